/* test-client.c — the C client (bus/client.c) against a scripted fake
 * broker: a ROUTER socket in a thread that speaks just enough of
 * docs/protocol.md, and misbehaves on request (ERROR 401 as after a
 * restart, PUBERR 429/400, held answers, silence, malformed frames). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <zmq.h>

#include "lgsp/client.h"

#define MAX_FRAMES 4096
#define MAX_IDS    8192

typedef struct {
    /* behaviour, set before fake_start */
    unsigned    window;
    unsigned    heartbeat_ms;
    int         err401_pubs;       /* answer the first N PUBs with ERROR 401, forgetting the session */
    int         err429_pubs;       /* answer the first N PUBs with PUBERR 429 */
    const char *fail_suffix;       /* PUBERR 400 for ids ending so */
    int         hold_ms;           /* answer PUBs only after this long */
    int         silent_after_pubs; /* then say nothing at all for silent_ms */
    int         silent_ms;
    bool        garbage;           /* malformed messages before every answer */
    int         msgs_on_sub;       /* MSG this many messages after SUBOK */

    /* observed (under mu) */
    pthread_mutex_t mu;
    int         hellos, pubs, byes, heartbeats;
    int         stored, dups;
    int         outstanding, max_outstanding;
    char       *ids[MAX_IDS];
    int         n_ids;
    char       *refused_ids[MAX_IDS];   /* ids of PUBs refused with 401 */
    int         n_refused;
    uint64_t    acked[MAX_IDS];
    int         n_acked;
    uint64_t    credit_granted;
    char        nack_reason[64];
    int         n_nacked;

    /* plumbing */
    void       *ctx, *router;
    char        endpoint[64];
    pthread_t   thread;
    atomic_bool stop;
} fake_t;

typedef struct held {
    struct held *next;
    int64_t      due;
    int          n;
    zmq_msg_t    f[];
} held_t;

