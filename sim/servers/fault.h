/* fault.h — failure on command. One fault_t per simulator; the control
 * endpoint (control.c) sets it, the simulator draws from it before each
 * request it answers (or each file it drops). Thread-safe.
 *
 * Modes (what each means for a file drop or a database is in
 * docs/simulators.md):
 *   none   normal service
 *   error  an error answer (HTTP 5xx, a SOAP Server fault)
 *   slow   the answer comes after delay_ms
 *   drop   the connection is closed without an answer
 *   cut    the answer starts, then the connection is closed half-way
 * Each request is hit with probability rate; after count hits (0 = no limit)
 * the mode goes back to none. The draws are deterministic (seeded PRNG). */
#ifndef LGSP_SIM_FAULT_H
#define LGSP_SIM_FAULT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "util.h"

typedef enum { FAULT_NONE = 0, FAULT_ERROR, FAULT_SLOW, FAULT_DROP, FAULT_CUT, FAULT__COUNT } fault_mode_t;

extern const char *const fault_mode_name[FAULT__COUNT];

typedef struct {
    pthread_mutex_t mu;
    fault_mode_t    mode;
    int             status;      /* for error: the HTTP status */
    int             delay_ms;    /* for slow */
    long            remaining;   /* hits left; -1 = until cleared */
    double          rate;        /* probability per request */
    rng_t           rng;
    uint64_t        hits;        /* total hits since start */
} fault_t;

/* What one request gets. */
typedef struct {
    fault_mode_t mode;
    int          status;
    int          delay_ms;
} fault_hit_t;

void fault_init(fault_t *f, uint64_t seed, uint64_t stream);
void fault_fini(fault_t *f);
/* Sets from the control endpoint's arguments (NULL = default: count 0,
 * rate 1, delay 5000 ms, status 503). Returns 0, or -1 with a message in
 * err. */
int  fault_set(fault_t *f, const char *mode, const char *count, const char *rate,
               const char *delay_ms, const char *status, char *err, size_t errsz);
/* Draws for one request. */
fault_hit_t fault_draw(fault_t *f);
/* Appends the state as a JSON object. */
void fault_json(fault_t *f, sbuf_t *b);

#endif
