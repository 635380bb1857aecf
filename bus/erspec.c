/* erspec.c — the entity-resolution spec: a YAML file (config/er/<kind>.yaml,
 * docs/entity-resolution.md) compiled into er_spec_t.
 *
 * Everything is checked here, so that a run never meets a bad spec: unknown
 * keys, unknown fields in comparisons and blocking rules, a method that does
 * not fit the field's type, thresholds out of order. Errors are
 * "file:line: what". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "er_int.h"
#include "yamlconf.h"

static const char *const s_name_levels[] = {"exact", "exact without marks", "parts reordered",
                                            "similar or one edit", "somewhat similar", "different"};
static const char *const s_date_levels[] = {"exact", "day and month swapped", "year (and month) agree",
                                            "one typo apart", "year within 1", "different"};
static const char *const s_id_levels[] = {"exact", "one digit off", "two digits swapped", "different"};
static const char *const s_exact_levels[] = {"equal", "different"};

/* Starting m probabilities: what a true match usually shows. EM moves them. */
static const double s_name_m0[] = {0.70, 0.10, 0.03, 0.10, 0.04, 0.03};
static const double s_date_m0[] = {0.85, 0.02, 0.03, 0.05, 0.03, 0.02};
static const double s_id_m0[]   = {0.95, 0.02, 0.01, 0.02};
static const double s_exact_m0[] = {0.95, 0.05};

typedef struct {
    const char *file;
    char *err;
    size_t errlen;
} s_ctx_t;

static int s_fail(s_ctx_t *x, const yamlconf_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail(s_ctx_t *x, const yamlconf_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(x->err, x->errlen, "%s:%d: %s", x->file, n ? yamlconf_line(n) : 0, msg);
    return -1;
}

/* Every key of map n must be one of allowed (NULL-terminated). */
static int s_keys(s_ctx_t *x, const yamlconf_node_t *n, const char *what, const char *const *allowed)
{
    if (yamlconf_kind(n) != YAMLCONF_MAP)
        return s_fail(x, n, "%s: expected a map, found %s", what, yamlconf_kind_name(n));
    for (size_t i = 0; i < yamlconf_size(n); i++) {
        const char *k = yamlconf_key(n, i, NULL);
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(k, *a) == 0;
        if (!ok) {
            char list[300] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            return s_fail(x, yamlconf_value(n, i), "%s: unknown key '%s' (known: %s)", what, k, list);
        }
    }
    return 0;
}

static const char *s_scalar(s_ctx_t *x, const yamlconf_node_t *n, const char *what)
{
    if (!n || yamlconf_kind(n) != YAMLCONF_SCALAR || yamlconf_is_null(n)) {
        s_fail(x, n, "%s: expected a value", what);
        return NULL;
    }
    return yamlconf_text(n);
}

static int s_number(s_ctx_t *x, const yamlconf_node_t *n, const char *what, double lo, double hi, double *out)
{
    const char *t = s_scalar(x, n, what);
    if (!t)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (errno || end == t || *end || !(v >= lo && v <= hi))
        return s_fail(x, n, "%s: '%s' is not a number in [%g, %g]", what, t, lo, hi);
    *out = v;
    return 0;
}

static int s_field_index(const er_spec_t *s, const char *name)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return (int) i;
    return -1;
}

/* record: { id: {from, column}, source: {from, column} | "constant", updated: {from, column} } */
static int s_where(s_ctx_t *x, const yamlconf_node_t *n, const char *what, char **from, char **column,
                   char **constant)
{
    if (yamlconf_kind(n) == YAMLCONF_SCALAR && constant) {
        *constant = strdup(yamlconf_text(n));
        return 0;
    }
    static const char *const keys[] = {"from", "column", NULL};
    if (s_keys(x, n, what, keys))
        return -1;
    const yamlconf_node_t *f = yamlconf_get(n, "from"), *c = yamlconf_get(n, "column");
    if (f) {
        const char *t = s_scalar(x, f, what);
        if (!t)
            return -1;
        if (t[0] != '/')
            return s_fail(x, f, "%s: from: '%s' is not a JSON pointer (it starts with /)", what, t);
        *from = strdup(t);
    }
    if (c) {
        const char *t = s_scalar(x, c, what);
        if (!t)
            return -1;
        *column = strdup(t);
    }
    if (!f && !c)
        return s_fail(x, n, "%s: needs from: (JSON) or column: (CSV)", what);
    return 0;
}

