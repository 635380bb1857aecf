/* review.c — the review page of reconciliation (see review.h).
 *
 * One libmicrohttpd daemon (two threads) on a loopback port. Everything a
 * page needs is behind one mutex: the spec, the records (er_data), the
 * model with term frequencies, the queue, the users file and the sessions.
 * A password check (PBKDF2, ~0.3 s) runs outside it. The store (LMDB) is
 * read and written in short transactions under the same mutex, so pages
 * are consistent with the decisions just made.
 *
 * Pages are HTML rendered here, every value escaped (s_esc); no script.
 * Routes:
 *   GET  /login, POST /login, POST /logout
 *   GET  /queue?commune=&source=&status=pending|decided|all&page=N
 *   GET  /pair?a=&b=  (+ the queue's filter, carried along)
 *   POST /decide      decision=accept|reject, a, b, note, csrf
 *   POST /split       a, b, leave (repeated), note, csrf
 *   GET  /api/session, GET /api/queue, GET /api/pair, POST /api/decide (JSON;
 *        the CSRF token in the X-CSRF-Token header)
 *
 * Sessions: a 32-byte random token (RAND_bytes) in the cookie lgsp_review
 * (HttpOnly, SameSite=Strict, Path=/), ended after review.session_idle
 * unused or review.session_max after the login. Each session has a CSRF
 * token of its own, put in every form and checked on every POST, together
 * with the Origin header when the browser sends one. The login form has a
 * token too (a pre-session cookie, double submit). Nothing a request
 * carries (names, record ids, passwords) is logged; decisions are counted
 * at info level. */
#include "review.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../adapters/file-drop/csvread.h"
#include "er.h"
#include "erstore.h"
#include "log.h"
#include "reviewusers.h"

#define S_COOKIE        "lgsp_review"
#define S_LOGIN_COOKIE  "lgsp_review_login"
#define S_TOKEN_HEX     64          /* 32 random bytes */
#define S_MAX_SESSIONS  256
#define S_PER_PAGE      50
#define S_BODY_LIMIT    (256u * 1024)
#define S_MAX_FIELDS    256         /* form fields of one POST */
#define S_MAX_GROUP     64          /* records shown side by side */
#define S_THREADS       2

#define CT_HTML "text/html; charset=utf-8"
#define CT_JSON "application/json"

/* ---- state ------------------------------------------------------------ */

typedef struct {
    char *a, *b;
    long ia, ib;                /* indices in data, -1 = not loaded */
    double prob;
} s_pair_t;

typedef struct {
    char token[S_TOKEN_HEX + 1];
    char csrf[S_TOKEN_HEX + 1];
    char *user;
    int64_t created_us, used_us;
} s_session_t;

typedef struct {
    char *code, *name;
} s_commune_t;

struct review {
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t lock;       /* guards everything below */

    char *store_dir, *spec_path, *queue_path, *records_path, *users_path;
    int64_t idle_us, max_us;

    er_spec_t *spec;
    er_data_t *data;
    er_model_t *model;
    erstore_t *store;
    const char *kind;
    long commune_field;         /* the spec's field "commune" (2025 code), -1 = none */

    s_pair_t *pairs;
    size_t npairs;
    struct timespec queue_mtime;
    off_t queue_size;
    bool queue_seen;

    s_commune_t *communes;
    size_t ncommunes;

    review_users_t *users;
    struct timespec users_mtime;

    s_session_t sessions[S_MAX_SESSIONS];
    size_t nsessions;
};

/* A request's form fields or JSON body, from the first access-handler call
 * to the completed callback. */
typedef struct {
    char *key, *val;
    size_t len;
} s_kv_t;

typedef struct {
    bool started;
    struct MHD_PostProcessor *pp;
    s_kv_t kv[S_MAX_FIELDS];
    size_t nkv;
    char *body;
    size_t len;
    bool too_large;
} s_req_t;

/* What a handler answers. */
typedef struct {
    int status;
    const char *ctype;
    char *body;
    size_t len;
    char *location;             /* 303 target */
    char *cookies[3];
    int ncookies;
} s_resp_t;

/* The queue's filter, carried from page to page. */
typedef struct {
    const char *commune, *source, *status;
    long page;
} s_filter_t;

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- output helpers --------------------------------------------------- */

/* HTML text and attribute values alike. */
static void s_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A query-string value (RFC 3986 unreserved kept, the rest %XX). */
static void s_urlenc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char) *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~')
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

static void s_filter_query(FILE *f, const s_filter_t *flt)
{
    fputs("commune=", f);
    s_urlenc(f, flt->commune);
    fputs("&source=", f);
    s_urlenc(f, flt->source);
    fputs("&status=", f);
    s_urlenc(f, flt->status);
}

/* The filter as hidden inputs of a form. */
static void s_filter_inputs(FILE *f, const s_filter_t *flt)
{
    const char *names[] = { "commune", "source", "status" };
    const char *vals[] = { flt->commune, flt->source, flt->status };
    for (int i = 0; i < 3; i++) {
        fprintf(f, "<input type=\"hidden\" name=\"%s\" value=\"", names[i]);
        s_esc(f, vals[i]);
        fputs("\">", f);
    }
}

static void s_random_hex(char out[S_TOKEN_HEX + 1])
{
    unsigned char r[S_TOKEN_HEX / 2];
    if (RAND_bytes(r, sizeof r) != 1) {
        /* Never hand out a guessable token: an empty one matches nothing. */
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static bool s_token_eq(const char *a, const char *b)
{
    size_t n = a ? strlen(a) : 0;
    return n == S_TOKEN_HEX && b && strlen(b) == n && CRYPTO_memcmp(a, b, n) == 0;
}

static void s_resp_set(s_resp_t *r, int status, const char *ctype, char *body, size_t len)
{
    free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->body = body;
    r->len = len;
}

static void s_redirect(s_resp_t *r, char *location)
{
    free(r->location);
    r->location = location;
    r->status = 303;
}

static void s_cookie(s_resp_t *r, const char *name, const char *value, int64_t max_age_s)
{
    if (r->ncookies == 3)
        return;
    char *c = NULL;
    if (asprintf(&c, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%" PRId64, name, value,
                 max_age_s) >= 0)
        r->cookies[r->ncookies++] = c;
}

static void s_json_resp(s_resp_t *r, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    s_resp_set(r, s ? status : 500, CT_JSON, s, s ? strlen(s) : 0);
}

static void s_json_error(s_resp_t *r, int status, const char *what)
{
    s_json_resp(r, status, json_pack("{s:s}", "error", what));
}

/* ---- loading ------------------------------------------------------------ */

static bool s_mtime_changed(const char *path, struct timespec *seen, off_t *size, bool *known)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    bool changed = !*known || st.st_mtim.tv_sec != seen->tv_sec
                || st.st_mtim.tv_nsec != seen->tv_nsec || (size && st.st_size != *size);
    *seen = st.st_mtim;
    if (size)
        *size = st.st_size;
    *known = true;
    return changed;
}

static void s_bad_record(const char *pos, const char *why, void *ctx)
{
    (void) pos;
    (void) why;
    (*(size_t *) ctx)++;
}

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The records from a file or a folder (its *.jsonl, *.json and *.csv in
 * name order). */
static int s_load_records_path(er_data_t *d, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "review.records: %s: %s", path, strerror(errno));
        return -1;
    }
    size_t bad = 0;
    if (!S_ISDIR(st.st_mode)) {
        if (er_data_load_file(d, path, 1, s_bad_record, &bad, err, errlen) < 0)
            return -1;
        return 0;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        snprintf(err, errlen, "review.records: %s: %s", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t l = strlen(e->d_name);
        bool want = (l > 6 && strcmp(e->d_name + l - 6, ".jsonl") == 0)
                 || (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
                 || (l > 4 && strcmp(e->d_name + l - 4, ".csv") == 0);
        if (!want)
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(dir);
    qsort(names, n, sizeof *names, s_name_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = NULL;
        if (rc == 0 && asprintf(&p, "%s/%s", path, names[i]) >= 0
            && er_data_load_file(d, p, 1, s_bad_record, &bad, err, errlen) < 0)
            rc = -1;
        free(p);
        free(names[i]);
    }
    free(names);
    return rc;
}

typedef struct {
    er_data_t *d;
    size_t bad;
} s_rec_ctx_t;

static int s_store_record(const char *record_id, const char *json, void *ctx)
{
    s_rec_ctx_t *x = ctx;
    json_t *j = json_loads(json, 0, NULL);
    char e[64];
    if (!j || er_data_add_values(x->d, j, e, sizeof e) < 0)
        x->bad++;
    json_decref(j);
    return 0;
}

/* Records (from review.records, else the store's) and the store's model
 * with term frequencies over them. Replaces self->data and self->model. */
static int s_load_engine(review_t *self, char *err, size_t errlen)
{
    er_data_t *d = er_data_new(self->spec);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (self->records_path) {
        if (s_load_records_path(d, self->records_path, err, errlen) != 0) {
            er_data_destroy(&d);
            return -1;
        }
    } else {
        s_rec_ctx_t x = { d, 0 };
        erstore_txn_t *t = erstore_begin(self->store, false);
        if (!t || erstore_records(t, self->kind, s_store_record, &x) < 0) {
            snprintf(err, errlen, "review.store: %s", erstore_error());
            erstore_abort(&t);
            er_data_destroy(&d);
            return -1;
        }
        erstore_abort(&t);
    }
    (void) er_data_find(d, "");     /* builds the id index now, once */
    er_model_t *m = NULL;
    erstore_txn_t *t = erstore_begin(self->store, false);
    char *mj = t ? erstore_model_get(t, self->kind) : NULL;
    erstore_abort(&t);
    if (mj) {
        json_t *j = json_loads(mj, 0, NULL);
        char e[300];
        m = j ? er_model_from_json(self->spec, j, e, sizeof e) : NULL;
        json_decref(j);
        free(mj);
        if (!m)
            log_warn("review", "the store's model of kind %s does not fit the spec; explanations "
                     "use the spec's starting values", self->kind);
    } else {
        log_warn("review", "the store holds no model of kind %s yet (run lgsp dedup --store); "
                 "explanations use the spec's starting values", self->kind);
    }
    if (!m)
        m = er_model_new(self->spec);
    er_model_build_tf(m, d);
    er_data_destroy(&self->data);
    er_model_destroy(&self->model);
    self->data = d;
    self->model = m;
    return 0;
}

static void s_pairs_free(s_pair_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].a);
        free(p[i].b);
    }
    free(p);
}

