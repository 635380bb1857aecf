/* jws.c — see jws.h. */
#include "jws.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

typedef struct {
    char      kid[65];
    char      sender[JWS_AGENCY_LEN + 1];
    EVP_PKEY *pub;
} s_key_t;

struct jws_keyring {
    s_key_t *keys;
    size_t   n, cap;
};

jws_keyring_t *jws_keyring_new(void)
{
    return calloc(1, sizeof(jws_keyring_t));
}

void jws_keyring_destroy(jws_keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jws_keyring_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        EVP_PKEY_free(self->keys[i].pub);
    free(self->keys);
    free(self);
    *self_p = NULL;
}

size_t jws_keyring_size(const jws_keyring_t *self)
{
    return self->n;
}

int jws_kid(EVP_PKEY *pub, char hex[65])
{
    unsigned char raw[32], md[SHA256_DIGEST_LENGTH];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_ED25519
        || !EVP_PKEY_get_raw_public_key(pub, raw, &n) || n != sizeof raw)
        return -1;
    SHA256(raw, n, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int jws_keyring_add(jws_keyring_t *self, EVP_PKEY *pub, const char *sender, char *kid_out,
                    char *err, size_t errsz)
{
    char kid[65];
    if (!jws_agency_id_ok(sender)) {
        snprintf(err, errsz, "sender id '%s' is not of the form 000.00.00.X00", sender);
        goto fail;
    }
    if (jws_kid(pub, kid) != 0) {
        snprintf(err, errsz, "not an Ed25519 public key");
        goto fail;
    }
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp(self->keys[i].kid, kid)) {
            snprintf(err, errsz, "key %s given twice", kid);
            goto fail;
        }
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 4;
        s_key_t *k = realloc(self->keys, cap * sizeof *k);
        if (!k) {
            snprintf(err, errsz, "out of memory");
            goto fail;
        }
        self->keys = k;
        self->cap = cap;
    }
    s_key_t *k = &self->keys[self->n++];
    memcpy(k->kid, kid, sizeof kid);
    snprintf(k->sender, sizeof k->sender, "%s", sender);
    k->pub = pub;
    if (kid_out)
        memcpy(kid_out, kid, sizeof kid);
    return 0;
fail:
    EVP_PKEY_free(pub);
    return -1;
}

int jws_keyring_add_file(jws_keyring_t *self, const char *path, const char *sender,
                         char *kid_out, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: cannot open", path);
        return -1;
    }
    EVP_PKEY *pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!pub) {
        snprintf(err, errsz, "%s: not a PEM public key", path);
        return -1;
    }
    int rc = jws_keyring_add(self, pub, sender, kid_out, err, errsz);
    if (rc != 0) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errsz, "%s: %s", path, tmp);
    }
    return rc;
}

static const s_key_t *s_find(const jws_keyring_t *kr, const char *kid)
{
    for (size_t i = 0; i < kr->n; i++)
        if (!strcmp(kr->keys[i].kid, kid))
            return &kr->keys[i];
    return NULL;
}

/* ---- small checks ------------------------------------------------------- */

static bool s_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool jws_agency_id_ok(const char *s)
{
    return s && strlen(s) == JWS_AGENCY_LEN && s_digits(s, 3) && s[3] == '.' && s_digits(s + 4, 2)
           && s[6] == '.' && s_digits(s + 7, 2) && s[9] == '.' && s[10] >= 'A' && s[10] <= 'Z'
           && s_digits(s + 11, 2);
}

int jws_parse_time(const char *s, int64_t *ms)
{
    /* fixed positions: YYYY-MM-DDTHH:MM:SS */
    size_t len = strlen(s);
    if (len < 20 || !s_digits(s, 4) || s[4] != '-' || !s_digits(s + 5, 2) || s[7] != '-'
        || !s_digits(s + 8, 2) || s[10] != 'T' || !s_digits(s + 11, 2) || s[13] != ':'
        || !s_digits(s + 14, 2) || s[16] != ':' || !s_digits(s + 17, 2))
        return -1;
    struct tm tm = { 0 };
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    size_t i = 19;
    int64_t frac_ms = 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        size_t nd = i - start;
        if (nd < 1 || nd > 9)
            return -1;
        for (size_t k = 0; k < 3; k++)
            frac_ms = frac_ms * 10 + (k < nd ? s[start + k] - '0' : 0);
    }
    if (s[i] != 'Z' || i + 1 != len)
        return -1;
    /* timegm normalises 02-30 into March: a date that does not come back
     * unchanged does not exist */
    struct tm want = tm;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon
        || tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min
        || tm.tm_sec != want.tm_sec)
        return -1;
    *ms = (int64_t)t * 1000 + frac_ms;
    return 0;
}

