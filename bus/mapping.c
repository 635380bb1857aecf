/* mapping.c — the reference data of mappings (mapping_env_t) and the
 * compiler of mapping files into rule trees (mapping_int.h).
 *
 * Everything a mapping file can get wrong is found here, at load time,
 * with its file:line: an unknown key, a step that does not exist, a date
 * format that is not one, a table that is not defined, an XPath that does
 * not compile, a field that the produced schema does not have. So a record
 * can only fail for what is wrong with the record. */
#include "mapping_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/evp.h>
#include <pcre2.h>
#include <libxml/xpathInternals.h>

#include "vntext.h"
#include "yamlconf.h"
#include "../adapters/file-drop/csvread.h"

/* ---- errors --------------------------------------------------------- */

typedef struct {
    const char *file;
    char       *err;
    size_t      errsz;
    bool        failed;
    const char *dir;          /* the mapping file's folder, for table files */
    mapping_t  *m;
} ld_t;

static int s_fail(ld_t *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_fail(ld_t *ld, int line, const char *fmt, ...)
{
    if (ld->failed)
        return -1;
    ld->failed = true;
    int n = snprintf(ld->err, ld->errsz, "%s:%d: ", ld->file, line);
    if (n < 0 || (size_t) n >= ld->errsz)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err + n, ld->errsz - (size_t) n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- env ------------------------------------------------------------ */

static char *s_key(const char *s)
{
    char *k = NULL;
    size_t bad;
    if (vntext_key(s, strlen(s), &k, &bad) != 0)
        return NULL;
    return k;
}

mapping_env_t *mapping_env_new(const char *admin_dir, const char *schemas_dir, char *err,
                               size_t errsz)
{
    err[0] = 0;
    mapping_env_t *env = calloc(1, sizeof *env);
    if (!env) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    env->today_year = tm.tm_year + 1900;
    char e[512] = "";
    env->recode = recode_new(admin_dir, e, sizeof e);
    if (!env->recode) {
        snprintf(err, errsz, "admin data: %s", e);
        goto fail;
    }
    env->pid = pid_codes_load(admin_dir, e, sizeof e);
    if (!env->pid) {
        snprintf(err, errsz, "personal ID codes: %s", e);
        goto fail;
    }
    env->schemas_dir = strdup(schemas_dir);
    env->schemas = jschema_set_load(schemas_dir, e, sizeof e);
    if (!env->schemas) {
        snprintf(err, errsz, "schemas: %s", e);
        goto fail;
    }
    return env;
fail:
    mapping_env_destroy(&env);
    return NULL;
}

void mapping_env_destroy(mapping_env_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mapping_env_t *env = *self_p;
    recode_destroy(&env->recode);
    pid_codes_destroy(&env->pid);
    jschema_set_destroy(&env->schemas);
    free(env->schemas_dir);
    free(env);
    *self_p = NULL;
}

/* ---- YAML helpers ---------------------------------------------------- */

typedef const yamlconf_node_t ynode_t;

static bool s_scalar(ynode_t *n) { return n && yamlconf_kind(n) == YAMLCONF_SCALAR; }

/* Checks that every key of map n is one of the allowed (NULL-terminated). */
static int s_keys(ld_t *ld, ynode_t *n, const char *what, const char *const *allowed)
{
    for (size_t i = 0; i < yamlconf_size(n); i++) {
        int line;
        const char *k = yamlconf_key(n, i, &line);
        bool ok = false;
        for (size_t a = 0; allowed[a] && !ok; a++)
            ok = strcmp(allowed[a], k) == 0;
        if (!ok) {
            char list[512] = "";
            for (size_t a = 0; allowed[a]; a++) {
                strncat(list, a ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, allowed[a], sizeof list - strlen(list) - 1);
            }
            return s_fail(ld, line, "%s: unknown key '%s' (known: %s)", what, k, list);
        }
    }
    return 0;
}

/* A YAML node as a JSON value: scalars stay strings unless quoted ones are
 * asked for as-is; plain true/false/null/numbers become JSON ones. */
static json_t *s_to_json(ynode_t *n, bool typed)
{
    switch (yamlconf_kind(n)) {
    case YAMLCONF_SCALAR: {
        const char *t = yamlconf_text(n);
        if (typed && !yamlconf_quoted(n)) {
            if (yamlconf_is_null(n))
                return json_null();
            if (!strcmp(t, "true"))
                return json_true();
            if (!strcmp(t, "false"))
                return json_false();
            char *end;
            errno = 0;
            long long v = strtoll(t, &end, 10);
            if (*t && !*end && !errno && !(t[0] == '0' && t[1]))
                return json_integer(v);
            double d = strtod(t, &end);
            if (*t && !*end && !errno && strchr(t, '.'))
                return json_real(d);
        }
        return json_string(t);
    }
    case YAMLCONF_SEQ: {
        json_t *a = json_array();
        for (size_t i = 0; i < yamlconf_size(n); i++)
            json_array_append_new(a, s_to_json(yamlconf_item(n, i), typed));
        return a;
    }
    case YAMLCONF_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < yamlconf_size(n); i++)
            json_object_set_new(o, yamlconf_key(n, i, NULL), s_to_json(yamlconf_value(n, i), typed));
        return o;
    }
    }
    return NULL;
}

static void *s_regex(ld_t *ld, int line, const char *src)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR) src, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        s_fail(ld, line, "regex '%s': %s at offset %zu", src, (char *) msg, (size_t) off);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* best effort: falls back to the interpreter */
    return re;
}

/* ---- selectors -------------------------------------------------------- */

static void s_sel_free(sel_t *s)
{
    if (!s)
        return;
    free(s->text);
    for (size_t i = 0; i < s->nsteps; i++) {
        free(s->steps[i].ns);
        free(s->steps[i].name);
    }
    free(s->steps);
    if (s->xpath)
        xmlXPathFreeCompExpr(s->xpath);
    json_decref(s->constant);
    for (size_t i = 0; i < s->nsubs; i++) {
        s_sel_free(s->subs[i]);
        if (s->keys)
            free(s->keys[i]);
    }
    for (size_t i = 0; i < s->nlits; i++)
        free(s->lits[i]);
    free(s->lits);
    free(s->subs);
    free(s->keys);
    free(s);
}

/* An XML name step "p:name" / "name" / "@name" / "text()" with its
 * namespace resolved from the file's prefixes. An unprefixed element name
 * matches by local name in any namespace: records of a source with a
 * default namespace (dn-population) read naturally as `HoTen/Ho`. */
