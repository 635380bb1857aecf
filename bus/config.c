/* config.c — lgspd's YAML configuration file -> config_t (see config.h).
 *
 * Every setting is one row of s_settings[]: its dotted name, type, bounds,
 * default (written as in the file) and whether SIGHUP applies it. That one
 * table drives the walk over the YAML tree, the type and bound checks, the
 * defaults, freeing, and config_reload_check(). Sections ("bus", "journal")
 * are rows too, so unknown keys can be told apart from misplaced ones and a
 * close name suggested.
 *
 * Rows of scope S_POLICY describe one topic policy (topic_policy_t); they
 * are read under topics.defaults and in each entry of topics.rules, whose
 * omitted fields are copied from the defaults.
 *
 * Loading stops at the first error, reported as "file:line: setting: what
 * is wrong". Nothing here aborts on bad input. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "util.h"
#include "yamlconf.h"

#define S_KiB (UINT64_C(1) << 10)
#define S_MiB (UINT64_C(1) << 20)
#define S_GiB (UINT64_C(1) << 30)
#define S_TiB (UINT64_C(1) << 40)
#define S_SEC UINT64_C(1000)
#define S_MIN (60 * S_SEC)
#define S_HOUR (60 * S_MIN)
#define S_DAY (24 * S_HOUR)

#define S_NAME_MAX 200 /* client names and topic patterns, as topic names */

/* ---- the table of settings ------------------------------------------ */

typedef enum {
    T_SECTION,  /* a map of further settings */
    T_STRING,   /* char *, optionally checked by row->check */
    T_PATH,     /* char *, relative paths resolved against the file's folder */
    T_KEYFILE,  /* char * path (off) + char[41] key read from it (off2), curve mode */
    T_BOOL,     /* bool */
    T_U32,      /* uint32_t */
    T_U64,      /* uint64_t */
    T_SIZE,     /* uint64_t bytes, "64MiB" */
    T_DURATION, /* uint32_t or uint64_t ms, "30s" */
    T_ENUM,     /* an int-sized enum; value i is row->names[i] */
    T_LIST,     /* char ** (off) + size_t count (off2): client names or "*" */
    T_CLIENTS,  /* client_key_t * (off) + size_t (off2) */
    T_POLICY,   /* topic_policy_t, read with the S_POLICY rows */
    T_RULES,    /* topic_policy_t * (off) + size_t (off2) */
    T_ADAPTERS, /* adapter_conf_t * (off) + size_t (off2), read with the S_ADAPTER rows */
    T_SETTINGS, /* S_ADAPTER: the plugin's free-form map, kept as JSON */
} s_type_t;

typedef enum {
    S_CONFIG, /* offsets into config_t, full dotted names */
    S_POLICY, /* offsets into topic_policy_t, names relative to the policy */
    S_ADAPTER,/* offsets into adapter_conf_t, names relative to the entry */
} s_scope_t;

typedef struct {
    const char        *name;
    s_type_t           type;
    s_scope_t          scope;
    size_t             off, size, off2;
    uint64_t           min, max;
    const char        *def;       /* default as written in the file; NULL = none */
    bool               reload;    /* SIGHUP applies it */
    bool               rule_only; /* S_POLICY: only in topics.rules entries */
    const char *const *names;     /* T_ENUM */
    int              (*check)(const char *text, char *why, size_t whyn); /* T_STRING */
} s_setting_t;

#define CF(f) .scope = S_CONFIG, .off = offsetof(config_t, f), .size = sizeof(((config_t *) 0)->f)
#define AF(f) .scope = S_ADAPTER, .off = offsetof(adapter_conf_t, f), \
              .size = sizeof(((adapter_conf_t *) 0)->f)
#define PF(f) .scope = S_POLICY, .off = offsetof(topic_policy_t, f), \
              .size = sizeof(((topic_policy_t *) 0)->f)

static int s_check_endpoint(const char *text, char *why, size_t whyn);
static int s_check_loopback(const char *text, char *why, size_t whyn);
static int s_check_pattern(const char *text, char *why, size_t whyn);
static int s_check_topic(const char *text, char *why, size_t whyn);
static int s_check_name(const char *text, char *why, size_t whyn);

static const char *const s_log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const s_modes[] = { "curve", "plain", NULL };

static const s_setting_t s_settings[] = {
    { "log_level", T_ENUM, CF(log_level), .names = s_log_levels, .def = "info", .reload = true },

    { "bus", T_SECTION, .scope = S_CONFIG },
    { "bus.endpoint", T_STRING, CF(bus_endpoint), .def = "tcp://127.0.0.1:7600",
      .check = s_check_endpoint },
    { "bus.heartbeat_ms", T_U32, CF(heartbeat_ms), .min = 10, .max = 600000, .def = "1000",
      .reload = true },
    { "bus.pub_window", T_U32, CF(pub_window), .min = 1, .max = 1000000, .def = "10000",
      .reload = true },
    { "bus.max_message_bytes", T_SIZE, CF(max_message_bytes), .min = 1, .max = S_GiB,
      .def = "1MiB", .reload = true },
    { "bus.max_held_bytes", T_SIZE, CF(max_held_bytes), .min = 0, .max = S_TiB, .def = "64MiB",
      .reload = true },

    { "http", T_SECTION, .scope = S_CONFIG },
    { "http.listen", T_STRING, CF(http_listen), .def = "127.0.0.1:7601",
      .check = s_check_loopback },

    { "journal", T_SECTION, .scope = S_CONFIG },
    { "journal.path", T_PATH, CF(journal_path), .def = "/var/lib/lgsp/journal" },
    { "journal.map_size", T_SIZE, CF(journal_map_size), .min = S_MiB, .max = 64 * S_TiB,
      .def = "16GiB" },
    { "journal.max_topics", T_U32, CF(journal_max_topics), .min = 1, .max = 65536, .def = "1024" },
    { "journal.commit_max_messages", T_U32, CF(commit_max_messages), .min = 1, .max = 1000000,
      .def = "8192" },
    { "journal.commit_max_bytes", T_SIZE, CF(commit_max_bytes), .min = 1, .max = S_GiB,
      .def = "32MiB" },
    { "journal.retention_interval", T_DURATION, CF(retention_interval_ms), .min = 10,
      .max = S_HOUR, .def = "1s", .reload = true },

    { "security", T_SECTION, .scope = S_CONFIG },
    { "security.mode", T_ENUM, CF(security_mode), .names = s_modes, .def = "curve" },
    { "security.server_secret_key_file", T_KEYFILE, CF(server_secret_key_file),
      .off2 = offsetof(config_t, server_secret_key) },
    { "security.clients", T_CLIENTS, CF(clients), .off2 = offsetof(config_t, n_clients),
      .reload = true },
    { "security.admins", T_LIST, CF(admins), .off2 = offsetof(config_t, n_admins), .def = "",
      .reload = true },

    { "topics", T_SECTION, .scope = S_CONFIG },
    { "topics.defaults", T_POLICY, CF(topic_defaults), .reload = true },
    { "topics.rules", T_RULES, CF(topics), .off2 = offsetof(config_t, n_topics), .reload = true },

    { "adapter_path", T_STRING, CF(adapter_path) },
    { "adapters", T_ADAPTERS, CF(adapters), .off2 = offsetof(config_t, n_adapters) },

    /* The review page (bus/review.c): off unless the section is given. */
    { "review", T_SECTION, .scope = S_CONFIG },
    { "review.listen", T_STRING, CF(review_listen), .def = "127.0.0.1:7602",
      .check = s_check_loopback },
    { "review.store", T_PATH, CF(review_store) },
    { "review.spec", T_PATH, CF(review_spec) },
    { "review.queue", T_PATH, CF(review_queue) },
    { "review.records", T_PATH, CF(review_records) },
    { "review.users", T_PATH, CF(review_users) },
    { "review.admin", T_PATH, CF(review_admin) },
    { "review.session_idle", T_DURATION, CF(review_session_idle_ms), .min = S_MIN,
      .max = S_DAY, .def = "30m" },
    { "review.session_max", T_DURATION, CF(review_session_max_ms), .min = S_MIN,
      .max = 7 * S_DAY, .def = "12h" },

    /* One topic policy (topics.defaults, each entry of topics.rules). */
    { "pattern", T_STRING, PF(pattern), .rule_only = true, .check = s_check_pattern },
    { "retention", T_SECTION, .scope = S_POLICY },
    { "retention.max_age", T_DURATION, PF(retention_max_age_ms), .min = 0, .max = 3650 * S_DAY,
      .def = "7d" },
    { "retention.max_bytes", T_SIZE, PF(retention_max_bytes), .min = 0, .max = 64 * S_TiB,
      .def = "10GiB" },
    { "retention.protect_unacked", T_BOOL, PF(retention_protect_unacked), .def = "true" },
    { "max_lag", T_U64, PF(max_lag), .min = 0, .max = UINT64_C(1000000000000), .def = "1000000" },
    { "max_attempts", T_U32, PF(max_attempts), .min = 1, .max = 1000, .def = "5" },
    { "visibility_timeout", T_DURATION, PF(visibility_timeout_ms), .min = 10, .max = 12 * S_HOUR,
      .def = "30s" },
    { "publish", T_LIST, PF(publish), .off2 = offsetof(topic_policy_t, n_publish), .def = "*" },
    { "subscribe", T_LIST, PF(subscribe), .off2 = offsetof(topic_policy_t, n_subscribe),
      .def = "*" },

    /* One adapter (each entry of adapters). */
    { "name", T_STRING, AF(name), .check = s_check_name },
    { "plugin", T_STRING, AF(plugin) },
    { "topic", T_STRING, AF(topic), .check = s_check_topic },
    { "quarantine_topic", T_STRING, AF(quarantine_topic), .check = s_check_topic },
    { "interval", T_DURATION, AF(interval_ms), .min = 10, .max = 7 * S_DAY, .def = "10s" },
    { "restart_backoff", T_DURATION, AF(backoff_ms), .min = 10, .max = S_HOUR, .def = "500ms" },
    { "restart_backoff_max", T_DURATION, AF(backoff_max_ms), .min = 10, .max = S_DAY, .def = "1min" },
    { "enabled", T_BOOL, AF(enabled), .def = "true" },
    { "group", T_STRING, AF(group), .check = s_check_name },
    { "output", T_STRING, AF(output), .check = s_check_topic },
    { "credit", T_U32, AF(credit), .min = 1, .max = 100000, .def = "256" },
    { "batch", T_U32, AF(batch), .min = 1, .max = 1000, .def = "100" },
    { "settings", T_SETTINGS, AF(settings_json) },
};

