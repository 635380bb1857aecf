/* jschema.h — JSON Schema (draft 2020-12) validation over jansson.
 *
 * Validates canonical records against the schemas of schemas/ (docs/schemas.md,
 * "Validation in C"). Only the subset of 2020-12 the lgsp schemas use is
 * supported, and loading fails on any other keyword, so that a schema
 * never silently checks less than it says:
 *
 *   type (a name or an array of names), $ref, properties, required, const,
 *   enum, additionalProperties, unevaluatedProperties, pattern, minLength,
 *   minimum, exclusiveMinimum, items (one schema), minItems, uniqueItems,
 *   anyOf, allOf, not, if/then/else, dependentRequired, minProperties;
 *   annotations: $schema, $id (at the root only), $defs, title,
 *   description, $comment, examples, default.
 *
 * Patterns are PCRE2 (UTF mode, $ only at the very end, \uXXXX as in
 * ECMA 262) and, as JSON Schema says, unanchored searches.
 *
 * A loaded set is immutable: jschema_validate may be called from several
 * threads at once with one set. */
#ifndef LGSP_JSCHEMA_H
#define LGSP_JSCHEMA_H

#include <stddef.h>

#include <jansson.h>

typedef struct jschema_set jschema_set_t;   /* all schemas of a directory, $refs resolved */
typedef struct jschema jschema_t;           /* one top-level schema, borrowed from the set */

/* Loads every *.json directly in dir (not in subfolders) as a schema; the
 * name of a schema is its file name without ".json" ("person.v1").
 * $ref: "#/$defs/x", "common.v1.json#/$defs/x" (relative to the $id of the
 * schema holding it, or to its file name), or an absolute URI equal to
 * another file's $id (with a fragment). Returns the set (caller owns, free
 * with jschema_set_destroy) or NULL with a message in err naming the file
 * and the JSON pointer of the schema object at fault:
 *   "schemas/person.v1.json: /properties/x: unsupported keyword 'patternProperties'"
 * (an unsupported keyword, a keyword with a bad value, a regex that does
 * not compile, a $ref that does not resolve, unreadable JSON). */
jschema_set_t *jschema_set_load(const char *dir, char *err, size_t errsz);

/* Frees the set and every schema borrowed from it; NULL is fine. */
void jschema_set_destroy(jschema_set_t **self_p);

/* The schema called name ("person.v1"), or NULL. Borrowed until the set
 * is destroyed. */
const jschema_t *jschema_set_get(const jschema_set_t *self, const char *name);

/* Number of schemas in the set, and the name of the i-th (sorted by name). */
size_t jschema_set_size(const jschema_set_t *self);
const char *jschema_set_name(const jschema_set_t *self, size_t i);

/* The name of a schema ("person.v1"). */
const char *jschema_name(const jschema_t *s);

typedef struct {
    char path[256];     /* JSON pointer into the instance: "/owners/0/id_document/number", "" = root */
    char keyword[32];   /* the failing keyword: "pattern", "required", "enum", "not", ...;
                           "false" for a false schema (e.g. "properties": {"x": false}) */
    char message[256];  /* a sentence an integration engineer can act on:
                           "'0491582187' does not match ^[0-9]{12}$", "missing required property 'name'" */
    char schema[256];   /* where the failing keyword is: "common.v1.json#/$defs/address/allOf/1/then/not" */
} jschema_error_t;

/* Validates instance against s. Returns 0 when it is valid; otherwise the
 * number of errors found, of which at most max are stored in errs, best
 * first (errs may be NULL when max is 0: a yes/no check, which stops at
 * the first failure and may count just 1).
 *
 * "Best" follows Python jsonschema's best_match: an error nearer the root
 * of the instance comes first, and an anyOf failure (reported once, at the
 * object, with what each alternative lacked) comes after other errors at
 * the same place; otherwise errors come in the order they were found.
 * An error found inside a "then" says under which condition the "then"
 * applied: "... (when 'precision' is 'year')".
 *
 * Messages quote values of the instance (truncated): they may hold
 * personal data, so log them at debug level or keep them with the
 * quarantined record, never at info level. */
int jschema_validate(const jschema_t *s, const json_t *instance, jschema_error_t *errs, size_t max);

#endif
