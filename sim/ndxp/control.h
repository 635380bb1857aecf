/* control.h — the control port of lgsp-ndxp-sim: plain HTTP on 127.0.0.1,
 * no authentication (like lgsp-sim's, sim/servers/control.h), for tests and
 * the demo:
 *
 *   POST /control/fault      {"kind":"outage","seconds":180} ... (faults.h)
 *   GET  /control/stats      counts: requests, accepted, duplicates, rejected,
 *                            by code, by fault, stored
 *   GET  /control/messages   the store: one JSON line per accepted message
 *                            (store.h), in acceptance order */
#ifndef LGSP_NDXP_CONTROL_H
#define LGSP_NDXP_CONTROL_H

#include <stddef.h>

#include "ndxp.h"

typedef struct ndxp_control ndxp_control_t;

ndxp_control_t *ndxp_control_new(ndxp_t *ndxp, unsigned port, char *err, size_t errsz);
unsigned        ndxp_control_port(const ndxp_control_t *self);
void            ndxp_control_destroy(ndxp_control_t **self_p);

#endif