static int s_pair_cmp(const void *x, const void *y)
{
    const s_pair_t *a = x, *b = y;
    if (a->prob != b->prob)
        return a->prob > b->prob ? -1 : 1;
    int c = strcmp(a->a, b->a);
    return c ? c : strcmp(a->b, b->b);
}

/* The queue file: JSON lines with "a", "b" and "probability"; other
 * members are ignored, lines that are not such objects skipped (counted).
 * Sorted by probability, highest first. */
static int s_load_queue(review_t *self, char *err, size_t errlen)
{
    FILE *f = fopen(self->queue_path, "r");
    if (!f) {
        snprintf(err, errlen, "review.queue: %s: %s", self->queue_path, strerror(errno));
        return -1;
    }
    s_pair_t *v = NULL;
    size_t n = 0, cap = 0, skipped = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) >= 0) {
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        json_t *j = json_loads(line, 0, NULL);
        const char *a = json_string_value(json_object_get(j, "a"));
        const char *b = json_string_value(json_object_get(j, "b"));
        json_t *p = json_object_get(j, "probability");
        if (!a || !b || !*a || !*b || strcmp(a, b) == 0) {
            skipped++;
            json_decref(j);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            s_pair_t *g = realloc(v, cap * sizeof *v);
            if (!g) {
                json_decref(j);
                break;
            }
            v = g;
        }
        /* a < b in byte order, as the store keeps pairs */
        bool swap = strcmp(a, b) > 0;
        v[n].a = strdup(swap ? b : a);
        v[n].b = strdup(swap ? a : b);
        v[n].prob = json_is_number(p) ? json_number_value(p) : 0;
        v[n].ia = er_data_find(self->data, v[n].a);
        v[n].ib = er_data_find(self->data, v[n].b);
        n++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    qsort(v, n, sizeof *v, s_pair_cmp);
    s_pairs_free(self->pairs, self->npairs);
    self->pairs = v;
    self->npairs = n;
    size_t unloaded = 0;
    for (size_t i = 0; i < n; i++)
        unloaded += v[i].ia < 0 || v[i].ib < 0;
    log_info("review", "queue: %zu pairs (%zu lines skipped, %zu pairs with a record not loaded)",
             n, skipped, unloaded);
    return 0;
}

/* Called on every queue and pair request: a queue file written anew (a
 * re-run of lgsp dedup) brings the new model (and the store's records) in
 * too. */
static void s_refresh(review_t *self)
{
    if (!s_mtime_changed(self->queue_path, &self->queue_mtime, &self->queue_size, &self->queue_seen))
        return;
    char err[600];
    if (s_load_engine(self, err, sizeof err) != 0 || s_load_queue(self, err, sizeof err) != 0)
        log_error("review", "reloading: %s", err);
}

/* units_2025.csv: commune code -> name (shown next to the codes). */
static void s_load_communes(review_t *self, const char *admin)
{
    char *path = NULL;
    if (asprintf(&path, "%s/units_2025.csv", admin) < 0)
        return;
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) {
        log_warn("review", "review.admin: no units_2025.csv; communes are shown by code");
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(f);
    fclose(m);
    csvread_t *r = csvread_new(buf, len, ',', '"');
    long ci = -1, ni = -1;
    while (r && csvread_next(r) == CSVREAD_ROW) {
        if (ci < 0 && ni < 0) {
            for (size_t i = 0; i < csvread_nfields(r); i++) {
                const char *h = csvread_field(r, i, NULL);
                if (strcmp(h, "commune_code") == 0)
                    ci = (long) i;
                else if (strcmp(h, "commune_name") == 0)
                    ni = (long) i;
            }
            if (ci < 0 || ni < 0)
                break;
            continue;
        }
        if ((size_t) ci >= csvread_nfields(r) || (size_t) ni >= csvread_nfields(r))
            continue;
        s_commune_t *g = realloc(self->communes, (self->ncommunes + 1) * sizeof *g);
        if (!g)
            break;
        self->communes = g;
        g[self->ncommunes].code = strdup(csvread_field(r, (size_t) ci, NULL));
        g[self->ncommunes].name = strdup(csvread_field(r, (size_t) ni, NULL));
        self->ncommunes++;
    }
    csvread_destroy(&r);
    free(buf);
}

static const char *s_commune_name(const review_t *self, const char *code)
{
    for (size_t i = 0; code && i < self->ncommunes; i++)
        if (self->communes[i].code && strcmp(self->communes[i].code, code) == 0)
            return self->communes[i].name;
    return NULL;
}

static void s_users_refresh(review_t *self)
{
    bool known = self->users != NULL;
    if (!s_mtime_changed(self->users_path, &self->users_mtime, NULL, &known) && self->users)
        return;
    char err[600];
    review_users_t *u = review_users_load(self->users_path, err, sizeof err);
    if (!u) {
        log_error("review", "%s (the reviewers stay as they were)", err);
        return;
    }
    review_users_destroy(&self->users);
    self->users = u;
}

/* ---- sessions ------------------------------------------------------------- */

static void s_session_drop(review_t *self, size_t i)
{
    free(self->sessions[i].user);
    OPENSSL_cleanse(&self->sessions[i], sizeof self->sessions[i]);
    self->sessions[i] = self->sessions[--self->nsessions];
    OPENSSL_cleanse(&self->sessions[self->nsessions], sizeof self->sessions[0]);
}

static void s_sessions_expire(review_t *self, int64_t now)
{
    for (size_t i = 0; i < self->nsessions;) {
        const s_session_t *s = &self->sessions[i];
        if (now - s->used_us > self->idle_us || now - s->created_us > self->max_us)
            s_session_drop(self, i);
        else
            i++;
    }
}

/* The live session of the request's cookie (its use recorded), or NULL. */
static s_session_t *s_session_of(review_t *self, struct MHD_Connection *conn)
{
    const char *tok = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, S_COOKIE);
    int64_t now = s_now_us();
    s_sessions_expire(self, now);
    if (!tok)
        return NULL;
    for (size_t i = 0; i < self->nsessions; i++)
        if (s_token_eq(self->sessions[i].token, tok)) {
            self->sessions[i].used_us = now;
            return &self->sessions[i];
        }
    return NULL;
}

static s_session_t *s_session_new(review_t *self, const char *user)
{
    int64_t now = s_now_us();
    s_sessions_expire(self, now);
    if (self->nsessions == S_MAX_SESSIONS) {
        /* Full: the least recently used goes. */
        size_t old = 0;
        for (size_t i = 1; i < self->nsessions; i++)
            if (self->sessions[i].used_us < self->sessions[old].used_us)
                old = i;
        s_session_drop(self, old);
    }
    s_session_t *s = &self->sessions[self->nsessions];
    memset(s, 0, sizeof *s);
    s_random_hex(s->token);
    s_random_hex(s->csrf);
    s->user = strdup(user);
    if (!s->token[0] || !s->csrf[0] || !s->user) {
        free(s->user);
        return NULL;
    }
    s->created_us = s->used_us = now;
    self->nsessions++;
    return s;
}

/* ---- requests: fields --------------------------------------------------- */

static const char *s_field(const s_req_t *req, const char *key)
{
    for (size_t i = 0; i < req->nkv; i++)
        if (strcmp(req->kv[i].key, key) == 0)
            return req->kv[i].val;
    return NULL;
}

static enum MHD_Result s_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
    s_req_t *req = cls;
    s_kv_t *kv = NULL;
    /* A value may arrive in pieces (off > 0): the last field continues. */
    if (off > 0 && req->nkv && strcmp(req->kv[req->nkv - 1].key, key) == 0)
        kv = &req->kv[req->nkv - 1];
    else {
        if (req->nkv == S_MAX_FIELDS)
            return MHD_NO;
        kv = &req->kv[req->nkv];
        if (!(kv->key = strdup(key)))
            return MHD_NO;
        kv->val = NULL;
        kv->len = 0;
        req->nkv++;
    }
    if (kv->len + size > S_BODY_LIMIT)
        return MHD_NO;
    char *v = realloc(kv->val, kv->len + size + 1);
    if (!v)
        return MHD_NO;
    memcpy(v + kv->len, data, size);
    kv->len += size;
    v[kv->len] = '\0';
    kv->val = v;
    return MHD_YES;
}