#define S_NROWS (sizeof s_settings / sizeof s_settings[0])

_Static_assert(sizeof(log_level_t) == sizeof(int), "T_ENUM stores an int");
_Static_assert(sizeof(security_mode_t) == sizeof(int), "T_ENUM stores an int");

/* ---- the load context ------------------------------------------------ */

typedef struct {
    char                  *shown; /* "topics.rules[2].publish" */
    const yamlconf_node_t *node;
} s_acl_t;

typedef struct {
    const char            *file;  /* as given, for messages */
    char                  *dir;   /* the file's folder, absolute when possible */
    char                  *err;
    config_t              *cfg;
    int                    lines[S_NROWS]; /* key line of each S_CONFIG row set in the file */
    const yamlconf_node_t *rules;
    s_acl_t               *acls;  /* lists of client names, checked once clients are known */
    size_t                 nacls;
} s_load_t;

static void s_error(s_load_t *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void s_error(s_load_t *L, int line, const char *fmt, ...)
{
    if (L->err)
        return;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int rc = line > 0 ? asprintf(&L->err, "%s:%d: %s", L->file, line, what)
                      : asprintf(&L->err, "%s: %s", L->file, what);
    if (rc < 0)
        L->err = NULL;
    if (!L->err)
        L->err = strdup("out of memory");
}

static void s_oom(s_load_t *L, int line)
{
    s_error(L, line, "out of memory");
}

static const s_setting_t *s_find(s_scope_t scope, const char *name, bool in_rule)
{
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope == scope && strcmp(row->name, name) == 0
            && (in_rule || !row->rule_only))
            return row;
    }
    return NULL;
}

static int s_row_index(const char *name)
{
    for (size_t i = 0; i < S_NROWS; i++)
        if (s_settings[i].scope == S_CONFIG && strcmp(s_settings[i].name, name) == 0)
            return (int) i;
    return -1;
}

/* The line where a setting (or section) was given, else 0. */
static int s_line_of(const s_load_t *L, const char *name)
{
    int i = s_row_index(name);
    return i >= 0 ? L->lines[i] : 0;
}

static char *s_field(void *base, const s_setting_t *row)
{
    return (char *) base + row->off;
}

static char *s_field2(void *base, const s_setting_t *row)
{
    return (char *) base + row->off2;
}

/* ---- names, suggestions --------------------------------------------- */

static size_t s_edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 128 || nb > 128)
        return SIZE_MAX;
    size_t prev[129], cur[129];
    for (size_t j = 0; j <= nb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (nb + 1) * sizeof *cur);
    }
    return prev[nb];
}

static bool s_close_enough(const char *word, size_t d)
{
    size_t n = strlen(word);
    return d <= (n / 4 > 2 ? n / 4 : 2) && d < n;
}

static const char *s_last_part(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* The setting most like `name` in the scope: by edit distance, else one
 * with the same last part in another section ("bus.map_size" ->
 * "journal.map_size"). NULL if nothing is close. */
static const char *s_suggest(s_scope_t scope, bool in_rule, const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != scope || (row->rule_only && !in_rule))
            continue;
        size_t d = s_edit_distance(name, row->name);
        if (d < best_d) {
            best_d = d;
            best = row->name;
        }
    }
    if (best && s_close_enough(name, best_d))
        return best;
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope == scope && (!row->rule_only || in_rule) && row->type != T_SECTION
            && strcmp(s_last_part(row->name), s_last_part(name)) == 0)
            return row->name;
    }
    return NULL;
}

static bool s_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_NAME_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* ---- value checks ----------------------------------------------------- */

static int s_check_port(const char *port, bool star)
{
    if (star && strcmp(port, "*") == 0)
        return 0;
    size_t nd = strspn(port, "0123456789");
    if (nd == 0 || nd > 5 || port[nd] != '\0' || strtoul(port, NULL, 10) > 65535)
        return -1;
    return 0;
}

static int s_check_endpoint(const char *text, char *why, size_t whyn)
{
    if (strlen(text) <= 255) {
        if (strncmp(text, "ipc://", 6) == 0 && text[6])
            return 0;
        const char *colon = strrchr(text, ':');
        if (strncmp(text, "tcp://", 6) == 0 && colon && colon > text + 6
            && s_check_port(colon + 1, true) == 0)
            return 0;
    }
    snprintf(why, whyn, "'%.300s' is not a ZeroMQ endpoint such as tcp://127.0.0.1:7600 "
             "or ipc:///run/lgsp/bus", text);
    return -1;
}

/* The rules of http.c: "host:port" or "[v6]:port", host 127.0.0.0/8, ::1 or
 * localhost. The HTTP side has no authentication, so it is checked here
 * already, with the file's line. */
