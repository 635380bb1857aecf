/* test-ercmp.c — the comparison functions of entity resolution: UTF-8
 * decoding, Jaro and Jaro-Winkler against published values and Vietnamese
 * names, bounded Damerau (OSA) against a naive reference on random
 * strings, name parts in any order, date parsing and levels, identifier
 * levels, and the Vietnamese phonetic key on name parts of
 * ../shared/data/names (NAMES_DATA_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ercmp.h"
#include "vntext.h"

/* cmocka's assert_float_equal works in float; these are doubles. */
#define assert_near(a, b, eps) s_near((a), (b), (eps), __FILE__, __LINE__)
static void s_near(double a, double b, double eps, const char *file, int line)
{
    if (!(a - b <= eps && b - a <= eps))
        fail_msg("%s:%d: %.15g != %.15g (within %g)", file, line, a, b, eps);
}

/* Decoded UTF-8 for a test: up to 1024 code points. */
typedef struct {
    uint32_t cp[1024];
    size_t n;
} cps_t;

static cps_t s_cps(const char *s)
{
    cps_t c;
    c.n = ercmp_decode(s, strlen(s), c.cp, 1024);
    assert_true(c.n != (size_t) -1 && c.n <= 1024);
    return c;
}

static double s_jaro(const char *a, const char *b)
{
    cps_t x = s_cps(a), y = s_cps(b);
    return ercmp_jaro(x.cp, x.n, y.cp, y.n);
}

static double s_jw(const char *a, const char *b)
{
    cps_t x = s_cps(a), y = s_cps(b);
    double r = ercmp_jaro_winkler(x.cp, x.n, y.cp, y.n);
    /* Symmetric, always. */
    assert_near(r, ercmp_jaro_winkler(y.cp, y.n, x.cp, x.n), 1e-12);
    return r;
}

static unsigned s_dam(const char *a, const char *b, unsigned max)
{
    cps_t x = s_cps(a), y = s_cps(b);
    return ercmp_damerau(x.cp, x.n, y.cp, y.n, max);
}

static double s_tok(const char *a, const char *b)
{
    cps_t x = s_cps(a), y = s_cps(b);
    return ercmp_tokens_jw(x.cp, x.n, y.cp, y.n);
}

/* A fixed-seed generator, the same sequence on every libc. */
static uint64_t s_rng = 0x9e3779b97f4a7c15ULL;
static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t) (s_rng >> 16);
}

/* ---- decode ---------------------------------------------------------------- */

static void test_decode(void **state)
{
    (void) state;
    uint32_t out[8];
    /* One code point per Vietnamese letter with its marks (NFC). */
    const char *s = "Nguyễn";
    assert_int_equal(ercmp_decode(s, strlen(s), out, 8), 6);
    assert_int_equal(out[0], 'N');
    assert_int_equal(out[4], 0x1EC5);   /* ễ */
    assert_int_equal(ercmp_decode("", 0, out, 8), 0);
    /* Longer than cap: the first cap stored, the full count returned. */
    memset(out, 0, sizeof out);
    assert_int_equal(ercmp_decode("Đà Nẵng", strlen("Đà Nẵng"), out, 3), 7);
    assert_int_equal(out[0], 0x0110);
    assert_int_equal(out[2], ' ');
    assert_int_equal(out[3], 0);
    /* Invalid UTF-8: stray continuation, truncated, overlong, surrogate. */
    assert_int_equal(ercmp_decode("a\x80", 2, out, 8), (size_t) -1);
    assert_int_equal(ercmp_decode("\xe1\xbb", 2, out, 8), (size_t) -1);
    assert_int_equal(ercmp_decode("\xc0\xaf", 2, out, 8), (size_t) -1);
    assert_int_equal(ercmp_decode("\xed\xa0\x80", 3, out, 8), (size_t) -1);
}

/* ---- Jaro, Jaro-Winkler ------------------------------------------------------ */

