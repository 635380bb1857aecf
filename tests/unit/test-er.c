/* test-er.c — the entity-resolution engine (bus/er*.c, er.h):
 *   spec loading: the real config/er/person.yaml, and every kind of bad
 *     spec reported as "file:line: what" (unknown key, unknown field in a
 *     comparison or a blocking rule, a method or key part that does not fit
 *     the field's type, thresholds out of order, bad type / date_format);
 *   records: values read by JSON pointer (NFC, white space, ids cleaned,
 *     numbers as ids), JSON lines and CSV files with --column overrides and
 *     date formats, an unreadable date reported "file:line: record: field"
 *     and the field left absent;
 *   each comparison level as er_level computes it on hand-made records;
 *   EM: a synthetic dataset (fixed seed, names built from the parts in
 *     ../shared/data/names) whose true m is counted from the generated
 *     pairs: the estimated m of the main levels is within a tolerance, and
 *     EM stops before its maximum;
 *   clustering against chaining (A~B, B~C, A vs C different: bare
 *     connected components join them, the engine does not), the
 *     cannot_link rule, manual link / unlink decisions;
 *   golden records by completeness, trust and recency.
 * All names and ids are synthetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "er_int.h"
#include "vntext.h"

#ifndef PERSON_SPEC
#define PERSON_SPEC "config/er/person.yaml"
#endif
#ifndef NAMES_DATA_DIR
#define NAMES_DATA_DIR "../shared/data/names"
#endif

#define assert_near(a, b, eps) s_near((a), (b), (eps), #a, __FILE__, __LINE__)
static void s_near(double a, double b, double eps, const char *what, const char *file, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("%s:%d: %s = %.6f, expected %.6f (within %g)", file, line, what, a, b, eps);
}

#define assert_contains(s, sub) s_contains((s), (sub), __FILE__, __LINE__)
static void s_contains(const char *s, const char *sub, const char *file, int line)
{
    if (!s || !strstr(s, sub))
        fail_msg("%s:%d: '%s' does not contain '%s'", file, line, s ? s : "(null)", sub);
}

/* ---- files ---- */

static char s_dir[64];

