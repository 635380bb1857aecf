/* test-erstore.c — the LMDB store of entity resolution (bus/erstore.c):
 * stable entity ids across batch runs (first run, same again, merge,
 * split, incremental, records outside the run), manual decisions with
 * history and latest-wins rules, the blocking index, records, golden
 * records, the model, link_record / members / new_entity_id / redirects,
 * durability across a reopen, bad arguments and a full map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "erstore.h"

typedef struct {
    char dir[64];
    erstore_t *st;
} fix_t;

static int s_setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test-erstore-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char err[512];
    f->st = erstore_open(f->dir, err, sizeof err);
    assert_non_null(f->st);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fix_t *f = *state;
    erstore_destroy(&f->st);
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", f->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void s_reopen(fix_t *f)
{
    char err[512];
    erstore_destroy(&f->st);
    assert_null(f->st);
    f->st = erstore_open(f->dir, err, sizeof err);
    assert_non_null(f->st);
}

/* ---- helpers ---- */

typedef struct {
    char items[64][256];
    int  n;
    int  stop_after;    /* 0: never */
} list_t;

static int s_collect(const char *id, void *ctx)
{
    list_t *l = ctx;
    assert_true(l->n < 64);
    snprintf(l->items[l->n++], 256, "%s", id);
    return l->stop_after && l->n >= l->stop_after;
}

static char *s_entity(fix_t *f, const char *rec)
{
    static char out[ERSTORE_ID_MAX + 1];
    erstore_txn_t *t = erstore_begin(f->st, false);
    assert_non_null(t);
    int rc = erstore_entity_of(t, "person", rec, out, sizeof out);
    erstore_abort(&t);
    return rc == 0 ? out : NULL;
}

static list_t s_members(fix_t *f, const char *ent, int *rc)
{
    list_t l = { 0 };
    erstore_txn_t *t = erstore_begin(f->st, false);
    *rc = erstore_members(t, "person", ent, s_collect, &l);
    erstore_abort(&t);
    return l;
}

static list_t s_redirects(fix_t *f, const char *ent, int *rc)
{
    list_t l = { 0 };
    erstore_txn_t *t = erstore_begin(f->st, false);
    *rc = erstore_redirects(t, "person", ent, s_collect, &l);
    erstore_abort(&t);
    return l;
}

/* Runs erstore_assign; ents receives copies (caller frees with s_free). */
static erstore_assign_stats_t s_assign(fix_t *f, size_t n, const char *const *ids, const uint32_t *cl,
                                       size_t ncl, char **ents)
{
    erstore_assign_stats_t st;
    memset(&st, 0xaa, sizeof st);
    int rc = erstore_assign(f->st, "person", n, ids, cl, ncl, ents, &st);
    if (rc)
        fail_msg("assign: %d %s", rc, erstore_error());
    return st;
}

static void s_free(char **ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ents[i]);
}

/* ---- stable ids ---- */

static void test_first_run_creates_ids(void **state)
{
    fix_t *f = *state;
    const char *ids[] = { "r5", "r1", "r3", "r2", "r4" };
    uint32_t cl[] = { 2, 0, 1, 0, 1 };
    char *ents[3];
    erstore_assign_stats_t st = s_assign(f, 5, ids, cl, 3, ents);
    assert_int_equal(st.created, 3);
    assert_int_equal(st.kept, 0);
    assert_int_equal(st.retired, 0);
    assert_int_equal(st.moved, 0);
    /* new ids in the order of each cluster's smallest record id */
    assert_string_equal(ents[0], "PER0000000001");
    assert_string_equal(ents[1], "PER0000000002");
    assert_string_equal(ents[2], "PER0000000003");
    assert_string_equal(s_entity(f, "r1"), ents[0]);
    assert_string_equal(s_entity(f, "r2"), ents[0]);
    assert_string_equal(s_entity(f, "r4"), ents[1]);
    assert_string_equal(s_entity(f, "r5"), ents[2]);
    int rc;
    list_t m = s_members(f, ents[1], &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.items[0], "r3");
    assert_string_equal(m.items[1], "r4");
    assert_null(s_entity(f, "r9"));

    /* the same clustering again, numbered otherwise: every id kept */
    uint32_t cl2[] = { 0, 2, 1, 2, 1 };
    char *ents2[3];
    st = s_assign(f, 5, ids, cl2, 3, ents2);
    assert_int_equal(st.kept, 3);
    assert_int_equal(st.created, 0);
    assert_int_equal(st.moved, 0);
    assert_int_equal(st.retired, 0);
    assert_string_equal(ents2[2], ents[0]);
    assert_string_equal(ents2[1], ents[1]);
    assert_string_equal(ents2[0], ents[2]);

    /* durable */
    s_reopen(f);
    assert_string_equal(s_entity(f, "r3"), ents[1]);
    s_free(ents, 3);
    s_free(ents2, 3);
}