static const char *s_arg(struct MHD_Connection *conn, const char *key)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
    return v ? v : "";
}

static const char *s_in(struct MHD_Connection *conn, const s_req_t *req, const char *key)
{
    const char *v = s_field(req, key);
    return v ? v : s_arg(conn, key);
}

static void s_filter_read(struct MHD_Connection *conn, const s_req_t *req, s_filter_t *f)
{
    f->commune = s_in(conn, req, "commune");
    f->source = s_in(conn, req, "source");
    f->status = s_in(conn, req, "status");
    if (strcmp(f->status, "decided") != 0 && strcmp(f->status, "all") != 0)
        f->status = "pending";
    const char *p = s_in(conn, req, "page");
    f->page = *p ? strtol(p, NULL, 10) : 1;
    if (f->page < 1)
        f->page = 1;
}

/* A POST from another site: the browser says so in Origin (when it sends
 * one, it must be this very host) or Sec-Fetch-Site. */
static bool s_cross_site(struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return true;
    if (origin && strcmp(origin, "null") != 0) {
        if (!host || strncmp(origin, "http://", 7) != 0 || strcmp(origin + 7, host) != 0)
            return true;
    }
    return false;
}

/* ---- the store: decisions and entities -------------------------------- */

typedef struct {
    char **ids;
    size_t n;
} s_ids_t;

static int s_collect_id(const char *id, void *ctx)
{
    s_ids_t *x = ctx;
    char **g = realloc(x->ids, (x->n + 1) * sizeof *g);
    if (!g)
        return 1;
    x->ids = g;
    if (!(g[x->n] = strdup(id)))
        return 1;
    x->n++;
    return 0;
}

static void s_ids_free(s_ids_t *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->ids[i]);
    free(x->ids);
    x->ids = NULL;
    x->n = 0;
}

static bool s_ids_has(const s_ids_t *x, const char *id)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->ids[i], id) == 0)
            return true;
    return false;
}

/* The entity of a record ("" when it has none) and its members. */
static void s_entity(review_t *self, erstore_txn_t *t, const char *rid, char ent[ERSTORE_ID_MAX + 1],
                     s_ids_t *members)
{
    ent[0] = '\0';
    if (erstore_entity_of(t, self->kind, rid, ent, ERSTORE_ID_MAX + 1) != 0)
        ent[0] = '\0';
    if (members && ent[0])
        erstore_members(t, self->kind, ent, s_collect_id, members);
}

/* Writes the golden record of an entity again over its members' loaded
 * records (the streaming stage's way, er_golden); nothing when none of
 * them is loaded or the entity is retired. */
static int s_golden_update(review_t *self, erstore_txn_t *t, const char *ent)
{
    s_ids_t mem = { 0 };
    if (!ent[0] || erstore_members(t, self->kind, ent, s_collect_id, &mem) != 0) {
        s_ids_free(&mem);
        return 0;
    }
    uint32_t *idx = calloc(mem.n ? mem.n : 1, sizeof *idx);
    size_t k = 0;
    for (size_t i = 0; idx && i < mem.n; i++) {
        long j = er_data_find(self->data, mem.ids[i]);
        if (j >= 0)
            idx[k++] = (uint32_t) j;
    }
    int rc = 0;
    if (k) {
        json_t *g = er_golden(self->data, idx, k);
        char *s = g ? json_dumps(g, JSON_COMPACT) : NULL;
        rc = s ? erstore_golden_put(t, self->kind, ent, s) : ERSTORE_ENOMEM;
        free(s);
        json_decref(g);
    }
    free(idx);
    s_ids_free(&mem);
    return rc;
}

/* Accept: the pair is one entity. b's entity joins a's (the larger keeps
 * its id) unless a manual unlink separates some of their records; then b
 * alone moves. A record without an entity joins the other's; two without
 * get a new one. */
static int s_apply_link(review_t *self, erstore_txn_t *t, const char *a, const char *b)
{
    char ea[ERSTORE_ID_MAX + 1], eb[ERSTORE_ID_MAX + 1];
    s_ids_t ma = { 0 }, mb = { 0 };
    s_entity(self, t, a, ea, &ma);
    s_entity(self, t, b, eb, &mb);
    int rc = 0;
    if (ea[0] && strcmp(ea, eb) == 0)
        goto done;
    if (!ea[0] && !eb[0]) {
        char n[ERSTORE_ID_MAX + 1];
        rc = erstore_new_entity_id(t, self->kind, n, sizeof n);
        if (!rc)
            rc = erstore_link_record(t, self->kind, a, n);
        if (!rc)
            rc = erstore_link_record(t, self->kind, b, n);
        if (!rc)
            rc = s_golden_update(self, t, n);
        goto done;
    }
    if (!ea[0] || !eb[0]) {
        const char *lone = ea[0] ? b : a, *into = ea[0] ? ea : eb;
        rc = erstore_link_record(t, self->kind, lone, into);
        if (!rc)
            rc = s_golden_update(self, t, into);
        goto done;
    }
    bool b_into_a = ma.n > mb.n || (ma.n == mb.n && strcmp(ea, eb) < 0);
    const s_ids_t *from = b_into_a ? &mb : &ma, *to = b_into_a ? &ma : &mb;
    const char *into = b_into_a ? ea : eb, *left = b_into_a ? eb : ea;
    bool separated = false;
    for (size_t i = 0; i < from->n && !separated; i++)
        for (size_t j = 0; j < to->n && !separated; j++) {
            erstore_decision_kind_t k;
            separated = erstore_decision_get(t, self->kind, from->ids[i], to->ids[j], &k) == 0
                     && k == ERSTORE_UNLINK;
        }
    if (separated) {
        rc = erstore_link_record(t, self->kind, b, ea);
        into = ea;
        left = eb;
    } else {
        for (size_t i = 0; i < from->n && !rc; i++)
            rc = erstore_link_record(t, self->kind, from->ids[i], into);
    }
    if (!rc)
        rc = s_golden_update(self, t, into);
    if (!rc)
        rc = s_golden_update(self, t, left);
done:
    s_ids_free(&ma);
    s_ids_free(&mb);
    return rc;
}

/* Moves the records of `leave` that share an entity with a record of
 * `stay` into one new entity; golden records of every entity touched
 * written again. */
static int s_apply_separate(review_t *self, erstore_txn_t *t, const s_ids_t *leave,
                            const s_ids_t *stay)
{
    char n[ERSTORE_ID_MAX + 1] = "";
    s_ids_t touched = { 0 };
    int rc = 0;
    for (size_t i = 0; i < leave->n && !rc; i++) {
        char el[ERSTORE_ID_MAX + 1];
        s_entity(self, t, leave->ids[i], el, NULL);
        if (!el[0])
            continue;
        bool shared = false;
        for (size_t j = 0; j < stay->n && !shared; j++) {
            char es[ERSTORE_ID_MAX + 1];
            s_entity(self, t, stay->ids[j], es, NULL);
            shared = strcmp(el, es) == 0;
        }
        if (!shared)
            continue;
        if (!n[0])
            rc = erstore_new_entity_id(t, self->kind, n, sizeof n);
        if (!rc)
            rc = erstore_link_record(t, self->kind, leave->ids[i], n);
        if (!rc && !s_ids_has(&touched, el))
            s_collect_id(el, &touched);
    }
    if (!rc && n[0])
        rc = s_golden_update(self, t, n);
    for (size_t i = 0; i < touched.n && !rc; i++)
        rc = s_golden_update(self, t, touched.ids[i]);
    s_ids_free(&touched);
    return rc;
}

/* One decision, in one write transaction: recorded, then applied. kind is
 * ERSTORE_LINK or ERSTORE_UNLINK; 0 or -1 with err. */
static int s_decide(review_t *self, erstore_decision_kind_t kind, const char *a, const char *b,
                    const char *who, const char *note, char *err, size_t errlen)
{
    erstore_txn_t *t = erstore_begin(self->store, true);
    int rc = t ? erstore_decide(t, self->kind, kind, a, b, who, note, 0) : ERSTORE_EIO;
    if (!rc) {
        if (kind == ERSTORE_LINK)
            rc = s_apply_link(self, t, a, b);
        else {
            s_ids_t leave = { 0 }, stay = { 0 };
            s_collect_id(b, &leave);
            s_collect_id(a, &stay);
            rc = s_apply_separate(self, t, &leave, &stay);
            s_ids_free(&leave);
            s_ids_free(&stay);
        }
    }
    if (!rc)
        rc = erstore_commit(&t);
    if (rc) {
        snprintf(err, errlen, "the store refused the decision: %s", erstore_error());
        erstore_abort(&t);
        return -1;
    }
    log_info("review", "decision recorded: %s", kind == ERSTORE_LINK ? "link" : "unlink");
    return 0;
}

/* Split: every record of leave unlinked from every record of stay. */
static int s_split(review_t *self, const s_ids_t *leave, const s_ids_t *stay, const char *who,
                   const char *note, char *err, size_t errlen)
{
    erstore_txn_t *t = erstore_begin(self->store, true);
    int rc = t ? 0 : ERSTORE_EIO;
    for (size_t i = 0; i < leave->n && !rc; i++)
        for (size_t j = 0; j < stay->n && !rc; j++)
            rc = erstore_decide(t, self->kind, ERSTORE_UNLINK, leave->ids[i], stay->ids[j], who,
                                note, 0);
    if (!rc)
        rc = s_apply_separate(self, t, leave, stay);
    if (!rc)
        rc = erstore_commit(&t);
    if (rc) {
        snprintf(err, errlen, "the store refused the split: %s", erstore_error());
        erstore_abort(&t);
        return -1;
    }
    log_info("review", "split recorded: %zu records left a group of %zu", leave->n,
             leave->n + stay->n);
    return 0;
}

