/* test-incsync.c — unit tests of the incremental-sync state: time parsing and
 * comparison, the pass/page/watermark steps, the state bytes, since formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "incsync.h"

static void test_parse_time(void **state)
{
    int64_t s;
    long ns;
    int off;
    assert_true(incsync_parse_time("2024-03-01T10:22:33+07:00", 0, &s, &ns, &off));
    assert_int_equal(s, 1709263353);
    assert_int_equal(off, 420);
    assert_int_equal(ns, 0);
    assert_true(incsync_parse_time("2024-03-01T03:22:33Z", 0, &s, &ns, &off));
    assert_int_equal(s, 1709263353);
    assert_int_equal(off, 0);
    assert_true(incsync_parse_time("2024-03-01 10:22:33+0700", 0, &s, &ns, &off));
    assert_int_equal(s, 1709263353);
    assert_true(incsync_parse_time("2024-03-01T10:22:33", 420, &s, &ns, &off));   /* default offset */
    assert_int_equal(s, 1709263353);
    assert_true(incsync_parse_time("2024-03-01T10:22:33.25-01:30", 0, &s, &ns, &off));
    assert_int_equal(ns, 250000000);
    assert_int_equal(off, -90);
    assert_true(incsync_parse_time("2024-03-01", 0, &s, &ns, &off));
    assert_int_equal(s, 1709251200);
    assert_true(incsync_parse_time("2024-03-01T10:22+07", 0, &s, &ns, &off));
    assert_int_equal(s, 1709263320);
    assert_false(incsync_parse_time("2024-02-30T00:00:00Z", 0, &s, &ns, &off));
    assert_false(incsync_parse_time("2024-13-01", 0, &s, &ns, &off));
    assert_false(incsync_parse_time("01/03/2024", 0, &s, &ns, &off));
    assert_false(incsync_parse_time("2024-03-01T10:22:33+07:00x", 0, &s, &ns, &off));
    assert_false(incsync_parse_time("2024-03-01T10:22:33.Z", 0, &s, &ns, &off));
    assert_false(incsync_parse_time("", 0, &s, &ns, &off));
    assert_false(incsync_parse_time(NULL, 0, &s, &ns, &off));
}

static void test_cmp(void **state)
{
    incsync_conf_t c = {.type = INCSYNC_TIME};
    /* the same instant written with two offsets */
    assert_int_equal(incsync_cmp(&c, "2024-03-01T10:00:00+07:00", "2024-03-01T03:00:00Z"), 0);
    /* byte order would say the opposite */
    assert_true(incsync_cmp(&c, "2024-03-01T09:00:00+07:00", "2024-03-01T01:30:00Z") > 0);
    assert_true(incsync_cmp(&c, "2024-03-01T10:00:00.5Z", "2024-03-01T10:00:00Z") > 0);
    assert_true(incsync_cmp(&c, "garbage", "2024-03-01T10:00:00Z") < 0);
    c.type = INCSYNC_NUMBER;
    assert_true(incsync_cmp(&c, "10", "9") > 0);
    assert_true(incsync_cmp(&c, "1.5", "1.25") > 0);
    c.type = INCSYNC_STRING;
    assert_true(incsync_cmp(&c, "10", "9") < 0);
}

