/* mhdutil.c — see mhdutil.h. */
#include "mhdutil.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mhd_body_collect(void **con_cls, const char *upload, size_t *upload_size, size_t max)
{
    mhd_body_t *b = *con_cls;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return -1;
        *con_cls = b;
        return 0;
    }
    if (*upload_size == 0)
        return 1;
    /* over the limit: the rest is read and thrown away, the answer is 400 */
    if (!b->too_big && b->len + *upload_size > max)
        b->too_big = true;
    if (!b->too_big) {
        if (b->len + *upload_size + 1 > b->cap) {
            size_t cap = b->cap ? b->cap : 64 * 1024;
            while (cap < b->len + *upload_size + 1)
                cap *= 2;
            char *p = realloc(b->buf, cap);
            if (!p)
                return -1;
            b->buf = p;
            b->cap = cap;
        }
        memcpy(b->buf + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->buf[b->len] = 0;
    }
    *upload_size = 0;
    return 0;
}

void mhd_body_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe)
{
    mhd_body_t *b = *con_cls;
    if (b) {
        free(b->buf);
        free(b);
        *con_cls = NULL;
    }
}

enum MHD_Result mhd_reply_json(struct MHD_Connection *conn, unsigned status, json_t *j,
                               const char *const *headers)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    size_t n = strlen(s);
    char *body = realloc(s, n + 2);
    if (!body) {
        free(s);
        return MHD_NO;
    }
    body[n] = '\n';
    body[n + 1] = 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(n + 1, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result mhd_reply_error(struct MHD_Connection *conn, unsigned status,
                                const char *const *headers, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mhd_reply_json(conn, status, json_pack("{ss}", "error", msg), headers);
}

struct sockaddr_in mhd_loopback(unsigned port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

unsigned mhd_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}
