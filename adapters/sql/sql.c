/* sql.c — the `sql` adapter: a pull source reading tables through unixODBC,
 * incrementally by a watermark, with the queries in the configuration.
 *
 *   settings:
 *     connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=dn_land;Uid=lgsp_reader"
 *     password_file: /etc/lgsp/dn-land.pw     # or password: ..., appended as Pwd={...}
 *     page_size: 1000          # bound to the query's LIMIT ? marker
 *     connect_timeout: 10s
 *     query_timeout: 60s       # 0 = none
 *     max_chars: 4096          # bound buffer of one text value (longer ones are fetched apart)
 *     streams:
 *       - name: thua_dat
 *         query: >-
 *           SELECT t.id, ..., t.updated_at::text AS updated_at FROM thua_dat t
 *           WHERE (t.updated_at, t.id) > (CAST(? AS timestamptz), CAST(? AS bigint))
 *           ORDER BY t.updated_at, t.id LIMIT ?
 *         watermark: [updated_at, id]      # result columns, in the markers' order
 *         initial: ["-infinity", "0"]       # the watermark before the first row
 *         id: "thua_dat:{id}"               # the record's source id
 *         params: [updated_at, id, limit]   # optional: what each ? is
 *         json_columns: [owners]            # optional: text that is JSON, embedded as JSON values
 *         hidden: [wm_at, wm_id]            # optional: read (watermark, id) but not published
 *
 * Every row becomes one record: a JSON object {column: value} in the query's
 * column order (NULL -> null, integer types -> numbers, booleans -> true /
 * false, everything else -> the database's text, so numeric and timestamps
 * keep their exact digits), source id from the template, position
 * "<stream> row <n>" (n counts the stream's rows since it began), extra
 * header lgsp-stream. The message id is left to the host (source id + a
 * digest of the payload): a row read again unchanged is a duplicate, a
 * changed row is a new message. A json_columns column (json_agg,
 * row_to_json) is parsed and embedded as its JSON value, so one row can be
 * a whole document (a parcel with its owners); a value that is not JSON
 * sends the row to quarantine. hidden columns are left out of the payload:
 * several streams that publish the same document, each with the watermark
 * of its own table, then publish byte-identical payloads, which the host's
 * digest message ids store once.
 *
 * Watermark: the values of the watermark columns of the last row, kept as
 * the text the driver returned (full precision) and bound back as strings
 * (the query casts them). (updated_at, id) and not updated_at alone, because
 * rows share timestamps: "> last updated_at" would skip the rest of a group
 * that a page boundary split, ">=" would read it again forever. The state
 * ({"streams":{name:{"columns":[..],"watermark":[..],"rows":n}}}) is
 * committed with every batch of records, so a restart resumes exactly.
 *
 * Failures: a query that fails is logged with its SQLSTATE ("thua_dat:
 * SQLSTATE 42501: permission denied for table thua_dat"), the other streams
 * still run, and poll() returns -1 so the host restarts the adapter with
 * backoff. A lost connection (SQLSTATE 08xxx, 57P01-57P03, or the driver
 * says the link is dead) is closed and made again at the next poll. A row
 * that cannot become a record (text that does not convert, a NULL in the
 * id or watermark columns) goes to quarantine with its position and why. */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lgsp/adapter.h"
#include "odbc.h"
#include "sqlrow.h"

#define S_VERSION "1.0"
#define S_PARAM_LIMIT (-1)

typedef struct {
    char              *name;
    char              *query;
    char             **columns;      /* watermark columns */
    char             **initial;
    size_t             ncols;
    char             **wm;           /* committed watermark values */
    uint64_t           rows;         /* committed rows */
    int               *params;       /* per marker: index into columns, or S_PARAM_LIMIT; NULL = default */
    size_t             nparams;
    sqlrow_template_t *tpl;
    size_t            *wm_idx;       /* result column of each watermark column */
    char             **json_cols;    /* json_columns: text embedded as JSON values */
    size_t             njson;
    char             **hidden;       /* hidden: read, not published */
    size_t             nhidden;
    sqlrow_use_t      *uses;         /* per result column, from the two above */
    odbc_stmt_t       *stmt;
    bool               resolved;
    bool               failed;       /* the last poll of this stream failed */
} s_stream_t;

typedef struct {
    lgsp_adapter_t        *a;
    const lgsp_host_api_t *host;
    char                  *connstr;  /* with the password: never logged */
    unsigned               connect_timeout_s, query_timeout_s;
    long                   page_size;
    size_t                 max_chars;
    s_stream_t            *streams;
    size_t                 nstreams;
    odbc_conn_t           *conn;
    sqlrow_buf_t           json, sid, state, pos;
    char                  *pending[64];  /* the watermark of the rows in the batch (owned) */
    pthread_mutex_t        mu;           /* health (describe() reads it on another thread), quit */
    char                   health[1024];
    pthread_t              watcher;      /* cancels a running query when lgspd stops */
    bool                   watching;
    bool                   quit;
    pthread_cond_t         quit_cv;
} s_self_t;

/* ---- small helpers ------------------------------------------------------ */

static void s_free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void s_health(s_self_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_health(s_self_t *self, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&self->mu);
    va_start(ap, fmt);
    vsnprintf(self->health, sizeof self->health, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&self->mu);
}

