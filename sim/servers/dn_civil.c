/* dn_civil.c — the Đà Nẵng civil-status system (hộ tịch): it pushes every
 * registration as a JSON event by HTTP POST to a webhook (libcurl, one
 * keep-alive connection, HMAC-SHA256 signature, retries with back-off) and
 * offers a REST backfill API for the history:
 *
 *   GET /api/v1/events?registered_from=T&registered_to=T&page=P&page_size=S
 *   GET /api/v1/events/<event_id>
 *   GET /api/v1/health
 *
 * with "Authorization: Bearer <token>". The events are the lines of the
 * generator's dn-civil/events.jsonl in delivery order, so the pushes
 * repeat some events (same event_id) and deliver some late, as the view
 * says. Events sent before push_from are history: only the backfill has
 * them. The backfill lists each event once, in registration order, and
 * only events the system has registered so far (the pusher's position).
 *
 * Changes: new birth registrations (a younger sibling of a registered
 * child), in a 2025 office, with the next number of its 2025 book. */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "change.h"
#include "httpd.h"
#include "sim.h"
#include "simutil.h"

#define CT_JSON "application/json; charset=utf-8"
#define BASE    "/api/v1/events"

typedef struct {
    const char *p;        /* text of its first delivery (what the backfill serves) */
    uint32_t    len;
    uint32_t    first;    /* index of its first delivery */
    int64_t     reg;      /* registered_at */
} s_ev_t;

typedef struct {
    const char *p;
    uint32_t    len;
    uint32_t    ev;
} s_deliv_t;

typedef struct {
    sim_env_t   env;
    char       *map;
    size_t      map_len;
    pthread_rwlock_t lock;

    s_ev_t     *ev;        /* unique events, in first-delivery order */
    uint32_t    nev, capev;
    s_deliv_t  *dl;        /* deliveries, in push order */
    uint32_t    ndl, capdl;
    uint32_t   *order;     /* events by (registered_at, first delivery) */
    uint32_t   *rank;      /* event -> position in order */
    uint32_t   *fen;       /* Fenwick tree over order positions: available events */
    uint8_t    *avail;     /* by order position */
    uint32_t    capfen;
    uint32_t   *hash;      /* event_id -> event + 1 */
    uint32_t    hcap;
    uint32_t   *book25;    /* office code -> book * 1000 + number of 2025 */
    char      **owned;     /* generated texts */
    uint32_t    nowned;

    /* pusher */
    pthread_t       thread;
    bool            pushing;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    bool            paused, stop;
    volatile bool   stop_flag;
    uint32_t        cursor;         /* next delivery to push */
    uint64_t        delivered, failed_attempts, parked, redelivered;
    int             last_status;

    httpd_t    *http;
    rng_t       rng;
    int64_t     clock;
    int64_t     merger;
    uint64_t    served, requests, changes;
} dn_civil_t;

/* ---- index ------------------------------------------------------------- */

