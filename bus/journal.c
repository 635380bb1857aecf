/* journal.c — the durable journal in LMDB (see journal.h for the layout). */
#include "journal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "lgsp/protocol.h"
#include "util.h"

#define FORMAT_VERSION  "1"
#define REC_HEADER      20          /* see s_encode() */
#define DLQ_SUFFIX      ".dlq"

/* Room kept back from publishes so that acks, offsets and dead letters can
 * still be committed when the journal is "full". */
#define RESERVE_MIN     (4u << 20)
/* Estimated b-tree bytes per message beyond its record (ids index entry,
 * page headers): used only to decide "full" before LMDB does. */
#define PER_MSG_OVERHEAD 96

typedef struct s_topic {
    char                 *name;
    MDB_dbi               dbi;
    bool                  visible;     /* committed at least once */
    bool                  dirty;       /* changed in the open txn */
    bool                  created;     /* created in the open txn */
    journal_topic_stats_t committed;   /* readers: under self->lock */
    journal_topic_stats_t work;        /* writer, inside the txn */
    struct s_topic       *next_dirty;
} s_topic_t;

typedef struct {
    uint32_t gid;
    uint32_t flags;
    uint64_t committed;
    uint64_t created_us;
} s_group_rec_t;

typedef struct {
    uint32_t attempts;
    uint8_t  acked;
    /* followed by the reason text, no NUL */
} __attribute__((packed)) s_pending_rec_t;

struct journal {
    MDB_env        *env;
    MDB_dbi         meta, topics, ids, groups, pending, state;
    char           *path;
    uint64_t        map_size;
    unsigned        psize;
    MDB_txn        *txn;
    strmap_t       *topic_map;     /* name -> s_topic_t*; insertions under lock */
    s_topic_t      *dirty;
    uint32_t        next_topic_id, work_next_topic_id;
    uint32_t        next_gid, work_next_gid;
    uint64_t        txn_bytes;
    uint64_t        room_at_begin;
    pthread_mutex_t lock;
    char            err[512];
};

struct journal_reader {
    journal_t  *j;
    MDB_txn    *txn;
    bool        active;
    /* Consumers read one topic's offsets in sequence: remember the topic's
     * database and keep a cursor on it, so the next offset is MDB_NEXT. */
    char        topic[256];
    MDB_dbi     dbi;
    MDB_cursor *cursor;     /* open within the current snapshot, or NULL */
    uint64_t    last;       /* offset the cursor is on */
};

/* ---- helpers -------------------------------------------------------- */

static int s_fail(journal_t *self, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail(journal_t *self, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->err, sizeof self->err, fmt, ap);
    va_end(ap);
    return status;
}

/* A short write at commit reaches LMDB as EIO: find out whether the cause
 * is a full disk (or a file-size limit) rather than a failing device. */
static bool s_disk_exhausted(journal_t *self)
{
    struct statvfs vfs;
    if (statvfs(self->path, &vfs) == 0 && (uint64_t) vfs.f_bavail * vfs.f_frsize < (16u << 20))
        return true;
    struct rlimit rl;
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/data.mdb", self->path);
    return getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && stat(p, &st) == 0 && (uint64_t) st.st_size + (1u << 20) >= (uint64_t) rl.rlim_cur;
}

/* Maps an LMDB / errno failure to a protocol status with a clear text. */
static int s_mdb_fail(journal_t *self, int rc, const char *what)
{
    if (rc == EIO && s_disk_exhausted(self))
        rc = ENOSPC;
    if (rc == MDB_MAP_FULL)
        return s_fail(self, LGSP_JOURNAL_FULL,
                      "journal full: the LMDB map of %" PRIu64 " MiB is used up (%s); "
                      "raise journal.map_size or shorten retention",
                      self->map_size >> 20, what);
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
        return s_fail(self, LGSP_JOURNAL_FULL, "disk full: %s (%s) writing %s",
                      mdb_strerror(rc), self->path, what);
    return s_fail(self, LGSP_INTERNAL, "journal: %s: %s", what, mdb_strerror(rc));
}

static void s_be32(unsigned char *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static void s_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = v & 0xff;
}
static uint64_t s_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Record: u64 time_us | u16 id_len | u16 key_len | u16 target_len |
 * u16 reserved | u32 headers_len | id | key | target | headers | payload.
 * Host byte order: a journal is not moved between machines of different
 * endianness. */
static size_t s_record_size(const journal_record_t *r)
{
    return REC_HEADER + r->id_len + r->key_len + r->target_len + r->headers_len + r->payload_len;
}

static void s_encode(unsigned char *p, const journal_record_t *r)
{
    uint16_t idl = (uint16_t) r->id_len, kl = (uint16_t) r->key_len, tl = (uint16_t) r->target_len, z = 0;
    uint32_t hl = (uint32_t) r->headers_len;
    memcpy(p, &r->time_us, 8);
    memcpy(p + 8, &idl, 2);
    memcpy(p + 10, &kl, 2);
    memcpy(p + 12, &tl, 2);
    memcpy(p + 14, &z, 2);
    memcpy(p + 16, &hl, 4);
    p += REC_HEADER;
    /* memcpy with a zero length still needs valid pointers: skip empties. */
    memcpy(p, r->id, r->id_len);
    p += r->id_len;
    if (r->key_len)
        memcpy(p, r->key, r->key_len);
    p += r->key_len;
    if (r->target_len)
        memcpy(p, r->target, r->target_len);
    p += r->target_len;
    if (r->headers_len)
        memcpy(p, r->headers, r->headers_len);
    p += r->headers_len;
    if (r->payload_len)
        memcpy(p, r->payload, r->payload_len);
}

