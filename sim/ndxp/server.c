/* server.c — see server.h. */
#include "server.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mhdutil.h"

struct ndxp_server {
    struct MHD_Daemon *mhd;
    ndxp_t            *ndxp;
    unsigned           port;
};

/* The client certificate of the connection: present, chaining to --ca, with
 * the clientAuth purpose. 0, or -1 with the reason in why. */
static int s_client_cert(struct MHD_Connection *conn, char *why, size_t whysz)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) {
        snprintf(why, whysz, "not a TLS connection");
        return -1;
    }
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    if (!gnutls_certificate_get_peers(s, NULL)) {
        snprintf(why, whysz, "none was presented");
        return -1;
    }
    gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID,
                                      .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT };
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
    if (rc < 0) {
        snprintf(why, whysz, "%s", gnutls_strerror(rc));
        return -1;
    }
    if (status) {
        gnutls_datum_t out = { 0 };
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
            snprintf(why, whysz, "%s", (const char *)out.data);
            gnutls_free(out.data);
            size_t len = strlen(why);
            while (len && why[len - 1] == ' ')
                why[--len] = 0;
        } else {
            snprintf(why, whysz, "not trusted (status 0x%x)", status);
        }
        return -1;
    }
    return 0;
}

/* The token bucket of --max-rate: true when this request may go on. */
static bool s_rate_ok(ndxp_t *n)
{
    if (n->max_rate <= 0)
        return true;
    double burst = n->max_rate < 1 ? 1 : n->max_rate;
    pthread_mutex_lock(&n->rate_mu);
    int64_t now = ndxp_mono_ms();
    n->tokens += (double)(now - n->tokens_at_ms) / 1000.0 * n->max_rate;
    if (n->tokens > burst)
        n->tokens = burst;
    n->tokens_at_ms = now;
    bool ok = n->tokens >= 1;
    if (ok)
        n->tokens -= 1;
    pthread_mutex_unlock(&n->rate_mu);
    return ok;
}

static void s_count(ndxp_t *n, uint64_t *counter)
{
    pthread_mutex_lock(&n->stats.mu);
    (*counter)++;
    pthread_mutex_unlock(&n->stats.mu);
}

static int s_code_slot(int code)
{
    switch (code) {
    case 400: return 0;
    case 401: return 1;
    case 403: return 2;
    case 422: return 3;
    default:  return 4;
    }
}

static json_t *s_result(const char *id, const char *status, int code, const char *reason)
{
    return json_pack("{ss ss si ss}", "message_id", id, "status", status, "code", code,
                     "reason", reason);
}

/* Closes the connection with a TCP reset instead of an answer. */
static enum MHD_Result s_reset(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        /* linger 0: close(2) sends RST, not FIN */
        struct linger l = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    return MHD_NO;
}

/* One batch: the whole-request checks, then the messages. */
static enum MHD_Result s_batch(ndxp_t *n, struct MHD_Connection *conn, mhd_body_t *b)
{
    static const char *const close_hdr[] = { MHD_HTTP_HEADER_CONNECTION, "close", NULL };
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    if (b->too_big) {
        s_count(n, &n->stats.bad_requests);
        return mhd_reply_error(conn, 400, close_hdr, "the body is over %u bytes", NDXP_MAX_BODY);
    }
    if (!ct || strncasecmp(ct, "application/json", 16) != 0
        || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        s_count(n, &n->stats.bad_requests);
        return mhd_reply_error(conn, 400, NULL, "Content-Type must be application/json");
    }
    json_error_t jerr;
    json_t *req = json_loadb(b->buf ? b->buf : "", b->len, 0, &jerr);
    json_t *msgs = json_object_get(req, "messages");
    size_t count = json_array_size(msgs);
    if (!req || !json_is_array(msgs) || count < 1 || count > NDXP_MAX_MESSAGES) {
        s_count(n, &n->stats.bad_requests);
        enum MHD_Result r;
        if (!req)
            r = mhd_reply_error(conn, 400, NULL, "the body is not JSON: %s (byte %d)", jerr.text,
                                jerr.position);
        else if (!json_is_array(msgs))
            r = mhd_reply_error(conn, 400, NULL, "the body has no \"messages\" array");
        else
            r = mhd_reply_error(conn, 400, NULL, "%zu messages: a batch holds 1-%d", count,
                                NDXP_MAX_MESSAGES);
        json_decref(req);
        return r;
    }

