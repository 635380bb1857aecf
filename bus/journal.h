/* journal.h — the durable journal of lgspd, in LMDB.
 *
 * What is stored (one LMDB environment, a directory):
 *   "meta"      format version, id counters
 *   "topics"    topic name -> {id, first, next, count, bytes}
 *   "t/<name>"  one database per topic: offset (u64 big-endian) -> record
 *               (one database per topic so that appends are always at the
 *               end of a b-tree: MDB_APPEND, no page splits in the middle)
 *   "ids"       topic id + message id -> offset   (idempotent publish)
 *   "groups"    topic id + group name -> {gid, committed offset}
 *   "pending"   gid + offset -> {attempts, acked, reason} for messages above
 *               a group's committed offset that were acked out of order or
 *               delivered more than once
 *   "state"     adapter name -> the adapter's opaque state (offset,
 *               watermark), written in the same transaction as the records
 *               it covers
 *
 * Threads: exactly one thread (the committer) calls the write functions,
 * between journal_begin() and journal_commit()/journal_abort(). Any thread
 * may read through its own journal_reader_t. Nothing written is visible to
 * readers, nor durable, before journal_commit() returns 0: the commit is an
 * fsync'ed LMDB commit, and it is what lgspd acknowledges.
 *
 * Errors: functions return 0, or a protocol status (include/lgsp/protocol.h)
 * that the broker can pass to clients: 400 invalid, 404 not found,
 * 507 journal or disk full, 500 anything else; journal_error() has the text.
 * After a failed write the caller must journal_abort(). */
#ifndef LGSP_JOURNAL_H
#define LGSP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct journal journal_t;
typedef struct journal_reader journal_reader_t;

typedef struct {
    const char *path;        /* directory; created if missing */
    uint64_t    map_size;    /* bytes: the hard limit of the journal */
    uint32_t    max_topics;  /* LMDB databases reserved for topic logs */
} journal_options_t;

/* One message as stored. In records returned by readers every pointer is
 * borrowed until journal_reader_end(). */
typedef struct {
    uint64_t    offset;
    uint64_t    time_us;          /* publish time */
    const char *id;       size_t id_len;
    const void *key;      size_t key_len;
    const char *target;   size_t target_len;   /* only this group receives it ("" = all) */
    const void *headers;  size_t headers_len;
    const void *payload;  size_t payload_len;
} journal_record_t;

/* What a topic holds, as of the last commit. */
typedef struct {
    uint32_t id;
    uint64_t first;   /* lowest retained offset (== next when empty) */
    uint64_t next;    /* offset the next message will get */
    uint64_t count;
    uint64_t bytes;   /* stored record bytes */
} journal_topic_stats_t;

journal_t *journal_open(const journal_options_t *opts, char **err);
void journal_close(journal_t **self_p);
const char *journal_error(const journal_t *self);
const char *journal_path(const journal_t *self);

/* ---- write side: the committer thread only -------------------------- */

int journal_begin(journal_t *self);
int journal_commit(journal_t *self);
void journal_abort(journal_t *self);
/* Bytes the open transaction may still add before the map is considered
 * full (a reserve is kept for acks, offsets and dead letters). */
uint64_t journal_room(journal_t *self);

/* Appends rec (its offset field is ignored) to topic, creating the topic if
 * needed. If rec->id is already stored in the topic nothing is written,
 * *dup is set and *offset is the stored message's offset. */
int journal_append(journal_t *self, const char *topic, const journal_record_t *rec,
                   uint64_t *offset, bool *dup);
/* Opens (creating if missing) consumer group `group` of `topic`. A new
 * group starts at the topic's first offset, or its next if `latest`. */
int journal_group_open(journal_t *self, const char *topic, const char *group, bool latest,
                       uint32_t *gid, uint64_t *committed);
/* Sets the group's committed offset and forgets pending entries below it. */
int journal_group_commit(journal_t *self, const char *topic, const char *group, uint32_t gid,
                         uint64_t committed);
int journal_group_delete(journal_t *self, const char *topic, const char *group);
/* Upserts the pending entry of (gid, offset). */
int journal_pending_put(journal_t *self, uint32_t gid, uint64_t offset, uint32_t attempts,
                        bool acked, const char *reason);
/* Copies the message at offset of topic into "<topic>.dlq" with the
 * lgsp-dlq-* headers (docs/protocol.md §4). Idempotent per
 * (group, offset). */
int journal_dead_letter(journal_t *self, const char *topic, const char *group,
                        uint64_t offset, uint32_t attempts, const char *reason);
/* Dead-letter replay and purge of "<topic>.dlq": one entry (dlq_offset) or
 * all (all = true). Replay publishes each entry again to its original topic
 * for its original group only, then deletes it. *count is what was done. */
int journal_dlq_replay(journal_t *self, const char *topic, bool all, uint64_t dlq_offset,
                       uint64_t *count);
int journal_dlq_purge(journal_t *self, const char *topic, bool all, uint64_t dlq_offset,
                      uint64_t *count);
/* Sets an adapter's state (bytes the adapter alone reads). */
int journal_state_put(journal_t *self, const char *name, const void *state, size_t len);

/* Retention: deletes the oldest messages of topic while they are older
 * than max_age_us (0 = no limit) or the topic holds more than max_bytes
 * (0 = no limit), never at or above `keep_from`, at most max_deletes. */
int journal_trim(journal_t *self, const char *topic, uint64_t max_age_us, uint64_t max_bytes,
                 uint64_t keep_from, uint64_t now_us, uint32_t max_deletes, uint64_t *deleted);

/* ---- any thread ------------------------------------------------------ */

/* Stats of a topic as of the last commit; 404 if unknown. Thread-safe. */
int journal_topic_stats(journal_t *self, const char *topic, journal_topic_stats_t *out);
/* Calls fn for every topic (last committed state). Thread-safe. */
void journal_each_topic(journal_t *self,
                        void (*fn)(void *arg, const char *name, const journal_topic_stats_t *st),
                        void *arg);
/* Data file size and the bytes in use, map size. */
void journal_usage(journal_t *self, uint64_t *file_bytes, uint64_t *used_bytes, uint64_t *map_bytes);

/* An adapter's last committed state, in a malloc'ed copy (caller frees):
 * 0, 404 if none was ever stored, 500. Thread-safe. */
int journal_state_get(journal_t *self, const char *name, void **state, size_t *len);

journal_reader_t *journal_reader_new(journal_t *j);
void journal_reader_destroy(journal_reader_t **self_p);
/* Starts a read snapshot (cheap; reuses the LMDB read slot). */
int journal_reader_begin(journal_reader_t *self);
void journal_reader_end(journal_reader_t *self);
/* The first record of topic at or after offset: 0, or 404 if none. */
int journal_read_from(journal_reader_t *self, const char *topic, uint64_t offset,
                      journal_record_t *out);
/* Every group: fn(topic, group, gid, committed). */
int journal_each_group(journal_reader_t *self,
                       void (*fn)(void *arg, const char *topic, const char *group,
                                  uint32_t gid, uint64_t committed),
                       void *arg);
/* Pending entries of a group, in offset order. */
int journal_each_pending(journal_reader_t *self, uint32_t gid,
                         void (*fn)(void *arg, uint64_t offset, uint32_t attempts, bool acked,
                                    const char *reason),
                         void *arg);

#endif
