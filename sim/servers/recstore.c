/* recstore.c — see recstore.h. */
#include "recstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define NO_POS UINT32_MAX

struct recstore {
    pthread_rwlock_t lock;
    char    *map;
    size_t   map_len;
    rec_t   *r;
    size_t   n, cap;
    size_t   dead;
    uint32_t *pos;           /* key -> index in r, NO_POS when none */
    uint32_t  npos;
    uint32_t  max_key;
    int64_t   max_ts;
};

static bool s_owned(const recstore_t *self, const char *p)
{
    return !(self->map && p >= self->map && p < self->map + self->map_len);
}

static void s_push(recstore_t *self, rec_t rec)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 4096;
        self->r = xrealloc(self->r, self->cap * sizeof *self->r);
    }
    self->r[self->n++] = rec;
}

static void s_index_keys(recstore_t *self)
{
    if (self->max_key + 1 > self->npos) {
        self->npos = self->max_key + 1 + 1024;
        self->pos = xrealloc(self->pos, (size_t)self->npos * sizeof *self->pos);
    }
    for (uint32_t k = 0; k < self->npos; k++)
        self->pos[k] = NO_POS;
    for (size_t i = 0; i < self->n; i++)
        self->pos[self->r[i].key] = (uint32_t)i;
}

static int s_cmp_ts(const void *a, const void *b)
{
    const rec_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->p < y->p ? -1 : x->p > y->p;     /* file order */
}

recstore_t *recstore_open(const char *path, rec_parse_fn fn, char *err, size_t errsz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    recstore_t *self = xcalloc(1, sizeof *self);
    pthread_rwlock_init(&self->lock, NULL);
    self->map_len = (size_t)st.st_size;
    if (self->map_len) {
        void *m = mmap(NULL, self->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errsz, "%s: mmap: %s", path, strerror(errno));
            close(fd);
            free(self);
            return NULL;
        }
        self->map = m;
        madvise(m, self->map_len, MADV_SEQUENTIAL);
    }
    close(fd);
    const char *p = self->map, *end = self->map + self->map_len;
    size_t lineno = 0;
    bool sorted = true;
    self->max_ts = INT64_MIN;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r')
            len--;
        lineno++;
        uint32_t key;
        int64_t ts;
        int rc = len ? fn(p, len, &key, &ts) : 0;
        if (rc < 0 || (rc > 0 && key >= 0x7fffffffu)) {
            snprintf(err, errsz, "%s:%zu: not a record of this view", path, lineno);
            recstore_destroy(&self);
            return NULL;
        }
        if (rc > 0) {
            if (ts < self->max_ts)
                sorted = false;
            else
                self->max_ts = ts;
            if (key > self->max_key)
                self->max_key = key;
            s_push(self, (rec_t){ .p = p, .len = (uint32_t)len, .key = key, .ts = ts });
        }
        p = e + 1;
    }
    if (!sorted) {
        qsort(self->r, self->n, sizeof *self->r, s_cmp_ts);
        self->max_ts = self->r[self->n - 1].ts;
    }
    if (self->n == 0)
        self->max_ts = 0;
    s_index_keys(self);
    /* a key seen twice: keep the last (latest) one */
    for (size_t i = 0; i < self->n; i++)
        if (self->pos[self->r[i].key] != i) {
            snprintf(err, errsz, "%s: record number %u appears twice", path,
                     (unsigned)self->r[i].key);
            recstore_destroy(&self);
            return NULL;
        }
    return self;
}

void recstore_destroy(recstore_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    recstore_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        if (s_owned(self, self->r[i].p))
            free((char *)self->r[i].p);
    if (self->map)
        munmap(self->map, self->map_len);
    free(self->r);
    free(self->pos);
    pthread_rwlock_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void recstore_rdlock(recstore_t *self) { pthread_rwlock_rdlock(&self->lock); }
void recstore_wrlock(recstore_t *self) { pthread_rwlock_wrlock(&self->lock); }
void recstore_unlock(recstore_t *self) { pthread_rwlock_unlock(&self->lock); }

size_t recstore_count(const recstore_t *self) { return self->n; }
const rec_t *recstore_at(const recstore_t *self, size_t i) { return i < self->n ? &self->r[i] : NULL; }
uint32_t recstore_max_key(const recstore_t *self) { return self->max_key; }
int64_t recstore_max_ts(const recstore_t *self) { return self->max_ts; }

size_t recstore_first_after(const recstore_t *self, int64_t since)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->r[mid].ts <= since)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const rec_t *recstore_by_key(const recstore_t *self, uint32_t key)
{
    if (key >= self->npos || self->pos[key] == NO_POS)
        return NULL;
    const rec_t *r = &self->r[self->pos[key]];
    return r->len ? r : NULL;
}

void recstore_put(recstore_t *self, uint32_t key, char *text, size_t len, int64_t ts)
{
    if (key < self->npos && self->pos[key] != NO_POS) {
        rec_t *old = &self->r[self->pos[key]];
        if (s_owned(self, old->p))
            free((char *)old->p);
        old->p = NULL;
        old->len = 0;                  /* dead until recstore_commit */
        self->dead++;
    }
    if (ts < self->max_ts)
        ts = self->max_ts;
    self->max_ts = ts;
    if (key > self->max_key)
        self->max_key = key;
    s_push(self, (rec_t){ .p = text, .len = (uint32_t)len, .key = key, .ts = ts });
    if (key >= self->npos) {
        uint32_t old_n = self->npos;
        self->npos = key + 1 + 1024;
        self->pos = xrealloc(self->pos, (size_t)self->npos * sizeof *self->pos);
        for (uint32_t k = old_n; k < self->npos; k++)
            self->pos[k] = NO_POS;
    }
    self->pos[key] = (uint32_t)(self->n - 1);
}

void recstore_commit(recstore_t *self)
{
    if (!self->dead)
        return;
    size_t w = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->r[i].len)
            self->r[w++] = self->r[i];
    self->n = w;
    self->dead = 0;
    s_index_keys(self);
}
