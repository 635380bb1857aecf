/* lgsp/adapter.h — the plugin ABI of lgspd adapters (version 1).
 *
 * An adapter is a shared object that lgspd loads with dlopen(RTLD_NOW |
 * RTLD_LOCAL) for each `adapters:` entry of its configuration. It never
 * links against lgspd: everything it may ask of the host comes in the
 * lgsp_host_api_t table handed to lgsp_adapter_init(). docs/adapters.md is
 * the guide; adapters/example/ is a complete plugin.
 *
 * Two kinds:
 *   - a SOURCE brings records into the bus. A pull source implements
 *     poll(), which the host calls on the configured schedule; a push
 *     source implements start()/stop() and feeds records from its own
 *     threads (an HTTP ingress, a socket). Either way records go into a
 *     batch, and the batch is committed together with the source's state
 *     (its offset, watermark, file position: bytes only the plugin reads)
 *     in one journal transaction. After a crash the plugin reads back
 *     exactly the state that covers what is stored: no loss, no duplicate.
 *   - a SINK takes messages out of the bus: the host subscribes to a topic
 *     as a consumer group and calls deliver() with a batch of messages; the
 *     outcome of each says ack, retry later, or dead-letter.
 *
 * Versioning (as Mosquitto v5 and Redis modules do it):
 *   - lgsp_adapter_abi() is called first with the range of versions the host
 *     speaks; the plugin answers the one it will use, or -1.
 *   - every struct passed across starts with a `size` field, set by whoever
 *     fills it to sizeof() as it was compiled; structs only grow at the end,
 *     and the reader ignores what lies beyond the size it was given.
 *   - enums and host functions are append-only.
 *
 * Threads: init/cleanup/poll/deliver/start/stop/tick run on the adapter's
 * own host thread; describe() on the broker's. Batch functions, log(),
 * count(), stopping() and wait() may be called from any thread, also the
 * plugin's own (each batch from one thread at a time): a plugin's watcher
 * thread may poll stopping() to cancel a long query. A plugin that blocks
 * holds only its own adapter: the others keep running.
 *
 * Errors: host functions return 0 (or a count) on success and a negative
 * LGSP_AE_* value on failure; lgsp_host_api_t.last_error() gives the text.
 * Strings handed to the plugin are borrowed for the duration of the call
 * unless said otherwise; strings handed to the host are copied. */
#ifndef LGSP_ADAPTER_H
#define LGSP_ADAPTER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LGSP_ADAPTER_ABI_VERSION 1

/* What a plugin must export, and nothing else. */
#define LGSP_ADAPTER_EXPORT __attribute__((visibility("default")))

typedef struct lgsp_adapter lgsp_adapter_t;   /* one configured instance (host's) */
typedef struct lgsp_batch   lgsp_batch_t;     /* records on their way to the journal */

/* Errors returned by host functions (negative). Append-only. */
enum {
    LGSP_AE_INVALID  = -1,   /* bad argument (a record without a source id, ...) */
    LGSP_AE_NOMEM    = -2,
    LGSP_AE_STOPPING = -3,   /* lgspd is shutting down: return from poll/run */
    LGSP_AE_JOURNAL  = -4,   /* the journal refused the batch (full, I/O): nothing of it is stored */
    LGSP_AE_TOO_BIG  = -5,   /* the batch is at its limit: commit it and start another */
    LGSP_AE_NOTFOUND = -6,
};

typedef enum {
    LGSP_ADAPTER_SOURCE = 1,
    LGSP_ADAPTER_SINK   = 2,
} lgsp_adapter_kind_t;

/* The delivery guarantee an adapter declares (shown by lgspd at start and in
 * /health). EXACTLY_ONCE for a source means: records and state are committed
 * together and resumed from the state (the host makes a replayed record a
 * duplicate by its message id). Append-only. */
typedef enum {
    LGSP_AT_MOST_ONCE  = 1,
    LGSP_AT_LEAST_ONCE = 2,
    LGSP_EXACTLY_ONCE  = 3,
} lgsp_guarantee_t;

enum { LGSP_LOG_ERROR = 0, LGSP_LOG_WARN = 1, LGSP_LOG_INFO = 2, LGSP_LOG_DEBUG = 3 };

/* One raw source record. The host publishes it to the adapter's topic with
 * the provenance headers lgsp-source (the adapter's name), lgsp-source-id,
 * lgsp-fetched-at, lgsp-content-type, lgsp-position and, when `original` is
 * set, lgsp-encoding and lgsp-original (base64 of the source bytes). The
 * partition key is source_id, so versions of one record stay in order. */