static void test_merge_keeps_larger(void **state)
{
    fix_t *f = *state;
    const char *ids[] = { "a1", "a2", "a3", "b1", "b2" };
    uint32_t cl[] = { 0, 0, 0, 1, 1 };
    char *e1[2];
    s_assign(f, 5, ids, cl, 2, e1);
    /* merge: the larger part (a, 3 records) keeps its id, b is retired
     * with a redirect to it */
    uint32_t merged[] = { 0, 0, 0, 0, 0 };
    char *e2[1];
    erstore_assign_stats_t st = s_assign(f, 5, ids, merged, 1, e2);
    assert_string_equal(e2[0], e1[0]);
    assert_int_equal(st.kept, 1);
    assert_int_equal(st.created, 0);
    assert_int_equal(st.retired, 1);
    assert_int_equal(st.moved, 2);
    assert_string_equal(s_entity(f, "b1"), e1[0]);
    int rc;
    list_t r = s_redirects(f, e1[1], &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0], e1[0]);
    s_members(f, e1[1], &rc);
    assert_int_equal(rc, ERSTORE_NOTFOUND);
    list_t m = s_members(f, e1[0], &rc);
    assert_int_equal(m.n, 5);
    /* a live entity has no redirects */
    s_redirects(f, e1[0], &rc);
    assert_int_equal(rc, ERSTORE_NOTFOUND);
    s_redirects(f, "PER9999999999", &rc);
    assert_int_equal(rc, ERSTORE_NOTFOUND);
    s_reopen(f);
    r = s_redirects(f, e1[1], &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(r.items[0], e1[0]);
    s_free(e1, 2);
    s_free(e2, 1);
}

static void test_merge_tie_smaller_id(void **state)
{
    fix_t *f = *state;
    const char *ids[] = { "x1", "x2", "y1", "y2" };
    uint32_t cl[] = { 1, 1, 0, 0 };     /* y clustered first: ids by smallest record */
    char *e1[2];
    s_assign(f, 4, ids, cl, 2, e1);
    const char *ex = e1[1], *ey = e1[0];
    assert_true(strcmp(ex, ey) < 0);    /* x1 < y1: x got the first id */
    uint32_t merged[] = { 0, 0, 0, 0 };
    char *e2[1];
    erstore_assign_stats_t st = s_assign(f, 4, ids, merged, 1, e2);
    assert_string_equal(e2[0], ex);     /* 2 against 2: the smaller id */
    assert_int_equal(st.retired, 1);
    s_free(e1, 2);
    s_free(e2, 1);
}

static void test_split_keeps_larger(void **state)
{
    fix_t *f = *state;
    const char *ids[] = { "p1", "p2", "p3", "p4", "p5" };
    uint32_t one[] = { 0, 0, 0, 0, 0 };
    char *e1[1];
    s_assign(f, 5, ids, one, 1, e1);
    /* split 2 / 3: the part of 3 keeps the id, the other gets a new one */
    uint32_t two[] = { 0, 0, 1, 1, 1 };
    char *e2[2];
    erstore_assign_stats_t st = s_assign(f, 5, ids, two, 2, e2);
    assert_string_equal(e2[1], e1[0]);
    assert_string_not_equal(e2[0], e1[0]);
    assert_int_equal(st.kept, 1);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.retired, 0);
    assert_int_equal(st.moved, 2);
    assert_string_equal(s_entity(f, "p1"), e2[0]);
    assert_string_equal(s_entity(f, "p5"), e1[0]);
    int rc;
    list_t m = s_members(f, e1[0], &rc);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.items[0], "p3");
    /* each old id to one cluster only: a 1/1/1 split keeps it once */
    const char *ids3[] = { "q1", "q2", "q3" };
    uint32_t c1[] = { 0, 0, 0 }, c3[] = { 2, 1, 0 };
    char *e3[1], *e4[3];
    s_assign(f, 3, ids3, c1, 1, e3);
    st = s_assign(f, 3, ids3, c3, 3, e4);
    assert_int_equal(st.kept, 1);
    assert_int_equal(st.created, 2);
    assert_string_equal(e4[2], e3[0]);  /* the cluster holding q1, the smallest record */
    s_free(e1, 1);
    s_free(e2, 2);
    s_free(e3, 1);
    s_free(e4, 3);
}

static void test_split_and_merge_retires(void **state)
{
    fix_t *f = *state;
    /* a: a1 a2 a3, b: b1 b2 -> {a1 a2 b1} {a3 b2}: the first keeps a
     * (2 of a), the second's candidate is a too (a3 vs b2: tie, the smaller
     * id a), whose home is the first cluster: a new id; b retired with
     * redirects to both */
    const char *ids[] = { "a1", "a2", "a3", "b1", "b2" };
    uint32_t cl[] = { 0, 0, 0, 1, 1 };
    char *e1[2];
    s_assign(f, 5, ids, cl, 2, e1);
    uint32_t cl2[] = { 0, 0, 1, 0, 1 };
    char *e2[2];
    erstore_assign_stats_t st = s_assign(f, 5, ids, cl2, 2, e2);
    assert_string_equal(e2[0], e1[0]);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.retired, 1);
    int rc;
    list_t r = s_redirects(f, e1[1], &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.items[0], e1[0]);
    assert_string_equal(r.items[1], e2[1]);
    s_free(e1, 2);
    s_free(e2, 2);
}

