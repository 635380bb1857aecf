/* fuzz-jsonpage.c — libFuzzer target of what http-json does with an answer
 * from the network: jansson, the record array and totals at their paths,
 * each record's payload, id and watermark (jsonpage.c), and the watermark's
 * time parsing and formatting (incsync.c). In an ordinary build it is
 * linked with tests/fuzz/replay.c and replays fuzz-corpus/ as a test.
 *
 * Input: byte 0 picks what is fed (even: an answer; odd: a watermark text),
 * the rest is the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "incsync.h"
#include "jsonpage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A time that parses formats back to the same instant. */
static void s_time(const char *text)
{
    int64_t s1, s2;
    long n1, n2;
    int o1, o2;
    if (!incsync_parse_time(text, 420, &s1, &n1, &o1))
        return;
    if (n1 < 0 || n1 > 999999999)
        abort();
    incsync_conf_t c = {.type = INCSYNC_TIME, .default_offset_min = 420};
    char out[96];
    for (int f = INCSYNC_SINCE_ISO8601; f <= INCSYNC_SINCE_UTC; f++) {
        c.since_format = (incsync_since_t)f;
        if (incsync_format_since(&c, text, out, sizeof out) < 0)
            abort();
        /* years outside 1000..9999 do not print as four digits */
        if (!incsync_parse_time(out, 420, &s2, &n2, &o2)) {
            if (s1 > -30610224000LL + 86400 * 2 && s1 < 253402300799LL - 86400 * 2)
                abort();
            continue;
        }
        if (s1 != s2 || n1 != n2)
            abort();
    }
    if (incsync_cmp(&c, text, text) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        char text[128];
        size_t n = size - 1 < sizeof text - 1 ? size - 1 : sizeof text - 1;
        memcpy(text, data + 1, n);
        text[n] = '\0';
        s_time(text);
        return 0;
    }
    static const jsonpage_conf_t c = {.records = "data", .total_pages = "total_pages",
                                      .total = "meta.0.total", .id = "id",
                                      .watermark = "updated_at"};
    jsonpage_t p = {0};
    pullsrc_page_t pg = {.total_pages = -1, .total = -1};
    int rc = jsonpage_parse(&p, &c, (const char *)data + 1, size - 1, &pg);
    if (rc == PULLSRC_PAGE) {
        if (pg.count < 0 || pg.total_pages < -1 || pg.total < -1)
            abort();
        for (long i = 0; i < pg.count; i++) {
            pullsrc_item_t it = {0};
            if (jsonpage_item(&p, &c, i, &it) < 0)
                abort();
            if (!it.payload || strlen(it.payload) != it.payload_len)
                abort();
            if (!it.reason && (!it.source_id || !*it.source_id || strlen(it.source_id) > 255))
                abort();
            if (it.watermark)
                s_time(it.watermark);
        }
    } else if (rc != PULLSRC_MALFORMED || !pg.reason[0]) {
        abort();
    }
    jsonpage_release(&p);
    return 0;
}
