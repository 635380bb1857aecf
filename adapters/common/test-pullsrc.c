/* test-pullsrc.c — unit tests of the pull loop with a fake source: a full
 * pass, resuming after a restart at the next page, pages that fill more
 * than one batch, quarantined items, a malformed answer quarantined once,
 * a failed fetch, a failed commit, the watermark moving only at the end of
 * a pass, and "since" of the next pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pullsrc.h"
#include "testhost.h"

/* The fake source: records r0..r(n-1), watermark = 2025-01-01T00:00:<i>Z,
 * served after `since` in pages of page_size. */
typedef struct {
    int    n;                 /* records */
    long   page_size;
    int    bad_id;            /* this record has no id (-1: none) */
    int    not_object;        /* this record is quarantined by the plugin (-1: none) */
    long   malformed_page;    /* this page's answer cannot be read (0: none) */
    long   fail_page;         /* this page cannot be fetched (0: none) */
    int    fetches;
    char   last_since[64];
    long   last_page;
    /* the page being served */
    int    first, count;
    char   id[32], wm[64], payload[128];
} fake_t;

static int s_since_index(const char *since)
{
    /* "2025-01-01T00:00:SSZ" (+ minutes for >= 60): index of the next record */
    if (!since || !*since)
        return 0;
    int m, s;
    sscanf(since, "2025-01-01T00:%d:%dZ", &m, &s);
    return m * 60 + s + 1;
}

static int f_fetch(void *impl, const char *since, long page, pullsrc_page_t *pg, char *err,
                   size_t errlen)
{
    fake_t *f = impl;
    f->fetches++;
    snprintf(f->last_since, sizeof f->last_since, "%s", since);
    f->last_page = page;
    if (page == f->fail_page) {
        snprintf(err, errlen, "GET fake: HTTP 503 after 4 attempts");
        return PULLSRC_FAILED;
    }
    if (page == f->malformed_page) {
        pg->bad = "{not json";
        pg->bad_len = 9;
        snprintf(pg->reason, sizeof pg->reason, "not JSON: '{' or '[' expected near 'not'");
        return PULLSRC_MALFORMED;
    }
    int from = s_since_index(since);
    int avail = f->n - from;
    int pages = avail > 0 ? (int)((avail + f->page_size - 1) / f->page_size) : 0;
    f->first = from + (int)((page - 1) * f->page_size);
    f->count = f->first < f->n ? f->n - f->first : 0;
    if (f->count > f->page_size)
        f->count = (int)f->page_size;
    pg->count = f->count;
    pg->total_pages = pages;
    return PULLSRC_PAGE;
}

static int f_item(void *impl, long i, pullsrc_item_t *it)
{
    fake_t *f = impl;
    int r = f->first + (int)i;
    snprintf(f->id, sizeof f->id, "r%d", r);
    snprintf(f->wm, sizeof f->wm, "2025-01-01T00:%02d:%02dZ", r / 60, r % 60);
    snprintf(f->payload, sizeof f->payload, "{\"id\":\"r%d\",\"v\":1}", r);
    it->payload = f->payload;
    it->payload_len = strlen(f->payload);
    it->source_id = r == f->bad_id ? NULL : f->id;
    it->watermark = f->wm;
    if (r == f->not_object)
        it->reason = "record is not a JSON object";
    return 0;
}

static void f_release(void *impl)
{
}

static const pullsrc_ops_t ops = {f_fetch, f_item, f_release};

static pullsrc_conf_t s_conf(long page_size)
{
    pullsrc_conf_t c = {.sync = {.type = INCSYNC_TIME, .first_page = 1},
                        .page_size = page_size, .pages_per_poll = 100,
                        .content_type = "application/json"};
    return c;
}

static void s_check_all_once(lgsp_adapter_t *a, int n)
{
    char id[32];
    for (int r = 0; r < n; r++) {
        snprintf(id, sizeof id, "r%d", r);
        assert_int_equal(th_count_id(a, id), 1);
    }
}