static int s_group_setup(void **state)
{
    (void) state;
    snprintf(s_dir, sizeof s_dir, "/tmp/test-er-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void) state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *s_write(const char *name, const char *text)
{
    static char path[8][256];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 256, "%s/%s", s_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* The spec of these tests, one line per entry, so that a bad variant can
 * replace exactly one line and know its number. */
static const char *const s_base[] = {
    /*  1 */ "kind: emtest",
    /*  2 */ "version: 1",
    /*  3 */ "record:",
    /*  4 */ "  id: { from: /id, column: id }",
    /*  5 */ "  source: { from: /src, column: source }",
    /*  6 */ "  updated: { from: /updated, column: updated }",
    /*  7 */ "fields:",
    /*  8 */ "  name: { type: name, from: /name }",
    /*  9 */ "  birth: { type: date, from: /birth }",
    /* 10 */ "  pid: { type: id, from: /pid }",
    /* 11 */ "  town: { type: code, from: /town }",
    /* 12 */ "  blk: { type: code, from: /blk }",
    /* 13 */ "comparisons:",
    /* 14 */ "  - { name: name, field: name, method: name, tf: true }",
    /* 15 */ "  - { name: birth, field: birth, method: date }",
    /* 16 */ "  - { name: pid, field: pid, method: id, cannot_link: true }",
    /* 17 */ "  - { name: town, field: town, method: exact, m: [0.5, 0.5] }",   /* EM must move it */
    /* 18 */ "blocking:",
    /* 19 */ "  max_block: 100",
    /* 20 */ "  rules:",
    /* 21 */ "    - blk",
    /* 22 */ "    - name.key + birth.year",
    /* 23 */ "model:",
    /* 24 */ "  prior: estimate",
    /* 25 */ "  u_pairs: 100000",
    /* 26 */ "  em_max_iterations: 200",
    /* 27 */ "  em_tolerance: 1.0e-6",
    /* 28 */ "thresholds:",
    /* 29 */ "  match: 0.95",
    /* 30 */ "  review: 0.40",
    /* 31 */ "survivorship:",
    /* 32 */ "  order: [completeness, trust, recency]",
    /* 33 */ "  trust: [dn, qn]",
    NULL};

/* The base spec with line `line` (1-based) replaced by `with` (NULL: as
 * is; line past the end: appended), written to a file. */
static const char *s_spec_file(const char *name, int line, const char *with)
{
    static char text[8192];
    size_t o = 0;
    int i;
    for (i = 0; s_base[i]; i++)
        o += (size_t) snprintf(text + o, sizeof text - o, "%s\n", i + 1 == line && with ? with : s_base[i]);
    if (line > i && with)
        o += (size_t) snprintf(text + o, sizeof text - o, "%s\n", with);
    return s_write(name, text);
}

static er_spec_t *s_base_spec(void)
{
    char err[512] = "";
    er_spec_t *s = er_spec_load(s_spec_file("base.yaml", 0, NULL), err, sizeof err);
    if (!s)
        fail_msg("base spec: %s", err);
    return s;
}

static int s_comp(const er_spec_t *s, const char *name)
{
    for (size_t c = 0; c < s->ncomps; c++)
        if (strcmp(s->comps[c].name, name) == 0)
            return (int) c;
    fail_msg("no comparison %s", name);
    return -1;
}

static int s_field(const er_spec_t *s, const char *name)
{
    for (size_t f = 0; f < er_spec_field_count(s); f++)
        if (strcmp(er_spec_field_name(s, f), name) == 0)
            return (int) f;
    fail_msg("no field %s", name);
    return -1;
}

/* ---- spec loading ---- */

static void test_spec_person(void **state)
{
    (void) state;
    char err[512] = "";
    er_spec_t *s = er_spec_load(PERSON_SPEC, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_string_equal(er_spec_kind(s), "person");
    assert_int_equal(er_spec_field_count(s), 9);
    assert_string_equal(er_spec_field_name(s, 0), "full_name");
    assert_null(er_spec_field_name(s, 9));
    /* what the comparisons and blocking became */
    assert_int_equal(s->comps[s_comp(s, "name")].kind, ER_C_NAME);
    assert_true(s->comps[s_comp(s, "name")].tf);
    assert_int_equal(s->comps[s_comp(s, "birth_date")].nlevels, 6);
    assert_true(s->comps[s_comp(s, "personal_id")].cannot_link);
    assert_int_equal(s->comps[s_comp(s, "sex")].kind, ER_C_EXACT);
    assert_true(s->nrules >= 4);
    assert_int_equal(s->max_block, 400);
    assert_near(s->match, 0.95, 1e-12);
    assert_near(s->review, 0.40, 1e-12);
    assert_true(s->prior <= 0);   /* estimate */
    assert_int_equal(s->ntrust, 2);
    er_spec_destroy(&s);
    assert_null(s);
    er_spec_destroy(&s);   /* twice is harmless */

    s = s_base_spec();
    assert_string_equal(er_spec_kind(s), "emtest");
    assert_int_equal(s->nrules, 2);
    assert_int_equal(s->rules[1].nparts, 2);
    assert_int_equal(s->rules[1].parts[0].kind, ER_K_KEY);
    assert_int_equal(s->rules[1].parts[1].kind, ER_K_YEAR);
    er_spec_destroy(&s);
}

/* One bad spec: loading fails with "<file>:<line>: " and every fragment. */
static void s_bad_spec(int line, const char *with, int want_line, const char *frag1, const char *frag2)
{
    char err[512] = "", want[300];
    const char *path = s_spec_file("bad.yaml", line, with);
    er_spec_t *s = er_spec_load(path, err, sizeof err);
    if (s)
        fail_msg("a spec with line %d '%s' loaded", line, with);
    snprintf(want, sizeof want, "%s:%d: ", path, want_line);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("'%s' does not start with '%s'", err, want);
    assert_contains(err, frag1);
    if (frag2)
        assert_contains(err, frag2);
}

static void test_spec_errors(void **state)
{
    (void) state;
    /* an unknown key, at the top and inside a field, a comparison, the model */
    s_bad_spec(34, "colour: red", 34, "unknown key 'colour'", "known: kind");
    s_bad_spec(11, "  town: { type: code, from: /town, colum: town }", 11, "field town: unknown key 'colum'", NULL);
    s_bad_spec(17, "  - { name: town, field: town, method: exact, weight: 3 }", 17, "unknown key 'weight'", NULL);
    s_bad_spec(25, "  upairs: 100000", 25, "model: unknown key 'upairs'", NULL);
    /* an unknown field in a comparison, in a blocking rule */
    s_bad_spec(17, "  - { name: town, field: village, method: exact }", 17, "comparison town", "no field 'village'");
    s_bad_spec(22, "    - name.key + dob.year", 22, "blocking rule 'name.key + dob.year'", "no field 'dob'");
    /* a method that does not fit the field's type, both ways */
    s_bad_spec(15, "  - { name: birth, field: birth, method: name }", 15, "comparison birth",
               "method name needs a name or text field");
    s_bad_spec(14, "  - { name: name, field: name, method: date }", 14, "method date needs a date field", NULL);
    s_bad_spec(17, "  - { name: town, field: town, method: soundex }", 17, "method 'soundex'", NULL);
    s_bad_spec(15, "  - { name: birth, field: birth, method: date, tf: true }", 15, "tf applies to methods name and exact",
               NULL);
    /* a key part that does not fit, or does not exist */
    s_bad_spec(22, "    - name.year", 22, ".year does not apply to field name", NULL);
    s_bad_spec(22, "    - birth.initials", 22, "unknown part '.initials'", NULL);
    /* thresholds out of order, and out of range */
    s_bad_spec(29, "  match: 0.30", 29, "review (0.4) is above match (0.3)", NULL);
    s_bad_spec(29, "  match: 1.5", 29, "thresholds: match", "not a number");
    /* an unknown type, a date format on a date and on a name */
    s_bad_spec(11, "  town: { type: postcode, from: /town }", 11, "field town: type 'postcode'", NULL);
    s_bad_spec(9, "  birth: { type: date, from: /birth, date_format: dd-mm-yy }", 9, "date_format 'dd-mm-yy'", NULL);
    s_bad_spec(8, "  name: { type: name, from: /name, date_format: dd/mm/yyyy }", 8, "not a date", NULL);
    /* a pointer that is not one; a comparison named twice */
    s_bad_spec(10, "  pid: { type: id, from: pid }", 10, "is not a JSON pointer", NULL);
    s_bad_spec(17, "  - { name: pid, field: town, method: exact }", 17, "comparison pid: the name is used twice", NULL);
    /* an unknown survivorship rule */
    s_bad_spec(32, "  order: [completeness, beauty]", 32, "'beauty'", NULL);

    /* a file that is not there, or not YAML */
    char err[512] = "";
    assert_null(er_spec_load("/nonexistent/er.yaml", err, sizeof err));
    assert_contains(err, "/nonexistent/er.yaml");
    const char *p = s_write("notyaml.yaml", "kind: [unclosed\n");
    assert_null(er_spec_load(p, err, sizeof err));
    assert_contains(err, p);
}

/* ---- records ---- */

static void test_records_json(void **state)
{
    (void) state;
    er_spec_t *s = s_base_spec();
    er_data_t *d = er_data_new(s);
    char err[512] = "";
    /* NFD marks, white space runs, an id with separators */
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", "R1", "src", "qn", "name",
                          "  Nguye\xcc\x82\xcc\x83n   Va\xcc\x86n\tAn ", "birth", "1980-03-05", "pid", "0490 7875-9889",
                          "town", "T1", "updated", "2020-01-01T00:00:00Z");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), 0);
    json_decref(r);
    assert_string_equal(er_data_id(d, 0), "qn:R1");
    assert_string_equal(er_data_source(d, 0), "qn");
    assert_string_equal(er_data_value(d, 0, (size_t) s_field(s, "name")), "Nguyễn Văn An");
    assert_string_equal(er_data_value(d, 0, (size_t) s_field(s, "birth")), "1980-03-05");
    assert_string_equal(er_data_value(d, 0, (size_t) s_field(s, "pid")), "049078759889");
    assert_string_equal(er_data_value(d, 0, (size_t) s_field(s, "town")), "T1");
    assert_null(er_data_value(d, 0, (size_t) s_field(s, "blk")));   /* absent */

    /* a number as id; an impossible date is left absent, the record kept */
    r = json_pack("{s:i, s:s, s:s, s:s}", "id", 42, "src", "dn", "name", "Trần Thị Bích", "birth", "1981-02-30");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), 1);
    json_decref(r);
    assert_string_equal(er_data_id(d, 1), "dn:42");
    assert_null(er_data_value(d, 1, (size_t) s_field(s, "birth")));
    assert_string_equal(er_data_value(d, 1, (size_t) s_field(s, "name")), "Trần Thị Bích");

    /* no id, no source: refused with why */
    r = json_pack("{s:s, s:s}", "src", "qn", "name", "Lê Văn Tư");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), -1);
    assert_contains(err, "no record id at /id");
    json_decref(r);
    r = json_pack("{s:s, s:s}", "id", "R9", "name", "Lê Văn Tư");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), -1);
    assert_contains(err, "R9");
    assert_contains(err, "no source");
    json_decref(r);
    assert_int_equal(er_data_count(d), 2);

    /* lookup by id, values as JSON and back */
    assert_int_equal(er_data_find(d, "dn:42"), 1);
    assert_int_equal(er_data_find(d, "qn:42"), -1);
    /* a record added after a lookup is found too (the index is rebuilt) */
    r = json_pack("{s:s, s:s}", "id", "R3", "src", "qn");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), 2);
    json_decref(r);
    assert_int_equal(er_data_find(d, "qn:R3"), 2);
    assert_int_equal(er_data_find(d, "dn:42"), 1);
    er_data_clear(d);
    assert_int_equal(er_data_count(d), 0);
    assert_int_equal(er_data_find(d, "dn:42"), -1);
    r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", "R1", "src", "qn", "name",
                  "  Nguye\xcc\x82\xcc\x83n   Va\xcc\x86n\tAn ", "birth", "1980-03-05", "pid", "0490 7875-9889",
                  "town", "T1", "updated", "2020-01-01T00:00:00Z");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), 0);
    json_decref(r);
    r = json_pack("{s:i, s:s, s:s}", "id", 42, "src", "dn", "name", "Trần Thị Bích");
    assert_int_equal(er_data_add_json(d, r, err, sizeof err), 1);
    json_decref(r);
    assert_string_equal(er_data_value(d, 0, (size_t) s_field(s, "name")), "Nguyễn Văn An");
    json_t *v = er_data_values_json(d, 0);
    assert_string_equal(json_string_value(json_object_get(v, "id")), "qn:R1");
    assert_string_equal(json_string_value(json_object_get(v, "updated")), "2020-01-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "values"), "pid")), "049078759889");
    long k = er_data_add_values(d, v, err, sizeof err);
    assert_int_equal(k, 2);
    json_decref(v);
    /* values that cannot be read: refused, and no half record left */
    v = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "qn:R7", "source", "qn", "values", "name", "Lê Văn Tư", "birth",
                  "1980-13-45");
    assert_int_equal(er_data_add_values(d, v, err, sizeof err), -1);
    assert_contains(err, "record qn:R7: birth: not a date");
    json_decref(v);
    assert_int_equal(er_data_count(d), 3);
    assert_int_equal(er_data_find(d, "qn:R7"), -1);
    v = json_pack("{s:s, s:o}", "id", "no source", "values", json_object());
    assert_int_equal(er_data_add_values(d, v, err, sizeof err), -1);
    json_decref(v);
    assert_int_equal(er_data_count(d), 3);
    for (size_t f = 0; f < er_spec_field_count(s); f++) {
        const char *a = er_data_value(d, 0, f), *b = er_data_value(d, 2, f);
        assert_true((a == NULL) == (b == NULL));
        if (a)
            assert_string_equal(a, b);
    }
    /* the copy compares exactly on everything */
    for (size_t c = 0; c < s->ncomps; c++) {
        int l = er_level(s, &s->comps[c], d, 0, 2);
        assert_true(l == 0 || l == ER_MISSING);
    }
    er_data_destroy(&d);
    er_spec_destroy(&s);
}

