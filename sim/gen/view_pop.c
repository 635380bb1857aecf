/* view_pop.c — the two population registers.
 *  qn-population: JSON lines, UPPER-CASE names, dd/mm/yyyy, pre-2025
 *    province/district/commune codes, sorted by updated_at (REST `since`).
 *  dn-population: XML <CongDan> records (the SOAP simulator wraps them),
 *    họ / chữ đệm / tên, ISO dates, 2025 codes for records updated after the
 *    merger (pre-2025 codes + district before it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "views.h"

enum { R_NORMAL, R_DUP, R_STALE };

typedef struct {
    int64_t  ts;
    uint32_t person;
    uint32_t orig;     /* entry index of the original (R_DUP) */
    uint32_t seq;      /* position before sorting (tie-break, determinism) */
    uint8_t  kind;
} prec_t;

static int s_cmp(const void *a, const void *b)
{
    const prec_t *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct {
    prec_t   *e;
    uint32_t  n, cap;
    uint32_t *pos;     /* entry seq -> sorted position */
} plist_t;

static uint32_t s_add(plist_t *l, int64_t ts, uint32_t person, uint32_t orig, uint8_t kind)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1 << 14;
        l->e = xrealloc(l->e, (size_t)l->cap * sizeof *l->e);
    }
    prec_t *p = &l->e[l->n];
    p->ts = ts;
    p->person = person;
    p->orig = orig;
    p->seq = l->n;
    p->kind = kind;
    return l->n++;
}

/* Who is in the register of province prov, with duplicates and people who
 * moved away but were never deregistered. */
static void s_build(views_t *v, nctx_t *n, int prov, plist_t *l)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    int32_t reg_from = date_make(2016, 1, 1);
    for (uint32_t i = 0; i < w->np; i++) {
        const person_t *x = &w->p[i];
        if (x->death)
            continue;
        int p = commune_prov(&rd->communes[x->res]);
        if (p == prov) {
            int32_t from = reg_from;
            if (x->birth > from) from = x->birth;
            if (x->moved_on > from) from = x->moved_on;
            int32_t lo = rng_chance(&n->r, 0.2) && from < w->merger_date ? w->merger_date : from;
            uint32_t e = s_add(l, rand_ts(&n->r, lo, w->ref_date), i, 0, R_NORMAL);
            if (nz_roll(n, NK_DUPLICATE))
                s_add(l, rand_ts(&n->r, from, w->ref_date), i, e, R_DUP);
        } else if (x->prev_res != NO_COMMUNE && commune_prov(&rd->communes[x->prev_res]) == prov) {
            /* moved to the other province */
            if (nz_roll(n, NK_BOTH_PROVINCES)) {
                /* last touched before the move */
                int32_t to = x->moved_on - 1, from = x->moved_on - 3 * 365;
                if (from < x->birth) from = x->birth;
                if (from < date_make(2000, 1, 1)) from = date_make(2000, 1, 1);
                if (to < from) to = from + 365;
                s_add(l, rand_ts(&n->r, from, to), i, 0, R_STALE);
            }
        }
    }
    qsort(l->e, l->n, sizeof *l->e, s_cmp);
    l->pos = xmalloc((size_t)(l->n ? l->n : 1) * sizeof *l->pos);
    for (uint32_t k = 0; k < l->n; k++)
        l->pos[l->e[k].seq] = k;
}

static void s_rid(char *out, size_t n, const char *prefix, uint32_t pos)
{
    snprintf(out, n, "%s%08u", prefix, pos + 1);
}

/* The address shown: residence, or stale (moved within / out of province). */
typedef struct {
    uint16_t commune;
    char     detail[96];
    bool     stale;
} addr_t;

