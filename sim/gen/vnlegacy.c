/* vnlegacy.c — TCVN3 (ABC) and VNI-Windows tables, encoder and decoder;
 * CP1258 through glibc iconv.
 *
 * Sources of the table below (transcribed from the published code charts,
 * not copied from any program):
 *  - TCVN3: TCVN 5712:1993 "Công nghệ thông tin — Bộ mã chuẩn 8-bit kí tự
 *    Việt dùng trong trao đổi thông tin", table VN3 (the "ABC" fonts .VnTime
 *    etc.), as charted in the Vietnamese Unicode FAQ charset pages
 *    (vietunicode.sourceforge.net/charset/). VN3 holds the lowercase letters
 *    and only seven capitals (Ă Â Ê Ô Ơ Ư Đ); the other toned capitals were
 *    typed with the uppercase ("H") fonts, i.e. stored as the lowercase byte.
 *    VN3 is a subset of VN1, whose full table glibc ships as TCVN5712-1: the
 *    test sim/tests/test-vnlegacy.c checks every exact row against it.
 *  - VNI-Windows: the VNI Software Company's VNI-Windows code chart (same
 *    FAQ pages): a base letter followed by a mark byte; ơ ư đ, the toned i
 *    and ỵ are single bytes; capitals use the mark bytes minus 0x20.
 * Every row round-trips (test-vnlegacy). */
#include "vnlegacy.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *const vn_charset_name[VN__COUNT] = { "UTF-8", "TCVN3", "VNI-Windows", "CP1258" };

