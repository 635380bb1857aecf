/* lgsp_reconcile.c — `lgsp reconcile`: one reconciliation job of the merger
 * task force (issue 8): the records of two sides (Quảng Nam vs Đà Nẵng
 * population, population vs land owners, civil events vs population) go
 * through the batch entity-resolution engine (er.h), and the job writes what
 * the task force reads: duplicates across the sides and inside one source,
 * conflicting values, unmatched records, addresses that did not recode,
 * data quality per source, the review queue, and one self-contained HTML
 * report with SVG charts (drawn here; no script or font from the network).
 *
 * A job is a YAML file (config/jobs/) or flags. Stages, each checkpointed in
 * <out>/work/ under the job's hash so that --resume skips what is done:
 *   expand   person mentions inside parcels / events -> person records
 *   scan     per input: records, residences not recoded, the quarantine
 *            log of lgsp map, the raw records' encodings
 *   load     records into the engine
 *   match    blocking, training, scoring, clustering (er_run_batch)
 *   weights  the match weight of every candidate pair (the histogram)
 *   store    decisions applied before the match, entity ids assigned after
 *   report   the output files
 * SIGINT stops at the next safe point and says where; docs/reconciliation.md.
 * Personal data goes only to the output files, never to the terminal. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <libxml/xmlreader.h>
#include <pcre2.h>

#include "../adapters/file-drop/csvread.h"
#include "er.h"
#include "erstore.h"
#include "lgsp_reconcile.h"
#include "vntext.h"
#include "yamlconf.h"

#define MAX_INPUTS   32
#define MAX_MENTIONS 8
#define MAX_COLUMNS  64
#define MAX_CONFL    8
#define NCOMMUNES    128
#define HIST_LO      (-60.0)
#define HIST_HI      60.0
#define HIST_BINS    240           /* half a bit per bin */
#define CKPT_MAGIC   0x4c47535052434b31ULL   /* "LGSPRCK1" */

/* ---- interruption ---- */

static volatile sig_atomic_t s_stop;

