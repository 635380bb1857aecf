/* resolve.c — the streaming stage of entity resolution, as an adapter plugin.
 *
 * A sink with an output (docs/adapters.md, docs/entity-resolution.md): it
 * reads a canonical topic (canonical.person) and links each record, as it
 * arrives, to its entity in the entity store (bus/erstore.h) that the batch
 * run (`lgsp dedup --store`) shares:
 *
 *   1. the spec's values are extracted (er_data_add_json); a record without
 *      an id or a source goes to the quarantine topic with the reason;
 *   2. its blocking keys (er_block_keys) find candidate records in the
 *      store's blocking index — a key holding more than the spec's
 *      max_block records is skipped, as the batch run skips such a block;
 *      each candidate is scored with the model (the store's, which a batch
 *      run writes, or the `model:` file);
 *   3. the record joins the entity of the best candidate at or above the
 *      match threshold whose members all accept it (er_can_merge: the
 *      check against chaining, and the spec's cannot_link comparisons),
 *      else a new entity. Manual decisions win over the model: a record
 *      with a LINK to a record already placed joins that record's entity,
 *      and an entity holding a record it has an UNLINK with is never
 *      chosen. Values, blocking keys, record -> entity and the entity's new
 *      golden record are written in one store transaction per batch;
 *   4. the change is published to the output topic (entity.person):
 *      {"kind", "entity", "record", "action", "probability", "golden",
 *      "members"[, "previous"]} with the input message id in the
 *      lgsp-input-id header; action is "created", "linked", "updated" (a
 *      new version of a record that stays in its entity) — a new version
 *      that no longer fits its entity is placed again ("created"/"linked"
 *      with "previous" naming the entity it left);
 *   5. the link latency (the input's publish time -> the entity change
 *      committed to the journal) goes into a histogram shown by describe().
 *
 * Settings: spec (the spec file; default er/person.yaml: beside lgspd's
 * config, else the installed one), store (the entity store's folder;
 * default the adapter's work_dir), model (a model file, used while the
 * store holds none; config/er/person.model.json is a default trained on
 * synthetic data). Without either model, init fails and says what to do.
 * One store per stage: LMDB must not open one environment twice in a
 * process, so two stages of lgspd never share a store (lgsp dedup, another
 * process, may).
 *
 * Order and crashes: the store transaction commits first, then the output
 * batch (which returns after fsync), and only then are the inputs
 * acknowledged. The output message id is a digest of the input message id,
 * and the store remembers the last input ids applied to each record: an
 * input redelivered after a crash anywhere in between finds its record
 * already applied and publishes the same message again, which the journal
 * drops as a duplicate if it got there before. Nothing is linked twice and
 * no entity change is lost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "er.h"
#include "erstore.h"
#include "hist.h"
#include "lgsp/adapter.h"

#define KEYS_MAX 32              /* blocking keys of one record (one per rule) */
#define KEY_LEN  64
#define MSGS_KEPT 8              /* input ids remembered per record (redelivery) */

typedef struct {
    unsigned char k[KEY_LEN];
    size_t len;
} s_key_t;

typedef struct {
    s_key_t v[KEYS_MAX];
    size_t n;
} s_keys_t;

/* one candidate entity of a record */
typedef struct {
    char   id[ERSTORE_ID_MAX + 1];
    double prob;                 /* the best candidate's probability in it */
} s_cand_t;

typedef struct {
    const lgsp_host_api_t *host;
    lgsp_adapter_t *a;
    er_spec_t  *spec;
    er_model_t *model;
    char       *model_json;      /* the store's model as last loaded (to see a new one) */
    char        model_from[4200];/* "store" or the file */
    char        store_dir[4096];
    erstore_t  *store;
    const char *kind;
    size_t      max_block, max_cluster;
    er_data_t  *d;               /* the record and its candidates */
    er_data_t  *gd;              /* one entity's members (golden records) */
    json_t     *decisions;       /* record id -> [[other, kind], ...] */
    double      refreshed;       /* when model and decisions were read */
    hist_t     *lat;
    /* counters (read by describe() on another thread: plain words, a torn
     * read of a counter only shows a stale figure) */
    volatile uint64_t created, linked, updated, republished, quarantined, capped, refused;
    /* scratch */
    char      **cids;  size_t ncids, cap_cids;
    s_cand_t   *cands; size_t ncands, cap_cands;
    uint32_t   *mem;   size_t cap_mem;
} stage_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t s_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* The output message id: a digest of the kind and the input message id, so
 * a redelivered input publishes the same id (the journal drops it). */
