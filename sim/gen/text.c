/* text.c — see text.h; built on utf8proc. */
#include "text.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static void s_put(sbuf_t *out, utf8proc_int32_t cp)
{
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, tmp);
    sbuf_put(out, (const char *)tmp, (size_t)n);
}

static void s_map_case(const char *s, sbuf_t *out, bool upper)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (*p) {
        if (*p < 0x80) {
            char c = (char)*p++;
            if (upper && c >= 'a' && c <= 'z') c = (char)(c - 32);
            if (!upper && c >= 'A' && c <= 'Z') c = (char)(c + 32);
            sbuf_putc(out, c);
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        if (n <= 0) { p++; continue; }
        p += n;
        s_put(out, upper ? utf8proc_toupper(cp) : utf8proc_tolower(cp));
    }
}

void text_upper(const char *s, sbuf_t *out) { s_map_case(s, out, true); }
void text_lower(const char *s, sbuf_t *out) { s_map_case(s, out, false); }

void text_nfd(const char *s, sbuf_t *out)
{
    utf8proc_uint8_t *d = utf8proc_NFD((const utf8proc_uint8_t *)s);
    if (!d) { sbuf_puts(out, s); return; }
    sbuf_puts(out, (const char *)d);
    free(d);
}

void text_strip(const char *s, sbuf_t *out)
{
    utf8proc_uint8_t *d = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, 0, &d,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                      UTF8PROC_STRIPMARK);
    if (n < 0 || !d)
        die("utf8proc_map: %s", utf8proc_errmsg(n));
    const utf8proc_uint8_t *p = d;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, -1, &cp);
        if (k <= 0) { p++; continue; }
        p += k;
        if (cp == 0x0111) cp = 'd';
        else if (cp == 0x0110) cp = 'D';
        s_put(out, cp);
    }
    free(d);
}

bool text_has_nonascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            return true;
    return false;
}

bool text_decomposes(const char *s)
{
    if (!text_has_nonascii(s))
        return false;
    utf8proc_uint8_t *d = utf8proc_NFD((const utf8proc_uint8_t *)s);
    bool diff = d && strcmp((const char *)d, s) != 0;
    free(d);
    return diff;
}

/* Neighbouring keys on a QWERTY keyboard, for substitutions. */
static const char *const s_near[26] = {
    "qsz", "vgn", "xdv", "sfe", "wrd", "dgr", "fht", "gjy", "uok", "hku", "jli", "kop", "nj",
    "bmh", "ipl", "ol", "wa", "etf", "adw", "ryg", "yij", "cfb", "qes", "zcs", "tuh", "xas" };

static const utf8proc_int32_t s_tones[5] = { 0x0300, 0x0301, 0x0309, 0x0303, 0x0323 };

static bool s_is_tone(utf8proc_int32_t c)
{
    for (int i = 0; i < 5; i++)
        if (s_tones[i] == c)
            return true;
    return false;
}

#define MAXCP 256

/* Copies cp without the letter at index at and the marks that follow it. */
static int s_drop(const utf8proc_int32_t *cp, int n, int at, utf8proc_int32_t *o)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (i == at) {
            while (i + 1 < n && utf8proc_category(cp[i + 1]) == UTF8PROC_CATEGORY_MN)
                i++;
            continue;
        }
        o[m++] = cp[i];
    }
    return m;
}

