/* incsync.c — incremental-sync state of paged pull sources: the pass, the
 * page, the watermark, and how watermark values compare and are written
 * (see incsync.h). */
#include "incsync.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void s_set(char **field, const char *value)
{
    char *v = s_dup(value);
    free(*field);
    *field = v;
}

static void s_q_clear(incsync_t *s)
{
    free(s->qdig);
    s->qdig = NULL;
    s->nq = 0;
}

int incsync_q_add(incsync_t *s, const char digest[17])
{
    char (*q)[17] = realloc(s->qdig, (s->nq + 1) * sizeof *q);
    if (!q)
        return -1;
    s->qdig = q;
    memcpy(q[s->nq++], digest, 17);
    return 0;
}

bool incsync_q_has(const incsync_t *s, const char digest[17])
{
    for (size_t i = 0; i < s->nq; i++)
        if (!memcmp(s->qdig[i], digest, 17))
            return true;
    return false;
}

void incsync_clear(incsync_t *s)
{
    free(s->qdig);
    free(s->watermark);
    free(s->since);
    free(s->pass_max);
    memset(s, 0, sizeof *s);
}

/* ---- time ------------------------------------------------------------ */

static bool s_num(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return true;
}

bool incsync_parse_time(const char *text, int default_offset_min, int64_t *sec, long *nsec,
                        int *offset_min)
{
    if (!text)
        return false;
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, se = 0, off = default_offset_min;
    long ns = 0;
    if (!s_num(&p, 4, &y) || *p++ != '-' || !s_num(&p, 2, &mo) || *p++ != '-' || !s_num(&p, 2, &d))
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!s_num(&p, 2, &h) || *p++ != ':' || !s_num(&p, 2, &mi))
            return false;
        if (*p == ':') {
            p++;
            if (!s_num(&p, 2, &se))
                return false;
            if (*p == '.' || *p == ',') {
                p++;
                int digits = 0;
                if (*p < '0' || *p > '9')
                    return false;
                for (; *p >= '0' && *p <= '9'; p++, digits++)
                    if (digits < 9)
                        ns = ns * 10 + (*p - '0');
                for (; digits < 9; digits++)
                    ns *= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            off = 0;
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (!s_num(&p, 2, &oh))
                return false;
            if (*p == ':')
                p++;
            if (*p >= '0' && *p <= '9' && !s_num(&p, 2, &om))
                return false;
            if (oh > 23 || om > 59)
                return false;
            off = sign * (oh * 60 + om);
        }
    }
    if (*p != '\0')
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || se > 60)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = se};
    time_t t = timegm(&tm);
    if (tm.tm_mday != d && h < 24)          /* 31 February and the like */
        return false;
    *sec = (int64_t)t - (int64_t)off * 60;
    *nsec = ns;
    *offset_min = off;
    return true;
}

