/* erstore.c — what entity resolution keeps in LMDB (see erstore.h).
 *
 * Layout of the environment (one folder):
 *   "meta"            the store's format version
 *   "<kind>:meta"     "model" -> JSON\0, "next_id" -> u64 (entity counter),
 *                     "dseq" -> u64 (decision sequence)
 *   "<kind>:rec"      record id -> JSON\0
 *   "<kind>:blk"      (DUPSORT) blocking key -> record ids
 *   "<kind>:r2e"      record id -> entity id
 *   "<kind>:e2r"      (DUPSORT) entity id -> record ids
 *   "<kind>:gold"     entity id -> JSON\0
 *   "<kind>:dlog"     be64 at_us + be64 seq -> decision (history)
 *   "<kind>:drule"    "a\0b" -> the latest decision of the pair
 *   "<kind>:redir"    (DUPSORT) retired entity id -> entity ids
 * JSON values are stored with their NUL, so an iteration hands the mapped
 * bytes to its callback without a copy. Ids are stored without one.
 *
 * The databases of a kind are opened once per process and kept in a table
 * of the store: the three kinds of the engine at erstore_open, any other
 * kind by the first write transaction that uses it. Only write transactions
 * open databases (LMDB allows one transaction at a time to do that, and
 * there is one writer); a read transaction that meets a kind not yet
 * committed sees it empty. */
#include "erstore.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#define FORMAT_VERSION "1"
#define KINDS_MAX      64
#define KEY_MAX        400      /* a blocking key */
#define ERSTORE_DEFAULT_MAP_SIZE (64ULL << 30)

enum { T_META, T_REC, T_BLK, T_R2E, T_E2R, T_GOLD, T_DLOG, T_DRULE, T_REDIR, T_COUNT };

static const struct {
    const char *name;
    unsigned    flags;
} s_tables[T_COUNT] = {
    [T_META]  = { "meta",  0 },
    [T_REC]   = { "rec",   0 },
    [T_BLK]   = { "blk",   MDB_DUPSORT },
    [T_R2E]   = { "r2e",   0 },
    [T_E2R]   = { "e2r",   MDB_DUPSORT },
    [T_GOLD]  = { "gold",  0 },
    [T_DLOG]  = { "dlog",  0 },
    [T_DRULE] = { "drule", 0 },
    [T_REDIR] = { "redir", MDB_DUPSORT },
};

typedef struct {
    char           name[32];
    MDB_dbi        dbi[T_COUNT];
    erstore_txn_t *pending;     /* the write txn that created the handles, until it commits */
    bool           used;
} s_kind_t;

struct erstore {
    MDB_env        *env;
    char           *path;
    uint64_t        map_size;
    pthread_mutex_t lock;       /* guards kinds[] */
    s_kind_t        kinds[KINDS_MAX];
};

struct erstore_txn {
    erstore_t *store;
    MDB_txn   *txn;
    bool       write;
    bool       failed;          /* an LMDB write failed: the txn can only be aborted */
};

/* ---- errors ---------------------------------------------------------- */

static __thread char s_errbuf[512];

const char *erstore_error(void)
{
    return s_errbuf;
}

__attribute__((format(printf, 2, 3)))
static int s_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_errbuf, sizeof s_errbuf, fmt, ap);
    va_end(ap);
    return code;
}

/* Maps an LMDB failure to a code and a text; marks t unusable (LMDB does:
 * after a failed put the txn accepts nothing but an abort). */
static int s_mdb(erstore_t *self, erstore_txn_t *t, int rc, const char *what)
{
    if (t && t->write)
        t->failed = true;
    if (rc == MDB_MAP_FULL)
        return s_fail(ERSTORE_EIO, "erstore: the LMDB map of %" PRIu64 " MiB of %s is full (%s); "
                      "nothing of the transaction is kept: open the store with a larger map size",
                      self->map_size >> 20, self->path, what);
    if (rc == ENOMEM)
        return s_fail(ERSTORE_ENOMEM, "erstore: out of memory (%s)", what);
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
        return s_fail(ERSTORE_EIO, "erstore: disk full: %s (%s, %s)", mdb_strerror(rc), self->path, what);
    return s_fail(ERSTORE_EIO, "erstore: %s: %s (%s)", what, mdb_strerror(rc), self->path);
}

static int s_nomem(void)
{
    return s_fail(ERSTORE_ENOMEM, "erstore: out of memory");
}

/* ---- argument checks ------------------------------------------------- */

/* 1..255 bytes of printable ASCII without spaces. The text never repeats
 * the id (it may carry personal data). */
static int s_check_id(const char *id, const char *what)
{
    if (!id)
        return s_fail(ERSTORE_EINVAL, "erstore: %s: NULL", what);
    size_t len = strnlen(id, ERSTORE_ID_MAX + 1);
    if (len == 0)
        return s_fail(ERSTORE_EINVAL, "erstore: %s: empty", what);
    if (len > ERSTORE_ID_MAX)
        return s_fail(ERSTORE_EINVAL, "erstore: %s: longer than %d bytes", what, ERSTORE_ID_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) id[i] <= 0x20 || (unsigned char) id[i] >= 0x7f)
            return s_fail(ERSTORE_EINVAL, "erstore: %s: byte %zu is %s", what, i,
                          id[i] == ' ' ? "a space" : "not printable ASCII");
    return 0;
}

static int s_check_kind(const char *kind)
{
    if (!kind)
        return s_fail(ERSTORE_EINVAL, "erstore: kind: NULL");
    size_t len = strnlen(kind, 32);
    if (len == 0 || len > 31)
        return s_fail(ERSTORE_EINVAL, "erstore: kind: 1 to 31 of [a-z_] expected");
    for (size_t i = 0; i < len; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || kind[i] == '_'))
            return s_fail(ERSTORE_EINVAL, "erstore: kind \"%s\": only [a-z_] allowed", kind);
    return 0;
}

static int s_check_write(erstore_txn_t *t)
{
    if (!t || !t->txn)
        return s_fail(ERSTORE_EINVAL, "erstore: no transaction");
    if (!t->write)
        return s_fail(ERSTORE_EINVAL, "erstore: a read transaction cannot write");
    if (t->failed)
        return s_fail(ERSTORE_EIO, "erstore: an earlier failure left the transaction unusable; abort it");
    return 0;
}

/* ---- kinds ----------------------------------------------------------- */

static int s_open_kind(erstore_t *self, MDB_txn *txn, s_kind_t *k, const char *kind)
{
    char name[48];
    for (int i = 0; i < T_COUNT; i++) {
        snprintf(name, sizeof name, "%s:%s", kind, s_tables[i].name);
        int rc = mdb_dbi_open(txn, name, MDB_CREATE | s_tables[i].flags, &k->dbi[i]);
        if (rc == MDB_DBS_FULL)
            return s_fail(ERSTORE_EINVAL, "erstore: too many kinds (at most %d)", KINDS_MAX);
        if (rc)
            return s_mdb(self, NULL, rc, "opening a kind's databases");
    }
    snprintf(k->name, sizeof k->name, "%s", kind);
    k->used = true;
    return 0;
}

/* The databases of kind for t: 0, ERSTORE_NOTFOUND (a read txn and a kind
 * without data), or an error. A write txn creates them. */
