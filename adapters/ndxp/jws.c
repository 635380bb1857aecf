/* jws.c — the NDXP envelope: JWS (flattened JSON) signed with Ed25519 via
 * OpenSSL (see jws.h). */
#include "jws.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct jws_signer {
    EVP_PKEY   *key;
    EVP_MD_CTX *md;
    char        kid[65];
    char       *scratch;           /* base64url of a payload (grown as needed) */
    size_t      scratch_cap;
};

static void s_ossl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

jws_signer_t *jws_signer_new(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key) {
        s_ossl_error(err, errlen, "not a PEM private key");
        return NULL;
    }
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        snprintf(err, errlen, "%s is not an Ed25519 key", path);
        EVP_PKEY_free(key);
        return NULL;
    }
    unsigned char pub[32], md[32];
    size_t publen = sizeof pub;
    unsigned int mdlen = 0;
    jws_signer_t *self = calloc(1, sizeof *self);
    if (!self || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1 || publen != 32
        || EVP_Digest(pub, publen, md, &mdlen, EVP_sha256(), NULL) != 1
        || !(self->md = EVP_MD_CTX_new())) {
        s_ossl_error(err, errlen, "cannot derive the key id");
        if (self)
            EVP_MD_CTX_free(self->md);
        free(self);
        EVP_PKEY_free(key);
        return NULL;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(self->kid + 2 * i, 3, "%02x", md[i]);
    self->key = key;
    return self;
}

void jws_signer_destroy(jws_signer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jws_signer_t *self = *self_p;
    EVP_MD_CTX_free(self->md);
    EVP_PKEY_free(self->key);
    free(self->scratch);
    free(self);
    *self_p = NULL;
}

const char *jws_signer_kid(const jws_signer_t *self)
{
    return self->kid;
}

size_t jws_b64url(const void *in, size_t n, char *out)
{
    size_t len = 0;
    const unsigned char *p = in;
    /* EVP_EncodeBlock takes an int: feed it in slices of whole triplets. */
    while (n > 0) {
        size_t chunk = n > 3 * (1u << 28) ? 3 * (1u << 28) : n;
        len += (size_t) EVP_EncodeBlock((unsigned char *) out + len, p, (int) chunk);
        p += chunk;
        n -= chunk;
    }
    while (len && out[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++)
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    out[len] = 0;
    return len;
}

void jws_timestamp(uint64_t time_ms, char out[32])
{
    time_t t = (time_t) (time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned) (time_ms % 1000));
}

int jws_buf_add(jws_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

void jws_buf_free(jws_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

#define ADD(s) jws_buf_add(buf, s, strlen(s))

int jws_append(jws_signer_t *self, const jws_header_t *h, const void *payload, size_t len,
               jws_buf_t *buf, char *err, size_t errlen)
{
    char ts[32];
    jws_timestamp(h->time_ms, ts);
    /* jansson writes the header, so ids with quotes or backslashes stay JSON. */
    json_t *hj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                           "alg", "EdDSA", "kid", self->kid, "typ", "ndxp+jws",
                           "message_id", h->message_id, "sender", h->sender,
                           "receiver", h->receiver, "timestamp", ts,
                           "message_type", h->message_type, "content_type", h->content_type);
    char *htext = hj ? json_dumps(hj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(hj);
    if (!htext) {
        snprintf(err, errlen, "cannot write the protected header (not UTF-8?)");
        return -1;
    }
    size_t hlen = strlen(htext);
    size_t need = 4 * ((hlen + 2) / 3) + 4 * ((len + 2) / 3) + 2;
    if (need > self->scratch_cap) {
        char *s = realloc(self->scratch, need);
        if (!s) {
            free(htext);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        self->scratch = s;
        self->scratch_cap = need;
    }
    /* scratch = protected "." payload: exactly the signing input. */
    size_t plen = jws_b64url(htext, hlen, self->scratch);
    free(htext);
    self->scratch[plen] = '.';
    size_t tlen = plen + 1 + jws_b64url(payload, len, self->scratch + plen + 1);
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    if (EVP_DigestSignInit(self->md, NULL, NULL, NULL, self->key) != 1
        || EVP_DigestSign(self->md, sig, &siglen, (const unsigned char *) self->scratch, tlen) != 1) {
        s_ossl_error(err, errlen, "signing failed");
        return -1;
    }
    char sigb[96];
    jws_b64url(sig, siglen, sigb);
    /* base64url needs no JSON escaping: the object is written as is. */
    if (ADD("{\"protected\":\"") || jws_buf_add(buf, self->scratch, plen) || ADD("\",\"payload\":\"")
        || jws_buf_add(buf, self->scratch + plen + 1, tlen - plen - 1) || ADD("\",\"signature\":\"")
        || ADD(sigb) || ADD("\"}")) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
