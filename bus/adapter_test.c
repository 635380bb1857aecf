/* adapter_test.c — lgsp-adapter-test: runs one adapter of a configuration
 * with the real adapter host but without a broker, and prints every record
 * it publishes, one JSON object per line:
 *
 *   {"topic":"raw.x","id":"...","key":"...","headers":{...},"payload":"..."}
 *
 * (payload_base64 instead of payload when the bytes are not UTF-8). The
 * adapter's state is kept in a file between runs, so a test can stop and
 * resume an adapter and see exactly what a restart of lgspd would.
 * Message ids are de-duplicated within a run and across runs through a
 * file beside the state, as the journal would. */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

typedef struct {
    pthread_mutex_t mu;
    FILE           *out;
    const char     *state_path;
    char           *ids_path;
    FILE           *ids_file;
    strmap_t       *ids;
    uint64_t        stored, dups, quarantined;
} harness_t;

static int s_write_state(harness_t *h, const void *state, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", h->state_path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    bool ok = fwrite(state, 1, len, f) == len;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    return ok && rename(tmp, h->state_path) == 0 ? 0 : -1;
}

static json_t *s_bytes(const void *p, size_t len, const char **field)
{
    json_t *s = json_stringn(p, len);
    if (s) {
        *field = "payload";
        return s;
    }
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *) b64, p, (int) len);
    s = json_string(b64);
    free(b64);
    *field = "payload_base64";
    return s;
}

static int s_submit(void *arg, ingest_unit_t *u)
{
    harness_t *h = arg;
    pthread_mutex_lock(&h->mu);
    uint64_t stored = 0, dups = 0, q = 0;
    for (size_t i = 0; i < u->n; i++) {
        ingest_msg_t *m = &u->msgs[i];
        const char *topic = m->quarantine ? u->qtopic : u->topic;
        char key[600];
        snprintf(key, sizeof key, "%s\n%s", topic, m->id);
        if (strmap_get(h->ids, key, strlen(key))) {
            dups++;
            continue;
        }
        strmap_put(h->ids, key, strlen(key), (void *) 1);
        if (h->ids_file)
            fprintf(h->ids_file, "%s\t%s\n", topic, m->id);
        const char *pf;
        json_t *j = json_pack("{s:s, s:s, s:s%, s:o?}", "topic", topic, "id", m->id,
                              "key", m->key, m->key_len, "headers", json_loads(m->headers, 0, NULL));
        if (!j)   /* a key that is not UTF-8: still print the record */
            j = json_pack("{s:s, s:s}", "topic", topic, "id", m->id);
        json_t *pl = s_bytes(m->payload, m->payload_len, &pf);
        json_object_set_new(j, pf, pl);
        char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(h->out, "%s\n", line);
        free(line);
        json_decref(j);
        if (m->quarantine)
            q++;
        else
            stored++;
    }
    fflush(h->out);
    if (h->ids_file)
        fflush(h->ids_file);
    int status = 0;
    if (u->has_state && s_write_state(h, u->state, u->state_len) != 0)
        status = LGSP_INTERNAL;
    h->stored += stored;
    h->dups += dups;
    h->quarantined += q;
    pthread_mutex_unlock(&h->mu);
    ingest_unit_finish(u, status, status ? "cannot write the state file" : NULL, stored, dups, q);
    return 0;
}

static int s_state_get(void *arg, const char *adapter, void **state, size_t *len)
{
    harness_t *h = arg;
    *state = NULL;
    *len = 0;
    FILE *f = fopen(h->state_path, "rb");
    if (!f)
        return errno == ENOENT ? LGSP_NOT_FOUND : LGSP_INTERNAL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return LGSP_INTERNAL;
    *state = buf;
    *len = n;
    return 0;
}