static int s_xml_step(ld_t *ld, int line, const char *tok, size_t len, sel_step_t *st)
{
    memset(st, 0, sizeof *st);
    st->index = -1;
    if (len == 6 && !strncmp(tok, "text()", 6)) {
        st->text = true;
        return 0;
    }
    if (*tok == '@') {
        st->attr = true;
        tok++;
        len--;
    }
    const char *colon = memchr(tok, ':', len);
    if (colon) {
        char prefix[64];
        size_t pl = (size_t) (colon - tok);
        if (pl >= sizeof prefix)
            return s_fail(ld, line, "namespace prefix too long in '%.*s'", (int) len, tok);
        memcpy(prefix, tok, pl);
        prefix[pl] = 0;
        const char *uri = json_string_value(json_object_get(ld->m->namespaces, prefix));
        if (!uri)
            return s_fail(ld, line, "namespace prefix '%s' is not declared in namespaces:", prefix);
        st->ns = strdup(uri);
        tok = colon + 1;
        len -= pl + 1;
    }
    st->name = strndup(tok, len);
    return 0;
}

/* Whether an XPath is a plain path of names the walker can do itself. */
static bool s_simple_xpath(const char *s)
{
    if (!*s || *s == '/')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '@'
              || c >= 0x80 || (c == '(' && !strcmp(p, "()")) || (c == ')' && !p[1])))
            return false;
        if (c == '/' && p[1] == '/')
            return false;
        if (c == '.' && (p == s || p[-1] == '/') && (p[1] == '/' || !p[1] || p[1] == '.'))
            return false;
    }
    const char *at = strchr(s, '@');
    if (at && strchr(at, '/'))
        return false;                  /* an attribute must be the last step */
    const char *t = strstr(s, "text()");
    if (t && t[6])
        return false;
    return !strchr(s, '(') || t;
}

static sel_t *s_sel_path(ld_t *ld, int line, const char *text);

static void s_xpath_quiet(void *arg, xmlErrorPtr e) { (void) arg; (void) e; }

/* An XPath is compiled once; evaluating it once on an empty element with
 * the file's namespaces finds what compiling does not: a prefix that is not
 * declared, an unknown function. */
static xmlXPathCompExprPtr s_xpath_compile(ld_t *ld, int line, const char *p)
{
    /* Every QName prefix (p: in p:Name, not the :: of an axis, not inside
     * a string literal) must be declared. */
    char quote = 0;
    for (const char *q = p; *q; q++) {
        if (quote) {
            if (*q == quote)
                quote = 0;
            continue;
        }
        if (*q == '\'' || *q == '"') {
            quote = *q;
            continue;
        }
        if (*q == '$') {       /* nothing binds XPath variables here */
            s_fail(ld, line, "XPath '%s': variables ($...) are not supported", p);
            return NULL;
        }
        if ((isalpha((unsigned char) *q) || *q == '_') && (q == p || !(isalnum((unsigned char) q[-1])
                                                                    || q[-1] == '_' || q[-1] == '-' || q[-1] == '.'))) {
            const char *e = q;
            while (isalnum((unsigned char) *e) || *e == '_' || *e == '-' || *e == '.')
                e++;
            if (*e == ':' && e[1] != ':' && (e == p || e[-1] != ':')) {
                char prefix[64];
                snprintf(prefix, sizeof prefix, "%.*s", (int) (e - q), q);
                if (!json_object_get(ld->m->namespaces, prefix)) {
                    s_fail(ld, line, "XPath '%s': namespace prefix '%s' is not declared in namespaces:", p, prefix);
                    return NULL;
                }
            }
            q = e - 1;
        }
    }
    xmlXPathCompExprPtr x = xmlXPathCompile((const xmlChar *) p);
    if (!x) {
        s_fail(ld, line, "XPath '%s' does not compile", p);
        return NULL;
    }
    xmlDocPtr doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *) "r");
    xmlDocSetRootElement(doc, root);
    xmlXPathContextPtr c = xmlXPathNewContext(doc);
    c->error = s_xpath_quiet;
    const char *prefix;
    json_t *uri;
    json_object_foreach(ld->m->namespaces, prefix, uri)
        xmlXPathRegisterNs(c, (const xmlChar *) prefix, (const xmlChar *) json_string_value(uri));
    c->node = root;
    xmlXPathObjectPtr o = xmlXPathCompiledEval(x, c);
    if (!o || c->lastError.code != XML_ERR_OK) {
        s_fail(ld, line, "XPath '%s': %s", p, c->lastError.code == XPATH_UNDEF_PREFIX_ERROR
               ? "a namespace prefix is not declared in namespaces:" : "cannot be evaluated");
        xmlXPathFreeCompExpr(x);
        x = NULL;
    }
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(c);
    xmlFreeDoc(doc);
    return x;
}

static sel_t *s_sel_new(sel_kind_t kind, const char *text)
{
    sel_t *s = calloc(1, sizeof *s);
    if (s) {
        s->kind = kind;
        s->text = strdup(text ? text : "");
    }
    return s;
}

/* "{a}/{b}" -> literals and selectors. "{{" and "}}" are braces. */
static sel_t *s_sel_template(ld_t *ld, int line, const char *t)
{
    sel_t *s = s_sel_new(SEL_TEMPLATE, t);
    char lit[1024];
    size_t ll = 0;
    for (const char *p = t;; p++) {
        if (*p == '{' && p[1] == '{') {
            if (ll < sizeof lit - 1) lit[ll++] = '{';
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '}') {
            if (ll < sizeof lit - 1) lit[ll++] = '}';
            p++;
            continue;
        }
        if (*p == '{' || !*p) {
            s->lits = realloc(s->lits, (s->nsubs + 1) * sizeof *s->lits);
            s->lits[s->nsubs] = strndup(lit, ll);
            s->nlits = s->nsubs + 1;
            ll = 0;
            if (!*p)
                break;
            const char *close = strchr(p, '}');
            if (!close) {
                s_fail(ld, line, "template '%s': '{' without '}'", t);
                s_sel_free(s);
                return NULL;
            }
            char inner[512];
            snprintf(inner, sizeof inner, "%.*s", (int) (close - p - 1), p + 1);
            sel_t *sub = s_sel_path(ld, line, inner);
            if (!sub) {
                s_sel_free(s);
                return NULL;
            }
            s->subs = realloc(s->subs, (s->nsubs + 1) * sizeof *s->subs);
            s->subs[s->nsubs++] = sub;
            p = close;
            continue;
        }
        if (*p == '}') {
            s_fail(ld, line, "template '%s': '}' without '{' (write '}}' for a brace)", t);
            s_sel_free(s);
            return NULL;
        }
        if (ll < sizeof lit - 1)
            lit[ll++] = *p;
    }
    return s;
}

