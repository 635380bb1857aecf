/* test-recode.c — 2025 address recoding against the shared admin data:
 * every row of mapping_2025.csv by code (with and without province and
 * district) and by name (full, bare, abbreviated prefix, no diacritics,
 * upper case, the GSO ascii name), the split xã Hòa Liên ambiguous, names
 * shared across unit types, and unknown codes and names not found.
 *
 * The expectations are read from the CSVs by this file's own line
 * splitting (the columns used come before the only quoted column), so the
 * module's CSV reader is checked against an independent reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "recode.h"
#include "vntext.h"

#ifndef ADMIN_DATA_DIR
#error "ADMIN_DATA_DIR (../shared/data/admin) must be defined"
#endif

static const char *s_dir = ADMIN_DATA_DIR;

/* Splits the first n comma-separated fields of line in place. */
static void s_split(char *line, char **f, int n)
{
    line[strcspn(line, "\r\n")] = '\0';
    for (int i = 0; i < n; i++) {
        assert_non_null(line);
        assert_true(line[0] != '"');
        f[i] = line;
        char *c = strchr(line, ',');
        if (c)
            *c = '\0';
        line = c ? c + 1 : NULL;
    }
}

/* The unit type and ascii name of an old commune, from units_before_2025.csv. */
static void s_old_unit(const char *code, char *type, size_t tlen, char *ascii, size_t alen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/units_before_2025.csv", s_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (getline(&line, &cap, f) > 0) {
        char *fl[9];
        s_split(line, fl, 9);
        if (strcmp(fl[5], code) == 0) {
            snprintf(type, tlen, "%s", fl[7]);
            snprintf(ascii, alen, "%s", fl[8]);
            found++;
        }
    }
    free(line);
    fclose(f);
    assert_int_equal(found, 1);
}

typedef struct {
    const char *prov, *dist, *comm, *name, *new_code, *new_name;
    int partial;
} s_row_t;

/* Checks a result against the mapping row. */
static void s_check(const recode_result_t *r, const s_row_t *row)
{
    assert_string_equal(r->old_version, RECODE_OLD_VERSION);
    assert_string_equal(r->new_version, RECODE_NEW_VERSION);
    if (row->partial) {
        assert_int_equal(r->status, RECODE_AMBIGUOUS);
        assert_int_equal(r->n, 2);
        assert_true(strcmp(r->candidates[0].code, row->new_code) == 0
                    || strcmp(r->candidates[1].code, row->new_code) == 0);
    } else {
        if (r->status != RECODE_FOUND)
            fail_msg("%s %s: status %d", row->comm, row->name, r->status);
        assert_int_equal(r->n, 1);
        assert_string_equal(r->candidates[0].code, row->new_code);
        assert_string_equal(r->candidates[0].name, row->new_name);
    }
    assert_non_null(r->old_commune);
    assert_string_equal(r->old_province, row->prov);
    assert_string_equal(r->old_district, row->dist);
    assert_string_equal(r->old_commune, row->comm);
}

static void s_by_name(recode_t *rc, const char *name, const char *prov, const char *dist,
                      const s_row_t *row)
{
    recode_result_t r;
    recode_by_name(rc, name, prov, dist, &r);
    if (r.status == RECODE_NOT_FOUND)
        fail_msg("name \"%s\" (%s/%s) not found", name, prov ? prov : "-", dist ? dist : "-");
    s_check(&r, row);
}

/* A query without diacritics may fit several old units whose names differ
 * only in their marks (Tam Thành, Tam Thạnh, Tam Thanh): nunits is how many
 * the test's own reading of the table finds in the query's scope. */
static void s_by_ascii(recode_t *rc, const char *name, const char *prov, const char *dist,
                       const s_row_t *row, size_t nunits)
{
    if (nunits == 1) {
        s_by_name(rc, name, prov, dist, row);
        return;
    }
    recode_result_t r;
    if (recode_by_name(rc, name, prov, dist, &r) != RECODE_AMBIGUOUS)
        fail_msg("\"%s\" fits %zu units, status %d", name, nunits, r.status);
    assert_null(r.old_commune);
    int seen = 0;
    for (size_t k = 0; k < r.n; k++)
        seen |= strcmp(r.candidates[k].code, row->new_code) == 0;
    assert_true(seen);
}

