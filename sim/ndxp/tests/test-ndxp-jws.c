/* test-ndxp-jws.c — unit tests of the NDXP simulator's message checks
 * (sim/ndxp/jws.c): base64url, agency ids, RFC 3339 times, the keyring, and
 * jws_check on messages signed here with OpenSSL — a good one and one per
 * rejection, each with its code and the field its reason names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "jws.h"

#define SENDER   "999.99.99.T01"
#define RECEIVER "999.99.99.T00"

typedef struct {
    EVP_PKEY      *key, *other;
    jws_keyring_t *kr;
    char           kid[65], other_kid[65];
} fix_t;

static int s_setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    f->other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(f->key);
    assert_non_null(f->other);
    f->kr = jws_keyring_new();
    /* the keyring takes a public-only copy */
    unsigned char raw[32];
    size_t n = sizeof raw;
    assert_true(EVP_PKEY_get_raw_public_key(f->key, raw, &n));
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n);
    char err[256];
    assert_int_equal(jws_keyring_add(f->kr, pub, SENDER, f->kid, err, sizeof err), 0);
    assert_int_equal(jws_kid(f->other, f->other_kid), 0);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fix_t *f = *state;
    jws_keyring_destroy(&f->kr);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->other);
    free(f);
    return 0;
}

static char *s_b64(const char *s)
{
    return b64url_encode((const unsigned char *)s, strlen(s));
}

/* A flattened JWS of header (JSON text) and payload, signed with key. */
static json_t *s_jws(EVP_PKEY *key, const char *header, const char *payload)
{
    char *p = s_b64(header), *l = s_b64(payload);
    size_t n = strlen(p) + strlen(l) + 2;
    char *tbs = malloc(n);
    snprintf(tbs, n, "%s.%s", p, l);
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)tbs, strlen(tbs)), 1);
    EVP_MD_CTX_free(ctx);
    char *s = b64url_encode(sig, siglen);
    json_t *m = json_pack("{ss ss ss}", "protected", p, "payload", l, "signature", s);
    free(p);
    free(l);
    free(s);
    free(tbs);
    return m;
}

/* The header with one member replaced (value is JSON text) or removed
 * (value NULL); kid defaults to the fixture's key. */
static char *s_header(const fix_t *f, const char *member, const char *value)
{
    json_t *h = json_pack("{ss ss ss ss ss ss ss ss ss}", "alg", "EdDSA", "kid", f->kid,
                          "typ", "ndxp+jws", "message_id", "m-1", "sender", SENDER,
                          "receiver", RECEIVER, "timestamp", "2026-11-23T10:00:00.123Z",
                          "message_type", "canonical.person", "content_type", "application/json");
    if (member) {
        if (value)
            json_object_set_new(h, member, json_loads(value, JSON_DECODE_ANY, NULL));
        else
            json_object_del(h, member);
    }
    char *s = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    return s;
}

/* Checks m and expects code and a reason starting with "field:". */
static void s_expect(fix_t *f, json_t *m, int code, const char *field)
{
    jws_msg_t out;
    int rc = jws_check(f->kr, RECEIVER, m, &out);
    if (rc != code || (field && strncmp(out.reason, field, strlen(field)) != 0)
        || (field && out.reason[strlen(field)] != ':'))
        fail_msg("want %d %s:, got %d '%s'", code, field ? field : "", rc, out.reason);
    jws_msg_clear(&out);
    json_decref(m);
}

static void s_expect_header(fix_t *f, const char *member, const char *value, int code,
                            const char *field)
{
    char *h = s_header(f, member, value);
    s_expect(f, s_jws(f->key, h, "{\"a\":1}"), code, field);
    free(h);
}

static void test_b64url(void **state)
{
    (void)state;
    const char *cases[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd" };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = s_b64(cases[i]);
        assert_null(strchr(e, '='));
        unsigned char *d;
        size_t n;
        assert_int_equal(b64url_decode(e, strlen(e), &d, &n), 0);
        assert_int_equal(n, strlen(cases[i]));
        assert_memory_equal(d, cases[i], n);
        free(d);
        free(e);
    }
    char *e = b64url_encode((const unsigned char *)"\xfb\xff", 2);
    assert_string_equal(e, "-_8");                       /* the URL-safe alphabet */
    free(e);
    unsigned char *d;
    size_t n;
    assert_int_equal(b64url_decode("Zg==", 4, &d, &n), -1);  /* padding */
    assert_int_equal(b64url_decode("+/8", 3, &d, &n), -1);   /* standard alphabet */
    assert_int_equal(b64url_decode("Zm9v Zg", 7, &d, &n), -1);
    assert_int_equal(b64url_decode("Zm9vY", 5, &d, &n), -1); /* length 4k+1 */
}

