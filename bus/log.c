/* log.c — leveled logging to stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int s_level = LOG_INFO;
static const char *const s_names[] = { "error", "warn", "info", "debug" };

void log_set_level(log_level_t level) { atomic_store(&s_level, (int) level); }
log_level_t log_get_level(void) { return (log_level_t) atomic_load(&s_level); }
const char *log_level_name(log_level_t level)
{
    return (unsigned) level < 4 ? s_names[level] : "?";
}

int log_level_parse(const char *text, log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(text, s_names[i]) == 0) {
            *out = (log_level_t) i;
            return 0;
        }
    return -1;
}

void log_write(log_level_t level, const char *subsystem, const char *fmt, ...)
{
    if ((int) level > atomic_load(&s_level))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One fprintf so that lines from different threads do not interleave. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ lgspd[%d] %s %s: %s\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec, (int) (tv.tv_usec / 1000), (int) getpid(),
            log_level_name(level), subsystem, msg);
}