static void test_incremental(void **state)
{
    fix_t *f = *state;
    const char *ids[] = { "s1", "s2", "s3", "s4" };
    uint32_t cl[] = { 0, 0, 1, 1 };
    char *e1[2];
    s_assign(f, 4, ids, cl, 2, e1);
    /* new records only: one joins an entity (with one of its records in
     * the run), one alone; s3/s4 not in the run keep their entity */
    const char *inc[] = { "n1", "s1", "n2" };
    uint32_t icl[] = { 0, 0, 1 };
    char *e2[2];
    erstore_assign_stats_t st = s_assign(f, 3, inc, icl, 2, e2);
    assert_int_equal(st.kept, 1);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.moved, 0);
    assert_int_equal(st.retired, 0);
    assert_string_equal(e2[0], e1[0]);
    assert_string_equal(s_entity(f, "n1"), e1[0]);
    assert_string_equal(s_entity(f, "s2"), e1[0]);
    assert_string_equal(s_entity(f, "s3"), e1[1]);
    assert_string_equal(s_entity(f, "s4"), e1[1]);
    assert_string_equal(s_entity(f, "n2"), e2[1]);
    int rc;
    list_t m = s_members(f, e1[0], &rc);
    assert_int_equal(m.n, 3);
    /* a record of the run leaves an entity that keeps records outside the
     * run: the entity stays live (not retired) */
    const char *mv[] = { "s3" };
    uint32_t mcl[] = { 0 };
    char *e3[1];
    st = s_assign(f, 1, mv, mcl, 1, e3);
    /* s3 alone in its cluster had e1[1]: its candidate, and home: kept */
    assert_string_equal(e3[0], e1[1]);
    const char *mv2[] = { "s3", "s1" };
    uint32_t mcl2[] = { 0, 0 };
    char *e4[1];
    st = s_assign(f, 2, mv2, mcl2, 1, e4);
    /* tie 1/1: the smaller id e1[0]; e1[1] still holds s4 */
    assert_string_equal(e4[0], e1[0]);
    assert_int_equal(st.moved, 1);
    assert_int_equal(st.retired, 0);
    s_redirects(f, e1[1], &rc);
    assert_int_equal(rc, ERSTORE_NOTFOUND);
    m = s_members(f, e1[1], &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.items[0], "s4");
    s_free(e1, 2);
    s_free(e2, 2);
    s_free(e3, 1);
    s_free(e4, 1);
}

static void test_assign_bad(void **state)
{
    fix_t *f = *state;
    const char *dup[] = { "d1", "d1" };
    uint32_t cl[] = { 0, 1 };
    char *e[2] = { (char *) 1, (char *) 1 };
    assert_int_equal(erstore_assign(f->st, "person", 2, dup, cl, 2, e, NULL), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "twice"));
    assert_null(e[0]);
    assert_null(e[1]);
    const char *sp[] = { "d 1" };
    assert_int_equal(erstore_assign(f->st, "person", 1, sp, cl, 1, e, NULL), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "space"));
    const char *ok[] = { "d1" };
    uint32_t big[] = { 5 };
    assert_int_equal(erstore_assign(f->st, "person", 1, ok, big, 1, e, NULL), ERSTORE_EINVAL);
    assert_int_equal(erstore_assign(f->st, "Person", 1, ok, cl, 1, e, NULL), ERSTORE_EINVAL);
    /* nothing was kept */
    assert_null(s_entity(f, "d1"));
    /* an empty cluster gets NULL */
    uint32_t c0[] = { 1 };
    erstore_assign(f->st, "person", 1, ok, c0, 2, e, NULL);
    assert_null(e[0]);
    assert_non_null(e[1]);
    free(e[1]);
}

