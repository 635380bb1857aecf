/* pullsrc.c — the poll loop of paged incremental pull sources: pages into
 * batches, state committed with them, quarantine of what cannot be a
 * record (see pullsrc.h). */
#include "pullsrc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A record too large for any batch is quarantined with this much of it. */
#define PULLSRC_QUARANTINE_MAX ((size_t)1 << 20)

struct pullsrc {
    const lgsp_host_api_t *host;
    lgsp_adapter_t        *a;
    pullsrc_conf_t         conf;
    pullsrc_ops_t          ops;
    void                  *impl;
    incsync_t              st;
    char                  *committed;   /* the state as last committed (or loaded) */
    bool                   dirty;       /* st may differ from what is committed */
    bool                   warned_wm;
    char                   err[1024];
    /* describe() runs on another thread than poll(): it reads this line,
     * rewritten under the mutex whenever a state is stored or loaded. */
    pthread_mutex_t        mu;
    char                   desc[256];
};

static void s_describe_update(pullsrc_t *self)
{
    char line[sizeof self->desc];
    const incsync_t *st = &self->st;
    if (st->in_pass)
        snprintf(line, sizeof line, "watermark %s; pass since %s at page %ld",
                 st->watermark ? st->watermark : "(none)", st->since ? st->since : "(all)", st->page);
    else
        snprintf(line, sizeof line, "watermark %s", st->watermark ? st->watermark : "(none)");
    pthread_mutex_lock(&self->mu);
    memcpy(self->desc, line, sizeof line);
    pthread_mutex_unlock(&self->mu);
}

static int s_load(pullsrc_t *self)
{
    void *bytes = NULL;
    size_t len = 0;
    int rc = self->host->state_get(self->a, &bytes, &len);
    if (rc < 0 && rc != LGSP_AE_NOTFOUND) {
        self->host->log(self->a, LGSP_LOG_ERROR, "reading the state: %s",
                        self->host->last_error(self->a));
        return -1;
    }
    incsync_clear(&self->st);
    char err[256];
    rc = incsync_load(&self->st, bytes, rc < 0 ? 0 : len, err, sizeof err);
    free(self->committed);
    self->committed = bytes && len ? strndup(bytes, len) : NULL;
    if (bytes)
        self->host->free_mem(bytes);
    if (rc < 0) {
        self->host->log(self->a, LGSP_LOG_ERROR, "%s", err);
        return -1;
    }
    self->dirty = false;
    s_describe_update(self);
    return 0;
}

pullsrc_t *pullsrc_new(const lgsp_host_api_t *host, lgsp_adapter_t *a, const pullsrc_conf_t *conf,
                       const pullsrc_ops_t *ops, void *impl)
{
    pullsrc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->host = host;
    self->a = a;
    self->conf = *conf;
    if (self->conf.pages_per_poll < 1)
        self->conf.pages_per_poll = 1;
    self->ops = *ops;
    self->impl = impl;
    pthread_mutex_init(&self->mu, NULL);
    if (s_load(self) < 0) {
        pullsrc_destroy(&self);
        return NULL;
    }
    if (self->st.in_pass)
        host->log(a, LGSP_LOG_INFO, "resuming: watermark %s, the pass since %s at page %ld item %ld",
                  self->st.watermark ? self->st.watermark : "(none)",
                  self->st.since ? self->st.since : "(all)", self->st.page, self->st.item + 1);
    else if (self->st.watermark)
        host->log(a, LGSP_LOG_INFO, "resuming: watermark %s", self->st.watermark);
    return self;
}

