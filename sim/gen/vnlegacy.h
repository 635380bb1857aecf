/* vnlegacy.h — the legacy Vietnamese encodings of commune software:
 * TCVN3 (ABC, the VN3 table of TCVN 5712:1993) and VNI-Windows from our own
 * table (vnlegacy.c; glibc iconv has neither), Windows-1258 through glibc
 * iconv (which decomposes into base letter + combining tone mark). */
#ifndef LGSP_SIM_VNLEGACY_H
#define LGSP_SIM_VNLEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum { VN_UTF8 = 0, VN_TCVN3, VN_VNI, VN_CP1258, VN__COUNT } vn_charset_t;

extern const char *const vn_charset_name[VN__COUNT];   /* "UTF-8", "TCVN3", "VNI-Windows", "CP1258" */

/* One row of the table: a Vietnamese letter outside ASCII. */
typedef struct {
    uint32_t    cp;        /* Unicode code point (NFC) */
    const char *tcvn3;     /* its TCVN3 byte */
    int         tcvn3_exact; /* 0: TCVN3 has no such capital; the lowercase byte is written */
    const char *vni;       /* its VNI-Windows bytes (1 or 2) */
} vn_row_t;

extern const vn_row_t vn_table[];
extern const size_t   vn_table_len;

/* Encodes NFC UTF-8 text into out (appended). Returns the number of
 * characters that could not be encoded exactly: for TCVN3 the capitals it
 * lacks (written as their lowercase), '?' for anything not Vietnamese. */
size_t vn_encode(vn_charset_t cs, const char *utf8, sbuf_t *out);
/* Decodes into NFC UTF-8 (appended). Returns the number of undecodable bytes. */
size_t vn_decode(vn_charset_t cs, const char *bytes, size_t n, sbuf_t *out);
/* True when s is made only of ASCII letters, spaces and Vietnamese letters
 * (used to drop glitches of the name sources, e.g. mojibake). */
bool   vn_is_name(const char *utf8);
/* What the text reads as after an encode/decode round trip (TCVN3 folds the
 * capitals it lacks); appends to out; returns true when it differs. */
bool   vn_roundtrip(vn_charset_t cs, const char *utf8, sbuf_t *out);

#endif
