/* jsonpage.c — one page of a paged JSON API: records, totals, ids and
 * watermarks (see jsonpage.h). */
#include "jsonpage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *jsonpage_path(json_t *root, const char *path)
{
    if (!path || !*path || !strcmp(path, "."))
        return root;
    json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char seg[256];
        if (n == 0 || n >= sizeof seg)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur) && strspn(seg, "0123456789") == n) {
            cur = json_array_get(cur, strtoul(seg, NULL, 10));
        } else {
            return NULL;
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}

/* A scalar as text: strings as they are, integers in decimal, reals as
 * jansson prints them. false = not a scalar (or null, or too long). */
static bool s_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v)) {
        if (json_string_length(v) >= cap || memchr(json_string_value(v), '\0', json_string_length(v)))
            return false;
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return true;
    }
    if (json_is_integer(v))
        return (size_t)snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < cap;
    if (json_is_real(v))
        return (size_t)snprintf(out, cap, "%.17g", json_real_value(v)) < cap;
    return false;
}

/* A count from the answer (an integer, or digits in a string); -1 = none. */
static long s_count(json_t *root, const char *path)
{
    if (!path || !*path)
        return -1;
    json_t *v = jsonpage_path(root, path);
    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? -1 : (long)json_integer_value(v);
    if (json_is_real(v))
        return json_real_value(v) < 0 ? -1 : (long)json_real_value(v);
    if (json_is_string(v)) {
        char *end;
        long n = strtol(json_string_value(v), &end, 10);
        return end != json_string_value(v) && !*end && n >= 0 ? n : -1;
    }
    return -1;
}

int jsonpage_parse(jsonpage_t *p, const jsonpage_conf_t *c, const char *body, size_t len,
                   pullsrc_page_t *pg)
{
    jsonpage_release(p);
    json_error_t je;
    /* Any value at the top: an API may answer a bare array of records. */
    p->doc = json_loadb(body, len, JSON_DECODE_ANY, &je);
    if (!p->doc) {
        /* jansson quotes the text near the error ("near 'NGUYỄN'"): that
         * can be personal data, and the reason goes to the log. */
        char *near = strstr(je.text, " near '");
        if (near)
            *near = '\0';
        snprintf(pg->reason, sizeof pg->reason, "not JSON: %s (line %d, column %d, byte %d)",
                 je.text, je.line, je.column, je.position);
        return PULLSRC_MALFORMED;
    }
    p->records = jsonpage_path(p->doc, c->records);
    if (!json_is_array(p->records)) {
        snprintf(pg->reason, sizeof pg->reason, "no array of records at '%s' (%s)",
                 c->records && *c->records ? c->records : ".",
                 p->records ? "another type" : "absent");
        return PULLSRC_MALFORMED;
    }
    pg->count = (long)json_array_size(p->records);
    pg->total_pages = s_count(p->doc, c->total_pages);
    pg->total = s_count(p->doc, c->total);
    return PULLSRC_PAGE;
}

int jsonpage_item(jsonpage_t *p, const jsonpage_conf_t *c, long i, pullsrc_item_t *it)
{
    free(p->payload);
    json_t *rec = json_array_get(p->records, (size_t)i);
    p->payload = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!p->payload)
        return -1;
    it->payload = p->payload;
    it->payload_len = strlen(p->payload);
    if (!json_is_object(rec)) {
        it->reason = "record is not a JSON object";
        return 0;
    }
    json_t *id = jsonpage_path(rec, c->id);
    if (!id || json_is_null(id)) {
        snprintf(p->reason, sizeof p->reason, "record has no id ('%s')", c->id);
        it->reason = p->reason;
        return 0;
    }
    if (!s_text(id, p->id, sizeof p->id) || !p->id[0]) {
        snprintf(p->reason, sizeof p->reason,
                 "record id ('%s') is not a non-empty string or number of at most %zu bytes",
                 c->id, sizeof p->id - 1);
        it->reason = p->reason;
        return 0;
    }
    it->source_id = p->id;
    it->watermark = NULL;
    if (c->watermark && *c->watermark) {
        json_t *wm = jsonpage_path(rec, c->watermark);
        if (wm && s_text(wm, p->wm, sizeof p->wm))
            it->watermark = p->wm;
    }
    return 0;
}

void jsonpage_release(jsonpage_t *p)
{
    json_decref(p->doc);
    p->doc = NULL;
    p->records = NULL;
    free(p->payload);
    p->payload = NULL;
}
