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

/* Jaro similarity in [0, 1]; two empty strings are 1, one empty 0. */
double ercmp_jaro(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* Jaro-Winkler in [0, 1]: the Jaro similarity raised for a common prefix
 * of up to 4 code points (scaling 0.1), as Winkler (1990). */
double ercmp_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* Damerau-Levenshtein distance in its optimal-string-alignment form
 * (insertions, deletions, substitutions, transpositions of two adjacent
 * code points; no substring edited twice). Bounded: returns max + 1 as soon
 * as the distance is known to exceed max, so comparing long, different
 * strings costs O(max * n). */
unsigned ercmp_damerau(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, unsigned max);

/* Names whose parts may be in another order ("Văn An Nguyễn" / "Nguyễn Văn
 * An", or the given name first as foreign systems write it): a and b are
 * token lists separated by single spaces (U+0020). Each token of the
 * shorter list is paired one-to-one with the most similar unused token of
 * the other (Jaro-Winkler, greedy by best score); the result is the sum of
 * the pair scores divided by the number of tokens of the LONGER list, so
 * the same parts in another order score 1.0 and a missing middle name
 * costs a part. */
double ercmp_tokens_jw(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* A date of a given precision: y > 0; m = 0 when only the year is known;
 * d = 0 when only the year and month are. */
typedef struct {
    int16_t y;
    int8_t  m, d;
} ercmp_date_t;

/* Parses "YYYY", "YYYY-MM" or "YYYY-MM-DD" (the canonical forms). Returns 0,
 * or -1 (and *out all zero) for anything else, including impossible dates. */
int ercmp_date_parse(const char *s, ercmp_date_t *out);

/* How two dates agree, best level first. */
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
 * the 9-digit CMND) agree. */
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
 * knows Vietnamese syllables; other text passes through lower-cased. */
size_t ercmp_vn_phonetic(const char *key, char *out, size_t cap);

#endif
