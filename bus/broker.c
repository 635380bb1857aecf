/* broker.c — the message loop of lgspd (see broker.h and docs/protocol.md).
 *
 * Data flows one way through this file:
 *   ROUTER frames -> s_on_<command>() -> the open batch (journal changes)
 *   -> committer -> s_on_committed() -> answers, topic heads
 *   -> s_dispatch() -> MSG to consumers.
 * Everything here runs on the broker thread; nothing is locked. */
#include "broker.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "committer.h"
#include "group.h"
#include "http.h"
#include "lgsp/protocol.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#ifndef LGSP_VERSION
#define LGSP_VERSION "0.0.0"
#endif

#define MAX_FRAMES      (4 + LGSP_PUB_FRAMES_PER_MSG * LGSP_MAX_PUB_BATCH + 8)
#define RECV_BURST      4096        /* messages read per wake-up before other work */
#define MSG_BATCH       256         /* deliveries in one MSG */
#define TICK_MS         100
#define GROUP_WINDOW    (1u << 18)  /* offsets a group may track beyond its committed one */
#define DLQ_SUFFIX      ".dlq"

typedef struct topic   topic_t;
typedef struct cgroup  cgroup_t;
typedef struct session session_t;

typedef struct {
    uint32_t  id;
    session_t *session;
    cgroup_t  *group;
    uint64_t  credit;
} sub_t;

struct session {
    char      rid[256];
    size_t    rid_len;
    char      name[201];
    uint64_t  last_recv, last_send;
    uint64_t  unanswered;         /* publishes without an answer yet */
    sub_t   **subs;
    size_t    nsubs;
};

/* A SUB waiting for its group to be created by the committer. */
typedef struct subreq {
    char           rid[256];
    size_t         rid_len;
    uint64_t       credit;
    struct subreq *next;
} subreq_t;

struct cgroup {
    topic_t  *topic;
    char     *name;
    uint32_t  gid;
    group_t  *state;             /* NULL while being created */
    subreq_t *waiting;
    uint64_t  persisted;         /* committed offset last written (UINT64_MAX: unknown) */
    sub_t   **members;
    size_t    nmembers, rr;
    bool      dirty;             /* may need dispatch or an offset commit */
    uint64_t  delivered, acked, dead;
};

/* Publishes held back by backpressure, in arrival order. */
typedef struct held {
    zmq_msg_t   *frames;
    size_t       nframes;
    uint64_t     bytes;
    struct held *next;
} held_t;

struct topic {
    char                 *name;
    journal_topic_stats_t st;
    const topic_policy_t *policy;
    cgroup_t            **groups;
    size_t                ngroups;
    held_t               *held, *held_tail;
    uint64_t              msgs_in, bytes_in, dups;
};

/* Context of publish ops: who to answer. Lives in the batch's arena. */
typedef struct {
    char     rid[256];
    size_t   rid_len;
    topic_t *topic;
    size_t   first, count;       /* op indexes */
} pubreq_t;

typedef struct {
    char   rid[256];
    size_t rid_len;
    char   reqid[65];
    const char *verb;
} adminreq_t;

/* An outgoing multipart message under construction. */
typedef struct {
    const void **ptr;
    size_t      *len;
    size_t       n, cap;
    char        *nums;           /* digits of number frames */
    size_t       numlen, numcap;
    uint32_t    *numat;          /* for frames whose ptr is an offset into nums */
} out_t;

struct broker {
    config_t      *cfg;
    journal_t     *journal;
    journal_reader_t *reader;
    void          *ctx, *router;
    committer_t   *committer;
    auth_t        *auth;
    http_server_t *http;
    batch_t       *open;         /* collecting */
    batch_t       *spare;        /* returned by the committer, reset */
    strmap_t      *sessions;     /* rid -> session_t* */
    strmap_t      *topics;       /* name -> topic_t* */
    uint32_t       next_sub;
    uint64_t       held_bytes;
    zmq_msg_t      frames[MAX_FRAMES];
    out_t          out;
    uint64_t       started_ms, started_us;
    uint64_t       next_tick, next_second, next_retention;
    bool           stopping;
    char           endpoint[256];
    /* figures for /metrics and ADMIN status */
    uint64_t       denied_publish, denied_subscribe, denied_admin;
    uint64_t       rejected[600];
    uint64_t       commit_errors;
    uint64_t       retry_after;  /* after a failed commit, wait before the next */
    char           last_commit_error[300];
    uint64_t       last_commit_error_ms;
    uint64_t       sessions_ended_by_silence;
    /* adapters' units (ingest.h): any thread pushes under ingest_mu, the
     * broker pulls; units held by backpressure wait in a FIFO */
    void          *ingest_pull, *ingest_push;
    pthread_mutex_t ingest_mu;
    bool           ingest_closed;
    ingest_unit_t **held_units;
    size_t         n_held_units, cap_held_units;
    size_t         unit_at;      /* s_on_committed: index of the current OP_UNIT */
    broker_hooks_t hooks;
};

/* ---- small helpers -------------------------------------------------- */

static bool s_frame_is(zmq_msg_t *f, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(f) == n && memcmp(zmq_msg_data(f), s, n) == 0;
}

/* Copies a frame into buf as a C string; false if it does not fit or has NUL. */
static bool s_frame_str(zmq_msg_t *f, char *buf, size_t cap)
{
    size_t n = zmq_msg_size(f);
    if (n >= cap || memchr(zmq_msg_data(f), 0, n))
        return false;
    memcpy(buf, zmq_msg_data(f), n);
    buf[n] = 0;
    return true;
}

static bool s_frame_u64(zmq_msg_t *f, uint64_t *out)
{
    size_t n = zmq_msg_size(f);
    const char *p = zmq_msg_data(f);
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        uint64_t d = (uint64_t) (p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool s_name_ok(zmq_msg_t *f, char *buf)
{
    return s_frame_str(f, buf, LGSP_MAX_NAME + 1) && util_valid_name(buf, strlen(buf));
}

static bool s_is_dlq(const char *topic)
{
    size_t n = strlen(topic), s = strlen(DLQ_SUFFIX);
    return n > s && strcmp(topic + n - s, DLQ_SUFFIX) == 0;
}

/* In plain mode (local development) with no admins configured, every
 * client may use the operator verbs; under Curve only the listed ones. */
static bool s_admin(const broker_t *self, const char *client)
{
    if (self->cfg->security_mode == SECURITY_PLAIN && self->cfg->n_admins == 0)
        return true;
    return config_is_admin(self->cfg, client);
}

/* Access to a topic: dead-letter topics are for admins; others follow the
 * topic's publish / subscribe lists. */
static bool s_may(const broker_t *self, const char *client, const char *topic, bool publish)
{
    /* lgspd's own clients (sink adapters, names '@...') read any topic,
     * including dead letters; they never publish over the wire. */
    if (client[0] == '@')
        return !publish;
    if (s_is_dlq(topic))
        return s_admin(self, client);
    return publish ? config_may_publish(self->cfg, client, topic)
                   : config_may_subscribe(self->cfg, client, topic);
}

/* ---- sending -------------------------------------------------------- */

static void s_out_reset(out_t *o)
{
    o->n = 0;
    o->numlen = 0;
}

static void s_out_add(out_t *o, const void *p, size_t len)
{
    if (o->n == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 64;
        o->ptr = realloc(o->ptr, ncap * sizeof *o->ptr);
        o->len = realloc(o->len, ncap * sizeof *o->len);
        o->numat = realloc(o->numat, ncap * sizeof *o->numat);
        o->cap = ncap;
    }
    o->ptr[o->n] = p;
    o->len[o->n] = len;
    o->numat[o->n] = UINT32_MAX;
    o->n++;
}

static void s_out_str(out_t *o, const char *s) { s_out_add(o, s, strlen(s)); }

static void s_out_num(out_t *o, uint64_t v)
{
    if (o->numlen + 24 > o->numcap) {
        o->numcap = o->numcap ? o->numcap * 2 : 4096;
        o->nums = realloc(o->nums, o->numcap);
    }
    size_t l = util_u64toa(o->nums + o->numlen, v);
    s_out_add(o, NULL, l);
    o->numat[o->n - 1] = (uint32_t) o->numlen;
    o->numlen += (size_t) l;
}

/* Sends rid + LGSP1 + the frames built in out. */
static void s_out_send(broker_t *self, const void *rid, size_t rid_len)
{
    out_t *o = &self->out;
    zmq_send(self->router, rid, rid_len, ZMQ_SNDMORE);
    zmq_send(self->router, LGSP_PROTO_SIGNATURE, 5, o->n ? ZMQ_SNDMORE : 0);
    for (size_t i = 0; i < o->n; i++) {
        const void *p = o->numat[i] != UINT32_MAX ? o->nums + o->numat[i] : o->ptr[i];
        zmq_send(self->router, p, o->len[i], i + 1 < o->n ? ZMQ_SNDMORE : 0);
    }
    session_t *s = strmap_get(self->sessions, rid, rid_len);
    if (s)
        s->last_send = util_mono_ms();
    s_out_reset(o);
}

/* ERROR code text [context...] (context: NULL-terminated strings). */
static void s_error(broker_t *self, const void *rid, size_t rid_len, int code, const char *text, ...)
{
    out_t *o = &self->out;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_ERROR);
    s_out_num(o, (uint64_t) code);
    s_out_str(o, text);
    va_list ap;
    va_start(ap, text);
    for (const char *c; (c = va_arg(ap, const char *));)
        s_out_str(o, c);
    va_end(ap);
    s_out_send(self, rid, rid_len);
    if (code > 0 && code < 600)
        self->rejected[code]++;
}

/* PUBERR topic code text id... for the ids in ids[0..n). */
static void s_puberr(broker_t *self, const void *rid, size_t rid_len, const char *topic, int code,
                     const char *text, zmq_msg_t **ids, size_t n)
{
    out_t *o = &self->out;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_PUBERR);
    s_out_str(o, topic);
    s_out_num(o, (uint64_t) code);
    s_out_str(o, text);
    for (size_t i = 0; i < n; i++)
        s_out_add(o, zmq_msg_data(ids[i]), zmq_msg_size(ids[i]));
    s_out_send(self, rid, rid_len);
    if (code > 0 && code < 600)
        self->rejected[code] += n;
}

/* ---- topics and groups ---------------------------------------------- */

static topic_t *s_topic(broker_t *self, const char *name, bool create)
{
    topic_t *t = strmap_get(self->topics, name, strlen(name));
    if (t || !create)
        return t;
    t = calloc(1, sizeof *t);
    t->name = strdup(name);
    journal_topic_stats(self->journal, name, &t->st);
    t->policy = config_topic_policy(self->cfg, name);
    strmap_put(self->topics, name, strlen(name), t);
    return t;
}

