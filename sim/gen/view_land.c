/* view_land.c — the two land registers.
 *  qn-land: XML export files per district, dropped over time
 *    (<maHuyen>_<yyyymmdd>_<seq>.xml), comma-decimal areas, owners with
 *    birth year and (often only) the old CMND.
 *  dn-land: three CSV files for PostgreSQL COPY (thua_dat, chu_su_dung,
 *    giay_chung_nhan), each row with updated_at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "views.h"

enum { L_NORMAL, L_DUP };

typedef struct {
    int64_t  ts;
    uint32_t parcel;
    uint32_t orig;
    uint32_t seq;
    uint16_t district;   /* sort key for qn-land */
    uint8_t  kind;
} lrec_t;

static int s_cmp(const void *a, const void *b)
{
    const lrec_t *x = a, *y = b;
    if (x->district != y->district) return x->district < y->district ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct { lrec_t *e; uint32_t n, cap; uint32_t *pos; } llist_t;

static uint32_t s_add(llist_t *l, const lrec_t *r)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1 << 14;
        l->e = xrealloc(l->e, (size_t)l->cap * sizeof *l->e);
    }
    l->e[l->n] = *r;
    l->e[l->n].seq = l->n;
    return l->n++;
}

static void s_build(views_t *v, nctx_t *n, int prov, bool by_district, llist_t *l)
{
    const world_t *w = v->w;
    for (uint32_t i = 0; i < w->npc; i++) {
        const parcel_t *pc = &w->pc[i];
        const commune_t *m = &v->rd->communes[pc->commune];
        if (commune_prov(m) != prov)
            continue;
        lrec_t r = { 0 };
        r.parcel = i;
        r.district = by_district ? (uint16_t)atoi(m->district_code) : 0;
        r.ts = rand_ts(&n->r, pc->updated, pc->updated);
        r.kind = L_NORMAL;
        uint32_t e = s_add(l, &r);
        if (nz_roll(n, NK_DUPLICATE)) {
            r.kind = L_DUP;
            r.orig = e;
            r.ts = rand_ts(&n->r, pc->updated, w->ref_date);
            s_add(l, &r);
        }
    }
    qsort(l->e, l->n, sizeof *l->e, s_cmp);
    l->pos = xmalloc((size_t)(l->n ? l->n : 1) * sizeof *l->pos);
    for (uint32_t k = 0; k < l->n; k++)
        l->pos[l->e[k].seq] = k;
}

/* 12345 tenths -> "1.234,5" */
static void s_area_vn(sbuf_t *b, uint32_t dm2)
{
    uint32_t ip = dm2 / 10;
    char digits[16];
    int nd = snprintf(digits, sizeof digits, "%u", ip);
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            sbuf_putc(b, '.');
        sbuf_putc(b, digits[i]);
    }
    sbuf_putc(b, ',');
    sbuf_putc(b, (char)('0' + dm2 % 10));
}

static void s_use(sbuf_t *b, const parcel_t *pc)
{
    sbuf_puts(b, land_use_code[pc->use]);
    if (pc->use2 != LU_NONE) {
        sbuf_putc(b, '+');
        sbuf_puts(b, land_use_code[pc->use2]);
    }
}

/* The land-use codes with bad_code noise: one code keyed with its last two
 * letters swapped (ODT -> OTD, ONT+CLN -> ONT+CNL). None of the seven
 * swapped forms is a code of the land-use classification (TT 25/2014
 * Điều 8, TT 08/2024 lists), so the value is outside the code table. */
static void s_use_noisy(nctx_t *n, const char *rid, const char *field, const parcel_t *pc, sbuf_t *b)
{
    sbuf_t t;
    sbuf_init(&t);
    s_use(&t, pc);
    if (!nz_roll(n, NK_BAD_CODE)) {
        sbuf_puts(b, t.p);
        sbuf_free(&t);
        return;
    }
    char bad[16];
    snprintf(bad, sizeof bad, "%s", t.p);
    char *c = bad;
    if (pc->use2 != LU_NONE && rng_chance(&n->r, 0.5))
        c = bad + 4;                        /* the second code of "ONT+CLN" */
    char tmp = c[1];
    c[1] = c[2];
    c[2] = tmp;
    nz_defect(n, rid, field, NK_BAD_CODE, t.p, bad);
    sbuf_puts(b, bad);
    sbuf_free(&t);
}

