/* util.c — clocks, hashing, name checks and the strmap (see util.h). */
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t util_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t util_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

size_t util_u64toa(char *out, uint64_t v)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
    return n;
}

bool util_valid_name(const char *name, size_t len)
{
    if (len == 0 || len > 200 || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

typedef struct {
    char    *key;      /* NULL = empty slot */
    size_t   len;
    uint64_t hash;
    void    *value;
} s_slot_t;

struct strmap {
    s_slot_t *slots;
    size_t    cap;     /* power of two */
    size_t    size;
};

strmap_t *strmap_new(void)
{
    strmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void strmap_destroy(strmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    strmap_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++)
        free(self->slots[i].key);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static size_t s_find(const strmap_t *self, const void *key, size_t len, uint64_t h)
{
    size_t mask = self->cap - 1, i = h & mask;
    while (self->slots[i].key) {
        s_slot_t *s = &self->slots[i];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *strmap_get(const strmap_t *self, const void *key, size_t len)
{
    size_t i = s_find(self, key, len, util_hash(key, len));
    return self->slots[i].key ? self->slots[i].value : NULL;
}

static int s_grow(strmap_t *self)
{
    size_t ncap = self->cap * 2;
    s_slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(self->slots);
    self->slots = ns;
    self->cap = ncap;
    return 0;
}

int strmap_put(strmap_t *self, const void *key, size_t len, void *value)
{
    if ((self->size + 1) * 4 > self->cap * 3 && s_grow(self) < 0)
        return -1;
    uint64_t h = util_hash(key, len);
    size_t i = s_find(self, key, len, h);
    s_slot_t *s = &self->slots[i];
    if (s->key) {
        s->value = value;
        return 0;
    }
    s->key = malloc(len + 1);   /* +1: keys that are text stay NUL-terminated */
    if (!s->key)
        return -1;
    memcpy(s->key, key, len);
    s->key[len] = 0;
    s->len = len;
    s->hash = h;
    s->value = value;
    self->size++;
    return 0;
}

void *strmap_remove(strmap_t *self, const void *key, size_t len)
{
    size_t mask = self->cap - 1;
    size_t i = s_find(self, key, len, util_hash(key, len));
    if (!self->slots[i].key)
        return NULL;
    void *old = self->slots[i].value;
    free(self->slots[i].key);
    self->slots[i].key = NULL;
    self->size--;
    /* Backward-shift: move later entries of the probe run into the hole so
     * lookups never stop early at it. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!self->slots[j].key)
            break;
        size_t home = self->slots[j].hash & mask;
        bool between = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (between)
            continue;
        self->slots[i] = self->slots[j];
        self->slots[j].key = NULL;
        i = j;
    }
    return old;
}

size_t strmap_size(const strmap_t *self) { return self->size; }

bool strmap_next(const strmap_t *self, size_t *pos, const void **key, size_t *len, void **value)
{
    while (*pos < self->cap) {
        s_slot_t *s = &self->slots[(*pos)++];
        if (s->key) {
            if (key) *key = s->key;
            if (len) *len = s->len;
            if (value) *value = s->value;
            return true;
        }
    }
    return false;
}