static cgroup_t *s_group_find(topic_t *t, const char *name)
{
    for (size_t i = 0; i < t->ngroups; i++)
        if (strcmp(t->groups[i]->name, name) == 0)
            return t->groups[i];
    return NULL;
}

static cgroup_t *s_group_add(topic_t *t, const char *name)
{
    cgroup_t *g = calloc(1, sizeof *g);
    g->topic = t;
    g->name = strdup(name);
    g->persisted = UINT64_MAX;
    t->groups = realloc(t->groups, (t->ngroups + 1) * sizeof *t->groups);
    t->groups[t->ngroups++] = g;
    return g;
}

/* Lag of the slowest group: what backpressure watches. */
static uint64_t s_lag(const topic_t *t)
{
    uint64_t lag = 0;
    for (size_t i = 0; i < t->ngroups; i++) {
        cgroup_t *g = t->groups[i];
        if (g->state) {
            uint64_t c = group_committed(g->state);
            uint64_t l = t->st.next > c ? t->st.next - c : 0;
            if (l > lag)
                lag = l;
        }
    }
    return lag;
}

static void s_member_remove(cgroup_t *g, sub_t *sub)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (g->members[i] == sub) {
            memmove(&g->members[i], &g->members[i + 1], (g->nmembers - i - 1) * sizeof *g->members);
            g->nmembers--;
            break;
        }
    if (g->rr >= g->nmembers)
        g->rr = 0;
}

static void s_collect_dead(broker_t *self, cgroup_t *g)
{
    group_dead_t d;
    while (g->state && group_take_dead(g->state, &d)) {
        op_t *op = batch_add(self->open, OP_DEAD_LETTER);
        op->topic = batch_strdup(self->open, g->topic->name, strlen(g->topic->name));
        op->group = batch_strdup(self->open, g->name, strlen(g->name));
        op->offset = d.offset;
        op->attempts = d.attempts;
        op->reason = batch_strdup(self->open, d.reason, strlen(d.reason));
        log_info("broker", "dead-lettering offset %" PRIu64 " of %s for group %s after %u attempts: %s",
                 d.offset, g->topic->name, g->name, d.attempts, d.reason);
        free(d.reason);
        g->dead++;
        g->dirty = true;
    }
}

static void s_sub_end(broker_t *self, sub_t *sub)
{
    cgroup_t *g = sub->group;
    if (g->state) {
        group_release(g->state, sub->id);
        s_collect_dead(self, g);
    }
    s_member_remove(g, sub);
    g->dirty = true;
    free(sub);
}

static void s_session_end(broker_t *self, session_t *s, const char *why)
{
    log_debug("broker", "session %s ended: %s", s->name, why);
    for (size_t i = 0; i < s->nsubs; i++)
        s_sub_end(self, s->subs[i]);
    free(s->subs);
    strmap_remove(self->sessions, s->rid, s->rid_len);
    free(s);
}

/* ---- publishing ----------------------------------------------------- */

static bool s_id_ok(zmq_msg_t *f)
{
    size_t n = zmq_msg_size(f);
    const unsigned char *p = zmq_msg_data(f);
    if (n == 0 || n > LGSP_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

/* Headers: empty, or a JSON object of strings without reserved names. */
static const char *s_headers_problem(zmq_msg_t *f)
{
    size_t n = zmq_msg_size(f);
    if (n == 0)
        return NULL;
    if (n > LGSP_MAX_HEADERS)
        return "headers larger than 16 KiB";
    json_error_t e;
    json_t *h = json_loadb(zmq_msg_data(f), n, JSON_REJECT_DUPLICATES, &e);
    const char *problem = NULL;
    if (!json_is_object(h))
        problem = "headers are not a JSON object";
    else {
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v) {
            if (!json_is_string(v)) {
                problem = "a header value is not a string";
                break;
            }
            if (strncmp(k, "lgsp-", 5) == 0) {
                problem = "header names starting with lgsp- are reserved";
                break;
            }
        }
    }
    json_decref(h);
    return problem;
}

/* Copies small frames into the batch; keeps large ones (zero-copy). Frames
 * up to 64 bytes may live inside the zmq_msg_t itself, so their data
 * pointer would move with it. */
static const void *s_take(batch_t *b, zmq_msg_t *f, size_t *len)
{
    *len = zmq_msg_size(f);
    if (*len <= 64)
        return batch_strdup(b, zmq_msg_data(f), *len);
    const void *p = zmq_msg_data(f);
    if (batch_keep(b, f) < 0)
        return NULL;
    return p;
}

/* Validates and queues the messages of one PUB (frames f[3..nf)). */
static void s_enqueue_pub(broker_t *self, const void *rid, size_t rid_len, topic_t *t,
                          zmq_msg_t *f, size_t nf)
{
    size_t n = (nf - 4) / 4;
    zmq_msg_t *bad[LGSP_MAX_PUB_BATCH];
    const char *bad_text[LGSP_MAX_PUB_BATCH];
    int bad_code[LGSP_MAX_PUB_BATCH];
    size_t nbad = 0;
    batch_t *b = self->open;
    pubreq_t *req = batch_alloc(b, sizeof(pubreq_t));
    memcpy(req->rid, rid, rid_len);
    req->rid_len = rid_len;
    req->topic = t;
    req->first = batch_count(b);
    req->count = 0;
    const char *tname = batch_strdup(b, t->name, strlen(t->name));
    uint64_t now = util_now_us();
    for (size_t i = 0; i < n; i++) {
        zmq_msg_t *m = &f[4 + 4 * i];
        const char *problem = NULL;
        int code = LGSP_BAD_REQUEST;
        if (!s_id_ok(&m[0]))
            problem = "message id must be 1-128 printable ASCII bytes";
        else if (zmq_msg_size(&m[1]) > LGSP_MAX_KEY)
            problem = "partition key longer than 255 bytes";
        else if (zmq_msg_size(&m[3]) > self->cfg->max_message_bytes) {
            problem = "payload larger than bus.max_message_bytes";
            code = LGSP_TOO_LARGE;
        } else
            problem = s_headers_problem(&m[2]);
        if (problem) {
            bad[nbad] = &m[0];
            bad_text[nbad] = problem;
            bad_code[nbad] = code;
            nbad++;
            continue;
        }
        op_t *op = batch_add(b, OP_PUBLISH);
        op->topic = tname;
        op->ctx = req;
        op->rec.time_us = now;
        op->rec.id = s_take(b, &m[0], &op->rec.id_len);
        op->rec.key = s_take(b, &m[1], &op->rec.key_len);
        op->rec.headers = s_take(b, &m[2], &op->rec.headers_len);
        op->rec.payload = s_take(b, &m[3], &op->rec.payload_len);
        req->count++;
    }
    /* Answer the invalid ones now, one PUBERR per distinct problem. */
    for (size_t i = 0; i < nbad; i++) {
        if (!bad[i])
            continue;
        zmq_msg_t *ids[LGSP_MAX_PUB_BATCH];
        size_t k = 0;
        for (size_t j = i; j < nbad; j++)
            if (bad[j] && bad_text[j] == bad_text[i]) {
                ids[k++] = bad[j];
                if (j != i)
                    bad[j] = NULL;
            }
        s_puberr(self, rid, rid_len, t->name, bad_code[i], bad_text[i], ids, k);
        bad[i] = NULL;
    }
    session_t *s = strmap_get(self->sessions, rid, rid_len);
    if (s && s->unanswered >= nbad)
        s->unanswered -= nbad;
}

static void s_hold(broker_t *self, topic_t *t, zmq_msg_t *f, size_t nf)
{
    held_t *h = calloc(1, sizeof *h);
    h->frames = calloc(nf, sizeof *h->frames);
    h->nframes = nf;
    for (size_t i = 0; i < nf; i++) {
        zmq_msg_init(&h->frames[i]);
        zmq_msg_move(&h->frames[i], &f[i]);
        h->bytes += zmq_msg_size(&h->frames[i]);
    }
    self->held_bytes += h->bytes;
    if (t->held_tail)
        t->held_tail->next = h;
    else
        t->held = h;
    t->held_tail = h;
}

static void s_on_pub(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    char topic[LGSP_MAX_NAME + 1];
    if (nf < 8 || (nf - 4) % 4 != 0 || (nf - 4) / 4 > LGSP_MAX_PUB_BATCH) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST,
                "PUB takes a topic and 1 to 1000 groups of 4 frames (id key headers payload)", NULL);
        return;
    }
    size_t n = (nf - 4) / 4;
    zmq_msg_t *ids[LGSP_MAX_PUB_BATCH];
    for (size_t i = 0; i < n; i++)
        ids[i] = &f[4 + 4 * i];
    if (!s_name_ok(&f[3], topic)) {
        s_puberr(self, s->rid, s->rid_len, "", LGSP_BAD_REQUEST,
                 "invalid topic name (1-200 of A-Z a-z 0-9 . _ -, not starting with .)", ids, n);
        return;
    }
    if (!s_may(self, s->name, topic, true)) {
        self->denied_publish++;
        log_warn("broker", "denied: client '%s' may not publish to '%s'", s->name, topic);
        s_puberr(self, s->rid, s->rid_len, topic, LGSP_FORBIDDEN,
                 "this client may not publish to this topic", ids, n);
        return;
    }
    if (self->stopping) {
        s_puberr(self, s->rid, s->rid_len, topic, LGSP_UNAVAILABLE, "broker shutting down", ids, n);
        return;
    }
    if (s->unanswered + n > self->cfg->pub_window) {
        s_puberr(self, s->rid, s->rid_len, topic, LGSP_TOO_MANY,
                 "publish window exceeded: wait for answers", ids, n);
        return;
    }
    topic_t *t = s_topic(self, topic, true);
    s->unanswered += n;
    if (t->held || (t->policy->max_lag && s_lag(t) > t->policy->max_lag)) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < nf; i++)
            bytes += zmq_msg_size(&f[i]);
        if (self->held_bytes + bytes > self->cfg->max_held_bytes) {
            s->unanswered -= n;
            s_puberr(self, s->rid, s->rid_len, topic, LGSP_TOO_MANY,
                     "consumers are behind and the broker holds too many publishes: retry later",
                     ids, n);
            return;
        }
        s_hold(self, t, f, nf);
        return;
    }
    s_enqueue_pub(self, s->rid, s->rid_len, t, f, nf);
}

