/* bus_jetstream.c — the peer of the bus benchmark: NATS JetStream (file
 * storage) driven through libnats, measured exactly as bus_lgsp.c measures
 * lgspd (see docs/benchmarks.md).
 *
 *   bus_jetstream -u nats://127.0.0.1:PORT [-s SIZE] [-n COUNT] [-d SECONDS]
 *                 [-r RATE] [-a each|all] [-p MAX_PENDING] [-x tput|lat|both]
 *
 * (a) throughput: COUNT messages of SIZE bytes are published with
 *     js_PublishAsync (at most MAX_PENDING publish acks outstanding) while a
 *     durable push consumer with explicit acks receives and acks them; the
 *     figure is COUNT over the time from the first publish to the moment all
 *     publishes are acked by the stream and the last message is delivered
 *     and its ack confirmed (natsMsg_AckSync).
 * (b) latency: messages are published at RATE msg/s (default 10% of the
 *     rate of (a)) for SECONDS; each carries its send time (CLOCK_MONOTONIC)
 *     and the consumer records now - send time.
 *
 * Prints, for SIZE 1024:
 *   jetstream 1KiB: 81234 msg/s, 83.2 MB/s (...)
 *   jetstream 1KiB latency @10%: p50 0.41 ms, p99 1.92 ms (...) */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bench_util.h"

#define ACK_ALL_EVERY    256       /* ack=all: ack every this many messages */
#define MAX_ACK_PENDING  65536     /* consumer: unacked messages in flight */
#define WAIT_MS          120000    /* the longest we wait for anything */
#define MAX_PUBLISHERS   16

typedef struct {
    /* set by the main thread before a phase */
    uint64_t  base;                /* deliveries before this phase */
    uint64_t  expect;              /* deliveries at the end of this phase */
    uint64_t *lat;                 /* per-message latency (ns) or NULL */
    size_t    lat_cap;
    bool      ack_all;
    /* written by the delivery thread */
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t bad;
    atomic_uint_fast64_t pub_errors;
    uint64_t  last_ns;             /* when the last message of the phase was acked */
    bool      done;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
} run_t;

static const char *prog = "bus_jetstream";

static void s_die_nats(const char *what, natsStatus s, jsErrCode jerr)
{
    fprintf(stderr, "%s: %s: %s (jetstream error %d)\n", prog, what, natsStatus_GetText(s), (int) jerr);
    const char *last = nats_GetLastError(NULL);
    if (last && *last)
        fprintf(stderr, "%s: %s\n", prog, last);
    exit(1);
}

static void s_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    run_t *r = arg;
    uint64_t now = bench_now_ns();
    int len = natsMsg_GetDataLength(msg);
    uint64_t seq = 0, sent = now;
    if (len >= BENCH_STAMP_BYTES)
        bench_unstamp(natsMsg_GetData(msg), &seq, &sent);
    else
        atomic_fetch_add(&r->bad, 1);
    uint64_t n = atomic_load_explicit(&r->received, memory_order_relaxed) + 1;
    if (r->lat && n > r->base && n - r->base <= r->lat_cap)
        r->lat[n - r->base - 1] = now - sent;
    atomic_store(&r->received, n);
    if (n == r->expect) {
        /* The last message of the phase: its synchronous ack confirms that
         * the server has processed every ack before it. */
        jsErrCode jerr = 0;
        natsStatus s = natsMsg_AckSync(msg, NULL, &jerr);
        if (s != NATS_OK)
            s_die_nats("ack of the last message", s, jerr);
        pthread_mutex_lock(&r->mu);
        r->last_ns = bench_now_ns();
        r->done = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
    } else if (!r->ack_all || n % ACK_ALL_EVERY == 0) {
        natsMsg_Ack(msg, NULL);
    }
    natsMsg_Destroy(msg);
}

static void s_on_pub_error(jsCtx *js, jsPubAckErr *pae, void *arg)
{
    run_t *r = arg;
    if (atomic_fetch_add(&r->pub_errors, 1) == 0)
        fprintf(stderr, "%s: publish failed: %s (%d %s)\n", prog, natsStatus_GetText(pae->Err),
                (int) pae->ErrCode, pae->ErrText ? pae->ErrText : "");
}

