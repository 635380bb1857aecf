/* soappage.h — the SOAP side of the soap-xml plugin, with libxml2:
 *
 *   - request templates: SOAP 1.1 envelopes with ${since}, ${page},
 *     ${page_size}, ${username}, ${password}, each value XML-escaped;
 *   - one answer: parsed without network access and without expanding
 *     external entities, checked to be a SOAP envelope, a soap:Fault turned
 *     into "soap:Client fault: <faultstring> (<detail>)", the record nodes
 *     selected with XPath (namespace prefixes from the settings; "soap" is
 *     the SOAP 1.1 envelope's unless they say otherwise), and each
 *     record's id and watermark read with XPath relative to the record;
 *   - a record's payload: its element serialized alone (xmlNodeDump of a
 *     copy in a document of its own, so the namespaces it uses are declared
 *     on it), UTF-8. */
#ifndef ADAPTERS_SOAP_XML_SOAPPAGE_H
#define ADAPTERS_SOAP_XML_SOAPPAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "pullsrc.h"

/* ---- request templates ------------------------------------------------ */

typedef struct soap_template soap_template_t;

/* The values of the placeholders (NULL = empty). */
typedef struct {
    const char *since, *page, *page_size, *username, *password;
} soap_values_t;

/* Splits a template; NULL with err filled on an unknown ${name} or an
 * unclosed "${". */
soap_template_t *soap_template_new(const char *text, char *err, size_t errlen);
void soap_template_destroy(soap_template_t **self_p);
/* The request with every placeholder replaced by its XML-escaped value
 * (caller frees), NULL on allocation failure. */
char *soap_template_render(const soap_template_t *self, const soap_values_t *v, size_t *len);

/* Escapes & < > " ' (caller frees). */
char *soap_xml_escape(const char *s);

/* ---- answers ---------------------------------------------------------- */

typedef struct {
    const char *prefix, *uri;
} soap_ns_t;

typedef struct {
    soap_ns_t          *ns;           /* namespaces for the XPaths */
    size_t              nns;
    xmlXPathCompExprPtr records;      /* the record nodes */
    xmlXPathCompExprPtr id;           /* relative to a record */
    xmlXPathCompExprPtr watermark;    /* relative to a record, or NULL */
    xmlXPathCompExprPtr total_pages;  /* or NULL */
    xmlXPathCompExprPtr total;        /* or NULL */
} soappage_conf_t;

typedef struct {
    xmlDocPtr          doc;
    xmlXPathContextPtr xp;
    xmlXPathObjectPtr  nodes;          /* the record nodes of the page */
    xmlBufferPtr       buf;            /* payload of the item last handed out */
    char              *id, *wm;
    char               reason[200];
} soappage_t;

/* Compiles an XPath expression; NULL with err filled when it is not one. */
xmlXPathCompExprPtr soappage_compile(const char *expr, char *err, size_t errlen);

/* Evaluates expr once on a small document with c's namespaces, so that a
 * prefix missing from the settings is reported at start rather than at the
 * first answer. nodeset: it must select nodes. 0, or -1 with err filled. */
int soappage_check(const soappage_conf_t *c, xmlXPathCompExprPtr expr, bool nodeset, char *err,
                   size_t errlen);

/* Whether the bytes are a SOAP 1.1 or 1.2 fault; if so, fills `what` with
 * "soap:<code> fault: <faultstring> (<detail>)" and *retry with whether the
 * fault is the server's (Server / Receiver: worth another try). */
bool soappage_fault(const char *body, size_t len, char *what, size_t cap, bool *retry);

/* Parses an answer. PULLSRC_PAGE with pg->count/total_pages/total, or
 * PULLSRC_MALFORMED with pg->reason (not XML, not a SOAP envelope, a
 * fault, an XPath that fails). pg->bad is left to the caller. */
int  soappage_parse(soappage_t *p, const soappage_conf_t *c, const char *body, size_t len,
                    pullsrc_page_t *pg);
int  soappage_item(soappage_t *p, const soappage_conf_t *c, long i, pullsrc_item_t *it);
void soappage_release(soappage_t *p);

/* Routes libxml2's error messages of this thread away from stderr (they
 * are read from the parser context instead). */
void soappage_quiet(void);

#endif
