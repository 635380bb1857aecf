/* util.h — small pieces shared by the bus subsystems: clocks, a hash of
 * byte strings, and a hash map keyed by byte strings. */
#ifndef LGSP_UTIL_H
#define LGSP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall clock in microseconds since the epoch (publish times). */
uint64_t util_now_us(void);
/* Monotonic clock in milliseconds (timers, deadlines). */
uint64_t util_mono_ms(void);
/* 64-bit FNV-1a; never returns 0, so 0 can mean "no key". */
uint64_t util_hash(const void *data, size_t len);
/* Writes v in decimal to out (at least 21 bytes, NUL-terminated); returns
 * the length. For the hot path, where snprintf costs more than the rest. */
size_t util_u64toa(char *out, uint64_t v);
/* True if name is a valid topic or group name (docs/protocol.md §1). */
bool util_valid_name(const char *name, size_t len);

/* strmap: byte-string keys (copied) -> borrowed void* values.
 * Open addressing with linear probing and backward-shift deletion. */
typedef struct strmap strmap_t;
strmap_t *strmap_new(void);
void strmap_destroy(strmap_t **self_p);
void *strmap_get(const strmap_t *self, const void *key, size_t len);
/* Inserts or replaces. 0, or -1 on allocation failure. */
int strmap_put(strmap_t *self, const void *key, size_t len, void *value);
/* Removes; returns the old value or NULL. */
void *strmap_remove(strmap_t *self, const void *key, size_t len);
size_t strmap_size(const strmap_t *self);
/* Iteration: *pos starts at 0; returns false when done. Keys are borrowed. */
bool strmap_next(const strmap_t *self, size_t *pos, const void **key, size_t *len, void **value);

#endif
