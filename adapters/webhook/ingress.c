/* ingress.c — the webhook's HTTP(S) ingress on libmicrohttpd.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION): a request
 * waits in batch_commit() for its fsync, and only its own connection waits
 * with it; concurrent requests commit concurrently and the host's group
 * commit shares the fsync among them.
 *
 * A request goes through three steps:
 *   1. headers (first call): path, method, client certificate, bearer
 *      token, Content-Length. A refusal is decided here and the body is
 *      read and dropped, so the client reads the answer instead of a reset.
 *   2. body: appended up to max_body.
 *   3. end: the HMAC signature over the body, then the JSON; an accepted
 *      event becomes a batch of one record whose message id is the event
 *      id, committed before the answer: 202 once it is durable (status
 *      "duplicate" when the id was already stored), 503 + Retry-After when
 *      the journal refused it, so the sender retries.
 *
 * An authenticated event that is not valid JSON or has no usable id is
 * put in the quarantine topic with the reason and answered 400: it is kept
 * for an operator and the sender learns that it was refused. Nothing of a
 * request that fails authentication is stored. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "webhook.h"

#define CT_JSON "application/json"

typedef struct {
    char    *buf;
    size_t   len, cap;
    unsigned status;          /* != 0: refused with this status (the body is drained) */
    char     why[160];        /* the refusal's text */
    size_t   drained;
} s_req_t;

/* ---- answers --------------------------------------------------------------- */

/* Queues a JSON answer {"status":..,"event_id":..,"error":..} with an
 * optional extra header. */
static enum MHD_Result s_answer(struct MHD_Connection *conn, unsigned code, const char *status,
                                const char *event_id, const char *error, const char *hname,
                                const char *hvalue)
{
    json_t *o = json_pack("{s:s}", "status", status);
    if (o && event_id)
        json_object_set_new(o, "event_id", json_string(event_id));
    if (o && error)
        json_object_set_new(o, "error", json_string(error));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text)
        return MHD_NO;
    size_t n = strlen(text);
    text[n] = '\n';             /* json_dumps leaves the NUL; the answer ends with a newline */
    struct MHD_Response *r = MHD_create_response_from_buffer(n + 1, text, MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CT_JSON);
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static const char *s_status_word(unsigned code)
{
    switch (code) {
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "too_large";
    default:  return "refused";
    }
}

/* Logs a refusal or a rejected event as a warning, at most once a minute
 * (a sender with a wrong secret would otherwise fill the log), with the
 * client's address and how many there were since the last line. */
static void s_ratelog(webhook_t *self, wh_ratelog_t *rl, struct MHD_Connection *conn,
                      const char *what, unsigned code, const char *why)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, n = 0;
    pthread_mutex_lock(&rl->mu);
    rl->pending++;
    if (!rl->last_ms || now - rl->last_ms >= 60000) {
        n = rl->pending;
        rl->pending = 0;
        rl->last_ms = now;
    }
    pthread_mutex_unlock(&rl->mu);
    if (!n)
        return;
    char addr[INET6_ADDRSTRLEN] = "?";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, addr, sizeof addr);
    else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr,
                  sizeof addr);
    if (n == 1)
        self->host->log(self->a, LGSP_LOG_WARN, "%s: %u %s (from %s)", what, code, why, addr);
    else
        self->host->log(self->a, LGSP_LOG_WARN, "%s: %llu since the last report, the last: %u %s "
                                                "(from %s)",
                        what, (unsigned long long)n, code, why, addr);
}

static enum MHD_Result s_refuse(webhook_t *self, struct MHD_Connection *conn, s_req_t *req)
{
    s_ratelog(self, &self->refusals, conn, "request refused", req->status, req->why);
    atomic_fetch_add(&self->n_refused, 1);
    self->host->count(self->a, "requests_refused", 1);
    const char *hn = NULL, *hv = NULL;
    if (req->status == 401) {
        hn = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hv = self->token ? "Bearer realm=\"lgsp\"" : "Signature";
    } else if (req->status == 405) {
        hn = MHD_HTTP_HEADER_ALLOW;
        hv = "POST";
    }
    return s_answer(conn, req->status, s_status_word(req->status), NULL, req->why, hn, hv);
}