/* YYYY-MM-DDTHH:MM:SS[.fff…]±hh:mm (or Z when utc). */
static void s_format_time(int64_t sec, long nsec, int off, bool utc, char *out, size_t cap)
{
    if (utc)
        off = 0;
    time_t local = (time_t)(sec + (int64_t)off * 60);
    struct tm tm;
    gmtime_r(&local, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (nsec) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09ld", nsec);
        size_t fl = strlen(frac);
        while (fl > 2 && frac[fl - 1] == '0')
            frac[--fl] = '\0';
        n += (size_t)snprintf(out + n, cap - n, "%s", frac);
    }
    if (utc)
        snprintf(out + n, cap - n, "Z");
    else
        snprintf(out + n, cap - n, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
}

/* ---- comparing ------------------------------------------------------- */

int incsync_cmp(const incsync_conf_t *c, const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    switch (c->type) {
    case INCSYNC_TIME: {
        int64_t sa, sb;
        long na, nb;
        int oa, ob;
        bool ga = incsync_parse_time(a, c->default_offset_min, &sa, &na, &oa);
        bool gb = incsync_parse_time(b, c->default_offset_min, &sb, &nb, &ob);
        if (!ga || !gb)
            return ga ? 1 : gb ? -1 : strcmp(a, b);
        if (sa != sb)
            return sa < sb ? -1 : 1;
        return na < nb ? -1 : na > nb ? 1 : 0;
    }
    case INCSYNC_NUMBER: {
        char *ea, *eb;
        errno = 0;
        long double va = strtold(a, &ea), vb = strtold(b, &eb);
        bool ga = ea != a && *ea == '\0', gb = eb != b && *eb == '\0';
        if (!ga || !gb)
            return ga ? 1 : gb ? -1 : strcmp(a, b);
        return va < vb ? -1 : va > vb ? 1 : 0;
    }
    case INCSYNC_STRING:
    default:
        return strcmp(a, b);
    }
}

static bool s_valid(const incsync_conf_t *c, const char *v)
{
    int64_t s;
    long ns;
    int off;
    char *e;
    switch (c->type) {
    case INCSYNC_TIME:
        return incsync_parse_time(v, c->default_offset_min, &s, &ns, &off);
    case INCSYNC_NUMBER:
        strtold(v, &e);
        return e != v && *e == '\0';
    default:
        return true;
    }
}

/* ---- the pass -------------------------------------------------------- */

int incsync_begin(incsync_t *s, const incsync_conf_t *c)
{
    if (s->in_pass)
        return 0;
    const char *since = s->watermark ? s->watermark : c->initial_since;
    char buf[64];
    int64_t sec;
    long ns;
    int off;
    if (since && s->watermark && c->overlap_s > 0 && c->type == INCSYNC_TIME
        && incsync_parse_time(since, c->default_offset_min, &sec, &ns, &off)) {
        /* Re-read the last seconds: the host stores a record it already has
         * as a duplicate (same content, same message id). */
        s_format_time(sec - c->overlap_s, ns, off, false, buf, sizeof buf);
        since = buf;
    }
    s_set(&s->since, since && *since ? since : NULL);
    if (since && *since && !s->since)
        return -1;
    s->in_pass = true;
    s->page = c->first_page;
    s->item = 0;
    s->phase = c->descending ? INCSYNC_FIRST : INCSYNC_ASCENDING;
    s->pages = -1;
    s_q_clear(s);
    free(s->pass_max);
    s->pass_max = NULL;
    return 0;
}

bool incsync_counts(const incsync_t *s, const incsync_conf_t *c, long pages)
{
    switch (s->phase) {
    case INCSYNC_FIRST:
        return pages <= 1;           /* the only page, or no count: read ascending */
    case INCSYNC_DOWN:
        return s->page == c->first_page + s->pages - 1;
    case INCSYNC_FINAL:
        return false;
    default:
        return true;
    }
}

bool incsync_see(incsync_t *s, const incsync_conf_t *c, const char *value)
{
    if (!value || !s_valid(c, value))
        return false;
    if (!s->pass_max || incsync_cmp(c, value, s->pass_max) > 0)
        s_set(&s->pass_max, value);
    return true;
}

void incsync_items_done(incsync_t *s, long n)
{
    s->item += n;
}

static void s_finish(incsync_t *s, const incsync_conf_t *c)
{
    if (s->pass_max && (!s->watermark || incsync_cmp(c, s->pass_max, s->watermark) > 0)) {
        free(s->watermark);
        s->watermark = s->pass_max;
        s->pass_max = NULL;
    }
    free(s->pass_max);
    s->pass_max = NULL;
    free(s->since);
    s->since = NULL;
    s->in_pass = false;
    s->page = c->first_page;
    s->phase = INCSYNC_ASCENDING;
    s->pages = -1;
    s_q_clear(s);
}

void incsync_page_done(incsync_t *s, const incsync_conf_t *c, bool last, long pages)
{
    s->item = 0;
    switch (s->phase) {
    case INCSYNC_FIRST:
        if (pages < 0) {
            s->phase = INCSYNC_ASCENDING;    /* the source gives no count */
            break;
        }
        if (pages <= 1) {
            s_finish(s, c);
            return;
        }
        s->pages = pages;
        s->phase = INCSYNC_DOWN;
        s->page = c->first_page + pages - 1;
        return;
    case INCSYNC_DOWN:
        if (s->page <= c->first_page + 1) {
            s->phase = INCSYNC_FINAL;
            s->page = c->first_page;
        } else {
            s->page--;
        }
        return;
    case INCSYNC_FINAL:
        s_finish(s, c);
        return;
    default:
        break;
    }
    if (!last)
        s->page++;
    else
        s_finish(s, c);
}

int incsync_format_since(const incsync_conf_t *c, const char *since, char *out, size_t cap)
{
    out[0] = '\0';
    if (!since || !*since)
        return 0;
    int64_t sec;
    long ns;
    int off;
    if (c->since_format == INCSYNC_SINCE_RAW || c->type != INCSYNC_TIME
        || !incsync_parse_time(since, c->default_offset_min, &sec, &ns, &off)) {
        if (strlen(since) >= cap)
            return -1;
        strcpy(out, since);
        return 0;
    }
    switch (c->since_format) {
    case INCSYNC_SINCE_ISO8601:
        s_format_time(sec, ns, off, false, out, cap);
        break;
    case INCSYNC_SINCE_UTC:
        s_format_time(sec, ns, off, true, out, cap);
        break;
    case INCSYNC_SINCE_UNIX:
        snprintf(out, cap, "%lld", (long long)sec);
        break;
    case INCSYNC_SINCE_UNIX_MS:
        snprintf(out, cap, "%lld", (long long)sec * 1000 + ns / 1000000);
        break;
    default:
        break;
    }
    return 0;
}

/* ---- the bytes ------------------------------------------------------- */

static const char *s_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int incsync_load(incsync_t *s, const void *bytes, size_t len, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (!bytes || len == 0)
        return 0;
    json_error_t je;
    json_t *root = json_loadb(bytes, len, 0, &je);
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "v")) != 1) {
        snprintf(err, errlen, "the stored state is not an incremental-sync state (v1)%s%s",
                 root ? "" : ": ", root ? "" : je.text);
        json_decref(root);
        return -1;
    }
    s->watermark = s_dup(s_str(root, "watermark"));
    json_t *pass = json_object_get(root, "pass");
    if (json_is_object(pass)) {
        s->in_pass = true;
        s->since = s_dup(s_str(pass, "since"));
        s->page = (long)json_integer_value(json_object_get(pass, "page"));
        s->item = (long)json_integer_value(json_object_get(pass, "item"));
        s->pass_max = s_dup(s_str(pass, "max"));
        const char *phase = s_str(pass, "phase");
        s->phase = !phase ? INCSYNC_ASCENDING : !strcmp(phase, "first") ? INCSYNC_FIRST
                 : !strcmp(phase, "down") ? INCSYNC_DOWN : !strcmp(phase, "final") ? INCSYNC_FINAL
                 : INCSYNC_ASCENDING;
        json_t *pages = json_object_get(pass, "pages");
        s->pages = json_is_integer(pages) ? (long)json_integer_value(pages) : -1;
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(pass, "q"), i, d)
            if (json_is_string(d) && json_string_length(d) == 16 && incsync_q_add(s, json_string_value(d)) < 0)
                break;
    }
    const char *bad = s_str(root, "bad");
    if (bad && strlen(bad) < sizeof s->bad)
        strcpy(s->bad, bad);
    json_decref(root);
    return 0;
}

