/* committer.c — the writer thread and its batches (see committer.h). */
#include "committer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp/protocol.h"
#include "log.h"
#include "util.h"

#define ENDPOINT_FMT "inproc://lgsp-committer-%p"
#define ARENA_CHUNK  (64u * 1024u)
#define UNIT_RETRY   (-1000)   /* s_run: a unit failed in part; run again without it */

/* ---- batch ---------------------------------------------------------- */

typedef struct s_chunk {
    struct s_chunk *next;
    size_t          used, cap;
    char            data[];
} s_chunk_t;

struct batch {
    op_t      *ops;
    size_t     n, cap;
    zmq_msg_t *frames;
    size_t     nframes, framecap;
    s_chunk_t *arena;
    uint64_t   bytes;
};

batch_t *batch_new(void)
{
    return calloc(1, sizeof(batch_t));
}

void batch_reset(batch_t *self)
{
    for (size_t i = 0; i < self->nframes; i++)
        zmq_msg_close(&self->frames[i]);
    self->nframes = 0;
    for (s_chunk_t *c = self->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    self->arena = NULL;
    self->n = 0;
    self->bytes = 0;
}

void batch_destroy(batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    batch_t *self = *self_p;
    batch_reset(self);
    free(self->ops);
    free(self->frames);
    free(self);
    *self_p = NULL;
}

op_t *batch_add(batch_t *self, op_kind_t kind)
{
    if (self->n == self->cap) {
        size_t ncap = self->cap ? self->cap * 2 : 256;
        op_t *n = realloc(self->ops, ncap * sizeof *n);
        if (!n)
            return NULL;
        self->ops = n;
        self->cap = ncap;
    }
    op_t *op = &self->ops[self->n++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    return op;
}

size_t batch_count(const batch_t *self) { return self->n; }
op_t *batch_op(batch_t *self, size_t i) { return &self->ops[i]; }
uint64_t batch_bytes(const batch_t *self) { return self->bytes; }

static void *s_alloc(batch_t *self, size_t len)
{
    len = (len + 7) & ~(size_t) 7;
    s_chunk_t *c = self->arena;
    if (!c || c->cap - c->used < len) {
        size_t cap = len > ARENA_CHUNK ? len : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = self->arena;
        self->arena = c;
    }
    void *p = c->data + c->used;
    c->used += len;
    return p;
}

void *batch_alloc(batch_t *self, size_t len)
{
    void *p = s_alloc(self, len);
    if (p)
        memset(p, 0, len);
    return p;
}

const char *batch_strdup(batch_t *self, const char *s, size_t len)
{
    char *p = s_alloc(self, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = 0;
    return p;
}

int batch_keep(batch_t *self, zmq_msg_t *frame)
{
    if (self->nframes == self->framecap) {
        size_t ncap = self->framecap ? self->framecap * 2 : 1024;
        zmq_msg_t *n = realloc(self->frames, ncap * sizeof *n);
        if (!n)
            return -1;
        self->frames = n;
        self->framecap = ncap;
    }
    zmq_msg_t *dst = &self->frames[self->nframes++];
    zmq_msg_init(dst);
    zmq_msg_move(dst, frame);
    self->bytes += zmq_msg_size(dst);
    return 0;
}

/* ---- executing a batch ---------------------------------------------- */

struct committer {
    journal_t        *journal;
    pthread_t         thread;
    void             *broker_end;    /* PAIR, polled by the broker */
    void             *thread_end;    /* PAIR, owned by the thread */
    bool              busy;          /* broker's view: a batch is out */
    committer_stats_t stats;
    char              endpoint[64];
};

static void s_set_error(batch_t *b, op_t *op, int status, const char *text)
{
    op->status = status;
    op->error = (char *) batch_strdup(b, text, strlen(text));
}

static bool s_breaks_txn(int status)
{
    /* Validation failures leave the transaction usable; LMDB failures
     * (full map, I/O) do not. */
    return status == LGSP_JOURNAL_FULL || status == LGSP_INTERNAL;
}

static int s_apply(journal_t *j, batch_t *b, op_t *op, bool publishes)
{
    int rc = 0;
    switch (op->kind) {
    case OP_UNIT:
        return 0;
    case OP_STATE:
        if (publishes && op->has_state)
            rc = journal_state_put(j, op->topic, op->blob, op->blob_len);
        break;
    case OP_PUBLISH:
        if (!publishes) {
            return 0;
        }
        if (journal_room(j) < op->rec.payload_len + op->rec.headers_len + 512) {
            char text[300];
            snprintf(text, sizeof text, "journal full: no room for %zu more bytes in %s "
                     "(raise journal.map_size, free disk, or shorten retention)",
                     op->rec.payload_len, journal_path(j));
            s_set_error(b, op, LGSP_JOURNAL_FULL, text);
            return 0;   /* refused before LMDB: the transaction stays good */
        }
        rc = journal_append(j, op->topic, &op->rec, &op->out_offset, &op->out_dup);
        break;
    case OP_GROUP_OPEN:
        rc = journal_group_open(j, op->topic, op->group, op->latest, &op->out_gid, &op->out_offset);
        break;
    case OP_GROUP_COMMIT:
        rc = journal_group_commit(j, op->topic, op->group, op->gid, op->offset);
        break;
    case OP_GROUP_DELETE:
        rc = journal_group_delete(j, op->topic, op->group);
        break;
    case OP_PENDING:
        rc = journal_pending_put(j, op->gid, op->offset, op->attempts, op->acked, op->reason);
        break;
    case OP_DEAD_LETTER:
        rc = journal_dead_letter(j, op->topic, op->group, op->offset, op->attempts, op->reason);
        break;
    case OP_DLQ_REPLAY:
        rc = journal_dlq_replay(j, op->topic, op->all, op->offset, &op->out_count);
        break;
    case OP_DLQ_PURGE:
        rc = journal_dlq_purge(j, op->topic, op->all, op->offset, &op->out_count);
        break;
    case OP_TRIM:
        rc = journal_trim(j, op->topic, op->max_age_us, op->max_bytes, op->keep_from,
                          util_now_us(), 100000, &op->out_count);
        break;
    }
    if (rc)
        s_set_error(b, op, rc, journal_error(j));
    return rc;
}

/* One transaction over the batch. Returns 0 if committed; else the status
 * that broke it (and every op of the attempted kinds is marked). */
static int s_run(committer_t *self, batch_t *b, bool publishes)
{
    journal_t *j = self->journal;
    int rc = journal_begin(j);
    if (rc)
        goto failed;
    size_t unit_start = 0, unit_end = 0;   /* ops [start, end) of the unit being applied */
    for (size_t i = 0; i < b->n; i++) {
        op_t *op = &b->ops[i];
        if (op->kind == OP_UNIT) {
            unit_start = i;
            unit_end = i + 1 + op->count;
            if (unit_end > b->n)
                unit_end = b->n;
            if (!publishes || op->skip) {   /* statuses already set, or left for a retry */
                i = unit_end - 1;
                continue;
            }
            if (journal_room(j) < op->unit_bytes + (uint64_t) op->count * 512) {
                char text[300];
                snprintf(text, sizeof text, "journal full: no room for an adapter batch of %" PRIu64
                         " bytes in %s (raise journal.map_size, free disk, or shorten retention)",
                         op->unit_bytes, journal_path(j));
                for (size_t k = i; k < unit_end; k++)
                    s_set_error(b, &b->ops[k], LGSP_JOURNAL_FULL, text);
                i = unit_end - 1;
                continue;
            }
        }
        /* The run without publishes (after a failed commit) must leave
         * their error in place: resetting it would answer them as stored. */
        if (!publishes && (op->kind == OP_PUBLISH || op_in_unit_kind(op->kind)))
            continue;
        op->status = 0;
        int r = s_apply(j, b, op, publishes);
        if (r && s_breaks_txn(r)) {
            rc = r;
            journal_abort(j);
            goto failed;
        }
        if (!r)
            r = op->status;   /* refused without breaking the txn (a room check) */
        if (r && i < unit_end && i > unit_start) {
            /* Part of a unit failed: it must not be stored in part. Start
             * the transaction again without the unit. */
            const char *text = journal_error(j);
            for (size_t k = unit_start; k < unit_end; k++) {
                if (k != i)
                    s_set_error(b, &b->ops[k], r, text);
                b->ops[k].skip = true;
            }
            journal_abort(j);
            return UNIT_RETRY;
        }
    }
    uint64_t t0 = util_now_us();
    rc = journal_commit(j);
    uint64_t dt = util_now_us() - t0;
    metrics_hist_observe(&self->stats.commit_latency, dt);
    if (rc == 0) {
        atomic_fetch_add_explicit(&self->stats.commits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&self->stats.ops, b->n, memory_order_relaxed);
        return 0;
    }
failed:
    atomic_fetch_add_explicit(&self->stats.failed_commits, 1, memory_order_relaxed);
    {
        const char *text = journal_error(j);
        for (size_t i = 0; i < b->n; i++) {
            op_t *op = &b->ops[i];
            if (publishes || (op->kind != OP_PUBLISH && !op_in_unit_kind(op->kind)))
                if (op->status == 0 || s_breaks_txn(op->status))
                    s_set_error(b, op, rc, text);
        }
    }
    return rc;
}

static void s_execute(committer_t *self, batch_t *b)
{
    int rc;
    do   /* each retry leaves out one more failed unit: bounded by their number */
        rc = s_run(self, b, true);
    while (rc == UNIT_RETRY);
    if (rc == 0)
        return;
    log_error("committer", "commit of %zu operations failed: %s", b->n, journal_error(self->journal));
    bool others = false;
    for (size_t i = 0; i < b->n; i++)
        others |= b->ops[i].kind != OP_PUBLISH && !op_in_unit_kind(b->ops[i].kind);
    if (!others)
        return;
    /* Publishes are answered with the error (their clients retry); the
     * consumers' progress must not be dropped with them. */
    rc = s_run(self, b, false);
    if (rc)
        log_error("committer", "commit without publishes failed too: %s",
                  journal_error(self->journal));
}

static void *s_thread(void *arg)
{
    committer_t *self = arg;
    for (;;) {
        batch_t *b = NULL;
        int n = zmq_recv(self->thread_end, &b, sizeof b, 0);
        if (n != sizeof b || !b)
            break;   /* NULL: stop */
        s_execute(self, b);
        zmq_send(self->thread_end, &b, sizeof b, 0);
    }
    return NULL;
}

committer_t *committer_new(journal_t *journal, void *zmq_ctx, char **err)
{
    committer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->journal = journal;
    snprintf(self->endpoint, sizeof self->endpoint, ENDPOINT_FMT, (void *) self);
    self->broker_end = zmq_socket(zmq_ctx, ZMQ_PAIR);
    self->thread_end = zmq_socket(zmq_ctx, ZMQ_PAIR);
    if (!self->broker_end || !self->thread_end
        || zmq_bind(self->broker_end, self->endpoint) < 0
        || zmq_connect(self->thread_end, self->endpoint) < 0
        || pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        if (err)
            *err = strdup("committer: cannot start the writer thread");
        if (self->broker_end) zmq_close(self->broker_end);
        if (self->thread_end) zmq_close(self->thread_end);
        free(self);
        return NULL;
    }
    return self;
}

void committer_destroy(committer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    committer_t *self = *self_p;
    /* Let the batch in progress finish, then stop the thread. */
    if (self->busy) {
        batch_t *b = NULL;
        zmq_recv(self->broker_end, &b, sizeof b, 0);
        self->busy = false;
    }
    batch_t *stop = NULL;
    zmq_send(self->broker_end, &stop, sizeof stop, 0);
    pthread_join(self->thread, NULL);
    zmq_close(self->thread_end);
    zmq_close(self->broker_end);
    free(self);
    *self_p = NULL;
}

void *committer_socket(committer_t *self) { return self->broker_end; }
bool committer_idle(const committer_t *self) { return !self->busy; }
committer_stats_t *committer_stats(committer_t *self) { return &self->stats; }

int committer_submit(committer_t *self, batch_t *batch)
{
    if (self->busy)
        return -1;
    if (zmq_send(self->broker_end, &batch, sizeof batch, 0) != sizeof batch)
        return -1;
    self->busy = true;
    return 0;
}

batch_t *committer_collect(committer_t *self)
{
    batch_t *b = NULL;
    int n = zmq_recv(self->broker_end, &b, sizeof b, ZMQ_DONTWAIT);
    if (n != sizeof b)
        return NULL;
    self->busy = false;
    return b;
}