static int s_fields(s_ctx_t *x, er_spec_t *s, const yamlconf_node_t *n)
{
    if (!n || yamlconf_kind(n) != YAMLCONF_MAP || yamlconf_size(n) == 0)
        return s_fail(x, n, "fields: expected a map of field: {type, from, column}");
    s->nfields = yamlconf_size(n);
    s->fields = calloc(s->nfields, sizeof *s->fields);
    for (size_t i = 0; i < s->nfields; i++) {
        int line;
        const char *name = yamlconf_key(n, i, &line);
        const yamlconf_node_t *v = yamlconf_value(n, i);
        er_field_t *f = &s->fields[i];
        f->name = strdup(name);
        f->line = line;
        char what[128];
        snprintf(what, sizeof what, "field %s", name);
        static const char *const keys[] = {"type", "from", "column", "date_format", NULL};
        if (s_keys(x, v, what, keys))
            return -1;
        const char *t = s_scalar(x, yamlconf_get(v, "type") ? yamlconf_get(v, "type") : v, what);
        if (!t)
            return -1;
        static const struct { const char *n; er_ftype_t t; } types[] = {
            {"name", ER_T_NAME}, {"date", ER_T_DATE}, {"id", ER_T_ID}, {"code", ER_T_CODE}, {"text", ER_T_TEXT}};
        for (size_t k = 0; k < sizeof types / sizeof *types; k++)
            if (strcmp(t, types[k].n) == 0)
                f->type = types[k].t;
        if (!f->type)
            return s_fail(x, yamlconf_get(v, "type"), "%s: type '%s' (known: name, date, id, code, text)", what, t);
        const yamlconf_node_t *fr = yamlconf_get(v, "from"), *co = yamlconf_get(v, "column"),
                              *df = yamlconf_get(v, "date_format");
        if (fr) {
            /* one pointer, or a list: the first that gives a value is used */
            bool list = yamlconf_kind(fr) == YAMLCONF_SEQ;
            size_t np = list ? yamlconf_size(fr) : 1;
            if (list && (np == 0 || np > 8))
                return s_fail(x, fr, "%s: from: a JSON pointer or a list of 1 to 8", what);
            if (np > 1)
                f->from_alt = calloc(np, sizeof *f->from_alt);
            for (size_t k = 0; k < np; k++) {
                const yamlconf_node_t *item = list ? yamlconf_item(fr, k) : fr;
                const char *p = s_scalar(x, item, what);
                if (!p)
                    return -1;
                if (p[0] != '/')
                    return s_fail(x, item, "%s: from: '%s' is not a JSON pointer (it starts with /)", what, p);
                if (k == 0)
                    f->from = strdup(p);
                else
                    f->from_alt[k - 1] = strdup(p);
            }
        }
        if (co) {
            const char *p = s_scalar(x, co, what);
            if (!p)
                return -1;
            f->column = strdup(p);
        }
        if (df) {
            const char *p = s_scalar(x, df, what);
            if (!p)
                return -1;
            if (f->type != ER_T_DATE)
                return s_fail(x, df, "%s: date_format on a field that is not a date", what);
            if (strcmp(p, "dd/mm/yyyy") && strcmp(p, "yyyy-mm-dd") && strcmp(p, "yyyy") && strcmp(p, "mm/dd/yyyy") &&
                strcmp(p, "dd.mm.yyyy") && strcmp(p, "yyyymmdd"))
                return s_fail(x, df, "%s: date_format '%s' (known: yyyy-mm-dd, dd/mm/yyyy, mm/dd/yyyy, "
                                     "dd.mm.yyyy, yyyymmdd, yyyy)", what, p);
            f->date_format = strdup(p);
        }
        if (!fr && !co)
            return s_fail(x, v, "%s: needs from: (JSON pointer) or column: (CSV)", what);
    }
    return 0;
}