static void test_full_pass(void **state)
{
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 25, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_non_null(p);
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(f.fetches, 3);
    assert_int_equal(a.nrecs, 25);
    s_check_all_once(&a, 25);
    assert_string_equal(a.recs[12].position, "page 2 item 3");
    assert_string_equal(a.recs[12].content_type, "application/json");
    assert_int_equal(a.commits, 3);
    assert_non_null(strstr(a.state, "\"watermark\":\"2025-01-01T00:00:24Z\""));
    assert_non_null(strstr(a.state, "\"pass\":null"));
    char d[256];
    pullsrc_describe(p, d, sizeof d);
    assert_string_equal(d, "watermark 2025-01-01T00:00:24Z");

    /* nothing new: one fetch at the watermark, nothing stored, no commit */
    assert_int_equal(pullsrc_poll(p), 0);
    assert_string_equal(f.last_since, "2025-01-01T00:00:24Z");
    assert_int_equal(a.commits, 3);

    /* five new records: the next pass brings exactly them */
    f.n = 30;
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(a.nrecs, 30);
    s_check_all_once(&a, 30);
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_resume(void **state)
{
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 35, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    c.pages_per_poll = 2;
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 1);          /* two pages, more waiting */
    assert_int_equal(a.nrecs, 20);
    pullsrc_destroy(&p);                            /* "crash" */
    assert_non_null(strstr(a.state, "\"page\":3"));
    assert_non_null(strstr(a.state, "\"watermark\":null"));

    /* a new instance on the same state goes on at page 3 of the same pass */
    p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_non_null(strstr(a.log, "resuming"));
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(f.last_page, 4);
    assert_int_equal(a.nrecs, 35);
    s_check_all_once(&a, 35);
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_batches_split(void **state)
{
    lgsp_adapter_t a = {.batch_limit = 4};
    fake_t f = {.n = 10, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(a.commits, 3);                 /* 4 + 4 + 2 */
    s_check_all_once(&a, 10);
    pullsrc_destroy(&p);
    th_free(&a);

    /* a crash after the first batch of a page resumes at its 5th item */
    lgsp_adapter_t b = {.batch_limit = 4, .fail_on_commit = 2};
    fake_t g = {.n = 10, .page_size = 10, .bad_id = -1, .not_object = -1};
    p = pullsrc_new(&th_host, &b, &c, &ops, &g);
    assert_true(pullsrc_poll(p) < 0);
    assert_int_equal(b.nrecs, 4);
    assert_non_null(strstr(b.state, "\"item\":4"));
    pullsrc_destroy(&p);
    p = pullsrc_new(&th_host, &b, &c, &ops, &g);
    assert_int_equal(pullsrc_poll(p), 0);
    s_check_all_once(&b, 10);
    assert_int_equal(b.dups, 0);                    /* items 1-4 were not offered again */
    pullsrc_destroy(&p);
    th_free(&b);
}

static void test_commit_fails_then_resume(void **state)
{
    lgsp_adapter_t a = {.batch_limit = 4};
    fake_t f = {.n = 10, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    a.fail_commit = 1;
    assert_true(pullsrc_poll(p) < 0);
    assert_int_equal(a.nrecs, 0);
    assert_non_null(strstr(a.log, "disk full"));
    pullsrc_destroy(&p);
    /* the host restarts the adapter: everything comes, once */
    p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 0);
    s_check_all_once(&a, 10);
    assert_int_equal(a.nrecs, 10);
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_quarantine_items(void **state)
{
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 12, .page_size = 10, .bad_id = 3, .not_object = 11};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(th_quarantined(&a), 2);
    assert_int_equal(a.nrecs, 12);
    for (size_t i = 0; i < a.nrecs; i++) {
        if (!a.recs[i].quarantined)
            continue;
        if (!strcmp(a.recs[i].position, "page 1 item 4")) {
            assert_string_equal(a.recs[i].reason, "no record id");
            assert_string_equal(a.recs[i].payload, "{\"id\":\"r3\",\"v\":1}");
        } else {
            assert_string_equal(a.recs[i].position, "page 2 item 2");
            assert_string_equal(a.recs[i].reason, "record is not a JSON object");
        }
    }
    /* the watermark still moves past them */
    assert_non_null(strstr(a.state, "00:00:10Z"));
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_malformed_once(void **state)
{
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 25, .page_size = 10, .bad_id = -1, .not_object = -1, .malformed_page = 2};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_true(pullsrc_poll(p) < 0);
    assert_int_equal(a.nrecs, 11);                  /* page 1 + the answer of page 2 */
    assert_int_equal(th_quarantined(&a), 1);
    th_record_t *q = &a.recs[10];
    assert_true(q->quarantined);
    assert_string_equal(q->position, "page 2");
    assert_string_equal(q->payload, "{not json");
    assert_non_null(strstr(q->reason, "not JSON"));
    pullsrc_destroy(&p);

    /* retried after a restart: fails again, not quarantined again */
    p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_true(pullsrc_poll(p) < 0);
    assert_int_equal(th_quarantined(&a), 1);
    pullsrc_destroy(&p);

    /* the source is repaired: the pass completes */
    f.malformed_page = 0;
    p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 0);
    s_check_all_once(&a, 25);
    assert_null(strstr(a.state, "\"bad\""));
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_fetch_fails(void **state)
{
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 25, .page_size = 10, .bad_id = -1, .not_object = -1, .fail_page = 3};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_true(pullsrc_poll(p) < 0);
    assert_non_null(strstr(a.log, "page 3: GET fake: HTTP 503 after 4 attempts"));
    assert_int_equal(a.nrecs, 20);
    assert_int_equal(th_quarantined(&a), 0);
    f.fail_page = 0;
    assert_int_equal(pullsrc_poll(p), 0);
    s_check_all_once(&a, 25);
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_short_page_ends_pass(void **state)
{
    /* a source that gives no totals: a short page is the last */
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 25, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    pullsrc_ops_t o = ops;
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &o, &f);
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(f.fetches, 3);
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_bad_state(void **state)
{
    lgsp_adapter_t a = {0};
    a.state = strdup("{\"offset\":12}");
    a.state_len = strlen(a.state);
    fake_t f = {.n = 1, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    assert_null(pullsrc_new(&th_host, &a, &c, &ops, &f));
    assert_non_null(strstr(a.log, "not an incremental-sync state"));
    th_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_pass),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_batches_split),
        cmocka_unit_test(test_commit_fails_then_resume),
        cmocka_unit_test(test_quarantine_items),
        cmocka_unit_test(test_malformed_once),
        cmocka_unit_test(test_fetch_fails),
        cmocka_unit_test(test_short_page_ends_pass),
        cmocka_unit_test(test_bad_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
