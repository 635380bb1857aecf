/* test-records.c — file bytes to records (records.c): CSV rows as JSON
 * objects in NFC with the legacy row kept as `original`, JSON lines, XML
 * elements by XPath or name (with namespaces), the source-id template,
 * bad items with their line and reason, files that fail as a whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "records.h"

/* What the callback saw: one line per item,
 *   "R <index> <line> <source_id> <payload> [orig=<encoding>:<len>]"
 *   "B <index> <line> <reason>" */
typedef struct {
    char   text[16384];
    size_t len;
    size_t stop_after;        /* stop after this many items (0: never) */
    size_t items;
} s_seen_t;

static int s_cb(void *arg, const fdrec_item_t *it)
{
    s_seen_t *s = arg;
    size_t room = sizeof s->text - s->len;
    if (it->reason)
        s->len += (size_t)snprintf(s->text + s->len, room, "B %zu %zu %s\n", it->index, it->line, it->reason);
    else {
        assert_int_equal(strlen(it->payload), it->payload_len);
        s->len += (size_t)snprintf(s->text + s->len, room, "R %zu %zu %s %s", it->index, it->line, it->source_id,
                                   it->payload);
        room = sizeof s->text - s->len;
        if (it->original)
            s->len += (size_t)snprintf(s->text + s->len, room, " orig=%s:%zu", it->encoding, it->original_len);
        room = sizeof s->text - s->len;
        s->len += (size_t)snprintf(s->text + s->len, room, "\n");
    }
    s->items++;
    return s->stop_after && s->items >= s->stop_after;
}

static fdrec_t *s_new(fdrec_opts_t o)
{
    char err[256] = "";
    fdrec_t *r = fdrec_new(&o, err, sizeof err);
    if (!r)
        fail_msg("fdrec_new: %s", err);
    return r;
}