/* The rule in force for a pair with who and when: 0 (none), LINK, UNLINK. */
typedef struct {
    const char *a, *b;
    erstore_decision_kind_t kind;
    char who[256];
    char note[256];
    int64_t at_us;
} s_rule_t;

static int s_find_rule(const erstore_decision_t *d, void *ctx)
{
    s_rule_t *r = ctx;
    if ((strcmp(d->a, r->a) == 0 && strcmp(d->b, r->b) == 0)
        || (strcmp(d->a, r->b) == 0 && strcmp(d->b, r->a) == 0)) {
        r->kind = d->kind;
        snprintf(r->who, sizeof r->who, "%s", d->who);
        snprintf(r->note, sizeof r->note, "%s", d->note ? d->note : "");
        r->at_us = d->at_us;
        return 1;
    }
    return 0;
}

static void s_rule(review_t *self, erstore_txn_t *t, const char *a, const char *b, s_rule_t *r)
{
    memset(r, 0, sizeof *r);
    r->a = a;
    r->b = b;
    erstore_decision_kind_t k;
    if (erstore_decision_get(t, self->kind, a, b, &k) != 0)
        return;
    erstore_decisions(t, self->kind, false, s_find_rule, r);
}

static void s_fmt_time(int64_t us, char *out, size_t n)
{
    time_t s = (time_t) (us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* ---- the queue ------------------------------------------------------------ */

static const char *s_value(const review_t *self, long i, long field)
{
    return i >= 0 && field >= 0 ? er_data_value(self->data, (size_t) i, (size_t) field) : NULL;
}

static const char *s_source(const review_t *self, long i, const char *id)
{
    return i >= 0 ? er_data_source(self->data, (size_t) i) : NULL;
}

/* Whether pair k passes the filter; *status: 0 pending, else the rule. */
static bool s_pass(review_t *self, erstore_txn_t *t, size_t k, const s_filter_t *f, int *status)
{
    const s_pair_t *p = &self->pairs[k];
    if (*f->commune) {
        const char *ca = s_value(self, p->ia, self->commune_field);
        const char *cb = s_value(self, p->ib, self->commune_field);
        if (!(ca && strcmp(ca, f->commune) == 0) && !(cb && strcmp(cb, f->commune) == 0))
            return false;
    }
    if (*f->source) {
        const char *sa = s_source(self, p->ia, p->a), *sb = s_source(self, p->ib, p->b);
        if (!(sa && strcmp(sa, f->source) == 0) && !(sb && strcmp(sb, f->source) == 0))
            return false;
    }
    erstore_decision_kind_t d;
    *status = erstore_decision_get(t, self->kind, p->a, p->b, &d) == 0 ? (int) d : 0;
    if (strcmp(f->status, "pending") == 0)
        return *status == 0;
    if (strcmp(f->status, "decided") == 0)
        return *status != 0;
    return true;
}

/* The index of the next pending pair of the filter after pair (a, b) in
 * queue order (wrapping), or -1. */
static long s_next_pending(review_t *self, const s_filter_t *f, const char *a, const char *b)
{
    s_filter_t pf = *f;
    pf.status = "pending";
    erstore_txn_t *t = erstore_begin(self->store, false);
    long at = -1, first = -1, next = -1;
    for (size_t k = 0; k < self->npairs; k++)
        if ((strcmp(self->pairs[k].a, a) == 0 && strcmp(self->pairs[k].b, b) == 0)
            || (strcmp(self->pairs[k].a, b) == 0 && strcmp(self->pairs[k].b, a) == 0))
            at = (long) k;
    for (size_t k = 0; t && k < self->npairs && next < 0; k++) {
        int st;
        if (!s_pass(self, t, k, &pf, &st))
            continue;
        if (first < 0)
            first = (long) k;
        if ((long) k > at)
            next = (long) k;
    }
    erstore_abort(&t);
    return next >= 0 ? next : first;
}

/* ---- HTML ------------------------------------------------------------------ */

static const char s_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}"
    "header{background:#1f4e79;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}"
    "header a{color:#fff}header form{margin-left:auto}main{padding:16px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}"
    "td.diff{background:#ffe08a;font-weight:600}td.missing{color:#999}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".bar{height:12px;display:inline-block}.pos{background:#2e8b57}.neg{background:#c0392b}"
    ".barcell{width:260px}.msg{padding:8px;background:#e8f4e8;border:1px solid #9c9}"
    ".err{padding:8px;background:#fbe9e9;border:1px solid #d99}"
    "button{padding:6px 14px;margin-right:8px}.accept{background:#2e8b57;color:#fff}"
    ".reject{background:#c0392b;color:#fff}.status-link{color:#2e8b57}.status-unlink{color:#c0392b}";

static FILE *s_page_begin(char **buf, size_t *len, const char *title, const s_session_t *s)
{
    FILE *f = open_memstream(buf, len);
    if (!f)
        return NULL;
    fputs("<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\"><title>", f);
    s_esc(f, title);
    fprintf(f, " — lgsp review</title><style>%s</style></head><body><header>"
            "<strong>lgsp review</strong>", s_css);
    if (s) {
        fputs("<a href=\"/queue\">Queue</a><form method=\"post\" action=\"/logout\">"
              "<span id=\"who\">", f);
        s_esc(f, s->user);
        fputs("</span> <input type=\"hidden\" name=\"csrf\" value=\"", f);
        s_esc(f, s->csrf);
        fputs("\"><button type=\"submit\" id=\"logout\">Log out</button></form>", f);
    }
    fputs("</header><main>", f);
    return f;
}

static void s_page_end(FILE *f, s_resp_t *r, int status, char **buf, size_t *len)
{
    fputs("</main></body></html>\n", f);
    fclose(f);
    s_resp_set(r, status, CT_HTML, *buf, *len);
}

static void s_login_page(s_resp_t *r, int status, const char *message)
{
    char token[S_TOKEN_HEX + 1];
    s_random_hex(token);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = s_page_begin(&buf, &len, "Log in", NULL);
    if (!f)
        return;
    fputs("<h1>Log in</h1>", f);
    if (message) {
        fputs("<p class=\"err\" id=\"login-error\">", f);
        s_esc(f, message);
        fputs("</p>", f);
    }
    fputs("<form method=\"post\" action=\"/login\" id=\"login\">"
          "<input type=\"hidden\" name=\"csrf\" value=\"", f);
    s_esc(f, token);
    fputs("\"><p><label>Name <input name=\"name\" id=\"name\" autocomplete=\"username\" required>"
          "</label></p><p><label>Password <input type=\"password\" name=\"password\" "
          "id=\"password\" autocomplete=\"current-password\" required></label></p>"
          "<p><button type=\"submit\" id=\"login-submit\">Log in</button></p></form>", f);
    s_page_end(f, r, status, &buf, &len);
    s_cookie(r, S_LOGIN_COOKIE, token, 3600);
}

static void s_error_page(s_resp_t *r, const s_session_t *s, int status, const char *message)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = s_page_begin(&buf, &len, "Error", s);
    if (!f)
        return;
    fputs("<p class=\"err\">", f);
    s_esc(f, message);
    fputs("</p><p><a href=\"/queue\">Back to the queue</a></p>", f);
    s_page_end(f, r, status, &buf, &len);
}

static void s_commune_label(FILE *f, const review_t *self, const char *code)
{
    if (!code) {
        fputs("–", f);
        return;
    }
    s_esc(f, code);
    const char *name = s_commune_name(self, code);
    if (name) {
        fputs(" ", f);
        s_esc(f, name);
    }
}

/* Distinct strings (sorted) for the filter's choices. */
static void s_distinct_add(s_ids_t *x, const char *v)
{
    if (v && *v && !s_ids_has(x, v))
        s_collect_id(v, x);
}

static void s_select(FILE *f, const review_t *self, const char *name, const char *label,
                     s_ids_t *choices, const char *current, bool communes)
{
    qsort(choices->ids, choices->n, sizeof *choices->ids, s_name_cmp);
    fprintf(f, "<label>%s <select name=\"%s\" id=\"filter-%s\"><option value=\"\">(all)</option>",
            label, name, name);
    for (size_t i = 0; i < choices->n; i++) {
        fputs("<option value=\"", f);
        s_esc(f, choices->ids[i]);
        fputs(strcmp(choices->ids[i], current) == 0 ? "\" selected>" : "\">", f);
        if (communes)
            s_commune_label(f, self, choices->ids[i]);
        else
            s_esc(f, choices->ids[i]);
        fputs("</option>", f);
    }
    fputs("</select></label> ", f);
}

static void s_queue_page(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                         const s_session_t *s, s_resp_t *r)
{
    s_filter_t flt;
    s_filter_read(conn, req, &flt);
    erstore_txn_t *t = erstore_begin(self->store, false);
    if (!t) {
        s_error_page(r, s, 503, "the entity store cannot be read");
        return;
    }
    s_ids_t communes = { 0 }, sources = { 0 };
    size_t *hit = malloc((self->npairs ? self->npairs : 1) * sizeof *hit);
    int *st = malloc((self->npairs ? self->npairs : 1) * sizeof *st);
    size_t nhit = 0;
    for (size_t k = 0; hit && st && k < self->npairs; k++) {
        const s_pair_t *p = &self->pairs[k];
        s_distinct_add(&communes, s_value(self, p->ia, self->commune_field));
        s_distinct_add(&communes, s_value(self, p->ib, self->commune_field));
        s_distinct_add(&sources, s_source(self, p->ia, p->a));
        s_distinct_add(&sources, s_source(self, p->ib, p->b));
        int status;
        if (s_pass(self, t, k, &flt, &status)) {
            st[nhit] = status;
            hit[nhit++] = k;
        }
    }
    erstore_abort(&t);
    size_t pages = nhit ? (nhit + S_PER_PAGE - 1) / S_PER_PAGE : 1;
    if ((size_t) flt.page > pages)
        flt.page = (long) pages;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = s_page_begin(&buf, &len, "Queue", s);
    if (!f)
        goto out;
    fprintf(f, "<h1>Possible matches</h1>");
    if (*s_arg(conn, "done"))
        fputs("<p class=\"msg\" id=\"done\">No pending pair left in this filter.</p>", f);
    fputs("<form method=\"get\" action=\"/queue\" id=\"filter\">", f);
    s_select(f, self, "commune", "Commune (2025)", &communes, flt.commune, true);
    s_select(f, self, "source", "Source", &sources, flt.source, false);
    fputs("<label>Status <select name=\"status\" id=\"filter-status\">", f);
    const char *sts[] = { "pending", "decided", "all" };
    for (int i = 0; i < 3; i++)
        fprintf(f, "<option value=\"%s\"%s>%s</option>", sts[i],
                strcmp(sts[i], flt.status) == 0 ? " selected" : "", sts[i]);
    fputs("</select></label> <button type=\"submit\" id=\"filter-submit\">Filter</button></form>", f);
    fprintf(f, "<p id=\"count\">%zu pairs of %zu in the queue</p>", nhit, self->npairs);
    fputs("<table id=\"queue\"><thead><tr><th>#</th><th>probability</th><th>record a</th>"
          "<th>record b</th><th>name</th><th>commune</th><th>status</th></tr></thead><tbody>", f);
    long name_field = -1;
    for (size_t i = 0; i < er_spec_field_count(self->spec); i++)
        if (strcmp(er_spec_field_name(self->spec, i), "full_name") == 0
            || (name_field < 0 && strstr(er_spec_field_name(self->spec, i), "name")))
            name_field = (long) i;
    size_t from = (size_t) (flt.page - 1) * S_PER_PAGE;
    for (size_t h = from; h < nhit && h < from + S_PER_PAGE; h++) {
        const s_pair_t *p = &self->pairs[hit[h]];
        fprintf(f, "<tr class=\"pair\"><td>%zu</td><td class=\"num\">%.4f</td><td>", h + 1, p->prob);
        fputs("<a class=\"open\" href=\"/pair?a=", f);
        s_urlenc(f, p->a);
        fputs("&b=", f);
        s_urlenc(f, p->b);
        fputs("&", f);
        s_filter_query(f, &flt);
        fputs("\">", f);
        s_esc(f, p->a);
        fputs("</a></td><td>", f);
        s_esc(f, p->b);
        fputs("</td><td>", f);
        s_esc(f, s_value(self, p->ia, name_field));
        fputs("</td><td class=\"commune\">", f);
        const char *ca = s_value(self, p->ia, self->commune_field);
        const char *cb = s_value(self, p->ib, self->commune_field);
        s_commune_label(f, self, ca);
        if (cb && (!ca || strcmp(ca, cb) != 0)) {
            fputs(" / ", f);
            s_commune_label(f, self, cb);
        }
        fprintf(f, "</td><td class=\"status\">%s</td></tr>",
                st[h] == ERSTORE_LINK ? "accepted" : st[h] == ERSTORE_UNLINK ? "rejected" : "pending");
    }
    fputs("</tbody></table><p class=\"pages\">", f);
    for (size_t pg = 1; pg <= pages && pages > 1; pg++) {
        if ((long) pg == flt.page) {
            fprintf(f, "<strong>%zu</strong> ", pg);
            continue;
        }
        fputs("<a href=\"/queue?", f);
        s_filter_query(f, &flt);
        fprintf(f, "&page=%zu\">%zu</a> ", pg, pg);
    }
    fputs("</p>", f);
    s_page_end(f, r, 200, &buf, &len);
out:
    free(hit);
    free(st);
    s_ids_free(&communes);
    s_ids_free(&sources);
}

/* The records shown side by side: a, b, then the other members of their
 * entities. */
static void s_group(review_t *self, erstore_txn_t *t, const char *a, const char *b, s_ids_t *g)
{
    s_collect_id(a, g);
    s_collect_id(b, g);
    const char *two[2] = { a, b };
    for (int k = 0; k < 2; k++) {
        char ent[ERSTORE_ID_MAX + 1];
        s_ids_t mem = { 0 };
        s_entity(self, t, two[k], ent, &mem);
        for (size_t i = 0; i < mem.n && g->n < S_MAX_GROUP; i++)
            s_distinct_add(g, mem.ids[i]);
        s_ids_free(&mem);
    }
}

static void s_waterfall(FILE *f, const json_t *e)
{
    double maxw = 1;
    size_t i;
    json_t *o;
    double prior = json_number_value(json_object_get(json_object_get(e, "prior"), "weight"));
    maxw = fmax(maxw, fabs(prior));
    json_array_foreach(json_object_get(e, "comparisons"), i, o)
        maxw = fmax(maxw, fabs(json_number_value(json_object_get(o, "weight"))));
    fputs("<h2>Match weight</h2><table id=\"waterfall\"><thead><tr><th>comparison</th><th>a</th>"
          "<th>b</th><th>level</th><th>m</th><th>u</th><th>weight</th><th>running total</th>"
          "<th class=\"barcell\"></th></tr></thead><tbody>", f);
    /* The waterfall: each step's weight, the running total after it, and a
     * bar scaled to the largest step. */
    double running = prior;
    fprintf(f, "<tr><td>prior</td><td></td><td></td><td></td><td></td><td></td>"
            "<td class=\"num\">%+.2f</td><td class=\"num\">%+.2f</td><td class=\"barcell\">"
            "<span class=\"bar %s\" style=\"width:%.0f%%\"></span></td></tr>", prior, running,
            prior >= 0 ? "pos" : "neg", 100 * fabs(prior) / maxw);
    json_array_foreach(json_object_get(e, "comparisons"), i, o) {
        double w = json_number_value(json_object_get(o, "weight"));
        fputs("<tr class=\"comparison\"><td>", f);
        s_esc(f, json_string_value(json_object_get(o, "comparison")));
        if (json_object_get(o, "tf_adjustment"))
            fputs(" <small>(term frequency)</small>", f);
        fputs("</td><td>", f);
        s_esc(f, json_string_value(json_object_get(o, "a")));
        fputs("</td><td>", f);
        s_esc(f, json_string_value(json_object_get(o, "b")));
        fputs("</td><td>", f);
        s_esc(f, json_string_value(json_object_get(o, "level")));
        json_t *m = json_object_get(o, "m"), *u = json_object_get(o, "u");
        if (m && u)
            fprintf(f, "</td><td class=\"num\">%.4g</td><td class=\"num\">%.4g</td>",
                    json_number_value(m), json_number_value(u));
        else
            fputs("</td><td></td><td></td>", f);
        running += w;
        fprintf(f, "<td class=\"num\">%+.2f</td><td class=\"num\">%+.2f</td><td class=\"barcell\">"
                "<span class=\"bar %s\" style=\"width:%.0f%%\"></span></td></tr>", w, running,
                w >= 0 ? "pos" : "neg", 100 * fabs(w) / maxw);
    }
    fprintf(f, "</tbody><tfoot><tr><th colspan=\"6\">total</th><th></th><th class=\"num\" "
            "id=\"total\">%+.2f</th><th></th></tr></tfoot></table>",
            json_number_value(json_object_get(e, "total_weight")));
    fprintf(f, "<p id=\"probability\">probability %.6f: ",
            json_number_value(json_object_get(e, "probability")));
    s_esc(f, json_string_value(json_object_get(e, "verdict")));
    fputs("</p>", f);
}

static void s_pair_page(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                        const s_session_t *s, s_resp_t *r, const char *message)
{
    s_filter_t flt;
    s_filter_read(conn, req, &flt);
    const char *a = s_in(conn, req, "a"), *b = s_in(conn, req, "b");
    long ia = er_data_find(self->data, a), ib = er_data_find(self->data, b);
    if (!*a || !*b || strcmp(a, b) == 0) {
        s_error_page(r, s, 400, "a pair is two different record ids (a and b)");
        return;
    }
    if (ia < 0 || ib < 0) {
        s_error_page(r, s, 404, "a record of this pair is not loaded (review.records)");
        return;
    }
    erstore_txn_t *t = erstore_begin(self->store, false);
    if (!t) {
        s_error_page(r, s, 503, "the entity store cannot be read");
        return;
    }
    s_ids_t g = { 0 };
    s_group(self, t, a, b, &g);
    s_rule_t rule;
    s_rule(self, t, a, b, &rule);
    char ents[S_MAX_GROUP][ERSTORE_ID_MAX + 1];
    long idx[S_MAX_GROUP];
    for (size_t i = 0; i < g.n; i++) {
        s_entity(self, t, g.ids[i], ents[i], NULL);
        idx[i] = er_data_find(self->data, g.ids[i]);
    }
    erstore_abort(&t);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = s_page_begin(&buf, &len, "Pair", s);
    if (!f) {
        s_ids_free(&g);
        return;
    }
    fputs("<p><a href=\"/queue?", f);
    s_filter_query(f, &flt);
    fputs("\" id=\"back\">← queue</a></p><h1>Possible match</h1>", f);
    if (message) {
        fputs("<p class=\"msg\" id=\"message\">", f);
        s_esc(f, message);
        fputs("</p>", f);
    }
    if (rule.kind) {
        char when[40];
        s_fmt_time(rule.at_us, when, sizeof when);
        fprintf(f, "<p id=\"decision\" class=\"status-%s\">Decided: %s by ",
                rule.kind == ERSTORE_LINK ? "link" : "unlink",
                rule.kind == ERSTORE_LINK ? "accepted (link)" : "rejected (unlink)");
        s_esc(f, rule.who);
        fprintf(f, " at %s", when);
        if (rule.note[0]) {
            fputs(" — ", f);
            s_esc(f, rule.note);
        }
        fputs("</p>", f);
    } else {
        fputs("<p id=\"decision\">Not decided yet.</p>", f);
    }

    /* the records side by side; a cell differing from record a's value is marked */
    fputs("<table id=\"records\"><thead><tr><th>field</th>", f);
    for (size_t i = 0; i < g.n; i++) {
        fputs("<th class=\"record\">", f);
        s_esc(f, g.ids[i]);
        fputs("<br><small>", f);
        s_esc(f, i == 0 ? "a" : i == 1 ? "b" : "same entity");
        if (ents[i][0]) {
            fputs(" · ", f);
            s_esc(f, ents[i]);
        }
        fputs("</small></th>", f);
    }
    fputs("</tr></thead><tbody>", f);
    fputs("<tr><td>source</td>", f);
    for (size_t i = 0; i < g.n; i++) {
        fputs("<td>", f);
        s_esc(f, idx[i] >= 0 ? er_data_source(self->data, (size_t) idx[i]) : "(not loaded)");
        fputs("</td>", f);
    }
    fputs("</tr>", f);
    for (size_t fi = 0; fi < er_spec_field_count(self->spec); fi++) {
        const char *va = er_data_value(self->data, (size_t) ia, fi);
        fputs("<tr class=\"field\"><td>", f);
        s_esc(f, er_spec_field_name(self->spec, fi));
        fputs("</td>", f);
        for (size_t i = 0; i < g.n; i++) {
            const char *v = idx[i] >= 0 ? er_data_value(self->data, (size_t) idx[i], fi) : NULL;
            bool differs = i > 0 && v && va && strcmp(v, va) != 0;
            bool one_missing = i > 0 && (!v) != (!va);
            fprintf(f, "<td class=\"%s\">", !v ? "missing" : differs || one_missing ? "diff" : "same");
            if (fi == (size_t) self->commune_field && v)
                s_commune_label(f, self, v);
            else
                s_esc(f, v ? v : "–");
            fputs("</td>", f);
        }
        fputs("</tr>", f);
    }
    fputs("</tbody></table>", f);

    json_t *e = er_explain(self->model, self->data, (size_t) ia, (size_t) ib);
    if (e)
        s_waterfall(f, e);
    json_decref(e);

    /* accept / reject */
    fputs("<h2>Decision</h2><form method=\"post\" action=\"/decide\" id=\"decide\">"
          "<input type=\"hidden\" name=\"csrf\" value=\"", f);
    s_esc(f, s->csrf);
    fputs("\"><input type=\"hidden\" name=\"a\" value=\"", f);
    s_esc(f, a);
    fputs("\"><input type=\"hidden\" name=\"b\" value=\"", f);
    s_esc(f, b);
    fputs("\">", f);
    s_filter_inputs(f, &flt);
    fputs("<p><label>Note <input name=\"note\" id=\"note\" maxlength=\"500\"></label></p>"
          "<p><button type=\"submit\" name=\"decision\" value=\"accept\" class=\"accept\" "
          "id=\"accept\">Accept: the same person</button>"
          "<button type=\"submit\" name=\"decision\" value=\"reject\" class=\"reject\" "
          "id=\"reject\">Reject: different people</button></p></form>", f);

    /* split: a group of more than two */
    if (g.n > 2) {
        fputs("<h2>Split the group</h2><p>Tick the records that leave: each is unlinked from "
              "every record left unticked.</p><form method=\"post\" action=\"/split\" "
              "id=\"split\"><input type=\"hidden\" name=\"csrf\" value=\"", f);
        s_esc(f, s->csrf);
        fputs("\"><input type=\"hidden\" name=\"a\" value=\"", f);
        s_esc(f, a);
        fputs("\"><input type=\"hidden\" name=\"b\" value=\"", f);
        s_esc(f, b);
        fputs("\">", f);
        s_filter_inputs(f, &flt);
        for (size_t i = 0; i < g.n; i++) {
            fputs("<label><input type=\"checkbox\" name=\"leave\" value=\"", f);
            s_esc(f, g.ids[i]);
            fputs("\"> ", f);
            s_esc(f, g.ids[i]);
            fputs("</label><br>", f);
        }
        fputs("<p><label>Note <input name=\"note\" maxlength=\"500\"></label></p>"
              "<p><button type=\"submit\" id=\"split-submit\">Split</button></p></form>", f);
    }
    s_page_end(f, r, 200, &buf, &len);
    s_ids_free(&g);
}

/* After a decision: the next pending pair of the same filter, or the queue. */
static void s_after_decision(review_t *self, const s_filter_t *flt, const char *a, const char *b,
                             s_resp_t *r)
{
    long next = s_next_pending(self, flt, a, b);
    char *loc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&loc, &len);
    if (!f)
        return;
    if (next >= 0) {
        fputs("/pair?a=", f);
        s_urlenc(f, self->pairs[next].a);
        fputs("&b=", f);
        s_urlenc(f, self->pairs[next].b);
        fputs("&", f);
    } else {
        fputs("/queue?done=1&", f);
    }
    s_filter_query(f, flt);
    fclose(f);
    s_redirect(r, loc);
}