static int s_decode(const MDB_val *k, const MDB_val *v, journal_record_t *r)
{
    if (k->mv_size != 8 || v->mv_size < REC_HEADER)
        return -1;
    const unsigned char *p = v->mv_data;
    uint16_t idl, kl, tl;
    uint32_t hl;
    memcpy(&r->time_us, p, 8);
    memcpy(&idl, p + 8, 2);
    memcpy(&kl, p + 10, 2);
    memcpy(&tl, p + 12, 2);
    memcpy(&hl, p + 16, 4);
    size_t fixed = REC_HEADER + (size_t) idl + kl + tl + hl;
    if (fixed > v->mv_size)
        return -1;
    r->offset = s_get_be64(k->mv_data);
    p += REC_HEADER;
    r->id = (const char *) p;      r->id_len = idl;     p += idl;
    r->key = p;                    r->key_len = kl;     p += kl;
    r->target = (const char *) p;  r->target_len = tl;  p += tl;
    r->headers = p;                r->headers_len = hl; p += hl;
    r->payload = p;                r->payload_len = v->mv_size - fixed;
    return 0;
}

/* Key of "ids": topic id + message id. */
static size_t s_ids_key(unsigned char *buf, size_t cap, uint32_t tid, const char *id, size_t id_len)
{
    if (id_len + 4 > cap)
        id_len = cap - 4;
    s_be32(buf, tid);
    memcpy(buf + 4, id, id_len);
    return 4 + id_len;
}

static void s_mark_dirty(journal_t *self, s_topic_t *t)
{
    if (!t->dirty) {
        t->dirty = true;
        t->next_dirty = self->dirty;
        self->dirty = t;
    }
}

static s_topic_t *s_topic_lookup(journal_t *self, const char *name)
{
    pthread_mutex_lock(&self->lock);
    s_topic_t *t = strmap_get(self->topic_map, name, strlen(name));
    pthread_mutex_unlock(&self->lock);
    return t;
}

/* Writer side: finds or creates a topic inside the open txn. */
static int s_topic_get(journal_t *self, const char *name, bool create, s_topic_t **out)
{
    s_topic_t *t = s_topic_lookup(self, name);
    if (t) {
        *out = t;
        return 0;
    }
    if (!create)
        return s_fail(self, LGSP_NOT_FOUND, "unknown topic '%s'", name);
    size_t nlen = strlen(name);
    /* Names from the network are checked by the broker; this only guards
     * the database name ("<topic>.dlq" may exceed the protocol's 200). */
    if (nlen == 0 || nlen > 240)
        return s_fail(self, LGSP_BAD_REQUEST, "invalid topic name");
    char dbname[256];
    snprintf(dbname, sizeof dbname, "t/%s", name);
    MDB_dbi dbi;
    int rc = mdb_dbi_open(self->txn, dbname, MDB_CREATE, &dbi);
    if (rc == MDB_DBS_FULL)
        return s_fail(self, LGSP_JOURNAL_FULL,
                      "too many topics: journal.max_topics is reached (topic '%s')", name);
    if (rc)
        return s_mdb_fail(self, rc, "creating a topic");
    t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return s_fail(self, LGSP_INTERNAL, "out of memory");
    }
    t->dbi = dbi;
    t->created = true;
    t->work.id = self->work_next_topic_id++;
    pthread_mutex_lock(&self->lock);
    strmap_put(self->topic_map, name, nlen, t);
    pthread_mutex_unlock(&self->lock);
    s_mark_dirty(self, t);
    *out = t;
    return 0;
}

/* Returns an LMDB code (the caller maps it). */
static int s_meta_put_u32(journal_t *self, const char *key, uint32_t v)
{
    MDB_val k = { strlen(key), (void *) key }, d = { sizeof v, &v };
    return mdb_put(self->txn, self->meta, &k, &d, 0);
}

/* ---- open / close --------------------------------------------------- */

static int s_load_topics(journal_t *self, MDB_txn *txn)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, self->topics, &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (v.mv_size != sizeof(journal_topic_stats_t) || k.mv_size == 0 || k.mv_size > 220)
            continue;
        s_topic_t *t = calloc(1, sizeof *t);
        if (!t)
            return ENOMEM;
        t->name = strndup(k.mv_data, k.mv_size);
        memcpy(&t->committed, v.mv_data, sizeof t->committed);
        t->work = t->committed;
        t->visible = true;
        char dbname[256];
        snprintf(dbname, sizeof dbname, "t/%s", t->name);
        int r2 = mdb_dbi_open(txn, dbname, 0, &t->dbi);
        if (r2) {
            free(t->name);
            free(t);
            mdb_cursor_close(c);
            return r2;
        }
        strmap_put(self->topic_map, t->name, strlen(t->name), t);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

