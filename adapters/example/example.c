/* example.c — the example adapter: a pull source that follows a JSON-lines
 * file as it grows (an application's export log, say) and publishes each
 * line as one record. It shows the whole ABI in one page:
 *
 *   settings   file (required), id_field (default "id"), batch (default 500)
 *   state      the byte offset after the last committed line, committed in
 *              the same batch as the lines it covers, so a restart
 *              continues exactly after them
 *   quarantine a line that is not a JSON object with the id field
 *
 * Build it outside the tree with
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags lgsp-adapter jansson) \
 *      example.c -o lgsp-adapter-example.so $(pkg-config --libs jansson)
 * (docs/adapters.md). */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp/adapter.h"

typedef struct {
    const lgsp_host_api_t *host;
    char     *path;
    char     *id_field;
    unsigned  batch;
    uint64_t  offset;          /* of the next line to read */
    bool      loaded;          /* offset read from the host's state */
} example_t;

/* The state is the offset as decimal text: readable in `lgsp` tools. */
static int s_load_state(example_t *self, lgsp_adapter_t *a)
{
    void *st;
    size_t len;
    if (self->host->state_get(a, &st, &len) != 0)
        return -1;
    self->offset = 0;
    if (st) {
        char buf[32];
        size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, st, n);
        buf[n] = 0;
        self->offset = strtoull(buf, NULL, 10);
        self->host->free_mem(st);
    }
    self->loaded = true;
    return 0;
}

static int s_commit(example_t *self, lgsp_adapter_t *a, lgsp_batch_t **b, uint64_t offset)
{
    char st[32];
    int n = snprintf(st, sizeof st, "%" PRIu64, offset);
    int rc = self->host->batch_commit(*b, st, (size_t) n, NULL);
    *b = NULL;
    if (rc == 0)
        self->offset = offset;
    return rc;
}

static int s_poll(void *arg, lgsp_adapter_t *a)
{
    example_t *self = arg;
    const lgsp_host_api_t *h = self->host;
    if (!self->loaded && s_load_state(self, a) != 0)
        return -1;
    FILE *f = fopen(self->path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;   /* not there yet */
        h->log(a, LGSP_LOG_ERROR, "cannot open %s: %s", self->path, strerror(errno));
        return -1;
    }
    if (fseeko(f, (off_t) self->offset, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t at = self->offset;
    lgsp_batch_t *b = NULL;
    int rc = 0;
    unsigned lines = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break;   /* a line still being written: read it next time */
        if (!b && !(b = h->batch_new(a))) {
            rc = -1;
            break;
        }
        char pos[64];
        snprintf(pos, sizeof pos, "byte %" PRIu64, at);
        json_error_t je;
        json_t *j = json_loadb(line, (size_t) len - 1, 0, &je);
        json_t *idv = json_is_object(j) ? json_object_get(j, self->id_field) : NULL;
        char idbuf[64];
        const char *id = json_is_string(idv) ? json_string_value(idv) : NULL;
        if (json_is_integer(idv)) {
            snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(idv));
            id = idbuf;
        }
        if (!id || !*id) {
            char why[300];
            snprintf(why, sizeof why, "%s", !j ? je.text : !json_is_object(j) ? "not a JSON object"
                                                : "no id field");
            rc = h->batch_quarantine(b, pos, why, line, (size_t) len - 1);
        } else {
            lgsp_record_t r = {
                .size = sizeof r, .source_id = id, .content_type = "application/json",
                .payload = line, .payload_len = (size_t) len - 1, .position = pos,
            };
            rc = h->batch_add(b, &r);
        }
        json_decref(j);
        if (rc)
            break;
        at += (uint64_t) len;
        if (++lines >= self->batch) {
            rc = s_commit(self, a, &b, at);
            if (rc)
                break;
            lines = 0;
            if (h->stopping(a))
                break;
        }
    }
    free(line);
    fclose(f);
    if (b && rc == 0)
        rc = s_commit(self, a, &b, at);
    if (b)
        h->batch_discard(b);
    if (rc == LGSP_AE_STOPPING)
        return 0;
    if (rc) {
        h->log(a, LGSP_LOG_ERROR, "%s", h->last_error(a));
        return -1;
    }
    return 0;
}

static void s_cleanup(void *arg, lgsp_adapter_t *a)
{
    example_t *self = arg;
    free(self->path);
    free(self->id_field);
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
        return host->setting_error(a, "file", "required: the JSON-lines file to follow");
    const char *batch = host->setting(a, "batch");
    char *end = NULL;
    unsigned long n = batch ? strtoul(batch, &end, 10) : 500;
    if (batch && (*end || n < 1 || n > 1000))
        return host->setting_error(a, "batch", "'%s' is not a number from 1 to 1000", batch);
    example_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->host = host;
    /* A relative path is relative to lgspd's configuration file. The host
     * table grew config_dir after version 1.0 of the header: check that
     * this host has it before calling it. */
    bool has_dir = host->size >= offsetof(lgsp_host_api_t, config_dir) + sizeof host->config_dir
                   && host->config_dir;
    if (file[0] != '/' && has_dir) {
        const char *dir = host->config_dir(a);
        size_t len = strlen(dir) + strlen(file) + 2;
        if ((self->path = malloc(len)))
            snprintf(self->path, len, "%s/%s", dir, file);
    } else
        self->path = strdup(file);
    self->id_field = strdup(host->setting(a, "id_field") ? host->setting(a, "id_field") : "id");
    self->batch = (unsigned) n;
    info->plugin = "example";
    info->version = "1.0";
    info->kind = LGSP_ADAPTER_SOURCE;
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->poll = s_poll;
    info->cleanup = s_cleanup;
    *out = self;
    return 0;
}
