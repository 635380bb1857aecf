/* csvread.h — a small RFC 4180 CSV reader over a buffer in memory.
 *
 * Fields are separated by a delimiter byte (',' by default); a field may be
 * quoted ('"'), a quote inside is doubled, and a quoted field may hold the
 * delimiter and line ends. Rows end in CRLF, LF or a lone CR. It works on
 * bytes: every single-byte Vietnamese encoding (TCVN3, VNI, CP1258) and
 * UTF-8 keep the ASCII delimiter, quote and line-end bytes unambiguous, so
 * the fields are decoded afterwards, and the row's raw bytes stay at hand.
 *
 * Line numbers are physical lines (1-based), so a field with embedded line
 * ends moves the next row's number on. Errors (a quote in the middle of a
 * quoted field not followed by a delimiter or line end; an unterminated
 * quoted field) are reported with the row's first line, and reading goes on
 * at the next line after the error: one bad row does not take the rest of
 * the file with it. There is no maintained C CSV library in Debian worth
 * the dependency (libcsv is unmaintained), hence this one; it is fuzzed
 * (tests/fuzz/fuzz-csv.c). Self-contained: libc only. */
#ifndef LGSP_CSVREAD_H
#define LGSP_CSVREAD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct csvread csvread_t;

enum { CSVREAD_ERROR = -1, CSVREAD_END = 0, CSVREAD_ROW = 1 };

/* A reader over len bytes of data (borrowed: it must outlive the reader).
 * Returns NULL when out of memory. */
csvread_t *csvread_new(const void *data, size_t len, char delim, char quote);
void csvread_destroy(csvread_t **self_p);

/* Reads the next row: CSVREAD_ROW, CSVREAD_END, or CSVREAD_ERROR (the
 * row's line, raw bytes and csvread_error() tell about it; the next call
 * continues after it). An empty line is a row of one empty field with an
 * empty raw text (csvread_raw length 0); callers usually skip those. */
int csvread_next(csvread_t *self);

/* The current row (valid until the next csvread_next). Fields are the
 * unquoted contents, NUL-terminated (a field may contain NUL bytes of its
 * own: use the length). */
size_t      csvread_nfields(const csvread_t *self);
const char *csvread_field(const csvread_t *self, size_t i, size_t *len);
size_t      csvread_line(const csvread_t *self);       /* first physical line of the row */
size_t      csvread_lines(const csvread_t *self);      /* physical lines it spans (>= 1) */
size_t      csvread_offset(const csvread_t *self);     /* byte offset of the row in data */
const char *csvread_raw(const csvread_t *self, size_t *len);   /* the row's bytes without its line end */
bool        csvread_terminated(const csvread_t *self); /* false: the row ran into the end of data */
const char *csvread_error(const csvread_t *self);      /* after CSVREAD_ERROR */

#endif
