/* test-http.c — the loopback HTTP endpoint, driven with libcurl on
 * 127.0.0.1 only: listen-address checks, /metrics, /health, routes with
 * bodies and queries, 404/405/413, HEAD, and a torn request.
 *
 * Every request goes to 127.0.0.1 with proxies switched off, so neither a
 * proxy variable in the environment nor a refused address can send
 * traffic anywhere else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"

#define LIMIT (8u * 1024 * 1024)

/* ---- a small libcurl client ----------------------------------------- */

typedef struct {
    long status;
    char *body;
    size_t len;
    char ctype[128];
    char allow[128];
    char cache[64];
    long long content_length;   /* -1 if absent */
} s_resp_t;

typedef struct {
    const char *data;
    size_t len, pos;
} s_upload_t;

static size_t s_on_body(char *data, size_t size, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t add = size * n;
    char *body = realloc(r->body, r->len + add + 1);
    assert_non_null(body);
    memcpy(body + r->len, data, add);
    r->body = body;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

/* Copies the value of header "name:" into out if line is that header. */
static void s_header_value(const char *line, size_t n, const char *name, char *out, size_t outn)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && *v == ' ')
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    snprintf(out, outn, "%.*s", (int) (end - v), v);
}

static size_t s_on_header(char *line, size_t size, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = size * n;
    char cl[32] = "";
    s_header_value(line, len, "Content-Type", r->ctype, sizeof r->ctype);
    s_header_value(line, len, "Allow", r->allow, sizeof r->allow);
    s_header_value(line, len, "Cache-Control", r->cache, sizeof r->cache);
    s_header_value(line, len, "Content-Length", cl, sizeof cl);
    if (*cl)
        r->content_length = atoll(cl);
    return len;
}

static size_t s_on_read(char *buf, size_t size, size_t n, void *arg)
{
    s_upload_t *u = arg;
    size_t room = size * n, left = u->len - u->pos;
    size_t take = left < room ? left : room;
    memcpy(buf, u->data + u->pos, take);
    u->pos += take;
    return take;
}

/* A server may answer 413 and close before reading an oversized body; curl
 * then sometimes fails while sending instead of reading the answer. Set
 * while a test expects such a refusal. */
static bool s_refusal_may_close;

/* One request to 127.0.0.1:port. body NULL: no body. chunked: send the
 * body without a Content-Length. expect: keep curl's "Expect:
 * 100-continue" (otherwise switched off to save the round trip). */
static void s_fetch_ex(int port, const char *method, const char *path, const char *body,
                       size_t body_len, bool chunked, bool expect, s_resp_t *r)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    struct curl_slist *h = NULL;
    if (!expect)
        h = curl_slist_append(h, "Expect:");
    s_upload_t up = { body, body_len, 0 };
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body && chunked) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0
        && !(body && strcmp(method, "POST") == 0))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (rc == CURLE_SEND_ERROR && s_refusal_may_close && r->status == 0)
        r->status = -1;   /* the server refused and closed while curl was still sending */
    else if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r->body)
        r->body = calloc(1, 1);
}

static void s_fetch(int port, const char *method, const char *path, const char *body,
                    s_resp_t *r)
{
    s_fetch_ex(port, method, path, body, body ? strlen(body) : 0, false, false, r);
}

