/* maprun.c — running a compiled mapping over one raw record: selectors,
 * conditions, the rule walk that builds the canonical record, address
 * recoding, and the checks every record passes before it counts as mapped
 * (personal IDs against sex and birth year, the JSON Schema).
 *
 * A rule that fails does not stop the walk: the other rules still run, so
 * one quarantined record lists all that is wrong with it (up to 8). */
#include "mapping_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <libxml/parser.h>
#include <libxml/xpathInternals.h>
#include <pcre2.h>

#include "vntext.h"

/* Where the current rule reads from. */
typedef struct {
    const json_t *j;
    xmlNodePtr    x;
} ctx_t;

/* Which rule wrote which canonical field, for errors found after the walk. */
typedef struct {
    const char *ptr;        /* the rule's own pointer (top level), or buf */
    char        buf[160];   /* inside an each: the pointer with the item's index */
    int         line;
} wrote_t;

struct run {
    const mapping_t      *m;
    const mapping_meta_t *meta;
    mapping_result_t     *res;
    xmlDocPtr             doc;
    xmlXPathContextPtr    xctx;      /* made on the first XPath */
    wrote_t              *wrote;
    size_t                nwrote, capwrote;
    bool                  failed;
    size_t                index;     /* 1-based item of the innermost each (0: none) */
};

static void s_error(run_t *r, int line, const char *ptr, const sel_t *src, const mapping_error_t *e)
{
    r->failed = true;
    mapping_result_t *res = r->res;
    if (res->n_errors < sizeof res->errors / sizeof *res->errors) {
        mapping_error_t *d = &res->errors[res->n_errors];
        *d = *e;
        d->line = line;
        snprintf(d->field, sizeof d->field, "%s", ptr);
        snprintf(d->source, sizeof d->source, "%s", src ? src->text : "");
    }
    res->n_errors++;
}

static void s_errorf(run_t *r, int line, const char *ptr, const sel_t *src, const char *rule,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void s_errorf(run_t *r, int line, const char *ptr, const sel_t *src, const char *rule,
                     const char *fmt, ...)
{
    mapping_error_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.rule, sizeof e.rule, "%s", rule);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    s_error(r, line, ptr, src, &e);
}

/* snprintf whose truncation (of a JSON pointer in a message) is accepted. */
static void s_fmt(char *buf, size_t sz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void s_fmt(char *buf, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sz, fmt, ap);
    va_end(ap);
}

/* ptr is either a rule's own pointer (lives as long as the mapping) or,
 * when is_static is false, a stack buffer that is copied. */
static void s_wrote(run_t *r, const char *ptr, bool is_static, int line)
{
    if (r->nwrote == r->capwrote) {
        r->capwrote = r->capwrote ? r->capwrote * 2 : 32;
        r->wrote = realloc(r->wrote, r->capwrote * sizeof *r->wrote);
    }
    wrote_t *w = &r->wrote[r->nwrote++];
    if (is_static)
        w->ptr = ptr;
    else {
        snprintf(w->buf, sizeof w->buf, "%s", ptr);
        w->ptr = NULL;          /* buf (which moves with the array) */
    }
    w->line = line;
}

/* The rule line of the longest written prefix of ptr. */
static int s_line_of(const run_t *r, const char *ptr)
{
    int line = 0;
    size_t best = 0;
    for (size_t i = 0; i < r->nwrote; i++) {
        const char *wp = r->wrote[i].ptr ? r->wrote[i].ptr : r->wrote[i].buf;
        size_t n = strlen(wp);
        if (n >= best && !strncmp(ptr, wp, n) && (ptr[n] == 0 || ptr[n] == '/')) {
            best = n;
            line = r->wrote[i].line;
        }
    }
    /* An error at an object a rule wrote into (a required member missing):
     * the first rule that wrote below it. */
    size_t pl = strlen(ptr);
    for (size_t i = 0; !line && i < r->nwrote; i++) {
        const char *wp = r->wrote[i].ptr ? r->wrote[i].ptr : r->wrote[i].buf;
        if (!strncmp(wp, ptr, pl) && wp[pl] == '/')
            line = r->wrote[i].line;
    }
    return line;
}

/* ---- selectors ------------------------------------------------------ */

