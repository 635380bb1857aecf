/* test-ingress.c — the webhook plugin against an in-memory host (a fake
 * lgsp_host_api_t that de-duplicates by message id as the journal does and
 * can be told to refuse commits): HTTP requests with libcurl for every
 * answer of the ingress (202, duplicate, 400 + quarantine, 401, 403, 404,
 * 405, 413, 503), concurrent pushes, TLS with client certificates (throw-
 * away certificates made with the openssl tool), the settings' refusals,
 * and the backfill against a small paged server run here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webhook.h"

/* ---- the fake host ----------------------------------------------------------- */

typedef struct {
    char  *id, *key, *headers, *payload;
    size_t len;
    bool   quarantine;
} f_msg_t;

struct lgsp_batch {
    f_msg_t *m;
    size_t   n;
};

static struct {
    pthread_mutex_t mu;
    json_t  *settings;
    char    *settings_text;
    char     error[512];
    f_msg_t *m;               /* stored, in order */
    size_t   n;
    char    *state;
    size_t   state_len;
    int      fail_commits;    /* > 0: refuse this many commits */
    unsigned commits;
} F = { .mu = PTHREAD_MUTEX_INITIALIZER };

static __thread char f_last_error[256];

static const char *f_name(lgsp_adapter_t *a) { return "dn-civil"; }
static const char *f_topic(lgsp_adapter_t *a) { return "raw.dn-civil"; }

static void f_log(lgsp_adapter_t *a, int level, const char *fmt, ...)
{
    if (level > LGSP_LOG_INFO && !getenv("WH_TEST_DEBUG"))
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[webhook %d] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *f_setting(lgsp_adapter_t *a, const char *path)
{
    return json_string_value(wh_json_path(F.settings, path));
}

static const char *f_setting_json(lgsp_adapter_t *a) { return F.settings_text; }

static int f_setting_error(lgsp_adapter_t *a, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(F.error, sizeof F.error, "setting %s: ", path);
    vsnprintf(F.error + n, sizeof F.error - (size_t)n, fmt, ap);
    va_end(ap);
    return LGSP_AE_INVALID;
}

static int f_state_get(lgsp_adapter_t *a, void **state, size_t *len)
{
    pthread_mutex_lock(&F.mu);
    *state = NULL;
    *len = 0;
    if (F.state) {
        *state = malloc(F.state_len);
        memcpy(*state, F.state, F.state_len);
        *len = F.state_len;
    }
    pthread_mutex_unlock(&F.mu);
    return 0;
}

static void f_free(void *p) { free(p); }

static lgsp_batch_t *f_batch_new(lgsp_adapter_t *a) { return calloc(1, sizeof(lgsp_batch_t)); }

static void f_push(lgsp_batch_t *b, f_msg_t m)
{
    b->m = realloc(b->m, (b->n + 1) * sizeof *b->m);
    b->m[b->n++] = m;
}

static char *f_memdup(const void *p, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static int f_batch_add(lgsp_batch_t *b, const lgsp_record_t *r)
{
    if (b->n >= 1000)
        return LGSP_AE_TOO_BIG;
    json_t *h = json_object();
    json_object_set_new(h, "lgsp-source-id", json_string(r->source_id));
    json_object_set_new(h, "lgsp-content-type", json_string(r->content_type));
    json_object_set_new(h, "lgsp-position", json_string(r->position ? r->position : ""));
    for (const char *const *p = r->headers; p && p[0]; p += 2)
        json_object_set_new(h, p[0], json_string(p[1]));
    f_msg_t m = { .id = strdup(r->id ? r->id : r->source_id), .key = strdup(r->source_id),
                  .headers = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS),
                  .payload = f_memdup(r->payload, r->payload_len), .len = r->payload_len };
    json_decref(h);
    f_push(b, m);
    return 0;
}

static int f_batch_quarantine(lgsp_batch_t *b, const char *position, const char *reason,
                              const void *original, size_t len)
{
    json_t *h = json_pack("{s:s,s:s}", "lgsp-position", position, "lgsp-reason", reason);
    f_msg_t m = { .id = strdup("q"), .key = strdup(position),
                  .headers = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS),
                  .payload = f_memdup(original, len), .len = len, .quarantine = true };
    json_decref(h);
    f_push(b, m);
    return 0;
}

static size_t f_batch_count(const lgsp_batch_t *b) { return b->n; }

