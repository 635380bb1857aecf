/* view_civil.c — the two civil-status registers.
 *  qn-civil: CSV exports per commune and register (khai sinh, kết hôn,
 *    khai tử), exported when the old communes closed (30/06/2025), each
 *    commune in the encoding of its software: TCVN3, VNI-Windows, CP1258 or
 *    UTF-8 (listed in qn-civil/_encodings.csv). CRLF line ends.
 *  dn-civil: the JSON events the Đà Nẵng system pushes to its webhook, in
 *    delivery order, with duplicated and late deliveries; after the merger
 *    it also carries the registrations of the former Quảng Nam communes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "views.h"
#include "vnlegacy.h"

static const char *const s_type_code[3] = { "KS", "KH", "KT" };
static const char *const s_type_file[3] = { "khai-sinh", "ket-hon", "khai-tu" };

/* ---- qn-civil ----------------------------------------------------------- */

typedef struct {
    nctx_t      *n;
    vn_charset_t cs;
    sbuf_t       line;       /* UTF-8 row being built */
    sbuf_t       enc;
    sbuf_t       tmp;
    char         rid[64];
    ofile_t      o;
} crow_t;

/* Appends one field: CSV-quoted, checked for what the encoding loses. */
static void s_field(crow_t *c, const char *field, const char *val, bool first)
{
    if (!first)
        sbuf_putc(&c->line, ',');
    if (!val)
        val = "";
    if (c->cs == VN_TCVN3 && text_has_nonascii(val)) {
        sbuf_reset(&c->tmp);
        if (vn_roundtrip(c->cs, val, &c->tmp))
            nz_forced(c->n, c->rid, field, NK_LEGACY_CASE, val, c->tmp.p);
    }
    sbuf_csv(&c->line, val);
}

static void s_end_row(crow_t *c)
{
    sbuf_puts(&c->line, "\r\n");
    sbuf_reset(&c->enc);
    if (vn_encode(c->cs, c->line.p, &c->enc) && c->cs != VN_TCVN3)
        die("qn-civil: text not encodable in %s: %s", vn_charset_name[c->cs], c->line.p);
    ofile_sbuf(&c->o, &c->enc);
    sbuf_reset(&c->line);
}

static void s_header(crow_t *c, int type)
{
    static const char *const h[3] = {
        "Số,Quyển số,Ngày đăng ký,Họ và tên,Giới tính,Ngày sinh,Nơi sinh,Số định danh cá nhân,"
        "Họ tên cha,Năm sinh cha,Họ tên mẹ,Năm sinh mẹ,Nơi cư trú",
        "Số,Quyển số,Ngày đăng ký,Họ tên chồng,Ngày sinh chồng,Giấy tờ tùy thân chồng,Nơi cư trú chồng,"
        "Họ tên vợ,Ngày sinh vợ,Giấy tờ tùy thân vợ,Nơi cư trú vợ",
        "Số,Quyển số,Ngày đăng ký,Họ và tên,Giới tính,Ngày sinh,Ngày chết,Nơi chết,Giấy tờ tùy thân" };
    if (c->cs == VN_UTF8)
        sbuf_puts(&c->line, "\xEF\xBB\xBF");
    sbuf_puts(&c->line, h[type]);
    /* the BOM is not encoded by vn_encode (UTF-8 passes through) */
    s_end_row(c);
}

static void s_name_field(crow_t *c, const world_t *w, uint32_t idx1, const char *role,
                         const char *field)
{
    char eid[16];
    const person_t *x = &w->p[idx1 - 1];
    ent_id(eid, 'P', idx1 - 1);
    nz_truth(c->n, c->rid, role, eid);
    nameparts_t np;
    person_parts(w, x, &np);
    nz_name(c->n, c->rid, field, &np, render_full);
    sbuf_reset(&c->tmp);
    render_full(&np, &c->tmp);
    char val[300];
    snprintf(val, sizeof val, "%s", c->tmp.p);
    s_field(c, field, val, false);
}

