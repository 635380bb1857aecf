/* http_json.c — the http-json plugin: a pull source for paged JSON APIs with
 * an incremental `since` watermark (docs/simulators.md §1 is the model).
 * Everything comes from the settings; nothing here knows a particular
 * source:
 *
 *   url              the API (GET), query parameters are added to it
 *   page_param       "page"       query parameter of the page number ("" = none)
 *   page_size_param  "page_size"  query parameter of the page size ("" = none)
 *   since_param      "since"      query parameter of the watermark ("" = none)
 *   page_size        100
 *   records          "data"       path of the record array in an answer ("" = the answer)
 *   total_pages      (none)       path of the page count, e.g. "total_pages"
 *   total            (none)       path of the record count, e.g. "total"
 *   id_field         "id"         path of the record id in a record
 *   watermark_field  "updated_at" path of the watermark in a record ("" = none)
 *   auth.header / auth.value (or auth.value_file), headers: {name: value}    request headers
 *   + the HTTP settings of adcfg_http() and the sync settings of adcfg_incsync()
 *   pages_per_poll   10           pages read per poll() before the host gets control back
 *
 * One page = one commit of its records with the state (pullsrc.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lgsp/adapter.h>

#include "adcfg.h"
#include "httpfetch.h"
#include "jsonpage.h"
#include "pullsrc.h"

#define PLUGIN_VERSION "0.1.0"

typedef struct {
    const lgsp_host_api_t *host;
    lgsp_adapter_t        *a;
    const char            *url;
    const char            *page_param, *page_size_param, *since_param;
    long                   page_size;
    char                 **headers;
    jsonpage_conf_t        jc;
    jsonpage_t             page;
    httpfetch_t           *http;
    pullsrc_t             *src;
} http_json_t;

static void s_destroy(http_json_t **self_p)
{
    http_json_t *self = *self_p;
    if (!self)
        return;
    pullsrc_destroy(&self->src);
    httpfetch_destroy(&self->http);
    jsonpage_release(&self->page);
    adcfg_headers_free(&self->headers);
    free(self);
    *self_p = NULL;
}

/* The URL of one page: url + since + page + page_size (caller frees). */
static char *s_page_url(http_json_t *self, const char *since, long page)
{
    char *url = strdup(self->url), *next;
    char num[32];
    if (url && since[0] && self->since_param[0]) {
        next = httpfetch_url_add(url, self->since_param, since);
        free(url);
        url = next;
    }
    if (url && self->page_param[0]) {
        snprintf(num, sizeof num, "%ld", page);
        next = httpfetch_url_add(url, self->page_param, num);
        free(url);
        url = next;
    }
    if (url && self->page_size_param[0]) {
        snprintf(num, sizeof num, "%ld", self->page_size);
        next = httpfetch_url_add(url, self->page_size_param, num);
        free(url);
        url = next;
    }
    return url;
}

static int s_fetch(void *impl, const char *since, long page, pullsrc_page_t *pg, char *err,
                   size_t errlen)
{
    http_json_t *self = impl;
    char *url = s_page_url(self, since, page);
    if (!url) {
        snprintf(err, errlen, "out of memory");
        return PULLSRC_FAILED;
    }
    int rc = httpfetch_get(self->http, url, (const char *const *)self->headers);
    free(url);
    if (rc == HTTPFETCH_STOPPING)
        return PULLSRC_STOPPING;
    if (rc != HTTPFETCH_OK) {
        snprintf(err, errlen, "%s", httpfetch_error(self->http));
        return PULLSRC_FAILED;
    }
    size_t len;
    const char *body = httpfetch_body(self->http, &len);
    rc = jsonpage_parse(&self->page, &self->jc, body, len, pg);
    if (rc == PULLSRC_MALFORMED) {
        pg->bad = body;
        pg->bad_len = len;
    }
    return rc;
}

static int s_item(void *impl, long i, pullsrc_item_t *it)
{
    http_json_t *self = impl;
    return jsonpage_item(&self->page, &self->jc, i, it);
}

static void s_release(void *impl)
{
    http_json_t *self = impl;
    jsonpage_release(&self->page);
}

static int s_poll(void *impl, lgsp_adapter_t *a)
{
    http_json_t *self = impl;
    return pullsrc_poll(self->src);
}

static void s_cleanup(void *impl, lgsp_adapter_t *a)
{
    http_json_t *self = impl;
    s_destroy(&self);
}

static void s_describe(void *impl, char *buf, size_t len)
{
    http_json_t *self = impl;
    pullsrc_describe(self->src, buf, len);
}

static const char *s_path_setting(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *name,
                                  const char *def)
{
    const char *v = adcfg_str(h, a, name, def);
    return v && *v ? v : NULL;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= LGSP_ADAPTER_ABI_VERSION && LGSP_ADAPTER_ABI_VERSION <= host_max
               ? LGSP_ADAPTER_ABI_VERSION : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *h,
                                          lgsp_adapter_info_t *info, void **out)
{
    http_json_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->host = h;
    self->a = a;
    pullsrc_conf_t pc = {.content_type = "application/json"};
    httpfetch_opts_t ho;
    httpfetch_opts_default(&ho);
    ho.user_agent = "lgsp-adapter-http-json/" PLUGIN_VERSION;
    if (!(self->url = adcfg_required(h, a, "url")))
        goto fail;
    if (strncmp(self->url, "http://", 7) && strncmp(self->url, "https://", 8)) {
        h->setting_error(a, "url", "'%s': expected an http:// or https:// URL", self->url);
        goto fail;
    }
    self->page_param = adcfg_str(h, a, "page_param", "page");
    self->page_size_param = adcfg_str(h, a, "page_size_param", "page_size");
    self->since_param = adcfg_str(h, a, "since_param", "since");
    self->jc.records = adcfg_str(h, a, "records", "data");
    self->jc.total_pages = s_path_setting(h, a, "total_pages", NULL);
    self->jc.total = s_path_setting(h, a, "total", NULL);
    self->jc.id = s_path_setting(h, a, "id_field", "id");
    self->jc.watermark = s_path_setting(h, a, "watermark_field", "updated_at");
    if (!self->jc.id) {
        h->setting_error(a, "id_field", "must not be empty");
        goto fail;
    }
    if (adcfg_long(h, a, "page_size", 100, 1, 1000000, &self->page_size) < 0
        || adcfg_long(h, a, "pages_per_poll", 10, 1, 1000000, &pc.pages_per_poll) < 0
        || adcfg_http(h, a, &ho) < 0 || adcfg_incsync(h, a, &pc.sync) < 0)
        goto fail;
    pc.page_size = self->page_size;
    if (!self->page_param[0]) {
        /* Without a page parameter every request returns the same answer:
         * a pass is that one answer, whatever totals it states. */
        self->jc.total_pages = self->jc.total = NULL;
        pc.page_size = LONG_MAX;
    }
    const char *const accept[] = {"Accept: application/json", NULL};
    if (!(self->headers = adcfg_headers(h, a, accept)))
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

    info->plugin = "http-json";
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
