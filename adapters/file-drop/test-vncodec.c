/* test-vncodec.c — the legacy Vietnamese decoders (vncodec.c):
 *   - every letter of the Vietnamese alphabet with every tone, lower and
 *     upper case, built here from base letter + combining marks (utf8proc),
 *     encoded by the generator's lgsp-vnconv and decoded by us, in TCVN3
 *     (which folds the toned capitals it lacks), VNI-Windows and CP1258;
 *   - lgsp-vnconv's own decoding of the same bytes agrees with ours;
 *   - every defined TCVN3 byte agrees with glibc's TCVN5712-1 (VN1);
 *   - byte strings from the code charts;
 *   - invalid input: the position of the first bad byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <iconv.h>
#include <utf8proc.h>

#include "vncodec.h"

/* ---- the alphabet, built from combining marks ----------------------- */

static const utf8proc_int32_t s_tones[6] = { 0, 0x0300, 0x0309, 0x0303, 0x0301, 0x0323 };

typedef struct {
    char     text[16];    /* NFC UTF-8 */
    unsigned tone;        /* 0 none */
    bool     upper;
} letter_t;

static letter_t s_letters[200];
static size_t s_nletters;

static void s_add_letter(utf8proc_int32_t base, utf8proc_int32_t shape, int tone, bool upper)
{
    utf8proc_int32_t cps[3];
    size_t n = 0;
    cps[n++] = upper ? utf8proc_toupper(base) : base;
    if (shape)
        cps[n++] = shape;
    if (tone)
        cps[n++] = s_tones[tone];
    utf8proc_uint8_t nfd[16];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)utf8proc_encode_char(cps[i], nfd + len);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t r = utf8proc_map(nfd, (utf8proc_ssize_t)len, &nfc, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    assert_true(r > 0);
    /* composed into one code point, or it is not a letter of the alphabet */
    utf8proc_int32_t cp;
    assert_int_equal(utf8proc_iterate(nfc, r, &cp), r);
    letter_t *l = &s_letters[s_nletters++];
    memcpy(l->text, nfc, (size_t)r);
    l->text[r] = '\0';
    l->tone = (unsigned)tone;
    l->upper = upper;
    free(nfc);
}

/* a ă â e ê i o ô ơ u ư y with the 6 tones, and đ: 2 × 73 = 146 letters,
 * 134 of them outside ASCII. */
static void s_build_alphabet(void)
{
    if (s_nletters)
        return;
    static const struct { utf8proc_int32_t base, shape; } vowels[12] = {
        { 'a', 0 }, { 'a', 0x0306 }, { 'a', 0x0302 }, { 'e', 0 }, { 'e', 0x0302 }, { 'i', 0 },
        { 'o', 0 }, { 'o', 0x0302 }, { 'o', 0x031B }, { 'u', 0 }, { 'u', 0x031B }, { 'y', 0 },
    };
    for (int up = 0; up < 2; up++) {
        for (int v = 0; v < 12; v++)
            for (int t = 0; t < 6; t++)
                s_add_letter(vowels[v].base, vowels[v].shape, t, up);
        s_add_letter(0x0111, 0, 0, up);    /* đ / Đ */
    }
}

/* ---- helpers ---------------------------------------------------------- */

static char *s_decode(vncodec_enc_t enc, const void *in, size_t len, int *rc, vncodec_error_t *err)
{
    vncodec_t *c = vncodec_new(enc);
    assert_non_null(c);
    vncodec_buf_t out = { 0 };
    *rc = vncodec_decode(c, in, len, &out, err);
    vncodec_destroy(&c);
    assert_null(c);
    return out.data;
}

static void s_expect(vncodec_enc_t enc, const char *in, size_t len, const char *want)
{
    int rc;
    vncodec_error_t err;
    char *got = s_decode(enc, in, len, &rc, &err);
    if (rc != 0)
        fail_msg("%s: error at %zu: %s", vncodec_enc_name(enc), err.pos, err.msg);
    assert_string_equal(got, want);
    free(got);
}

