/* views.h — the six departmental views of the truth, each written to its own
 * folder of DIR with its noise, its truth file and its defects file. The
 * formats are documented in docs/generator.md. */
#ifndef LGSP_SIM_VIEWS_H
#define LGSP_SIM_VIEWS_H

#include <stdint.h>

#include "noise.h"
#include "world.h"

typedef struct {
    const world_t        *w;
    const refdata_t      *rd;
    const noise_config_t *nc;
    const char           *out_dir;
    const char           *truth_dir;
    uint64_t              seed;
    nctx_t               *ctx[V__COUNT];
    uint64_t              records[V__COUNT];   /* records of each view */
    uint64_t              files[V__COUNT];
} views_t;

void view_qn_population(views_t *v);
void view_dn_population(views_t *v);
void view_qn_land(views_t *v);
void view_dn_land(views_t *v);
void view_qn_civil(views_t *v);
void view_dn_civil(views_t *v);

/* ---- shared helpers (views.c) ------------------------------------------ */

/* "P00000042" for person index 41, etc. */
void ent_id(char out[16], char prefix, uint32_t index);
void person_parts(const world_t *w, const person_t *x, nameparts_t *np);
/* Renderers of name parts for nz_name and for the output. */
void render_full(const nameparts_t *np, sbuf_t *out);        /* "Nguyễn Văn An" */
void render_full_upper(const nameparts_t *np, sbuf_t *out);  /* "NGUYỄN VĂN AN" */
void render_split(const nameparts_t *np, sbuf_t *out);       /* "Nguyễn|Văn|An" */
/* Full name of a person, clean ("" for index+1 == 0). */
void clean_name(const world_t *w, uint32_t idx1, bool upper, char *out, size_t n);
/* A source-local opaque number for an entity (keyed by seed and view), so
 * that local ids reveal nothing about the truth. */
uint64_t local_hash(uint64_t seed, int view, uint64_t x);
/* Relation to the head of the household ("Chủ hộ", "Vợ", "Con", ...). */
const char *relation_to_head(const world_t *w, uint32_t pidx);
/* "Thôn 3, Xã Tam Xuân 1, Huyện Núi Thành, Tỉnh Quảng Nam" */
void full_address(const refdata_t *rd, const char *detail, uint16_t commune, char *out, size_t n);
/* "20194@2024" */
void code_ver(char *out, size_t n, const char *code, int version);
/* Truncated-random timestamp in [from, to] (days), office hours. */
int64_t rand_ts(rng_t *r, int32_t from, int32_t to);

#endif
