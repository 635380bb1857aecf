/* yamlconf.c — libyaml's event stream turned into a tree of nodes with line
 * numbers (see yamlconf.h). The tree is built with an explicit stack, so a
 * hostile file can cost neither stack depth nor unbounded memory: depth,
 * node count and file size are capped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yamlconf.h"

/* More nodes than any sane configuration has; bounds memory use. */
#define S_MAX_NODES 200000

struct yamlconf_node {
    yamlconf_kind_t   kind;
    int               line;
    bool              quoted;
    char             *text;   /* scalars */
    yamlconf_node_t **items;  /* sequences: items; maps: key, value, key, value ... */
    size_t            n, cap;
};

struct yamlconf {
    yamlconf_node_t *root;
};

typedef struct {
    const char      *name;     /* the file, for messages */
    const char      *text;
    size_t           len;
    char            *err;
    yamlconf_node_t *stack[YAMLCONF_MAX_DEPTH];
    size_t           depth;
    size_t           nodes;
    yamlconf_node_t *root;
    bool             have_root;
} s_builder_t;

static void s_node_free(yamlconf_node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n; i++)
        s_node_free(node->items[i]);
    free(node->items);
    free(node->text);
    free(node);
}

static void s_fail(s_builder_t *b, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_fail(s_builder_t *b, int line, const char *fmt, ...)
{
    if (b->err)
        return;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int rc = line > 0 ? asprintf(&b->err, "%s:%d: %s", b->name, line, what)
                      : asprintf(&b->err, "%s: %s", b->name, what);
    if (rc < 0)
        b->err = NULL;
    if (!b->err)
        b->err = strdup("out of memory");
}

/* 1-based line of a byte offset (for libyaml's reader errors, which carry
 * an offset rather than a mark). */
static int s_line_of_offset(const s_builder_t *b, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < b->len; i++)
        if (b->text[i] == '\n')
            line++;
    return line;
}

static void s_syntax_error(s_builder_t *b, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        s_fail(b, 0, "out of memory while reading YAML");
        return;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line;
    if (p->error == YAML_READER_ERROR)
        line = s_line_of_offset(b, p->problem_offset);
    else
        line = (int) (p->problem_mark.line < 0x7fffffff ? p->problem_mark.line + 1 : 0x7fffffff);
    int cline = (int) (p->context_mark.line < 0x7ffffffe ? p->context_mark.line + 1 : 0x7fffffff);
    if (p->error == YAML_SCANNER_ERROR && p->problem_mark.index < b->len
        && b->text[p->problem_mark.index] == '\t')
        s_fail(b, line, "YAML syntax error: a tab; YAML is indented with spaces only");
    else if (p->context && p->error != YAML_READER_ERROR && cline != line)
        s_fail(b, line, "YAML syntax error: %s (%s at line %d)", problem, p->context, cline);
    else if (p->context)
        s_fail(b, line, "YAML syntax error: %s (%s)", problem, p->context);
    else
        s_fail(b, line, "YAML syntax error: %s", problem);
}

static yamlconf_node_t *s_node_new(s_builder_t *b, yamlconf_kind_t kind, const yaml_mark_t *mark)
{
    int line = (int) (mark->line < 0x7ffffffe ? mark->line + 1 : 0x7fffffff);
    if (++b->nodes > S_MAX_NODES) {
        s_fail(b, line, "more than %d values in one file", S_MAX_NODES);
        return NULL;
    }
    yamlconf_node_t *node = calloc(1, sizeof *node);
    if (!node) {
        s_fail(b, line, "out of memory");
        return NULL;
    }
    node->kind = kind;
    node->line = line;
    return node;
}

/* Attaches node to the open collection (or makes it the root). Takes
 * ownership of node in every case. */
