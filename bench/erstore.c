/* erstore.c — erstore_assign at full scale (issue 6, "Kept in LMDB").
 *
 * Makes N records (default 3,000,000) from five sources, in a shuffled
 * order, in about N * 5/6 clusters (one in five entities has two records),
 * then in a fresh store (a folder under /tmp, removed at the end, or -d DIR
 * kept):
 *   run 1   the first assignment: every cluster gets a new id
 *   run 2   1% of the records changed: half split off into clusters of
 *           their own, half moved into another cluster
 *   run 3   the same clustering again (nothing changes)
 * and prints the wall time, records/s, CPU time (the machine may be shared:
 * wall time alone overstates) and the counts of each run, and the peak RSS.
 *
 *   bench/erstore [-n RECORDS] [-d DIR] */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "erstore.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static double s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t s_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static int s_run(erstore_t *st, const char *label, size_t n, char **ids, uint32_t *cl, size_t ncl)
{
    char **ents = calloc(ncl, sizeof *ents);
    erstore_assign_stats_t stats;
    double t0 = s_now(), c0 = s_cpu();
    int rc = erstore_assign(st, "person", n, (const char *const *) ids, cl, ncl, ents, &stats);
    double dt = s_now() - t0, dc = s_cpu() - c0;
    if (rc) {
        fprintf(stderr, "erstore: %s: %s\n", label, erstore_error());
        free(ents);
        return 1;
    }
    printf("%-26s %zu records %zu clusters: %.2f s wall (%.0f records/s), %.2f s CPU; "
           "kept %zu created %zu retired %zu moved %zu\n", label, n, ncl, dt, n / dt, dc,
           stats.kept, stats.created, stats.retired, stats.moved);
    for (size_t c = 0; c < ncl; c++)
        free(ents[c]);
    free(ents);
    return 0;
}

/* Renumbers clusters 0..k-1 in order of first use; returns k. */
static size_t s_compact(uint32_t *cl, size_t n, size_t ncl)
{
    uint32_t *map = malloc(ncl * sizeof *map);
    memset(map, 0xff, ncl * sizeof *map);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (map[cl[i]] == UINT32_MAX)
            map[cl[i]] = (uint32_t) k++;
        cl[i] = map[cl[i]];
    }
    free(map);
    return k;
}

int main(int argc, char **argv)
{
    size_t n = 3000000;
    const char *dir = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:d:")) != -1) {
        if (opt == 'n')
            n = strtoul(optarg, NULL, 10);
        else if (opt == 'd')
            dir = optarg;
        else {
            fprintf(stderr, "usage: %s [-n RECORDS] [-d DIR]\n", argv[0]);
            return 2;
        }
    }
    char tmp[] = "/tmp/erstore-bench-XXXXXX";
    bool own = !dir;
    if (own && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }
    static const char *const sources[] = { "qn-population", "dn-population", "qn-land", "dn-land", "dn-civil" };
    char **ids = malloc(n * sizeof *ids);
    uint32_t *cl = malloc(n * sizeof *cl);
    /* entity e has records 2e' .. : one in five entities two records */
    size_t ncl = 0;
    for (size_t i = 0; i < n;) {
        size_t k = (ncl % 5 == 0 && i + 1 < n) ? 2 : 1;
        for (size_t j = 0; j < k; j++, i++)
            cl[i] = (uint32_t) ncl;
        ncl++;
    }
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s:%09zu", sources[i % 5], i);
        ids[i] = strdup(buf);
    }
    /* the engine hands records in its own order, not sorted */
    for (size_t i = n; i > 1; i--) {
        size_t j = s_rand() % i;
        char *x = ids[i - 1];
        ids[i - 1] = ids[j];
        ids[j] = x;
        uint32_t y = cl[i - 1];
        cl[i - 1] = cl[j];
        cl[j] = y;
    }
    char err[512];
    erstore_t *st = erstore_open(dir, err, sizeof err);
    if (!st) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = s_run(st, "run 1 (first assignment)", n, ids, cl, ncl);
    /* 1% changed */
    size_t changed = n / 100;
    uint32_t *cl2 = malloc(n * sizeof *cl2);
    memcpy(cl2, cl, n * sizeof *cl2);
    size_t ncl2 = ncl;
    for (size_t j = 0; j < changed; j++) {
        size_t i = s_rand() % n;
        cl2[i] = j % 2 ? (uint32_t) ncl2++ : (uint32_t) (s_rand() % ncl);
    }
    ncl2 = s_compact(cl2, n, ncl2);
    if (!rc) rc = s_run(st, "run 2 (1% changed)", n, ids, cl2, ncl2);
    if (!rc) rc = s_run(st, "run 3 (same clustering)", n, ids, cl2, ncl2);
    erstore_destroy(&st);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld MiB\n", ru.ru_maxrss / 1024);
    if (own) {
        char p[600];
        snprintf(p, sizeof p, "%s/data.mdb", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/lock.mdb", dir);
        unlink(p);
        rmdir(dir);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(cl);
    free(cl2);
    return rc;
}
