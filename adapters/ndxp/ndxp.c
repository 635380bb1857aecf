/* ndxp.c — the NDXP connector: a sink that forwards its topic to the national
 * data-exchange platform (docs/ndxp.md, "The connector").
 *
 * Each message becomes a JWS signed with the province's Ed25519 key
 * (jws.c), its bus message id (as first published) as the idempotency key; messages go in
 * batches (`batch_max` messages, `batch_bytes`) as POST /ndxp/v1/messages
 * over HTTPS with mutual TLS (the configured CA only, the province's client
 * certificate), up to `max_in_flight` requests at once on keep-alive
 * connections (one libcurl multi handle).
 *
 * The outbox is the bus: the sink's consumer group acknowledges a message
 * only when NDXP answered accepted or duplicate, so after a crash exactly
 * the unconfirmed messages come again and NDXP's idempotency drops what it
 * already had. A request that fails (5xx, 429, timeout, dropped connection,
 * TLS) is sent again, re-signed with a fresh timestamp, after a backoff with
 * jitter (Retry-After honoured) and through a circuit breaker (breaker.c);
 * deliver() keeps its messages meanwhile (host->wait() keeps them in hand),
 * however long NDXP is away. A message NDXP rejects (4xx result) is
 * LGSP_REJECTED: dead-lettered at once with the answer. A whole-request 400
 * is split: its messages are sent again one by one, and a single message
 * that still gets 400 is rejected with the answer. */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "adcfg.h"
#include "breaker.h"
#include "jws.h"
#include "lgsp/adapter.h"

#define MAX_RESPONSE (32u << 20)   /* an answer bigger than this is not NDXP's */
#define BODY_OVERHEAD 600          /* the JWS header and the JSON around one message */

/* One request: its messages (indices into deliver()'s array), its body and
 * answer. */
typedef struct {
    CURL     *easy;
    bool      busy;
    size_t   *idx, n;
    jws_buf_t body, resp;
    uint64_t  retry_after_ms;
    uint64_t  started_ms;
} xfer_t;

typedef struct {
    const lgsp_host_api_t *host;
    lgsp_adapter_t *a;
    /* settings */
    char     *url, *ca, *cert, *key, *pinned, *sender, *receiver, *content_type;
    size_t    batch_max, batch_bytes;
    unsigned  max_in_flight;
    uint64_t  timeout_ms, connect_timeout_ms;
    /* runtime (the sink's thread) */
    jws_signer_t *signer;
    CURLM    *multi;
    xfer_t   *xfers;
    struct curl_slist *headers;
    breaker_t br;
    size_t   *queue;                /* message indices waiting to be sent, in order */
    bool     *single;               /* per message: send it alone (after a 400) */
    size_t    qhead, qlen, qcap;
    bool      failing;              /* the last request failed (log the recovery) */
    /* figures for describe() (another thread) */
    pthread_mutex_t mu;
    uint64_t  accepted, duplicates, rejected, requests, failures;
    unsigned  in_flight;
    breaker_state_t state;
    char      last_failure[160];
} ndxp_t;

static uint64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static uint64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* ---- settings --------------------------------------------------------- */

/* A file setting, relative to the configuration's folder; checked readable. */
static char *s_file(ndxp_t *self, const char *name, bool required)
{
    const lgsp_host_api_t *h = self->host;
    const char *v = h->setting(self->a, name);
    if (!v || !*v) {
        if (required)
            h->setting_error(self->a, name, "required");
        return NULL;
    }
    char *path = NULL;
    const char *dir = h->size > offsetof(lgsp_host_api_t, config_dir) && h->config_dir
                      ? h->config_dir(self->a) : NULL;
    if (v[0] != '/' && dir && asprintf(&path, "%s/%s", dir, v) < 0)
        path = NULL;
    else if (v[0] == '/' || !dir)
        path = strdup(v);
    if (!path) {
        h->setting_error(self->a, name, "out of memory");
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        h->setting_error(self->a, name, "cannot read %s: %m", path);
        free(path);
        return NULL;
    }
    return path;
}

