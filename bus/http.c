/* http.c — lgspd's loopback HTTP endpoint on libmicrohttpd (see http.h).
 *
 * One libmicrohttpd daemon with its own polling thread (epoll where
 * available, else poll). Everything the handlers serve is published into
 * this object by other threads under one mutex: the last /metrics text, the
 * last /health answer and the route table. Requests are answered on MHD's
 * thread, so route handlers must be quick (hand slow work elsewhere).
 *
 * Request flow, per MHD's access-handler protocol:
 *   URI log callback   -> allocate the request context, keep the raw query
 *   1st access call    -> resolve the route (headers are in); refuse an
 *                         announced body over the limit with 413 at once
 *   data calls         -> accumulate the body (routes only), up to 8 MiB
 *   last call          -> answer
 *   completed callback -> free the context
 *
 * Nothing from a request (path, query, body, client address) is logged
 * except the registered route a request matched: routes are code-defined
 * strings, request contents may carry personal data. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "log.h"

#define HTTP_MAX_ROUTES       32
#define HTTP_BODY_LIMIT       (8u * 1024 * 1024)   /* request bodies, bytes */
#define HTTP_MAX_CONNECTIONS  64u
#define HTTP_CONN_TIMEOUT_S   30u
#define HTTP_LOG_PER_SECOND   10     /* libmicrohttpd messages let through per second */

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_JSON    "application/json"

typedef struct {
    char *method;           /* owned; never freed before destroy, see s_resolve */
    char *path;
    http_handler_fn *fn;
    void *arg;
} s_route_t;

struct http_server {
    struct MHD_Daemon *mhd;
    int port;

    pthread_mutex_t lock;   /* guards every field below */
    char *metrics;          /* last text set; NULL = empty */
    size_t metrics_len;
    int health_status;
    char *health_json;      /* NULL = the "starting" default */
    s_route_t routes[HTTP_MAX_ROUTES];
    size_t nroutes;
    /* libmicrohttpd's own messages: kept (not logged) while starting so a
     * failed start can say why; rate-limited afterwards. */
    bool starting;
    char *start_error;
    time_t log_second;
    int log_count, log_dropped;
};

typedef enum {
    REQ_NOT_FOUND = 0,
    REQ_BAD_METHOD,
    REQ_METRICS,
    REQ_HEALTH,
    REQ_ROUTE,
} s_kind_t;

/* One request's state, from the URI log callback to the completed callback. */
typedef struct {
    bool resolved;          /* the first access-handler call has happened */
    bool answered;          /* a response was queued early (413) */
    s_kind_t kind;
    http_handler_fn *fn;
    void *arg;
    const char *route;      /* borrowed from the route table (lives until destroy) */
    char allow[64];         /* Allow header for 405 */
    char *query;            /* raw query string, still percent-encoded; NULL = none */
    char *body;             /* NUL-terminated; NULL = none yet */
    size_t len, cap;
    size_t expected;        /* Content-Length if announced and within the limit */
    bool too_large, oom;
} s_req_t;

static const char s_starting_json[] = "{\"status\":\"starting\"}";
static const char s_not_found_json[] = "{\"error\":\"not found\"}";
static const char s_bad_method_json[] = "{\"error\":\"method not allowed\"}";
static const char s_too_large_json[] = "{\"error\":\"request body too large\"}";
static const char s_no_memory_json[] = "{\"error\":\"out of memory\"}";

/* ---- the listen address --------------------------------------------- */

typedef union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} s_addr_t;

/* Parses "host:port" or "[v6]:port" into addr, accepting only loopback
 * hosts. The daemon's HTTP side has no authentication: it must never be
 * reachable from the network, so anything that is not provably loopback
 * is refused, with the reason in why. "localhost" is mapped to 127.0.0.1
 * here rather than resolved, so a doctored hosts file or resolver cannot
 * turn it into a public address. */
