/* util.h — small helpers of lgsp-gen: fatal errors, checked allocation,
 * civil dates as day numbers, a growable string buffer with JSON/XML/CSV
 * escaping, and buffered output files. */
#ifndef LGSP_SIM_UTIL_H
#define LGSP_SIM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

__attribute__((noreturn, format(printf, 1, 2)))
void  die(const char *fmt, ...);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Dates are day numbers: days since 1900-01-01 (day 0). 0 also means "none"
 * in the model, which is safe because nobody is born on that day. */
int32_t date_make(int y, int m, int d);
void    date_split(int32_t days, int *y, int *m, int *d);
int     date_year(int32_t days);
/* Timestamps are seconds since 1970-01-01T00:00:00+07:00 (local time of the
 * city; the views print them with the +07:00 offset). */
int64_t ts_from_date(int32_t days, int secs_of_day);
int32_t ts_date(int64_t ts);

/* Growable byte buffer. */
typedef struct {
    char  *p;
    size_t len, cap;
} sbuf_t;

void sbuf_init(sbuf_t *b);
void sbuf_free(sbuf_t *b);
void sbuf_reset(sbuf_t *b);
void sbuf_reserve(sbuf_t *b, size_t extra);
void sbuf_put(sbuf_t *b, const char *s, size_t n);
void sbuf_puts(sbuf_t *b, const char *s);
void sbuf_putc(sbuf_t *b, char c);
__attribute__((format(printf, 2, 3)))
void sbuf_printf(sbuf_t *b, const char *fmt, ...);
void sbuf_uint(sbuf_t *b, uint64_t v);
/* Fixed-width zero-padded unsigned. */
void sbuf_uintw(sbuf_t *b, uint64_t v, int width);
/* Escaped for a JSON string body (no quotes added). */
void sbuf_json(sbuf_t *b, const char *s);
/* "key":"value" with a leading comma unless first; NULL/empty value -> null. */
void sbuf_json_kv(sbuf_t *b, bool *first, const char *key, const char *val);
void sbuf_json_kraw(sbuf_t *b, bool *first, const char *key, const char *raw);
/* Escaped for XML text/attribute content. */
void sbuf_xml(sbuf_t *b, const char *s);
/* <tag>escaped</tag>, or <tag/> when val is NULL or empty. */
void sbuf_xml_el(sbuf_t *b, const char *tag, const char *val);
/* One CSV field (RFC 4180 quoting when needed), no separator. */
void sbuf_csv(sbuf_t *b, const char *s);
/* Tab-separated field: tabs/newlines/backslashes escaped as \t \n \\. */
void sbuf_tsv(sbuf_t *b, const char *s);

/* Date renderings into b. */
void sbuf_date_iso(sbuf_t *b, int32_t days);     /* 2024-03-05 */
void sbuf_date_dmy(sbuf_t *b, int32_t days);     /* 05/03/2024 */
void sbuf_ts_iso(sbuf_t *b, int64_t ts);         /* 2024-03-05T08:10:00+07:00 */
void sbuf_ts_sql(sbuf_t *b, int64_t ts);         /* 2024-03-05 08:10:00+07 */

/* An output file written through a large buffer. */
typedef struct {
    FILE    *f;
    char    *path;
    uint64_t bytes;
} ofile_t;

void ofile_open(ofile_t *o, const char *path);
void ofile_write(ofile_t *o, const void *p, size_t n);
void ofile_sbuf(ofile_t *o, const sbuf_t *b);
void ofile_close(ofile_t *o);

/* mkdir -p */
void mkdirs(const char *path);
/* Lowercase ASCII slug of an ASCII name ("Tam Xuan 1" -> "tam-xuan-1"). */
void slugify(char *out, size_t outsz, const char *ascii);

#endif
