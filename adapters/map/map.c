/* map.c — the mapping stage of the pipeline, as an adapter plugin.
 *
 * A sink with an output (docs/adapters.md, docs/mapping.md): it reads the
 * raw records of one source (raw.<source>), maps each with the source's
 * mapping file, and commits, in one batch, the canonical records to its
 * output topic (canonical.<entity>) and the records that cannot be mapped
 * to its quarantine topic with every reason (mapping-file:line, field,
 * rule, value) and the original bytes. Only after that commit are the raw
 * messages acknowledged.
 *
 * Exactly once on the output: the canonical message id is a digest of the
 * mapping version and the raw message id, so a raw record redelivered after
 * a crash maps to the same id and the journal drops it as a duplicate. The
 * consumer group is named after the mapping version: a changed mapping
 * starts a new group at the beginning of the raw topic and replays it,
 * producing new versions of the records (new ids, new mapping_version). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/evp.h>

#include "lgsp/adapter.h"
#include "mapping.h"

typedef struct {
    const lgsp_host_api_t *host;
    mapping_env_t *env;
    mapping_t     *m;
    char           group[201];
    uint64_t       mapped, quarantined;
    char           last[200];
} stage_t;

static const char *s_dir(const lgsp_host_api_t *host, lgsp_adapter_t *a, const char *setting,
                         const char *env, const char *sub, char *buf, size_t sz)
{
    const char *v = host->setting(a, setting);
    const char *e = getenv(env);
    if (v && *v) {
        if (v[0] == '/' || !host->config_dir || !host->config_dir(a))
            snprintf(buf, sz, "%s", v);
        else
            snprintf(buf, sz, "%s/%s", host->config_dir(a), v);
    } else if (e && *e)
        snprintf(buf, sz, "%s%s%s", e, sub[0] ? "/" : "", sub);
    else
        snprintf(buf, sz, "%s%s%s", LGSP_DATA_DIR, "/", sub[0] ? sub : "schemas");
    return buf;
}

static void s_id(const char *version, const char *raw_id, char out[40])
{
    unsigned char d[32];
    unsigned int dl = 32;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, version, strlen(version) + 1);
    EVP_DigestUpdate(md, raw_id, strlen(raw_id));
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    static const char hex[] = "0123456789abcdef";
    out[0] = 'c';
    out[1] = ':';
    for (int i = 0; i < 16; i++) {
        out[2 + 2 * i] = hex[d[i] >> 4];
        out[3 + 2 * i] = hex[d[i] & 15];
    }
    out[34] = 0;
}

static int s_deliver(void *selfp, lgsp_adapter_t *a, const lgsp_message_t *msgs, size_t n,
                     lgsp_outcome_t *out)
{
    stage_t *self = selfp;
    const lgsp_host_api_t *host = self->host;
    lgsp_batch_t *b = host->batch_new(a);
    if (!b)
        return -1;
    uint64_t mapped = 0, quarantined = 0;
    for (size_t i = 0; i < n; i++) {
        const lgsp_message_t *m = &msgs[i];
        json_t *headers = m->headers_len ? json_loadb(m->headers, m->headers_len, 0, NULL) : NULL;
        mapping_meta_t meta = {
            .source_id = json_string_value(json_object_get(headers, "lgsp-source-id")),
            .ingest_time = json_string_value(json_object_get(headers, "lgsp-fetched-at")),
            .headers = headers,
        };
        char position[600];
        snprintf(position, sizeof position, "%s@%llu%s%.200s%s", m->topic, (unsigned long long) m->offset,
                 meta.source_id ? " (" : "", meta.source_id ? meta.source_id : "", meta.source_id ? ")" : "");
        mapping_result_t res;
        int rc;
        if (mapping_run(self->m, m->payload, m->payload_len, &meta, &res) == 0) {
            char *payload = json_dumps(res.record, JSON_COMPACT);
            const char *rid = json_string_value(json_object_get(json_object_get(res.record, "provenance"),
                                                                "source_record_id"));
            char id[40];
            s_id(mapping_version(self->m), m->id, id);
            const char *extra[] = { "lgsp-schema", mapping_schema(self->m),
                                    "lgsp-mapping", mapping_version(self->m),
                                    "lgsp-raw-id", m->id, NULL };
            lgsp_record_t r = {
                .size = sizeof r, .source_id = rid ? rid : m->id, .id = id,
                .content_type = "application/json", .payload = payload,
                .payload_len = payload ? strlen(payload) : 0, .position = position, .headers = extra,
            };
            rc = payload ? host->batch_add(b, &r) : LGSP_AE_NOMEM;
            free(payload);
            mapped++;
        } else {
            /* Every reason, one a line: what an engineer needs to fix the
             * mapping or the source (mapping-file:line: /field (source): rule: message). */
            char reason[3000] = "";
            size_t nk = res.n_errors < 8 ? res.n_errors : 8;
            for (size_t k = 0; k < nk; k++) {
                char line[1024];
                mapping_error_format(self->m, &res.errors[k], line, sizeof line);
                size_t l = strlen(reason);
                snprintf(reason + l, sizeof reason - l, "%s%s", k ? "\n" : "", line);
            }
            rc = host->batch_quarantine(b, position, reason, m->payload, m->payload_len);
            quarantined++;
            /* /health shows where and which rule, never the value: values
             * are personal data and stay with the quarantined record. */
            const char *file = strrchr(mapping_path(self->m), '/');
            if (res.n_errors)
                snprintf(self->last, sizeof self->last, "%.60s:%d: %.60s: %.40s",
                         file ? file + 1 : mapping_path(self->m),
                         res.errors[0].line, res.errors[0].field, res.errors[0].rule);
        }
        mapping_result_clear(&res);
        json_decref(headers);
        if (rc < 0) {
            host->batch_discard(b);
            return -1;
        }
    }
    lgsp_commit_result_t cr = { .size = sizeof cr };
    if (host->batch_commit(b, NULL, 0, &cr) < 0)
        return -1;           /* nothing stored: every message is retried */
    for (size_t i = 0; i < n; i++)
        out[i].kind = LGSP_DELIVERED;
    self->mapped += mapped;
    self->quarantined += quarantined;
    host->count(a, "mapped", mapped);
    host->count(a, "quarantined_records", quarantined);
    return 0;
}

