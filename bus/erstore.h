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
 * last error of the calling thread is erstore_error(). */
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

/* Blocking index: key (1..400 bytes, binary) -> record ids. Adding a pair
 * twice keeps one. get calls cb for each record id (in byte order) until cb
 * returns non-zero (then ERSTORE_ESTOP). */
int erstore_block_add(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      const char *record_id);
int erstore_block_get(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      int (*cb)(const char *record_id, void *ctx), void *ctx);

/* Entities. entity_of copies the entity id of a record into out (NUL
 * terminated; cap >= ERSTORE_ID_MAX + 1). link_record puts the record into
 * entity (moving it out of its previous one; an entity left empty is
 * retired, with a redirect to `entity`). members calls cb for each record
 * id of an entity. new_entity_id makes a fresh id: the kind's prefix
 * ("person" -> "PER", "land_parcel" -> "LND", "civil_event" -> "EVT", else
 * the kind upper-cased) and a 10-digit counter, "PER0000001234". */
int erstore_entity_of(erstore_txn_t *t, const char *kind, const char *record_id, char *out, size_t cap);
int erstore_link_record(erstore_txn_t *t, const char *kind, const char *record_id, const char *entity_id);
int erstore_members(erstore_txn_t *t, const char *kind, const char *entity_id,
                    int (*cb)(const char *record_id, void *ctx), void *ctx);
int erstore_new_entity_id(erstore_txn_t *t, const char *kind, char *out, size_t cap);
/* Where a retired entity's records went: the entity ids (cb for each), or
 * ERSTORE_NOTFOUND when the entity is live or unknown. */
int erstore_redirects(erstore_txn_t *t, const char *kind, const char *entity_id,
                      int (*cb)(const char *entity_id, void *ctx), void *ctx);

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

/* Records a decision (at_us 0 = now). */
int erstore_decide(erstore_txn_t *t, const char *kind, erstore_decision_kind_t d,
                   const char *a, const char *b, const char *who, const char *note, int64_t at_us);
/* The rule in force for each pair (the latest decision, CLEARs left out),
 * or with history = true every decision ever made, oldest first. */
int erstore_decisions(erstore_txn_t *t, const char *kind, bool history,
                      int (*cb)(const erstore_decision_t *d, void *ctx), void *ctx);

/* Batch: the new clustering of n records (cluster_of[i] in [0, nclusters)
 * is the cluster of record_ids[i]) replaces the kind's entities. Each
 * cluster keeps the entity id most of its records had (ties: the smaller
 * id), each old id goes to at most one cluster (the one holding most of its
 * records), and every other cluster gets a new id. Records of the store
 * that are not among the n keep their entity. Old entities that no longer
 * hold records are retired with redirects to where their records went.
 * entity_ids[c] receives a malloc'ed id for every cluster c (the caller
 * frees each). Runs in its own write transactions, sized for millions of
 * records (sorted keys, large commits). */
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