static int64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool s_is(zmq_msg_t *m, const char *s)
{
    return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

static char *s_str(zmq_msg_t *m)
{
    return strndup(zmq_msg_data(m), zmq_msg_size(m));
}

/* Sends rid, LGSP1, then the NULL-terminated string frames. */
static void s_send(fake_t *f, zmq_msg_t *rid, ...)
{
    zmq_send(f->router, zmq_msg_data(rid), zmq_msg_size(rid), ZMQ_SNDMORE);
    va_list ap;
    va_start(ap, rid);
    const char *s = va_arg(ap, const char *);
    zmq_send(f->router, "LGSP1", 5, s ? ZMQ_SNDMORE : 0);
    while (s) {
        const char *next = va_arg(ap, const char *);
        zmq_send(f->router, s, strlen(s), next ? ZMQ_SNDMORE : 0);
        s = next;
    }
    va_end(ap);
}

static void s_garbage(fake_t *f, zmq_msg_t *rid)
{
    static const char *const junk[][8] = {
        { "PUBOK", NULL }, { "PUBOK", "t", "x", NULL }, { "MSG", "t", "g", "1", NULL },
        { "MSG", "t", "g", "x", "1", "2", "id", NULL }, { "PUBERR", "t", "abc", "", "id", NULL },
        { "ERROR", NULL }, { "ERROR", "99999999999999999999999", "x", NULL }, { "WELCOME", "v", NULL },
        { "ADMINOK", NULL }, { "SUBOK", "t", NULL }, { "WHAT", NULL }, { "PUBOK", "t", "nope", "1", "new", NULL },
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        const char *const *j = junk[i];
        s_send(f, rid, j[0], j[1], j[2], j[3], j[4], j[5], j[6], j[7]);
    }
    zmq_send(f->router, zmq_msg_data(rid), zmq_msg_size(rid), ZMQ_SNDMORE);
    zmq_send(f->router, "LGSP0", 5, ZMQ_SNDMORE);
    zmq_send(f->router, "PUBOK", 5, 0);
}

static int s_find_id(fake_t *f, const char *id)
{
    for (int i = 0; i < f->n_ids; i++)
        if (strcmp(f->ids[i], id) == 0)
            return i;
    return -1;
}

/* Builds the PUBOK / PUBERR answers of one PUB into held messages. */
static void s_on_pub(fake_t *f, zmq_msg_t *fr, int nf, held_t **held)
{
    int64_t now = s_ms();
    int n = (nf - 4) / 4;
    pthread_mutex_lock(&f->mu);
    f->pubs++;
    f->outstanding += n;
    if (f->outstanding > f->max_outstanding)
        f->max_outstanding = f->outstanding;
    bool refuse401 = f->pubs <= f->err401_pubs, refuse429 = !refuse401 && f->pubs <= f->err401_pubs + f->err429_pubs;
    held_t *ok = calloc(1, sizeof *ok + (size_t) (4 + 3 * n) * sizeof(zmq_msg_t));
    held_t *bad = calloc(1, sizeof *bad + (size_t) (6 + n) * sizeof(zmq_msg_t));
    zmq_msg_init(&ok->f[0]);
    zmq_msg_copy(&ok->f[0], &fr[0]);
    zmq_msg_init_data(&ok->f[1], "LGSP1", 5, NULL, NULL);
    zmq_msg_init_data(&ok->f[2], "PUBOK", 5, NULL, NULL);
    zmq_msg_init(&ok->f[3]);
    zmq_msg_copy(&ok->f[3], &fr[3]);
    ok->n = 4;
    zmq_msg_init(&bad->f[0]);
    zmq_msg_copy(&bad->f[0], &fr[0]);
    zmq_msg_init_data(&bad->f[1], "LGSP1", 5, NULL, NULL);
    zmq_msg_init_data(&bad->f[2], "PUBERR", 6, NULL, NULL);
    zmq_msg_init(&bad->f[3]);
    zmq_msg_copy(&bad->f[3], &fr[3]);
    zmq_msg_init_data(&bad->f[4], refuse429 ? "429" : "400", 3, NULL, NULL);
    zmq_msg_init_data(&bad->f[5], refuse429 ? "window exceeded" : "bad id", refuse429 ? 15 : 6, NULL, NULL);
    bad->n = 6;
    for (int i = 0; i < n; i++) {
        zmq_msg_t *idf = &fr[4 + 4 * i];
        char *id = s_str(idf);
        size_t len = strlen(id), sl = f->fail_suffix ? strlen(f->fail_suffix) : 0;
        if (refuse401) {
            if (f->n_refused < MAX_IDS)
                f->refused_ids[f->n_refused++] = id;
            else
                free(id);
            continue;
        }
        if (refuse429 || (sl && len >= sl && strcmp(id + len - sl, f->fail_suffix) == 0)) {
            zmq_msg_init(&bad->f[bad->n]);
            zmq_msg_copy(&bad->f[bad->n++], idf);
            free(id);
            continue;
        }
        int at = s_find_id(f, id);
        const char *status = at >= 0 ? "dup" : "new";
        if (at < 0 && f->n_ids < MAX_IDS) {
            at = f->n_ids;
            f->ids[f->n_ids++] = id;
            f->stored++;
        } else {
            f->dups += at >= 0;
            free(id);
        }
        char off[24];
        snprintf(off, sizeof off, "%d", at);
        zmq_msg_init(&ok->f[ok->n]);
        zmq_msg_copy(&ok->f[ok->n++], idf);
        zmq_msg_init_size(&ok->f[ok->n], strlen(off));
        memcpy(zmq_msg_data(&ok->f[ok->n++]), off, strlen(off));
        zmq_msg_init_data(&ok->f[ok->n++], (void *) status, 3, NULL, NULL);
    }
    if (refuse401)
        f->outstanding -= n;
    pthread_mutex_unlock(&f->mu);
    if (refuse401) {
        s_send(f, &fr[0], "ERROR", "401", "no session: send HELLO first", NULL);
        for (int i = 0; i < ok->n; i++)
            zmq_msg_close(&ok->f[i]);
        for (int i = 0; i < bad->n; i++)
            zmq_msg_close(&bad->f[i]);
        free(ok);
        free(bad);
        return;
    }
    ok->due = bad->due = now + f->hold_ms;
    held_t **tail = held;
    while (*tail)
        tail = &(*tail)->next;
    if (bad->n > 6) {
        *tail = bad;
        tail = &bad->next;
    } else {
        for (int i = 0; i < bad->n; i++)
            zmq_msg_close(&bad->f[i]);
        free(bad);
    }
    if (ok->n > 4) {
        *tail = ok;
    } else {
        for (int i = 0; i < ok->n; i++)
            zmq_msg_close(&ok->f[i]);
        free(ok);
    }
}

static void *s_fake_run(void *arg)
{
    fake_t *f = arg;
    zmq_msg_t fr[MAX_FRAMES];
    held_t *held = NULL;
    zmq_msg_t last_rid;
    zmq_msg_init(&last_rid);
    bool have_rid = false;
    int64_t last_hb = s_ms(), silent_until = 0;
    while (!atomic_load(&f->stop)) {
        zmq_pollitem_t it = { .socket = f->router, .events = ZMQ_POLLIN };
        zmq_poll(&it, 1, 5);
        int64_t now = s_ms();
        while (held && held->due <= now && now >= silent_until) {
            held_t *h = held;
            held = h->next;
            int answered = h->n > 6 && s_is(&h->f[2], "PUBERR") ? h->n - 6 : (h->n - 4) / 3;
            if (f->garbage)
                s_garbage(f, &h->f[0]);
            for (int i = 0; i < h->n; i++)
                zmq_msg_send(&h->f[i], f->router, i + 1 < h->n ? ZMQ_SNDMORE : 0);
            free(h);
            pthread_mutex_lock(&f->mu);
            f->outstanding -= answered;
            pthread_mutex_unlock(&f->mu);
        }
        if (have_rid && now - last_hb >= f->heartbeat_ms && now >= silent_until) {
            s_send(f, &last_rid, "HEARTBEAT", NULL);
            last_hb = now;
        }
        if (!(it.revents & ZMQ_POLLIN))
            continue;
        int nf = 0;
        for (;;) {
            zmq_msg_init(&fr[nf]);
            zmq_msg_recv(&fr[nf], f->router, 0);
            bool more = zmq_msg_more(&fr[nf]);
            if (nf + 1 < MAX_FRAMES)
                nf++;
            else
                zmq_msg_close(&fr[nf]);
            if (!more)
                break;
        }
        if (now < silent_until || nf < 3 || !s_is(&fr[1], "LGSP1"))
            goto next;
        zmq_msg_copy(&last_rid, &fr[0]);
        have_rid = true;
        zmq_msg_t *cmd = &fr[2];
        if (s_is(cmd, "HELLO")) {
            char window[16], hb[16];
            snprintf(window, sizeof window, "%u", f->window);
            snprintf(hb, sizeof hb, "%u", f->heartbeat_ms);
            pthread_mutex_lock(&f->mu);
            f->hellos++;
            pthread_mutex_unlock(&f->mu);
            s_send(f, &fr[0], "WELCOME", "fake", hb, window, "1048576", NULL);
        } else if (s_is(cmd, "PUB") && nf >= 8 && (nf - 4) % 4 == 0) {
            s_on_pub(f, fr, nf, &held);
            if (f->silent_after_pubs && f->pubs == f->silent_after_pubs) {
                silent_until = now + f->silent_ms;
                f->silent_after_pubs = 0;
            }
        } else if (s_is(cmd, "SUB") && nf >= 6) {
            char *topic = s_str(&fr[3]), *group = s_str(&fr[4]);
            if (strncmp(topic, "forbidden", 9) == 0) {
                s_send(f, &fr[0], "ERROR", "403", "this client may not subscribe to this topic", topic, group, NULL);
            } else {
                s_send(f, &fr[0], "SUBOK", topic, group, NULL);
                if (f->msgs_on_sub) {
                    zmq_send(f->router, zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), ZMQ_SNDMORE);
                    zmq_send(f->router, "LGSP1", 5, ZMQ_SNDMORE);
                    zmq_send(f->router, "MSG", 3, ZMQ_SNDMORE);
                    zmq_send(f->router, topic, strlen(topic), ZMQ_SNDMORE);
                    zmq_send(f->router, group, strlen(group), ZMQ_SNDMORE);
                    for (int i = 0; i < f->msgs_on_sub; i++) {
                        char off[16], id[16], payload[32];
                        snprintf(off, sizeof off, "%d", i);
                        snprintf(id, sizeof id, "m%d", i);
                        snprintf(payload, sizeof payload, "payload %d", i);
                        zmq_send(f->router, off, strlen(off), ZMQ_SNDMORE);
                        zmq_send(f->router, "1", 1, ZMQ_SNDMORE);
                        zmq_send(f->router, "1700000000000000", 16, ZMQ_SNDMORE);
                        zmq_send(f->router, id, strlen(id), ZMQ_SNDMORE);
                        zmq_send(f->router, i % 2 ? "k" : "", i % 2, ZMQ_SNDMORE);
                        zmq_send(f->router, "{\"h\":\"v\"}", 9, ZMQ_SNDMORE);
                        zmq_send(f->router, payload, strlen(payload), i + 1 < f->msgs_on_sub ? ZMQ_SNDMORE : 0);
                    }
                }
            }
            free(topic);
            free(group);
        } else if (s_is(cmd, "ACK") || s_is(cmd, "NACK")) {
            bool nack = s_is(cmd, "NACK");
            pthread_mutex_lock(&f->mu);
            if (nack && nf > 5)
                snprintf(f->nack_reason, sizeof f->nack_reason, "%.*s", (int) zmq_msg_size(&fr[5]),
                         (const char *) zmq_msg_data(&fr[5]));
            for (int i = nack ? 6 : 5; i < nf; i++) {
                if (nack) {
                    f->n_nacked++;
                } else if (f->n_acked < MAX_IDS) {
                    char *s = s_str(&fr[i]);
                    f->acked[f->n_acked++] = strtoull(s, NULL, 10);
                    free(s);
                }
            }
            pthread_mutex_unlock(&f->mu);
        } else if (s_is(cmd, "CREDIT") && nf == 6) {
            char *s = s_str(&fr[5]);
            pthread_mutex_lock(&f->mu);
            f->credit_granted += strtoull(s, NULL, 10);
            pthread_mutex_unlock(&f->mu);
            free(s);
        } else if (s_is(cmd, "ADMIN") && nf >= 5) {
            char *rq = s_str(&fr[3]);
            if (s_is(&fr[4], "status"))
                s_send(f, &fr[0], "ADMINOK", rq, "{\"version\":\"fake\"}", NULL);
            else
                s_send(f, &fr[0], "ERROR", "403", "this client is not an admin", rq, NULL);
            free(rq);
        } else if (s_is(cmd, "HEARTBEAT")) {
            pthread_mutex_lock(&f->mu);
            f->heartbeats++;
            pthread_mutex_unlock(&f->mu);
        } else if (s_is(cmd, "BYE")) {
            pthread_mutex_lock(&f->mu);
            f->byes++;
            pthread_mutex_unlock(&f->mu);
        }
    next:
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&fr[i]);
    }
    while (held) {
        held_t *h = held;
        held = h->next;
        for (int i = 0; i < h->n; i++)
            zmq_msg_close(&h->f[i]);
        free(h);
    }
    zmq_msg_close(&last_rid);
    return NULL;
}