static int s_attach(s_builder_t *b, yamlconf_node_t *node)
{
    if (b->depth == 0) {
        b->root = node;
        b->have_root = true;
        return 0;
    }
    yamlconf_node_t *parent = b->stack[b->depth - 1];
    if (parent->kind == YAMLCONF_MAP && parent->n % 2 == 0 && node->kind != YAMLCONF_SCALAR) {
        s_fail(b, node->line, "a key must be a plain name, not %s", yamlconf_kind_name(node));
        s_node_free(node);
        return -1;
    }
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        yamlconf_node_t **items = realloc(parent->items, cap * sizeof *items);
        if (!items) {
            s_fail(b, node->line, "out of memory");
            s_node_free(node);
            return -1;
        }
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = node;
    return 0;
}

static int s_key_cmp(const void *a, const void *b)
{
    const yamlconf_node_t *x = *(yamlconf_node_t *const *) a, *y = *(yamlconf_node_t *const *) b;
    int c = strcmp(x->text, y->text);
    if (c)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

/* A map is complete: refuse a key given twice (sorting keeps this
 * O(n log n) however large the map). */
static int s_check_map(s_builder_t *b, const yamlconf_node_t *map)
{
    size_t nkeys = map->n / 2;
    if (nkeys < 2)
        return 0;
    yamlconf_node_t **keys = malloc(nkeys * sizeof *keys);
    if (!keys) {
        s_fail(b, map->line, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nkeys; i++)
        keys[i] = map->items[2 * i];
    qsort(keys, nkeys, sizeof *keys, s_key_cmp);
    const yamlconf_node_t *dup = NULL, *first = NULL;
    for (size_t i = 1; i < nkeys; i++) {
        if (strcmp(keys[i - 1]->text, keys[i]->text) == 0
            && (!dup || keys[i]->line < dup->line)) {
            dup = keys[i];
            first = keys[i - 1];
        }
    }
    if (dup)
        s_fail(b, dup->line, "'%s' is given twice in the same map (first at line %d)",
               dup->text, first->line);
    free(keys);
    return dup ? -1 : 0;
}

static int s_event(s_builder_t *b, const yaml_event_t *ev, int *docs)
{
    yamlconf_node_t *node;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            s_fail(b, (int) ev->start_mark.line + 1,
                   "a second YAML document ('---'): the file must hold one");
            return -1;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        s_fail(b, (int) ev->start_mark.line + 1,
               "YAML aliases (*%s) are not supported: write the value out",
               ev->data.alias.anchor ? (const char *) ev->data.alias.anchor : "");
        return -1;
    case YAML_SCALAR_EVENT: {
        const char *value = (const char *) ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(value, '\0', len)) {
            s_fail(b, (int) ev->start_mark.line + 1, "a value holds a NUL byte");
            return -1;
        }
        node = s_node_new(b, YAMLCONF_SCALAR, &ev->start_mark);
        if (!node)
            return -1;
        node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        node->text = strndup(value, len);
        if (!node->text) {
            s_node_free(node);
            s_fail(b, (int) ev->start_mark.line + 1, "out of memory");
            return -1;
        }
        return s_attach(b, node);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth == YAMLCONF_MAX_DEPTH) {
            s_fail(b, (int) ev->start_mark.line + 1, "nested deeper than %d levels",
                   YAMLCONF_MAX_DEPTH);
            return -1;
        }
        node = s_node_new(b, ev->type == YAML_MAPPING_START_EVENT ? YAMLCONF_MAP : YAMLCONF_SEQ,
                          &ev->start_mark);
        if (!node || s_attach(b, node) != 0)
            return -1;
        b->stack[b->depth++] = node;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0) {     /* libyaml never does this; be safe anyway */
            s_fail(b, (int) ev->start_mark.line + 1, "unbalanced YAML structure");
            return -1;
        }
        node = b->stack[--b->depth];
        return node->kind == YAMLCONF_MAP ? s_check_map(b, node) : 0;
    default:
        return 0;
    }
}

