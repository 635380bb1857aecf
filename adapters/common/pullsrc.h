/* pullsrc.h — the poll loop of a paged, incremental pull source, shared by
 * http-json and soap-xml: the plugin only fetches and parses one page and
 * hands out its items; pullsrc does the rest the same way for both:
 *
 *   - the incremental-sync state (incsync.h), loaded from the host at
 *     creation and committed with every page's records, so a restart
 *     resumes at the next page (or the next item of a page that filled more
 *     than one batch) and a pass ends by moving the watermark;
 *   - records into batches (commit and continue at LGSP_AE_TOO_BIG), with
 *     provenance: source_id, content type, position "page P item I";
 *   - items that cannot be records (not an object, no id, ...) go to the
 *     quarantine with their position and reason;
 *   - an answer that cannot be read at all is quarantined once (position
 *     "page P", reason) and fails the poll, so the host retries it with
 *     backoff; the same bytes again are not quarantined again (their
 *     digest is kept in the state).
 *
 * The message id is left to the host (source_id + digest of the payload),
 * so a page read twice (a crash between fetch and commit) stores nothing
 * twice. */
#ifndef ADAPTERS_COMMON_PULLSRC_H
#define ADAPTERS_COMMON_PULLSRC_H

#include <stdbool.h>
#include <stddef.h>

#include <lgsp/adapter.h>

#include "incsync.h"

/* What fetch() says about a page. */
enum {
    PULLSRC_PAGE      = 0,    /* parsed: pg filled, items can be asked for */
    PULLSRC_MALFORMED = 1,    /* the answer cannot be read: quarantine pg->bad, fail the poll */
    PULLSRC_FAILED    = -1,   /* no answer (after the retries): err filled, fail the poll */
    PULLSRC_STOPPING  = -3,   /* the host is stopping the adapter */
};

typedef struct {
    long        count;        /* items on the page */
    long        total_pages;  /* pages at this since, or -1 if the source does not say */
    long        total;        /* records at this since, or -1 if the source does not say */
    /* PULLSRC_MALFORMED: the answer and why it cannot be read. */
    const void *bad;
    size_t      bad_len;
    char        reason[512];
} pullsrc_page_t;

/* One item of a parsed page. Pointers are borrowed until the next item()
 * or release() call. */
typedef struct {
    const void *payload;      /* the record's bytes (or what to quarantine) */
    size_t      payload_len;
    const char *source_id;    /* the record's id */
    const char *watermark;    /* the record's watermark value, or NULL */
    const char *reason;       /* not NULL: quarantine payload with this reason */
} pullsrc_item_t;

typedef struct {
    /* Fetches page `page` of the records changed after `since` (formatted
     * per since_format; "" = all) and parses it. */
    int  (*fetch)(void *impl, const char *since, long page, pullsrc_page_t *pg,
                  char *err, size_t errlen);
    /* Item i (0-based) of the page last fetched. Returns 0, or < 0 when the
     * plugin itself failed (out of memory): the poll fails. */
    int  (*item)(void *impl, long i, pullsrc_item_t *it);
    /* Frees the parsed page. */
    void (*release)(void *impl);
} pullsrc_ops_t;

typedef struct {
    incsync_conf_t sync;
    long           page_size;        /* what the plugin asks for (to see a short last page) */
    long           pages_per_poll;   /* then poll() returns 1 so the host calls again */
    const char    *content_type;     /* of the records */
} pullsrc_conf_t;

typedef struct pullsrc pullsrc_t;

/* Loads the committed state through host->state_get(). conf is copied
 * (its strings are borrowed for the pullsrc's life). Returns NULL after
 * logging why (a state that is not ours, no memory). */
pullsrc_t *pullsrc_new(const lgsp_host_api_t *host, lgsp_adapter_t *a, const pullsrc_conf_t *conf,
                       const pullsrc_ops_t *ops, void *impl);
void pullsrc_destroy(pullsrc_t **self_p);

/* The adapter's poll(): 0 = the pass is complete, 1 = more pages are
 * waiting, < 0 = failed (logged at error level). */
int  pullsrc_poll(pullsrc_t *self);

/* "watermark W; pass since S at page P" for /health. */
void pullsrc_describe(pullsrc_t *self, char *buf, size_t len);

#endif