static json_t *s_present(json_t *v)
{
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool s_name_eq(const xmlChar *a, const char *b) { return a && !strcmp((const char *) a, b); }

static bool s_elem_match(xmlNodePtr n, const sel_step_t *st)
{
    if (n->type != XML_ELEMENT_NODE || !s_name_eq(n->name, st->name))
        return false;
    return !st->ns || (n->ns && s_name_eq(n->ns->href, st->ns));
}

static json_t *s_node_text(xmlNodePtr n)
{
    /* The common case, an element holding one text node: its content is
     * read in place (one allocation for the JSON string, not two). */
    if (n->type == XML_ELEMENT_NODE && n->children && !n->children->next
        && n->children->type == XML_TEXT_NODE && n->children->content)
        return s_present(json_string((const char *) n->children->content));
    if (n->type == XML_ELEMENT_NODE && !n->children)
        return NULL;
    xmlChar *c = xmlNodeGetContent(n);
    json_t *v = c ? json_string((const char *) c) : NULL;
    xmlFree(c);
    return s_present(v);
}

/* Walks the simple XML steps; collects all matches of the last step when
 * all is set (each:), else returns the first's value. */
static json_t *s_xml_walk(const sel_t *s, xmlNodePtr n, xmlNodePtr **all, size_t *nall)
{
    for (size_t i = 0; n && i < s->nsteps; i++) {
        const sel_step_t *st = &s->steps[i];
        bool last = i + 1 == s->nsteps;
        if (st->text)
            return last ? s_node_text(n) : NULL;
        if (st->attr) {
            xmlChar *v = st->ns ? xmlGetNsProp(n, (const xmlChar *) st->name, (const xmlChar *) st->ns)
                                : xmlGetProp(n, (const xmlChar *) st->name);
            json_t *j = v ? json_string((const char *) v) : NULL;
            xmlFree(v);
            return s_present(j);
        }
        xmlNodePtr c = n->children;
        xmlNodePtr found = NULL;
        for (; c; c = c->next) {
            if (!s_elem_match(c, st))
                continue;
            if (last && all) {
                *all = realloc(*all, (*nall + 1) * sizeof **all);
                (*all)[(*nall)++] = c;
                continue;
            }
            found = c;
            break;
        }
        if (last)
            return found ? s_node_text(found) : NULL;
        n = found;
    }
    return NULL;
}

static xmlXPathContextPtr s_xctx(run_t *r)
{
    if (!r->xctx) {
        r->xctx = xmlXPathNewContext(r->doc);
        const char *prefix;
        json_t *uri;
        json_object_foreach(r->m->namespaces, prefix, uri)
            xmlXPathRegisterNs(r->xctx, (const xmlChar *) prefix, (const xmlChar *) json_string_value(uri));
    }
    return r->xctx;
}

static json_t *s_xpath(run_t *r, const sel_t *s, xmlNodePtr n, xmlNodePtr **all, size_t *nall)
{
    xmlXPathContextPtr x = s_xctx(r);
    x->node = n;
    xmlXPathObjectPtr o = xmlXPathCompiledEval(s->xpath, x);
    json_t *v = NULL;
    if (!o)
        return NULL;
    if (o->type == XPATH_NODESET) {
        int cnt = o->nodesetval ? o->nodesetval->nodeNr : 0;
        if (all) {
            /* Only elements are items: a node set's namespace nodes are
             * copies freed with it. */
            for (int i = 0; i < cnt; i++) {
                if (o->nodesetval->nodeTab[i]->type != XML_ELEMENT_NODE)
                    continue;
                *all = realloc(*all, (*nall + 1) * sizeof **all);
                (*all)[(*nall)++] = o->nodesetval->nodeTab[i];
            }
        } else if (cnt)
            v = s_node_text(o->nodesetval->nodeTab[0]);
    } else {
        xmlChar *str = xmlXPathCastToString(o);
        v = s_present(json_string((const char *) str));
        xmlFree(str);
    }
    xmlXPathFreeObject(o);
    return v;
}

static json_t *s_sel(run_t *r, const sel_t *s, ctx_t c, const json_t *out);

static json_t *s_json_walk(const sel_step_t *steps, size_t n, const json_t *j)
{
    for (size_t i = 0; j && i < n; i++) {
        if (json_is_object(j))
            j = json_object_get(j, steps[i].name);
        else if (json_is_array(j) && steps[i].index >= 0)
            j = json_array_get(j, (size_t) steps[i].index);
        else
            return NULL;
    }
    return j ? s_present(json_incref((json_t *) j)) : NULL;
}

/* A scalar as text, for templates. */
static bool s_text_of(const json_t *v, char *buf, size_t sz)
{
    if (json_is_string(v))
        snprintf(buf, sz, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, sz, "%lld", (long long) json_integer_value(v));
    else if (json_is_real(v))
        mapstep_real_text(json_real_value(v), buf, sz);
    else
        return false;
    return true;
}

static json_t *s_sel(run_t *r, const sel_t *s, ctx_t c, const json_t *out)
{
    switch (s->kind) {
    case SEL_PATH:
        if (c.x)
            return s_xml_walk(s, c.x, NULL, NULL);
        return s_json_walk(s->steps, s->nsteps, c.j);
    case SEL_XPATH:
        return c.x ? s_xpath(r, s, c.x, NULL, NULL) : NULL;
    case SEL_ID:
        return r->meta && r->meta->source_id ? s_present(json_string(r->meta->source_id)) : NULL;
    case SEL_HEADER: {
        const json_t *h = r->meta ? json_object_get(r->meta->headers, s->steps[0].name) : NULL;
        return h ? s_present(json_incref((json_t *) h)) : NULL;
    }
    case SEL_OUT:
        return s_json_walk(s->steps, s->nsteps, out);
    case SEL_INDEX:
        return r->index ? json_integer((json_int_t) r->index) : NULL;
    case SEL_CONST:
        return s_present(json_incref(s->constant));
    case SEL_TEMPLATE: {
        char buf[2048];
        size_t o = 0;
        for (size_t i = 0; i <= s->nsubs; i++) {
            o += (size_t) snprintf(buf + o, sizeof buf - o, "%s", s->lits[i]);
            if (o >= sizeof buf)
                return NULL;
            if (i == s->nsubs)
                break;
            json_t *v = s_sel(r, s->subs[i], c, out);
            char t[512];
            bool ok = v && s_text_of(v, t, sizeof t);
            json_decref(v);
            if (!ok)
                return NULL;        /* a part is missing: no value at all */
            o += (size_t) snprintf(buf + o, sizeof buf - o, "%s", t);
            if (o >= sizeof buf)
                return NULL;
        }
        return s_present(json_string(buf));
    }
    case SEL_FIRST:
        for (size_t i = 0; i < s->nsubs; i++) {
            json_t *v = s_sel(r, s->subs[i], c, out);
            if (v)
                return v;
        }
        return NULL;
    case SEL_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; i < s->nsubs; i++) {
            json_t *v = s_sel(r, s->subs[i], c, out);
            if (v)
                json_object_set_new(o, s->keys[i], v);
        }
        if (!json_object_size(o)) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    }
    return NULL;
}

