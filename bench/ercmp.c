/* ercmp.c (bench) — nanoseconds per call of the comparison functions of
 * entity resolution (bus/ercmp.c) on name-length strings.
 *
 *   ercmp [NAMES_DIR] [PAIRS]
 *
 * Builds 512 full names (surname, middle name, given name: the first 200
 * rows of each CSV of NAMES_DIR, ../shared/data/names by default, combined
 * by a fixed-seed generator), decoded once as the engine does, then times
 * each function over PAIRS pairs (default 2 000 000) of two kinds: random
 * pairs (mostly different names, what a block of the same surname and
 * birth year holds) and near pairs (a name and a copy with one edit, what a
 * true match with a typo looks like). 512 names stay in the caches, so the
 * figures are of the functions, not of memory. One thread; CPU time (user
 * + system) per call, so that other load on the host counts less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "ercmp.h"

#define NAMES 512
#define PARTS 200
#define MAXCP 64

typedef struct {
    uint32_t cp[MAXCP];
    size_t n;
} name_t;

static uint64_t s_rng = 0x2545f4914f6cdd1dULL;
static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t) (s_rng >> 16);
}

/* The first column of the first PARTS rows of dir/file (header skipped). */
static size_t s_column(const char *dir, const char *file, char parts[][64])
{
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ercmp: cannot open %s\n", path);
        exit(1);
    }
    size_t n = 0;
    if (fgets(line, sizeof line, f))
        while (n < PARTS && fgets(line, sizeof line, f)) {
            line[strcspn(line, ",\r\n")] = '\0';
            line[63] = '\0';   /* names are far shorter */
            memcpy(parts[n++], line, 64);
        }
    fclose(f);
    return n;
}

static volatile double s_sink;

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NAMES_DATA_DIR;
    size_t pairs = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
    static char sur[PARTS][64], mid[PARTS][64], giv[PARTS][64];
    size_t ns = s_column(dir, "surnames.csv", sur);
    size_t nm = s_column(dir, "middle_names.csv", mid);
    size_t ng = s_column(dir, "given_names.csv", giv);
    static name_t names[NAMES], near[NAMES];
    size_t total_cp = 0;
    for (size_t i = 0; i < NAMES; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s %s %s", sur[s_rand() % ns], mid[s_rand() % nm],
                 giv[s_rand() % ng]);
        names[i].n = ercmp_decode(full, strlen(full), names[i].cp, MAXCP);
        if (names[i].n > MAXCP)
            names[i].n = MAXCP;
        total_cp += names[i].n;
        /* A near copy: one substitution, deletion or transposition. */
        near[i] = names[i];
        size_t p = s_rand() % (near[i].n - 1);
        switch (s_rand() % 3) {
        case 0: near[i].cp[p] = 'x'; break;
        case 1:
            memmove(near[i].cp + p, near[i].cp + p + 1, (near[i].n - p - 1) * sizeof(uint32_t));
            near[i].n--;
            break;
        default: {
            uint32_t t = near[i].cp[p];
            near[i].cp[p] = near[i].cp[p + 1];
            near[i].cp[p + 1] = t;
        }
        }
    }
    printf("ercmp: %d names, mean %.1f code points, %zu pairs per figure\n", NAMES,
           (double) total_cp / NAMES, pairs);

    static const char *const kinds[] = {"random", "near"};
    for (int kind = 0; kind < 2; kind++) {
        const name_t *other = kind == 0 ? names : near;
        double sum = 0;
        uint64_t t0 = bench_cpu_ns();
        for (size_t k = 0; k < pairs; k++) {
            const name_t *a = &names[k % NAMES], *b = &other[(kind == 0 ? k * 2654435761u : k) % NAMES];
            sum += ercmp_jaro_winkler(a->cp, a->n, b->cp, b->n);
        }
        uint64_t t1 = bench_cpu_ns();
        for (size_t k = 0; k < pairs; k++) {
            const name_t *a = &names[k % NAMES], *b = &other[(kind == 0 ? k * 2654435761u : k) % NAMES];
            sum += ercmp_damerau(a->cp, a->n, b->cp, b->n, 2);
        }
        uint64_t t2 = bench_cpu_ns();
        for (size_t k = 0; k < pairs; k++) {
            const name_t *a = &names[k % NAMES], *b = &other[(kind == 0 ? k * 2654435761u : k) % NAMES];
            sum += ercmp_damerau(a->cp, a->n, b->cp, b->n, 64);
        }
        uint64_t t3 = bench_cpu_ns();
        for (size_t k = 0; k < pairs; k++) {
            const name_t *a = &names[k % NAMES], *b = &other[(kind == 0 ? k * 2654435761u : k) % NAMES];
            sum += ercmp_tokens_jw(a->cp, a->n, b->cp, b->n);
        }
        uint64_t t4 = bench_cpu_ns();
        s_sink = sum;
        printf("%-6s pairs: jaro_winkler %.0f ns, damerau(max 2) %.0f ns, damerau(max 64) %.0f ns, "
               "tokens_jw %.0f ns\n", kinds[kind], (double) (t1 - t0) / (double) pairs,
               (double) (t2 - t1) / (double) pairs, (double) (t3 - t2) / (double) pairs,
               (double) (t4 - t3) / (double) pairs);
    }

    /* Phonetic key and date level, per call. */
    static const char *const parts[] = {"nguyen", "tran", "phuong", "quynh", "giang", "thuy",
                                        "anh", "hoang", "trinh", "xuan", "ngoc", "john"};
    char out[64];
    size_t len = 0;
    uint64_t t0 = bench_cpu_ns();
    for (size_t k = 0; k < pairs; k++)
        len += ercmp_vn_phonetic(parts[k % 12], out, sizeof out);
    uint64_t t1 = bench_cpu_ns();
    ercmp_date_t d1, d2;
    ercmp_date_parse("1980-05-17", &d1);
    ercmp_date_parse("1980-07-05", &d2);
    for (size_t k = 0; k < pairs; k++) {
        d2.d = (int8_t) (1 + k % 28);
        len += ercmp_date_level(d1, d2);
    }
    uint64_t t2 = bench_cpu_ns();
    s_sink = (double) len;
    printf("vn_phonetic %.0f ns, date_level %.1f ns\n", (double) (t1 - t0) / (double) pairs,
           (double) (t2 - t1) / (double) pairs);
    return 0;
}
