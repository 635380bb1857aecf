/* world.c — builds the true population: lineages of families, generated one
 * "unit" at a time (a founding couple and all its descendants with their
 * in-married spouses) until the living population of each province reaches
 * its target; then personal IDs, CMNDs, civil events and land parcels.
 *
 * Demographic parameters are plausible assumptions, not statistics; they
 * are listed in docs/generator.md. */
#include "world.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *const land_use_code[LU__COUNT] = { "ODT", "ONT", "LUC", "BHK", "CLN", "NTS", "RSX" };
const char *const land_use_name[LU__COUNT] = {
    "Đất ở tại đô thị", "Đất ở tại nông thôn", "Đất chuyên trồng lúa nước",
    "Đất bằng trồng cây hằng năm khác", "Đất trồng cây lâu năm",
    "Đất nuôi trồng thủy sản", "Đất rừng sản xuất" };

#define YEAR_DAYS 365.2425

typedef struct {
    world_t *w;
    rng_t    r;
} gen_t;

static int32_t s_years(double y) { return (int32_t)lround(y * YEAR_DAYS); }

static uint32_t s_new_person(world_t *w)
{
    if (w->np == w->capp) {
        w->capp = w->capp ? w->capp * 2 : 1 << 16;
        w->p = xrealloc(w->p, (size_t)w->capp * sizeof *w->p);
    }
    person_t *x = &w->p[w->np];
    memset(x, 0, sizeof *x);
    x->prev_res = NO_COMMUNE;
    x->birth_commune = NO_COMMUNE;
    return w->np++;
}

static uint8_t s_pick_new(gen_t *g, uint16_t c)
{
    const commune_t *m = &g->w->rd->communes[c];
    return m->n_new == 2 ? m->new_idx[rng_below(&g->r, 2)] : m->new_idx[0];
}

static uint32_t s_new_household(gen_t *g, uint16_t res, int32_t formed, uint32_t head, uint32_t spouse)
{
    world_t *w = g->w;
    if (w->nhh == w->caph) {
        w->caph = w->caph ? w->caph * 2 : 1 << 15;
        w->hh = xrealloc(w->hh, (size_t)w->caph * sizeof *w->hh);
    }
    household_t *h = &w->hh[w->nhh];
    memset(h, 0, sizeof *h);
    h->head = head;
    h->spouse = spouse;
    h->formed = formed;
    h->res = res;
    h->res_new = s_pick_new(g, res);
    const commune_t *m = &w->rd->communes[res];
    h->to = (uint8_t)rng_range(&g->r, 1, m->urban ? 45 : 14);
    h->house = m->urban ? (uint16_t)rng_range(&g->r, 1, 320) : 0;
    return w->nhh++;
}

static uint16_t s_draw_commune(gen_t *g, int prov)
{
    const refdata_t *rd = g->w->rd;
    return (uint16_t)rd->commune_by_p[prov][alias_draw(&rd->commune_alias[prov], &g->r)];
}

/* Another commune of the same district with 50%, else of the province. */
static uint16_t s_draw_nearby(gen_t *g, uint16_t c)
{
    const refdata_t *rd = g->w->rd;
    const commune_t *m = &rd->communes[c];
    for (int tries = 0; tries < 20; tries++) {
        uint16_t d = s_draw_commune(g, commune_prov(m));
        if (d == c)
            continue;
        if (tries < 10 && rng_chance(&g->r, 0.5) &&
            strcmp(rd->communes[d].district_code, m->district_code) != 0)
            continue;
        return d;
    }
    return c;
}

static void s_name(gen_t *g, person_t *x)
{
    const refdata_t *rd = g->w->rd;
    int s = x->sex;
    x->middle = (uint16_t)rd->middle_by_g[s][alias_draw(&rd->middle_alias[s], &g->r)];
    x->given = (uint16_t)rd->given_by_g[s][alias_draw(&rd->given_alias[s], &g->r)];
}

