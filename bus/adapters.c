/* adapters.c — the adapter host (adapters.h, include/lgsp/adapter.h).
 *
 * Layout: loading (plugin search, dlopen, ABI negotiation) -> the host
 * function table handed to plugins (settings, state, batches, waits,
 * counters) -> each adapter's thread (init, run by kind, backoff) ->
 * metrics and health. */
#include "adapters.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lgsp/adapter.h"
#include "lgsp/client.h"
#include "log.h"
#include "util.h"

#ifndef LGSP_ADAPTER_DIR
#define LGSP_ADAPTER_DIR "/usr/local/lib/x86_64-linux-gnu/lgsp/adapters"
#endif

#define BATCH_MAX_RECORDS 1000
#define BATCH_MAX_BYTES   (16u << 20)
#define MAX_COUNTERS      32

typedef enum {
    A_STARTING, A_RUNNING, A_BACKOFF, A_FAILED_CONFIG, A_STOPPED,
} a_status_t;

static const char *const s_status_names[] = {
    "starting", "running", "backing off", "failed (settings)", "stopped",
};

typedef struct {
    char             name[41];
    _Atomic uint64_t value;
} counter_t;

struct lgsp_adapter {
    adapters_t         *host;
    /* copied from the configuration */
    char               *name, *plugin, *topic, *qtopic, *group, *output, *settings_text;
    char              **setting_paths;
    int                *setting_lines;
    size_t              n_settings;
    int                 line;
    uint64_t            interval_ms, backoff_ms, backoff_max_ms;
    uint32_t            credit, batch;
    char                work_dir[PATH_MAX];
    json_t             *settings;
    /* the plugin */
    char               *path;
    void               *dl;
    int                 abi;
    int               (*init)(lgsp_adapter_t *, const lgsp_host_api_t *, lgsp_adapter_info_t *, void **);
    lgsp_adapter_info_t info;
    void               *self;
    bool                initialized;
    /* the thread */
    pthread_t           thread;
    bool                thread_started;
    pthread_mutex_t     mu;
    pthread_cond_t      cv;
    bool                stop;
    bool                config_error;
    /* a sink inside deliver(): its bus client, which wait() keeps alive */
    lgsp_client_t      *delivering;
    uint64_t            touched_ms;
    /* figures */
    _Atomic int         status;
    char                last_error[512];   /* under mu */
    _Atomic uint64_t    records, duplicates, quarantined, commits, failed_commits, failures,
                        restarts, delivered, retried, rejected;
    counter_t           counters[MAX_COUNTERS];
    _Atomic size_t      n_counters;
    pthread_mutex_t     counters_mu;
};

struct adapters {
    adapters_options_t opts;
    char              *config_file, *config_dir, *work_root, *bus_endpoint, *search;
    lgsp_adapter_t   **list;
    size_t             n;
};

struct lgsp_batch {
    lgsp_adapter_t *a;
    ingest_unit_t  *unit;
    size_t          records;
};

static __thread char s_error[512];

static void s_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_error, sizeof s_error, fmt, ap);
    va_end(ap);
}

static void s_remember_error(lgsp_adapter_t *a, const char *text)
{
    pthread_mutex_lock(&a->mu);
    size_t n = strnlen(text, sizeof a->last_error - 1);
    memcpy(a->last_error, text, n);
    a->last_error[n] = 0;
    pthread_mutex_unlock(&a->mu);
}

/* ---- host functions --------------------------------------------------- */

static const char *h_name(lgsp_adapter_t *a) { return a->name; }
static const char *h_topic(lgsp_adapter_t *a) { return a->topic; }
static const char *h_work_dir(lgsp_adapter_t *a) { return a->work_dir; }
static const char *h_config_dir(lgsp_adapter_t *a) { return a->host->config_dir; }
static const char *h_output(lgsp_adapter_t *a) { return a->output; }
static const char *h_last_error(lgsp_adapter_t *a) { return s_error; }
static void h_free(void *p) { free(p); }

static void h_log(lgsp_adapter_t *a, int level, const char *fmt, ...)
{
    char text[2048], sub[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(sub, sizeof sub, "adapter %s", a->name);
    log_level_t l = level <= LGSP_LOG_ERROR ? LOG_ERROR : level == LGSP_LOG_WARN ? LOG_WARN
                  : level == LGSP_LOG_INFO ? LOG_INFO : LOG_DEBUG;
    if (l <= log_get_level())
        log_write(l, sub, "%s", text);
    /* A plugin's last error is what /health shows when it fails. */
    if (l == LOG_ERROR) {
        size_t n = strnlen(text, sizeof s_error - 1);
        memcpy(s_error, text, n);
        s_error[n] = 0;
        s_remember_error(a, text);
    }
}

static const json_t *s_lookup(const json_t *node, const char *path)
{
    char part[256];
    while (node && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t) (dot - path) : strlen(path);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = 0;
        if (json_is_object(node))
            node = json_object_get(node, part);
        else if (json_is_array(node)) {
            char *end;
            unsigned long i = strtoul(part, &end, 10);
            node = *part && !*end ? json_array_get(node, i) : NULL;
        } else
            return NULL;
        path += n + (dot ? 1 : 0);
    }
    return node;
}