static void s_out_id(const char *kind, const char *in_id, char out[40])
{
    unsigned char dg[32];
    unsigned int dl = 32;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, "resolve", 8);
    EVP_DigestUpdate(md, kind, strlen(kind) + 1);
    EVP_DigestUpdate(md, in_id, strlen(in_id));
    EVP_DigestFinal_ex(md, dg, &dl);
    EVP_MD_CTX_free(md);
    static const char hex[] = "0123456789abcdef";
    out[0] = 'e';
    out[1] = ':';
    for (int i = 0; i < 16; i++) {
        out[2 + 2 * i] = hex[dg[i] >> 4];
        out[3 + 2 * i] = hex[dg[i] & 15];
    }
    out[34] = 0;
}

static json_t *s_load_json_file(const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        snprintf(err, errlen, "%.700s:%d: %.200s", path, je.line, je.text);
    return j;
}

/* ---- model and decisions ---- */

/* Takes the store's model when there is one (a batch run trained it on the
 * data), else keeps what it has (the `model:` file). */
static int s_model_from_store(stage_t *self, erstore_txn_t *t, char *err, size_t errlen)
{
    char *mj = erstore_model_get(t, self->kind);
    if (!mj)
        return 0;
    if (self->model_json && strcmp(mj, self->model_json) == 0) {
        free(mj);
        return 0;
    }
    json_t *j = json_loads(mj, 0, NULL);
    er_model_t *m = j ? er_model_from_json(self->spec, j, err, errlen) : NULL;
    json_decref(j);
    if (!m) {
        if (!j)
            snprintf(err, errlen, "the store's model of %s is not JSON", self->kind);
        free(mj);
        return -1;
    }
    er_model_destroy(&self->model);
    self->model = m;
    free(self->model_json);
    self->model_json = mj;
    snprintf(self->model_from, sizeof self->model_from, "store");
    return 0;
}

static int s_add_decision(const erstore_decision_t *dc, void *ctx)
{
    json_t *map = ctx;
    const char *ends[2][2] = {{dc->a, dc->b}, {dc->b, dc->a}};
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_object_get(map, ends[k][0]);
        if (!arr) {
            arr = json_array();
            json_object_set_new(map, ends[k][0], arr);
        }
        json_array_append_new(arr, json_pack("[s, i]", ends[k][1], (int) dc->kind));
    }
    return 0;
}

/* Every second at most: a new model from a batch run, new manual decisions. */
static void s_refresh(stage_t *self, erstore_txn_t *t, bool force)
{
    double now = s_now();
    if (!force && now - self->refreshed < 1.0)
        return;
    self->refreshed = now;
    char err[512];
    if (s_model_from_store(self, t, err, sizeof err))
        self->host->log(self->a, LGSP_LOG_WARN, "keeping the current model: %s", err);
    json_t *map = json_object();
    if (erstore_decisions(t, self->kind, false, s_add_decision, map) == 0) {
        json_decref(self->decisions);
        self->decisions = map;
    } else
        json_decref(map);
}

/* The manual decision between records a and b: 0 none, else LINK / UNLINK. */
static int s_decision(stage_t *self, const char *a, const char *b)
{
    const json_t *arr = json_object_get(self->decisions, a);
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
        if (strcmp(json_string_value(json_array_get(e, 0)), b) == 0)
            return (int) json_integer_value(json_array_get(e, 1));
    return 0;
}

/* ---- candidates ---- */

static void s_key_cb(const void *key, size_t len, void *ctx)
{
    s_keys_t *k = ctx;
    if (k->n < KEYS_MAX && len <= KEY_LEN) {
        memcpy(k->v[k->n].k, key, len);
        k->v[k->n++].len = len;
    }
}

static bool s_has_cid(const stage_t *self, const char *id)
{
    for (size_t i = 0; i < self->ncids; i++)
        if (strcmp(self->cids[i], id) == 0)
            return true;
    return false;
}

