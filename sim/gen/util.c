/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lgsp-gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, sz);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory (%zu bytes)", n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* Howard Hinnant's days_from_civil / civil_from_days, shifted to 1900-01-01. */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

#define EPOCH_1900 (-25567)  /* days from 1970-01-01 back to 1900-01-01 */

int32_t date_make(int y, int m, int d)
{
    return (int32_t)(s_days_from_civil(y, (unsigned)m, (unsigned)d) - EPOCH_1900);
}

void date_split(int32_t days, int *y, int *m, int *d)
{
    int64_t z = (int64_t)days + EPOCH_1900 + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    const unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

int date_year(int32_t days)
{
    int y, m, d;
    date_split(days, &y, &m, &d);
    return y;
}

int64_t ts_from_date(int32_t days, int secs_of_day)
{
    return ((int64_t)days + EPOCH_1900) * 86400 + secs_of_day;
}

int32_t ts_date(int64_t ts)
{
    int64_t d = ts >= 0 ? ts / 86400 : -((-ts + 86399) / 86400);
    return (int32_t)(d - EPOCH_1900);
}

void sbuf_init(sbuf_t *b) { b->p = NULL; b->len = b->cap = 0; }
void sbuf_free(sbuf_t *b) { free(b->p); sbuf_init(b); }
void sbuf_reset(sbuf_t *b) { b->len = 0; if (b->p) b->p[0] = 0; }

void sbuf_reserve(sbuf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void sbuf_put(sbuf_t *b, const char *s, size_t n)
{
    sbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sbuf_puts(sbuf_t *b, const char *s) { sbuf_put(b, s, strlen(s)); }

void sbuf_putc(sbuf_t *b, char c)
{
    sbuf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = 0;
}

void sbuf_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("sbuf_printf: bad format");
    if ((size_t)n < sizeof tmp) {
        sbuf_put(b, tmp, (size_t)n);
        return;
    }
    sbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_uint(sbuf_t *b, uint64_t v)
{
    char tmp[24];
    int i = 24;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    sbuf_put(b, tmp + i, (size_t)(24 - i));
}

void sbuf_uintw(sbuf_t *b, uint64_t v, int width)
{
    char tmp[24];
    int i = 24;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v && i > 0);
    while (24 - i < width && i > 0)
        tmp[--i] = '0';
    sbuf_put(b, tmp + i, (size_t)(24 - i));
}

void sbuf_json(sbuf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            sbuf_putc(b, '\\');
            sbuf_putc(b, (char)c);
        } else if (c < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            sbuf_put(b, e, 6);
        } else {
            sbuf_putc(b, (char)c);
        }
    }
}

void sbuf_json_kraw(sbuf_t *b, bool *first, const char *key, const char *raw)
{
    if (!*first)
        sbuf_putc(b, ',');
    *first = false;
    sbuf_putc(b, '"');
    sbuf_puts(b, key);
    sbuf_puts(b, "\":");
    sbuf_puts(b, raw);
}

void sbuf_json_kv(sbuf_t *b, bool *first, const char *key, const char *val)
{
    if (!val || !*val) {
        sbuf_json_kraw(b, first, key, "null");
        return;
    }
    if (!*first)
        sbuf_putc(b, ',');
    *first = false;
    sbuf_putc(b, '"');
    sbuf_puts(b, key);
    sbuf_puts(b, "\":\"");
    sbuf_json(b, val);
    sbuf_putc(b, '"');
}

void sbuf_xml(sbuf_t *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '<': sbuf_puts(b, "&lt;"); break;
        case '>': sbuf_puts(b, "&gt;"); break;
        case '&': sbuf_puts(b, "&amp;"); break;
        case '"': sbuf_puts(b, "&quot;"); break;
        default:  sbuf_putc(b, *p);
        }
    }
}