static void s_on_sigint(int sig)
{
    (void) sig;
    s_stop = 1;
    /* a second ^C ends the process at once */
    signal(SIGINT, SIG_DFL);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static long s_peak_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* ---- the job ---- */

typedef struct {
    char *from;                 /* JSON pointer of the mention: /owners/0 */
    char *role;                 /* suffix of the record id: owner1 */
} s_mention_t;

typedef struct {
    char *name;                 /* the input's name (its source, usually) */
    int   side;                 /* 0 = A, 1 = B */
    char *file;                 /* canonical JSON lines or CSV */
    char *map_log;              /* lgsp map's standard error for this input, or NULL */
    char *raw;                  /* the raw records lgsp map read (JSON lines or XML), or NULL */
    char *raw_record;           /* XML: the element of one record (default: the root's children) */
    char *residence;            /* JSON pointer of the address that recodes (default /residence) */
    s_mention_t mentions[MAX_MENTIONS];
    size_t nmentions;
    bool  repeats;              /* one person may have several records here (owners, parents) */
    bool  optional;             /* left out (with a note) when its file does not exist */
    /* filled by the run */
    char *load_path;            /* what the engine reads (file, or the expanded mentions) */
    size_t first, count;        /* records [first, first + count) of the data */
} s_input_t;

typedef struct {
    char *field;                /* a spec field */
    char *kind;                 /* name, date, id, code */
} s_conflict_t;

typedef struct {
    char *path;                 /* the job file, or NULL (flags) */
    char *name, *title;
    char *spec;
    char *side_name[2];
    s_input_t inputs[MAX_INPUTS];
    size_t ninputs;
    char *columns[MAX_COLUMNS];
    size_t ncolumns;
    char *csv_source;
    char *commune_field;        /* the spec field of the 2025 commune (per-commune figures) */
    char *date_field;           /* the spec field shown in lists (birth date) */
    char *name_field;
    s_conflict_t conflicts[MAX_CONFL];
    size_t nconflicts;
    char *out, *store, *data_dir, *units;
    int threads;
} s_job_t;

static char *s_dup(const char *s) { return s ? strdup(s) : NULL; }

/* ${VAR} in a path is the environment's value; a relative path is taken
 * from base (the data folder for inputs, the job file's folder for the
 * spec). */
static char *s_path(const char *p, const char *base)
{
    if (!p)
        return NULL;
    char buf[4096];
    size_t o = 0;
    for (const char *s = p; *s && o + 1 < sizeof buf;) {
        if (s[0] == '$' && s[1] == '{') {
            const char *e = strchr(s, '}');
            if (e) {
                char var[256];
                snprintf(var, sizeof var, "%.*s", (int) (e - s - 2), s + 2);
                const char *v = getenv(var);
                o += (size_t) snprintf(buf + o, sizeof buf - o, "%s", v ? v : "");
                if (o >= sizeof buf)
                    o = sizeof buf - 1;
                s = e + 1;
                continue;
            }
        }
        buf[o++] = *s++;
    }
    buf[o] = '\0';
    if (buf[0] == '/' || !base || !*base)
        return strdup(buf);
    char *r = NULL;
    if (asprintf(&r, "%s/%s", base, buf) < 0)
        return NULL;
    return r;
}

static void s_job_free(s_job_t *j)
{
    free(j->path), free(j->name), free(j->title), free(j->spec), free(j->side_name[0]), free(j->side_name[1]);
    for (size_t i = 0; i < j->ninputs; i++) {
        s_input_t *in = &j->inputs[i];
        free(in->name), free(in->file), free(in->map_log), free(in->raw), free(in->raw_record), free(in->residence);
        free(in->load_path);
        for (size_t k = 0; k < in->nmentions; k++)
            free(in->mentions[k].from), free(in->mentions[k].role);
    }
    for (size_t i = 0; i < j->ncolumns; i++)
        free(j->columns[i]);
    for (size_t i = 0; i < j->nconflicts; i++)
        free(j->conflicts[i].field), free(j->conflicts[i].kind);
    free(j->csv_source), free(j->commune_field), free(j->date_field), free(j->name_field);
    free(j->out), free(j->store), free(j->data_dir), free(j->units);
}

static int s_yfail(const char *file, const yamlconf_node_t *n, const char *what)
{
    fprintf(stderr, "lgsp reconcile: %s:%d: %s\n", file, n ? yamlconf_line(n) : 0, what);
    return -1;
}

static const char *s_yscalar(const yamlconf_node_t *m, const char *key)
{
    const yamlconf_node_t *v = m ? yamlconf_get(m, key) : NULL;
    return v && yamlconf_kind(v) == YAMLCONF_SCALAR && !yamlconf_is_null(v) ? yamlconf_text(v) : NULL;
}

static bool s_known_key(const char *k, const char *const *keys)
{
    for (; *keys; keys++)
        if (strcmp(k, *keys) == 0)
            return true;
    return false;
}

static int s_check_keys(const char *file, const yamlconf_node_t *m, const char *const *keys, const char *where)
{
    for (size_t i = 0; i < yamlconf_size(m); i++) {
        int line;
        const char *k = yamlconf_key(m, i, &line);
        if (!s_known_key(k, keys)) {
            fprintf(stderr, "lgsp reconcile: %s:%d: %s: unknown key '%s'\n", file, line, where, k);
            return -1;
        }
    }
    return 0;
}

/* Reads a job file into j (flags given on the command line win later). */
static int s_job_load(s_job_t *j, const char *path)
{
    char *err = NULL;
    yamlconf_t *y = yamlconf_load(path, &err);
    if (!y) {
        fprintf(stderr, "lgsp reconcile: %s\n", err ? err : path);
        free(err);
        return -1;
    }
    int rc = -1;
    const yamlconf_node_t *root = yamlconf_root(y);
    static const char *const top[] = {"job", "title", "spec", "sides", "inputs", "columns", "csv_source",
                                      "commune_field", "name_field", "date_field", "conflicts", "out",
                                      "store", "data", "units", "threads", NULL};
    if (!root || yamlconf_kind(root) != YAMLCONF_MAP) {
        s_yfail(path, root, "a job is a map (job:, spec:, sides:, inputs: ...)");
        goto done;
    }
    if (s_check_keys(path, root, top, "job"))
        goto done;
    char *dir = strdup(path), *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    j->path = strdup(path);
    j->name = s_dup(s_yscalar(root, "job"));
    j->title = s_dup(s_yscalar(root, "title"));
    if (s_yscalar(root, "spec"))
        j->spec = s_path(s_yscalar(root, "spec"), dir);
    if (s_yscalar(root, "units"))
        j->units = s_path(s_yscalar(root, "units"), dir);
    free(dir);
    j->csv_source = s_dup(s_yscalar(root, "csv_source"));
    j->commune_field = s_dup(s_yscalar(root, "commune_field"));
    j->name_field = s_dup(s_yscalar(root, "name_field"));
    j->date_field = s_dup(s_yscalar(root, "date_field"));
    j->out = s_dup(s_yscalar(root, "out"));
    j->store = s_dup(s_yscalar(root, "store"));
    j->data_dir = s_dup(s_yscalar(root, "data"));
    if (s_yscalar(root, "threads"))
        j->threads = atoi(s_yscalar(root, "threads"));
    if (!j->name || !j->spec) {
        s_yfail(path, root, "job: and spec: are required");
        goto done;
    }
    const yamlconf_node_t *sides = yamlconf_get(root, "sides");
    if (sides) {
        static const char *const sk[] = {"a", "b", NULL};
        if (yamlconf_kind(sides) != YAMLCONF_MAP || s_check_keys(path, sides, sk, "sides")) {
            s_yfail(path, sides, "sides: a map with a: and b: (the name of each side)");
            goto done;
        }
        j->side_name[0] = s_dup(s_yscalar(sides, "a"));
        j->side_name[1] = s_dup(s_yscalar(sides, "b"));
    }
    const yamlconf_node_t *cols = yamlconf_get(root, "columns");
    for (size_t i = 0; cols && i < yamlconf_size(cols) && j->ncolumns < MAX_COLUMNS; i++) {
        const yamlconf_node_t *v = yamlconf_value(cols, i);
        if (!v || yamlconf_kind(v) != YAMLCONF_SCALAR) {
            s_yfail(path, cols, "columns: field: COLUMN[:DATE_FORMAT]");
            goto done;
        }
        if (asprintf(&j->columns[j->ncolumns++], "%s=%s", yamlconf_key(cols, i, NULL), yamlconf_text(v)) < 0)
            goto done;
    }
    const yamlconf_node_t *conf = yamlconf_get(root, "conflicts");
    for (size_t i = 0; conf && i < yamlconf_size(conf); i++) {
        const yamlconf_node_t *v = yamlconf_value(conf, i);
        const char *k = yamlconf_key(conf, i, NULL), *kind = v ? yamlconf_text(v) : NULL;
        if (!kind || (strcmp(kind, "name") && strcmp(kind, "date") && strcmp(kind, "id") && strcmp(kind, "code"))) {
            s_yfail(path, v ? v : conf, "conflicts: field: name | date | id | code");
            goto done;
        }
        if (j->nconflicts == MAX_CONFL) {
            s_yfail(path, conf, "conflicts: at most 8 fields");
            goto done;
        }
        j->conflicts[j->nconflicts++] = (s_conflict_t){strdup(k), strdup(kind)};
    }
    const yamlconf_node_t *ins = yamlconf_get(root, "inputs");
    if (!ins || yamlconf_kind(ins) != YAMLCONF_SEQ || yamlconf_size(ins) == 0) {
        s_yfail(path, ins ? ins : root, "inputs: a list of inputs (name, side, file ...)");
        goto done;
    }
    static const char *const ik[] = {"name", "side", "file", "map_log", "raw", "raw_record", "residence",
                                     "mentions", "repeats", "optional", NULL};
    for (size_t i = 0; i < yamlconf_size(ins); i++) {
        const yamlconf_node_t *n = yamlconf_item(ins, i);
        if (yamlconf_kind(n) != YAMLCONF_MAP || s_check_keys(path, n, ik, "input"))
            goto done;
        if (j->ninputs == MAX_INPUTS) {
            s_yfail(path, n, "at most 32 inputs");
            goto done;
        }
        s_input_t *in = &j->inputs[j->ninputs++];
        const char *side = s_yscalar(n, "side");
        in->name = s_dup(s_yscalar(n, "name"));
        in->file = s_dup(s_yscalar(n, "file"));
        if (!in->name || !in->file || !side || (strcmp(side, "a") && strcmp(side, "b"))) {
            s_yfail(path, n, "an input needs name:, file: and side: a or b");
            goto done;
        }
        in->side = side[0] == 'b';
        in->map_log = s_dup(s_yscalar(n, "map_log"));
        in->raw = s_dup(s_yscalar(n, "raw"));
        in->raw_record = s_dup(s_yscalar(n, "raw_record"));
        in->residence = s_dup(s_yscalar(n, "residence"));
        const char *rep = s_yscalar(n, "repeats");
        in->repeats = rep && (strcmp(rep, "true") == 0 || strcmp(rep, "yes") == 0);
        const char *opt = s_yscalar(n, "optional");
        in->optional = opt && (strcmp(opt, "true") == 0 || strcmp(opt, "yes") == 0);
        const yamlconf_node_t *ms = yamlconf_get(n, "mentions");
        for (size_t k = 0; ms && k < yamlconf_size(ms); k++) {
            const yamlconf_node_t *m = yamlconf_item(ms, k);
            const char *from = m && yamlconf_kind(m) == YAMLCONF_MAP ? s_yscalar(m, "from") : NULL;
            const char *role = m && yamlconf_kind(m) == YAMLCONF_MAP ? s_yscalar(m, "role") : NULL;
            if (!from || from[0] != '/' || !role || in->nmentions == MAX_MENTIONS) {
                s_yfail(path, m ? m : ms, "mentions: up to 8 of { from: /json/pointer, role: name }");
                goto done;
            }
            in->mentions[in->nmentions++] = (s_mention_t){strdup(from), strdup(role)};
        }
    }
    rc = 0;
done:
    yamlconf_destroy(&y);
    return rc;
}

/* ---- a hash of everything a result depends on ---- */

static uint64_t s_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t s_fnv_file(uint64_t h, const char *path, bool content)
{
    struct stat st;
    h = s_fnv(h, path, strlen(path) + 1);
    if (stat(path, &st) == 0) {
        /* inputs are large: their size and time of change stand for them */
        int64_t v[2] = {(int64_t) st.st_size, (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
        h = s_fnv(h, v, sizeof v);
        if (content) {
            FILE *f = fopen(path, "rb");
            char buf[65536];
            size_t r;
            while (f && (r = fread(buf, 1, sizeof buf, f)) > 0)
                h = s_fnv(h, buf, r);
            if (f)
                fclose(f);
        }
    }
    return h;
}

static uint64_t s_job_hash(const s_job_t *j)
{
    uint64_t h = 1469598103934665603ULL;
    h = s_fnv_file(h, j->spec, true);
    for (size_t i = 0; i < j->ninputs; i++) {
        const s_input_t *in = &j->inputs[i];
        h = s_fnv(h, in->name, strlen(in->name) + 1);
        h = s_fnv(h, &in->side, sizeof in->side);
        h = s_fnv_file(h, in->file, false);
        for (size_t k = 0; k < in->nmentions; k++) {
            h = s_fnv(h, in->mentions[k].from, strlen(in->mentions[k].from) + 1);
            h = s_fnv(h, in->mentions[k].role, strlen(in->mentions[k].role) + 1);
        }
    }
    for (size_t i = 0; i < j->ncolumns; i++)
        h = s_fnv(h, j->columns[i], strlen(j->columns[i]) + 1);
    if (j->csv_source)
        h = s_fnv(h, j->csv_source, strlen(j->csv_source) + 1);
    if (j->store)
        h = s_fnv(h, j->store, strlen(j->store) + 1);
    return h;
}

/* ---- progress: a bar on a terminal, plain lines otherwise ---- */

typedef struct {
    bool tty, quiet;
    double t0, stage_t0, last;
    const char *stage;
    size_t total, done;
} s_prog_t;

static void s_fmt_count(char *out, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, cap, "%.0fk", v / 1e3);
    else
        snprintf(out, cap, "%.0f", v);
}

static void s_prog_show(s_prog_t *p, bool final)
{
    if (p->quiet)
        return;
    double now = s_now(), el = now - p->stage_t0;
    if (!final && now - p->last < (p->tty ? 0.2 : 5.0))
        return;
    p->last = now;
    char d[32], t[32], r[32];
    double rate = el > 0 ? p->done / el : 0;
    s_fmt_count(d, sizeof d, (double) p->done);
    s_fmt_count(t, sizeof t, (double) p->total);
    s_fmt_count(r, sizeof r, rate);
    double frac = p->total ? (double) p->done / (double) p->total : (final ? 1 : 0);
    if (frac > 1)
        frac = 1;
    char eta[32] = "";
    if (!final && rate > 0 && p->total > p->done)
        snprintf(eta, sizeof eta, ", ETA %.0f s", (double) (p->total - p->done) / rate);
    if (p->tty) {
        char bar[31];
        int fill = (int) (frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%-8s [%s] %3.0f%% %s/%s records, %s/s%s   ", p->stage, bar, frac * 100, d, t, r, eta);
        if (final)
            fprintf(stderr, " %.1f s\n", el);
    } else if (p->total)
        fprintf(stderr, "reconcile: %s: %zu of %zu records (%.0f%%), %s/s%s\n", p->stage, p->done, p->total,
                frac * 100, r, final ? "" : eta);
}

static void s_prog_stage(s_prog_t *p, const char *stage, size_t total)
{
    p->stage = stage;
    p->total = total;
    p->done = 0;
    p->stage_t0 = s_now();
    p->last = 0;
    if (!p->quiet && !p->tty)
        fprintf(stderr, "reconcile: %s%s\n", stage, total ? "" : " ...");
}

static void s_prog_add(s_prog_t *p, size_t n)
{
    p->done += n;
    s_prog_show(p, false);
}

static void s_prog_end(s_prog_t *p)
{
    p->done = p->total ? p->total : p->done;
    s_prog_show(p, true);
}

static void s_say(s_prog_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_say(s_prog_t *p, const char *fmt, ...)
{
    if (p->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%sreconcile: ", p->tty ? "\r" : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- small helpers ---- */

/* A JSON pointer (RFC 6901) into v, or NULL. */
static json_t *s_ptr(json_t *v, const char *p)
{
    return p ? (json_t *) er_json_pointer(v, p) : v;
}

static const char *s_str(json_t *v, const char *p)
{
    return json_string_value(s_ptr(v, p));
}

/* A whole file in memory (NUL-terminated). */
static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st)) {
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t) st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t) st.st_size, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* CSV: one field, quoted when it needs to be (RFC 4180). */
static void s_csv_field(FILE *f, const char *s, bool last)
{
    if (!s)
        s = "";
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else
        fputs(s, f);
    fputc(last ? '\n' : ',', f);
}

/* One output pair: <base>.jsonl and <base>.csv, written under .tmp names and
 * renamed when complete, so a file present is a file finished. */
typedef struct {
    FILE *j, *c;
    char jpath[4096], cpath[4096];
    const char *const *cols;
    size_t ncols, rows;
} s_out_t;

static int s_out_open(s_out_t *o, const char *dir, const char *base, const char *jext, const char *const *cols)
{
    memset(o, 0, sizeof *o);
    snprintf(o->jpath, sizeof o->jpath, "%s/%s.%s", dir, base, jext);
    snprintf(o->cpath, sizeof o->cpath, "%s/%s.csv", dir, base);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->jpath);
    o->j = fopen(tmp, "w");
    snprintf(tmp, sizeof tmp, "%s.tmp", o->cpath);
    o->c = fopen(tmp, "w");
    if (!o->j || !o->c) {
        fprintf(stderr, "lgsp reconcile: %s: %s\n", tmp, strerror(errno));
        if (o->j)
            fclose(o->j);
        if (o->c)
            fclose(o->c);
        return -1;
    }
    o->cols = cols;
    for (o->ncols = 0; cols[o->ncols]; o->ncols++)
        s_csv_field(o->c, cols[o->ncols], !cols[o->ncols + 1]);
    return 0;
}

/* A row: the JSON object (stolen) and its CSV form (the columns' values,
 * arrays joined with '|'). */
static void s_out_row(s_out_t *o, json_t *row)
{
    json_dumpf(row, o->j, JSON_COMPACT);
    fputc('\n', o->j);
    for (size_t k = 0; k < o->ncols; k++) {
        json_t *v = json_object_get(row, o->cols[k]);
        char num[64], *joined = NULL;
        const char *s = NULL;
        if (json_is_string(v))
            s = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(num, sizeof num, "%lld", (long long) json_integer_value(v)), s = num;
        else if (json_is_real(v))
            snprintf(num, sizeof num, "%.6g", json_real_value(v)), s = num;
        else if (json_is_boolean(v))
            s = json_is_true(v) ? "true" : "false";
        else if (json_is_array(v)) {
            size_t len = 0, i;
            json_t *e;
            json_array_foreach(v, i, e) len += (json_string_value(e) ? strlen(json_string_value(e)) : 0) + 1;
            joined = calloc(1, len + 1);
            json_array_foreach(v, i, e)
            {
                if (i)
                    strcat(joined, "|");
                if (json_string_value(e))
                    strcat(joined, json_string_value(e));
            }
            s = joined;
        }
        s_csv_field(o->c, s, k + 1 == o->ncols);
        free(joined);
    }
    o->rows++;
    json_decref(row);
}

static int s_out_close(s_out_t *o)
{
    int rc = 0;
    char tmp[4200];
    if (fclose(o->j))
        rc = -1;
    if (fclose(o->c))
        rc = -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", o->jpath);
    if (rc == 0 && rename(tmp, o->jpath))
        rc = -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", o->cpath);
    if (rc == 0 && rename(tmp, o->cpath))
        rc = -1;
    if (rc)
        fprintf(stderr, "lgsp reconcile: %s: %s\n", o->jpath, strerror(errno));
    return rc;
}

static int s_write_json(const char *dir, const char *name, json_t *v)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%.3800s/%.200s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (json_dump_file(v, tmp, JSON_INDENT(1)) || rename(tmp, path)) {
        fprintf(stderr, "lgsp reconcile: %s: cannot write\n", path);
        return -1;
    }
    return 0;
}

/* ---- the 94 communes of 2025 ---- */

typedef struct {
    char code[8];
    char *name;
} s_commune_t;

typedef struct {
    s_commune_t v[NCOMMUNES];
    size_t n;
} s_units_t;

static int s_units_load(s_units_t *u, const char *path)
{
    size_t len;
    char *buf = s_slurp(path, &len);
    if (!buf) {
        fprintf(stderr, "lgsp reconcile: %s: %s\n", path, strerror(errno));
        return -1;
    }
    csvread_t *r = csvread_new(buf, len, ',', '"');
    int ci = -1, ni = -1, rc = 0;
    bool header = true;
    while ((rc = csvread_next(r)) != CSVREAD_END) {
        if (rc == CSVREAD_ERROR)
            continue;
        size_t nf = csvread_nfields(r);
        if (header) {
            for (size_t k = 0; k < nf; k++) {
                const char *f = csvread_field(r, k, NULL);
                if (strcmp(f, "commune_code") == 0)
                    ci = (int) k;
                if (strcmp(f, "commune_name") == 0)
                    ni = (int) k;
            }
            header = false;
            continue;
        }
        if (ci < 0 || ni < 0 || (size_t) ci >= nf || (size_t) ni >= nf || u->n == NCOMMUNES)
            continue;
        snprintf(u->v[u->n].code, sizeof u->v[u->n].code, "%s", csvread_field(r, (size_t) ci, NULL));
        u->v[u->n].name = strdup(csvread_field(r, (size_t) ni, NULL));
        u->n++;
    }
    csvread_destroy(&r);
    free(buf);
    if (ci < 0 || ni < 0 || u->n == 0) {
        fprintf(stderr, "lgsp reconcile: %s: no commune_code / commune_name columns\n", path);
        return -1;
    }
    return 0;
}

static int s_commune_index(const s_units_t *u, const char *code)
{
    if (!code)
        return -1;
    for (size_t k = 0; k < u->n; k++)
        if (strcmp(u->v[k].code, code) == 0)
            return (int) k;
    return -1;
}

/* ---- per-input figures (data quality) ---- */

typedef struct {
    char rule[64];
    size_t n;
} s_rule_t;

typedef struct {
    size_t lines;                   /* records in the canonical file (or expanded) */
    size_t parents;                 /* records the mentions came from */
    size_t loaded;                  /* records the engine took */
    size_t unreadable;              /* values the engine could not read (field left absent) */
    size_t rejected;                /* records the engine refused */
    size_t unrecoded[3];            /* ambiguous, unknown, ok without a commune */
    size_t raw_records, mapped, quarantined;   /* lgsp map's summary line */
    bool   has_map_log;
    s_rule_t rules[32];
    size_t nrules;
    size_t raw_seen, raw_legacy, raw_not_nfc;
    bool   has_raw;
    json_t *encodings;              /* encoding -> records */
    size_t *missing;                /* per spec field */
    size_t partial_dates;
} s_quality_t;

static void s_rule_add(s_quality_t *q, const char *rule)
{
    for (size_t k = 0; k < q->nrules; k++)
        if (strcmp(q->rules[k].rule, rule) == 0) {
            q->rules[k].n++;
            return;
        }
    if (q->nrules < 32) {
        snprintf(q->rules[q->nrules].rule, sizeof q->rules[q->nrules].rule, "%s", rule);
        q->rules[q->nrules++].n = 1;
    }
}

/* ---- the run ---- */

typedef struct {
    uint32_t a, b;
    double prob;
} s_pair_t;

typedef struct {
    s_job_t *job;
    s_prog_t prog;
    bool resume;
    uint64_t hash;
    char work[4096];
    er_spec_t *spec;
    er_data_t *data;
    er_model_t *model;
    size_t nfields;
    int f_commune, f_name, f_date;
    int conf_field[MAX_CONFL];
    s_quality_t q[MAX_INPUTS];
    uint16_t *input_of;             /* per record */
    uint32_t *cluster;              /* per record */
    size_t nclusters;
    uint32_t *coff, *cmem;
    s_pair_t *review;
    size_t nreview;
    char **entity_ids;              /* per cluster, with a store */
    er_stats_t stats;
    bool have_stats;
    erstore_assign_stats_t assign;
    s_units_t units;
    double hist[HIST_BINS];         /* candidate pairs per match-weight bin */
    bool weights_done;              /* the match stage filled hist from the engine's pairs */
    size_t pairs_scored, pairs_below, pairs_review, pairs_match;
    double seconds[8];
    s_out_t unrec;                  /* unrecoded.jsonl/.csv, filled by the scan */
    json_t *unrec_rows;             /* kept to count per commune candidates */
    size_t decisions;
} s_run_t;

static const char *s_stage_names[] = {"expand", "scan", "load", "match", "weights", "store", "report"};

static bool s_interrupted(s_run_t *r, const char *where)
{
    if (!s_stop)
        return false;
    fprintf(stderr, "%slgsp reconcile: interrupted during %s; what is done is kept in %s "
            "(run again with --resume to continue)\n", r->prog.tty ? "\n" : "", where, r->work);
    return true;
}

/* A marker: "<hash>\n" in work/<name>.done */
static void s_mark(s_run_t *r, const char *name)
{
    char path[4300];
    snprintf(path, sizeof path, "%.4000s/%.200s.done", r->work, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%016llx\n", (unsigned long long) r->hash);
        fclose(f);
    }
}

static bool s_marked(s_run_t *r, const char *name)
{
    if (!r->resume)
        return false;
    char path[4300], buf[64] = "", want[32];
    snprintf(path, sizeof path, "%s/%s.done", r->work, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    snprintf(want, sizeof want, "%016llx\n", (unsigned long long) r->hash);
    return strcmp(buf, want) == 0;
}

/* ---- stage expand: person mentions -> person records ---- */

/* The person record of mention m of rec: the fields a person spec reads
 * (name, sex, birth date, personal id / CMND, residence), with the record
 * id "<record id>#<role>" and the record's source and time. */
static json_t *s_mention_person(json_t *rec, json_t *m, const char *role)
{
    const char *rid = s_str(rec, "/provenance/source_record_id");
    const char *src = s_str(rec, "/provenance/source_system");
    json_t *name = s_ptr(m, "/name");
    if (!rid || !src || !json_is_object(name))
        return NULL;
    char id[600];
    snprintf(id, sizeof id, "%s#%s", rid, role);
    json_t *p = json_pack("{s:s, s:{s:s, s:s}, s:O}", "schema", "person.v1", "provenance", "source_system", src,
                          "source_record_id", id, "name", name);
    json_t *v;
    if ((v = s_ptr(m, "/sex")))
        json_object_set(p, "sex", v);
    if ((v = s_ptr(m, "/birth_date")))
        json_object_set(p, "birth_date", v);
    else if (json_is_integer(v = s_ptr(m, "/birth_year"))) {
        char y[16];
        snprintf(y, sizeof y, "%04lld", (long long) json_integer_value(v));
        json_object_set_new(p, "birth_date", json_pack("{s:s, s:s}", "value", y, "precision", "year"));
    }
    if ((v = s_ptr(m, "/personal_id")))
        json_object_set(p, "personal_id", v);
    if ((v = s_ptr(m, "/cmnd")))
        json_object_set(p, "cmnd", v);
    const char *dt = s_str(m, "/id_document/type"), *dn = s_str(m, "/id_document/number");
    if (dt && dn) {
        if (strcmp(dt, "CMND") == 0 && !json_object_get(p, "cmnd"))
            json_object_set_new(p, "cmnd", json_string(dn));
        else if (strcmp(dt, "CCCD") == 0 && !json_object_get(p, "personal_id"))
            json_object_set_new(p, "personal_id", json_string(dn));
    }
    if ((v = s_ptr(m, "/residence")) || (v = s_ptr(m, "/address")))
        json_object_set(p, "residence", v);
    const char *up = s_str(rec, "/source_updated_at");
    if (!up)
        up = s_str(rec, "/registration/registered_at");
    if (up)
        json_object_set_new(p, "source_updated_at", json_string(up));
    return p;
}

static int s_stage_expand(s_run_t *r)
{
    s_job_t *j = r->job;
    for (size_t i = 0; i < j->ninputs; i++) {
        s_input_t *in = &j->inputs[i];
        if (!in->nmentions) {
            in->load_path = strdup(in->file);
            continue;
        }
        char mark[600];
        snprintf(mark, sizeof mark, "expand-%zu", i);
        if (asprintf(&in->load_path, "%s/%s.persons.jsonl", r->work, in->name) < 0)
            return -1;
        if (s_marked(r, mark)) {
            s_say(&r->prog, "expand %s: done before (resumed)", in->name);
            continue;
        }
        FILE *f = fopen(in->file, "r");
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp", in->load_path);
        FILE *o = f ? fopen(tmp, "w") : NULL;
        if (!f || !o) {
            fprintf(stderr, "lgsp reconcile: %s: %s\n", f ? tmp : in->file, strerror(errno));
            if (f)
                fclose(f);
            return -1;
        }
        struct stat st;
        fstat(fileno(f), &st);
        s_prog_stage(&r->prog, "expand", 0);
        char *line = NULL;
        size_t cap = 0, bytes = 0, out = 0, parents = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            bytes += (size_t) len;
            json_t *rec = json_loadb(line, (size_t) len, 0, NULL);
            if (!rec)
                continue;
            parents++;
            for (size_t k = 0; k < in->nmentions; k++) {
                json_t *m = s_ptr(rec, in->mentions[k].from);
                json_t *p = m ? s_mention_person(rec, m, in->mentions[k].role) : NULL;
                if (p) {
                    json_dumpf(p, o, JSON_COMPACT);
                    fputc('\n', o);
                    out++;
                    json_decref(p);
                }
            }
            json_decref(rec);
            if ((parents & 1023) == 0) {
                r->prog.total = (size_t) st.st_size ? (size_t) ((double) parents * st.st_size / bytes) : 0;
                s_prog_add(&r->prog, 1024);
                if (s_stop)
                    break;
            }
        }
        free(line);
        fclose(f);
        if (fclose(o) || s_stop) {
            unlink(tmp);
            return s_stop ? 1 : -1;
        }
        rename(tmp, in->load_path);
        s_prog_end(&r->prog);
        s_say(&r->prog, "expand %s: %zu person mentions from %zu records", in->name, out, parents);
        s_mark(r, mark);
    }
    return 0;
}

/* ---- stage scan: residences that did not recode, quarantine, raw ---- */

static const char *s_unrec_cols[] = {"source", "side", "record", "status", "original_commune",
                                     "original_name", "candidates", "reason", NULL};

static int s_count_sub(const char *s, size_t n, const char *needle)
{
    int c = 0;
    size_t nl = strlen(needle);
    const char *p = s, *e = s + n;
    while ((p = memmem(p, (size_t) (e - p), needle, nl))) {
        c++;
        p += nl;
    }
    return c;
}

static void s_scan_canonical(s_run_t *r, size_t i)
{
    s_input_t *in = &r->job->inputs[i];
    s_quality_t *q = &r->q[i];
    const char *resp = in->nmentions ? "/residence" : in->residence ? in->residence : "/residence";
    FILE *f = fopen(in->load_path, "r");
    if (!f)
        return;
    if (strlen(in->load_path) > 4 && strcmp(in->load_path + strlen(in->load_path) - 4, ".csv") == 0) {
        /* a CSV carries no recoding status: only its rows are counted */
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0)
            q->lines++;
        q->lines = q->lines ? q->lines - 1 : 0;
        free(line);
        fclose(f);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (len <= 1)
            continue;
        q->lines++;
        /* parse only the lines with a recoding status other than ok */
        int all = s_count_sub(line, (size_t) len, "\"recode_status\":\"");
        if (all == s_count_sub(line, (size_t) len, "\"recode_status\":\"ok\"") &&
            (all || !memmem(line, (size_t) len, "\"residence\"", 11))) {
            if ((q->lines & 4095) == 0) {
                s_prog_add(&r->prog, 4096);
                if (s_stop)
                    break;
            }
            continue;
        }
        json_t *rec = json_loadb(line, (size_t) len, 0, NULL);
        json_t *addr = rec ? s_ptr(rec, resp) : NULL;
        const char *st = json_is_object(addr) ? s_str(addr, "/recode_status") : NULL;
        if (st && (strcmp(st, "ok") || !s_ptr(addr, "/commune_2025/code"))) {
            int kind = strcmp(st, "ambiguous") == 0 ? 0 : strcmp(st, "unknown") == 0 ? 1 : 2;
            q->unrecoded[kind]++;
            json_t *cands = json_array(), *c;
            size_t k;
            json_array_foreach(s_ptr(addr, "/candidates"), k, c)
                json_array_append_new(cands, json_string(s_str(c, "/code") ? s_str(c, "/code") : "?"));
            json_t *row = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s?, s:o, s:s}", "source", in->name, "side",
                                    in->side ? "b" : "a", "record", s_str(rec, "/provenance/source_record_id"),
                                    "status", kind == 2 ? "no_commune" : st, "original_commune",
                                    s_str(addr, "/original/commune_code"), "original_name",
                                    s_str(addr, "/original/commune_name"), "candidates", cands, "reason",
                                    kind == 0 ? "the old commune was split and nothing in the record decides"
                                              : "the original unit was not found");
            json_array_append(r->unrec_rows, row);
            s_out_row(&r->unrec, row);
        }
        json_decref(rec);
        if ((q->lines & 4095) == 0) {
            s_prog_add(&r->prog, 4096);
            if (s_stop)
                break;
        }
    }
    free(line);
    fclose(f);
}