journal_t *journal_open(const journal_options_t *opts, char **err)
{
    journal_t *self = calloc(1, sizeof *self);
    char buf[600];
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    self->path = strdup(opts->path);
    self->map_size = opts->map_size;
    self->topic_map = strmap_new();
    if (mkdir(opts->path, 0700) < 0 && errno != EEXIST) {
        snprintf(buf, sizeof buf, "journal: cannot create %s: %s", opts->path, strerror(errno));
        goto fail;
    }
    int rc = mdb_env_create(&self->env);
    if (!rc) rc = mdb_env_set_mapsize(self->env, opts->map_size);
    if (!rc) rc = mdb_env_set_maxdbs(self->env, opts->max_topics + 8);
    if (!rc) rc = mdb_env_set_maxreaders(self->env, 126);
    /* NOTLS: read transactions are owned by reader objects, not threads.
     * No MDB_WRITEMAP: with it a full disk is a SIGBUS instead of an error. */
    if (!rc) rc = mdb_env_open(self->env, opts->path, MDB_NOTLS, 0600);
    if (rc) {
        snprintf(buf, sizeof buf, "journal: cannot open %s: %s", opts->path, mdb_strerror(rc));
        goto fail;
    }
    int dead = 0;
    mdb_reader_check(self->env, &dead);   /* slots left by a killed process */
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(self->env, &info);
    mdb_env_stat(self->env, &st);
    self->psize = st.ms_psize;
    if (info.me_mapsize > self->map_size)
        self->map_size = info.me_mapsize;

    MDB_txn *txn;
    rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &self->meta);
    if (!rc) rc = mdb_dbi_open(txn, "topics", MDB_CREATE, &self->topics);
    if (!rc) rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &self->ids);
    if (!rc) rc = mdb_dbi_open(txn, "groups", MDB_CREATE, &self->groups);
    if (!rc) rc = mdb_dbi_open(txn, "pending", MDB_CREATE, &self->pending);
    if (!rc) rc = mdb_dbi_open(txn, "state", MDB_CREATE, &self->state);
    if (rc) {
        if (txn) mdb_txn_abort(txn);
        snprintf(buf, sizeof buf, "journal: %s: %s", opts->path, mdb_strerror(rc));
        goto fail;
    }
    MDB_val k = { 6, "format" }, v;
    rc = mdb_get(txn, self->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_size = 1;
        v.mv_data = FORMAT_VERSION;
        rc = mdb_put(txn, self->meta, &k, &v, 0);
    } else if (!rc && (v.mv_size != 1 || memcmp(v.mv_data, FORMAT_VERSION, 1) != 0)) {
        mdb_txn_abort(txn);
        snprintf(buf, sizeof buf, "journal: %s has format %.*s; this lgspd reads format %s",
                 opts->path, (int) v.mv_size, (char *) v.mv_data, FORMAT_VERSION);
        goto fail;
    }
    self->next_topic_id = 1;
    self->next_gid = 1;
    MDB_val kt = { 13, "next_topic_id" }, kg = { 8, "next_gid" };
    if (!rc && mdb_get(txn, self->meta, &kt, &v) == 0 && v.mv_size == 4)
        memcpy(&self->next_topic_id, v.mv_data, 4);
    if (!rc && mdb_get(txn, self->meta, &kg, &v) == 0 && v.mv_size == 4)
        memcpy(&self->next_gid, v.mv_data, 4);
    if (!rc) rc = s_load_topics(self, txn);
    if (!rc) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    if (rc) {
        snprintf(buf, sizeof buf, "journal: %s: %s", opts->path, mdb_strerror(rc));
        goto fail;
    }
    self->work_next_topic_id = self->next_topic_id;
    self->work_next_gid = self->next_gid;
    return self;
fail:
    if (err)
        *err = strdup(buf);
    journal_close(&self);
    return NULL;
}

void journal_close(journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_t *self = *self_p;
    if (self->txn)
        journal_abort(self);
    if (self->topic_map) {
        size_t pos = 0;
        void *v;
        while (strmap_next(self->topic_map, &pos, NULL, NULL, &v)) {
            s_topic_t *t = v;
            free(t->name);
            free(t);
        }
        strmap_destroy(&self->topic_map);
    }
    if (self->env)
        mdb_env_close(self->env);
    pthread_mutex_destroy(&self->lock);
    free(self->path);
    free(self);
    *self_p = NULL;
}

const char *journal_error(const journal_t *self) { return self->err; }
const char *journal_path(const journal_t *self) { return self->path; }

/* ---- space ---------------------------------------------------------- */

/* Pages on LMDB's freelist: space inside the map that can be reused. */
static uint64_t s_free_pages(MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t pages = 0;
    if (mdb_cursor_open(txn, 0, &c))
        return 0;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
        if (v.mv_size >= sizeof(size_t))
            pages += *(size_t *) v.mv_data;   /* an IDL: first word is the count */
    mdb_cursor_close(c);
    return pages;
}

void journal_usage(journal_t *self, uint64_t *file_bytes, uint64_t *used_bytes, uint64_t *map_bytes)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/data.mdb", self->path);
    if (file_bytes)
        *file_bytes = stat(p, &st) == 0 ? (uint64_t) st.st_size : 0;
    if (used_bytes)
        *used_bytes = (uint64_t) (info.me_last_pgno + 1) * self->psize;
    if (map_bytes)
        *map_bytes = self->map_size;
}

static uint64_t s_room(journal_t *self)
{
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    uint64_t high = (uint64_t) (info.me_last_pgno + 1) * self->psize;
    /* 2% of the map, at least 4 MiB, but never more than a quarter of a
     * small map. */
    uint64_t reserve = self->map_size / 50;
    if (reserve < RESERVE_MIN)
        reserve = RESERVE_MIN;
    if (reserve > self->map_size / 4)
        reserve = self->map_size / 4;
    uint64_t room = self->map_size > high ? self->map_size - high : 0;
    /* Near the top of the map, count the pages retention has freed. */
    if (room < reserve * 4)
        room += s_free_pages(self->txn) * self->psize;
    room = room > reserve ? room - reserve : 0;
    /* The disk may be smaller than the map. */
    struct statvfs vfs;
    if (statvfs(self->path, &vfs) == 0) {
        uint64_t disk = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        disk = disk > RESERVE_MIN ? disk - RESERVE_MIN : 0;
        if (disk < room)
            room = disk;
    }
    return room;
}

uint64_t journal_room(journal_t *self)
{
    uint64_t used = self->txn_bytes;
    return self->room_at_begin > used ? self->room_at_begin - used : 0;
}

/* ---- transactions --------------------------------------------------- */

int journal_begin(journal_t *self)
{
    if (self->txn)
        return s_fail(self, LGSP_INTERNAL, "journal: transaction already open");
    int rc = mdb_txn_begin(self->env, NULL, 0, &self->txn);
    if (rc) {
        self->txn = NULL;
        return s_mdb_fail(self, rc, "begin");
    }
    self->txn_bytes = 0;
    self->room_at_begin = s_room(self);
    return 0;
}

