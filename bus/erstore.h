/* erstore.h — what entity resolution keeps in LMDB.
 *
 * One LMDB environment (a folder) holds, per kind of entity ("person",
 * "land_parcel", "civil_event"; each kind in named databases of its own):
 *   - the model parameters (one JSON document per kind);
 *   - every record seen, as the JSON of the values the engine extracted
 *     from it (what streaming compares a new record against);
 *   - the blocking index: blocking key bytes -> record ids;
 *   - record id -> entity id, and entity id -> its records;
 *   - the golden record of each entity (JSON);
 *   - manual decisions (link / unlink a pair of records), with who, when and
 *     a note, the whole history kept; the latest decision per pair rules,
 *     and the engine applies it on every run over the model's verdict;
 *   - where a retired entity's records went (merges and splits), so that a
 *     consumer holding an old entity id can follow it.
 *
 * Entity ids are stable: a batch run hands in its clusters, and each keeps
 * the id that most of its records had before (erstore_assign); only new
 * clusters get new ids. The same store serves the batch engine and the
 * streaming stage of lgspd.
 *
 * Errors: functions return 0 or a negative ERSTORE_E* code; the text of the
 * last error of the calling thread is erstore_error() (left as it was by a
 * call that succeeds; the text never repeats an id, which may carry personal
 * data). After ERSTORE_EIO or ERSTORE_ENOMEM from a write, the transaction
 * accepts nothing more: erstore_commit then fails with ERSTORE_EIO and
 * keeps nothing (abort it).
 *
 * Decided where the interface left it open (erstore.c has the layout):
 *   - Map size 64 GiB, sparse (the file grows with the data);
 *     erstore_open_size chooses another (tests; a full map is ERSTORE_EIO
 *     with a text naming the map size).
 *   - Any kind of the right shape is accepted (at most 64 kinds per store;
 *     each gets its own databases, created by the first write transaction
 *     that uses it). Reading a kind that holds nothing yet is not an error:
 *     getters return NULL / ERSTORE_NOTFOUND, iterations call nothing.
 *   - Read transactions (MDB_NOTLS) may be used from any thread, one thread
 *     at a time. A thread must not begin a second write transaction, nor
 *     call erstore_assign, while it holds one (LMDB's writer lock: it would
 *     wait for itself).
 *   - Pointers handed to callbacks are valid during the call only. */
#ifndef LGSP_ERSTORE_H
#define LGSP_ERSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ERSTORE_OK       = 0,
    ERSTORE_NOTFOUND = -1,
    ERSTORE_EIO      = -2,   /* LMDB failed (full map, disk): nothing of the txn is kept */
    ERSTORE_EINVAL   = -3,   /* a bad argument (empty id, id too long, unknown kind name) */
    ERSTORE_ENOMEM   = -4,
    ERSTORE_ESTOP    = -5,   /* a callback asked to stop an iteration */
};

/* Ids (record, entity) are 1..255 bytes of printable ASCII without spaces;
 * kinds are [a-z_]{1,31}. */
#define ERSTORE_ID_MAX 255

typedef struct erstore erstore_t;
typedef struct erstore_txn erstore_txn_t;

/* Opens (creating) the store in folder dir. */
erstore_t *erstore_open(const char *dir, char *err, size_t errlen);
/* The same with a map size in bytes (0: the default 64 GiB); a store whose
 * file is already larger keeps its size. */
erstore_t *erstore_open_size(const char *dir, uint64_t map_size, char *err, size_t errlen);
void erstore_destroy(erstore_t **self_p);
const char *erstore_error(void);

/* Transactions: one writer at a time (others wait), readers never wait. A
 * write transaction is durable when erstore_commit returns 0. Both free
 * *txn_p. */
erstore_txn_t *erstore_begin(erstore_t *self, bool write);
int  erstore_commit(erstore_txn_t **txn_p);
void erstore_abort(erstore_txn_t **txn_p);

