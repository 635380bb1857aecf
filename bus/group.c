/* group.c — consumer-group bookkeeping (see group.h). */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT64_MAX

typedef enum { SLOT_NEW = 0, SLOT_IN_FLIGHT, SLOT_READY, SLOT_ACKED } slot_state_t;

typedef struct {
    uint8_t  state;
    uint32_t attempts;     /* deliveries so far */
    uint32_t sub;
    uint64_t keyhash;      /* 0 = no key / not known yet */
    uint64_t deadline;
    uint64_t prev, next;   /* in-flight list, by delivery time (offsets) */
    char    *reason;       /* last NACK reason */
} slot_t;

/* Count of in-flight messages per key hash; open addressing. */
typedef struct {
    uint64_t key;          /* 0 = empty */
    uint32_t count;
} keyent_t;

struct group {
    slot_t   *ring;
    uint64_t  cap, max_window;   /* powers of two */
    uint64_t  committed, cursor;
    uint32_t  max_attempts;
    uint64_t  head, tail;        /* in-flight list: oldest, newest */
    size_t    in_flight;
    uint64_t *ready;             /* sorted offsets in SLOT_READY */
    size_t    nready, readycap;
    keyent_t *keys;
    size_t    keycap, nkeys;
    group_dead_t *dead;
    size_t    ndead, deadcap;
};

/* A group parks at most this many messages behind busy keys before it stops
 * reading ahead (head-of-line blocking instead of unbounded memory). */
#define PARK_LIMIT 4096

static slot_t *s_slot(group_t *self, uint64_t offset)
{
    return &self->ring[offset & (self->cap - 1)];
}

group_t *group_new(uint64_t committed, uint32_t max_attempts, uint32_t max_window)
{
    group_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    uint64_t mw = 1024;
    while (mw < max_window)
        mw <<= 1;
    self->max_window = mw;
    self->cap = 1024;
    self->ring = calloc(self->cap, sizeof *self->ring);
    self->keycap = 64;
    self->keys = calloc(self->keycap, sizeof *self->keys);
    if (!self->ring || !self->keys) {
        group_destroy(&self);
        return NULL;
    }
    self->committed = self->cursor = committed;
    self->max_attempts = max_attempts ? max_attempts : 1;
    self->head = self->tail = NONE;
    return self;
}

void group_destroy(group_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    group_t *self = *self_p;
    if (self->ring)
        for (uint64_t i = 0; i < self->cap; i++)
            free(self->ring[i].reason);
    for (size_t i = 0; i < self->ndead; i++)
        free(self->dead[i].reason);
    free(self->ring);
    free(self->ready);
    free(self->keys);
    free(self->dead);
    free(self);
    *self_p = NULL;
}

void group_set_max_attempts(group_t *self, uint32_t max_attempts)
{
    self->max_attempts = max_attempts ? max_attempts : 1;
}

uint64_t group_committed(const group_t *self) { return self->committed; }
uint64_t group_cursor(const group_t *self) { return self->cursor; }
size_t group_in_flight(const group_t *self) { return self->in_flight; }
size_t group_ready(const group_t *self) { return self->nready; }

/* Makes room for offsets up to `offset` in the ring; false if that would
 * exceed the window. */
static bool s_fit(group_t *self, uint64_t offset)
{
    if (offset - self->committed < self->cap)
        return true;
    uint64_t ncap = self->cap;
    while (offset - self->committed >= ncap)
        ncap <<= 1;
    if (ncap > self->max_window)
        return false;
    slot_t *n = calloc(ncap, sizeof *n);
    if (!n)
        return false;
    for (uint64_t o = self->committed; o < self->committed + self->cap; o++)
        n[o & (ncap - 1)] = self->ring[o & (self->cap - 1)];
    free(self->ring);
    self->ring = n;
    self->cap = ncap;
    return true;
}

/* ---- key locks ------------------------------------------------------ */

static keyent_t *s_key_find(const group_t *self, uint64_t key)
{
    size_t mask = self->keycap - 1, i = key & mask;
    while (self->keys[i].key && self->keys[i].key != key)
        i = (i + 1) & mask;
    return &self->keys[i];
}