/* ---- checks on the headers --------------------------------------------------- */

/* True when the TLS peer sent a certificate that verifies against the
 * configured CA. libmicrohttpd only *requests* a client certificate when
 * a trust list is set, so the check is ours. */
static bool s_client_cert_ok(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned int n = 0, status = 0;
    if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 || !gnutls_certificate_get_peers(s, &n)
        || n == 0)
        return false;
    return gnutls_certificate_verify_peers2(s, &status) == 0 && status == 0;
}

static void s_check_headers(webhook_t *self, struct MHD_Connection *conn, const char *url,
                            const char *method, s_req_t *req)
{
    if (strcmp(url, self->path) != 0) {
        req->status = 404;
        snprintf(req->why, sizeof req->why, "events are posted to %s", self->path);
        return;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        req->status = 405;
        snprintf(req->why, sizeof req->why, "POST only");
        return;
    }
    if (self->tls_ca && !s_client_cert_ok(conn)) {
        req->status = 403;
        snprintf(req->why, sizeof req->why, "a client certificate issued by the trusted CA is "
                                            "required");
        return;
    }
    if (self->token
        && !wh_bearer_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION),
                         self->token)) {
        req->status = 401;
        snprintf(req->why, sizeof req->why, "missing or wrong bearer token");
        return;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n;
    if (cl && !wh_parse_uint(cl, 0, UINT64_MAX, &n) && n > self->max_body) {
        req->status = 413;
        snprintf(req->why, sizeof req->why, "the body is larger than %zu bytes", self->max_body);
    }
}

/* How much of a refused request's body is read and dropped before the
 * answer: enough that an ordinary client reads the answer rather than a
 * reset; beyond it the connection is closed. */
static size_t s_drain_limit(const webhook_t *self)
{
    size_t lim = self->max_body * 4;
    return lim < (1u << 20) ? (1u << 20) : lim;
}

/* ---- the event ------------------------------------------------------------------- */

/* Logs the first failure of a series and the recovery, not every request. */
static void s_journal_state(webhook_t *self, bool ok, const char *err)
{
    bool was = atomic_exchange(&self->journal_failing, !ok);
    if (!ok && !was)
        self->host->log(self->a, LGSP_LOG_WARN, "the journal refused an event (%s): answering "
                                                "503 until it takes them again", err);
    else if (ok && was)
        self->host->log(self->a, LGSP_LOG_INFO, "the journal takes events again");
}

static enum MHD_Result s_unavailable(webhook_t *self, struct MHD_Connection *conn,
                                     const char *id, const char *err)
{
    atomic_fetch_add(&self->n_failed, 1);
    self->host->count(self->a, "commit_failures", 1);
    s_journal_state(self, false, err);
    char ra[16], msg[200];
    snprintf(ra, sizeof ra, "%u", self->retry_after_s);
    snprintf(msg, sizeof msg, "not stored (%s); retry", err);
    return s_answer(conn, 503, "unavailable", id, msg, MHD_HTTP_HEADER_RETRY_AFTER, ra);
}

/* Stores the body in the quarantine topic with the reason; answers 400,
 * or 503 if even that could not be stored (the sender then retries). */