typedef struct {
    char pos[8][256];
    char why[8][512];
    int n;
} bad_t;

static void s_bad_cb(const char *pos, const char *why, void *ctx)
{
    bad_t *b = ctx;
    if (b->n < 8) {
        snprintf(b->pos[b->n], sizeof b->pos[0], "%s", pos);
        snprintf(b->why[b->n], sizeof b->why[0], "%s", why);
    }
    b->n++;
}

static void test_records_jsonl(void **state)
{
    (void) state;
    er_spec_t *s = s_base_spec();
    er_data_t *d = er_data_new(s);
    const char *p = s_write("in.jsonl",
                            "{\"id\":\"A\",\"src\":\"qn\",\"name\":\"Phạm Văn Đức\",\"birth\":\"1975\"}\n"
                            "{\"id\":\"B\",\"src\":\"qn\",\"name\":\"Phạm Văn Đức\",\"birth\":\"1975-13-01\"}\n"
                            "{\"id\":\"C\",\"src\":\n"
                            "\n"
                            "{\"src\":\"qn\",\"name\":\"Phạm Văn Đức\"}\n"
                            "{\"payload\":{\"id\":\"E\",\"src\":\"dn\",\"birth\":\"1975-06\"},\"headers\":{}}\n");
    bad_t bad = {0};
    char err[512] = "", want[300];
    long n = er_data_load_file(d, p, 1, s_bad_cb, &bad, err, sizeof err);
    assert_int_equal(n, 3);
    assert_int_equal(er_data_count(d), 3);
    assert_int_equal(bad.n, 3);
    /* line 2: the record and the field named, the value left absent */
    snprintf(want, sizeof want, "%s:2", p);
    assert_string_equal(bad.pos[0], want);
    assert_contains(bad.why[0], "record qn:B: birth: not a date");
    assert_int_equal(er_data_find(d, "qn:B"), 1);
    assert_null(er_data_value(d, 1, (size_t) s_field(s, "birth")));
    assert_string_equal(er_data_value(d, 0, (size_t) s_field(s, "birth")), "1975");
    /* line 3: not JSON; line 5: no id */
    snprintf(want, sizeof want, "%s:3", p);
    assert_string_equal(bad.pos[1], want);
    snprintf(want, sizeof want, "%s:5", p);
    assert_string_equal(bad.pos[2], want);
    assert_contains(bad.why[2], "no record id");
    /* a bus envelope's payload is the record */
    assert_string_equal(er_data_id(d, 2), "dn:E");
    assert_string_equal(er_data_value(d, 2, (size_t) s_field(s, "birth")), "1975-06");

    /* a file that is not there */
    assert_int_equal(er_data_load_file(d, "/nonexistent/x.jsonl", 1, s_bad_cb, &bad, err, sizeof err), -1);
    assert_contains(err, "/nonexistent/x.jsonl");
    er_data_destroy(&d);
    er_spec_destroy(&s);
}

static void test_records_csv(void **state)
{
    (void) state;
    char err[512] = "", want[300];
    er_spec_t *s = er_spec_load(PERSON_SPEC, err, sizeof err);
    assert_non_null(s);
    /* foreign column names, a date format, the source named by the caller */
    assert_int_equal(er_spec_set_column(s, "id", "RecNo", NULL), 0);
    assert_int_equal(er_spec_set_column(s, "full_name", "FullName", NULL), 0);
    assert_int_equal(er_spec_set_column(s, "birth_date", "DOB", "dd/mm/yyyy"), 0);
    assert_int_equal(er_spec_set_column(s, "personal_id", "NationalID", NULL), 0);
    assert_int_equal(er_spec_set_column(s, "sex", "Gender", NULL), 0);
    assert_int_equal(er_spec_set_column(s, "nosuch", "X", NULL), -1);
    assert_int_equal(er_spec_set_column(s, "sex", "Gender", "dd/mm/yyyy"), -1);   /* not a date */
    assert_int_equal(er_spec_set_column(s, "birth_date", "DOB", "dd-mm-yy"), -1);  /* a format it cannot read */
    assert_int_equal(er_spec_set_column(s, "birth_date", "DOB", "dd/mm/yyyy"), 0);
    er_spec_set_source(s, "ext");
    const char *p = s_write("in.csv",
                            "\xEF\xBB\xBFRecNo,FullName,DOB,NationalID,Gender,Note\n"
                            "1,Võ Thị Hạnh,05/03/1980,049 180 000 111,female,x\n"
                            "2,\"Vo Thi Hanh\",5/3/1980,049180000111,female,\"a, b\"\n"
                            "3,Đỗ Văn Khoa,31/02/1979,,male,\n"
                            "\n"
                            ",Đỗ Văn Khoa,01/01/1979,,male,\n"
                            "5,Đỗ Văn Khoa,,,male,\n");
    er_data_t *d = er_data_new(s);
    bad_t bad = {0};
    long n = er_data_load_file(d, p, 1, s_bad_cb, &bad, err, sizeof err);
    if (n < 0)
        fail_msg("%s", err);
    assert_int_equal(n, 4);   /* every row but the one without an id */
    int fn = s_field(s, "full_name"), fb = s_field(s, "birth_date"), fp = s_field(s, "personal_id");
    assert_string_equal(er_data_id(d, 0), "ext:1");
    assert_string_equal(er_data_source(d, 0), "ext");
    assert_string_equal(er_data_value(d, 0, (size_t) fn), "Võ Thị Hạnh");
    assert_string_equal(er_data_value(d, 0, (size_t) fb), "1980-03-05");
    assert_string_equal(er_data_value(d, 1, (size_t) fb), "1980-03-05");
    assert_string_equal(er_data_value(d, 0, (size_t) fp), "049180000111");
    assert_string_equal(er_data_value(d, 1, (size_t) fn), "Vo Thi Hanh");
    /* 31/02: reported with file, line, record and field; left absent */
    assert_int_equal(bad.n, 2);
    snprintf(want, sizeof want, "%s:4", p);
    assert_string_equal(bad.pos[0], want);
    assert_contains(bad.why[0], "record ext:3: birth_date: not a date");
    assert_int_equal(er_data_find(d, "ext:3"), 2);
    assert_null(er_data_value(d, 2, (size_t) fb));
    assert_string_equal(er_data_value(d, 2, (size_t) fn), "Đỗ Văn Khoa");
    snprintf(want, sizeof want, "%s:6", p);
    assert_string_equal(bad.pos[1], want);
    assert_contains(bad.why[1], "id");
    assert_null(er_data_value(d, 3, (size_t) fb));   /* empty: absent, no report */
    er_data_destroy(&d);

    /* a column the header does not have: the file is refused, naming it */
    assert_int_equal(er_spec_set_column(s, "cmnd", "OldID", NULL), 0);
    d = er_data_new(s);
    assert_int_equal(er_data_load_file(d, p, 1, s_bad_cb, &bad, err, sizeof err), -1);
    assert_contains(err, p);
    assert_contains(err, "field cmnd: no column 'OldID'");
    er_data_destroy(&d);
    er_spec_destroy(&s);

    /* the other date formats */
    static const struct { const char *fmt, *in, *out; } dates[] = {
        {"mm/dd/yyyy", "03/05/1980", "1980-03-05"}, {"dd.mm.yyyy", "05.03.1980", "1980-03-05"},
        {"yyyymmdd", "19800305", "1980-03-05"},     {"yyyy", "1980", "1980"},
        {"yyyy-mm-dd", "1980-03-05", "1980-03-05"}, {"yyyy-mm-dd", "1980-03", "1980-03"},
        {"dd/mm/yyyy", "29/02/2000", "2000-02-29"}, {"dd/mm/yyyy", "29/02/1900", NULL},
        {"dd/mm/yyyy", "1980-03-05", NULL},         {"yyyymmdd", "1980035", NULL},
        {"mm/dd/yyyy", "13/05/1980", NULL},
    };
    for (size_t k = 0; k < sizeof dates / sizeof *dates; k++) {
        s = er_spec_load(PERSON_SPEC, err, sizeof err);
        assert_int_equal(er_spec_set_column(s, "birth_date", "d", dates[k].fmt), 0);
        assert_int_equal(er_spec_set_column(s, "id", "i", NULL), 0);
        er_spec_set_source(s, "ext");
        char text[128];
        snprintf(text, sizeof text, "i,d\n1,%s\n", dates[k].in);
        p = s_write("date.csv", text);
        d = er_data_new(s);
        bad_t b = {0};
        assert_int_equal(er_data_load_file(d, p, 1, s_bad_cb, &b, err, sizeof err), 1);
        const char *got = er_data_value(d, 0, (size_t) s_field(s, "birth_date"));
        if (dates[k].out) {
            if (!got || strcmp(got, dates[k].out))
                fail_msg("%s %s: got %s, expected %s", dates[k].fmt, dates[k].in, got ? got : "(absent)", dates[k].out);
            assert_int_equal(b.n, 0);
        } else {
            if (got)
                fail_msg("%s %s: read as %s", dates[k].fmt, dates[k].in, got);
            assert_int_equal(b.n, 1);
            assert_contains(b.why[0], "birth_date");
        }
        er_data_destroy(&d);
        er_spec_destroy(&s);
    }
}

