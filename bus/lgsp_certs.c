/* lgsp_certs.c — `lgsp certs`: makes, with OpenSSL's API (no openssl
 * command), what mutual TLS and message signing towards NDXP need in a
 * test or demo setting:
 *
 *   ca.pem / ca.key          a local CA (ECDSA P-256, self-signed)
 *   server.pem / server.key  the simulator's certificate (SAN IP:127.0.0.1,
 *                            DNS:localhost; serverAuth)
 *   client.pem / client.key  the province's client certificate (clientAuth)
 *   sign.key / sign.pub      the Ed25519 key that signs the JWS messages
 *
 * Keys are PKCS#8 PEM, mode 0600; certificates and sign.pub 0644. Every file
 * is written under a temporary name and renamed, so a crash never leaves half
 * a key. Nothing is overwritten without --force. Real deployments point the
 * configuration at real certificates instead. */
#include "lgsp_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

enum { CERTS_OK = 0, CERTS_ERROR = 1, CERTS_USAGE = 2 };

/* The files, in the order they are written. */
static const char *const s_files[] = {
    "ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key", "sign.key", "sign.pub",
};
#define N_FILES (sizeof s_files / sizeof s_files[0])

typedef struct {
    const char *out;
    long        days;
    bool        force;
    const char *client_cn;
} certs_opts_t;

void lgsp_certs_usage(FILE *out)
{
    fprintf(out,
        "usage: lgsp certs --out DIR [--days N] [--client-cn NAME] [--force]\n\n"
        "Makes a local CA and, issued by it, the NDXP simulator's server certificate and the\n"
        "province's client certificate (ECDSA P-256), plus the Ed25519 key that signs NDXP\n"
        "messages (docs/ndxp.md). For the demo and the tests: real deployments use real ones.\n\n"
        "Files in DIR (created if missing): ca.pem ca.key server.pem server.key client.pem\n"
        "client.key sign.key sign.pub; keys are mode 0600. Prints the signing key's id (kid).\n\n"
        "Options:\n"
        "  -o, --out DIR          where to write (required)\n"
        "  -d, --days N           validity in days (default 365; 1-36500)\n"
        "  -c, --client-cn NAME   the client certificate's common name (default \"lgsp client\")\n"
        "  -f, --force            overwrite existing files\n"
        "  -h, --help             this help\n\n"
        "Exit status: 0 written, 1 error (nothing half-written), 2 usage error.\n");
}

/* Prints the message and OpenSSL's error queue on stderr. */
static void s_err(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    fprintf(stderr, "lgsp certs: %s%s%s\n", what, e ? ": " : "", buf);
    ERR_clear_error();
}

static char *s_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 3;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Writes the BIO's bytes to dir/name with mode: dir/.name.tmp, fsync,
 * rename. 0 or -1 (message printed). */
static int s_write(const char *dir, const char *name, BIO *bio, mode_t mode)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char tmpname[64];
    snprintf(tmpname, sizeof tmpname, ".%s.tmp", name);
    char *tmp = s_path(dir, tmpname), *path = s_path(dir, name);
    int rc = -1;
    if (!tmp || !path)
        goto done;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "lgsp certs: %s: %s\n", tmp, strerror(errno));
        goto done;
    }
    /* the mode given to open() is filtered by the umask; keys must be 0600
     * and certificates readable whatever it is */
    bool ok = fchmod(fd, mode) == 0;
    for (long off = 0; ok && off < len;) {
        ssize_t w = write(fd, data + off, (size_t)(len - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = false;
        else
            off += w;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "lgsp certs: %s: %s\n", path, strerror(ok ? errno : saved));
        unlink(tmp);
        goto done;
    }
    rc = 0;
done:
    free(tmp);
    free(path);
    return rc;
}

static int s_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext(cert, ext, -1) ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

/* A certificate for key, with subject CN=cn, O=lgsp test; issued by
 * issuer/issuer_key, or self-signed when issuer is NULL. exts is a list of
 * (nid, value) pairs ending with 0. */
static X509 *s_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days,
                    const int *nids, const char *const *values)
{
    X509 *cert = X509_new();
    BIGNUM *serial = BN_new();
    if (!cert || !serial)
        goto fail;
    /* a random positive 127-bit serial: unique without a serial file */
    if (!X509_set_version(cert, 2) || !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)))
        goto fail;
    /* valid from five minutes ago: a peer whose clock is a little behind
     * still accepts it */
    if (!X509_gmtime_adj(X509_getm_notBefore(cert), -300)
        || !X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL))
        goto fail;
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"lgsp test",
                                    -1, -1, 0)
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                       -1, 0))
        goto fail;
    if (!X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name)
        || !X509_set_pubkey(cert, key))
        goto fail;
    for (size_t i = 0; nids[i]; i++)
        if (s_add_ext(cert, issuer ? issuer : cert, nids[i], values[i]) != 0)
            goto fail;
    if (!X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
        goto fail;
    BN_free(serial);
    return cert;
fail:
    BN_free(serial);
    X509_free(cert);
    return NULL;
}

