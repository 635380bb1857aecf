/* store.c — see store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store {
    char           *path;
    int             fd;
    pthread_mutex_t mu;
    json_t         *index;       /* message_id -> sha256 hex (a JSON object as a hash set) */
    uint64_t        count;       /* committed lines */
    off_t           size;        /* committed bytes */
    /* the pending batch */
    char           *buf;
    size_t          len, cap;
    json_t         *pending;     /* ids added since the last commit */
};

static int s_load(store_t *self, char *err, size_t errsz)
{
    FILE *f = fopen(self->path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: %s", self->path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t off = 0, bad_at = -1;
    uint64_t lineno = 0, bad_line = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_t *j = NULL;
        const char *id = NULL, *sha = NULL;
        if (line[n - 1] == '\n') {
            j = json_loadb(line, (size_t)n - 1, 0, NULL);
            id = json_string_value(json_object_get(j, "message_id"));
            sha = json_string_value(json_object_get(j, "sha256"));
        }
        if (!id || !sha) {
            if (bad_at < 0) {
                bad_at = off;
                bad_line = lineno;
            }
        } else if (bad_at >= 0) {
            snprintf(err, errsz, "%s: line %llu is damaged and is followed by good lines",
                     self->path, (unsigned long long)bad_line);
            json_decref(j);
            rc = -1;
            break;
        } else {
            json_object_set_new(self->index, id, json_string(sha));
            self->count++;
        }
        json_decref(j);
        off += n;
    }
    free(line);
    fclose(f);
    if (rc)
        return rc;
    if (bad_at >= 0) {
        /* a write cut short by a crash: it was never acknowledged */
        fprintf(stderr, "lgsp-ndxp-sim: store: cutting %lld bytes of an unfinished write\n",
                (long long)(off - bad_at));
        if (truncate(self->path, bad_at) != 0) {
            snprintf(err, errsz, "%s: %s", self->path, strerror(errno));
            return -1;
        }
        off = bad_at;
    }
    self->size = off;
    return 0;
}

store_t *store_open(const char *dir, char *err, size_t errsz)
{
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    self->fd = -1;
    pthread_mutex_init(&self->mu, NULL);
    self->index = json_object();
    self->pending = json_array();
    size_t n = strlen(dir) + 16;
    self->path = malloc(n);
    if (!self->index || !self->pending || !self->path) {
        snprintf(err, errsz, "out of memory");
        goto fail;
    }
    snprintf(self->path, n, "%s/messages.jsonl", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errsz, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    self->fd = open(self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->fd < 0) {
        snprintf(err, errsz, "%s: %s", self->path, strerror(errno));
        goto fail;
    }
    if (s_load(self, err, errsz) != 0)
        goto fail;
    return self;
fail:
    store_close(&self);
    return NULL;
}

void store_close(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->fd >= 0)
        close(self->fd);
    json_decref(self->index);
    json_decref(self->pending);
    pthread_mutex_destroy(&self->mu);
    free(self->buf);
    free(self->path);
    free(self);
    *self_p = NULL;
}

void store_lock(store_t *self)
{
    pthread_mutex_lock(&self->mu);
}

void store_unlock(store_t *self)
{
    pthread_mutex_unlock(&self->mu);
}

bool store_seen(store_t *self, const char *message_id, const char **sha)
{
    json_t *v = json_object_get(self->index, message_id);
    if (v && sha)
        *sha = json_string_value(v);
    return v != NULL;
}

int store_add(store_t *self, const jws_msg_t *msg, int64_t now_ms)
{
    const char *sha = msg->sha256;
    char at[40];
    jws_format_time(now_ms, at, sizeof at);
    json_t *rec = json_pack("{sI ss ss ss ss ss ss ss ss ss}",
                            "seq", (json_int_t)(self->count + json_array_size(self->pending) + 1),
                            "message_id", msg->message_id, "sender", msg->sender,
                            "receiver", msg->receiver, "message_type", msg->message_type,
                            "content_type", msg->content_type, "kid", msg->kid,
                            "timestamp", msg->timestamp, "sha256", sha, "accepted_at", at);
    if (!rec)
        return -1;
    int rc = 0;
    if (msg->payload_json) {
        rc = json_object_set(rec, "payload", msg->payload_json);
    } else {
        char *b64 = b64url_encode(msg->payload, msg->payload_len);
        rc = b64 ? json_object_set_new(rec, "payload_b64", json_string(b64)) : -1;
        free(b64);
    }
    char *line = rc == 0 ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(rec);
    if (!line)
        return -1;
    size_t n = strlen(line);
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 64 * 1024;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *p = realloc(self->buf, cap);
        if (!p) {
            free(line);
            return -1;
        }
        self->buf = p;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, line, n);
    self->buf[self->len + n] = '\n';
    self->len += n + 1;
    free(line);
    if (json_object_set_new(self->index, msg->message_id, json_string(sha)) != 0
        || json_array_append_new(self->pending, json_string(msg->message_id)) != 0)
        return -1;
    return 0;
}

int store_commit(store_t *self, char *err, size_t errsz)
{
    if (self->len == 0)
        return 0;
    size_t off = 0;
    int rc = 0;
    while (off < self->len) {
        ssize_t w = pwrite(self->fd, self->buf + off, self->len - off, self->size + (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)w;
    }
    /* durable before the answer says "accepted" */
    if (rc == 0 && fdatasync(self->fd) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errsz, "%s: %s", self->path, strerror(errno));
        if (ftruncate(self->fd, self->size) != 0) { /* best effort: s_load cuts a torn tail */
        }
        size_t i;
        json_t *id;
        json_array_foreach(self->pending, i, id)
            json_object_del(self->index, json_string_value(id));
    } else {
        self->size += (off_t)self->len;
        self->count += json_array_size(self->pending);
    }
    self->len = 0;
    json_array_clear(self->pending);
    return rc;
}

uint64_t store_count(store_t *self)
{
    return self->count;
}

off_t store_size(store_t *self)
{
    return self->size;
}

const char *store_path(const store_t *self)
{
    return self->path;
}
