/* dn_land.c — the Đà Nẵng land registry: a real PostgreSQL database, made,
 * loaded, changed, failed and stopped by pg-dn-land.sh (this file only runs
 * that script). The integration reads it as role lgsp_reader over TCP on
 * 127.0.0.1, incrementally by updated_at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simutil.h"

typedef struct {
    sim_env_t env;
    uint16_t  port;
    char      dir[4096];
    char      mode[16];
    uint64_t  changes;
} dn_land_t;

static int s_script(dn_land_t *self, const char *cmd, const char *a1, const char *a2,
                    const char *a3, const char *a4, sbuf_t *out)
{
    const char *argv[] = { "bash", self->env.conf->pg_script, cmd, "--dir", self->dir,
                           a1, a2, a3, a4, NULL };
    return sim_run(argv, out);
}

static void *dn_land_create(const sim_env_t *env, char *err, size_t errsz)
{
    dn_land_t *self = xcalloc(1, sizeof *self);
    self->env = *env;
    self->port = env->opts->port ? (uint16_t)env->opts->port : sim_free_port();
    snprintf(self->dir, sizeof self->dir, "%s", env->opts->dir);
    snprintf(self->mode, sizeof self->mode, "none");
    char port[16], data[4096], seed[32];
    snprintf(port, sizeof port, "%u", (unsigned)self->port);
    snprintf(data, sizeof data, "%s/dn-land", env->conf->data);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)env->conf->seed);
    const char *argv[] = { "bash", env->conf->pg_script, "start", "--dir", self->dir,
                           "--port", port, "--data", data, "--password", env->opts->password,
                           "--ref", env->conf->ref, "--seed", seed, NULL };
    sbuf_t out;
    sbuf_init(&out);
    int rc = sim_run(argv, &out);
    sbuf_free(&out);
    if (rc != 0) {
        snprintf(err, errsz, rc == 3 ? "PostgreSQL is not installed and could not be installed "
                                       "(apt-get install -y postgresql postgresql-client)"
                                     : "%s start failed (exit %d; see its messages above)",
                 env->conf->pg_script, rc);
        free(self);
        return NULL;
    }
    return self;
}

static void dn_land_where(void *vself, sbuf_t *out)
{
    dn_land_t *self = vself;
    sbuf_printf(out, "postgresql://lgsp_reader:%s@127.0.0.1:%u/dn_land (PostgreSQL; tables "
                     "thua_dat, chu_su_dung, giay_chung_nhan; folder %s)",
                self->env.opts->password, (unsigned)self->port, self->dir);
}

static int dn_land_change(void *vself, long n, sbuf_t *json)
{
    dn_land_t *self = vself;
    char ns[32];
    snprintf(ns, sizeof ns, "%ld", n);
    size_t at = json->len;
    int rc = s_script(self, "change", "--n", ns, NULL, NULL, json);
    while (json->len > at && (json->p[json->len - 1] == '\n' || json->p[json->len - 1] == ' '))
        json->p[--json->len] = 0;
    if (rc != 0 || json->len == at) {
        json->len = at;
        sbuf_printf(json, "{\"error\":\"pg-dn-land.sh change failed (exit %d)\"}", rc);
        return -1;
    }
    self->changes += (uint64_t)n;
    return 0;
}

static int dn_land_fault(void *vself, const char *mode, const char *count, const char *delay_ms,
                         char *err, size_t errsz)
{
    dn_land_t *self = vself;
    if (!mode || (strcmp(mode, "none") && strcmp(mode, "error") && strcmp(mode, "slow")
                  && strcmp(mode, "drop"))) {
        snprintf(err, errsz, "dn-land modes: none, error (queries denied), slow (tables locked "
                             "for delay_ms), drop (open connections cut)");
        return -1;
    }
    if (count && strcmp(count, "0")) {
        snprintf(err, errsz, "dn-land: count is not supported (a mode holds until mode=none)");
        return -1;
    }
    long d = 5000;
    if (delay_ms && sim_parse_long(delay_ms, 0, 600000, &d)) {
        snprintf(err, errsz, "delay_ms must be an integer in [0, 600000]");
        return -1;
    }
    char ds[32];
    snprintf(ds, sizeof ds, "%ld", d);
    int rc = s_script(self, "fail", "--mode", mode, "--delay-ms", ds, NULL);
    if (rc != 0) {
        snprintf(err, errsz, "pg-dn-land.sh fail --mode %s failed (exit %d)", mode, rc);
        return -1;
    }
    /* drop is one-shot; slow ends by itself */
    snprintf(self->mode, sizeof self->mode, "%s", !strcmp(mode, "drop") ? "none" : mode);
    return 0;
}

static void dn_land_status(void *vself, sbuf_t *json)
{
    dn_land_t *self = vself;
    sbuf_t out;
    sbuf_init(&out);
    int rc = s_script(self, "status", NULL, NULL, NULL, NULL, &out);
    while (out.len && out.p[out.len - 1] == '\n')
        out.p[--out.len] = 0;
    sbuf_printf(json, "{\"url\":\"postgresql://lgsp_reader@127.0.0.1:%u/dn_land\",\"running\":%s,"
                      "\"state\":\"", (unsigned)self->port, rc == 0 ? "true" : "false");
    sbuf_json(json, out.p ? out.p : "");
    sbuf_printf(json, "\",\"db_fault\":\"%s\",\"changes\":%llu}", self->mode,
                (unsigned long long)self->changes);
    sbuf_free(&out);
}

static void dn_land_destroy(void **self_p)
{
    dn_land_t *self = *self_p;
    if (!self)
        return;
    if (s_script(self, "stop", NULL, NULL, NULL, NULL, NULL) != 0)
        simlog("dn-land", "pg-dn-land.sh stop failed");
    free(self);
    *self_p = NULL;
}

const sim_ops_t dn_land_ops = {
    .create = dn_land_create,
    .where = dn_land_where,
    .change = dn_land_change,
    .status = dn_land_status,
    .fault = dn_land_fault,
    .destroy = dn_land_destroy,
};