/* ---- conditions ------------------------------------------------------- */

static bool s_text_eq(const json_t *v, const json_t *want)
{
    char a[512], b[512];
    if (!v || !want)
        return false;
    if (json_equal(v, want))
        return true;
    return s_text_of(v, a, sizeof a) && s_text_of(want, b, sizeof b) && !strcmp(a, b);
}

static bool s_cond(run_t *r, const cond_t *c, ctx_t ctx, const json_t *out)
{
    json_t *v = s_sel(r, c->sel, ctx, out);
    bool ok = false;
    char t[512], w[512];
    switch (c->op) {
    case C_PRESENT:
        ok = (v != NULL) == c->present;
        break;
    case C_IS:
        ok = s_text_eq(v, c->value);
        break;
    case C_IS_NOT:
        ok = !s_text_eq(v, c->value);
        break;
    case C_IN: {
        size_t i;
        json_t *x;
        json_array_foreach(c->value, i, x)
            ok = ok || s_text_eq(v, x);
        break;
    }
    case C_MATCHES:
        if (v && s_text_of(v, t, sizeof t)) {
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(c->re, NULL);
            ok = pcre2_match(c->re, (PCRE2_SPTR) t, strlen(t), 0, 0, md, NULL) >= 0;
            pcre2_match_data_free(md);
        }
        break;
    case C_BEFORE:
    case C_AFTER:
        /* Dates and times compare as text in their ISO forms. */
        if (v && s_text_of(v, t, sizeof t) && s_text_of(c->value, w, sizeof w)) {
            int cmp = strncmp(t, w, strlen(w));
            ok = c->op == C_BEFORE ? cmp < 0 : cmp >= 0;
        }
        break;
    }
    json_decref(v);
    return ok;
}

/* ---- output --------------------------------------------------------- */

/* Sets obj[path...] = v (stolen), making the objects on the way. */
static void s_set(json_t *obj, char *const *path, size_t n, json_t *v)
{
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *next = json_object_get(obj, path[i]);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(obj, path[i], next);
        }
        obj = next;
    }
    json_object_set_new(obj, path[n - 1], v);
}

static void s_ptr(char *buf, size_t sz, const char *base, const rule_t *rl)
{
    size_t o = (size_t) snprintf(buf, sz, "%s", base);
    for (size_t i = 0; i < rl->npath && o < sz; i++)
        o += (size_t) snprintf(buf + o, sz - o, "/%s", rl->path[i]);
}

/* ---- addresses ------------------------------------------------------ */

static const char *s_str(const json_t *v) { return json_string_value(v); }

static char *s_keyof(const char *s)
{
    char *k = NULL;
    size_t bad;
    if (!s || vntext_key(s, strlen(s), &k, &bad) != 0)
        return NULL;
    return k;
}

