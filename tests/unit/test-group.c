/* test-group.c — consumer-group bookkeeping: delivery, acks, redelivery,
 * per-key order, dead letters, gaps, restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "group.h"
#include "util.h"

/* Delivers the next candidate with the given key hash to sub. */
static uint64_t s_deliver(group_t *g, uint64_t head, uint64_t key, uint32_t sub, uint64_t deadline)
{
    group_candidate_t c;
    assert_true(group_next(g, head, &c));
    assert_int_not_equal(group_deliver(g, &c, key, sub, deadline), 0);
    return c.offset;
}

static void test_in_order_acks_advance(void **state)
{
    group_t *g = group_new(0, 5, 1024);
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(s_deliver(g, 10, 0, 1, 1000), i);
    group_candidate_t c;
    assert_false(group_next(g, 10, &c));
    assert_int_equal(group_in_flight(g), 10);
    assert_int_equal(group_ack(g, 0, 1), GROUP_ACKED | GROUP_ADVANCED);
    assert_int_equal(group_committed(g), 1);
    /* Out of order: no advance until the hole is filled. */
    assert_int_equal(group_ack(g, 5, 1), GROUP_ACKED);
    assert_int_equal(group_committed(g), 1);
    for (uint64_t i = 1; i < 5; i++)
        group_ack(g, i, 1);
    assert_int_equal(group_committed(g), 6);
    /* An ack from another subscriber, or twice, is ignored. */
    assert_int_equal(group_ack(g, 6, 2), 0);
    assert_int_equal(group_ack(g, 5, 1), 0);
    group_destroy(&g);
    assert_null(g);
}

static void test_nack_redelivers_then_dead_letters(void **state)
{
    group_t *g = group_new(0, 3, 1024);
    group_candidate_t c;
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        assert_true(group_next(g, 1, &c));
        assert_int_equal(c.offset, 0);
        assert_int_equal(c.attempt, attempt);
        assert_int_equal(group_deliver(g, &c, 0, 1, 1000), attempt);
        assert_int_equal(group_nack(g, 0, 1, "bad record"), 1);
    }
    /* Third return: out of attempts, dead, counts as done. */
    assert_false(group_next(g, 1, &c));
    group_dead_t d;
    assert_true(group_take_dead(g, &d));
    assert_int_equal(d.offset, 0);
    assert_int_equal(d.attempts, 3);
    assert_string_equal(d.reason, "bad record");
    free(d.reason);
    assert_false(group_take_dead(g, &d));
    assert_int_equal(group_committed(g), 1);
    group_destroy(&g);
}

static void test_visibility_timeout_and_session_loss(void **state)
{
    group_t *g = group_new(0, 5, 1024);
    s_deliver(g, 3, 0, 1, 100);   /* offset 0, sub 1 */
    s_deliver(g, 3, 0, 2, 200);   /* offset 1, sub 2 */
    s_deliver(g, 3, 0, 1, 300);   /* offset 2, sub 1 */
    assert_int_equal(group_expire(g, 150), 1);     /* only offset 0 */
    assert_int_equal(group_in_flight(g), 2);
    assert_int_equal(group_release(g, 1), 1);      /* offset 2 */
    assert_int_equal(group_ready(g), 2);
    group_candidate_t c;
    assert_true(group_next(g, 3, &c));
    assert_int_equal(c.offset, 0);
    assert_int_equal(c.attempt, 2);
    assert_false(c.from_cursor);
    group_destroy(&g);
}

static void test_same_key_waits_in_order(void **state)
{
    group_t *g = group_new(0, 5, 1024);
    const uint64_t K = 42, L = 43;
    group_candidate_t c;
    /* 0:K delivered; 1:K parked; 2:L delivered; 3:K parked. */
    assert_true(group_next(g, 4, &c));
    group_deliver(g, &c, K, 1, 1000);
    assert_true(group_next(g, 4, &c));
    assert_int_equal(c.offset, 1);
    assert_true(group_key_busy(g, K));
    group_park(g, &c, K);
    assert_true(group_next(g, 4, &c));
    assert_int_equal(c.offset, 2);
    group_deliver(g, &c, L, 2, 1000);
    assert_true(group_next(g, 4, &c));
    group_park(g, &c, K);
    assert_false(group_next(g, 4, &c));   /* K busy, nothing else */
    /* Ack 0: offset 1 (not 3) comes next. */
    group_ack(g, 0, 1);
    assert_true(group_next(g, 4, &c));
    assert_int_equal(c.offset, 1);
    assert_int_equal(c.keyhash, K);
    group_deliver(g, &c, K, 2, 1000);
    assert_false(group_next(g, 4, &c));
    /* A nack of 1 keeps K's order: 1 again before 3. */
    group_nack(g, 1, 2, "retry");
    assert_true(group_next(g, 4, &c));
    assert_int_equal(c.offset, 1);
    assert_int_equal(c.attempt, 2);
    group_destroy(&g);
}

