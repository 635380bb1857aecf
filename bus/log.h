/* log.h — leveled logging to stderr for lgspd and its subsystems.
 *
 * One line per event: "2026-11-23T09:40:01.123Z lgspd[pid] LEVEL subsystem: text".
 * Thread-safe (one fprintf per line). Never log personal data: payloads,
 * names and ids of people stay out of the log; message ids and offsets are fine. */
#ifndef LGSP_LOG_H
#define LGSP_LOG_H

typedef enum {
    LOG_ERROR = 0,
    LOG_WARN  = 1,
    LOG_INFO  = 2,
    LOG_DEBUG = 3,
} log_level_t;

void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* "error" | "warn" | "info" | "debug" -> 0, or -1 if unknown. */
int log_level_parse(const char *text, log_level_t *out);
const char *log_level_name(log_level_t level);

void log_write(log_level_t level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(sub, ...) log_write(LOG_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_write(LOG_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...)  do { if (log_get_level() >= LOG_INFO) log_write(LOG_INFO, sub, __VA_ARGS__); } while (0)
#define log_debug(sub, ...) do { if (log_get_level() >= LOG_DEBUG) log_write(LOG_DEBUG, sub, __VA_ARGS__); } while (0)

#endif