static void s_usage(FILE *f)
{
    fprintf(f,
        "usage: lgsp-adapter-test --config FILE --adapter NAME [options]\n"
        "Runs one adapter of an lgspd configuration without lgspd and prints every\n"
        "record it publishes as one JSON object per line.\n\n"
        "  -c, --config FILE    the lgspd configuration holding the adapter\n"
        "  -a, --adapter NAME   which adapter\n"
        "  -s, --state FILE     keep the adapter's state here between runs\n"
        "                       (default NAME.state; ids seen go to FILE.ids)\n"
        "  -p, --polls N        pull source: stop after N polls that found nothing\n"
        "                       more (default 1: one full pass); push: N ticks\n"
        "  -t, --seconds S      stop after S seconds (sinks and push sources: 5)\n"
        "  -o, --out FILE       write the records there (default stdout)\n"
        "  -w, --work DIR       the adapter's work folder root (default .)\n"
        "  -v, --verbose        log at debug level\n"
        "Exit status: 0 the adapter ran, 1 it failed, 2 bad usage or configuration.\n"
        "The last line on stderr: 'adapter NAME: S stored, D duplicates, Q quarantined'.\n");
}

static adapters_t *s_running;

static void s_on_signal(int sig)
{
    (void) sig;
    if (s_running)
        adapters_request_stop(s_running);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *name = NULL, *state = NULL, *out = NULL, *work = ".";
    unsigned polls = 0;
    double seconds = 0;
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "adapter", required_argument, NULL, 'a' },
        { "state", required_argument, NULL, 's' }, { "polls", required_argument, NULL, 'p' },
        { "seconds", required_argument, NULL, 't' }, { "out", required_argument, NULL, 'o' },
        { "work", required_argument, NULL, 'w' }, { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int c;
    log_set_level(LOG_WARN);
    while ((c = getopt_long(argc, argv, "c:a:s:p:t:o:w:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'a': name = optarg; break;
        case 's': state = optarg; break;
        case 'p': polls = (unsigned) strtoul(optarg, NULL, 10); break;
        case 't': seconds = strtod(optarg, NULL); break;
        case 'o': out = optarg; break;
        case 'w': work = optarg; break;
        case 'v': log_set_level(LOG_DEBUG); break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!config || !name || optind != argc) {
        s_usage(stderr);
        return 2;
    }
    char *err = NULL;
    config_t *cfg = config_load(config, &err);
    if (!cfg) {
        fprintf(stderr, "lgsp-adapter-test: %s\n", err);
        free(err);
        return 2;
    }
    char default_state[300];
    if (!state) {
        snprintf(default_state, sizeof default_state, "%s.state", name);
        state = default_state;
    }
    harness_t h = { .out = stdout, .state_path = state, .ids = strmap_new() };
    pthread_mutex_init(&h.mu, NULL);
    if (out && !(h.out = fopen(out, "w"))) {
        fprintf(stderr, "lgsp-adapter-test: cannot write %s: %s\n", out, strerror(errno));
        return 2;
    }
    if (asprintf(&h.ids_path, "%s.ids", state) < 0)
        return 2;
    FILE *ids = fopen(h.ids_path, "r");
    char line[1024];
    while (ids && fgets(line, sizeof line, ids)) {
        char *tab = strchr(line, '\t');
        line[strcspn(line, "\n")] = 0;
        if (tab)
            *tab = '\n';
        strmap_put(h.ids, line, strlen(line), (void *) 1);
    }
    if (ids)
        fclose(ids);
    h.ids_file = fopen(h.ids_path, "a");
    adapters_options_t ao = {
        .sink = { .submit = s_submit, .state_get = s_state_get, .arg = &h },
        .config_file = config, .work_root = work, .max_message_bytes = cfg->max_message_bytes,
    };
    adapters_t *ad = adapters_new(cfg, &ao, &err);
    if (!ad) {
        fprintf(stderr, "lgsp-adapter-test: %s\n", err ? err : "cannot load the adapters");
        free(err);
        config_destroy(&cfg);
        return 2;
    }
    s_running = ad;
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    int rc = adapters_run_one(ad, name, polls, seconds);
    s_running = NULL;
    adapters_destroy(&ad);
    fprintf(stderr, "adapter %s: %" PRIu64 " stored, %" PRIu64 " duplicates, %" PRIu64 " quarantined\n",
            name, h.stored, h.dups, h.quarantined);
    if (h.out != stdout)
        fclose(h.out);
    if (h.ids_file)
        fclose(h.ids_file);
    free(h.ids_path);
    strmap_destroy(&h.ids);
    config_destroy(&cfg);
    return rc < 0 ? 1 : 0;
}
