/* test-jschema.c — JSON Schema validation (bus/jschema.c).
 *
 * Against schemas/: every example validates against its schema (the name
 * up to the second dot), and every invalid example fails with the path and
 * keyword schemas/examples/invalid/expected.json states as its first (best)
 * error. Then one small schema per keyword, written to a temporary folder:
 * what holds, what fails, and with which path, keyword and message; load
 * errors (unsupported keyword, unresolved $ref, bad regex); several threads
 * validating with one set. The verbose output prints the time per record
 * of person.v1 (a figure, not an assertion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jschema.h"

#ifndef SCHEMAS_DIR
#error "SCHEMAS_DIR (the source tree's schemas/) must be defined"
#endif

static jschema_set_t *s_set;

static json_t *s_load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s:%d: %s", path, je.line, je.text);
    return j;
}

/* "person.v1.qn-population.json" -> "person.v1" */
static void s_schema_name(const char *fname, char *out, size_t sz)
{
    snprintf(out, sz, "%s", fname);
    char *dot = strchr(out, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    if (dot)
        *dot = '\0';
}

static void s_print_errors(const char *what, const jschema_error_t *e, int n, size_t max)
{
    for (int i = 0; i < n && (size_t)i < max; i++)
        print_message("  %s: '%s' %s: %s [%s]\n", what, e[i].path, e[i].keyword, e[i].message,
                      e[i].schema);
}

static int s_group_setup(void **state)
{
    char err[512];
    s_set = jschema_set_load(SCHEMAS_DIR, err, sizeof err);
    if (!s_set)
        print_error("%s\n", err);
    return s_set ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    jschema_set_destroy(&s_set);
    assert_null(s_set);
    return 0;
}

static void test_schemas_load(void **state)
{
    assert_int_equal(jschema_set_size(s_set), 5);
    assert_string_equal(jschema_set_name(s_set, 0), "admin_unit.v1");
    assert_string_equal(jschema_set_name(s_set, 4), "person.v1");
    assert_null(jschema_set_name(s_set, 5));
    const jschema_t *p = jschema_set_get(s_set, "person.v1");
    assert_non_null(p);
    assert_string_equal(jschema_name(p), "person.v1");
    assert_null(jschema_set_get(s_set, "person.v2"));
    assert_null(jschema_set_get(s_set, "examples"));
}

static void test_examples_valid(void **state)
{
    DIR *d = opendir(SCHEMAS_DIR "/examples");
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        char name[256], path[1024];
        s_schema_name(de->d_name, name, sizeof name);
        snprintf(path, sizeof path, "%s/examples/%s", SCHEMAS_DIR, de->d_name);
        const jschema_t *s = jschema_set_get(s_set, name);
        if (!s)
            fail_msg("%s: no schema %s", de->d_name, name);
        json_t *rec = s_load_json(path);
        jschema_error_t errs[8];
        int rc = jschema_validate(s, rec, errs, 8);
        s_print_errors(de->d_name, errs, rc, 8);
        assert_int_equal(rc, 0);
        /* the yes/no form agrees */
        assert_int_equal(jschema_validate(s, rec, NULL, 0), 0);
        json_decref(rec);
        n++;
    }
    closedir(d);
    print_message("%d valid examples validate\n", n);
    assert_true(n >= 12);
}

static void test_examples_invalid(void **state)
{
    json_t *expected = s_load_json(SCHEMAS_DIR "/examples/invalid/expected.json");
    const char *fname;
    json_t *want;
    int n = 0;
    json_object_foreach(expected, fname, want) {
        char name[256], path[1024];
        s_schema_name(fname, name, sizeof name);
        snprintf(path, sizeof path, "%s/examples/invalid/%s", SCHEMAS_DIR, fname);
        const jschema_t *s = jschema_set_get(s_set, name);
        assert_non_null(s);
        json_t *rec = s_load_json(path);
        jschema_error_t errs[8];
        int rc = jschema_validate(s, rec, errs, 8);
        print_message("%s: %d error(s); first: '%s' %s: %s [%s]\n", fname, rc,
                      rc ? errs[0].path : "", rc ? errs[0].keyword : "", rc ? errs[0].message : "",
                      rc ? errs[0].schema : "");
        assert_true(rc > 0);
        assert_string_equal(errs[0].path, json_string_value(json_object_get(want, "path")));
        assert_string_equal(errs[0].keyword, json_string_value(json_object_get(want, "keyword")));
        assert_true(jschema_validate(s, rec, NULL, 0) > 0);
        json_decref(rec);
        n++;
    }
    json_decref(expected);
    assert_int_equal(n, 8);
}