static void f_msg_free(f_msg_t *m)
{
    free(m->id);
    free(m->key);
    free(m->headers);
    free(m->payload);
}

static void f_batch_discard(lgsp_batch_t *b)
{
    for (size_t i = 0; b && i < b->n; i++)
        f_msg_free(&b->m[i]);
    if (b)
        free(b->m);
    free(b);
}

static bool f_stored(const char *id)
{
    for (size_t i = 0; i < F.n; i++)
        if (!F.m[i].quarantine && !strcmp(F.m[i].id, id))
            return true;
    return false;
}

static int f_batch_commit(lgsp_batch_t *b, const void *state, size_t state_len,
                          lgsp_commit_result_t *res)
{
    usleep(200);     /* an fsync */
    pthread_mutex_lock(&F.mu);
    F.commits++;
    if (F.fail_commits > 0) {
        F.fail_commits--;
        pthread_mutex_unlock(&F.mu);
        snprintf(f_last_error, sizeof f_last_error, "journal full (test)");
        f_batch_discard(b);
        return LGSP_AE_JOURNAL;
    }
    res->stored = res->duplicates = res->quarantined = 0;
    for (size_t i = 0; i < b->n; i++) {
        f_msg_t *m = &b->m[i];
        if (!m->quarantine && f_stored(m->id)) {
            res->duplicates++;
            f_msg_free(m);
            continue;
        }
        if (m->quarantine)
            res->quarantined++;
        else
            res->stored++;
        F.m = realloc(F.m, (F.n + 1) * sizeof *F.m);
        F.m[F.n++] = *m;
    }
    if (state) {
        free(F.state);
        F.state = f_memdup(state, state_len);
        F.state_len = state_len;
    }
    pthread_mutex_unlock(&F.mu);
    free(b->m);
    free(b);
    return 0;
}

static bool f_wait(lgsp_adapter_t *a, uint64_t ms)
{
    usleep((useconds_t)(ms > 50 ? 50 : ms) * 1000);   /* the tests do not wait for real */
    return true;
}

static bool f_stopping(lgsp_adapter_t *a) { return false; }
static void f_count(lgsp_adapter_t *a, const char *name, uint64_t n) {}
static const char *f_last(lgsp_adapter_t *a) { return f_last_error; }
static const char *f_work_dir(lgsp_adapter_t *a) { return "/tmp"; }

static const lgsp_host_api_t f_api = {
    .size = sizeof f_api, .abi_version = 1, .name = f_name, .topic = f_topic, .log = f_log,
    .setting = f_setting, .setting_json = f_setting_json, .setting_error = f_setting_error,
    .state_get = f_state_get, .free_mem = f_free, .batch_new = f_batch_new,
    .batch_add = f_batch_add, .batch_quarantine = f_batch_quarantine,
    .batch_count = f_batch_count, .batch_commit = f_batch_commit,
    .batch_discard = f_batch_discard, .wait = f_wait, .stopping = f_stopping, .count = f_count,
    .last_error = f_last, .work_dir = f_work_dir,
};

static void f_reset(void)
{
    pthread_mutex_lock(&F.mu);
    for (size_t i = 0; i < F.n; i++)
        f_msg_free(&F.m[i]);
    free(F.m);
    F.m = NULL;
    F.n = 0;
    free(F.state);
    F.state = NULL;
    F.state_len = 0;
    F.fail_commits = 0;
    F.commits = 0;
    F.error[0] = '\0';
    pthread_mutex_unlock(&F.mu);
}

static size_t f_count_msgs(bool quarantine)
{
    pthread_mutex_lock(&F.mu);
    size_t n = 0;
    for (size_t i = 0; i < F.n; i++)
        n += F.m[i].quarantine == quarantine;
    pthread_mutex_unlock(&F.mu);
    return n;
}

static lgsp_adapter_info_t f_info;     /* the callbacks (the same for every instance) */

/* Starts the plugin with settings (JSON text). Returns self or NULL
 * (F.error says why). */
static webhook_t *f_start(const char *settings)
{
    json_decref(F.settings);
    free(F.settings_text);
    F.settings = json_loads(settings, 0, NULL);
    assert_non_null(F.settings);
    F.settings_text = strdup(settings);
    lgsp_adapter_info_t info = { .size = sizeof info };
    void *self = NULL;
    if (lgsp_adapter_init(NULL, &f_api, &info, &self) < 0)
        return NULL;
    f_info = info;
    assert_string_equal(info.plugin, "webhook");
    assert_int_equal(info.kind, LGSP_ADAPTER_SOURCE);
    if (info.start(self, NULL) < 0) {
        info.cleanup(self, NULL);
        snprintf(F.error, sizeof F.error, "start failed");
        return NULL;
    }
    return self;
}

