/* ercmp.c — the comparison functions of entity resolution: UTF-8 to code
 * points, Jaro / Jaro-Winkler, bounded Damerau (OSA), name parts in any
 * order, dates, identifiers, and a phonetic key for Vietnamese syllables.
 * See ercmp.h for the contract of each function.
 *
 * Everything here is reentrant and allocation-free for names of ordinary
 * length: the working memory lives in fixed buffers on the stack, and only
 * inputs longer than those buffers (ERCMP_STACK_CP code points) fall back
 * to the heap. */
#include "ercmp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Code points the stack buffers hold; names are far shorter (the longest
 * full names are about 40). Longer inputs use the heap (Jaro, Damerau). */
#define ERCMP_STACK_CP 256
/* Up to this many code points on both sides Jaro runs the plain loop (name
 * parts: "nguyen" is 6); longer, the bit-parallel one (bench/ercmp: about
 * 25% less time for ercmp_tokens_jw than either alone). */
#define ERCMP_JARO_SHORT 8
/* Name parts ercmp_tokens_jw tells apart per side; see ercmp.h. */
#define ERCMP_TOKENS_MAX 16

size_t ercmp_decode(const char *s, size_t len, uint32_t *out, size_t cap)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) s;
    size_t i = 0, n = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        /* Rejects stray continuation bytes, truncated sequences, overlong
         * forms, surrogates and code points above U+10FFFF. */
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t) (len - i), &cp);
        if (k < 0)
            return (size_t) -1;
        if (n < cap)
            out[n] = (uint32_t) cp;
        n++;
        i += (size_t) k;
    }
    return n;
}

/* ---- Jaro, Jaro-Winkler ------------------------------------------------ */

/* (m/na + m/nb + (m - t)/m) / 3, t the transpositions: half the positions
 * where the matched code points of a and of b, each in its string's order,
 * differ, halved with integer division as strcmp95 does. */
static double s_jaro_value(size_t m, size_t half, size_t na, size_t nb)
{
    if (m == 0)
        return 0.0;
    double dm = (double) m;
    return (dm / (double) na + dm / (double) nb + (dm - (double) (half / 2)) / dm) / 3.0;
}

/* Jaro for strings of at most 64 code points (every name), bit-parallel:
 * pos[c % 64] has a bit for each position of b whose code point is c modulo
 * 64, so the candidates for a[i] are pos[a[i] % 64] within the window and
 * not matched yet; the lowest one that really equals a[i] is the first
 * match the textbook loop would find. */
/* Jaro for name parts (at most ERCMP_JARO_SHORT code points each): the
 * textbook loop, the matched flags in two registers (not in memory the
 * compiler must reload after every store: the project builds with
 * -fno-strict-aliasing). For so few positions it beats the bit-parallel
 * form below, whose set-up it skips. */
static double s_jaro_short(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t longer = na > nb ? na : nb;
    size_t window = longer / 2 >= 1 ? longer / 2 - 1 : 0;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < na; i++) {
        uint32_t c = a[i];
        size_t lo = i > window ? i - window : 0;
        size_t hi = i + window + 1 < nb ? i + window + 1 : nb;
        for (size_t j = lo; j < hi; j++)
            if (b[j] == c && !(mb >> j & 1)) {
                ma |= (uint64_t) 1 << i;
                mb |= (uint64_t) 1 << j;
                m++;
                break;
            }
    }
    size_t half = 0;
    while (ma) {
        int i = __builtin_ctzll(ma), j = __builtin_ctzll(mb);
        half += a[i] != b[j];
        ma &= ma - 1;
        mb &= mb - 1;
    }
    return s_jaro_value(m, half, na, nb);
}

