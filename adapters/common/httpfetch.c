/* httpfetch.c — HTTP requests with keep-alive, retries, backoff, rate limit
 * and a capped body buffer, for pull adapters (see httpfetch.h). */
#include "httpfetch.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct httpfetch {
    const lgsp_host_api_t *host;
    lgsp_adapter_t        *a;
    httpfetch_opts_t       opts;
    char                  *user_agent;
    CURL                  *curl;
    char                   curl_err[CURL_ERROR_SIZE];

    char    *body;                 /* the last answer, NUL-terminated */
    size_t   body_len, body_cap;
    bool     overflow;             /* the answer passed max_body */

    long     status;
    unsigned attempts;
    uint64_t retries_total;
    char     error[1024];

    double   tokens;               /* token bucket */
    uint64_t refill_us;
    uint64_t prng;                 /* jitter */
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

/* libcurl >= 7.84 makes curl_global_init thread-safe, but lgspd may start
 * several adapters at once: one call per process is enough anyway. */
static void s_curl_global(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: jitter only needs to spread clients apart, not be secret. */
static uint64_t s_rand(httpfetch_t *self)
{
    uint64_t x = self->prng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->prng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void httpfetch_opts_default(httpfetch_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->timeout_ms = 30000;
    opts->connect_timeout_ms = 10000;
    opts->retries = 3;
    opts->backoff_ms = 500;
    opts->backoff_max_ms = 30000;
    opts->retry_after_max_ms = 120000;
    opts->rate = 0;
    opts->burst = 0;
    opts->max_body = (size_t)64 << 20;
}

static size_t s_on_data(char *p, size_t sz, size_t n, void *arg)
{
    httpfetch_t *self = arg;
    size_t len = sz * n;
    if (len > self->opts.max_body - self->body_len) {
        self->overflow = true;
        return 0;                  /* curl stops with CURLE_WRITE_ERROR */
    }
    if (self->body_len + len + 1 > self->body_cap) {
        size_t cap = self->body_cap ? self->body_cap : 65536;
        while (cap < self->body_len + len + 1)
            cap *= 2;
        char *b = realloc(self->body, cap);
        if (!b)
            return 0;
        self->body = b;
        self->body_cap = cap;
    }
    memcpy(self->body + self->body_len, p, len);
    self->body_len += len;
    self->body[self->body_len] = '\0';
    return len;
}

/* Called by libcurl about once a second and on every chunk: aborts the
 * transfer when lgspd stops the adapter, so a slow source cannot hold it. */
static int s_on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    httpfetch_t *self = arg;
    return self->host->stopping(self->a) ? 1 : 0;
}

httpfetch_t *httpfetch_new(const lgsp_host_api_t *host, lgsp_adapter_t *a,
                           const httpfetch_opts_t *opts)
{
    pthread_once(&s_curl_once, s_curl_global);
    httpfetch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->host = host;
    self->a = a;
    if (opts)
        self->opts = *opts;
    else
        httpfetch_opts_default(&self->opts);
    if (self->opts.max_body == 0)
        self->opts.max_body = (size_t)64 << 20;
    if (self->opts.burst < 1)
        self->opts.burst = self->opts.rate > 1 ? self->opts.rate : 1;
    self->tokens = self->opts.burst;
    self->refill_us = s_now_us();
    self->prng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)self ^ 0x9E3779B97F4A7C15ULL;
    if (self->opts.user_agent) {
        self->user_agent = strdup(self->opts.user_agent);
        self->opts.user_agent = self->user_agent;
    }
    self->body = malloc(1);
    self->curl = curl_easy_init();
    if (!self->curl || !self->body || (self->opts.user_agent && !self->user_agent)) {
        httpfetch_destroy(&self);
        return NULL;
    }
    self->body[0] = '\0';
    self->body_cap = 1;
    CURL *c = self->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);            /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, self->curl_err);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)self->opts.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)self->opts.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");     /* whatever libcurl can decode */