/* lgsp map's standard error: "input:pos: mapping.yaml:12: /field (src):
 * rule: message" per error, and the summary line "lgsp map: FILE: N
 * records, M mapped, K with errors". */
static void s_scan_map_log(s_run_t *r, size_t i)
{
    s_input_t *in = &r->job->inputs[i];
    s_quality_t *q = &r->q[i];
    FILE *f = fopen(in->map_log, "r");
    if (!f) {
        fprintf(stderr, "lgsp reconcile: %s: %s (the map log is left out)\n", in->map_log, strerror(errno));
        return;
    }
    q->has_map_log = true;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile(
        (PCRE2_SPTR) "^(.+?): ([^:\\s]+\\.ya?ml):(\\d+): (\\S+)(?: \\((.*?)\\))?: ([a-z0-9_.]+): (.*)$",
        PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    char *line = NULL, last_pos[1024] = "";
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        unsigned long nrec, nmap, nerr;
        char *sum = strstr(line, "lgsp map: ");
        if (sum == line && sscanf(strrchr(line, ':') + 1, " %lu records, %lu mapped, %lu with errors", &nrec, &nmap,
                                  &nerr) == 3) {
            q->raw_records += nrec, q->mapped += nmap, q->quarantined += nerr;
            continue;
        }
        if (pcre2_match(re, (PCRE2_SPTR) line, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) < 7)
            continue;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        char pos[1024], rule[64], field[256], msg[1024];
        snprintf(pos, sizeof pos, "%.*s", (int) (ov[3] - ov[2]), line + ov[2]);
        snprintf(field, sizeof field, "%.*s", (int) (ov[9] - ov[8]), line + ov[8]);
        snprintf(rule, sizeof rule, "%.*s", (int) (ov[13] - ov[12]), line + ov[12]);
        snprintf(msg, sizeof msg, "%.*s", (int) (ov[15] - ov[14]), line + ov[14]);
        s_rule_add(q, rule);
        /* the unknown commune of the main address: a residence that did not
         * recode because the record was quarantined */
        if (strcmp(rule, "unknown_unit") == 0 && strcmp(pos, last_pos) != 0) {
            const char *base = strrchr(pos, '/');
            json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:n, s:n, s:[], s:s}", "source", in->name, "side",
                                    in->side ? "b" : "a", "record", base ? base + 1 : pos, "status", "quarantined",
                                    "original_commune", "original_name", "candidates", "reason", msg);
            /* the code the message names */
            const char *qc = strchr(msg, '\'');
            if (qc) {
                char code[32];
                snprintf(code, sizeof code, "%.*s", (int) strcspn(qc + 1, "'"), qc + 1);
                json_object_set_new(row, "original_commune", json_string(code));
            }
            json_array_append(r->unrec_rows, row);
            s_out_row(&r->unrec, row);
            snprintf(last_pos, sizeof last_pos, "%s", pos);
        }
        (void) field;
    }
    free(line);
    fclose(f);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}

/* A JSON value holds a string not in NFC. */
static bool s_has_not_nfc(json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (vntext_nfc_quick(s, n))
            return false;
        char *o = NULL;
        size_t bad;
        bool differ = vntext_nfc(s, n, &o, &bad) == 0 && strcmp(o, s) != 0;
        free(o);
        return differ;
    }
    const char *k;
    json_t *e;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, e) if (s_has_not_nfc(e)) return true;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e) if (s_has_not_nfc(e)) return true;
    }
    return false;
}

/* The raw records lgsp map read: how many came in a legacy encoding (the
 * lgsp-encoding header of the bus envelope) and how many held text that is
 * not NFC (both repaired by the mapping: decoded, and normalised). */
static void s_scan_raw(s_run_t *r, size_t i)
{
    s_input_t *in = &r->job->inputs[i];
    s_quality_t *q = &r->q[i];
    q->encodings = json_object();
    size_t n = strlen(in->raw);
    if (n > 4 && strcmp(in->raw + n - 4, ".xml") == 0) {
        xmlTextReaderPtr x = xmlReaderForFile(in->raw, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
        if (!x) {
            fprintf(stderr, "lgsp reconcile: %s: cannot read as XML\n", in->raw);
            return;
        }
        q->has_raw = true;
        int rdepth = -1;
        bool bad = false;
        while (xmlTextReaderRead(x) == 1) {
            int t = xmlTextReaderNodeType(x), d = xmlTextReaderDepth(x);
            if (t == XML_READER_TYPE_ELEMENT) {
                const char *nm = (const char *) xmlTextReaderConstLocalName(x);
                if (rdepth < 0 ? d == 1 && (!in->raw_record || strcmp(nm, in->raw_record) == 0)
                               : d == rdepth && (!in->raw_record || strcmp(nm, in->raw_record) == 0)) {
                    rdepth = d;
                    if (bad)
                        q->raw_not_nfc++;
                    bad = false;
                    q->raw_seen++;
                }
            } else if ((t == XML_READER_TYPE_TEXT || t == XML_READER_TYPE_CDATA) && rdepth >= 0 && !bad) {
                const char *s = (const char *) xmlTextReaderConstValue(x);
                if (s && !vntext_nfc_quick(s, strlen(s))) {
                    char *o = NULL;
                    size_t b;
                    bad = vntext_nfc(s, strlen(s), &o, &b) == 0 && strcmp(o, s) != 0;
                    free(o);
                }
            }
        }
        if (bad)
            q->raw_not_nfc++;
        xmlFreeTextReader(x);
        return;
    }
    FILE *f = fopen(in->raw, "r");
    if (!f) {
        fprintf(stderr, "lgsp reconcile: %s: %s (the raw records are left out)\n", in->raw, strerror(errno));
        return;
    }
    q->has_raw = true;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *v = json_loadb(line, (size_t) len, 0, NULL);
        if (!v)
            continue;
        q->raw_seen++;
        json_t *payload = json_object_get(v, "payload"), *h = json_object_get(v, "headers");
        if (payload && json_is_object(h)) {
            const char *enc = json_string_value(json_object_get(h, "lgsp-encoding"));
            if (enc) {
                json_t *c = json_object_get(q->encodings, enc);
                json_object_set_new(q->encodings, enc, json_integer(c ? json_integer_value(c) + 1 : 1));
                if (strcasecmp(enc, "utf-8") && strcasecmp(enc, "utf8"))
                    q->raw_legacy++;
            }
            if (json_is_string(payload)) {
                json_t *p = json_loads(json_string_value(payload), 0, NULL);
                if (p)
                    json_decref(v), v = p, payload = p;
            }
        } else
            payload = v;
        if (s_has_not_nfc(payload))
            q->raw_not_nfc++;
        json_decref(v);
    }
    free(line);
    fclose(f);
}

static int s_stage_scan(s_run_t *r)
{
    s_job_t *j = r->job;
    size_t total = 0;
    for (size_t i = 0; i < j->ninputs; i++) {
        struct stat st;
        if (stat(j->inputs[i].load_path, &st) == 0)
            total += (size_t) st.st_size / 900;   /* a canonical person record is about 900 bytes */
    }
    s_prog_stage(&r->prog, "scan", total);
    if (s_out_open(&r->unrec, j->out, "unrecoded", "jsonl", s_unrec_cols))
        return -1;
    for (size_t i = 0; i < j->ninputs && !s_stop; i++) {
        s_scan_canonical(r, i);
        if (j->inputs[i].map_log)
            s_scan_map_log(r, i);
        if (j->inputs[i].raw)
            s_scan_raw(r, i);
    }
    if (s_stop) {
        fclose(r->unrec.j), fclose(r->unrec.c);
        return 1;
    }
    s_prog_end(&r->prog);
    return s_out_close(&r->unrec);
}

/* ---- stage load ---- */

typedef struct {
    size_t *count;
} s_badctx_t;

static void s_bad(const char *pos, const char *why, void *ctx)
{
    (void) pos, (void) why;   /* they may name personal data: counted, not printed */
    (*((s_badctx_t *) ctx)->count)++;
}

static int s_stage_load(s_run_t *r)
{
    s_job_t *j = r->job;
    size_t total = 0;
    for (size_t i = 0; i < j->ninputs; i++)
        total += r->q[i].lines;
    s_prog_stage(&r->prog, "load", total);
    r->data = er_data_new(r->spec);
    for (size_t i = 0; i < j->ninputs; i++) {
        s_input_t *in = &j->inputs[i];
        char err[600];
        s_badctx_t bc = {&r->q[i].unreadable};
        in->first = er_data_count(r->data);
        long n = er_data_load_file(r->data, in->load_path, j->threads, s_bad, &bc, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "%slgsp reconcile: %s\n", r->prog.tty ? "\n" : "", err);
            return -1;
        }
        /* the records added, not n: a record id seen again replaces the
         * earlier record (a webhook's repeated delivery) */
        in->count = er_data_count(r->data) - in->first;
        r->q[i].loaded = in->count;
        r->q[i].rejected = r->q[i].lines > (size_t) n ? r->q[i].lines - (size_t) n : 0;
        s_prog_add(&r->prog, (size_t) n);
        if (s_stop)
            return 1;
    }
    size_t n = er_data_count(r->data);
    r->input_of = malloc((n ? n : 1) * sizeof *r->input_of);
    for (size_t i = 0; i < j->ninputs; i++)
        for (size_t k = 0; k < j->inputs[i].count; k++)
            r->input_of[j->inputs[i].first + k] = (uint16_t) i;
    /* missing values per field, partial dates */
    for (size_t i = 0; i < j->ninputs; i++) {
        s_quality_t *q = &r->q[i];
        q->missing = calloc(r->nfields, sizeof *q->missing);
        for (size_t k = j->inputs[i].first; k < j->inputs[i].first + j->inputs[i].count; k++) {
            for (size_t f = 0; f < r->nfields; f++)
                if (!er_data_value(r->data, k, f))
                    q->missing[f]++;
            const char *d = r->f_date >= 0 ? er_data_value(r->data, k, (size_t) r->f_date) : NULL;
            if (d && strlen(d) < 10)
                q->partial_dates++;
        }
    }
    s_prog_end(&r->prog);
    return 0;
}

