/* file_drop.c — the `file-drop` source plugin: watches a folder where a
 * department drops export files (CSV, JSON lines, XML), reads each file
 * once it is stable, publishes one raw record per row / line / element
 * (records.h, decoding legacy encodings with vncodec.h) and moves the file
 * to done/ or failed/. adapters/file-drop/README.md is the operator's guide.
 *
 * Exactly once, per file:
 *   1. a stable file (same size, mtime and inode over `settle`) is renamed
 *      into <dir>/.inprogress/ first, so a new version dropped under the
 *      same name while we read cannot be mistaken for the one we read (the
 *      "preMove" of Apache Camel's file component);
 *   2. its records go out in batches; every batch is committed with the
 *      state: for each file the batch touches {file, sha256 of its bytes,
 *      items done, complete} (small files share a batch). After a crash the
 *      same file (same hash) resumes after `done`;
 *   3. once the commit that completes a file has returned, the file is
 *      renamed to done/ (or failed/). If lgspd dies between the two, the
 *      state tells on restart that the file is finished and it is only moved.
 * A name that reappears later (a re-export) is a new file and is read
 * again from the start; record.id stays NULL, so the host's content-derived
 * message id (source id + payload digest) makes the unchanged rows
 * duplicates and only new or changed rows new messages. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/evp.h>

#include "lgsp/adapter.h"

#include "csvread.h"
#include "records.h"
#include "vncodec.h"

#define FD_VERSION        "1.0"
#define QUARANTINE_MAX    (1u << 20)      /* bytes of a file or row kept in a quarantine entry */
#define BATCH_MAX         1000            /* the host's limit */
/* a host function the host's table is large enough to hold */
#define HOST_HAS(h, f) ((h)->size >= offsetof(lgsp_host_api_t, f) + sizeof((h)->f))

typedef struct {
    char    *name;
    off_t    size;
    int64_t  mtime_ns;
    ino_t    ino;
    uint64_t first_seen_ms;   /* when this (size, mtime, inode) was first seen */
    unsigned scans;           /* scans that saw it unchanged */
} cand_t;

typedef struct {
    char          *key;
    vncodec_enc_t  enc;
    bool           valid;
    char           name[32];  /* as written in the map, for messages */
} map_entry_t;

/* One file of the state (see the file comment): the files of the open
 * batch, and finished ones not moved out of .inprogress/ yet. */
typedef struct {
    char    *name;
    char     sha256[65];
    uint64_t done;            /* items (records and quarantined) committed */
    bool     complete, failed;
    bool     gone;            /* moved out after its commit: dropped at the next compaction */
} fd_entry_t;

typedef struct {
    lgsp_adapter_t        *a;
    const lgsp_host_api_t *h;
    /* settings */
    char          *dir, *done_dir, *failed_dir, *inprogress_dir;
    char         **patterns;
    fdrec_format_t format;
    vncodec_enc_t  enc;
    bool           use_map, has_default_enc;
    vncodec_enc_t  default_enc;
    char          *map_path, *map_key, *map_col;
    char          *map_name;      /* the map's name when it lies in dir (never a data file) */
    char           map_delim;
    bool           order_mtime;
    uint64_t       settle_ms;
    size_t         max_file, batch_max;
    fdrec_t       *rec;
    /* the encoding map */
    map_entry_t   *map;
    size_t         nmap;
    bool           map_ok, map_warned;
    dev_t          map_dev;
    ino_t          map_ino;
    off_t          map_size;
    int64_t        map_mtime;
    /* the folder as last scanned */
    cand_t        *cands;
    size_t         ncands;
    /* state: what the next commit says, what the last one said before */
    fd_entry_t    *ents;
    size_t         nents;
    bool           st_loaded;
    /* the file being read */
    size_t         cur;           /* its entry */
    const char    *cur_name;
    uint64_t       skip;          /* items committed before a restart */
    lgsp_batch_t  *batch;
    size_t         in_batch;      /* records and quarantined items in the open batch */
    size_t         files_in_batch;
    int            cb_error;       /* < 0: a host call failed during the read */
    uint64_t       file_records, file_bad;
    char           pos[PATH_MAX + 32];
    /* for describe() (another thread) */
    pthread_mutex_t mu;
    uint64_t       n_done, n_failed, n_records, n_quarantined;
    char           current[256];
} fd_t;

/* ---- small helpers --------------------------------------------------- */

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *s_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int s_mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(tmp, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* "500ms", "2s", "1m", "0"; a bare number is seconds. */
static int s_parse_duration(const char *s, uint64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mult = 1000;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    *ms = (uint64_t)(v * mult + 0.5);
    return 0;
}

/* "1048576", "64k", "256M", "1GiB". */
static int s_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    unsigned long long mult = 1;
    if (*end) {
        char u = (char)(*end | 0x20);
        if (u == 'k')
            mult = 1ull << 10;
        else if (u == 'm')
            mult = 1ull << 20;
        else if (u == 'g')
            mult = 1ull << 30;
        else
            return -1;
        end++;
        if (strcasecmp(end, "") != 0 && strcasecmp(end, "b") != 0 && strcasecmp(end, "ib") != 0)
            return -1;
    }
    if (v > SIZE_MAX / mult)
        return -1;
    *out = (size_t)(v * mult);
    return 0;
}

static int s_parse_bool(const char *s, bool *b)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1"))
        *b = true;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcmp(s, "0"))
        *b = false;
    else
        return -1;
    return 0;
}

/* One character, with the escapes a YAML user writes for a tab. */
static int s_parse_char(const char *s, char *c)
{
    if (strcmp(s, "\\t") == 0 || strcasecmp(s, "tab") == 0) {
        *c = '\t';
        return 0;
    }
    if (strlen(s) != 1 || *s == '\n' || *s == '\r')
        return -1;
    *c = *s;
    return 0;
}

