/* qn_pop.c — the Quảng Nam population register (Hệ thống quản lý dân cư
 * tỉnh Quảng Nam) as a REST/JSON service:
 *
 *   GET /api/v1/cong-dan?since=T&page=P&page_size=S   records updated after T
 *   GET /api/v1/cong-dan/QN00001234                    one record
 *   GET /api/v1/health                                 no key needed
 *
 * with an X-API-Key header. Records are the lines of the generator's
 * qn-population/persons.jsonl, served as they are (UPPER-CASE names,
 * dd/mm/yyyy dates, pre-2025 codes). Changes: births, moves within the
 * province, and a personal ID issued to someone known only by the CMND. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "httpd.h"
#include "recstore.h"
#include "sim.h"
#include "simutil.h"
#include "text.h"

#define CT_JSON "application/json; charset=utf-8"
#define BASE    "/api/v1/cong-dan"

typedef struct {
    sim_env_t   env;
    recstore_t *store;
    httpd_t    *http;
    rng_t       rng;
    int64_t     clock;
    uint64_t    served, requests;
    uint64_t    changes[3];
} qn_pop_t;

enum { CH_BIRTH, CH_MOVE, CH_NEWID };
static const char *const s_change_name[3] = { "birth", "move", "new_id" };

static int s_parse(const char *line, size_t len, uint32_t *key, int64_t *ts)
{
    if (len < 20 || memcmp(line, "{\"id\":\"QN", 9) != 0)
        return -1;
    uint32_t k = 0;
    size_t i = 9;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++)
        k = k * 10 + (uint32_t)(line[i] - '0');
    if (i == 9 || i >= len || line[i] != '"')
        return -1;
    const char *v;
    size_t n;
    if (sim_json_str(line, len, "updated_at", &v, &n) || simts_parse(v, n, ts))
        return -1;
    *key = k;
    return 1;
}

static enum MHD_Result s_list(qn_pop_t *self, http_req_t *req)
{
    long page = 1, size = 100;
    int64_t since = INT64_MIN;
    const char *a;
    if ((a = http_arg(req, "page")) && sim_parse_long(a, 1, 100000000L, &page))
        return http_reply_error(req, 400, "INVALID_PARAM", "page: số nguyên >= 1 (an integer >= 1)");
    if ((a = http_arg(req, "page_size"))
        && sim_parse_long(a, 1, self->env.opts->max_page_size, &size)) {
        char msg[128];
        snprintf(msg, sizeof msg, "page_size: từ 1 đến %ld (1 to %ld)",
                 self->env.opts->max_page_size, self->env.opts->max_page_size);
        return http_reply_error(req, 400, "INVALID_PARAM", msg);
    }
    if ((a = http_arg(req, "since")) && *a && simts_parse(a, strlen(a), &since))
        return http_reply_error(req, 400, "INVALID_PARAM",
                                "since: ISO 8601, e.g. 2024-03-01T10:22:33+07:00");
    sbuf_t b;
    sbuf_init(&b);
    recstore_rdlock(self->store);
    size_t first = since == INT64_MIN ? 0 : recstore_first_after(self->store, since);
    size_t count = recstore_count(self->store), total = count - first;
    size_t pages = (total + (size_t)size - 1) / (size_t)size;
    size_t from = first + (size_t)(page - 1) * (size_t)size, n = 0;
    sbuf_reserve(&b, 256 + (size_t)size * 600);
    sbuf_printf(&b, "{\"page\":%ld,\"page_size\":%ld,\"total\":%zu,\"total_pages\":%zu,\"data\":[",
                page, size, total, pages);
    for (size_t i = from; i < count && n < (size_t)size; i++, n++) {
        const rec_t *r = recstore_at(self->store, i);
        if (n)
            sbuf_putc(&b, ',');
        sbuf_put(&b, r->p, r->len);
    }
    recstore_unlock(self->store);
    sbuf_puts(&b, "]}\n");
    __atomic_add_fetch(&self->served, n, __ATOMIC_RELAXED);
    char hdr[64];
    snprintf(hdr, sizeof hdr, "X-Total-Count: %zu", total);
    const char *const hdrs[] = { hdr, NULL };
    return http_reply(req, 200, CT_JSON, b.p, b.len, hdrs);
}

static enum MHD_Result s_one(qn_pop_t *self, http_req_t *req, const char *id)
{
    long k;
    if (strncmp(id, "QN", 2) != 0 || strlen(id) != 10 || sim_parse_long(id + 2, 0, 99999999, &k))
        return http_reply_error(req, 404, "NOT_FOUND", "không tìm thấy công dân (no such record)");
    char *body = NULL;
    size_t len = 0;
    recstore_rdlock(self->store);
    const rec_t *r = recstore_by_key(self->store, (uint32_t)k);
    if (r) {
        body = xmalloc(r->len + 2);
        memcpy(body, r->p, r->len);
        body[r->len] = '\n';
        len = r->len + 1;
    }
    recstore_unlock(self->store);
    if (!body)
        return http_reply_error(req, 404, "NOT_FOUND", "không tìm thấy công dân (no such record)");
    __atomic_add_fetch(&self->served, 1, __ATOMIC_RELAXED);
    return http_reply(req, 200, CT_JSON, body, len, NULL);
}

static enum MHD_Result s_handle(void *cls, http_req_t *req)
{
    qn_pop_t *self = cls;
    __atomic_add_fetch(&self->requests, 1, __ATOMIC_RELAXED);
    if (req->fault.mode == FAULT_ERROR)
        return http_reply_error(req, req->fault.status, "SERVICE_UNAVAILABLE",
                                "Hệ thống đang bảo trì, vui lòng thử lại sau");
    if (!strcmp(req->url, "/api/v1/health"))
        return http_reply_text(req, 200, CT_JSON, "{\"status\":\"ok\"}\n");
    if (strncmp(req->url, BASE, strlen(BASE)) != 0
        || (req->url[strlen(BASE)] && req->url[strlen(BASE)] != '/'))
        return http_reply_error(req, 404, "NOT_FOUND", "no such resource; see " BASE);
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
        return http_reply_error(req, 405, "METHOD_NOT_ALLOWED", "GET only");
    const char *key = self->env.opts->api_key;
    if (key && *key) {
        const char *given = http_header(req, "X-API-Key");
        if (!given || strcmp(given, key) != 0)
            return http_reply_error(req, 401, "UNAUTHORIZED",
                                    "thiếu hoặc sai X-API-Key (missing or wrong X-API-Key)");
    }
    const char *rest = req->url + strlen(BASE);
    if (!*rest || !strcmp(rest, "/"))
        return s_list(self, req);
    return s_one(self, req, rest + 1);
}

/* ---- changes ----------------------------------------------------------- */