/* An electronic agency identifier (QĐ 20/2020/QĐ-TTg, QCVN 102:2016 form). */
static char *s_agency(ndxp_t *self, const char *name)
{
    const char *v = adcfg_required(self->host, self->a, name);
    if (!v)
        return NULL;
    regex_t re;
    if (regcomp(&re, "^[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[A-Z][0-9]{2}$", REG_EXTENDED | REG_NOSUB) != 0) {
        self->host->setting_error(self->a, name, "cannot compile the identifier pattern");
        return NULL;
    }
    int rc = regexec(&re, v, 0, NULL, 0);
    regfree(&re);
    if (rc != 0) {
        self->host->setting_error(self->a, name, "'%s' is not an electronic agency identifier "
                                  "(NNN.NN.NN.XNN, e.g. 000.00.00.H01)", v);
        return NULL;
    }
    return strdup(v);
}

/* The certificate and key are read once here, so a wrong file is reported
 * with its setting's line at start, not as a TLS error at the first send. */
static int s_check_pem(ndxp_t *self, const char *name, const char *path, bool is_key)
{
    FILE *f = fopen(path, "r");
    void *obj = NULL;
    if (f) {
        obj = is_key ? (void *) PEM_read_PrivateKey(f, NULL, NULL, NULL) : (void *) PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (!obj)
        return self->host->setting_error(self->a, name, "%s is not a PEM %s", path,
                                         is_key ? "private key" : "certificate");
    if (is_key)
        EVP_PKEY_free(obj);
    else
        X509_free(obj);
    return 0;
}

static int s_settings(ndxp_t *self)
{
    const lgsp_host_api_t *h = self->host;
    lgsp_adapter_t *a = self->a;
    const char *url = adcfg_required(h, a, "url");
    if (!url)
        return -1;
    if (strncasecmp(url, "https://", 8) != 0)
        return h->setting_error(a, "url", "'%s' is not an https:// URL (NDXP is reached over mutual TLS only)", url);
    self->url = strdup(url);
    if (!(self->ca = s_file(self, "ca", true)) || !(self->cert = s_file(self, "cert", true))
        || !(self->key = s_file(self, "key", true)))
        return -1;
    if (s_check_pem(self, "ca", self->ca, false) < 0 || s_check_pem(self, "cert", self->cert, false) < 0
        || s_check_pem(self, "key", self->key, true) < 0)
        return -1;
    const char *pin = adcfg_str(h, a, "pinned_pubkey", NULL);
    if (pin && *pin) {
        if (strncmp(pin, "sha256//", 8) == 0)
            self->pinned = strdup(pin);
        else if (!(self->pinned = s_file(self, "pinned_pubkey", true)))
            return -1;
    }
    char *sk = s_file(self, "signing_key", true);
    if (!sk)
        return -1;
    char err[256];
    self->signer = jws_signer_new(sk, err, sizeof err);
    free(sk);
    if (!self->signer)
        return h->setting_error(a, "signing_key", "%s", err);
    if (!(self->sender = s_agency(self, "sender")) || !(self->receiver = s_agency(self, "receiver")))
        return -1;
    self->content_type = strdup(adcfg_str(h, a, "content_type", "application/json"));
    long bm, mif, thr;
    uint64_t backoff, backoff_max, open_ms;
    size_t bb;
    if (adcfg_long(h, a, "batch_max", 250, 1, 1000, &bm) < 0
        || adcfg_size(h, a, "batch_bytes", 4u << 20, &bb) < 0
        || adcfg_long(h, a, "max_in_flight", 4, 1, 64, &mif) < 0
        || adcfg_duration_ms(h, a, "timeout", 30000, &self->timeout_ms) < 0
        || adcfg_duration_ms(h, a, "connect_timeout", 10000, &self->connect_timeout_ms) < 0
        || adcfg_duration_ms(h, a, "backoff", 500, &backoff) < 0
        || adcfg_duration_ms(h, a, "backoff_max", 30000, &backoff_max) < 0
        || adcfg_long(h, a, "breaker_failures", 5, 1, 1000, &thr) < 0
        || adcfg_duration_ms(h, a, "breaker_open", 5000, &open_ms) < 0)
        return -1;
    if (bb < 4096 || bb > (16u << 20))
        return h->setting_error(a, "batch_bytes", "%zu is not a size from 4KiB to 16MiB (NDXP's limit)", bb);
    if (self->timeout_ms < 100)
        return h->setting_error(a, "timeout", "at least 100ms");
    if (backoff < 1 || backoff_max < backoff)
        return h->setting_error(a, "backoff_max", "must be at least backoff");
    self->batch_max = (size_t) bm;
    self->batch_bytes = bb;
    self->max_in_flight = (unsigned) mif;
    breaker_init(&self->br, backoff, backoff_max, (unsigned) thr, open_ms,
                 s_wall_ms() ^ ((uint64_t) getpid() << 32));
    if (!self->url || !self->content_type)
        return h->setting_error(a, "url", "out of memory");
    return 0;
}

/* ---- HTTP ------------------------------------------------------------- */

static size_t s_on_body(char *p, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (x->resp.len + len > MAX_RESPONSE || jws_buf_add(&x->resp, p, len) != 0)
        return 0;   /* fails the transfer: retried */
    return len;
}

static size_t s_on_header(char *p, size_t size, size_t n, void *arg)
{
    xfer_t *x = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        long s = strtol(p + 12, NULL, 10);   /* seconds; an HTTP date is not NDXP's */
        if (s > 0 && s < 86400)
            x->retry_after_ms = (uint64_t) s * 1000;
    }
    return len;
}