static int s_comparisons(s_ctx_t *x, er_spec_t *s, const yamlconf_node_t *n)
{
    if (!n || yamlconf_kind(n) != YAMLCONF_SEQ || yamlconf_size(n) == 0)
        return s_fail(x, n, "comparisons: expected a list");
    if (yamlconf_size(n) > ER_MAX_COMPS)
        return s_fail(x, n, "comparisons: at most %d", ER_MAX_COMPS);
    s->ncomps = yamlconf_size(n);
    s->comps = calloc(s->ncomps, sizeof *s->comps);
    for (size_t i = 0; i < s->ncomps; i++) {
        const yamlconf_node_t *v = yamlconf_item(n, i);
        er_comp_t *c = &s->comps[i];
        c->line = yamlconf_line(v);
        static const char *const keys[] = {"name", "field", "method", "tf", "jw", "cannot_link", "m", NULL};
        if (s_keys(x, v, "comparison", keys))
            return -1;
        const char *name = s_scalar(x, yamlconf_get(v, "name") ? yamlconf_get(v, "name") : v, "comparison: name");
        if (!name)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->comps[k].name, name) == 0)
                return s_fail(x, v, "comparison %s: the name is used twice", name);
        c->name = strdup(name);
        char what[128];
        snprintf(what, sizeof what, "comparison %s", name);
        const char *field = s_scalar(x, yamlconf_get(v, "field") ? yamlconf_get(v, "field") : v, what);
        if (!field)
            return -1;
        c->field = s_field_index(s, field);
        if (c->field < 0)
            return s_fail(x, yamlconf_get(v, "field"), "%s: no field '%s' in fields:", what, field);
        er_ftype_t ft = s->fields[c->field].type;
        const char *method = s_scalar(x, yamlconf_get(v, "method") ? yamlconf_get(v, "method") : v, what);
        if (!method)
            return -1;
        const double *m0;
        if (strcmp(method, "name") == 0) {
            if (ft != ER_T_NAME && ft != ER_T_TEXT)
                return s_fail(x, yamlconf_get(v, "method"), "%s: method name needs a name or text field", what);
            c->kind = ER_C_NAME, c->nlevels = 6, c->level_names = s_name_levels, m0 = s_name_m0;
        } else if (strcmp(method, "date") == 0) {
            if (ft != ER_T_DATE)
                return s_fail(x, yamlconf_get(v, "method"), "%s: method date needs a date field", what);
            c->kind = ER_C_DATE, c->nlevels = 6, c->level_names = s_date_levels, m0 = s_date_m0;
        } else if (strcmp(method, "id") == 0) {
            if (ft != ER_T_ID && ft != ER_T_CODE)
                return s_fail(x, yamlconf_get(v, "method"), "%s: method id needs an id or code field", what);
            c->kind = ER_C_ID, c->nlevels = 4, c->level_names = s_id_levels, m0 = s_id_m0;
        } else if (strcmp(method, "exact") == 0) {
            c->kind = ER_C_EXACT, c->nlevels = 2, c->level_names = s_exact_levels, m0 = s_exact_m0;
        } else
            return s_fail(x, yamlconf_get(v, "method"), "%s: method '%s' (known: name, date, id, exact)", what,
                          method);
        memcpy(c->m0, m0, sizeof(double) * (size_t) c->nlevels);
        c->jw_high = 0.92, c->jw_low = 0.80;
        const yamlconf_node_t *jw = yamlconf_get(v, "jw");
        if (jw) {
            if (c->kind != ER_C_NAME || yamlconf_kind(jw) != YAMLCONF_SEQ || yamlconf_size(jw) != 2)
                return s_fail(x, jw, "%s: jw: [high, low] applies to method name", what);
            if (s_number(x, yamlconf_item(jw, 0), what, 0, 1, &c->jw_high) ||
                s_number(x, yamlconf_item(jw, 1), what, 0, 1, &c->jw_low))
                return -1;
            if (c->jw_low > c->jw_high)
                return s_fail(x, jw, "%s: jw: the high threshold comes first", what);
        }
        const yamlconf_node_t *tf = yamlconf_get(v, "tf"), *cl = yamlconf_get(v, "cannot_link");
        if (tf) {
            const char *t = s_scalar(x, tf, what);
            if (!t || (strcmp(t, "true") && strcmp(t, "false")))
                return s_fail(x, tf, "%s: tf: true or false", what);
            c->tf = strcmp(t, "true") == 0;
            if (c->tf && c->kind != ER_C_NAME && c->kind != ER_C_EXACT)
                return s_fail(x, tf, "%s: tf applies to methods name and exact", what);
        }
        if (cl) {
            const char *t = s_scalar(x, cl, what);
            if (!t || (strcmp(t, "true") && strcmp(t, "false")))
                return s_fail(x, cl, "%s: cannot_link: true or false", what);
            c->cannot_link = strcmp(t, "true") == 0;
        }
        const yamlconf_node_t *m = yamlconf_get(v, "m");
        if (m) {
            if (yamlconf_kind(m) != YAMLCONF_SEQ || (int) yamlconf_size(m) != c->nlevels)
                return s_fail(x, m, "%s: m: a list of %d probabilities, one per level", what, c->nlevels);
            double sum = 0;
            for (int l = 0; l < c->nlevels; l++) {
                if (s_number(x, yamlconf_item(m, (size_t) l), what, 1e-9, 1, &c->m0[l]))
                    return -1;
                sum += c->m0[l];
            }
            if (sum < 0.99 || sum > 1.01)
                return s_fail(x, m, "%s: m: the probabilities add up to %.3f, not 1", what, sum);
        }
    }
    return 0;
}

