/* metrics.c — Prometheus text exposition 0.0.4 and the latency histogram
 * (see metrics.h).
 *
 * Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/
 *   - HELP text escapes backslash and newline;
 *   - label values escape backslash, double quote and newline;
 *   - sample values are Go ParseFloat-compatible: "NaN", "+Inf", "-Inf"
 *     and decimal or exponent notation.
 *
 * Numbers are printed with printf/strtod, which follow LC_NUMERIC: lgspd
 * never calls setlocale(), so the "C" locale (a '.' decimal point) holds. */
#include "metrics.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- the growing text buffer ---------------------------------------- */

void metrics_buf_init(metrics_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void metrics_buf_free(metrics_buf_t *b)
{
    free(b->data);
    metrics_buf_init(b);
}

/* Makes room for n more bytes plus a terminating NUL. A render is a few
 * kilobytes; if even that cannot be allocated the process is beyond saving,
 * and a silently truncated exposition would be worse than stopping (the
 * same policy as Redis's zmalloc out-of-memory handler). */
static void s_reserve(metrics_buf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        log_error("metrics", "out of memory growing the metrics text to %zu bytes", cap);
        abort();
    }
    b->data = data;
    b->cap = cap;
}

static void s_append(metrics_buf_t *b, const char *text, size_t n)
{
    s_reserve(b, n);
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void s_puts(metrics_buf_t *b, const char *text)
{
    s_append(b, text, strlen(text));
}

static void s_putc(metrics_buf_t *b, char c)
{
    s_append(b, &c, 1);
}

/* Appends text escaping backslash and newline, and the double quote too
 * when quote is set (label values; HELP lines leave quotes alone). */
static void s_escaped(metrics_buf_t *b, const char *text, int quote)
{
    const char *run = text;
    for (const char *p = text; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n"
                        : (*p == '"' && quote) ? "\\\"" : NULL;
        if (!esc)
            continue;
        s_append(b, run, (size_t) (p - run));
        s_puts(b, esc);
        run = p + 1;
    }
    s_puts(b, run);
}

/* ---- numbers -------------------------------------------------------- */

/* Formats a sample value into out (at least 32 bytes).
 * Integral values up to 2^64 (every counter the bus keeps) are printed in
 * full without an exponent, so a scraper never sees "1.2345e+06" for a
 * message count; other values get the shortest %g form that reads back to
 * the same double (15, 16 or 17 significant digits), so 0.1 is "0.1" and
 * not "0.10000000000000001". */
static void s_format_value(char *out, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {       /* also -0.0, which %.0f would print as "-0" */
        snprintf(out, n, "0");
        return;
    }
    /* Integral? Every double of magnitude 2^53 or more is; below that the
     * int64 round trip is exact. (No floor(): the bus links without libm.) */
    double mag = v < 0 ? -v : v;
    if (mag <= 18446744073709551616.0 && (mag >= 9007199254740992.0 || v == (double) (int64_t) v)) {
        snprintf(out, n, "%.0f", v);
        return;
    }
    for (int prec = DBL_DIG; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Formats a whole number of microseconds as exact decimal seconds:
 * 50 -> "0.00005", 1500 -> "0.0015", 250000 -> "0.25", 3000000 -> "3".
 * Integer arithmetic, so bucket bounds and sums carry no binary rounding
 * (0.0005 stays 0.0005 instead of 0.00050000000000000001). */
static void s_format_us(char *out, size_t n, uint64_t us)
{
    uint64_t whole = us / 1000000, frac = us % 1000000;
    if (frac == 0) {
        snprintf(out, n, "%" PRIu64, whole);
        return;
    }
    int digits = 6;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(out, n, "%" PRIu64 ".%0*" PRIu64, whole, digits, frac);
}

/* ---- families and samples ------------------------------------------- */

void metrics_family(metrics_buf_t *b, const char *name, const char *type, const char *help)
{
    s_puts(b, "# HELP ");
    s_puts(b, name);
    s_putc(b, ' ');
    s_escaped(b, help ? help : "", 0);
    s_puts(b, "\n# TYPE ");
    s_puts(b, name);
    s_putc(b, ' ');
    s_puts(b, type);
    s_putc(b, '\n');
}

/* Writes name{labels} with the label list, plus one more label pair
 * (extra_name="extra_value", used for "le") when extra_name is set. The
 * value of the extra label is trusted (a formatted number). */
static void s_series(metrics_buf_t *b, const char *name, const char *const *labels,
                     const char *extra_name, const char *extra_value)
{
    s_puts(b, name);
    int n = 0;
    for (const char *const *l = labels; l && l[0] && l[1]; l += 2, n++) {
        s_putc(b, n ? ',' : '{');
        s_puts(b, l[0]);
        s_puts(b, "=\"");
        s_escaped(b, l[1], 1);
        s_putc(b, '"');
    }
    if (extra_name) {
        s_putc(b, n++ ? ',' : '{');
        s_puts(b, extra_name);
        s_puts(b, "=\"");
        s_puts(b, extra_value);
        s_putc(b, '"');
    }
    if (n)
        s_putc(b, '}');
}

void metrics_sample(metrics_buf_t *b, const char *name, const char *const *labels, double value)
{
    char num[48];
    s_format_value(num, sizeof num, value);
    s_series(b, name, labels, NULL, NULL);
    s_putc(b, ' ');
    s_puts(b, num);
    s_putc(b, '\n');
}

/* ---- histogram ------------------------------------------------------ */

/* Upper bounds (inclusive, as Prometheus's "le") in microseconds. A durable
 * commit is an fsync: tens of microseconds on NVMe with a write cache,
 * a few milliseconds on SATA SSD, tens on spinning disks or a stalled
 * device. Delivery latency adds a network hop. So: fine steps below 1 ms,
 * coarser up to 10 ms, then a long tail to a quarter second; anything
 * slower lands in +Inf and shows up as such. */
static const uint64_t s_bounds_us[METRICS_HIST_BUCKETS] = {
    50, 100, 200, 300, 500, 750,
    1000, 1500, 2000, 3000, 5000, 10000, 25000, 50000, 100000, 250000,
};

/* Called by one writer (the committer thread) while another thread renders.
 * Relaxed ordering suffices: each field is a monotonic counter read on its
 * own, and the renderer derives _count from the buckets it read, so the
 * exposition stays self-consistent (+Inf bucket == _count) even when it
 * races an observation; _sum may then run one observation ahead. */
void metrics_hist_observe(metrics_hist_t *h, uint64_t us)
{
    int i = 0;
    while (i < METRICS_HIST_BUCKETS && us > s_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

/* Reads the per-bucket (not cumulative) counts; returns their total. */
static uint64_t s_snapshot(const metrics_hist_t *h, uint64_t counts[METRICS_HIST_BUCKETS + 1])
{
    uint64_t total = 0;
    for (int i = 0; i <= METRICS_HIST_BUCKETS; i++) {
        /* atomic_load_explicit takes a non-const pointer in C11. */
        counts[i] = atomic_load_explicit((_Atomic uint64_t *) &h->bucket[i], memory_order_relaxed);
        total += counts[i];
    }
    return total;
}

void metrics_hist_render(metrics_buf_t *b, const char *name, const char *help,
                         const metrics_hist_t *h)
{
    uint64_t counts[METRICS_HIST_BUCKETS + 1];
    uint64_t total = s_snapshot(h, counts);
    uint64_t sum_us = atomic_load_explicit((_Atomic uint64_t *) &h->sum_us, memory_order_relaxed);

    size_t nlen = strlen(name);
    char *series = malloc(nlen + sizeof "_bucket");
    if (!series) {
        log_error("metrics", "out of memory rendering a histogram");
        abort();
    }
    memcpy(series, name, nlen);

    char num[48], le[32];
    uint64_t cum = 0;
    metrics_family(b, name, "histogram", help);
    memcpy(series + nlen, "_bucket", sizeof "_bucket");
    for (int i = 0; i <= METRICS_HIST_BUCKETS; i++) {
        cum += counts[i];
        if (i < METRICS_HIST_BUCKETS)
            s_format_us(le, sizeof le, s_bounds_us[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        s_series(b, series, NULL, "le", le);
        snprintf(num, sizeof num, " %" PRIu64 "\n", cum);
        s_puts(b, num);
    }
    memcpy(series + nlen, "_sum", sizeof "_sum");
    s_format_us(le, sizeof le, sum_us);
    s_puts(b, series);
    s_putc(b, ' ');
    s_puts(b, le);
    s_putc(b, '\n');
    memcpy(series + nlen, "_count", sizeof "_count");
    snprintf(num, sizeof num, " %" PRIu64 "\n", total);
    s_puts(b, series);
    s_puts(b, num);
    free(series);
}

/* Like Prometheus's histogram_quantile(): find the bucket holding the
 * q-th observation and interpolate linearly between its bounds (the first
 * bucket starts at 0). Observations past the last bound cannot be placed,
 * so a quantile that falls in +Inf reports the last finite bound. */
uint64_t metrics_hist_quantile(const metrics_hist_t *h, double q)
{
    uint64_t counts[METRICS_HIST_BUCKETS + 1];
    uint64_t total = s_snapshot(h, counts);
    if (total == 0)
        return 0;
    if (!(q > 0))       /* also NaN */
        q = 0;
    if (q > 1)
        q = 1;
    double rank = q * (double) total;
    uint64_t below = 0;
    for (int i = 0; i <= METRICS_HIST_BUCKETS; i++) {
        /* The first non-empty bucket whose cumulative count reaches the
         * rank: skipping empty ones keeps q = 0 from answering 0 when
         * the smallest observation sits in a higher bucket. */
        if (counts[i] == 0 || (double) (below + counts[i]) < rank) {
            below += counts[i];
            continue;
        }
        if (i == METRICS_HIST_BUCKETS)
            return s_bounds_us[METRICS_HIST_BUCKETS - 1];
        double lo = i ? (double) s_bounds_us[i - 1] : 0.0;
        double hi = (double) s_bounds_us[i];
        double frac = (rank - (double) below) / (double) counts[i];
        if (frac < 0)
            frac = 0;
        return (uint64_t) (lo + (hi - lo) * frac + 0.5);   /* rounded; all >= 0 */
    }
    return s_bounds_us[METRICS_HIST_BUCKETS - 1];  /* not reached: rank <= total */
}