static void s_free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* A list setting: "path" as one scalar, or "path.0", "path.1" ... */
static char **s_setting_list(fd_t *self, const char *path)
{
    char **v = calloc(1, sizeof *v);
    size_t n = 0;
    const char *one = self->h->setting(self->a, path);
    if (one) {
        char **nv = realloc(v, 2 * sizeof *v);
        if (!nv) {
            free(v);
            return NULL;
        }
        v = nv;
        v[n++] = strdup(one);
        v[n] = NULL;
        return v;
    }
    for (;; n++) {
        char key[128];
        snprintf(key, sizeof key, "%s.%zu", path, n);
        const char *s = self->h->setting(self->a, key);
        if (!s)
            break;
        char **nv = realloc(v, (n + 2) * sizeof *v);
        if (!nv)
            break;
        v = nv;
        v[n] = strdup(s);
        v[n + 1] = NULL;
    }
    return v;
}

static void s_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Reads a whole file (at most max bytes; *too_big when larger). */
static int s_read_file(const char *path, size_t max, char **data, size_t *len, bool *too_big)
{
    *data = NULL;
    *len = 0;
    *too_big = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1;
    if ((size_t)st.st_size > max) {
        *too_big = true;
        cap = max + 1;
    }
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                *too_big = true;
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        *too_big = true;
        n = max;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* rename, or copy + fsync + unlink across file systems. */
static int s_move(const char *from, const char *to)
{
    if (rename(from, to) == 0)
        return 0;
    if (errno != EXDEV)
        return -1;
    char *data;
    size_t len;
    bool big;
    if (s_read_file(from, SIZE_MAX - 2, &data, &len, &big) != 0)
        return -1;
    size_t tn = strlen(to) + 8;
    char *tmp = malloc(tn);
    if (!tmp) {
        free(data);
        return -1;
    }
    snprintf(tmp, tn, "%s.tmp~", to);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -1 : 0;
    for (size_t off = 0; rc == 0 && off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, to) != 0)
        rc = -1;
    if (rc == 0)
        rc = unlink(from);
    else
        unlink(tmp);
    free(tmp);
    free(data);
    return rc;
}

static void s_set_current(fd_t *self, const char *name)
{
    pthread_mutex_lock(&self->mu);
    snprintf(self->current, sizeof self->current, "%s", name ? name : "");
    pthread_mutex_unlock(&self->mu);
}

/* ---- state ------------------------------------------------------------ */

/* The state committed with each batch:
 *   {"v":2,"files":[{"file":NAME,"sha256":HEX,"done":N,"complete":B,"failed":B},...]}
 * One entry per file of the batch (small files share a batch, so that a
 * folder of many small exports is not one journal commit per file) and per
 * finished file that could not be moved out yet. */

static void s_ents_free(fd_t *self)
{
    for (size_t i = 0; i < self->nents; i++)
        free(self->ents[i].name);
    free(self->ents);
    self->ents = NULL;
    self->nents = 0;
}

/* Drops the entries of files moved out. Never while a file is read (its
 * entry index would move). */
static void s_ents_compact(fd_t *self)
{
    size_t k = 0;
    for (size_t i = 0; i < self->nents; i++) {
        if (self->ents[i].gone)
            free(self->ents[i].name);
        else
            self->ents[k++] = self->ents[i];
    }
    self->nents = k;
}

static fd_entry_t *s_ent_find(fd_t *self, const char *name)
{
    for (size_t i = 0; i < self->nents; i++)
        if (!self->ents[i].gone && strcmp(self->ents[i].name, name) == 0)
            return &self->ents[i];
    return NULL;
}

static fd_entry_t *s_ent_add(fd_t *self, const char *name)
{
    fd_entry_t *n = realloc(self->ents, (self->nents + 1) * sizeof *n);
    if (!n)
        return NULL;
    self->ents = n;
    fd_entry_t *e = &self->ents[self->nents];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name)
        return NULL;
    self->nents++;
    return e;
}

static int s_state_load(fd_t *self)
{
    void *p = NULL;
    size_t len = 0;
    int rc = self->h->state_get(self->a, &p, &len);
    if (rc < 0 && rc != LGSP_AE_NOTFOUND) {
        self->h->log(self->a, LGSP_LOG_ERROR, "cannot read the state: %s", self->h->last_error(self->a));
        return -1;
    }
    s_ents_free(self);
    if (p && len) {
        json_error_t je;
        json_t *j = json_loadb(p, len, 0, &je);
        json_t *files = json_object_get(j, "files");
        size_t i;
        json_t *f;
        json_array_foreach(files, i, f) {
            const char *name = json_string_value(json_object_get(f, "file"));
            const char *hash = json_string_value(json_object_get(f, "sha256"));
            if (!name || !hash || strlen(hash) != 64)
                continue;
            fd_entry_t *e = s_ent_add(self, name);
            if (!e)
                break;
            memcpy(e->sha256, hash, 65);
            e->done = (uint64_t)json_integer_value(json_object_get(f, "done"));
            e->complete = json_is_true(json_object_get(f, "complete"));
            e->failed = json_is_true(json_object_get(f, "failed"));
        }
        if (!json_is_array(files) && j && json_object_size(j) > 0)
            self->h->log(self->a, LGSP_LOG_WARN, "ignoring a state it does not understand (%zu bytes)", len);
        json_decref(j);
    }
    if (p)
        self->h->free_mem(p);
    self->st_loaded = true;
    return 0;
}

static int s_finish(fd_t *self, const char *name, bool failed);

/* Commits the open batch with the state, then moves the finished files out
 * of .inprogress/. */
