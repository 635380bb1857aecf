/* sqlrow.h — the sql adapter's conversions that need no database: text
 * between UTF-16 (SQL_C_WCHAR) and UTF-8 (iconv), a row of cells to its JSON
 * payload (with embedded JSON columns and hidden columns), the source-id template ("thua_dat:{id}"), a connection string
 * with the password added, and a driver's diagnostic message made readable.
 * Everything here is unit-tested (test-sqlrow.c) without ODBC. */
#ifndef SQLROW_H
#define SQLROW_H

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. */
typedef struct {
    char  *data;
    size_t len;
    size_t cap;
} sqlrow_buf_t;

int  sqlrow_buf_reserve(sqlrow_buf_t *b, size_t extra);   /* 0 or -1 (no memory) */
int  sqlrow_buf_append(sqlrow_buf_t *b, const void *p, size_t n);
void sqlrow_buf_free(sqlrow_buf_t *b);

/* How a column becomes a JSON value. */
typedef enum {
    SQLROW_TEXT = 0,     /* a string, exactly as the database wrote it (numeric, dates too) */
    SQLROW_INT  = 1,     /* an integer type: a JSON integer (a string if it does not fit) */
    SQLROW_BOOL = 2,     /* SQL_BIT: true / false */
} sqlrow_kind_t;

/* What a column is to the payload (a stream's json_columns and hidden). */
typedef enum {
    SQLROW_PUBLISH = 0,  /* published as its kind says */
    SQLROW_EMBED   = 1,  /* json_columns: its text is JSON, published as that JSON value */
    SQLROW_HIDDEN  = 2,  /* hidden: read (watermark, id template) but not published */
} sqlrow_use_t;

/* One value of a row, as UTF-8 (borrowed). */
typedef struct {
    const char *data;
    size_t      len;
    bool        null;
} sqlrow_cell_t;

/* Text conversion. A converter pair is made once per connection. */
typedef struct {
    iconv_t to_utf8;     /* SQLWCHAR (UTF-16, host order) -> UTF-8 */
    iconv_t to_utf16;    /* UTF-8 -> SQLWCHAR */
} sqlrow_iconv_t;

int  sqlrow_iconv_open(sqlrow_iconv_t *cv);      /* 0 or -1 */
void sqlrow_iconv_close(sqlrow_iconv_t *cv);

/* Appends the UTF-8 text of n UTF-16 code units to out. Returns 0, or -1 if
 * the units are not valid UTF-16 (a lone surrogate), with *bad_unit the
 * index of the first invalid unit. */
int sqlrow_utf16_to_utf8(sqlrow_iconv_t *cv, const uint16_t *src, size_t n,
                         sqlrow_buf_t *out, size_t *bad_unit);
/* Replaces out with the UTF-16 units of a UTF-8 string (no terminator is
 * counted in *n_units; one is written). Returns 0, or -1 if text is not
 * valid UTF-8. */
int sqlrow_utf8_to_utf16(sqlrow_iconv_t *cv, const char *text, size_t len,
                         sqlrow_buf_t *out, size_t *n_units);

/* True if the n bytes are valid UTF-8 (what jansson accepts). */
bool sqlrow_utf8_valid(const char *p, size_t n);

/* Appends the JSON object {name: value, ...} of one row to out (compact,
 * columns in query order, NULL as null). uses (NULL: every column
 * published) leaves out SQLROW_HIDDEN columns and parses SQLROW_EMBED ones
 * (jansson: any JSON value, a repeated key refused), whose value is then
 * written compact; their numbers keep their value, written with the fewest
 * digits that read back as the same double. Returns 0, or -1 with the index
 * of the offending column in *bad_col (n: the whole object) and why in
 * why/whylen ("not valid UTF-8 text", "not valid JSON: ..."). */
int sqlrow_json(const char *const *names, const sqlrow_kind_t *kinds, const sqlrow_use_t *uses,
                const sqlrow_cell_t *cells, size_t n, sqlrow_buf_t *out, size_t *bad_col,
                char *why, size_t whylen);

/* The source-id template: literal text with {column} fields ("{{" and "}}"
 * are literal braces). */
typedef struct sqlrow_template sqlrow_template_t;

/* Parses text; NULL with err filled when it is malformed or has no field. */
sqlrow_template_t *sqlrow_template_new(const char *text, char *err, size_t errlen);
void sqlrow_template_destroy(sqlrow_template_t **self_p);
/* Maps every field to its column among names; -1 with err naming the
 * missing column. */
int sqlrow_template_resolve(sqlrow_template_t *self, const char *const *names, size_t n,
                            char *err, size_t errlen);
/* Writes the id of a row (NUL-terminated) into out (replaced). Returns 0, or
 * -1 with *bad_col the column that is NULL or empty. */
int sqlrow_template_expand(const sqlrow_template_t *self, const sqlrow_cell_t *cells,
                           sqlrow_buf_t *out, size_t *bad_col);

/* A connection string with Pwd={password} appended (braces doubled as ODBC
 * wants). Caller frees. NULL on no memory. */
char *sqlrow_connstr_with_password(const char *connstr, const char *password);
/* True if the connection string sets a password itself (PWD=/Password=). */
bool sqlrow_connstr_has_password(const char *connstr);

/* Copies a driver's diagnostic message into out without the "[vendor]"
 * prefixes, the "ERROR:" severity word and anything after the first line or
 * ";\n" (psqlODBC appends "Error while executing the query"). */
void sqlrow_clean_message(const char *msg, char *out, size_t outlen);

/* Parses a duration: "30", "30s", "500ms", "2m", "1h" into milliseconds.
 * -1 if malformed. */
int64_t sqlrow_parse_ms(const char *text);

#endif
