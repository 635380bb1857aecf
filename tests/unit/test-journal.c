/* test-journal.c — the LMDB journal: append, idempotency, reads, groups,
 * dead letters, retention, a full map, and reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "journal.h"
#include "lgsp/protocol.h"

typedef struct {
    char dir[256];
    journal_t *j;
} fixture_t;

static journal_t *s_open(const char *dir, uint64_t map)
{
    journal_options_t o = { .path = dir, .map_size = map, .max_topics = 16 };
    char *err = NULL;
    journal_t *j = journal_open(&o, &err);
    if (!j)
        fprintf(stderr, "open: %s\n", err);
    free(err);
    return j;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/lgsp-test-journal-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->j = s_open(f->dir, 64u << 20);
    *state = f;
    return f->j ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    journal_close(&f->j);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static journal_record_t s_rec(const char *id, const char *key, const char *payload)
{
    journal_record_t r = { .time_us = 1000, .id = id, .id_len = strlen(id),
                           .key = key, .key_len = key ? strlen(key) : 0,
                           .payload = payload, .payload_len = strlen(payload) };
    return r;
}

static void s_append(journal_t *j, const char *topic, const char *id, const char *payload,
                     uint64_t expect_offset, bool expect_dup)
{
    journal_record_t r = s_rec(id, NULL, payload);
    uint64_t off = 999;
    bool dup = !expect_dup;
    assert_int_equal(journal_append(j, topic, &r, &off, &dup), 0);
    assert_int_equal(off, expect_offset);
    assert_int_equal(dup, expect_dup);
}

static void test_append_read_and_idempotency(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "raw.qn", "a", "first", 0, false);
    s_append(f->j, "raw.qn", "b", "second", 1, false);
    s_append(f->j, "raw.qn", "a", "again", 0, true);   /* same id: not stored */
    s_append(f->j, "raw.dn", "a", "other topic", 0, false);
    /* Not visible to readers before the commit. */
    journal_topic_stats_t st;
    assert_int_equal(journal_topic_stats(f->j, "raw.qn", &st), LGSP_NOT_FOUND);
    assert_int_equal(journal_commit(f->j), 0);
    assert_int_equal(journal_topic_stats(f->j, "raw.qn", &st), 0);
    assert_int_equal(st.next, 2);
    assert_int_equal(st.count, 2);

    journal_reader_t *r = journal_reader_new(f->j);
    journal_record_t rec;
    assert_int_equal(journal_reader_begin(r), 0);
    assert_int_equal(journal_read_from(r, "raw.qn", 1, &rec), 0);
    assert_int_equal(rec.offset, 1);
    assert_memory_equal(rec.payload, "second", 6);
    assert_int_equal(journal_read_from(r, "raw.qn", 2, &rec), LGSP_NOT_FOUND);
    journal_reader_end(r);
    journal_reader_destroy(&r);

    /* A dup across commits is still a dup. */
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "raw.qn", "b", "retry", 1, true);
    assert_int_equal(journal_commit(f->j), 0);
}

static void test_abort_leaves_nothing(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "t", "x", "kept", 0, false);
    assert_int_equal(journal_commit(f->j), 0);
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "t", "y", "dropped", 1, false);
    s_append(f->j, "new-topic", "z", "dropped", 0, false);
    journal_abort(f->j);
    journal_topic_stats_t st;
    assert_int_equal(journal_topic_stats(f->j, "t", &st), 0);
    assert_int_equal(st.next, 1);
    assert_int_equal(journal_topic_stats(f->j, "new-topic", &st), LGSP_NOT_FOUND);
    /* The aborted offset and id are free again. */
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "t", "y", "now", 1, false);
    assert_int_equal(journal_commit(f->j), 0);
}

static void s_group_cb(void *arg, const char *topic, const char *group, uint32_t gid, uint64_t committed)
{
    uint64_t *c = arg;
    if (strcmp(group, "mapper") == 0)
        *c = committed;
}

static void s_pending_cb(void *arg, uint64_t offset, uint32_t attempts, bool acked, const char *reason)
{
    int *n = arg;
    (*n)++;
    assert_int_equal(offset, 3);
    assert_int_equal(attempts, 2);
    assert_string_equal(reason, "why");
}