/* Age at death; 0 when the person outlives the reference date. */
static void s_death(gen_t *g, person_t *x, int32_t not_before)
{
    world_t *w = g->w;
    for (int tries = 0; tries < 8; tries++) {
        double age;
        if (rng_chance(&g->r, 0.025))
            age = rng_unit(&g->r) * 6.0;          /* child mortality */
        else {
            int by = date_year(x->birth);
            if (x->sex == SEX_M && by >= 1925 && by <= 1955 && rng_chance(&g->r, 0.06))
                age = 18.0 + rng_unit(&g->r) * 12.0;  /* war years */
            else
                age = rng_normal(&g->r, x->sex == SEX_M ? 72.0 : 78.5, 11.0);
        }
        if (age > 104)
            age = 104;
        int32_t d = x->birth + 1 + s_years(age < 0 ? 0 : age);
        if (d <= not_before)
            continue;
        x->death = d > w->ref_date ? 0 : d;
        return;
    }
    x->death = 0;
}

static bool s_alive_on(const person_t *x, int32_t day)
{
    return x->birth <= day && (x->death == 0 || x->death > day);
}

/* A person of the founding generation or an in-married spouse: parents are
 * not part of the truth. origin: where the birth was registered. */
static uint32_t s_fresh(gen_t *g, int sex, int32_t birth, uint16_t home, int32_t alive_until)
{
    world_t *w = g->w;
    const refdata_t *rd = w->rd;
    uint32_t i = s_new_person(w);
    person_t *x = &w->p[i];
    x->sex = (uint8_t)sex;
    x->birth = birth;
    x->surname = (uint16_t)alias_draw(&rd->surname_alias, &g->r);
    s_name(g, x);
    double u = rng_unit(&g->r);
    uint16_t bc;
    if (u < 0.72)
        bc = home;
    else if (u < 0.88)
        bc = s_draw_nearby(g, home);
    else if (u < 0.93)
        bc = s_draw_commune(g, 1 - commune_prov(&rd->communes[home]));
    else
        bc = NO_COMMUNE;
    x->birth_commune = bc;
    if (bc == NO_COMMUNE)
        x->ppp = (uint8_t)alias_draw(&rd->ppp_other_alias, &g->r);
    else
        x->ppp = (uint8_t)(commune_prov(&rd->communes[bc]) ? rd->ppp_qn : rd->ppp_dn);
    s_death(g, x, alive_until);
    return i;
}

static void s_set_res(world_t *w, uint32_t i, uint32_t hhi, int32_t on)
{
    person_t *x = &w->p[i];
    const household_t *h = &w->hh[hhi];
    if (x->hh != hhi || x->res != h->res) {
        if (on) {
            x->prev_res = x->res;
            x->prev_res_new = x->res_new;
            x->moved_on = on;
        }
    }
    x->hh = hhi;
    x->res = h->res;
    x->res_new = h->res_new;
}

static void s_life(gen_t *g, uint32_t xi, int depth);

static double s_fertility(int mother_birth_year)
{
    if (mother_birth_year < 1940) return 5.2;
    if (mother_birth_year < 1955) return 4.3;
    if (mother_birth_year < 1965) return 3.3;
    if (mother_birth_year < 1975) return 2.6;
    if (mother_birth_year < 1985) return 2.2;
    return 2.0;
}