/* bad_code for the sex (code table Nam / Nữ). */
static const char *const s_bad_sex_vi[] = { "Khác", "Không rõ", "?" };

/* An address of a commune, written with names only ("Thôn 3, Xã ..., Huyện
 * ..., Tỉnh Quảng Nam"): unknown_unit puts a commune name that exists in
 * neither list in place of the commune's. */
static void s_addr_field(crow_t *c, const refdata_t *rd, const char *field, const char *detail,
                         uint16_t commune)
{
    char full[300];
    full_address(rd, detail, commune, full, sizeof full);
    if (nz_roll(c->n, NK_UNKNOWN_UNIT)) {
        const commune_t *m = &rd->communes[commune];
        char fake[128], noisy[300];
        nz_fake_unit_name(c->n, m->name, m->unit_type, fake, sizeof fake);
        snprintf(noisy, sizeof noisy, "%s%s%s, %s, %s", detail, *detail ? ", " : "", fake,
                 m->district_name, m->province_name);
        nz_defect(c->n, c->rid, field, NK_UNKNOWN_UNIT, full, noisy);
        s_field(c, field, noisy, false);
        return;
    }
    s_field(c, field, full, false);
}

static void s_date_field(crow_t *c, const char *field, int32_t date, bool year_ok)
{
    sbuf_t t;
    sbuf_init(&t);
    nz_date(c->n, c->rid, field, date, DF_DMY, year_ok, &t);
    s_field(c, field, t.p, false);
    sbuf_free(&t);
}

/* The identity document as recorded at registration: the personal ID from
 * 2016 on, before that the CMND. */
static void s_id_field(crow_t *c, const world_t *w, const person_t *x, int32_t reg, const char *field,
                       unsigned shown)
{
    char pid[13], cmnd[10], pid2[13], cmnd2[10], val[40];
    world_pid(w, x, pid);
    world_cmnd(x, cmnd);
    if (reg < date_make(2016, 1, 1))
        pid[0] = 0;
    nz_ids(c->n, c->rid, field, pid, cmnd, shown, pid2, cmnd2);
    if (*pid2)
        snprintf(val, sizeof val, "CCCD %s", pid2);
    else if (*cmnd2)
        snprintf(val, sizeof val, "CMND %s", cmnd2);
    else
        val[0] = 0;
    s_field(c, field, val, false);
}

