/* broker.h — lgspd's message loop: the ROUTER socket, sessions, publishing
 * through group commits, consumer-group dispatch, admin requests, timers.
 *
 * One thread runs broker_run(); it owns every session, topic and group in
 * memory. It talks to the committer thread (journal writes) through
 * batches, to the ZAP thread through the key table, and to the HTTP thread
 * through published snapshots (/metrics, /health). */
#ifndef LGSP_BROKER_H
#define LGSP_BROKER_H

#include <jansson.h>

#include "config.h"
#include "ingest.h"
#include "journal.h"
#include "metrics.h"

typedef struct broker broker_t;

/* What other parts of lgspd (the adapter host) add to /metrics and /health.
 * Called on the broker thread once a second; must not block. */
typedef struct {
    void (*metrics)(void *arg, metrics_buf_t *b);
    /* Adds members to the /health object; returns false if the part is
     * unhealthy (health then says "degraded"). */
    bool (*health)(void *arg, json_t *health);
    /* Called once when the broker starts to drain (SIGTERM): ask, do not
     * wait — the broker still commits what is in flight after this. */
    void (*stopping)(void *arg);
    void *arg;
} broker_hooks_t;

/* Takes ownership of cfg. Binds the bus and HTTP endpoints. */
broker_t *broker_new(config_t *cfg, journal_t *journal, char **err);
void broker_destroy(broker_t **self_p);
/* Runs until SIGTERM/SIGINT arrives on signal_fd (a signalfd), then drains:
 * answers what is in progress, commits, and returns 0. SIGHUP reloads the
 * configuration file. */
int broker_run(broker_t *self, int signal_fd);
/* Hands an adapter's unit to the broker (any thread; see ingest.h for the
 * contract). The unit is stored whole in one journal commit, then
 * finished. Publishes to a topic whose consumers lag more than max_lag wait
 * (backpressure). Returns -1 once the broker has stopped. */
int broker_submit(broker_t *self, ingest_unit_t *unit);
/* The ingest_sink_t of this broker (state read from its journal). */
ingest_sink_t broker_ingest_sink(broker_t *self);
void broker_set_hooks(broker_t *self, const broker_hooks_t *hooks);
/* Credentials for one of lgspd's own clients (a sink adapter) named
 * `name` (which starts with '@'): under Curve a fresh keypair, admitted by
 * the ZAP handler, and the broker's public key; in plain mode the keys are
 * left empty. 0 or -1. */
int broker_add_internal_client(broker_t *self, const char *name, char public_z85[41],
                               char secret_z85[41], char server_z85[41]);

/* Ports actually bound (useful when the config asked for port 0). */
int broker_http_port(const broker_t *self);
const char *broker_endpoint(const broker_t *self);

#endif