/* ---- comparison levels ---- */

/* Adds a record to d from "field=value" pairs (person.yaml's fields). */
static size_t s_rec(er_data_t *d, const char *id, const char *src, ...)
{
    json_t *vals = json_object();
    va_list ap;
    va_start(ap, src);
    for (const char *kv; (kv = va_arg(ap, const char *));) {
        const char *eq = strchr(kv, '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int) (eq - kv), kv);
        json_object_set_new(vals, key, json_string(eq + 1));
    }
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s, s:o}", "id", id, "source", src, "values", vals);
    char err[512] = "";
    long i = er_data_add_values(d, o, err, sizeof err);
    json_decref(o);
    if (i < 0)
        fail_msg("%s: %s", id, err);
    return (size_t) i;
}

static int s_level2(const er_spec_t *s, const char *comp, const char *field, const char *a, const char *b)
{
    er_data_t *d = er_data_new(s);
    char fa[256], fb[256];
    snprintf(fa, sizeof fa, "%s=%s", field, a);
    snprintf(fb, sizeof fb, "%s=%s", field, b);
    size_t x = s_rec(d, "t:a", "t", a ? fa : NULL, NULL), y = s_rec(d, "t:b", "t", b ? fb : NULL, NULL);
    int c = s_comp(s, comp);
    int l = er_level(s, &s->comps[c], d, x, y);
    /* symmetric */
    assert_int_equal(l, er_level(s, &s->comps[c], d, y, x));
    er_data_destroy(&d);
    return l;
}

#define assert_level(s, comp, field, a, b, want)                                                          \
    do {                                                                                                  \
        int l_ = s_level2((s), (comp), (field), (a), (b));                                                \
        if (l_ != (want))                                                                                 \
            fail_msg("%s '%s' vs '%s': level %d, expected %d", (comp), (a) ? (a) : "-", (b) ? (b) : "-", \
                     l_, (want));                                                                         \
    } while (0)

static void test_levels(void **state)
{
    (void) state;
    char err[512] = "";
    er_spec_t *s = er_spec_load(PERSON_SPEC, err, sizeof err);
    assert_non_null(s);
    const char *const *nl = s->comps[s_comp(s, "name")].level_names;
    assert_string_equal(nl[0], "exact");
    /* names: exact (case and white space do not count) */
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "Nguyễn Văn An", 0);
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "NGUYỄN  văn an", 0);
    /* without marks (and đ written d) */
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "Nguyen Van An", 1);
    assert_level(s, "name", "full_name", "Đặng Thị Hồng", "Dang Thi Hong", 1);
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "Nguyễn Vân An", 1);   /* another mark: same key */
    /* the parts in another order */
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "Văn An Nguyễn", 2);
    assert_level(s, "name", "full_name", "Lê Thị Thu Hà", "Thu Hà Lê Thị", 2);
    /* similar: one letter off in a long name */
    assert_level(s, "name", "full_name", "Nguyễn Văn Cường", "Nguyễn Văn Cương", 1);
    assert_level(s, "name", "full_name", "Nguyễn Văn Cường", "Nguyễn Văn Cườnh", 3);
    assert_level(s, "name", "full_name", "Huỳnh Thị Phương Thảo", "Huỳnh Thị Phượng Thảo", 1);
    assert_level(s, "name", "full_name", "Huỳnh Thị Phương Thảo", "Huỳnh Thị Phương Thả", 3);
    /* one edit at the start of a short name: Jaro-Winkler 0.87 on the keys,
     * below the threshold; Damerau-Levenshtein 1 keeps it "similar" */
    assert_level(s, "name", "full_name", "Lý An", "Ký An", 3);
    /* somewhat similar: the same family name, the rest another (Jaro-Winkler
     * 0.88 and 0.86 on the keys); a common prefix this long is still no
     * "similar" */
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "Nguyễn Thị Lan", 4);
    assert_level(s, "name", "full_name", "Nguyễn Văn Long", "Nguyễn Hữu Lâm", 4);
    /* ... while the same family and middle name with a near given name is */
    assert_level(s, "name", "full_name", "Nguyễn Văn Long", "Nguyễn Văn Lâm", 3);
    /* different */
    assert_level(s, "name", "full_name", "Nguyễn Văn An", "Trần Thị Bích", 5);
    assert_level(s, "name", "full_name", "Phạm Minh", "Hoàng Yến", 5);
    /* a side absent */
    assert_level(s, "name", "full_name", "Nguyễn Văn An", NULL, ER_MISSING);
    assert_level(s, "name", "full_name", NULL, NULL, ER_MISSING);

    /* dates */
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1980-03-05", 0);
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1980-05-03", 1);   /* day and month swapped */
    assert_level(s, "birth_date", "birth_date", "1980", "1980-05-03", 2);         /* year only, agreeing */
    assert_level(s, "birth_date", "birth_date", "1980-05", "1980-05-03", 2);
    assert_level(s, "birth_date", "birth_date", "1980", "1980", 2);               /* partial: says less */
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1980-03-15", 3);   /* one typo */
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1989-03-05", 3);   /* a year digit */
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1980-11-20", 4);   /* only the year */
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1981-11-20", 4);   /* within 1 */
    assert_level(s, "birth_date", "birth_date", "1980-03-05", "1975-03-05", 5);
    assert_level(s, "birth_date", "birth_date", "1980", "1990-05-03", 5);
    assert_level(s, "birth_date", "birth_date", "1980-03-05", NULL, ER_MISSING);

    /* identifiers: spaces and dashes are not part of them */
    assert_level(s, "personal_id", "personal_id", "049078759889", "049 078 759 889", 0);
    assert_level(s, "personal_id", "personal_id", "049078759889", "049078759880", 1);   /* one digit off */
    assert_level(s, "personal_id", "personal_id", "049078759889", "049078759898", 2);   /* transposed */
    assert_level(s, "personal_id", "personal_id", "049078759889", "048078759880", 3);
    assert_level(s, "personal_id", "personal_id", "049078759889", "04907875988", 3);    /* shorter */
    assert_level(s, "personal_id", "personal_id", "049078759889", NULL, ER_MISSING);
    assert_level(s, "cmnd", "cmnd", "201234567", "201234567", 0);
    assert_level(s, "cmnd", "cmnd", "201234567", "201243567", 2);

    /* exact */
    assert_level(s, "sex", "sex", "female", "female", 0);
    assert_level(s, "sex", "sex", "female", "male", 1);
    assert_level(s, "commune", "commune", "20551", "20551", 0);
    assert_level(s, "commune", "commune", "20551", "20552", 1);
    assert_level(s, "commune", "commune", NULL, "20552", ER_MISSING);
    /* family names compare as names */
    assert_level(s, "father", "father", "Nguyễn Văn Vỹ", "Nguyen Van Vy", 1);
    er_spec_destroy(&s);
}