static int s_setup_easy(ndxp_t *self, xfer_t *x)
{
    CURL *e = x->easy = curl_easy_init();
    if (!e)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, self->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, self->headers);
    /* Mutual TLS: only the configured CA is trusted (not the system store),
     * the name is checked, the province's certificate is presented. */
    curl_easy_setopt(e, CURLOPT_CAINFO, self->ca);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(e, CURLOPT_SSLCERT, self->cert);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLKEY, self->key);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    if (self->pinned)
        curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, self->pinned);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) self->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    return 0;
}

/* ---- the queue of message indices ------------------------------------ */

static int s_queue_reset(ndxp_t *self, size_t n)
{
    if (n > self->qcap) {
        size_t *q = realloc(self->queue, 2 * n * sizeof *q);
        bool *s = realloc(self->single, n * sizeof *s);
        if (q)
            self->queue = q;
        if (s)
            self->single = s;
        if (!q || !s)
            return -1;
        self->qcap = n;
    }
    /* Twice n slots: requeued messages go before the head. */
    self->qhead = n;
    self->qlen = n;
    for (size_t i = 0; i < n; i++) {
        self->queue[n + i] = i;
        self->single[i] = false;
    }
    return 0;
}

/* A failed request's messages go back to the front, in their order. There
 * is always room: at most n messages are anywhere. */
static void s_requeue(ndxp_t *self, const size_t *idx, size_t n)
{
    if (self->qhead < n) {   /* slide the queue to the end of its space */
        size_t to = 2 * self->qcap - self->qlen;
        memmove(self->queue + to, self->queue + self->qhead, self->qlen * sizeof *self->queue);
        self->qhead = to;
    }
    self->qhead -= n;
    memcpy(self->queue + self->qhead, idx, n * sizeof *idx);
    self->qlen += n;
}

/* ---- figures ---------------------------------------------------------- */

static void s_figures(ndxp_t *self, uint64_t accepted, uint64_t dups, uint64_t rejected, bool failed,
                      const char *failure)
{
    pthread_mutex_lock(&self->mu);
    self->accepted += accepted;
    self->duplicates += dups;
    self->rejected += rejected;
    self->requests++;
    if (failed) {
        self->failures++;
        snprintf(self->last_failure, sizeof self->last_failure, "%.150s", failure);
    }
    pthread_mutex_unlock(&self->mu);
    const lgsp_host_api_t *h = self->host;
    h->count(self->a, "requests", 1);
    if (accepted)
        h->count(self->a, "accepted", accepted);
    if (dups)
        h->count(self->a, "duplicates", dups);
    if (rejected)
        h->count(self->a, "ndxp_rejected", rejected);
    if (failed)
        h->count(self->a, "request_failures", 1);
}