static void s_qn_row(views_t *v, crow_t *c, const event_t *e, uint32_t k_in_year,
                     int32_t reg, const char *event_eid, bool dup, const char *orig_rid)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    int year = date_year(reg);
    unsigned book = 1 + k_in_year / 400, number = 1 + k_in_year % 400;
    char quyen[16], num[12], addr[128];
    snprintf(quyen, sizeof quyen, "%02u/%04d", book, year);
    snprintf(c->rid, sizeof c->rid, "%s/%s/%s/%u", rd->communes[e->commune].code, s_type_code[e->type],
             quyen, number);
    const char *rid = c->rid;
    nz_truth(c->n, rid, "event", event_eid);
    if (dup)
        nz_defect(c->n, rid, "*", NK_DUPLICATE, orig_rid, rid);
    snprintf(num, sizeof num, "%u", number);
    s_field(c, "so", num, true);
    s_field(c, "quyen_so", quyen, false);
    sbuf_t t;
    sbuf_init(&t);
    render_date(&t, reg, DF_DMY);
    s_field(c, "ngay_dang_ky", t.p, false);
    const person_t *p1 = &w->p[e->p1 - 1];
    if (e->type == EV_BIRTH) {
        s_name_field(c, w, e->p1, "child", "ho_ten");
        s_field(c, "gioi_tinh", nz_code(c->n, rid, "gioi_tinh", p1->sex == SEX_F ? "Nữ" : "Nam",
                                        s_bad_sex_vi, 3), false);
        s_date_field(c, "ngay_sinh", p1->birth, false);
        s_addr_field(c, rd, "noi_sinh", "", e->commune);
        char pid[13], cmnd2[10], pid2[13];
        world_pid(w, p1, pid);
        if (reg < date_make(2016, 1, 1))
            pid[0] = 0;
        nz_ids(c->n, rid, "so_dinh_danh", pid, "", NZ_SEX_SHOWN | NZ_YEAR_SHOWN, pid2, cmnd2);
        s_field(c, "so_dinh_danh", pid2, false);
        char yr[8];
        if (e->p2) {
            s_name_field(c, w, e->p2, "father", "ho_ten_cha");
            snprintf(yr, sizeof yr, "%d", date_year(w->p[e->p2 - 1].birth));
            s_field(c, "nam_sinh_cha", yr, false);
        } else {
            s_field(c, "ho_ten_cha", "", false);
            s_field(c, "nam_sinh_cha", "", false);
        }
        s_name_field(c, w, e->p3, "mother", "ho_ten_me");
        snprintf(yr, sizeof yr, "%d", date_year(w->p[e->p3 - 1].birth));
        s_field(c, "nam_sinh_me", yr, false);
        const person_t *m = &w->p[e->p3 - 1];
        world_hh_address(w, &w->hh[m->hh], addr, sizeof addr);
        s_addr_field(c, rd, "noi_cu_tru", addr, m->res);
    } else if (e->type == EV_MARRIAGE) {
        const person_t *p2 = &w->p[e->p2 - 1];
        const person_t *pp[2] = { p1, p2 };
        static const char *const role[2] = { "husband", "wife" };
        static const char *const fn[2][4] = {
            { "ho_ten_chong", "ngay_sinh_chong", "giay_to_chong", "noi_cu_tru_chong" },
            { "ho_ten_vo", "ngay_sinh_vo", "giay_to_vo", "noi_cu_tru_vo" } };
        for (int i = 0; i < 2; i++) {
            s_name_field(c, w, i ? e->p2 : e->p1, role[i], fn[i][0]);
            s_date_field(c, fn[i][1], pp[i]->birth, true);
            /* no sex column (the role says it): the birth date shows the century */
            s_id_field(c, w, pp[i], reg, fn[i][2], NZ_YEAR_SHOWN);
            uint16_t rc = world_res_at(w, pp[i], e->date - 1, NULL);
            if (rc == NO_COMMUNE)
                s_field(c, fn[i][3], "ngoài tỉnh", false);
            else
                s_addr_field(c, rd, fn[i][3], "", rc);
        }
    } else {
        s_name_field(c, w, e->p1, "deceased", "ho_ten");
        s_field(c, "gioi_tinh", nz_code(c->n, rid, "gioi_tinh", p1->sex == SEX_F ? "Nữ" : "Nam",
                                        s_bad_sex_vi, 3), false);
        s_date_field(c, "ngay_sinh", p1->birth, true);
        sbuf_reset(&t);
        render_date(&t, e->date, DF_DMY);
        s_field(c, "ngay_chet", t.p, false);
        s_addr_field(c, rd, "noi_chet", "", e->commune);
        s_id_field(c, w, p1, reg, "giay_to", NZ_SEX_SHOWN | NZ_YEAR_SHOWN);
    }
    sbuf_free(&t);
    s_end_row(c);
    v->records[V_QN_CIVIL]++;
}

typedef struct { uint32_t ev; int32_t reg; char orig_rid[64]; } pdup_t;