const vn_row_t vn_table[] = {
    /* code point, TCVN3, exact?, VNI-Windows */
    { 0x00C0, "\xB5", 0, "\x41\xD8"     }, /* À Capital Letter A With Grave */
    { 0x00C1, "\xB8", 0, "\x41\xD9"     }, /* Á Capital Letter A With Acute */
    { 0x00C2, "\xA2", 1, "\x41\xC2"     }, /* Â Capital Letter A With Circumflex */
    { 0x00C3, "\xB7", 0, "\x41\xD5"     }, /* Ã Capital Letter A With Tilde */
    { 0x00C8, "\xCC", 0, "\x45\xD8"     }, /* È Capital Letter E With Grave */
    { 0x00C9, "\xD0", 0, "\x45\xD9"     }, /* É Capital Letter E With Acute */
    { 0x00CA, "\xA3", 1, "\x45\xC2"     }, /* Ê Capital Letter E With Circumflex */
    { 0x00CC, "\xD7", 0, "\xCC"         }, /* Ì Capital Letter I With Grave */
    { 0x00CD, "\xDD", 0, "\xCD"         }, /* Í Capital Letter I With Acute */
    { 0x00D2, "\xDF", 0, "\x4F\xD8"     }, /* Ò Capital Letter O With Grave */
    { 0x00D3, "\xE3", 0, "\x4F\xD9"     }, /* Ó Capital Letter O With Acute */
    { 0x00D4, "\xA4", 1, "\x4F\xC2"     }, /* Ô Capital Letter O With Circumflex */
    { 0x00D5, "\xE2", 0, "\x4F\xD5"     }, /* Õ Capital Letter O With Tilde */
    { 0x00D9, "\xEF", 0, "\x55\xD8"     }, /* Ù Capital Letter U With Grave */
    { 0x00DA, "\xF3", 0, "\x55\xD9"     }, /* Ú Capital Letter U With Acute */
    { 0x00DD, "\xFD", 0, "\x59\xD9"     }, /* Ý Capital Letter Y With Acute */
    { 0x00E0, "\xB5", 1, "\x61\xF8"     }, /* à Small Letter A With Grave */
    { 0x00E1, "\xB8", 1, "\x61\xF9"     }, /* á Small Letter A With Acute */
    { 0x00E2, "\xA9", 1, "\x61\xE2"     }, /* â Small Letter A With Circumflex */
    { 0x00E3, "\xB7", 1, "\x61\xF5"     }, /* ã Small Letter A With Tilde */
    { 0x00E8, "\xCC", 1, "\x65\xF8"     }, /* è Small Letter E With Grave */
    { 0x00E9, "\xD0", 1, "\x65\xF9"     }, /* é Small Letter E With Acute */
    { 0x00EA, "\xAA", 1, "\x65\xE2"     }, /* ê Small Letter E With Circumflex */
    { 0x00EC, "\xD7", 1, "\xEC"         }, /* ì Small Letter I With Grave */
    { 0x00ED, "\xDD", 1, "\xED"         }, /* í Small Letter I With Acute */
    { 0x00F2, "\xDF", 1, "\x6F\xF8"     }, /* ò Small Letter O With Grave */
    { 0x00F3, "\xE3", 1, "\x6F\xF9"     }, /* ó Small Letter O With Acute */
    { 0x00F4, "\xAB", 1, "\x6F\xE2"     }, /* ô Small Letter O With Circumflex */
    { 0x00F5, "\xE2", 1, "\x6F\xF5"     }, /* õ Small Letter O With Tilde */
    { 0x00F9, "\xEF", 1, "\x75\xF8"     }, /* ù Small Letter U With Grave */
    { 0x00FA, "\xF3", 1, "\x75\xF9"     }, /* ú Small Letter U With Acute */
    { 0x00FD, "\xFD", 1, "\x79\xF9"     }, /* ý Small Letter Y With Acute */
    { 0x0102, "\xA1", 1, "\x41\xCA"     }, /* Ă Capital Letter A With Breve */
    { 0x0103, "\xA8", 1, "\x61\xEA"     }, /* ă Small Letter A With Breve */
    { 0x0110, "\xA7", 1, "\xD1"         }, /* Đ Capital Letter D With Stroke */
    { 0x0111, "\xAE", 1, "\xF1"         }, /* đ Small Letter D With Stroke */
    { 0x0128, "\xDC", 0, "\xD3"         }, /* Ĩ Capital Letter I With Tilde */
    { 0x0129, "\xDC", 1, "\xF3"         }, /* ĩ Small Letter I With Tilde */
    { 0x0168, "\xF2", 0, "\x55\xD5"     }, /* Ũ Capital Letter U With Tilde */
    { 0x0169, "\xF2", 1, "\x75\xF5"     }, /* ũ Small Letter U With Tilde */
    { 0x01A0, "\xA5", 1, "\xD4"         }, /* Ơ Capital Letter O With Horn */
    { 0x01A1, "\xAC", 1, "\xF4"         }, /* ơ Small Letter O With Horn */
    { 0x01AF, "\xA6", 1, "\xD6"         }, /* Ư Capital Letter U With Horn */
    { 0x01B0, "\xAD", 1, "\xF6"         }, /* ư Small Letter U With Horn */
    { 0x1EA0, "\xB9", 0, "\x41\xCF"     }, /* Ạ Capital Letter A With Dot Below */
    { 0x1EA1, "\xB9", 1, "\x61\xEF"     }, /* ạ Small Letter A With Dot Below */
    { 0x1EA2, "\xB6", 0, "\x41\xDB"     }, /* Ả Capital Letter A With Hook Above */
    { 0x1EA3, "\xB6", 1, "\x61\xFB"     }, /* ả Small Letter A With Hook Above */
    { 0x1EA4, "\xCA", 0, "\x41\xC1"     }, /* Ấ Capital Letter A With Circumflex And Acute */
    { 0x1EA5, "\xCA", 1, "\x61\xE1"     }, /* ấ Small Letter A With Circumflex And Acute */
    { 0x1EA6, "\xC7", 0, "\x41\xC0"     }, /* Ầ Capital Letter A With Circumflex And Grave */
    { 0x1EA7, "\xC7", 1, "\x61\xE0"     }, /* ầ Small Letter A With Circumflex And Grave */
    { 0x1EA8, "\xC8", 0, "\x41\xC5"     }, /* Ẩ Capital Letter A With Circumflex And Hook Above */
    { 0x1EA9, "\xC8", 1, "\x61\xE5"     }, /* ẩ Small Letter A With Circumflex And Hook Above */
    { 0x1EAA, "\xC9", 0, "\x41\xC3"     }, /* Ẫ Capital Letter A With Circumflex And Tilde */
    { 0x1EAB, "\xC9", 1, "\x61\xE3"     }, /* ẫ Small Letter A With Circumflex And Tilde */
    { 0x1EAC, "\xCB", 0, "\x41\xC4"     }, /* Ậ Capital Letter A With Circumflex And Dot Below */
    { 0x1EAD, "\xCB", 1, "\x61\xE4"     }, /* ậ Small Letter A With Circumflex And Dot Below */
    { 0x1EAE, "\xBE", 0, "\x41\xC9"     }, /* Ắ Capital Letter A With Breve And Acute */
    { 0x1EAF, "\xBE", 1, "\x61\xE9"     }, /* ắ Small Letter A With Breve And Acute */
    { 0x1EB0, "\xBB", 0, "\x41\xC8"     }, /* Ằ Capital Letter A With Breve And Grave */
    { 0x1EB1, "\xBB", 1, "\x61\xE8"     }, /* ằ Small Letter A With Breve And Grave */
    { 0x1EB2, "\xBC", 0, "\x41\xDA"     }, /* Ẳ Capital Letter A With Breve And Hook Above */
    { 0x1EB3, "\xBC", 1, "\x61\xFA"     }, /* ẳ Small Letter A With Breve And Hook Above */
    { 0x1EB4, "\xBD", 0, "\x41\xDC"     }, /* Ẵ Capital Letter A With Breve And Tilde */
    { 0x1EB5, "\xBD", 1, "\x61\xFC"     }, /* ẵ Small Letter A With Breve And Tilde */
    { 0x1EB6, "\xC6", 0, "\x41\xCB"     }, /* Ặ Capital Letter A With Breve And Dot Below */
    { 0x1EB7, "\xC6", 1, "\x61\xEB"     }, /* ặ Small Letter A With Breve And Dot Below */
    { 0x1EB8, "\xD1", 0, "\x45\xCF"     }, /* Ẹ Capital Letter E With Dot Below */
    { 0x1EB9, "\xD1", 1, "\x65\xEF"     }, /* ẹ Small Letter E With Dot Below */
    { 0x1EBA, "\xCE", 0, "\x45\xDB"     }, /* Ẻ Capital Letter E With Hook Above */
    { 0x1EBB, "\xCE", 1, "\x65\xFB"     }, /* ẻ Small Letter E With Hook Above */
    { 0x1EBC, "\xCF", 0, "\x45\xD5"     }, /* Ẽ Capital Letter E With Tilde */
    { 0x1EBD, "\xCF", 1, "\x65\xF5"     }, /* ẽ Small Letter E With Tilde */
    { 0x1EBE, "\xD5", 0, "\x45\xC1"     }, /* Ế Capital Letter E With Circumflex And Acute */
    { 0x1EBF, "\xD5", 1, "\x65\xE1"     }, /* ế Small Letter E With Circumflex And Acute */
    { 0x1EC0, "\xD2", 0, "\x45\xC0"     }, /* Ề Capital Letter E With Circumflex And Grave */
    { 0x1EC1, "\xD2", 1, "\x65\xE0"     }, /* ề Small Letter E With Circumflex And Grave */
    { 0x1EC2, "\xD3", 0, "\x45\xC5"     }, /* Ể Capital Letter E With Circumflex And Hook Above */
    { 0x1EC3, "\xD3", 1, "\x65\xE5"     }, /* ể Small Letter E With Circumflex And Hook Above */
    { 0x1EC4, "\xD4", 0, "\x45\xC3"     }, /* Ễ Capital Letter E With Circumflex And Tilde */
    { 0x1EC5, "\xD4", 1, "\x65\xE3"     }, /* ễ Small Letter E With Circumflex And Tilde */
    { 0x1EC6, "\xD6", 0, "\x45\xC4"     }, /* Ệ Capital Letter E With Circumflex And Dot Below */
    { 0x1EC7, "\xD6", 1, "\x65\xE4"     }, /* ệ Small Letter E With Circumflex And Dot Below */
    { 0x1EC8, "\xD8", 0, "\xC6"         }, /* Ỉ Capital Letter I With Hook Above */
    { 0x1EC9, "\xD8", 1, "\xE6"         }, /* ỉ Small Letter I With Hook Above */
    { 0x1ECA, "\xDE", 0, "\xD2"         }, /* Ị Capital Letter I With Dot Below */
    { 0x1ECB, "\xDE", 1, "\xF2"         }, /* ị Small Letter I With Dot Below */
    { 0x1ECC, "\xE4", 0, "\x4F\xCF"     }, /* Ọ Capital Letter O With Dot Below */
    { 0x1ECD, "\xE4", 1, "\x6F\xEF"     }, /* ọ Small Letter O With Dot Below */
    { 0x1ECE, "\xE1", 0, "\x4F\xDB"     }, /* Ỏ Capital Letter O With Hook Above */
    { 0x1ECF, "\xE1", 1, "\x6F\xFB"     }, /* ỏ Small Letter O With Hook Above */
    { 0x1ED0, "\xE8", 0, "\x4F\xC1"     }, /* Ố Capital Letter O With Circumflex And Acute */
    { 0x1ED1, "\xE8", 1, "\x6F\xE1"     }, /* ố Small Letter O With Circumflex And Acute */
    { 0x1ED2, "\xE5", 0, "\x4F\xC0"     }, /* Ồ Capital Letter O With Circumflex And Grave */
    { 0x1ED3, "\xE5", 1, "\x6F\xE0"     }, /* ồ Small Letter O With Circumflex And Grave */
    { 0x1ED4, "\xE6", 0, "\x4F\xC5"     }, /* Ổ Capital Letter O With Circumflex And Hook Above */
    { 0x1ED5, "\xE6", 1, "\x6F\xE5"     }, /* ổ Small Letter O With Circumflex And Hook Above */
    { 0x1ED6, "\xE7", 0, "\x4F\xC3"     }, /* Ỗ Capital Letter O With Circumflex And Tilde */
    { 0x1ED7, "\xE7", 1, "\x6F\xE3"     }, /* ỗ Small Letter O With Circumflex And Tilde */
    { 0x1ED8, "\xE9", 0, "\x4F\xC4"     }, /* Ộ Capital Letter O With Circumflex And Dot Below */
    { 0x1ED9, "\xE9", 1, "\x6F\xE4"     }, /* ộ Small Letter O With Circumflex And Dot Below */
    { 0x1EDA, "\xED", 0, "\xD4\xD9"     }, /* Ớ Capital Letter O With Horn And Acute */
    { 0x1EDB, "\xED", 1, "\xF4\xF9"     }, /* ớ Small Letter O With Horn And Acute */
    { 0x1EDC, "\xEA", 0, "\xD4\xD8"     }, /* Ờ Capital Letter O With Horn And Grave */
    { 0x1EDD, "\xEA", 1, "\xF4\xF8"     }, /* ờ Small Letter O With Horn And Grave */
    { 0x1EDE, "\xEB", 0, "\xD4\xDB"     }, /* Ở Capital Letter O With Horn And Hook Above */
    { 0x1EDF, "\xEB", 1, "\xF4\xFB"     }, /* ở Small Letter O With Horn And Hook Above */
    { 0x1EE0, "\xEC", 0, "\xD4\xD5"     }, /* Ỡ Capital Letter O With Horn And Tilde */
    { 0x1EE1, "\xEC", 1, "\xF4\xF5"     }, /* ỡ Small Letter O With Horn And Tilde */
    { 0x1EE2, "\xEE", 0, "\xD4\xCF"     }, /* Ợ Capital Letter O With Horn And Dot Below */
    { 0x1EE3, "\xEE", 1, "\xF4\xEF"     }, /* ợ Small Letter O With Horn And Dot Below */
    { 0x1EE4, "\xF4", 0, "\x55\xCF"     }, /* Ụ Capital Letter U With Dot Below */
    { 0x1EE5, "\xF4", 1, "\x75\xEF"     }, /* ụ Small Letter U With Dot Below */
    { 0x1EE6, "\xF1", 0, "\x55\xDB"     }, /* Ủ Capital Letter U With Hook Above */
    { 0x1EE7, "\xF1", 1, "\x75\xFB"     }, /* ủ Small Letter U With Hook Above */
    { 0x1EE8, "\xF8", 0, "\xD6\xD9"     }, /* Ứ Capital Letter U With Horn And Acute */
    { 0x1EE9, "\xF8", 1, "\xF6\xF9"     }, /* ứ Small Letter U With Horn And Acute */
    { 0x1EEA, "\xF5", 0, "\xD6\xD8"     }, /* Ừ Capital Letter U With Horn And Grave */
    { 0x1EEB, "\xF5", 1, "\xF6\xF8"     }, /* ừ Small Letter U With Horn And Grave */
    { 0x1EEC, "\xF6", 0, "\xD6\xDB"     }, /* Ử Capital Letter U With Horn And Hook Above */
    { 0x1EED, "\xF6", 1, "\xF6\xFB"     }, /* ử Small Letter U With Horn And Hook Above */
    { 0x1EEE, "\xF7", 0, "\xD6\xD5"     }, /* Ữ Capital Letter U With Horn And Tilde */
    { 0x1EEF, "\xF7", 1, "\xF6\xF5"     }, /* ữ Small Letter U With Horn And Tilde */
    { 0x1EF0, "\xF9", 0, "\xD6\xCF"     }, /* Ự Capital Letter U With Horn And Dot Below */
    { 0x1EF1, "\xF9", 1, "\xF6\xEF"     }, /* ự Small Letter U With Horn And Dot Below */
    { 0x1EF2, "\xFA", 0, "\x59\xD8"     }, /* Ỳ Capital Letter Y With Grave */
    { 0x1EF3, "\xFA", 1, "\x79\xF8"     }, /* ỳ Small Letter Y With Grave */
    { 0x1EF4, "\xFE", 0, "\xCE"         }, /* Ỵ Capital Letter Y With Dot Below */
    { 0x1EF5, "\xFE", 1, "\xEE"         }, /* ỵ Small Letter Y With Dot Below */
    { 0x1EF6, "\xFB", 0, "\x59\xDB"     }, /* Ỷ Capital Letter Y With Hook Above */
    { 0x1EF7, "\xFB", 1, "\x79\xFB"     }, /* ỷ Small Letter Y With Hook Above */
    { 0x1EF8, "\xFC", 0, "\x59\xD5"     }, /* Ỹ Capital Letter Y With Tilde */
    { 0x1EF9, "\xFC", 1, "\x79\xF5"     }, /* ỹ Small Letter Y With Tilde */
};
const size_t vn_table_len = sizeof vn_table / sizeof vn_table[0];