static int s_collect(const char *record_id, void *ctx)
{
    stage_t *self = ctx;
    if (s_has_cid(self, record_id))
        return 0;
    if (self->ncids == self->cap_cids) {
        self->cap_cids = self->cap_cids ? self->cap_cids * 2 : 64;
        char **n = realloc(self->cids, self->cap_cids * sizeof *n);
        if (!n)
            return -1;
        self->cids = n;
    }
    self->cids[self->ncids] = strdup(record_id);
    if (!self->cids[self->ncids])
        return -1;
    self->ncids++;
    return 0;
}

static void s_cids_clear(stage_t *self)
{
    for (size_t i = 0; i < self->ncids; i++)
        free(self->cids[i]);
    self->ncids = 0;
}

/* Loads a stored record's values into d: its index, or -1. */
static long s_load(stage_t *self, erstore_txn_t *t, er_data_t *d, const char *id, json_t **stored)
{
    char *js = erstore_record_get(t, self->kind, id);
    if (!js)
        return -1;
    json_t *j = json_loads(js, 0, NULL);
    free(js);
    char err[256];
    long i = j ? er_data_add_values(d, j, err, sizeof err) : -1;
    if (stored)
        *stored = j;
    else
        json_decref(j);
    return i;
}

static int s_cand_cmp(const void *x, const void *y)
{
    const s_cand_t *a = x, *b = y;
    if (a->prob != b->prob)
        return a->prob > b->prob ? -1 : 1;
    return strcmp(a->id, b->id);
}

static void s_cand_note(stage_t *self, const char *entity, double prob)
{
    for (size_t i = 0; i < self->ncands; i++)
        if (strcmp(self->cands[i].id, entity) == 0) {
            if (prob > self->cands[i].prob)
                self->cands[i].prob = prob;
            return;
        }
    if (self->ncands == self->cap_cands) {
        self->cap_cands = self->cap_cands ? self->cap_cands * 2 : 16;
        s_cand_t *n = realloc(self->cands, self->cap_cands * sizeof *n);
        if (!n)
            return;
        self->cands = n;
    }
    snprintf(self->cands[self->ncands].id, sizeof self->cands[0].id, "%s", entity);
    self->cands[self->ncands++].prob = prob;
}

/* members of an entity -> cids (reused: the candidates are scored by then) */
static int s_members(stage_t *self, erstore_txn_t *t, const char *entity)
{
    s_cids_clear(self);
    int rc = erstore_members(t, self->kind, entity, s_collect, self);
    return rc == ERSTORE_NOTFOUND ? 0 : rc;
}

static bool s_mem_room(stage_t *self, size_t n)
{
    if (n <= self->cap_mem)
        return true;
    uint32_t *m = realloc(self->mem, n * sizeof *m);
    if (!m)
        return false;
    self->mem = m;
    self->cap_mem = n;
    return true;
}

/* Whether record 0 of d (id rid) may join entity: room under max_cluster,
 * no UNLINK with a member, and er_can_merge with all members (exclude: a
 * member to leave out, the record itself when it is already inside). */
static int s_fits(stage_t *self, erstore_txn_t *t, const char *rid, const char *entity, bool *ok)
{
    *ok = false;
    int rc = s_members(self, t, entity);
    if (rc)
        return rc;
    if (self->ncids + 1 > self->max_cluster || !s_mem_room(self, self->ncids))
        return 0;
    size_t nm = 0;
    for (size_t i = 0; i < self->ncids; i++) {
        if (strcmp(self->cids[i], rid) == 0)
            continue;
        if (s_decision(self, rid, self->cids[i]) == ERSTORE_UNLINK)
            return 0;
        long k = er_data_find(self->d, self->cids[i]);
        if (k < 0)
            k = s_load(self, t, self->d, self->cids[i], NULL);
        if (k < 0)
            continue;     /* a member whose values are not kept (a batch-only record) */
        self->mem[nm++] = (uint32_t) k;
    }
    uint32_t r = 0;
    *ok = nm == 0 || er_can_merge(self->model, self->d, &r, 1, self->mem, nm);
    if (!*ok)
        self->refused++;
    return 0;
}

/* ---- the golden record ---- */

static json_t *s_golden(stage_t *self, erstore_txn_t *t, const char *entity, size_t *members)
{
    er_data_clear(self->gd);
    s_members(self, t, entity);
    *members = self->ncids;
    if (!s_mem_room(self, self->ncids))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < self->ncids; i++) {
        long k = s_load(self, t, self->gd, self->cids[i], NULL);
        if (k >= 0)
            self->mem[n++] = (uint32_t) k;
    }
    return er_golden(self->gd, self->mem, n);
}

