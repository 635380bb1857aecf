/* lgsp.c — the lgsp command-line tool: publish, consume, and operate the bus
 * through the C client (include/lgsp/client.h). docs/cli.md is its manual.
 *
 * Every subcommand is one s_cmd_<name>() with its own getopt_long table;
 * the options shared by all (endpoint, name, keys, timeout) are parsed by
 * s_common_opt() wherever they appear on the line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "lgsp/client.h"
#include "lgsp/protocol.h"
#include "lgsp_certs.h"
#include "lgsp_er.h"
#include "lgsp_map.h"
#include "lgsp_reconcile.h"
#include "lgsp_review.h"

#ifndef LGSP_VERSION
#define LGSP_VERSION "0.0.0"
#endif

/* Exit codes (also in docs/cli.md and --help). */
enum {
    EXIT_OK          = 0,
    EXIT_ERROR       = 1,   /* connection or other runtime error */
    EXIT_USAGE       = 2,
    EXIT_FAILED      = 3,   /* publish: some messages were not stored */
    EXIT_INCOMPLETE  = 4,   /* consume: --count not reached before --timeout */
    EXIT_REFUSED     = 5,   /* the broker answered with an error (403, 404, ...) */
    EXIT_INTERRUPTED = 130, /* SIGINT / SIGTERM */
};

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7600"

static const char s_exit_codes[] =
    "Exit codes:\n"
    "  0  success (consume: --count reached, or stopped by --timeout without --count)\n"
    "  1  connection or other runtime error (broker unreachable, key refused, I/O error)\n"
    "  2  usage error (bad option or argument)\n"
    "  3  publish: some messages were not stored (see the summary and the errors printed)\n"
    "  4  consume: --count not reached before --timeout\n"
    "  5  the broker refused the request (403 not allowed, 404 not found, 400 bad request)\n"
    "130  interrupted by SIGINT/SIGTERM (what was sent before is flushed and reported)\n";

static const char s_common_help[] =
    "Common options (any subcommand):\n"
    "  -e, --endpoint URL     broker endpoint (default $LGSP_ENDPOINT or " DEFAULT_ENDPOINT ")\n"
    "  -n, --name NAME        client name sent in HELLO (default $LGSP_NAME or lgsp-cli)\n"
    "  -s, --server-key K     the broker's Curve public key: a file or the 40-char Z85 text\n"
    "                         (default $LGSP_SERVER_KEY); without it the connection is plain\n"
    "  -k, --key K            our Curve secret key: a file or Z85 text (default $LGSP_KEY);\n"
    "                         the public key is derived from it\n"
    "  -t, --timeout MS       how long to wait for the broker (default 10000; accepts\n"
    "                         500ms, 10s, 2m); consume also uses it as the idle time\n"
    "  -h, --help             help for the subcommand\n";

/* ---- common state ------------------------------------------------------ */

typedef struct {
    const char *endpoint;
    const char *name;
    const char *server_key_arg;
    const char *key_arg;
    int         timeout_ms;
    bool        timeout_set;
} common_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

static void s_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    /* No SA_RESTART: blocking reads and polls return EINTR so that loops
     * see s_stop. SA_RESETHAND: a second Ctrl-C kills at once. */
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void s_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lgsp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "500", "500ms", "10s", "2m", "1h" -> ms. */
static int s_parse_ms(const char *text, int *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || v < 0)
        return -1;
    double mult = 1;
    if (*end == 0 || strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    v *= mult;
    if (v > 2147483647.0)
        return -1;
    *out = (int) v;
    return 0;
}

static int s_parse_count(const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*text || *text == '-')
        return -1;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static bool s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LGSP_MAX_NAME || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
            return false;
    return true;
}

/* A Curve key given as Z85 text, or a file holding it (the first line not
 * starting with '#', surrounding blanks ignored). */
static int s_load_key(const char *arg, const char *what, char out[41])
{
    uint8_t bin[32];
    struct stat st;
    if (strlen(arg) == 40 && zmq_z85_decode(bin, arg) && stat(arg, &st) != 0) {
        memcpy(out, arg, 41);
        return 0;
    }
    FILE *f = fopen(arg, "r");
    if (!f) {
        s_err("%s: cannot read '%s': %s (give a key file or the 40-character Z85 key)", what, arg,
              strerror(errno));
        return -1;
    }
    char line[512];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0)
            continue;
        size_t n = strcspn(p, " \t\r\n");
        p[n] = 0;
        if (n == 40 && zmq_z85_decode(bin, p)) {
            memcpy(out, p, 41);
            rc = 0;
        } else {
            s_err("%s: '%s' does not hold a 40-character Z85 Curve key", what, arg);
        }
        break;
    }
    if (rc != 0 && feof(f))
        s_err("%s: '%s' holds no key", what, arg);
    fclose(f);
    return rc;
}

static lgsp_client_t *s_connect(const common_t *c)
{
    char server[41] = "", secret[41] = "", err[512];
    lgsp_client_options_t o = { .endpoint = c->endpoint, .name = c->name, .timeout_ms = c->timeout_ms };
    if (c->server_key_arg && *c->server_key_arg) {
        if (s_load_key(c->server_key_arg, "--server-key", server) != 0)
            return NULL;
        if (!c->key_arg || !*c->key_arg) {
            s_err("Curve needs our secret key too: --key FILE (or $LGSP_KEY); make one with 'lgsp keygen'");
            return NULL;
        }
        if (s_load_key(c->key_arg, "--key", secret) != 0)
            return NULL;
        o.server_key = server;
        o.secret_key = secret;
    } else if (c->key_arg && *c->key_arg) {
        s_err("--key is given but --server-key is not: give both for Curve, neither for plain");
        return NULL;
    }
    lgsp_client_t *client = lgsp_client_new(&o, err, sizeof err);
    memset(secret, 0, sizeof secret);
    if (!client)
        s_err("%s", err);
    return client;
}

/* Options shared by every subcommand. */
enum { OPT_ENDPOINT = 'e', OPT_NAME = 'n', OPT_SERVER_KEY = 's', OPT_KEY = 'k', OPT_TIMEOUT = 't' };
#define COMMON_SHORT "e:n:s:k:t:h"
#define COMMON_LONG                                                 \
    { "endpoint", required_argument, NULL, OPT_ENDPOINT },          \
    { "name", required_argument, NULL, OPT_NAME },                  \
    { "server-key", required_argument, NULL, OPT_SERVER_KEY },      \
    { "key", required_argument, NULL, OPT_KEY },                    \
    { "timeout", required_argument, NULL, OPT_TIMEOUT },            \
    { "help", no_argument, NULL, 'h' }

