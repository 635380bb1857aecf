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
 * Pages are computed by the source per request, so a record that changes
 * during a pass moves to the end and the records behind it move up one
 * place: read in ascending order (as the simulator's doc describes), the
 * record that slides into an already-read page is missed for good.
 * `descending` (the plugins' default) reads page 1 (to learn the count), then the
 * last page down to page 2, then page 1 again: a slide then only moves a
 * record into a page still to be read (or read twice: the host keeps one),
 * and the watermark of the pass is the largest value of the first read of
 * the last page, so whatever arrived after that read comes in the next pass.
 *
 * The state is a small JSON object (the bytes the host keeps for us):
 *   {"v":1,"watermark":W|null,"pass":{"since":S|null,"page":P,"item":I,"max":M|null,
 *    "phase":"first|down|final","pages":T,"q":["<digest>",...]}|null,
 *    "bad":"<hex digest of the last quarantined answer>"}
 * (phase, pages and q only when reading descending).
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
    bool            descending;           /* page order: 1, last … 2, 1 again (see above) */
} incsync_conf_t;

/* Where a descending pass is. */
typedef enum {
    INCSYNC_ASCENDING = 0,   /* page 1, 2, …: the default order */
    INCSYNC_FIRST     = 1,   /* page 1, to learn the page count */
    INCSYNC_DOWN      = 2,   /* the last page down to page 2 */
    INCSYNC_FINAL     = 3,   /* page 1 again */
} incsync_phase_t;

typedef struct {
    char    *watermark;    /* largest committed watermark, NULL = never */
    bool     in_pass;
    char    *since;        /* since of the pass in progress, NULL = everything */
    long     page;         /* page to read next */
    long     item;         /* items of that page already committed */
    char    *pass_max;     /* largest watermark seen in this pass, NULL = none */
    incsync_phase_t phase;
    long     pages;        /* descending: the pass's page count (from its first page) */
    char   (*qdig)[17];    /* descending: digests of what page 1 put in the quarantine, */
    size_t   nq;           /* so that its second read does not put it there again */
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
/* Whether the watermarks of the current page count for the pass: always
 * when ascending; descending, only on the first read of the last page (or
 * of page 1 when it is the only one). pages: the page count the current
 * answer gives (-1 unknown). */
bool incsync_counts(const incsync_t *s, const incsync_conf_t *c, long pages);
/* Notes one record's watermark value. Returns false when it cannot be read
 * as the configured type (the record is still published; the watermark
 * does not move for it). */
bool incsync_see(incsync_t *s, const incsync_conf_t *c, const char *value);
/* `n` more items of the current page are stored. */
void incsync_items_done(incsync_t *s, long n);
/* The current page is complete: go to the next page or, when it was the
 * last, finish the pass (watermark = max(watermark, pass max)). last: the
 * answer says it was the last page in ascending order; pages: the page
 * count it gives (-1 unknown; a descending pass then reads ascending). */
void incsync_page_done(incsync_t *s, const incsync_conf_t *c, bool last, long pages);

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

/* Page 1's quarantined items (descending): note one, ask for one. */
int  incsync_q_add(incsync_t *s, const char digest[17]);
bool incsync_q_has(const incsync_t *s, const char digest[17]);

/* FNV-1a 64 of the bytes as 16 hex digits (for `bad`). */
void incsync_digest(const void *bytes, size_t len, char out[17]);

/* Parses an incsync_type_t / incsync_since_t name; false if unknown. */
bool incsync_type_parse(const char *name, incsync_type_t *out);
bool incsync_since_parse(const char *name, incsync_since_t *out);

#endif
