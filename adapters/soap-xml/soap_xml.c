/* soap_xml.c — the soap-xml plugin: a pull source for paged SOAP 1.1
 * services with an incremental `since` watermark. Everything comes from the
 * settings; nothing here knows a particular service:
 *
 *   endpoint               the service URL (POST)
 *   soap_action            SOAPAction header value (quoted when sent), optional
 *   request_template       the request envelope, inline, or
 *   request_template_file  ... from a file (relative to lgspd's working directory)
 *                          placeholders ${since} ${page} ${page_size} ${username}
 *                          ${password}, XML-escaped on substitution
 *   username, password     for the template (e.g. a WS-Security UsernameToken);
 *   password_file          ... the password from a file instead (one line)
 *   namespaces             {prefix: uri} for the XPaths
 *   records                XPath of the record elements
 *   id                     XPath of the record id, relative to a record (e.g. "@id")
 *   watermark              XPath of the watermark, relative to a record (optional)
 *   total_pages, total     XPaths of the page / record count (optional)
 *   page_size              100
 *   content_type           "text/xml; charset=utf-8"
 *   auth.header / auth.value (or auth.value_file), headers: {name: value}    more headers
 *   + the HTTP settings of adcfg_http() and the sync settings of adcfg_incsync()
 *   pages_per_poll         10
 *
 * A soap:Fault is an error: a Server fault is retried with backoff, a
 * Client fault is not; a fault that ends a poll is kept in the quarantine
 * with its faultcode and faultstring as the reason. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lgsp/adapter.h>

#include "adcfg.h"
#include "httpfetch.h"
#include "pullsrc.h"
#include "soappage.h"

#define PLUGIN_VERSION "0.1.0"

typedef struct {
    const lgsp_host_api_t *host;
    lgsp_adapter_t        *a;
    const char            *endpoint;
    const char            *username;
    char                  *password;         /* inline or from password_file */
    long                   page_size;
    char                 **headers;
    soap_template_t       *tmpl;
    soappage_conf_t        sc;
    soappage_t             page;
    httpfetch_t           *http;
    pullsrc_t             *src;
    char                  *request;          /* the last request body */
} soap_xml_t;

static pthread_once_t s_xml_once = PTHREAD_ONCE_INIT;

static void s_xml_init(void)
{
    xmlInitParser();
}

static void s_destroy(soap_xml_t **self_p)
{
    soap_xml_t *self = *self_p;
    if (!self)
        return;
    pullsrc_destroy(&self->src);
    httpfetch_destroy(&self->http);
    soappage_release(&self->page);
    adcfg_headers_free(&self->headers);
    soap_template_destroy(&self->tmpl);
    xmlXPathCompExprPtr *exprs[] = {&self->sc.records, &self->sc.id, &self->sc.watermark,
                                    &self->sc.total_pages, &self->sc.total};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++)
        if (*exprs[i])
            xmlXPathFreeCompExpr(*exprs[i]);
    for (size_t i = 0; i < self->sc.nns; i++) {
        free((char *)self->sc.ns[i].prefix);
        free((char *)self->sc.ns[i].uri);
    }
    free(self->sc.ns);
    free(self->request);
    free(self->password);
    free(self);
    *self_p = NULL;
}

/* Retry a Server fault, not a Client one (both come as HTTP 500). */
static httpfetch_verdict_t s_classify(void *arg, long status, const char *body, size_t len)
{
    if (status >= 200 && status < 300)
        return HTTPFETCH_DEFAULT;
    char what[8];
    bool retry;
    if (len && soappage_fault(body, len, what, sizeof what, &retry))
        return retry ? HTTPFETCH_RETRY : HTTPFETCH_FAIL;
    return HTTPFETCH_DEFAULT;
}

static int s_fetch(void *impl, const char *since, long page, pullsrc_page_t *pg, char *err,
                   size_t errlen)
{
    soap_xml_t *self = impl;
    char pn[32], ps[32];
    snprintf(pn, sizeof pn, "%ld", page);
    snprintf(ps, sizeof ps, "%ld", self->page_size);
    soap_values_t v = {since, pn, ps, self->username, self->password};
    size_t len;
    free(self->request);
    self->request = soap_template_render(self->tmpl, &v, &len);
    if (!self->request) {
        snprintf(err, errlen, "out of memory");
        return PULLSRC_FAILED;
    }
    int rc = httpfetch_post(self->http, self->endpoint, (const char *const *)self->headers,
                            self->request, len);
    if (rc == HTTPFETCH_STOPPING)
        return PULLSRC_STOPPING;
    size_t blen;
    const char *body = httpfetch_body(self->http, &blen);
    if (rc != HTTPFETCH_OK) {
        char what[400];
        bool retry;
        if (httpfetch_status(self->http) && blen && soappage_fault(body, blen, what, sizeof what, &retry)) {
            snprintf(pg->reason, sizeof pg->reason, "%s (HTTP %ld, %u attempt%s)", what,
                     httpfetch_status(self->http), httpfetch_attempts(self->http),
                     httpfetch_attempts(self->http) == 1 ? "" : "s");
            pg->bad = body;
            pg->bad_len = blen;
            return PULLSRC_MALFORMED;
        }
        snprintf(err, errlen, "%s", httpfetch_error(self->http));
        return PULLSRC_FAILED;
    }
    rc = soappage_parse(&self->page, &self->sc, body, blen, pg);
    if (rc == PULLSRC_MALFORMED) {
        pg->bad = body;
        pg->bad_len = blen;
    } else if (rc == PULLSRC_FAILED) {
        snprintf(err, errlen, "%s", pg->reason);
    }
    return rc;
}