static const char *h_setting(lgsp_adapter_t *a, const char *path)
{
    const json_t *v = s_lookup(a->settings, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *h_setting_json(lgsp_adapter_t *a) { return a->settings_text; }

static int s_setting_line(const lgsp_adapter_t *a, const char *path)
{
    for (size_t i = 0; path && i < a->n_settings; i++)
        if (strcmp(a->setting_paths[i], path) == 0)
            return a->setting_lines[i];
    return a->line;
}

static int h_setting_error(lgsp_adapter_t *a, const char *path, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    s_set_error("%s:%d: adapter %s: setting '%s': %s", a->host->config_file, s_setting_line(a, path),
                a->name, path ? path : "", what);
    a->config_error = true;
    s_remember_error(a, s_error);
    return LGSP_AE_INVALID;
}

static int h_state_get(lgsp_adapter_t *a, void **state, size_t *len)
{
    ingest_sink_t *sk = &a->host->opts.sink;
    int rc = sk->state_get(sk->arg, a->name, state, len);
    if (rc == LGSP_NOT_FOUND || rc == 0)
        return 0;
    s_set_error("cannot read the state of adapter %s from the journal", a->name);
    return LGSP_AE_JOURNAL;
}

static bool h_sleep(lgsp_adapter_t *a, uint64_t ms);
static bool h_stopping(lgsp_adapter_t *a);

/* A sink may work on one deliver() for long (retrying an outage with
 * backoff): when it waits on its own thread, the host keeps its bus session
 * alive and its deliveries in hand (TOUCH every TOUCH_MS), so they are
 * neither taken for a silent session nor redelivered and counted as
 * attempts. */
#define TOUCH_MS 250

static bool h_wait(lgsp_adapter_t *a, uint64_t ms)
{
    /* delivering is only written and read on the sink's own thread */
    if (!pthread_equal(pthread_self(), a->thread) || !a->delivering)
        return h_sleep(a, ms);
    uint64_t end = util_mono_ms() + ms;
    for (;;) {
        uint64_t now = util_mono_ms();
        if (now - a->touched_ms >= TOUCH_MS) {
            lgsp_client_touch(a->delivering);
            a->touched_ms = now;
        }
        if (now >= end)
            return !h_stopping(a);
        uint64_t step = end - now < TOUCH_MS ? end - now : TOUCH_MS;
        if (!h_sleep(a, step))
            return false;
    }
}

static bool h_sleep(lgsp_adapter_t *a, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t) (ms / 1000);
    ts.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->mu);
    while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &ts) != ETIMEDOUT)
        ;
    bool go_on = !a->stop;
    pthread_mutex_unlock(&a->mu);
    return go_on;
}

static bool h_stopping(lgsp_adapter_t *a)
{
    pthread_mutex_lock(&a->mu);
    bool s = a->stop;
    pthread_mutex_unlock(&a->mu);
    return s;
}

static void h_count(lgsp_adapter_t *a, const char *name, uint64_t n)
{
    size_t len = strlen(name);
    if (len == 0 || len > 40 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
        return;
    size_t count = atomic_load(&a->n_counters);
    for (size_t i = 0; i < count; i++)
        if (strcmp(a->counters[i].name, name) == 0) {
            atomic_fetch_add(&a->counters[i].value, n);
            return;
        }
    pthread_mutex_lock(&a->counters_mu);
    count = atomic_load(&a->n_counters);
    size_t i;
    for (i = 0; i < count; i++)
        if (strcmp(a->counters[i].name, name) == 0)
            break;
    if (i == count && count < MAX_COUNTERS) {
        snprintf(a->counters[i].name, sizeof a->counters[i].name, "%s", name);
        atomic_store(&a->counters[i].value, 0);
        atomic_store(&a->n_counters, count + 1);
    }
    if (i < MAX_COUNTERS)
        atomic_fetch_add(&a->counters[i].value, n);
    pthread_mutex_unlock(&a->counters_mu);
}

/* ---- batches ---------------------------------------------------------- */

static lgsp_batch_t *h_batch_new(lgsp_adapter_t *a)
{
    lgsp_batch_t *b = calloc(1, sizeof *b);
    if (b)
        /* A sink's batches go to its output (a source's to its topic). */
        b->unit = ingest_unit_new(a->name, a->info.kind == LGSP_ADAPTER_SINK && a->output ? a->output : a->topic,
                                  a->qtopic);
    if (!b || !b->unit) {
        free(b);
        s_set_error("out of memory");
        return NULL;
    }
    b->a = a;
    return b;
}

static void s_hex(const unsigned char *d, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = 0;
}

static void s_sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static void s_iso_time(uint64_t us, char out[40])
{
    time_t t = (time_t) (us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03uZ", (unsigned) (us / 1000 % 1000));
}

static bool s_printable_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > LGSP_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x21 || id[i] > 0x7e)
            return false;
    return true;
}

/* Sets a header; json_string refuses invalid UTF-8, which is remembered in
 * *bad (the record is then refused rather than stored without it). */
static void s_hset(json_t *h, const char *key, const char *value, const char **bad)
{
    json_t *v = json_string(value);
    if (!v || json_object_set_new(h, key, v) != 0) {
        if (!*bad)
            *bad = key;
    }
}

/* Reads a field of the plugin's record only if the plugin's struct has it. */
#define REC_HAS(r, field) ((r)->size >= offsetof(lgsp_record_t, field) + sizeof((r)->field))

