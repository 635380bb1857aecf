/* erbatch.c — a batch run of entity resolution over a whole dataset:
 * blocking -> candidate pairs -> comparison vectors -> (training) -> scores
 * -> clustering -> clusters and golden records.
 *
 * Blocking: each rule of the spec makes a 64-bit key per record (0 when a
 * part is absent); records are sorted by key and every pair inside a block
 * becomes a candidate. A block larger than max_block (a skewed value: the
 * same common name and year) is skipped and counted, rather than exploding
 * into millions of pairs; other rules still bring its true pairs together.
 * Pairs of all rules are merged and made distinct by a radix sort.
 *
 * Clustering: match edges are taken strongest first; two groups merge only
 * if no hard conflict separates them (two different personal IDs, a manual
 * unlink), the merged group stays under max_cluster, and every pair across
 * them scores at least the review threshold with their mean at least the
 * match threshold — so A~B and B~C do not drag in a C that does not look
 * like A (the chaining of bare connected components). Manual links are
 * applied first and always hold. Refused merges go to the review queue. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "er_int.h"
#include "erstore.h"

struct er_run {
    er_data_t  *data;
    er_model_t *model;
    uint64_t   *pairs;       /* distinct candidate pairs, sorted: a << 32 | b, a < b */
    size_t      npairs;
    uint64_t   *patterns;    /* per pair */
    float      *weights;     /* per pair */
    uint32_t   *cluster;     /* per record */
    uint32_t   *coff, *cmem; /* members of cluster c: cmem[coff[c] .. coff[c + 1]) */
    size_t      nclusters;
    uint64_t   *review;      /* pairs for a human */
    float      *review_w;
    size_t      nreview, review_cap;
    er_stats_t  stats;
};

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- radix sorts ---- */

void er_sort_u64(uint64_t *a, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        abort();
    uint64_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        size_t count[65537] = {0};
        for (size_t i = 0; i < n; i++)
            count[((src[i] >> shift) & 0xFFFF) + 1]++;
        for (size_t k = 0; k < 65536; k++)
            count[k + 1] += count[k];
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFFFF]++] = src[i];
        uint64_t *t = src;
        src = dst, dst = t;
    }
    /* four passes: the result is back in a */
    free(tmp);
}

void er_sort_keyrec(er_keyrec_t *a, size_t n)
{
    er_keyrec_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        abort();
    er_keyrec_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        size_t *count = calloc(65537, sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[((src[i].key >> shift) & 0xFFFF) + 1]++;
        for (size_t k = 0; k < 65536; k++)
            count[k + 1] += count[k];
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].key >> shift) & 0xFFFF]++] = src[i];
        free(count);
        er_keyrec_t *t = src;
        src = dst, dst = t;
    }
    free(tmp);
}

/* ---- blocking keys ---- */

/* The name's matching key (UTF-8) into out. */
static size_t s_key_text(const er_data_t *d, const er_val_t *v, char *out, size_t cap)
{
    size_t n = v->ncp < cap ? v->ncp : cap - 1;
    memcpy(out, d->text + v->cp, n);
    out[n] = '\0';
    return n;
}

static int s_cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static uint64_t s_part(const er_data_t *d, size_t i, const er_kpart_t *k)
{
    const er_val_t *v = er_val(d, i, (size_t) k->field);
    if (!v->h)
        return 0;
    switch (k->kind) {
    case ER_K_VALUE:
        return v->h;
    case ER_K_KEY:
        return v->hk;
    case ER_K_YEAR:
        return v->date.y ? er_mix((uint64_t) v->date.y) : 0;
    case ER_K_YM:
        return v->date.m ? er_mix((uint64_t) v->date.y * 100 + (uint64_t) v->date.m) : 0;
    case ER_K_PHONETIC:
    case ER_K_FIRST:
    case ER_K_LAST:
    case ER_K_SORTED: {
        char buf[512], *tok[32];
        size_t ntok = 0;
        s_key_text(d, v, buf, sizeof buf);
        for (char *p = buf; *p && ntok < 32;) {
            tok[ntok++] = p;
            char *sp = strchr(p, ' ');
            if (!sp)
                break;
            *sp = '\0';
            p = sp + 1;
        }
        if (!ntok)
            return 0;
        if (k->kind == ER_K_FIRST)
            return er_hash(tok[0], strlen(tok[0]));
        if (k->kind == ER_K_LAST)
            return er_hash(tok[ntok - 1], strlen(tok[ntok - 1]));
        if (k->kind == ER_K_SORTED)
            qsort(tok, ntok, sizeof *tok, s_cmpstr);
        uint64_t h = 0x51ED270B27A1C3ULL;
        for (size_t t = 0; t < ntok; t++) {
            char ph[64];
            const char *s = tok[t];
            if (k->kind == ER_K_PHONETIC) {
                ercmp_vn_phonetic(tok[t], ph, sizeof ph);
                s = ph;
            }
            h = er_mix(h ^ er_hash(s, strlen(s)));
        }
        return h;
    }
    }
    return 0;
}