static void f_stop(webhook_t **self)
{
    f_info.stop(*self, NULL);
    f_info.cleanup(*self, NULL);
    *self = NULL;
}

/* ---- an HTTP client -------------------------------------------------------------- */

typedef struct {
    long  status;
    char  body[2048];
    size_t len;
    char  retry_after[32];
    CURLcode rc;
} f_resp_t;

static size_t f_write(char *p, size_t sz, size_t n, void *u)
{
    f_resp_t *r = u;
    size_t add = sz * n;
    if (r->len + add < sizeof r->body) {
        memcpy(r->body + r->len, p, add);
        r->len += add;
        r->body[r->len] = '\0';
    }
    return add;
}

static size_t f_header(char *p, size_t sz, size_t n, void *u)
{
    f_resp_t *r = u;
    if (!strncasecmp(p, "Retry-After:", 12))
        sscanf(p + 12, " %31[0-9]", r->retry_after);
    return sz * n;
}

typedef struct {
    const char *method;        /* NULL: POST */
    const char *path;          /* NULL: /hook/t */
    const char *token;         /* bearer, or NULL */
    const char *secret;        /* HMAC secret, or NULL: no signature */
    const char *signature;     /* a given X-Signature value */
    const char *event_id_hdr;
    bool        chunked;
    const char *cert, *key, *cacert;   /* TLS */
} f_req_t;

static f_resp_t f_post(CURL *c, uint16_t port, const f_req_t *q, const char *body, size_t len)
{
    f_resp_t r = { 0 };
    char url[256], line[300];
    bool tls = q->cacert != NULL;
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", tls ? "https" : "http", (unsigned)port,
             q->path ? q->path : "/hook/t");
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (q->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", q->token);
        h = curl_slist_append(h, line);
    }
    if (q->secret) {
        char hex[65];
        wh_hmac_hex(q->secret, body, len, hex);
        snprintf(line, sizeof line, "X-Signature: sha256=%s", hex);
        h = curl_slist_append(h, line);
    } else if (q->signature) {
        snprintf(line, sizeof line, "X-Signature: %s", q->signature);
        h = curl_slist_append(h, line);
    }
    if (q->event_id_hdr) {
        snprintf(line, sizeof line, "X-Event-Id: %s", q->event_id_hdr);
        h = curl_slist_append(h, line);
    }
    if (q->chunked)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, f_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (q->method && !strcmp(q->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!q->chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (tls) {
        curl_easy_setopt(c, CURLOPT_CAINFO, q->cacert);
        if (q->cert) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, q->cert);
            curl_easy_setopt(c, CURLOPT_SSLKEY, q->key);
        }
    }
    r.rc = curl_easy_perform(c);
    if (r.rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    return r;
}

static char *f_event(const char *id, const char *type)
{
    char *s = NULL;
    int n = asprintf(&s, "{\"event_id\":\"%s\",\"event_type\":\"%s\",\"data\":{\"registration\":"
                         "{\"registered_at\":\"2025-09-30T16:12:25+07:00\"},\"child\":"
                         "{\"full_name\":\"Nguy\xe1\xbb\x85n V\xc4\x83n A\"}}}",
                     id, type);
    assert_true(n > 0);
    return s;
}

#define SETTINGS_PLAIN                                                                       \
    "{\"listen\":\"127.0.0.1:0\",\"path\":\"/hook/t\",\"token\":\"tok-1\",\"max_body\":\"4096\"," \
    "\"hmac\":{\"secret\":\"sec-1\"}}"

/* ---- tests ---------------------------------------------------------------------- */

