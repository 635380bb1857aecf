/* test-httpfetch.c — unit tests of httpfetch against a scripted HTTP server
 * (libmicrohttpd on 127.0.0.1, free port): retries on 5xx / 429 / dropped
 * and cut answers, Retry-After, no retry on 4xx, the body cap, POST with
 * headers, keep-alive, the rate limit, a classifier, stopping, URL params.
 * No timing assertions: the test host adds up what wait() was asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <cmocka.h>
#include <microhttpd.h>

#include "httpfetch.h"
#include "testhost.h"

/* What the server does for one request. */
typedef enum { ACT_OK, ACT_STATUS, ACT_DROP, ACT_CUT, ACT_BIG, ACT_ECHO } act_kind_t;
typedef struct {
    act_kind_t  kind;
    int         status;
    const char *retry_after;
    const char *body;
} act_t;

static struct {
    struct MHD_Daemon *d;
    int                port;
    pthread_mutex_t    mu;
    act_t              script[16];
    size_t             n, next;
    unsigned           requests;
    int                ports[32];         /* client port of each request (keep-alive) */
    char               last_header[256];  /* X-Test of the last request */
    char               upload[4096];
    size_t             upload_len;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void s_script(size_t n, const act_t *acts)
{
    pthread_mutex_lock(&S.mu);
    if (n)
        memcpy(S.script, acts, n * sizeof *acts);
    S.n = n;
    S.next = 0;
    S.requests = 0;
    pthread_mutex_unlock(&S.mu);
}

static ssize_t s_cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos >= 10)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = max < 10 - pos ? max : (size_t)(10 - pos);
    memset(buf, 'x', n);
    return (ssize_t)n;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    if (!*con_cls) {
        *con_cls = (void *)1;
        pthread_mutex_lock(&S.mu);
        S.upload_len = 0;
        S.upload[0] = '\0';
        pthread_mutex_unlock(&S.mu);
        return MHD_YES;
    }
    if (*upload_size) {
        pthread_mutex_lock(&S.mu);
        size_t n = *upload_size;
        if (n > sizeof S.upload - 1 - S.upload_len)
            n = sizeof S.upload - 1 - S.upload_len;
        memcpy(S.upload + S.upload_len, upload, n);
        S.upload_len += n;
        S.upload[S.upload_len] = '\0';
        pthread_mutex_unlock(&S.mu);
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&S.mu);
    act_t act = S.next < S.n ? S.script[S.next++] : (act_t){ACT_OK, 200, NULL, "ok"};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (S.requests < 32)
        S.ports[S.requests] = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
    S.requests++;
    const char *xt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
    snprintf(S.last_header, sizeof S.last_header, "%s", xt ? xt : "");
    char echo[4200];
    snprintf(echo, sizeof echo, "%s %s %s", method, url, S.upload);
    pthread_mutex_unlock(&S.mu);

    struct MHD_Response *r;
    switch (act.kind) {
    case ACT_DROP:
        return MHD_NO;                       /* closes the connection: curl 52 */
    case ACT_CUT:
        r = MHD_create_response_from_callback(1000, 1024, s_cut_reader, NULL, NULL);
        break;
    case ACT_BIG: {
        static char big[200000];
        memset(big, 'b', sizeof big);
        r = MHD_create_response_from_buffer(sizeof big, big, MHD_RESPMEM_PERSISTENT);
        break;
    }
    case ACT_ECHO:
        r = MHD_create_response_from_buffer(strlen(echo), echo, MHD_RESPMEM_MUST_COPY);
        break;
    default: {
        const char *body = act.body ? act.body : "ok";
        r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        break;
    }
    }
    if (act.retry_after)
        MHD_add_response_header(r, "Retry-After", act.retry_after);
    enum MHD_Result ret = MHD_queue_response(c, act.status ? (unsigned)act.status : 200, r);
    MHD_destroy_response(r);
    return ret;
}

static int s_setup(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, s_handler, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!S.d)
        return -1;
    S.port = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int s_teardown(void **state)
{
    MHD_stop_daemon(S.d);
    return 0;
}

static char *s_url(const char *path)
{
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", S.port, path);
    return url;
}

static httpfetch_t *s_fetch(lgsp_adapter_t *a, unsigned retries)
{
    httpfetch_opts_t o;
    httpfetch_opts_default(&o);
    o.retries = retries;
    o.backoff_ms = 100;
    o.backoff_max_ms = 400;
    o.timeout_ms = 5000;
    o.max_body = 100000;
    return httpfetch_new(&th_host, a, &o);
}

