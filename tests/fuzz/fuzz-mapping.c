/* fuzz-mapping.c — the mapping engine (bus/mapping.h) on raw record
 * payloads: every input is mapped by both real population mappings,
 * schemas/mappings/qn-population.yaml (JSON, as the http-json adapter
 * publishes a person) and dn-population.yaml (XML, a <CongDan> element as
 * the soap-xml adapter publishes it), loaded once. What comes from a
 * department is untrusted: a payload may fail, never crash or leak.
 *
 * Checked on every run: a record xor errors; errors name a rule and
 * format to one line of text; a produced record is an object of the
 * mapping's schema with its provenance. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"

#ifndef ADMIN_DATA_DIR
#error "ADMIN_DATA_DIR must be defined"
#endif
#ifndef SCHEMAS_DIR
#error "SCHEMAS_DIR must be defined"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mapping_env_t *s_env;
static mapping_t *s_maps[2];

static void s_init(void)
{
    char err[1024];
    s_env = mapping_env_new(ADMIN_DATA_DIR, SCHEMAS_DIR, err, sizeof err);
    if (!s_env) {
        fprintf(stderr, "fuzz-mapping: %s\n", err);
        abort();
    }
    static const char *const names[] = { "qn-population", "dn-population" };
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/mappings/%s.yaml", SCHEMAS_DIR, names[i]);
        s_maps[i] = mapping_load(path, s_env, err, sizeof err);
        if (!s_maps[i]) {
            fprintf(stderr, "fuzz-mapping: %s\n", err);
            abort();
        }
    }
}

static void s_check(const mapping_t *m, int rc, const mapping_result_t *res)
{
    if (rc == 0) {
        if (!json_is_object(res->record) || res->n_errors != 0 || res->parse_error)
            abort();
        const char *schema = json_string_value(json_object_get(res->record, "schema"));
        if (!schema || strcmp(schema, mapping_schema(m)) != 0)
            abort();
        if (!json_string_value(json_object_get(json_object_get(res->record, "provenance"), "source_record_id")))
            abort();
        return;
    }
    if (rc != -1 || res->record || res->n_errors == 0)
        abort();
    size_t kept = res->n_errors < 8 ? res->n_errors : 8;
    for (size_t i = 0; i < kept; i++) {
        const mapping_error_t *e = &res->errors[i];
        if (!e->rule[0] || !memchr(e->rule, 0, sizeof e->rule) || !memchr(e->message, 0, sizeof e->message)
            || !memchr(e->field, 0, sizeof e->field) || !memchr(e->source, 0, sizeof e->source))
            abort();
        char out[1200];
        mapping_error_format(m, e, out, sizeof out);
        if (!out[0])
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_env)
        s_init();
    mapping_meta_t meta = { .source_id = "FUZZ-1", .ingest_time = "2025-01-02T03:04:05Z" };
    for (int i = 0; i < 2; i++) {
        mapping_result_t res;
        int rc = mapping_run(s_maps[i], data, size, &meta, &res);
        s_check(s_maps[i], rc, &res);
        mapping_result_clear(&res);
    }
    return 0;
}
