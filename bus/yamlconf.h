/* yamlconf.h — a YAML file read into a small tree of maps, sequences and
 * scalars, each node knowing the line it started on.
 *
 * libyaml does the parsing (events); this module only builds the tree and
 * refuses what a configuration file has no use for and what could hurt the
 * daemon: aliases (*name, the "billion laughs"), more than one document,
 * nesting deeper than YAMLCONF_MAX_DEPTH, keys that are not scalars, the
 * same key twice in one map, files larger than YAMLCONF_MAX_BYTES.
 * Anchors and tags are accepted and ignored.
 *
 * Errors are "file:line: what is wrong"; for a syntax error the line is the
 * one libyaml reports. */
#ifndef LGSP_YAMLCONF_H
#define LGSP_YAMLCONF_H

#include <stdbool.h>
#include <stddef.h>

#define YAMLCONF_MAX_DEPTH 64
#define YAMLCONF_MAX_BYTES (16u << 20)

typedef struct yamlconf yamlconf_t;           /* a parsed document */
typedef struct yamlconf_node yamlconf_node_t; /* one node of it */

typedef enum {
    YAMLCONF_SCALAR = 0,
    YAMLCONF_MAP    = 1,
    YAMLCONF_SEQ    = 2,
} yamlconf_kind_t;

/* Reads and parses the file at path. On failure returns NULL and sets *err
 * (caller frees). `name` is what error messages call the file. */
yamlconf_t *yamlconf_load(const char *path, char **err);
/* Parses len bytes of text (which may hold NUL bytes: they are an error). */
yamlconf_t *yamlconf_parse(const char *text, size_t len, const char *name, char **err);
void yamlconf_destroy(yamlconf_t **self_p);

/* The document's root node, or NULL for an empty document (no content, or
 * only comments). Borrowed until yamlconf_destroy. */
const yamlconf_node_t *yamlconf_root(const yamlconf_t *self);

yamlconf_kind_t yamlconf_kind(const yamlconf_node_t *node);
/* 1-based line where the node starts. */
int yamlconf_line(const yamlconf_node_t *node);
/* "a scalar", "a map", "a list": for error messages. */
const char *yamlconf_kind_name(const yamlconf_node_t *node);

/* Scalars: the text (NUL-terminated; a scalar holding a NUL byte is
 * refused at parse time), and whether it was written quoted or as a block
 * (| or >) rather than plain. */
const char *yamlconf_text(const yamlconf_node_t *node);
bool yamlconf_quoted(const yamlconf_node_t *node);
/* True for a plain scalar that YAML reads as null: empty, ~, null. */
bool yamlconf_is_null(const yamlconf_node_t *node);

/* Maps and sequences: the number of entries (0 for a scalar). */
size_t yamlconf_size(const yamlconf_node_t *node);
/* Sequence item i, or NULL. */
const yamlconf_node_t *yamlconf_item(const yamlconf_node_t *node, size_t i);
/* Map entry i: its key text and line, and its value; NULL if out of range. */
const char *yamlconf_key(const yamlconf_node_t *node, size_t i, int *line);
const yamlconf_node_t *yamlconf_value(const yamlconf_node_t *node, size_t i);
/* The value for key in a map, or NULL. */
const yamlconf_node_t *yamlconf_get(const yamlconf_node_t *node, const char *key);

#endif
