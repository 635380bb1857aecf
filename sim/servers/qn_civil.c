/* qn_civil.c — the Quảng Nam communes' civil-status software (hộ tịch):
 * CSV exports of each commune's registers, dropped into a folder over time
 * (dropper.c), each in its commune's own encoding (TCVN3, VNI-Windows,
 * Windows-1258 or UTF-8 with BOM) as the generator wrote them, with
 * _encodings.csv first.
 *
 * Changes: a commune re-exports its birth register with registrations that
 * were made on paper before the communes closed (June 2025) and typed in
 * late. The new file replaces the old one under the same name: the old
 * rows unchanged, the new ones appended with the next numbers of the book. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "dropper.h"
#include "sim.h"
#include "simutil.h"
#include "vnlegacy.h"

typedef struct {
    char  *name;        /* file name */
    char  *path;        /* source */
    char  *current;     /* latest content (NULL: the source) */
    size_t len;
    int    cs;          /* vn_charset_t */
} s_file_t;

typedef struct {
    sim_env_t  env;
    dropper_t *drop;
    s_file_t  *files;
    size_t     nfiles;
    size_t    *births;  /* indices of the khai-sinh files */
    size_t     nbirths;
    rng_t      rng;
    uint64_t   changes;
} qn_civil_t;

static int s_cmp(const void *a, const void *b)
{
    const s_file_t *x = a, *y = b;
    /* _encodings.csv first ('_' sorts after digits in ASCII) */
    bool ex = x->name[0] == '_', ey = y->name[0] == '_';
    if (ex != ey)
        return ex ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int s_charset(const char *name)
{
    for (int i = 0; i < VN__COUNT; i++)
        if (!strcmp(name, vn_charset_name[i]))
            return i;
    return -1;
}

/* The encoding of each commune from _encodings.csv (ma_xa,ten_xa,encoding). */
static int s_encoding_of(const char *enc_csv, const char *ma_xa)
{
    size_t ml = strlen(ma_xa);
    for (const char *p = enc_csv; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, ma_xa, ml) == 0 && p[ml] == ',') {
            const char *e = strchr(p, '\n');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            while (l && (p[l - 1] == '\r'))
                l--;
            const char *c = p + l;
            while (c > p && c[-1] != ',')
                c--;
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(p + l - c), c);
            return s_charset(name);
        }
    }
    return -1;
}

/* Splits one CSV line (RFC 4180) into at most max fields, each malloc'd. */
static int s_csv_split(const char *line, size_t len, char **out, int max)
{
    int n = 0;
    size_t i = 0;
    while (n < max) {
        sbuf_t f;
        sbuf_init(&f);
        sbuf_puts(&f, "");
        if (i < len && line[i] == '"') {
            i++;
            while (i < len) {
                if (line[i] == '"' && i + 1 < len && line[i + 1] == '"') {
                    sbuf_putc(&f, '"');
                    i += 2;
                } else if (line[i] == '"') {
                    i++;
                    break;
                } else {
                    sbuf_putc(&f, line[i++]);
                }
            }
        }
        while (i < len && line[i] != ',')
            sbuf_putc(&f, line[i++]);
        out[n++] = f.p;
        if (i >= len)
            break;
        i++;                      /* the comma */
    }
    return n;
}

static void s_free_fields(char **f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i]);
}

enum { K_SO, K_QUYEN, K_NGAYDK, K_TEN, K_GT, K_NGAYSINH, K_NOISINH, K_SDD, K_CHA, K_NSCHA, K_ME,
       K_NSME, K_CUTRU, K__N };

