/* refdata.h — the real reference data lgsp-gen builds on, loaded from the
 * shared data folder (../shared/data): pre-2025 communes of provinces 48 and
 * 49, the 94 communes of 2025, the old->new mapping (incl. the Hòa Liên split),
 * the CCCD birth-registration province codes and the name frequency tables.
 * No admin code is invented: every code the generator writes comes from here. */
#ifndef LGSP_SIM_REFDATA_H
#define LGSP_SIM_REFDATA_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"

#define NO_COMMUNE 0xFFFFu

typedef struct {
    char    code[8];           /* 5-digit GSO code, version 2024 list */
    char    name[72];          /* "Phường Hòa Hiệp Bắc" */
    char    ascii[72];         /* "Hoa Hiep Bac" */
    char    unit_type[16];     /* Phường / Xã / Thị trấn */
    char    district_code[4];
    char    district_name[72];
    char    province_code[4];  /* "48" or "49" */
    char    province_name[48];
    uint8_t new_idx[2];        /* index into units2025; two for Hòa Liên */
    uint8_t n_new;
    bool    urban;             /* phường or thị trấn */
    uint8_t terrain;           /* 0 plain/coast, 1 midland, 2 mountain */
    bool    doubtful;          /* flagged in the data (20674): no residents */
    double  weight;            /* relative population weight */
} commune_t;

typedef struct {
    char code[8];              /* 5-digit GSO code, version 2025 list */
    char name[72];             /* "Phường Hải Vân" */
    char unit_type[16];
} unit25_t;

typedef struct {
    char   code[4];            /* "049" */
    char   name[48];
    double weight;             /* birth elsewhere: how likely this province */
} ppp_t;

typedef struct {
    char   *s;                 /* NFC, title case */
    uint8_t gender;            /* 0 m, 1 f (middle/given only) */
} name_t;

typedef struct {
    commune_t *communes;
    uint32_t   n_communes;
    unit25_t  *units25;
    uint32_t   n_units25;
    ppp_t     *ppp;
    uint32_t   n_ppp;
    uint32_t   ppp_dn, ppp_qn; /* indices of 048 and 049 */

    name_t    *surnames;  uint32_t n_surnames;
    name_t    *middles;   uint32_t n_middles;
    name_t    *givens;    uint32_t n_givens;

    alias_t    surname_alias;
    alias_t    middle_alias[2];      /* draws an index into middle_by_g[g] */
    uint32_t  *middle_by_g[2];
    alias_t    given_alias[2];
    uint32_t  *given_by_g[2];
    alias_t    ppp_other_alias;      /* birth outside the city */
    alias_t    commune_alias[2];     /* 0 = province 48, 1 = province 49 */
    uint32_t  *commune_by_p[2];
    uint32_t   n_commune_by_p[2];
    uint32_t   hoalien;              /* commune index of 20296, or NO_COMMUNE */
} refdata_t;

/* Loads everything under dir; exits with a message naming file:line on
 * malformed input. Weights that are modelling assumptions (commune density,
 * the Central-Vietnam surname boost, other-province births) are documented
 * in docs/generator.md. */
void refdata_load(refdata_t *rd, const char *dir, rng_t *r);
void refdata_free(refdata_t *rd);

/* 0 for province 48 (Đà Nẵng), 1 for 49 (Quảng Nam). */
static inline int commune_prov(const commune_t *c) { return c->province_code[1] == '9'; }

#endif
