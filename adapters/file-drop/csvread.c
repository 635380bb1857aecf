/* csvread.c — see csvread.h. One pass over the bytes of a row, a small
 * state machine: field start, unquoted field, quoted field, after a closing
 * quote. Field contents go into one growing buffer with an offset table. */
#include "csvread.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct csvread {
    const unsigned char *data;
    size_t               len;
    size_t               pos;           /* where the next row starts */
    size_t               line;          /* physical line at pos */
    unsigned char        delim, quote;
    /* the current row */
    char                *buf;           /* field contents, each NUL-terminated */
    size_t               buf_len, buf_cap;
    size_t              *starts;        /* offset of each field in buf */
    size_t              *lens;
    size_t               nfields, fields_cap;
    size_t               row_line, row_lines, row_off, row_len;
    bool                 terminated;
    char                 error[160];
};

csvread_t *csvread_new(const void *data, size_t len, char delim, char quote)
{
    csvread_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->data = data;
    self->len = data ? len : 0;
    self->line = 1;
    self->delim = (unsigned char)delim;
    self->quote = (unsigned char)quote;
    return self;
}

void csvread_destroy(csvread_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    csvread_t *self = *self_p;
    free(self->buf);
    free(self->starts);
    free(self->lens);
    free(self);
    *self_p = NULL;
}

static int s_putc(csvread_t *self, unsigned char c)
{
    if (self->buf_len + 1 >= self->buf_cap) {
        size_t cap = self->buf_cap ? self->buf_cap * 2 : 256;
        char *p = realloc(self->buf, cap);
        if (!p)
            return -1;
        self->buf = p;
        self->buf_cap = cap;
    }
    self->buf[self->buf_len++] = (char)c;
    return 0;
}

static int s_field_begin(csvread_t *self)
{
    if (self->nfields == self->fields_cap) {
        size_t cap = self->fields_cap ? self->fields_cap * 2 : 32;
        size_t *s = realloc(self->starts, cap * sizeof *s);
        if (!s)
            return -1;
        self->starts = s;
        size_t *l = realloc(self->lens, cap * sizeof *l);
        if (!l)
            return -1;
        self->lens = l;
        self->fields_cap = cap;
    }
    self->starts[self->nfields] = self->buf_len;
    self->lens[self->nfields] = 0;
    self->nfields++;
    return 0;
}

static int s_field_end(csvread_t *self)
{
    size_t i = self->nfields - 1;
    self->lens[i] = self->buf_len - self->starts[i];
    return s_putc(self, '\0');
}

/* Length of the line end at p (CRLF 2, LF or CR 1), 0 if none. */
static size_t s_eol(const csvread_t *self, size_t p)
{
    if (p >= self->len)
        return 0;
    if (self->data[p] == '\n')
        return 1;
    if (self->data[p] == '\r')
        return p + 1 < self->len && self->data[p + 1] == '\n' ? 2 : 1;
    return 0;
}

/* Ends the current row at p (the first byte of its line end, or len), and
 * moves past the line end. */
static void s_row_end(csvread_t *self, size_t p)
{
    size_t eol = s_eol(self, p);
    self->row_len = p - self->row_off;
    self->terminated = eol > 0;
    self->pos = p + eol;
    if (eol)
        self->line++;
    self->row_lines = self->line - self->row_line + (eol ? 0 : 1);
    if (self->row_lines == 0)
        self->row_lines = 1;
}

/* After an error at byte p: the row ends at the end of the physical line
 * holding p (from_start: at the end of the row's first line instead, for an
 * unterminated quote that swallowed the rest of the data). */
static int s_error(csvread_t *self, size_t p, bool from_start, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s", what);
    size_t q = from_start ? self->row_off : p;
    size_t line = from_start ? self->row_line : self->line;
    while (q < self->len && self->data[q] != '\n' && self->data[q] != '\r')
        q++;
    self->line = line;
    s_row_end(self, q);
    self->nfields = 0;
    return CSVREAD_ERROR;
}

int csvread_next(csvread_t *self)
{
    self->nfields = 0;
    self->buf_len = 0;
    self->error[0] = '\0';
    if (self->pos >= self->len)
        return CSVREAD_END;
    self->row_off = self->pos;
    self->row_line = self->line;
    size_t p = self->pos;
    const unsigned char *d = self->data;
    for (;;) {
        /* at the start of a field */
        if (s_field_begin(self) != 0)
            return s_error(self, p, false, "out of memory");
        if (p < self->len && d[p] == self->quote) {
            size_t open_line = self->line;
            p++;
            for (;;) {
                if (p >= self->len) {
                    char msg[96];
                    snprintf(msg, sizeof msg, "quoted field opened on line %zu is never closed", open_line);
                    return s_error(self, p, true, msg);
                }
                unsigned char c = d[p];
                if (c == self->quote) {
                    if (p + 1 < self->len && d[p + 1] == self->quote) {
                        if (s_putc(self, c) != 0)
                            return s_error(self, p, false, "out of memory");
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (c == '\n' || (c == '\r' && !(p + 1 < self->len && d[p + 1] == '\n')))
                    self->line++;
                if (s_putc(self, c) != 0)
                    return s_error(self, p, false, "out of memory");
                p++;
            }
            /* after the closing quote: a delimiter, a line end or the end */
            if (s_field_end(self) != 0)
                return s_error(self, p, false, "out of memory");
            if (p >= self->len || s_eol(self, p)) {
                s_row_end(self, p);
                return CSVREAD_ROW;
            }
            if (d[p] == self->delim) {
                p++;
                continue;
            }
            return s_error(self, p, false, "a quoted field is followed by text before the delimiter");
        }
        /* unquoted: up to the delimiter or the line end; a quote in the
         * middle is taken as it is (lenient, as most readers) */
        while (p < self->len && d[p] != self->delim && d[p] != '\n' && d[p] != '\r') {
            if (s_putc(self, d[p]) != 0)
                return s_error(self, p, false, "out of memory");
            p++;
        }
        if (s_field_end(self) != 0)
            return s_error(self, p, false, "out of memory");
        if (p < self->len && d[p] == self->delim) {
            p++;
            continue;
        }
        s_row_end(self, p);
        return CSVREAD_ROW;
    }
}

size_t csvread_nfields(const csvread_t *self)
{
    return self->nfields;
}

const char *csvread_field(const csvread_t *self, size_t i, size_t *len)
{
    if (i >= self->nfields) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = self->lens[i];
    return self->buf + self->starts[i];
}

size_t csvread_line(const csvread_t *self)
{
    return self->row_line;
}

size_t csvread_lines(const csvread_t *self)
{
    return self->row_lines;
}

size_t csvread_offset(const csvread_t *self)
{
    return self->row_off;
}

const char *csvread_raw(const csvread_t *self, size_t *len)
{
    *len = self->row_len;
    return self->data ? (const char *)self->data + self->row_off : "";
}

bool csvread_terminated(const csvread_t *self)
{
    return self->terminated;
}

const char *csvread_error(const csvread_t *self)
{
    return self->error;
}