/* A path as written in `from:`: $id, $header.X, $out.a.b, or a JSON key
 * path (a.b.0.c; a key with dots can be quoted as ["a.b"] ... kept simple:
 * CSV headers contain no dots) / an XPath. */
static sel_t *s_sel_path(ld_t *ld, int line, const char *text)
{
    if (!strcmp(text, "$id"))
        return s_sel_new(SEL_ID, text);
    if (!strcmp(text, "$index"))
        return s_sel_new(SEL_INDEX, text);
    if (!strncmp(text, "$header.", 8)) {
        sel_t *s = s_sel_new(SEL_HEADER, text);
        s->steps = calloc(1, sizeof *s->steps);
        s->steps[0].name = strdup(text + 8);
        s->nsteps = 1;
        return s;
    }
    bool out = !strncmp(text, "$out.", 5);
    if (*text == '$' && !out) {
        s_fail(ld, line, "'%s': the only $ names are $id, $index, $header.NAME and $out.FIELD", text);
        return NULL;
    }
    const char *p = out ? text + 5 : text;
    if (!out && ld->m->input == MAPPING_INPUT_XML && !s_simple_xpath(p)) {
        sel_t *s = s_sel_new(SEL_XPATH, text);
        if (!(s->xpath = s_xpath_compile(ld, line, p))) {
            s_sel_free(s);
            return NULL;
        }
        return s;
    }
    sel_t *s = s_sel_new(out ? SEL_OUT : SEL_PATH, text);
    char sep = (!out && ld->m->input == MAPPING_INPUT_XML) ? '/' : '.';
    while (*p) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t) (e - p) : strlen(p);
        if (len == 0) {
            s_fail(ld, line, "'%s': empty step", text);
            s_sel_free(s);
            return NULL;
        }
        s->steps = realloc(s->steps, (s->nsteps + 1) * sizeof *s->steps);
        sel_step_t *st = &s->steps[s->nsteps++];
        if (sep == '/') {
            if (s_xml_step(ld, line, p, len, st) != 0) {
                s->nsteps--;
                s_sel_free(s);
                return NULL;
            }
        } else {
            memset(st, 0, sizeof *st);
            st->name = strndup(p, len);
            char *end;
            long v = strtol(st->name, &end, 10);
            st->index = (*st->name && !*end && v >= 0) ? v : -1;
        }
        p += len;
        if (*p)
            p++;
    }
    return s;
}

/* from: a string (path or template), a list (first present) or a map
 * (object of parts). */
static sel_t *s_sel(ld_t *ld, ynode_t *n)
{
    int line = yamlconf_line(n);
    if (s_scalar(n)) {
        const char *t = yamlconf_text(n);
        if (strchr(t, '{'))
            return s_sel_template(ld, line, t);
        return s_sel_path(ld, line, t);
    }
    if (yamlconf_kind(n) == YAMLCONF_SEQ) {
        sel_t *s = s_sel_new(SEL_FIRST, "");
        char text[512] = "";
        for (size_t i = 0; i < yamlconf_size(n); i++) {
            sel_t *sub = s_sel(ld, yamlconf_item(n, i));
            if (!sub) {
                s_sel_free(s);
                return NULL;
            }
            s->subs = realloc(s->subs, (s->nsubs + 1) * sizeof *s->subs);
            s->subs[s->nsubs++] = sub;
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? " | " : "", sub->text);
        }
        free(s->text);
        s->text = strdup(text);
        return s;
    }
    sel_t *s = s_sel_new(SEL_OBJECT, "");
    char text[512] = "";
    for (size_t i = 0; i < yamlconf_size(n); i++) {
        const char *k = yamlconf_key(n, i, NULL);
        sel_t *sub = s_sel(ld, yamlconf_value(n, i));
        if (!sub) {
            s_sel_free(s);
            return NULL;
        }
        s->subs = realloc(s->subs, (s->nsubs + 1) * sizeof *s->subs);
        s->keys = realloc(s->keys, (s->nsubs + 1) * sizeof *s->keys);
        s->keys[s->nsubs] = strdup(k);
        s->subs[s->nsubs++] = sub;
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? " + " : "", sub->text);
    }
    free(s->text);
    s->text = strdup(text);
    return s;
}

/* ---- tables ----------------------------------------------------------- */

static table_t *s_find_table(mapping_t *m, const char *name)
{
    for (size_t i = 0; i < m->ntables; i++)
        if (!strcmp(m->tables[i].name, name))
            return &m->tables[i];
    return NULL;
}

table_t *mapping_table(const mapping_t *m, const char *name)
{
    return s_find_table((mapping_t *) m, name);
}

/* A table from a CSV file: {file: x.csv, key: column, value: column}. */
static int s_table_file(ld_t *ld, table_t *t, ynode_t *n)
{
    static const char *const keys[] = { "file", "key", "value", NULL };
    if (s_keys(ld, n, "table", keys) != 0)
        return -1;
    ynode_t *f = yamlconf_get(n, "file"), *k = yamlconf_get(n, "key"), *v = yamlconf_get(n, "value");
    if (!s_scalar(f) || !s_scalar(k) || !s_scalar(v))
        return s_fail(ld, yamlconf_line(n), "table %s: file, key and value are required", t->name);
    char path[4096];
    const char *fn = yamlconf_text(f);
    if (fn[0] == '/')
        snprintf(path, sizeof path, "%s", fn);
    else
        snprintf(path, sizeof path, "%s/%s", ld->dir, fn);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return s_fail(ld, yamlconf_line(f), "table %s: %s: %s", t->name, path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, fp);
        if (!r)
            break;
        len += r;
    }
    fclose(fp);
    csvread_t *rd = csvread_new(buf, len, ',', '"');
    int kc = -1, vc = -1, rc = 0;
    size_t row = 0;
    while (rc == 0) {
        int r = csvread_next(rd);
        if (r == CSVREAD_END)
            break;
        if (r == CSVREAD_ERROR) {
            rc = s_fail(ld, yamlconf_line(f), "table %s: %s:%zu: %s", t->name, path,
                        csvread_line(rd), csvread_error(rd));
            break;
        }
        size_t nf = csvread_nfields(rd);
        if (row++ == 0) {
            for (size_t i = 0; i < nf; i++) {
                if (!strcmp(csvread_field(rd, i, NULL), yamlconf_text(k))) kc = (int) i;
                if (!strcmp(csvread_field(rd, i, NULL), yamlconf_text(v))) vc = (int) i;
            }
            if (kc < 0 || vc < 0)
                rc = s_fail(ld, yamlconf_line(n), "table %s: %s has no column '%s' or '%s'", t->name,
                            path, yamlconf_text(k), yamlconf_text(v));
            continue;
        }
        if ((int) nf > kc && (int) nf > vc)
            json_object_set_new(t->map, csvread_field(rd, (size_t) kc, NULL),
                                json_string(csvread_field(rd, (size_t) vc, NULL)));
    }
    csvread_destroy(&rd);
    free(buf);
    return rc;
}

