/* jschema.c — JSON Schema draft 2020-12 validation (the subset the schemas of schemas/ use)
 * over jansson, with PCRE2 for "pattern".
 *
 * Loading compiles each schema object of each file of a directory into a
 * node_t: keywords checked against the supported list, "properties"
 * sorted for binary search, patterns compiled (and JIT-compiled) once,
 * then every $ref pointed at the node of its target (across files).
 * Validation walks a node and the instance together. It allocates
 * nothing while the instance is valid: the instance path is a stack of
 * the member names walked through, made into a JSON pointer only for an
 * error, and the PCRE2 match data is kept per thread.
 *
 * Two modes share one walk (vctx_t): collecting, which goes on after an
 * error and formats every error, and quick, which stops at the first one
 * and formats nothing. Quick mode answers the yes/no questions of anyOf,
 * not, if and unevaluatedProperties. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "jschema.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Nested validations (instance levels, $refs, applicators) before giving
 * up: only a $ref cycle that never descends into the instance gets there. */
#define MAX_LEVEL 512
/* Longest JSON pointer into a schema file. */
#define PTR_MAX 1024
/* Bytes of an instance string quoted in a message. */
#define SHOW_MAX 60

enum {
    T_NULL = 1u << 0, T_BOOLEAN = 1u << 1, T_OBJECT = 1u << 2, T_ARRAY = 1u << 3,
    T_NUMBER = 1u << 4, T_STRING = 1u << 5, T_INTEGER = 1u << 6,
};
static const struct { const char *name; unsigned bit; } s_types[] = {
    {"object", T_OBJECT}, {"array", T_ARRAY}, {"string", T_STRING}, {"integer", T_INTEGER},
    {"number", T_NUMBER}, {"boolean", T_BOOLEAN}, {"null", T_NULL},
};

typedef enum {
    K_ANNOTATION, K_ID, K_DEFS, K_TYPE, K_REF, K_PROPERTIES, K_REQUIRED, K_CONST, K_ENUM,
    K_ADDITIONAL, K_UNEVALUATED, K_PATTERN, K_MIN_LENGTH, K_MINIMUM, K_XMINIMUM, K_ITEMS,
    K_MIN_ITEMS, K_UNIQUE_ITEMS, K_ANY_OF, K_ALL_OF, K_NOT, K_IF, K_THEN, K_ELSE,
    K_DEP_REQUIRED, K_MIN_PROPERTIES,
} kw_t;

/* Every keyword a schema object may have; anything else fails the load. */
static const struct { const char *name; kw_t kw; } s_keywords[] = {
    {"$schema", K_ANNOTATION}, {"$id", K_ID}, {"$defs", K_DEFS}, {"title", K_ANNOTATION},
    {"description", K_ANNOTATION}, {"$comment", K_ANNOTATION}, {"examples", K_ANNOTATION},
    {"default", K_ANNOTATION},
    {"type", K_TYPE}, {"$ref", K_REF}, {"properties", K_PROPERTIES}, {"required", K_REQUIRED},
    {"const", K_CONST}, {"enum", K_ENUM}, {"additionalProperties", K_ADDITIONAL},
    {"unevaluatedProperties", K_UNEVALUATED}, {"pattern", K_PATTERN},
    {"minLength", K_MIN_LENGTH}, {"minimum", K_MINIMUM}, {"exclusiveMinimum", K_XMINIMUM},
    {"items", K_ITEMS}, {"minItems", K_MIN_ITEMS}, {"uniqueItems", K_UNIQUE_ITEMS},
    {"anyOf", K_ANY_OF}, {"allOf", K_ALL_OF}, {"not", K_NOT}, {"if", K_IF}, {"then", K_THEN},
    {"else", K_ELSE}, {"dependentRequired", K_DEP_REQUIRED},
    {"minProperties", K_MIN_PROPERTIES},
};

typedef struct node node_t;
typedef struct { const char *name; node_t *schema; } prop_t;
typedef struct { const char *name; const char **req; size_t nreq; } dep_t;

/* One compiled schema object (or true/false). Strings and JSON values are
 * borrowed from the loaded file, which the set keeps. */
struct node {
    char *where;                /* "common.v1.json#/$defs/date" */
    jschema_t *doc;             /* the file it is in */
    node_t *next;               /* every node of the set, for destroy */
    unsigned nkw;               /* validation keywords it has (annotations not counted) */
    bool is_bool, bool_value;   /* a true / false schema */
    unsigned types;             /* T_* bits; 0 = no "type" */
    const char *ref_text;
    node_t *ref;
    prop_t *props;              /* sorted by name */
    size_t nprops;
    node_t *additional, *unevaluated, *items, *not_, *if_, *then_, *else_;
    const char **required;
    size_t nrequired;
    bool has_const;
    const json_t *const_v, *enum_v;
    pcre2_code *re;
    const char *pattern;
    const json_t *minimum, *xminimum;
    bool has_min_length, has_min_items, has_min_props, unique_items;
    size_t min_length, min_items, min_props;
    node_t **any_of, **all_of;
    size_t nany, nall;
    dep_t *deps;
    size_t ndeps;
};

struct jschema {
    char *name;                 /* "person.v1" */
    char *fname;                /* "person.v1.json" */
    char *file;                 /* "<dir>/person.v1.json", for load errors */
    const char *id;             /* "$id", borrowed from json; NULL if none */
    json_t *json;
    node_t *root;
};

typedef struct { const json_t *json; node_t *node; } memo_t;

struct jschema_set {
    jschema_t *docs;            /* sorted by name */
    size_t ndocs;
    node_t *nodes;
    memo_t *memo;               /* schema object -> its node, for $ref targets */
    size_t nmemo, capmemo;
};

/* ---------------------------------------------------------------- loading */

typedef struct {
    jschema_set_t *set;
    jschema_t *doc;
    char *err;
    size_t errsz;
    bool failed;
} loader_t;

__attribute__((format(printf, 3, 4)))
static void s_fail(loader_t *L, const char *ptr, const char *fmt, ...)
{
    if (L->failed)
        return;
    L->failed = true;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* ptr NULL: the file as a whole (unreadable JSON) */
    if (L->err && L->errsz)
        snprintf(L->err, L->errsz, "%s: %s%s%s", L->doc ? L->doc->file : "?",
                 !ptr ? "" : *ptr ? ptr : "(root)", ptr ? ": " : "", msg);
}

/* out = ptr + "/" + tok with tok escaped as RFC 6901 says (~0, ~1). */
static bool s_child(char *out, const char *ptr, const char *tok)
{
    size_t n = strlen(ptr);
    if (n + 2 > PTR_MAX)
        return false;
    memcpy(out, ptr, n);
    out[n++] = '/';
    for (const char *p = tok; *p; p++) {
        if (n + 3 > PTR_MAX)
            return false;
        if (*p == '~' || *p == '/') {
            out[n++] = '~';
            out[n++] = *p == '~' ? '0' : '1';
        } else
            out[n++] = *p;
    }
    out[n] = '\0';
    return true;
}

