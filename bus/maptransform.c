/* maptransform.c — the steps of a mapping rule (`do: [...]`): text
 * clean-up and case, Vietnamese names, dates with precision, timestamps,
 * numbers with Vietnamese separators, code tables and lookups, splitting,
 * regular expressions, identity documents, 2025 communes.
 *
 * A step takes the value (a JSON value, or NULL: absent) and replaces it.
 * Steps on text apply to each element of a list (after `split`). A value a
 * step cannot take is an error naming the step's rule and the value; the
 * executor adds the field and the line. */
#include "mapping_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include "vntext.h"

static int s_err(mapping_error_t *e, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_err(mapping_error_t *e, const char *rule, const char *fmt, ...)
{
    snprintf(e->rule, sizeof e->rule, "%s", rule);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* A value quoted for a message, cut to a readable length. */
static const char *s_q(const json_t *v, char *buf, size_t sz)
{
    if (json_is_string(v))
        snprintf(buf, sz, "'%.80s'", json_string_value(v));
    else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, sz, "%.80s", d ? d : "?");
        free(d);
    }
    return buf;
}

/* ---- text --------------------------------------------------------- */

static bool s_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static json_t *s_trim(const char *s, size_t len, bool collapse)
{
    while (len && s_space((unsigned char) *s)) {
        s++;
        len--;
    }
    while (len && s_space((unsigned char) s[len - 1]))
        len--;
    if (!collapse)
        return json_stringn(s, len);
    char *out = malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s_space((unsigned char) s[i])) {
            if (o && out[o - 1] != ' ')
                out[o++] = ' ';
        } else
            out[o++] = s[i];
    }
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

/* Case mapping code point by code point (utf8proc); title case makes the
 * first letter of every word upper and the rest lower, which is how
 * Vietnamese names are written (NGUYỄN THỊ HƯƠNG -> Nguyễn Thị Hương). */
static json_t *s_case(const char *s, size_t len, int mode, mapping_error_t *e)
{
    /* Names are short: a stack buffer spares an allocation per value. */
    char stackbuf[512];
    char *out = len * 2 + 8 <= sizeof stackbuf ? stackbuf : malloc(len * 2 + 8);
    size_t o = 0;
    bool word_start = true;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) s;
    utf8proc_ssize_t left = (utf8proc_ssize_t) len;
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n < 0) {
            if (out != stackbuf)
                free(out);
            s_err(e, "utf8", "invalid UTF-8 at byte %zu", (size_t) (p - (const utf8proc_uint8_t *) s));
            return NULL;
        }
        utf8proc_int32_t m = cp;
        bool letter = utf8proc_category(cp) >= UTF8PROC_CATEGORY_LU && utf8proc_category(cp) <= UTF8PROC_CATEGORY_MN;
        if (mode == 0)
            m = utf8proc_toupper(cp);
        else if (mode == 1)
            m = utf8proc_tolower(cp);
        else
            m = word_start ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        word_start = !letter && !(cp >= '0' && cp <= '9');
        o += (size_t) utf8proc_encode_char(m, (utf8proc_uint8_t *) out + o);
        p += n;
        left -= n;
    }
    json_t *j = json_stringn(out, o);
    if (out != stackbuf)
        free(out);
    return j;
}

/* ---- names -------------------------------------------------------- */

/* Họ = the first word, tên = the last, chữ đệm = the words between (may be
 * empty). A single word is only a full name. */
static json_t *s_split_name(json_t *v, const char *s)
{
    json_t *o = json_object();
    json_object_set(o, "full", v);     /* the same string, not a copy */
    const char *first_end = strchr(s, ' ');
    const char *last = strrchr(s, ' ');
    if (!first_end || !last)
        return o;
    json_object_set_new(o, "ho", json_stringn(s, (size_t) (first_end - s)));
    const char *mid = first_end + 1;
    json_object_set_new(o, "chu_dem", json_stringn(mid, last > mid ? (size_t) (last - mid) : 0));
    json_object_set_new(o, "ten", json_string(last + 1));
    return o;
}