#if LIBCURL_VERSION_NUM >= 0x075500                      /* 7.85: CURLOPT_PROTOCOLS deprecated */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (self->opts.user_agent)
        curl_easy_setopt(c, CURLOPT_USERAGENT, self->opts.user_agent);
    return self;
}

void httpfetch_destroy(httpfetch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    httpfetch_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    free(self->body);
    free(self->user_agent);
    free(self);
    *self_p = NULL;
}

/* Takes one token from the bucket, waiting for it if need be. false = the
 * adapter is stopping. */
static bool s_take_token(httpfetch_t *self)
{
    if (self->opts.rate <= 0)
        return true;
    for (;;) {
        uint64_t now = s_now_us();
        self->tokens += (double)(now - self->refill_us) / 1e6 * self->opts.rate;
        if (self->tokens > self->opts.burst)
            self->tokens = self->opts.burst;
        self->refill_us = now;
        if (self->tokens >= 1) {
            self->tokens -= 1;
            return true;
        }
        uint64_t ms = (uint64_t)((1 - self->tokens) / self->opts.rate * 1000.0) + 1;
        if (!self->host->wait(self->a, ms))
            return false;
    }
}

/* Transfer failures that another try may get past. */
static bool s_curl_transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:       /* 18: the body was cut short */
    case CURLE_GOT_NOTHING:        /* 52: closed without an answer */
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/* Copies up to 200 bytes of an error body for the error text, printable
 * ASCII only (an error body is the source's words, never a record). */
static void s_snippet(const char *body, size_t len, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 4 < cap && i < 200; i++) {
        unsigned char ch = (unsigned char)body[i];
        out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
    }
    if (len > 200 && j + 4 < cap) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

static int s_request(httpfetch_t *self, const char *method, const char *url,
                     const char *const *headers, const void *body, size_t len)
{
    CURL *c = self->curl;
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(hl, headers[i]);
        if (!n) {
            curl_slist_free_all(hl);
            snprintf(self->error, sizeof self->error, "%s %s: out of memory", method, url);
            return HTTPFETCH_FAILED;
        }
        hl = n;
    }
    bool post = body != NULL;
    if (post) {
        /* No "Expect: 100-continue" round trip for large requests. */
        struct curl_slist *n = curl_slist_append(hl, "Expect:");
        if (n)
            hl = n;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }

    unsigned max = self->opts.retries + 1;
    int result = HTTPFETCH_FAILED;
    self->error[0] = '\0';
    for (unsigned attempt = 1; attempt <= max; attempt++) {
        if (self->host->stopping(self->a) || !s_take_token(self)) {
            result = HTTPFETCH_STOPPING;
            break;
        }
        self->body_len = 0;
        self->body[0] = '\0';
        self->overflow = false;
        self->status = 0;
        self->curl_err[0] = '\0';
        self->attempts = attempt;
        CURLcode rc = curl_easy_perform(c);
        self->host->count(self->a, "http_requests", 1);

        char what[512];
        httpfetch_verdict_t v;
        if (rc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &self->status);
            v = self->opts.classify
                    ? self->opts.classify(self->opts.classify_arg, self->status, self->body,
                                          self->body_len)
                    : HTTPFETCH_DEFAULT;
            if (v == HTTPFETCH_DEFAULT) {
                if (self->status >= 200 && self->status < 300)
                    v = HTTPFETCH_ACCEPT;
                else if (self->status >= 500 || self->status == 408 || self->status == 429)
                    v = HTTPFETCH_RETRY;
                else
                    v = HTTPFETCH_FAIL;
            }
            snprintf(what, sizeof what, "HTTP %ld", self->status);
        } else if (rc == CURLE_ABORTED_BY_CALLBACK && self->host->stopping(self->a)) {
            result = HTTPFETCH_STOPPING;
            break;
        } else if (self->overflow) {
            v = HTTPFETCH_FAIL;
            snprintf(what, sizeof what, "answer larger than %zu bytes", self->opts.max_body);
        } else {
            v = s_curl_transient(rc) ? HTTPFETCH_RETRY : HTTPFETCH_FAIL;
            snprintf(what, sizeof what, "%s (curl %d)",
                     self->curl_err[0] ? self->curl_err : curl_easy_strerror(rc), (int)rc);
        }
        if (v == HTTPFETCH_ACCEPT) {
            result = HTTPFETCH_OK;
            break;
        }
        if (v == HTTPFETCH_FAIL || attempt == max) {
            char tail[256] = "";
            if (rc == CURLE_OK && self->body_len) {
                char snip[240];
                s_snippet(self->body, self->body_len, snip, sizeof snip);
                snprintf(tail, sizeof tail, ": %s", snip);
            }
            if (attempt > 1)
                snprintf(self->error, sizeof self->error, "%s %s: %s after %u attempts%s",
                         method, url, what, attempt, tail);
            else
                snprintf(self->error, sizeof self->error, "%s %s: %s%s", method, url, what, tail);
            break;
        }

        /* Backoff: base * 2^(attempt-1), capped, then "equal jitter" (half
         * fixed, half random) so clients that failed together spread out. */
        uint64_t delay = self->opts.backoff_ms;
        for (unsigned i = 1; i < attempt && delay < self->opts.backoff_max_ms; i++)
            delay *= 2;
        if (delay > self->opts.backoff_max_ms)
            delay = self->opts.backoff_max_ms;
        delay = delay / 2 + (delay / 2 ? s_rand(self) % (delay / 2 + 1) : 0);
        curl_off_t ra = 0;
        if (rc == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
            uint64_t ra_ms = (uint64_t)ra * 1000;
            if (ra_ms > self->opts.retry_after_max_ms)
                ra_ms = self->opts.retry_after_max_ms;
            if (ra_ms > delay)
                delay = ra_ms;
        }
        self->retries_total++;
        self->host->count(self->a, "http_retries", 1);
        self->host->log(self->a, LGSP_LOG_WARN, "%s %s: %s; retry %u of %u in %llu ms%s",
                        method, url, what, attempt, max - 1, (unsigned long long)delay,
                        ra > 0 ? " (Retry-After)" : "");
        if (!self->host->wait(self->a, delay)) {
            result = HTTPFETCH_STOPPING;
            break;
        }
    }
    if (result == HTTPFETCH_STOPPING)
        snprintf(self->error, sizeof self->error, "%s %s: stopped", method, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    return result;
}