static void s_run(fdrec_t *r, const char *name, const char *data, size_t len, vncodec_enc_t enc, int want_rc,
                  const char *want)
{
    s_seen_t s = { .len = 0 };
    char err[256] = "";
    size_t line = 0;
    int rc = fdrec_read(r, name, data, len, enc, s_cb, &s, err, sizeof err, &line);
    if (rc != want_rc)
        fail_msg("rc %d (%s), expected %d; items:\n%s", rc, err, want_rc, s.text);
    if (strcmp(s.text, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", s.text, want);
}

static void s_fail_expect(fdrec_t *r, const char *name, const char *data, size_t len, vncodec_enc_t enc,
                          const char *want_err, size_t want_line)
{
    s_seen_t s = { .len = 0 };
    char err[256] = "";
    size_t line = 99;
    int rc = fdrec_read(r, name, data, len, enc, s_cb, &s, err, sizeof err, &line);
    assert_int_equal(rc, FDREC_FAILED);
    if (!strstr(err, want_err))
        fail_msg("error '%s' does not say '%s'", err, want_err);
    assert_int_equal(line, want_line);
}

static void test_csv_utf8(void **state)
{
    (void)state;
    fdrec_t *r = s_new((fdrec_opts_t){ .format = FDREC_CSV, .csv_header = true, .final_newline = true,
                                       .id = "{file:1}/{file:2:khai-sinh=KS,ket-hon=KH}/{Quyển số}/{Số}",
                                       .name_regex = "^([0-9]+)_.*_([a-z-]+)\\.csv$" });
    /* BOM, NFD in a value (→ NFC, original kept), a quoted comma */
    const char *in = "\xEF\xBB\xBFSố,Quyển số,Họ và tên\r\n"
                     "1,01/2015,\"Nguyễn, Văn\"\r\n"
                     "2,01/2015,Nguye\xCC\x82\xCC\x83n B\r\n"
                     "\r\n"
                     "3,01/2015\r\n"
                     ",01/2015,x\r\n"
                     "5,01/2015,Trần";
    s_run(r, "20335_tan-thanh_khai-sinh.csv", in, strlen(in), VNCODEC_UTF8, FDREC_OK,
          "R 0 2 20335/KS/01/2015/1 {\"Số\":\"1\",\"Quyển số\":\"01/2015\",\"Họ và tên\":\"Nguyễn, Văn\"}\n"
          "R 1 3 20335/KS/01/2015/2 {\"Số\":\"2\",\"Quyển số\":\"01/2015\",\"Họ và tên\":\"Nguyễn B\"} orig=utf-8:22\n"
          "B 2 5 2 fields, the header has 3\n"
          "B 3 6 the record id's field {Số} is empty\n"
          "B 4 7 incomplete last line (no line end; truncated file?)\n");
    /* the same file with the mapping left as it is */
    s_run(r, "20335_x_ket-hon.csv", "Số,Quyển số\n7,02/2020\n", strlen("Số,Quyển số\n7,02/2020\n"), VNCODEC_UTF8, FDREC_OK,
          "R 0 2 20335/KH/02/2020/7 {\"Số\":\"7\",\"Quyển số\":\"02/2020\"}\n");
    s_run(r, "20335_x_other.csv", "Số,Quyển số\n7,02/2020\n", strlen("Số,Quyển số\n7,02/2020\n"), VNCODEC_UTF8, FDREC_OK,
          "R 0 2 20335/other/02/2020/7 {\"Số\":\"7\",\"Quyển số\":\"02/2020\"}\n");
    /* a name that does not match, a header without the id column */
    s_fail_expect(r, "readme.csv", "a\n", 2, VNCODEC_UTF8, "does not match name_regex", 0);
    s_fail_expect(r, "1_a_khai-sinh.csv", "Số,Tên\n1,x\n", 14, VNCODEC_UTF8, "'Quyển số' is not in the header", 1);
    /* an empty file has no records */
    s_run(r, "1_a_khai-sinh.csv", "", 0, VNCODEC_UTF8, FDREC_OK, "");
    fdrec_destroy(&r);
    assert_null(r);
}

static void test_csv_legacy(void **state)
{
    (void)state;
    fdrec_t *r = s_new((fdrec_opts_t){ .format = FDREC_CSV, .csv_header = true, .final_newline = true,
                                       .id = "{#1}" });
    /* TCVN3: header "Số,Họ tên", rows "1,Nguyễn Thị Hương", "2,<0x80>" */
    const char in[] = "S\xE8,H\xE4 t\xAAn\r\n1,Nguy\xD4n Th\xDE H\xAD\xACng\r\n2,x\x80y\r\n";
    s_run(r, "f.csv", in, sizeof in - 1, VNCODEC_TCVN3, FDREC_OK,
          "R 0 2 1 {\"Số\":\"1\",\"Họ tên\":\"Nguyễn Thị Hương\"} orig=tcvn3:18\n"
          "B 1 3 column 2 (Họ tên), byte 2 of the field: byte 0x80 is not defined in tcvn3\n");
    /* VNI and CP1258 */
    const char vni[] = "So,Ten\r\n1,Nguye\xE3n\r\n";
    s_run(r, "f.csv", vni, sizeof vni - 1, VNCODEC_VNI, FDREC_OK,
          "R 0 2 1 {\"So\":\"1\",\"Ten\":\"Nguyễn\"} orig=vni:9\n");
    const char cp[] = "So,Ten\r\n1,Nguy\xEA\xDEn\r\n";
    s_run(r, "f.csv", cp, sizeof cp - 1, VNCODEC_CP1258, FDREC_OK,
          "R 0 2 1 {\"So\":\"1\",\"Ten\":\"Nguyễn\"} orig=cp1258:9\n");
    /* an undecodable header fails the file */
    const char bad[] = "S\x80,x\r\n1,2\r\n";
    s_fail_expect(r, "f.csv", bad, sizeof bad - 1, VNCODEC_TCVN3, "header row: column 1", 1);
    /* UTF-8 header that is not UTF-8 */
    s_fail_expect(r, "f.csv", bad, sizeof bad - 1, VNCODEC_UTF8, "invalid UTF-8", 1);
    /* a repeated column name */
    s_fail_expect(r, "f.csv", "a,a\n1,2\n", 8, VNCODEC_UTF8, "repeats the name of column 1", 1);
    /* an incomplete header line (truncated file) */
    s_fail_expect(r, "f.csv", "a,b", 3, VNCODEC_UTF8, "incomplete header", 1);
    fdrec_destroy(&r);
}

static void test_csv_options(void **state)
{
    (void)state;
    /* no header, named columns, ';', last line without a line end allowed */
    const char *cols[] = { "id", "name", NULL };
    fdrec_t *r = s_new((fdrec_opts_t){ .format = FDREC_CSV, .csv_delim = ';', .csv_columns = cols,
                                       .id = "{{{id}}}-{line}-{index}" });
    s_run(r, "f.csv", "7;a\n8;\"b;c\"", 11, VNCODEC_UTF8, FDREC_OK,
          "R 0 1 {7}-1-1 {\"id\":\"7\",\"name\":\"a\"}\n"
          "R 1 2 {8}-2-2 {\"id\":\"8\",\"name\":\"b;c\"}\n");
    fdrec_destroy(&r);
    /* no header, no names: keys are column numbers; the default id */
    r = s_new((fdrec_opts_t){ .format = FDREC_CSV });
    s_run(r, "g.csv", "x,y\n\"a\"b\n", 9, VNCODEC_UTF8, FDREC_OK,
          "R 0 1 g.csv:1 {\"1\":\"x\",\"2\":\"y\"}\n"
          "B 1 2 a quoted field is followed by text before the delimiter\n");
    fdrec_destroy(&r);
    /* the callback can stop the reading */
    r = s_new((fdrec_opts_t){ .format = FDREC_CSV });
    s_seen_t s = { .stop_after = 1 };
    char err[64];
    assert_int_equal(fdrec_read(r, "f", "a\nb\nc\n", 6, VNCODEC_UTF8, s_cb, &s, err, sizeof err, NULL),
                     FDREC_STOPPED);
    assert_int_equal(s.items, 1);
    fdrec_destroy(&r);
    /* a record larger than the limit is a bad item */
    r = s_new((fdrec_opts_t){ .format = FDREC_CSV, .max_record = 10 });
    s_run(r, "f", "abcdefghijkl\nab\n", 16, VNCODEC_UTF8, FDREC_OK,
          "B 0 1 record of 20 bytes, larger than the limit (10)\n"
          "R 1 2 f:2 {\"1\":\"ab\"}\n");
    fdrec_destroy(&r);
}

static void test_bad_options(void **state)
{
    (void)state;
    char err[256];
    fdrec_opts_t o = { .format = FDREC_CSV, .id = "{a" };
    assert_null(fdrec_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "'{' without"));
    o.id = "a}";
    assert_null(fdrec_new(&o, err, sizeof err));
    o.id = "{}";
    assert_null(fdrec_new(&o, err, sizeof err));
    o.id = "{file:1}";
    assert_null(fdrec_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "name_regex"));
    o.id = "{#0}";
    assert_null(fdrec_new(&o, err, sizeof err));
    o.id = "{file:1:x}";
    o.name_regex = "(a)";
    assert_null(fdrec_new(&o, err, sizeof err));
    o.id = NULL;
    o.name_regex = "(";
    assert_null(fdrec_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "name_regex"));
    fdrec_opts_t x = { .format = FDREC_XML };
    assert_null(fdrec_new(&x, err, sizeof err));
    assert_non_null(strstr(err, "xml.records"));
    x.xml_records = "//a[";
    assert_null(fdrec_new(&x, err, sizeof err));
    x.xml_records = "a";
    x.id = "{@@}";
    assert_null(fdrec_new(&x, err, sizeof err));
    fdrec_opts_t j = { .format = FDREC_JSONL, .id = "{#1}" };
    assert_null(fdrec_new(&j, err, sizeof err));
}