void view_qn_civil(views_t *v)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = v->ctx[V_QN_CIVIL];
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/qn-civil", v->out_dir);
    mkdirs(dir);
    /* the software (encoding) of each commune */
    vn_charset_t *cs = xcalloc(rd->n_communes, sizeof *cs);
    snprintf(path, sizeof path, "%s/_encodings.csv", dir);
    ofile_t oe;
    ofile_open(&oe, path);
    sbuf_t b;
    sbuf_init(&b);
    sbuf_puts(&b, "ma_xa,ten_xa,encoding\n");
    for (uint32_t i = 0; i < rd->n_communes; i++) {
        if (commune_prov(&rd->communes[i]) != 1)
            continue;
        double u = rng_unit(&n->r);
        cs[i] = u < 0.35 ? VN_TCVN3 : u < 0.60 ? VN_VNI : u < 0.75 ? VN_CP1258 : VN_UTF8;
        sbuf_printf(&b, "%s,%s,%s\n", rd->communes[i].code, rd->communes[i].name, vn_charset_name[cs[i]]);
    }
    ofile_sbuf(&oe, &b);
    ofile_close(&oe);
    crow_t c;
    memset(&c, 0, sizeof c);
    c.n = n;
    sbuf_init(&c.line);
    sbuf_init(&c.enc);
    sbuf_init(&c.tmp);
    pdup_t *pend = NULL;
    size_t npend = 0, cappend = 0;
    uint32_t i = 0;
    while (i < w->nev) {
        const event_t *e0 = &w->ev[i];
        uint32_t end = i;
        while (end < w->nev && w->ev[end].office == e0->office && w->ev[end].type == e0->type)
            end++;
        if (e0->office >= 512 || commune_prov(&rd->communes[e0->office]) != 1) {
            i = end;
            continue;
        }
        const commune_t *m = &rd->communes[e0->commune];
        char slug[80];
        slugify(slug, sizeof slug, m->ascii);
        snprintf(path, sizeof path, "%s/%s_%s_%s.csv", dir, m->code, slug, s_type_file[e0->type]);
        ofile_open(&c.o, path);
        v->files[V_QN_CIVIL]++;
        c.cs = cs[e0->commune];
        s_header(&c, e0->type);
        npend = 0;
        uint32_t k_in_year = 0;
        for (uint32_t j = i; j < end; j++) {
            const event_t *e = &w->ev[j];
            int year = date_year(e->reg);
            k_in_year = (uint32_t)(e->book - 1) * 400 + e->number - 1;
            char eid[16];
            ent_id(eid, 'E', j);
            s_qn_row(v, &c, e, k_in_year, e->reg, eid, false, NULL);
            if (nz_roll(n, NK_DUPLICATE)) {
                if (npend == cappend) {
                    cappend = cappend ? cappend * 2 : 64;
                    pend = xrealloc(pend, cappend * sizeof *pend);
                }
                pdup_t *d = &pend[npend++];
                d->ev = j;
                int32_t last = date_make(year, 12, 31);
                if (last >= w->merger_date)
                    last = w->merger_date - 1;
                d->reg = e->reg + (int32_t)rng_below(&n->r, (uint32_t)(last - e->reg) + 1);
                snprintf(d->orig_rid, sizeof d->orig_rid, "%s", c.rid);
            }
            /* year closes: the re-registrations of that year get the next numbers */
            bool year_end = j + 1 == end || date_year(w->ev[j + 1].reg) != year;
            if (year_end && npend) {
                for (size_t q = 0; q < npend; q++) {
                    k_in_year++;
                    ent_id(eid, 'E', pend[q].ev);
                    s_qn_row(v, &c, &w->ev[pend[q].ev], k_in_year, pend[q].reg, eid, true, pend[q].orig_rid);
                }
                npend = 0;
            }
        }
        ofile_close(&c.o);
        i = end;
    }
    free(pend);
    free(cs);
    sbuf_free(&b);
    sbuf_free(&c.line);
    sbuf_free(&c.enc);
    sbuf_free(&c.tmp);
}

/* ---- dn-civil ----------------------------------------------------------- */

typedef struct { int64_t ts; uint32_t ev; uint8_t dup; } dnev_t;

static int s_dncmp(const void *a, const void *b)
{
    const dnev_t *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    if (x->ev != y->ev) return x->ev < y->ev ? -1 : 1;
    return x->dup - y->dup;
}

typedef struct {
    char    *line;
    char     rid[40];
    uint64_t due;
    uint64_t natural;
    uint8_t  kind;   /* 0 late (out of order), 1 second delivery */
} held_t;