static int s_commit(fd_t *self)
{
    if (!self->batch)
        return 0;
    json_t *files = json_array();
    for (size_t i = 0; files && i < self->nents; i++) {
        const fd_entry_t *e = &self->ents[i];
        if (e->gone)
            continue;
        json_t *f = json_pack("{s:s,s:s,s:I,s:b,s:b}", "file", e->name, "sha256", e->sha256, "done",
                              (json_int_t)e->done, "complete", e->complete, "failed", e->failed);
        if (!f || json_array_append_new(files, f) != 0) {
            json_decref(files);
            files = NULL;
        }
    }
    json_t *j = files ? json_pack("{s:i,s:o}", "v", 2, "files", files) : NULL;
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        self->h->batch_discard(self->batch);
        self->batch = NULL;
        return LGSP_AE_NOMEM;
    }
    lgsp_commit_result_t res = { .size = sizeof res };
    int rc = self->h->batch_commit(self->batch, text, strlen(text), &res);
    self->batch = NULL;
    self->in_batch = 0;
    self->files_in_batch = 0;
    free(text);
    if (rc < 0) {
        /* the entries in memory claim what was not stored: read the
         * committed state again before going on */
        self->st_loaded = false;
        return rc;
    }
    pthread_mutex_lock(&self->mu);
    self->n_records += res.stored;
    self->n_quarantined += res.quarantined;
    pthread_mutex_unlock(&self->mu);
    /* the finished files out; an entry that cannot move stays in the state */
    int mrc = 0;
    for (size_t i = 0; i < self->nents; i++) {
        fd_entry_t *e = &self->ents[i];
        if (e->gone || !e->complete)
            continue;
        if (s_finish(self, e->name, e->failed) == 0)
            e->gone = true;
        else
            mrc = LGSP_AE_INVALID;
    }
    return mrc;
}

static int s_batch(fd_t *self)
{
    if (!self->batch) {
        self->batch = self->h->batch_new(self->a);
        self->in_batch = 0;
        self->files_in_batch = 0;
        if (!self->batch)
            return LGSP_AE_NOMEM;
    }
    return 0;
}

/* ---- the encoding map ------------------------------------------------- */

static void s_map_free(fd_t *self)
{
    for (size_t i = 0; i < self->nmap; i++)
        free(self->map[i].key);
    free(self->map);
    self->map = NULL;
    self->nmap = 0;
}

/* Loads the map when it appeared or changed. Sets map_ok. */
static void s_map_refresh(fd_t *self)
{
    struct stat st;
    if (stat(self->map_path, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (!self->map_warned)
            self->h->log(self->a, LGSP_LOG_WARN, "encoding map %s: %s; files that need it wait", self->map_path,
                         strerror(errno ? errno : ENOENT));
        self->map_warned = true;
        self->map_ok = false;
        return;
    }
    if (self->map_ok && st.st_dev == self->map_dev && st.st_ino == self->map_ino && st.st_size == self->map_size &&
        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == self->map_mtime)
        return;
    char *data;
    size_t len;
    bool big;
    if (s_read_file(self->map_path, 16u << 20, &data, &len, &big) != 0 || big) {
        if (!big)
            self->h->log(self->a, LGSP_LOG_WARN, "encoding map %s: %s", self->map_path, strerror(errno));
        else
            self->h->log(self->a, LGSP_LOG_WARN, "encoding map %s: larger than 16 MiB", self->map_path);
        if (!big)
            return;
        free(data);
        return;
    }
    size_t bom = vncodec_bom_len(data, len);
    csvread_t *rd = csvread_new(data + bom, len - bom, self->map_delim, '"');
    map_entry_t *m = NULL;
    size_t n = 0;
    long kcol = -1, ecol = -1;
    bool ok = rd != NULL;
    int rc;
    const char *why = "no header row";
    while (ok && (rc = csvread_next(rd)) != CSVREAD_END) {
        size_t rl;
        csvread_raw(rd, &rl);
        if (rc == CSVREAD_ERROR || rl == 0 || !csvread_terminated(rd))
            continue;       /* a last line without its line end may be cut short */
        if (kcol < 0) {
            for (size_t i = 0; i < csvread_nfields(rd); i++) {
                const char *f = csvread_field(rd, i, NULL);
                if (strcasecmp(f, self->map_key) == 0)
                    kcol = (long)i;
                if (strcasecmp(f, self->map_col) == 0)
                    ecol = (long)i;
            }
            if (kcol < 0 || ecol < 0) {
                why = "the header lacks the key or the encoding column";
                ok = false;
            }
            continue;
        }
        if ((size_t)kcol >= csvread_nfields(rd) || (size_t)ecol >= csvread_nfields(rd))
            continue;
        const char *k = csvread_field(rd, (size_t)kcol, NULL);
        const char *e = csvread_field(rd, (size_t)ecol, NULL);
        if (!*k)
            continue;
        map_entry_t *nm = realloc(m, (n + 1) * sizeof *m);
        if (!nm) {
            ok = false;
            why = "out of memory";
            break;
        }
        m = nm;
        memset(&m[n], 0, sizeof m[n]);
        m[n].key = strdup(k);
        m[n].valid = vncodec_enc_parse(e, &m[n].enc) == 0;
        snprintf(m[n].name, sizeof m[n].name, "%s", e);
        n++;
    }
    if (ok && kcol < 0)
        ok = false;
    csvread_destroy(&rd);
    free(data);
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            free(m[i].key);
        free(m);
        self->h->log(self->a, LGSP_LOG_WARN, "encoding map %s: %s", self->map_path, why);
        self->map_ok = false;
        return;
    }
    s_map_free(self);
    self->map = m;
    self->nmap = n;
    self->map_ok = true;
    self->map_warned = false;
    self->map_dev = st.st_dev;
    self->map_ino = st.st_ino;
    self->map_size = st.st_size;
    self->map_mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    self->h->log(self->a, LGSP_LOG_INFO, "encoding map %s: %zu entries", self->map_path, n);
}

/* The map entry whose key is the longest prefix of the name followed by
 * something other than a letter or digit, or NULL. */
