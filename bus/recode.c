/* recode.c — 2025 address recoding from the admin CSVs. See recode.h.
 *
 * The tables are small (283 mapping rows, 94 new communes), so lookups are
 * linear scans over arrays; no index is worth its code. */
#include "recode.h"
#include "vntext.h"
/* The file-drop adapter's CSV reader is self-contained (libc only) and
 * fuzzed; bus/meson.build compiles it into the bus library as well. */
#include "../adapters/file-drop/csvread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One parsed CSV file: row 0 is the header; cells[r * ncols + c]. */
typedef struct {
    size_t nrows, ncols;
    char **cells;
} s_csv_t;

typedef struct {
    const char *province, *district, *commune, *name;
    const char *check;         /* check_1659 of the row */
    char *key;                 /* matching key of the name, prefix removed */
    char *fold;                /* the same with its diacritics (vntext_fold) */
    int type;                  /* S_TYPE_* of the name's prefix */
    size_t new_idx;            /* into recode->new_units */
} s_old_t;

typedef struct {
    const char *province, *code;
    char *key;                 /* matching key of the name without "huyện", "thành phố"... */
} s_district_t;

/* Length of a district type prefix at the start of a matching key. */
static size_t s_district_prefix(const char *key)
{
    static const char *const pre[] = { "thanh pho ", "thi xa ", "quan ", "huyen ", "tp. ", "tp.",
                                       "tx. ", "tx.", "q. ", "q.", "h. ", "h." };
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        if (!strncmp(key, pre[i], strlen(pre[i])))
            return strlen(pre[i]);
    return 0;
}

struct recode {
    s_csv_t mapping, units_new, units_old;
    recode_unit_t *new_units;
    size_t n_new;
    s_old_t *old;
    size_t n_old;
    /* old rows sorted by commune code: the mapping stage recodes every
     * address by code, so that lookup is a binary search, not a scan */
    size_t *by_commune;
    /* the old districts with their names' matching keys (for place texts) */
    s_district_t *districts;
    size_t n_districts;
};

static int s_index(recode_t *self);

static void s_csv_free(s_csv_t *csv)
{
    if (csv->cells)
        for (size_t i = 0; i < csv->nrows * csv->ncols; i++)
            free(csv->cells[i]);
    free(csv->cells);
    memset(csv, 0, sizeof *csv);
}

/* Appends a cell, growing the array. */
static int s_push(char ***cells, size_t *n, size_t *cap, char *cell)
{
    if (!cell)
        return -1;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        char **p = realloc(*cells, nc * sizeof *p);
        if (!p) {
            free(cell);
            return -1;
        }
        *cells = p;
        *cap = nc;
    }
    (*cells)[(*n)++] = cell;
    return 0;
}

/* Loads a CSV file with the file-drop adapter's RFC 4180 reader (the
 * mapping's citation column is quoted and holds commas). Every row must
 * have as many fields as the header; empty lines are skipped. */
static int s_csv_load(const char *path, s_csv_t *csv, char *err, size_t errlen)
{
    memset(csv, 0, sizeof *csv);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);

    csvread_t *rd = csvread_new(buf, len, ',', '"');
    char **cells = NULL;
    size_t ncells = 0, ccap = 0, ncols = 0, nrows = 0;
    int rc = rd ? 0 : -1;
    while (rc == 0) {
        int r = csvread_next(rd);
        if (r == CSVREAD_END)
            break;
        if (r == CSVREAD_ERROR) {
            snprintf(err, errlen, "%s:%zu: %s", path, csvread_line(rd), csvread_error(rd));
            rc = -1;
            break;
        }
        size_t rawlen, nf = csvread_nfields(rd);
        csvread_raw(rd, &rawlen);
        if (nf == 1 && rawlen == 0)
            continue;
        if (nrows == 0)
            ncols = nf;
        else if (nf != ncols) {
            snprintf(err, errlen, "%s:%zu: %zu fields, the header has %zu", path,
                     csvread_line(rd), nf, ncols);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < nf && rc == 0; i++)
            if (s_push(&cells, &ncells, &ccap, strdup(csvread_field(rd, i, NULL))) != 0) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
            }
        nrows++;
    }
    csvread_destroy(&rd);
    free(buf);
    if (rc == 0 && nrows == 0) {
        snprintf(err, errlen, "%s: empty", path);
        rc = -1;
    }
    if (rc != 0) {
        /* ncells may not be a multiple of ncols here: free them one by one. */
        for (size_t k = 0; k < ncells; k++)
            free(cells[k]);
        free(cells);
        return -1;
    }
    csv->cells = cells;
    csv->ncols = ncols;
    csv->nrows = nrows;
    return 0;
}