uint64_t er_rule_key(const er_data_t *d, size_t i, size_t r)
{
    const er_rule_t *rule = &d->spec->rules[r];
    uint64_t h = er_mix(0xB10C0000ULL + r);
    for (int p = 0; p < rule->nparts; p++) {
        uint64_t v = s_part(d, i, &rule->parts[p]);
        if (!v)
            return 0;
        h = er_mix(h ^ (v + (uint64_t) p * 0x9E3779B97F4A7C15ULL));
    }
    return h;
}

void er_block_keys(const er_data_t *data, size_t i, void (*cb)(const void *key, size_t len, void *ctx), void *ctx)
{
    for (size_t r = 0; r < data->spec->nrules; r++) {
        uint64_t k = er_rule_key(data, i, r);
        if (!k)
            continue;
        unsigned char key[10];
        key[0] = 'B';
        key[1] = (unsigned char) r;
        memcpy(key + 2, &k, 8);
        cb(key, sizeof key, ctx);
    }
}

/* ---- candidate pairs ---- */

typedef struct {
    const er_data_t *d;
    size_t r0, r1;            /* rules [r0, r1) */
    uint64_t *rkeys;          /* rule r's key of record i at [r * n + i], kept for training */
    uint64_t *pairs;
    size_t n, cap;
    size_t capped;
} s_block_job_t;

static void s_push(s_block_job_t *j, uint64_t p)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 1 << 16;
        j->pairs = realloc(j->pairs, j->cap * sizeof *j->pairs);
        if (!j->pairs)
            abort();
    }
    j->pairs[j->n++] = p;
}

static void *s_block_rules(void *arg)
{
    s_block_job_t *j = arg;
    const er_data_t *d = j->d;
    er_keyrec_t *kr = malloc(d->n * sizeof *kr);
    for (size_t r = j->r0; r < j->r1; r++) {
        size_t n = 0;
        for (size_t i = 0; i < d->n; i++) {
            uint64_t k = er_rule_key(d, i, r);
            j->rkeys[r * d->n + i] = k;
            if (k)
                kr[n++] = (er_keyrec_t){k, (uint32_t) i};
        }
        er_sort_keyrec(kr, n);
        for (size_t s = 0; s < n;) {
            size_t e = s + 1;
            while (e < n && kr[e].key == kr[s].key)
                e++;
            if (e - s > d->spec->max_block)
                j->capped++;
            else
                for (size_t a = s; a < e; a++)
                    for (size_t b = a + 1; b < e; b++) {
                        uint32_t x = kr[a].rec, y = kr[b].rec;
                        s_push(j, x < y ? (uint64_t) x << 32 | y : (uint64_t) y << 32 | x);
                    }
            s = e;
        }
    }
    free(kr);
    return NULL;
}

/* ---- comparison vectors and weights, in parallel ---- */

typedef struct {
    er_run_t *run;
    size_t k0, k1;
} s_score_job_t;

static void *s_score_range(void *arg)
{
    s_score_job_t *j = arg;
    er_run_t *r = j->run;
    for (size_t k = j->k0; k < j->k1; k++) {
        uint32_t a = (uint32_t) (r->pairs[k] >> 32), b = (uint32_t) r->pairs[k];
        r->patterns[k] = er_pattern(r->data->spec, r->data, a, b);
    }
    return NULL;
}