#define CP_MAX 0x1F00
static int16_t s_by_cp[CP_MAX];          /* cp -> row + 1 */
static int16_t s_tcvn_dec[256];          /* byte -> row + 1 (exact rows only) */
static int16_t s_vni1[256];              /* single VNI byte -> row + 1 */
static int16_t s_vni2[256][256 - 0xC0];  /* (first, second >= 0xC0) -> row + 1 */
static bool    s_ready;

static void s_init(void)
{
    if (s_ready)
        return;
    for (size_t i = 0; i < vn_table_len; i++) {
        const vn_row_t *r = &vn_table[i];
        s_by_cp[r->cp] = (int16_t)(i + 1);
        if (r->tcvn3_exact)
            s_tcvn_dec[(unsigned char)r->tcvn3[0]] = (int16_t)(i + 1);
        const unsigned char *v = (const unsigned char *)r->vni;
        if (v[1])
            s_vni2[v[0]][v[1] - 0xC0] = (int16_t)(i + 1);
        else
            s_vni1[v[0]] = (int16_t)(i + 1);
    }
    s_ready = true;
}

static void s_put_cp(sbuf_t *out, uint32_t cp)
{
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, tmp);
    sbuf_put(out, (const char *)tmp, (size_t)n);
}

static size_t s_iconv(const char *to, const char *from, const char *in, size_t n, sbuf_t *out)
{
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1)
        die("iconv_open %s -> %s: %s", from, to, strerror(errno));
    size_t bad = 0;
    char *ip = (char *)in;
    size_t il = n;
    while (il > 0) {
        sbuf_reserve(out, il * 4 + 16);
        char *op = out->p + out->len;
        size_t ol = out->cap - out->len - 1;
        size_t rc = iconv(cd, &ip, &il, &op, &ol);
        out->len = (size_t)(op - out->p);
        if (rc == (size_t)-1) {
            if (errno == E2BIG)
                continue;
            /* unconvertible: skip one byte, write '?' */
            bad++;
            ip++;
            il--;
            sbuf_putc(out, '?');
        }
    }
    /* flush: CP1258 holds a base letter back, waiting for a tone mark */
    for (;;) {
        sbuf_reserve(out, 64);
        char *op = out->p + out->len;
        size_t ol = out->cap - out->len - 1;
        size_t rc = iconv(cd, NULL, NULL, &op, &ol);
        out->len = (size_t)(op - out->p);
        if (rc != (size_t)-1 || errno != E2BIG)
            break;
    }
    out->p[out->len] = 0;
    iconv_close(cd);
    return bad;
}

