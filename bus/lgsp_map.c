/* lgsp_map.c — `lgsp map`: the mapping dry run for integration engineers.
 *
 * Runs one mapping file over an input file — the source's own export (CSV
 * with a header row, an XML file of records, JSON lines or a JSON array), or
 * what `lgsp consume --format json` / `lgsp-adapter-test` printed (lines
 * with "payload" and "headers": the raw records exactly as the bus holds
 * them) — without a bus. Canonical records go to standard output, one JSON
 * a line; every error goes to standard error as
 *   input-file:position: mapping-file:line: /field (source): rule: message
 * and a summary line ends the run. */
#include "lgsp_map.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "mapping.h"
#include "../adapters/file-drop/csvread.h"

#ifndef LGSP_DATA_DIR
#define LGSP_DATA_DIR "/usr/local/share/lgsp"
#endif

typedef struct {
    const mapping_t *m;
    const char      *input_name;
    bool             quiet;         /* no records on stdout, only errors and the summary */
    size_t           max_errors;
    unsigned long    records, mapped, failed, printed_errors;
} mapctx_t;

void lgsp_map_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp map --mapping FILE --input FILE [options]\n\n"
        "Maps every record of FILE with the mapping (docs/mapping.md) and prints the canonical\n"
        "records (one JSON a line) on standard output and every error on standard error as\n"
        "  input:position: mapping-file:line: /field (source field): rule: message\n\n"
        "Input: .csv (header row; UTF-8), .xml (records: of the mapping, or the root's children),\n"
        ".jsonl / .json (one object a line, or an array), or the lines `lgsp consume --format\n"
        "json` and lgsp-adapter-test print (payload + headers, as the bus holds them).\n\n"
        "Options:\n"
        "  -m, --mapping FILE   the mapping file (schemas/mappings/<source>.yaml)\n"
        "  -i, --input FILE     the records ('-' = standard input, JSON lines)\n"
        "  -f, --format F       csv, xml, jsonl or json (default: from the file name)\n"
        "  -d, --data DIR       the admin reference data (default $LGSP_DATA/admin or %s/admin)\n"
        "  -s, --schemas DIR    the canonical schemas (default $LGSP_SCHEMAS or %s/schemas)\n"
        "  -q, --quiet          print only errors and the summary\n"
        "  -n, --max-errors N   stop printing errors after N (default all)\n\n"
        "Exit status: 0 every record mapped, 1 some did not, 2 the mapping or input cannot be read.\n",
        LGSP_DATA_DIR, LGSP_DATA_DIR);
}

static void s_report(mapctx_t *c, const char *pos, const mapping_result_t *res, const json_t *rec)
{
    c->records++;
    if (rec) {
        c->mapped++;
        if (!c->quiet) {
            char *s = json_dumps(rec, JSON_COMPACT);
            if (s) {
                fputs(s, stdout);
                fputc('\n', stdout);
                free(s);
            }
        }
        return;
    }
    c->failed++;
    size_t n = res->n_errors < 8 ? res->n_errors : 8;
    for (size_t i = 0; i < n; i++) {
        if (c->max_errors && c->printed_errors >= c->max_errors)
            return;
        char line[1024];
        mapping_error_format(c->m, &res->errors[i], line, sizeof line);
        fprintf(stderr, "%s:%s: %s\n", c->input_name, pos, line);
        c->printed_errors++;
    }
    if (res->n_errors > 8)
        fprintf(stderr, "%s:%s: ... and %zu more\n", c->input_name, pos, res->n_errors - 8);
}

static void s_map_bytes(mapctx_t *c, const char *pos, const void *p, size_t len, const mapping_meta_t *meta)
{
    mapping_result_t res;
    mapping_run(c->m, p, len, meta, &res);
    s_report(c, pos, &res, res.record);
    mapping_result_clear(&res);
}

static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (!r)
            break;
        n += r;
    }
    if (f != stdin)
        fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

/* One JSON value of the input: a bus envelope (payload + headers) or a
 * record itself. */
static void s_map_json_value(mapctx_t *c, const char *pos, json_t *v)
{
    json_t *payload = json_object_get(v, "payload");
    json_t *headers = json_object_get(v, "headers");
    if (json_is_object(v) && payload && json_is_object(headers)) {
        mapping_meta_t meta = {
            .source_id = json_string_value(json_object_get(headers, "lgsp-source-id")),
            .ingest_time = json_string_value(json_object_get(headers, "lgsp-fetched-at")),
            .headers = headers,
        };
        if (json_is_string(payload))
            s_map_bytes(c, pos, json_string_value(payload), json_string_length(payload), &meta);
        else {
            char *s = json_dumps(payload, JSON_COMPACT);
            s_map_bytes(c, pos, s, s ? strlen(s) : 0, &meta);
            free(s);
        }
        return;
    }
    mapping_result_t res;
    mapping_meta_t meta = { 0 };
    if (mapping_input(c->m) == MAPPING_INPUT_XML && json_is_string(v))
        mapping_run(c->m, json_string_value(v), json_string_length(v), &meta, &res);
    else if (json_is_object(v))
        mapping_run_json(c->m, v, &meta, &res);
    else {
        memset(&res, 0, sizeof res);
        res.n_errors = 1;
        snprintf(res.errors[0].rule, sizeof res.errors[0].rule, "json");
        snprintf(res.errors[0].message, sizeof res.errors[0].message, "a record is a JSON object");
    }
    s_report(c, pos, &res, res.record);
    mapping_result_clear(&res);
}