static void test_groups_and_reopen(void **state)
{
    fixture_t *f = *state;
    uint32_t gid;
    uint64_t committed;
    assert_int_equal(journal_begin(f->j), 0);
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "m%d", i);
        s_append(f->j, "raw", id, "p", (uint64_t) i, false);
    }
    assert_int_equal(journal_group_open(f->j, "raw", "mapper", false, &gid, &committed), 0);
    assert_int_equal(committed, 0);
    uint32_t gid2;
    assert_int_equal(journal_group_open(f->j, "raw", "late", true, &gid2, &committed), 0);
    assert_int_equal(committed, 5);
    assert_int_not_equal(gid, gid2);
    assert_int_equal(journal_pending_put(f->j, gid, 1, 1, true, NULL), 0);
    assert_int_equal(journal_pending_put(f->j, gid, 3, 2, false, "why"), 0);
    assert_int_equal(journal_group_commit(f->j, "raw", "mapper", gid, 2), 0);  /* drops pending 1 */
    assert_int_equal(journal_commit(f->j), 0);

    journal_close(&f->j);
    f->j = s_open(f->dir, 64u << 20);
    assert_non_null(f->j);
    journal_reader_t *r = journal_reader_new(f->j);
    journal_reader_begin(r);
    uint64_t c = 99;
    journal_each_group(r, s_group_cb, &c);
    assert_int_equal(c, 2);
    int n = 0;
    journal_each_pending(r, gid, s_pending_cb, &n);
    assert_int_equal(n, 1);
    journal_reader_end(r);
    journal_reader_destroy(&r);
    /* Reopening keeps offsets and ids. */
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "raw", "m4", "dup after reopen", 4, true);
    s_append(f->j, "raw", "m5", "p", 5, false);
    assert_int_equal(journal_group_open(f->j, "raw", "mapper", false, &gid2, &committed), 0);
    assert_int_equal(gid2, gid);
    assert_int_equal(committed, 2);
    assert_int_equal(journal_commit(f->j), 0);
}

