/* httpd.h — the HTTP front of the simulators (libmicrohttpd): one daemon on
 * 127.0.0.1:port, a thread per connection (so a "slow" fault delays only
 * its own client), request bodies collected up to a limit, and the fault_t
 * of the simulator applied before the handler runs. */
#ifndef LGSP_SIM_HTTPD_H
#define LGSP_SIM_HTTPD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"

typedef struct httpd httpd_t;

typedef struct {
    struct MHD_Connection *conn;
    const char *method;          /* "GET", "POST", ... */
    const char *url;             /* path, without the query */
    const char *body;            /* NUL-terminated; "" when none */
    size_t      body_len;
    fault_hit_t fault;           /* FAULT_NONE unless the fault fired */
} http_req_t;

/* Answers one request: must end with one of the http_reply* calls (or
 * return MHD_NO to close the connection). */
typedef enum MHD_Result (*http_handler_fn)(void *cls, http_req_t *req);

/* Starts the daemon. port 0 = any free port (see httpd_port). fault may be
 * NULL (the control endpoint). When a fault of mode error fires, the
 * handler is still called with req->fault set, so it can answer in its own
 * dialect (JSON error, SOAP fault); drop, slow and cut are handled here.
 * Returns NULL with a message in err. */
httpd_t *httpd_new(const char *name, uint16_t port, size_t max_body, http_handler_fn fn,
                   void *cls, fault_t *fault, char *err, size_t errsz);
uint16_t httpd_port(const httpd_t *self);
void     httpd_destroy(httpd_t **self_p);

/* Query argument or request header (borrowed until the reply). */
const char *http_arg(http_req_t *req, const char *key);
const char *http_header(http_req_t *req, const char *name);
/* True when the query has the argument, even without a value ("?wsdl"). */
bool        http_has_arg(http_req_t *req, const char *key);

/* Replies. body is taken (malloc'd; freed by the library). extra_headers is
 * NULL or "Name: value" strings ending in NULL. */
enum MHD_Result http_reply(http_req_t *req, int status, const char *ctype, char *body,
                           size_t len, const char *const *extra_headers);
enum MHD_Result http_reply_text(http_req_t *req, int status, const char *ctype,
                                const char *text);
/* {"error":{"code":code,"message":msg}} */
enum MHD_Result http_reply_error(http_req_t *req, int status, const char *code,
                                 const char *msg);

#endif