static int s_check_loopback(const char *text, char *why, size_t whyn)
{
    char host[256];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t) (close - text - 1) >= sizeof host)
            goto syntax;
        memcpy(host, text + 1, (size_t) (close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t) (colon - text) >= sizeof host)
            goto syntax;
        memcpy(host, text, (size_t) (colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    if (s_check_port(port, false) != 0) {
        snprintf(why, whyn, "'%.300s': the port must be a number from 0 to 65535", text);
        return -1;
    }
    if (strcasecmp(host, "localhost") == 0)
        return 0;
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) == 1 && addr[0] == 127)
        return 0;
    if (inet_pton(AF_INET6, host, addr) == 1) {
        static const unsigned char loop6[16] = { [15] = 1 };
        if (memcmp(addr, loop6, 16) == 0)
            return 0;
    }
    snprintf(why, whyn, "'%.300s' is not a loopback address (127.0.0.0/8, ::1 or localhost): "
             "the HTTP endpoint has no authentication", text);
    return -1;
syntax:
    snprintf(why, whyn, "'%.300s' is not host:port or [address]:port", text);
    return -1;
}

static int s_check_pattern(const char *text, char *why, size_t whyn)
{
    size_t n = strlen(text);
    if (n > 0 && n <= S_NAME_MAX
        && strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-*") == n)
        return 0;
    snprintf(why, whyn, "'%.300s' is not a topic name or pattern (1-%d of A-Z a-z 0-9 . _ - "
             "and * for any run of characters)", text, S_NAME_MAX);
    return -1;
}

static int s_check_topic(const char *text, char *why, size_t whyn)
{
    if (!util_valid_name(text, strlen(text)) || strchr(text, '*')) {
        snprintf(why, whyn, "'%.200s' is not a topic name (1-200 of A-Z a-z 0-9 . _ -, not "
                 "starting with .)", text);
        return -1;
    }
    size_t n = strlen(text);
    if (n >= 4 && strcmp(text + n - 4, ".dlq") == 0) {
        snprintf(why, whyn, "'%.200s' is a dead-letter topic name", text);
        return -1;
    }
    return 0;
}

static int s_check_name(const char *text, char *why, size_t whyn)
{
    if (!util_valid_name(text, strlen(text))) {
        snprintf(why, whyn, "'%.200s' is not a name (1-200 of A-Z a-z 0-9 . _ -, not "
                 "starting with .)", text);
        return -1;
    }
    return 0;
}

static const char s_z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/* 40 characters of the Z85 alphabet, each group of 5 encoding a value that
 * fits in 32 bits (what zmq_z85_decode accepts for a 32-byte key). */
static bool s_z85_key(const char *s, size_t n)
{
    if (n != 40)
        return false;
    for (size_t g = 0; g < 40; g += 5) {
        uint64_t v = 0;
        for (size_t i = g; i < g + 5; i++) {
            const char *p = s[i] ? strchr(s_z85_chars, s[i]) : NULL;
            if (!p)
                return false;
            v = v * 85 + (uint64_t) (p - s_z85_chars);
        }
        if (v > UINT32_MAX)
            return false;
    }
    return true;
}

/* Reads a Z85 key from a key file: the first line that is not empty and
 * not a '#' comment, trimmed. ('#' is a Z85 character, but no valid key
 * starts with it: a 5-character group starting with '#' exceeds 32 bits.) */
static int s_read_key(const char *path, char out[41], char *why, size_t whyn, bool secret)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whyn, "cannot read '%.300s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        snprintf(why, whyn, "'%.300s' is a folder, not a key file", path);
        return -1;
    }
    if (secret && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        log_warn("config", "%s: the secret key file can be read by other users (chmod 600 it)",
                 path);
    char line[512];
    int rc = -1;
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        p += strspn(p, " \t\r\n");
        size_t n = strcspn(p, "\r\n");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        p[n] = '\0';
        if (n == 0 || *p == '#')
            continue;
        found = true;
        if (s_z85_key(p, n)) {
            memcpy(out, p, 40);
            out[40] = '\0';
            rc = 0;
        }
        break;
    }
    if (ferror(f)) {
        snprintf(why, whyn, "cannot read '%.300s': %s", path, strerror(errno));
        rc = -1;
    } else if (rc != 0 && !found) {
        snprintf(why, whyn, "'%.300s' holds no key", path);
    } else if (rc != 0) {
        snprintf(why, whyn, "'%.300s' does not hold a 40-character Z85 key", path);
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    return rc;
}

/* ---- sizes and durations ---------------------------------------------- */

/* Digits -> *v; returns the count of digits read (0 = none); *overflow set
 * if the number does not fit in 64 bits. */
static size_t s_digits(const char *s, uint64_t *v, bool *overflow)
{
    size_t i = 0;
    *v = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned) (s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            *v = *v * 10 + d;
    }
    return i;
}

static int s_parse_uint(const char *text, uint64_t *out, bool *overflow)
{
    *overflow = false;
    size_t n = s_digits(text, out, overflow);
    return n > 0 && text[n] == '\0' ? 0 : -1;
}

static int s_parse_size(const char *text, uint64_t *bytes, bool *overflow)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        { "", 1 }, { "B", 1 }, { "KiB", S_KiB }, { "MiB", S_MiB }, { "GiB", S_GiB },
        { "TiB", S_TiB }, { "PiB", S_TiB << 10 },
    };
    *overflow = false;
    if (!text)
        return -1;
    text += strspn(text, " \t");
    uint64_t v;
    size_t n = s_digits(text, &v, overflow);
    if (n == 0)
        return -1;
    const char *u = text + n;
    u += strspn(u, " \t");
    size_t un = strlen(u);
    while (un && (u[un - 1] == ' ' || u[un - 1] == '\t'))
        un--;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].unit) == un && strncasecmp(u, units[i].unit, un) == 0) {
            if (*overflow || (v && units[i].mult > UINT64_MAX / v)) {
                *overflow = true;
                return -1;
            }
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    *overflow = false;
    return -1;
}

int config_parse_size(const char *text, uint64_t *bytes)
{
    bool overflow;
    uint64_t v;
    if (!bytes || s_parse_size(text, &v, &overflow) != 0)
        return -1;
    *bytes = v;
    return 0;
}

/* "30s", "500ms", "7d", "1h30m", "0". */
static int s_parse_duration(const char *text, uint64_t *ms, bool *overflow)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        { "ms", 1 }, { "s", S_SEC }, { "min", S_MIN }, { "m", S_MIN }, { "h", S_HOUR },
        { "d", S_DAY },
    };
    *overflow = false;
    if (!text)
        return -1;
    const char *p = text + strspn(text, " \t");
    uint64_t total = 0, v;
    if (p[0] == '0' && p[1 + strspn(p + 1, " \t")] == '\0') {
        *ms = 0;
        return 0;
    }
    int parts = 0;
    while (*p) {
        bool of = false;
        size_t n = s_digits(p, &v, &of);
        if (n == 0)
            return -1;
        p += n;
        p += strspn(p, " \t");
        size_t un = strspn(p, "abcdefghijklmnopqrstuvwxyz");
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == un && strncmp(p, units[i].unit, un) == 0)
                break;
        if (un == 0 || i == sizeof units / sizeof units[0])
            return -1;
        p += un;
        p += strspn(p, " \t");
        if (of || (v && units[i].mult > UINT64_MAX / v) || v * units[i].mult > UINT64_MAX - total)
            *overflow = true;
        else
            total += v * units[i].mult;
        parts++;
    }
    if (parts == 0 || *overflow)
        return -1;
    *ms = total;
    return 0;
}

int config_parse_duration(const char *text, uint64_t *ms)
{
    bool overflow;
    uint64_t v;
    if (!ms || s_parse_duration(text, &v, &overflow) != 0)
        return -1;
    *ms = v;
    return 0;
}

static void s_fmt_size(uint64_t v, char *buf, size_t n)
{
    static const char *const units[] = { "TiB", "GiB", "MiB", "KiB" };
    for (int i = 0; i < 4; i++) {
        uint64_t m = UINT64_C(1) << (10 * (4 - i));
        if (v && v % m == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long) (v / m), units[i]);
            return;
        }
    }
    snprintf(buf, n, "%llu", (unsigned long long) v);
}

