/* lgsp/client.h — the C client of the lgsp bus.
 *
 * One lgsp_client_t is one session with lgspd (docs/protocol.md), used from
 * one thread. It hides the wire protocol: batching of publishes within the
 * broker's window, answers matched by message id, credit replenishment,
 * heartbeats, and recovery after a broker restart (HELLO again,
 * re-subscribe, re-send unanswered publishes with the same ids, which the
 * broker's idempotency makes safe).
 *
 * Return values: 0 (or a count) on success, -1 on failure with the text in
 * lgsp_client_error(). Strings returned are borrowed unless marked
 * "caller frees". */
#ifndef LGSP_CLIENT_H
#define LGSP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LGSP_EXPORT __attribute__((visibility("default")))

typedef struct lgsp_client lgsp_client_t;

typedef struct {
    const char *endpoint;     /* e.g. "tcp://127.0.0.1:7600" */
    const char *name;         /* sent in HELLO; the broker's name for us under plain */
    const char *server_key;   /* broker's Curve public key (Z85, 40 chars); NULL = plain */
    const char *public_key;   /* our Curve keypair (Z85); required with server_key */
    const char *secret_key;
    int timeout_ms;           /* how long blocking calls wait for the broker; 0 = 10000 */
} lgsp_client_options_t;

/* Connects and says HELLO. Returns NULL with a message in err on failure
 * (broker unreachable within timeout_ms, Curve key refused, ...). */
LGSP_EXPORT lgsp_client_t *lgsp_client_new(const lgsp_client_options_t *opts,
                                           char *err, size_t errlen);
LGSP_EXPORT void lgsp_client_destroy(lgsp_client_t **self_p);
/* Last error text; borrowed until the next call on self. */
LGSP_EXPORT const char *lgsp_client_error(const lgsp_client_t *self);
/* Values from WELCOME. */
LGSP_EXPORT unsigned lgsp_client_pub_window(const lgsp_client_t *self);
LGSP_EXPORT uint64_t lgsp_client_max_message_bytes(const lgsp_client_t *self);

/* ---- publishing ------------------------------------------------------ */

/* Called once per published message when its answer arrives: code 0 and
 * the offset (dup true if the id was already stored), or the PUBERR code
 * and text. Strings are borrowed for the duration of the call. */
typedef void (lgsp_publish_cb)(void *arg, const char *topic, const char *id,
                               int code, uint64_t offset, bool dup,
                               const char *error_text);
LGSP_EXPORT void lgsp_client_on_publish(lgsp_client_t *self, lgsp_publish_cb *cb, void *arg);

/* Queues one message (the bytes are copied). id NULL: a time-ordered id is
 * made. key may be NULL/0, headers_json NULL or a JSON object of strings.
 * Sends when a batch is full; blocks only while the window is full.
 * Returns 0, or -1 (not queued: invalid argument, or broker gone for
 * longer than timeout_ms). */
LGSP_EXPORT int lgsp_client_publish(lgsp_client_t *self, const char *topic, const char *id,
                                    const void *key, size_t key_len,
                                    const char *headers_json,
                                    const void *payload, size_t payload_len);
/* Sends what is queued and waits until every published message is answered.
 * Returns the number of messages answered with an error since the last
 * flush (0 = all stored), or -1 if timeout_ms passed first. */
LGSP_EXPORT int lgsp_client_flush(lgsp_client_t *self, int timeout_ms);
/* Messages published and not yet answered. */
LGSP_EXPORT size_t lgsp_client_unanswered(const lgsp_client_t *self);

/* ---- consuming ------------------------------------------------------- */

typedef struct {
    const char *topic;
    const char *group;
    uint64_t    offset;
    unsigned    attempt;
    uint64_t    time_us;      /* publish time */
    const char *id;
    const void *key;      size_t key_len;
    const char *headers;  size_t headers_len;   /* JSON or empty */
    const void *payload;  size_t payload_len;
} lgsp_delivery_t;

/* Joins group `group` of `topic`, keeping `credit` messages in hand
 * (the client grants more as messages are acked). start: NULL/"earliest"
 * or "latest". Waits for SUBOK. */
LGSP_EXPORT int lgsp_client_subscribe(lgsp_client_t *self, const char *topic, const char *group,
                                      unsigned credit, const char *start);
LGSP_EXPORT int lgsp_client_unsubscribe(lgsp_client_t *self, const char *topic, const char *group);
/* Waits up to timeout_ms for the next delivery. Returns 1 and fills out
 * (borrowed until the next receive), 0 on timeout, -1 on error. Also
 * processes publish answers and heartbeats. */
LGSP_EXPORT int lgsp_client_receive(lgsp_client_t *self, lgsp_delivery_t *out, int timeout_ms);
/* Acknowledge / reject a delivery (batched; sent within a few ms or at the
 * next receive/flush). */
LGSP_EXPORT int lgsp_client_ack(lgsp_client_t *self, const lgsp_delivery_t *d);
LGSP_EXPORT int lgsp_client_nack(lgsp_client_t *self, const lgsp_delivery_t *d, const char *reason);
/* Refuse a delivery for good: the broker dead-letters it at once to
 * <topic>.dlq with `reason` (REJECT, docs/protocol.md), whatever attempts
 * it has left. */
LGSP_EXPORT int lgsp_client_reject(lgsp_client_t *self, const lgsp_delivery_t *d, const char *reason);
/* For a consumer whose work on its deliveries takes long (a sink retrying
 * an outage): tells the broker that every delivery in hand is still being
 * worked on, so their visibility timeout starts again (TOUCH), and keeps
 * the session alive (heartbeats). Call it every few hundred ms meanwhile. */
LGSP_EXPORT int lgsp_client_touch(lgsp_client_t *self);

/* ---- operators ------------------------------------------------------- */

/* Sends ADMIN verb args... and waits for the answer. On success *json_out
 * holds the JSON text (caller frees) and 0 is returned; on ERROR, -1 with
 * "code text" in lgsp_client_error() and *json_out NULL. */
LGSP_EXPORT int lgsp_client_admin(lgsp_client_t *self, const char *verb,
                                  int argc, const char *const argv[], char **json_out);

/* ---- helpers --------------------------------------------------------- */

/* A time-ordered message id: 32 lowercase hex chars (48-bit ms time +
 * 80 random bits) and a NUL. */
LGSP_EXPORT void lgsp_make_id(char out[33]);
/* A new Curve keypair in Z85 (40 chars + NUL each). 0 or -1. */
LGSP_EXPORT int lgsp_keygen(char public_z85[41], char secret_z85[41]);

#endif
