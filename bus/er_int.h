/* er_int.h — the engine's own structures, shared by its files:
 *   erspec.c    the spec file -> er_spec_t
 *   erdata.c    records and their normalised values -> er_data_t
 *   ermodel.c   comparison levels, the Fellegi-Sunter model, EM, scores,
 *               explanations
 *   erbatch.c   blocking, candidate pairs, clustering, golden records
 * Not for callers outside the engine: they use er.h. */
#ifndef LGSP_ER_INT_H
#define LGSP_ER_INT_H

#include <math.h>

#include "er.h"
#include "ercmp.h"

/* ---- spec ---- */

typedef enum {
    ER_T_NAME = 1,   /* a person's name: NFC, matching key, code points of the key */
    ER_T_DATE,       /* YYYY[-MM[-DD]] with its precision */
    ER_T_ID,         /* an identifier: letters and digits, upper case */
    ER_T_CODE,       /* a code compared as is (sex, commune code) */
    ER_T_TEXT,       /* free text compared by its matching key */
} er_ftype_t;

typedef struct {
    char      *name;
    er_ftype_t type;
    char      *from;          /* JSON pointer into a JSON record, or NULL */
    char     **from_alt;      /* further pointers, tried in order when `from` gives no value
                               * (NULL-terminated, or NULL): a civil event's subject is
                               * /child, /husband or /deceased */
    char      *column;        /* CSV column, or NULL */
    char      *date_format;   /* CSV dates: "dd/mm/yyyy", "yyyy-mm-dd", "yyyy"... */
    int        line;
} er_field_t;

typedef enum {
    ER_C_NAME = 1,   /* exact, exact without marks, parts reordered, JW high, JW low, else */
    ER_C_DATE,       /* ercmp_date_level_t without MISSING */
    ER_C_ID,         /* ercmp_id_level_t without MISSING */
    ER_C_EXACT,      /* equal, different */
} er_ckind_t;

#define ER_MAX_LEVELS 8
#define ER_MAX_COMPS  15            /* 4 bits per comparison in a 64-bit pattern */
#define ER_MISSING    0xF           /* the level of a comparison with a side absent */

typedef struct {
    char      *name;
    er_ckind_t kind;
    int        field;
    int        nlevels;
    const char *const *level_names;
    double     jw_high, jw_low;     /* ER_C_NAME thresholds */
    bool       tf;                  /* term-frequency adjustment on the exact levels */
    bool       cannot_link;         /* the "different" level forbids a merge */
    double     m0[ER_MAX_LEVELS];   /* starting m */
    int        line;
} er_comp_t;

typedef enum {
    ER_K_VALUE = 1,  /* the normalised value */
    ER_K_KEY,        /* names/text: without marks, case-folded */
    ER_K_YEAR,       /* dates: the year */
    ER_K_YM,         /* dates: year and month */
    ER_K_PHONETIC,   /* names: each part's Vietnamese phonetic key */
    ER_K_FIRST,      /* names: the first part (họ) */
    ER_K_LAST,       /* names: the last part (tên) */
    ER_K_SORTED,     /* names: the parts sorted (any order) */
} er_kpart_kind_t;

typedef struct {
    int field;
    er_kpart_kind_t kind;
} er_kpart_t;

#define ER_MAX_KPARTS 4
typedef struct {
    er_kpart_t parts[ER_MAX_KPARTS];
    int        nparts;
    char      *text;               /* as written, for reports */
    int        line;
} er_rule_t;

typedef enum { ER_S_COMPLETENESS = 1, ER_S_TRUST, ER_S_RECENCY } er_survive_t;

