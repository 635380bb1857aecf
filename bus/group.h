/* group.h — what a consumer group is doing with its topic, in memory.
 *
 * Pure bookkeeping, no I/O: the broker asks a group_t what to deliver
 * next, reads that record from the journal, and reports deliveries, acks,
 * nacks and session losses back. The group tracks every offset between its
 * committed offset (all below are acked) and its cursor (next never
 * delivered) in a ring of slots, which bounds its memory by the window.
 *
 * Ordering: a message with a non-empty partition key is not handed out
 * while an earlier message with the same key is in flight; it is parked
 * and delivered, in offset order, when the key is free again.
 * Dead letters: a message that has been delivered max_attempts times and
 * comes back (nack, timeout, session lost) is not made ready again; it is
 * queued for the broker to dead-letter and counts as acked. */
#ifndef LGSP_GROUP_H
#define LGSP_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct group group_t;

typedef struct {
    uint64_t offset;
    uint32_t attempt;      /* the delivery number this would be */
    uint64_t keyhash;      /* known for redeliveries; 0 for new ones */
    bool     from_cursor;  /* a never-delivered message: read it to learn its key */
} group_candidate_t;

typedef struct {
    uint64_t offset;
    uint32_t attempts;
    char    *reason;       /* caller frees */
} group_dead_t;

/* Flags returned by group_ack. */
#define GROUP_ACKED     1  /* the ack was taken */
#define GROUP_ADVANCED  2  /* the committed offset moved */

group_t *group_new(uint64_t committed, uint32_t max_attempts, uint32_t max_window);
void group_destroy(group_t **self_p);
void group_set_max_attempts(group_t *self, uint32_t max_attempts);

uint64_t group_committed(const group_t *self);
uint64_t group_cursor(const group_t *self);
size_t group_in_flight(const group_t *self);
size_t group_ready(const group_t *self);

/* Startup: state persisted in the journal's pending table. */
int group_restore(group_t *self, uint64_t offset, uint32_t attempts, bool acked, const char *reason);

/* The next message to hand out, given the topic's next offset `head`;
 * false if there is none now. */
bool group_next(group_t *self, uint64_t head, group_candidate_t *out);
/* The journal has no messages in [from, to) (deleted or retained away):
 * they count as done. Returns the offset up to which that was recorded. */
uint64_t group_gap(group_t *self, uint64_t from, uint64_t to);
/* Everything below `first` was deleted by retention: forget it. */
void group_skip_to(group_t *self, uint64_t first);
/* A candidate that is not for this group (replayed for another one). */
void group_skip(group_t *self, const group_candidate_t *c);
/* True if a message with this key is in flight. */
bool group_key_busy(const group_t *self, uint64_t keyhash);
/* A candidate whose key is busy: keep it for later, in order. */
void group_park(group_t *self, const group_candidate_t *c, uint64_t keyhash);
/* Hands the candidate to subscriber `sub` until `deadline_ms`. Returns the
 * attempt number. */
uint32_t group_deliver(group_t *self, const group_candidate_t *c, uint64_t keyhash,
                       uint32_t sub, uint64_t deadline_ms);

/* An ACK from subscriber `sub` (offsets not in flight to it are ignored). */
int group_ack(group_t *self, uint64_t offset, uint32_t sub);
/* A NACK: the message becomes ready again (or dead). Returns 1 if taken. */
int group_nack(group_t *self, uint64_t offset, uint32_t sub, const char *reason);
/* A REJECT: the message is dead-lettered at once, whatever attempts it has
 * left (the target refused it for good). Returns 1 if taken. */
int group_reject(group_t *self, uint64_t offset, uint32_t sub, const char *reason);
/* A TOUCH: subscriber `sub` still works on it; its deadline moves to
 * deadline_ms (not counted as an attempt). Returns 1 if taken. */
int group_touch(group_t *self, uint64_t offset, uint32_t sub, uint64_t deadline_ms);
/* A subscriber left: its messages become ready again (or dead). */
size_t group_release(group_t *self, uint32_t sub);
/* Messages whose deadline passed become ready again (or dead). */
size_t group_expire(group_t *self, uint64_t now_ms);
/* Messages that ran out of attempts, oldest first; false when none. */
bool group_take_dead(group_t *self, group_dead_t *out);
/* What a clean shutdown persists: every offset between committed and
 * cursor that was acked out of order or delivered before. */
void group_each_outstanding(const group_t *self,
                            void (*fn)(void *arg, uint64_t offset, uint32_t attempts, bool acked,
                                       const char *reason),
                            void *arg);

#endif
