/* breaker.c — backoff with jitter and the circuit breaker of the NDXP
 * connector (see breaker.h). */
#include "breaker.h"

void breaker_init(breaker_t *b, uint64_t backoff_ms, uint64_t backoff_max_ms, unsigned threshold,
                  uint64_t open_ms, uint64_t seed)
{
    *b = (breaker_t) {
        .backoff_ms = backoff_ms ? backoff_ms : 1, .backoff_max_ms = backoff_max_ms,
        .threshold = threshold ? threshold : 1, .open_ms = open_ms,
        .rng = seed ? seed : 0x9E3779B97F4A7C15ULL,
    };
    if (b->backoff_max_ms < b->backoff_ms)
        b->backoff_max_ms = b->backoff_ms;
}

/* xorshift64*: jitter needs no more. */
static uint64_t s_rand(breaker_t *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545F4914F6CDD1DULL;
}

bool breaker_may_send(breaker_t *b, uint64_t now)
{
    if (now < b->not_before)
        return false;
    if (b->state == BR_OPEN)
        b->state = BR_HALF_OPEN;
    return b->state != BR_HALF_OPEN || !b->probing;
}

void breaker_sent(breaker_t *b)
{
    if (b->state == BR_HALF_OPEN)
        b->probing = true;
}

void breaker_success(breaker_t *b)
{
    b->state = BR_CLOSED;
    b->failures = 0;
    b->probing = false;
    b->not_before = 0;
}

uint64_t breaker_failure(breaker_t *b, uint64_t now, uint64_t retry_after_ms)
{
    b->failures++;
    /* backoff * 2^(failures-1), capped; then "equal jitter": half of it
     * fixed, half random, so that many senders do not retry in step. */
    uint64_t d = b->backoff_ms;
    for (unsigned i = 1; i < b->failures && d < b->backoff_max_ms; i++)
        d *= 2;
    if (d > b->backoff_max_ms)
        d = b->backoff_max_ms;
    d = d / 2 + s_rand(b) % (d / 2 + 1);
    bool opens = b->state == BR_HALF_OPEN || (b->state == BR_CLOSED && b->failures >= b->threshold);
    if (opens) {
        b->opens++;
        b->state = BR_OPEN;
        b->probing = false;
        if (d < b->open_ms)
            d = b->open_ms;
    }
    /* The server said when (503 at the end of an outage, 429): that, plus
     * up to a tenth (at most 1 s) of jitter, so the backlog starts to drain
     * as soon as the server is back rather than after our own backoff. */
    if (retry_after_ms)
        d = retry_after_ms + s_rand(b) % ((retry_after_ms / 10 < 1000 ? retry_after_ms / 10 : 1000) + 1);
    /* Several requests fail together in an outage: the latest wins only if
     * it is later. */
    if (now + d > b->not_before)
        b->not_before = now + d;
    return d;
}

uint64_t breaker_wait(const breaker_t *b, uint64_t now)
{
    if (b->state == BR_HALF_OPEN && b->probing)
        return UINT64_MAX;
    return now < b->not_before ? b->not_before - now : 0;
}

const char *breaker_state_name(breaker_state_t s)
{
    return s == BR_OPEN ? "open" : s == BR_HALF_OPEN ? "half-open" : "closed";
}