static int s_kind(erstore_txn_t *t, const char *kind, const MDB_dbi **dbi)
{
    int rc = s_check_kind(kind);
    if (rc)
        return rc;
    if (!t || !t->txn)
        return s_fail(ERSTORE_EINVAL, "erstore: no transaction");
    erstore_t *self = t->store;
    pthread_mutex_lock(&self->lock);
    s_kind_t *free_slot = NULL;
    for (int i = 0; i < KINDS_MAX; i++) {
        s_kind_t *k = &self->kinds[i];
        if (!k->used) {
            if (!free_slot)
                free_slot = k;
            continue;
        }
        if (strcmp(k->name, kind) != 0)
            continue;
        pthread_mutex_unlock(&self->lock);
        if (k->pending && k->pending != t)
            return ERSTORE_NOTFOUND;
        /* A reader begun before the kind's creation committed does not
         * know its handles. */
        unsigned flags;
        if (!t->write && mdb_dbi_flags(t->txn, k->dbi[0], &flags) != 0)
            return ERSTORE_NOTFOUND;
        *dbi = k->dbi;
        return 0;
    }
    if (!t->write) {
        pthread_mutex_unlock(&self->lock);
        return ERSTORE_NOTFOUND;
    }
    if (t->failed) {
        pthread_mutex_unlock(&self->lock);
        return s_check_write(t);
    }
    if (!free_slot) {
        pthread_mutex_unlock(&self->lock);
        return s_fail(ERSTORE_EINVAL, "erstore: too many kinds (at most %d)", KINDS_MAX);
    }
    rc = s_open_kind(self, t->txn, free_slot, kind);
    if (rc == 0) {
        free_slot->pending = t;
        *dbi = free_slot->dbi;
    } else {
        t->failed = true;
        memset(free_slot, 0, sizeof *free_slot);
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

/* After t ended: its new kinds stay (committed) or are forgotten (LMDB
 * closed their handles). */
static void s_kinds_settle(erstore_txn_t *t, bool committed)
{
    erstore_t *self = t->store;
    pthread_mutex_lock(&self->lock);
    for (int i = 0; i < KINDS_MAX; i++) {
        s_kind_t *k = &self->kinds[i];
        if (!k->used || k->pending != t)
            continue;
        if (committed)
            k->pending = NULL;
        else
            memset(k, 0, sizeof *k);
    }
    pthread_mutex_unlock(&self->lock);
}

/* ---- open / close ---------------------------------------------------- */

erstore_t *erstore_open_size(const char *dir, uint64_t map_size, char *err, size_t errlen)
{
    char buf[600];
    erstore_t *self = calloc(1, sizeof *self);
    if (!self || !dir || !*dir) {
        snprintf(buf, sizeof buf, "erstore: %s", self ? "no folder given" : "out of memory");
        goto fail;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->path = strdup(dir);
    self->map_size = map_size ? map_size : ERSTORE_DEFAULT_MAP_SIZE;
    if (!self->path) {
        snprintf(buf, sizeof buf, "erstore: out of memory");
        goto fail;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(buf, sizeof buf, "erstore: cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    int rc = mdb_env_create(&self->env);
    /* A large sparse map: the file grows with the data, the map only
     * reserves address space (millions of records need a few GiB). */
    if (!rc) rc = mdb_env_set_mapsize(self->env, self->map_size);
    if (!rc) rc = mdb_env_set_maxdbs(self->env, KINDS_MAX * T_COUNT + 1);
    if (!rc) rc = mdb_env_set_maxreaders(self->env, 126);
    /* NOTLS: a read transaction belongs to the erstore_txn_t, not to the
     * thread that began it. No MDB_WRITEMAP: with it a full disk is a SIGBUS
     * instead of an error. */
    if (!rc) rc = mdb_env_open(self->env, dir, MDB_NOTLS, 0600);
    if (rc) {
        snprintf(buf, sizeof buf, "erstore: cannot open %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    int dead = 0;
    mdb_reader_check(self->env, &dead);   /* slots left by a killed process */
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    if (info.me_mapsize > self->map_size)   /* an existing file larger than asked */
        self->map_size = info.me_mapsize;

    MDB_txn *txn = NULL;
    MDB_dbi meta;
    rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta);
    if (rc) {
        if (txn) mdb_txn_abort(txn);
        snprintf(buf, sizeof buf, "erstore: %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    MDB_val k = { 6, "format" }, v;
    rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_size = 1;
        v.mv_data = FORMAT_VERSION;
        rc = mdb_put(txn, meta, &k, &v, 0);
    } else if (!rc && (v.mv_size != 1 || memcmp(v.mv_data, FORMAT_VERSION, 1) != 0)) {
        mdb_txn_abort(txn);
        snprintf(buf, sizeof buf, "erstore: %s has format %.*s; this program reads format %s",
                 dir, (int) v.mv_size, (char *) v.mv_data, FORMAT_VERSION);
        goto fail;
    }
    /* The engine's kinds, then every other kind the folder holds (the
     * main database lists the named ones as "<kind>:<table>"). */
    static const char *const known[] = { "person", "land_parcel", "civil_event" };
    int nk = 0;
    for (int i = 0; !rc && i < 3; i++)
        rc = s_open_kind(self, txn, &self->kinds[nk++], known[i]) ? -1 : 0;
    MDB_dbi main_db;
    MDB_cursor *c = NULL;
    if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (!rc) rc = mdb_cursor_open(txn, main_db, &c);
    for (int r = rc ? rc : mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc && r == 0;
         r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const char *colon = memchr(k.mv_data, ':', k.mv_size);
        char kind[32];
        size_t kl = colon ? (size_t) (colon - (const char *) k.mv_data) : 0;
        if (!colon || kl == 0 || kl > 31 || k.mv_size - kl - 1 != 4 || memcmp(colon + 1, "meta", 4) != 0)
            continue;
        memcpy(kind, k.mv_data, kl);
        kind[kl] = 0;
        bool have = false;
        for (int i = 0; i < nk; i++)
            have |= strcmp(self->kinds[i].name, kind) == 0;
        if (have || s_check_kind(kind) != 0)
            continue;
        if (nk == KINDS_MAX || s_open_kind(self, txn, &self->kinds[nk++], kind))
            rc = -1;
    }
    if (c)
        mdb_cursor_close(c);
    if (!rc) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    if (rc) {
        snprintf(buf, sizeof buf, "erstore: %s: %s", dir,
                 rc == -1 ? erstore_error() : mdb_strerror(rc));
        memset(self->kinds, 0, sizeof self->kinds);
        goto fail;
    }
    return self;
fail:
    if (err && errlen)
        snprintf(err, errlen, "%s", buf);
    s_fail(ERSTORE_EIO, "%s", buf);
    erstore_destroy(&self);
    return NULL;
}

erstore_t *erstore_open(const char *dir, char *err, size_t errlen)
{
    return erstore_open_size(dir, 0, err, errlen);
}

void erstore_destroy(erstore_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    erstore_t *self = *self_p;
    if (self->env)
        mdb_env_close(self->env);
    pthread_mutex_destroy(&self->lock);
    free(self->path);
    free(self);
    *self_p = NULL;
}

/* ---- transactions ---------------------------------------------------- */

erstore_txn_t *erstore_begin(erstore_t *self, bool write)
{
    if (!self) {
        s_fail(ERSTORE_EINVAL, "erstore: no store");
        return NULL;
    }
    erstore_txn_t *t = calloc(1, sizeof *t);
    if (!t) {
        s_nomem();
        return NULL;
    }
    t->store = self;
    t->write = write;
    int rc = mdb_txn_begin(self->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc) {
        s_mdb(self, NULL, rc, write ? "beginning a write transaction" : "beginning a read transaction");
        free(t);
        return NULL;
    }
    return t;
}

int erstore_commit(erstore_txn_t **txn_p)
{
    if (!txn_p || !*txn_p)
        return s_fail(ERSTORE_EINVAL, "erstore: no transaction");
    erstore_txn_t *t = *txn_p;
    *txn_p = NULL;
    int rc = 0;
    if (!t->write) {
        mdb_txn_abort(t->txn);
    } else if (t->failed) {
        mdb_txn_abort(t->txn);
        s_kinds_settle(t, false);
        rc = s_fail(ERSTORE_EIO, "erstore: commit of a transaction an earlier failure left unusable: "
                    "nothing of it is kept");
    } else {
        int mrc = mdb_txn_commit(t->txn);  /* frees the txn, also on failure */
        s_kinds_settle(t, mrc == 0);
        if (mrc)
            rc = s_mdb(t->store, NULL, mrc, "commit");
    }
    free(t);
    return rc;
}

void erstore_abort(erstore_txn_t **txn_p)
{
    if (!txn_p || !*txn_p)
        return;
    erstore_txn_t *t = *txn_p;
    *txn_p = NULL;
    mdb_txn_abort(t->txn);
    if (t->write)
        s_kinds_settle(t, false);
    free(t);
}

/* ---- small helpers --------------------------------------------------- */

static MDB_val s_val(const char *s)
{
    return (MDB_val) { strlen(s), (void *) s };
}

/* s with its NUL, for JSON values. */
static MDB_val s_valz(const char *s)
{
    return (MDB_val) { strlen(s) + 1, (void *) s };
}

static char *s_dupz(const MDB_val *v)
{
    char *s = malloc(v->mv_size + 1);
    if (!s) {
        s_nomem();
        return NULL;
    }
    memcpy(s, v->mv_data, v->mv_size);
    s[v->mv_size] = 0;
    return s;
}

/* Copies an id value into a NUL-terminated buffer of ERSTORE_ID_MAX + 1. */
static void s_idcopy(char *out, const MDB_val *v)
{
    size_t n = v->mv_size > ERSTORE_ID_MAX ? ERSTORE_ID_MAX : v->mv_size;
    memcpy(out, v->mv_data, n);
    out[n] = 0;
}

static int s_put(erstore_txn_t *t, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags, const char *what)
{
    int rc = mdb_put(t->txn, dbi, k, v, flags);
    if (rc == MDB_KEYEXIST && (flags & (MDB_NODUPDATA | MDB_NOOVERWRITE)))
        return 0;
    return rc ? s_mdb(t->store, t, rc, what) : 0;
}

static int s_del(erstore_txn_t *t, MDB_dbi dbi, MDB_val *k, MDB_val *v, const char *what)
{
    int rc = mdb_del(t->txn, dbi, k, v);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? s_mdb(t->store, t, rc, what) : 0;
}

/* A JSON value of a table: get returns malloc'ed or NULL. */
static char *s_json_get(erstore_txn_t *t, const char *kind, int table, const char *key, const char *what)
{
    const MDB_dbi *dbi;
    if (s_check_id(key, what) || s_kind(t, kind, &dbi))
        return NULL;
    MDB_val k = s_val(key), v;
    int rc = mdb_get(t->txn, dbi[table], &k, &v);
    if (rc) {
        if (rc != MDB_NOTFOUND)
            s_mdb(t->store, NULL, rc, what);
        else
            s_fail(ERSTORE_NOTFOUND, "erstore: %s: not found", what);
        return NULL;
    }
    if (v.mv_size && ((char *) v.mv_data)[v.mv_size - 1] == 0)
        v.mv_size--;
    return s_dupz(&v);
}

static int s_json_put(erstore_txn_t *t, const char *kind, int table, const char *key,
                      const char *json, const char *what)
{
    const MDB_dbi *dbi;
    int rc = s_check_write(t);
    if (!rc) rc = s_check_id(key, what);
    if (!rc && !json) rc = s_fail(ERSTORE_EINVAL, "erstore: %s: no JSON", what);
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    MDB_val k = s_val(key), v = s_valz(json);
    return s_put(t, dbi[table], &k, &v, 0, what);
}

static int s_meta_u64(erstore_txn_t *t, const MDB_dbi *dbi, const char *key, uint64_t *out)
{
    MDB_val k = s_val(key), v;
    int rc = mdb_get(t->txn, dbi[T_META], &k, &v);
    *out = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return s_mdb(t->store, t, rc, key);
    if (v.mv_size == 8)
        memcpy(out, v.mv_data, 8);
    return 0;
}

static int s_meta_put_u64(erstore_txn_t *t, const MDB_dbi *dbi, const char *key, uint64_t val)
{
    MDB_val k = s_val(key), v = { 8, &val };
    return s_put(t, dbi[T_META], &k, &v, 0, key);
}

static void s_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char) v;
}

static uint64_t s_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- model, records -------------------------------------------------- */

int erstore_model_put(erstore_txn_t *t, const char *kind, const char *json)
{
    return s_json_put(t, kind, T_META, "model", json, "model");
}

char *erstore_model_get(erstore_txn_t *t, const char *kind)
{
    return s_json_get(t, kind, T_META, "model", "model");
}

int erstore_record_put(erstore_txn_t *t, const char *kind, const char *record_id, const char *json)
{
    return s_json_put(t, kind, T_REC, record_id, json, "record id");
}

char *erstore_record_get(erstore_txn_t *t, const char *kind, const char *record_id)
{
    return s_json_get(t, kind, T_REC, record_id, "record id");
}

int erstore_record_del(erstore_txn_t *t, const char *kind, const char *record_id)
{
    const MDB_dbi *dbi;
    int rc = s_check_write(t);
    if (!rc) rc = s_check_id(record_id, "record id");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    MDB_val k = s_val(record_id);
    rc = mdb_del(t->txn, dbi[T_REC], &k, NULL);
    if (rc == MDB_NOTFOUND)
        return s_fail(ERSTORE_NOTFOUND, "erstore: record id: not found");
    return rc ? s_mdb(t->store, t, rc, "deleting a record") : 0;
}

int erstore_records(erstore_txn_t *t, const char *kind,
                    int (*cb)(const char *record_id, const char *json, void *ctx), void *ctx)
{
    const MDB_dbi *dbi;
    if (!cb)
        return s_fail(ERSTORE_EINVAL, "erstore: records: no callback");
    int rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc == ERSTORE_NOTFOUND ? 0 : rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(t->txn, dbi[T_REC], &c)))
        return s_mdb(t->store, NULL, rc, "records");
    MDB_val k, v;
    char id[ERSTORE_ID_MAX + 1];
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        s_idcopy(id, &k);
        if (cb(id, v.mv_data, ctx)) {
            mdb_cursor_close(c);
            return ERSTORE_ESTOP;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : s_mdb(t->store, NULL, rc, "records");
}

/* ---- blocking index -------------------------------------------------- */

static int s_check_key(const void *key, size_t klen)
{
    if (!key || klen == 0 || klen > KEY_MAX)
        return s_fail(ERSTORE_EINVAL, "erstore: blocking key: 1 to %d bytes expected", KEY_MAX);
    return 0;
}

int erstore_block_add(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      const char *record_id)
{
    const MDB_dbi *dbi;
    int rc = s_check_write(t);
    if (!rc) rc = s_check_key(key, klen);
    if (!rc) rc = s_check_id(record_id, "record id");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    MDB_val k = { klen, (void *) key }, v = s_val(record_id);
    return s_put(t, dbi[T_BLK], &k, &v, MDB_NODUPDATA, "blocking index");
}

int erstore_block_del(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      const char *record_id)
{
    const MDB_dbi *dbi;
    int rc = s_check_write(t);
    if (!rc) rc = s_check_key(key, klen);
    if (!rc) rc = s_check_id(record_id, "record id");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    MDB_val k = { klen, (void *) key }, v = s_val(record_id);
    return s_del(t, dbi[T_BLK], &k, &v, "blocking index");
}

/* Calls cb for each value of a DUPSORT key (NUL-terminated copies). */
static int s_dups(erstore_txn_t *t, MDB_dbi dbi, MDB_val *k, int (*cb)(const char *, void *),
                  void *ctx, bool notfound_is_error, size_t *count)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, dbi, &c);
    if (rc)
        return s_mdb(t->store, NULL, rc, "cursor");
    MDB_val v;
    char id[ERSTORE_ID_MAX + 1];
    rc = mdb_cursor_get(c, k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) {
        mdb_cursor_close(c);
        if (count)
            *count = 0;
        return notfound_is_error ? s_fail(ERSTORE_NOTFOUND, "erstore: not found") : 0;
    }
    if (count) {
        size_t n = 0;
        if (!rc) rc = mdb_cursor_count(c, &n);
        *count = n;
        cb = NULL;
    }
    for (; rc == 0 && cb; rc = mdb_cursor_get(c, k, &v, MDB_NEXT_DUP)) {
        s_idcopy(id, &v);
        if (cb(id, ctx)) {
            mdb_cursor_close(c);
            return ERSTORE_ESTOP;
        }
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(t->store, NULL, rc, "cursor");
}

int erstore_block_get(erstore_txn_t *t, const char *kind, const void *key, size_t klen,
                      int (*cb)(const char *record_id, void *ctx), void *ctx)
{
    const MDB_dbi *dbi;
    int rc = s_check_key(key, klen);
    if (!rc && !cb) rc = s_fail(ERSTORE_EINVAL, "erstore: block_get: no callback");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc == ERSTORE_NOTFOUND ? 0 : rc;
    MDB_val k = { klen, (void *) key };
    return s_dups(t, dbi[T_BLK], &k, cb, ctx, false, NULL);
}

int erstore_block_count(erstore_txn_t *t, const char *kind, const void *key, size_t klen, size_t *n)
{
    const MDB_dbi *dbi;
    int rc = s_check_key(key, klen);
    if (!rc && !n) rc = s_fail(ERSTORE_EINVAL, "erstore: block_count: no output");
    if (rc)
        return rc;
    *n = 0;
    if ((rc = s_kind(t, kind, &dbi)))
        return rc == ERSTORE_NOTFOUND ? 0 : rc;
    MDB_val k = { klen, (void *) key };
    return s_dups(t, dbi[T_BLK], &k, NULL, NULL, false, n);
}

/* ---- entities -------------------------------------------------------- */

int erstore_entity_of(erstore_txn_t *t, const char *kind, const char *record_id, char *out, size_t cap)
{
    const MDB_dbi *dbi;
    int rc = s_check_id(record_id, "record id");
    if (!rc && (!out || cap < ERSTORE_ID_MAX + 1))
        rc = s_fail(ERSTORE_EINVAL, "erstore: entity_of: the output needs %d bytes", ERSTORE_ID_MAX + 1);
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc == ERSTORE_NOTFOUND)
        return s_fail(ERSTORE_NOTFOUND, "erstore: record id: no entity");
    if (rc)
        return rc;
    MDB_val k = s_val(record_id), v;
    rc = mdb_get(t->txn, dbi[T_R2E], &k, &v);
    if (rc == MDB_NOTFOUND)
        return s_fail(ERSTORE_NOTFOUND, "erstore: record id: no entity");
    if (rc)
        return s_mdb(t->store, NULL, rc, "entity_of");
    s_idcopy(out, &v);
    return 0;
}

/* Retires entity `old` if it holds no records: a redirect to `to` (a
 * cluster's id), its golden record dropped. Sets *retired. */
static int s_retire_if_empty(erstore_txn_t *t, const MDB_dbi *dbi, MDB_val *old, bool *retired)
{
    MDB_val v;
    int rc = mdb_get(t->txn, dbi[T_E2R], old, &v);
    *retired = rc == MDB_NOTFOUND;
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(t->store, t, rc, "entity members");
    if (*retired)
        return s_del(t, dbi[T_GOLD], old, NULL, "golden record");
    return 0;
}

int erstore_link_record(erstore_txn_t *t, const char *kind, const char *record_id, const char *entity_id)
{
    const MDB_dbi *dbi;
    int rc = s_check_write(t);
    if (!rc) rc = s_check_id(record_id, "record id");
    if (!rc) rc = s_check_id(entity_id, "entity id");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    MDB_val kr = s_val(record_id), ke = s_val(entity_id), v;
    char old[ERSTORE_ID_MAX + 1] = "";
    rc = mdb_get(t->txn, dbi[T_R2E], &kr, &v);
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(t->store, t, rc, "link_record");
    if (rc == 0)
        s_idcopy(old, &v);
    if (!(rc = s_put(t, dbi[T_E2R], &ke, &kr, MDB_NODUPDATA, "link_record")) &&
        strcmp(old, entity_id) != 0) {
        /* The entity is live: any redirect it had from an earlier
         * retirement no longer holds. */
        rc = s_del(t, dbi[T_REDIR], &ke, NULL, "link_record");
        if (!rc) rc = s_put(t, dbi[T_R2E], &kr, &ke, 0, "link_record");
        if (!rc && *old) {
            MDB_val ko = s_val(old);
            bool retired;
            rc = s_del(t, dbi[T_E2R], &ko, &kr, "link_record");
            if (!rc) rc = s_retire_if_empty(t, dbi, &ko, &retired);
            if (!rc && retired)
                rc = s_put(t, dbi[T_REDIR], &ko, &ke, MDB_NODUPDATA, "link_record");
        }
    }
    return rc;
}

int erstore_members(erstore_txn_t *t, const char *kind, const char *entity_id,
                    int (*cb)(const char *record_id, void *ctx), void *ctx)
{
    const MDB_dbi *dbi;
    int rc = s_check_id(entity_id, "entity id");
    if (!rc && !cb) rc = s_fail(ERSTORE_EINVAL, "erstore: members: no callback");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc == ERSTORE_NOTFOUND)
        return s_fail(ERSTORE_NOTFOUND, "erstore: entity id: no records");
    if (rc)
        return rc;
    MDB_val k = s_val(entity_id);
    return s_dups(t, dbi[T_E2R], &k, cb, ctx, true, NULL);
}

int erstore_entities(erstore_txn_t *t, const char *kind, int (*cb)(const char *entity_id, size_t nrecords,
                                                                    void *ctx), void *ctx)
{
    const MDB_dbi *dbi;
    if (!cb)
        return s_fail(ERSTORE_EINVAL, "erstore: entities: no callback");
    int rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc == ERSTORE_NOTFOUND ? 0 : rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(t->txn, dbi[T_E2R], &c)))
        return s_mdb(t->store, NULL, rc, "entities");
    MDB_val k, v;
    char id[ERSTORE_ID_MAX + 1];
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
        size_t n = 0;
        mdb_cursor_count(c, &n);
        s_idcopy(id, &k);
        if (cb(id, n, ctx)) {
            mdb_cursor_close(c);
            return ERSTORE_ESTOP;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : s_mdb(t->store, NULL, rc, "entities");
}

