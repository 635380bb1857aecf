/* rng.h — the generator's own seeded PRNG (xoshiro256**, seeded through
 * splitmix64) and weighted sampling (Vose alias tables).
 *
 * Every random decision of lgsp-gen goes through an rng_t derived from
 * (--seed, stream id), so the same seed and scale give byte-identical output.
 * rand() is never used. */
#ifndef LGSP_SIM_RNG_H
#define LGSP_SIM_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } rng_t;

/* Seed from a user seed and a stream number; different streams are
 * independent sequences. */
void     rng_seed(rng_t *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng_t *r);
/* Uniform integer in [0, n); n > 0. */
uint32_t rng_below(rng_t *r, uint32_t n);
/* Uniform integer in [lo, hi] (inclusive). */
int32_t  rng_range(rng_t *r, int32_t lo, int32_t hi);
/* Uniform double in [0, 1). */
double   rng_unit(rng_t *r);
bool     rng_chance(rng_t *r, double p);
double   rng_normal(rng_t *r, double mu, double sigma);
/* Poisson-distributed count with mean lambda (lambda < 30). */
int      rng_poisson(rng_t *r, double lambda);

/* Alias table for O(1) weighted choice among n items. */
typedef struct {
    uint32_t n;
    double  *prob;
    uint32_t *alias;
} alias_t;

/* Builds from n weights (>= 0, at least one > 0). Caller owns *a; free with
 * alias_free. Returns 0 on success, -1 on bad weights. */
int      alias_build(alias_t *a, const double *w, uint32_t n);
uint32_t alias_draw(const alias_t *a, rng_t *r);
void     alias_free(alias_t *a);

#endif
