/* records.h — turns the bytes of one dropped file into raw source records:
 *   csv    each row → a JSON object {header: value} (UTF-8 NFC, values as
 *          strings), the row's bytes kept as `original` when the file was
 *          not UTF-8 NFC already
 *   jsonl  each line → the line itself (a JSON value, checked with jansson)
 *   xml    each element picked by an XPath (or an element name) → the
 *          element serialized (libxml2); a file that is not well-formed XML
 *          yields no record at all
 * Every payload is UTF-8 in NFC; when normalising (or decoding a legacy
 * encoding, vncodec.h) changed the bytes, `original` holds them.
 *
 * Each record gets a source id from a template (see fdrec_opts_t.id). Input
 * that cannot become a record (a malformed row, undecodable bytes, a line
 * that is not JSON, an empty id) is handed over as a bad item with its line
 * and the reason, and reading goes on. Independent of the adapter host so
 * that it can be fuzzed (tests/fuzz/) and reused. */
#ifndef LGSP_FDREC_H
#define LGSP_FDREC_H

#include <stdbool.h>
#include <stddef.h>

#include "vncodec.h"

typedef enum { FDREC_CSV = 0, FDREC_JSONL, FDREC_XML } fdrec_format_t;

typedef struct {
    fdrec_format_t format;
    /* The record's source id, a template: literal text and
     *   {NAME}       csv: the column with that header; jsonl: a dotted path
     *                into the object (a.b.0.c); xml: an XPath evaluated as a
     *                string with the record element as context (@maThuaDat)
     *   {#N}         csv: column N (from 1)
     *   {file}       the file name; {file:N} group N of name_regex;
     *   {file:N:a=b,c=d}  the same, with values a, c replaced by b, d
     *   {line}       the record's first line; {index} its number (from 1)
     *   {{ and }}    literal braces
     * NULL: "{file}:{line}". */
    const char  *id;
    const char  *name_regex;          /* POSIX ERE over the file name, for {file:N} */
    char         csv_delim;           /* ',' */
    char         csv_quote;           /* '"' */
    bool         csv_header;          /* the first row names the columns */
    const char *const *csv_columns;   /* NULL-terminated names (instead of / over the header) */
    bool         final_newline;       /* csv/jsonl: a last line without a line end is
                                         incomplete (a truncated file) → bad item */
    const char  *xml_records;         /* XPath ("/a/b[@c]") or an element name ("ThuaDat") */
    const char *const *xml_ns;        /* prefix, URI, prefix, URI ..., NULL */
    size_t       max_record;          /* bytes; larger records are bad items (0: no limit) */
} fdrec_opts_t;

/* One record, or one bad item (reason != NULL). Pointers are valid during
 * the callback only. */
typedef struct {
    size_t      index;               /* 0-based; records and bad items, in file order */
    size_t      line;                /* first line (1-based), 0 if unknown */
    const char *source_id;           /* NULL for a bad item */
    const char *payload;             /* NUL-terminated, NFC UTF-8 (records only) */
    size_t      payload_len;
    const char *content_type;        /* "application/json", "application/xml" */
    const void *original;            /* the source bytes, or NULL */
    size_t      original_len;
    const char *encoding;            /* of original ("tcvn3" ...), with original */
    const char *reason;              /* bad item: why */
} fdrec_item_t;

/* Called for every item; a non-zero return stops the reading. */
typedef int (*fdrec_fn)(void *arg, const fdrec_item_t *item);

typedef struct fdrec fdrec_t;

enum { FDREC_FAILED = -1, FDREC_OK = 0, FDREC_STOPPED = 1 };

/* Compiles the options (template, XPaths, regex). Returns NULL with err
 * ("id: unknown ...") on a bad option. The strings are copied. */
fdrec_t *fdrec_new(const fdrec_opts_t *opts, char *err, size_t errsz);
void fdrec_destroy(fdrec_t **self_p);

/* Reads one file's bytes in the given encoding (xml: utf-8 means "as the
 * XML declaration says"; a legacy encoding decodes the whole file first).
 * Returns FDREC_OK, FDREC_STOPPED (the callback said so), or FDREC_FAILED
 * when the file cannot be read as a whole (not XML, an undecodable CSV
 * header, a name that does not match name_regex, out of memory ...): err
 * says why and *err_line where (0 when not about a line). Items already
 * handed over before a failure stay handed over (CSV and JSON lines are
 * read in one pass; XML is checked whole before the first record). */
int fdrec_read(fdrec_t *self, const char *file_name, const void *data, size_t len,
               vncodec_enc_t enc, fdrec_fn cb, void *arg, char *err, size_t errsz,
               size_t *err_line);

#endif