static int s_put_golden(stage_t *self, erstore_txn_t *t, const char *entity, json_t **golden, size_t *members)
{
    json_t *g = s_golden(self, t, entity, members);
    if (!g)
        return ERSTORE_ENOMEM;
    if (*members == 0) {         /* retired (its last record moved out): no golden record */
        if (golden)
            *golden = g;
        else
            json_decref(g);
        return 0;
    }
    char *gs = json_dumps(g, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = gs ? erstore_golden_put(t, self->kind, entity, gs) : ERSTORE_ENOMEM;
    free(gs);
    if (golden)
        *golden = g;
    else
        json_decref(g);
    return rc;
}

/* ---- one record ---- */

typedef struct {
    char   entity[ERSTORE_ID_MAX + 1];
    char   previous[ERSTORE_ID_MAX + 1];
    const char *action;
    double prob;
    bool   republish;
} s_link_t;

static int s_block_keys(stage_t *self, erstore_txn_t *t, size_t i, const char *rid, bool add)
{
    s_keys_t keys = {0};
    er_block_keys(self->d, i, s_key_cb, &keys);
    for (size_t k = 0; k < keys.n; k++) {
        int rc = add ? erstore_block_add(t, self->kind, keys.v[k].k, keys.v[k].len, rid)
                     : erstore_block_del(t, self->kind, keys.v[k].k, keys.v[k].len, rid);
        if (rc)
            return rc;
    }
    return 0;
}

/* Places record 0 of self->d (a new record, or a new version that no longer
 * fits its entity): fills L->entity, action and prob. */
static int s_place(stage_t *self, erstore_txn_t *t, const char *rid, s_link_t *L)
{
    s_keys_t keys = {0};
    er_block_keys(self->d, 0, s_key_cb, &keys);
    s_cids_clear(self);
    for (size_t k = 0; k < keys.n; k++) {
        size_t n = 0;
        int rc = erstore_block_count(t, self->kind, keys.v[k].k, keys.v[k].len, &n);
        if (rc && rc != ERSTORE_NOTFOUND)
            return rc;
        if (n > self->max_block) {
            self->capped++;      /* a skewed value: the other keys still find the pairs */
            continue;
        }
        if (n && (rc = erstore_block_get(t, self->kind, keys.v[k].k, keys.v[k].len, s_collect, self)) < 0)
            return rc;
    }
    /* score every candidate; note the entities of those at or above match */
    double match = er_threshold_match(self->model), best = 0;
    self->ncands = 0;
    size_t nc = self->ncids;
    char **cids = self->cids;
    self->cids = NULL, self->ncids = self->cap_cids = 0;   /* s_members reuses the list */
    int rc = 0;
    for (size_t c = 0; c < nc && !rc; c++) {
        if (strcmp(cids[c], rid) == 0)
            continue;
        long k = s_load(self, t, self->d, cids[c], NULL);
        if (k < 0)
            continue;
        double p;
        er_score(self->model, self->d, 0, (size_t) k, &p);
        if (p > best)
            best = p;
        if (p >= match) {
            char ent[ERSTORE_ID_MAX + 1];
            int e = erstore_entity_of(t, self->kind, cids[c], ent, sizeof ent);
            if (e == 0)
                s_cand_note(self, ent, p);
            else if (e != ERSTORE_NOTFOUND)
                rc = e;
        }
    }
    for (size_t c = 0; c < nc; c++)
        free(cids[c]);
    free(cids);
    if (rc)
        return rc;
    L->prob = best;

    /* a manual LINK to a record already placed decides */
    const json_t *mine = json_object_get(self->decisions, rid);
    size_t i;
    const json_t *e;
    json_array_foreach(mine, i, e) {
        if (json_integer_value(json_array_get(e, 1)) != ERSTORE_LINK)
            continue;
        char ent[ERSTORE_ID_MAX + 1];
        if (erstore_entity_of(t, self->kind, json_string_value(json_array_get(e, 0)), ent, sizeof ent) != 0)
            continue;
        /* ... unless a member of that entity was UNLINKed from this record */
        bool unlinked = false;
        if ((rc = s_members(self, t, ent)))
            return rc;
        for (size_t m = 0; m < self->ncids && !unlinked; m++)
            unlinked = s_decision(self, rid, self->cids[m]) == ERSTORE_UNLINK;
        if (unlinked)
            continue;
        snprintf(L->entity, sizeof L->entity, "%s", ent);
        L->action = "linked";
        L->prob = 1.0;
        return 0;
    }
    if (self->ncands > 1)
        qsort(self->cands, self->ncands, sizeof *self->cands, s_cand_cmp);
    for (size_t c = 0; c < self->ncands; c++) {
        if (L->previous[0] && strcmp(self->cands[c].id, L->previous) == 0)
            continue;            /* the entity a new version was found not to fit */
        bool ok;
        if ((rc = s_fits(self, t, rid, self->cands[c].id, &ok)))
            return rc;
        if (ok) {
            snprintf(L->entity, sizeof L->entity, "%s", self->cands[c].id);
            L->action = "linked";
            L->prob = self->cands[c].prob;
            return 0;
        }
    }
    if ((rc = erstore_new_entity_id(t, self->kind, L->entity, sizeof L->entity)))
        return rc;
    L->action = "created";
    return 0;
}

/* The stored form of a record: its values, and how it was linked by which
 * inputs (the last MSGS_KEPT ids: a redelivered input is recognised). */
static int s_put_record(stage_t *self, erstore_txn_t *t, const char *rid, const s_link_t *L, const char *msg_id,
                        const json_t *old)
{
    json_t *o = er_data_values_json(self->d, 0);
    json_t *msgs = json_array();
    json_array_append_new(msgs, json_string(msg_id));
    const json_t *prev = json_object_get(json_object_get(old, "link"), "msgs");
    for (size_t i = 0; i < json_array_size(prev) && json_array_size(msgs) < MSGS_KEPT; i++)
        json_array_append(msgs, json_array_get(prev, i));
    json_object_set_new(o, "link", json_pack("{s:s, s:s, s:f, s:o}", "entity", L->entity, "action", L->action,
                                             "probability", L->prob, "msgs", msgs));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = s ? erstore_record_put(t, self->kind, rid, s) : ERSTORE_ENOMEM;
    free(s);
    return rc;
}

static bool s_seen(const json_t *stored, const char *msg_id)
{
    const json_t *msgs = json_object_get(json_object_get(stored, "link"), "msgs");
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
        if (json_is_string(m) && strcmp(json_string_value(m), msg_id) == 0)
            return true;
    return false;
}

/* Links record 0 of self->d, arrived in message msg_id. */
static int s_link(stage_t *self, erstore_txn_t *t, const char *msg_id, s_link_t *L)
{
    const char *rid = er_data_id(self->d, 0);
    memset(L, 0, sizeof *L);
    json_t *stored = NULL;
    char *js = erstore_record_get(t, self->kind, rid);
    if (js) {
        stored = json_loads(js, 0, NULL);
        free(js);
    }
    int rc = 0;
    int has = erstore_entity_of(t, self->kind, rid, L->entity, sizeof L->entity);
    if (has != 0 && has != ERSTORE_NOTFOUND) {
        json_decref(stored);
        return has;
    }
    if (stored && has == 0 && s_seen(stored, msg_id)) {
        /* redelivered: already applied, publish the same change again */
        const json_t *lk = json_object_get(stored, "link");
        const char *act = json_string_value(json_object_get(lk, "action"));
        L->action = act && strcmp(act, "created") == 0 ? "created" : act && strcmp(act, "updated") == 0 ? "updated"
                                                                                                          : "linked";
        L->prob = json_number_value(json_object_get(lk, "probability"));
        L->republish = true;
        json_decref(stored);
        return 0;
    }
    if (has == 0) {
        /* a new version of a known record (or one a batch run placed): its
         * old keys go, and it stays in its entity if the other members
         * still accept it */
        long o = stored ? er_data_add_values(self->d, stored, (char[64]){0}, 64) : -1;
        if (o > 0 && (rc = s_block_keys(self, t, (size_t) o, rid, false)))
            goto done;
        bool ok;
        if ((rc = s_fits(self, t, rid, L->entity, &ok)))
            goto done;
        if (ok) {
            L->action = "updated";
            L->prob = json_number_value(json_object_get(json_object_get(stored, "link"), "probability"));
        } else {
            snprintf(L->previous, sizeof L->previous, "%s", L->entity);
            L->entity[0] = '\0';
            if ((rc = s_place(self, t, rid, L)))
                goto done;
            /* placed again into the entity it had (the members' check is
             * borderline, or the model changed since): it stayed, so it is
             * an update, not a move */
            if (strcmp(L->entity, L->previous) == 0) {
                L->action = "updated";
                L->previous[0] = '\0';
            }
        }
    } else if ((rc = s_place(self, t, rid, L)))
        goto done;
    if ((rc = s_put_record(self, t, rid, L, msg_id, stored)) || (rc = s_block_keys(self, t, 0, rid, true)) ||
        (rc = erstore_link_record(t, self->kind, rid, L->entity)))
        goto done;
    if (L->previous[0]) {
        size_t n;
        rc = s_put_golden(self, t, L->previous, NULL, &n);
    }
done:
    json_decref(stored);
    return rc;
}

/* ---- deliver ---- */

static int s_publish(stage_t *self, erstore_txn_t *t, lgsp_batch_t *b, const lgsp_message_t *m, const s_link_t *L,
                     const char *rid, const char *position)
{
    size_t members = 0;
    json_t *golden = NULL;
    int rc;
    if (L->republish) {
        char *gs = erstore_golden_get(t, self->kind, L->entity);
        golden = gs ? json_loads(gs, 0, NULL) : NULL;
        free(gs);
        s_members(self, t, L->entity);
        members = self->ncids;
    } else if ((rc = s_put_golden(self, t, L->entity, &golden, &members)))
        return rc;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:f, s:o, s:I}", "kind", self->kind, "entity", L->entity, "record", rid,
                           "action", L->action, "probability", L->prob, "golden", golden ? golden : json_object(),
                           "members", (json_int_t) members);
    if (L->previous[0])
        json_object_set_new(ev, "previous", json_string(L->previous));
    char *payload = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    char id[40];
    s_out_id(self->kind, m->id, id);
    const char *extra[] = {"lgsp-input-id", m->id, "lgsp-entity", L->entity, "lgsp-action", L->action,
                           "lgsp-kind", self->kind, NULL};
    lgsp_record_t r = {
        .size = sizeof r, .source_id = L->entity, .id = id, .content_type = "application/json",
        .payload = payload, .payload_len = payload ? strlen(payload) : 0, .position = position, .headers = extra,
    };
    rc = payload ? self->host->batch_add(b, &r) : LGSP_AE_NOMEM;
    free(payload);
    return rc < 0 ? ERSTORE_EIO : 0;
}