/* A larger run against a reference of the rules, written naively. */
static void test_assign_many(void **state)
{
    fix_t *f = *state;
    enum { N = 3000 };
    static char buf[N][16];
    const char *ids[N];
    static uint32_t cl[N], cl2[N];
    uint64_t r = 42;
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "rec:%d", (i * 7919) % N);
        ids[i] = buf[i];
        cl[i] = (uint32_t) (i / 3);
    }
    static char *e1[N], *e2[N];
    s_assign(f, N, ids, cl, N / 3, e1);
    size_t ncl2 = N / 3;
    for (int i = 0; i < N; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t x = (uint32_t) (r >> 33);
        cl2[i] = x % 10 == 0 ? (uint32_t) (ncl2++) : x % 10 == 1 ? x % (N / 3) : cl[i];
    }
    erstore_assign_stats_t st = s_assign(f, N, ids, cl2, ncl2, e2);
    size_t nonempty = 0;
    for (size_t c = 0; c < ncl2; c++)
        nonempty += e2[c] != NULL;
    assert_int_equal(st.kept + st.created, nonempty);
    /* every record in its cluster's entity; every old id in one cluster */
    size_t moved = 0;
    for (int i = 0; i < N; i++) {
        assert_string_equal(s_entity(f, ids[i]), e2[cl2[i]]);
        moved += strcmp(e1[cl[i]], e2[cl2[i]]) != 0;
    }
    assert_int_equal(st.moved, moved);
    for (size_t a = 0; a < ncl2; a++)
        for (size_t b = a + 1; b < ncl2 && a < 200; b++)
            if (e2[a] && e2[b])
                assert_string_not_equal(e2[a], e2[b]);
    /* an unchanged cluster of 3 kept its id */
    for (size_t c = 0; c < N / 3; c++) {
        int same = 0, total = 0;
        for (int i = 0; i < N; i++) {
            total += cl2[i] == c;
            same += cl2[i] == c && cl[i] == c;
        }
        if (same == 3 && total == 3)
            assert_string_equal(e2[c], e1[c]);
    }
    s_free(e1, N / 3);
    s_free(e2, ncl2);
}

/* ---- link_record, members, new ids, redirects ---- */

static void test_link_record(void **state)
{
    fix_t *f = *state;
    erstore_txn_t *t = erstore_begin(f->st, true);
    char e1[ERSTORE_ID_MAX + 1], e2[ERSTORE_ID_MAX + 1];
    assert_int_equal(erstore_new_entity_id(t, "person", e1, sizeof e1), 0);
    assert_int_equal(erstore_new_entity_id(t, "person", e2, sizeof e2), 0);
    assert_string_equal(e1, "PER0000000001");
    assert_string_equal(e2, "PER0000000002");
    char l[ERSTORE_ID_MAX + 1], x[ERSTORE_ID_MAX + 1];
    assert_int_equal(erstore_new_entity_id(t, "land_parcel", l, sizeof l), 0);
    assert_string_equal(l, "LND0000000001");
    assert_int_equal(erstore_new_entity_id(t, "household_x", x, sizeof x), 0);
    assert_string_equal(x, "HOUSEHOLD_X0000000001");
    assert_int_equal(erstore_link_record(t, "person", "r1", e1), 0);
    assert_int_equal(erstore_link_record(t, "person", "r2", e1), 0);
    assert_int_equal(erstore_link_record(t, "person", "r3", e2), 0);
    assert_int_equal(erstore_link_record(t, "person", "r3", e2), 0);   /* again: nothing */
    assert_int_equal(erstore_golden_put(t, "person", e2, "{\"n\":2}"), 0);
    assert_int_equal(erstore_commit(&t), 0);
    assert_null(t);

    int rc;
    list_t m = s_members(f, e2, &rc);
    assert_int_equal(m.n, 1);
    /* r3 moves to e1: e2 left empty is retired to e1, its golden record gone */
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_link_record(t, "person", "r3", e1), 0);
    assert_null(erstore_golden_get(t, "person", e2));
    assert_int_equal(erstore_commit(&t), 0);
    s_reopen(f);
    assert_string_equal(s_entity(f, "r3"), e1);
    m = s_members(f, e1, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.items[2], "r3");
    list_t r = s_redirects(f, e2, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0], e1);
    /* members stops when the callback asks */
    t = erstore_begin(f->st, false);
    list_t one = { .stop_after = 1 };
    assert_int_equal(erstore_members(t, "person", e1, s_collect, &one), ERSTORE_ESTOP);
    assert_int_equal(one.n, 1);
    erstore_abort(&t);
    /* new ids survive a reopen and skip ids in use */
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_link_record(t, "person", "r9", "PER0000000004"), 0);
    char e3[ERSTORE_ID_MAX + 1], e4[ERSTORE_ID_MAX + 1];
    assert_int_equal(erstore_new_entity_id(t, "person", e3, sizeof e3), 0);
    assert_string_equal(e3, "PER0000000003");
    assert_int_equal(erstore_new_entity_id(t, "person", e4, sizeof e4), 0);
    assert_string_equal(e4, "PER0000000005");
    /* linking into the retired e2 makes it live again */
    assert_int_equal(erstore_link_record(t, "person", "r7", e2), 0);
    assert_int_equal(erstore_redirects(t, "person", e2, s_collect, &one), ERSTORE_NOTFOUND);
    assert_int_equal(erstore_commit(&t), 0);
    /* a kind created by a committed write is there after a reopen */
    s_reopen(f);
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_new_entity_id(t, "household_x", x, sizeof x), 0);
    assert_string_equal(x, "HOUSEHOLD_X0000000002");
    erstore_abort(&t);
    /* a kind is read as empty */
    t = erstore_begin(f->st, false);
    assert_int_equal(erstore_entity_of(t, "never_written", "r1", x, sizeof x), ERSTORE_NOTFOUND);
    assert_int_equal(erstore_new_entity_id(t, "person", x, sizeof x), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "read transaction"));
    erstore_abort(&t);
}