/* One late birth registration appended to file f (its current content). */
static int s_add_birth(qn_civil_t *self, s_file_t *f, sbuf_t *json, bool first)
{
    if (!f->current) {
        if (sim_read_file(f->path, &f->current, &f->len) != 0)
            return -1;
    }
    sbuf_t u;
    sbuf_init(&u);
    const char *raw = f->current;
    size_t rl = f->len;
    if (f->cs == VN_UTF8) {
        if (rl >= 3 && !memcmp(raw, "\xEF\xBB\xBF", 3)) {
            raw += 3;
            rl -= 3;
        }
        sbuf_put(&u, raw, rl);
    } else {
        vn_decode((vn_charset_t)f->cs, raw, rl, &u);
    }
    /* rows: skip the header; remember the last and pick a random one */
    size_t nrows = 0, caprows = 0;
    const char **rows = NULL;
    size_t *lens = NULL;
    for (const char *p = u.p; p && p < u.p + u.len;) {
        const char *e = memchr(p, '\n', (size_t)(u.p + u.len - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(u.p + u.len - p);
        size_t l2 = l && p[l - 1] == '\r' ? l - 1 : l;
        if (l2) {
            if (nrows == caprows) {
                caprows = caprows ? caprows * 2 : 1024;
                rows = xrealloc(rows, caprows * sizeof *rows);
                lens = xrealloc(lens, caprows * sizeof *lens);
            }
            rows[nrows] = p;
            lens[nrows++] = l2;
        }
        p = e ? e + 1 : NULL;
    }
    if (nrows < 2) {
        free(rows);
        free(lens);
        sbuf_free(&u);
        return -1;
    }
    char *last[K__N] = { 0 }, *any[K__N] = { 0 };
    int nl = s_csv_split(rows[nrows - 1], lens[nrows - 1], last, K__N);
    size_t pick = 1 + rng_below(&self->rng, (uint32_t)(nrows - 1));
    int na = s_csv_split(rows[pick], lens[pick], any, K__N);
    int rc = -1;
    if (nl == K__N && na == K__N) {
        /* the book of 2025 and its next number, registered in June 2025 */
        int32_t june = date_make(2025, 6, 1), end = date_make(2025, 6, 30), dk = june;
        int32_t last_dk;
        if (!simdate_parse_dmy(last[K_NGAYDK], strlen(last[K_NGAYDK]), &last_dk) && last_dk > dk)
            dk = last_dk;
        dk += (int32_t)rng_below(&self->rng, 3);
        if (dk > end)
            dk = end;
        bool same_book = strlen(last[K_QUYEN]) == 7 && !strcmp(last[K_QUYEN] + 3, "2025");
        long so = same_book ? atol(last[K_SO]) + 1 : 1;
        char quyen[16];
        snprintf(quyen, sizeof quyen, "%s", same_book ? last[K_QUYEN] : "01/2025");
        int sex = (int)rng_below(&self->rng, 2);
        int32_t dob = dk - (int32_t)rng_range(&self->rng, 5, 50);
        int y, m, d;
        date_split(dob, &y, &m, &d);
        char surname[64];
        chg_first_word(any[K_CHA][0] ? any[K_CHA] : any[K_ME], surname, sizeof surname);
        sbuf_t nm, row, enc, tmp;
        sbuf_init(&nm);
        sbuf_init(&row);
        sbuf_init(&enc);
        sbuf_init(&tmp);
        chg_name(self->env.rd, &self->rng, sex, surname, &nm);
        char pid[13];
        chg_personal_id(&self->rng, "049", sex, y, pid);
        char sos[24], dks[16], dobs[16];
        snprintf(sos, sizeof sos, "%ld", so);
        int dy, dm, dd;
        date_split(dk, &dy, &dm, &dd);
        snprintf(dks, sizeof dks, "%02d/%02d/%04d", dd, dm, dy);
        snprintf(dobs, sizeof dobs, "%02d/%02d/%04d", d, m, y);
        const char *fields[K__N] = { sos, quyen, dks, nm.p, sex ? "Nữ" : "Nam", dobs,
                                     any[K_NOISINH], pid, any[K_CHA], any[K_NSCHA], any[K_ME],
                                     any[K_NSME], any[K_CUTRU] };
        for (int i = 0; i < K__N; i++) {
            if (i)
                sbuf_putc(&row, ',');
            sbuf_csv(&row, fields[i]);
        }
        sbuf_puts(&row, "\r\n");
        if (f->cs == VN_UTF8)
            sbuf_put(&enc, row.p, row.len);
        else
            vn_encode((vn_charset_t)f->cs, row.p, &enc);
        size_t need = f->len + enc.len;
        bool crlf = f->len >= 1 && f->current[f->len - 1] == '\n';
        f->current = xrealloc(f->current, need + 3);
        if (!crlf) {                     /* the last line had no newline */
            memcpy(f->current + f->len, "\r\n", 2);
            f->len += 2;
        }
        memcpy(f->current + f->len, enc.p, enc.len);
        f->len += enc.len;
        const char *us = strchr(f->name, '_');
        sbuf_printf(json, "%s{\"id\":\"%.*s/KS/%s/%ld\",\"kind\":\"late_birth\",\"file\":\"%s\"}",
                    first ? "" : ",", us ? (int)(us - f->name) : 5, f->name, quyen, so, f->name);
        sbuf_free(&nm);
        sbuf_free(&row);
        sbuf_free(&enc);
        sbuf_free(&tmp);
        rc = 0;
    }
    s_free_fields(last, nl);
    s_free_fields(any, na);
    free(rows);
    free(lens);
    sbuf_free(&u);
    return rc;
}

static int qn_civil_change(void *vself, long n, sbuf_t *json)
{
    qn_civil_t *self = vself;
    bool *touched = xcalloc(self->nfiles ? self->nfiles : 1, sizeof *touched);
    long done = 0;
    sbuf_puts(json, "{\"changes\":[");
    for (long i = 0; i < n && self->nbirths; i++) {
        size_t fi = self->births[rng_below(&self->rng, (uint32_t)self->nbirths)];
        if (s_add_birth(self, &self->files[fi], json, done == 0) == 0) {
            touched[fi] = true;
            done++;
        }
    }
    sbuf_puts(json, "],\"files\":[");
    bool first = true;
    for (size_t i = 0; i < self->nfiles; i++) {
        if (!touched[i])
            continue;
        char *copy = xmalloc(self->files[i].len);
        memcpy(copy, self->files[i].current, self->files[i].len);
        dropper_add_bytes(self->drop, self->files[i].name, copy, self->files[i].len);
        sbuf_printf(json, "%s\"%s\"", first ? "" : ",", self->files[i].name);
        first = false;
    }
    free(touched);
    self->changes += (uint64_t)done;
    sbuf_printf(json, "],\"applied\":%ld}", done);
    return 0;
}

static void *qn_civil_create(const sim_env_t *env, char *err, size_t errsz)
{
    char src[4096], encp[4200];
    snprintf(src, sizeof src, "%s/qn-civil", env->conf->data);
    snprintf(encp, sizeof encp, "%s/_encodings.csv", src);
    char *enc;
    if (sim_read_file(encp, &enc, NULL) != 0) {
        snprintf(err, errsz, "%s: cannot read (run lgsp-gen first)", encp);
        return NULL;
    }
    DIR *d = opendir(src);
    if (!d) {
        free(enc);
        snprintf(err, errsz, "%s: cannot open", src);
        return NULL;
    }
    qn_civil_t *self = xcalloc(1, sizeof *self);
    self->env = *env;
    rng_seed(&self->rng, env->conf->seed, 0x51000 + (uint64_t)env->index);
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || de->d_name[0] == '.' || strcmp(de->d_name + l - 4, ".csv"))
            continue;
        if (self->nfiles == cap) {
            cap = cap ? cap * 2 : 256;
            self->files = xrealloc(self->files, cap * sizeof *self->files);
        }
        s_file_t *f = &self->files[self->nfiles++];
        memset(f, 0, sizeof *f);
        f->name = xstrdup(de->d_name);
        size_t pl = strlen(src) + l + 2;
        f->path = xmalloc(pl);
        snprintf(f->path, pl, "%s/%s", src, de->d_name);
        char ma_xa[16];
        snprintf(ma_xa, sizeof ma_xa, "%.*s", (int)strcspn(de->d_name, "_"), de->d_name);
        f->cs = de->d_name[0] == '_' ? VN_UTF8 : s_encoding_of(enc, ma_xa);
    }
    closedir(d);
    free(enc);
    if (self->nfiles)
        qsort(self->files, self->nfiles, sizeof *self->files, s_cmp);
    self->births = xcalloc(self->nfiles ? self->nfiles : 1, sizeof *self->births);
    for (size_t i = 0; i < self->nfiles; i++)
        if (strstr(self->files[i].name, "_khai-sinh.csv") && self->files[i].cs >= 0)
            self->births[self->nbirths++] = i;
    self->drop = dropper_new("qn-civil", env->opts->dir, env->opts->interval_ms, env->fault, err,
                             errsz);
    if (!self->drop) {
        void *p = self;
        qn_civil_ops.destroy(&p);
        return NULL;
    }
    for (size_t i = 0; i < self->nfiles; i++)
        dropper_add_file(self->drop, self->files[i].name, self->files[i].path);
    dropper_start(self->drop);
    return self;
}