static void test_push_answers(void **state)
{
    f_reset();
    webhook_t *self = f_start(SETTINGS_PLAIN);
    assert_non_null(self);
    assert_true(self->port > 0);
    CURL *c = curl_easy_init();
    f_req_t ok = { .token = "tok-1", .secret = "sec-1" };
    char *ev = f_event("ev-1", "birth.registered");

    /* accepted, stored once with the body as sent; then a duplicate */
    f_resp_t r = f_post(c, self->port, &ok, ev, strlen(ev));
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.body, "\"status\":\"accepted\""));
    assert_non_null(strstr(r.body, "\"event_id\":\"ev-1\""));
    assert_int_equal(f_count_msgs(false), 1);
    assert_string_equal(F.m[0].id, "ev-1");
    assert_string_equal(F.m[0].key, "ev-1");
    assert_memory_equal(F.m[0].payload, ev, strlen(ev));
    assert_non_null(strstr(F.m[0].headers, "\"lgsp-event-type\":\"birth.registered\""));
    assert_non_null(strstr(F.m[0].headers, "\"lgsp-via\":\"push\""));
    assert_non_null(strstr(F.m[0].headers, "\"lgsp-content-type\":\"application/json\""));
    r = f_post(c, self->port, &ok, ev, strlen(ev));
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.body, "\"status\":\"duplicate\""));
    assert_int_equal(f_count_msgs(false), 1);

    /* authentication: nothing stored */
    unsigned commits = F.commits;
    char *ev2 = f_event("ev-2", "death.registered");
    f_req_t bad_tok = { .token = "tok-2", .secret = "sec-1" };
    f_req_t no_tok = { .secret = "sec-1" };
    f_req_t bad_sig = { .token = "tok-1", .secret = "sec-2" };
    f_req_t no_sig = { .token = "tok-1" };
    f_req_t junk_sig = { .token = "tok-1", .signature = "sha256=zz" };
    const f_req_t *refused[] = { &bad_tok, &no_tok, &bad_sig, &no_sig, &junk_sig };
    for (size_t i = 0; i < 5; i++) {
        r = f_post(c, self->port, refused[i], ev2, strlen(ev2));
        assert_int_equal(r.status, 401);
        assert_non_null(strstr(r.body, "unauthorized"));
    }
    assert_int_equal(F.commits, commits);
    assert_int_equal(f_count_msgs(false), 1);
    assert_int_equal(f_count_msgs(true), 0);

    /* malformed but authenticated: quarantined with the reason, 400 */
    const char *junk = "{\"event_id\":\"ev-3\",\"data\":";
    f_req_t withid = { .token = "tok-1", .secret = "sec-1", .event_id_hdr = "ev-3" };
    r = f_post(c, self->port, &withid, junk, strlen(junk));
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "not valid JSON"));
    assert_int_equal(f_count_msgs(true), 1);
    f_msg_t *q = &F.m[F.n - 1];
    assert_true(q->quarantine);
    assert_memory_equal(q->payload, junk, strlen(junk));
    assert_non_null(strstr(q->headers, "not valid JSON"));
    assert_non_null(strstr(q->headers, "ev-3"));
    const char *noid = "{\"x\":1}";
    r = f_post(c, self->port, &ok, noid, strlen(noid));
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "no event id"));
    assert_int_equal(f_count_msgs(true), 2);
    /* ...and the id from the header when the body has none */
    f_req_t hdrid = { .token = "tok-1", .secret = "sec-1", .event_id_hdr = "ev-h" };
    r = f_post(c, self->port, &hdrid, noid, strlen(noid));
    assert_int_equal(r.status, 202);
    assert_true(f_stored("ev-h"));

    /* too big: with Content-Length and chunked */
    char big[6000];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"event_id\":\"ev-big\"}", 21);
    r = f_post(c, self->port, &ok, big, sizeof big);
    assert_int_equal(r.status, 413);
    f_req_t chunked = { .token = "tok-1", .secret = "sec-1", .chunked = true };
    big[sizeof big - 1] = '\0';
    r = f_post(c, self->port, &chunked, big, strlen(big));
    assert_int_equal(r.status, 413);
    /* a chunked body within the limit is fine */
    char *ev4 = f_event("ev-4", "marriage.registered");
    r = f_post(c, self->port, &chunked, ev4, strlen(ev4));
    assert_int_equal(r.status, 202);
    /* far too big: answered before the body; curl sees 413 or the close */
    size_t huge = 8u << 20;
    char *hb = malloc(huge);
    memset(hb, ' ', huge);
    r = f_post(c, self->port, &ok, hb, huge);
    assert_true(r.status == 413 || r.rc == CURLE_SEND_ERROR || r.rc == CURLE_RECV_ERROR);
    free(hb);
    assert_false(f_stored("ev-big"));

    /* wrong path, wrong method */
    f_req_t other = { .token = "tok-1", .secret = "sec-1", .path = "/hook/other" };
    r = f_post(c, self->port, &other, ev2, strlen(ev2));
    assert_int_equal(r.status, 404);
    f_req_t get = { .token = "tok-1", .method = "GET" };
    r = f_post(c, self->port, &get, "", 0);
    assert_int_equal(r.status, 405);

    /* the journal refuses: 503 + Retry-After, then the retry is accepted */
    F.fail_commits = 1;
    r = f_post(c, self->port, &ok, ev2, strlen(ev2));
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry_after, "5");
    assert_false(f_stored("ev-2"));
    r = f_post(c, self->port, &ok, ev2, strlen(ev2));
    assert_int_equal(r.status, 202);
    assert_true(f_stored("ev-2"));
    /* a malformed event whose quarantine fails is not answered 400 */
    F.fail_commits = 1;
    size_t nq = f_count_msgs(true);
    r = f_post(c, self->port, &ok, junk, strlen(junk));
    assert_int_equal(r.status, 503);
    assert_int_equal(f_count_msgs(true), nq);

    char desc[512];
    f_info.describe(self, desc, sizeof desc);
    assert_non_null(strstr(desc, "accepted"));

    free(ev);
    free(ev2);
    free(ev4);
    curl_easy_cleanup(c);
    f_stop(&self);
}

