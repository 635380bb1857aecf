/* erdata.c — records for entity resolution: each field read once (a JSON
 * pointer into a canonical record, or a CSV column), normalised once, and
 * kept in flat arrays, so that tens of millions of comparisons touch only
 * hashes, parsed dates and code points.
 *
 * Per field type:
 *   name  text = NFC with white space collapsed; h = hash of the case-folded
 *         NFC ("exact"); hk = hash of the matching key (no marks, đ -> d);
 *         the key's code points for Jaro-Winkler and the name-part keys
 *   date  text = YYYY[-MM[-DD]]; parsed date with its precision
 *   id    text = letters and digits, upper case (spaces, dots, dashes gone)
 *   code  text as given, trimmed
 *   text  as name, without code points
 * A value that cannot be read (a date that is not one) is reported through
 * the caller's `bad` callback with the record and field, and the field is
 * left absent: the record still takes part, on what it has.
 *
 * Files: JSON lines are parsed by several threads, each into a shard of its
 * own, and the shards are appended in file order. */
#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utf8proc.h>

#include "er_int.h"
#include "vntext.h"
#include "../adapters/file-drop/csvread.h"

uint64_t er_mix(uint64_t h)
{
    /* splitmix64's finaliser: FNV alone leaves low bits correlated */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;   /* 0 means "absent" */
}

uint64_t er_hash(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return er_mix(h);
}

er_data_t *er_data_new(const er_spec_t *spec)
{
    er_data_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->spec = spec;
    d->text_cap = 1 << 16;
    d->text = malloc(d->text_cap);
    d->text[0] = '\0';
    d->text_len = 1;    /* offset 0 = no text */
    return d;
}

void er_data_destroy(er_data_t **self_p)
{
    er_data_t *d = *self_p;
    if (!d)
        return;
    free(d->vals), free(d->id), free(d->source), free(d->updated);
    free(d->text), free(d->index);
    free(d);
    *self_p = NULL;
}

static uint32_t s_text(er_data_t *d, const char *s, size_t len)
{
    if (d->text_len + len + 1 > d->text_cap) {
        size_t cap = d->text_cap;
        while (d->text_len + len + 1 > cap)
            cap *= 2;
        if (cap > UINT32_MAX)
            abort();   /* 4 GiB of values: far above the largest dataset (3 M persons use ~0.5 GiB) */
        d->text = realloc(d->text, cap);
        if (!d->text)
            abort();
        d->text_cap = cap;
    }
    uint32_t off = (uint32_t) d->text_len;
    memcpy(d->text + off, s, len);
    d->text[off + len] = '\0';
    d->text_len += len + 1;
    return off;
}

static long s_new_record(er_data_t *d)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        d->vals = realloc(d->vals, cap * d->spec->nfields * sizeof *d->vals);
        d->id = realloc(d->id, cap * sizeof *d->id);
        d->source = realloc(d->source, cap * sizeof *d->source);
        d->updated = realloc(d->updated, cap * sizeof *d->updated);
        if (!d->vals || !d->id || !d->source || !d->updated)
            abort();
        d->cap = cap;
    }
    size_t i = d->n++;
    memset(&d->vals[i * d->spec->nfields], 0, d->spec->nfields * sizeof *d->vals);
    d->id[i] = d->source[i] = d->updated[i] = 0;
    return (long) i;
}

/* "dd/mm/yyyy" etc. -> ISO text in out (>= 11 bytes). */
static int s_date_form(const char *fmt, const char *s, char *out)
{
    int d = 0, m = 0, y = 0;
    char tail;
    if (!fmt || strcmp(fmt, "yyyy-mm-dd") == 0) {
        /* canonical: YYYY, YYYY-MM or YYYY-MM-DD */
        ercmp_date_t dt;
        if (ercmp_date_parse(s, &dt))
            return -1;
        snprintf(out, 11, "%s", s);
        return 0;
    }
    if (strcmp(fmt, "dd/mm/yyyy") == 0 && sscanf(s, "%2d/%2d/%4d%c", &d, &m, &y, &tail) == 3)
        ;
    else if (strcmp(fmt, "mm/dd/yyyy") == 0 && sscanf(s, "%2d/%2d/%4d%c", &m, &d, &y, &tail) == 3)
        ;
    else if (strcmp(fmt, "dd.mm.yyyy") == 0 && sscanf(s, "%2d.%2d.%4d%c", &d, &m, &y, &tail) == 3)
        ;
    else if (strcmp(fmt, "yyyymmdd") == 0 && strlen(s) == 8 && sscanf(s, "%4d%2d%2d", &y, &m, &d) == 3)
        ;
    else if (strcmp(fmt, "yyyy") == 0 && sscanf(s, "%4d%c", &y, &tail) == 1)
        ;
    else
        return -1;
    if (m)
        snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
    else
        snprintf(out, 11, "%04d", y);
    ercmp_date_t dt;
    return ercmp_date_parse(out, &dt);
}

