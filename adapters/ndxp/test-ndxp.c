/* test-ndxp.c — the NDXP connector's envelope (a JWS whose signature checks
 * with the public key, its header, base64url, timestamps) and its backoff
 * and circuit breaker. The connector against the simulator is tested in
 * tests/adapters/ndxp/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "breaker.h"
#include "jws.h"

/* base64url back to bytes (the test's own: add padding, map the alphabet). */
static unsigned char *s_unb64url(const char *s, size_t *out_len)
{
    size_t n = strlen(s), pad = (4 - n % 4) % 4;
    char *t = malloc(n + pad + 1);
    for (size_t i = 0; i < n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    memset(t + n, '=', pad);
    t[n + pad] = 0;
    unsigned char *out = malloc(n + pad);
    int len = EVP_DecodeBlock(out, (unsigned char *) t, (int) (n + pad));
    free(t);
    assert_true(len >= 0);
    *out_len = (size_t) len - pad;
    return out;
}

static void test_b64url_and_timestamp(void **state)
{
    char out[64];
    assert_int_equal(jws_b64url("", 0, out), 0);
    assert_string_equal(out, "");
    jws_b64url("f", 1, out);
    assert_string_equal(out, "Zg");
    jws_b64url("fo", 2, out);
    assert_string_equal(out, "Zm8");
    jws_b64url("foo", 3, out);
    assert_string_equal(out, "Zm9v");
    const unsigned char bin[] = { 0xfb, 0xff, 0xfe };
    jws_b64url(bin, 3, out);
    assert_string_equal(out, "-__-");     /* "+//+" in plain base64 */
    char ts[32];
    jws_timestamp(UINT64_C(1795428000123), ts);
    assert_string_equal(ts, "2026-11-23T10:00:00.123Z");
    jws_timestamp(UINT64_C(1795428000007), ts);
    assert_string_equal(ts, "2026-11-23T10:00:00.007Z");
}

typedef struct {
    char      path[64];
    EVP_PKEY *key;
} keyfile_t;

static void s_keyfile(keyfile_t *k)
{
    k->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k->key);
    snprintf(k->path, sizeof k->path, "/tmp/test-ndxp-%d.key", (int) getpid());
    FILE *f = fopen(k->path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k->key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void test_jws_verifies(void **state)
{
    keyfile_t k;
    s_keyfile(&k);
    char err[256];
    jws_signer_t *s = jws_signer_new(k.path, err, sizeof err);
    assert_non_null(s);
    /* kid = hex SHA-256 of the raw public key. */
    unsigned char pub[32], md[32];
    size_t publen = 32;
    assert_int_equal(EVP_PKEY_get_raw_public_key(k.key, pub, &publen), 1);
    EVP_Digest(pub, 32, md, NULL, EVP_sha256(), NULL);
    char kid[65];
    for (int i = 0; i < 32; i++)
        snprintf(kid + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(jws_signer_kid(s), kid);

    const char *payload = "{\"ho_ten\":\"Nguyễn Văn A\"}";
    jws_header_t h = { .message_id = "qn-1:ab\"c\\d", .sender = "999.99.99.T01", .receiver = "999.99.99.T00",
                       .message_type = "canonical.person", .content_type = "application/json",
                       .time_ms = UINT64_C(1795428000123) };
    jws_buf_t buf = { 0 };
    assert_int_equal(jws_append(s, &h, payload, strlen(payload), &buf, err, sizeof err), 0);
    json_t *j = json_loadb(buf.data, buf.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 3);
    const char *prot = json_string_value(json_object_get(j, "protected"));
    const char *pay = json_string_value(json_object_get(j, "payload"));
    const char *sig = json_string_value(json_object_get(j, "signature"));
    assert_non_null(prot);
    assert_non_null(pay);
    assert_non_null(sig);
    assert_null(strpbrk(prot, "=+/"));

    size_t n;
    unsigned char *hb = s_unb64url(prot, &n);
    json_t *hj = json_loadb((char *) hb, n, 0, NULL);
    assert_non_null(hj);
    assert_string_equal(json_string_value(json_object_get(hj, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(hj, "typ")), "ndxp+jws");
    assert_string_equal(json_string_value(json_object_get(hj, "kid")), kid);
    assert_string_equal(json_string_value(json_object_get(hj, "message_id")), "qn-1:ab\"c\\d");
    assert_string_equal(json_string_value(json_object_get(hj, "sender")), "999.99.99.T01");
    assert_string_equal(json_string_value(json_object_get(hj, "receiver")), "999.99.99.T00");
    assert_string_equal(json_string_value(json_object_get(hj, "timestamp")), "2026-11-23T10:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(hj, "message_type")), "canonical.person");
    assert_string_equal(json_string_value(json_object_get(hj, "content_type")), "application/json");
    json_decref(hj);
    free(hb);
    unsigned char *pb = s_unb64url(pay, &n);
    assert_int_equal(n, strlen(payload));
    assert_memory_equal(pb, payload, n);
    free(pb);

    /* The signature is over "protected.payload" and checks with the public key. */
    unsigned char *sb = s_unb64url(sig, &n);
    assert_int_equal(n, 64);
    char *input;
    assert_true(asprintf(&input, "%s.%s", prot, pay) > 0);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk), 1);
    assert_int_equal(EVP_DigestVerify(ctx, sb, 64, (unsigned char *) input, strlen(input)), 1);
    /* ... and not over anything else. */
    input[strlen(input) - 1] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk), 1);
    assert_int_not_equal(EVP_DigestVerify(ctx, sb, 64, (unsigned char *) input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    free(input);
    free(sb);
    json_decref(j);

    /* A second message appends (the request body is built this way). */
    size_t first = buf.len;
    assert_int_equal(jws_append(s, &h, "{}", 2, &buf, err, sizeof err), 0);
    assert_true(buf.len > first);
    jws_buf_free(&buf);
    jws_signer_destroy(&s);
    assert_null(s);
    EVP_PKEY_free(k.key);
    unlink(k.path);
}

static void test_signer_refuses_other_keys(void **state)
{
    char err[256], path[64];
    assert_null(jws_signer_new("/nonexistent/sign.key", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    /* A P-256 key is not an Ed25519 one. */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    snprintf(path, sizeof path, "/tmp/test-ndxp-ec-%d.key", (int) getpid());
    FILE *f = fopen(path, "w");
    PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    assert_null(jws_signer_new(path, err, sizeof err));
    assert_non_null(strstr(err, "not an Ed25519 key"));
    unlink(path);
    EVP_PKEY_free(ec);
}

static void test_backoff_grows_with_jitter_and_cap(void **state)
{
    breaker_t b;
    breaker_init(&b, 100, 1000, 100, 0, 42);
    uint64_t now = 1000;
    assert_true(breaker_may_send(&b, now));
    /* failure k: delay in [d/2, d], d = 100 * 2^(k-1) capped at 1000. */
    uint64_t expect[] = { 100, 200, 400, 800, 1000, 1000 };
    for (size_t k = 0; k < 6; k++) {
        uint64_t d = breaker_failure(&b, now, 0);
        assert_true(d >= expect[k] / 2 && d <= expect[k]);
        assert_false(breaker_may_send(&b, now));
        assert_int_equal(breaker_wait(&b, now), d);
        now += d;
        assert_true(breaker_may_send(&b, now));
    }
    assert_int_equal(b.state, BR_CLOSED);
    /* Retry-After: that, plus at most a tenth of jitter (at most 1 s). */
    uint64_t ra = breaker_failure(&b, now, 7000);
    assert_true(ra >= 7000 && ra <= 7700);
    ra = breaker_failure(&b, now, 30000);
    assert_true(ra >= 30000 && ra <= 31000);
    breaker_success(&b);
    assert_true(breaker_may_send(&b, now));
    assert_int_equal(b.failures, 0);
}

static void test_breaker_opens_probes_closes(void **state)
{
    breaker_t b;
    breaker_init(&b, 10, 100, 3, 5000, 7);
    uint64_t now = 0;
    breaker_failure(&b, now, 0);
    breaker_failure(&b, now, 0);
    assert_int_equal(b.state, BR_CLOSED);
    uint64_t d = breaker_failure(&b, now, 0);   /* third in a row: open */
    assert_int_equal(b.state, BR_OPEN);
    assert_int_equal(b.opens, 1);
    assert_true(d >= 5000);
    assert_false(breaker_may_send(&b, now + 4999));
    /* Half-open: one probe only. */
    now += d;
    assert_true(breaker_may_send(&b, now));
    assert_int_equal(b.state, BR_HALF_OPEN);
    breaker_sent(&b);
    assert_false(breaker_may_send(&b, now));
    assert_int_equal(breaker_wait(&b, now), UINT64_MAX);
    /* The probe fails: open again, for at least open_ms. */
    d = breaker_failure(&b, now, 0);
    assert_int_equal(b.state, BR_OPEN);
    assert_int_equal(b.opens, 2);
    assert_true(d >= 5000);
    now += d;
    assert_true(breaker_may_send(&b, now));
    breaker_sent(&b);
    breaker_success(&b);
    assert_int_equal(b.state, BR_CLOSED);
    assert_true(breaker_may_send(&b, now));
    breaker_sent(&b);
    assert_true(breaker_may_send(&b, now));   /* closed: no probe limit */
    assert_string_equal(breaker_state_name(BR_HALF_OPEN), "half-open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_and_timestamp),
        cmocka_unit_test(test_jws_verifies),
        cmocka_unit_test(test_signer_refuses_other_keys),
        cmocka_unit_test(test_backoff_grows_with_jitter_and_cap),
        cmocka_unit_test(test_breaker_opens_probes_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