    /* the checks that need no shared state, outside the store's lock */
    jws_msg_t *m = calloc(count, sizeof *m);
    const char **status = calloc(count, sizeof *status);
    if (!m || !status) {
        free(m);
        free(status);
        json_decref(req);
        return MHD_NO;
    }
    for (size_t i = 0; i < count; i++)
        jws_check(n->keys, n->receiver, json_array_get(msgs, i), &m[i]);

    uint64_t acc = 0, dup = 0, dup_diff = 0, rej = 0, by_code[6] = { 0 };
    char err[256] = "";
    int64_t now = ndxp_now_ms();
    store_lock(n->store);
    for (size_t i = 0; i < count; i++) {
        const char *sha;
        if (m[i].code == 0 && store_seen(n->store, m[i].message_id, &sha)) {
            status[i] = "duplicate";
            if (strcmp(sha, m[i].sha256) != 0)
                dup_diff++;
            continue;
        }
        if (m[i].code == 0 && jws_check_skew(&m[i], now, n->max_skew_s) == 0
            && nfaults_draw(&n->faults, NF_REJECT, NULL)) {
            m[i].code = 422;
            snprintf(m[i].reason, sizeof m[i].reason, "injected");
        }
        if (m[i].code == 0 && store_add(n->store, &m[i], now) != 0) {
            m[i].code = -1;                 /* out of memory: the batch fails as a whole */
            snprintf(err, sizeof err, "out of memory");
        }
        status[i] = m[i].code == 0 ? "accepted" : "rejected";
    }
    int stored = *err ? -1 : store_commit(n->store, err, sizeof err);
    store_unlock(n->store);

    enum MHD_Result r;
    if (stored != 0) {
        s_count(n, &n->stats.store_errors);
        ndxp_log("store: %s", err);
        r = mhd_reply_error(conn, 500, NULL, "store: %s", err);
        goto done;
    }
    json_t *results = json_array();
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(status[i], "accepted")) {
            acc++;
            json_array_append_new(results, s_result(m[i].message_id, "accepted", 200, ""));
        } else if (!strcmp(status[i], "duplicate")) {
            dup++;
            json_array_append_new(results,
                                  s_result(m[i].message_id, "duplicate", 200, "already accepted"));
        } else {
            rej++;
            by_code[s_code_slot(m[i].code)]++;
            json_array_append_new(results,
                                  s_result(m[i].message_id, "rejected", m[i].code, m[i].reason));
        }
    }
    pthread_mutex_lock(&n->stats.mu);
    n->stats.batches_ok++;
    n->stats.messages += count;
    n->stats.accepted += acc;
    n->stats.duplicates += dup;
    n->stats.duplicates_differing += dup_diff;
    n->stats.rejected += rej;
    for (int k = 0; k < 6; k++)
        n->stats.rejected_by_code[k] += by_code[k];
    pthread_mutex_unlock(&n->stats.mu);
    if (n->verbose)
        ndxp_log("batch: %zu messages, %llu accepted, %llu duplicate, %llu rejected", count,
                 (unsigned long long)acc, (unsigned long long)dup, (unsigned long long)rej);
    /* lost acknowledgement: the batch is on disk, the sender never hears so */
    if (nfaults_draw(&n->faults, NF_LOST_ACK, NULL)) {
        json_decref(results);
        r = s_reset(conn);
        goto done;
    }
    r = mhd_reply_json(conn, 200, json_pack("{so}", "results", results), NULL);
