/* server.h — the NDXP endpoint of lgsp-ndxp-sim: POST /ndxp/v1/messages over
 * HTTPS with client certificates (libmicrohttpd with GnuTLS), on 127.0.0.1.
 * Per request: the client certificate, the path, an outage, the rate limit,
 * the drop and slow faults, the body; per message the checks of jws.h, the
 * duplicate check and the skew; then one append + fsync of what was
 * accepted, and the answer (or a reset, for a lost acknowledgement). The
 * contract is docs/ndxp.md. */
#ifndef LGSP_NDXP_SERVER_H
#define LGSP_NDXP_SERVER_H

#include <stddef.h>

#include "ndxp.h"

typedef struct ndxp_server ndxp_server_t;

/* PEM texts of the server's certificate, its key, and the CA the clients'
 * certificates must chain to. port 0 = a free one. NULL with err. */
ndxp_server_t *ndxp_server_new(ndxp_t *ndxp, unsigned port, const char *cert_pem,
                               const char *key_pem, const char *ca_pem, char *err, size_t errsz);
unsigned       ndxp_server_port(const ndxp_server_t *self);
void           ndxp_server_destroy(ndxp_server_t **self_p);

#endif