/* "Tỉnh Quảng Nam" / "Quảng Nam" / "TP Đà Nẵng" -> "49" / "48". */
static const char *s_province_code(const char *name)
{
    char *k = s_keyof(name);
    const char *code = NULL;
    if (k) {
        const char *p = k;
        static const char *const pre[] = { "tinh ", "thanh pho ", "tp. ", "tp.", "tp " };
        for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
            if (!strncmp(p, pre[i], strlen(pre[i]))) {
                p += strlen(pre[i]);
                break;
            }
        if (!strcmp(p, "quang nam"))
            code = "49";
        else if (!strcmp(p, "da nang"))
            code = "48";
    }
    free(k);
    return code;
}

typedef struct {
    json_t *pc, *dc, *cc, *pn, *dn, *cn, *text, *decide;
    bool outside;           /* a place text that names no unit of the city */
} addr_in_t;

static void s_addr_in_free(addr_in_t *a)
{
    json_decref(a->pc); json_decref(a->dc); json_decref(a->cc);
    json_decref(a->pn); json_decref(a->dn); json_decref(a->cn);
    json_decref(a->text); json_decref(a->decide);
}

/* Splits "Số 238, Tổ 11, Phường An Mỹ, Thành phố Tam Kỳ, Tỉnh Quảng Nam"
 * into commune, district, province names and the detail before them. */
static void s_parse_place(const mapping_env_t *env, const char *text, bool new_list, addr_in_t *a)
{
    char *parts[16];
    size_t n = 0;
    char *dup = strdup(text), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ')
            t[--l] = 0;
        if (l)
            parts[n++] = t;
    }
    size_t i = n;
    const char *prov = NULL;
    if (i && (prov = s_province_code(parts[i - 1]))) {
        if (!a->pn)
            a->pn = json_string(parts[i - 1]);
        i--;
    }
    if (!prov) {
        a->outside = true;
        free(dup);
        return;
    }
    if (!new_list && i) {
        const char *dcode = recode_district_by_name(env->recode, parts[i - 1], prov);
        if (dcode) {
            if (!a->dn)
                a->dn = json_string(parts[i - 1]);
            if (!a->dc)
                a->dc = json_string(dcode);
            i--;
        }
    }
    if (i) {
        if (!a->cn)
            a->cn = json_string(parts[i - 1]);
        i--;
    }
    if (i && !a->text) {
        char buf[1024] = "";
        for (size_t k = 0; k < i; k++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? ", " : "", parts[k]);
        a->text = json_string(buf);
    }
    free(dup);
}

/* Whether two unit names are the same unit's: compared by matching key,
 * without "UBND " (an office) and the unit type ("Phường", "Xã", "P."...). */
static bool s_same_unit(const char *a, const char *b)
{
    char *ka = s_keyof(a), *kb = s_keyof(b);
    bool same = false;
    if (ka && kb) {
        static const char *const pre[] = { "ubnd ", "thi tran ", "phuong ", "xa ", "tt.", "p.", "x." };
        char *k[2] = { ka, kb };
        for (int j = 0; j < 2; j++)
            for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
                if (!strncmp(k[j], pre[i], strlen(pre[i]))) {
                    size_t n = strlen(pre[i]);
                    while (k[j][n] == ' ')
                        n++;
                    memmove(k[j], k[j] + n, strlen(k[j] + n) + 1);
                }
        same = strcmp(ka, kb) == 0;
    }
    free(ka);
    free(kb);
    return same;
}

static json_t *s_unit(const recode_unit_t *u)
{
    return json_pack("{s:s, s:s}", "code", u->code, "name", u->name);
}

/* Builds the address object; NULL with an error recorded, or NULL with
 * *outside for a place outside the city. */