static int s_col(const s_csv_t *csv, const char *name, const char *path, char *err,
                 size_t errlen)
{
    for (size_t c = 0; c < csv->ncols; c++)
        if (strcmp(csv->cells[c], name) == 0)
            return (int) c;
    snprintf(err, errlen, "%s: no column %s", path, name);
    return -1;
}

static const char *s_cell(const s_csv_t *csv, size_t row, int col)
{
    return csv->cells[row * csv->ncols + (size_t) col];
}

/* Unit types named by a prefix. The type is kept apart from the key
 * because bare names collide across types (phường Phước Ninh in Hải Châu,
 * xã Phước Ninh in Quế Sơn): a prefix in the query must then agree. */
enum { S_TYPE_NONE = 0, S_TYPE_PHUONG, S_TYPE_XA, S_TYPE_THITRAN, S_TYPE_HUYEN };

/* The matching key of a unit name without its type prefix, and the type
 * the prefix names: keys of "Xã Hòa Liên", "X. Hoa Lien", "hoa lien" are
 * all "hoa lien". Only one prefix is removed, so a name that itself starts
 * with such a word keeps it when written with its prefix. NULL for
 * invalid UTF-8. */
static char *s_name_key(const char *name, int *type, char **fold, bool *marked)
{
    char *key;
    size_t bad;
    if (vntext_key(name, strlen(name), &key, &bad) != 0)
        return NULL;
    /* Dotted abbreviations may be followed directly by the name ("P.Hòa
     * Cường"); whole words need a space after them. "huyen" serves the
     * one district without communes (Huyện Hoàng Sa). */
    static const struct {
        const char *prefix;
        int type;
    } prefixes[] = {
        { "tt.", S_TYPE_THITRAN }, { "p.", S_TYPE_PHUONG }, { "x.", S_TYPE_XA },
        { "thi tran ", S_TYPE_THITRAN }, { "phuong ", S_TYPE_PHUONG }, { "xa ", S_TYPE_XA },
        { "huyen ", S_TYPE_HUYEN },
    };
    size_t skip = 0;
    *type = S_TYPE_NONE;
    for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes && !skip; k++)
        if (strncmp(key, prefixes[k].prefix, strlen(prefixes[k].prefix)) == 0) {
            skip = strlen(prefixes[k].prefix);
            *type = prefixes[k].type;
        }
    while (skip && key[skip] == ' ')
        skip++;
    /* The fold without the same prefix: the key's prefix is ASCII, so skip
     * as many code points of the fold as bytes of the key. */
    if (fold) {
        if (vntext_fold(name, strlen(name), fold, &bad) != 0) {
            free(key);
            return NULL;
        }
        /* Whether the name was written with diacritics anywhere, prefix
         * included ("Xã Tam Thanh" means the one without marks). */
        if (marked)
            *marked = strcmp(*fold, key) != 0;
        char *f = *fold;
        for (size_t cps = 0; cps < skip && *f; cps++)
            do
                f++;
            while (((unsigned char) *f & 0xC0) == 0x80);
        memmove(*fold, f, strlen(f) + 1);
    }
    memmove(key, key + skip, strlen(key + skip) + 1);
    return key;
}

