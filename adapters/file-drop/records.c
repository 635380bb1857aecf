/* records.c — see records.h. Three readers (CSV, JSON lines, XML) share the
 * source-id template and the way items are handed to the callback. */
#include "records.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "csvread.h"

/* ---- the source-id template ----------------------------------------- */

typedef enum { P_LIT, P_FIELD, P_COL, P_FILE, P_GROUP, P_LINE, P_INDEX } part_kind_t;

typedef struct {
    part_kind_t         kind;
    char               *text;     /* literal; field name (NFC) / JSON path / XPath */
    size_t              n;        /* P_COL: column (0-based); P_GROUP: group */
    char              **map;      /* P_GROUP: from, to, ..., NULL */
    xmlXPathCompExprPtr xp;       /* xml P_FIELD */
    char               *attr;     /* xml P_FIELD that is just "@name": read directly */
    size_t              col;      /* csv P_FIELD: the column, per file */
} part_t;

#define MAX_GROUPS 10

struct fdrec {
    fdrec_opts_t        o;
    char              **csv_columns;   /* NFC copies */
    size_t              ncolumns;
    char              **xml_ns;
    part_t             *parts;
    size_t              nparts;
    bool                has_re;
    regex_t             re;
    xmlXPathCompExprPtr records_xp;
    char               *records_name; /* xml.records is an element name: walk the tree */
    /* per file */
    vncodec_t          *codec[VNCODEC__COUNT];
    const char         *file;
    regmatch_t          m[MAX_GROUPS];
    vncodec_buf_t       id, text, orig, row;
    char                reason[512];
};

static char *s_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void s_free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* NFC copy of a UTF-8 string from the configuration. */
static char *s_nfc_dup(const char *s)
{
    vncodec_buf_t b = { 0 };
    if (vncodec_utf8_nfc(s, strlen(s), &b, NULL) != 0 || !b.data) {
        vncodec_buf_free(&b);
        return strdup(s);
    }
    return b.data;
}

static int s_errf(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_errf(char *err, size_t errsz, const char *fmt, ...)
{
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool s_all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* An XML name without a prefix (what "@name" or an element name may be). */
static bool s_is_name(const char *s)
{
    if (!*s || isdigit((unsigned char)*s) || *s == '-' || *s == '.')
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.' || (unsigned char)*s >= 0x80))
            return false;
    return true;
}

/* Parses "{file:N:a=b,c=d}" after "file:". */
static int s_parse_group(part_t *p, const char *s, size_t n, char *err, size_t errsz)
{
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == 0 || i > 2)
        return s_errf(err, errsz, "id: {file:N}: N must be a group number");
    p->n = (size_t)strtoul(s, NULL, 10);
    if (p->n >= MAX_GROUPS)
        return s_errf(err, errsz, "id: {file:%zu}: at most %d groups", p->n, MAX_GROUPS - 1);
    p->kind = P_GROUP;
    if (i == n)
        return 0;
    if (s[i] != ':')
        return s_errf(err, errsz, "id: {file:N...}: ':' expected after the group number");
    i++;
    /* a=b,c=d */
    size_t count = 1;
    for (size_t k = i; k < n; k++)
        if (s[k] == ',')
            count++;
    p->map = calloc(2 * count + 1, sizeof *p->map);
    if (!p->map)
        return s_errf(err, errsz, "out of memory");
    size_t m = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && s[e] != ',')
            e++;
        const char *eq = memchr(s + i, '=', e - i);
        if (!eq)
            return s_errf(err, errsz, "id: {file:%zu:...}: each replacement is from=to", p->n);
        p->map[m++] = strndup(s + i, (size_t)(eq - (s + i)));
        p->map[m++] = strndup(eq + 1, (size_t)(s + e - (eq + 1)));
        if (!p->map[m - 2] || !p->map[m - 1])
            return s_errf(err, errsz, "out of memory");
        i = e + 1;
    }
    return 0;
}