/* ---- handlers ----------------------------------------------------------- */

static void s_do_login(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                       s_resp_t *r)
{
    const char *pre = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, S_LOGIN_COOKIE);
    const char *csrf = s_field(req, "csrf");
    const char *name = s_field(req, "name"), *password = s_field(req, "password");
    if (!s_token_eq(pre, csrf) || s_cross_site(conn)) {
        s_login_page(r, 403, "The form has expired: please log in again.");
        return;
    }
    /* The check costs ~0.3 s: outside the lock, against a copy of the users. */
    s_users_refresh(self);
    review_users_t *users = self->users;
    self->users = NULL;         /* borrowed while unlocked; a refresh meanwhile sees none */
    pthread_mutex_unlock(&self->lock);
    bool ok = name && password && review_users_verify(users, name, password);
    pthread_mutex_lock(&self->lock);
    if (!self->users)
        self->users = users;
    else
        review_users_destroy(&users);
    if (!ok) {
        log_info("review", "a login was refused");
        s_login_page(r, 401, "Wrong name or password.");
        return;
    }
    s_session_t *s = s_session_new(self, name);
    if (!s) {
        s_login_page(r, 503, "No session could be made; try again.");
        return;
    }
    log_info("review", "a reviewer logged in (%zu sessions)", self->nsessions);
    s_cookie(r, S_COOKIE, s->token, self->max_us / 1000000);
    s_cookie(r, S_LOGIN_COOKIE, "", 0);
    s_redirect(r, strdup("/queue"));
}