typedef struct {
    uint16_t port;
    int      t;
    int      n;
    int      ok;
} f_worker_t;

static void *f_worker(void *arg)
{
    f_worker_t *w = arg;
    CURL *c = curl_easy_init();
    f_req_t ok = { .token = "tok-1", .secret = "sec-1" };
    for (int i = 0; i < w->n; i++) {
        char id[32];
        /* every event twice, from two threads */
        snprintf(id, sizeof id, "c-%d-%d", w->t / 2, i);
        char *ev = f_event(id, "birth.registered");
        f_resp_t r = f_post(c, w->port, &ok, ev, strlen(ev));
        w->ok += r.status == 202;
        free(ev);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrent(void **state)
{
    f_reset();
    webhook_t *self = f_start(SETTINGS_PLAIN);
    assert_non_null(self);
    pthread_t th[8];
    f_worker_t w[8];
    for (int t = 0; t < 8; t++) {
        w[t] = (f_worker_t){ .port = self->port, .t = t, .n = 50 };
        pthread_create(&th[t], NULL, f_worker, &w[t]);
    }
    for (int t = 0; t < 8; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].ok, 50);
    }
    assert_int_equal(f_count_msgs(false), 4 * 50);
    assert_int_equal(atomic_load(&self->n_accepted), 200);
    assert_int_equal(atomic_load(&self->n_duplicates), 200);
    f_stop(&self);
}