static void s_prefix(const char *kind, char *out, size_t cap)
{
    if (strcmp(kind, "person") == 0)
        snprintf(out, cap, "PER");
    else if (strcmp(kind, "land_parcel") == 0)
        snprintf(out, cap, "LND");
    else if (strcmp(kind, "civil_event") == 0)
        snprintf(out, cap, "EVT");
    else {
        size_t i = 0;
        for (; kind[i] && i + 1 < cap; i++)
            out[i] = (char) (kind[i] == '_' ? '_' : kind[i] - 'a' + 'A');
        out[i] = 0;
    }
}

static bool s_exists(MDB_txn *txn, MDB_dbi dbi, MDB_val *k)
{
    MDB_val v;
    return mdb_get(txn, dbi, k, &v) == 0;
}

int erstore_new_entity_id(erstore_txn_t *t, const char *kind, char *out, size_t cap)
{
    const MDB_dbi *dbi;
    int rc = s_check_write(t);
    if (!rc && (!out || cap < ERSTORE_ID_MAX + 1))
        rc = s_fail(ERSTORE_EINVAL, "erstore: new_entity_id: the output needs %d bytes", ERSTORE_ID_MAX + 1);
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    uint64_t next;
    char prefix[40];
    if ((rc = s_meta_u64(t, dbi, "next_id", &next)))
        return rc;
    s_prefix(kind, prefix, sizeof prefix);
    /* Skips an id already in use (linked by hand, or live/retired in a
     * store whose counter was lost). */
    for (;;) {
        if (next == 0)
            next = 1;
        snprintf(out, cap, "%s%010" PRIu64, prefix, next++);
        MDB_val k = s_val(out);
        if (!s_exists(t->txn, dbi[T_E2R], &k) && !s_exists(t->txn, dbi[T_REDIR], &k))
            break;
    }
    return s_meta_put_u64(t, dbi, "next_id", next);
}