static int s_deliver(void *selfp, lgsp_adapter_t *a, const lgsp_message_t *msgs, size_t n, lgsp_outcome_t *out)
{
    stage_t *self = selfp;
    const lgsp_host_api_t *host = self->host;
    erstore_txn_t *t = erstore_begin(self->store, true);
    if (!t) {
        host->log(a, LGSP_LOG_ERROR, "entity store: %s", erstore_error());
        return -1;
    }
    s_refresh(self, t, false);
    lgsp_batch_t *b = host->batch_new(a);
    if (!b) {
        erstore_abort(&t);
        return -1;
    }
    uint64_t created = 0, linked = 0, updated = 0, republished = 0, quarantined = 0;
    bool *timed = calloc(n ? n : 1, sizeof *timed);
    int rc = timed ? 0 : ERSTORE_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        const lgsp_message_t *m = &msgs[i];
        char position[300], err[512];
        snprintf(position, sizeof position, "%.200s@%llu", m->topic, (unsigned long long) m->offset);
        json_error_t je;
        json_t *rec = json_loadb(m->payload, m->payload_len, 0, &je);
        er_data_clear(self->d);
        long k = -1;
        if (!json_is_object(rec))
            snprintf(err, sizeof err, "not a JSON object: %s", rec ? "another JSON value" : je.text);
        else
            k = er_data_add_json(self->d, rec, err, sizeof err);
        json_decref(rec);
        if (k < 0) {
            if (host->batch_quarantine(b, position, err, m->payload, m->payload_len) < 0)
                rc = ERSTORE_EIO;
            quarantined++;
            continue;
        }
        s_link_t L;
        const char *rid = er_data_id(self->d, 0);
        char ridc[ERSTORE_ID_MAX + 1];
        snprintf(ridc, sizeof ridc, "%s", rid);
        if ((rc = s_link(self, t, m->id, &L)) || (rc = s_publish(self, t, b, m, &L, ridc, position)))
            break;
        if (L.republish)
            republished++;
        else {
            timed[i] = true;
            *(strcmp(L.action, "created") == 0 ? &created : strcmp(L.action, "updated") == 0 ? &updated : &linked) += 1;
        }
    }
    if (rc) {
        host->log(a, LGSP_LOG_ERROR, "linking failed (the batch is retried): %s",
                  rc == ERSTORE_EIO || rc == ERSTORE_ENOMEM ? erstore_error() : "store error");
        erstore_abort(&t);
        host->batch_discard(b);
        free(timed);
        return -1;
    }
    if (erstore_commit(&t)) {
        host->log(a, LGSP_LOG_ERROR, "entity store commit failed (the batch is retried): %s", erstore_error());
        host->batch_discard(b);
        free(timed);
        return -1;
    }
    lgsp_commit_result_t cr = {.size = sizeof cr};
    if (host->batch_commit(b, NULL, 0, &cr) < 0) {
        free(timed);
        return -1;     /* the store has them: the retry republishes the same ids */
    }
    uint64_t now = s_wall_us(), lat_sum = 0, nlat = 0;
    for (size_t i = 0; i < n; i++) {
        out[i].kind = LGSP_DELIVERED;
        if (timed[i] && msgs[i].time_us) {
            uint64_t us = now > msgs[i].time_us ? now - msgs[i].time_us : 0;
            hist_add(self->lat, us);
            lat_sum += us, nlat++;
        }
    }
    free(timed);
    self->created += created, self->linked += linked, self->updated += updated;
    self->republished += republished, self->quarantined += quarantined;
    host->count(a, "created", created);
    host->count(a, "linked", linked);
    host->count(a, "updated", updated);
    host->count(a, "republished", republished);
    host->count(a, "quarantined_records", quarantined);
    host->count(a, "link_latency_us", lat_sum);
    host->count(a, "links_timed", nlat);
    return 0;
}

