/* control.h — the control endpoint of lgsp-sim (127.0.0.1 only):
 *
 *   GET  /status                         every system's state, as JSON
 *   GET  /sims/NAME                      one system's state
 *   POST /sims/NAME/fault?mode=M[&count=N][&rate=R][&delay_ms=D][&status=S]
 *   POST /sims/NAME/change?n=N           N changes (births, sales, moves)
 *   POST /sims/NAME/pause | /resume      stop / restart pushes and drops
 *
 * NAME is a system (qn-population ...) or "all". docs/simulators.md
 * describes the modes for each system. */
#ifndef LGSP_SIM_CONTROL_H
#define LGSP_SIM_CONTROL_H

#include <pthread.h>

#include "httpd.h"
#include "sim.h"

typedef struct {
    const sim_ops_t *ops;
    void            *self;     /* NULL when the system is not started */
    fault_t          fault;
    pthread_mutex_t  mu;       /* one control action at a time per system */
} sim_slot_t;

/* Applies n changes to one system; appends its JSON answer. 0 or -1. */
int      slot_change(sim_slot_t *slot, long n, sbuf_t *json);
void     slot_status(sim_slot_t *slot, sbuf_t *json);

httpd_t *control_start(sim_slot_t *slots, uint16_t port, char *err, size_t errsz);

#endif