static const map_entry_t *s_map_find(fd_t *self, const char *name)
{
    const map_entry_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < self->nmap; i++) {
        size_t k = strlen(self->map[i].key);
        if (k <= best_len || strncmp(name, self->map[i].key, k) != 0)
            continue;
        unsigned char next = (unsigned char)name[k];
        if (next && ((next >= '0' && next <= '9') || (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z')))
            continue;
        best = &self->map[i];
        best_len = k;
    }
    return best;
}

/* The encoding of a file: 0, or -1 with why (the file fails), or 1 when
 * the map is not there yet (the file waits). */
static int s_file_enc(fd_t *self, const char *name, vncodec_enc_t *enc, char *why, size_t whysz)
{
    if (!self->use_map) {
        *enc = self->enc;
        return 0;
    }
    if (!self->map_ok)
        return 1;
    const map_entry_t *m = s_map_find(self, name);
    if (m && m->valid) {
        *enc = m->enc;
        return 0;
    }
    if (m) {
        snprintf(why, whysz, "the encoding map names an unknown encoding '%s' for '%s'", m->name, m->key);
        return -1;
    }
    if (self->has_default_enc) {
        *enc = self->default_enc;
        return 0;
    }
    snprintf(why, whysz, "the encoding map has no entry for this file name");
    return -1;
}

/* ---- scanning ------------------------------------------------------- */

static bool s_matches(fd_t *self, const char *name)
{
    if (name[0] == '.')
        return false;
    for (char **p = self->patterns; p && *p; p++)
        if (fnmatch(*p, name, 0) == 0)
            return true;
    return false;
}

static void s_cands_free(cand_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].name);
    free(c);
}

static int s_cmp_name(const void *a, const void *b)
{
    return strcmp(((const cand_t *)a)->name, ((const cand_t *)b)->name);
}

static int s_cmp_mtime(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const cand_t *s_cand_find(const cand_t *c, size_t n, const char *name)
{
    /* the previous scan is sorted by name */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(c[mid].name, name);
        if (r == 0)
            return &c[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Lists the folder. Returns the number of stable files (eligible) moved to
 * the front of self->cands in processing order, and *pending the number
 * still settling; -1 when the folder cannot be read. */
static long s_scan(fd_t *self, size_t *pending, uint64_t *next_ms)
{
    *pending = 0;
    *next_ms = UINT64_MAX;
    DIR *d = opendir(self->dir);
    if (!d)
        return -1;
    int dfd = dirfd(d);
    cand_t *nc = NULL;
    size_t n = 0, cap = 0;
    uint64_t now = s_now_ms();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!s_matches(self, e->d_name))
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (self->use_map && ((self->map_name && strcmp(e->d_name, self->map_name) == 0) ||
                              (self->map_ok && st.st_dev == self->map_dev && st.st_ino == self->map_ino)))
            continue;        /* the encoding map itself */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            cand_t *p = realloc(nc, cap * sizeof *nc);
            if (!p)
                break;
            nc = p;
        }
        cand_t *c = &nc[n];
        c->name = strdup(e->d_name);
        if (!c->name)
            break;
        c->size = st.st_size;
        c->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        c->ino = st.st_ino;
        const cand_t *old = s_cand_find(self->cands, self->ncands, c->name);
        if (old && old->size == c->size && old->mtime_ns == c->mtime_ns && old->ino == c->ino) {
            c->first_seen_ms = old->first_seen_ms;
            c->scans = old->scans + 1;
        } else {
            c->first_seen_ms = now;
            c->scans = 1;
        }
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(nc, n, sizeof *nc, s_cmp_name);
    s_cands_free(self->cands, self->ncands);
    self->cands = nc;
    self->ncands = n;
    return (long)n;
}

/* Fills el (caller frees the array, not the names) with the eligible
 * candidates in processing order. */
static size_t s_eligible(fd_t *self, cand_t **el, size_t *pending, uint64_t *next_ms)
{
    uint64_t now = s_now_ms();
    *el = NULL;
    *pending = 0;
    *next_ms = UINT64_MAX;
    if (!self->ncands)
        return 0;
    cand_t *v = malloc(self->ncands * sizeof *v);
    if (!v)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < self->ncands; i++) {
        cand_t *c = &self->cands[i];
        /* stable: seen unchanged by two scans, the settle time apart */
        uint64_t ready = c->first_seen_ms + self->settle_ms;
        if (c->scans < 2 || now < ready) {
            (*pending)++;
            uint64_t at = now < ready ? ready : now;
            if (at < *next_ms)
                *next_ms = at;
            continue;
        }
        if (self->use_map) {
            vncodec_enc_t enc;
            char why[8];
            if (s_file_enc(self, c->name, &enc, why, sizeof why) == 1)
                continue;     /* waits for the map */
        }
        v[n++] = *c;
    }
    if (self->order_mtime && n > 1)
        qsort(v, n, sizeof *v, s_cmp_mtime);
    *el = v;
    return n;
}

/* ---- reading one file ------------------------------------------------ */

#define FILES_PER_BATCH 64        /* small files sharing one commit */
#define POLL_BUDGET_MS  2000      /* then poll returns "more" and the folder is scanned again */

static int s_on_item(void *arg, const fdrec_item_t *it)
{
    fd_t *self = arg;
    if (it->index < self->skip)
        return 0;       /* committed before a restart */
    int rc = s_batch(self);
    if (rc < 0) {
        self->cb_error = rc;
        return 1;
    }
    if (it->line)
        snprintf(self->pos, sizeof self->pos, "%s:%zu", self->cur_name, it->line);
    else
        snprintf(self->pos, sizeof self->pos, "%s", self->cur_name);
    if (it->reason) {
        size_t ql = it->original_len > QUARANTINE_MAX ? QUARANTINE_MAX : it->original_len;
        rc = self->h->batch_quarantine(self->batch, self->pos, it->reason, it->original, ql);
        if (rc == LGSP_AE_TOO_BIG) {
            if ((rc = s_commit(self)) < 0 || (rc = s_batch(self)) < 0) {
                self->cb_error = rc;
                return 1;
            }
            rc = self->h->batch_quarantine(self->batch, self->pos, it->reason, it->original, ql);
        }
        if (rc < 0) {
            self->cb_error = rc;
            return 1;
        }
        self->file_bad++;
    } else {
        const char *const headers[] = { "lgsp-file", self->cur_name, NULL };
        lgsp_record_t r = {
            .size = sizeof r,
            .source_id = it->source_id,
            .id = NULL,                  /* content-derived: re-reads are duplicates */
            .content_type = it->content_type,
            .payload = it->payload,
            .payload_len = it->payload_len,
            .original = it->original,
            .original_len = it->original_len,
            .encoding = it->encoding,
            .position = self->pos,
            .headers = headers,
        };
        rc = self->h->batch_add(self->batch, &r);
        if (rc == LGSP_AE_TOO_BIG && self->in_batch > 0) {
            if ((rc = s_commit(self)) < 0 || (rc = s_batch(self)) < 0) {
                self->cb_error = rc;
                return 1;
            }
            rc = self->h->batch_add(self->batch, &r);
        }
        if (rc == LGSP_AE_TOO_BIG || rc == LGSP_AE_INVALID) {
            /* alone too large for a batch, or refused: quarantined, not dropped */
            char why[256];
            snprintf(why, sizeof why, "the host refused the record: %s", self->h->last_error(self->a));
            const void *orig = it->original ? it->original : it->payload;
            size_t ol = it->original ? it->original_len : it->payload_len;
            rc = self->h->batch_quarantine(self->batch, self->pos, why, orig, ol > QUARANTINE_MAX ? QUARANTINE_MAX : ol);
            if (rc >= 0)
                self->file_bad++;
        } else if (rc >= 0) {
            self->file_records++;
        }
        if (rc < 0) {
            self->cb_error = rc;
            return 1;
        }
    }
    self->in_batch++;
    self->ents[self->cur].done = it->index + 1;
    bool stop = self->h->stopping(self->a);
    if (self->in_batch >= self->batch_max || stop) {
        /* a full batch, or lgspd stops: keep what is read, with its position */
        rc = s_commit(self);
        if (rc < 0) {
            self->cb_error = rc;
            return 1;
        }
    }
    if (stop) {
        self->cb_error = LGSP_AE_STOPPING;
        return 1;
    }
    return 0;
}