bool group_key_busy(const group_t *self, uint64_t keyhash)
{
    return keyhash && s_key_find(self, keyhash)->key == keyhash;
}

static void s_key_lock(group_t *self, uint64_t key)
{
    if (!key)
        return;
    if ((self->nkeys + 1) * 2 > self->keycap) {
        keyent_t *old = self->keys;
        size_t oldcap = self->keycap;
        keyent_t *n = calloc(oldcap * 2, sizeof *n);
        if (n) {
            self->keys = n;
            self->keycap = oldcap * 2;
            for (size_t i = 0; i < oldcap; i++)
                if (old[i].key)
                    *s_key_find(self, old[i].key) = old[i];
            free(old);
        }
    }
    keyent_t *e = s_key_find(self, key);
    if (!e->key) {
        e->key = key;
        e->count = 0;   /* the slot may hold a count left by a moved entry */
        self->nkeys++;
    }
    e->count++;
}

static void s_key_unlock(group_t *self, uint64_t key)
{
    if (!key)
        return;
    keyent_t *e = s_key_find(self, key);
    if (e->key != key || --e->count > 0)
        return;
    /* Backward-shift deletion keeps probe runs intact. */
    size_t mask = self->keycap - 1, i = (size_t) (e - self->keys), j = i;
    e->key = 0;
    self->nkeys--;
    for (;;) {
        j = (j + 1) & mask;
        if (!self->keys[j].key)
            break;
        size_t home = self->keys[j].key & mask;
        bool between = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (between)
            continue;
        self->keys[i] = self->keys[j];
        self->keys[j].key = 0;
        i = j;
    }
}

/* ---- ready list (sorted offsets) ------------------------------------ */

static void s_ready_add(group_t *self, uint64_t offset)
{
    if (self->nready == self->readycap) {
        size_t ncap = self->readycap ? self->readycap * 2 : 64;
        uint64_t *n = realloc(self->ready, ncap * sizeof *n);
        if (!n)
            return;   /* the slot stays READY and is found again by restore-free scans */
        self->ready = n;
        self->readycap = ncap;
    }
    size_t lo = 0, hi = self->nready;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->ready[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&self->ready[lo + 1], &self->ready[lo], (self->nready - lo) * sizeof *self->ready);
    self->ready[lo] = offset;
    self->nready++;
}

static void s_ready_remove(group_t *self, uint64_t offset)
{
    for (size_t i = 0; i < self->nready; i++)
        if (self->ready[i] == offset) {
            memmove(&self->ready[i], &self->ready[i + 1], (self->nready - i - 1) * sizeof *self->ready);
            self->nready--;
            return;
        }
}

/* ---- in-flight list ------------------------------------------------- */

static void s_link(group_t *self, uint64_t offset)
{
    slot_t *s = s_slot(self, offset);
    s->prev = self->tail;
    s->next = NONE;
    if (self->tail != NONE)
        s_slot(self, self->tail)->next = offset;
    else
        self->head = offset;
    self->tail = offset;
    self->in_flight++;
}

static void s_unlink(group_t *self, uint64_t offset)
{
    slot_t *s = s_slot(self, offset);
    if (s->prev != NONE)
        s_slot(self, s->prev)->next = s->next;
    else
        self->head = s->next;
    if (s->next != NONE)
        s_slot(self, s->next)->prev = s->prev;
    else
        self->tail = s->prev;
    self->in_flight--;
}

/* ---- progress ------------------------------------------------------- */

static void s_advance(group_t *self)
{
    while (self->committed < self->cursor) {
        slot_t *s = s_slot(self, self->committed);
        if (s->state != SLOT_ACKED)
            break;
        free(s->reason);
        memset(s, 0, sizeof *s);
        self->committed++;
    }
    /* Slots beyond the cursor may hold restored state; they are reset only
     * when passed. */
}

static void s_set_acked(group_t *self, uint64_t offset)
{
    slot_t *s = s_slot(self, offset);
    s->state = SLOT_ACKED;
    if (offset == self->committed)
        s_advance(self);
}

/* A delivery came back unacknowledged; `dead`: refused for good (REJECT),
 * dead-lettered whatever attempts are left. */
