/* client.c — the C client of the lgsp bus (include/lgsp/client.h).
 *
 * One lgsp_client_t is one DEALER socket speaking docs/protocol.md, driven
 * from the caller's thread: every public call that may wait runs s_pump(),
 * which does the timers (heartbeats, liveness, ack batching, publish
 * retries, reconnection) and reads whatever the broker sent.
 *
 * Publishing. Each message is copied into a pending_t, kept in a hash table
 * by id (to match PUBOK/PUBERR) and in a list in publish order (to re-send
 * in order after a broker restart), and queued in its topic's send queue.
 * A queue goes out as one PUB when nothing is in flight (so a slow
 * publisher sees no added latency) or when it holds a full batch (so a fast
 * one sends few, large PUBs while earlier ones are being committed); never
 * more than pub_window messages are unanswered.
 *
 * Consuming. MSG frames are copied into one block per MSG (dbatch_t) and
 * handed out one delivery at a time. Every delivered offset is counted in
 * the subscription's in-hand multiset; acking or nacking it takes it out
 * and owes the broker one credit, which is granted back in batches, so that
 * about `credit` messages are always in hand or on their way.
 *
 * Sessions. A session ends on ERROR 401, on a disconnection reported by
 * the socket monitor, or after 5 heartbeats of silence; the client then
 * opens a new socket (ZeroMQ would give the new connection a new routing
 * id anyway, so the broker cannot know us), says HELLO, re-subscribes, and
 * re-sends every unanswered publish with its id. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "lgsp/client.h"
#include "lgsp/protocol.h"

#define BATCH_MAX_MSGS     256          /* messages in one PUB we send */
#define BATCH_MAX_BYTES    (1u << 20)   /* payload bytes in one PUB */
#define ACK_BATCH          256          /* pending acks that force a send */
#define ACK_DELAY_MS       5            /* the longest an ack waits */
#define DRAIN_EVERY_MS     1            /* how often fast paths look at the socket */
#define HELLO_RETRY_MS     2000         /* re-HELLO (new socket) if no WELCOME */
#define RECONNECT_MIN_MS   100
#define RECONNECT_MAX_MS   2000
#define RETRY_MIN_MS       100          /* PUBERR 429 back-off, doubling */
#define RETRY_MAX_MS       2000
#define SOCKET_LINGER_MS   200          /* lets ACK/BYE leave at destroy */
#define SOCKET_HWM         10000
#define SEND_TIMEOUT_MS    2000
#define MAX_RECV_FRAMES    (16u << 20)  /* frames kept of one message */
#define DEFAULT_TIMEOUT_MS 10000

#ifndef LGSP_CLIENT_VERSION
#define LGSP_CLIENT_VERSION "0.0.0"
#endif

