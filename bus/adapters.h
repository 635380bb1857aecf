/* adapters.h — the adapter host: loads the plugins of the `adapters:`
 * section (include/lgsp/adapter.h), runs each on a thread of its own, and
 * hands their batches to an ingest sink (ingest.h): in lgspd the broker,
 * in lgsp-adapter-test a file.
 *
 * Each adapter's thread: init -> poll on its schedule (pull source) /
 * start..tick..stop (push source) / receive..deliver..ack (sink) -> on
 * failure cleanup, wait a backoff (doubling up to the maximum), init again.
 * An adapter whose settings are wrong (setting_error) stays failed until
 * lgspd restarts; a failing adapter never holds up another. */
#ifndef LGSP_ADAPTERS_H
#define LGSP_ADAPTERS_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "ingest.h"
#include "metrics.h"

typedef struct adapters adapters_t;

typedef struct {
    ingest_sink_t sink;
    const char   *config_file;     /* for "file:line" messages */
    const char   *work_root;       /* adapters' own files go to <work_root>/<name> */
    uint64_t      max_message_bytes;
    /* Sinks: how to reach the bus (NULL: sinks cannot run here). */
    const char   *bus_endpoint;
    /* Gives a sink its client credentials (broker_add_internal_client). */
    int         (*credentials)(void *arg, const char *name, char pub[41], char sec[41],
                               char server[41]);
    void         *credentials_arg;
} adapters_options_t;

/* Loads every enabled adapter's plugin (dlopen + ABI check); does not start
 * them. Returns NULL with *err ("file:line: adapter NAME: ...") if a plugin
 * cannot be found or loaded. `cfg` is copied from. */
adapters_t *adapters_new(const config_t *cfg, const adapters_options_t *opts, char **err);
/* Starts the threads. */
int adapters_start(adapters_t *self);
/* Asks every adapter to stop, without waiting (broker_hooks_t.stopping). */
void adapters_request_stop(void *self);
/* Asks every adapter to stop and joins the threads. Batches being
 * committed finish first. */
void adapters_stop(adapters_t *self);
void adapters_destroy(adapters_t **self_p);
/* Runs each adapter's init and cleanup once, without starting it (the
 * settings check of `lgspd --check-config`). 0, or -1 with *err. */
int adapters_check(adapters_t *self, char **err);
/* Runs one adapter on the calling thread until it stops by itself (a pull
 * source after `polls` polls that found nothing more, 0 = no limit) or
 * `seconds` pass (0 = no limit), or adapters_stop. For lgsp-adapter-test. */
int adapters_run_one(adapters_t *self, const char *name, unsigned polls, double seconds);

size_t adapters_count(const adapters_t *self);
/* For /metrics and /health (broker_hooks_t). */
void adapters_metrics(void *self, metrics_buf_t *b);
bool adapters_health(void *self, json_t *health);

#endif