static void s_children(gen_t *g, uint32_t hi, uint32_t wi, int depth)
{
    world_t *w = g->w;
    const refdata_t *rd = w->rd;
    int n = rng_poisson(&g->r, s_fertility(date_year(w->p[wi].birth)));
    if (n > 11)
        n = 11;
    int32_t t = w->p[wi].married + rng_range(&g->r, 280, 1000);
    uint32_t kids[12];
    int nk = 0;
    for (int k = 0; k < n; k++) {
        const person_t *h = &w->p[hi], *m = &w->p[wi];
        if (t > w->ref_date || !s_alive_on(m, t) || (h->death && h->death + 270 < t) ||
            t - m->birth > s_years(45))
            break;
        uint32_t ci = s_new_person(w);
        person_t *c = &w->p[ci];
        h = &w->p[hi];
        m = &w->p[wi];
        c->sex = rng_chance(&g->r, 0.512) ? SEX_M : SEX_F;
        c->birth = t;
        c->father = hi + 1;
        c->mother = wi + 1;
        c->surname = h->surname;
        s_name(g, c);
        c->hh = m->hh;
        c->res = m->res;
        c->res_new = m->res_new;
        c->birth_commune = m->res;
        c->ppp = (uint8_t)(commune_prov(&rd->communes[m->res]) ? rd->ppp_qn : rd->ppp_dn);
        s_death(g, c, 0);
        kids[nk++] = ci;
        t += rng_range(&g->r, 420, 1600);
    }
    for (int k = 0; k < nk; k++)
        s_life(g, kids[k], depth + 1);
}

/* Life course of someone born into the truth: a youth move to Đà Nẵng,
 * marriage to an in-married spouse, a household, children. */
static void s_life(gen_t *g, uint32_t xi, int depth)
{
    world_t *w = g->w;
    const refdata_t *rd = w->rd;
    person_t *x = &w->p[xi];
    if (depth > 8)
        return;
    int32_t age18 = x->birth + s_years(18);
    if (age18 > w->ref_date || !s_alive_on(x, age18))
        return;
    /* young people of Quảng Nam moving to Đà Nẵng for study or work */
    if (commune_prov(&rd->communes[x->res]) == 1 && rng_chance(&g->r, 0.08)) {
        int32_t on = x->birth + s_years(18.0 + rng_unit(&g->r) * 6.0);
        if (on < w->ref_date && s_alive_on(x, on)) {
            uint32_t h = s_new_household(g, s_draw_commune(g, 0), on, xi + 1, 0);
            s_set_res(w, xi, h, on);
            x = &w->p[xi];
        }
    }
    if (!rng_chance(&g->r, x->sex == SEX_M ? 0.9 : 0.92))
        return;
    double age = x->sex == SEX_M ? rng_normal(&g->r, 27.0, 3.5) : rng_normal(&g->r, 23.5, 3.2);
    if (age < (x->sex == SEX_M ? 20 : 18))
        age = x->sex == SEX_M ? 20 : 18;
    int32_t md = x->birth + s_years(age);
    if (md > w->ref_date || !s_alive_on(x, md))
        return;
    /* the spouse */
    int ssex = 1 - x->sex;
    double gap = x->sex == SEX_M ? -rng_unit(&g->r) * 6.0 : rng_unit(&g->r) * 7.0;
    int32_t sb = x->birth + s_years(gap);
    if (md - sb < s_years(ssex == SEX_M ? 20 : 18))
        sb = md - s_years(ssex == SEX_M ? 20.5 : 18.5);
    double u = rng_unit(&g->r);
    uint16_t shome;
    bool outside = false;
    if (u < 0.42)
        shome = x->res;
    else if (u < 0.82)
        shome = s_draw_nearby(g, x->res);
    else if (u < 0.90)
        shome = s_draw_commune(g, 1 - commune_prov(&rd->communes[x->res]));
    else {
        shome = x->res;
        outside = true;
    }
    uint32_t si = s_fresh(g, ssex, sb, shome, md);
    x = &w->p[xi];
    person_t *s = &w->p[si];
    if (outside) {
        s->flags |= PF_FROM_OUT;
        s->birth_commune = NO_COMMUNE;
        s->ppp = (uint8_t)alias_draw(&rd->ppp_other_alias, &g->r);
    }
    /* the spouse's home before the wedding */
    s->hh = UINT32_MAX;  /* no household of its own in the truth */
    s->res = outside ? NO_COMMUNE : shome;
    s->res_new = outside ? 0 : s_pick_new(g, shome);
    s->prev_res = NO_COMMUNE;
    /* where the couple lives */
    uint32_t hhi;
    uint32_t husband = x->sex == SEX_M ? xi : si, wife = x->sex == SEX_M ? si : xi;
    if (x->sex == SEX_M) {
        double v = rng_unit(&g->r);
        if (v < 0.22) {
            hhi = x->hh;                        /* stays in the household he lives in */
            if (w->hh[hhi].head == xi + 1)
                w->hh[hhi].spouse = wife + 1;
        } else if (v < 0.62) {
            hhi = s_new_household(g, x->res, md, husband + 1, wife + 1);
        } else if (v < 0.88) {
            hhi = s_new_household(g, s_draw_nearby(g, x->res), md, husband + 1, wife + 1);
        } else {
            hhi = s_new_household(g, s_draw_commune(g, 1 - commune_prov(&rd->communes[x->res])),
                                  md, husband + 1, wife + 1);
        }
    } else {
        uint16_t c = outside ? x->res : shome;
        if (rng_chance(&g->r, 0.15))
            c = s_draw_nearby(g, c);
        hhi = s_new_household(g, c, md, husband + 1, wife + 1);
    }
    s_set_res(w, xi, hhi, md);
    if (outside) {
        /* moved in from another province: the previous home is outside */
        s = &w->p[si];
        s->hh = hhi;
        s->res = w->hh[hhi].res;
        s->res_new = w->hh[hhi].res_new;
        s->prev_res = NO_COMMUNE;
        s->moved_on = md;
    } else {
        s_set_res(w, si, hhi, md);
    }
    w->p[xi].spouse = si + 1;
    w->p[si].spouse = xi + 1;
    w->p[xi].married = md;
    w->p[si].married = md;
    s_children(g, husband, wife, depth);
}