/* Moves a finished file out of .inprogress/. */
static int s_finish(fd_t *self, const char *name, bool failed)
{
    char *from = s_join(self->inprogress_dir, name);
    char *to = s_join(failed ? self->failed_dir : self->done_dir, name);
    int rc = from && to ? s_move(from, to) : -1;
    bool moved = rc == 0;
    if (rc != 0 && errno == ENOENT && from && access(from, F_OK) != 0)
        rc = 0;         /* moved already (before a restart) */
    else if (rc != 0)
        self->h->log(self->a, LGSP_LOG_ERROR, "cannot move %s to %s: %s", from ? from : name,
                     to ? to : "?", strerror(errno));
    free(from);
    free(to);
    if (moved) {
        pthread_mutex_lock(&self->mu);
        if (failed)
            self->n_failed++;
        else
            self->n_done++;
        pthread_mutex_unlock(&self->mu);
        self->h->count(self->a, failed ? "files_failed" : "files_done", 1);
    }
    return rc == 0 ? 0 : -1;
}

/* The whole file cannot be read: one quarantine entry, then failed/ (after
 * the commit). */
static int s_fail_file(fd_t *self, const char *name, size_t line, const char *why, const char *data, size_t len)
{
    int rc = s_batch(self);
    if (rc < 0)
        return rc;
    if (line)
        snprintf(self->pos, sizeof self->pos, "%s:%zu", name, line);
    else
        snprintf(self->pos, sizeof self->pos, "%s", name);
    rc = self->h->batch_quarantine(self->batch, self->pos, why, data, len > QUARANTINE_MAX ? QUARANTINE_MAX : len);
    if (rc == LGSP_AE_TOO_BIG) {
        if ((rc = s_commit(self)) < 0 || (rc = s_batch(self)) < 0)
            return rc;
        rc = self->h->batch_quarantine(self->batch, self->pos, why, data,
                                       len > QUARANTINE_MAX ? QUARANTINE_MAX : len);
    }
    if (rc < 0)
        return rc;
    self->in_batch++;
    self->h->log(self->a, LGSP_LOG_WARN, "%s: %s; moved to failed/", self->pos, why);
    fd_entry_t *e = &self->ents[self->cur];
    e->complete = e->failed = true;
    return 0;
}

/* Reads .inprogress/<name> into the open batch. Returns 0 (read, or
 * waiting for the encoding map), < 0 on a host failure (the file stays; the
 * state says where it was). The file is moved out by the commit that
 * completes it. */
static int s_process(fd_t *self, const char *name)
{
    s_ents_compact(self);
    char *path = s_join(self->inprogress_dir, name);
    if (!path)
        return LGSP_AE_NOMEM;
    char *data = NULL;
    size_t len = 0;
    bool too_big = false;
    int rc = s_read_file(path, self->max_file, &data, &len, &too_big);
    int e = errno;
    free(path);
    bool unreadable = false;
    if (rc != 0) {
        if (e == ENOENT)
            return 0;       /* taken away meanwhile */
        if (e == ENOMEM)
            return LGSP_AE_NOMEM;
        /* e.g. no permission: the file fails rather than blocking the folder */
        unreadable = true;
        data = NULL;
        len = 0;
    }
    char hash[65];
    s_sha256_hex(data ? data : "", len, hash);
    fd_entry_t *ent = s_ent_find(self, name);
    if (ent && strcmp(ent->sha256, hash) == 0 && ent->complete) {
        /* committed before a restart, not moved yet */
        self->h->log(self->a, LGSP_LOG_INFO, "%s: finished before the restart; moving it", name);
        free(data);
        if (s_finish(self, name, ent->failed) != 0)
            return LGSP_AE_INVALID;
        ent->gone = true;
        return 0;
    }
    self->skip = 0;
    if (ent && strcmp(ent->sha256, hash) == 0) {
        self->skip = ent->done;
        self->h->log(self->a, LGSP_LOG_INFO, "%s: resuming after item %llu", name, (unsigned long long)self->skip);
    } else if (ent) {
        /* another file under that name: from the start */
        memcpy(ent->sha256, hash, 65);
        ent->done = 0;
        ent->complete = ent->failed = false;
    } else if (!(ent = s_ent_add(self, name))) {
        free(data);
        return LGSP_AE_NOMEM;
    } else {
        memcpy(ent->sha256, hash, 65);
    }
    self->cur = (size_t)(ent - self->ents);
    self->cur_name = self->ents[self->cur].name;
    self->file_records = self->file_bad = 0;
    self->cb_error = 0;
    s_set_current(self, name);

    vncodec_enc_t enc = VNCODEC_UTF8;
    char why[512];
    int er = too_big || unreadable ? -1 : s_file_enc(self, name, &enc, why, sizeof why);
    if (too_big)
        snprintf(why, sizeof why, "file larger than max_file_size (%zu bytes)", self->max_file);
    else if (unreadable)
        snprintf(why, sizeof why, "cannot read the file: %s", strerror(e));
    if (er == 1) {
        free(data);
        s_set_current(self, NULL);
        return 0;         /* the map is not there (any more): wait */
    }
    if (er < 0) {
        rc = s_fail_file(self, name, 0, why, data, len);
        free(data);
        s_set_current(self, NULL);
        self->files_in_batch++;
        return rc;
    }
    if ((rc = s_batch(self)) < 0) {
        free(data);
        return rc;
    }
    size_t err_line = 0;
    int r = fdrec_read(self->rec, name, data, len, enc, s_on_item, self, why, sizeof why, &err_line);
    if (r == FDREC_STOPPED) {
        /* a host call failed or lgspd stops: what was committed stays */
        if (self->batch) {
            self->h->batch_discard(self->batch);
            self->batch = NULL;
        }
        free(data);
        s_set_current(self, NULL);
        return self->cb_error == LGSP_AE_STOPPING ? 0 : self->cb_error;
    }
    if (r == FDREC_FAILED) {
        /* items read before the failure (CSV, JSON lines) stay in the batch */
        rc = s_fail_file(self, name, err_line, why, data, len);
    } else {
        self->ents[self->cur].complete = true;
        if (self->ents[self->cur].done < self->skip)
            self->ents[self->cur].done = self->skip;
        self->h->log(self->a, LGSP_LOG_DEBUG, "%s: %llu records, %llu quarantined (%s)", name,
                     (unsigned long long)self->file_records, (unsigned long long)self->file_bad,
                     vncodec_enc_name(enc));
        rc = 0;
    }
    free(data);
    s_set_current(self, NULL);
    self->files_in_batch++;
    if (rc == 0 && (self->files_in_batch >= FILES_PER_BATCH || self->in_batch >= self->batch_max))
        rc = s_commit(self);
    return rc;
}