/* Model parameters of a kind; get returns a malloc'ed string or NULL. */
int   erstore_model_put(erstore_txn_t *t, const char *kind, const char *json);
char *erstore_model_get(erstore_txn_t *t, const char *kind);

/* A record's extracted values (JSON); get returns malloc'ed or NULL. */
int   erstore_record_put(erstore_txn_t *t, const char *kind, const char *record_id, const char *json);
char *erstore_record_get(erstore_txn_t *t, const char *kind, const char *record_id);
/* Forgets a record's values (ERSTORE_NOTFOUND if none); its entity and
 * blocking keys are left to the caller. */
int   erstore_record_del(erstore_txn_t *t, const char *kind, const char *record_id);
/* Every record of a kind in id order (json valid during the call). */
int   erstore_records(erstore_txn_t *t, const char *kind,
                      int (*cb)(const char *record_id, const char *json, void *ctx), void *ctx);

/* Blocking index: key (1..400 bytes, binary) -> record ids. Adding a pair
 * twice keeps one. get calls cb for each record id (in byte order) until cb
 * returns non-zero (then ERSTORE_ESTOP); an absent key is 0 with no call.
 * del removes one pair (absent: 0); count gives the number of record ids
 * under a key without reading them (the block-size cap). */
int erstore_block_add(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      const char *record_id);
int erstore_block_get(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      int (*cb)(const char *record_id, void *ctx), void *ctx);
int erstore_block_del(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      const char *record_id);
int erstore_block_count(erstore_txn_t *t, const char *kind, const void *key, size_t klen, size_t *n);

/* Entities. entity_of copies the entity id of a record into out (NUL
 * terminated; cap >= ERSTORE_ID_MAX + 1). link_record puts the record into
 * entity (moving it out of its previous one; an entity left empty is
 * retired, with a redirect to `entity`). members calls cb for each record
 * id of an entity. new_entity_id makes a fresh id: the kind's prefix
 * ("person" -> "PER", "land_parcel" -> "LND", "civil_event" -> "EVT", else
 * the kind upper-cased) and a 10-digit counter, "PER0000001234".
 *
 * entity_of: ERSTORE_NOTFOUND when the record has no entity. link_record
 * of a record already in entity does nothing; linking into a retired
 * entity makes it live again (its redirects dropped). A retired entity's
 * golden record is deleted. members: ERSTORE_NOTFOUND when the entity holds
 * no record (retired or unknown), records in byte order. new_entity_id
 * needs a write transaction; it skips ids in use (live or retired), so ids
 * are never reused. Redirects may chain (A retired to B, later B to C): a
 * consumer follows them until it reaches a live entity. */
int erstore_entity_of(erstore_txn_t *t, const char *kind, const char *record_id, char *out, size_t cap);
int erstore_link_record(erstore_txn_t *t, const char *kind, const char *record_id, const char *entity_id);
int erstore_members(erstore_txn_t *t, const char *kind, const char *entity_id,
                    int (*cb)(const char *record_id, void *ctx), void *ctx);
int erstore_new_entity_id(erstore_txn_t *t, const char *kind, char *out, size_t cap);
/* Where a retired entity's records went: the entity ids (cb for each), or
 * ERSTORE_NOTFOUND when the entity is live or unknown. */
int erstore_redirects(erstore_txn_t *t, const char *kind, const char *entity_id,
                      int (*cb)(const char *entity_id, void *ctx), void *ctx);
/* Every live entity of a kind in id order, with its number of records. */
int erstore_entities(erstore_txn_t *t, const char *kind,
                     int (*cb)(const char *entity_id, size_t nrecords, void *ctx), void *ctx);

/* Golden record of an entity (JSON); get returns malloc'ed or NULL. */
int   erstore_golden_put(erstore_txn_t *t, const char *kind, const char *entity_id, const char *json);
char *erstore_golden_get(erstore_txn_t *t, const char *kind, const char *entity_id);