/* er_hash of the lower-cased UTF-8 text s (valid, NFC). */
static uint64_t s_lower_hash(const char *s, size_t len)
{
    char buf[512];
    size_t o = 0;
    utf8proc_ssize_t at = 0;
    while ((size_t) at < len && o + 4 < sizeof buf) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *) s + at, (utf8proc_ssize_t) len - at, &c);
        if (n <= 0)
            break;
        at += n;
        o += (size_t) utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *) buf + o);
    }
    return er_hash(buf, o);
}

/* Sets field f of record i from raw text. Returns 0, or -1 with why. */
static int s_set(er_data_t *d, size_t i, size_t f, const char *raw, size_t len, const char **why)
{
    const er_field_t *fd = &d->spec->fields[f];
    er_val_t *v = &d->vals[i * d->spec->nfields + f];
    while (len && isspace((unsigned char) raw[0]))
        raw++, len--;
    while (len && isspace((unsigned char) raw[len - 1]))
        len--;
    if (len == 0)
        return 0;
    size_t bad;
    switch (fd->type) {
    case ER_T_NAME:
    case ER_T_TEXT: {
        char *nfc = NULL, *fold = NULL, *key = NULL;
        /* Canonical records are NFC already: the quick check spares a copy
         * through utf8proc for almost every name. */
        bool quick = vntext_nfc_quick(raw, len);
        if (quick) {
            nfc = malloc(len + 1);
            memcpy(nfc, raw, len);
            nfc[len] = '\0';
        } else if (vntext_nfc(raw, len, &nfc, &bad)) {
            *why = "not valid UTF-8";
            return -1;
        }
        /* collapse white space runs in the shown text */
        size_t o = 0;
        for (size_t k = 0; nfc[k]; k++) {
            bool sp = isspace((unsigned char) nfc[k]);
            if (sp && (o == 0 || nfc[o - 1] == ' '))
                continue;
            nfc[o++] = sp ? ' ' : nfc[k];
        }
        while (o && nfc[o - 1] == ' ')
            o--;
        nfc[o] = '\0';
        if (o == 0 || (!quick && vntext_fold(nfc, o, &fold, &bad)) || vntext_key(nfc, o, &key, &bad)) {
            free(nfc), free(fold), free(key);
            return 0;
        }
        v->text = s_text(d, nfc, o);
        /* "exact" is the case-folded NFC. For text the quick check passed
         * (Latin and precomposed Vietnamese letters) folding is lower-casing
         * each code point, done here without a copy. */
        v->h = quick ? s_lower_hash(nfc, o) : er_hash(fold, strlen(fold));
        size_t kl = strlen(key);
        v->hk = er_hash(key, kl);
        if (fd->type == ER_T_NAME) {
            /* the key's bytes; comparisons decode them to code points on
             * the stack (code point arrays for 3 M records x 4 names would
             * cost 0.8 GB) */
            if (kl > 400)
                kl = 400;
            v->cp = s_text(d, key, kl);
            v->ncp = (uint16_t) kl;
        }
        free(nfc), free(fold), free(key);
        return 0;
    }
    case ER_T_DATE: {
        char tmp[64], iso[16];
        if (len >= sizeof tmp) {
            *why = "not a date (too long)";
            return -1;
        }
        memcpy(tmp, raw, len);
        tmp[len] = '\0';
        if (s_date_form(fd->date_format, tmp, iso) || ercmp_date_parse(iso, &v->date)) {
            *why = fd->date_format && strcmp(fd->date_format, "yyyy-mm-dd")
                       ? "not a date in the column's date_format" : "not a date (YYYY, YYYY-MM or YYYY-MM-DD)";
            memset(&v->date, 0, sizeof v->date);
            return -1;
        }
        size_t l = strlen(iso);
        v->text = s_text(d, iso, l);
        v->h = v->hk = er_hash(iso, l);
        return 0;
    }
    case ER_T_ID: {
        char tmp[64];
        size_t o = 0;
        for (size_t k = 0; k < len && o < sizeof tmp - 1; k++)
            if (isalnum((unsigned char) raw[k]))
                tmp[o++] = (char) toupper((unsigned char) raw[k]);
        if (o == 0)
            return 0;
        tmp[o] = '\0';
        v->text = s_text(d, tmp, o);
        v->h = v->hk = er_hash(tmp, o);
        return 0;
    }
    case ER_T_CODE:
        v->text = s_text(d, raw, len);
        v->h = v->hk = er_hash(raw, len);
        return 0;
    }
    return 0;
}