static void s_return(group_t *self, uint64_t offset, const char *reason, bool dead)
{
    slot_t *s = s_slot(self, offset);
    s_unlink(self, offset);
    s_key_unlock(self, s->keyhash);
    if (reason) {
        free(s->reason);
        s->reason = strdup(reason);
    }
    if (dead || s->attempts >= self->max_attempts) {
        if (self->ndead == self->deadcap) {
            size_t ncap = self->deadcap ? self->deadcap * 2 : 16;
            group_dead_t *n = realloc(self->dead, ncap * sizeof *n);
            if (!n) {   /* cannot record it: keep it deliverable instead of losing it */
                s->state = SLOT_READY;
                s_ready_add(self, offset);
                return;
            }
            self->dead = n;
            self->deadcap = ncap;
        }
        self->dead[self->ndead++] = (group_dead_t) {
            .offset = offset, .attempts = s->attempts,
            .reason = strdup(s->reason ? s->reason : "no reason given"),
        };
        s_set_acked(self, offset);
        return;
    }
    s->state = SLOT_READY;
    s_ready_add(self, offset);
}

int group_restore(group_t *self, uint64_t offset, uint32_t attempts, bool acked, const char *reason)
{
    if (offset < self->committed || !s_fit(self, offset))
        return -1;
    slot_t *s = s_slot(self, offset);
    s->attempts = attempts;
    if (reason && *reason) {
        free(s->reason);
        s->reason = strdup(reason);
    }
    if (acked)
        s->state = SLOT_ACKED;
    return 0;
}

bool group_next(group_t *self, uint64_t head, group_candidate_t *out)
{
    for (size_t i = 0; i < self->nready; i++) {
        slot_t *s = s_slot(self, self->ready[i]);
        if (group_key_busy(self, s->keyhash))
            continue;
        *out = (group_candidate_t) { .offset = self->ready[i], .attempt = s->attempts + 1,
                                     .keyhash = s->keyhash, .from_cursor = false };
        return true;
    }
    while (self->cursor < head && self->nready < PARK_LIMIT && s_fit(self, self->cursor)) {
        slot_t *s = s_slot(self, self->cursor);
        if (s->state == SLOT_ACKED) {   /* acked before a restart */
            self->cursor++;
            s_advance(self);
            continue;
        }
        *out = (group_candidate_t) { .offset = self->cursor, .attempt = s->attempts + 1,
                                     .keyhash = 0, .from_cursor = true };
        return true;
    }
    return false;
}

uint64_t group_gap(group_t *self, uint64_t from, uint64_t to)
{
    if (from != self->cursor)
        return self->cursor;
    if (self->committed == self->cursor) {
        /* Nothing outstanding: jump, clearing any restored slots passed. */
        for (uint64_t o = from; o < to && o - from < self->cap; o++) {
            slot_t *s = s_slot(self, o);
            free(s->reason);
            memset(s, 0, sizeof *s);
        }
        self->committed = self->cursor = to;
        return to;
    }
    while (self->cursor < to && s_fit(self, self->cursor)) {
        s_slot(self, self->cursor)->state = SLOT_ACKED;
        self->cursor++;
    }
    s_advance(self);
    return self->cursor;
}

void group_skip_to(group_t *self, uint64_t first)
{
    if (first <= self->committed)
        return;
    for (uint64_t o = self->committed; o < first && o < self->cursor; o++) {
        slot_t *s = s_slot(self, o);
        if (s->state == SLOT_IN_FLIGHT) {
            s_unlink(self, o);
            s_key_unlock(self, s->keyhash);
        } else if (s->state == SLOT_READY) {
            s_ready_remove(self, o);
        }
        s->state = SLOT_ACKED;
    }
    if (self->cursor <= first) {
        uint64_t old = self->committed;
        for (uint64_t o = old; o < self->cursor; o++) {
            slot_t *s = s_slot(self, o);
            free(s->reason);
            memset(s, 0, sizeof *s);
        }
        self->committed = self->cursor = first;
    } else {
        s_advance(self);
    }
}

void group_skip(group_t *self, const group_candidate_t *c)
{
    if (c->from_cursor) {
        if (c->offset != self->cursor)
            return;
        self->cursor++;
    } else {
        s_ready_remove(self, c->offset);
    }
    s_set_acked(self, c->offset);
}