static enum MHD_Result s_quarantine(webhook_t *self, struct MHD_Connection *conn,
                                    const s_req_t *req, const char *reason)
{
    const lgsp_host_api_t *h = self->host;
    const char *hid = self->id_header
                          ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, self->id_header)
                          : NULL;
    char pos[WH_ID_MAX + 64];
    if (hid && wh_id_valid(hid) && strlen(hid) <= WH_ID_MAX)
        snprintf(pos, sizeof pos, "push %s id %s", self->path, hid);
    else
        snprintf(pos, sizeof pos, "push %s", self->path);
    lgsp_batch_t *b = h->batch_new(self->a);
    lgsp_commit_result_t res = { .size = sizeof res };
    int rc = b ? h->batch_quarantine(b, pos, reason, req->buf ? req->buf : "", req->len)
               : LGSP_AE_NOMEM;
    if (rc < 0 && b)
        h->batch_discard(b);
    else if (b)
        rc = h->batch_commit(b, NULL, 0, &res);
    if (rc < 0)
        return s_unavailable(self, conn, NULL, h->last_error(self->a));
    s_journal_state(self, true, NULL);
    /* jansson quotes the token it stumbled on ("near 'Nguyễn'"): input,
     * possibly personal data, which stays in the quarantine, not the log */
    char logged[256];
    snprintf(logged, sizeof logged, "%s", reason);
    char *near = strstr(logged, " near '");
    if (near)
        snprintf(near, sizeof logged - (size_t)(near - logged), "%s", " (see the quarantine)");
    s_ratelog(self, &self->rejects, conn, "event quarantined", 400, logged);
    atomic_fetch_add(&self->n_quarantined, 1);
    h->count(self->a, "events_quarantined", 1);
    return s_answer(conn, 400, "rejected", NULL, reason, NULL, NULL);
}

static enum MHD_Result s_accept(webhook_t *self, struct MHD_Connection *conn, s_req_t *req)
{
    const lgsp_host_api_t *h = self->host;
    if (self->hmac_secret) {
        const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, self->hmac_header);
        if (!wh_hmac_ok(sig, self->hmac_prefix, self->hmac_secret, req->buf ? req->buf : "",
                        req->len)) {
            req->status = 401;
            snprintf(req->why, sizeof req->why, "missing or wrong %s", self->hmac_header);
            return s_refuse(self, conn, req);
        }
    }
    wh_event_t ev;
    char reason[256];
    const char *hid = self->id_header
                          ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, self->id_header)
                          : NULL;
    const char *htype = self->type_header
                            ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                          self->type_header)
                            : NULL;
    if (wh_event_parse(req->buf ? req->buf : "", req->len, self->id_field, hid, self->type_field,
                       htype, &ev, reason, sizeof reason))
        return s_quarantine(self, conn, req, reason);

    const char *hdrs[5] = { "lgsp-via", "push", NULL, NULL, NULL };
    if (ev.type[0]) {
        hdrs[2] = "lgsp-event-type";
        hdrs[3] = ev.type;
    }
    lgsp_record_t rec = {
        .size = sizeof rec,
        .source_id = ev.id,
        .id = ev.id,
        .content_type = CT_JSON,
        .payload = req->buf ? req->buf : "",
        .payload_len = req->len,
        .position = "push",
        .headers = hdrs,
    };
    lgsp_batch_t *b = h->batch_new(self->a);
    if (!b)
        return s_unavailable(self, conn, ev.id, h->last_error(self->a));
    int rc = h->batch_add(b, &rec);
    if (rc < 0) {
        /* The host will not take it as a record (beyond the bus's message
         * size, ...): it is not lost, it goes to the quarantine. */
        char why[256];
        snprintf(why, sizeof why, "not accepted as a record: %s", h->last_error(self->a));
        h->batch_discard(b);
        if (rc == LGSP_AE_NOMEM || rc == LGSP_AE_STOPPING)
            return s_unavailable(self, conn, ev.id, why);
        return s_quarantine(self, conn, req, why);
    }
    lgsp_commit_result_t res = { .size = sizeof res };
    rc = h->batch_commit(b, NULL, 0, &res);
    if (rc < 0)
        return s_unavailable(self, conn, ev.id, h->last_error(self->a));
    s_journal_state(self, true, NULL);
    if (res.duplicates) {
        atomic_fetch_add(&self->n_duplicates, 1);
        h->count(self->a, "events_duplicate", 1);
        return s_answer(conn, 202, "duplicate", ev.id, NULL, NULL, NULL);
    }
    atomic_fetch_add(&self->n_accepted, 1);
    h->count(self->a, "events_accepted", 1);
    return s_answer(conn, 202, "accepted", ev.id, NULL, NULL, NULL);
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------- */

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    webhook_t *self = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        s_check_headers(self, conn, url, method, req);
        if (req->status) {
            /* A body too big to drain: answer now; libmicrohttpd closes the
             * connection after the answer. */
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
            uint64_t n;
            if (cl && !wh_parse_uint(cl, 0, UINT64_MAX, &n) && n > s_drain_limit(self))
                return s_refuse(self, conn, req);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->status) {
            req->drained += n;
            return req->drained > s_drain_limit(self) ? MHD_NO : MHD_YES;
        }
        if (req->len + n > self->max_body) {
            /* a chunked body (no Content-Length) that grew too big */
            req->status = 413;
            snprintf(req->why, sizeof req->why, "the body is larger than %zu bytes",
                     self->max_body);
            free(req->buf);
            req->buf = NULL;
            req->drained = req->len + n;
            req->len = req->cap = 0;
            return MHD_YES;
        }
        if (req->len + n > req->cap) {
            size_t cap = req->cap ? req->cap : 4096;
            while (cap < req->len + n)
                cap *= 2;
            if (cap > self->max_body)
                cap = self->max_body;
            char *nb = realloc(req->buf, cap);
            if (!nb)
                return MHD_NO;
            req->buf = nb;
            req->cap = cap;
        }
        memcpy(req->buf + req->len, upload_data, n);
        req->len += n;
        return MHD_YES;
    }
    if (req->status)
        return s_refuse(self, conn, req);
    return s_accept(self, conn, req);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    s_req_t *req = *con_cls;
    if (req) {
        free(req->buf);
        free(req);
        *con_cls = NULL;
    }
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    webhook_t *self = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* Once running, libmicrohttpd reports what clients do wrong (resets,
     * TLS alerts): debug; while starting, why the daemon did not start. */
    self->host->log(self->a, self->starting ? LGSP_LOG_WARN : LGSP_LOG_DEBUG, "libmicrohttpd: %s",
                    line);
}