/* RFC 6901 pointer into j, or NULL. */
const json_t *er_json_pointer(const json_t *j, const char *ptr)
{
    const char *p = ptr;
    char tok[256];
    while (j && *p == '/') {
        p++;
        size_t o = 0;
        while (*p && *p != '/' && o < sizeof tok - 1) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[o++] = p[1] == '0' ? '~' : '/';
                p += 2;
            } else
                tok[o++] = *p++;
        }
        tok[o] = '\0';
        if (json_is_object(j))
            j = json_object_get(j, tok);
        else if (json_is_array(j)) {
            char *end;
            unsigned long k = strtoul(tok, &end, 10);
            j = (*end || !*tok) ? NULL : json_array_get(j, k);
        } else
            return NULL;
    }
    return j;
}

/* The text of a scalar JSON value (numbers printed), or NULL. */
static const char *s_scalar_text(const json_t *v, char *buf, size_t cap, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_integer(v)) {
        *len = (size_t) snprintf(buf, cap, "%lld", (long long) json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        /* 15 significant digits: the decimal the source wrote (an area of
         * 136.4 is the double 136.40000000000001) */
        *len = (size_t) snprintf(buf, cap, "%.15g", json_real_value(v));
        return buf;
    }
    return NULL;
}

typedef struct {
    void (*bad)(const char *pos, const char *why, void *ctx);
    void *ctx;
    const char *file;
    size_t line;
} s_report_t;

static void s_bad(s_report_t *r, const char *id, const char *field, const char *why)
{
    if (!r || !r->bad)
        return;
    char pos[4200], msg[1600];
    snprintf(pos, sizeof pos, "%.4096s:%zu", r->file ? r->file : "-", r->line);
    snprintf(msg, sizeof msg, "record %.600s: %.200s: %.700s", id ? id : "?", field, why);
    r->bad(pos, msg, r->ctx);
}

