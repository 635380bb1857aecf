/* breaker.h — when the NDXP connector may send: exponential backoff with
 * jitter after each failure, and a circuit breaker (closed → open after
 * `threshold` consecutive failures → half-open: one probe request → closed
 * on success, open again on failure). Pure logic over a clock the caller
 * passes (ms), so it is tested without sleeping. */
#ifndef ADAPTERS_NDXP_BREAKER_H
#define ADAPTERS_NDXP_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { BR_CLOSED = 0, BR_OPEN, BR_HALF_OPEN } breaker_state_t;

typedef struct {
    /* settings */
    uint64_t backoff_ms, backoff_max_ms;   /* first delay, cap */
    unsigned threshold;                    /* consecutive failures that open it */
    uint64_t open_ms;                      /* at least this long open before a probe */
    /* state */
    breaker_state_t state;
    unsigned failures;                     /* consecutive */
    uint64_t not_before;                   /* no request before this (ms) */
    bool     probing;                      /* half-open: the probe is out */
    uint64_t opens;                        /* times it opened */
    uint64_t rng;
} breaker_t;

void breaker_init(breaker_t *b, uint64_t backoff_ms, uint64_t backoff_max_ms, unsigned threshold,
                  uint64_t open_ms, uint64_t seed);
/* True if a request may start now (in half-open: the one probe; the caller
 * then calls breaker_sent()). */
bool breaker_may_send(breaker_t *b, uint64_t now);
void breaker_sent(breaker_t *b);
/* A request came back: the target answered (any per-message results), or
 * it failed (5xx, 429, timeout, connection). retry_after_ms: the server's
 * Retry-After (0 = none): when given, the delay is that plus a little
 * jitter instead of the backoff. Returns the delay set. */
void     breaker_success(breaker_t *b);
uint64_t breaker_failure(breaker_t *b, uint64_t now, uint64_t retry_after_ms);
/* ms until a request may start (0 = now). */
uint64_t breaker_wait(const breaker_t *b, uint64_t now);
const char *breaker_state_name(breaker_state_t s);

#endif