static void s_do_decide(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                        const s_session_t *s, s_resp_t *r)
{
    s_filter_t flt;
    s_filter_read(conn, req, &flt);
    const char *a = s_in(conn, req, "a"), *b = s_in(conn, req, "b");
    const char *d = s_in(conn, req, "decision"), *note = s_in(conn, req, "note");
    erstore_decision_kind_t k = strcmp(d, "accept") == 0 ? ERSTORE_LINK
                              : strcmp(d, "reject") == 0 ? ERSTORE_UNLINK : 0;
    if (!k || er_data_find(self->data, a) < 0 || er_data_find(self->data, b) < 0
        || strcmp(a, b) == 0) {
        s_error_page(r, s, 400, "expected accept or reject of two loaded records");
        return;
    }
    char err[600];
    if (s_decide(self, k, a, b, s->user, note, err, sizeof err) != 0) {
        s_error_page(r, s, 500, err);
        return;
    }
    s_after_decision(self, &flt, a, b, r);
}

static void s_do_split(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                       const s_session_t *s, s_resp_t *r)
{
    s_filter_t flt;
    s_filter_read(conn, req, &flt);
    const char *a = s_in(conn, req, "a"), *b = s_in(conn, req, "b");
    const char *note = s_in(conn, req, "note");
    erstore_txn_t *t = erstore_begin(self->store, false);
    s_ids_t g = { 0 }, leave = { 0 }, stay = { 0 };
    if (t && *a && *b && strcmp(a, b) != 0)
        s_group(self, t, a, b, &g);
    erstore_abort(&t);
    for (size_t i = 0; i < req->nkv; i++)
        if (strcmp(req->kv[i].key, "leave") == 0 && req->kv[i].val && s_ids_has(&g, req->kv[i].val))
            s_distinct_add(&leave, req->kv[i].val);
    for (size_t i = 0; i < g.n; i++)
        if (!s_ids_has(&leave, g.ids[i]))
            s_collect_id(g.ids[i], &stay);
    char err[600];
    if (g.n < 3 || !leave.n || !stay.n) {
        s_error_page(r, s, 400, "a split needs a group of more than two records and at least one "
                     "record ticked and one not");
    } else if (s_split(self, &leave, &stay, s->user, *note ? note : "split", err, sizeof err) != 0) {
        s_error_page(r, s, 500, err);
    } else {
        s_after_decision(self, &flt, a, b, r);
    }
    s_ids_free(&g);
    s_ids_free(&leave);
    s_ids_free(&stay);
}

