/* fuzz-mapping-file.c — the mapping compiler (bus/mapping.c) on mapping
 * files: the input is the YAML text of a mapping, written to a file in a
 * folder of its own (mapping_load reads a path) and loaded against the real
 * schemas and admin data. Integration engineers write these files by hand,
 * so any text must give a mapping or a "file:line: ..." error, never a
 * crash or a leak. A mapping that loads is run over a few fixed records,
 * JSON and XML (the same bytes go to either kind of mapping), so that what
 * the compiler accepted is also exercised by the walk.
 *
 * Inputs that name a table file by a path are skipped: a table file is read
 * whole, and /dev/zero or a FIFO would only stall the fuzzer (the folder
 * holds t.csv for the names that stay in it). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mapping.h"

#ifndef ADMIN_DATA_DIR
#error "ADMIN_DATA_DIR must be defined"
#endif
#ifndef SCHEMAS_DIR
#error "SCHEMAS_DIR must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mapping_env_t *s_env;
static char s_dir[256], s_path[320];

/* Records for whatever fields a fuzzed mapping names: the population
 * sources' own, and short generic ones. */
static const char *const s_records[] = {
    "{\"id\":\"QN00000001\",\"so_dinh_danh\":\"049048915758\",\"so_cmnd\":\"208525236\","
    "\"ho_ten\":\"PHAN DUNG HUỲNH\",\"gioi_tinh\":\"Nam\",\"ngay_sinh\":\"27/12/1948\","
    "\"ma_tinh\":\"49\",\"ma_huyen\":\"509\",\"ma_xa\":\"20641\",\"dia_chi\":\"Số 255, Tổ 24, Phường An Mỹ, "
    "Thành phố Tam Kỳ, Tỉnh Quảng Nam\",\"so_ho_khau\":\"2249089361\",\"x\":[\"a\",1,2.5,null,{\"y\":\"z\"}],"
    "\"n\":\"1.234,5\",\"c\":20296,\"updated_at\":\"2000-01-01T09:11:46+07:00\"}",
    "{\"id\":7,\"a\":\"\",\"b\":\" x \",\"owners\":[{\"ten\":\"a\",\"doc\":\"CCCD 048087123456\"},{}],\"d\":\"2025-07-01\"}",
    "<CongDan xmlns=\"urn:lgsp-sim:dn-dancu:1\" xmlns:p=\"urn:p\" id=\"CD1\" capNhat=\"2025-07-01T07:30:07+07:00\">"
    "<SoDinhDanh>048191270490</SoDinhDanh><HoTen><Ho>Nguyễn</Ho><ChuDem/><Ten>Thơm</Ten></HoTen>"
    "<GioiTinh>Nữ</GioiTinh><NgaySinh>1991-10-07</NgaySinh><ThuongTru><MaTinh>48</MaTinh><MaQuanHuyen/>"
    "<MaPhuongXa>20263</MaPhuongXa></ThuongTru><p:X a=\"1\">t<![CDATA[c]]></p:X><R stt=\"1\"/><R stt=\"2\"/></CongDan>",
    "<R id=\"2\"><A>1</A><A>2</A><B x=\"20296\">Xã Hòa Liên</B></R>",
};

static void s_cleanup(void)
{
    char p[400];
    snprintf(p, sizeof p, "%s/t.csv", s_dir);
    unlink(p);
    unlink(s_path);
    rmdir(s_dir);
}

static void s_init(void)
{
    char err[1024];
    s_env = mapping_env_new(ADMIN_DATA_DIR, SCHEMAS_DIR, err, sizeof err);
    if (!s_env) {
        fprintf(stderr, "fuzz-mapping-file: %s\n", err);
        abort();
    }
    snprintf(s_dir, sizeof s_dir, "%s/fuzz-mapping-file.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(s_dir))
        abort();
    snprintf(s_path, sizeof s_path, "%s/m.yaml", s_dir);
    /* a table file a mapping may name (file: t.csv) */
    char csv[320];
    snprintf(csv, sizeof csv, "%s/t.csv", s_dir);
    FILE *f = fopen(csv, "w");
    if (!f)
        abort();
    fputs("k,v\nNam,male\nNữ,female\n\"a,b\",\"c\"\"d\"\n", f);
    fclose(f);
    atexit(s_cleanup);
}

/* A table file named by a path (a '/', "..", an escape, or a value on the
 * next line after `file:`): see the header. Names in the folder are fine. */
static bool s_skip(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    while ((p = memmem(p, (size_t) (end - p), "file", 4)) != NULL) {
        p += 4;
        bool value = false;
        for (const uint8_t *q = p; q < end && *q != '\n' && *q != ',' && *q != '}'; q++) {
            if (*q == '/' || *q == '\\' || (*q == '.' && q + 1 < end && q[1] == '.'))
                return true;
            value = value || (*q != ':' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '"' && *q != '\'');
        }
        if (!value)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_env)
        s_init();
    if (s_skip(data, size))
        return 0;
    FILE *f = fopen(s_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    char err[1024] = "";
    mapping_t *m = mapping_load(s_path, s_env, err, sizeof err);
    if (!m) {
        /* every refusal says why */
        if (!err[0] || !memchr(err, 0, sizeof err))
            abort();
        return 0;
    }
    if (!mapping_source(m) || !mapping_schema(m) || !mapping_version(m))
        abort();
    mapping_meta_t meta = { .source_id = "FUZZ-1", .ingest_time = "2025-01-02T03:04:05Z" };
    for (size_t i = 0; i < sizeof s_records / sizeof *s_records; i++) {
        mapping_result_t res;
        int rc = mapping_run(m, s_records[i], strlen(s_records[i]), &meta, &res);
        if ((rc == 0) != (res.record != NULL) || (rc != 0 && res.n_errors == 0))
            abort();
        size_t kept = res.n_errors < 8 ? res.n_errors : 8;
        for (size_t k = 0; k < kept; k++) {
            char out[1200];
            mapping_error_format(m, &res.errors[k], out, sizeof out);
        }
        mapping_result_clear(&res);
    }
    mapping_destroy(&m);
    return 0;
}
