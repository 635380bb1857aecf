/* bus_lgsp.c — the bus benchmark against lgspd, through the C client
 * (include/lgsp/client.h); bus_jetstream.c measures the peer the same way
 * (see docs/benchmarks.md).
 *
 *   bus_lgsp -e tcp://127.0.0.1:PORT [-s SIZE] [-n COUNT] [-d SECONDS]
 *            [-r RATE] [-P PUBLISHERS] [-C CONSUMERS] [-w CREDIT]
 *            [-x tput|lat|both] [-t TOPIC_PREFIX]
 *
 * Every publisher and every consumer is one thread with its own session
 * (an lgsp_client_t is single-threaded), as separate programs would be.
 * Each phase uses a topic of its own and one consumer group on it.
 *
 * (a) throughput: COUNT messages of SIZE bytes, split between the
 *     publishers, are published (each acknowledged by PUBOK only after its
 *     group commit is fsync'ed) while the consumers receive and ack them;
 *     the figure is COUNT over the time from the first publish until every
 *     publish is answered, every message delivered, and the broker reports
 *     the group with no message unacknowledged (ADMIN topics: lag 0).
 * (b) latency: one publisher sends at RATE msg/s (default 10% of the rate
 *     of (a)) for SECONDS, each message sent at once; every payload carries
 *     its send time (CLOCK_MONOTONIC) and the consumers record now - send
 *     time on delivery.
 *
 * Prints, for SIZE 1024:
 *   lgsp 1KiB: 123456 msg/s, 126.4 MB/s (...)
 *   lgsp 1KiB latency @10%: p50 0.41 ms, p99 0.92 ms (...) */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lgsp/client.h"
#include "bench_util.h"

#define WAIT_MS     120000      /* the longest anything may take */
#define MAX_THREADS 16

static const char *prog = "bus_lgsp";

typedef struct {
    const char *endpoint;
    char        topic[128];
    size_t      size;
    uint64_t    count;          /* messages of this phase */
    unsigned    publishers, consumers, credit;
    uint64_t    rate;           /* 0: as fast as possible */
    /* shared during the phase */
    pthread_barrier_t ready;    /* every session open, every SUB answered */
    uint64_t    t0;             /* set by the main thread before the barrier */
    atomic_uint_fast64_t received, redelivered, pub_failed, pub_dup;
    atomic_uint_fast64_t last_ns;   /* when the phase's last delivery came */
    atomic_uint_fast64_t pub_done_ns;
    atomic_uint workers_left;    /* threads not finished */
    atomic_bool done;
    uint64_t   *lat;            /* per delivery (ns), NULL in throughput */
} phase_t;

typedef struct {
    phase_t *ph;
    unsigned index;
    uint64_t first, n;          /* publishers: their share of the sequence */
} worker_t;

static lgsp_client_t *s_connect(const char *endpoint, const char *name)
{
    char err[256];
    lgsp_client_options_t o = { .endpoint = endpoint, .name = name, .timeout_ms = 30000 };
    lgsp_client_t *c = lgsp_client_new(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s: %s: %s\n", prog, endpoint, err);
        exit(1);
    }
    return c;
}

static void s_on_publish(void *arg, const char *topic, const char *id, int code, uint64_t offset,
                         bool dup, const char *error_text)
{
    phase_t *ph = arg;
    if (code != 0) {
        if (atomic_fetch_add(&ph->pub_failed, 1) == 0)
            fprintf(stderr, "%s: publish %s refused: %d %s\n", prog, id, code, error_text ? error_text : "");
    } else if (dup) {
        atomic_fetch_add(&ph->pub_dup, 1);
    }
}

