/* test-sqlrow.c — unit tests of the sql adapter's conversions (sqlrow.c):
 * UTF-16 <-> UTF-8, rows to JSON (embedded JSON columns, hidden columns),
 * the id template, connection strings,
 * diagnostic messages, durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sqlrow.h"

static sqlrow_cell_t s_cell(const char *s)
{
    sqlrow_cell_t c = { .data = s ? s : "", .len = s ? strlen(s) : 0, .null = s == NULL };
    return c;
}

static void test_utf16_round_trip(void **state)
{
    (void) state;
    sqlrow_iconv_t cv;
    assert_int_equal(sqlrow_iconv_open(&cv), 0);
    /* Vietnamese with stacked marks, a non-BMP character (a surrogate pair) */
    const char *text = "Thành phố Đà Nẵng, Ngũ Hành Sơn \xF0\x9F\x8F\xA0 ỷ";
    sqlrow_buf_t w = { 0 }, u = { 0 };
    size_t units = 0;
    assert_int_equal(sqlrow_utf8_to_utf16(&cv, text, strlen(text), &w, &units), 0);
    assert_int_equal(units * 2, w.len);
    const uint16_t *p = (const uint16_t *) (const void *) w.data;
    assert_int_equal(p[0], 'T');
    assert_int_equal(p[units], 0);                 /* terminated */
    size_t bad = 99;
    assert_int_equal(sqlrow_utf16_to_utf8(&cv, p, units, &u, &bad), 0);
    assert_string_equal(u.data, text);
    assert_int_equal(u.len, strlen(text));
    /* appends */
    assert_int_equal(sqlrow_utf16_to_utf8(&cv, p, 1, &u, &bad), 0);
    assert_int_equal(u.len, strlen(text) + 1);
    /* empty */
    u.len = 0;
    assert_int_equal(sqlrow_utf16_to_utf8(&cv, p, 0, &u, &bad), 0);
    assert_int_equal(u.len, 0);
    sqlrow_buf_free(&w);
    sqlrow_buf_free(&u);
    sqlrow_iconv_close(&cv);
}

static void test_utf16_invalid(void **state)
{
    (void) state;
    sqlrow_iconv_t cv;
    assert_int_equal(sqlrow_iconv_open(&cv), 0);
    sqlrow_buf_t u = { 0 };
    size_t bad = 99;
    /* a lone low surrogate after two good units */
    uint16_t lone[] = { 'a', 0x1EA1 /* ạ */, 0xDC00, 'b' };
    assert_int_equal(sqlrow_utf16_to_utf8(&cv, lone, 4, &u, &bad), -1);
    assert_int_equal(bad, 2);
    /* a high surrogate at the very end (cut in half) */
    uint16_t cut[] = { 'x', 0xD83C };
    u.len = 0;
    assert_int_equal(sqlrow_utf16_to_utf8(&cv, cut, 2, &u, &bad), -1);
    assert_int_equal(bad, 1);
    /* invalid UTF-8 cannot become a parameter */
    sqlrow_buf_t w = { 0 };
    size_t units;
    assert_int_equal(sqlrow_utf8_to_utf16(&cv, "a\xC3(", 3, &w, &units), -1);
    assert_false(sqlrow_utf8_valid("a\xC3(", 3));
    assert_true(sqlrow_utf8_valid("Đà", strlen("Đà")));
    sqlrow_buf_free(&u);
    sqlrow_buf_free(&w);
    sqlrow_iconv_close(&cv);
}