static void s_describe(void *vself, char *buf, size_t len)
{
    s_self_t *self = vself;
    pthread_mutex_lock(&self->mu);
    snprintf(buf, len, "%s", self->health);
    pthread_mutex_unlock(&self->mu);
}

/* A list setting: a JSON array of strings, or one string "a, b". Returns a
 * new vector (caller frees) and its length, or NULL. */
static char **s_strv(const json_t *v, size_t *n)
{
    *n = 0;
    char **out = NULL;
    if (json_is_array(v)) {
        size_t cnt = json_array_size(v);
        out = calloc(cnt + 1, sizeof *out);
        for (size_t i = 0; out && i < cnt; i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (!s || !(out[i] = strdup(s))) {
                s_free_strv(out, cnt);
                return NULL;
            }
        }
        *n = cnt;
        return out;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return NULL;
    size_t cnt = 1;
    for (const char *p = s; *p; p++)
        cnt += *p == ',';
    out = calloc(cnt + 1, sizeof *out);
    if (!out)
        return NULL;
    const char *p = s;
    for (size_t i = 0; i < cnt; i++) {
        size_t l = strcspn(p, ",");
        const char *b = p, *e = p + l;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (!(out[i] = strndup(b, (size_t) (e - b)))) {
            s_free_strv(out, cnt);
            return NULL;
        }
        p += l + (p[l] == ',');
    }
    *n = cnt;
    return out;
}

static int s_uint_setting(s_self_t *self, const char *path, long def, long min, long max, long *out)
{
    const char *v = self->host->setting(self->a, path);
    *out = def;
    if (!v || !*v)
        return 0;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || !end || *end || x < min || x > max)
        return self->host->setting_error(self->a, path, "a whole number from %ld to %ld, not '%s'",
                                         min, max, v);
    *out = x;
    return 0;
}

static int s_seconds_setting(s_self_t *self, const char *path, unsigned def, unsigned *out)
{
    const char *v = self->host->setting(self->a, path);
    *out = def;
    if (!v || !*v)
        return 0;
    int64_t ms = sqlrow_parse_ms(v);
    if (ms < 0 || ms > 86400000)
        return self->host->setting_error(self->a, path, "a duration such as 30s or 2m (at most 24h), not '%s'", v);
    *out = (unsigned) ((ms + 999) / 1000);
    return 0;
}

/* ---- settings --------------------------------------------------------- */

static int s_read_password(s_self_t *self, const char *connection, char **password)
{
    const char *pw = self->host->setting(self->a, "password");
    const char *file = self->host->setting(self->a, "password_file");
    *password = NULL;
    if (pw && *pw && file && *file)
        return self->host->setting_error(self->a, "password_file", "give password or password_file, not both");
    if ((pw && *pw) || (file && *file)) {
        if (sqlrow_connstr_has_password(connection))
            return self->host->setting_error(self->a, "connection",
                                             "the connection string has a password and so does %s",
                                             pw && *pw ? "password" : "password_file");
    }
    if (pw && *pw) {
        *password = strdup(pw);
        return *password ? 0 : -1;
    }
    if (!file || !*file)
        return 0;
    FILE *f = fopen(file, "r");
    if (!f)
        return self->host->setting_error(self->a, "password_file", "%s: %s", file, strerror(errno));
    char line[1024];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return self->host->setting_error(self->a, "password_file", "%s: empty", file);
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    *password = strdup(line);
    memset(line, 0, sizeof line);
    return *password ? 0 : -1;
}

static void s_stream_free(s_stream_t *st)
{
    odbc_stmt_destroy(&st->stmt);
    free(st->name);
    free(st->query);
    s_free_strv(st->columns, st->ncols);
    s_free_strv(st->initial, st->ncols);
    s_free_strv(st->wm, st->ncols);
    free(st->params);
    free(st->wm_idx);
    s_free_strv(st->json_cols, st->njson);
    s_free_strv(st->hidden, st->nhidden);
    free(st->uses);
    sqlrow_template_destroy(&st->tpl);
}

static bool s_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* An optional list of result columns (json_columns, hidden): a list or
 * "a, b", each name once. */
static int s_column_list(s_self_t *self, const json_t *js, const char *key, const char *path,
                         char ***out, size_t *n)
{
    const json_t *v = json_object_get(js, key);
    *out = NULL;
    *n = 0;
    if (!v || (json_is_array(v) && json_array_size(v) == 0) || (json_is_string(v) && !*json_string_value(v)))
        return 0;
    char **names = s_strv(v, n);
    for (size_t k = 0; names && k < *n; k++) {
        if (!names[k][0] || strlen(names[k]) > 128) {
            s_free_strv(names, *n);
            *n = 0;
            return self->host->setting_error(self->a, path, "column names (a list or \"a, b\"), not an empty "
                                             "or overlong one");
        }
        for (size_t j = 0; j < k; j++)
            if (strcmp(names[j], names[k]) == 0) {
                int rc = self->host->setting_error(self->a, path, "'%s' is listed twice", names[k]);
                s_free_strv(names, *n);
                *n = 0;
                return rc;
            }
    }
    if (!names) {
        *n = 0;
        return self->host->setting_error(self->a, path, "a list of result columns, e.g. [owners, certificate]");
    }
    *out = names;
    return 0;
}

