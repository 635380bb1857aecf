/* httpd.c — see httpd.h. */
#include "httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simutil.h"

struct httpd {
    struct MHD_Daemon *mhd;
    char               name[32];
    size_t             max_body;
    http_handler_fn    fn;
    void              *cls;
    fault_t           *fault;
    uint16_t           port;
    volatile bool      stopping;
};

typedef struct {
    char  *buf;
    size_t len, cap;
    bool   too_big;
} s_body_t;

/* A body that is sent only half-way (fault "cut"). */
typedef struct {
    char  *body;
    size_t len, send;
} s_cut_t;

static ssize_t s_cut_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    s_cut_t *c = cls;
    if (pos >= c->send)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = c->send - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, c->body + pos, n);
    return (ssize_t)n;
}

static void s_cut_free(void *cls)
{
    s_cut_t *c = cls;
    free(c->body);
    free(c);
}

enum MHD_Result http_reply(http_req_t *req, int status, const char *ctype, char *body,
                           size_t len, const char *const *extra_headers)
{
    struct MHD_Response *resp;
    if (req->fault.mode == FAULT_CUT) {
        s_cut_t *c = malloc(sizeof *c);
        if (!c) {
            free(body);
            return MHD_NO;
        }
        c->body = body;
        c->len = len;
        c->send = len / 2;
        resp = MHD_create_response_from_callback(len, 16 * 1024, s_cut_read, c, s_cut_free);
        if (!resp)
            s_cut_free(c);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    }
    if (!resp)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (size_t i = 0; extra_headers && extra_headers[i]; i++) {
        char name[128];
        const char *colon = strchr(extra_headers[i], ':');
        if (!colon || (size_t)(colon - extra_headers[i]) >= sizeof name)
            continue;
        memcpy(name, extra_headers[i], (size_t)(colon - extra_headers[i]));
        name[colon - extra_headers[i]] = 0;
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        MHD_add_response_header(resp, name, v);
    }
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result http_reply_text(http_req_t *req, int status, const char *ctype, const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, text, n + 1);
    return http_reply(req, status, ctype, copy, n, NULL);
}

enum MHD_Result http_reply_error(http_req_t *req, int status, const char *code, const char *msg)
{
    sbuf_t b;
    sbuf_init(&b);
    sbuf_puts(&b, "{\"error\":{\"code\":\"");
    sbuf_json(&b, code);
    sbuf_puts(&b, "\",\"message\":\"");
    sbuf_json(&b, msg);
    sbuf_puts(&b, "\"}}\n");
    static const char *const retry[] = { "Retry-After: 5", NULL };
    return http_reply(req, status, "application/json; charset=utf-8", b.p, b.len,
                      status == 503 ? retry : NULL);
}

const char *http_arg(http_req_t *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool http_has_arg(http_req_t *req, const char *key)
{
    const char *v = NULL;
    size_t vl = 0;
    return MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
                                         &vl) == MHD_YES;
}

const char *http_header(http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_size, void **con_cls)
{
    httpd_t *self = cls;
    s_body_t *b = *con_cls;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!b->too_big) {
            if (b->len + *upload_size > self->max_body) {
                b->too_big = true;
            } else {
                if (b->len + *upload_size + 1 > b->cap) {
                    size_t cap = b->cap ? b->cap : 4096;
                    while (cap < b->len + *upload_size + 1)
                        cap *= 2;
                    char *p = realloc(b->buf, cap);
                    if (!p)
                        return MHD_NO;
                    b->buf = p;
                    b->cap = cap;
                }
                memcpy(b->buf + b->len, upload_data, *upload_size);
                b->len += *upload_size;
                b->buf[b->len] = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    http_req_t req = { .conn = conn, .method = method, .url = url,
                       .body = b->buf ? b->buf : "", .body_len = b->len };
    if (b->too_big)
        return http_reply_error(&req, 413, "TOO_LARGE", "request body too large");
    if (self->fault) {
        req.fault = fault_draw(self->fault);
        if (req.fault.mode == FAULT_DROP)
            return MHD_NO;
        if (req.fault.mode == FAULT_SLOW) {
            sim_sleep_ms(req.fault.delay_ms, &self->stopping);
            req.fault.mode = FAULT_NONE;
        }
    }
    return self->fn(self->cls, &req);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    s_body_t *b = *con_cls;
    if (b) {
        free(b->buf);
        free(b);
        *con_cls = NULL;
    }
}

static void s_log(void *cls, const char *fmt, va_list ap)
{
    httpd_t *self = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = 0;
    simlog(self->name, "http: %s", line);
}

httpd_t *httpd_new(const char *name, uint16_t port, size_t max_body, http_handler_fn fn,
                   void *cls, fault_t *fault, char *err, size_t errsz)
{
    httpd_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    snprintf(self->name, sizeof self->name, "%s", name);
    self->max_body = max_body;
    self->fn = fn;
    self->cls = cls;
    self->fault = fault;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);      /* 127.0.0.1 only */
    self->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG
            | MHD_USE_POLL,
        port, NULL, NULL, s_access, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(err, errsz, "cannot listen on 127.0.0.1:%u", (unsigned)port);
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    return self;
}

uint16_t httpd_port(const httpd_t *self)
{
    return self->port;
}

void httpd_destroy(httpd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    httpd_t *self = *self_p;
    self->stopping = true;
    MHD_stop_daemon(self->mhd);
    free(self);
    *self_p = NULL;
}