static fake_t *fake_new(void)
{
    fake_t *f = calloc(1, sizeof *f);
    f->window = 1000;
    f->heartbeat_ms = 200;
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

static void fake_start(fake_t *f)
{
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof f->endpoint;
    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    pthread_create(&f->thread, NULL, s_fake_run, f);
}

static void fake_destroy(fake_t **fp)
{
    fake_t *f = *fp;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    for (int i = 0; i < f->n_ids; i++)
        free(f->ids[i]);
    for (int i = 0; i < f->n_refused; i++)
        free(f->refused_ids[i]);
    pthread_mutex_destroy(&f->mu);
    free(f);
    *fp = NULL;
}

static lgsp_client_t *s_client(fake_t *f, int timeout_ms)
{
    char err[256];
    lgsp_client_options_t o = { .endpoint = f->endpoint, .name = "test", .timeout_ms = timeout_ms };
    lgsp_client_t *c = lgsp_client_new(&o, err, sizeof err);
    if (!c)
        fail_msg("lgsp_client_new: %s", err);
    return c;
}

typedef struct {
    int ok, dup, failed, last_code;
} counts_t;

static void s_count(void *arg, const char *topic, const char *id, int code, uint64_t offset, bool dup,
                    const char *text)
{
    counts_t *c = arg;
    (void) topic;
    (void) id;
    (void) offset;
    (void) text;
    if (code) {
        c->failed++;
        c->last_code = code;
    } else if (dup) {
        c->dup++;
    } else {
        c->ok++;
    }
}

/* ---- tests --------------------------------------------------------------- */

static void test_make_id(void **state)
{
    (void) state;
    char prev[33] = "", id[33];
    for (int i = 0; i < 100000; i++) {
        lgsp_make_id(id);
        assert_int_equal(strlen(id), 32);
        assert_int_equal(strspn(id, "0123456789abcdef"), 32);
        assert_true(strcmp(prev, id) < 0);       /* strictly increasing in one thread */
        memcpy(prev, id, 33);
    }
    /* The first 12 hex digits are the time in ms. */
    char ms[13];
    memcpy(ms, id, 12);
    ms[12] = 0;
    uint64_t t = strtoull(ms, NULL, 16);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    assert_true(t <= now + 1000 && t + 60000 > now);
}

static void test_keygen(void **state)
{
    (void) state;
    char pub[41], sec[41], derived[41];
    assert_int_equal(lgsp_keygen(pub, sec), 0);
    assert_int_equal(strlen(pub), 40);
    assert_int_equal(strlen(sec), 40);
    assert_int_equal(zmq_curve_public(derived, sec), 0);
    assert_string_equal(derived, pub);
}

static void test_no_broker(void **state)
{
    (void) state;
    /* A port nothing listens on: bind and close a socket to find one. */
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
    char ep[64];
    size_t len = sizeof ep;
    zmq_bind(s, "tcp://127.0.0.1:*");
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
    zmq_close(s);
    zmq_ctx_term(ctx);
    char err[256];
    lgsp_client_options_t o = { .endpoint = ep, .timeout_ms = 300 };
    int64_t t0 = s_ms();
    lgsp_client_t *c = lgsp_client_new(&o, err, sizeof err);
    int64_t took = s_ms() - t0;
    assert_null(c);
    assert_non_null(strstr(err, "no answer from"));
    assert_true(took >= 290 && took < 1500);
    /* Curve options are checked before connecting. */
    o.server_key = "not a key";
    assert_null(lgsp_client_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "Z85"));
}