static void test_jaro_published(void **state)
{
    (void) state;
    /* Winkler (1990) and the usual textbook examples, to 3 decimals. */
    assert_near(s_jaro("MARTHA", "MARHTA"), 0.944, 0.0005);
    assert_near(s_jw("MARTHA", "MARHTA"), 0.961, 0.0005);
    assert_near(s_jaro("DWAYNE", "DUANE"), 0.822, 0.0005);
    assert_near(s_jw("DWAYNE", "DUANE"), 0.840, 0.0005);
    assert_near(s_jaro("DIXON", "DICKSONX"), 0.767, 0.0005);
    assert_near(s_jw("DIXON", "DICKSONX"), 0.813, 0.0005);
    /* No common prefix: no boost. */
    assert_near(s_jw("JELLYFISH", "SMELLYFISH"), 0.896, 0.0005);
    /* The prefix counts at most 4. */
    assert_near(s_jaro("ABCDEFGH", "ABCDEFGX"), (7.0 / 8 + 7.0 / 8 + 1) / 3, 1e-12);
    double j = (7.0 / 8 + 7.0 / 8 + 1) / 3;
    assert_near(s_jw("ABCDEFGH", "ABCDEFGX"), j + 0.4 * (1 - j), 1e-12);
    /* Nothing in common, and the boost applied below 0.7 too (decided:
     * no threshold): "AX" / "AY": j = 2/3, l = 1. */
    assert_near(s_jaro("ABC", "XYZ"), 0.0, 1e-12);
    assert_near(s_jw("AX", "AY"), 2.0 / 3 + 0.1 * (1.0 / 3), 1e-12);
    /* Outside the match window: "AB" / "BA" window 0, no matches. */
    assert_near(s_jaro("AB", "BA"), 0.0, 1e-12);
    /* Empty strings. */
    assert_near(s_jaro("", ""), 1.0, 1e-12);
    assert_near(s_jw("", ""), 1.0, 1e-12);
    assert_near(s_jaro("", "A"), 0.0, 1e-12);
    assert_near(s_jw("A", ""), 0.0, 1e-12);
    assert_near(s_jw("Nguyễn", "Nguyễn"), 1.0, 1e-12);
}

static void test_jaro_vietnamese(void **state)
{
    (void) state;
    /* One position per letter: Nguyễn / Nguyên differ in one of six. */
    double j = (5.0 / 6 + 5.0 / 6 + 1) / 3;
    assert_near(s_jaro("Nguyễn", "Nguyên"), j, 1e-12);
    assert_near(s_jw("Nguyễn", "Nguyên"), j + 0.4 * (1 - j), 1e-12);
    /* Thùy / Thúy: one of four, prefix 2. */
    j = (3.0 / 4 + 3.0 / 4 + 1) / 3;
    assert_near(s_jw("Thùy", "Thúy"), j + 0.2 * (1 - j), 1e-12);
    /* Hương / Hưong (ơ typed o): prefix "Hư" of two code points. */
    j = (4.0 / 5 + 4.0 / 5 + 1) / 3;
    assert_near(s_jw("Hương", "Hưong"), j + 0.2 * (1 - j), 1e-12);
    /* Swapped letters with marks: Phạm / Phmạ -> m = 4, t = 1. */
    j = (1.0 + 1.0 + 3.0 / 4) / 3;
    assert_near(s_jw("Phạm", "Phmạ"), j + 0.2 * (1 - j), 1e-12);
    /* Without the marks every letter differs where a mark was. */
    assert_true(s_jw("Đặng", "Dang") < s_jw("Đặng", "Đặng"));
}

/* The textbook Jaro with plain flag arrays, for any length. */
static double s_naive_jaro(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (na == 0 && nb == 0)
        return 1.0;
    if (na == 0 || nb == 0)
        return 0.0;
    char *fa = calloc(na, 1), *fb = calloc(nb, 1);
    assert_non_null(fa);
    assert_non_null(fb);
    long window = (long) (na > nb ? na : nb) / 2 - 1;
    if (window < 0)
        window = 0;
    size_t m = 0;
    for (long i = 0; i < (long) na; i++)
        for (long j = i - window < 0 ? 0 : i - window; j <= i + window && j < (long) nb; j++)
            if (!fb[j] && a[i] == b[j]) {
                fa[i] = fb[j] = 1;
                m++;
                break;
            }
    double r = 0.0;
    if (m) {
        size_t t = 0, k = 0;
        for (size_t i = 0; i < na; i++)
            if (fa[i]) {
                while (!fb[k])
                    k++;
                t += a[i] != b[k++];
            }
        r = ((double) m / na + (double) m / nb + ((double) m - (double) (t / 2)) / m) / 3;
    }
    free(fa);
    free(fb);
    return r;
}

