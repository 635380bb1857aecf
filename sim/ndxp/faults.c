/* faults.c — see faults.h. */
#include "faults.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const nfault_name[NF__COUNT] = { "outage", "slow", "drop", "lost_ack", "reject" };

void nfaults_init(nfaults_t *f, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    rng_seed(&f->rng, seed, 0x4e445850 /* "NDXP" */);
}

void nfaults_fini(nfaults_t *f)
{
    pthread_mutex_destroy(&f->mu);
}

/* A number member in [lo, hi], or def when absent. 0 or -1. */
static int s_num(json_t *j, const char *key, double lo, double hi, double def, double *out,
                 char *err, size_t errsz)
{
    json_t *v = json_object_get(j, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v) || isnan(json_number_value(v)) || json_number_value(v) < lo
        || json_number_value(v) > hi) {
        snprintf(err, errsz, "%s must be a number in [%g, %g]", key, lo, hi);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

int nfaults_set(nfaults_t *f, const char *body, size_t len, int64_t now_mono_ms, char *err,
                size_t errsz)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    int rc = -1;
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (!json_is_object(j) || !kind) {
        snprintf(err, errsz, "the body must be a JSON object with \"kind\"");
        goto done;
    }
    /* every member must be one this kind knows: a typo is an error, not a no-op */
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if (strcmp(key, "kind") && strcmp(key, "rate") && strcmp(key, "count")
            && strcmp(key, "seconds") && strcmp(key, "ms")) {
            snprintf(err, errsz, "unknown member \"%s\" (kind, seconds, ms, rate, count)", key);
            goto done;
        }
    }
    if (!strcmp(kind, "none")) {
        pthread_mutex_lock(&f->mu);
        f->outage_until = 0;
        memset(f->rate, 0, sizeof f->rate);
        pthread_mutex_unlock(&f->mu);
        rc = 0;
        goto done;
    }
    int k = -1;
    for (int i = 0; i < NF__COUNT; i++)
        if (!strcmp(kind, nfault_name[i]))
            k = i;
    if (k < 0) {
        snprintf(err, errsz, "unknown kind '%s' (outage, slow, drop, lost_ack, reject, none)", kind);
        goto done;
    }
    double rate, count, seconds, ms;
    if (s_num(j, "rate", 0, 1, 1, &rate, err, errsz)
        || s_num(j, "count", 0, 1e12, 0, &count, err, errsz)
        || s_num(j, "seconds", 0, 86400, 0, &seconds, err, errsz)
        || s_num(j, "ms", 0, 600000, 0, &ms, err, errsz))
        goto done;
    if (k == NF_OUTAGE && !json_object_get(j, "seconds")) {
        snprintf(err, errsz, "outage needs \"seconds\"");
        goto done;
    }
    if (k == NF_SLOW && !json_object_get(j, "ms")) {
        snprintf(err, errsz, "slow needs \"ms\"");
        goto done;
    }
    pthread_mutex_lock(&f->mu);
    if (k == NF_OUTAGE) {
        f->outage_until = seconds > 0 ? now_mono_ms + (int64_t)(seconds * 1000) : 0;
    } else {
        f->rate[k] = rate;
        f->left[k] = count >= 1 ? (long)count : -1;
        if (k == NF_SLOW)
            f->slow_ms = (int)ms;
    }
    pthread_mutex_unlock(&f->mu);
    rc = 0;
done:
    json_decref(j);
    return rc;
}

int64_t nfaults_outage(nfaults_t *f, int64_t now_mono_ms)
{
    pthread_mutex_lock(&f->mu);
    int64_t left = f->outage_until > now_mono_ms ? f->outage_until - now_mono_ms : 0;
    if (left > 0)
        f->hits[NF_OUTAGE]++;
    pthread_mutex_unlock(&f->mu);
    return left;
}

bool nfaults_draw(nfaults_t *f, nfault_kind_t kind, int *ms)
{
    pthread_mutex_lock(&f->mu);
    bool hit = false;
    if (f->rate[kind] > 0 && f->left[kind] != 0) {
        /* a rate of 1 never draws, so that rate-1 faults do not move the
         * sequence of the others */
        hit = f->rate[kind] >= 1 || rng_chance(&f->rng, f->rate[kind]);
        if (hit) {
            f->hits[kind]++;
            if (f->left[kind] > 0 && --f->left[kind] == 0)
                f->rate[kind] = 0;
        }
    }
    if (ms)
        *ms = f->slow_ms;
    pthread_mutex_unlock(&f->mu);
    return hit;
}

json_t *nfaults_json(nfaults_t *f, int64_t now_mono_ms)
{
    json_t *active = json_object(), *hits = json_object();
    pthread_mutex_lock(&f->mu);
    if (f->outage_until > now_mono_ms)
        json_object_set_new(active, "outage",
                            json_pack("{sf}", "seconds_left",
                                      (double)(f->outage_until - now_mono_ms) / 1000.0));
    for (int k = NF_SLOW; k < NF__COUNT; k++) {
        if (f->rate[k] <= 0)
            continue;
        json_t *a = json_pack("{sf}", "rate", f->rate[k]);
        if (f->left[k] > 0)
            json_object_set_new(a, "count_left", json_integer(f->left[k]));
        if (k == NF_SLOW)
            json_object_set_new(a, "ms", json_integer(f->slow_ms));
        json_object_set_new(active, nfault_name[k], a);
    }
    for (int k = 0; k < NF__COUNT; k++)
        json_object_set_new(hits, nfault_name[k], json_integer((json_int_t)f->hits[k]));
    pthread_mutex_unlock(&f->mu);
    return json_pack("{so so}", "active", active, "hits", hits);
}
