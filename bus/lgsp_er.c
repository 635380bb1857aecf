/* lgsp_er.c — the entity-resolution commands of the lgsp CLI (no bus):
 *   lgsp dedup     a batch run over files (canonical JSON lines or any CSV)
 *   lgsp explain   the match-weight waterfall of one pair
 *   lgsp decide    manual link / unlink / clear of a pair, and the list
 * The engine is er.h; entities, the model and decisions are kept in the
 * store (erstore.h) when --store is given. docs/entity-resolution.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "er.h"
#include "erstore.h"
#include "lgsp_er.h"

#define MAX_INPUTS 64

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

typedef struct {
    size_t count;
    size_t shown;
    bool quiet;
} s_bad_t;

static void s_bad(const char *pos, const char *why, void *ctx)
{
    s_bad_t *b = ctx;
    b->count++;
    if (!b->quiet && b->shown++ < 20)
        fprintf(stderr, "%s: %s\n", pos, why);
}

/* Options shared by dedup and explain: the spec, the inputs, columns. */
typedef struct {
    const char *spec_path;
    const char *inputs[MAX_INPUTS];
    size_t ninputs;
    const char *columns[64];
    size_t ncolumns;
    const char *source;
    const char *model_path;
    const char *store_dir;
    int threads;
    bool quiet;
} s_common_t;

static er_spec_t *s_spec(s_common_t *o)
{
    char err[600];
    er_spec_t *spec = er_spec_load(o->spec_path, err, sizeof err);
    if (!spec) {
        fprintf(stderr, "lgsp: %s\n", err);
        return NULL;
    }
    for (size_t i = 0; i < o->ncolumns; i++) {
        /* field=COLUMN[:date_format] */
        char *c = strdup(o->columns[i]), *eq = strchr(c, '='), *fmt = NULL;
        if (!eq) {
            fprintf(stderr, "lgsp: --column %s: expected FIELD=COLUMN[:DATE_FORMAT]\n", o->columns[i]);
            free(c);
            er_spec_destroy(&spec);
            return NULL;
        }
        *eq = '\0';
        fmt = strrchr(eq + 1, ':');
        if (fmt)
            *fmt++ = '\0';
        if (er_spec_set_column(spec, c, eq + 1, fmt)) {
            bool known = strcmp(c, "id") == 0 || strcmp(c, "source") == 0 || strcmp(c, "updated") == 0;
            for (size_t f = 0; f < er_spec_field_count(spec); f++)
                known = known || strcmp(er_spec_field_name(spec, f), c) == 0;
            if (!known)
                fprintf(stderr, "lgsp: --column %s: no field '%s' in %s\n", o->columns[i], c, o->spec_path);
            else
                fprintf(stderr, "lgsp: --column %s: a date format applies to a date field and is one of yyyy-mm-dd, "
                                "dd/mm/yyyy, mm/dd/yyyy, dd.mm.yyyy, yyyymmdd, yyyy\n", o->columns[i]);
            free(c);
            er_spec_destroy(&spec);
            return NULL;
        }
        free(c);
    }
    /* --source NAME names the source of CSV rows that have no source column */
    if (o->source)
        er_spec_set_source(spec, o->source);
    return spec;
}

static er_data_t *s_load(const er_spec_t *spec, s_common_t *o, s_bad_t *bad)
{
    er_data_t *d = er_data_new(spec);
    for (size_t i = 0; i < o->ninputs; i++) {
        char err[600];
        double t0 = s_now();
        long n = er_data_load_file(d, o->inputs[i], o->threads, s_bad, bad, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "lgsp: %s\n", err);
            er_data_destroy(&d);
            return NULL;
        }
        if (!o->quiet)
            fprintf(stderr, "read %s: %ld records in %.1f s\n", o->inputs[i], n, s_now() - t0);
    }
    return d;
}

/* ---- evaluation against a truth file (record id <TAB> entity id) ---- */

typedef struct {
    char **keys;
    uint32_t *vals;
    size_t cap, n;
} s_strmap_t;

static uint64_t s_strhash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char) *s++) * 1099511628211ULL;
    return h;
}

/* The slot of key k (added, with value UINT32_MAX, when absent and add). */
static uint32_t *s_strmap_put(s_strmap_t *m, char *owned, bool add, const char *k);

