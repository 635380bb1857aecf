/* broker.h — lgspd's message loop: the ROUTER socket, sessions, publishing
 * through group commits, consumer-group dispatch, admin requests, timers.
 *
 * One thread runs broker_run(); it owns every session, topic and group in
 * memory. It talks to the committer thread (journal writes) through
 * batches, to the ZAP thread through the key table, and to the HTTP thread
 * through published snapshots (/metrics, /health). */
#ifndef LGSP_BROKER_H
#define LGSP_BROKER_H

#include "config.h"
#include "journal.h"

typedef struct broker broker_t;

/* Takes ownership of cfg. Binds the bus and HTTP endpoints. */
broker_t *broker_new(config_t *cfg, journal_t *journal, char **err);
void broker_destroy(broker_t **self_p);
/* Runs until SIGTERM/SIGINT arrives on signal_fd (a signalfd), then drains:
 * answers what is in progress, commits, and returns 0. SIGHUP reloads the
 * configuration file. */
int broker_run(broker_t *self, int signal_fd);
/* Ports actually bound (useful when the config asked for port 0). */
int broker_http_port(const broker_t *self);
const char *broker_endpoint(const broker_t *self);

#endif