char *incsync_dump(const incsync_t *s, size_t *len)
{
    json_t *root = json_pack("{s:i, s:o}", "v", 1, "watermark",
                             s->watermark ? json_string(s->watermark) : json_null());
    if (!root)
        return NULL;
    if (s->in_pass) {
        json_t *pass = json_pack("{s:o, s:I, s:I, s:o}",
                                 "since", s->since ? json_string(s->since) : json_null(),
                                 "page", (json_int_t)s->page, "item", (json_int_t)s->item,
                                 "max", s->pass_max ? json_string(s->pass_max) : json_null());
        if (pass && s->phase != INCSYNC_ASCENDING) {
            static const char *const names[] = {"", "first", "down", "final"};
            json_object_set_new(pass, "phase", json_string(names[s->phase]));
            json_object_set_new(pass, "pages", json_integer((json_int_t)s->pages));
            json_t *q = json_array();
            for (size_t i = 0; q && i < s->nq; i++)
                json_array_append_new(q, json_string(s->qdig[i]));
            if (q)
                json_object_set_new(pass, "q", q);
        }
        json_object_set_new(root, "pass", pass ? pass : json_null());
    } else {
        json_object_set_new(root, "pass", json_null());
    }
    if (s->bad[0])
        json_object_set_new(root, "bad", json_string(s->bad));
    char *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (out && len)
        *len = strlen(out);
    return out;
}

void incsync_digest(const void *bytes, size_t len, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *p = bytes;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

bool incsync_type_parse(const char *name, incsync_type_t *out)
{
    if (!strcmp(name, "time"))
        *out = INCSYNC_TIME;
    else if (!strcmp(name, "number"))
        *out = INCSYNC_NUMBER;
    else if (!strcmp(name, "string"))
        *out = INCSYNC_STRING;
    else
        return false;
    return true;
}

bool incsync_since_parse(const char *name, incsync_since_t *out)
{
    static const struct { const char *name; incsync_since_t v; } table[] = {
        {"raw", INCSYNC_SINCE_RAW},   {"iso8601", INCSYNC_SINCE_ISO8601},
        {"utc", INCSYNC_SINCE_UTC},   {"unix", INCSYNC_SINCE_UNIX},
        {"unix_ms", INCSYNC_SINCE_UNIX_MS},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(name, table[i].name)) {
            *out = table[i].v;
            return true;
        }
    return false;
}
