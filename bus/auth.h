/* auth.h — the ZAP handler that admits CurveZMQ clients by public key.
 *
 * ZeroMQ asks the handler (a thread with a REP socket on
 * inproc://zeromq.zap.01) about every Curve handshake on the broker's
 * sockets; it answers 200 with the client's configured name as User-Id,
 * which the broker then reads from every frame ("User-Id" metadata), or
 * 400 for an unknown key (the handshake fails; the attempt is counted).
 * The key table is replaced on SIGHUP without restarting the thread. */
#ifndef LGSP_AUTH_H
#define LGSP_AUTH_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

typedef struct auth auth_t;

/* Must be created before the Curve server socket is bound. */
auth_t *auth_new(void *zmq_ctx, const config_t *cfg, char **err);
void auth_destroy(auth_t **self_p);
/* Takes the client keys from cfg (copied). */
void auth_set_clients(auth_t *self, const config_t *cfg);
/* Admits a key of lgspd's own (a sink adapter's client) under a name that
 * starts with '@', which no configured client can have. Survives reloads. */
int auth_add_internal(auth_t *self, const char *public_z85, const char *name);
/* Handshakes refused for an unknown key. */
uint64_t auth_denied(const auth_t *self);

#endif