/* Releases held publishes of t while its consumers are within max_lag. */
static void s_release_held(broker_t *self, topic_t *t)
{
    while (t->held && (!t->policy->max_lag || s_lag(t) <= t->policy->max_lag || self->stopping)) {
        held_t *h = t->held;
        t->held = h->next;
        if (!t->held)
            t->held_tail = NULL;
        self->held_bytes -= h->bytes;
        if (self->stopping) {
            zmq_msg_t *ids[LGSP_MAX_PUB_BATCH];
            size_t n = (h->nframes - 4) / 4;
            for (size_t i = 0; i < n; i++)
                ids[i] = &h->frames[4 + 4 * i];
            s_puberr(self, zmq_msg_data(&h->frames[0]), zmq_msg_size(&h->frames[0]), t->name,
                     LGSP_UNAVAILABLE, "broker shutting down", ids, n);
        } else {
            s_enqueue_pub(self, zmq_msg_data(&h->frames[0]), zmq_msg_size(&h->frames[0]), t,
                          h->frames, h->nframes);
        }
        for (size_t i = 0; i < h->nframes; i++)
            zmq_msg_close(&h->frames[i]);
        free(h->frames);
        free(h);
    }
}

/* ---- subscribing ---------------------------------------------------- */

static sub_t *s_find_sub(session_t *s, const char *topic, const char *group)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        sub_t *sub = s->subs[i];
        if (strcmp(sub->group->name, group) == 0 && strcmp(sub->group->topic->name, topic) == 0)
            return sub;
    }
    return NULL;
}

static void s_join(broker_t *self, session_t *s, cgroup_t *g, uint64_t credit)
{
    sub_t *sub = s_find_sub(s, g->topic->name, g->name);
    if (!sub) {
        sub = calloc(1, sizeof *sub);
        sub->id = ++self->next_sub;
        sub->session = s;
        sub->group = g;
        s->subs = realloc(s->subs, (s->nsubs + 1) * sizeof *s->subs);
        s->subs[s->nsubs++] = sub;
        g->members = realloc(g->members, (g->nmembers + 1) * sizeof *g->members);
        g->members[g->nmembers++] = sub;
    }
    sub->credit = credit;
    g->dirty = true;
    out_t *o = &self->out;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_SUBOK);
    s_out_str(o, g->topic->name);
    s_out_str(o, g->name);
    s_out_send(self, s->rid, s->rid_len);
}

static void s_on_sub(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    char topic[LGSP_MAX_NAME + 1], group[LGSP_MAX_NAME + 1];
    uint64_t credit;
    if (nf < 6 || nf > 7 || !s_name_ok(&f[3], topic) || !s_name_ok(&f[4], group)
        || !s_frame_u64(&f[5], &credit)) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST,
                "SUB takes topic, group, credit [, earliest|latest] with valid names", NULL);
        return;
    }
    bool latest = false;
    if (nf == 7) {
        if (s_frame_is(&f[6], "latest"))
            latest = true;
        else if (!s_frame_is(&f[6], "earliest")) {
            s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "start must be earliest or latest",
                    topic, group, NULL);
            return;
        }
    }
    if (!s_may(self, s->name, topic, false)) {
        self->denied_subscribe++;
        log_warn("broker", "denied: client '%s' may not subscribe to '%s'", s->name, topic);
        s_error(self, s->rid, s->rid_len, LGSP_FORBIDDEN, "this client may not subscribe to this topic",
                topic, group, NULL);
        return;
    }
    if (credit > 1000000)
        credit = 1000000;
    topic_t *t = s_topic(self, topic, true);
    cgroup_t *g = s_group_find(t, group);
    if (g && g->state) {
        s_join(self, s, g, credit);
        return;
    }
    if (!g) {
        g = s_group_add(t, group);
        op_t *op = batch_add(self->open, OP_GROUP_OPEN);
        op->topic = batch_strdup(self->open, topic, strlen(topic));
        op->group = batch_strdup(self->open, group, strlen(group));
        op->latest = latest;
        op->ctx = g;
    }
    subreq_t *w = calloc(1, sizeof *w);
    memcpy(w->rid, s->rid, s->rid_len);
    w->rid_len = s->rid_len;
    w->credit = credit;
    w->next = g->waiting;
    g->waiting = w;
}

static sub_t *s_sub_for(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf, size_t min)
{
    char topic[LGSP_MAX_NAME + 1], group[LGSP_MAX_NAME + 1];
    if (nf < min || !s_frame_str(&f[3], topic, sizeof topic) || !s_frame_str(&f[4], group, sizeof group)) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "malformed command", NULL);
        return NULL;
    }
    sub_t *sub = s_find_sub(s, topic, group);
    if (!sub)
        s_error(self, s->rid, s->rid_len, LGSP_NOT_FOUND, "not subscribed to this topic and group",
                topic, group, NULL);
    return sub;
}

static void s_on_credit(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    uint64_t n;
    sub_t *sub = s_sub_for(self, s, f, nf, 6);
    if (!sub)
        return;
    if (nf != 6 || !s_frame_u64(&f[5], &n)) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "CREDIT takes topic, group, n", NULL);
        return;
    }
    sub->credit += n;
    if (sub->credit > 1000000)
        sub->credit = 1000000;
    sub->group->dirty = true;
}

/* ACK, NACK and REJECT (a NACK whose messages are dead-lettered at once). */
typedef enum { SETTLE_ACK, SETTLE_NACK, SETTLE_REJECT } settle_t;

static void s_on_ack(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf, settle_t how)
{
    bool nack = how != SETTLE_ACK;
    sub_t *sub = s_sub_for(self, s, f, nf, nack ? 6 : 5);
    if (!sub)
        return;
    cgroup_t *g = sub->group;
    if (!g->state)
        return;
    char reason[LGSP_MAX_REASON + 1] = "";
    size_t first = 5;
    if (nack) {
        size_t rl = zmq_msg_size(&f[5]) < LGSP_MAX_REASON ? zmq_msg_size(&f[5]) : LGSP_MAX_REASON;
        memcpy(reason, zmq_msg_data(&f[5]), rl);
        reason[rl] = 0;
        first = 6;
    }
    for (size_t i = first; i < nf; i++) {
        uint64_t off;
        if (!s_frame_u64(&f[i], &off))
            continue;
        if (how == SETTLE_REJECT)
            group_reject(g->state, off, sub->id, reason);
        else if (nack)
            group_nack(g->state, off, sub->id, reason);
        else if (group_ack(g->state, off, sub->id) & GROUP_ACKED)
            g->acked++;
    }
    if (nack)
        s_collect_dead(self, g);
    g->dirty = true;
}

static void s_on_unsub(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    sub_t *sub = s_sub_for(self, s, f, nf, 5);
    if (!sub)
        return;
    char topic[LGSP_MAX_NAME + 1], group[LGSP_MAX_NAME + 1];
    snprintf(topic, sizeof topic, "%s", sub->group->topic->name);
    snprintf(group, sizeof group, "%s", sub->group->name);
    for (size_t i = 0; i < s->nsubs; i++)
        if (s->subs[i] == sub) {
            memmove(&s->subs[i], &s->subs[i + 1], (s->nsubs - i - 1) * sizeof *s->subs);
            s->nsubs--;
            break;
        }
    s_sub_end(self, sub);
    out_t *o = &self->out;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_UNSUBOK);
    s_out_str(o, topic);
    s_out_str(o, group);
    s_out_send(self, s->rid, s->rid_len);
}

/* ---- admin ---------------------------------------------------------- */

static void s_adminok(broker_t *self, const void *rid, size_t rid_len, const char *reqid, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    out_t *o = &self->out;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_ADMINOK);
    s_out_str(o, reqid);
    s_out_str(o, text ? text : "null");
    s_out_send(self, rid, rid_len);
    free(text);
}

static json_t *s_status_json(broker_t *self)
{
    uint64_t file, used, map;
    journal_usage(self->journal, &file, &used, &map);
    committer_stats_t *cs = committer_stats(self->committer);
    return json_pack("{s:s, s:I, s:I, s:I, s:{s:s, s:I, s:I, s:I}, s:I, s:I, s:I}",
        "version", LGSP_VERSION,
        "uptime_s", (json_int_t) ((util_mono_ms() - self->started_ms) / 1000),
        "sessions", (json_int_t) strmap_size(self->sessions),
        "topics", (json_int_t) strmap_size(self->topics),
        "journal", "path", journal_path(self->journal), "file_bytes", (json_int_t) file,
                   "used_bytes", (json_int_t) used, "map_bytes", (json_int_t) map,
        "commits", (json_int_t) atomic_load(&cs->commits),
        "commit_failures", (json_int_t) atomic_load(&cs->failed_commits),
        "denied", (json_int_t) (self->denied_publish + self->denied_subscribe + self->denied_admin
                                + (self->auth ? auth_denied(self->auth) : 0)));
}

static json_t *s_topics_json(broker_t *self)
{
    json_t *arr = json_array();
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        json_t *groups = json_array();
        for (size_t i = 0; i < t->ngroups; i++) {
            cgroup_t *g = t->groups[i];
            if (!g->state)
                continue;
            uint64_t c = group_committed(g->state);
            json_array_append_new(groups, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}",
                "name", g->name, "committed", (json_int_t) c,
                "lag", (json_int_t) (t->st.next > c ? t->st.next - c : 0),
                "in_flight", (json_int_t) group_in_flight(g->state),
                "members", (json_int_t) g->nmembers, "dead_lettered", (json_int_t) g->dead));
        }
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:b}, s:I, s:o}",
            "name", t->name, "first", (json_int_t) t->st.first, "next", (json_int_t) t->st.next,
            "count", (json_int_t) t->st.count, "bytes", (json_int_t) t->st.bytes,
            "retention", "max_age_s", (json_int_t) (t->policy->retention_max_age_ms / 1000),
                         "max_bytes", (json_int_t) t->policy->retention_max_bytes,
                         "protect_unacked", t->policy->retention_protect_unacked,
            "max_lag", (json_int_t) t->policy->max_lag, "groups", groups));
    }
    return arr;
}