static int s_count_ent(const char *id, size_t n, void *ctx)
{
    (void) id;
    *(size_t *) ctx += n;
    return 0;
}

static void test_entities_iteration(void **state)
{
    fix_t *f = *state;
    const char *ids[] = { "i1", "i2", "i3" };
    uint32_t cl[] = { 0, 0, 1 };
    char *e[2];
    s_assign(f, 3, ids, cl, 2, e);
    erstore_txn_t *t = erstore_begin(f->st, false);
    size_t total = 0;
    assert_int_equal(erstore_entities(t, "person", s_count_ent, &total), 0);
    assert_int_equal(total, 3);
    erstore_abort(&t);
    s_free(e, 2);
}

/* ---- decisions ---- */

typedef struct {
    erstore_decision_t d[16];
    char s[16][4][64];
    int n;
} dlist_t;

static int s_dcollect(const erstore_decision_t *d, void *ctx)
{
    dlist_t *l = ctx;
    assert_true(l->n < 16);
    l->d[l->n] = *d;
    snprintf(l->s[l->n][0], 64, "%s", d->a);
    snprintf(l->s[l->n][1], 64, "%s", d->b);
    snprintf(l->s[l->n][2], 64, "%s", d->who);
    snprintf(l->s[l->n][3], 64, "%s", d->note);
    l->n++;
    return 0;
}

static dlist_t s_decisions(fix_t *f, bool history)
{
    dlist_t l = { 0 };
    erstore_txn_t *t = erstore_begin(f->st, false);
    assert_int_equal(erstore_decisions(t, "person", history, s_dcollect, &l), 0);
    erstore_abort(&t);
    return l;
}

static void test_decisions(void **state)
{
    fix_t *f = *state;
    erstore_txn_t *t = erstore_begin(f->st, true);
    /* (b, a) is (a, b); later wins */
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r2", "r1", "lan", "same person", 1000), 0);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_UNLINK, "r1", "r2", "minh", "twins", 2000), 0);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r3", "r4", "lan", NULL, 1500), 0);
    /* an explicit older time joins the history but does not rule */
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r1", "r2", "old", "late entry", 500), 0);
    assert_int_equal(erstore_commit(&t), 0);

    s_reopen(f);
    dlist_t rules = s_decisions(f, false);
    assert_int_equal(rules.n, 2);
    assert_int_equal(rules.d[0].kind, ERSTORE_UNLINK);
    assert_string_equal(rules.s[0][0], "r1");
    assert_string_equal(rules.s[0][1], "r2");
    assert_string_equal(rules.s[0][2], "minh");
    assert_string_equal(rules.s[0][3], "twins");
    assert_int_equal(rules.d[0].at_us, 2000);
    assert_int_equal(rules.d[1].kind, ERSTORE_LINK);
    assert_string_equal(rules.s[1][3], "");
    dlist_t hist = s_decisions(f, true);
    assert_int_equal(hist.n, 4);   /* oldest first */
    assert_int_equal(hist.d[0].at_us, 500);
    assert_string_equal(hist.s[0][2], "old");
    assert_int_equal(hist.d[1].at_us, 1000);
    assert_string_equal(hist.s[1][0], "r1");   /* a < b in the history too */
    assert_string_equal(hist.s[1][1], "r2");
    assert_string_equal(hist.s[1][3], "same person");
    assert_int_equal(hist.d[3].at_us, 2000);

    t = erstore_begin(f->st, false);
    erstore_decision_kind_t k;
    assert_int_equal(erstore_decision_get(t, "person", "r2", "r1", &k), 0);
    assert_int_equal(k, ERSTORE_UNLINK);
    assert_int_equal(erstore_decision_get(t, "person", "r1", "r9", &k), ERSTORE_NOTFOUND);
    erstore_abort(&t);

    /* CLEAR removes the rule; an older decision after it stays out */
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_CLEAR, "r1", "r2", "lan", "", 3000), 0);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r1", "r2", "x", "", 2500), 0);
    /* at 0: now */
    assert_int_equal(erstore_decide(t, "person", ERSTORE_UNLINK, "r5", "r6", "y", "n", 0), 0);
    assert_int_equal(erstore_commit(&t), 0);
    rules = s_decisions(f, false);
    assert_int_equal(rules.n, 2);
    assert_string_equal(rules.s[0][0], "r3");
    assert_string_equal(rules.s[1][0], "r5");
    assert_true(rules.d[1].at_us > 1600000000000000LL);
    hist = s_decisions(f, true);
    assert_int_equal(hist.n, 7);
    assert_int_equal(hist.d[6].kind, ERSTORE_UNLINK);
    t = erstore_begin(f->st, false);
    assert_int_equal(erstore_decision_get(t, "person", "r1", "r2", &k), ERSTORE_NOTFOUND);
    erstore_abort(&t);

    /* bad decisions */
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r1", "r1", "w", "", 1), ERSTORE_EINVAL);
    assert_int_equal(erstore_decide(t, "person", 9, "r1", "r2", "w", "", 1), ERSTORE_EINVAL);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r1", "r2", "", "", 1), ERSTORE_EINVAL);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "r1", "r2", "w", "", -5), ERSTORE_EINVAL);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "", "r2", "w", "", 1), ERSTORE_EINVAL);
    erstore_abort(&t);
    /* an aborted decision is not kept */
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_LINK, "z1", "z2", "w", "", 1), 0);
    erstore_abort(&t);
    assert_int_equal(s_decisions(f, true).n, 7);
}