static int s_add_part(fdrec_t *self, part_kind_t kind, const char *text, size_t len)
{
    part_t *np = realloc(self->parts, (self->nparts + 1) * sizeof *np);
    if (!np)
        return -1;
    self->parts = np;
    part_t *p = &self->parts[self->nparts++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    if (text) {
        p->text = strndup(text, len);
        if (!p->text)
            return -1;
    }
    return 0;
}

static int s_compile_template(fdrec_t *self, const char *t, char *err, size_t errsz)
{
    /* literal text gathers in a scratch buffer ("{{" → "{") */
    vncodec_buf_t acc = { 0 };
    for (const char *s = t; *s;) {
        if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
            vncodec_buf_put(&acc, s, 1);
            s += 2;
            continue;
        }
        if (*s == '}') {
            vncodec_buf_free(&acc);
            return s_errf(err, errsz, "id: a lone '}' (write '}}' for a brace)");
        }
        if (*s != '{') {
            vncodec_buf_put(&acc, s, 1);
            s++;
            continue;
        }
        const char *end = strchr(s + 1, '}');
        if (!end) {
            vncodec_buf_free(&acc);
            return s_errf(err, errsz, "id: '{' without its '}'");
        }
        if (acc.len) {
            if (s_add_part(self, P_LIT, acc.data, acc.len) != 0) {
                vncodec_buf_free(&acc);
                return s_errf(err, errsz, "out of memory");
            }
            acc.len = 0;
        }
        const char *c = s + 1;
        size_t n = (size_t)(end - c);
        int rc = 0;
        if (n == 0) {
            rc = s_errf(err, errsz, "id: empty {}");
        } else if (n == 4 && memcmp(c, "file", 4) == 0) {
            rc = s_add_part(self, P_FILE, NULL, 0);
        } else if (n == 4 && memcmp(c, "line", 4) == 0) {
            rc = s_add_part(self, P_LINE, NULL, 0);
        } else if (n == 5 && memcmp(c, "index", 5) == 0) {
            rc = s_add_part(self, P_INDEX, NULL, 0);
        } else if (n > 5 && memcmp(c, "file:", 5) == 0) {
            rc = s_add_part(self, P_GROUP, NULL, 0);
            if (rc == 0) {
                rc = s_parse_group(&self->parts[self->nparts - 1], c + 5, n - 5, err, errsz);
                if (rc == 0 && !self->o.name_regex)
                    rc = s_errf(err, errsz, "id: {file:N} needs name_regex");
            }
        } else if (c[0] == '#') {
            if (self->o.format != FDREC_CSV || !s_all_digits(c + 1, n - 1) || strtoul(c + 1, NULL, 10) == 0)
                rc = s_errf(err, errsz, "id: {#N} is a CSV column number from 1");
            else if ((rc = s_add_part(self, P_COL, NULL, 0)) == 0)
                self->parts[self->nparts - 1].n = strtoul(c + 1, NULL, 10) - 1;
        } else {
            rc = s_add_part(self, P_FIELD, c, n);
            if (rc == 0) {
                part_t *p = &self->parts[self->nparts - 1];
                if (self->o.format == FDREC_CSV) {
                    char *nfc = s_nfc_dup(p->text);
                    free(p->text);
                    p->text = nfc;
                } else if (self->o.format == FDREC_XML) {
                    p->xp = xmlXPathCompile(BAD_CAST p->text);
                    if (!p->xp)
                        rc = s_errf(err, errsz, "id: {%s} is not an XPath expression", p->text);
                    else if (p->text[0] == '@' && s_is_name(p->text + 1) && !(p->attr = strdup(p->text + 1)))
                        rc = -1;
                }
            }
        }
        if (rc != 0) {
            vncodec_buf_free(&acc);
            if (err && errsz && !err[0])
                s_errf(err, errsz, "out of memory");
            return -1;
        }
        s = end + 1;
    }
    int rc = 0;
    if (acc.len && s_add_part(self, P_LIT, acc.data, acc.len) != 0)
        rc = s_errf(err, errsz, "out of memory");
    vncodec_buf_free(&acc);
    return rc;
}

/* libxml2 reports errors through a per-thread handler; ours are collected
 * from the parser context instead, so keep the handler quiet. */
#if LIBXML_VERSION >= 21200
static void s_xml_silent(void *ctx, const xmlError *e)
#else
static void s_xml_silent(void *ctx, xmlErrorPtr e)
#endif
{
    (void)ctx;
    (void)e;
}

static void s_xml_quiet(void)
{
    xmlSetStructuredErrorFunc(NULL, s_xml_silent);
}