static json_t *s_dlq_entry(const journal_record_t *r, bool full)
{
    json_t *h = r->headers_len ? json_loadb(r->headers, r->headers_len, 0, NULL) : NULL;
    const char *g = json_string_value(json_object_get(h, "lgsp-dlq-group"));
    const char *so = json_string_value(json_object_get(h, "lgsp-dlq-offset"));
    const char *at = json_string_value(json_object_get(h, "lgsp-dlq-attempts"));
    const char *re = json_string_value(json_object_get(h, "lgsp-dlq-reason"));
    const char *id = json_string_value(json_object_get(h, "lgsp-dlq-id"));
    json_t *e = json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:I}",
        "offset", (json_int_t) r->offset, "id", id ? id : "", "group", g ? g : "",
        "source_offset", (json_int_t) (so ? strtoull(so, NULL, 10) : 0),
        "attempts", (json_int_t) (at ? strtoul(at, NULL, 10) : 0), "reason", re ? re : "",
        "time_us", (json_int_t) r->time_us);
    if (full) {
        json_object_set_new(e, "headers", h ? json_incref(h) : json_object());
        size_t cap = 4 * ((r->payload_len + 2) / 3) + 1;
        char *b64 = malloc(cap);
        if (b64) {
            EVP_EncodeBlock((unsigned char *) b64, r->payload, (int) r->payload_len);
            json_object_set_new(e, "payload", json_string(b64));
            free(b64);
        }
        json_object_set_new(e, "key", json_stringn(r->key, r->key_len));
    }
    json_decref(h);
    return e;
}

static void s_on_admin(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    char reqid[65], verb[32], topic[LGSP_MAX_NAME + 1] = "";
    if (nf < 5 || !s_frame_str(&f[3], reqid, sizeof reqid) || !s_frame_str(&f[4], verb, sizeof verb)) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "ADMIN takes request_id, verb, args", NULL);
        return;
    }
    if (strcmp(verb, "status") == 0) {
        s_adminok(self, s->rid, s->rid_len, reqid, s_status_json(self));
        return;
    }
    if (strcmp(verb, "topics") == 0) {
        s_adminok(self, s->rid, s->rid_len, reqid, s_topics_json(self));
        return;
    }
    if (strncmp(verb, "dlq.", 4) != 0) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "unknown ADMIN verb", reqid, NULL);
        return;
    }
    if (!s_admin(self, s->name)) {
        self->denied_admin++;
        log_warn("broker", "denied: client '%s' is not an admin (%s)", s->name, verb);
        s_error(self, s->rid, s->rid_len, LGSP_FORBIDDEN, "this client is not an admin", reqid, NULL);
        return;
    }
    if (nf < 6 || !s_name_ok(&f[5], topic)) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "dlq verbs take a topic", reqid, NULL);
        return;
    }
    char dname[LGSP_MAX_NAME + 8];
    snprintf(dname, sizeof dname, "%s" DLQ_SUFFIX, topic);
    if (strcmp(verb, "dlq.list") == 0 || strcmp(verb, "dlq.show") == 0) {
        bool show = verb[4] == 's';
        uint64_t arg = show ? 0 : 100;
        if ((nf > 6 && !s_frame_u64(&f[6], &arg)) || (show && nf != 7)) {
            s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST,
                    show ? "dlq.show takes topic and offset" : "dlq.list takes topic [limit]", reqid, NULL);
            return;
        }
        journal_record_t r;
        json_t *out = show ? NULL : json_array();
        journal_reader_begin(self->reader);
        uint64_t off = show ? arg : 0;
        for (uint64_t k = 0; show ? k < 1 : k < arg; k++) {
            if (journal_read_from(self->reader, dname, off, &r) != 0 || (show && r.offset != arg))
                break;
            if (show)
                out = s_dlq_entry(&r, true);
            else
                json_array_append_new(out, s_dlq_entry(&r, false));
            off = r.offset + 1;
        }
        journal_reader_end(self->reader);
        if (!out) {
            s_error(self, s->rid, s->rid_len, LGSP_NOT_FOUND, "no such dead letter", reqid, NULL);
            return;
        }
        s_adminok(self, s->rid, s->rid_len, reqid, out);
        return;
    }
    bool replay = strcmp(verb, "dlq.replay") == 0;
    if (!replay && strcmp(verb, "dlq.purge") != 0) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "unknown ADMIN verb", reqid, NULL);
        return;
    }
    uint64_t off = 0;
    bool all = nf == 7 && s_frame_is(&f[6], "all");
    if (nf != 7 || (!all && !s_frame_u64(&f[6], &off))) {
        s_error(self, s->rid, s->rid_len, LGSP_BAD_REQUEST, "takes topic and offset|all", reqid, NULL);
        return;
    }
    if (!strmap_get(self->topics, dname, strlen(dname))) {
        s_error(self, s->rid, s->rid_len, LGSP_NOT_FOUND, "this topic has no dead letters", reqid, NULL);
        return;
    }
    adminreq_t *a = batch_alloc(self->open, sizeof *a);
    memcpy(a->rid, s->rid, s->rid_len);
    a->rid_len = s->rid_len;
    snprintf(a->reqid, sizeof a->reqid, "%s", reqid);
    a->verb = replay ? "replayed" : "purged";
    op_t *op = batch_add(self->open, replay ? OP_DLQ_REPLAY : OP_DLQ_PURGE);
    op->topic = batch_strdup(self->open, topic, strlen(topic));
    op->all = all;
    op->offset = off;
    op->ctx = a;
}

/* ---- the commands --------------------------------------------------- */

static void s_on_hello(broker_t *self, const void *rid, size_t rid_len, zmq_msg_t *f, size_t nf)
{
    session_t *old = strmap_get(self->sessions, rid, rid_len);
    if (old)
        s_session_end(self, old, "new HELLO");
    if (nf < 4 || rid_len > sizeof old->rid) {
        s_error(self, rid, rid_len, LGSP_BAD_REQUEST, "HELLO takes name and software", NULL);
        return;
    }
    session_t *s = calloc(1, sizeof *s);
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    /* Under Curve the name is the one the ZAP handler bound to the key. */
    const char *uid = self->cfg->security_mode == SECURITY_CURVE ? zmq_msg_gets(&f[1], "User-Id") : NULL;
    if (uid)
        snprintf(s->name, sizeof s->name, "%s", uid);
    else if (!s_frame_str(&f[3], s->name, sizeof s->name))
        snprintf(s->name, sizeof s->name, "?");
    s->last_recv = s->last_send = util_mono_ms();
    strmap_put(self->sessions, rid, rid_len, s);
    log_debug("broker", "session opened for '%s'", s->name);
    out_t *o = &self->out;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_WELCOME);
    s_out_str(o, LGSP_VERSION);
    s_out_num(o, self->cfg->heartbeat_ms);
    s_out_num(o, self->cfg->pub_window);
    s_out_num(o, self->cfg->max_message_bytes);
    s_out_send(self, rid, rid_len);
}

static void s_on_ack_cmd(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    s_on_ack(self, s, f, nf, SETTLE_ACK);
}

static void s_on_nack_cmd(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    s_on_ack(self, s, f, nf, SETTLE_NACK);
}

static void s_on_reject_cmd(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    s_on_ack(self, s, f, nf, SETTLE_REJECT);
}

/* TOUCH: the member still works on these deliveries (a sink retrying an
 * outage); their visibility timeout starts again. */
static void s_on_touch(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    sub_t *sub = s_sub_for(self, s, f, nf, 5);
    if (!sub || !sub->group->state)
        return;
    uint64_t deadline = util_mono_ms() + sub->group->topic->policy->visibility_timeout_ms;
    for (size_t i = 5; i < nf; i++) {
        uint64_t off;
        if (s_frame_u64(&f[i], &off))
            group_touch(sub->group->state, off, sub->id, deadline);
    }
}

static void s_on_bye(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf)
{
    s_session_end(self, s, "BYE");
}

/* The commands of a session, most frequent first (HELLO is handled before a
 * session exists). A NULL handler: accepted, nothing to do. */
static const struct {
    const char *name;
    void (*fn)(broker_t *self, session_t *s, zmq_msg_t *f, size_t nf);
} s_commands[] = {
    { LGSP_CMD_PUB, s_on_pub },
    { LGSP_CMD_ACK, s_on_ack_cmd },
    { LGSP_CMD_CREDIT, s_on_credit },
    { LGSP_CMD_HEARTBEAT, NULL },
    { LGSP_CMD_SUB, s_on_sub },
    { LGSP_CMD_NACK, s_on_nack_cmd },
    { LGSP_CMD_REJECT, s_on_reject_cmd },
    { LGSP_CMD_TOUCH, s_on_touch },
    { LGSP_CMD_UNSUB, s_on_unsub },
    { LGSP_CMD_ADMIN, s_on_admin },
    { LGSP_CMD_BYE, s_on_bye },
};

static void s_on_message(broker_t *self, zmq_msg_t *f, size_t nf)
{
    const void *rid = zmq_msg_data(&f[0]);
    size_t rid_len = zmq_msg_size(&f[0]);
    if (nf < 3 || !s_frame_is(&f[1], LGSP_PROTO_SIGNATURE)) {
        s_error(self, rid, rid_len, LGSP_BAD_VERSION, "this broker speaks LGSP1 (frame 0)", NULL);
        return;
    }
    zmq_msg_t *cmd = &f[2];
    if (s_frame_is(cmd, LGSP_CMD_HELLO)) {
        s_on_hello(self, rid, rid_len, f, nf);
        return;
    }
    session_t *s = strmap_get(self->sessions, rid, rid_len);
    if (!s) {
        if (!s_frame_is(cmd, LGSP_CMD_HEARTBEAT) && !s_frame_is(cmd, LGSP_CMD_BYE))
            s_error(self, rid, rid_len, LGSP_NO_SESSION, "no session: send HELLO first", NULL);
        return;
    }
    s->last_recv = util_mono_ms();
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (s_frame_is(cmd, s_commands[i].name)) {
            if (s_commands[i].fn)
                s_commands[i].fn(self, s, f, nf);
            return;
        }
    s_error(self, rid, rid_len, LGSP_BAD_REQUEST, "unknown command", NULL);
}