static void test_agency_id(void **state)
{
    (void)state;
    assert_true(jws_agency_id_ok("000.00.00.H00"));
    assert_true(jws_agency_id_ok("999.99.99.T01"));
    assert_false(jws_agency_id_ok("000.00.00.h00"));
    assert_false(jws_agency_id_ok("000.00.00.H0"));
    assert_false(jws_agency_id_ok("000.00.00.H000"));
    assert_false(jws_agency_id_ok("00.000.00.H00"));
    assert_false(jws_agency_id_ok("000-00-00-H00"));
    assert_false(jws_agency_id_ok(""));
    assert_false(jws_agency_id_ok(NULL));
}

static void test_time(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(jws_parse_time("1970-01-01T00:00:00.000Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(jws_parse_time("2026-11-23T10:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1795428000123LL);
    assert_int_equal(jws_parse_time("2026-11-23T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795428000000LL);
    assert_int_equal(jws_parse_time("2026-11-23T10:00:00.5Z", &ms), 0);
    assert_int_equal(ms, 1795428000500LL);
    assert_int_equal(jws_parse_time("2024-02-29T00:00:00.000Z", &ms), 0);
    const char *bad[] = { "2026-11-23T10:00:00.123", "2026-11-23T10:00:00.123+07:00",
                          "2026-11-23 10:00:00.123Z", "2026-02-29T00:00:00Z",
                          "2026-11-23T24:00:00Z", "2026-11-23T10:00:00.Z",
                          "2026-11-23T10:00:00.1234567890Z", "26-11-23T10:00:00Z", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (jws_parse_time(bad[i], &ms) == 0)
            fail_msg("accepted '%s'", bad[i]);
    char buf[40];
    jws_format_time(1795428000123LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-23T10:00:00.123Z");
}

static void test_keyring(void **state)
{
    fix_t *f = *state;
    char err[256];
    assert_int_equal(jws_keyring_size(f->kr), 1);
    /* the same key twice, a bad sender, not Ed25519 */
    unsigned char raw[32];
    size_t n = sizeof raw;
    assert_true(EVP_PKEY_get_raw_public_key(f->key, raw, &n));
    assert_int_equal(jws_keyring_add(f->kr, EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n),
                                     SENDER, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(jws_keyring_add(f->kr, EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n),
                                     "999.99.99.t01", NULL, err, sizeof err), -1);
    assert_int_equal(jws_keyring_add(f->kr, EVP_EC_gen("P-256"), SENDER, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "Ed25519"));
    assert_int_equal(jws_keyring_size(f->kr), 1);
    /* kid = sha256 of the raw key in lowercase hex */
    assert_int_equal(strlen(f->kid), 64);
    assert_int_equal(strspn(f->kid, "0123456789abcdef"), 64);
}

static void test_good(void **state)
{
    fix_t *f = *state;
    char *h = s_header(f, NULL, NULL);
    json_t *m = s_jws(f->key, h, "{\"person_id\":\"p-1\"}");
    free(h);
    jws_msg_t out;
    assert_int_equal(jws_check(f->kr, RECEIVER, m, &out), 0);
    assert_string_equal(out.message_id, "m-1");
    assert_string_equal(out.sender, SENDER);
    assert_string_equal(out.message_type, "canonical.person");
    assert_int_equal(out.payload_len, strlen("{\"person_id\":\"p-1\"}"));
    assert_non_null(out.payload_json);
    assert_int_equal(strlen(out.sha256), 64);
    assert_int_equal(out.ts_ms, 1795428000123LL);
    /* skew: 300 s either way is fine, 301 is not */
    assert_int_equal(jws_check_skew(&out, 1795428000123LL + 300000, 300), 0);
    assert_int_equal(jws_check_skew(&out, 1795428000123LL - 300000, 300), 0);
    assert_int_equal(jws_check_skew(&out, 1795428000123LL + 301000, 300), 422);
    assert_true(!strncmp(out.reason, "timestamp:", 10));
    jws_msg_clear(&out);
    json_decref(m);
    /* a payload that is not JSON under another content type */
    h = s_header(f, "content_type", "\"text/plain\"");
    m = s_jws(f->key, h, "not json");
    free(h);
    assert_int_equal(jws_check(f->kr, RECEIVER, m, &out), 0);
    assert_null(out.payload_json);
    jws_msg_clear(&out);
    json_decref(m);
}

static void test_shape(void **state)
{
    fix_t *f = *state;
    char *h = s_header(f, NULL, NULL);
    json_t *good = s_jws(f->key, h, "{}");
    free(h);
    s_expect(f, json_string("x"), 400, "message");
    json_t *m = json_deep_copy(good);
    json_object_del(m, "protected");
    s_expect(f, m, 400, "protected");
    m = json_deep_copy(good);
    json_object_set_new(m, "payload", json_integer(1));
    s_expect(f, m, 400, "payload");
    m = json_deep_copy(good);
    json_object_set_new(m, "signature", json_string("a=="));
    s_expect(f, m, 400, "signature");
    m = json_deep_copy(good);
    char *p = s_b64("[1]");
    json_object_set_new(m, "protected", json_string(p));
    free(p);
    s_expect(f, m, 400, "header");
    /* a member given twice (which one would count?) */
    char *h2 = s_header(f, NULL, NULL);
    size_t n = strlen(h2);
    h2[n - 1] = 0;                      /* drop the closing brace */
    char dup[1024];
    snprintf(dup, sizeof dup, "%s,\"alg\":\"none\"}", h2);
    free(h2);
    s_expect(f, s_jws(f->key, dup, "{}"), 400, "header");
    json_decref(good);
}

static void test_header(void **state)
{
    fix_t *f = *state;
    s_expect_header(f, "crit", "[\"exp\"]", 400, "header");
    s_expect_header(f, "alg", "\"none\"", 400, "alg");
    s_expect_header(f, "alg", NULL, 400, "alg");
    s_expect_header(f, "typ", "\"JWT\"", 400, "typ");
    s_expect_header(f, "kid", "\"abc\"", 400, "kid");
    s_expect_header(f, "message_id", "\"\"", 400, "message_id");
    s_expect_header(f, "message_id", "\"a\\u0001b\"", 400, "message_id");
    s_expect_header(f, "message_id", "42", 400, "message_id");
    char long_id[140];
    memset(long_id, 'x', sizeof long_id);
    long_id[0] = '"';
    long_id[130] = '"';
    long_id[131] = 0;                   /* 129 characters */
    s_expect_header(f, "message_id", long_id, 400, "message_id");
    long_id[129] = '"';
    long_id[130] = 0;                   /* 128: fine */
    s_expect_header(f, "message_id", long_id, 0, NULL);
    s_expect_header(f, "sender", "\"999.99.99.T1\"", 400, "sender");
    s_expect_header(f, "sender", "\"999.99.99.T01.999.99.99.T01\"", 400, "sender");
    s_expect_header(f, "receiver", NULL, 400, "receiver");
    s_expect_header(f, "timestamp", "\"yesterday\"", 400, "timestamp");
    s_expect_header(f, "message_type", "\"\"", 400, "message_type");
    s_expect_header(f, "content_type", NULL, 400, "content_type");
}

static void test_key_and_parties(void **state)
{
    fix_t *f = *state;
    char kid[80];
    snprintf(kid, sizeof kid, "\"%s\"", f->other_kid);
    char *h = s_header(f, "kid", kid);
    s_expect(f, s_jws(f->other, h, "{}"), 401, "kid");
    free(h);
    h = s_header(f, NULL, NULL);
    s_expect(f, s_jws(f->other, h, "{}"), 401, "signature");
    json_t *m = s_jws(f->key, h, "{}");
    char *p = s_b64("{\"x\":1}");
    json_object_set_new(m, "payload", json_string(p));   /* the payload changed after signing */
    free(p);
    s_expect(f, m, 401, "signature");
    free(h);
    s_expect_header(f, "sender", "\"999.99.99.T02\"", 403, "sender");
    s_expect_header(f, "receiver", "\"999.99.99.T09\"", 403, "receiver");
    h = s_header(f, NULL, NULL);
    s_expect(f, s_jws(f->key, h, "{\"a\":"), 422, "payload");
    free(h);
    h = s_header(f, "content_type", "\"application/ld+json; charset=utf-8\"");
    s_expect(f, s_jws(f->key, h, "<x/>"), 422, "payload");
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_agency_id),
        cmocka_unit_test(test_time),
        cmocka_unit_test_setup_teardown(test_keyring, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_good, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_shape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_header, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_key_and_parties, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