static void test_publish_flush(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    assert_int_equal(lgsp_client_pub_window(c), 1000);
    assert_int_equal(lgsp_client_max_message_bytes(c), 1048576);
    counts_t n = { 0 };
    lgsp_client_on_publish(c, s_count, &n);
    for (int i = 0; i < 3000; i++) {
        char id[32], payload[64];
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(payload, sizeof payload, "message %d", i);
        assert_int_equal(lgsp_client_publish(c, i % 2 ? "a" : "b", id, "key", 3, "{\"x\":\"y\"}", payload,
                                             strlen(payload)), 0);
    }
    assert_int_equal(lgsp_client_flush(c, 5000), 0);
    assert_int_equal(n.ok, 3000);
    assert_int_equal(lgsp_client_unanswered(c), 0);
    /* The same ids again: dup. */
    for (int i = 0; i < 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "id-%d", i);
        assert_int_equal(lgsp_client_publish(c, i % 2 ? "a" : "b", id, NULL, 0, NULL, "x", 1), 0);
    }
    assert_int_equal(lgsp_client_flush(c, 5000), 0);
    assert_int_equal(n.dup, 10);
    /* Invalid arguments are refused before anything is queued. */
    assert_int_equal(lgsp_client_publish(c, ".bad", NULL, NULL, 0, NULL, "x", 1), -1);
    assert_int_equal(lgsp_client_publish(c, "t", "with space", NULL, 0, NULL, "x", 1), -1);
    assert_int_equal(lgsp_client_publish(c, "t", NULL, NULL, 0, "[1]", "x", 1), -1);
    char *big = calloc(1, 2 << 20);
    assert_int_equal(lgsp_client_publish(c, "t", NULL, NULL, 0, NULL, big, 2 << 20), -1);
    assert_non_null(strstr(lgsp_client_error(c), "max_message_bytes"));
    free(big);
    lgsp_client_destroy(&c);
    assert_null(c);
    usleep(50000);
    assert_int_equal(f->byes, 1);
    assert_int_equal(f->stored, 3000);
    fake_destroy(&f);
}