void pullsrc_destroy(pullsrc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pullsrc_t *self = *self_p;
    incsync_clear(&self->st);
    free(self->committed);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

/* Commits the batch with the current state (frees the batch). An empty
 * batch whose state is what is already committed is only discarded. */
static int s_commit(pullsrc_t *self, lgsp_batch_t *b, long page)
{
    size_t len = 0;
    char *state = incsync_dump(&self->st, &len);
    if (!state) {
        self->host->batch_discard(b);
        self->host->log(self->a, LGSP_LOG_ERROR, "out of memory");
        return LGSP_AE_NOMEM;
    }
    if (self->host->batch_count(b) == 0 && self->committed && !strcmp(self->committed, state)) {
        self->host->batch_discard(b);
        free(state);
        self->dirty = false;
        return 0;
    }
    lgsp_commit_result_t res = {.size = sizeof res};
    int rc = self->host->batch_commit(b, state, len, &res);
    if (rc < 0) {
        free(state);
        self->host->log(self->a, LGSP_LOG_ERROR, "commit: %s", self->host->last_error(self->a));
        return rc;
    }
    free(self->committed);
    self->committed = state;
    self->dirty = false;
    s_describe_update(self);
    self->host->log(self->a, LGSP_LOG_DEBUG, "page %ld: %llu stored, %llu duplicates, %llu quarantined",
                    page, (unsigned long long)res.stored,
                    (unsigned long long)res.duplicates, (unsigned long long)res.quarantined);
    return 0;
}

/* Adds one item; on a full batch commits what is in it (state: `i` items of
 * the page done) and adds the item to a fresh one. */
static int s_add(pullsrc_t *self, lgsp_batch_t **b, long i, const pullsrc_item_t *it,
                 const char *position)
{
    for (int round = 0; round < 2; round++) {
        int rc;
        if (it->reason) {
            rc = self->host->batch_quarantine(*b, position, it->reason, it->payload, it->payload_len);
        } else {
            lgsp_record_t rec = {
                .size = sizeof rec,
                .source_id = it->source_id,
                .content_type = self->conf.content_type,
                .payload = it->payload,
                .payload_len = it->payload_len,
                .position = position,
            };
            rc = self->host->batch_add(*b, &rec);
            if (rc == LGSP_AE_INVALID) {
                /* The host refused this record (e.g. an id it cannot take):
                 * it still must not vanish. */
                char why[512];
                snprintf(why, sizeof why, "refused as a record: %s", self->host->last_error(self->a));
                rc = self->host->batch_quarantine(*b, position, why, it->payload, it->payload_len);
            }
        }
        if (rc != LGSP_AE_TOO_BIG)
            return rc < 0 ? rc : 0;
        if (self->host->batch_count(*b) == 0) {
            /* Too big for any batch: keep its beginning in the quarantine. */
            char why[256];
            snprintf(why, sizeof why, "%zu bytes: larger than a batch (first %zu bytes kept)",
                     it->payload_len, PULLSRC_QUARANTINE_MAX);
            size_t keep = it->payload_len < PULLSRC_QUARANTINE_MAX ? it->payload_len
                                                                   : PULLSRC_QUARANTINE_MAX;
            rc = self->host->batch_quarantine(*b, position, why, it->payload, keep);
            return rc < 0 ? rc : 0;
        }
        self->st.item = i;
        rc = s_commit(self, *b, self->st.page);
        *b = self->host->batch_new(self->a);
        if (rc < 0)
            return rc;
        if (!*b)
            return LGSP_AE_NOMEM;
    }
    return LGSP_AE_TOO_BIG;
}

/* Quarantines an answer that cannot be read (once per distinct answer). */
static int s_malformed(pullsrc_t *self, const pullsrc_page_t *pg)
{
    char digest[17], position[64];
    incsync_digest(pg->bad, pg->bad_len, digest);
    snprintf(position, sizeof position, "page %ld", self->st.page);
    self->host->log(self->a, LGSP_LOG_ERROR, "%s: %s", position, pg->reason);
    if (!strcmp(digest, self->st.bad))
        return -1;                   /* quarantined by an earlier try */
    lgsp_batch_t *b = self->host->batch_new(self->a);
    if (!b)
        return -1;
    int rc = self->host->batch_quarantine(b, position, pg->reason, pg->bad,
                                          pg->bad_len < PULLSRC_QUARANTINE_MAX * 16
                                              ? pg->bad_len : PULLSRC_QUARANTINE_MAX * 16);
    if (rc < 0) {
        self->host->log(self->a, LGSP_LOG_ERROR, "quarantine: %s", self->host->last_error(self->a));
        self->host->batch_discard(b);
        return -1;
    }
    strcpy(self->st.bad, digest);
    s_commit(self, b, self->st.page);
    return -1;
}

/* One page: fetch, items into batches, commit with the new state.
 * Returns 0 or < 0 (failed), LGSP_AE_STOPPING when stopping. */
static int s_page(pullsrc_t *self)
{
    if (incsync_begin(&self->st, &self->conf.sync) < 0)
        return LGSP_AE_NOMEM;
    self->dirty = true;
    char since[128];
    if (incsync_format_since(&self->conf.sync, self->st.since, since, sizeof since) < 0) {
        self->host->log(self->a, LGSP_LOG_ERROR, "since '%s' is too long", self->st.since);
        return -1;
    }
    pullsrc_page_t pg = {.total_pages = -1, .total = -1};
    self->err[0] = '\0';
    int rc = self->ops.fetch(self->impl, since, self->st.page, &pg, self->err, sizeof self->err);
    if (rc == PULLSRC_STOPPING)
        return LGSP_AE_STOPPING;
    if (rc == PULLSRC_FAILED) {
        self->host->log(self->a, LGSP_LOG_ERROR, "page %ld: %s", self->st.page,
                        self->err[0] ? self->err : "failed");
        self->ops.release(self->impl);
        return -1;
    }
    if (rc == PULLSRC_MALFORMED) {
        rc = s_malformed(self, &pg);
        self->ops.release(self->impl);
        return rc;
    }

    /* The page count of this answer: stated, or from the record count. */
    long pages = pg.total_pages >= 0 ? pg.total_pages
               : pg.total >= 0 && self->conf.page_size > 0
                   ? (pg.total + self->conf.page_size - 1) / self->conf.page_size : -1;
    bool counts = incsync_counts(&self->st, &self->conf.sync, pages);
    lgsp_batch_t *b = self->host->batch_new(self->a);
    if (!b) {
        self->ops.release(self->impl);
        return LGSP_AE_NOMEM;
    }
    for (long i = self->st.item; i < pg.count; i++) {
        if (self->host->stopping(self->a)) {
            self->host->batch_discard(b);
            self->ops.release(self->impl);
            return LGSP_AE_STOPPING;
        }
        pullsrc_item_t it = {0};
        char position[64];
        snprintf(position, sizeof position, "page %ld item %ld", self->st.page, i + 1);
        rc = self->ops.item(self->impl, i, &it);
        if (rc == 0 && !it.reason && (!it.source_id || !*it.source_id))
            it.reason = "no record id";
        char qd[17] = "";
        if (rc == 0 && it.reason && self->st.phase != INCSYNC_ASCENDING)
            incsync_digest(it.payload, it.payload_len, qd);
        if (rc == 0 && !(qd[0] && self->st.phase == INCSYNC_FINAL && incsync_q_has(&self->st, qd))) {
            rc = s_add(self, &b, i, &it, position);
            /* page 1 is read twice: its second read quarantines only what is new */
            if (rc == 0 && qd[0] && self->st.phase == INCSYNC_FIRST && incsync_q_add(&self->st, qd) < 0)
                rc = LGSP_AE_NOMEM;
        }
        if (rc < 0) {
            if (b)
                self->host->batch_discard(b);
            self->ops.release(self->impl);
            self->host->log(self->a, LGSP_LOG_ERROR, "%s: %s", position, self->host->last_error(self->a));
            return rc;
        }
        if (it.reason || !counts)
            continue;
        if (!incsync_see(&self->st, &self->conf.sync, it.watermark)) {
            self->host->count(self->a, "watermark_unreadable", 1);
            if (!self->warned_wm)
                self->host->log(self->a, LGSP_LOG_WARN,
                                "%s: no readable watermark value (%s); published, but it does "
                                "not move the watermark (warned once)", position,
                                it.watermark ? "not of watermark_type" : "missing");
            self->warned_wm = true;
        }
    }
    /* The last page of the pass: the source said how many pages or records
     * there are, or (when it does not) the page came back short. */
    long nth = self->st.page - self->conf.sync.first_page + 1;
    bool last = pg.count == 0
                || (pg.total_pages >= 0 && nth >= pg.total_pages)
                || (pg.total_pages < 0 && pg.total >= 0 && nth * self->conf.page_size >= pg.total)
                || (pg.total_pages < 0 && pg.total < 0 && pg.count < self->conf.page_size);
    self->ops.release(self->impl);
    long page = self->st.page;
    incsync_page_done(&self->st, &self->conf.sync, last, pages);
    self->st.bad[0] = '\0';
    self->host->count(self->a, "pages", 1);
    return s_commit(self, b, page);
}

int pullsrc_poll(pullsrc_t *self)
{
    if (self->dirty && s_load(self) < 0)     /* a page was abandoned: back to what is stored */
        return -1;
    for (long n = 0; n < self->conf.pages_per_poll; n++) {
        if (self->host->stopping(self->a))
            return 0;
        int rc = s_page(self);
        if (rc == LGSP_AE_STOPPING)
            return 0;
        if (rc < 0)
            return rc;
        if (!self->st.in_pass)
            return 0;
    }
    return 1;
}

void pullsrc_describe(pullsrc_t *self, char *buf, size_t len)
{
    pthread_mutex_lock(&self->mu);
    snprintf(buf, len, "%s", self->desc);
    pthread_mutex_unlock(&self->mu);
}