static int s_read_stream(s_self_t *self, size_t i, const json_t *js, s_stream_t *st)
{
    char path[96];
    lgsp_adapter_t *a = self->a;
    const lgsp_host_api_t *h = self->host;
#define P(field) (snprintf(path, sizeof path, "streams.%zu.%s", i, field), path)
    if (!json_is_object(js)) {
        snprintf(path, sizeof path, "streams.%zu", i);
        return h->setting_error(a, path, "a map with name, query, watermark, initial and id");
    }
    const char *name = json_string_value(json_object_get(js, "name"));
    if (!name || !s_name_ok(name))
        return h->setting_error(a, P("name"), "required: letters, digits, '.', '_' or '-' (at most 64)");
    for (size_t k = 0; k < i; k++)
        if (strcmp(self->streams[k].name, name) == 0)
            return h->setting_error(a, P("name"), "two streams are named '%s'", name);
    st->name = strdup(name);
    const char *query = json_string_value(json_object_get(js, "query"));
    if (!query || !*query)
        return h->setting_error(a, P("query"), "required: the SELECT with the watermark as ? markers");
    st->query = strdup(query);
    st->columns = s_strv(json_object_get(js, "watermark"), &st->ncols);
    if (!st->columns || st->ncols == 0 || st->ncols > 8)
        return h->setting_error(a, P("watermark"), "required: the watermark columns, e.g. [updated_at, id] (1 to 8)");
    size_t ninit = 0;
    st->initial = s_strv(json_object_get(js, "initial"), &ninit);
    if (!st->initial || ninit != st->ncols) {
        s_free_strv(st->initial, ninit);
        st->initial = NULL;
        return h->setting_error(a, P("initial"), "required: one starting value per watermark column (%zu)",
                                st->ncols);
    }
    const char *id = json_string_value(json_object_get(js, "id"));
    char err[256];
    if (!id || !*id)
        return h->setting_error(a, P("id"), "required: the source id template, e.g. \"%s:{id}\"", name);
    if (!(st->tpl = sqlrow_template_new(id, err, sizeof err)))
        return h->setting_error(a, P("id"), "%s", err);
    const json_t *params = json_object_get(js, "params");
    if (params) {
        size_t np = 0;
        char **pv = s_strv(params, &np);
        if (!pv || np == 0)
            return h->setting_error(a, P("params"), "a list of watermark columns and 'limit'");
        st->params = calloc(np, sizeof *st->params);
        st->nparams = np;
        for (size_t k = 0; st->params && k < np; k++) {
            if (strcmp(pv[k], "limit") == 0) {
                st->params[k] = S_PARAM_LIMIT;
                continue;
            }
            size_t c;
            for (c = 0; c < st->ncols; c++)
                if (strcmp(st->columns[c], pv[k]) == 0)
                    break;
            if (c == st->ncols) {
                int rc = h->setting_error(a, P("params"), "'%s' is neither a watermark column nor 'limit'", pv[k]);
                s_free_strv(pv, np);
                return rc;
            }
            st->params[k] = (int) c;
        }
        s_free_strv(pv, np);
        if (!st->params)
            return -1;
    }
    if (s_column_list(self, js, "json_columns", P("json_columns"), &st->json_cols, &st->njson) < 0
        || s_column_list(self, js, "hidden", P("hidden"), &st->hidden, &st->nhidden) < 0)
        return -1;
    for (size_t k = 0; k < st->nhidden; k++)
        for (size_t j = 0; j < st->njson; j++)
            if (strcmp(st->hidden[k], st->json_cols[j]) == 0)
                return h->setting_error(a, P("hidden"), "'%s' is in json_columns too: a hidden column is "
                                        "not published", st->hidden[k]);
    st->wm = calloc(st->ncols, sizeof *st->wm);
    st->wm_idx = calloc(st->ncols, sizeof *st->wm_idx);
    if (!st->name || !st->query || !st->wm || !st->wm_idx)
        return -1;
    for (size_t c = 0; c < st->ncols; c++)
        if (!(st->wm[c] = strdup(st->initial[c])))
            return -1;
#undef P
    return 0;
}

/* Takes each stream's watermark from the committed state. A stream the
 * state does not know, or whose watermark columns changed, starts from its
 * initial values (rows read again are duplicates by their message ids). */