/* rename that never replaces a file of the same name in .inprogress/ */
static int s_premove(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* a file system without RENAME_NOREPLACE */
    if (access(to, F_OK) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files left in .inprogress/ by a restart, in name order (NULL-terminated). */
static char **s_inprogress(fd_t *self)
{
    DIR *d = opendir(self->inprogress_dir);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **nv = realloc(v, (n + 2) * sizeof *v);
        if (!nv)
            break;
        v = nv;
        v[n++] = strdup(e->d_name);
        v[n] = NULL;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, s_cmp_str);
    return v;
}

/* Commits what the poll read and returns rc (or the commit's failure). */
static int s_poll_end(fd_t *self, int rc)
{
    if (rc >= 0 && self->batch) {
        int c = s_commit(self);
        if (c < 0)
            rc = c;
    } else if (self->batch) {
        self->h->batch_discard(self->batch);
        self->batch = NULL;
    }
    s_ents_compact(self);
    return rc;
}

static int s_poll(void *vself, lgsp_adapter_t *a)
{
    fd_t *self = vself;
    (void)a;
    if (!self->st_loaded && s_state_load(self) != 0)
        return LGSP_AE_JOURNAL;
    if (self->use_map)
        s_map_refresh(self);
    uint64_t t0 = s_now_ms();

    /* 1. what a restart left half-done (or waiting for the encoding map) */
    char **left = s_inprogress(self);
    for (size_t i = 0; i < self->nents; i++) {
        /* the state's files that are not in .inprogress/ any more were
         * moved out before the restart */
        bool there = false;
        for (char **p = left; p && *p && !there; p++)
            there = strcmp(*p, self->ents[i].name) == 0;
        if (!there && !self->batch)
            self->ents[i].gone = true;
    }
    for (char **p = left; p && *p; p++) {
        int rc = s_process(self, *p);
        if (rc < 0 || self->h->stopping(self->a)) {
            s_free_strv(left);
            return s_poll_end(self, rc < 0 ? rc : 0);
        }
    }
    s_free_strv(left);
    /* before waiting below, and so that what was resumed is committed */
    int rc = s_poll_end(self, 0);
    if (rc < 0)
        return rc;

    /* 2. the stable files of the folder, in order */
    uint64_t waited = 0;
    for (;;) {
        size_t pending;
        uint64_t next_ms;
        if (s_scan(self, &pending, &next_ms) < 0) {
            self->h->log(self->a, LGSP_LOG_ERROR, "cannot read %s: %s", self->dir, strerror(errno));
            return LGSP_AE_INVALID;
        }
        cand_t *el;
        size_t n = s_eligible(self, &el, &pending, &next_ms);
        if (n == 0) {
            free(el);
            /* files still settling: wait for them here rather than a whole
             * interval, but not longer than one settle time in all */
            if (!pending || waited > self->settle_ms)
                return 0;
            uint64_t now = s_now_ms();
            uint64_t ms = next_ms > now ? next_ms - now : 0;
            if (ms < 50)
                ms = 50;        /* the second scan of a file needs a moment */
            if (ms > 1000)
                ms = 1000;
            if (!self->h->wait(self->a, ms))
                return 0;
            waited += ms;
            continue;
        }
        int more = 0;
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (self->h->stopping(self->a))
                break;
            if (s_now_ms() - t0 > POLL_BUDGET_MS) {
                more = 1;       /* scan again: new files may come first by name */
                break;
            }
            char *from = s_join(self->dir, el[i].name);
            char *to = s_join(self->inprogress_dir, el[i].name);
            int mv = from && to ? s_premove(from, to) : -1;
            int e = errno;
            free(from);
            free(to);
            if (mv != 0) {
                if (e == ENOENT || e == EEXIST)
                    continue;   /* gone meanwhile; or the same name still waits in .inprogress/ */
                self->h->log(self->a, LGSP_LOG_ERROR, "cannot move %s into %s: %s", el[i].name,
                             self->inprogress_dir, strerror(e));
                rc = LGSP_AE_INVALID;
                break;
            }
            rc = s_process(self, el[i].name);
            if (rc < 0)
                break;
        }
        free(el);
        rc = s_poll_end(self, rc);
        /* files that were still settling: come back at once (the next poll
         * waits for them) rather than after a whole interval */
        return rc < 0 ? rc : more || pending ? 1 : 0;
    }
}

