/* fuzz-jsonl.c — JSON lines (adapters/file-drop/records.c): line splitting,
 * decoding (the first byte picks the encoding), jansson validation, the id
 * template over dotted paths into objects and arrays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_item(void *arg, const fdrec_item_t *it)
{
    size_t *n = arg;
    if (!it->reason && (!it->source_id || strlen(it->payload) != it->payload_len))
        abort();
    if (it->line == 0)
        abort();
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fdrec_t *r;
    if (!r) {
        char err[256];
        fdrec_opts_t o = { .format = FDREC_JSONL, .final_newline = true, .max_record = 1 << 16,
                           .id = "{event_id}/{data.registration.number}/{data.list.0}" };
        r = fdrec_new(&o, err, sizeof err);
        if (!r)
            abort();
    }
    if (size < 1)
        return 0;
    vncodec_enc_t enc = (vncodec_enc_t)(data[0] % VNCODEC__COUNT);
    size_t items = 0, line;
    char err[256];
    fdrec_read(r, "fuzz.jsonl", data + 1, size - 1, enc, s_item, &items, err, sizeof err, &line);
    return 0;
}
