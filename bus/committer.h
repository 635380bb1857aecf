/* committer.h — the journal's one writer thread, and the batches it commits.
 *
 * Group commit: the broker collects every journal change that arrives
 * while a commit is in progress (publishes, group offsets, dead letters,
 * retention) into one batch_t; when the committer is idle it takes the
 * batch, applies it in one LMDB transaction, fsyncs, and hands it back with
 * a status per operation. One batch is in the committer at a time, so the
 * broker never waits on an fsync and every publish waiting for the disk
 * shares the next one.
 *
 * Failure handling: if the transaction fails (journal or disk full, I/O
 * error), every publish of the batch is answered with the error and the
 * other operations (acknowledgements, offsets, dead letters) are tried again
 * at once in a transaction of their own, so consumers' progress is never
 * lost while the process lives. */
#ifndef LGSP_COMMITTER_H
#define LGSP_COMMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "journal.h"
#include "metrics.h"

typedef enum {
    OP_PUBLISH,        /* topic, rec          -> offset, dup */
    OP_GROUP_OPEN,     /* topic, group, latest -> gid, committed */
    OP_GROUP_COMMIT,   /* topic, group, gid, offset */
    OP_GROUP_DELETE,   /* topic, group */
    OP_PENDING,        /* gid, offset, attempts, acked, reason */
    OP_DEAD_LETTER,    /* topic, group, offset, attempts, reason */
    OP_DLQ_REPLAY,     /* topic, all, offset  -> count */
    OP_DLQ_PURGE,      /* topic, all, offset  -> count */
    OP_TRIM,           /* topic, max_age_us, max_bytes, keep_from -> count */
    OP_UNIT,           /* count, unit_bytes: the next `count` ops are one adapter commit */
    OP_STATE,          /* topic = adapter name, blob (if has_state): ends a unit */
} op_kind_t;

/* An adapter's commit is a *unit*: OP_UNIT, its publishes, and OP_STATE
 * last (the adapter's new watermark). The committer stores a unit whole or
 * not at all — the watermark must never cover records that were not stored,
 * nor records be stored without the watermark that covers them (a restart
 * would fetch them again). */
static inline bool op_in_unit_kind(op_kind_t k) { return k == OP_UNIT || k == OP_STATE; }

typedef struct {
    op_kind_t        kind;
    const char      *topic;        /* NUL-terminated, owned by the batch */
    const char      *group;
    journal_record_t rec;          /* OP_PUBLISH; pointers owned by the batch */
    uint32_t         gid;
    uint64_t         offset;
    uint32_t         attempts;
    bool             acked, latest, all;
    const char      *reason;
    uint64_t         max_age_us, max_bytes, keep_from;
    uint32_t         count;        /* OP_UNIT: ops that follow in the unit */
    uint64_t         unit_bytes;   /* OP_UNIT: payload + headers bytes of its publishes */
    const void      *blob;         /* OP_STATE */
    size_t           blob_len;
    bool             has_state;    /* OP_STATE: false = the unit carries no new state */
    bool             skip;         /* set by the committer: a failed unit left out of a retry */
    void            *ctx;          /* the broker's: which request this answers */
    /* results */
    int              status;       /* 0 or a protocol status */
    char            *error;        /* text when status != 0 (owned by the batch) */
    uint64_t         out_offset;
    bool             out_dup;
    uint32_t         out_gid;
    uint64_t         out_count;
} op_t;

typedef struct batch batch_t;

batch_t *batch_new(void);
void batch_destroy(batch_t **self_p);
/* Empties the batch for reuse (closes kept frames, frees copies). */
void batch_reset(batch_t *self);
/* A new operation (zeroed; kind set), or NULL when out of memory. The
 * pointer is valid until the next batch_add. */
op_t *batch_add(batch_t *self, op_kind_t kind);
size_t batch_count(const batch_t *self);
op_t *batch_op(batch_t *self, size_t i);
/* Bytes of publish payload in the batch (for the size limit). */
uint64_t batch_bytes(const batch_t *self);
/* Zeroed memory owned by the batch; valid until reset. */
void *batch_alloc(batch_t *self, size_t len);
/* Copies a string / bytes into the batch; valid until reset. */
const char *batch_strdup(batch_t *self, const char *s, size_t len);
/* Keeps a ZeroMQ frame alive until reset (moved in, zero-copy). */
int batch_keep(batch_t *self, zmq_msg_t *frame);

typedef struct committer committer_t;

/* Starts the thread. The broker polls committer_socket() for completed
 * batches. */
committer_t *committer_new(journal_t *journal, void *zmq_ctx, char **err);
/* Stops the thread after the batch in progress (if any) completes. */
void committer_destroy(committer_t **self_p);
void *committer_socket(committer_t *self);
bool committer_idle(const committer_t *self);
/* Hands a batch over (the committer must be idle). */
int committer_submit(committer_t *self, batch_t *batch);
/* Takes a completed batch back (call when committer_socket is readable).
 * NULL if none. */
batch_t *committer_collect(committer_t *self);

/* Figures for /metrics (read from any thread). */
typedef struct {
    metrics_hist_t   commit_latency;   /* fsync'ed commit, µs */
    _Atomic uint64_t commits;
    _Atomic uint64_t failed_commits;
    _Atomic uint64_t ops;
} committer_stats_t;
committer_stats_t *committer_stats(committer_t *self);

#endif