/* ---- small helpers ------------------------------------------------------ */

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t s_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;           /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Strict ASCII decimal, 1-20 digits, no overflow. */
static bool s_parse_u64(const void *data, size_t len, uint64_t *out)
{
    const unsigned char *p = data;
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = p[i] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool s_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > LGSP_MAX_NAME || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool s_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > LGSP_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static bool s_z85_key_ok(const char *k)
{
    uint8_t bin[32];
    return k && strlen(k) == 40 && zmq_z85_decode(bin, k) != NULL;
}

/* ---- a multiset of offsets (linear probing, backward-shift deletion) ---- */

typedef struct {
    uint64_t *keys;      /* offset + 1; 0 = empty */
    uint32_t *counts;
    size_t cap, n;       /* cap: a power of two or 0 */
} u64set_t;

static void s_set_clear(u64set_t *s)
{
    free(s->keys);
    free(s->counts);
    memset(s, 0, sizeof *s);
}

static size_t s_set_slot(uint64_t key, size_t cap)
{
    return (size_t) ((key * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
}

static bool s_set_add(u64set_t *s, uint64_t offset);

static bool s_set_grow(u64set_t *s)
{
    u64set_t bigger = { 0 };
    bigger.cap = s->cap ? s->cap * 2 : 64;
    bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
    bigger.counts = calloc(bigger.cap, sizeof *bigger.counts);
    if (!bigger.keys || !bigger.counts) {
        s_set_clear(&bigger);
        return false;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->keys[i])
            continue;
        size_t j = s_set_slot(s->keys[i], bigger.cap);
        while (bigger.keys[j])
            j = (j + 1) & (bigger.cap - 1);
        bigger.keys[j] = s->keys[i];
        bigger.counts[j] = s->counts[i];
        bigger.n++;
    }
    s_set_clear(s);
    *s = bigger;
    return true;
}

static bool s_set_add(u64set_t *s, uint64_t offset)
{
    if ((s->n + 1) * 2 > s->cap && !s_set_grow(s))
        return false;
    uint64_t key = offset + 1;
    size_t j = s_set_slot(key, s->cap);
    while (s->keys[j] && s->keys[j] != key)
        j = (j + 1) & (s->cap - 1);
    if (!s->keys[j]) {
        s->keys[j] = key;
        s->counts[j] = 0;
        s->n++;
    }
    s->counts[j]++;
    return true;
}

/* Removes the offset; returns how many times it was in the set. */
static uint32_t s_set_take(u64set_t *s, uint64_t offset)
{
    if (!s->cap)
        return 0;
    uint64_t key = offset + 1;
    size_t mask = s->cap - 1, j = s_set_slot(key, s->cap);
    while (s->keys[j] && s->keys[j] != key)
        j = (j + 1) & mask;
    if (!s->keys[j])
        return 0;
    uint32_t count = s->counts[j];
    s->keys[j] = 0;
    s->n--;
    /* Shift back the entries of the run that follows, so that lookups
     * never stop early at the hole. */
    size_t hole = j;
    for (size_t k = (j + 1) & mask; s->keys[k]; k = (k + 1) & mask) {
        size_t home = s_set_slot(s->keys[k], s->cap);
        bool movable = hole <= k ? (home <= hole || home > k) : (home <= hole && home > k);
        if (movable) {
            s->keys[hole] = s->keys[k];
            s->counts[hole] = s->counts[k];
            s->keys[k] = 0;
            hole = k;
        }
    }
    return count;
}

/* ---- the client's records ---------------------------------------------- */

typedef enum { PEND_QUEUED, PEND_SENT, PEND_RETRY } pend_state_t;

typedef struct ptopic ptopic_t;
typedef struct pending pending_t;

/* One published message until its answer arrives. */
struct pending {
    pending_t   *hnext;          /* hash chain */
    pending_t   *prev, *next;    /* every pending message, in publish order */
    pending_t   *qnext;          /* its topic's send queue */
    ptopic_t    *topic;
    uint64_t     hash;
    int64_t      retry_at;       /* PEND_RETRY: when to queue it again */
    unsigned     retries;
    pend_state_t state;
    size_t       id_len, key_len, headers_len, payload_len;
    char         data[];         /* id NUL key headers payload */
};

/* A topic published to: its send queue. Kept until destroy. */
struct ptopic {
    ptopic_t  *next;
    pending_t *qhead, *qtail;
    size_t     qcount, qbytes;
    char       name[];
};

typedef struct sub sub_t;
struct sub {
    sub_t    *next;
    char     *topic, *group, *start;
    unsigned  credit;
    bool      active;            /* SUBOK received in this session */
    bool      failed;            /* refused by the broker */
    char      fail_text[256];
    u64set_t  inhand;            /* offsets delivered in this session, not acked */
    uint64_t  owed;              /* credit to grant back */
    uint64_t *acks;   size_t n_acks, cap_acks;
    uint64_t *nacks;  size_t n_nacks, cap_nacks;
    char     *nack_reason;
    bool      nack_dead;         /* the pending NACKs are REJECTs (dead-letter at once) */
    int64_t   ack_since;         /* when the oldest pending ack/nack was made; 0 = none */
};

/* The deliveries of one MSG, in one allocation. */
typedef struct dbatch dbatch_t;
struct dbatch {
    dbatch_t        *next;
    size_t           n, taken;
    lgsp_delivery_t *d;
};

typedef enum { ST_DOWN, ST_HELLO_SENT, ST_READY } state_t;

/* An answer a blocking call is waiting for. */
typedef struct {
    const char *reqid;           /* ADMIN */
    bool        done;
    int         code;            /* 0 = ADMINOK */
    char       *json;            /* ADMINOK (owned until taken) */
    char        text[256];
} wait_t;

struct lgsp_client {
    void     *ctx;
    void     *sock, *mon;
    unsigned  sock_seq;
    char     *endpoint, *name;
    bool      curve;
    char      server_key[41], public_key[41], secret_key[41];
    int       timeout_ms;
    bool      debug;
    char      error[512];

    state_t   state;
    int64_t   state_since;
    int64_t   reconnect_at;
    unsigned  reconnect_delay;
    bool      auth_failed;
    bool      proto_failed;       /* ZMTP handshake failed: security mismatch? */
    int64_t   down_since;         /* when the last session was lost; 0 = in session */
    char      hello_error[256];   /* ERROR answering HELLO */
    unsigned  sessions;           /* WELCOMEs received */
    bool      send_broken;        /* the current outgoing message failed */
    bool      in_callback;
    char     *broker_version;
    unsigned  heartbeat_ms, pub_window;
    uint64_t  max_message_bytes;
    int64_t   last_send, last_recv, next_drain;

    /* publishing */
    lgsp_publish_cb *pub_cb;
    void      *pub_arg;
    ptopic_t  *ptopics;
    ptopic_t  *last_ptopic;       /* cache for publish() */
    pending_t *phead, *ptail;
    pending_t **buckets;
    size_t     nbuckets, npending;
    size_t     queued, in_flight, retrying;
    int64_t    next_retry_at;
    unsigned   batch_max;
    int        failed;

    /* consuming */
    sub_t     *subs;
    sub_t     *last_sub;          /* cache for ack() */
    sub_t     *waiting_sub;       /* subscribe() in progress */
    dbatch_t  *dhead, *dtail;
    dbatch_t  *borrowed;          /* exhausted batch still lent to the caller */

    /* requests */
    wait_t    *wait;
    unsigned   admin_seq;
    bool       unsub_done;
    const sub_t *unsub_waiting;

    /* incoming message */
    zmq_msg_t *frames;
    size_t     cap_frames;
};

static void s_debug(lgsp_client_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_debug(lgsp_client_t *self, const char *fmt, ...)
{
    if (!self->debug)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lgsp-client: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int s_fail(lgsp_client_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_fail(lgsp_client_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- sending ----------------------------------------------------------- */

static void s_session_lost(lgsp_client_t *self, const char *why);

/* Sends one frame; `more` false ends the message. If the first frame of a
 * message cannot be sent (send timeout: the broker is not reading), the
 * rest of the message is dropped and the session is started again, which
 * re-sends whatever matters. */
static void s_frame(lgsp_client_t *self, const void *data, size_t len, bool more)
{
    if (!self->sock)
        self->send_broken = true;
    if (!self->send_broken && zmq_send(self->sock, data, len, more ? ZMQ_SNDMORE : 0) < 0) {
        self->send_broken = true;
        s_debug(self, "send failed: %s", zmq_strerror(errno));
        s_session_lost(self, "cannot send to the broker");
    }
    if (!more) {
        if (!self->send_broken)
            self->last_send = s_now_ms();
        self->send_broken = false;
    }
}

static void s_frame_str(lgsp_client_t *self, const char *s, bool more)
{
    s_frame(self, s, strlen(s), more);
}

static void s_frame_u64(lgsp_client_t *self, uint64_t v, bool more)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRIu64, v);
    s_frame(self, buf, (size_t) n, more);
}

static void s_command(lgsp_client_t *self, const char *cmd, bool more)
{
    s_frame(self, LGSP_PROTO_SIGNATURE, 5, true);
    s_frame_str(self, cmd, more);
}

/* ---- the socket and the session --------------------------------------- */

static void s_close_socket(lgsp_client_t *self, int linger)
{
    if (!self->sock)
        return;
    zmq_socket_monitor(self->sock, NULL, 0);
    if (self->mon) {
        int zero = 0;
        zmq_setsockopt(self->mon, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(self->mon);
        self->mon = NULL;
    }
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(self->sock);
    self->sock = NULL;
}

/* Opens a new DEALER (and its monitor) and says HELLO. On failure the
 * client stays without a socket and tries again later. */
static int s_open_session(lgsp_client_t *self)
{
    s_close_socket(self, 0);
    self->state = ST_DOWN;
    self->reconnect_at = s_now_ms() + RECONNECT_MAX_MS;
    void *sock = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!sock)
        return s_fail(self, "zmq_socket: %s", zmq_strerror(errno));
    int linger = SOCKET_LINGER_MS, hwm = SOCKET_HWM, sndtimeo = SEND_TIMEOUT_MS, ivl = 100;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (self->curve
        && (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, self->server_key, 40)
            || zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, self->public_key, 40)
            || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, self->secret_key, 40))) {
        int e = errno;
        zmq_close(sock);
        return s_fail(self, "cannot set the Curve keys: %s", zmq_strerror(e));
    }
    char addr[96];
    snprintf(addr, sizeof addr, "inproc://lgsp-client-monitor-%p-%u", (void *) self, ++self->sock_seq);
    void *mon = NULL;
    if (zmq_socket_monitor(sock, addr, ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED
                                       | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                       | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                       | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        mon = zmq_socket(self->ctx, ZMQ_PAIR);
        if (mon && zmq_connect(mon, addr) != 0) {
            zmq_close(mon);
            mon = NULL;
        }
    }
    if (zmq_connect(sock, self->endpoint) != 0) {
        int e = errno;
        zmq_socket_monitor(sock, NULL, 0);
        if (mon)
            zmq_close(mon);
        zmq_close(sock);
        return s_fail(self, "cannot connect to %s: %s", self->endpoint, zmq_strerror(e));
    }
    self->sock = sock;
    self->mon = mon;
    self->state = ST_HELLO_SENT;
    self->state_since = s_now_ms();
    s_command(self, LGSP_CMD_HELLO, true);
    s_frame_str(self, self->name, true);
    s_frame_str(self, "lgsp-c/" LGSP_CLIENT_VERSION, false);
    return 0;
}

/* Marks the session gone. The socket is closed and a new one opened by the
 * timers in s_pump (never from inside the dispatch of a received message). */
static void s_session_lost(lgsp_client_t *self, const char *why)
{
    if (self->state == ST_DOWN)
        return;
    int64_t now = s_now_ms();
    s_debug(self, "session lost (%s)", why);
    if (!self->down_since)
        self->down_since = now;
    if (self->state == ST_READY) {
        self->reconnect_delay = 0;
    } else {
        /* The HELLO did not succeed: back off a little, doubling. */
        self->reconnect_delay = self->reconnect_delay ? self->reconnect_delay * 2 : RECONNECT_MIN_MS;
        if (self->reconnect_delay > RECONNECT_MAX_MS)
            self->reconnect_delay = RECONNECT_MAX_MS;
    }
    self->state = ST_DOWN;
    self->state_since = now;
    self->reconnect_at = now + self->reconnect_delay;
}

/* ---- publishing -------------------------------------------------------- */

static ptopic_t *s_ptopic(lgsp_client_t *self, const char *name)
{
    if (self->last_ptopic && strcmp(self->last_ptopic->name, name) == 0)
        return self->last_ptopic;
    for (ptopic_t *t = self->ptopics; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return self->last_ptopic = t;
    size_t n = strlen(name);
    ptopic_t *t = calloc(1, sizeof *t + n + 1);
    if (!t)
        return NULL;
    memcpy(t->name, name, n + 1);
    t->next = self->ptopics;
    self->ptopics = t;
    return self->last_ptopic = t;
}

static bool s_hash_grow(lgsp_client_t *self)
{
    size_t cap = self->nbuckets ? self->nbuckets * 2 : 1024;
    pending_t **b = calloc(cap, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < self->nbuckets; i++) {
        for (pending_t *p = self->buckets[i], *nx; p; p = nx) {
            nx = p->hnext;
            p->hnext = b[p->hash & (cap - 1)];
            b[p->hash & (cap - 1)] = p;
        }
    }
    free(self->buckets);
    self->buckets = b;
    self->nbuckets = cap;
    return true;
}

/* A sent message (answers only come for those) of this topic and id. */
static pending_t *s_pending_find(lgsp_client_t *self, zmq_msg_t *topic, const void *id, size_t len)
{
    if (!self->nbuckets)
        return NULL;
    uint64_t h = s_hash(id, len);
    size_t tlen = zmq_msg_size(topic);
    for (pending_t *p = self->buckets[h & (self->nbuckets - 1)]; p; p = p->hnext)
        if (p->hash == h && p->id_len == len && p->state == PEND_SENT && memcmp(p->data, id, len) == 0
            && strlen(p->topic->name) == tlen && memcmp(p->topic->name, zmq_msg_data(topic), tlen) == 0)
            return p;
    return NULL;
}

/* Frees an answered message (it is not in a send queue). */
static void s_pending_free(lgsp_client_t *self, pending_t *p)
{
    pending_t **pp = &self->buckets[p->hash & (self->nbuckets - 1)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    if (p->prev)
        p->prev->next = p->next;
    else
        self->phead = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        self->ptail = p->prev;
    if (p->state == PEND_SENT)
        self->in_flight--;
    else if (p->state == PEND_RETRY)
        self->retrying--;
    self->npending--;
    free(p);
}

static void s_enqueue(ptopic_t *t, pending_t *p)
{
    p->state = PEND_QUEUED;
    p->qnext = NULL;
    if (t->qtail)
        t->qtail->qnext = p;
    else
        t->qhead = p;
    t->qtail = p;
    t->qcount++;
    t->qbytes += p->payload_len;
}

/* Rebuilds the send queues from the list in publish order. all: also
 * messages in flight (a new session) and retries not yet due. */
static void s_requeue(lgsp_client_t *self, bool all)
{
    int64_t now = s_now_ms();
    for (ptopic_t *t = self->ptopics; t; t = t->next) {
        t->qhead = t->qtail = NULL;
        t->qcount = t->qbytes = 0;
    }
    self->queued = self->in_flight = self->retrying = 0;
    self->next_retry_at = INT64_MAX;
    for (pending_t *p = self->phead; p; p = p->next) {
        bool requeue = p->state == PEND_QUEUED || all || (p->state == PEND_RETRY && p->retry_at <= now);
        if (requeue) {
            s_enqueue(p->topic, p);
            self->queued++;
        } else if (p->state == PEND_SENT) {
            self->in_flight++;
        } else {
            self->retrying++;
            if (p->retry_at < self->next_retry_at)
                self->next_retry_at = p->retry_at;
        }
    }
}

/* Sends a topic's queued publishes within the window. force: also partial
 * batches while others are in flight. */
static void s_send_topic(lgsp_client_t *self, ptopic_t *t, bool force)
{
    while (t->qcount && self->in_flight < self->pub_window && self->state == ST_READY) {
        if (!force && self->in_flight && t->qcount < self->batch_max && t->qbytes < BATCH_MAX_BYTES)
            break;
        size_t room = self->pub_window - self->in_flight, n = 0, bytes = 0;
        pending_t *end = t->qhead;
        while (end && n < self->batch_max && n < room
               && (n == 0 || bytes + end->payload_len <= BATCH_MAX_BYTES)) {
            bytes += end->payload_len;
            n++;
            end = end->qnext;
        }
        s_command(self, LGSP_CMD_PUB, true);
        s_frame_str(self, t->name, true);
        size_t i = 0;
        for (pending_t *p = t->qhead; p != end; p = p->qnext, i++) {
            const char *key = p->data + p->id_len + 1;
            const char *headers = key + p->key_len;
            s_frame(self, p->data, p->id_len, true);
            s_frame(self, key, p->key_len, true);
            s_frame(self, headers, p->headers_len, true);
            s_frame(self, headers + p->headers_len, p->payload_len, i + 1 < n);
        }
        if (self->state != ST_READY)
            return;     /* the send failed: everything is re-sent in the next session */
        for (pending_t *p = t->qhead; p != end; p = p->qnext)
            p->state = PEND_SENT;
        t->qhead = end;
        if (!end)
            t->qtail = NULL;
        t->qcount -= n;
        t->qbytes -= bytes;
        self->queued -= n;
        self->in_flight += n;
    }
}

static void s_send_pubs(lgsp_client_t *self, bool force)
{
    if (self->state != ST_READY || !self->queued)
        return;
    for (ptopic_t *t = self->ptopics; t && self->state == ST_READY; t = t->next)
        s_send_topic(self, t, force);
}

static void s_report(lgsp_client_t *self, pending_t *p, int code, uint64_t offset, bool dup,
                     const char *text)
{
    if (code)
        self->failed++;
    if (!self->pub_cb)
        return;
    self->in_callback = true;
    self->pub_cb(self->pub_arg, p->topic->name, p->data, code, offset, dup, text);
    self->in_callback = false;
}

static void s_on_pubok(lgsp_client_t *self, zmq_msg_t *f, size_t nf)
{
    if (nf < 6 || (nf - 3) % 3) {
        s_debug(self, "malformed PUBOK (%zu frames) ignored", nf);
        return;
    }
    for (size_t i = 3; i + 2 < nf; i += 3) {
        uint64_t offset;
        const char *status = zmq_msg_data(&f[i + 2]);
        size_t slen = zmq_msg_size(&f[i + 2]);
        bool is_new = slen == 3 && memcmp(status, "new", 3) == 0;
        bool is_dup = slen == 3 && memcmp(status, "dup", 3) == 0;
        pending_t *p = s_pending_find(self, &f[2], zmq_msg_data(&f[i]), zmq_msg_size(&f[i]));
        if (!p) {
            s_debug(self, "PUBOK for an unknown id ignored");
            continue;
        }
        if (!s_parse_u64(zmq_msg_data(&f[i + 1]), zmq_msg_size(&f[i + 1]), &offset) || (!is_new && !is_dup)) {
            s_debug(self, "malformed PUBOK entry ignored");
            continue;
        }
        s_report(self, p, 0, offset, is_dup, NULL);
        s_pending_free(self, p);
    }
}

static void s_on_puberr(lgsp_client_t *self, zmq_msg_t *f, size_t nf)
{
    uint64_t code;
    if (nf < 6 || !s_parse_u64(zmq_msg_data(&f[3]), zmq_msg_size(&f[3]), &code) || code > 999) {
        s_debug(self, "malformed PUBERR ignored");
        return;
    }
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int) zmq_msg_size(&f[4]), (const char *) zmq_msg_data(&f[4]));
    int64_t now = s_now_ms();
    bool reconnect = false;
    for (size_t i = 5; i < nf; i++) {
        pending_t *p = s_pending_find(self, &f[2], zmq_msg_data(&f[i]), zmq_msg_size(&f[i]));
        if (!p) {
            s_debug(self, "PUBERR for an unknown id ignored");
            continue;
        }
        if (code == LGSP_TOO_MANY || code == LGSP_UNAVAILABLE) {
            /* 429: try again after a pause; 503: the broker is going away,
             * the next session re-sends it (retry_at far away). */
            unsigned backoff = RETRY_MIN_MS << (p->retries < 5 ? p->retries : 5);
            if (backoff > RETRY_MAX_MS)
                backoff = RETRY_MAX_MS;
            p->retries++;
            p->state = PEND_RETRY;
            p->retry_at = code == LGSP_TOO_MANY ? now + backoff : INT64_MAX;
            self->in_flight--;
            self->retrying++;
            if (p->retry_at < self->next_retry_at)
                self->next_retry_at = p->retry_at;
            reconnect |= code == LGSP_UNAVAILABLE;
            continue;
        }
        s_report(self, p, (int) code, 0, false, text);
        s_pending_free(self, p);
    }
    if (reconnect && self->state == ST_READY) {
        s_session_lost(self, "broker shutting down (503)");
        self->reconnect_at = now + 500;
    }
}

/* ---- consuming --------------------------------------------------------- */

static sub_t *s_sub_find(lgsp_client_t *self, const char *topic, size_t tlen, const char *group, size_t glen)
{
    for (sub_t *s = self->subs; s; s = s->next)
        if (strlen(s->topic) == tlen && strlen(s->group) == glen && memcmp(s->topic, topic, tlen) == 0
            && memcmp(s->group, group, glen) == 0)
            return s;
    return NULL;
}

static void s_send_sub(lgsp_client_t *self, sub_t *s)
{
    s_command(self, LGSP_CMD_SUB, true);
    s_frame_str(self, s->topic, true);
    s_frame_str(self, s->group, true);
    s_frame_u64(self, s->credit, s->start != NULL);
    if (s->start)
        s_frame_str(self, s->start, false);
}

/* Sends the subscription's pending ACK and NACK, and the owed credit when
 * a quarter of it has been used up (or whenever force). */
static void s_flush_sub(lgsp_client_t *self, sub_t *s, bool force_credit)
{
    if (self->state != ST_READY)
        return;
    if (s->n_acks) {
        s_command(self, LGSP_CMD_ACK, true);
        s_frame_str(self, s->topic, true);
        s_frame_str(self, s->group, true);
        for (size_t i = 0; i < s->n_acks; i++)
            s_frame_u64(self, s->acks[i], i + 1 < s->n_acks);
        s->n_acks = 0;
    }
    if (s->n_nacks) {
        s_command(self, s->nack_dead ? LGSP_CMD_REJECT : LGSP_CMD_NACK, true);
        s_frame_str(self, s->topic, true);
        s_frame_str(self, s->group, true);
        s_frame_str(self, s->nack_reason ? s->nack_reason : "", true);
        for (size_t i = 0; i < s->n_nacks; i++)
            s_frame_u64(self, s->nacks[i], i + 1 < s->n_nacks);
        s->n_nacks = 0;
    }
    s->ack_since = 0;
    uint64_t quarter = s->credit / 4 ? s->credit / 4 : 1;
    if (s->active && s->owed && (force_credit || s->owed >= quarter)) {
        s_command(self, LGSP_CMD_CREDIT, true);
        s_frame_str(self, s->topic, true);
        s_frame_str(self, s->group, true);
        s_frame_u64(self, s->owed, false);
        s->owed = 0;
    }
}

static void s_flush_acks(lgsp_client_t *self, bool force_credit)
{
    for (sub_t *s = self->subs; s; s = s->next)
        if (s->n_acks || s->n_nacks || (force_credit && s->owed))
            s_flush_sub(self, s, force_credit);
}

static void s_sub_free(sub_t *s)
{
    s_set_clear(&s->inhand);
    free(s->topic);
    free(s->group);
    free(s->start);
    free(s->acks);
    free(s->nacks);
    free(s->nack_reason);
    free(s);
}

static void s_sub_remove(lgsp_client_t *self, sub_t *s)
{
    for (sub_t **pp = &self->subs; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (self->last_sub == s)
        self->last_sub = NULL;
    if (self->waiting_sub == s)
        self->waiting_sub = NULL;
    s_sub_free(s);
}

/* Drops queued deliveries (all, or those of one topic+group). The batch at
 * the head may be lent to the caller: it is emptied, not freed. */
static void s_drop_deliveries(lgsp_client_t *self, const char *topic, const char *group)
{
    dbatch_t **pp = &self->dhead;
    self->dtail = NULL;
    while (*pp) {
        dbatch_t *b = *pp;
        bool match = !topic || (strcmp(b->d[0].topic, topic) == 0 && strcmp(b->d[0].group, group) == 0);
        if (match && b->taken == 0) {
            *pp = b->next;
            free(b);
            continue;
        }
        if (match)
            b->taken = b->n;
        self->dtail = b;
        pp = &b->next;
    }
}

static void s_on_msg(lgsp_client_t *self, zmq_msg_t *f, size_t nf)
{
    if (nf < 4 + LGSP_MSG_FRAMES_PER_MSG || (nf - 4) % LGSP_MSG_FRAMES_PER_MSG) {
        s_debug(self, "malformed MSG (%zu frames) ignored", nf);
        return;
    }
    size_t tlen = zmq_msg_size(&f[2]), glen = zmq_msg_size(&f[3]);
    sub_t *s = s_sub_find(self, zmq_msg_data(&f[2]), tlen, zmq_msg_data(&f[3]), glen);
    if (!s) {
        s_debug(self, "MSG for a topic/group we are not subscribed to ignored");
        return;
    }
    size_t n = (nf - 4) / LGSP_MSG_FRAMES_PER_MSG;
    size_t bytes = tlen + 1 + glen + 1;
    for (size_t i = 4; i < nf; i += LGSP_MSG_FRAMES_PER_MSG)
        for (size_t k = 3; k < LGSP_MSG_FRAMES_PER_MSG; k++)
            bytes += zmq_msg_size(&f[i + k]) + 1;
    dbatch_t *b = malloc(sizeof *b + n * sizeof(lgsp_delivery_t) + bytes);
    if (!b) {
        s_debug(self, "out of memory: MSG dropped (redelivered later)");
        return;
    }
    b->next = NULL;
    b->taken = 0;
    b->d = (lgsp_delivery_t *) (b + 1);
    char *w = (char *) (b->d + n);
    char *topic = w;
    memcpy(w, zmq_msg_data(&f[2]), tlen);
    w[tlen] = 0;
    w += tlen + 1;
    char *group = w;
    memcpy(w, zmq_msg_data(&f[3]), glen);
    w[glen] = 0;
    w += glen + 1;
    size_t m = 0;
    for (size_t i = 4; i < nf; i += LGSP_MSG_FRAMES_PER_MSG) {
        zmq_msg_t *e = &f[i];
        lgsp_delivery_t *d = &b->d[m];
        uint64_t attempt;
        if (!s_parse_u64(zmq_msg_data(&e[0]), zmq_msg_size(&e[0]), &d->offset)
            || !s_parse_u64(zmq_msg_data(&e[1]), zmq_msg_size(&e[1]), &attempt)
            || !s_parse_u64(zmq_msg_data(&e[2]), zmq_msg_size(&e[2]), &d->time_us)
            || attempt > UINT_MAX) {
            s_debug(self, "malformed delivery in MSG ignored");
            continue;
        }
        d->attempt = (unsigned) attempt;
        d->topic = topic;
        d->group = group;
        const void *parts[4];
        size_t lens[4];
        for (int k = 0; k < 4; k++) {
            lens[k] = zmq_msg_size(&e[3 + k]);
            memcpy(w, zmq_msg_data(&e[3 + k]), lens[k]);
            w[lens[k]] = 0;       /* every part is also NUL-terminated */
            parts[k] = w;
            w += lens[k] + 1;
        }
        d->id = parts[0];
        d->key = parts[1];
        d->key_len = lens[1];
        d->headers = parts[2];
        d->headers_len = lens[2];
        d->payload = parts[3];
        d->payload_len = lens[3];
        if (!s_set_add(&s->inhand, d->offset))
            s_debug(self, "out of memory counting credit");
        m++;
    }
    if (!m) {
        free(b);
        return;
    }
    b->n = m;
    if (self->dtail)
        self->dtail->next = b;
    else
        self->dhead = b;
    self->dtail = b;
}

/* ---- receiving --------------------------------------------------------- */

static bool s_is(zmq_msg_t *f, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(f) == n && memcmp(zmq_msg_data(f), s, n) == 0;
}

static void s_on_welcome(lgsp_client_t *self, zmq_msg_t *f, size_t nf)
{
    uint64_t hb, window, maxbytes;
    if (self->state != ST_HELLO_SENT) {
        s_debug(self, "unexpected WELCOME ignored");
        return;
    }
    if (nf < 6 || !s_parse_u64(zmq_msg_data(&f[3]), zmq_msg_size(&f[3]), &hb)
        || !s_parse_u64(zmq_msg_data(&f[4]), zmq_msg_size(&f[4]), &window)
        || !s_parse_u64(zmq_msg_data(&f[5]), zmq_msg_size(&f[5]), &maxbytes)
        || hb == 0 || hb > 3600000 || window == 0) {
        s_debug(self, "malformed WELCOME ignored");
        return;
    }
    free(self->broker_version);
    self->broker_version = strndup(zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
    self->heartbeat_ms = (unsigned) hb;
    self->pub_window = window > UINT_MAX ? UINT_MAX : (unsigned) window;
    self->max_message_bytes = maxbytes;
    self->batch_max = self->pub_window / 4;
    if (self->batch_max > BATCH_MAX_MSGS)
        self->batch_max = BATCH_MAX_MSGS;
    if (self->batch_max == 0)
        self->batch_max = 1;
    self->state = ST_READY;
    self->state_since = s_now_ms();
    self->down_since = 0;
    self->reconnect_delay = 0;
    self->auth_failed = false;
    self->proto_failed = false;
    self->hello_error[0] = 0;
    self->sessions++;
    s_debug(self, "session %u: broker %s, heartbeat %u ms, window %u", self->sessions,
            self->broker_version ? self->broker_version : "?", self->heartbeat_ms, self->pub_window);
    if (self->sessions > 1) {
        /* A new session: nothing of the old one is in flight any more. */
        s_drop_deliveries(self, NULL, NULL);
        for (sub_t *s = self->subs; s; s = s->next) {
            s->active = false;
            s->owed = 0;
            s_set_clear(&s->inhand);
        }
        s_requeue(self, true);
    }
    for (sub_t *s = self->subs; s; s = s->next)
        s_send_sub(self, s);
    s_flush_acks(self, false);
    s_send_pubs(self, true);
}

static void s_on_error(lgsp_client_t *self, zmq_msg_t *f, size_t nf)
{
    uint64_t code;
    if (nf < 4 || !s_parse_u64(zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), &code) || code > 999) {
        s_debug(self, "malformed ERROR ignored");
        return;
    }
    char text[256];
    snprintf(text, sizeof text, "%" PRIu64 " %.*s", code, (int) zmq_msg_size(&f[3]),
             (const char *) zmq_msg_data(&f[3]));
    s_debug(self, "ERROR %s", text);
    if (code == LGSP_NO_SESSION) {
        s_session_lost(self, "the broker does not know our session (401)");
        return;
    }
    if (self->state == ST_HELLO_SENT) {
        snprintf(self->hello_error, sizeof self->hello_error, "%s", text);
        return;
    }
    /* context: an ADMIN request id, or topic and group. */
    if (self->wait && self->wait->reqid && !self->wait->done) {
        for (size_t i = 4; i < nf; i++) {
            if (s_is(&f[i], self->wait->reqid)) {
                self->wait->done = true;
                self->wait->code = (int) code;
                snprintf(self->wait->text, sizeof self->wait->text, "%s", text);
                return;
            }
        }
    }
    sub_t *s = NULL;
    if (nf >= 6)
        s = s_sub_find(self, zmq_msg_data(&f[4]), zmq_msg_size(&f[4]), zmq_msg_data(&f[5]), zmq_msg_size(&f[5]));
    else if (nf == 4 && self->waiting_sub && !self->waiting_sub->active)
        s = self->waiting_sub;     /* a SUB too malformed to name its topic */
    if (s && code != LGSP_NOT_FOUND && !s->active) {
        s->failed = true;
        snprintf(s->fail_text, sizeof s->fail_text, "%s", text);
        if (s != self->waiting_sub) {
            /* A re-subscription after a reconnect was refused. */
            snprintf(self->error, sizeof self->error, "subscription to %s/%s refused: %s", s->topic, s->group,
                     text);
            s_sub_remove(self, s);
        }
        return;
    }
    snprintf(self->error, sizeof self->error, "broker: %s", text);
}

static void s_dispatch(lgsp_client_t *self, zmq_msg_t *f, size_t nf)
{
    if (nf < 2 || !s_is(&f[0], LGSP_PROTO_SIGNATURE)) {
        s_debug(self, "message without the LGSP1 signature ignored");
        return;
    }
    zmq_msg_t *cmd = &f[1];
    if (s_is(cmd, LGSP_CMD_HEARTBEAT))
        return;
    if (s_is(cmd, LGSP_CMD_WELCOME)) {
        s_on_welcome(self, f, nf);
        return;
    }
    if (s_is(cmd, LGSP_CMD_ERROR)) {
        s_on_error(self, f, nf);
        return;
    }
    if (self->state != ST_READY) {
        s_debug(self, "message before WELCOME ignored");
        return;
    }
    if (s_is(cmd, LGSP_CMD_MSG)) {
        s_on_msg(self, f, nf);
    } else if (s_is(cmd, LGSP_CMD_PUBOK)) {
        s_on_pubok(self, f, nf);
    } else if (s_is(cmd, LGSP_CMD_PUBERR)) {
        s_on_puberr(self, f, nf);
    } else if (s_is(cmd, LGSP_CMD_SUBOK) && nf >= 4) {
        sub_t *s = s_sub_find(self, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), zmq_msg_data(&f[3]),
                              zmq_msg_size(&f[3]));
        if (s)
            s->active = true;
        else
            s_debug(self, "SUBOK for an unknown subscription ignored");
    } else if (s_is(cmd, LGSP_CMD_UNSUBOK) && nf >= 4) {
        const sub_t *s = self->unsub_waiting;
        if (s && s_is(&f[2], s->topic) && s_is(&f[3], s->group))
            self->unsub_done = true;
    } else if (s_is(cmd, LGSP_CMD_ADMINOK) && nf >= 4) {
        wait_t *w = self->wait;
        if (w && w->reqid && !w->done && s_is(&f[2], w->reqid)) {
            w->json = strndup(zmq_msg_data(&f[3]), zmq_msg_size(&f[3]));
            w->done = true;
            w->code = 0;
        } else {
            s_debug(self, "ADMINOK for an unknown request ignored");
        }
    } else {
        s_debug(self, "unknown or malformed command %.*s ignored", (int) zmq_msg_size(cmd),
                (const char *) zmq_msg_data(cmd));
    }
}

/* Reads one message without waiting into self->frames. Returns its frame
 * count, 0 if there was none, -1 if one was read but is not to be
 * dispatched (too many frames, out of memory). */
static long s_read_message(lgsp_client_t *self)
{
    size_t nf = 0;
    bool keep = true;
    for (;;) {
        if (keep && nf == self->cap_frames) {
            size_t cap = self->cap_frames ? self->cap_frames * 2 : 64;
            zmq_msg_t *fr = cap <= MAX_RECV_FRAMES ? realloc(self->frames, cap * sizeof *fr) : NULL;
            if (fr) {
                self->frames = fr;
                self->cap_frames = cap;
            } else {
                keep = false;
            }
        }
        zmq_msg_t scratch, *m = keep ? &self->frames[nf] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, self->sock, nf == 0 && keep ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        bool more = zmq_msg_more(m);
        if (keep)
            nf++;
        else
            zmq_msg_close(m);
        if (!more)
            break;
    }
    if (!keep) {
        s_debug(self, "message of too many frames ignored");
        for (size_t i = 0; i < nf; i++)
            zmq_msg_close(&self->frames[i]);
        return -1;
    }
    return (long) nf;
}

static void s_read_monitor(lgsp_client_t *self)
{
    while (self->mon) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, self->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *) zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        while (more) {
            zmq_msg_init(&addr);
            if (zmq_msg_recv(&addr, self->mon, 0) < 0) {
                zmq_msg_close(&addr);
                break;
            }
            more = zmq_msg_more(&addr);
            zmq_msg_close(&addr);
        }
        switch (event) {
        case ZMQ_EVENT_CONNECTED:
            s_debug(self, "connected to %s", self->endpoint);
            break;
        case ZMQ_EVENT_DISCONNECTED:
            /* A new connection would get a new routing id: the session is over. */
            s_session_lost(self, "disconnected");
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            if (self->curve) {
                self->auth_failed = true;
                s_debug(self, "the broker refused our Curve key (event %u, status %u)", event, value);
                s_session_lost(self, "Curve handshake refused");
            }
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            /* Typically plain against a Curve broker, or the reverse. */
            self->proto_failed = true;
            s_debug(self, "ZMTP handshake failed (protocol error %u)", value);
            break;
        default:
            break;
        }
    }
}

