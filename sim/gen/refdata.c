/* refdata.c — CSV loading of the shared reference data. */
#include "refdata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vnlegacy.h"

#define MAX_FIELDS 24

typedef struct {
    FILE       *f;
    const char *path;
    int         line;
    char       *buf;
    size_t      cap;
    char       *field[MAX_FIELDS];
    int         n;
} csv_t;

static void s_csv_open(csv_t *c, const char *dir, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    memset(c, 0, sizeof *c);
    c->f = fopen(path, "r");
    if (!c->f)
        die("cannot open %s: %s (use --data DIR)", path, strerror(errno));
    c->path = path;
}

/* Reads one record; quoted fields may hold commas, quotes and newlines. */
static bool s_csv_next(csv_t *c)
{
    size_t len = 0;
    bool inq = false;
    int ch;
    c->n = 0;
    if (!c->buf) {
        c->cap = 4096;
        c->buf = xmalloc(c->cap);
    }
    size_t start = 0;
    bool any = false;
    size_t starts[MAX_FIELDS];
    int nf = 0;
    starts[nf++] = 0;
    while ((ch = fgetc(c->f)) != EOF) {
        any = true;
        if (len + 2 >= c->cap) {
            c->cap *= 2;
            c->buf = xrealloc(c->buf, c->cap);
        }
        if (inq) {
            if (ch == '"') {
                int nx = fgetc(c->f);
                if (nx == '"') {
                    c->buf[len++] = '"';
                } else {
                    inq = false;
                    if (nx != EOF)
                        ungetc(nx, c->f);
                }
            } else {
                if (ch == '\n')
                    c->line++;
                c->buf[len++] = (char)ch;
            }
            continue;
        }
        if (ch == '"') {
            inq = true;
        } else if (ch == ',') {
            c->buf[len++] = 0;
            if (nf >= MAX_FIELDS)
                die("%s:%d: too many fields", c->path, c->line + 1);
            starts[nf++] = len;
        } else if (ch == '\r') {
            continue;
        } else if (ch == '\n') {
            break;
        } else {
            c->buf[len++] = (char)ch;
        }
    }
    if (!any)
        return false;
    c->line++;
    if (inq)
        die("%s:%d: unterminated quote", c->path, c->line);
    c->buf[len] = 0;
    (void)start;
    for (int i = 0; i < nf; i++)
        c->field[i] = c->buf + starts[i];
    c->n = nf;
    return true;
}

static void s_csv_close(csv_t *c)
{
    if (c->f)
        fclose(c->f);
    free(c->buf);
    c->f = NULL;
    c->buf = NULL;
}

/* Column index by header name; dies when absent. */
static int s_col(csv_t *c, char **hdr, int nh, const char *name)
{
    for (int i = 0; i < nh; i++)
        if (strcmp(hdr[i], name) == 0)
            return i;
    die("%s: no column '%s'", c->path, name);
}

typedef struct { char *names[MAX_FIELDS]; int n; } hdr_t;

static void s_header(csv_t *c, hdr_t *h)
{
    if (!s_csv_next(c))
        die("%s: empty file", c->path);
    h->n = c->n;
    for (int i = 0; i < c->n; i++)
        h->names[i] = xstrdup(c->field[i]);
}

static void s_header_free(hdr_t *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->names[i]);
}

static void s_need(csv_t *c, int col)
{
    if (col >= c->n)
        die("%s:%d: expected at least %d fields, got %d", c->path, c->line, col + 1, c->n);
}

static void s_copy(char *dst, size_t n, const char *src, csv_t *c)
{
    if (strlen(src) >= n)
        die("%s:%d: field too long: %s", c->path, c->line, src);
    memcpy(dst, src, strlen(src) + 1);
}

static bool s_is_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Districts of Quảng Nam in the mountains / the midlands (by name; the names
 * are matched against the data, no code is assumed). */
static const char *const s_mountain[] = {
    "Huyện Tây Giang", "Huyện Đông Giang", "Huyện Nam Giang", "Huyện Phước Sơn",
    "Huyện Bắc Trà My", "Huyện Nam Trà My", NULL };