static bool s_child_index(char *out, const char *ptr, const char *key, size_t i)
{
    char tok[32];
    snprintf(tok, sizeof tok, "%zu", i);
    char mid[PTR_MAX];
    return s_child(mid, ptr, key) && s_child(out, mid, tok);
}

static node_t *s_node_new(loader_t *L, const char *ptr)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n || asprintf(&n->where, "%s#%s", L->doc->fname, ptr) < 0) {
        free(n);
        s_fail(L, ptr, "out of memory");
        return NULL;
    }
    n->doc = L->doc;
    n->next = L->set->nodes;
    L->set->nodes = n;
    return n;
}

static bool s_memo_add(loader_t *L, const json_t *j, node_t *n, const char *ptr)
{
    jschema_set_t *set = L->set;
    if (set->nmemo == set->capmemo) {
        size_t cap = set->capmemo ? set->capmemo * 2 : 256;
        memo_t *m = realloc(set->memo, cap * sizeof *m);
        if (!m) {
            s_fail(L, ptr, "out of memory");
            return false;
        }
        set->memo = m;
        set->capmemo = cap;
    }
    set->memo[set->nmemo++] = (memo_t){j, n};
    return true;
}

static int s_memo_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const memo_t *)a)->json, y = (uintptr_t)((const memo_t *)b)->json;
    return x < y ? -1 : x > y;
}

static node_t *s_memo_find(const jschema_set_t *set, const json_t *j)
{
    if (!set->nmemo)
        return NULL;
    memo_t key = {j, NULL};
    memo_t *m = bsearch(&key, set->memo, set->nmemo, sizeof key, s_memo_cmp);
    return m ? m->node : NULL;
}

static int s_prop_cmp(const void *a, const void *b)
{
    return strcmp(((const prop_t *)a)->name, ((const prop_t *)b)->name);
}

static const char *s_json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static node_t *s_compile(loader_t *L, json_t *j, const char *ptr);

/* A keyword whose value is one schema. */
static node_t *s_compile_sub(loader_t *L, json_t *v, const char *ptr, const char *key)
{
    char child[PTR_MAX];
    if (!s_child(child, ptr, key)) {
        s_fail(L, ptr, "JSON pointer too long");
        return NULL;
    }
    return s_compile(L, v, child);
}

/* A keyword whose value is a non-empty array of schemas. */
static node_t **s_compile_list(loader_t *L, json_t *v, const char *ptr, const char *key, size_t *n)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        s_fail(L, ptr, "'%s' must be a non-empty array of schemas", key);
        return NULL;
    }
    node_t **list = calloc(json_array_size(v), sizeof *list);
    if (!list) {
        s_fail(L, ptr, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        char child[PTR_MAX];
        if (!s_child_index(child, ptr, key, i)) {
            s_fail(L, ptr, "JSON pointer too long");
            free(list);
            return NULL;
        }
        if (!(list[i] = s_compile(L, json_array_get(v, i), child))) {
            free(list);
            return NULL;
        }
    }
    *n = json_array_size(v);
    return list;
}

/* An array of property names (required, dependentRequired's lists). */
static const char **s_names(loader_t *L, json_t *v, const char *ptr, const char *key, size_t *n)
{
    if (!json_is_array(v)) {
        s_fail(L, ptr, "'%s' must be an array of property names", key);
        return NULL;
    }
    const char **names = calloc(json_array_size(v) + 1, sizeof *names);
    if (!names) {
        s_fail(L, ptr, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (!json_is_string(json_array_get(v, i))) {
            s_fail(L, ptr, "'%s' must be an array of property names", key);
            free(names);
            return NULL;
        }
        names[i] = json_string_value(json_array_get(v, i));
    }
    *n = json_array_size(v);
    return names;
}

static bool s_count(loader_t *L, json_t *v, const char *ptr, const char *key, size_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        s_fail(L, ptr, "'%s' must be a non-negative integer", key);
        return false;
    }
    *out = (size_t)json_integer_value(v);
    return true;
}

static bool s_compile_pattern(loader_t *L, node_t *n, json_t *v, const char *ptr)
{
    if (!json_is_string(v)) {
        s_fail(L, ptr, "'pattern' must be a string");
        return false;
    }
    n->pattern = json_string_value(v);
    /* Nearest to ECMA 262 (what JSON Schema's patterns are): UTF-8 code
     * points, "$" only at the very end (not before a final newline),
     * \uXXXX escapes; \d, \w stay ASCII as in ECMA without the u flag. */
    int code;
    PCRE2_SIZE off;
    n->re = pcre2_compile((PCRE2_SPTR)n->pattern, json_string_length(v),
                          PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &code, &off, NULL);
    if (!n->re) {
        PCRE2_UCHAR why[160];
        pcre2_get_error_message(code, why, sizeof why);
        s_fail(L, ptr, "bad regex '%s': %s at offset %zu", n->pattern, (const char *)why, (size_t)off);
        return false;
    }
    /* Without JIT (not built in, or no executable memory) the interpreter
     * runs the same pattern. */
    (void)pcre2_jit_compile(n->re, PCRE2_JIT_COMPLETE);
    return true;
}