static void s_timers(lgsp_client_t *self)
{
    int64_t now = s_now_ms();
    if (self->state == ST_DOWN && self->sock)
        s_close_socket(self, 0);
    if (self->state == ST_DOWN && now >= self->reconnect_at) {
        if (s_open_session(self) != 0)
            s_debug(self, "%s", self->error);
    } else if (self->state == ST_HELLO_SENT && now - self->state_since >= HELLO_RETRY_MS) {
        s_debug(self, "no WELCOME after %d ms: new socket, HELLO again", HELLO_RETRY_MS);
        s_open_session(self);
    } else if (self->state == ST_READY) {
        if (now - self->last_recv > (int64_t) LGSP_LIVENESS * self->heartbeat_ms) {
            s_session_lost(self, "heartbeat silence");
            s_open_session(self);
            return;
        }
        if (self->retrying && now >= self->next_retry_at)
            s_requeue(self, false);
        for (sub_t *s = self->subs; s; s = s->next)
            if (s->ack_since && now - s->ack_since >= ACK_DELAY_MS)
                s_flush_sub(self, s, false);
        s_send_pubs(self, false);
        if (self->state == ST_READY && now - self->last_send >= (int64_t) self->heartbeat_ms)
            s_command(self, LGSP_CMD_HEARTBEAT, false);
    }
}