int erstore_redirects(erstore_txn_t *t, const char *kind, const char *entity_id,
                      int (*cb)(const char *entity_id, void *ctx), void *ctx)
{
    const MDB_dbi *dbi;
    int rc = s_check_id(entity_id, "entity id");
    if (!rc && !cb) rc = s_fail(ERSTORE_EINVAL, "erstore: redirects: no callback");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc == ERSTORE_NOTFOUND)
        return s_fail(ERSTORE_NOTFOUND, "erstore: entity id: not retired");
    if (rc)
        return rc;
    MDB_val k = s_val(entity_id);
    return s_dups(t, dbi[T_REDIR], &k, cb, ctx, true, NULL);
}

int erstore_golden_put(erstore_txn_t *t, const char *kind, const char *entity_id, const char *json)
{
    return s_json_put(t, kind, T_GOLD, entity_id, json, "entity id");
}

char *erstore_golden_get(erstore_txn_t *t, const char *kind, const char *entity_id)
{
    return s_json_get(t, kind, T_GOLD, entity_id, "entity id");
}

/* ---- decisions ------------------------------------------------------- */

/* dlog value: kind byte, a\0 b\0 who\0 note\0.
 * drule value: be64 at_us, be64 seq, kind byte, who\0 note\0 (the pair is
 * the key "a\0b"). A CLEAR stays in drule as a tombstone, so that an older
 * decision recorded after it (with an explicit earlier time) cannot come
 * back into force. */

static int s_check_text(const char *s, size_t max, const char *what, bool empty_ok)
{
    if (!s)
        return s_fail(ERSTORE_EINVAL, "erstore: %s: NULL", what);
    size_t len = strnlen(s, max + 1);
    if ((!empty_ok && len == 0) || len > max)
        return s_fail(ERSTORE_EINVAL, "erstore: %s: %s to %zu bytes expected", what, empty_ok ? "0" : "1", max);
    return 0;
}

