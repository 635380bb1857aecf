/* test-vnlegacy.c — the TCVN3 / VNI-Windows tables of lgsp-gen:
 *  1. every row round-trips (encode -> decode gives the letter back, except
 *     the TCVN3 capitals VN3 lacks, which come back lowercase);
 *  2. every exact TCVN3 row agrees with glibc's TCVN5712-1 (VN1, of which
 *     VN3 is the subset) — an independent transcription of the standard;
 *  3. every byte value TCVN3 decodes is in the table, no two rows share bytes;
 *  4. VNI decoding is unambiguous: every pair of letters (table rows and
 *     ASCII letters) round-trips when written next to each other;
 *  5. CP1258 (glibc) round-trips every row, recomposed to NFC.
 * Prints "N passed, M failed". */
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "vnlegacy.h"

static int passed, failed;

#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
    fputc('\n', stderr); } } while (0)

static void s_utf8(uint32_t cp, char out[8])
{
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out);
    out[n] = 0;
}

static uint32_t s_lower(uint32_t cp) { return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp); }

int main(void)
{
    CHECK(vn_table_len == 134, "table has %zu rows, expected 134 (67 letters x 2 cases)", vn_table_len);
    iconv_t cd = iconv_open("UTF-8", "TCVN5712-1");
    CHECK(cd != (iconv_t)-1, "glibc has no TCVN5712-1");
    for (size_t i = 0; i < vn_table_len; i++) {
        const vn_row_t *r = &vn_table[i];
        char u[8];
        s_utf8(r->cp, u);
        for (int cs = VN_TCVN3; cs <= VN_CP1258; cs++) {
            sbuf_t enc, dec;
            sbuf_init(&enc);
            sbuf_init(&dec);
            size_t bad = vn_encode((vn_charset_t)cs, u, &enc);
            vn_decode((vn_charset_t)cs, enc.p, enc.len, &dec);
            if (cs == VN_TCVN3 && !r->tcvn3_exact) {
                char lo[8];
                s_utf8(s_lower(r->cp), lo);
                CHECK(bad == 1 && strcmp(dec.p, lo) == 0, "TCVN3 U+%04X should fold to lowercase", r->cp);
            } else {
                CHECK(bad == 0 && dec.p && strcmp(dec.p, u) == 0, "%s U+%04X does not round-trip (got '%s')",
                      vn_charset_name[cs], r->cp, dec.p ? dec.p : "");
            }
            sbuf_free(&enc);
            sbuf_free(&dec);
        }
        if (r->tcvn3_exact && cd != (iconv_t)-1) {
            char in[2] = { r->tcvn3[0], 0 }, out[16] = { 0 };
            char *ip = in, *op = out;
            size_t il = 1, ol = sizeof out - 1;
            size_t rc = iconv(cd, &ip, &il, &op, &ol);
            if (rc != (size_t)-1)
                rc = iconv(cd, NULL, NULL, &op, &ol);  /* VN1 holds a letter back for a mark */
            CHECK(rc != (size_t)-1 && strcmp(out, u) == 0,
                  "TCVN3 byte 0x%02X: table U+%04X, glibc VN1 '%s'", (unsigned char)r->tcvn3[0], r->cp, out);
        }
        for (size_t j = i + 1; j < vn_table_len; j++) {
            CHECK(strcmp(vn_table[j].vni, r->vni) != 0, "VNI bytes shared by U+%04X and U+%04X", r->cp, vn_table[j].cp);
            if (r->tcvn3_exact && vn_table[j].tcvn3_exact)
                CHECK(strcmp(vn_table[j].tcvn3, r->tcvn3) != 0, "TCVN3 byte shared by U+%04X and U+%04X",
                      r->cp, vn_table[j].cp);
        }
    }
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    /* VNI: every pair */
    uint32_t letters[134 + 52];
    size_t nl = 0;
    for (size_t i = 0; i < vn_table_len; i++)
        letters[nl++] = vn_table[i].cp;
    for (int c = 'a'; c <= 'z'; c++) {
        letters[nl++] = (uint32_t)c;
        letters[nl++] = (uint32_t)(c - 32);
    }
    size_t pair_fail = 0;
    for (size_t a = 0; a < nl; a++)
        for (size_t b = 0; b < nl; b++) {
            char s[20], ub[8];
            s_utf8(letters[a], s);
            s_utf8(letters[b], ub);
            strcat(s, ub);
            sbuf_t enc, dec;
            sbuf_init(&enc);
            sbuf_init(&dec);
            vn_encode(VN_VNI, s, &enc);
            vn_decode(VN_VNI, enc.p, enc.len, &dec);
            if (strcmp(dec.p, s) != 0) {
                if (pair_fail++ < 5)
                    fprintf(stderr, "VNI pair '%s' decodes as '%s'\n", s, dec.p);
            }
            sbuf_free(&enc);
            sbuf_free(&dec);
        }
    CHECK(pair_fail == 0, "%zu VNI letter pairs do not round-trip", pair_fail);
    /* a real-looking line in each encoding */
    const char *line = "Nguyễn Thị Ánh Tuyết, Trương Văn Ước, Xã Ái Nghĩa, Huyện Đại Lộc, Tỉnh Quảng Nam";
    for (int cs = VN_UTF8; cs < VN__COUNT; cs++) {
        sbuf_t rt;
        sbuf_init(&rt);
        bool diff = vn_roundtrip((vn_charset_t)cs, line, &rt);
        if (cs == VN_TCVN3)
            CHECK(diff && strstr(rt.p, "ánh Tuyết") && strstr(rt.p, "Văn Ước") && strstr(rt.p, "Xã ái Nghĩa"),
                  "TCVN3 line: '%s'", rt.p);
        else
            CHECK(!diff, "%s line: '%s'", vn_charset_name[cs], rt.p);
        sbuf_free(&rt);
    }
    /* known byte sequences from the code charts */
    struct { int cs; const char *u; const char *bytes; } known[] = {
        { VN_TCVN3, "Việt Nam", "Vi\xD6t Nam" },
        { VN_TCVN3, "Hà Nội", "H\xB5 N\xE9i" },
        { VN_TCVN3, "Trường", "Tr\xAD\xEAng" },
        { VN_VNI, "Việt Nam", "Vie\xE4t Nam" },
        { VN_VNI, "Đà Nẵng", "\xD1" "a\xF8 Na\xFCng" },
        { VN_VNI, "Trường", "Tr\xF6\xF4\xF8ng" },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        sbuf_t enc;
        sbuf_init(&enc);
        vn_encode((vn_charset_t)known[i].cs, known[i].u, &enc);
        CHECK(strcmp(enc.p, known[i].bytes) == 0, "%s of '%s'", vn_charset_name[known[i].cs], known[i].u);
        sbuf_free(&enc);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
