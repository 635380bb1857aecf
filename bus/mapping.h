/* mapping.h — the mapping engine: one raw source record in, one canonical
 * record (or the reasons it cannot be one) out.
 *
 * A mapping is a human-written YAML file (schemas/mappings/<source>.yaml,
 * docs/mapping.md): which canonical schema it produces, how to pick each
 * field out of the raw record (JSON keys, XPath, CSV columns — a CSV row
 * arrives as a JSON object of its columns) and the transforms on the way
 * (trim, case, names, dates with precision, Vietnamese numbers, code
 * tables, lookups, conditionals, defaults, required fields, 2025 address
 * recoding). mapping_load compiles the file once; mapping_run is then
 * thread-safe and allocation-light.
 *
 * Every record mapping_run produces has been checked: against its JSON
 * Schema (bus/jschema.c), personal IDs against sex and birth year
 * (bus/pid.c), and every address recoded (bus/recode.c). Every error names
 * the rule (mapping-file:line), the canonical field, the source field, the
 * value and the rule that failed, so it can go to quarantine with a reason
 * an integration engineer can act on. */
#ifndef LGSP_MAPPING_H
#define LGSP_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Reference data shared by every mapping of a process: the admin units
 * (recoding), the personal-ID province codes and the canonical schemas.
 * Immutable once made; any number of mappings and threads may share it. */
typedef struct mapping_env mapping_env_t;

/* admin_dir: ../shared/data/admin (or the installed copy); schemas_dir: the
 * folder of *.v1.json. NULL on error, with the reason in err. */
mapping_env_t *mapping_env_new(const char *admin_dir, const char *schemas_dir, char *err,
                               size_t errsz);
void mapping_env_destroy(mapping_env_t **self_p);

typedef struct mapping mapping_t;

typedef enum { MAPPING_INPUT_JSON = 0, MAPPING_INPUT_XML } mapping_input_t;

/* Compiles a mapping file. Errors are "file:line: what is wrong". The env
 * must outlive the mapping. */
mapping_t *mapping_load(const char *path, const mapping_env_t *env, char *err, size_t errsz);
void mapping_destroy(mapping_t **self_p);

const char *mapping_source(const mapping_t *self);    /* "qn-population" */
const char *mapping_schema(const mapping_t *self);    /* "person.v1" */
/* "qn-population@1+3f2a9c1e": name, version and the first 8 hex digits of
 * the file's SHA-256, so that an edited file without a new version number
 * still gives records that can be told apart (and a replay). */
const char *mapping_version(const mapping_t *self);
const char *mapping_path(const mapping_t *self);
mapping_input_t mapping_input(const mapping_t *self);
/* For whole input files (lgsp map): the XPath of the record elements
 * (`records:`), NULL when not set. */
const char *mapping_records_xpath(const mapping_t *self);
/* The namespace prefixes of the file (`namespaces:`), as a JSON object
 * borrowed from the mapping. */
const json_t *mapping_namespaces(const mapping_t *self);

/* What the bus knows of a raw record besides its payload. */
typedef struct {
    const char *source_id;     /* lgsp-source-id: the id in the source system */
    const char *ingest_time;   /* RFC 3339, when the bus received it (lgsp-fetched-at) */
    const json_t *headers;     /* all headers, for $header.NAME (may be NULL) */
} mapping_meta_t;

typedef struct {
    int  line;             /* line of the rule in the mapping file (0: the record as a whole) */
    char rule[48];         /* what failed: required, date, number, code_table, unknown_unit,
                              personal_id.province, personal_id.century_sex, schema.pattern ... */
    char field[160];       /* the canonical field, as a JSON pointer: /birth_date */
    char source[160];      /* the source field the value came from (selector as written) */
    char message[400];     /* one sentence with the value: "'31/04/1987' is not a date of the form dd/mm/yyyy" */
} mapping_error_t;

/* Result of one mapping_run. */
typedef struct {
    json_t         *record;    /* the canonical record (caller owns), NULL when errors */
    mapping_error_t errors[8];
    size_t          n_errors;  /* errors found (at most 8 kept) */
    bool            parse_error;   /* the payload itself could not be read */
} mapping_result_t;

/* Maps one raw record. Returns 0 when a record was produced, -1 when not
 * (errors set). The node variant maps an XML element already parsed (lgsp
 * map over a whole file); the JSON variant an object already parsed. */
int mapping_run(const mapping_t *self, const void *payload, size_t len,
                const mapping_meta_t *meta, mapping_result_t *res);
int mapping_run_json(const mapping_t *self, const json_t *input, const mapping_meta_t *meta,
                     mapping_result_t *res);
int mapping_run_xml(const mapping_t *self, void *xml_node, const mapping_meta_t *meta,
                    mapping_result_t *res);
void mapping_result_clear(mapping_result_t *res);

/* "qn-population.yaml:23: /birth_date (ngay_sinh): date: '31/04/1987' is ..." */
void mapping_error_format(const mapping_t *self, const mapping_error_t *e, char *out, size_t outsz);

#endif
