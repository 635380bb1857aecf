/* main.c — lgsp-gen: the deterministic data generator of the six department
 * systems, with ground truth. See docs/generator.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "noise.h"
#include "refdata.h"
#include "truth.h"
#include "util.h"
#include "views.h"
#include "world.h"

#ifndef LGSP_SHARED_DATA
#define LGSP_SHARED_DATA "../shared/data"
#endif

static void s_usage(FILE *f)
{
    fprintf(f,
        "usage: lgsp-gen --seed N --scale S --out DIR [options]\n"
        "  --seed N              seed of every random choice (same seed + scale = same bytes)\n"
        "  --scale S             1.0 = the merged city (~3 million people); 0.01 = ~30k\n"
        "  --out DIR             output folder (views in DIR/<view>/, truth in DIR/truth/)\n"
        "  --data DIR            reference data (default %s)\n"
        "  --noise FILE          noise rates, one 'kind=rate' or 'view.kind=rate' a line\n"
        "  --noise-rate A=R      one rate (repeatable; after --noise); '*' = every kind\n"
        "  --cmnd-born-before Y  old 9-digit CMND only for people born before Y (default 1990)\n"
        "  --cmnd-share X        share of them who have one (default 0.85)\n"
        "  --events-from Y       first year of the civil registers (default 1995)\n"
        "  --quiet               print only the final line\n"
        "views: qn-population dn-population qn-land dn-land qn-civil dn-civil\n"
        "noise kinds: typo no_diacritics nfd swap_name case day_month year_only missing_id\n"
        "  old_id stale_code old_residence duplicate both_provinces dup_delivery out_of_order\n"
        "  invalid values: bad_date bad_id_province bad_id_sex bad_code unknown_unit\n",
        LGSP_SHARED_DATA);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double s_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        die("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
    return v;
}

int main(int argc, char **argv)
{
    enum { O_SEED = 1, O_SCALE, O_OUT, O_DATA, O_NOISE, O_RATE, O_CMND_BEFORE, O_CMND_SHARE,
           O_EVENTS, O_QUIET, O_HELP };
    static const struct option opts[] = {
        { "seed", required_argument, 0, O_SEED }, { "scale", required_argument, 0, O_SCALE },
        { "out", required_argument, 0, O_OUT }, { "data", required_argument, 0, O_DATA },
        { "noise", required_argument, 0, O_NOISE }, { "noise-rate", required_argument, 0, O_RATE },
        { "cmnd-born-before", required_argument, 0, O_CMND_BEFORE },
        { "cmnd-share", required_argument, 0, O_CMND_SHARE },
        { "events-from", required_argument, 0, O_EVENTS }, { "quiet", no_argument, 0, O_QUIET },
        { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 } };
    world_config_t wc = { .seed = 0, .scale = 0, .cmnd_born_before = 1990, .cmnd_share = 0.85,
                          .event_from_year = 1995 };
    const char *out = NULL, *data = LGSP_SHARED_DATA;
    bool have_seed = false, quiet = false;
    noise_config_t nc;
    noise_config_defaults(&nc);
    char err[512];
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end)
                die("--seed: '%s' is not a non-negative integer", optarg);
            wc.seed = s;
            have_seed = true;
            break;
        }
        case O_SCALE: wc.scale = s_num("--scale", optarg, 1e-5, 4.0); break;
        case O_OUT: out = optarg; break;
        case O_DATA: data = optarg; break;
        case O_NOISE:
            if (noise_config_file(&nc, optarg, err, sizeof err) != 0)
                die("--noise %s", err);
            break;
        case O_RATE:
            if (noise_config_set(&nc, optarg, err, sizeof err) != 0)
                die("--noise-rate %s", err);
            break;
        case O_CMND_BEFORE: wc.cmnd_born_before = (int)s_num("--cmnd-born-before", optarg, 1900, 2030); break;
        case O_CMND_SHARE: wc.cmnd_share = s_num("--cmnd-share", optarg, 0, 1); break;
        case O_EVENTS: wc.event_from_year = (int)s_num("--events-from", optarg, 1950, 2025); break;
        case O_QUIET: quiet = true; break;
        case O_HELP: s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc || !have_seed || wc.scale <= 0 || !out) {
        s_usage(stderr);
        return 2;
    }
    double t0 = s_now();
    char truth_dir[4096];
    snprintf(truth_dir, sizeof truth_dir, "%s/truth", out);
    mkdirs(truth_dir);

    rng_t r;
    rng_seed(&r, wc.seed, 0);
    refdata_t rd;
    refdata_load(&rd, data, &r);
    world_t w;
    world_build(&w, &rd, &wc);
    if (!quiet)
        fprintf(stderr, "lgsp-gen: truth: %u persons (%u + %u living in 48 + 49), %u households, "
                "%u civil events, %u parcels (%.1f s)\n", w.np, w.living[0], w.living[1], w.nhh,
                w.nev, w.npc, s_now() - t0);
    uint64_t truth_rows = truth_write(&w, truth_dir);

    views_t v;
    memset(&v, 0, sizeof v);
    v.w = &w;
    v.rd = &rd;
    v.nc = &nc;
    v.out_dir = out;
    v.truth_dir = truth_dir;
    v.seed = wc.seed;
    nctx_t ctx[V__COUNT];
    for (int i = 0; i < V__COUNT; i++) {
        nctx_open(&ctx[i], (view_id_t)i, &nc, wc.seed, truth_dir, &rd);
        v.ctx[i] = &ctx[i];
    }
    void (*const fn[V__COUNT])(views_t *) = {
        view_qn_population, view_dn_population, view_qn_land, view_dn_land, view_qn_civil, view_dn_civil };
    uint64_t total = 0;
    for (int i = 0; i < V__COUNT; i++) {
        double ts = s_now();
        fn[i](&v);
        total += v.records[i];
        if (!quiet)
            fprintf(stderr, "lgsp-gen: %-14s %10llu records in %3llu file(s) (%.1f s)\n", view_name[i],
                    (unsigned long long)v.records[i], (unsigned long long)v.files[i], s_now() - ts);
    }
    nz_write_stats(v.ctx, truth_dir);

    /* deterministic summary (no times) beside the truth */
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", truth_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot create %s: %s", path, strerror(errno));
    fprintf(f, "{\"generator\":\"lgsp-gen\",\"format_version\":1,\"seed\":%llu,\"scale\":%.6g,"
            "\"reference_date\":\"2025-09-30\",\"merger_date\":\"2025-07-01\",\"events_from_year\":%d,"
            "\"cmnd_born_before\":%d,\"cmnd_share\":%.6g,\"persons\":%u,\"living\":{\"48\":%u,\"49\":%u},"
            "\"households\":%u,\"events\":%u,\"parcels\":%u,\"records\":{",
            (unsigned long long)wc.seed, wc.scale, wc.event_from_year, wc.cmnd_born_before,
            wc.cmnd_share, w.np, w.living[0], w.living[1], w.nhh, w.nev, w.npc);
    for (int i = 0; i < V__COUNT; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", view_name[i], (unsigned long long)v.records[i]);
    fprintf(f, "},\"records_total\":%llu,\"truth_rows\":%llu}\n", (unsigned long long)total,
            (unsigned long long)truth_rows);
    if (fclose(f) != 0)
        die("write %s: %s", path, strerror(errno));

    for (int i = 0; i < V__COUNT; i++)
        nctx_close(&ctx[i]);
    world_free(&w);
    refdata_free(&rd);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("generator scale %g: %.1f s, peak %ld MiB, %llu records\n", wc.scale, s_now() - t0,
           ru.ru_maxrss / 1024, (unsigned long long)total);
    return 0;
}
