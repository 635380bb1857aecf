/* adcfg.c — adapter settings as typed values, and the settings shared by the
 * pull plugins (see adcfg.h). */
#include "adcfg.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *adcfg_str(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, const char *def)
{
    const char *v = h->setting(a, path);
    return v ? v : def;
}

const char *adcfg_required(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path)
{
    const char *v = h->setting(a, path);
    if (!v || !*v) {
        h->setting_error(a, path, "required");
        return NULL;
    }
    return v;
}

int adcfg_long(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, long def,
               long min, long max, long *out)
{
    const char *v = h->setting(a, path);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return h->setting_error(a, path, "'%s': expected an integer from %ld to %ld", v, min, max);
    *out = n;
    return 0;
}

int adcfg_double(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, double def,
                 double min, double max, double *out)
{
    const char *v = h->setting(a, path);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double n = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(n) || n < min || n > max)
        return h->setting_error(a, path, "'%s': expected a number from %g to %g", v, min, max);
    *out = n;
    return 0;
}

int adcfg_parse_duration_ms(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    double n = strtod(text, &end);
    if (errno || end == text || !isfinite(n) || n < 0)
        return -1;
    double mult;
    if (!*end || !strcmp(end, "s"))
        mult = 1000;
    else if (!strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        mult = 60000;
    else if (!strcmp(end, "h"))
        mult = 3600000;
    else
        return -1;
    double ms = n * mult;
    if (ms > 1e15)
        return -1;
    *out = (uint64_t)(ms + 0.5);
    return 0;
}

int adcfg_parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    double n = strtod(text, &end);
    if (errno || end == text || !isfinite(n) || n < 0)
        return -1;
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mult = 1024.0; break;
        case 'm': case 'M': mult = 1024.0 * 1024; break;
        case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
        case 'b': case 'B': mult = 1; break;
        default: return -1;
        }
        const char *rest = end + 1;
        if (*end != 'b' && *end != 'B' && *rest && strcasecmp(rest, "b") && strcasecmp(rest, "ib"))
            return -1;
        if ((*end == 'b' || *end == 'B') && *rest)
            return -1;
    }
    double v = n * mult;
    if (v > (double)SIZE_MAX / 2)
        return -1;
    *out = (size_t)v;
    return 0;
}

int adcfg_duration_ms(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path,
                      uint64_t def, uint64_t *out)
{
    const char *v = h->setting(a, path);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (adcfg_parse_duration_ms(v, out) < 0)
        return h->setting_error(a, path, "'%s': expected a duration (250ms, 5s, 2m, 1h)", v);
    return 0;
}

int adcfg_size(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, size_t def,
               size_t *out)
{
    const char *v = h->setting(a, path);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (adcfg_parse_size(v, out) < 0 || *out == 0)
        return h->setting_error(a, path, "'%s': expected a size (65536, 512k, 64MiB)", v);
    return 0;
}

int adcfg_bool(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *path, bool def, bool *out)
{
    const char *v = h->setting(a, path);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return h->setting_error(a, path, "'%s': expected true or false", v);
    return 0;
}