/* ---- stage match (and its checkpoint) ---- */

static void s_engine_progress(const char *stage, double done, void *ctx)
{
    (void) done;
    s_run_t *r = ctx;
    if (strcmp(stage, "done") == 0)
        return;
    s_say(&r->prog, "match: %s (%.1f s)%s", stage, s_now() - r->prog.t0,
          s_stop ? " — interrupted: stopping when the engine's run ends" : "");
}

static int s_ckpt_write(s_run_t *r)
{
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/clusters.bin", r->work);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    uint64_t h[5] = {CKPT_MAGIC, r->hash, er_data_count(r->data), r->nclusters, r->nreview};
    fwrite(h, sizeof h, 1, f);
    fwrite(r->cluster, sizeof *r->cluster, er_data_count(r->data), f);
    fwrite(r->review, sizeof *r->review, r->nreview, f);
    if (fclose(f) || rename(tmp, path))
        return -1;
    json_t *mj = er_model_to_json(r->model);
    int rc = s_write_json(r->work, "model.json", mj);
    json_decref(mj);
    json_t *st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "records",
                           (json_int_t) r->stats.records, "candidate_pairs", (json_int_t) r->stats.candidate_pairs,
                           "capped_blocks", (json_int_t) r->stats.capped_blocks, "matches",
                           (json_int_t) r->stats.matches, "reviews", (json_int_t) r->stats.reviews, "clusters",
                           (json_int_t) r->stats.clusters, "refused_merges", (json_int_t) r->stats.refused_merges,
                           "em_iterations", (json_int_t) r->stats.em_iterations, "seconds_block",
                           r->stats.seconds_block, "seconds_train", r->stats.seconds_train, "seconds_score",
                           r->stats.seconds_score, "seconds_cluster", r->stats.seconds_cluster);
    rc |= s_write_json(r->work, "match.json", st);
    json_decref(st);
    return rc;
}

static int s_ckpt_read(s_run_t *r)
{
    char path[4300], err[600];
    snprintf(path, sizeof path, "%s/clusters.bin", r->work);
    FILE *f = fopen(path, "rb");
    uint64_t h[5];
    size_t n = er_data_count(r->data);
    if (!f)
        return -1;
    if (fread(h, sizeof h, 1, f) != 1 || h[0] != CKPT_MAGIC || h[1] != r->hash || h[2] != n) {
        fclose(f);
        return -1;
    }
    r->nclusters = h[3];
    r->nreview = h[4];
    r->cluster = malloc((n ? n : 1) * sizeof *r->cluster);
    r->review = malloc((r->nreview ? r->nreview : 1) * sizeof *r->review);
    bool ok = fread(r->cluster, sizeof *r->cluster, n, f) == n &&
              fread(r->review, sizeof *r->review, r->nreview, f) == r->nreview;
    fclose(f);
    snprintf(path, sizeof path, "%s/model.json", r->work);
    json_t *mj = ok ? json_load_file(path, 0, NULL) : NULL;
    r->model = mj ? er_model_from_json(r->spec, mj, err, sizeof err) : NULL;
    json_decref(mj);
    if (!r->model)
        return -1;
    er_model_build_tf(r->model, r->data);
    snprintf(path, sizeof path, "%s/match.json", r->work);
    json_t *st = json_load_file(path, 0, NULL);
    if (st) {
        r->stats.records = n;
        r->stats.candidate_pairs = (size_t) json_integer_value(json_object_get(st, "candidate_pairs"));
        r->stats.capped_blocks = (size_t) json_integer_value(json_object_get(st, "capped_blocks"));
        r->stats.matches = (size_t) json_integer_value(json_object_get(st, "matches"));
        r->stats.reviews = (size_t) json_integer_value(json_object_get(st, "reviews"));
        r->stats.clusters = (size_t) json_integer_value(json_object_get(st, "clusters"));
        r->stats.refused_merges = (size_t) json_integer_value(json_object_get(st, "refused_merges"));
        r->stats.em_iterations = (size_t) json_integer_value(json_object_get(st, "em_iterations"));
        r->stats.seconds_block = json_real_value(json_object_get(st, "seconds_block"));
        r->stats.seconds_train = json_real_value(json_object_get(st, "seconds_train"));
        r->stats.seconds_score = json_real_value(json_object_get(st, "seconds_score"));
        r->stats.seconds_cluster = json_real_value(json_object_get(st, "seconds_cluster"));
        r->have_stats = true;
        json_decref(st);
    }
    return 0;
}

static void s_weights_from_run(s_run_t *r, const er_run_t *run);

static int s_stage_match(s_run_t *r)
{
    s_job_t *j = r->job;
    if (s_marked(r, "match") && s_ckpt_read(r) == 0) {
        s_say(&r->prog, "match: clusters and model done before (resumed from %s/clusters.bin)", r->work);
        return 0;
    }
    er_decision_t *decs = NULL;
    size_t ndecs = 0;
    char err[600];
    if (j->store) {
        erstore_t *store = erstore_open(j->store, err, sizeof err);
        if (!store) {
            fprintf(stderr, "lgsp reconcile: %s: %s\n", j->store, err);
            return -1;
        }
        int drc = er_decisions_from_store(store, er_spec_kind(r->spec), &decs, &ndecs);
        erstore_destroy(&store);
        if (drc) {
            fprintf(stderr, "lgsp reconcile: %s: %s\n", j->store, erstore_error());
            er_decisions_free(decs, ndecs);
            return -1;
        }
        r->decisions = ndecs;
        if (ndecs)
            s_say(&r->prog, "match: %zu manual decisions from the store applied", ndecs);
    }
    er_model_destroy(&r->model);
    r->model = er_model_new(r->spec);
    er_options_t eo = {.threads = j->threads, .estimate = true, .quiet = true, .progress = s_engine_progress,
                       .progress_ctx = r};
    er_run_t *run = er_run_batch(r->data, r->model, decs, ndecs, &eo, err, sizeof err);
    er_decisions_free(decs, ndecs);
    if (!run) {
        fprintf(stderr, "lgsp reconcile: %s\n", err);
        return -1;
    }
    size_t n = er_data_count(r->data);
    r->stats = *er_run_stats(run);
    r->have_stats = true;
    r->nclusters = er_run_cluster_count(run);
    r->cluster = malloc((n ? n : 1) * sizeof *r->cluster);
    memcpy(r->cluster, er_run_cluster_of_all(run), n * sizeof *r->cluster);
    r->nreview = er_run_review_count(run);
    r->review = malloc((r->nreview ? r->nreview : 1) * sizeof *r->review);
    for (size_t k = 0; k < r->nreview; k++)
        er_run_review_pair(run, k, &r->review[k].a, &r->review[k].b, &r->review[k].prob);
    /* the weights stage's histogram from the run's own scored pairs (the
     * stage recomputes them only when resuming after this one) */
    s_weights_from_run(r, run);
    er_run_destroy(&run);
    if (s_ckpt_write(r)) {
        fprintf(stderr, "lgsp reconcile: %s: cannot write the checkpoint\n", r->work);
        return -1;
    }
    s_mark(r, "match");
    s_say(&r->prog, "match: %zu candidate pairs, %zu matches, %zu for review, %zu entities; checkpoint written",
          r->stats.candidate_pairs, r->stats.matches, r->stats.reviews, r->nclusters);
    return s_stop ? 1 : 0;
}

/* Members of each cluster (counting sort). */
static void s_members(s_run_t *r)
{
    size_t n = er_data_count(r->data);
    r->coff = calloc(r->nclusters + 1, sizeof *r->coff);
    r->cmem = malloc((n ? n : 1) * sizeof *r->cmem);
    for (size_t i = 0; i < n; i++)
        r->coff[r->cluster[i] + 1]++;
    for (size_t c = 0; c < r->nclusters; c++)
        r->coff[c + 1] += r->coff[c];
    uint32_t *fill = malloc((r->nclusters + 1) * sizeof *fill);
    memcpy(fill, r->coff, (r->nclusters + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        r->cmem[fill[r->cluster[i]]++] = (uint32_t) i;
    free(fill);
}

/* ---- stage weights: every candidate pair's match weight ----
 * The engine keeps its candidate pairs to itself (er.h has no accessor), so
 * the blocking keys are computed again with er_block_keys and the pairs
 * scored with er_score: the same blocks (same keys, same cap), the same
 * weights. */

typedef er_keyrec_t s_kr_t;   /* key: the blocking key's hash, rec: the record */

typedef struct {
    s_kr_t *v;
    size_t n, cap;
    uint32_t cur;
} s_keys_t;

static void s_key_cb(const void *key, size_t len, void *ctx)
{
    s_keys_t *k = ctx;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 1 << 16;
        k->v = realloc(k->v, k->cap * sizeof *k->v);
        if (!k->v)
            abort();
    }
    k->v[k->n++] = (s_kr_t){s_fnv(1469598103934665603ULL, key, len), k->cur};
}


typedef struct {
    s_run_t *r;
    const uint64_t *pairs;
    size_t from, to;
    double hist[HIST_BINS];
    size_t below, review, match;
} s_wjob_t;

static void *s_weigh(void *arg)
{
    s_wjob_t *w = arg;
    double mw = log2(er_threshold_match(w->r->model) / (1 - er_threshold_match(w->r->model)));
    double rw = log2(er_threshold_review(w->r->model) / (1 - er_threshold_review(w->r->model)));
    for (size_t k = w->from; k < w->to; k++) {
        double p, wt = er_score(w->r->model, w->r->data, w->pairs[k] >> 32, w->pairs[k] & 0xFFFFFFFFu, &p);
        int bin = (int) floor((wt - HIST_LO) / ((HIST_HI - HIST_LO) / HIST_BINS));
        bin = bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin;
        w->hist[bin]++;
        if (wt >= mw)
            w->match++;
        else if (wt >= rw)
            w->review++;
        else
            w->below++;
    }
    return NULL;
}

static void s_weights_save(s_run_t *r)
{
    json_t *h = json_array();
    for (size_t b = 0; b < HIST_BINS; b++)
        json_array_append_new(h, json_real(r->hist[b]));
    json_t *w = json_pack("{s:o, s:I, s:I, s:I, s:I}", "hist", h, "pairs", (json_int_t) r->pairs_scored, "below",
                          (json_int_t) r->pairs_below, "review", (json_int_t) r->pairs_review, "match",
                          (json_int_t) r->pairs_match);
    s_write_json(r->work, "weights.json", w);
    json_decref(w);
    s_mark(r, "weights");
}

static void s_weights_from_run(s_run_t *r, const er_run_t *run)
{
    double mw = log2(er_threshold_match(r->model) / (1 - er_threshold_match(r->model)));
    double rw = log2(er_threshold_review(r->model) / (1 - er_threshold_review(r->model)));
    size_t np = er_run_pair_count(run);
    memset(r->hist, 0, sizeof r->hist);
    r->pairs_below = r->pairs_review = r->pairs_match = 0;
    for (size_t k = 0; k < np; k++) {
        uint32_t a, b;
        double wt;
        er_run_pair(run, k, &a, &b, &wt);
        int bin = (int) floor((wt - HIST_LO) / ((HIST_HI - HIST_LO) / HIST_BINS));
        bin = bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin;
        r->hist[bin]++;
        if (wt >= mw)
            r->pairs_match++;
        else if (wt >= rw)
            r->pairs_review++;
        else
            r->pairs_below++;
    }
    r->pairs_scored = np;
    r->weights_done = true;
    s_weights_save(r);
}

static int s_stage_weights(s_run_t *r)
{
    if (r->weights_done)
        return 0;
    if (s_marked(r, "weights")) {
        char path[4300];
        snprintf(path, sizeof path, "%s/weights.json", r->work);
        json_t *w = json_load_file(path, 0, NULL);
        if (w && json_array_size(json_object_get(w, "hist")) == HIST_BINS) {
            for (size_t b = 0; b < HIST_BINS; b++)
                r->hist[b] = json_number_value(json_array_get(json_object_get(w, "hist"), b));
            r->pairs_scored = (size_t) json_integer_value(json_object_get(w, "pairs"));
            r->pairs_below = (size_t) json_integer_value(json_object_get(w, "below"));
            r->pairs_review = (size_t) json_integer_value(json_object_get(w, "review"));
            r->pairs_match = (size_t) json_integer_value(json_object_get(w, "match"));
            json_decref(w);
            s_say(&r->prog, "weights: done before (resumed)");
            return 0;
        }
        json_decref(w);
    }
    size_t n = er_data_count(r->data), maxb = er_spec_max_block(r->spec);
    s_prog_stage(&r->prog, "weights", n);
    s_keys_t k = {0};
    for (size_t i = 0; i < n; i++) {
        k.cur = (uint32_t) i;
        er_block_keys(r->data, i, s_key_cb, &k);
        if ((i & 65535) == 65535) {
            s_prog_add(&r->prog, 65536);
            if (s_stop) {
                free(k.v);
                return 1;
            }
        }
    }
    er_sort_keyrec(k.v, k.n);
    uint64_t *pairs = NULL;
    size_t np = 0, pcap = 0;
    for (size_t s = 0; s < k.n;) {
        size_t e = s + 1;
        while (e < k.n && k.v[e].key == k.v[s].key)
            e++;
        if (e - s >= 2 && (maxb == 0 || e - s <= maxb)) {
            for (size_t a = s; a < e; a++)
                for (size_t b = a + 1; b < e; b++) {
                    if (np == pcap) {
                        pcap = pcap ? pcap * 2 : 1 << 16;
                        pairs = realloc(pairs, pcap * sizeof *pairs);
                        if (!pairs)
                            abort();
                    }
                    uint32_t x = k.v[a].rec, y = k.v[b].rec;
                    if (x == y)
                        continue;
                    pairs[np++] = x < y ? (uint64_t) x << 32 | y : (uint64_t) y << 32 | x;
                }
        }
        s = e;
    }
    free(k.v);
    er_sort_u64(pairs, np);
    size_t o = 0;
    for (size_t q = 0; q < np; q++)
        if (o == 0 || pairs[q] != pairs[o - 1])
            pairs[o++] = pairs[q];
    np = o;
    int threads = r->job->threads < 1 ? 1 : r->job->threads > 16 ? 16 : r->job->threads;
    s_wjob_t jobs[16];
    pthread_t tid[16];
    for (int t = 0; t < threads; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].r = r, jobs[t].pairs = pairs;
        jobs[t].from = np * (size_t) t / (size_t) threads, jobs[t].to = np * (size_t) (t + 1) / (size_t) threads;
    }
    for (int t = 1; t < threads; t++)
        pthread_create(&tid[t], NULL, s_weigh, &jobs[t]);
    s_weigh(&jobs[0]);
    for (int t = 0; t < threads; t++) {
        if (t)
            pthread_join(tid[t], NULL);
        for (size_t b = 0; b < HIST_BINS; b++)
            r->hist[b] += jobs[t].hist[b];
        r->pairs_below += jobs[t].below, r->pairs_review += jobs[t].review, r->pairs_match += jobs[t].match;
    }
    r->pairs_scored = np;
    free(pairs);
    s_weights_save(r);
    s_prog_end(&r->prog);
    return 0;
}