static uint32_t s_hash_id(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static const char *s_id_of(const char *p, uint32_t len, size_t *n)
{
    const char *v;
    if (sim_json_str(p, len, "event_id", &v, n))
        return NULL;
    return v;
}

/* Index of the event with this id, or UINT32_MAX. */
static uint32_t s_lookup(const dn_civil_t *self, const char *id, size_t n)
{
    if (!self->hcap)
        return UINT32_MAX;
    uint32_t m = self->hcap - 1;
    for (uint32_t h = s_hash_id(id, n) & m;; h = (h + 1) & m) {
        uint32_t e = self->hash[h];
        if (!e)
            return UINT32_MAX;
        size_t en;
        const char *eid = s_id_of(self->ev[e - 1].p, self->ev[e - 1].len, &en);
        if (eid && en == n && !memcmp(eid, id, n))
            return e - 1;
    }
}

static void s_hash_insert(dn_civil_t *self, uint32_t ev)
{
    if ((uint64_t)(self->nev + 1) * 2 > self->hcap) {
        uint32_t old = self->hcap;
        uint32_t *oh = self->hash;
        self->hcap = old ? old * 2 : 1u << 12;
        while ((uint64_t)(self->nev + 1) * 2 > self->hcap)
            self->hcap *= 2;
        self->hash = xcalloc(self->hcap, sizeof *self->hash);
        for (uint32_t i = 0; i < old; i++)
            if (oh[i]) {
                size_t n;
                const char *id = s_id_of(self->ev[oh[i] - 1].p, self->ev[oh[i] - 1].len, &n);
                uint32_t m = self->hcap - 1, h = s_hash_id(id, n) & m;
                while (self->hash[h])
                    h = (h + 1) & m;
                self->hash[h] = oh[i];
            }
        free(oh);
    }
    size_t n;
    const char *id = s_id_of(self->ev[ev].p, self->ev[ev].len, &n);
    uint32_t m = self->hcap - 1, h = s_hash_id(id, n) & m;
    while (self->hash[h])
        h = (h + 1) & m;
    self->hash[h] = ev + 1;
}

/* Fenwick tree: 1-based over capfen positions. */
static void s_fen_add(dn_civil_t *self, uint32_t pos)
{
    for (uint32_t i = pos + 1; i <= self->capfen; i += i & (~i + 1))
        self->fen[i - 1]++;
}

static uint32_t s_fen_sum(const dn_civil_t *self, uint32_t pos)   /* available in [0, pos) */
{
    uint32_t s = 0;
    for (uint32_t i = pos; i > 0; i -= i & (~i + 1))
        s += self->fen[i - 1];
    return s;
}

/* Position of the k-th (1-based) available event. */
static uint32_t s_fen_find(const dn_civil_t *self, uint32_t k)
{
    uint32_t pos = 0, step = 1;
    while (step * 2 <= self->capfen)
        step *= 2;
    for (; step; step /= 2)
        if (pos + step <= self->capfen && self->fen[pos + step - 1] < k) {
            pos += step;
            k -= self->fen[pos - 1];
        }
    return pos;     /* 0-based position */
}

static void s_make_available(dn_civil_t *self, uint32_t ev)
{
    uint32_t pos = self->rank[ev];
    if (!self->avail[pos]) {
        self->avail[pos] = 1;
        s_fen_add(self, pos);
    }
}

static int s_cmp_order(const void *a, const void *b, void *arg)
{
    const dn_civil_t *self = arg;
    const s_ev_t *x = &self->ev[*(const uint32_t *)a], *y = &self->ev[*(const uint32_t *)b];
    if (x->reg != y->reg)
        return x->reg < y->reg ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static void s_push_ev(dn_civil_t *self, s_ev_t e)
{
    if (self->nev == self->capev) {
        self->capev = self->capev ? self->capev * 2 : 4096;
        self->ev = xrealloc(self->ev, (size_t)self->capev * sizeof *self->ev);
    }
    self->ev[self->nev++] = e;
}

static void s_push_dl(dn_civil_t *self, s_deliv_t d)
{
    if (self->ndl == self->capdl) {
        self->capdl = self->capdl ? self->capdl * 2 : 4096;
        self->dl = xrealloc(self->dl, (size_t)self->capdl * sizeof *self->dl);
    }
    self->dl[self->ndl++] = d;
}

/* Makes room for one more event at the end of order/rank/avail/fen. */
static void s_grow_order(dn_civil_t *self)
{
    if (self->nev <= self->capfen)
        return;
    uint32_t cap = self->capfen ? self->capfen : 1024;
    while (cap < self->nev)
        cap = cap * 2;
    self->order = xrealloc(self->order, (size_t)cap * sizeof *self->order);
    self->rank = xrealloc(self->rank, (size_t)cap * sizeof *self->rank);
    self->avail = xrealloc(self->avail, cap);
    memset(self->avail + self->capfen, 0, cap - self->capfen);
    free(self->fen);
    self->fen = xcalloc(cap, sizeof *self->fen);
    self->capfen = cap;
    /* rebuild the tree in O(n): each node adds itself to its parent */
    for (uint32_t p = 0; p < cap; p++) {
        if (p < self->nev && self->avail[p])
            self->fen[p] += 1;
        uint32_t parent = (p + 1) + ((p + 1) & (~(p + 1) + 1));
        if (parent <= cap)
            self->fen[parent - 1] += self->fen[p];
    }
}

static void s_note_book(dn_civil_t *self, const char *p, uint32_t len)
{
    const char *b, *o;
    size_t bn, on;
    if (sim_json_str(p, len, "book", &b, &bn) || bn != 7 || memcmp(b + 2, "/2025", 5)
        || sim_json_str(p, len, "office_code", &o, &on) || on != 5)
        return;
    const char *num = memmem(p, len, "\"number\":", 9);
    if (!num)
        return;
    long code = atol(o), book = atol(b), nr = atol(num + 9);
    if (code <= 0 || code >= 100000)
        return;
    uint32_t v = (uint32_t)(book * 1000 + nr);
    if (v > self->book25[code])
        self->book25[code] = v;
}

static int s_load(dn_civil_t *self, const char *path, char *err, size_t errsz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errsz, "%s: %s (run lgsp-gen first)", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    self->map_len = (size_t)st.st_size;
    if (self->map_len) {
        void *m = mmap(NULL, self->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errsz, "%s: mmap: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        self->map = m;
    }
    close(fd);
    const char *p = self->map, *end = self->map + self->map_len;
    size_t lineno = 0;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        uint32_t len = (uint32_t)(e - p);
        lineno++;
        if (len) {
            size_t idn, rn;
            const char *id = s_id_of(p, len, &idn), *r;
            int64_t reg;
            if (!id || sim_json_str(p, len, "registered_at", &r, &rn) || simts_parse(r, rn, &reg)) {
                snprintf(err, errsz, "%s:%zu: not an event of this view", path, lineno);
                return -1;
            }
            uint32_t ev = s_lookup(self, id, idn);
            if (ev == UINT32_MAX) {
                ev = self->nev;
                s_push_ev(self, (s_ev_t){ .p = p, .len = len, .first = self->ndl, .reg = reg });
                s_hash_insert(self, ev);
                s_note_book(self, p, len);
                if (reg > self->clock)
                    self->clock = reg;
            }
            s_push_dl(self, (s_deliv_t){ .p = p, .len = len, .ev = ev });
        }
        p = e + 1;
    }
    s_grow_order(self);
    for (uint32_t i = 0; i < self->nev; i++)
        self->order[i] = i;
    qsort_r(self->order, self->nev, sizeof *self->order, s_cmp_order, self);
    for (uint32_t i = 0; i < self->nev; i++)
        self->rank[self->order[i]] = i;
    return 0;
}

/* ---- the pusher -------------------------------------------------------- */

static size_t s_discard(char *p, size_t sz, size_t n, void *u)
{
    return sz * n;
}

static int s_post(dn_civil_t *self, CURL *c, const char *body, uint32_t len, int attempt)
{
    const simopts_t *o = self->env.opts;
    struct curl_slist *h = NULL;
    char line[256];
    size_t n;
    const char *v = s_id_of(body, len, &n);
    h = curl_slist_append(h, "Content-Type: application/json; charset=utf-8");
    h = curl_slist_append(h, "User-Agent: dn-hotich-webhook/1.0 (lgsp-sim)");
    h = curl_slist_append(h, "Expect:");
    snprintf(line, sizeof line, "X-Event-Id: %.*s", v ? (int)n : 0, v ? v : "");
    h = curl_slist_append(h, line);
    if (!sim_json_str(body, len, "event_type", &v, &n)) {
        snprintf(line, sizeof line, "X-Event-Type: %.*s", (int)n, v);
        h = curl_slist_append(h, line);
    }
    snprintf(line, sizeof line, "X-Delivery-Attempt: %d", attempt);
    h = curl_slist_append(h, line);
    if (o->secret && *o->secret) {
        unsigned char mac[32];
        unsigned int ml = 0;
        HMAC(EVP_sha256(), o->secret, (int)strlen(o->secret), (const unsigned char *)body, len,
             mac, &ml);
        int at = snprintf(line, sizeof line, "X-Signature: sha256=");
        for (unsigned i = 0; i < ml && at + 3 < (int)sizeof line; i++)
            at += snprintf(line + at, sizeof line - (size_t)at, "%02x", mac[i]);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    pthread_mutex_lock(&self->mu);
    self->last_status = rc == CURLE_OK ? (int)status : -(int)rc;
    pthread_mutex_unlock(&self->mu);
    return rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
}

static void *s_pusher(void *arg)
{
    dn_civil_t *self = arg;
    const simopts_t *o = self->env.opts;
    CURL *c = curl_easy_init();
    if (!c) {
        simlog("dn-civil", "curl_easy_init failed: no pushes");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, o->webhook);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    int64_t gap_us = o->rate > 0 ? (int64_t)(1e6 / o->rate) : 0, next_us = 0;
    for (;;) {
        pthread_mutex_lock(&self->mu);
        while (!self->stop && (self->paused || self->cursor >= self->ndl))
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->stop) {
            pthread_mutex_unlock(&self->mu);
            break;
        }
        uint32_t at = self->cursor;
        pthread_mutex_unlock(&self->mu);
        if (gap_us) {
            int64_t now = sim_now_ms() * 1000;
            if (next_us > now && sim_sleep_ms((next_us - now) / 1000, &self->stop_flag))
                break;
            next_us = (next_us > now ? next_us : now) + gap_us;
        }
        pthread_rwlock_wrlock(&self->lock);
        s_deliv_t d = self->dl[at];
        bool redelivery = self->ev[d.ev].first != at;
        s_make_available(self, d.ev);     /* registered: the backfill has it now */
        pthread_rwlock_unlock(&self->lock);
        long delay = o->retry_ms;
        int attempt = 1;
        for (;; attempt++) {
            if (s_post(self, c, d.p, d.len, attempt) == 0) {
                pthread_mutex_lock(&self->mu);
                self->delivered++;
                if (redelivery)
                    self->redelivered++;
                pthread_mutex_unlock(&self->mu);
                break;
            }
            pthread_mutex_lock(&self->mu);
            self->failed_attempts++;
            pthread_mutex_unlock(&self->mu);
            if (attempt >= o->retry_max) {
                pthread_mutex_lock(&self->mu);
                self->parked++;
                pthread_mutex_unlock(&self->mu);
                simlog("dn-civil", "delivery %u parked after %d attempts (fetch it by backfill)",
                       at, attempt);
                break;
            }
            if (sim_sleep_ms(delay, &self->stop_flag))
                goto out;
            delay = delay * 2 > 30000 ? 30000 : delay * 2;
        }
        pthread_mutex_lock(&self->mu);
        self->cursor = at + 1;
        pthread_mutex_unlock(&self->mu);
    }
out:
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- the backfill API ---------------------------------------------------- */

static enum MHD_Result s_list(dn_civil_t *self, http_req_t *req)
{
    long page = 1, size = 100;
    int64_t from = INT64_MIN, to = INT64_MAX;
    const char *a;
    if ((a = http_arg(req, "page")) && sim_parse_long(a, 1, 100000000L, &page))
        return http_reply_error(req, 400, "invalid_parameter", "page: an integer >= 1");
    if ((a = http_arg(req, "page_size"))
        && sim_parse_long(a, 1, self->env.opts->max_page_size, &size)) {
        char msg[96];
        snprintf(msg, sizeof msg, "page_size: 1 to %ld", self->env.opts->max_page_size);
        return http_reply_error(req, 400, "invalid_parameter", msg);
    }
    if ((a = http_arg(req, "registered_from")) && *a && simts_parse(a, strlen(a), &from))
        return http_reply_error(req, 400, "invalid_parameter",
                                "registered_from: ISO 8601, e.g. 2025-07-01T00:00:00+07:00");
    if ((a = http_arg(req, "registered_to")) && *a && simts_parse(a, strlen(a), &to))
        return http_reply_error(req, 400, "invalid_parameter",
                                "registered_to: ISO 8601 (exclusive)");
    sbuf_t b;
    sbuf_init(&b);
    sbuf_reserve(&b, 256 + (size_t)size * 700);
    pthread_rwlock_rdlock(&self->lock);
    /* [lo, hi): order positions with from <= registered_at < to */
    uint32_t lo = 0, hi = self->nev, l, h;
    for (l = 0, h = self->nev; l < h;) {
        uint32_t m = l + (h - l) / 2;
        if (self->ev[self->order[m]].reg < from) l = m + 1; else h = m;
    }
    lo = l;
    for (l = lo, h = self->nev; l < h;) {
        uint32_t m = l + (h - l) / 2;
        if (self->ev[self->order[m]].reg < to) l = m + 1; else h = m;
    }
    hi = l;
    uint32_t before = s_fen_sum(self, lo), total = s_fen_sum(self, hi) - before;
    uint32_t pages = (uint32_t)((total + (uint32_t)size - 1) / (uint32_t)size);
    sbuf_printf(&b, "{\"page\":%ld,\"page_size\":%ld,\"total\":%u,\"total_pages\":%u,\"events\":[",
                page, size, total, pages);
    uint64_t skip = (uint64_t)(page - 1) * (uint64_t)size;
    long n = 0;
    if (skip < total) {
        uint32_t pos = s_fen_find(self, before + (uint32_t)skip + 1);
        for (; pos < hi && n < size; pos++) {
            if (!self->avail[pos])
                continue;
            const s_ev_t *e = &self->ev[self->order[pos]];
            if (n++)
                sbuf_putc(&b, ',');
            sbuf_put(&b, e->p, e->len);
        }
    }
    pthread_rwlock_unlock(&self->lock);
    sbuf_puts(&b, "]}\n");
    __atomic_add_fetch(&self->served, (uint64_t)n, __ATOMIC_RELAXED);
    return http_reply(req, 200, CT_JSON, b.p, b.len, NULL);
}

static enum MHD_Result s_one(dn_civil_t *self, http_req_t *req, const char *id)
{
    char *body = NULL;
    size_t len = 0;
    pthread_rwlock_rdlock(&self->lock);
    uint32_t ev = s_lookup(self, id, strlen(id));
    if (ev != UINT32_MAX && self->avail[self->rank[ev]]) {
        len = self->ev[ev].len + 1;
        body = xmalloc(len);
        memcpy(body, self->ev[ev].p, len - 1);
        body[len - 1] = '\n';
    }
    pthread_rwlock_unlock(&self->lock);
    if (!body)
        return http_reply_error(req, 404, "not_found", "no registered event with this id");
    __atomic_add_fetch(&self->served, 1, __ATOMIC_RELAXED);
    return http_reply(req, 200, CT_JSON, body, len, NULL);
}

static enum MHD_Result s_handle(void *cls, http_req_t *req)
{
    dn_civil_t *self = cls;
    __atomic_add_fetch(&self->requests, 1, __ATOMIC_RELAXED);
    if (req->fault.mode == FAULT_ERROR)
        return http_reply_error(req, req->fault.status, "unavailable",
                                "the civil-status backfill service is temporarily unavailable");
    if (!strcmp(req->url, "/api/v1/health"))
        return http_reply_text(req, 200, CT_JSON, "{\"status\":\"ok\"}\n");
    if (strncmp(req->url, BASE, strlen(BASE)) != 0
        || (req->url[strlen(BASE)] && req->url[strlen(BASE)] != '/'))
        return http_reply_error(req, 404, "not_found", "see " BASE);
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
        return http_reply_error(req, 405, "method_not_allowed", "GET only");
    const char *tok = self->env.opts->api_key;
    if (tok && *tok) {
        const char *auth = http_header(req, "Authorization");
        if (!auth || strncmp(auth, "Bearer ", 7) || strcmp(auth + 7, tok)) {
            static const char *const hdr[] = { "WWW-Authenticate: Bearer realm=\"dn-hotich\"", NULL };
            sbuf_t b;
            sbuf_init(&b);
            sbuf_puts(&b, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"missing or wrong "
                          "bearer token\"}}\n");
            return http_reply(req, 401, CT_JSON, b.p, b.len, hdr);
        }
    }
    const char *rest = req->url + strlen(BASE);
    if (!*rest || !strcmp(rest, "/"))
        return s_list(self, req);
    return s_one(self, req, rest + 1);
}

/* ---- changes ------------------------------------------------------------- */

static void s_uuid(rng_t *r, char out[37])
{
    uint64_t a = rng_next(r), b = rng_next(r);
    a = (a & ~0xF000ULL) | 0x4000ULL;                          /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;   /* variant */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xFFFF), (unsigned)(a & 0xFFFF), (unsigned)(b >> 48),
             (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

static const char *s_jstr(json_t *o, const char *path1, const char *path2)
{
    json_t *x = json_object_get(o, path1);
    if (path2)
        x = json_object_get(x, path2);
    const char *s = json_string_value(x);
    return s ? s : "";
}

/* The 2025 office of a registration: (code, name). */
static void s_office_2025(dn_civil_t *self, json_t *reg, int64_t reg_ts, char *code, char *name,
                          size_t namesz)
{
    const char *oc = s_jstr(reg, "office_code", NULL);
    snprintf(code, 8, "%.5s", oc);
    snprintf(name, namesz, "%s", s_jstr(reg, "office_name", NULL));
    if (reg_ts >= self->merger)
        return;
    const refdata_t *rd = self->env.rd;
    for (uint32_t i = 0; i < rd->n_communes; i++) {
        const commune_t *c = &rd->communes[i];
        if (strcmp(c->code, oc) || !c->n_new)
            continue;
        const unit25_t *u = &rd->units25[c->new_idx[c->n_new > 1 ? rng_below(&self->rng, c->n_new) : 0]];
        snprintf(code, 8, "%s", u->code);
        snprintf(name, namesz, "UBND %s", u->name);
        return;
    }
}

static bool s_change_one(dn_civil_t *self, sbuf_t *json, bool first)
{
    json_t *t = NULL;
    for (int tries = 0; tries < 200 && !t; tries++) {
        const s_ev_t *e = &self->ev[rng_below(&self->rng, self->nev)];
        const char *v;
        size_t n;
        if (sim_json_str(e->p, e->len, "event_type", &v, &n) || n != 16
            || memcmp(v, "birth.registered", 16))
            continue;
        t = json_loadb(e->p, e->len, 0, NULL);
    }
    if (!t)
        return false;
    json_t *data = json_object_get(t, "data"), *reg = json_object_get(data, "registration");
    json_t *child = json_object_get(data, "child");
    int64_t tmpl_reg;
    const char *rs = s_jstr(reg, "registered_at", NULL);
    if (!reg || !child || simts_parse(rs, strlen(rs), &tmpl_reg)) {
        json_decref(t);
        return false;
    }
    int64_t ts = chg_tick(&self->clock, &self->rng);
    int64_t sent = ts + 1 + (int64_t)rng_below(&self->rng, 20);
    if (self->clock < sent)
        self->clock = sent;
    char code[8], name[128], id[37], book[16];
    s_office_2025(self, reg, tmpl_reg, code, name, sizeof name);
    long c = atol(code);
    uint32_t bn = c > 0 && c < 100000 ? self->book25[c] : 0;
    uint32_t bk = bn ? bn / 1000 : 1, nr = bn ? bn % 1000 + 1 : 1;
    if (nr > 400) {
        bk++;
        nr = 1;
    }
    if (c > 0 && c < 100000)
        self->book25[c] = bk * 1000 + nr;
    snprintf(book, sizeof book, "%02u/2025", bk);
    s_uuid(&self->rng, id);
    sbuf_t s;
    sbuf_init(&s);
    json_object_set_new(t, "event_id", json_string(id));
    sbuf_ts_iso(&s, sent);
    json_object_set_new(t, "sent_at", json_string(s.p));
    sbuf_reset(&s);
    sbuf_ts_iso(&s, ts);
    json_object_set_new(reg, "book", json_string(book));
    json_object_set_new(reg, "number", json_integer(nr));
    json_object_set_new(reg, "registered_at", json_string(s.p));
    json_object_set_new(reg, "office_code", json_string(code));
    json_object_set_new(reg, "office_name", json_string(name));
    /* a younger sibling */
    int sex = (int)rng_below(&self->rng, 2);
    char surname[64];
    chg_first_word(s_jstr(data, "father", "full_name"), surname, sizeof surname);
    if (!surname[0])
        chg_first_word(s_jstr(data, "mother", "full_name"), surname, sizeof surname);
    sbuf_reset(&s);
    chg_name(self->env.rd, &self->rng, sex, surname, &s);
    json_object_set_new(child, "full_name", json_string(s.p));
    json_object_set_new(child, "sex", json_string(sex ? "female" : "male"));
    int32_t dob = ts_date(ts) - (int32_t)rng_range(&self->rng, 3, 40);
    sbuf_reset(&s);
    sbuf_date_iso(&s, dob);
    json_object_set_new(child, "birth_date", json_string(s.p));
    char pid[13];
    chg_personal_id(&self->rng, "048", sex, date_year(dob), pid);
    json_object_set_new(child, "personal_id", json_string(pid));
    sbuf_free(&s);
    char *text = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(t);
    if (!text)
        return false;
    size_t len = strlen(text);
    char *own = xmalloc(len + 1);
    memcpy(own, text, len + 1);
    free(text);
    self->owned = xrealloc(self->owned, (size_t)(self->nowned + 1) * sizeof *self->owned);
    self->owned[self->nowned++] = own;
    uint32_t ev = self->nev;
    s_push_ev(self, (s_ev_t){ .p = own, .len = (uint32_t)len, .first = self->ndl, .reg = ts });
    s_hash_insert(self, ev);
    s_grow_order(self);
    self->order[ev] = ev;          /* the latest registration: last in order */
    self->rank[ev] = ev;
    self->avail[ev] = 0;
    pthread_mutex_lock(&self->mu);
    s_push_dl(self, (s_deliv_t){ .p = own, .len = (uint32_t)len, .ev = ev });
    if (!self->pushing)
        self->cursor = self->ndl;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    if (!self->pushing)
        s_make_available(self, ev);
    sbuf_printf(json, "%s{\"event_id\":\"%s\",\"kind\":\"birth\",\"office_code\":\"%s\","
                      "\"book\":\"%s\",\"number\":%u}", first ? "" : ",", id, code, book, nr);
    return true;
}

static int dn_civil_change(void *vself, long n, sbuf_t *json)
{
    dn_civil_t *self = vself;
    long done = 0;
    sbuf_puts(json, "{\"changes\":[");
    pthread_rwlock_wrlock(&self->lock);
    for (long i = 0; i < n && self->nev; i++)
        if (s_change_one(self, json, done == 0))
            done++;
    pthread_rwlock_unlock(&self->lock);
    self->changes += (uint64_t)done;
    sbuf_printf(json, "],\"applied\":%ld}", done);
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void dn_civil_destroy(void **self_p);

static void s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void *dn_civil_create(const sim_env_t *env, char *err, size_t errsz)
{
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, s_curl_init);
    dn_civil_t *self = xcalloc(1, sizeof *self);
    self->env = *env;
    pthread_rwlock_init(&self->lock, NULL);
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    rng_seed(&self->rng, env->conf->seed, 0x51000 + (uint64_t)env->index);
    self->book25 = xcalloc(100000, sizeof *self->book25);
    simts_parse("2025-07-01T00:00:00+07:00", 25, &self->merger);
    char path[4096];
    snprintf(path, sizeof path, "%s/dn-civil/events.jsonl", env->conf->data);
    void *p = self;
    if (s_load(self, path, err, errsz) != 0) {
        dn_civil_destroy(&p);
        return NULL;
    }
    /* pushes start at push_from; without a webhook everything is history */
    bool push = env->opts->webhook && *env->opts->webhook;
    int64_t from = INT64_MIN;
    if (push && env->opts->push_from && *env->opts->push_from
        && simts_parse(env->opts->push_from, strlen(env->opts->push_from), &from)) {
        snprintf(err, errsz, "push_from: ISO 8601 expected, not '%s'", env->opts->push_from);
        dn_civil_destroy(&p);
        return NULL;
    }
    uint32_t cur = 0;
    if (push) {
        while (cur < self->ndl) {
            const char *v;
            size_t n;
            int64_t sent;
            if (!sim_json_str(self->dl[cur].p, self->dl[cur].len, "sent_at", &v, &n)
                && !simts_parse(v, n, &sent) && sent >= from)
                break;
            cur++;
        }
    } else {
        cur = self->ndl;
    }
    for (uint32_t i = 0; i < cur; i++)
        s_make_available(self, self->dl[i].ev);
    self->cursor = cur;
    if (self->ndl) {
        const char *v;
        size_t n;
        int64_t sent;
        const s_deliv_t *d = &self->dl[self->ndl - 1];
        if (!sim_json_str(d->p, d->len, "sent_at", &v, &n) && !simts_parse(v, n, &sent)
            && sent > self->clock)
            self->clock = sent;
    }
    self->http = httpd_new("dn-civil", (uint16_t)env->opts->port, 16 * 1024, s_handle, self,
                           env->fault, err, errsz);
    if (!self->http) {
        dn_civil_destroy(&p);
        return NULL;
    }
    if (push) {
        if (pthread_create(&self->thread, NULL, s_pusher, self) != 0) {
            snprintf(err, errsz, "cannot start the pusher thread");
            dn_civil_destroy(&p);
            return NULL;
        }
        self->pushing = true;
    }
    return self;
}

static void dn_civil_where(void *vself, sbuf_t *out)
{
    dn_civil_t *self = vself;
    const simopts_t *o = self->env.opts;
    sbuf_printf(out, "http://127.0.0.1:%u" BASE " (backfill, bearer token; %u events, %u "
                     "deliveries", (unsigned)httpd_port(self->http), self->nev, self->ndl);
    if (self->pushing)
        sbuf_printf(out, "; pushing %u from %s to %s at %g/s)", self->ndl - self->cursor,
                    o->push_from, o->webhook, o->rate);
    else
        sbuf_puts(out, "; no webhook: nothing pushed)");
}

static void dn_civil_status(void *vself, sbuf_t *json)
{
    dn_civil_t *self = vself;
    pthread_rwlock_rdlock(&self->lock);
    uint32_t nev = self->nev, avail = s_fen_sum(self, self->capfen);
    pthread_rwlock_unlock(&self->lock);
    pthread_mutex_lock(&self->mu);
    sbuf_printf(json, "{\"url\":\"http://127.0.0.1:%u" BASE "\",\"events\":%u,\"registered\":%u,"
                      "\"deliveries\":%u,\"pushing\":%s,\"paused\":%s,\"cursor\":%u,"
                      "\"delivered\":%llu,\"redelivered\":%llu,\"failed_attempts\":%llu,"
                      "\"parked\":%llu,\"last_status\":%d,\"requests\":%llu,"
                      "\"records_served\":%llu,\"changes\":{\"birth\":%llu}}",
                (unsigned)httpd_port(self->http), nev, avail, self->ndl,
                self->pushing ? "true" : "false", self->paused ? "true" : "false", self->cursor,
                (unsigned long long)self->delivered, (unsigned long long)self->redelivered,
                (unsigned long long)self->failed_attempts, (unsigned long long)self->parked,
                self->last_status,
                (unsigned long long)__atomic_load_n(&self->requests, __ATOMIC_RELAXED),
                (unsigned long long)__atomic_load_n(&self->served, __ATOMIC_RELAXED),
                (unsigned long long)self->changes);
    pthread_mutex_unlock(&self->mu);
}

static int dn_civil_pause(void *vself, bool paused)
{
    dn_civil_t *self = vself;
    pthread_mutex_lock(&self->mu);
    self->paused = paused;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    return 0;
}

static void dn_civil_destroy(void **self_p)
{
    dn_civil_t *self = *self_p;
    if (!self)
        return;
    if (self->pushing) {
        pthread_mutex_lock(&self->mu);
        self->stop = true;
        self->stop_flag = true;
        pthread_cond_signal(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL);
    }
    httpd_destroy(&self->http);
    if (self->map)
        munmap(self->map, self->map_len);
    for (uint32_t i = 0; i < self->nowned; i++)
        free(self->owned[i]);
    free(self->owned);
    free(self->ev);
    free(self->dl);
    free(self->order);
    free(self->rank);
    free(self->fen);
    free(self->avail);
    free(self->hash);
    free(self->book25);
    pthread_rwlock_destroy(&self->lock);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    free(self);
    *self_p = NULL;
}

const sim_ops_t dn_civil_ops = {
    .create = dn_civil_create,
    .where = dn_civil_where,
    .change = dn_civil_change,
    .status = dn_civil_status,
    .pause = dn_civil_pause,
    .destroy = dn_civil_destroy,
};