static json_t *s_name_parts(json_t *v, mapping_error_t *e)
{
    if (!json_is_object(v)) {
        s_err(e, "name", "name_parts takes {ho, chu_dem, ten}, not a %s", json_is_string(v) ? "text" : "value");
        return NULL;
    }
    const char *part[3] = { json_string_value(json_object_get(v, "ho")),
                            json_string_value(json_object_get(v, "chu_dem")),
                            json_string_value(json_object_get(v, "ten")) };
    char full[512] = "";
    for (int i = 0; i < 3; i++)
        if (part[i] && *part[i])
            snprintf(full + strlen(full), sizeof full - strlen(full), "%s%s", full[0] ? " " : "", part[i]);
    if (!full[0]) {
        s_err(e, "required", "the name has no parts");
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "full", json_string(full));
    if (part[0] && *part[0] && part[2] && *part[2]) {
        json_object_set_new(o, "ho", json_string(part[0]));
        json_object_set_new(o, "chu_dem", json_string(part[1] ? part[1] : ""));
        json_object_set_new(o, "ten", json_string(part[2]));
    }
    return o;
}

/* ---- dates -------------------------------------------------------- */

static bool s_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int s_mdays(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && s_leap(y) ? 29 : d[m - 1];
}

/* Reads exactly n digits (n = 0: 1 or 2 digits). */
static const char *s_digits(const char *p, int n, int *out)
{
    int v = 0, k = 0;
    int max = n ? n : 2;
    while (k < max && isdigit((unsigned char) p[k])) {
        v = v * 10 + (p[k] - '0');
        k++;
    }
    if (k == 0 || (n && k != n))
        return NULL;
    *out = v;
    return p + k;
}

/* Matches s against one form; sets y/m/d (0 = not in the form). Returns
 * the end of what was read, or NULL. */
static const char *s_form(const char *s, const char *f, int *y, int *m, int *d, int *hh, int *mi,
                          int *ss)
{
    *y = *m = *d = 0;
    *hh = *mi = *ss = -1;
    const char *p = s;
    while (*f) {
        if (!strncmp(f, "yyyy", 4)) {
            if (!(p = s_digits(p, 4, y))) return NULL;
            f += 4;
        } else if (!strncmp(f, "mm", 2)) {
            /* after hh, mm are minutes */
            if (!(p = s_digits(p, 2, *hh >= 0 ? mi : m))) return NULL;
            f += 2;
        } else if (!strncmp(f, "dd", 2)) {
            if (!(p = s_digits(p, 2, d))) return NULL;
            f += 2;
        } else if (!strncmp(f, "hh", 2)) {
            if (!(p = s_digits(p, 2, hh))) return NULL;
            f += 2;
        } else if (!strncmp(f, "ss", 2)) {
            if (!(p = s_digits(p, 2, ss))) return NULL;
            f += 2;
        } else if (*f == 'm' && f[1] != 'm') {
            if (!(p = s_digits(p, 0, m))) return NULL;
            f++;
        } else if (*f == 'd' && f[1] != 'd') {
            if (!(p = s_digits(p, 0, d))) return NULL;
            f++;
        } else {
            if (*p != *f)
                return NULL;
            p++;
            f++;
        }
    }
    return p;
}

json_t *mapstep_date(const char *s, char *const *formats, size_t n, char *why, size_t whysz)
{
    for (size_t i = 0; i < n; i++) {
        int y, m, d, hh, mi, ss;
        const char *f = formats[i];
        const char *end = s_form(s, f, &y, &m, &d, &hh, &mi, &ss);
        if (!end || *end)
            continue;
        /* The form fits: now the date must exist. */
        if (y < 1800 || y > 2200) {
            snprintf(why, whysz, "'%s' has the year %d (read as %s)", s, y, f);
            return NULL;
        }
        if (strstr(f, "mm") || (strchr(f, 'm') && !strstr(f, "mm"))) {
            if (m < 1 || m > 12) {
                snprintf(why, whysz, "'%s' has no month %d (read as %s)", s, m, f);
                return NULL;
            }
        }
        if (strchr(f, 'd') && (d < 1 || d > s_mdays(y, m))) {
            snprintf(why, whysz, "'%s': %04d-%02d has no day %d (read as %s)", s, y, m, d, f);
            return NULL;
        }
        char v[32];
        const char *prec;
        if (d) {
            snprintf(v, sizeof v, "%04d-%02d-%02d", y, m, d);
            prec = "full";
        } else if (m) {
            snprintf(v, sizeof v, "%04d-%02d", y, m);
            prec = "month";
        } else {
            snprintf(v, sizeof v, "%04d", y);
            prec = "year";
        }
        return json_pack("{s:s, s:s}", "value", v, "precision", prec);
    }
    char list[200] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", formats[i]);
    snprintf(why, whysz, "'%.60s' is not a date of the form %s", s, list);
    return NULL;
}