static int s_item(void *impl, long i, pullsrc_item_t *it)
{
    soap_xml_t *self = impl;
    return soappage_item(&self->page, &self->sc, i, it);
}

static void s_release(void *impl)
{
    soap_xml_t *self = impl;
    soappage_release(&self->page);
}

static int s_poll(void *impl, lgsp_adapter_t *a)
{
    soap_xml_t *self = impl;
    return pullsrc_poll(self->src);
}

static void s_cleanup(void *impl, lgsp_adapter_t *a)
{
    soap_xml_t *self = impl;
    s_destroy(&self);
}

static void s_describe(void *impl, char *buf, size_t len)
{
    soap_xml_t *self = impl;
    pullsrc_describe(self->src, buf, len);
}

/* An XPath setting, compiled and tried once (namespaces are read first);
 * *out NULL when absent and not required. */
static int s_xpath(soap_xml_t *self, const char *name, bool required, xmlXPathCompExprPtr *out)
{
    const char *expr = self->host->setting(self->a, name);
    *out = NULL;
    if (!expr || !*expr) {
        if (required)
            return self->host->setting_error(self->a, name, "required (an XPath expression)");
        return 0;
    }
    char err[300];
    if (!(*out = soappage_compile(expr, err, sizeof err)))
        return self->host->setting_error(self->a, name, "%s", err);
    if (soappage_check(&self->sc, *out, !strcmp(name, "records"), err, sizeof err) < 0)
        return self->host->setting_error(self->a, name, "'%s' %s", expr, err);
    return 0;
}

/* namespaces: {prefix: uri} from the settings map. */
static int s_namespaces(soap_xml_t *self)
{
    const char *json = self->host->setting_json(self->a);
    json_t *root = json ? json_loads(json, 0, NULL) : NULL;
    json_t *map = json_object_get(root, "namespaces");
    int rc = 0;
    if (map && !json_is_object(map)) {
        rc = self->host->setting_error(self->a, "namespaces", "expected a map of prefix: uri");
        goto done;
    }
    self->sc.ns = calloc(json_object_size(map) + 1, sizeof *self->sc.ns);
    if (!self->sc.ns) {
        rc = LGSP_AE_NOMEM;
        goto done;
    }
    const char *prefix;
    json_t *uri;
    json_object_foreach(map, prefix, uri) {
        if (!json_is_string(uri) || !*json_string_value(uri) || xmlValidateNCName(BAD_CAST prefix, 0) != 0) {
            rc = self->host->setting_error(self->a, "namespaces", "%s: expected prefix: uri", prefix);
            goto done;
        }
        soap_ns_t *ns = &self->sc.ns[self->sc.nns++];
        ns->prefix = strdup(prefix);
        ns->uri = strdup(json_string_value(uri));
        if (!ns->prefix || !ns->uri) {
            rc = LGSP_AE_NOMEM;
            goto done;
        }
    }
done:
    json_decref(root);
    return rc;
}