static void test_jaro_random(void **state)
{
    (void) state;
    /* Short and long strings (bit sets of one and of many words, stack and
     * heap) over small alphabets, so there are matches to find. */
    static const uint32_t alpha[] = {'a', 'b', 'c', 0x1EC5, 0x01B0};
    uint32_t a[700], b[700];
    for (int it = 0; it < 3000; it++) {
        size_t maxlen = it % 10 == 0 ? 700 : it % 3 == 0 ? 130 : 20;
        size_t na = s_rand() % (maxlen + 1), nb = s_rand() % (maxlen + 1);
        size_t k = 2 + s_rand() % 4;
        for (size_t i = 0; i < na; i++)
            a[i] = alpha[s_rand() % k];
        for (size_t i = 0; i < nb; i++)
            b[i] = alpha[s_rand() % k];
        assert_near(ercmp_jaro(a, na, b, nb), s_naive_jaro(a, na, b, nb), 1e-12);
    }
}

/* ---- Damerau (OSA) --------------------------------------------------------------- */

static void test_damerau(void **state)
{
    (void) state;
    assert_int_equal(s_dam("", "", 3), 0);
    assert_int_equal(s_dam("", "abc", 3), 3);
    assert_int_equal(s_dam("abcd", "", 3), 4);   /* max + 1 */
    assert_int_equal(s_dam("Nguyễn", "Nguyễn", 0), 0);
    /* Transpositions of adjacent code points: one edit. */
    assert_int_equal(s_dam("Nguyễn", "Ngyuễn", 3), 1);
    assert_int_equal(s_dam("Trần", "Trầnn", 3), 1);   /* insert */
    assert_int_equal(s_dam("Trần", "Trn", 3), 1);     /* delete */
    assert_int_equal(s_dam("Trần", "Trân", 3), 1);    /* substitute (mark) */
    assert_int_equal(s_dam("ab", "ba", 3), 1);
    assert_int_equal(s_dam("abcdef", "badcfe", 5), 3);
    /* OSA, not true Damerau: no substring edited twice. */
    assert_int_equal(s_dam("ca", "abc", 5), 3);
    assert_int_equal(s_dam("kitten", "sitting", 5), 3);
    /* Cut off at max: max + 1 whatever the real distance. */
    assert_int_equal(s_dam("kitten", "sitting", 2), 3);
    assert_int_equal(s_dam("kitten", "sitting", 3), 3);
    assert_int_equal(s_dam("kitten", "sitting", 0), 1);
    assert_int_equal(s_dam("Nguyễn Văn An", "Trần Thị Bích Ngọc", 2), 3);
    assert_int_equal(s_dam("a", "abcdefgh", 2), 3);
}

/* Full-matrix OSA, unbounded. */
static unsigned s_naive_osa(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    unsigned *d = malloc((na + 1) * (nb + 1) * sizeof *d);
    assert_non_null(d);
#define D(i, j) d[(i) * (nb + 1) + (j)]
    for (size_t i = 0; i <= na; i++)
        D(i, 0) = (unsigned) i;
    for (size_t j = 0; j <= nb; j++)
        D(0, j) = (unsigned) j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            unsigned v = D(i - 1, j - 1) + (a[i - 1] != b[j - 1]);
            if (D(i - 1, j) + 1 < v)
                v = D(i - 1, j) + 1;
            if (D(i, j - 1) + 1 < v)
                v = D(i, j - 1) + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && D(i - 2, j - 2) + 1 < v)
                v = D(i - 2, j - 2) + 1;
            D(i, j) = v;
        }
    unsigned r = D(na, nb);
#undef D
    free(d);
    return r;
}