static void s_resp_free(s_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* ---- handlers ------------------------------------------------------- */

typedef struct {
    int status;
    int calls;
} s_echo_t;

/* Answers what it was given: method, path, raw query, body length, and
 * the body itself when short. */
static void s_echo(void *arg, const char *method, const char *path, const char *query,
                   const char *body, size_t body_len, int *status, const char **content_type,
                   char **resp_body, size_t *resp_len)
{
    s_echo_t *e = arg;
    e->calls++;
    assert_non_null(body);
    assert_int_equal(body[body_len], '\0');     /* always terminated */
    char *out = NULL;
    int n = asprintf(&out, "method=%s path=%s query=%s len=%zu body=%s", method, path, query,
                     body_len, body_len <= 64 ? body : "(long)");
    assert_true(n > 0);
    *status = e->status;
    *content_type = "text/plain";
    *resp_body = out;
    *resp_len = (size_t) n;
}

static void s_silent(void *arg, const char *method, const char *path, const char *query,
                     const char *body, size_t body_len, int *status, const char **content_type,
                     char **resp_body, size_t *resp_len)
{
    /* Sets nothing: the server must answer 500 with an empty body. */
}

/* ---- tests ---------------------------------------------------------- */

static void test_refuses_non_loopback(void **state)
{
    static const char *const bad_host[] = {
        "0.0.0.0:0", "10.1.2.3:80", "192.168.1.1:9100", "[::]:0", "[2001:db8::1]:80",
        "example.com:80", "128.0.0.1:0", ":8080", "[::ffff:127.0.0.1]:0",
    };
    for (size_t i = 0; i < sizeof bad_host / sizeof bad_host[0]; i++) {
        char *err = NULL;
        http_server_t *s = http_server_new(bad_host[i], &err);
        if (s)
            fail_msg("'%s' was accepted", bad_host[i]);
        assert_non_null(err);
        assert_non_null(strstr(err, "loopback"));
        free(err);
    }
    static const char *const malformed[] = {
        "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:80x", "127.0.0.1:-1",
        "127.0.0.1: 80", "[::1", "[::1]80", "", "127.0.0.1:123456",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char *err = NULL;
        http_server_t *s = http_server_new(malformed[i], &err);
        if (s)
            fail_msg("'%s' was accepted", malformed[i]);
        assert_non_null(err);
        assert_true(strlen(err) > 0);
        free(err);
    }
    char *err = NULL;
    assert_null(http_server_new(NULL, &err));
    assert_non_null(err);
    free(err);
    /* err may be NULL. */
    assert_null(http_server_new("0.0.0.0:0", NULL));
}

static void test_metrics_and_health(void **state)
{
    char *err = NULL;
    http_server_t *s = http_server_new("127.0.0.1:0", &err);
    assert_non_null(s);
    assert_null(err);
    int port = http_server_port(s);
    assert_true(port > 0 && port < 65536);
    s_resp_t r;

    /* Before the first set: 503 "starting". */
    s_fetch(port, "GET", "/health", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body, "{\"status\":\"starting\"}");
    assert_string_equal(r.cache, "no-store");
    s_resp_free(&r);

    http_server_set_health(s, 200, "{\"status\":\"ok\",\"sessions\":3}");
    s_fetch(port, "GET", "/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\",\"sessions\":3}");
    s_resp_free(&r);
    http_server_set_health(s, 503, "{\"status\":\"draining\"}");
    s_fetch(port, "GET", "/health", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"status\":\"draining\"}");
    s_resp_free(&r);

    /* /metrics: empty until set, then exactly the text set. */
    s_fetch(port, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    s_resp_free(&r);
    const char text[] = "# HELP a A.\n# TYPE a counter\na{topic=\"x\"} 1\n";
    http_server_set_metrics(s, text, strlen(text));
    s_fetch(port, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(r.body, text);
    s_resp_free(&r);
    /* Only len bytes are taken, and the text is copied. */
    char scratch[] = "x 1\ny 2\n";
    http_server_set_metrics(s, scratch, 4);
    memset(scratch, 'Z', sizeof scratch - 1);
    s_fetch(port, "GET", "/metrics", NULL, &r);
    assert_string_equal(r.body, "x 1\n");
    s_resp_free(&r);

    /* HEAD: the headers of GET, no body. */
    s_fetch(port, "HEAD", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_int_equal(r.content_length, 4);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    s_resp_free(&r);
    s_fetch(port, "HEAD", "/health", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.len, 0);
    s_resp_free(&r);

    /* Other methods on the built-in paths: 405 with Allow. */
    s_fetch(port, "POST", "/metrics", "x", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    assert_string_equal(r.body, "{\"error\":\"method not allowed\"}");
    s_resp_free(&r);
    s_fetch(port, "DELETE", "/health", NULL, &r);
    assert_int_equal(r.status, 405);
    s_resp_free(&r);

    /* Unknown paths, including near misses: 404 JSON. */
    const char *const missing[] = { "/", "/metrics/", "/Metrics", "/nothing", "/health?x=1/" };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        s_fetch(port, "GET", missing[i], NULL, &r);
        if (strcmp(missing[i], "/health?x=1/") == 0) {
            assert_int_equal(r.status, 503);    /* the query is not part of the path */
        } else {
            assert_int_equal(r.status, 404);
            assert_string_equal(r.ctype, "application/json");
            assert_string_equal(r.body, "{\"error\":\"not found\"}");
        }
        s_resp_free(&r);
    }

    http_server_destroy(&s);
    assert_null(s);
    http_server_destroy(&s);     /* NULL is fine */
    http_server_destroy(NULL);
}

static void test_routes(void **state)
{
    http_server_t *s = http_server_new("127.0.0.1:0", NULL);
    assert_non_null(s);
    int port = http_server_port(s);
    s_echo_t ingest = { 202, 0 }, review = { 200, 0 };
    assert_int_equal(http_server_route(s, "POST", "/ingest", s_echo, &ingest), 0);
    assert_int_equal(http_server_route(s, "GET", "/review", s_echo, &review), 0);
    s_resp_t r;

    s_fetch(port, "POST", "/ingest?a=1&b=%20x", "{\"k\":\"v\"}", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.body, "method=POST path=/ingest query=a=1&b=%20x len=9 body={\"k\":\"v\"}");
    s_resp_free(&r);
    /* Chunked upload: the same body without a Content-Length. */
    s_fetch_ex(port, "POST", "/ingest", "chunked body", 12, true, false, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "method=POST path=/ingest query= len=12 body=chunked body");
    s_resp_free(&r);
    /* An empty POST reaches the handler with "" and 0. */
    s_fetch(port, "POST", "/ingest", "", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "method=POST path=/ingest query= len=0 body=");
    s_resp_free(&r);
    assert_int_equal(ingest.calls, 3);

    /* Wrong method on a known path: 405 naming what is allowed. */
    s_fetch(port, "GET", "/ingest", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    s_resp_free(&r);
    assert_int_equal(http_server_route(s, "PUT", "/ingest", s_echo, &ingest), 0);
    s_fetch(port, "DELETE", "/ingest", NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, PUT");
    s_resp_free(&r);
    assert_int_equal(ingest.calls, 3);

    /* A GET route answers HEAD without a body; its Allow lists HEAD. */
    s_fetch(port, "GET", "/review?id=7", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "method=GET path=/review query=id=7 len=0 body=");
    s_resp_free(&r);
    s_fetch(port, "HEAD", "/review", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_true(r.content_length > 0);
    s_resp_free(&r);
    s_fetch(port, "POST", "/review", "x", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    s_resp_free(&r);

    /* Unknown path (a POST with a body included): 404. */
    s_fetch(port, "POST", "/ingest/x", "body", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":\"not found\"}");
    s_resp_free(&r);

    /* Re-registering re-points the route. */
    s_echo_t other = { 201, 0 };
    assert_int_equal(http_server_route(s, "POST", "/ingest", s_echo, &other), 0);
    s_fetch(port, "POST", "/ingest", "x", &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(other.calls, 1);
    s_resp_free(&r);

    /* A handler that sets nothing: 500, empty. */
    assert_int_equal(http_server_route(s, "GET", "/silent", s_silent, NULL), 0);
    s_fetch(port, "GET", "/silent", NULL, &r);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.len, 0);
    s_resp_free(&r);

    /* Bad registrations. */
    assert_int_equal(http_server_route(s, "GET", "/metrics", s_echo, &review), -1);
    assert_int_equal(http_server_route(s, "POST", "/health", s_echo, &review), -1);
    assert_int_equal(http_server_route(s, "GET", "noslash", s_echo, &review), -1);
    assert_int_equal(http_server_route(s, "", "/x", s_echo, &review), -1);
    assert_int_equal(http_server_route(s, "GET", "/x", NULL, &review), -1);
    assert_int_equal(http_server_route(NULL, "GET", "/x", s_echo, &review), -1);

    /* Up to 32 routes; the table has 4 so far. */
    for (int i = 4; i < 32; i++) {
        char path[32];
        snprintf(path, sizeof path, "/r%d", i);
        assert_int_equal(http_server_route(s, "GET", path, s_echo, &review), 0);
    }
    assert_int_equal(http_server_route(s, "GET", "/one-too-many", s_echo, &review), -1);
    /* Re-pointing still works when full. */
    assert_int_equal(http_server_route(s, "GET", "/r31", s_echo, &review), 0);
    s_fetch(port, "GET", "/r31", NULL, &r);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    s_fetch(port, "GET", "/one-too-many", NULL, &r);
    assert_int_equal(r.status, 404);
    s_resp_free(&r);

    http_server_destroy(&s);
}

static void test_body_limit(void **state)
{
    http_server_t *s = http_server_new("127.0.0.1:0", NULL);
    assert_non_null(s);
    int port = http_server_port(s);
    s_echo_t e = { 200, 0 };
    assert_int_equal(http_server_route(s, "POST", "/in", s_echo, &e), 0);
    char *big = malloc(LIMIT + 1);
    assert_non_null(big);
    memset(big, 'a', LIMIT + 1);
    s_resp_t r;

    /* Exactly the limit: accepted. */
    s_fetch_ex(port, "POST", "/in", big, LIMIT, false, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "method=POST path=/in query= len=8388608 body=(long)");
    s_resp_free(&r);
    s_fetch_ex(port, "POST", "/in", big, LIMIT, true, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "method=POST path=/in query= len=8388608 body=(long)");
    s_resp_free(&r);
    assert_int_equal(e.calls, 2);

    /* One byte more, announced: refused before the upload, with or
     * without "Expect: 100-continue". Without it curl is already sending
     * when the 413 comes, and may see the connection closed instead. */
    s_refusal_may_close = true;
    s_fetch_ex(port, "POST", "/in", big, LIMIT + 1, false, false, &r);
    s_refusal_may_close = false;
    assert_true(r.status == 413 || r.status == -1);
    if (r.status == 413)
        assert_string_equal(r.body, "{\"error\":\"request body too large\"}");
    s_resp_free(&r);
    s_fetch_ex(port, "POST", "/in", big, LIMIT + 1, false, true, &r);
    assert_int_equal(r.status, 413);
    s_resp_free(&r);
    /* One byte more, chunked: read and dropped, then refused. */
    s_fetch_ex(port, "POST", "/in", big, LIMIT + 1, true, false, &r);
    assert_int_equal(r.status, 413);
    s_resp_free(&r);
    assert_int_equal(e.calls, 2);

    /* Still serving. */
    s_fetch(port, "POST", "/in", "ok", &r);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    free(big);
    http_server_destroy(&s);
}

static void test_localhost_ipv6_and_port_in_use(void **state)
{
    char *err = NULL;
    http_server_t *s = http_server_new("localhost:0", &err);
    assert_non_null(s);
    assert_null(err);
    int port = http_server_port(s);
    s_resp_t r;
    s_fetch(port, "GET", "/health", NULL, &r);     /* reached on 127.0.0.1 */
    assert_int_equal(r.status, 503);
    s_resp_free(&r);

    /* The same port again: refused with a reason. */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    http_server_t *dup = http_server_new(listen, &err);
    assert_null(dup);
    assert_non_null(err);
    assert_non_null(strstr(err, "cannot serve HTTP on"));
    free(err);
    err = NULL;
    http_server_destroy(&s);

    /* ::1, where the host has IPv6 loopback (containers may not). */
    s = http_server_new("[::1]:0", &err);
    if (s) {
        assert_true(http_server_port(s) > 0);
        http_server_destroy(&s);
    } else {
        assert_non_null(err);
        assert_non_null(strstr(err, "cannot serve HTTP on"));   /* not refused as non-loopback */
        free(err);
    }
    /* The bare form splits at the last colon. */
    err = NULL;
    s = http_server_new("::1:0", &err);
    if (s)
        http_server_destroy(&s);
    else {
        assert_null(strstr(err, "loopback"));
        free(err);
    }
}

/* A client that sends half a request and hangs up, and one that sends
 * garbage: the server frees what it allocated (ASan builds check) and
 * keeps serving. */
static void test_torn_requests(void **state)
{
    http_server_t *s = http_server_new("127.0.0.1:0", NULL);
    assert_non_null(s);
    int port = http_server_port(s);
    s_echo_t e = { 200, 0 };
    assert_int_equal(http_server_route(s, "POST", "/in", s_echo, &e), 0);
    const char *const sends[] = {
        "POST /in?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        "POST /in?q=1 HTTP/1.1\r\nHost: x\r\n",
        "GET /metrics?x HTTP/1.1\r\n",
        "\x01\x02 garbage\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(send(fd, sends[i], strlen(sends[i]), MSG_NOSIGNAL), (ssize_t) strlen(sends[i]));
        usleep(20000);
        close(fd);
    }
    s_resp_t r;
    s_fetch(port, "POST", "/in", "ok", &r);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    assert_int_equal(e.calls, 1);
    http_server_destroy(&s);
}

/* Metrics replaced from one thread while another fetches: every answer is
 * one whole version, never a mix. */
typedef struct {
    http_server_t *s;
    _Atomic int stop;
} s_setter_t;

static void *s_setter(void *arg)
{
    s_setter_t *st = arg;
    char text[4096];
    for (unsigned v = 0; !st->stop; v++) {
        size_t n = 0;
        for (int line = 0; line < 100; line++)
            n += (size_t) snprintf(text + n, sizeof text - n, "m{l=\"%d\"} %u\n", line, v);
        http_server_set_metrics(st->s, text, n);
    }
    return NULL;
}

static void test_concurrent_set(void **state)
{
    s_setter_t st = { http_server_new("127.0.0.1:0", NULL), 0 };
    assert_non_null(st.s);
    http_server_set_metrics(st.s, "m{l=\"0\"} 0\n", 11);
    int port = http_server_port(st.s);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_setter, &st), 0);
    for (int i = 0; i < 100; i++) {
        s_resp_t r;
        s_fetch(port, "GET", "/metrics", NULL, &r);
        assert_int_equal(r.status, 200);
        /* All lines carry the same version. */
        const char *first = strchr(r.body, ' ');
        assert_non_null(first);
        unsigned v = (unsigned) strtoul(first + 1, NULL, 10);
        for (const char *p = r.body; (p = strchr(p, ' ')) != NULL; p++)
            assert_int_equal(strtoul(p + 1, NULL, 10), v);
        s_resp_free(&r);
    }
    st.stop = 1;
    pthread_join(t, NULL);
    http_server_destroy(&st.s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_non_loopback),
        cmocka_unit_test(test_metrics_and_health),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_localhost_ipv6_and_port_in_use),
        cmocka_unit_test(test_torn_requests),
        cmocka_unit_test(test_concurrent_set),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