static int s_tables(ld_t *ld, ynode_t *n)
{
    mapping_t *m = ld->m;
    if (yamlconf_kind(n) != YAMLCONF_MAP)
        return s_fail(ld, yamlconf_line(n), "tables: a map of name: {source value: canonical value}");
    m->tables = calloc(yamlconf_size(n) + 1, sizeof *m->tables);
    for (size_t i = 0; i < yamlconf_size(n); i++) {
        int line;
        const char *name = yamlconf_key(n, i, &line);
        ynode_t *v = yamlconf_value(n, i);
        table_t *t = &m->tables[m->ntables++];
        t->name = strdup(name);
        t->line = line;
        t->map = json_object();
        t->keyed = json_object();
        if (yamlconf_kind(v) != YAMLCONF_MAP)
            return s_fail(ld, line, "table %s: a map of source value: canonical value", name);
        if (yamlconf_get(v, "file")) {
            if (s_table_file(ld, t, v) != 0)
                return -1;
        } else {
            for (size_t j = 0; j < yamlconf_size(v); j++) {
                const char *k = yamlconf_key(v, j, NULL);
                ynode_t *val = yamlconf_value(v, j);
                json_object_set_new(t->map, k, s_to_json(val, true));
            }
        }
        /* Matching keys, so that "NỮ", "nu", "Nữ" all find Nữ: source
         * systems differ in case and in diacritics more than in codes. */
        const char *k;
        json_t *val;
        json_object_foreach(t->map, k, val) {
            char *key = s_key(k);
            if (!key)
                return s_fail(ld, line, "table %s: key '%s' is not valid UTF-8", name, k);
            json_t *prev = json_object_get(t->keyed, key);
            if (prev && !json_equal(prev, val))
                /* keys that differ only in case/diacritics but mean different
                 * things: only their exact spelling finds them */
                json_object_set_new(t->keyed, key, json_null());
            else if (!prev)
                json_object_set(t->keyed, key, val);
            free(key);
        }
    }
    return 0;
}

/* ---- steps ------------------------------------------------------------ */

static const struct {
    const char *name;
    step_kind_t kind;
    bool arg;       /* takes an argument (as `name: arg`) */
    bool noarg;     /* may be written bare */
} s_step_names[] = {
    { "trim", ST_TRIM, false, true }, { "collapse", ST_COLLAPSE, false, true },
    { "nfc", ST_NFC, false, true }, { "upper", ST_UPPER, false, true },
    { "lower", ST_LOWER, false, true }, { "title_case", ST_TITLE, false, true },
    { "digits", ST_DIGITS, false, true }, { "split_name", ST_SPLIT_NAME, false, true },
    { "name_parts", ST_NAME_PARTS, false, true }, { "date", ST_DATE, true, false },
    { "timestamp", ST_TIMESTAMP, true, false }, { "number", ST_NUMBER, true, true },
    { "integer", ST_INTEGER, false, true }, { "table", ST_TABLE, true, false },
    { "lookup", ST_LOOKUP, true, false }, { "split", ST_SPLIT, true, false },
    { "regex", ST_REGEX, true, false }, { "match", ST_MATCH, true, false },
    { "id_document", ST_ID_DOCUMENT, false, true }, { "commune_2025", ST_COMMUNE_2025, true, false },
    { "prefix", ST_PREFIX, true, false }, { "null_if", ST_NULL_IF, true, false },
    { "string", ST_STRING, false, true }, { "date_part", ST_DATE_PART, false, true },
};

/* The date forms a `date:` or `timestamp:` step accepts. */
static bool s_date_format_ok(const char *f)
{
    static const char *const ok[] = {
        "dd/mm/yyyy", "d/m/yyyy", "yyyy-mm-dd", "dd-mm-yyyy", "dd.mm.yyyy", "mm/yyyy", "yyyy-mm",
        "yyyy", "yyyymmdd",
        /* timestamps */
        "rfc3339", "yyyy-mm-dd hh:mm:ss", "yyyy-mm-dd hh:mm:ss+zz", "dd/mm/yyyy hh:mm:ss",
        NULL };
    for (size_t i = 0; ok[i]; i++)
        if (!strcmp(ok[i], f))
            return true;
    return false;
}