static double s_jaro64(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (na <= ERCMP_JARO_SHORT && nb <= ERCMP_JARO_SHORT)
        return s_jaro_short(a, na, b, nb);
    uint64_t pos[64], used = 0;   /* pos[k] is set only where used has bit k */
    for (size_t j = 0; j < nb; j++) {
        unsigned k = b[j] & 63;
        if (!(used >> k & 1))
            pos[k] = 0;
        used |= (uint64_t) 1 << k;
        pos[k] |= (uint64_t) 1 << j;
    }
    size_t longer = na > nb ? na : nb;
    size_t window = longer / 2 >= 1 ? longer / 2 - 1 : 0;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < na; i++) {
        uint32_t c = a[i];
        if (!(used >> (c & 63) & 1))
            continue;
        size_t lo = i > window ? i - window : 0;
        size_t hi = i + window + 1 < nb ? i + window + 1 : nb;
        if (lo >= hi)
            continue;
        uint64_t win = (hi == 64 ? ~(uint64_t) 0 : ((uint64_t) 1 << hi) - 1) & ~(((uint64_t) 1 << lo) - 1);
        uint64_t cand = pos[c & 63] & win & ~mb;
        while (cand) {
            int j = __builtin_ctzll(cand);
            if (b[j] == c) {
                ma |= (uint64_t) 1 << i;
                mb |= (uint64_t) 1 << j;
                m++;
                break;
            }
            cand &= cand - 1;
        }
    }
    size_t half = 0;
    while (ma) {
        int i = __builtin_ctzll(ma), j = __builtin_ctzll(mb);
        half += a[i] != b[j];
        ma &= ma - 1;
        mb &= mb - 1;
    }
    return s_jaro_value(m, half, na, nb);
}

double ercmp_jaro(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (na == 0 && nb == 0)
        return 1.0;
    if (na == 0 || nb == 0)
        return 0.0;
    /* Equal parts are the common case inside a block (the same surname). */
    if (na == nb) {
        size_t i = 0;
        while (i < na && a[i] == b[i])
            i++;
        if (i == na)
            return 1.0;
    }
    if (na <= 64 && nb <= 64)
        return s_jaro64(a, na, b, nb);
    /* Matched flags, one bit per position of each string. */
    uint64_t stack[2 * (ERCMP_STACK_CP / 64)];
    uint64_t *heap = NULL;
    size_t wa = (na + 63) / 64, wb = (nb + 63) / 64;
    uint64_t *ma = stack, *mb;
    if (wa + wb > sizeof stack / sizeof stack[0]) {
        heap = calloc(wa + wb, sizeof *heap);
        if (!heap)
            return 0.0;   /* out of memory: "different", the safe answer for a match */
        ma = heap;
    } else
        memset(stack, 0, (wa + wb) * sizeof stack[0]);
    mb = ma + wa;

    size_t longer = na > nb ? na : nb;
    size_t window = longer / 2 >= 1 ? longer / 2 - 1 : 0;
    size_t m = 0;
    for (size_t i = 0; i < na; i++) {
        size_t lo = i > window ? i - window : 0;
        size_t hi = i + window + 1 < nb ? i + window + 1 : nb;
        for (size_t j = lo; j < hi; j++) {
            if (a[i] != b[j] || (mb[j / 64] >> (j % 64) & 1))
                continue;
            ma[i / 64] |= (uint64_t) 1 << (i % 64);
            mb[j / 64] |= (uint64_t) 1 << (j % 64);
            m++;
            break;
        }
    }
    double r = 0.0;
    if (m > 0) {
        size_t half = 0, k = 0;
        for (size_t i = 0; i < na; i++) {
            if (!(ma[i / 64] >> (i % 64) & 1))
                continue;
            while (!(mb[k / 64] >> (k % 64) & 1))
                k++;
            if (a[i] != b[k])
                half++;
            k++;
        }
        r = s_jaro_value(m, half, na, nb);
    }
    free(heap);
    return r;
}

double ercmp_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    double j = ercmp_jaro(a, na, b, nb);
    size_t l = 0;
    while (l < 4 && l < na && l < nb && a[l] == b[l])
        l++;
    /* No threshold: the prefix boost applies whatever j is (ercmp.h). */
    return j + (double) l * 0.1 * (1.0 - j);
}

/* ---- Damerau (optimal string alignment), bounded ----------------------- */

