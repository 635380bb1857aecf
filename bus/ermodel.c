/* ermodel.c — the Fellegi-Sunter model of entity resolution.
 *
 * A pair of records is reduced to a comparison vector: one level per
 * comparison of the spec (4 bits each, packed in 64 bits; ER_MISSING when a
 * side has no value, which then weighs nothing). Under the model each level
 * has a probability m among true matches and u among non-matches, and the
 * pair's match weight is log2(lambda / (1 - lambda)) + sum of log2(m / u).
 *
 *   u  is measured on random pairs (almost all of them non-matches);
 *   m  is estimated by EM over the candidates, one session per blocking
 *      rule with the comparisons of that rule's fields left out (their
 *      agreement was chosen by the blocking, not observed) — as Splink
 *      does; the vectors are first counted by distinct pattern, so an
 *      iteration costs the number of patterns (thousands), not of pairs;
 *   lambda (the prior) is the probability that two random records match,
 *      since every u is relative to random pairs;
 *   tf for a comparison marked `tf`, an exact agreement is adjusted by
 *      log2(u_random / f), where u_random is the exact level's share among
 *      random pairs (the average f) and f the share of records with this
 *      very value: two records agreeing on "Nguyễn Văn An" say less than
 *      two agreeing on a rare name.
 *
 * Thresholds are match probabilities; the clustering (erbatch.c) and the
 * streaming stage use the same scores. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "er_int.h"

/* ---- levels ---- */

static int s_name_level(const er_comp_t *c, const er_data_t *d, const er_val_t *a, const er_val_t *b)
{
    (void) d;
    if (a->h == b->h)
        return 0;
    if (a->hk == b->hk)
        return 1;
    uint32_t ca[128], cb[128];
    size_t na = ercmp_decode(d->text + a->cp, a->ncp, ca, 128), nb = ercmp_decode(d->text + b->cp, b->ncp, cb, 128);
    na = na > 128 ? (na == (size_t) -1 ? 0 : 128) : na;
    nb = nb > 128 ? (nb == (size_t) -1 ? 0 : 128) : nb;
    /* "similar": Jaro-Winkler at or above the high threshold, or one edit
     * (Damerau: a wrong, missing or extra letter, two letters swapped).
     * JW weighs an edit by where it is and by the length: one typo near the
     * start of a short name can fall below the threshold, one edit cannot. */
    double jw = ercmp_jaro_winkler(ca, na, cb, nb);
    if (jw >= c->jw_high || ercmp_damerau(ca, na, cb, nb, 1) <= 1)
        return 3;
    /* the same parts in another order have the same length: only then is
     * the (costlier) part-by-part comparison worth making */
    if (na == nb && ercmp_tokens_jw(ca, na, cb, nb) >= 0.999)
        return 2;
    return jw >= c->jw_low ? 4 : 5;
}

int er_level(const er_spec_t *spec, const er_comp_t *c, const er_data_t *d, size_t a, size_t b)
{
    const er_val_t *va = er_val(d, a, (size_t) c->field), *vb = er_val(d, b, (size_t) c->field);
    (void) spec;
    if (!va->h || !vb->h)
        return ER_MISSING;
    switch (c->kind) {
    case ER_C_NAME:
        if (d->spec->fields[c->field].type == ER_T_TEXT)
            return va->h == vb->h ? 0 : va->hk == vb->hk ? 1 : 5;
        return s_name_level(c, d, va, vb);
    case ER_C_DATE: {
        ercmp_date_level_t l = ercmp_date_level(va->date, vb->date);
        return l == ERCMP_DATE_MISSING ? ER_MISSING : (int) l;
    }
    case ER_C_ID: {
        ercmp_id_level_t l = ercmp_id_level(d->text + va->text, d->text + vb->text);
        return l == ERCMP_ID_MISSING ? ER_MISSING : (int) l;
    }
    case ER_C_EXACT:
        return va->h == vb->h ? 0 : 1;
    }
    return ER_MISSING;
}

