/* ndxp.h — the state lgsp-ndxp-sim's two HTTP fronts share (server.c, the
 * NDXP endpoint over mutual TLS; control.c, the loopback control port): the
 * configuration, the keyring, the store, the faults and the counters. */
#ifndef LGSP_NDXP_SIM_H
#define LGSP_NDXP_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "faults.h"
#include "jws.h"
#include "store.h"

#define NDXP_MAX_BODY     (16u * 1024 * 1024)
#define NDXP_MAX_MESSAGES 1000

/* Counters for GET /control/stats (under mu). */
typedef struct {
    pthread_mutex_t mu;
    uint64_t requests;            /* HTTPS requests answered or dropped */
    uint64_t batches_ok;          /* requests that got a 200 with results */
    uint64_t messages;            /* messages in those batches */
    uint64_t accepted, duplicates, rejected;
    uint64_t duplicates_differing; /* a duplicate whose payload differs from the stored one */
    uint64_t rejected_by_code[6];  /* 400, 401, 403, 422, other */
    uint64_t bad_requests;        /* whole-request 400/404/405 */
    uint64_t refused_cert;        /* 403: no valid client certificate */
    uint64_t rate_limited;        /* 429 */
    uint64_t store_errors;        /* 500 */
} ndxp_stats_t;

typedef struct {
    /* configuration */
    char           receiver[JWS_AGENCY_LEN + 1];
    int64_t        max_skew_s;
    double         max_rate;      /* requests/s; 0 = unlimited */
    bool           verbose;
    /* state */
    jws_keyring_t *keys;
    store_t       *store;
    nfaults_t      faults;
    ndxp_stats_t   stats;
    /* the rate limiter: a token bucket of max(1, max_rate) tokens */
    pthread_mutex_t rate_mu;
    double          tokens;
    int64_t         tokens_at_ms;
    volatile bool   stopping;
} ndxp_t;

/* Milliseconds: wall clock (for timestamps) and monotonic (for intervals). */
int64_t ndxp_now_ms(void);
int64_t ndxp_mono_ms(void);
/* Sleeps ms, returning early when *stop becomes true. */
void    ndxp_sleep_ms(int64_t ms, volatile bool *stop);
void    ndxp_stats_json(ndxp_t *self, json_t *out);

__attribute__((format(printf, 1, 2)))
void    ndxp_log(const char *fmt, ...);

#endif