static int s_load_state(s_self_t *self)
{
    void *buf = NULL;
    size_t len = 0;
    if (self->host->state_get(self->a, &buf, &len) < 0) {
        self->host->log(self->a, LGSP_LOG_ERROR, "reading the state: %s", self->host->last_error(self->a));
        return -1;
    }
    if (!buf)
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);
    self->host->free_mem(buf);
    json_t *streams = json_object_get(root, "streams");
    if (!json_is_object(streams)) {
        self->host->log(self->a, LGSP_LOG_ERROR, "the committed state is not this plugin's (%s)",
                        root ? "no streams" : jerr.text);
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < self->nstreams; i++) {
        s_stream_t *st = &self->streams[i];
        json_t *s = json_object_get(streams, st->name);
        if (!s)
            continue;
        json_t *cols = json_object_get(s, "columns"), *wm = json_object_get(s, "watermark");
        bool same = json_array_size(cols) == st->ncols && json_array_size(wm) == st->ncols;
        for (size_t c = 0; same && c < st->ncols; c++) {
            const char *cn = json_string_value(json_array_get(cols, c));
            same = cn && strcmp(cn, st->columns[c]) == 0 && json_is_string(json_array_get(wm, c));
        }
        if (!same) {
            self->host->log(self->a, LGSP_LOG_WARN, "%s: the watermark columns changed: starting from the initial values",
                            st->name);
            continue;
        }
        for (size_t c = 0; c < st->ncols; c++) {
            char *v = strdup(json_string_value(json_array_get(wm, c)));
            if (!v) {
                json_decref(root);
                return -1;
            }
            free(st->wm[c]);
            st->wm[c] = v;
        }
        json_int_t rows = json_integer_value(json_object_get(s, "rows"));
        st->rows = rows > 0 ? (uint64_t) rows : 0;
    }
    json_decref(root);
    return 0;
}

/* The state to commit: every stream's committed watermark, but stream
 * `cur`'s from `pending` with `rows`. Into self->state. */