static void test_window_respected(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->window = 16;
    f->hold_ms = 10;
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    for (int i = 0; i < 500; i++)
        assert_int_equal(lgsp_client_publish(c, "t", NULL, NULL, 0, NULL, "x", 1), 0);
    assert_true(lgsp_client_unanswered(c) <= 16);
    assert_int_equal(lgsp_client_flush(c, 5000), 0);
    lgsp_client_destroy(&c);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->stored, 500);
    assert_true(f->max_outstanding <= 16);
    pthread_mutex_unlock(&f->mu);
    fake_destroy(&f);
}

/* ERROR 401 (a restarted broker): HELLO again, and the refused publishes
 * are sent again with the same ids. */
static void test_401_resends_same_ids(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->err401_pubs = 1;
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    counts_t n = { 0 };
    lgsp_client_on_publish(c, s_count, &n);
    for (int i = 0; i < 100; i++)
        assert_int_equal(lgsp_client_publish(c, "t", NULL, NULL, 0, NULL, "x", 1), 0);
    assert_int_equal(lgsp_client_flush(c, 5000), 0);
    /* A PUB sent before the 401 arrived may have been stored with its
     * answer lost with the old socket: re-sent, it comes back as dup. */
    assert_int_equal(n.ok + n.dup, 100);
    assert_int_equal(n.failed, 0);
    lgsp_client_destroy(&c);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->hellos, 2);
    assert_true(f->n_refused > 0);
    for (int i = 0; i < f->n_refused; i++)
        assert_true(s_find_id(f, f->refused_ids[i]) >= 0);
    assert_int_equal(f->stored, 100);
    pthread_mutex_unlock(&f->mu);
    fake_destroy(&f);
}

