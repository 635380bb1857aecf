/* httpfetch.h — HTTP requests for pull adapters (libcurl), shared by the
 * http-json and soap-xml plugins.
 *
 * One httpfetch_t owns one libcurl easy handle, kept across requests so the
 * connection to the source stays open (keep-alive). A request is retried
 * with exponential backoff and jitter when the answer is a 5xx, 408 or 429,
 * or the transfer failed in a way a later try may not (connection refused
 * or reset, timeout, empty answer = curl 52, body cut short = curl 18).
 * Retry-After is honoured. Every attempt first takes a token from a token
 * bucket (rate limit in requests/s). All sleeps go through host->wait(), so
 * an adapter that lgspd stops returns at once (HTTPFETCH_STOPPING), and a
 * transfer in progress is aborted too.
 *
 * The response body lands in a buffer owned by the httpfetch_t (NUL-
 * terminated, capped at max_body bytes); it stays valid until the next
 * request. Not thread-safe: one httpfetch_t per adapter thread. */
#ifndef ADAPTERS_COMMON_HTTPFETCH_H
#define ADAPTERS_COMMON_HTTPFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lgsp/adapter.h>

typedef struct httpfetch httpfetch_t;

/* Answers of httpfetch_get/post (negative = failed). */
enum {
    HTTPFETCH_OK       = 0,    /* a 2xx answer (or one classify() accepted) */
    HTTPFETCH_FAILED   = -1,   /* no usable answer after the retries: see httpfetch_error() */
    HTTPFETCH_STOPPING = -3,   /* the host is stopping the adapter (== LGSP_AE_STOPPING) */
};

/* What classify() decides about one answer. */
typedef enum {
    HTTPFETCH_DEFAULT = 0,     /* as without a classifier: 2xx ok, 5xx/408/429 retry, else fail */
    HTTPFETCH_ACCEPT  = 1,     /* hand the answer to the caller as it is (HTTPFETCH_OK) */
    HTTPFETCH_RETRY   = 2,     /* transient: try again after a backoff */
    HTTPFETCH_FAIL    = 3,     /* permanent: stop trying (HTTPFETCH_FAILED, body kept) */
} httpfetch_verdict_t;

/* Lets a protocol look at an answer before the retry rule is applied, e.g.
 * SOAP, where a soap:Client fault and a soap:Server fault both come as
 * HTTP 500 and only the second is worth another try. */
typedef httpfetch_verdict_t (*httpfetch_classify_fn)(void *arg, long status,
                                                     const char *body, size_t len);

typedef struct {
    uint64_t timeout_ms;          /* whole transfer, per attempt (default 30 s) */
    uint64_t connect_timeout_ms;  /* default 10 s */
    unsigned retries;             /* tries after the first (default 3) */
    uint64_t backoff_ms;          /* first backoff (default 500 ms), doubled each time */
    uint64_t backoff_max_ms;      /* ceiling of one backoff (default 30 s) */
    uint64_t retry_after_max_ms;  /* ceiling of an honoured Retry-After (default 120 s) */
    double   rate;                /* requests/s, 0 = unlimited (default 0) */
    double   burst;               /* bucket size (default max(1, rate)) */
    size_t   max_body;            /* largest body accepted (default 64 MiB) */
    const char *user_agent;       /* default "lgsp-adapter/<plugin>" is the caller's job; NULL = libcurl's none */
    httpfetch_classify_fn classify;   /* optional */
    void    *classify_arg;
} httpfetch_opts_t;

/* Fills opts with the defaults above. */
void httpfetch_opts_default(httpfetch_opts_t *opts);

/* A fetcher for adapter a; host and a are borrowed for its life, opts is
 * copied (user_agent too). Returns NULL when libcurl cannot start. */
httpfetch_t *httpfetch_new(const lgsp_host_api_t *host, lgsp_adapter_t *a,
                           const httpfetch_opts_t *opts);
void httpfetch_destroy(httpfetch_t **self_p);

/* GET url, or POST body to it. headers: NULL-terminated array of
 * "Name: value" lines (or NULL). Returns HTTPFETCH_OK, HTTPFETCH_FAILED or
 * HTTPFETCH_STOPPING. After any return, status/body/attempts describe the
 * last attempt. */
int httpfetch_get(httpfetch_t *self, const char *url, const char *const *headers);
int httpfetch_post(httpfetch_t *self, const char *url, const char *const *headers,
                   const void *body, size_t len);

/* The last answer: HTTP status (0 when there was none), body (borrowed
 * until the next request; "" when none), attempts made, and the error text
 * of a failure ("GET http://...: HTTP 503 after 4 attempts"). */
long        httpfetch_status(const httpfetch_t *self);
const char *httpfetch_body(const httpfetch_t *self, size_t *len);
unsigned    httpfetch_attempts(const httpfetch_t *self);
const char *httpfetch_error(const httpfetch_t *self);

/* Total retries since creation (also counted in the host's metrics as
 * lgsp_adapter_http_retries_total). */
uint64_t    httpfetch_retries(const httpfetch_t *self);

/* Appends "name=value" to url with value percent-encoded (RFC 3986
 * unreserved characters kept), after '?' or '&' as url needs. Returns a new
 * string (caller frees) or NULL on allocation failure. */
char *httpfetch_url_add(const char *url, const char *name, const char *value);

#endif