/* When the timers next need to run (absolute ms). */
static int64_t s_next_timer(lgsp_client_t *self)
{
    int64_t t = INT64_MAX;
    switch (self->state) {
    case ST_DOWN:
        return self->reconnect_at;
    case ST_HELLO_SENT:
        return self->state_since + HELLO_RETRY_MS;
    case ST_READY:
        t = self->last_send + self->heartbeat_ms;
        if (self->last_recv + (int64_t) LGSP_LIVENESS * self->heartbeat_ms + 1 < t)
            t = self->last_recv + (int64_t) LGSP_LIVENESS * self->heartbeat_ms + 1;
        if (self->retrying && self->next_retry_at < t)
            t = self->next_retry_at;
        for (sub_t *s = self->subs; s; s = s->next)
            if (s->ack_since && s->ack_since + ACK_DELAY_MS < t)
                t = s->ack_since + ACK_DELAY_MS;
        break;
    }
    return t;
}

/* Dispatches everything readable now: the broker's messages first, then
 * the monitor's events, so that what the broker sent before a
 * disconnection is still taken into account. */
static void s_drain(lgsp_client_t *self)
{
    while (self->sock && self->state != ST_DOWN) {
        long nf = s_read_message(self);
        if (nf == 0)
            break;
        self->last_recv = s_now_ms();
        if (nf > 0) {
            s_dispatch(self, self->frames, (size_t) nf);
            for (long i = 0; i < nf; i++)
                zmq_msg_close(&self->frames[i]);
        }
    }
    s_read_monitor(self);
}