/* Reads up to RECV_BURST messages without blocking. */
static void s_read(broker_t *self)
{
    for (int k = 0; k < RECV_BURST; k++) {
        if (batch_count(self->open) >= self->cfg->commit_max_messages
            || batch_bytes(self->open) >= self->cfg->commit_max_bytes)
            return;   /* the batch is full: let the committer catch up */
        size_t nf = 0;
        int more = 1;
        bool overflow = false;
        while (more) {
            zmq_msg_t *m = &self->frames[nf < MAX_FRAMES ? nf : MAX_FRAMES - 1];
            if (nf >= MAX_FRAMES) {
                overflow = true;
                zmq_msg_close(m);
            }
            zmq_msg_init(m);
            if (zmq_msg_recv(m, self->router, nf == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(m);
                if (nf == 0)
                    return;   /* nothing more to read */
                break;
            }
            more = zmq_msg_more(m);
            if (nf < MAX_FRAMES)
                nf++;
        }
        if (overflow)
            s_error(self, zmq_msg_data(&self->frames[0]), zmq_msg_size(&self->frames[0]),
                    LGSP_BAD_REQUEST, "too many frames", NULL);
        else if (nf > 0)
            s_on_message(self, self->frames, nf);
        for (size_t i = 0; i < nf; i++)
            zmq_msg_close(&self->frames[i]);
    }
}

/* ---- after a commit ------------------------------------------------- */

static void s_refresh_topic(broker_t *self, const char *name)
{
    topic_t *t = s_topic(self, name, true);
    uint64_t first = t->st.first;
    journal_topic_stats(self->journal, name, &t->st);
    for (size_t i = 0; i < t->ngroups; i++) {
        cgroup_t *g = t->groups[i];
        g->dirty = true;
        if (g->state && t->st.first > first && group_committed(g->state) < t->st.first)
            group_skip_to(g->state, t->st.first);
    }
}

static void s_answer_pub(broker_t *self, batch_t *b, size_t first, pubreq_t *req)
{
    out_t *o = &self->out;
    topic_t *t = req->topic;
    size_t ok = 0;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_PUBOK);
    s_out_str(o, t->name);
    for (size_t i = first; i < first + req->count; i++) {
        op_t *op = batch_op(b, i);
        if (op->status)
            continue;
        s_out_add(o, op->rec.id, op->rec.id_len);
        s_out_num(o, op->out_offset);
        s_out_str(o, op->out_dup ? "dup" : "new");
        if (op->out_dup)
            t->dups++;
        else {
            t->msgs_in++;
            t->bytes_in += op->rec.payload_len;
        }
        ok++;
    }
    if (ok)
        s_out_send(self, req->rid, req->rid_len);
    else
        s_out_reset(o);
    /* Failures: one PUBERR per distinct status. */
    for (size_t i = first; i < first + req->count; i++) {
        op_t *op = batch_op(b, i);
        if (!op->status || op->status < 0)
            continue;
        int code = op->status;
        s_out_reset(o);
        s_out_str(o, LGSP_CMD_PUBERR);
        s_out_str(o, t->name);
        s_out_num(o, (uint64_t) code);
        s_out_str(o, op->error ? op->error : "journal error");
        size_t n = 0;
        for (size_t j = i; j < first + req->count; j++) {
            op_t *oj = batch_op(b, j);
            if (oj->status == code) {
                s_out_add(o, oj->rec.id, oj->rec.id_len);
                oj->status = -code;   /* answered */
                n++;
            }
        }
        self->rejected[code < 600 ? code : 500] += n;
        s_out_send(self, req->rid, req->rid_len);
    }
    session_t *s = strmap_get(self->sessions, req->rid, req->rid_len);
    if (s)
        s->unanswered = s->unanswered >= req->count ? s->unanswered - req->count : 0;
}

/* ---- adapters' units ------------------------------------------------ */

static void s_render_metrics(broker_t *self);

static void s_unit_enqueue(broker_t *self, ingest_unit_t *u)
{
    batch_t *b = self->open;
    const char *tname = batch_strdup(b, u->topic, strlen(u->topic));
    const char *qname = batch_strdup(b, u->qtopic, strlen(u->qtopic));
    op_t *head = batch_add(b, OP_UNIT);
    head->ctx = u;
    head->count = (uint32_t) u->n + 1;
    head->unit_bytes = u->bytes;
    uint64_t now = util_now_us();
    for (size_t i = 0; i < u->n; i++) {
        ingest_msg_t *m = &u->msgs[i];
        op_t *op = batch_add(b, OP_PUBLISH);   /* ctx NULL: answered through the unit */
        op->topic = m->quarantine ? qname : tname;
        op->rec.time_us = now;
        /* The unit outlives the batch (its owner waits for the result), so
         * its bytes are referenced, not copied. */
        op->rec.id = m->id;             op->rec.id_len = m->id_len;
        op->rec.key = m->key;           op->rec.key_len = m->key_len;
        op->rec.headers = m->headers;   op->rec.headers_len = m->headers_len;
        op->rec.payload = m->payload;   op->rec.payload_len = m->payload_len;
    }
    op_t *st = batch_add(b, OP_STATE);
    st->ctx = u;
    st->topic = batch_strdup(b, u->adapter, strlen(u->adapter));
    st->has_state = u->has_state;
    st->blob = u->state;
    st->blob_len = u->state_len;
}

static bool s_unit_must_wait(broker_t *self, ingest_unit_t *u)
{
    topic_t *t = s_topic(self, u->topic, true);
    return t && t->policy->max_lag && s_lag(t) > t->policy->max_lag;
}

static void s_on_unit(broker_t *self, ingest_unit_t *u)
{
    char why[200] = "";
    if (!util_valid_name(u->topic, strlen(u->topic)) || s_is_dlq(u->topic))
        snprintf(why, sizeof why, "invalid topic name '%s'", u->topic);
    else if (!util_valid_name(u->qtopic, strlen(u->qtopic)) || s_is_dlq(u->qtopic))
        snprintf(why, sizeof why, "invalid quarantine topic name '%s'", u->qtopic);
    else if (!util_valid_name(u->adapter, strlen(u->adapter)))
        snprintf(why, sizeof why, "invalid adapter name '%s'", u->adapter);
    if (why[0]) {
        ingest_unit_finish(u, LGSP_BAD_REQUEST, why, 0, 0, 0);
        return;
    }
    if (self->stopping) {
        ingest_unit_finish(u, LGSP_UNAVAILABLE, "lgspd is stopping", 0, 0, 0);
        return;
    }
    if (self->n_held_units || s_unit_must_wait(self, u)) {
        if (self->n_held_units == self->cap_held_units) {
            size_t ncap = self->cap_held_units ? self->cap_held_units * 2 : 16;
            ingest_unit_t **n = realloc(self->held_units, ncap * sizeof *n);
            if (!n) {
                ingest_unit_finish(u, LGSP_INTERNAL, "out of memory", 0, 0, 0);
                return;
            }
            self->held_units = n;
            self->cap_held_units = ncap;
        }
        self->held_units[self->n_held_units++] = u;
        return;
    }
    s_unit_enqueue(self, u);
}

/* Units wait in arrival order while their topic's consumers lag. */
static void s_release_units(broker_t *self)
{
    size_t k = 0;
    while (k < self->n_held_units) {
        ingest_unit_t *u = self->held_units[k];
        if (self->stopping)
            ingest_unit_finish(u, LGSP_UNAVAILABLE, "lgspd is stopping", 0, 0, 0);
        else if (s_unit_must_wait(self, u))
            break;
        else
            s_unit_enqueue(self, u);
        k++;
    }
    if (k == 0)
        return;
    memmove(self->held_units, self->held_units + k, (self->n_held_units - k) * sizeof *self->held_units);
    self->n_held_units -= k;
}

static void s_read_units(broker_t *self)
{
    for (int i = 0; i < 256; i++) {
        ingest_unit_t *u = NULL;
        if (zmq_recv(self->ingest_pull, &u, sizeof u, ZMQ_DONTWAIT) != sizeof u || !u)
            return;
        s_on_unit(self, u);
    }
}

/* ops (at, end) of a committed unit: the result for its adapter. */
static void s_unit_committed(broker_t *self, batch_t *b, size_t at, size_t end)
{
    op_t *head = batch_op(b, at), *st = batch_op(b, end);
    ingest_unit_t *u = st->ctx;
    if (head->kind != OP_UNIT || head->ctx != u) {   /* cannot happen: ops stay in order */
        log_error("broker", "adapter unit of %s out of order in its batch", u->adapter);
        ingest_unit_finish(u, LGSP_INTERNAL, "internal error: unit out of order", 0, 0, 0);
        return;
    }
    int status = st->status > 0 ? st->status : 0;
    const char *error = st->error;
    uint64_t stored = 0, dups = 0, quarantined = 0, bytes = 0;
    bool q = false;
    for (size_t i = at + 1; i < end; i++) {
        op_t *op = batch_op(b, i);
        if (op->status > 0 && !status) {
            status = op->status;
            error = op->error;
        }
        if (op->status)
            continue;
        if (op->topic[0] && strcmp(op->topic, u->topic) != 0) {
            q = true;
            quarantined += !op->out_dup;
        } else if (op->out_dup)
            dups++;
        else {
            stored++;
            bytes += op->rec.payload_len;
        }
    }
    if (status) {
        self->rejected[status < 600 ? status : 500] += end - at - 1;
        ingest_unit_finish(u, status, error ? error : "journal error", 0, 0, 0);
        return;
    }
    topic_t *t = s_topic(self, u->topic, true);
    t->msgs_in += stored;
    t->bytes_in += bytes;
    t->dups += dups;
    if (u->n)
        s_refresh_topic(self, u->topic);
    if (q) {
        topic_t *qt = s_topic(self, u->qtopic, true);
        qt->msgs_in += quarantined;
        s_refresh_topic(self, u->qtopic);
    }
    ingest_unit_finish(u, 0, NULL, stored, dups, quarantined);
}

int broker_submit(broker_t *self, ingest_unit_t *unit)
{
    pthread_mutex_lock(&self->ingest_mu);
    int rc = -1;
    if (!self->ingest_closed)
        rc = zmq_send(self->ingest_push, &unit, sizeof unit, 0) == sizeof unit ? 0 : -1;
    pthread_mutex_unlock(&self->ingest_mu);
    if (rc < 0) {
        unit->status = LGSP_UNAVAILABLE;
        snprintf(unit->error, sizeof unit->error, "lgspd is stopping");
    }
    return rc;
}

static int s_sink_submit(void *arg, ingest_unit_t *u) { return broker_submit(arg, u); }

static int s_sink_state(void *arg, const char *adapter, void **state, size_t *len)
{
    broker_t *self = arg;
    return journal_state_get(self->journal, adapter, state, len);
}

ingest_sink_t broker_ingest_sink(broker_t *self)
{
    return (ingest_sink_t) { .submit = s_sink_submit, .state_get = s_sink_state, .arg = self };
}

void broker_set_hooks(broker_t *self, const broker_hooks_t *hooks)
{
    self->hooks = *hooks;
    s_render_metrics(self);   /* before broker_run: the broker thread is not running yet */
}