static void s_fmt_duration(uint64_t v, char *buf, size_t n)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        { "d", S_DAY }, { "h", S_HOUR }, { "m", S_MIN }, { "s", S_SEC },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (v && v % units[i].mult == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long) (v / units[i].mult), units[i].unit);
            return;
        }
    }
    snprintf(buf, n, "%llums", (unsigned long long) v);
}

static void s_fmt_bound(const s_setting_t *row, uint64_t v, char *buf, size_t n)
{
    if (row->type == T_SIZE)
        s_fmt_size(v, buf, n);
    else if (row->type == T_DURATION)
        s_fmt_duration(v, buf, n);
    else
        snprintf(buf, n, "%llu", (unsigned long long) v);
}

/* ---- setting one value ------------------------------------------------ */

/* What a setting expects, for messages. */
static const char *s_expected(const s_setting_t *row, char *buf, size_t n)
{
    switch (row->type) {
    case T_SECTION:  return "a map of settings";
    case T_BOOL:     return "true or false";
    case T_U32:
    case T_U64:      return "a whole number";
    case T_SIZE:     return "a size such as 64MiB";
    case T_DURATION: return "a duration such as 30s";
    case T_LIST:     return "a list of client names such as [a, b] or [\"*\"]";
    case T_CLIENTS:  return "a list of clients such as - { name: a, public_key: \"...\" }";
    case T_ADAPTERS: return "a list of adapters such as - { name: a, plugin: http-json, settings: {...} }";
    case T_SETTINGS: return "a map of the plugin's settings";
    case T_POLICY:   return "a map of topic settings";
    case T_RULES:    return "a list of rules such as - { pattern: \"raw.*\", publish: [a] }";
    case T_ENUM: {
        size_t used = (size_t) snprintf(buf, n, "one of");
        for (size_t i = 0; row->names[i] && used < n; i++)
            used += (size_t) snprintf(buf + used, n - used, "%s %s", i ? "," : "", row->names[i]);
        return buf;
    }
    default:         return "a text value";
    }
}

static void s_store_uint(void *base, const s_setting_t *row, uint64_t v)
{
    if (row->size == sizeof(uint32_t)) {
        uint32_t v32 = (uint32_t) v;
        memcpy(s_field(base, row), &v32, sizeof v32);
    } else {
        memcpy(s_field(base, row), &v, sizeof v);
    }
}

/* Resolves a path against the config file's folder. Caller owns. */
static char *s_resolve(const s_load_t *L, const char *path)
{
    if (path[0] == '/' || !L->dir)
        return strdup(path);
    while (path[0] == '.' && path[1] == '/')
        path += 2 + strspn(path + 2, "/");
    char *out;
    size_t n = strlen(L->dir);
    if (asprintf(&out, "%s%s%s", L->dir, n && L->dir[n - 1] == '/' ? "" : "/",
                 path[0] ? path : ".") < 0)
        return NULL;
    return out;
}

/* Sets a scalar setting from its text (from the file, or the row's
 * default with line 0). */
static int s_set_text(s_load_t *L, const s_setting_t *row, void *base, const char *text, int line,
                      const char *shown)
{
    char why[768], lo[32], hi[32];
    uint64_t v = 0;
    bool overflow = false;
    switch (row->type) {
    case T_STRING:
    case T_PATH:
    case T_KEYFILE: {
        if (!*text) {
            s_error(L, line, "%s: must not be empty", shown);
            return -1;
        }
        if (row->check && row->check(text, why, sizeof why) != 0) {
            s_error(L, line, "%s: %s", shown, why);
            return -1;
        }
        char *copy = row->type == T_STRING ? strdup(text) : s_resolve(L, text);
        if (!copy) {
            s_oom(L, line);
            return -1;
        }
        char **field = (char **) s_field(base, row);
        free(*field);
        *field = copy;
        return 0;
    }
    case T_BOOL: {
        bool b;
        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on"))
            b = true;
        else if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off"))
            b = false;
        else {
            s_error(L, line, "%s: '%.200s' is not true or false", shown, text);
            return -1;
        }
        memcpy(s_field(base, row), &b, sizeof b);
        return 0;
    }
    case T_ENUM:
        for (int i = 0; row->names[i]; i++) {
            if (strcmp(text, row->names[i]) == 0) {
                memcpy(s_field(base, row), &i, sizeof i);
                return 0;
            }
        }
        s_error(L, line, "%s: '%.200s' is not %s", shown, text, s_expected(row, why, sizeof why));
        return -1;
    case T_U32:
    case T_U64:
        if (s_parse_uint(text, &v, &overflow) != 0 && !overflow) {
            s_error(L, line, "%s: '%.200s' is not a whole number", shown, text);
            return -1;
        }
        break;
    case T_SIZE:
        if (s_parse_size(text, &v, &overflow) != 0 && !overflow) {
            size_t nd = strspn(text, "0123456789");
            if (nd && (!strcasecmp(text + nd, "KB") || !strcasecmp(text + nd, "MB")
                       || !strcasecmp(text + nd, "GB") || !strcasecmp(text + nd, "TB")))
                s_error(L, line, "%s: '%.200s' is not a size: write %.*s%ciB (sizes are binary: "
                        "KiB, MiB, GiB, TiB)", shown, text, (int) nd, text,
                        toupper((unsigned char) text[nd]));
            else
                s_error(L, line, "%s: '%.200s' is not a size: write bytes, or a whole number with "
                        "a unit KiB, MiB, GiB or TiB such as 64MiB", shown, text);
            return -1;
        }
        break;
    case T_DURATION:
        if (s_parse_duration(text, &v, &overflow) != 0 && !overflow) {
            size_t nd = strspn(text, "0123456789");
            if (nd && !text[nd])
                s_error(L, line, "%s: '%.200s' has no unit: write %ss or %sms", shown, text, text,
                        text);
            else
                s_error(L, line, "%s: '%.200s' is not a duration: write a whole number with a unit "
                        "ms, s, m, h or d such as 30s, 500ms or 7d", shown, text);
            return -1;
        }
        break;
    default:
        s_error(L, line, "%s: internal error: not a scalar setting", shown);
        return -1;
    }
    s_fmt_bound(row, row->min, lo, sizeof lo);
    s_fmt_bound(row, row->max, hi, sizeof hi);
    if (overflow || v > row->max) {
        s_error(L, line, "%s: %.200s is above the maximum %s", shown, text, hi);
        return -1;
    }
    if (v < row->min) {
        s_error(L, line, "%s: %.200s is below the minimum %s", shown, text, lo);
        return -1;
    }
    s_store_uint(base, row, v);
    return 0;
}

static void s_free_list(char ***items, size_t *n)
{
    for (size_t i = 0; *items && i < *n; i++)
        free((*items)[i]);
    free(*items);
    *items = NULL;
    *n = 0;
}