/* ---- EM on synthetic data with a known m ---- */

static uint64_t s_seed = 0x2545F4914F6CDD1DULL;
static uint64_t s_rand(void)
{
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return s_seed * 0x2545F4914F6CDD1DULL;
}
static double s_unif(void) { return (double) (s_rand() >> 11) / 9007199254740992.0; }

typedef struct {
    char **v;
    size_t n;
} list_t;

/* The first column of a names CSV (after its header). */
static list_t s_names(const char *file)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/%s", NAMES_DATA_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s: cannot read", path);
    list_t l = {NULL, 0};
    bool header = true;
    while (fgets(line, sizeof line, f)) {
        if (header) {
            header = false;
            continue;
        }
        line[strcspn(line, ",\r\n")] = '\0';
        if (!*line)
            continue;
        l.v = realloc(l.v, (l.n + 1) * sizeof *l.v);
        l.v[l.n++] = strdup(line);
    }
    fclose(f);
    assert_true(l.n > 20);
    return l;
}

static void s_list_free(list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

typedef struct {
    char name[160], birth[16], pid[16], town[8];
    bool has_pid;
} person_t;

static void s_person(person_t *p, const list_t *sur, const list_t *mid, const list_t *giv)
{
    snprintf(p->name, sizeof p->name, "%s %s %s", sur->v[s_rand() % sur->n], mid->v[s_rand() % mid->n],
             giv->v[s_rand() % giv->n]);
    snprintf(p->birth, sizeof p->birth, "%04d-%02d-%02d", 1940 + (int) (s_rand() % 66), 1 + (int) (s_rand() % 12),
             1 + (int) (s_rand() % 28));
    for (int k = 0; k < 12; k++)
        p->pid[k] = (char) ('0' + s_rand() % 10);
    p->pid[12] = '\0';
    p->has_pid = true;
    snprintf(p->town, sizeof p->town, "T%d", (int) (s_rand() % 8));
}

/* The second record of a true pair, with controlled disagreements. */
static void s_variant(const person_t *a, person_t *b, const list_t *giv)
{
    *b = *a;
    double r = s_unif();
    if (r < 0.15) {
        char *key = NULL;
        size_t bad;
        assert_int_equal(vntext_key(a->name, strlen(a->name), &key, &bad), 0);
        snprintf(b->name, sizeof b->name, "%s", key);   /* no marks */
        free(key);
    } else if (r < 0.25) {
        /* another given name: a clerk's mistake or a second name */
        char *last = strrchr(b->name, ' ');
        snprintf(last + 1, sizeof b->name - (size_t) (last + 1 - b->name), "%s", giv->v[s_rand() % giv->n]);
    }
    r = s_unif();
    int y, m, d;
    sscanf(a->birth, "%d-%d-%d", &y, &m, &d);
    if (r < 0.10)
        snprintf(b->birth, sizeof b->birth, "%04d-%02d-%02d", y, m, d % 28 + 1);   /* a day typo */
    else if (r < 0.20)
        snprintf(b->birth, sizeof b->birth, "%04d", y);                             /* year only */
    r = s_unif();
    if (r < 0.10)
        b->has_pid = false;
    else if (r < 0.20)
        b->pid[5] = (char) ('0' + (b->pid[5] - '0' + 1) % 10);   /* one digit off */
    if (s_unif() < 0.15)
        snprintf(b->town, sizeof b->town, "T%d", (int) ((a->town[1] - '0' + 1) % 8));   /* moved */
}

static void s_add_person(er_data_t *d, const person_t *p, size_t k, const char *blk, const char *src)
{
    char id[32];
    snprintf(id, sizeof id, "R%zu", k);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "src", src, "name", p->name, "birth", p->birth,
                          "town", p->town, "blk", blk);
    if (p->has_pid)
        json_object_set_new(r, "pid", json_string(p->pid));
    char err[512] = "";
    if (er_data_add_json(d, r, err, sizeof err) < 0)
        fail_msg("%s", err);
    json_decref(r);
}

