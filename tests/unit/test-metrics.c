/* test-metrics.c — Prometheus text exposition: families, label escaping,
 * number formatting; the latency histogram: bucket placement, cumulative
 * rendering, quantiles, and observing while another thread renders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

/* Renders one unlabelled sample and compares its line. */
static void s_expect_value(double v, const char *text)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    metrics_sample(&b, "x", NULL, v);
    char want[128];
    snprintf(want, sizeof want, "x %s\n", text);
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    metrics_buf_free(&b);
}

static void test_numbers(void **state)
{
    s_expect_value(0.0, "0");
    s_expect_value(-0.0, "0");
    s_expect_value(1.0, "1");
    s_expect_value(-3.0, "-3");
    s_expect_value(42.0, "42");
    /* Integral values print in full, never with an exponent. */
    s_expect_value(1e6, "1000000");
    s_expect_value(1e15, "1000000000000000");
    s_expect_value(9007199254740993.0, "9007199254740992");   /* 2^53 + 1 rounds to 2^53 */
    s_expect_value((double) UINT64_MAX, "18446744073709551616");
    /* Fractions: the shortest text that reads back to the same double. */
    s_expect_value(0.5, "0.5");
    s_expect_value(0.1, "0.1");
    s_expect_value(2.25, "2.25");
    s_expect_value(1.0 / 3.0, "0.3333333333333333");
    s_expect_value(0.1 + 0.2, "0.30000000000000004");
    s_expect_value(1.5e-7, "1.5e-07");
    /* Beyond 2^64 an integral value takes the exponent form. */
    s_expect_value(1e300, "1e+300");
    /* Non-finite values as the format spells them. */
    s_expect_value(NAN, "NaN");
    s_expect_value(INFINITY, "+Inf");
    s_expect_value(-INFINITY, "-Inf");
}

static void test_family_and_labels(void **state)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    metrics_family(&b, "lgsp_messages_in_total", "counter", "Messages stored, per topic.");
    metrics_sample(&b, "lgsp_messages_in_total", (const char *const[]) { "topic", "raw.qn", NULL }, 12);
    metrics_sample(&b, "lgsp_lag", (const char *const[]) { "topic", "a", "group", "g1", NULL }, 3);
    /* An odd list: the name without a value is ignored. */
    metrics_sample(&b, "odd", (const char *const[]) { "topic", "t", "dangling", NULL }, 1);
    /* An empty list renders no braces. */
    metrics_sample(&b, "empty", (const char *const[]) { NULL }, 2);
    assert_string_equal(b.data,
        "# HELP lgsp_messages_in_total Messages stored, per topic.\n"
        "# TYPE lgsp_messages_in_total counter\n"
        "lgsp_messages_in_total{topic=\"raw.qn\"} 12\n"
        "lgsp_lag{topic=\"a\",group=\"g1\"} 3\n"
        "odd{topic=\"t\"} 1\n"
        "empty 2\n");
    assert_int_equal(b.len, strlen(b.data));
    metrics_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    metrics_buf_free(&b);   /* twice is harmless */
}

static void test_escaping(void **state)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    /* Label values: backslash, double quote and newline are escaped;
     * other bytes (UTF-8 included) pass unchanged. */
    metrics_sample(&b, "m", (const char *const[]) { "v", "a\\b\"c\nd Đà Nẵng", NULL }, 1);
    assert_string_equal(b.data, "m{v=\"a\\\\b\\\"c\\nd Đà Nẵng\"} 1\n");
    metrics_buf_free(&b);

    /* HELP text: backslash and newline escaped, quotes left alone. */
    metrics_family(&b, "h", "gauge", "say \"hi\"\\\nbye");
    assert_string_equal(b.data, "# HELP h say \"hi\"\\\\\\nbye\n# TYPE h gauge\n");
    metrics_buf_free(&b);

    /* Only-special and empty values. */
    metrics_sample(&b, "m", (const char *const[]) { "a", "\"", "b", "", "c", "\\\n", NULL }, 0);
    assert_string_equal(b.data, "m{a=\"\\\"\",b=\"\",c=\"\\\\\\n\"} 0\n");
    metrics_buf_free(&b);
}

