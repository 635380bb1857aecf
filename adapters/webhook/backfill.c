/* backfill.c — repairs what the pushes missed (lgspd down, events the
 * sender parked) from the sender's paged REST API, e.g. dn-civil's
 *
 *   GET <url>?registered_from=<watermark>&page=P&page_size=S
 *       Authorization: Bearer <token>
 *   {"page":1,"total_pages":3,"events":[{...},...]}   (in registered_at order)
 *
 * Each event is published with the same message id as its push (the event
 * id), so an event that was pushed too is a duplicate and is not stored
 * twice.
 *
 * The watermark. The list is in order of the order field (registered_at),
 * but an event can appear in it late: the sender lists an event once it
 * has tried to push it, and some events are pushed after newer ones (the
 * sender's "out of order" deliveries, 1-25 events late). A watermark at the
 * newest event read would skip such an event if it appeared while lgspd was
 * down. So the committed watermark trails the newest event by `overlap`
 * events: the order value of the event `overlap` places before the last one
 * read. Every scan re-reads those (cheap: they are duplicates), and a late
 * event is found as long as it is at most `overlap` events late.
 *
 * A scan walks the pages from the watermark until a short page, one page
 * per tick (the tick returns 1 while pages remain, so the host calls it
 * again at once), committing each page's records together with the new
 * watermark. Events added to the list while a scan runs can shift it by
 * a few places: an event is then read twice (harmless), never skipped. A
 * failing page is retried a few times, then the tick returns 0 and the
 * next tick goes on from the same page: a broken backfill API never stops
 * the ingress. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

#define BF_MAX_RESPONSE (64u << 20)   /* a page larger than this is refused */

typedef struct {
    char         *p;
    size_t        len, cap;
    bool          too_big;
} s_buf_t;

static size_t s_write(char *data, size_t sz, size_t n, void *u)
{
    s_buf_t *b = u;
    size_t add = sz * n;
    if (b->len + add + 1 > BF_MAX_RESPONSE) {
        b->too_big = true;
        return 0;
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return 0;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, add);
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

/* Aborts a transfer when lgspd stops. */
static int s_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    webhook_t *self = u;
    return self->host->stopping(self->a) ? 1 : 0;
}

static void s_curl_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* GETs url into b. Returns the HTTP status, or -1 (transport error, in err). */
static long s_get(webhook_t *self, const char *url, s_buf_t *b, char *err, size_t errsz)
{
    CURL *c = self->curl;
    curl_easy_reset(c);
    char auth[512];
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (self->bf_token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", self->bf_token);
        h = curl_slist_append(h, auth);
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)self->bf_timeout_ms);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lgsp-adapter-webhook/1");
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    long status = -1;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    } else {
        snprintf(err, errsz, "%s", b->too_big ? "the page is larger than 64 MiB"
                                   : *ebuf     ? ebuf
                                               : curl_easy_strerror(rc));
    }
    return status;
}

/* ---- the watermark ---------------------------------------------------------- */

static void s_read_state(webhook_t *self)
{
    void *st = NULL;
    size_t len = 0;
    free(self->from);
    self->from = NULL;
    if (self->host->state_get(self->a, &st, &len) == 0 && st && len) {
        json_t *o = json_loadb(st, len, 0, NULL);
        const char *f = json_string_value(json_object_get(o, "from"));
        if (f)
            self->from = strdup(f);
        else
            self->host->log(self->a, LGSP_LOG_WARN, "backfill: the stored state is not "
                                                    "{\"from\":...}: starting from the beginning");
        json_decref(o);
    }
    if (st)
        self->host->free_mem(st);
    if (!self->from && self->bf_start)
        self->from = strdup(self->bf_start);
    self->state_read = true;
}

static unsigned s_ring_size(const webhook_t *self)
{
    return self->bf_overlap + 1;
}

/* The watermark after scan_seen events: the order value `overlap` events
 * before the last one read, or the scan's start while fewer were read. */
static const char *s_watermark(const webhook_t *self)
{
    if (self->scan_seen <= self->bf_overlap)
        return self->scan_from;
    return self->ring[(self->scan_seen - 1 - self->bf_overlap) % s_ring_size(self)];
}

static void s_ring_push(webhook_t *self, const char *value)
{
    unsigned slot = (unsigned)(self->scan_seen % s_ring_size(self));
    free(self->ring[slot]);
    self->ring[slot] = strdup(value);
    self->scan_seen++;
}

static void s_scan_end(webhook_t *self)
{
    self->scanning = false;
    free(self->scan_from);
    self->scan_from = NULL;
    if (self->ring)
        for (unsigned i = 0; i < s_ring_size(self); i++) {
            free(self->ring[i]);
            self->ring[i] = NULL;
        }
}