/* The messages of the invalid examples say what is wrong and where. */
static void test_examples_messages(void **state)
{
    static const struct { const char *file, *message, *schema; } cases[] = {
        {"person.v1.personal-id-11-digits.json", "'04820957167' does not match ^[0-9]{12}$",
         "common.v1.json#/$defs/personal_id/pattern"},
        {"person.v1.bad-date-precision.json",
         "'1952-05-05' does not match ^[0-9]{4}$ (when 'precision' is 'year')",
         "common.v1.json#/$defs/date/allOf/2/then/properties/value/pattern"},
        {"land_parcel.v1.missing-provenance.json", "missing required property 'provenance'",
         "land_parcel.v1.json#/required"},
        {"civil_event.v1.birth-without-child.json",
         "missing required property 'child' (when 'event_type' is 'birth')",
         "civil_event.v1.json#/allOf/0/then/required"},
        {"admin_unit.v1.2025-with-district.json",
         "must not have property 'district_code' (when 'code_version' is '2025')",
         "admin_unit.v1.json#/allOf/4/then/not"},
        {"person.v1.ambiguous-with-commune.json",
         "must not have property 'commune_2025' (when 'recode_status' is 'ambiguous')",
         "common.v1.json#/$defs/address/allOf/1/then/not"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[256], path[1024];
        s_schema_name(cases[i].file, name, sizeof name);
        snprintf(path, sizeof path, "%s/examples/invalid/%s", SCHEMAS_DIR, cases[i].file);
        json_t *rec = s_load_json(path);
        jschema_error_t e[4];
        assert_true(jschema_validate(jschema_set_get(s_set, name), rec, e, 4) > 0);
        assert_string_equal(e[0].message, cases[i].message);
        assert_string_equal(e[0].schema, cases[i].schema);
        json_decref(rec);
    }
}

/* ------------------------------------------------ small schemas in a temp dir */

static char s_tmp[64];

static int s_tmp_setup(void **state)
{
    snprintf(s_tmp, sizeof s_tmp, "/tmp/test-jschema-XXXXXX");
    return mkdtemp(s_tmp) ? 0 : -1;
}

static void s_tmp_clear(void)
{
    DIR *d = opendir(s_tmp);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", s_tmp, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static int s_tmp_teardown(void **state)
{
    s_tmp_clear();
    return rmdir(s_tmp);
}

static void s_write(const char *fname, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_tmp, fname);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads the temp dir holding only t.json = schema. */
static jschema_set_t *s_one(const char *schema)
{
    s_tmp_clear();
    s_write("t.json", schema);
    char err[512];
    jschema_set_t *set = jschema_set_load(s_tmp, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    return set;
}

/* Validates instance (JSON text) against the schema t of set; returns the
 * error count and the best error in *e. */
static int s_run(jschema_set_t *set, const char *instance, jschema_error_t *e)
{
    json_error_t je;
    json_t *inst = json_loads(instance, JSON_DECODE_ANY, &je);
    if (!inst)
        fail_msg("bad test instance %s: %s", instance, je.text);
    jschema_error_t errs[8];
    memset(errs, 0, sizeof errs);
    int rc = jschema_validate(jschema_set_get(set, "t"), inst, errs, 8);
    s_print_errors(instance, errs, rc, 8);
    int quick = jschema_validate(jschema_set_get(set, "t"), inst, NULL, 0);
    assert_int_equal(rc == 0, quick == 0);
    json_decref(inst);
    if (e)
        *e = errs[0];
    return rc;
}

static void s_ok(jschema_set_t *set, const char *instance)
{
    assert_int_equal(s_run(set, instance, NULL), 0);
}

/* Fails, with the best error at path for keyword, its message holding msg. */
static void s_bad(jschema_set_t *set, const char *instance, const char *path, const char *keyword,
                  const char *msg)
{
    jschema_error_t e;
    assert_true(s_run(set, instance, &e) > 0);
    assert_string_equal(e.path, path);
    assert_string_equal(e.keyword, keyword);
    if (msg && !strstr(e.message, msg))
        fail_msg("message \"%s\" does not say \"%s\"", e.message, msg);
}

static void test_type(void **state)
{
    jschema_set_t *set = s_one("{\"type\": \"string\"}");
    s_ok(set, "\"x\"");
    s_bad(set, "1", "", "type", "expected string, got integer 1");
    s_bad(set, "{}", "", "type", "expected string, got an object");
    jschema_set_destroy(&set);
    set = s_one("{\"type\": [\"string\", \"null\"]}");
    s_ok(set, "null");
    s_ok(set, "\"\"");
    s_bad(set, "true", "", "type", "expected string or null, got true");
    jschema_set_destroy(&set);
    set = s_one("{\"properties\": {\"a\": {\"type\": \"object\"}, \"b\": {\"type\": \"array\"},"
                " \"c\": {\"type\": \"boolean\"}}}");
    s_ok(set, "{\"a\": {}, \"b\": [], \"c\": false}");
    s_bad(set, "{\"b\": {}}", "/b", "type", "expected array");
    s_bad(set, "{\"c\": 0}", "/c", "type", "expected boolean");
    jschema_set_destroy(&set);
}

static void test_integer_vs_real(void **state)
{
    jschema_set_t *set = s_one("{\"type\": \"integer\"}");
    s_ok(set, "3");
    s_ok(set, "3.0");
    s_ok(set, "-0.0");
    s_bad(set, "3.5", "", "type", "expected integer, got number 3.5");
    s_bad(set, "\"3\"", "", "type", "got string '3'");
    jschema_set_destroy(&set);
    set = s_one("{\"type\": \"number\"}");
    s_ok(set, "3.5");
    s_ok(set, "3");
    s_bad(set, "\"3.5\"", "", "type", NULL);
    jschema_set_destroy(&set);
}

static void test_pattern(void **state)
{
    /* unanchored: a match anywhere in the string */
    jschema_set_t *set = s_one("{\"pattern\": \"[0-9]{3}\"}");
    s_ok(set, "\"ab123cd\"");
    s_ok(set, "42");  /* applies to strings only */
    s_bad(set, "\"ab12\"", "", "pattern", "'ab12' does not match [0-9]{3}");
    jschema_set_destroy(&set);
    /* $ is the very end, as in ECMA 262 (PCRE's default allows a final \n) */
    set = s_one("{\"pattern\": \"^[0-9]{3}$\"}");
    s_ok(set, "\"123\"");
    s_bad(set, "\"123\\n\"", "", "pattern", "'123\\n' does not match");
    s_bad(set, "\"1234\"", "", "pattern", NULL);
    jschema_set_destroy(&set);
    /* UTF mode: . is one code point; \u escapes as in ECMA */
    set = s_one("{\"pattern\": \"^.{2}$\"}");
    s_ok(set, "\"Đà\"");
    s_bad(set, "\"Đàn\"", "", "pattern", NULL);
    jschema_set_destroy(&set);
    set = s_one("{\"pattern\": \"^\\\\u0110\"}");
    s_ok(set, "\"Đà Nẵng\"");
    s_bad(set, "\"Da Nang\"", "", "pattern", NULL);
    jschema_set_destroy(&set);
    /* the printable-ASCII class of admin_unit.v1 name_ascii */
    set = s_one("{\"pattern\": \"^[\\\\x20-\\\\x7e]+$\"}");
    s_ok(set, "\"Hoa Minh\"");
    s_bad(set, "\"Hòa Minh\"", "", "pattern", NULL);
    jschema_set_destroy(&set);
}

static void test_min_length(void **state)
{
    jschema_set_t *set = s_one("{\"minLength\": 2}");
    s_ok(set, "\"Đà\"");  /* 4 bytes, 2 code points */
    s_ok(set, "7");
    s_bad(set, "\"Đ\"", "", "minLength", "'Đ' has 1 character(s), fewer than minLength 2");
    s_bad(set, "\"\"", "", "minLength", NULL);
    jschema_set_destroy(&set);
    set = s_one("{\"minLength\": 3}");
    s_bad(set, "\"Đà\"", "", "minLength", "has 2 character(s)");
    s_ok(set, "\"Đà \"");
    jschema_set_destroy(&set);
}

static void test_enum_const(void **state)
{
    jschema_set_t *set = s_one("{\"enum\": [\"male\", \"female\"]}");
    s_ok(set, "\"female\"");
    s_bad(set, "\"nam\"", "", "enum", "'nam' is not one of 'male', 'female'");
    s_bad(set, "null", "", "enum", NULL);
    jschema_set_destroy(&set);
    set = s_one("{\"properties\": {\"schema\": {\"const\": \"person.v1\"}, \"n\": {\"const\": 1},"
                " \"o\": {\"const\": {\"a\": [1, \"x\"]}}}}");
    s_ok(set, "{\"schema\": \"person.v1\", \"n\": 1.0, \"o\": {\"a\": [1.0, \"x\"]}}");
    s_bad(set, "{\"schema\": \"person.v2\"}", "/schema", "const",
          "must be 'person.v1', got 'person.v2'");
    s_bad(set, "{\"n\": 2}", "/n", "const", NULL);
    s_bad(set, "{\"n\": \"1\"}", "/n", "const", NULL);
    s_bad(set, "{\"o\": {\"a\": [1]}}", "/o", "const", NULL);
    jschema_set_destroy(&set);
}

static void test_required(void **state)
{
    jschema_set_t *set = s_one("{\"type\": \"object\", \"required\": [\"name\", \"id\"]}");
    s_ok(set, "{\"name\": 1, \"id\": 2}");
    s_ok(set, "{\"name\": null, \"id\": 2, \"x\": 3}");
    s_bad(set, "{\"id\": 2}", "", "required", "missing required property 'name'");
    jschema_error_t e;
    assert_int_equal(s_run(set, "{}", &e), 2);
    jschema_set_destroy(&set);
}

static void test_additional_properties(void **state)
{
    jschema_set_t *set = s_one("{\"properties\": {\"a\": {}, \"b\": {}}, \"additionalProperties\": false}");
    s_ok(set, "{\"a\": 1}");
    s_bad(set, "{\"a\": 1, \"nmae\": 2}", "", "additionalProperties",
          "unexpected property 'nmae' (additionalProperties is false; known: a, b)");
    jschema_error_t e;
    assert_int_equal(s_run(set, "{\"x\": 1, \"y\": 2}", &e), 2);
    jschema_set_destroy(&set);
    set = s_one("{\"properties\": {\"a\": {}}, \"additionalProperties\": {\"type\": \"integer\"}}");
    s_ok(set, "{\"a\": \"s\", \"b\": 2}");
    s_bad(set, "{\"b\": \"x\"}", "/b", "type", NULL);
    jschema_set_destroy(&set);
    /* keys with / and ~ are escaped in the path */
    set = s_one("{\"additionalProperties\": {\"type\": \"integer\"}}");
    s_bad(set, "{\"a/b~c\": \"x\"}", "/a~1b~0c", "type", NULL);
    jschema_set_destroy(&set);
}

static void test_unevaluated_properties(void **state)
{
    jschema_set_t *set = s_one(
        "{\"properties\": {\"b\": {}}, \"allOf\": [{\"properties\": {\"a\": {}}}],"
        " \"unevaluatedProperties\": false}");
    s_ok(set, "{\"a\": 1, \"b\": 2}");
    s_bad(set, "{\"a\": 1, \"c\": 3}", "", "unevaluatedProperties", "unexpected property 'c'");
    jschema_set_destroy(&set);
    /* a failed allOf branch evaluates nothing */
    set = s_one("{\"allOf\": [{\"properties\": {\"a\": {\"type\": \"string\"}}}],"
                " \"unevaluatedProperties\": false}");
    s_ok(set, "{\"a\": \"x\"}");
    jschema_error_t e;
    assert_int_equal(s_run(set, "{\"a\": 1}", &e), 2);
    assert_string_equal(e.keyword, "unevaluatedProperties");
    jschema_set_destroy(&set);
    /* if/then: then's properties count only when the if holds */
    set = s_one("{\"properties\": {\"k\": {}},"
                " \"if\": {\"properties\": {\"k\": {\"const\": 1}}},"
                " \"then\": {\"properties\": {\"x\": {}}},"
                " \"unevaluatedProperties\": false}");
    s_ok(set, "{\"k\": 1, \"x\": 2}");
    s_bad(set, "{\"k\": 2, \"x\": 2}", "", "unevaluatedProperties", "'x'");
    jschema_set_destroy(&set);
    /* through $ref and anyOf; an unevaluatedProperties schema */
    set = s_one("{\"$ref\": \"#/$defs/base\", \"anyOf\": [{\"properties\": {\"y\": {}}, \"required\": [\"y\"]}, true],"
                " \"unevaluatedProperties\": {\"type\": \"integer\"},"
                " \"$defs\": {\"base\": {\"properties\": {\"a\": {}}}}}");
    s_ok(set, "{\"a\": \"s\", \"y\": \"s\", \"z\": 1}");
    s_bad(set, "{\"a\": \"s\", \"z\": \"s\"}", "/z", "type", NULL);
    jschema_set_destroy(&set);
}

static void test_if_then_else(void **state)
{
    jschema_set_t *set = s_one(
        "{\"properties\": {\"value\": {\"type\": \"string\"}},"
        " \"if\": {\"properties\": {\"precision\": {\"const\": \"year\"}}},"
        " \"then\": {\"properties\": {\"value\": {\"pattern\": \"^[0-9]{4}$\"}}},"
        " \"else\": {\"required\": [\"value\"]}}");
    s_ok(set, "{\"precision\": \"year\", \"value\": \"1980\"}");
    s_ok(set, "{\"precision\": \"full\", \"value\": \"1980-03-05\"}");
    s_bad(set, "{\"precision\": \"year\", \"value\": \"1980-03-05\"}", "/value", "pattern",
          "'1980-03-05' does not match ^[0-9]{4}$ (when 'precision' is 'year')");
    s_bad(set, "{\"precision\": \"full\"}", "", "required",
          "missing required property 'value' (as the condition at t.json#/if does not hold)");
    /* an if over a missing property holds (properties checks what is there) */
    s_ok(set, "{\"value\": \"1980\"}");
    s_bad(set, "{\"value\": \"80\"}", "/value", "pattern", NULL);
    jschema_set_destroy(&set);
}

static void test_any_of(void **state)
{
    jschema_set_t *set = s_one("{\"anyOf\": [{\"required\": [\"a\"]}, {\"required\": [\"b\"]}],"
                               " \"required\": [\"id\"]}");
    s_ok(set, "{\"id\": 1, \"b\": 2}");
    s_bad(set, "{\"id\": 1}", "", "anyOf", "needs at least one of the properties 'a', 'b'");
    /* another error at the same place comes before the anyOf */
    jschema_error_t e;
    assert_int_equal(s_run(set, "{}", &e), 2);
    assert_string_equal(e.keyword, "required");
    jschema_set_destroy(&set);
    set = s_one("{\"anyOf\": [{\"type\": \"string\", \"minLength\": 3},"
                " {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}}}]}");
    s_ok(set, "\"abc\"");
    s_ok(set, "{\"x\": 1}");
    s_bad(set, "\"ab\"", "", "anyOf",
          "matches none of the 2 alternatives of anyOf: (1) 'ab' has 2 character(s), fewer than "
          "minLength 3; (2) expected object, got string 'ab'");
    s_bad(set, "{\"x\": \"1\"}", "", "anyOf", "(2) at /x: expected integer");
    jschema_set_destroy(&set);
}

static void test_all_of_not(void **state)
{
    jschema_set_t *set = s_one("{\"allOf\": [{\"minLength\": 2}, {\"pattern\": \"^a\"}]}");
    s_ok(set, "\"ab\"");
    s_bad(set, "\"b\"", "", "minLength", NULL);
    jschema_error_t e;
    assert_int_equal(s_run(set, "\"b\"", &e), 2);
    jschema_set_destroy(&set);
    set = s_one("{\"not\": {\"required\": [\"district_code\"]}}");
    s_ok(set, "{\"commune_code\": \"20194\"}");
    s_bad(set, "{\"district_code\": \"490\"}", "", "not", "must not have property 'district_code'");
    jschema_set_destroy(&set);
    set = s_one("{\"not\": {\"anyOf\": [{\"required\": [\"a\"]}, {\"required\": [\"b\"]}]}}");
    s_bad(set, "{\"b\": 1}", "", "not", "must not have property 'b'");
    jschema_set_destroy(&set);
    set = s_one("{\"not\": {\"type\": \"string\"}}");
    s_ok(set, "1");
    s_bad(set, "\"s\"", "", "not", "must not match the schema at t.json#/not");
    jschema_set_destroy(&set);
}

static void test_arrays(void **state)
{
    jschema_set_t *set = s_one("{\"type\": \"array\", \"minItems\": 1, \"uniqueItems\": true,"
                               " \"items\": {\"type\": \"string\", \"pattern\": \"^[A-Z]{3}$\"}}");
    s_ok(set, "[\"ONT\", \"CLN\"]");
    s_bad(set, "[]", "", "minItems", "has 0 item(s), fewer than minItems 1");
    s_bad(set, "[\"ONT\", \"CLN\", \"ONT\"]", "", "uniqueItems", "items 0 and 2 are equal ('ONT')");
    s_bad(set, "[\"ONT\", \"cln\"]", "/1", "pattern", "'cln' does not match ^[A-Z]{3}$");
    jschema_set_destroy(&set);
    set = s_one("{\"uniqueItems\": true}");
    s_ok(set, "[1, \"1\", [1], {\"a\": 1}, {\"a\": 2}]");
    s_bad(set, "[1, 1.0]", "", "uniqueItems", NULL);
    s_bad(set, "[{\"a\": 1, \"b\": 2}, {\"b\": 2, \"a\": 1}]", "", "uniqueItems", NULL);
    jschema_set_destroy(&set);
}

static void test_numbers(void **state)
{
    jschema_set_t *set = s_one("{\"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": 1},"
                               " \"area\": {\"type\": \"number\", \"exclusiveMinimum\": 0}}}");
    s_ok(set, "{\"n\": 1, \"area\": 0.5}");
    s_bad(set, "{\"n\": 0}", "/n", "minimum", "0 is less than the minimum 1");
    s_bad(set, "{\"n\": 0.5}", "/n", "type", NULL);
    s_bad(set, "{\"area\": 0}", "/area", "exclusiveMinimum", "0 is not greater than 0");
    s_bad(set, "{\"area\": -1.25}", "/area", "exclusiveMinimum", "-1.25 is not greater than 0");
    jschema_set_destroy(&set);
}

static void test_dependent_required_min_properties(void **state)
{
    jschema_set_t *set = s_one("{\"dependentRequired\": {\"ho\": [\"ten\"], \"chu_dem\": [\"ho\", \"ten\"]},"
                               " \"minProperties\": 1}");
    s_ok(set, "{\"ho\": \"Nguyễn\", \"ten\": \"An\"}");
    s_ok(set, "{\"full\": \"x\"}");
    s_bad(set, "{\"ho\": \"Nguyễn\"}", "", "dependentRequired", "property 'ho' requires property 'ten' too");
    jschema_error_t e;
    assert_int_equal(s_run(set, "{\"chu_dem\": \"\"}", &e), 2);
    s_bad(set, "{}", "", "minProperties", "has 0 properties, fewer than minProperties 1");
    jschema_set_destroy(&set);
}

static void test_false_property(void **state)
{
    jschema_set_t *set = s_one(
        "{\"properties\": {\"event_type\": {}},"
        " \"if\": {\"properties\": {\"event_type\": {\"const\": \"birth\"}}},"
        " \"then\": {\"properties\": {\"husband\": false}}}");
    s_ok(set, "{\"event_type\": \"marriage\", \"husband\": {}}");
    s_bad(set, "{\"event_type\": \"birth\", \"husband\": {}}", "/husband", "false",
          "property 'husband' is not allowed (when 'event_type' is 'birth')");
    jschema_set_destroy(&set);
    set = s_one("{\"items\": false}");
    s_ok(set, "[]");
    s_bad(set, "[1]", "/0", "false", NULL);
    jschema_set_destroy(&set);
}

static void test_ref_cross_file(void **state)
{
    s_tmp_clear();
    s_write("a.v1.json",
            "{\"$id\": \"https://x.invalid/s/a.v1.json\", \"type\": \"object\","
            " \"properties\": {\"code\": {\"$ref\": \"b.v1.json#/$defs/code\"},"
            "   \"local\": {\"$ref\": \"#/$defs/two\"},"
            "   \"abs\": {\"$ref\": \"https://x.invalid/s/b.v1.json#/$defs/code\"},"
            "   \"esc\": {\"$ref\": \"b.v1.json#/$defs/a~1b%20c\"}},"
            " \"$defs\": {\"two\": {\"pattern\": \"^[0-9]{2}$\"}}}");
    s_write("b.v1.json",
            "{\"$id\": \"https://x.invalid/s/b.v1.json\","
            " \"$defs\": {\"code\": {\"type\": \"string\", \"pattern\": \"^[0-9]{5}$\"},"
            "   \"a/b c\": {\"const\": 1}}}");
    /* no $id: by file name */
    s_write("c.v1.json", "{\"items\": {\"$ref\": \"b.v1.json#/$defs/code\"}}");
    /* not a schema: ignored (only *.json directly in the folder) */
    s_write("notes.txt", "{");
    char err[512];
    jschema_set_t *set = jschema_set_load(s_tmp, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    assert_int_equal(jschema_set_size(set), 3);
    const jschema_t *a = jschema_set_get(set, "a.v1"), *c = jschema_set_get(set, "c.v1");
    assert_non_null(a);
    assert_non_null(c);
    jschema_error_t e[4];
    json_t *inst = json_pack("{s:s, s:s, s:s, s:i}", "code", "20194", "local", "12", "abs", "20197", "esc", 1);
    assert_int_equal(jschema_validate(a, inst, e, 4), 0);
    json_decref(inst);
    inst = json_pack("{s:s}", "code", "2019");
    assert_int_equal(jschema_validate(a, inst, e, 4), 1);
    assert_string_equal(e[0].path, "/code");
    assert_string_equal(e[0].keyword, "pattern");
    assert_string_equal(e[0].schema, "b.v1.json#/$defs/code/pattern");
    json_decref(inst);
    inst = json_pack("{s:s, s:i}", "local", "1", "esc", 2);
    assert_int_equal(jschema_validate(a, inst, e, 4), 2);
    json_decref(inst);
    inst = json_pack("[s, i]", "20194", 5);
    assert_int_equal(jschema_validate(c, inst, e, 4), 1);
    assert_string_equal(e[0].path, "/1");
    assert_string_equal(e[0].keyword, "type");
    json_decref(inst);
    jschema_set_destroy(&set);
}

/* A file that is just true or false; a folder without schemas. */
static void test_boolean_files(void **state)
{
    s_tmp_clear();
    s_write("yes.json", "true");
    s_write("no.json", "false");
    char err[512];
    jschema_set_t *set = jschema_set_load(s_tmp, err, sizeof err);
    if (!set)
        fail_msg("%s", err);
    jschema_error_t e;
    assert_int_equal(jschema_validate(jschema_set_get(set, "yes"), json_null(), &e, 1), 0);
    assert_int_equal(jschema_validate(jschema_set_get(set, "no"), json_null(), &e, 1), 1);
    assert_string_equal(e.keyword, "false");
    assert_string_equal(e.schema, "no.json#");
    jschema_set_destroy(&set);
    s_tmp_clear();
    set = jschema_set_load(s_tmp, err, sizeof err);
    assert_non_null(set);
    assert_int_equal(jschema_set_size(set), 0);
    assert_null(jschema_set_get(set, "t"));
    jschema_set_destroy(&set);
}

/* A load error: NULL, and err equal to want with "<dir>" for the folder. */
static void s_load_fails(const char *schema, const char *want)
{
    s_tmp_clear();
    s_write("person.v1.json", schema);
    char err[512], full[512];
    snprintf(full, sizeof full, "%s/%s", s_tmp, want);
    jschema_set_t *set = jschema_set_load(s_tmp, err, sizeof err);
    assert_null(set);
    print_message("load error: %s\n", err);
    if (strncmp(err, full, strlen(full)) != 0)
        fail_msg("load error \"%s\", not \"%s\"", err, full);
}

static void test_load_errors(void **state)
{
    s_load_fails("{\"properties\": {\"x\": {\"patternProperties\": {}}}}",
                 "person.v1.json: /properties/x: unsupported keyword 'patternProperties'");
    s_load_fails("{\"oneOf\": [true]}", "person.v1.json: (root): unsupported keyword 'oneOf'");
    s_load_fails("{\"properties\": {\"x\": {\"$ref\": \"#/$defs/nope\"}}}",
                 "person.v1.json: /properties/x: unresolved $ref '#/$defs/nope'");
    s_load_fails("{\"properties\": {\"x\": {\"$ref\": \"common.v1.json#/$defs/name\"}}}",
                 "person.v1.json: /properties/x: unresolved $ref 'common.v1.json#/$defs/name': "
                 "no file or $id 'common.v1.json'");
    s_load_fails("{\"$defs\": {\"d\": {\"description\": \"x\"}}, \"$ref\": \"#/$defs/d/description\"}",
                 "person.v1.json: (root): unresolved $ref '#/$defs/d/description': the target is not a schema");
    s_load_fails("{\"properties\": {\"x\": {\"pattern\": \"([0-9]\"}}}",
                 "person.v1.json: /properties/x: bad regex '([0-9]': missing closing parenthesis");
    s_load_fails("{\"type\": \"text\"}", "person.v1.json: (root): 'type' must be");
    s_load_fails("{\"minLength\": -1}", "person.v1.json: (root): 'minLength' must be a non-negative integer");
    s_load_fails("{\"allOf\": [{\"items\": [true]}]}",
                 "person.v1.json: /allOf/0: 'items' must be one schema");
    s_load_fails("{\"properties\": {\"x\": {\"$id\": \"y\"}}}",
                 "person.v1.json: /properties/x: '$id' is supported only at the root");
    s_load_fails("{\"properties\": {\"x\": 3}}",
                 "person.v1.json: /properties/x: a schema must be an object or true/false");
    s_load_fails("{\"type\": \"string\",\n \"type\": \"object\"}", "person.v1.json: line 2 column 7: duplicate object key");
    s_load_fails("{\"type\": ", "person.v1.json: line 1");
    char err[256];
    assert_null(jschema_set_load("/nonexistent-jschema-dir", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-jschema-dir: "));
    s_tmp_clear();
}

/* Best first, at most max stored, all counted; max 0 is a yes/no check. */
static void test_best_first(void **state)
{
    jschema_set_t *set = s_one(
        "{\"type\": \"object\", \"required\": [\"a\"],"
        " \"properties\": {\"deep\": {\"properties\": {\"x\": {\"type\": \"string\"}}},"
        "   \"b\": {\"type\": \"string\"}},"
        " \"anyOf\": [{\"required\": [\"p\"]}, {\"required\": [\"q\"]}]}");
    json_t *inst = json_loads("{\"deep\": {\"x\": 1}, \"b\": 2}", 0, NULL);
    jschema_error_t e[8];
    assert_int_equal(jschema_validate(jschema_set_get(set, "t"), inst, e, 8), 4);
    assert_string_equal(e[0].keyword, "required");
    assert_string_equal(e[1].keyword, "anyOf");
    assert_string_equal(e[2].path, "/b");
    assert_string_equal(e[3].path, "/deep/x");
    jschema_error_t one;
    assert_int_equal(jschema_validate(jschema_set_get(set, "t"), inst, &one, 1), 4);
    assert_string_equal(one.keyword, "required");
    assert_true(jschema_validate(jschema_set_get(set, "t"), inst, NULL, 0) > 0);
    assert_true(jschema_validate(jschema_set_get(set, "t"), inst, e, 0) > 0);
    json_decref(inst);
    assert_int_equal(jschema_validate(NULL, json_null(), e, 1), 1);
    jschema_set_destroy(&set);
    jschema_set_destroy(&set);
}

/* A recursive schema follows the instance down; a $ref cycle that never
 * descends into the instance fails instead of recursing forever. */
static void test_recursion(void **state)
{
    jschema_set_t *set = s_one("{\"type\": \"object\", \"required\": [\"name\"],"
                               " \"properties\": {\"children\": {\"items\": {\"$ref\": \"#\"}}}}");
    s_ok(set, "{\"name\": 1, \"children\": [{\"name\": 2, \"children\": [{\"name\": 3}]}]}");
    s_bad(set, "{\"name\": 1, \"children\": [{\"name\": 2, \"children\": [{}]}]}",
          "/children/0/children/0", "required", "missing required property 'name'");
    jschema_set_destroy(&set);
    set = s_one("{\"$ref\": \"#/$defs/a\", \"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"},"
                " \"b\": {\"$ref\": \"#/$defs/a\"}}}");
    s_bad(set, "1", "", "$ref", "deeper than");
    jschema_set_destroy(&set);
}

/* A long value is cut (at a character) in the message. */
static void test_long_value(void **state)
{
    jschema_set_t *set = s_one("{\"pattern\": \"^[0-9]+$\"}");
    char text[400] = "\"";
    for (int i = 0; i < 60; i++)
        strcat(text, "ẵ");
    strcat(text, "\"");
    jschema_error_t e;
    assert_true(s_run(set, text, &e) > 0);
    assert_non_null(strstr(e.message, "...' does not match ^[0-9]+$"));
    assert_true(strlen(e.message) < 200);
    jschema_set_destroy(&set);
}

/* ----------------------------------------------------- threads and speed */

typedef struct {
    const jschema_t *s;
    json_t *good, *bad;
    int failures;
} s_worker_t;

static void *s_worker(void *arg)
{
    s_worker_t *w = arg;
    for (int i = 0; i < 2000; i++) {
        jschema_error_t e[2];
        if (jschema_validate(w->s, w->good, e, 2) != 0)
            w->failures++;
        if (jschema_validate(w->s, w->bad, e, 2) == 0 || strcmp(e[0].keyword, "pattern") != 0)
            w->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    json_t *good = s_load_json(SCHEMAS_DIR "/examples/person.v1.qn-population.json");
    json_t *bad = s_load_json(SCHEMAS_DIR "/examples/invalid/person.v1.personal-id-11-digits.json");
    s_worker_t w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (s_worker_t){jschema_set_get(s_set, "person.v1"), good, bad, 0};
        assert_int_equal(pthread_create(&t[i], NULL, s_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    json_decref(good);
    json_decref(bad);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The time per record (printed, not asserted). */
static void test_speed(void **state)
{
    static const char *files[] = {
        "person.v1.qn-population.json", "person.v1.dn-population-hoa-lien.json",
        "land_parcel.v1.qn-land.json", "civil_event.v1.dn-civil-birth.json",
    };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char path[1024], name[64];
        snprintf(path, sizeof path, "%s/examples/%s", SCHEMAS_DIR, files[f]);
        s_schema_name(files[f], name, sizeof name);
        json_t *rec = s_load_json(path);
        const jschema_t *s = jschema_set_get(s_set, name);
        jschema_error_t e[4];
        int n = 20000, bad = 0;
        double t0 = s_now();
        for (int i = 0; i < n; i++)
            bad += jschema_validate(s, rec, e, 4) != 0;
        double t1 = s_now();
        assert_int_equal(bad, 0);
        print_message("speed: %s: %.2f us per record (%d validations)\n", files[f],
                      (t1 - t0) * 1e6 / n, n);
        json_decref(rec);
    }
}

int main(void)
{
    const struct CMUnitTest on_schemas[] = {
        cmocka_unit_test(test_schemas_load),
        cmocka_unit_test(test_examples_valid),
        cmocka_unit_test(test_examples_invalid),
        cmocka_unit_test(test_examples_messages),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_speed),
    };
    const struct CMUnitTest keywords[] = {
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_integer_vs_real),
        cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_min_length),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_additional_properties),
        cmocka_unit_test(test_unevaluated_properties),
        cmocka_unit_test(test_if_then_else),
        cmocka_unit_test(test_any_of),
        cmocka_unit_test(test_all_of_not),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_dependent_required_min_properties),
        cmocka_unit_test(test_false_property),
        cmocka_unit_test(test_ref_cross_file),
        cmocka_unit_test(test_boolean_files),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_best_first),
        cmocka_unit_test(test_recursion),
        cmocka_unit_test(test_long_value),
    };
    int rc = cmocka_run_group_tests_name("jschema: schemas/", on_schemas, s_group_setup, s_group_teardown);
    rc += cmocka_run_group_tests_name("jschema: keywords", keywords, s_tmp_setup, s_tmp_teardown);
    return rc;
}
