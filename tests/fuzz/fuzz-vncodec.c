/* fuzz-vncodec.c — the four decoders of adapters/file-drop/vncodec.c on the
 * same bytes: UTF-8 (validation + NFC), CP1258 (iconv + NFC), TCVN3, VNI.
 * Checks: a failure points inside the input; a success is valid UTF-8 in
 * NFC (decoding it again as UTF-8 gives the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vncodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vncodec_t *codecs[VNCODEC__COUNT];
    vncodec_buf_t out = { 0 }, again = { 0 };
    for (int e = 0; e < VNCODEC__COUNT; e++) {
        if (!codecs[e])
            codecs[e] = vncodec_new((vncodec_enc_t)e);     /* kept: iconv_open is slow */
        vncodec_error_t err;
        out.len = 0;
        if (vncodec_decode(codecs[e], data, size, &out, &err) != 0) {
            if (err.pos >= size && size > 0)
                abort();
            continue;
        }
        again.len = 0;
        if (vncodec_utf8_nfc(out.data, out.len, &again, &err) != 0)
            abort();                           /* not valid UTF-8 */
        if (again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
            abort();                           /* not NFC */
    }
    vncodec_buf_free(&out);
    vncodec_buf_free(&again);
    return 0;
}