static void test_retry_then_ok(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_STATUS, 503, NULL, "busy"}, {ACT_STATUS, 502, NULL, "gw"},
                    {ACT_STATUS, 429, NULL, "slow down"}, {ACT_OK, 200, NULL, "{\"a\":1}"}};
    s_script(4, acts);
    httpfetch_t *f = s_fetch(&a, 3);
    assert_int_equal(httpfetch_get(f, s_url("/p"), NULL), HTTPFETCH_OK);
    size_t len;
    assert_string_equal(httpfetch_body(f, &len), "{\"a\":1}");
    assert_int_equal(len, 7);
    assert_int_equal(httpfetch_status(f), 200);
    assert_int_equal(httpfetch_attempts(f), 4);
    assert_int_equal(httpfetch_retries(f), 3);
    assert_int_equal(th_counter(&a, "http_retries"), 3);
    assert_int_equal(th_counter(&a, "http_requests"), 4);
    /* backoffs 100, 200, 400 with equal jitter: at least half of each */
    assert_int_equal(a.waits, 3);
    assert_true(a.waited_ms >= 350 && a.waited_ms <= 700);
    assert_int_equal(a.warnings, 3);
    httpfetch_destroy(&f);
    assert_null(f);
    th_free(&a);
}

static void test_retry_after(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_STATUS, 503, "2", "busy"}, {ACT_OK, 200, NULL, "ok"}};
    s_script(2, acts);
    httpfetch_t *f = s_fetch(&a, 3);
    assert_int_equal(httpfetch_get(f, s_url("/p"), NULL), HTTPFETCH_OK);
    assert_int_equal(a.waited_ms, 2000);     /* Retry-After beats the 100 ms backoff */
    assert_non_null(strstr(a.log, "Retry-After"));
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_give_up(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_STATUS, 500, NULL, "{\"error\":\"x\"}"}, {ACT_STATUS, 500, NULL, "e"},
                    {ACT_STATUS, 503, NULL, "{\"error\":\"down\"}"}};
    s_script(3, acts);
    httpfetch_t *f = s_fetch(&a, 2);
    assert_int_equal(httpfetch_get(f, s_url("/q?x=1"), NULL), HTTPFETCH_FAILED);
    char want[200];
    snprintf(want, sizeof want, "GET %s: HTTP 503 after 3 attempts", s_url("/q?x=1"));
    assert_non_null(strstr(httpfetch_error(f), want));
    assert_non_null(strstr(httpfetch_error(f), "down"));   /* the answer's own words */
    assert_int_equal(httpfetch_status(f), 503);
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_no_retry_4xx(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_STATUS, 404, NULL, "nope"}};
    s_script(1, acts);
    httpfetch_t *f = s_fetch(&a, 3);
    assert_int_equal(httpfetch_get(f, s_url("/missing"), NULL), HTTPFETCH_FAILED);
    assert_int_equal(httpfetch_attempts(f), 1);
    assert_non_null(strstr(httpfetch_error(f), "HTTP 404"));
    assert_null(strstr(httpfetch_error(f), "attempts"));
    assert_int_equal(a.waits, 0);
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_drop_and_cut(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_DROP, 0, NULL, NULL}, {ACT_CUT, 200, NULL, NULL}, {ACT_OK, 200, NULL, "whole"}};
    s_script(3, acts);
    httpfetch_t *f = s_fetch(&a, 3);
    assert_int_equal(httpfetch_get(f, s_url("/p"), NULL), HTTPFETCH_OK);
    assert_string_equal(httpfetch_body(f, NULL), "whole");
    assert_int_equal(httpfetch_attempts(f), 3);
    assert_non_null(strstr(a.log, "curl 52"));
    assert_non_null(strstr(a.log, "curl 18"));
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_body_cap(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_BIG, 200, NULL, NULL}};
    s_script(1, acts);
    httpfetch_t *f = s_fetch(&a, 3);
    assert_int_equal(httpfetch_get(f, s_url("/big"), NULL), HTTPFETCH_FAILED);
    assert_non_null(strstr(httpfetch_error(f), "larger than 100000 bytes"));
    assert_int_equal(httpfetch_attempts(f), 1);
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_post_headers_keepalive(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_ECHO, 200, NULL, NULL}, {ACT_ECHO, 200, NULL, NULL},
                    {ACT_ECHO, 200, NULL, NULL}};
    s_script(3, acts);
    httpfetch_t *f = s_fetch(&a, 0);
    const char *const h[] = {"X-Test: v1", "Content-Type: text/xml", NULL};
    assert_int_equal(httpfetch_post(f, s_url("/soap"), h, "<a/>", 4), HTTPFETCH_OK);
    assert_string_equal(httpfetch_body(f, NULL), "POST /soap <a/>");
    assert_string_equal(S.last_header, "v1");
    assert_int_equal(httpfetch_get(f, s_url("/g"), NULL), HTTPFETCH_OK);
    assert_string_equal(httpfetch_body(f, NULL), "GET /g ");
    assert_string_equal(S.last_header, "");   /* headers are per request */
    assert_int_equal(httpfetch_post(f, s_url("/soap"), NULL, "<b/>", 4), HTTPFETCH_OK);
    /* one connection for the three requests */
    assert_int_equal(S.ports[0], S.ports[1]);
    assert_int_equal(S.ports[1], S.ports[2]);
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_rate_limit(void **state)
{
    lgsp_adapter_t a = {.real_sleep = true};
    s_script(0, NULL);
    httpfetch_opts_t o;
    httpfetch_opts_default(&o);
    o.rate = 20;
    o.burst = 1;
    httpfetch_t *f = httpfetch_new(&th_host, &a, &o);
    for (int i = 0; i < 6; i++)
        assert_int_equal(httpfetch_get(f, s_url("/r"), NULL), HTTPFETCH_OK);
    /* 6 requests at 20/s with a bucket of 1: the last five had to wait */
    assert_true(a.waits >= 5);
    assert_true(a.waited_ms >= 5 * 40);
    httpfetch_destroy(&f);
    th_free(&a);
}

