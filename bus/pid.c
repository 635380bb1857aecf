/* pid.c — personal ID (12 digits) and CMND (9 digits) checks. See pid.h.
 *
 * The province table is small (63 codes of at most 3 digits), so it is an
 * array indexed by the code's numeric value. */
#include "pid.h"
/* The file-drop adapter's CSV reader, compiled into the bus library too
 * (bus/meson.build), as recode.c uses it. */
#include "../adapters/file-drop/csvread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pid_codes {
    char *name[1000];          /* province name by PPP value; NULL: not a code */
};

static bool s_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* The whole file in memory (csvread works on a buffer). */
static char *s_slurp(const char *path, size_t *lenp, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "%s: cannot open", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                snprintf(err, errsz, "%s: out of memory", path);
                return NULL;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errsz, "%s: read error", path);
        return NULL;
    }
    *lenp = len;
    return buf;
}

pid_codes_t *pid_codes_load(const char *admin_dir, char *err, size_t errsz)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cccd_birth_registration_codes.csv", admin_dir);
    size_t len;
    char *buf = s_slurp(path, &len, err, errsz);
    if (!buf)
        return NULL;
    pid_codes_t *self = calloc(1, sizeof *self);
    csvread_t *rd = self ? csvread_new(buf, len, ',', '"') : NULL;
    if (!rd) {
        snprintf(err, errsz, "%s: out of memory", path);
        free(buf);
        free(self);
        return NULL;
    }
    int ccode = -1, cname = -1;
    size_t rows = 0;
    bool ok = true;
    for (;;) {
        int r = csvread_next(rd);
        if (r == CSVREAD_END)
            break;
        if (r == CSVREAD_ERROR) {
            snprintf(err, errsz, "%s:%zu: %s", path, csvread_line(rd), csvread_error(rd));
            ok = false;
            break;
        }
        size_t rawlen, nf = csvread_nfields(rd);
        csvread_raw(rd, &rawlen);
        if (nf == 1 && rawlen == 0)
            continue;                              /* an empty line */
        if (ccode < 0) {
            for (size_t i = 0; i < nf; i++) {
                const char *h = csvread_field(rd, i, NULL);
                if (strcmp(h, "cccd_code") == 0)
                    ccode = (int) i;
                else if (strcmp(h, "province_name_tt07_2016") == 0)
                    cname = (int) i;
            }
            if (ccode < 0 || cname < 0) {
                snprintf(err, errsz, "%s: no column %s", path,
                         ccode < 0 ? "cccd_code" : "province_name_tt07_2016");
                ok = false;
                break;
            }
            continue;
        }
        size_t clen;
        const char *code = (size_t) ccode < nf ? csvread_field(rd, (size_t) ccode, &clen) : NULL;
        const char *name = (size_t) cname < nf ? csvread_field(rd, (size_t) cname, NULL) : NULL;
        if (!code || !name || clen != 3 || !s_digits(code, 3) || !*name) {
            snprintf(err, errsz, "%s:%zu: expected a 3-digit cccd_code and a name", path,
                     csvread_line(rd));
            ok = false;
            break;
        }
        int v = atoi(code);
        if (self->name[v]) {
            snprintf(err, errsz, "%s:%zu: code %s listed twice", path, csvread_line(rd), code);
            ok = false;
            break;
        }
        if (!(self->name[v] = strdup(name))) {
            snprintf(err, errsz, "%s: out of memory", path);
            ok = false;
            break;
        }
        rows++;
    }
    csvread_destroy(&rd);
    free(buf);
    if (ok && rows == 0) {
        snprintf(err, errsz, "%s: no codes", path);
        ok = false;
    }
    if (!ok)
        pid_codes_destroy(&self);
    return self;
}

void pid_codes_destroy(pid_codes_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < 1000; i++)
        free((*self_p)->name[i]);
    free(*self_p);
    *self_p = NULL;
}

const char *pid_province_name(const pid_codes_t *self, const char ppp[3])
{
    if (!self || !ppp || !s_digits(ppp, 3))
        return NULL;
    return self->name[(ppp[0] - '0') * 100 + (ppp[1] - '0') * 10 + (ppp[2] - '0')];
}

static const char *s_sex_word(int sex)
{
    return sex == 1 ? "male" : "female";
}

/* why is optional: a NULL buffer or size 0 writes nothing. */
#define WHY(...) do { if (why && whysz) snprintf(why, whysz, __VA_ARGS__); } while (0)

pid_status_t pid_check(const pid_codes_t *self, const char *id, size_t len, int sex, int birth_year,
                       int today_year, char *why, size_t whysz)
{
    WHY("%s", "");
    if (!id || len != 12 || !s_digits(id, 12)) {
        size_t nd = 0;
        for (size_t i = 0; id && i < len; i++)
            nd += id[i] >= '0' && id[i] <= '9';
        WHY("not 12 digits: %zu characters, %zu of them ASCII digits", id ? len : 0, nd);
        return PID_FORMAT;
    }
    if (!pid_province_name(self, id)) {
        WHY("digits 1-3 are %.3s, not a province code of the birth-registration table", id);
        return PID_PROVINCE;
    }
    if (sex != 1 && sex != 2)
        sex = 0;
    if (birth_year <= 0)
        birth_year = 0;
    int g = id[3] - '0';
    int century = 1900 + (g / 2) * 100;            /* G 0/1 1900s, 2/3 2000s, ... */
    int g_sex = g % 2 ? 2 : 1;                     /* even male, odd female */
    int yy = (id[4] - '0') * 10 + (id[5] - '0');
    char rec[64];                                  /* what the record says */
    if (sex && birth_year)
        snprintf(rec, sizeof rec, "%s, born %d", s_sex_word(sex), birth_year);
    else if (sex)
        snprintf(rec, sizeof rec, "%s", s_sex_word(sex));
    else
        snprintf(rec, sizeof rec, "born %d", birth_year);
    if (sex && g_sex != sex) {
        WHY("digit 4 is %d (%s, born %d-%d) but the record says %s", g, s_sex_word(g_sex), century,
            century + 99, rec);
        return PID_CENTURY_SEX;
    }
    /* A birth year outside 1900-2399 has no G at all: a century mismatch. */
    if (birth_year && (birth_year < century || birth_year > century + 99)) {
        WHY("digit 4 is %d (%s, born %d-%d) but the record says %s", g, s_sex_word(g_sex), century,
            century + 99, rec);
        return PID_CENTURY_SEX;
    }
    if (birth_year && birth_year % 100 != yy) {
        WHY("digits 5-6 are %02d (born %d) but the record says born %d", yy, century + yy,
            birth_year);
        return PID_BIRTH_YEAR;
    }
    /* Here the record's birth year, if known, is the one G and YY give. */
    int year = century + yy;
    if (today_year > 0 && year > today_year) {
        if (birth_year)
            WHY("the record says born %d, after %d", year, today_year);
        else
            WHY("digits 4-6 (%d, %02d) give a birth in %d, after %d", g, yy, year, today_year);
        return PID_FUTURE;
    }
    return PID_OK;
}

const char *pid_status_name(pid_status_t s)
{
    switch (s) {
    case PID_OK: return "ok";
    case PID_FORMAT: return "format";
    case PID_PROVINCE: return "province";
    case PID_CENTURY_SEX: return "century_sex";
    case PID_BIRTH_YEAR: return "birth_year";
    case PID_FUTURE: return "future";
    }
    return "unknown";
}

bool pid_cmnd_ok(const char *s, size_t len)
{
    return s && len == 9 && s_digits(s, 9);
}
