/* sim.h — what every simulated department system offers lgsp-sim (main.c)
 * and its control endpoint (control.c): create (load the view, start
 * serving), say where it listens, change its data, report its state, pause
 * its pushes/drops, stop. One file per system: qn_pop.c, dn_pop.c,
 * qn_land.c, dn_land.c, qn_civil.c, dn_civil.c. */
#ifndef LGSP_SIM_SIM_H
#define LGSP_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>

#include "fault.h"
#include "refdata.h"
#include "simconf.h"
#include "util.h"

typedef struct {
    const simconf_t *conf;
    const simopts_t *opts;      /* conf->sim[index] */
    const refdata_t *rd;        /* names and communes for changes */
    fault_t         *fault;     /* this system's failure switch */
    int              index;     /* SIM_* */
} sim_env_t;

typedef struct {
    /* Loads the view and starts serving. Returns the system (caller owns;
     * free with destroy) or NULL with a message in err. */
    void *(*create)(const sim_env_t *env, char *err, size_t errsz);
    /* One line for the user: where it listens and what it serves. */
    void  (*where)(void *self, sbuf_t *out);
    /* Applies n changes (births, sales, moves ...) with a later updated_at,
     * deterministically; appends a JSON object describing them. 0 or -1. */
    int   (*change)(void *self, long n, sbuf_t *json);
    /* Appends a JSON object with the state. */
    void  (*status)(void *self, sbuf_t *json);
    /* Pauses or resumes pushes/drops; NULL when the system has none. */
    int   (*pause)(void *self, bool paused);
    /* Applies a fault to a system that is not served over our HTTP (the
     * database); NULL for the others (fault_t does it). 0 or -1 with err. */
    int   (*fault)(void *self, const char *mode, const char *count, const char *delay_ms,
                   char *err, size_t errsz);
    void  (*destroy)(void **self_p);
} sim_ops_t;

extern const sim_ops_t qn_pop_ops, dn_pop_ops, qn_land_ops, dn_land_ops, qn_civil_ops,
    dn_civil_ops;

#endif
