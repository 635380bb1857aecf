/* jsonpage.h — one page of a paged JSON API, read with jansson: the record
 * array at a configured path, the totals, and each record's id and
 * watermark as text (http-json plugin).
 *
 * Paths are dotted ("data", "result.items", "meta.0.total"); a segment of
 * digits indexes an array; "" or "." is the document itself.
 *
 * A record's payload is the record re-serialized by jansson, compact and in
 * the source's key order (JSON_COMPACT | JSON_PRESERVE_ORDER): the same
 * data as the source sent, not always the same bytes (whitespace is gone,
 * \u escapes of non-ASCII become UTF-8, reals print with up to 17
 * significant digits). */
#ifndef ADAPTERS_HTTP_JSON_JSONPAGE_H
#define ADAPTERS_HTTP_JSON_JSONPAGE_H

#include <stddef.h>

#include <jansson.h>

#include "pullsrc.h"

typedef struct {
    const char *records;       /* path of the record array */
    const char *total_pages;   /* path of the page count, or NULL */
    const char *total;         /* path of the record count, or NULL */
    const char *id;            /* path of the id inside a record */
    const char *watermark;     /* path of the watermark inside a record, or NULL */
} jsonpage_conf_t;

typedef struct {
    json_t *doc;
    json_t *records;           /* borrowed from doc */
    char   *payload;           /* the item last handed out */
    char    id[256];           /* LGSP_MAX_KEY + 1 */
    char    wm[128];
    char    reason[160];
} jsonpage_t;

/* The value at a dotted path, or NULL (borrowed from root). */
json_t *jsonpage_path(json_t *root, const char *path);

/* Parses an answer. PULLSRC_PAGE with pg->count/total_pages/total filled,
 * or PULLSRC_MALFORMED with pg->reason (pg->bad is left to the caller). */
int  jsonpage_parse(jsonpage_t *p, const jsonpage_conf_t *c, const char *body, size_t len,
                    pullsrc_page_t *pg);
/* Item i of the parsed page (0 or -1 out of memory). */
int  jsonpage_item(jsonpage_t *p, const jsonpage_conf_t *c, long i, pullsrc_item_t *it);
/* Frees the parsed page (p can be parsed into again). */
void jsonpage_release(jsonpage_t *p);

#endif
