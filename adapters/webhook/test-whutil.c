/* test-whutil.c — unit tests of the webhook plugin's helpers (whutil.c):
 * bearer token and HMAC checks, event parsing, settings parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "whutil.h"

static void test_bearer(void **state)
{
    assert_true(wh_bearer_ok("Bearer s3cret", "s3cret"));
    assert_true(wh_bearer_ok("bearer   s3cret", "s3cret"));
    assert_false(wh_bearer_ok("Bearer s3cre", "s3cret"));
    assert_false(wh_bearer_ok("Bearer s3cret2", "s3cret"));
    assert_false(wh_bearer_ok("Basic s3cret", "s3cret"));
    assert_false(wh_bearer_ok("Bearers3cret", "s3cret"));
    assert_false(wh_bearer_ok("s3cret", "s3cret"));
    assert_false(wh_bearer_ok(NULL, "s3cret"));
    assert_false(wh_bearer_ok("Bearer ", ""));
}

static void test_hmac(void **state)
{
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    const char *body = "what do ya want for nothing?";
    const char *want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    char hex[65], sig[80];
    wh_hmac_hex("Jefe", body, strlen(body), hex);
    assert_string_equal(hex, want);
    snprintf(sig, sizeof sig, "sha256=%s", want);
    assert_true(wh_hmac_ok(sig, "sha256=", "Jefe", body, strlen(body)));
    /* upper-case hex and prefix */
    char up[80];
    snprintf(up, sizeof up, "SHA256=%s", want);
    for (char *p = up + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_true(wh_hmac_ok(up, "sha256=", "Jefe", body, strlen(body)));
    assert_false(wh_hmac_ok(sig, "sha256=", "jefe", body, strlen(body)));
    assert_false(wh_hmac_ok(sig, "sha256=", "Jefe", body, strlen(body) - 1));
    assert_false(wh_hmac_ok(want, "sha256=", "Jefe", body, strlen(body)));      /* no prefix */
    assert_true(wh_hmac_ok(want, "", "Jefe", body, strlen(body)));
    sig[strlen(sig) - 1] = 'g';                                                 /* not hex */
    assert_false(wh_hmac_ok(sig, "sha256=", "Jefe", body, strlen(body)));
    sig[strlen(sig) - 1] = '\0';                                                /* short */
    assert_false(wh_hmac_ok(sig, "sha256=", "Jefe", body, strlen(body)));
    assert_false(wh_hmac_ok(NULL, "sha256=", "Jefe", body, strlen(body)));
    assert_false(wh_hmac_ok("", "sha256=", "Jefe", body, strlen(body)));
}

static void test_json_path(void **state)
{
    json_t *o = json_loads("{\"a\":{\"b\":[10,{\"c\":\"x\"}]},\"n\":42,\"f\":1.5}", 0, NULL);
    char t[32];
    assert_int_equal(wh_json_text(o, "a.b.1.c", t, sizeof t), 0);
    assert_string_equal(t, "x");
    assert_int_equal(wh_json_text(o, "a.b.0", t, sizeof t), 0);
    assert_string_equal(t, "10");
    assert_int_equal(wh_json_text(o, "n", t, sizeof t), 0);
    assert_string_equal(t, "42");
    assert_int_equal(wh_json_text(o, "f", t, sizeof t), -1);
    assert_int_equal(wh_json_text(o, "a", t, sizeof t), -1);
    assert_int_equal(wh_json_text(o, "a.b.2", t, sizeof t), -1);
    assert_int_equal(wh_json_text(o, "a.x", t, sizeof t), -1);
    assert_int_equal(wh_json_text(o, "a.b.1.c", t, 1), -1);        /* too long */
    assert_null(wh_json_path(o, "n.x"));
    json_decref(o);
}