typedef struct {
    size_t      size;            /* sizeof(lgsp_record_t) */
    const char *source_id;       /* the record's id in the source system (required) */
    const char *id;              /* message id (1-128 printable ASCII), or NULL: the host
                                    uses source_id + ':' + a digest of the payload, so the
                                    same content is stored once and a new version is new */
    const char *content_type;    /* "application/json", "application/xml", "text/csv" */
    const void *payload;         /* the record as UTF-8 (NFC after decoding) */
    size_t      payload_len;
    const void *original;        /* the source's bytes, when they differ from payload */
    size_t      original_len;
    const char *encoding;        /* the source's encoding ("tcvn3", "vni", "cp1258"...) or NULL */
    const char *position;        /* where the record was: "page 3 item 17", "f.csv:42" (or NULL) */
    const char *const *headers;  /* extra headers: NULL-terminated name, value pairs (or NULL) */
    uint64_t    fetched_at_us;   /* 0 = now */
} lgsp_record_t;

/* What a commit stored. */
typedef struct {
    size_t   size;               /* sizeof(lgsp_commit_result_t), set by the plugin */
    uint64_t stored;             /* records new in the journal */
    uint64_t duplicates;         /* records whose id was already stored */
    uint64_t quarantined;
} lgsp_commit_result_t;

/* One message handed to a sink. Every pointer is borrowed for the duration
 * of deliver(). */
typedef struct {
    size_t      size;
    const char *topic;
    uint64_t    offset;
    unsigned    attempt;         /* 1 on first delivery */
    uint64_t    time_us;         /* publish time */
    const char *id;
    const void *key;      size_t key_len;
    const char *headers;  size_t headers_len;   /* a JSON object of strings, or empty */
    const void *payload;  size_t payload_len;
} lgsp_message_t;

/* What a sink decided for one message. */
typedef enum {
    LGSP_DELIVERED = 0,          /* ack */
    LGSP_RETRY     = 1,          /* not now (the target is down): redelivered later */
    LGSP_REJECTED  = 2,          /* never (the target refused it): to <topic>.dlq with `reason` */
} lgsp_outcome_kind_t;

typedef struct {
    lgsp_outcome_kind_t kind;
    char reason[256];            /* for RETRY / REJECTED: why (kept in the dead letter) */
} lgsp_outcome_t;

/* ---- what the host offers ------------------------------------------- */