static uint32_t *s_strmap_slot(s_strmap_t *m, const char *k, bool add)
{
    return s_strmap_put(m, NULL, add, k);
}

static uint32_t *s_strmap_put(s_strmap_t *m, char *owned, bool add, const char *k)
{
    if (add && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        s_strmap_t q = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(uint32_t)), cap, 0};
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                *s_strmap_put(&q, m->keys[i], true, m->keys[i]) = m->vals[i];   /* moves the key */
        free(m->keys), free(m->vals);
        *m = q;
    }
    if (!m->cap)
        return NULL;
    size_t j = s_strhash(k) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], k) == 0)
            return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add)
        return NULL;
    m->keys[j] = owned ? owned : strdup(k);
    m->n++;
    m->vals[j] = UINT32_MAX;
    return &m->vals[j];
}

static void s_strmap_free(s_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys), free(m->vals);
}

typedef struct {
    uint32_t c, e;
} s_ce_t;

static int s_ce_cmp(const void *a, const void *b)
{
    const s_ce_t *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static double s_f1(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0; }

/* Prints the quality figures; returns 0, or -1 when the truth cannot be read. */
static int s_evaluate(const char *truth_path, er_data_t *d, const er_run_t *run, json_t *summary)
{
    FILE *f = fopen(truth_path, "r");
    if (!f) {
        fprintf(stderr, "lgsp: %s: %s\n", truth_path, strerror(errno));
        return -1;
    }
    s_strmap_t ents = {0};
    size_t n = er_data_count(d), known = 0;
    uint32_t *truth = malloc(n * sizeof *truth);
    for (size_t i = 0; i < n; i++)
        truth[i] = UINT32_MAX;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint32_t next = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        long i = er_data_find(d, line);
        if (i < 0)
            continue;
        uint32_t *slot = s_strmap_slot(&ents, tab + 1, true);
        if (*slot == UINT32_MAX)
            *slot = next++;
        if (truth[i] == UINT32_MAX)
            known++;
        truth[i] = *slot;
    }
    free(line);
    fclose(f);
    s_strmap_free(&ents);
    /* pairs */
    s_ce_t *ce = malloc(n * sizeof *ce);
    for (size_t i = 0; i < n; i++)
        ce[i] = (s_ce_t){er_run_cluster_of(run, i), truth[i] == UINT32_MAX ? (uint32_t) (next + i) : truth[i]};
    qsort(ce, n, sizeof *ce, s_ce_cmp);
    double tp = 0, pred = 0;
    for (size_t s = 0; s < n;) {
        size_t e = s, ec = s;
        while (e < n && ce[e].c == ce[s].c)
            e++;
        pred += (double) (e - s) * (double) (e - s - 1) / 2;
        for (size_t k = s; k < e; k = ec) {
            ec = k;
            while (ec < e && ce[ec].e == ce[k].e)
                ec++;
            tp += (double) (ec - k) * (double) (ec - k - 1) / 2;
        }
        s = e;
    }
    /* true pairs and entity sizes; candidate completeness */
    uint32_t *esize = calloc((size_t) next + 1, sizeof *esize);
    for (size_t i = 0; i < n; i++)
        if (truth[i] != UINT32_MAX)
            esize[truth[i]]++;
    double truepairs = 0, found = 0;
    for (uint32_t e = 0; e < next; e++)
        truepairs += (double) esize[e] * (esize[e] - 1) / 2;
    /* completeness: every true pair, looked up among the candidates */
    uint32_t *byent = malloc(n * sizeof *byent), *eoff = calloc((size_t) next + 2, sizeof *eoff);
    for (size_t i = 0; i < n; i++)
        if (truth[i] != UINT32_MAX)
            eoff[truth[i] + 1]++;
    for (uint32_t e = 0; e < next; e++)
        eoff[e + 1] += eoff[e];
    uint32_t *fill = malloc(((size_t) next + 1) * sizeof *fill);
    memcpy(fill, eoff, ((size_t) next + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        if (truth[i] != UINT32_MAX)
            byent[fill[truth[i]]++] = (uint32_t) i;
    for (uint32_t e = 0; e < next; e++)
        for (uint32_t a = eoff[e]; a < eoff[e + 1]; a++)
            for (uint32_t b = a + 1; b < eoff[e + 1]; b++)
                found += er_run_is_candidate(run, byent[a], byent[b]);
    /* clusters exactly equal to an entity's records */
    size_t nclusters = er_run_cluster_count(run), exact = 0, entities = 0;
    for (uint32_t e = 0; e < next; e++)
        entities += esize[e] > 0;
    for (uint32_t c = 0; c < nclusters; c++) {
        size_t m;
        const uint32_t *mem = er_run_members(run, c, &m);
        uint32_t e0 = truth[mem[0]];
        bool same = e0 != UINT32_MAX;
        for (size_t k = 1; same && k < m; k++)
            same = truth[mem[k]] == e0;
        exact += same && esize[e0] == m;
    }
    double pp = pred > 0 ? tp / pred : 1, pr = truepairs > 0 ? tp / truepairs : 1;
    double cp = nclusters ? (double) exact / (double) nclusters : 1, cr = entities ? (double) exact / (double) entities : 1;
    double pc = truepairs > 0 ? found / truepairs : 1;
    printf("truth: %zu of %zu records known, %.0f true pairs, %.0f predicted, %.0f correct\n", known, n, truepairs, pred,
           tp);
    printf("pairs: precision %.4f, recall %.4f, F1 %.4f\n", pp, pr, s_f1(pp, pr));
    printf("clusters: precision %.4f, recall %.4f, F1 %.4f (%zu exact of %zu clusters, %zu entities)\n", cp, cr,
           s_f1(cp, cr), exact, nclusters, entities);
    printf("blocking: pair completeness %.4f (%.0f of %.0f true pairs are candidates)\n", pc, found, truepairs);
    json_object_set_new(summary, "quality",
                        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "pair_precision", pp,
                                  "pair_recall", pr, "pair_f1", s_f1(pp, pr), "cluster_precision", cp,
                                  "cluster_recall", cr, "cluster_f1", s_f1(cp, cr), "pair_completeness", pc,
                                  "true_pairs", truepairs, "predicted_pairs", pred));
    free(truth), free(ce), free(esize), free(byent), free(eoff), free(fill);
    return 0;
}

static void s_progress(const char *stage, double done, void *ctx)
{
    (void) done;
    double *t0 = ctx;
    fprintf(stderr, "%7.1f s  %s\n", s_now() - *t0, stage);
}

static json_t *s_load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fprintf(stderr, "lgsp: %s:%d: %s\n", path, je.line, je.text);
    return j;
}