static void test_damerau_random(void **state)
{
    (void) state;
    static const uint32_t alpha[] = {'a', 'b', 'c', 0x1EC5, 0x0111};
    uint32_t a[400], b[400];
    for (int it = 0; it < 5000; it++) {
        /* Mostly name-length strings; every 50th beyond the stack rows. */
        size_t maxlen = it % 50 == 0 ? 400 : 14;
        size_t na = s_rand() % (maxlen + 1), nb = s_rand() % (maxlen + 1);
        size_t k = 2 + s_rand() % 4;
        for (size_t i = 0; i < na; i++)
            a[i] = alpha[s_rand() % k];
        /* Half the time b is a few edits of a, so small distances occur. */
        if (it % 2) {
            nb = na;
            memcpy(b, a, na * sizeof *a);
            for (unsigned e = s_rand() % 4; e > 0 && nb > 1; e--) {
                size_t p = s_rand() % (nb - 1);
                switch (s_rand() % 4) {
                case 0: { uint32_t t = b[p]; b[p] = b[p + 1]; b[p + 1] = t; break; }
                case 1: b[p] = alpha[s_rand() % k]; break;
                case 2: memmove(b + p, b + p + 1, (nb - p - 1) * sizeof *b); nb--; break;
                default:
                    if (nb < 400) {
                        memmove(b + p + 1, b + p, (nb - p) * sizeof *b);
                        b[p] = alpha[s_rand() % k];
                        nb++;
                    }
                }
            }
        } else
            for (size_t i = 0; i < nb; i++)
                b[i] = alpha[s_rand() % k];
        unsigned want = s_naive_osa(a, na, b, nb);
        unsigned max = it % 50 == 0 ? s_rand() % 300 : s_rand() % 8;
        unsigned got = ercmp_damerau(a, na, b, nb, max);
        unsigned exp = want > max ? max + 1 : want;
        if (got != exp)
            fail_msg("it %d: na %zu nb %zu max %u: got %u, want %u", it, na, nb, max, got, exp);
        assert_int_equal(ercmp_damerau(b, nb, a, na, max), exp);
    }
}

/* ---- name parts in any order ---------------------------------------------------------- */

static void test_tokens(void **state)
{
    (void) state;
    /* Reordered: the same parts score 1. */
    assert_near(s_tok("Nguyễn Văn An", "Văn An Nguyễn"), 1.0, 1e-12);
    assert_near(s_tok("Nguyễn Văn An", "An Nguyễn Văn"), 1.0, 1e-12);
    /* A missing middle name costs one part of three. */
    assert_near(s_tok("Nguyễn Văn An", "Nguyễn An"), 2.0 / 3, 1e-12);
    assert_near(s_tok("Nguyễn An", "Nguyễn Văn An"), 2.0 / 3, 1e-12);
    /* Different counts: four parts against two. */
    assert_near(s_tok("Trần Thị Thu Hà", "Trần Hà"), 0.5, 1e-12);
    /* Reordered with a typo: nguyen, van exact; an/anh JW(an, anh). */
    double jw = s_jw("an", "anh");
    assert_near(jw, (1 + 2.0 / 3 + 1) / 3 + 0.2 * (1 - (1 + 2.0 / 3 + 1) / 3), 1e-12);
    assert_near(s_tok("an nguyen van", "nguyen van anh"), (2 + jw) / 3, 1e-12);
    /* Greedy by best score: "An" goes to "An" (1.0), not to "Anh". */
    assert_near(s_tok("Anh An", "An"), 0.5, 1e-12);
    assert_near(s_tok("An", "Anh An"), 0.5, 1e-12);
    /* Empty: none on both sides 1, on one side 0; spaces alone are none. */
    assert_near(s_tok("", ""), 1.0, 1e-12);
    assert_near(s_tok("   ", ""), 1.0, 1e-12);
    assert_near(s_tok("", "Lê"), 0.0, 1e-12);
    assert_near(s_tok("Lê", " "), 0.0, 1e-12);
    /* Extra spaces make no empty part. */
    assert_near(s_tok(" Nguyễn  Văn An ", "Nguyễn Văn An"), 1.0, 1e-12);
    /* Nothing alike: low. */
    assert_true(s_tok("Nguyễn Văn An", "Trần Thị Bích") < 0.5);
    /* Many parts: 20 equal parts each side (the 16th runs to the end). */
    const char *many = "a b c d e f g h i j k l m n o p q r s t";
    assert_near(s_tok(many, many), 1.0, 1e-12);
    assert_true(s_tok(many, "a b c d e f g h i j k l m n o p q r s u") < 1.0);
}