static void qn_civil_where(void *vself, sbuf_t *out)
{
    qn_civil_t *self = vself;
    sbuf_printf(out, "%s (CSV exports in TCVN3/VNI-Windows/CP1258/UTF-8, %zu to drop, one every "
                     "%ld ms)", dropper_dir(self->drop), self->nfiles,
                self->env.opts->interval_ms);
}

static void qn_civil_status(void *vself, sbuf_t *json)
{
    qn_civil_t *self = vself;
    sbuf_puts(json, "{\"drop\":");
    dropper_status(self->drop, json);
    sbuf_printf(json, ",\"source_files\":%zu,\"changes\":{\"late_birth\":%llu}}", self->nfiles,
                (unsigned long long)self->changes);
}

static int qn_civil_pause(void *vself, bool paused)
{
    qn_civil_t *self = vself;
    dropper_pause(self->drop, paused);
    return 0;
}

static void qn_civil_destroy(void **self_p)
{
    qn_civil_t *self = *self_p;
    if (!self)
        return;
    dropper_destroy(&self->drop);
    for (size_t i = 0; i < self->nfiles; i++) {
        free(self->files[i].name);
        free(self->files[i].path);
        free(self->files[i].current);
    }
    free(self->files);
    free(self->births);
    free(self);
    *self_p = NULL;
}

const sim_ops_t qn_civil_ops = {
    .create = qn_civil_create,
    .where = qn_civil_where,
    .change = qn_civil_change,
    .status = qn_civil_status,
    .pause = qn_civil_pause,
    .destroy = qn_civil_destroy,
};