static int s_add_msg(lgsp_batch_t *b, const char *id, const char *key, json_t *headers,
                     const void *payload, size_t len, bool quarantine)
{
    char *h = json_dumps(headers, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(headers);
    if (!h) {
        s_set_error("out of memory (headers)");
        return LGSP_AE_NOMEM;
    }
    int rc = ingest_unit_add(b->unit, id, key, strlen(key), h, payload ? payload : "", len, quarantine);
    free(h);
    if (rc) {
        s_set_error("out of memory");
        return LGSP_AE_NOMEM;
    }
    return 0;
}

static int s_batch_room(lgsp_batch_t *b, size_t bytes)
{
    if (b->unit->n >= BATCH_MAX_RECORDS || b->unit->bytes + bytes > BATCH_MAX_BYTES) {
        s_set_error("the batch is full (%d records or %u MiB): commit it and start another",
                    BATCH_MAX_RECORDS, BATCH_MAX_BYTES >> 20);
        return LGSP_AE_TOO_BIG;
    }
    return 0;
}

static int h_batch_add(lgsp_batch_t *b, const lgsp_record_t *r)
{
    lgsp_adapter_t *a = b->a;
    if (!r || !REC_HAS(r, position) || !r->source_id || !*r->source_id) {
        s_set_error("a record needs a source_id (and size set to sizeof(lgsp_record_t))");
        return LGSP_AE_INVALID;
    }
    if (strlen(r->source_id) > LGSP_MAX_KEY) {
        s_set_error("source_id longer than %d bytes", LGSP_MAX_KEY);
        return LGSP_AE_INVALID;
    }
    if (!r->payload && r->payload_len) {
        s_set_error("payload is NULL");
        return LGSP_AE_INVALID;
    }
    if (r->payload_len > a->host->opts.max_message_bytes) {
        s_set_error("record %s: payload of %zu bytes is larger than bus.max_message_bytes (%" PRIu64 ")",
                    r->source_id, r->payload_len, a->host->opts.max_message_bytes);
        return LGSP_AE_INVALID;
    }
    int rc = s_batch_room(b, r->payload_len + r->original_len * 4 / 3 + 512);
    if (rc)
        return rc;
    char id[LGSP_MAX_ID + 1];
    if (r->id) {
        if (!s_printable_id(r->id)) {
            s_set_error("record %s: id must be 1-%d printable ASCII characters", r->source_id, LGSP_MAX_ID);
            return LGSP_AE_INVALID;
        }
        snprintf(id, sizeof id, "%s", r->id);
    } else {
        /* The same content gets the same id (stored once); a new version of
         * the record gets a new one. */
        unsigned char d[32];
        char hex[65];
        s_sha256(r->payload, r->payload_len, d);
        s_hex(d, 12, hex);
        size_t sl = strlen(r->source_id);
        if (s_printable_id(r->source_id) && sl + 1 + 24 <= LGSP_MAX_ID) {
            memcpy(id, r->source_id, sl);
            id[sl] = ':';
            memcpy(id + sl + 1, hex, 25);
        } else {
            char sh[65];
            unsigned char sd[32];
            s_sha256(r->source_id, strlen(r->source_id), sd);
            s_hex(sd, 20, sh);
            id[0] = 'h';
            memcpy(id + 1, sh, 40);
            id[41] = ':';
            memcpy(id + 42, hex, 25);
        }
    }
    char when[40];
    s_iso_time(REC_HAS(r, fetched_at_us) && r->fetched_at_us ? r->fetched_at_us : util_now_us(), when);
    json_t *h = json_object();
    const char *bad = NULL;
    if (!h)
        return LGSP_AE_NOMEM;
    s_hset(h, "lgsp-source", a->name, &bad);
    s_hset(h, "lgsp-source-id", r->source_id, &bad);
    s_hset(h, "lgsp-fetched-at", when, &bad);
    if (r->content_type)
        s_hset(h, "lgsp-content-type", r->content_type, &bad);
    if (r->position)
        s_hset(h, "lgsp-position", r->position, &bad);
    if (r->original && r->original_len) {
        if (r->original_len > (1u << 20)) {
            json_decref(h);
            s_set_error("record %s: original bytes larger than 1 MiB", r->source_id);
            return LGSP_AE_INVALID;
        }
        char *b64 = malloc(4 * ((r->original_len + 2) / 3) + 1);
        if (!b64) {
            json_decref(h);
            return LGSP_AE_NOMEM;
        }
        EVP_EncodeBlock((unsigned char *) b64, r->original, (int) r->original_len);
        s_hset(h, "lgsp-original", b64, &bad);
        free(b64);
        if (r->encoding)
            s_hset(h, "lgsp-encoding", r->encoding, &bad);
    }
    /* Extra headers may add names, never replace the provenance above. */
    if (REC_HAS(r, headers) && r->headers)
        for (const char *const *p = r->headers; p[0] && p[1]; p += 2)
            if (!json_object_get(h, p[0]))
                s_hset(h, p[0], p[1], &bad);
    if (bad) {
        json_decref(h);
        s_set_error("record %s: header %s is not valid UTF-8", r->source_id, bad);
        return LGSP_AE_INVALID;
    }
    rc = s_add_msg(b, id, r->source_id, h, r->payload, r->payload_len, false);
    if (rc == 0)
        b->records++;
    return rc;
}

static int h_batch_quarantine(lgsp_batch_t *b, const char *position, const char *reason,
                              const void *original, size_t len)
{
    lgsp_adapter_t *a = b->a;
    if (!reason || !*reason) {
        s_set_error("quarantine needs a reason");
        return LGSP_AE_INVALID;
    }
    if (!original)
        len = 0;
    if (len > a->host->opts.max_message_bytes)
        len = (size_t) a->host->opts.max_message_bytes;   /* keep what fits; the reason says it */
    int rc = s_batch_room(b, len + 512);
    if (rc)
        return rc;
    /* Idempotent: the same input quarantined again (after a restart) is
     * the same message. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32];
    unsigned int dl = 32;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, position ? position : "", position ? strlen(position) + 1 : 1);
    EVP_DigestUpdate(md, reason, strlen(reason) + 1);
    EVP_DigestUpdate(md, original ? original : "", len);
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    char id[64] = "q:";
    s_hex(d, 16, id + 2);
    char when[40], key[LGSP_MAX_KEY + 1];
    s_iso_time(util_now_us(), when);
    snprintf(key, sizeof key, "%s", position && *position ? position : a->name);
    json_t *h = json_object();
    json_object_set_new(h, "lgsp-source", json_string(a->name));
    json_object_set_new(h, "lgsp-position", json_string(position ? position : ""));
    json_t *rv = json_string(reason);
    json_object_set_new(h, "lgsp-reason", rv ? rv : json_string("(reason not valid UTF-8)"));
    json_object_set_new(h, "lgsp-fetched-at", json_string(when));
    if (!json_object_get(h, "lgsp-position"))
        json_object_set_new(h, "lgsp-position", json_string("(position not valid UTF-8)"));
    return s_add_msg(b, id, key, h, original, len, true);
}

static size_t h_batch_count(const lgsp_batch_t *b) { return b ? b->unit->n : 0; }

static void h_batch_discard(lgsp_batch_t *b)
{
    if (!b)
        return;
    ingest_unit_destroy(&b->unit);
    free(b);
}

static int h_batch_commit(lgsp_batch_t *b, const void *state, size_t state_len,
                          lgsp_commit_result_t *res)
{
    if (!b) {
        s_set_error("no batch");
        return LGSP_AE_INVALID;
    }
    lgsp_adapter_t *a = b->a;
    ingest_unit_t *u = b->unit;
    int rc = 0;
    if (state && ingest_unit_set_state(u, state, state_len) != 0) {
        h_batch_discard(b);
        s_set_error("out of memory");
        return LGSP_AE_NOMEM;
    }
    ingest_sink_t *sk = &a->host->opts.sink;
    if (sk->submit(sk->arg, u) == 0)
        ingest_unit_wait(u);
    if (u->status) {
        s_set_error("adapter %s: the journal refused a batch of %zu: %s", a->name, u->n, u->error);
        rc = u->status == LGSP_UNAVAILABLE ? LGSP_AE_STOPPING
           : u->status == LGSP_BAD_REQUEST ? LGSP_AE_INVALID : LGSP_AE_JOURNAL;
        atomic_fetch_add(&a->failed_commits, 1);
    } else {
        atomic_fetch_add(&a->records, u->stored);
        atomic_fetch_add(&a->duplicates, u->duplicates);
        atomic_fetch_add(&a->quarantined, u->quarantined);
        atomic_fetch_add(&a->commits, 1);
        if (res && res->size >= sizeof(size_t) + 3 * sizeof(uint64_t)) {
            res->stored = u->stored;
            res->duplicates = u->duplicates;
            res->quarantined = u->quarantined;
        }
    }
    h_batch_discard(b);
    return rc;
}

static const lgsp_host_api_t s_api = {
    .size = sizeof(lgsp_host_api_t),
    .abi_version = LGSP_ADAPTER_ABI_VERSION,
    .name = h_name,
    .topic = h_topic,
    .log = h_log,
    .setting = h_setting,
    .setting_json = h_setting_json,
    .setting_error = h_setting_error,
    .state_get = h_state_get,
    .free_mem = h_free,
    .batch_new = h_batch_new,
    .batch_add = h_batch_add,
    .batch_quarantine = h_batch_quarantine,
    .batch_count = h_batch_count,
    .batch_commit = h_batch_commit,
    .batch_discard = h_batch_discard,
    .wait = h_wait,
    .stopping = h_stopping,
    .count = h_count,
    .last_error = h_last_error,
    .work_dir = h_work_dir,
    .config_dir = h_config_dir,
    .output = h_output,
};

/* ---- loading ---------------------------------------------------------- */

static char *s_find_plugin(const adapters_t *host, const char *plugin)
{
    char path[PATH_MAX];
    if (strchr(plugin, '/'))
        return access(plugin, R_OK) == 0 ? strdup(plugin) : NULL;
    char *dirs = strdup(host->search);
    if (!dirs)
        return NULL;
    char *save = NULL, *found = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/lgsp-adapter-%s.so", d, plugin);
        if (access(path, R_OK) != 0)
            snprintf(path, sizeof path, "%s/%s/lgsp-adapter-%s.so", d, plugin, plugin);
        if (access(path, R_OK) == 0)
            found = strdup(path);
    }
    free(dirs);
    return found;
}

static void s_adapter_free(lgsp_adapter_t *a)
{
    if (!a)
        return;
    if (a->dl)
        dlclose(a->dl);
    free(a->name);
    free(a->plugin);
    free(a->topic);
    free(a->qtopic);
    free(a->group);
    free(a->output);
    free(a->settings_text);
    for (size_t i = 0; i < a->n_settings; i++)
        free(a->setting_paths[i]);
    free(a->setting_paths);
    free(a->setting_lines);
    free(a->path);
    json_decref(a->settings);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->counters_mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

static int s_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static lgsp_adapter_t *s_load(adapters_t *host, const adapter_conf_t *c, char **err)
{
    lgsp_adapter_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->counters_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    a->host = host;
    a->name = strdup(c->name);
    a->plugin = strdup(c->plugin);
    a->topic = strdup(c->topic);
    a->qtopic = strdup(c->quarantine_topic);
    a->group = strdup(c->group);
    a->output = c->output ? strdup(c->output) : NULL;
    a->settings_text = strdup(c->settings_json);
    a->setting_paths = calloc(c->n_settings + 1, sizeof *a->setting_paths);
    a->setting_lines = calloc(c->n_settings + 1, sizeof *a->setting_lines);
    a->line = c->line;
    a->interval_ms = c->interval_ms;
    a->backoff_ms = c->backoff_ms;
    a->backoff_max_ms = c->backoff_max_ms;
    a->credit = c->credit;
    a->batch = c->batch;
    char what[PATH_MAX + 700] = "";
    if (!a->name || !a->plugin || !a->topic || !a->qtopic || !a->group || !a->settings_text
        || !a->setting_paths || !a->setting_lines) {
        snprintf(what, sizeof what, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < c->n_settings; i++) {
        a->setting_paths[i] = strdup(c->setting_paths[i]);
        a->setting_lines[i] = c->setting_lines[i];
        a->n_settings++;
    }
    a->settings = json_loads(a->settings_text, 0, NULL);
    snprintf(a->work_dir, sizeof a->work_dir, "%s/%s", host->work_root, a->name);
    a->path = s_find_plugin(host, a->plugin);
    if (!a->path) {
        snprintf(what, sizeof what, "plugin '%s' not found (looked for lgsp-adapter-%s.so in %s)",
                 a->plugin, a->plugin, host->search);
        goto fail;
    }
    /* RTLD_LOCAL: plugins never see each other's symbols. */
    /* NODELETE: a plugin's code stays mapped after dlclose, so a leak
     * report at exit can still name its functions. */
    a->dl = dlopen(a->path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!a->dl) {
        snprintf(what, sizeof what, "cannot load %s: %s", a->path, dlerror());
        goto fail;
    }
    int (*abi)(int, int) = (int (*)(int, int)) dlsym(a->dl, "lgsp_adapter_abi");
    a->init = (int (*)(lgsp_adapter_t *, const lgsp_host_api_t *, lgsp_adapter_info_t *, void **))
        dlsym(a->dl, "lgsp_adapter_init");
    if (!abi || !a->init) {
        snprintf(what, sizeof what, "%s is not an lgsp adapter (it lacks lgsp_adapter_abi or "
                 "lgsp_adapter_init)", a->path);
        goto fail;
    }
    a->abi = abi(1, LGSP_ADAPTER_ABI_VERSION);
    if (a->abi < 1 || a->abi > LGSP_ADAPTER_ABI_VERSION) {
        snprintf(what, sizeof what, "%s speaks adapter ABI %d; this lgspd speaks 1 to %d",
                 a->path, a->abi, LGSP_ADAPTER_ABI_VERSION);
        goto fail;
    }
    if (s_mkdirs(a->work_dir) != 0) {
        snprintf(what, sizeof what, "cannot create %s: %s", a->work_dir, strerror(errno));
        goto fail;
    }
    return a;
fail:
    if (err && asprintf(err, "%s:%d: adapter %s: %s", host->config_file, c->line, c->name, what) < 0)
        *err = NULL;
    s_adapter_free(a);
    return NULL;
}

adapters_t *adapters_new(const config_t *cfg, const adapters_options_t *opts, char **err)
{
    adapters_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = *opts;
    self->config_file = strdup(opts->config_file ? opts->config_file : cfg->path);
    self->work_root = strdup(opts->work_root);
    {
        /* absolute, so that it means the same after a chdir */
        char *dup = strdup(self->config_file ? self->config_file : ".");
        char *slash = dup ? strrchr(dup, '/') : NULL;
        if (slash)
            *slash = 0;
        const char *d = !dup ? "." : slash ? (*dup ? dup : "/") : ".";
        self->config_dir = realpath(d, NULL);
        if (!self->config_dir)
            self->config_dir = strdup(d);
        free(dup);
    }
    self->bus_endpoint = opts->bus_endpoint ? strdup(opts->bus_endpoint) : NULL;
    self->opts.config_file = self->config_file;
    self->opts.work_root = self->work_root;
    self->opts.bus_endpoint = self->bus_endpoint;
    const char *env = getenv("LGSP_ADAPTER_PATH");
    if (asprintf(&self->search, "%s%s%s%s%s", env ? env : "", env && *env ? ":" : "",
                 cfg->adapter_path ? cfg->adapter_path : "",
                 cfg->adapter_path && *cfg->adapter_path ? ":" : "", LGSP_ADAPTER_DIR) < 0)
        self->search = NULL;
    self->list = calloc(cfg->n_adapters + 1, sizeof *self->list);
    if (!self->config_file || !self->config_dir || !self->work_root || !self->search || !self->list) {
        adapters_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_adapters; i++) {
        if (!cfg->adapters[i].enabled)
            continue;
        lgsp_adapter_t *a = s_load(self, &cfg->adapters[i], err);
        if (!a) {
            adapters_destroy(&self);
            return NULL;
        }
        self->list[self->n++] = a;
    }
    return self;
}

/* ---- running ---------------------------------------------------------- */

/* init() calls never overlap, across all adapters: a library's lazy global
 * set-up (xmlInitParser, curl_global_init) is not thread-safe, and two
 * plugins may use the same library. */
static pthread_mutex_t s_init_lock = PTHREAD_MUTEX_INITIALIZER;

static int s_init(lgsp_adapter_t *a)
{
    memset(&a->info, 0, sizeof a->info);
    a->info.size = sizeof a->info;
    a->self = NULL;
    a->config_error = false;
    s_error[0] = 0;
    pthread_mutex_lock(&s_init_lock);
    int rc = a->init(a, &s_api, &a->info, &a->self);
    pthread_mutex_unlock(&s_init_lock);
    if (rc < 0) {
        if (!s_error[0])
            s_set_error("adapter %s: init failed (%d)", a->name, rc);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    a->initialized = true;
    pthread_mutex_unlock(&a->mu);
    bool source = a->info.kind == LGSP_ADAPTER_SOURCE, sink = a->info.kind == LGSP_ADAPTER_SINK;
    const char *problem = NULL;
    if (!source && !sink)
        problem = "declares no kind (LGSP_ADAPTER_SOURCE or LGSP_ADAPTER_SINK)";
    else if (source && !a->info.poll && !a->info.start)
        problem = "is a source without poll or start";
    else if (source && a->info.start && !a->info.stop)
        problem = "is a push source without stop";
    else if (sink && !a->info.deliver)
        problem = "is a sink without deliver";
    else if (sink && a->info.group && !util_valid_name(a->info.group, strlen(a->info.group)))
        problem = "names an invalid consumer group";
    if (problem) {
        s_set_error("adapter %s: plugin %s %s", a->name, a->path, problem);
        a->config_error = true;
        return -1;
    }
    if (sink && a->info.group && strcmp(a->info.group, a->group) != 0) {
        char *g = strdup(a->info.group);
        if (g) {
            free(a->group);
            a->group = g;
        }
    }
    return 0;
}

static void s_cleanup(lgsp_adapter_t *a)
{
    pthread_mutex_lock(&a->mu);
    bool was = a->initialized;
    a->initialized = false;     /* no describe() from now on */
    pthread_mutex_unlock(&a->mu);
    if (was && a->info.cleanup)
        a->info.cleanup(a->self, a);
    a->self = NULL;
}

/* A pull source: poll, and again at once while it says more is waiting. */
static int s_run_pull(lgsp_adapter_t *a, unsigned max_idle_polls, uint64_t deadline_ms)
{
    unsigned idle = 0;
    while (!h_stopping(a)) {
        int rc = a->info.poll(a->self, a);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue;
        if (max_idle_polls && ++idle >= max_idle_polls)
            return 0;
        uint64_t wait = a->interval_ms;
        if (deadline_ms) {
            uint64_t now = util_mono_ms();
            if (now >= deadline_ms)
                return 0;
            if (deadline_ms - now < wait)
                wait = deadline_ms - now;
        }
        if (!h_wait(a, wait))
            break;
    }
    return 0;
}

static int s_run_push(lgsp_adapter_t *a, unsigned max_ticks, uint64_t deadline_ms)
{
    if (a->info.start(a->self, a) < 0)
        return -1;
    int rc = 0;
    unsigned ticks = 0;
    for (;;) {
        uint64_t wait = a->interval_ms;
        if (deadline_ms) {
            uint64_t now = util_mono_ms();
            if (now >= deadline_ms)
                break;
            if (deadline_ms - now < wait)
                wait = deadline_ms - now;
        }
        if (a->info.tick) {
            int t = a->info.tick(a->self, a);
            if (t < 0) {
                rc = -1;
                break;
            }
            if (t > 0 && !h_stopping(a))
                continue;
            if (max_ticks && ++ticks >= max_ticks)
                break;
        }
        if (!h_wait(a, wait))
            break;
    }
    char keep[sizeof s_error];
    memcpy(keep, s_error, sizeof keep);
    a->info.stop(a->self, a);
    memcpy(s_error, keep, sizeof keep);
    return rc;
}

/* A sink: an ordinary consumer of the bus (lgspd's own client, '@name'). */
static int s_run_sink(lgsp_adapter_t *a, uint64_t deadline_ms)
{
    adapters_t *host = a->host;
    if (!host->bus_endpoint) {
        s_set_error("adapter %s: sinks need the bus (not available here)", a->name);
        a->config_error = true;
        return -1;
    }
    char cname[LGSP_MAX_NAME + 2], pub[41] = "", sec[41] = "", srv[41] = "", err[512];
    snprintf(cname, sizeof cname, "@%s", a->name);
    if (host->opts.credentials && host->opts.credentials(host->opts.credentials_arg, cname, pub, sec, srv) != 0) {
        s_set_error("adapter %s: cannot make client credentials", a->name);
        return -1;
    }
    lgsp_client_options_t o = {
        .endpoint = host->bus_endpoint, .name = cname,
        .server_key = srv[0] ? srv : NULL, .public_key = pub[0] ? pub : NULL,
        .secret_key = sec[0] ? sec : NULL, .timeout_ms = 5000,
    };
    lgsp_client_t *c = lgsp_client_new(&o, err, sizeof err);
    if (!c) {
        s_set_error("adapter %s: cannot connect to the bus: %s", a->name, err);
        return -1;
    }
    int rc = 0;
    if (lgsp_client_subscribe(c, a->topic, a->group, a->credit, "earliest") != 0) {
        s_set_error("adapter %s: cannot subscribe to %s: %s", a->name, a->topic, lgsp_client_error(c));
        lgsp_client_destroy(&c);
        return -1;
    }
    size_t cap = a->batch;
    lgsp_delivery_t *ds = calloc(cap, sizeof *ds);
    lgsp_message_t *ms = calloc(cap, sizeof *ms);
    lgsp_outcome_t *out = calloc(cap, sizeof *out);
    /* Deliveries are borrowed only until the next receive: keep copies. */
    char **bufs = calloc(cap, sizeof *bufs);
    if (!ds || !ms || !out || !bufs) {
        rc = -1;
        s_set_error("out of memory");
        goto done;
    }
    while (!h_stopping(a) && (!deadline_ms || util_mono_ms() < deadline_ms)) {
        size_t n = 0;
        int r = lgsp_client_receive(c, &ds[0], 200);
        if (r < 0) {
            s_set_error("adapter %s: %s", a->name, lgsp_client_error(c));
            rc = -1;
            break;
        }
        while (r == 1) {
            lgsp_delivery_t *d = &ds[n];
            size_t need = strlen(d->topic) + strlen(d->id) + d->key_len + d->headers_len + d->payload_len + 8;
            char *p = bufs[n] = realloc(bufs[n], need);
            if (!p) {
                rc = -1;
                break;
            }
            lgsp_message_t *m = &ms[n];
            memset(m, 0, sizeof *m);
            m->size = sizeof *m;
            m->offset = d->offset;
            m->attempt = d->attempt;
            m->time_us = d->time_us;
#define COPY(dst, src, len) do { memcpy(p, src, len); p[len] = 0; dst = p; p += (len) + 1; } while (0)
            COPY(m->topic, d->topic, strlen(d->topic));
            COPY(m->id, d->id, strlen(d->id));
            COPY(m->key, d->key, d->key_len);
            m->key_len = d->key_len;
            COPY(m->headers, d->headers, d->headers_len);
            m->headers_len = d->headers_len;
            COPY(m->payload, d->payload, d->payload_len);
            m->payload_len = d->payload_len;
#undef COPY
            d->topic = m->topic;
            d->group = a->group;
            d->id = m->id;
            n++;
            if (n == cap)
                break;
            r = lgsp_client_receive(c, &ds[n], 0);
            if (r < 0) {
                rc = -1;
                break;
            }
        }
        if (rc < 0)
            break;
        if (!n)
            continue;
        for (size_t i = 0; i < n; i++)
            out[i] = (lgsp_outcome_t) { .kind = LGSP_RETRY, .reason = "not decided by the sink" };
        a->delivering = c;
        a->touched_ms = util_mono_ms();
        int dr = a->info.deliver(a->self, a, ms, n, out);
        a->delivering = NULL;
        for (size_t i = 0; i < n; i++) {
            lgsp_outcome_kind_t k = dr < 0 ? LGSP_RETRY : out[i].kind;
            if (k == LGSP_DELIVERED) {
                lgsp_client_ack(c, &ds[i]);
                atomic_fetch_add(&a->delivered, 1);
            } else {
                out[i].reason[sizeof out[i].reason - 1] = 0;
                /* A refusal is final: dead-lettered at once with its reason,
                 * not retried through the topic's max_attempts. */
                if (k == LGSP_REJECTED)
                    lgsp_client_reject(c, &ds[i], out[i].reason);
                else
                    lgsp_client_nack(c, &ds[i], out[i].reason);
                atomic_fetch_add(k == LGSP_REJECTED ? &a->rejected : &a->retried, 1);
            }
        }
        if (dr < 0) {
            rc = -1;
            break;
        }
    }
    lgsp_client_flush(c, 2000);
done:
    for (size_t i = 0; bufs && i < cap; i++)
        free(bufs[i]);
    free(bufs);
    free(ds);
    free(ms);
    free(out);
    lgsp_client_destroy(&c);
    return rc;
}

static void s_failed(lgsp_adapter_t *a)
{
    atomic_fetch_add(&a->failures, 1);
    if (!s_error[0])
        s_set_error("adapter %s failed", a->name);
    s_remember_error(a, s_error);
    if (strstr(s_error, a->name))
        log_error("adapters", "%s", s_error);
    else
        log_error("adapters", "%s: %s", a->name, s_error);
}

static void *s_thread(void *arg)
{
    lgsp_adapter_t *a = arg;
    uint64_t backoff = a->backoff_ms;
    while (!h_stopping(a)) {
        atomic_store(&a->status, A_STARTING);
        s_error[0] = 0;
        int rc = s_init(a);
        if (rc == 0) {
            atomic_store(&a->status, A_RUNNING);
            log_info("adapters", "%s: plugin %s %s (%s, %s) running", a->name, a->info.plugin ? a->info.plugin : "?",
                     a->info.version ? a->info.version : "", a->info.kind == LGSP_ADAPTER_SINK ? "sink" : "source",
                     a->info.guarantee == LGSP_EXACTLY_ONCE ? "exactly once"
                     : a->info.guarantee == LGSP_AT_MOST_ONCE ? "at most once" : "at least once");
            uint64_t started = util_mono_ms();
            if (a->info.kind == LGSP_ADAPTER_SINK)
                rc = s_run_sink(a, 0);
            else if (a->info.poll)
                rc = s_run_pull(a, 0, 0);
            else
                rc = s_run_push(a, 0, 0);
            /* A run that lasted well beyond the backoff was a recovery. */
            if (util_mono_ms() - started > 2 * backoff + 10000)
                backoff = a->backoff_ms;
        }
        if (rc < 0)
            s_failed(a);
        s_cleanup(a);
        if (rc == 0)
            break;   /* stopped */
        if (a->config_error) {
            atomic_store(&a->status, A_FAILED_CONFIG);
            log_error("adapters", "%s: not restarted until the settings are fixed and lgspd restarts", a->name);
            while (h_wait(a, 60000))
                ;
            break;
        }
        atomic_store(&a->status, A_BACKOFF);
        atomic_fetch_add(&a->restarts, 1);
        log_warn("adapters", "%s: restarting in %" PRIu64 " ms", a->name, backoff);
        if (!h_wait(a, backoff))
            break;
        backoff = backoff * 2 > a->backoff_max_ms ? a->backoff_max_ms : backoff * 2;
    }
    atomic_store(&a->status, A_STOPPED);
    return NULL;
}

int adapters_start(adapters_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        lgsp_adapter_t *a = self->list[i];
        if (pthread_create(&a->thread, NULL, s_thread, a) != 0) {
            log_error("adapters", "%s: cannot start a thread", a->name);
            return -1;
        }
        a->thread_started = true;
    }
    return 0;
}

void adapters_request_stop(void *arg)
{
    adapters_t *self = arg;
    for (size_t i = 0; self && i < self->n; i++) {
        lgsp_adapter_t *a = self->list[i];
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
    }
}

void adapters_stop(adapters_t *self)
{
    if (!self)
        return;
    adapters_request_stop(self);
    for (size_t i = 0; i < self->n; i++) {
        lgsp_adapter_t *a = self->list[i];
        if (a->thread_started)
            pthread_join(a->thread, NULL);
        a->thread_started = false;
    }
}

void adapters_destroy(adapters_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    adapters_t *self = *self_p;
    adapters_stop(self);
    for (size_t i = 0; i < self->n; i++)
        s_adapter_free(self->list[i]);
    free(self->list);
    free(self->config_file);
    free(self->config_dir);
    free(self->work_root);
    free(self->bus_endpoint);
    free(self->search);
    free(self);
    *self_p = NULL;
}

int adapters_check(adapters_t *self, char **err)
{
    for (size_t i = 0; i < self->n; i++) {
        lgsp_adapter_t *a = self->list[i];
        s_error[0] = 0;
        if (s_init(a) != 0) {
            if (err)
                *err = strdup(s_error);
            s_cleanup(a);
            return -1;
        }
        s_cleanup(a);
    }
    return 0;
}

int adapters_run_one(adapters_t *self, const char *name, unsigned polls, double seconds)
{
    lgsp_adapter_t *a = NULL;
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->list[i]->name, name) == 0)
            a = self->list[i];
    if (!a) {
        log_error("adapters", "no enabled adapter named '%s'", name);
        return -1;
    }
    uint64_t deadline = seconds > 0 ? util_mono_ms() + (uint64_t) (seconds * 1000) : 0;
    int rc = s_init(a);
    if (rc == 0) {
        atomic_store(&a->status, A_RUNNING);
        if (a->info.kind == LGSP_ADAPTER_SINK)
            rc = s_run_sink(a, deadline ? deadline : util_mono_ms() + 5000);
        else if (a->info.poll)
            rc = s_run_pull(a, polls ? polls : (deadline ? 0 : 1), deadline);
        else
            rc = s_run_push(a, polls, deadline ? deadline : util_mono_ms() + 5000);
    }
    if (rc < 0)
        s_failed(a);
    s_cleanup(a);
    atomic_store(&a->status, A_STOPPED);
    return rc;
}

size_t adapters_count(const adapters_t *self) { return self ? self->n : 0; }

/* ---- metrics and health ---------------------------------------------- */

void adapters_metrics(void *arg, metrics_buf_t *b)
{
    adapters_t *self = arg;
    static const struct { const char *name, *type, *help; } fam[] = {
        { "lgsp_adapter_records_total", "counter", "Records an adapter stored (new in the journal)." },
        { "lgsp_adapter_duplicates_total", "counter", "Records an adapter committed that were already stored." },
        { "lgsp_adapter_quarantined_total", "counter", "Inputs an adapter put in quarantine." },
        { "lgsp_adapter_commits_total", "counter", "Batches an adapter committed." },
        { "lgsp_adapter_failed_commits_total", "counter", "Batches the journal refused." },
        { "lgsp_adapter_failures_total", "counter", "Times an adapter failed (and was restarted)." },
        { "lgsp_adapter_delivered_total", "counter", "Messages a sink delivered." },
        { "lgsp_adapter_retried_total", "counter", "Messages a sink asked to retry." },
        { "lgsp_adapter_rejected_total", "counter", "Messages a sink rejected." },
        { "lgsp_adapter_up", "gauge", "1 while the adapter runs, 0 while it is failed or backing off." },
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        metrics_family(b, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < self->n; i++) {
            lgsp_adapter_t *a = self->list[i];
            uint64_t v[] = { a->records, a->duplicates, a->quarantined, a->commits, a->failed_commits,
                             a->failures, a->delivered, a->retried, a->rejected,
                             atomic_load(&a->status) == A_RUNNING };
            metrics_sample(b, fam[f].name, (const char *[]) { "adapter", a->name, NULL }, (double) v[f]);
        }
    }
    /* Plugins' own counters: one family per name, whichever adapters have it. */
    for (size_t i = 0; i < self->n; i++) {
        lgsp_adapter_t *a = self->list[i];
        size_t nc = atomic_load(&a->n_counters);
        for (size_t k = 0; k < nc; k++) {
            const char *cn = a->counters[k].name;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++) {
                size_t njc = atomic_load(&self->list[j]->n_counters);
                for (size_t l = 0; l < njc; l++)
                    seen |= strcmp(self->list[j]->counters[l].name, cn) == 0;
            }
            if (seen)
                continue;
            char fname[96];
            snprintf(fname, sizeof fname, "lgsp_adapter_%s_total", cn);
            metrics_family(b, fname, "counter", "A counter of the adapters' plugins.");
            for (size_t j = i; j < self->n; j++) {
                lgsp_adapter_t *aj = self->list[j];
                size_t njc = atomic_load(&aj->n_counters);
                for (size_t l = 0; l < njc; l++)
                    if (strcmp(aj->counters[l].name, cn) == 0)
                        metrics_sample(b, fname, (const char *[]) { "adapter", aj->name, NULL },
                                       (double) atomic_load(&aj->counters[l].value));
            }
        }
    }
}