static void s_expect_error(vncodec_enc_t enc, const char *in, size_t len, size_t pos)
{
    int rc;
    vncodec_error_t err = { 0 };
    char *got = s_decode(enc, in, len, &rc, &err);
    assert_int_equal(rc, -1);
    if (err.pos != pos)
        fail_msg("%s: error at %zu, expected %zu (%s)", vncodec_enc_name(enc), err.pos, pos, err.msg);
    assert_true(strlen(err.msg) > 0);
    free(got);
}

/* lgsp-vnconv, or NULL when the test runs outside meson (then the cross-
 * check is skipped); named but missing is a failure. */
static const char *s_vnconv(void)
{
    const char *p = getenv("LGSP_VNCONV");
    if (p && access(p, X_OK) != 0)
        fail_msg("LGSP_VNCONV=%s is not an executable: build sim/gen/lgsp-vnconv", p);
    return p;
}

/* Runs lgsp-vnconv -e|-d ENC on data; returns its output (caller frees). */
static char *s_run_vnconv(const char *mode, const char *enc, const void *data, size_t len, size_t *out_len)
{
    char in[] = "/tmp/lgsp-vncodec-in-XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' %s %s '%s'", s_vnconv(), mode, enc, in);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    int st = pclose(p);
    unlink(in);
    buf[n] = '\0';
    *out_len = n;
    /* exit 1 = "not converted exactly": TCVN3's missing capitals */
    assert_true(st == 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 1));
    return buf;
}

/* ---- tests ------------------------------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    vncodec_enc_t e;
    assert_int_equal(vncodec_enc_parse("TCVN3", &e), 0);
    assert_int_equal(e, VNCODEC_TCVN3);
    assert_int_equal(vncodec_enc_parse("VNI-Windows", &e), 0);
    assert_int_equal(e, VNCODEC_VNI);
    assert_int_equal(vncodec_enc_parse("CP1258", &e), 0);
    assert_int_equal(e, VNCODEC_CP1258);
    assert_int_equal(vncodec_enc_parse("windows-1258", &e), 0);
    assert_int_equal(e, VNCODEC_CP1258);
    assert_int_equal(vncodec_enc_parse("UTF-8", &e), 0);
    assert_int_equal(e, VNCODEC_UTF8);
    assert_int_equal(vncodec_enc_parse("abc", &e), 0);
    assert_int_equal(e, VNCODEC_TCVN3);
    assert_int_equal(vncodec_enc_parse("latin1", &e), -1);
    assert_int_equal(vncodec_enc_parse(NULL, &e), -1);
    assert_string_equal(vncodec_enc_name(VNCODEC_VNI), "vni");
    assert_null(vncodec_new((vncodec_enc_t)99));
}

static void test_alphabet_built(void **state)
{
    (void)state;
    s_build_alphabet();
    assert_int_equal(s_nletters, 146);
    size_t non_ascii = 0;
    for (size_t i = 0; i < s_nletters; i++)
        non_ascii += (unsigned char)s_letters[i].text[0] >= 0x80;
    assert_int_equal(non_ascii, 134);
}

/* Every TCVN3 byte we define is the same letter in glibc's TCVN5712-1 (a
 * superset of VN3 for these bytes); every byte we leave undefined is an
 * error. */
static void test_tcvn3_vs_glibc(void **state)
{
    (void)state;
    iconv_t cd = iconv_open("UTF-8", "TCVN5712-1");
    if (cd == (iconv_t)-1)
        skip();
    size_t defined = 0;
    for (int b = 0x80; b < 0x100; b++) {
        char in[1] = { (char)b };
        int rc;
        vncodec_error_t err;
        char *ours = s_decode(VNCODEC_TCVN3, in, 1, &rc, &err);
        if (rc == 0) {
            char out[16] = { 0 };
            char *ip = in, *op = out;
            size_t il = 1, ol = sizeof out - 1;
            iconv(cd, NULL, NULL, NULL, NULL);
            assert_int_not_equal(iconv(cd, &ip, &il, &op, &ol), (size_t)-1);
            iconv(cd, NULL, NULL, &op, &ol);
            if (strcmp(ours, out) != 0)
                fail_msg("TCVN3 byte 0x%02x: ours %s, glibc %s", b, ours, out);
            defined++;
        } else {
            assert_int_equal(err.pos, 0);
        }
        free(ours);
    }
    iconv_close(cd);
    /* 14 letters + 60 toned lowercase vowels */
    assert_int_equal(defined, 74);
}