bool text_typo(rng_t *r, const char *s, sbuf_t *out)
{
    /* work on the NFD code points so that a tone mark is one unit */
    utf8proc_int32_t cp[MAXCP];
    int n = 0;
    utf8proc_uint8_t *d = utf8proc_NFD((const utf8proc_uint8_t *)s);
    if (!d)
        return false;
    const utf8proc_uint8_t *p = d;
    while (*p && n < MAXCP) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, -1, &c);
        if (k <= 0) break;
        p += k;
        cp[n++] = c;
    }
    free(d);
    int letters[MAXCP], nl = 0, tones[MAXCP], nt = 0;
    for (int i = 0; i < n; i++) {
        if (s_is_tone(cp[i])) tones[nt++] = i;
        else if (utf8proc_category(cp[i]) == UTF8PROC_CATEGORY_LL ||
                 utf8proc_category(cp[i]) == UTF8PROC_CATEGORY_LU) letters[nl++] = i;
    }
    if (nl < 2)
        return false;
    utf8proc_int32_t o[MAXCP + 2];
    int m = 0;
    int kind = (int)rng_below(r, 10);
    if (kind < 3 && nt > 0) {
        /* wrong tone mark */
        int at = tones[rng_below(r, (uint32_t)nt)];
        utf8proc_int32_t t;
        do { t = s_tones[rng_below(r, 5)]; } while (t == cp[at]);
        /* the new tone goes after the other marks of its letter (after the
         * circumflex, breve or horn) so that NFC composes it */
        int end = at;
        while (end + 1 < n && utf8proc_category(cp[end + 1]) == UTF8PROC_CATEGORY_MN)
            end++;
        for (int i = 0; i < n; i++) {
            if (i != at)
                o[m++] = cp[i];
            if (i == end)
                o[m++] = t;
        }
    } else if (kind < 5) {
        /* dropped letter (with its marks) */
        m = s_drop(cp, n, letters[rng_below(r, (uint32_t)nl)], o);
    } else if (kind < 6) {
        /* doubled letter */
        int at = letters[rng_below(r, (uint32_t)nl)];
        for (int i = 0; i < n; i++) {
            o[m++] = cp[i];
            if (i == at) o[m++] = cp[i];
        }
    } else if (kind < 8) {
        /* two neighbouring letters swapped (only plain ones, when different) */
        int cand[MAXCP], nc = 0;
        for (int i = 0; i + 1 < n; i++)
            if (cp[i] < 0x80 && cp[i + 1] < 0x80 && cp[i] != cp[i + 1] &&
                utf8proc_category(cp[i]) == UTF8PROC_CATEGORY_LL && utf8proc_category(cp[i + 1]) == UTF8PROC_CATEGORY_LL &&
                (i + 2 >= n || utf8proc_category(cp[i + 2]) != UTF8PROC_CATEGORY_MN))
                cand[nc++] = i;
        memcpy(o, cp, (size_t)n * sizeof *cp);
        m = n;
        if (nc) {
            int at = cand[rng_below(r, (uint32_t)nc)];
            o[at] = cp[at + 1];
            o[at + 1] = cp[at];
        } else {
            m = s_drop(cp, n, letters[rng_below(r, (uint32_t)nl)], o);
        }
    } else {
        /* a neighbouring key instead of a lowercase ASCII letter */
        int cand[MAXCP], nc = 0;
        for (int i = 0; i < nl; i++) {
            int at = letters[i];
            if (cp[at] >= 'a' && cp[at] <= 'z' &&
                (at + 1 >= n || utf8proc_category(cp[at + 1]) != UTF8PROC_CATEGORY_MN))
                cand[nc++] = at;
        }
        memcpy(o, cp, (size_t)n * sizeof *cp);
        m = n;
        if (nc) {
            int at = cand[rng_below(r, (uint32_t)nc)];
            const char *nb = s_near[cp[at] - 'a'];
            o[at] = nb[rng_below(r, (uint32_t)strlen(nb))];
        } else {
            m = s_drop(cp, n, letters[rng_below(r, (uint32_t)nl)], o);
        }
    }
    /* back to NFC */
    sbuf_t tmp;
    sbuf_init(&tmp);
    for (int i = 0; i < m; i++)
        s_put(&tmp, o[i]);
    utf8proc_uint8_t *c = utf8proc_NFC((const utf8proc_uint8_t *)(tmp.p ? tmp.p : ""));
    sbuf_free(&tmp);
    if (!c)
        return false;
    bool changed = strcmp((const char *)c, s) != 0;
    if (changed)
        sbuf_puts(out, (const char *)c);
    free(c);
    return changed;
}
