/* rng.c — xoshiro256** (Blackman & Vigna, public domain reference algorithm),
 * splitmix64 seeding, Lemire bounded integers, Vose alias tables. */
#include "rng.h"

#include <math.h>
#include <stdlib.h>

static uint64_t s_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    s_splitmix(&x);
    x ^= stream;
    for (int i = 0; i < 4; i++)
        r->s[i] = s_splitmix(&x);
}

uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

uint32_t rng_below(rng_t *r, uint32_t n)
{
    uint64_t m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

int32_t rng_range(rng_t *r, int32_t lo, int32_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int32_t)rng_below(r, (uint32_t)(hi - lo) + 1u);
}

double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

bool rng_chance(rng_t *r, double p)
{
    if (p <= 0.0)
        return false;
    if (p >= 1.0)
        return true;
    return rng_unit(r) < p;
}

double rng_normal(rng_t *r, double mu, double sigma)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return mu + sigma * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int rng_poisson(rng_t *r, double lambda)
{
    double l = exp(-lambda), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= rng_unit(r);
    } while (p > l && k < 200);
    return k - 1;
}

int alias_build(alias_t *a, const double *w, uint32_t n)
{
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        if (!(w[i] >= 0.0))
            return -1;
        total += w[i];
    }
    if (n == 0 || !(total > 0.0))
        return -1;
    a->n = n;
    a->prob = malloc(n * sizeof *a->prob);
    a->alias = malloc(n * sizeof *a->alias);
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    double *p = malloc(n * sizeof *p);
    if (!a->prob || !a->alias || !small || !large || !p) {
        free(small); free(large); free(p); alias_free(a);
        return -1;
    }
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = w[i] * n / total;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], g = large[--nl];
        a->prob[s] = p[s];
        a->alias[s] = g;
        p[g] = (p[g] + p[s]) - 1.0;
        if (p[g] < 1.0)
            small[ns++] = g;
        else
            large[nl++] = g;
    }
    while (nl) { uint32_t g = large[--nl]; a->prob[g] = 1.0; a->alias[g] = g; }
    while (ns) { uint32_t s = small[--ns]; a->prob[s] = 1.0; a->alias[s] = s; }
    free(small); free(large); free(p);
    return 0;
}

uint32_t alias_draw(const alias_t *a, rng_t *r)
{
    uint32_t i = rng_below(r, a->n);
    return rng_unit(r) < a->prob[i] ? i : a->alias[i];
}

void alias_free(alias_t *a)
{
    free(a->prob);
    free(a->alias);
    a->prob = NULL;
    a->alias = NULL;
    a->n = 0;
}