/* The alphabet through lgsp-vnconv -e ENC, then decoded by us: every letter
 * comes back (TCVN3: toned capitals as lowercase, as the generator documents),
 * and lgsp-vnconv -d agrees with us byte for byte. */
static void s_roundtrip(vncodec_enc_t enc, const char *gen_name)
{
    s_build_alphabet();
    if (!s_vnconv())
        skip();
    /* the letters separated by spaces, and once more inside words */
    char text[8192] = "";
    for (size_t i = 0; i < s_nletters; i++) {
        strcat(text, s_letters[i].text);
        strcat(text, " ");
    }
    for (size_t i = 0; i < s_nletters; i++) {
        strcat(text, "Ng");
        strcat(text, s_letters[i].text);
        strcat(text, "n,");
    }
    size_t elen;
    char *encoded = s_run_vnconv("-e", gen_name, text, strlen(text), &elen);
    size_t glen;
    char *gen_decoded = s_run_vnconv("-d", gen_name, encoded, elen, &glen);
    int rc;
    vncodec_error_t err;
    char *ours = s_decode(enc, encoded, elen, &rc, &err);
    if (rc != 0)
        fail_msg("%s: error at byte %zu: %s", gen_name, err.pos, err.msg);
    assert_string_equal(ours, gen_decoded);
    /* letter by letter against what we built */
    char *p = ours;
    for (size_t i = 0; i < s_nletters; i++) {
        const letter_t *l = &s_letters[i];
        char want[16];
        memcpy(want, l->text, sizeof want);
        if (enc == VNCODEC_TCVN3 && l->upper && l->tone) {
            /* VN3 has no toned capitals: the lowercase byte was written */
            utf8proc_int32_t cp;
            utf8proc_iterate((const utf8proc_uint8_t *)l->text, -1, &cp);
            utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)want);
            want[n] = '\0';
        }
        size_t wl = strlen(want);
        if (strncmp(p, want, wl) != 0 || p[wl] != ' ')
            fail_msg("%s: letter %zu (%s) decodes as '%.*s'", gen_name, i, l->text, (int)wl, p);
        p += wl + 1;
    }
    free(encoded);
    free(gen_decoded);
    free(ours);
}

static void test_roundtrip_tcvn3(void **state)
{
    (void)state;
    s_roundtrip(VNCODEC_TCVN3, "TCVN3");
}

static void test_roundtrip_vni(void **state)
{
    (void)state;
    s_roundtrip(VNCODEC_VNI, "VNI-Windows");
}

static void test_roundtrip_cp1258(void **state)
{
    (void)state;
    s_roundtrip(VNCODEC_CP1258, "CP1258");
}

/* TCVN3 capitals: only Ă Â Ê Ô Ơ Ư Đ exist. */
static void test_tcvn3_capitals(void **state)
{
    (void)state;
    s_expect(VNCODEC_TCVN3, "\xA1\xA2\xA3\xA4\xA5\xA6\xA7", 7, "ĂÂÊÔƠƯĐ");
    s_expect(VNCODEC_TCVN3, "\xA8\xA9\xAA\xAB\xAC\xAD\xAE", 7, "ăâêôơưđ");
}