/* A list of client names (or "*") from a YAML list, a single value, or null. */
static int s_set_list(s_load_t *L, const s_setting_t *row, void *base, const yamlconf_node_t *node,
                      const char *shown)
{
    size_t n = 0;
    char **items = NULL;
    if (yamlconf_kind(node) == YAMLCONF_MAP) {
        s_error(L, yamlconf_line(node), "%s: expected %s, found a map", shown,
                s_expected(row, NULL, 0));
        return -1;
    }
    bool seq = yamlconf_kind(node) == YAMLCONF_SEQ;
    size_t count = seq ? yamlconf_size(node) : yamlconf_is_null(node) ? 0 : 1;
    if (count) {
        items = calloc(count, sizeof *items);
        if (!items) {
            s_oom(L, yamlconf_line(node));
            return -1;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const yamlconf_node_t *it = seq ? yamlconf_item(node, i) : node;
        const char *t = yamlconf_text(it);
        if (!t || yamlconf_is_null(it)) {
            s_error(L, yamlconf_line(it), "%s: item %zu: expected a client name, found %s", shown,
                    i + 1, t ? "nothing" : yamlconf_kind_name(it));
            goto fail;
        }
        if (strcmp(t, "*") != 0 && !s_valid_name(t)) {
            s_error(L, yamlconf_line(it), "%s: '%.200s' is not a client name (1-%d of A-Z a-z "
                    "0-9 . _ -) nor \"*\"", shown, t, S_NAME_MAX);
            goto fail;
        }
        if (!(items[n++] = strdup(t))) {
            s_oom(L, yamlconf_line(it));
            goto fail;
        }
    }
    char ***field = (char ***) s_field(base, row);
    size_t *nfield = (size_t *) s_field2(base, row);
    s_free_list(field, nfield);
    *field = items;
    *nfield = n;
    /* Remember where the names came from: in curve mode each must be a
     * configured client, known only once the whole file is read. */
    s_acl_t *acls = realloc(L->acls, (L->nacls + 1) * sizeof *acls);
    if (!acls || !(acls[L->nacls].shown = strdup(shown))) {
        if (acls)
            L->acls = acls;
        s_oom(L, yamlconf_line(node));
        return -1;
    }
    acls[L->nacls++].node = node;
    L->acls = acls;
    return 0;
fail:
    s_free_list(&items, &n);
    return -1;
}

/* A default list: words separated by spaces. */
static int s_set_words(s_load_t *L, const s_setting_t *row, void *base, const char *words)
{
    char ***field = (char ***) s_field(base, row);
    size_t *nfield = (size_t *) s_field2(base, row);
    s_free_list(field, nfield);
    char *copy = strdup(words), *save = NULL;
    if (!copy) {
        s_oom(L, 0);
        return -1;
    }
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char **items = realloc(*field, (*nfield + 1) * sizeof *items);
        if (!items || !(items[*nfield] = strdup(w))) {
            if (items)
                *field = items;
            free(copy);
            s_oom(L, 0);
            return -1;
        }
        *field = items;
        (*nfield)++;
    }
    free(copy);
    return 0;
}

/* ---- topic policies --------------------------------------------------- */

static void s_policy_free(topic_policy_t *p)
{
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != S_POLICY)
            continue;
        if (row->type == T_STRING) {
            char **f = (char **) s_field(p, row);
            free(*f);
            *f = NULL;
        } else if (row->type == T_LIST) {
            s_free_list((char ***) s_field(p, row), (size_t *) s_field2(p, row));
        }
    }
}

/* A deep copy of src into dst (which holds nothing). */
static int s_policy_copy(topic_policy_t *dst, const topic_policy_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != S_POLICY)
            continue;
        if (row->type == T_STRING) {
            char **f = (char **) s_field(dst, row);
            if (*f)
                *f = strdup(*f);
        } else if (row->type == T_LIST) {
            char ***f = (char ***) s_field(dst, row);
            size_t n = *(size_t *) s_field2(dst, row);
            char **from = *f;
            *f = n ? calloc(n, sizeof **f) : NULL;
            for (size_t j = 0; *f && j < n; j++)
                (*f)[j] = strdup(from[j]);
        }
    }
    /* Check afterwards, so that every pointer is ours and freeable. */
    bool ok = true;
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != S_POLICY || row->type != T_LIST)
            continue;
        char **items = *(char ***) s_field(dst, row);
        size_t n = *(size_t *) s_field2(dst, row);
        if (n && !items) {
            *(size_t *) s_field2(dst, row) = 0;
            ok = false;
        }
        for (size_t j = 0; items && j < n; j++)
            ok = ok && items[j];
    }
    if (ok)
        return 0;
    s_policy_free(dst);
    return -1;
}

/* glob: '*' matches any run of characters (also empty); everything else
 * itself. Iterative, with one backtrack point: linear in practice. */
