/* webhook.c — the `webhook` plugin: a push source. lgspd listens for JSON
 * events POSTed by a department system, stores each one durably before it
 * answers 202, and makes a re-delivered event a duplicate by its id. An
 * optional backfill (backfill.c) pulls what the pushes missed from the
 * sender's REST API.
 *
 *   settings:
 *     listen: 127.0.0.1:18680     # or port: 18680; loopback unless allow_remote: true
 *     path: /hook/dn-civil        # default /hook/<adapter name>
 *     max_body: 1MiB
 *     token: file:/etc/lgsp/dn-civil.token      # Authorization: Bearer <token>
 *     hmac: {secret: env:DN_CIVIL_SECRET, header: X-Signature, prefix: "sha256="}
 *     tls: {cert: server.pem, key: server.key, client_ca: ca.pem}
 *     id_field: event_id          # else the header id_header (X-Event-Id)
 *     backfill: {url: http://.../api/v1/events, token: ..., page_size: 500, overlap: 200}
 *
 * This file reads the settings and implements the plugin ABI; the ingress
 * is ingress.c. See docs/adapters.md for the full list of settings. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

#define WH_VERSION "1.0"

/* ---- settings ------------------------------------------------------------- */

/* Every setting the plugin knows, so that a misspelt one is an error
 * rather than silently ignored. */
static const char *const s_known[] = {
    "listen", "port", "allow_remote", "path", "max_body", "token", "hmac", "hmac.secret",
    "hmac.header", "hmac.prefix", "tls", "tls.cert", "tls.key", "tls.client_ca", "id_field",
    "id_header", "type_field", "type_header", "max_connections", "connection_timeout",
    "retry_after", "backfill", "backfill.url", "backfill.token", "backfill.page_size",
    "backfill.overlap", "backfill.from", "backfill.from_param", "backfill.page_param",
    "backfill.page_size_param", "backfill.items", "backfill.order_field", "backfill.retries",
    "backfill.timeout", NULL,
};

static int s_check_keys(webhook_t *self, json_t *obj, const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
        bool known = false;
        for (size_t i = 0; s_known[i] && !known; i++)
            known = !strcmp(s_known[i], path);
        if (!known)
            return self->host->setting_error(self->a, path, "unknown setting of the webhook "
                                                            "plugin");
        if (json_is_object(v) && s_check_keys(self, v, path) < 0)
            return LGSP_AE_INVALID;
    }
    return 0;
}

