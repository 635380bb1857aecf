/* sqlrow.c — the sql adapter's conversions that need no database: UTF-16
 * <-> UTF-8 with iconv, a row to its JSON payload with jansson, the
 * source-id template, the connection string with its password, diagnostic
 * messages, durations. See sqlrow.h. */
#include "sqlrow.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- buffer ------------------------------------------------------------ */

int sqlrow_buf_reserve(sqlrow_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sqlrow_buf_append(sqlrow_buf_t *b, const void *p, size_t n)
{
    if (sqlrow_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void sqlrow_buf_free(sqlrow_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- text -------------------------------------------------------------- */

/* unixODBC's SQLWCHAR is a 16-bit unit in the host's byte order. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define S_UTF16 "UTF-16BE"
#else
#define S_UTF16 "UTF-16LE"
#endif

int sqlrow_iconv_open(sqlrow_iconv_t *cv)
{
    cv->to_utf8 = iconv_open("UTF-8", S_UTF16);
    cv->to_utf16 = iconv_open(S_UTF16, "UTF-8");
    if (cv->to_utf8 == (iconv_t) -1 || cv->to_utf16 == (iconv_t) -1) {
        sqlrow_iconv_close(cv);
        return -1;
    }
    return 0;
}

void sqlrow_iconv_close(sqlrow_iconv_t *cv)
{
    if (cv->to_utf8 != (iconv_t) -1 && cv->to_utf8 != NULL)
        iconv_close(cv->to_utf8);
    if (cv->to_utf16 != (iconv_t) -1 && cv->to_utf16 != NULL)
        iconv_close(cv->to_utf16);
    cv->to_utf8 = cv->to_utf16 = (iconv_t) -1;
}

/* Runs iconv over the whole input, growing out. -1 with *bad_at (bytes
 * consumed) on an invalid or incomplete sequence. */
static int s_iconv_all(iconv_t cd, const char *in, size_t inlen, sqlrow_buf_t *out, size_t *bad_at)
{
    iconv(cd, NULL, NULL, NULL, NULL);          /* reset the shift state */
    char *src = (char *) in;
    size_t left = inlen;
    while (left > 0) {
        /* UTF-8 needs at most 3 bytes per UTF-16 unit; UTF-16 at most 2 per byte */
        if (sqlrow_buf_reserve(out, left * 2 + 16) < 0)
            return -1;
        char *dst = out->data + out->len;
        size_t room = out->cap - out->len - 1;
        size_t r = iconv(cd, &src, &left, &dst, &room);
        out->len = (size_t) (dst - out->data);
        if (r == (size_t) -1 && errno != E2BIG) {
            if (bad_at)
                *bad_at = (size_t) (src - in);
            out->data[out->len] = '\0';
            return -1;
        }
    }
    if (sqlrow_buf_reserve(out, 0) < 0)
        return -1;
    out->data[out->len] = '\0';
    return 0;
}

int sqlrow_utf16_to_utf8(sqlrow_iconv_t *cv, const uint16_t *src, size_t n,
                         sqlrow_buf_t *out, size_t *bad_unit)
{
    size_t bad = 0;
    if (s_iconv_all(cv->to_utf8, (const char *) src, n * 2, out, &bad) < 0) {
        if (bad_unit)
            *bad_unit = bad / 2;
        return -1;
    }
    return 0;
}

int sqlrow_utf8_to_utf16(sqlrow_iconv_t *cv, const char *text, size_t len,
                         sqlrow_buf_t *out, size_t *n_units)
{
    out->len = 0;
    if (sqlrow_buf_reserve(out, 2) < 0)
        return -1;
    if (s_iconv_all(cv->to_utf16, text, len, out, NULL) < 0)
        return -1;
    /* a 16-bit terminator after the units (the buffer keeps one spare byte) */
    if (sqlrow_buf_reserve(out, 2) < 0)
        return -1;
    out->data[out->len] = out->data[out->len + 1] = '\0';
    *n_units = out->len / 2;
    return 0;
}

bool sqlrow_utf8_valid(const char *p, size_t n)
{
    /* jansson's own check decides what it accepts: ask it */
    json_t *s = json_stringn(p, n);
    bool ok = s != NULL;
    json_decref(s);
    return ok;
}

/* ---- JSON ---------------------------------------------------------------- */

static int s_dump_cb(const char *buffer, size_t size, void *data)
{
    return sqlrow_buf_append(data, buffer, size);
}

static json_t *s_int_value(const sqlrow_cell_t *c)
{
    char tmp[32];
    if (c->len == 0 || c->len >= sizeof tmp)
        return NULL;
    memcpy(tmp, c->data, c->len);
    tmp[c->len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || !end || *end || isspace((unsigned char) tmp[0]))
        return NULL;                    /* out of range (an unsigned bigint): kept as text */
    return json_integer(v);
}

static json_t *s_bool_value(const sqlrow_cell_t *c)
{
    if (c->len == 1 && (c->data[0] == '1' || c->data[0] == 't'))
        return json_true();
    if (c->len == 1 && (c->data[0] == '0' || c->data[0] == 'f'))
        return json_false();
    return NULL;
}

/* The fewest significant digits (%.*g) that read back as exactly v, and
 * at least enough for its integer part, so that %g writes 100.0 and not
 * 1e+02 (jansson adds the ".0"). */
static int s_real_digits(double v)
{
    char buf[40];
    int p;
    for (p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, sizeof buf, "%.16e", v);
    const char *e = strchr(buf, 'e');
    long exp10 = e ? strtol(e + 1, NULL, 10) : 0;
    if (exp10 >= p && exp10 < 17)
        p = (int) exp10 + 1;
    return p;
}

/* The digits the reals of a parsed value need (0: it has none). jansson
 * limits the depth it parses (2048), which bounds the recursion. */
static int s_value_digits(const json_t *v)
{
    int p = 0, q;
    if (json_is_real(v))
        return s_real_digits(json_real_value(v));
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((q = s_value_digits(json_array_get(v, i))) > p)
                p = q;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *) v, key, m)
            if ((q = s_value_digits(m)) > p)
                p = q;
    }
    return p;
}

/* The JSON value of an embedded column's text; NULL with why filled. */
static json_t *s_embed_value(const sqlrow_cell_t *c, int *digits, char *why, size_t whylen)
{
    json_error_t err;
    /* any value (an array from json_agg, an object from row_to_json, a
     * scalar); a key twice in one object would lose one of its values */
    json_t *v = json_loadb(c->data, c->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        snprintf(why, whylen, "not valid JSON: %s (at byte %d of %zu)", err.text, err.position, c->len);
        return NULL;
    }
    int p = s_value_digits(v);
    if (p > *digits)
        *digits = p;
    return v;
}

int sqlrow_json(const char *const *names, const sqlrow_kind_t *kinds, const sqlrow_use_t *uses,
                const sqlrow_cell_t *cells, size_t n, sqlrow_buf_t *out, size_t *bad_col,
                char *why, size_t whylen)
{
    char scratch[8];
    if (!why || !whylen) {
        why = scratch;
        whylen = sizeof scratch;
    }
    why[0] = '\0';
    json_t *obj = json_object();
    if (!obj) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int rc = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        const sqlrow_cell_t *c = &cells[i];
        sqlrow_use_t use = uses ? uses[i] : SQLROW_PUBLISH;
        if (use == SQLROW_HIDDEN)
            continue;
        json_t *v = NULL;
        if (c->null)
            v = json_null();
        else if (use == SQLROW_EMBED) {
            if (!(v = s_embed_value(c, &digits, why, whylen)))
                rc = -1;
        } else {
            if (kinds[i] == SQLROW_INT)
                v = s_int_value(c);
            else if (kinds[i] == SQLROW_BOOL)
                v = s_bool_value(c);
            if (!v)
                v = json_stringn(c->data, c->len);
            if (!v) {
                snprintf(why, whylen, "not valid UTF-8 text");
                rc = -1;
            }
        }
        if (rc == 0 && json_object_set_new(obj, names[i], v) < 0) {
            snprintf(why, whylen, "cannot be a member (a name that is not UTF-8?)");
            rc = -1;
        }
        if (rc < 0) {
            if (bad_col)
                *bad_col = i;
            break;
        }
    }
    size_t flags = JSON_COMPACT | (digits ? JSON_REAL_PRECISION(digits) : 0);
    if (rc == 0 && json_dump_callback(obj, s_dump_cb, out, flags) < 0) {
        if (bad_col)
            *bad_col = n;
        snprintf(why, whylen, "out of memory");
        rc = -1;
    }
    json_decref(obj);
    return rc;
}