uint64_t er_pattern(const er_spec_t *spec, const er_data_t *d, size_t a, size_t b)
{
    uint64_t p = 0;
    for (size_t c = 0; c < spec->ncomps; c++)
        p |= (uint64_t) er_level(spec, &spec->comps[c], d, a, b) << (4 * c);
    return p;
}

/* ---- term frequencies ---- */

static void s_tf_free(struct er_tf *t)
{
    free(t->keys), free(t->counts);
    memset(t, 0, sizeof *t);
}

void er_model_build_tf(er_model_t *m, const er_data_t *d)
{
    const er_spec_t *s = m->spec;
    for (size_t c = 0; c < s->ncomps; c++) {
        struct er_tf *t = &m->tf[c];
        s_tf_free(t);
        if (!s->comps[c].tf)
            continue;
        size_t cap = 1024;
        while (cap < d->n * 2)
            cap *= 2;
        t->keys = calloc(cap, sizeof *t->keys);
        t->counts = calloc(cap, sizeof *t->counts);
        t->cap = cap;
        for (size_t i = 0; i < d->n; i++) {
            uint64_t k = er_val(d, i, (size_t) s->comps[c].field)->hk;
            if (!k)
                continue;
            size_t j = k & (cap - 1);
            while (t->keys[j] && t->keys[j] != k)
                j = (j + 1) & (cap - 1);
            t->keys[j] = k;
            t->counts[j]++;
            t->total++;
        }
    }
}

/* Share of records whose value has key k (0 when unknown). */
static double s_tf(const struct er_tf *t, uint64_t k)
{
    if (!t->cap || !t->total)
        return 0;
    size_t j = k & (t->cap - 1);
    while (t->keys[j]) {
        if (t->keys[j] == k)
            return (double) t->counts[j] / (double) t->total;
        j = (j + 1) & (t->cap - 1);
    }
    return 0;
}

/* The weight of comparison c at level l for the pair, tf applied. */
static double s_comp_weight(const er_model_t *m, size_t c, int l, const er_data_t *d, size_t a, double *tf_out)
{
    const er_comp_t *cp = &m->spec->comps[c];
    if (tf_out)
        *tf_out = 0;
    if (l == ER_MISSING)
        return 0;
    if (cp->tf && l == 0) {
        double f = s_tf(&m->tf[c], er_val(d, a, (size_t) cp->field)->hk);
        if (f > 0) {
            if (tf_out)
                *tf_out = f;
            return m->w[c][l] + log2(m->u_rand[c][l] / f);
        }
    }
    return m->w[c][l];
}

double er_weight(const er_model_t *m, const er_data_t *d, size_t a, size_t b, uint64_t pattern)
{
    (void) b;
    double w = m->prior_w;
    for (size_t c = 0; c < m->spec->ncomps; c++)
        w += s_comp_weight(m, c, er_pattern_level(pattern, c), d, a, NULL);
    return w;
}

double er_score(const er_model_t *model, const er_data_t *data, size_t a, size_t b, double *prob)
{
    double w = er_weight(model, data, a, b, er_pattern(model->spec, data, a, b));
    if (prob)
        *prob = er_prob(w);
    return w;
}

double er_model_lambda(const er_model_t *self) { return self->lambda; }

double er_threshold_match(const er_model_t *model) { return model->spec->match; }
double er_threshold_review(const er_model_t *model) { return model->spec->review; }

/* ---- the model ---- */

static double s_logit2(double p) { return log2(p / (1 - p)); }

void er_model_finish(er_model_t *m)
{
    const er_spec_t *s = m->spec;
    for (size_t c = 0; c < s->ncomps; c++)
        for (int l = 0; l < s->comps[c].nlevels; l++)
            m->w[c][l] = log2(m->m[c][l] / m->u[c][l]);
    m->prior_w = s_logit2(m->lambda);
    m->match_w = s_logit2(s->match);
    m->review_w = s_logit2(s->review);
}