static void s_state(ndxp_t *self)
{
    unsigned busy = 0;
    for (unsigned i = 0; i < self->max_in_flight; i++)
        busy += self->xfers[i].busy;
    pthread_mutex_lock(&self->mu);
    self->in_flight = busy;
    self->state = self->br.state;
    pthread_mutex_unlock(&self->mu);
}

static void s_describe(void *arg, char *buf, size_t len)
{
    ndxp_t *self = arg;
    pthread_mutex_lock(&self->mu);
    snprintf(buf, len, "NDXP %s: breaker %s, %u requests in flight, %" PRIu64 " accepted, %" PRIu64
             " duplicates, %" PRIu64 " rejected, %" PRIu64 " requests (%" PRIu64 " failed%s%s)",
             self->url, breaker_state_name(self->state), self->in_flight, self->accepted, self->duplicates,
             self->rejected, self->requests, self->failures, self->last_failure[0] ? ", last: " : "",
             self->last_failure);
    pthread_mutex_unlock(&self->mu);
}

/* ---- one request ------------------------------------------------------ */

/* The idempotency key: the message's id as first published. A dead letter
 * replayed by `lgsp dlq replay` comes back as "replay:<dlq offset>:<id>"
 * (docs/protocol.md §4), perhaps more than once: NDXP must see the original
 * id, so that a replayed message it already holds is a duplicate. */
static const char *s_key(const char *id)
{
    while (strncmp(id, "replay:", 7) == 0) {
        const char *p = id + 7;
        size_t digits = strspn(p, "0123456789");
        if (!digits || p[digits] != ':' || !p[digits + 1])
            break;
        id = p + digits + 1;
    }
    return id;
}

/* Takes messages from the queue's front into x (up to batch_max and
 * batch_bytes; a message marked single alone), signs them with the time of
 * this attempt and starts the transfer. */
static int s_start(ndxp_t *self, xfer_t *x, const lgsp_message_t *msgs, lgsp_outcome_t *out)
{
    x->n = 0;
    x->body.len = 0;
    x->resp.len = 0;
    x->retry_after_ms = 0;
    if (jws_buf_add(&x->body, "{\"messages\":[", 13) != 0)
        return -1;
    uint64_t now = s_wall_ms();
    size_t bytes = 15;
    while (self->qlen && x->n < self->batch_max) {
        size_t i = self->queue[self->qhead];
        const lgsp_message_t *m = &msgs[i];
        size_t est = 4 * ((m->payload_len + 2) / 3) + BODY_OVERHEAD + strlen(m->id);
        if (x->n && (self->single[i] || self->single[x->idx[0]] || bytes + est > self->batch_bytes))
            break;
        const char *ct = self->content_type;
        char ctbuf[128];
        if (m->headers_len) {
            /* The record's own content type, when the source said. */
            json_t *hj = json_loadb(m->headers, m->headers_len, 0, NULL);
            const char *v = hj ? json_string_value(json_object_get(hj, "lgsp-content-type")) : NULL;
            if (v && *v && strlen(v) < sizeof ctbuf) {
                snprintf(ctbuf, sizeof ctbuf, "%s", v);
                ct = ctbuf;
            }
            json_decref(hj);
        }
        jws_header_t hd = { .message_id = s_key(m->id), .sender = self->sender, .receiver = self->receiver,
                            .message_type = m->topic, .content_type = ct, .time_ms = now };
        char err[256];
        size_t mark = x->body.len;
        if (x->n && jws_buf_add(&x->body, ",", 1) != 0)
            return -1;
        if (jws_append(self->signer, &hd, m->payload, m->payload_len, &x->body, err, sizeof err) != 0) {
            x->body.len = mark;
            /* Cannot become a JWS (an id jansson refuses): never will. */
            self->host->log(self->a, LGSP_LOG_ERROR, "message %s: %s", m->id, err);
            out[i].kind = LGSP_REJECTED;
            snprintf(out[i].reason, sizeof out[i].reason, "ndxp connector: %.200s", err);
            self->qhead++;
            self->qlen--;
            continue;
        }
        x->idx[x->n++] = i;
        bytes += est;
        self->qhead++;
        self->qlen--;
    }
    if (!x->n)
        return 0;
    if (jws_buf_add(&x->body, "]}", 2) != 0)
        return -1;
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body.data);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) x->body.len);
    if (curl_multi_add_handle(self->multi, x->easy) != CURLM_OK)
        return -1;
    x->busy = true;
    x->started_ms = s_mono_ms();
    breaker_sent(&self->br);
    return 1;
}