static void test_json_row(void **state)
{
    (void) state;
    const char *names[] = { "id", "ma_xa", "ma_xa_moi", "dien_tich", "dia_chi", "active", "big", "updated_at" };
    sqlrow_kind_t kinds[] = { SQLROW_INT, SQLROW_TEXT, SQLROW_TEXT, SQLROW_TEXT, SQLROW_TEXT, SQLROW_BOOL,
                              SQLROW_INT, SQLROW_TEXT };
    sqlrow_cell_t cells[] = {
        s_cell("42"), s_cell("20287"), s_cell(NULL), s_cell("69.5"), s_cell("Số 52, \"Tổ\" 9\n"),
        s_cell("1"), s_cell("18446744073709551615"), s_cell("1996-08-06 17:18:47.123456+07"),
    };
    sqlrow_buf_t out = { 0 };
    size_t bad = 99;
    assert_int_equal(sqlrow_json(names, kinds, NULL, cells, 8, &out, &bad, NULL, 0), 0);
    assert_string_equal(out.data,
        "{\"id\":42,\"ma_xa\":\"20287\",\"ma_xa_moi\":null,\"dien_tich\":\"69.5\","
        "\"dia_chi\":\"Số 52, \\\"Tổ\\\" 9\\n\",\"active\":true,\"big\":\"18446744073709551615\","
        "\"updated_at\":\"1996-08-06 17:18:47.123456+07\"}");
    /* negative integers, false, a bool that is not one */
    const char *n2[] = { "a", "b", "c" };
    sqlrow_kind_t k2[] = { SQLROW_INT, SQLROW_BOOL, SQLROW_BOOL };
    sqlrow_cell_t c2[] = { s_cell("-7"), s_cell("0"), s_cell("maybe") };
    out.len = 0;
    assert_int_equal(sqlrow_json(n2, k2, NULL, c2, 3, &out, &bad, NULL, 0), 0);
    assert_string_equal(out.data, "{\"a\":-7,\"b\":false,\"c\":\"maybe\"}");
    sqlrow_buf_free(&out);
}

static void test_json_bad_text(void **state)
{
    (void) state;
    const char *names[] = { "id", "ten" };
    sqlrow_kind_t kinds[] = { SQLROW_INT, SQLROW_TEXT };
    sqlrow_cell_t cells[] = { s_cell("1"), { .data = "\xFF\xFE", .len = 2 } };
    sqlrow_buf_t out = { 0 };
    size_t bad = 99;
    char why[128];
    assert_int_equal(sqlrow_json(names, kinds, NULL, cells, 2, &out, &bad, why, sizeof why), -1);
    assert_int_equal(bad, 1);
    assert_string_equal(why, "not valid UTF-8 text");
    sqlrow_buf_free(&out);
}

/* json_columns: a parcel row with its owners (json_agg) and certificate
 * (row_to_json) embedded as JSON values; hidden watermark columns left out. */
static void test_json_embed_hidden(void **state)
{
    (void) state;
    const char *names[] = { "id", "so_thua", "owners", "certificate", "wm_at", "wm_id" };
    sqlrow_kind_t kinds[] = { SQLROW_INT, SQLROW_INT, SQLROW_TEXT, SQLROW_TEXT, SQLROW_TEXT, SQLROW_INT };
    sqlrow_use_t uses[] = { SQLROW_PUBLISH, SQLROW_PUBLISH, SQLROW_EMBED, SQLROW_EMBED, SQLROW_HIDDEN,
                            SQLROW_HIDDEN };
    /* json_agg's own layout: spaces and a newline between the elements */
    sqlrow_cell_t cells[] = {
        s_cell("17"), s_cell("52"),
        s_cell("[{\"id\":3,\"ho_ten\":\"Trần Thảo Vi\",\"ngay_sinh\":\"1947-05-25\"}, \n "
               "{\"id\" : 4, \"ho_ten\" : \"Lê \\\"Bé\\\"\", \"ngay_sinh\" : null}]"),
        s_cell("{\"id\": 9, \"so_phat_hanh\": \"AB 148750\", \"dien_tich\": 69.5, \"x\": [0.1, 100.0, -2.5e-7, 1e300]}"),
        s_cell("2024-03-01 10:22:33+07"), s_cell("5"),
    };
    sqlrow_buf_t out = { 0 };
    size_t bad = 99;
    char why[256] = "x";
    assert_int_equal(sqlrow_json(names, kinds, uses, cells, 6, &out, &bad, why, sizeof why), 0);
    assert_string_equal(why, "");
    /* numbers keep their value with the fewest digits that read back as it */
    assert_string_equal(out.data,
        "{\"id\":17,\"so_thua\":52,"
        "\"owners\":[{\"id\":3,\"ho_ten\":\"Trần Thảo Vi\",\"ngay_sinh\":\"1947-05-25\"},"
        "{\"id\":4,\"ho_ten\":\"Lê \\\"Bé\\\"\",\"ngay_sinh\":null}],"
        "\"certificate\":{\"id\":9,\"so_phat_hanh\":\"AB 148750\",\"dien_tich\":69.5,"
        "\"x\":[0.1,100.0,-2.5e-7,1e300]}}");

    /* the same document read through another stream (another watermark):
     * byte-identical */
    sqlrow_buf_t out2 = { 0 };
    cells[4] = s_cell("2025-01-01 00:00:00+07");
    cells[5] = s_cell("912");
    assert_int_equal(sqlrow_json(names, kinds, uses, cells, 6, &out2, &bad, why, sizeof why), 0);
    assert_int_equal(out2.len, out.len);
    assert_memory_equal(out2.data, out.data, out.len);

    /* NULL in a json column (a parcel without a certificate) is null; a
     * scalar is a JSON value too; everything hidden is {} */
    cells[3] = s_cell(NULL);
    cells[2] = s_cell(" \"one\" ");
    out.len = 0;
    assert_int_equal(sqlrow_json(names, kinds, uses, cells, 6, &out, &bad, why, sizeof why), 0);
    assert_string_equal(out.data, "{\"id\":17,\"so_thua\":52,\"owners\":\"one\",\"certificate\":null}");
    sqlrow_use_t none[] = { SQLROW_HIDDEN, SQLROW_HIDDEN, SQLROW_HIDDEN, SQLROW_HIDDEN, SQLROW_HIDDEN,
                            SQLROW_HIDDEN };
    out.len = 0;
    assert_int_equal(sqlrow_json(names, kinds, none, cells, 6, &out, &bad, why, sizeof why), 0);
    assert_string_equal(out.data, "{}");
    /* without uses every column is published, a json column as its text */
    out.len = 0;
    assert_int_equal(sqlrow_json(names, kinds, NULL, cells, 6, &out, &bad, why, sizeof why), 0);
    assert_string_equal(out.data, "{\"id\":17,\"so_thua\":52,\"owners\":\" \\\"one\\\" \",\"certificate\":null,"
                                  "\"wm_at\":\"2025-01-01 00:00:00+07\",\"wm_id\":912}");
    sqlrow_buf_free(&out);
    sqlrow_buf_free(&out2);
}

