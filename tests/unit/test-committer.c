/* test-committer.c — an adapter's unit (OP_UNIT, publishes, OP_STATE) is
 * stored whole or not at all: with its state when it fits, with nothing of
 * it when the journal has no room for the whole unit, and without harm to
 * the other operations of the same batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zmq.h>

#include "committer.h"
#include "journal.h"
#include "lgsp/protocol.h"

typedef struct {
    char         dir[256];
    journal_t   *j;
    void        *ctx;
    committer_t *c;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/lgsp-test-committer-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    journal_options_t o = { .path = f->dir, .map_size = 16u << 20, .max_topics = 16 };
    char *err = NULL;
    f->j = journal_open(&o, &err);
    free(err);
    f->ctx = zmq_ctx_new();
    f->c = f->j ? committer_new(f->j, f->ctx, NULL) : NULL;
    *state = f;
    return f->c ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    committer_destroy(&f->c);
    zmq_ctx_term(f->ctx);
    journal_close(&f->j);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Adds a unit of n records of `size` bytes with state `st` to b. */
static void s_unit(batch_t *b, const char *topic, const char *adapter, int n, size_t size,
                   const char *st)
{
    char *payload = batch_alloc(b, size);
    memset(payload, 'x', size);
    op_t *u = batch_add(b, OP_UNIT);
    u->count = (uint32_t) n + 1;
    u->unit_bytes = (uint64_t) n * size;
    for (int i = 0; i < n; i++) {
        char id[64];
        int len = snprintf(id, sizeof id, "%s-%d", adapter, i);
        op_t *op = batch_add(b, OP_PUBLISH);
        op->topic = topic;
        op->rec.time_us = 1;
        op->rec.id = batch_strdup(b, id, (size_t) len);
        op->rec.id_len = (size_t) len;
        op->rec.key = "k";
        op->rec.key_len = 1;
        op->rec.payload = payload;
        op->rec.payload_len = size;
    }
    op_t *s = batch_add(b, OP_STATE);
    s->topic = adapter;
    s->has_state = true;
    s->blob = st;
    s->blob_len = strlen(st);
}

static void s_run(fixture_t *f, batch_t *b)
{
    assert_int_equal(committer_submit(f->c, b), 0);
    zmq_pollitem_t it = { committer_socket(f->c), 0, ZMQ_POLLIN, 0 };
    assert_true(zmq_poll(&it, 1, 10000) == 1);
    assert_ptr_equal(committer_collect(f->c), b);
}

