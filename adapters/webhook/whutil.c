/* whutil.c — see whutil.h. */
#include "whutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- authentication ---------------------------------------------------- */

bool wh_bearer_ok(const char *authorization, const char *token)
{
    const char *cand = "";
    if (authorization && !strncasecmp(authorization, "Bearer", 6)
        && (authorization[6] == ' ' || authorization[6] == '\t')) {
        cand = authorization + 7;
        while (*cand == ' ' || *cand == '\t')
            cand++;
    }
    /* Hash both sides: equal-length digests compared in constant time say
     * nothing about where, or in which length, the texts differ. */
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)cand, strlen(cand), a);
    SHA256((const unsigned char *)token, strlen(token), b);
    bool same = CRYPTO_memcmp(a, b, sizeof a) == 0;
    return same && authorization && *cand && *token;
}

static int s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void wh_hmac_hex(const char *secret, const void *body, size_t len, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &ml);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
}

bool wh_hmac_ok(const char *signature, const char *prefix, const char *secret,
                const void *body, size_t len)
{
    unsigned char given[32] = { 0 }, mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    bool well_formed = false;
    if (signature) {
        size_t pl = prefix ? strlen(prefix) : 0;
        if (!strncasecmp(signature, prefix ? prefix : "", pl) && strlen(signature + pl) == 64) {
            const char *h = signature + pl;
            well_formed = true;
            for (int i = 0; i < 32; i++) {
                int hi = s_hexval((unsigned char)h[2 * i]), lo = s_hexval((unsigned char)h[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                    well_formed = false;
                    break;
                }
                given[i] = (unsigned char)(hi << 4 | lo);
            }
        }
    }
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &ml) || ml != 32)
        return false;
    return CRYPTO_memcmp(given, mac, 32) == 0 && well_formed;
}

/* ---- JSON ---------------------------------------------------------------- */

json_t *wh_json_path(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur && p && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, p, n);
        } else if (json_is_array(cur) && n > 0 && n < 10) {
            char idx[12];
            memcpy(idx, p, n);
            idx[n] = '\0';
            char *end;
            unsigned long i = strtoul(idx, &end, 10);
            cur = *end ? NULL : json_array_get(cur, i);
        } else {
            cur = NULL;
        }
        p = dot ? dot + 1 : NULL;
    }
    return cur;
}

int wh_json_text(json_t *root, const char *path, char *out, size_t outsz)
{
    json_t *v = wh_json_path(root, path);
    int n;
    if (json_is_string(v)) {
        if (json_string_length(v) >= outsz || strlen(json_string_value(v)) != json_string_length(v))
            return -1;
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return 0;
    }
    if (json_is_integer(v)) {
        n = snprintf(out, outsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return n > 0 && (size_t)n < outsz ? 0 : -1;
    }
    return -1;
}

bool wh_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 0x21 || s[n] > 0x7e)
            return false;
    return n >= 1 && n <= WH_ID_MAX;
}

int wh_event_parse(const void *body, size_t len, const char *id_field, const char *header_id,
                   const char *type_field, const char *header_type, wh_event_t *ev,
                   char *reason, size_t reasonsz)
{
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        /* jansson's text quotes at most a few bytes of the input */
        snprintf(reason, reasonsz, "not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(reason, reasonsz, "not a JSON object");
        goto out;
    }
    json_t *idv = id_field && *id_field ? wh_json_path(root, id_field) : NULL;
    if (idv) {
        if (wh_json_text(root, id_field, ev->id, sizeof ev->id) || !wh_id_valid(ev->id)) {
            snprintf(reason, reasonsz,
                     "the event id at '%s' is not 1 to %d printable ASCII characters",
                     id_field, WH_ID_MAX);
            goto out;
        }
    } else if (header_id && *header_id) {
        if (strlen(header_id) > WH_ID_MAX || !wh_id_valid(header_id)) {
            snprintf(reason, reasonsz,
                     "the event id header is not 1 to %d printable ASCII characters", WH_ID_MAX);
            goto out;
        }
        snprintf(ev->id, sizeof ev->id, "%s", header_id);
    } else {
        snprintf(reason, reasonsz, "no event id: no field '%s' and no id header",
                 id_field ? id_field : "");
        goto out;
    }
    if (!type_field || !*type_field || wh_json_text(root, type_field, ev->type, sizeof ev->type))
        ev->type[0] = '\0';
    if (!ev->type[0] && header_type && strlen(header_type) < sizeof ev->type)
        snprintf(ev->type, sizeof ev->type, "%s", header_type);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- settings ------------------------------------------------------------ */

int wh_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no",
                                                                                 "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A decimal number followed by a unit from units (name, factor), or none. */
static int s_parse_unit(const char *s, const char *const *names, const uint64_t *factors,
                        size_t n, uint64_t bare, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    while (*end == ' ')
        end++;
    uint64_t f = 0;
    if (!*end) {
        f = bare;
    } else {
        for (size_t i = 0; i < n; i++)
            if (!strcasecmp(end, names[i]))
                f = factors[i];
    }
    if (!f || v > UINT64_MAX / f)
        return -1;
    *out = v * f;
    return 0;
}

int wh_parse_size(const char *s, uint64_t *out)
{
    static const char *const names[] = { "b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib" };
    static const uint64_t f[] = { 1, 1u << 10, 1u << 10, 1u << 10, 1u << 20, 1u << 20, 1u << 20,
                                  1u << 30, 1u << 30, 1u << 30 };
    return s_parse_unit(s, names, f, sizeof f / sizeof *f, 1, out);
}

int wh_parse_ms(const char *s, uint64_t *out)
{
    static const char *const names[] = { "ms", "s", "m", "min", "h" };
    static const uint64_t f[] = { 1, 1000, 60000, 60000, 3600000 };
    return s_parse_unit(s, names, f, sizeof f / sizeof *f, 1000, out);
}

int wh_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int wh_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *addrlen,
                    bool *loopback, char *err, size_t errsz)
{
    char host[64] = "127.0.0.1";
    const char *port;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) {
            snprintf(err, errsz, "'%s': expected [IPv6]:port", s);
            return -1;
        }
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon) {
            if ((size_t)(colon - s) >= sizeof host) {
                snprintf(err, errsz, "'%s': host too long", s);
                return -1;
            }
            if (colon > s) {
                memcpy(host, s, (size_t)(colon - s));
                host[colon - s] = '\0';
            }
            port = colon + 1;
        } else {
            port = s;
        }
    }
    uint64_t p;
    if (wh_parse_uint(port, 0, 65535, &p)) {
        snprintf(err, errsz, "'%s': the port must be 0 to 65535", s);
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *addrlen = sizeof *v4;
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *addrlen = sizeof *v6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        snprintf(err, errsz, "'%s': the host must be a numeric IPv4 or [IPv6] address", s);
        return -1;
    }
    return 0;
}