er_model_t *er_model_new(const er_spec_t *spec)
{
    er_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->spec = spec;
    m->lambda = spec->prior > 0 ? spec->prior : 1e-6;
    for (size_t c = 0; c < spec->ncomps; c++)
        for (int l = 0; l < spec->comps[c].nlevels; l++) {
            m->m[c][l] = spec->comps[c].m0[l];
            m->u[c][l] = m->u_rand[c][l] = 1.0 / spec->comps[c].nlevels;
        }
    er_model_finish(m);
    return m;
}

void er_model_destroy(er_model_t **self_p)
{
    er_model_t *m = *self_p;
    if (!m)
        return;
    for (size_t c = 0; c < ER_MAX_COMPS; c++)
        s_tf_free(&m->tf[c]);
    free(m);
    *self_p = NULL;
}

json_t *er_model_to_json(const er_model_t *self)
{
    const er_spec_t *s = self->spec;
    json_t *j = json_object(), *comps = json_array();
    json_object_set_new(j, "kind", json_string(s->kind));
    json_object_set_new(j, "spec_version", json_integer(s->version));
    json_object_set_new(j, "lambda", json_real(self->lambda));
    json_object_set_new(j, "trained", json_boolean(self->trained));
    json_object_set_new(j, "em_iterations", json_integer(self->em_iterations));
    for (size_t c = 0; c < s->ncomps; c++) {
        json_t *o = json_object(), *levels = json_array();
        json_object_set_new(o, "name", json_string(s->comps[c].name));
        for (int l = 0; l < s->comps[c].nlevels; l++)
            json_array_append_new(levels, json_pack("{s:s, s:f, s:f, s:f, s:f}", "level",
                                                    s->comps[c].level_names[l], "m", self->m[c][l], "u",
                                                    self->u[c][l], "u_random", self->u_rand[c][l], "weight",
                                                    self->w[c][l]));
        json_object_set_new(o, "levels", levels);
        json_array_append_new(comps, o);
    }
    json_object_set_new(j, "comparisons", comps);
    return j;
}

er_model_t *er_model_from_json(const er_spec_t *spec, const json_t *j, char *err, size_t errlen)
{
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "kind")) ||
        strcmp(json_string_value(json_object_get(j, "kind")), spec->kind)) {
        snprintf(err, errlen, "model: not a model of kind %s", spec->kind);
        return NULL;
    }
    er_model_t *m = er_model_new(spec);
    double lambda = json_number_value(json_object_get(j, "lambda"));
    if (!(lambda > 0 && lambda < 1)) {
        snprintf(err, errlen, "model: lambda %g is not in (0, 1)", lambda);
        er_model_destroy(&m);
        return NULL;
    }
    m->lambda = lambda;
    m->trained = json_is_true(json_object_get(j, "trained"));
    m->em_iterations = (int) json_integer_value(json_object_get(j, "em_iterations"));
    const json_t *comps = json_object_get(j, "comparisons");
    for (size_t c = 0; c < spec->ncomps; c++) {
        const json_t *o = NULL;
        for (size_t k = 0; k < json_array_size(comps); k++) {
            const char *n = json_string_value(json_object_get(json_array_get(comps, k), "name"));
            if (n && strcmp(n, spec->comps[c].name) == 0)
                o = json_array_get(comps, k);
        }
        const json_t *levels = json_object_get(o, "levels");
        if (!o || (int) json_array_size(levels) != spec->comps[c].nlevels) {
            snprintf(err, errlen, "model: comparison %s is missing or has another number of levels than the spec",
                     spec->comps[c].name);
            er_model_destroy(&m);
            return NULL;
        }
        for (int l = 0; l < spec->comps[c].nlevels; l++) {
            double mv = json_number_value(json_object_get(json_array_get(levels, (size_t) l), "m"));
            double uv = json_number_value(json_object_get(json_array_get(levels, (size_t) l), "u"));
            if (!(mv > 0 && mv <= 1 && uv > 0 && uv <= 1)) {
                snprintf(err, errlen, "model: comparison %s level %d: m and u must be in (0, 1]",
                         spec->comps[c].name, l);
                er_model_destroy(&m);
                return NULL;
            }
            m->m[c][l] = mv, m->u[c][l] = uv;
            double ur = json_number_value(json_object_get(json_array_get(levels, (size_t) l), "u_random"));
            m->u_rand[c][l] = ur > 0 && ur <= 1 ? ur : uv;
        }
    }
    er_model_finish(m);
    return m;
}