static bool s_glob(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* ---- the walk over the YAML tree ---------------------------------------- */

static int s_walk(s_load_t *L, s_scope_t scope, bool in_rule, void *base,
                  const yamlconf_node_t *map, const char *prefix, const char *shown);

static int s_parse_clients(s_load_t *L, const yamlconf_node_t *node);
static int s_parse_adapters(s_load_t *L, const yamlconf_node_t *node);
static int s_set_settings(s_load_t *L, adapter_conf_t *a, const yamlconf_node_t *node,
                          const char *shown);

/* Sets one setting from its YAML node. `within` is the walk's display
 * prefix (NULL, or "topics.rules[2]" for policy rows); shown the full name. */
static int s_set_node(s_load_t *L, const s_setting_t *row, bool in_rule, void *base,
                      const yamlconf_node_t *value, const char *within, const char *shown)
{
    char buf[256];
    int line = yamlconf_line(value);
    switch (row->type) {
    case T_SECTION:
    case T_POLICY:
        if (yamlconf_is_null(value))
            return 0;
        if (yamlconf_kind(value) != YAMLCONF_MAP) {
            s_error(L, line, "%s: expected %s, found %s", shown, s_expected(row, buf, sizeof buf),
                    yamlconf_kind_name(value));
            return -1;
        }
        if (row->type == T_POLICY)
            return s_walk(L, S_POLICY, false, s_field(base, row), value, NULL, shown);
        return s_walk(L, row->scope, in_rule, base, value, row->name, within);
    case T_RULES:
        L->rules = value;  /* read once the defaults are complete */
        return 0;
    case T_CLIENTS:
        return s_parse_clients(L, value);
    case T_ADAPTERS:
        return s_parse_adapters(L, value);
    case T_SETTINGS:
        return s_set_settings(L, base, value, shown);
    case T_LIST:
        return s_set_list(L, row, base, value, shown);
    default:
        if (yamlconf_kind(value) != YAMLCONF_SCALAR) {
            s_error(L, line, "%s: expected %s, found %s", shown, s_expected(row, buf, sizeof buf),
                    yamlconf_kind_name(value));
            return -1;
        }
        if (yamlconf_is_null(value)) {
            s_error(L, line, "%s: no value given (expected %s)", shown,
                    s_expected(row, buf, sizeof buf));
            return -1;
        }
        return s_set_text(L, row, base, yamlconf_text(value), line, shown);
    }
}

/* Reads the settings of one map. S_CONFIG: prefix is the section's dotted
 * name (NULL at the top), names are shown in full. S_POLICY: names are
 * relative, shown after `shown` ("topics.rules[2]"). */
static int s_walk(s_load_t *L, s_scope_t scope, bool in_rule, void *base,
                  const yamlconf_node_t *map, const char *prefix, const char *shown)
{
    for (size_t i = 0; i < yamlconf_size(map); i++) {
        int line;
        const char *key = yamlconf_key(map, i, &line);
        const yamlconf_node_t *value = yamlconf_value(map, i);
        char name[256], full[512];
        if (prefix)
            snprintf(name, sizeof name, "%s.%.200s", prefix, key);
        else
            snprintf(name, sizeof name, "%.200s", key);
        if (shown)
            snprintf(full, sizeof full, "%s.%s", shown, name);
        else
            snprintf(full, sizeof full, "%s", name);
        const s_setting_t *row = s_find(scope, name, in_rule);
        if (!row) {
            const char *hint = s_suggest(scope, in_rule, name);
            if (hint)
                s_error(L, line, "unknown setting '%s'; did you mean '%s%s%s'?", full,
                        shown ? shown : "", shown ? "." : "", hint);
            else
                s_error(L, line, "unknown setting '%s'", full);
            return -1;
        }
        if (scope == S_CONFIG)
            L->lines[row - s_settings] = line;
        if (s_set_node(L, row, in_rule, base, value, shown, full) != 0)
            return -1;
    }
    return 0;
}

static int s_apply_defaults(s_load_t *L, s_scope_t scope, void *base)
{
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != scope || !row->def)
            continue;
        int rc = row->type == T_LIST ? s_set_words(L, row, base, row->def)
                                     : s_set_text(L, row, base, row->def, 0, row->name);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int s_parse_rules(s_load_t *L)
{
    const s_setting_t *row = &s_settings[s_row_index("topics.rules")];
    config_t *cfg = L->cfg;
    const yamlconf_node_t *node = L->rules;
    if (!node || yamlconf_is_null(node))
        return 0;
    char buf[256];
    if (yamlconf_kind(node) != YAMLCONF_SEQ) {
        s_error(L, yamlconf_line(node), "topics.rules: expected %s, found %s",
                s_expected(row, buf, sizeof buf), yamlconf_kind_name(node));
        return -1;
    }
    size_t n = yamlconf_size(node);
    cfg->topics = calloc(n ? n : 1, sizeof *cfg->topics);
    if (!cfg->topics) {
        s_oom(L, yamlconf_line(node));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const yamlconf_node_t *it = yamlconf_item(node, i);
        int line = yamlconf_line(it);
        char shown[64];
        snprintf(shown, sizeof shown, "topics.rules[%zu]", i);
        if (yamlconf_kind(it) != YAMLCONF_MAP) {
            s_error(L, line, "%s: expected a map such as { pattern: \"raw.*\", publish: [a] }, "
                    "found %s", shown, yamlconf_kind_name(it));
            return -1;
        }
        topic_policy_t *t = &cfg->topics[cfg->n_topics];
        if (s_policy_copy(t, &cfg->topic_defaults) != 0) {
            s_oom(L, line);
            return -1;
        }
        cfg->n_topics++;
        free(t->pattern);  /* the defaults' "*": each rule names its own */
        t->pattern = NULL;
        t->line = line;
        if (s_walk(L, S_POLICY, true, t, it, NULL, shown) != 0)
            return -1;
        if (!t->pattern) {
            s_error(L, line, "%s: 'pattern' is required (the topic name, or a glob such as "
                    "\"raw.*\")", shown);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->topics[j].pattern, t->pattern) == 0) {
                s_error(L, line, "%s: the pattern '%s' is already used at line %d: this rule "
                        "would never apply", shown, t->pattern, cfg->topics[j].line);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- adapters ------------------------------------------------------------ */

/* The plugin's settings become JSON (every scalar a string: the plugin
 * decides what a value means) and a table path -> line, so that a plugin
 * can report "file:line" for a setting it refuses. */
static json_t *s_settings_json(s_load_t *L, adapter_conf_t *a, const yamlconf_node_t *node,
                               const char *path)
{
    int line = yamlconf_line(node);
    if (a->n_settings % 32 == 0) {
        char **p = realloc(a->setting_paths, (a->n_settings + 32) * sizeof *p);
        if (p)
            a->setting_paths = p;
        int *l = realloc(a->setting_lines, (a->n_settings + 32) * sizeof *l);
        if (l)
            a->setting_lines = l;
        if (!p || !l)
            return NULL;
    }
    a->setting_paths[a->n_settings] = strdup(path);
    a->setting_lines[a->n_settings] = line;
    if (!a->setting_paths[a->n_settings])
        return NULL;
    a->n_settings++;
    char sub[600];
    switch (yamlconf_kind(node)) {
    case YAMLCONF_SCALAR:
        return yamlconf_is_null(node) && !yamlconf_quoted(node) ? json_null()
                                                                 : json_string(yamlconf_text(node));
    case YAMLCONF_SEQ: {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < yamlconf_size(node); i++) {
            snprintf(sub, sizeof sub, "%s%s%zu", path, *path ? "." : "", i);
            json_t *v = s_settings_json(L, a, yamlconf_item(node, i), sub);
            if (!v || json_array_append_new(arr, v)) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    case YAMLCONF_MAP: {
        json_t *obj = json_object();
        for (size_t i = 0; obj && i < yamlconf_size(node); i++) {
            int kl;
            const char *k = yamlconf_key(node, i, &kl);
            snprintf(sub, sizeof sub, "%s%s%.200s", path, *path ? "." : "", k);
            json_t *v = s_settings_json(L, a, yamlconf_value(node, i), sub);
            if (!v || json_object_set_new(obj, k, v)) {
                json_decref(obj);
                return NULL;
            }
        }
        return obj;
    }
    }
    return NULL;
}

static int s_set_settings(s_load_t *L, adapter_conf_t *a, const yamlconf_node_t *node,
                          const char *shown)
{
    if (yamlconf_is_null(node))
        return 0;
    if (yamlconf_kind(node) != YAMLCONF_MAP) {
        s_error(L, yamlconf_line(node), "%s: expected a map of the plugin's settings, found %s",
                shown, yamlconf_kind_name(node));
        return -1;
    }
    json_t *j = s_settings_json(L, a, node, "");
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!text) {
        s_oom(L, yamlconf_line(node));
        return -1;
    }
    free(a->settings_json);
    a->settings_json = text;
    return 0;
}

static void s_adapter_free(adapter_conf_t *a)
{
    free(a->name);
    free(a->plugin);
    free(a->topic);
    free(a->quarantine_topic);
    free(a->group);
    free(a->output);
    free(a->settings_json);
    for (size_t i = 0; i < a->n_settings; i++)
        free(a->setting_paths[i]);
    free(a->setting_paths);
    free(a->setting_lines);
}

static int s_parse_adapters(s_load_t *L, const yamlconf_node_t *node)
{
    config_t *cfg = L->cfg;
    if (yamlconf_is_null(node))
        return 0;
    if (yamlconf_kind(node) != YAMLCONF_SEQ) {
        s_error(L, yamlconf_line(node), "adapters: expected %s, found %s",
                s_expected(&s_settings[s_row_index("adapters")], NULL, 0), yamlconf_kind_name(node));
        return -1;
    }
    size_t n = yamlconf_size(node);
    cfg->adapters = calloc(n ? n : 1, sizeof *cfg->adapters);
    if (!cfg->adapters) {
        s_oom(L, yamlconf_line(node));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const yamlconf_node_t *it = yamlconf_item(node, i);
        int line = yamlconf_line(it);
        char shown[64], buf[300];
        snprintf(shown, sizeof shown, "adapters[%zu]", i);
        if (yamlconf_kind(it) != YAMLCONF_MAP) {
            s_error(L, line, "%s: expected a map such as { name: qn-population, plugin: http-json, "
                    "settings: {...} }, found %s", shown, yamlconf_kind_name(it));
            return -1;
        }
        adapter_conf_t *a = &cfg->adapters[cfg->n_adapters++];
        a->line = line;
        if (s_apply_defaults(L, S_ADAPTER, a) != 0 || s_walk(L, S_ADAPTER, false, a, it, NULL, shown) != 0)
            return -1;
        if (!a->name || !a->plugin) {
            s_error(L, line, "%s: 'name' and 'plugin' are required", shown);
            return -1;
        }
        if (!a->settings_json && !(a->settings_json = strdup("{}"))) {
            s_oom(L, line);
            return -1;
        }
        for (size_t j = 0; j + 1 < cfg->n_adapters; j++)
            if (strcmp(cfg->adapters[j].name, a->name) == 0) {
                s_error(L, line, "%s: the adapter name '%s' is already used at line %d", shown,
                        a->name, cfg->adapters[j].line);
                return -1;
            }
        if (!a->topic) {
            snprintf(buf, sizeof buf, "raw.%s", a->name);
            a->topic = strdup(buf);
        }
        if (!a->quarantine_topic) {
            snprintf(buf, sizeof buf, "quarantine.%s", a->name);
            a->quarantine_topic = strdup(buf);
        }
        if (!a->group)
            a->group = strdup(a->name);
        if (!a->topic || !a->quarantine_topic || !a->group) {
            s_oom(L, line);
            return -1;
        }
        if (a->backoff_max_ms < a->backoff_ms) {
            s_error(L, line, "%s: restart_backoff_max is shorter than restart_backoff", shown);
            return -1;
        }
    }
    return 0;
}

/* ---- security ------------------------------------------------------------ */

static const char *const s_client_keys[] = { "name", "public_key", "public_key_file", NULL };

static int s_parse_client(s_load_t *L, const yamlconf_node_t *it, const char *shown)
{
    config_t *cfg = L->cfg;
    int line = yamlconf_line(it);
    const yamlconf_node_t *fields[3] = { NULL, NULL, NULL };
    for (size_t k = 0; k < yamlconf_size(it); k++) {
        int kline;
        const char *key = yamlconf_key(it, k, &kline);
        size_t f, best = 0, best_d = SIZE_MAX;
        for (f = 0; s_client_keys[f]; f++) {
            if (strcmp(key, s_client_keys[f]) == 0)
                break;
            size_t d = s_edit_distance(key, s_client_keys[f]);
            if (d < best_d) {
                best_d = d;
                best = f;
            }
        }
        if (!s_client_keys[f]) {
            if (s_close_enough(key, best_d))
                s_error(L, kline, "unknown setting '%s.%.200s'; did you mean '%s.%s'?", shown, key,
                        shown, s_client_keys[best]);
            else
                s_error(L, kline, "unknown setting '%s.%.200s' (a client has name, and "
                        "public_key or public_key_file)", shown, key);
            return -1;
        }
        const yamlconf_node_t *v = yamlconf_value(it, k);
        if (!yamlconf_text(v) || yamlconf_is_null(v) || !*yamlconf_text(v)) {
            s_error(L, yamlconf_line(v), "%s.%s: expected a text value, found %s", shown,
                    s_client_keys[f], yamlconf_text(v) ? "nothing" : yamlconf_kind_name(v));
            return -1;
        }
        fields[f] = v;
    }
    if (!fields[0]) {
        s_error(L, line, "%s: 'name' is required", shown);
        return -1;
    }
    const char *name = yamlconf_text(fields[0]);
    if (!s_valid_name(name)) {
        s_error(L, yamlconf_line(fields[0]), "%s.name: '%.200s' is not a client name (1-%d of "
                "A-Z a-z 0-9 . _ -)", shown, name, S_NAME_MAX);
        return -1;
    }
    if (!fields[1] == !fields[2]) {
        s_error(L, line, "%s (%s): give public_key or public_key_file%s", shown, name,
                fields[1] ? ", not both" : "");
        return -1;
    }
    char key[41], why[768];
    if (fields[1]) {
        const char *t = yamlconf_text(fields[1]);
        if (!s_z85_key(t, strlen(t))) {
            s_error(L, yamlconf_line(fields[1]), "%s.public_key: not a Curve public key (40 "
                    "characters of Z85 text, as printed by 'lgsp keygen')", shown);
            return -1;
        }
        memcpy(key, t, 41);
    } else {
        char *path = s_resolve(L, yamlconf_text(fields[2]));
        int rc = path ? s_read_key(path, key, why, sizeof why, false) : -1;
        if (!path)
            snprintf(why, sizeof why, "out of memory");
        free(path);
        if (rc != 0) {
            s_error(L, yamlconf_line(fields[2]), "%s.public_key_file: %s", shown, why);
            return -1;
        }
    }
    for (size_t j = 0; j < cfg->n_clients; j++) {
        if (strcmp(cfg->clients[j].name, name) == 0) {
            s_error(L, yamlconf_line(fields[0]), "%s: the client name '%s' is already used at "
                    "line %d", shown, name, cfg->clients[j].line);
            return -1;
        }
        if (strcmp(cfg->clients[j].public_key, key) == 0) {
            s_error(L, line, "%s (%s): the same public key as client '%s' (line %d)", shown, name,
                    cfg->clients[j].name, cfg->clients[j].line);
            return -1;
        }
    }
    client_key_t *c = &cfg->clients[cfg->n_clients];
    if (!(c->name = strdup(name))) {
        s_oom(L, line);
        return -1;
    }
    memcpy(c->public_key, key, 41);
    c->line = line;
    cfg->n_clients++;
    return 0;
}

static int s_parse_clients(s_load_t *L, const yamlconf_node_t *node)
{
    config_t *cfg = L->cfg;
    if (yamlconf_is_null(node))
        return 0;
    if (yamlconf_kind(node) != YAMLCONF_SEQ) {
        s_error(L, yamlconf_line(node), "security.clients: expected %s, found %s",
                s_expected(&s_settings[s_row_index("security.clients")], NULL, 0),
                yamlconf_kind_name(node));
        return -1;
    }
    size_t n = yamlconf_size(node);
    cfg->clients = calloc(n ? n : 1, sizeof *cfg->clients);
    if (!cfg->clients) {
        s_oom(L, yamlconf_line(node));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const yamlconf_node_t *it = yamlconf_item(node, i);
        char shown[64];
        snprintf(shown, sizeof shown, "security.clients[%zu]", i);
        if (yamlconf_kind(it) != YAMLCONF_MAP) {
            s_error(L, yamlconf_line(it), "%s: expected a map such as { name: a, public_key: "
                    "\"...\" }, found %s", shown, yamlconf_kind_name(it));
            return -1;
        }
        if (s_parse_client(L, it, shown) != 0)
            return -1;
    }
    return 0;
}

static bool s_is_client(const config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_clients; i++)
        if (strcmp(cfg->clients[i].name, name) == 0)
            return true;
    return false;
}

/* Checks that need the whole file: the server key in curve mode, and that
 * access lists name configured clients. */
static int s_check_security(s_load_t *L)
{
    config_t *cfg = L->cfg;
    if (cfg->security_mode != SECURITY_CURVE)
        return 0;
    if (!cfg->server_secret_key_file) {
        int line = s_line_of(L, "security.mode");
        if (!line)
            line = s_line_of(L, "security");
        s_error(L, line ? line : 1, "security.server_secret_key_file is required when "
                "security.mode is curve (the default; use 'mode: plain' only for local development)");
        return -1;
    }
    char why[768];
    if (s_read_key(cfg->server_secret_key_file, cfg->server_secret_key, why, sizeof why, true) != 0) {
        s_error(L, s_line_of(L, "security.server_secret_key_file"),
                "security.server_secret_key_file: %s", why);
        return -1;
    }
    for (size_t i = 0; i < L->nacls; i++) {
        const yamlconf_node_t *node = L->acls[i].node;
        bool seq = yamlconf_kind(node) == YAMLCONF_SEQ;
        size_t n = seq ? yamlconf_size(node) : yamlconf_is_null(node) ? 0 : 1;
        for (size_t j = 0; j < n; j++) {
            const yamlconf_node_t *it = seq ? yamlconf_item(node, j) : node;
            const char *name = yamlconf_text(it);
            if (strcmp(name, "*") == 0 || s_is_client(cfg, name))
                continue;
            const char *best = NULL;
            size_t best_d = SIZE_MAX;
            for (size_t k = 0; k < cfg->n_clients; k++) {
                size_t d = s_edit_distance(name, cfg->clients[k].name);
                if (d < best_d) {
                    best_d = d;
                    best = cfg->clients[k].name;
                }
            }
            if (best && s_close_enough(name, best_d))
                s_error(L, yamlconf_line(it), "%s: '%s' is not a client in security.clients; did "
                        "you mean '%s'?", L->acls[i].shown, name, best);
            else
                s_error(L, yamlconf_line(it), "%s: '%s' is not a client in security.clients",
                        L->acls[i].shown, name);
            return -1;
        }
    }
    return 0;
}

/* ---- load, destroy ------------------------------------------------------ */

static char *s_folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (path[0] == '/') {
        if (slash == path)
            return strdup("/");
        return strndup(path, (size_t) (slash - path));
    }
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return slash ? strndup(path, (size_t) (slash - path)) : strdup(".");
    int rc = slash ? asprintf(&dir, "%s/%.*s", cwd, (int) (slash - path), path)
                   : asprintf(&dir, "%s", cwd);
    free(cwd);
    return rc < 0 ? NULL : dir;
}

/* The review section: given at all, it needs its four files (the page has
 * nothing to show or no one to let in without them). */
static int s_check_review(s_load_t *L)
{
    static const char *const keys[] = { "review.listen", "review.store", "review.spec",
                                        "review.queue", "review.records", "review.users",
                                        "review.admin", "review.session_idle",
                                        "review.session_max", NULL };
    int line = s_line_of(L, "review");
    for (int i = 0; !line && keys[i]; i++)
        line = s_line_of(L, keys[i]);
    if (!line)
        return 0;
    const config_t *c = L->cfg;
    const char *missing = !c->review_store ? "store" : !c->review_spec ? "spec"
                        : !c->review_queue ? "queue" : !c->review_users ? "users" : NULL;
    if (missing) {
        s_error(L, line, "review: '%s' is missing (the review page needs store, spec, queue "
                "and users)", missing);
        return -1;
    }
    return 0;
}

config_t *config_load(const char *path, char **err)
{
    char *dummy = NULL;
    if (!err)
        err = &dummy;
    *err = NULL;
    if (!path || !*path) {
        if (err != &dummy)
            *err = strdup("no configuration file given");
        return NULL;
    }
    yamlconf_t *doc = yamlconf_load(path, err);
    if (!doc) {
        free(dummy);
        return NULL;
    }
    s_load_t L = { .file = path, .dir = s_folder_of(path), .cfg = calloc(1, sizeof(config_t)) };
    if (!L.cfg || !L.dir || !(L.cfg->path = strdup(path))) {
        s_oom(&L, 0);
        goto done;
    }
    const yamlconf_node_t *root = yamlconf_root(doc);
    if (!root || yamlconf_is_null(root)) {
        s_error(&L, 1, "the file is empty: expected settings such as 'security:' (see the "
                "commented reference lgspd.yaml)");
        goto done;
    }
    if (yamlconf_kind(root) != YAMLCONF_MAP) {
        s_error(&L, yamlconf_line(root), "expected a map of settings at the top level, found %s",
                yamlconf_kind_name(root));
        goto done;
    }
    if (s_apply_defaults(&L, S_CONFIG, L.cfg) != 0
        || s_apply_defaults(&L, S_POLICY, &L.cfg->topic_defaults) != 0
        || s_walk(&L, S_CONFIG, false, L.cfg, root, NULL, NULL) != 0)
        goto done;
    L.cfg->topic_defaults.line = s_line_of(&L, "topics.defaults");
    if (!(L.cfg->topic_defaults.pattern = strdup("*"))) {
        s_oom(&L, 0);
        goto done;
    }
    if (s_parse_rules(&L) == 0 && s_check_security(&L) == 0)
        s_check_review(&L);
done:
    for (size_t i = 0; i < L.nacls; i++)
        free(L.acls[i].shown);
    free(L.acls);
    free(L.dir);
    yamlconf_destroy(&doc);
    if (L.err) {
        config_destroy(&L.cfg);
        if (err == &dummy)
            free(L.err);
        else
            *err = L.err;
        return NULL;
    }
    return L.cfg;
}

void config_destroy(config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    config_t *self = *self_p;
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != S_CONFIG)
            continue;
        switch (row->type) {
        case T_STRING:
        case T_PATH:
        case T_KEYFILE:
            free(*(char **) s_field(self, row));
            break;
        case T_LIST:
            s_free_list((char ***) s_field(self, row), (size_t *) s_field2(self, row));
            break;
        case T_CLIENTS:
            for (size_t j = 0; j < self->n_clients; j++)
                free(self->clients[j].name);
            free(self->clients);
            break;
        case T_POLICY:
            s_policy_free((topic_policy_t *) s_field(self, row));
            break;
        case T_RULES:
            for (size_t j = 0; j < self->n_topics; j++)
                s_policy_free(&self->topics[j]);
            free(self->topics);
            break;
        case T_ADAPTERS:
            for (size_t j = 0; j < self->n_adapters; j++)
                s_adapter_free(&self->adapters[j]);
            free(self->adapters);
            break;
        default:
            break;
        }
    }
    free(self->path);
    explicit_bzero(self, sizeof *self);
    free(self);
    *self_p = NULL;
}