static void s_describe(void *vself, char *buf, size_t len)
{
    fd_t *self = vself;
    pthread_mutex_lock(&self->mu);
    snprintf(buf, len, "%s (%s): %llu files done, %llu failed, %llu records stored, %llu quarantined%s%s",
             self->dir, self->format == FDREC_CSV ? "csv" : self->format == FDREC_XML ? "xml" : "jsonl",
             (unsigned long long)self->n_done, (unsigned long long)self->n_failed,
             (unsigned long long)self->n_records, (unsigned long long)self->n_quarantined,
             self->current[0] ? "; reading " : "", self->current);
    pthread_mutex_unlock(&self->mu);
}

static void s_destroy(fd_t *self)
{
    if (!self)
        return;
    if (self->batch)
        self->h->batch_discard(self->batch);
    free(self->dir);
    free(self->done_dir);
    free(self->failed_dir);
    free(self->inprogress_dir);
    s_free_strv(self->patterns);
    free(self->map_path);
    free(self->map_name);
    free(self->map_key);
    free(self->map_col);
    s_map_free(self);
    s_cands_free(self->cands, self->ncands);
    s_ents_free(self);
    fdrec_destroy(&self->rec);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

static void s_cleanup(void *vself, lgsp_adapter_t *a)
{
    (void)a;
    s_destroy(vself);
}

/* ---- init ------------------------------------------------------------- */

/* A folder setting: absolute, relative to the adapter's work folder, or
 * <dir>/<dflt> when absent. */
static char *s_folder(fd_t *self, const char *key, const char *dflt)
{
    const char *v = self->h->setting(self->a, key);
    if (!v || !*v)
        return s_join(self->dir, dflt);
    if (v[0] == '/')
        return strdup(v);
    const char *w = HOST_HAS(self->h, work_dir) && self->h->work_dir ? self->h->work_dir(self->a) : NULL;
    return s_join(w ? w : self->dir, v);
}

static int s_init(fd_t *self)
{
    const lgsp_host_api_t *h = self->h;
    lgsp_adapter_t *a = self->a;
    const char *v;
    char err[256];

    v = h->setting(a, "dir");
    if (!v || !*v)
        return h->setting_error(a, "dir", "the folder to watch is required");
    self->dir = strdup(v);
    size_t dl = strlen(self->dir);
    while (dl > 1 && self->dir[dl - 1] == '/')
        self->dir[--dl] = '\0';

    v = h->setting(a, "format");
    if (!v)
        return h->setting_error(a, "format", "required: csv, jsonl or xml");
    if (!strcasecmp(v, "csv"))
        self->format = FDREC_CSV;
    else if (!strcasecmp(v, "jsonl") || !strcasecmp(v, "json-lines") || !strcasecmp(v, "ndjson"))
        self->format = FDREC_JSONL;
    else if (!strcasecmp(v, "xml"))
        self->format = FDREC_XML;
    else
        return h->setting_error(a, "format", "'%s': expected csv, jsonl or xml", v);

    self->patterns = s_setting_list(self, "pattern");
    if (!self->patterns)
        return LGSP_AE_NOMEM;
    if (!self->patterns[0]) {
        free(self->patterns);
        self->patterns = calloc(2, sizeof *self->patterns);
        if (!self->patterns)
            return LGSP_AE_NOMEM;
        self->patterns[0] = strdup(self->format == FDREC_CSV ? "*.csv" : self->format == FDREC_XML ? "*.xml"
                                                                                                  : "*.jsonl");
    }

    self->enc = VNCODEC_UTF8;
    v = h->setting(a, "encoding");
    if (v && (!strcasecmp(v, "map") || !strcasecmp(v, "auto-from-manifest"))) {
        self->use_map = true;
        const char *f = h->setting(a, "encoding_map.file");
        if (!f || !*f)
            return h->setting_error(a, "encoding_map.file", "encoding: map needs the map file");
        self->map_path = f[0] == '/' ? strdup(f) : s_join(self->dir, f);
        if (!strchr(f, '/'))
            self->map_name = strdup(f);
        else if (f[0] == '/' && !strncmp(f, self->dir, strlen(self->dir)) && f[strlen(self->dir)] == '/' &&
                 !strchr(f + strlen(self->dir) + 1, '/'))
            self->map_name = strdup(f + strlen(self->dir) + 1);
        const char *k = h->setting(a, "encoding_map.key_column");
        const char *c = h->setting(a, "encoding_map.encoding_column");
        self->map_key = strdup(k ? k : "key");
        self->map_col = strdup(c ? c : "encoding");
        self->map_delim = ',';
        const char *d = h->setting(a, "encoding_map.delimiter");
        if (d && s_parse_char(d, &self->map_delim) != 0)
            return h->setting_error(a, "encoding_map.delimiter", "one character expected");
        const char *def = h->setting(a, "encoding_map.default");
        if (def) {
            if (vncodec_enc_parse(def, &self->default_enc) != 0)
                return h->setting_error(a, "encoding_map.default", "'%s': unknown encoding", def);
            self->has_default_enc = true;
        }
    } else if (v && vncodec_enc_parse(v, &self->enc) != 0) {
        return h->setting_error(a, "encoding", "'%s': expected utf-8, cp1258, tcvn3, vni or map", v);
    }

    v = h->setting(a, "order");
    if (v && strcasecmp(v, "name") && strcasecmp(v, "mtime"))
        return h->setting_error(a, "order", "'%s': expected name or mtime", v);
    self->order_mtime = v && !strcasecmp(v, "mtime");

    self->settle_ms = 1000;
    v = h->setting(a, "settle");
    if (v && s_parse_duration(v, &self->settle_ms) != 0)
        return h->setting_error(a, "settle", "'%s': a duration (500ms, 2s) expected", v);
    self->max_file = 256u << 20;
    v = h->setting(a, "max_file_size");
    if (v && (s_parse_size(v, &self->max_file) != 0 || self->max_file == 0))
        return h->setting_error(a, "max_file_size", "'%s': a size (64M) expected", v);
    size_t max_record = 8u << 20;
    v = h->setting(a, "max_record_size");
    if (v && (s_parse_size(v, &max_record) != 0 || max_record == 0))
        return h->setting_error(a, "max_record_size", "'%s': a size (1M) expected", v);
    self->batch_max = BATCH_MAX;
    v = h->setting(a, "batch_records");
    if (v) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end || n == 0 || n > BATCH_MAX)
            return h->setting_error(a, "batch_records", "'%s': 1 to %d", v, BATCH_MAX);
        self->batch_max = n;
    }

    /* the record reader */
    fdrec_opts_t o = { .format = self->format, .csv_header = true, .final_newline = true,
                       .max_record = max_record };
    o.id = h->setting(a, "id");
    o.name_regex = h->setting(a, "name_regex");
    v = h->setting(a, "csv.delimiter");
    if (v && s_parse_char(v, &o.csv_delim) != 0)
        return h->setting_error(a, "csv.delimiter", "one character expected");
    v = h->setting(a, "csv.quote");
    if (v && s_parse_char(v, &o.csv_quote) != 0)
        return h->setting_error(a, "csv.quote", "one character expected");
    v = h->setting(a, "csv.header");
    if (v && s_parse_bool(v, &o.csv_header) != 0)
        return h->setting_error(a, "csv.header", "true or false expected");
    v = h->setting(a, "final_newline");
    if (v && s_parse_bool(v, &o.final_newline) != 0)
        return h->setting_error(a, "final_newline", "true or false expected");
    char **cols = s_setting_list(self, "csv.columns");
    o.csv_columns = cols && cols[0] ? (const char *const *)cols : NULL;
    o.xml_records = h->setting(a, "xml.records");
    /* namespaces: a map prefix → URI */
    const char **ns = NULL;
    json_t *sj = NULL;
    const char *js = h->setting_json ? h->setting_json(a) : NULL;
    if (js && (sj = json_loads(js, 0, NULL)) != NULL) {
        json_t *m = json_object_get(json_object_get(sj, "xml"), "namespaces");
        if (json_is_object(m) && json_object_size(m)) {
            ns = calloc(2 * json_object_size(m) + 1, sizeof *ns);
            size_t i = 0;
            const char *key;
            json_t *val;
            json_object_foreach(m, key, val) {
                if (ns && json_is_string(val)) {
                    ns[i++] = key;
                    ns[i++] = json_string_value(val);
                }
            }
        }
    }
    o.xml_ns = ns;
    err[0] = '\0';
    self->rec = fdrec_new(&o, err, sizeof err);
    free(ns);
    json_decref(sj);
    s_free_strv(cols);
    if (!self->rec) {
        const char *path = !strncmp(err, "id: ", 4) ? "id" : !strncmp(err, "name_regex: ", 12) ? "name_regex"
                         : !strncmp(err, "xml.records: ", 13) ? "xml.records" : "id";
        size_t pl = strlen(path);
        const char *what = !strncmp(err, path, pl) && !strncmp(err + pl, ": ", 2) ? err + pl + 2 : err;
        return h->setting_error(a, path, "%s", what);
    }

    /* the folders */
    self->done_dir = s_folder(self, "done_dir", "done");
    self->failed_dir = s_folder(self, "failed_dir", "failed");
    self->inprogress_dir = s_join(self->dir, ".inprogress");
    if (!self->done_dir || !self->failed_dir || !self->inprogress_dir)
        return LGSP_AE_NOMEM;
    if (s_mkdirs(self->dir) != 0)
        return h->setting_error(a, "dir", "%s: %s", self->dir, strerror(errno));
    if (s_mkdirs(self->inprogress_dir) != 0)
        return h->setting_error(a, "dir", "%s: %s", self->inprogress_dir, strerror(errno));
    if (s_mkdirs(self->done_dir) != 0)
        return h->setting_error(a, "done_dir", "%s: %s", self->done_dir, strerror(errno));
    if (s_mkdirs(self->failed_dir) != 0)
        return h->setting_error(a, "failed_dir", "%s: %s", self->failed_dir, strerror(errno));
    return 0;
}