static void s_unit(gen_t *g, int prov)
{
    world_t *w = g->w;
    uint16_t home = s_draw_commune(g, prov);
    int32_t hb = date_make(1915, 1, 1) + (int32_t)rng_below(&g->r, (uint32_t)s_years(58));
    double wage = rng_normal(&g->r, 21.5, 2.5);
    if (wage < 17)
        wage = 17;
    int32_t wb = hb + s_years(rng_unit(&g->r) * 6.0);
    int32_t md = wb + s_years(wage);
    if (md - hb < s_years(19))
        md = hb + s_years(19);
    if (md > w->ref_date)
        return;
    uint32_t hi = s_fresh(g, SEX_M, hb, home, md);
    uint32_t wi = s_fresh(g, SEX_F, wb, home, md);
    uint32_t hh = s_new_household(g, home, md, hi + 1, wi + 1);
    s_set_res(w, hi, hh, 0);
    s_set_res(w, wi, hh, 0);
    w->p[hi].spouse = wi + 1;
    w->p[wi].spouse = hi + 1;
    w->p[hi].married = w->p[wi].married = md;
    s_children(g, hi, wi, 0);
}

/* ---- unique numbers --------------------------------------------------- */

typedef struct { uint64_t *k; size_t cap, n; } u64set_t;

static void s_set_init(u64set_t *s, size_t expect)
{
    s->cap = 1024;
    while (s->cap < expect * 2)
        s->cap *= 2;
    s->k = xcalloc(s->cap, sizeof *s->k);
    s->n = 0;
}

/* Inserts key (non-zero); false when already present. */
static bool s_set_add(u64set_t *s, uint64_t key)
{
    if (s->n * 2 >= s->cap) {
        u64set_t t;
        s_set_init(&t, s->cap);
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i])
                s_set_add(&t, s->k[i]);
        free(s->k);
        *s = t;
    }
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h >> 20) & (s->cap - 1);
    while (s->k[i]) {
        if (s->k[i] == key)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    s->k[i] = key;
    s->n++;
    return true;
}

static int s_gdigit(int sex, int year)
{
    int century = (year - 1900) / 100;  /* 0 for 1900s, 1 for 2000s ... */
    return century * 2 + (sex == SEX_F);
}