static bool s_compile_keyword(loader_t *L, node_t *n, kw_t kw, const char *key, json_t *v,
                              const char *ptr)
{
    if (kw != K_ANNOTATION && kw != K_ID && kw != K_DEFS)
        n->nkw++;
    switch (kw) {
    case K_ANNOTATION:
        return true;
    case K_ID:
        /* A nested $id would start a new base URI for the $refs below it. */
        if (*ptr) {
            s_fail(L, ptr, "'$id' is supported only at the root of a file");
            return false;
        }
        if (!json_is_string(v)) {
            s_fail(L, ptr, "'$id' must be a string");
            return false;
        }
        n->doc->id = json_string_value(v);
        return true;
    case K_DEFS: {
        if (!json_is_object(v)) {
            s_fail(L, ptr, "'$defs' must be an object");
            return false;
        }
        char defs[PTR_MAX];
        if (!s_child(defs, ptr, key)) {
            s_fail(L, ptr, "JSON pointer too long");
            return false;
        }
        const char *name;
        json_t *d;
        json_object_foreach(v, name, d) {
            if (!s_compile_sub(L, d, defs, name))
                return false;
        }
        return true;
    }
    case K_TYPE: {
        size_t count = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < count; i++) {
            json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
            size_t k = 0;
            while (k < sizeof s_types / sizeof *s_types &&
                   !(json_is_string(t) && strcmp(json_string_value(t), s_types[k].name) == 0))
                k++;
            if (k == sizeof s_types / sizeof *s_types) {
                s_fail(L, ptr, "'type' must be a type name or an array of them (object, array, "
                       "string, integer, number, boolean, null)");
                return false;
            }
            n->types |= s_types[k].bit;
        }
        if (count == 0) {
            s_fail(L, ptr, "'type' must not be an empty array");
            return false;
        }
        return true;
    }
    case K_REF:
        if (!json_is_string(v)) {
            s_fail(L, ptr, "'$ref' must be a string");
            return false;
        }
        n->ref_text = json_string_value(v);
        return true;
    case K_PROPERTIES: {
        if (!json_is_object(v)) {
            s_fail(L, ptr, "'properties' must be an object");
            return false;
        }
        char props[PTR_MAX];
        if (!s_child(props, ptr, key)) {
            s_fail(L, ptr, "JSON pointer too long");
            return false;
        }
        n->props = calloc(json_object_size(v) + 1, sizeof *n->props);
        if (!n->props) {
            s_fail(L, ptr, "out of memory");
            return false;
        }
        const char *name;
        json_t *p;
        json_object_foreach(v, name, p) {
            node_t *sub = s_compile_sub(L, p, props, name);
            if (!sub)
                return false;
            n->props[n->nprops++] = (prop_t){name, sub};
        }
        qsort(n->props, n->nprops, sizeof *n->props, s_prop_cmp);
        return true;
    }
    case K_REQUIRED:
        return (n->required = s_names(L, v, ptr, key, &n->nrequired)) != NULL;
    case K_CONST:
        n->has_const = true;
        n->const_v = v;
        return true;
    case K_ENUM:
        if (!json_is_array(v) || json_array_size(v) == 0) {
            s_fail(L, ptr, "'enum' must be a non-empty array");
            return false;
        }
        n->enum_v = v;
        return true;
    case K_ADDITIONAL:
        return (n->additional = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_UNEVALUATED:
        return (n->unevaluated = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_ITEMS:
        if (json_is_array(v)) {
            s_fail(L, ptr, "'items' must be one schema (2020-12; tuples are not supported)");
            return false;
        }
        return (n->items = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_NOT:
        return (n->not_ = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_IF:
        return (n->if_ = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_THEN:
        return (n->then_ = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_ELSE:
        return (n->else_ = s_compile_sub(L, v, ptr, key)) != NULL;
    case K_PATTERN:
        return s_compile_pattern(L, n, v, ptr);
    case K_MIN_LENGTH:
        return (n->has_min_length = s_count(L, v, ptr, key, &n->min_length));
    case K_MIN_ITEMS:
        return (n->has_min_items = s_count(L, v, ptr, key, &n->min_items));
    case K_MIN_PROPERTIES:
        return (n->has_min_props = s_count(L, v, ptr, key, &n->min_props));
    case K_MINIMUM:
    case K_XMINIMUM:
        if (!json_is_number(v)) {
            s_fail(L, ptr, "'%s' must be a number", key);
            return false;
        }
        *(kw == K_MINIMUM ? &n->minimum : &n->xminimum) = v;
        return true;
    case K_UNIQUE_ITEMS:
        if (!json_is_boolean(v)) {
            s_fail(L, ptr, "'uniqueItems' must be true or false");
            return false;
        }
        n->unique_items = json_is_true(v);
        return true;
    case K_ANY_OF:
        return (n->any_of = s_compile_list(L, v, ptr, key, &n->nany)) != NULL;
    case K_ALL_OF:
        return (n->all_of = s_compile_list(L, v, ptr, key, &n->nall)) != NULL;
    case K_DEP_REQUIRED: {
        if (!json_is_object(v)) {
            s_fail(L, ptr, "'dependentRequired' must be an object of arrays of property names");
            return false;
        }
        n->deps = calloc(json_object_size(v) + 1, sizeof *n->deps);
        if (!n->deps) {
            s_fail(L, ptr, "out of memory");
            return false;
        }
        const char *name;
        json_t *list;
        json_object_foreach(v, name, list) {
            dep_t *d = &n->deps[n->ndeps];
            if (!(d->req = s_names(L, list, ptr, key, &d->nreq)))
                return false;
            d->name = name;
            n->ndeps++;
        }
        return true;
    }
    }
    return true;
}

static node_t *s_compile(loader_t *L, json_t *j, const char *ptr)
{
    node_t *n = s_node_new(L, ptr);
    if (!n)
        return NULL;
    if (json_is_boolean(j)) {
        n->is_bool = true;
        n->bool_value = json_is_true(j);
        return n;
    }
    if (!json_is_object(j)) {
        s_fail(L, ptr, "a schema must be an object or true/false, not %s", s_json_type_name(j));
        return NULL;
    }
    if (!s_memo_add(L, j, n, ptr))
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        size_t k = 0;
        while (k < sizeof s_keywords / sizeof *s_keywords && strcmp(key, s_keywords[k].name) != 0)
            k++;
        if (k == sizeof s_keywords / sizeof *s_keywords) {
            s_fail(L, ptr, "unsupported keyword '%s'", key);
            return NULL;
        }
        if (!s_compile_keyword(L, n, s_keywords[k].kw, key, v, ptr))
            return NULL;
    }
    return n;
}

static int s_hex(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Decodes one reference token of a URI fragment (%XX, then ~1 ~0). */
static void s_token(const char *p, size_t len, char *out, size_t outsz)
{
    char pct[PTR_MAX];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof pct; i++) {
        if (p[i] == '%' && i + 2 < len && s_hex(p[i + 1]) >= 0 && s_hex(p[i + 2]) >= 0) {
            pct[n++] = (char)(s_hex(p[i + 1]) * 16 + s_hex(p[i + 2]));
            i += 2;
        } else
            pct[n++] = p[i];
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz; i++) {
        if (pct[i] == '~' && i + 1 < n && (pct[i + 1] == '0' || pct[i + 1] == '1'))
            out[o++] = pct[++i] == '0' ? '~' : '/';
        else
            out[o++] = pct[i];
    }
    out[o] = '\0';
}

/* Points n->ref at the node of n->ref_text's target. */
static bool s_resolve(loader_t *L, node_t *n)
{
    const char *ref = n->ref_text;
    const char *ptr = strchr(n->where, '#') + 1;
    const char *hash = strchr(ref, '#');
    size_t dlen = hash ? (size_t)(hash - ref) : strlen(ref);
    const char *frag = hash ? hash + 1 : "";
    jschema_t *target = NULL;
    if (dlen == 0)
        target = n->doc;
    else {
        bool absolute = memchr(ref, ':', dlen) != NULL;
        char uri[PTR_MAX];
        const char *id = n->doc->id;
        if (!absolute && id && strrchr(id, '/'))
            snprintf(uri, sizeof uri, "%.*s%.*s", (int)(strrchr(id, '/') + 1 - id), id, (int)dlen, ref);
        else
            snprintf(uri, sizeof uri, "%.*s", (int)dlen, ref);
        for (size_t i = 0; i < L->set->ndocs && !target; i++)
            if (L->set->docs[i].id && strcmp(L->set->docs[i].id, uri) == 0)
                target = &L->set->docs[i];
        /* No $id to go by: a file of the directory by name. */
        const char *file = ref;
        size_t flen = dlen;
        if (flen > 2 && strncmp(file, "./", 2) == 0) {
            file += 2;
            flen -= 2;
        }
        for (size_t i = 0; i < L->set->ndocs && !target && !absolute; i++)
            if (strlen(L->set->docs[i].fname) == flen && strncmp(L->set->docs[i].fname, file, flen) == 0)
                target = &L->set->docs[i];
        if (!target) {
            s_fail(L, ptr, "unresolved $ref '%s': no file or $id '%s' in the directory", ref, uri);
            return false;
        }
    }
    if (*frag && *frag != '/') {
        s_fail(L, ptr, "unresolved $ref '%s': only JSON-pointer fragments are supported", ref);
        return false;
    }
    json_t *cur = target->json;
    for (const char *p = frag; *p == '/' && cur;) {
        p++;
        size_t len = strcspn(p, "/");
        char tok[PTR_MAX];
        s_token(p, len, tok, sizeof tok);
        p += len;
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            cur = *tok && !*end ? json_array_get(cur, i) : NULL;
        } else
            cur = NULL;
    }
    if (!cur) {
        s_fail(L, ptr, "unresolved $ref '%s': %s has nothing at '%s'", ref, target->fname, frag);
        return false;
    }
    if (json_is_boolean(cur)) {
        /* true/false are shared jansson values: give the target its own node. */
        loader_t at = *L;
        at.doc = target;
        if (!(n->ref = s_compile(&at, cur, frag)))
            L->failed = at.failed;
        return n->ref != NULL;
    }
    if (!(n->ref = s_memo_find(L->set, cur))) {
        s_fail(L, ptr, "unresolved $ref '%s': the target is not a schema", ref);
        return false;
    }
    return true;
}

static int s_is_json(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static int s_doc_cmp(const void *a, const void *b)
{
    return strcmp(((const jschema_t *)a)->name, ((const jschema_t *)b)->name);
}

jschema_set_t *jschema_set_load(const char *dir, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    struct dirent **list = NULL;
    int nl = scandir(dir, &list, s_is_json, alphasort);
    if (nl < 0) {
        if (err && errsz)
            snprintf(err, errsz, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    jschema_set_t *set = calloc(1, sizeof *set);
    loader_t L = {set, NULL, err, errsz, false};
    if (set)
        set->docs = calloc((size_t)nl + 1, sizeof *set->docs);
    for (int i = 0; i < nl; i++) {
        const char *fn = list[i]->d_name;
        if (set && set->docs && !L.failed) {
            jschema_t *doc = &set->docs[set->ndocs];
            struct stat st;
            if (asprintf(&doc->file, "%s/%s", dir, fn) < 0) {
                doc->file = NULL;
                L.failed = true;
            } else if (stat(doc->file, &st) == 0 && S_ISREG(st.st_mode)) {
                doc->fname = strdup(fn);
                doc->name = strndup(fn, strlen(fn) - 5);
                set->ndocs++;
                L.doc = doc;
                json_error_t je;
                if (!doc->fname || !doc->name)
                    s_fail(&L, NULL, "out of memory");
                else if (!(doc->json = json_load_file(doc->file, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je)))
                    s_fail(&L, NULL, "line %d column %d: %s", je.line, je.column, je.text);
            } else {
                free(doc->file);
                doc->file = NULL;
            }
        }
        free(list[i]);
    }
    free(list);
    if (!set || !set->docs) {
        if (err && errsz)
            snprintf(err, errsz, "%s: out of memory", dir);
        jschema_set_destroy(&set);
        return NULL;
    }
    if (L.failed && err && errsz && !err[0])
        snprintf(err, errsz, "%s: out of memory", dir);
    /* Sorted before compiling: nodes point at their document. */
    qsort(set->docs, set->ndocs, sizeof *set->docs, s_doc_cmp);
    for (size_t i = 0; i < set->ndocs && !L.failed; i++) {
        L.doc = &set->docs[i];
        set->docs[i].root = s_compile(&L, set->docs[i].json, "");
    }
    if (!L.failed && set->nmemo)
        qsort(set->memo, set->nmemo, sizeof *set->memo, s_memo_cmp);
    for (node_t *n = set->nodes; n && !L.failed; n = n->next) {
        if (n->ref_text) {
            L.doc = n->doc;
            s_resolve(&L, n);
        }
    }
    if (L.failed) {
        jschema_set_destroy(&set);
        return NULL;
    }
    return set;
}

void jschema_set_destroy(jschema_set_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jschema_set_t *self = *self_p;
    for (node_t *n = self->nodes, *next; n; n = next) {
        next = n->next;
        free(n->where);
        free(n->props);
        free(n->required);
        free(n->any_of);
        free(n->all_of);
        for (size_t i = 0; i < n->ndeps; i++)
            free(n->deps[i].req);
        free(n->deps);
        pcre2_code_free(n->re);
        free(n);
    }
    for (size_t i = 0; self->docs && i < self->ndocs; i++) {
        free(self->docs[i].name);
        free(self->docs[i].fname);
        free(self->docs[i].file);
        json_decref(self->docs[i].json);
    }
    free(self->docs);
    free(self->memo);
    free(self);
    *self_p = NULL;
}

const jschema_t *jschema_set_get(const jschema_set_t *self, const char *name)
{
    for (size_t i = 0; self && name && i < self->ndocs; i++)
        if (strcmp(self->docs[i].name, name) == 0)
            return &self->docs[i];
    return NULL;
}

size_t jschema_set_size(const jschema_set_t *self)
{
    return self ? self->ndocs : 0;
}

const char *jschema_set_name(const jschema_set_t *self, size_t i)
{
    return self && i < self->ndocs ? self->docs[i].name : NULL;
}

const char *jschema_name(const jschema_t *s)
{
    return s ? s->name : NULL;
}

/* ------------------------------------------------------------- validation */

/* One step of the instance path: a member name, or an array index. */
typedef struct {
    const char *key;            /* NULL: index */
    size_t index;
} seg_t;

/* Instance levels whose step is kept for error paths; deeper ones show as "/...". */
#define SEG_MAX 64

typedef struct {
    jschema_error_t *errs;
    size_t max, stored;
    int count;
    bool quick;                 /* stop at the first error, format nothing */
    seg_t *segs;                /* the instance path (collecting mode only); */
    unsigned depth;             /* rendered only when an error is reported */
    const node_t *cond;         /* the "if" whose then/else applies, for messages */
    const json_t *cond_inst;
    bool cond_else;
    unsigned level;             /* nested validations, against $ref cycles */
} vctx_t;

static void s_push(vctx_t *c, const char *key)
{
    if (c->segs && c->depth < SEG_MAX)
        c->segs[c->depth] = (seg_t){key, 0};
    c->depth++;
}

static void s_push_index(vctx_t *c, size_t i)
{
    if (c->segs && c->depth < SEG_MAX)
        c->segs[c->depth] = (seg_t){NULL, i};
    c->depth++;
}

static void s_pop(vctx_t *c)
{
    c->depth--;
}

/* The JSON pointer of the current place (RFC 6901: ~ as ~0, / as ~1). */
static void s_path(const vctx_t *c, char *out, size_t sz)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned d = 0; d < c->depth && d < SEG_MAX && c->segs; d++) {
        char num[32];
        const char *k = c->segs[d].key;
        if (!k) {
            snprintf(num, sizeof num, "%zu", c->segs[d].index);
            k = num;
        }
        if (o + 2 >= sz)
            break;
        out[o++] = '/';
        for (; *k && o + 3 < sz; k++) {
            if (*k == '~' || *k == '/') {
                out[o++] = '~';
                out[o++] = *k == '~' ? '0' : '1';
            } else
                out[o++] = *k;
        }
        out[o] = '\0';
    }
    if (c->depth > SEG_MAX && o + 5 < sz)
        strcpy(out + o, "/...");
}

/* Cuts an incomplete UTF-8 sequence left at the end of s by truncation. */
static void s_utf8_tail(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

/* Appends to buf (size sz) like snprintf; ends in "..." once it is full. */
__attribute__((format(printf, 3, 4)))
static void s_cat(char *buf, size_t sz, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 1 >= sz)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + n, sz - n, fmt, ap);
    va_end(ap);
    if (w >= 0 && (size_t)w >= sz - n && sz > 4) {
        s_utf8_tail(buf);
        size_t end = strlen(buf) < sz - 4 ? strlen(buf) : sz - 4;
        buf[end] = '\0';
        s_utf8_tail(buf);
        strcat(buf, "...");
    }
}

/* A value as a message quotes it: 'text' (cut after SHOW_MAX bytes), 42, true, an object. */
static void s_show(const json_t *v, char *out, size_t sz)
{
    out[0] = '\0';
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), o = 0;
        out[o++] = '\'';
        for (size_t i = 0; i < len; i++) {
            /* Cut only before a lead byte; a sequence's 3 continuation
             * bytes, "...", the quote and the NUL fit in what is left. */
            if ((i >= SHOW_MAX || o + 12 > sz) && ((unsigned char)s[i] & 0xC0) != 0x80) {
                memcpy(out + o, "...", 3);
                o += 3;
                break;
            }
            unsigned char ch = (unsigned char)s[i];
            if (ch == '\n' || ch == '\t' || ch == '\r') {
                out[o++] = '\\';
                out[o++] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
            } else
                out[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
        out[o++] = '\'';
        out[o] = '\0';
        break;
    }
    case JSON_INTEGER:
        snprintf(out, sz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, sz, "%.15g", json_real_value(v));
        if (strtod(out, NULL) != json_real_value(v))
            snprintf(out, sz, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE: snprintf(out, sz, "true"); break;
    case JSON_FALSE: snprintf(out, sz, "false"); break;
    case JSON_NULL: snprintf(out, sz, "null"); break;
    case JSON_OBJECT: snprintf(out, sz, "an object"); break;
    case JSON_ARRAY: snprintf(out, sz, "an array of %zu", json_array_size(v)); break;
    }
}

/* Describes the condition whose then/else is being applied: " (when 'precision' is 'year')". */
static void s_cond_text(const vctx_t *c, char *buf, size_t sz)
{
    const node_t *f = c->cond;
    buf[0] = '\0';
    if (c->cond_else) {
        snprintf(buf, sz, " (as the condition at %s does not hold)", f->where);
        return;
    }
    size_t parts = 0;
    for (size_t i = 0; i < f->nprops && json_is_object(c->cond_inst); i++) {
        const json_t *v = json_object_get(c->cond_inst, f->props[i].name);
        if (!v)
            continue;
        char show[96];
        s_show(v, show, sizeof show);
        s_cat(buf, sz, "%s'%s' is %s", parts++ ? " and " : " (when ", f->props[i].name, show);
    }
    for (size_t i = 0; i < f->nrequired; i++)
        s_cat(buf, sz, "%s'%s' is present", parts++ ? " and " : " (when ", f->required[i]);
    if (parts)
        s_cat(buf, sz, ")");
    else
        snprintf(buf, sz, " (as the condition at %s holds)", f->where);
}

/* Errors nearer the root first; anyOf after others at the same place. */
static unsigned s_rank(const jschema_error_t *e)
{
    unsigned r = 0;
    for (const char *p = e->path; *p; p++)
        r += *p == '/';
    return 2 * r + (strcmp(e->keyword, "anyOf") == 0);
}

__attribute__((format(printf, 4, 5), noinline, cold))
static void s_err(vctx_t *c, const node_t *n, const char *kw, const char *fmt, ...)
{
    c->count++;
    if (c->quick || c->max == 0)
        return;
    jschema_error_t e;
    s_path(c, e.path, sizeof e.path);
    s_utf8_tail(e.path);
    snprintf(e.keyword, sizeof e.keyword, "%s", kw);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    if (w >= (int)sizeof e.message) {
        e.message[sizeof e.message - 4] = '\0';
        s_utf8_tail(e.message);
        strcat(e.message, "...");
    }
    if (c->cond) {
        char when[192];
        s_cond_text(c, when, sizeof when);
        s_cat(e.message, sizeof e.message, "%s", when);
    }
    if (strcmp(kw, "false") == 0)
        snprintf(e.schema, sizeof e.schema, "%s", n->where);
    else
        snprintf(e.schema, sizeof e.schema, "%s/%s", n->where, kw);
    s_utf8_tail(e.schema);

    unsigned r = s_rank(&e);
    size_t pos = c->stored;
    while (pos > 0 && s_rank(&c->errs[pos - 1]) > r)
        pos--;
    if (pos >= c->max)
        return;
    size_t last = c->stored < c->max ? c->stored : c->max - 1;
    memmove(&c->errs[pos + 1], &c->errs[pos], (last - pos) * sizeof e);
    c->errs[pos] = e;
    if (c->stored < c->max)
        c->stored++;
}

static bool s_validate(vctx_t *c, const node_t *n, const json_t *inst);

/* Whether inst is valid against n; nothing reported. */
static bool s_valid(const vctx_t *c, const node_t *n, const json_t *inst)
{
    vctx_t q = {.quick = true, .level = c->level};
    return s_validate(&q, n, inst);
}

/* JSON Schema equality: numbers by value (1 == 1.0), objects regardless of order. */
static bool s_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!s_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            const json_t *w = json_object_get(b, k);
            if (!w || !s_equal(v, w))
                return false;
        }
        return true;
    }
    default:
        return true;
    }
}

