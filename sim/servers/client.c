/* lgsp-sim-client — pulls everything a simulated department system serves,
 * through its own protocol, and prints records/s (bench/world.sh):
 *
 *   lgsp-sim-client rest URL [--key K] [--page-size N]         qn-population
 *   lgsp-sim-client soap URL [--user U --password P] [--page-size N]  dn-population
 *   lgsp-sim-client backfill URL [--token T] [--page-size N]   dn-civil history
 *   lgsp-sim-client receive --port P --count N [--timeout S]   dn-civil webhook receiver
 *   lgsp-sim-client files DIR --count N [--timeout S]          qn-land / qn-civil drops
 *
 * Every record is parsed (jansson, libxml2), not just counted as bytes. The
 * last line is "<what>: N records in T s = R records/s (M MiB)". */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simutil.h"

typedef struct {
    const char *url, *key, *user, *password, *token, *dir;
    long        page_size, count, port, timeout_s;
} s_opts_t;

static size_t s_write(char *p, size_t sz, size_t n, void *u)
{
    sbuf_put((sbuf_t *)u, p, sz * n);
    return sz * n;
}

static void s_report(const char *what, uint64_t n, int64_t ms, uint64_t bytes)
{
    double s = (double)ms / 1000.0;
    printf("%s: %llu records in %.2f s = %.0f records/s (%.1f MiB)\n", what,
           (unsigned long long)n, s, s > 0 ? (double)n / s : 0.0, (double)bytes / 1048576.0);
}

static CURL *s_curl(sbuf_t *body)
{
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "lgsp-sim-client: curl_easy_init failed\n");
        exit(1);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    return c;
}

/* REST pages of JSON: qn-population ("data") or the dn-civil backfill ("events"). */
static int s_rest(const s_opts_t *o, bool backfill)
{
    sbuf_t body;
    sbuf_init(&body);
    CURL *c = s_curl(&body);
    struct curl_slist *h = NULL;
    char line[512];
    if (backfill && o->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", o->token);
        h = curl_slist_append(h, line);
    } else if (!backfill && o->key) {
        snprintf(line, sizeof line, "X-API-Key: %s", o->key);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    uint64_t n = 0, bytes = 0;
    long pages = 1;
    int64_t t0 = sim_now_ms();
    for (long page = 1; page <= pages; page++) {
        char url[2048];
        snprintf(url, sizeof url, "%s%cpage=%ld&page_size=%ld", o->url,
                 strchr(o->url, '?') ? '&' : '?', page, o->page_size);
        sbuf_reset(&body);
        curl_easy_setopt(c, CURLOPT_URL, url);
        long status = 0;
        if (curl_easy_perform(c) != CURLE_OK
            || curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
            fprintf(stderr, "lgsp-sim-client: %s: HTTP %ld\n", url, status);
            return 1;
        }
        bytes += body.len;
        json_error_t je;
        json_t *d = json_loadb(body.p, body.len, 0, &je);
        json_t *items = json_object_get(d, backfill ? "events" : "data");
        if (!json_is_array(items)) {
            fprintf(stderr, "lgsp-sim-client: page %ld: not a page (%s)\n", page, je.text);
            return 1;
        }
        n += json_array_size(items);
        pages = (long)json_integer_value(json_object_get(d, "total_pages"));
        json_decref(d);
    }
    s_report(backfill ? "dn-civil backfill (REST/JSON)" : "qn-population (REST/JSON)", n,
             sim_now_ms() - t0, bytes);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    sbuf_free(&body);
    return 0;
}

static int s_soap(const s_opts_t *o)
{
    sbuf_t body, req;
    sbuf_init(&body);
    sbuf_init(&req);
    CURL *c = s_curl(&body);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: text/xml; charset=utf-8");
    h = curl_slist_append(h, "SOAPAction: \"urn:lgsp-sim:dn-dancu:1/LayDanhSachCongDan\"");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    uint64_t n = 0, bytes = 0;
    long pages = 1;
    int64_t t0 = sim_now_ms();
    for (long page = 1; page <= pages; page++) {
        sbuf_reset(&req);
        sbuf_puts(&req, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\""
                        "http://schemas.xmlsoap.org/soap/envelope/\" xmlns:dc=\"urn:lgsp-sim:dn-dancu:1\">");
        if (o->user) {
            sbuf_puts(&req, "<soap:Header><wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/"
                            "2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken>"
                            "<wsse:Username>");
            sbuf_xml(&req, o->user);
            sbuf_puts(&req, "</wsse:Username><wsse:Password>");
            sbuf_xml(&req, o->password ? o->password : "");
            sbuf_puts(&req, "</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header>");
        }
        sbuf_printf(&req, "<soap:Body><dc:LayDanhSachCongDan><dc:Trang>%ld</dc:Trang><dc:SoBanGhi>%ld"
                          "</dc:SoBanGhi></dc:LayDanhSachCongDan></soap:Body></soap:Envelope>",
                    page, o->page_size);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.p);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req.len);
        sbuf_reset(&body);
        long status = 0;
        if (curl_easy_perform(c) != CURLE_OK
            || curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
            fprintf(stderr, "lgsp-sim-client: SOAP page %ld: HTTP %ld\n", page, status);
            return 1;
        }
        bytes += body.len;
        xmlDoc *doc = xmlReadMemory(body.p, (int)body.len, "r.xml", NULL, XML_PARSE_NONET);
        if (!doc) {
            fprintf(stderr, "lgsp-sim-client: SOAP page %ld: not XML\n", page);
            return 1;
        }
        /* Envelope/Body/LayDanhSachCongDanResponse/{SoTrang, DanhSachCongDan/CongDan*} */
        xmlNode *env = xmlDocGetRootElement(doc), *b = NULL, *r = NULL;
        for (xmlNode *x = env ? env->children : NULL; x; x = x->next)
            if (x->type == XML_ELEMENT_NODE && !strcmp((const char *)x->name, "Body"))
                b = x;
        for (xmlNode *x = b ? b->children : NULL; x; x = x->next)
            if (x->type == XML_ELEMENT_NODE)
                r = x;
        for (xmlNode *x = r ? r->children : NULL; x; x = x->next) {
            if (x->type != XML_ELEMENT_NODE)
                continue;
            if (!strcmp((const char *)x->name, "SoTrang")) {
                xmlChar *t = xmlNodeGetContent(x);
                pages = atol((const char *)t);
                xmlFree(t);
            } else if (!strcmp((const char *)x->name, "DanhSachCongDan")) {
                for (xmlNode *y = x->children; y; y = y->next)
                    if (y->type == XML_ELEMENT_NODE)
                        n++;
            }
        }
        xmlFreeDoc(doc);
    }
    s_report("dn-population (SOAP/XML)", n, sim_now_ms() - t0, bytes);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    sbuf_free(&body);
    sbuf_free(&req);
    return 0;
}