static void s_finish(journal_t *self, bool committed)
{
    pthread_mutex_lock(&self->lock);
    for (s_topic_t *t = self->dirty, *next; t; t = next) {
        next = t->next_dirty;
        t->dirty = false;
        t->next_dirty = NULL;
        if (committed) {
            t->committed = t->work;
            t->visible = true;
            t->created = false;
        } else if (t->created) {
            /* LMDB closed the handle with the aborted txn: forget the topic. */
            strmap_remove(self->topic_map, t->name, strlen(t->name));
            free(t->name);
            free(t);
        } else {
            t->work = t->committed;
        }
    }
    self->dirty = NULL;
    if (committed) {
        self->next_topic_id = self->work_next_topic_id;
        self->next_gid = self->work_next_gid;
    } else {
        self->work_next_topic_id = self->next_topic_id;
        self->work_next_gid = self->next_gid;
    }
    pthread_mutex_unlock(&self->lock);
    self->txn = NULL;
}

int journal_commit(journal_t *self)
{
    if (!self->txn)
        return s_fail(self, LGSP_INTERNAL, "journal: no transaction");
    int rc = 0;
    for (s_topic_t *t = self->dirty; t && !rc; t = t->next_dirty) {
        MDB_val k = { strlen(t->name), t->name }, v = { sizeof t->work, &t->work };
        rc = mdb_put(self->txn, self->topics, &k, &v, 0);
    }
    if (!rc && self->work_next_topic_id != self->next_topic_id)
        rc = s_meta_put_u32(self, "next_topic_id", self->work_next_topic_id);
    if (!rc && self->work_next_gid != self->next_gid)
        rc = s_meta_put_u32(self, "next_gid", self->work_next_gid);
    if (rc) {
        mdb_txn_abort(self->txn);
        s_finish(self, false);
        return s_mdb_fail(self, rc, "topic state");
    }
    rc = mdb_txn_commit(self->txn);   /* aborts the txn on failure */
    s_finish(self, rc == 0);
    return rc ? s_mdb_fail(self, rc, "commit") : 0;
}

void journal_abort(journal_t *self)
{
    if (!self->txn)
        return;
    mdb_txn_abort(self->txn);
    s_finish(self, false);
}

/* ---- messages ------------------------------------------------------- */

static int s_append(journal_t *self, s_topic_t *t, const journal_record_t *rec,
                    uint64_t *offset, bool *dup)
{
    unsigned char ikey[512];
    size_t iklen = s_ids_key(ikey, sizeof ikey, t->work.id, rec->id, rec->id_len);
    MDB_val ik = { iklen, ikey };
    uint64_t off = t->work.next;
    MDB_val iv = { sizeof off, &off };
    /* One b-tree operation answers "already stored?" and records the id. */
    int rc = mdb_put(self->txn, self->ids, &ik, &iv, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        if (iv.mv_size == sizeof off)
            memcpy(offset, iv.mv_data, sizeof off);
        *dup = true;
        return 0;
    }
    if (rc)
        return s_mdb_fail(self, rc, "message id index");
    unsigned char kb[8];
    s_be64(kb, off);
    MDB_val k = { 8, kb }, v = { s_record_size(rec), NULL };
    rc = mdb_put(self->txn, t->dbi, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST)   /* cannot happen unless offsets went backwards */
        return s_fail(self, LGSP_INTERNAL, "journal: offset %" PRIu64 " of '%s' exists", off, t->name);
    if (rc)
        return s_mdb_fail(self, rc, "message");
    s_encode(v.mv_data, rec);
    if (t->work.count == 0)
        t->work.first = off;
    t->work.next = off + 1;
    t->work.count++;
    t->work.bytes += v.mv_size;
    self->txn_bytes += v.mv_size + PER_MSG_OVERHEAD + iklen;
    s_mark_dirty(self, t);
    *offset = off;
    *dup = false;
    return 0;
}

int journal_append(journal_t *self, const char *topic, const journal_record_t *rec,
                   uint64_t *offset, bool *dup)
{
    if (!self->txn)
        return s_fail(self, LGSP_INTERNAL, "journal: no transaction");
    if (rec->id_len == 0 || rec->id_len > 400 || rec->key_len > 0xffff
        || rec->target_len > 0xffff || rec->headers_len > 0xffffffffu)
        return s_fail(self, LGSP_BAD_REQUEST, "journal: field too long");
    s_topic_t *t;
    int rc = s_topic_get(self, topic, true, &t);
    if (rc)
        return rc;
    return s_append(self, t, rec, offset, dup);
}

