/* testhost.c — the in-memory host of the adapter unit tests (testhost.h). */
#include "testhost.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lgsp_batch {
    lgsp_adapter_t *a;
    th_record_t    *recs;
    size_t          n;
    size_t          nrecords;      /* records, not quarantined input */
};

static char *s_memdup(const void *p, size_t len)
{
    char *d = malloc(len + 1);
    if (len)
        memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

static char *s_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void s_rec_free(th_record_t *r)
{
    free(r->source_id);
    free(r->position);
    free(r->content_type);
    free(r->reason);
    free(r->payload);
}

static const char *th_name(lgsp_adapter_t *a)
{
    return "test";
}

static const char *th_topic(lgsp_adapter_t *a)
{
    return "raw.test";
}

static void th_log(lgsp_adapter_t *a, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level == LGSP_LOG_WARN)
        a->warnings++;
    size_t used = strlen(a->log);
    if (used + strlen(line) + 2 < sizeof a->log) {
        strcat(a->log, line);
        strcat(a->log, "\n");
    }
    if (getenv("TESTHOST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", level, line);
}

static const char *th_setting(lgsp_adapter_t *a, const char *path)
{
    for (size_t i = 0; a->settings && a->settings[i]; i += 2)
        if (!strcmp(a->settings[i], path))
            return a->settings[i + 1];
    return NULL;
}

static const char *th_setting_json(lgsp_adapter_t *a)
{
    return a->settings_json ? a->settings_json : "{}";
}

static int th_setting_error(lgsp_adapter_t *a, const char *path, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(a->error, sizeof a->error, "setting %s: %s", path, what);
    return LGSP_AE_INVALID;
}

static int th_state_get(lgsp_adapter_t *a, void **state, size_t *len)
{
    *state = a->state ? s_memdup(a->state, a->state_len) : NULL;
    *len = a->state ? a->state_len : 0;
    return 0;
}

static void th_free_mem(void *p)
{
    free(p);
}

static lgsp_batch_t *th_batch_new(lgsp_adapter_t *a)
{
    lgsp_batch_t *b = calloc(1, sizeof *b);
    b->a = a;
    return b;
}

static th_record_t *s_push(lgsp_batch_t *b)
{
    b->recs = realloc(b->recs, (b->n + 1) * sizeof *b->recs);
    th_record_t *r = &b->recs[b->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static int th_batch_add(lgsp_batch_t *b, const lgsp_record_t *rec)
{
    size_t limit = b->a->batch_limit ? b->a->batch_limit : 1000;
    if (!rec->source_id || !*rec->source_id) {
        snprintf(b->a->error, sizeof b->a->error, "a record without a source id");
        return LGSP_AE_INVALID;
    }
    if (b->nrecords >= limit) {
        snprintf(b->a->error, sizeof b->a->error, "batch full");
        return LGSP_AE_TOO_BIG;
    }
    th_record_t *r = s_push(b);
    r->source_id = strdup(rec->source_id);
    r->position = s_strdup0(rec->position);
    r->content_type = s_strdup0(rec->content_type);
    r->payload = s_memdup(rec->payload, rec->payload_len);
    r->payload_len = rec->payload_len;
    b->nrecords++;
    return 0;
}

static int th_batch_quarantine(lgsp_batch_t *b, const char *position, const char *reason,
                               const void *original, size_t len)
{
    th_record_t *r = s_push(b);
    r->quarantined = true;
    r->position = s_strdup0(position);
    r->reason = s_strdup0(reason);
    r->payload = s_memdup(original, len);
    r->payload_len = len;
    return 0;
}

static size_t th_batch_count(const lgsp_batch_t *b)
{
    return b->nrecords;
}

static void th_batch_discard(lgsp_batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        s_rec_free(&b->recs[i]);
    free(b->recs);
    free(b);
}

static int th_batch_commit(lgsp_batch_t *b, const void *state, size_t state_len,
                           lgsp_commit_result_t *res)
{
    lgsp_adapter_t *a = b->a;
    a->commit_calls++;
    if (a->fail_commit > 0 || a->commit_calls == a->fail_on_commit) {
        if (a->fail_commit > 0)
            a->fail_commit--;
        snprintf(a->error, sizeof a->error, "journal: disk full (test)");
        th_batch_discard(b);
        return LGSP_AE_JOURNAL;
    }
    uint64_t stored = 0, dups = 0, quar = 0;
    for (size_t i = 0; i < b->n; i++) {
        th_record_t *r = &b->recs[i];
        if (r->quarantined) {
            quar++;
        } else {
            /* The host's rule: same source id and same payload = the same message. */
            bool dup = false;
            for (size_t j = 0; j < a->nrecs && !dup; j++)
                dup = !a->recs[j].quarantined && !strcmp(a->recs[j].source_id, r->source_id)
                      && a->recs[j].payload_len == r->payload_len
                      && !memcmp(a->recs[j].payload, r->payload, r->payload_len);
            if (dup) {
                dups++;
                a->dups++;
                s_rec_free(r);
                continue;
            }
            stored++;
        }
        a->recs = realloc(a->recs, (a->nrecs + 1) * sizeof *a->recs);
        a->recs[a->nrecs++] = *r;
    }
    free(b->recs);
    free(b);
    if (state) {
        free(a->state);
        a->state = s_memdup(state, state_len);
        a->state_len = state_len;
    }
    a->commits++;
    if (res && res->size >= sizeof *res) {
        res->stored = stored;
        res->duplicates = dups;
        res->quarantined = quar;
    }
    return 0;
}

static bool th_wait(lgsp_adapter_t *a, uint64_t ms)
{
    a->waited_ms += ms;
    a->waits++;
    if (a->stop_after_waits && a->waits >= a->stop_after_waits)
        a->stop = true;
    if (a->real_sleep && !a->stop) {
        uint64_t s = ms > 2000 ? 2000 : ms;
        struct timespec ts = {.tv_sec = (time_t)(s / 1000), .tv_nsec = (long)(s % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !a->stop;
}

static bool th_stopping(lgsp_adapter_t *a)
{
    return a->stop;
}

static void th_count(lgsp_adapter_t *a, const char *name, uint64_t n)
{
    for (size_t i = 0; i < sizeof a->counters / sizeof a->counters[0]; i++) {
        if (!a->counters[i].name[0])
            snprintf(a->counters[i].name, sizeof a->counters[i].name, "%s", name);
        if (!strcmp(a->counters[i].name, name)) {
            a->counters[i].n += n;
            return;
        }
    }
}

static const char *th_last_error(lgsp_adapter_t *a)
{
    return a->error;
}

static const char *th_work_dir(lgsp_adapter_t *a)
{
    return "/tmp";
}

const lgsp_host_api_t th_host = {
    .size = sizeof(lgsp_host_api_t),
    .abi_version = LGSP_ADAPTER_ABI_VERSION,
    .name = th_name,
    .topic = th_topic,
    .log = th_log,
    .setting = th_setting,
    .setting_json = th_setting_json,
    .setting_error = th_setting_error,
    .state_get = th_state_get,
    .free_mem = th_free_mem,
    .batch_new = th_batch_new,
    .batch_add = th_batch_add,
    .batch_quarantine = th_batch_quarantine,
    .batch_count = th_batch_count,
    .batch_commit = th_batch_commit,
    .batch_discard = th_batch_discard,
    .wait = th_wait,
    .stopping = th_stopping,
    .count = th_count,
    .last_error = th_last_error,
    .work_dir = th_work_dir,
};

void th_reset(lgsp_adapter_t *a)
{
    for (size_t i = 0; i < a->nrecs; i++)
        s_rec_free(&a->recs[i]);
    free(a->recs);
    a->recs = NULL;
    a->nrecs = 0;
    a->commits = 0;
    a->waited_ms = 0;
    a->waits = 0;
    a->stop = false;
    a->real_sleep = false;
    a->stop_after_waits = 0;
    a->fail_commit = 0;
    a->fail_on_commit = 0;
    a->commit_calls = 0;
    a->dups = 0;
    a->error[0] = '\0';
    a->log[0] = '\0';
    a->warnings = 0;
    memset(a->counters, 0, sizeof a->counters);
}

void th_free(lgsp_adapter_t *a)
{
    th_reset(a);
    free(a->state);
    a->state = NULL;
    a->state_len = 0;
}

uint64_t th_counter(lgsp_adapter_t *a, const char *name)
{
    for (size_t i = 0; i < sizeof a->counters / sizeof a->counters[0]; i++)
        if (!strcmp(a->counters[i].name, name))
            return a->counters[i].n;
    return 0;
}

size_t th_count_id(lgsp_adapter_t *a, const char *source_id)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nrecs; i++)
        n += !a->recs[i].quarantined && !strcmp(a->recs[i].source_id, source_id);
    return n;
}

size_t th_quarantined(lgsp_adapter_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nrecs; i++)
        n += a->recs[i].quarantined;
    return n;
}