static void s_describe(void *selfp, char *buf, size_t len)
{
    stage_t *self = selfp;
    uint64_t p50 = hist_quantile(self->lat, 0.50), p99 = hist_quantile(self->lat, 0.99);
    snprintf(buf, len,
             "%s (model: %.100s): %llu created, %llu linked, %llu updated, %llu republished, %llu quarantined, "
             "%llu refused merges, %llu capped keys; link latency p50 %.1f ms, p99 %.1f ms (%llu)",
             self->kind, self->model_from, (unsigned long long) self->created, (unsigned long long) self->linked,
             (unsigned long long) self->updated, (unsigned long long) self->republished,
             (unsigned long long) self->quarantined, (unsigned long long) self->refused,
             (unsigned long long) self->capped, (double) p50 / 1000.0, (double) p99 / 1000.0,
             (unsigned long long) hist_count(self->lat));
}

static void s_destroy(stage_t *self)
{
    s_cids_clear(self);
    free(self->cids);
    free(self->cands);
    free(self->mem);
    json_decref(self->decisions);
    er_data_destroy(&self->d);
    er_data_destroy(&self->gd);
    er_model_destroy(&self->model);
    free(self->model_json);
    er_spec_destroy(&self->spec);
    erstore_destroy(&self->store);
    hist_destroy(&self->lat);
    free(self);
}