static httpfetch_verdict_t s_classify(void *arg, long status, const char *body, size_t len)
{
    if (status == 500 && strstr(body, "Client"))
        return HTTPFETCH_FAIL;
    return HTTPFETCH_DEFAULT;
}

static void test_classify(void **state)
{
    lgsp_adapter_t a = {0};
    act_t acts[] = {{ACT_STATUS, 500, NULL, "<Fault>Server</Fault>"},
                    {ACT_STATUS, 500, NULL, "<Fault>Client</Fault>"}};
    s_script(2, acts);
    httpfetch_opts_t o;
    httpfetch_opts_default(&o);
    o.backoff_ms = 10;
    o.classify = s_classify;
    httpfetch_t *f = httpfetch_new(&th_host, &a, &o);
    assert_int_equal(httpfetch_post(f, s_url("/ws"), NULL, "x", 1), HTTPFETCH_FAILED);
    assert_int_equal(httpfetch_attempts(f), 2);            /* Server retried, Client not */
    assert_string_equal(httpfetch_body(f, NULL), "<Fault>Client</Fault>");
    assert_int_equal(httpfetch_status(f), 500);
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_stopping(void **state)
{
    lgsp_adapter_t a = {.stop_after_waits = 1};
    act_t acts[] = {{ACT_STATUS, 503, NULL, "busy"}, {ACT_STATUS, 503, NULL, "busy"}};
    s_script(2, acts);
    httpfetch_t *f = s_fetch(&a, 5);
    assert_int_equal(httpfetch_get(f, s_url("/p"), NULL), HTTPFETCH_STOPPING);
    assert_int_equal(httpfetch_attempts(f), 1);
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_refused(void **state)
{
    lgsp_adapter_t a = {0};
    httpfetch_t *f = s_fetch(&a, 1);
    /* port 1 on loopback: nothing listens there */
    assert_int_equal(httpfetch_get(f, "http://127.0.0.1:1/x", NULL), HTTPFETCH_FAILED);
    assert_int_equal(httpfetch_attempts(f), 2);
    assert_non_null(strstr(httpfetch_error(f), "curl 7"));
    assert_non_null(strstr(httpfetch_error(f), "after 2 attempts"));
    httpfetch_destroy(&f);
    th_free(&a);
}

static void test_url_add(void **state)
{
    char *u = httpfetch_url_add("http://h/api", "since", "2024-03-01T10:22:33+07:00");
    assert_string_equal(u, "http://h/api?since=2024-03-01T10%3A22%3A33%2B07%3A00");
    char *v = httpfetch_url_add(u, "page", "2");
    assert_string_equal(v + strlen(u), "&page=2");
    free(u);
    free(v);
    u = httpfetch_url_add("http://h/api?", "q", "a b");
    assert_string_equal(u, "http://h/api?q=a%20b");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_ok),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_no_retry_4xx),
        cmocka_unit_test(test_drop_and_cut),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_post_headers_keepalive),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_stopping),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_url_add),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
