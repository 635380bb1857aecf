/* test-vntext.c — Vietnamese text: UTF-8 validation with the offset of the
 * first invalid byte, NFC normalisation, and matching keys (case folding,
 * diacritics removed, đ -> d, white space collapsed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "vntext.h"

/* Expects s (len bytes) to be rejected at offset want by all three calls. */
static void s_expect_invalid(const char *s, size_t len, size_t want)
{
    size_t off = 9999;
    assert_int_equal(vntext_validate(s, len, &off), -1);
    assert_int_equal(off, want);
    char *out = (char *) 1;
    off = 9999;
    assert_int_equal(vntext_nfc(s, len, &out, &off), -1);
    assert_null(out);
    assert_int_equal(off, want);
    out = (char *) 1;
    off = 9999;
    assert_int_equal(vntext_key(s, len, &out, &off), -1);
    assert_null(out);
    assert_int_equal(off, want);
}

static void s_expect_key(const char *s, const char *want)
{
    char *out = NULL;
    size_t off;
    assert_int_equal(vntext_key(s, strlen(s), &out, &off), 0);
    assert_string_equal(out, want);
    free(out);
}

static void s_expect_nfc(const char *s, const char *want)
{
    char *out = NULL;
    size_t off;
    assert_int_equal(vntext_nfc(s, strlen(s), &out, &off), 0);
    assert_string_equal(out, want);
    free(out);
}

static void test_validate_ok(void **state)
{
    (void) state;
    size_t off = 77;
    const char *s = "Thành phố Đà Nẵng, Xã Hòa Liên 🏠";
    assert_int_equal(vntext_validate(s, strlen(s), &off), 0);
    assert_int_equal(off, 77);   /* untouched */
    assert_int_equal(vntext_validate("", 0, &off), 0);
    /* The length bounds the check, not a NUL. */
    assert_int_equal(vntext_validate("ab\xff", 2, &off), 0);
}

static void test_validate_bad(void **state)
{
    (void) state;
    s_expect_invalid("\xff", 1, 0);
    s_expect_invalid("abc\x80", 4, 3);                 /* stray continuation byte */
    s_expect_invalid("Hòa\xc3", strlen("Hòa") + 1, strlen("Hòa")); /* truncated at the end */
    s_expect_invalid("x\xe1\xba(yz", 6, 1);            /* missing continuation byte */
    s_expect_invalid("ab\xc0\x80", 4, 2);              /* overlong NUL */
    s_expect_invalid("a\xe0\x80\xaf", 4, 1);           /* overlong '/' */
    s_expect_invalid("\xed\xa0\x80z", 4, 0);           /* surrogate U+D800 */
    s_expect_invalid("ok\xf4\x90\x80\x80", 6, 2);      /* above U+10FFFF */
    s_expect_invalid("Đà\xfeNẵng", strlen("Đà") + 1 + strlen("Nẵng"), strlen("Đà"));
}

static void test_nfc(void **state)
{
    (void) state;
    /* "Hòa" with o + combining grave -> precomposed ò. */
    s_expect_nfc("Ho\xcc\x80" "a", "H\xc3\xb2" "a");
    /* ẵ as a + breve + tilde -> U+1EB5. */
    s_expect_nfc("Na\xcc\x86\xcc\x83ng", "N\xe1\xba\xb5ng");
    /* Already NFC: unchanged, case and spaces kept. */
    s_expect_nfc("  Thị Trấn  Ái Nghĩa ", "  Thị Trấn  Ái Nghĩa ");
    s_expect_nfc("", "");
}

static void test_key(void **state)
{
    (void) state;
    s_expect_key("Xã Hòa Liên", "xa hoa lien");
    s_expect_key("THÀNH PHỐ ĐÀ NẴNG", "thanh pho da nang");
    s_expect_key("đường Đống Đa", "duong dong da");
    s_expect_key("Thị Trấn Ái Nghĩa", "thi tran ai nghia");
    /* Decomposed input gives the same key as precomposed. */
    s_expect_key("Ho\xcc\x80" "a Lie\xcc\x82n", "hoa lien");
    /* Tone-mark placement variants (Hoà / Hòa) meet in the key. */
    s_expect_key("Hoà Vang", "hoa vang");
    s_expect_key("Hòa Vang", "hoa vang");
    /* White space: tabs, newlines, NBSP (U+00A0) collapse; ends trimmed. */
    s_expect_key(" \t Phường\n\n  Hải\xc2\xa0\xc2\xa0" "Châu  ", "phuong hai chau");
    s_expect_key("   ", "");
    s_expect_key("", "");
    /* Punctuation and digits stay. */
    s_expect_key("P. Hòa Cường Bắc, Tổ 5", "p. hoa cuong bac, to 5");
    /* Ethnic-minority names keep their letters. */
    s_expect_key("Xã Zuôich", "xa zuoich");
    s_expect_key("Xã A Xan", "xa a xan");
}

static void test_fold(void **state)
{
    (void) state;
    char *out = NULL;
    size_t off;
    const char *s = "  Xã \tTAM  Thành ";
    assert_int_equal(vntext_fold(s, strlen(s), &out, &off), 0);
    assert_string_equal(out, "xã tam thành");
    free(out);
    s = "ĐÀ Na\xcc\x86\xcc\x83ng";          /* decomposed ẵ: composed by the fold */
    assert_int_equal(vntext_fold(s, strlen(s), &out, &off), 0);
    assert_string_equal(out, "đà nẵng");
    free(out);
    out = (char *) 1;
    assert_int_equal(vntext_fold("ab\x80", 3, &out, &off), -1);
    assert_null(out);
    assert_int_equal(off, 2);
}

/* An embedded NUL is text like any other byte: the length counts. */
static void test_embedded_nul(void **state)
{
    (void) state;
    char *out = NULL;
    size_t off;
    assert_int_equal(vntext_key("A\0B  ", 5, &out, &off), 0);
    assert_memory_equal(out, "a\0b", 4);   /* and the terminating NUL */
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_ok),
        cmocka_unit_test(test_validate_bad),
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_embedded_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
