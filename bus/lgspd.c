/* lgspd.c — the lgsp daemon: reads its configuration, opens the journal,
 * and runs the broker until SIGTERM (see broker.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "adapters.h"
#include "broker.h"
#include "config.h"
#include "journal.h"
#include "log.h"
#include "review.h"

#ifndef LGSP_VERSION
#define LGSP_VERSION "0.0.0"
#endif
#ifndef LGSP_SYSCONFDIR
#define LGSP_SYSCONFDIR "/etc"
#endif

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: lgspd [-c FILE] [options]\n"
        "\n"
        "The lgsp bus daemon: a durable ZeroMQ message broker with an LMDB journal.\n"
        "\n"
        "  -c, --config FILE      configuration file (default " LGSP_SYSCONFDIR "/lgsp/lgspd.yaml)\n"
        "  -t, --check-config     check the configuration and exit (0 valid, 2 not)\n"
        "  -l, --log-level LEVEL  error|warn|info|debug, overrides log_level\n"
        "      --ready-file FILE  when ready, write {\"bus\": endpoint, \"http\": port} to FILE\n"
        "                         (and \"review\": port when the review page is on)\n"
        "  -V, --version          print the version and exit\n"
        "  -h, --help             this text\n"
        "\n"
        "Signals: SIGTERM/SIGINT drain, commit and exit; SIGHUP reloads the configuration.\n"
        "Exit codes: 0 clean stop, 1 runtime failure (journal, bind), 2 usage or configuration error.\n");
}

static int s_no_submit(void *arg, ingest_unit_t *u)
{
    u->status = LGSP_UNAVAILABLE;
    snprintf(u->error, sizeof u->error, "not running (--check-config)");
    return -1;
}

static int s_no_state(void *arg, const char *adapter, void **state, size_t *len)
{
    *state = NULL;
    *len = 0;
    return LGSP_NOT_FOUND;
}

static int s_credentials(void *arg, const char *name, char pub[41], char sec[41], char server[41])
{
    return broker_add_internal_client(arg, name, pub, sec, server);
}

/* Sinks connect to the bus over its own endpoint; a wildcard bind address
 * is reached on loopback. Returned string is static. */
static const char *s_local_endpoint(broker_t *broker)
{
    static char ep[300];
    const char *e = broker_endpoint(broker);
    if (strncmp(e, "tcp://0.0.0.0:", 14) == 0)
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%s", e + 14);
    else if (strncmp(e, "tcp://[::]:", 11) == 0)
        snprintf(ep, sizeof ep, "tcp://[::1]:%s", e + 11);
    else
        snprintf(ep, sizeof ep, "%s", e);
    return ep;
}