static int s_state_text(s_self_t *self, const s_stream_t *cur, char *const *pending, uint64_t rows)
{
    json_t *root = json_object(), *streams = json_object();
    json_object_set_new(root, "streams", streams);
    for (size_t i = 0; i < self->nstreams; i++) {
        const s_stream_t *st = &self->streams[i];
        json_t *s = json_object(), *cols = json_array(), *wm = json_array();
        for (size_t c = 0; c < st->ncols; c++) {
            json_array_append_new(cols, json_string(st->columns[c]));
            json_array_append_new(wm, json_string(st == cur ? pending[c] : st->wm[c]));
        }
        json_object_set_new(s, "columns", cols);
        json_object_set_new(s, "watermark", wm);
        json_object_set_new(s, "rows", json_integer((json_int_t) (st == cur ? rows : st->rows)));
        json_object_set_new(streams, st->name, s);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return -1;
    self->state.len = 0;
    int rc = sqlrow_buf_append(&self->state, text, strlen(text));
    free(text);
    return rc;
}

/* ---- reading a stream ---------------------------------------------------- */

static void s_report(s_self_t *self, const s_stream_t *st, const odbc_error_t *e)
{
    if (e->sqlstate[0])
        self->host->log(self->a, LGSP_LOG_ERROR, "%s: SQLSTATE %s: %s%s", st ? st->name : "connect",
                        e->sqlstate, e->message, st && e->conn_lost ? " (connection lost)" : "");
    else
        self->host->log(self->a, LGSP_LOG_ERROR, "%s: %s", st ? st->name : "connect", e->message);
    s_health(self, "error: %s: %s%s%s%s", st ? st->name : "connect", e->sqlstate[0] ? "SQLSTATE " : "",
             e->sqlstate, e->sqlstate[0] ? ": " : "", e->message);
}

/* Prepares the stream's statement (once per connection) and checks its
 * parameter markers against the settings. */
static int s_prepare(s_self_t *self, s_stream_t *st, odbc_error_t *e)
{
    if (st->stmt)
        return 0;
    st->stmt = odbc_stmt_new(self->conn, st->query, self->max_chars, self->query_timeout_s, e);
    if (!st->stmt)
        return -1;
    st->resolved = false;
    size_t np = (size_t) odbc_stmt_nparams(st->stmt);
    if (!st->params) {
        /* default: the watermark columns in order, then the page size */
        if (np != st->ncols && np != st->ncols + 1) {
            snprintf(e->message, sizeof e->message,
                     "the query has %zu ? markers for %zu watermark columns: say what each is with params: [...]",
                     np, st->ncols);
            e->sqlstate[0] = '\0';
            e->conn_lost = false;
            odbc_stmt_destroy(&st->stmt);
            return -1;
        }
        st->params = calloc(np, sizeof *st->params);
        if (!st->params && np) {
            snprintf(e->message, sizeof e->message, "out of memory");
            odbc_stmt_destroy(&st->stmt);
            return -1;
        }
        for (size_t k = 0; k < np; k++)
            st->params[k] = k < st->ncols ? (int) k : S_PARAM_LIMIT;
        st->nparams = np;
    } else if (np != st->nparams) {
        snprintf(e->message, sizeof e->message, "the query has %zu ? markers, params lists %zu", np, st->nparams);
        e->sqlstate[0] = '\0';
        e->conn_lost = false;
        odbc_stmt_destroy(&st->stmt);
        return -1;
    }
    return 0;
}

/* Maps the template's and the watermark's columns to the result's. */
static int s_resolve(s_self_t *self, s_stream_t *st, odbc_error_t *e)
{
    const char *const *names = odbc_stmt_colnames(st->stmt);
    size_t n = odbc_stmt_ncols(st->stmt);
    char err[256];
    memset(e, 0, sizeof *e);
    if (sqlrow_template_resolve(st->tpl, names, n, err, sizeof err) < 0) {
        snprintf(e->message, sizeof e->message, "id template: %s", err);
        return -1;
    }
    for (size_t c = 0; c < st->ncols; c++) {
        size_t k;
        for (k = 0; k < n; k++)
            if (strcmp(names[k], st->columns[c]) == 0)
                break;
        if (k == n) {
            snprintf(e->message, sizeof e->message, "watermark column '%s' is not in the query's result",
                     st->columns[c]);
            return -1;
        }
        st->wm_idx[c] = k;
    }
    free(st->uses);
    if (!(st->uses = calloc(n ? n : 1, sizeof *st->uses))) {
        snprintf(e->message, sizeof e->message, "out of memory");
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        char *const *list = pass ? st->hidden : st->json_cols;
        size_t cnt = pass ? st->nhidden : st->njson;
        for (size_t j = 0; j < cnt; j++) {
            size_t k;
            for (k = 0; k < n; k++)
                if (strcmp(names[k], list[j]) == 0)
                    break;
            if (k == n) {
                snprintf(e->message, sizeof e->message, "%s column '%s' is not in the query's result",
                         pass ? "hidden" : "json_columns", list[j]);
                return -1;
            }
            st->uses[k] = pass ? SQLROW_HIDDEN : SQLROW_EMBED;
        }
    }
    st->resolved = true;
    return 0;
}

static int s_pending_reset(s_self_t *self, const s_stream_t *st)
{
    for (size_t c = 0; c < st->ncols; c++) {
        free(self->pending[c]);
        if (!(self->pending[c] = strdup(st->wm[c])))
            return -1;
    }
    return 0;
}

/* Commits the batch with the stream's pending watermark; on success the
 * stream's committed watermark and row count become those. */
static int s_commit(s_self_t *self, s_stream_t *st, lgsp_batch_t *b, uint64_t rows)
{
    if (s_state_text(self, st, self->pending, rows) < 0) {
        self->host->batch_discard(b);
        self->host->log(self->a, LGSP_LOG_ERROR, "%s: out of memory", st->name);
        return -1;
    }
    lgsp_commit_result_t res = { .size = sizeof res };
    int rc = self->host->batch_commit(b, self->state.data, self->state.len, &res);
    if (rc < 0) {
        if (rc != LGSP_AE_STOPPING)
            self->host->log(self->a, LGSP_LOG_ERROR, "%s: commit: %s", st->name, self->host->last_error(self->a));
        return rc;
    }
    for (size_t c = 0; c < st->ncols; c++) {
        char *v = strdup(self->pending[c]);
        if (!v)
            return -1;
        free(st->wm[c]);
        st->wm[c] = v;
    }
    st->rows = rows;
    return 0;
}

/* Adds a record (or quarantines a row when rec is NULL); a full batch is
 * committed first with the watermark of the rows before this one. */
static int s_put(s_self_t *self, s_stream_t *st, lgsp_batch_t **b, uint64_t rowno,
                 const lgsp_record_t *rec, const char *reason, const void *orig, size_t orig_len)
{
    int rc = rec ? self->host->batch_add(*b, rec)
                 : self->host->batch_quarantine(*b, self->pos.data, reason, orig, orig_len);
    if (rc != LGSP_AE_TOO_BIG || self->host->batch_count(*b) == 0)
        return rc;
    rc = s_commit(self, st, *b, rowno - 1);
    *b = NULL;
    if (rc < 0)
        return rc;
    if (!(*b = self->host->batch_new(self->a)))
        return LGSP_AE_NOMEM;
    return rec ? self->host->batch_add(*b, rec)
               : self->host->batch_quarantine(*b, self->pos.data, reason, orig, orig_len);
}

/* As s_put; a row the host refuses as a record (an id too long, more bytes
 * than a message may have) is quarantined instead, with the start of its
 * JSON, so that one row cannot stop the stream. *quarantined says which. */
static int s_add(s_self_t *self, s_stream_t *st, lgsp_batch_t **b, uint64_t rowno,
                 const lgsp_record_t *rec, const char *reason, const void *orig, size_t orig_len,
                 bool *quarantined)
{
    *quarantined = rec == NULL;
    int rc = s_put(self, st, b, rowno, rec, reason, orig, orig_len);
    if (rec && *b && (rc == LGSP_AE_INVALID || rc == LGSP_AE_TOO_BIG)) {
        char why[600];
        snprintf(why, sizeof why, "cannot be a record: %.500s", self->host->last_error(self->a));
        *quarantined = true;
        rc = s_put(self, st, b, rowno, NULL, why, rec->payload,
                   rec->payload_len < 65536 ? rec->payload_len : 65536);
    }
    return rc;
}

/* One page of a stream: 1 = a full page (more may wait), 0 = caught up,
 * < 0 = failed (e says why, or the host does). */
static int s_page(s_self_t *self, s_stream_t *st, odbc_error_t *e)
{
    const lgsp_host_api_t *h = self->host;
    memset(e, 0, sizeof *e);
    if (s_prepare(self, st, e) < 0)
        return -1;
    for (size_t k = 0; k < st->nparams; k++) {
        int rc = st->params[k] == S_PARAM_LIMIT
               ? odbc_stmt_bind_int(st->stmt, (int) k + 1, self->page_size, e)
               : odbc_stmt_bind_text(st->stmt, (int) k + 1, st->wm[st->params[k]], e);
        if (rc < 0)
            return -1;
    }
    if (odbc_stmt_execute(st->stmt, e) < 0)
        return -1;
    if (!st->resolved && s_resolve(self, st, e) < 0) {
        odbc_stmt_close_cursor(st->stmt);
        return -1;
    }
    bool limited = false;
    for (size_t k = 0; k < st->nparams; k++)
        limited |= st->params[k] == S_PARAM_LIMIT;

    const char *const *names = odbc_stmt_colnames(st->stmt);
    const sqlrow_kind_t *kinds = odbc_stmt_colkinds(st->stmt);
    size_t ncols = odbc_stmt_ncols(st->stmt);
    const char *headers[] = { "lgsp-stream", st->name, NULL };
    lgsp_batch_t *b = s_pending_reset(self, st) == 0 ? h->batch_new(self->a) : NULL;
    if (!b) {
        odbc_stmt_close_cursor(st->stmt);
        snprintf(e->message, sizeof e->message, "batch: %s", h->last_error(self->a));
        return -1;
    }
    const uint64_t base = st->rows;   /* st->rows moves when a full batch is committed */
    uint64_t n = 0, quarantined = 0;
    char last_why[800] = "";
    bool advanced = false;
    int rc = 0;
    for (;;) {
        const sqlrow_cell_t *cells;
        const char *problem;
        const void *raw;
        size_t raw_len;
        rc = odbc_stmt_next(st->stmt, &cells, &problem, &raw, &raw_len, e);
        if (rc <= 0)
            break;
        n++;
        uint64_t rowno = base + n;
        char pos[160], reason[512];
        snprintf(pos, sizeof pos, "%s row %" PRIu64, st->name, rowno);
        self->pos.len = 0;
        sqlrow_buf_append(&self->pos, pos, strlen(pos));
        /* the watermark moves past every row, quarantined or not (a value
         * that could not be converted is NULL here) */
        bool wm_null = false;
        for (size_t c = 0; c < st->ncols; c++)
            wm_null |= cells[st->wm_idx[c]].null;
        size_t bad = 0;
        const char *why = problem;
        self->json.len = 0;
        if (!why && wm_null) {
            why = reason;
            snprintf(reason, sizeof reason, "a watermark column (%s) is NULL", st->columns[0]);
            for (size_t c = 0; c < st->ncols; c++)
                if (cells[st->wm_idx[c]].null)
                    snprintf(reason, sizeof reason, "watermark column %s is NULL", st->columns[c]);
        }
        char jwhy[400];
        if (!why && sqlrow_json(names, kinds, st->uses, cells, ncols, &self->json, &bad,
                                jwhy, sizeof jwhy) < 0) {
            snprintf(reason, sizeof reason, "column %s: %s", bad < ncols ? names[bad] : "?", jwhy);
            why = reason;
            if (bad < ncols) {
                raw = cells[bad].data;
                raw_len = cells[bad].len;
            }
            /* a json_columns value that is not JSON: the whole row goes to
             * quarantine, every column as text (the id and the watermark
             * say which row), when the text itself is valid UTF-8 */
            size_t bad2;
            self->json.len = 0;
            if (bad < ncols && st->uses && st->uses[bad] == SQLROW_EMBED
                && sqlrow_json(names, kinds, NULL, cells, ncols, &self->json, &bad2, NULL, 0) == 0) {
                raw = self->json.data;
                raw_len = self->json.len;
            }
        }
        if (!why && sqlrow_template_expand(st->tpl, cells, &self->sid, &bad) < 0) {
            snprintf(reason, sizeof reason, "id template: column %s is NULL or empty", names[bad]);
            why = reason;
            raw = self->json.data;
            raw_len = self->json.len;
        }
        bool q = false;
        if (why)
            rc = s_add(self, st, &b, rowno, NULL, why, raw, raw_len, &q);
        else {
            lgsp_record_t rec = {
                .size = sizeof rec,
                .source_id = self->sid.data,
                .content_type = "application/json",
                .payload = self->json.data,
                .payload_len = self->json.len,
                .position = pos,
                .headers = headers,
            };
            rc = s_add(self, st, &b, rowno, &rec, NULL, NULL, 0, &q);
        }
        if (rc < 0)
            break;          /* s_add set b to NULL if a commit took it */
        if (q) {
            quarantined++;
            snprintf(last_why, sizeof last_why, "%s: %s", pos, why ? why : "refused by the host");
            h->log(self->a, LGSP_LOG_DEBUG, "%s: quarantined: %s", pos, why ? why : "refused by the host");
        }
        if (!wm_null) {
            for (size_t c = 0; c < st->ncols; c++) {
                const sqlrow_cell_t *cell = &cells[st->wm_idx[c]];
                char *v = strndup(cell->data, cell->len);
                if (!v) {
                    rc = -1;
                    break;
                }
                if (!advanced && strcmp(v, self->pending[c]) != 0)
                    advanced = true;
                free(self->pending[c]);
                self->pending[c] = v;
            }
            if (rc < 0)
                break;
        }
    }
    odbc_stmt_close_cursor(st->stmt);
    if (rc < 0) {
        if (b)
            h->batch_discard(b);
        if (!e->message[0] && !e->sqlstate[0])
            snprintf(e->message, sizeof e->message, "%s", h->last_error(self->a));
        return rc == LGSP_AE_STOPPING ? 0 : -1;
    }
    if (n == 0) {
        h->batch_discard(b);
        return 0;
    }
    rc = s_commit(self, st, b, base + n);
    if (rc < 0) {
        snprintf(e->message, sizeof e->message, "commit: %s", h->last_error(self->a));
        return rc == LGSP_AE_STOPPING ? 0 : -1;
    }
    h->count(self->a, "rows_read", n);
    if (quarantined)
        h->log(self->a, LGSP_LOG_WARN, "%s: %" PRIu64 " of %" PRIu64 " rows quarantined (the last, %s)",
               st->name, quarantined, n, last_why);
    h->log(self->a, LGSP_LOG_DEBUG, "%s: %" PRIu64 " rows (%" PRIu64 " quarantined), %" PRIu64 " in all",
           st->name, n, quarantined, st->rows);
    bool full = limited && n >= (uint64_t) self->page_size;
    if (full && !advanced) {
        /* a full page that leaves the watermark where it was would be read
         * again forever */
        snprintf(e->message, sizeof e->message,
                 "a full page of %" PRIu64 " rows did not move the watermark: the query must filter "
                 "on (%s, ...) > (?, ...) and ORDER BY the watermark columns", n, st->columns[0]);
        return -1;
    }
    return full ? 1 : 0;
}

/* ---- the plugin ------------------------------------------------------- */

static void s_drop_connection(s_self_t *self)
{
    for (size_t i = 0; i < self->nstreams; i++)
        odbc_stmt_destroy(&self->streams[i].stmt);
    odbc_conn_close(self->conn);
}

static int s_connect(s_self_t *self)
{
    if (odbc_conn_is_open(self->conn))
        return 0;
    odbc_error_t e;
    if (odbc_conn_open(self->conn, self->connstr, self->connect_timeout_s, &e) < 0) {
        s_report(self, NULL, &e);
        return -1;
    }
    /* the host restarts a failed adapter (a new instance), so count every
     * connection: after the first, each is a reconnect */
    self->host->count(self->a, "connects", 1);
    self->host->log(self->a, LGSP_LOG_INFO, "connected: %s", odbc_conn_describe(self->conn));
    return 0;
}

static void s_update_health(s_self_t *self)
{
    char text[1024];
    size_t l = (size_t) snprintf(text, sizeof text, "%s", odbc_conn_is_open(self->conn)
                                 ? odbc_conn_describe(self->conn) : "not connected");
    for (size_t i = 0; i < self->nstreams && l < sizeof text; i++) {
        const s_stream_t *st = &self->streams[i];
        l += (size_t) snprintf(text + l, sizeof text - l, "; %s: %" PRIu64 " rows%s", st->name, st->rows,
                               st->failed ? " (failing)" : "");
    }
    s_health(self, "%s", text);
}

static int s_poll(void *vself, lgsp_adapter_t *a)
{
    s_self_t *self = vself;
    if (s_connect(self) < 0)
        return -1;
    bool more = false, failed = false, reconnected = false;
    for (size_t i = 0; i < self->nstreams; i++) {
        if (self->host->stopping(a))
            return 0;
        s_stream_t *st = &self->streams[i];
        odbc_error_t e;
        int rc = s_page(self, st, &e);
        if (rc < 0 && e.conn_lost && !reconnected) {
            /* an idle connection the server or a firewall closed since the
             * last poll: connect again and retry once, without counting a
             * failure; a second loss in the same poll is one */
            self->host->log(a, LGSP_LOG_WARN, "%s: SQLSTATE %s: %s: connection lost, reconnecting",
                            st->name, e.sqlstate, e.message);
            reconnected = true;
            s_drop_connection(self);
            if (s_connect(self) < 0)
                return -1;
            rc = s_page(self, st, &e);
        }
        st->failed = rc < 0;
        if (rc > 0)
            more = true;
        if (rc < 0 && self->host->stopping(a)) {
            self->host->log(a, LGSP_LOG_INFO, "%s: stopped (%s)", st->name, e.message);
            return 0;
        }
        if (rc < 0) {
            s_report(self, st, &e);
            failed = true;
            if (e.conn_lost || !odbc_conn_is_open(self->conn)) {
                s_drop_connection(self);
                return -1;
            }
        }
    }
    if (failed)
        return -1;
    s_update_health(self);
    return more ? 1 : 0;
}

/* The watcher: a query can wait long (a table locked by maintenance, a
 * slow database) and lgspd joins the adapter's thread when it stops, so when
 * the host says stop, the running statement is cancelled (SQLCancel) and the
 * poll returns. */
static void *s_watch(void *arg)
{
    s_self_t *self = arg;
    pthread_mutex_lock(&self->mu);
    while (!self->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&self->quit_cv, &self->mu, &ts);
        if (self->quit)
            break;
        pthread_mutex_unlock(&self->mu);
        bool stop = self->host->stopping(self->a);
        if (stop)
            odbc_conn_cancel(self->conn);
        pthread_mutex_lock(&self->mu);
        if (stop)
            break;
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

static void s_cleanup(void *vself, lgsp_adapter_t *a)
{
    s_self_t *self = vself;
    if (!self)
        return;
    if (self->watching) {
        pthread_mutex_lock(&self->mu);
        self->quit = true;
        pthread_cond_signal(&self->quit_cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->watcher, NULL);
    }
    for (size_t i = 0; i < self->nstreams; i++)
        s_stream_free(&self->streams[i]);
    free(self->streams);
    odbc_conn_destroy(&self->conn);
    if (self->connstr) {
        memset(self->connstr, 0, strlen(self->connstr));
        free(self->connstr);
    }
    for (size_t c = 0; c < sizeof self->pending / sizeof *self->pending; c++)
        free(self->pending[c]);
    sqlrow_buf_free(&self->json);
    sqlrow_buf_free(&self->sid);
    sqlrow_buf_free(&self->state);
    sqlrow_buf_free(&self->pos);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->quit_cv);
    free(self);
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= LGSP_ADAPTER_ABI_VERSION && LGSP_ADAPTER_ABI_VERSION <= host_max
         ? LGSP_ADAPTER_ABI_VERSION : -1;
}

static int s_init(s_self_t *self)
{
    lgsp_adapter_t *a = self->a;
    const lgsp_host_api_t *h = self->host;
    const char *connection = h->setting(a, "connection");
    if (!connection || !*connection)
        return h->setting_error(a, "connection", "required: an ODBC connection string, e.g. "
                                "\"Driver={PostgreSQL Unicode};Server=...;Port=...;Database=...;Uid=...\"");
    char *password = NULL;
    if (s_read_password(self, connection, &password) < 0)
        return -1;
    self->connstr = password ? sqlrow_connstr_with_password(connection, password) : strdup(connection);
    if (password) {
        memset(password, 0, strlen(password));
        free(password);
    }
    if (!self->connstr)
        return -1;
    long max_chars = 0;
    if (s_uint_setting(self, "page_size", 1000, 1, 1000000, &self->page_size) < 0
        || s_uint_setting(self, "max_chars", 4096, 16, 1 << 20, &max_chars) < 0
        || s_seconds_setting(self, "connect_timeout", 10, &self->connect_timeout_s) < 0
        || s_seconds_setting(self, "query_timeout", 60, &self->query_timeout_s) < 0)
        return -1;
    self->max_chars = (size_t) max_chars;

    json_t *root = json_loads(h->setting_json(a), 0, NULL);
    const json_t *streams = json_object_get(root, "streams");
    if (!json_is_array(streams) || json_array_size(streams) == 0 || json_array_size(streams) > 64) {
        json_decref(root);
        return h->setting_error(a, "streams", "required: a list of streams (name, query, watermark, initial, id)");
    }
    self->nstreams = json_array_size(streams);
    self->streams = calloc(self->nstreams, sizeof *self->streams);
    int rc = self->streams ? 0 : -1;
    size_t maxcols = 0;
    for (size_t i = 0; rc == 0 && i < self->nstreams; i++) {
        rc = s_read_stream(self, i, json_array_get(streams, i), &self->streams[i]);
        if (rc == 0 && self->streams[i].ncols > maxcols)
            maxcols = self->streams[i].ncols;
    }
    json_decref(root);
    if (rc < 0)
        return rc;
    odbc_error_t e;
    if (!(self->conn = odbc_conn_new(&e))) {
        h->log(a, LGSP_LOG_ERROR, "%s", e.message);
        return -1;
    }
    if (s_load_state(self) < 0)
        return -1;
    if (pthread_create(&self->watcher, NULL, s_watch, self) != 0) {
        h->log(a, LGSP_LOG_ERROR, "cannot start a thread");
        return -1;
    }
    self->watching = true;
    for (size_t i = 0; i < self->nstreams; i++) {
        const s_stream_t *st = &self->streams[i];
        if (st->rows)
            h->log(a, LGSP_LOG_INFO, "%s: resuming after %" PRIu64 " rows", st->name, st->rows);
    }
    s_update_health(self);
    return 0;
}

/* unixODBC keeps process-wide state for as long as the process lives (the
 * drivers it loaded, which stay loaded, and its configuration cache), and it
 * is not made to be unloaded under them. lgspd unloads this plugin at exit,
 * which would take libodbc.so with it (nothing else needs it): pin it. */
static void s_pin_unixodbc(void)
{
    void *h = dlopen("libodbc.so.2", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (h)
        dlclose(h);          /* RTLD_NODELETE stays; the reference goes */
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **self_p)
{
    if (!host || host->size < sizeof(lgsp_host_api_t) || !info)
        return -1;
    s_pin_unixodbc();
    s_self_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->a = a;
    self->host = host;
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->quit_cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = s_init(self);
    if (rc < 0) {
        s_cleanup(self, a);
        return rc;
    }
    info->plugin = "sql";
    info->version = S_VERSION;
    info->kind = LGSP_ADAPTER_SOURCE;
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->poll = s_poll;
    info->cleanup = s_cleanup;
    info->describe = s_describe;
    *self_p = self;
    return 0;
}