static int s_step(ld_t *ld, ynode_t *n, step_t *st)
{
    memset(st, 0, sizeof *st);
    st->line = yamlconf_line(n);
    const char *name;
    ynode_t *arg = NULL;
    if (s_scalar(n))
        name = yamlconf_text(n);
    else if (yamlconf_kind(n) == YAMLCONF_MAP && yamlconf_size(n) == 1) {
        name = yamlconf_key(n, 0, NULL);
        arg = yamlconf_value(n, 0);
    } else
        return s_fail(ld, st->line, "a step is a name (trim) or one name: argument ({date: dd/mm/yyyy})");
    size_t k;
    for (k = 0; k < sizeof s_step_names / sizeof *s_step_names; k++)
        if (!strcmp(s_step_names[k].name, name))
            break;
    if (k == sizeof s_step_names / sizeof *s_step_names)
        return s_fail(ld, st->line, "unknown step '%s' (docs/mapping.md lists the steps)", name);
    st->kind = s_step_names[k].kind;
    if (!arg && !s_step_names[k].noarg)
        return s_fail(ld, st->line, "step '%s' needs an argument: {%s: ...}", name, name);
    if (arg && !s_step_names[k].arg)
        return s_fail(ld, st->line, "step '%s' takes no argument", name);
    switch (st->kind) {
    case ST_DATE:
    case ST_TIMESTAMP: {
        size_t cnt = yamlconf_kind(arg) == YAMLCONF_SEQ ? yamlconf_size(arg) : 1;
        st->formats = calloc(cnt, sizeof *st->formats);
        for (size_t i = 0; i < cnt; i++) {
            ynode_t *f = yamlconf_kind(arg) == YAMLCONF_SEQ ? yamlconf_item(arg, i) : arg;
            if (!s_scalar(f) || !s_date_format_ok(yamlconf_text(f)))
                return s_fail(ld, yamlconf_line(f), "%s: unknown format '%s' (dd/mm/yyyy, yyyy-mm-dd, "
                              "mm/yyyy, yyyy, rfc3339, 'yyyy-mm-dd hh:mm:ss+zz' ...)", name,
                              s_scalar(f) ? yamlconf_text(f) : "?");
            st->formats[st->nformats++] = strdup(yamlconf_text(f));
        }
        break;
    }
    case ST_NUMBER:
        if (arg) {
            if (!s_scalar(arg) || (strcmp(yamlconf_text(arg), "vi") && strcmp(yamlconf_text(arg), "en")))
                return s_fail(ld, st->line, "number: vi (1.234,5) or en (1,234.5)");
            st->vi = !strcmp(yamlconf_text(arg), "vi");
            st->arg = strdup(yamlconf_text(arg));   /* set: a style was named (en: 1,234.5) */
        }
        break;
    case ST_TABLE:
    case ST_LOOKUP:
        if (!s_scalar(arg) || !(st->table = s_find_table(ld->m, yamlconf_text(arg))))
            return s_fail(ld, st->line, "%s: no table '%s' in tables:", name,
                          s_scalar(arg) ? yamlconf_text(arg) : "?");
        break;
    case ST_REGEX:
    case ST_MATCH: {
        const char *src = NULL;
        st->group = 1;
        if (s_scalar(arg))
            src = yamlconf_text(arg);
        else if (yamlconf_kind(arg) == YAMLCONF_MAP) {
            static const char *const keys[] = { "pattern", "group", NULL };
            if (s_keys(ld, arg, name, keys) != 0)
                return -1;
            ynode_t *p = yamlconf_get(arg, "pattern"), *g = yamlconf_get(arg, "group");
            src = s_scalar(p) ? yamlconf_text(p) : NULL;
            if (g)
                st->group = s_scalar(g) ? atoi(yamlconf_text(g)) : -1;
        }
        if (!src || st->group < 0)
            return s_fail(ld, st->line, "%s: a pattern (and a group number)", name);
        st->arg = strdup(src);
        if (!(st->re = s_regex(ld, st->line, src)))
            return -1;
        if (st->kind == ST_REGEX) {
            uint32_t cap = 0;
            pcre2_pattern_info(st->re, PCRE2_INFO_CAPTURECOUNT, &cap);
            if ((uint32_t) st->group > cap)
                return s_fail(ld, st->line, "regex '%s' has %u group(s), not %d", src, cap, st->group);
        }
        break;
    }
    case ST_SPLIT:
    case ST_PREFIX:
        if (!s_scalar(arg))
            return s_fail(ld, st->line, "%s: a text argument", name);
        st->arg = strdup(yamlconf_text(arg));
        if (st->kind == ST_SPLIT && !*st->arg)
            return s_fail(ld, st->line, "split: an empty separator");
        break;
    case ST_COMMUNE_2025:
        if (!s_scalar(arg) || (strcmp(yamlconf_text(arg), "pre-2025") && strcmp(yamlconf_text(arg), "2025")))
            return s_fail(ld, st->line, "commune_2025: the version of the code, pre-2025 or 2025");
        st->arg = strdup(yamlconf_text(arg));
        break;
    case ST_NULL_IF:
        st->values = s_to_json(arg, false);
        if (!json_is_array(st->values)) {
            json_t *a = json_array();
            json_array_append_new(a, st->values);
            st->values = a;
        }
        break;
    default:
        break;
    }
    return 0;
}

void mapstep_free(step_t *st)
{
    for (size_t i = 0; i < st->nformats; i++)
        free(st->formats[i]);
    free(st->formats);
    free(st->arg);
    if (st->re)
        pcre2_code_free(st->re);
    json_decref(st->values);
}

/* ---- conditions ------------------------------------------------------- */

static cond_t *s_cond(ld_t *ld, ynode_t *n)
{
    int line = yamlconf_line(n);
    static const char *const keys[] = { "from", "is", "is_not", "in", "present", "matches",
                                        "before", "after", NULL };
    if (yamlconf_kind(n) != YAMLCONF_MAP) {
        s_fail(ld, line, "when: a map {from: FIELD, is: VALUE} (or is_not, in, present, matches, before, after)");
        return NULL;
    }
    if (s_keys(ld, n, "when", keys) != 0)
        return NULL;
    ynode_t *from = yamlconf_get(n, "from");
    if (!from || yamlconf_size(n) != 2) {
        s_fail(ld, line, "when: from: and exactly one test");
        return NULL;
    }
    cond_t *c = calloc(1, sizeof *c);
    c->line = line;
    if (!(c->sel = s_sel(ld, from))) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < yamlconf_size(n); i++) {
        const char *k = yamlconf_key(n, i, NULL);
        ynode_t *v = yamlconf_value(n, i);
        if (!strcmp(k, "from"))
            continue;
        if (!strcmp(k, "is")) c->op = C_IS;
        else if (!strcmp(k, "is_not")) c->op = C_IS_NOT;
        else if (!strcmp(k, "in")) c->op = C_IN;
        else if (!strcmp(k, "present")) c->op = C_PRESENT;
        else if (!strcmp(k, "matches")) c->op = C_MATCHES;
        else if (!strcmp(k, "before")) c->op = C_BEFORE;
        else c->op = C_AFTER;
        if (c->op == C_PRESENT) {
            if (!s_scalar(v) || (strcmp(yamlconf_text(v), "true") && strcmp(yamlconf_text(v), "false"))) {
                s_fail(ld, yamlconf_line(v), "present: true or false");
                return c;   /* freed with the rule */
            }
            c->present = !strcmp(yamlconf_text(v), "true");
        } else if (c->op == C_MATCHES) {
            if (!s_scalar(v) || !(c->re = s_regex(ld, yamlconf_line(v), yamlconf_text(v))))
                return c;
        } else {
            c->value = s_to_json(v, false);
            if (c->op == C_IN && !json_is_array(c->value))
                s_fail(ld, yamlconf_line(v), "in: a list of values");
        }
    }
    return c;
}

static void s_cond_free(cond_t *c)
{
    if (!c)
        return;
    s_sel_free(c->sel);
    json_decref(c->value);
    if (c->re)
        pcre2_code_free(c->re);
    free(c);
}

/* ---- rules ------------------------------------------------------------ */

static void s_rule_free(rule_t *r);

static void s_addr_free(addr_spec_t *a)
{
    if (!a)
        return;
    free(a->version);
    free(a->fallback);
    s_sel_free(a->province_code); s_sel_free(a->district_code); s_sel_free(a->commune_code);
    s_sel_free(a->province_name); s_sel_free(a->district_name); s_sel_free(a->commune_name);
    s_sel_free(a->place); s_sel_free(a->text); s_sel_free(a->decide_2025);
    free(a);
}