/* The request failed as a whole and may succeed later: back to the queue,
 * the breaker counts it. */
static void s_failed(ndxp_t *self, xfer_t *x, const char *why)
{
    uint64_t d = breaker_failure(&self->br, s_mono_ms(), x->retry_after_ms);
    s_requeue(self, x->idx, x->n);
    s_figures(self, 0, 0, 0, true, why);
    /* One warning when failures start and one line per breaker opening;
     * the rest at debug level (an outage would flood the log). */
    if (!self->failing || (self->br.state == BR_OPEN && self->br.failures == self->br.threshold))
        self->host->log(self->a, LGSP_LOG_WARN, "%zu messages not delivered: %s; retrying in %" PRIu64
                        " ms (breaker %s)", x->n, why, d, breaker_state_name(self->br.state));
    else
        self->host->log(self->a, LGSP_LOG_DEBUG, "%zu messages: %s; retry in %" PRIu64 " ms", x->n, why, d);
    self->failing = true;
}

/* A configuration problem NDXP or TLS reports: an error line (shown in
 * /health), retried like an outage, since nothing is wrong with the data. */
static void s_config_failure(ndxp_t *self, xfer_t *x, const char *why)
{
    if (!self->failing)
        self->host->log(self->a, LGSP_LOG_ERROR, "NDXP refuses the connector: %s (check the certificates "
                        "and the settings; messages are kept and retried)", why);
    s_failed(self, x, why);
}

/* A 200: one result per message, in order. Returns how many were decided,
 * or -1 if the answer is not NDXP's (then nothing is). */
static long s_results(ndxp_t *self, xfer_t *x, const lgsp_message_t *msgs, lgsp_outcome_t *out,
                      char *why, size_t whylen)
{
    json_error_t je;
    json_t *j = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, &je);
    json_t *res = json_object_get(j, "results");
    if (!json_is_array(res) || json_array_size(res) != x->n) {
        snprintf(why, whylen, "answer 200 without %zu results (%s)", x->n, j ? "wrong count" : je.text);
        json_decref(j);
        return -1;
    }
    for (size_t k = 0; k < x->n; k++) {
        json_t *r = json_array_get(res, k);
        const char *id = json_string_value(json_object_get(r, "message_id"));
        const char *st = json_string_value(json_object_get(r, "status"));
        if (!id || strcmp(id, s_key(msgs[x->idx[k]].id)) != 0 || !st
            || (strcmp(st, "accepted") && strcmp(st, "duplicate") && strcmp(st, "rejected"))) {
            snprintf(why, whylen, "answer 200 with result %zu not for its message", k);
            json_decref(j);
            return -1;
        }
    }
    uint64_t acc = 0, dup = 0, rej = 0;
    for (size_t k = 0; k < x->n; k++) {
        json_t *r = json_array_get(res, k);
        const char *st = json_string_value(json_object_get(r, "status"));
        lgsp_outcome_t *o = &out[x->idx[k]];
        if (strcmp(st, "rejected") == 0) {
            const char *reason = json_string_value(json_object_get(r, "reason"));
            o->kind = LGSP_REJECTED;
            snprintf(o->reason, sizeof o->reason, "NDXP rejected: %" JSON_INTEGER_FORMAT " %s",
                     json_integer_value(json_object_get(r, "code")), reason ? reason : "");
            rej++;
            self->host->log(self->a, LGSP_LOG_WARN, "message %s rejected by NDXP: %s", msgs[x->idx[k]].id,
                            o->reason);
        } else {
            o->kind = LGSP_DELIVERED;
            o->reason[0] = 0;
            if (*st == 'a')
                acc++;
            else
                dup++;
        }
    }
    json_decref(j);
    s_figures(self, acc, dup, rej, false, NULL);
    return (long) x->n;
}

/* A request ended: decide its messages or put them back. Returns how many
 * were decided. */