static void *s_weight_range(void *arg)
{
    s_score_job_t *j = arg;
    er_run_t *r = j->run;
    for (size_t k = j->k0; k < j->k1; k++)
        r->weights[k] = (float) er_weight(r->model, r->data, r->pairs[k] >> 32, (uint32_t) r->pairs[k], r->patterns[k]);
    return NULL;
}

static void s_parallel(er_run_t *r, int threads, void *(*fn)(void *))
{
    if (threads < 1)
        threads = 1;
    if (threads > 16)
        threads = 16;
    s_score_job_t jobs[16];
    pthread_t tid[16];
    for (int t = 0; t < threads; t++)
        jobs[t] = (s_score_job_t){r, r->npairs * (size_t) t / (size_t) threads,
                                  r->npairs * (size_t) (t + 1) / (size_t) threads};
    for (int t = 1; t < threads; t++)
        pthread_create(&tid[t], NULL, fn, &jobs[t]);
    fn(&jobs[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
}

/* ---- clustering ---- */

typedef struct {
    uint32_t *parent, *size, *next, *tail;
} s_dsu_t;

static uint32_t s_find(s_dsu_t *u, uint32_t x)
{
    while (u->parent[x] != x) {
        u->parent[x] = u->parent[u->parent[x]];
        x = u->parent[x];
    }
    return x;
}

static void s_union(s_dsu_t *u, uint32_t a, uint32_t b)
{
    if (u->size[a] < u->size[b]) {
        uint32_t t = a;
        a = b, b = t;
    }
    u->parent[b] = a;
    u->size[a] += u->size[b];
    u->next[u->tail[a]] = b;   /* member lists: b's list after a's */
    u->tail[a] = u->tail[b];
}

static size_t s_members(const s_dsu_t *u, uint32_t root, uint32_t *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t x = root; x != UINT32_MAX && n < cap; x = u->next[x])
        out[n++] = x;
    return n;
}

typedef struct {
    float w;
    uint32_t k;
} s_edge_t;

static int s_edge_cmp(const void *a, const void *b)
{
    const s_edge_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

/* a set of unordered record pairs (manual unlinks) */
typedef struct {
    uint64_t *keys;
    size_t cap, n;
} s_pairset_t;

static uint64_t s_pk(uint32_t a, uint32_t b) { return a < b ? (uint64_t) a << 32 | b : (uint64_t) b << 32 | a; }

static void s_pairset_add(s_pairset_t *s, uint64_t k)
{
    if ((s->n + 1) * 2 > s->cap) {
        s_pairset_t q = {calloc(s->cap ? s->cap * 2 : 64, sizeof(uint64_t)), s->cap ? s->cap * 2 : 64, 0};
        for (size_t i = 0; i < s->cap; i++)
            if (s->keys[i])
                s_pairset_add(&q, s->keys[i]);
        free(s->keys);
        *s = q;
    }
    size_t j = er_mix(k) & (s->cap - 1);
    while (s->keys[j] && s->keys[j] != k)
        j = (j + 1) & (s->cap - 1);
    if (!s->keys[j])
        s->n++;
    s->keys[j] = k;   /* never 0: that would be the pair (0, 0), and a != b */
}

static bool s_pairset_has(const s_pairset_t *s, uint64_t k)
{
    if (!s->n)
        return false;
    size_t j = er_mix(k) & (s->cap - 1);
    while (s->keys[j]) {
        if (s->keys[j] == k)
            return true;
        j = (j + 1) & (s->cap - 1);
    }
    return false;
}

static void s_review_add(er_run_t *r, uint64_t pair, float w)
{
    if (r->nreview == r->review_cap) {
        r->review_cap = r->review_cap ? r->review_cap * 2 : 1024;
        r->review = realloc(r->review, r->review_cap * sizeof *r->review);
        r->review_w = realloc(r->review_w, r->review_cap * sizeof *r->review_w);
        if (!r->review || !r->review_w)
            abort();
    }
    r->review[r->nreview] = pair;
    r->review_w[r->nreview++] = w;
}

static void s_cluster(er_run_t *r, const er_decision_t *dec, size_t ndec)
{
    er_data_t *d = r->data;
    const er_spec_t *s = d->spec;
    size_t n = d->n;
    s_dsu_t u = {malloc(n * sizeof(uint32_t)), malloc(n * sizeof(uint32_t)), malloc(n * sizeof(uint32_t)),
                 malloc(n * sizeof(uint32_t))};
    for (size_t i = 0; i < n; i++)
        u.parent[i] = (uint32_t) i, u.size[i] = 1, u.next[i] = UINT32_MAX, u.tail[i] = (uint32_t) i;
    s_pairset_t unlinked = {0};
    for (size_t k = 0; k < ndec; k++) {
        long a = er_data_find(d, dec[k].a), b = er_data_find(d, dec[k].b);
        if (a < 0 || b < 0 || a == b)
            continue;    /* a decision about records not in this run */
        if (dec[k].kind == 2)
            s_pairset_add(&unlinked, s_pk((uint32_t) a, (uint32_t) b));
    }
    for (size_t k = 0; k < ndec; k++) {
        long a = er_data_find(d, dec[k].a), b = er_data_find(d, dec[k].b);
        if (dec[k].kind != 1 || a < 0 || b < 0 || a == b)
            continue;
        uint32_t ra = s_find(&u, (uint32_t) a), rb = s_find(&u, (uint32_t) b);
        if (ra != rb)
            s_union(&u, ra, rb);
    }
    /* match edges, strongest first */
    float mw = (float) r->model->match_w, rw = (float) r->model->review_w;
    size_t ne = 0;
    for (size_t k = 0; k < r->npairs; k++)
        ne += r->weights[k] >= mw;
    s_edge_t *e = malloc((ne ? ne : 1) * sizeof *e);
    ne = 0;
    for (size_t k = 0; k < r->npairs; k++) {
        if (r->weights[k] >= mw)
            e[ne++] = (s_edge_t){r->weights[k], (uint32_t) k};
        else if (r->weights[k] >= rw)
            s_review_add(r, r->pairs[k], r->weights[k]);
    }
    r->stats.matches = ne;
    r->stats.reviews = r->nreview;
    qsort(e, ne, sizeof *e, s_edge_cmp);
    size_t cap = s->max_cluster;
    uint32_t *A = malloc(cap * sizeof *A), *B = malloc(cap * sizeof *B);
    for (size_t k = 0; k < ne; k++) {
        uint64_t p = r->pairs[e[k].k];
        uint32_t a = (uint32_t) (p >> 32), b = (uint32_t) p;
        uint32_t ra = s_find(&u, a), rb = s_find(&u, b);
        if (ra == rb)
            continue;
        bool ok = (size_t) u.size[ra] + u.size[rb] <= cap;
        size_t na = 0, nb = 0;
        if (ok) {
            na = s_members(&u, ra, A, cap);
            nb = s_members(&u, rb, B, cap);
            for (size_t i = 0; ok && unlinked.n && i < na; i++)
                for (size_t j = 0; ok && j < nb; j++)
                    ok = !s_pairset_has(&unlinked, s_pk(A[i], B[j]));
        }
        if (ok)
            ok = er_can_merge(r->model, d, A, na, B, nb);
        if (ok)
            s_union(&u, ra, rb);
        else {
            r->stats.refused_merges++;
            s_review_add(r, p, e[k].w);
        }
    }
    free(A), free(B), free(e), free(unlinked.keys);
    /* cluster numbers in order of first record */
    r->cluster = malloc(n * sizeof *r->cluster);
    uint32_t *num = malloc(n * sizeof *num);
    for (size_t i = 0; i < n; i++)
        num[i] = UINT32_MAX;
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t root = s_find(&u, (uint32_t) i);
        if (num[root] == UINT32_MAX)
            num[root] = (uint32_t) nc++;
        r->cluster[i] = num[root];
    }
    r->nclusters = nc;
    r->coff = calloc(nc + 1, sizeof *r->coff);
    r->cmem = malloc(n * sizeof *r->cmem);
    for (size_t i = 0; i < n; i++)
        r->coff[r->cluster[i] + 1]++;
    for (size_t c = 0; c < nc; c++)
        r->coff[c + 1] += r->coff[c];
    uint32_t *fill = malloc((nc + 1) * sizeof *fill);
    memcpy(fill, r->coff, (nc + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        r->cmem[fill[r->cluster[i]]++] = (uint32_t) i;
    free(fill), free(num);
    free(u.parent), free(u.size), free(u.next), free(u.tail);
    r->stats.clusters = nc;
}

/* ---- the run ---- */

er_run_t *er_run_batch(er_data_t *data, er_model_t *model, const er_decision_t *decisions, size_t ndecisions,
                       const er_options_t *opt, char *err, size_t errlen)
{
    const er_spec_t *s = data->spec;
    if (data->n >= UINT32_MAX) {
        snprintf(err, errlen, "too many records (%zu)", data->n);
        return NULL;
    }
    er_run_t *r = calloc(1, sizeof *r);
    r->data = data;
    r->model = model;
    r->stats.records = data->n;
    int threads = opt && opt->threads > 0 ? opt->threads : 1;
    if (threads > 16)
        threads = 16;
#define PROGRESS(stage, x) \
    do { if (opt && opt->progress) opt->progress(stage, x, opt->progress_ctx); } while (0)

    /* blocking: the rules shared among threads */
    double t0 = s_now();
    PROGRESS("blocking", 0);
    int bt = threads < (int) s->nrules ? threads : (int) s->nrules;
    s_block_job_t jobs[16];
    pthread_t tid[16];
    uint64_t *rkeys = malloc(s->nrules * data->n * sizeof *rkeys);
    if (!rkeys)
        abort();
    for (int t = 0; t < bt; t++)
        jobs[t] = (s_block_job_t){data, s->nrules * (size_t) t / (size_t) bt, s->nrules * (size_t) (t + 1) / (size_t) bt,
                                  rkeys, NULL, 0, 0, 0};
    for (int t = 1; t < bt; t++)
        pthread_create(&tid[t], NULL, s_block_rules, &jobs[t]);
    s_block_rules(&jobs[0]);
    size_t total = jobs[0].n;
    for (int t = 1; t < bt; t++) {
        pthread_join(tid[t], NULL);
        total += jobs[t].n;
    }
    r->pairs = malloc((total ? total : 1) * sizeof *r->pairs);
    size_t n = 0;
    for (int t = 0; t < bt; t++) {
        memcpy(r->pairs + n, jobs[t].pairs, jobs[t].n * sizeof *r->pairs);
        n += jobs[t].n;
        r->stats.capped_blocks += jobs[t].capped;
        free(jobs[t].pairs);
    }
    er_sort_u64(r->pairs, n);
    size_t o = 0;
    for (size_t k = 0; k < n; k++)
        if (o == 0 || r->pairs[k] != r->pairs[o - 1])
            r->pairs[o++] = r->pairs[k];
    r->npairs = o;
    r->stats.candidate_pairs = o;
    r->stats.seconds_block = s_now() - t0;

    /* comparison vectors */
    t0 = s_now();
    PROGRESS("comparing", 0);
    r->patterns = calloc(r->npairs ? r->npairs : 1, sizeof *r->patterns);
    s_parallel(r, threads, s_score_range);
    er_model_build_tf(model, data);
    double t1 = s_now();
    if (opt && opt->estimate) {
        PROGRESS("training", 0);
        if (er_model_train(model, data, rkeys, r->pairs, r->patterns, r->npairs, opt->u_pairs ? opt->u_pairs : s->u_pairs, threads,
                           err, errlen)) {
            free(rkeys);
            er_run_destroy(&r);
            return NULL;
        }
        r->stats.em_iterations = (size_t) model->em_iterations;
    }
    free(rkeys);
    r->stats.seconds_train = s_now() - t1;
    PROGRESS("scoring", 0);
    r->weights = malloc((r->npairs ? r->npairs : 1) * sizeof *r->weights);
    s_parallel(r, threads, s_weight_range);
    r->stats.seconds_score = s_now() - t0 - r->stats.seconds_train;

    t0 = s_now();
    PROGRESS("clustering", 0);
    s_cluster(r, decisions, ndecisions);
    r->stats.seconds_cluster = s_now() - t0;
    PROGRESS("done", 1);
    return r;
}

void er_run_destroy(er_run_t **self_p)
{
    er_run_t *r = *self_p;
    if (!r)
        return;
    free(r->pairs), free(r->patterns), free(r->weights), free(r->cluster), free(r->coff), free(r->cmem);
    free(r->review), free(r->review_w);
    free(r);
    *self_p = NULL;
}

const er_stats_t *er_run_stats(const er_run_t *self) { return &self->stats; }
uint32_t er_run_cluster_of(const er_run_t *self, size_t i) { return self->cluster[i]; }
const uint32_t *er_run_cluster_of_all(const er_run_t *self) { return self->cluster; }
size_t er_run_review_count(const er_run_t *self) { return self->nreview; }

void er_run_review_pair(const er_run_t *self, size_t k, uint32_t *a, uint32_t *b, double *prob)
{
    *a = (uint32_t) (self->review[k] >> 32);
    *b = (uint32_t) self->review[k];
    *prob = er_prob(self->review_w[k]);
}

size_t er_run_pair_count(const er_run_t *self) { return self->npairs; }

void er_run_pair(const er_run_t *self, size_t k, uint32_t *a, uint32_t *b, double *weight)
{
    *a = (uint32_t) (self->pairs[k] >> 32);
    *b = (uint32_t) self->pairs[k];
    *weight = self->weights[k];
}

bool er_run_is_candidate(const er_run_t *self, uint32_t a, uint32_t b)
{
    uint64_t k = s_pk(a, b);
    size_t lo = 0, hi = self->npairs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->pairs[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->npairs && self->pairs[lo] == k;
}

size_t er_run_cluster_count(const er_run_t *self) { return self->nclusters; }

const uint32_t *er_run_members(const er_run_t *self, uint32_t c, size_t *n)
{
    *n = self->coff[c + 1] - self->coff[c];
    return self->cmem + self->coff[c];
}

/* ---- golden records ---- */

static int s_completeness(const er_data_t *d, const er_field_t *f, const er_val_t *v)
{
    switch (f->type) {
    case ER_T_DATE:
        return v->date.d ? 3 : v->date.m ? 2 : 1;
    case ER_T_NAME:
    case ER_T_TEXT:
        return (v->h != v->hk) + 1;   /* has its diacritics (the fold and the key differ) */
    default:
        return (int) strlen(d->text + v->text);
    }
}

static int s_trust(const er_spec_t *s, const char *source)
{
    for (size_t i = 0; i < s->ntrust; i++)
        if (strcmp(s->trust[i], source) == 0)
            return (int) (s->ntrust - i);
    return 0;
}

/* A record's last change as seconds since 1970 (UTC), from RFC 3339
 * ("2024-05-01T10:00:00+07:00", "...Z", fractions ignored), a date
 * ("2024-05-01") or "dd/mm/yyyy"; INT64_MIN when it is none of these.
 * Sources write different offsets: text order would rank "…Z" and
 * "…+07:00" wrongly. */
static int64_t s_instant(const char *s)
{
    if (!s)
        return INT64_MIN;
    struct tm tm = {0};
    int y, mo, da, h = 0, mi = 0, se = 0, n = 0;
    long off = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &da, &h, &mi, &se, &n) == 6) {
        const char *z = s + n;
        if (*z == '.')
            while (*++z >= '0' && *z <= '9')
                ;
        int oh, om;
        if (*z == 'Z' && !z[1])
            off = 0;
        else if ((*z == '+' || *z == '-') && sscanf(z + 1, "%2d:%2d", &oh, &om) == 2 && strlen(z) == 6)
            off = (*z == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        else
            return INT64_MIN;
    } else if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &da, &n) == 3 && !s[n])
        ;
    else if (sscanf(s, "%2d/%2d/%4d%n", &da, &mo, &y, &n) == 3 && !s[n])
        ;
    else
        return INT64_MIN;
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = da, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = se;
    return (int64_t) timegm(&tm) - off;
}

/* > 0 when record a's value of field f should survive over b's */
static int s_better(const er_data_t *d, size_t f, uint32_t a, uint32_t b)
{
    const er_spec_t *s = d->spec;
    for (int k = 0; k < s->nsurvive; k++) {
        int c = 0;
        switch (s->survive[k]) {
        case ER_S_COMPLETENESS:
            c = s_completeness(d, &s->fields[f], er_val(d, a, f)) - s_completeness(d, &s->fields[f], er_val(d, b, f));
            break;
        case ER_S_TRUST:
            c = s_trust(s, er_data_source(d, a)) - s_trust(s, er_data_source(d, b));
            break;
        case ER_S_RECENCY: {
            const char *ua = d->updated[a] ? d->text + d->updated[a] : NULL;
            const char *ub = d->updated[b] ? d->text + d->updated[b] : NULL;
            int64_t ta = s_instant(ua), tb = s_instant(ub);
            if (ta != INT64_MIN && tb != INT64_MIN)
                c = ta > tb ? 1 : ta < tb ? -1 : 0;
            else   /* not a time we read: present over absent, then as text */
                c = (ua != NULL) - (ub != NULL) ? (ua != NULL) - (ub != NULL) : ua ? strcmp(ua, ub) : 0;
            break;
        }
        }
        if (c)
            return c;
    }
    return (int) b - (int) a;   /* stable: the earlier record */
}

json_t *er_run_golden(const er_run_t *self, uint32_t c)
{
    const er_data_t *d = self->data;
    const er_spec_t *s = d->spec;
    size_t n;
    const uint32_t *mem = er_run_members(self, c, &n);
    json_t *g = json_object();
    for (size_t f = 0; f < s->nfields; f++) {
        long best = -1;
        for (size_t k = 0; k < n; k++)
            if (er_val(d, mem[k], f)->h && (best < 0 || s_better(d, f, mem[k], (uint32_t) best) > 0))
                best = mem[k];
        if (best >= 0)
            json_object_set_new(g, s->fields[f].name,
                                json_pack("{s:s, s:s, s:s}", "value", er_data_value(d, (size_t) best, f), "source",
                                          er_data_source(d, (size_t) best), "record", er_data_id(d, (size_t) best)));
    }
    return g;
}

/* The same survivorship over any records of an er_data: the streaming stage
 * (adapters/resolve) loads one entity's members and asks for its golden
 * record. Ties go to the earlier index, so load members in a stable order. */
json_t *er_golden(const er_data_t *d, const uint32_t *mem, size_t n)
{
    const er_spec_t *s = d->spec;
    json_t *g = json_object();
    for (size_t f = 0; f < s->nfields; f++) {
        long best = -1;
        for (size_t k = 0; k < n; k++)
            if (mem[k] < d->n && er_val(d, mem[k], f)->h &&
                (best < 0 || s_better(d, f, mem[k], (uint32_t) best) > 0))
                best = mem[k];
        if (best >= 0)
            json_object_set_new(g, s->fields[f].name,
                                json_pack("{s:s, s:s, s:s}", "value", er_data_value(d, (size_t) best, f), "source",
                                          er_data_source(d, (size_t) best), "record", er_data_id(d, (size_t) best)));
    }
    return g;
}

/* What the streaming stage needs of the spec to block and cluster as a
 * batch run does. */
size_t er_spec_max_block(const er_spec_t *spec) { return spec->max_block; }
size_t er_spec_max_cluster(const er_spec_t *spec) { return spec->max_cluster; }

/* ---- decisions from the store ---- */

typedef struct {
    er_decision_t *v;
    size_t n, cap;
} s_decs_t;

static int s_collect_decision(const erstore_decision_t *d, void *ctx)
{
    s_decs_t *x = ctx;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 64;
        x->v = realloc(x->v, x->cap * sizeof *x->v);
        if (!x->v)
            abort();
    }
    x->v[x->n++] = (er_decision_t){(int) d->kind, strdup(d->a), strdup(d->b)};
    return 0;
}

int er_decisions_from_store(struct erstore *store, const char *kind, er_decision_t **v, size_t *n)
{
    s_decs_t x = {0};
    erstore_txn_t *t = erstore_begin(store, false);
    int rc = t ? erstore_decisions(t, kind, false, s_collect_decision, &x) : -1;
    erstore_abort(&t);
    *v = x.v;
    *n = x.n;
    return rc < 0 ? -1 : 0;
}

void er_decisions_free(er_decision_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *) v[i].a), free((char *) v[i].b);
    free(v);
}