static json_t *s_address(run_t *r, const rule_t *rl, ctx_t c, const json_t *out, const char *ptr,
                         bool *outside)
{
    const addr_spec_t *s = rl->addr;
    const mapping_env_t *env = r->m->env;
    addr_in_t a = { 0 };
    *outside = false;
#define SEL(x) (s->x ? s_sel(r, s->x, c, out) : NULL)
    a.pc = SEL(province_code); a.dc = SEL(district_code); a.cc = SEL(commune_code);
    a.pn = SEL(province_name); a.dn = SEL(district_name); a.cn = SEL(commune_name);
    a.text = SEL(text); a.decide = SEL(decide_2025);
    json_t *place = SEL(place);
#undef SEL
    const char *version = s->version;
    if (place && json_is_string(place))
        s_parse_place(env, s_str(place), !strcmp(version, "2025"), &a);
    if (rl->kind == R_PLACE && place && !a.text && !a.outside) {
        /* a place's address text: nothing before the units */
    }
    json_decref(place);
    /* Codes may come as numbers (SQL integer columns). */
    json_t **codes[] = { &a.pc, &a.dc, &a.cc, &a.decide };
    for (size_t i = 0; i < 4; i++)
        if (*codes[i] && json_is_integer(*codes[i])) {
            char b[32];
            snprintf(b, sizeof b, "%lld", (long long) json_integer_value(*codes[i]));
            json_decref(*codes[i]);
            *codes[i] = json_string(b);
        }
    if (a.outside || (!a.cc && !a.cn && !a.dc && !a.dn)) {
        *outside = true;
        s_addr_in_free(&a);
        return NULL;
    }
    const char *pc = s_str(a.pc), *dc = s_str(a.dc), *cc = s_str(a.cc), *cn = s_str(a.cn);
    recode_result_t res;
    recode_status_t st = RECODE_NOT_FOUND;
    const recode_unit_t *nu = NULL;
    bool used_fallback = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *v = attempt == 0 ? version : s->fallback;
        if (!v)
            break;
        if (!strcmp(v, "2025")) {
            nu = cc ? recode_new_unit(env->recode, cc) : cn ? recode_new_by_name(env->recode, cn) : NULL;
            st = nu ? RECODE_FOUND : RECODE_NOT_FOUND;
        } else if (cc)
            st = recode_by_code(env->recode, pc, dc, cc, &res);
        else if (cn)
            st = recode_by_name(env->recode, cn, pc, dc, &res);
        else
            st = recode_by_code(env->recode, pc, dc, "", &res);
        if (st != RECODE_NOT_FOUND) {
            used_fallback = attempt == 1;
            version = v;
            break;
        }
    }
    /* Codes are reused across lists (new 20194 Hải Vân = old 20194 Hòa
     * Hiệp Bắc). A record that gives the unit's name as well says which one
     * it means: if the name is not the unit found, but is the unit of the
     * same code in the fallback list, the source wrote a stale code. */
    if (st != RECODE_NOT_FOUND && !used_fallback && s->fallback && cc && cn) {
        const char *found = nu ? nu->name : (st == RECODE_FOUND ? res.old_name : NULL);
        if (found && !s_same_unit(cn, found)) {
            recode_result_t res2;
            const recode_unit_t *nu2 = NULL;
            recode_status_t st2;
            if (!strcmp(s->fallback, "2025")) {
                nu2 = recode_new_unit(env->recode, cc);
                st2 = nu2 ? RECODE_FOUND : RECODE_NOT_FOUND;
            } else
                st2 = recode_by_code(env->recode, pc, dc, cc, &res2);
            const char *other = nu2 ? nu2->name : (st2 == RECODE_FOUND ? res2.old_name : NULL);
            if (other && s_same_unit(cn, other)) {
                st = st2;
                nu = nu2;
                if (!nu2)
                    res = res2;
                version = s->fallback;
                used_fallback = true;
            }
        }
    }
    json_t *addr = json_object();
    if (a.text)
        json_object_set(addr, "text", a.text);
    json_t *orig = json_object();
    json_object_set_new(orig, "code_version", json_string(version));
    bool v2025 = !strcmp(version, "2025");
    if (a.pc) json_object_set(orig, "province_code", a.pc);
    if (a.pn) json_object_set(orig, "province_name", a.pn);
    if (a.dc && !v2025) json_object_set(orig, "district_code", a.dc);
    if (a.dn && !v2025) json_object_set(orig, "district_name", a.dn);
    if (a.cc) json_object_set(orig, "commune_code", a.cc);
    if (a.cn) json_object_set(orig, "commune_name", a.cn);
    (void) used_fallback;
    if (st == RECODE_FOUND) {
        json_object_set_new(addr, "commune_2025", nu ? s_unit(nu) : s_unit(&res.candidates[0]));
        json_object_set_new(addr, "recode_status", json_string("ok"));
    } else if (st == RECODE_AMBIGUOUS) {
        const char *d = s_str(a.decide);
        size_t k;
        for (k = 0; d && k < res.n; k++)
            if (!strcmp(res.candidates[k].code, d))
                break;
        if (d && k < res.n) {
            json_object_set_new(addr, "commune_2025", s_unit(&res.candidates[k]));
            json_object_set_new(addr, "recode_status", json_string("ok"));
        } else {
            json_t *cand = json_array();
            for (k = 0; k < res.n; k++)
                json_array_append_new(cand, s_unit(&res.candidates[k]));
            json_object_set_new(addr, "candidates", cand);
            json_object_set_new(addr, "recode_status", json_string("ambiguous"));
        }
    } else if (s->keep_unknown) {
        json_object_set_new(addr, "recode_status", json_string("unknown"));
    } else {
        char what[300];
        if (cc)
            snprintf(what, sizeof what, "commune code '%s'%s%s%s%s is not in the %s list%s%s", cc,
                     dc ? " of district " : "", dc ? dc : "", pc ? " of province " : "", pc ? pc : "",
                     s->version, s->fallback ? " nor in the " : "", s->fallback ? s->fallback : "");
        else
            snprintf(what, sizeof what, "'%s'%s%s is not a unit of the %s list", cn ? cn : dc ? dc : "?",
                     a.dn ? " in " : "", a.dn ? s_str(a.dn) : "", s->version);
        s_errorf(r, rl->line, ptr, s->commune_code ? s->commune_code : s->commune_name ? s->commune_name : s->place,
                 "unknown_unit", "%s", what);
        json_decref(orig);
        json_decref(addr);
        s_addr_in_free(&a);
        return NULL;
    }
    json_object_set_new(addr, "original", orig);
    s_addr_in_free(&a);
    return addr;
}