static size_t s_finish(ndxp_t *self, xfer_t *x, CURLcode cc, const lgsp_message_t *msgs, lgsp_outcome_t *out)
{
    curl_multi_remove_handle(self->multi, x->easy);
    x->busy = false;
    char why[300];
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t conn_us = 0, total_us = 0;
    curl_easy_getinfo(x->easy, CURLINFO_APPCONNECT_TIME_T, &conn_us);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    self->host->log(self->a, LGSP_LOG_DEBUG, "request of %zu messages (%zu bytes): %s %ld in %" PRIu64
                    " ms (TLS set-up %" PRIu64 " ms, %" PRIu64 " ms since started)", x->n, x->body.len,
                    cc == CURLE_OK ? "HTTP" : curl_easy_strerror(cc), status, (uint64_t) total_us / 1000,
                    (uint64_t) conn_us / 1000, s_mono_ms() - x->started_ms);
    if (cc != CURLE_OK) {
        snprintf(why, sizeof why, "%s", curl_easy_strerror(cc));
        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE
            || cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
            s_config_failure(self, x, why);
        else
            s_failed(self, x, why);
        return 0;
    }
    /* The body of a refusal, cut short, for the reason. */
    char body[160] = "";
    if (x->resp.len)
        snprintf(body, sizeof body, "%.*s", (int) (x->resp.len < 150 ? x->resp.len : 150), x->resp.data);
    for (char *p = body; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (status == 200) {
        long r = s_results(self, x, msgs, out, why, sizeof why);
        if (r < 0) {
            s_failed(self, x, why);
            return 0;
        }
        breaker_success(&self->br);
        if (self->failing)
            self->host->log(self->a, LGSP_LOG_INFO, "NDXP answers again");
        self->failing = false;
        return (size_t) r;
    }
    if (status == 400) {
        breaker_success(&self->br);   /* NDXP is there; the request is at fault */
        s_figures(self, 0, 0, x->n == 1, false, NULL);
        if (x->n > 1) {
            /* One bad message must not take the batch with it: one by one. */
            for (size_t k = 0; k < x->n; k++)
                self->single[x->idx[k]] = true;
            s_requeue(self, x->idx, x->n);
            self->host->log(self->a, LGSP_LOG_WARN, "NDXP refused a batch of %zu (400 %s): sending them "
                            "one by one", x->n, body);
            return 0;
        }
        lgsp_outcome_t *o = &out[x->idx[0]];
        o->kind = LGSP_REJECTED;
        snprintf(o->reason, sizeof o->reason, "NDXP refused the request: 400 %s", body);
        self->host->log(self->a, LGSP_LOG_WARN, "message %s refused by NDXP: 400 %s", msgs[x->idx[0]].id, body);
        return 1;
    }
    snprintf(why, sizeof why, "HTTP %ld %s", status, body);
    if (status == 429 || status >= 500)
        s_failed(self, x, why);
    else   /* 401, 403 (client certificate), 404, 405...: not the data's fault */
        s_config_failure(self, x, why);
    return 0;
}

/* ---- deliver ---------------------------------------------------------- */

static int s_deliver(void *arg, lgsp_adapter_t *a, const lgsp_message_t *msgs, size_t n, lgsp_outcome_t *out)
{
    ndxp_t *self = arg;
    const lgsp_host_api_t *h = self->host;
    if (s_queue_reset(self, n) != 0)
        return -1;
    for (unsigned k = 0; k < self->max_in_flight; k++) {
        xfer_t *x = &self->xfers[k];
        if (!x->idx && !(x->idx = malloc(self->batch_max * sizeof *x->idx)))
            return -1;
        if (!x->easy && s_setup_easy(self, x) != 0)
            return -1;
    }
    size_t left = n, busy = 0;
    int rc = 0;
    while (left) {
        if (h->stopping(a))
            break;
        uint64_t now = s_mono_ms();
        for (unsigned k = 0; k < self->max_in_flight && self->qlen; k++) {
            xfer_t *x = &self->xfers[k];
            if (x->busy || !breaker_may_send(&self->br, now))
                continue;
            size_t before = self->qlen;
            int r = s_start(self, x, msgs, out);
            if (r < 0) {
                h->log(a, LGSP_LOG_ERROR, "out of memory building a request");
                rc = -1;
                goto stop;
            }
            left -= before - self->qlen - x->n;   /* messages that cannot become a JWS */
            busy += (size_t) r;
            /* On the wire at once, while the next request is being signed. */
            int running = 0;
            if (r > 0)
                curl_multi_perform(self->multi, &running);
        }
        s_state(self);
        if (busy) {
            int running = 0;
            curl_multi_perform(self->multi, &running);
            CURLMsg *cm;
            int q;
            while ((cm = curl_multi_info_read(self->multi, &q))) {
                if (cm->msg != CURLMSG_DONE)
                    continue;
                xfer_t *x = NULL;
                curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, (char **) &x);
                CURLcode cc = cm->data.result;
                left -= s_finish(self, x, cc, msgs, out);
                busy--;
            }
            if (busy)
                curl_multi_poll(self->multi, NULL, 0, 100, NULL);
            /* Keeps the bus session and the messages in hand alive. */
            if (!h->wait(a, 0))
                break;
        } else if (left) {
            uint64_t w = breaker_wait(&self->br, now);
            if (!h->wait(a, w > 200 ? 200 : w ? w : 1))
                break;
        }
    }
stop:
    /* Stopping (or out of memory): what is still out stays undecided and
     * comes again; NDXP's idempotency makes a stored one a duplicate. */
    for (unsigned k = 0; k < self->max_in_flight; k++)
        if (self->xfers[k].busy) {
            curl_multi_remove_handle(self->multi, self->xfers[k].easy);
            self->xfers[k].busy = false;
        }
    s_state(self);
    return rc;
}