/* Reads what arrived, runs the timers, waits up to timeout_ms (-1: no
 * limit) for the socket, and dispatches everything readable. Reading comes
 * before the timers so that a caller who came back after a long pause does
 * not take the broker's queued heartbeats for silence. Returns -1 if
 * interrupted by a signal, else 0. */
static int s_pump(lgsp_client_t *self, int timeout_ms)
{
    int64_t now = s_now_ms();
    self->next_drain = now + DRAIN_EVERY_MS;
    s_drain(self);
    s_timers(self);
    int64_t wake = s_next_timer(self);
    int64_t limit = timeout_ms < 0 ? INT64_MAX : now + timeout_ms;
    if (wake > limit)
        wake = limit;
    long wait = wake == INT64_MAX ? -1 : (wake <= now ? 0 : (long) (wake - now));
    if (wait > 3600000)
        wait = 3600000;
    zmq_pollitem_t items[2];
    int n = 0;
    if (self->sock)
        items[n++] = (zmq_pollitem_t) { .socket = self->sock, .events = ZMQ_POLLIN };
    if (self->mon)
        items[n++] = (zmq_pollitem_t) { .socket = self->mon, .events = ZMQ_POLLIN };
    if (n == 0 && wait != 0) {
        struct timespec ts = { .tv_sec = (wait < 0 ? 1000 : wait) / 1000,
                               .tv_nsec = ((wait < 0 ? 1000 : wait) % 1000) * 1000000L };
        if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
            return -1;
    } else if (n > 0) {
        int rc = zmq_poll(items, n, wait);
        if (rc < 0 && errno == EINTR)
            return -1;
        if (rc < 0)
            s_debug(self, "zmq_poll: %s", zmq_strerror(errno));
        if (rc > 0)
            s_drain(self);
    }
    s_timers(self);
    return 0;
}

