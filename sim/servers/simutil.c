/* simutil.c — see simutil.h. */
#include "simutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int s_digits(const char *s, size_t n, size_t at, size_t k, int *out)
{
    if (at + k > n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static bool s_valid_date(int y, int m, int d)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    return true;
}

int simts_parse(const char *s, size_t n, int64_t *ts)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (s_digits(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || s_digits(s, n, 5, 2, &mo)
        || s[7] != '-' || s_digits(s, n, 8, 2, &d) || !s_valid_date(y, mo, d))
        return -1;
    int off = 7 * 3600;               /* seconds east of UTC */
    size_t at = 10;
    if (n > 10) {
        if ((s[10] != 'T' && s[10] != ' ') || s_digits(s, n, 11, 2, &h) || n < 19
            || s[13] != ':' || s_digits(s, n, 14, 2, &mi) || s[16] != ':'
            || s_digits(s, n, 17, 2, &se) || h > 23 || mi > 59 || se > 60)
            return -1;
        at = 19;
        if (at < n && s[at] == '.') {          /* fractional seconds: ignored */
            at++;
            while (at < n && s[at] >= '0' && s[at] <= '9')
                at++;
        }
        if (at < n) {
            if (s[at] == 'Z' && at + 1 == n) {
                off = 0;
                at++;
            } else if (s[at] == '+' || s[at] == '-') {
                int oh, om = 0;
                if (s_digits(s, n, at + 1, 2, &oh) || oh > 14)
                    return -1;
                size_t e = at + 3;
                if (e < n) {
                    if (s[e] == ':')
                        e++;
                    if (s_digits(s, n, e, 2, &om) || om > 59)
                        return -1;
                    e += 2;
                }
                off = (oh * 3600 + om * 60) * (s[at] == '-' ? -1 : 1);
                at = e;
            }
        }
    }
    if (at != n)
        return -1;
    /* local +07:00 seconds of the generator = UTC + 7 h */
    int64_t local = ts_from_date(date_make(y, mo, d), h * 3600 + mi * 60 + se);
    *ts = local - off + 7 * 3600;
    return 0;
}

int simdate_parse_dmy(const char *s, size_t n, int32_t *days)
{
    int y, m, d;
    if (n != 10 || s_digits(s, n, 0, 2, &d) || s[2] != '/' || s_digits(s, n, 3, 2, &m)
        || s[5] != '/' || s_digits(s, n, 6, 4, &y) || !s_valid_date(y, m, d))
        return -1;
    *days = date_make(y, m, d);
    return 0;
}

int sim_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int sim_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

void simlog(const char *who, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lgsp-sim: %s: %s\n", who, line);
}

int64_t sim_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

bool sim_sleep_ms(int64_t ms, volatile bool *stop)
{
    int64_t until = sim_now_ms() + ms;
    for (;;) {
        if (stop && *stop)
            return true;
        int64_t left = until - sim_now_ms();
        if (left <= 0)
            return false;
        if (left > 50)
            left = 50;
        struct timespec t = { .tv_sec = 0, .tv_nsec = (long)left * 1000000L };
        nanosleep(&t, NULL);
    }
}

int sim_read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *p = malloc(n + 1);
    if (!p) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(p);
            close(fd);
            errno = e;
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    p[n] = 0;
    *out = p;
    if (len)
        *len = n;
    return 0;
}

static int s_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sim_write_atomic(const char *dir, const char *name, const char *p, size_t len, bool abandon)
{
    char tmp[4096], dst[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.part", dir, name) >= sizeof tmp
        || (size_t)snprintf(dst, sizeof dst, "%s/%s", dir, name) >= sizeof dst) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (abandon) {                 /* the exporter dies half-way */
        int rc = s_write_all(fd, p, len / 2);
        close(fd);
        return rc;
    }
    if (s_write_all(fd, p, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int sim_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = EINVAL;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

uint16_t sim_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0
        && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int sim_json_str(const char *line, size_t len, const char *key, const char **v, size_t *n)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":", key);
    if (pl <= 0 || (size_t)pl >= sizeof pat)
        return -1;
    const char *end = line + len;
    const char *p = memmem(line, len, pat, (size_t)pl);
    if (!p)
        return -1;
    p += pl;
    if (p >= end || *p != '"')
        return -1;
    p++;
    const char *q = p;
    while (q < end && *q != '"') {
        if (*q == '\\' && q + 1 < end)
            q++;
        q++;
    }
    if (q >= end)
        return -1;
    *v = p;
    *n = (size_t)(q - p);
    return 0;
}

int sim_run(const char *const argv[], sbuf_t *out)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        /* the child must not inherit lgsp-sim's blocked signals */
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[4096];
    for (;;) {
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (out)
            sbuf_put(out, buf, (size_t)r);
    }
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}
