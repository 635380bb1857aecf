/* jws.h — the NDXP envelope: one message as a JWS in the flattened JSON
 * serialization (RFC 7515 §7.2.2), signed with Ed25519 (alg EdDSA, RFC 8037)
 * through OpenSSL. docs/ndxp.md is the contract.
 *
 *   {"protected":B64URL(header),"payload":B64URL(bytes),"signature":B64URL(sig)}
 *   header {"alg":"EdDSA","kid":..,"typ":"ndxp+jws","message_id":..,"sender":..,
 *           "receiver":..,"timestamp":..,"message_type":..,"content_type":..}
 *
 * One signer per sink; not thread-safe (the sink signs on its own thread). */
#ifndef ADAPTERS_NDXP_JWS_H
#define ADAPTERS_NDXP_JWS_H

#include <stddef.h>
#include <stdint.h>

typedef struct jws_signer jws_signer_t;

/* A growable byte buffer (the request body). */
typedef struct {
    char  *data;
    size_t len, cap;
} jws_buf_t;

/* Loads the Ed25519 private key (PEM, PKCS#8) from `path`. NULL with the
 * reason in err on failure (unreadable, not PEM, not Ed25519). */
jws_signer_t *jws_signer_new(const char *path, char *err, size_t errlen);
void jws_signer_destroy(jws_signer_t **self_p);
/* The key id: lowercase hex SHA-256 of the raw 32-byte public key. */
const char *jws_signer_kid(const jws_signer_t *self);

/* The envelope's fixed parts. */
typedef struct {
    const char *message_id, *sender, *receiver, *message_type, *content_type;
    uint64_t    time_ms;            /* the timestamp: this sending attempt, Unix ms */
} jws_header_t;

/* Appends one JWS object for (header, payload) to buf. 0, or -1 with the
 * reason in err (out of memory, signing failed). */
int jws_append(jws_signer_t *self, const jws_header_t *h, const void *payload, size_t len,
               jws_buf_t *buf, char *err, size_t errlen);

/* base64url without padding (RFC 7515 §2) of n bytes into out, which holds
 * at least 4 * ((n + 2) / 3) + 1 bytes; returns the length written. */
size_t jws_b64url(const void *in, size_t n, char *out);
/* RFC 3339 UTC with milliseconds: "2026-11-23T10:00:00.123Z" (25 bytes). */
void jws_timestamp(uint64_t time_ms, char out[32]);

int  jws_buf_add(jws_buf_t *b, const void *p, size_t n);
void jws_buf_free(jws_buf_t *b);

#endif
