/* noise.h — the defects each departmental view gets, at configurable rates,
 * and the record of every defect injected.
 *
 * A rate is a probability per opportunity: per person mention for the name,
 * date and id kinds, per record for the record-level kinds (duplicate,
 * stale_code, old_residence, out_of_order, dup_delivery), per person who
 * moved between the provinces for both_provinces. The opportunities and the
 * injections are counted per view and kind and written to
 * truth/noise_stats.tsv; every injection is one row of
 * truth/<view>.defects.tsv. */
#ifndef LGSP_SIM_NOISE_H
#define LGSP_SIM_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "util.h"

typedef enum {
    V_QN_POP, V_DN_POP, V_QN_LAND, V_DN_LAND, V_QN_CIVIL, V_DN_CIVIL, V__COUNT
} view_id_t;

typedef enum {
    NK_TYPO, NK_NO_DIACRITICS, NK_NFD, NK_SWAP_NAME, NK_CASE, NK_DAY_MONTH, NK_YEAR_ONLY,
    NK_MISSING_ID, NK_OLD_ID, NK_STALE_CODE, NK_OLD_RESIDENCE, NK_DUPLICATE, NK_BOTH_PROVINCES,
    NK_DUP_DELIVERY, NK_OUT_OF_ORDER, NK_LEGACY_CASE, NK__COUNT
} noise_kind_t;

extern const char *const view_name[V__COUNT];
extern const char *const noise_kind_name[NK__COUNT];

/* rate < 0: the kind does not apply to that view. */
typedef struct {
    double rate[V__COUNT][NK__COUNT];
} noise_config_t;

void noise_config_defaults(noise_config_t *nc);
/* "kind=value", "view.kind=value", "*=value" or "view.*=value". Returns 0,
 * or -1 with a message in err. Setting a kind that does not apply to a
 * named view is an error; with no view it sets the views it applies to. */
int  noise_config_set(noise_config_t *nc, const char *assignment, char *err, size_t errsz);
/* A file of such assignments, one a line, '#' comments. */
int  noise_config_file(noise_config_t *nc, const char *path, char *err, size_t errsz);

/* Per-view noise state while the view is written. */
typedef struct {
    view_id_t  view;
    rng_t      r;
    double     rate[NK__COUNT];
    uint64_t   opp[NK__COUNT];
    uint64_t   inj[NK__COUNT];
    ofile_t    defects;
    ofile_t    truth;
    sbuf_t     line;
    uint64_t   records;     /* records written (for the summary) */
} nctx_t;

void nctx_open(nctx_t *n, view_id_t v, const noise_config_t *nc, uint64_t seed, const char *truth_dir);
void nctx_close(nctx_t *n);
/* One opportunity of kind k: draws, counts, returns true when a defect is to
 * be injected (the caller then writes exactly one nz_defect row). */
bool nz_roll(nctx_t *n, noise_kind_t k);
void nz_defect(nctx_t *n, const char *rec, const char *field, noise_kind_t k,
               const char *truev, const char *noisyv);
/* A defect that is not drawn (legacy_case): counted and written. */
void nz_forced(nctx_t *n, const char *rec, const char *field, noise_kind_t k,
               const char *truev, const char *noisyv);
/* One row of truth/<view>.truth.tsv. */
void nz_truth(nctx_t *n, const char *rec, const char *role, const char *entity);

/* ---- names ------------------------------------------------------------ */

typedef struct { char part[3][96]; } nameparts_t;   /* surname, middle, given */

typedef void (*name_render_fn)(const nameparts_t *np, sbuf_t *out);

/* Applies the name kinds (swap_name, typo, case, no_diacritics, nfd) to the
 * parts, recording each defect with the field rendered by render. */
void nz_name(nctx_t *n, const char *rec, const char *field, nameparts_t *np, name_render_fn render);

/* ---- dates ------------------------------------------------------------ */

typedef enum { DF_ISO, DF_DMY } date_fmt_t;

/* Renders date into out, with day_month and (if year_ok) year_only noise. */
void nz_date(nctx_t *n, const char *rec, const char *field, int32_t date, date_fmt_t fmt,
             bool year_ok, sbuf_t *out);
void render_date(sbuf_t *out, int32_t date, date_fmt_t fmt);

/* ---- ids -------------------------------------------------------------- */

/* pid / cmnd in (may be ""), out after missing_id / old_id noise. */
void nz_ids(nctx_t *n, const char *rec, const char *field, const char *pid, const char *cmnd,
            char pid_out[13], char cmnd_out[10]);

void nz_write_stats(nctx_t *const ctx[V__COUNT], const char *truth_dir);

#endif