/* ---- webhook receiver ---------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    uint64_t        n, bytes;
    int64_t         first_ms, last_ms;
    sbuf_t          body;   /* per connection would be cleaner; one thread serves all */
} s_recv_t;

static enum MHD_Result s_recv_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload, size_t *upload_size, void **con_cls)
{
    s_recv_t *r = cls;
    if (!*con_cls) {
        *con_cls = (void *)1;
        sbuf_reset(&r->body);
        return MHD_YES;
    }
    if (*upload_size) {
        sbuf_put(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    json_t *ev = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, NULL);
    bool ok = json_is_object(ev) && json_is_string(json_object_get(ev, "event_id"));
    json_decref(ev);
    pthread_mutex_lock(&r->mu);
    if (ok) {
        int64_t now = sim_now_ms();
        if (!r->n)
            r->first_ms = now;
        r->last_ms = now;
        r->n++;
        r->bytes += r->body.len;
    }
    pthread_mutex_unlock(&r->mu);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, ok ? 200 : 400, resp);
    MHD_destroy_response(resp);
    return rc;
}

static int s_receive(const s_opts_t *o)
{
    s_recv_t r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    sbuf_init(&r.body);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* one internal thread: requests are handled one at a time, like one keep-alive client */
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
                                            (uint16_t)o->port, NULL, NULL, s_recv_access, &r,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                                            MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "lgsp-sim-client: cannot listen on 127.0.0.1:%ld\n", o->port);
        return 1;
    }
    printf("receiving on http://127.0.0.1:%ld/hook\n", o->port);
    fflush(stdout);
    int64_t deadline = sim_now_ms() + o->timeout_s * 1000;
    for (;;) {
        pthread_mutex_lock(&r.mu);
        bool done = r.n >= (uint64_t)o->count;
        pthread_mutex_unlock(&r.mu);
        if (done || sim_now_ms() > deadline)
            break;
        sim_sleep_ms(20, NULL);
    }
    MHD_stop_daemon(d);
    s_report(r.n >= (uint64_t)o->count ? "dn-civil (webhook push)" : "dn-civil (webhook push, timed out)",
             r.n, r.n > 1 ? r.last_ms - r.first_ms : 0, r.bytes);
    sbuf_free(&r.body);
    return r.n >= (uint64_t)o->count ? 0 : 1;
}