static int s_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) < json_integer_value(b) ? -1
             : json_integer_value(a) > json_integer_value(b);
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

static bool s_type_ok(unsigned t, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return t & T_OBJECT;
    case JSON_ARRAY: return t & T_ARRAY;
    case JSON_STRING: return t & T_STRING;
    case JSON_INTEGER: return t & (T_INTEGER | T_NUMBER);
    case JSON_REAL: {
        if (t & T_NUMBER)
            return true;
        /* "integer" is a number with no fraction, 3.0 included; from
         * 2^53 on every double is whole. */
        double d = json_real_value(v);
        return (t & T_INTEGER) && isfinite(d) &&
               (fabs(d) >= 9007199254740992.0 || d == (double)(int64_t)d);
    }
    case JSON_TRUE: case JSON_FALSE: return t & T_BOOLEAN;
    default: return t & T_NULL;
    }
}

static const prop_t *s_prop(const node_t *n, const char *key)
{
    size_t lo = 0, hi = n->nprops;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        /* the first byte decides most steps without a call */
        int d = (unsigned char)key[0] - (unsigned char)n->props[mid].name[0];
        if (d == 0 && key[0])
            d = strcmp(key + 1, n->props[mid].name + 1);
        if (d == 0)
            return &n->props[mid];
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool s_evaluates_inplace(const vctx_t *c, const node_t *n, const json_t *obj, const char *key);

/* Whether a schema that holds for obj evaluates its property key
 * (properties, additionalProperties, unevaluatedProperties, or in place). */
static bool s_evaluates(const vctx_t *c, const node_t *m, const json_t *obj, const char *key)
{
    if (m->is_bool)
        return false;
    if (s_prop(m, key) || m->additional || m->unevaluated)
        return true;
    return s_evaluates_inplace(c, m, obj, key);
}

/* Whether an in-place applicator of n ($ref, allOf, anyOf, if/then/else)
 * that holds for obj evaluates key: what unevaluatedProperties may not see. */
static bool s_evaluates_inplace(const vctx_t *c, const node_t *n, const json_t *obj, const char *key)
{
    if (c->level >= MAX_LEVEL)
        return false;
    vctx_t in = {.quick = true, .level = c->level + 1};
    if (n->ref && s_evaluates(&in, n->ref, obj, key) && s_valid(&in, n->ref, obj))
        return true;
    for (size_t i = 0; i < n->nall; i++)
        if (s_evaluates(&in, n->all_of[i], obj, key) && s_valid(&in, n->all_of[i], obj))
            return true;
    for (size_t i = 0; i < n->nany; i++)
        if (s_evaluates(&in, n->any_of[i], obj, key) && s_valid(&in, n->any_of[i], obj))
            return true;
    if (n->if_) {
        if (s_valid(&in, n->if_, obj))
            return s_evaluates(&in, n->if_, obj, key) ||
                   (n->then_ && s_evaluates(&in, n->then_, obj, key) && s_valid(&in, n->then_, obj));
        return n->else_ && s_evaluates(&in, n->else_, obj, key) && s_valid(&in, n->else_, obj);
    }
    return false;
}

#define CHECK(x) do { if (!(x)) { ok = false; if (c->quick) return false; } } while (0)

/* The errors that quote values: formatted out of line, so that the
 * recursive walk keeps small stack frames; in quick mode only counted. */
#define ERR_FN __attribute__((noinline, cold)) static void

static void s_types_text(unsigned t, char *buf, size_t sz)
{
    buf[0] = '\0';
    size_t k = 0;
    for (size_t i = 0; i < sizeof s_types / sizeof *s_types; i++)
        if (t & s_types[i].bit)
            s_cat(buf, sz, "%s%s", k++ ? " or " : "", s_types[i].name);
}

ERR_FN s_type_error(vctx_t *c, const node_t *n, const json_t *inst)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char want[96], got[96];
    s_types_text(n->types, want, sizeof want);
    s_show(inst, got, sizeof got);
    s_err(c, n, "type", "expected %s, got %s%s", want,
          json_is_integer(inst) ? "integer " : json_is_real(inst) ? "number "
          : json_is_string(inst) ? "string " : "", got);
}

