/* soappage.c — SOAP request templates and answers with libxml2: envelope,
 * faults, XPath selection of records, ids and watermarks (see soappage.h). */
#include "soappage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlerror.h>
#include <libxml/xpathInternals.h>

#define NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_SOAP12 "http://www.w3.org/2003/05/soap-envelope"

/* No network, no DTD loading, external entities never fetched (NOENT is
 * off: entity references stay references), errors read from the context. */
#define SOAP_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* ---- request templates ------------------------------------------------ */

typedef enum { P_TEXT, P_SINCE, P_PAGE, P_PAGE_SIZE, P_USERNAME, P_PASSWORD } part_kind_t;

static const struct { const char *name; part_kind_t kind; } s_placeholders[] = {
    {"since", P_SINCE}, {"page", P_PAGE}, {"page_size", P_PAGE_SIZE},
    {"username", P_USERNAME}, {"password", P_PASSWORD},
};

typedef struct {
    part_kind_t kind;
    const char *text;       /* P_TEXT: into the template's copy */
    size_t      len;
} part_t;

struct soap_template {
    char   *text;
    part_t *parts;
    size_t  n;
};

static int s_add_part(soap_template_t *t, part_kind_t kind, const char *text, size_t len)
{
    part_t *np = realloc(t->parts, (t->n + 1) * sizeof *np);
    if (!np)
        return -1;
    t->parts = np;
    np[t->n++] = (part_t){kind, text, len};
    return 0;
}