unsigned ercmp_damerau(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, unsigned max)
{
    /* A common prefix or suffix costs nothing and never takes part in a
     * cheaper edit (a transposition across its border would need the two
     * code points to be equal, which is no edit at all); dropping it makes
     * most name pairs (same surname, same given name) short. */
    while (na > 0 && nb > 0 && a[0] == b[0]) {
        a++, b++;
        na--, nb--;
    }
    while (na > 0 && nb > 0 && a[na - 1] == b[nb - 1])
        na--, nb--;
    /* Rows run over the shorter string (the distance is symmetric). */
    if (nb > na) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    if (na - nb > max)
        return max + 1;
    if (nb == 0)
        return (unsigned) na;   /* <= max, checked above */

    /* Three rows (i - 2, i - 1, i) of the OSA matrix, every value capped
     * at max + 1: above max only "too far" matters. Only a diagonal band
     * is computed: a path through cell (i, j) costs at least |x| + |D - x|
     * (x = i - j, D = na - nb >= 0), the length differences before and
     * after it, so cells with x above (max + D) / 2 or below -(max - D) / 2
     * cannot lead to a distance <= max and count as max + 1. */
    unsigned stack[3 * (ERCMP_STACK_CP + 1)];
    unsigned *heap = NULL, *r2 = stack;
    if (nb + 1 > ERCMP_STACK_CP + 1) {
        heap = malloc(3 * (nb + 1) * sizeof *heap);
        if (!heap)
            return max + 1;   /* out of memory: "too far", the safe answer */
        r2 = heap;
    }
    unsigned *r1 = r2 + (nb + 1), *r0 = r1 + (nb + 1);
    const unsigned cap = max + 1;
    const size_t below = (max + (na - nb)) / 2, above = (max - (na - nb)) / 2;
    for (size_t j = 0; j <= nb; j++) {
        r1[j] = j < cap ? (unsigned) j : cap;   /* row 0 */
        r2[j] = cap;
        r0[j] = cap;
    }
    unsigned result = cap;
    for (size_t i = 1; i <= na; i++) {
        size_t lo = i > below ? i - below : 1;
        size_t hi = i + above < nb ? i + above : nb;
        /* Left of the band: column 0 (= i; exact is always right) or a cell
         * this buffer held three rows ago, now outside. Right of the band
         * nothing was written yet (the band moves right one cell a row), so
         * the cells still hold max + 1 from the start. */
        r0[lo - 1] = lo == 1 && i < cap ? (unsigned) i : cap;
        unsigned rowmin = r0[lo - 1];
        for (size_t j = lo; j <= hi; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = r1[j - 1] + cost;                       /* substitute or keep */
            if (r1[j] + 1 < v)
                v = r1[j] + 1;                                   /* delete a[i-1] */
            if (r0[j - 1] + 1 < v)
                v = r0[j - 1] + 1;                               /* insert b[j-1] */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && r2[j - 2] + 1 < v)
                v = r2[j - 2] + 1;                               /* transpose */
            if (v > cap)
                v = cap;
            r0[j] = v;
            if (v < rowmin)
                rowmin = v;
        }
        /* Every cell of this row above max: so is the end. A transposition
         * jumps over the row, from (i-1, j-2) to (i+1, j), but when it
         * applies a[i-1] == b[j-2], so cell (i, j-1) of this row is at most
         * the cell it jumps from. */
        if (rowmin >= cap)
            goto out;
        unsigned *t = r2;
        r2 = r1;
        r1 = r0;
        r0 = t;
    }
    result = r1[nb];
out:
    free(heap);
    return result;
}

/* ---- name parts in any order ------------------------------------------- */

/* Splits a[0..n) at U+0020 into at most ERCMP_TOKENS_MAX tokens (offsets
 * and lengths); runs of spaces and spaces at either end make no empty
 * token. The last token takes the rest of the text when there are more. */
static size_t s_tokens(const uint32_t *a, size_t n, size_t *off, size_t *len)
{
    size_t k = 0, i = 0;
    while (i < n) {
        while (i < n && a[i] == ' ')
            i++;
        if (i == n)
            break;
        size_t start = i;
        if (k == ERCMP_TOKENS_MAX - 1) {
            size_t end = n;
            while (end > start && a[end - 1] == ' ')
                end--;
            i = n;
            off[k] = start;
            len[k++] = end - start;
            break;
        }
        while (i < n && a[i] != ' ')
            i++;
        off[k] = start;
        len[k++] = i - start;
    }
    return k;
}

double ercmp_tokens_jw(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t ao[ERCMP_TOKENS_MAX], al[ERCMP_TOKENS_MAX];
    size_t bo[ERCMP_TOKENS_MAX], bl[ERCMP_TOKENS_MAX];
    size_t ka = s_tokens(a, na, ao, al);
    size_t kb = s_tokens(b, nb, bo, bl);
    if (ka == 0 && kb == 0)
        return 1.0;
    if (ka == 0 || kb == 0)
        return 0.0;
    double s[ERCMP_TOKENS_MAX][ERCMP_TOKENS_MAX];
    for (size_t i = 0; i < ka; i++)
        for (size_t j = 0; j < kb; j++)
            s[i][j] = ercmp_jaro_winkler(a + ao[i], al[i], b + bo[j], bl[j]);
    /* Greedy one-to-one pairing, best pair first; ties go to the first
     * pair in a's order, then b's, so the result is deterministic. */
    uint32_t used_a = 0, used_b = 0;
    size_t pairs = ka < kb ? ka : kb;
    double sum = 0.0;
    for (size_t p = 0; p < pairs; p++) {
        double best = -1.0;
        size_t bi = 0, bj = 0;
        for (size_t i = 0; i < ka; i++) {
            if (used_a >> i & 1)
                continue;
            for (size_t j = 0; j < kb; j++)
                if (!(used_b >> j & 1) && s[i][j] > best) {
                    best = s[i][j];
                    bi = i;
                    bj = j;
                }
        }
        used_a |= (uint32_t) 1 << bi;
        used_b |= (uint32_t) 1 << bj;
        sum += best;
    }
    return sum / (double) (ka > kb ? ka : kb);
}

