/* simconf.c — see simconf.h. */
#include "simconf.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "simutil.h"

const char *const sim_name[SIM__COUNT] = {
    "qn-population", "dn-population", "qn-land", "dn-land", "qn-civil", "dn-civil"
};

typedef enum { T_STR, T_LONG, T_DOUBLE, T_BOOL, T_U64 } s_type_t;

typedef struct {
    int         section;     /* -1 global, else SIM_* */
    const char *key;
    s_type_t    type;
    size_t      off;         /* in simconf_t (global) or simopts_t */
    const char *def;
    double      lo, hi;      /* bounds of numbers */
    const char *help;
} s_row_t;

#define G(k, t, f, d, lo, hi, h) { -1, k, t, offsetof(simconf_t, f), d, lo, hi, h }
#define S(s, k, t, f, d, lo, hi, h) { s, k, t, offsetof(simopts_t, f), d, lo, hi, h }

static const s_row_t s_rows[] = {
    G("data", T_STR, data, "", 0, 0, "the generator's output folder (lgsp-gen --out DIR); required"),
    G("ref", T_STR, ref, NULL, 0, 0, "reference data (../shared/data): names and 2025 communes for changes"),
    G("work", T_STR, work, "lgsp-sim-work", 0, 0, "folder for drop folders and the database, unless set per system"),
    G("seed", T_U64, seed, "1", 0, 0, "seed of the changes and of the fault draws"),
    G("control_port", T_LONG, control_port, "18600", 0, 65535, "control endpoint (0 = any free port)"),
    G("change_every_ms", T_LONG, change_every_ms, "0", 0, 86400000, "apply change_batch changes to every system this often (0 = only on command)"),
    G("change_batch", T_LONG, change_batch, "10", 1, 100000, "changes per tick, per SIGUSR1"),

    S(SIM_QN_POP, "enabled", T_BOOL, enabled, "true", 0, 0, "start this system"),
    S(SIM_QN_POP, "port", T_LONG, port, "18601", 0, 65535, "REST port"),
    S(SIM_QN_POP, "api_key", T_STR, api_key, "qn-dancu-sim-key", 0, 0, "value of the X-API-Key header"),
    S(SIM_QN_POP, "max_page_size", T_LONG, max_page_size, "1000", 1, 100000, "largest page_size"),

    S(SIM_DN_POP, "enabled", T_BOOL, enabled, "true", 0, 0, "start this system"),
    S(SIM_DN_POP, "port", T_LONG, port, "18602", 0, 65535, "SOAP port"),
    S(SIM_DN_POP, "username", T_STR, username, "lgsp", 0, 0, "WS-Security UsernameToken user (empty = no authentication)"),
    S(SIM_DN_POP, "password", T_STR, password, "dn-dancu-sim-pass", 0, 0, "its password (PasswordText)"),
    S(SIM_DN_POP, "max_page_size", T_LONG, max_page_size, "500", 1, 100000, "largest SoBanGhi"),

    S(SIM_QN_LAND, "enabled", T_BOOL, enabled, "true", 0, 0, "start this system"),
    S(SIM_QN_LAND, "dir", T_STR, dir, "", 0, 0, "drop folder (default <work>/qn-land)"),
    S(SIM_QN_LAND, "interval_ms", T_LONG, interval_ms, "1000", 0, 86400000, "time between two export files (0 = all at once)"),

    S(SIM_DN_LAND, "enabled", T_BOOL, enabled, "true", 0, 0, "start this system"),
    S(SIM_DN_LAND, "port", T_LONG, port, "18604", 0, 65535, "PostgreSQL port (0 = a free port)"),
    S(SIM_DN_LAND, "dir", T_STR, dir, "", 0, 0, "folder of the database cluster (default <work>/dn-land)"),
    S(SIM_DN_LAND, "password", T_STR, password, "dn-land-sim-pass", 0, 0, "password of the read-only role lgsp_reader"),

    S(SIM_QN_CIVIL, "enabled", T_BOOL, enabled, "true", 0, 0, "start this system"),
    S(SIM_QN_CIVIL, "dir", T_STR, dir, "", 0, 0, "drop folder (default <work>/qn-civil)"),
    S(SIM_QN_CIVIL, "interval_ms", T_LONG, interval_ms, "200", 0, 86400000, "time between two export files (0 = all at once)"),

    S(SIM_DN_CIVIL, "enabled", T_BOOL, enabled, "true", 0, 0, "start this system"),
    S(SIM_DN_CIVIL, "port", T_LONG, port, "18606", 0, 65535, "backfill REST port"),
    S(SIM_DN_CIVIL, "api_key", T_STR, api_key, "dn-hotich-sim-token", 0, 0, "bearer token of the backfill API"),
    S(SIM_DN_CIVIL, "max_page_size", T_LONG, max_page_size, "1000", 1, 100000, "largest page_size of the backfill"),
    S(SIM_DN_CIVIL, "webhook", T_STR, webhook, "", 0, 0, "URL the events are POSTed to (empty = no push)"),
    S(SIM_DN_CIVIL, "push_from", T_STR, push_from, "2025-07-01T00:00:00+07:00", 0, 0, "events sent from this time on are pushed; earlier ones only by backfill"),
    S(SIM_DN_CIVIL, "rate", T_DOUBLE, rate, "20", 0, 1e6, "events pushed per second (0 = as fast as the receiver takes them)"),
    S(SIM_DN_CIVIL, "secret", T_STR, secret, "dn-hotich-sim-secret", 0, 0, "HMAC-SHA256 key of the X-Signature header (empty = unsigned)"),
    S(SIM_DN_CIVIL, "retry_ms", T_LONG, retry_ms, "500", 1, 600000, "first retry after a failed delivery; doubles up to 30 s"),
    S(SIM_DN_CIVIL, "retry_max", T_LONG, retry_max, "8", 1, 1000000, "attempts per event before it is parked (fetch it by backfill)"),
};