static void test_unit_whole_or_nothing(void **state)
{
    fixture_t *f = *state;
    batch_t *b = batch_new();
    /* fits: 10 x 1 KiB; too big for a 16 MiB map: 20 x 1 MiB; and an
     * ordinary publish in the same batch */
    s_unit(b, "raw.a", "a", 10, 1024, "offset=10");
    s_unit(b, "raw.b", "b", 20, 1u << 20, "offset=20");
    op_t *p = batch_add(b, OP_PUBLISH);
    p->topic = "raw.c";
    p->rec.id = "c-1";
    p->rec.id_len = 3;
    p->rec.payload = "hello";
    p->rec.payload_len = 5;
    s_run(f, b);
    for (size_t i = 0; i < batch_count(b); i++) {
        op_t *op = batch_op(b, i);
        if (i <= 11)
            assert_int_equal(op->status, 0);                  /* unit a */
        else if (i < batch_count(b) - 1)
            assert_int_equal(op->status, LGSP_JOURNAL_FULL);  /* unit b, every op */
        else
            assert_int_equal(op->status, 0);                  /* the ordinary publish */
    }
    journal_topic_stats_t st;
    assert_int_equal(journal_topic_stats(f->j, "raw.a", &st), 0);
    assert_int_equal(st.count, 10);
    assert_int_not_equal(journal_topic_stats(f->j, "raw.b", &st), 0);   /* nothing of b */
    assert_int_equal(journal_topic_stats(f->j, "raw.c", &st), 0);
    void *v;
    size_t len;
    assert_int_equal(journal_state_get(f->j, "a", &v, &len), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(v, "offset=10", 9);
    free(v);
    assert_int_equal(journal_state_get(f->j, "b", &v, &len), LGSP_NOT_FOUND);
    batch_destroy(&b);
}

static void test_unit_dups_and_state(void **state)
{
    fixture_t *f = *state;
    batch_t *b = batch_new();
    s_unit(b, "raw.a", "a", 5, 100, "s1");
    s_run(f, b);
    batch_reset(b);
    /* The same records again (a re-fetch) with a newer state: duplicates,
     * and the state moves. */
    s_unit(b, "raw.a", "a", 5, 100, "s2");
    s_run(f, b);
    for (size_t i = 1; i <= 5; i++) {
        assert_int_equal(batch_op(b, i)->status, 0);
        assert_true(batch_op(b, i)->out_dup);
    }
    void *v;
    size_t len;
    assert_int_equal(journal_state_get(f->j, "a", &v, &len), 0);
    assert_memory_equal(v, "s2", 2);
    free(v);
    batch_destroy(&b);
}

/* A commit that fails on a full disk is run again without its publishes
 * (acks and offsets must not be lost); the publishes keep their error. A
 * regression: the second run reset their status, so they were answered as
 * stored although nothing of them was. RLIMIT_FSIZE stands in for the full
 * disk; deleted records leave free pages inside the file for the second run. */
static void test_failed_commit_keeps_publish_errors(void **state)
{
    fixture_t *f = *state;
    batch_t *b = batch_new();
    char *small = batch_alloc(b, 3000);
    memset(small, 's', 3000);
    for (int i = 0; i < 200; i++) {
        char id[32];
        int n = snprintf(id, sizeof id, "old-%d", i);
        op_t *op = batch_add(b, OP_PUBLISH);
        op->topic = "t";
        op->rec.time_us = 1;
        op->rec.id = batch_strdup(b, id, (size_t) n);
        op->rec.id_len = (size_t) n;
        op->rec.payload = small;
        op->rec.payload_len = 3000;
    }
    s_run(f, b);
    batch_reset(b);
    op_t *t = batch_add(b, OP_TRIM);       /* frees their pages */
    t->topic = "t";
    t->max_bytes = 1;
    t->keep_from = UINT64_MAX;
    s_run(f, b);
    for (int k = 0; k < 3; k++) {          /* until LMDB may reuse them */
        batch_reset(b);
        op_t *g = batch_add(b, OP_GROUP_OPEN);
        g->topic = "t";
        char name[8];
        snprintf(name, sizeof name, "g%d", k);
        g->group = batch_strdup(b, name, strlen(name));
        s_run(f, b);
    }
    char path[300];
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim = { (rlim_t) sb.st_size, (rlim_t) sb.st_size };
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    batch_reset(b);
    char *big = batch_alloc(b, 4u << 20);
    memset(big, 'b', 4u << 20);
    op_t *p = batch_add(b, OP_PUBLISH);
    p->topic = "t";
    p->rec.id = "big";
    p->rec.id_len = 3;
    p->rec.payload = big;
    p->rec.payload_len = 4u << 20;
    op_t *pe = batch_add(b, OP_PENDING);
    pe->gid = 1;
    pe->offset = 7;
    pe->attempts = 2;
    s_run(f, b);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_int_not_equal(batch_op(b, 0)->status, 0);      /* the publish failed */
    assert_int_equal(batch_op(b, 1)->status, 0);          /* the pending state was kept */
    journal_topic_stats_t st;
    assert_int_equal(journal_topic_stats(f->j, "t", &st), 0);
    assert_int_equal(st.count, 0);                        /* and nothing of the publish is there */
    batch_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unit_whole_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unit_dups_and_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_keeps_publish_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