int main(int argc, char **argv)
{
    const char *path = LGSP_SYSCONFDIR "/lgsp/lgspd.yaml", *level = NULL, *ready = NULL;
    bool check = false;
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 't' },
        { "log-level", required_argument, NULL, 'l' },
        { "ready-file", required_argument, NULL, 'r' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    for (int c; (c = getopt_long(argc, argv, "c:tl:Vh", opts, NULL)) != -1;) {
        switch (c) {
        case 'c': path = optarg; break;
        case 't': check = true; break;
        case 'l': level = optarg; break;
        case 'r': ready = optarg; break;
        case 'V': printf("lgspd %s\n", LGSP_VERSION); return 0;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        s_usage(stderr);
        return 2;
    }
    char *err = NULL;
    config_t *cfg = config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "lgspd: %s\n", err);
        free(err);
        return 2;
    }
    if (check) {
        /* Adapters too: each plugin is loaded and reads its settings. */
        ingest_sink_t none = { .submit = s_no_submit, .state_get = s_no_state };
        char *work = NULL;
        if (asprintf(&work, "%s/adapters-check", cfg->journal_path) < 0)
            work = NULL;
        adapters_options_t ao = { .sink = none, .config_file = path, .work_root = work ? work : "/tmp",
                                  .max_message_bytes = cfg->max_message_bytes };
        adapters_t *ad = cfg->n_adapters ? adapters_new(cfg, &ao, &err) : NULL;
        int bad = cfg->n_adapters && (!ad || adapters_check(ad, &err) != 0);
        adapters_destroy(&ad);
        /* The review page: its spec and users file load. */
        if (!bad && cfg->review_store && review_check(cfg, &err) != 0)
            bad = 1;
        free(work);
        if (bad) {
            fprintf(stderr, "lgspd: %s\n", err ? err : "adapters: cannot load");
            free(err);
            config_destroy(&cfg);
            return 2;
        }
        printf("%s: configuration is valid\n", path);
        config_destroy(&cfg);
        return 0;
    }
    log_set_level(cfg->log_level);
    if (level) {
        log_level_t l;
        if (log_level_parse(level, &l) < 0) {
            fprintf(stderr, "lgspd: unknown log level '%s'\n", level);
            config_destroy(&cfg);
            return 2;
        }
        log_set_level(l);
        cfg->log_level = l;
    }
    /* Signals are read from a signalfd by the broker loop; block them in
     * every thread (threads inherit this mask). */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Past a file-size limit, write() must fail (EFBIG, answered 507)
     * instead of the process being killed. */
    signal(SIGXFSZ, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "lgspd: signalfd: %s\n", strerror(errno));
        config_destroy(&cfg);
        return 1;
    }
    journal_options_t jo = { .path = cfg->journal_path, .map_size = cfg->journal_map_size,
                             .max_topics = cfg->journal_max_topics };
    journal_t *journal = journal_open(&jo, &err);
    if (!journal) {
        log_error("lgspd", "%s", err);
        free(err);
        config_destroy(&cfg);
        return 1;
    }
    broker_t *broker = broker_new(cfg, journal, &err);
    if (!broker) {
        log_error("lgspd", "%s", err ? err : "cannot start the broker");
        free(err);
        config_destroy(&cfg);
        journal_close(&journal);
        return 1;
    }
    /* Adapters start once the broker can take their batches. */
    adapters_t *adapters = NULL;
    if (cfg->n_adapters) {
        char *work = NULL;
        if (asprintf(&work, "%s/adapters", cfg->journal_path) < 0)
            work = NULL;
        adapters_options_t ao = {
            .sink = broker_ingest_sink(broker), .config_file = path, .work_root = work,
            .max_message_bytes = cfg->max_message_bytes, .bus_endpoint = s_local_endpoint(broker),
            .credentials = s_credentials, .credentials_arg = broker,
        };
        adapters = work ? adapters_new(cfg, &ao, &err) : NULL;
        free(work);
        if (!adapters || adapters_start(adapters) != 0) {
            log_error("lgspd", "%s", err ? err : "cannot start the adapters");
            free(err);
            adapters_destroy(&adapters);
            broker_destroy(&broker);
            journal_close(&journal);
            return 1;
        }
        broker_hooks_t hooks = { .metrics = adapters_metrics, .health = adapters_health,
                                 .stopping = adapters_request_stop, .arg = adapters };
        broker_set_hooks(broker, &hooks);
        log_info("lgspd", "%zu adapters started", adapters_count(adapters));
    }
    /* The review page (bus/review.c) on its own loopback port: it reads the
     * entity store and files, not the journal, so it starts last and stops
     * first. */
    review_t *review = NULL;
    if (cfg->review_store && !(review = review_new(cfg, &err))) {
        log_error("lgspd", "%s", err ? err : "cannot start the review page");
        free(err);
        adapters_destroy(&adapters);
        broker_destroy(&broker);
        journal_close(&journal);
        return 1;
    }
    if (ready) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", ready);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "{\"bus\": \"%s\", \"http\": %d, \"pid\": %d", broker_endpoint(broker),
                    broker_http_port(broker), (int) getpid());
            if (review)
                fprintf(f, ", \"review\": %d", review_port(review));
            fprintf(f, "}\n");
            fclose(f);
            rename(tmp, ready);
        }
    }
    int rc = broker_run(broker, sfd);
    review_destroy(&review);
    adapters_destroy(&adapters);   /* after the drain: their last batches are answered */
    broker_destroy(&broker);
    journal_close(&journal);
    close(sfd);
    return rc ? 1 : 0;
}
