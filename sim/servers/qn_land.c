/* qn_land.c — the Quảng Nam land offices (Chi nhánh Văn phòng đăng ký đất
 * đai): XML export files of each district dropped into a folder over time
 * (dropper.c), in export-date order. The files are the generator's
 * qn-land/<maHuyen>_<yyyymmdd>_<seq>.xml as they are (comma-decimal areas,
 * land-use codes, owners often by the old CMND).
 *
 * Changes are new export files, one per district and change command, dated
 * one day after the previous export: sales (new owner and certificate), an
 * owner's new personal ID instead of the CMND, re-measured areas. A changed
 * parcel keeps its maThuaDat and gets a later ngayCapNhat. */
#include <dirent.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "dropper.h"
#include "sim.h"
#include "simutil.h"

typedef struct {
    char ho_ten[256], nam_sinh[8], loai[8], so[16], dia_chi[400];
} s_owner_t;

typedef struct {
    char      id[24], ngay[16], ma_xa[8], ten_xa[128], so_to[12], so_thua[12], dien_tich[32],
              mdsd[32], dia_chi[256];
    int       n_owner;
    s_owner_t owner[2];
    bool      has_gcn;
    char      seri[16], so_vao_so[32], ngay_cap[16];
} s_parcel_t;

typedef struct {
    char *id;
    char *text;           /* latest rendering */
} s_changed_t;

typedef struct {
    sim_env_t    env;
    dropper_t   *drop;
    char       **files;   /* source paths, in drop order */
    size_t       nfiles;
    rng_t        rng;
    int32_t      day;     /* export day of the last export */
    uint32_t     export_seq;
    s_changed_t *changed;
    size_t       nchanged, capchanged;
    uint64_t     changes[3];
} qn_land_t;

static const char *const s_kind[3] = { "sale", "new_id", "area" };

static const char *s_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int s_cmp_files(const void *a, const void *b)
{
    const char *x = s_base(*(char *const *)a), *y = s_base(*(char *const *)b);
    const char *dx = strchr(x, '_'), *dy = strchr(y, '_');
    int c = strcmp(dx ? dx : x, dy ? dy : y);      /* by export date, then district */
    return c ? c : strcmp(x, y);
}

static void s_copy(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = 0;
}

static void s_text_of(xmlNode *n, char *dst, size_t sz)
{
    char *t = (char *)xmlNodeGetContent(n);
    s_copy(dst, sz, t ? t : "");
    xmlFree(t);
}