/* ---- stage store: entity ids (stable across runs), the review pairs'
 * records and the model for the review page ---- */

static int s_stage_store(s_run_t *r)
{
    s_job_t *j = r->job;
    if (!j->store)
        return 0;
    size_t n = er_data_count(r->data);
    char path[4300];
    snprintf(path, sizeof path, "%s/entities.txt", r->work);
    r->entity_ids = calloc(r->nclusters ? r->nclusters : 1, sizeof *r->entity_ids);
    if (s_marked(r, "store")) {
        FILE *f = fopen(path, "r");
        char line[512];
        size_t c = 0;
        while (f && c < r->nclusters && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            r->entity_ids[c++] = strdup(line);
        }
        if (f)
            fclose(f);
        if (c == r->nclusters) {
            s_say(&r->prog, "store: entity ids assigned before (resumed)");
            return 0;
        }
    }
    s_prog_stage(&r->prog, "store", 0);
    const char **rids = malloc((n ? n : 1) * sizeof *rids);
    for (size_t i = 0; i < n; i++)
        rids[i] = er_data_id(r->data, i);
    char err[600];
    erstore_t *store = erstore_open(j->store, err, sizeof err);
    if (!store) {
        fprintf(stderr, "lgsp reconcile: %s: %s\n", j->store, err);
        free(rids);
        return -1;
    }
    int rc = 0;
    if (erstore_assign(store, er_spec_kind(r->spec), n, rids, r->cluster, r->nclusters, r->entity_ids,
                       &r->assign)) {
        fprintf(stderr, "lgsp reconcile: %s: %s\n", j->store, erstore_error());
        rc = -1;
    }
    free(rids);
    erstore_txn_t *t = rc ? NULL : erstore_begin(store, true);
    if (t) {
        /* what the review page shows: the records of each pair for review
         * (their values), their entities' golden records, and the model */
        json_t *mj = er_model_to_json(r->model);
        char *ms = json_dumps(mj, JSON_COMPACT);
        int e = erstore_model_put(t, er_spec_kind(r->spec), ms);
        free(ms);
        json_decref(mj);
        for (size_t k = 0; k < r->nreview && !e; k++) {
            uint32_t ab[2] = {r->review[k].a, r->review[k].b};
            for (int s = 0; s < 2 && !e; s++) {
                json_t *v = er_data_values_json(r->data, ab[s]);
                char *vs = json_dumps(v, JSON_COMPACT);
                e = erstore_record_put(t, er_spec_kind(r->spec), er_data_id(r->data, ab[s]), vs);
                free(vs);
                json_decref(v);
                uint32_t c = r->cluster[ab[s]];
                if (!e && r->entity_ids[c]) {
                    json_t *g = er_golden(r->data, r->cmem + r->coff[c], r->coff[c + 1] - r->coff[c]);
                    char *gs = json_dumps(g, JSON_COMPACT);
                    e = erstore_golden_put(t, er_spec_kind(r->spec), r->entity_ids[c], gs);
                    free(gs);
                    json_decref(g);
                }
            }
        }
        if (e || erstore_commit(&t)) {
            fprintf(stderr, "lgsp reconcile: %s: %s\n", j->store, erstore_error());
            erstore_abort(&t);
            rc = -1;
        }
    }
    erstore_destroy(&store);
    if (rc == 0) {
        FILE *f = fopen(path, "w");
        for (size_t c = 0; f && c < r->nclusters; c++)
            fprintf(f, "%s\n", r->entity_ids[c] ? r->entity_ids[c] : "");
        if (f && fclose(f) == 0)
            s_mark(r, "store");
        s_prog_end(&r->prog);
        s_say(&r->prog, "store: %zu entities kept their id, %zu new, %zu retired, %zu records moved", r->assign.kept,
              r->assign.created, r->assign.retired, r->assign.moved);
    }
    return rc;
}

/* ---- stage report: the output files ---- */

typedef struct {
    size_t records, cross, within, conflicts, unmatched[2];
} s_ccount_t;

typedef struct {
    char *key;                      /* "field\tsource a\tsource b" */
    size_t n;
} s_cf_t;

typedef struct {
    s_ccount_t comm[NCOMMUNES + 1]; /* the last: no 2025 commune */
    s_cf_t *cf;
    size_t ncf, cfcap;
    size_t cross_entities, cross_records[2], within_groups, within_extra, conflict_rows, conflict_entities;
    size_t unmatched[2], review_rows;
} s_tally_t;

static void s_cf_add(s_tally_t *t, const char *field, const char *sa, const char *sb)
{
    char key[512];
    if (strcmp(sa, sb) > 0) {
        const char *x = sa;
        sa = sb, sb = x;
    }
    snprintf(key, sizeof key, "%s\t%s\t%s", field, sa, sb);
    for (size_t k = 0; k < t->ncf; k++)
        if (strcmp(t->cf[k].key, key) == 0) {
            t->cf[k].n++;
            return;
        }
    if (t->ncf == t->cfcap) {
        t->cfcap = t->cfcap ? t->cfcap * 2 : 32;
        t->cf = realloc(t->cf, t->cfcap * sizeof *t->cf);
    }
    t->cf[t->ncf++] = (s_cf_t){strdup(key), 1};
}

static int s_cmpstrp(const void *a, const void *b) { return strcmp(*(char *const *) a, *(char *const *) b); }

/* Two matching keys hold the same words in another order. */
static bool s_same_parts(const char *a, const char *b)
{
    if (strlen(a) != strlen(b))
        return false;
    char *x = strdup(a), *y = strdup(b), *px[16], *py[16], *sv;
    size_t nx = 0, ny = 0;
    for (char *t = strtok_r(x, " ", &sv); t && nx < 16; t = strtok_r(NULL, " ", &sv))
        px[nx++] = t;
    for (char *t = strtok_r(y, " ", &sv); t && ny < 16; t = strtok_r(NULL, " ", &sv))
        py[ny++] = t;
    bool same = nx == ny;
    if (same) {
        qsort(px, nx, sizeof *px, s_cmpstrp);
        qsort(py, ny, sizeof *py, s_cmpstrp);
        for (size_t k = 0; k < nx && same; k++)
            same = strcmp(px[k], py[k]) == 0;
    }
    free(x), free(y);
    return same;
}

/* How two values of a conflict field differ, or NULL when they agree. */
static const char *s_differ(const char *kind, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return NULL;
    if (strcmp(kind, "date") == 0) {
        size_t la = strlen(a), lb = strlen(b), l = la < lb ? la : lb;
        if (strncmp(a, b, l) == 0)
            return NULL;          /* a year-only date agrees with a full one of that year */
        if (la == 10 && lb == 10 && strncmp(a, b, 4) == 0 && strncmp(a + 5, b + 8, 2) == 0 &&
            strncmp(a + 8, b + 5, 2) == 0)
            return "day_month_swapped";
        return strncmp(a, b, 4) == 0 ? "same_year" : "different";
    }
    if (strcmp(kind, "name") == 0) {
        char *ka = NULL, *kb = NULL, *fa = NULL, *fb = NULL;
        size_t bad;
        const char *why = "spelling";
        if (vntext_fold(a, strlen(a), &fa, &bad) == 0 && vntext_fold(b, strlen(b), &fb, &bad) == 0 &&
            strcmp(fa, fb) == 0)
            why = "case";
        else if (vntext_key(a, strlen(a), &ka, &bad) == 0 && vntext_key(b, strlen(b), &kb, &bad) == 0) {
            if (strcmp(ka, kb) == 0)
                why = "diacritics";
            else if (s_same_parts(ka, kb))
                why = "parts_reordered";
        }
        free(ka), free(kb), free(fa), free(fb);
        return why;
    }
    return "different";
}

static const char *s_cross_cols[] = {"entity", "commune", "commune_name", "records_a", "records_b", "sources",
                                     "probability", NULL};
static const char *s_within_cols[] = {"entity", "source", "side", "commune", "commune_name", "records",
                                      "probability", NULL};
static const char *s_conf_cols[] = {"entity", "commune", "field", "difference", "source_a", "record_a", "value_a",
                                    "source_b", "record_b", "value_b", NULL};
static const char *s_unm_cols[] = {"record", "source", "side", "entity", "commune", NULL};
static const char *s_review_cols[] = {"a", "b", "source_a", "source_b", "side_a", "side_b",
                                      "probability", "weight", "entity_a", "entity_b", "commune", NULL};

static const char *s_entity(s_run_t *r, uint32_t c, char *buf, size_t cap)
{
    if (r->entity_ids && r->entity_ids[c] && *r->entity_ids[c])
        return r->entity_ids[c];
    snprintf(buf, cap, "C%u", c);
    return buf;
}

static const char *s_rec_commune(s_run_t *r, uint32_t i)
{
    return r->f_commune >= 0 ? er_data_value(r->data, i, (size_t) r->f_commune) : NULL;
}

static int s_write_lists(s_run_t *r, s_tally_t *t)
{
    s_job_t *j = r->job;
    const char *dir = j->out;
    s_out_t cross, within, conf, unm[2], rev;
    if (s_out_open(&cross, dir, "cross_duplicates", "jsonl", s_cross_cols) ||
        s_out_open(&within, dir, "source_duplicates", "jsonl", s_within_cols) ||
        s_out_open(&conf, dir, "conflicts", "jsonl", s_conf_cols) ||
        s_out_open(&unm[0], dir, "unmatched_a", "jsonl", s_unm_cols) ||
        s_out_open(&unm[1], dir, "unmatched_b", "jsonl", s_unm_cols) ||
        s_out_open(&rev, dir, "review", "jsonl", s_review_cols))
        return -1;
    s_prog_stage(&r->prog, "report", er_data_count(r->data));
    int ncomm = (int) r->units.n;
    for (uint32_t c = 0; c < r->nclusters; c++) {
        const uint32_t *mem = r->cmem + r->coff[c];
        size_t m = r->coff[c + 1] - r->coff[c];
        char ebuf[32];
        const char *ent = s_entity(r, c, ebuf, sizeof ebuf);
        /* the entity's commune: its golden record's (several records), or its record's */
        json_t *golden = NULL;
        const char *commune = s_rec_commune(r, mem[0]);
        if (m > 1) {
            golden = er_golden(r->data, mem, m);
            if (r->f_commune >= 0) {
                const char *fname = er_spec_field_name(r->spec, (size_t) r->f_commune);
                commune = s_str(json_object_get(golden, fname), "/value");
            }
        }
        int ci = s_commune_index(&r->units, commune);
        s_ccount_t *cc = &t->comm[ci < 0 ? ncomm : ci];
        cc->records += m;
        bool side[2] = {false, false};
        for (size_t k = 0; k < m; k++)
            side[r->job->inputs[r->input_of[mem[k]]].side] = true;
        json_t *cname = ci >= 0 ? json_string(r->units.v[ci].name) : json_null();
        if (side[0] && side[1]) {
            json_t *ra = json_array(), *rb = json_array(), *srcs = json_array();
            uint32_t fa = UINT32_MAX, fb = UINT32_MAX;
            for (size_t k = 0; k < m; k++) {
                const s_input_t *in = &j->inputs[r->input_of[mem[k]]];
                json_array_append_new(in->side ? rb : ra, json_string(er_data_id(r->data, mem[k])));
                t->cross_records[in->side]++;
                if (in->side ? fb == UINT32_MAX : fa == UINT32_MAX)
                    *(in->side ? &fb : &fa) = mem[k];
                bool seen = false;
                size_t q;
                json_t *e;
                json_array_foreach(srcs, q, e) seen |= strcmp(json_string_value(e), er_data_source(r->data, mem[k])) == 0;
                if (!seen)
                    json_array_append_new(srcs, json_string(er_data_source(r->data, mem[k])));
            }
            double p;
            er_score(r->model, r->data, fa, fb, &p);
            json_t *row = json_pack("{s:s, s:s?, s:O, s:o, s:o, s:o, s:f}", "entity", ent, "commune", commune,
                                    "commune_name", cname, "records_a", ra, "records_b", rb, "sources", srcs,
                                    "probability", p);
            if (golden)
                json_object_set(row, "golden", golden);
            s_out_row(&cross, row);
            t->cross_entities++;
            cc->cross++;
        } else {
            for (size_t k = 0; k < m; k++) {
                int s = side[1];
                json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "record", er_data_id(r->data, mem[k]),
                                        "source", er_data_source(r->data, mem[k]), "side", s ? "b" : "a", "entity",
                                        ent, "commune", s_rec_commune(r, mem[k]));
                s_out_row(&unm[s], row);
                t->unmatched[s]++;
                int ri = s_commune_index(&r->units, s_rec_commune(r, mem[k]));
                t->comm[ri < 0 ? ncomm : ri].unmatched[s]++;
            }
        }
        if (m > 1) {
            /* duplicates inside one input (inputs where a person may repeat are left out) */
            for (size_t ii = 0; ii < j->ninputs; ii++) {
                if (j->inputs[ii].repeats)
                    continue;
                json_t *recs = json_array();
                uint32_t first[2] = {UINT32_MAX, UINT32_MAX};
                for (size_t k = 0; k < m; k++)
                    if (r->input_of[mem[k]] == ii) {
                        json_array_append_new(recs, json_string(er_data_id(r->data, mem[k])));
                        if (first[0] == UINT32_MAX)
                            first[0] = mem[k];
                        else if (first[1] == UINT32_MAX)
                            first[1] = mem[k];
                    }
                if (json_array_size(recs) >= 2) {
                    double p;
                    er_score(r->model, r->data, first[0], first[1], &p);
                    json_t *row = json_pack("{s:s, s:s, s:s, s:s?, s:O, s:O, s:f}", "entity", ent, "source",
                                            j->inputs[ii].name, "side", j->inputs[ii].side ? "b" : "a", "commune",
                                            commune, "commune_name", cname, "records", recs, "probability", p);
                    s_out_row(&within, row);
                    t->within_groups++;
                    t->within_extra += json_array_size(recs) - 1;
                    cc->within++;
                }
                json_decref(recs);
            }
            /* conflicts: every pair of records of two sources, field by field */
            bool any = false;
            for (size_t x = 0; x < m; x++)
                for (size_t y = x + 1; y < m; y++) {
                    const char *sx = er_data_source(r->data, mem[x]), *sy = er_data_source(r->data, mem[y]);
                    if (strcmp(sx, sy) == 0)
                        continue;
                    for (size_t f = 0; f < j->nconflicts; f++) {
                        if (r->conf_field[f] < 0)
                            continue;
                        const char *va = er_data_value(r->data, mem[x], (size_t) r->conf_field[f]);
                        const char *vb = er_data_value(r->data, mem[y], (size_t) r->conf_field[f]);
                        const char *why = va && vb ? s_differ(j->conflicts[f].kind, va, vb) : NULL;
                        if (!why)
                            continue;
                        json_t *row = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "entity", ent,
                                                "commune", commune, "field", j->conflicts[f].field, "difference", why,
                                                "source_a", sx, "record_a", er_data_id(r->data, mem[x]), "value_a", va,
                                                "source_b", sy, "record_b", er_data_id(r->data, mem[y]), "value_b",
                                                vb);
                        s_out_row(&conf, row);
                        s_cf_add(t, j->conflicts[f].field, sx, sy);
                        t->conflict_rows++;
                        cc->conflicts++;
                        any = true;
                    }
                }
            t->conflict_entities += any;
        }
        json_decref(cname);
        json_decref(golden);
        if ((c & 16383) == 0) {
            r->prog.done = r->coff[c];
            s_prog_show(&r->prog, false);
            if (s_stop)
                break;
        }
    }
    /* the review queue: possible matches for a human (the review page) */
    for (size_t k = 0; k < r->nreview && !s_stop; k++) {
        uint32_t a = r->review[k].a, b = r->review[k].b;
        char ea[32], eb[32];
        double w = er_score(r->model, r->data, a, b, NULL);
        /* "a", "b", "probability": the queue file of lgspd's review page (review.c) */
        json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:s, s:s?}", "a",
                                er_data_id(r->data, a), "b", er_data_id(r->data, b), "source_a",
                                er_data_source(r->data, a), "source_b", er_data_source(r->data, b), "side_a",
                                j->inputs[r->input_of[a]].side ? "b" : "a", "side_b",
                                j->inputs[r->input_of[b]].side ? "b" : "a", "probability", r->review[k].prob, "weight",
                                w, "entity_a", s_entity(r, r->cluster[a], ea, sizeof ea), "entity_b",
                                s_entity(r, r->cluster[b], eb, sizeof eb), "commune", s_rec_commune(r, a));
        s_out_row(&rev, row);
        t->review_rows++;
    }
    int rc = 0;
    if (s_stop) {
        s_out_t *all[] = {&cross, &within, &conf, &unm[0], &unm[1], &rev};
        for (size_t k = 0; k < 6; k++)
            fclose(all[k]->j), fclose(all[k]->c);
        return 1;
    }
    rc |= s_out_close(&cross);
    rc |= s_out_close(&within);
    rc |= s_out_close(&conf);
    rc |= s_out_close(&unm[0]);
    rc |= s_out_close(&unm[1]);
    rc |= s_out_close(&rev);
    s_prog_end(&r->prog);
    return rc;
}