static int s_build(recode_t *self, const char *dir, char *err, size_t errlen)
{
    char path[3][4096];
    const char *names[3] = { "mapping_2025.csv", "units_2025.csv", "units_before_2025.csv" };
    s_csv_t *tables[3] = { &self->mapping, &self->units_new, &self->units_old };
    for (int t = 0; t < 3; t++) {
        snprintf(path[t], sizeof path[t], "%s/%s", dir, names[t]);
        if (s_csv_load(path[t], tables[t], err, errlen) != 0)
            return -1;
    }

    /* The 2025 communes. */
    s_csv_t *un = &self->units_new;
    int nc = s_col(un, "commune_code", path[1], err, errlen);
    int nn = s_col(un, "commune_name", path[1], err, errlen);
    if (nc < 0 || nn < 0)
        return -1;
    self->n_new = un->nrows - 1;
    self->new_units = calloc(self->n_new ? self->n_new : 1, sizeof *self->new_units);
    if (!self->new_units)
        return -1;
    for (size_t r = 1; r < un->nrows; r++) {
        self->new_units[r - 1].code = s_cell(un, r, nc);
        self->new_units[r - 1].name = s_cell(un, r, nn);
    }

    /* The pre-2025 list, only to check the mapping's old units against. */
    s_csv_t *uo = &self->units_old;
    int op = s_col(uo, "province_code", path[2], err, errlen);
    int od = s_col(uo, "district_code", path[2], err, errlen);
    int oc = s_col(uo, "commune_code", path[2], err, errlen);
    if (op < 0 || od < 0 || oc < 0)
        return -1;

    s_csv_t *m = &self->mapping;
    int mp = s_col(m, "old_province_code", path[0], err, errlen);
    int md = s_col(m, "old_district_code", path[0], err, errlen);
    int mdn = s_col(m, "old_district_name", path[0], err, errlen);
    int mc = s_col(m, "old_commune_code", path[0], err, errlen);
    int mcn = s_col(m, "old_commune_name", path[0], err, errlen);
    int mnc = s_col(m, "new_commune_code", path[0], err, errlen);
    int mck = s_col(m, "check_1659", path[0], err, errlen);
    if (mp < 0 || md < 0 || mdn < 0 || mc < 0 || mcn < 0 || mnc < 0 || mck < 0)
        return -1;
    self->n_old = m->nrows - 1;
    self->old = calloc(self->n_old ? self->n_old : 1, sizeof *self->old);
    if (!self->old)
        return -1;
    for (size_t r = 1; r < m->nrows; r++) {
        s_old_t *o = &self->old[r - 1];
        o->province = s_cell(m, r, mp);
        o->district = s_cell(m, r, md);
        o->commune = s_cell(m, r, mc);
        o->check = s_cell(m, r, mck);
        /* A district without communes is named by its district name. */
        o->name = *o->commune ? s_cell(m, r, mcn) : s_cell(m, r, mdn);
        o->key = s_name_key(o->name, &o->type, &o->fold, NULL);
        if (!o->key) {
            snprintf(err, errlen, "%s: row %zu: invalid UTF-8", path[0], r + 1);
            return -1;
        }
        const char *newc = s_cell(m, r, mnc);
        size_t k;
        for (k = 0; k < self->n_new; k++)
            if (strcmp(self->new_units[k].code, newc) == 0)
                break;
        if (k == self->n_new) {
            snprintf(err, errlen, "%s: row %zu: new commune %s is not in units_2025.csv",
                     path[0], r + 1, newc);
            return -1;
        }
        o->new_idx = k;
        size_t u;
        for (u = 1; u < uo->nrows; u++)
            if (strcmp(s_cell(uo, u, op), o->province) == 0
                && strcmp(s_cell(uo, u, od), o->district) == 0
                && strcmp(s_cell(uo, u, oc), o->commune) == 0)
                break;
        if (u == uo->nrows) {
            snprintf(err, errlen, "%s: row %zu: old unit %s/%s/%s is not in "
                     "units_before_2025.csv", path[0], r + 1, o->province, o->district,
                     o->commune);
            return -1;
        }
    }
    return 0;
}