static int s_parse_listen(const char *listen, s_addr_t *addr, char *why, size_t whyn)
{
    if (!listen || !*listen) {
        snprintf(why, whyn, "no HTTP listen address given");
        return -1;
    }
    char host[256];
    const char *port_text;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t) (close - listen - 1) >= sizeof host) {
            snprintf(why, whyn, "HTTP listen address '%s': expected [address]:port", listen);
            return -1;
        }
        memcpy(host, listen + 1, (size_t) (close - listen - 1));
        host[close - listen - 1] = '\0';
        port_text = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t) (colon - listen) >= sizeof host) {
            snprintf(why, whyn, "HTTP listen address '%s': expected host:port", listen);
            return -1;
        }
        memcpy(host, listen, (size_t) (colon - listen));
        host[colon - listen] = '\0';
        port_text = colon + 1;
    }
    /* Port: 1 to 5 decimal digits, at most 65535 (no sign, no spaces). */
    size_t nd = strspn(port_text, "0123456789");
    unsigned long port = nd ? strtoul(port_text, NULL, 10) : 0;
    if (nd == 0 || nd > 5 || port_text[nd] != '\0' || port > 65535) {
        snprintf(why, whyn, "HTTP listen address '%s': the port must be a number from 0 to 65535",
                 listen);
        return -1;
    }

    memset(addr, 0, sizeof *addr);
    if (strcasecmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr->in4.sin_addr) == 1) {
        /* 127.0.0.0/8: the first octet, in network order the first byte. */
        if (((const uint8_t *) &addr->in4.sin_addr)[0] == 127) {
            addr->in4.sin_family = AF_INET;
            addr->in4.sin_port = htons((uint16_t) port);
            return 0;
        }
    } else if (inet_pton(AF_INET6, host, &addr->in6.sin6_addr) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&addr->in6.sin6_addr)) {
            addr->in6.sin6_family = AF_INET6;
            addr->in6.sin6_port = htons((uint16_t) port);
            return 0;
        }
    }
    snprintf(why, whyn, "HTTP listen address '%s': the host must be a loopback address "
             "(127.0.0.0/8, ::1 or localhost)", listen);
    return -1;
}

/* ---- libmicrohttpd's log -------------------------------------------- */

static void s_mhd_log(void *cls, const char *fm, va_list ap)
{
    http_server_t *self = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fm, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';

    pthread_mutex_lock(&self->lock);
    if (self->starting) {
        free(self->start_error);
        self->start_error = strdup(msg);
        pthread_mutex_unlock(&self->lock);
        return;
    }
    /* Once running, libmicrohttpd reports what clients do wrong (torn or
     * malformed requests, hang-ups): routine on a loopback port probed by
     * health checkers, so debug level, and rate-limited so a local client
     * in a loop cannot flood the log even then. Start-up failures, the
     * ones an operator must see, come back through http_server_new's err. */
    if (log_get_level() < LOG_DEBUG) {
        pthread_mutex_unlock(&self->lock);
        return;
    }
    time_t now = time(NULL);
    int dropped = 0;
    if (now != self->log_second) {
        dropped = self->log_dropped;
        self->log_second = now;
        self->log_count = 0;
        self->log_dropped = 0;
    }
    bool pass = self->log_count++ < HTTP_LOG_PER_SECOND;
    if (!pass)
        self->log_dropped++;
    pthread_mutex_unlock(&self->lock);
    if (dropped)
        log_debug("http", "libmicrohttpd: %d more messages suppressed", dropped);
    if (pass)
        log_debug("http", "libmicrohttpd: %s", msg);
}

/* ---- requests ------------------------------------------------------- */

static void *s_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    s_req_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;        /* the access handler tries again */
    const char *q = uri ? strchr(uri, '?') : NULL;
    if (q)
        req->query = strdup(q + 1);
    return req;
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    s_req_t *req = *con_cls;
    if (!req)
        return;
    free(req->query);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* Adds method to the request's Allow list unless it is there already. */
static void s_allow_add(s_req_t *req, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = req->allow; *p; ) {
        size_t tlen = strcspn(p, ",");
        if (tlen == mlen && memcmp(p, method, mlen) == 0)
            return;
        p += tlen;
        if (*p)
            p += 2;         /* ", " */
    }
    size_t n = strlen(req->allow);
    snprintf(req->allow + n, sizeof req->allow - n, "%s%s", n ? ", " : "", method);
}

/* Decides what the request is, from its method and (decoded) path. The
 * route's strings and slot are never freed or moved while the server
 * lives (routes are only added or re-pointed), so req->route may be kept
 * after the lock is released. */