/* Data quality per input: the figures and how each is computed. */
static json_t *s_quality_json(s_run_t *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->job->ninputs; i++) {
        const s_input_t *in = &r->job->inputs[i];
        s_quality_t *q = &r->q[i];
        json_t *miss = json_object(), *rules = json_object();
        for (size_t f = 0; f < r->nfields; f++)
            json_object_set_new(miss, er_spec_field_name(r->spec, f), json_integer((json_int_t) q->missing[f]));
        size_t ids = 0, dates = 0, codes = 0, units = 0;
        for (size_t k = 0; k < q->nrules; k++) {
            json_object_set_new(rules, q->rules[k].rule, json_integer((json_int_t) q->rules[k].n));
            if (strncmp(q->rules[k].rule, "personal_id", 11) == 0 || strncmp(q->rules[k].rule, "cmnd", 4) == 0)
                ids += q->rules[k].n;
            else if (strcmp(q->rules[k].rule, "date") == 0)
                dates += q->rules[k].n;
            else if (strcmp(q->rules[k].rule, "code_table") == 0)
                codes += q->rules[k].n;
            else if (strcmp(q->rules[k].rule, "unknown_unit") == 0)
                units += q->rules[k].n;
        }
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:{s:I, s:I, s:I}}", "source", in->name,
                              "side", in->side ? "b" : "a", "records", (json_int_t) q->lines, "records_loaded",
                              (json_int_t) q->loaded, "records_refused", (json_int_t) q->rejected,
                              "values_unreadable", (json_int_t) q->unreadable, "partial_dates",
                              (json_int_t) q->partial_dates, "missing", miss, "unrecoded",
                              (json_int_t) (q->unrecoded[0] + q->unrecoded[1] + q->unrecoded[2]), "unrecoded_by_status",
                              "ambiguous", (json_int_t) q->unrecoded[0], "unknown", (json_int_t) q->unrecoded[1],
                              "no_commune", (json_int_t) q->unrecoded[2]);
        if (in->nmentions)
            json_object_set_new(o, "mentions_of", json_string(in->file));
        if (q->has_map_log) {
            json_object_set_new(o, "quarantine",
                                json_pack("{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "raw_records",
                                          (json_int_t) q->raw_records, "mapped", (json_int_t) q->mapped,
                                          "quarantined", (json_int_t) q->quarantined, "errors_by_rule", rules,
                                          "invalid_ids", (json_int_t) ids, "invalid_dates", (json_int_t) dates,
                                          "codes_outside_table", (json_int_t) codes, "unknown_units",
                                          (json_int_t) units));
        } else
            json_decref(rules);
        if (q->has_raw)
            json_object_set_new(o, "encodings_repaired",
                                json_pack("{s:I, s:I, s:I, s:O}", "raw_records", (json_int_t) q->raw_seen,
                                          "legacy_encoding", (json_int_t) q->raw_legacy, "not_nfc",
                                          (json_int_t) q->raw_not_nfc, "by_encoding", q->encodings));
        json_array_append_new(a, o);
    }
    return a;
}

static int s_write_quality_csv(s_run_t *r, json_t *qa)
{
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/quality.csv", r->job->out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    /* long form: one figure a row */
    fputs("source,figure,value\n", f);
    size_t i;
    json_t *o;
    json_array_foreach(qa, i, o)
    {
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *k1, *k2;
        json_t *v, *w;
        json_object_foreach(o, k1, v)
        {
            if (json_is_integer(v))
                fprintf(f, "%s,%s,%lld\n", src, k1, (long long) json_integer_value(v));
            else if (json_is_object(v))
                json_object_foreach(v, k2, w)
                {
                    if (json_is_integer(w))
                        fprintf(f, "%s,%s.%s,%lld\n", src, k1, k2, (long long) json_integer_value(w));
                    else if (json_is_object(w)) {
                        const char *k3;
                        json_t *x;
                        json_object_foreach(w, k3, x) fprintf(f, "%s,%s.%s.%s,%lld\n", src, k1, k2, k3,
                                                              (long long) json_integer_value(x));
                    }
                }
        }
    }
    if (fclose(f) || rename(tmp, path))
        return -1;
    return 0;
}

/* ---- report.html: one file, inline CSS and SVG, nothing fetched ---- */

static void s_h(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *s_css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;margin:2em auto;"
    "max-width:1100px;color:#222;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;"
    "padding-bottom:.2em;margin-top:2em}table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
    "td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
    "td.l,th.l{text-align:left}.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ccc;"
    "border-radius:6px;padding:.6em 1em;min-width:9em}.card b{display:block;font-size:1.5em}"
    ".note{color:#555;font-size:.88em}svg text{font-size:11px;fill:#333}.k1{fill:#d9534f}.k2{fill:#f0ad4e}"
    ".k3{fill:#5b7fbf}.k4{fill:#8a8a8a}.swatch{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;"
    "vertical-align:middle}.swatch.k1{background:#d9534f}.swatch.k2{background:#f0ad4e}.swatch.k3{background:#5b7fbf}"
    ".swatch.k4{background:#8a8a8a}";

/* Horizontal stacked bars per commune: cross-side duplicates, duplicates
 * inside a source, conflicts. */
static void s_svg_communes(FILE *f, s_run_t *r, const s_tally_t *t)
{
    size_t n = r->units.n, rowh = 15, left = 190, width = 1000, plot = width - left - 60;
    double mx = 1;
    for (size_t k = 0; k < n; k++) {
        double v = (double) (t->comm[k].cross + t->comm[k].within + t->comm[k].conflicts);
        mx = v > mx ? v : mx;
    }
    size_t h = rowh * n + 30;
    fprintf(f, "<svg id=\"chart-communes\" width=\"%zu\" height=\"%zu\" "
               "role=\"img\" aria-label=\"per commune of 2025\">\n", width, h);
    for (size_t k = 0; k < n; k++) {
        const s_ccount_t *c = &t->comm[k];
        double y = (double) (k * rowh) + 20, x = (double) left;
        fprintf(f, "<g data-commune=\"%s\"><title>", r->units.v[k].code);
        s_h(f, r->units.v[k].name);
        fprintf(f, " (%s): %zu across the sides, %zu inside a source, %zu conflicts, %zu records</title>",
                r->units.v[k].code, c->cross, c->within, c->conflicts, c->records);
        fprintf(f, "<text x=\"%zu\" y=\"%.0f\" text-anchor=\"end\">", left - 6, y + 11);
        s_h(f, r->units.v[k].name);
        fputs("</text>", f);
        size_t vals[3] = {c->cross, c->within, c->conflicts};
        for (int s = 0; s < 3; s++) {
            double w = (double) vals[s] / mx * (double) plot;
            if (w > 0)
                fprintf(f, "<rect class=\"k%d\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%zu\"/>", s + 1, x, y + 2,
                        w, rowh - 3);
            x += w;
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\">%zu</text></g>\n", x + 4, y + 11, vals[0] + vals[1] + vals[2]);
    }
    fprintf(f, "<text x=\"%zu\" y=\"12\">scale: the longest bar is %.0f</text></svg>\n", left, mx);
}

/* The histogram of the candidate pairs' match weights (counts on a log
 * scale: non-matches outnumber matches by orders of magnitude). */
static void s_svg_weights(FILE *f, s_run_t *r)
{
    size_t width = 1000, height = 320, left = 60, bottom = 40, top = 20, plot_w = width - left - 20,
           plot_h = height - top - bottom;
    double mx = 1;
    for (size_t b = 0; b < HIST_BINS; b++)
        mx = r->hist[b] > mx ? r->hist[b] : mx;
    double lmx = log10(mx + 1), bw = (double) plot_w / HIST_BINS, step = (HIST_HI - HIST_LO) / HIST_BINS;
    double mw = log2(er_threshold_match(r->model) / (1 - er_threshold_match(r->model)));
    double rw = log2(er_threshold_review(r->model) / (1 - er_threshold_review(r->model)));
    fprintf(f, "<svg id=\"chart-weights\" width=\"%zu\" height=\"%zu\" "
               "role=\"img\" aria-label=\"match weight distribution\">\n", width, height);
    for (size_t b = 0; b < HIST_BINS; b++) {
        if (r->hist[b] <= 0)
            continue;
        double lo = HIST_LO + (double) b * step, hh = log10(r->hist[b] + 1) / lmx * (double) plot_h;
        const char *cls = lo >= mw ? "k1" : lo + step > rw ? "k2" : "k4";
        fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%.1f to %.1f: "
                   "%.0f pairs</title></rect>\n",
                cls, (double) left + (double) b * bw, (double) (top + plot_h) - hh, bw > 1 ? bw - 0.5 : bw, hh, lo,
                lo + step, r->hist[b]);
    }
    for (int x = (int) HIST_LO; x <= (int) HIST_HI; x += 10) {
        double px = (double) left + (x - HIST_LO) / (HIST_HI - HIST_LO) * (double) plot_w;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%zu\" y2=\"%zu\" stroke=\"#999\"/>"
                   "<text x=\"%.1f\" y=\"%zu\" text-anchor=\"middle\">%d</text>\n",
                px, px, top + plot_h, top + plot_h + 5, px, top + plot_h + 18, x);
    }
    double th[2] = {rw, mw};
    const char *tn[2] = {"review", "match"};
    for (int k = 0; k < 2; k++) {
        double px = (double) left + (th[k] - HIST_LO) / (HIST_HI - HIST_LO) * (double) plot_w;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%zu\" y2=\"%zu\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>"
                   "<text x=\"%.1f\" y=\"%zu\">%s %.1f</text>\n",
                px, px, top, top + plot_h, px + 3, top + 10 + 12 * (size_t) k, tn[k], th[k]);
    }
    for (int d = 0; d <= (int) ceil(lmx); d++) {
        double y = (double) (top + plot_h) - d / lmx * (double) plot_h;
        if (y < (double) top - 1)
            break;
        fprintf(f, "<text x=\"%zu\" y=\"%.1f\" text-anchor=\"end\">10^%d</text>\n", left - 6, y + 4, d);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%zu\" text-anchor=\"middle\">match weight (bits)</text></svg>\n",
            (double) left + (double) plot_w / 2, height - 4);
}

static int s_cf_cmp(const void *a, const void *b)
{
    return strcmp(((const s_cf_t *) a)->key, ((const s_cf_t *) b)->key);
}

static void s_svg_conflicts(FILE *f, s_tally_t *t)
{
    qsort(t->cf, t->ncf, sizeof *t->cf, s_cf_cmp);
    size_t rowh = 20, left = 420, width = 1000, plot = width - left - 70;
    double mx = 1;
    for (size_t k = 0; k < t->ncf; k++)
        mx = (double) t->cf[k].n > mx ? (double) t->cf[k].n : mx;
    fprintf(f, "<svg id=\"chart-conflicts\" width=\"%zu\" height=\"%zu\" "
               "role=\"img\" aria-label=\"conflicts by field and source\">\n", width, rowh * t->ncf + 10);
    for (size_t k = 0; k < t->ncf; k++) {
        char key[512];
        snprintf(key, sizeof key, "%s", t->cf[k].key);
        char *s1 = strchr(key, '\t'), *s2 = s1 ? strchr(s1 + 1, '\t') : NULL;
        if (!s2)
            continue;
        *s1++ = '\0', *s2++ = '\0';
        double y = (double) (k * rowh) + 4, w = (double) t->cf[k].n / mx * (double) plot;
        fprintf(f, "<g><text x=\"%zu\" y=\"%.0f\" text-anchor=\"end\">", left - 6, y + 13);
        s_h(f, key);
        fputs(": ", f);
        s_h(f, s1);
        fputs(" vs ", f);
        s_h(f, s2);
        fprintf(f, "</text><rect class=\"k3\" x=\"%zu\" y=\"%.0f\" width=\"%.1f\" height=\"%zu\"/>"
                   "<text x=\"%.1f\" y=\"%.0f\">%zu</text></g>\n",
                left, y + 2, w, rowh - 5, (double) left + w + 4, y + 13, t->cf[k].n);
    }
    fputs("</svg>\n", f);
}

static void s_row(FILE *f, const char *label, size_t v, const char *how)
{
    fputs("<tr><td class=\"l\">", f);
    s_h(f, label);
    fprintf(f, "</td><td>%zu</td><td class=\"l note\">", v);
    s_h(f, how);
    fputs("</td></tr>\n", f);
}

