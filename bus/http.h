/* http.h — lgspd's loopback HTTP endpoint (libmicrohttpd).
 *
 * Serves GET /health and GET /metrics now; later parts (webhook ingress,
 * review page) register their own routes. Handlers run on libmicrohttpd's
 * thread: they must only read state published for them (the snapshots
 * below) or hand work to other threads. */
#ifndef LGSP_HTTP_H
#define LGSP_HTTP_H

#include <stddef.h>

typedef struct http_server http_server_t;

/* listen: "host:port" where host must be a loopback address (127.0.0.0/8,
 * ::1 or "localhost"); port 0 picks a free port. Returns NULL with *err set
 * (caller frees) on failure. */
http_server_t *http_server_new(const char *listen, char **err);
void http_server_destroy(http_server_t **self_p);
/* The port actually bound. */
int http_server_port(const http_server_t *self);

/* Replace the text served at /metrics (copied; thread-safe). */
void http_server_set_metrics(http_server_t *self, const char *text, size_t len);
/* Replace the /health answer: status 200 or 503 and a JSON body (copied). */
void http_server_set_health(http_server_t *self, int status, const char *json);

/* A route for later parts: method + exact path. The handler fills *status,
 * *content_type (static string) and *body (malloc'ed, the server frees). */
typedef void (http_handler_fn)(void *arg, const char *method, const char *path,
                               const char *query, const char *body, size_t body_len,
                               int *status, const char **content_type,
                               char **resp_body, size_t *resp_len);
int http_server_route(http_server_t *self, const char *method, const char *path,
                      http_handler_fn *fn, void *arg);
/* Route details (http.c):
 * - http_server_route returns 0, or -1 for bad arguments (empty method,
 *   path not starting with '/', the built-in /metrics and /health), a full
 *   table (32 routes) or no memory; the same method + path again re-points
 *   the route. Safe from any thread while requests are served.
 * - The handler gets the decoded path, the raw query ("" if none, still
 *   percent-encoded) and the body NUL-terminated ("" and 0 if none).
 * - A GET route also answers HEAD (the handler sees "HEAD"; the body is
 *   not sent). A known path with another method gets 405 with Allow, an
 *   unknown path 404, a body over 8 MiB 413 without calling the handler;
 *   a *status outside 100..599 is sent as 500. */

#endif
