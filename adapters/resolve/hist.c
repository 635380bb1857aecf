/* hist.c — the latency histogram of the streaming stage (hist.h).
 *
 * Bucket of v >= 1: 8 * floor(log2 v) + the next three bits below the top
 * one, the layout HdrHistogram uses with 3 significant bits; a quantile is
 * reported as the middle of its bucket. */
#include <pthread.h>
#include <stdlib.h>

#include "hist.h"

#define HIST_SUB 8
#define HIST_POW 36                      /* 2^36 µs ≈ 19 hours */
#define HIST_N   (HIST_SUB * HIST_POW)

struct hist {
    pthread_mutex_t lock;
    uint64_t count;
    uint64_t b[HIST_N];
};

hist_t *hist_new(void)
{
    hist_t *h = calloc(1, sizeof *h);
    if (h)
        pthread_mutex_init(&h->lock, NULL);
    return h;
}

void hist_destroy(hist_t **self_p)
{
    if (!*self_p)
        return;
    pthread_mutex_destroy(&(*self_p)->lock);
    free(*self_p);
    *self_p = NULL;
}

static int s_bucket(uint64_t v)
{
    if (v < HIST_SUB)
        return (int) v;                  /* below 8 µs every value has its own bucket */
    int top = 63 - __builtin_clzll(v);
    int k = HIST_SUB * (top - 2) + (int) ((v >> (top - 3)) & (HIST_SUB - 1));
    return k < HIST_N ? k : HIST_N - 1;
}

/* the middle of bucket k */
static uint64_t s_value(int k)
{
    if (k < HIST_SUB)
        return (uint64_t) k;
    int top = k / HIST_SUB + 2, sub = k % HIST_SUB;
    uint64_t lo = ((uint64_t) (HIST_SUB + sub)) << (top - 3);
    return lo + (((uint64_t) 1 << (top - 3)) >> 1);
}

void hist_add(hist_t *self, uint64_t us)
{
    pthread_mutex_lock(&self->lock);
    self->b[s_bucket(us)]++;
    self->count++;
    pthread_mutex_unlock(&self->lock);
}

uint64_t hist_quantile(hist_t *self, double q)
{
    pthread_mutex_lock(&self->lock);
    uint64_t v = 0;
    if (self->count) {
        uint64_t want = (uint64_t) (q * (double) self->count + 0.999999), seen = 0;
        if (want < 1)
            want = 1;
        for (int k = 0; k < HIST_N; k++) {
            seen += self->b[k];
            if (seen >= want) {
                v = s_value(k);
                break;
            }
        }
    }
    pthread_mutex_unlock(&self->lock);
    return v;
}

uint64_t hist_count(hist_t *self)
{
    pthread_mutex_lock(&self->lock);
    uint64_t n = self->count;
    pthread_mutex_unlock(&self->lock);
    return n;
}