void sbuf_xml_el(sbuf_t *b, const char *tag, const char *val)
{
    sbuf_putc(b, '<');
    sbuf_puts(b, tag);
    if (!val || !*val) {
        sbuf_puts(b, "/>");
        return;
    }
    sbuf_putc(b, '>');
    sbuf_xml(b, val);
    sbuf_puts(b, "</");
    sbuf_puts(b, tag);
    sbuf_putc(b, '>');
}

void sbuf_csv(sbuf_t *b, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        sbuf_puts(b, s);
        return;
    }
    sbuf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            sbuf_putc(b, '"');
        sbuf_putc(b, *p);
    }
    sbuf_putc(b, '"');
}

void sbuf_tsv(sbuf_t *b, const char *s)
{
    if (!s)
        return;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\t': sbuf_puts(b, "\\t"); break;
        case '\n': sbuf_puts(b, "\\n"); break;
        case '\r': sbuf_puts(b, "\\r"); break;
        case '\\': sbuf_puts(b, "\\\\"); break;
        default:   sbuf_putc(b, *p);
        }
    }
}

void sbuf_date_iso(sbuf_t *b, int32_t days)
{
    int y, m, d;
    date_split(days, &y, &m, &d);
    sbuf_uintw(b, (uint64_t)y, 4); sbuf_putc(b, '-');
    sbuf_uintw(b, (uint64_t)m, 2); sbuf_putc(b, '-');
    sbuf_uintw(b, (uint64_t)d, 2);
}

void sbuf_date_dmy(sbuf_t *b, int32_t days)
{
    int y, m, d;
    date_split(days, &y, &m, &d);
    sbuf_uintw(b, (uint64_t)d, 2); sbuf_putc(b, '/');
    sbuf_uintw(b, (uint64_t)m, 2); sbuf_putc(b, '/');
    sbuf_uintw(b, (uint64_t)y, 4);
}

static void s_hms(sbuf_t *b, int64_t ts)
{
    int64_t s = ts % 86400;
    if (s < 0)
        s += 86400;
    sbuf_uintw(b, (uint64_t)(s / 3600), 2); sbuf_putc(b, ':');
    sbuf_uintw(b, (uint64_t)(s / 60 % 60), 2); sbuf_putc(b, ':');
    sbuf_uintw(b, (uint64_t)(s % 60), 2);
}

void sbuf_ts_iso(sbuf_t *b, int64_t ts)
{
    sbuf_date_iso(b, ts_date(ts));
    sbuf_putc(b, 'T');
    s_hms(b, ts);
    sbuf_puts(b, "+07:00");
}

void sbuf_ts_sql(sbuf_t *b, int64_t ts)
{
    sbuf_date_iso(b, ts_date(ts));
    sbuf_putc(b, ' ');
    s_hms(b, ts);
    sbuf_puts(b, "+07");
}

void ofile_open(ofile_t *o, const char *path)
{
    o->f = fopen(path, "wb");
    if (!o->f)
        die("cannot create %s: %s", path, strerror(errno));
    setvbuf(o->f, NULL, _IOFBF, 1 << 18);
    o->path = xstrdup(path);
    o->bytes = 0;
}

void ofile_write(ofile_t *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n)
        die("write %s: %s", o->path, strerror(errno));
    o->bytes += n;
}

void ofile_sbuf(ofile_t *o, const sbuf_t *b) { ofile_write(o, b->p, b->len); }

void ofile_close(ofile_t *o)
{
    if (!o->f)
        return;
    if (fclose(o->f) != 0)
        die("close %s: %s", o->path, strerror(errno));
    o->f = NULL;
    free(o->path);
    o->path = NULL;
}

void mkdirs(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                die("mkdir %s: %s", p, strerror(errno));
            *s = '/';
        }
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        die("mkdir %s: %s", p, strerror(errno));
    free(p);
}

void slugify(char *out, size_t outsz, const char *ascii)
{
    size_t n = 0;
    bool dash = false;
    for (const char *p = ascii; *p && n + 2 < outsz; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && n)
                out[n++] = '-';
            out[n++] = c;
            dash = false;
        } else {
            dash = true;
        }
    }
    out[n] = 0;
}
