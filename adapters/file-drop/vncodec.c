/* vncodec.c — see vncodec.h.
 *
 * The TCVN3 and VNI tables are written from the published code charts:
 *   - TCVN 5712:1993, table VN3 (the "ABC" fonts .VnTime ...): ASCII, then
 *     the 14 letters Ă Â Ê Ô Ơ Ư Đ ă â ê ô ơ ư đ at 0xA1-0xAE, then the 60
 *     lowercase vowels with a tone at 0xB5-0xFE, grouped by vowel in the
 *     order a ă â e ê i o ô ơ u ư y and by tone in the order huyền, hỏi, ngã,
 *     sắc, nặng. VN3 has no toned capitals (VN1 puts them in the gaps of this
 *     range and in C0, VN3 does not): those gaps are undefined here.
 *   - VNI for Windows (VNI-Times ...): a toned or marked vowel is its ASCII
 *     base letter followed by one byte for the mark(s); ơ ư đ and the i/ỵ
 *     forms have a byte of their own. Capitals use the byte 0x20 lower
 *     (the Latin-1 capital of the same glyph), e.g. á = 'a' 0xF9, Á = 'A' 0xD9.
 * The unit test checks every defined TCVN3 byte against glibc's TCVN5712-1
 * (VN1, a superset for these bytes) and both tables against lgsp-vnconv. */
#include "vncodec.h"

#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

/* The Vietnamese vowels (rows) with each tone (columns: none, huyền/grave,
 * hỏi/hook above, ngã/tilde, sắc/acute, nặng/dot below), lowercase, as
 * precomposed (NFC) code points. */
enum { V_A, V_AW, V_AA, V_E, V_EE, V_I, V_O, V_OO, V_OW, V_U, V_UW, V_Y, V__N };
static const uint32_t s_vowel[V__N][6] = {
    [V_A]  = { 'a',    0x00E0, 0x1EA3, 0x00E3, 0x00E1, 0x1EA1 },
    [V_AW] = { 0x0103, 0x1EB1, 0x1EB3, 0x1EB5, 0x1EAF, 0x1EB7 },   /* ă */
    [V_AA] = { 0x00E2, 0x1EA7, 0x1EA9, 0x1EAB, 0x1EA5, 0x1EAD },   /* â */
    [V_E]  = { 'e',    0x00E8, 0x1EBB, 0x1EBD, 0x00E9, 0x1EB9 },
    [V_EE] = { 0x00EA, 0x1EC1, 0x1EC3, 0x1EC5, 0x1EBF, 0x1EC7 },   /* ê */
    [V_I]  = { 'i',    0x00EC, 0x1EC9, 0x0129, 0x00ED, 0x1ECB },
    [V_O]  = { 'o',    0x00F2, 0x1ECF, 0x00F5, 0x00F3, 0x1ECD },
    [V_OO] = { 0x00F4, 0x1ED3, 0x1ED5, 0x1ED7, 0x1ED1, 0x1ED9 },   /* ô */
    [V_OW] = { 0x01A1, 0x1EDD, 0x1EDF, 0x1EE1, 0x1EDB, 0x1EE3 },   /* ơ */
    [V_U]  = { 'u',    0x00F9, 0x1EE7, 0x0169, 0x00FA, 0x1EE5 },
    [V_UW] = { 0x01B0, 0x1EEB, 0x1EED, 0x1EEF, 0x1EE9, 0x1EF1 },   /* ư */
    [V_Y]  = { 'y',    0x1EF3, 0x1EF7, 0x1EF9, 0x00FD, 0x1EF5 },
};

/* ---- TCVN3 (VN3) chart ------------------------------------------------ */

/* Bytes 0xA1-0xAE. */
static const uint32_t s_tcvn3_letters[14] = {
    0x0102, 0x00C2, 0x00CA, 0x00D4, 0x01A0, 0x01AF, 0x0110,   /* Ă Â Ê Ô Ơ Ư Đ */
    0x0103, 0x00E2, 0x00EA, 0x00F4, 0x01A1, 0x01B0, 0x0111,   /* ă â ê ô ơ ư đ */
};
/* The byte of each lowercase vowel with tone 1..5 (grave, hook, tilde,
 * acute, dot below). The gaps (0xBA, 0xBF-0xC5, 0xCD, 0xD9-0xDB, 0xE0,
 * 0xF0) are where VN1 has capitals. */