static void test_dead_letter_replay_purge(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(journal_begin(f->j), 0);
    journal_record_t r = s_rec("orig-7", "person-1", "payload");
    r.headers = "{\"source\":\"qn\"}";
    r.headers_len = strlen(r.headers);
    uint64_t off;
    bool dup;
    assert_int_equal(journal_append(f->j, "canon", &r, &off, &dup), 0);
    assert_int_equal(journal_dead_letter(f->j, "canon", "mapper", off, 5, "bad date"), 0);
    assert_int_equal(journal_dead_letter(f->j, "canon", "mapper", off, 5, "bad date"), 0); /* idempotent */
    assert_int_equal(journal_commit(f->j), 0);
    journal_topic_stats_t st;
    assert_int_equal(journal_topic_stats(f->j, "canon.dlq", &st), 0);
    assert_int_equal(st.count, 1);

    journal_reader_t *rd = journal_reader_new(f->j);
    journal_record_t d;
    journal_reader_begin(rd);
    assert_int_equal(journal_read_from(rd, "canon.dlq", 0, &d), 0);
    json_t *h = json_loadb(d.headers, d.headers_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(h, "lgsp-dlq-reason")), "bad date");
    assert_string_equal(json_string_value(json_object_get(h, "lgsp-dlq-group")), "mapper");
    assert_string_equal(json_string_value(json_object_get(h, "source")), "qn");
    assert_memory_equal(d.key, "person-1", 8);
    json_decref(h);
    journal_reader_end(rd);

    uint64_t n;
    assert_int_equal(journal_begin(f->j), 0);
    assert_int_equal(journal_dlq_replay(f->j, "canon", false, 0, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(journal_commit(f->j), 0);
    assert_int_equal(journal_topic_stats(f->j, "canon.dlq", &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(journal_topic_stats(f->j, "canon", &st), 0);
    assert_int_equal(st.count, 2);
    journal_reader_begin(rd);
    assert_int_equal(journal_read_from(rd, "canon", 1, &d), 0);
    assert_memory_equal(d.target, "mapper", 6);   /* for the original group only */
    assert_memory_equal(d.payload, "payload", 7);
    assert_int_equal(d.headers_len, strlen("{\"source\":\"qn\"}"));
    journal_reader_end(rd);
    journal_reader_destroy(&rd);

    /* Purge. */
    assert_int_equal(journal_begin(f->j), 0);
    assert_int_equal(journal_dead_letter(f->j, "canon", "g2", 0, 3, "x"), 0);
    assert_int_equal(journal_dead_letter(f->j, "canon", "g2", 1, 3, "y"), 0);
    assert_int_equal(journal_commit(f->j), 0);
    assert_int_equal(journal_begin(f->j), 0);
    assert_int_equal(journal_dlq_purge(f->j, "canon", true, 0, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(journal_commit(f->j), 0);
    assert_int_equal(journal_topic_stats(f->j, "canon.dlq", &st), 0);
    assert_int_equal(st.count, 0);
}

static void test_trim_by_age_size_and_low_water(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(journal_begin(f->j), 0);
    for (int i = 0; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof id, "m%d", i);
        journal_record_t r = s_rec(id, NULL, "0123456789");
        r.time_us = (uint64_t) i * 1000000;   /* second i */
        uint64_t off;
        bool dup;
        assert_int_equal(journal_append(f->j, "t", &r, &off, &dup), 0);
    }
    uint64_t del;
    /* Age: older than 5 s at t=10 s, but not at or above offset 3. */
    assert_int_equal(journal_trim(f->j, "t", 5000000, 0, 3, 10000000, 1000, &del), 0);
    assert_int_equal(del, 3);
    /* Age again without the low-water mark: 3 and 4 are older than 5 s. */
    assert_int_equal(journal_trim(f->j, "t", 5000000, 0, UINT64_MAX, 10000000, 1000, &del), 0);
    assert_int_equal(del, 2);
    assert_int_equal(journal_commit(f->j), 0);
    journal_topic_stats_t st;
    journal_topic_stats(f->j, "t", &st);
    assert_int_equal(st.first, 5);
    assert_int_equal(st.count, 5);
    /* Size: keep at most two records' bytes. */
    uint64_t per = st.bytes / st.count;
    assert_int_equal(journal_begin(f->j), 0);
    assert_int_equal(journal_trim(f->j, "t", 0, per * 2, UINT64_MAX, 0, 1000, &del), 0);
    assert_int_equal(del, 3);
    assert_int_equal(journal_commit(f->j), 0);
    journal_topic_stats(f->j, "t", &st);
    assert_int_equal(st.first, 8);
    /* Ids of trimmed messages are forgotten. */
    assert_int_equal(journal_begin(f->j), 0);
    s_append(f->j, "t", "m0", "again", 10, false);
    assert_int_equal(journal_commit(f->j), 0);
}

static void test_full_map_refuses_and_keeps_data(void **state)
{
    fixture_t *f = *state;
    journal_close(&f->j);
    f->j = s_open(f->dir, 2u << 20);   /* tiny: 2 MiB */
    assert_non_null(f->j);
    char payload[1024];
    memset(payload, 'x', sizeof payload - 1);
    payload[sizeof payload - 1] = 0;
    uint64_t stored = 0;
    int rc = 0;
    /* Fill until the journal refuses, committing every 100 messages. */
    for (int batch = 0; batch < 100 && rc == 0; batch++) {
        assert_int_equal(journal_begin(f->j), 0);
        for (int i = 0; i < 100 && rc == 0; i++) {
            char id[32];
            snprintf(id, sizeof id, "id-%d-%d", batch, i);
            journal_record_t r = s_rec(id, NULL, payload);
            uint64_t off;
            bool dup;
            /* No room check here: drive LMDB itself to MDB_MAP_FULL. */
            rc = journal_append(f->j, "fill", &r, &off, &dup);
        }
        if (rc == 0) {
            rc = journal_commit(f->j);
            if (rc == 0)
                stored += 100;
        } else {
            journal_abort(f->j);
        }
    }
    assert_int_equal(rc, LGSP_JOURNAL_FULL);
    assert_true(stored > 0);
    assert_non_null(strstr(journal_error(f->j), "journal full"));
    /* The room estimate the committer checks is exhausted by then too. */
    assert_int_equal(journal_begin(f->j), 0);
    assert_true(journal_room(f->j) < 200 * 1024);
    journal_abort(f->j);
    /* What was committed is intact and readable after reopening. */
    journal_close(&f->j);
    f->j = s_open(f->dir, 2u << 20);
    journal_topic_stats_t st;
    assert_int_equal(journal_topic_stats(f->j, "fill", &st), 0);
    assert_int_equal(st.count, stored);
    journal_reader_t *r = journal_reader_new(f->j);
    journal_reader_begin(r);
    journal_record_t rec;
    for (uint64_t o = 0; o < stored; o++) {
        assert_int_equal(journal_read_from(r, "fill", o, &rec), 0);
        assert_int_equal(rec.payload_len, sizeof payload - 1);
    }
    journal_reader_end(r);
    journal_reader_destroy(&r);
    /* Acks and offsets still commit in the reserve. */
    uint32_t gid;
    uint64_t c;
    assert_int_equal(journal_begin(f->j), 0);
    assert_int_equal(journal_group_open(f->j, "fill", "g", false, &gid, &c), 0);
    assert_int_equal(journal_group_commit(f->j, "fill", "g", gid, 10), 0);
    assert_int_equal(journal_commit(f->j), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_and_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_replay_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_by_age_size_and_low_water, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_map_refuses_and_keeps_data, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