/* ---- source-id template ------------------------------------------------ */

typedef struct {
    char  *text;         /* literal text, or the column name of a field */
    bool   field;
    size_t col;          /* resolved column of a field */
} s_part_t;

struct sqlrow_template {
    s_part_t *parts;
    size_t    n;
};

void sqlrow_template_destroy(sqlrow_template_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sqlrow_template_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free(self->parts[i].text);
    free(self->parts);
    free(self);
    *self_p = NULL;
}

static int s_add_part(sqlrow_template_t *t, const char *p, size_t len, bool field)
{
    s_part_t *np = realloc(t->parts, (t->n + 1) * sizeof *np);
    if (!np)
        return -1;
    t->parts = np;
    np[t->n].text = strndup(p, len);
    np[t->n].field = field;
    np[t->n].col = 0;
    if (!np[t->n].text)
        return -1;
    t->n++;
    return 0;
}

sqlrow_template_t *sqlrow_template_new(const char *text, char *err, size_t errlen)
{
    sqlrow_template_t *self = calloc(1, sizeof *self);
    sqlrow_buf_t lit = { 0 };
    bool fields = false;
    if (!self)
        goto nomem;
    for (const char *p = text; *p; ) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (sqlrow_buf_append(&lit, p, 1) < 0)
                goto nomem;
            p += 2;
        } else if (p[0] == '{') {
            const char *end = strchr(p + 1, '}');
            if (!end || end == p + 1) {
                snprintf(err, errlen, "'{' at %zu opens no {column} (write {{ for a brace)",
                         (size_t) (p - text));
                goto fail;
            }
            if (lit.len && s_add_part(self, lit.data, lit.len, false) < 0)
                goto nomem;
            lit.len = 0;
            if (s_add_part(self, p + 1, (size_t) (end - p - 1), true) < 0)
                goto nomem;
            fields = true;
            p = end + 1;
        } else if (p[0] == '}') {
            snprintf(err, errlen, "'}' at %zu closes nothing (write }} for a brace)", (size_t) (p - text));
            goto fail;
        } else {
            if (sqlrow_buf_append(&lit, p, 1) < 0)
                goto nomem;
            p++;
        }
    }
    if (lit.len && s_add_part(self, lit.data, lit.len, false) < 0)
        goto nomem;
    if (!fields) {
        snprintf(err, errlen, "no {column} in it: every row would get the same id");
        goto fail;
    }
    sqlrow_buf_free(&lit);
    return self;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    sqlrow_buf_free(&lit);
    sqlrow_template_destroy(&self);
    return NULL;
}