static void s_cleanup(void *selfp, lgsp_adapter_t *a)
{
    (void) a;
    s_destroy(selfp);
}

/* ---- init ---- */

/* A relative path is beside lgspd's config. */
static void s_path(const lgsp_host_api_t *host, lgsp_adapter_t *a, const char *v, char *buf, size_t sz)
{
    if (v[0] != '/' && host->config_dir && host->config_dir(a))
        snprintf(buf, sz, "%s/%s", host->config_dir(a), v);
    else
        snprintf(buf, sz, "%s", v);
}

/* A spec or model file: beside the config; else, for a relative path, its
 * file name among the installed ones ($LGSP_ER_DIR, <sysconfdir>/lgsp/er)
 * or, for an lgspd run from its build folder, the source tree's config/er
 * (a config written elsewhere, as the tests do, still finds them). */
static void s_find(const lgsp_host_api_t *host, lgsp_adapter_t *a, const char *v, char *buf, size_t sz)
{
    s_path(host, a, v, buf, sz);
    if (v[0] == '/' || access(buf, R_OK) == 0)
        return;
    const char *base = strrchr(v, '/') ? strrchr(v, '/') + 1 : v;
    const char *env = getenv("LGSP_ER_DIR");
    const char *dirs[] = {env && *env ? env : NULL, LGSP_ER_DIR, LGSP_ER_SRC_DIR};
    char cand[4096];
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        if (!dirs[i])
            continue;
        snprintf(cand, sizeof cand, "%s/%s", dirs[i], base);
        if (access(cand, R_OK) == 0) {
            snprintf(buf, sz, "%s", cand);
            return;
        }
    }
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= 1 && 1 <= host_max ? 1 : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host, lgsp_adapter_info_t *info,
                                          void **out)
{
    if (host->size < offsetof(lgsp_host_api_t, output) + sizeof host->output || !host->output)
        return host->setting_error(a, "spec", "this lgspd is too old for the resolve stage");
    if (!host->output(a))
        return host->setting_error(a, "spec", "the resolve stage needs `output:` (the entity topic, e.g. entity.person)");
    char spath[4096], mpath[4096], err[1024];
    const char *sp = host->setting(a, "spec");
    s_find(host, a, sp && *sp ? sp : "er/person.yaml", spath, sizeof spath);
    stage_t *self = calloc(1, sizeof *self);
    if (!self || !(self->lat = hist_new())) {
        free(self);
        return LGSP_AE_NOMEM;
    }
    self->host = host;
    self->a = a;
    if (!(self->spec = er_spec_load(spath, err, sizeof err))) {
        s_destroy(self);
        return host->setting_error(a, "spec", "%s", err);
    }
    self->kind = er_spec_kind(self->spec);
    const char *st = host->setting(a, "store");
    if (st && *st)
        s_path(host, a, st, self->store_dir, sizeof self->store_dir);
    else
        snprintf(self->store_dir, sizeof self->store_dir, "%s", host->work_dir(a));
    if (!(self->store = erstore_open(self->store_dir, err, sizeof err))) {
        s_destroy(self);
        return host->setting_error(a, "store", "%s", err);
    }
    erstore_txn_t *t = erstore_begin(self->store, false);
    if (!t) {
        s_destroy(self);
        return host->setting_error(a, "store", "%s", erstore_error());
    }
    int mrc = s_model_from_store(self, t, err, sizeof err);
    erstore_abort(&t);
    if (mrc) {
        s_destroy(self);
        return host->setting_error(a, "store", "%s", err);
    }
    const char *mp = host->setting(a, "model");
    if (!self->model && mp && *mp) {
        s_find(host, a, mp, mpath, sizeof mpath);
        json_t *j = s_load_json_file(mpath, err, sizeof err);
        self->model = j ? er_model_from_json(self->spec, j, err, sizeof err) : NULL;
        json_decref(j);
        if (!self->model) {
            s_destroy(self);
            return host->setting_error(a, "model", "%s", err);
        }
        snprintf(self->model_from, sizeof self->model_from, "%s", mpath);
    }
    if (!self->model) {
        int rc = host->setting_error(a, "model",
                                     "no model of kind %s: the store %s holds none and no `model:` file is set; "
                                     "run `lgsp dedup --spec %s --store %s` on the data first, or set `model:` "
                                     "(config/er/person.model.json is a default trained on synthetic data)",
                                     self->kind, self->store_dir, spath, self->store_dir);
        s_destroy(self);
        return rc;
    }
    self->max_block = er_spec_max_block(self->spec);
    self->max_cluster = er_spec_max_cluster(self->spec);
    if (!(self->d = er_data_new(self->spec)) || !(self->gd = er_data_new(self->spec))) {
        s_destroy(self);
        return LGSP_AE_NOMEM;
    }
    self->decisions = json_object();
    self->refreshed = -1e9;
    info->plugin = "resolve";
    info->version = "1";
    info->kind = LGSP_ADAPTER_SINK;
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->deliver = s_deliver;
    info->cleanup = s_cleanup;
    info->describe = s_describe;
    *out = self;
    return 0;
}