/* ---- public: lifetime -------------------------------------------------- */

static int s_read_opts(lgsp_client_t *self, const lgsp_client_options_t *o)
{
    self->endpoint = strdup(o->endpoint && *o->endpoint ? o->endpoint : "tcp://127.0.0.1:7600");
    self->name = strdup(o->name && *o->name ? o->name : "lgsp-client");
    if (!self->endpoint || !self->name)
        return s_fail(self, "out of memory");
    self->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    if (!o->server_key || !*o->server_key)
        return 0;
    if (!s_z85_key_ok(o->server_key))
        return s_fail(self, "the server key is not a 40-character Z85 Curve key");
    if (!s_z85_key_ok(o->secret_key))
        return s_fail(self, "Curve needs our secret key (40-character Z85)");
    if (o->public_key && *o->public_key) {
        if (!s_z85_key_ok(o->public_key))
            return s_fail(self, "our public key is not a 40-character Z85 Curve key");
        memcpy(self->public_key, o->public_key, 41);
    } else if (zmq_curve_public(self->public_key, o->secret_key) != 0) {
        return s_fail(self, "cannot derive our public key: %s", zmq_strerror(errno));
    }
    memcpy(self->server_key, o->server_key, 41);
    memcpy(self->secret_key, o->secret_key, 41);
    self->curve = true;
    return 0;
}

lgsp_client_t *lgsp_client_new(const lgsp_client_options_t *opts, char *err, size_t errlen)
{
    lgsp_client_options_t none = { 0 };
    lgsp_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *dbg = getenv("LGSP_CLIENT_DEBUG");
    self->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
    self->next_retry_at = INT64_MAX;
    if (s_read_opts(self, opts ? opts : &none) != 0)
        goto fail;
    if (self->curve && !zmq_has("curve")) {
        s_fail(self, "this libzmq was built without Curve support");
        goto fail;
    }
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        s_fail(self, "zmq_ctx_new: %s", zmq_strerror(errno));
        goto fail;
    }
    int64_t start = s_now_ms(), deadline = start + self->timeout_ms;
    self->last_recv = self->last_send = start;
    if (s_open_session(self) != 0)
        goto fail;
    while (self->state != ST_READY) {
        int64_t now = s_now_ms();
        if (self->auth_failed) {
            s_fail(self, "the broker at %s refused our Curve key (is our public key %s in its clients list,"
                   " and is the server key the broker's?)", self->endpoint, self->public_key);
            goto fail;
        }
        if (self->proto_failed) {
            /* Definitive: one side speaks Curve and the other does not. */
            s_fail(self, "the ZMTP handshake with %s failed: %s", self->endpoint,
                   self->curve ? "does the broker run Curve?" : "the broker requires Curve (--server-key, --key)");
            goto fail;
        }
        if (self->hello_error[0]) {
            s_fail(self, "the broker at %s refused HELLO: %s", self->endpoint, self->hello_error);
            goto fail;
        }
        if (now >= deadline) {
            s_fail(self, "no answer from %s within %d ms (%s)", self->endpoint, self->timeout_ms,
                   self->curve ? "broker down, or Curve key refused" : "broker down?");
            goto fail;
        }
        if (s_pump(self, (int) (deadline - now)) < 0) {
            s_fail(self, "interrupted while connecting to %s", self->endpoint);
            goto fail;
        }
    }
    return self;
fail:
    if (err && errlen)
        snprintf(err, errlen, "%s", self->error);
    lgsp_client_destroy(&self);
    return NULL;
}