static int s_jsonl(mapctx_t *c, char *buf, size_t len)
{
    /* A whole-file JSON array first; else one value per line. */
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    if (i < len && buf[i] == '[') {
        json_error_t je;
        json_t *a = json_loadb(buf, len, 0, &je);
        if (!a) {
            fprintf(stderr, "lgsp map: %s:%d: not JSON: %s\n", c->input_name, je.line, je.text);
            return -1;
        }
        size_t k;
        json_t *v;
        json_array_foreach(a, k, v) {
            char pos[32];
            snprintf(pos, sizeof pos, "[%zu]", k);
            s_map_json_value(c, pos, v);
        }
        json_decref(a);
        return 0;
    }
    size_t lineno = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t l = nl ? (size_t) (nl - p) : (size_t) (end - p);
        lineno++;
        char pos[32];
        snprintf(pos, sizeof pos, "%zu", lineno);
        size_t t = l;
        while (t && (p[t - 1] == '\r' || p[t - 1] == ' '))
            t--;
        if (t) {
            json_error_t je;
            json_t *v = json_loadb(p, t, JSON_REJECT_DUPLICATES, &je);
            if (!v) {
                mapping_result_t res;
                memset(&res, 0, sizeof res);
                res.n_errors = 1;
                snprintf(res.errors[0].rule, sizeof res.errors[0].rule, "json");
                snprintf(res.errors[0].message, sizeof res.errors[0].message,
                         "the line is not JSON: %s (column %d)", je.text, je.column);
                s_report(c, pos, &res, NULL);
            } else {
                s_map_json_value(c, pos, v);
                json_decref(v);
            }
        }
        p += l + 1;
    }
    return 0;
}

static int s_csv(mapctx_t *c, const char *buf, size_t len)
{
    csvread_t *rd = csvread_new(buf, len, ',', '"');
    if (!rd)
        return -1;
    char **header = NULL;
    size_t nh = 0;
    int rc = 0;
    for (;;) {
        int r = csvread_next(rd);
        if (r == CSVREAD_END)
            break;
        char pos[32];
        snprintf(pos, sizeof pos, "%zu", csvread_line(rd));
        if (r == CSVREAD_ERROR) {
            fprintf(stderr, "%s:%s: csv: %s\n", c->input_name, pos, csvread_error(rd));
            c->records++;
            c->failed++;
            continue;
        }
        size_t nf = csvread_nfields(rd), rawlen;
        csvread_raw(rd, &rawlen);
        if (nf == 1 && rawlen == 0)
            continue;
        if (!header) {
            nh = nf;
            header = calloc(nh, sizeof *header);
            for (size_t i = 0; i < nf; i++)
                header[i] = strdup(csvread_field(rd, i, NULL));
            continue;
        }
        if (nf != nh) {
            fprintf(stderr, "%s:%s: csv: %zu fields, the header has %zu\n", c->input_name, pos, nf, nh);
            c->records++;
            c->failed++;
            continue;
        }
        /* A row as the file-drop adapter publishes it: {header: text}. */
        json_t *o = json_object();
        for (size_t i = 0; i < nf; i++) {
            size_t fl;
            const char *f = csvread_field(rd, i, &fl);
            json_object_set_new(o, header[i], json_stringn(f, fl));
        }
        mapping_result_t res;
        mapping_meta_t meta = { 0 };
        mapping_run_json(c->m, o, &meta, &res);
        s_report(c, pos, &res, res.record);
        mapping_result_clear(&res);
        json_decref(o);
    }
    for (size_t i = 0; i < nh; i++)
        free(header[i]);
    free(header);
    csvread_destroy(&rd);
    return rc;
}