/* Reads a whole (small) file: PEM files, secrets. Caller frees. */
static char *s_read_file(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) {
                snprintf(err, errsz, "%s: larger than 1 MiB", path);
                goto fail;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                snprintf(err, errsz, "out of memory");
                goto fail;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errsz, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* A string setting: copied, or def (copied, may be NULL) when absent. */
static int s_str(webhook_t *self, const char *path, const char *def, char **out)
{
    const char *v = self->host->setting(self->a, path);
    if (v && !*v)
        return self->host->setting_error(self->a, path, "empty");
    *out = v ? strdup(v) : def ? strdup(def) : NULL;
    return 0;
}

/* A secret: the value itself, "env:NAME" (an environment variable) or
 * "file:PATH" (the file's first line), so it need not sit in the config. */
static int s_secret(webhook_t *self, const char *path, char **out)
{
    const char *v = self->host->setting(self->a, path);
    *out = NULL;
    if (!v)
        return 0;
    char err[300];
    if (!strncmp(v, "env:", 4)) {
        const char *e = getenv(v + 4);
        if (!e || !*e)
            return self->host->setting_error(self->a, path, "the environment variable %s is "
                                                            "not set", v + 4);
        *out = strdup(e);
    } else if (!strncmp(v, "file:", 5)) {
        char *t = s_read_file(v + 5, err, sizeof err);
        if (!t)
            return self->host->setting_error(self->a, path, "%s", err);
        t[strcspn(t, "\r\n")] = '\0';
        *out = t;
    } else {
        *out = strdup(v);
    }
    if (!*out || !**out) {
        free(*out);
        *out = NULL;
        return self->host->setting_error(self->a, path, "empty secret");
    }
    return 0;
}

static int s_pem(webhook_t *self, const char *path, char **out)
{
    const char *v = self->host->setting(self->a, path);
    *out = NULL;
    if (!v)
        return 0;
    char err[300];
    if (!(*out = s_read_file(v, err, sizeof err)))
        return self->host->setting_error(self->a, path, "%s", err);
    if (!strstr(*out, "-----BEGIN "))
        return self->host->setting_error(self->a, path, "%s is not a PEM file", v);
    return 0;
}

static int s_uint(webhook_t *self, const char *path, uint64_t min, uint64_t max, uint64_t def,
                  uint64_t *out)
{
    const char *v = self->host->setting(self->a, path);
    *out = def;
    if (v && wh_parse_uint(v, min, max, out))
        return self->host->setting_error(self->a, path, "an integer from %llu to %llu expected",
                                         (unsigned long long)min, (unsigned long long)max);
    return 0;
}

static int s_ms(webhook_t *self, const char *path, uint64_t min, uint64_t def, uint64_t *out)
{
    const char *v = self->host->setting(self->a, path);
    *out = def;
    if (v && (wh_parse_ms(v, out) || *out < min))
        return self->host->setting_error(self->a, path, "a duration expected (500ms, 30s, 5m), "
                                                        "at least %llu ms",
                                         (unsigned long long)min);
    return 0;
}

static int s_settings(webhook_t *self)
{
    const lgsp_host_api_t *h = self->host;
    lgsp_adapter_t *a = self->a;
    json_t *all = json_loads(h->setting_json(a) ? h->setting_json(a) : "{}", 0, NULL);
    int rc = all ? s_check_keys(self, all, "") : 0;
    json_decref(all);
    if (rc < 0)
        return rc;

    /* where */
    const char *listen = h->setting(a, "listen"), *port = h->setting(a, "port");
    char addrtext[80];
    if (listen && port)
        return h->setting_error(a, "port", "give listen or port, not both");
    if (!listen && !port)
        return h->setting_error(a, "listen", "missing: the address to listen on "
                                             "(127.0.0.1:PORT), or port");
    if (!listen) {
        snprintf(addrtext, sizeof addrtext, "127.0.0.1:%s", port);
        listen = addrtext;
    }
    char err[200];
    bool loopback, remote = false;
    const char *v;
    if (wh_parse_listen(listen, &self->addr, &self->addrlen, &loopback, err, sizeof err))
        return h->setting_error(a, port && listen == addrtext ? "port" : "listen", "%s", err);
    if ((v = h->setting(a, "allow_remote")) && wh_parse_bool(v, &remote))
        return h->setting_error(a, "allow_remote", "true or false expected");
    if (!loopback && !remote)
        return h->setting_error(a, "listen", "%s is not a loopback address: set allow_remote: "
                                             "true to accept events from other hosts", listen);
    self->listen = strdup(listen);

    char defpath[160];
    snprintf(defpath, sizeof defpath, "/hook/%s", h->name(a));
    if ((rc = s_str(self, "path", defpath, &self->path)) < 0)
        return rc;
    if (self->path[0] != '/')
        return h->setting_error(a, "path", "must start with /");
    uint64_t u;
    if ((v = h->setting(a, "max_body")) && (wh_parse_size(v, &u) || u < 64 || u > (16u << 20)))
        return h->setting_error(a, "max_body", "a size from 64 bytes to 16MiB expected "
                                               "(e.g. 1MiB)");
    self->max_body = v ? (size_t)u : (size_t)1 << 20;

    /* who */
    if ((rc = s_secret(self, "token", &self->token)) < 0
        || (rc = s_secret(self, "hmac.secret", &self->hmac_secret)) < 0
        || (rc = s_str(self, "hmac.header", "X-Signature", &self->hmac_header)) < 0
        || (rc = s_str(self, "hmac.prefix", "sha256=", &self->hmac_prefix)) < 0
        || (rc = s_pem(self, "tls.cert", &self->tls_cert)) < 0
        || (rc = s_pem(self, "tls.key", &self->tls_key)) < 0
        || (rc = s_pem(self, "tls.client_ca", &self->tls_ca)) < 0)
        return rc;
    if (!self->tls_cert != !self->tls_key)
        return h->setting_error(a, self->tls_cert ? "tls.key" : "tls.cert",
                                "tls needs both cert and key");
    if (self->tls_ca && !self->tls_cert)
        return h->setting_error(a, "tls.client_ca", "client certificates need tls.cert and "
                                                    "tls.key");
    if (self->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return h->setting_error(a, "tls", "this libmicrohttpd has no TLS support");
    if (!self->token && !self->hmac_secret && !self->tls_ca)
        return h->setting_error(a, "token", "no authentication: set token, hmac.secret or "
                                            "tls.client_ca (or several)");

    /* what */
    if ((rc = s_str(self, "id_field", "event_id", &self->id_field)) < 0
        || (rc = s_str(self, "id_header", "X-Event-Id", &self->id_header)) < 0
        || (rc = s_str(self, "type_field", "event_type", &self->type_field)) < 0
        || (rc = s_str(self, "type_header", "X-Event-Type", &self->type_header)) < 0)
        return rc;
    uint64_t ms;
    if ((rc = s_uint(self, "max_connections", 1, 10000, 64, &u)) < 0)
        return rc;
    self->max_connections = (unsigned)u;
    if ((rc = s_ms(self, "connection_timeout", 1000, 30000, &ms)) < 0)
        return rc;
    self->conn_timeout_s = (unsigned)((ms + 999) / 1000);
    if ((rc = s_ms(self, "retry_after", 1000, 5000, &ms)) < 0)
        return rc;
    self->retry_after_s = (unsigned)((ms + 999) / 1000);

    /* backfill */
    if ((rc = s_str(self, "backfill.url", NULL, &self->bf_url)) < 0)
        return rc;
    if (!self->bf_url) {
        if (h->setting(a, "backfill.token") || h->setting(a, "backfill.page_size"))
            return h->setting_error(a, "backfill", "backfill.url is missing");
        return 0;
    }
    if (strncmp(self->bf_url, "http://", 7) && strncmp(self->bf_url, "https://", 8))
        return h->setting_error(a, "backfill.url", "an http:// or https:// URL expected");
    if ((rc = s_secret(self, "backfill.token", &self->bf_token)) < 0
        || (rc = s_str(self, "backfill.from", NULL, &self->bf_start)) < 0
        || (rc = s_str(self, "backfill.from_param", "registered_from", &self->bf_from_param)) < 0
        || (rc = s_str(self, "backfill.page_param", "page", &self->bf_page_param)) < 0
        || (rc = s_str(self, "backfill.page_size_param", "page_size", &self->bf_size_param)) < 0
        || (rc = s_str(self, "backfill.items", "events", &self->bf_items)) < 0
        || (rc = s_str(self, "backfill.order_field", "data.registration.registered_at",
                       &self->bf_order_field)) < 0)
        return rc;
    if ((rc = s_uint(self, "backfill.page_size", 1, 1000, 500, &u)) < 0)
        return rc;
    self->bf_page_size = (unsigned)u;
    if ((rc = s_uint(self, "backfill.overlap", 0, 100000, 200, &u)) < 0)
        return rc;
    self->bf_overlap = (unsigned)u;
    if ((rc = s_uint(self, "backfill.retries", 1, 100, 3, &u)) < 0)
        return rc;
    self->bf_retries = (unsigned)u;
    if ((rc = s_ms(self, "backfill.timeout", 1000, 60000, &self->bf_timeout_ms)) < 0)
        return rc;
    return 0;
}

/* ---- the plugin ABI ---------------------------------------------------------- */

static void s_free(webhook_t *self)
{
    wh_backfill_free(self);
    pthread_mutex_destroy(&self->refusals.mu);
    pthread_mutex_destroy(&self->rejects.mu);
    char **strs[] = { &self->listen, &self->path, &self->token, &self->hmac_secret,
                      &self->hmac_header, &self->hmac_prefix, &self->id_field, &self->id_header,
                      &self->type_field, &self->type_header, &self->tls_cert, &self->tls_key,
                      &self->tls_ca, &self->bf_url, &self->bf_token, &self->bf_from_param,
                      &self->bf_page_param, &self->bf_size_param, &self->bf_items,
                      &self->bf_order_field, &self->bf_start };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        if (*strs[i] && (strs[i] == &self->token || strs[i] == &self->hmac_secret
                         || strs[i] == &self->bf_token || strs[i] == &self->tls_key))
            explicit_bzero(*strs[i], strlen(*strs[i]));   /* secrets do not linger in freed memory */
        free(*strs[i]);
    }
    free(self);
}

static int wh_start(void *vself, lgsp_adapter_t *a)
{
    return wh_ingress_start(vself);
}

static void wh_stop(void *vself, lgsp_adapter_t *a)
{
    wh_ingress_stop(vself);
}

static int wh_tick(void *vself, lgsp_adapter_t *a)
{
    return wh_backfill_tick(vself);
}

static void wh_cleanup(void *vself, lgsp_adapter_t *a)
{
    webhook_t *self = vself;
    wh_ingress_stop(self);
    s_free(self);
}

static void wh_describe(void *vself, char *buf, size_t len)
{
    webhook_t *self = vself;
    int n = snprintf(buf, len, "%s:%u%s: %llu accepted, %llu duplicates, %llu refused, "
                               "%llu quarantined, %llu not stored",
                     self->tls_cert ? "https" : "http", (unsigned)self->port, self->path,
                     (unsigned long long)atomic_load(&self->n_accepted),
                     (unsigned long long)atomic_load(&self->n_duplicates),
                     (unsigned long long)atomic_load(&self->n_refused),
                     (unsigned long long)atomic_load(&self->n_quarantined),
                     (unsigned long long)atomic_load(&self->n_failed));
    if (self->bf_url && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "; backfill: %llu stored, %llu errors",
                 (unsigned long long)atomic_load(&self->n_backfilled),
                 (unsigned long long)atomic_load(&self->n_backfill_errors));
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= LGSP_ADAPTER_ABI_VERSION && LGSP_ADAPTER_ABI_VERSION <= host_max
               ? LGSP_ADAPTER_ABI_VERSION
               : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **self_p)
{
    webhook_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->a = a;
    self->host = host;
    pthread_mutex_init(&self->refusals.mu, NULL);
    pthread_mutex_init(&self->rejects.mu, NULL);
    int rc = s_settings(self);
    if (rc < 0) {
        s_free(self);
        return rc;
    }
    info->plugin = "webhook";
    info->version = WH_VERSION;
    info->kind = LGSP_ADAPTER_SOURCE;
    /* The sender retries until it has a 202, the 202 comes after the commit,
     * and the event id is the message id: each event is stored once. */
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->start = wh_start;
    info->stop = wh_stop;
    info->tick = self->bf_url ? wh_tick : NULL;
    info->cleanup = wh_cleanup;
    info->describe = wh_describe;
    *self_p = self;
    return 0;
}