/* The template: inline or from a file; checked by rendering it once. */
static int s_template(soap_xml_t *self)
{
    const lgsp_host_api_t *h = self->host;
    const char *inl = h->setting(self->a, "request_template");
    const char *file = h->setting(self->a, "request_template_file");
    const char *which = inl && *inl ? "request_template" : "request_template_file";
    char *text = NULL;
    if (inl && *inl && file && *file)
        return h->setting_error(self->a, "request_template_file", "give request_template or "
                                "request_template_file, not both");
    if (inl && *inl) {
        text = strdup(inl);
    } else if (file && *file) {
        FILE *f = fopen(file, "rb");
        if (!f)
            return h->setting_error(self->a, which, "%s: %m", file);
        size_t cap = 0, n = 0;
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
            char *nt = realloc(text, (cap = n + got + 1));
            if (!nt) {
                free(text);
                fclose(f);
                return LGSP_AE_NOMEM;
            }
            text = nt;
            memcpy(text + n, chunk, got);
            n += got;
            text[n] = '\0';
        }
        fclose(f);
        if (!text || memchr(text, '\0', n)) {
            free(text);
            return h->setting_error(self->a, which, "%s: empty or not text", file);
        }
    } else {
        return h->setting_error(self->a, "request_template",
                                "required (or request_template_file)");
    }
    if (!text)
        return LGSP_AE_NOMEM;
    char err[300];
    self->tmpl = soap_template_new(text, err, sizeof err);
    free(text);
    if (!self->tmpl)
        return h->setting_error(self->a, which, "%s", err);
    soap_values_t v = {"2000-01-01T00:00:00+07:00", "1", "100", "user", "pass"};
    size_t len;
    char *probe = soap_template_render(self->tmpl, &v, &len);
    if (!probe)
        return LGSP_AE_NOMEM;
    soappage_quiet();
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    xmlDocPtr doc = ctxt ? xmlCtxtReadMemory(ctxt, probe, (int)len, NULL, NULL,
                                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                         : NULL;
    free(probe);
    int rc = 0;
    if (!doc) {
        xmlErrorPtr e = ctxt ? xmlCtxtGetLastError(ctxt) : NULL;
        char msg[200] = "";
        snprintf(msg, sizeof msg, "%s", e && e->message ? e->message : "");
        size_t l = strlen(msg);
        while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        rc = h->setting_error(self->a, which, "not XML once filled in: %s (line %d)", msg,
                              e ? e->line : 0);
    }
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= LGSP_ADAPTER_ABI_VERSION && LGSP_ADAPTER_ABI_VERSION <= host_max
               ? LGSP_ADAPTER_ABI_VERSION : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *h,
                                          lgsp_adapter_info_t *info, void **out)
{
    pthread_once(&s_xml_once, s_xml_init);
    soap_xml_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->host = h;
    self->a = a;
    pullsrc_conf_t pc = {.content_type = "application/xml"};
    httpfetch_opts_t ho;
    httpfetch_opts_default(&ho);
    ho.user_agent = "lgsp-adapter-soap-xml/" PLUGIN_VERSION;
    ho.classify = s_classify;
    if (!(self->endpoint = adcfg_required(h, a, "endpoint")))
        goto fail;
    if (strncmp(self->endpoint, "http://", 7) && strncmp(self->endpoint, "https://", 8)) {
        h->setting_error(a, "endpoint", "'%s': expected an http:// or https:// URL", self->endpoint);
        goto fail;
    }
    self->username = adcfg_str(h, a, "username", "");
    bool absent;
    self->password = adcfg_secret(h, a, "password", "password_file", &absent);
    if (!self->password && !absent)
        goto fail;
    if (s_template(self) < 0 || s_namespaces(self) < 0
        || s_xpath(self, "records", true, &self->sc.records) < 0
        || s_xpath(self, "id", true, &self->sc.id) < 0
        || s_xpath(self, "watermark", false, &self->sc.watermark) < 0
        || s_xpath(self, "total_pages", false, &self->sc.total_pages) < 0
        || s_xpath(self, "total", false, &self->sc.total) < 0)
        goto fail;
    if (adcfg_long(h, a, "page_size", 100, 1, 1000000, &self->page_size) < 0
        || adcfg_long(h, a, "pages_per_poll", 10, 1, 1000000, &pc.pages_per_poll) < 0
        || adcfg_http(h, a, &ho) < 0 || adcfg_incsync(h, a, &pc.sync) < 0)
        goto fail;
    pc.page_size = self->page_size;

    /* SOAP 1.1: the SOAPAction value is a quoted URI (empty quotes allowed). */
    const char *action = adcfg_str(h, a, "soap_action", NULL);
    char *ct = NULL, *sa = NULL;
    if (asprintf(&ct, "Content-Type: %s", adcfg_str(h, a, "content_type", "text/xml; charset=utf-8")) < 0)
        ct = NULL;
    if (action && asprintf(&sa, action[0] == '"' ? "SOAPAction: %s" : "SOAPAction: \"%s\"", action) < 0)
        sa = NULL;
    const char *const extra[] = {ct ? ct : "Content-Type: text/xml; charset=utf-8",
                                 "Accept: text/xml", sa, NULL};
    self->headers = adcfg_headers(h, a, extra);
    free(ct);
    free(sa);
    if (!self->headers)
        goto fail;
    self->http = httpfetch_new(h, a, &ho);
    if (!self->http) {
        h->log(a, LGSP_LOG_ERROR, "libcurl could not start");
        goto fail;
    }
    const pullsrc_ops_t ops = {s_fetch, s_item, s_release};
    self->src = pullsrc_new(h, a, &pc, &ops, self);
    if (!self->src)
        goto fail;

    info->plugin = "soap-xml";
    info->version = PLUGIN_VERSION;
    info->kind = LGSP_ADAPTER_SOURCE;
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->poll = s_poll;
    info->cleanup = s_cleanup;
    info->describe = s_describe;
    *out = self;
    return 0;
fail:
    s_destroy(&self);
    return LGSP_AE_INVALID;
}