static const uint8_t s_tcvn3_toned[V__N][5] = {
    [V_A]  = { 0xB5, 0xB6, 0xB7, 0xB8, 0xB9 },
    [V_AW] = { 0xBB, 0xBC, 0xBD, 0xBE, 0xC6 },
    [V_AA] = { 0xC7, 0xC8, 0xC9, 0xCA, 0xCB },
    [V_E]  = { 0xCC, 0xCE, 0xCF, 0xD0, 0xD1 },
    [V_EE] = { 0xD2, 0xD3, 0xD4, 0xD5, 0xD6 },
    [V_I]  = { 0xD7, 0xD8, 0xDC, 0xDD, 0xDE },
    [V_O]  = { 0xDF, 0xE1, 0xE2, 0xE3, 0xE4 },
    [V_OO] = { 0xE5, 0xE6, 0xE7, 0xE8, 0xE9 },
    [V_OW] = { 0xEA, 0xEB, 0xEC, 0xED, 0xEE },
    [V_U]  = { 0xEF, 0xF1, 0xF2, 0xF3, 0xF4 },
    [V_UW] = { 0xF5, 0xF6, 0xF7, 0xF8, 0xF9 },
    [V_Y]  = { 0xFA, 0xFB, 0xFC, 0xFD, 0xFE },
};

/* ---- VNI for Windows chart ------------------------------------------- */

/* Letters with a byte of their own (lowercase byte; the capital is 0x20
 * lower): ơ ư đ ì í ỉ ĩ ị ỵ. */
static const struct { uint8_t byte; uint32_t cp; } s_vni_single[] = {
    { 0xF4, 0x01A1 }, { 0xF6, 0x01B0 }, { 0xF1, 0x0111 },
    { 0xEC, 0x00EC }, { 0xED, 0x00ED }, { 0xE6, 0x1EC9 }, { 0xF3, 0x0129 }, { 0xF2, 0x1ECB },
    { 0xEE, 0x1EF5 },
};
/* Mark bytes (lowercase; capital = byte - 0x20): the shape they add to the
 * base (none, circumflex, breve) and the tone (0 none, 1..5 as above). */
enum { SHAPE_NONE, SHAPE_CIRC, SHAPE_BREVE };
static const struct { uint8_t byte, shape, tone; } s_vni_mark[] = {
    { 0xF8, SHAPE_NONE, 1 },  { 0xFB, SHAPE_NONE, 2 },  { 0xF5, SHAPE_NONE, 3 },
    { 0xF9, SHAPE_NONE, 4 },  { 0xEF, SHAPE_NONE, 5 },
    { 0xE2, SHAPE_CIRC, 0 },  { 0xE0, SHAPE_CIRC, 1 },  { 0xE5, SHAPE_CIRC, 2 },
    { 0xE3, SHAPE_CIRC, 3 },  { 0xE1, SHAPE_CIRC, 4 },  { 0xE4, SHAPE_CIRC, 5 },
    { 0xEA, SHAPE_BREVE, 0 }, { 0xE8, SHAPE_BREVE, 1 }, { 0xFA, SHAPE_BREVE, 2 },
    { 0xFC, SHAPE_BREVE, 3 }, { 0xE9, SHAPE_BREVE, 4 }, { 0xEB, SHAPE_BREVE, 5 },
};

/* ---- the decoder object ----------------------------------------------- */

#define NO_CP 0xFFFFFFFFu
enum { VNI_BASE_NONE = 0xFF };

