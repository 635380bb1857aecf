/* main.c — lgsp-ndxp-sim: a stand-in for NDXP, the national data-exchange
 * platform, for the demo and the tests of the NDXP connector
 * (docs/ndxp.md). Options, start, and a clean stop on SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "server.h"

#define MAX_SENDERS 16

typedef struct {
    const char *listen, *cert, *key, *ca, *receiver, *data_dir;
    const char *sender_key[MAX_SENDERS], *sender_id[MAX_SENDERS];
    int         n_keys, n_ids;
    long        port, control_port, max_skew;
    double      max_rate;
    unsigned long long seed;
    bool        verbose;
} opts_t;

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp-ndxp-sim --cert PEM --key PEM --ca PEM --receiver-id ID\n"
        "                     --sender-key PUB --sender-id ID [...] --data-dir DIR [options]\n\n"
        "A simulated NDXP (docs/ndxp.md): POST /ndxp/v1/messages over HTTPS with client\n"
        "certificates, JWS (EdDSA) checks, dedup by message_id, a durable store, faults on command\n"
        "through a plain-HTTP control port. Loopback only.\n\n"
        "  --listen ADDR        127.0.0.1 (the only address accepted)\n"
        "  --port N             HTTPS port (default 0: a free one)\n"
        "  --control-port N     control port (default 0: a free one)\n"
        "  --cert PEM           the server certificate\n"
        "  --key PEM            its private key\n"
        "  --ca PEM             the CA the clients' certificates must chain to\n"
        "  --sender-key PUB     a sender's Ed25519 public key (PEM); repeatable\n"
        "  --sender-id ID       the agency id that may sign with the sender key of the same\n"
        "                       rank (first --sender-id for the first --sender-key, ...)\n"
        "  --receiver-id ID     this receiver's own agency id\n"
        "  --data-dir DIR       where the store (messages.jsonl) lives\n"
        "  --max-skew S         timestamp tolerance in seconds (default 300)\n"
        "  --max-rate R         requests per second before 429 (default 0: no limit)\n"
        "  --seed N             seed of the fault draws (default 1)\n"
        "  -v, --verbose        a line per batch and per refused client on stderr\n"
        "  -h, --help\n\n"
        "Prints one line on stdout once serving:\n"
        "  lgsp-ndxp-sim: https://127.0.0.1:P control http://127.0.0.1:Q\n");
}

static int s_long(const char *name, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "lgsp-ndxp-sim: --%s must be an integer in [%ld, %ld]\n", name, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int s_opts(int argc, char **argv, opts_t *o)
{
    enum { O_LISTEN = 256, O_PORT, O_CPORT, O_CERT, O_KEY, O_CA, O_SKEY, O_SID, O_RID, O_DATA,
           O_SKEW, O_RATE, O_SEED };
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, O_LISTEN },
        { "port", required_argument, NULL, O_PORT },
        { "control-port", required_argument, NULL, O_CPORT },
        { "cert", required_argument, NULL, O_CERT },
        { "key", required_argument, NULL, O_KEY },
        { "ca", required_argument, NULL, O_CA },
        { "sender-key", required_argument, NULL, O_SKEY },
        { "sender-id", required_argument, NULL, O_SID },
        { "receiver-id", required_argument, NULL, O_RID },
        { "data-dir", required_argument, NULL, O_DATA },
        { "max-skew", required_argument, NULL, O_SKEW },
        { "max-rate", required_argument, NULL, O_RATE },
        { "seed", required_argument, NULL, O_SEED },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    for (int opt; (opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1;) {
        long x;
        char *end;
        switch (opt) {
        case O_LISTEN: o->listen = optarg; break;
        case O_PORT:
            if (s_long("port", optarg, 0, 65535, &o->port))
                return 2;
            break;
        case O_CPORT:
            if (s_long("control-port", optarg, 0, 65535, &o->control_port))
                return 2;
            break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_CA: o->ca = optarg; break;
        case O_SKEY:
        case O_SID: {
            int *count = opt == O_SKEY ? &o->n_keys : &o->n_ids;
            if (*count == MAX_SENDERS) {
                fprintf(stderr, "lgsp-ndxp-sim: at most %d senders\n", MAX_SENDERS);
                return 2;
            }
            (opt == O_SKEY ? o->sender_key : o->sender_id)[(*count)++] = optarg;
            break;
        }
        case O_RID: o->receiver = optarg; break;
        case O_DATA: o->data_dir = optarg; break;
        case O_SKEW:
            if (s_long("max-skew", optarg, 1, 86400 * 365, &o->max_skew))
                return 2;
            break;
        case O_RATE:
            errno = 0;
            o->max_rate = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(o->max_rate >= 0) || o->max_rate > 1e6) {
                fprintf(stderr, "lgsp-ndxp-sim: --max-rate must be a number in [0, 1e6]\n");
                return 2;
            }
            break;
        case O_SEED:
            if (s_long("seed", optarg, 0, 0x7fffffffL, &x))
                return 2;
            o->seed = (unsigned long long)x;
            break;
        case 'v': o->verbose = true; break;
        case 'h': s_usage(stdout); return -1;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lgsp-ndxp-sim: takes no arguments ('%s')\n", argv[optind]);
        return 2;
    }
    if (strcmp(o->listen, "127.0.0.1") != 0) {
        fprintf(stderr, "lgsp-ndxp-sim: --listen: only 127.0.0.1 (a simulator stays on loopback)\n");
        return 2;
    }
    const char *missing = !o->cert ? "--cert" : !o->key ? "--key" : !o->ca ? "--ca"
                        : !o->receiver ? "--receiver-id" : !o->data_dir ? "--data-dir"
                        : o->n_keys == 0 ? "--sender-key" : NULL;
    if (missing) {
        fprintf(stderr, "lgsp-ndxp-sim: %s is required\n", missing);
        return 2;
    }
    if (o->n_keys != o->n_ids) {
        fprintf(stderr, "lgsp-ndxp-sim: %d --sender-key but %d --sender-id (one id per key)\n",
                o->n_keys, o->n_ids);
        return 2;
    }
    if (!jws_agency_id_ok(o->receiver)) {
        fprintf(stderr, "lgsp-ndxp-sim: --receiver-id '%s' is not of the form 000.00.00.X00\n",
                o->receiver);
        return 2;
    }
    return 0;
}

static char *s_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "lgsp-ndxp-sim: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "lgsp-ndxp-sim: %s: empty\n", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

int main(int argc, char **argv)
{
    opts_t o = { .listen = "127.0.0.1", .max_skew = 300, .seed = 1 };
    int rc = s_opts(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;

    /* every thread (libmicrohttpd's too) inherits this mask; the main
     * thread takes the signals with sigwait */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ndxp_t n = { .max_skew_s = o.max_skew, .max_rate = o.max_rate, .verbose = o.verbose };
    snprintf(n.receiver, sizeof n.receiver, "%s", o.receiver);
    pthread_mutex_init(&n.stats.mu, NULL);
    pthread_mutex_init(&n.rate_mu, NULL);
    n.tokens = o.max_rate < 1 ? 1 : o.max_rate;
    n.tokens_at_ms = ndxp_mono_ms();
    nfaults_init(&n.faults, o.seed);

    char err[512];
    char *cert = NULL, *key = NULL, *ca = NULL;
    ndxp_server_t *server = NULL;
    ndxp_control_t *control = NULL;
    rc = 1;
    n.keys = jws_keyring_new();
    if (!n.keys)
        goto done;
    for (int i = 0; i < o.n_keys; i++) {
        char kid[65];
        if (jws_keyring_add_file(n.keys, o.sender_key[i], o.sender_id[i], kid, err, sizeof err)) {
            fprintf(stderr, "lgsp-ndxp-sim: --sender-key %s\n", err);
            goto done;
        }
        ndxp_log("sender %s: key %s", o.sender_id[i], kid);
    }
    if (!(cert = s_read(o.cert)) || !(key = s_read(o.key)) || !(ca = s_read(o.ca)))
        goto done;
    n.store = store_open(o.data_dir, err, sizeof err);
    if (!n.store) {
        fprintf(stderr, "lgsp-ndxp-sim: store: %s\n", err);
        goto done;
    }
    ndxp_log("store %s: %llu messages", store_path(n.store),
             (unsigned long long)store_count(n.store));
    server = ndxp_server_new(&n, (unsigned)o.port, cert, key, ca, err, sizeof err);
    if (!server) {
        fprintf(stderr, "lgsp-ndxp-sim: %s\n", err);
        goto done;
    }
    control = ndxp_control_new(&n, (unsigned)o.control_port, err, sizeof err);
    if (!control) {
        fprintf(stderr, "lgsp-ndxp-sim: control: %s\n", err);
        goto done;
    }
    printf("lgsp-ndxp-sim: https://127.0.0.1:%u control http://127.0.0.1:%u\n",
           ndxp_server_port(server), ndxp_control_port(control));
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    ndxp_log("signal %d: stopping", sig);
    n.stopping = true;
    rc = 0;
done:
    ndxp_control_destroy(&control);
    ndxp_server_destroy(&server);
    store_close(&n.store);
    jws_keyring_destroy(&n.keys);
    nfaults_fini(&n.faults);
    pthread_mutex_destroy(&n.stats.mu);
    pthread_mutex_destroy(&n.rate_mu);
    if (key)
        memset(key, 0, strlen(key));
    free(cert);
    free(key);
    free(ca);
    return rc;
}
