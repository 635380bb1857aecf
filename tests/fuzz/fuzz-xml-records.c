/* fuzz-xml-records.c — XML record extraction (adapters/file-drop/records.c):
 * libxml2 parsing with no network and no DTD, records picked by element
 * name and by an XPath with a namespace, each serialized (copied with its
 * namespaces when they are declared above it), normalised to NFC, and its
 * id read by XPath. The first byte picks the configuration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_item(void *arg, const fdrec_item_t *it)
{
    size_t *n = arg;
    if (!it->reason && (!it->source_id || !*it->source_id || strlen(it->payload) != it->payload_len))
        abort();
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fdrec_t *readers[3];
    static const char *ns[] = { "dc", "urn:lgsp-sim:dn-dancu:1", NULL };
    if (!readers[0]) {
        char err[256];
        fdrec_opts_t a = { .format = FDREC_XML, .xml_records = "ThuaDat", .id = "{@maThuaDat}" };
        fdrec_opts_t b = { .format = FDREC_XML, .xml_records = "//dc:CongDan", .xml_ns = ns,
                           .id = "{@id}/{dc:HoTen/dc:Ten}/{count(*)}", .max_record = 4096 };
        fdrec_opts_t c = { .format = FDREC_XML, .xml_records = "/*/*", .id = "{local-name()}:{line}" };
        readers[0] = fdrec_new(&a, err, sizeof err);
        readers[1] = fdrec_new(&b, err, sizeof err);
        readers[2] = fdrec_new(&c, err, sizeof err);
        if (!readers[0] || !readers[1] || !readers[2])
            abort();
    }
    if (size < 1)
        return 0;
    fdrec_t *r = readers[data[0] % 3];
    vncodec_enc_t enc = (data[0] >> 2) & 1 ? VNCODEC_TCVN3 : VNCODEC_UTF8;
    size_t items = 0, line;
    char err[256];
    fdrec_read(r, "fuzz.xml", data + 1, size - 1, enc, s_item, &items, err, sizeof err, &line);
    return 0;
}
