/* wh-load.c — a load generator for the webhook ingress (not installed):
 * C connections, each a thread with one keep-alive libcurl handle, POST N
 * signed JSON events in all and count the durable answers (202).
 *
 *   wh-load URL [--events N] [--conns C] [--secret S] [--token T]
 *               [--prefix P] [--size BYTES]
 *
 * Prints: "wh-load: N events, C connections: X events/s (durable 202),
 * p50 A ms, p99 B ms, E errors". Event ids are P-<conn>-<i>, so a second
 * run with the same prefix measures duplicates. */
#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "whutil.h"

typedef struct {
    const char *url, *secret, *token, *prefix;
    int         conn, conns;
    long        events, size;
    long        ok, errors;
    double     *lat_ms;        /* one per event of this connection */
    long        nlat;
} s_worker_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t s_discard(char *p, size_t sz, size_t n, void *u)
{
    return sz * n;
}

static void *s_run(void *arg)
{
    s_worker_t *w = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    size_t cap = (size_t)w->size + 512;
    char *body = malloc(cap), *pad = malloc((size_t)w->size + 1);
    memset(pad, 'x', (size_t)w->size);
    pad[w->size] = '\0';
    w->lat_ms = calloc((size_t)(w->events / w->conns + 1), sizeof *w->lat_ms);
    for (long i = w->conn; i < w->events; i += w->conns) {
        int len = snprintf(body, cap, "{\"event_id\":\"%s-%d-%ld\",\"event_type\":\"load.test\","
                                      "\"data\":{\"n\":%ld,\"pad\":\"%s\"}}",
                           w->prefix, w->conn, i, i, pad);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        char line[300];
        if (w->secret) {
            char hex[65];
            wh_hmac_hex(w->secret, body, (size_t)len, hex);
            snprintf(line, sizeof line, "X-Signature: sha256=%s", hex);
            h = curl_slist_append(h, line);
        }
        if (w->token) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", w->token);
            h = curl_slist_append(h, line);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        double t0 = s_now();
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        w->lat_ms[w->nlat++] = (s_now() - t0) * 1e3;
        if (status == 202)
            w->ok++;
        else
            w->errors++;
        curl_slist_free_all(h);
    }
    free(body);
    free(pad);
    curl_easy_cleanup(c);
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    s_worker_t proto = { .events = 10000, .conns = 1, .prefix = "load", .size = 300 };
    static const struct option opts[] = {
        { "events", 1, NULL, 'n' }, { "conns", 1, NULL, 'c' }, { "secret", 1, NULL, 's' },
        { "token", 1, NULL, 't' },  { "prefix", 1, NULL, 'p' }, { "size", 1, NULL, 'z' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'n': proto.events = atol(optarg); break;
        case 'c': proto.conns = atoi(optarg); break;
        case 's': proto.secret = optarg; break;
        case 't': proto.token = optarg; break;
        case 'p': proto.prefix = optarg; break;
        case 'z': proto.size = atol(optarg); break;
        default:  return 2;
        }
    }
    if (optind != argc - 1 || proto.conns < 1 || proto.conns > 256 || proto.events < 1
        || proto.size < 0 || proto.size > (1 << 20)) {
        fprintf(stderr, "usage: wh-load URL [--events N] [--conns C] [--secret S] [--token T] "
                        "[--prefix P] [--size BYTES]\n");
        return 2;
    }
    proto.url = argv[optind];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s_worker_t *w = calloc((size_t)proto.conns, sizeof *w);
    pthread_t *th = calloc((size_t)proto.conns, sizeof *th);
    double t0 = s_now();
    for (int i = 0; i < proto.conns; i++) {
        w[i] = proto;
        w[i].conn = i;
        pthread_create(&th[i], NULL, s_run, &w[i]);
    }
    long ok = 0, errors = 0, nlat = 0;
    for (int i = 0; i < proto.conns; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        errors += w[i].errors;
        nlat += w[i].nlat;
    }
    double dt = s_now() - t0;
    double *all = malloc((size_t)nlat * sizeof *all);
    long k = 0;
    for (int i = 0; i < proto.conns; i++) {
        memcpy(all + k, w[i].lat_ms, (size_t)w[i].nlat * sizeof *all);
        k += w[i].nlat;
        free(w[i].lat_ms);
    }
    qsort(all, (size_t)nlat, sizeof *all, s_cmp);
    printf("wh-load: %ld events, %d connection%s: %.0f events/s (durable 202), p50 %.2f ms, "
           "p99 %.2f ms, %ld errors\n", proto.events, proto.conns, proto.conns == 1 ? "" : "s",
           (double)ok / dt, all[nlat / 2], all[nlat * 99 / 100], errors);
    free(all);
    free(w);
    free(th);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