static void test_jsonl(void **state)
{
    (void)state;
    fdrec_t *r = s_new((fdrec_opts_t){ .format = FDREC_JSONL, .final_newline = true,
                                       .id = "{event_id}/{data.n}/{data.list.1}" });
    const char *in = "{\"event_id\":\"e1\",\"data\":{\"n\":5,\"list\":[\"a\",\"b\"]}}\r\n"
                     "\n"
                     "{\"event_id\":\"e2\",\"data\":{\"n\":6}}\n"
                     "not json\n"
                     "{\"event_id\":\"e\xCC\x81\",\"data\":{\"n\":true,\"list\":[0,1.5]}}\n"
                     "\xFF\n"
                     "{\"event_id\":\"e4\"";
    s_run(r, "ev.jsonl", in, strlen(in), VNCODEC_UTF8, FDREC_OK,
          "R 0 1 e1/5/b {\"event_id\":\"e1\",\"data\":{\"n\":5,\"list\":[\"a\",\"b\"]}}\n"
          "B 1 3 the record id's field {data.list.1} is empty\n"
          "B 2 4 not JSON: invalid token near 'not' (column 3)\n"
          "R 3 5 é/true/1.5 {\"event_id\":\"é\",\"data\":{\"n\":true,\"list\":[0,1.5]}} orig=utf-8:51\n"
          "B 4 6 byte 1 of the line: invalid UTF-8 sequence starting with byte 0xff (utf-8)\n"
          "B 5 7 incomplete last line (no line end; truncated file?)\n");
    fdrec_destroy(&r);
}