/* Commits b with the current watermark. 0, or < 0 (logged). */
static int s_commit(webhook_t *self, lgsp_batch_t *b, uint64_t *stored, uint64_t *dups)
{
    const char *wm = s_watermark(self);
    json_t *o = wm ? json_pack("{s:s}", "from", wm) : json_object();
    char *state = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    lgsp_commit_result_t res = { .size = sizeof res };
    int rc = state ? self->host->batch_commit(b, state, strlen(state), &res)
                   : (self->host->batch_discard(b), LGSP_AE_NOMEM);
    if (rc < 0) {
        self->host->log(self->a, LGSP_LOG_WARN, "backfill: the journal refused a page (%s): "
                                                "the scan starts again at the next tick",
                        self->host->last_error(self->a));
        free(state);
        return rc;
    }
    if (wm && (!self->from || strcmp(self->from, wm))) {
        free(self->from);
        self->from = strdup(wm);
    }
    free(state);
    *stored += res.stored;
    *dups += res.duplicates;
    return 0;
}

/* ---- one page ------------------------------------------------------------------ */

static char *s_page_url(webhook_t *self)
{
    CURL *c = self->curl;
    char *from = self->scan_from ? curl_easy_escape(c, self->scan_from, 0) : NULL;
    size_t n = strlen(self->bf_url) + strlen(self->bf_page_param) + strlen(self->bf_size_param)
             + strlen(self->bf_from_param) + (from ? strlen(from) : 0) + 64;
    char *url = malloc(n);
    if (url) {
        int at = snprintf(url, n, "%s%c%s=%u&%s=%u", self->bf_url,
                          strchr(self->bf_url, '?') ? '&' : '?', self->bf_page_param,
                          self->scan_page, self->bf_size_param, self->bf_page_size);
        if (from)
            snprintf(url + at, n - (size_t)at, "&%s=%s", self->bf_from_param, from);
    }
    curl_free(from);
    return url;
}

/* Fetches the scan's current page, with retries (transport errors, 408,
 * 429, 5xx). Returns the parsed page, or NULL (logged) when it could not be
 * had this tick. */
static json_t *s_fetch_page(webhook_t *self)
{
    char err[CURL_ERROR_SIZE + 128] = "";
    uint64_t delay = 1000;
    char *url = s_page_url(self);
    if (!url)
        return NULL;
    json_t *page = NULL;
    for (unsigned attempt = 1;; attempt++) {
        s_buf_t b = { 0 };
        long status = s_get(self, url, &b, err, sizeof err);
        bool again = status < 0 || status == 408 || status == 429 || status >= 500;
        if (status >= 200 && status < 300) {
            json_error_t jerr;
            page = json_loadb(b.p ? b.p : "", b.len, 0, &jerr);
            if (!page)
                snprintf(err, sizeof err, "page %u is not JSON: %s (line %d)", self->scan_page,
                         jerr.text, jerr.line);
            else if (!json_is_array(wh_json_path(page, self->bf_items))) {
                snprintf(err, sizeof err, "page %u has no array '%s'", self->scan_page,
                         self->bf_items);
                json_decref(page);
                page = NULL;
            }
        } else if (status > 0) {
            snprintf(err, sizeof err, "HTTP %ld%s", status,
                     status == 401 || status == 403 ? " (check backfill.token)" : "");
        }
        free(b.p);
        if (page || !again || attempt >= self->bf_retries || self->host->stopping(self->a))
            break;
        if (!self->host->wait(self->a, delay))
            break;
        delay = delay * 2 > 30000 ? 30000 : delay * 2;
    }
    free(url);
    if (!page && !self->host->stopping(self->a)) {
        atomic_fetch_add(&self->n_backfill_errors, 1);
        self->host->count(self->a, "backfill_errors", 1);
        /* a warning when it starts failing, not at every tick while it does */
        self->host->log(self->a, self->bf_failing ? LGSP_LOG_DEBUG : LGSP_LOG_WARN,
                        "backfill: %s (%s): trying again at every tick", err, self->bf_url);
        self->bf_failing = true;
    } else if (page && self->bf_failing) {
        self->host->log(self->a, LGSP_LOG_INFO, "backfill: %s answers again", self->bf_url);
        self->bf_failing = false;
    }
    return page;
}

