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

/* A source whose records change while it is paged: record `move_id`
 * changes (new version, latest timestamp: to the end of the order) just
 * before fetch number `move_at`, as docs/simulators.md §1 warns. */
typedef struct {
    int   n;
    int   wm[64];               /* per record: the second of its timestamp */
    int   version[64];
    int   page_size, fetches, move_at, move_id;
    int   served[64];           /* the page last fetched: record numbers */
    int   count;
    char  id[16], wmbuf[64], payload[64];
} moving_t;

static int m_fetch(void *impl, const char *since, long page, pullsrc_page_t *pg, char *err,
                   size_t errlen)
{
    moving_t *m = impl;
    if (++m->fetches == m->move_at) {
        int top = 0;
        for (int r = 0; r < m->n; r++)
            top = m->wm[r] > top ? m->wm[r] : top;
        m->wm[m->move_id] = top + 1;
        m->version[m->move_id]++;
    }
    int from = -1;
    if (since && *since) {
        int mi, se;
        sscanf(since, "2025-01-01T00:%d:%dZ", &mi, &se);
        from = mi * 60 + se;
    }
    /* the records after since, in timestamp order (they are distinct) */
    int order[64], k = 0;
    for (int t = 0; t < 3600 && k < m->n; t++)
        for (int r = 0; r < m->n; r++)
            if (m->wm[r] == t && t > from)
                order[k++] = r;
    int first = (int)(page - 1) * m->page_size;
    m->count = 0;
    for (int i = first; i < k && i < first + m->page_size; i++)
        m->served[m->count++] = order[i];
    pg->count = m->count;
    pg->total_pages = (k + m->page_size - 1) / m->page_size;
    return PULLSRC_PAGE;
}

static int m_item(void *impl, long i, pullsrc_item_t *it)
{
    moving_t *m = impl;
    int r = m->served[i];
    snprintf(m->id, sizeof m->id, "m%d", r);
    snprintf(m->wmbuf, sizeof m->wmbuf, "2025-01-01T00:%02d:%02dZ", m->wm[r] / 60, m->wm[r] % 60);
    snprintf(m->payload, sizeof m->payload, "{\"id\":\"m%d\",\"v\":%d}", r, m->version[r]);
    it->payload = m->payload;
    it->payload_len = strlen(m->payload);
    it->source_id = m->id;
    it->watermark = m->wmbuf;
    return 0;
}

static const pullsrc_ops_t moving_ops = {m_fetch, m_item, f_release};

/* Runs two passes over 20 records in pages of 5, record 2 changing before
 * the third request; returns how many records never arrived. */
static int s_moving_run(bool descending, lgsp_adapter_t *a)
{
    moving_t m = {.n = 20, .page_size = 5, .move_at = 3, .move_id = 2};
    for (int r = 0; r < m.n; r++)
        m.wm[r] = r;
    pullsrc_conf_t c = s_conf(5);
    c.sync.descending = descending;
    pullsrc_t *p = pullsrc_new(&th_host, a, &c, &moving_ops, &m);
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(pullsrc_poll(p), 0);          /* the next pass */
    pullsrc_destroy(&p);
    int missing = 0;
    char id[16];
    for (int r = 0; r < m.n; r++) {
        snprintf(id, sizeof id, "m%d", r);
        missing += th_count_id(a, id) == 0;
    }
    /* the changed record's new version arrived either way */
    bool v1 = false;
    for (size_t i = 0; i < a->nrecs; i++)
        v1 |= !strcmp(a->recs[i].payload, "{\"id\":\"m2\",\"v\":1}");
    assert_true(v1);
    return missing;
}

static void test_page_order(void **state)
{
    /* Ascending (the simulator's doc): record 2 moves to the end after
     * pages 1 and 2 were read, record 10 slides into page 2 and is never
     * read (it did not change, so no later pass brings it). */
    lgsp_adapter_t a = {0};
    assert_int_equal(s_moving_run(false, &a), 1);
    assert_int_equal(th_count_id(&a, "m10"), 0);
    th_free(&a);
    /* Descending: 1, 4, 3, 2, 1 again: nothing missing. */
    lgsp_adapter_t b = {0};
    assert_int_equal(s_moving_run(true, &b), 0);
    th_free(&b);
}

static void test_descending_quarantine_once(void **state)
{
    /* page 1 is read twice in a descending pass: what it quarantines goes
     * to the quarantine once, also across a restart between the two reads */
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 25, .page_size = 10, .bad_id = 3, .not_object = 5};
    pullsrc_conf_t c = s_conf(10);
    c.sync.descending = true;
    c.pages_per_poll = 2;
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 1);          /* pages 1 and 3 */
    pullsrc_destroy(&p);
    assert_non_null(strstr(a.state, "\"q\":[\""));
    p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 0);          /* pages 2 and 1 */
    assert_int_equal(f.last_page, 1);
    assert_int_equal(th_quarantined(&a), 2);
    s_check_all_once(&a, 3);
    assert_null(strstr(a.state, "\"q\""));
    pullsrc_destroy(&p);
    th_free(&a);
}

static void test_descending_resume(void **state)
{
    lgsp_adapter_t a = {0};
    fake_t f = {.n = 35, .page_size = 10, .bad_id = -1, .not_object = -1};
    pullsrc_conf_t c = s_conf(10);
    c.sync.descending = true;
    c.pages_per_poll = 2;
    pullsrc_t *p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 1);          /* page 1, then page 4 */
    assert_int_equal(f.last_page, 4);
    pullsrc_destroy(&p);
    assert_non_null(strstr(a.state, "\"phase\":\"down\""));
    assert_non_null(strstr(a.state, "\"page\":3"));
    assert_non_null(strstr(a.state, "\"max\":\"2025-01-01T00:00:34Z\""));
    p = pullsrc_new(&th_host, &a, &c, &ops, &f);
    assert_int_equal(pullsrc_poll(p), 1);          /* pages 3, 2 */
    assert_int_equal(pullsrc_poll(p), 0);          /* page 1 again: the pass is complete */
    assert_int_equal(f.last_page, 1);
    s_check_all_once(&a, 35);
    assert_int_equal(a.dups, 10);                  /* page 1 read twice, stored once */
    assert_non_null(strstr(a.state, "\"watermark\":\"2025-01-01T00:00:34Z\""));
    /* a source with one page: one request per pass */
    int before = f.fetches;
    f.n = 38;
    assert_int_equal(pullsrc_poll(p), 0);
    assert_int_equal(f.fetches, before + 1);
    s_check_all_once(&a, 38);
    pullsrc_destroy(&p);
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
        cmocka_unit_test(test_page_order),
        cmocka_unit_test(test_descending_resume),
        cmocka_unit_test(test_descending_quarantine_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