static void s_publish(jsCtx *js, const char *subject, char *buf, size_t size, uint64_t seq)
{
    for (;;) {
        bench_stamp(buf, seq, bench_now_ns());
        natsStatus s = js_PublishAsync(js, subject, buf, (int) size, NULL);
        if (s == NATS_OK)
            return;
        if (s != NATS_TIMEOUT)     /* NATS_TIMEOUT: stalled on MAX_PENDING longer than StallWait */
            s_die_nats("js_PublishAsync", s, 0);
    }
}

/* Waits until every publish of js is acked by the stream; returns when. */
static uint64_t s_pub_complete(jsCtx *js)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = WAIT_MS;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK)
        s_die_nats("js_PublishAsyncComplete", s, 0);
    return bench_now_ns();
}

/* Waits until the consumer has had (and acked) the phase's last message;
 * returns when that was. */
static uint64_t s_wait_delivered(run_t *r)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) != 0) {
            pthread_mutex_unlock(&r->mu);
            fprintf(stderr, "%s: timed out: %" PRIu64 " of %" PRIu64 " messages delivered\n", prog,
                    (uint64_t) atomic_load(&r->received) - r->base, r->expect - r->base);
            exit(1);
        }
    }
    uint64_t end = r->last_ns;
    pthread_mutex_unlock(&r->mu);
    if (atomic_load(&r->pub_errors)) {
        fprintf(stderr, "%s: %" PRIu64 " publishes failed\n", prog, (uint64_t) atomic_load(&r->pub_errors));
        exit(1);
    }
    return end;
}

static void s_begin_phase(run_t *r, uint64_t count, uint64_t *lat)
{
    pthread_mutex_lock(&r->mu);
    r->base = atomic_load(&r->received);
    r->expect = r->base + count;
    r->lat = lat;
    r->lat_cap = lat ? count : 0;
    r->done = false;
    pthread_mutex_unlock(&r->mu);
}

typedef struct {
    natsOptions    *opts;
    natsConnection *nc;
    jsCtx          *js;
} conn_t;