/* ---- dates ------------------------------------------------------------------------------- */

static void s_bad_date(const char *s)
{
    ercmp_date_t d = {1, 1, 1};
    if (ercmp_date_parse(s, &d) != -1)
        fail_msg("accepted \"%s\"", s ? s : "(null)");
    assert_int_equal(d.y, 0);
    assert_int_equal(d.m, 0);
    assert_int_equal(d.d, 0);
}

static ercmp_date_t s_date(const char *s)
{
    ercmp_date_t d;
    if (ercmp_date_parse(s, &d) != 0)
        fail_msg("rejected \"%s\"", s);
    return d;
}

static void test_date_parse(void **state)
{
    (void) state;
    ercmp_date_t d = s_date("1980-05-17");
    assert_int_equal(d.y, 1980);
    assert_int_equal(d.m, 5);
    assert_int_equal(d.d, 17);
    d = s_date("1980-05");
    assert_int_equal(d.y, 1980);
    assert_int_equal(d.m, 5);
    assert_int_equal(d.d, 0);
    d = s_date("1980");
    assert_int_equal(d.y, 1980);
    assert_int_equal(d.m, 0);
    assert_int_equal(d.d, 0);
    /* Leap years. */
    s_date("1980-02-29");
    s_date("2000-02-29");
    s_bad_date("1900-02-29");
    s_bad_date("1981-02-29");
    s_date("1981-02-28");
    s_date("1980-12-31");
    s_date("0001-01-01");
    /* Impossible dates. */
    s_bad_date("1980-02-30");
    s_bad_date("1980-04-31");
    s_bad_date("1980-13");
    s_bad_date("1980-13-01");
    s_bad_date("1980-00");
    s_bad_date("1980-01-00");
    s_bad_date("1980-01-32");
    s_bad_date("0000");
    /* Bad forms. */
    s_bad_date(NULL);
    s_bad_date("");
    s_bad_date("198");
    s_bad_date("19800");
    s_bad_date("1980-5-17");
    s_bad_date("1980-05-7");
    s_bad_date("1980/05/17");
    s_bad_date("17/05/1980");
    s_bad_date("1980-05-17 ");
    s_bad_date(" 1980");
    s_bad_date("+980");
    s_bad_date("-980");
    s_bad_date("198a");
    s_bad_date("1980-0a");
    s_bad_date("1980-05-1x");
    s_bad_date("1980-05-17T00:00");
}

static void s_level(const char *a, const char *b, ercmp_date_level_t want)
{
    ercmp_date_t x = {0, 0, 0}, y = {0, 0, 0};
    if (*a)
        x = s_date(a);
    if (*b)
        y = s_date(b);
    ercmp_date_level_t got = ercmp_date_level(x, y), rev = ercmp_date_level(y, x);
    if (got != want || rev != want)
        fail_msg("%s / %s: %d and %d, want %d", a, b, got, rev, want);
}