void view_qn_land(views_t *v)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = v->ctx[V_QN_LAND];
    llist_t l = { 0 };
    s_build(v, n, 1, true, &l);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/qn-land", v->out_dir);
    mkdirs(dir);
    uint32_t chunk = w->cfg.scale >= 0.05 ? 5000 : 400;
    sbuf_t b, t;
    sbuf_init(&b);
    sbuf_init(&t);
    ofile_t o = { 0 };
    uint32_t k = 0, seq_in_district = 0;
    while (k < l.n) {
        /* one file: up to chunk records of one district */
        uint32_t end = k;
        while (end < l.n && end - k < chunk && l.e[end].district == l.e[k].district)
            end++;
        const commune_t *m0 = &rd->communes[w->pc[l.e[k].parcel].commune];
        int32_t export_day = ts_date(l.e[end - 1].ts) + 1;
        if (export_day > w->ref_date)
            export_day = w->ref_date;
        int y, mo, d;
        date_split(export_day, &y, &mo, &d);
        if (k == 0 || l.e[k - 1].district != l.e[k].district)
            seq_in_district = 0;
        seq_in_district++;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s_%04d%02d%02d_%03u.xml", dir, m0->district_code, y, mo, d,
                 seq_in_district);
        ofile_open(&o, path);
        v->files[V_QN_LAND]++;
        sbuf_reset(&b);
        sbuf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GoiDuLieuDiaChinh phienBan=\"1.0\" maTinh=\"49\" maHuyen=\"");
        sbuf_puts(&b, m0->district_code);
        sbuf_puts(&b, "\" donViXuat=\"Chi nhánh Văn phòng đăng ký đất đai ");
        sbuf_xml(&b, m0->district_name);
        sbuf_puts(&b, "\" ngayXuat=\"");
        sbuf_ts_iso(&b, ts_from_date(export_day, 17 * 3600));
        sbuf_printf(&b, "\" soLuong=\"%u\">\n", end - k);
        ofile_sbuf(&o, &b);
        for (; k < end; k++) {
            const lrec_t *e = &l.e[k];
            const parcel_t *pc = &w->pc[e->parcel];
            const commune_t *m = &rd->communes[pc->commune];
            char rid[32], eid[16];
            snprintf(rid, sizeof rid, "QNTD%08u", k + 1);
            ent_id(eid, 'L', e->parcel);
            nz_truth(n, rid, "parcel", eid);
            if (e->kind == L_DUP) {
                char orid[32];
                snprintf(orid, sizeof orid, "QNTD%08u", l.pos[e->orig] + 1);
                nz_defect(n, rid, "*", NK_DUPLICATE, orid, rid);
            }
            sbuf_reset(&b);
            sbuf_puts(&b, " <ThuaDat maThuaDat=\"");
            sbuf_puts(&b, rid);
            sbuf_puts(&b, "\" ngayCapNhat=\"");
            render_date(&b, ts_date(e->ts), DF_DMY);
            sbuf_puts(&b, "\">\n  ");
            char xa[8];
            nz_unit_code(n, rid, "ma_xa", m->code, 2024, xa);
            sbuf_xml_el(&b, "MaXa", xa);
            sbuf_xml_el(&b, "TenXa", m->name);
            sbuf_printf(&b, "<SoToBanDo>%u</SoToBanDo><SoThuTuThua>%u</SoThuTuThua>", pc->sheet, pc->parcel_no);
            sbuf_puts(&b, "<DienTich donVi=\"m2\">");
            s_area_vn(&b, pc->area_dm2);
            sbuf_puts(&b, "</DienTich><MucDichSuDung>");
            s_use_noisy(n, rid, "muc_dich_su_dung", pc, &b);
            sbuf_puts(&b, "</MucDichSuDung>");
            char addr[128];
            world_hh_address(w, &w->hh[pc->hh], addr, sizeof addr);
            sbuf_xml_el(&b, "DiaChiThua", addr);
            sbuf_putc(&b, '\n');
            uint32_t owners[2] = { pc->owner1, pc->owner2 };
            for (int oi = 0; oi < 2; oi++) {
                if (!owners[oi])
                    continue;
                const person_t *x = &w->p[owners[oi] - 1];
                char role[16], field[48];
                snprintf(role, sizeof role, "owner%d", oi + 1);
                ent_id(eid, 'P', owners[oi] - 1);
                nz_truth(n, rid, role, eid);
                nameparts_t np;
                person_parts(w, x, &np);
                snprintf(field, sizeof field, "chu[%d].ho_ten", oi + 1);
                nz_name(n, rid, field, &np, render_full);
                char pid[13], cmnd[10], pid2[13], cmnd2[10];
                world_pid(w, x, pid);
                world_cmnd(x, cmnd);
                snprintf(field, sizeof field, "chu[%d].id", oi + 1);
                /* the owner's sex is not in this export, the birth year is */
                nz_ids(n, rid, field, pid, cmnd, NZ_YEAR_SHOWN, pid2, cmnd2);
                sbuf_printf(&b, "  <ChuSuDung stt=\"%d\">", oi + 1);
                sbuf_reset(&t);
                render_full(&np, &t);
                sbuf_xml_el(&b, "HoTen", t.p);
                sbuf_printf(&b, "<NamSinh>%d</NamSinh>", date_year(x->birth));
                if (*pid2) {
                    sbuf_puts(&b, "<GiayTo loai=\"CCCD\">");
                    sbuf_puts(&b, pid2);
                    sbuf_puts(&b, "</GiayTo>");
                } else if (*cmnd2) {
                    sbuf_puts(&b, "<GiayTo loai=\"CMND\">");
                    sbuf_puts(&b, cmnd2);
                    sbuf_puts(&b, "</GiayTo>");
                } else {
                    sbuf_puts(&b, "<GiayTo/>");
                }
                char full[300];
                world_hh_address(w, &w->hh[x->hh == UINT32_MAX ? pc->hh : x->hh], addr, sizeof addr);
                full_address(rd, addr, x->res, full, sizeof full);
                sbuf_xml_el(&b, "DiaChi", full);
                sbuf_puts(&b, "</ChuSuDung>\n");
            }
            if (pc->issued) {
                char seri[16], reg[32];
                world_seri(pc, seri);
                world_reg_no(pc, reg, sizeof reg);
                ent_id(eid, 'C', e->parcel);
                nz_truth(n, rid, "certificate", eid);
                sbuf_puts(&b, "  <GiayChungNhan>");
                sbuf_xml_el(&b, "SoPhatHanh", seri);
                sbuf_xml_el(&b, "SoVaoSo", reg);
                sbuf_puts(&b, "<NgayCap>");
                nz_date(n, rid, "giay_chung_nhan.ngay_cap", pc->issued, DF_DMY, false, &b);
                sbuf_puts(&b, "</NgayCap></GiayChungNhan>\n");
            }
            sbuf_puts(&b, " </ThuaDat>\n");
            ofile_sbuf(&o, &b);
            v->records[V_QN_LAND]++;
        }
        static const char tail[] = "</GoiDuLieuDiaChinh>\n";
        ofile_write(&o, tail, sizeof tail - 1);
        ofile_close(&o);
    }
    sbuf_free(&b);
    sbuf_free(&t);
    free(l.e);
    free(l.pos);
}