#define N_ROWS (sizeof s_rows / sizeof s_rows[0])

int sim_index(const char *name)
{
    for (int i = 0; i < SIM__COUNT; i++)
        if (strcmp(name, sim_name[i]) == 0)
            return i;
    return -1;
}

static void *s_field(simconf_t *c, const s_row_t *r)
{
    char *base = r->section < 0 ? (char *)c : (char *)&c->sim[r->section];
    return base + r->off;
}

static int s_assign(simconf_t *c, const s_row_t *r, const char *v, char *err, size_t errsz)
{
    void *f = s_field(c, r);
    switch (r->type) {
    case T_STR: {
        char **s = f;
        free(*s);
        *s = xstrdup(v);
        return 0;
    }
    case T_LONG: {
        long x;
        if (sim_parse_long(v, (long)r->lo, (long)r->hi, &x)) {
            snprintf(err, errsz, "%s: an integer in [%.0f, %.0f] expected, not '%s'", r->key,
                     r->lo, r->hi, v);
            return -1;
        }
        *(long *)f = x;
        return 0;
    }
    case T_DOUBLE: {
        double x;
        if (sim_parse_double(v, r->lo, r->hi, &x)) {
            snprintf(err, errsz, "%s: a number in [%g, %g] expected, not '%s'", r->key, r->lo,
                     r->hi, v);
            return -1;
        }
        *(double *)f = x;
        return 0;
    }
    case T_U64: {
        char *end;
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end || *v == '-') {
            snprintf(err, errsz, "%s: a non-negative integer expected, not '%s'", r->key, v);
            return -1;
        }
        *(uint64_t *)f = x;
        return 0;
    }
    case T_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
            *(bool *)f = true;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
            *(bool *)f = false;
        else {
            snprintf(err, errsz, "%s: true or false expected, not '%s'", r->key, v);
            return -1;
        }
        return 0;
    }
    return -1;
}

static int s_set(simconf_t *c, int section, const char *key, const char *value, char *err,
                 size_t errsz)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (s_rows[i].section == section && strcmp(s_rows[i].key, key) == 0)
            return s_assign(c, &s_rows[i], value, err, errsz);
    snprintf(err, errsz, "unknown setting '%s%s%s' (lgsp-sim --help-config lists them)",
             section < 0 ? "" : sim_name[section], section < 0 ? "" : ".", key);
    return -1;
}