static char *s_key(const char *s)
{
    char *key;
    size_t off;
    assert_int_equal(vntext_key(s, strlen(s), &key, &off), 0);
    return key;
}

/* All rows of the mapping with their keys, for counting name clashes. */
typedef struct {
    char *line;
    s_row_t row;
    char *full_key, *bare_key;
} s_entry_t;

/* How many distinct old units in scope (prov/dist or NULL) have the key. */
static size_t s_count(const s_entry_t *e, size_t n, const char *key, int bare,
                      const char *prov, const char *dist)
{
    const char *seen[16];
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!e[i].full_key || strcmp(bare ? e[i].bare_key : e[i].full_key, key) != 0)
            continue;
        if ((prov && strcmp(prov, e[i].row.prov)) || (dist && strcmp(dist, e[i].row.dist)))
            continue;
        size_t k;
        for (k = 0; k < nseen; k++)
            if (strcmp(seen[k], e[i].row.comm) == 0)
                break;
        if (k == nseen && nseen < 16)
            seen[nseen++] = e[i].row.comm;
    }
    return nseen;
}

static void s_upper(char *s)
{
    for (; *s; s++)
        *s = (char) toupper((unsigned char) *s);
}

/* Whether q is written with diacritics (then it names one spelling). */
static int s_marked(const char *q)
{
    char *key = s_key(q), *fold;
    size_t off;
    assert_int_equal(vntext_fold(q, strlen(q), &fold, &off), 0);
    int marked = strcmp(key, fold) != 0;
    free(key);
    free(fold);
    return marked;
}

/* A query spelt like the table: one unit if it has diacritics, otherwise
 * as many as share its key in scope. */
static void s_by_spelling(recode_t *rc, const char *q, const char *prov, const char *dist,
                          const s_row_t *row, const s_entry_t *e, size_t n, const char *key,
                          int bare)
{
    if (s_marked(q))
        s_by_name(rc, q, prov, dist, row);
    else
        s_by_ascii(rc, q, prov, dist, row, s_count(e, n, key, bare, prov, dist));
}

/* The unit type, ascii name and bare name of a row's old commune. */
static void s_names(const s_row_t *row, char *type, size_t tlen, char *ascii, size_t alen,
                    const char **abbr, const char **ascii_type, const char **bare)
{
    s_old_unit(row->comm, type, tlen, ascii, alen);
    size_t words;
    if (strcmp(type, "Phường") == 0) {
        *abbr = "P.", *ascii_type = "Phuong", words = 1;
    } else if (strcmp(type, "Xã") == 0) {
        *abbr = "X.", *ascii_type = "Xa", words = 1;
    } else {
        assert_string_equal(type, "Thị trấn");
        *abbr = "TT.", *ascii_type = "Thi tran", words = 2;
    }
    *bare = row->name;
    for (size_t w = 0; w < words; w++)
        *bare = strchr(*bare, ' ') + 1;
}