/* Returns 1 if the option was a common one, 0 if not, -1 if invalid. */
static int s_common_opt(common_t *c, int opt, const char *arg)
{
    switch (opt) {
    case OPT_ENDPOINT: c->endpoint = arg; return 1;
    case OPT_NAME: c->name = arg; return 1;
    case OPT_SERVER_KEY: c->server_key_arg = arg; return 1;
    case OPT_KEY: c->key_arg = arg; return 1;
    case OPT_TIMEOUT:
        if (s_parse_ms(arg, &c->timeout_ms) != 0 || c->timeout_ms <= 0) {
            s_err("--timeout: '%s' is not a duration (e.g. 500, 500ms, 10s)", arg);
            return -1;
        }
        c->timeout_set = true;
        return 1;
    default:
        return 0;
    }
}

/* The broker answered ERROR ("403 ...")? */
static bool s_refused(const char *error)
{
    return error && strlen(error) > 4 && error[0] >= '1' && error[0] <= '9' && error[1] >= '0' && error[1] <= '9'
        && error[2] >= '0' && error[2] <= '9' && error[3] == ' ';
}

static int s_usage_error(void (*usage)(FILE *), const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_usage_error(void (*usage)(FILE *), const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs("lgsp: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    /* The synopsis only; --help has the rest. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        usage(mem);
        fclose(mem);
        char *end = strstr(text, "\n\n");
        fprintf(stderr, "%.*s\n(--help for more)\n", end ? (int) (end - text) : (int) len, text);
        free(text);
    }
    return EXIT_USAGE;
}

/* Parses the subcommand's options. opt_cb handles its own; returns -1 on
 * error. Returns 0 to go on, EXIT_OK after --help, EXIT_USAGE on error. */
typedef int (opt_cb_t)(void *ctx, int opt, const char *arg);

static int s_parse(int argc, char **argv, common_t *c, const char *shortopts, const struct option *longopts,
                   opt_cb_t *cb, void *ctx, void (*usage)(FILE *), bool *help)
{
    optind = 0;         /* glibc: start over, permuting */
    *help = false;
    for (int opt; (opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1;) {
        if (opt == 'h') {
            usage(stdout);
            *help = true;
            return EXIT_OK;
        }
        if (opt == '?')
            return s_usage_error(usage, NULL);
        int r = s_common_opt(c, opt, optarg);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0 && (!cb || cb(ctx, opt, optarg) != 0))
            return EXIT_USAGE;
    }
    return 0;
}

/* ---- JSON and formatting helpers --------------------------------------- */

static void s_human_bytes(uint64_t v, char *out, size_t len)
{
    static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double d = (double) v;
    int u = 0;
    while (d >= 1024 && u < 4) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%" PRIu64 " B", v);
    else
        snprintf(out, len, "%.1f %s", d, unit[u]);
}

static void s_human_age(uint64_t s, char *out, size_t len)
{
    if (s && s % 86400 == 0)
        snprintf(out, len, "%" PRIu64 "d", s / 86400);
    else if (s && s % 3600 == 0)
        snprintf(out, len, "%" PRIu64 "h", s / 3600);
    else if (s && s % 60 == 0)
        snprintf(out, len, "%" PRIu64 "m", s / 60);
    else
        snprintf(out, len, "%" PRIu64 "s", s);
}

static void s_time_us(uint64_t us, char *out, size_t len)
{
    time_t t = (time_t) (us / 1000000);
    struct tm tm;
    if (!us || !gmtime_r(&t, &tm)) {
        snprintf(out, len, "-");
        return;
    }
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03uZ", (unsigned) (us / 1000 % 1000));
}

static uint64_t s_json_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t) json_integer_value(v) : 0;
}

static const char *s_json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void s_print_json(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!j) {
        puts(text);
        return;
    }
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
    json_decref(j);
}

static int s_base64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes base64 (padding and whitespace ignored). Caller frees. */
static unsigned char *s_base64_decode(const char *in, size_t *out_len)
{
    size_t n = strlen(in);
    unsigned char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_base64_value((unsigned char) in[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

static void s_base64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < n ? (uint32_t) in[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
}

/* A JSON string of bytes that may not be UTF-8: NULL if they are not. */
static json_t *s_json_text(const void *data, size_t len)
{
    return json_stringn(len ? data : "", len);
}

static json_t *s_json_b64(const void *data, size_t len)
{
    char *b = malloc(len / 3 * 4 + 5);
    if (!b)
        return json_null();
    s_base64_encode(data, len, b);
    json_t *j = json_string(b);
    free(b);
    return j;
}

/* ---- publish ----------------------------------------------------------- */

static void s_publish_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp publish TOPIC [FILE] [options]\n"
        "\n"
        "Publishes the lines of FILE (or standard input) to TOPIC, one message per line\n"
        "(empty lines skipped), and waits until the broker has stored every one.\n"
        "A summary goes to standard error:\n"
        "  published N (new N, dup N, failed N) in X s, R msg/s\n"
        "\n"
        "  -w, --whole            publish the whole input as one message\n"
        "  -K, --key-field NAME   each line is a JSON object; its field NAME (string or\n"
        "                         integer) is the partition key (same key: delivered in order)\n"
        "  -H, --header K=V       add a header to every message (repeatable)\n"
        "  -p, --id-prefix P      message ids P-<line number>: publishing the same file\n"
        "                         again stores nothing twice (answers 'dup'); default:\n"
        "                         generated time-ordered ids\n"
        "\n%s\n%s", s_common_help, s_exit_codes);
}

typedef struct {
    bool        whole;
    const char *key_field;
    const char *id_prefix;
    json_t     *headers;
    bool        bad;
} pub_opts_t;

static int s_publish_opt(void *ctx, int opt, const char *arg)
{
    pub_opts_t *p = ctx;
    switch (opt) {
    case 'w': p->whole = true; return 0;
    case 'K': p->key_field = arg; return 0;
    case 'p': p->id_prefix = arg; return 0;
    case 'H': {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
            s_err("--header: '%s' is not NAME=VALUE", arg);
            return -1;
        }
        char *name = strndup(arg, (size_t) (eq - arg));
        if (!name)
            return -1;
        if (strncmp(name, "lgsp-", 5) == 0) {
            s_err("--header: names starting with 'lgsp-' are reserved for the broker");
            free(name);
            return -1;
        }
        json_t *v = json_string(eq + 1);
        if (!v) {
            s_err("--header: '%s' is not UTF-8 text", arg);
            free(name);
            return -1;
        }
        json_object_set_new(p->headers, name, v);
        free(name);
        return 0;
    }
    default:
        return -1;
    }
}

typedef struct {
    size_t new_, dup, failed, reported;
} pub_stats_t;

#define MAX_REPORTED 20

static void s_on_published(void *arg, const char *topic, const char *id, int code, uint64_t offset, bool dup,
                           const char *error_text)
{
    (void) topic;
    (void) offset;
    pub_stats_t *st = arg;
    if (code == 0) {
        if (dup)
            st->dup++;
        else
            st->new_++;
        return;
    }
    st->failed++;
    if (st->reported++ < MAX_REPORTED)
        s_err("message %s not stored: %d %s", id, code, error_text ? error_text : "");
    else if (st->reported == MAX_REPORTED + 1)
        s_err("(more failures not shown)");
}