static uint64_t s_pid_value(const world_t *w, const person_t *x)
{
    int y = date_year(x->birth);
    uint64_t v = (uint64_t)atoi(w->rd->ppp[x->ppp].code);
    v = v * 10 + (uint64_t)s_gdigit(x->sex, y);
    v = v * 100 + (uint64_t)(y % 100);
    return v * 1000000 + x->pid_rand;
}

static void s_ids(world_t *w, rng_t *r)
{
    u64set_t pids, cmnds;
    s_set_init(&pids, w->np);
    s_set_init(&cmnds, w->np / 2 + 16);
    int32_t pid_day = date_make(2016, 1, 1);
    int32_t cmnd_end = date_make(2021, 7, 1);
    for (uint32_t i = 0; i < w->np; i++) {
        person_t *x = &w->p[i];
        if (x->death == 0 || x->death >= pid_day) {
            x->flags |= PF_PID;
            do {
                x->pid_rand = rng_below(r, 1000000);
            } while (!s_set_add(&pids, s_pid_value(w, x) + 1));
        }
        int32_t at14 = x->birth + s_years(14);
        if (date_year(x->birth) < w->cfg.cmnd_born_before && at14 < cmnd_end &&
            (x->death == 0 || x->death > at14) && rng_chance(r, w->cfg.cmnd_share)) {
            /* ASSUMPTION: prefix 20 for people of both provinces (the
             * Quảng Nam prefix; Quảng Nam-Đà Nẵng shared one police until
             * 1997). See docs/generator.md. */
            do {
                x->cmnd = 200000000u + rng_below(r, 10000000);
            } while (!s_set_add(&cmnds, x->cmnd));
        }
    }
    free(pids.k);
    free(cmnds.k);
}

/* ---- civil events ----------------------------------------------------- */

static void s_add_event(world_t *w, size_t *cap, const event_t *e)
{
    if (w->nev == *cap) {
        *cap = *cap ? *cap * 2 : 1 << 16;
        w->ev = xrealloc(w->ev, *cap * sizeof *w->ev);
    }
    w->ev[w->nev++] = *e;
}

uint16_t world_res_at(const world_t *w, const person_t *x, int32_t date, uint8_t *new_out)
{
    (void)w;
    if (x->moved_on && date < x->moved_on) {
        if (new_out)
            *new_out = x->prev_res_new;
        return x->prev_res;
    }
    if (new_out)
        *new_out = x->res_new;
    return x->res;
}

static int s_ev_cmp(const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->office != y->office) return x->office < y->office ? -1 : 1;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    if (x->reg != y->reg) return x->reg < y->reg ? -1 : 1;
    if (x->p1 != y->p1) return x->p1 < y->p1 ? -1 : 1;
    return 0;
}

#define BOOK_SIZE 400