static void test_429_retried_400_reported(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->err429_pubs = 2;
    f->fail_suffix = "-bad";
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    counts_t n = { 0 };
    lgsp_client_on_publish(c, s_count, &n);
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d%s", i, i % 10 == 0 ? "-bad" : "");
        assert_int_equal(lgsp_client_publish(c, "t", id, NULL, 0, NULL, "x", 1), 0);
    }
    assert_int_equal(lgsp_client_flush(c, 5000), 5);
    assert_int_equal(n.failed, 5);
    assert_int_equal(n.last_code, 400);
    assert_int_equal(n.ok, 45);
    assert_int_equal(lgsp_client_flush(c, 1000), 0);    /* counted since the last flush */
    lgsp_client_destroy(&c);
    fake_destroy(&f);
}

/* The broker goes quiet (no answers, no heartbeats): after 5 heartbeats
 * the client starts a new session and re-sends. */
static void test_silence_reconnects(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->heartbeat_ms = 50;
    f->silent_after_pubs = 1;
    f->silent_ms = 600;
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    counts_t n = { 0 };
    lgsp_client_on_publish(c, s_count, &n);
    for (int i = 0; i < 20; i++)
        assert_int_equal(lgsp_client_publish(c, "t", NULL, NULL, 0, NULL, "x", 1), 0);
    assert_int_equal(lgsp_client_flush(c, 5000), 0);
    assert_int_equal(n.ok + n.dup, 20);
    lgsp_client_destroy(&c);
    pthread_mutex_lock(&f->mu);
    assert_true(f->hellos >= 2);
    assert_int_equal(f->stored, 20);
    pthread_mutex_unlock(&f->mu);
    fake_destroy(&f);
}

static void test_garbage_is_ignored(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->garbage = true;
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    for (int i = 0; i < 300; i++)
        assert_int_equal(lgsp_client_publish(c, "t", NULL, NULL, 0, NULL, "x", 1), 0);
    assert_int_equal(lgsp_client_flush(c, 5000), 0);
    lgsp_client_destroy(&c);
    fake_destroy(&f);
}