/* The manual unlink survives a re-run: the decision is there after the
 * store is reopened and a batch assignment ran. */
static void test_decision_survives_rerun(void **state)
{
    fix_t *f = *state;
    erstore_txn_t *t = erstore_begin(f->st, true);
    assert_int_equal(erstore_decide(t, "person", ERSTORE_UNLINK, "u1", "u2", "reviewer", "different fathers", 0), 0);
    assert_int_equal(erstore_commit(&t), 0);
    const char *ids[] = { "u1", "u2" };
    uint32_t cl[] = { 0, 1 };
    char *e[2];
    s_assign(f, 2, ids, cl, 2, e);
    s_free(e, 2);
    s_reopen(f);
    s_assign(f, 2, ids, cl, 2, e);
    t = erstore_begin(f->st, false);
    erstore_decision_kind_t k;
    assert_int_equal(erstore_decision_get(t, "person", "u2", "u1", &k), 0);
    assert_int_equal(k, ERSTORE_UNLINK);
    erstore_abort(&t);
    dlist_t rules = s_decisions(f, false);
    assert_int_equal(rules.n, 1);
    assert_string_equal(rules.s[0][3], "different fathers");
    s_free(e, 2);
}

/* ---- blocking, records, golden, model ---- */

static void test_blocking(void **state)
{
    fix_t *f = *state;
    const unsigned char key[] = { 'n', 0, 0xff, 'y', '1', '9', '8', '0' };   /* binary */
    erstore_txn_t *t = erstore_begin(f->st, true);
    assert_int_equal(erstore_block_add(t, "person", key, sizeof key, "r3"), 0);
    assert_int_equal(erstore_block_add(t, "person", key, sizeof key, "r1"), 0);
    assert_int_equal(erstore_block_add(t, "person", key, sizeof key, "r2"), 0);
    assert_int_equal(erstore_block_add(t, "person", key, sizeof key, "r1"), 0);   /* twice: one */
    assert_int_equal(erstore_block_add(t, "person", "k2", 2, "r1"), 0);
    assert_int_equal(erstore_block_add(t, "land_parcel", key, sizeof key, "l1"), 0);
    assert_int_equal(erstore_commit(&t), 0);
    s_reopen(f);
    t = erstore_begin(f->st, false);
    list_t l = { 0 };
    assert_int_equal(erstore_block_get(t, "person", key, sizeof key, s_collect, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0], "r1");
    assert_string_equal(l.items[1], "r2");
    assert_string_equal(l.items[2], "r3");
    size_t n;
    assert_int_equal(erstore_block_count(t, "person", key, sizeof key, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(erstore_block_count(t, "person", "zz", 2, &n), 0);
    assert_int_equal(n, 0);
    list_t none = { 0 };
    assert_int_equal(erstore_block_get(t, "person", key, sizeof key - 1, s_collect, &none), 0);
    assert_int_equal(none.n, 0);
    list_t stop = { .stop_after = 2 };
    assert_int_equal(erstore_block_get(t, "person", key, sizeof key, s_collect, &stop), ERSTORE_ESTOP);
    assert_int_equal(stop.n, 2);
    list_t land = { 0 };
    assert_int_equal(erstore_block_get(t, "land_parcel", key, sizeof key, s_collect, &land), 0);
    assert_int_equal(land.n, 1);
    /* bad keys */
    char big[401];
    memset(big, 'k', sizeof big);
    assert_int_equal(erstore_block_get(t, "person", big, 401, s_collect, &none), ERSTORE_EINVAL);
    assert_int_equal(erstore_block_get(t, "person", key, 0, s_collect, &none), ERSTORE_EINVAL);
    erstore_abort(&t);
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_block_add(t, "person", big, 400, "r1"), 0);
    assert_int_equal(erstore_block_add(t, "person", big, 401, "r1"), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "blocking key"));
    assert_int_equal(erstore_block_del(t, "person", key, sizeof key, "r2"), 0);
    assert_int_equal(erstore_block_del(t, "person", key, sizeof key, "r2"), 0);
    assert_int_equal(erstore_commit(&t), 0);
    t = erstore_begin(f->st, false);
    assert_int_equal(erstore_block_count(t, "person", key, sizeof key, &n), 0);
    assert_int_equal(n, 2);
    erstore_abort(&t);
}