static json_t *s_load(const rec_t *r)
{
    return json_loadb(r->p, r->len, 0, NULL);
}

static const char *s_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_t *s_pick(qn_pop_t *self, int kind)
{
    size_t n = recstore_count(self->store);
    if (!n)
        return NULL;
    int this_year = date_year(ts_date(self->clock));
    for (int tries = 0; tries < 400; tries++) {
        const rec_t *r = recstore_at(self->store, rng_below(&self->rng, (uint32_t)n));
        json_t *o = s_load(r);
        if (!o)
            continue;
        const char *dob = s_str(o, "ngay_sinh");
        int by = strlen(dob) == 10 ? atoi(dob + 6) : 0;
        bool ok = true;
        if (kind == CH_BIRTH)
            ok = !strcmp(s_str(o, "gioi_tinh"), "Nữ") && by && this_year - by >= 20
                 && this_year - by <= 42 && json_is_string(json_object_get(o, "ho_ten_vo_chong"));
        else if (kind == CH_MOVE)
            ok = by && this_year - by >= 18;
        else if (kind == CH_NEWID)
            ok = json_is_null(json_object_get(o, "so_dinh_danh"))
                 && json_is_string(json_object_get(o, "so_cmnd")) && by;
        if (ok)
            return o;
        json_decref(o);
    }
    return NULL;
}

static void s_set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static void s_upper(const char *s, sbuf_t *out)
{
    text_upper(s, out);
}

