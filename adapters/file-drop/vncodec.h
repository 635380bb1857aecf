/* vncodec.h — decoders of the Vietnamese text encodings met in department
 * exports, each to UTF-8 in Unicode NFC:
 *   utf-8    validated (position of the first bad byte), then NFC (utf8proc)
 *   cp1258   Windows-1258 through glibc iconv, then NFC: CP1258 writes most
 *            toned letters as base letter + combining tone mark
 *   tcvn3    TCVN 5712:1993 table VN3 ("ABC"), from the published code chart
 *   vni      VNI for Windows (font encoding: ASCII base letter followed by a
 *            separate tone/diacritic byte), from the published code chart
 * glibc has no converter for the last two, so their tables are here.
 *
 * A self-contained unit (utf8proc and iconv only) so that the mapping stage
 * can reuse it. Not thread-safe per object: one vncodec_t per thread. */
#ifndef LGSP_VNCODEC_H
#define LGSP_VNCODEC_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    VNCODEC_UTF8 = 0,
    VNCODEC_CP1258,
    VNCODEC_TCVN3,
    VNCODEC_VNI,
    VNCODEC__COUNT
} vncodec_enc_t;

/* A growing output buffer; data is always NUL-terminated once written.
 * Zero-initialise it; free with vncodec_buf_free(). */
typedef struct {
    char  *data;
    size_t len, cap;
} vncodec_buf_t;

/* Where and why decoding stopped. */
typedef struct {
    size_t pos;                  /* offset of the first undecodable byte in the input */
    char   msg[128];             /* "byte 0x81 is not defined in cp1258" */
} vncodec_error_t;

typedef struct vncodec vncodec_t;

/* Parses an encoding name, case-insensitive, with the usual aliases:
 * utf-8/utf8, cp1258/windows-1258, tcvn3/tcvn/abc/tcvn5712-3/vn3,
 * vni/vni-windows. Returns 0 or -1. */
int vncodec_enc_parse(const char *name, vncodec_enc_t *enc);
/* The canonical name: "utf-8", "cp1258", "tcvn3", "vni". */
const char *vncodec_enc_name(vncodec_enc_t enc);

/* Returns a decoder, or NULL (cp1258: iconv has no CP1258 converter). */
vncodec_t *vncodec_new(vncodec_enc_t enc);
void vncodec_destroy(vncodec_t **self_p);
vncodec_enc_t vncodec_enc(const vncodec_t *self);

/* Decodes len bytes and appends the NFC UTF-8 text to out. Returns 0, or
 * -1 with err filled (what was decoded before the bad byte stays appended).
 * A NUL byte is an error in every encoding: no legacy export holds one and
 * the text is used as C strings further on. */
int vncodec_decode(vncodec_t *self, const void *in, size_t len, vncodec_buf_t *out,
                   vncodec_error_t *err);

/* Appends the NFC form of UTF-8 text (validated as in vncodec_decode). */
int vncodec_utf8_nfc(const void *in, size_t len, vncodec_buf_t *out, vncodec_error_t *err);

/* Length of a UTF-8 byte-order mark at the start of data (3 or 0). */
size_t vncodec_bom_len(const void *data, size_t len);

/* Appends bytes to a buffer (keeps it NUL-terminated). Returns 0 or -1 (no memory). */
int vncodec_buf_put(vncodec_buf_t *b, const void *p, size_t n);
void vncodec_buf_free(vncodec_buf_t *b);

#endif