int wh_backfill_tick(webhook_t *self)
{
    const lgsp_host_api_t *h = self->host;
    if (!self->bf_url)
        return 0;
    if (!self->curl) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, s_curl_once);
        if (!(self->curl = curl_easy_init()))
            return 0;
    }
    if (!self->ring && !(self->ring = calloc(s_ring_size(self), sizeof *self->ring)))
        return LGSP_AE_NOMEM;
    if (!self->state_read)
        s_read_state(self);
    if (!self->scanning) {
        self->scanning = true;
        self->scan_from = self->from ? strdup(self->from) : NULL;
        self->scan_page = 1;
        self->scan_seen = 0;
        self->scan_stored = self->scan_dups = 0;
    }
    json_t *page = s_fetch_page(self);
    if (!page)
        return 0;
    json_t *items = wh_json_path(page, self->bf_items);
    size_t n = json_array_size(items);
    uint64_t pst = 0, pdp = 0;        /* this page: new, already stored */
    lgsp_batch_t *b = n ? h->batch_new(self->a) : NULL;
    int rc = 0;
    if (n && !b) {
        rc = LGSP_AE_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_array_get(items, i);
        char id[WH_ID_MAX + 1], order[256], type[128] = "", pos[96];
        char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (!text) {
            rc = LGSP_AE_NOMEM;
            goto fail;
        }
        snprintf(pos, sizeof pos, "backfill page %u item %zu", self->scan_page, i + 1);
        const char *bad = NULL;
        if (!json_is_object(ev))
            bad = "not a JSON object";
        else if (wh_json_text(ev, self->id_field, id, sizeof id) || !wh_id_valid(id))
            bad = "no event id (1 to 128 printable ASCII characters)";
        else if (wh_json_text(ev, self->bf_order_field, order, sizeof order))
            bad = "no order field";
        for (int tries = 0; tries < 2; tries++) {
            if (bad) {
                char why[192];
                snprintf(why, sizeof why, "%s (backfill, field '%s' / '%s')", bad, self->id_field,
                         self->bf_order_field);
                rc = h->batch_quarantine(b, pos, why, text, strlen(text));
            } else {
                if (self->type_field)
                    wh_json_text(ev, self->type_field, type, sizeof type);
                const char *hdrs[5] = { "lgsp-via", "backfill", NULL, NULL, NULL };
                if (type[0]) {
                    hdrs[2] = "lgsp-event-type";
                    hdrs[3] = type;
                }
                lgsp_record_t rec = {
                    .size = sizeof rec,
                    .source_id = id,
                    .id = id,
                    .content_type = "application/json",
                    .payload = text,
                    .payload_len = strlen(text),
                    .position = pos,
                    .headers = hdrs,
                };
                rc = h->batch_add(b, &rec);
            }
            if (rc != LGSP_AE_TOO_BIG)
                break;
            /* the batch is full: commit what it holds and go on in a new one */
            rc = s_commit(self, b, &pst, &pdp);
            b = rc < 0 ? NULL : h->batch_new(self->a);
            if (rc < 0 || !b) {
                free(text);
                rc = rc < 0 ? rc : LGSP_AE_NOMEM;
                goto fail;
            }
        }
        free(text);
        if (rc < 0) {
            h->log(self->a, LGSP_LOG_WARN, "backfill: %s: %s", pos, h->last_error(self->a));
            goto fail;
        }
        if (!bad)
            s_ring_push(self, order);
    }
    if (b) {
        rc = s_commit(self, b, &pst, &pdp);
        b = NULL;
        if (rc < 0)
            goto fail;
    }
    json_t *tp = wh_json_path(page, "total_pages");
    bool last = n < self->bf_page_size
             || (json_is_integer(tp) && (json_int_t)self->scan_page >= json_integer_value(tp));
    json_decref(page);
    self->scan_stored += pst;
    self->scan_dups += pdp;
    atomic_fetch_add(&self->n_backfilled, pst);
    if (pst)
        h->count(self->a, "backfilled", pst);
    if (!last) {
        self->scan_page++;
        return 1;
    }
    if (self->scan_stored)
        h->log(self->a, LGSP_LOG_INFO, "backfill: %llu new events stored (%llu were stored "
                                       "already), watermark %s",
               (unsigned long long)self->scan_stored, (unsigned long long)self->scan_dups,
               self->from ? self->from : "(start)");
    s_scan_end(self);
    return 0;

fail:
    if (b)
        h->batch_discard(b);
    atomic_fetch_add(&self->n_backfilled, pst);
    json_decref(page);
    /* start the scan again from the committed watermark next time */
    s_scan_end(self);
    return rc == LGSP_AE_STOPPING ? 0 : (rc == LGSP_AE_NOMEM ? rc : 0);
}

void wh_backfill_free(webhook_t *self)
{
    s_scan_end(self);
    free(self->ring);
    self->ring = NULL;
    free(self->from);
    self->from = NULL;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    self->curl = NULL;
}
