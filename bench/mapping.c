/* mapping.c — the mapping engine's cost against parsing alone
 * (`bench/run mapping`, docs/benchmarks.md).
 *
 * Loads the raw records of a generated world into memory as the adapters
 * publish them: qn-population's persons.jsonl one line per record (the
 * http-json adapter's payloads are those objects), dn-population's
 * congdan.xml one <CongDan> element per record, serialized alone with its
 * xmlns (as the soap-xml adapter does: a copy in a document of its own,
 * xmlNodeDump). Then, on the same bytes, single-threaded, best of RUNS:
 *
 *   raw parse   json_loadb + json_decref / xmlReadMemory + xmlFreeDoc
 *   mapping     mapping_run (parse, every rule, recoding, personal-ID and
 *               JSON Schema checks) + mapping_result_clear
 *
 * and prints records/s and MB/s of each, and the ratio mapping/raw. The
 * last line is the headline:
 *   mapping: json ratio <R1>, xml ratio <R2> */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "mapping.h"

typedef struct {
    char   *buf;            /* all payloads, back to back */
    size_t  len, cap;
    size_t *off, *plen;     /* each payload */
    size_t  n, capn;
} payloads_t;

static void s_add(payloads_t *p, const char *data, size_t len)
{
    if (p->len + len > p->cap) {
        while (p->len + len > p->cap)
            p->cap = p->cap ? p->cap * 2 : 1 << 20;
        p->buf = realloc(p->buf, p->cap);
    }
    if (p->n == p->capn) {
        p->capn = p->capn ? p->capn * 2 : 4096;
        p->off = realloc(p->off, p->capn * sizeof *p->off);
        p->plen = realloc(p->plen, p->capn * sizeof *p->plen);
    }
    if (!p->buf || !p->off || !p->plen) {
        fprintf(stderr, "bench mapping: out of memory\n");
        exit(1);
    }
    memcpy(p->buf + p->len, data, len);
    p->off[p->n] = p->len;
    p->plen[p->n++] = len;
    p->len += len;
}

static char *s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench mapping: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t) sz + 1);
    if (!b || fread(b, 1, (size_t) sz, f) != (size_t) sz) {
        fprintf(stderr, "bench mapping: %s: cannot read\n", path);
        exit(1);
    }
    fclose(f);
    b[sz] = 0;
    *len = (size_t) sz;
    return b;
}

/* One payload per non-empty line. */
static void s_load_jsonl(payloads_t *p, const char *path, size_t max)
{
    size_t len;
    char *b = s_read(path, &len);
    for (char *s = b, *e; s < b + len && (!max || p->n < max); s = e + 1) {
        e = memchr(s, '\n', (size_t) (b + len - s));
        if (!e)
            e = b + len;
        if (e > s)
            s_add(p, s, (size_t) (e - s));
    }
    free(b);
}

/* Each child element of the root, serialized alone (soappage.c's way). */
static void s_load_xml(payloads_t *p, const char *path, size_t max)
{
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_HUGE);
    if (!doc || !xmlDocGetRootElement(doc)) {
        fprintf(stderr, "bench mapping: %s: not XML\n", path);
        exit(1);
    }
    xmlBufferPtr xb = xmlBufferCreate();
    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n && (!max || p->n < max); n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        xmlDocPtr one = xmlNewDoc(BAD_CAST "1.0");
        xmlNodePtr copy = xmlDocCopyNode(n, one, 1);
        xmlDocSetRootElement(one, copy);
        xmlBufferEmpty(xb);
        if (xmlNodeDump(xb, one, copy, 0, 0) < 0) {
            fprintf(stderr, "bench mapping: cannot serialize a record\n");
            exit(1);
        }
        s_add(p, (const char *) xmlBufferContent(xb), (size_t) xmlBufferLength(xb));
        xmlFreeDoc(one);
    }
    xmlBufferFree(xb);
    xmlFreeDoc(doc);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

typedef enum { RAW_JSON, RAW_XML, MAP } what_t;

