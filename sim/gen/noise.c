/* noise.c — see noise.h. */
#include "noise.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

const char *const view_name[V__COUNT] = {
    "qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil" };

const char *const noise_kind_name[NK__COUNT] = {
    "typo", "no_diacritics", "nfd", "swap_name", "case", "day_month", "year_only",
    "missing_id", "old_id", "stale_code", "old_residence", "duplicate", "both_provinces",
    "dup_delivery", "out_of_order",
    "bad_date", "bad_id_province", "bad_id_sex", "bad_code", "unknown_unit",
    "legacy_case" };

#define NA (-1.0)
/* Defaults: a few per cent, realistic for hand-keyed registers; old_id is
 * high in Quảng Nam land (owners often known only by their CMND).
 * The invalid kinds (bdate .. unit) are rare, about 0.002, a little more
 * where the view has few opportunities (personal IDs in the land
 * registers), so that scale 0.01 gives a few dozen of each. bad_date does
 * not apply where the dates are typed: dn-population's WSDL declares
 * NgaySinh an xs:date, dn-land's are PostgreSQL date columns. */
static const double s_defaults[V__COUNT][NK__COUNT] = {
    /*              typo   nodia  nfd    swap   case   d/m    year   miss   oldid  stale  oldres dup    both   dupdl  order  bdate  bidppp bidsex bcode  unit   legacy */
    [V_QN_POP]   = { 0.02, 0.03,  0.01,  0.01,  NA,    0.01,  NA,    0.01,  0.06,  NA,    0.04,  0.01,  0.35,  NA,    NA,    0.002, 0.002, 0.002, 0.002, 0.002, NA },
    [V_DN_POP]   = { 0.02, 0.02,  0.03,  0.01,  0.03,  0.01,  NA,    0.01,  0.03,  0.08,  0.03,  0.01,  0.35,  NA,    NA,    NA,    0.002, 0.002, 0.002, 0.002, NA },
    [V_QN_LAND]  = { 0.02, 0.03,  0.01,  0.01,  NA,    NA,    NA,    0.03,  0.65,  NA,    NA,    0.01,  NA,    NA,    NA,    0.003, 0.002, 0.002, 0.003, 0.003, NA },
    [V_DN_LAND]  = { 0.02, 0.02,  0.02,  0.01,  0.02,  0.01,  NA,    0.02,  0.30,  NA,    NA,    0.01,  NA,    NA,    NA,    NA,    0.004, 0.004, 0.002, 0.005, NA },
    [V_QN_CIVIL] = { 0.02, 0.02,  NA,    0.01,  NA,    0.01,  0.08,  0.03,  0.30,  NA,    NA,    0.01,  NA,    NA,    NA,    0.002, 0.004, 0.004, 0.003, 0.002, 0.0 },
    [V_DN_CIVIL] = { 0.015,0.01,  0.03,  0.005, NA,    0.005, NA,    0.02,  0.10,  0.05,  NA,    0.005, NA,    0.03,  0.03,  0.002, 0.004, 0.004, 0.002, 0.003, NA },
};

void noise_config_defaults(noise_config_t *nc)
{
    memcpy(nc->rate, s_defaults, sizeof nc->rate);
}

static int s_find(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0)
            return i;
    return -1;
}

