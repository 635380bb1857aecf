/* hist.h — a latency histogram for the streaming stage: log-scale buckets
 * (eight per power of two, so a percentile is within ~9% of the true value)
 * from 1 µs to about 18 hours, safe to fill from one thread and read from
 * another (describe() runs on the broker's thread). */
#ifndef LGSP_RESOLVE_HIST_H
#define LGSP_RESOLVE_HIST_H

#include <stdint.h>

typedef struct hist hist_t;

hist_t *hist_new(void);
void hist_destroy(hist_t **self_p);
/* Adds one sample in microseconds. */
void hist_add(hist_t *self, uint64_t us);
/* The q-quantile (0 < q <= 1) in microseconds, 0 when empty. */
uint64_t hist_quantile(hist_t *self, double q);
uint64_t hist_count(hist_t *self);

#endif