/* ---- lgsp dedup ---- */

void lgsp_dedup_usage(FILE *out)
{
    fprintf(out,
            "usage: lgsp dedup --spec FILE --input FILE [--input FILE...] [options]\n\n"
            "Finds the records of one entity (person, parcel, event) across the inputs and\n"
            "groups them (docs/entity-resolution.md). Inputs are canonical records as JSON\n"
            "lines (lgsp map's output, `lgsp consume --format json`) or CSV files with a header.\n\n"
            "Options:\n"
            "  -s, --spec FILE        the spec: fields, comparisons, blocking, thresholds (config/er/)\n"
            "  -i, --input FILE       an input file (repeatable; .csv is CSV, anything else JSON lines)\n"
            "  -c, --column F=COL[:FORMAT]  read field F from CSV column COL (date FORMAT such as\n"
            "                         dd/mm/yyyy); F may also be id, source or updated\n"
            "      --source NAME      the source name of CSV rows without a source column\n"
            "  -m, --model FILE       start from this model (JSON) instead of the spec's values\n"
            "      --no-train         score with the model as given (no EM, no u sampling)\n"
            "  -S, --store DIR        the entity store: decisions applied, model and entities kept,\n"
            "                         entity ids stable across runs\n"
            "      --index            with --store: also every record's values, the blocking index and\n"
            "                         the golden records, so the streaming stage carries on from here\n"
            "  -o, --out DIR          write entities.jsonl, review.jsonl, model.json, summary.json\n"
            "  -t, --truth FILE       record id <TAB> true entity id: print precision, recall, F1\n"
            "                         and blocking pair completeness\n"
            "  -j, --threads N        worker threads (default 2)\n"
            "  -q, --quiet            only the summary\n\n"
            "The last line: dedup: <records> records, <clusters> entities, <seconds> s, peak <MiB> MiB\n"
            "Exit status: 0 done, 1 a run-time error, 2 a bad option, spec or input.\n");
}