/* ---- queries ------------------------------------------------------------- */

const topic_policy_t *config_topic_policy(const config_t *self, const char *topic)
{
    for (size_t i = 0; topic && i < self->n_topics; i++)
        if (s_glob(self->topics[i].pattern, topic))
            return &self->topics[i];
    return &self->topic_defaults;
}

static bool s_listed(char *const *names, size_t n, const char *client)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], "*") == 0 || (client && strcmp(names[i], client) == 0))
            return true;
    return false;
}

bool config_may_publish(const config_t *self, const char *client, const char *topic)
{
    const topic_policy_t *p = config_topic_policy(self, topic);
    return s_listed(p->publish, p->n_publish, client);
}

bool config_may_subscribe(const config_t *self, const char *client, const char *topic)
{
    const topic_policy_t *p = config_topic_policy(self, topic);
    return s_listed(p->subscribe, p->n_subscribe, client);
}

bool config_is_admin(const config_t *self, const char *client)
{
    return s_listed(self->admins, self->n_admins, client);
}

const char *config_client_by_key(const config_t *self, const char *public_key_z85)
{
    for (size_t i = 0; public_key_z85 && i < self->n_clients; i++)
        if (strcmp(self->clients[i].public_key, public_key_z85) == 0)
            return self->clients[i].name;
    return NULL;
}