ERR_FN s_const_error(vctx_t *c, const node_t *n, const json_t *inst)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char want[96], got[96];
    s_show(n->const_v, want, sizeof want);
    s_show(inst, got, sizeof got);
    s_err(c, n, "const", "must be %s, got %s", want, got);
}

ERR_FN s_enum_error(vctx_t *c, const node_t *n, const json_t *inst)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char got[96], list[200] = "";
    s_show(inst, got, sizeof got);
    for (size_t i = 0; i < json_array_size(n->enum_v); i++) {
        char one[96];
        s_show(json_array_get(n->enum_v, i), one, sizeof one);
        s_cat(list, sizeof list, "%s%s", i ? ", " : "", one);
    }
    s_err(c, n, "enum", "%s is not one of %s", got, list);
}

/* A member that additionalProperties / unevaluatedProperties false rejects. */
ERR_FN s_extra_error(vctx_t *c, const node_t *n, const char *key, bool additional)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char known[160] = "";
    for (size_t i = 0; i < n->nprops; i++)
        s_cat(known, sizeof known, "%s%s", i ? ", " : "", n->props[i].name);
    if (additional)
        s_err(c, n, "additionalProperties", "unexpected property '%s' (additionalProperties is "
              "false; known: %s)", key, n->nprops ? known : "none");
    else
        s_err(c, n, "unevaluatedProperties", "unexpected property '%s' (unevaluatedProperties is "
              "false and no subschema that holds here evaluates it)", key);
}