static void test_buffer_grows(void **state)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    char want[64];
    for (int i = 0; i < 10000; i++)
        metrics_sample(&b, "lgsp_sample_with_a_long_name", NULL, (double) i);
    /* Spot checks: the first, a middle and the last line, and the size. */
    assert_memory_equal(b.data, "lgsp_sample_with_a_long_name 0\n", 31);
    snprintf(want, sizeof want, "\nlgsp_sample_with_a_long_name 5000\n");
    assert_non_null(strstr(b.data, want));
    snprintf(want, sizeof want, "lgsp_sample_with_a_long_name 9999\n");
    assert_string_equal(b.data + b.len - strlen(want), want);
    size_t expect = 0;
    for (int i = 0; i < 10000; i++)
        expect += strlen("lgsp_sample_with_a_long_name ") + (size_t) snprintf(NULL, 0, "%d", i) + 1;
    assert_int_equal(b.len, expect);
    assert_true(b.cap > b.len);
    metrics_buf_free(&b);
}

static uint64_t s_bucket(const metrics_hist_t *h, int i)
{
    return atomic_load(&((metrics_hist_t *) h)->bucket[i]);
}

static void test_hist_placement(void **state)
{
    /* Bounds are inclusive ("le"): a value equal to a bound belongs to it. */
    static const struct { uint64_t us; int bucket; } cases[] = {
        { 0, 0 }, { 1, 0 }, { 50, 0 }, { 51, 1 }, { 100, 1 }, { 101, 2 },
        { 750, 5 }, { 751, 6 }, { 1000, 6 }, { 1001, 7 }, { 1500, 7 }, { 2999, 9 },
        { 5000, 10 }, { 10000, 11 }, { 25000, 12 }, { 50000, 13 }, { 100000, 14 },
        { 250000, 15 }, { 250001, 16 }, { UINT64_MAX / 2, 16 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        metrics_hist_t h = { 0 };
        metrics_hist_observe(&h, cases[c].us);
        for (int i = 0; i <= METRICS_HIST_BUCKETS; i++)
            if (s_bucket(&h, i) != (i == cases[c].bucket ? 1u : 0u))
                fail_msg("%" PRIu64 " us: bucket %d holds %" PRIu64 ", expected in bucket %d",
                         cases[c].us, i, s_bucket(&h, i), cases[c].bucket);
        assert_int_equal(atomic_load(&h.count), 1);
        assert_int_equal(atomic_load(&h.sum_us), cases[c].us);
    }
}

static void test_hist_render(void **state)
{
    metrics_hist_t h = { 0 };
    const uint64_t obs[] = { 0, 50, 51, 1000, 1001, 250000, 250001, 10000000 };
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        metrics_hist_observe(&h, obs[i]);
    metrics_buf_t b;
    metrics_buf_init(&b);
    metrics_hist_render(&b, "lgsp_commit_seconds", "Durable journal commit latency.", &h);
    assert_string_equal(b.data,
        "# HELP lgsp_commit_seconds Durable journal commit latency.\n"
        "# TYPE lgsp_commit_seconds histogram\n"
        "lgsp_commit_seconds_bucket{le=\"0.00005\"} 2\n"
        "lgsp_commit_seconds_bucket{le=\"0.0001\"} 3\n"
        "lgsp_commit_seconds_bucket{le=\"0.0002\"} 3\n"
        "lgsp_commit_seconds_bucket{le=\"0.0003\"} 3\n"
        "lgsp_commit_seconds_bucket{le=\"0.0005\"} 3\n"
        "lgsp_commit_seconds_bucket{le=\"0.00075\"} 3\n"
        "lgsp_commit_seconds_bucket{le=\"0.001\"} 4\n"
        "lgsp_commit_seconds_bucket{le=\"0.0015\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.002\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.003\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.005\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.01\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.025\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.05\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.1\"} 5\n"
        "lgsp_commit_seconds_bucket{le=\"0.25\"} 6\n"
        "lgsp_commit_seconds_bucket{le=\"+Inf\"} 8\n"
        "lgsp_commit_seconds_sum 10.502103\n"
        "lgsp_commit_seconds_count 8\n");
    metrics_buf_free(&b);

    /* Empty: every bucket 0, sum 0, count 0. */
    metrics_hist_t e = { 0 };
    metrics_hist_render(&b, "e", "h", &e);
    assert_non_null(strstr(b.data, "e_bucket{le=\"+Inf\"} 0\ne_sum 0\ne_count 0\n"));
    metrics_buf_free(&b);

    /* Whole seconds print without a fraction. */
    metrics_hist_t w = { 0 };
    metrics_hist_observe(&w, 3000000);
    metrics_hist_render(&b, "w", "h", &w);
    assert_non_null(strstr(b.data, "w_sum 3\nw_count 1\n"));
    metrics_buf_free(&b);
}

static void test_hist_quantile(void **state)
{
    metrics_hist_t h = { 0 };
    assert_int_equal(metrics_hist_quantile(&h, 0.5), 0);      /* empty */

    /* 100 observations inside (50, 100]: interpolation within the bucket. */
    for (int i = 0; i < 100; i++)
        metrics_hist_observe(&h, 75);
    assert_int_equal(metrics_hist_quantile(&h, 0.5), 75);
    assert_int_equal(metrics_hist_quantile(&h, 1.0), 100);
    assert_int_equal(metrics_hist_quantile(&h, 0.0), 50);     /* the bucket's lower end, not 0 */
    assert_int_equal(metrics_hist_quantile(&h, 0.2), 60);
    assert_int_equal(metrics_hist_quantile(&h, -1.0), 50);    /* clamped */
    assert_int_equal(metrics_hist_quantile(&h, 7.0), 100);
    assert_int_equal(metrics_hist_quantile(&h, NAN), 50);

    /* 90 fast (first bucket, from 0) and 10 slow in (2000, 3000]. */
    metrics_hist_t m = { 0 };
    for (int i = 0; i < 90; i++)
        metrics_hist_observe(&m, 10);
    for (int i = 0; i < 10; i++)
        metrics_hist_observe(&m, 2500);
    assert_int_equal(metrics_hist_quantile(&m, 0.5), 28);     /* 50 * 50/90 = 27.8 */
    assert_int_equal(metrics_hist_quantile(&m, 0.9), 50);
    assert_int_equal(metrics_hist_quantile(&m, 0.95), 2500);
    assert_int_equal(metrics_hist_quantile(&m, 0.99), 2900);
    /* Quantiles never decrease with q. */
    uint64_t last = 0;
    for (double q = 0; q <= 1.0; q += 0.01) {
        uint64_t v = metrics_hist_quantile(&m, q);
        assert_true(v >= last);
        last = v;
    }

    /* Past the last bound: the last finite bound is the best answer. */
    metrics_hist_t s = { 0 };
    for (int i = 0; i < 10; i++)
        metrics_hist_observe(&s, 1000000);
    assert_int_equal(metrics_hist_quantile(&s, 0.5), 250000);
    assert_int_equal(metrics_hist_quantile(&s, 1.0), 250000);
}

/* ---- observing while another thread renders ------------------------- */

#define RACE_N 200000

static void *s_observer(void *arg)
{
    metrics_hist_t *h = arg;
    for (uint64_t i = 0; i < RACE_N; i++)
        metrics_hist_observe(h, (i * 7919) % 400000);
    return NULL;
}

/* Returns the number in "<prefix><number>\n" found in text. */
static uint64_t s_value_after(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    assert_non_null(p);
    return strtoull(p + strlen(prefix), NULL, 10);
}

static void test_hist_concurrent(void **state)
{
    metrics_hist_t h = { 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_observer, &h), 0);
    uint64_t last = 0;
    for (int i = 0; i < 200; i++) {
        metrics_buf_t b;
        metrics_buf_init(&b);
        metrics_hist_render(&b, "r", "race", &h);
        /* Each render is self-consistent and counts never go back. */
        uint64_t inf = s_value_after(b.data, "r_bucket{le=\"+Inf\"} ");
        uint64_t count = s_value_after(b.data, "r_count ");
        assert_int_equal(inf, count);
        assert_true(count >= last);
        last = count;
        metrics_buf_free(&b);
        (void) metrics_hist_quantile(&h, 0.99);
    }
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&h.count), RACE_N);
    uint64_t total = 0, sum = 0;
    for (int i = 0; i <= METRICS_HIST_BUCKETS; i++)
        total += s_bucket(&h, i);
    for (uint64_t i = 0; i < RACE_N; i++)
        sum += (i * 7919) % 400000;
    assert_int_equal(total, RACE_N);
    assert_int_equal(atomic_load(&h.sum_us), sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_family_and_labels),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_buffer_grows),
        cmocka_unit_test(test_hist_placement),
        cmocka_unit_test(test_hist_render),
        cmocka_unit_test(test_hist_quantile),
        cmocka_unit_test(test_hist_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