static void s_events(world_t *w, rng_t *r)
{
    size_t cap = 0;
    for (uint32_t i = 0; i < w->np; i++) {
        const person_t *x = &w->p[i];
        event_t e;
        /* birth */
        if (x->birth >= w->event_from && x->birth_commune != NO_COMMUNE && x->mother) {
            memset(&e, 0, sizeof e);
            e.type = EV_BIRTH;
            e.date = x->birth;
            e.reg = x->birth + (rng_chance(r, 0.04) ? rng_range(r, 61, 2000) : rng_range(r, 1, 60));
            e.p1 = i + 1; e.p2 = x->father; e.p3 = x->mother;
            e.commune = x->birth_commune;
            const person_t *m = &w->p[x->mother - 1];
            uint8_t mn;
            uint16_t mc = world_res_at(w, m, x->birth, &mn);
            e.commune_new = mc == e.commune ? mn : w->rd->communes[e.commune].new_idx[0];
            if (e.reg <= w->ref_date)
                s_add_event(w, &cap, &e);
        }
        /* marriage, once per couple (from the husband) */
        if (x->sex == SEX_M && x->spouse && x->married >= w->event_from && x->married <= w->ref_date) {
            const person_t *s = &w->p[x->spouse - 1];
            uint8_t n1, n2;
            uint16_t c1 = world_res_at(w, s, x->married - 1, &n1);
            uint16_t c2 = world_res_at(w, x, x->married - 1, &n2);
            memset(&e, 0, sizeof e);
            e.type = EV_MARRIAGE;
            e.date = e.reg = x->married;
            e.p1 = i + 1; e.p2 = x->spouse;
            bool wife_side = rng_chance(r, 0.6);
            if ((wife_side && c1 != NO_COMMUNE) || c2 == NO_COMMUNE) {
                e.commune = c1; e.commune_new = n1;
            } else {
                e.commune = c2; e.commune_new = n2;
            }
            if (e.commune != NO_COMMUNE)
                s_add_event(w, &cap, &e);
        }
        /* death */
        if (x->death && x->death >= w->event_from) {
            memset(&e, 0, sizeof e);
            e.type = EV_DEATH;
            e.date = x->death;
            e.reg = x->death + (rng_chance(r, 0.05) ? rng_range(r, 16, 400) : rng_range(r, 1, 15));
            e.p1 = i + 1;
            e.commune = x->res;
            e.commune_new = x->res_new;
            if (e.reg <= w->ref_date && e.commune != NO_COMMUNE)
                s_add_event(w, &cap, &e);
        }
    }
    /* registering office, then book and number in registration order */
    for (uint32_t i = 0; i < w->nev; i++) {
        event_t *e = &w->ev[i];
        e->office = e->reg < w->merger_date ? e->commune : (uint16_t)(512 + e->commune_new);
    }
    qsort(w->ev, w->nev, sizeof *w->ev, s_ev_cmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->nev; i++) {
        event_t *e = &w->ev[i];
        if (i == 0 || e->office != w->ev[i - 1].office || e->type != w->ev[i - 1].type ||
            date_year(e->reg) != date_year(w->ev[i - 1].reg))
            k = 0;
        e->book = (uint8_t)(1 + k / BOOK_SIZE);
        e->number = (uint16_t)(1 + k % BOOK_SIZE);
        k++;
    }
}

/* ---- land ------------------------------------------------------------- */

static uint32_t s_area(rng_t *r, int use, int use2)
{
    static const double med[LU__COUNT] = { 95, 260, 900, 700, 1800, 2500, 14000 };
    double m = med[use];
    if (use2 == LU_CLN)
        m = 750;
    double a = m * exp(rng_normal(r, 0.0, 0.55));
    if (a < 25) a = 25;
    return (uint32_t)lround(a * 10.0);
}

static uint8_t s_ag_use(rng_t *r, int terrain)
{
    static const double p[3][LU__COUNT] = {
        /* ODT ONT  LUC   BHK   CLN   NTS   RSX */
        { 0, 0, 0.46, 0.24, 0.18, 0.08, 0.04 },
        { 0, 0, 0.25, 0.25, 0.32, 0.03, 0.15 },
        { 0, 0, 0.10, 0.20, 0.25, 0.00, 0.45 } };
    double u = rng_unit(r), acc = 0;
    for (int i = 0; i < LU__COUNT; i++) {
        acc += p[terrain][i];
        if (u < acc)
            return (uint8_t)i;
    }
    return LU_CLN;
}

typedef struct { uint16_t sheet, parcel, cap; uint32_t reg; } landctr_t;