ERR_FN s_unique_error(vctx_t *c, const node_t *n, const json_t *arr, size_t i, size_t k)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char show[96];
    s_show(json_array_get(arr, i), show, sizeof show);
    s_err(c, n, "uniqueItems", "items %zu and %zu are equal (%s)", i, k, show);
}

ERR_FN s_min_length_error(vctx_t *c, const node_t *n, const json_t *str, size_t cps)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char show[96];
    s_show(str, show, sizeof show);
    s_err(c, n, "minLength", "%s has %zu character(s), fewer than minLength %zu", show, cps,
          n->min_length);
}

ERR_FN s_pattern_error(vctx_t *c, const node_t *n, const json_t *str, int rc)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char show[96];
    s_show(str, show, sizeof show);
    if (rc == PCRE2_ERROR_NOMATCH)
        s_err(c, n, "pattern", "%s does not match %s", show, n->pattern);
    else {
        PCRE2_UCHAR why[120];
        pcre2_get_error_message(rc, why, sizeof why);
        s_err(c, n, "pattern", "%s cannot be matched against %s: %s", show, n->pattern,
              (const char *)why);
    }
}

ERR_FN s_bound_error(vctx_t *c, const node_t *n, const json_t *num, bool exclusive)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char a[64], b[64];
    s_show(num, a, sizeof a);
    s_show(exclusive ? n->xminimum : n->minimum, b, sizeof b);
    if (exclusive)
        s_err(c, n, "exclusiveMinimum", "%s is not greater than %s (exclusiveMinimum)", a, b);
    else
        s_err(c, n, "minimum", "%s is less than the minimum %s", a, b);
}