/* Applies one change; returns the record's key or 0 when nothing fitted. */
static uint32_t s_change_one(qn_pop_t *self, int kind, sbuf_t *json)
{
    json_t *o = s_pick(self, kind);
    if (!o)
        return 0;
    int64_t ts = chg_tick(&self->clock, &self->rng);
    sbuf_t t;
    sbuf_init(&t);
    sbuf_ts_iso(&t, ts);
    char updated[40];
    snprintf(updated, sizeof updated, "%s", t.p);
    uint32_t key;
    if (kind == CH_BIRTH) {
        /* the mother o: a child born a few days ago, same household */
        json_t *c = json_object();
        key = recstore_max_key(self->store) + 1;
        char id[16], pid[13], hoho[16];
        snprintf(id, sizeof id, "QN%08u", key);
        int sex = (int)rng_below(&self->rng, 2);
        int32_t dob = ts_date(ts) - (int32_t)rng_range(&self->rng, 3, 40);
        int y, m, d;
        date_split(dob, &y, &m, &d);
        chg_personal_id(&self->rng, "049", sex, y, pid);
        char surname[64];
        chg_first_word(s_str(o, "ho_ten_vo_chong"), surname, sizeof surname);
        sbuf_t nm, up, dmy;
        sbuf_init(&nm);
        sbuf_init(&up);
        sbuf_init(&dmy);
        sbuf_puts(&nm, surname);
        sbuf_putc(&nm, ' ');
        sbuf_t mg;
        sbuf_init(&mg);
        chg_middle_given(self->env.rd, &self->rng, sex, &mg);
        s_upper(mg.p, &nm);
        sbuf_date_dmy(&dmy, dob);
        const char *rel = s_str(o, "quan_he_chu_ho");
        const char *crel = (!strcmp(rel, "Chủ hộ") || !strcmp(rel, "Vợ")) ? "Con"
                         : !strcmp(rel, "Con dâu") ? "Cháu" : "Khác";
        snprintf(hoho, sizeof hoho, "%s", s_str(o, "so_ho_khau"));
        s_set_str(c, "id", id);
        s_set_str(c, "so_dinh_danh", pid);
        s_set_str(c, "so_cmnd", NULL);
        s_set_str(c, "ho_ten", nm.p);
        s_set_str(c, "gioi_tinh", sex ? "Nữ" : "Nam");
        s_set_str(c, "ngay_sinh", dmy.p);
        s_set_str(c, "noi_dang_ky_khai_sinh", "Quảng Nam");
        const char *copy[] = { "ma_tinh", "ma_huyen", "ma_xa", "dia_chi", "dia_chi_thuong_tru" };
        for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++)
            s_set_str(c, copy[i], s_str(o, copy[i]));
        s_set_str(c, "so_ho_khau", hoho);
        s_set_str(c, "quan_he_chu_ho", crel);
        s_set_str(c, "ho_ten_cha", s_str(o, "ho_ten_vo_chong"));
        s_set_str(c, "ho_ten_me", s_str(o, "ho_ten"));
        s_set_str(c, "ho_ten_vo_chong", NULL);
        s_set_str(c, "updated_at", updated);
        json_decref(o);
        o = c;
        sbuf_free(&nm);
        sbuf_free(&up);
        sbuf_free(&dmy);
        sbuf_free(&mg);
    } else if (kind == CH_MOVE) {
        /* to another commune of the province: the address of another record */
        json_t *dst = s_pick(self, CH_MOVE);
        if (!dst || !strcmp(s_str(dst, "ma_xa"), s_str(o, "ma_xa"))) {
            json_decref(dst);
            json_decref(o);
            sbuf_free(&t);
            return 0;
        }
        const char *copy[] = { "ma_tinh", "ma_huyen", "ma_xa", "dia_chi", "dia_chi_thuong_tru" };
        for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++)
            s_set_str(o, copy[i], s_str(dst, copy[i]));
        char hk[16];
        snprintf(hk, sizeof hk, "%010llu",
                 (unsigned long long)(rng_next(&self->rng) % 10000000000ULL));
        s_set_str(o, "so_ho_khau", hk);
        s_set_str(o, "quan_he_chu_ho", "Chủ hộ");
        s_set_str(o, "updated_at", updated);
        json_decref(dst);
        key = (uint32_t)atol(s_str(o, "id") + 2);
    } else {
        /* a personal ID issued to someone known only by the old CMND */
        const char *dob = s_str(o, "ngay_sinh");
        int by = atoi(dob + 6);
        const char *ppp = chg_ppp_of(self->env.rd, s_str(o, "noi_dang_ky_khai_sinh"));
        char pid[13];
        chg_personal_id(&self->rng, ppp ? ppp : "049", !strcmp(s_str(o, "gioi_tinh"), "Nữ"), by,
                        pid);
        s_set_str(o, "so_dinh_danh", pid);
        s_set_str(o, "updated_at", updated);
        key = (uint32_t)atol(s_str(o, "id") + 2);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (json && text) {
        sbuf_printf(json, "%s{\"id\":\"%s\",\"kind\":\"%s\",\"updated_at\":\"%s\"}",
                    json->len && json->p[json->len - 1] != '[' ? "," : "", s_str(o, "id"),
                    s_change_name[kind], updated);
    }
    json_decref(o);
    sbuf_free(&t);
    if (!text)
        return 0;
    /* jansson's allocation: hand the store a malloc'd copy */
    size_t len = strlen(text);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len + 1);
    free(text);
    recstore_put(self->store, key, copy, len, ts);
    self->changes[kind]++;
    return key;
}