/* A buffered line reader over a file descriptor that keeps the client
 * alive while the input is idle: before blocking on the input it sends
 * what is queued, and it wakes every heartbeat to keep the session. */
typedef struct {
    int     fd;
    char   *buf;
    size_t  cap, start, end;
    bool    eof;
    int     error;
} reader_t;

static int s_read_more(reader_t *r, lgsp_client_t *client)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1 << 16;
        char *b = realloc(r->buf, cap);
        if (!b) {
            r->error = ENOMEM;
            return -1;
        }
        r->buf = b;
        r->cap = cap;
    }
    struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
    bool pushed = false;
    for (;;) {
        if (s_stop)
            return -1;
        int rc = poll(&pfd, 1, pushed ? 1000 : 0);
        if (rc > 0)
            break;
        if (rc < 0 && errno != EINTR) {
            r->error = errno;
            return -1;
        }
        /* The input is idle: send what is queued and serve heartbeats. */
        lgsp_delivery_t d;
        if (client)
            lgsp_client_receive(client, &d, 0);
        pushed = true;
    }
    ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        r->error = errno;
        return -1;
    }
    if (n == 0)
        r->eof = true;
    r->end += (size_t) n;
    return 0;
}

/* Returns 1 with the next line (without \n or \r\n), 0 at the end, -1 on error. */
static int s_next_line(reader_t *r, lgsp_client_t *client, char **line, size_t *len)
{
    size_t scanned = r->start;
    for (;;) {
        char *nl = r->end > scanned ? memchr(r->buf + scanned, '\n', r->end - scanned) : NULL;
        if (nl) {
            *line = r->buf + r->start;
            *len = (size_t) (nl - *line);
            r->start = (size_t) (nl - r->buf) + 1;
            if (*len && (*line)[*len - 1] == '\r')
                (*len)--;
            return 1;
        }
        if (r->eof) {
            if (r->start == r->end)
                return 0;
            *line = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            if (*len && (*line)[*len - 1] == '\r')
                (*len)--;
            return 1;
        }
        size_t off = scanned - r->start;
        if (s_read_more(r, client) != 0)
            return -1;
        scanned = r->start + off;
    }
}

/* The partition key of a JSON line. Returns 0, or -1 with why. */
static int s_key_of(const char *line, size_t len, const char *field, char *key, size_t *key_len,
                    const char **why)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    if (!j || !json_is_object(j)) {
        *why = "not a JSON object";
        json_decref(j);
        return -1;
    }
    json_t *v = json_object_get(j, field);
    int rc = 0;
    if (json_is_string(v)) {
        *key_len = json_string_length(v);
        if (*key_len > LGSP_MAX_KEY) {
            *why = "key longer than 255 bytes";
            rc = -1;
        } else {
            memcpy(key, json_string_value(v), *key_len);
        }
    } else if (json_is_integer(v)) {
        *key_len = (size_t) snprintf(key, LGSP_MAX_KEY + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else {
        *why = v ? "key field is neither a string nor an integer" : "no such key field";
        rc = -1;
    }
    json_decref(j);
    return rc;
}

static int s_cmd_publish(common_t *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG,
        { "whole", no_argument, NULL, 'w' },
        { "key-field", required_argument, NULL, 'K' },
        { "header", required_argument, NULL, 'H' },
        { "id-prefix", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    pub_opts_t po = { .headers = json_object() };
    bool help;
    int rc = s_parse(argc, argv, c, COMMON_SHORT "wK:H:p:", longopts, s_publish_opt, &po, s_publish_usage, &help);
    char *headers = NULL;
    if (rc || help)
        goto out_opts;
    if (optind >= argc || argc - optind > 2) {
        rc = s_usage_error(s_publish_usage, "publish takes TOPIC [FILE]");
        goto out_opts;
    }
    const char *topic = argv[optind], *path = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (!s_name_ok(topic)) {
        rc = s_usage_error(s_publish_usage, "'%s' is not a topic name (1-200 of A-Z a-z 0-9 . _ -, not starting with '.')",
                           topic);
        goto out_opts;
    }
    if (po.id_prefix) {
        size_t n = strlen(po.id_prefix);
        bool ok = n > 0 && n + 21 <= LGSP_MAX_ID;
        for (size_t i = 0; ok && i < n; i++)
            ok = po.id_prefix[i] > 0x20 && po.id_prefix[i] < 0x7f;
        if (!ok) {
            rc = s_usage_error(s_publish_usage, "--id-prefix: 1-%d printable ASCII characters without spaces",
                               LGSP_MAX_ID - 21);
            goto out_opts;
        }
    }
    if (po.whole && po.key_field) {
        rc = s_usage_error(s_publish_usage, "--whole and --key-field do not go together");
        goto out_opts;
    }
    if (json_object_size(po.headers)) {
        headers = json_dumps(po.headers, JSON_COMPACT);
        if (!headers || strlen(headers) > LGSP_MAX_HEADERS) {
            rc = s_usage_error(s_publish_usage, "--header: the headers are larger than %d bytes", LGSP_MAX_HEADERS);
            goto out_opts;
        }
    }
    reader_t r = { .fd = 0 };
    if (path && strcmp(path, "-") != 0) {
        r.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r.fd < 0) {
            s_err("cannot open '%s': %s", path, strerror(errno));
            rc = EXIT_ERROR;
            goto out_opts;
        }
    }

    lgsp_client_t *client = s_connect(c);
    if (!client) {
        rc = EXIT_ERROR;
        goto out_file;
    }
    pub_stats_t st = { 0 };
    lgsp_client_on_publish(client, s_on_published, &st);
    uint64_t max_bytes = lgsp_client_max_message_bytes(client);
    size_t submitted = 0, local_failed = 0;
    bool fatal = false;
    int64_t t0 = s_now_ms();
    char key[LGSP_MAX_KEY + 1], id[LGSP_MAX_ID + 1];
    uint64_t lineno = 0;

    for (;;) {
        char *line;
        size_t len, key_len = 0;
        int got;
        if (po.whole) {
            while (!r.eof && s_read_more(&r, client) == 0)
                ;
            got = r.error || s_stop ? -1 : (r.end > r.start ? 1 : 0);
            line = r.buf + r.start;
            len = r.end - r.start;
            r.start = r.end;
            if (got == 0)
                s_err("the input is empty: nothing to publish");
        } else {
            got = s_next_line(&r, client, &line, &len);
        }
        if (got <= 0) {
            if (got < 0 && r.error) {
                s_err("reading %s: %s", path ? path : "standard input", strerror(r.error));
                fatal = true;
            }
            break;
        }
        lineno++;
        if (!po.whole && len == 0)
            continue;
        const char *why = NULL;
        if (max_bytes && len > max_bytes)
            why = "larger than the broker's max_message_bytes";
        else if (po.key_field)
            s_key_of(line, len, po.key_field, key, &key_len, &why);
        if (why) {
            local_failed++;
            if (st.reported++ < MAX_REPORTED)
                s_err("line %" PRIu64 " not published: %s", lineno, why);
            else if (st.reported == MAX_REPORTED + 1)
                s_err("(more failures not shown)");
            if (po.whole)
                break;
            continue;
        }
        if (po.id_prefix)
            snprintf(id, sizeof id, "%s-%" PRIu64, po.id_prefix, lineno);
        if (lgsp_client_publish(client, topic, po.id_prefix ? id : NULL, key, key_len, headers, line, len) != 0) {
            if (!s_stop)
                s_err("%s", lgsp_client_error(client));
            fatal = true;
            break;
        }
        submitted++;
        if (po.whole)
            break;
    }
    bool interrupted = s_stop;
    s_stop = 0;
    int flushed = lgsp_client_flush(client, c->timeout_ms);
    if (flushed < 0) {
        s_err("%s", lgsp_client_error(client));
        fatal = true;
    }
    double secs = (double) (s_now_ms() - t0) / 1000.0;
    size_t unanswered = lgsp_client_unanswered(client);
    size_t total = submitted + local_failed;
    fprintf(stderr, "published %zu (new %zu, dup %zu, failed %zu) in %.2f s, %.0f msg/s", total, st.new_, st.dup,
            st.failed + local_failed, secs, secs > 0 ? (double) (st.new_ + st.dup) / secs : 0.0);
    if (unanswered)
        fprintf(stderr, ", %zu unanswered (not known to be stored)", unanswered);
    fputc('\n', stderr);
    lgsp_client_destroy(&client);
    if (interrupted)
        rc = EXIT_INTERRUPTED;
    else if (fatal || unanswered)
        rc = EXIT_ERROR;
    else if (st.failed + local_failed)
        rc = EXIT_FAILED;
    else
        rc = EXIT_OK;
out_file:
    if (r.fd > 0)
        close(r.fd);
    free(r.buf);
out_opts:
    free(headers);
    json_decref(po.headers);
    return rc;
}

/* ---- consume ----------------------------------------------------------- */

static void s_consume_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp consume TOPIC --group GROUP [options]\n"
        "\n"
        "Joins consumer group GROUP of TOPIC and prints each message's payload as one line,\n"
        "acknowledging it once the line is written (at-least-once: a message whose line\n"
        "was not written, or whose ack was lost, is delivered again).\n"
        "\n"
        "  -g, --group GROUP       the consumer group (required; created on first use)\n"
        "  -c, --count N           stop after N messages (exit 4 if --timeout comes first)\n"
        "  -t, --timeout MS        stop after MS without a message (default: run until\n"
        "                          Ctrl-C); also bounds the wait for the broker\n"
        "  -o, --output FILE       write to FILE instead of standard output\n"
        "  -C, --credit N          messages in hand at once (default 256, at most --count)\n"
        "  -S, --start WHERE       earliest (default) or latest: where a new group starts\n"
        "  -N, --no-ack            print without acknowledging (peek): at most --credit\n"
        "                          messages arrive, and they are delivered again later\n"
        "  -R, --nack-reason TEXT  reject each message with this reason instead of acking\n"
        "                          (it is redelivered, and dead-lettered after max_attempts)\n"
        "  -f, --format FORMAT     payload (default) or json: one object per line with\n"
        "                          offset, attempt, time_us, id, key, headers, payload\n"
        "                          (key_base64 / payload_base64 when not UTF-8)\n"
        "\n%s\n%s", s_common_help, s_exit_codes);
}