static void s_describe(const vctx_t *c, const node_t *n, const json_t *inst, char *buf, size_t sz);

ERR_FN s_not_error(vctx_t *c, const node_t *n, const json_t *inst)
{
    if (c->quick) {
        c->count++;
        return;
    }
    char what[200];
    s_describe(c, n->not_, inst, what, sizeof what);
    s_err(c, n, "not", "must not %s", what);
}

static bool s_object(vctx_t *c, const node_t *n, const json_t *obj)
{
    bool ok = true;
    for (size_t i = 0; i < n->nrequired; i++)
        if (!json_object_get(obj, n->required[i])) {
            s_err(c, n, "required", "missing required property '%s'", n->required[i]);
            CHECK(false);
        }
    if (n->has_min_props && json_object_size(obj) < n->min_props) {
        s_err(c, n, "minProperties", "has %zu properties, fewer than minProperties %zu",
              json_object_size(obj), n->min_props);
        CHECK(false);
    }
    for (size_t i = 0; i < n->ndeps; i++) {
        const dep_t *d = &n->deps[i];
        if (!json_object_get(obj, d->name))
            continue;
        for (size_t k = 0; k < d->nreq; k++)
            if (!json_object_get(obj, d->req[k])) {
                s_err(c, n, "dependentRequired", "property '%s' requires property '%s' too",
                      d->name, d->req[k]);
                CHECK(false);
            }
    }
    if (!n->nprops && !n->additional && !n->unevaluated)
        return ok;
    /* json_object_iter directly: json_object_foreach looks every key up
     * again to find the next one. */
    for (void *it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it)) {
        const char *key = json_object_iter_key(it);
        const json_t *v = json_object_iter_value(it);
        const prop_t *p = s_prop(n, key);
        const node_t *sub = p ? p->schema : n->additional;
        bool additional = sub != NULL;
        if (!sub && n->unevaluated && !s_evaluates_inplace(c, n, obj, key))
            sub = n->unevaluated;
        if (!sub)
            continue;
        if (sub->is_bool && !sub->bool_value) {
            if (p) {
                /* As Python's jsonschema: the false schema fails at the property. */
                s_push(c, key);
                s_err(c, sub, "false", "property '%s' is not allowed", key);
                s_pop(c);
            } else
                s_extra_error(c, n, key, additional);
            CHECK(false);
            continue;
        }
        s_push(c, key);
        bool r = s_validate(c, sub, v);
        s_pop(c);
        CHECK(r);
    }
    return ok;
}

static bool s_array(vctx_t *c, const node_t *n, const json_t *arr)
{
    bool ok = true;
    size_t size = json_array_size(arr);
    if (n->has_min_items && size < n->min_items) {
        s_err(c, n, "minItems", "has %zu item(s), fewer than minItems %zu", size, n->min_items);
        CHECK(false);
    }
    if (n->unique_items) {
        for (size_t i = 0; i < size; i++)
            for (size_t k = i + 1; k < size; k++)
                if (s_equal(json_array_get(arr, i), json_array_get(arr, k))) {
                    s_unique_error(c, n, arr, i, k);
                    CHECK(false);
                }
    }
    if (n->items) {
        for (size_t i = 0; i < size; i++) {
            s_push_index(c, i);
            bool r = s_validate(c, n->items, json_array_get(arr, i));
            s_pop(c);
            CHECK(r);
        }
    }
    return ok;
}

/* Per-thread PCRE2 match data (one pair of offsets: only match or not
 * matters), so that matching allocates nothing after a thread's first. */
static pthread_key_t s_md_key;
static pthread_once_t s_md_once = PTHREAD_ONCE_INIT;
static bool s_md_ok;

static void s_md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void s_md_init(void)
{
    s_md_ok = pthread_key_create(&s_md_key, s_md_free) == 0;
}

static pcre2_match_data *s_match_data(void)
{
    pthread_once(&s_md_once, s_md_init);
    if (!s_md_ok)
        return NULL;
    pcre2_match_data *md = pthread_getspecific(s_md_key);
    if (!md && (md = pcre2_match_data_create(1, NULL)) && pthread_setspecific(s_md_key, md) != 0) {
        pcre2_match_data_free(md);
        md = NULL;
    }
    return md;
}

static bool s_string(vctx_t *c, const node_t *n, const json_t *str)
{
    bool ok = true;
    const char *s = json_string_value(str);
    size_t len = json_string_length(str);
    if (n->has_min_length) {
        /* Code points: every byte that does not continue a sequence. */
        size_t cps = 0;
        for (size_t i = 0; i < len && cps < n->min_length; i++)
            cps += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (cps < n->min_length) {
            s_min_length_error(c, n, str, cps);
            CHECK(false);
        }
    }
    if (n->re) {
        pcre2_match_data *md = s_match_data();
        int rc = md ? pcre2_match(n->re, (PCRE2_SPTR)s, len, 0, 0, md, NULL) : PCRE2_ERROR_NOMEMORY;
        if (rc < 0) {
            s_pattern_error(c, n, str, rc);
            CHECK(false);
        }
    }
    return ok;
}

static bool s_number(vctx_t *c, const node_t *n, const json_t *num)
{
    bool ok = true;
    if (n->minimum && s_num_cmp(num, n->minimum) < 0) {
        s_bound_error(c, n, num, false);
        CHECK(false);
    }
    if (n->xminimum && s_num_cmp(num, n->xminimum) <= 0) {
        s_bound_error(c, n, num, true);
        CHECK(false);
    }
    return ok;
}

