/* test-adcfg.c — unit tests of typed settings: durations, sizes, numbers,
 * booleans, the shared HTTP and incremental-sync settings, headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "adcfg.h"
#include "testhost.h"

static void test_parsers(void **state)
{
    uint64_t ms;
    assert_int_equal(adcfg_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(adcfg_parse_duration_ms("5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(adcfg_parse_duration_ms("1.5", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(adcfg_parse_duration_ms("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(adcfg_parse_duration_ms("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(adcfg_parse_duration_ms("5 s", &ms), -1);
    assert_int_equal(adcfg_parse_duration_ms("-1s", &ms), -1);
    assert_int_equal(adcfg_parse_duration_ms("s", &ms), -1);
    size_t sz;
    assert_int_equal(adcfg_parse_size("65536", &sz), 0);
    assert_int_equal(sz, 65536);
    assert_int_equal(adcfg_parse_size("512k", &sz), 0);
    assert_int_equal(sz, 524288);
    assert_int_equal(adcfg_parse_size("64MiB", &sz), 0);
    assert_int_equal(sz, (size_t)64 << 20);
    assert_int_equal(adcfg_parse_size("1MB", &sz), 0);
    assert_int_equal(sz, (size_t)1 << 20);
    assert_int_equal(adcfg_parse_size("1GiB", &sz), 0);
    assert_int_equal(sz, (size_t)1 << 30);
    assert_int_equal(adcfg_parse_size("12x", &sz), -1);
    assert_int_equal(adcfg_parse_size("1Mx", &sz), -1);
}

static void test_settings(void **state)
{
    const char *const settings[] = {
        "n", "42", "bad", "4x", "big", "1000", "d", "750ms", "b", "yes", "nb", "maybe",
        "timeout", "2s", "retries", "5", "rate_limit", "12.5", "max_body", "1MiB",
        "watermark_type", "time", "since_format", "utc", "default_offset", "+07:00",
        "since_overlap", "1s", "initial_since", "2025-01-01", NULL};
    lgsp_adapter_t a = {.settings = settings};
    long n;
    assert_int_equal(adcfg_long(&th_host, &a, "n", 1, 0, 100, &n), 0);
    assert_int_equal(n, 42);
    assert_int_equal(adcfg_long(&th_host, &a, "absent", 7, 0, 100, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(adcfg_long(&th_host, &a, "bad", 1, 0, 100, &n), LGSP_AE_INVALID);
    assert_non_null(strstr(a.error, "setting bad"));
    assert_int_equal(adcfg_long(&th_host, &a, "big", 1, 0, 100, &n), LGSP_AE_INVALID);
    uint64_t ms;
    assert_int_equal(adcfg_duration_ms(&th_host, &a, "d", 1, &ms), 0);
    assert_int_equal(ms, 750);
    bool b;
    assert_int_equal(adcfg_bool(&th_host, &a, "b", false, &b), 0);
    assert_true(b);
    assert_int_equal(adcfg_bool(&th_host, &a, "nb", false, &b), LGSP_AE_INVALID);
    assert_null(adcfg_required(&th_host, &a, "url"));
    assert_non_null(strstr(a.error, "url: required"));

    httpfetch_opts_t o;
    httpfetch_opts_default(&o);
    assert_int_equal(adcfg_http(&th_host, &a, &o), 0);
    assert_int_equal(o.timeout_ms, 2000);
    assert_int_equal(o.retries, 5);
    assert_true(o.rate > 12.4 && o.rate < 12.6);
    assert_int_equal(o.max_body, (size_t)1 << 20);
    assert_int_equal(o.backoff_ms, 500);       /* default kept */

    incsync_conf_t c = {0};
    assert_int_equal(adcfg_incsync(&th_host, &a, &c), 0);
    assert_int_equal(c.type, INCSYNC_TIME);
    assert_int_equal(c.since_format, INCSYNC_SINCE_UTC);
    assert_int_equal(c.default_offset_min, 420);
    assert_int_equal(c.overlap_s, 1);
    assert_int_equal(c.first_page, 1);
    assert_string_equal(c.initial_since, "2025-01-01");
    assert_true(c.descending);                 /* the default page order */

    const char *const bad[] = {"since_format", "weekly", NULL};
    lgsp_adapter_t a2 = {.settings = bad};
    assert_int_equal(adcfg_incsync(&th_host, &a2, &c), LGSP_AE_INVALID);
    assert_non_null(strstr(a2.error, "since_format"));
}

static void test_headers(void **state)
{
    const char *const settings[] = {"auth.header", "X-API-Key", "auth.value", "k1", NULL};
    lgsp_adapter_t a = {.settings = settings,
                        .settings_json = "{\"headers\":{\"Accept\":\"application/json\"},"
                                         "\"auth\":{\"header\":\"X-API-Key\",\"value\":\"k1\"}}"};
    const char *const extra[] = {"Content-Type: text/xml", NULL};
    char **h = adcfg_headers(&th_host, &a, extra);
    assert_non_null(h);
    assert_string_equal(h[0], "Content-Type: text/xml");
    assert_string_equal(h[1], "Accept: application/json");
    assert_string_equal(h[2], "X-API-Key: k1");
    assert_null(h[3]);
    adcfg_headers_free(&h);
    assert_null(h);

    lgsp_adapter_t b = {.settings_json = "{\"headers\":{\"X-Evil\":\"a\\r\\nHost: x\"}}"};
    assert_null(adcfg_headers(&th_host, &b, NULL));
    assert_non_null(strstr(b.error, "headers"));

    const char *const noval[] = {"auth.header", "X-API-Key", NULL};
    lgsp_adapter_t c = {.settings = noval};
    assert_null(adcfg_headers(&th_host, &c, NULL));
    assert_non_null(strstr(c.error, "auth.value"));
}

static void test_secret(void **state)
{
    char path[] = "/tmp/adcfg-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    bool absent;
    const char *const file[] = {"password_file", path, "auth.header", "X-API-Key", "auth.value_file", path,
                                NULL};
    lgsp_adapter_t a = {.settings = file};
    char *v = adcfg_secret(&th_host, &a, "password", "password_file", &absent);
    assert_string_equal(v, "s3cret");
    free(v);
    char **h = adcfg_headers(&th_host, &a, NULL);
    assert_non_null(h);
    assert_string_equal(h[0], "X-API-Key: s3cret");
    adcfg_headers_free(&h);

    const char *const none[] = {NULL};
    lgsp_adapter_t b = {.settings = none};
    assert_null(adcfg_secret(&th_host, &b, "password", "password_file", &absent));
    assert_true(absent);

    const char *const both[] = {"password", "x", "password_file", path, NULL};
    lgsp_adapter_t c = {.settings = both};
    assert_null(adcfg_secret(&th_host, &c, "password", "password_file", &absent));
    assert_false(absent);
    assert_non_null(strstr(c.error, "not both"));

    unlink(path);
    lgsp_adapter_t d = {.settings = file};
    assert_null(adcfg_secret(&th_host, &d, "password", "password_file", &absent));
    assert_false(absent);
    assert_non_null(strstr(d.error, "password_file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
