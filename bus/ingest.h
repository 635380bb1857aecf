/* ingest.h — a unit of records on its way from an adapter to the journal.
 *
 * An adapter's batch_commit() becomes one ingest_unit_t: the messages (for
 * its topic or its quarantine topic) and the adapter's new state. The unit
 * is handed to a committer of units (in lgspd the broker, which stores it
 * whole in one journal transaction; in lgsp-adapter-test a file) and the
 * adapter's thread waits on it until the result is set.
 *
 * Ownership: the adapter host creates and frees units; the broker only
 * borrows one between ingest_submit and ingest_unit_finish. */
#ifndef LGSP_INGEST_H
#define LGSP_INGEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lgsp/protocol.h"

typedef struct {
    char  *id;       size_t id_len;
    char  *key;      size_t key_len;
    char  *headers;  size_t headers_len;     /* JSON object of strings */
    void  *payload;  size_t payload_len;
    bool   quarantine;                       /* to qtopic instead of topic */
} ingest_msg_t;

typedef struct ingest_unit {
    char          adapter[LGSP_MAX_NAME + 1];   /* also the state's name */
    char          topic[LGSP_MAX_NAME + 1];
    char          qtopic[LGSP_MAX_NAME + 1];
    ingest_msg_t *msgs;
    size_t        n, cap;
    uint64_t      bytes;                        /* payload + headers */
    void         *state;
    size_t        state_len;
    bool          has_state;
    /* result, set by ingest_unit_finish */
    int           status;                       /* 0 or a protocol status */
    char          error[400];
    uint64_t      stored, duplicates, quarantined;
    /* completion */
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    bool            done;
} ingest_unit_t;

ingest_unit_t *ingest_unit_new(const char *adapter, const char *topic, const char *qtopic);
void ingest_unit_destroy(ingest_unit_t **self_p);
/* Appends a message; the bytes are copied. 0 or -1 (out of memory). */
int ingest_unit_add(ingest_unit_t *self, const char *id, const void *key, size_t key_len,
                    const char *headers, const void *payload, size_t payload_len,
                    bool quarantine);
/* Sets the state the unit commits (copied). */
int ingest_unit_set_state(ingest_unit_t *self, const void *state, size_t len);
/* Called by whoever committed the unit (any thread): sets the result and
 * wakes the waiter. */
void ingest_unit_finish(ingest_unit_t *self, int status, const char *error,
                        uint64_t stored, uint64_t duplicates, uint64_t quarantined);
/* Waits until ingest_unit_finish was called. */
void ingest_unit_wait(ingest_unit_t *self);

/* Where units go: lgspd's broker, or the test harness. submit() returns 0
 * (the unit will be finished later, exactly once) or -1 (refused now: the
 * caller still owns it, with status and error set). */
typedef struct {
    int  (*submit)(void *arg, ingest_unit_t *unit);
    /* The last state committed for an adapter (malloc'ed copy), as
     * journal_state_get: 0, 404 if none, else an error status. */
    int  (*state_get)(void *arg, const char *adapter, void **state, size_t *len);
    void *arg;
} ingest_sink_t;

#endif