/* A json column whose value is not JSON: -1, the column, and why. */
static void test_json_embed_invalid(void **state)
{
    (void) state;
    const char *names[] = { "id", "owners", "wm" };
    sqlrow_kind_t kinds[] = { SQLROW_INT, SQLROW_TEXT, SQLROW_TEXT };
    sqlrow_use_t uses[] = { SQLROW_PUBLISH, SQLROW_EMBED, SQLROW_HIDDEN };
    const char *bad_values[] = {
        "[{\"id\":1}",                     /* cut short */
        "not json",
        "",                                /* empty text is not a value */
        "{\"id\":1,\"id\":2}",               /* a key twice: one value would be lost */
        "[1] [2]",                         /* two values */
        "[18446744073709551616]",          /* an integer beyond 64 bits */
        "\"\xFF\"",                         /* not UTF-8 */
    };
    for (size_t k = 0; k < sizeof bad_values / sizeof *bad_values; k++) {
        sqlrow_cell_t cells[] = { s_cell("1"), s_cell(bad_values[k]), s_cell("x") };
        sqlrow_buf_t out = { 0 };
        size_t bad = 99;
        char why[256] = "";
        assert_int_equal(sqlrow_json(names, kinds, uses, cells, 3, &out, &bad, why, sizeof why), -1);
        assert_int_equal(bad, 1);
        assert_non_null(strstr(why, "not valid JSON: "));
        sqlrow_buf_free(&out);
    }
    /* the reason says where */
    sqlrow_cell_t cells[] = { s_cell("1"), s_cell("[1, 2, x]"), s_cell("x") };
    sqlrow_buf_t out = { 0 };
    size_t bad = 99;
    char why[256] = "";
    assert_int_equal(sqlrow_json(names, kinds, uses, cells, 3, &out, &bad, why, sizeof why), -1);
    assert_non_null(strstr(why, "of 9)"));
    /* without a why buffer it still fails cleanly */
    assert_int_equal(sqlrow_json(names, kinds, uses, cells, 3, &out, &bad, NULL, 0), -1);
    sqlrow_buf_free(&out);
}