typedef struct {
    const char *group, *output, *start, *nack_reason;
    uint64_t    count, credit;
    bool        no_ack, json;
} cons_opts_t;

static int s_consume_opt(void *ctx, int opt, const char *arg)
{
    cons_opts_t *o = ctx;
    switch (opt) {
    case 'g': o->group = arg; return 0;
    case 'o': o->output = arg; return 0;
    case 'S':
        if (strcmp(arg, "earliest") && strcmp(arg, "latest")) {
            s_err("--start: earliest or latest, not '%s'", arg);
            return -1;
        }
        o->start = arg;
        return 0;
    case 'N': o->no_ack = true; return 0;
    case 'R': o->nack_reason = arg; return 0;
    case 'c':
        if (s_parse_count(arg, UINT64_MAX, &o->count) != 0 || o->count == 0) {
            s_err("--count: '%s' is not a positive number", arg);
            return -1;
        }
        return 0;
    case 'C':
        if (s_parse_count(arg, 1000000, &o->credit) != 0 || o->credit == 0) {
            s_err("--credit: '%s' is not a number from 1 to 1000000", arg);
            return -1;
        }
        return 0;
    case 'f':
        if (strcmp(arg, "json") == 0)
            o->json = true;
        else if (strcmp(arg, "payload") != 0) {
            s_err("--format: payload or json, not '%s'", arg);
            return -1;
        }
        return 0;
    default:
        return -1;
    }
}

static int s_write_delivery(FILE *out, const lgsp_delivery_t *d, bool json)
{
    if (!json) {
        fwrite(d->payload, 1, d->payload_len, out);
        return fputc('\n', out) == EOF ? -1 : 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "offset", json_integer((json_int_t) d->offset));
    json_object_set_new(o, "attempt", json_integer(d->attempt));
    json_object_set_new(o, "time_us", json_integer((json_int_t) d->time_us));
    json_t *id = json_string(d->id);
    json_object_set_new(o, "id", id ? id : json_null());
    json_t *k = s_json_text(d->key, d->key_len);
    json_object_set_new(o, k ? "key" : "key_base64", k ? k : s_json_b64(d->key, d->key_len));
    json_t *h = d->headers_len ? json_loadb(d->headers, d->headers_len, 0, NULL) : json_object();
    if (!h)
        h = s_json_text(d->headers, d->headers_len);
    json_object_set_new(o, "headers", h ? h : json_null());
    json_t *p = s_json_text(d->payload, d->payload_len);
    json_object_set_new(o, p ? "payload" : "payload_base64", p ? p : s_json_b64(d->payload, d->payload_len));
    int rc = json_dumpf(o, out, JSON_COMPACT);
    json_decref(o);
    if (rc != 0)
        return -1;
    return fputc('\n', out) == EOF ? -1 : 0;
}

typedef struct {
    uint64_t *offsets;
    size_t    n, cap;
} offsets_t;

/* Acks (or nacks) what was written, after flushing it to the output:
 * nothing is acknowledged that is not out of this process. */
