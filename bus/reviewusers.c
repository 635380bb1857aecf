/* reviewusers.c — the review page's users file and password hashes (see
 * reviewusers.h). PBKDF2 and base64 are OpenSSL's; the file is lines of
 * "name:hash", read with getline. libc + OpenSSL only, so both lgspd and
 * the lgsp CLI link it. */
#include "reviewusers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define S_SALT_LEN 16
#define S_KEY_LEN 32
#define S_SCHEME "pbkdf2-sha256"
/* Beyond this a hash would take minutes to check: a doctored file must not
 * stall the server. */
#define S_MAX_ITERATIONS 10000000u
#define S_MIN_ITERATIONS 1000u

typedef struct {
    char *name;
    char *hash;
} s_user_t;

struct review_users {
    s_user_t *users;
    size_t n;
};

bool review_user_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > REVIEW_USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) name[i];
        if (c < 0x20 || c == 0x7f || c == ':')
            return false;
    }
    /* UTF-8 well-formedness: lead byte and continuation bytes, no
     * overlong two-byte forms (a name is shown in pages and stored with
     * every decision). */
    const unsigned char *p = (const unsigned char *) name;
    while (*p) {
        size_t len = *p < 0x80 ? 1 : (*p >> 5) == 0x6 && *p >= 0xc2 ? 2 : (*p >> 4) == 0xe ? 3
                   : (*p >> 3) == 0x1e && *p <= 0xf4 ? 4 : 0;
        if (!len)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[k] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

/* ---- hashes ---------------------------------------------------------- */

static int s_b64_decode(const char *in, unsigned char *out, size_t want)
{
    size_t n = strlen(in);
    if (n % 4 || n / 4 * 3 > 64)
        return -1;
    unsigned char buf[64];
    int got = EVP_DecodeBlock(buf, (const unsigned char *) in, (int) n);
    if (got < 0)
        return -1;
    size_t pad = (n && in[n - 1] == '=') + (n > 1 && in[n - 2] == '=');
    if ((size_t) got - pad != want)
        return -1;
    memcpy(out, buf, want);
    return 0;
}

/* Splits "pbkdf2-sha256$iter$salt$key" into its parts. */
static int s_parse_hash(const char *encoded, unsigned *iter, unsigned char salt[S_SALT_LEN],
                        unsigned char key[S_KEY_LEN])
{
    char copy[256];
    if (!encoded || strlen(encoded) >= sizeof copy)
        return -1;
    strcpy(copy, encoded);
    char *save = NULL;
    char *scheme = strtok_r(copy, "$", &save), *it = strtok_r(NULL, "$", &save);
    char *s = strtok_r(NULL, "$", &save), *k = strtok_r(NULL, "$", &save);
    if (!scheme || !it || !s || !k || strtok_r(NULL, "$", &save) || strcmp(scheme, S_SCHEME) != 0)
        return -1;
    if (strspn(it, "0123456789") != strlen(it) || strlen(it) > 9)
        return -1;
    unsigned long v = strtoul(it, NULL, 10);
    if (v < S_MIN_ITERATIONS || v > S_MAX_ITERATIONS)
        return -1;
    *iter = (unsigned) v;
    return s_b64_decode(s, salt, S_SALT_LEN) || s_b64_decode(k, key, S_KEY_LEN) ? -1 : 0;
}

static int s_derive(const char *password, const unsigned char *salt, unsigned iter,
                    unsigned char key[S_KEY_LEN])
{
    return PKCS5_PBKDF2_HMAC(password, (int) strlen(password), salt, S_SALT_LEN, (int) iter,
                             EVP_sha256(), S_KEY_LEN, key) == 1 ? 0 : -1;
}

char *review_password_hash(const char *password, unsigned iterations)
{
    if (!password)
        return NULL;
    if (iterations == 0)
        iterations = REVIEW_USERS_ITERATIONS;
    if (iterations < S_MIN_ITERATIONS || iterations > S_MAX_ITERATIONS)
        return NULL;
    unsigned char salt[S_SALT_LEN], key[S_KEY_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1 || s_derive(password, salt, iterations, key) != 0)
        return NULL;
    char s64[4 * ((S_SALT_LEN + 2) / 3) + 1], k64[4 * ((S_KEY_LEN + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *) s64, salt, S_SALT_LEN);
    EVP_EncodeBlock((unsigned char *) k64, key, S_KEY_LEN);
    OPENSSL_cleanse(key, sizeof key);
    char *out = NULL;
    if (asprintf(&out, S_SCHEME "$%u$%s$%s", iterations, s64, k64) < 0)
        return NULL;
    return out;
}

bool review_password_check(const char *encoded, const char *password)
{
    unsigned iter;
    unsigned char salt[S_SALT_LEN], want[S_KEY_LEN], got[S_KEY_LEN];
    if (!password || s_parse_hash(encoded, &iter, salt, want) != 0
        || s_derive(password, salt, iter, got) != 0)
        return false;
    bool ok = CRYPTO_memcmp(want, got, S_KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* ---- the file -------------------------------------------------------- */

static void s_free_users(review_users_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        free(self->users[i].name);
        if (self->users[i].hash)
            OPENSSL_cleanse(self->users[i].hash, strlen(self->users[i].hash));
        free(self->users[i].hash);
    }
    free(self->users);
    self->users = NULL;
    self->n = 0;
}

/* Strips the line end; whether the line holds a user (not a comment or
 * blank). */
static bool s_user_line(char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    const char *p = line + strspn(line, " \t");
    return *p && *p != '#';
}

review_users_t *review_users_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    review_users_t *self = calloc(1, sizeof *self);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    bool bad = !self;
    if (!self)
        snprintf(err, errlen, "out of memory");
    while (!bad && getline(&line, &cap, f) >= 0) {
        lineno++;
        if (!s_user_line(line))
            continue;
        char *colon = strrchr(line, ':');
        unsigned iter;
        unsigned char salt[S_SALT_LEN], key[S_KEY_LEN];
        if (!colon) {
            snprintf(err, errlen, "%s:%d: expected name:hash", path, lineno);
            bad = true;
            break;
        }
        *colon = '\0';
        if (!review_user_name_valid(line)) {
            snprintf(err, errlen, "%s:%d: not a valid reviewer name (1-%d bytes of UTF-8, no ':' "
                     "or control characters)", path, lineno, REVIEW_USER_NAME_MAX);
            bad = true;
        } else if (s_parse_hash(colon + 1, &iter, salt, key) != 0) {
            snprintf(err, errlen, "%s:%d: not a " S_SCHEME " hash (make one with lgsp review-user)",
                     path, lineno);
            bad = true;
        } else {
            for (size_t i = 0; i < self->n && !bad; i++)
                if (strcmp(self->users[i].name, line) == 0) {
                    snprintf(err, errlen, "%s:%d: a reviewer listed twice", path, lineno);
                    bad = true;
                }
        }
        if (bad)
            break;
        s_user_t *u = realloc(self->users, (self->n + 1) * sizeof *u);
        if (!u) {
            snprintf(err, errlen, "out of memory");
            bad = true;
            break;
        }
        self->users = u;
        u[self->n].name = strdup(line);
        u[self->n].hash = strdup(colon + 1);
        self->n++;
        if (!u[self->n - 1].name || !u[self->n - 1].hash) {
            snprintf(err, errlen, "out of memory");
            bad = true;
        }
    }
    if (line)
        OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    if (bad) {
        review_users_destroy(&self);
        return NULL;
    }
    return self;
}

void review_users_destroy(review_users_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_free_users(*self_p);
    free(*self_p);
    *self_p = NULL;
}

size_t review_users_count(const review_users_t *self)
{
    return self ? self->n : 0;
}

const char *review_users_name(const review_users_t *self, size_t i)
{
    return self && i < self->n ? self->users[i].name : NULL;
}

/* A hash of random bytes, checked for unknown names so that they cost as
 * much as known ones. Made once, on the first such call. */
static char *s_dummy;
static pthread_once_t s_dummy_once = PTHREAD_ONCE_INIT;

static void s_make_dummy(void)
{
    unsigned char r[24];
    char pw[64];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0x5a, sizeof r);
    EVP_EncodeBlock((unsigned char *) pw, r, sizeof r);
    s_dummy = review_password_hash(pw, 0);
}

bool review_users_verify(const review_users_t *self, const char *name, const char *password)
{
    const char *hash = NULL;
    for (size_t i = 0; self && name && i < self->n; i++)
        if (strcmp(self->users[i].name, name) == 0)
            hash = self->users[i].hash;
    if (!hash) {
        pthread_once(&s_dummy_once, s_make_dummy);
        (void) review_password_check(s_dummy, password ? password : "");
        return false;
    }
    return review_password_check(hash, password);
}

int review_users_update(const char *path, const char *name, const char *password,
                        unsigned iterations, char *err, size_t errlen)
{
    if (!review_user_name_valid(name)) {
        snprintf(err, errlen, "not a valid reviewer name (1-%d bytes of UTF-8, no ':' or control "
                 "characters)", REVIEW_USER_NAME_MAX);
        return -1;
    }
    char *hash = NULL;
    if (password && !(hash = review_password_hash(password, iterations))) {
        snprintf(err, errlen, "cannot hash the password (iterations %u to %u)", S_MIN_ITERATIONS,
                 S_MAX_ITERATIONS);
        return -1;
    }
    /* The old file's lines, the user's own replaced (or dropped). */
    char *text = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&text, &tlen);
    bool found = false;
    FILE *in = fopen(path, "r");
    if (!in && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        fclose(out);
        free(text);
        free(hash);
        return -1;
    }
    if (!in)
        fprintf(out, "# reviewers of lgspd's review page: name:hash (lgsp review-user)\n");
    char *line = NULL;
    size_t cap = 0;
    while (in && getline(&line, &cap, in) >= 0) {
        char *copy = strdup(line);
        bool user = copy && s_user_line(copy);
        char *colon = user ? strrchr(copy, ':') : NULL;
        if (colon)
            *colon = '\0';
        if (colon && strcmp(copy, name) == 0) {
            found = true;
            if (hash)
                fprintf(out, "%s:%s\n", name, hash);
        } else {
            fputs(line, out);
            if (!strchr(line, '\n'))
                fputc('\n', out);
        }
        free(copy);
    }
    free(line);
    if (in)
        fclose(in);
    if (hash && !found)
        fprintf(out, "%s:%s\n", name, hash);
    fclose(out);
    if (hash)
        OPENSSL_cleanse(hash, strlen(hash));
    free(hash);
    if (!password && !found) {
        snprintf(err, errlen, "%s: no reviewer of that name", path);
        free(text);
        return -1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0) {
        size_t done = 0;
        while (done < tlen) {
            ssize_t w = write(fd, text + done, tlen - done);
            if (w <= 0)
                break;
            done += (size_t) w;
        }
        if (done == tlen && fsync(fd) == 0 && close(fd) == 0) {
            fd = -1;
            rc = rename(tmp, path);
        }
        if (fd >= 0)
            close(fd);
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(text);
    return rc;
}