typedef struct lgsp_host_api {
    size_t   size;               /* sizeof(lgsp_host_api_t) as the host was compiled */
    int      abi_version;        /* the version agreed with lgsp_adapter_abi() */

    /* The instance's name ("qn-population") and the topic it publishes to
     * (sources) or reads from (sinks). Borrowed for the adapter's life. */
    const char *(*name)(lgsp_adapter_t *a);
    const char *(*topic)(lgsp_adapter_t *a);

    /* Logs a line tagged with the adapter's name. Never log personal data. */
    void (*log)(lgsp_adapter_t *a, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Settings: the adapter's `settings:` map of the configuration file.
     * setting() returns a scalar by dotted path ("auth.header", "columns.0")
     * or NULL when absent; setting_json() the whole map as JSON text, every
     * scalar a string. setting_error() records "file:line: adapter NAME:
     * setting PATH: what" (the line of PATH, or of the adapter) as the
     * reason init failed, and returns LGSP_AE_INVALID. */
    const char *(*setting)(lgsp_adapter_t *a, const char *path);
    const char *(*setting_json)(lgsp_adapter_t *a);
    int (*setting_error)(lgsp_adapter_t *a, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* The source's state as last committed (a copy the caller frees with
     * free_mem), or *state NULL and *len 0 if none was ever committed. */
    int (*state_get)(lgsp_adapter_t *a, void **state, size_t *len);
    void (*free_mem)(void *p);

    /* Batches. batch_add() copies the record. batch_quarantine() stores
     * input that cannot become a record (undecodable, malformed) in the
     * adapter's quarantine topic with where it was and why, so nothing is
     * dropped silently; `original` is kept as it was. batch_commit() stores
     * the batch's records, its quarantined input and, if state is not NULL,
     * the new state, in one journal transaction, waits until that is
     * durable, and frees the batch whatever the result. A batch holds at
     * most 1000 records and 16 MiB (LGSP_AE_TOO_BIG beyond). */
    lgsp_batch_t *(*batch_new)(lgsp_adapter_t *a);
    int  (*batch_add)(lgsp_batch_t *b, const lgsp_record_t *rec);
    int  (*batch_quarantine)(lgsp_batch_t *b, const char *position, const char *reason,
                             const void *original, size_t len);
    size_t (*batch_count)(const lgsp_batch_t *b);
    int  (*batch_commit)(lgsp_batch_t *b, const void *state, size_t state_len,
                         lgsp_commit_result_t *result);
    void (*batch_discard)(lgsp_batch_t *b);

    /* Sleeps up to ms; returns false at once when the adapter must stop
     * (poll/run should then return). On a sink's own thread during
     * deliver(), it also keeps the bus session alive and the messages in
     * hand (TOUCH), however long the sink waits. */
    bool (*wait)(lgsp_adapter_t *a, uint64_t ms);
    bool (*stopping)(lgsp_adapter_t *a);

    /* Adds n to the adapter's counter `name` (exported in /metrics as
     * lgsp_adapter_<name>_total{adapter="..."}; name: [a-z0-9_]{1,40}). */
    void (*count)(lgsp_adapter_t *a, const char *name, uint64_t n);

    /* Text of the last error of a host function on this thread. */
    const char *(*last_error)(lgsp_adapter_t *a);

    /* The folder for the adapter's own files ("<journal>/adapters/NAME",
     * created), e.g. a file-drop's done/ and failed/ when not configured. */
    const char *(*work_dir)(lgsp_adapter_t *a);

    /* The folder of lgspd's configuration file: what a relative path in
     * the settings is relative to. */
    const char *(*config_dir)(lgsp_adapter_t *a);
    /* Added in the same ABI version (check size): the topic a sink's
     * batches go to (`output:` in its config), or NULL when it has none. A
     * sink with an output is a stage of the pipeline (the mapping stage):
     * it reads its topic, commits batches of new records to the output,
     * and only then reports its messages delivered. */
    const char *(*output)(lgsp_adapter_t *a);
} lgsp_host_api_t;

/* ---- what the plugin provides --------------------------------------- */

/* Filled by lgsp_adapter_init(). Unused callbacks stay NULL. */
typedef struct {
    size_t              size;            /* sizeof(lgsp_adapter_info_t) as the host compiled it */
    const char         *plugin;          /* "http-json" (static string) */
    const char         *version;         /* the plugin's own version (static string) */
    lgsp_adapter_kind_t kind;
    lgsp_guarantee_t    guarantee;

    /* Pull source: fetch what is new, commit it, return. 0 = done (called
     * again after the configured interval), > 0 = more is waiting (called
     * again at once), < 0 = failed (the host logs last_error, counts it and
     * restarts the adapter with backoff: cleanup, then init again). */
    int  (*poll)(void *self, lgsp_adapter_t *a);
    /* Push source: start accepting (threads of its own); 0 or < 0. stop()
     * makes it stop accepting; after it returns no batch call is made. */
    int  (*start)(void *self, lgsp_adapter_t *a);
    void (*stop)(void *self, lgsp_adapter_t *a);
    /* Push source, optional: called every interval on the adapter's thread
     * (e.g. a backfill). Same return values as poll. */
    int  (*tick)(void *self, lgsp_adapter_t *a);
    /* Sink: decide each of n messages (out[i] for msgs[i]). Return 0, or
     * < 0 if the sink itself failed (every message is retried). */
    int  (*deliver)(void *self, lgsp_adapter_t *a, const lgsp_message_t *msgs, size_t n,
                    lgsp_outcome_t *out);
    /* Frees self. Called once after a successful init. */
    void (*cleanup)(void *self, lgsp_adapter_t *a);
    /* A health line for /health ("detail"; into buf), optional. Called
     * from another thread (the broker's), never during init or cleanup. */
    void (*describe)(void *self, char *buf, size_t len);
    /* Added in the same ABI version (the host checks size): a sink may name
     * the consumer group it reads with (copied by the host after init);
     * NULL = the configured group. The mapping stage names one per mapping
     * version, so that a changed mapping replays its topic from the start. */
    const char *group;
} lgsp_adapter_info_t;

/* Exported by every plugin. */
LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max);
/* Reads the settings, prepares the instance, fills info, and sets *self.
 * Calls of init() never overlap, across all adapters of lgspd: the place
 * for a library's global initialisation (xmlInitParser, curl_global_init).
 * Connect to the source in poll/start, not here (--check-config runs init).
 * Returns 0, or < 0 after setting_error()/log() said why (the adapter is
 * then reported as failed and tried again with backoff). */
LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **self);

#endif
