/* vntext.h — Vietnamese text: UTF-8 validation, NFC, matching keys.
 *
 * Built on utf8proc. Every function takes a byte string with its length
 * (embedded NULs are allowed but unusual) and either returns 0 and a
 * malloc'ed, NUL-terminated result the caller frees, or returns -1 and
 * stores in *bad_offset the byte offset of the first byte that is not part
 * of valid UTF-8 (surrogates and overlong forms are invalid): the first
 * byte of the sequence that fails, as Python's decoder reports it. Out of
 * memory is -1 with *bad_offset SIZE_MAX. */
#ifndef LGSP_VNTEXT_H
#define LGSP_VNTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* 0 if s[0..len) is valid UTF-8; -1 and *bad_offset otherwise. */
int vntext_validate(const char *s, size_t len, size_t *bad_offset);

/* Unicode NFC of s into *out (caller frees). */
int vntext_nfc(const char *s, size_t len, char **out, size_t *bad_offset);
/* True when s is valid UTF-8 that NFC certainly leaves unchanged (ASCII,
 * Latin up to U+02FF, precomposed Vietnamese U+1EA0-U+1EF9); false means
 * "not known", not "not NFC". Cheap; lets callers skip the copy. */
bool vntext_nfc_quick(const char *s, size_t len);

/* The matching key of s into *out (caller frees): case-folded, diacritics
 * removed (NFD, combining marks dropped), đ/Đ -> d, runs of white space
 * collapsed to one ASCII space, leading and trailing white space trimmed.
 * "  Phường  HÒA   Khánh Bắc " -> "phuong hoa khanh bac". */
int vntext_key(const char *s, size_t len, char **out, size_t *bad_offset);

/* Like vntext_key but keeping the diacritics: NFC, case-folded, white
 * space collapsed and trimmed. "  Xã  TAM Thành" -> "xã tam thành". It has
 * as many code points as the key of the same text (for text whose marks
 * all compose, as Vietnamese letters do). */
int vntext_fold(const char *s, size_t len, char **out, size_t *bad_offset);

#endif