static int s_parse_parcel(const char *p, size_t len, s_parcel_t *pc)
{
    memset(pc, 0, sizeof *pc);
    xmlDoc *doc = xmlReadMemory(p, (int)len, "parcel.xml", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlChar *a = xmlGetProp(root, (const xmlChar *)"maThuaDat");
    s_copy(pc->id, sizeof pc->id, a ? (const char *)a : "");
    xmlFree(a);
    a = xmlGetProp(root, (const xmlChar *)"ngayCapNhat");
    s_copy(pc->ngay, sizeof pc->ngay, a ? (const char *)a : "");
    xmlFree(a);
    for (xmlNode *c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *nm = (const char *)c->name;
        if (!strcmp(nm, "MaXa")) s_text_of(c, pc->ma_xa, sizeof pc->ma_xa);
        else if (!strcmp(nm, "TenXa")) s_text_of(c, pc->ten_xa, sizeof pc->ten_xa);
        else if (!strcmp(nm, "SoToBanDo")) s_text_of(c, pc->so_to, sizeof pc->so_to);
        else if (!strcmp(nm, "SoThuTuThua")) s_text_of(c, pc->so_thua, sizeof pc->so_thua);
        else if (!strcmp(nm, "DienTich")) s_text_of(c, pc->dien_tich, sizeof pc->dien_tich);
        else if (!strcmp(nm, "MucDichSuDung")) s_text_of(c, pc->mdsd, sizeof pc->mdsd);
        else if (!strcmp(nm, "DiaChiThua")) s_text_of(c, pc->dia_chi, sizeof pc->dia_chi);
        else if (!strcmp(nm, "ChuSuDung") && pc->n_owner < 2) {
            s_owner_t *o = &pc->owner[pc->n_owner++];
            for (xmlNode *d = c->children; d; d = d->next) {
                if (d->type != XML_ELEMENT_NODE)
                    continue;
                const char *dn = (const char *)d->name;
                if (!strcmp(dn, "HoTen")) s_text_of(d, o->ho_ten, sizeof o->ho_ten);
                else if (!strcmp(dn, "NamSinh")) s_text_of(d, o->nam_sinh, sizeof o->nam_sinh);
                else if (!strcmp(dn, "DiaChi")) s_text_of(d, o->dia_chi, sizeof o->dia_chi);
                else if (!strcmp(dn, "GiayTo")) {
                    s_text_of(d, o->so, sizeof o->so);
                    xmlChar *l = xmlGetProp(d, (const xmlChar *)"loai");
                    s_copy(o->loai, sizeof o->loai, l ? (const char *)l : "");
                    xmlFree(l);
                }
            }
        } else if (!strcmp(nm, "GiayChungNhan")) {
            pc->has_gcn = true;
            for (xmlNode *d = c->children; d; d = d->next) {
                if (d->type != XML_ELEMENT_NODE)
                    continue;
                const char *dn = (const char *)d->name;
                if (!strcmp(dn, "SoPhatHanh")) s_text_of(d, pc->seri, sizeof pc->seri);
                else if (!strcmp(dn, "SoVaoSo")) s_text_of(d, pc->so_vao_so, sizeof pc->so_vao_so);
                else if (!strcmp(dn, "NgayCap")) s_text_of(d, pc->ngay_cap, sizeof pc->ngay_cap);
            }
        }
    }
    xmlFreeDoc(doc);
    return pc->id[0] ? 0 : -1;
}

/* The generator's layout, so that a changed parcel looks like any other. */
static void s_render(const s_parcel_t *pc, sbuf_t *b)
{
    sbuf_printf(b, " <ThuaDat maThuaDat=\"%s\" ngayCapNhat=\"%s\">\n  ", pc->id, pc->ngay);
    sbuf_xml_el(b, "MaXa", pc->ma_xa);
    sbuf_xml_el(b, "TenXa", pc->ten_xa);
    sbuf_printf(b, "<SoToBanDo>%s</SoToBanDo><SoThuTuThua>%s</SoThuTuThua>", pc->so_to, pc->so_thua);
    sbuf_puts(b, "<DienTich donVi=\"m2\">");
    sbuf_xml(b, pc->dien_tich);
    sbuf_puts(b, "</DienTich><MucDichSuDung>");
    sbuf_xml(b, pc->mdsd);
    sbuf_puts(b, "</MucDichSuDung>");
    sbuf_xml_el(b, "DiaChiThua", pc->dia_chi);
    sbuf_putc(b, '\n');
    for (int i = 0; i < pc->n_owner; i++) {
        const s_owner_t *o = &pc->owner[i];
        sbuf_printf(b, "  <ChuSuDung stt=\"%d\">", i + 1);
        sbuf_xml_el(b, "HoTen", o->ho_ten);
        sbuf_printf(b, "<NamSinh>%s</NamSinh>", o->nam_sinh);
        if (o->so[0])
            sbuf_printf(b, "<GiayTo loai=\"%s\">%s</GiayTo>", o->loai, o->so);
        else
            sbuf_puts(b, "<GiayTo/>");
        sbuf_xml_el(b, "DiaChi", o->dia_chi);
        sbuf_puts(b, "</ChuSuDung>\n");
    }
    if (pc->has_gcn) {
        sbuf_puts(b, "  <GiayChungNhan>");
        sbuf_xml_el(b, "SoPhatHanh", pc->seri);
        sbuf_xml_el(b, "SoVaoSo", pc->so_vao_so);
        sbuf_printf(b, "<NgayCap>%s</NgayCap></GiayChungNhan>\n", pc->ngay_cap);
    }
    sbuf_puts(b, " </ThuaDat>\n");
}

/* "1.234,5" <-> tenths of m2 */
static long s_area_parse(const char *s)
{
    long v = 0;
    for (; *s; s++)
        if (*s >= '0' && *s <= '9')
            v = v * 10 + (*s - '0');
    return v;     /* the one decimal is always written */
}

static void s_area_fmt(long dm2, char *out, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", dm2 / 10);
    size_t l = strlen(digits), o = 0;
    for (size_t i = 0; i < l && o + 2 < n; i++) {
        if (i && (l - i) % 3 == 0)
            out[o++] = '.';
        out[o++] = digits[i];
    }
    snprintf(out + o, n - o, ",%ld", dm2 % 10);
}

static const char *s_changed_text(qn_land_t *self, const char *id)
{
    for (size_t i = 0; i < self->nchanged; i++)
        if (!strcmp(self->changed[i].id, id))
            return self->changed[i].text;
    return NULL;
}

static void s_remember(qn_land_t *self, const char *id, const char *text)
{
    for (size_t i = 0; i < self->nchanged; i++)
        if (!strcmp(self->changed[i].id, id)) {
            free(self->changed[i].text);
            self->changed[i].text = xstrdup(text);
            return;
        }
    if (self->nchanged == self->capchanged) {
        self->capchanged = self->capchanged ? self->capchanged * 2 : 64;
        self->changed = xrealloc(self->changed, self->capchanged * sizeof *self->changed);
    }
    self->changed[self->nchanged].id = xstrdup(id);
    self->changed[self->nchanged].text = xstrdup(text);
    self->nchanged++;
}

/* A random parcel (its latest version) of a random export file; district
 * and exporting office come from the file. */
static int s_pick(qn_land_t *self, s_parcel_t *pc, char *huyen, size_t hn, char *office, size_t on)
{
    for (int tries = 0; tries < 20; tries++) {
        const char *path = self->files[rng_below(&self->rng, (uint32_t)self->nfiles)];
        char *data;
        size_t len;
        if (sim_read_file(path, &data, &len) != 0)
            continue;
        const char *hd = strstr(data, "maHuyen=\""), *of = strstr(data, "donViXuat=\"");
        size_t count = 0;
        for (const char *p = data; (p = strstr(p, "<ThuaDat ")); p++)
            count++;
        int rc = -1;
        if (count && hd && of) {
            uint32_t want = rng_below(&self->rng, (uint32_t)count);
            const char *p = data;
            for (uint32_t i = 0; (p = strstr(p, "<ThuaDat ")) && i < want; i++)
                p++;
            const char *e = p ? strstr(p, "</ThuaDat>") : NULL;
            if (e && s_parse_parcel(p, (size_t)(e + 10 - p), pc) == 0) {
                const char *latest = s_changed_text(self, pc->id);
                if (!latest || s_parse_parcel(latest + 1, strlen(latest + 1), pc) == 0)
                    rc = 0;
                hd += 9;
                of += 11;
                snprintf(huyen, hn, "%.*s", (int)strcspn(hd, "\""), hd);
                snprintf(office, on, "%.*s", (int)strcspn(of, "\""), of);
            }
        }
        free(data);
        if (rc == 0)
            return 0;
    }
    return -1;
}

static void s_new_cccd(qn_land_t *self, s_owner_t *o, int sex)
{
    int by = atoi(o->nam_sinh);
    char pid[13];
    chg_personal_id(&self->rng, "049", sex, by > 1800 ? by : 1970, pid);
    s_copy(o->loai, sizeof o->loai, "CCCD");
    s_copy(o->so, sizeof o->so, pid);
}

static int s_apply(qn_land_t *self, s_parcel_t *pc, int kind)
{
    int y, m, d;
    date_split(self->day, &y, &m, &d);
    snprintf(pc->ngay, sizeof pc->ngay, "%02d/%02d/%04d", d, m, y);
    if (kind == 0) {
        /* a sale: one new owner, a new certificate */
        s_owner_t o;
        memset(&o, 0, sizeof o);
        int sex = (int)rng_below(&self->rng, 2);
        sbuf_t nm;
        sbuf_init(&nm);
        chg_name(self->env.rd, &self->rng, sex, NULL, &nm);
        s_copy(o.ho_ten, sizeof o.ho_ten, nm.p);
        sbuf_free(&nm);
        int by = rng_range(&self->rng, 1955, 2000);
        snprintf(o.nam_sinh, sizeof o.nam_sinh, "%d", by);
        if (by < 1990 && rng_chance(&self->rng, 0.6)) {
            s_copy(o.loai, sizeof o.loai, "CMND");
            snprintf(o.so, sizeof o.so, "20%07u", rng_below(&self->rng, 10000000));
        } else {
            s_new_cccd(self, &o, sex);
        }
        s_copy(o.dia_chi, sizeof o.dia_chi, pc->n_owner ? pc->owner[0].dia_chi : pc->dia_chi);
        pc->owner[0] = o;
        pc->n_owner = 1;
        int pair = (y - 1994) * 2 + (m > 6);
        pc->has_gcn = true;
        snprintf(pc->seri, sizeof pc->seri, "%c%c %06u", 'A' + (pair / 26) % 26, 'A' + pair % 26,
                 rng_below(&self->rng, 1000000));
        snprintf(pc->so_vao_so, sizeof pc->so_vao_so, "CH %05u", rng_range(&self->rng, 1, 99999));
        snprintf(pc->ngay_cap, sizeof pc->ngay_cap, "%02d/%02d/%04d", d, m, y);
        return 0;
    }
    if (kind == 1) {
        for (int i = 0; i < pc->n_owner; i++)
            if (!strcmp(pc->owner[i].loai, "CMND")) {
                s_new_cccd(self, &pc->owner[i], strstr(pc->owner[i].ho_ten, " Thị ") != NULL);
                return 0;
            }
        return -1;
    }
    long a = s_area_parse(pc->dien_tich);
    long delta = a * (long)rng_range(&self->rng, 1, 5) / 100;
    a += rng_chance(&self->rng, 0.5) ? delta : -delta;
    if (a < 10)
        a = 10;
    s_area_fmt(a, pc->dien_tich, sizeof pc->dien_tich);
    return 0;
}

typedef struct {
    char   huyen[8], office[256];
    sbuf_t body;
    int    n;
} s_group_t;

static int qn_land_change(void *vself, long n, sbuf_t *json)
{
    qn_land_t *self = vself;
    self->day++;
    s_group_t groups[32];
    int ng = 0;
    long done = 0;
    sbuf_puts(json, "{\"changes\":[");
    for (long i = 0; i < n && self->nfiles; i++) {
        s_parcel_t pc;
        char huyen[8], office[256];
        if (s_pick(self, &pc, huyen, sizeof huyen, office, sizeof office))
            continue;
        uint32_t dice = rng_below(&self->rng, 100);
        int kind = dice < 60 ? 0 : dice < 85 ? 1 : 2;
        if (s_apply(self, &pc, kind) != 0) {
            kind = 2;
            s_apply(self, &pc, kind);
        }
        int g = 0;
        while (g < ng && strcmp(groups[g].huyen, huyen))
            g++;
        if (g == ng) {
            if (ng == 32)
                continue;
            s_copy(groups[g].huyen, sizeof groups[g].huyen, huyen);
            s_copy(groups[g].office, sizeof groups[g].office, office);
            sbuf_init(&groups[g].body);
            groups[g].n = 0;
            ng++;
        }
        sbuf_t one;
        sbuf_init(&one);
        s_render(&pc, &one);
        s_remember(self, pc.id, one.p);
        sbuf_put(&groups[g].body, one.p, one.len);
        sbuf_free(&one);
        groups[g].n++;
        self->changes[kind]++;
        done++;
        int y, m, d;
        date_split(self->day, &y, &m, &d);
        sbuf_printf(json, "%s{\"id\":\"%s\",\"kind\":\"%s\",\"file\":\"%s_%04d%02d%02d_001.xml\"}",
                    done > 1 ? "," : "", pc.id, s_kind[kind], huyen, y, m, d);
    }
    sbuf_puts(json, "],\"files\":[");
    for (int g = 0; g < ng; g++) {
        int y, m, d;
        date_split(self->day, &y, &m, &d);
        char name[64];
        snprintf(name, sizeof name, "%s_%04d%02d%02d_001.xml", groups[g].huyen, y, m, d);
        sbuf_t f;
        sbuf_init(&f);
        sbuf_printf(&f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GoiDuLieuDiaChinh "
                        "phienBan=\"1.0\" maTinh=\"49\" maHuyen=\"%s\" donViXuat=\"%s\" ngayXuat=\"",
                    groups[g].huyen, groups[g].office);
        sbuf_ts_iso(&f, ts_from_date(self->day, 17 * 3600));
        sbuf_printf(&f, "\" soLuong=\"%d\">\n", groups[g].n);
        sbuf_put(&f, groups[g].body.p, groups[g].body.len);
        sbuf_puts(&f, "</GoiDuLieuDiaChinh>\n");
        dropper_add_bytes(self->drop, name, f.p, f.len);
        sbuf_free(&groups[g].body);
        sbuf_printf(json, "%s\"%s\"", g ? "," : "", name);
    }
    sbuf_printf(json, "],\"applied\":%ld}", done);
    return 0;
}

static void *qn_land_create(const sim_env_t *env, char *err, size_t errsz)
{
    char src[4096];
    snprintf(src, sizeof src, "%s/qn-land", env->conf->data);
    DIR *d = opendir(src);
    if (!d) {
        snprintf(err, errsz, "%s: cannot open (run lgsp-gen first)", src);
        return NULL;
    }
    qn_land_t *self = xcalloc(1, sizeof *self);
    self->env = *env;
    rng_seed(&self->rng, env->conf->seed, 0x51000 + (uint64_t)env->index);
    size_t cap = 0;
    struct dirent *de;
    int32_t last = date_make(2025, 9, 30);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || de->d_name[0] == '.' || strcmp(de->d_name + l - 4, ".xml"))
            continue;
        if (self->nfiles == cap) {
            cap = cap ? cap * 2 : 64;
            self->files = xrealloc(self->files, cap * sizeof *self->files);
        }
        size_t pl = strlen(src) + l + 2;
        self->files[self->nfiles] = xmalloc(pl);
        snprintf(self->files[self->nfiles++], pl, "%s/%s", src, de->d_name);
        const char *u = strchr(de->d_name, '_');
        int y, m, dd;
        if (u && sscanf(u + 1, "%4d%2d%2d", &y, &m, &dd) == 3 && y > 1990 && m >= 1 && m <= 12
            && dd >= 1 && dd <= 31 && date_make(y, m, dd) > last)
            last = date_make(y, m, dd);
    }
    closedir(d);
    if (self->nfiles)
        qsort(self->files, self->nfiles, sizeof *self->files, s_cmp_files);
    self->day = last;
    self->drop = dropper_new("qn-land", env->opts->dir, env->opts->interval_ms, env->fault, err,
                             errsz);
    if (!self->drop) {
        for (size_t i = 0; i < self->nfiles; i++)
            free(self->files[i]);
        free(self->files);
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < self->nfiles; i++)
        dropper_add_file(self->drop, s_base(self->files[i]), self->files[i]);
    dropper_start(self->drop);
    return self;
}