static void s_resolve(http_server_t *self, s_req_t *req, const char *method, const char *path)
{
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool get = head || strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    if (strcmp(path, "/metrics") == 0 || strcmp(path, "/health") == 0) {
        req->route = path[1] == 'm' ? "/metrics" : "/health";
        req->kind = !get ? REQ_BAD_METHOD : path[1] == 'm' ? REQ_METRICS : REQ_HEALTH;
        s_allow_add(req, "GET");
        s_allow_add(req, "HEAD");
        return;
    }
    const s_route_t *exact = NULL, *as_get = NULL;
    const char *known = NULL;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->nroutes; i++) {
        const s_route_t *r = &self->routes[i];
        if (strcmp(r->path, path) != 0)
            continue;
        known = r->path;
        s_allow_add(req, r->method);
        if (strcmp(r->method, "GET") == 0)
            s_allow_add(req, "HEAD");
        if (strcmp(r->method, method) == 0)
            exact = r;
        else if (head && strcmp(r->method, "GET") == 0)
            as_get = r;
    }
    const s_route_t *r = exact ? exact : as_get;
    if (r) {
        req->kind = REQ_ROUTE;
        req->fn = r->fn;
        req->arg = r->arg;
        req->route = r->path;
    } else {
        req->kind = known ? REQ_BAD_METHOD : REQ_NOT_FOUND;
        req->route = known;
    }
    pthread_mutex_unlock(&self->lock);
}

/* Adds a chunk of the request body. Past the limit the body is dropped
 * and the rest of the upload discarded (MHD must still read it to keep the
 * connection in step); the answer is then 413. */
static void s_body_append(s_req_t *req, const char *data, size_t n)
{
    if (req->too_large || req->oom)
        return;
    if (n > HTTP_BODY_LIMIT - req->len) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->len = req->cap = 0;
        return;
    }
    if (req->len + n + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : req->expected ? req->expected + 1 : 4096;
        while (cap < req->len + n + 1)
            cap *= 2;
        if (cap > HTTP_BODY_LIMIT + 1)
            cap = HTTP_BODY_LIMIT + 1;
        char *body = realloc(req->body, cap);
        if (!body) {
            req->oom = true;
            return;
        }
        req->body = body;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
}

/* Queues a response. mode says who owns body: MHD_RESPMEM_MUST_FREE hands
 * a malloc'ed buffer to MHD (freed here if MHD refuses it),
 * MHD_RESPMEM_PERSISTENT is for static text. For HEAD requests MHD sends
 * the headers (with the body's Content-Length) and leaves the body out. */
static enum MHD_Result s_queue(struct MHD_Connection *conn, int status, const char *ctype,
                               void *body, size_t len, enum MHD_ResponseMemoryMode mode,
                               const char *allow, bool close)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    /* Everything served here is live state (health, metrics, what later
     * routes show): no proxy or browser should answer from a cache. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned) status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result s_queue_static(struct MHD_Connection *conn, int status, const char *json,
                                      const char *allow, bool close)
{
    return s_queue(conn, status, CT_JSON, (void *) json, strlen(json), MHD_RESPMEM_PERSISTENT,
                   allow, close);
}

static enum MHD_Result s_answer_metrics(http_server_t *self, struct MHD_Connection *conn,
                                        int *status)
{
    /* Copy under the lock: the broker may replace the text any moment. */
    pthread_mutex_lock(&self->lock);
    size_t len = self->metrics_len;
    char *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, self->metrics, len);
    pthread_mutex_unlock(&self->lock);
    *status = copy ? 200 : 503;
    if (!copy)
        return s_queue_static(conn, *status, s_no_memory_json, NULL, false);
    return s_queue(conn, *status, CT_METRICS, copy, len, MHD_RESPMEM_MUST_FREE, NULL, false);
}

static enum MHD_Result s_answer_health(http_server_t *self, struct MHD_Connection *conn,
                                       int *status)
{
    pthread_mutex_lock(&self->lock);
    *status = self->health_status;
    char *copy = strdup(self->health_json ? self->health_json : s_starting_json);
    pthread_mutex_unlock(&self->lock);
    if (!copy) {
        *status = 503;
        return s_queue_static(conn, *status, s_no_memory_json, NULL, false);
    }
    return s_queue(conn, *status, CT_JSON, copy, strlen(copy), MHD_RESPMEM_MUST_FREE, NULL, false);
}