/* ---- training ---- */

typedef struct {
    uint64_t *keys;
    double   *counts;
    size_t    cap, n;
} s_patmap_t;

static void s_patmap_add(s_patmap_t *p, uint64_t k, double n)
{
    if ((p->n + 1) * 2 > p->cap) {
        s_patmap_t q = {calloc(p->cap * 2, sizeof *q.keys), calloc(p->cap * 2, sizeof *q.counts), p->cap * 2, 0};
        for (size_t i = 0; i < p->cap; i++)
            if (p->counts[i] > 0)
                s_patmap_add(&q, p->keys[i], p->counts[i]);
        free(p->keys), free(p->counts);
        *p = q;
    }
    size_t j = er_mix(k) & (p->cap - 1);
    while (p->counts[j] > 0 && p->keys[j] != k)
        j = (j + 1) & (p->cap - 1);
    if (p->counts[j] == 0)
        p->n++;
    p->keys[j] = k;
    p->counts[j] += n;
}

/* xorshift64*: sampling only, no need for more */
static uint64_t s_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

typedef struct {
    const er_spec_t *s;
    const er_data_t *d;
    size_t pairs;
    uint64_t seed;
    double cnt[ER_MAX_COMPS][ER_MAX_LEVELS];
} s_sample_t;

static void *s_sample(void *arg)
{
    s_sample_t *x = arg;
    const er_spec_t *s = x->s;
    for (size_t k = 0; k < x->pairs; k++) {
        size_t a = s_rand(&x->seed) % x->d->n, b = s_rand(&x->seed) % x->d->n;
        if (a == b)
            continue;
        uint64_t p = er_pattern(s, x->d, a, b);
        for (size_t c = 0; c < s->ncomps; c++) {
            int l = er_pattern_level(p, c);
            if (l != ER_MISSING)
                x->cnt[c][l] += 1;
        }
    }
    return NULL;
}

/* EM for one session: lambda and m of the comparisons present in the
 * patterns (u fixed); returns the iterations. */
static int s_em(const er_spec_t *s, const er_model_t *m, const uint64_t *patterns, size_t n,
                double mr[ER_MAX_COMPS][ER_MAX_LEVELS], double *lambda_io)
{
    s_patmap_t pm = {calloc(1024, sizeof(uint64_t)), calloc(1024, sizeof(double)), 1024, 0};
    for (size_t k = 0; k < n; k++)
        s_patmap_add(&pm, patterns[k], 1);
    uint64_t *pat = malloc(pm.n * sizeof *pat);
    double *num = malloc(pm.n * sizeof *num), *g = malloc(pm.n * sizeof *g);
    size_t np = 0;
    for (size_t i = 0; i < pm.cap; i++)
        if (pm.counts[i] > 0)
            pat[np] = pm.keys[i], num[np++] = pm.counts[i];
    free(pm.keys), free(pm.counts);
    double lambda = *lambda_io;
    int it;
    for (it = 0; it < s->em_max_iter; it++) {
        double total = 0, matched = 0;
        for (size_t k = 0; k < np; k++) {
            double lm = log(lambda), lu = log(1 - lambda);
            for (size_t c = 0; c < s->ncomps; c++) {
                int l = er_pattern_level(pat[k], c);
                if (l == ER_MISSING)
                    continue;
                lm += log(mr[c][l]);
                lu += log(m->u[c][l]);
            }
            g[k] = 1.0 / (1.0 + exp(lu - lm));
            total += num[k];
            matched += num[k] * g[k];
        }
        double newl = fmin(fmax(matched / total, 1e-9), 1 - 1e-9);
        double delta = fabs(newl - lambda);
        lambda = newl;
        for (size_t c = 0; c < s->ncomps; c++) {
            double mc[ER_MAX_LEVELS] = {0}, mt = 0;
            for (size_t k = 0; k < np; k++) {
                int l = er_pattern_level(pat[k], c);
                if (l == ER_MISSING)
                    continue;
                mc[l] += num[k] * g[k];
                mt += num[k] * g[k];
            }
            if (mt <= 0)
                continue;
            for (int l = 0; l < s->comps[c].nlevels; l++) {
                /* a floor keeps log(m) finite for a level no match shows */
                double v = (mc[l] + 1e-3) / (mt + 1e-3 * s->comps[c].nlevels);
                delta = fmax(delta, fabs(v - mr[c][l]));
                mr[c][l] = v;
            }
        }
        if (delta < s->em_tolerance) {
            it++;
            break;
        }
    }
    free(pat), free(num), free(g);
    *lambda_io = lambda;
    return it;
}