static void test_date_level(void **state)
{
    (void) state;
    s_level("1980-05-17", "1980-05-17", ERCMP_DATE_EXACT);
    s_level("1980-05-07", "1980-07-05", ERCMP_DATE_SWAPPED);
    s_level("1980-12-01", "1980-01-12", ERCMP_DATE_SWAPPED);
    /* Swapped needs the same year. */
    s_level("1980-05-07", "1981-07-05", ERCMP_DATE_YEAR);
    /* One side partial and agreeing. */
    s_level("1980", "1980-05-17", ERCMP_DATE_PARTIAL);
    s_level("1980-05", "1980-05-17", ERCMP_DATE_PARTIAL);
    s_level("1980", "1980-05", ERCMP_DATE_PARTIAL);
    /* Both partial and agreeing: PARTIAL, not EXACT (decided). */
    s_level("1980", "1980", ERCMP_DATE_PARTIAL);
    s_level("1980-05", "1980-05", ERCMP_DATE_PARTIAL);
    /* Partial, not agreeing. */
    s_level("1980-05", "1980-06-17", ERCMP_DATE_YEAR);
    s_level("1980-05", "1980-06", ERCMP_DATE_YEAR);
    s_level("1980", "1981-05-17", ERCMP_DATE_YEAR);
    s_level("1980-05", "1979-05", ERCMP_DATE_YEAR);
    s_level("1980", "1982", ERCMP_DATE_DIFF);
    s_level("1980", "1989-05-17", ERCMP_DATE_DIFF);   /* CLOSE needs full dates */
    /* One typo apart. */
    s_level("1980-05-17", "1980-05-18", ERCMP_DATE_CLOSE);
    s_level("1980-05-17", "1980-06-17", ERCMP_DATE_CLOSE);
    s_level("1980-05-17", "1989-05-17", ERCMP_DATE_CLOSE);
    s_level("1980-05-17", "1880-05-17", ERCMP_DATE_CLOSE);
    s_level("1980-05-17", "1981-05-17", ERCMP_DATE_CLOSE);
    /* 1979/1980 differ in two digits: within 1, so YEAR. */
    s_level("1979-05-17", "1980-05-17", ERCMP_DATE_YEAR);
    s_level("1980-05-17", "1980-08-09", ERCMP_DATE_YEAR);
    s_level("1980-05-17", "1981-08-09", ERCMP_DATE_YEAR);
    s_level("1980-05-17", "1985-08-09", ERCMP_DATE_DIFF);
    s_level("1980-05-17", "1908-05-17", ERCMP_DATE_DIFF);
    s_level("1980-05-17", "1989-05-18", ERCMP_DATE_DIFF);
    /* Missing. */
    s_level("", "1980-05-17", ERCMP_DATE_MISSING);
    s_level("1980", "", ERCMP_DATE_MISSING);
    s_level("", "", ERCMP_DATE_MISSING);
    /* A day without a month is year only. */
    ercmp_date_t odd = {1980, 0, 17}, full = {1980, 5, 17};
    assert_int_equal(ercmp_date_level(odd, full), ERCMP_DATE_PARTIAL);
}

/* ---- identifiers ---------------------------------------------------------------------------- */

static void test_id_level(void **state)
{
    (void) state;
    assert_int_equal(ercmp_id_level("048085001234", "048085001234"), ERCMP_ID_EXACT);
    assert_int_equal(ercmp_id_level("201234567", "201234567"), ERCMP_ID_EXACT);
    assert_int_equal(ercmp_id_level("048085001234", "048085001235"), ERCMP_ID_ONE_OFF);
    assert_int_equal(ercmp_id_level("048085001234", "148085001234"), ERCMP_ID_ONE_OFF);
    assert_int_equal(ercmp_id_level("048085001234", "048085001243"), ERCMP_ID_TRANSPOSED);
    assert_int_equal(ercmp_id_level("048085001234", "408085001234"), ERCMP_ID_TRANSPOSED);
    /* Two positions, adjacent but not swapped; or apart. */
    assert_int_equal(ercmp_id_level("048085001234", "048085001256"), ERCMP_ID_DIFF);
    assert_int_equal(ercmp_id_level("048085001234", "148085001235"), ERCMP_ID_DIFF);
    assert_int_equal(ercmp_id_level("048085001234", "840085001234"), ERCMP_ID_DIFF);
    assert_int_equal(ercmp_id_level("048085001234", "048085009999"), ERCMP_ID_DIFF);
    /* Lengths differ: the CMND against the personal ID, or a dropped digit. */
    assert_int_equal(ercmp_id_level("048085001234", "201234567"), ERCMP_ID_DIFF);
    assert_int_equal(ercmp_id_level("048085001234", "04808500123"), ERCMP_ID_DIFF);
    assert_int_equal(ercmp_id_level(NULL, "048085001234"), ERCMP_ID_MISSING);
    assert_int_equal(ercmp_id_level("048085001234", NULL), ERCMP_ID_MISSING);
    assert_int_equal(ercmp_id_level("", "048085001234"), ERCMP_ID_MISSING);
    assert_int_equal(ercmp_id_level("", ""), ERCMP_ID_MISSING);
    assert_int_equal(ercmp_id_level(NULL, NULL), ERCMP_ID_MISSING);
}