void simconf_defaults(simconf_t *c, const char *ref_default, const char *pg_script_default)
{
    memset(c, 0, sizeof *c);
    char err[256];
    for (size_t i = 0; i < N_ROWS; i++)
        if (s_rows[i].def)
            s_assign(c, &s_rows[i], s_rows[i].def, err, sizeof err);
    c->ref = xstrdup(ref_default);
    c->pg_script = xstrdup(pg_script_default);
}

void simconf_free(simconf_t *c)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (s_rows[i].type == T_STR) {
            char **s = s_field(c, &s_rows[i]);
            free(*s);
            *s = NULL;
        }
    free(c->ref);
    free(c->pg_script);
    c->ref = c->pg_script = NULL;
}

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

int simconf_load(simconf_t *c, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: cannot open: %m", path);
        return -1;
    }
    char line[4096], msg[512];
    int section = -1, lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        /* a '#' starts a comment unless inside the value after '=' with no space before */
        char *hash = strstr(line, " #");
        if (hash)
            *hash = 0;
        char *s = s_trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || e[1]) {
                snprintf(err, errsz, "%s:%d: a section is written [name]", path, lineno);
                rc = -1;
                break;
            }
            *e = 0;
            section = sim_index(s_trim(s + 1));
            if (section < 0) {
                snprintf(err, errsz, "%s:%d: unknown system '%s' (one of qn-population, "
                         "dn-population, qn-land, dn-land, qn-civil, dn-civil)", path, lineno, s + 1);
                rc = -1;
                break;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errsz, "%s:%d: 'key = value' expected", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = s_trim(s), *val = s_trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = 0;
            val++;
        }
        if (s_set(c, section, key, val, msg, sizeof msg)) {
            snprintf(err, errsz, "%s:%d: %s", path, lineno, msg);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int simconf_set(simconf_t *c, const char *assignment, char *err, size_t errsz)
{
    const char *eq = strchr(assignment, '=');
    if (!eq) {
        snprintf(err, errsz, "--set: 'system.key=value' or 'key=value' expected");
        return -1;
    }
    char key[128];
    size_t kl = (size_t)(eq - assignment);
    if (kl >= sizeof key) {
        snprintf(err, errsz, "--set: key too long");
        return -1;
    }
    memcpy(key, assignment, kl);
    key[kl] = 0;
    int section = -1;
    char *dot = strchr(key, '.');
    if (dot) {
        *dot = 0;
        section = sim_index(key);
        if (section < 0) {
            snprintf(err, errsz, "--set: unknown system '%s'", key);
            return -1;
        }
        memmove(key, dot + 1, strlen(dot + 1) + 1);
    }
    char msg[400];
    if (s_set(c, section, key, eq + 1, msg, sizeof msg)) {
        snprintf(err, errsz, "--set: %s", msg);
        return -1;
    }
    return 0;
}

void simconf_base_port(simconf_t *c, long base)
{
    c->control_port = base;
    for (int i = 0; i < SIM__COUNT; i++)
        c->sim[i].port = base ? base + 1 + i : 0;
}

int simconf_finish(simconf_t *c, char *err, size_t errsz)
{
    if (!c->data || !*c->data) {
        snprintf(err, errsz, "no data folder: give --data DIR or 'data = DIR' (lgsp-gen --out DIR)");
        return -1;
    }
    static const int with_dir[] = { SIM_QN_LAND, SIM_DN_LAND, SIM_QN_CIVIL };
    for (size_t i = 0; i < sizeof with_dir / sizeof with_dir[0]; i++) {
        simopts_t *o = &c->sim[with_dir[i]];
        if (!o->dir || !*o->dir) {
            size_t n = strlen(c->work) + strlen(sim_name[with_dir[i]]) + 2;
            free(o->dir);
            o->dir = xmalloc(n);
            snprintf(o->dir, n, "%s/%s", c->work, sim_name[with_dir[i]]);
        }
    }
    return 0;
}

void simconf_help(FILE *out)
{
    int last = -2;
    for (size_t i = 0; i < N_ROWS; i++) {
        const s_row_t *r = &s_rows[i];
        if (r->section != last) {
            if (r->section < 0)
                fputs("# global\n", out);
            else
                fprintf(out, "\n[%s]\n", sim_name[r->section]);
            last = r->section;
        }
        fprintf(out, "%-16s = %-28s # %s\n", r->key, r->def ? r->def : "(build default)", r->help);
    }
}
