/* mhdutil.h — what both HTTP fronts of lgsp-ndxp-sim need around
 * libmicrohttpd: collecting a request body up to a limit, JSON answers, and
 * the loopback listening address. */
#ifndef LGSP_NDXP_MHDUTIL_H
#define LGSP_NDXP_MHDUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>

typedef struct {
    char  *buf;                  /* NUL-terminated */
    size_t len, cap;
    bool   too_big;
} mhd_body_t;

/* One call of the access handler: collects upload data into *con_cls.
 * Returns 1 when the whole request is there (the handler answers now), 0
 * when more is coming (return MHD_YES), -1 out of memory (return MHD_NO). */
int  mhd_body_collect(void **con_cls, const char *upload, size_t *upload_size, size_t max);
/* MHD_OPTION_NOTIFY_COMPLETED callback freeing the body. */
void mhd_body_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe);

/* Answers with j (taken) as compact JSON and a newline. headers is NULL or
 * pairs name, value, ..., NULL. */
enum MHD_Result mhd_reply_json(struct MHD_Connection *conn, unsigned status, json_t *j,
                               const char *const *headers);
/* {"error":"<msg>"} */
__attribute__((format(printf, 4, 5)))
enum MHD_Result mhd_reply_error(struct MHD_Connection *conn, unsigned status,
                                const char *const *headers, const char *fmt, ...);

/* 127.0.0.1:port. */
struct sockaddr_in mhd_loopback(unsigned port);
unsigned mhd_port(struct MHD_Daemon *d);

#endif