static int s_settle(lgsp_client_t *client, FILE *out, const char *topic, const char *group, offsets_t *o,
                    const cons_opts_t *co)
{
    if (fflush(out) != 0)
        return -1;
    lgsp_delivery_t d = { .topic = topic, .group = group };
    for (size_t i = 0; i < o->n; i++) {
        d.offset = o->offsets[i];
        int rc = co->nack_reason ? lgsp_client_nack(client, &d, co->nack_reason) : lgsp_client_ack(client, &d);
        if (rc != 0) {
            s_err("%s", lgsp_client_error(client));
            break;
        }
    }
    o->n = 0;
    return 0;
}

static int s_cmd_consume(common_t *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG,
        { "group", required_argument, NULL, 'g' },
        { "count", required_argument, NULL, 'c' },
        { "output", required_argument, NULL, 'o' },
        { "credit", required_argument, NULL, 'C' },
        { "start", required_argument, NULL, 'S' },
        { "no-ack", no_argument, NULL, 'N' },
        { "nack-reason", required_argument, NULL, 'R' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    cons_opts_t co = { .credit = 0 };
    bool help;
    int rc = s_parse(argc, argv, c, COMMON_SHORT "g:c:o:C:S:NR:f:", longopts, s_consume_opt, &co, s_consume_usage,
                     &help);
    if (rc || help)
        return rc;
    if (optind + 1 != argc)
        return s_usage_error(s_consume_usage, "consume takes one TOPIC");
    const char *topic = argv[optind];
    if (!s_name_ok(topic))
        return s_usage_error(s_consume_usage, "'%s' is not a topic name", topic);
    if (!co.group)
        return s_usage_error(s_consume_usage, "--group is required");
    if (!s_name_ok(co.group))
        return s_usage_error(s_consume_usage, "'%s' is not a group name", co.group);
    if (co.no_ack && co.nack_reason)
        return s_usage_error(s_consume_usage, "--no-ack and --nack-reason do not go together");
    if (!co.credit)
        co.credit = co.no_ack && co.count ? co.count : 256;
    if (co.count && co.credit > co.count)
        co.credit = co.count;
    if (co.no_ack && co.count > co.credit)
        s_err("note: with --no-ack only --credit (%" PRIu64 ") messages can arrive", co.credit);

    FILE *out = stdout;
    if (co.output) {
        out = fopen(co.output, "w");
        if (!out) {
            s_err("cannot write '%s': %s", co.output, strerror(errno));
            return EXIT_ERROR;
        }
    }
    lgsp_client_t *client = s_connect(c);
    if (!client) {
        if (out != stdout)
            fclose(out);
        return EXIT_ERROR;
    }
    if (lgsp_client_subscribe(client, topic, co.group, (unsigned) co.credit, co.start) != 0) {
        const char *e = lgsp_client_error(client);
        s_err("subscribe %s/%s: %s", topic, co.group, e);
        rc = s_refused(e) ? EXIT_REFUSED : EXIT_ERROR;
        goto out;
    }
    /* Acks go out in batches after a flush of the output; a quarter of the
     * credit per batch keeps the broker sending while we write. */
    offsets_t pending = { 0 };
    size_t settle_at = co.credit / 4 ? (co.credit / 4 < 256 ? co.credit / 4 : 256) : 1;
    uint64_t got = 0;
    int idle_ms = c->timeout_set ? c->timeout_ms : -1;
    int64_t last = s_now_ms();
    bool timed_out = false, write_failed = false;
    while ((!co.count || got < co.count) && !s_stop) {
        lgsp_delivery_t d;
        int r = lgsp_client_receive(client, &d, 0);
        if (r == 0) {
            /* Nothing in hand: make what was written durable-ish and ack it
             * before waiting. */
            if (s_settle(client, out, topic, co.group, &pending, &co) != 0) {
                write_failed = true;
                break;
            }
            int wait = idle_ms < 0 ? 1000 : (int) (idle_ms - (s_now_ms() - last));
            if (wait <= 0) {
                timed_out = true;
                break;
            }
            r = lgsp_client_receive(client, &d, wait > 1000 ? 1000 : wait);
        }
        if (r < 0) {
            s_err("%s", lgsp_client_error(client));
            rc = EXIT_ERROR;
            break;
        }
        if (r == 0)
            continue;
        last = s_now_ms();
        if (s_write_delivery(out, &d, co.json) != 0) {
            write_failed = true;
            break;
        }
        got++;
        if (co.no_ack)
            continue;
        if (pending.n == pending.cap) {
            size_t cap = pending.cap ? pending.cap * 2 : 256;
            uint64_t *p = realloc(pending.offsets, cap * sizeof *p);
            if (!p) {
                s_err("out of memory");
                rc = EXIT_ERROR;
                break;
            }
            pending.offsets = p;
            pending.cap = cap;
        }
        pending.offsets[pending.n++] = d.offset;
        if (pending.n >= settle_at && s_settle(client, out, topic, co.group, &pending, &co) != 0) {
            write_failed = true;
            break;
        }
    }
    if (!write_failed && s_settle(client, out, topic, co.group, &pending, &co) != 0)
        write_failed = true;
    if (write_failed) {
        s_err("writing %s: %s; %zu messages not acknowledged (they will be delivered again)",
              co.output ? co.output : "standard output", strerror(errno), pending.n);
        rc = EXIT_ERROR;
    }
    free(pending.offsets);
    lgsp_client_flush(client, c->timeout_ms);   /* sends the last acks */
    if (rc == 0) {
        if (s_stop)
            rc = EXIT_INTERRUPTED;
        else if (timed_out && co.count && got < co.count) {
            s_err("got %" PRIu64 " of %" PRIu64 " messages before the %d ms timeout", got, co.count, idle_ms);
            rc = EXIT_INCOMPLETE;
        }
    }
out:
    lgsp_client_destroy(&client);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        s_err("writing %s: %s", co.output, strerror(errno));
        rc = EXIT_ERROR;
    }
    return rc;
}

/* ---- admin requests ---------------------------------------------------- */

/* Sends ADMIN verb args; *json_out is the parsed answer (caller decrefs);
 * *text_out the raw text (caller frees) if wanted. Returns an exit code. */
static int s_admin(const common_t *c, const char *verb, int argc, const char *const argv[], json_t **json_out,
                   char **text_out)
{
    lgsp_client_t *client = s_connect(c);
    if (!client)
        return EXIT_ERROR;
    char *text = NULL;
    int rc = EXIT_OK;
    if (lgsp_client_admin(client, verb, argc, argv, &text) != 0) {
        const char *e = lgsp_client_error(client);
        s_err("%s: %s", verb, e);
        rc = s_refused(e) ? EXIT_REFUSED : EXIT_ERROR;
    }
    lgsp_client_destroy(&client);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j) {
        s_err("%s: the broker's answer is not JSON (%s)", verb, jerr.text);
        free(text);
        return EXIT_ERROR;
    }
    if (json_out)
        *json_out = j;
    else
        json_decref(j);
    if (text_out)
        *text_out = text;
    else
        free(text);
    return EXIT_OK;
}