int er_model_train(er_model_t *m, const er_data_t *d, const uint64_t *rkeys, const uint64_t *pairs,
                   const uint64_t *patterns, size_t npairs, size_t u_pairs, int threads, char *err, size_t errlen)
{
    const er_spec_t *s = m->spec;
    if (d->n < 2 || npairs == 0) {
        snprintf(err, errlen, "training needs at least 2 records and 1 candidate pair (have %zu, %zu)", d->n, npairs);
        return -1;
    }
    /* u among random pairs, sampled by every thread with its own seed; half
     * a count is added to every level, so that a level never seen among
     * random pairs (two equal personal IDs) gets a small u, not zero. */
    if (threads < 1)
        threads = 1;
    if (threads > 16)
        threads = 16;
    s_sample_t *jobs = calloc((size_t) threads, sizeof *jobs);
    pthread_t tid[16];
    for (int t = 0; t < threads; t++) {
        jobs[t].s = s, jobs[t].d = d, jobs[t].pairs = u_pairs / (size_t) threads;
        jobs[t].seed = 0x9E3779B97F4A7C15ULL ^ (d->n * 7919 + (uint64_t) t * 104729 + 1);
    }
    for (int t = 1; t < threads; t++)
        pthread_create(&tid[t], NULL, s_sample, &jobs[t]);
    s_sample(&jobs[0]);
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
    for (size_t c = 0; c < s->ncomps; c++) {
        double tot = 0, cnt[ER_MAX_LEVELS] = {0};
        for (int t = 0; t < threads; t++)
            for (int l = 0; l < s->comps[c].nlevels; l++)
                cnt[l] += jobs[t].cnt[c][l], tot += jobs[t].cnt[c][l];
        for (int l = 0; l < s->comps[c].nlevels; l++)
            m->u[c][l] = m->u_rand[c][l] = (cnt[l] + 0.5) / (tot + 0.5 * s->comps[c].nlevels);
    }
    free(jobs);
    m->em_iterations = 0;

    /* m by EM, one session per blocking rule, as Splink does: the pairs a
     * rule brought together were chosen for agreeing on the rule's fields,
     * so in that session the comparisons of those fields are left out and
     * only the others' m are estimated (u held at its random-pair value).
     * Each comparison's m is the average over the sessions where it was
     * free, weighted by the matches each session found. */
    double msum[ER_MAX_COMPS][ER_MAX_LEVELS] = {{0}}, wsum[ER_MAX_COMPS] = {0};
    uint64_t *sub = malloc(npairs * sizeof *sub);
    for (size_t r = 0; r < s->nrules; r++) {
        uint64_t blocked = 0;
        for (size_t c = 0; c < s->ncomps; c++)
            for (int p = 0; p < s->rules[r].nparts; p++)
                if (s->rules[r].parts[p].field == s->comps[c].field)
                    blocked |= (uint64_t) ER_MISSING << (4 * c);
        size_t n = 0;
        for (size_t k = 0; k < npairs; k++) {
            uint32_t a = (uint32_t) (pairs[k] >> 32), b = (uint32_t) pairs[k];
            uint64_t ka = rkeys ? rkeys[r * d->n + a] : er_rule_key(d, a, r);
            if (ka && ka == (rkeys ? rkeys[r * d->n + b] : er_rule_key(d, b, r)))
                sub[n++] = patterns[k] | blocked;
        }
        if (n == 0)
            continue;
        double mr[ER_MAX_COMPS][ER_MAX_LEVELS];
        for (size_t c = 0; c < s->ncomps; c++)
            memcpy(mr[c], s->comps[c].m0, sizeof mr[c]);
        double lambda = 0.5;
        int iters = s_em(s, m, sub, n, mr, &lambda);
        m->em_iterations += iters;
        double found = lambda * (double) n;
        for (size_t c = 0; c < s->ncomps; c++) {
            if ((blocked >> (4 * c) & 0xF) == ER_MISSING)
                continue;
            for (int l = 0; l < s->comps[c].nlevels; l++)
                msum[c][l] += found * mr[c][l];
            wsum[c] += found;
        }
    }
    free(sub);
    for (size_t c = 0; c < s->ncomps; c++)
        for (int l = 0; l < s->comps[c].nlevels; l++)
            m->m[c][l] = wsum[c] > 0 ? msum[c][l] / wsum[c] : s->comps[c].m0[l];

    /* The prior: the probability that two random records match. Every
     * weight is relative to random pairs (u), so the prior is too: it is
     * found as the fixed point of M = sum over the candidates of
     * P(match | vector, prior M / all pairs) — the candidates hold nearly
     * every true pair (the blocking report says how nearly). */
    m->lambda = 1e-6;
    er_model_finish(m);
    if (s->prior > 0)
        m->lambda = s->prior;
    else {
        double all = (double) d->n * (double) (d->n - 1) / 2, M = all * 1e-6;
        for (int it = 0; it < 200; it++) {
            double pw = log2(M / all / (1 - M / all)), sum = 0;
            for (size_t k = 0; k < npairs; k++) {
                double w = pw;
                for (size_t c = 0; c < s->ncomps; c++) {
                    int l = er_pattern_level(patterns[k], c);
                    if (l != ER_MISSING)
                        w += m->w[c][l];
                }
                sum += er_prob(w);
            }
            sum = fmax(sum, 1);
            bool done = fabs(sum - M) < 0.5;
            M = sum;
            if (done)
                break;
        }
        m->lambda = fmin(M / all, 0.5);
    }
    m->trained = true;
    er_model_finish(m);
    return 0;
}