bool adapters_health(void *arg, json_t *health)
{
    adapters_t *self = arg;
    bool ok = true;
    json_t *list = json_array();
    for (size_t i = 0; i < self->n; i++) {
        lgsp_adapter_t *a = self->list[i];
        int st = atomic_load(&a->status);
        if (st == A_BACKOFF || st == A_FAILED_CONFIG)
            ok = false;
        pthread_mutex_lock(&a->mu);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
            "name", a->name, "plugin", a->plugin, "topic", a->topic,
            "status", s_status_names[st], "records", (json_int_t) a->records,
            "quarantined", (json_int_t) a->quarantined, "failures", (json_int_t) a->failures,
            "last_error", a->last_error);
        if (o && a->initialized)
            json_object_set_new(o, "guarantee", json_string(
                a->info.guarantee == LGSP_EXACTLY_ONCE ? "exactly once"
                : a->info.guarantee == LGSP_AT_MOST_ONCE ? "at most once" : "at least once"));
        /* describe() runs under the lock that cleanup waits for, so self
         * cannot be freed under it. */
        if (o && a->initialized && a->info.describe && st == A_RUNNING) {
            char desc[256] = "";
            a->info.describe(a->self, desc, sizeof desc);
            desc[sizeof desc - 1] = 0;
            json_t *dv = json_string(desc);
            if (dv)
                json_object_set_new(o, "detail", dv);
        }
        pthread_mutex_unlock(&a->mu);
        if (o)
            json_array_append_new(list, o);
    }
    json_object_set_new(health, "adapters", list);
    return ok;
}