/* Timestamps: RFC 3339 out, with the offset; a source time without one
 * is Vietnam time (+07:00), which is what every source here writes. */
static json_t *s_timestamp(const char *s, char *const *formats, size_t n, mapping_error_t *e)
{
    for (size_t i = 0; i < n; i++) {
        const char *f = formats[i];
        int y = 0, m = 0, d = 0, hh = 0, mi = 0, ss = 0;
        char off[16] = "+07:00", frac[16] = "";
        const char *p = s;
        if (!strcmp(f, "rfc3339") || !strcmp(f, "yyyy-mm-dd hh:mm:ss+zz") || !strcmp(f, "yyyy-mm-dd hh:mm:ss")) {
            char sep = f[0] == 'r' ? 'T' : ' ';
            if (!(p = s_digits(p, 4, &y)) || *p++ != '-' || !(p = s_digits(p, 2, &m)) || *p++ != '-'
                || !(p = s_digits(p, 2, &d)) || (*p != sep && !(sep == 'T' && *p == 't')))
                continue;
            p++;
            if (!(p = s_digits(p, 2, &hh)) || *p++ != ':' || !(p = s_digits(p, 2, &mi)) || *p++ != ':'
                || !(p = s_digits(p, 2, &ss)))
                continue;
            if (*p == '.') {
                size_t k = 0;
                frac[k++] = *p++;
                while (isdigit((unsigned char) *p) && k < sizeof frac - 1)
                    frac[k++] = *p++;
                frac[k] = 0;
                while (isdigit((unsigned char) *p))
                    p++;
            }
            if (!strcmp(f, "yyyy-mm-dd hh:mm:ss")) {
                if (*p)
                    continue;
            } else if (*p == 'Z' || *p == 'z') {
                strcpy(off, "Z");
                p++;
            } else if (*p == '+' || *p == '-') {
                int oh, om = 0;
                char sign = *p++;
                if (!(p = s_digits(p, 2, &oh)))
                    continue;
                if (*p == ':') {
                    if (!(p = s_digits(p + 1, 2, &om)))
                        continue;
                } else if (isdigit((unsigned char) *p)) {
                    if (!(p = s_digits(p, 2, &om)))
                        continue;
                }
                snprintf(off, sizeof off, "%c%02d:%02d", sign, oh % 100, om % 100);
            } else
                continue;
            if (*p)
                continue;
        } else {
            int h2, m2, s2;
            const char *end = s_form(s, f, &y, &m, &d, &h2, &m2, &s2);
            if (!end || *end)
                continue;
            hh = h2 < 0 ? 0 : h2;
            mi = m2 < 0 ? 0 : m2;
            ss = s2 < 0 ? 0 : s2;
            if (!d)
                continue;   /* a timestamp needs a day */
        }
        if (m < 1 || m > 12 || d < 1 || d > s_mdays(y, m) || hh > 23 || mi > 59 || ss > 60) {
            s_err(e, "timestamp", "'%.60s' is not a valid time (read as %s)", s, f);
            return NULL;
        }
        char out[64];
        snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", y, m, d, hh, mi, ss, frac, off);
        return json_string(out);
    }
    char list[200] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", formats[i]);
    s_err(e, "timestamp", "'%.60s' is not a time of the form %s", s, list);
    return NULL;
}

/* ---- numbers ------------------------------------------------------ */

/* "1.234,5" (vi) / "1,234.5" (en) / "1234.5". Group separators must
 * separate groups of three, so "1,5" read as en is an error, not 15. */