/* Byte strings read off the charts. */
static void test_chart_strings(void **state)
{
    (void)state;
    /* TCVN3: "Nguyễn Thị Hương" — ễ 0xD4, ị 0xDE, ư 0xAD, ơ 0xAC */
    s_expect(VNCODEC_TCVN3, "Nguy\xD4n Th\xDE H\xAD\xACng", 16, "Nguyễn Thị Hương");
    /* TCVN3: "Đà Nẵng" — Đ 0xA7, à 0xB5, ẵ 0xBD */
    s_expect(VNCODEC_TCVN3, "\xA7\xB5 N\xBDng", 7, "Đà Nẵng");
    /* VNI: "Nguyễn" = Nguye + 0xE3 (circumflex + tilde) + n */
    s_expect(VNCODEC_VNI, "Nguye\xE3n", 7, "Nguyễn");
    /* VNI: "Đà Nẵng" = 0xD1 'a' 0xF8 ' ' 'N' 'a' 0xFC 'n' 'g' */
    s_expect(VNCODEC_VNI, "\xD1\x61\xF8 Na\xFCng", 9, "Đà Nẵng");
    /* VNI: "TRƯỜNG" = T R 0xD6 0xD4 0xD8 N G (Ư, Ơ + grave) */
    s_expect(VNCODEC_VNI, "TR\xD6\xD4\xD8NG", 7, "TRƯỜNG");
    /* VNI: ơ ư đ, ì í ỉ ĩ ị ỵ have bytes of their own */
    s_expect(VNCODEC_VNI, "\xF4\xF6\xF1\xEC\xED\xE6\xF3\xF2\xEE", 9, "ơưđìíỉĩịỵ");
    s_expect(VNCODEC_VNI, "\xD4\xD6\xD1\xCC\xCD\xC6\xD3\xD2\xCE", 9, "ƠƯĐÌÍỈĨỊỴ");
    /* VNI: a mark of the other case still combines (typists mix them) */
    s_expect(VNCODEC_VNI, "A\xF9 a\xD9", 5, "Á á");
    /* CP1258: "Nguyễn" = Nguy + ê (0xEA) + combining tilde (0xDE) + n */
    s_expect(VNCODEC_CP1258, "Nguy\xEA\xDEn", 7, "Nguyễn");
    /* CP1258: precomposed letters of its own: Ă 0xC3, Đ 0xD0, ơ 0xF5, ư 0xFD */
    s_expect(VNCODEC_CP1258, "\xC3\xD0\xF5\xFD", 4, "ĂĐơư");
    /* CP1258: a tone mark glibc cannot compose stays combining, NFC */
    s_expect(VNCODEC_CP1258, "b\xEC", 2, "b\xCC\x81");
    /* ASCII is ASCII everywhere */
    for (int e = 0; e < VNCODEC__COUNT; e++)
        s_expect((vncodec_enc_t)e, "So 12, To 3; \"x\"\r\n", 18, "So 12, To 3; \"x\"\r\n");
    /* empty input */
    for (int e = 0; e < VNCODEC__COUNT; e++)
        s_expect((vncodec_enc_t)e, "", 0, "");
}

static void test_utf8_nfc(void **state)
{
    (void)state;
    /* NFD → NFC */
    s_expect(VNCODEC_UTF8, "Nguye\xCC\x82\xCC\x83n", 10, "Nguyễn");
    /* already NFC */
    s_expect(VNCODEC_UTF8, "Hương", strlen("Hương"), "Hương");
    /* the quick path (Latin, Latin Extended Additional) leaves NFC text as
     * it is; anything else goes through utf8proc: the Angstrom sign is
     * not NFC (→ Å), a Hangul syllable is */
    s_expect(VNCODEC_UTF8, "Ặ ỹ Đ \xE2\x84\xAB", strlen("Ặ ỹ Đ \xE2\x84\xAB"), "Ặ ỹ Đ \xC3\x85");
    s_expect(VNCODEC_UTF8, "\xEA\xB0\x80", 3, "\xEA\xB0\x80");
    s_expect(VNCODEC_UTF8, "\xE1\x84\x80\xE1\x85\xA1", 6, "\xEA\xB0\x80");   /* jamo → syllable */
    /* 4-byte characters pass */
    s_expect(VNCODEC_UTF8, "\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80");
    assert_int_equal(vncodec_bom_len("\xEF\xBB\xBFx", 4), 3);
    assert_int_equal(vncodec_bom_len("\xEF\xBB", 2), 0);
    assert_int_equal(vncodec_bom_len("abc", 3), 0);
}