/* ---- merges and explanations ---- */

bool er_can_merge(const er_model_t *model, const er_data_t *data, const uint32_t *A, size_t na, const uint32_t *B,
                  size_t nb)
{
    const er_spec_t *s = model->spec;
    double psum = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            uint64_t p = er_pattern(s, data, A[i], B[j]);
            for (size_t c = 0; c < s->ncomps; c++)
                if (s->comps[c].cannot_link && er_pattern_level(p, c) == s->comps[c].nlevels - 1)
                    return false;   /* e.g. two different personal IDs: two people */
            double w = er_weight(model, data, A[i], B[j], p);
            if (w < model->review_w)
                return false;       /* a chain: this pair alone would not even be reviewed */
            psum += er_prob(w);
        }
    return psum / (double) (na * nb) >= s->match;
}

json_t *er_explain(const er_model_t *model, const er_data_t *data, size_t a, size_t b)
{
    const er_spec_t *s = model->spec;
    json_t *j = json_object(), *arr = json_array();
    json_object_set_new(j, "a", json_string(er_data_id(data, a)));
    json_object_set_new(j, "b", json_string(er_data_id(data, b)));
    json_object_set_new(j, "prior", json_pack("{s:f, s:f}", "lambda", model->lambda, "weight", model->prior_w));
    uint64_t p = er_pattern(s, data, a, b);
    double total = model->prior_w;
    for (size_t c = 0; c < s->ncomps; c++) {
        const er_comp_t *cp = &s->comps[c];
        int l = er_pattern_level(p, c);
        const char *va = er_data_value(data, a, (size_t) cp->field), *vb = er_data_value(data, b, (size_t) cp->field);
        json_t *o = json_object();
        json_object_set_new(o, "comparison", json_string(cp->name));
        json_object_set_new(o, "field", json_string(s->fields[cp->field].name));
        json_object_set_new(o, "a", va ? json_string(va) : json_null());
        json_object_set_new(o, "b", vb ? json_string(vb) : json_null());
        if (l == ER_MISSING) {
            json_object_set_new(o, "level", json_string("missing"));
            json_object_set_new(o, "weight", json_real(0));
        } else {
            double tf;
            double w = s_comp_weight(model, c, l, data, a, &tf);
            json_object_set_new(o, "level", json_string(cp->level_names[l]));
            json_object_set_new(o, "m", json_real(model->m[c][l]));
            json_object_set_new(o, "u", json_real(model->u[c][l]));
            if (tf > 0) {
                json_object_set_new(o, "tf_u", json_real(tf));
                json_object_set_new(o, "tf_adjustment", json_real(w - model->w[c][l]));
            }
            json_object_set_new(o, "weight", json_real(w));
            total += w;
        }
        json_array_append_new(arr, o);
    }
    json_object_set_new(j, "comparisons", arr);
    json_object_set_new(j, "total_weight", json_real(total));
    double prob = er_prob(total);
    json_object_set_new(j, "probability", json_real(prob));
    json_object_set_new(j, "verdict", json_string(prob >= s->match    ? "match"
                                                  : prob >= s->review ? "possible match"
                                                                      : "non-match"));
    return j;
}