static void s_rule_free(rule_t *r)
{
    free(r->field);
    free(r->ptr);
    for (size_t i = 0; i < r->npath; i++)
        free(r->path[i]);
    free(r->path);
    s_sel_free(r->from);
    for (size_t i = 0; i < r->nsteps; i++)
        mapstep_free(&r->steps[i]);
    free(r->steps);
    json_decref(r->dflt);
    s_cond_free(r->when);
    for (size_t i = 0; i < r->nrules; i++)
        s_rule_free(&r->rules[i]);
    free(r->rules);
    s_sel_free(r->each);
    s_addr_free(r->addr);
}

static int s_address(ld_t *ld, ynode_t *n, rule_t *r, bool place)
{
    static const char *const keys[] = { "version", "fallback", "province_code", "district_code",
        "commune_code", "province_name", "district_name", "commune_name", "place", "text",
        "decide_2025", "unknown", NULL };
    int line = yamlconf_line(n);
    if (yamlconf_kind(n) != YAMLCONF_MAP)
        return s_fail(ld, line, "%s: a map (version, commune_code, ... docs/mapping.md)", place ? "place" : "address");
    if (s_keys(ld, n, place ? "place" : "address", keys) != 0)
        return -1;
    addr_spec_t *a = r->addr = calloc(1, sizeof *a);
    ynode_t *v = yamlconf_get(n, "version");
    if (!s_scalar(v) || (strcmp(yamlconf_text(v), "pre-2025") && strcmp(yamlconf_text(v), "2025")))
        return s_fail(ld, v ? yamlconf_line(v) : line, "%s: version: pre-2025 or 2025 (the list the codes belong to)",
                      place ? "place" : "address");
    a->version = strdup(yamlconf_text(v));
    ynode_t *fb = yamlconf_get(n, "fallback");
    if (fb) {
        if (!s_scalar(fb) || (strcmp(yamlconf_text(fb), "pre-2025") && strcmp(yamlconf_text(fb), "2025"))
            || !strcmp(yamlconf_text(fb), a->version))
            return s_fail(ld, yamlconf_line(fb), "fallback: the other version");
        a->fallback = strdup(yamlconf_text(fb));
    }
    ynode_t *u = yamlconf_get(n, "unknown");
    if (u) {
        if (!s_scalar(u) || (strcmp(yamlconf_text(u), "quarantine") && strcmp(yamlconf_text(u), "keep")))
            return s_fail(ld, yamlconf_line(u), "unknown: quarantine (default) or keep");
        a->keep_unknown = !strcmp(yamlconf_text(u), "keep");
    }
    struct { const char *k; sel_t **dst; } parts[] = {
        { "province_code", &a->province_code }, { "district_code", &a->district_code },
        { "commune_code", &a->commune_code }, { "province_name", &a->province_name },
        { "district_name", &a->district_name }, { "commune_name", &a->commune_name },
        { "place", &a->place }, { "text", &a->text }, { "decide_2025", &a->decide_2025 },
    };
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        ynode_t *p = yamlconf_get(n, parts[i].k);
        if (p && !(*parts[i].dst = s_sel(ld, p)))
            return -1;
    }
    if (place && !a->place)
        return s_fail(ld, line, "place: place: the selector of the place text");
    if (!place && !a->commune_code && !a->commune_name && !a->place && !a->district_code)
        return s_fail(ld, line, "address: commune_code, commune_name or place is needed");
    if (!strcmp(a->version, "2025") && (a->district_code || a->district_name))
        return s_fail(ld, line, "address: a 2025 address has no district (the level was abolished)");
    return 0;
}

static int s_rules(ld_t *ld, ynode_t *n, rule_t **out, size_t *nout);