void view_dn_land(views_t *v)
{
    const world_t *w = v->w;
    const refdata_t *rd = v->rd;
    nctx_t *n = v->ctx[V_DN_LAND];
    llist_t l = { 0 };
    s_build(v, n, 0, false, &l);
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/dn-land", v->out_dir);
    mkdirs(dir);
    ofile_t op, oo, oc;
    snprintf(path, sizeof path, "%s/thua_dat.csv", dir);
    ofile_open(&op, path);
    snprintf(path, sizeof path, "%s/chu_su_dung.csv", dir);
    ofile_open(&oo, path);
    snprintf(path, sizeof path, "%s/giay_chung_nhan.csv", dir);
    ofile_open(&oc, path);
    v->files[V_DN_LAND] = 3;
    static const char hp[] = "id,ma_xa,ma_xa_moi,so_to,so_thua,dien_tich,loai_dat,dia_chi,updated_at\n";
    static const char ho[] = "id,thua_dat_id,ho_ten,ngay_sinh,gioi_tinh,loai_giay_to,so_giay_to,dia_chi,updated_at\n";
    static const char hc[] = "id,thua_dat_id,so_phat_hanh,so_vao_so,ngay_cap,updated_at\n";
    ofile_write(&op, hp, sizeof hp - 1);
    ofile_write(&oo, ho, sizeof ho - 1);
    ofile_write(&oc, hc, sizeof hc - 1);
    sbuf_t b, t;
    sbuf_init(&b);
    sbuf_init(&t);
    uint32_t owner_id = 0, cert_id = 0;
    int64_t merger_ts = ts_from_date(w->merger_date, 0);
    for (uint32_t k = 0; k < l.n; k++) {
        const lrec_t *e = &l.e[k];
        const parcel_t *pc = &w->pc[e->parcel];
        const commune_t *m = &rd->communes[pc->commune];
        char rid[48], eid[16], ts[40];
        uint32_t pid_row = k + 1;
        snprintf(rid, sizeof rid, "thua_dat:%u", pid_row);
        ent_id(eid, 'L', e->parcel);
        nz_truth(n, rid, "parcel", eid);
        if (e->kind == L_DUP) {
            char orid[48];
            snprintf(orid, sizeof orid, "thua_dat:%u", l.pos[e->orig] + 1);
            nz_defect(n, rid, "*", NK_DUPLICATE, orid, rid);
        }
        sbuf_reset(&t);
        sbuf_ts_sql(&t, e->ts);
        snprintf(ts, sizeof ts, "%s", t.p);
        char xa[8];
        nz_unit_code(n, rid, "ma_xa", m->code, 2024, xa);
        sbuf_reset(&b);
        sbuf_printf(&b, "%u,%s,%s,%u,%u,%u.%u,", pid_row, xa,
                    e->ts >= merger_ts ? rd->units25[pc->res_new].code : "",
                    pc->sheet, pc->parcel_no, pc->area_dm2 / 10, pc->area_dm2 % 10);
        sbuf_reset(&t);
        s_use_noisy(n, rid, "loai_dat", pc, &t);
        sbuf_csv(&b, t.p);
        sbuf_putc(&b, ',');
        char addr[128], full[300];
        world_hh_address(w, &w->hh[pc->hh], addr, sizeof addr);
        full_address(rd, addr, pc->commune, full, sizeof full);
        sbuf_csv(&b, full);
        sbuf_putc(&b, ',');
        sbuf_puts(&b, ts);
        sbuf_putc(&b, '\n');
        ofile_sbuf(&op, &b);
        v->records[V_DN_LAND]++;
        uint32_t owners[2] = { pc->owner1, pc->owner2 };
        for (int oi = 0; oi < 2; oi++) {
            if (!owners[oi])
                continue;
            const person_t *x = &w->p[owners[oi] - 1];
            char orid[48];
            snprintf(orid, sizeof orid, "chu_su_dung:%u", ++owner_id);
            ent_id(eid, 'P', owners[oi] - 1);
            nz_truth(n, orid, "owner", eid);
            nameparts_t np;
            person_parts(w, x, &np);
            nz_name(n, orid, "ho_ten", &np, render_full);
            sbuf_reset(&b);
            sbuf_printf(&b, "%u,%u,", owner_id, pid_row);
            sbuf_reset(&t);
            render_full(&np, &t);
            sbuf_csv(&b, t.p);
            sbuf_putc(&b, ',');
            sbuf_reset(&t);
            nz_date(n, orid, "ngay_sinh", x->birth, DF_ISO, false, &t);
            sbuf_csv(&b, t.p);
            sbuf_putc(&b, ',');
            /* bad_code: what registers hold when the sex was not keyed; all
             * fit gioi_tinh varchar(8) */
            static const char *const bad_sex[] = { "Khác", "Không rõ", "?" };
            sbuf_csv(&b, nz_code(n, orid, "gioi_tinh", x->sex == SEX_F ? "Nữ" : "Nam", bad_sex, 3));
            sbuf_putc(&b, ',');
            char pid[13], cmnd[10], pid2[13], cmnd2[10];
            world_pid(w, x, pid);
            world_cmnd(x, cmnd);
            nz_ids(n, orid, "id", pid, cmnd, NZ_SEX_SHOWN | NZ_YEAR_SHOWN, pid2, cmnd2);
            if (*pid2)
                sbuf_printf(&b, "CCCD,%s,", pid2);
            else if (*cmnd2)
                sbuf_printf(&b, "CMND,%s,", cmnd2);
            else
                sbuf_puts(&b, ",,");
            world_hh_address(w, &w->hh[x->hh == UINT32_MAX ? pc->hh : x->hh], addr, sizeof addr);
            full_address(rd, addr, x->res, full, sizeof full);
            sbuf_csv(&b, full);
            sbuf_putc(&b, ',');
            sbuf_puts(&b, ts);
            sbuf_putc(&b, '\n');
            ofile_sbuf(&oo, &b);
            v->records[V_DN_LAND]++;
        }
        if (pc->issued) {
            char crid[48], seri[16], reg[32];
            snprintf(crid, sizeof crid, "giay_chung_nhan:%u", ++cert_id);
            ent_id(eid, 'C', e->parcel);
            nz_truth(n, crid, "certificate", eid);
            world_seri(pc, seri);
            world_reg_no(pc, reg, sizeof reg);
            sbuf_reset(&b);
            sbuf_printf(&b, "%u,%u,%s,", cert_id, pid_row, seri);
            sbuf_csv(&b, reg);
            sbuf_putc(&b, ',');
            sbuf_date_iso(&b, pc->issued);
            sbuf_putc(&b, ',');
            sbuf_puts(&b, ts);
            sbuf_putc(&b, '\n');
            ofile_sbuf(&oc, &b);
            v->records[V_DN_LAND]++;
        }
    }
    ofile_close(&op);
    ofile_close(&oo);
    ofile_close(&oc);
    sbuf_free(&b);
    sbuf_free(&t);
    free(l.e);
    free(l.pos);
}