/* ---- dates --------------------------------------------------------------- */

static bool s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && s_leap(y) ? 29 : days[m - 1];
}

/* n ASCII digits at s as a number, or -1. */
static int s_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int ercmp_date_parse(const char *s, ercmp_date_t *out)
{
    ercmp_date_t d = {0, 0, 0};
    *out = d;
    if (!s)
        return -1;
    size_t len = strlen(s);
    if (len != 4 && len != 7 && len != 10)
        return -1;
    int y = s_digits(s, 4);
    if (y <= 0)
        return -1;
    d.y = (int16_t) y;
    if (len >= 7) {
        int m = s[4] == '-' ? s_digits(s + 5, 2) : -1;
        if (m < 1 || m > 12)
            return -1;
        d.m = (int8_t) m;
    }
    if (len == 10) {
        int day = s[7] == '-' ? s_digits(s + 8, 2) : -1;
        if (day < 1 || day > s_days_in_month(y, d.m))
            return -1;
        d.d = (int8_t) day;
    }
    *out = d;
    return 0;
}

/* Whether years x and y (1..9999) differ in exactly one of their four
 * decimal digits. */
static bool s_one_digit_off(int x, int y)
{
    int diff = 0;
    for (int i = 0; i < 4; i++, x /= 10, y /= 10)
        diff += x % 10 != y % 10;
    return diff == 1;
}

ercmp_date_level_t ercmp_date_level(ercmp_date_t a, ercmp_date_t b)
{
    if (a.y <= 0 || b.y <= 0)
        return ERCMP_DATE_MISSING;
    /* A day without a month means nothing: year only. */
    if (a.m == 0)
        a.d = 0;
    if (b.m == 0)
        b.d = 0;
    bool afull = a.m > 0 && a.d > 0, bfull = b.m > 0 && b.d > 0;
    int dy = a.y > b.y ? a.y - b.y : b.y - a.y;
    if (afull && bfull) {
        if (a.y == b.y && a.m == b.m && a.d == b.d)
            return ERCMP_DATE_EXACT;
        if (a.y == b.y && a.d == b.m && a.m == b.d)
            return ERCMP_DATE_SWAPPED;   /* d != m, or it would be exact */
        if (a.y == b.y && (a.m == b.m || a.d == b.d))
            return ERCMP_DATE_CLOSE;
        if (a.m == b.m && a.d == b.d && s_one_digit_off(a.y, b.y))
            return ERCMP_DATE_CLOSE;
    } else {
        /* At least one side partial: they agree when equal to the
         * precision both have; two partial dates that agree (1980 and
         * 1980, or 1980-05 and 1980-05) are PARTIAL too, never EXACT. */
        if (a.y == b.y && (a.m == 0 || b.m == 0 || a.m == b.m)
            && (a.d == 0 || b.d == 0 || a.d == b.d))
            return ERCMP_DATE_PARTIAL;
    }
    return dy <= 1 ? ERCMP_DATE_YEAR : ERCMP_DATE_DIFF;
}

/* ---- identifiers ----------------------------------------------------------- */

ercmp_id_level_t ercmp_id_level(const char *a, const char *b)
{
    if (!a || !b || !*a || !*b)
        return ERCMP_ID_MISSING;
    size_t n = strlen(a);
    if (strlen(b) != n)
        return ERCMP_ID_DIFF;
    size_t first = n, count = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            if (count++ == 0)
                first = i;
            if (count > 2)
                return ERCMP_ID_DIFF;
        }
    if (count == 0)
        return ERCMP_ID_EXACT;
    if (count == 1)
        return ERCMP_ID_ONE_OFF;
    if (first + 1 < n && a[first] == b[first + 1] && a[first + 1] == b[first])
        return ERCMP_ID_TRANSPOSED;
    return ERCMP_ID_DIFF;
}