static void test_template(void **state)
{
    (void) state;
    char err[256];
    sqlrow_template_t *t = sqlrow_template_new("thua_dat:{id}", err, sizeof err);
    assert_non_null(t);
    const char *names[] = { "updated_at", "id", "ma_xa" };
    assert_int_equal(sqlrow_template_resolve(t, names, 3, err, sizeof err), 0);
    sqlrow_cell_t cells[] = { s_cell("2024-01-01"), s_cell("17"), s_cell("20287") };
    sqlrow_buf_t out = { 0 };
    size_t bad = 99;
    assert_int_equal(sqlrow_template_expand(t, cells, &out, &bad), 0);
    assert_string_equal(out.data, "thua_dat:17");
    /* NULL and empty ids are refused */
    cells[1] = s_cell(NULL);
    assert_int_equal(sqlrow_template_expand(t, cells, &out, &bad), -1);
    assert_int_equal(bad, 1);
    cells[1] = s_cell("");
    assert_int_equal(sqlrow_template_expand(t, cells, &out, &bad), -1);
    sqlrow_template_destroy(&t);
    assert_null(t);

    /* two fields, literal braces */
    t = sqlrow_template_new("{{x}}/{ma_xa}/{id}", err, sizeof err);
    assert_non_null(t);
    assert_int_equal(sqlrow_template_resolve(t, names, 3, err, sizeof err), 0);
    cells[1] = s_cell("5");
    assert_int_equal(sqlrow_template_expand(t, cells, &out, &bad), 0);
    assert_string_equal(out.data, "{x}/20287/5");
    sqlrow_template_destroy(&t);

    /* a column the result does not have */
    t = sqlrow_template_new("p:{so_thua}", err, sizeof err);
    assert_int_equal(sqlrow_template_resolve(t, names, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "so_thua"));
    sqlrow_template_destroy(&t);

    /* malformed */
    assert_null(sqlrow_template_new("no fields", err, sizeof err));
    assert_null(sqlrow_template_new("x:{id", err, sizeof err));
    assert_null(sqlrow_template_new("x:{}", err, sizeof err));
    assert_null(sqlrow_template_new("x}:{id}", err, sizeof err));
    sqlrow_buf_free(&out);
}

static void test_connstr(void **state)
{
    (void) state;
    char *s = sqlrow_connstr_with_password("Driver={PostgreSQL Unicode};Uid=u", "p;a}ss{");
    assert_string_equal(s, "Driver={PostgreSQL Unicode};Uid=u;Pwd={p;a}}ss{}");
    free(s);
    s = sqlrow_connstr_with_password("DSN=x;", "pw");
    assert_string_equal(s, "DSN=x;Pwd={pw}");
    free(s);
    assert_true(sqlrow_connstr_has_password("Driver=x;PWD=secret"));
    assert_true(sqlrow_connstr_has_password("Driver=x; password = secret"));
    assert_true(sqlrow_connstr_has_password("pwd=secret;Driver=x"));
    assert_false(sqlrow_connstr_has_password("Driver={PostgreSQL Unicode};Server=h;Uid=pwdman"));
    assert_false(sqlrow_connstr_has_password("Driver=x;PasswordFile=/x"));
}

static void test_messages(void **state)
{
    (void) state;
    char out[128];
    sqlrow_clean_message("ERROR: permission denied for table thua_dat;\nError while executing the query",
                         out, sizeof out);
    assert_string_equal(out, "permission denied for table thua_dat");
    sqlrow_clean_message("[unixODBC][Driver Manager]Data source name not found", out, sizeof out);
    assert_string_equal(out, "Data source name not found");
    sqlrow_clean_message("FATAL:  terminating connection due to administrator command\nmore", out, sizeof out);
    assert_string_equal(out, "terminating connection due to administrator command");
    sqlrow_clean_message("x", out, 1);
    assert_string_equal(out, "");
}

static void test_durations(void **state)
{
    (void) state;
    assert_int_equal(sqlrow_parse_ms("30"), 30000);
    assert_int_equal(sqlrow_parse_ms("30s"), 30000);
    assert_int_equal(sqlrow_parse_ms("1.5s"), 1500);
    assert_int_equal(sqlrow_parse_ms("250ms"), 250);
    assert_int_equal(sqlrow_parse_ms("2m"), 120000);
    assert_int_equal(sqlrow_parse_ms("1h"), 3600000);
    assert_int_equal(sqlrow_parse_ms("0"), 0);
    assert_int_equal(sqlrow_parse_ms("-1s"), -1);
    assert_int_equal(sqlrow_parse_ms("5 s"), -1);
    assert_int_equal(sqlrow_parse_ms("s"), -1);
    assert_int_equal(sqlrow_parse_ms(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf16_round_trip),
        cmocka_unit_test(test_utf16_invalid),
        cmocka_unit_test(test_json_row),
        cmocka_unit_test(test_json_bad_text),
        cmocka_unit_test(test_json_embed_hidden),
        cmocka_unit_test(test_json_embed_invalid),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_connstr),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