static void s_land(world_t *w, rng_t *r)
{
    const refdata_t *rd = w->rd;
    landctr_t *ctr = xcalloc(rd->n_communes, sizeof *ctr);
    uint32_t pair_ctr[80] = { 0 };
    int32_t cert_from = date_make(1994, 1, 1);
    for (uint32_t hi = 0; hi < w->nhh; hi++) {
        const household_t *h = &w->hh[hi];
        if (!h->head)
            continue;  /* a spouse's parental home: not modelled as owner */
        const person_t *head = &w->p[h->head - 1];
        const person_t *sp = h->spouse ? &w->p[h->spouse - 1] : NULL;
        bool alive = head->death == 0 || (sp && sp->death == 0);
        if (!alive || head->hh != hi)
            continue;
        const commune_t *m = &rd->communes[h->res];
        int n_ag = 0;
        bool res_parcel = rng_chance(r, commune_prov(m) == 0 && m->urban ? 0.72 : 0.9);
        if (!m->urban)
            n_ag = rng_poisson(r, m->terrain == 2 ? 1.4 : 1.7);
        if (n_ag > 5)
            n_ag = 5;
        for (int k = 0; k < (res_parcel ? 1 : 0) + n_ag; k++) {
            if (w->npc == w->cappc) {
                w->cappc = w->cappc ? w->cappc * 2 : 1 << 15;
                w->pc = xrealloc(w->pc, (size_t)w->cappc * sizeof *w->pc);
            }
            parcel_t *pc = &w->pc[w->npc++];
            memset(pc, 0, sizeof *pc);
            pc->hh = hi;
            pc->commune = h->res;
            pc->res_new = h->res_new;
            pc->use2 = LU_NONE;
            if (k == 0 && res_parcel) {
                if (m->urban)
                    pc->use = LU_ODT;
                else {
                    pc->use = LU_ONT;
                    if (rng_chance(r, 0.4))
                        pc->use2 = LU_CLN;
                }
            } else {
                pc->use = s_ag_use(r, m->terrain);
            }
            pc->area_dm2 = s_area(r, pc->use, pc->use2);
            landctr_t *c = &ctr[h->res];
            if (c->sheet == 0 || c->parcel >= c->cap) {
                c->sheet++;
                c->parcel = 0;
                c->cap = (uint16_t)rng_range(r, 180, 650);
            }
            c->parcel = (uint16_t)(c->parcel + 1 + rng_below(r, 3));
            pc->sheet = c->sheet;
            pc->parcel_no = c->parcel;
            pc->owner1 = h->head;
            if (h->spouse && rng_chance(r, 0.65))
                pc->owner2 = h->spouse;
            int32_t adult = head->birth + s_years(18);
            int32_t from = h->formed > cert_from ? h->formed : cert_from;
            if (adult > from)
                from = adult;
            /* certificates may still name a holder who has died since */
            if (from < w->ref_date && rng_chance(r, 0.9)) {
                int32_t until = head->death ? head->death : w->ref_date;
                if (until <= from)
                    until = from + 1;
                pc->issued = from + (int32_t)rng_below(r, (uint32_t)(until - from));
                int year = date_year(pc->issued);
                int pair = (year - 1994) * 2 + (int)rng_below(r, 2);
                if (pair > 77) pair = 77;
                if (pair < 0) pair = 0;
                pc->seri_pair = (uint8_t)pair;
                /* affine permutation of 0..999999: unique within a pair */
                pc->seri_no = (uint32_t)(((uint64_t)pair_ctr[pair]++ * 7919u + 104729u * (unsigned)pair + 12345u) % 1000000u);
                if (pair_ctr[pair] >= 1000000u)
                    die("certificate serial range exhausted");
                pc->reg_no = ++c->reg;
            }
            int32_t upd_from = pc->issued ? pc->issued : date_make(2010, 1, 1);
            pc->updated = upd_from + (int32_t)rng_below(r, (uint32_t)(w->ref_date - upd_from + 1));
        }
    }
    free(ctr);
}

/* ---- build ------------------------------------------------------------- */