void jws_format_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
}

/* ---- base64url ---------------------------------------------------------- */

int b64url_decode(const char *s, size_t len, unsigned char **out, size_t *n)
{
    /* len % 4 == 1 cannot be the end of a base64 text */
    if (len % 4 == 1)
        return -1;
    size_t pad = (4 - len % 4) % 4, blen = len + pad;
    char *std = malloc(blen + 1);
    unsigned char *bin = malloc(blen / 4 * 3 + 1);
    if (!std || !bin)
        goto fail;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto fail;                      /* '=', '+', '/', spaces: not base64url */
        std[i] = c;
    }
    memset(std + len, '=', pad);
    std[blen] = 0;
    /* OpenSSL's decoder of the standard alphabet; it counts the padding as
     * zero bytes, which are taken off again */
    int got = blen ? EVP_DecodeBlock(bin, (const unsigned char *)std, (int)blen) : 0;
    if (got < 0 || (size_t)got < pad)
        goto fail;
    *n = (size_t)got - pad;
    bin[*n] = 0;
    *out = bin;
    free(std);
    return 0;
fail:
    free(std);
    free(bin);
    return -1;
}

char *b64url_encode(const unsigned char *p, size_t n)
{
    char *s = malloc((n + 2) / 3 * 4 + 1);
    if (!s)
        return NULL;
    int len = n ? EVP_EncodeBlock((unsigned char *)s, p, (int)n) : 0;
    s[len] = 0;
    while (len > 0 && s[len - 1] == '=')
        s[--len] = 0;
    for (int i = 0; i < len; i++)
        if (s[i] == '+')
            s[i] = '-';
        else if (s[i] == '/')
            s[i] = '_';
    return s;
}

/* ---- the checks ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int s_reject(jws_msg_t *out, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->code = code;
    return code;
}

/* A string member of the header into buf: present, a string, 1..max bytes,
 * every byte printable ASCII (0x20-0x7e). 0 or -1. */
static int s_member(const json_t *h, const char *key, char *buf, size_t max, jws_msg_t *out)
{
    const json_t *v = json_object_get(h, key);
    if (!v)
        return s_reject(out, 400, "%s: missing from the protected header", key), -1;
    if (!json_is_string(v))
        return s_reject(out, 400, "%s: not a string", key), -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > max)
        return s_reject(out, 400, "%s: %zu characters (1-%zu)", key, n, max), -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return s_reject(out, 400, "%s: not printable ASCII", key), -1;
    memcpy(buf, s, n + 1);
    return 0;
}

/* The base64url string member of the JWS object, decoded. */
static int s_part(const json_t *m, const char *key, unsigned char **bin, size_t *n,
                  const char **text, size_t *tlen, jws_msg_t *out)
{
    const json_t *v = json_object_get(m, key);
    if (!json_is_string(v))
        return s_reject(out, 400, "%s: %s", key, v ? "not a string" : "missing"), -1;
    *text = json_string_value(v);
    *tlen = json_string_length(v);
    if (b64url_decode(*text, *tlen, bin, n) != 0)
        return s_reject(out, 400, "%s: not base64url without padding", key), -1;
    return 0;
}

static bool s_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    return (n == 16 && !strncasecmp(ct, "application/json", 16))
           || (n > 5 && !strncasecmp(ct + n - 5, "+json", 5));
}