int erstore_decide(erstore_txn_t *t, const char *kind, erstore_decision_kind_t d,
                   const char *a, const char *b, const char *who, const char *note, int64_t at_us)
{
    const MDB_dbi *dbi;
    if (!note)
        note = "";
    int rc = s_check_write(t);
    if (!rc && d != ERSTORE_LINK && d != ERSTORE_UNLINK && d != ERSTORE_CLEAR)
        rc = s_fail(ERSTORE_EINVAL, "erstore: decision: unknown kind %d", (int) d);
    if (!rc) rc = s_check_id(a, "record id a");
    if (!rc) rc = s_check_id(b, "record id b");
    if (!rc && strcmp(a, b) == 0) rc = s_fail(ERSTORE_EINVAL, "erstore: decision: a record paired with itself");
    if (!rc) rc = s_check_text(who, 255, "decision who", false);
    if (!rc) rc = s_check_text(note, 65536, "decision note", true);
    if (!rc && at_us < 0) rc = s_fail(ERSTORE_EINVAL, "erstore: decision: negative time");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc;
    if (strcmp(a, b) > 0) {
        const char *x = a;
        a = b;
        b = x;
    }
    if (at_us == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        at_us = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    uint64_t seq;
    if ((rc = s_meta_u64(t, dbi, "dseq", &seq)) || (rc = s_meta_put_u64(t, dbi, "dseq", seq + 1)))
        return rc;
    size_t la = strlen(a), lb = strlen(b), lw = strlen(who), ln = strlen(note);
    unsigned char key[16];
    s_be64(key, (uint64_t) at_us);
    s_be64(key + 8, seq);
    size_t vlen = 1 + la + 1 + lb + 1 + lw + 1 + ln + 1;
    unsigned char *val = malloc(vlen > 17 + lw + ln + 2 ? vlen : 17 + lw + ln + 2);
    if (!val)
        return s_nomem();
    val[0] = (unsigned char) d;
    memcpy(val + 1, a, la + 1);
    memcpy(val + 2 + la, b, lb + 1);
    memcpy(val + 3 + la + lb, who, lw + 1);
    memcpy(val + 4 + la + lb + lw, note, ln + 1);
    MDB_val k = { 16, key }, v = { vlen, val };
    rc = s_put(t, dbi[T_DLOG], &k, &v, 0, "decision log");
    /* The rule of the pair: the latest by (time, sequence). */
    char pair[2 * ERSTORE_ID_MAX + 2];
    memcpy(pair, a, la + 1);
    memcpy(pair + la + 1, b, lb);
    MDB_val kp = { la + 1 + lb, pair }, cur;
    int g = rc ? 0 : mdb_get(t->txn, dbi[T_DRULE], &kp, &cur);
    if (!rc && g && g != MDB_NOTFOUND)
        rc = s_mdb(t->store, t, g, "decision rule");
    if (!rc && (g == MDB_NOTFOUND || (cur.mv_size >= 16 && memcmp(cur.mv_data, key, 16) < 0))) {
        memcpy(val, key, 16);
        val[16] = (unsigned char) d;
        memcpy(val + 17, who, lw + 1);
        memcpy(val + 18 + lw, note, ln + 1);
        MDB_val vr = { 17 + lw + 1 + ln + 1, val };
        rc = s_put(t, dbi[T_DRULE], &kp, &vr, 0, "decision rule");
    }
    free(val);
    return rc;
}

int erstore_decision_get(erstore_txn_t *t, const char *kind, const char *a, const char *b,
                         erstore_decision_kind_t *out)
{
    const MDB_dbi *dbi;
    int rc = s_check_id(a, "record id a");
    if (!rc) rc = s_check_id(b, "record id b");
    if (!rc && !out) rc = s_fail(ERSTORE_EINVAL, "erstore: decision_get: no output");
    if (!rc) rc = s_kind(t, kind, &dbi);
    if (rc == ERSTORE_NOTFOUND)
        return s_fail(ERSTORE_NOTFOUND, "erstore: no decision for the pair");
    if (rc)
        return rc;
    if (strcmp(a, b) > 0) {
        const char *x = a;
        a = b;
        b = x;
    }
    size_t la = strlen(a), lb = strlen(b);
    char pair[2 * ERSTORE_ID_MAX + 2];
    memcpy(pair, a, la + 1);
    memcpy(pair + la + 1, b, lb);
    MDB_val kp = { la + 1 + lb, pair }, v;
    rc = mdb_get(t->txn, dbi[T_DRULE], &kp, &v);
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb(t->store, NULL, rc, "decision rule");
    if (rc || v.mv_size < 17 || ((unsigned char *) v.mv_data)[16] == ERSTORE_CLEAR)
        return s_fail(ERSTORE_NOTFOUND, "erstore: no decision for the pair");
    *out = (erstore_decision_kind_t) ((unsigned char *) v.mv_data)[16];
    return 0;
}

int erstore_decisions(erstore_txn_t *t, const char *kind, bool history,
                      int (*cb)(const erstore_decision_t *d, void *ctx), void *ctx)
{
    const MDB_dbi *dbi;
    if (!cb)
        return s_fail(ERSTORE_EINVAL, "erstore: decisions: no callback");
    int rc = s_kind(t, kind, &dbi);
    if (rc)
        return rc == ERSTORE_NOTFOUND ? 0 : rc;
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(t->txn, dbi[history ? T_DLOG : T_DRULE], &c)))
        return s_mdb(t->store, NULL, rc, "decisions");
    MDB_val k, v;
    char a[ERSTORE_ID_MAX + 1], b[ERSTORE_ID_MAX + 1];
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        erstore_decision_t d;
        const unsigned char *p = v.mv_data;
        /* Values end in NUL-terminated strings, so the pointers into the
         * map are C strings. */
        if (history) {
            if (k.mv_size != 16 || v.mv_size < 5)
                continue;
            d.at_us = (int64_t) s_get_be64(k.mv_data);
            d.kind = p[0];
            d.a = (const char *) p + 1;
            d.b = d.a + strlen(d.a) + 1;
            d.who = d.b + strlen(d.b) + 1;
            d.note = d.who + strlen(d.who) + 1;
        } else {
            const char *z = memchr(k.mv_data, 0, k.mv_size);
            if (!z || v.mv_size < 19 || p[16] == ERSTORE_CLEAR)
                continue;
            MDB_val va = { (size_t) (z - (const char *) k.mv_data), k.mv_data };
            MDB_val vb = { k.mv_size - va.mv_size - 1, (char *) z + 1 };
            s_idcopy(a, &va);
            s_idcopy(b, &vb);
            d.at_us = (int64_t) s_get_be64(p);
            d.kind = p[16];
            d.a = a;
            d.b = b;
            d.who = (const char *) p + 17;
            d.note = d.who + strlen(d.who) + 1;
        }
        if (cb(&d, ctx)) {
            mdb_cursor_close(c);
            return ERSTORE_ESTOP;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : s_mdb(t->store, NULL, rc, "decisions");
}

/* ---- batch assignment ------------------------------------------------ */

/* Sorting ids in byte order at millions: a radix sort (LSD, 8-bit digits,
 * digits equal in every id skipped) on 16 bytes of the ids taken after
 * their common prefix; a run that ties on those bytes is sorted the same
 * way on the next 16 bytes, a small run by comparison. */
typedef struct {
    uint64_t k0, k1;
    uint32_t idx;
} s_skey_t;

typedef struct {
    const char *const *ids;
    const uint32_t    *lens;
    size_t             off;
} s_sortctx_t;

static __thread s_sortctx_t s_sc;   /* qsort has no context argument */