/* ---- life ------------------------------------------------------------- */

static void s_cleanup(void *arg, lgsp_adapter_t *a)
{
    ndxp_t *self = arg;
    if (!self)
        return;
    for (unsigned k = 0; self->xfers && k < self->max_in_flight; k++) {
        xfer_t *x = &self->xfers[k];
        if (x->easy) {
            if (x->busy)
                curl_multi_remove_handle(self->multi, x->easy);
            curl_easy_cleanup(x->easy);
        }
        jws_buf_free(&x->body);
        jws_buf_free(&x->resp);
        free(x->idx);
    }
    free(self->xfers);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    curl_slist_free_all(self->headers);
    jws_signer_destroy(&self->signer);
    free(self->queue);
    free(self->single);
    free(self->url);
    free(self->ca);
    free(self->cert);
    free(self->key);
    free(self->pinned);
    free(self->sender);
    free(self->receiver);
    free(self->content_type);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= 1 && 1 <= host_max ? 1 : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **out)
{
    /* init() calls never overlap (adapter.h): libcurl's global set-up. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ndxp_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->host = host;
    self->a = a;
    pthread_mutex_init(&self->mu, NULL);
    if (s_settings(self) < 0) {
        s_cleanup(self, a);
        return LGSP_AE_INVALID;
    }
    self->xfers = calloc(self->max_in_flight, sizeof *self->xfers);
    self->multi = curl_multi_init();
    self->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (self->headers)
        self->headers = curl_slist_append(self->headers, "Expect:");   /* no 100-continue round trip */
    if (!self->xfers || !self->multi || !self->headers) {
        s_cleanup(self, a);
        return LGSP_AE_NOMEM;
    }
    /* Requests in flight at once, on at most as many kept-alive connections. */
    curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) self->max_in_flight);
    curl_multi_setopt(self->multi, CURLMOPT_MAXCONNECTS, (long) self->max_in_flight);
    host->log(a, LGSP_LOG_INFO, "forwarding %s to %s as %s (key id %s), batches of %zu, %u in flight",
              host->topic(a), self->url, self->sender, jws_signer_kid(self->signer), self->batch_max,
              self->max_in_flight);
    info->plugin = "ndxp";
    info->version = "1.0";
    info->kind = LGSP_ADAPTER_SINK;
    /* At least once on the wire; exactly once at NDXP by its idempotency key. */
    info->guarantee = LGSP_AT_LEAST_ONCE;
    info->deliver = s_deliver;
    info->cleanup = s_cleanup;
    info->describe = s_describe;
    *out = self;
    return 0;
}