static int s_xml(mapctx_t *c, const char *buf, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(buf, (int) (len > (size_t) INT32_MAX ? INT32_MAX : len), c->input_name,
                                  NULL, XML_PARSE_NONET | XML_PARSE_BIG_LINES);
    if (!doc || !xmlDocGetRootElement(doc)) {
        fprintf(stderr, "lgsp map: %s: not XML\n", c->input_name);
        if (doc)
            xmlFreeDoc(doc);
        return -1;
    }
    xmlNodePtr *nodes = NULL;
    size_t n = 0;
    xmlXPathObjectPtr o = NULL;
    const char *rx = mapping_records_xpath(c->m);
    if (rx) {
        xmlXPathContextPtr x = xmlXPathNewContext(doc);
        const char *prefix;
        json_t *uri;
        json_object_foreach((json_t *) mapping_namespaces(c->m), prefix, uri)
            xmlXPathRegisterNs(x, (const xmlChar *) prefix, (const xmlChar *) json_string_value(uri));
        o = xmlXPathEvalExpression((const xmlChar *) rx, x);
        xmlXPathFreeContext(x);
        if (!o || o->type != XPATH_NODESET) {
            fprintf(stderr, "lgsp map: %s: records: '%s' is not a node set\n", mapping_path(c->m), rx);
            xmlXPathFreeObject(o);
            xmlFreeDoc(doc);
            return -1;
        }
        n = o->nodesetval ? (size_t) o->nodesetval->nodeNr : 0;
        nodes = n ? o->nodesetval->nodeTab : NULL;
    } else {
        for (xmlNodePtr k = xmlDocGetRootElement(doc)->children; k; k = k->next)
            if (k->type == XML_ELEMENT_NODE) {
                nodes = realloc(nodes, (n + 1) * sizeof *nodes);
                nodes[n++] = k;
            }
    }
    for (size_t i = 0; i < n; i++) {
        char pos[32];
        snprintf(pos, sizeof pos, "%ld", xmlGetLineNo(nodes[i]));
        mapping_result_t res;
        mapping_meta_t meta = { 0 };
        mapping_run_xml(c->m, nodes[i], &meta, &res);
        s_report(c, pos, &res, res.record);
        mapping_result_clear(&res);
    }
    if (o)
        xmlXPathFreeObject(o);
    else
        free(nodes);
    xmlFreeDoc(doc);
    return 0;
}

static const char *s_ext(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : "";
}

int lgsp_map_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "mapping", required_argument, NULL, 'm' }, { "input", required_argument, NULL, 'i' },
        { "format", required_argument, NULL, 'f' }, { "data", required_argument, NULL, 'd' },
        { "schemas", required_argument, NULL, 's' }, { "quiet", no_argument, NULL, 'q' },
        { "max-errors", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *mpath = NULL, *ipath = NULL, *format = NULL, *data = NULL, *schemas = NULL;
    mapctx_t c = { 0 };
    optind = 0;   /* 0, not 1: glibc re-reads the ordering ("+" of lgsp's own parser) only then */
    for (int opt; (opt = getopt_long(argc, argv, "m:i:f:d:s:qn:h", longopts, NULL)) != -1;) {
        switch (opt) {
        case 'm': mpath = optarg; break;
        case 'i': ipath = optarg; break;
        case 'f': format = optarg; break;
        case 'd': data = optarg; break;
        case 's': schemas = optarg; break;
        case 'q': c.quiet = true; break;
        case 'n': c.max_errors = strtoul(optarg, NULL, 10); break;
        case 'h': lgsp_map_usage(stdout); return 0;
        default: lgsp_map_usage(stderr); return 2;
        }
    }
    if (!mpath || !ipath || optind != argc) {
        lgsp_map_usage(stderr);
        return 2;
    }
    char admin[4096], sch[4096];
    if (data)
        snprintf(admin, sizeof admin, "%s", data);
    else if (getenv("LGSP_DATA") && *getenv("LGSP_DATA"))
        snprintf(admin, sizeof admin, "%s/admin", getenv("LGSP_DATA"));
    else
        snprintf(admin, sizeof admin, "%s/admin", LGSP_DATA_DIR);
    if (schemas)
        snprintf(sch, sizeof sch, "%s", schemas);
    else if (getenv("LGSP_SCHEMAS") && *getenv("LGSP_SCHEMAS"))
        snprintf(sch, sizeof sch, "%s", getenv("LGSP_SCHEMAS"));
    else
        snprintf(sch, sizeof sch, "%s/schemas", LGSP_DATA_DIR);
    char err[1024];
    mapping_env_t *env = mapping_env_new(admin, sch, err, sizeof err);
    if (!env) {
        fprintf(stderr, "lgsp map: %s\n", err);
        return 2;
    }
    mapping_t *m = mapping_load(mpath, env, err, sizeof err);
    if (!m) {
        fprintf(stderr, "lgsp map: %s\n", err);
        mapping_env_destroy(&env);
        return 2;
    }
    c.m = m;
    c.input_name = ipath;
    if (!format)
        format = s_ext(ipath);
    size_t len = 0;
    char *buf = s_slurp(ipath, &len);
    int rc = 0;
    if (!buf) {
        fprintf(stderr, "lgsp map: %s: %s\n", ipath, strerror(errno));
        rc = -1;
    } else if (!strcmp(format, "csv"))
        rc = s_csv(&c, buf, len);
    else if (!strcmp(format, "xml"))
        rc = s_xml(&c, buf, len);
    else if (!strcmp(format, "jsonl") || !strcmp(format, "json") || !strcmp(format, "ndjson") || !strcmp(ipath, "-"))
        rc = s_jsonl(&c, buf, len);
    else {
        fprintf(stderr, "lgsp map: %s: unknown format '%s' (--format csv, xml, jsonl or json)\n", ipath, format);
        rc = -1;
    }
    free(buf);
    if (rc == 0)
        fprintf(stderr, "lgsp map: %s: %lu records, %lu mapped, %lu with errors (%s)\n", ipath,
                c.records, c.mapped, c.failed, mapping_version(m));
    mapping_destroy(&m);
    mapping_env_destroy(&env);
    fflush(stdout);
    return rc != 0 ? 2 : c.failed ? 1 : 0;
}