size_t vn_encode(vn_charset_t cs, const char *utf8, sbuf_t *out)
{
    s_init();
    if (cs == VN_UTF8) {
        sbuf_puts(out, utf8);
        return 0;
    }
    if (cs == VN_CP1258)
        return s_iconv("CP1258", "UTF-8", utf8, strlen(utf8), out);
    size_t bad = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)utf8;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        if (n <= 0) {
            bad++;
            sbuf_putc(out, '?');
            p++;
            continue;
        }
        p += n;
        if (cp < 0x80) {
            sbuf_putc(out, (char)cp);
            continue;
        }
        int row = cp < CP_MAX ? s_by_cp[cp] : 0;
        if (!row) {
            bad++;
            sbuf_putc(out, '?');
            continue;
        }
        const vn_row_t *r = &vn_table[row - 1];
        if (cs == VN_TCVN3) {
            sbuf_puts(out, r->tcvn3);
            bad += !r->tcvn3_exact;
        } else {
            sbuf_puts(out, r->vni);
        }
    }
    return bad;
}

size_t vn_decode(vn_charset_t cs, const char *bytes, size_t n, sbuf_t *out)
{
    s_init();
    if (cs == VN_UTF8) {
        sbuf_put(out, bytes, n);
        return 0;
    }
    if (cs == VN_CP1258)
        return s_iconv("UTF-8", "CP1258", bytes, n, out);
    size_t bad = 0;
    const unsigned char *b = (const unsigned char *)bytes;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        int row = 0;
        if (cs == VN_TCVN3) {
            if (c < 0x80) {
                sbuf_putc(out, (char)c);
                continue;
            }
            row = s_tcvn_dec[c];
        } else {
            /* VNI: greedy, a base letter (ASCII or ơ/ư) + mark byte first.
             * Mark bytes are never single-letter bytes, so this is
             * unambiguous (test-vnlegacy checks it). */
            if (i + 1 < n && b[i + 1] >= 0xC0)
                row = s_vni2[c][b[i + 1] - 0xC0];
            if (row)
                i++;
            else if (c < 0x80) {
                sbuf_putc(out, (char)c);
                continue;
            } else
                row = s_vni1[c];
        }
        if (!row) {
            bad++;
            sbuf_putc(out, '?');
            continue;
        }
        s_put_cp(out, vn_table[row - 1].cp);
    }
    return bad;
}

bool vn_roundtrip(vn_charset_t cs, const char *utf8, sbuf_t *out)
{
    sbuf_t enc;
    sbuf_init(&enc);
    vn_encode(cs, utf8, &enc);
    size_t start = out->len;
    vn_decode(cs, enc.p ? enc.p : "", enc.len, out);
    sbuf_free(&enc);
    return strcmp(out->p ? out->p + start : "", utf8) != 0;
}

bool vn_is_name(const char *utf8)
{
    s_init();
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)utf8;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
        if (n <= 0)
            return false;
        p += n;
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == ' ')
            continue;
        if (cp >= CP_MAX || !s_by_cp[cp])
            return false;
    }
    return true;
}