static void s_connect(conn_t *c, const char *url, bool asap, uint64_t max_pending, run_t *r)
{
    natsStatus s = natsOptions_Create(&c->opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(c->opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(c->opts, "lgsp-bench");
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(c->opts, asap);
    /* Never drop deliveries as a "slow consumer": MAX_ACK_PENDING bounds them. */
    if (s == NATS_OK)
        s = natsOptions_SetMaxPendingMsgs(c->opts, 4 * MAX_ACK_PENDING);
    if (s == NATS_OK)
        s = natsConnection_Connect(&c->nc, c->opts);
    if (s != NATS_OK)
        s_die_nats(url, s, 0);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    jo.PublishAsync.MaxPending = (int64_t) max_pending;
    jo.PublishAsync.StallWait = 1000;
    jo.PublishAsync.ErrHandler = s_on_pub_error;
    jo.PublishAsync.ErrHandlerClosure = r;
    if ((s = natsConnection_JetStream(&c->js, c->nc, &jo)) != NATS_OK)
        s_die_nats("JetStream context", s, 0);
}

/* One publisher of the throughput phase: its share of the messages, as
 * fast as the pending-ack bound lets it. */
typedef struct {
    conn_t     *conn;
    const char *subject;
    size_t      size;
    uint64_t    first, n;
    uint64_t    done_ns;
} publisher_t;

static void *s_publisher(void *arg)
{
    publisher_t *p = arg;
    char *buf = calloc(1, p->size);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    for (uint64_t i = 0; i < p->n; i++)
        s_publish(p->conn->js, p->subject, buf, p->size, p->first + i);
    p->done_ns = s_pub_complete(p->conn->js);
    free(buf);
    return NULL;
}

static void s_disconnect(conn_t *c)
{
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
    natsOptions_Destroy(c->opts);
}

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: %s -u URL [-s SIZE] [-n COUNT] [-d SECONDS] [-r RATE] [-a each|all]\n"
        "                     [-p MAX_PENDING] [-P PUBLISHERS] [-x tput|lat|both] [-o FILE]\n"
        "  -u URL          nats://127.0.0.1:PORT of a nats-server started with -js\n"
        "  -s SIZE         payload bytes (default 1024; at least %d)\n"
        "  -n COUNT        messages of the throughput phase (default 200k)\n"
        "  -d SECONDS      length of the latency phase (default 3)\n"
        "  -r RATE         msg/s of the latency phase (default 10%% of the measured peak;\n"
        "                  required with -x lat)\n"
        "  -a each|all     consumer acks: AckExplicit, one ack per message (each) or\n"
        "                  AckAll, one ack per %d messages (all; default)\n"
        "  -p MAX_PENDING  async publishes awaiting their ack, per publisher (default 16384)\n"
        "  -P PUBLISHERS   publishing connections (threads) in the throughput phase (default 1)\n"
        "  -x WHAT         tput, lat or both (default)\n"
        "  -o FILE         write the latency phase's latencies (ns, in delivery order) to FILE\n",
        prog, BENCH_STAMP_BYTES, ACK_ALL_EVERY);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *what = "both", *dump = NULL;
    uint64_t size = 1024, count = 200000, rate = 0, max_pending = 16384, publishers = 1;
    double seconds = 3.0;
    bool ack_all = true;
    for (int c; (c = getopt(argc, argv, "u:s:n:d:r:a:p:P:x:o:h")) != -1;) {
        switch (c) {
        case 'u': url = optarg; break;
        case 's': size = bench_parse_count(prog, "size", optarg); break;
        case 'n': count = bench_parse_count(prog, "count", optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'r': rate = bench_parse_count(prog, "rate", optarg); break;
        case 'a':
            if (strcmp(optarg, "each") == 0)
                ack_all = false;
            else if (strcmp(optarg, "all") == 0)
                ack_all = true;
            else {
                s_usage(stderr);
                return 2;
            }
            break;
        case 'p': max_pending = bench_parse_count(prog, "max pending", optarg); break;
        case 'P': publishers = bench_parse_count(prog, "publishers", optarg); break;
        case 'x': what = optarg; break;
        case 'o': dump = optarg; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    bool do_tput = strcmp(what, "tput") == 0 || strcmp(what, "both") == 0;
    bool do_lat = strcmp(what, "lat") == 0 || strcmp(what, "both") == 0;
    if (!url || optind != argc || size < BENCH_STAMP_BYTES || size > (64u << 20) || count == 0
        || (!do_tput && !do_lat) || (!do_tput && rate == 0) || seconds <= 0 || max_pending == 0
        || publishers < 1 || publishers > MAX_PUBLISHERS) {
        s_usage(stderr);
        return 2;
    }

    run_t r = { .ack_all = ack_all };
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);

    /* One connection each, as separate programs would have: the
     * consumer's, the throughput publishers' (buffered writes: the
     * library's flusher thread sends them in large chunks) and the latency
     * publisher's (SendAsap: each publish is written at once). */
    conn_t sub_c, pub_c[MAX_PUBLISHERS], lat_c;
    s_connect(&sub_c, url, false, max_pending, &r);
    for (uint64_t i = 0; i < publishers; i++)
        s_connect(&pub_c[i], url, false, max_pending, &r);
    s_connect(&lat_c, url, true, max_pending, &r);
    jsCtx *js = sub_c.js;

    /* One stream, one subject, file storage, one replica (one server). */
    char stream[64], subject[64], label[32];
    snprintf(stream, sizeof stream, "BENCH_%" PRIu64, size);
    snprintf(subject, sizeof subject, "bench.%" PRIu64, size);
    bench_size_label(size, label, sizeof label);
    js_DeleteStream(js, stream, NULL, NULL);     /* left over by an interrupted run */
    const char *subjects[] = { subject };
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = 1;
    jsErrCode jerr = 0;
    natsStatus s;
    if ((s = js_AddStream(NULL, js, &sc, NULL, &jerr)) != NATS_OK)
        s_die_nats("js_AddStream", s, jerr);

    /* A durable push consumer with explicit acknowledgement, bound to it. */
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.ManualAck = true;
    so.Config.Durable = "bench";
    so.Config.AckPolicy = ack_all ? js_AckAll : js_AckExplicit;
    so.Config.MaxAckPending = MAX_ACK_PENDING;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription *sub = NULL;
    if ((s = js_Subscribe(&sub, js, subject, s_on_msg, &r, NULL, &so, &jerr)) != NATS_OK)
        s_die_nats("js_Subscribe", s, jerr);
    natsSubscription_SetPendingLimits(sub, -1, -1);

    char *buf = calloc(1, size);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    const char *acks = ack_all ? "AckAll every 256" : "AckExplicit each";
    double peak = 0;
    if (do_tput) {
        s_begin_phase(&r, count, NULL);
        publisher_t pub[MAX_PUBLISHERS];
        pthread_t th[MAX_PUBLISHERS];
        uint64_t first = 0;
        uint64_t cpu0 = bench_cpu_ns(), t0 = bench_now_ns();
        for (uint64_t i = 0; i < publishers; i++) {
            pub[i] = (publisher_t) { .conn = &pub_c[i], .subject = subject, .size = size, .first = first,
                                     .n = count / publishers + (i < count % publishers) };
            first += pub[i].n;
            if (pthread_create(&th[i], NULL, s_publisher, &pub[i]) != 0) {
                fprintf(stderr, "%s: cannot start a thread\n", prog);
                return 1;
            }
        }
        uint64_t t1 = s_wait_delivered(&r);
        for (uint64_t i = 0; i < publishers; i++) {
            pthread_join(th[i], NULL);
            if (pub[i].done_ns > t1)
                t1 = pub[i].done_ns;
        }
        uint64_t cpu = bench_cpu_ns() - cpu0;
        double secs = (double) (t1 - t0) / 1e9;
        peak = (double) count / secs;
        printf("jetstream %s: %.0f msg/s, %.1f MB/s (%" PRIu64 " msgs in %.2f s; %" PRIu64 " publisher%s, max pending %"
               PRIu64 ", consumer %s; client %.0f%% CPU)\n", label, peak, peak * (double) size / 1e6, count, secs,
               publishers, publishers > 1 ? "s" : "", max_pending, acks, 100.0 * (double) cpu / 1e9 / secs);
        fflush(stdout);
    }
    if (do_lat) {
        if (rate == 0)
            rate = (uint64_t) (peak / 10.0 + 0.5);
        if (rate == 0)
            rate = 1;
        uint64_t n = (uint64_t) ((double) rate * seconds + 0.5);
        if (n < 100)
            n = 100;
        uint64_t *lat = calloc(n, sizeof *lat);
        if (!lat) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return 1;
        }
        s_begin_phase(&r, n, lat);
        uint64_t cpu0 = bench_cpu_ns(), start = bench_now_ns();
        uint64_t interval = 1000000000u / rate, t0 = bench_now_ns() + 1000000u;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t at = t0 + i * interval;
            if (bench_now_ns() < at)
                bench_sleep_until_ns(at);
            s_publish(lat_c.js, subject, buf, size, i);
        }
        s_pub_complete(lat_c.js);
        s_wait_delivered(&r);
        uint64_t cpu = bench_cpu_ns() - cpu0, ns = bench_now_ns() - start;
        bench_dump(dump, lat, n);
        uint64_t p50 = bench_percentile(lat, n, 50), p99 = bench_percentile(lat, n, 99);
        uint64_t max = lat[n - 1];
        printf("jetstream %s latency @10%%: p50 %.2f ms, p99 %.2f ms (%" PRIu64 " msgs at %" PRIu64
               " msg/s; max %.2f ms; client %.0f%% CPU)\n", label, (double) p50 / 1e6, (double) p99 / 1e6, n,
               rate, (double) max / 1e6, 100.0 * (double) cpu / (double) ns);
        free(lat);
    }
    if (atomic_load(&r.bad))
        fprintf(stderr, "%s: %" PRIu64 " deliveries without a stamp\n", prog, (uint64_t) atomic_load(&r.bad));

    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    js_DeleteStream(js, stream, NULL, NULL);
    s_disconnect(&lat_c);
    for (uint64_t i = 0; i < publishers; i++)
        s_disconnect(&pub_c[i]);
    s_disconnect(&sub_c);
    nats_Close();
    free(buf);
    return atomic_load(&r.bad) ? 1 : 0;
}