static void test_settings(void **state)
{
    static const struct {
        const char *settings, *error;
    } bad[] = {
        { "{\"path\":\"/h\",\"token\":\"t\"}", "setting listen: missing" },
        { "{\"listen\":\"0.0.0.0:1\",\"token\":\"t\"}", "not a loopback address" },
        { "{\"listen\":\"10.0.0.1:1\",\"token\":\"t\",\"allow_remote\":\"maybe\"}",
          "setting allow_remote" },
        { "{\"listen\":\"127.0.0.1:1\"}", "no authentication" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"tokn\":\"x\"}", "setting tokn: unknown" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"hmac\":{\"secrt\":\"x\"}}",
          "setting hmac.secrt: unknown" },
        { "{\"listen\":\"localhost:1\",\"token\":\"t\"}", "numeric" },
        { "{\"port\":\"99999\",\"token\":\"t\"}", "setting port" },
        { "{\"listen\":\"127.0.0.1:1\",\"port\":\"2\",\"token\":\"t\"}", "not both" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"env:WH_TEST_NO_SUCH_VAR\"}", "not set" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"file:/nonexistent/x\"}", "setting token" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"path\":\"hook\"}", "must start with /" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"max_body\":\"1TB\"}", "max_body" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"tls\":{\"cert\":\"/etc/hostname\"}}",
          "not a PEM file" },
        { "{\"listen\":\"127.0.0.1:1\",\"tls\":{\"client_ca\":\"/etc/hostname\"}}", "tls" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"backfill\":{\"token\":\"x\"}}",
          "backfill.url is missing" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"backfill\":{\"url\":\"ftp://x\"}}",
          "setting backfill.url" },
        { "{\"listen\":\"127.0.0.1:1\",\"token\":\"t\",\"backfill\":{\"url\":\"http://x\","
          "\"page_size\":\"5000\"}}", "setting backfill.page_size" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f_reset();
        webhook_t *self = f_start(bad[i].settings);
        if (self || !strstr(F.error, bad[i].error))
            fail_msg("settings %s: expected '%s', got '%s'", bad[i].settings, bad[i].error,
                     F.error);
    }
    /* good: a remote address when allowed; the port alone; a token from the environment */
    setenv("WH_TEST_TOKEN", "from-env", 1);
    f_reset();
    webhook_t *self = f_start("{\"port\":\"0\",\"token\":\"env:WH_TEST_TOKEN\"}");
    assert_non_null(self);
    assert_string_equal(self->token, "from-env");
    assert_string_equal(self->path, "/hook/dn-civil");   /* /hook/<name> */
    f_stop(&self);
    self = f_start("{\"listen\":\"0.0.0.0:0\",\"allow_remote\":\"true\",\"token\":\"t\"}");
    assert_non_null(self);
    f_stop(&self);
    /* a port in use: start fails (the host retries with backoff) */
    self = f_start("{\"port\":\"0\",\"token\":\"t\"}");
    assert_non_null(self);
    char s2[128];
    snprintf(s2, sizeof s2, "{\"port\":\"%u\",\"token\":\"t\"}", (unsigned)self->port);
    webhook_t *other = f_start(s2);
    assert_null(other);
    f_stop(&self);
}

/* ---- TLS with client certificates ------------------------------------------------ */

static char f_dir[256];

static int f_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate, and a
 * second CA with its own client (not trusted by the server). */
static int f_make_certs(void)
{
    snprintf(f_dir, sizeof f_dir, "/tmp/wh-test-tls-XXXXXX");
    if (!mkdtemp(f_dir))
        return -1;
    const char *q = ">/dev/null 2>&1";
    int rc = 0;
    for (int ca = 0; ca < 2 && rc == 0; ca++) {
        rc |= f_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca%d "
                   "-keyout ca%d.key -out ca%d.pem %s", f_dir, ca, ca, ca, q);
        rc |= f_sh("cd %s && openssl req -newkey rsa:2048 -nodes -subj /CN=client%d "
                   "-keyout client%d.key -out client%d.csr %s && openssl x509 -req -in "
                   "client%d.csr -CA ca%d.pem -CAkey ca%d.key -CAcreateserial -days 2 "
                   "-out client%d.pem %s", f_dir, ca, ca, ca, q, ca, ca, ca, ca, q);
    }
    rc |= f_sh("cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl req "
               "-newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr "
               "%s && openssl x509 -req -in server.csr -CA ca0.pem -CAkey ca0.key "
               "-CAcreateserial -days 2 -extfile san.ext -out server.pem %s", f_dir, q, q);
    return rc;
}

static void test_tls_client_cert(void **state)
{
    if (system("openssl version >/dev/null 2>&1") != 0)
        skip();
    assert_int_equal(f_make_certs(), 0);
    f_reset();
    char settings[1024], cacert[300], cert[2][300], key[2][300];
    snprintf(settings, sizeof settings,
             "{\"listen\":\"127.0.0.1:0\",\"path\":\"/hook/t\",\"tls\":{\"cert\":\"%s/server.pem\","
             "\"key\":\"%s/server.key\",\"client_ca\":\"%s/ca0.pem\"}}", f_dir, f_dir, f_dir);
    snprintf(cacert, sizeof cacert, "%s/ca0.pem", f_dir);
    for (int i = 0; i < 2; i++) {
        snprintf(cert[i], sizeof cert[i], "%s/client%d.pem", f_dir, i);
        snprintf(key[i], sizeof key[i], "%s/client%d.key", f_dir, i);
    }
    webhook_t *self = f_start(settings);
    assert_non_null(self);
    CURL *c = curl_easy_init();
    char *ev = f_event("tls-1", "birth.registered");
    f_req_t with = { .cacert = cacert, .cert = cert[0], .key = key[0] };
    f_resp_t r = f_post(c, self->port, &with, ev, strlen(ev));
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 202);
    assert_true(f_stored("tls-1"));
    char *ev2 = f_event("tls-2", "birth.registered");
    f_req_t without = { .cacert = cacert };
    r = f_post(c, self->port, &without, ev2, strlen(ev2));
    assert_int_equal(r.status, 403);
    f_req_t untrusted = { .cacert = cacert, .cert = cert[1], .key = key[1] };
    r = f_post(c, self->port, &untrusted, ev2, strlen(ev2));
    assert_true(r.status == 403 || r.rc != CURLE_OK);
    assert_false(f_stored("tls-2"));
    free(ev);
    free(ev2);
    curl_easy_cleanup(c);
    f_stop(&self);
    f_sh("rm -rf %s", f_dir);
}