static void s_topics_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp topics [--json] [options]\n"
        "\n"
        "Lists the broker's topics (messages, offsets, bytes, retention) and, under each,\n"
        "its consumer groups (committed offset, lag, messages in flight, members).\n"
        "\n"
        "  -j, --json             print the broker's JSON answer\n"
        "\n%s\n%s", s_common_help, s_exit_codes);
}

static int s_json_flag(void *ctx, int opt, const char *arg)
{
    (void) arg;
    if (opt != 'j')
        return -1;
    *(bool *) ctx = true;
    return 0;
}

static int s_cmd_topics(common_t *c, int argc, char **argv)
{
    static const struct option longopts[] = { COMMON_LONG, { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
    bool json = false, help;
    int rc = s_parse(argc, argv, c, COMMON_SHORT "j", longopts, s_json_flag, &json, s_topics_usage, &help);
    if (rc || help)
        return rc;
    if (optind != argc)
        return s_usage_error(s_topics_usage, "topics takes no arguments");
    json_t *j = NULL;
    char *text = NULL;
    if ((rc = s_admin(c, "topics", 0, NULL, &j, &text)) != 0)
        return rc;
    if (json) {
        s_print_json(text);
    } else if (!json_is_array(j) || json_array_size(j) == 0) {
        printf("no topics\n");
    } else {
        int w = 5;
        size_t i;
        json_t *t;
        json_array_foreach(j, i, t) {
            int n = (int) strlen(s_json_str(t, "name"));
            if (n > w)
                w = n;
            json_t *g;
            size_t k;
            json_array_foreach(json_object_get(t, "groups"), k, g) {
                n = (int) strlen(s_json_str(g, "name")) + 2;
                if (n > w)
                    w = n;
            }
        }
        printf("%-*s %12s %12s %12s %11s  %s\n", w, "TOPIC", "COUNT", "FIRST", "NEXT", "BYTES", "RETENTION");
        json_array_foreach(j, i, t) {
            char bytes[32], age[32], maxb[32], ret[96];
            json_t *r = json_object_get(t, "retention");
            uint64_t max_age = s_json_u64(r, "max_age_s"), max_bytes = s_json_u64(r, "max_bytes");
            s_human_bytes(s_json_u64(t, "bytes"), bytes, sizeof bytes);
            s_human_age(max_age, age, sizeof age);
            s_human_bytes(max_bytes, maxb, sizeof maxb);
            if (!max_age && !max_bytes)
                snprintf(ret, sizeof ret, "keep all");
            else
                snprintf(ret, sizeof ret, "%s%s%s%s%s", max_age ? "max age " : "", max_age ? age : "",
                         max_age && max_bytes ? ", " : "", max_bytes ? "max " : "", max_bytes ? maxb : "");
            printf("%-*s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %11s  %s\n", w, s_json_str(t, "name"),
                   s_json_u64(t, "count"), s_json_u64(t, "first"), s_json_u64(t, "next"), bytes, ret);
            json_t *groups = json_object_get(t, "groups"), *g;
            size_t k;
            if (json_array_size(groups))
                printf("  %-*s %12s %12s %12s %11s\n", w - 2, "GROUP", "COMMITTED", "LAG", "IN-FLIGHT", "MEMBERS");
            json_array_foreach(groups, k, g) {
                printf("  %-*s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %11" PRIu64 "\n", w - 2,
                       s_json_str(g, "name"), s_json_u64(g, "committed"), s_json_u64(g, "lag"),
                       s_json_u64(g, "in_flight"), s_json_u64(g, "members"));
            }
        }
    }
    json_decref(j);
    free(text);
    return EXIT_OK;
}

static void s_status_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp status [--json] [options]\n"
        "\n"
        "Shows the broker's version, uptime, sessions, topics, journal use and counters.\n"
        "\n"
        "  -j, --json             print the broker's JSON answer\n"
        "\n%s\n%s", s_common_help, s_exit_codes);
}

static void s_print_object(json_t *o, int indent)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_object(v)) {
            printf("%*s%s:\n", indent, "", k);
            s_print_object(v, indent + 2);
            continue;
        }
        printf("%*s%-*s ", indent, "", 18 - indent, k);
        if (json_is_string(v))
            printf("%s", json_string_value(v));
        else if (json_is_integer(v) && strstr(k, "bytes")) {
            char b[32];
            s_human_bytes((uint64_t) json_integer_value(v), b, sizeof b);
            printf("%" JSON_INTEGER_FORMAT " (%s)", json_integer_value(v), b);
        } else {
            json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
        }
        fputc('\n', stdout);
    }
}

static int s_cmd_status(common_t *c, int argc, char **argv)
{
    static const struct option longopts[] = { COMMON_LONG, { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
    bool json = false, help;
    int rc = s_parse(argc, argv, c, COMMON_SHORT "j", longopts, s_json_flag, &json, s_status_usage, &help);
    if (rc || help)
        return rc;
    if (optind != argc)
        return s_usage_error(s_status_usage, "status takes no arguments");
    json_t *j = NULL;
    char *text = NULL;
    if ((rc = s_admin(c, "status", 0, NULL, &j, &text)) != 0)
        return rc;
    if (json || !json_is_object(j))
        s_print_json(text);
    else
        s_print_object(j, 0);
    json_decref(j);
    free(text);
    return EXIT_OK;
}

/* ---- dlq --------------------------------------------------------------- */

static void s_dlq_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp dlq list TOPIC [--limit N] [--json]\n"
        "       lgsp dlq show TOPIC OFFSET [--json | --payload]\n"
        "       lgsp dlq replay TOPIC (OFFSET | --all)\n"
        "       lgsp dlq purge TOPIC (OFFSET | --all)\n"
        "\n"
        "The dead letters of TOPIC (kept in TOPIC.dlq): messages that ran out of delivery\n"
        "attempts. OFFSET is the dead letter's offset in TOPIC.dlq (from 'dlq list').\n"
        "Needs a client listed in the broker's admins.\n"
        "\n"
        "  list     one line per dead letter: offset, id, group, source offset, attempts,\n"
        "           time, last reason; -l, --limit N (default 100)\n"
        "  show     one dead letter with its headers and payload; --payload prints only\n"
        "           the payload bytes (for a pipe)\n"
        "  replay   publish it again to TOPIC for its original group only, and remove it\n"
        "  purge    remove it for good\n"
        "  -a, --all      every dead letter of TOPIC (replay, purge)\n"
        "  -j, --json     print the broker's JSON answer\n"
        "\n%s\n%s", s_common_help, s_exit_codes);
}

typedef struct {
    bool     all, json, payload;
    uint64_t limit;
} dlq_opts_t;

