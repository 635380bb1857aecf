/* adcfg.h — reading an adapter's settings (host->setting(), every scalar a
 * string) as numbers, durations, sizes and booleans, with bounds, and the
 * settings common to the pull plugins (HTTP options, paging, watermark).
 *
 * Each function returns 0 and stores the value (the default when the
 * setting is absent or empty), or LGSP_AE_INVALID after host->setting_error()
 * said what is wrong, so init can `if (adcfg_x(...) < 0) return -1;`. */
#ifndef ADAPTERS_COMMON_ADCFG_H
#define ADAPTERS_COMMON_ADCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lgsp/adapter.h>

#include "httpfetch.h"
#include "incsync.h"

/* A string (borrowed for the adapter's life); def may be NULL. */
const char *adcfg_str(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, const char *def);
/* A required non-empty string: NULL after setting_error() when missing. */
const char *adcfg_required(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path);
int adcfg_long(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, long def,
               long min, long max, long *out);
int adcfg_double(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, double def,
                 double min, double max, double *out);
/* "250ms", "5s", "2m", "1h", "1.5s"; a bare number is seconds. */
int adcfg_duration_ms(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path,
                      uint64_t def, uint64_t *out);
/* "1048576", "512k", "64MiB", "1MB" (k/M/G are powers of 1024). */
int adcfg_size(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, size_t def,
               size_t *out);
/* true/false, yes/no, on/off, 1/0. */
int adcfg_bool(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, bool def, bool *out);

/* Parsers behind the above (0 = ok, -1 = not such a value). */
int adcfg_parse_duration_ms(const char *text, uint64_t *out);
int adcfg_parse_size(const char *text, size_t *out);

/* A secret given inline (`name`) or in a file (`file_setting`, e.g.
 * password_file: its content without the trailing newline), so config files
 * can stay free of secrets. Caller frees; NULL after setting_error() (both
 * given, unreadable file), or with *out_absent true when neither is set. */
char *adcfg_secret(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *name,
                   const char *file_setting, bool *out_absent);

/* The HTTP options every pull plugin has: timeout, connect_timeout,
 * retries, backoff, backoff_max, retry_after_max, rate_limit (requests/s),
 * rate_burst, max_body. */
int adcfg_http(const lgsp_host_api_t *h, lgsp_adapter_t *a, httpfetch_opts_t *opts);

/* The incremental-sync settings: watermark_type (time|number|string),
 * since_format (raw|iso8601|utc|unix|unix_ms), default_offset ("+07:00"),
 * since_overlap (a duration), first_page, initial_since, page_order
 * (ascending|descending, incsync.h). */
int adcfg_incsync(const lgsp_host_api_t *h, lgsp_adapter_t *a, incsync_conf_t *c);

/* Extra request headers from the `headers:` map and `auth.header` +
 * `auth.value` or `auth.value_file` (e.g. X-API-Key), as a NULL-terminated array of
 * "Name: value" lines (caller frees with adcfg_headers_free). extra lines
 * (NULL-terminated, may be NULL) come first. */
char **adcfg_headers(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *const *extra);
void   adcfg_headers_free(char ***headers_p);

#endif