/* Manual decisions about a pair of records (unordered: (a, b) is (b, a)). */
typedef enum {
    ERSTORE_LINK   = 1,     /* the same entity, whatever the model says */
    ERSTORE_UNLINK = 2,     /* never the same entity */
    ERSTORE_CLEAR  = 3,     /* withdraws the pair's decision: the model decides again */
} erstore_decision_kind_t;

typedef struct {
    erstore_decision_kind_t kind;
    const char *a, *b;      /* a < b (byte order) */
    const char *who;
    const char *note;       /* may be "" */
    int64_t     at_us;      /* Unix time in microseconds */
} erstore_decision_t;

/* Records a decision (at_us 0 = now; negative is ERSTORE_EINVAL). a and b
 * are record ids, not equal, in either order; who is 1..255 bytes of text,
 * note NULL or up to 64 KiB. Every decision goes to the history, keyed by
 * (at_us, a sequence number), so decisions of the same microsecond keep
 * the order they were made in. The rule of a pair is its latest decision
 * in that order: a decision given an explicit time older than the pair's
 * rule joins the history without changing the rule. A CLEAR is kept as the
 * rule (a tombstone, so an older decision recorded later cannot come back)
 * and is left out of the rules listed. */
int erstore_decide(erstore_txn_t *t, const char *kind, erstore_decision_kind_t d,
                   const char *a, const char *b, const char *who, const char *note, int64_t at_us);
/* The rule in force for each pair (the latest decision, CLEARs left out),
 * or with history = true every decision ever made, oldest first. */
int erstore_decisions(erstore_txn_t *t, const char *kind, bool history,
                      int (*cb)(const erstore_decision_t *d, void *ctx), void *ctx);
/* The rule in force for one pair (either order): LINK or UNLINK in *out, or
 * ERSTORE_NOTFOUND (never decided, or CLEARed). */
int erstore_decision_get(erstore_txn_t *t, const char *kind, const char *a, const char *b,
                         erstore_decision_kind_t *out);

/* Batch: the new clustering of n records (cluster_of[i] in [0, nclusters)
 * is the cluster of record_ids[i]) replaces the kind's entities. Each
 * cluster keeps the entity id most of its records had (ties: the smaller
 * id), each old id goes to at most one cluster (the one holding most of its
 * records), and every other cluster gets a new id. Records of the store
 * that are not among the n keep their entity. Old entities that no longer
 * hold records are retired with redirects to where their records went.
 * entity_ids[c] receives a malloc'ed id for every cluster c (the caller
 * frees each). Runs in its own write transactions, sized for millions of
 * records (sorted keys, large commits).
 *
 * Precisely: a cluster's candidate is the old entity id held by most of
 * its records that had one (ties: the smaller id in byte order); an old
 * id's home is the cluster holding most of its records among the n (ties:
 * the cluster holding the smallest record id). A cluster keeps its
 * candidate when it is the candidate's home, else it gets a new id (it
 * does not fall back to its second-best id). New ids are handed out in the
 * order of each cluster's smallest record id. Counts are over the n
 * records only; an old id not kept keeps any record not among the n, and
 * is retired (redirects to every id its records went to; golden record
 * deleted) only when it holds none. One write transaction for the whole
 * run, so readers see the old or the new assignment, never half of it. A
 * record id given twice is ERSTORE_EINVAL; a cluster without records gets
 * entity_ids[c] = NULL. On error nothing is kept and every entity_ids[c]
 * is NULL.
 * stats.moved counts records that had an entity and now have another (a
 * record's first entity is not a move). */
typedef struct {
    size_t kept;        /* clusters that kept an existing id */
    size_t created;     /* clusters with a new id */
    size_t retired;     /* old entities left without records */
    size_t moved;       /* records whose entity id changed */
} erstore_assign_stats_t;
int erstore_assign(erstore_t *self, const char *kind, size_t n, const char *const *record_ids,
                   const uint32_t *cluster_of, size_t nclusters, char **entity_ids,
                   erstore_assign_stats_t *stats);

#endif
