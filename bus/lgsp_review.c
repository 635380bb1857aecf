/* lgsp_review.c — `lgsp review-user FILE add|remove|list [NAME]`: keeps the
 * users file of lgspd's review page (reviewusers.h). The password is read
 * from the terminal without echo (twice), or as the first line of standard
 * input when that is not a terminal (scripts, tests); never from the
 * command line, where other users could read it in the process list. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "lgsp_review.h"
#include "reviewusers.h"

void lgsp_review_user_usage(FILE *out)
{
    fprintf(out,
            "usage: lgsp review-user FILE add NAME [--iterations N]\n"
            "       lgsp review-user FILE remove NAME\n"
            "       lgsp review-user FILE list\n\n"
            "Keeps the reviewers of lgspd's review page (review.users in lgspd.yaml):\n"
            "add creates the reviewer or sets a new password, remove deletes them, list\n"
            "prints the names. The password is asked twice on a terminal, else read as the\n"
            "first line of standard input. It is stored as PBKDF2-HMAC-SHA256 with a random\n"
            "salt (default %u iterations); the file is written with mode 0600, and lgspd\n"
            "reads it again when it changes.\n",
            REVIEW_USERS_ITERATIONS);
}

/* One line from the terminal without echo, or from stdin; NULL on EOF. */
static char *s_read_password(const char *prompt)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t) ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        } else
            tty = false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

static void s_forget(char *pw)
{
    if (pw)
        OPENSSL_cleanse(pw, strlen(pw));
    free(pw);
}

int lgsp_review_user_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"iterations", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    unsigned iterations = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': iterations = (unsigned) strtoul(optarg, NULL, 10); break;
        case 'h': lgsp_review_user_usage(stdout); return 0;
        default: lgsp_review_user_usage(stderr); return 2;
        }
    }
    int rest = argc - optind;
    const char *file = rest >= 1 ? argv[optind] : NULL, *verb = rest >= 2 ? argv[optind + 1] : NULL;
    const char *name = rest >= 3 ? argv[optind + 2] : NULL;
    char err[600];
    if (verb && strcmp(verb, "list") == 0 && rest == 2) {
        review_users_t *u = review_users_load(file, err, sizeof err);
        if (!u) {
            fprintf(stderr, "lgsp: %s\n", err);
            return 1;
        }
        for (size_t i = 0; i < review_users_count(u); i++)
            printf("%s\n", review_users_name(u, i));
        review_users_destroy(&u);
        return 0;
    }
    if (!verb || !name || rest != 3 || (strcmp(verb, "add") != 0 && strcmp(verb, "remove") != 0)) {
        lgsp_review_user_usage(stderr);
        return 2;
    }
    if (!review_user_name_valid(name)) {
        fprintf(stderr, "lgsp: '%s' is not a valid reviewer name (1-%d bytes of UTF-8, no ':' or "
                "control characters)\n", name, REVIEW_USER_NAME_MAX);
        return 2;
    }
    char *pw = NULL;
    if (strcmp(verb, "add") == 0) {
        pw = s_read_password("password: ");
        if (!pw || !*pw) {
            fprintf(stderr, "lgsp: no password given\n");
            s_forget(pw);
            return 2;
        }
        if (isatty(STDIN_FILENO)) {
            char *again = s_read_password("again: ");
            bool same = again && strcmp(again, pw) == 0;
            s_forget(again);
            if (!same) {
                fprintf(stderr, "lgsp: the passwords differ\n");
                s_forget(pw);
                return 2;
            }
        }
    }
    int rc = review_users_update(file, name, pw, iterations, err, sizeof err);
    s_forget(pw);
    if (rc) {
        fprintf(stderr, "lgsp: %s\n", err);
        return 1;
    }
    printf("%s: reviewer %s %s\n", file, name, strcmp(verb, "add") == 0 ? "set" : "removed");
    return 0;
}