static json_t *s_number(const char *s, int style, mapping_error_t *e)
{
    char dec = style == 1 ? ',' : '.', grp = style == 1 ? '.' : (style == 2 ? ',' : 0);
    char buf[64];
    size_t o = 0;
    const char *p = s;
    if (*p == '-' || *p == '+')
        buf[o++] = *p++;
    int digits = 0, since_grp = -1;
    bool seen_dec = false;
    for (; *p; p++) {
        if (isdigit((unsigned char) *p)) {
            if (o >= sizeof buf - 2)
                goto bad;
            buf[o++] = *p;
            digits++;
            if (since_grp >= 0 && !seen_dec)
                since_grp++;
        } else if (grp && *p == grp && !seen_dec && digits && (since_grp < 0 || since_grp == 3)) {
            since_grp = 0;
        } else if (*p == dec && !seen_dec && digits && (since_grp < 0 || since_grp == 3)) {
            seen_dec = true;
            buf[o++] = '.';
            since_grp = -1;
        } else
            goto bad;
    }
    if (!digits || (since_grp >= 0 && since_grp != 3) || buf[o - 1] == '.')
        goto bad;
    buf[o] = 0;
    errno = 0;
    char *end;
    if (!seen_dec) {
        long long v = strtoll(buf, &end, 10);
        if (!errno && !*end)
            return json_integer(v);
    }
    double d = strtod(buf, &end);
    if (errno || *end)
        goto bad;
    return json_real(d);
bad:
    s_err(e, "number", "'%.60s' is not a number%s", s,
          style == 1 ? " in the Vietnamese form 1.234,5" : style == 2 ? " in the form 1,234.5" : "");
    return NULL;
}

/* ---- tables ------------------------------------------------------- */

static json_t *s_table(const table_t *t, json_t *v, bool lookup, mapping_error_t *e)
{
    char tmp[64];
    const char *s;
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(tmp, sizeof tmp, "%lld", (long long) json_integer_value(v));
        s = tmp;
    } else {
        char q[100];
        s_err(e, lookup ? "lookup" : "code_table", "%s cannot be looked up in table %s", s_q(v, q, sizeof q), t->name);
        return NULL;
    }
    json_t *r = json_object_get(t->map, s);
    if (!r) {
        char *k = NULL;
        size_t bad;
        if (vntext_key(s, strlen(s), &k, &bad) == 0) {
            r = json_object_get(t->keyed, k);
            if (json_is_null(r))
                r = NULL;            /* several keys fit: not decided */
            free(k);
        }
    }
    if (r)
        return json_incref(r);
    if (lookup)
        return NULL;
    char known[200] = "";
    const char *key;
    json_t *val;
    int cnt = 0;
    json_object_foreach(t->map, key, val) {
        if (cnt++ == 8) {
            strncat(known, ", ...", sizeof known - strlen(known) - 1);
            break;
        }
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", cnt > 1 ? ", " : "", key);
    }
    s_err(e, "code_table", "'%.60s' is not in table %s (%s)", s, t->name, known);
    return NULL;
}

/* ---- identity documents --------------------------------------------- */

static bool s_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char) s[i]))
            return false;
    return n > 0;
}

/* "CCCD 048183782251", "CMND 207816848", "048183782251", or {type, number}:
 * {type, number}, the type checked against the number's length. */
static json_t *s_id_document(json_t *v, mapping_error_t *e)
{
    char type[16] = "", number[64] = "";
    if (json_is_object(v)) {
        const char *t = json_string_value(json_object_get(v, "type"));
        const char *n = json_string_value(json_object_get(v, "number"));
        if (!n || !*n)
            return NULL;            /* a type without a number: no document */
        snprintf(type, sizeof type, "%s", t ? t : "");
        snprintf(number, sizeof number, "%s", n);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *sp = strchr(s, ' ');
        if (sp && sp - s < (int) sizeof type) {
            snprintf(type, sizeof type, "%.*s", (int) (sp - s), s);
            snprintf(number, sizeof number, "%s", sp + 1);
        } else
            snprintf(number, sizeof number, "%s", s);
    } else {
        char q[100];
        return s_err(e, "id_document", "%s is not an identity document", s_q(v, q, sizeof q)), NULL;
    }
    for (char *p = type; *p; p++)
        *p = (char) toupper((unsigned char) *p);
    size_t nl = strlen(number);
    if (!s_all_digits(number, nl))
        return s_err(e, "id_document", "number '%s' is not all digits", number), NULL;
    if (!type[0])
        snprintf(type, sizeof type, "%s", nl == 12 ? "CCCD" : nl == 9 ? "CMND" : "?");
    if (!strcmp(type, "CCCD") || !strcmp(type, "CC") || !strcmp(type, "DDCN"))
        strcpy(type, "CCCD");
    if (strcmp(type, "CCCD") && strcmp(type, "CMND"))
        return s_err(e, "id_document", "unknown document type '%s' for '%s' (CCCD or CMND)", type, number), NULL;
    if ((!strcmp(type, "CCCD") && nl != 12) || (!strcmp(type, "CMND") && nl != 9))
        return s_err(e, "id_document", "%s number '%s' has %zu digits, not %d", type, number, nl,
                     !strcmp(type, "CCCD") ? 12 : 9), NULL;
    return json_pack("{s:s, s:s}", "type", type, "number", number);
}