void group_park(group_t *self, const group_candidate_t *c, uint64_t keyhash)
{
    if (!c->from_cursor || c->offset != self->cursor)
        return;   /* ready ones are already parked */
    slot_t *s = s_slot(self, c->offset);
    s->keyhash = keyhash;
    s->state = SLOT_READY;
    self->cursor++;
    s_ready_add(self, c->offset);
}

uint32_t group_deliver(group_t *self, const group_candidate_t *c, uint64_t keyhash,
                       uint32_t sub, uint64_t deadline_ms)
{
    slot_t *s = s_slot(self, c->offset);
    if (c->from_cursor) {
        if (c->offset != self->cursor)
            return 0;
        self->cursor++;
    } else {
        s_ready_remove(self, c->offset);
    }
    s->state = SLOT_IN_FLIGHT;
    s->attempts++;
    s->sub = sub;
    s->keyhash = keyhash;
    s->deadline = deadline_ms;
    s_key_lock(self, keyhash);
    s_link(self, c->offset);
    return s->attempts;
}

static bool s_in_flight_to(group_t *self, uint64_t offset, uint32_t sub)
{
    if (offset < self->committed || offset >= self->cursor)
        return false;
    slot_t *s = s_slot(self, offset);
    return s->state == SLOT_IN_FLIGHT && s->sub == sub;
}

int group_ack(group_t *self, uint64_t offset, uint32_t sub)
{
    if (!s_in_flight_to(self, offset, sub))
        return 0;
    slot_t *s = s_slot(self, offset);
    s_unlink(self, offset);
    s_key_unlock(self, s->keyhash);
    uint64_t before = self->committed;
    s_set_acked(self, offset);
    return GROUP_ACKED | (self->committed != before ? GROUP_ADVANCED : 0);
}

int group_nack(group_t *self, uint64_t offset, uint32_t sub, const char *reason)
{
    if (!s_in_flight_to(self, offset, sub))
        return 0;
    s_return(self, offset, reason && *reason ? reason : "nack", false);
    return 1;
}

int group_reject(group_t *self, uint64_t offset, uint32_t sub, const char *reason)
{
    if (!s_in_flight_to(self, offset, sub))
        return 0;
    s_return(self, offset, reason && *reason ? reason : "rejected", true);
    return 1;
}

int group_touch(group_t *self, uint64_t offset, uint32_t sub, uint64_t deadline_ms)
{
    if (!s_in_flight_to(self, offset, sub))
        return 0;
    /* To the tail with its new deadline: the list stays in deadline order. */
    s_unlink(self, offset);
    s_slot(self, offset)->deadline = deadline_ms;
    s_link(self, offset);
    return 1;
}

size_t group_release(group_t *self, uint32_t sub)
{
    size_t n = 0;
    for (uint64_t o = self->head, next; o != NONE; o = next) {
        next = s_slot(self, o)->next;
        if (s_slot(self, o)->sub == sub) {
            s_return(self, o, "session lost", false);
            n++;
        }
    }
    return n;
}

size_t group_expire(group_t *self, uint64_t now_ms)
{
    size_t n = 0;
    /* The list is in delivery order, so the earliest deadline is first
     * (up to policy changes, which only delay an expiry by one timeout). */
    while (self->head != NONE && s_slot(self, self->head)->deadline <= now_ms) {
        s_return(self, self->head, "visibility timeout", false);
        n++;
    }
    return n;
}

bool group_take_dead(group_t *self, group_dead_t *out)
{
    if (!self->ndead)
        return false;
    *out = self->dead[0];
    memmove(&self->dead[0], &self->dead[1], (self->ndead - 1) * sizeof *self->dead);
    self->ndead--;
    return true;
}

void group_each_outstanding(const group_t *self,
                            void (*fn)(void *arg, uint64_t offset, uint32_t attempts, bool acked,
                                       const char *reason),
                            void *arg)
{
    for (uint64_t o = self->committed; o < self->cursor; o++) {
        const slot_t *s = &self->ring[o & (self->cap - 1)];
        if (s->state == SLOT_ACKED || s->attempts > 0)
            fn(arg, o, s->attempts, s->state == SLOT_ACKED, s->reason);
    }
}