yamlconf_t *yamlconf_parse(const char *text, size_t len, const char *name, char **err)
{
    s_builder_t b = { .name = name ? name : "(config)", .text = text, .len = len };
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        *err = strdup("out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    int docs = 0;
    for (bool done = false; !done && !b.err;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            s_syntax_error(&b, &parser);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        s_event(&b, &ev, &docs);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);

    yamlconf_t *self = b.err ? NULL : calloc(1, sizeof *self);
    if (!self) {
        s_fail(&b, 0, "out of memory");  /* keeps an earlier error */
        /* The root owns every attached node, including a half-built tree. */
        s_node_free(b.root);
        *err = b.err;
        return NULL;
    }
    self->root = b.root;
    return self;
}

yamlconf_t *yamlconf_load(const char *path, char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (asprintf(err, "%s: cannot open: %s", path, strerror(errno)) < 0)
            *err = NULL;
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    int rc = 0;
    while (text) {
        if (len == cap) {
            char *t = realloc(text, cap * 2);
            if (!t) {
                free(text);
                text = NULL;
                break;
            }
            text = t;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (len > YAMLCONF_MAX_BYTES) {
            rc = EFBIG;
            break;
        }
        if (n == 0) {
            if (ferror(f))
                rc = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    yamlconf_t *self = NULL;
    if (!text) {
        *err = NULL;
    } else if (rc == EFBIG) {
        if (asprintf(err, "%s: larger than %u MiB: not a configuration file", path,
                     YAMLCONF_MAX_BYTES >> 20) < 0)
            *err = NULL;
    } else if (rc) {
        if (asprintf(err, "%s: cannot read: %s", path, strerror(rc)) < 0)
            *err = NULL;
    } else {
        self = yamlconf_parse(text, len, path, err);
    }
    free(text);
    if (!self && !*err)
        *err = strdup("out of memory");
    return self;
}

void yamlconf_destroy(yamlconf_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_node_free((*self_p)->root);
    free(*self_p);
    *self_p = NULL;
}

const yamlconf_node_t *yamlconf_root(const yamlconf_t *self)
{
    return self ? self->root : NULL;
}

yamlconf_kind_t yamlconf_kind(const yamlconf_node_t *node)
{
    return node->kind;
}

int yamlconf_line(const yamlconf_node_t *node)
{
    return node ? node->line : 0;
}

const char *yamlconf_kind_name(const yamlconf_node_t *node)
{
    if (!node)
        return "nothing";
    switch (node->kind) {
    case YAMLCONF_MAP: return "a map";
    case YAMLCONF_SEQ: return "a list";
    default:           return "a single value";
    }
}

const char *yamlconf_text(const yamlconf_node_t *node)
{
    return node && node->kind == YAMLCONF_SCALAR ? node->text : NULL;
}

bool yamlconf_quoted(const yamlconf_node_t *node)
{
    return node && node->quoted;
}

bool yamlconf_is_null(const yamlconf_node_t *node)
{
    if (!node || node->kind != YAMLCONF_SCALAR || node->quoted)
        return false;
    const char *t = node->text;
    return !*t || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 || strcmp(t, "Null") == 0
        || strcmp(t, "NULL") == 0;
}

size_t yamlconf_size(const yamlconf_node_t *node)
{
    if (!node)
        return 0;
    if (node->kind == YAMLCONF_MAP)
        return node->n / 2;
    return node->kind == YAMLCONF_SEQ ? node->n : 0;
}

const yamlconf_node_t *yamlconf_item(const yamlconf_node_t *node, size_t i)
{
    return node && node->kind == YAMLCONF_SEQ && i < node->n ? node->items[i] : NULL;
}

const char *yamlconf_key(const yamlconf_node_t *node, size_t i, int *line)
{
    if (!node || node->kind != YAMLCONF_MAP || i >= node->n / 2)
        return NULL;
    if (line)
        *line = node->items[2 * i]->line;
    return node->items[2 * i]->text;
}

const yamlconf_node_t *yamlconf_value(const yamlconf_node_t *node, size_t i)
{
    if (!node || node->kind != YAMLCONF_MAP || i >= node->n / 2)
        return NULL;
    return node->items[2 * i + 1];
}

const yamlconf_node_t *yamlconf_get(const yamlconf_node_t *node, const char *key)
{
    for (size_t i = 0; i < yamlconf_size(node) && node->kind == YAMLCONF_MAP; i++)
        if (strcmp(node->items[2 * i]->text, key) == 0)
            return node->items[2 * i + 1];
    return NULL;
}