char *adcfg_secret(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *name,
                   const char *file_setting, bool *out_absent)
{
    const char *inl = h->setting(a, name), *file = h->setting(a, file_setting);
    *out_absent = false;
    if (inl && *inl && file && *file) {
        h->setting_error(a, file_setting, "give %s or %s, not both", name, file_setting);
        return NULL;
    }
    if (inl && *inl) {
        char *v = strdup(inl);
        if (!v)
            h->setting_error(a, name, "out of memory");
        return v;
    }
    if (!file || !*file) {
        *out_absent = true;
        return NULL;
    }
    FILE *f = fopen(file, "rb");
    if (!f) {
        h->setting_error(a, file_setting, "%s: %m", file);
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (more || n == 0 || strlen(buf) != n || strchr(buf, '\n') || strchr(buf, '\r')) {
        h->setting_error(a, file_setting, "%s: expected one line of at most 4095 bytes", file);
        return NULL;
    }
    char *v = strdup(buf);
    memset(buf, 0, sizeof buf);
    if (!v)
        h->setting_error(a, file_setting, "out of memory");
    return v;
}

int adcfg_http(const lgsp_host_api_t *h, lgsp_adapter_t *a, httpfetch_opts_t *o)
{
    long retries;
    if (adcfg_duration_ms(h, a, "timeout", o->timeout_ms, &o->timeout_ms) < 0
        || adcfg_duration_ms(h, a, "connect_timeout", o->connect_timeout_ms, &o->connect_timeout_ms) < 0
        || adcfg_long(h, a, "retries", (long)o->retries, 0, 100, &retries) < 0
        || adcfg_duration_ms(h, a, "backoff", o->backoff_ms, &o->backoff_ms) < 0
        || adcfg_duration_ms(h, a, "backoff_max", o->backoff_max_ms, &o->backoff_max_ms) < 0
        || adcfg_duration_ms(h, a, "retry_after_max", o->retry_after_max_ms, &o->retry_after_max_ms) < 0
        || adcfg_double(h, a, "rate_limit", o->rate, 0, 1e6, &o->rate) < 0
        || adcfg_double(h, a, "rate_burst", o->burst, 0, 1e6, &o->burst) < 0
        || adcfg_size(h, a, "max_body", o->max_body, &o->max_body) < 0)
        return LGSP_AE_INVALID;
    o->retries = (unsigned)retries;
    if (o->timeout_ms == 0)
        return h->setting_error(a, "timeout", "must be more than 0");
    return 0;
}

int adcfg_incsync(const lgsp_host_api_t *h, lgsp_adapter_t *a, incsync_conf_t *c)
{
    const char *type = adcfg_str(h, a, "watermark_type", "time");
    if (!incsync_type_parse(type, &c->type))
        return h->setting_error(a, "watermark_type", "'%s': expected time, number or string", type);
    const char *sf = adcfg_str(h, a, "since_format", "raw");
    if (!incsync_since_parse(sf, &c->since_format))
        return h->setting_error(a, "since_format", "'%s': expected raw, iso8601, utc, unix or unix_ms",
                                sf);
    if (c->since_format != INCSYNC_SINCE_RAW && c->type != INCSYNC_TIME)
        return h->setting_error(a, "since_format", "'%s' needs watermark_type time", sf);
    const char *off = adcfg_str(h, a, "default_offset", "+00:00");
    int64_t sec;
    long ns;
    char probe[64];
    snprintf(probe, sizeof probe, "2000-01-01T00:00:00%s", off);
    if (!strcmp(off, "") || !incsync_parse_time(probe, 0, &sec, &ns, &c->default_offset_min))
        return h->setting_error(a, "default_offset", "'%s': expected Z or +hh:mm", off);
    uint64_t overlap;
    if (adcfg_duration_ms(h, a, "since_overlap", 0, &overlap) < 0)
        return LGSP_AE_INVALID;
    c->overlap_s = (long)((overlap + 999) / 1000);
    if (adcfg_long(h, a, "first_page", 1, 0, 1, &c->first_page) < 0)
        return LGSP_AE_INVALID;
    /* Descending by default: ascending loses a record whenever one changes
     * while a pass is paged (incsync.h). */
    const char *order = adcfg_str(h, a, "page_order", "descending");
    if (strcmp(order, "ascending") && strcmp(order, "descending"))
        return h->setting_error(a, "page_order", "'%s': expected ascending or descending", order);
    c->descending = !strcmp(order, "descending");
    c->initial_since = adcfg_str(h, a, "initial_since", NULL);
    if (c->initial_since && !*c->initial_since)
        c->initial_since = NULL;
    if (c->initial_since && c->type == INCSYNC_TIME
        && !incsync_parse_time(c->initial_since, c->default_offset_min, &sec, &ns, &(int){0}))
        return h->setting_error(a, "initial_since", "'%s': expected an ISO 8601 time",
                                c->initial_since);
    return 0;
}

static bool s_header_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

/* Appends one line (taking ownership of it) to the NULL-terminated array. */
static int s_push_line(char ***v, size_t *n, char *line)
{
    char **nv = line ? realloc(*v, (*n + 2) * sizeof **v) : NULL;
    if (!nv) {
        free(line);
        return -1;
    }
    *v = nv;
    nv[*n] = line;
    nv[++*n] = NULL;
    return 0;
}

static int s_push(char ***v, size_t *n, const char *name, const char *value)
{
    char *line;
    if (asprintf(&line, "%s: %s", name, value) < 0)
        return -1;
    return s_push_line(v, n, line);
}

char **adcfg_headers(const lgsp_host_api_t *h, lgsp_adapter_t *a, const char *const *extra)
{
    char **v = calloc(1, sizeof *v);
    size_t n = 0;
    if (!v)
        return NULL;
    json_t *root = NULL;
    for (size_t i = 0; extra && extra[i]; i++)
        if (s_push_line(&v, &n, strdup(extra[i])) < 0)
            goto fail;
    const char *json = h->setting_json(a);
    root = json ? json_loads(json, 0, NULL) : NULL;
    json_t *map = json_object_get(root, "headers");
    const char *key;
    json_t *val;
    if (map && !json_is_object(map)) {
        h->setting_error(a, "headers", "expected a map of header name: value");
        goto fail;
    }
    json_object_foreach(map, key, val) {
        if (!json_is_string(val) || !s_header_ok(key) || !s_header_ok(json_string_value(val))
            || strchr(key, ':')) {
            h->setting_error(a, "headers", "%s: expected a one-line header value", key);
            goto fail;
        }
        if (s_push(&v, &n, key, json_string_value(val)) < 0)
            goto fail;
    }
    const char *an = h->setting(a, "auth.header");
    bool absent;
    char *av = adcfg_secret(h, a, "auth.value", "auth.value_file", &absent);
    if (!av && !absent)
        goto fail;
    if (an && *an) {
        if (!av || !s_header_ok(an) || !s_header_ok(av) || strchr(an, ':')) {
            h->setting_error(a, av ? "auth.header" : "auth.value",
                             av ? "expected a header name" : "required with auth.header "
                             "(or auth.value_file)");
            free(av);
            goto fail;
        }
        int rc = s_push(&v, &n, an, av);
        free(av);
        if (rc < 0)
            goto fail;
    } else if (av) {
        free(av);
        h->setting_error(a, "auth.header", "required with auth.value");
        goto fail;
    }
    json_decref(root);
    return v;
fail:
    json_decref(root);
    adcfg_headers_free(&v);
    return NULL;
}

void adcfg_headers_free(char ***headers_p)
{
    if (!headers_p || !*headers_p)
        return;
    for (char **p = *headers_p; *p; p++)
        free(*p);
    free(*headers_p);
    *headers_p = NULL;
}