/* s cut to at most w characters (not bytes: a name's letters are 1-3 bytes
 * each) and padded with spaces to w, into out. */
static const char *s_col(const char *s, int w, char *out, size_t cap)
{
    size_t o = 0;
    int n = 0;
    for (const unsigned char *p = (const unsigned char *) (s ? s : "-"); *p && n < w && o + 4 < cap; n++) {
        size_t len = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        for (size_t k = 0; k < len && p[k]; k++)
            out[o++] = (char) p[k];
        p += len;
    }
    for (; n < w && o + 1 < cap; n++)
        out[o++] = ' ';
    out[o] = '\0';
    return out;
}

char *er_explain_text(const json_t *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "%s  vs  %s\n", json_string_value(json_object_get(e, "a")), json_string_value(json_object_get(e, "b")));
    fprintf(f, "  %-14s %-26s %-26s %-22s %8s\n", "comparison", "a", "b", "level", "weight");
    double prior = json_number_value(json_object_get(json_object_get(e, "prior"), "weight"));
    fprintf(f, "  %-14s %-26s %-26s %-22s %+8.2f\n", "prior", "", "", "", prior);
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(e, "comparisons"), i, o) {
        const char *va = json_string_value(json_object_get(o, "a")), *vb = json_string_value(json_object_get(o, "b"));
        double w = json_number_value(json_object_get(o, "weight"));
        /* a bar: one # per unit of weight, up to 20 */
        char bar[24];
        int nb = (int) fmin(20, fabs(w) + 0.5);
        memset(bar, w >= 0 ? '+' : '-', (size_t) nb);
        bar[nb] = '\0';
        char ca[128], cb[128];
        fprintf(f, "  %-14s %s %s %-22s %+8.2f %s%s\n",
                json_string_value(json_object_get(o, "comparison")), s_col(va, 26, ca, sizeof ca),
                s_col(vb, 26, cb, sizeof cb),
                json_string_value(json_object_get(o, "level")), w, bar,
                json_object_get(o, "tf_adjustment") ? " (term frequency)" : "");
    }
    fprintf(f, "  %-14s %-26s %-26s %-22s %+8.2f\n", "total", "", "", "",
            json_number_value(json_object_get(e, "total_weight")));
    fprintf(f, "  probability %.6f: %s\n", json_number_value(json_object_get(e, "probability")),
            json_string_value(json_object_get(e, "verdict")));
    fclose(f);
    return buf;
}