struct vncodec {
    vncodec_enc_t enc;
    iconv_t       cd;            /* cp1258 */
    vncodec_buf_t tmp;           /* cp1258: iconv output before NFC */
    uint32_t      single[256];   /* byte -> code point, NO_CP when not a letter by itself */
    /* VNI only: */
    uint8_t       base[256];     /* byte -> vowel row (V_A ...) | 0x80 if capital, or VNI_BASE_NONE */
    uint8_t       mark[256];     /* byte -> shape << 4 | tone, or 0xFF */
};

static const char *const s_enc_names[VNCODEC__COUNT] = { "utf-8", "cp1258", "tcvn3", "vni" };

int vncodec_enc_parse(const char *name, vncodec_enc_t *enc)
{
    static const struct { const char *alias; vncodec_enc_t enc; } aliases[] = {
        { "utf-8", VNCODEC_UTF8 },        { "utf8", VNCODEC_UTF8 },
        { "cp1258", VNCODEC_CP1258 },     { "windows-1258", VNCODEC_CP1258 },
        { "cp-1258", VNCODEC_CP1258 },
        { "tcvn3", VNCODEC_TCVN3 },       { "tcvn", VNCODEC_TCVN3 },
        { "abc", VNCODEC_TCVN3 },         { "tcvn5712-3", VNCODEC_TCVN3 },
        { "vn3", VNCODEC_TCVN3 },
        { "vni", VNCODEC_VNI },           { "vni-windows", VNCODEC_VNI },
    };
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0) {
            *enc = aliases[i].enc;
            return 0;
        }
    return -1;
}

const char *vncodec_enc_name(vncodec_enc_t enc)
{
    return (unsigned)enc < VNCODEC__COUNT ? s_enc_names[enc] : "?";
}

static void s_build_tcvn3(vncodec_t *self)
{
    for (int i = 0; i < 14; i++)
        self->single[0xA1 + i] = s_tcvn3_letters[i];
    for (int v = 0; v < V__N; v++)
        for (int t = 0; t < 5; t++)
            self->single[s_tcvn3_toned[v][t]] = s_vowel[v][t + 1];
}

static void s_build_vni(vncodec_t *self)
{
    memset(self->base, VNI_BASE_NONE, sizeof self->base);
    memset(self->mark, 0xFF, sizeof self->mark);
    for (size_t i = 0; i < sizeof s_vni_single / sizeof s_vni_single[0]; i++) {
        self->single[s_vni_single[i].byte] = s_vni_single[i].cp;
        self->single[s_vni_single[i].byte - 0x20] = (uint32_t)utf8proc_toupper((utf8proc_int32_t)s_vni_single[i].cp);
    }
    static const struct { uint8_t byte; uint8_t row; } bases[] = {
        { 'a', V_A }, { 'e', V_E }, { 'i', V_I }, { 'o', V_O }, { 'u', V_U }, { 'y', V_Y },
        { 0xF4, V_OW }, { 0xF6, V_UW },
    };
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        uint8_t b = bases[i].byte;
        self->base[b] = bases[i].row;
        self->base[b - 0x20] = (uint8_t)(bases[i].row | 0x80);   /* 'A' = 'a' - 0x20 as well */
    }
    for (size_t i = 0; i < sizeof s_vni_mark / sizeof s_vni_mark[0]; i++) {
        uint8_t v = (uint8_t)(s_vni_mark[i].shape << 4 | s_vni_mark[i].tone);
        self->mark[s_vni_mark[i].byte] = v;
        self->mark[s_vni_mark[i].byte - 0x20] = v;
    }
}

vncodec_t *vncodec_new(vncodec_enc_t enc)
{
    if ((unsigned)enc >= VNCODEC__COUNT)
        return NULL;
    vncodec_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->enc = enc;
    self->cd = (iconv_t)-1;
    for (int i = 0; i < 256; i++)
        self->single[i] = i < 0x80 ? (uint32_t)i : NO_CP;
    if (enc == VNCODEC_CP1258) {
        self->cd = iconv_open("UTF-8", "CP1258");
        if (self->cd == (iconv_t)-1) {
            free(self);
            return NULL;
        }
    } else if (enc == VNCODEC_TCVN3) {
        s_build_tcvn3(self);
    } else if (enc == VNCODEC_VNI) {
        s_build_vni(self);
    }
    return self;
}