static int s_opts(int argc, char **argv, certs_opts_t *o)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "days", required_argument, NULL, 'd' },
        { "client-cn", required_argument, NULL, 'c' },
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    optind = 0;   /* 0, not 1: glibc re-reads the ordering ("+" of lgsp's own parser) only then */
    for (int opt; (opt = getopt_long(argc, argv, "o:d:c:fh", longopts, NULL)) != -1;) {
        switch (opt) {
        case 'o':
            o->out = optarg;
            break;
        case 'd': {
            char *end;
            errno = 0;
            o->days = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || o->days < 1 || o->days > 36500) {
                fprintf(stderr, "lgsp certs: --days must be an integer in [1, 36500]\n");
                return CERTS_USAGE;
            }
            break;
        }
        case 'c':
            if (!*optarg || strlen(optarg) > 64) {
                fprintf(stderr, "lgsp certs: --client-cn must have 1-64 characters\n");
                return CERTS_USAGE;
            }
            o->client_cn = optarg;
            break;
        case 'f':
            o->force = true;
            break;
        case 'h':
            lgsp_certs_usage(stdout);
            return -1;
        default:
            lgsp_certs_usage(stderr);
            return CERTS_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lgsp certs: takes no arguments\n");
        return CERTS_USAGE;
    }
    if (!o->out || !*o->out) {
        fprintf(stderr, "lgsp certs: --out DIR is required\n");
        lgsp_certs_usage(stderr);
        return CERTS_USAGE;
    }
    return CERTS_OK;
}

/* The lowercase hex SHA-256 of the raw Ed25519 public key: the kid of the
 * JWS header (docs/ndxp.md). */
static int s_kid(EVP_PKEY *key, char hex[65])
{
    unsigned char raw[32], md[SHA256_DIGEST_LENGTH];
    size_t n = sizeof raw;
    if (!EVP_PKEY_get_raw_public_key(key, raw, &n) || n != sizeof raw)
        return -1;
    SHA256(raw, n, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int lgsp_certs_main(int argc, char **argv)
{
    certs_opts_t o = { .days = 365, .client_cn = "lgsp client" };
    int rc = s_opts(argc, argv, &o);
    if (rc)
        return rc < 0 ? CERTS_OK : rc;
    if (mkdir(o.out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "lgsp certs: %s: %s\n", o.out, strerror(errno));
        return CERTS_ERROR;
    }
    if (!o.force) {
        for (size_t i = 0; i < N_FILES; i++) {
            char *p = s_path(o.out, s_files[i]);
            struct stat st;
            bool exists = p && lstat(p, &st) == 0;
            if (exists)
                fprintf(stderr, "lgsp certs: %s exists (--force overwrites)\n", p);
            free(p);
            if (exists)
                return CERTS_ERROR;
        }
    }

    rc = CERTS_ERROR;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256"),
             *cli_key = EVP_EC_gen("P-256"),
             *sign_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *ca = NULL, *srv = NULL, *cli = NULL;
    BIO *bios[N_FILES] = { 0 };
    if (!ca_key || !srv_key || !cli_key || !sign_key) {
        s_err("cannot make the keys");
        goto done;
    }
    static const int ca_nids[] = { NID_basic_constraints, NID_key_usage,
                                   NID_subject_key_identifier, 0 };
    static const char *const ca_vals[] = { "critical,CA:TRUE,pathlen:0",
                                           "critical,keyCertSign,cRLSign", "hash" };
    static const int leaf_nids[] = { NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                     NID_subject_key_identifier, NID_authority_key_identifier,
                                     NID_subject_alt_name, 0 };
    static const char *const srv_vals[] = { "critical,CA:FALSE", "critical,digitalSignature",
                                            "serverAuth", "hash", "keyid:always",
                                            "IP:127.0.0.1,DNS:localhost" };
    /* the client certificate: clientAuth, no subjectAltName */
    static const int cli_nids[] = { NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                    NID_subject_key_identifier, NID_authority_key_identifier, 0 };
    static const char *const cli_vals[] = { "critical,CA:FALSE", "critical,digitalSignature",
                                            "clientAuth", "hash", "keyid:always" };
    ca = s_cert(ca_key, "lgsp local test CA", NULL, NULL, o.days, ca_nids, ca_vals);
    if (ca)
        srv = s_cert(srv_key, "localhost", ca, ca_key, o.days, leaf_nids, srv_vals);
    if (srv)
        cli = s_cert(cli_key, o.client_cn, ca, ca_key, o.days, cli_nids, cli_vals);
    if (!cli) {
        s_err("cannot make the certificates");
        goto done;
    }
    for (size_t i = 0; i < N_FILES; i++)
        if (!(bios[i] = BIO_new(BIO_s_mem()))) {
            s_err("out of memory");
            goto done;
        }
    if (!PEM_write_bio_X509(bios[0], ca) || !PEM_write_bio_PrivateKey(bios[1], ca_key, NULL, NULL, 0, NULL, NULL)
        || !PEM_write_bio_X509(bios[2], srv)
        || !PEM_write_bio_PrivateKey(bios[3], srv_key, NULL, NULL, 0, NULL, NULL)
        || !PEM_write_bio_X509(bios[4], cli)
        || !PEM_write_bio_PrivateKey(bios[5], cli_key, NULL, NULL, 0, NULL, NULL)
        || !PEM_write_bio_PrivateKey(bios[6], sign_key, NULL, NULL, 0, NULL, NULL)
        || !PEM_write_bio_PUBKEY(bios[7], sign_key)) {
        s_err("cannot write PEM");
        goto done;
    }
    char kid[65];
    if (s_kid(sign_key, kid) != 0) {
        s_err("cannot read the Ed25519 public key");
        goto done;
    }
    for (size_t i = 0; i < N_FILES; i++) {
        bool key = strstr(s_files[i], ".key") != NULL;
        if (s_write(o.out, s_files[i], bios[i], key ? 0600 : 0644) != 0)
            goto done;
    }
    printf("wrote ca, server, client (.pem, .key) and sign.key, sign.pub in %s (keys mode 0600, "
           "valid %ld days)\nkid %s\n", o.out, o.days, kid);
    rc = CERTS_OK;
done:
    for (size_t i = 0; i < N_FILES; i++)
        BIO_free(bios[i]);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    EVP_PKEY_free(sign_key);
    return rc;
}