static void s_describe(void *selfp, char *buf, size_t len)
{
    stage_t *self = selfp;
    snprintf(buf, len, "%s -> %s: %llu mapped, %llu quarantined%s%.150s", mapping_version(self->m),
             mapping_schema(self->m), (unsigned long long) self->mapped,
             (unsigned long long) self->quarantined, self->last[0] ? "; last: " : "", self->last);
}

static void s_cleanup(void *selfp, lgsp_adapter_t *a)
{
    stage_t *self = selfp;
    mapping_destroy(&self->m);
    mapping_env_destroy(&self->env);
    free(self);
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= 1 && 1 <= host_max ? 1 : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **out)
{
    if (host->size < offsetof(lgsp_host_api_t, output) + sizeof host->output || !host->output
        || info->size < offsetof(lgsp_adapter_info_t, group) + sizeof info->group)
        return host->setting_error(a, "mapping", "this lgspd is too old for the mapping stage");
    if (!host->output(a))
        return host->setting_error(a, "mapping", "the mapping stage needs `output:` (the canonical topic)");
    const char *mp = host->setting(a, "mapping");
    if (!mp || !*mp)
        return host->setting_error(a, "mapping", "required: the mapping file (schemas/mappings/<source>.yaml)");
    char mpath[4096], admin[4096], schemas[4096], err[1024];
    /* A relative mapping path: beside the config, else among the mappings
     * installed with lgsp ($LGSP_MAPPINGS or <datadir>/lgsp/mappings). */
    if (mp[0] != '/' && host->config_dir(a))
        snprintf(mpath, sizeof mpath, "%s/%s", host->config_dir(a), mp);
    else
        snprintf(mpath, sizeof mpath, "%s", mp);
    if (mp[0] != '/' && access(mpath, F_OK) != 0) {
        const char *md = getenv("LGSP_MAPPINGS");
        snprintf(mpath, sizeof mpath, "%s/%s", md && *md ? md : LGSP_DATA_DIR "/mappings", mp);
    }
    s_dir(host, a, "data", "LGSP_DATA", "admin", admin, sizeof admin);
    s_dir(host, a, "schemas", "LGSP_SCHEMAS", "", schemas, sizeof schemas);
    if (!host->setting(a, "schemas") && getenv("LGSP_SCHEMAS") && *getenv("LGSP_SCHEMAS"))
        snprintf(schemas, sizeof schemas, "%s", getenv("LGSP_SCHEMAS"));
    xmlInitParser();
    stage_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->host = host;
    if (!(self->env = mapping_env_new(admin, schemas, err, sizeof err))) {
        free(self);
        return host->setting_error(a, "data", "%s", err);
    }
    if (!(self->m = mapping_load(mpath, self->env, err, sizeof err))) {
        mapping_env_destroy(&self->env);
        free(self);
        return host->setting_error(a, "mapping", "%s", err);
    }
    /* One consumer group per mapping version: a new version replays. */
    snprintf(self->group, sizeof self->group, "map.%s", mapping_version(self->m));
    for (char *p = self->group; *p; p++)
        if (*p == '@' || *p == '+')
            *p = '.';
    info->plugin = "map";
    info->version = "1";
    info->kind = LGSP_ADAPTER_SINK;
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->deliver = s_deliver;
    info->cleanup = s_cleanup;
    info->describe = s_describe;
    info->group = self->group;
    *out = self;
    return 0;
}