static int s_dlq_opt(void *ctx, int opt, const char *arg)
{
    dlq_opts_t *o = ctx;
    switch (opt) {
    case 'a': o->all = true; return 0;
    case 'j': o->json = true; return 0;
    case 'P': o->payload = true; return 0;
    case 'l':
        if (s_parse_count(arg, 1000000000, &o->limit) != 0 || !o->limit) {
            s_err("--limit: '%s' is not a positive number", arg);
            return -1;
        }
        return 0;
    default:
        return -1;
    }
}

static void s_dlq_show(json_t *e, bool payload_only)
{
    const char *b64 = s_json_str(e, "payload");
    size_t plen = 0;
    unsigned char *payload = s_base64_decode(b64, &plen);
    if (payload_only) {
        if (payload)
            fwrite(payload, 1, plen, stdout);
        free(payload);
        return;
    }
    char when[40];
    s_time_us(s_json_u64(e, "time_us"), when, sizeof when);
    printf("offset         %" PRIu64 "\n", s_json_u64(e, "offset"));
    printf("id             %s\n", s_json_str(e, "id"));
    printf("key            %s\n", s_json_str(e, "key"));
    printf("group          %s\n", s_json_str(e, "group"));
    printf("source offset  %" PRIu64 "\n", s_json_u64(e, "source_offset"));
    printf("attempts       %" PRIu64 "\n", s_json_u64(e, "attempts"));
    printf("dead-lettered  %s\n", when);
    printf("reason         %s\n", s_json_str(e, "reason"));
    json_t *h = json_object_get(e, "headers");
    if (h) {
        printf("headers        ");
        json_dumpf(h, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
        fputc('\n', stdout);
    }
    json_t *text = payload ? json_stringn((const char *) payload, plen) : NULL;
    if (text) {
        printf("payload        (%zu bytes)\n%s\n", plen, json_string_value(text));
    } else {
        printf("payload        (%zu bytes, not UTF-8 text; --payload writes the bytes, --json\n"
               "               shows them in base64)\n", plen);
    }
    json_decref(text);
    free(payload);
}

static int s_cmd_dlq(common_t *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONG,
        { "all", no_argument, NULL, 'a' },
        { "json", no_argument, NULL, 'j' },
        { "limit", required_argument, NULL, 'l' },
        { "payload", no_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
    };
    dlq_opts_t o = { .limit = 100 };
    bool help;
    int rc = s_parse(argc, argv, c, COMMON_SHORT "ajl:P", longopts, s_dlq_opt, &o, s_dlq_usage, &help);
    if (rc || help)
        return rc;
    int nargs = argc - optind;
    char **args = argv + optind;
    if (nargs < 2)
        return s_usage_error(s_dlq_usage, "dlq takes an action (list, show, replay, purge) and a TOPIC");
    const char *action = args[0], *topic = args[1];
    if (!s_name_ok(topic))
        return s_usage_error(s_dlq_usage, "'%s' is not a topic name", topic);
    uint64_t off;
    char limit[24];
    json_t *j = NULL;
    char *text = NULL;
    if (strcmp(action, "list") == 0) {
        if (nargs != 2)
            return s_usage_error(s_dlq_usage, "dlq list takes TOPIC");
        snprintf(limit, sizeof limit, "%" PRIu64, o.limit);
        const char *a[] = { topic, limit };
        if ((rc = s_admin(c, "dlq.list", 2, a, &j, &text)) != 0)
            return rc;
        if (o.json) {
            s_print_json(text);
        } else if (!json_array_size(j)) {
            printf("no dead letters in %s.dlq\n", topic);
        } else {
            printf("%8s  %-34s %-16s %10s %8s  %-24s %s\n", "OFFSET", "ID", "GROUP", "SOURCE", "ATTEMPTS", "TIME",
                   "REASON");
            size_t i;
            json_t *e;
            json_array_foreach(j, i, e) {
                char when[40];
                s_time_us(s_json_u64(e, "time_us"), when, sizeof when);
                printf("%8" PRIu64 "  %-34s %-16s %10" PRIu64 " %8" PRIu64 "  %-24s %s\n", s_json_u64(e, "offset"),
                       s_json_str(e, "id"), s_json_str(e, "group"), s_json_u64(e, "source_offset"),
                       s_json_u64(e, "attempts"), when, s_json_str(e, "reason"));
            }
        }
    } else if (strcmp(action, "show") == 0) {
        if (nargs != 3 || s_parse_count(args[2], UINT64_MAX, &off) != 0)
            return s_usage_error(s_dlq_usage, "dlq show takes TOPIC OFFSET");
        const char *a[] = { topic, args[2] };
        if ((rc = s_admin(c, "dlq.show", 2, a, &j, &text)) != 0)
            return rc;
        if (o.json)
            s_print_json(text);
        else
            s_dlq_show(j, o.payload);
    } else if (strcmp(action, "replay") == 0 || strcmp(action, "purge") == 0) {
        bool replay = action[0] == 'r';
        if (o.all ? nargs != 2 : (nargs != 3 || s_parse_count(args[2], UINT64_MAX, &off) != 0))
            return s_usage_error(s_dlq_usage, "dlq %s takes TOPIC and OFFSET or --all", action);
        const char *a[] = { topic, o.all ? "all" : args[2] };
        if ((rc = s_admin(c, replay ? "dlq.replay" : "dlq.purge", 2, a, &j, &text)) != 0)
            return rc;
        if (o.json)
            s_print_json(text);
        else
            printf("%s %" PRIu64 " dead letter(s) of %s\n", replay ? "replayed" : "purged",
                   s_json_u64(j, replay ? "replayed" : "purged"), topic);
    } else {
        return s_usage_error(s_dlq_usage, "unknown dlq action '%s' (list, show, replay, purge)", action);
    }
    json_decref(j);
    free(text);
    return EXIT_OK;
}

/* ---- keygen ------------------------------------------------------------ */

static void s_keygen_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp keygen [--out PREFIX [--force]]\n"
        "\n"
        "Makes a Curve keypair (Z85 text, 40 characters each). Without --out, prints\n"
        "  public <key>\n"
        "  secret <key>\n"
        "With --out, writes PREFIX.pub (the public key, for the broker's clients list or,\n"
        "for the broker's own pair, for --server-key) and PREFIX.key (the secret key, mode\n"
        "0600, for --key or the broker's server_secret_key_file) and prints the public key.\n"
        "\n"
        "  -o, --out PREFIX       write PREFIX.pub and PREFIX.key\n"
        "  -f, --force            overwrite existing files\n"
        "\n%s", s_exit_codes);
}

typedef struct {
    const char *out;
    bool        force;
} keygen_opts_t;

static int s_keygen_opt(void *ctx, int opt, const char *arg)
{
    keygen_opts_t *o = ctx;
    if (opt == 'o')
        o->out = arg;
    else if (opt == 'f')
        o->force = true;
    else
        return -1;
    return 0;
}