static enum MHD_Result s_answer_route(s_req_t *req, struct MHD_Connection *conn,
                                      const char *method, const char *path, int *status_out)
{
    if (req->too_large) {
        *status_out = 413;
        return s_queue_static(conn, 413, s_too_large_json, NULL, false);
    }
    if (req->oom) {
        *status_out = 503;
        return s_queue_static(conn, 503, s_no_memory_json, NULL, false);
    }
    int status = 0;
    const char *ctype = NULL;
    char *body = NULL;
    size_t len = 0;
    req->fn(req->arg, method, path, req->query ? req->query : "",
            req->body ? req->body : "", req->len, &status, &ctype, &body, &len);
    if (status < 100 || status > 599) {
        log_warn("http", "the handler of %s %s answered status %d; sending 500",
                 method, req->route, status);
        status = 500;
    }
    if (!body)
        len = 0;
    if (!ctype && len)
        ctype = "application/octet-stream";
    *status_out = status;
    return s_queue(conn, status, ctype, body, len, MHD_RESPMEM_MUST_FREE, NULL, false);
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    http_server_t *self = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        /* The URI log callback could not allocate; one more try. */
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
    }

    if (!req->resolved) {
        /* First call: the headers are in, the body (if any) is not. */
        req->resolved = true;
        s_resolve(self, req, method, url);
        if (req->kind != REQ_ROUTE)
            return MHD_YES;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
        if (announced > HTTP_BODY_LIMIT) {
            /* Answer before the body is sent (a client that sent
             * "Expect: 100-continue" gets no "continue"); the connection
             * closes, so MHD need not read the unwanted upload. */
            req->answered = true;
            log_debug("http", "%s %s: body of %llu bytes refused", method, req->route, announced);
            return s_queue_static(conn, 413, s_too_large_json, NULL, true);
        }
        req->expected = (size_t) announced;
        return MHD_YES;
    }

    if (*upload_data_size) {
        if (req->kind == REQ_ROUTE && !req->answered)
            s_body_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;      /* consumed (or discarded) */
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;

    req->answered = true;
    int status;
    enum MHD_Result ret;
    switch (req->kind) {
    case REQ_METRICS:
        ret = s_answer_metrics(self, conn, &status);
        break;
    case REQ_HEALTH:
        ret = s_answer_health(self, conn, &status);
        break;
    case REQ_ROUTE:
        ret = s_answer_route(req, conn, method, url, &status);
        break;
    case REQ_BAD_METHOD:
        status = 405;
        ret = s_queue_static(conn, status, s_bad_method_json, req->allow, false);
        break;
    case REQ_NOT_FOUND:
    default:
        status = 404;
        ret = s_queue_static(conn, status, s_not_found_json, NULL, false);
        break;
    }
    /* The route (a code-defined string), never the client's path. */
    log_debug("http", "%s -> %d", req->route ? req->route : "(unknown path)", status);
    return ret;
}

/* ---- the server ----------------------------------------------------- */

static void s_set_err(char **err, const char *text)
{
    if (err)
        *err = strdup(text);
}