static void test_em_convergence(void **state)
{
    (void) state;
    er_spec_t *s = s_base_spec();
    list_t sur = s_names("surnames.csv"), mid = s_names("middle_names.csv"), giv = s_names("given_names.csv");
    er_data_t *d = er_data_new(s);
    /* blocks of six records: two true pairs and two people seen once; the
     * block key says nothing about the people, so every comparison of a
     * pair inside a block is observed as it is */
    enum { BLOCKS = 800 };
    size_t n = 0;
    uint32_t *truth = malloc(BLOCKS * 6 * sizeof *truth);
    uint32_t ent = 0;
    s_seed = 0x2545F4914F6CDD1DULL;
    for (int b = 0; b < BLOCKS; b++) {
        char blk[16];
        snprintf(blk, sizeof blk, "B%d", b);
        for (int e = 0; e < 4; e++) {
            person_t p, q;
            s_person(&p, &sur, &mid, &giv);
            s_add_person(d, &p, n, blk, "qn");
            truth[n++] = ent;
            if (e < 2) {
                s_variant(&p, &q, &giv);
                s_add_person(d, &q, n, blk, "dn");
                truth[n++] = ent;
            }
            ent++;
        }
    }
    assert_int_equal(er_data_count(d), n);

    /* the true m: the levels of the true pairs, counted */
    double mt[ER_MAX_COMPS][ER_MAX_LEVELS] = {{0}}, nt[ER_MAX_COMPS] = {0};
    for (size_t i = 0; i + 1 < n; i++)
        if (truth[i] == truth[i + 1])
            for (size_t c = 0; c < s->ncomps; c++) {
                int l = er_level(s, &s->comps[c], d, i, i + 1);
                if (l != ER_MISSING)
                    mt[c][l]++, nt[c]++;
            }
    for (size_t c = 0; c < s->ncomps; c++)
        for (int l = 0; l < s->comps[c].nlevels; l++)
            mt[c][l] /= nt[c];

    er_model_t *m = er_model_new(s);
    er_options_t opt = {.threads = 2, .estimate = true, .u_pairs = 200000, .quiet = true};
    char err[512] = "";
    er_run_t *run = er_run_batch(d, m, NULL, 0, &opt, err, sizeof err);
    if (!run)
        fail_msg("%s", err);
    const er_stats_t *st = er_run_stats(run);
    assert_true(m->trained);
    /* EM converged, well before its limit, in every session */
    print_message("EM: %zu iterations over %zu sessions; lambda %.3g\n", st->em_iterations, s->nrules,
                  er_model_lambda(m));
    assert_true(st->em_iterations > 0);
    assert_true(st->em_iterations < (size_t) s->em_max_iter * s->nrules);
    /* the model as JSON (what the store and model.json keep) and back */
    json_t *mj = er_model_to_json(m);
    assert_int_equal(json_integer_value(json_object_get(mj, "em_iterations")), (json_int_t) st->em_iterations);
    er_model_t *m2 = er_model_from_json(s, mj, err, sizeof err);
    if (!m2)
        fail_msg("%s", err);
    assert_near(er_model_lambda(m2), er_model_lambda(m), 1e-12);
    for (size_t c = 0; c < s->ncomps; c++)
        for (int l = 0; l < s->comps[c].nlevels; l++) {
            assert_near(m2->m[c][l], m->m[c][l], 1e-9);
            assert_near(m2->u[c][l], m->u[c][l], 1e-9);
            assert_near(m2->w[c][l], m->w[c][l], 1e-6);
        }
    er_model_build_tf(m2, d);
    for (size_t i = 0; i + 1 < n; i += 97) {
        double w1 = er_score(m, d, i, i + 1, NULL), w2 = er_score(m2, d, i, i + 1, NULL);
        assert_near(w2, w1, 1e-6);
    }
    er_model_destroy(&m2);
    /* a model of another kind, or with a level missing, is refused */
    json_object_set_new(mj, "kind", json_string("parcel"));
    assert_null(er_model_from_json(s, mj, err, sizeof err));
    assert_contains(err, "kind");
    json_object_set_new(mj, "kind", json_string("emtest"));
    json_array_remove(json_object_get(json_array_get(json_object_get(mj, "comparisons"), 0), "levels"), 0);
    assert_null(er_model_from_json(s, mj, err, sizeof err));
    assert_contains(err, "name");
    json_decref(mj);

    /* the estimated m of the main levels is the true one */
    static const struct { const char *comp; int level; } main_levels[] = {
        {"name", 0}, {"name", 1}, {"birth", 0}, {"birth", 2}, {"birth", 3},
        {"pid", 0},  {"pid", 1},  {"town", 0},  {"town", 1},
    };
    for (size_t k = 0; k < sizeof main_levels / sizeof *main_levels; k++) {
        int c = s_comp(s, main_levels[k].comp), l = main_levels[k].level;
        double est = m->m[c][l], want = mt[c][l];
        print_message("m(%s = %s): estimated %.4f, true %.4f\n", main_levels[k].comp, s->comps[c].level_names[l],
                      est, want);
        if (fabs(est - want) > 0.04)
            fail_msg("m(%s = %s): estimated %.4f, true %.4f", main_levels[k].comp, s->comps[c].level_names[l], est,
                     want);
    }
    /* u is the share among random pairs: towns agree one time in eight */
    int ct = s_comp(s, "town");
    assert_near(m->u[ct][0], 1.0 / 8, 0.01);
    assert_true(m->u[s_comp(s, "pid")][0] < 1e-3);
    /* the prior: true pairs among all pairs (within a factor of 2) */
    double all = (double) n * (double) (n - 1) / 2, lambda = (double) BLOCKS * 2 / all;
    if (!(er_model_lambda(m) > lambda / 2 && er_model_lambda(m) < lambda * 2))
        fail_msg("lambda %.3g, true %.3g", er_model_lambda(m), lambda);

    /* and the clusters are the true ones, nearly */
    double tp = 0, pred = 0, truep = BLOCKS * 2;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n && j < i + 6; j++) {
            bool same = er_run_cluster_of(run, i) == er_run_cluster_of(run, j);
            pred += same;
            tp += same && truth[i] == truth[j];
        }
    assert_true(pred > 0);
    if (tp / pred < 0.99 || tp / truep < 0.95)
        fail_msg("pair precision %.4f, recall %.4f", tp / pred, tp / truep);

    er_run_destroy(&run);
    er_model_destroy(&m);
    er_data_destroy(&d);
    free(truth);
    s_list_free(&sur), s_list_free(&mid), s_list_free(&giv);
    er_spec_destroy(&s);
}

/* ---- clustering: chains, cannot_link, decisions ---- */

static const char s_chain_spec[] =
    "kind: chain\n"
    "record:\n"
    "  id: { from: /id }\n"
    "  source: { from: /src }\n"
    "fields:\n"
    "  f1: { type: code, from: /f1 }\n"
    "  f2: { type: code, from: /f2 }\n"
    "  f3: { type: code, from: /f3 }\n"
    "  f4: { type: code, from: /f4 }\n"
    "  f5: { type: code, from: /f5 }\n"
    "  f6: { type: code, from: /f6 }\n"
    "  f7: { type: code, from: /f7 }\n"
    "  f8: { type: code, from: /f8 }\n"
    "  pid: { type: id, from: /pid }\n"
    "  blk: { type: code, from: /blk }\n"
    "comparisons:\n"
    "  - { name: c1, field: f1, method: exact }\n"
    "  - { name: c2, field: f2, method: exact }\n"
    "  - { name: c3, field: f3, method: exact }\n"
    "  - { name: c4, field: f4, method: exact }\n"
    "  - { name: c5, field: f5, method: exact }\n"
    "  - { name: c6, field: f6, method: exact }\n"
    "  - { name: c7, field: f7, method: exact }\n"
    "  - { name: c8, field: f8, method: exact }\n"
    "  - { name: pid, field: pid, method: id, cannot_link: true }\n"
    "blocking:\n"
    "  rules: [blk]\n"
    "model:\n"
    "  prior: 0.001\n"
    "thresholds: { match: 0.95, review: 0.40 }\n";

/* A model with fixed m and u: an equal code weighs log2(0.95 / 0.01) =
 * +6.6, a different one log2(0.05 / 0.99) = -4.3; the prior -10. */
static er_model_t *s_chain_model(const er_spec_t *s)
{
    json_t *comps = json_array();
    for (int c = 1; c <= 8; c++) {
        char name[8];
        snprintf(name, sizeof name, "c%d", c);
        json_array_append_new(comps, json_pack("{s:s, s:[{s:f, s:f}, {s:f, s:f}]}", "name", name, "levels", "m", 0.95,
                                               "u", 0.01, "m", 0.05, "u", 0.99));
    }
    json_array_append_new(comps, json_pack("{s:s, s:[{s:f, s:f}, {s:f, s:f}, {s:f, s:f}, {s:f, s:f}]}", "name", "pid",
                                           "levels", "m", 0.90, "u", 0.0001, "m", 0.04, "u", 0.001, "m", 0.03, "u",
                                           0.0005, "m", 0.03, "u", 0.9984));
    json_t *j = json_pack("{s:s, s:f, s:o}", "kind", "chain", "lambda", 0.001, "comparisons", comps);
    char err[512] = "";
    er_model_t *m = er_model_from_json(s, j, err, sizeof err);
    json_decref(j);
    if (!m)
        fail_msg("%s", err);
    return m;
}

