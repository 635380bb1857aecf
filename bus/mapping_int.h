/* mapping_int.h — the compiled form of a mapping file, shared by the
 * loader (mapping.c), the executor (maprun.c) and the transforms
 * (maptransform.c). Not a public header.
 *
 * A mapping compiles to a tree of rules. A rule writes one canonical field
 * (a dotted path) from a selector through a list of steps; a group rule
 * holds sub-rules under a condition; an `each` rule maps a list of
 * sub-records (owners of a parcel) with its own sub-rules; an address or
 * place rule recodes units to the 2025 list. Selectors are compiled for
 * their input: JSON key paths, and for XML either a walk over child
 * elements (the common case `A/B/@c`, an order of magnitude cheaper than
 * the XPath machinery) or a compiled XPath expression. */
#ifndef LGSP_MAPPING_INT_H
#define LGSP_MAPPING_INT_H

#include "mapping.h"

#include <stdint.h>

#include <jansson.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "jschema.h"
#include "pid.h"
#include "recode.h"

struct mapping_env {
    recode_t      *recode;
    pid_codes_t   *pid;
    jschema_set_t *schemas;
    char          *schemas_dir;  /* for the load-time check of fields against the schema */
    int            today_year;   /* for "birth year in the future" */
};

/* ---- selectors ------------------------------------------------------ */

typedef enum {
    SEL_PATH = 0,      /* JSON keys / simple XML steps */
    SEL_XPATH,         /* compiled XPath (XML only) */
    SEL_ID,            /* $id: the raw record's source id */
    SEL_HEADER,        /* $header.NAME */
    SEL_OUT,           /* $out.a.b: a canonical field already written */
    SEL_CONST,         /* const: a literal JSON value */
    SEL_INDEX,         /* $index: 1-based position of the current item of an each */
    SEL_TEMPLATE,      /* "{a}/{b}": literal text and selectors */
    SEL_FIRST,         /* [a, b]: the first present */
    SEL_OBJECT,        /* {ho: a, ten: b}: an object of selected values */
} sel_kind_t;

typedef struct {
    char *ns;          /* namespace URI or NULL (no namespace / any) */
    char *name;        /* element or attribute local name */
    bool  attr;        /* @name */
    bool  text;        /* text() */
    long  index;       /* JSON: array index when >= 0 */
} sel_step_t;

typedef struct sel {
    sel_kind_t   kind;
    char        *text;          /* as written, for messages */
    sel_step_t  *steps;
    size_t       nsteps;
    xmlXPathCompExprPtr xpath;
    json_t      *constant;
    /* template: lits[i] then subs[i] (subs has n-1 entries)...; first, object */
    char       **lits;
    size_t       nlits;
    struct sel **subs;
    char       **keys;          /* object keys */
    size_t       nsubs;
} sel_t;

/* ---- steps ---------------------------------------------------------- */

typedef enum {
    ST_TRIM = 0, ST_COLLAPSE, ST_NFC, ST_UPPER, ST_LOWER, ST_TITLE, ST_DIGITS,
    ST_SPLIT_NAME, ST_NAME_PARTS, ST_DATE, ST_TIMESTAMP, ST_NUMBER, ST_INTEGER,
    ST_TABLE, ST_LOOKUP, ST_SPLIT, ST_REGEX, ST_MATCH, ST_ID_DOCUMENT, ST_COMMUNE_2025,
    ST_PREFIX, ST_NULL_IF, ST_STRING, ST_DATE_PART,
} step_kind_t;

typedef struct table table_t;

typedef struct {
    step_kind_t kind;
    int         line;
    char      **formats;        /* date / timestamp: the accepted forms */
    size_t      nformats;
    bool        vi;             /* number: Vietnamese separators (1.234,5) */
    table_t    *table;          /* table / lookup */
    char       *arg;            /* split separator, prefix text, regex source, version */
    void       *re;             /* pcre2_code * (regex / match) */
    int         group;          /* regex: the capture group kept */
    json_t     *values;         /* null_if: the values that mean "absent" */
} step_t;

/* ---- conditions ----------------------------------------------------- */

typedef enum { C_IS = 0, C_IS_NOT, C_IN, C_PRESENT, C_MATCHES, C_BEFORE, C_AFTER } cond_op_t;

typedef struct cond {
    sel_t      *sel;
    cond_op_t   op;
    json_t     *value;      /* is / is_not / in (an array) / before / after (strings) */
    bool        present;
    void       *re;
    int         line;
} cond_t;

/* ---- rules ---------------------------------------------------------- */

typedef enum { R_FIELD = 0, R_GROUP, R_EACH, R_ADDRESS, R_PLACE } rule_kind_t;

typedef struct addr_spec {
    char  *version;          /* "pre-2025" or "2025" */
    char  *fallback;         /* the other list, tried when the code is not in version's */
    sel_t *province_code, *district_code, *commune_code;
    sel_t *province_name, *district_name, *commune_name;
    sel_t *place;            /* a whole place text, split into units */
    sel_t *text;
    sel_t *decide_2025;      /* a 2025 commune code that decides a split commune */
    bool   keep_unknown;     /* unknown: recode_status unknown instead of an error */
} addr_spec_t;

typedef struct rule {
    rule_kind_t   kind;
    int           line;
    char         *field;        /* dotted canonical path, relative to the current object */
    char        **path;         /* field split at dots */
    char         *ptr;          /* the field as a JSON pointer ("/a/b"), for messages */
    size_t        npath;
    sel_t        *from;
    step_t       *steps;
    size_t        nsteps;
    json_t       *dflt;         /* default when absent */
    bool          required;
    cond_t       *when;
    struct rule  *rules;        /* group / each */
    size_t        nrules;
    sel_t        *each;         /* each: the list of sub-records */
    addr_spec_t  *addr;         /* address / place */
} rule_t;

struct table {
    char   *name;
    json_t *map;            /* source value (as written, and by matching key) -> canonical */
    json_t *keyed;          /* matching key -> canonical, for case/diacritic-insensitive
                               lookup (null: several keys share that matching key) */
    int     line;
};

struct mapping {
    const mapping_env_t *env;
    char       *path, *file;        /* file: the base name, for messages */
    char       *source, *schema, *version;
    const jschema_t *jschema;
    mapping_input_t input;
    json_t     *namespaces;
    char       *records_xpath;
    sel_t      *record_id;
    int         record_id_line;
    table_t    *tables;
    size_t      ntables;
    rule_t     *rules;
    size_t      nrules;
};

/* maprun.c: selectors and the record walk; maptransform.c: the steps. */
typedef struct run run_t;

/* A value produced by a step, or absent (NULL). On error the step fills
 * *err (rule, message) and returns -1. */
int mapstep_apply(const mapping_t *m, const step_t *st, json_t **value, mapping_error_t *err);
/* A date in one of the forms: {"value", "precision"}; NULL with a message. */
json_t *mapstep_date(const char *s, char *const *formats, size_t n, char *why, size_t whysz);
table_t *mapping_table(const mapping_t *m, const char *name);
void mapstep_free(step_t *st);
/* The shortest decimal text that reads back as d. */
void mapstep_real_text(double d, char *buf, size_t sz);

#endif
