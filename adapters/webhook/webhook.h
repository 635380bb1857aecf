/* webhook.h — the webhook plugin's instance, shared by its three parts:
 *   webhook.c   the plugin ABI: settings, init, start/stop/tick, cleanup;
 *   ingress.c   the HTTP(S) ingress on libmicrohttpd: one event per POST,
 *               answered 202 only after it is durable in the journal;
 *   backfill.c  the puller that repairs what pushes missed, from the
 *               sender's paged REST API, with a watermark in the state.
 * Nothing here is exported from the shared object. */
#ifndef WH_WEBHOOK_H
#define WH_WEBHOOK_H

#include <curl/curl.h>
#include <lgsp/adapter.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "whutil.h"

struct MHD_Daemon;

/* A warning logged at most once a minute, with how many happened. */
typedef struct {
    pthread_mutex_t mu;
    uint64_t        last_ms;        /* when it was last logged (0: never) */
    uint64_t        pending;        /* occurrences since */
} wh_ratelog_t;

typedef struct {
    /* settings: ingress */
    struct sockaddr_storage addr;
    socklen_t   addrlen;
    char       *listen;             /* as configured, for messages */
    char       *path;               /* "/hook/dn-civil" */
    size_t      max_body;
    char       *token;              /* bearer token, or NULL */
    char       *hmac_secret;        /* or NULL */
    char       *hmac_header;        /* "X-Signature" */
    char       *hmac_prefix;        /* "sha256=" */
    char       *id_field;           /* "event_id" */
    char       *id_header;          /* "X-Event-Id" */
    char       *type_field;         /* "event_type" */
    char       *type_header;        /* "X-Event-Type" */
    char       *tls_cert, *tls_key; /* PEM text (TLS when set) */
    char       *tls_ca;             /* PEM text: a verified client certificate is required */
    unsigned    max_connections;
    unsigned    conn_timeout_s;
    unsigned    retry_after_s;      /* Retry-After of a 503 */

    /* settings: backfill (url NULL = none) */
    char       *bf_url, *bf_token;
    char       *bf_from_param, *bf_page_param, *bf_size_param;
    char       *bf_items;           /* the array of events in a page: "events" */
    char       *bf_order_field;     /* "data.registration.registered_at" */
    char       *bf_start;           /* the first watermark, or NULL: from the beginning */
    unsigned    bf_page_size, bf_overlap, bf_retries;
    uint64_t    bf_timeout_ms;

    /* host */
    lgsp_adapter_t        *a;
    const lgsp_host_api_t *host;

    /* ingress */
    struct MHD_Daemon *mhd;
    uint16_t    port;               /* bound */
    bool        starting;           /* libmicrohttpd's messages are warnings while starting */
    atomic_bool journal_failing;    /* the last commit failed (log the changes only) */
    atomic_uint_fast64_t n_accepted, n_duplicates, n_refused, n_quarantined, n_failed;
    wh_ratelog_t refusals, rejects;  /* refused requests (401, 403, 404, 405, 413), 400s */

    /* backfill */
    CURL       *curl;
    bool        state_read;
    char       *from;               /* the committed watermark (NULL: from the start) */
    bool        scanning;           /* a scan is under way: */
    char       *scan_from;          /*   its registered_from */
    unsigned    scan_page;          /*   the next page */
    uint64_t    scan_seen;          /*   events read in it */
    char      **ring;               /*   order values of its last bf_overlap + 1 events */
    uint64_t    scan_stored, scan_dups;
    bool        bf_failing;         /* the last page could not be had (log the changes only) */
    atomic_uint_fast64_t n_backfilled, n_backfill_errors;
} webhook_t;

/* ingress.c */
int  wh_ingress_start(webhook_t *self);
void wh_ingress_stop(webhook_t *self);

/* backfill.c: one step of the backfill (one page); the tick's return value. */
int  wh_backfill_tick(webhook_t *self);
void wh_backfill_free(webhook_t *self);

#endif
