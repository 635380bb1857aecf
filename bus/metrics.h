/* metrics.h — Prometheus text exposition and the counters several threads share.
 *
 * The broker renders its per-topic and per-group figures into a
 * metrics_buf_t once a second (it owns that state; nothing is locked), the
 * committer thread records commit latencies into a histogram with atomics,
 * and http.c serves the last rendered text. Format: Prometheus text 0.0.4. */
#ifndef LGSP_METRICS_H
#define LGSP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char  *data;
    size_t len, cap;
} metrics_buf_t;

void metrics_buf_init(metrics_buf_t *b);
void metrics_buf_free(metrics_buf_t *b);
/* "# HELP name help\n# TYPE name type\n"; type: "counter" | "gauge" | "histogram". */
void metrics_family(metrics_buf_t *b, const char *name, const char *type, const char *help);
/* One sample. labels: NULL, or alternating names and values ending in NULL
 * ("topic", "raw.qn", NULL); values are escaped as the format requires. */
void metrics_sample(metrics_buf_t *b, const char *name, const char *const *labels, double value);

/* A latency histogram in microseconds with fixed buckets, safe to observe
 * from one thread while another renders. */
#define METRICS_HIST_BUCKETS 16
typedef struct {
    _Atomic uint64_t bucket[METRICS_HIST_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} metrics_hist_t;

void metrics_hist_observe(metrics_hist_t *h, uint64_t us);
/* Renders name_bucket{le=...}, name_sum, name_count in seconds. */
void metrics_hist_render(metrics_buf_t *b, const char *name, const char *help,
                         const metrics_hist_t *h);
/* Quantile estimate (0..1) in microseconds from the buckets. */
uint64_t metrics_hist_quantile(const metrics_hist_t *h, double q);

#endif