/* Reads the record at exactly `offset` inside the write txn. */
static int s_get(journal_t *self, s_topic_t *t, uint64_t offset, journal_record_t *out)
{
    unsigned char kb[8];
    s_be64(kb, offset);
    MDB_val k = { 8, kb }, v;
    int rc = mdb_get(self->txn, t->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return s_fail(self, LGSP_NOT_FOUND, "no message at offset %" PRIu64 " of '%s'", offset, t->name);
    if (rc)
        return s_mdb_fail(self, rc, "read");
    if (s_decode(&k, &v, out))
        return s_fail(self, LGSP_INTERNAL, "journal: record %" PRIu64 " of '%s' is damaged", offset, t->name);
    return 0;
}

/* Deletes the record at offset with its id entry and keeps the stats. */
static int s_delete(journal_t *self, s_topic_t *t, uint64_t offset)
{
    journal_record_t r;
    int rc = s_get(self, t, offset, &r);
    if (rc)
        return rc;
    unsigned char ikey[512];
    size_t iklen = s_ids_key(ikey, sizeof ikey, t->work.id, r.id, r.id_len);
    size_t size = s_record_size(&r);
    MDB_val ik = { iklen, ikey };
    rc = mdb_del(self->txn, self->ids, &ik, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb_fail(self, rc, "delete id");
    unsigned char kb[8];
    s_be64(kb, offset);
    MDB_val k = { 8, kb };
    rc = mdb_del(self->txn, t->dbi, &k, NULL);
    if (rc)
        return s_mdb_fail(self, rc, "delete");
    t->work.count--;
    t->work.bytes -= size < t->work.bytes ? size : t->work.bytes;
    if (offset == t->work.first) {
        MDB_cursor *c;
        MDB_val fk, fv;
        t->work.first = t->work.next;
        if (mdb_cursor_open(self->txn, t->dbi, &c) == 0) {
            if (mdb_cursor_get(c, &fk, &fv, MDB_FIRST) == 0 && fk.mv_size == 8)
                t->work.first = s_get_be64(fk.mv_data);
            mdb_cursor_close(c);
        }
    }
    s_mark_dirty(self, t);
    return 0;
}

int journal_trim(journal_t *self, const char *topic, uint64_t max_age_us, uint64_t max_bytes,
                 uint64_t keep_from, uint64_t now_us, uint32_t max_deletes, uint64_t *deleted)
{
    *deleted = 0;
    s_topic_t *t;
    int rc = s_topic_get(self, topic, false, &t);
    if (rc)
        return rc;
    if (!max_age_us && !max_bytes)
        return 0;
    MDB_cursor *c;
    rc = mdb_cursor_open(self->txn, t->dbi, &c);
    if (rc)
        return s_mdb_fail(self, rc, "trim");
    MDB_val k, v;
    while (*deleted < max_deletes && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
        journal_record_t r;
        if (s_decode(&k, &v, &r) || r.offset >= keep_from)
            break;
        bool too_old = max_age_us && r.time_us + max_age_us < now_us;
        bool too_big = max_bytes && t->work.bytes > max_bytes;
        if (!too_old && !too_big)
            break;
        unsigned char ikey[512];
        size_t iklen = s_ids_key(ikey, sizeof ikey, t->work.id, r.id, r.id_len);
        MDB_val ik = { iklen, ikey };
        size_t size = v.mv_size;
        uint64_t off = r.offset;
        rc = mdb_del(self->txn, self->ids, &ik, NULL);
        if (rc && rc != MDB_NOTFOUND)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        t->work.count--;
        t->work.bytes -= size < t->work.bytes ? size : t->work.bytes;
        t->work.first = off + 1;
        (*deleted)++;
    }
    if (rc == MDB_NOTFOUND || rc == 0) {
        rc = 0;
        if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8)
            t->work.first = s_get_be64(k.mv_data);
        else
            t->work.first = t->work.next;
    }
    mdb_cursor_close(c);
    if (*deleted)
        s_mark_dirty(self, t);
    return rc ? s_mdb_fail(self, rc, "trim") : 0;
}

/* ---- groups --------------------------------------------------------- */

static size_t s_group_key(unsigned char *buf, uint32_t tid, const char *group)
{
    size_t gl = strlen(group);
    if (gl > 400)
        gl = 400;
    s_be32(buf, tid);
    memcpy(buf + 4, group, gl);
    return 4 + gl;
}

int journal_group_open(journal_t *self, const char *topic, const char *group, bool latest,
                       uint32_t *gid, uint64_t *committed)
{
    s_topic_t *t;
    int rc = s_topic_get(self, topic, true, &t);
    if (rc)
        return rc;
    unsigned char kb[512];
    MDB_val k = { s_group_key(kb, t->work.id, group), kb }, v;
    rc = mdb_get(self->txn, self->groups, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(s_group_rec_t)) {
        s_group_rec_t g;
        memcpy(&g, v.mv_data, sizeof g);
        *gid = g.gid;
        *committed = g.committed;
        return 0;
    }
    if (rc && rc != MDB_NOTFOUND)
        return s_mdb_fail(self, rc, "group");
    s_group_rec_t g = { .gid = self->work_next_gid++, .committed = latest ? t->work.next : t->work.first,
                        .created_us = util_now_us() };
    v.mv_size = sizeof g;
    v.mv_data = &g;
    rc = mdb_put(self->txn, self->groups, &k, &v, 0);
    if (rc)
        return s_mdb_fail(self, rc, "group");
    s_mark_dirty(self, t);   /* so the id counter is saved with the commit */
    *gid = g.gid;
    *committed = g.committed;
    return 0;
}

static int s_pending_clear(journal_t *self, uint32_t gid, uint64_t below)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(self->txn, self->pending, &c);
    if (rc)
        return s_mdb_fail(self, rc, "pending");
    unsigned char kb[12];
    s_be32(kb, gid);
    s_be64(kb + 4, 0);
    /* Seek afresh after each delete: a cursor left on a deleted last entry
     * is not positioned (MDB_GET_CURRENT would say EINVAL). */
    for (;;) {
        MDB_val k = { 12, kb }, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc || k.mv_size != 12 || memcmp(k.mv_data, kb, 4) != 0
            || s_get_be64((unsigned char *) k.mv_data + 4) >= below)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
    }
    mdb_cursor_close(c);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : s_mdb_fail(self, rc, "pending");
}

/* Finds the stored record of (topic, group) inside the write txn; fills
 * key (kb must hold 512 bytes) and g. */
static int s_group_get(journal_t *self, const char *topic, const char *group,
                       unsigned char *kb, MDB_val *k, s_group_rec_t *g)
{
    s_topic_t *t;
    int rc = s_topic_get(self, topic, false, &t);
    if (rc)
        return rc;
    k->mv_size = s_group_key(kb, t->work.id, group);
    k->mv_data = kb;
    MDB_val v;
    rc = mdb_get(self->txn, self->groups, k, &v);
    if (rc == MDB_NOTFOUND)
        return s_fail(self, LGSP_NOT_FOUND, "unknown group '%s' of '%s'", group, topic);
    if (rc || v.mv_size != sizeof *g)
        return s_mdb_fail(self, rc ? rc : MDB_CORRUPTED, "group");
    memcpy(g, v.mv_data, sizeof *g);
    return 0;
}