static void *s_publisher(void *arg)
{
    worker_t *w = arg;
    phase_t *ph = w->ph;
    char name[32];
    snprintf(name, sizeof name, "bench-pub-%u", w->index);
    lgsp_client_t *c = s_connect(ph->endpoint, name);
    lgsp_client_on_publish(c, s_on_publish, ph);
    char *buf = calloc(1, ph->size);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    pthread_barrier_wait(&ph->ready);
    uint64_t interval = ph->rate ? 1000000000u / ph->rate : 0, start = ph->t0 + 1000000u;
    lgsp_delivery_t none;
    for (uint64_t i = 0; i < w->n; i++) {
        if (interval) {
            uint64_t at = start + i * interval;
            if (bench_now_ns() < at)
                bench_sleep_until_ns(at);
        }
        bench_stamp(buf, w->first + i, bench_now_ns());
        if (lgsp_client_publish(c, ph->topic, NULL, NULL, 0, NULL, buf, ph->size) != 0) {
            fprintf(stderr, "%s: publish: %s\n", prog, lgsp_client_error(c));
            exit(1);
        }
        /* Paced: send it now rather than with the next batch (receive with
         * no wait pushes out what is queued and reads the answers). */
        if (interval && lgsp_client_receive(c, &none, 0) < 0) {
            fprintf(stderr, "%s: %s\n", prog, lgsp_client_error(c));
            exit(1);
        }
    }
    int failed = lgsp_client_flush(c, WAIT_MS);
    if (failed < 0) {
        fprintf(stderr, "%s: flush: %s\n", prog, lgsp_client_error(c));
        exit(1);
    }
    uint64_t now = bench_now_ns(), prev = atomic_load(&ph->pub_done_ns);
    while (now > prev && !atomic_compare_exchange_weak(&ph->pub_done_ns, &prev, now))
        ;
    atomic_fetch_sub(&ph->workers_left, 1);
    lgsp_client_destroy(&c);
    free(buf);
    return NULL;
}

static void *s_consumer(void *arg)
{
    worker_t *w = arg;
    phase_t *ph = w->ph;
    char name[32];
    snprintf(name, sizeof name, "bench-sub-%u", w->index);
    lgsp_client_t *c = s_connect(ph->endpoint, name);
    if (lgsp_client_subscribe(c, ph->topic, "bench", ph->credit, "earliest") != 0) {
        fprintf(stderr, "%s: subscribe %s: %s\n", prog, ph->topic, lgsp_client_error(c));
        exit(1);
    }
    pthread_barrier_wait(&ph->ready);
    lgsp_delivery_t d;
    while (!atomic_load_explicit(&ph->done, memory_order_relaxed)) {
        int rc = lgsp_client_receive(c, &d, 5);
        if (rc < 0) {
            fprintf(stderr, "%s: receive: %s\n", prog, lgsp_client_error(c));
            exit(1);
        }
        if (rc == 0)
            continue;
        uint64_t now = bench_now_ns(), seq = 0, sent = now;
        if (d.payload_len >= BENCH_STAMP_BYTES)
            bench_unstamp(d.payload, &seq, &sent);
        if (d.attempt > 1)
            atomic_fetch_add(&ph->redelivered, 1);
        if (lgsp_client_ack(c, &d) != 0) {
            fprintf(stderr, "%s: ack: %s\n", prog, lgsp_client_error(c));
            exit(1);
        }
        uint64_t n = atomic_fetch_add(&ph->received, 1) + 1;
        if (ph->lat && n <= ph->count)
            ph->lat[n - 1] = now - sent;
        if (n == ph->count) {
            atomic_store(&ph->last_ns, now);
            atomic_store(&ph->done, true);
        }
    }
    /* Sends the acks still batched in the client. */
    if (lgsp_client_flush(c, WAIT_MS) < 0)
        fprintf(stderr, "%s: flush: %s\n", prog, lgsp_client_error(c));
    atomic_fetch_sub(&ph->workers_left, 1);
    lgsp_client_destroy(&c);
    return NULL;
}

/* Asks the broker until the group has nothing unacknowledged; returns
 * false if the answer cannot be read (an older broker). */
static bool s_wait_acked(lgsp_client_t *admin, const char *topic)
{
    uint64_t deadline = bench_now_ns() + (uint64_t) WAIT_MS * 1000000u;
    while (bench_now_ns() < deadline) {
        char *text = NULL;
        if (lgsp_client_admin(admin, "topics", 0, NULL, &text) != 0) {
            fprintf(stderr, "%s: admin topics: %s\n", prog, lgsp_client_error(admin));
            return false;
        }
        json_t *root = json_loads(text, 0, NULL);
        free(text);
        if (!json_is_array(root)) {
            json_decref(root);
            return false;
        }
        bool found = false, settled = false;
        size_t i;
        json_t *t;
        json_array_foreach(root, i, t) {
            if (strcmp(json_string_value(json_object_get(t, "name")) ?: "", topic) != 0)
                continue;
            size_t j;
            json_t *g;
            json_array_foreach(json_object_get(t, "groups"), j, g) {
                if (strcmp(json_string_value(json_object_get(g, "name")) ?: "", "bench") != 0)
                    continue;
                found = true;
                settled = json_integer_value(json_object_get(g, "lag")) == 0
                          && json_integer_value(json_object_get(g, "in_flight")) == 0;
            }
        }
        json_decref(root);
        if (!found)
            return false;
        if (settled)
            return true;
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "%s: the group still has unacknowledged messages after %d s\n", prog, WAIT_MS / 1000);
    exit(1);
}

