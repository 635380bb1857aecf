/* jws.h — the checks the NDXP simulator makes on one message (docs/ndxp.md):
 * a JWS in the flattened JSON serialization (RFC 7515 §7.2.2), EdDSA
 * (Ed25519, RFC 8037) verified with OpenSSL, and the envelope in its
 * protected header (kid, message_id, sender, receiver, timestamp,
 * message_type, content_type).
 *
 * The keyring holds the senders' public keys, each bound to the agency id
 * that may send with it. jws_check() runs every check that does not depend
 * on the simulator's state, in the documented order; the duplicate check
 * (store.h) and then jws_check_skew() follow it. No global state: safe from
 * any thread once the keyring is built. */
#ifndef LGSP_NDXP_JWS_H
#define LGSP_NDXP_JWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#define JWS_MAX_ID    128      /* message_id: 1-128 printable ASCII */
#define JWS_MAX_TYPE  200      /* message_type */
#define JWS_AGENCY_LEN 13      /* "000.00.00.H00" */

typedef struct jws_keyring jws_keyring_t;

/* One checked message. code 0 = passed; otherwise the 4xx and reason (which
 * starts with the field at fault). The strings are "" when not read. */
typedef struct {
    int            code;
    char           reason[256];
    char           message_id[JWS_MAX_ID + 1];
    char           kid[65];
    char           sender[JWS_AGENCY_LEN + 1];
    char           receiver[JWS_AGENCY_LEN + 1];
    char           message_type[JWS_MAX_TYPE + 1];
    char           content_type[128];
    char           timestamp[40];
    int64_t        ts_ms;          /* the timestamp, ms since 1970 UTC */
    unsigned char *payload;        /* decoded payload bytes (malloc'd) */
    size_t         payload_len;
    json_t        *payload_json;   /* the parsed payload when content_type is JSON */
    char           sha256[65];     /* hex SHA-256 of the payload bytes (when code is 0) */
} jws_msg_t;

jws_keyring_t *jws_keyring_new(void);
void           jws_keyring_destroy(jws_keyring_t **self_p);
/* Adds an Ed25519 public key (taken: freed with the keyring) that only
 * sender may use. Returns 0, or -1 with err (not Ed25519, kid already
 * there, sender not an agency id). kid_out (65 bytes) may be NULL. */
int  jws_keyring_add(jws_keyring_t *self, EVP_PKEY *pub, const char *sender, char *kid_out,
                     char *err, size_t errsz);
/* The same from a PEM file (SubjectPublicKeyInfo, "PUBLIC KEY"). */
int  jws_keyring_add_file(jws_keyring_t *self, const char *path, const char *sender,
                          char *kid_out, char *err, size_t errsz);
size_t jws_keyring_size(const jws_keyring_t *self);

/* Runs the checks on message m (a JSON value from the request's "messages")
 * against the keyring and the receiver's own id; fills out (clear it with
 * jws_msg_clear). Returns out->code. */
int  jws_check(const jws_keyring_t *kr, const char *receiver, const json_t *m, jws_msg_t *out);
/* The timestamp against now: 422 when more than max_skew_s seconds away.
 * Returns out->code. */
int  jws_check_skew(jws_msg_t *msg, int64_t now_ms, int64_t max_skew_s);
void jws_msg_clear(jws_msg_t *msg);

/* The lowercase hex SHA-256 of the raw 32-byte Ed25519 public key. 0 or -1. */
int  jws_kid(EVP_PKEY *pub, char hex[65]);
/* "^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$" */
bool jws_agency_id_ok(const char *s);
/* RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z. 0 and *ms, or -1. */
int  jws_parse_time(const char *s, int64_t *ms);
/* Formats ms since 1970 UTC as YYYY-MM-DDTHH:MM:SS.mmmZ (buf >= 25). */
void jws_format_time(int64_t ms, char *buf, size_t size);

/* base64url without padding (RFC 7515 §2). decode: 0 and a malloc'd *out
 * (NUL-terminated, *n bytes), or -1 for padding, a foreign character or an
 * impossible length. encode: a malloc'd string, or NULL. */
int   b64url_decode(const char *s, size_t len, unsigned char **out, size_t *n);
char *b64url_encode(const unsigned char *p, size_t n);

#endif