void lgsp_client_destroy(lgsp_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lgsp_client_t *self = *self_p;
    *self_p = NULL;
    if (self->sock && self->state == ST_READY) {
        s_flush_acks(self, false);
        s_command(self, LGSP_CMD_BYE, false);
    }
    /* Linger only to let the final ACK/BYE out of a live session. */
    s_close_socket(self, self->state == ST_READY ? SOCKET_LINGER_MS : 0);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    for (pending_t *p = self->phead, *nx; p; p = nx) {
        nx = p->next;
        free(p);
    }
    free(self->buckets);
    for (ptopic_t *t = self->ptopics, *nx; t; t = nx) {
        nx = t->next;
        free(t);
    }
    for (sub_t *s = self->subs, *nx; s; s = nx) {
        nx = s->next;
        s_sub_free(s);
    }
    for (dbatch_t *b = self->dhead, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    free(self->borrowed);
    free(self->frames);
    free(self->broker_version);
    free(self->endpoint);
    free(self->name);
    free(self);
}

const char *lgsp_client_error(const lgsp_client_t *self)
{
    return self ? self->error : "no client";
}

unsigned lgsp_client_pub_window(const lgsp_client_t *self)
{
    return self->pub_window;
}

uint64_t lgsp_client_max_message_bytes(const lgsp_client_t *self)
{
    return self->max_message_bytes;
}

/* Why a wait for the broker ended without an answer. */
static int s_fail_gone(lgsp_client_t *self, const char *what, int waited_ms)
{
    if (self->auth_failed)
        return s_fail(self, "%s: the broker at %s refused our Curve key", what, self->endpoint);
    if (self->state != ST_READY)
        return s_fail(self, "%s: no session with %s for %d ms (broker down?)", what, self->endpoint, waited_ms);
    return s_fail(self, "%s: no answer from %s within %d ms", what, self->endpoint, waited_ms);
}

#define GUARD_CALLBACK(self)                                                            \
    do {                                                                                \
        if ((self)->in_callback)                                                        \
            return s_fail((self), "lgsp client called from its own publish callback");  \
    } while (0)

/* ---- public: publishing ------------------------------------------------ */

void lgsp_client_on_publish(lgsp_client_t *self, lgsp_publish_cb *cb, void *arg)
{
    self->pub_cb = cb;
    self->pub_arg = arg;
}

int lgsp_client_publish(lgsp_client_t *self, const char *topic, const char *id, const void *key,
                        size_t key_len, const char *headers_json, const void *payload, size_t payload_len)
{
    GUARD_CALLBACK(self);
    char made[33];
    if (!s_name_ok(topic))
        return s_fail(self, "invalid topic name '%.*s' (1-200 of A-Z a-z 0-9 . _ -, not starting with '.')",
                      LGSP_MAX_NAME, topic ? topic : "");
    if (!id) {
        lgsp_make_id(made);
        id = made;
    }
    size_t id_len = strlen(id), headers_len = headers_json ? strlen(headers_json) : 0;
    if (!s_id_ok(id, id_len))
        return s_fail(self, "invalid message id (1-%d printable ASCII characters)", LGSP_MAX_ID);
    if (!key)
        key_len = 0;
    if (key_len > LGSP_MAX_KEY)
        return s_fail(self, "partition key of %zu bytes (at most %d)", key_len, LGSP_MAX_KEY);
    if (headers_len > LGSP_MAX_HEADERS)
        return s_fail(self, "headers of %zu bytes (at most %d)", headers_len, LGSP_MAX_HEADERS);
    if (headers_len && headers_json[0] != '{')
        return s_fail(self, "headers must be a JSON object");
    if (!payload)
        payload_len = 0;
    if (self->max_message_bytes && payload_len > self->max_message_bytes)
        return s_fail(self, "payload of %zu bytes is larger than the broker's max_message_bytes (%" PRIu64 ")",
                      payload_len, self->max_message_bytes);
    ptopic_t *t = s_ptopic(self, topic);
    if (!t)
        return s_fail(self, "out of memory");

    /* Wait for room in the window (the pending count never exceeds it). */
    /* Wait for room in the window (the pending count never exceeds it).
     * A broker that is there but holds our publishes (backpressure) keeps
     * us waiting; one that is gone for timeout_ms makes us give up. */
    int64_t start = s_now_ms();
    while (self->npending >= self->pub_window) {
        s_send_pubs(self, true);
        int64_t now = s_now_ms();
        int64_t heard = self->state == ST_READY ? self->last_recv : self->down_since;
        if (heard < start)
            heard = start;
        if (now - heard >= self->timeout_ms)
            return s_fail_gone(self, "publish", self->timeout_ms);
        if (s_pump(self, (int) (self->timeout_ms - (now - heard))) < 0)
            return s_fail(self, "publish: interrupted by a signal");
    }
    if (self->npending * 2 + 2 > self->nbuckets * 3 && !s_hash_grow(self))
        return s_fail(self, "out of memory");
    pending_t *p = malloc(sizeof *p + id_len + 1 + key_len + headers_len + payload_len);
    if (!p)
        return s_fail(self, "out of memory");
    p->topic = t;
    p->retries = 0;
    p->retry_at = 0;
    p->id_len = id_len;
    p->key_len = key_len;
    p->headers_len = headers_len;
    p->payload_len = payload_len;
    char *w = p->data;
    memcpy(w, id, id_len + 1);
    w += id_len + 1;
    if (key_len)
        memcpy(w, key, key_len);
    w += key_len;
    if (headers_len)
        memcpy(w, headers_json, headers_len);
    w += headers_len;
    if (payload_len)
        memcpy(w, payload, payload_len);
    p->hash = s_hash(id, id_len);
    size_t b = p->hash & (self->nbuckets - 1);
    p->hnext = self->buckets[b];
    self->buckets[b] = p;
    p->next = NULL;
    p->prev = self->ptail;
    if (self->ptail)
        self->ptail->next = p;
    else
        self->phead = p;
    self->ptail = p;
    self->npending++;
    s_enqueue(t, p);
    self->queued++;

    if (self->state == ST_READY)
        s_send_topic(self, t, false);
    /* Take the broker's answers now and then, so that batches keep moving
     * without a system call per message. */
    if (s_now_ms() >= self->next_drain)
        s_pump(self, 0);
    return 0;
}

int lgsp_client_flush(lgsp_client_t *self, int timeout_ms)
{
    GUARD_CALLBACK(self);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : s_now_ms() + timeout_ms;
    s_flush_acks(self, true);
    for (;;) {
        s_send_pubs(self, true);
        if (!self->npending)
            break;
        int64_t now = s_now_ms();
        if (now >= deadline) {
            s_fail_gone(self, "flush", timeout_ms);
            size_t l = strlen(self->error);
            snprintf(self->error + l, sizeof self->error - l, " (%zu messages unanswered)", self->npending);
            return -1;
        }
        if (s_pump(self, deadline == INT64_MAX ? -1 : (int) (deadline - now)) < 0)
            return s_fail(self, "flush: interrupted by a signal (%zu messages unanswered)", self->npending);
    }
    int failed = self->failed;
    self->failed = 0;
    return failed;
}

size_t lgsp_client_unanswered(const lgsp_client_t *self)
{
    return self->npending;
}

/* ---- public: consuming ------------------------------------------------- */

int lgsp_client_subscribe(lgsp_client_t *self, const char *topic, const char *group, unsigned credit,
                          const char *start)
{
    GUARD_CALLBACK(self);
    if (!s_name_ok(topic))
        return s_fail(self, "invalid topic name");
    if (!s_name_ok(group))
        return s_fail(self, "invalid group name");
    if (credit == 0)
        return s_fail(self, "credit must be at least 1");
    if (start && strcmp(start, "earliest") != 0 && strcmp(start, "latest") != 0)
        return s_fail(self, "start must be earliest or latest");
    if (s_sub_find(self, topic, strlen(topic), group, strlen(group)))
        return s_fail(self, "already subscribed to %s/%s", topic, group);
    sub_t *s = calloc(1, sizeof *s);
    if (!s || !(s->topic = strdup(topic)) || !(s->group = strdup(group))
        || (start && !(s->start = strdup(start)))) {
        if (s)
            s_sub_free(s);
        return s_fail(self, "out of memory");
    }
    s->credit = credit;
    s->next = self->subs;
    self->subs = s;
    if (self->state == ST_READY)
        s_send_sub(self, s);          /* otherwise the next WELCOME sends it */
    self->waiting_sub = s;
    int64_t deadline = s_now_ms() + self->timeout_ms;
    int rc = 0;
    while (!s->active && !s->failed) {
        int64_t now = s_now_ms();
        if (now >= deadline) {
            rc = s_fail_gone(self, "subscribe", self->timeout_ms);
            break;
        }
        if (s_pump(self, (int) (deadline - now)) < 0) {
            rc = s_fail(self, "subscribe: interrupted by a signal");
            break;
        }
    }
    self->waiting_sub = NULL;
    if (s->failed)
        rc = s_fail(self, "%s", s->fail_text);
    if (rc != 0) {
        if (!s->failed && self->state == ST_READY) {
            /* The SUB may still be taken later: leave again. */
            s_command(self, LGSP_CMD_UNSUB, true);
            s_frame_str(self, topic, true);
            s_frame_str(self, group, false);
        }
        s_drop_deliveries(self, topic, group);
        s_sub_remove(self, s);
    }
    return rc;
}

int lgsp_client_unsubscribe(lgsp_client_t *self, const char *topic, const char *group)
{
    GUARD_CALLBACK(self);
    sub_t *s = topic && group ? s_sub_find(self, topic, strlen(topic), group, strlen(group)) : NULL;
    if (!s)
        return s_fail(self, "not subscribed to %s/%s", topic ? topic : "?", group ? group : "?");
    int rc = 0;
    if (self->state == ST_READY) {
        s_flush_sub(self, s, false);
        s_command(self, LGSP_CMD_UNSUB, true);
        s_frame_str(self, s->topic, true);
        s_frame_str(self, s->group, false);
        self->unsub_waiting = s;
        self->unsub_done = false;
        int64_t deadline = s_now_ms() + self->timeout_ms;
        while (!self->unsub_done && self->state == ST_READY) {
            int64_t now = s_now_ms();
            if (now >= deadline) {
                rc = s_fail_gone(self, "unsubscribe", self->timeout_ms);
                break;
            }
            if (s_pump(self, (int) (deadline - now)) < 0) {
                rc = s_fail(self, "unsubscribe: interrupted by a signal");
                break;
            }
        }
        self->unsub_waiting = NULL;
    }
    /* Whatever happened, we no longer want its messages; a lost session
     * dropped the membership anyway. */
    s_drop_deliveries(self, s->topic, s->group);
    s_sub_remove(self, s);
    return rc;
}

int lgsp_client_receive(lgsp_client_t *self, lgsp_delivery_t *out, int timeout_ms)
{
    GUARD_CALLBACK(self);
    if (!out)
        return s_fail(self, "receive: out is NULL");
    free(self->borrowed);
    self->borrowed = NULL;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : s_now_ms() + timeout_ms;
    bool pumped = false;
    for (;;) {
        while (self->dhead && self->dhead->taken == self->dhead->n) {
            dbatch_t *b = self->dhead;
            self->dhead = b->next;
            if (!self->dhead)
                self->dtail = NULL;
            free(b);
        }
        if (self->dhead) {
            if (s_now_ms() >= self->next_drain)
                s_pump(self, 0);
            dbatch_t *b = self->dhead;
            if (b && b->taken < b->n) {
                *out = b->d[b->taken++];
                if (b->taken == b->n) {
                    /* Exhausted: keep it alive until the next receive. */
                    self->dhead = b->next;
                    if (!self->dhead)
                        self->dtail = NULL;
                    self->borrowed = b;
                }
                return 1;
            }
            continue;
        }
        /* Nothing in hand: push out what waits, then wait for the broker
         * (at least one look, even with timeout 0: that is how a caller
         * keeps the session alive while it has nothing else to do). */
        s_flush_acks(self, true);
        s_send_pubs(self, true);
        int64_t now = s_now_ms();
        if (pumped && now >= deadline)
            return 0;
        if (s_pump(self, deadline == INT64_MAX ? -1 : (int) (deadline > now ? deadline - now : 0)) < 0)
            return 0;
        pumped = true;
    }
}

/* Acks (nack false), nacks, or rejects (nack and dead): pending nacks share
 * one reason and kind, so a different one sends those first. */
static int s_settle(lgsp_client_t *self, const lgsp_delivery_t *d, bool nack, bool dead, const char *reason)
{
    GUARD_CALLBACK(self);
    if (!d || !d->topic || !d->group)
        return s_fail(self, "invalid delivery");
    sub_t *s = self->last_sub;
    if (!s || strcmp(s->topic, d->topic) != 0 || strcmp(s->group, d->group) != 0)
        s = s_sub_find(self, d->topic, strlen(d->topic), d->group, strlen(d->group));
    if (!s)
        return s_fail(self, "not subscribed to %s/%s", d->topic, d->group);
    self->last_sub = s;
    if (nack) {
        if (!reason)
            reason = "";
        size_t rlen = strnlen(reason, LGSP_MAX_REASON);
        if (s->n_nacks && (s->nack_dead != dead || strlen(s->nack_reason) != rlen
                           || memcmp(s->nack_reason, reason, rlen) != 0))
            s_flush_sub(self, s, false);
        if (!s->n_nacks) {
            s->nack_dead = dead;
            free(s->nack_reason);
            s->nack_reason = strndup(reason, rlen);
            if (!s->nack_reason)
                return s_fail(self, "out of memory");
        }
    }
    uint64_t **arr = nack ? &s->nacks : &s->acks;
    size_t *n = nack ? &s->n_nacks : &s->n_acks, *cap = nack ? &s->cap_nacks : &s->cap_acks;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        uint64_t *a = realloc(*arr, ncap * sizeof *a);
        if (!a)
            return s_fail(self, "out of memory");
        *arr = a;
        *cap = ncap;
    }
    (*arr)[(*n)++] = d->offset;
    s->owed += s_set_take(&s->inhand, d->offset);
    if (!s->ack_since)
        s->ack_since = s_now_ms();
    uint64_t quarter = s->credit / 4 ? s->credit / 4 : 1;
    if (s->n_acks + s->n_nacks >= ACK_BATCH || s->owed >= quarter)
        s_flush_sub(self, s, false);
    return 0;
}