static void test_xml(void **state)
{
    (void)state;
    fdrec_t *r = s_new((fdrec_opts_t){ .format = FDREC_XML, .xml_records = "ThuaDat", .id = "{@maThuaDat}" });
    const char *in = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<GoiDuLieuDiaChinh maHuyen=\"507\">\n"
                     " <ThuaDat maThuaDat=\"QNTD1\"><HoTen>Lưu Trần Minh</HoTen><DienTich>1.234,5</DienTich></ThuaDat>\n"
                     " <ThuaDat maThuaDat=\"QNTD2\">\n  <HoTen>Nguye\xCC\x82\xCC\x83n &amp; Co</HoTen>\n </ThuaDat>\n"
                     " <ThuaDat><HoTen>no id</HoTen></ThuaDat>\n"
                     "</GoiDuLieuDiaChinh>\n";
    s_run(r, "507_20250922_001.xml", in, strlen(in), VNCODEC_UTF8, FDREC_OK,
          "R 0 3 QNTD1 <ThuaDat maThuaDat=\"QNTD1\"><HoTen>Lưu Trần Minh</HoTen><DienTich>1.234,5</DienTich></ThuaDat>\n"
          "R 1 4 QNTD2 <ThuaDat maThuaDat=\"QNTD2\">\n  <HoTen>Nguyễn &amp; Co</HoTen>\n </ThuaDat> orig=utf-8:76\n"
          "B 2 7 the record id's field {@maThuaDat} is empty\n");
    /* truncated: not one record */
    s_fail_expect(r, "t.xml", in, strlen(in) * 3 / 5, VNCODEC_UTF8, "not well-formed XML", 4);
    s_fail_expect(r, "t.xml", "garbage", 7, VNCODEC_UTF8, "not well-formed XML", 1);
    s_fail_expect(r, "t.xml", "", 0, VNCODEC_UTF8, "not well-formed XML", 1);
    /* a DTD (entities) is refused */
    const char *dtd = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xx\">]><a><ThuaDat maThuaDat=\"&x;\"/></a>";
    s_fail_expect(r, "d.xml", dtd, strlen(dtd), VNCODEC_UTF8, "DTD", 0);
    /* an XML file in a legacy encoding (decoded first): TCVN3 "Hương" */
    const char leg[] = "<a><ThuaDat maThuaDat=\"1\">H\xAD\xACng</ThuaDat></a>";
    s_run(r, "l.xml", leg, sizeof leg - 1, VNCODEC_TCVN3, FDREC_OK,
          "R 0 1 1 <ThuaDat maThuaDat=\"1\">Hương</ThuaDat>\n");
    s_fail_expect(r, "l.xml", "<a>\n\x80</a>", 9, VNCODEC_TCVN3, "not defined in tcvn3", 2);
    /* declared windows-1258: libxml2 converts (through iconv) */
    const char w[] = "<?xml version=\"1.0\" encoding=\"windows-1258\"?><a><ThuaDat maThuaDat=\"x\">Nguy\xEA\xDEn</ThuaDat></a>";
    s_run(r, "w.xml", w, sizeof w - 1, VNCODEC_UTF8, FDREC_OK,
          "R 0 1 x <ThuaDat maThuaDat=\"x\">Nguyễn</ThuaDat>\n");
    fdrec_destroy(&r);
}

static void test_xml_namespaces(void **state)
{
    (void)state;
    const char *ns[] = { "dc", "urn:lgsp-sim:dn-dancu:1", NULL };
    fdrec_t *r = s_new((fdrec_opts_t){ .format = FDREC_XML, .xml_records = "//dc:CongDan", .xml_ns = ns,
                                       .id = "{@id}:{dc:HoTen/dc:Ten}" });
    const char *in = "<DanhSachCongDan xmlns=\"urn:lgsp-sim:dn-dancu:1\"><CongDan id=\"CD1\"><HoTen><Ten>Trang</Ten>"
                     "</HoTen></CongDan></DanhSachCongDan>";
    s_run(r, "c.xml", in, strlen(in), VNCODEC_UTF8, FDREC_OK,
          "R 0 1 CD1:Trang <CongDan xmlns=\"urn:lgsp-sim:dn-dancu:1\" id=\"CD1\"><HoTen><Ten>Trang</Ten></HoTen>"
          "</CongDan>\n");
    fdrec_destroy(&r);
    /* by element name: any namespace; the records' XPath may select non-elements */
    r = s_new((fdrec_opts_t){ .format = FDREC_XML, .xml_records = "CongDan", .id = "{@id}" });
    s_run(r, "c.xml", in, strlen(in), VNCODEC_UTF8, FDREC_OK,
          "R 0 1 CD1 <CongDan xmlns=\"urn:lgsp-sim:dn-dancu:1\" id=\"CD1\"><HoTen><Ten>Trang</Ten></HoTen>"
          "</CongDan>\n");
    fdrec_destroy(&r);
    r = s_new((fdrec_opts_t){ .format = FDREC_XML, .xml_records = "//@id" });
    s_run(r, "c.xml", in, strlen(in), VNCODEC_UTF8, FDREC_OK,
          "B 0 1 xml.records selected something other than an element\n");
    fdrec_destroy(&r);
    r = s_new((fdrec_opts_t){ .format = FDREC_XML, .xml_records = "count(//x)" });
    s_fail_expect(r, "c.xml", in, strlen(in), VNCODEC_UTF8, "does not select nodes", 0);
    fdrec_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_utf8),
        cmocka_unit_test(test_csv_legacy),
        cmocka_unit_test(test_csv_options),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_xml),
        cmocka_unit_test(test_xml_namespaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