static long s_add_json(er_data_t *d, const json_t *rec, s_report_t *rep, char *err, size_t errlen)
{
    const er_spec_t *s = d->spec;
    char buf[64], idbuf[600];
    size_t len = 0, slen = 0;
    const char *id = s->id_from ? s_scalar_text(er_json_pointer(rec, s->id_from), buf, sizeof buf, &len) : NULL;
    if (!id || !len) {
        snprintf(err, errlen, "no record id at %s", s->id_from ? s->id_from : "(no record: id: from:)");
        return -1;
    }
    char sbuf[64];
    const char *src = s->source_const;
    if (!src && s->source_from)
        src = s_scalar_text(er_json_pointer(rec, s->source_from), sbuf, sizeof sbuf, &slen);
    if (!src) {
        snprintf(err, errlen, "record %.*s: no source at %s", (int) len, id, s->source_from ? s->source_from : "?");
        return -1;
    }
    slen = strlen(src);
    int n = snprintf(idbuf, sizeof idbuf, "%s:%.*s", src, (int) len, id);
    if (n <= 0 || (size_t) n >= sizeof idbuf || memchr(idbuf, ' ', (size_t) n)) {
        snprintf(err, errlen, "record %.*s: the id is too long or holds a space", (int) len, id);
        return -1;
    }
    long i = s_new_record(d);
    d->id[i] = s_text(d, idbuf, (size_t) n);
    free(d->index);   /* a new record: the id index of er_data_find is stale */
    d->index = NULL;
    d->source[i] = s_text(d, src, slen);
    if (s->updated_from) {
        const char *u = s_scalar_text(er_json_pointer(rec, s->updated_from), buf, sizeof buf, &len);
        if (u && len)
            d->updated[i] = s_text(d, u, len);
    }
    for (size_t f = 0; f < s->nfields; f++) {
        if (!s->fields[f].from)
            continue;
        const char *t = s_scalar_text(er_json_pointer(rec, s->fields[f].from), buf, sizeof buf, &len);
        for (char **alt = s->fields[f].from_alt; !t && alt && *alt; alt++)
            t = s_scalar_text(er_json_pointer(rec, *alt), buf, sizeof buf, &len);
        const char *why = NULL;
        if (t && s_set(d, (size_t) i, f, t, len, &why))
            s_bad(rep, idbuf, s->fields[f].name, why);
    }
    return i;
}

long er_data_add_json(er_data_t *self, const json_t *rec, char *err, size_t errlen)
{
    return s_add_json(self, rec, NULL, err, errlen);
}

size_t er_data_count(const er_data_t *self) { return self->n; }
const char *er_data_id(const er_data_t *self, size_t i) { return self->text + self->id[i]; }
const char *er_data_source(const er_data_t *self, size_t i) { return self->text + self->source[i]; }

const char *er_data_value(const er_data_t *self, size_t i, size_t field)
{
    const er_val_t *v = er_val(self, i, field);
    return v->h ? self->text + v->text : NULL;
}

json_t *er_data_values_json(const er_data_t *self, size_t i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(er_data_id(self, i)));
    json_object_set_new(o, "source", json_string(er_data_source(self, i)));
    if (self->updated[i])
        json_object_set_new(o, "updated", json_string(self->text + self->updated[i]));
    json_t *vals = json_object();
    for (size_t f = 0; f < self->spec->nfields; f++) {
        const char *t = er_data_value(self, i, f);
        if (t)
            json_object_set_new(vals, self->spec->fields[f].name, json_string(t));
    }
    json_object_set_new(o, "values", vals);
    return o;
}

long er_data_add_values(er_data_t *self, const json_t *o, char *err, size_t errlen)
{
    const er_spec_t *s = self->spec;
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *src = json_string_value(json_object_get(o, "source"));
    const char *upd = json_string_value(json_object_get(o, "updated"));
    const json_t *vals = json_object_get(o, "values");
    if (!id || !*id || strchr(id, ' ') || !src || !*src || (vals && !json_is_object(vals))) {
        snprintf(err, errlen, "values: needs id (no spaces), source and a values object");
        return -1;
    }
    long i = s_new_record(self);
    self->id[i] = s_text(self, id, strlen(id));
    self->source[i] = s_text(self, src, strlen(src));
    if (upd && *upd)
        self->updated[i] = s_text(self, upd, strlen(upd));
    for (size_t f = 0; f < s->nfields; f++) {
        const json_t *v = json_object_get(vals, s->fields[f].name);
        const char *why = NULL;
        if (!json_is_string(v))
            continue;
        /* the values are normalised already: dates are ISO whatever the
         * field's CSV date_format said */
        er_field_t *fd = (er_field_t *) &s->fields[f];
        char *fmt = fd->date_format;
        fd->date_format = NULL;
        int rc = s_set(self, (size_t) i, f, json_string_value(v), json_string_length(v), &why);
        fd->date_format = fmt;
        if (rc) {
            snprintf(err, errlen, "record %s: %s: %s", id, s->fields[f].name, why);
            self->n = (size_t) i;   /* not added: no half record left behind */
            return -1;
        }
    }
    free(self->index);
    self->index = NULL;
    return i;
}

void er_data_clear(er_data_t *self)
{
    self->n = 0;
    self->text_len = 1;
    free(self->index);
    self->index = NULL;
}

