/* simconf.h — the configuration of lgsp-sim: a small INI file
 *
 *     data = /tmp/world          # the generator's output (lgsp-gen --out)
 *     [qn-population]
 *     port = 18601
 *
 * and --set section.key=value on the command line. Every setting is one row
 * of one table (simconf.c): section, key, type, default, help; the table
 * drives parsing, defaults and `lgsp-sim --help-config`. */
#ifndef LGSP_SIM_SIMCONF_H
#define LGSP_SIM_SIMCONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { SIM_QN_POP = 0, SIM_DN_POP, SIM_QN_LAND, SIM_DN_LAND, SIM_QN_CIVIL, SIM_DN_CIVIL, SIM__COUNT };

extern const char *const sim_name[SIM__COUNT];

typedef struct {
    bool   enabled;
    long   port;            /* TCP port on 127.0.0.1; 0 = any free port */
    char  *dir;             /* drop folder / database folder ("" = <work>/<name>) */
    char  *api_key;         /* qn-population X-API-Key, dn-civil bearer token */
    char  *username;        /* dn-population WS-Security user ("" = no auth) */
    char  *password;        /* dn-population WS-Security / dn-land reader password */
    long   interval_ms;     /* file drops: time between two files */
    long   max_page_size;
    char  *webhook;         /* dn-civil: where events are POSTed ("" = no push) */
    char  *push_from;       /* dn-civil: events sent from then on are pushed */
    char  *secret;          /* dn-civil: HMAC-SHA256 key of X-Signature */
    double rate;            /* dn-civil: events pushed per second (0 = no limit) */
    long   retry_ms;        /* dn-civil: first retry delay */
    long   retry_max;       /* dn-civil: attempts per event before it is parked */
} simopts_t;

typedef struct {
    char     *data;          /* lgsp-gen --out folder */
    char     *ref;           /* the reference data (../shared/data) */
    char     *work;          /* where drop folders and the database live */
    char     *pg_script;     /* sim/servers/pg-dn-land.sh */
    uint64_t  seed;
    long      control_port;
    long      change_every_ms;   /* 0 = changes only on command */
    long      change_batch;      /* changes per tick / per SIGUSR1 */
    simopts_t sim[SIM__COUNT];
} simconf_t;

/* Fills the defaults (ref and pg_script from the build). */
void simconf_defaults(simconf_t *c, const char *ref_default, const char *pg_script_default);
void simconf_free(simconf_t *c);
/* Reads a file; 0, or -1 with "file:line: what" in err. */
int  simconf_load(simconf_t *c, const char *path, char *err, size_t errsz);
/* One "section.key=value" or "key=value" (global); 0 or -1 with err. */
int  simconf_set(simconf_t *c, const char *assignment, char *err, size_t errsz);
/* --base-port P: control P, the six systems P+1..P+6 (P = 0: all any free). */
void simconf_base_port(simconf_t *c, long base);
/* Fills the derived defaults (folders under work). 0 or -1 with err. */
int  simconf_finish(simconf_t *c, char *err, size_t errsz);
/* The table as help text. */
void simconf_help(FILE *out);
/* Index of a simulator name, or -1. */
int  sim_index(const char *name);

#endif
