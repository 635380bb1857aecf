/* test-reviewusers.c — the review page's users file and password hashes
 * (bus/reviewusers.c): hash and check, a wrong password, a changed hash,
 * names, the file's lines and their errors, add / replace / remove through
 * review_users_update (mode 0600, comments kept). Low iteration counts keep
 * it quick; the default is checked once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "reviewusers.h"

static char s_dir[] = "/tmp/test-reviewusers-XXXXXX";

static char *s_path(const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", s_dir, name) > 0);
    return p;
}

static char *s_write(const char *name, const char *text)
{
    char *p = s_path(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_hash_check(void **state)
{
    char *h = review_password_hash("mật khẩu", 1000);
    assert_non_null(h);
    assert_memory_equal(h, "pbkdf2-sha256$1000$", 19);
    assert_true(review_password_check(h, "mật khẩu"));
    assert_false(review_password_check(h, "mat khau"));
    assert_false(review_password_check(h, ""));
    assert_false(review_password_check(h, NULL));
    /* a salt each time */
    char *h2 = review_password_hash("mật khẩu", 1000);
    assert_string_not_equal(h, h2);
    /* one character of the key changed: refused */
    size_t n = strlen(h);
    h[n - 3] = h[n - 3] == 'A' ? 'B' : 'A';
    assert_false(review_password_check(h, "mật khẩu"));
    free(h);
    free(h2);
    /* the default count */
    h = review_password_hash("x", 0);
    assert_non_null(h);
    assert_memory_equal(h, "pbkdf2-sha256$600000$", 21);
    free(h);
    /* out of bounds and malformed */
    assert_null(review_password_hash("x", 10));
    assert_false(review_password_check("pbkdf2-sha256$1000$abc$def", "x"));
    assert_false(review_password_check("md5$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "x"));
    assert_false(review_password_check("", "x"));
    assert_false(review_password_check(NULL, "x"));
}

static void test_names(void **state)
{
    assert_true(review_user_name_valid("Trần Lan"));
    assert_true(review_user_name_valid("bob.smith-2"));
    assert_false(review_user_name_valid(""));
    assert_false(review_user_name_valid(NULL));
    assert_false(review_user_name_valid("a:b"));
    assert_false(review_user_name_valid("tab\there"));
    assert_false(review_user_name_valid("\xc3("));          /* broken UTF-8 */
    assert_false(review_user_name_valid("\xc0\xaf"));       /* overlong */
    char longname[REVIEW_USER_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(review_user_name_valid(longname));
    longname[REVIEW_USER_NAME_MAX] = '\0';
    assert_true(review_user_name_valid(longname));
}

static void test_file(void **state)
{
    char *h = review_password_hash("pw", 1000), *text = NULL;
    assert_true(asprintf(&text, "# reviewers\n\nTrần Lan:%s\n  # indented comment\nbob:%s", h, h) > 0);
    char *p = s_write("users", text);
    char err[600];
    review_users_t *u = review_users_load(p, err, sizeof err);
    assert_non_null(u);
    assert_int_equal(review_users_count(u), 2);
    assert_string_equal(review_users_name(u, 0), "Trần Lan");
    assert_string_equal(review_users_name(u, 1), "bob");
    assert_null(review_users_name(u, 2));
    assert_true(review_users_verify(u, "Trần Lan", "pw"));
    assert_true(review_users_verify(u, "bob", "pw"));
    assert_false(review_users_verify(u, "bob", "PW"));
    assert_false(review_users_verify(u, "nobody", "pw"));
    assert_false(review_users_verify(u, NULL, "pw"));
    assert_false(review_users_verify(NULL, "bob", "pw"));
    review_users_destroy(&u);
    assert_null(u);
    free(text);
    free(p);

    /* errors name the file and the line */
    static const struct { const char *text, *want; } bad[] = {
        { "# ok\nno colon here\n", ":2: expected name:hash" },
        { "a:b:pbkdf2-sha256$1000$x$y\n", ":1: not a valid reviewer name" },
        { "lan:plain-text-password\n", ":1: not a pbkdf2-sha256 hash" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = s_write("bad", bad[i].text);
        u = review_users_load(p, err, sizeof err);
        assert_null(u);
        assert_non_null(strstr(err, bad[i].want));
        assert_memory_equal(err, p, strlen(p));
        free(p);
    }
    assert_true(asprintf(&text, "lan:%s\nlan:%s\n", h, h) > 0);
    p = s_write("twice", text);
    assert_null(review_users_load(p, err, sizeof err));
    assert_non_null(strstr(err, ":2: a reviewer listed twice"));
    free(p);
    free(text);
    p = s_path("missing");
    assert_null(review_users_load(p, err, sizeof err));
    free(p);
    free(h);
}

static void test_update(void **state)
{
    char *p = s_path("upd");
    char err[600];
    unlink(p);
    assert_int_equal(review_users_update(p, "Trần Lan", "one", 1000, err, sizeof err), 0);
    assert_int_equal(review_users_update(p, "bob", "two", 1000, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    review_users_t *u = review_users_load(p, err, sizeof err);
    assert_non_null(u);
    assert_int_equal(review_users_count(u), 2);
    assert_true(review_users_verify(u, "Trần Lan", "one"));
    review_users_destroy(&u);
    /* a new password replaces the old; the other user and the comment stay */
    assert_int_equal(review_users_update(p, "Trần Lan", "three", 1000, err, sizeof err), 0);
    u = review_users_load(p, err, sizeof err);
    assert_int_equal(review_users_count(u), 2);
    assert_false(review_users_verify(u, "Trần Lan", "one"));
    assert_true(review_users_verify(u, "Trần Lan", "three"));
    assert_true(review_users_verify(u, "bob", "two"));
    review_users_destroy(&u);
    FILE *f = fopen(p, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_int_equal(line[0], '#');
    /* remove; removing again is an error; a bad name is refused */
    assert_int_equal(review_users_update(p, "bob", NULL, 0, err, sizeof err), 0);
    assert_int_equal(review_users_update(p, "bob", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "no reviewer of that name"));
    assert_int_equal(review_users_update(p, "a:b", "x", 1000, err, sizeof err), -1);
    u = review_users_load(p, err, sizeof err);
    assert_int_equal(review_users_count(u), 1);
    assert_string_equal(review_users_name(u, 0), "Trần Lan");
    review_users_destroy(&u);
    free(p);
}

int main(void)
{
    assert_non_null(mkdtemp(s_dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_check),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_update),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", s_dir) > 0 && system(cmd) != 0)
        rc = rc ? rc : 1;
    free(cmd);
    return rc;
}