fdrec_t *fdrec_new(const fdrec_opts_t *opts, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    fdrec_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_errf(err, errsz, "out of memory");
        return NULL;
    }
    self->o = *opts;
    self->o.id = s_strdup(opts->id ? opts->id : "{file}:{line}");
    self->o.name_regex = s_strdup(opts->name_regex);
    self->o.xml_records = s_strdup(opts->xml_records);
    self->o.csv_columns = NULL;
    self->o.xml_ns = NULL;
    if (!self->o.csv_delim)
        self->o.csv_delim = ',';
    if (!self->o.csv_quote)
        self->o.csv_quote = '"';
    if (self->o.format == FDREC_XML)
        s_xml_quiet();
    if (opts->csv_columns) {
        size_t n = 0;
        while (opts->csv_columns[n])
            n++;
        self->csv_columns = calloc(n + 1, sizeof *self->csv_columns);
        if (!self->csv_columns)
            goto nomem;
        for (size_t i = 0; i < n; i++)
            if (!(self->csv_columns[i] = s_nfc_dup(opts->csv_columns[i])))
                goto nomem;
        self->ncolumns = n;
    }
    if (opts->xml_ns) {
        size_t n = 0;
        while (opts->xml_ns[n] && opts->xml_ns[n + 1])
            n += 2;
        self->xml_ns = calloc(n + 1, sizeof *self->xml_ns);
        if (!self->xml_ns)
            goto nomem;
        for (size_t i = 0; i < n; i++)
            if (!(self->xml_ns[i] = strdup(opts->xml_ns[i])))
                goto nomem;
    }
    if (self->o.name_regex) {
        int rc = regcomp(&self->re, self->o.name_regex, REG_EXTENDED);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &self->re, msg, sizeof msg);
            s_errf(err, errsz, "name_regex: %s", msg);
            goto fail;
        }
        self->has_re = true;
    }
    if (s_compile_template(self, self->o.id, err, errsz) != 0)
        goto fail;
    if (self->o.format == FDREC_XML) {
        const char *r = self->o.xml_records;
        if (!r || !*r) {
            s_errf(err, errsz, "xml.records: the records' XPath or element name is required");
            goto fail;
        }
        if (s_is_name(r)) {
            /* an element name: anywhere, in any namespace, as the XPath
             * "every element whose local-name() is NAME", found by walking the tree */
            if (!(self->records_name = strdup(r)))
                goto nomem;
        } else {
            self->records_xp = xmlXPathCompile(BAD_CAST r);
            if (!self->records_xp) {
                s_errf(err, errsz, "xml.records: '%s' is not an XPath expression", r);
                goto fail;
            }
        }
    }
    return self;
nomem:
    s_errf(err, errsz, "out of memory");
fail:
    fdrec_destroy(&self);
    return NULL;
}

void fdrec_destroy(fdrec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdrec_t *self = *self_p;
    for (size_t i = 0; i < self->nparts; i++) {
        free(self->parts[i].text);
        s_free_strv(self->parts[i].map);
        if (self->parts[i].xp)
            xmlXPathFreeCompExpr(self->parts[i].xp);
        free(self->parts[i].attr);
    }
    free(self->parts);
    if (self->records_xp)
        xmlXPathFreeCompExpr(self->records_xp);
    free(self->records_name);
    if (self->has_re)
        regfree(&self->re);
    s_free_strv(self->csv_columns);
    s_free_strv(self->xml_ns);
    free((char *)self->o.id);
    free((char *)self->o.name_regex);
    free((char *)self->o.xml_records);
    for (int i = 0; i < VNCODEC__COUNT; i++)
        vncodec_destroy(&self->codec[i]);
    vncodec_buf_free(&self->id);
    vncodec_buf_free(&self->text);
    vncodec_buf_free(&self->orig);
    vncodec_buf_free(&self->row);
    free(self);
    *self_p = NULL;
}

static vncodec_t *s_codec(fdrec_t *self, vncodec_enc_t enc)
{
    if ((unsigned)enc >= VNCODEC__COUNT)
        return NULL;
    if (!self->codec[enc])
        self->codec[enc] = vncodec_new(enc);
    return self->codec[enc];
}

/* Appends a field's value for the id; returns 0, or -1 with self->reason. */
typedef int (*s_field_fn)(fdrec_t *self, part_t *p, void *ctx, vncodec_buf_t *out);

/* Builds the source id into self->id. Returns 0 or -1 (self->reason). */
static int s_expand(fdrec_t *self, size_t line, size_t index, s_field_fn field, void *ctx)
{
    vncodec_buf_t *b = &self->id;
    b->len = 0;
    vncodec_buf_put(b, "", 0);
    char num[32];
    for (size_t i = 0; i < self->nparts; i++) {
        part_t *p = &self->parts[i];
        size_t before = b->len;
        int rc = 0;
        switch (p->kind) {
        case P_LIT:
            rc = vncodec_buf_put(b, p->text, strlen(p->text));
            break;
        case P_FILE:
            rc = vncodec_buf_put(b, self->file, strlen(self->file));
            break;
        case P_LINE:
            snprintf(num, sizeof num, "%zu", line);
            rc = vncodec_buf_put(b, num, strlen(num));
            break;
        case P_INDEX:
            snprintf(num, sizeof num, "%zu", index + 1);
            rc = vncodec_buf_put(b, num, strlen(num));
            break;
        case P_GROUP: {
            regmatch_t *m = &self->m[p->n];
            const char *v = m->rm_so >= 0 ? self->file + m->rm_so : "";
            size_t vl = m->rm_so >= 0 ? (size_t)(m->rm_eo - m->rm_so) : 0;
            for (char **mp = p->map; mp && mp[0]; mp += 2)
                if (strlen(mp[0]) == vl && memcmp(mp[0], v, vl) == 0) {
                    v = mp[1];
                    vl = strlen(v);
                    break;
                }
            rc = vncodec_buf_put(b, v, vl);
            break;
        }
        case P_COL:
        case P_FIELD:
            if (field(self, p, ctx, b) != 0)
                return -1;
            if (b->len == before) {
                if (p->kind == P_COL)
                    snprintf(self->reason, sizeof self->reason, "the record id's column %zu is empty", p->n + 1);
                else
                    snprintf(self->reason, sizeof self->reason, "the record id's field {%s} is empty", p->text);
                return -1;
            }
            break;
        }
        if (rc != 0) {
            snprintf(self->reason, sizeof self->reason, "out of memory");
            return -1;
        }
    }
    if (b->len == 0) {
        snprintf(self->reason, sizeof self->reason, "the record id is empty");
        return -1;
    }
    if (memchr(b->data, '\0', b->len)) {
        snprintf(self->reason, sizeof self->reason, "the record id holds a NUL");
        return -1;
    }
    return 0;
}