/* ---- the walk ------------------------------------------------------- */

static void s_rules(run_t *r, const rule_t *rules, size_t n, ctx_t c, json_t *obj, const char *base);

static void s_rule(run_t *r, const rule_t *rl, ctx_t c, json_t *obj, const char *base)
{
    if (rl->when && !s_cond(r, rl->when, c, obj))
        return;
    char buf[160];
    const char *ptr = rl->ptr;        /* precomputed at load for the top level */
    bool top = base[0] == 0;
    if (!top) {
        s_ptr(buf, sizeof buf, base, rl);
        ptr = buf;
    }
    switch (rl->kind) {
    case R_GROUP:
        s_rules(r, rl->rules, rl->nrules, c, obj, base);
        return;
    case R_EACH: {
        json_t *arr = json_array();
        if (c.x) {
            xmlNodePtr *nodes = NULL;
            size_t nn = 0;
            /* a selector that gives a value, not elements, gives no items */
            json_decref(rl->each->kind == SEL_XPATH ? s_xpath(r, rl->each, c.x, &nodes, &nn)
                                                    : s_xml_walk(rl->each, c.x, &nodes, &nn));
            for (size_t i = 0; i < nn; i++) {
                json_t *item = json_object();
                char ib[160];
                s_fmt(ib, sizeof ib, "%s/%zu", ptr, json_array_size(arr));
                size_t saved = r->index;
                r->index = i + 1;
                s_rules(r, rl->rules, rl->nrules, (ctx_t) { .x = nodes[i] }, item, ib);
                r->index = saved;
                if (json_object_size(item))
                    json_array_append_new(arr, item);
                else
                    json_decref(item);
            }
            free(nodes);
        } else {
            json_t *list = s_sel(r, rl->each, c, obj);
            if (list && !json_is_array(list)) {
                json_t *a = json_array();
                json_array_append_new(a, list);
                list = a;
            }
            size_t i;
            json_t *x;
            json_array_foreach(list, i, x) {
                json_t *item = json_object();
                char ib[160];
                s_fmt(ib, sizeof ib, "%s/%zu", ptr, json_array_size(arr));
                size_t saved = r->index;
                r->index = i + 1;
                s_rules(r, rl->rules, rl->nrules, (ctx_t) { .j = x }, item, ib);
                r->index = saved;
                if (json_object_size(item))
                    json_array_append_new(arr, item);
                else
                    json_decref(item);
            }
            json_decref(list);
        }
        if (json_array_size(arr)) {
            s_set(obj, rl->path, rl->npath, arr);
            s_wrote(r, ptr, top, rl->line);
        } else {
            json_decref(arr);
            if (rl->required)
                s_errorf(r, rl->line, ptr, rl->each, "required", "no %s in the record", rl->each->text);
        }
        return;
    }
    case R_ADDRESS:
    case R_PLACE: {
        bool outside;
        size_t before = r->res->n_errors;
        json_t *addr = s_address(r, rl, c, obj, ptr, &outside);
        json_t *v = NULL;
        if (rl->kind == R_PLACE) {
            json_t *text = s_sel(r, rl->addr->place, c, obj);
            if (text) {
                v = json_object();
                json_object_set_new(v, "text", text);
                if (addr) {
                    json_object_del(addr, "text");
                    json_object_set_new(v, "address", addr);
                }
            } else
                json_decref(addr);
        } else
            v = addr;
        if (v) {
            s_set(obj, rl->path, rl->npath, v);
            s_wrote(r, ptr, top, rl->line);
        } else if (rl->required && r->res->n_errors == before)
            s_errorf(r, rl->line, ptr, NULL, "required", "no address in the record");
        return;
    }
    case R_FIELD:
        break;
    }
    json_t *v = rl->from ? s_sel(r, rl->from, c, obj) : NULL;
    for (size_t i = 0; v && i < rl->nsteps; i++) {
        mapping_error_t e;
        memset(&e, 0, sizeof e);
        if (mapstep_apply(r->m, &rl->steps[i], &v, &e) != 0) {
            s_error(r, rl->steps[i].line ? rl->steps[i].line : rl->line, ptr, rl->from, &e);
            json_decref(v);
            return;
        }
    }
    if (!v && rl->dflt)
        v = s_present(json_incref(rl->dflt));
    if (!v) {
        if (rl->required)
            s_errorf(r, rl->line, ptr, rl->from, "required", "no value for %s",
                     rl->from ? rl->from->text : rl->field);
        return;
    }
    s_set(obj, rl->path, rl->npath, v);
    s_wrote(r, ptr, top, rl->line);
}

