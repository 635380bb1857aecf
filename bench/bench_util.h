/* bench_util.h — what the bus benchmark programs share: the clock, the
 * message stamp, pacing, percentiles and the size labels they print.
 *
 * Header-only (static functions) so that each benchmark stays one program
 * built from one .c file, in the spirit of libzmq's perf/. */
#ifndef LGSP_BENCH_UTIL_H
#define LGSP_BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Publisher and consumer run on the same host, so CLOCK_MONOTONIC read in
 * one process means the same thing in another. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* CPU time (user + system) of this process, all threads, in ns. */
static inline uint64_t bench_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t) ru.ru_utime.tv_sec + (uint64_t) ru.ru_stime.tv_sec) * 1000000000u
           + ((uint64_t) ru.ru_utime.tv_usec + (uint64_t) ru.ru_stime.tv_usec) * 1000u;
}

static inline void bench_sleep_until_ns(uint64_t t)
{
    struct timespec ts = { .tv_sec = (time_t) (t / 1000000000u), .tv_nsec = (long) (t % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Every payload starts with this stamp; the rest is filler. Payloads are at
 * least BENCH_STAMP_BYTES long. */
#define BENCH_STAMP_BYTES 16

static inline void bench_stamp(void *payload, uint64_t seq, uint64_t t_ns)
{
    memcpy(payload, &t_ns, 8);
    memcpy((char *) payload + 8, &seq, 8);
}

static inline void bench_unstamp(const void *payload, uint64_t *seq, uint64_t *t_ns)
{
    memcpy(t_ns, payload, 8);
    memcpy(seq, (const char *) payload + 8, 8);
}

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (0 < p <= 100) of v[0..n), nearest rank; sorts v. */
static inline uint64_t bench_percentile(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bench_cmp_u64);
    size_t rank = (size_t) (p / 100.0 * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* Writes v[0..n) one a line to path (nothing if path is NULL). */
static inline void bench_dump(const char *path, const uint64_t *v, size_t n)
{
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%llu\n", (unsigned long long) v[i]);
    fclose(f);
}

/* "100B", "1KiB", "4KiB", "1500B". */
static inline const char *bench_size_label(size_t size, char *buf, size_t len)
{
    if (size >= 1024 && size % 1024 == 0)
        snprintf(buf, len, "%zuKiB", size / 1024);
    else
        snprintf(buf, len, "%zuB", size);
    return buf;
}

/* Parses a count or size with an optional k/K (x1000) or Ki (x1024)
 * suffix: "200k", "1Ki", "100". Exits on bad input. */
static inline uint64_t bench_parse_count(const char *prog, const char *what, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        goto bad;
    if (strcmp(end, "Ki") == 0 || strcmp(end, "KiB") == 0)
        v *= 1024;
    else if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0)
        v *= 1000;
    else if (strcmp(end, "B") != 0 && *end)
        goto bad;
    return v;
bad:
    fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
    exit(2);
}

#endif