static const char *const s_midland[] = {
    "Huyện Hiệp Đức", "Huyện Tiên Phước", "Huyện Nông Sơn", NULL };

static bool s_in(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static void s_load_units25(refdata_t *rd, const char *dir)
{
    csv_t c;
    hdr_t h;
    s_csv_open(&c, dir, "admin/units_2025.csv");
    s_header(&c, &h);
    int ccode = s_col(&c, h.names, h.n, "commune_code");
    int cname = s_col(&c, h.names, h.n, "commune_name");
    int ctype = s_col(&c, h.names, h.n, "unit_type");
    int cprov = s_col(&c, h.names, h.n, "province_code");
    rd->units25 = xcalloc(128, sizeof *rd->units25);
    while (s_csv_next(&c)) {
        s_need(&c, h.n - 1);
        if (strcmp(c.field[cprov], "48") != 0)
            die("%s:%d: province %s, expected 48", c.path, c.line, c.field[cprov]);
        if (!s_is_digits(c.field[ccode], 5))
            die("%s:%d: bad commune code '%s'", c.path, c.line, c.field[ccode]);
        if (rd->n_units25 >= 128)
            die("%s: too many units", c.path);
        unit25_t *u = &rd->units25[rd->n_units25++];
        s_copy(u->code, sizeof u->code, c.field[ccode], &c);
        s_copy(u->name, sizeof u->name, c.field[cname], &c);
        s_copy(u->unit_type, sizeof u->unit_type, c.field[ctype], &c);
    }
    s_header_free(&h);
    s_csv_close(&c);
    if (rd->n_units25 != 94)
        die("admin/units_2025.csv: %u units, expected 94", rd->n_units25);
}

static int s_unit25(refdata_t *rd, const char *code)
{
    for (uint32_t i = 0; i < rd->n_units25; i++)
        if (strcmp(rd->units25[i].code, code) == 0)
            return (int)i;
    return -1;
}

static void s_load_units(refdata_t *rd, const char *dir)
{
    csv_t c;
    hdr_t h;
    s_csv_open(&c, dir, "admin/units_before_2025.csv");
    s_header(&c, &h);
    int cp = s_col(&c, h.names, h.n, "province_code");
    int cpn = s_col(&c, h.names, h.n, "province_name");
    int cd = s_col(&c, h.names, h.n, "district_code");
    int cdn = s_col(&c, h.names, h.n, "district_name");
    int cc = s_col(&c, h.names, h.n, "commune_code");
    int ccn = s_col(&c, h.names, h.n, "commune_name");
    int ct = s_col(&c, h.names, h.n, "unit_type");
    int ca = s_col(&c, h.names, h.n, "commune_name_ascii");
    int cnote = s_col(&c, h.names, h.n, "note");
    rd->communes = xcalloc(512, sizeof *rd->communes);
    while (s_csv_next(&c)) {
        s_need(&c, h.n - 1);
        if (c.field[cc][0] == 0)
            continue;  /* a district without communes (Hoàng Sa) */
        if (!s_is_digits(c.field[cc], 5) || !s_is_digits(c.field[cd], 3))
            die("%s:%d: bad code", c.path, c.line);
        if (rd->n_communes >= 512)
            die("%s: too many communes", c.path);
        commune_t *m = &rd->communes[rd->n_communes++];
        s_copy(m->code, sizeof m->code, c.field[cc], &c);
        s_copy(m->name, sizeof m->name, c.field[ccn], &c);
        s_copy(m->ascii, sizeof m->ascii, c.field[ca], &c);
        s_copy(m->unit_type, sizeof m->unit_type, c.field[ct], &c);
        s_copy(m->district_code, sizeof m->district_code, c.field[cd], &c);
        s_copy(m->district_name, sizeof m->district_name, c.field[cdn], &c);
        s_copy(m->province_code, sizeof m->province_code, c.field[cp], &c);
        s_copy(m->province_name, sizeof m->province_name, c.field[cpn], &c);
        if (strcmp(m->province_code, "48") != 0 && strcmp(m->province_code, "49") != 0)
            die("%s:%d: province %s", c.path, c.line, m->province_code);
        m->urban = strcmp(m->unit_type, "Xã") != 0;
        m->terrain = s_in(m->district_name, s_mountain) ? 2 : s_in(m->district_name, s_midland) ? 1 : 0;
        m->doubtful = strncmp(c.field[cnote], "doubtful", 8) == 0;
    }
    s_header_free(&h);
    s_csv_close(&c);
}

static void s_load_mapping(refdata_t *rd, const char *dir)
{
    csv_t c;
    hdr_t h;
    s_csv_open(&c, dir, "admin/mapping_2025.csv");
    s_header(&c, &h);
    int co = s_col(&c, h.names, h.n, "old_commune_code");
    int cn = s_col(&c, h.names, h.n, "new_commune_code");
    while (s_csv_next(&c)) {
        s_need(&c, h.n - 1);
        if (c.field[co][0] == 0)
            continue;  /* district-level row (Hoàng Sa) */
        commune_t *m = NULL;
        for (uint32_t i = 0; i < rd->n_communes; i++)
            if (strcmp(rd->communes[i].code, c.field[co]) == 0)
                m = &rd->communes[i];
        if (!m)
            die("%s:%d: old commune %s not in units_before_2025.csv", c.path, c.line, c.field[co]);
        int u = s_unit25(rd, c.field[cn]);
        if (u < 0)
            die("%s:%d: new commune %s not in units_2025.csv", c.path, c.line, c.field[cn]);
        if (m->n_new >= 2)
            die("%s:%d: commune %s maps to more than two new units", c.path, c.line, m->code);
        m->new_idx[m->n_new++] = (uint8_t)u;
    }
    s_header_free(&h);
    s_csv_close(&c);
    rd->hoalien = NO_COMMUNE;
    for (uint32_t i = 0; i < rd->n_communes; i++) {
        if (rd->communes[i].n_new == 0)
            die("admin/mapping_2025.csv: commune %s has no mapping", rd->communes[i].code);
        if (rd->communes[i].n_new == 2)
            rd->hoalien = i;
    }
}

static void s_load_ppp(refdata_t *rd, const char *dir)
{
    csv_t c;
    hdr_t h;
    s_csv_open(&c, dir, "admin/cccd_birth_registration_codes.csv");
    s_header(&c, &h);
    int cc = s_col(&c, h.names, h.n, "cccd_code");
    int cn = s_col(&c, h.names, h.n, "province_name_tt07_2016");
    rd->ppp = xcalloc(128, sizeof *rd->ppp);
    rd->ppp_dn = rd->ppp_qn = UINT32_MAX;
    while (s_csv_next(&c)) {
        s_need(&c, h.n - 1);
        if (!s_is_digits(c.field[cc], 3))
            die("%s:%d: bad code '%s'", c.path, c.line, c.field[cc]);
        if (rd->n_ppp >= 128)
            die("%s: too many rows", c.path);
        ppp_t *p = &rd->ppp[rd->n_ppp];
        s_copy(p->code, sizeof p->code, c.field[cc], &c);
        s_copy(p->name, sizeof p->name, c.field[cn], &c);
        /* Births outside the city: neighbours and the big cities more likely
         * (assumption, see docs/generator.md). */
        static const struct { const char *code; double w; } near[] = {
            { "051", 25 }, { "046", 18 }, { "052", 10 }, { "045", 5 }, { "044", 3 },
            { "079", 7 }, { "001", 5 }, { "064", 3 }, { "062", 3 }, { "066", 2 },
            { "040", 2 }, { "054", 2 }, { "056", 2 }, { "042", 2 } };
        p->weight = 0.3;
        for (size_t i = 0; i < sizeof near / sizeof near[0]; i++)
            if (strcmp(near[i].code, p->code) == 0)
                p->weight = near[i].w;
        if (strcmp(p->code, "048") == 0) { rd->ppp_dn = rd->n_ppp; p->weight = 0; }
        if (strcmp(p->code, "049") == 0) { rd->ppp_qn = rd->n_ppp; p->weight = 0; }
        rd->n_ppp++;
    }
    s_header_free(&h);
    s_csv_close(&c);
    if (rd->ppp_dn == UINT32_MAX || rd->ppp_qn == UINT32_MAX)
        die("cccd_birth_registration_codes.csv: 048 or 049 missing");
    double *w = xmalloc(rd->n_ppp * sizeof *w);
    for (uint32_t i = 0; i < rd->n_ppp; i++)
        w[i] = rd->ppp[i].weight;
    if (alias_build(&rd->ppp_other_alias, w, rd->n_ppp) != 0)
        die("ppp weights");
    free(w);
}

/* Surnames: the uit share (a Kinh-majority forum; ngxson has many Khmer
 * surnames), raised for the names common in Central Vietnam, with Nguyễn set
 * to a third of all people. */
static void s_load_surnames(refdata_t *rd, const char *dir)
{
    csv_t c;
    hdr_t h;
    s_csv_open(&c, dir, "names/surnames.csv");
    s_header(&c, &h);
    int cs = s_col(&c, h.names, h.n, "surname");
    int cu = s_col(&c, h.names, h.n, "share_uit");
    int cx = s_col(&c, h.names, h.n, "share_ngxson");
    size_t cap = 512;
    rd->surnames = xcalloc(cap, sizeof *rd->surnames);
    double *w = xcalloc(cap, sizeof *w);
    static const struct { const char *s; double boost; } boost[] = {
        { "Trần", 1.15 }, { "Lê", 1.2 }, { "Phạm", 1.1 }, { "Huỳnh", 1.6 },
        { "Võ", 1.7 }, { "Phan", 1.4 }, { "Đặng", 1.1 }, { "Trương", 1.2 } };
    int nguyen = -1;
    while (s_csv_next(&c)) {
        s_need(&c, h.n - 1);
        if (rd->n_surnames >= cap)
            die("%s: too many rows", c.path);
        if (c.field[cs][0] == 0)
            die("%s:%d: empty surname", c.path, c.line);
        if (!vn_is_name(c.field[cs]))
            continue;  /* glitches of the source (e.g. mojibake "BĂši") */
        double su = atof(c.field[cu]), sx = atof(c.field[cx]);
        double wt = su > 0 ? su : 0.05 * sx;
        for (size_t i = 0; i < sizeof boost / sizeof boost[0]; i++)
            if (strcmp(boost[i].s, c.field[cs]) == 0)
                wt *= boost[i].boost;
        if (strcmp(c.field[cs], "Nguyễn") == 0)
            nguyen = (int)rd->n_surnames;
        rd->surnames[rd->n_surnames].s = xstrdup(c.field[cs]);
        w[rd->n_surnames++] = wt;
    }
    s_header_free(&h);
    s_csv_close(&c);
    if (nguyen < 0)
        die("names/surnames.csv: no Nguyễn");
    double rest = 0;
    for (uint32_t i = 0; i < rd->n_surnames; i++)
        if ((int)i != nguyen)
            rest += w[i];
    w[nguyen] = rest / 2.0;  /* -> Nguyễn is one third */
    if (alias_build(&rd->surname_alias, w, rd->n_surnames) != 0)
        die("surname weights");
    free(w);
}

static void s_load_gendered(refdata_t *rd, const char *dir, const char *file,
                            const char *namecol, const char *countcol,
                            name_t **out, uint32_t *nout, alias_t alias[2], uint32_t *by_g[2])
{
    csv_t c;
    hdr_t h;
    s_csv_open(&c, dir, file);
    s_header(&c, &h);
    int cn = s_col(&c, h.names, h.n, namecol);
    int cg = s_col(&c, h.names, h.n, "gender");
    int cc = s_col(&c, h.names, h.n, countcol);
    size_t cap = 4096;
    name_t *v = xcalloc(cap, sizeof *v);
    double *w = xcalloc(cap, sizeof *w);
    uint32_t n = 0;
    while (s_csv_next(&c)) {
        s_need(&c, h.n - 1);
        if (n >= cap)
            die("%s: too many rows", c.path);
        const char *g = c.field[cg];
        if (strcmp(g, "m") != 0 && strcmp(g, "f") != 0)
            die("%s:%d: gender '%s'", c.path, c.line, g);
        double cnt = atof(c.field[cc]);
        if (cnt <= 0 || !vn_is_name(c.field[cn]))
            continue;  /* listed only by duyet (count 0), or not a Vietnamese spelling */
        v[n].s = xstrdup(c.field[cn]);
        v[n].gender = g[0] == 'f';
        w[n++] = cnt;
    }
    s_header_free(&h);
    s_csv_close(&c);
    for (int g = 0; g < 2; g++) {
        uint32_t k = 0;
        by_g[g] = xmalloc(n * sizeof *by_g[g]);
        double *wg = xmalloc(n * sizeof *wg);
        for (uint32_t i = 0; i < n; i++)
            if (v[i].gender == g) {
                by_g[g][k] = i;
                wg[k++] = w[i];
            }
        if (alias_build(&alias[g], wg, k) != 0)
            die("%s: no names for gender %d", file, g);
        free(wg);
    }
    free(w);
    *out = v;
    *nout = n;
}

static void s_commune_weights(refdata_t *rd, rng_t *r)
{
    for (int p = 0; p < 2; p++) {
        rd->commune_by_p[p] = xmalloc(rd->n_communes * sizeof(uint32_t));
        rd->n_commune_by_p[p] = 0;
    }
    double *w[2];
    w[0] = xmalloc(rd->n_communes * sizeof(double));
    w[1] = xmalloc(rd->n_communes * sizeof(double));
    for (uint32_t i = 0; i < rd->n_communes; i++) {
        commune_t *m = &rd->communes[i];
        int p = commune_prov(m);
        double base;
        if (p == 0)
            base = m->urban ? 26000 : 16000;
        else if (strcmp(m->unit_type, "Phường") == 0)
            base = 12000;
        else if (m->urban)
            base = 10000;
        else
            base = m->terrain == 2 ? 2500 : m->terrain == 1 ? 5000 : 7500;
        m->weight = m->doubtful ? 0.0 : base * (0.7 + 0.6 * rng_unit(r));
        rd->commune_by_p[p][rd->n_commune_by_p[p]] = i;
        w[p][rd->n_commune_by_p[p]++] = m->weight;
    }
    for (int p = 0; p < 2; p++)
        if (alias_build(&rd->commune_alias[p], w[p], rd->n_commune_by_p[p]) != 0)
            die("commune weights for province %d", p);
    free(w[0]);
    free(w[1]);
}

void refdata_load(refdata_t *rd, const char *dir, rng_t *r)
{
    memset(rd, 0, sizeof *rd);
    s_load_units25(rd, dir);
    s_load_units(rd, dir);
    s_load_mapping(rd, dir);
    s_load_ppp(rd, dir);
    s_load_surnames(rd, dir);
    s_load_gendered(rd, dir, "names/middle_names.csv", "middle_name", "count",
                    &rd->middles, &rd->n_middles, rd->middle_alias, rd->middle_by_g);
    s_load_gendered(rd, dir, "names/given_names.csv", "given_name", "count_ngxson",
                    &rd->givens, &rd->n_givens, rd->given_alias, rd->given_by_g);
    s_commune_weights(rd, r);
}

void refdata_free(refdata_t *rd)
{
    for (uint32_t i = 0; i < rd->n_surnames; i++) free(rd->surnames[i].s);
    for (uint32_t i = 0; i < rd->n_middles; i++) free(rd->middles[i].s);
    for (uint32_t i = 0; i < rd->n_givens; i++) free(rd->givens[i].s);
    free(rd->surnames); free(rd->middles); free(rd->givens);
    alias_free(&rd->surname_alias);
    for (int g = 0; g < 2; g++) {
        alias_free(&rd->middle_alias[g]); free(rd->middle_by_g[g]);
        alias_free(&rd->given_alias[g]); free(rd->given_by_g[g]);
        alias_free(&rd->commune_alias[g]); free(rd->commune_by_p[g]);
    }
    alias_free(&rd->ppp_other_alias);
    free(rd->communes); free(rd->units25); free(rd->ppp);
    memset(rd, 0, sizeof *rd);
}