static void s_rules(run_t *r, const rule_t *rules, size_t n, ctx_t c, json_t *obj, const char *base)
{
    for (size_t i = 0; i < n; i++)
        s_rule(r, &rules[i], c, obj, base);
}

/* ---- checks after the walk ------------------------------------------- */

/* The path to a value, kept as a chain on the stack while walking and
 * turned into a JSON pointer only when an error needs it. */
typedef struct pathseg {
    const struct pathseg *up;
    const char *key;        /* or NULL: an array index */
    size_t      index;
} pathseg_t;

static void s_path_str(const pathseg_t *p, char *buf, size_t sz)
{
    if (!p) {
        buf[0] = 0;
        return;
    }
    s_path_str(p->up, buf, sz);
    size_t l = strlen(buf);
    if (p->key)
        s_fmt(buf + l, sz - l, "/%s", p->key);
    else
        s_fmt(buf + l, sz - l, "/%zu", p->index);
}

/* Every object holding a personal ID (personal_id, or an id_document of
 * type CCCD) is checked with its own sex and birth date: the century/sex
 * digit and the birth year are in the number (FACTS.md §2). */
static void s_check_ids(run_t *r, json_t *o, const pathseg_t *at)
{
    if (json_is_array(o)) {
        size_t i;
        json_t *x;
        json_array_foreach(o, i, x) {
            if (json_is_object(x) || json_is_array(x)) {
                pathseg_t seg = { at, NULL, i };
                s_check_ids(r, x, &seg);
            }
        }
        return;
    }
    if (!json_is_object(o))
        return;
    const char *id = json_string_value(json_object_get(o, "personal_id"));
    const char *field = "personal_id";
    json_t *doc = json_object_get(o, "id_document");
    if (!id && doc) {
        const char *t = json_string_value(json_object_get(doc, "type"));
        if (t && !strcmp(t, "CCCD")) {
            id = json_string_value(json_object_get(doc, "number"));
            field = "id_document/number";
        }
    }
    if (id) {
        const char *sex = json_string_value(json_object_get(o, "sex"));
        const char *bd = json_string_value(json_object_get(json_object_get(o, "birth_date"), "value"));
        int sexn = sex ? (!strcmp(sex, "male") ? 1 : !strcmp(sex, "female") ? 2 : 0) : 0;
        int year = bd && strlen(bd) >= 4 ? atoi(bd) : 0;
        char why[300];
        pid_status_t st = pid_check(r->m->env->pid, id, strlen(id), sexn, year, r->m->env->today_year, why, sizeof why);
        if (st != PID_OK) {
            char base[160], p[200], rule[48];
            s_path_str(at, base, sizeof base);
            s_fmt(p, sizeof p, "%s/%s", base, field);
            snprintf(rule, sizeof rule, "personal_id.%s", pid_status_name(st));
            s_errorf(r, s_line_of(r, p), p, NULL, rule, "%s", why);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_object(v) || json_is_array(v)) {
            pathseg_t seg = { at, k, 0 };
            s_check_ids(r, v, &seg);
        }
    }
}