static void test_many_keys_never_stick(void **state)
{
    /* Keys locked and unlocked in every order: a freed key is free again
     * (regression: a reused hash slot kept a stale count). */
    group_t *g = group_new(0, 5, 1 << 16);
    const uint64_t nkeys = 50, total = 5000;
    uint64_t delivered = 0, acked = 0;
    group_candidate_t c;
    uint64_t inflight[64];
    size_t n = 0;
    while (acked < total) {
        while (n < 64 && group_next(g, total, &c)) {
            char name[16];
            int nl = snprintf(name, sizeof name, "k%d", (int) (c.offset % nkeys));
            uint64_t key = util_hash(name, (size_t) nl);   /* as the broker hashes keys */
            uint64_t kh = c.from_cursor ? key : c.keyhash;
            if (c.from_cursor && group_key_busy(g, kh)) {
                group_park(g, &c, kh);
                continue;
            }
            group_deliver(g, &c, kh, 1, 1000);
            inflight[n++] = c.offset;
            delivered++;
        }
        assert_true(n > 0);   /* never stuck with nothing in flight */
        /* Ack in a scrambled order. */
        for (size_t i = 0; i < n; i++) {
            size_t j = (i * 7 + 3) % n;
            uint64_t t = inflight[i];
            inflight[i] = inflight[j];
            inflight[j] = t;
        }
        for (size_t i = 0; i < n; i++)
            assert_true(group_ack(g, inflight[i], 1) & GROUP_ACKED);
        acked += n;
        n = 0;
    }
    assert_int_equal(delivered, total);
    assert_int_equal(group_committed(g), total);
    group_destroy(&g);
}

static void test_gap_skip_and_retention(void **state)
{
    group_t *g = group_new(0, 5, 1024);
    group_candidate_t c;
    assert_true(group_next(g, 10, &c));
    /* Offsets 0..4 do not exist: nothing outstanding, so it jumps. */
    assert_int_equal(group_gap(g, 0, 5), 5);
    assert_int_equal(group_committed(g), 5);
    s_deliver(g, 10, 0, 1, 1000);           /* 5 */
    assert_true(group_next(g, 10, &c));     /* 6 */
    assert_int_equal(group_gap(g, 6, 8), 8);
    assert_int_equal(group_committed(g), 5); /* 5 still in flight */
    group_ack(g, 5, 1);
    assert_int_equal(group_committed(g), 8);
    assert_true(group_next(g, 10, &c));     /* 8: not for this group */
    group_skip(g, &c);
    assert_int_equal(group_committed(g), 9);
    /* Retention removed everything below 20 (with 9 in flight). */
    s_deliver(g, 10, 0, 1, 1000);
    group_skip_to(g, 20);
    assert_int_equal(group_committed(g), 20);
    assert_int_equal(group_in_flight(g), 0);
    group_destroy(&g);
}

static void test_restore_resumes(void **state)
{
    group_t *g = group_new(100, 3, 1024);
    assert_int_equal(group_restore(g, 101, 0, true, NULL), 0);   /* acked out of order */
    assert_int_equal(group_restore(g, 102, 2, false, "x"), 0);    /* delivered twice */
    assert_int_not_equal(group_restore(g, 99, 1, true, NULL), 0); /* below committed */
    group_candidate_t c;
    assert_true(group_next(g, 103, &c));
    assert_int_equal(c.offset, 100);
    assert_int_equal(c.attempt, 1);
    group_deliver(g, &c, 0, 1, 1000);
    assert_true(group_next(g, 103, &c));
    assert_int_equal(c.offset, 102);   /* 101 was acked before the restart */
    assert_int_equal(c.attempt, 3);
    group_deliver(g, &c, 0, 1, 1000);
    group_nack(g, 102, 1, "still bad");
    group_dead_t d;
    assert_true(group_take_dead(g, &d));   /* 3 attempts reached across the restart */
    assert_int_equal(d.offset, 102);
    free(d.reason);
    group_ack(g, 100, 1);
    assert_int_equal(group_committed(g), 103);
    group_destroy(&g);
}

