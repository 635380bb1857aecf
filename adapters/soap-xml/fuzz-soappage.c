/* fuzz-soappage.c — libFuzzer target of what soap-xml does with bytes from
 * the network and from its settings: an answer (libxml2 without network or
 * external entities, envelope, faults, records by XPath with a namespace,
 * ids, watermarks, each record serialized alone) and a request template
 * (placeholders, XML escaping). In an ordinary build it is linked with
 * tests/fuzz/replay.c and replays fuzz-corpus/ as a test.
 *
 * Input: byte 0 picks what is fed (even: an answer; odd: a template), the
 * rest is the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soappage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static soap_ns_t s_ns[] = {{"dc", "urn:lgsp-sim:dn-dancu:1"}};
static soappage_conf_t s_conf;

static void s_init(void)
{
    char err[256];
    xmlInitParser();
    s_conf.ns = s_ns;
    s_conf.nns = 1;
    s_conf.records = soappage_compile("/soap:Envelope/soap:Body/*/dc:DanhSachCongDan/dc:CongDan"
                                      " | //dc:Ban", err, sizeof err);
    s_conf.id = soappage_compile("@id | dc:Ma", err, sizeof err);
    s_conf.watermark = soappage_compile("@capNhat", err, sizeof err);
    s_conf.total_pages = soappage_compile("//dc:SoTrang", err, sizeof err);
    s_conf.total = soappage_compile("count(//dc:CongDan)", err, sizeof err);
    if (!s_conf.records || !s_conf.id || !s_conf.watermark || !s_conf.total_pages || !s_conf.total)
        abort();
}

static size_t s_occurs(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void s_template(const char *text)
{
    char err[256];
    soap_template_t *t = soap_template_new(text, err, sizeof err);
    if (!t) {
        if (!err[0])
            abort();
        return;
    }
    soap_values_t v = {"2025-07-01T00:00:00+07:00", "1", "500", "a<b&c", "\"p'w>d\""};
    size_t len;
    char *out = soap_template_render(t, &v, &len);
    if (!out || strlen(out) != len)
        abort();
    /* values never come out unescaped: no more of them than the text had */
    if (s_occurs(out, "a<b&c") > s_occurs(text, "a<b&c")
        || s_occurs(out, "\"p'w>d\"") > s_occurs(text, "\"p'w>d\""))
        abort();
    free(out);
    soap_template_destroy(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_conf.records)
        s_init();
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        char *text = malloc(size);
        if (!text)
            return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        s_template(text);
        free(text);
        return 0;
    }
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char what[300];
    bool retry;
    if (soappage_fault(body, len, what, sizeof what, &retry) && strncmp(what, "soap:", 5))
        abort();
    soappage_t p = {0};
    pullsrc_page_t pg = {.total_pages = -1, .total = -1};
    int rc = soappage_parse(&p, &s_conf, body, len, &pg);
    if (rc == PULLSRC_PAGE) {
        for (long i = 0; i < pg.count; i++) {
            pullsrc_item_t it = {0};
            if (soappage_item(&p, &s_conf, i, &it) < 0)
                abort();
            if (!it.payload || strlen(it.payload) != it.payload_len)
                abort();
            if (!it.reason && (!it.source_id || !*it.source_id || strlen(it.source_id) > 255))
                abort();
        }
    } else if (!pg.reason[0]) {
        abort();
    }
    soappage_release(&p);
    return 0;
}