static int s_rec_cb(const char *id, const char *json, void *ctx)
{
    list_t *l = ctx;
    snprintf(l->items[l->n++], 256, "%s=%s", id, json);
    return 0;
}

static void test_records_golden_model(void **state)
{
    fix_t *f = *state;
    erstore_txn_t *t = erstore_begin(f->st, true);
    assert_int_equal(erstore_record_put(t, "person", "qn-population:42", "{\"name\":\"Nguyễn Văn A\"}"), 0);
    assert_int_equal(erstore_record_put(t, "person", "dn-land:7", "{}"), 0);
    assert_int_equal(erstore_record_put(t, "person", "dn-land:7", "{\"v\":2}"), 0);   /* replaced */
    assert_int_equal(erstore_golden_put(t, "person", "PER0000000001", "{\"g\":1}"), 0);
    assert_int_equal(erstore_model_put(t, "person", "{\"m\":[0.9,0.1]}"), 0);
    assert_int_equal(erstore_model_put(t, "civil_event", "{\"e\":1}"), 0);
    /* visible inside the txn */
    char *s = erstore_record_get(t, "person", "dn-land:7");
    assert_string_equal(s, "{\"v\":2}");
    free(s);
    assert_int_equal(erstore_commit(&t), 0);
    s_reopen(f);
    t = erstore_begin(f->st, false);
    s = erstore_record_get(t, "person", "qn-population:42");
    assert_string_equal(s, "{\"name\":\"Nguyễn Văn A\"}");
    free(s);
    assert_null(erstore_record_get(t, "person", "nope"));
    assert_null(erstore_record_get(t, "land_parcel", "qn-population:42"));
    s = erstore_golden_get(t, "person", "PER0000000001");
    assert_string_equal(s, "{\"g\":1}");
    free(s);
    assert_null(erstore_golden_get(t, "person", "PER0000000002"));
    s = erstore_model_get(t, "person");
    assert_string_equal(s, "{\"m\":[0.9,0.1]}");
    free(s);
    s = erstore_model_get(t, "civil_event");
    assert_string_equal(s, "{\"e\":1}");
    free(s);
    assert_null(erstore_model_get(t, "land_parcel"));
    list_t l = { 0 };
    assert_int_equal(erstore_records(t, "person", s_rec_cb, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0], "dn-land:7={\"v\":2}");
    /* writes in a read transaction are refused */
    assert_int_equal(erstore_record_put(t, "person", "x", "{}"), ERSTORE_EINVAL);
    erstore_abort(&t);
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_record_del(t, "person", "dn-land:7"), 0);
    assert_int_equal(erstore_record_del(t, "person", "dn-land:7"), ERSTORE_NOTFOUND);
    assert_int_equal(erstore_commit(&t), 0);
    /* an aborted write leaves nothing */
    t = erstore_begin(f->st, true);
    assert_int_equal(erstore_record_put(t, "person", "gone", "{}"), 0);
    erstore_abort(&t);
    t = erstore_begin(f->st, false);
    assert_null(erstore_record_get(t, "person", "gone"));
    assert_null(erstore_record_get(t, "person", "dn-land:7"));
    erstore_abort(&t);
}

/* ---- bad arguments ---- */