int journal_group_commit(journal_t *self, const char *topic, const char *group, uint32_t gid,
                         uint64_t committed)
{
    unsigned char kb[512];
    MDB_val k;
    s_group_rec_t g;
    int rc = s_group_get(self, topic, group, kb, &k, &g);
    if (rc || committed == g.committed)
        return rc;
    g.committed = committed;
    MDB_val v = { sizeof g, &g };
    rc = mdb_put(self->txn, self->groups, &k, &v, 0);
    if (rc)
        return s_mdb_fail(self, rc, "group");
    return s_pending_clear(self, gid, committed);
}

int journal_group_delete(journal_t *self, const char *topic, const char *group)
{
    unsigned char kb[512];
    MDB_val k;
    s_group_rec_t g;
    int rc = s_group_get(self, topic, group, kb, &k, &g);
    if (!rc)
        rc = s_pending_clear(self, g.gid, UINT64_MAX);
    if (!rc && (rc = mdb_del(self->txn, self->groups, &k, NULL)) != 0)
        return s_mdb_fail(self, rc, "group");
    return rc;
}

int journal_pending_put(journal_t *self, uint32_t gid, uint64_t offset, uint32_t attempts,
                        bool acked, const char *reason)
{
    unsigned char kb[12];
    s_be32(kb, gid);
    s_be64(kb + 4, offset);
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 1024)
        rl = 1024;
    unsigned char vb[sizeof(s_pending_rec_t) + 1024];
    s_pending_rec_t p = { .attempts = attempts, .acked = acked };
    memcpy(vb, &p, sizeof p);
    if (rl)
        memcpy(vb + sizeof p, reason, rl);
    MDB_val k = { 12, kb }, v = { sizeof p + rl, vb };
    int rc = mdb_put(self->txn, self->pending, &k, &v, 0);
    return rc ? s_mdb_fail(self, rc, "pending") : 0;
}

/* ---- dead letters --------------------------------------------------- */

static json_t *s_headers_object(const journal_record_t *r)
{
    json_t *h = NULL;
    if (r->headers_len)
        h = json_loadb(r->headers, r->headers_len, 0, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        h = json_object();
    }
    return h;
}

int journal_dead_letter(journal_t *self, const char *topic, const char *group,
                        uint64_t offset, uint32_t attempts, const char *reason)
{
    s_topic_t *t, *d;
    journal_record_t r;
    char dname[256];
    snprintf(dname, sizeof dname, "%s" DLQ_SUFFIX, topic);
    /* Create the dead-letter topic before reading: r must not be held
     * across writes. */
    int rc = s_topic_get(self, topic, false, &t);
    if (!rc)
        rc = s_topic_get(self, dname, true, &d);
    if (!rc)
        rc = s_get(self, t, offset, &r);
    if (rc)
        return rc;
    json_t *h = s_headers_object(&r);
    char num[32];
    json_object_set_new(h, "lgsp-dlq-topic", json_string(topic));
    json_object_set_new(h, "lgsp-dlq-group", json_string(group));
    snprintf(num, sizeof num, "%" PRIu64, offset);
    json_object_set_new(h, "lgsp-dlq-offset", json_string(num));
    snprintf(num, sizeof num, "%" PRIu32, attempts);
    json_object_set_new(h, "lgsp-dlq-attempts", json_string(num));
    json_object_set_new(h, "lgsp-dlq-reason", json_string(reason ? reason : ""));
    json_object_set_new(h, "lgsp-dlq-id", json_stringn(r.id, r.id_len));
    char *hs = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!hs)
        return s_fail(self, LGSP_INTERNAL, "out of memory");
    /* The id makes a repeated dead-lettering of the same delivery a no-op. */
    char id[300];
    int idl = snprintf(id, sizeof id, "dlq:%s:%" PRIu64, group, offset);
    journal_record_t dr = r;
    dr.id = id;
    dr.id_len = (size_t) idl;
    dr.target = NULL;
    dr.target_len = 0;
    dr.headers = hs;
    dr.headers_len = strlen(hs);
    dr.time_us = util_now_us();
    uint64_t doff;
    bool dup;
    /* r points into the txn's pages; copy the payload first, since the
     * append can move them. */
    void *pl = NULL;
    if (r.payload_len) {
        pl = malloc(r.payload_len + r.key_len);
        if (!pl) {
            free(hs);
            return s_fail(self, LGSP_INTERNAL, "out of memory");
        }
        memcpy(pl, r.payload, r.payload_len);
        memcpy((char *) pl + r.payload_len, r.key, r.key_len);
        dr.payload = pl;
        dr.key = (char *) pl + r.payload_len;
    } else if (r.key_len) {
        pl = malloc(r.key_len);
        memcpy(pl, r.key, r.key_len);
        dr.key = pl;
    }
    rc = s_append(self, d, &dr, &doff, &dup);
    free(pl);
    free(hs);
    return rc;
}

typedef int (s_dlq_fn)(journal_t *self, s_topic_t *dlq, s_topic_t *orig, const journal_record_t *r);

