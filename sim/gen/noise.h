/* noise.h — the defects each departmental view gets, at configurable rates,
 * and the record of every defect injected.
 *
 * A rate is a probability per opportunity: per person mention for the name,
 * date and id kinds, per record for the record-level kinds (duplicate,
 * stale_code, old_residence, out_of_order, dup_delivery), per person who
 * moved between the provinces for both_provinces. The opportunities and the
 * injections are counted per view and kind and written to
 * truth/noise_stats.tsv; every injection is one row of
 * truth/<view>.defects.tsv.
 *
 * Most kinds give plausible but wrong values. The "invalid" kinds (bad_date,
 * bad_id_province, bad_id_sex, bad_code, unknown_unit) give values that a
 * validator must reject: an impossible calendar date, a personal ID broken
 * by exactly one rule, a value outside the source's code table, a commune
 * that is in neither list of ../shared/data/admin. They apply only where
 * the source's storage can hold such a value (not to typed date columns). */
#ifndef LGSP_SIM_NOISE_H
#define LGSP_SIM_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "refdata.h"
#include "rng.h"
#include "util.h"

typedef enum {
    V_QN_POP, V_DN_POP, V_QN_LAND, V_DN_LAND, V_QN_CIVIL, V_DN_CIVIL, V__COUNT
} view_id_t;

typedef enum {
    NK_TYPO, NK_NO_DIACRITICS, NK_NFD, NK_SWAP_NAME, NK_CASE, NK_DAY_MONTH, NK_YEAR_ONLY,
    NK_MISSING_ID, NK_OLD_ID, NK_STALE_CODE, NK_OLD_RESIDENCE, NK_DUPLICATE, NK_BOTH_PROVINCES,
    NK_DUP_DELIVERY, NK_OUT_OF_ORDER,
    /* invalid values (a validator must reject them) */
    NK_BAD_DATE, NK_BAD_ID_PROVINCE, NK_BAD_ID_SEX, NK_BAD_CODE, NK_UNKNOWN_UNIT,
    NK_LEGACY_CASE, NK__COUNT
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
    /* for the invalid kinds: what the reference data does not hold */
    char       ppp_gap[1000][4];   /* PPP values 001..096 not in the table */
    int        n_ppp_gap;
    uint8_t   *unit_known;         /* by 5-digit code: in either commune list */
    int        unit_lo, unit_hi;   /* the range of the listed codes */
    const refdata_t *rd;
} nctx_t;

void nctx_open(nctx_t *n, view_id_t v, const noise_config_t *nc, uint64_t seed, const char *truth_dir,
               const refdata_t *rd);
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

/* Renders date into out, with year_only (if year_ok), bad_date and
 * day_month noise, in that order (one of them at most). bad_date keeps the
 * year and writes an impossible date in the same format: day and month
 * swapped where the day is above 12 (1987-25-03), the day after the end of
 * the month (31/04/1987, 32/01/1987), 29/02 of a common year, or a zero day
 * or month (00/05/1987, 15/00/1987). */
void nz_date(nctx_t *n, const char *rec, const char *field, int32_t date, date_fmt_t fmt,
             bool year_ok, sbuf_t *out);
void render_date(sbuf_t *out, int32_t date, date_fmt_t fmt);

/* ---- ids -------------------------------------------------------------- */

/* What the record shows beside the id, for bad_id_sex: the person's sex,
 * the birth year (or date). */
#define NZ_SEX_SHOWN  0x01u
#define NZ_YEAR_SHOWN 0x02u

/* pid / cmnd in (may be ""), out after missing_id / old_id noise and, when
 * the 12-digit personal ID is still shown, bad_id_province (PPP replaced by
 * a value of 001..096 that is not a birth-registration code) or else
 * bad_id_sex (G made inconsistent: the sex bit flipped when the record
 * shows the sex and, at random, otherwise the century flipped, 1900s <->
 * 2000s, which the birth year shows). */
void nz_ids(nctx_t *n, const char *rec, const char *field, const char *pid, const char *cmnd,
            unsigned shown, char pid_out[13], char cmnd_out[10]);

/* ---- code tables and units --------------------------------------------- */

/* A value of a code table (e.g. sex "Nam"/"Nữ"): bad_code replaces it by
 * one of bad[0..nbad), which are outside the table. Returns what to show. */
const char *nz_code(nctx_t *n, const char *rec, const char *field, const char *truev,
                    const char *const *bad, int nbad);
/* A commune code (version 2024 or 2025) into out[8]: unknown_unit replaces
 * it by a code in neither list (one of the last three digits changed,
 * within the range of the listed codes). The defect reads
 * true "20194@2025", noisy "20184". Returns true when injected. */
bool nz_unit_code(nctx_t *n, const char *rec, const char *field, const char *code, int version,
                  char out[8]);
/* A commune name that does not exist, made from name ("Xã Tam Xuân 1" ->
 * "Xã Tam Xuân 1 Tây"; unit_type "Xã" is its prefix): no commune of either
 * list has it, compared without the unit type, case or diacritics. */
void nz_fake_unit_name(nctx_t *n, const char *name, const char *unit_type, char *out, size_t outsz);

void nz_write_stats(nctx_t *const ctx[V__COUNT], const char *truth_dir);

#endif
