/* control.c — see control.h. */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simutil.h"

#define CT_JSON "application/json; charset=utf-8"

int slot_change(sim_slot_t *slot, long n, sbuf_t *json)
{
    pthread_mutex_lock(&slot->mu);
    int rc = slot->ops->change(slot->self, n, json);
    pthread_mutex_unlock(&slot->mu);
    return rc;
}

void slot_status(sim_slot_t *slot, sbuf_t *json)
{
    sbuf_puts(json, "{\"state\":");
    slot->ops->status(slot->self, json);
    if (!slot->ops->fault) {            /* dn-land reports its own (db_fault) */
        sbuf_puts(json, ",\"fault\":");
        fault_json(&slot->fault, json);
    }
    sbuf_putc(json, '}');
}

static enum MHD_Result s_json(http_req_t *req, int status, sbuf_t *b)
{
    sbuf_putc(b, '\n');
    return http_reply(req, status, CT_JSON, b->p, b->len, NULL);
}

static enum MHD_Result s_status_all(sim_slot_t *slots, http_req_t *req)
{
    sbuf_t b;
    sbuf_init(&b);
    sbuf_puts(&b, "{\"systems\":{");
    bool first = true;
    for (int i = 0; i < SIM__COUNT; i++) {
        if (!slots[i].self)
            continue;
        if (!first)
            sbuf_putc(&b, ',');
        first = false;
        sbuf_printf(&b, "\"%s\":", sim_name[i]);
        slot_status(&slots[i], &b);
    }
    sbuf_puts(&b, "}}");
    return s_json(req, 200, &b);
}

/* One action on one system; appends its answer. Returns the HTTP status. */
static int s_action(sim_slot_t *slot, int idx, const char *action, http_req_t *req, sbuf_t *b)
{
    char err[256];
    if (!strcmp(action, "fault")) {
        const char *mode = http_arg(req, "mode");
        int rc;
        pthread_mutex_lock(&slot->mu);
        if (slot->ops->fault)
            rc = slot->ops->fault(slot->self, mode, http_arg(req, "count"),
                                  http_arg(req, "delay_ms"), err, sizeof err);
        else
            rc = fault_set(&slot->fault, mode, http_arg(req, "count"), http_arg(req, "rate"),
                           http_arg(req, "delay_ms"), http_arg(req, "status"), err, sizeof err);
        pthread_mutex_unlock(&slot->mu);
        if (rc) {
            sbuf_puts(b, "{\"error\":\"");
            sbuf_json(b, err);
            sbuf_puts(b, "\"}");
            return 400;
        }
        simlog(sim_name[idx], "fault set: mode=%s", mode);
        slot_status(slot, b);
        return 200;
    }
    if (!strcmp(action, "change")) {
        long n = 1;
        const char *ns = http_arg(req, "n");
        if (ns && sim_parse_long(ns, 1, 1000000, &n)) {
            sbuf_puts(b, "{\"error\":\"n must be an integer in [1, 1000000]\"}");
            return 400;
        }
        if (slot_change(slot, n, b) != 0)
            return 500;
        return 200;
    }
    if (!strcmp(action, "pause") || !strcmp(action, "resume")) {
        if (!slot->ops->pause) {
            sbuf_puts(b, "{\"error\":\"this system neither pushes nor drops files\"}");
            return 400;
        }
        pthread_mutex_lock(&slot->mu);
        slot->ops->pause(slot->self, action[0] == 'p');
        pthread_mutex_unlock(&slot->mu);
        slot_status(slot, b);
        return 200;
    }
    sbuf_puts(b, "{\"error\":\"unknown action (fault, change, pause, resume)\"}");
    return 404;
}

static enum MHD_Result s_handle(void *cls, http_req_t *req)
{
    sim_slot_t *slots = cls;
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    if (!strcmp(req->url, "/status")) {
        if (!get)
            return http_reply_error(req, 405, "METHOD", "GET /status");
        return s_status_all(slots, req);
    }
    if (strncmp(req->url, "/sims/", 6) != 0)
        return http_reply_error(req, 404, "NOT_FOUND",
                                "GET /status, GET /sims/NAME, POST /sims/NAME/{fault,change,pause,resume}");
    char name[64] = "", action[32] = "";
    const char *p = req->url + 6, *slash = strchr(p, '/');
    size_t nl = slash ? (size_t)(slash - p) : strlen(p);
    if (nl == 0 || nl >= sizeof name || (slash && strlen(slash + 1) >= sizeof action))
        return http_reply_error(req, 404, "NOT_FOUND", "no such system");
    memcpy(name, p, nl);
    if (slash)
        strcpy(action, slash + 1);
    bool all = !strcmp(name, "all");
    int idx = all ? -1 : sim_index(name);
    if (!all && (idx < 0 || !slots[idx].self))
        return http_reply_error(req, 404, "NOT_FOUND", "no such system running");
    sbuf_t b;
    sbuf_init(&b);
    if (!*action) {
        if (!get || all)
            return http_reply_error(req, 405, "METHOD", "GET /sims/NAME");
        slot_status(&slots[idx], &b);
        return s_json(req, 200, &b);
    }
    if (!post)
        return http_reply_error(req, 405, "METHOD", "actions are POST");
    if (!all) {
        int status = s_action(&slots[idx], idx, action, req, &b);
        return s_json(req, status, &b);
    }
    int status = 200;
    bool first = true;
    sbuf_putc(&b, '{');
    for (int i = 0; i < SIM__COUNT; i++) {
        if (!slots[i].self)
            continue;
        if ((!strcmp(action, "pause") || !strcmp(action, "resume")) && !slots[i].ops->pause)
            continue;
        if (!first)
            sbuf_putc(&b, ',');
        first = false;
        sbuf_printf(&b, "\"%s\":", sim_name[i]);
        int s = s_action(&slots[i], i, action, req, &b);
        if (s != 200)
            status = s;
    }
    sbuf_putc(&b, '}');
    return s_json(req, status, &b);
}

httpd_t *control_start(sim_slot_t *slots, uint16_t port, char *err, size_t errsz)
{
    return httpd_new("control", port, 4096, s_handle, slots, NULL, err, errsz);
}