/* Appends src's records to d (same spec), rebasing offsets. */
static void s_append(er_data_t *d, const er_data_t *src)
{
    size_t nf = d->spec->nfields;
    uint32_t tbase = (uint32_t) d->text_len - 1;
    /* text: src's pool minus its leading NUL */
    if (src->text_len > 1) {
        uint32_t off = s_text(d, src->text + 1, src->text_len - 2);   /* adds the final NUL itself */
        (void) off;
    }
    for (size_t i = 0; i < src->n; i++) {
        long k = s_new_record(d);
        for (size_t f = 0; f < nf; f++) {
            er_val_t v = src->vals[i * nf + f];
            if (v.h) {
                v.text += tbase;
                v.cp = v.ncp ? v.cp + tbase : 0;
            }
            d->vals[(size_t) k * nf + f] = v;
        }
        d->id[k] = src->id[i] + tbase;
        d->source[k] = src->source[i] + tbase;
        d->updated[k] = src->updated[i] ? src->updated[i] + tbase : 0;
    }
}

typedef struct {
    er_data_t *shard;
    const char *begin, *end, *file;
    size_t first_line;
    void (*bad)(const char *pos, const char *why, void *ctx);
    void *ctx;
    pthread_mutex_t *lock;     /* around `bad`, which is the caller's */
    size_t added;
} s_job_t;

typedef struct {
    s_job_t *job;
} s_lockctx_t;

static void s_locked_bad(const char *pos, const char *why, void *ctx)
{
    s_job_t *j = ctx;
    pthread_mutex_lock(j->lock);
    j->bad(pos, why, j->ctx);
    pthread_mutex_unlock(j->lock);
}

static void *s_parse_lines(void *arg)
{
    s_job_t *j = arg;
    s_report_t rep = {j->bad ? s_locked_bad : NULL, j, j->file, j->first_line};
    const char *p = j->begin, *kept = j->begin;
    uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
    while (p < j->end) {
        /* The file is mapped: pages read stay in the resident set until
         * unmapped, and a 3 GB input would count 3 GB. Drop what is done. */
        if (p - kept >= (64 << 20)) {
            uintptr_t a = ((uintptr_t) kept + page - 1) & ~(page - 1), e = (uintptr_t) p & ~(page - 1);
            if (e > a)
                madvise((void *) a, e - a, MADV_DONTNEED);
            kept = p;
        }
        const char *nl = memchr(p, '\n', (size_t) (j->end - p));
        const char *e = nl ? nl : j->end;
        if (e > p && !(e - p == 1 && *p == '\r')) {
            json_error_t je;
            json_t *rec = json_loadb(p, (size_t) (e - p), JSON_DISABLE_EOF_CHECK, &je);
            char err[600];
            if (!rec)
                s_bad(&rep, "-", "line", je.text);
            else {
                /* a bus envelope (`lgsp consume --format json`) carries the record as payload */
                const json_t *payload = json_object_get(rec, "payload");
                const json_t *r = json_is_object(payload) ? payload : rec;
                if (s_add_json(j->shard, r, &rep, err, sizeof err) < 0)
                    s_bad(&rep, "-", "record", err);
                else
                    j->added++;
                json_decref(rec);
            }
        }
        rep.line++;
        p = e + 1;
    }
    return NULL;
}