/* ---- a phonetic key for Vietnamese syllables -------------------------------- *
 *
 * A Vietnamese syllable is written initial + (medial o/u) + vowel(s) +
 * final. The key form has lost the tone marks and the vowel marks (ă â ê ô
 * ơ ư) and has folded đ into d, so what is left to confuse is mostly the
 * initials. The rules are the spelling errors Vietnamese orthography
 * teaching lists for the standard (northern) pronunciation, where several
 * letters sound alike, plus pure spelling variants:
 *
 *   ngh/ng, gh/g, k/c/q  one sound each, the letter chosen by the vowel
 *                        (ngh, gh, k before i e ê y; qu for c + medial u):
 *                        typing the wrong one makes no other name. No cost.
 *   ph/f                 f is not Vietnamese, but foreign keyboards and
 *                        transcriptions write it ("Fương"). No cost.
 *   tr/ch                one sound in the north: the classic confusion.
 *   s/x                  one sound in the north and the south.
 *   d/gi/r               one sound (z) in the north. d in the key is also
 *                        đ, so Đặng/Giang, Đào/Giao meet; kept, as the
 *                        header asks and the cost is small (below).
 *   y/i alone            Vy/Vi, Mỹ/Mĩ, Lý/Lí, Kỳ/Kì, Sỹ/Sĩ, Quý/Quí: the
 *                        same sound written either way (a spelling reform
 *                        that never settled).
 *   uy/ui                Quý/Quí again, and ui typed for uy (Thùy/Thùi);
 *                        no common name has ui where another has uy.
 *   doubled letter       no Vietnamese spelling doubles a letter except ưu
 *                        (Lưu, Cừu) and oo (xoong), so a double is a slip
 *                        of the keyboard (or of a Telex input method).
 *
 * Not merged, though people confuse them, because they would join common
 * names that are different people: l/n (regional; Nam/Lam, Linh/Ninh),
 * final n/ng and c/t (southern; An/Ang, Hoàn/Hoàng, Đạt/Đắc), anh/an
 * (Anh is the most common given name, An is common too), ai/ay (Mai/Mây),
 * v/d (southern; Vy/Dy), th/t, kh/h.
 *
 * Cost, measured on ../shared/data/names (given names weighted by their
 * counts): the key has 548 distinct values for 595 distinct given-name
 * keys, and blocking on it makes 3.5% more given-name pairs than blocking
 * on the key itself: tr/ch 1.9% (Trinh/Chinh, Trung/Chung, Trí/Chí,
 * Trang/Chang), y/i 0.8% (wanted: Vy/Vi, My/Mi), d/gi/r 0.7% (Giang/Đăng),
 * the rest below 0.1%. For surnames 0.2% (Đặng/Giang, Đỗ/Rô). The
 * comparisons (Jaro-Winkler on the names) tell those pairs apart again;
 * what blocking must not do is lose the true pair. */

static bool s_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* Appends c to out[*n] while there is room for it and the NUL. */
static void s_put(char *out, size_t cap, size_t *n, char c)
{
    if (*n + 1 < cap)
        out[(*n)++] = c;
}

/* Written initials, longest first, with the key each becomes. */
static const struct {
    const char *spelling, *key;
} s_initials[] = {
    {"ngh", "ng"}, {"ng", "ng"}, {"nh", "nh"}, {"ch", "ch"}, {"tr", "ch"}, {"th", "th"},
    {"ph", "f"}, {"kh", "kh"}, {"gh", "g"}, {"gi", "z"}, {"qu", "cu"},
    {"b", "b"}, {"c", "c"}, {"d", "z"}, {"f", "f"}, {"g", "g"}, {"h", "h"}, {"k", "c"},
    {"l", "l"}, {"m", "m"}, {"n", "n"}, {"p", "p"}, {"r", "z"}, {"s", "x"}, {"t", "t"},
    {"v", "v"}, {"x", "x"}, {"z", "z"},
};

/* Finals that may follow the vowels of a syllable. */
static const char *const s_finals[] = {"ch", "ng", "nh", "c", "m", "n", "p", "t", ""};

/* The key of one syllable t[0..n) (letters a-z only) into out. Returns
 * false when it is not shaped like a Vietnamese syllable (initial, vowels,
 * final), leaving out untouched. */
