/* control.c — see control.h. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mhdutil.h"

struct ndxp_control {
    struct MHD_Daemon *mhd;
    ndxp_t            *ndxp;
    unsigned           port;
};

static json_t *s_stats(ndxp_t *n)
{
    json_t *j = json_object();
    ndxp_stats_json(n, j);
    json_object_set_new(j, "faults", nfaults_json(&n->faults, ndxp_mono_ms()));
    return j;
}

/* The committed part of the store file, streamed from its own descriptor:
 * lines being written after this moment are not included. */
static enum MHD_Result s_messages(ndxp_t *n, struct MHD_Connection *conn)
{
    store_lock(n->store);
    off_t size = store_size(n->store);
    int fd = open(store_path(n->store), O_RDONLY | O_CLOEXEC);
    store_unlock(n->store);
    if (fd < 0)
        return mhd_reply_error(conn, 500, NULL, "store: %s", strerror(errno));
    struct MHD_Response *r = MHD_create_response_from_fd64((uint64_t)size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    enum MHD_Result rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_size, void **con_cls)
{
    ndxp_control_t *self = cls;
    ndxp_t *n = self->ndxp;
    int got = mhd_body_collect(con_cls, upload_data, upload_size, 64 * 1024);
    if (got < 0)
        return MHD_NO;
    if (got == 0)
        return MHD_YES;
    mhd_body_t *b = *con_cls;
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/control/fault")) {
        if (!post)
            return mhd_reply_error(conn, 405, NULL, "POST /control/fault");
        char err[256];
        if (b->too_big)
            return mhd_reply_error(conn, 400, NULL, "body too large");
        if (nfaults_set(&n->faults, b->buf ? b->buf : "", b->len, ndxp_mono_ms(), err,
                        sizeof err) != 0)
            return mhd_reply_error(conn, 400, NULL, "%s", err);
        ndxp_log("fault: %.200s", b->buf ? b->buf : "");
        return mhd_reply_json(conn, 200, nfaults_json(&n->faults, ndxp_mono_ms()), NULL);
    }
    if (!strcmp(url, "/control/stats")) {
        if (!get)
            return mhd_reply_error(conn, 405, NULL, "GET /control/stats");
        return mhd_reply_json(conn, 200, s_stats(n), NULL);
    }
    if (!strcmp(url, "/control/messages")) {
        if (!get)
            return mhd_reply_error(conn, 405, NULL, "GET /control/messages");
        return s_messages(n, conn);
    }
    return mhd_reply_error(conn, 404, NULL,
                           "POST /control/fault, GET /control/stats, GET /control/messages");
}

ndxp_control_t *ndxp_control_new(ndxp_t *ndxp, unsigned port, char *err, size_t errsz)
{
    ndxp_control_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    self->ndxp = ndxp;
    struct sockaddr_in addr = mhd_loopback(port);
    self->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG
            | MHD_USE_POLL,
        (uint16_t)port, NULL, NULL, s_access, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, mhd_body_done, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(err, errsz, "cannot listen on 127.0.0.1:%u", port);
        free(self);
        return NULL;
    }
    self->port = mhd_port(self->mhd);
    return self;
}

unsigned ndxp_control_port(const ndxp_control_t *self)
{
    return self->port;
}

void ndxp_control_destroy(ndxp_control_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    MHD_stop_daemon((*self_p)->mhd);
    free(*self_p);
    *self_p = NULL;
}
