/* recstore.h — a view's records as served by a simulator: the generator's
 * file mapped read-only and indexed one record per line, in updated_at
 * order, plus the records changed or added while the simulator runs (held
 * in memory, always later than every record of the file). A change moves
 * the record to the end: an incremental reader asking for "since T" sees it
 * again. Readers take the read lock while they copy records out; changes
 * take the write lock for a whole batch. */
#ifndef LGSP_SIM_RECSTORE_H
#define LGSP_SIM_RECSTORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *p;      /* the record's text (no newline); borrowed under the lock */
    uint32_t    len;
    uint32_t    key;    /* stable record number (from the record id) */
    int64_t     ts;     /* updated_at, util.h local seconds */
} rec_t;

/* Recognises one line: 1 and sets key/ts for a record, 0 for a line that is
 * not a record (an XML prologue), -1 for a malformed record. */
typedef int (*rec_parse_fn)(const char *line, size_t len, uint32_t *key, int64_t *ts);

typedef struct recstore recstore_t;

/* Maps path and indexes it. Returns NULL with "path:line: why" in err. */
recstore_t *recstore_open(const char *path, rec_parse_fn fn, char *err, size_t errsz);
void        recstore_destroy(recstore_t **self_p);

void recstore_rdlock(recstore_t *self);
void recstore_wrlock(recstore_t *self);
void recstore_unlock(recstore_t *self);

/* Under a lock. */
size_t       recstore_count(const recstore_t *self);
const rec_t *recstore_at(const recstore_t *self, size_t i);
/* Index of the first record with ts > since (count when none). */
size_t       recstore_first_after(const recstore_t *self, int64_t since);
const rec_t *recstore_by_key(const recstore_t *self, uint32_t key);
uint32_t     recstore_max_key(const recstore_t *self);
int64_t      recstore_max_ts(const recstore_t *self);

/* Under the write lock: replaces the record with this key (or adds one).
 * text is taken (malloc'd). ts must not be earlier than recstore_max_ts. */
void recstore_put(recstore_t *self, uint32_t key, char *text, size_t len, int64_t ts);
/* Under the write lock, after a batch of puts: drops the replaced records. */
void recstore_commit(recstore_t *self);

#endif