static bool s_syllable(const char *t, size_t n, char *out, size_t cap, size_t *len)
{
    /* A doubled letter is a slip of the keyboard: no Vietnamese spelling
     * doubles a letter, except "uu" (ưu: Lưu, Cừu) and "oo" (xoong,
     * boong; no names), which stay. */
    char w[64];
    size_t m = 0;
    if (n >= sizeof w)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && t[i] == w[m - 1] && t[i] != 'u' && t[i] != 'o')
            continue;
        w[m++] = t[i];
    }
    w[m] = '\0';

    const char *ikey = "";
    size_t ilen = 0;
    for (size_t k = 0; k < sizeof s_initials / sizeof s_initials[0]; k++) {
        size_t sl = strlen(s_initials[k].spelling);
        if (strncmp(w, s_initials[k].spelling, sl) != 0)
            continue;
        /* "gi" before a consonant or alone is gi + i: gìn, gì. */
        if (strcmp(s_initials[k].spelling, "gi") == 0 && !s_vowel(w[2])) {
            ikey = "zi";
            ilen = 2;
            break;
        }
        ikey = s_initials[k].key;
        ilen = sl;
        break;
    }
    const char *r = w + ilen;   /* the rhyme: vowels, then a final */
    size_t nv = 0;
    while (s_vowel(r[nv]))
        nv++;
    if (nv == 0 && strcmp(ikey, "cu") != 0 && strcmp(ikey, "zi") != 0)
        return false;
    const char *fin = r + nv;
    bool final_ok = false;
    for (size_t k = 0; k < sizeof s_finals / sizeof s_finals[0]; k++)
        if (strcmp(fin, s_finals[k]) == 0)
            final_ok = true;
    if (!final_ok)
        return false;

    char v[16];
    size_t vn = 0;
    if (nv >= sizeof v)
        return false;
    memcpy(v, r, nv);
    vn = nv;
    /* "y" alone after an initial is the vowel i: Vy/Vi, Mỹ/Mĩ, Lý/Lí,
     * Kỳ/Kì, Quý/Quí. After "u" (uy) see below; "ay" and "ây" stay
     * apart from "ai" (Mai and Mây are two names). */
    if (vn == 1 && v[0] == 'y' && ilen > 0)
        v[0] = 'i';
    /* qu + y...: the u of "uy" is in the initial (Quyên = cu + yên). */
    if (strcmp(ikey, "cu") == 0 && vn > 0 && v[0] == 'y')
        v[0] = 'i';
    /* "uy" and "ui": Quý/Quí written both ways, and ui/uy typed for each
     * other (Thùy/Thùi, Huy/Hui). */
    for (size_t k = 0; k + 1 < vn; k++)
        if (v[k] == 'u' && v[k + 1] == 'y')
            v[k + 1] = 'i';

    for (const char *p = ikey; *p; p++)
        s_put(out, cap, len, *p);
    for (size_t k = 0; k < vn; k++) {
        /* qu + u... cannot happen in spelling; "cu" + "u" stays one u. */
        if (k == 0 && strcmp(ikey, "cu") == 0 && v[0] == 'u')
            continue;
        s_put(out, cap, len, v[k]);
    }
    for (const char *p = fin; *p; p++)
        s_put(out, cap, len, *p);
    return true;
}

size_t ercmp_vn_phonetic(const char *key, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = key;
    while (*p) {
        if (*p == ' ') {
            s_put(out, cap, &n, ' ');
            p++;
            continue;
        }
        const char *start = p;
        bool letters = true;
        while (*p && *p != ' ') {
            char c = *p >= 'A' && *p <= 'Z' ? (char) (*p - 'A' + 'a') : *p;
            if (c < 'a' || c > 'z')
                letters = false;
            p++;
        }
        size_t tn = (size_t) (p - start);
        char low[64];
        bool done = false;
        if (letters && tn < sizeof low) {
            for (size_t i = 0; i < tn; i++)
                low[i] = start[i] >= 'A' && start[i] <= 'Z' ? (char) (start[i] - 'A' + 'a') : start[i];
            low[tn] = '\0';
            done = s_syllable(low, tn, out, cap, &n);
        }
        if (!done)   /* not a Vietnamese syllable: lower-cased as it is */
            for (size_t i = 0; i < tn; i++)
                s_put(out, cap, &n, start[i] >= 'A' && start[i] <= 'Z'
                                        ? (char) (start[i] - 'A' + 'a') : start[i]);
    }
    out[n] = '\0';
    return n;
}