int broker_add_internal_client(broker_t *self, const char *name, char public_z85[41],
                               char secret_z85[41], char server_z85[41])
{
    server_z85[0] = 0;
    if (self->cfg->security_mode != SECURITY_CURVE)
        return 0;
    if (zmq_curve_keypair(public_z85, secret_z85) != 0
        || zmq_curve_public(server_z85, self->cfg->server_secret_key) != 0)
        return -1;
    return auth_add_internal(self->auth, public_z85, name);
}

/* Finishes every unit still on its way: after this nothing is pending. */
static void s_close_ingest(broker_t *self)
{
    pthread_mutex_lock(&self->ingest_mu);
    self->ingest_closed = true;
    pthread_mutex_unlock(&self->ingest_mu);
    ingest_unit_t *u = NULL;
    while (zmq_recv(self->ingest_pull, &u, sizeof u, ZMQ_DONTWAIT) == sizeof u)
        if (u)
            ingest_unit_finish(u, LGSP_UNAVAILABLE, "lgspd is stopping", 0, 0, 0);
    for (size_t i = 0; i < self->n_held_units; i++)
        ingest_unit_finish(self->held_units[i], LGSP_UNAVAILABLE, "lgspd is stopping", 0, 0, 0);
    self->n_held_units = 0;
}

static void s_group_opened(broker_t *self, op_t *op)
{
    cgroup_t *g = op->ctx;
    topic_t *t = g->topic;
    subreq_t *w = g->waiting;
    g->waiting = NULL;
    if (op->status == 0) {
        g->gid = op->out_gid;
        g->persisted = op->out_offset;
        g->state = group_new(op->out_offset, t->policy->max_attempts, GROUP_WINDOW);
        log_info("broker", "group %s of %s created at offset %" PRIu64, g->name, t->name, op->out_offset);
    }
    while (w) {
        subreq_t *next = w->next;
        session_t *s = strmap_get(self->sessions, w->rid, w->rid_len);
        if (s && g->state)
            s_join(self, s, g, w->credit);
        else if (s)
            s_error(self, w->rid, w->rid_len, op->status ? op->status : LGSP_INTERNAL,
                    op->error ? op->error : "cannot create the group", t->name, g->name, NULL);
        free(w);
        w = next;
    }
    if (!g->state) {   /* forget it; a later SUB tries again */
        for (size_t i = 0; i < t->ngroups; i++)
            if (t->groups[i] == g) {
                memmove(&t->groups[i], &t->groups[i + 1], (t->ngroups - i - 1) * sizeof *t->groups);
                t->ngroups--;
                break;
            }
        free(g->members);
        free(g->name);
        free(g);
    }
}

static void s_on_committed(broker_t *self, batch_t *b)
{
    size_t n = batch_count(b);
    const char *last_topic = NULL;
    for (size_t i = 0; i < n; i++) {
        op_t *op = batch_op(b, i);
        if (op->status > 0 && op->status != LGSP_BAD_REQUEST && op->status != LGSP_NOT_FOUND) {
            self->commit_errors++;
            snprintf(self->last_commit_error, sizeof self->last_commit_error, "%s",
                     op->error ? op->error : "?");
            self->last_commit_error_ms = util_mono_ms();
            /* Whatever failed (disk full, I/O) will not heal in a
             * microsecond: do not spin on it. */
            self->retry_after = util_mono_ms() + 100;
        }
        switch (op->kind) {
        case OP_PUBLISH: {
            pubreq_t *req = op->ctx;
            if (req && i == req->first) {
                s_answer_pub(self, b, i, req);
                if (op->topic != last_topic) {
                    s_refresh_topic(self, op->topic);
                    last_topic = op->topic;
                }
            }
            break;
        }
        case OP_UNIT:
            self->unit_at = i;
            break;
        case OP_STATE:
            s_unit_committed(self, b, self->unit_at, i);
            break;
        case OP_GROUP_OPEN:
            s_group_opened(self, op);
            break;
        case OP_GROUP_COMMIT:
            if (op->status) {
                topic_t *t = s_topic(self, op->topic, false);
                cgroup_t *g = t ? s_group_find(t, op->group) : NULL;
                if (g)
                    g->persisted = UINT64_MAX;   /* write it again */
            }
            break;
        case OP_DEAD_LETTER: {
            char dname[LGSP_MAX_NAME + 8];
            snprintf(dname, sizeof dname, "%s" DLQ_SUFFIX, op->topic);
            s_refresh_topic(self, dname);
            break;
        }
        case OP_DLQ_REPLAY:
        case OP_DLQ_PURGE: {
            adminreq_t *a = op->ctx;
            char dname[LGSP_MAX_NAME + 8];
            snprintf(dname, sizeof dname, "%s" DLQ_SUFFIX, op->topic);
            s_refresh_topic(self, dname);
            s_refresh_topic(self, op->topic);
            if (op->status)
                s_error(self, a->rid, a->rid_len, op->status, op->error ? op->error : "failed", a->reqid, NULL);
            else
                s_adminok(self, a->rid, a->rid_len, a->reqid, json_pack("{s:I}", a->verb, (json_int_t) op->out_count));
            break;
        }
        case OP_TRIM:
            if (op->out_count) {
                log_info("broker", "retention removed %" PRIu64 " messages of %s", op->out_count, op->topic);
                s_refresh_topic(self, op->topic);
            }
            break;
        default:
            break;
        }
    }
}

/* ---- dispatch ------------------------------------------------------- */

typedef struct {
    journal_record_t rec;
    uint32_t attempt;
} delivery_t;

static void s_send_msg(broker_t *self, sub_t *m, delivery_t *d, size_t n)
{
    out_t *o = &self->out;
    cgroup_t *g = m->group;
    s_out_reset(o);
    s_out_str(o, LGSP_CMD_MSG);
    s_out_str(o, g->topic->name);
    s_out_str(o, g->name);
    for (size_t i = 0; i < n; i++) {
        s_out_num(o, d[i].rec.offset);
        s_out_num(o, d[i].attempt);
        s_out_num(o, d[i].rec.time_us);
        s_out_add(o, d[i].rec.id, d[i].rec.id_len);
        s_out_add(o, d[i].rec.key, d[i].rec.key_len);
        s_out_add(o, d[i].rec.headers, d[i].rec.headers_len);
        s_out_add(o, d[i].rec.payload, d[i].rec.payload_len);
    }
    s_out_send(self, m->session->rid, m->session->rid_len);
}

/* Fills up to `max` deliveries for member m from group g. Returns how many;
 * *more false when the group has nothing more to give now. */
static size_t s_fill(broker_t *self, cgroup_t *g, sub_t *m, delivery_t *d, size_t max, bool *more)
{
    topic_t *t = g->topic;
    size_t n = 0, glen = strlen(g->name);
    uint64_t deadline = util_mono_ms() + t->policy->visibility_timeout_ms;
    group_candidate_t c;
    *more = true;
    while (n < max) {
        if (!group_next(g->state, t->st.next, &c)) {
            *more = false;
            break;
        }
        journal_record_t r;
        int rc = journal_read_from(self->reader, t->name, c.offset, &r);
        if (rc == LGSP_NOT_FOUND || (rc == 0 && r.offset != c.offset)) {
            /* Gone (retention, dead-letter replay or purge) or a gap. */
            if (c.from_cursor)
                group_gap(g->state, c.offset, rc == 0 ? r.offset : t->st.next);
            else
                group_skip(g->state, &c);
            continue;
        }
        if (rc) {
            *more = false;
            break;
        }
        if (r.target_len && (r.target_len != glen || memcmp(r.target, g->name, glen) != 0)) {
            group_skip(g->state, &c);   /* replayed for another group */
            continue;
        }
        uint64_t kh = r.key_len ? util_hash(r.key, r.key_len) : 0;
        if (c.from_cursor && group_key_busy(g->state, kh)) {
            group_park(g->state, &c, kh);
            continue;
        }
        uint32_t attempt = group_deliver(g->state, &c, kh, m->id, deadline);
        if (attempt >= 2) {
            op_t *op = batch_add(self->open, OP_PENDING);
            op->gid = g->gid;
            op->offset = c.offset;
            op->attempts = attempt;
        }
        d[n].rec = r;
        d[n].attempt = attempt;
        n++;
    }
    return n;
}

static void s_dispatch_group(broker_t *self, cgroup_t *g, delivery_t *d)
{
    if (!g->state || !g->nmembers)
        return;
    bool reading = false, more = true;
    for (size_t k = 0; k < g->nmembers && more; k++) {
        sub_t *m = g->members[(g->rr + k) % g->nmembers];
        while (m->credit > 0 && more) {
            if (!reading) {
                journal_reader_begin(self->reader);
                reading = true;
            }
            size_t max = m->credit < MSG_BATCH ? (size_t) m->credit : MSG_BATCH;
            size_t n = s_fill(self, g, m, d, max, &more);
            if (n) {
                s_send_msg(self, m, d, n);
                m->credit -= n;
                g->delivered += n;
            }
            if (n < max)
                break;
        }
    }
    if (g->nmembers)
        g->rr = (g->rr + 1) % g->nmembers;
    if (reading)
        journal_reader_end(self->reader);
}

static void s_dispatch(broker_t *self)
{
    static delivery_t d[MSG_BATCH];
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        for (size_t i = 0; i < t->ngroups; i++) {
            cgroup_t *g = t->groups[i];
            if (!g->dirty)
                continue;
            s_dispatch_group(self, g, d);
            s_collect_dead(self, g);
        }
        if (t->held)
            s_release_held(self, t);
    }
}

/* Adds offset commits of groups that moved (and clears dirty flags). */
static void s_add_group_commits(broker_t *self)
{
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        for (size_t i = 0; i < t->ngroups; i++) {
            cgroup_t *g = t->groups[i];
            g->dirty = false;
            if (!g->state || group_committed(g->state) == g->persisted)
                continue;
            op_t *op = batch_add(self->open, OP_GROUP_COMMIT);
            op->topic = batch_strdup(self->open, t->name, strlen(t->name));
            op->group = batch_strdup(self->open, g->name, strlen(g->name));
            op->gid = g->gid;
            op->offset = group_committed(g->state);
            g->persisted = op->offset;
        }
    }
}

static void s_add_retention(broker_t *self)
{
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        const topic_policy_t *p = t->policy;
        if ((!p->retention_max_age_ms && !p->retention_max_bytes) || t->st.count == 0)
            continue;
        uint64_t keep = UINT64_MAX;
        if (p->retention_protect_unacked)
            for (size_t i = 0; i < t->ngroups; i++) {
                cgroup_t *g = t->groups[i];
                uint64_t c = g->state ? g->persisted : 0;   /* what the journal holds */
                if (c < keep)
                    keep = c;
            }
        op_t *op = batch_add(self->open, OP_TRIM);
        op->topic = batch_strdup(self->open, t->name, strlen(t->name));
        op->max_age_us = p->retention_max_age_ms * 1000;
        op->max_bytes = p->retention_max_bytes;
        op->keep_from = keep;
    }
}