/* "ppppr---": f1..f8 from the letters ('-' absent). */
static size_t s_crec(er_data_t *d, const char *id, const char *codes, const char *pid)
{
    json_t *r = json_pack("{s:s, s:s, s:s}", "id", id, "src", "t", "blk", "b");
    for (int k = 0; k < 8 && codes[k]; k++)
        if (codes[k] != '-') {
            char f[4], v[2] = {codes[k], 0};
            snprintf(f, sizeof f, "f%d", k + 1);
            json_object_set_new(r, f, json_string(v));
        }
    if (pid)
        json_object_set_new(r, "pid", json_string(pid));
    char err[512] = "";
    long i = er_data_add_json(d, r, err, sizeof err);
    json_decref(r);
    if (i < 0)
        fail_msg("%s", err);
    return (size_t) i;
}

typedef struct {
    er_spec_t *s;
    er_model_t *m;
    er_data_t *d;
} chain_t;

static int s_chain_setup(void **state)
{
    chain_t *c = calloc(1, sizeof *c);
    char err[512] = "";
    c->s = er_spec_load(s_write("chain.yaml", s_chain_spec), err, sizeof err);
    if (!c->s) {
        fprintf(stderr, "chain spec: %s\n", err);
        return -1;
    }
    c->m = s_chain_model(c->s);
    c->d = er_data_new(c->s);
    *state = c;
    return 0;
}

static int s_chain_teardown(void **state)
{
    chain_t *c = *state;
    er_data_destroy(&c->d);
    er_model_destroy(&c->m);
    er_spec_destroy(&c->s);
    free(c);
    return 0;
}

static er_run_t *s_run(chain_t *c, const er_decision_t *dec, size_t ndec)
{
    er_options_t opt = {.threads = 1, .estimate = false, .quiet = true};
    char err[512] = "";
    er_run_t *r = er_run_batch(c->d, c->m, dec, ndec, &opt, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    return r;
}

/* Connected components of the pairs at or above the match threshold: what
 * a clustering that does not resist chains would make. */
static void s_components(chain_t *c, uint32_t *comp)
{
    size_t n = er_data_count(c->d);
    for (size_t i = 0; i < n; i++)
        comp[i] = (uint32_t) i;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                double p;
                er_score(c->m, c->d, i, j, &p);
                if (p >= er_threshold_match(c->m) && comp[i] != comp[j]) {
                    uint32_t lo = comp[i] < comp[j] ? comp[i] : comp[j];
                    comp[i] = comp[j] = lo;
                    changed = true;
                }
            }
    }
}

static void test_cluster_chaining(void **state)
{
    chain_t *c = *state;
    /* B shares f1..f4 with A and f5..f8 with C; A and C disagree on f1 and f5 */
    size_t a = s_crec(c->d, "A", "ppppr---", NULL), b = s_crec(c->d, "B", "ppppqqqq", NULL),
           x = s_crec(c->d, "C", "s---qqqq", NULL);
    double pab, pbc, pac;
    er_score(c->m, c->d, a, b, &pab);
    er_score(c->m, c->d, b, x, &pbc);
    er_score(c->m, c->d, a, x, &pac);
    assert_true(pab >= 0.999 && pbc >= 0.999);
    assert_true(pac < 1e-4);
    assert_true(pac < er_threshold_review(c->m));
    /* bare connected components join all three */
    uint32_t comp[3];
    s_components(c, comp);
    assert_int_equal(comp[a], comp[x]);
    /* the engine does not */
    uint32_t ab[2] = {(uint32_t) a, (uint32_t) b}, cc[1] = {(uint32_t) x}, bb[1] = {(uint32_t) b};
    assert_false(er_can_merge(c->m, c->d, ab, 2, cc, 1));
    assert_true(er_can_merge(c->m, c->d, bb, 1, cc, 1));
    er_run_t *r = s_run(c, NULL, 0);
    assert_int_not_equal(er_run_cluster_of(r, a), er_run_cluster_of(r, x));
    /* B went with one of them */
    assert_true(er_run_cluster_of(r, b) == er_run_cluster_of(r, a) || er_run_cluster_of(r, b) == er_run_cluster_of(r, x));
    assert_int_equal(er_run_cluster_count(r), 2);
    const er_stats_t *st = er_run_stats(r);
    assert_int_equal(st->matches, 2);
    assert_true(st->refused_merges >= 1);
    /* the refused merge is left for a human */
    assert_true(er_run_review_count(r) >= 1);
    bool found = false;
    for (size_t k = 0; k < er_run_review_count(r); k++) {
        uint32_t ra, rb;
        double p;
        er_run_review_pair(r, k, &ra, &rb, &p);
        found = found || (p >= 0.999 && (ra == b || rb == b));
    }
    assert_true(found);
    er_run_destroy(&r);
}

/* A longer chain: A1 ~ A2 ~ ... ~ A6, each next one shifted by a field,
 * so that the ends have nothing in common but the links are all strong. */
static void test_cluster_long_chain(void **state)
{
    chain_t *c = *state;
    static const char *const recs[] = {"pppppp--", "ppppppq-", "-pppppqq", "--ppppqq", "s--pppqq", "ss--ppqq"};
    for (size_t i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof id, "L%zu", i);
        s_crec(c->d, id, recs[i], NULL);
    }
    uint32_t comp[6];
    s_components(c, comp);
    for (size_t i = 1; i < 6; i++)
        assert_int_equal(comp[i], comp[0]);   /* one component */
    er_run_t *r = s_run(c, NULL, 0);
    assert_int_not_equal(er_run_cluster_of(r, 0), er_run_cluster_of(r, 5));
    /* every cluster the engine made holds only pairs that would at least be reviewed */
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++)
            if (er_run_cluster_of(r, i) == er_run_cluster_of(r, j)) {
                double p;
                er_score(c->m, c->d, i, j, &p);
                if (p < er_threshold_review(c->m))
                    fail_msg("L%zu and L%zu in one cluster with probability %.3g", i, j, p);
            }
    er_run_destroy(&r);
}

static void test_cluster_cannot_link(void **state)
{
    chain_t *c = *state;
    /* everything equal; E's personal id one digit off D's, F's another one */
    size_t d = s_crec(c->d, "D", "pppppppp", "012345678901"), e = s_crec(c->d, "E", "pppppppp", "012345678902"),
           f = s_crec(c->d, "F", "pppppppp", "987654321098");
    double p;
    er_score(c->m, c->d, d, f, &p);
    assert_true(p >= er_threshold_match(c->m));   /* the model alone would merge */
    uint32_t comp[3];
    s_components(c, comp);
    assert_int_equal(comp[d], comp[f]);
    er_run_t *r = s_run(c, NULL, 0);
    assert_int_equal(er_run_cluster_of(r, d), er_run_cluster_of(r, e));   /* one digit off: a typo */
    assert_int_not_equal(er_run_cluster_of(r, d), er_run_cluster_of(r, f));
    assert_int_not_equal(er_run_cluster_of(r, e), er_run_cluster_of(r, f));
    assert_true(er_run_stats(r)->refused_merges >= 1);
    er_run_destroy(&r);
    /* and a missing id is no conflict */
    size_t g = s_crec(c->d, "G", "pppppppp", NULL);
    r = s_run(c, NULL, 0);
    assert_true(er_run_cluster_of(r, g) == er_run_cluster_of(r, d) || er_run_cluster_of(r, g) == er_run_cluster_of(r, f));
    er_run_destroy(&r);
}

