/* store.h — what the NDXP simulator accepted: one JSON line per message in
 * DATA_DIR/messages.jsonl, appended and fsync'd before the answer, and an
 * index of the accepted message_ids (the idempotency keys) with their
 * payload's SHA-256, rebuilt from the file at start — so dedup survives a
 * restart.
 *
 * A line is
 *   {"seq":N,"message_id":"...","sender":"...","receiver":"...",
 *    "message_type":"...","content_type":"...","kid":"...","timestamp":"...",
 *    "sha256":"<hex of the payload bytes>","accepted_at":"<RFC 3339 ms>",
 *    "payload":<the JSON payload> | "payload_b64":"<base64url>"}
 *
 * A line cut short by a crash (no newline, or garbage only at the end) is
 * cut off at open; a bad line followed by good ones is refused.
 *
 * Not thread-safe by itself: callers hold store_lock() around seen / add /
 * commit, so that a batch's dedup decisions and its write are one step. */
#ifndef LGSP_NDXP_STORE_H
#define LGSP_NDXP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jws.h"

typedef struct store store_t;

/* Opens (creates) DIR/messages.jsonl and reads it. NULL with err. */
store_t *store_open(const char *dir, char *err, size_t errsz);
void     store_close(store_t **self_p);

void     store_lock(store_t *self);
void     store_unlock(store_t *self);
/* Whether message_id was accepted (committed or added in this batch);
 * *sha (may be NULL) is then its payload's hex SHA-256. */
bool     store_seen(store_t *self, const char *message_id, const char **sha);
/* Adds one checked message (jws_check passed) to the pending batch, with
 * accepted_at = now_ms. 0 or -1 (out of memory). */
int      store_add(store_t *self, const jws_msg_t *msg, int64_t now_ms);
/* Writes the pending batch and fsyncs it. On failure the file is cut back
 * and the batch's ids forgotten: -1 with err. */
int      store_commit(store_t *self, char *err, size_t errsz);

/* Messages committed; bytes of the file that hold them (the rest, if any,
 * is being written). Read them under the lock. */
uint64_t store_count(store_t *self);
off_t    store_size(store_t *self);
const char *store_path(const store_t *self);

#endif