int httpfetch_get(httpfetch_t *self, const char *url, const char *const *headers)
{
    return s_request(self, "GET", url, headers, NULL, 0);
}

int httpfetch_post(httpfetch_t *self, const char *url, const char *const *headers,
                   const void *body, size_t len)
{
    return s_request(self, "POST", url, headers, body ? body : "", len);
}

long httpfetch_status(const httpfetch_t *self)
{
    return self->status;
}

const char *httpfetch_body(const httpfetch_t *self, size_t *len)
{
    if (len)
        *len = self->body_len;
    return self->body;
}

unsigned httpfetch_attempts(const httpfetch_t *self)
{
    return self->attempts;
}

const char *httpfetch_error(const httpfetch_t *self)
{
    return self->error;
}

uint64_t httpfetch_retries(const httpfetch_t *self)
{
    return self->retries_total;
}

char *httpfetch_url_add(const char *url, const char *name, const char *value)
{
#if LIBCURL_VERSION_NUM >= 0x075200                      /* 7.82: escaping needs no handle */
    char *enc = curl_easy_escape(NULL, value, 0);
#else
    CURL *h = curl_easy_init();
    char *enc = h ? curl_easy_escape(h, value, 0) : NULL;
    if (h)
        curl_easy_cleanup(h);
#endif
    if (!enc)
        return NULL;
    char *out = NULL;
    const char *sep = strchr(url, '?') ? (url[strlen(url) - 1] == '?' || url[strlen(url) - 1] == '&'
                                               ? "" : "&")
                                       : "?";
    if (asprintf(&out, "%s%s%s=%s", url, sep, name, enc) < 0)
        out = NULL;
    curl_free(enc);
    return out;
}