/* What inst does that a "not" forbids, as "have property 'x'" (for the message). */
static void s_describe(const vctx_t *c, const node_t *n, const json_t *inst, char *buf, size_t sz)
{
    buf[0] = '\0';
    if (n->is_bool)
        snprintf(buf, sz, "be anything (not: true)");
    else if (n->nkw == 1 && n->nany) {
        for (size_t i = 0; i < n->nany; i++)
            if (s_valid(c, n->any_of[i], inst)) {
                s_describe(c, n->any_of[i], inst, buf, sz);
                return;
            }
    } else if (n->nkw == 1 && n->nall) {
        for (size_t i = 0; i < n->nall; i++) {
            char part[160];
            s_describe(c, n->all_of[i], inst, part, sizeof part);
            s_cat(buf, sz, "%s%s", i ? " and " : "", part);
        }
    } else if (n->nkw == 1 && n->nrequired) {
        s_cat(buf, sz, "have propert%s", n->nrequired > 1 ? "ies" : "y");
        for (size_t i = 0; i < n->nrequired; i++)
            s_cat(buf, sz, "%s'%s'", i ? ", " : " ", n->required[i]);
    } else if (n->nkw == 1 && (n->has_const || n->enum_v)) {
        char show[96];
        s_show(inst, show, sizeof show);
        snprintf(buf, sz, "be %s", show);
    }
    if (!buf[0])
        snprintf(buf, sz, "match the schema at %s", n->where);
}

/* The one error of an anyOf none of whose alternatives holds. */
ERR_FN s_any_of_error(vctx_t *c, const node_t *n, const json_t *inst)
{
    char msg[256] = "";
    bool names = true;
    for (size_t i = 0; i < n->nany; i++)
        names = names && !n->any_of[i]->is_bool && n->any_of[i]->nkw == 1 &&
                n->any_of[i]->nrequired == 1;
    if (names) {
        /* anyOf of required: at least one of these properties. */
        s_cat(msg, sizeof msg, "needs at least one of the properties");
        for (size_t i = 0; i < n->nany; i++)
            s_cat(msg, sizeof msg, "%s'%s'", i ? ", " : " ", n->any_of[i]->required[0]);
    } else {
        s_cat(msg, sizeof msg, "matches none of the %zu alternatives of anyOf:", n->nany);
        for (size_t i = 0; i < n->nany; i++) {
            /* Each alternative's best error, at the path it has below this one. */
            jschema_error_t e;
            vctx_t s = {.errs = &e, .max = 1, .segs = c->segs, .depth = c->depth, .level = c->level};
            s_validate(&s, n->any_of[i], inst);
            if (!s.stored)
                continue;
            char here[sizeof e.path];
            s_path(c, here, sizeof here);
            const char *rel = strncmp(e.path, here, strlen(here)) == 0 ? e.path + strlen(here) : e.path;
            s_cat(msg, sizeof msg, " (%zu) %s%s%s%s", i + 1, *rel ? "at " : "", rel, *rel ? ": " : "",
                  e.message);
            s_cat(msg, sizeof msg, "%s", ";");
        }
        size_t len = strlen(msg);
        if (len && msg[len - 1] == ';')
            msg[len - 1] = '\0';
    }
    s_err(c, n, "anyOf", "%s", msg);
}

static bool s_applicators(vctx_t *c, const node_t *n, const json_t *inst)
{
    bool ok = true;
    for (size_t i = 0; i < n->nall; i++)
        CHECK(s_validate(c, n->all_of[i], inst));
    if (n->nany) {
        bool any = false;
        for (size_t i = 0; i < n->nany && !any; i++)
            any = s_valid(c, n->any_of[i], inst);
        if (!any) {
            if (c->quick)
                c->count++;
            else
                s_any_of_error(c, n, inst);
            CHECK(false);
        }
    }
    if (n->not_ && s_valid(c, n->not_, inst)) {
        s_not_error(c, n, inst);
        CHECK(false);
    }
    if (n->if_) {
        bool holds = s_valid(c, n->if_, inst);
        const node_t *branch = holds ? n->then_ : n->else_;
        if (branch) {
            const node_t *cond = c->cond;
            const json_t *cond_inst = c->cond_inst;
            bool cond_else = c->cond_else;
            c->cond = n->if_;
            c->cond_inst = inst;
            c->cond_else = !holds;
            bool r = s_validate(c, branch, inst);
            c->cond = cond;
            c->cond_inst = cond_inst;
            c->cond_else = cond_else;
            CHECK(r);
        }
    }
    return ok;
}

static bool s_validate(vctx_t *c, const node_t *n, const json_t *inst)
{
    if (n->is_bool) {
        if (!n->bool_value)
            s_err(c, n, "false", "no value is allowed here (the schema is false)");
        return n->bool_value;
    }
    if (c->level >= MAX_LEVEL) {
        s_err(c, n, "$ref", "schemas nest deeper than %d levels (a $ref cycle?)", MAX_LEVEL);
        return false;
    }
    c->level++;
    bool ok = true;
    if (n->types && !s_type_ok(n->types, inst)) {
        s_type_error(c, n, inst);
        ok = false;
        if (c->quick)
            goto out;
    }
    if (n->ref && !s_validate(c, n->ref, inst)) {
        ok = false;
        if (c->quick)
            goto out;
    }
    if (n->has_const && !s_equal(inst, n->const_v)) {
        s_const_error(c, n, inst);
        ok = false;
        if (c->quick)
            goto out;
    }
    if (n->enum_v) {
        bool in = false;
        for (size_t i = 0; i < json_array_size(n->enum_v) && !in; i++)
            in = s_equal(inst, json_array_get(n->enum_v, i));
        if (!in) {
            s_enum_error(c, n, inst);
            ok = false;
            if (c->quick)
                goto out;
        }
    }
    bool r = true;
    switch (json_typeof(inst)) {
    case JSON_OBJECT:
        if (n->nrequired || n->has_min_props || n->ndeps || n->nprops || n->additional ||
            n->unevaluated)
            r = s_object(c, n, inst);
        break;
    case JSON_ARRAY:
        if (n->has_min_items || n->unique_items || n->items)
            r = s_array(c, n, inst);
        break;
    case JSON_STRING:
        if (n->has_min_length || n->re)
            r = s_string(c, n, inst);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        if (n->minimum || n->xminimum)
            r = s_number(c, n, inst);
        break;
    default:
        break;
    }
    if (!r) {
        ok = false;
        if (c->quick)
            goto out;
    }
    if ((n->nall || n->nany || n->not_ || n->if_) && !s_applicators(c, n, inst))
        ok = false;
out:
    c->level--;
    return ok;
}

int jschema_validate(const jschema_t *s, const json_t *instance, jschema_error_t *errs, size_t max)
{
    if (!errs)
        max = 0;
    if (!s || !s->root || !instance) {
        if (max) {
            memset(errs, 0, sizeof *errs);
            snprintf(errs->keyword, sizeof errs->keyword, "type");
            snprintf(errs->message, sizeof errs->message, "no %s to validate", s ? "value" : "schema");
        }
        return 1;
    }
    seg_t segs[SEG_MAX];
    vctx_t c = {.errs = errs, .max = max, .quick = max == 0, .segs = max ? segs : NULL};
    s_validate(&c, s->root, instance);
    return c.count;
}