static void test_bad_ids(void **state)
{
    fix_t *f = *state;
    char longid[300];
    memset(longid, 'a', sizeof longid);
    longid[256] = 0;    /* 256 bytes */
    char max[256];
    memset(max, 'b', 255);
    max[255] = 0;
    erstore_txn_t *t = erstore_begin(f->st, true);
    assert_int_equal(erstore_record_put(t, "person", "", "{}"), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "empty"));
    assert_int_equal(erstore_record_put(t, "person", "a b", "{}"), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "space"));
    assert_int_equal(erstore_record_put(t, "person", longid, "{}"), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "255"));
    assert_int_equal(erstore_record_put(t, "person", "a\tb", "{}"), ERSTORE_EINVAL);
    assert_int_equal(erstore_record_put(t, "person", "tên", "{}"), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "printable"));
    assert_int_equal(erstore_record_put(t, "person", NULL, "{}"), ERSTORE_EINVAL);
    assert_int_equal(erstore_record_put(t, "person", "ok", NULL), ERSTORE_EINVAL);
    assert_int_equal(erstore_link_record(t, "person", "r1", ""), ERSTORE_EINVAL);
    assert_int_equal(erstore_link_record(t, "person", "r 1", "PER1"), ERSTORE_EINVAL);
    assert_int_equal(erstore_link_record(t, "person", longid, "PER1"), ERSTORE_EINVAL);
    assert_int_equal(erstore_golden_put(t, "person", "E 1", "{}"), ERSTORE_EINVAL);
    assert_int_equal(erstore_block_add(t, "person", "k", 1, ""), ERSTORE_EINVAL);
    /* kinds: [a-z_]{1,31} */
    assert_int_equal(erstore_record_put(t, "", "r1", "{}"), ERSTORE_EINVAL);
    assert_int_equal(erstore_record_put(t, "Person", "r1", "{}"), ERSTORE_EINVAL);
    assert_non_null(strstr(erstore_error(), "kind"));
    assert_int_equal(erstore_record_put(t, "a_kind_name_of_more_than_31_chars", "r1", "{}"), ERSTORE_EINVAL);
    assert_int_equal(erstore_record_put(t, "per-son", "r1", "{}"), ERSTORE_EINVAL);
    /* 255 bytes is fine */
    assert_int_equal(erstore_record_put(t, "person", max, "{}"), 0);
    assert_int_equal(erstore_link_record(t, "person", max, max), 0);
    char out[ERSTORE_ID_MAX + 1];
    assert_int_equal(erstore_entity_of(t, "person", max, out, sizeof out), 0);
    assert_string_equal(out, max);
    assert_int_equal(erstore_entity_of(t, "person", max, out, 10), ERSTORE_EINVAL);
    assert_int_equal(erstore_new_entity_id(t, "person", out, 10), ERSTORE_EINVAL);
    assert_int_equal(erstore_commit(&t), 0);
    t = erstore_begin(f->st, false);
    assert_int_equal(erstore_entity_of(t, "person", "", out, sizeof out), ERSTORE_EINVAL);
    assert_int_equal(erstore_members(t, "person", "a b", s_collect, NULL), ERSTORE_EINVAL);
    assert_int_equal(erstore_redirects(t, "person", "", s_collect, NULL), ERSTORE_EINVAL);
    assert_null(erstore_golden_get(t, "person", longid));
    erstore_abort(&t);
    /* nothing to commit or abort */
    assert_int_equal(erstore_commit(NULL), ERSTORE_EINVAL);
    erstore_abort(NULL);
    char err[256];
    assert_null(erstore_open("/proc/no/such/dir", err, sizeof err));
    assert_non_null(strstr(err, "erstore"));
}

/* ---- a full map ---- */

static void test_map_full(void **state)
{
    (void) state;
    char dir[] = "/tmp/test-erstore-full-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[512];
    erstore_t *st = erstore_open_size(dir, 1 << 20, err, sizeof err);   /* 1 MiB */
    assert_non_null(st);
    erstore_txn_t *t = erstore_begin(st, true);
    assert_int_equal(erstore_record_put(t, "person", "before", "{}"), 0);
    assert_int_equal(erstore_commit(&t), 0);
    static char big[64 * 1024];
    memset(big, 'x', sizeof big - 1);
    t = erstore_begin(st, true);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        rc = erstore_record_put(t, "person", id, big);
    }
    assert_int_equal(rc, ERSTORE_EIO);
    assert_non_null(strstr(erstore_error(), "full"));
    assert_non_null(strstr(erstore_error(), "1 MiB"));
    /* the txn is unusable now; commit keeps nothing */
    assert_int_equal(erstore_record_put(t, "person", "more", "{}"), ERSTORE_EIO);
    assert_int_equal(erstore_commit(&t), ERSTORE_EIO);
    t = erstore_begin(st, false);
    char *s = erstore_record_get(t, "person", "before");
    assert_string_equal(s, "{}");
    free(s);
    assert_null(erstore_record_get(t, "person", "r0"));
    erstore_abort(&t);
    /* erstore_assign too: EIO, nothing kept, no ids handed out */
    enum { N = 40000 };
    static char buf[N][24];
    static const char *ids[N];
    static uint32_t cl[N];
    static char *ents[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "record-%08d", i);
        ids[i] = buf[i];
        cl[i] = (uint32_t) i;
    }
    assert_int_equal(erstore_assign(st, "person", N, ids, cl, N, ents, NULL), ERSTORE_EIO);
    assert_non_null(strstr(erstore_error(), "full"));
    assert_null(ents[0]);
    erstore_destroy(&st);
    char p[128];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_run_creates_ids, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_merge_keeps_larger, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_merge_tie_smaller_id, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_split_keeps_larger, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_split_and_merge_retires, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_incremental, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_assign_bad, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_assign_many, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_link_record, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_entities_iteration, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_decisions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_decision_survives_rerun, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_blocking, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_records_golden_model, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_ids, s_setup, s_teardown),
        cmocka_unit_test(test_map_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