int jws_check(const jws_keyring_t *kr, const char *receiver, const json_t *m, jws_msg_t *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(m))
        return s_reject(out, 400, "message: not a JSON object (a flattened JWS)");
    const char *ptext = NULL, *ltext = NULL, *stext = NULL;
    size_t plen = 0, llen = 0, slen = 0, hlen = 0, siglen = 0;
    unsigned char *hdr = NULL, *sig = NULL;
    /* the message_id first, so that even a refused message is answered
     * under its id when the header can be read at all */
    json_t *h = NULL;
    if (s_part(m, "protected", &hdr, &hlen, &ptext, &plen, out) != 0)
        goto done;
    h = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(h)) {
        s_reject(out, 400, "header: the protected header is not a JSON object");
        goto done;
    }
    const json_t *id = json_object_get(h, "message_id");
    if (json_is_string(id) && json_string_length(id) <= JWS_MAX_ID)
        memcpy(out->message_id, json_string_value(id), json_string_length(id) + 1);
    if (s_part(m, "payload", &out->payload, &out->payload_len, &ltext, &llen, out) != 0
        || s_part(m, "signature", &sig, &siglen, &stext, &slen, out) != 0)
        goto done;
    if (json_object_get(h, "crit")) {
        s_reject(out, 400, "header: crit is not supported");
        goto done;
    }
    char alg[16], typ[16];
    if (s_member(h, "alg", alg, sizeof alg - 1, out) || s_member(h, "typ", typ, sizeof typ - 1, out))
        goto done;
    if (strcmp(alg, "EdDSA") != 0) {
        s_reject(out, 400, "alg: '%s', expected EdDSA", alg);
        goto done;
    }
    if (strcmp(typ, "ndxp+jws") != 0) {
        s_reject(out, 400, "typ: '%s', expected ndxp+jws", typ);
        goto done;
    }
    if (s_member(h, "kid", out->kid, 64, out))
        goto done;
    if (strlen(out->kid) != 64 || strspn(out->kid, "0123456789abcdef") != 64) {
        s_reject(out, 400, "kid: not 64 lowercase hex digits");
        goto done;
    }
    out->message_id[0] = 0;
    if (s_member(h, "message_id", out->message_id, JWS_MAX_ID, out)) {
        out->message_id[0] = 0;
        goto done;
    }
    char sender[65], recv[65];
    if (s_member(h, "sender", sender, 64, out) || s_member(h, "receiver", recv, 64, out)
        || s_member(h, "timestamp", out->timestamp, sizeof out->timestamp - 1, out)
        || s_member(h, "message_type", out->message_type, JWS_MAX_TYPE, out)
        || s_member(h, "content_type", out->content_type, sizeof out->content_type - 1, out))
        goto done;
    if (!jws_agency_id_ok(sender)) {
        s_reject(out, 400, "sender: not an agency id (000.00.00.X00)");
        goto done;
    }
    if (!jws_agency_id_ok(recv)) {
        s_reject(out, 400, "receiver: not an agency id (000.00.00.X00)");
        goto done;
    }
    memcpy(out->sender, sender, sizeof out->sender);
    memcpy(out->receiver, recv, sizeof out->receiver);
    if (jws_parse_time(out->timestamp, &out->ts_ms) != 0) {
        s_reject(out, 400, "timestamp: not RFC 3339 UTC (2026-11-23T10:00:00.123Z)");
        goto done;
    }
    const s_key_t *key = s_find(kr, out->kid);
    if (!key) {
        s_reject(out, 401, "kid: no key with this id is known");
        goto done;
    }
    if (strcmp(out->sender, key->sender) != 0) {
        s_reject(out, 403, "sender: %s is not the agency of key %.12s...", out->sender, out->kid);
        goto done;
    }
    if (strcmp(out->receiver, receiver) != 0) {
        s_reject(out, 403, "receiver: %s is not this receiver (%s)", out->receiver, receiver);
        goto done;
    }
    /* the signing input: protected "." payload, both exactly as sent */
    size_t tbs_len = plen + 1 + llen;
    unsigned char *tbs = malloc(tbs_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = 0;
    if (tbs && ctx) {
        memcpy(tbs, ptext, plen);
        tbs[plen] = '.';
        memcpy(tbs + plen + 1, ltext, llen);
        ok = siglen == 64 && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pub) == 1
             && EVP_DigestVerify(ctx, sig, siglen, tbs, tbs_len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    free(tbs);
    if (!ok) {
        s_reject(out, 401, "signature: verification failed");
        goto done;
    }
    if (s_json_type(out->content_type)) {
        json_error_t jerr;
        out->payload_json = json_loadb((const char *)out->payload, out->payload_len,
                                       JSON_DECODE_ANY, &jerr);
        if (!out->payload_json) {
            s_reject(out, 422, "payload: not JSON (%s at byte %d) though content_type is %s",
                     jerr.text, jerr.position, out->content_type);
            goto done;
        }
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(out->payload, out->payload_len, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
done:
    json_decref(h);
    free(hdr);
    free(sig);
    return out->code;
}

int jws_check_skew(jws_msg_t *msg, int64_t now_ms, int64_t max_skew_s)
{
    int64_t d = now_ms - msg->ts_ms;
    if (d < 0)
        d = -d;
    if (d > max_skew_s * 1000)
        return s_reject(msg, 422, "timestamp: %lld s from the receiver's clock (max %lld)",
                        (long long)(d / 1000), (long long)max_skew_s);
    return 0;
}

void jws_msg_clear(jws_msg_t *msg)
{
    free(msg->payload);
    json_decref(msg->payload_json);
    msg->payload = NULL;
    msg->payload_json = NULL;
}