static int qn_pop_change(void *vself, long n, sbuf_t *json)
{
    qn_pop_t *self = vself;
    sbuf_puts(json, "{\"changes\":[");
    recstore_wrlock(self->store);
    if (self->clock < recstore_max_ts(self->store))
        self->clock = recstore_max_ts(self->store);
    long done = 0;
    for (long i = 0; i < n; i++) {
        uint32_t d = rng_below(&self->rng, 100);
        int kind = d < 40 ? CH_BIRTH : d < 75 ? CH_MOVE : CH_NEWID;
        uint32_t k = 0;
        for (int a = 0; a < 8 && !k; a++)           /* a move may pick its own commune */
            k = s_change_one(self, a ? CH_MOVE : kind, json);
        if (k)
            done++;
    }
    recstore_commit(self->store);
    sbuf_t ts;
    sbuf_init(&ts);
    sbuf_ts_iso(&ts, recstore_max_ts(self->store));
    sbuf_printf(json, "],\"applied\":%ld,\"records\":%zu,\"max_updated_at\":\"%s\"}", done,
                recstore_count(self->store), ts.p);
    recstore_unlock(self->store);
    sbuf_free(&ts);
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static void *qn_pop_create(const sim_env_t *env, char *err, size_t errsz)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/qn-population/persons.jsonl", env->conf->data);
    qn_pop_t *self = xcalloc(1, sizeof *self);
    self->env = *env;
    rng_seed(&self->rng, env->conf->seed, 0x51000 + (uint64_t)env->index);
    self->store = recstore_open(path, s_parse, err, errsz);
    if (!self->store) {
        free(self);
        return NULL;
    }
    self->clock = recstore_max_ts(self->store);
    self->http = httpd_new("qn-population", (uint16_t)env->opts->port, 16 * 1024, s_handle, self,
                           env->fault, err, errsz);
    if (!self->http) {
        recstore_destroy(&self->store);
        free(self);
        return NULL;
    }
    return self;
}

static void qn_pop_where(void *vself, sbuf_t *out)
{
    qn_pop_t *self = vself;
    sbuf_printf(out, "http://127.0.0.1:%u" BASE " (REST/JSON, %zu records, header X-API-Key)",
                (unsigned)httpd_port(self->http), recstore_count(self->store));
}

static void qn_pop_status(void *vself, sbuf_t *json)
{
    qn_pop_t *self = vself;
    recstore_rdlock(self->store);
    size_t n = recstore_count(self->store);
    sbuf_t ts;
    sbuf_init(&ts);
    sbuf_ts_iso(&ts, recstore_max_ts(self->store));
    recstore_unlock(self->store);
    sbuf_printf(json, "{\"url\":\"http://127.0.0.1:%u" BASE "\",\"records\":%zu,"
                      "\"max_updated_at\":\"%s\",\"requests\":%llu,\"records_served\":%llu,"
                      "\"changes\":{\"birth\":%llu,\"move\":%llu,\"new_id\":%llu}}",
                (unsigned)httpd_port(self->http), n, ts.p,
                (unsigned long long)__atomic_load_n(&self->requests, __ATOMIC_RELAXED),
                (unsigned long long)__atomic_load_n(&self->served, __ATOMIC_RELAXED),
                (unsigned long long)self->changes[0], (unsigned long long)self->changes[1],
                (unsigned long long)self->changes[2]);
    sbuf_free(&ts);
}

static void qn_pop_destroy(void **self_p)
{
    qn_pop_t *self = *self_p;
    if (!self)
        return;
    httpd_destroy(&self->http);
    recstore_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

const sim_ops_t qn_pop_ops = {
    .create = qn_pop_create,
    .where = qn_pop_where,
    .change = qn_pop_change,
    .status = qn_pop_status,
    .pause = NULL,
    .fault = NULL,
    .destroy = qn_pop_destroy,
};