/* Runs one phase; returns its duration in ns, and in *cpu_ns the CPU time
 * this process used meanwhile. */
static uint64_t s_run_phase(phase_t *ph, bool *confirmed, uint64_t *cpu_ns)
{
    uint64_t cpu0 = bench_cpu_ns();
    unsigned np = ph->publishers, nc = ph->consumers;
    pthread_t th[2 * MAX_THREADS];
    worker_t w[2 * MAX_THREADS];
    pthread_barrier_init(&ph->ready, NULL, np + nc + 1);
    atomic_store(&ph->workers_left, np + nc);
    lgsp_client_t *admin = s_connect(ph->endpoint, "bench-admin");
    uint64_t first = 0;
    for (unsigned i = 0; i < np + nc; i++) {
        w[i] = (worker_t) { .ph = ph, .index = i < np ? i : i - np };
        if (i < np) {
            w[i].first = first;
            w[i].n = ph->count / np + (i < ph->count % np);
            first += w[i].n;
        }
        if (pthread_create(&th[i], NULL, i < np ? s_publisher : s_consumer, &w[i]) != 0) {
            fprintf(stderr, "%s: cannot start a thread\n", prog);
            exit(1);
        }
    }
    /* The clock starts before the workers are let go, so no publish
     * precedes it; the barrier makes t0 visible to them. */
    ph->t0 = bench_now_ns();
    pthread_barrier_wait(&ph->ready);
    /* Keep the admin session alive (heartbeats) while the workers run. */
    lgsp_delivery_t none;
    while (atomic_load(&ph->workers_left) > 0)
        if (lgsp_client_receive(admin, &none, 50) < 0) {
            fprintf(stderr, "%s: admin session: %s\n", prog, lgsp_client_error(admin));
            exit(1);
        }
    uint64_t end = atomic_load(&ph->last_ns);
    if (atomic_load(&ph->pub_done_ns) > end)
        end = atomic_load(&ph->pub_done_ns);
    *confirmed = s_wait_acked(admin, ph->topic);
    if (*confirmed)
        end = bench_now_ns();
    *cpu_ns = bench_cpu_ns() - cpu0;
    for (unsigned i = 0; i < np + nc; i++)
        pthread_join(th[i], NULL);
    lgsp_client_destroy(&admin);
    pthread_barrier_destroy(&ph->ready);
    if (atomic_load(&ph->pub_failed)) {
        fprintf(stderr, "%s: %" PRIu64 " publishes refused\n", prog, (uint64_t) atomic_load(&ph->pub_failed));
        exit(1);
    }
    return end - ph->t0;
}

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: %s -e ENDPOINT [-s SIZE] [-n COUNT] [-d SECONDS] [-r RATE] [-P PUBLISHERS]\n"
        "                [-C CONSUMERS] [-w CREDIT] [-x tput|lat|both] [-t TOPIC_PREFIX] [-o FILE]\n"
        "  -e ENDPOINT     lgspd's bus endpoint, tcp://127.0.0.1:PORT (security.mode plain)\n"
        "  -s SIZE         payload bytes (default 1024; at least %d)\n"
        "  -n COUNT        messages of the throughput phase (default 200k)\n"
        "  -d SECONDS      length of the latency phase (default 3)\n"
        "  -r RATE         msg/s of the latency phase (default 10%% of the measured peak;\n"
        "                  required with -x lat)\n"
        "  -P PUBLISHERS   publishing sessions (threads) in the throughput phase (default 1)\n"
        "  -C CONSUMERS    consuming sessions (threads), one group (default 1)\n"
        "  -w CREDIT       credit of each consumer (default 8192)\n"
        "  -x WHAT         tput, lat or both (default)\n"
        "  -t PREFIX       topic name prefix (default bench)\n"
        "  -o FILE         write the latency phase's latencies (ns, in delivery order) to FILE\n",
        prog, BENCH_STAMP_BYTES);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *what = "both", *prefix = "bench", *dump = NULL;
    uint64_t size = 1024, count = 200000, rate = 0, publishers = 1, consumers = 1, credit = 8192;
    double seconds = 3.0;
    for (int c; (c = getopt(argc, argv, "e:s:n:d:r:P:C:w:x:t:o:h")) != -1;) {
        switch (c) {
        case 'e': endpoint = optarg; break;
        case 's': size = bench_parse_count(prog, "size", optarg); break;
        case 'n': count = bench_parse_count(prog, "count", optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'r': rate = bench_parse_count(prog, "rate", optarg); break;
        case 'P': publishers = bench_parse_count(prog, "publishers", optarg); break;
        case 'C': consumers = bench_parse_count(prog, "consumers", optarg); break;
        case 'w': credit = bench_parse_count(prog, "credit", optarg); break;
        case 'x': what = optarg; break;
        case 't': prefix = optarg; break;
        case 'o': dump = optarg; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    bool do_tput = strcmp(what, "tput") == 0 || strcmp(what, "both") == 0;
    bool do_lat = strcmp(what, "lat") == 0 || strcmp(what, "both") == 0;
    if (!endpoint || optind != argc || size < BENCH_STAMP_BYTES || size > (64u << 20) || count == 0
        || (!do_tput && !do_lat) || (!do_tput && rate == 0) || seconds <= 0
        || publishers < 1 || publishers > MAX_THREADS || consumers < 1 || consumers > MAX_THREADS
        || credit < 1 || credit > 1000000) {
        s_usage(stderr);
        return 2;
    }
    char label[32];
    bench_size_label(size, label, sizeof label);
    double peak = 0;
    if (do_tput) {
        phase_t *ph = calloc(1, sizeof *ph);
        *ph = (phase_t) { .endpoint = endpoint, .size = size, .count = count,
                          .publishers = (unsigned) publishers, .consumers = (unsigned) consumers,
                          .credit = (unsigned) credit };
        snprintf(ph->topic, sizeof ph->topic, "%s.%s.%d.t", prefix, label, (int) getpid());
        bool confirmed;
        uint64_t cpu, ns = s_run_phase(ph, &confirmed, &cpu);
        double secs = (double) ns / 1e9;
        peak = (double) count / secs;
        printf("lgsp %s: %.0f msg/s, %.1f MB/s (%" PRIu64 " msgs in %.2f s; %" PRIu64 " publisher%s, %" PRIu64
               " consumer%s, credit %" PRIu64 "; client %.0f%% CPU%s%s)\n", label, peak, peak * (double) size / 1e6,
               count, secs, publishers, publishers > 1 ? "s" : "", consumers, consumers > 1 ? "s" : "", credit,
               100.0 * (double) cpu / (double) ns,
               confirmed ? "" : "; consumer acks not confirmed",
               atomic_load(&ph->redelivered) || atomic_load(&ph->pub_dup) ? "; REDELIVERIES OR DUPLICATES" : "");
        fflush(stdout);
        free(ph);
    }
    if (do_lat) {
        if (rate == 0)
            rate = (uint64_t) (peak / 10.0 + 0.5);
        if (rate == 0)
            rate = 1;
        uint64_t n = (uint64_t) ((double) rate * seconds + 0.5);
        if (n < 100)
            n = 100;
        phase_t *ph = calloc(1, sizeof *ph);
        uint64_t *lat = calloc(n, sizeof *lat);
        if (!ph || !lat) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return 1;
        }
        *ph = (phase_t) { .endpoint = endpoint, .size = size, .count = n, .publishers = 1,
                          .consumers = (unsigned) consumers, .credit = (unsigned) credit, .rate = rate,
                          .lat = lat };
        snprintf(ph->topic, sizeof ph->topic, "%s.%s.%d.l", prefix, label, (int) getpid());
        bool confirmed;
        uint64_t cpu, ns = s_run_phase(ph, &confirmed, &cpu);
        bench_dump(dump, lat, n);
        uint64_t p50 = bench_percentile(lat, n, 50), p99 = bench_percentile(lat, n, 99);
        printf("lgsp %s latency @10%%: p50 %.2f ms, p99 %.2f ms (%" PRIu64 " msgs at %" PRIu64
               " msg/s; max %.2f ms; client %.0f%% CPU)\n", label, (double) p50 / 1e6, (double) p99 / 1e6, n,
               rate, (double) lat[n - 1] / 1e6, 100.0 * (double) cpu / (double) ns);
        free(lat);
        free(ph);
    }
    return 0;
}