static int s_cmp_tail(const void *x, const void *y)
{
    const s_skey_t *a = x, *b = y;
    size_t la = s_sc.lens[a->idx], lb = s_sc.lens[b->idx], off = s_sc.off;
    la = la > off ? la - off : 0;
    lb = lb > off ? lb - off : 0;
    int c = memcmp(s_sc.ids[a->idx] + off, s_sc.ids[b->idx] + off, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

static uint64_t s_load8(const char *s, size_t len, size_t off)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (off + i < len ? (unsigned char) s[off + i] : 0);
    return v;
}

static void s_radix(s_skey_t *a, s_skey_t *b, size_t n, size_t (*cnt)[256])
{
    memset(cnt, 0, 16 * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 8; d++) {
            cnt[d][(a[i].k1 >> (8 * d)) & 255]++;
            cnt[8 + d][(a[i].k0 >> (8 * d)) & 255]++;
        }
    s_skey_t *src = a, *dst = b;
    for (int d = 0; d < 16; d++) {
        int shift = 8 * (d & 7);
        bool hi = d >= 8;
        if (cnt[d][((hi ? src[0].k0 : src[0].k1) >> shift) & 255] == n)
            continue;
        size_t sum = 0;
        for (int v = 0; v < 256; v++) {
            size_t c = cnt[d][v];
            cnt[d][v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[d][((hi ? src[i].k0 : src[i].k1) >> shift) & 255]++] = src[i];
        s_skey_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

static void s_sort_run(s_skey_t *a, s_skey_t *b, size_t n, const char *const *ids, const uint32_t *lens,
                       size_t off, size_t (*cnt)[256])
{
    if (n < 64) {
        s_sc = (s_sortctx_t) { ids, lens, off };
        qsort(a, n, sizeof *a, s_cmp_tail);
        return;
    }
    /* skip the run's common prefix */
    const char *s0 = ids[a[0].idx];
    size_t lcp = lens[a[0].idx] > off ? lens[a[0].idx] - off : 0;
    for (size_t i = 1; i < n && lcp; i++) {
        const char *s = ids[a[i].idx] + off;
        size_t l = lens[a[i].idx] > off ? lens[a[i].idx] - off : 0, j = 0, m = l < lcp ? l : lcp;
        while (j < m && s[j] == s0[off + j])
            j++;
        lcp = j;
    }
    off += lcp;
    bool longer = false;
    for (size_t i = 0; i < n; i++) {
        a[i].k0 = s_load8(ids[a[i].idx], lens[a[i].idx], off);
        a[i].k1 = s_load8(ids[a[i].idx], lens[a[i].idx], off + 8);
        longer |= lens[a[i].idx] > off + 16;
    }
    s_radix(a, b, n, cnt);
    if (!longer)
        return;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].k0 == a[i].k0 && a[j].k1 == a[i].k1)
            j++;
        if (j - i > 1)
            s_sort_run(a + i, b + i, j - i, ids, lens, off + 16, cnt);
        i = j;
    }
}

/* order[] receives 0..n-1 sorted by ids[i] (lens[i] its length). */
static int s_sort_ids(const char *const *ids, const uint32_t *lens, size_t n, uint32_t *order)
{
    if (n == 0)
        return 0;
    s_skey_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t (*cnt)[256] = malloc(16 * sizeof *cnt);
    if (!a || !b || !cnt) {
        free(a);
        free(b);
        free(cnt);
        return s_nomem();
    }
    for (size_t i = 0; i < n; i++)
        a[i].idx = (uint32_t) i;
    s_sort_run(a, b, n, ids, lens, 0, cnt);
    for (size_t i = 0; i < n; i++)
        order[i] = a[i].idx;
    free(a);
    free(b);
    free(cnt);
    return 0;
}

/* The distinct old entity ids met, interned in an arena, with an
 * open-addressing table to find them. */
typedef struct {
    char     *arena;
    size_t    alen, acap;
    uint64_t *off;          /* per entity: arena offset << 8 | length */
    uint32_t *hash;         /* per entity: its hash (no rehashing of strings on growth) */
    size_t    n, cap;
    uint64_t *slots;        /* hash << 32 | (entity index + 1), 0 = empty: a probe
                             * compares hashes without touching the entity */
    size_t    nslots;
} s_intern_t;

static uint64_t s_hash(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    /* FNV's low bits are weak on ids that differ in a digit: a finalizer */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static const char *s_intern_str(const s_intern_t *in, uint32_t e)
{
    return in->arena + (in->off[e] >> 8);
}

static int s_intern_grow(s_intern_t *in)
{
    size_t ns = in->nslots ? in->nslots * 2 : 1024;
    uint64_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t e = 0; e < in->n; e++) {
        size_t i = in->hash[e] & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = (uint64_t) in->hash[e] << 32 | (e + 1);
    }
    free(in->slots);
    in->slots = slots;
    in->nslots = ns;
    return 0;
}

/* The index of id (len bytes), added if new; UINT32_MAX on ENOMEM. */
static uint32_t s_intern(s_intern_t *in, const char *id, size_t len)
{
    if ((in->n + 1) * 2 > in->nslots && s_intern_grow(in))
        return UINT32_MAX;
    uint32_t h = (uint32_t) s_hash(id, len);
    size_t mask = in->nslots - 1, i = h & mask;
    for (; in->slots[i]; i = (i + 1) & mask) {
        if ((uint32_t) (in->slots[i] >> 32) != h)
            continue;
        uint32_t e = (uint32_t) in->slots[i] - 1;
        if ((in->off[e] & 0xff) == len && memcmp(s_intern_str(in, e), id, len) == 0)
            return e;
    }
    if (in->alen + len + 1 > in->acap) {
        size_t nc = in->acap ? in->acap * 2 : 1 << 16;
        while (nc < in->alen + len + 1)
            nc *= 2;
        char *na = realloc(in->arena, nc);
        if (!na)
            return UINT32_MAX;
        in->arena = na;
        in->acap = nc;
    }
    if (in->n == in->cap) {
        size_t nc = in->cap ? in->cap * 2 : 1024;
        uint64_t *no = realloc(in->off, nc * sizeof *no);
        if (no)
            in->off = no;
        uint32_t *nh = realloc(in->hash, nc * sizeof *nh);
        if (nh)
            in->hash = nh;
        if (!no || !nh)
            return UINT32_MAX;
        in->cap = nc;
    }
    memcpy(in->arena + in->alen, id, len);
    in->arena[in->alen + len] = 0;
    in->off[in->n] = (uint64_t) in->alen << 8 | len;
    in->hash[in->n] = h;
    in->alen += len + 1;
    in->slots[i] = (uint64_t) h << 32 | (in->n + 1);
    return (uint32_t) in->n++;
}

/* Sizes the empty table for about `want` entities (no growth on the way). */
static int s_intern_reserve(s_intern_t *in, size_t want)
{
    size_t ns = 1024;
    while (ns < want * 2)
        ns *= 2;
    in->slots = calloc(ns, sizeof *in->slots);
    in->off = malloc((want + 1) * sizeof *in->off);
    in->hash = malloc((want + 1) * sizeof *in->hash);
    in->acap = want * 16 + 1024;
    in->arena = malloc(in->acap);
    if (!in->slots || !in->off || !in->hash || !in->arena)
        return -1;
    in->nslots = ns;
    in->cap = want + 1;
    return 0;
}

static void s_intern_free(s_intern_t *in)
{
    free(in->arena);
    free(in->off);
    free(in->hash);
    free(in->slots);
}

static int s_cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *) x, b = *(const uint32_t *) y;
    return a < b ? -1 : a > b;
}

/* Retirement pairs: (old entity, record position) sorted by old id, then by
 * the target cluster's id. */
typedef struct {
    const char *old, *to;
} s_pair_t;

static int s_cmp_pair(const void *x, const void *y)
{
    const s_pair_t *a = x, *b = y;
    int c = strcmp(a->old, b->old);
    return c ? c : strcmp(a->to, b->to);
}

/* The largest counter n of an id "<prefix><10 digits>" among the keys of
 * dbi, so that new ids start above every id in use. */
static uint64_t s_max_counter(MDB_txn *txn, MDB_dbi dbi, const char *prefix)
{
    MDB_cursor *c;
    uint64_t best = 0;
    size_t pl = strlen(prefix);
    if (mdb_cursor_open(txn, dbi, &c))
        return 0;
    char probe[48];
    snprintf(probe, sizeof probe, "%s:", prefix);   /* ':' sorts right after '9' */
    MDB_val k = s_val(probe), v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV_NODUP) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV_NODUP)) {
        if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0)
            break;
        if (k.mv_size != pl + 10)
            continue;
        const char *d = (const char *) k.mv_data + pl;
        uint64_t x = 0;
        bool digits = true;
        for (int i = 0; i < 10; i++) {
            digits &= d[i] >= '0' && d[i] <= '9';
            x = x * 10 + (uint64_t) (d[i] - '0');
        }
        if (digits) {
            best = x;
            break;
        }
    }
    mdb_cursor_close(c);
    return best;
}

#define NONE UINT32_MAX

typedef struct {
    /* input */
    const char *const *ids;
    const uint32_t *cluster_of;
    size_t n, ncl;
    /* work */
    uint32_t *lens, *order;     /* order: sorted position -> input index, then identity */
    char     *sbuf;             /* the ids in sorted order, NUL-separated */
    const char **sptr;
    uint32_t *slen, *scl;
    uint32_t *old_of;           /* sorted position -> old entity or NONE */
    uint32_t *cstart, *cmem;    /* per cluster, its sorted positions (in order) */
    uint32_t *keep;             /* per cluster: the old entity it keeps, or NONE */
    char    **ent;              /* per cluster: its id (entity_ids[c]) */
    s_intern_t in;
} s_assign_t;

static void s_assign_free(s_assign_t *w)
{
    free(w->lens);
    free(w->order);
    free(w->sbuf);
    free(w->sptr);
    free(w->slen);
    free(w->scl);
    free(w->old_of);
    free(w->cstart);
    free(w->cmem);
    free(w->keep);
    s_intern_free(&w->in);
}

/* Reads the previous entity of each record, in sorted key order: a walk
 * along r2e when the run covers much of it, else one lookup per record. */