static long s_load_csv(er_data_t *d, const char *data, size_t len, s_report_t *rep, char *err, size_t errlen)
{
    const er_spec_t *s = d->spec;
    csvread_t *c = csvread_new(data, len, ',', '"');
    if (!c || csvread_next(c) != CSVREAD_ROW) {
        csvread_destroy(&c);
        snprintf(err, errlen, "%s: no header row", rep->file);
        return -1;
    }
    size_t nh = csvread_nfields(c);
    char **header = calloc(nh, sizeof *header);
    for (size_t k = 0; k < nh; k++) {
        size_t l;
        const char *h = csvread_field(c, k, &l);
        if (k == 0 && l >= 3 && memcmp(h, "\xEF\xBB\xBF", 3) == 0)
            h += 3;   /* a byte-order mark, as spreadsheets write */
        header[k] = strdup(h);
    }
    /* column index per field (-1 absent) */
    long idcol = -1, srccol = -1, updcol = -1;
    long *col = malloc(s->nfields * sizeof *col);
    long rc = 0;
    for (size_t k = 0; k < nh; k++) {
        if (s->id_column && strcmp(header[k], s->id_column) == 0)
            idcol = (long) k;
        if (s->source_column && strcmp(header[k], s->source_column) == 0)
            srccol = (long) k;
        if (s->updated_column && strcmp(header[k], s->updated_column) == 0)
            updcol = (long) k;
    }
    for (size_t f = 0; f < s->nfields; f++) {
        col[f] = -1;
        for (size_t k = 0; k < nh && s->fields[f].column; k++)
            if (strcmp(header[k], s->fields[f].column) == 0)
                col[f] = (long) k;
        if (s->fields[f].column && col[f] < 0) {
            snprintf(err, errlen, "%s: field %s: no column '%s' in the header", rep->file, s->fields[f].name,
                     s->fields[f].column);
            rc = -1;
        }
    }
    if (!rc && idcol < 0) {
        snprintf(err, errlen, "%s: no id column '%s' in the header (record: id: column:, or --column id=NAME)",
                 rep->file, s->id_column ? s->id_column : "");
        rc = -1;
    }
    if (!rc && srccol < 0 && !s->source_const) {
        snprintf(err, errlen, "%s: no source column (record: source: a name or column:, or --source NAME)",
                 rep->file);
        rc = -1;
    }
    int r;
    while (rc >= 0 && (r = csvread_next(c)) != CSVREAD_END) {   /* rc: -1 (a bad header) or rows added */
        rep->line = csvread_line(c);
        if (r == CSVREAD_ERROR) {
            s_bad(rep, "-", "row", csvread_error(c));
            continue;
        }
        size_t raw;
        csvread_raw(c, &raw);
        if (raw == 0)
            continue;
        size_t l, sl;
        const char *id = (size_t) idcol < csvread_nfields(c) ? csvread_field(c, (size_t) idcol, &l) : NULL;
        const char *src = s->source_const;
        sl = src ? strlen(src) : 0;
        if (!src && (size_t) srccol < csvread_nfields(c))
            src = csvread_field(c, (size_t) srccol, &sl);
        char idbuf[600];
        int n = id && l && src && sl ? snprintf(idbuf, sizeof idbuf, "%.*s:%.*s", (int) sl, src, (int) l, id) : 0;
        if (n <= 0 || (size_t) n >= sizeof idbuf || memchr(idbuf, ' ', (size_t) n)) {
            s_bad(rep, id && l ? id : "-", "id", "missing, too long, or holds a space");
            continue;
        }
        long i = s_new_record(d);
        d->id[i] = s_text(d, idbuf, (size_t) n);
        d->source[i] = s_text(d, src, sl);
        if (updcol >= 0 && (size_t) updcol < csvread_nfields(c)) {
            const char *u = csvread_field(c, (size_t) updcol, &l);
            if (l)
                d->updated[i] = s_text(d, u, l);
        }
        for (size_t f = 0; f < s->nfields; f++) {
            if (col[f] < 0 || (size_t) col[f] >= csvread_nfields(c))
                continue;
            const char *v = csvread_field(c, (size_t) col[f], &l), *why = NULL;
            if (s_set(d, (size_t) i, f, v, l, &why))
                s_bad(rep, idbuf, s->fields[f].name, why);
        }
        rc++;
    }
    for (size_t k = 0; k < nh; k++)
        free(header[k]);
    free(header), free(col);
    csvread_destroy(&c);
    return rc;
}

/* A record id read again is the same record delivered again (a webhook
 * event sent twice, the same id in two files): the last delivery decides,
 * as for the bus's consumers, so the earlier records of a repeated id are
 * dropped. Their text stays in the pool, unreferenced. */