/* "full_name.key + birth_date.year" */
static int s_rule(s_ctx_t *x, er_spec_t *s, const yamlconf_node_t *n, er_rule_t *r)
{
    const char *t = s_scalar(x, n, "blocking rule");
    if (!t)
        return -1;
    r->text = strdup(t);
    r->line = yamlconf_line(n);
    char *copy = strdup(t), *save = NULL;
    for (char *tok = strtok_r(copy, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = '\0';
        if (r->nparts == ER_MAX_KPARTS) {
            free(copy);
            return s_fail(x, n, "blocking rule '%s': at most %d parts", t, ER_MAX_KPARTS);
        }
        char *dot = strchr(tok, '.');
        const char *part = dot ? dot + 1 : "value";
        if (dot)
            *dot = '\0';
        int f = s_field_index(s, tok);
        if (f < 0) {
            s_fail(x, n, "blocking rule '%s': no field '%s' in fields:", t, tok);
            free(copy);
            return -1;
        }
        static const struct { const char *n; er_kpart_kind_t k; unsigned types; } parts[] = {
            {"value", ER_K_VALUE, ~0u},
            {"key", ER_K_KEY, 1u << ER_T_NAME | 1u << ER_T_TEXT},
            {"year", ER_K_YEAR, 1u << ER_T_DATE},
            {"ym", ER_K_YM, 1u << ER_T_DATE},
            {"phonetic", ER_K_PHONETIC, 1u << ER_T_NAME},
            {"first", ER_K_FIRST, 1u << ER_T_NAME},
            {"last", ER_K_LAST, 1u << ER_T_NAME},
            {"sorted", ER_K_SORTED, 1u << ER_T_NAME},
        };
        er_kpart_kind_t k = 0;
        for (size_t p = 0; p < sizeof parts / sizeof *parts; p++)
            if (strcmp(part, parts[p].n) == 0) {
                if (!(parts[p].types & (1u << s->fields[f].type))) {
                    s_fail(x, n, "blocking rule '%s': .%s does not apply to field %s", t, part, tok);
                    free(copy);
                    return -1;
                }
                k = parts[p].k;
            }
        if (!k) {
            s_fail(x, n, "blocking rule '%s': unknown part '.%s' (known: value, key, year, ym, phonetic, "
                         "first, last, sorted)", t, part);
            free(copy);
            return -1;
        }
        r->parts[r->nparts].field = f;
        r->parts[r->nparts].kind = k;
        r->nparts++;
    }
    free(copy);
    if (r->nparts == 0)
        return s_fail(x, n, "blocking rule: empty");
    return 0;
}

static int s_blocking(s_ctx_t *x, er_spec_t *s, const yamlconf_node_t *n)
{
    static const char *const keys[] = {"max_block", "rules", NULL};
    if (!n)
        return s_fail(x, n, "blocking: missing");
    if (s_keys(x, n, "blocking", keys))
        return -1;
    double mb = 500;
    if (yamlconf_get(n, "max_block") && s_number(x, yamlconf_get(n, "max_block"), "blocking: max_block", 2, 1e6, &mb))
        return -1;
    s->max_block = (size_t) mb;
    const yamlconf_node_t *r = yamlconf_get(n, "rules");
    if (!r || yamlconf_kind(r) != YAMLCONF_SEQ || yamlconf_size(r) == 0)
        return s_fail(x, r ? r : n, "blocking: rules: expected a list");
    if (yamlconf_size(r) > 250)
        return s_fail(x, r, "blocking: at most 250 rules");
    s->nrules = yamlconf_size(r);
    s->rules = calloc(s->nrules, sizeof *s->rules);
    for (size_t i = 0; i < s->nrules; i++)
        if (s_rule(x, s, yamlconf_item(r, i), &s->rules[i]))
            return -1;
    return 0;
}

static int s_model(s_ctx_t *x, er_spec_t *s, const yamlconf_node_t *root)
{
    s->prior = 0, s->u_pairs = 1000000, s->em_max_iter = 100, s->em_tolerance = 1e-5;
    s->match = 0.95, s->review = 0.5, s->max_cluster = 30;
    const yamlconf_node_t *m = yamlconf_get(root, "model");
    if (m) {
        static const char *const keys[] = {"prior", "u_pairs", "em_max_iterations", "em_tolerance", NULL};
        if (s_keys(x, m, "model", keys))
            return -1;
        const yamlconf_node_t *p = yamlconf_get(m, "prior");
        if (p && !(yamlconf_kind(p) == YAMLCONF_SCALAR && strcmp(yamlconf_text(p), "estimate") == 0) &&
            s_number(x, p, "model: prior (a probability, or estimate)", 1e-12, 0.999999, &s->prior))
            return -1;
        double v;
        if (yamlconf_get(m, "u_pairs")) {
            if (s_number(x, yamlconf_get(m, "u_pairs"), "model: u_pairs", 1000, 1e9, &v))
                return -1;
            s->u_pairs = (size_t) v;
        }
        if (yamlconf_get(m, "em_max_iterations")) {
            if (s_number(x, yamlconf_get(m, "em_max_iterations"), "model: em_max_iterations", 1, 10000, &v))
                return -1;
            s->em_max_iter = (int) v;
        }
        if (yamlconf_get(m, "em_tolerance") &&
            s_number(x, yamlconf_get(m, "em_tolerance"), "model: em_tolerance", 1e-12, 0.1, &s->em_tolerance))
            return -1;
    }
    const yamlconf_node_t *t = yamlconf_get(root, "thresholds");
    if (t) {
        static const char *const keys[] = {"match", "review", NULL};
        if (s_keys(x, t, "thresholds", keys))
            return -1;
        if (yamlconf_get(t, "match") && s_number(x, yamlconf_get(t, "match"), "thresholds: match", 0.001, 0.999999, &s->match))
            return -1;
        if (yamlconf_get(t, "review") &&
            s_number(x, yamlconf_get(t, "review"), "thresholds: review", 0.000001, 0.999999, &s->review))
            return -1;
        if (s->review > s->match)
            return s_fail(x, t, "thresholds: review (%g) is above match (%g)", s->review, s->match);
    }
    const yamlconf_node_t *c = yamlconf_get(root, "clustering");
    if (c) {
        static const char *const keys[] = {"max_cluster", NULL};
        double v;
        if (s_keys(x, c, "clustering", keys))
            return -1;
        if (yamlconf_get(c, "max_cluster")) {
            if (s_number(x, yamlconf_get(c, "max_cluster"), "clustering: max_cluster", 2, 10000, &v))
                return -1;
            s->max_cluster = (size_t) v;
        }
    }
    s->survive[0] = ER_S_COMPLETENESS, s->survive[1] = ER_S_TRUST, s->survive[2] = ER_S_RECENCY;
    s->nsurvive = 3;
    const yamlconf_node_t *sv = yamlconf_get(root, "survivorship");
    if (sv) {
        static const char *const keys[] = {"order", "trust", NULL};
        if (s_keys(x, sv, "survivorship", keys))
            return -1;
        const yamlconf_node_t *o = yamlconf_get(sv, "order");
        if (o) {
            if (yamlconf_kind(o) != YAMLCONF_SEQ || yamlconf_size(o) == 0 || yamlconf_size(o) > 3)
                return s_fail(x, o, "survivorship: order: a list of completeness, trust, recency");
            s->nsurvive = (int) yamlconf_size(o);
            for (size_t i = 0; i < yamlconf_size(o); i++) {
                const char *r = s_scalar(x, yamlconf_item(o, i), "survivorship: order");
                if (!r)
                    return -1;
                s->survive[i] = strcmp(r, "completeness") == 0 ? ER_S_COMPLETENESS
                              : strcmp(r, "trust") == 0        ? ER_S_TRUST
                              : strcmp(r, "recency") == 0      ? ER_S_RECENCY
                                                               : 0;
                if (!s->survive[i])
                    return s_fail(x, yamlconf_item(o, i), "survivorship: order: '%s' (known: completeness, "
                                                          "trust, recency)", r);
            }
        }
        const yamlconf_node_t *tr = yamlconf_get(sv, "trust");
        if (tr) {
            if (yamlconf_kind(tr) != YAMLCONF_SEQ)
                return s_fail(x, tr, "survivorship: trust: a list of sources, most trusted first");
            s->ntrust = yamlconf_size(tr);
            s->trust = calloc(s->ntrust + 1, sizeof *s->trust);
            for (size_t i = 0; i < s->ntrust; i++) {
                const char *r = s_scalar(x, yamlconf_item(tr, i), "survivorship: trust");
                if (!r)
                    return -1;
                s->trust[i] = strdup(r);
            }
        }
    }
    return 0;
}

er_spec_t *er_spec_load(const char *path, char *err, size_t errlen)
{
    s_ctx_t x = {path, err, errlen};
    char *yerr = NULL;
    yamlconf_t *doc = yamlconf_load(path, &yerr);
    if (!doc) {
        snprintf(err, errlen, "%s", yerr ? yerr : "cannot read");
        free(yerr);
        return NULL;
    }
    er_spec_t *s = calloc(1, sizeof *s);
    s->path = strdup(path);
    const yamlconf_node_t *root = yamlconf_root(doc);
    static const char *const keys[] = {"kind", "version", "record", "fields", "comparisons", "blocking", "model",
                                       "thresholds", "clustering", "survivorship", NULL};
    int rc = -1;
    if (!root) {
        s_fail(&x, NULL, "empty spec");
        goto done;
    }
    if (s_keys(&x, root, "spec", keys))
        goto done;
    const char *kind = s_scalar(&x, yamlconf_get(root, "kind") ? yamlconf_get(root, "kind") : root, "kind");
    if (!kind)
        goto done;
    if (strspn(kind, "abcdefghijklmnopqrstuvwxyz_") != strlen(kind) || strlen(kind) > 31) {
        s_fail(&x, yamlconf_get(root, "kind"), "kind: '%s' is not [a-z_]{1,31}", kind);
        goto done;
    }
    s->kind = strdup(kind);
    double v = 1;
    if (yamlconf_get(root, "version") && s_number(&x, yamlconf_get(root, "version"), "version", 1, 1e6, &v))
        goto done;
    s->version = (int) v;
    const yamlconf_node_t *rec = yamlconf_get(root, "record");
    if (!rec) {
        s_fail(&x, root, "record: missing (where the record id and source are read)");
        goto done;
    }
    static const char *const rkeys[] = {"id", "source", "updated", NULL};
    if (s_keys(&x, rec, "record", rkeys))
        goto done;
    if (!yamlconf_get(rec, "id") || !yamlconf_get(rec, "source")) {
        s_fail(&x, rec, "record: needs id: and source:");
        goto done;
    }
    if (s_where(&x, yamlconf_get(rec, "id"), "record: id", &s->id_from, &s->id_column, NULL) ||
        s_where(&x, yamlconf_get(rec, "source"), "record: source", &s->source_from, &s->source_column,
                &s->source_const))
        goto done;
    if (yamlconf_get(rec, "updated") &&
        s_where(&x, yamlconf_get(rec, "updated"), "record: updated", &s->updated_from, &s->updated_column, NULL))
        goto done;
    if (s_fields(&x, s, yamlconf_get(root, "fields")) || s_comparisons(&x, s, yamlconf_get(root, "comparisons")) ||
        s_blocking(&x, s, yamlconf_get(root, "blocking")) || s_model(&x, s, root))
        goto done;
    rc = 0;
done:
    yamlconf_destroy(&doc);
    if (rc)
        er_spec_destroy(&s);
    return s;
}

void er_spec_destroy(er_spec_t **self_p)
{
    er_spec_t *s = *self_p;
    if (!s)
        return;
    for (size_t i = 0; i < s->nfields; i++) {
        free(s->fields[i].name);
        free(s->fields[i].from);
        for (char **a = s->fields[i].from_alt; a && *a; a++)
            free(*a);
        free(s->fields[i].from_alt);
        free(s->fields[i].column);
        free(s->fields[i].date_format);
    }
    free(s->fields);
    for (size_t i = 0; i < s->ncomps; i++)
        free(s->comps[i].name);
    free(s->comps);
    for (size_t i = 0; i < s->nrules; i++)
        free(s->rules[i].text);
    free(s->rules);
    for (size_t i = 0; i < s->ntrust; i++)
        free(s->trust[i]);
    free(s->trust);
    free(s->path), free(s->kind);
    free(s->id_from), free(s->id_column), free(s->source_from), free(s->source_column), free(s->source_const);
    free(s->updated_from), free(s->updated_column);
    free(s);
    *self_p = NULL;
}

const char *er_spec_kind(const er_spec_t *spec) { return spec->kind; }
size_t er_spec_field_count(const er_spec_t *spec) { return spec->nfields; }
const char *er_spec_field_name(const er_spec_t *spec, size_t i) { return i < spec->nfields ? spec->fields[i].name : NULL; }

int er_spec_set_column(er_spec_t *spec, const char *field, const char *column, const char *date_format)
{
    char **col = NULL;
    if (strcmp(field, "id") == 0)
        col = &spec->id_column;
    else if (strcmp(field, "source") == 0)
        col = &spec->source_column;
    else if (strcmp(field, "updated") == 0)
        col = &spec->updated_column;
    else {
        int f = s_field_index(spec, field);
        if (f < 0)
            return -1;
        col = &spec->fields[f].column;
        if (date_format) {
            static const char *const known[] = {"yyyy-mm-dd", "dd/mm/yyyy", "mm/dd/yyyy", "dd.mm.yyyy",
                                                "yyyymmdd", "yyyy", NULL};
            bool ok = false;
            for (const char *const *k = known; *k; k++)
                ok = ok || strcmp(date_format, *k) == 0;
            if (spec->fields[f].type != ER_T_DATE || !ok)
                return -1;   /* a format no date is read in would make every value unreadable */
            free(spec->fields[f].date_format);
            spec->fields[f].date_format = strdup(date_format);
        }
    }
    free(*col);
    *col = strdup(column);
    return 0;
}

void er_spec_set_source(er_spec_t *spec, const char *name)
{
    free(spec->source_const);
    spec->source_const = strdup(name);
}
