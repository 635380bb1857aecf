/* faults.h — the NDXP simulator's failures on command (POST /control/fault,
 * docs/ndxp.md). Each kind is set on its own and they add up; {"kind":"none"}
 * clears them all:
 *
 *   outage    {"seconds":S}          every request gets 503 + Retry-After for S s
 *   slow      {"ms":M,"rate":R}      the answer comes M ms late
 *   drop      {"rate":R}             the connection is closed, no answer, nothing stored
 *   lost_ack  {"rate":R}             the batch is stored (fsync), then the connection
 *                                    is reset instead of answered
 *   reject    {"rate":R}             a message that would be accepted gets 422 "injected"
 *
 * rate defaults to 1; an optional "count":N switches the kind off after N
 * hits. Draws come from a seeded PRNG (sim/gen rng.h): the same seed and
 * the same sequence of requests give the same faults. Thread-safe. */
#ifndef LGSP_NDXP_FAULTS_H
#define LGSP_NDXP_FAULTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rng.h"

typedef enum { NF_OUTAGE, NF_SLOW, NF_DROP, NF_LOST_ACK, NF_REJECT, NF__COUNT } nfault_kind_t;

extern const char *const nfault_name[NF__COUNT];

typedef struct {
    pthread_mutex_t mu;
    rng_t           rng;
    int64_t         outage_until;          /* monotonic ms; 0 = none */
    double          rate[NF__COUNT];       /* 0 = off */
    long            left[NF__COUNT];       /* hits before off; -1 = no limit */
    int             slow_ms;
    uint64_t        hits[NF__COUNT];
} nfaults_t;

void nfaults_init(nfaults_t *f, uint64_t seed);
void nfaults_fini(nfaults_t *f);
/* Applies one JSON command (the body of POST /control/fault). 0, or -1
 * with a message in err. */
int  nfaults_set(nfaults_t *f, const char *body, size_t len, int64_t now_mono_ms, char *err,
                 size_t errsz);
/* ms of outage left (counts a hit when > 0). */
int64_t nfaults_outage(nfaults_t *f, int64_t now_mono_ms);
/* Draws kind for one request (or one message, for reject): true = hit. For
 * slow, *ms (may be NULL) is the delay. */
bool nfaults_draw(nfaults_t *f, nfault_kind_t kind, int *ms);
/* {"active":{...},"hits":{...}} */
json_t *nfaults_json(nfaults_t *f, int64_t now_mono_ms);

#endif