static void s_now(char out[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int s_finish(run_t *r, const ctx_t c, mapping_result_t *res)
{
    const mapping_t *m = r->m;
    json_t *rec = json_object();
    json_object_set_new(rec, "schema", json_string(m->schema));
    json_t *prov = json_object();
    json_object_set_new(rec, "provenance", prov);
    json_object_set_new(prov, "source_system", json_string(m->source));
    json_t *rid = m->record_id ? s_sel(r, m->record_id, c, NULL) : NULL;
    if (rid && !json_is_string(rid)) {
        char t[64];
        if (s_text_of(rid, t, sizeof t)) {
            json_decref(rid);
            rid = json_string(t);
        }
    }
    if (!rid && r->meta && r->meta->source_id)
        rid = s_present(json_string(r->meta->source_id));
    if (!rid)
        s_errorf(r, m->record_id_line, "/provenance/source_record_id", m->record_id, "required",
                 "the record has no id%s", m->record_id ? "" : " (no record_id: rule and no source id)");
    else
        json_object_set_new(prov, "source_record_id", rid);
    char now[40];
    if (!r->meta || !r->meta->ingest_time)
        s_now(now);
    json_object_set_new(prov, "ingest_time", json_string(r->meta && r->meta->ingest_time ? r->meta->ingest_time : now));
    json_object_set_new(prov, "mapping_version", json_string(m->version));

    s_rules(r, m->rules, m->nrules, c, rec, "");
    /* IDs are checked even when a rule failed: the quarantine reason then
     * lists every problem of the record. */
    s_check_ids(r, rec, NULL);
    if (!r->failed && m->jschema) {
        jschema_error_t je[4];
        int n = jschema_validate(m->jschema, rec, je, 4);
        for (int i = 0; i < n && i < 4; i++) {
            char rule[48];
            snprintf(rule, sizeof rule, "schema.%s", je[i].keyword);
            s_errorf(r, s_line_of(r, je[i].path), je[i].path, NULL, rule, "%s", je[i].message);
        }
    }
    if (r->failed) {
        json_decref(rec);
        return -1;
    }
    res->record = rec;
    return 0;
}

static void s_run_free(run_t *r)
{
    if (r->xctx)
        xmlXPathFreeContext(r->xctx);
    free(r->wrote);
}

void mapping_result_clear(mapping_result_t *res)
{
    json_decref(res->record);
    memset(res, 0, sizeof *res);
}

int mapping_run_json(const mapping_t *self, const json_t *input, const mapping_meta_t *meta,
                     mapping_result_t *res)
{
    memset(res, 0, sizeof *res);
    run_t r = { .m = self, .meta = meta, .res = res };
    int rc = s_finish(&r, (ctx_t) { .j = input }, res);
    s_run_free(&r);
    return rc;
}

int mapping_run_xml(const mapping_t *self, void *node, const mapping_meta_t *meta,
                    mapping_result_t *res)
{
    memset(res, 0, sizeof *res);
    xmlNodePtr n = node;
    run_t r = { .m = self, .meta = meta, .res = res, .doc = n->doc };
    int rc = s_finish(&r, (ctx_t) { .x = n }, res);
    s_run_free(&r);
    return rc;
}

/* One XML parser per thread, kept between records: a stage maps a stream
 * of small documents, and making a parser (context, dictionary, buffers)
 * for each costs as much as parsing one. Freed when the thread ends. */
static pthread_key_t s_parser_key;
static pthread_once_t s_parser_once = PTHREAD_ONCE_INIT;

static void s_parser_free(void *p)
{
    xmlFreeParserCtxt(p);
}

static void s_parser_key_make(void)
{
    pthread_key_create(&s_parser_key, s_parser_free);
}

static xmlParserCtxtPtr s_parser(void)
{
    pthread_once(&s_parser_once, s_parser_key_make);
    xmlParserCtxtPtr pc = pthread_getspecific(s_parser_key);
    if (!pc) {
        pc = xmlNewParserCtxt();
        if (pc)
            pthread_setspecific(s_parser_key, pc);
    }
    return pc;
}

int mapping_run(const mapping_t *self, const void *payload, size_t len,
                const mapping_meta_t *meta, mapping_result_t *res)
{
    memset(res, 0, sizeof *res);
    run_t r = { .m = self, .meta = meta, .res = res };
    if (self->input == MAPPING_INPUT_XML) {
        if (len > (size_t) INT32_MAX)
            len = INT32_MAX;
        /* No network, no entity expansion, no DTD loading: a record is
         * data from outside. */
        xmlParserCtxtPtr pc = s_parser();
        xmlDocPtr doc = pc ? xmlCtxtReadMemory(pc, payload, (int) len, NULL, NULL, XML_PARSE_NONET
                                               | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_COMPACT)
                           : NULL;
        if (!doc || !xmlDocGetRootElement(doc)) {
            const xmlError *xe = pc ? xmlCtxtGetLastError(pc) : xmlGetLastError();
            res->parse_error = true;
            char msg[300] = "";
            if (xe && xe->message)
                snprintf(msg, sizeof msg, ": %s", xe->message);
            size_t l = strlen(msg);
            while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                msg[--l] = 0;          /* libxml2's messages end in a newline */
            s_errorf(&r, 0, "", NULL, "xml", "the payload is not XML%s (line %d)", msg, xe ? xe->line : 0);
            if (doc)
                xmlFreeDoc(doc);
            s_run_free(&r);
            return -1;
        }
        r.doc = doc;
        int rc = s_finish(&r, (ctx_t) { .x = xmlDocGetRootElement(doc) }, res);
        s_run_free(&r);
        xmlFreeDoc(doc);
        return rc;
    }
    json_error_t je;
    json_t *in = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!in || !json_is_object(in)) {
        res->parse_error = true;
        if (in)
            s_errorf(&r, 0, "", NULL, "json", "the payload is JSON but not an object");
        else
            s_errorf(&r, 0, "", NULL, "json", "the payload is not JSON: %s (line %d, column %d)",
                     je.text, je.line, je.column);
        json_decref(in);
        s_run_free(&r);
        return -1;
    }
    int rc = s_finish(&r, (ctx_t) { .j = in }, res);
    json_decref(in);
    s_run_free(&r);
    return rc;
}