typedef struct {
    views_t *v;
    nctx_t  *n;
    ofile_t  o;
    uint64_t delivered;
    int64_t  last_sent;
    held_t  *held;
    size_t   nheld, capheld;
} dnout_t;

/* A version-4-shaped UUID derived from (seed, event, copy), so that the
 * original of a duplicate can be named. */
static void s_uuid(uint64_t seed, uint32_t ev, int copy, char out[37])
{
    uint64_t a = local_hash(seed, V_DN_CIVIL, (uint64_t)ev * 2 + (uint64_t)copy);
    uint64_t b = local_hash(seed ^ 0xA5A5A5A5A5A5A5A5ULL, V_DN_CIVIL, (uint64_t)ev * 2 + (uint64_t)copy);
    a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xFFFF,
             (unsigned)a & 0xFFFF, (unsigned)(b >> 48), (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

static void s_deliver(dnout_t *d, const char *line_with_sent_placeholder)
{
    /* sent_at is stamped at delivery so the file reads in delivery order */
    sbuf_t b;
    sbuf_init(&b);
    const char *ph = strstr(line_with_sent_placeholder, "\"sent_at\":\"@\"");
    if (!ph)
        die("internal: dn-civil line without sent_at");
    sbuf_put(&b, line_with_sent_placeholder, (size_t)(ph - line_with_sent_placeholder));
    sbuf_puts(&b, "\"sent_at\":\"");
    sbuf_ts_iso(&b, d->last_sent);
    sbuf_putc(&b, '"');
    sbuf_puts(&b, ph + strlen("\"sent_at\":\"@\""));
    ofile_sbuf(&d->o, &b);
    sbuf_free(&b);
    d->delivered++;
    d->v->records[V_DN_CIVIL]++;   /* lines delivered, repeated deliveries included */
}

static void s_hold(dnout_t *d, const char *line, const char *rid, uint64_t due, uint64_t natural, uint8_t kind)
{
    if (d->nheld == d->capheld) {
        d->capheld = d->capheld ? d->capheld * 2 : 64;
        d->held = xrealloc(d->held, d->capheld * sizeof *d->held);
    }
    held_t *h = &d->held[d->nheld++];
    h->line = xstrdup(line);
    snprintf(h->rid, sizeof h->rid, "%s", rid);
    h->due = due;
    h->natural = natural;
    h->kind = kind;
}

static void s_release(dnout_t *d, bool all)
{
    bool again = true;
    while (again) {
        again = false;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < d->nheld; i++)
            if ((all || d->held[i].due <= d->delivered) &&
                (best == SIZE_MAX || d->held[i].due < d->held[best].due))
                best = i;
        if (best == SIZE_MAX)
            break;
        held_t h = d->held[best];
        d->held[best] = d->held[--d->nheld];
        char pos[24], nat[24];
        snprintf(pos, sizeof pos, "%llu", (unsigned long long)d->delivered + 1);
        snprintf(nat, sizeof nat, "%llu", (unsigned long long)h.natural);
        if (h.kind == 0)
            nz_defect(d->n, h.rid, "sequence", NK_OUT_OF_ORDER, nat, pos);
        else
            nz_defect(d->n, h.rid, "*", NK_DUP_DELIVERY, nat, pos);
        d->last_sent += 1;
        s_deliver(d, h.line);
        free(h.line);
        again = true;
    }
}

static void s_person_json(sbuf_t *b, dnout_t *d, const char *rid, const char *role, uint32_t idx1,
                          int32_t reg, bool full_birth, bool with_id, bool child_pid)
{
    const world_t *w = d->v->w;
    const person_t *x = &w->p[idx1 - 1];
    char eid[16], field[48];
    ent_id(eid, 'P', idx1 - 1);
    nz_truth(d->n, rid, role, eid);
    nameparts_t np;
    person_parts(w, x, &np);
    snprintf(field, sizeof field, "%s.full_name", role);
    nz_name(d->n, rid, field, &np, render_full);
    sbuf_t t;
    sbuf_init(&t);
    render_full(&np, &t);
    bool first = true;
    sbuf_puts(b, ",\"");
    sbuf_puts(b, role);
    sbuf_puts(b, "\":{");
    sbuf_json_kv(b, &first, "full_name", t.p);
    /* bad_code: outside the system's code table male / female */
    static const char *const bad_sex[] = { "unknown", "other" };
    snprintf(field, sizeof field, "%s.sex", role);
    sbuf_json_kv(b, &first, "sex", nz_code(d->n, rid, field, x->sex == SEX_F ? "female" : "male",
                                           bad_sex, 2));
    if (full_birth) {
        sbuf_reset(&t);
        snprintf(field, sizeof field, "%s.birth_date", role);
        nz_date(d->n, rid, field, x->birth, DF_ISO, false, &t);
        sbuf_json_kv(b, &first, "birth_date", t.p);
    } else {
        char yr[8];
        snprintf(yr, sizeof yr, "%d", date_year(x->birth));
        sbuf_json_kraw(b, &first, "birth_year", yr);
    }
    if (with_id) {
        char pid[13], cmnd[10], pid2[13], cmnd2[10];
        world_pid(w, x, pid);
        world_cmnd(x, cmnd);
        if (reg < date_make(2016, 1, 1))
            pid[0] = 0;
        if (child_pid)
            cmnd[0] = 0;
        snprintf(field, sizeof field, "%s.id", role);
        nz_ids(d->n, rid, field, pid, cmnd, NZ_SEX_SHOWN | (full_birth ? NZ_YEAR_SHOWN : 0), pid2, cmnd2);
        if (child_pid) {
            sbuf_json_kv(b, &first, "personal_id", pid2);
        } else {
            sbuf_json_kv(b, &first, "id_type", *pid2 ? "CCCD" : *cmnd2 ? "CMND" : NULL);
            sbuf_json_kv(b, &first, "id_number", *pid2 ? pid2 : cmnd2);
        }
    }
    sbuf_putc(b, '}');
    sbuf_free(&t);
}

static void s_dn_event(dnout_t *d, const dnev_t *de, sbuf_t *b, char rid[37])
{
    views_t *v = d->v;
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = d->n;
    const event_t *e = &w->ev[de->ev];
    static const char *const type[3] = { "birth.registered", "marriage.registered", "death.registered" };
    char eid[16];
    s_uuid(v->seed, de->ev, de->dup, rid);
    ent_id(eid, 'E', de->ev);
    nz_truth(n, rid, "event", eid);
    if (de->dup) {
        char orid[37];
        s_uuid(v->seed, de->ev, 0, orid);
        nz_defect(n, rid, "*", NK_DUPLICATE, orid, rid);
    }
    sbuf_reset(b);
    bool first = true;
    sbuf_putc(b, '{');
    sbuf_json_kv(b, &first, "event_id", rid);
    sbuf_json_kv(b, &first, "event_type", type[e->type]);
    sbuf_json_kv(b, &first, "sent_at", "@");
    sbuf_puts(b, ",\"data\":{\"registration\":{");
    first = true;
    char book[16], num[12];
    snprintf(book, sizeof book, "%02u/%04d", e->book, date_year(e->reg));
    snprintf(num, sizeof num, "%u", e->number);
    sbuf_json_kv(b, &first, "book", book);
    sbuf_json_kraw(b, &first, "number", num);
    sbuf_t t;
    sbuf_init(&t);
    sbuf_ts_iso(&t, de->ts);
    sbuf_json_kv(b, &first, "registered_at", t.p);
    const char *ocode, *oname;
    int over = 2024;
    if (e->office >= 512) {
        const unit25_t *u = &rd->units25[e->office - 512];
        ocode = u->code;
        oname = u->name;
        over = 2025;
        if (nz_roll(n, NK_STALE_CODE)) {
            char tv[32], nv[32];
            code_ver(tv, sizeof tv, u->code, 2025);
            code_ver(nv, sizeof nv, rd->communes[e->commune].code, 2024);
            nz_defect(n, rid, "office_code", NK_STALE_CODE, tv, nv);
            ocode = rd->communes[e->commune].code;
            oname = rd->communes[e->commune].name;
            over = 2024;
        }
    } else {
        ocode = rd->communes[e->office].code;
        oname = rd->communes[e->office].name;
    }
    /* unknown_unit: the office code mistyped, its name kept */
    char xa[8];
    nz_unit_code(n, rid, "office_code", ocode, over, xa);
    sbuf_json_kv(b, &first, "office_code", xa);
    sbuf_reset(&t);
    sbuf_puts(&t, "UBND ");
    sbuf_puts(&t, oname);
    sbuf_json_kv(b, &first, "office_name", t.p);
    sbuf_putc(b, '}');
    if (e->type == EV_BIRTH) {
        s_person_json(b, d, rid, "child", e->p1, e->reg, true, true, true);
        if (e->p2)
            s_person_json(b, d, rid, "father", e->p2, e->reg, false, false, false);
        s_person_json(b, d, rid, "mother", e->p3, e->reg, false, false, false);
    } else if (e->type == EV_MARRIAGE) {
        s_person_json(b, d, rid, "husband", e->p1, e->reg, true, true, false);
        s_person_json(b, d, rid, "wife", e->p2, e->reg, true, true, false);
    } else {
        s_person_json(b, d, rid, "deceased", e->p1, e->reg, true, true, false);
        first = false;
        sbuf_reset(&t);
        sbuf_date_iso(&t, e->date);
        sbuf_json_kv(b, &first, "death_date", t.p);
    }
    sbuf_puts(b, "}}\n");
    sbuf_free(&t);
}

void view_dn_civil(views_t *v)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = v->ctx[V_DN_CIVIL];
    /* what the Đà Nẵng system holds: its own communes, and everything
     * registered after the merger */
    dnev_t *l = NULL;
    size_t nl = 0, cap = 0;
    for (uint32_t i = 0; i < w->nev; i++) {
        const event_t *e = &w->ev[i];
        if (e->office < 512 && commune_prov(&rd->communes[e->office]) != 0)
            continue;
        for (int copy = 0; copy < 2; copy++) {
            if (nl == cap) {
                cap = cap ? cap * 2 : 1 << 14;
                l = xrealloc(l, cap * sizeof *l);
            }
            dnev_t *d = &l[nl++];
            d->ev = i;
            d->dup = (uint8_t)copy;
            d->ts = copy ? l[nl - 2].ts + rng_range(&n->r, 60, 3 * 86400)
                         : ts_from_date(e->reg, 7 * 3600 + 30 * 60 + (int)rng_below(&n->r, 10 * 3600));
            if (copy || !nz_roll(n, NK_DUPLICATE))
                break;
        }
    }
    qsort(l, nl, sizeof *l, s_dncmp);
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/dn-civil", v->out_dir);
    mkdirs(dir);
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    dnout_t d;
    memset(&d, 0, sizeof d);
    d.v = v;
    d.n = n;
    ofile_open(&d.o, path);
    v->files[V_DN_CIVIL] = 1;
    sbuf_t b;
    sbuf_init(&b);
    for (size_t k = 0; k < nl; k++) {
        char rid[37];
        s_dn_event(&d, &l[k], &b, rid);
        int64_t sent = l[k].ts + rng_range(&n->r, 1, 20);
        if (sent > d.last_sent)
            d.last_sent = sent;
        if (nz_roll(n, NK_OUT_OF_ORDER)) {
            s_hold(&d, b.p, rid, d.delivered + (uint64_t)rng_range(&n->r, 1, 25), k + 1, 0);
        } else {
            s_deliver(&d, b.p);
            if (nz_roll(n, NK_DUP_DELIVERY))
                s_hold(&d, b.p, rid, d.delivered + (uint64_t)rng_range(&n->r, 0, 40), k + 1, 1);
        }
        s_release(&d, false);
    }
    s_release(&d, true);
    ofile_close(&d.o);
    free(d.held);
    free(l);
    sbuf_free(&b);
}