static int s_write_key(const char *path, const char *key, mode_t mode, bool force)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
    if (fd < 0) {
        s_err("cannot create '%s': %s%s", path, strerror(errno), errno == EEXIST ? " (--force overwrites)" : "");
        return -1;
    }
    /* An existing file keeps its mode under O_TRUNC: set it. */
    fchmod(fd, mode);
    char line[42];
    memcpy(line, key, 40);
    line[40] = '\n';
    bool ok = write(fd, line, 41) == 41;
    ok = fsync(fd) == 0 && ok;
    ok = close(fd) == 0 && ok;
    if (!ok)
        s_err("writing '%s': %s", path, strerror(errno));
    return ok ? 0 : -1;
}

static int s_cmd_keygen(common_t *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    keygen_opts_t o = { 0 };
    bool help;
    int rc = s_parse(argc, argv, c, "o:fh", longopts, s_keygen_opt, &o, s_keygen_usage, &help);
    if (rc || help)
        return rc;
    if (optind != argc)
        return s_usage_error(s_keygen_usage, "keygen takes no arguments");
    char pub[41], sec[41];
    if (lgsp_keygen(pub, sec) != 0) {
        s_err("cannot make a Curve keypair: %s (libzmq without Curve?)", zmq_strerror(errno));
        return EXIT_ERROR;
    }
    if (!o.out) {
        printf("public %s\nsecret %s\n", pub, sec);
        memset(sec, 0, sizeof sec);
        return EXIT_OK;
    }
    size_t n = strlen(o.out) + 5;
    char *pub_path = malloc(n), *key_path = malloc(n);
    if (!pub_path || !key_path) {
        free(pub_path);
        free(key_path);
        return EXIT_ERROR;
    }
    snprintf(pub_path, n, "%s.pub", o.out);
    snprintf(key_path, n, "%s.key", o.out);
    rc = EXIT_OK;
    if (s_write_key(key_path, sec, 0600, o.force) != 0 || s_write_key(pub_path, pub, 0644, o.force) != 0)
        rc = EXIT_ERROR;
    else
        printf("wrote %s and %s (mode 0600)\npublic %s\n", pub_path, key_path, pub);
    memset(sec, 0, sizeof sec);
    free(pub_path);
    free(key_path);
    return rc;
}

/* map: the mapping dry run lives in lgsp_map.c (it needs no bus). */
static int s_cmd_map(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_map_main(argc, argv);
}

/* certs: the NDXP test CA and certificates live in lgsp_certs.c (no bus). */
static int s_cmd_certs(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_certs_main(argc, argv);
}

/* dedup, explain, decide: entity resolution lives in lgsp_er.c (no bus). */
static int s_cmd_dedup(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_dedup_main(argc, argv);
}

static int s_cmd_explain(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_explain_main(argc, argv);
}

static int s_cmd_decide(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_decide_main(argc, argv);
}

/* review-user: the review page's reviewers live in lgsp_review.c (no bus). */
static int s_cmd_review_user(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_review_user_main(argc, argv);
}

/* reconcile: the task force's reconciliation jobs live in lgsp_reconcile.c (no bus). */
static int s_cmd_reconcile(common_t *c, int argc, char **argv)
{
    (void) c;
    return lgsp_reconcile_main(argc, argv);
}

/* ---- main -------------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*run)(common_t *, int, char **);
    void (*usage)(FILE *);
    const char *summary;
} command_t;

static const command_t s_commands[] = {
    { "publish", s_cmd_publish, s_publish_usage, "publish lines of a file or stdin to a topic" },
    { "consume", s_cmd_consume, s_consume_usage, "print (and acknowledge) a consumer group's messages" },
    { "topics", s_cmd_topics, s_topics_usage, "list topics and their consumer groups" },
    { "dlq", s_cmd_dlq, s_dlq_usage, "list, show, replay or purge dead letters" },
    { "status", s_cmd_status, s_status_usage, "the broker's status" },
    { "keygen", s_cmd_keygen, s_keygen_usage, "make a Curve keypair" },
    { "map", s_cmd_map, lgsp_map_usage, "dry-run a mapping file over an input file (no bus)" },
    { "certs", s_cmd_certs, lgsp_certs_usage, "make a test CA, NDXP TLS certificates and signing key" },
    { "dedup", s_cmd_dedup, lgsp_dedup_usage, "entity resolution over files: entities, review queue, quality" },
    { "explain", s_cmd_explain, lgsp_explain_usage, "the match-weight waterfall of two records" },
    { "decide", s_cmd_decide, lgsp_decide_usage, "manual link / unlink of two records, kept in the store" },
    { "reconcile", s_cmd_reconcile, lgsp_reconcile_usage, "a reconciliation job: duplicates, conflicts, unmatched, report.html" },
    { "review-user", s_cmd_review_user, lgsp_review_user_usage, "add or remove a reviewer of lgspd's review page" },
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: lgsp [common options] COMMAND [options] [args]\n\n"
                 "The command-line client of the lgsp bus (docs/cli.md).\n\nCommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %-9s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out, "\n'lgsp COMMAND --help' describes a command.\n\n%s"
                 "  -V, --version          print the version\n\n"
                 "Environment: LGSP_ENDPOINT, LGSP_NAME, LGSP_SERVER_KEY, LGSP_KEY (defaults of the\n"
                 "options above), LGSP_CLIENT_DEBUG=1 (protocol notes on standard error).\n\n%s",
            s_common_help, s_exit_codes);
}

int main(int argc, char **argv)
{
    common_t c = {
        .endpoint = getenv("LGSP_ENDPOINT") && *getenv("LGSP_ENDPOINT") ? getenv("LGSP_ENDPOINT") : DEFAULT_ENDPOINT,
        .name = getenv("LGSP_NAME") && *getenv("LGSP_NAME") ? getenv("LGSP_NAME") : "lgsp-cli",
        .server_key_arg = getenv("LGSP_SERVER_KEY"),
        .key_arg = getenv("LGSP_KEY"),
        .timeout_ms = 10000,
    };
    static const struct option longopts[] = { COMMON_LONG, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 } };
    /* Common options before the command ("+": stop at the command word). */
    for (int opt; (opt = getopt_long(argc, argv, "+" COMMON_SHORT "V", longopts, NULL)) != -1;) {
        if (opt == 'h') {
            s_usage(stdout);
            return EXIT_OK;
        }
        if (opt == 'V') {
            printf("lgsp %s\n", LGSP_VERSION);
            return EXIT_OK;
        }
        int r = opt == '?' ? -1 : s_common_opt(&c, opt, optarg);
        if (r <= 0) {
            s_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        s_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 < argc)
            for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
                if (strcmp(argv[optind + 1], s_commands[i].name) == 0) {
                    s_commands[i].usage(stdout);
                    return EXIT_OK;
                }
        s_usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        if (strcmp(name, s_commands[i].name) == 0) {
            s_signals();
            return s_commands[i].run(&c, argc - optind, argv + optind);
        }
    }
    s_err("unknown command '%s'", name);
    s_usage(stderr);
    return EXIT_USAGE;
}