static void test_window_bounds_memory(void **state)
{
    group_t *g = group_new(0, 5, 2048);
    size_t n = 0;
    group_candidate_t c;
    while (group_next(g, 1000000, &c)) {
        group_deliver(g, &c, 0, 1, 1000);
        n++;
    }
    assert_int_equal(n, 2048);   /* stops at the window, not at the head */
    group_ack(g, 0, 1);
    assert_true(group_next(g, 1000000, &c));
    group_destroy(&g);
}

/* REJECT: dead at once on the first attempt, with its reason; a key it held
 * is free again, the group advances past it, and a reject from another
 * subscriber (or of an offset not in flight) is ignored. */
static void test_reject_dead_letters_at_once(void **state)
{
    const uint64_t K = 0x42;
    group_t *g = group_new(0, 5, 1024);
    group_candidate_t c;
    assert_int_equal(s_deliver(g, 3, K, 1, 1000), 0);
    assert_int_equal(s_deliver(g, 3, 0, 1, 1000), 1);
    assert_int_equal(group_reject(g, 0, 2, "other"), 0);
    assert_int_equal(group_reject(g, 2, 1, "not in flight"), 0);
    assert_int_equal(group_reject(g, 0, 1, "ndxp 422: bad envelope"), 1);
    assert_false(group_key_busy(g, K));
    group_dead_t d;
    assert_true(group_take_dead(g, &d));
    assert_int_equal(d.offset, 0);
    assert_int_equal(d.attempts, 1);
    assert_string_equal(d.reason, "ndxp 422: bad envelope");
    free(d.reason);
    assert_false(group_take_dead(g, &d));
    assert_int_equal(group_committed(g), 1);
    /* Not delivered again; a plain nack still redelivers. */
    assert_int_equal(group_nack(g, 1, 1, "later"), 1);
    assert_true(group_next(g, 3, &c));
    assert_int_equal(c.offset, 1);
    assert_int_equal(c.attempt, 2);
    assert_false(group_take_dead(g, &d));
    group_destroy(&g);
}

/* TOUCH: a touched delivery keeps its attempt and expires by its new
 * deadline (the in-flight list stays in deadline order); a touch from
 * another subscriber is ignored. */
static void test_touch_moves_deadline(void **state)
{
    group_t *g = group_new(0, 5, 1024);
    s_deliver(g, 2, 0, 1, 100);   /* offset 0 */
    s_deliver(g, 2, 0, 1, 200);   /* offset 1 */
    assert_int_equal(group_touch(g, 0, 2, 300), 0);
    assert_int_equal(group_touch(g, 0, 1, 300), 1);
    assert_int_equal(group_expire(g, 250), 1);   /* offset 1 only */
    group_candidate_t c;
    assert_true(group_next(g, 2, &c));
    assert_int_equal(c.offset, 1);
    assert_int_equal(group_in_flight(g), 1);
    assert_int_equal(group_expire(g, 299), 0);
    assert_int_equal(group_expire(g, 300), 1);   /* offset 0 now */
    assert_true(group_next(g, 2, &c));
    assert_int_equal(c.offset, 0);
    assert_int_equal(c.attempt, 2);
    group_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_acks_advance),
        cmocka_unit_test(test_nack_redelivers_then_dead_letters),
        cmocka_unit_test(test_visibility_timeout_and_session_loss),
        cmocka_unit_test(test_same_key_waits_in_order),
        cmocka_unit_test(test_many_keys_never_stick),
        cmocka_unit_test(test_gap_skip_and_retention),
        cmocka_unit_test(test_restore_resumes),
        cmocka_unit_test(test_window_bounds_memory),
        cmocka_unit_test(test_reject_dead_letters_at_once),
        cmocka_unit_test(test_touch_moves_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