static int s_write_html(s_run_t *r, s_tally_t *t, json_t *qa)
{
    s_job_t *j = r->job;
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/report.html", j->out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    const char *sa = j->side_name[0] ? j->side_name[0] : "A", *sb = j->side_name[1] ? j->side_name[1] : "B";
    fputs("<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    s_h(f, j->title ? j->title : j->name);
    fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>", s_css);
    s_h(f, j->title ? j->title : j->name);
    fputs("</h1>\n<p class=\"note\">Reconciliation job <code>", f);
    s_h(f, j->name);
    fputs("</code>, spec <code>", f);
    s_h(f, er_spec_kind(r->spec));
    fputs("</code>. Side A: <b>", f);
    s_h(f, sa);
    fputs("</b> (", f);
    for (size_t i = 0, c = 0; i < j->ninputs; i++)
        if (!j->inputs[i].side) {
            fputs(c++ ? ", " : "", f);
            s_h(f, j->inputs[i].name);
        }
    fputs("); side B: <b>", f);
    s_h(f, sb);
    fputs("</b> (", f);
    for (size_t i = 0, c = 0; i < j->ninputs; i++)
        if (j->inputs[i].side) {
            fputs(c++ ? ", " : "", f);
            s_h(f, j->inputs[i].name);
        }
    fputs(").</p>\n<div class=\"cards\">\n", f);
    size_t nrec = er_data_count(r->data);
    struct {
        const char *label;
        size_t v;
    } cards[] = {{"records", nrec},
                 {"entities", r->nclusters},
                 {"across the sides", t->cross_entities},
                 {"duplicated inside a source", t->within_groups},
                 {"conflicting values", t->conflict_rows},
                 {"possible matches to review", t->review_rows},
                 {"unmatched on side A", t->unmatched[0]},
                 {"unmatched on side B", t->unmatched[1]},
                 {"addresses not recoded", json_array_size(r->unrec_rows)}};
    for (size_t k = 0; k < sizeof cards / sizeof cards[0]; k++) {
        fprintf(f, "<div class=\"card\"><b>%zu</b>", cards[k].v);
        s_h(f, cards[k].label);
        fputs("</div>\n", f);
    }
    fputs("</div>\n", f);

    fputs("<h2>Per commune of 2025</h2>\n<p class=\"note\">The 94 communes of 2025 (units_2025.csv). An entity "
          "counts in the commune of its golden record (the commune of its one record when it has one). "
          "<span class=\"swatch k1\"></span>entities with records on both sides"
          "<span class=\"swatch k2\"></span>entities registered twice or more in one source"
          "<span class=\"swatch k3\"></span>conflicting values</p>\n",
          f);
    s_svg_communes(f, r, t);
    fputs("<h2>Match weights of the candidate pairs</h2>\n<p class=\"note\">Every pair the blocking rules brought "
          "together, by its match weight (log2 of the odds of a match: the prior plus each comparison's weight). "
          "<span class=\"swatch k4\"></span>non-match<span class=\"swatch k2\"></span>possible match, for review"
          "<span class=\"swatch k1\"></span>match. Counts on a log scale.</p>\n",
          f);
    s_svg_weights(f, r);
    fprintf(f, "<p class=\"note\">%zu candidate pairs: %zu matches, %zu for review, %zu non-matches (scored "
               "pair by pair; clustering may still refuse a match that would chain two people together).</p>\n",
            r->pairs_scored, r->pairs_match, r->pairs_review, r->pairs_below);
    fputs("<h2>Conflicts by field and source</h2>\n<p class=\"note\">Records of one entity from two sources "
          "whose values differ, each pair of records and field once (a year-only date agrees with a full date "
          "of that year). Details in conflicts.csv.</p>\n",
          f);
    if (t->ncf)
        s_svg_conflicts(f, t);
    else
        fputs("<p>No conflicting values.</p>\n", f);

    fputs("<h2>Data quality per source</h2>\n", f);
    size_t i;
    json_t *o;
    json_array_foreach(qa, i, o)
    {
        fputs("<h3>", f);
        s_h(f, json_string_value(json_object_get(o, "source")));
        fputs("</h3>\n<table><tr><th class=\"l\">figure</th><th>value</th><th class=\"l\">how it is counted</th></tr>\n",
              f);
#define QI(obj, k) ((size_t) json_integer_value(json_object_get((obj), (k))))
        s_row(f, "records read", QI(o, "records"), "lines of the canonical input (person mentions for land and civil inputs)");
        s_row(f, "records refused by the engine", QI(o, "records_refused"), "a record without an id or source");
        s_row(f, "values unreadable", QI(o, "values_unreadable"),
              "values the engine could not read (a date that is none): the field is left absent");
        json_t *qq = json_object_get(o, "quarantine");
        if (qq) {
            s_row(f, "raw records", QI(qq, "raw_records"), "lgsp map's summary line in the map log");
            s_row(f, "quarantined", QI(qq, "quarantined"), "records lgsp map refused (the map log)");
            s_row(f, "invalid IDs", QI(qq, "invalid_ids"), "errors of rules personal_id.* and cmnd.* in the map log");
            s_row(f, "invalid dates", QI(qq, "invalid_dates"), "errors of rule date in the map log");
            s_row(f, "codes outside the table", QI(qq, "codes_outside_table"), "errors of rule code_table (sex, land use)");
            s_row(f, "unknown administrative units", QI(qq, "unknown_units"), "errors of rule unknown_unit");
        }
        json_t *er = json_object_get(o, "encodings_repaired");
        if (er) {
            s_row(f, "raw records in a legacy encoding", QI(er, "legacy_encoding"),
                  "the bus envelope's lgsp-encoding header is not UTF-8 (decoded by the file-drop adapter)");
            s_row(f, "raw records with text not in NFC", QI(er, "not_nfc"),
                  "a string of the raw record changes under Unicode NFC (normalised by the mapping)");
        }
        s_row(f, "partial dates", QI(o, "partial_dates"), "the date field known only to the year or month");
        s_row(f, "addresses not recoded", QI(o, "unrecoded"),
              "canonical records whose address has recode_status ambiguous or unknown, or no 2025 commune");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(o, "missing"), k, v)
        {
            char label[128];
            snprintf(label, sizeof label, "missing: %s", k);
            s_row(f, label, (size_t) json_integer_value(v), "records without a value for this field of the spec");
        }
        fputs("</table>\n", f);
    }

    fputs("<h2>Addresses that did not recode</h2>\n<table><tr><th class=\"l\">source</th><th class=\"l\">status</th>"
          "<th>records</th></tr>\n", f);
    json_t *byst = json_object();
    json_array_foreach(r->unrec_rows, i, o)
    {
        char key[256];
        snprintf(key, sizeof key, "%s\t%s", json_string_value(json_object_get(o, "source")),
                 json_string_value(json_object_get(o, "status")));
        json_t *c = json_object_get(byst, key);
        json_object_set_new(byst, key, json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    const char *key;
    json_t *v;
    json_object_foreach(byst, key, v)
    {
        char kk[256];
        snprintf(kk, sizeof kk, "%s", key);
        char *tab = strchr(kk, '\t');
        *tab = '\0';
        fputs("<tr><td class=\"l\">", f);
        s_h(f, kk);
        fputs("</td><td class=\"l\">", f);
        s_h(f, tab + 1);
        fprintf(f, "</td><td>%lld</td></tr>\n", (long long) json_integer_value(v));
    }
    json_decref(byst);
    fputs("</table>\n<p class=\"note\">quarantined: lgsp map refused the record for an unknown administrative unit "
          "(from the map log); ambiguous: the old commune was split (Hòa Liên) and nothing in the record decides; "
          "unknown / no_commune: the canonical record's address has no 2025 commune. List: unrecoded.csv.</p>\n",
          f);

    fputs("<h2>Communes</h2>\n<table><tr><th>code</th><th class=\"l\">commune</th><th>records</th>"
          "<th>across the sides</th><th>inside a source</th><th>conflicts</th><th>unmatched A</th>"
          "<th>unmatched B</th></tr>\n",
          f);
    for (size_t k = 0; k <= r->units.n; k++) {
        const s_ccount_t *c = &t->comm[k];
        fprintf(f, "<tr><td>%s</td><td class=\"l\">", k < r->units.n ? r->units.v[k].code : "-");
        s_h(f, k < r->units.n ? r->units.v[k].name : "(no 2025 commune)");
        fprintf(f, "</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n", c->records,
                c->cross, c->within, c->conflicts, c->unmatched[0], c->unmatched[1]);
    }
    fputs("</table>\n<h2>Files</h2>\n<ul>\n", f);
    const char *files[] = {"cross_duplicates", "source_duplicates", "conflicts", "unmatched_a", "unmatched_b",
                           "unrecoded", "review"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        fprintf(f, "<li><a href=\"%s.csv\">%s.csv</a> · <a href=\"%s.jsonl\">%s.jsonl</a></li>\n", files[k], files[k],
                files[k], files[k]);
    fputs("<li><a href=\"quality.csv\">quality.csv</a> · <a href=\"quality.json\">quality.json</a></li>\n"
          "<li><a href=\"communes.csv\">communes.csv</a> · <a href=\"communes.json\">communes.json</a></li>\n"
          "<li><a href=\"summary.json\">summary.json</a></li>\n</ul>\n",
          f);
    if (r->have_stats)
        fprintf(f, "<p class=\"note\">Engine: %zu candidate pairs (%zu blocks over the cap), %zu EM iterations, "
                   "%zu merges refused against chaining; entities are %s.</p>\n",
                r->stats.candidate_pairs, r->stats.capped_blocks, r->stats.em_iterations, r->stats.refused_merges,
                j->store ? "the store's ids (stable across runs)" : "numbered for this run only (C…; give a store for stable ids)");
    fputs("</body></html>\n", f);
    if (fclose(f) || rename(tmp, path))
        return -1;
    return 0;
}

static int s_stage_report(s_run_t *r)
{
    s_job_t *j = r->job;
    s_tally_t t;
    memset(&t, 0, sizeof t);
    int rc = s_write_lists(r, &t);
    if (rc) {
        for (size_t k = 0; k < t.ncf; k++)
            free(t.cf[k].key);
        free(t.cf);
        return rc;
    }
    json_t *qa = s_quality_json(r);
    rc |= s_write_json(j->out, "quality.json", qa);
    rc |= s_write_quality_csv(r, qa);
    /* per commune */
    json_t *ca = json_array();
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/communes.csv", j->out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f)
        fputs("commune,commune_name,records,cross_duplicates,source_duplicates,conflicts,unmatched_a,unmatched_b\n", f);
    for (size_t k = 0; k <= r->units.n; k++) {
        const s_ccount_t *c = &t.comm[k];
        const char *code = k < r->units.n ? r->units.v[k].code : "";
        const char *name = k < r->units.n ? r->units.v[k].name : "(no 2025 commune)";
        json_array_append_new(ca, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "commune", code,
                                            "commune_name", name, "records", (json_int_t) c->records,
                                            "cross_duplicates", (json_int_t) c->cross, "source_duplicates",
                                            (json_int_t) c->within, "conflicts", (json_int_t) c->conflicts,
                                            "unmatched_a", (json_int_t) c->unmatched[0], "unmatched_b",
                                            (json_int_t) c->unmatched[1]));
        if (f) {
            s_csv_field(f, code, false);
            s_csv_field(f, name, false);
            fprintf(f, "%zu,%zu,%zu,%zu,%zu,%zu\n", c->records, c->cross, c->within, c->conflicts, c->unmatched[0],
                    c->unmatched[1]);
        }
    }
    if (!f || fclose(f) || rename(tmp, path))
        rc = -1;
    rc |= s_write_json(j->out, "communes.json", ca);
    json_decref(ca);
    rc |= s_write_html(r, &t, qa);
    /* the summary: every count of the report */
    json_t *cf = json_array();
    for (size_t k = 0; k < t.ncf; k++) {
        char key[512];
        snprintf(key, sizeof key, "%s", t.cf[k].key);
        char *s1 = strchr(key, '\t'), *s2 = strchr(s1 + 1, '\t');
        *s1++ = '\0', *s2++ = '\0';
        json_array_append_new(cf, json_pack("{s:s, s:s, s:s, s:I}", "field", key, "source_a", s1, "source_b", s2,
                                            "count", (json_int_t) t.cf[k].n));
    }
    size_t unrec_st[4] = {0};
    size_t i;
    json_t *o;
    json_array_foreach(r->unrec_rows, i, o)
    {
        const char *st = json_string_value(json_object_get(o, "status"));
        unrec_st[strcmp(st, "quarantined") == 0 ? 0 : strcmp(st, "ambiguous") == 0 ? 1 : strcmp(st, "unknown") == 0 ? 2 : 3]++;
    }
    json_t *hist = json_array();
    for (size_t b = 0; b < HIST_BINS; b++)
        json_array_append_new(hist, json_real(r->hist[b]));
    json_t *sum = json_pack(
        "{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:I, "
        "s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:o, s:{s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:o}, s:o}",
        "job", j->name, "kind", er_spec_kind(r->spec), "records", (json_int_t) er_data_count(r->data), "entities",
        (json_int_t) r->nclusters, "cross_duplicates", "entities", (json_int_t) t.cross_entities, "records_a",
        (json_int_t) t.cross_records[0], "records_b", (json_int_t) t.cross_records[1], "source_duplicates", "groups",
        (json_int_t) t.within_groups, "extra_records", (json_int_t) t.within_extra, "conflicts", "rows",
        (json_int_t) t.conflict_rows, "entities", (json_int_t) t.conflict_entities, "unmatched", "a",
        (json_int_t) t.unmatched[0], "b", (json_int_t) t.unmatched[1], "review", (json_int_t) t.review_rows,
        "unrecoded", "total", (json_int_t) json_array_size(r->unrec_rows), "quarantined", (json_int_t) unrec_st[0],
        "ambiguous", (json_int_t) unrec_st[1], "unknown", (json_int_t) unrec_st[2], "no_commune",
        (json_int_t) unrec_st[3], "decisions_applied", (json_int_t) r->decisions, "conflicts_by_field_source", cf,
        "weights", "bin_low", HIST_LO, "bin_high", HIST_HI, "bin_width", (HIST_HI - HIST_LO) / HIST_BINS, "pairs",
        (json_int_t) r->pairs_scored, "match", (json_int_t) r->pairs_match, "review", (json_int_t) r->pairs_review,
        "below", (json_int_t) r->pairs_below, "hist", hist, "quality", qa);
    if (r->have_stats)
        json_object_set_new(sum, "engine",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "candidate_pairs",
                                      (json_int_t) r->stats.candidate_pairs, "capped_blocks",
                                      (json_int_t) r->stats.capped_blocks, "matches", (json_int_t) r->stats.matches,
                                      "reviews", (json_int_t) r->stats.reviews, "refused_merges",
                                      (json_int_t) r->stats.refused_merges, "em_iterations",
                                      (json_int_t) r->stats.em_iterations));
    if (j->store)
        json_object_set_new(sum, "store",
                            json_pack("{s:s, s:I, s:I, s:I, s:I}", "dir", j->store, "kept", (json_int_t) r->assign.kept,
                                      "created", (json_int_t) r->assign.created, "retired",
                                      (json_int_t) r->assign.retired, "moved", (json_int_t) r->assign.moved));
    json_t *secs = json_object();
    for (size_t k = 0; k < 7; k++)
        json_object_set_new(secs, s_stage_names[k], json_real(r->seconds[k]));
    json_object_set_new(sum, "seconds", secs);
    rc |= s_write_json(j->out, "summary.json", sum);
    printf("records %zu, entities %zu\n", er_data_count(r->data), r->nclusters);
    printf("across the sides: %zu entities (%zu records of A, %zu of B)\n", t.cross_entities, t.cross_records[0],
           t.cross_records[1]);
    printf("duplicates inside a source: %zu groups, %zu extra records\n", t.within_groups, t.within_extra);
    printf("conflicts: %zu (in %zu entities); possible matches for review: %zu\n", t.conflict_rows,
           t.conflict_entities, t.review_rows);
    printf("unmatched: %zu on side A, %zu on side B; addresses not recoded: %zu\n", t.unmatched[0], t.unmatched[1],
           json_array_size(r->unrec_rows));
    json_decref(sum);
    for (size_t k = 0; k < t.ncf; k++)
        free(t.cf[k].key);
    free(t.cf);
    return rc;
}

/* ---- lgsp reconcile ---- */

void lgsp_reconcile_usage(FILE *out)
{
    fprintf(out,
            "usage: lgsp reconcile JOB.yaml [options]\n"
            "       lgsp reconcile --spec FILE -a FILE [-a FILE...] -b FILE [-b FILE...] --out DIR [options]\n\n"
            "Runs a reconciliation job (docs/reconciliation.md): the records of side A and side B\n"
            "through entity resolution, then writes into the output folder the duplicates across\n"
            "the sides and inside each source, conflicting values field by field, unmatched records,\n"
            "addresses that did not recode, data quality per source, the review queue, summary.json\n"
            "and report.html (one file, opens offline). Job files: config/jobs/.\n\n"
            "Options:\n"
            "  -o, --out DIR          the output folder (wins over the job's out:)\n"
            "  -d, --data DIR         where the job's relative input paths are (default: the job's\n"
            "                         data:, else the current folder)\n"
            "  -S, --store DIR        the entity store: manual decisions applied, entity ids stable\n"
            "  -r, --resume           skip the stages whose checkpoint in DIR/work matches this job\n"
            "  -j, --threads N        worker threads (default 2)\n"
            "  -q, --quiet            no progress, only the summary\n"
            "      --units FILE       the communes of 2025 (default $LGSP_DATA/admin/units_2025.csv)\n"
            "Without a job file:\n"
            "  -s, --spec FILE        the entity-resolution spec (config/er/person.yaml)\n"
            "  -a, --a FILE           an input of side A (canonical JSON lines or .csv); its name is\n"
            "                         the file's name without extension\n"
            "  -b, --b FILE           an input of side B\n"
            "  -c, --column F=COL[:FORMAT]  CSV columns, as lgsp dedup\n"
            "      --source NAME      the source of CSV rows without a source column\n\n"
            "Progress: a bar on a terminal, lines otherwise. ^C stops at the next safe point and says\n"
            "where; --resume continues. The last line:\n"
            "  reconcile: <records> records, <entities> entities, <seconds> s, peak <MiB> MiB\n"
            "Exit status: 0 done, 1 a run-time error, 2 a bad option or job, 130 interrupted.\n");
}

static void s_add_flag_input(s_job_t *j, const char *file, int side)
{
    if (j->ninputs == MAX_INPUTS)
        return;
    s_input_t *in = &j->inputs[j->ninputs++];
    in->file = strdup(file);
    const char *b = strrchr(file, '/');
    char *name = strdup(b ? b + 1 : file), *dot = strchr(name, '.');
    if (dot)
        *dot = '\0';
    in->name = name;
    in->side = side;
}

static void s_run_free(s_run_t *r)
{
    for (size_t i = 0; i < MAX_INPUTS; i++) {
        free(r->q[i].missing);
        json_decref(r->q[i].encodings);
    }
    if (r->entity_ids)
        for (size_t c = 0; c < r->nclusters; c++)
            free(r->entity_ids[c]);
    free(r->entity_ids);
    for (size_t k = 0; k < r->units.n; k++)
        free(r->units.v[k].name);
    free(r->input_of), free(r->cluster), free(r->coff), free(r->cmem), free(r->review);
    json_decref(r->unrec_rows);
    er_model_destroy(&r->model);
    er_data_destroy(&r->data);
    er_spec_destroy(&r->spec);
}

static int s_mkdirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    if (mkdir(p, 0755) && errno != EEXIST) {
        fprintf(stderr, "lgsp reconcile: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int lgsp_reconcile_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},     {"data", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, 'S'},   {"resume", no_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"spec", required_argument, NULL, 's'},    {"a", required_argument, NULL, 'a'},
        {"b", required_argument, NULL, 'b'},       {"column", required_argument, NULL, 'c'},
        {"source", required_argument, NULL, 1001}, {"units", required_argument, NULL, 1002},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    s_job_t job;
    memset(&job, 0, sizeof job);
    s_job_t flags;
    memset(&flags, 0, sizeof flags);
    bool resume = false, quiet = false;
    int threads = 0, c;
    /* 0, not 1: glibc then starts afresh, and options may follow the job
     * file (lgsp's own parse stopped at the command word, "+") */
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:d:S:rj:qs:a:b:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': free(flags.out), flags.out = strdup(optarg); break;
        case 'd': free(flags.data_dir), flags.data_dir = strdup(optarg); break;
        case 'S': free(flags.store), flags.store = strdup(optarg); break;
        case 'r': resume = true; break;
        case 'j':
            threads = atoi(optarg);
            if (threads < 1 || threads > 16) {
                fprintf(stderr, "lgsp reconcile: --threads: 1 to 16\n");
                s_job_free(&flags);
                return 2;
            }
            break;
        case 'q': quiet = true; break;
        case 's': free(flags.spec), flags.spec = strdup(optarg); break;
        case 'a': s_add_flag_input(&flags, optarg, 0); break;
        case 'b': s_add_flag_input(&flags, optarg, 1); break;
        case 'c':
            if (flags.ncolumns < MAX_COLUMNS)
                flags.columns[flags.ncolumns++] = strdup(optarg);
            break;
        case 1001: free(flags.csv_source), flags.csv_source = strdup(optarg); break;
        case 1002: free(flags.units), flags.units = strdup(optarg); break;
        case 'h':
            lgsp_reconcile_usage(stdout);
            s_job_free(&flags);
            return 0;
        default:
            lgsp_reconcile_usage(stderr);
            s_job_free(&flags);
            return 2;
        }
    }
    int rc = 2;
    if (optind < argc) {
        if (argc - optind > 1 || flags.ninputs || flags.spec) {
            fprintf(stderr, "lgsp reconcile: one job file, or --spec with -a / -b inputs, not both\n");
            goto out;
        }
        if (s_job_load(&job, argv[optind]))
            goto out;
    } else {
        if (!flags.spec || !flags.ninputs || !flags.out) {
            fprintf(stderr, "lgsp reconcile: give a job file, or --spec, -a / -b inputs and --out\n");
            lgsp_reconcile_usage(stderr);
            goto out;
        }
        job.name = strdup("reconcile");
        job.spec = flags.spec, flags.spec = NULL;
        memcpy(job.inputs, flags.inputs, sizeof flags.inputs);
        job.ninputs = flags.ninputs, flags.ninputs = 0;
    }
    /* flags win over the job file */
    if (flags.out)
        free(job.out), job.out = flags.out, flags.out = NULL;
    if (flags.store)
        free(job.store), job.store = flags.store, flags.store = NULL;
    if (flags.data_dir)
        free(job.data_dir), job.data_dir = flags.data_dir, flags.data_dir = NULL;
    if (flags.units)
        free(job.units), job.units = flags.units, flags.units = NULL;
    if (flags.csv_source)
        free(job.csv_source), job.csv_source = flags.csv_source, flags.csv_source = NULL;
    for (size_t k = 0; k < flags.ncolumns && job.ncolumns < MAX_COLUMNS; k++)
        job.columns[job.ncolumns++] = flags.columns[k], flags.columns[k] = NULL;
    flags.ncolumns = 0;
    if (threads)
        job.threads = threads;
    if (job.threads < 1)
        job.threads = 2;
    if (!job.out) {
        fprintf(stderr, "lgsp reconcile: no output folder (--out DIR, or out: in the job)\n");
        goto out;
    }
    int asides[2] = {0, 0};
    for (size_t i = 0; i < job.ninputs; i++) {
        s_input_t *in = &job.inputs[i];
        asides[in->side]++;
        char *p = s_path(in->file, job.data_dir);
        free(in->file), in->file = p;
        if (in->map_log)
            p = s_path(in->map_log, job.data_dir), free(in->map_log), in->map_log = p;
        if (in->raw)
            p = s_path(in->raw, job.data_dir), free(in->raw), in->raw = p;
        if (access(in->file, R_OK)) {
            if (in->optional) {
                /* drop it: the later inputs move up */
                fprintf(stderr, "reconcile: optional input %s left out (%s: %s)\n", in->name, in->file,
                        strerror(errno));
                s_input_t gone = *in;
                memmove(in, in + 1, (job.ninputs - i - 1) * sizeof *in);
                job.ninputs--;
                free(gone.name), free(gone.file), free(gone.map_log), free(gone.raw), free(gone.raw_record);
                free(gone.residence);
                for (size_t k = 0; k < gone.nmentions; k++)
                    free(gone.mentions[k].from), free(gone.mentions[k].role);
                memset(&job.inputs[job.ninputs], 0, sizeof *in);
                asides[gone.side]--;
                i--;
                continue;
            }
            fprintf(stderr, "lgsp reconcile: input %s: %s: %s\n", in->name, in->file, strerror(errno));
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(job.inputs[k].name, in->name) == 0) {
                fprintf(stderr, "lgsp reconcile: two inputs named %s\n", in->name);
                goto out;
            }
    }
    if (!asides[0] || !asides[1]) {
        fprintf(stderr, "lgsp reconcile: a job needs inputs on both sides (a and b)\n");
        goto out;
    }
    if (!job.units) {
        const char *d = getenv("LGSP_DATA");
        if (asprintf(&job.units, "%s/admin/units_2025.csv", d ? d : LGSP_DATA_DIR) < 0)
            goto out;
    }
    if (!job.commune_field)
        job.commune_field = strdup("commune");
    if (!job.name_field)
        job.name_field = strdup("full_name");
    if (!job.date_field)
        job.date_field = strdup("birth_date");

    s_run_t r;
    memset(&r, 0, sizeof r);
    r.job = &job;
    r.resume = resume;
    r.prog.tty = isatty(2) && !getenv("LGSP_NO_TTY");
    r.prog.quiet = quiet;
    r.prog.t0 = s_now();
    r.unrec_rows = json_array();
    char err[600];
    r.spec = er_spec_load(job.spec, err, sizeof err);
    if (!r.spec) {
        fprintf(stderr, "lgsp reconcile: %s\n", err);
        goto free_run;
    }
    for (size_t k = 0; k < job.ncolumns; k++) {
        char *cdef = strdup(job.columns[k]), *eq = strchr(cdef, '='), *fmt = NULL;
        if (eq) {
            *eq = '\0';
            fmt = strrchr(eq + 1, ':');
            if (fmt)
                *fmt++ = '\0';
        }
        if (!eq || er_spec_set_column(r.spec, cdef, eq + 1, fmt)) {
            fprintf(stderr, "lgsp reconcile: column %s: expected FIELD=COLUMN[:DATE_FORMAT] with a field of the spec\n",
                    job.columns[k]);
            free(cdef);
            goto free_run;
        }
        free(cdef);
    }
    if (job.csv_source)
        er_spec_set_source(r.spec, job.csv_source);
    r.nfields = er_spec_field_count(r.spec);
    r.f_commune = r.f_name = r.f_date = -1;
    for (size_t f = 0; f < r.nfields; f++) {
        const char *nm = er_spec_field_name(r.spec, f);
        if (strcmp(nm, job.commune_field) == 0)
            r.f_commune = (int) f;
        if (strcmp(nm, job.name_field) == 0)
            r.f_name = (int) f;
        if (strcmp(nm, job.date_field) == 0)
            r.f_date = (int) f;
    }
    if (!job.nconflicts) {
        /* the person fields of the issue: name, birth date, sex, the IDs */
        static const char *const defs[][2] = {{"full_name", "name"}, {"birth_date", "date"}, {"sex", "code"},
                                              {"personal_id", "id"}, {"cmnd", "id"}};
        for (size_t k = 0; k < 5; k++)
            job.conflicts[job.nconflicts++] = (s_conflict_t){strdup(defs[k][0]), strdup(defs[k][1])};
    }
    for (size_t k = 0; k < job.nconflicts; k++) {
        r.conf_field[k] = -1;
        for (size_t f = 0; f < r.nfields; f++)
            if (strcmp(er_spec_field_name(r.spec, f), job.conflicts[k].field) == 0)
                r.conf_field[k] = (int) f;
    }
    if (s_units_load(&r.units, job.units))
        goto free_run;
    r.hash = s_job_hash(&job);
    snprintf(r.work, sizeof r.work, "%s/work", job.out);
    if (s_mkdirs(r.work))
        goto free_run;
    if (!resume) {
        /* a fresh run forgets the checkpoints of an earlier one */
        const char *marks[] = {"match", "weights", "store"};
        char p[4400];
        for (size_t k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/%s.done", r.work, marks[k]);
            unlink(p);
        }
        for (size_t i = 0; i < job.ninputs; i++) {
            snprintf(p, sizeof p, "%s/expand-%zu.done", r.work, i);
            unlink(p);
        }
    } else if (!quiet) {
        char p[4400];
        snprintf(p, sizeof p, "%s/match.done", r.work);
        if (access(p, F_OK) == 0 && !s_marked(&r, "match"))
            fprintf(stderr, "reconcile: the job or its inputs changed since the checkpoint: starting over\n");
    }
    s_stop = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_sigint;
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    int (*stages[])(s_run_t *) = {s_stage_expand, s_stage_scan, s_stage_load, s_stage_match,
                                  s_stage_weights, s_stage_store, s_stage_report};
    rc = 0;
    for (size_t k = 0; k < 7 && rc == 0; k++) {
        if (s_interrupted(&r, s_stage_names[k])) {
            rc = 130;
            break;
        }
        double ts = s_now();
        int e = stages[k](&r);
        r.seconds[k] = s_now() - ts;
        if (e > 0 || (e == 0 && s_stop && k + 1 < 7)) {
            s_interrupted(&r, s_stage_names[k]);
            rc = 130;
        } else if (e < 0)
            rc = 1;
        if (k == 3 && rc == 0)
            s_members(&r);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc == 0)
        printf("reconcile: %zu records, %zu entities, %.1f s, peak %ld MiB\n", er_data_count(r.data), r.nclusters,
               s_now() - r.prog.t0, s_peak_mib());
free_run:
    s_run_free(&r);
out:
    s_job_free(&job);
    s_job_free(&flags);
    return rc;
}