/* ---- the JSON API ------------------------------------------------------- */

static json_t *s_values_json(const review_t *self, long i)
{
    json_t *o = json_object();
    for (size_t fi = 0; i >= 0 && fi < er_spec_field_count(self->spec); fi++) {
        const char *v = er_data_value(self->data, (size_t) i, fi);
        json_object_set_new(o, er_spec_field_name(self->spec, fi), v ? json_string(v) : json_null());
    }
    return o;
}

static void s_api_queue(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                        s_resp_t *r)
{
    s_filter_t flt;
    s_filter_read(conn, req, &flt);
    erstore_txn_t *t = erstore_begin(self->store, false);
    if (!t) {
        s_json_error(r, 503, "the entity store cannot be read");
        return;
    }
    json_t *arr = json_array();
    size_t total = 0, from = (size_t) (flt.page - 1) * S_PER_PAGE;
    for (size_t k = 0; k < self->npairs; k++) {
        int st;
        if (!s_pass(self, t, k, &flt, &st))
            continue;
        if (total >= from && total < from + S_PER_PAGE) {
            const s_pair_t *p = &self->pairs[k];
            const char *ca = s_value(self, p->ia, self->commune_field);
            const char *cb = s_value(self, p->ib, self->commune_field);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:s, s:[s?,s?], s:[s?,s?]}",
                "a", p->a, "b", p->b, "probability", p->prob,
                "status", st == ERSTORE_LINK ? "accepted" : st == ERSTORE_UNLINK ? "rejected" : "pending",
                "communes", ca, cb, "sources", s_source(self, p->ia, p->a), s_source(self, p->ib, p->b)));
        }
        total++;
    }
    erstore_abort(&t);
    s_json_resp(r, 200, json_pack("{s:I, s:I, s:i, s:o}", "total", (json_int_t) total, "page",
                                  (json_int_t) flt.page, "per_page", S_PER_PAGE, "pairs", arr));
}

static void s_api_pair(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                       s_resp_t *r)
{
    const char *a = s_in(conn, req, "a"), *b = s_in(conn, req, "b");
    long ia = er_data_find(self->data, a), ib = er_data_find(self->data, b);
    if (ia < 0 || ib < 0 || ia == ib) {
        s_json_error(r, 404, "expected two loaded records a and b");
        return;
    }
    erstore_txn_t *t = erstore_begin(self->store, false);
    if (!t) {
        s_json_error(r, 503, "the entity store cannot be read");
        return;
    }
    s_ids_t g = { 0 };
    s_group(self, t, a, b, &g);
    json_t *recs = json_array();
    for (size_t i = 0; i < g.n; i++) {
        char ent[ERSTORE_ID_MAX + 1];
        s_entity(self, t, g.ids[i], ent, NULL);
        long j = er_data_find(self->data, g.ids[i]);
        json_array_append_new(recs, json_pack("{s:s, s:s?, s:s?, s:o}", "id", g.ids[i], "source",
                                              j >= 0 ? er_data_source(self->data, (size_t) j) : NULL,
                                              "entity", ent[0] ? ent : NULL, "values",
                                              s_values_json(self, j)));
    }
    s_rule_t rule;
    s_rule(self, t, a, b, &rule);
    erstore_abort(&t);
    s_ids_free(&g);
    json_t *dec = json_null();
    if (rule.kind)
        dec = json_pack("{s:s, s:s, s:s, s:I}", "decision", rule.kind == ERSTORE_LINK ? "link" : "unlink",
                        "who", rule.who, "note", rule.note, "at_us", (json_int_t) rule.at_us);
    s_json_resp(r, 200, json_pack("{s:o, s:o, s:o}", "records", recs, "explanation",
                                  er_explain(self->model, self->data, (size_t) ia, (size_t) ib),
                                  "decision", dec));
}

static void s_api_decide(review_t *self, struct MHD_Connection *conn, const s_req_t *req,
                         const s_session_t *s, s_resp_t *r)
{
    json_t *j = req->body ? json_loads(req->body, 0, NULL) : NULL;
    const char *a = json_string_value(json_object_get(j, "a"));
    const char *b = json_string_value(json_object_get(j, "b"));
    const char *d = json_string_value(json_object_get(j, "decision"));
    const char *note = json_string_value(json_object_get(j, "note"));
    char err[600];
    int rc = -1;
    if (!a || !b || !d || strcmp(a, b) == 0 || er_data_find(self->data, a) < 0
        || er_data_find(self->data, b) < 0) {
        s_json_error(r, 400, "expected {\"a\", \"b\", \"decision\": accept|reject|split} of two "
                     "loaded records");
        json_decref(j);
        return;
    }
    if (strcmp(d, "accept") == 0 || strcmp(d, "reject") == 0) {
        rc = s_decide(self, d[0] == 'a' ? ERSTORE_LINK : ERSTORE_UNLINK, a, b, s->user,
                      note ? note : "", err, sizeof err);
    } else if (strcmp(d, "split") == 0) {
        erstore_txn_t *t = erstore_begin(self->store, false);
        s_ids_t g = { 0 }, leave = { 0 }, stay = { 0 };
        if (t)
            s_group(self, t, a, b, &g);
        erstore_abort(&t);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(j, "leave"), i, v)
            if (json_is_string(v) && s_ids_has(&g, json_string_value(v)))
                s_distinct_add(&leave, json_string_value(v));
        for (i = 0; i < g.n; i++)
            if (!s_ids_has(&leave, g.ids[i]))
                s_collect_id(g.ids[i], &stay);
        if (g.n < 3 || !leave.n || !stay.n)
            snprintf(err, sizeof err, "a split needs a group of more than two records, \"leave\" "
                     "naming some of them, and some left");
        else
            rc = s_split(self, &leave, &stay, s->user, note ? note : "split", err, sizeof err);
        s_ids_free(&g);
        s_ids_free(&leave);
        s_ids_free(&stay);
    } else {
        snprintf(err, sizeof err, "decision: accept, reject or split");
    }
    if (rc != 0) {
        s_json_error(r, 400, err);
        json_decref(j);
        return;
    }
    s_filter_t flt = { "", "", "pending", 1 };
    long next = s_next_pending(self, &flt, a, b);
    s_json_resp(r, 200, json_pack("{s:b, s:o}", "ok", 1, "next", next >= 0
                                  ? json_pack("{s:s, s:s}", "a", self->pairs[next].a, "b",
                                              self->pairs[next].b) : json_null()));
    json_decref(j);
}

/* ---- dispatch ------------------------------------------------------------ */

static void s_handle(review_t *self, struct MHD_Connection *conn, const char *method,
                     const char *url, const s_req_t *req, s_resp_t *r)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    bool api = strncmp(url, "/api/", 5) == 0;
    if (req->too_large) {
        s_resp_set(r, 413, "text/plain", strdup("request too large\n"), 18);
        return;
    }
    if (get && strcmp(url, "/login") == 0) {
        s_login_page(r, 200, NULL);
        return;
    }
    if (post && strcmp(url, "/login") == 0) {
        s_do_login(self, conn, req, r);
        return;
    }
    if (get && (strcmp(url, "/") == 0)) {
        s_redirect(r, strdup("/queue"));
        return;
    }
    s_session_t *s = s_session_of(self, conn);
    if (!s) {
        if (api)
            s_json_error(r, 401, "log in first (POST /login)");
        else
            s_redirect(r, strdup("/login"));
        return;
    }
    if (post) {
        const char *csrf = api ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token")
                               : s_field(req, "csrf");
        if (!s_token_eq(s->csrf, csrf) || s_cross_site(conn)) {
            log_info("review", "a POST without a valid CSRF token was refused");
            if (api)
                s_json_error(r, 403, "missing or wrong CSRF token");
            else
                s_error_page(r, s, 403, "The form has expired (CSRF check): open the page again.");
            return;
        }
    }
    s_refresh(self);
    if (post && strcmp(url, "/logout") == 0) {
        s_session_drop(self, (size_t) (s - self->sessions));
        s_cookie(r, S_COOKIE, "", 0);
        s_redirect(r, strdup("/login"));
    } else if (get && strcmp(url, "/queue") == 0) {
        s_queue_page(self, conn, req, s, r);
    } else if (get && strcmp(url, "/pair") == 0) {
        s_pair_page(self, conn, req, s, r, NULL);
    } else if (post && strcmp(url, "/decide") == 0) {
        s_do_decide(self, conn, req, s, r);
    } else if (post && strcmp(url, "/split") == 0) {
        s_do_split(self, conn, req, s, r);
    } else if (get && strcmp(url, "/api/session") == 0) {
        s_json_resp(r, 200, json_pack("{s:s, s:s, s:s}", "user", s->user, "csrf", s->csrf, "kind",
                                      self->kind));
    } else if (get && strcmp(url, "/api/queue") == 0) {
        s_api_queue(self, conn, req, r);
    } else if (get && strcmp(url, "/api/pair") == 0) {
        s_api_pair(self, conn, req, r);
    } else if (post && strcmp(url, "/api/decide") == 0) {
        s_api_decide(self, conn, req, s, r);
    } else if (api) {
        s_json_error(r, 404, "not found");
    } else {
        s_error_page(r, s, 404, "No such page.");
    }
}

