/* ercmp.h — the comparison functions of entity resolution.
 *
 * Pure functions, no allocation on the hot paths, no global state: the
 * engine (er.c) calls them for every candidate pair, tens of millions of
 * times in a full-scale run, from several threads.
 *
 * Strings are compared as arrays of Unicode code points (uint32_t), so that
 * a Vietnamese letter with its marks ("ễ") is one position, as a person
 * reading the name counts it. The engine decodes each value once
 * (ercmp_decode) and keeps the arrays. */
#ifndef LGSP_ERCMP_H
#define LGSP_ERCMP_H

#include <stddef.h>
#include <stdint.h>

/* Decodes UTF-8 s[0..len) into out (at most cap code points); returns the
 * number of code points, or (size_t) -1 if s is not valid UTF-8. When the
 * text has more than cap code points the first cap are stored and the full
 * count is returned. */
size_t ercmp_decode(const char *s, size_t len, uint32_t *out, size_t cap);

/* Jaro similarity in [0, 1]; two empty strings are 1, one empty 0.
 * Textbook: match window floor(max(na, nb) / 2) - 1 (at least 0), each
 * code point of a matched to the first unmatched equal one of b in the
 * window; t = half the positions where the two sequences of matched code
 * points differ, halved with integer division as Winkler's strcmp95 does;
 * (m/na + m/nb + (m - t)/m) / 3. A string longer than 256 code points may
 * make it use the heap (0 if that fails). */
double ercmp_jaro(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* Jaro-Winkler in [0, 1]: the Jaro similarity raised for a common prefix
 * of up to 4 code points (scaling 0.1), as Winkler (1990):
 * jw = j + l * 0.1 * (1 - j). Decided: the boost applies whatever j is
 * (no 0.7 "boost threshold"), so the function is smooth; callers threshold
 * the result themselves. */
double ercmp_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* Damerau-Levenshtein distance in its optimal-string-alignment form
 * (insertions, deletions, substitutions, transpositions of two adjacent
 * code points; no substring edited twice). Bounded: returns max + 1 as soon
 * as the distance is known to exceed max (a whole row of the matrix above
 * max, or lengths more than max apart), so comparing long, different
 * strings costs O(max * n). A common prefix and suffix are dropped first.
 * Working rows live on the stack while the shorter string (after that) has
 * at most 256 code points, on the heap beyond (max + 1 if that fails). */
unsigned ercmp_damerau(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, unsigned max);

/* Names whose parts may be in another order ("Văn An Nguyễn" / "Nguyễn Văn
 * An", or the given name first as foreign systems write it): a and b are
 * token lists separated by single spaces (U+0020). Each token of the
 * shorter list is paired one-to-one with the most similar unused token of
 * the other (Jaro-Winkler, greedy by best score); the result is the sum of
 * the pair scores divided by the number of tokens of the LONGER list, so
 * the same parts in another order score 1.0 and a missing middle name
 * costs a part. Decided: runs of spaces and spaces at either end make no
 * empty token; no tokens on both sides is 1.0, on one side 0.0; equal
 * scores go to the first pair in a's order, then b's; a side with more
 * than 16 tokens has its 16th token run to the end of the text. */
double ercmp_tokens_jw(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* A date of a given precision: y > 0; m = 0 when only the year is known;
 * d = 0 when only the year and month are. */
typedef struct {
    int16_t y;
    int8_t  m, d;
} ercmp_date_t;

/* Parses "YYYY", "YYYY-MM" or "YYYY-MM-DD" (the canonical forms). Returns 0,
 * or -1 (and *out all zero) for anything else, including impossible dates
 * (Gregorian leap years: 1900-02-29 is rejected, 2000-02-29 accepted),
 * year 0000, signs, spaces, other separators, one-digit months or days,
 * and s NULL. */
int ercmp_date_parse(const char *s, ercmp_date_t *out);

/* How two dates agree, best level first: the first level that holds.
 * Decided: PARTIAL whenever either side is partial and both agree to the
 * precision both have, so two equal partial dates (1980 and 1980, or
 * 1980-05 and 1980-05) are PARTIAL, not EXACT: they say less than two equal
 * full dates. A partial date that does not agree falls to YEAR (same year
 * or within 1) or DIFF; SWAPPED and CLOSE need two full dates. "One digit
 * off" is exactly one of the four decimal digits of the year (1980/1989,
 * 1980/1880; 1979/1980 differs in two and is YEAR). A day given with
 * m == 0 is ignored (year only). The levels are symmetric in a and b. */
typedef enum {
    ERCMP_DATE_EXACT   = 0,   /* same date at the same (full) precision */
    ERCMP_DATE_SWAPPED = 1,   /* same year, day and month swapped (both full, d != m) */
    ERCMP_DATE_PARTIAL = 2,   /* one is year (or year-month) only and agrees with the other */
    ERCMP_DATE_CLOSE   = 3,   /* full dates one typo apart: same year and month or same year and
                                 day, or the year one digit off with the same day and month */
    ERCMP_DATE_YEAR    = 4,   /* only the years agree, or they are within 1 */
    ERCMP_DATE_DIFF    = 5,   /* anything else */
    ERCMP_DATE_MISSING = 6,   /* either side absent (y == 0) */
} ercmp_date_level_t;
ercmp_date_level_t ercmp_date_level(ercmp_date_t a, ercmp_date_t b);

/* How two identifiers (digit strings such as the 12-digit personal ID or
 * the 9-digit CMND) agree. Compared byte by byte, whatever the bytes are
 * (no normalisation: the caller strips spaces or letters); IDs of
 * different lengths are DIFF, even when one is a prefix of the other. */
typedef enum {
    ERCMP_ID_EXACT      = 0,
    ERCMP_ID_ONE_OFF    = 1,  /* same length, exactly one position differs */
    ERCMP_ID_TRANSPOSED = 2,  /* same length, two adjacent positions swapped */
    ERCMP_ID_DIFF       = 3,
    ERCMP_ID_MISSING    = 4,  /* either is NULL or empty */
} ercmp_id_level_t;
ercmp_id_level_t ercmp_id_level(const char *a, const char *b);

/* A phonetic key for one Vietnamese name part, given in its matching-key
 * form (lower case ASCII, no diacritics, as vntext_key makes it: "nguyen",
 * "thuy"): spellings that sound alike or that clerks mix up map to one key
 * (initials d/gi/r, tr/ch, s/x, k/c/q, ph/f, ngh/ng, gh/g; finals y/i,
 * uy/ui, and the like), so that blocking on it still brings typo'd names
 * together. Writes a NUL-terminated key into out (cap >= 1) and returns its
 * length (truncated to cap - 1). Not a general phonetic algorithm: it only
 * knows Vietnamese syllables; other text passes through lower-cased.
 *
 * Each space-separated part is read as initial + vowels + final (c ch m n
 * ng nh p t or none); a part not of that shape (foreign names, digits,
 * punctuation) is copied lower-cased. The rules (why, and the cost, in
 * ercmp.c): a doubled letter is one (except uu, oo); initials ngh -> ng,
 * gh -> g, k and q -> c (qu -> cu), ph and f -> f, tr -> ch, s -> x, d, gi
 * and r -> z; the vowel y alone after an initial -> i; uy -> ui. Kept
 * apart on purpose: l/n, final n/ng, c/t, ai/ay, an/anh. Note that the key
 * form has already merged đ into d, so d/gi also brings Đặng and Giang
 * together. The key is idempotent: a key is its own key. */
size_t ercmp_vn_phonetic(const char *key, char *out, size_t cap);

#endif