/* ---- the phonetic key ------------------------------------------------------------------------- */

static const char *s_ph(const char *key, char *buf, size_t cap)
{
    size_t n = ercmp_vn_phonetic(key, buf, cap);
    assert_int_equal(n, strlen(buf));
    return buf;
}

/* Name parts in their key form; every one a name part of
 * ../shared/data/names or a one-letter slip of one. */
static const char *const s_collide[][2] = {
    {"nguyen", "nghuyen"},   /* ngh/ng (Nghuyễn, in surnames.csv) */
    {"nghia", "ngia"},
    {"nghi", "ngi"},
    {"kim", "cim"},          /* k/c */
    {"ka", "ca"},
    {"quy", "qui"},          /* Quý/Quí, both in given_names.csv */
    {"quyen", "cuyen"},
    {"quynh", "quinh"},
    {"phuong", "fuong"},     /* ph/f */
    {"trinh", "chinh"},      /* tr/ch */
    {"trang", "chang"},
    {"truong", "chuong"},
    {"trung", "chung"},
    {"sinh", "xinh"},        /* s/x */
    {"suong", "xuong"},
    {"xuan", "suan"},
    {"son", "xon"},
    {"giang", "dang"},       /* d/gi/r (and đ, lost in the key) */
    {"dieu", "rieu"},
    {"duyen", "ruyen"},
    {"gia", "da"},
    {"dung", "giung"},
    {"vy", "vi"},            /* y/i */
    {"my", "mi"},
    {"sy", "si"},
    {"thy", "thi"},
    {"ly", "li"},
    {"thuy", "thui"},        /* uy/ui */
    {"huy", "hui"},
    {"nguyeen", "nguyen"},   /* doubled letters */
    {"laam", "lam"},         /* Laâm, in surnames.csv */
    {"thanhh", "thanh"},
    {"Nguyen", "nguyen"},    /* case */
    {"thi ngoc", "thy ngoc"},
};

static const char *const s_apart[][2] = {
    {"an", "anh"},           /* the two most common An- given names */
    {"lan", "lang"},         /* final n/ng */
    {"hoan", "hoang"},
    {"son", "song"},
    {"nam", "lam"},          /* l/n */
    {"linh", "ninh"},
    {"mai", "may"},          /* ai/ay: Mai / Mây */
    {"hai", "hay"},
    {"luu", "lu"},           /* Lưu / Lữ: uu stays */
    {"dat", "dac"},          /* final t/c: Đạt / Đắc */
    {"phuc", "phut"},
    {"vy", "dy"},            /* v/d */
    {"binh", "vinh"},
    {"thu", "tu"},           /* th/t */
    {"khoa", "hoa"},         /* kh/h */
    {"tram", "tam"},
    {"thanh", "than"},
    {"khanh", "khang"},
    {"hung", "hong"},
    {"nhung", "nhu"},
    {"ngoc", "ngo"},
    {"tuan", "tuyen"},
    {"bui", "buu"},
    {"yen", "en"},
};

static void test_phonetic_pairs(void **state)
{
    (void) state;
    char x[64], y[64];
    for (size_t i = 0; i < sizeof s_collide / sizeof s_collide[0]; i++)
        if (strcmp(s_ph(s_collide[i][0], x, sizeof x), s_ph(s_collide[i][1], y, sizeof y)) != 0)
            fail_msg("%s -> %s but %s -> %s", s_collide[i][0], x, s_collide[i][1], y);
    for (size_t i = 0; i < sizeof s_apart / sizeof s_apart[0]; i++)
        if (strcmp(s_ph(s_apart[i][0], x, sizeof x), s_ph(s_apart[i][1], y, sizeof y)) == 0)
            fail_msg("%s and %s both -> %s", s_apart[i][0], s_apart[i][1], x);
}