/* The shortest text that reads back as d (123.4, not 123.40000000000001). */
void mapstep_real_text(double d, char *buf, size_t sz)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sz, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* ---- the dispatcher ----------------------------------------------- */

/* Steps that act on each element of a list. */
static bool s_elementwise(step_kind_t k)
{
    return k != ST_SPLIT && k != ST_NAME_PARTS && k != ST_ID_DOCUMENT && k != ST_NULL_IF;
}

static int s_apply1(const mapping_t *m, const step_t *st, json_t **value, mapping_error_t *e)
{
    json_t *v = *value;
    json_t *r = NULL;
    char q[120];
    const char *s = json_string_value(v);
    size_t sl = s ? json_string_length(v) : 0;
    switch (st->kind) {
    case ST_TRIM:
    case ST_COLLAPSE:
        if (!s)
            return 0;
        if (sl && !s_space((unsigned char) s[0]) && !s_space((unsigned char) s[sl - 1])) {
            /* nothing to trim (and, for collapse, no run of spaces or other
             * white space inside): keep the value, allocate nothing */
            bool clean = true;
            for (size_t i = 0; st->kind == ST_COLLAPSE && i < sl && clean; i++)
                clean = !(s_space((unsigned char) s[i]) && (s[i] != ' ' || s[i + 1] == ' '));
            if (clean)
                return 0;
        }
        r = s_trim(s, sl, st->kind == ST_COLLAPSE);
        break;
    case ST_NFC: {
        if (!s || vntext_nfc_quick(s, sl))
            return 0;
        char *out;
        size_t bad;
        if (vntext_nfc(s, sl, &out, &bad) != 0)
            return s_err(e, "utf8", "invalid UTF-8 at byte %zu", bad);
        r = json_string(out);
        free(out);
        break;
    }
    case ST_UPPER:
    case ST_LOWER:
    case ST_TITLE:
        if (!s)
            return 0;
        if (!(r = s_case(s, sl, st->kind == ST_UPPER ? 0 : st->kind == ST_LOWER ? 1 : 2, e)))
            return -1;
        if (json_string_length(r) == sl && !memcmp(json_string_value(r), s, sl)) {
            json_decref(r);      /* already in that case: keep the value */
            return 0;
        }
        break;
    case ST_DIGITS: {
        if (json_is_integer(v)) {
            char b[32];
            snprintf(b, sizeof b, "%lld", (long long) json_integer_value(v));
            r = json_string(b);
            break;
        }
        if (!s)
            return s_err(e, "digits", "%s is not a text of digits", s_q(v, q, sizeof q));
        char *out = malloc(sl + 1);
        size_t o = 0;
        for (size_t i = 0; i < sl; i++) {
            if (isdigit((unsigned char) s[i]))
                out[o++] = s[i];
            else if (s[i] != ' ' && s[i] != '.' && s[i] != '-') {
                free(out);
                return s_err(e, "digits", "%s has a character that is not a digit", s_q(v, q, sizeof q));
            }
        }
        r = o ? json_stringn(out, o) : NULL;
        free(out);
        break;
    }
    case ST_SPLIT_NAME:
        if (!s)
            return s_err(e, "name", "%s is not a name", s_q(v, q, sizeof q));
        r = s_split_name(v, s);
        break;
    case ST_NAME_PARTS:
        if (!(r = s_name_parts(v, e)))
            return -1;
        break;
    case ST_DATE: {
        char tmp[32];
        if (json_is_integer(v)) {         /* a year given as a number (birth_year: 1960) */
            snprintf(tmp, sizeof tmp, "%lld", (long long) json_integer_value(v));
            s = tmp;
        }
        if (!s)
            return s_err(e, "date", "%s is not a date", s_q(v, q, sizeof q));
        char why[300];
        if (!(r = mapstep_date(s, st->formats, st->nformats, why, sizeof why)))
            return s_err(e, "date", "%s", why);
        break;
    }
    case ST_DATE_PART: {
        if (!s || sl < 10)
            return s_err(e, "date", "%s is not a time with a date", s_q(v, q, sizeof q));
        char d[11];
        memcpy(d, s, 10);
        d[10] = 0;
        char *f = "yyyy-mm-dd", why[300];
        if (!(r = mapstep_date(d, &f, 1, why, sizeof why)))
            return s_err(e, "date", "%s", why);
        break;
    }
    case ST_TIMESTAMP:
        if (!s)
            return s_err(e, "timestamp", "%s is not a time", s_q(v, q, sizeof q));
        if (!(r = s_timestamp(s, st->formats, st->nformats, e)))
            return -1;
        break;
    case ST_NUMBER:
    case ST_INTEGER:
        if (json_is_number(v)) {
            if (st->kind == ST_INTEGER && json_is_real(v)) {
                double d = json_real_value(v);
                if (d != (double) (long long) d)
                    return s_err(e, "integer", "%g is not a whole number", d);
                r = json_integer((json_int_t) d);
            } else
                r = json_incref(v);
            break;
        }
        if (!s)
            return s_err(e, st->kind == ST_INTEGER ? "integer" : "number", "%s is not a number", s_q(v, q, sizeof q));
        if (!(r = s_number(s, st->kind == ST_INTEGER ? 0 : st->vi ? 1 : (st->arg ? 2 : 0), e))) {
            if (st->kind == ST_INTEGER)
                snprintf(e->rule, sizeof e->rule, "integer");   /* one rule name per step */
            return -1;
        }
        if (st->kind == ST_INTEGER && !json_is_integer(r)) {
            json_decref(r);
            return s_err(e, "integer", "'%.60s' is not a whole number", s);
        }
        break;
    case ST_TABLE:
    case ST_LOOKUP:
        r = s_table(st->table, v, st->kind == ST_LOOKUP, e);
        if (!r && st->kind == ST_TABLE)
            return -1;
        break;
    case ST_SPLIT: {
        if (!s)
            return 0;
        r = json_array();
        const char *p = s;
        size_t al = strlen(st->arg);
        for (;;) {
            const char *nx = strstr(p, st->arg);
            size_t len = nx ? (size_t) (nx - p) : strlen(p);
            json_t *part = s_trim(p, len, false);
            if (json_string_length(part))
                json_array_append_new(r, part);
            else
                json_decref(part);
            if (!nx)
                break;
            p = nx + al;
        }
        if (!json_array_size(r)) {
            json_decref(r);
            r = NULL;
        }
        break;
    }
    case ST_REGEX:
    case ST_MATCH: {
        if (!s)
            return s_err(e, "pattern", "%s is not a text", s_q(v, q, sizeof q));
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(st->re, NULL);
        int rc = pcre2_match(st->re, (PCRE2_SPTR) s, sl, 0, 0, md, NULL);
        if (rc < 0) {
            pcre2_match_data_free(md);
            return s_err(e, "pattern", "'%.60s' does not match %s", s, st->arg);
        }
        if (st->kind == ST_MATCH) {
            pcre2_match_data_free(md);
            r = json_incref(v);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (rc > st->group && ov[2 * st->group] != PCRE2_UNSET)
            r = json_stringn(s + ov[2 * st->group], ov[2 * st->group + 1] - ov[2 * st->group]);
        pcre2_match_data_free(md);
        break;
    }
    case ST_ID_DOCUMENT:
        r = s_id_document(v, e);
        if (!r && e->rule[0])
            return -1;
        break;
    case ST_COMMUNE_2025: {
        if (!s)
            return s_err(e, "unknown_unit", "%s is not a commune code", s_q(v, q, sizeof q));
        recode_result_t res;
        if (!strcmp(st->arg, "2025")) {
            const recode_unit_t *u = recode_new_unit(m->env->recode, s);
            if (!u)
                return s_err(e, "unknown_unit", "'%s' is not a commune of the 2025 list", s);
            r = json_pack("{s:s, s:s}", "code", u->code, "name", u->name);
        } else {
            recode_status_t rs = recode_by_code(m->env->recode, NULL, NULL, s, &res);
            if (rs == RECODE_NOT_FOUND)
                return s_err(e, "unknown_unit", "'%s' is not a commune of the pre-2025 list", s);
            if (rs == RECODE_AMBIGUOUS) {
                json_decref(*value);   /* a split commune: the 2025 commune stays unknown */
                *value = NULL;
                return 0;
            }
            r = json_pack("{s:s, s:s}", "code", res.candidates[0].code, "name", res.candidates[0].name);
        }
        break;
    }
    case ST_PREFIX: {
        char nb[32];
        if (json_is_integer(v)) {
            snprintf(nb, sizeof nb, "%lld", (long long) json_integer_value(v));
            s = nb;
            sl = strlen(nb);
        }
        if (!s)
            return s_err(e, "prefix", "%s is not a text", s_q(v, q, sizeof q));
        size_t al = strlen(st->arg);
        char *buf = malloc(al + sl + 1);
        memcpy(buf, st->arg, al);
        memcpy(buf + al, s, sl + 1);
        r = json_string(buf);
        free(buf);
        break;
    }
    case ST_NULL_IF: {
        size_t i;
        json_t *x;
        char vt[64] = "";
        if (json_is_integer(v))
            snprintf(vt, sizeof vt, "%lld", (long long) json_integer_value(v));
        else if (json_is_real(v))
            mapstep_real_text(json_real_value(v), vt, sizeof vt);
        /* compared as text, like conditions: [0] matches the number 0 */
        json_array_foreach(st->values, i, x)
            if (json_equal(x, v) || (json_is_string(x) && ((s && !strcmp(json_string_value(x), s))
                                                           || (vt[0] && !strcmp(json_string_value(x), vt)))))
                r = NULL, v = NULL;
        if (v)
            return 0;
        break;
    }
    case ST_STRING:
        if (json_is_string(v))
            return 0;
        if (json_is_integer(v)) {
            char b[32];
            snprintf(b, sizeof b, "%lld", (long long) json_integer_value(v));
            r = json_string(b);
        } else if (json_is_real(v)) {
            char b[64];
            mapstep_real_text(json_real_value(v), b, sizeof b);
            r = json_string(b);
        } else
            return s_err(e, "string", "%s is not a text", s_q(v, q, sizeof q));
        break;
    }
    json_decref(*value);
    *value = r;
    /* An empty text is absent: sources write "" and null for the same thing. */
    if (r && json_is_string(r) && json_string_length(r) == 0) {
        json_decref(r);
        *value = NULL;
    }
    return 0;
}

/* Steps on text that also apply to each member of an object (the parts
 * of a name: {ho, chu_dem, ten} before name_parts). */
static bool s_memberwise(step_kind_t k)
{
    return k == ST_TRIM || k == ST_COLLAPSE || k == ST_NFC || k == ST_UPPER || k == ST_LOWER
        || k == ST_TITLE;
}

/* Applies a step to each member of an object or element of a list; a
 * member the step makes absent is left out, an empty result is absent. */
static int s_apply_members(const mapping_t *m, const step_t *st, json_t **value, mapping_error_t *e)
{
    json_t *in = *value;
    bool obj = json_is_object(in);
    json_t *out = obj ? json_object() : json_array();
    void *it = obj ? json_object_iter(in) : NULL;
    for (size_t i = 0; obj ? it != NULL : i < json_array_size(in); i++) {
        json_t *el = json_incref(obj ? json_object_iter_value(it) : json_array_get(in, i));
        if (s_apply1(m, st, &el, e) != 0) {
            json_decref(el);
            json_decref(out);
            return -1;
        }
        if (el && obj)
            json_object_set_new(out, json_object_iter_key(it), el);
        else if (el)
            json_array_append_new(out, el);
        if (obj)
            it = json_object_iter_next(in, it);
    }
    json_decref(in);
    *value = (obj ? json_object_size(out) : json_array_size(out)) ? out : (json_decref(out), NULL);
    return 0;
}

int mapstep_apply(const mapping_t *m, const step_t *st, json_t **value, mapping_error_t *e)
{
    if (!*value)
        return 0;
    if ((json_is_object(*value) && s_memberwise(st->kind)) || (json_is_array(*value) && s_elementwise(st->kind)))
        return s_apply_members(m, st, value, e);
    return s_apply1(m, st, value, e);
}
