/* fault.c — see fault.h. */
#include "fault.h"

#include <stdio.h>
#include <string.h>

#include "simutil.h"

const char *const fault_mode_name[FAULT__COUNT] = { "none", "error", "slow", "drop", "cut" };

void fault_init(fault_t *f, uint64_t seed, uint64_t stream)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->mode = FAULT_NONE;
    f->status = 503;
    f->delay_ms = 5000;
    f->remaining = -1;
    f->rate = 1.0;
    rng_seed(&f->rng, seed, 0xfa017000u + stream);
}

void fault_fini(fault_t *f)
{
    pthread_mutex_destroy(&f->mu);
}

int fault_set(fault_t *f, const char *mode, const char *count, const char *rate,
              const char *delay_ms, const char *status, char *err, size_t errsz)
{
    fault_mode_t m = FAULT__COUNT;
    for (int i = 0; i < FAULT__COUNT; i++)
        if (mode && strcmp(mode, fault_mode_name[i]) == 0)
            m = (fault_mode_t)i;
    if (m == FAULT__COUNT) {
        snprintf(err, errsz, "mode must be one of none, error, slow, drop, cut");
        return -1;
    }
    long c = 0, d = 5000, s = 503;
    double r = 1.0;
    if (count && sim_parse_long(count, 0, 1000000000L, &c)) {
        snprintf(err, errsz, "count must be an integer >= 0 (0 = until mode=none)");
        return -1;
    }
    if (rate && sim_parse_double(rate, 0.0, 1.0, &r)) {
        snprintf(err, errsz, "rate must be a number in [0, 1]");
        return -1;
    }
    if (delay_ms && sim_parse_long(delay_ms, 0, 600000, &d)) {
        snprintf(err, errsz, "delay_ms must be an integer in [0, 600000]");
        return -1;
    }
    if (status && sim_parse_long(status, 500, 599, &s)) {
        snprintf(err, errsz, "status must be in [500, 599]");
        return -1;
    }
    pthread_mutex_lock(&f->mu);
    f->mode = m;
    f->remaining = c > 0 ? c : -1;
    f->rate = r;
    f->delay_ms = (int)d;
    f->status = (int)s;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

fault_hit_t fault_draw(fault_t *f)
{
    fault_hit_t h = { FAULT_NONE, 0, 0 };
    pthread_mutex_lock(&f->mu);
    if (f->mode != FAULT_NONE && (f->rate >= 1.0 || rng_unit(&f->rng) < f->rate)) {
        h.mode = f->mode;
        h.status = f->status;
        h.delay_ms = f->delay_ms;
        f->hits++;
        if (f->remaining > 0 && --f->remaining == 0) {
            f->mode = FAULT_NONE;
            f->remaining = -1;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return h;
}

void fault_json(fault_t *f, sbuf_t *b)
{
    pthread_mutex_lock(&f->mu);
    sbuf_printf(b, "{\"mode\":\"%s\",\"count_left\":%ld,\"rate\":%g,\"delay_ms\":%d,"
                   "\"status\":%d,\"hits\":%llu}",
                fault_mode_name[f->mode], f->remaining < 0 ? 0L : f->remaining, f->rate,
                f->delay_ms, f->status, (unsigned long long)f->hits);
    pthread_mutex_unlock(&f->mu);
}