recode_t *recode_new(const char *dir, char *errbuf, size_t errlen)
{
    char dummy[1];
    if (!errbuf || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = '\0';
    recode_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (s_build(self, dir, errbuf, errlen) != 0 || s_index(self) != 0) {
        if (!errbuf[0])
            snprintf(errbuf, errlen, "out of memory");
        recode_destroy(&self);
        return NULL;
    }
    return self;
}

void recode_destroy(recode_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    recode_t *self = *self_p;
    if (self->old)
        for (size_t i = 0; i < self->n_old; i++) {
            free(self->old[i].key);
            free(self->old[i].fold);
        }
    free(self->old);
    free(self->by_commune);
    for (size_t i = 0; i < self->n_districts; i++)
        free(self->districts[i].key);
    free(self->districts);
    free(self->new_units);
    s_csv_free(&self->mapping);
    s_csv_free(&self->units_new);
    s_csv_free(&self->units_old);
    free(self);
    *self_p = NULL;
}

size_t recode_size(recode_t *self)
{
    return self->n_old;
}

/* Adds the rows in hits to result and sets its status. Rows of one old
 * unit (a split commune has one row per new commune) fill its old_*. */
static recode_status_t s_result(recode_t *self, const size_t *hits, size_t nhits,
                                recode_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->old_version = RECODE_OLD_VERSION;
    r->new_version = RECODE_NEW_VERSION;
    if (nhits == 0) {
        r->status = RECODE_NOT_FOUND;
        return r->status;
    }
    bool one_old = true;
    const s_old_t *first = &self->old[hits[0]];
    for (size_t h = 0; h < nhits; h++) {
        const s_old_t *o = &self->old[hits[h]];
        if (strcmp(o->province, first->province) || strcmp(o->district, first->district)
            || strcmp(o->commune, first->commune))
            one_old = false;
        const recode_unit_t *u = &self->new_units[o->new_idx];
        size_t k;
        for (k = 0; k < r->n; k++)
            if (strcmp(r->candidates[k].code, u->code) == 0)
                break;
        if (k == r->n && r->n < RECODE_MAX_CANDIDATES)
            r->candidates[r->n++] = *u;
    }
    if (one_old) {
        r->old_province = first->province;
        r->old_district = first->district;
        r->old_commune = first->commune;
        r->old_name = first->name;
        r->old_check = first->check;
    }
    r->status = r->n == 1 && one_old ? RECODE_FOUND : RECODE_AMBIGUOUS;
    return r->status;
}

static bool s_opt_eq(const char *want, const char *have)
{
    return !want || strcmp(want, have) == 0;
}

static const recode_t *s_sort_self;   /* qsort has no context argument; only used at load */

static int s_cmp_commune(const void *a, const void *b)
{
    const s_old_t *x = &s_sort_self->old[*(const size_t *) a], *y = &s_sort_self->old[*(const size_t *) b];
    int c = strcmp(x->commune, y->commune);
    return c ? c : (*(const size_t *) a < *(const size_t *) b ? -1 : 1);
}

static int s_index(recode_t *self)
{
    self->by_commune = malloc((self->n_old ? self->n_old : 1) * sizeof *self->by_commune);
    if (!self->by_commune)
        return -1;
    for (size_t i = 0; i < self->n_old; i++)
        self->by_commune[i] = i;
    /* One entry per old district, keyed once here, not per lookup. */
    const s_csv_t *u = &self->units_old;
    int cp = s_col(u, "province_code", "", NULL, 0), cd = s_col(u, "district_code", "", NULL, 0),
        cn = s_col(u, "district_name", "", NULL, 0);
    self->districts = calloc(u->nrows ? u->nrows : 1, sizeof *self->districts);
    if (!self->districts || cp < 0 || cd < 0 || cn < 0)
        return -1;
    for (size_t r = 1; r < u->nrows; r++) {
        const char *code = s_cell(u, r, cd);
        if (self->n_districts && !strcmp(self->districts[self->n_districts - 1].code, code))
            continue;              /* the same district's next commune (rows are grouped) */
        char *k = NULL;
        size_t bad;
        const char *name = s_cell(u, r, cn);
        if (vntext_key(name, strlen(name), &k, &bad) != 0)
            return -1;
        memmove(k, k + s_district_prefix(k), strlen(k + s_district_prefix(k)) + 1);
        s_district_t *d = &self->districts[self->n_districts++];
        d->province = s_cell(u, r, cp);
        d->code = code;
        d->key = k;
    }
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    s_sort_self = self;
    qsort(self->by_commune, self->n_old, sizeof *self->by_commune, s_cmp_commune);
    s_sort_self = NULL;
    pthread_mutex_unlock(&mu);
    return 0;
}

recode_status_t recode_by_code(recode_t *self, const char *province, const char *district,
                               const char *commune, recode_result_t *result)
{
    if (!commune)
        commune = "";
    size_t hits[RECODE_MAX_CANDIDATES];
    size_t n = 0;
    /* The first row of that commune code, by binary search; the rows of
     * one code are adjacent and kept in file order. */
    size_t lo = 0, hi = self->n_old;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(self->old[self->by_commune[mid]].commune, commune) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < self->n_old && n < RECODE_MAX_CANDIDATES; k++) {
        size_t i = self->by_commune[k];
        const s_old_t *o = &self->old[i];
        if (strcmp(o->commune, commune) != 0)
            break;
        /* Without a commune only a district without communes can match. */
        if (strcmp(o->commune, commune) == 0 && s_opt_eq(province, o->province)
            && s_opt_eq(district, o->district) && (*commune || district))
            hits[n++] = i;
    }
    return s_result(self, hits, n, result);
}