void vncodec_destroy(vncodec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    vncodec_t *self = *self_p;
    if (self->cd != (iconv_t)-1)
        iconv_close(self->cd);
    vncodec_buf_free(&self->tmp);
    free(self);
    *self_p = NULL;
}

vncodec_enc_t vncodec_enc(const vncodec_t *self)
{
    return self->enc;
}

/* ---- buffers ------------------------------------------------------------ */

static int s_reserve(vncodec_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int vncodec_buf_put(vncodec_buf_t *b, const void *p, size_t n)
{
    if (s_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void vncodec_buf_free(vncodec_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t vncodec_bom_len(const void *data, size_t len)
{
    const unsigned char *p = data;
    return len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? 3 : 0;
}

static int s_fail(vncodec_error_t *err, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_fail(vncodec_error_t *err, size_t pos, const char *fmt, ...)
{
    if (err) {
        err->pos = pos;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int s_nomem(vncodec_error_t *err, size_t pos)
{
    if (err) {
        err->pos = pos;
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    return -1;
}

/* ---- UTF-8 ------------------------------------------------------------- */

int vncodec_utf8_nfc(const void *in, size_t len, vncodec_buf_t *out, vncodec_error_t *err)
{
    const utf8proc_uint8_t *p = in;
    bool nfc = true;
    size_t i = 0;
    while (i < len) {
        if (p[i] == 0)
            return s_fail(err, i, "NUL byte (0x%02x) in %s text", 0, "utf-8");
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n < 0)
            return s_fail(err, i, "invalid UTF-8 sequence starting with byte 0x%02x (%s)", p[i], "utf-8");
        /* Text made only of U+0000-U+02FF and Latin Extended Additional
         * (U+1E00-U+1EFF, where every precomposed Vietnamese letter lives)
         * is NFC as it is: none of these has a combining class or is
         * NFC_Quick_Check No/Maybe. Anything else goes through utf8proc
         * (most of the cost of a record otherwise). */
        if (cp >= 0x300 && (cp < 0x1E00 || cp > 0x1EFF))
            nfc = false;
        i += (size_t)n;
    }
    if (nfc)
        return vncodec_buf_put(out, in, len) == 0 ? 0 : s_nomem(err, 0);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map(p, (utf8proc_ssize_t)len, &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) {
        /* cannot happen after the check above but for memory */
        free(dst);
        return s_nomem(err, 0);
    }
    int rc = vncodec_buf_put(out, dst, (size_t)n);
    free(dst);
    return rc == 0 ? 0 : s_nomem(err, 0);
}

/* ---- CP1258 --------------------------------------------------------------- */

static int s_decode_cp1258(vncodec_t *self, const unsigned char *in, size_t len, vncodec_buf_t *out,
                           vncodec_error_t *err)
{
    for (size_t i = 0; i < len; i++)
        if (in[i] == 0)
            return s_fail(err, i, "NUL byte (0x%02x) in %s text", 0, "cp1258");
    self->tmp.len = 0;
    iconv(self->cd, NULL, NULL, NULL, NULL);   /* CP1258 is stateful: it holds a base letter */
    char *ip = (char *)in;
    size_t ileft = len;
    for (;;) {
        if (s_reserve(&self->tmp, ileft * 3 + 16) != 0)
            return s_nomem(err, len - ileft);
        char *op = self->tmp.data + self->tmp.len;
        size_t oleft = self->tmp.cap - self->tmp.len - 1;
        size_t r = ileft ? iconv(self->cd, &ip, &ileft, &op, &oleft)
                         : iconv(self->cd, NULL, NULL, &op, &oleft);   /* flush the held letter */
        int e = errno;
        self->tmp.len = (size_t)(op - self->tmp.data);
        if (r != (size_t)-1) {
            if (ileft == 0 && ip != NULL) {
                ip = NULL;          /* one more round: flush */
                continue;
            }
            break;
        }
        if (e == E2BIG)
            continue;
        size_t pos = len - ileft;
        return s_fail(err, pos, "byte 0x%02x is not defined in %s", pos < len ? in[pos] : 0, "cp1258");
    }
    /* glibc recomposes the pairs it knows; NFC does the rest (e.g. a tone
     * mark on a letter glibc's table lacks). */
    return vncodec_utf8_nfc(self->tmp.data ? self->tmp.data : "", self->tmp.len, out, err);
}

/* ---- table encodings -------------------------------------------------- */

static int s_put_cp(vncodec_buf_t *out, uint32_t cp)
{
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, u);
    return vncodec_buf_put(out, u, (size_t)n);
}

static int s_decode_tcvn3(vncodec_t *self, const unsigned char *in, size_t len, vncodec_buf_t *out,
                          vncodec_error_t *err)
{
    if (s_reserve(out, len * 3) != 0)
        return s_nomem(err, 0);
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = self->single[in[i]];
        if (cp == 0)
            return s_fail(err, i, "NUL byte (0x%02x) in %s text", 0, "tcvn3");
        if (cp == NO_CP)
            return s_fail(err, i, "byte 0x%02x is not defined in %s", in[i], "tcvn3");
        if (s_put_cp(out, cp) != 0)
            return s_nomem(err, i);
    }
    return 0;
}

/* The vowel row that a base row becomes with a shape, or -1. */
static int s_shaped(int row, int shape)
{
    if (shape == SHAPE_NONE)
        return row;
    if (shape == SHAPE_CIRC)
        return row == V_A ? V_AA : row == V_E ? V_EE : row == V_O ? V_OO : -1;
    return row == V_A ? V_AW : -1;
}

static int s_decode_vni(vncodec_t *self, const unsigned char *in, size_t len, vncodec_buf_t *out,
                        vncodec_error_t *err)
{
    if (s_reserve(out, len * 3) != 0)
        return s_nomem(err, 0);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        uint8_t base = self->base[c];
        if (base != VNI_BASE_NONE && i + 1 < len && self->mark[in[i + 1]] != 0xFF) {
            /* A base vowel and its mark byte: the mark's case does not
             * matter (typists mix them), the letter's case is the base's. */
            uint8_t m = self->mark[in[i + 1]];
            int row = s_shaped(base & 0x7F, m >> 4);
            if (row < 0)
                return s_fail(err, i + 1, "mark byte 0x%02x cannot follow this vowel in %s", in[i + 1], "vni");
            uint32_t cp = s_vowel[row][m & 0x0F];
            if (base & 0x80)
                cp = (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
            if (s_put_cp(out, cp) != 0)
                return s_nomem(err, i);
            i++;
            continue;
        }
        uint32_t cp = self->single[c];
        if (cp == 0)
            return s_fail(err, i, "NUL byte (0x%02x) in %s text", 0, "vni");
        if (cp == NO_CP) {
            if (self->mark[c] != 0xFF)
                return s_fail(err, i, "mark byte 0x%02x without a vowel before it in %s", c, "vni");
            return s_fail(err, i, "byte 0x%02x is not defined in %s", c, "vni");
        }
        if (s_put_cp(out, cp) != 0)
            return s_nomem(err, i);
    }
    return 0;
}

int vncodec_decode(vncodec_t *self, const void *in, size_t len, vncodec_buf_t *out,
                   vncodec_error_t *err)
{
    /* a buffer that exists even for empty input, so data is never NULL */
    if (vncodec_buf_put(out, "", 0) != 0)
        return s_nomem(err, 0);
    switch (self->enc) {
    case VNCODEC_UTF8:   return vncodec_utf8_nfc(in, len, out, err);
    case VNCODEC_CP1258: return s_decode_cp1258(self, in, len, out, err);
    case VNCODEC_TCVN3:  return s_decode_tcvn3(self, in, len, out, err);
    case VNCODEC_VNI:    return s_decode_vni(self, in, len, out, err);
    default:             return s_fail(err, 0, "unknown encoding %u%s", (unsigned)self->enc, "");
    }
}