/* ---- the backfill ------------------------------------------------------------------ */

/* A paged events API as dn-civil's: events sorted by registered_at,
 * registered_from inclusive, page/page_size, bearer token; can fail. */
static struct {
    json_t *events;          /* array, sorted by registered_at */
    int     fail;            /* answer 503 this many times */
    unsigned requests;
    char    last_from[64];
} B;

static int f_cmp_reg(const void *x, const void *y)
{
    json_t *const *a = x, *const *b = y;
    return strcmp(json_string_value(wh_json_path(*a, "data.registration.registered_at")),
                  json_string_value(wh_json_path(*b, "data.registration.registered_at")));
}

static enum MHD_Result f_api_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload, size_t *upload_size, void **con_cls)
{
    B.requests++;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    unsigned code = 200;
    char *text = NULL;
    if (!auth || strcmp(auth, "Bearer bf-tok")) {
        code = 401;
        text = strdup("{\"error\":{\"code\":\"unauthorized\"}}");
    } else if (B.fail > 0) {
        B.fail--;
        code = 503;
        text = strdup("{\"error\":{\"code\":\"unavailable\"}}");
    } else {
        const char *from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                       "registered_from");
        const char *p = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page");
        const char *s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page_size");
        snprintf(B.last_from, sizeof B.last_from, "%s", from ? from : "");
        long page = p ? atol(p) : 1, size = s ? atol(s) : 100;
        json_t *sel = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(B.events, i, e) {
            const char *reg = json_string_value(wh_json_path(e, "data.registration.registered_at"));
            if (!from || strcmp(reg, from) >= 0)
                json_array_append(sel, e);
        }
        long total = (long)json_array_size(sel), pages = (total + size - 1) / size;
        json_t *out = json_array();
        for (long k = (page - 1) * size; k < total && k < page * size; k++)
            json_array_append(out, json_array_get(sel, (size_t)k));
        json_t *o = json_pack("{s:i,s:i,s:i,s:i,s:o}", "page", page, "page_size", size,
                              "total", total, "total_pages", pages, "events", out);
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        json_decref(sel);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
                                                             MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static json_t *f_bf_event(int i, const char *reg)
{
    char id[32];
    snprintf(id, sizeof id, "bf-%04d", i);
    return json_pack("{s:s,s:s,s:{s:{s:s}}}", "event_id", id, "event_type", "birth.registered",
                     "data", "registration", "registered_at", reg);
}

static void f_sort(void)
{
    size_t n = json_array_size(B.events);
    json_t **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(B.events, i));
    qsort(v, n, sizeof *v, f_cmp_reg);
    json_array_clear(B.events);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(B.events, v[i]);
    free(v);
}

/* Runs ticks until one returns 0 (a scan is over). */
static int f_scan(webhook_t *self)
{
    int rc, ticks = 0;
    while ((rc = wh_backfill_tick(self)) > 0)
        ticks++;
    assert_int_equal(rc, 0);
    return ticks + 1;
}