recode_status_t recode_by_name(recode_t *self, const char *name, const char *province,
                               const char *district, recode_result_t *result)
{
    int type = S_TYPE_NONE;
    char *fold = NULL;
    bool marked = false;
    char *key = name ? s_name_key(name, &type, &fold, &marked) : NULL;
    size_t hits[RECODE_MAX_CANDIDATES];
    size_t n = 0;
    for (size_t i = 0; key && *key && i < self->n_old && n < RECODE_MAX_CANDIDATES; i++) {
        const s_old_t *o = &self->old[i];
        if (strcmp(o->key, key) == 0 && (type == S_TYPE_NONE || type == o->type)
            && s_opt_eq(province, o->province)
            && s_opt_eq(district, o->district))
            hits[n++] = i;
    }
    /* Without diacritics, Tam Thành, Tam Thạnh and Tam Thanh meet in one
     * key (Tam Đàn and Tam Dân even in one district). A query written with
     * diacritics says which one it means, so keep the units whose folded
     * name is the query's. A query without diacritics stays ambiguous: it
     * may be "Tam Thanh" or any of the others with its marks dropped. */
    if (n > 1 && marked) {
        size_t kept = 0;
        for (size_t h = 0; h < n; h++)
            if (strcmp(self->old[hits[h]].fold, fold) == 0)
                hits[kept++] = hits[h];
        if (kept > 0)
            n = kept;
    }
    free(key);
    free(fold);
    return s_result(self, hits, n, result);
}

const char *recode_district_by_name(recode_t *self, const char *name, const char *province)
{
    char *key = NULL;
    size_t bad;
    if (!name || vntext_key(name, strlen(name), &key, &bad) != 0)
        return NULL;
    const char *k = key + s_district_prefix(key);
    const char *code = NULL;
    for (size_t i = 0; i < self->n_districts; i++) {
        const s_district_t *d = &self->districts[i];
        if (strcmp(d->key, k) || (province && strcmp(d->province, province)))
            continue;
        if (code) {               /* two districts of that name: not decided by name */
            code = NULL;
            break;
        }
        code = d->code;
    }
    free(key);
    return code;
}

const recode_unit_t *recode_new_unit(recode_t *self, const char *code)
{
    for (size_t i = 0; code && i < self->n_new; i++)
        if (strcmp(self->new_units[i].code, code) == 0)
            return &self->new_units[i];
    return NULL;
}

const recode_unit_t *recode_new_by_name(recode_t *self, const char *name)
{
    int type = S_TYPE_NONE, utype;
    char *key = name ? s_name_key(name, &type, NULL, NULL) : NULL;
    const recode_unit_t *hit = NULL;
    for (size_t i = 0; key && *key && i < self->n_new; i++) {
        char *k = s_name_key(self->new_units[i].name, &utype, NULL, NULL);
        bool same = k && strcmp(k, key) == 0 && (type == S_TYPE_NONE || type == utype);
        free(k);
        if (same) {
            if (hit) {          /* two 2025 communes of that name: not decided */
                hit = NULL;
                break;
            }
            hit = &self->new_units[i];
        }
    }
    free(key);
    return hit;
}