static void test_event_parse(void **state)
{
    wh_event_t ev;
    char why[256];
    const char *ok = "{\"event_id\":\"3b26f910-6a6f\",\"event_type\":\"birth.registered\","
                     "\"data\":{\"x\":\"Nguy\xe1\xbb\x85n\"}}";
    assert_int_equal(wh_event_parse(ok, strlen(ok), "event_id", NULL, "event_type", NULL, &ev,
                                    why, sizeof why), 0);
    assert_string_equal(ev.id, "3b26f910-6a6f");
    assert_string_equal(ev.type, "birth.registered");

    /* the body's id wins over the header; the header is used without one */
    assert_int_equal(wh_event_parse(ok, strlen(ok), "event_id", "hdr-id", "nope", "t.h", &ev,
                                    why, sizeof why), 0);
    assert_string_equal(ev.id, "3b26f910-6a6f");
    assert_string_equal(ev.type, "t.h");
    const char *noid = "{\"k\":1}";
    assert_int_equal(wh_event_parse(noid, strlen(noid), "event_id", "hdr-id", "event_type",
                                    NULL, &ev, why, sizeof why), 0);
    assert_string_equal(ev.id, "hdr-id");
    assert_string_equal(ev.type, "");
    assert_int_equal(wh_event_parse(noid, strlen(noid), "event_id", NULL, "event_type", NULL,
                                    &ev, why, sizeof why), -1);
    assert_non_null(strstr(why, "no event id"));
    const char *numid = "{\"event_id\":12345}";
    assert_int_equal(wh_event_parse(numid, strlen(numid), "event_id", NULL, NULL, NULL, &ev, why,
                                    sizeof why), 0);
    assert_string_equal(ev.id, "12345");

    /* refusals, each with a reason */
    const char *bad[] = {
        "{\"event_id\":\"a\"",                       /* truncated */
        "not json",
        "[1,2]",                                     /* not an object */
        "{\"event_id\":\"has space\"}",
        "{\"event_id\":\"\"}",
        "{\"event_id\":[1]}",
        "{\"event_id\":\"x\",\"s\":\"\xc3\x28\"}",   /* invalid UTF-8 */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        assert_int_equal(wh_event_parse(bad[i], strlen(bad[i]), "event_id", NULL, NULL, NULL,
                                        &ev, why, sizeof why), -1);
        assert_true(strlen(why) > 5);
    }
    /* bytes after the object (here a NUL and more) are not one JSON text */
    assert_int_equal(wh_event_parse("{\"event_id\":\"a\"}\0x", 18, "event_id", NULL, NULL, NULL,
                                    &ev, why, sizeof why), -1);
    char longid[200];
    memset(longid, 'a', sizeof longid);
    longid[sizeof longid - 1] = '\0';
    char body[300];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\"}", longid);
    assert_int_equal(wh_event_parse(body, strlen(body), "event_id", NULL, NULL, NULL, &ev, why,
                                    sizeof why), -1);
    longid[128] = '\0';
    snprintf(body, sizeof body, "{\"event_id\":\"%s\"}", longid);
    assert_int_equal(wh_event_parse(body, strlen(body), "event_id", NULL, NULL, NULL, &ev, why,
                                    sizeof why), 0);
    assert_int_equal(strlen(ev.id), 128);
}

static void test_parsers(void **state)
{
    uint64_t u;
    bool b;
    assert_int_equal(wh_parse_size("1048576", &u), 0);
    assert_int_equal(u, 1048576);
    assert_int_equal(wh_parse_size("1MiB", &u), 0);
    assert_int_equal(u, 1048576);
    assert_int_equal(wh_parse_size("64k", &u), 0);
    assert_int_equal(u, 65536);
    assert_int_equal(wh_parse_size("2 MB", &u), 0);
    assert_int_equal(u, 2 << 20);
    assert_int_equal(wh_parse_size("1x", &u), -1);
    assert_int_equal(wh_parse_size("", &u), -1);
    assert_int_equal(wh_parse_size("-1", &u), -1);
    assert_int_equal(wh_parse_ms("500ms", &u), 0);
    assert_int_equal(u, 500);
    assert_int_equal(wh_parse_ms("30s", &u), 0);
    assert_int_equal(u, 30000);
    assert_int_equal(wh_parse_ms("5", &u), 0);
    assert_int_equal(u, 5000);
    assert_int_equal(wh_parse_ms("2m", &u), 0);
    assert_int_equal(u, 120000);
    assert_int_equal(wh_parse_ms("1d", &u), -1);
    assert_int_equal(wh_parse_uint("10", 1, 10, &u), 0);
    assert_int_equal(wh_parse_uint("11", 1, 10, &u), -1);
    assert_int_equal(wh_parse_uint("0", 1, 10, &u), -1);
    assert_int_equal(wh_parse_uint("5x", 1, 10, &u), -1);
    assert_int_equal(wh_parse_bool("yes", &b), 0);
    assert_true(b);
    assert_int_equal(wh_parse_bool("False", &b), 0);
    assert_false(b);
    assert_int_equal(wh_parse_bool("maybe", &b), -1);
}

static void test_listen(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bool lo;
    char err[200];
    assert_int_equal(wh_parse_listen("127.0.0.1:8088", &ss, &len, &lo, err, sizeof err), 0);
    assert_true(lo);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8088);
    assert_int_equal(wh_parse_listen("8088", &ss, &len, &lo, err, sizeof err), 0);
    assert_true(lo);
    assert_int_equal(wh_parse_listen(":0", &ss, &len, &lo, err, sizeof err), 0);
    assert_true(lo);
    assert_int_equal(wh_parse_listen("127.1.2.3:1", &ss, &len, &lo, err, sizeof err), 0);
    assert_true(lo);
    assert_int_equal(wh_parse_listen("0.0.0.0:8088", &ss, &len, &lo, err, sizeof err), 0);
    assert_false(lo);
    assert_int_equal(wh_parse_listen("10.1.2.3:8088", &ss, &len, &lo, err, sizeof err), 0);
    assert_false(lo);
    assert_int_equal(wh_parse_listen("[::1]:8088", &ss, &len, &lo, err, sizeof err), 0);
    assert_true(lo);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(wh_parse_listen("[::]:8088", &ss, &len, &lo, err, sizeof err), 0);
    assert_false(lo);
    assert_int_equal(wh_parse_listen("localhost:8088", &ss, &len, &lo, err, sizeof err), -1);
    assert_int_equal(wh_parse_listen("127.0.0.1:70000", &ss, &len, &lo, err, sizeof err), -1);
    assert_int_equal(wh_parse_listen("127.0.0.1:", &ss, &len, &lo, err, sizeof err), -1);
    assert_int_equal(wh_parse_listen("[::1]8088", &ss, &len, &lo, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),     cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_json_path),  cmocka_unit_test(test_event_parse),
        cmocka_unit_test(test_parsers),    cmocka_unit_test(test_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