void world_build(world_t *w, const refdata_t *rd, const world_config_t *cfg)
{
    memset(w, 0, sizeof *w);
    w->rd = rd;
    w->cfg = *cfg;
    w->ref_date = date_make(2025, 9, 30);
    w->merger_date = date_make(2025, 7, 1);
    w->event_from = date_make(cfg->event_from_year, 1, 1);
    double total = 3000000.0 * cfg->scale;
    double target[2] = { total * 0.45, total * 0.55 };
    gen_t g = { .w = w };
    rng_seed(&g.r, cfg->seed, 1);
    uint64_t units = 0;
    while ((double)w->living[0] < target[0] || (double)w->living[1] < target[1]) {
        double d0 = target[0] - w->living[0], d1 = target[1] - w->living[1];
        if (d0 < 0) d0 = 0;
        if (d1 < 0) d1 = 0;
        int prov = rng_unit(&g.r) * (d0 + d1) < d0 ? 0 : 1;
        uint32_t first = w->np;
        s_unit(&g, prov);
        for (uint32_t i = first; i < w->np; i++) {
            const person_t *x = &w->p[i];
            if (x->death == 0 && x->res != NO_COMMUNE)
                w->living[commune_prov(&rd->communes[x->res])]++;
        }
        units++;
    }
    /* persons whose only home is outside the city (a spouse's parental
     * household of an outside spouse) keep res = NO_COMMUNE only until
     * marriage, so every person now has a home in the city. */
    for (uint32_t i = 0; i < w->np; i++)
        if (w->p[i].res == NO_COMMUNE)
            die("internal: person %u without residence", i + 1);
    rng_t r;
    rng_seed(&r, cfg->seed, 2);
    s_ids(w, &r);
    rng_seed(&r, cfg->seed, 3);
    s_events(w, &r);
    rng_seed(&r, cfg->seed, 4);
    s_land(w, &r);
}

void world_free(world_t *w)
{
    free(w->p);
    free(w->hh);
    free(w->ev);
    free(w->pc);
    memset(w, 0, sizeof *w);
}

/* ---- rendering helpers -------------------------------------------------- */

void world_pid(const world_t *w, const person_t *x, char out[13])
{
    if (!(x->flags & PF_PID)) {
        out[0] = 0;
        return;
    }
    snprintf(out, 13, "%012llu", (unsigned long long)s_pid_value(w, x));
}

void world_cmnd(const person_t *x, char out[10])
{
    if (!x->cmnd) {
        out[0] = 0;
        return;
    }
    snprintf(out, 10, "%09u", x->cmnd % 1000000000u);
}

void world_full_name(const world_t *w, const person_t *x, char *out, size_t n)
{
    const char *mid = w->rd->middles[x->middle].s;
    if (*mid)
        snprintf(out, n, "%s %s %s", w->rd->surnames[x->surname].s, mid, w->rd->givens[x->given].s);
    else
        snprintf(out, n, "%s %s", w->rd->surnames[x->surname].s, w->rd->givens[x->given].s);
}

void world_seri(const parcel_t *pc, char out[16])
{
    snprintf(out, 16, "%c%c %06u", 'A' + pc->seri_pair / 26, 'A' + pc->seri_pair % 26, pc->seri_no);
}

void world_reg_no(const parcel_t *pc, char *out, size_t n)
{
    int y = date_year(pc->issued);
    if (y < 2005)
        snprintf(out, n, "%05u/QSDĐ", pc->reg_no);
    else if (y < 2010)
        snprintf(out, n, "H%05u", pc->reg_no);
    else
        snprintf(out, n, "CH %05u", pc->reg_no);
}

static void s_addr(const commune_t *m, unsigned to, unsigned house, char *out, size_t n)
{
    if (m->urban && house)
        snprintf(out, n, "Số %u, Tổ %u", house, to);
    else if (m->urban)
        snprintf(out, n, "Tổ %u", to);
    else
        snprintf(out, n, "Thôn %u", to);
}

void world_hh_address(const world_t *w, const household_t *h, char *out, size_t n)
{
    s_addr(&w->rd->communes[h->res], h->to, h->house, out, n);
}

void world_prev_address(const world_t *w, uint32_t pidx, char *out, size_t n)
{
    const person_t *x = &w->p[pidx];
    if (x->prev_res == NO_COMMUNE) {
        out[0] = 0;
        return;
    }
    const commune_t *m = &w->rd->communes[x->prev_res];
    uint32_t h = pidx * 2654435761u;
    s_addr(m, 1 + (h >> 8) % (m->urban ? 45 : 14), m->urban ? 1 + (h >> 16) % 320 : 0, out, n);
}