http_server_t *http_server_new(const char *listen, char **err)
{
    if (err)
        *err = NULL;
    char why[512];
    s_addr_t addr;
    if (s_parse_listen(listen, &addr, why, sizeof why) != 0) {
        s_set_err(err, why);
        return NULL;
    }

    http_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_set_err(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->health_status = 503;
    self->starting = true;

    bool v6 = addr.sa.sa_family == AF_INET6;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC
                       | (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
                          ? MHD_USE_EPOLL : MHD_USE_POLL)
                       | (v6 ? MHD_USE_IPv6 : 0);
    uint16_t port = ntohs(v6 ? addr.in6.sin6_port : addr.in4.sin_port);
    /* MHD_OPTION_SOCK_ADDR binds exactly this address, never the wildcard.
     * MHD sets SO_REUSEADDR by itself (a restart must not wait out
     * TIME_WAIT); MHD_OPTION_LISTENING_ADDRESS_REUSE is left unset because
     * it means SO_REUSEPORT, which would let a second daemon share the
     * port silently. */
    self->mhd = MHD_start_daemon(flags, port, NULL, NULL, s_access, self,
        /* First, or MHD prints its own messages about the options before. */
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, &addr.sa,
        MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_URI_LOG_CALLBACK, s_uri_log, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);

    pthread_mutex_lock(&self->lock);
    self->starting = false;
    char *start_error = self->start_error;
    self->start_error = NULL;
    pthread_mutex_unlock(&self->lock);

    if (!self->mhd) {
        snprintf(why, sizeof why, "cannot serve HTTP on %s: %s", listen,
                 start_error ? start_error : "libmicrohttpd could not start");
        free(start_error);
        s_set_err(err, why);
        http_server_destroy(&self);
        return NULL;
    }
    if (start_error)
        log_warn("http", "libmicrohttpd: %s", start_error);
    free(start_error);

    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    if (self->port == 0) {
        /* Older MHD builds: ask the socket. */
        info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_LISTEN_FD);
        s_addr_t bound;
        socklen_t blen = sizeof bound;
        if (info && getsockname(info->listen_fd, &bound.sa, &blen) == 0)
            self->port = ntohs(bound.sa.sa_family == AF_INET6 ? bound.in6.sin6_port
                                                              : bound.in4.sin_port);
    }
    log_info("http", "serving /metrics and /health on %s (port %d)", listen, self->port);
    return self;
}

void http_server_destroy(http_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_server_t *self = *self_p;
    /* Stops and joins MHD's thread: no handler runs after this. */
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    for (size_t i = 0; i < self->nroutes; i++) {
        free(self->routes[i].method);
        free(self->routes[i].path);
    }
    free(self->metrics);
    free(self->health_json);
    free(self->start_error);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int http_server_port(const http_server_t *self)
{
    return self ? self->port : 0;
}

void http_server_set_metrics(http_server_t *self, const char *text, size_t len)
{
    if (!self)
        return;
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        log_warn("http", "out of memory: /metrics keeps its previous text");
        return;
    }
    if (len)
        memcpy(copy, text, len);
    pthread_mutex_lock(&self->lock);
    char *old = self->metrics;
    self->metrics = copy;
    self->metrics_len = len;
    pthread_mutex_unlock(&self->lock);
    free(old);
}

void http_server_set_health(http_server_t *self, int status, const char *json)
{
    if (!self)
        return;
    char *copy = strdup(json ? json : "{}");
    if (!copy) {
        log_warn("http", "out of memory: /health keeps its previous answer");
        return;
    }
    /* Only 200 and 503 mean anything to a probe; anything else is a bug
     * in the caller, and "unavailable" is the safe reading of it. */
    if (status != 200)
        status = 503;
    pthread_mutex_lock(&self->lock);
    char *old = self->health_json;
    self->health_json = copy;
    self->health_status = status;
    pthread_mutex_unlock(&self->lock);
    free(old);
}

/* Adds a route, or re-points an existing method + path at a new handler.
 * 0, or -1 if the arguments are bad (method empty, path not starting with
 * '/', path /metrics or /health, which are built in), the table is full
 * (HTTP_MAX_ROUTES) or memory ran out. Safe from any thread, before or
 * while requests are served. */
int http_server_route(http_server_t *self, const char *method, const char *path,
                      http_handler_fn *fn, void *arg)
{
    if (!self || !method || !*method || !path || path[0] != '/' || !fn
        || strcmp(path, "/metrics") == 0 || strcmp(path, "/health") == 0)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->nroutes; i++) {
        s_route_t *r = &self->routes[i];
        if (strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0) {
            r->fn = fn;
            r->arg = arg;
            rc = 0;
            goto done;
        }
    }
    if (self->nroutes == HTTP_MAX_ROUTES) {
        log_error("http", "route table full (%d): %s %s not added", HTTP_MAX_ROUTES, method, path);
        goto done;
    }
    s_route_t *r = &self->routes[self->nroutes];
    r->method = strdup(method);
    r->path = strdup(path);
    if (!r->method || !r->path) {
        free(r->method);
        free(r->path);
        r->method = r->path = NULL;
        goto done;
    }
    r->fn = fn;
    r->arg = arg;
    self->nroutes++;
    rc = 0;
done:
    pthread_mutex_unlock(&self->lock);
    return rc;
}