static void test_cluster_decisions(void **state)
{
    chain_t *c = *state;
    size_t g = s_crec(c->d, "G", "pppppppp", NULL), h = s_crec(c->d, "H", "pppppppp", NULL),
           i = s_crec(c->d, "I", "qqqqqqqq", NULL), j = s_crec(c->d, "J", "rrrrrrrr", NULL),
           k = s_crec(c->d, "K", "ssssssss", NULL), l = s_crec(c->d, "L", "ssssssss", NULL),
           m = s_crec(c->d, "M", "ssssssss", NULL);
    er_run_t *r = s_run(c, NULL, 0);
    assert_int_equal(er_run_cluster_of(r, g), er_run_cluster_of(r, h));
    assert_int_not_equal(er_run_cluster_of(r, i), er_run_cluster_of(r, j));
    assert_int_equal(er_run_cluster_of(r, k), er_run_cluster_of(r, m));
    er_run_destroy(&r);
    /* unlink a strong pair, link two records with nothing in common,
     * unlink the ends of a triangle; decisions about records not in the
     * run change nothing */
    const er_decision_t dec[] = {
        {2, "t:G", "t:H"}, {1, "t:I", "t:J"}, {2, "t:K", "t:M"}, {2, "t:G", "t:nobody"}, {1, "t:nobody", "t:I"},
    };
    r = s_run(c, dec, sizeof dec / sizeof *dec);
    assert_int_not_equal(er_run_cluster_of(r, g), er_run_cluster_of(r, h));
    assert_int_equal(er_run_cluster_of(r, i), er_run_cluster_of(r, j));
    assert_int_not_equal(er_run_cluster_of(r, k), er_run_cluster_of(r, m));
    /* L still goes with one of them */
    assert_true(er_run_cluster_of(r, l) == er_run_cluster_of(r, k) || er_run_cluster_of(r, l) == er_run_cluster_of(r, m));
    size_t nm;
    const uint32_t *mem = er_run_members(r, er_run_cluster_of(r, i), &nm);
    assert_int_equal(nm, 2);
    assert_true((mem[0] == i && mem[1] == j) || (mem[0] == j && mem[1] == i));
    er_run_destroy(&r);
}

/* ---- golden records ---- */

static void s_golden_is(json_t *g, const char *field, const char *value, const char *record)
{
    json_t *o = json_object_get(g, field);
    if (!o)
        fail_msg("golden: no %s", field);
    const char *v = json_string_value(json_object_get(o, "value")), *r = json_string_value(json_object_get(o, "record"));
    if (!v || strcmp(v, value) || !r || strcmp(r, record))
        fail_msg("golden %s: %s from %s, expected %s from %s", field, v ? v : "-", r ? r : "-", value, record);
    const char *src = json_string_value(json_object_get(o, "source"));
    assert_non_null(src);
    assert_int_equal(strncmp(record, src, strlen(src)), 0);   /* the source of that record */
}

static void test_golden(void **state)
{
    (void) state;
    char err[512] = "";
    er_spec_t *s = er_spec_load(PERSON_SPEC, err, sizeof err);   /* trust: dn-population, qn-population */
    assert_non_null(s);
    er_data_t *d = er_data_new(s);
    static const char *const rec[3][3] = {
        {"qn-population:1", "qn-population", "2020-01-01T00:00:00Z"},
        {"dn-population:2", "dn-population", "2019-01-01T00:00:00Z"},
        {"dn-population:3", "dn-population", "2021-06-01T00:00:00Z"},
    };
    /* the records' last change goes in as "updated" */
    json_t *vals[3] = {
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "full_name", "Trần Thị Bích", "birth_date", "1980", "personal_id",
                  "012345678901", "cmnd", "201234567", "commune", "20551", "sex", "female"),
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "full_name", "Tran Thi Bich", "birth_date", "1980-03-05", "cmnd",
                  "201234568", "commune", "20552", "sex", "female"),
        json_pack("{s:s, s:s, s:s, s:s}", "full_name", "Tran Thi Bich", "birth_date", "1980-03", "commune", "20553",
                  "mother", "Lý Thị Mai"),
    };
    for (int k = 0; k < 3; k++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "id", rec[k][0], "source", rec[k][1], "updated", rec[k][2],
                              "values", vals[k]);
        assert_int_equal(er_data_add_values(d, o, err, sizeof err), k);
        json_decref(o);
    }
    er_model_t *m = er_model_new(s);
    const er_decision_t dec[] = {{1, rec[0][0], rec[1][0]}, {1, rec[1][0], rec[2][0]}};
    er_options_t opt = {.threads = 1, .estimate = false, .quiet = true};
    er_run_t *run = er_run_batch(d, m, dec, 2, &opt, err, sizeof err);
    assert_non_null(run);
    assert_int_equal(er_run_cluster_count(run), 1);
    json_t *g = er_run_golden(run, 0);
    /* completeness first: the name with its marks (from the less trusted
     * source), the full date */
    s_golden_is(g, "full_name", "Trần Thị Bích", rec[0][0]);
    s_golden_is(g, "birth_date", "1980-03-05", rec[1][0]);
    /* then trust: dn-population's CMND, though qn-population's is newer */
    s_golden_is(g, "cmnd", "201234568", rec[1][0]);
    /* then recency among dn-population's communes */
    s_golden_is(g, "commune", "20553", rec[2][0]);
    /* a value only one record has */
    s_golden_is(g, "personal_id", "012345678901", rec[0][0]);
    s_golden_is(g, "mother", "Lý Thị Mai", rec[2][0]);
    /* all equal: trust, then the most recent */
    s_golden_is(g, "sex", "female", rec[1][0]);
    assert_null(json_object_get(g, "spouse"));
    json_decref(g);
    er_run_destroy(&run);
    er_model_destroy(&m);
    er_data_destroy(&d);
    er_spec_destroy(&s);
}

/* ---- explanations ---- */

static void test_explain(void **state)
{
    chain_t *c = *state;
    size_t a = s_crec(c->d, "A", "ppppr---", "012345678901"), b = s_crec(c->d, "B", "ppppqqqq", "012345678902");
    json_t *e = er_explain(c->m, c->d, a, b);
    assert_string_equal(json_string_value(json_object_get(e, "a")), "t:A");
    json_t *comps = json_object_get(e, "comparisons");
    assert_int_equal(json_array_size(comps), c->s->ncomps);
    double sum = json_number_value(json_object_get(json_object_get(e, "prior"), "weight")), w;
    size_t i;
    json_t *o;
    json_array_foreach(comps, i, o) {
        assert_non_null(json_object_get(o, "level"));
        sum += json_number_value(json_object_get(o, "weight"));
    }
    assert_near(sum, json_number_value(json_object_get(e, "total_weight")), 1e-9);
    w = er_score(c->m, c->d, a, b, NULL);
    assert_near(sum, w, 1e-9);
    assert_string_equal(json_string_value(json_object_get(json_array_get(comps, 5), "level")), "missing");
    assert_string_equal(json_string_value(json_object_get(json_array_get(comps, 8), "level")), "one digit off");
    assert_string_equal(json_string_value(json_object_get(e, "verdict")), "match");
    char *t = er_explain_text(e);
    assert_contains(t, "t:A  vs  t:B");
    assert_contains(t, "one digit off");
    assert_contains(t, "probability");
    free(t);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_person),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_records_json),
        cmocka_unit_test(test_records_jsonl),
        cmocka_unit_test(test_records_csv),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_em_convergence),
        cmocka_unit_test_setup_teardown(test_cluster_chaining, s_chain_setup, s_chain_teardown),
        cmocka_unit_test_setup_teardown(test_cluster_long_chain, s_chain_setup, s_chain_teardown),
        cmocka_unit_test_setup_teardown(test_cluster_cannot_link, s_chain_setup, s_chain_teardown),
        cmocka_unit_test_setup_teardown(test_cluster_decisions, s_chain_setup, s_chain_teardown),
        cmocka_unit_test(test_golden),
        cmocka_unit_test_setup_teardown(test_explain, s_chain_setup, s_chain_teardown),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
