/* config.h — lgspd's configuration: one YAML file, human-written.
 *
 * config/lgspd.yaml is the fully commented reference. Every setting is one
 * row of one table in config.c (name, type, bounds, default, reloadable),
 * and that table drives parsing, validation and the reference docs.
 * Errors are reported as "file:line: what is wrong".
 *
 * On SIGHUP lgspd loads the file into a new config_t and swaps it in only if
 * loading succeeded (config_reload_check() tells which changed settings
 * need a restart). */
#ifndef LGSP_CONFIG_H
#define LGSP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

typedef enum { SECURITY_CURVE = 0, SECURITY_PLAIN = 1 } security_mode_t;

/* Policy of the topics whose name matches `pattern`: an exact name, or a
 * glob where '*' matches any run of characters ("raw.*"). The first
 * matching entry of config_t.topics wins; config_t.topic_defaults applies
 * to topics no entry matches, and supplies the values an entry omits. */
typedef struct {
    char     *pattern;
    uint64_t  retention_max_age_ms;    /* 0 = no age limit */
    uint64_t  retention_max_bytes;     /* 0 = no size limit */
    bool      retention_protect_unacked; /* never delete what a group has not acked */
    uint64_t  max_lag;                 /* messages; 0 = no backpressure */
    uint32_t  max_attempts;            /* deliveries before dead-lettering, >= 1 */
    uint32_t  visibility_timeout_ms;
    char    **publish;   size_t n_publish;   /* client names allowed; "*" = any */
    char    **subscribe; size_t n_subscribe;
    int       line;                    /* where it was defined (0 = built-in default) */
} topic_policy_t;

typedef struct {
    char *name;
    char  public_key[41];              /* Z85 */
    int   line;
} client_key_t;

/* One `adapters:` entry (docs/adapters.md). The plugin reads its own
 * `settings:`; the host reads the rest. */
typedef struct {
    char     *name;            /* unique; also the state's key in the journal */
    char     *plugin;          /* short name ("http-json") or a path to a .so */
    char     *topic;           /* sources publish here, sinks read here (default raw.<name>) */
    char     *quarantine_topic;/* default quarantine.<name> */
    uint64_t  interval_ms;     /* pull: between polls once caught up; push: tick() period */
    uint64_t  backoff_ms, backoff_max_ms;   /* restart after a failure */
    bool      enabled;
    char     *group;           /* sinks: the consumer group (default the adapter's name) */
    char     *output;          /* sinks that publish (a mapping stage): their batches' topic, or NULL */
    uint32_t  credit;          /* sinks: messages in hand */
    uint32_t  batch;           /* sinks: messages per deliver() */
    char     *settings_json;   /* the `settings:` map as JSON, every scalar a string */
    char    **setting_paths;   /* "url", "auth.header", "columns.0" ... */
    int      *setting_lines;   /* the line of each */
    size_t    n_settings;
    int       line;
} adapter_conf_t;

typedef struct {
    char           *path;              /* the file it was loaded from */
    log_level_t     log_level;

    /* bus: */
    char           *bus_endpoint;      /* "tcp://127.0.0.1:7600" */
    uint32_t        heartbeat_ms;
    uint32_t        pub_window;        /* per session, messages */
    uint64_t        max_message_bytes;
    uint64_t        max_held_bytes;    /* publishes held by backpressure, all topics */

    /* http: */
    char           *http_listen;       /* "127.0.0.1:7601"; must be a loopback address */

    /* journal: */
    char           *journal_path;      /* a directory */
    uint64_t        journal_map_size;  /* bytes; LMDB map size, the journal's hard limit */
    uint32_t        journal_max_topics;
    uint32_t        commit_max_messages; /* most messages in one group commit */
    uint64_t        commit_max_bytes;
    uint32_t        retention_interval_ms;

    /* security: */
    security_mode_t security_mode;
    char           *server_secret_key_file; /* file holding the broker's Z85 secret key */
    char            server_secret_key[41];  /* read from that file at load */
    client_key_t   *clients;  size_t n_clients;
    char          **admins;   size_t n_admins;

    /* topics: */
    topic_policy_t  topic_defaults;
    topic_policy_t *topics;   size_t n_topics;

    /* adapters: */
    char           *adapter_path;      /* folders searched for plugins, ':'-separated */
    adapter_conf_t *adapters; size_t n_adapters;

    /* review: the review page of reconciliation (bus/review.c), off unless
     * the section is given; then store, spec, queue and users are required. */
    char           *review_listen;     /* "127.0.0.1:7602"; must be a loopback address */
    char           *review_store;      /* the entity store's folder (erstore) */
    char           *review_spec;       /* the entity-resolution spec (config/er/person.yaml) */
    char           *review_queue;      /* possible matches, JSON lines {"a","b","probability"} */
    char           *review_records;    /* a file or folder of records; NULL = the store's */
    char           *review_users;      /* reviewers and password hashes (lgsp review-user) */
    char           *review_admin;      /* ../shared/data/admin for commune names; NULL = codes only */
    uint64_t        review_session_idle_ms; /* a session ends after this long unused */
    uint64_t        review_session_max_ms;  /* and this long after the login at most */
} config_t;

/* Loads and validates the file. On failure returns NULL and sets *err to a
 * "file:line: what is wrong" message (caller frees). */
config_t *config_load(const char *path, char **err);
void config_destroy(config_t **self_p);

/* The policy for a topic name (never NULL; borrowed from self). */
const topic_policy_t *config_topic_policy(const config_t *self, const char *topic);
bool config_may_publish(const config_t *self, const char *client, const char *topic);
bool config_may_subscribe(const config_t *self, const char *client, const char *topic);
bool config_is_admin(const config_t *self, const char *client);
/* The client name bound to a Z85 public key, or NULL. */
const char *config_client_by_key(const config_t *self, const char *public_key_z85);

/* Compares a freshly loaded config with the running one. Returns NULL if
 * every difference can be applied at runtime, else a text naming the
 * settings that need a restart (caller frees). */
char *config_reload_check(const config_t *running, const config_t *fresh);

/* Parsers shared with the CLI: "64MiB", "1GiB", "512" -> bytes;
 * "30s", "500ms", "7d", "2h" -> milliseconds. 0 on success, -1 if invalid. */
int config_parse_size(const char *text, uint64_t *bytes);
int config_parse_duration(const char *text, uint64_t *ms);

#endif
