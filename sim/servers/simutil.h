/* simutil.h — small helpers shared by the simulators (lgsp-sim): timestamps
 * in the views' own forms, strict number parsing, logging, files.
 *
 * Timestamps are the generator's (sim/gen/util.h): seconds since
 * 1970-01-01T00:00:00 local time of the city (+07:00), so sbuf_ts_iso() and
 * sbuf_ts_sql() print them back with the +07:00 offset. */
#ifndef LGSP_SIM_SIMUTIL_H
#define LGSP_SIM_SIMUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Parses an ISO 8601 timestamp "YYYY-MM-DDTHH:MM:SS" with "+hh:mm", "Z" or
 * no offset (taken as +07:00), also with a space instead of 'T' and the SQL
 * form "+07"; or a bare date "YYYY-MM-DD" (midnight +07:00). n is the length
 * of s (s need not be terminated). Returns 0 and sets *ts, or -1. */
int  simts_parse(const char *s, size_t n, int64_t *ts);
/* Parses "dd/mm/yyyy" into a day number of util.h. Returns 0 or -1. */
int  simdate_parse_dmy(const char *s, size_t n, int32_t *days);

/* Strict decimal parsing of a whole string within [lo, hi]; 0 or -1. */
int  sim_parse_long(const char *s, long lo, long hi, long *out);
int  sim_parse_double(const char *s, double lo, double hi, double *out);

/* Log a line on stderr, prefixed "lgsp-sim: <who>: ". Never personal data. */
__attribute__((format(printf, 2, 3)))
void simlog(const char *who, const char *fmt, ...);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t sim_now_ms(void);
/* Sleeps ms milliseconds, in slices, returning early (true) when *stop
 * becomes true. stop may be NULL. */
bool sim_sleep_ms(int64_t ms, volatile bool *stop);

/* Reads a whole file into *out (malloc'd, NUL-terminated). 0 or -1 (errno). */
int  sim_read_file(const char *path, char **out, size_t *len);
/* Writes len bytes to dir/name atomically: dir/.name.part first, then
 * rename(2). When abandon is true the .part file is left half-written and
 * not renamed (a crashed export). 0 or -1 (errno). */
int  sim_write_atomic(const char *dir, const char *name, const char *p, size_t len,
                      bool abandon);
/* mkdir -p that reports errors instead of exiting. 0 or -1 (errno). */
int  sim_mkdirs(const char *path);

/* Runs argv (argv[0] looked up in PATH), its stdout appended to out (may be
 * NULL: discarded), stderr inherited. Returns the exit status, 128+signal
 * when killed, or -1 when it could not be started. */
int  sim_run(const char *const argv[], sbuf_t *out);

/* A loopback TCP port nobody is listening on now (bind to port 0). 0 on failure. */
uint16_t sim_free_port(void);

/* Finds the JSON string value of "key" in one flat JSON object line (the
 * generator's views: no escaped quotes in keys). Sets *v and *n to the raw value
 * between the quotes; returns 0, or -1 when absent or null. */
int  sim_json_str(const char *line, size_t len, const char *key, const char **v, size_t *n);

#endif