static void s_submit(broker_t *self)
{
    if (!committer_idle(self->committer) || util_mono_ms() < self->retry_after)
        return;
    s_add_group_commits(self);
    if (batch_count(self->open) == 0)
        return;
    if (committer_submit(self->committer, self->open) == 0) {
        self->open = self->spare;
        self->spare = NULL;
    }
}

/* ---- timers --------------------------------------------------------- */

static void s_tick(broker_t *self, uint64_t now)
{
    size_t pos = 0;
    void *v;
    if (self->n_held_units)
        s_release_units(self);
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        for (size_t i = 0; i < t->ngroups; i++) {
            cgroup_t *g = t->groups[i];
            if (g->state && group_in_flight(g->state) && group_expire(g->state, now)) {
                g->dirty = true;
                s_collect_dead(self, g);
            }
        }
    }
    /* Heartbeats to quiet sessions; sessions silent too long end. */
    uint64_t hb = self->cfg->heartbeat_ms;
    pos = 0;
    const void *k;
    size_t kl;
    session_t *dead[64];
    size_t ndead = 0;
    while (strmap_next(self->sessions, &pos, &k, &kl, &v)) {
        session_t *s = v;
        if (now > s->last_recv && now - s->last_recv > hb * LGSP_LIVENESS) {
            if (ndead < 64)
                dead[ndead++] = s;
            continue;
        }
        if (now > s->last_send && now - s->last_send >= hb) {
            s_out_reset(&self->out);
            s_out_str(&self->out, LGSP_CMD_HEARTBEAT);
            s_out_send(self, s->rid, s->rid_len);
        }
    }
    for (size_t i = 0; i < ndead; i++) {
        log_info("broker", "session of '%s' ended: no heartbeat for %" PRIu64 " ms", dead[i]->name,
                 hb * LGSP_LIVENESS);
        self->sessions_ended_by_silence++;
        s_session_end(self, dead[i], "heartbeat silence");
    }
}

static void s_render_metrics(broker_t *self)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    size_t pos;
    void *v;

    /* Per-topic families: name, type, help, and which figure. */
    static const struct { const char *name, *type, *help; int what; } tm[] = {
        { "lgsp_messages_in_total", "counter", "Messages stored by publishes, per topic.", 0 },
        { "lgsp_bytes_in_total", "counter", "Payload bytes stored by publishes, per topic.", 1 },
        { "lgsp_duplicate_publishes_total", "counter", "Publishes whose message id was already stored.", 2 },
        { "lgsp_topic_messages", "gauge", "Messages retained in the journal, per topic.", 3 },
        { "lgsp_topic_bytes", "gauge", "Record bytes retained in the journal, per topic.", 4 },
    };
    for (size_t f = 0; f < sizeof tm / sizeof tm[0]; f++) {
        metrics_family(&b, tm[f].name, tm[f].type, tm[f].help);
        pos = 0;
        while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
            topic_t *t = v;
            uint64_t val = tm[f].what == 0 ? t->msgs_in : tm[f].what == 1 ? t->bytes_in
                         : tm[f].what == 2 ? t->dups : tm[f].what == 3 ? t->st.count : t->st.bytes;
            metrics_sample(&b, tm[f].name, (const char *[]) { "topic", t->name, NULL }, (double) val);
        }
    }
    const char *gm[][3] = {
        { "lgsp_messages_out_total", "counter", "Deliveries to consumers, per topic and group." },
        { "lgsp_acks_total", "counter", "Acknowledged messages, per topic and group." },
        { "lgsp_consumer_lag", "gauge", "Messages not yet acknowledged by the group (next - committed)." },
        { "lgsp_in_flight", "gauge", "Messages delivered and not yet acknowledged." },
        { "lgsp_dead_letters_total", "counter", "Messages moved to the dead-letter topic." },
    };
    for (int f = 0; f < 5; f++) {
        metrics_family(&b, gm[f][0], gm[f][1], gm[f][2]);
        pos = 0;
        while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
            topic_t *t = v;
            for (size_t i = 0; i < t->ngroups; i++) {
                cgroup_t *g = t->groups[i];
                if (!g->state)
                    continue;
                uint64_t c = group_committed(g->state);
                double val = f == 0 ? (double) g->delivered : f == 1 ? (double) g->acked
                           : f == 2 ? (double) (t->st.next > c ? t->st.next - c : 0)
                           : f == 3 ? (double) group_in_flight(g->state) : (double) g->dead;
                metrics_sample(&b, gm[f][0], (const char *[]) { "topic", t->name, "group", g->name, NULL }, val);
            }
        }
    }
    uint64_t file, used, map;
    journal_usage(self->journal, &file, &used, &map);
    metrics_family(&b, "lgsp_journal_file_bytes", "gauge", "Size of the journal's data file.");
    metrics_sample(&b, "lgsp_journal_file_bytes", NULL, (double) file);
    metrics_family(&b, "lgsp_journal_used_bytes", "gauge", "Highest page in use in the LMDB map.");
    metrics_sample(&b, "lgsp_journal_used_bytes", NULL, (double) used);
    metrics_family(&b, "lgsp_journal_map_bytes", "gauge", "The LMDB map size (the journal's limit).");
    metrics_sample(&b, "lgsp_journal_map_bytes", NULL, (double) map);
    committer_stats_t *cs = committer_stats(self->committer);
    metrics_hist_render(&b, "lgsp_commit_seconds", "Durable (fsync'ed) journal commit latency.", &cs->commit_latency);
    metrics_family(&b, "lgsp_commits_total", "counter", "Journal commits.");
    metrics_sample(&b, "lgsp_commits_total", NULL, (double) atomic_load(&cs->commits));
    metrics_family(&b, "lgsp_commit_failures_total", "counter", "Journal commits that failed (full, I/O).");
    metrics_sample(&b, "lgsp_commit_failures_total", NULL, (double) atomic_load(&cs->failed_commits));
    metrics_family(&b, "lgsp_denied_total", "counter", "Refused attempts, by kind.");
    metrics_sample(&b, "lgsp_denied_total", (const char *[]) { "kind", "curve_key", NULL },
                   self->auth ? (double) auth_denied(self->auth) : 0.0);
    metrics_sample(&b, "lgsp_denied_total", (const char *[]) { "kind", "publish", NULL }, (double) self->denied_publish);
    metrics_sample(&b, "lgsp_denied_total", (const char *[]) { "kind", "subscribe", NULL }, (double) self->denied_subscribe);
    metrics_sample(&b, "lgsp_denied_total", (const char *[]) { "kind", "admin", NULL }, (double) self->denied_admin);
    metrics_family(&b, "lgsp_rejected_total", "counter", "Publishes and commands answered with an error, by code.");
    for (int code = 400; code < 600; code++)
        if (self->rejected[code]) {
            char c[8];
            snprintf(c, sizeof c, "%d", code);
            metrics_sample(&b, "lgsp_rejected_total", (const char *[]) { "code", c, NULL }, (double) self->rejected[code]);
        }
    metrics_family(&b, "lgsp_sessions", "gauge", "Open client sessions.");
    metrics_sample(&b, "lgsp_sessions", NULL, (double) strmap_size(self->sessions));
    metrics_family(&b, "lgsp_held_publish_bytes", "gauge", "Bytes of publishes held back by backpressure.");
    metrics_sample(&b, "lgsp_held_publish_bytes", NULL, (double) self->held_bytes);
    if (self->hooks.metrics)
        self->hooks.metrics(self->hooks.arg, &b);
    http_server_set_metrics(self->http, b.data, b.len);
    metrics_buf_free(&b);

    /* Health: degraded while commits fail; draining on shutdown. */
    bool failing = self->last_commit_error_ms && util_mono_ms() - self->last_commit_error_ms < 10000;
    json_t *h = json_pack("{s:s, s:s, s:I, s:I, s:s}",
        "status", self->stopping ? "draining" : failing ? "degraded" : "ok",
        "version", LGSP_VERSION,
        "uptime_s", (json_int_t) ((util_mono_ms() - self->started_ms) / 1000),
        "sessions", (json_int_t) strmap_size(self->sessions),
        "last_commit_error", failing ? self->last_commit_error : "");
    if (self->hooks.health && !self->hooks.health(self->hooks.arg, h) && !self->stopping && !failing)
        json_object_set_new(h, "status", json_string("degraded"));
    char *hs = json_dumps(h, JSON_COMPACT);
    http_server_set_health(self->http, self->stopping ? 503 : 200, hs);
    free(hs);
    json_decref(h);
}

/* ---- configuration reload ------------------------------------------- */

static void s_reload(broker_t *self)
{
    char *err = NULL;
    config_t *fresh = config_load(self->cfg->path, &err);
    if (!fresh) {
        log_error("broker", "reload refused, keeping the running configuration: %s", err);
        free(err);
        return;
    }
    char *restart = config_reload_check(self->cfg, fresh);
    if (restart) {
        log_warn("broker", "reload: these settings change only after a restart: %s", restart);
        free(restart);
    }
    /* Move the reloadable settings into the running configuration; what
     * only a restart may change stays as it is running (swap, so that
     * destroying `fresh` frees the old values). */
    config_t *run = self->cfg;
#define SWAP(field) do { __typeof__(run->field) t_ = run->field; run->field = fresh->field; fresh->field = t_; } while (0)
    SWAP(log_level);
    SWAP(heartbeat_ms);
    SWAP(pub_window);
    SWAP(max_message_bytes);
    SWAP(max_held_bytes);
    SWAP(retention_interval_ms);
    SWAP(clients);
    SWAP(n_clients);
    SWAP(admins);
    SWAP(n_admins);
    SWAP(topic_defaults);
    SWAP(topics);
    SWAP(n_topics);
#undef SWAP
    log_set_level(run->log_level);
    if (self->auth)
        auth_set_clients(self->auth, run);
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        t->policy = config_topic_policy(run, t->name);
        for (size_t i = 0; i < t->ngroups; i++)
            if (t->groups[i]->state)
                group_set_max_attempts(t->groups[i]->state, t->policy->max_attempts);
    }
    config_destroy(&fresh);
    log_info("broker", "configuration reloaded from %s", run->path);
}

/* ---- setup ---------------------------------------------------------- */

