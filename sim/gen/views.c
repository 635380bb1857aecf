/* views.c — helpers shared by the six views. */
#include "views.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

void ent_id(char out[16], char prefix, uint32_t index)
{
    snprintf(out, 16, "%c%08u", prefix, index + 1);
}

static void s_cpy(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n > 95) n = 95;
    memcpy(dst, src, n);
    dst[n] = 0;
}

void person_parts(const world_t *w, const person_t *x, nameparts_t *np)
{
    s_cpy(np->part[0], w->rd->surnames[x->surname].s);
    s_cpy(np->part[1], w->rd->middles[x->middle].s);
    s_cpy(np->part[2], w->rd->givens[x->given].s);
}

void render_full(const nameparts_t *np, sbuf_t *out)
{
    sbuf_puts(out, np->part[0]);
    if (np->part[1][0]) {
        sbuf_putc(out, ' ');
        sbuf_puts(out, np->part[1]);
    }
    sbuf_putc(out, ' ');
    sbuf_puts(out, np->part[2]);
}

void render_full_upper(const nameparts_t *np, sbuf_t *out)
{
    sbuf_t t;
    sbuf_init(&t);
    render_full(np, &t);
    text_upper(t.p, out);
    sbuf_free(&t);
}

void render_split(const nameparts_t *np, sbuf_t *out)
{
    sbuf_puts(out, np->part[0]);
    sbuf_putc(out, '|');
    sbuf_puts(out, np->part[1]);
    sbuf_putc(out, '|');
    sbuf_puts(out, np->part[2]);
}

void clean_name(const world_t *w, uint32_t idx1, bool upper, char *out, size_t n)
{
    if (!idx1) {
        out[0] = 0;
        return;
    }
    char tmp[300];
    world_full_name(w, &w->p[idx1 - 1], tmp, sizeof tmp);
    if (!upper) {
        snprintf(out, n, "%s", tmp);
        return;
    }
    sbuf_t t;
    sbuf_init(&t);
    text_upper(tmp, &t);
    snprintf(out, n, "%s", t.p);
    sbuf_free(&t);
}

uint64_t local_hash(uint64_t seed, int view, uint64_t x)
{
    uint64_t z = x * 0x9E3779B97F4A7C15ULL ^ (seed + 0x632BE59BD9B4E019ULL * (uint64_t)(view + 1));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

const char *relation_to_head(const world_t *w, uint32_t pidx)
{
    const person_t *x = &w->p[pidx];
    if (x->hh == UINT32_MAX)
        return "Khác";
    const household_t *h = &w->hh[x->hh];
    uint32_t me = pidx + 1;
    if (h->head == me)
        return "Chủ hộ";
    if (h->spouse == me)
        return x->sex == SEX_F ? "Vợ" : "Chồng";
    if (h->head && (x->father == h->head || x->mother == h->head ||
                    (h->spouse && x->mother == h->spouse)))
        return "Con";
    if (h->head) {
        const person_t *hd = &w->p[h->head - 1];
        if (hd->father == me) return "Cha";
        if (hd->mother == me) return "Mẹ";
        if (x->spouse) {
            const person_t *s = &w->p[x->spouse - 1];
            if (s->father == h->head || s->mother == h->head)
                return x->sex == SEX_F ? "Con dâu" : "Con rể";
        }
        if (x->father) {
            const person_t *f = &w->p[x->father - 1];
            if (f->father == h->head || f->mother == h->head)
                return "Cháu";
        }
    }
    return "Khác";
}

void full_address(const refdata_t *rd, const char *detail, uint16_t commune, char *out, size_t n)
{
    const commune_t *m = &rd->communes[commune];
    snprintf(out, n, "%s%s%s, %s, %s", detail, *detail ? ", " : "", m->name, m->district_name,
             m->province_name);
}

void code_ver(char *out, size_t n, const char *code, int version)
{
    snprintf(out, n, "%s@%d", code, version);
}

int64_t rand_ts(rng_t *r, int32_t from, int32_t to)
{
    if (to < from)
        to = from;
    int32_t d = from + (int32_t)rng_below(r, (uint32_t)(to - from) + 1);
    int secs = 7 * 3600 + 30 * 60 + (int)rng_below(r, 10 * 3600);
    return ts_from_date(d, secs);
}