static void test_phonetic_forms(void **state)
{
    (void) state;
    char b[64];
    assert_string_equal(s_ph("nguyen", b, sizeof b), "nguien");
    assert_string_equal(s_ph("tran", b, sizeof b), "chan");
    assert_string_equal(s_ph("phuong", b, sizeof b), "fuong");
    assert_string_equal(s_ph("quang", b, sizeof b), "cuang");
    assert_string_equal(s_ph("gin", b, sizeof b), "zin");   /* gi + in */
    assert_string_equal(s_ph("ghe", b, sizeof b), "ge");    /* gh/g */
    assert_string_equal(s_ph("ge", b, sizeof b), "ge");
    assert_string_equal(s_ph("an", b, sizeof b), "an");     /* no initial */
    assert_string_equal(s_ph("y", b, sizeof b), "y");       /* y alone, no initial: kept */
    assert_string_equal(s_ph("nguyen van an", b, sizeof b), "nguien van an");
    assert_string_equal(s_ph("", b, sizeof b), "");
    /* Not Vietnamese syllables: lower-cased as they are. */
    assert_string_equal(s_ph("John SMITH", b, sizeof b), "john smith");
    assert_string_equal(s_ph("anna", b, sizeof b), "anna");
    assert_string_equal(s_ph("maria", b, sizeof b), "maria");
    assert_string_equal(s_ph("a1b2", b, sizeof b), "a1b2");
    assert_string_equal(s_ph("o'neil", b, sizeof b), "o'neil");
    /* Truncated to cap - 1. */
    assert_int_equal(ercmp_vn_phonetic("nguyen", b, 4), 3);
    assert_string_equal(b, "ngu");
    assert_int_equal(ercmp_vn_phonetic("nguyen", b, 1), 0);
    assert_string_equal(b, "");
}

/* Every name part of the CSV's first column (header skipped), in its key
 * form: the key is its own key (idempotent); returns the number of
 * distinct parts and, in *distinct_keys, of distinct phonetic keys. */
static size_t s_csv_parts(const char *file, size_t *distinct_keys)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", NAMES_DATA_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    static char parts[4096][32], keys[4096][32];
    size_t np = 0, nk = 0;
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));   /* header */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, ",\r\n")] = '\0';
        char *k;
        size_t off;
        assert_int_equal(vntext_key(line, strlen(line), &k, &off), 0);
        char *save = NULL;
        for (char *p = strtok_r(k, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
            char ph[32], ph2[32];
            ercmp_vn_phonetic(p, ph, sizeof ph);
            ercmp_vn_phonetic(ph, ph2, sizeof ph2);
            if (strcmp(ph, ph2) != 0)
                fail_msg("%s -> %s -> %s", p, ph, ph2);
            size_t i;
            for (i = 0; i < np && strcmp(parts[i], p) != 0; i++)
                ;
            if (i == np && np < 4096)
                snprintf(parts[np++], sizeof parts[0], "%s", p);
            else
                continue;
            for (i = 0; i < nk && strcmp(keys[i], ph) != 0; i++)
                ;
            if (i == nk && nk < 4096)
                snprintf(keys[nk++], sizeof keys[0], "%s", ph);
        }
        free(k);
    }
    fclose(f);
    *distinct_keys = nk;
    return np;
}

static void test_phonetic_names(void **state)
{
    (void) state;
    /* Conservative: the key merges few real name parts (at the time of
     * writing 595 given-name parts give 548 keys, 92%; surnames 297/282). */
    const char *files[] = {"given_names.csv", "surnames.csv", "middle_names.csv",
                           "given_names_compound_duyet.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t nk, np = s_csv_parts(files[i], &nk);
        assert_true(np > 50);
        if (nk * 100 < np * 88)
            fail_msg("%s: %zu parts, only %zu keys", files[i], np, nk);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_jaro_published),
        cmocka_unit_test(test_jaro_vietnamese),
        cmocka_unit_test(test_jaro_random),
        cmocka_unit_test(test_damerau),
        cmocka_unit_test(test_damerau_random),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_date_parse),
        cmocka_unit_test(test_date_level),
        cmocka_unit_test(test_id_level),
        cmocka_unit_test(test_phonetic_pairs),
        cmocka_unit_test(test_phonetic_forms),
        cmocka_unit_test(test_phonetic_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