/* One pass over all payloads; returns seconds. */
static double s_pass(const payloads_t *p, what_t what, const mapping_t *m, size_t *ok)
{
    mapping_meta_t meta = { .source_id = "BENCH", .ingest_time = "2025-10-01T00:00:00Z" };
    size_t good = 0;
    double t0 = s_now();
    for (size_t i = 0; i < p->n; i++) {
        const char *d = p->buf + p->off[i];
        size_t len = p->plen[i];
        if (what == RAW_JSON) {
            json_error_t je;
            /* the engine's flags */
            json_t *j = json_loadb(d, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
            good += j != NULL;
            json_decref(j);
        } else if (what == RAW_XML) {
            xmlDocPtr doc = xmlReadMemory(d, (int) len, NULL, NULL,
                                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
            good += doc != NULL;
            xmlFreeDoc(doc);
        } else {
            mapping_result_t res;
            good += mapping_run(m, d, len, &meta, &res) == 0;
            mapping_result_clear(&res);
        }
    }
    double t = s_now() - t0;
    *ok = good;
    return t;
}

static double s_best(const payloads_t *p, what_t what, const mapping_t *m, int runs, size_t *ok)
{
    double best = 0;
    for (int r = 0; r < runs; r++) {
        double t = s_pass(p, what, m, ok);
        if (r == 0 || t < best)
            best = t;
    }
    return best;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: mapping --jsonl persons.jsonl --json-mapping qn-population.yaml\n"
            "               --xml congdan.xml --xml-mapping dn-population.yaml\n"
            "               --data ADMIN_DIR --schemas SCHEMAS_DIR [-n N] [-r RUNS]\n"
            "Maps the records of both files in memory, single-threaded, and compares with parsing alone.\n"
            "  -n N      at most N records of each file (default all)\n"
            "  -r RUNS   passes of each measurement, the best kept (default 3)\n"
            "  -p json|xml  only map that file's records, RUNS times (for perf record)\n");
}

int main(int argc, char **argv)
{
    const char *jsonl = NULL, *jmap = NULL, *xml = NULL, *xmap = NULL, *data = NULL, *schemas = NULL;
    size_t max = 0;
    int runs = 3;
    const char *profile = NULL;
    static const struct option opts[] = {
        { "jsonl", required_argument, NULL, 'j' }, { "json-mapping", required_argument, NULL, 'J' },
        { "xml", required_argument, NULL, 'x' }, { "xml-mapping", required_argument, NULL, 'X' },
        { "data", required_argument, NULL, 'd' }, { "schemas", required_argument, NULL, 's' },
        { "records", required_argument, NULL, 'n' }, { "runs", required_argument, NULL, 'r' },
        { "profile", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "j:J:x:X:d:s:n:r:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': jsonl = optarg; break;
        case 'J': jmap = optarg; break;
        case 'x': xml = optarg; break;
        case 'X': xmap = optarg; break;
        case 'd': data = optarg; break;
        case 's': schemas = optarg; break;
        case 'n': max = strtoul(optarg, NULL, 10); break;
        case 'r': runs = atoi(optarg); break;
        case 'p': profile = optarg; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (!jsonl || !jmap || !xml || !xmap || !data || !schemas || runs < 1) {
        s_usage(stderr);
        return 2;
    }
    char err[1024];
    mapping_env_t *env = mapping_env_new(data, schemas, err, sizeof err);
    if (!env) {
        fprintf(stderr, "bench mapping: %s\n", err);
        return 1;
    }
    mapping_t *mj = mapping_load(jmap, env, err, sizeof err);
    mapping_t *mx = mj ? mapping_load(xmap, env, err, sizeof err) : NULL;
    if (!mj || !mx) {
        fprintf(stderr, "bench mapping: %s\n", err);
        return 1;
    }
    payloads_t pj = { 0 }, px = { 0 };
    if (!profile || strcmp(profile, "xml"))
        s_load_jsonl(&pj, jsonl, max);
    if (!profile || !strcmp(profile, "xml"))
        s_load_xml(&px, xml, max);
    printf("records: %zu JSON (%.1f MB, %s), %zu XML (%.1f MB, %s); best of %d runs, one thread\n", pj.n,
           (double) pj.len / 1e6, mapping_version(mj), px.n, (double) px.len / 1e6, mapping_version(mx), runs);

    struct {
        const char *label;
        const payloads_t *p;
        what_t raw;
        const mapping_t *m;
        double ratio;
    } sets[2] = { { "json", &pj, RAW_JSON, mj, 0 }, { "xml", &px, RAW_XML, mx, 0 } };
    if (profile) {
        int i = !strcmp(profile, "xml");
        size_t ok;
        double t = s_best(sets[i].p, MAP, sets[i].m, runs, &ok);
        printf("%s mapping: %.0f records/s\n", sets[i].label, (double) sets[i].p->n / t);
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        const payloads_t *p = sets[i].p;
        size_t ok_raw, ok_map;
        double t_raw = s_best(p, sets[i].raw, NULL, runs, &ok_raw);
        double t_map = s_best(p, MAP, sets[i].m, runs, &ok_map);
        double mb = (double) p->len / 1e6;
        printf("%-4s raw parse : %9.0f records/s %7.1f MB/s  (%zu parsed)\n", sets[i].label, (double) p->n / t_raw,
               mb / t_raw, ok_raw);
        printf("%-4s mapping   : %9.0f records/s %7.1f MB/s  (%zu mapped, %zu with errors)\n", sets[i].label,
               (double) p->n / t_map, mb / t_map, ok_map, p->n - ok_map);
        sets[i].ratio = t_raw / t_map;
        printf("%-4s ratio mapping/raw: %.2f (%.1f us per record mapping, %.1f us parsing)\n", sets[i].label,
               sets[i].ratio, t_map / (double) p->n * 1e6, t_raw / (double) p->n * 1e6);
    }
    printf("mapping: json ratio %.2f, xml ratio %.2f\n", sets[0].ratio, sets[1].ratio);

    mapping_destroy(&mj);
    mapping_destroy(&mx);
    mapping_env_destroy(&env);
    free(pj.buf); free(pj.off); free(pj.plen);
    free(px.buf); free(px.off); free(px.plen);
    return 0;
}