/* ---- drop folders ---------------------------------------------------------- */

static int s_files(const s_opts_t *o)
{
    int64_t t0 = sim_now_ms(), deadline = t0 + o->timeout_s * 1000, first = 0, all = 0;
    long seen = 0;
    while (sim_now_ms() < deadline) {
        DIR *d = opendir(o->dir);
        seen = 0;
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                    seen++;
            closedir(d);
        }
        if (seen && !first)
            first = sim_now_ms();
        if (seen >= o->count) {
            all = sim_now_ms();
            break;
        }
        sim_sleep_ms(5, NULL);
    }
    if (!all) {
        fprintf(stderr, "lgsp-sim-client: %s: %ld of %ld files after %ld s\n", o->dir, seen,
                o->count, o->timeout_s);
        return 1;
    }
    /* read and parse what was dropped */
    uint64_t n = 0, bytes = 0;
    DIR *d = opendir(o->dir);
    struct dirent *de;
    bool xml = false;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", o->dir, de->d_name);
        char *p;
        size_t len;
        if (sim_read_file(path, &p, &len) != 0)
            continue;
        bytes += len;
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".xml")) {
            xml = true;
            xmlDoc *doc = xmlReadMemory(p, (int)len, path, NULL, XML_PARSE_NONET | XML_PARSE_HUGE);
            xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
            for (xmlNode *x = root ? root->children : NULL; x; x = x->next)
                if (x->type == XML_ELEMENT_NODE)
                    n++;
            if (!doc)
                fprintf(stderr, "lgsp-sim-client: %s: not XML\n", path);
            xmlFreeDoc(doc);
        } else {
            for (size_t i = 0; i < len; i++)
                n += p[i] == '\n';
            n--;                     /* the header */
        }
        free(p);
    }
    if (d)
        closedir(d);
    int64_t end = sim_now_ms();
    printf("%s: %ld files, the first after %.2f s, all after %.2f s\n", o->dir, seen,
           (double)(first - t0) / 1000.0, (double)(all - t0) / 1000.0);
    s_report(xml ? "qn-land (XML file drop, dropped + parsed)" : "qn-civil (CSV file drop, dropped + read)",
             n, end - first, bytes);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: lgsp-sim-client rest|soap|backfill URL [options] | receive --port P --count N"
              " | files DIR --count N\n", stderr);
        return 2;
    }
    s_opts_t o = { .page_size = 1000, .count = 0, .port = 0, .timeout_s = 600 };
    const char *cmd = argv[1];
    int i = 2;
    if (strcmp(cmd, "receive") && argc > 2)
        o.url = o.dir = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "lgsp-sim-client: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--key")) o.key = v;
        else if (!strcmp(a, "--user")) o.user = v;
        else if (!strcmp(a, "--password")) o.password = v;
        else if (!strcmp(a, "--token")) o.token = v;
        else if (!strcmp(a, "--page-size")) o.page_size = atol(v);
        else if (!strcmp(a, "--count")) o.count = atol(v);
        else if (!strcmp(a, "--port")) o.port = atol(v);
        else if (!strcmp(a, "--timeout")) o.timeout_s = atol(v);
        else {
            fprintf(stderr, "lgsp-sim-client: unknown option %s\n", a);
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    int rc;
    if (!strcmp(cmd, "rest") && o.url) rc = s_rest(&o, false);
    else if (!strcmp(cmd, "backfill") && o.url) rc = s_rest(&o, true);
    else if (!strcmp(cmd, "soap") && o.url) rc = s_soap(&o);
    else if (!strcmp(cmd, "receive") && o.port > 0 && o.count > 0) rc = s_receive(&o);
    else if (!strcmp(cmd, "files") && o.dir && o.count > 0) rc = s_files(&o);
    else {
        fprintf(stderr, "lgsp-sim-client: bad command line\n");
        rc = 2;
    }
    xmlCleanupParser();
    curl_global_cleanup();
    return rc;
}
