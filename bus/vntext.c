/* vntext.c — Vietnamese text: UTF-8 validation, NFC, matching keys
 * (utf8proc). See vntext.h. */
#include "vntext.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int vntext_validate(const char *s, size_t len, size_t *bad_offset)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) s;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        /* utf8proc_iterate rejects stray continuation bytes, truncated
         * sequences, overlong forms, surrogates and code points above
         * U+10FFFF. The offset reported is the first byte of the sequence
         * that fails (as Python's decoder does), the first byte that
         * cannot start valid text there. */
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t) (len - i), &cp);
        if (n < 0) {
            if (bad_offset)
                *bad_offset = i;
            return -1;
        }
        i += (size_t) n;
    }
    return 0;
}

/* Runs utf8proc_map with options after validating s ourselves: utf8proc
 * reports only an error code, not where. Its output length goes to
 * *outlen (the text may hold NUL bytes of its own). */
static int s_map(const char *s, size_t len, utf8proc_option_t opts, char **out,
                 size_t *outlen, size_t *bad_offset)
{
    *out = NULL;
    if (vntext_validate(s, len, bad_offset) != 0)
        return -1;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *) s, (utf8proc_ssize_t) len,
                                      &dst, opts);
    if (n < 0) {
        /* Validated already, so this is out of memory. */
        if (bad_offset)
            *bad_offset = SIZE_MAX;
        return -1;
    }
    *out = (char *) dst;
    if (outlen)
        *outlen = (size_t) n;
    return 0;
}

/* Whether NFC leaves s as it is, decided cheaply for the text this bus
 * carries: valid UTF-8 whose code points are all below U+0300 (ASCII,
 * Latin-1, Latin Extended-A/B: ơ ư đ) or precomposed Vietnamese letters
 * (U+1EA0-U+1EF9). None of these decomposes to a different NFC form or
 * combines with a neighbour (no combining marks among them), so NFC is the
 * identity; anything else (combining marks, other scripts) takes the full
 * utf8proc path. The mapping stage normalises every name, so this matters. */
bool vntext_nfc_quick(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) s;
    utf8proc_ssize_t left = (utf8proc_ssize_t) len;
    while (left > 0) {
        if (*p < 0x80) {
            if (*p == 0)
                return false;      /* let the full path report it */
            p++;
            left--;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n < 0 || !(cp < 0x300 || (cp >= 0x1EA0 && cp <= 0x1EF9)))
            return false;
        p += n;
        left -= n;
    }
    return true;
}

int vntext_nfc(const char *s, size_t len, char **out, size_t *bad_offset)
{
    if (vntext_nfc_quick(s, len)) {
        *out = malloc(len + 1);
        if (!*out) {
            if (bad_offset)
                *bad_offset = SIZE_MAX;
            return -1;
        }
        memcpy(*out, s, len);
        (*out)[len] = 0;
        return 0;
    }
    return s_map(s, len, UTF8PROC_STABLE | UTF8PROC_COMPOSE, out, NULL, bad_offset);
}

static bool s_is_space(utf8proc_int32_t cp)
{
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85)
        return true;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL
        || c == UTF8PROC_CATEGORY_ZP;
}

/* The key and the fold differ only in whether the marks are stripped. */
static int s_fold(const char *s, size_t len, bool strip, char **out, size_t *bad_offset)
{
    char *folded;
    *out = NULL;
    /* STRIPMARK drops the combining marks that DECOMPOSE split off (the
     * tone and vowel marks); đ is a letter of its own, not d + a mark, so
     * it survives and is mapped below. */
    utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_CASEFOLD
        | (strip ? UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK : UTF8PROC_COMPOSE);
    size_t flen;
    if (s_map(s, len, opts, &folded, &flen, bad_offset) != 0)
        return -1;
    /* The key is never longer than the folded text. */
    char *key = malloc(flen + 1);
    if (!key) {
        free(folded);
        if (bad_offset)
            *bad_offset = SIZE_MAX;
        return -1;
    }
    size_t o = 0, i = 0;
    bool pending_space = false;
    while (i < flen) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *) folded + i,
                                              (utf8proc_ssize_t) (flen - i), &cp);
        if (n <= 0)
            break;             /* cannot happen: utf8proc_map output is valid */
        if (s_is_space(cp)) {
            pending_space = o > 0;
        } else {
            if (pending_space) {
                key[o++] = ' ';
                pending_space = false;
            }
            if (strip && cp == 0x0111)  /* đ (Đ was case-folded to it) */
                key[o++] = 'd';
            else {
                memcpy(key + o, folded + i, (size_t) n);
                o += (size_t) n;
            }
        }
        i += (size_t) n;
    }
    key[o] = '\0';
    free(folded);
    *out = key;
    return 0;
}

int vntext_key(const char *s, size_t len, char **out, size_t *bad_offset)
{
    return s_fold(s, len, true, out, bad_offset);
}

int vntext_fold(const char *s, size_t len, char **out, size_t *bad_offset)
{
    return s_fold(s, len, false, out, bad_offset);
}
