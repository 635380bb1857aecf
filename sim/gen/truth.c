/* truth.c — writes the true entities. Codes carry their version in the
 * column name (_2024 = list before 1 July 2025, _2025 = the 94 communes). */
#include "truth.h"

#include <stdio.h>

#include "util.h"

static void s_date(sbuf_t *b, int32_t d)
{
    if (d)
        sbuf_date_iso(b, d);
}

static void s_link(sbuf_t *b, char prefix, uint32_t idx1)
{
    if (!idx1)
        return;
    sbuf_putc(b, prefix);
    sbuf_uintw(b, idx1, 8);
}

static const char *s_code(const refdata_t *rd, uint16_t c)
{
    return c == NO_COMMUNE ? "" : rd->communes[c].code;
}

uint64_t truth_write(const world_t *w, const char *dir)
{
    const refdata_t *rd = w->rd;
    char path[4200];
    ofile_t o;
    sbuf_t b;
    sbuf_init(&b);
    uint64_t rows = 0;

    snprintf(path, sizeof path, "%s/persons.tsv", dir);
    ofile_open(&o, path);
    sbuf_puts(&b, "entity_id\tsex\tsurname\tmiddle\tgiven\tbirth_date\tdeath_date\tpersonal_id\tcmnd\t"
                  "birth_reg_province\tbirth_commune_2024\tfather_id\tmother_id\tspouse_id\tmarried_on\t"
                  "household_id\tres_commune_2024\tres_commune_2025\taddress\tprev_commune_2024\t"
                  "prev_commune_2025\tmoved_on\n");
    for (uint32_t i = 0; i < w->np; i++) {
        const person_t *x = &w->p[i];
        char pid[13], cmnd[10], addr[128];
        world_pid(w, x, pid);
        world_cmnd(x, cmnd);
        s_link(&b, 'P', i + 1); sbuf_putc(&b, '\t');
        sbuf_puts(&b, x->sex == SEX_F ? "f" : "m"); sbuf_putc(&b, '\t');
        sbuf_tsv(&b, rd->surnames[x->surname].s); sbuf_putc(&b, '\t');
        sbuf_tsv(&b, rd->middles[x->middle].s); sbuf_putc(&b, '\t');
        sbuf_tsv(&b, rd->givens[x->given].s); sbuf_putc(&b, '\t');
        s_date(&b, x->birth); sbuf_putc(&b, '\t');
        s_date(&b, x->death); sbuf_putc(&b, '\t');
        sbuf_puts(&b, pid); sbuf_putc(&b, '\t');
        sbuf_puts(&b, cmnd); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->ppp[x->ppp].code); sbuf_putc(&b, '\t');
        sbuf_puts(&b, s_code(rd, x->birth_commune)); sbuf_putc(&b, '\t');
        s_link(&b, 'P', x->father); sbuf_putc(&b, '\t');
        s_link(&b, 'P', x->mother); sbuf_putc(&b, '\t');
        s_link(&b, 'P', x->spouse); sbuf_putc(&b, '\t');
        s_date(&b, x->married); sbuf_putc(&b, '\t');
        if (x->hh != UINT32_MAX)
            s_link(&b, 'H', x->hh + 1);
        sbuf_putc(&b, '\t');
        sbuf_puts(&b, s_code(rd, x->res)); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->units25[x->res_new].code); sbuf_putc(&b, '\t');
        if (x->hh != UINT32_MAX)
            world_hh_address(w, &w->hh[x->hh], addr, sizeof addr);
        else
            addr[0] = 0;
        sbuf_tsv(&b, addr); sbuf_putc(&b, '\t');
        sbuf_puts(&b, s_code(rd, x->prev_res)); sbuf_putc(&b, '\t');
        if (x->prev_res != NO_COMMUNE)
            sbuf_puts(&b, rd->units25[x->prev_res_new].code);
        sbuf_putc(&b, '\t');
        s_date(&b, x->moved_on);
        sbuf_putc(&b, '\n');
        if (b.len > (1 << 16)) { ofile_sbuf(&o, &b); sbuf_reset(&b); }
        rows++;
    }
    ofile_sbuf(&o, &b); sbuf_reset(&b);
    ofile_close(&o);

    snprintf(path, sizeof path, "%s/households.tsv", dir);
    ofile_open(&o, path);
    sbuf_puts(&b, "entity_id\thead_id\tspouse_id\tformed_on\tcommune_2024\tcommune_2025\taddress\n");
    for (uint32_t i = 0; i < w->nhh; i++) {
        const household_t *h = &w->hh[i];
        char addr[128];
        world_hh_address(w, h, addr, sizeof addr);
        s_link(&b, 'H', i + 1); sbuf_putc(&b, '\t');
        s_link(&b, 'P', h->head); sbuf_putc(&b, '\t');
        s_link(&b, 'P', h->spouse); sbuf_putc(&b, '\t');
        s_date(&b, h->formed); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->communes[h->res].code); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->units25[h->res_new].code); sbuf_putc(&b, '\t');
        sbuf_tsv(&b, addr); sbuf_putc(&b, '\n');
        if (b.len > (1 << 16)) { ofile_sbuf(&o, &b); sbuf_reset(&b); }
        rows++;
    }
    ofile_sbuf(&o, &b); sbuf_reset(&b);
    ofile_close(&o);

    static const char *const ev_type[3] = { "birth", "marriage", "death" };
    snprintf(path, sizeof path, "%s/events.tsv", dir);
    ofile_open(&o, path);
    sbuf_puts(&b, "entity_id\ttype\tdate\tregistered_on\toffice_code\toffice_version\tcommune_2024\t"
                  "commune_2025\tbook\tnumber\tsubject_id\tfather_or_wife_id\tmother_id\n");
    for (uint32_t i = 0; i < w->nev; i++) {
        const event_t *e = &w->ev[i];
        s_link(&b, 'E', i + 1); sbuf_putc(&b, '\t');
        sbuf_puts(&b, ev_type[e->type]); sbuf_putc(&b, '\t');
        s_date(&b, e->date); sbuf_putc(&b, '\t');
        s_date(&b, e->reg); sbuf_putc(&b, '\t');
        if (e->office >= 512)
            sbuf_printf(&b, "%s\t2025\t", rd->units25[e->office - 512].code);
        else
            sbuf_printf(&b, "%s\t2024\t", rd->communes[e->office].code);
        sbuf_puts(&b, rd->communes[e->commune].code); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->units25[e->commune_new].code); sbuf_putc(&b, '\t');
        sbuf_printf(&b, "%02u/%04d\t%u\t", e->book, date_year(e->reg), e->number);
        s_link(&b, 'P', e->p1); sbuf_putc(&b, '\t');
        s_link(&b, 'P', e->p2); sbuf_putc(&b, '\t');
        s_link(&b, 'P', e->p3); sbuf_putc(&b, '\n');
        if (b.len > (1 << 16)) { ofile_sbuf(&o, &b); sbuf_reset(&b); }
        rows++;
    }
    ofile_sbuf(&o, &b); sbuf_reset(&b);
    ofile_close(&o);

    snprintf(path, sizeof path, "%s/parcels.tsv", dir);
    ofile_open(&o, path);
    sbuf_puts(&b, "entity_id\tcommune_2024\tcommune_2025\tmap_sheet\tparcel_no\tarea_m2\tland_use\t"
                  "owner1_id\towner2_id\tcertificate_id\tseri\tregister_no\tissued_on\tupdated_on\n");
    for (uint32_t i = 0; i < w->npc; i++) {
        const parcel_t *pc = &w->pc[i];
        s_link(&b, 'L', i + 1); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->communes[pc->commune].code); sbuf_putc(&b, '\t');
        sbuf_puts(&b, rd->units25[pc->res_new].code); sbuf_putc(&b, '\t');
        sbuf_printf(&b, "%u\t%u\t%u.%u\t%s", pc->sheet, pc->parcel_no, pc->area_dm2 / 10,
                    pc->area_dm2 % 10, land_use_code[pc->use]);
        if (pc->use2 != LU_NONE)
            sbuf_printf(&b, "+%s", land_use_code[pc->use2]);
        sbuf_putc(&b, '\t');
        s_link(&b, 'P', pc->owner1); sbuf_putc(&b, '\t');
        s_link(&b, 'P', pc->owner2); sbuf_putc(&b, '\t');
        if (pc->issued) {
            char seri[16], reg[32];
            world_seri(pc, seri);
            world_reg_no(pc, reg, sizeof reg);
            s_link(&b, 'C', i + 1);
            sbuf_printf(&b, "\t%s\t%s\t", seri, reg);
            s_date(&b, pc->issued);
        } else {
            sbuf_puts(&b, "\t\t\t");
        }
        sbuf_putc(&b, '\t');
        s_date(&b, pc->updated);
        sbuf_putc(&b, '\n');
        if (b.len > (1 << 16)) { ofile_sbuf(&o, &b); sbuf_reset(&b); }
        rows++;
    }
    ofile_sbuf(&o, &b);
    ofile_close(&o);
    sbuf_free(&b);
    return rows;
}