static void qn_land_where(void *vself, sbuf_t *out)
{
    qn_land_t *self = vself;
    sbuf_printf(out, "%s (XML export files, %zu to drop, one every %ld ms)",
                dropper_dir(self->drop), self->nfiles, self->env.opts->interval_ms);
}

static void qn_land_status(void *vself, sbuf_t *json)
{
    qn_land_t *self = vself;
    sbuf_puts(json, "{\"drop\":");
    dropper_status(self->drop, json);
    sbuf_printf(json, ",\"source_files\":%zu,\"changes\":{\"sale\":%llu,\"new_id\":%llu,"
                      "\"area\":%llu}}",
                self->nfiles, (unsigned long long)self->changes[0],
                (unsigned long long)self->changes[1], (unsigned long long)self->changes[2]);
}

static int qn_land_pause(void *vself, bool paused)
{
    qn_land_t *self = vself;
    dropper_pause(self->drop, paused);
    return 0;
}

static void qn_land_destroy(void **self_p)
{
    qn_land_t *self = *self_p;
    if (!self)
        return;
    dropper_destroy(&self->drop);
    for (size_t i = 0; i < self->nfiles; i++)
        free(self->files[i]);
    free(self->files);
    for (size_t i = 0; i < self->nchanged; i++) {
        free(self->changed[i].id);
        free(self->changed[i].text);
    }
    free(self->changed);
    free(self);
    *self_p = NULL;
}

const sim_ops_t qn_land_ops = {
    .create = qn_land_create,
    .where = qn_land_where,
    .change = qn_land_change,
    .status = qn_land_status,
    .pause = qn_land_pause,
    .destroy = qn_land_destroy,
};