static void test_backfill(void **state)
{
    f_reset();
    B.events = json_array();
    for (int i = 0; i < 95; i++) {
        char reg[40];
        snprintf(reg, sizeof reg, "2025-07-%02dT%02d:00:00+07:00", 1 + i / 24, i % 24);
        json_array_append_new(B.events, f_bf_event(i, reg));
    }
    struct MHD_Daemon *api = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                              f_api_handler, NULL, MHD_OPTION_END);
    assert_non_null(api);
    unsigned port = MHD_get_daemon_info(api, MHD_DAEMON_INFO_BIND_PORT)->port;
    char settings[512];
    snprintf(settings, sizeof settings,
             "{\"port\":\"0\",\"token\":\"t\",\"backfill\":{\"url\":\"http://127.0.0.1:%u/api/"
             "v1/events\",\"token\":\"bf-tok\",\"page_size\":\"10\",\"overlap\":\"5\"}}", port);
    webhook_t *self = f_start(settings);
    assert_non_null(self);

    /* the first scan reads everything, 10 pages of 10 (the last short) */
    assert_int_equal(f_scan(self), 10);
    assert_int_equal(f_count_msgs(false), 95);
    assert_string_equal(B.last_from, "");
    /* the watermark trails the last event by `overlap` (5) events: #89 */
    assert_string_equal(F.state, "{\"from\":\"2025-07-04T17:00:00+07:00\"}");
    assert_non_null(strstr(F.m[0].headers, "\"lgsp-via\":\"backfill\""));
    assert_non_null(strstr(F.m[0].headers, "backfill page 1 item 1"));

    /* the next scan starts there: 6 events read again, all duplicates */
    size_t before = F.n;
    assert_int_equal(f_scan(self), 1);
    assert_string_equal(B.last_from, "2025-07-04T17:00:00+07:00");
    assert_int_equal(F.n, before);

    /* a late event (older than the newest, within the overlap) and new ones */
    json_array_append_new(B.events, f_bf_event(500, "2025-07-04T20:30:00+07:00"));
    for (int i = 95; i < 120; i++) {
        char reg[40];
        snprintf(reg, sizeof reg, "2025-07-%02dT%02d:00:00+07:00", 1 + i / 24, i % 24);
        json_array_append_new(B.events, f_bf_event(i, reg));
    }
    f_sort();
    f_scan(self);
    assert_int_equal(f_count_msgs(false), 121);
    assert_true(f_stored("bf-0500"));

    /* a restart (a new instance) resumes from the committed state */
    f_stop(&self);
    json_array_append_new(B.events, f_bf_event(121, "2025-07-06T12:00:00+07:00"));
    self = f_start(settings);
    assert_non_null(self);
    f_scan(self);
    assert_int_equal(f_count_msgs(false), 122);
    assert_string_not_equal(B.last_from, "");

    /* failures: retried within the tick; beyond the retries the tick gives up
     * (0) and the next one goes on */
    B.fail = 2;
    json_array_append_new(B.events, f_bf_event(122, "2025-07-06T13:00:00+07:00"));
    f_scan(self);
    assert_true(f_stored("bf-0122"));
    B.fail = 3;     /* = backfill.retries */
    json_array_append_new(B.events, f_bf_event(123, "2025-07-06T14:00:00+07:00"));
    assert_int_equal(wh_backfill_tick(self), 0);
    assert_false(f_stored("bf-0123"));
    assert_int_equal(atomic_load(&self->n_backfill_errors), 1);
    f_scan(self);
    assert_true(f_stored("bf-0123"));
    /* the journal refuses a page: the scan starts again, nothing is lost */
    json_array_append_new(B.events, f_bf_event(124, "2025-07-06T15:00:00+07:00"));
    F.fail_commits = 1;
    assert_int_equal(wh_backfill_tick(self), 0);
    assert_false(f_stored("bf-0124"));
    f_scan(self);
    assert_true(f_stored("bf-0124"));
    /* an event without an id is quarantined */
    json_array_append_new(B.events, json_pack("{s:{s:{s:s}}}", "data", "registration",
                                              "registered_at", "2025-07-06T16:00:00+07:00"));
    size_t nq = f_count_msgs(true);
    f_scan(self);
    assert_int_equal(f_count_msgs(true), nq + 1);
    assert_non_null(strstr(F.m[F.n - 1].headers, "no event id"));
    f_stop(&self);

    /* a wrong token: the tick logs and returns 0 (the ingress keeps running) */
    f_reset();
    char s2[512];
    snprintf(s2, sizeof s2,
             "{\"port\":\"0\",\"token\":\"t\",\"backfill\":{\"url\":\"http://127.0.0.1:%u/api/"
             "v1/events\",\"token\":\"wrong\"}}", port);
    self = f_start(s2);
    assert_non_null(self);
    unsigned req = B.requests;
    assert_int_equal(wh_backfill_tick(self), 0);
    assert_int_equal(B.requests, req + 1);     /* a 401 is not retried */
    assert_int_equal(f_count_msgs(false), 0);
    f_stop(&self);
    MHD_stop_daemon(api);
    json_decref(B.events);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_answers),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_tls_client_cert),
        cmocka_unit_test(test_backfill),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    f_reset();
    json_decref(F.settings);
    free(F.settings_text);
    curl_global_cleanup();
    return rc;
}
