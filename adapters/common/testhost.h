/* testhost.h — an in-memory lgsp_host_api_t for the unit tests of the
 * adapter code (never linked into a plugin): settings from a list, state
 * and batches in memory, wait() that only adds up what was asked, counters
 * and log lines kept for the test to look at. */
#ifndef ADAPTERS_COMMON_TESTHOST_H
#define ADAPTERS_COMMON_TESTHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lgsp/adapter.h>

typedef struct {
    char  *source_id, *position, *content_type, *reason;   /* reason: quarantined */
    char  *payload;
    size_t payload_len;
    bool   quarantined;
} th_record_t;

struct lgsp_adapter {
    const char *const *settings;  /* "path", "value", ..., NULL */
    const char *settings_json;
    char       *state;
    size_t      state_len;
    unsigned    commits;
    th_record_t *recs;
    size_t      nrecs;
    size_t      batch_limit;      /* records per batch (default 1000) */
    uint64_t    waited_ms;        /* sum of wait() requests */
    unsigned    waits;
    bool        real_sleep;       /* wait() sleeps for real (at most 2 s a call) */
    bool        stop;             /* stopping() */
    unsigned    stop_after_waits; /* > 0: stopping once this many waits happened */
    int         fail_commit;      /* > 0: this many commits fail with LGSP_AE_JOURNAL */
    unsigned    fail_on_commit;   /* > 0: the commit call with this number (from 1) fails */
    unsigned    commit_calls;
    uint64_t    dups;             /* records committed again (same id and payload) */
    char        error[512];       /* setting_error / last_error */
    char        log[8192];        /* every log line, '\n'-separated */
    unsigned    warnings;
    struct { char name[48]; uint64_t n; } counters[16];
};

extern const lgsp_host_api_t th_host;

/* Resets everything but the settings and the state. */
void     th_reset(lgsp_adapter_t *a);
void     th_free(lgsp_adapter_t *a);
uint64_t th_counter(lgsp_adapter_t *a, const char *name);
/* Records (not quarantined) stored so far with this source id. */
size_t   th_count_id(lgsp_adapter_t *a, const char *source_id);
size_t   th_quarantined(lgsp_adapter_t *a);

#endif
