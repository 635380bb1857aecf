/* test-jsonpage.c — unit tests of one JSON answer: the record array at a
 * path, totals, ids and watermarks, what is quarantined and why, answers
 * that are not JSON or lack the array, the payload's form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonpage.h"

static const jsonpage_conf_t qn = {.records = "data", .total_pages = "total_pages", .total = "total",
                                   .id = "id", .watermark = "updated_at"};

static int s_parse(jsonpage_t *p, const jsonpage_conf_t *c, const char *body, pullsrc_page_t *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->total_pages = pg->total = -1;
    return jsonpage_parse(p, c, body, strlen(body), pg);
}

static void test_page(void **state)
{
    jsonpage_t p = {0};
    pullsrc_page_t pg;
    const char *body =
        "{\"page\":1,\"page_size\":3,\"total\":7,\"total_pages\":3,\"data\":["
        "{\"id\":\"QN1\",\"ho_ten\":\"NGUYỄN THỊ \\u0048ƯƠNG\",\"z\":null,\"a\":1,"
        "\"updated_at\":\"2000-02-22T14:39:59+07:00\"},\n"
        "  {\"id\":42,\"updated_at\":\"2001-01-01T00:00:00+07:00\"},"
        "{\"id\":\"QN3\"}]}";
    assert_int_equal(s_parse(&p, &qn, body, &pg), PULLSRC_PAGE);
    assert_int_equal(pg.count, 3);
    assert_int_equal(pg.total_pages, 3);
    assert_int_equal(pg.total, 7);
    pullsrc_item_t it = {0};
    assert_int_equal(jsonpage_item(&p, &qn, 0, &it), 0);
    assert_null(it.reason);
    assert_string_equal(it.source_id, "QN1");
    assert_string_equal(it.watermark, "2000-02-22T14:39:59+07:00");
    /* compact, key order kept, \u escape decoded to UTF-8 */
    assert_string_equal(it.payload, "{\"id\":\"QN1\",\"ho_ten\":\"NGUYỄN THỊ HƯƠNG\",\"z\":null,\"a\":1,"
                                    "\"updated_at\":\"2000-02-22T14:39:59+07:00\"}");
    assert_int_equal(it.payload_len, strlen(it.payload));
    memset(&it, 0, sizeof it);
    jsonpage_item(&p, &qn, 1, &it);
    assert_string_equal(it.source_id, "42");                   /* a numeric id as text */
    memset(&it, 0, sizeof it);
    jsonpage_item(&p, &qn, 2, &it);
    assert_string_equal(it.source_id, "QN3");
    assert_null(it.watermark);                                 /* published, no watermark */
    jsonpage_release(&p);
}

static void test_quarantined_items(void **state)
{
    jsonpage_t p = {0};
    pullsrc_page_t pg;
    const char *body = "{\"data\":[[1,2],\"text\",{\"name\":\"x\"},{\"id\":null},{\"id\":\"\"},"
                       "{\"id\":{\"a\":1}},{\"id\":true}]}";
    assert_int_equal(s_parse(&p, &qn, body, &pg), PULLSRC_PAGE);
    assert_int_equal(pg.count, 7);
    assert_int_equal(pg.total_pages, -1);                     /* absent */
    const char *want[] = {"not a JSON object", "not a JSON object", "has no id", "has no id",
                          "not a non-empty string", "not a non-empty string", "not a non-empty string"};
    const char *payload[] = {"[1,2]", "\"text\"", "{\"name\":\"x\"}", "{\"id\":null}", "{\"id\":\"\"}",
                             "{\"id\":{\"a\":1}}", "{\"id\":true}"};
    for (long i = 0; i < 7; i++) {
        pullsrc_item_t it = {0};
        assert_int_equal(jsonpage_item(&p, &qn, i, &it), 0);
        assert_non_null(it.reason);
        assert_non_null(strstr(it.reason, want[i]));
        assert_string_equal(it.payload, payload[i]);
    }
    jsonpage_release(&p);
}

static void test_malformed(void **state)
{
    jsonpage_t p = {0};
    pullsrc_page_t pg;
    assert_int_equal(s_parse(&p, &qn, "{\"data\":[{\"id\":1},", &pg), PULLSRC_MALFORMED);
    assert_non_null(strstr(pg.reason, "not JSON"));
    assert_non_null(strstr(pg.reason, "line 1"));
    assert_int_equal(s_parse(&p, &qn, "<html>502 Bad Gateway</html>", &pg), PULLSRC_MALFORMED);
    assert_non_null(strstr(pg.reason, "not JSON"));
    /* the reason is logged: it does not quote the answer */
    assert_int_equal(s_parse(&p, &qn, "{\"data\":[{\"ho_ten\": NGUYEN}]}", &pg), PULLSRC_MALFORMED);
    assert_null(strstr(pg.reason, "NGUYEN"));
    assert_non_null(strstr(pg.reason, "column"));
    assert_int_equal(s_parse(&p, &qn, "{\"error\":{\"code\":\"X\"}}", &pg), PULLSRC_MALFORMED);
    assert_string_equal(pg.reason, "no array of records at 'data' (absent)");
    assert_int_equal(s_parse(&p, &qn, "{\"data\":{}}", &pg), PULLSRC_MALFORMED);
    assert_string_equal(pg.reason, "no array of records at 'data' (another type)");
    /* invalid UTF-8 is not JSON */
    assert_int_equal(s_parse(&p, &qn, "{\"data\":[{\"id\":\"\xff\"}]}", &pg), PULLSRC_MALFORMED);
    jsonpage_release(&p);
}

static void test_paths(void **state)
{
    jsonpage_t p = {0};
    pullsrc_page_t pg;
    const jsonpage_conf_t nested = {.records = "result.items", .total_pages = "result.paging.0.pages",
                                    .id = "key.value", .watermark = "meta.version"};
    const char *body = "{\"result\":{\"paging\":[{\"pages\":\"4\"}],\"items\":["
                       "{\"key\":{\"value\":\"k1\"},\"meta\":{\"version\":17}}]}}";
    assert_int_equal(s_parse(&p, &nested, body, &pg), PULLSRC_PAGE);
    assert_int_equal(pg.total_pages, 4);                      /* digits in a string */
    pullsrc_item_t it = {0};
    jsonpage_item(&p, &nested, 0, &it);
    assert_string_equal(it.source_id, "k1");
    assert_string_equal(it.watermark, "17");
    /* a bare array as the answer */
    const jsonpage_conf_t bare = {.records = "", .id = "id"};
    assert_int_equal(s_parse(&p, &bare, "[{\"id\":\"a\"},{\"id\":\"b\"}]", &pg), PULLSRC_PAGE);
    assert_int_equal(pg.count, 2);
    json_t *doc = json_loads("{\"a\":[1,{\"b\":2}]}", 0, NULL);
    assert_int_equal(json_integer_value(jsonpage_path(doc, "a.1.b")), 2);
    assert_null(jsonpage_path(doc, "a.x"));
    assert_null(jsonpage_path(doc, "a..b"));
    assert_ptr_equal(jsonpage_path(doc, "."), doc);
    json_decref(doc);
    jsonpage_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_quarantined_items),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