static void s_address(views_t *v, nctx_t *n, const prec_t *e, const char *rid, addr_t *a)
{
    const world_t *w = v->w;
    const person_t *x = &w->p[e->person];
    char tv[32], nv[32];
    a->stale = false;
    if (e->kind == R_STALE) {
        a->commune = x->prev_res;
        world_prev_address(w, e->person, a->detail, sizeof a->detail);
        a->stale = true;
        code_ver(tv, sizeof tv, v->rd->communes[x->res].code, 2024);
        code_ver(nv, sizeof nv, v->rd->communes[x->prev_res].code, 2024);
        nz_defect(n, rid, "*", NK_BOTH_PROVINCES, tv, nv);
        return;
    }
    a->commune = x->res;
    world_hh_address(w, &w->hh[x->hh], a->detail, sizeof a->detail);
    if (x->prev_res != NO_COMMUNE && x->prev_res != x->res &&
        commune_prov(&v->rd->communes[x->prev_res]) == commune_prov(&v->rd->communes[x->res]) &&
        nz_roll(n, NK_OLD_RESIDENCE)) {
        code_ver(tv, sizeof tv, v->rd->communes[x->res].code, 2024);
        code_ver(nv, sizeof nv, v->rd->communes[x->prev_res].code, 2024);
        nz_defect(n, rid, "ma_xa", NK_OLD_RESIDENCE, tv, nv);
        a->commune = x->prev_res;
        world_prev_address(w, e->person, a->detail, sizeof a->detail);
        a->stale = true;
    }
}

static void s_dup_defect(nctx_t *n, const plist_t *l, const prec_t *e, const char *prefix, const char *rid)
{
    if (e->kind != R_DUP)
        return;
    char orid[32];
    s_rid(orid, sizeof orid, prefix, l->pos[e->orig]);
    nz_defect(n, rid, "*", NK_DUPLICATE, orid, rid);
}

static const char *s_sex_vi(const person_t *x) { return x->sex == SEX_F ? "Nữ" : "Nam"; }

/* bad_code for the sex (code table Nam / Nữ): what registers hold when
 * the sex was not known or not keyed. */
static const char *const s_bad_sex[] = { "Khác", "Không rõ", "?" };