static void test_every_row(void **state)
{
    (void) state;
    char err[512];
    recode_t *rc = recode_new(s_dir, err, sizeof err);
    if (!rc)
        fail_msg("recode_new: %s", err);
    assert_int_equal(recode_size(rc), 283);

    char path[4096];
    snprintf(path, sizeof path, "%s/mapping_2025.csv", s_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static s_entry_t e[400];
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    assert_true(getline(&line, &cap, f) > 0);   /* header */
    while (getline(&line, &cap, f) > 0) {
        assert_true(n < 400);
        e[n].line = strdup(line);
        char *fl[10];
        s_split(e[n].line, fl, 10);
        e[n].row = (s_row_t) { .prov = fl[0], .dist = fl[2], .comm = fl[4], .name = fl[5],
                               .new_code = fl[7], .new_name = fl[8],
                               .partial = strcmp(fl[9], "partial") == 0 };
        e[n].full_key = e[n].bare_key = NULL;
        if (*e[n].row.comm) {
            char type[64], ascii[256];
            const char *abbr, *ascii_type, *bare;
            s_names(&e[n].row, type, sizeof type, ascii, sizeof ascii, &abbr, &ascii_type,
                    &bare);
            e[n].full_key = s_key(e[n].row.name);
            e[n].bare_key = s_key(bare);
        }
        n++;
    }
    free(line);
    fclose(f);

    int partial = 0, districts = 0;
    for (size_t i = 0; i < n; i++) {
        const s_row_t row = e[i].row;
        partial += row.partial;
        recode_result_t r;

        if (!*row.comm) {
            /* Huyện Hoàng Sa: a district without communes. */
            districts++;
            recode_by_code(rc, row.prov, row.dist, NULL, &r);
            s_check(&r, &row);
            recode_by_code(rc, NULL, row.dist, "", &r);
            s_check(&r, &row);
            s_by_name(rc, "Huyện Hoàng Sa", NULL, NULL, &row);
            s_by_name(rc, "Hoàng Sa", row.prov, row.dist, &row);
            s_by_name(rc, "huyen hoang sa", NULL, NULL, &row);
            s_by_name(rc, "HOANG SA", NULL, row.dist, &row);
            continue;
        }

        /* By code: full, commune only, and with a wrong district or province. */
        recode_by_code(rc, row.prov, row.dist, row.comm, &r);
        s_check(&r, &row);
        recode_by_code(rc, NULL, NULL, row.comm, &r);
        s_check(&r, &row);
        assert_int_equal(recode_by_code(rc, row.prov, "999", row.comm, &r), RECODE_NOT_FOUND);
        assert_int_equal(recode_by_code(rc, "01", row.dist, row.comm, &r), RECODE_NOT_FOUND);

        /* By name, with diacritics: each spelling names one unit (if it
         * has any diacritics: Xã Tam Thanh without its prefix has none). */
        char type[64], ascii[256], buf[512];
        const char *abbr, *ascii_type, *bare;
        s_names(&row, type, sizeof type, ascii, sizeof ascii, &abbr, &ascii_type, &bare);
        const char *fk = e[i].full_key, *bk = e[i].bare_key;
        s_by_spelling(rc, row.name, NULL, NULL, &row, e, n, fk, 0);
        s_by_spelling(rc, row.name, row.prov, row.dist, &row, e, n, fk, 0);
        s_by_spelling(rc, bare, row.prov, row.dist, &row, e, n, bk, 1);
        snprintf(buf, sizeof buf, "%s %s", abbr, bare);
        s_by_spelling(rc, buf, NULL, NULL, &row, e, n, fk, 0);
        snprintf(buf, sizeof buf, "%s%s", abbr, bare);
        s_by_spelling(rc, buf, NULL, row.dist, &row, e, n, fk, 0);
        snprintf(buf, sizeof buf, "  %s  %s ", type, bare);
        s_by_spelling(rc, buf, row.prov, NULL, &row, e, n, fk, 0);

        /* Without diacritics: the GSO ascii name, bare, with a prefix, in
         * upper case, and the matching key of the full name. */
        char *bkey = s_key(ascii);
        assert_string_equal(bkey, e[i].bare_key);   /* the ascii column agrees with vntext */
        free(bkey);
        s_by_ascii(rc, ascii, row.prov, row.dist, &row,
                   s_count(e, n, e[i].bare_key, 1, row.prov, row.dist));
        snprintf(buf, sizeof buf, "%s %s", ascii_type, ascii);
        size_t nfull = s_count(e, n, e[i].full_key, 0, NULL, NULL);
        s_by_ascii(rc, buf, NULL, NULL, &row, nfull);
        s_upper(buf);
        s_by_ascii(rc, buf, NULL, NULL, &row, nfull);
        snprintf(buf, sizeof buf, "%s %s", abbr, ascii);
        s_upper(buf);
        s_by_ascii(rc, buf, row.prov, row.dist, &row,
                   s_count(e, n, e[i].full_key, 0, row.prov, row.dist));
        s_by_ascii(rc, e[i].full_key, NULL, NULL, &row, nfull);

        /* The right name in another district is not found. */
        assert_int_equal(recode_by_name(rc, row.name, row.prov, "999", &r), RECODE_NOT_FOUND);
    }
    assert_int_equal(n, 283);
    assert_int_equal(partial, 2);
    assert_int_equal(districts, 1);
    for (size_t i = 0; i < n; i++) {
        free(e[i].line);
        free(e[i].full_key);
        free(e[i].bare_key);
    }
    recode_destroy(&rc);
    assert_null(rc);
}

/* Names that differ only in diacritics: Tam Đàn and Tam Dân, both in Phú
 * Ninh (518); Tam Thành (518), Tam Thạnh (517), Tam Thanh (502). */
static void test_diacritic_clash(void **state)
{
    (void) state;
    char err[512];
    recode_t *rc = recode_new(s_dir, err, sizeof err);
    assert_non_null(rc);
    recode_result_t r;
    assert_int_equal(recode_by_name(rc, "Tam Dan", "49", "518", &r), RECODE_AMBIGUOUS);
    assert_int_equal(recode_by_name(rc, "Tam Đàn", "49", "518", &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20374");
    assert_int_equal(recode_by_name(rc, "xã tam dân", NULL, NULL, &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20392");
    assert_int_equal(recode_by_name(rc, "Xa Tam Thanh", NULL, NULL, &r), RECODE_AMBIGUOUS);
    assert_int_equal(recode_by_name(rc, "Xa Tam Thanh", NULL, "517", &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20980");
    assert_int_equal(recode_by_name(rc, "X. Tam Thạnh", NULL, NULL, &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20980");
    assert_int_equal(recode_by_name(rc, "Xã Tam Thanh", NULL, NULL, &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20359");
    assert_int_equal(recode_by_name(rc, "tam thanh", NULL, NULL, &r), RECODE_AMBIGUOUS);
    assert_int_equal(r.n, 3);
    /* A spelling that is none of them: still all three. */
    assert_int_equal(recode_by_name(rc, "Xã Tâm Thanh", NULL, NULL, &r), RECODE_AMBIGUOUS);
    recode_destroy(&rc);
}

static recode_t *s_rc;

static int s_setup(void **state)
{
    (void) state;
    char err[512];
    s_rc = recode_new(s_dir, err, sizeof err);
    if (!s_rc)
        fprintf(stderr, "recode_new: %s\n", err);
    return s_rc ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    recode_destroy(&s_rc);
    return 0;
}

static void test_hoa_lien(void **state)
{
    (void) state;
    recode_result_t r;
    const char *queries[] = { "Xã Hòa Liên", "hoa lien", "X. Hoà Liên", "XA HOA LIEN" };
    for (size_t q = 0; q < 5; q++) {
        if (q < 4)
            assert_int_equal(recode_by_name(s_rc, queries[q], NULL, NULL, &r), RECODE_AMBIGUOUS);
        else
            assert_int_equal(recode_by_code(s_rc, "48", "497", "20296", &r), RECODE_AMBIGUOUS);
        assert_int_equal(r.n, 2);
        assert_string_equal(r.candidates[0].code, "20194");
        assert_string_equal(r.candidates[0].name, "Phường Hải Vân");
        assert_string_equal(r.candidates[1].code, "20197");
        assert_string_equal(r.candidates[1].name, "Phường Liên Chiểu");
        assert_string_equal(r.old_commune, "20296");
        assert_string_equal(r.old_name, "Xã Hòa Liên");
    }
    /* A phường prefix names a different type: no such unit. */
    assert_int_equal(recode_by_name(s_rc, "Phường Hòa Liên", NULL, NULL, &r), RECODE_NOT_FOUND);
}

/* Phước Ninh is a phường of Hải Châu (20242) and a xã of Quế Sơn (20669). */
static void test_shared_name(void **state)
{
    (void) state;
    recode_result_t r;
    assert_int_equal(recode_by_name(s_rc, "Phước Ninh", NULL, NULL, &r), RECODE_AMBIGUOUS);
    assert_int_equal(r.n, 2);
    assert_null(r.old_commune);     /* several old units */
    assert_int_equal(recode_by_name(s_rc, "P. Phuoc Ninh", NULL, NULL, &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20242");
    assert_int_equal(recode_by_name(s_rc, "xa phuoc ninh", NULL, NULL, &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20669");
    assert_string_equal(r.candidates[0].code, "20669");
    assert_int_equal(recode_by_name(s_rc, "Phước Ninh", "49", NULL, &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20669");
    assert_int_equal(recode_by_name(s_rc, "phuoc ninh", NULL, "492", &r), RECODE_FOUND);
    assert_string_equal(r.old_commune, "20242");
}

/* New codes reuse old ones: old 20194 is Hòa Hiệp Bắc, new 20194 is Hải Vân. */
static void test_code_versions(void **state)
{
    (void) state;
    recode_result_t r;
    assert_int_equal(recode_by_code(s_rc, "48", "490", "20194", &r), RECODE_FOUND);
    assert_string_equal(r.old_name, "Phường Hòa Hiệp Bắc");
    assert_string_equal(r.old_version, RECODE_OLD_VERSION);
    assert_string_equal(r.candidates[0].code, "20194");
    assert_string_equal(r.candidates[0].name, "Phường Hải Vân");
    assert_string_equal(r.old_check, "exact");
    /* The doubtful row keeps its flag (absent from GSO 2020-2024 lists). */
    assert_int_equal(recode_by_code(s_rc, "49", "509", "20674", &r), RECODE_FOUND);
    assert_string_equal(r.candidates[0].code, "20669");
    assert_string_equal(r.old_check, "NOT_FOUND");
    assert_int_equal(recode_by_code(s_rc, NULL, NULL, "20434", &r), RECODE_FOUND);
    assert_string_equal(r.old_check, "unchanged_unit");
    /* A 2025 name is not an old unit. */
    assert_int_equal(recode_by_name(s_rc, "Phường Hải Vân", NULL, NULL, &r), RECODE_NOT_FOUND);
}

static void test_unknown(void **state)
{
    (void) state;
    recode_result_t r;
    assert_int_equal(recode_by_code(s_rc, NULL, NULL, "99999", &r), RECODE_NOT_FOUND);
    assert_int_equal(r.n, 0);
    assert_null(r.old_commune);
    assert_int_equal(recode_by_code(s_rc, "01", "001", "00001", &r), RECODE_NOT_FOUND);
    /* Without a commune and without a district nothing can match. */
    assert_int_equal(recode_by_code(s_rc, "48", NULL, NULL, &r), RECODE_NOT_FOUND);
    assert_int_equal(recode_by_code(s_rc, "48", "490", NULL, &r), RECODE_NOT_FOUND);
    assert_int_equal(recode_by_name(s_rc, "Xã Không Có Thật", NULL, NULL, &r),
                     RECODE_NOT_FOUND);
    assert_int_equal(recode_by_name(s_rc, "", NULL, NULL, &r), RECODE_NOT_FOUND);
    assert_int_equal(recode_by_name(s_rc, "   ", NULL, NULL, &r), RECODE_NOT_FOUND);
    assert_int_equal(recode_by_name(s_rc, "Xã", NULL, NULL, &r), RECODE_NOT_FOUND);
    assert_int_equal(recode_by_name(s_rc, NULL, NULL, NULL, &r), RECODE_NOT_FOUND);
    assert_int_equal(recode_by_name(s_rc, "H\xc3\xb2" "a Li\xff" "n", NULL, NULL, &r),
                     RECODE_NOT_FOUND);
}

static void test_bad_dir(void **state)
{
    (void) state;
    char err[512];
    recode_t *rc = recode_new("/nonexistent/admin", err, sizeof err);
    assert_null(rc);
    assert_non_null(strstr(err, "mapping_2025.csv"));
    recode_destroy(&rc);
    recode_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_diacritic_clash),
        cmocka_unit_test(test_hoa_lien),
        cmocka_unit_test(test_shared_name),
        cmocka_unit_test(test_code_versions),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_bad_dir),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