static void s_load_group(void *arg, const char *topic, const char *group, uint32_t gid, uint64_t committed)
{
    broker_t *self = arg;
    topic_t *t = s_topic(self, topic, true);
    cgroup_t *g = s_group_add(t, group);
    g->gid = gid;
    g->persisted = committed;
    if (committed < t->st.first)
        committed = t->st.first;
    g->state = group_new(committed, t->policy->max_attempts, GROUP_WINDOW);
}

static void s_restore_one(void *arg, uint64_t offset, uint32_t attempts, bool acked, const char *reason)
{
    group_restore(arg, offset, attempts, acked, reason);
}

static void s_load_topic(void *arg, const char *name, const journal_topic_stats_t *st)
{
    s_topic(arg, name, true);
}

broker_t *broker_new(config_t *cfg, journal_t *journal, char **err)
{
    broker_t *self = calloc(1, sizeof *self);
    char buf[512];
    self->cfg = cfg;
    self->journal = journal;
    self->sessions = strmap_new();
    self->topics = strmap_new();
    self->open = batch_new();
    self->spare = batch_new();
    self->ctx = zmq_ctx_new();
    self->reader = journal_reader_new(journal);
    self->started_ms = util_mono_ms();
    self->started_us = util_now_us();
    pthread_mutex_init(&self->ingest_mu, NULL);
    {
        char ep[64];
        int zero = 0;
        snprintf(ep, sizeof ep, "inproc://lgsp-ingest-%p", (void *) self);
        self->ingest_pull = zmq_socket(self->ctx, ZMQ_PULL);
        self->ingest_push = zmq_socket(self->ctx, ZMQ_PUSH);
        /* No high-water mark: a unit's owner waits for it, so at most one
         * unit per adapter thread (or webhook request) is ever queued. */
        zmq_setsockopt(self->ingest_pull, ZMQ_RCVHWM, &zero, sizeof zero);
        zmq_setsockopt(self->ingest_push, ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt(self->ingest_push, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind(self->ingest_pull, ep) < 0 || zmq_connect(self->ingest_push, ep) < 0) {
            snprintf(buf, sizeof buf, "cannot set up the adapters' ingest socket: %s", zmq_strerror(errno));
            goto fail;
        }
    }
    if (!self->reader) {
        snprintf(buf, sizeof buf, "journal: cannot start a reader");
        goto fail;
    }
    self->committer = committer_new(journal, self->ctx, err);
    if (!self->committer)
        goto fail_quiet;
    if (cfg->security_mode == SECURITY_CURVE) {
        self->auth = auth_new(self->ctx, cfg, err);
        if (!self->auth)
            goto fail_quiet;
    }
    self->router = zmq_socket(self->ctx, ZMQ_ROUTER);
    int zero = 0, one = 1, rcvhwm = 100000;
    int64_t maxmsg = (int64_t) cfg->max_message_bytes * 2 + (1 << 20);
    zmq_setsockopt(self->router, ZMQ_SNDHWM, &zero, sizeof zero);  /* credit bounds what we send */
    zmq_setsockopt(self->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(self->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (cfg->security_mode == SECURITY_CURVE) {
        zmq_setsockopt(self->router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, cfg->server_secret_key, 40);
        zmq_setsockopt(self->router, ZMQ_ZAP_DOMAIN, "lgsp", 4);
    }
    if (zmq_bind(self->router, cfg->bus_endpoint) != 0) {
        snprintf(buf, sizeof buf, "cannot bind the bus endpoint %s: %s", cfg->bus_endpoint, zmq_strerror(errno));
        goto fail;
    }
    size_t elen = sizeof self->endpoint;
    zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &elen);
    self->http = http_server_new(cfg->http_listen, err);
    if (!self->http)
        goto fail_quiet;
    /* What the journal holds: topics, groups and their pending state. */
    journal_each_topic(journal, s_load_topic, self);
    journal_reader_begin(self->reader);
    journal_each_group(self->reader, s_load_group, self);
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
        topic_t *t = v;
        for (size_t i = 0; i < t->ngroups; i++)
            journal_each_pending(self->reader, t->groups[i]->gid, s_restore_one, t->groups[i]->state);
    }
    journal_reader_end(self->reader);
    s_render_metrics(self);
    return self;
fail:
    if (err)
        *err = strdup(buf);
fail_quiet:
    self->cfg = NULL;   /* the caller still owns it on failure */
    broker_destroy(&self);
    return NULL;
}

int broker_http_port(const broker_t *self) { return http_server_port(self->http); }
const char *broker_endpoint(const broker_t *self) { return self->endpoint; }

/* ---- the loop ------------------------------------------------------- */

static void s_collect(broker_t *self)
{
    batch_t *b = committer_collect(self->committer);
    if (!b)
        return;
    s_on_committed(self, b);
    batch_reset(b);
    self->spare = b;
}

static void s_persist_outstanding(void *arg, uint64_t offset, uint32_t attempts, bool acked, const char *reason)
{
    void **a = arg;
    broker_t *self = a[0];
    cgroup_t *g = a[1];
    op_t *op = batch_add(self->open, OP_PENDING);
    op->gid = g->gid;
    op->offset = offset;
    op->attempts = attempts;
    op->acked = acked;
    op->reason = reason ? batch_strdup(self->open, reason, strlen(reason)) : NULL;
}

/* Shutdown: answer and commit everything in progress. */
static void s_drain(broker_t *self)
{
    self->stopping = true;
    if (self->hooks.stopping)
        self->hooks.stopping(self->hooks.arg);
    size_t pos = 0;
    void *v;
    while (strmap_next(self->topics, &pos, NULL, NULL, &v))
        s_release_held(self, v);
    s_release_units(self);
    /* Wait for the batch in the committer, then commit the open one with
     * the groups' exact state so a restart resumes precisely. */
    for (int round = 0; round < 2; round++) {
        while (!committer_idle(self->committer)) {
            zmq_pollitem_t it = { committer_socket(self->committer), 0, ZMQ_POLLIN, 0 };
            zmq_poll(&it, 1, 1000);
            s_collect(self);
        }
        if (round == 0) {
            pos = 0;
            while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
                topic_t *t = v;
                for (size_t i = 0; i < t->ngroups; i++) {
                    cgroup_t *g = t->groups[i];
                    s_collect_dead(self, g);
                    void *a[2] = { self, g };
                    if (g->state)
                        group_each_outstanding(g->state, s_persist_outstanding, a);
                }
            }
            s_submit(self);
        }
    }
}

int broker_run(broker_t *self, int signal_fd)
{
    log_info("broker", "lgspd %s ready on %s (http 127.0.0.1:%d, %s mode)", LGSP_VERSION, self->endpoint,
             http_server_port(self->http), self->cfg->security_mode == SECURITY_CURVE ? "curve" : "plain");
    uint64_t now = util_mono_ms();
    self->next_tick = now + TICK_MS;
    self->next_second = now + 1000;
    self->next_retention = now + self->cfg->retention_interval_ms;
    for (;;) {
        bool full = batch_count(self->open) >= self->cfg->commit_max_messages
                 || batch_bytes(self->open) >= self->cfg->commit_max_bytes;
        zmq_pollitem_t items[4] = {
            { committer_socket(self->committer), 0, ZMQ_POLLIN, 0 },
            { NULL, signal_fd, ZMQ_POLLIN, 0 },
            { self->router, 0, ZMQ_POLLIN, 0 },
            { self->ingest_pull, 0, ZMQ_POLLIN, 0 },
        };
        now = util_mono_ms();
        long timeout = self->next_tick > now ? (long) (self->next_tick - now) : 0;
        /* With a full batch, leave the socket alone: ZeroMQ's queue and the
         * publishers' windows hold the rest (backpressure). */
        if (zmq_poll(items, full ? 2 : 4, timeout) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo si;
            if (read(signal_fd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGHUP)
                    s_reload(self);
                else {
                    log_info("broker", "signal %u: draining and stopping", si.ssi_signo);
                    break;
                }
            }
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_collect(self);
        if (!full && (items[2].revents & ZMQ_POLLIN))
            s_read(self);
        if (!full && (items[3].revents & ZMQ_POLLIN))
            s_read_units(self);
        now = util_mono_ms();
        if (now >= self->next_tick) {
            s_tick(self, now);
            self->next_tick = now + TICK_MS;
        }
        if (now >= self->next_retention) {
            s_add_retention(self);
            self->next_retention = now + self->cfg->retention_interval_ms;
        }
        s_dispatch(self);
        s_submit(self);
        if (now >= self->next_second) {
            s_render_metrics(self);
            self->next_second = now + 1000;
        }
    }
    s_drain(self);
    s_close_ingest(self);
    s_render_metrics(self);
    log_info("broker", "stopped");
    return 0;
}

void broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    if (self->sessions) {
        size_t pos = 0;
        void *v;
        while (strmap_next(self->sessions, &pos, NULL, NULL, &v)) {
            session_t *s = v;
            for (size_t i = 0; i < s->nsubs; i++)
                free(s->subs[i]);
            free(s->subs);
            free(s);
        }
        strmap_destroy(&self->sessions);
    }
    if (self->topics) {
        size_t pos = 0;
        void *v;
        while (strmap_next(self->topics, &pos, NULL, NULL, &v)) {
            topic_t *t = v;
            for (size_t i = 0; i < t->ngroups; i++) {
                cgroup_t *g = t->groups[i];
                group_destroy(&g->state);
                for (subreq_t *w = g->waiting, *n; w; w = n) {
                    n = w->next;
                    free(w);
                }
                free(g->members);
                free(g->name);
                free(g);
            }
            for (held_t *h = t->held, *n; h; h = n) {
                n = h->next;
                for (size_t i = 0; i < h->nframes; i++)
                    zmq_msg_close(&h->frames[i]);
                free(h->frames);
                free(h);
            }
            free(t->groups);
            free(t->name);
            free(t);
        }
        strmap_destroy(&self->topics);
    }
    committer_destroy(&self->committer);
    http_server_destroy(&self->http);
    if (self->router)
        zmq_close(self->router);
    if (self->ingest_pull) {
        s_close_ingest(self);
        zmq_close(self->ingest_pull);
        zmq_close(self->ingest_push);
    }
    free(self->held_units);
    pthread_mutex_destroy(&self->ingest_mu);
    auth_destroy(&self->auth);
    journal_reader_destroy(&self->reader);
    batch_destroy(&self->open);
    batch_destroy(&self->spare);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    free(self->out.ptr);
    free(self->out.len);
    free(self->out.numat);
    free(self->out.nums);
    config_destroy(&self->cfg);
    free(self);
    *self_p = NULL;
}