static int s_dlq_each(journal_t *self, const char *topic, bool all, uint64_t dlq_offset,
                      uint64_t *count, s_dlq_fn *fn)
{
    *count = 0;
    char dname[256];
    snprintf(dname, sizeof dname, "%s" DLQ_SUFFIX, topic);
    s_topic_t *d, *t;
    int rc = s_topic_get(self, dname, false, &d);
    if (rc)
        return rc;
    rc = s_topic_get(self, topic, false, &t);
    if (rc)
        return rc;
    uint64_t from = all ? d->work.first : dlq_offset;
    uint64_t to = all ? d->work.next : dlq_offset + 1;
    for (uint64_t off = from; off < to; off++) {
        journal_record_t r;
        rc = s_get(self, d, off, &r);
        if (rc == LGSP_NOT_FOUND && all)
            continue;
        if (rc)
            return rc;
        rc = fn(self, d, t, &r);
        if (rc)
            return rc;
        (*count)++;
    }
    return 0;
}

static int s_replay_one(journal_t *self, s_topic_t *d, s_topic_t *t, const journal_record_t *r)
{
    json_t *h = s_headers_object(r);
    const char *group = json_string_value(json_object_get(h, "lgsp-dlq-group"));
    const char *oid = json_string_value(json_object_get(h, "lgsp-dlq-id"));
    if (!group || !oid) {
        json_decref(h);
        return s_fail(self, LGSP_BAD_REQUEST, "dead letter %" PRIu64 " has no lgsp-dlq-group/id", r->offset);
    }
    char id[400], *grp = strdup(group);
    int idl = snprintf(id, sizeof id, "replay:%" PRIu64 ":%s", r->offset, oid);
    if (idl >= (int) sizeof id)
        idl = sizeof id - 1;
    /* The replayed message carries its original headers, not the dlq ones. */
    const char *name;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(h, tmp, name, val)
        if (strncmp(name, "lgsp-dlq-", 9) == 0)
            json_object_del(h, name);
    char *hs = json_object_size(h) ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    size_t blen = r->key_len + r->payload_len;
    char *copy = malloc(blen ? blen : 1);
    if (!copy || !grp) {
        free(copy); free(grp); free(hs);
        return s_fail(self, LGSP_INTERNAL, "out of memory");
    }
    memcpy(copy, r->key, r->key_len);
    memcpy(copy + r->key_len, r->payload, r->payload_len);
    journal_record_t nr = {
        .time_us = util_now_us(), .id = id, .id_len = (size_t) idl,
        .key = copy, .key_len = r->key_len, .target = grp, .target_len = strlen(grp),
        .headers = hs, .headers_len = hs ? strlen(hs) : 0,
        .payload = copy + r->key_len, .payload_len = r->payload_len,
    };
    uint64_t dlq_off = r->offset, off;
    bool dup;
    int rc = s_append(self, t, &nr, &off, &dup);
    free(copy); free(grp); free(hs);
    return rc ? rc : s_delete(self, d, dlq_off);
}

static int s_purge_one(journal_t *self, s_topic_t *d, s_topic_t *t, const journal_record_t *r)
{
    return s_delete(self, d, r->offset);
}

int journal_dlq_replay(journal_t *self, const char *topic, bool all, uint64_t dlq_offset,
                       uint64_t *count)
{
    return s_dlq_each(self, topic, all, dlq_offset, count, s_replay_one);
}

int journal_dlq_purge(journal_t *self, const char *topic, bool all, uint64_t dlq_offset,
                      uint64_t *count)
{
    return s_dlq_each(self, topic, all, dlq_offset, count, s_purge_one);
}

/* ---- readers -------------------------------------------------------- */