void view_qn_population(views_t *v)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = v->ctx[V_QN_POP];
    plist_t l = { 0 };
    s_build(v, n, 1, &l);
    char path[4096];
    snprintf(path, sizeof path, "%s/qn-population", v->out_dir);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/qn-population/persons.jsonl", v->out_dir);
    ofile_t o;
    ofile_open(&o, path);
    v->files[V_QN_POP] = 1;
    sbuf_t b, t;
    sbuf_init(&b);
    sbuf_init(&t);
    for (uint32_t k = 0; k < l.n; k++) {
        const prec_t *e = &l.e[k];
        const person_t *x = &w->p[e->person];
        char rid[32], eid[16];
        s_rid(rid, sizeof rid, "QN", k);
        ent_id(eid, 'P', e->person);
        nz_truth(n, rid, "person", eid);
        s_dup_defect(n, &l, e, "QN", rid);
        sbuf_reset(&b);
        bool first = true;
        sbuf_putc(&b, '{');
        sbuf_json_kv(&b, &first, "id", rid);
        char pid[13], cmnd[10], pid2[13], cmnd2[10];
        world_pid(w, x, pid);
        world_cmnd(x, cmnd);
        nz_ids(n, rid, "id", pid, cmnd, NZ_SEX_SHOWN | NZ_YEAR_SHOWN, pid2, cmnd2);
        sbuf_json_kv(&b, &first, "so_dinh_danh", pid2);
        sbuf_json_kv(&b, &first, "so_cmnd", cmnd2);
        nameparts_t np;
        person_parts(w, x, &np);
        nz_name(n, rid, "ho_ten", &np, render_full_upper);
        sbuf_reset(&t);
        render_full_upper(&np, &t);
        sbuf_json_kv(&b, &first, "ho_ten", t.p);
        sbuf_json_kv(&b, &first, "gioi_tinh", nz_code(n, rid, "gioi_tinh", s_sex_vi(x), s_bad_sex, 3));
        sbuf_reset(&t);
        nz_date(n, rid, "ngay_sinh", x->birth, DF_DMY, false, &t);
        sbuf_json_kv(&b, &first, "ngay_sinh", t.p);
        sbuf_json_kv(&b, &first, "noi_dang_ky_khai_sinh", rd->ppp[x->ppp].name);
        addr_t a;
        s_address(v, n, e, rid, &a);
        const commune_t *m = &rd->communes[a.commune];
        sbuf_json_kv(&b, &first, "ma_tinh", m->province_code);
        sbuf_json_kv(&b, &first, "ma_huyen", m->district_code);
        char xa[8];
        nz_unit_code(n, rid, "ma_xa", m->code, 2024, xa);
        sbuf_json_kv(&b, &first, "ma_xa", xa);
        sbuf_json_kv(&b, &first, "dia_chi", a.detail);
        char full[300];
        full_address(rd, a.detail, a.commune, full, sizeof full);
        sbuf_json_kv(&b, &first, "dia_chi_thuong_tru", full);
        char hh[32];
        snprintf(hh, sizeof hh, "%010llu",
                 (unsigned long long)(local_hash(v->seed, V_QN_POP, x->hh) % 10000000000ULL));
        sbuf_json_kv(&b, &first, "so_ho_khau", hh);
        sbuf_json_kv(&b, &first, "quan_he_chu_ho", relation_to_head(w, e->person));
        char rel[300];
        clean_name(w, x->father, true, rel, sizeof rel);
        sbuf_json_kv(&b, &first, "ho_ten_cha", rel);
        clean_name(w, x->mother, true, rel, sizeof rel);
        sbuf_json_kv(&b, &first, "ho_ten_me", rel);
        clean_name(w, x->spouse && !w->p[x->spouse - 1].death ? x->spouse : 0, true, rel, sizeof rel);
        sbuf_json_kv(&b, &first, "ho_ten_vo_chong", rel);
        sbuf_reset(&t);
        sbuf_ts_iso(&t, e->ts);
        sbuf_json_kv(&b, &first, "updated_at", t.p);
        sbuf_puts(&b, "}\n");
        ofile_sbuf(&o, &b);
        v->records[V_QN_POP]++;
    }
    ofile_close(&o);
    sbuf_free(&b);
    sbuf_free(&t);
    free(l.e);
    free(l.pos);
}

