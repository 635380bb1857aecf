/* incsync.h — the incremental-sync state of a paged pull source, shared by
 * the http-json and soap-xml plugins (docs/simulators.md §1 "Incremental
 * sync").
 *
 * A pass asks the source for every record changed strictly after `since`
 * (the watermark when the pass began), page by page, always at that same
 * `since`. The state is committed with each page's records, so a restart
 * resumes at the next page (or at the next item of a page that took more
 * than one batch). When the last page of a pass is stored, the watermark
 * moves to the largest watermark value seen in the pass and the next pass
 * begins at page one.
 *
 * The state is a small JSON object (the bytes the host keeps for us):
 *   {"v":1,"watermark":W|null,"pass":{"since":S|null,"page":P,"item":I,"max":M|null}|null,
 *    "bad":"<hex digest of the last quarantined answer>"}
 * `bad` lets a poll that fails on the same malformed answer again (the
 * host restarts the adapter with backoff) not quarantine it once per try. */
#ifndef ADAPTERS_COMMON_INCSYNC_H
#define ADAPTERS_COMMON_INCSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How watermark values compare. */
typedef enum {
    INCSYNC_TIME   = 0,   /* ISO 8601 instants (offsets honoured), or bare dates */
    INCSYNC_NUMBER = 1,   /* decimal numbers (a sequence, epoch seconds) */
    INCSYNC_STRING = 2,   /* byte order */
} incsync_type_t;

/* How `since` is written into a request. */
typedef enum {
    INCSYNC_SINCE_RAW     = 0,   /* the watermark exactly as the source wrote it */
    INCSYNC_SINCE_ISO8601 = 1,   /* YYYY-MM-DDTHH:MM:SS[.fff]+hh:mm, the value's own offset */
    INCSYNC_SINCE_UTC     = 2,   /* YYYY-MM-DDTHH:MM:SS[.fff]Z */
    INCSYNC_SINCE_UNIX    = 3,   /* seconds since 1970 */
    INCSYNC_SINCE_UNIX_MS = 4,   /* milliseconds since 1970 */
} incsync_since_t;

typedef struct {
    incsync_type_t  type;
    incsync_since_t since_format;
    int             default_offset_min;   /* for times written without an offset */
    long            overlap_s;            /* re-read this many seconds before the watermark */
    long            first_page;           /* 1, or 0 for zero-based sources */
    const char     *initial_since;        /* since of the very first pass (NULL = none) */
} incsync_conf_t;

typedef struct {
    char    *watermark;    /* largest committed watermark, NULL = never */
    bool     in_pass;
    char    *since;        /* since of the pass in progress, NULL = everything */
    long     page;         /* page to read next */
    long     item;         /* items of that page already committed */
    char    *pass_max;     /* largest watermark seen in this pass, NULL = none */
    char     bad[17];      /* hex digest of the last quarantined answer, "" = none */
} incsync_t;

/* Loads a state committed earlier (len 0 = none: a fresh state). Returns 0,
 * or -1 with err filled when the bytes are not a state of ours. */
int  incsync_load(incsync_t *s, const void *bytes, size_t len, char *err, size_t errlen);
/* The state as JSON (caller frees), NULL on allocation failure. */
char *incsync_dump(const incsync_t *s, size_t *len);
void incsync_clear(incsync_t *s);

/* Starts a pass unless one is in progress: since = the watermark (minus
 * the overlap) or the initial since, page = first page. */
int  incsync_begin(incsync_t *s, const incsync_conf_t *c);
/* Notes one record's watermark value. Returns false when it cannot be read
 * as the configured type (the record is still published; the watermark
 * does not move for it). */
bool incsync_see(incsync_t *s, const incsync_conf_t *c, const char *value);
/* `n` more items of the current page are stored. */
void incsync_items_done(incsync_t *s, long n);
/* The current page is complete: go to the next page or, when it was the
 * last, finish the pass (watermark = max(watermark, pass max)). */
void incsync_page_done(incsync_t *s, const incsync_conf_t *c, bool last);

/* Formats `since` for a request (out must hold 64 bytes; "" = no since). */
int  incsync_format_since(const incsync_conf_t *c, const char *since, char *out, size_t cap);

/* Compares two watermark values of type c->type: <0, 0, >0. Values that
 * cannot be read sort first. */
int  incsync_cmp(const incsync_conf_t *c, const char *a, const char *b);

/* ISO 8601 instant → seconds since 1970 UTC + nanoseconds + the offset it
 * was written with (minutes). Accepts a date, "T" or " " before the time,
 * fractions, "Z", "+hh:mm", "+hhmm", "+hh"; no offset = default_offset_min.
 * Returns false when the text is not such an instant. */
bool incsync_parse_time(const char *text, int default_offset_min, int64_t *sec, long *nsec,
                        int *offset_min);

/* FNV-1a 64 of the bytes as 16 hex digits (for `bad`). */
void incsync_digest(const void *bytes, size_t len, char out[17]);

/* Parses an incsync_type_t / incsync_since_t name; false if unknown. */
bool incsync_type_parse(const char *name, incsync_type_t *out);
bool incsync_since_parse(const char *name, incsync_since_t *out);

#endif