int lgsp_client_ack(lgsp_client_t *self, const lgsp_delivery_t *d)
{
    return s_settle(self, d, false, false, NULL);
}

int lgsp_client_nack(lgsp_client_t *self, const lgsp_delivery_t *d, const char *reason)
{
    return s_settle(self, d, true, false, reason);
}

int lgsp_client_reject(lgsp_client_t *self, const lgsp_delivery_t *d, const char *reason)
{
    return s_settle(self, d, true, true, reason);
}

/* Sends TOUCH for every offset in hand (acked ones are out of the set, and
 * pending acks go first), then looks at the socket once: heartbeats both
 * ways, deliveries queued for the next receive. */
int lgsp_client_touch(lgsp_client_t *self)
{
    GUARD_CALLBACK(self);
    if (self->state == ST_READY)
        for (sub_t *s = self->subs; s; s = s->next) {
            s_flush_sub(self, s, false);
            if (!s->active || !s->inhand.n)
                continue;
            s_command(self, LGSP_CMD_TOUCH, true);
            s_frame_str(self, s->topic, true);
            s_frame_str(self, s->group, true);
            size_t left = s->inhand.n;
            for (size_t i = 0; i < s->inhand.cap && left; i++)
                if (s->inhand.keys[i])
                    s_frame_u64(self, s->inhand.keys[i] - 1, --left > 0);
        }
    s_pump(self, 0);
    return 0;
}

/* ---- public: operators ------------------------------------------------- */

int lgsp_client_admin(lgsp_client_t *self, const char *verb, int argc, const char *const argv[], char **json_out)
{
    GUARD_CALLBACK(self);
    if (json_out)
        *json_out = NULL;
    if (!verb || !*verb || argc < 0 || (argc && !argv))
        return s_fail(self, "admin: invalid arguments");
    char reqid[32];
    snprintf(reqid, sizeof reqid, "r%u", ++self->admin_seq);
    wait_t w = { .reqid = reqid };
    int64_t deadline = s_now_ms() + self->timeout_ms;
    unsigned session = self->sessions;
    bool sent = false;
    self->wait = &w;
    int rc = 0;
    while (!w.done) {
        if (!sent && self->state == ST_READY) {
            s_command(self, LGSP_CMD_ADMIN, true);
            s_frame_str(self, reqid, true);
            s_frame_str(self, verb, argc > 0);
            for (int i = 0; i < argc; i++)
                s_frame_str(self, argv[i] ? argv[i] : "", i + 1 < argc);
            sent = self->state == ST_READY;
            session = self->sessions;
        } else if (sent && self->sessions != session) {
            /* The request may or may not have been carried out; do not
             * repeat a verb such as dlq.replay behind the caller's back. */
            rc = s_fail(self, "admin %s: the session was lost before the answer", verb);
            break;
        }
        int64_t now = s_now_ms();
        if (now >= deadline) {
            rc = s_fail_gone(self, "admin", self->timeout_ms);
            break;
        }
        if (s_pump(self, (int) (deadline - now)) < 0) {
            rc = s_fail(self, "admin: interrupted by a signal");
            break;
        }
        if (sent && self->state != ST_READY && !w.done) {
            rc = s_fail(self, "admin %s: the session was lost before the answer", verb);
            break;
        }
    }
    self->wait = NULL;
    if (rc == 0 && w.code)
        rc = s_fail(self, "%s", w.text);
    if (rc == 0 && !w.json)
        rc = s_fail(self, "out of memory");
    if (rc == 0 && json_out)
        *json_out = w.json;
    else
        free(w.json);
    return rc;
}

/* ---- public: helpers --------------------------------------------------- */

/* A forked child must not repeat its parent's random bytes or ids. The
 * check runs per id, and getpid() is a system call: count forks instead. */
static atomic_uint s_forks;
static pthread_once_t s_fork_once = PTHREAD_ONCE_INIT;

static void s_on_fork_child(void)
{
    atomic_fetch_add(&s_forks, 1);
}

static void s_watch_forks(void)
{
    pthread_atfork(NULL, NULL, s_on_fork_child);
}

/* Random bytes from a per-thread pool (one getrandom per 256 bytes). */
static void s_random(uint8_t *out, size_t n)
{
    static __thread uint8_t pool[256];
    static __thread size_t pos = sizeof pool;
    static __thread unsigned pool_forks;
    pthread_once(&s_fork_once, s_watch_forks);
    unsigned forks = atomic_load_explicit(&s_forks, memory_order_relaxed);
    if (forks != pool_forks) {
        pos = sizeof pool;
        pool_forks = forks;
    }
    while (n) {
        if (pos == sizeof pool) {
            size_t got = 0;
            while (got < sizeof pool) {
                ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    break;
                got += (size_t) r;
            }
            if (got < sizeof pool) {
                /* No getrandom (very old kernel): not secret, only unique. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t x = s_hash(&ts, sizeof ts) ^ (uint64_t) getpid() ^ (uintptr_t) out;
                for (size_t i = got; i < sizeof pool; i++) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    pool[i] = (uint8_t) x;
                }
            }
            pos = 0;
        }
        *out++ = pool[pos++];
        n--;
    }
}

/* Ids made in the same millisecond by one thread count up from the random
 * value of the first, so that one publisher's ids are strictly increasing
 * (the journal stores increasing ids fastest). */
void lgsp_make_id(char out[33])
{
    static __thread uint64_t last_ms;
    static __thread uint8_t last_rnd[10];
    static __thread unsigned last_forks;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000) & 0xFFFFFFFFFFFFULL;
    pthread_once(&s_fork_once, s_watch_forks);
    unsigned forks = atomic_load_explicit(&s_forks, memory_order_relaxed);
    if (ms > last_ms || forks != last_forks) {
        last_ms = ms > last_ms ? ms : last_ms;
        last_forks = forks;
        s_random(last_rnd, sizeof last_rnd);
        last_rnd[0] &= 0x7f;          /* leaves room to count up */
    } else {
        int i = (int) sizeof last_rnd - 1;
        while (i >= 0 && ++last_rnd[i] == 0)
            i--;
        if (i < 0) {                  /* 2^80 ids in one ms: take the next ms */
            last_ms++;
            s_random(last_rnd, sizeof last_rnd);
            last_rnd[0] &= 0x7f;
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 12; i++)
        out[i] = hex[(last_ms >> (44 - 4 * i)) & 0xF];
    for (int i = 0; i < 10; i++) {
        out[12 + 2 * i] = hex[last_rnd[i] >> 4];
        out[13 + 2 * i] = hex[last_rnd[i] & 0xF];
    }
    out[32] = 0;
}

int lgsp_keygen(char public_z85[41], char secret_z85[41])
{
    return zmq_curve_keypair(public_z85, secret_z85) == 0 ? 0 : -1;
}