int wh_ingress_start(webhook_t *self)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
                   | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (self->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)s_mhd_log, self };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &self->addr };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s_completed,
                                         self };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, self->max_connections,
                                         NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, self->conn_timeout_s,
                                         NULL };
    if (self->tls_cert) {
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, self->tls_key };
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, self->tls_cert };
        if (self->tls_ca)
            opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, self->tls_ca };
    }
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    self->starting = true;
    self->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_access, self, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
    self->starting = false;
    if (!self->mhd) {
        self->host->log(self->a, LGSP_LOG_ERROR, "cannot listen on %s (in use, or not an address "
                                                 "of this host?)", self->listen);
        return LGSP_AE_INVALID;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = di ? di->port : 0;
    char host[INET6_ADDRSTRLEN + 2];
    if (self->addr.ss_family == AF_INET6) {
        host[0] = '[';
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&self->addr)->sin6_addr, host + 1,
                  INET6_ADDRSTRLEN);
        strcat(host, "]");
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&self->addr)->sin_addr, host, sizeof host);
    }
    char auth[160];
    snprintf(auth, sizeof auth, "%s%s%s%s%s", self->token ? " + bearer token" : "",
             self->hmac_secret ? " + " : "", self->hmac_secret ? self->hmac_header : "",
             self->hmac_secret ? " HMAC" : "", self->tls_ca ? " + client certificate" : "");
    self->host->log(self->a, LGSP_LOG_INFO, "listening on %s://%s:%u%s (auth: %s; max body %zu "
                                            "bytes)",
                    self->tls_cert ? "https" : "http", host, (unsigned)self->port, self->path,
                    auth + 3, self->max_body);
    return 0;
}

void wh_ingress_stop(webhook_t *self)
{
    if (self->mhd) {
        /* Waits for the connection threads: a request in batch_commit()
         * finishes (the host answers it) before stop() returns. */
        MHD_stop_daemon(self->mhd);
        self->mhd = NULL;
    }
}