int noise_config_set(noise_config_t *nc, const char *a, char *err, size_t errsz)
{
    const char *eq = strchr(a, '=');
    if (!eq) {
        snprintf(err, errsz, "'%s': expected kind=rate or view.kind=rate", a);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(eq + 1, &end);
    if (errno || end == eq + 1 || *end || v < 0.0 || v > 1.0) {
        snprintf(err, errsz, "'%s': rate must be a number in [0, 1]", a);
        return -1;
    }
    const char *dot = memchr(a, '.', (size_t)(eq - a));
    int view = -1;
    const char *k = a;
    if (dot) {
        view = s_find(view_name, V__COUNT, a, (size_t)(dot - a));
        if (view < 0) {
            snprintf(err, errsz, "'%s': unknown view '%.*s'", a, (int)(dot - a), a);
            return -1;
        }
        k = dot + 1;
    }
    size_t klen = (size_t)(eq - k);
    int kind = -1;
    if (!(klen == 1 && *k == '*')) {
        kind = s_find(noise_kind_name, NK__COUNT, k, klen);
        if (kind < 0 || kind == NK_LEGACY_CASE) {
            snprintf(err, errsz, "'%s': unknown noise kind '%.*s'", a, (int)klen, k);
            return -1;
        }
    }
    bool any = false;
    for (int vi = 0; vi < V__COUNT; vi++) {
        if (view >= 0 && vi != view)
            continue;
        for (int ki = 0; ki < NK__COUNT; ki++) {
            if ((kind >= 0 && ki != kind) || ki == NK_LEGACY_CASE)
                continue;
            if (s_defaults[vi][ki] < 0)
                continue;
            nc->rate[vi][ki] = v;
            any = true;
        }
    }
    if (!any) {
        snprintf(err, errsz, "'%s': that kind does not apply to that view", a);
        return -1;
    }
    return 0;
}

int noise_config_file(noise_config_t *nc, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char *s = line, *e;
        while (*s == ' ' || *s == '\t') s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (!*s)
            continue;
        char sub[400];
        if (noise_config_set(nc, s, sub, sizeof sub) != 0) {
            snprintf(err, errsz, "%s:%d: %s", path, ln, sub);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* The PPP values of 001..096 (FACTS.md §2) that are not birth-registration
 * codes, and every commune code of either list, for the invalid kinds. */
static void s_invalid_tables(nctx_t *n, const refdata_t *rd)
{
    n->rd = rd;
    n->n_ppp_gap = 0;
    for (int v = 1; v <= 96; v++) {
        char c[4];
        snprintf(c, sizeof c, "%03d", v);
        bool known = false;
        for (uint32_t i = 0; i < rd->n_ppp && !known; i++)
            known = strcmp(rd->ppp[i].code, c) == 0;
        if (!known)
            memcpy(n->ppp_gap[n->n_ppp_gap++], c, 4);
    }
    if (!n->n_ppp_gap)
        die("internal: no PPP gap in 001..096");
    n->unit_known = xcalloc(100000, 1);
    n->unit_lo = 100000;
    n->unit_hi = -1;
    for (uint32_t i = 0; i < rd->n_communes + rd->n_units25; i++) {
        const char *c = i < rd->n_communes ? rd->communes[i].code : rd->units25[i - rd->n_communes].code;
        if (strlen(c) != 5)
            continue;              /* a district without communes (Hoàng Sa) */
        int v = atoi(c);
        n->unit_known[v] = 1;
        if (v < n->unit_lo) n->unit_lo = v;
        if (v > n->unit_hi) n->unit_hi = v;
    }
}

void nctx_open(nctx_t *n, view_id_t v, const noise_config_t *nc, uint64_t seed, const char *truth_dir,
               const refdata_t *rd)
{
    memset(n, 0, sizeof *n);
    s_invalid_tables(n, rd);
    n->view = v;
    rng_seed(&n->r, seed, 100 + (uint64_t)v);
    memcpy(n->rate, nc->rate[v], sizeof n->rate);
    sbuf_init(&n->line);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.defects.tsv", truth_dir, view_name[v]);
    ofile_open(&n->defects, path);
    static const char dh[] = "source\trecord_id\tfield\tkind\ttrue_value\tnoisy_value\n";
    ofile_write(&n->defects, dh, sizeof dh - 1);
    snprintf(path, sizeof path, "%s/%s.truth.tsv", truth_dir, view_name[v]);
    ofile_open(&n->truth, path);
    static const char th[] = "record_id\trole\tentity_id\n";
    ofile_write(&n->truth, th, sizeof th - 1);
}

void nctx_close(nctx_t *n)
{
    ofile_close(&n->defects);
    ofile_close(&n->truth);
    sbuf_free(&n->line);
    free(n->unit_known);
    n->unit_known = NULL;
}

bool nz_roll(nctx_t *n, noise_kind_t k)
{
    if (n->rate[k] < 0)
        return false;
    n->opp[k]++;
    if (!rng_chance(&n->r, n->rate[k]))
        return false;
    n->inj[k]++;
    return true;
}

static void s_row(nctx_t *n, const char *rec, const char *field, noise_kind_t k,
                  const char *tv, const char *nv)
{
    sbuf_t *l = &n->line;
    sbuf_reset(l);
    sbuf_puts(l, view_name[n->view]); sbuf_putc(l, '\t');
    sbuf_tsv(l, rec); sbuf_putc(l, '\t');
    sbuf_tsv(l, field); sbuf_putc(l, '\t');
    sbuf_puts(l, noise_kind_name[k]); sbuf_putc(l, '\t');
    sbuf_tsv(l, tv ? tv : ""); sbuf_putc(l, '\t');
    sbuf_tsv(l, nv ? nv : ""); sbuf_putc(l, '\n');
    ofile_sbuf(&n->defects, l);
}

void nz_defect(nctx_t *n, const char *rec, const char *field, noise_kind_t k,
               const char *truev, const char *noisyv)
{
    s_row(n, rec, field, k, truev, noisyv);
}

void nz_forced(nctx_t *n, const char *rec, const char *field, noise_kind_t k,
               const char *truev, const char *noisyv)
{
    n->inj[k]++;
    s_row(n, rec, field, k, truev, noisyv);
}

void nz_truth(nctx_t *n, const char *rec, const char *role, const char *entity)
{
    sbuf_t *l = &n->line;
    sbuf_reset(l);
    sbuf_tsv(l, rec); sbuf_putc(l, '\t');
    sbuf_puts(l, role); sbuf_putc(l, '\t');
    sbuf_puts(l, entity); sbuf_putc(l, '\n');
    ofile_sbuf(&n->truth, l);
}

/* ---- names ------------------------------------------------------------ */

static void s_set_part(char *dst, const sbuf_t *src)
{
    size_t len = src->len < 95 ? src->len : 95;
    memcpy(dst, src->p ? src->p : "", len);
    dst[len] = 0;
}

static void s_apply(nameparts_t *np, void (*fn)(const char *, sbuf_t *))
{
    sbuf_t t;
    sbuf_init(&t);
    for (int i = 0; i < 3; i++) {
        sbuf_reset(&t);
        fn(np->part[i], &t);
        s_set_part(np->part[i], &t);
    }
    sbuf_free(&t);
}

void nz_name(nctx_t *n, const char *rec, const char *field, nameparts_t *np, name_render_fn render)
{
    sbuf_t before, after, t;
    sbuf_init(&before); sbuf_init(&after); sbuf_init(&t);
#define BEFORE() do { sbuf_reset(&before); render(np, &before); } while (0)
#define AFTER(k) do { sbuf_reset(&after); render(np, &after); \
        nz_defect(n, rec, field, (k), before.p, after.p); } while (0)
    if (np->part[1][0] && strcmp(np->part[1], np->part[2]) != 0 && nz_roll(n, NK_SWAP_NAME)) {
        BEFORE();
        char tmp[96];
        memcpy(tmp, np->part[1], sizeof tmp);
        memcpy(np->part[1], np->part[2], sizeof tmp);
        memcpy(np->part[2], tmp, sizeof tmp);
        AFTER(NK_SWAP_NAME);
    }
    if (nz_roll(n, NK_TYPO)) {
        BEFORE();
        /* the given name most often, then the middle, then the surname */
        int order[3];
        uint32_t u = rng_below(&n->r, 10);
        if (u < 5) { order[0] = 2; order[1] = 1; order[2] = 0; }
        else if (u < 8) { order[0] = 1; order[1] = 2; order[2] = 0; }
        else { order[0] = 0; order[1] = 2; order[2] = 1; }
        bool done = false;
        for (int i = 0; i < 3 && !done; i++) {
            sbuf_reset(&t);
            if (text_typo(&n->r, np->part[order[i]], &t)) {
                s_set_part(np->part[order[i]], &t);
                done = true;
            }
        }
        if (!done) {
            /* every part has fewer than two letters: append one */
            size_t l = strlen(np->part[2]);
            if (l < 94) { np->part[2][l] = 'h'; np->part[2][l + 1] = 0; }
        }
        AFTER(NK_TYPO);
    }
    if (nz_roll(n, NK_CASE)) {
        BEFORE();
        s_apply(np, rng_chance(&n->r, 0.5) ? text_lower : text_upper);
        sbuf_reset(&after);
        render(np, &after);
        if (strcmp(before.p, after.p) == 0) {
            /* already in that case (e.g. after a previous defect): the other one */
            s_apply(np, text_lower);
        }
        AFTER(NK_CASE);
    }
    bool nonascii = text_has_nonascii(np->part[0]) || text_has_nonascii(np->part[1]) ||
                    text_has_nonascii(np->part[2]);
    if (nonascii && nz_roll(n, NK_NO_DIACRITICS)) {
        BEFORE();
        s_apply(np, text_strip);
        AFTER(NK_NO_DIACRITICS);
    }
    bool dec = text_decomposes(np->part[0]) || text_decomposes(np->part[1]) ||
               text_decomposes(np->part[2]);
    if (dec && nz_roll(n, NK_NFD)) {
        BEFORE();
        s_apply(np, text_nfd);
        AFTER(NK_NFD);
    }
#undef BEFORE
#undef AFTER
    sbuf_free(&before); sbuf_free(&after); sbuf_free(&t);
}

/* ---- dates ------------------------------------------------------------ */

static void s_render_ymd(sbuf_t *out, int y, int m, int d, date_fmt_t fmt)
{
    if (fmt == DF_ISO) {
        sbuf_uintw(out, (uint64_t)y, 4); sbuf_putc(out, '-');
        sbuf_uintw(out, (uint64_t)m, 2); sbuf_putc(out, '-');
        sbuf_uintw(out, (uint64_t)d, 2);
    } else {
        sbuf_uintw(out, (uint64_t)d, 2); sbuf_putc(out, '/');
        sbuf_uintw(out, (uint64_t)m, 2); sbuf_putc(out, '/');
        sbuf_uintw(out, (uint64_t)y, 4);
    }
}

void render_date(sbuf_t *out, int32_t date, date_fmt_t fmt)
{
    int y, m, d;
    date_split(date, &y, &m, &d);
    s_render_ymd(out, y, m, d, fmt);
}

static bool s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_days_in_month(int y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && s_leap(y) ? 29 : dim[m - 1];
}

/* An impossible date of the same year (see nz_date in noise.h). */
static void s_bad_date(nctx_t *n, int y, int m, int d, int *bm, int *bd)
{
    int opts[5], no = 0;
    if (d > 12)
        opts[no++] = 0;          /* day and month swapped: month 13..31 */
    opts[no++] = 1;              /* the day after the end of the month */
    if (!s_leap(y))
        opts[no++] = 2;          /* 29 February of a common year */
    opts[no++] = 3;              /* day 00 (the day was not known) */
    opts[no++] = 4;              /* month 00 */
    switch (opts[rng_below(&n->r, (uint32_t)no)]) {
    case 0: *bm = d; *bd = m; break;
    case 1: *bm = m; *bd = s_days_in_month(y, m) + 1; break;
    case 2: *bm = 2; *bd = 29; break;
    case 3: *bm = m; *bd = 0; break;
    default: *bm = 0; *bd = d; break;
    }
}

void nz_date(nctx_t *n, const char *rec, const char *field, int32_t date, date_fmt_t fmt,
             bool year_ok, sbuf_t *out)
{
    int y, m, d;
    date_split(date, &y, &m, &d);
    char tv[16], nv[16];
    sbuf_t t;
    sbuf_init(&t);
    s_render_ymd(&t, y, m, d, fmt);
    snprintf(tv, sizeof tv, "%s", t.p);
    if (year_ok && nz_roll(n, NK_YEAR_ONLY)) {
        snprintf(nv, sizeof nv, "%04d", y);
        nz_defect(n, rec, field, NK_YEAR_ONLY, tv, nv);
        sbuf_puts(out, nv);
    } else if (nz_roll(n, NK_BAD_DATE)) {
        int bm, bd;
        s_bad_date(n, y, m, d, &bm, &bd);
        sbuf_reset(&t);
        s_render_ymd(&t, y, bm, bd, fmt);
        nz_defect(n, rec, field, NK_BAD_DATE, tv, t.p);
        sbuf_puts(out, t.p);
    } else if (d <= 12 && d != m && nz_roll(n, NK_DAY_MONTH)) {
        sbuf_reset(&t);
        s_render_ymd(&t, y, d, m, fmt);
        nz_defect(n, rec, field, NK_DAY_MONTH, tv, t.p);
        sbuf_puts(out, t.p);
    } else {
        sbuf_puts(out, tv);
    }
    sbuf_free(&t);
}

/* ---- ids -------------------------------------------------------------- */

void nz_ids(nctx_t *n, const char *rec, const char *field, const char *pid, const char *cmnd,
            unsigned shown, char pid_out[13], char cmnd_out[10])
{
    snprintf(pid_out, 13, "%s", pid);
    snprintf(cmnd_out, 10, "%s", cmnd);
    if (!*pid && !*cmnd)
        return;
    if (nz_roll(n, NK_MISSING_ID)) {
        char tv[32];
        snprintf(tv, sizeof tv, "%s%s%s", pid, *pid && *cmnd ? ";" : "", cmnd);
        nz_defect(n, rec, field, NK_MISSING_ID, tv, "");
        pid_out[0] = cmnd_out[0] = 0;
        return;
    }
    if (*pid && *cmnd && nz_roll(n, NK_OLD_ID)) {
        nz_defect(n, rec, field, NK_OLD_ID, pid, cmnd);
        pid_out[0] = 0;
    }
    if (strlen(pid_out) != 12)
        return;
    /* One rule broken, the others kept: a province code that is not in the
     * table, or a G that the record's own sex / birth year contradicts. */
    if (nz_roll(n, NK_BAD_ID_PROVINCE)) {
        memcpy(pid_out, n->ppp_gap[rng_below(&n->r, (uint32_t)n->n_ppp_gap)], 3);
        nz_defect(n, rec, field, NK_BAD_ID_PROVINCE, pid, pid_out);
    } else if ((shown & (NZ_SEX_SHOWN | NZ_YEAR_SHOWN)) && nz_roll(n, NK_BAD_ID_SEX)) {
        bool sex = (shown & NZ_SEX_SHOWN) &&
                   (!(shown & NZ_YEAR_SHOWN) || rng_chance(&n->r, 0.5));
        int g = pid_out[3] - '0';
        /* G: 0/1 male/female 1900s, 2/3 2000s; the people are born 1900-2099 */
        g = sex ? g ^ 1 : g ^ 2;
        pid_out[3] = (char)('0' + g);
        nz_defect(n, rec, field, NK_BAD_ID_SEX, pid, pid_out);
    }
}

/* ---- code tables and units --------------------------------------------- */

const char *nz_code(nctx_t *n, const char *rec, const char *field, const char *truev,
                    const char *const *bad, int nbad)
{
    if (!nz_roll(n, NK_BAD_CODE))
        return truev;
    const char *b = bad[rng_below(&n->r, (uint32_t)nbad)];
    nz_defect(n, rec, field, NK_BAD_CODE, truev, b);
    return b;
}

bool nz_unit_code(nctx_t *n, const char *rec, const char *field, const char *code, int version,
                  char out[8])
{
    snprintf(out, 8, "%s", code);
    if (strlen(code) != 5 || !nz_roll(n, NK_UNKNOWN_UNIT))
        return false;
    int v = atoi(code), u = -1;
    /* a keying error in one of the last three digits, staying in the
     * range of the listed codes (others belong to other provinces) */
    for (int tries = 0; tries < 64 && u < 0; tries++) {
        static const int pow10[3] = { 100, 10, 1 };
        int p = pow10[rng_below(&n->r, 3)];
        int digit = v / p % 10, nd = (digit + 1 + (int)rng_below(&n->r, 9)) % 10;
        int c = v + (nd - digit) * p;
        if (c >= n->unit_lo && c <= n->unit_hi && !n->unit_known[c])
            u = c;
    }
    for (int step = 1; u < 0 && step < 100000; step++)   /* the nearest gap */
        for (int sgn = -1; sgn <= 1 && u < 0; sgn += 2) {
            int c = v + sgn * step;
            if (c >= n->unit_lo && c <= n->unit_hi && !n->unit_known[c])
                u = c;
        }
    if (u < 0)
        die("internal: no unknown commune code near %s", code);
    snprintf(out, 8, "%05u", (unsigned)u % 100000u);
    char tv[32];
    snprintf(tv, sizeof tv, "%s@%d", code, version);
    nz_defect(n, rec, field, NK_UNKNOWN_UNIT, tv, out);
    return true;
}

/* The matching key of a unit name: without its unit type, marks and case. */
static void s_name_key(const char *name, const char *unit_type, sbuf_t *out)
{
    size_t tl = strlen(unit_type);
    if (tl && strncmp(name, unit_type, tl) == 0 && name[tl] == ' ')
        name += tl + 1;
    sbuf_t t;
    sbuf_init(&t);
    text_strip(name, &t);
    text_lower(t.p ? t.p : "", out);
    sbuf_free(&t);
}

static bool s_name_exists(const refdata_t *rd, const char *key)
{
    sbuf_t k;
    sbuf_init(&k);
    bool found = false;
    for (uint32_t i = 0; i < rd->n_communes + rd->n_units25 && !found; i++) {
        sbuf_reset(&k);
        if (i < rd->n_communes)
            s_name_key(rd->communes[i].name, rd->communes[i].unit_type, &k);
        else
            s_name_key(rd->units25[i - rd->n_communes].name, rd->units25[i - rd->n_communes].unit_type, &k);
        found = strcmp(k.p ? k.p : "", key) == 0;
    }
    sbuf_free(&k);
    return found;
}

void nz_fake_unit_name(nctx_t *n, const char *name, const char *unit_type, char *out, size_t outsz)
{
    /* A direction or part added, as names of split communes read (Tam
     * Xuân 1, Hòa Hiệp Bắc / Nam): plausible, but no such unit exists. */
    static const char *const suffix[] = { " Tây", " Đông", " Nam", " Bắc", " Trung", " Thượng", " Hạ" };
    const int ns = (int)(sizeof suffix / sizeof *suffix);
    int first = (int)rng_below(&n->r, (uint32_t)ns);
    sbuf_t key;
    sbuf_init(&key);
    for (int k = 0; k < ns * 10; k++) {
        if (k < ns)
            snprintf(out, outsz, "%s%s", name, suffix[(first + k) % ns]);
        else
            snprintf(out, outsz, "%s%s %d", name, suffix[(first + k) % ns], k / ns + 1);
        sbuf_reset(&key);
        s_name_key(out, unit_type, &key);
        if (!s_name_exists(n->rd, key.p ? key.p : "")) {
            sbuf_free(&key);
            return;
        }
    }
    die("internal: no unknown name for %s", name);
}

void nz_write_stats(nctx_t *const ctx[V__COUNT], const char *truth_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/noise_stats.tsv", truth_dir);
    ofile_t o;
    ofile_open(&o, path);
    sbuf_t b;
    sbuf_init(&b);
    sbuf_puts(&b, "view\tkind\trate\topportunities\tinjected\n");
    for (int v = 0; v < V__COUNT; v++) {
        if (!ctx[v])
            continue;
        for (int k = 0; k < NK__COUNT; k++) {
            const nctx_t *n = ctx[v];
            if (n->rate[k] < 0 && !n->inj[k])
                continue;
            sbuf_printf(&b, "%s\t%s\t%.6g\t%llu\t%llu\n", view_name[v], noise_kind_name[k],
                        n->rate[k] < 0 ? 0.0 : n->rate[k],
                        (unsigned long long)n->opp[k], (unsigned long long)n->inj[k]);
        }
    }
    ofile_sbuf(&o, &b);
    ofile_close(&o);
    sbuf_free(&b);
}
