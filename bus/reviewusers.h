/* reviewusers.h — the reviewers of the review page and their passwords.
 *
 * The users file holds one reviewer a line, "name:hash"; '#' starts a
 * comment line, blank lines are skipped. The hash is
 *
 *     pbkdf2-sha256$<iterations>$<salt, base64>$<derived key, base64>
 *
 * PBKDF2-HMAC-SHA256 (OpenSSL's PKCS5_PBKDF2_HMAC), a 16-byte salt from
 * RAND_bytes, a 32-byte key, 600,000 iterations by default (OWASP's figure
 * for PBKDF2-SHA256). The file is written by `lgsp review-user`
 * (lgsp_review.c) with mode 0600; lgspd reads it again when it changes.
 *
 * A name is 1..64 bytes of UTF-8 without ':' and without control
 * characters. No password or hash is ever logged. */
#ifndef LGSP_REVIEWUSERS_H
#define LGSP_REVIEWUSERS_H

#include <stdbool.h>
#include <stddef.h>

#define REVIEW_USERS_ITERATIONS 600000u
#define REVIEW_USER_NAME_MAX 64

typedef struct review_users review_users_t;

/* Reads the file. NULL with err ("file:line: what") when it cannot be read
 * or a line is malformed. */
review_users_t *review_users_load(const char *path, char *err, size_t errlen);
void review_users_destroy(review_users_t **self_p);
size_t review_users_count(const review_users_t *self);
const char *review_users_name(const review_users_t *self, size_t i);

/* Whether name is a reviewer whose password is password. An unknown name
 * costs the same work as a known one (a dummy hash is checked), so the
 * time taken does not tell which names exist. */
bool review_users_verify(const review_users_t *self, const char *name, const char *password);

/* Whether a name may be used (see above). */
bool review_user_name_valid(const char *name);

/* A new hash of password (malloc'ed), or NULL when out of memory or the
 * random generator fails. iterations 0 = REVIEW_USERS_ITERATIONS. */
char *review_password_hash(const char *password, unsigned iterations);
/* Whether password matches an encoded hash (constant-time compare). */
bool review_password_check(const char *encoded, const char *password);

/* Adds the user or replaces their hash (password given in clear, hashed
 * here), or with password NULL removes them. The file is rewritten through
 * a temporary file and rename(), mode 0600, comments kept. 0, or -1 with
 * err; removing an unknown user is an error. */
int review_users_update(const char *path, const char *name, const char *password,
                        unsigned iterations, char *err, size_t errlen);

#endif