static void s_drop_repeated(er_data_t *d)
{
    if (d->n < 2)
        return;
    size_t cap = 16;
    while (cap < d->n * 2)
        cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot);   /* record index + 1 of the last holder of an id */
    bool *drop = calloc(d->n, sizeof *drop);
    if (!slot || !drop)
        abort();
    size_t dropped = 0;
    for (size_t i = 0; i < d->n; i++) {
        const char *id = er_data_id(d, i);
        size_t k = er_hash(id, strlen(id)) & (cap - 1);
        while (slot[k] && strcmp(er_data_id(d, slot[k] - 1), id) != 0)
            k = (k + 1) & (cap - 1);
        if (slot[k]) {
            drop[slot[k] - 1] = true;
            dropped++;
        }
        slot[k] = (uint32_t) i + 1;
    }
    free(slot);
    if (dropped) {
        size_t nf = d->spec->nfields, o = 0;
        for (size_t i = 0; i < d->n; i++) {
            if (drop[i])
                continue;
            if (o != i) {
                memcpy(&d->vals[o * nf], &d->vals[i * nf], nf * sizeof *d->vals);
                d->id[o] = d->id[i], d->source[o] = d->source[i], d->updated[o] = d->updated[i];
            }
            o++;
        }
        d->n = o;
    }
    free(drop);
}

long er_data_load_file(er_data_t *self, const char *path, int threads,
                       void (*bad)(const char *pos, const char *why, void *ctx), void *ctx, char *err,
                       size_t errlen)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, errlen, "%s: %m", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t len = (size_t) st.st_size;
    const char *data = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : "";
    close(fd);
    if (data == MAP_FAILED) {
        snprintf(err, errlen, "%s: %m", path);
        return -1;
    }
    size_t pl = strlen(path);
    long rc;
    if (pl > 4 && strcmp(path + pl - 4, ".csv") == 0) {
        s_report_t rep = {bad, ctx, path, 1};
        rc = s_load_csv(self, data, len, &rep, err, errlen);
    } else {
        if (threads < 1)
            threads = 1;
        if (threads > 16)
            threads = 16;
        if (len < (1u << 20))
            threads = 1;
        s_job_t jobs[16];
        pthread_t tid[16];
        pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        const char *p = data;
        size_t line = 1;
        for (int t = 0; t < threads; t++) {
            const char *e = t == threads - 1 ? data + len : data + len / (size_t) threads * (size_t) (t + 1);
            if (e < p)
                e = p;
            if (t < threads - 1) {
                const char *nl = memchr(e, '\n', (size_t) (data + len - e));
                e = nl ? nl + 1 : data + len;
            }
            jobs[t] = (s_job_t){t == 0 ? self : er_data_new(self->spec), p, e, path, line, bad, ctx, &lock, 0};
            for (const char *q = p; q < e && (q = memchr(q, '\n', (size_t) (e - q))); q++)
                line++;
            p = e;
        }
        for (int t = 1; t < threads; t++)
            pthread_create(&tid[t], NULL, s_parse_lines, &jobs[t]);
        s_parse_lines(&jobs[0]);
        rc = (long) jobs[0].added;
        for (int t = 1; t < threads; t++) {
            pthread_join(tid[t], NULL);
            s_append(self, jobs[t].shard);
            rc += (long) jobs[t].added;
            er_data_destroy(&jobs[t].shard);
        }
    }
    if (len)
        munmap((void *) data, len);
    s_drop_repeated(self);
    free(self->index);
    self->index = NULL;
    return rc;
}

/* id -> index: open addressing over record indices + 1. */
long er_data_find(er_data_t *self, const char *id)
{
    if (!self->index) {
        size_t cap = 16;
        while (cap < self->n * 2)
            cap *= 2;
        self->index = calloc(cap, sizeof *self->index);
        self->index_cap = cap;
        for (size_t i = 0; i < self->n; i++) {
            const char *s = er_data_id(self, i);
            size_t k = er_hash(s, strlen(s)) & (cap - 1);
            while (self->index[k])
                k = (k + 1) & (cap - 1);
            self->index[k] = (uint32_t) i + 1;
        }
    }
    size_t k = er_hash(id, strlen(id)) & (self->index_cap - 1);
    while (self->index[k]) {
        if (strcmp(er_data_id(self, self->index[k] - 1), id) == 0)
            return (long) self->index[k] - 1;
        k = (k + 1) & (self->index_cap - 1);
    }
    return -1;
}
