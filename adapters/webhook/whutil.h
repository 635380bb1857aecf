/* whutil.h — the webhook plugin's pure helpers: request authentication
 * (bearer token, HMAC signature), reading an event's id and fields out of
 * its JSON, and the parsers of the plugin's settings (sizes, durations,
 * addresses). Nothing here touches the network or the host, so it is unit-
 * tested on its own (test-whutil.c). */
#ifndef WH_UTIL_H
#define WH_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest message id the bus accepts (docs/protocol.md, PUB). */
#define WH_ID_MAX 128

/* True when `authorization` (the header's value, or NULL) is "Bearer
 * <token>". The comparison takes the same time whatever the header holds
 * (both sides are hashed and the digests compared with CRYPTO_memcmp), so
 * neither the token nor its length leaks through timing. */
bool wh_bearer_ok(const char *authorization, const char *token);

/* True when `signature` (the header's value, or NULL) is `prefix` followed
 * by the hex HMAC-SHA256 of body under `secret` (upper or lower case).
 * Constant-time comparison of the digests. */
bool wh_hmac_ok(const char *signature, const char *prefix, const char *secret,
                const void *body, size_t len);

/* Writes the lower-case hex HMAC-SHA256 of body under secret into out
 * (65 bytes). For tests and tools. */
void wh_hmac_hex(const char *secret, const void *body, size_t len, char out[65]);

/* The value at a dotted path ("data.registration.registered_at") of a JSON
 * object, or NULL. Borrowed from root. */
json_t *wh_json_path(json_t *root, const char *path);

/* A string or integer at a dotted path, as text, copied into out (size
 * outsz). Returns 0, or -1 if absent, of another type, or too long. */
int wh_json_text(json_t *root, const char *path, char *out, size_t outsz);

/* True when s can be a message id: 1 to WH_ID_MAX printable ASCII bytes. */
bool wh_id_valid(const char *s);

/* What the ingress needs of one pushed event. */
typedef struct {
    char id[WH_ID_MAX + 1];       /* the event's id: the record's source id and message id */
    char type[128];               /* its type ("birth.registered") or "" */
} wh_event_t;

/* Reads an event from body: it must be a JSON object (UTF-8); its id is the
 * string or integer at id_field, else header_id (the X-Event-Id header, may
 * be NULL); its type is at type_field, else header_type. Returns 0, or -1
 * with a reason (for the quarantine and the 400 answer) in reason. */
int wh_event_parse(const void *body, size_t len, const char *id_field, const char *header_id,
                   const char *type_field, const char *header_type, wh_event_t *ev,
                   char *reason, size_t reasonsz);

/* Settings parsers: 0 on success, -1 if the text is not valid. */
int wh_parse_bool(const char *s, bool *out);                 /* true/false/yes/no/on/off/1/0 */
int wh_parse_size(const char *s, uint64_t *out);             /* 1048576, 64k, 1MiB, 2M */
int wh_parse_ms(const char *s, uint64_t *out);               /* 500ms, 30s, 5m, 1h; bare = s */
int wh_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "127.0.0.1:8088", "[::1]:8088" or ":8088"/"8088" (127.0.0.1) into addr.
 * Numeric hosts only. Returns 0, or -1 with why in err. *loopback says
 * whether the address is a loopback one (127.0.0.0/8, ::1). */
int wh_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *addrlen,
                    bool *loopback, char *err, size_t errsz);

#endif
