/* file-sink.c — the example sink: appends every message of its topic to a
 * JSON-lines file, one object per message, and fsyncs before acknowledging
 * (at least once: after a crash between the fsync and the ack a message is
 * written again; readers de-duplicate by "id").
 *
 *   settings  file (required); fsync (default true)
 *   line      {"topic":..,"offset":..,"id":..,"key":..,"headers":{..},"payload":..}
 *             (payload_base64 when the payload is not UTF-8) */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lgsp/adapter.h"

typedef struct {
    const lgsp_host_api_t *host;
    char *path;
    bool  fsync;
    int   fd;
} sink_t;

static json_t *s_text_or_b64(const void *p, size_t n, const char **field, const char *name,
                             const char *b64name)
{
    json_t *s = json_stringn(p, n);
    if (s) {
        *field = name;
        return s;
    }
    char *b = malloc(4 * ((n + 2) / 3) + 1);
    if (!b)
        return NULL;
    EVP_EncodeBlock((unsigned char *) b, p, (int) n);
    s = json_string(b);
    free(b);
    *field = b64name;
    return s;
}

static int s_deliver(void *arg, lgsp_adapter_t *a, const lgsp_message_t *msgs, size_t n,
                     lgsp_outcome_t *out)
{
    sink_t *self = arg;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const lgsp_message_t *m = &msgs[i];
        json_t *j = json_object();
        json_object_set_new(j, "topic", json_string(m->topic));
        json_object_set_new(j, "offset", json_integer((json_int_t) m->offset));
        json_object_set_new(j, "id", json_string(m->id));
        const char *f;
        json_t *k = s_text_or_b64(m->key, m->key_len, &f, "key", "key_base64");
        if (k)
            json_object_set_new(j, f, k);
        json_t *h = m->headers_len ? json_loadb(m->headers, m->headers_len, 0, NULL) : NULL;
        if (h)
            json_object_set_new(j, "headers", h);
        json_t *p = s_text_or_b64(m->payload, m->payload_len, &f, "payload", "payload_base64");
        if (p)
            json_object_set_new(j, f, p);
        char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!line) {
            free(buf);
            return -1;
        }
        size_t l = strlen(line);
        if (len + l + 1 > cap) {
            while (len + l + 1 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(line);
                free(buf);
                return -1;
            }
            buf = nb;
        }
        memcpy(buf + len, line, l);
        buf[len + l] = '\n';
        len += l + 1;
        free(line);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(self->fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            self->host->log(a, LGSP_LOG_ERROR, "cannot write %s: %s", self->path, strerror(errno));
            free(buf);
            return -1;   /* everything is retried */
        }
        done += (size_t) w;
    }
    free(buf);
    if (self->fsync && fdatasync(self->fd) != 0) {
        self->host->log(a, LGSP_LOG_ERROR, "cannot sync %s: %s", self->path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out[i].kind = LGSP_DELIVERED;
    self->host->count(a, "lines_written", n);
    return 0;
}

static void s_cleanup(void *arg, lgsp_adapter_t *a)
{
    sink_t *self = arg;
    if (self->fd >= 0)
        close(self->fd);
    free(self->path);
    free(self);
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= 1 && 1 <= host_max ? 1 : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **out)
{
    const char *file = host->setting(a, "file");
    if (!file || !*file)
        return host->setting_error(a, "file", "required: the JSON-lines file to append to");
    const char *fs = host->setting(a, "fsync");
    if (fs && strcmp(fs, "true") != 0 && strcmp(fs, "false") != 0)
        return host->setting_error(a, "fsync", "expected true or false, found '%s'", fs);
    sink_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->host = host;
    self->path = strdup(file);
    self->fsync = !fs || strcmp(fs, "true") == 0;
    self->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        int e = errno;
        free(self->path);
        free(self);
        return host->setting_error(a, "file", "cannot open %s: %s", file, strerror(e));
    }
    info->plugin = "file-sink";
    info->version = "1.0";
    info->kind = LGSP_ADAPTER_SINK;
    info->guarantee = LGSP_AT_LEAST_ONCE;
    info->deliver = s_deliver;
    info->cleanup = s_cleanup;
    *out = self;
    return 0;
}
