/* fuzz-csv.c — the CSV reader (adapters/file-drop/csvread.c) and the CSV
 * record reader on top of it (records.c: header, decoding, JSON objects,
 * id template). The first byte picks the delimiter and the encoding; the
 * rest is the file. Checks the reader's invariants: every row's raw bytes
 * lie inside the input, lines only grow, every call makes progress. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_item(void *arg, const fdrec_item_t *it)
{
    size_t *n = arg;
    if (!it->reason && (!it->source_id || !it->payload || strlen(it->payload) != it->payload_len))
        abort();
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char delims[4] = { ',', ';', '\t', '|' };
    char delim = delims[data[0] & 3];
    vncodec_enc_t enc = (vncodec_enc_t)((data[0] >> 2) % VNCODEC__COUNT);
    const uint8_t *in = data + 1;
    size_t len = size - 1;

    csvread_t *r = csvread_new(in, len, delim, '"');
    size_t last_line = 0, last_off = 0, rows = 0;
    int rc;
    while ((rc = csvread_next(r)) != CSVREAD_END) {
        size_t rl;
        const char *raw = csvread_raw(r, &rl);
        size_t off = csvread_offset(r);
        if ((const uint8_t *)raw != in + off || off + rl > len || csvread_line(r) < last_line ||
            (rows && off <= last_off) || csvread_lines(r) == 0)
            abort();
        if (rc == CSVREAD_ROW) {
            for (size_t i = 0; i < csvread_nfields(r); i++) {
                size_t fl;
                const char *f = csvread_field(r, i, &fl);
                if (!f || f[fl] != '\0' || fl > rl)
                    abort();
            }
        } else if (!csvread_error(r)[0]) {
            abort();
        }
        last_line = csvread_line(r);
        last_off = off;
        if (++rows > len + 1)
            abort();            /* no progress */
    }
    csvread_destroy(&r);

    fdrec_opts_t o = { .format = FDREC_CSV, .csv_delim = delim, .csv_header = true, .final_newline = true,
                       .id = "{#1}/{file:1:a=b}-{line}", .name_regex = "^([a-z]+)" };
    char err[256];
    fdrec_t *fr = fdrec_new(&o, err, sizeof err);
    if (!fr)
        abort();
    size_t items = 0;
    size_t line;
    fdrec_read(fr, "fuzz.csv", in, len, enc, s_item, &items, err, sizeof err, &line);
    fdrec_destroy(&fr);
    return 0;
}