static void test_consume_ack_credit(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->msgs_on_sub = 8;
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    assert_int_equal(lgsp_client_subscribe(c, "forbidden.t", "g", 8, NULL), -1);
    assert_non_null(strstr(lgsp_client_error(c), "403"));
    assert_int_equal(lgsp_client_subscribe(c, "t", "g", 8, "earliest"), 0);
    assert_int_equal(lgsp_client_subscribe(c, "t", "g", 8, NULL), -1);   /* twice */
    lgsp_delivery_t d;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(lgsp_client_receive(c, &d, 2000), 1);
        char want[32];
        snprintf(want, sizeof want, "payload %d", i);
        assert_int_equal(d.offset, (uint64_t) i);
        assert_int_equal(d.attempt, 1);
        assert_int_equal(d.time_us, 1700000000000000ULL);
        assert_string_equal(d.topic, "t");
        assert_string_equal(d.group, "g");
        assert_int_equal(d.payload_len, strlen(want));
        assert_memory_equal(d.payload, want, d.payload_len);
        assert_int_equal(d.key_len, (size_t) (i % 2));
        assert_int_equal(d.headers_len, 9);
        if (i == 7)
            assert_int_equal(lgsp_client_nack(c, &d, "no good"), 0);
        else
            assert_int_equal(lgsp_client_ack(c, &d), 0);
    }
    /* Nothing more: the acks and the credit go out while waiting. */
    assert_int_equal(lgsp_client_receive(c, &d, 100), 0);
    usleep(50000);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->n_acked, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(f->acked[i], (uint64_t) i);
    assert_int_equal(f->n_nacked, 1);
    assert_string_equal(f->nack_reason, "no good");
    assert_int_equal(f->credit_granted, 8);
    pthread_mutex_unlock(&f->mu);
    /* An offset acked twice grants no second credit. (d itself is no
     * longer valid: deliveries are borrowed until the next receive.) */
    lgsp_delivery_t again = { .topic = "t", .group = "g", .offset = 3 };
    assert_int_equal(lgsp_client_ack(c, &again), 0);
    assert_int_equal(lgsp_client_receive(c, &d, 50), 0);
    usleep(20000);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->credit_granted, 8);
    pthread_mutex_unlock(&f->mu);
    lgsp_delivery_t other = { .topic = "x", .group = "y" };
    assert_int_equal(lgsp_client_ack(c, &other), -1);
    lgsp_client_destroy(&c);
    fake_destroy(&f);
}

/* A client with nothing to do keeps its session by calling receive with
 * timeout 0 now and then (as lgsp publish does while its input is quiet). */
static void test_idle_receive_heartbeats(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    f->heartbeat_ms = 50;
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    lgsp_delivery_t d;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(lgsp_client_receive(c, &d, 0), 0);
        usleep(30000);
    }
    pthread_mutex_lock(&f->mu);
    assert_true(f->heartbeats >= 5);
    assert_int_equal(f->hellos, 1);
    pthread_mutex_unlock(&f->mu);
    lgsp_client_destroy(&c);
    fake_destroy(&f);
}

static void test_admin(void **state)
{
    (void) state;
    fake_t *f = fake_new();
    fake_start(f);
    lgsp_client_t *c = s_client(f, 5000);
    char *json = NULL;
    assert_int_equal(lgsp_client_admin(c, "status", 0, NULL, &json), 0);
    assert_string_equal(json, "{\"version\":\"fake\"}");
    free(json);
    const char *args[] = { "t", "all" };
    assert_int_equal(lgsp_client_admin(c, "dlq.purge", 2, args, &json), -1);
    assert_null(json);
    assert_string_equal(lgsp_client_error(c), "403 this client is not an admin");
    lgsp_client_destroy(&c);
    fake_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_id),
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_no_broker),
        cmocka_unit_test(test_publish_flush),
        cmocka_unit_test(test_window_respected),
        cmocka_unit_test(test_401_resends_same_ids),
        cmocka_unit_test(test_429_retried_400_reported),
        cmocka_unit_test(test_silence_reconnects),
        cmocka_unit_test(test_garbage_is_ignored),
        cmocka_unit_test(test_consume_ack_credit),
        cmocka_unit_test(test_idle_receive_heartbeats),
        cmocka_unit_test(test_admin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