done:
    for (size_t i = 0; i < count; i++)
        jws_msg_clear(&m[i]);
    free(m);
    free(status);
    json_decref(req);
    return r;
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_size, void **con_cls)
{
    ndxp_server_t *self = cls;
    ndxp_t *n = self->ndxp;
    int got = mhd_body_collect(con_cls, upload_data, upload_size, NDXP_MAX_BODY);
    if (got < 0)
        return MHD_NO;
    if (got == 0)
        return MHD_YES;
    s_count(n, &n->stats.requests);

    static const char *const close_hdr[] = { MHD_HTTP_HEADER_CONNECTION, "close", NULL };
    char why[256];
    if (s_client_cert(conn, why, sizeof why) != 0) {
        s_count(n, &n->stats.refused_cert);
        if (n->verbose)
            ndxp_log("refused: client certificate: %s", why);
        return mhd_reply_error(conn, 403, close_hdr, "client certificate: %s", why);
    }
    if (strcmp(url, "/ndxp/v1/messages") != 0) {
        s_count(n, &n->stats.bad_requests);
        return mhd_reply_error(conn, 404, NULL, "no such path (POST /ndxp/v1/messages)");
    }
    if (strcmp(method, "POST") != 0) {
        s_count(n, &n->stats.bad_requests);
        static const char *const allow[] = { MHD_HTTP_HEADER_ALLOW, "POST", NULL };
        return mhd_reply_error(conn, 405, allow, "POST /ndxp/v1/messages");
    }
    int64_t outage = nfaults_outage(&n->faults, ndxp_mono_ms());
    if (outage > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%lld", (long long)((outage + 999) / 1000));
        const char *const hdr[] = { MHD_HTTP_HEADER_RETRY_AFTER, secs, NULL };
        return mhd_reply_error(conn, 503, hdr, "outage (injected): retry after %s s", secs);
    }
    if (!s_rate_ok(n)) {
        s_count(n, &n->stats.rate_limited);
        static const char *const hdr[] = { MHD_HTTP_HEADER_RETRY_AFTER, "1", NULL };
        return mhd_reply_error(conn, 429, hdr, "over %g requests/s", n->max_rate);
    }
    if (nfaults_draw(&n->faults, NF_DROP, NULL))
        return MHD_NO;                  /* closed, nothing stored, no answer */
    int ms;
    if (nfaults_draw(&n->faults, NF_SLOW, &ms))
        ndxp_sleep_ms(ms, &n->stopping);
    return s_batch(n, conn, *con_cls);
}

static void s_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t len = strlen(line);
    while (len && line[len - 1] == '\n')
        line[--len] = 0;
    ndxp_log("https: %s", line);
}

ndxp_server_t *ndxp_server_new(ndxp_t *ndxp, unsigned port, const char *cert_pem,
                               const char *key_pem, const char *ca_pem, char *err, size_t errsz)
{
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, errsz, "this libmicrohttpd has no TLS");
        return NULL;
    }
    ndxp_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    self->ndxp = ndxp;
    struct sockaddr_in addr = mhd_loopback(port);
    /* MHD_OPTION_HTTPS_MEM_TRUST makes GnuTLS ask for a client certificate
     * and verify it against the CA; whether one came and verified is read
     * per request (s_client_cert). A thread per connection: a slow answer
     * delays only its own client. */
    self->mhd = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
            | MHD_USE_ERROR_LOG | MHD_USE_POLL,
        (uint16_t)port, NULL, NULL, s_access, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, self,
        MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, key_pem,
        MHD_OPTION_HTTPS_MEM_TRUST, ca_pem,
        MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, mhd_body_done, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(err, errsz, "cannot serve HTTPS on 127.0.0.1:%u (port taken, or the certificate "
                 "or key not usable)", port);
        free(self);
        return NULL;
    }
    self->port = mhd_port(self->mhd);
    return self;
}

unsigned ndxp_server_port(const ndxp_server_t *self)
{
    return self->port;
}

void ndxp_server_destroy(ndxp_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    MHD_stop_daemon((*self_p)->mhd);
    free(*self_p);
    *self_p = NULL;
}