static int s_rule(ld_t *ld, ynode_t *n, rule_t *r)
{
    static const char *const keys[] = { "field", "from", "const", "do", "default", "required",
                                        "when", "rules", "each", "address", "place", NULL };
    memset(r, 0, sizeof *r);
    r->line = yamlconf_line(n);
    if (yamlconf_kind(n) != YAMLCONF_MAP)
        return s_fail(ld, r->line, "a rule is a map: {field: ..., from: ..., do: [...]}");
    if (s_keys(ld, n, "rule", keys) != 0)
        return -1;
    ynode_t *field = yamlconf_get(n, "field"), *from = yamlconf_get(n, "from"),
            *cst = yamlconf_get(n, "const"), *dos = yamlconf_get(n, "do"),
            *dflt = yamlconf_get(n, "default"), *req = yamlconf_get(n, "required"),
            *when = yamlconf_get(n, "when"), *rules = yamlconf_get(n, "rules"),
            *each = yamlconf_get(n, "each"), *addr = yamlconf_get(n, "address"),
            *place = yamlconf_get(n, "place");
    if (field) {
        if (!s_scalar(field) || !*yamlconf_text(field))
            return s_fail(ld, r->line, "field: the canonical field (a.b.c)");
        r->field = strdup(yamlconf_text(field));
        char *dup = strdup(r->field), *save = NULL;
        for (char *t = strtok_r(dup, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
            r->path = realloc(r->path, (r->npath + 1) * sizeof *r->path);
            r->path[r->npath++] = strdup(t);
        }
        free(dup);
        if (r->npath == 0)
            return s_fail(ld, r->line, "field: '%s' names no field", r->field);
        size_t plen = 1;
        for (size_t i = 0; i < r->npath; i++)
            plen += strlen(r->path[i]) + 1;
        r->ptr = calloc(1, plen);
        for (size_t i = 0; i < r->npath; i++) {
            strcat(r->ptr, "/");
            strcat(r->ptr, r->path[i]);
        }
    }
    if (!r->ptr)
        r->ptr = strdup("");
    if (when && !(r->when = s_cond(ld, when)))
        return -1;
    if (ld->failed)
        return -1;
    if (each) {
        r->kind = R_EACH;
        if (!field || !rules || from || cst || addr || place)
            return s_fail(ld, r->line, "each: needs field: and rules: (and no from/const/address)");
        if (!(r->each = s_sel(ld, each)))
            return -1;
    } else if (addr || place) {
        r->kind = addr ? R_ADDRESS : R_PLACE;
        if (!field || from || cst || rules || (addr && place))
            return s_fail(ld, r->line, "%s: needs field: (and no from/const/rules)", addr ? "address" : "place");
        if (s_address(ld, addr ? addr : place, r, place != NULL) != 0)
            return -1;
    } else if (rules && !field) {
        r->kind = R_GROUP;
        if (from || cst || dos)
            return s_fail(ld, r->line, "a group (rules: without field:) takes only when: and rules:");
    } else {
        r->kind = R_FIELD;
        if (!field)
            return s_fail(ld, r->line, "field: is missing");
        if (rules)
            return s_fail(ld, r->line, "rules: belongs to a group or an each:, not to a field");
        if (from && cst)
            return s_fail(ld, r->line, "from: and const: together");
        if (!from && !cst && !dflt)
            return s_fail(ld, r->line, "field %s: from:, const: or default: is needed", r->field);
        if (from && !(r->from = s_sel(ld, from)))
            return -1;
        if (cst) {
            r->from = s_sel_new(SEL_CONST, "const");
            r->from->constant = s_to_json(cst, true);
        }
    }
    if (dos) {
        if (yamlconf_kind(dos) != YAMLCONF_SEQ)
            return s_fail(ld, yamlconf_line(dos), "do: a list of steps [trim, {date: dd/mm/yyyy}]");
        r->steps = calloc(yamlconf_size(dos) + 1, sizeof *r->steps);
        for (size_t i = 0; i < yamlconf_size(dos); i++) {
            if (s_step(ld, yamlconf_item(dos, i), &r->steps[i]) != 0) {
                mapstep_free(&r->steps[i]);   /* what it compiled before it failed */
                return -1;
            }
            r->nsteps++;
        }
    }
    if (dflt)
        r->dflt = s_to_json(dflt, true);
    if (req) {
        if (!s_scalar(req) || (strcmp(yamlconf_text(req), "true") && strcmp(yamlconf_text(req), "false")))
            return s_fail(ld, yamlconf_line(req), "required: true or false");
        r->required = !strcmp(yamlconf_text(req), "true");
    }
    if (rules && s_rules(ld, rules, &r->rules, &r->nrules) != 0)
        return -1;
    return 0;
}

static int s_rules(ld_t *ld, ynode_t *n, rule_t **out, size_t *nout)
{
    if (yamlconf_kind(n) != YAMLCONF_SEQ)
        return s_fail(ld, yamlconf_line(n), "rules: a list of rules");
    *out = calloc(yamlconf_size(n) + 1, sizeof **out);
    *nout = 0;
    for (size_t i = 0; i < yamlconf_size(n); i++) {
        int rc = s_rule(ld, yamlconf_item(n, i), &(*out)[*nout]);
        (*nout)++;
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- fields against the schema ------------------------------------------ */

/* The schema files as JSON, for walking properties (jschema validates; this
 * only answers "does that field exist"). */
typedef struct {
    const char *dir;
    json_t     *files;     /* file name -> document */
} schk_t;

static const json_t *s_sk_file(schk_t *k, const char *file)
{
    json_t *d = json_object_get(k->files, file);
    if (!d) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", k->dir, file);
        d = json_load_file(path, 0, NULL);
        if (!d)
            return NULL;
        json_object_set_new(k->files, file, d);
    }
    return d;
}

/* Follows $ref (and allOf's first $ref) until a node with properties or
 * items; *file is the file the node is in. */
static const json_t *s_sk_deref(schk_t *k, const json_t *n, const char **file)
{
    for (int depth = 0; n && depth < 16; depth++) {
        const char *ref = json_string_value(json_object_get(n, "$ref"));
        if (!ref)
            return n;
        const char *hash = strchr(ref, '#');
        char fname[256];
        if (hash && hash != ref) {
            snprintf(fname, sizeof fname, "%.*s", (int) (hash - ref), ref);
            *file = json_string_value(json_object_get(json_object_get(k->files, "__names"), fname));
            if (!*file) {
                json_t *names = json_object_get(k->files, "__names");
                json_object_set_new(names, fname, json_string(fname));
                *file = json_string_value(json_object_get(names, fname));
            }
        }
        const json_t *d = s_sk_file(k, *file);
        if (!d || !hash)
            return NULL;
        n = d;
        char ptr[512];
        snprintf(ptr, sizeof ptr, "%s", hash + 1);
        char *save = NULL;
        for (char *t = strtok_r(ptr, "/", &save); t && n; t = strtok_r(NULL, "/", &save))
            n = json_object_get(n, t);
    }
    return n;
}

/* Checks rules (and their sub-rules) against the schema node they write
 * into. */
static int s_check_fields(ld_t *ld, schk_t *k, const rule_t *rules, size_t n, const json_t *node,
                          const char *file)
{
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = &rules[i];
        if (r->kind == R_GROUP) {
            if (s_check_fields(ld, k, r->rules, r->nrules, node, file) != 0)
                return -1;
            continue;
        }
        const json_t *at = node;
        const char *f = file;
        for (size_t p = 0; p < r->npath; p++) {
            at = s_sk_deref(k, at, &f);
            const json_t *props = json_object_get(at, "properties");
            const json_t *next = json_object_get(props, r->path[p]);
            /* Only a closed object (additionalProperties / unevaluatedProperties
             * false: all of ours) limits its fields. */
            bool closed = json_is_false(json_object_get(at, "additionalProperties"))
                       || json_is_false(json_object_get(at, "unevaluatedProperties"));
            if (!next && !closed) {
                at = NULL;
                break;
            }
            if (!next || json_is_false(next))
                return s_fail(ld, r->line, "field %s: %s has no field '%s'%s", r->field, ld->m->schema,
                              r->path[p], p ? " there" : "");
            at = next;
        }
        if (r->kind == R_EACH && at) {
            at = s_sk_deref(k, at, &f);
            const json_t *items = json_object_get(at, "items");
            if (!items)
                return s_fail(ld, r->line, "field %s: each: the field is not a list in %s", r->field, ld->m->schema);
            if (s_check_fields(ld, k, r->rules, r->nrules, items, f) != 0)
                return -1;
        }
    }
    return 0;
}

/* ---- whole file ------------------------------------------------------- */

static char *s_sha8(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    unsigned char buf[8192], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(c, buf, n);
    fclose(f);
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    char *hex = malloc(9);
    for (int i = 0; i < 4; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return hex;
}

mapping_t *mapping_load(const char *path, const mapping_env_t *env, char *err, size_t errsz)
{
    err[0] = 0;
    char *yerr = NULL;
    yamlconf_t *y = yamlconf_load(path, &yerr);
    if (!y) {
        snprintf(err, errsz, "%s", yerr ? yerr : "cannot read");
        free(yerr);
        return NULL;
    }
    mapping_t *m = calloc(1, sizeof *m);
    m->env = env;
    m->path = strdup(path);
    const char *slash = strrchr(path, '/');
    m->file = strdup(slash ? slash + 1 : path);
    char *dir = strdup(path);
    char *ds = strrchr(dir, '/');
    if (ds)
        *ds = 0;
    else
        strcpy(dir, ".");
    ld_t ld = { .file = m->file, .err = err, .errsz = errsz, .dir = dir, .m = m };
    ynode_t *root = yamlconf_root(y);
    static const char *const keys[] = { "mapping", "version", "produces", "input", "namespaces",
                                        "records", "record_id", "tables", "rules", NULL };
    if (!root || yamlconf_kind(root) != YAMLCONF_MAP) {
        s_fail(&ld, root ? yamlconf_line(root) : 1, "a mapping file is a map (mapping:, version:, produces:, rules: ...)");
        goto done;
    }
    if (s_keys(&ld, root, "mapping file", keys) != 0)
        goto done;
    ynode_t *name = yamlconf_get(root, "mapping"), *ver = yamlconf_get(root, "version"),
            *prod = yamlconf_get(root, "produces"), *input = yamlconf_get(root, "input"),
            *ns = yamlconf_get(root, "namespaces"), *recs = yamlconf_get(root, "records"),
            *rid = yamlconf_get(root, "record_id"), *tables = yamlconf_get(root, "tables"),
            *rules = yamlconf_get(root, "rules");
    if (!s_scalar(name) || !*yamlconf_text(name)) {
        s_fail(&ld, yamlconf_line(root), "mapping: the source's name (as configured on the bus) is required");
        goto done;
    }
    m->source = strdup(yamlconf_text(name));
    if (!s_scalar(ver) || atoi(yamlconf_text(ver)) < 1) {
        s_fail(&ld, ver ? yamlconf_line(ver) : yamlconf_line(root), "version: a positive integer is required");
        goto done;
    }
    if (!s_scalar(prod)) {
        s_fail(&ld, yamlconf_line(root), "produces: the schema (person.v1, land_parcel.v1, civil_event.v1) is required");
        goto done;
    }
    m->schema = strdup(yamlconf_text(prod));
    if (env && !(m->jschema = jschema_set_get(env->schemas, m->schema))) {
        s_fail(&ld, yamlconf_line(prod), "produces: no schema '%s' in the schemas folder", m->schema);
        goto done;
    }
    char *sha = s_sha8(path);
    char vbuf[256];
    snprintf(vbuf, sizeof vbuf, "%s@%s+%s", m->source, yamlconf_text(ver), sha ? sha : "0");
    free(sha);
    m->version = strdup(vbuf);
    m->input = MAPPING_INPUT_JSON;
    if (input) {
        if (!s_scalar(input) || (strcmp(yamlconf_text(input), "json") && strcmp(yamlconf_text(input), "xml"))) {
            s_fail(&ld, yamlconf_line(input), "input: json (also CSV rows) or xml");
            goto done;
        }
        m->input = strcmp(yamlconf_text(input), "xml") ? MAPPING_INPUT_JSON : MAPPING_INPUT_XML;
    }
    m->namespaces = json_object();
    if (ns) {
        if (yamlconf_kind(ns) != YAMLCONF_MAP) {
            s_fail(&ld, yamlconf_line(ns), "namespaces: a map of prefix: URI");
            goto done;
        }
        json_decref(m->namespaces);
        m->namespaces = s_to_json(ns, false);
    }
    if (recs) {
        if (!s_scalar(recs)) {
            s_fail(&ld, yamlconf_line(recs), "records: an XPath (xml) of the record elements in a whole file");
            goto done;
        }
        m->records_xpath = strdup(yamlconf_text(recs));
        xmlXPathCompExprPtr x = s_xpath_compile(&ld, yamlconf_line(recs), m->records_xpath);
        if (!x)
            goto done;
        xmlXPathFreeCompExpr(x);
    }
    if (tables && s_tables(&ld, tables) != 0)
        goto done;
    if (rid) {
        m->record_id_line = yamlconf_line(rid);
        if (!(m->record_id = s_sel(&ld, rid)))
            goto done;
    }
    if (!rules) {
        s_fail(&ld, yamlconf_line(root), "rules: the list of rules is required");
        goto done;
    }
    if (s_rules(&ld, rules, &m->rules, &m->nrules) == 0 && env && env->schemas_dir) {
        schk_t k = { .dir = env->schemas_dir, .files = json_object() };
        json_object_set_new(k.files, "__names", json_object());
        char file[300];
        snprintf(file, sizeof file, "%s.json", m->schema);
        json_t *names = json_object_get(k.files, "__names");
        json_object_set_new(names, file, json_string(file));
        const char *fp = json_string_value(json_object_get(names, file));
        const json_t *root_schema = s_sk_file(&k, fp);
        if (root_schema)
            s_check_fields(&ld, &k, m->rules, m->nrules, root_schema, fp);
        json_decref(k.files);
    }
done:
    free(dir);
    yamlconf_destroy(&y);
    if (ld.failed || !m->rules) {
        if (!err[0])
            snprintf(err, errsz, "%s: cannot load", path);
        mapping_destroy(&m);
        return NULL;
    }
    return m;
}

void mapping_destroy(mapping_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mapping_t *m = *self_p;
    free(m->path);
    free(m->file);
    free(m->source);
    free(m->schema);
    free(m->version);
    json_decref(m->namespaces);
    free(m->records_xpath);
    s_sel_free(m->record_id);
    for (size_t i = 0; i < m->ntables; i++) {
        free(m->tables[i].name);
        json_decref(m->tables[i].map);
        json_decref(m->tables[i].keyed);
    }
    free(m->tables);
    for (size_t i = 0; i < m->nrules; i++)
        s_rule_free(&m->rules[i]);
    free(m->rules);
    free(m);
    *self_p = NULL;
}

const char *mapping_source(const mapping_t *self) { return self->source; }
const char *mapping_schema(const mapping_t *self) { return self->schema; }
const char *mapping_version(const mapping_t *self) { return self->version; }
const char *mapping_path(const mapping_t *self) { return self->path; }
mapping_input_t mapping_input(const mapping_t *self) { return self->input; }
const char *mapping_records_xpath(const mapping_t *self) { return self->records_xpath; }
const json_t *mapping_namespaces(const mapping_t *self) { return self->namespaces; }

void mapping_error_format(const mapping_t *self, const mapping_error_t *e, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s:%d: %s%s%s%s: %s: %s", self ? self->file : "mapping", e->line,
             e->field[0] ? e->field : "(record)", e->source[0] ? " (" : "", e->source,
             e->source[0] ? ")" : "", e->rule, e->message);
}