static void test_pass(void **state)
{
    incsync_conf_t c = {.type = INCSYNC_TIME, .first_page = 1};
    incsync_t s;
    char err[128];
    assert_int_equal(incsync_load(&s, NULL, 0, err, sizeof err), 0);
    assert_int_equal(incsync_begin(&s, &c), 0);
    assert_true(s.in_pass);
    assert_null(s.since);                       /* first pass: everything */
    assert_int_equal(s.page, 1);
    assert_true(incsync_see(&s, &c, "2024-01-01T00:00:00+07:00"));
    assert_true(incsync_see(&s, &c, "2024-01-02T00:00:00+07:00"));
    assert_false(incsync_see(&s, &c, "yesterday"));
    assert_false(incsync_see(&s, &c, NULL));
    incsync_page_done(&s, &c, false, -1);
    assert_int_equal(s.page, 2);
    assert_null(s.watermark);                   /* not before the pass is complete */

    /* the state survives a restart in the middle of the pass */
    size_t len;
    char *bytes = incsync_dump(&s, &len);
    incsync_t r;
    assert_int_equal(incsync_load(&r, bytes, len, err, sizeof err), 0);
    free(bytes);
    assert_true(r.in_pass);
    assert_int_equal(r.page, 2);
    assert_string_equal(r.pass_max, "2024-01-02T00:00:00+07:00");
    assert_int_equal(incsync_begin(&r, &c), 0);  /* a pass in progress goes on */
    assert_int_equal(r.page, 2);
    assert_true(incsync_see(&r, &c, "2024-01-01T20:00:00Z"));   /* = 02T03:00+07: the max */
    incsync_items_done(&r, 3);
    assert_int_equal(r.item, 3);
    incsync_page_done(&r, &c, true, -1);
    assert_false(r.in_pass);
    assert_int_equal(r.item, 0);
    assert_string_equal(r.watermark, "2024-01-01T20:00:00Z");

    /* the next pass asks since the watermark */
    assert_int_equal(incsync_begin(&r, &c), 0);
    assert_string_equal(r.since, "2024-01-01T20:00:00Z");
    /* a pass with nothing new keeps the watermark */
    incsync_page_done(&r, &c, true, -1);
    assert_string_equal(r.watermark, "2024-01-01T20:00:00Z");
    incsync_clear(&r);
    incsync_clear(&s);

    assert_int_equal(incsync_load(&s, "{\"v\":2}", 7, err, sizeof err), -1);
    assert_int_equal(incsync_load(&s, "nope", 4, err, sizeof err), -1);
    incsync_clear(&s);
}

static void test_since(void **state)
{
    incsync_conf_t c = {.type = INCSYNC_TIME, .first_page = 1,
                        .initial_since = "2025-01-01T00:00:00+07:00"};
    char out[64];
    assert_int_equal(incsync_format_since(&c, "2024-03-01T10:22:33+07:00", out, sizeof out), 0);
    assert_string_equal(out, "2024-03-01T10:22:33+07:00");
    c.since_format = INCSYNC_SINCE_UTC;
    incsync_format_since(&c, "2024-03-01T10:22:33+07:00", out, sizeof out);
    assert_string_equal(out, "2024-03-01T03:22:33Z");
    c.since_format = INCSYNC_SINCE_ISO8601;
    incsync_format_since(&c, "2024-03-01 10:22:33.5+0700", out, sizeof out);
    assert_string_equal(out, "2024-03-01T10:22:33.5+07:00");
    c.since_format = INCSYNC_SINCE_UNIX;
    incsync_format_since(&c, "2024-03-01T10:22:33+07:00", out, sizeof out);
    assert_string_equal(out, "1709263353");
    c.since_format = INCSYNC_SINCE_UNIX_MS;
    incsync_format_since(&c, "2024-03-01T10:22:33.25+07:00", out, sizeof out);
    assert_string_equal(out, "1709263353250");
    incsync_format_since(&c, NULL, out, sizeof out);
    assert_string_equal(out, "");

    /* first pass from initial_since; an overlap re-reads the last seconds */
    incsync_t s;
    char err[64];
    incsync_load(&s, NULL, 0, err, sizeof err);
    incsync_begin(&s, &c);
    assert_string_equal(s.since, "2025-01-01T00:00:00+07:00");
    incsync_see(&s, &c, "2025-02-01T08:00:00+07:00");
    incsync_page_done(&s, &c, true, -1);
    c.overlap_s = 1;
    incsync_begin(&s, &c);
    assert_string_equal(s.since, "2025-02-01T07:59:59+07:00");
    incsync_clear(&s);
}

static void test_digest(void **state)
{
    char a[17], b[17];
    incsync_digest("abc", 3, a);
    incsync_digest("abd", 3, b);
    assert_int_equal(strlen(a), 16);
    assert_string_not_equal(a, b);
    incsync_digest("", 0, a);
    assert_string_equal(a, "cbf29ce484222325");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_pass),
        cmocka_unit_test(test_since),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