static bool s_str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

char *config_reload_check(const config_t *running, const config_t *fresh)
{
    char *out = NULL;
    size_t len = 0;
    for (size_t i = 0; i < S_NROWS; i++) {
        const s_setting_t *row = &s_settings[i];
        if (row->scope != S_CONFIG || row->reload || row->type == T_SECTION)
            continue;
        void *a = (void *) running, *b = (void *) fresh;
        bool same;
        switch (row->type) {
        case T_STRING:
        case T_PATH:
            same = s_str_eq(*(char **) s_field(a, row), *(char **) s_field(b, row));
            break;
        case T_KEYFILE:
            same = s_str_eq(*(char **) s_field(a, row), *(char **) s_field(b, row))
                && strcmp(s_field2(a, row), s_field2(b, row)) == 0;
            break;
        case T_BOOL:
        case T_U32:
        case T_U64:
        case T_SIZE:
        case T_DURATION:
        case T_ENUM:
            same = memcmp(s_field(a, row), s_field(b, row), row->size) == 0;
            break;
        case T_ADAPTERS:
            same = running->n_adapters == fresh->n_adapters;
            for (size_t j = 0; same && j < fresh->n_adapters; j++) {
                const adapter_conf_t *x = &running->adapters[j], *y = &fresh->adapters[j];
                same = strcmp(x->name, y->name) == 0 && strcmp(x->plugin, y->plugin) == 0
                    && strcmp(x->topic, y->topic) == 0 && strcmp(x->quarantine_topic, y->quarantine_topic) == 0
                    && strcmp(x->group, y->group) == 0 && strcmp(x->settings_json, y->settings_json) == 0
                    && strcmp(x->output ? x->output : "", y->output ? y->output : "") == 0
                    && x->interval_ms == y->interval_ms && x->backoff_ms == y->backoff_ms
                    && x->backoff_max_ms == y->backoff_max_ms && x->enabled == y->enabled
                    && x->credit == y->credit && x->batch == y->batch;
            }
            break;
        default:
            same = true; /* lists, clients, policies: all reloadable */
            break;
        }
        if (same)
            continue;
        size_t n = strlen(row->name);
        char *grown = realloc(out, len + n + 3);
        if (!grown) {
            free(out);
            return strdup("(out of memory while comparing configurations)");
        }
        out = grown;
        if (len) {
            memcpy(out + len, ", ", 2);
            len += 2;
        }
        memcpy(out + len, row->name, n + 1);
        len += n;
    }
    return out;
}