int sqlrow_template_resolve(sqlrow_template_t *self, const char *const *names, size_t n,
                            char *err, size_t errlen)
{
    for (size_t i = 0; i < self->n; i++) {
        s_part_t *pt = &self->parts[i];
        if (!pt->field)
            continue;
        size_t c;
        for (c = 0; c < n; c++)
            if (strcmp(names[c], pt->text) == 0)
                break;
        if (c == n) {
            snprintf(err, errlen, "no column '%s' in the query's result", pt->text);
            return -1;
        }
        pt->col = c;
    }
    return 0;
}

int sqlrow_template_expand(const sqlrow_template_t *self, const sqlrow_cell_t *cells,
                           sqlrow_buf_t *out, size_t *bad_col)
{
    out->len = 0;
    if (sqlrow_buf_reserve(out, 0) < 0)
        return -1;
    out->data[0] = '\0';
    for (size_t i = 0; i < self->n; i++) {
        const s_part_t *pt = &self->parts[i];
        if (!pt->field) {
            if (sqlrow_buf_append(out, pt->text, strlen(pt->text)) < 0)
                return -1;
            continue;
        }
        const sqlrow_cell_t *c = &cells[pt->col];
        if (c->null || c->len == 0 || memchr(c->data, '\0', c->len)) {
            if (bad_col)
                *bad_col = pt->col;
            return -1;
        }
        if (sqlrow_buf_append(out, c->data, c->len) < 0)
            return -1;
    }
    return 0;
}

/* ---- connection string -------------------------------------------------- */

char *sqlrow_connstr_with_password(const char *connstr, const char *password)
{
    sqlrow_buf_t b = { 0 };
    size_t n = strlen(connstr);
    int rc = sqlrow_buf_append(&b, connstr, n);
    if (rc == 0 && n && connstr[n - 1] != ';')
        rc = sqlrow_buf_append(&b, ";", 1);
    if (rc == 0)
        rc = sqlrow_buf_append(&b, "Pwd={", 5);
    for (const char *p = password; rc == 0 && *p; p++) {
        /* inside {...} only '}' is special: ODBC doubles it */
        rc = sqlrow_buf_append(&b, p, 1);
        if (rc == 0 && *p == '}')
            rc = sqlrow_buf_append(&b, "}", 1);
    }
    if (rc == 0)
        rc = sqlrow_buf_append(&b, "}", 1);
    if (rc < 0) {
        sqlrow_buf_free(&b);
        return NULL;
    }
    return b.data;
}

bool sqlrow_connstr_has_password(const char *connstr)
{
    /* attribute names start the string or follow ';' (values in {} may hold
     * ';', but a password-looking key inside a value only makes us refuse) */
    for (const char *p = connstr; p && *p; ) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncasecmp(p, "pwd", 3) == 0 || strncasecmp(p, "password", 8) == 0) {
            const char *q = p + (tolower((unsigned char) p[1]) == 'w' ? 3 : 8);
            while (*q == ' ')
                q++;
            if (*q == '=')
                return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

/* ---- messages, durations ---------------------------------------------- */

void sqlrow_clean_message(const char *msg, char *out, size_t outlen)
{
    if (!outlen)
        return;
    const char *p = msg ? msg : "";
    /* "[unixODBC][Driver Manager]..." */
    while (*p == '[') {
        const char *e = strchr(p, ']');
        if (!e)
            break;
        p = e + 1;
    }
    while (*p == ' ')
        p++;
    static const char *const words[] = { "ERROR:", "FATAL:", "PANIC:" };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t wl = strlen(words[i]);
        if (strncmp(p, words[i], wl) == 0) {
            p += wl;
            break;
        }
    }
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\n");
    /* psqlODBC: "...;\nError while executing the query" */
    if (n > 0 && p[n] == '\n' && p[n - 1] == ';')
        n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
        n--;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

int64_t sqlrow_parse_ms(const char *text)
{
    if (!text || !isdigit((unsigned char) *text))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || v < 0)
        return -1;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    double ms = v * mult;
    if (ms > 9.0e15)
        return -1;
    return (int64_t) ms;
}