static int s_write_outputs(const char *dir, er_data_t *d, const er_run_t *run, er_model_t *model,
                           char **entity_ids, json_t *summary)
{
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "lgsp: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/entities.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "lgsp: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t nc = er_run_cluster_count(run);
    for (uint32_t c = 0; c < nc; c++) {
        size_t m;
        const uint32_t *mem = er_run_members(run, c, &m);
        json_t *recs = json_array();
        for (size_t k = 0; k < m; k++)
            json_array_append_new(recs, json_string(er_data_id(d, mem[k])));
        json_t *o = json_pack("{s:s?, s:i, s:o, s:o}", "entity", entity_ids ? entity_ids[c] : NULL, "cluster", (int) c,
                              "records", recs, "golden", er_run_golden(run, c));
        json_dumpf(o, f, JSON_COMPACT);
        fputc('\n', f);
        json_decref(o);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/review.jsonl", dir);
    f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "lgsp: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t k = 0; k < er_run_review_count(run); k++) {
        uint32_t a, b;
        double p;
        er_run_review_pair(run, k, &a, &b, &p);
        json_t *o = json_pack("{s:s, s:s, s:f}", "a", er_data_id(d, a), "b", er_data_id(d, b), "probability", p);
        json_dumpf(o, f, JSON_COMPACT);
        fputc('\n', f);
        json_decref(o);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/model.json", dir);
    json_t *mj = er_model_to_json(model);
    json_dump_file(mj, path, JSON_INDENT(2));
    json_decref(mj);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    json_dump_file(summary, path, JSON_INDENT(2));
    return 0;
}

static int s_parse_common(int argc, char **argv, s_common_t *o, const char *extra_short,
                          const struct option *extra_long, int (*extra)(int c, const char *arg, void *ctx), void *ctx,
                          void (*usage)(FILE *))
{
    struct option longopts[40];
    static const struct option base[] = {
        {"spec", required_argument, NULL, 's'},   {"input", required_argument, NULL, 'i'},
        {"column", required_argument, NULL, 'c'}, {"source", required_argument, NULL, 1001},
        {"model", required_argument, NULL, 'm'},  {"store", required_argument, NULL, 'S'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
    };
    size_t nb = sizeof base / sizeof *base, k = 0;
    memcpy(longopts, base, sizeof base);
    for (; extra_long && extra_long[k].name; k++)
        longopts[nb + k] = extra_long[k];
    memset(&longopts[nb + k], 0, sizeof longopts[0]);
    char shortopts[80];
    snprintf(shortopts, sizeof shortopts, "s:i:c:m:S:j:qh%s", extra_short);
    o->threads = 2;
    int c;
    optind = 0;         /* glibc: start over, permuting (lgsp stopped at the subcommand with "+") */
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (c) {
        case 's': o->spec_path = optarg; break;
        case 'i':
            if (o->ninputs == MAX_INPUTS) {
                fprintf(stderr, "lgsp: at most %d inputs\n", MAX_INPUTS);
                return 2;
            }
            o->inputs[o->ninputs++] = optarg;
            break;
        case 'c':
            if (o->ncolumns == 64) {
                fprintf(stderr, "lgsp: at most 64 --column\n");
                return 2;
            }
            o->columns[o->ncolumns++] = optarg;
            break;
        case 1001: o->source = optarg; break;
        case 'm': o->model_path = optarg; break;
        case 'S': o->store_dir = optarg; break;
        case 'j':
            o->threads = atoi(optarg);
            if (o->threads < 1 || o->threads > 16) {
                fprintf(stderr, "lgsp: --threads: 1 to 16\n");
                return 2;
            }
            break;
        case 'q': o->quiet = true; break;
        case 'h': usage(stdout); return 1;
        default:
            if (extra && extra(c, optarg, ctx) == 0)
                break;
            usage(stderr);
            return 2;
        }
    }
    if (!o->spec_path) {
        fprintf(stderr, "lgsp: --spec is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* --index: every record's values, its blocking keys and every entity's
 * golden record into the store, so that the streaming stage (adapters/
 * resolve) carries on from this run: a record arriving later finds these
 * as candidates. Records in id order, in transactions of 50,000. */
typedef struct {
    erstore_txn_t *t;
    const char *kind, *id;
    int rc;
} s_index_ctx_t;

static void s_index_key(const void *key, size_t len, void *ctx)
{
    s_index_ctx_t *x = ctx;
    if (!x->rc)
        x->rc = erstore_block_add(x->t, x->kind, key, len, x->id);
}

static const er_data_t *s_sort_data;

static int s_by_id(const void *a, const void *b)
{
    return strcmp(er_data_id(s_sort_data, *(const uint32_t *) a), er_data_id(s_sort_data, *(const uint32_t *) b));
}

static int s_write_index(erstore_t *store, const char *kind, const er_data_t *d, const er_run_t *run, char **ids)
{
    size_t n = er_data_count(d), nc = er_run_cluster_count(run);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t) i;
    s_sort_data = d;
    qsort(order, n, sizeof *order, s_by_id);
    s_index_ctx_t x = {NULL, kind, NULL, 0};
    for (size_t k = 0; k < n + nc && !x.rc;) {
        x.t = erstore_begin(store, true);
        if (!x.t) {
            x.rc = -1;
            break;
        }
        for (size_t end = k + 50000; k < end && k < n + nc && !x.rc; k++) {
            if (k < n) {
                uint32_t i = order[k];
                json_t *v = er_data_values_json(d, i);
                char *js = json_dumps(v, JSON_COMPACT);
                x.id = er_data_id(d, i);
                x.rc = erstore_record_put(x.t, kind, x.id, js);
                free(js);
                json_decref(v);
                if (!x.rc)
                    er_block_keys(d, i, s_index_key, &x);
            } else if (ids && ids[k - n]) {
                json_t *g = er_run_golden(run, (uint32_t) (k - n));
                char *js = json_dumps(g, JSON_COMPACT);
                x.rc = erstore_golden_put(x.t, kind, ids[k - n], js);
                free(js);
                json_decref(g);
            }
        }
        if (x.rc)
            erstore_abort(&x.t);
        else
            x.rc = erstore_commit(&x.t);
    }
    free(order);
    if (x.rc)
        fprintf(stderr, "lgsp: --index: %s\n", erstore_error());
    return x.rc ? -1 : 0;
}

typedef struct {
    const char *out_dir, *truth;
    bool no_train;
    bool index;
} s_dedup_t;

static int s_dedup_opt(int c, const char *arg, void *ctx)
{
    s_dedup_t *x = ctx;
    switch (c) {
    case 'o': x->out_dir = arg; return 0;
    case 't': x->truth = arg; return 0;
    case 1002: x->no_train = true; return 0;
    case 1004: x->index = true; return 0;
    }
    return -1;
}

int lgsp_dedup_main(int argc, char **argv)
{
    s_common_t o = {0};
    s_dedup_t x = {0};
    static const struct option more[] = {{"out", required_argument, NULL, 'o'},
                                         {"truth", required_argument, NULL, 't'},
                                         {"no-train", no_argument, NULL, 1002},
                                         {"index", no_argument, NULL, 1004},
                                         {NULL, 0, NULL, 0}};
    int rc = s_parse_common(argc, argv, &o, "o:t:", more, s_dedup_opt, &x, lgsp_dedup_usage);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (optind < argc || o.ninputs == 0) {
        fprintf(stderr, "lgsp: dedup takes its inputs as --input FILE\n");
        return 2;
    }
    double t0 = s_now();
    er_spec_t *spec = s_spec(&o);
    if (!spec)
        return 2;
    s_bad_t bad = {0, 0, o.quiet};
    er_data_t *d = s_load(spec, &o, &bad);
    if (!d) {
        er_spec_destroy(&spec);
        return 2;
    }
    double t_read = s_now() - t0;
    char err[600];
    erstore_t *store = NULL;
    er_model_t *model = NULL;
    er_decision_t *decs = NULL;
    size_t ndecs = 0;
    if (o.store_dir) {
        store = erstore_open(o.store_dir, err, sizeof err);
        if (!store) {
            fprintf(stderr, "lgsp: %s: %s\n", o.store_dir, err);
            rc = 1;
            goto done;
        }
        if (er_decisions_from_store(store, er_spec_kind(spec), &decs, &ndecs)) {
            fprintf(stderr, "lgsp: %s: %s\n", o.store_dir, erstore_error());
            rc = 1;
            goto done;
        }
        erstore_txn_t *t = erstore_begin(store, false);
        if (!o.model_path && x.no_train) {
            char *mj = erstore_model_get(t, er_spec_kind(spec));
            if (mj) {
                json_t *j = json_loads(mj, 0, NULL);
                model = j ? er_model_from_json(spec, j, err, sizeof err) : NULL;
                json_decref(j);
                free(mj);
            }
        }
        erstore_abort(&t);
    }
    if (o.model_path) {
        json_t *j = s_load_json(o.model_path);
        model = j ? er_model_from_json(spec, j, err, sizeof err) : NULL;
        json_decref(j);
        if (!model) {
            fprintf(stderr, "lgsp: %s: %s\n", o.model_path, j ? err : "cannot read");
            rc = 2;
            goto done;
        }
    }
    if (!model)
        model = er_model_new(spec);
    er_options_t eo = {.threads = o.threads, .estimate = !x.no_train, .quiet = o.quiet,
                       .progress = o.quiet ? NULL : s_progress, .progress_ctx = &t0};
    er_run_t *run = er_run_batch(d, model, decs, ndecs, &eo, err, sizeof err);
    if (!run) {
        fprintf(stderr, "lgsp: %s\n", err);
        rc = 1;
        goto done;
    }
    const er_stats_t *st = er_run_stats(run);
    char **ids = NULL;
    erstore_assign_stats_t as = {0};
    double t_store = 0;
    if (store) {
        double ts = s_now();
        size_t n = er_data_count(d), nc = er_run_cluster_count(run);
        const char **rids = malloc(n * sizeof *rids);
        for (size_t i = 0; i < n; i++)
            rids[i] = er_data_id(d, i);
        ids = calloc(nc ? nc : 1, sizeof *ids);
        if (erstore_assign(store, er_spec_kind(spec), n, rids, er_run_cluster_of_all(run), nc, ids, &as)) {
            fprintf(stderr, "lgsp: %s: %s\n", o.store_dir, erstore_error());
            rc = 1;
        }
        free(rids);
        erstore_txn_t *t = erstore_begin(store, true);
        json_t *mj = er_model_to_json(model);
        char *ms = json_dumps(mj, JSON_COMPACT);
        if (!t || erstore_model_put(t, er_spec_kind(spec), ms) || erstore_commit(&t)) {
            fprintf(stderr, "lgsp: %s: %s\n", o.store_dir, erstore_error());
            erstore_abort(&t);
            rc = 1;
        }
        free(ms);
        json_decref(mj);
        if (!rc && x.index && s_write_index(store, er_spec_kind(spec), d, run, ids))
            rc = 1;
        t_store = s_now() - ts;
    }
    double seconds = s_now() - t0;
    json_t *summary = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
                                "kind", er_spec_kind(spec), "records", (json_int_t) st->records, "bad_values",
                                (json_int_t) bad.count, "candidate_pairs", (json_int_t) st->candidate_pairs,
                                "capped_blocks", (json_int_t) st->capped_blocks, "matches", (json_int_t) st->matches,
                                "reviews", (json_int_t) st->reviews, "clusters", (json_int_t) st->clusters,
                                "refused_merges", (json_int_t) st->refused_merges, "em_iterations",
                                (json_int_t) st->em_iterations, "seconds_read", t_read, "seconds_block",
                                st->seconds_block, "seconds_train", st->seconds_train, "seconds_score",
                                st->seconds_score, "seconds_cluster", st->seconds_cluster, "seconds_store", t_store,
                                "seconds", seconds);
    if (store)
        json_object_set_new(summary, "entities", json_pack("{s:I, s:I, s:I, s:I}", "kept", (json_int_t) as.kept,
                                                           "created", (json_int_t) as.created, "retired",
                                                           (json_int_t) as.retired, "moved", (json_int_t) as.moved));
    printf("records %zu (values unreadable: %zu), candidate pairs %zu (blocks over the cap: %zu)\n", st->records,
           bad.count, st->candidate_pairs, st->capped_blocks);
    printf("model: lambda %.6f after %zu EM iterations\n", er_model_lambda(model), st->em_iterations);
    printf("matches %zu, possible matches for review %zu, merges refused against chaining %zu\n", st->matches,
           st->reviews, st->refused_merges);
    printf("time: read %.1f s, block %.1f s, train %.1f s, score %.1f s, cluster %.1f s, store %.1f s\n", t_read,
           st->seconds_block, st->seconds_train, st->seconds_score, st->seconds_cluster, t_store);
    if (store)
        printf("entities: %zu kept their id, %zu new, %zu retired, %zu records moved\n", as.kept, as.created,
               as.retired, as.moved);
    if (x.truth && s_evaluate(x.truth, d, run, summary))
        rc = 1;
    if (x.out_dir && s_write_outputs(x.out_dir, d, run, model, ids, summary))
        rc = 1;
    printf("dedup: %zu records, %zu entities, %.1f s, peak %ld MiB\n", st->records, st->clusters, seconds,
           s_peak_mib());
    json_decref(summary);
    if (ids)
        for (size_t c = 0; c < er_run_cluster_count(run); c++)
            free(ids[c]);
    free(ids);
    er_run_destroy(&run);
done:
    er_decisions_free(decs, ndecs);
    er_model_destroy(&model);
    erstore_destroy(&store);
    er_data_destroy(&d);
    er_spec_destroy(&spec);
    return rc;
}

/* ---- lgsp explain ---- */

void lgsp_explain_usage(FILE *out)
{
    fprintf(out,
            "usage: lgsp explain --spec FILE --input FILE [--input FILE...] [--model FILE | --store DIR]\n"
            "                    [--json] RECORD_A RECORD_B\n\n"
            "Prints the match-weight waterfall of two records (ids as source:record id): the prior,\n"
            "each comparison's level, m, u and weight (term-frequency adjusted where the spec says),\n"
            "the total, the probability and the verdict. The inputs give the records and the term\n"
            "frequencies; the model comes from --model, or the store's, or the spec's starting values.\n");
}

static int s_explain_opt(int c, const char *arg, void *ctx)
{
    (void) arg;
    if (c == 1003) {
        *(bool *) ctx = true;
        return 0;
    }
    return -1;
}

int lgsp_explain_main(int argc, char **argv)
{
    s_common_t o = {0};
    bool json = false;
    static const struct option more[] = {{"json", no_argument, NULL, 1003}, {NULL, 0, NULL, 0}};
    int rc = s_parse_common(argc, argv, &o, "", more, s_explain_opt, &json, lgsp_explain_usage);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (argc - optind != 2 || o.ninputs == 0) {
        fprintf(stderr, "lgsp: explain takes --input FILE and two record ids\n");
        return 2;
    }
    o.quiet = true;
    er_spec_t *spec = s_spec(&o);
    if (!spec)
        return 2;
    s_bad_t bad = {0, 0, true};
    er_data_t *d = s_load(spec, &o, &bad);
    er_model_t *model = NULL;
    char err[600];
    rc = 2;
    if (!d)
        goto done;
    long a = er_data_find(d, argv[optind]), b = er_data_find(d, argv[optind + 1]);
    if (a < 0 || b < 0) {
        fprintf(stderr, "lgsp: no record '%s' in the inputs (ids are source:record id)\n", argv[optind + (a >= 0)]);
        goto done;
    }
    if (o.model_path) {
        json_t *j = s_load_json(o.model_path);
        model = j ? er_model_from_json(spec, j, err, sizeof err) : NULL;
        json_decref(j);
        if (!model && j)
            fprintf(stderr, "lgsp: %s: %s\n", o.model_path, err);
    } else if (o.store_dir) {
        erstore_t *store = erstore_open(o.store_dir, err, sizeof err);
        erstore_txn_t *t = store ? erstore_begin(store, false) : NULL;
        char *mj = t ? erstore_model_get(t, er_spec_kind(spec)) : NULL;
        json_t *j = mj ? json_loads(mj, 0, NULL) : NULL;
        model = j ? er_model_from_json(spec, j, err, sizeof err) : NULL;
        if (!model)
            fprintf(stderr, "lgsp: %s: no model of kind %s (run lgsp dedup --store first)\n", o.store_dir,
                    er_spec_kind(spec));
        json_decref(j);
        free(mj);
        erstore_abort(&t);
        erstore_destroy(&store);
    } else
        model = er_model_new(spec);
    if (!model)
        goto done;
    /* term frequencies from the inputs */
    er_model_build_tf(model, d);
    json_t *e = er_explain(model, d, (size_t) a, (size_t) b);
    if (json) {
        json_dumpf(e, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        char *t = er_explain_text(e);
        fputs(t, stdout);
        free(t);
    }
    json_decref(e);
    rc = 0;
done:
    er_model_destroy(&model);
    er_data_destroy(&d);
    er_spec_destroy(&spec);
    return rc;
}

/* ---- lgsp decide ---- */

void lgsp_decide_usage(FILE *out)
{
    fprintf(out,
            "usage: lgsp decide --store DIR --kind KIND (link|unlink|clear) RECORD_A RECORD_B --who NAME [--note TEXT]\n"
            "       lgsp decide --store DIR --kind KIND list [--history]\n\n"
            "Manual decisions about a pair of records (ids as source:record id): link (the same\n"
            "entity, whatever the model says), unlink (never the same), clear (the model decides\n"
            "again). Kept in the store with who and when; applied by every later lgsp dedup --store\n"
            "and by the streaming stage.\n");
}

static int s_print_decision(const erstore_decision_t *d, void *ctx)
{
    (void) ctx;
    static const char *const names[] = {"?", "link", "unlink", "clear"};
    time_t s = (time_t) (d->at_us / 1000000);
    struct tm tm;
    char when[32];
    gmtime_r(&s, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s\t%s\t%s\t%s\t%s\t%s\n", when, names[d->kind <= 3 ? d->kind : 0], d->a, d->b, d->who, d->note);
    return 0;
}

int lgsp_decide_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 'S'}, {"kind", required_argument, NULL, 'k'},
        {"who", required_argument, NULL, 'w'},   {"note", required_argument, NULL, 'n'},
        {"history", no_argument, NULL, 'H'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *store_dir = NULL, *kind = NULL, *who = NULL, *note = "";
    bool history = false;
    int c;
    optind = 0;         /* glibc: start over, permuting: options may follow the record ids */
    while ((c = getopt_long(argc, argv, "S:k:w:n:Hh", longopts, NULL)) != -1) {
        switch (c) {
        case 'S': store_dir = optarg; break;
        case 'k': kind = optarg; break;
        case 'w': who = optarg; break;
        case 'n': note = optarg; break;
        case 'H': history = true; break;
        case 'h': lgsp_decide_usage(stdout); return 0;
        default: lgsp_decide_usage(stderr); return 2;
        }
    }
    if (!store_dir || !kind || optind >= argc) {
        lgsp_decide_usage(stderr);
        return 2;
    }
    const char *verb = argv[optind];
    char err[600];
    erstore_t *store = erstore_open(store_dir, err, sizeof err);
    if (!store) {
        fprintf(stderr, "lgsp: %s: %s\n", store_dir, err);
        return 1;
    }
    int rc = 0;
    if (strcmp(verb, "list") == 0) {
        erstore_txn_t *t = erstore_begin(store, false);
        if (erstore_decisions(t, kind, history, s_print_decision, NULL) < 0) {
            fprintf(stderr, "lgsp: %s\n", erstore_error());
            rc = 1;
        }
        erstore_abort(&t);
    } else {
        erstore_decision_kind_t k = strcmp(verb, "link") == 0     ? ERSTORE_LINK
                                    : strcmp(verb, "unlink") == 0 ? ERSTORE_UNLINK
                                    : strcmp(verb, "clear") == 0  ? ERSTORE_CLEAR
                                                                  : 0;
        if (!k || argc - optind != 3 || !who) {
            fprintf(stderr, "lgsp: decide %s: expected link, unlink or clear, two record ids and --who\n", verb);
            erstore_destroy(&store);
            return 2;
        }
        erstore_txn_t *t = erstore_begin(store, true);
        if (!t || erstore_decide(t, kind, k, argv[optind + 1], argv[optind + 2], who, note, 0) ||
            erstore_commit(&t)) {
            fprintf(stderr, "lgsp: %s\n", erstore_error());
            erstore_abort(&t);
            rc = strstr(erstore_error(), "invalid") ? 2 : 1;
        } else
            printf("%s %s %s: recorded\n", verb, argv[optind + 1], argv[optind + 2]);
    }
    erstore_destroy(&store);
    return rc;
}