static int s_read_old(erstore_txn_t *t, MDB_dbi r2e, s_assign_t *w, size_t stored)
{
    for (size_t p = 0; p < w->n; p++)
        w->old_of[p] = NONE;
    if (stored == 0)
        return 0;
    if (s_intern_reserve(&w->in, w->n < stored ? w->n : stored))
        return s_nomem();
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, r2e, &c);
    if (rc)
        return s_mdb(t->store, t, rc, "reading entities");
    MDB_val k, v;
    bool walk = w->n >= stored / 4;
    rc = walk ? mdb_cursor_get(c, &k, &v, MDB_FIRST) : 0;
    for (size_t p = 0; p < w->n && rc == 0; p++) {
        const char *id = w->ids[w->order[p]];
        size_t len = w->lens[w->order[p]];
        int cmp = 1;
        if (walk) {
            /* advance the cursor to the first key >= id */
            while (rc == 0) {
                size_t m = k.mv_size < len ? k.mv_size : len;
                cmp = memcmp(k.mv_data, id, m);
                if (cmp == 0)
                    cmp = (k.mv_size > len) - (k.mv_size < len);
                if (cmp >= 0)
                    break;
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            }
        } else {
            k = (MDB_val) { len, (void *) id };
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
            cmp = rc == 0 ? 0 : 1;
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc == 0 && cmp == 0) {
            uint32_t e = s_intern(&w->in, v.mv_data, v.mv_size > ERSTORE_ID_MAX ? ERSTORE_ID_MAX : v.mv_size);
            if (e == NONE) {
                mdb_cursor_close(c);
                return s_nomem();
            }
            w->old_of[p] = e;
        }
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_mdb(t->store, t, rc, "reading entities");
}

/* Which cluster keeps which old id: a cluster's candidate is the old id
 * most of its records had (ties: the smaller id); it keeps it when it is
 * also that id's home, the cluster holding most of the id's records (ties:
 * the cluster holding the smallest record id). */
static int s_choose(s_assign_t *w)
{
    size_t ne = w->in.n;
    uint32_t *best_cnt = calloc(ne ? ne : 1, sizeof *best_cnt);
    uint32_t *home = malloc((ne ? ne : 1) * sizeof *home);
    uint32_t *cand = malloc(w->ncl * sizeof *cand);
    uint32_t *tmp = NULL;
    size_t tcap = 0;
    if (!best_cnt || !home || !cand)
        goto nomem;
    for (size_t c = 0; c < w->ncl; c++) {
        cand[c] = NONE;
        uint32_t a = w->cstart[c], b = w->cstart[c + 1], k = 0;
        if (b - a > tcap) {
            free(tmp);
            tcap = (b - a) * 2;
            if (!(tmp = malloc(tcap * sizeof *tmp)))
                goto nomem;
        }
        for (uint32_t i = a; i < b; i++)
            if (w->old_of[w->cmem[i]] != NONE)
                tmp[k++] = w->old_of[w->cmem[i]];
        if (k > 1)
            qsort(tmp, k, sizeof *tmp, s_cmp_u32);
        uint32_t bestc = 0;
        for (uint32_t i = 0; i < k;) {
            uint32_t j = i + 1, e = tmp[i];
            while (j < k && tmp[j] == e)
                j++;
            uint32_t cnt = j - i;
            if (cnt > bestc || (cnt == bestc &&
                                strcmp(s_intern_str(&w->in, e), s_intern_str(&w->in, cand[c])) < 0)) {
                bestc = cnt;
                cand[c] = e;
            }
            /* Clusters come in any order; the home is the one with the
             * most, ties to the cluster whose first (smallest) record
             * sorts first. */
            if (cnt > best_cnt[e] || (cnt == best_cnt[e] &&
                                      w->cmem[a] < w->cmem[w->cstart[home[e]]])) {
                best_cnt[e] = cnt;
                home[e] = (uint32_t) c;
            }
            i = j;
        }
    }
    for (size_t c = 0; c < w->ncl; c++)
        w->keep[c] = cand[c] != NONE && home[cand[c]] == c ? cand[c] : NONE;
    free(best_cnt);
    free(home);
    free(cand);
    free(tmp);
    return 0;
nomem:
    free(best_cnt);
    free(home);
    free(cand);
    free(tmp);
    return s_nomem();
}