int journal_topic_stats(journal_t *self, const char *topic, journal_topic_stats_t *out)
{
    int rc = LGSP_NOT_FOUND;
    pthread_mutex_lock(&self->lock);
    s_topic_t *t = strmap_get(self->topic_map, topic, strlen(topic));
    if (t && t->visible) {
        *out = t->committed;
        rc = 0;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void journal_each_topic(journal_t *self,
                        void (*fn)(void *arg, const char *name, const journal_topic_stats_t *st),
                        void *arg)
{
    /* Snapshot under the lock, call back without it (fn may call in). */
    pthread_mutex_lock(&self->lock);
    size_t n = strmap_size(self->topic_map), k = 0, pos = 0;
    char **names = calloc(n ? n : 1, sizeof *names);
    journal_topic_stats_t *st = calloc(n ? n : 1, sizeof *st);
    void *v;
    while (names && st && strmap_next(self->topic_map, &pos, NULL, NULL, &v)) {
        s_topic_t *t = v;
        if (t->visible && (names[k] = strdup(t->name)) != NULL)
            st[k++] = t->committed;
    }
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < k; i++) {
        fn(arg, names[i], &st[i]);
        free(names[i]);
    }
    free(names);
    free(st);
}

static void s_reader_drop_cursor(journal_reader_t *self)
{
    if (self->cursor)
        mdb_cursor_close(self->cursor);
    self->cursor = NULL;
}

journal_reader_t *journal_reader_new(journal_t *j)
{
    journal_reader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->j = j;
    if (mdb_txn_begin(j->env, NULL, MDB_RDONLY, &self->txn)) {
        free(self);
        return NULL;
    }
    mdb_txn_reset(self->txn);
    return self;
}

void journal_reader_destroy(journal_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_reader_t *self = *self_p;
    s_reader_drop_cursor(self);
    mdb_txn_abort(self->txn);
    free(self);
    *self_p = NULL;
}

int journal_reader_begin(journal_reader_t *self)
{
    s_reader_drop_cursor(self);
    if (self->active)
        mdb_txn_reset(self->txn);
    int rc = mdb_txn_renew(self->txn);
    self->active = rc == 0;
    return rc ? LGSP_INTERNAL : 0;
}

void journal_reader_end(journal_reader_t *self)
{
    s_reader_drop_cursor(self);
    if (self->active)
        mdb_txn_reset(self->txn);
    self->active = false;
}

int journal_read_from(journal_reader_t *self, const char *topic, uint64_t offset,
                      journal_record_t *out)
{
    MDB_val k, v;
    int rc;
    if (strcmp(self->topic, topic) != 0) {
        journal_t *j = self->j;
        pthread_mutex_lock(&j->lock);
        s_topic_t *t = strmap_get(j->topic_map, topic, strlen(topic));
        bool ok = t && t->visible;
        MDB_dbi dbi = ok ? t->dbi : 0;
        pthread_mutex_unlock(&j->lock);
        if (!ok)
            return LGSP_NOT_FOUND;
        /* A visible topic's database handle never changes: cache it. */
        s_reader_drop_cursor(self);
        snprintf(self->topic, sizeof self->topic, "%s", topic);
        self->dbi = dbi;
    }
    if (!self->cursor) {
        if (mdb_cursor_open(self->txn, self->dbi, &self->cursor))
            return LGSP_INTERNAL;
        self->last = UINT64_MAX;
    }
    if (self->last != UINT64_MAX && offset == self->last + 1) {
        rc = mdb_cursor_get(self->cursor, &k, &v, MDB_NEXT);   /* the usual case */
    } else {
        unsigned char kb[8];
        s_be64(kb, offset);
        k.mv_size = 8;
        k.mv_data = kb;
        rc = mdb_cursor_get(self->cursor, &k, &v, MDB_SET_RANGE);
    }
    if (rc == MDB_NOTFOUND) {
        self->last = UINT64_MAX;   /* the cursor is past the end */
        return LGSP_NOT_FOUND;
    }
    if (rc || s_decode(&k, &v, out))
        return LGSP_INTERNAL;
    self->last = out->offset;
    return 0;
}

int journal_each_group(journal_reader_t *self,
                       void (*fn)(void *arg, const char *topic, const char *group,
                                  uint32_t gid, uint64_t committed),
                       void *arg)
{
    journal_t *j = self->j;
    /* Topic ids -> names for this listing. */
    MDB_cursor *c;
    if (mdb_cursor_open(self->txn, j->groups, &c))
        return LGSP_INTERNAL;
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= 4 || v.mv_size != sizeof(s_group_rec_t))
            continue;
        uint32_t tid = ((uint32_t) ((unsigned char *) k.mv_data)[0] << 24)
                     | ((uint32_t) ((unsigned char *) k.mv_data)[1] << 16)
                     | ((uint32_t) ((unsigned char *) k.mv_data)[2] << 8)
                     | ((unsigned char *) k.mv_data)[3];
        const char *tname = NULL;
        pthread_mutex_lock(&j->lock);
        size_t pos = 0;
        void *tv;
        while (strmap_next(j->topic_map, &pos, NULL, NULL, &tv))
            if (((s_topic_t *) tv)->committed.id == tid && ((s_topic_t *) tv)->visible) {
                tname = ((s_topic_t *) tv)->name;
                break;
            }
        pthread_mutex_unlock(&j->lock);
        if (!tname)
            continue;
        char group[420];
        size_t gl = k.mv_size - 4 < sizeof group - 1 ? k.mv_size - 4 : sizeof group - 1;
        memcpy(group, (char *) k.mv_data + 4, gl);
        group[gl] = 0;
        s_group_rec_t g;
        memcpy(&g, v.mv_data, sizeof g);
        fn(arg, tname, group, g.gid, g.committed);
    }
    mdb_cursor_close(c);
    return 0;
}

int journal_each_pending(journal_reader_t *self, uint32_t gid,
                         void (*fn)(void *arg, uint64_t offset, uint32_t attempts, bool acked,
                                    const char *reason),
                         void *arg)
{
    MDB_cursor *c;
    if (mdb_cursor_open(self->txn, self->j->pending, &c))
        return LGSP_INTERNAL;
    unsigned char kb[12];
    s_be32(kb, gid);
    s_be64(kb + 4, 0);
    MDB_val k = { 12, kb }, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12 || memcmp(k.mv_data, kb, 4) != 0)
            break;
        if (v.mv_size < sizeof(s_pending_rec_t))
            continue;
        s_pending_rec_t p;
        memcpy(&p, v.mv_data, sizeof p);
        char reason[1025];
        size_t rl = v.mv_size - sizeof p;
        if (rl > 1024)
            rl = 1024;
        memcpy(reason, (char *) v.mv_data + sizeof p, rl);
        reason[rl] = 0;
        fn(arg, s_get_be64((unsigned char *) k.mv_data + 4), p.attempts, p.acked, reason);
    }
    mdb_cursor_close(c);
    return 0;
}

/* ---- adapter state ---------------------------------------------------- */

int journal_state_put(journal_t *self, const char *name, const void *state, size_t len)
{
    if (!self->txn)
        return s_fail(self, LGSP_INTERNAL, "journal: no transaction");
    size_t n = strlen(name);
    if (n == 0 || n > 400)
        return s_fail(self, LGSP_BAD_REQUEST, "journal: invalid state name");
    MDB_val k = { n, (void *) name }, v = { len, (void *) state };
    int rc = mdb_put(self->txn, self->state, &k, &v, 0);
    if (rc)
        return s_mdb_fail(self, rc, "adapter state");
    self->txn_bytes += len + n + PER_MSG_OVERHEAD;
    return 0;
}

int journal_state_get(journal_t *self, const char *name, void **state, size_t *len)
{
    *state = NULL;
    *len = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return LGSP_INTERNAL;
    MDB_val k = { strlen(name), (void *) name }, v;
    rc = mdb_get(txn, self->state, &k, &v);
    if (rc == 0) {
        *state = malloc(v.mv_size ? v.mv_size : 1);
        if (*state) {
            memcpy(*state, v.mv_data, v.mv_size);
            *len = v.mv_size;
        } else
            rc = ENOMEM;
    }
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return LGSP_NOT_FOUND;
    return rc ? LGSP_INTERNAL : 0;
}