/* ---- exports ---------------------------------------------------------- */

LGSP_ADAPTER_EXPORT int lgsp_adapter_abi(int host_min, int host_max)
{
    return host_min <= LGSP_ADAPTER_ABI_VERSION && LGSP_ADAPTER_ABI_VERSION <= host_max ? LGSP_ADAPTER_ABI_VERSION
                                                                                        : -1;
}

LGSP_ADAPTER_EXPORT int lgsp_adapter_init(lgsp_adapter_t *a, const lgsp_host_api_t *host,
                                          lgsp_adapter_info_t *info, void **self_p)
{
    /* libxml2 must be initialised once per process before threads use it;
     * xmlInitParser() is idempotent. */
    xmlInitParser();
    fd_t *self = calloc(1, sizeof *self);
    if (!self)
        return LGSP_AE_NOMEM;
    self->a = a;
    self->h = host;
    pthread_mutex_init(&self->mu, NULL);
    int rc = s_init(self);
    if (rc < 0) {
        s_destroy(self);
        return rc;
    }
    info->plugin = "file-drop";
    info->version = FD_VERSION;
    info->kind = LGSP_ADAPTER_SOURCE;
    info->guarantee = LGSP_EXACTLY_ONCE;
    info->poll = s_poll;
    info->cleanup = s_cleanup;
    info->describe = s_describe;
    *self_p = self;
    host->log(a, LGSP_LOG_INFO, "watching %s (%s, %s%s), done → %s, failed → %s", self->dir,
              self->format == FDREC_CSV ? "csv" : self->format == FDREC_XML ? "xml" : "jsonl",
              self->use_map ? "encoding from " : "", self->use_map ? self->map_path : vncodec_enc_name(self->enc),
              self->done_dir, self->failed_dir);
    return 0;
}
