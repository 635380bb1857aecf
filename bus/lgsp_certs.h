/* lgsp_certs.h — `lgsp certs` (lgsp_certs.c): a local CA, the NDXP
 * simulator's server certificate, the province's client certificate and the
 * Ed25519 key that signs NDXP messages, for the demo and the tests
 * (docs/ndxp.md, docs/cli.md). */
#ifndef LGSP_CERTS_H
#define LGSP_CERTS_H

#include <stdio.h>

/* argv[0] is "certs". Returns the exit status (0, 1 error, 2 usage). */
int  lgsp_certs_main(int argc, char **argv);
void lgsp_certs_usage(FILE *out);

#endif