/* Hands a bad item to the callback. */
static int s_bad(fdrec_fn cb, void *arg, size_t index, size_t line, const void *raw, size_t raw_len,
                 const char *reason)
{
    fdrec_item_t it = { .index = index, .line = line, .original = raw, .original_len = raw_len,
                        .reason = reason };
    return cb(arg, &it);
}

static int s_too_big(fdrec_t *self, size_t len)
{
    if (self->o.max_record && len > self->o.max_record) {
        snprintf(self->reason, sizeof self->reason, "record of %zu bytes, larger than the limit (%zu)", len,
                 self->o.max_record);
        return 1;
    }
    return 0;
}

/* ---- CSV ------------------------------------------------------------ */

typedef struct {
    size_t *off, *len;     /* decoded fields in self->row */
    size_t  n, cap;
} s_row_t;

static int s_csv_field(fdrec_t *self, part_t *p, void *ctx, vncodec_buf_t *out)
{
    s_row_t *r = ctx;
    size_t c = p->kind == P_COL ? p->n : p->col;
    if (c >= r->n) {
        snprintf(self->reason, sizeof self->reason, "the record id's column %zu is missing", c + 1);
        return -1;
    }
    return vncodec_buf_put(out, self->row.data + r->off[c], r->len[c]);
}

/* Decodes every field of the current row into self->row. Returns 0, or -1
 * with self->reason; *changed says whether a field's text differs from its
 * bytes. */
static int s_csv_decode_row(fdrec_t *self, csvread_t *rd, vncodec_t *codec, s_row_t *r,
                            char **names, bool *changed)
{
    size_t n = csvread_nfields(rd);
    if (n > r->cap) {
        size_t *o = realloc(r->off, n * sizeof *o);
        if (o)
            r->off = o;
        size_t *l = o ? realloc(r->len, n * sizeof *l) : NULL;
        if (!o || !l) {
            snprintf(self->reason, sizeof self->reason, "out of memory");
            return -1;
        }
        r->len = l;
        r->cap = n;
    }
    self->row.len = 0;
    vncodec_buf_put(&self->row, "", 0);
    *changed = false;
    for (size_t i = 0; i < n; i++) {
        size_t fl;
        const char *f = csvread_field(rd, i, &fl);
        size_t start = self->row.len;
        vncodec_error_t e;
        if (vncodec_decode(codec, f, fl, &self->row, &e) != 0) {
            if (names)
                snprintf(self->reason, sizeof self->reason, "column %zu (%s), byte %zu of the field: %s", i + 1,
                         names[i], e.pos + 1, e.msg);
            else
                snprintf(self->reason, sizeof self->reason, "column %zu, byte %zu of the field: %s", i + 1,
                         e.pos + 1, e.msg);
            return -1;
        }
        r->off[i] = start;
        r->len[i] = self->row.len - start;
        if (!*changed && (r->len[i] != fl || memcmp(self->row.data + start, f, fl) != 0))
            *changed = true;
        /* keep each field NUL-terminated: the next one starts after a NUL */
        if (vncodec_buf_put(&self->row, "", 1) != 0) {
            snprintf(self->reason, sizeof self->reason, "out of memory");
            return -1;
        }
    }
    r->n = n;
    return 0;
}

