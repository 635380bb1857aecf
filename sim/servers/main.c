/* lgsp-sim — the six simulated department systems of brief §4, serving the
 * views written by lgsp-gen, each through its own protocol, on 127.0.0.1:
 *
 *   qn-population  REST/JSON, paged, since          (qn_pop.c)
 *   dn-population  SOAP 1.1 with a WSDL              (dn_pop.c)
 *   qn-land        XML export files in a drop folder (qn_land.c)
 *   dn-land        PostgreSQL (pg-dn-land.sh)        (dn_land.c)
 *   qn-civil       CSV exports in legacy encodings   (qn_civil.c)
 *   dn-civil       webhook push + REST backfill      (dn_civil.c)
 *
 * One command starts all (or some) of them, prints where each listens, and
 * stops them all on SIGTERM. SIGUSR1 applies one batch of changes to every
 * system. The control endpoint (control.c) switches failures on and off.
 * docs/simulators.md is the reference. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "simutil.h"

#ifndef LGSP_SHARED_DATA
#define LGSP_SHARED_DATA "../shared/data"
#endif
#ifndef LGSP_PG_SCRIPT
#define LGSP_PG_SCRIPT "pg-dn-land.sh"
#endif

static const sim_ops_t *const s_ops[SIM__COUNT] = {
    &qn_pop_ops, &dn_pop_ops, &qn_land_ops, &dn_land_ops, &qn_civil_ops, &dn_civil_ops
};

static void s_usage(FILE *out)
{
    fputs(
        "usage: lgsp-sim --config FILE [options]\n"
        "       lgsp-sim --data DIR [--base-port P] [options]\n"
        "\n"
        "Starts the simulated department systems on 127.0.0.1 and serves the views\n"
        "lgsp-gen wrote into DIR. Prints one line per system, then 'lgsp-sim: ready'.\n"
        "SIGTERM/SIGINT stop everything; SIGUSR1 applies change_batch changes to all.\n"
        "\n"
        "  --config FILE      settings (lgsp-sim --help-config lists every one)\n"
        "  --data DIR         the generator's output folder\n"
        "  --work DIR         drop folders and the database go here (default ./lgsp-sim-work)\n"
        "  --base-port P      control on P, the systems on P+1..P+6 (0: any free ports)\n"
        "  --port NAME=P      one system's port (control=P for the control endpoint)\n"
        "  --only NAMES       start only these systems (comma-separated)\n"
        "  --webhook URL      dn-civil pushes its events to URL\n"
        "  --seed N           seed of changes and fault draws (default 1)\n"
        "  --set K=V          any setting: 'key=value' or 'system.key=value'\n"
        "  --help-config      the settings with their defaults\n"
        "\n"
        "systems: qn-population dn-population qn-land dn-land qn-civil dn-civil\n"
        "docs/simulators.md describes each interface and the control endpoint.\n",
        out);
}

static int s_only(simconf_t *c, const char *list, char *err, size_t errsz)
{
    for (int i = 0; i < SIM__COUNT; i++)
        c->sim[i].enabled = false;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = sim_index(t);
        if (i < 0) {
            snprintf(err, errsz, "--only: unknown system '%s'", t);
            return -1;
        }
        c->sim[i].enabled = true;
    }
    return 0;
}

int main(int argc, char **argv)
{
    simconf_t conf;
    simconf_defaults(&conf, LGSP_SHARED_DATA, LGSP_PG_SCRIPT);
    char err[1024];
    enum { O_CONFIG = 1000, O_DATA, O_WORK, O_BASE, O_PORT, O_ONLY, O_WEBHOOK, O_SEED, O_SET,
           O_HELPCONF, O_HELP };
    static const struct option opts[] = {
        { "config", required_argument, NULL, O_CONFIG },
        { "data", required_argument, NULL, O_DATA },
        { "work", required_argument, NULL, O_WORK },
        { "base-port", required_argument, NULL, O_BASE },
        { "port", required_argument, NULL, O_PORT },
        { "only", required_argument, NULL, O_ONLY },
        { "webhook", required_argument, NULL, O_WEBHOOK },
        { "seed", required_argument, NULL, O_SEED },
        { "set", required_argument, NULL, O_SET },
        { "help-config", no_argument, NULL, O_HELPCONF },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    /* the config file first, so that command-line options override it */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config") && simconf_load(&conf, argv[i + 1], err, sizeof err)) {
            fprintf(stderr, "lgsp-sim: %s\n", err);
            simconf_free(&conf);
            return 2;
        }
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char set[1200];
        int rc = 0;
        switch (c) {
        case O_CONFIG:
            break;
        case O_DATA:
            snprintf(set, sizeof set, "data=%s", optarg);
            rc = simconf_set(&conf, set, err, sizeof err);
            break;
        case O_WORK:
            snprintf(set, sizeof set, "work=%s", optarg);
            rc = simconf_set(&conf, set, err, sizeof err);
            break;
        case O_BASE: {
            long p;
            if (sim_parse_long(optarg, 0, 65535 - SIM__COUNT, &p)) {
                snprintf(err, sizeof err, "--base-port: a port number expected");
                rc = -1;
            } else {
                simconf_base_port(&conf, p);
            }
            break;
        }
        case O_PORT: {
            const char *eq = strchr(optarg, '=');
            if (eq && !strncmp(optarg, "control=", 8))
                snprintf(set, sizeof set, "control_port=%s", eq + 1);
            else if (eq)
                snprintf(set, sizeof set, "%.*s.port=%s", (int)(eq - optarg), optarg, eq + 1);
            else
                snprintf(set, sizeof set, "%s", optarg);
            rc = simconf_set(&conf, set, err, sizeof err);
            break;
        }
        case O_ONLY:
            rc = s_only(&conf, optarg, err, sizeof err);
            break;
        case O_WEBHOOK:
            snprintf(set, sizeof set, "dn-civil.webhook=%s", optarg);
            rc = simconf_set(&conf, set, err, sizeof err);
            break;
        case O_SEED:
            snprintf(set, sizeof set, "seed=%s", optarg);
            rc = simconf_set(&conf, set, err, sizeof err);
            break;
        case O_SET:
            rc = simconf_set(&conf, optarg, err, sizeof err);
            break;
        case O_HELPCONF:
            simconf_help(stdout);
            simconf_free(&conf);
            return 0;
        case O_HELP:
            s_usage(stdout);
            simconf_free(&conf);
            return 0;
        default:
            s_usage(stderr);
            simconf_free(&conf);
            return 2;
        }
        if (rc) {
            fprintf(stderr, "lgsp-sim: %s\n", err);
            simconf_free(&conf);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lgsp-sim: unexpected argument '%s'\n", argv[optind]);
        simconf_free(&conf);
        return 2;
    }
    if (simconf_finish(&conf, err, sizeof err)) {
        fprintf(stderr, "lgsp-sim: %s\n", err);
        simconf_free(&conf);
        return 2;
    }

    /* Signals: handled synchronously by this thread; every thread started
     * from here on inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rng_t rd_rng;
    rng_seed(&rd_rng, conf.seed, 0x5e5e);
    refdata_t rd;
    memset(&rd, 0, sizeof rd);
    refdata_load(&rd, conf.ref, &rd_rng);

    static sim_slot_t slots[SIM__COUNT];
    int status = 0;
    for (int i = 0; i < SIM__COUNT; i++) {
        slots[i].ops = s_ops[i];
        fault_init(&slots[i].fault, conf.seed, (uint64_t)i);
        pthread_mutex_init(&slots[i].mu, NULL);
    }
    for (int i = 0; i < SIM__COUNT && status == 0; i++) {
        if (!conf.sim[i].enabled)
            continue;
        sim_env_t env = { .conf = &conf, .opts = &conf.sim[i], .rd = &rd,
                          .fault = &slots[i].fault, .index = i };
        slots[i].self = s_ops[i]->create(&env, err, sizeof err);
        if (!slots[i].self) {
            fprintf(stderr, "lgsp-sim: %s: %s\n", sim_name[i], err);
            status = 1;
        }
    }
    httpd_t *control = NULL;
    if (status == 0) {
        control = control_start(slots, (uint16_t)conf.control_port, err, sizeof err);
        if (!control) {
            fprintf(stderr, "lgsp-sim: control: %s\n", err);
            status = 1;
        }
    }
    if (status == 0) {
        sbuf_t line;
        sbuf_init(&line);
        for (int i = 0; i < SIM__COUNT; i++) {
            if (!slots[i].self)
                continue;
            sbuf_reset(&line);
            s_ops[i]->where(slots[i].self, &line);
            printf("lgsp-sim: %-13s %s\n", sim_name[i], line.p ? line.p : "");
        }
        printf("lgsp-sim: %-13s http://127.0.0.1:%u/status\n", "control",
               (unsigned)httpd_port(control));
        printf("lgsp-sim: ready\n");
        fflush(stdout);
        sbuf_free(&line);

        int64_t next_tick = conf.change_every_ms ? sim_now_ms() + conf.change_every_ms : 0;
        for (;;) {
            siginfo_t si;
            int sig;
            if (next_tick) {
                int64_t left = next_tick - sim_now_ms();
                if (left < 0)
                    left = 0;
                struct timespec t = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L };
                sig = sigtimedwait(&sigs, &si, &t);
            } else {
                sig = sigwaitinfo(&sigs, &si);
            }
            if (sig < 0 && errno == EINTR)
                continue;
            if (sig == SIGTERM || sig == SIGINT) {
                simlog("main", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                break;
            }
            if (sig == SIGHUP)
                continue;
            if (sig == SIGUSR1 || (sig < 0 && errno == EAGAIN)) {
                sbuf_t js;
                sbuf_init(&js);
                for (int i = 0; i < SIM__COUNT; i++)
                    if (slots[i].self) {
                        sbuf_reset(&js);
                        if (slot_change(&slots[i], conf.change_batch, &js))
                            simlog(sim_name[i], "change failed");
                    }
                sbuf_free(&js);
                if (sig < 0)
                    next_tick = sim_now_ms() + conf.change_every_ms;
            }
        }
    }
    httpd_destroy(&control);
    for (int i = SIM__COUNT - 1; i >= 0; i--) {
        if (slots[i].self)
            s_ops[i]->destroy(&slots[i].self);
        fault_fini(&slots[i].fault);
        pthread_mutex_destroy(&slots[i].mu);
    }
    refdata_free(&rd);
    simconf_free(&conf);
    if (status == 0) {
        printf("lgsp-sim: stopped\n");
        fflush(stdout);
    }
    return status;
}