void view_dn_population(views_t *v)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = v->ctx[V_DN_POP];
    plist_t l = { 0 };
    s_build(v, n, 0, &l);
    char path[4096];
    snprintf(path, sizeof path, "%s/dn-population", v->out_dir);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/dn-population/congdan.xml", v->out_dir);
    ofile_t o;
    ofile_open(&o, path);
    v->files[V_DN_POP] = 1;
    sbuf_t b, t;
    sbuf_init(&b);
    sbuf_init(&t);
    sbuf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<DanhSachCongDan xmlns=\"urn:lgsp-sim:dn-dancu:1\" ngayXuat=\"");
    sbuf_date_iso(&b, w->ref_date);
    sbuf_puts(&b, "\">\n");
    ofile_sbuf(&o, &b);
    int64_t merger_ts = ts_from_date(w->merger_date, 0);
    for (uint32_t k = 0; k < l.n; k++) {
        const prec_t *e = &l.e[k];
        const person_t *x = &w->p[e->person];
        char rid[32], eid[16];
        s_rid(rid, sizeof rid, "CD", k);
        ent_id(eid, 'P', e->person);
        nz_truth(n, rid, "person", eid);
        s_dup_defect(n, &l, e, "CD", rid);
        sbuf_reset(&b);
        sbuf_puts(&b, "<CongDan id=\"");
        sbuf_puts(&b, rid);
        sbuf_puts(&b, "\" capNhat=\"");
        sbuf_ts_iso(&b, e->ts);
        sbuf_puts(&b, "\">");
        char pid[13], cmnd[10], pid2[13], cmnd2[10];
        world_pid(w, x, pid);
        world_cmnd(x, cmnd);
        nz_ids(n, rid, "id", pid, cmnd, NZ_SEX_SHOWN | NZ_YEAR_SHOWN, pid2, cmnd2);
        sbuf_xml_el(&b, "SoDinhDanh", pid2);
        sbuf_xml_el(&b, "SoCMND", cmnd2);
        nameparts_t np;
        person_parts(w, x, &np);
        nz_name(n, rid, "ho_ten", &np, render_split);
        sbuf_puts(&b, "<HoTen>");
        sbuf_xml_el(&b, "Ho", np.part[0]);
        sbuf_xml_el(&b, "ChuDem", np.part[1]);
        sbuf_xml_el(&b, "Ten", np.part[2]);
        sbuf_puts(&b, "</HoTen>");
        sbuf_xml_el(&b, "GioiTinh", nz_code(n, rid, "gioi_tinh", s_sex_vi(x), s_bad_sex, 3));
        sbuf_reset(&t);
        nz_date(n, rid, "ngay_sinh", x->birth, DF_ISO, false, &t);
        sbuf_xml_el(&b, "NgaySinh", t.p);
        addr_t a;
        s_address(v, n, e, rid, &a);
        const commune_t *m = &rd->communes[a.commune];
        /* after the merger the register carries the 2025 commune, without district */
        bool v2025 = e->ts >= merger_ts;
        uint8_t nidx = a.stale ? x->prev_res_new : x->res_new;
        if (v2025 && !a.stale && nz_roll(n, NK_STALE_CODE)) {
            char tv[32], nv[32];
            code_ver(tv, sizeof tv, rd->units25[nidx].code, 2025);
            code_ver(nv, sizeof nv, m->code, 2024);
            nz_defect(n, rid, "ma_xa", NK_STALE_CODE, tv, nv);
            v2025 = false;
        }
        /* unknown_unit: the code mistyped, the name kept as it is */
        char xa[8];
        nz_unit_code(n, rid, "ma_xa", v2025 ? rd->units25[nidx].code : m->code, v2025 ? 2025 : 2024, xa);
        sbuf_puts(&b, "<ThuongTru>");
        sbuf_xml_el(&b, "MaTinh", "48");
        if (v2025) {
            sbuf_xml_el(&b, "MaQuanHuyen", NULL);
            sbuf_xml_el(&b, "MaPhuongXa", xa);
            sbuf_xml_el(&b, "TenPhuongXa", rd->units25[nidx].name);
        } else {
            sbuf_xml_el(&b, "MaQuanHuyen", m->district_code);
            sbuf_xml_el(&b, "MaPhuongXa", xa);
            sbuf_xml_el(&b, "TenPhuongXa", m->name);
        }
        sbuf_xml_el(&b, "ChiTiet", a.detail);
        sbuf_puts(&b, "</ThuongTru>");
        char hh[32];
        snprintf(hh, sizeof hh, "HK%012llu",
                 (unsigned long long)(local_hash(v->seed, V_DN_POP, x->hh) % 1000000000000ULL));
        sbuf_xml_el(&b, "MaHo", hh);
        sbuf_xml_el(&b, "QuanHeChuHo", relation_to_head(w, e->person));
        char rel[300];
        clean_name(w, x->father, false, rel, sizeof rel);
        sbuf_xml_el(&b, "HoTenCha", rel);
        clean_name(w, x->mother, false, rel, sizeof rel);
        sbuf_xml_el(&b, "HoTenMe", rel);
        clean_name(w, x->spouse && !w->p[x->spouse - 1].death ? x->spouse : 0, false, rel, sizeof rel);
        sbuf_xml_el(&b, "HoTenVoChong", rel);
        sbuf_puts(&b, "</CongDan>\n");
        ofile_sbuf(&o, &b);
        v->records[V_DN_POP]++;
    }
    static const char end[] = "</DanhSachCongDan>\n";
    ofile_write(&o, end, sizeof end - 1);
    ofile_close(&o);
    sbuf_free(&b);
    sbuf_free(&t);
    free(l.e);
    free(l.pos);
}