static int s_assign(erstore_txn_t *t, const MDB_dbi *dbi, const char *kind, s_assign_t *w,
                    char **entity_ids, erstore_assign_stats_t *st)
{
    size_t n = w->n, ncl = w->ncl;
    int rc;
    MDB_stat ms;
    size_t r2e_before, e2r_before;
    if ((rc = mdb_stat(t->txn, dbi[T_R2E], &ms)))
        return s_mdb(t->store, t, rc, "stat");
    r2e_before = ms.ms_entries;
    if ((rc = mdb_stat(t->txn, dbi[T_E2R], &ms)))
        return s_mdb(t->store, t, rc, "stat");
    e2r_before = ms.ms_entries;

    /* 1. sorted order, duplicates refused */
    w->lens = malloc((n ? n : 1) * sizeof *w->lens);
    w->order = malloc((n ? n : 1) * sizeof *w->order);
    w->old_of = malloc((n ? n : 1) * sizeof *w->old_of);
    w->cstart = calloc(ncl + 1, sizeof *w->cstart);
    w->cmem = malloc((n ? n : 1) * sizeof *w->cmem);
    w->keep = malloc((ncl ? ncl : 1) * sizeof *w->keep);
    if (!w->lens || !w->order || !w->old_of || !w->cstart || !w->cmem || !w->keep)
        return s_nomem();
    /* The caller's ids lie anywhere in memory: they are checked and copied
     * once into an arena in input order (each read once), sorted there,
     * then copied again in sorted order, so that every later pass over the
     * records reads memory in sequence. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if ((rc = s_check_id(w->ids[i], "assign: record id")))
            return rc;
        w->lens[i] = (uint32_t) strlen(w->ids[i]);
        total += w->lens[i] + 1;
    }
    char *abuf = malloc(total + 1), *sbuf = malloc(total + 1);
    const char **aptr = malloc((n ? n : 1) * sizeof *aptr), **sptr = malloc((n ? n : 1) * sizeof *sptr);
    uint32_t *slen = malloc((n ? n : 1) * sizeof *slen), *scl = malloc((n ? n : 1) * sizeof *scl);
    w->sbuf = sbuf;
    w->sptr = sptr;
    w->slen = slen;
    w->scl = scl;
    if (!abuf || !sbuf || !aptr || !sptr || !slen || !scl) {
        free(abuf);
        free(aptr);
        return s_nomem();
    }
    for (size_t i = 0, off = 0; i < n; off += w->lens[i] + 1, i++) {
        memcpy(abuf + off, w->ids[i], w->lens[i] + 1);
        aptr[i] = abuf + off;
    }
    if ((rc = s_sort_ids(aptr, w->lens, n, w->order))) {
        free(abuf);
        free(aptr);
        return rc;
    }
    for (size_t p = 0, off = 0; p < n; p++) {
        uint32_t i = w->order[p];
        memcpy(sbuf + off, aptr[i], w->lens[i] + 1);
        sptr[p] = sbuf + off;
        slen[p] = w->lens[i];
        scl[p] = w->cluster_of[i];
        off += w->lens[i] + 1;
    }
    free(abuf);
    free(aptr);
    for (size_t p = 1; p < n; p++)
        if (slen[p] == slen[p - 1] && memcmp(sptr[p - 1], sptr[p], slen[p]) == 0)
            return s_fail(ERSTORE_EINVAL, "erstore: assign: a record id given twice (input %u and %u)",
                          w->order[p - 1], w->order[p]);
    /* from here on, the records are in sorted order */
    w->ids = sptr;
    w->cluster_of = scl;
    for (size_t p = 0; p < n; p++) {
        w->order[p] = (uint32_t) p;
        w->lens[p] = slen[p];
    }

    /* 2. previous entities, members of each cluster in sorted order */
    if ((rc = s_read_old(t, dbi[T_R2E], w, r2e_before)))
        return rc;
    for (size_t i = 0; i < n; i++)
        w->cstart[w->cluster_of[i] + 1]++;
    for (size_t c = 0; c < ncl; c++)
        w->cstart[c + 1] += w->cstart[c];
    {
        uint32_t *fill = malloc((ncl ? ncl : 1) * sizeof *fill);
        if (!fill)
            return s_nomem();
        memcpy(fill, w->cstart, ncl * sizeof *fill);
        for (size_t p = 0; p < n; p++)
            w->cmem[fill[w->cluster_of[w->order[p]]]++] = (uint32_t) p;
        free(fill);
    }

    /* 3. which cluster keeps which id; new ids in the order of each
     * cluster's smallest record */
    if ((rc = s_choose(w)))
        return rc;
    char prefix[40];
    s_prefix(kind, prefix, sizeof prefix);
    uint64_t next;
    if ((rc = s_meta_u64(t, dbi, "next_id", &next)))
        return rc;
    uint64_t m1 = s_max_counter(t->txn, dbi[T_E2R], prefix), m2 = s_max_counter(t->txn, dbi[T_REDIR], prefix);
    if (next <= m1) next = m1 + 1;
    if (next <= m2) next = m2 + 1;
    bool *is_kept_e = calloc(w->in.n ? w->in.n : 1, sizeof *is_kept_e);
    if (!is_kept_e)
        return s_nomem();
    for (size_t c = 0; c < ncl; c++) {
        if (w->keep[c] == NONE)
            continue;
        is_kept_e[w->keep[c]] = true;
        if (!(entity_ids[c] = strdup(s_intern_str(&w->in, w->keep[c]))))
            rc = s_nomem();
        st->kept++;
    }
    for (size_t p = 0; p < n && !rc; p++) {
        uint32_t c = w->cluster_of[w->order[p]];
        if (entity_ids[c])
            continue;
        char id[64];
        snprintf(id, sizeof id, "%s%010" PRIu64, prefix, next++);
        if (!(entity_ids[c] = strdup(id)))
            rc = s_nomem();
        st->created++;
    }
    if (!rc) rc = s_meta_put_u64(t, dbi, "next_id", next);

    /* 4. r2e: the records whose entity changed, in key order (appended
     * when the table was empty) */
    size_t nchanged = 0;
    for (size_t p = 0; p < n && !rc; p++) {
        uint32_t i = w->order[p], e = w->old_of[p];
        const char *to = entity_ids[w->cluster_of[i]];
        if (e != NONE && strcmp(s_intern_str(&w->in, e), to) == 0)
            continue;
        nchanged++;
        if (e != NONE)
            st->moved++;
        MDB_val k = { w->lens[i], (void *) w->ids[i] }, v = s_val(to);
        rc = s_put(t, dbi[T_R2E], &k, &v, r2e_before == 0 ? MDB_APPEND : 0, "assign: record -> entity");
    }

    /* 5. e2r: the moved records out of their old entities (sorted by old
     * id), and each changed record into its cluster's entity, clusters in
     * the order of their ids, records in key order */
    s_pair_t *pairs = NULL;
    size_t npairs = 0;
    if (!rc && st->moved) {
        if (!(pairs = malloc(st->moved * sizeof *pairs)))
            rc = s_nomem();
        for (size_t p = 0; p < n && !rc; p++) {
            uint32_t i = w->order[p], e = w->old_of[p];
            const char *to = entity_ids[w->cluster_of[i]];
            if (e != NONE && strcmp(s_intern_str(&w->in, e), to) != 0)
                pairs[npairs++] = (s_pair_t) { s_intern_str(&w->in, e), w->ids[i] };
        }
        if (!rc)
            qsort(pairs, npairs, sizeof *pairs, s_cmp_pair);
        for (size_t j = 0; j < npairs && !rc; j++) {
            MDB_val k = s_val(pairs[j].old), v = s_val(pairs[j].to);
            rc = s_del(t, dbi[T_E2R], &k, &v, "assign: entity -> records");
        }
    }
    if (!rc && nchanged) {
        /* the clusters with a changed record */
        const char **cids = malloc(ncl * sizeof *cids);
        uint32_t *clens = malloc(ncl * sizeof *clens), *cmap = malloc(ncl * sizeof *cmap);
        uint32_t *corder = malloc(ncl * sizeof *corder);
        size_t nc = 0;
        if (!cids || !clens || !cmap || !corder)
            rc = s_nomem();
        for (size_t c = 0; c < ncl && !rc; c++) {
            bool changed = false;
            for (uint32_t j = w->cstart[c]; j < w->cstart[c + 1] && !changed; j++)
                changed = w->old_of[w->cmem[j]] == NONE || w->old_of[w->cmem[j]] != w->keep[c];
            if (!changed)
                continue;
            cids[nc] = entity_ids[c];
            clens[nc] = (uint32_t) strlen(entity_ids[c]);
            cmap[nc++] = (uint32_t) c;
        }
        if (!rc) rc = s_sort_ids(cids, clens, nc, corder);
        unsigned flags_new = e2r_before == 0 ? MDB_APPEND : MDB_NODUPDATA;
        for (size_t j = 0; j < nc && !rc; j++) {
            uint32_t c = cmap[corder[j]];
            MDB_val k = s_val(entity_ids[c]);
            bool first = true;
            for (uint32_t q = w->cstart[c]; q < w->cstart[c + 1] && !rc; q++) {
                uint32_t p = w->cmem[q], i = w->order[p];
                if (w->old_of[p] != NONE && w->old_of[p] == w->keep[c])
                    continue;
                MDB_val v = { w->lens[i], (void *) w->ids[i] };
                unsigned fl = e2r_before == 0 ? (first ? MDB_APPEND : MDB_APPENDDUP) : flags_new;
                rc = s_put(t, dbi[T_E2R], &k, &v, fl, "assign: entity -> records");
                first = false;
            }
        }
        free(cids);
        free(clens);
        free(cmap);
        free(corder);
    }

    /* 6. old ids given to no cluster whose records all left: retired, with
     * redirects to where the records went */
    if (!rc && npairs) {
        size_t np = 0;
        for (size_t p = 0; p < n; p++) {
            uint32_t i = w->order[p], e = w->old_of[p];
            const char *to = entity_ids[w->cluster_of[i]];
            if (e != NONE && !is_kept_e[e] && strcmp(s_intern_str(&w->in, e), to) != 0)
                pairs[np++] = (s_pair_t) { s_intern_str(&w->in, e), to };
        }
        qsort(pairs, np, sizeof *pairs, s_cmp_pair);
        for (size_t j = 0; j < np && !rc;) {
            size_t k2 = j + 1;
            while (k2 < np && strcmp(pairs[k2].old, pairs[j].old) == 0)
                k2++;
            MDB_val ko = s_val(pairs[j].old);
            bool retired;
            rc = s_retire_if_empty(t, dbi, &ko, &retired);
            for (size_t q = j; q < k2 && retired && !rc; q++) {
                if (q > j && strcmp(pairs[q].to, pairs[q - 1].to) == 0)
                    continue;
                MDB_val vt = s_val(pairs[q].to);
                rc = s_put(t, dbi[T_REDIR], &ko, &vt, MDB_NODUPDATA, "assign: redirects");
            }
            if (retired)
                st->retired++;
            j = k2;
        }
    }
    free(pairs);
    free(is_kept_e);
    return rc;
}

int erstore_assign(erstore_t *self, const char *kind, size_t n, const char *const *record_ids,
                   const uint32_t *cluster_of, size_t nclusters, char **entity_ids,
                   erstore_assign_stats_t *stats)
{
    erstore_assign_stats_t st = { 0 };
    if (!self)
        return s_fail(ERSTORE_EINVAL, "erstore: assign: no store");
    int rc = s_check_kind(kind);
    if (rc)
        return rc;
    if ((n && (!record_ids || !cluster_of)) || (nclusters && !entity_ids))
        return s_fail(ERSTORE_EINVAL, "erstore: assign: NULL arrays");
    if (n >= UINT32_MAX || nclusters >= UINT32_MAX)
        return s_fail(ERSTORE_EINVAL, "erstore: assign: too many records or clusters");
    for (size_t c = 0; c < nclusters; c++)
        entity_ids[c] = NULL;
    for (size_t i = 0; i < n; i++) {
        if (cluster_of[i] >= nclusters)
            return s_fail(ERSTORE_EINVAL, "erstore: assign: record %zu in cluster %u of %zu",
                          i, cluster_of[i], nclusters);
    }
    erstore_txn_t *t = erstore_begin(self, true);
    if (!t)
        return ERSTORE_EIO;
    const MDB_dbi *dbi;
    s_assign_t w = { .ids = record_ids, .cluster_of = cluster_of, .n = n, .ncl = nclusters };
    rc = s_kind(t, kind, &dbi);
    if (!rc) {
        rc = s_assign(t, dbi, kind, &w, entity_ids, &st);
    }
    s_assign_free(&w);
    if (rc)
        erstore_abort(&t);
    else
        rc = erstore_commit(&t);
    if (rc) {
        for (size_t c = 0; c < nclusters; c++) {
            free(entity_ids[c]);
            entity_ids[c] = NULL;
        }
        return rc;
    }
    if (stats)
        *stats = st;
    return 0;
}
