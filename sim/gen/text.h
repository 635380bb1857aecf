/* text.h — Unicode text transforms used by the views and the noise:
 * case mapping, NFD, stripping diacritics, and realistic typing errors.
 * Input is NFC UTF-8; results are appended to an sbuf. */
#ifndef LGSP_SIM_TEXT_H
#define LGSP_SIM_TEXT_H

#include <stdbool.h>

#include "rng.h"
#include "util.h"

void text_upper(const char *s, sbuf_t *out);
void text_lower(const char *s, sbuf_t *out);
void text_nfd(const char *s, sbuf_t *out);
/* Removes tone and vowel marks, đ -> d, Đ -> D. */
void text_strip(const char *s, sbuf_t *out);
bool text_has_nonascii(const char *s);
/* True when NFD differs from the text (something decomposes). */
bool text_decomposes(const char *s);
/* One typing error: wrong tone mark, a dropped, doubled, swapped or
 * neighbouring-key letter. Always changes the text when it has >= 2 letters;
 * returns false (out untouched) otherwise. */
bool text_typo(rng_t *r, const char *s, sbuf_t *out);

#endif