static int s_read_csv(fdrec_t *self, const unsigned char *data, size_t len, vncodec_enc_t enc, fdrec_fn cb,
                      void *arg, char *err, size_t errsz, size_t *err_line)
{
    vncodec_t *codec = s_codec(self, enc);
    if (!codec)
        return s_errf(err, errsz, "no decoder for %s", vncodec_enc_name(enc));
    if (enc == VNCODEC_UTF8) {
        size_t bom = vncodec_bom_len(data, len);
        data += bom;
        len -= bom;
    }
    csvread_t *rd = csvread_new(data, len, self->o.csv_delim, self->o.csv_quote);
    if (!rd)
        return s_errf(err, errsz, "out of memory");
    s_row_t row = { 0 };
    char **names = NULL;
    size_t ncols = 0;
    int result = FDREC_OK;
    json_t *obj = NULL;

    /* the column names: from the header row and/or the csv_columns option */
    if (self->o.csv_header) {
        int rc;
        while ((rc = csvread_next(rd)) == CSVREAD_ROW) {
            size_t rl;
            csvread_raw(rd, &rl);
            if (rl > 0)
                break;
        }
        if (rc == CSVREAD_END)
            goto done;      /* an empty file: no records */
        *err_line = csvread_line(rd);
        if (rc == CSVREAD_ERROR) {
            result = s_errf(err, errsz, "header row: %s", csvread_error(rd));
            goto done;
        }
        if (self->o.final_newline && !csvread_terminated(rd)) {
            result = s_errf(err, errsz, "incomplete header line (no line end; truncated file?)");
            goto done;
        }
        bool changed;
        if (s_csv_decode_row(self, rd, codec, &row, NULL, &changed) != 0) {
            result = s_errf(err, errsz, "header row: %s", self->reason);
            goto done;
        }
        ncols = row.n;
        if (!self->csv_columns) {
            names = calloc(ncols + 1, sizeof *names);
            if (!names) {
                result = s_errf(err, errsz, "out of memory");
                goto done;
            }
            for (size_t i = 0; i < ncols; i++) {
                const char *h = self->row.data + row.off[i];
                if (*h) {
                    names[i] = strdup(h);
                } else {
                    char nm[32];
                    snprintf(nm, sizeof nm, "_%zu", i + 1);    /* a column without a name */
                    names[i] = strdup(nm);
                }
                if (!names[i]) {
                    result = s_errf(err, errsz, "out of memory");
                    goto done;
                }
                for (size_t k = 0; k < i; k++)
                    if (strcmp(names[k], names[i]) == 0) {
                        result = s_errf(err, errsz, "header row: column %zu repeats the name of column %zu", i + 1,
                                        k + 1);
                        goto done;
                    }
            }
        }
    }
    if (self->csv_columns) {
        ncols = self->ncolumns;
        names = calloc(ncols + 1, sizeof *names);
        if (!names) {
            result = s_errf(err, errsz, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < ncols; i++)
            if (!(names[i] = strdup(self->csv_columns[i]))) {
                result = s_errf(err, errsz, "out of memory");
                goto done;
            }
    }
    /* the id template's columns */
    for (size_t i = 0; i < self->nparts; i++) {
        part_t *p = &self->parts[i];
        if (p->kind != P_FIELD)
            continue;
        size_t k = 0;
        while (names && k < ncols && strcmp(names[k], p->text) != 0)
            k++;
        if (!names || k == ncols) {
            *err_line = self->o.csv_header ? *err_line : 0;
            result = s_errf(err, errsz, "the record id's column '%s' is not in the header", p->text);
            goto done;
        }
        p->col = k;
    }

    size_t index = 0;
    for (;;) {
        int rc = csvread_next(rd);
        if (rc == CSVREAD_END)
            break;
        size_t rl;
        const char *raw = csvread_raw(rd, &rl);
        size_t line = csvread_line(rd);
        int stop = 0;
        if (rc == CSVREAD_ERROR) {
            if (self->o.final_newline && !csvread_terminated(rd)) {
                /* e.g. a quote left open by the cut of a truncated file */
                snprintf(self->reason, sizeof self->reason,
                         "incomplete last line (no line end; truncated file?): %s", csvread_error(rd));
                stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
            } else {
                stop = s_bad(cb, arg, index++, line, raw, rl, csvread_error(rd));
            }
        } else if (rl == 0) {
            continue;       /* an empty line */
        } else if (self->o.final_newline && !csvread_terminated(rd)) {
            stop = s_bad(cb, arg, index++, line, raw, rl,
                         "incomplete last line (no line end; truncated file?)");
        } else if (names && csvread_nfields(rd) != ncols) {
            snprintf(self->reason, sizeof self->reason, "%zu fields, the header has %zu", csvread_nfields(rd),
                     ncols);
            stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
        } else {
            bool changed;
            if (s_csv_decode_row(self, rd, codec, &row, names, &changed) != 0 ||
                s_expand(self, line, index, s_csv_field, &row) != 0) {
                stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
            } else {
                obj = json_object();
                bool ok = obj != NULL;
                for (size_t i = 0; ok && i < row.n; i++) {
                    char nm[32];
                    const char *key = names ? names[i] : (snprintf(nm, sizeof nm, "%zu", i + 1), nm);
                    ok = json_object_set_new_nocheck(obj, key,
                                                     json_stringn_nocheck(self->row.data + row.off[i],
                                                                          row.len[i])) == 0;
                }
                char *js = ok ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                json_decref(obj);
                obj = NULL;
                if (!js) {
                    result = s_errf(err, errsz, "out of memory");
                    goto done;
                }
                size_t jl = strlen(js);
                if (s_too_big(self, jl)) {
                    stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
                } else {
                    bool orig = enc != VNCODEC_UTF8 || changed;
                    fdrec_item_t it = { .index = index++, .line = line, .source_id = self->id.data,
                                        .payload = js, .payload_len = jl, .content_type = "application/json",
                                        .original = orig ? raw : NULL, .original_len = orig ? rl : 0,
                                        .encoding = orig ? vncodec_enc_name(enc) : NULL };
                    stop = cb(arg, &it);
                }
                free(js);
            }
        }
        if (stop) {
            result = FDREC_STOPPED;
            break;
        }
    }
done:
    json_decref(obj);
    s_free_strv(names);
    free(row.off);
    free(row.len);
    csvread_destroy(&rd);
    return result;
}

/* ---- JSON lines ----------------------------------------------------- */

static int s_json_field(fdrec_t *self, part_t *p, void *ctx, vncodec_buf_t *out)
{
    json_t *v = ctx;
    const char *s = p->text;
    while (v && *s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (json_is_object(v)) {
            char key[256];
            if (n >= sizeof key) {
                v = NULL;
                break;
            }
            memcpy(key, s, n);
            key[n] = '\0';
            v = json_object_get(v, key);
        } else if (json_is_array(v) && s_all_digits(s, n) && n < 10) {
            v = json_array_get(v, (size_t)strtoul(s, NULL, 10));
        } else {
            v = NULL;
        }
        s += n + (dot ? 1 : 0);
        if (!dot)
            break;
    }
    char num[64];
    if (json_is_string(v))
        return vncodec_buf_put(out, json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return vncodec_buf_put(out, num, strlen(num));
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return vncodec_buf_put(out, num, strlen(num));
    }
    if (json_is_boolean(v))
        return vncodec_buf_put(out, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
    return 0;      /* missing or null: empty, reported by s_expand */
}

static bool s_blank(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

static int s_read_jsonl(fdrec_t *self, const unsigned char *data, size_t len, vncodec_enc_t enc, fdrec_fn cb,
                        void *arg, char *err, size_t errsz)
{
    vncodec_t *codec = s_codec(self, enc);
    if (!codec)
        return s_errf(err, errsz, "no decoder for %s", vncodec_enc_name(enc));
    size_t pos = 0, line = 0, index = 0;
    if (enc == VNCODEC_UTF8)
        pos = vncodec_bom_len(data, len);
    while (pos < len) {
        line++;
        const unsigned char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        const unsigned char *raw = data + pos;
        size_t rl = end - pos;
        pos = nl ? end + 1 : len;
        if (rl && raw[rl - 1] == '\r')
            rl--;
        if (s_blank(raw, rl))
            continue;
        int stop;
        vncodec_error_t e;
        self->text.len = 0;
        if (self->o.final_newline && !nl) {
            stop = s_bad(cb, arg, index++, line, raw, rl, "incomplete last line (no line end; truncated file?)");
        } else if (vncodec_decode(codec, raw, rl, &self->text, &e) != 0) {
            snprintf(self->reason, sizeof self->reason, "byte %zu of the line: %s", e.pos + 1, e.msg);
            stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
        } else {
            json_error_t je;
            json_t *v = json_loadb(self->text.data, self->text.len, JSON_DECODE_ANY, &je);
            if (!v) {
                snprintf(self->reason, sizeof self->reason, "not JSON: %s (column %d)", je.text, je.column);
                stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
            } else if (s_expand(self, line, index, s_json_field, v) != 0 || s_too_big(self, self->text.len)) {
                json_decref(v);
                stop = s_bad(cb, arg, index++, line, raw, rl, self->reason);
            } else {
                json_decref(v);
                bool orig = enc != VNCODEC_UTF8 || self->text.len != rl || memcmp(self->text.data, raw, rl) != 0;
                fdrec_item_t it = { .index = index++, .line = line, .source_id = self->id.data,
                                    .payload = self->text.data, .payload_len = self->text.len,
                                    .content_type = "application/json", .original = orig ? raw : NULL,
                                    .original_len = orig ? rl : 0, .encoding = orig ? vncodec_enc_name(enc) : NULL };
                stop = cb(arg, &it);
            }
        }
        if (stop)
            return FDREC_STOPPED;
    }
    (void)err;
    (void)errsz;
    return FDREC_OK;
}

/* ---- XML ------------------------------------------------------------- */

typedef struct {
    xmlXPathContextPtr xc;
    xmlNodePtr         node;
} s_xml_ctx_t;

static int s_xml_field(fdrec_t *self, part_t *p, void *ctx, vncodec_buf_t *out)
{
    s_xml_ctx_t *x = ctx;
    xmlChar *s;
    if (p->attr) {
        /* "@name": the attribute (no namespace), as the XPath would */
        s = xmlGetNoNsProp(x->node, BAD_CAST p->attr);
        if (!s)
            s = xmlStrdup(BAD_CAST "");
    } else {
        x->xc->node = x->node;
        xmlXPathObjectPtr r = xmlXPathCompiledEval(p->xp, x->xc);
        if (!r) {
            snprintf(self->reason, sizeof self->reason, "the record id's XPath {%s} failed", p->text);
            return -1;
        }
        s = xmlXPathCastToString(r);
        xmlXPathFreeObject(r);
    }
    if (!s) {
        snprintf(self->reason, sizeof self->reason, "out of memory");
        return -1;
    }
    /* an id is one line of text: trim the whitespace around it */
    const char *b = (const char *)s;
    size_t n = strlen(b);
    while (n && isspace((unsigned char)*b))
        b++, n--;
    while (n && isspace((unsigned char)b[n - 1]))
        n--;
    int rc = vncodec_buf_put(out, b, n);
    xmlFree(s);
    return rc;
}

/* True when the node uses a namespace declared above it: it is then copied
 * into a document of its own so that the declarations come with it. */
static bool s_needs_ns(xmlNodePtr node)
{
    for (xmlNodePtr a = node->parent; a && a->type == XML_ELEMENT_NODE; a = a->parent)
        if (a->nsDef)
            return true;
    return false;
}

/* The elements named name (local name, any namespace) under and including
 * root, in document order. */
static int s_find_elements(xmlNodePtr root, const char *name, xmlNodePtr **out, size_t *n)
{
    size_t cap = 0;
    xmlNodePtr cur = root;
    while (cur) {
        if (cur->type == XML_ELEMENT_NODE && cur->name && strcmp((const char *)cur->name, name) == 0) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                xmlNodePtr *v = realloc(*out, cap * sizeof *v);
                if (!v)
                    return -1;
                *out = v;
            }
            (*out)[(*n)++] = cur;
        }
        /* next in document order: down, else right, else up and right */
        if (cur->type == XML_ELEMENT_NODE && cur->children) {
            cur = cur->children;
            continue;
        }
        while (cur && cur != root && !cur->next)
            cur = cur->parent;
        if (!cur || cur == root)
            break;
        cur = cur->next;
    }
    return 0;
}

static int s_read_xml(fdrec_t *self, const unsigned char *data, size_t len, vncodec_enc_t enc, fdrec_fn cb,
                      void *arg, char *err, size_t errsz, size_t *err_line)
{
    const char *xml = (const char *)data;
    size_t xlen = len;
    const char *force = NULL;
    if (enc != VNCODEC_UTF8) {
        /* a legacy single-byte encoding libxml2 cannot know: decode it all */
        vncodec_t *codec = s_codec(self, enc);
        vncodec_error_t e;
        self->text.len = 0;
        if (!codec)
            return s_errf(err, errsz, "no decoder for %s", vncodec_enc_name(enc));
        if (vncodec_decode(codec, data, len, &self->text, &e) != 0) {
            size_t line = 1;
            for (size_t i = 0; i < e.pos && i < len; i++)
                line += data[i] == '\n';
            *err_line = line;
            return s_errf(err, errsz, "%s (byte %zu of the file)", e.msg, e.pos + 1);
        }
        xml = self->text.data;
        xlen = self->text.len;
        force = "UTF-8";
    }
    if (xlen > INT_MAX)
        return s_errf(err, errsz, "file too large for the XML parser (%zu bytes)", xlen);
    s_xml_quiet();
    xmlParserCtxtPtr pc = xmlNewParserCtxt();
    if (!pc)
        return s_errf(err, errsz, "out of memory");
    /* no network, no entity substitution (XXE), line numbers past 65535 */
    int popts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES |
                XML_PARSE_COMPACT;
    xmlDocPtr doc = xmlCtxtReadMemory(pc, xml, (int)xlen, self->file, force, popts);
    if (!doc || !pc->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(pc);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", e && e->message ? e->message : "not well-formed");
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        *err_line = e && e->line > 0 ? (size_t)e->line : 0;
        if (doc)
            xmlFreeDoc(doc);
        xmlFreeParserCtxt(pc);
        return s_errf(err, errsz, "not well-formed XML: %s", msg);
    }
    xmlFreeParserCtxt(pc);
    if (doc->intSubset || doc->extSubset) {
        /* entity declarations could expand without bound in the records'
         * text; exports never need a DTD */
        xmlFreeDoc(doc);
        return s_errf(err, errsz, "XML with a DTD (<!DOCTYPE>) is not accepted");
    }
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    if (!xc) {
        xmlFreeDoc(doc);
        return s_errf(err, errsz, "out of memory");
    }
    for (char **ns = self->xml_ns; ns && ns[0] && ns[1]; ns += 2)
        xmlXPathRegisterNs(xc, BAD_CAST ns[0], BAD_CAST ns[1]);
    int result = FDREC_OK;
    /* one output buffer for all records: libxml2's xmlNodeDump() makes a
     * 4 KiB buffer per call, and that malloc churn was a third of the time */
    xmlOutputBufferPtr xb = xmlAllocOutputBuffer(NULL);
    xmlXPathObjectPtr set = NULL;
    xmlNodePtr *nodes = NULL;
    size_t count = 0;
    if (!xb) {
        result = s_errf(err, errsz, "out of memory");
        goto done;
    }
    if (self->records_name) {
        if (s_find_elements(xmlDocGetRootElement(doc), self->records_name, &nodes, &count) != 0) {
            result = s_errf(err, errsz, "out of memory");
            goto done;
        }
    } else {
        set = xmlXPathCompiledEval(self->records_xp, xc);
        if (!set || set->type != XPATH_NODESET) {
            result = s_errf(err, errsz, "xml.records does not select nodes");
            goto done;
        }
        count = set->nodesetval ? (size_t)set->nodesetval->nodeNr : 0;
    }
    for (size_t i = 0; i < count; i++) {
        xmlNodePtr node = nodes ? nodes[i] : set->nodesetval->nodeTab[i];
        size_t index = i;
        long ln = xmlGetLineNo(node);
        size_t line = ln > 0 ? (size_t)ln : 0;
        int stop;
        xmlBufShrink(xb->buffer, xmlBufUse(xb->buffer));
        if (node->type != XML_ELEMENT_NODE) {
            stop = s_bad(cb, arg, index, line, NULL, 0, "xml.records selected something other than an element");
        } else {
            if (s_needs_ns(node)) {
                xmlDocPtr one = xmlNewDoc(BAD_CAST "1.0");
                xmlNodePtr copy = one ? xmlDocCopyNode(node, one, 1) : NULL;
                if (copy) {
                    xmlDocSetRootElement(one, copy);
                    xmlReconciliateNs(one, copy);
                    xmlNodeDumpOutput(xb, one, copy, 0, 0, NULL);
                }
                if (one)
                    xmlFreeDoc(one);
            } else {
                xmlNodeDumpOutput(xb, doc, node, 0, 0, NULL);
            }
            const char *ser = xb->error ? NULL : (const char *)xmlOutputBufferGetContent(xb);
            size_t sl = ser ? xmlOutputBufferGetSize(xb) : 0;
            vncodec_error_t e;
            s_xml_ctx_t x = { xc, node };
            self->orig.len = 0;
            if (!ser || sl == 0) {
                result = s_errf(err, errsz, "out of memory");
                break;
            }
            if (vncodec_utf8_nfc(ser, sl, &self->orig, &e) != 0) {
                snprintf(self->reason, sizeof self->reason, "%s", e.msg);
                stop = s_bad(cb, arg, index, line, ser, sl, self->reason);
            } else if (s_expand(self, line, index, s_xml_field, &x) != 0 || s_too_big(self, self->orig.len)) {
                stop = s_bad(cb, arg, index, line, ser, sl, self->reason);
            } else {
                bool changed = self->orig.len != sl || memcmp(self->orig.data, ser, sl) != 0;
                fdrec_item_t it = { .index = index, .line = line, .source_id = self->id.data,
                                    .payload = self->orig.data, .payload_len = self->orig.len,
                                    .content_type = "application/xml", .original = changed ? ser : NULL,
                                    .original_len = changed ? sl : 0, .encoding = changed ? "utf-8" : NULL };
                stop = cb(arg, &it);
            }
        }
        if (stop) {
            result = FDREC_STOPPED;
            break;
        }
    }
done:
    free(nodes);
    if (set)
        xmlXPathFreeObject(set);
    if (xb)
        xmlOutputBufferClose(xb);
    xmlXPathFreeContext(xc);
    xmlFreeDoc(doc);
    return result;
}

/* ---- entry ------------------------------------------------------------- */

int fdrec_read(fdrec_t *self, const char *file_name, const void *data, size_t len, vncodec_enc_t enc,
               fdrec_fn cb, void *arg, char *err, size_t errsz, size_t *err_line)
{
    size_t dummy;
    if (!err_line)
        err_line = &dummy;
    *err_line = 0;
    if (err && errsz)
        err[0] = '\0';
    if (!data)
        data = "";
    self->file = file_name;
    regmatch_t m[MAX_GROUPS];
    for (int i = 0; i < MAX_GROUPS; i++)
        m[i].rm_so = m[i].rm_eo = -1;
    if (self->has_re && regexec(&self->re, file_name, MAX_GROUPS, m, 0) != 0)
        return s_errf(err, errsz, "the file name does not match name_regex");
    memcpy(self->m, m, sizeof m);
    switch (self->o.format) {
    case FDREC_CSV:   return s_read_csv(self, data, len, enc, cb, arg, err, errsz, err_line);
    case FDREC_JSONL: return s_read_jsonl(self, data, len, enc, cb, arg, err, errsz);
    case FDREC_XML:   return s_read_xml(self, data, len, enc, cb, arg, err, errsz, err_line);
    }
    return s_errf(err, errsz, "unknown format");
}