static void test_invalid(void **state)
{
    (void)state;
    /* UTF-8 */
    s_expect_error(VNCODEC_UTF8, "ab\xC0\x80", 4, 2);              /* overlong */
    s_expect_error(VNCODEC_UTF8, "abc\xED\xA0\x80", 6, 3);         /* surrogate */
    s_expect_error(VNCODEC_UTF8, "x\xE1\xBB", 3, 1);               /* truncated */
    s_expect_error(VNCODEC_UTF8, "\x80", 1, 0);                    /* lone continuation */
    s_expect_error(VNCODEC_UTF8, "Hương\xF5\x80\x80\x80", 11, 7);  /* beyond U+10FFFF */
    s_expect_error(VNCODEC_UTF8, "Hương\xFF", 8, 7);
    s_expect_error(VNCODEC_UTF8, "ab\0c", 4, 2);                   /* NUL */
    /* CP1258: undefined bytes */
    s_expect_error(VNCODEC_CP1258, "Nguy\xEA\xDEn \x81", 9, 8);
    s_expect_error(VNCODEC_CP1258, "\x8A", 1, 0);
    s_expect_error(VNCODEC_CP1258, "ab\0", 3, 2);
    /* TCVN3: VN1's capitals and combining marks are not VN3 */
    s_expect_error(VNCODEC_TCVN3, "abc\x80", 4, 3);
    s_expect_error(VNCODEC_TCVN3, "Nguy\xD4n \xB0", 8, 7);
    s_expect_error(VNCODEC_TCVN3, "\xFF", 1, 0);
    s_expect_error(VNCODEC_TCVN3, "\xA0", 1, 0);
    s_expect_error(VNCODEC_TCVN3, "x\0", 2, 1);
    /* VNI: a mark byte with no vowel before it; a mark the vowel cannot take */
    s_expect_error(VNCODEC_VNI, "\xF9", 1, 0);
    s_expect_error(VNCODEC_VNI, "b\xF9", 2, 1);
    s_expect_error(VNCODEC_VNI, "Nguyi\xE2", 6, 5);                 /* i + circumflex */
    s_expect_error(VNCODEC_VNI, "u\xEA", 2, 1);                     /* u + breve */
    s_expect_error(VNCODEC_VNI, "\xF4\xE2", 2, 1);                  /* ơ + circumflex */
    s_expect_error(VNCODEC_VNI, "abc\x80", 4, 3);
    s_expect_error(VNCODEC_VNI, "abc\xA9", 4, 3);
    s_expect_error(VNCODEC_VNI, "a\0", 2, 1);
}

/* Every byte value in every encoding either decodes or fails at itself,
 * and every pair of bytes too (no crash, error inside the input). */
static void test_all_pairs(void **state)
{
    (void)state;
    for (int e = 0; e < VNCODEC__COUNT; e++) {
        vncodec_t *c = vncodec_new((vncodec_enc_t)e);
        vncodec_buf_t out = { 0 };
        for (int a = 0; a < 256; a++)
            for (int b = 0; b < 256; b++) {
                unsigned char in[2] = { (unsigned char)a, (unsigned char)b };
                vncodec_error_t err;
                out.len = 0;
                if (vncodec_decode(c, in, 2, &out, &err) != 0) {
                    assert_true(err.pos < 2);
                } else {
                    /* decoded text is valid UTF-8 */
                    utf8proc_uint8_t *tmp = NULL;
                    assert_true(utf8proc_map((const utf8proc_uint8_t *)out.data, (utf8proc_ssize_t)out.len, &tmp,
                                             UTF8PROC_STABLE) >= 0);
                    free(tmp);
                }
            }
        vncodec_buf_free(&out);
        vncodec_destroy(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_alphabet_built),
        cmocka_unit_test(test_tcvn3_vs_glibc),
        cmocka_unit_test(test_roundtrip_tcvn3),
        cmocka_unit_test(test_roundtrip_vni),
        cmocka_unit_test(test_roundtrip_cp1258),
        cmocka_unit_test(test_tcvn3_capitals),
        cmocka_unit_test(test_chart_strings),
        cmocka_unit_test(test_utf8_nfc),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_all_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