/* ---- libmicrohttpd ------------------------------------------------------ */

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    s_req_t *req = *con_cls;
    if (!req)
        return;
    if (req->pp)
        MHD_destroy_post_processor(req->pp);
    for (size_t i = 0; i < req->nkv; i++) {
        free(req->kv[i].key);
        if (req->kv[i].val)
            OPENSSL_cleanse(req->kv[i].val, req->kv[i].len);   /* may be a password */
        free(req->kv[i].val);
    }
    if (req->body)
        OPENSSL_cleanse(req->body, req->len);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

static enum MHD_Result s_send(struct MHD_Connection *conn, s_resp_t *r)
{
    if (!r->status) {
        r->status = 500;
        free(r->body);
        r->body = strdup("internal error\n");
        r->len = r->body ? strlen(r->body) : 0;
        r->ctype = "text/plain";
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *) "",
        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    r->body = NULL;
    if (r->ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    for (int i = 0; i < r->ncookies; i++)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookies[i]);
    /* Pages of personal data: never cached, never framed, no script, no
     * referrer leaking record ids. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned) r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    review_t *self = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *con_cls = req;
        /* Forms are decoded by MHD's post processor; the API's bodies are
         * JSON, kept whole. */
        if (strcmp(method, "POST") == 0 && strncmp(url, "/api/", 5) != 0) {
            const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_TYPE);
            if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
                req->pp = MHD_create_post_processor(conn, 16 * 1024, s_post_field, req);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->pp) {
            if (!req->too_large && MHD_post_process(req->pp, upload_data, *upload_data_size) != MHD_YES)
                req->too_large = true;
        } else if (!req->too_large) {
            if (req->len + *upload_data_size > S_BODY_LIMIT) {
                req->too_large = true;
            } else {
                char *g = realloc(req->body, req->len + *upload_data_size + 1);
                if (g) {
                    memcpy(g + req->len, upload_data, *upload_data_size);
                    req->len += *upload_data_size;
                    g[req->len] = '\0';
                    req->body = g;
                } else
                    req->too_large = true;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    s_resp_t r = { 0 };
    pthread_mutex_lock(&self->lock);
    s_handle(self, conn, method, url, req, &r);
    pthread_mutex_unlock(&self->lock);
    enum MHD_Result ret = s_send(conn, &r);
    free(r.body);
    free(r.location);
    for (int i = 0; i < r.ncookies; i++)
        free(r.cookies[i]);
    /* The route, never the request's path or contents. */
    log_debug("review", "%s -> %d", method, r.status);
    return ret;
}

static void s_mhd_log(void *cls, const char *fm, va_list ap)
{
    (void) cls;
    if (log_get_level() < LOG_DEBUG)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fm, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    log_debug("review", "libmicrohttpd: %s", msg);
}

/* ---- the service ---------------------------------------------------------- */

typedef union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} s_addr_t;

/* "host:port" or "[v6]:port" with a loopback host only (config.c checked
 * it already; checked again here, where the socket is bound). */
static int s_listen_addr(const char *listen, s_addr_t *addr)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t) (close - listen - 1) >= sizeof host)
            return -1;
        memcpy(host, listen + 1, (size_t) (close - listen - 1));
        host[close - listen - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t) (colon - listen) >= sizeof host)
            return -1;
        memcpy(host, listen, (size_t) (colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    size_t nd = strspn(port, "0123456789");
    unsigned long p = nd ? strtoul(port, NULL, 10) : 0;
    if (!nd || nd > 5 || port[nd] || p > 65535)
        return -1;
    memset(addr, 0, sizeof *addr);
    if (strcasecmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr->in4.sin_addr) == 1
        && ((const uint8_t *) &addr->in4.sin_addr)[0] == 127) {
        addr->in4.sin_family = AF_INET;
        addr->in4.sin_port = htons((uint16_t) p);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &addr->in6.sin6_addr) == 1
        && IN6_IS_ADDR_LOOPBACK(&addr->in6.sin6_addr)) {
        addr->in6.sin6_family = AF_INET6;
        addr->in6.sin6_port = htons((uint16_t) p);
        return 0;
    }
    return -1;
}

static char *s_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

int review_check(const config_t *cfg, char **err)
{
    char e[600];
    er_spec_t *spec = er_spec_load(cfg->review_spec, e, sizeof e);
    review_users_t *u = spec ? review_users_load(cfg->review_users, e, sizeof e) : NULL;
    int rc = spec && u ? 0 : -1;
    if (rc && err && asprintf(err, "review: %s", e) < 0)
        *err = NULL;
    review_users_destroy(&u);
    er_spec_destroy(&spec);
    return rc;
}

review_t *review_new(const config_t *cfg, char **err)
{
    *err = NULL;
    char e[600];
    s_addr_t addr;
    if (!cfg->review_listen || s_listen_addr(cfg->review_listen, &addr) != 0) {
        if (asprintf(err, "review.listen '%s': expected a loopback host:port",
                     cfg->review_listen ? cfg->review_listen : "") < 0)
            *err = NULL;
        return NULL;
    }
    review_t *self = calloc(1, sizeof *self);
    if (!self) {
        *err = strdup("out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->store_dir = s_strdup0(cfg->review_store);
    self->spec_path = s_strdup0(cfg->review_spec);
    self->queue_path = s_strdup0(cfg->review_queue);
    self->records_path = s_strdup0(cfg->review_records);
    self->users_path = s_strdup0(cfg->review_users);
    self->idle_us = (int64_t) cfg->review_session_idle_ms * 1000;
    self->max_us = (int64_t) cfg->review_session_max_ms * 1000;
    self->commune_field = -1;

    if (!(self->spec = er_spec_load(self->spec_path, e, sizeof e)))
        goto fail;
    self->kind = er_spec_kind(self->spec);
    for (size_t i = 0; i < er_spec_field_count(self->spec); i++)
        if (strcmp(er_spec_field_name(self->spec, i), "commune") == 0)
            self->commune_field = (long) i;
    if (!(self->store = erstore_open(self->store_dir, e, sizeof e))) {
        char *msg = NULL;
        if (asprintf(&msg, "review.store: %s: %s", self->store_dir, e) >= 0) {
            *err = msg;
            review_destroy(&self);
            return NULL;
        }
        goto fail;
    }
    if (!(self->users = review_users_load(self->users_path, e, sizeof e)))
        goto fail;
    bool known = false;
    s_mtime_changed(self->users_path, &self->users_mtime, NULL, &known);
    if (cfg->review_admin)
        s_load_communes(self, cfg->review_admin);
    if (!s_mtime_changed(self->queue_path, &self->queue_mtime, &self->queue_size, &self->queue_seen)) {
        snprintf(e, sizeof e, "review.queue: %s: %s", self->queue_path, strerror(errno));
        goto fail;
    }
    if (s_load_engine(self, e, sizeof e) != 0 || s_load_queue(self, e, sizeof e) != 0)
        goto fail;

    bool v6 = addr.sa.sa_family == AF_INET6;
    uint16_t port = ntohs(v6 ? addr.in6.sin6_port : addr.in4.sin_port);
    self->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG
                                 | MHD_USE_AUTO | (v6 ? MHD_USE_IPv6 : 0),
                                 port, NULL, NULL, s_access, self,
                                 MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
                                 MHD_OPTION_SOCK_ADDR, &addr.sa,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned) S_THREADS,
                                 MHD_OPTION_CONNECTION_LIMIT, 64u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                 MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                                 MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(e, sizeof e, "review.listen %s: cannot serve there (in use?)", cfg->review_listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    log_info("review", "serving the review page on %s (port %d): %zu records, %zu pairs in the "
             "queue, %zu reviewers", cfg->review_listen, self->port, er_data_count(self->data),
             self->npairs, review_users_count(self->users));
    return self;
fail:
    *err = strdup(e);
    review_destroy(&self);
    return NULL;
}

void review_destroy(review_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    review_t *self = *self_p;
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    for (size_t i = 0; i < self->nsessions; i++)
        free(self->sessions[i].user);
    OPENSSL_cleanse(self->sessions, sizeof self->sessions);
    s_pairs_free(self->pairs, self->npairs);
    for (size_t i = 0; i < self->ncommunes; i++) {
        free(self->communes[i].code);
        free(self->communes[i].name);
    }
    free(self->communes);
    review_users_destroy(&self->users);
    er_model_destroy(&self->model);
    er_data_destroy(&self->data);
    erstore_destroy(&self->store);
    er_spec_destroy(&self->spec);
    free(self->store_dir);
    free(self->spec_path);
    free(self->queue_path);
    free(self->records_path);
    free(self->users_path);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int review_port(const review_t *self)
{
    return self ? self->port : 0;
}
