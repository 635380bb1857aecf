/* auth.c — ZAP handler for CurveZMQ (see auth.h; ZAP is ZeroMQ RFC 27). */
#include "auth.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "util.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct auth {
    void            *ctx;
    void            *stop_push;     /* tells the thread to stop */
    void            *rep;           /* bound here, used only by the thread */
    pthread_t        thread;
    pthread_mutex_t  lock;
    strmap_t        *names;         /* Z85 key -> strdup'ed client name */
    strmap_t        *internal;      /* keys of lgspd's own clients (sink adapters) */
    _Atomic uint64_t denied;
    char             stop_ep[64];
};

static void s_clear(strmap_t *m)
{
    size_t pos = 0;
    void *v;
    while (strmap_next(m, &pos, NULL, NULL, &v))
        free(v);
}

void auth_set_clients(auth_t *self, const config_t *cfg)
{
    strmap_t *m = strmap_new();
    for (size_t i = 0; m && i < cfg->n_clients; i++)
        strmap_put(m, cfg->clients[i].public_key, strlen(cfg->clients[i].public_key),
                   strdup(cfg->clients[i].name));
    pthread_mutex_lock(&self->lock);
    strmap_t *old = self->names;
    self->names = m;
    pthread_mutex_unlock(&self->lock);
    if (old) {
        s_clear(old);
        strmap_destroy(&old);
    }
}

uint64_t auth_denied(const auth_t *self) { return atomic_load(&self->denied); }

static void s_reply(void *rep, const zmq_msg_t *reqid, const char *status, const char *text,
                    const char *user)
{
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, zmq_msg_data((zmq_msg_t *) reqid), zmq_msg_size((zmq_msg_t *) reqid), ZMQ_SNDMORE);
    zmq_send(rep, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
}

static void *s_thread(void *arg)
{
    auth_t *self = arg;
    void *rep = self->rep;
    void *stop = zmq_socket(self->ctx, ZMQ_PULL);
    zmq_connect(stop, self->stop_ep);
    zmq_pollitem_t items[] = { { rep, 0, ZMQ_POLLIN, 0 }, { stop, 0, ZMQ_POLLIN, 0 } };
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0)
            continue;
        if (items[1].revents)
            break;
        if (!items[0].revents)
            continue;
        /* version, request id, domain, address, identity, mechanism, credentials... */
        zmq_msg_t f[8];
        int n = 0;
        int more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, rep, 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            if (n < 8)
                f[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (n < 6) {
            for (int i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            continue;   /* REP needs an answer only to a whole request; ZeroMQ resets it */
        }
        char name[256] = "";
        bool ok = false;
        size_t mlen = zmq_msg_size(&f[5]);
        if (mlen == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 && n >= 7
            && zmq_msg_size(&f[6]) == 32) {
            char z85[41];
            zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
            pthread_mutex_lock(&self->lock);
            const char *who = self->names ? strmap_get(self->names, z85, 40) : NULL;
            if (!who && self->internal)
                who = strmap_get(self->internal, z85, 40);
            if (who) {
                snprintf(name, sizeof name, "%s", who);
                ok = true;
            }
            pthread_mutex_unlock(&self->lock);
            if (!ok) {
                atomic_fetch_add(&self->denied, 1);
                char addr[64];
                size_t al = zmq_msg_size(&f[3]) < 63 ? zmq_msg_size(&f[3]) : 63;
                memcpy(addr, zmq_msg_data(&f[3]), al);
                addr[al] = 0;
                log_warn("auth", "refused an unknown Curve key %.8s... from %s", z85, addr);
            }
        } else {
            atomic_fetch_add(&self->denied, 1);
            log_warn("auth", "refused a %.*s handshake: only CURVE is accepted",
                     (int) (mlen < 16 ? mlen : 16), (char *) zmq_msg_data(&f[5]));
        }
        s_reply(rep, &f[1], ok ? "200" : "400", ok ? "OK" : "unknown key", name);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    zmq_close(rep);
    zmq_close(stop);
    return NULL;
}

auth_t *auth_new(void *zmq_ctx, const config_t *cfg, char **err)
{
    auth_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = zmq_ctx;
    pthread_mutex_init(&self->lock, NULL);
    auth_set_clients(self, cfg);
    snprintf(self->stop_ep, sizeof self->stop_ep, "inproc://lgsp-auth-stop-%p", (void *) self);
    self->stop_push = zmq_socket(zmq_ctx, ZMQ_PUSH);
    zmq_bind(self->stop_push, self->stop_ep);
    /* The handler must be bound before a Curve socket binds: ZeroMQ only
     * consults ZAP if the endpoint exists. Bind here, in the caller's
     * thread; pthread_create is the barrier that hands the socket over. */
    self->rep = zmq_socket(zmq_ctx, ZMQ_REP);
    if (!self->rep || zmq_bind(self->rep, ZAP_ENDPOINT) != 0
        || pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        if (err)
            *err = strdup("auth: cannot start the ZAP handler");
        if (self->rep)
            zmq_close(self->rep);
        zmq_close(self->stop_push);
        free(self);
        return NULL;
    }
    return self;
}

void auth_destroy(auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_t *self = *self_p;
    zmq_send(self->stop_push, "", 0, 0);
    pthread_join(self->thread, NULL);
    zmq_close(self->stop_push);
    if (self->internal) {
        s_clear(self->internal);
        strmap_destroy(&self->internal);
    }
    if (self->names) {
        s_clear(self->names);
        strmap_destroy(&self->names);
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int auth_add_internal(auth_t *self, const char *public_z85, const char *name)
{
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    if (!self->internal)
        self->internal = strmap_new();
    char *copy = strdup(name);
    if (self->internal && copy && strlen(public_z85) == 40)
        rc = strmap_put(self->internal, public_z85, 40, copy);
    if (rc)
        free(copy);
    pthread_mutex_unlock(&self->lock);
    return rc;
}