soap_template_t *soap_template_new(const char *text, char *err, size_t errlen)
{
    soap_template_t *t = calloc(1, sizeof *t);
    if (!t || !(t->text = strdup(text))) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = t->text, *lit = p;
    while ((p = strstr(p, "${"))) {
        const char *end = strchr(p + 2, '}');
        if (!end) {
            snprintf(err, errlen, "unclosed '${' at byte %zu", (size_t)(p - t->text));
            goto fail;
        }
        size_t nlen = (size_t)(end - p - 2);
        part_kind_t kind = P_TEXT;
        for (size_t i = 0; i < sizeof s_placeholders / sizeof s_placeholders[0]; i++)
            if (strlen(s_placeholders[i].name) == nlen && !strncmp(p + 2, s_placeholders[i].name, nlen))
                kind = s_placeholders[i].kind;
        if (kind == P_TEXT) {
            snprintf(err, errlen, "unknown placeholder ${%.*s} (known: ${since}, ${page}, "
                     "${page_size}, ${username}, ${password})", (int)(nlen > 40 ? 40 : nlen), p + 2);
            goto fail;
        }
        if ((p > lit && s_add_part(t, P_TEXT, lit, (size_t)(p - lit)) < 0)
            || s_add_part(t, kind, NULL, 0) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        p = lit = end + 1;
    }
    if (*lit && s_add_part(t, P_TEXT, lit, strlen(lit)) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return t;
fail:
    soap_template_destroy(&t);
    return NULL;
}

void soap_template_destroy(soap_template_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->text);
    free((*self_p)->parts);
    free(*self_p);
    *self_p = NULL;
}

char *soap_xml_escape(const char *s)
{
    if (!s)
        s = "";
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"' || *p == '\'') ? 6 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                        : *p == '"' ? "&quot;" : *p == '\'' ? "&apos;" : NULL;
        if (rep) {
            size_t l = strlen(rep);
            memcpy(o, rep, l);
            o += l;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

char *soap_template_render(const soap_template_t *t, const soap_values_t *v, size_t *len)
{
    const char *raw[] = {NULL, v->since, v->page, v->page_size, v->username, v->password};
    char *esc[6] = {0};
    for (int i = 1; i < 6; i++)
        if (!(esc[i] = soap_xml_escape(raw[i])))
            goto fail;
    size_t total = 0;
    for (size_t i = 0; i < t->n; i++)
        total += t->parts[i].kind == P_TEXT ? t->parts[i].len : strlen(esc[t->parts[i].kind]);
    char *out = malloc(total + 1), *o = out;
    if (!out)
        goto fail;
    for (size_t i = 0; i < t->n; i++) {
        const char *s = t->parts[i].kind == P_TEXT ? t->parts[i].text : esc[t->parts[i].kind];
        size_t l = t->parts[i].kind == P_TEXT ? t->parts[i].len : strlen(s);
        memcpy(o, s, l);
        o += l;
    }
    *o = '\0';
    for (int i = 1; i < 6; i++)
        free(esc[i]);
    if (len)
        *len = total;
    return out;
fail:
    for (int i = 1; i < 6; i++)
        free(esc[i]);
    return NULL;
}

/* ---- libxml2 plumbing ------------------------------------------------- */

static void s_ignore_structured(void *arg, xmlErrorPtr e)
{
}

static void s_ignore_generic(void *arg, const char *fmt, ...)
{
}

void soappage_quiet(void)
{
    xmlSetStructuredErrorFunc(NULL, s_ignore_structured);
    xmlSetGenericErrorFunc(NULL, s_ignore_generic);
}

xmlXPathCompExprPtr soappage_compile(const char *expr, char *err, size_t errlen)
{
    soappage_quiet();
    xmlResetLastError();
    xmlXPathCompExprPtr c = xmlXPathCompile(BAD_CAST expr);
    if (!c) {
        xmlErrorPtr e = xmlGetLastError();
        snprintf(err, errlen, "'%s' is not an XPath expression%s%s", expr, e && e->message ? ": " : "",
                 e && e->message ? e->message : "");
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
            err[--l] = '\0';
    }
    return c;
}

int soappage_check(const soappage_conf_t *c, xmlXPathCompExprPtr expr, bool nodeset, char *err,
                   size_t errlen)
{
    static const char probe[] = "<x a=\"1\"><y b=\"2\">t</y></x>";
    soappage_quiet();
    xmlDocPtr doc = xmlReadMemory(probe, sizeof probe - 1, NULL, NULL, XML_PARSE_NONET);
    xmlXPathContextPtr xp = doc ? xmlXPathNewContext(doc) : NULL;
    if (!xp) {
        xmlFreeDoc(doc);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    xmlXPathRegisterNs(xp, BAD_CAST "soap", BAD_CAST NS_SOAP11);
    for (size_t i = 0; i < c->nns; i++)
        xmlXPathRegisterNs(xp, BAD_CAST c->ns[i].prefix, BAD_CAST c->ns[i].uri);
    xp->node = xmlDocGetRootElement(doc);
    xmlResetLastError();
    xmlXPathObjectPtr o = xmlXPathCompiledEval(expr, xp);
    int rc = 0;
    if (!o) {
        xmlErrorPtr e = xmlGetLastError();
        snprintf(err, errlen, "cannot be evaluated%s%s (a prefix missing from namespaces?)",
                 e && e->message ? ": " : "", e && e->message ? e->message : "");
        char *nl = strchr(err, '\n');
        if (nl)
            memmove(nl, nl + 1, strlen(nl));
        rc = -1;
    } else if (nodeset && o->type != XPATH_NODESET) {
        snprintf(err, errlen, "does not select nodes (it gives a %s)",
                 o->type == XPATH_STRING ? "string" : o->type == XPATH_NUMBER ? "number"
                 : o->type == XPATH_BOOLEAN ? "boolean" : "value");
        rc = -1;
    }
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(xp);
    xmlFreeDoc(doc);
    return rc;
}

static bool s_is(xmlNodePtr n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name)
           && (ns ? n->ns && n->ns->href && !strcmp((const char *)n->ns->href, ns) : true);
}

/* First element child with this local name (any namespace, or none). */
static xmlNodePtr s_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

/* Text of a node, whitespace collapsed, at most cap-1 bytes (cut on a
 * UTF-8 boundary). */
static void s_text(xmlNodePtr n, char *out, size_t cap)
{
    out[0] = '\0';
    if (!n)
        return;
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return;
    size_t j = 0;
    bool space = false;
    for (const unsigned char *p = t; *p && j + 1 < cap; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            space = j > 0;
            continue;
        }
        if (space && j + 2 < cap)
            out[j++] = ' ';
        space = false;
        out[j++] = (char)*p;
    }
    while (j > 0 && ((unsigned char)out[j - 1] & 0xC0) == 0x80)   /* a cut sequence */
        j--;
    if (j > 0 && ((unsigned char)out[j - 1] & 0xC0) == 0xC0)
        j--;
    out[j] = '\0';
    xmlFree(t);
}

/* The Body of a SOAP envelope, or NULL; *ns the envelope's namespace. */
static xmlNodePtr s_body(xmlDocPtr doc, const char **ns)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    *ns = s_is(root, NS_SOAP11, "Envelope") ? NS_SOAP11 : s_is(root, NS_SOAP12, "Envelope") ? NS_SOAP12
                                                                                            : NULL;
    if (!*ns)
        return NULL;
    for (xmlNodePtr c = root->children; c; c = c->next)
        if (s_is(c, *ns, "Body"))
            return c;
    return NULL;
}

/* "soap:Server fault: <string> (<detail>)" for a Fault element. */
static void s_fault_text(xmlNodePtr fault, const char *ns, char *what, size_t cap, bool *retry)
{
    char code[64], msg[240], detail[240];
    if (!strcmp(ns, NS_SOAP11)) {
        s_text(s_child(fault, "faultcode"), code, sizeof code);
        s_text(s_child(fault, "faultstring"), msg, sizeof msg);
        s_text(s_child(fault, "detail"), detail, sizeof detail);
    } else {
        s_text(s_child(s_child(fault, "Code"), "Value"), code, sizeof code);
        s_text(s_child(s_child(fault, "Reason"), "Text"), msg, sizeof msg);
        s_text(s_child(fault, "Detail"), detail, sizeof detail);
    }
    const char *local = strrchr(code, ':');
    local = local ? local + 1 : code;
    *retry = !strcmp(local, "Server") || !strcmp(local, "Receiver");
    snprintf(what, cap, "soap:%s fault: %s%s%s%s", local[0] ? local : "(no code)", msg,
             detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

bool soappage_fault(const char *body, size_t len, char *what, size_t cap, bool *retry)
{
    soappage_quiet();
    xmlDocPtr doc = xmlReadMemory(body, (int)len, NULL, NULL, SOAP_PARSE_OPTIONS);
    if (!doc)
        return false;
    const char *ns;
    xmlNodePtr b = s_body(doc, &ns), f = NULL;
    /* The fault is the Body's first element. */
    for (xmlNodePtr c = b ? b->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            f = s_is(c, ns, "Fault") ? c : NULL;
            break;
        }
    if (f)
        s_fault_text(f, ns, what, cap, retry);
    xmlFreeDoc(doc);
    return f != NULL;
}

/* ---- answers ---------------------------------------------------------- */

static long s_count(soappage_t *p, xmlXPathCompExprPtr expr)
{
    if (!expr)
        return -1;
    p->xp->node = NULL;
    xmlXPathObjectPtr o = xmlXPathCompiledEval(expr, p->xp);
    if (!o)
        return -1;
    double d = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    return isnan(d) || d < 0 || d > 1e15 ? -1 : (long)d;
}

int soappage_parse(soappage_t *p, const soappage_conf_t *c, const char *body, size_t len,
                   pullsrc_page_t *pg)
{
    soappage_release(p);
    soappage_quiet();
    if (len > (size_t)2147483647) {
        snprintf(pg->reason, sizeof pg->reason, "answer of %zu bytes is too large to parse", len);
        return PULLSRC_MALFORMED;
    }
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        snprintf(pg->reason, sizeof pg->reason, "out of memory");
        return PULLSRC_FAILED;
    }
    p->doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL, SOAP_PARSE_OPTIONS);
    if (!p->doc) {
        xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
        char msg[256] = "unknown error";
        if (e && e->message) {
            snprintf(msg, sizeof msg, "%s", e->message);
            size_t l = strlen(msg);
            while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                msg[--l] = '\0';
        }
        snprintf(pg->reason, sizeof pg->reason, "not XML: %s (line %d)", msg, e ? e->line : 0);
        xmlFreeParserCtxt(ctxt);
        return PULLSRC_MALFORMED;
    }
    xmlFreeParserCtxt(ctxt);
    const char *ns;
    xmlNodePtr b = s_body(p->doc, &ns);
    if (!b) {
        xmlNodePtr root = xmlDocGetRootElement(p->doc);
        snprintf(pg->reason, sizeof pg->reason, "not a SOAP envelope (root element <%s>%s)",
                 root ? (const char *)root->name : "", ns ? " without a Body" : "");
        return PULLSRC_MALFORMED;
    }
    for (xmlNodePtr f = b->children; f; f = f->next) {
        if (f->type != XML_ELEMENT_NODE)
            continue;
        if (s_is(f, ns, "Fault")) {
            bool retry;
            s_fault_text(f, ns, pg->reason, sizeof pg->reason, &retry);
            return PULLSRC_MALFORMED;
        }
        break;
    }
    p->xp = xmlXPathNewContext(p->doc);
    if (!p->xp) {
        snprintf(pg->reason, sizeof pg->reason, "out of memory");
        return PULLSRC_FAILED;
    }
    /* "soap" is the SOAP 1.1 envelope unless the settings say otherwise. */
    xmlXPathRegisterNs(p->xp, BAD_CAST "soap", BAD_CAST NS_SOAP11);
    for (size_t i = 0; i < c->nns; i++)
        xmlXPathRegisterNs(p->xp, BAD_CAST c->ns[i].prefix, BAD_CAST c->ns[i].uri);
    p->nodes = xmlXPathCompiledEval(c->records, p->xp);
    if (!p->nodes || p->nodes->type != XPATH_NODESET) {
        /* The settings' fault, not the answer's: fail without quarantine. */
        snprintf(pg->reason, sizeof pg->reason, "the records XPath %s",
                 p->nodes ? "does not select nodes" : "failed on this answer (an undeclared prefix?)");
        return PULLSRC_FAILED;
    }
    pg->count = p->nodes->nodesetval ? p->nodes->nodesetval->nodeNr : 0;
    pg->total_pages = s_count(p, c->total_pages);
    pg->total = s_count(p, c->total);
    return PULLSRC_PAGE;
}

/* A string value relative to node (trimmed; caller frees with xmlFree), or NULL. */
static char *s_eval(soappage_t *p, xmlXPathCompExprPtr expr, xmlNodePtr node)
{
    p->xp->node = node;
    xmlXPathObjectPtr o = xmlXPathCompiledEval(expr, p->xp);
    if (!o)
        return NULL;
    xmlChar *s = xmlXPathCastToString(o);
    xmlXPathFreeObject(o);
    if (!s)
        return NULL;
    char *t = (char *)s;
    size_t l = strlen(t), b = strspn(t, " \t\r\n");
    while (l > b && strchr(" \t\r\n", t[l - 1]))
        l--;
    memmove(t, t + b, l - b);
    t[l - b] = '\0';
    if (!*t) {
        xmlFree(s);
        return NULL;
    }
    return t;
}

int soappage_item(soappage_t *p, const soappage_conf_t *c, long i, pullsrc_item_t *it)
{
    xmlNodePtr node = p->nodes->nodesetval->nodeTab[i];
    if (!p->buf && !(p->buf = xmlBufferCreate()))
        return -1;
    xmlBufferEmpty(p->buf);
    if (node->type == XML_ELEMENT_NODE) {
        /* A copy in a document of its own: the copy declares the namespaces
         * the element uses but inherited from its ancestors. */
        xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
        xmlNodePtr copy = d ? xmlDocCopyNode(node, d, 1) : NULL;
        if (!copy) {
            xmlFreeDoc(d);
            return -1;
        }
        xmlDocSetRootElement(d, copy);
        int n = xmlNodeDump(p->buf, d, copy, 0, 0);
        xmlFreeDoc(d);
        if (n < 0)
            return -1;
    } else {
        xmlChar *t = xmlNodeGetContent(node);
        if (t)
            xmlBufferCat(p->buf, t);
        xmlFree(t);
    }
    it->payload = xmlBufferContent(p->buf);
    it->payload_len = (size_t)xmlBufferLength(p->buf);
    if (node->type != XML_ELEMENT_NODE) {
        it->reason = "record is not an XML element";
        return 0;
    }
    xmlFree(p->id);
    xmlFree(p->wm);
    p->wm = NULL;
    p->id = s_eval(p, c->id, node);
    if (!p->id) {
        it->reason = "record has no id (its id XPath selects nothing or an empty value)";
        return 0;
    }
    if (strlen(p->id) > 255) {
        it->reason = "record id longer than 255 bytes";
        return 0;
    }
    it->source_id = p->id;
    if (c->watermark)
        p->wm = s_eval(p, c->watermark, node);
    it->watermark = p->wm;
    return 0;
}

void soappage_release(soappage_t *p)
{
    if (p->nodes)
        xmlXPathFreeObject(p->nodes);
    if (p->xp)
        xmlXPathFreeContext(p->xp);
    if (p->doc)
        xmlFreeDoc(p->doc);
    if (p->buf)
        xmlBufferFree(p->buf);
    xmlFree(p->id);
    xmlFree(p->wm);
    memset(p, 0, sizeof *p);
}
