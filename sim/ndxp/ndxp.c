/* ndxp.c — the shared helpers of ndxp.h: clocks, sleep, log, the counters
 * as JSON. */
#include "ndxp.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int64_t s_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ndxp_now_ms(void)
{
    return s_clock_ms(CLOCK_REALTIME);
}

int64_t ndxp_mono_ms(void)
{
    return s_clock_ms(CLOCK_MONOTONIC);
}

void ndxp_sleep_ms(int64_t ms, volatile bool *stop)
{
    int64_t end = ndxp_mono_ms() + ms;
    for (int64_t left; (left = end - ndxp_mono_ms()) > 0 && !(stop && *stop);) {
        /* slices of 50 ms: a SIGTERM does not wait for a long slow fault */
        int64_t slice = left < 50 ? left : 50;
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)slice * 1000000 };
        nanosleep(&ts, NULL);
    }
}

void ndxp_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lgsp-ndxp-sim: %s\n", line);
}

void ndxp_stats_json(ndxp_t *n, json_t *out)
{
    ndxp_stats_t *s = &n->stats;
    pthread_mutex_lock(&s->mu);
    json_t *by_code = json_pack("{sI sI sI sI sI}",
                                "400", (json_int_t)s->rejected_by_code[0],
                                "401", (json_int_t)s->rejected_by_code[1],
                                "403", (json_int_t)s->rejected_by_code[2],
                                "422", (json_int_t)s->rejected_by_code[3],
                                "other", (json_int_t)s->rejected_by_code[4]);
    json_t *counts = json_pack("{sI sI sI sI sI sI sI so sI sI sI sI}",
        "requests", (json_int_t)s->requests, "batches", (json_int_t)s->batches_ok,
        "messages", (json_int_t)s->messages, "accepted", (json_int_t)s->accepted,
        "duplicates", (json_int_t)s->duplicates,
        "duplicates_differing", (json_int_t)s->duplicates_differing,
        "rejected", (json_int_t)s->rejected, "rejected_by_code", by_code,
        "bad_requests", (json_int_t)s->bad_requests, "refused_cert", (json_int_t)s->refused_cert,
        "rate_limited", (json_int_t)s->rate_limited, "store_errors", (json_int_t)s->store_errors);
    pthread_mutex_unlock(&s->mu);
    json_object_update(out, counts);
    json_decref(counts);
    store_lock(n->store);
    json_object_set_new(out, "stored", json_integer((json_int_t)store_count(n->store)));
    store_unlock(n->store);
}