struct er_spec {
    char   *path;
    char   *kind;
    int     version;
    /* where a record's id, source and last change are read */
    char   *id_from, *id_column;
    char   *source_from, *source_column, *source_const;
    char   *updated_from, *updated_column;
    er_field_t *fields;  size_t nfields;
    er_comp_t  *comps;   size_t ncomps;
    er_rule_t  *rules;   size_t nrules;
    size_t  max_block;
    double  prior;                  /* <= 0: estimated by EM */
    double  match, review;          /* thresholds on the match probability */
    size_t  u_pairs;
    int     em_max_iter;
    double  em_tolerance;
    size_t  max_cluster;
    er_survive_t survive[3]; int nsurvive;
    char  **trust; size_t ntrust;   /* sources, most trusted first */
};

/* ---- records ---- */

typedef struct {
    uint64_t h;          /* hash of the normalised value; 0 = absent */
    uint64_t hk;         /* names and text: hash of the matching key; else = h */
    uint32_t text;       /* offset of the value (UTF-8, NUL-terminated) in the text pool */
    uint32_t cp;         /* names: offset of the matching key (UTF-8) in the text pool */
    uint16_t ncp;        /* its length in bytes */
    ercmp_date_t date;   /* dates */
} er_val_t;

struct er_data {
    const er_spec_t *spec;
    size_t    n, cap;
    er_val_t *vals;                  /* n * nfields */
    uint32_t *id, *source, *updated; /* offsets in the text pool (updated: 0 = none) */
    char     *text;   size_t text_len, text_cap;
    /* id -> index, built on first er_data_find */
    uint32_t *index;  size_t index_cap;
    /* term frequencies of name keys per comparison with tf: built by the model */
};

static inline const er_val_t *er_val(const er_data_t *d, size_t i, size_t f)
{
    return &d->vals[i * d->spec->nfields + f];
}

uint64_t er_hash(const void *p, size_t len);
uint64_t er_mix(uint64_t h);

/* ---- model ---- */

struct er_model {
    const er_spec_t *spec;
    double lambda;                               /* the prior: two random records match */
    double m[ER_MAX_COMPS][ER_MAX_LEVELS];
    double u[ER_MAX_COMPS][ER_MAX_LEVELS];       /* among candidate non-matches (EM) */
    double u_rand[ER_MAX_COMPS][ER_MAX_LEVELS];  /* among random pairs: the base of tf */
    double w[ER_MAX_COMPS][ER_MAX_LEVELS];       /* log2(m / u) */
    double prior_w;                              /* log2(lambda / (1 - lambda)) */
    double match_w, review_w;                    /* thresholds as weights */
    int    em_iterations;
    bool   trained;
    /* term frequencies (share of records) per key hash, for tf comparisons:
     * an open-addressing table built from the data being scored */
    struct er_tf { uint64_t *keys; uint32_t *counts; size_t cap; size_t total; } tf[ER_MAX_COMPS];
};

/* The level of comparison c for records a, b of data. */
int er_level(const er_spec_t *spec, const er_comp_t *c, const er_data_t *d, size_t a, size_t b);
uint64_t er_pattern(const er_spec_t *spec, const er_data_t *d, size_t a, size_t b);
static inline int er_pattern_level(uint64_t p, size_t c) { return (int) ((p >> (4 * c)) & 0xF); }
/* Total weight of a pair from its pattern (tf adjustments need the records). */
double er_weight(const er_model_t *m, const er_data_t *d, size_t a, size_t b, uint64_t pattern);
void er_model_finish(er_model_t *m);       /* w, prior_w, thresholds from m, u, lambda */
/* Trains: u from random pairs of d, then EM over the candidate patterns. */
/* rkeys: rule r's key of record i at [r * n + i] as blocking computed
 * them, or NULL (computed again). */
int er_model_train(er_model_t *m, const er_data_t *d, const uint64_t *rkeys, const uint64_t *pairs,
                   const uint64_t *patterns, size_t npairs, size_t u_pairs, int threads, char *err, size_t errlen);
/* The key of blocking rule r for record i (0: a part is absent). */
uint64_t er_rule_key(const er_data_t *d, size_t i, size_t r);

static inline double er_prob(double w) { return 1.0 / (1.0 + exp2(-w)); }

#endif
