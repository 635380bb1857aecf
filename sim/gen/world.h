/* world.h — the one true population of the merged city (the ground truth):
 * persons with families, households with their residences (pre-2025 commune
 * and the 2025 commune it became), civil events and land parcels.
 *
 * Held in compact arrays (about 60 bytes a person) so the views can be
 * written in any order without re-generating; everything else is streamed.
 * Indices are 0-based; links (father, mother, spouse, owners) are index + 1
 * so that 0 means "none". Entity ids printed in the truth files are
 * P<index+1>, H.., E.., L.., C.. (8 digits). */
#ifndef LGSP_SIM_WORLD_H
#define LGSP_SIM_WORLD_H

#include <stdint.h>

#include "refdata.h"
#include "rng.h"

enum { SEX_M = 0, SEX_F = 1 };

#define PF_PID      0x01   /* has a 12-digit personal ID (alive on 2016-01-01 or later) */
#define PF_FROM_OUT 0x02   /* moved in from outside the city */

typedef struct {
    uint32_t father, mother, spouse;   /* index + 1, 0 = unknown / none */
    int32_t  birth, death;             /* day numbers; death 0 = alive on the reference date */
    int32_t  married;                  /* 0 = never married */
    int32_t  moved_on;                 /* day of the last move, 0 = never moved */
    uint32_t hh;                       /* household index */
    uint32_t cmnd;                     /* 9-digit CMND, 0 = none */
    uint32_t pid_rand;                 /* the 6 random digits of the personal ID */
    uint16_t surname, middle, given;   /* indices into the refdata name tables */
    uint16_t res, prev_res;            /* commune index (2024 list); prev NO_COMMUNE = outside / none */
    uint16_t birth_commune;            /* where the birth was registered, NO_COMMUNE = outside the city */
    uint8_t  res_new, prev_res_new;    /* index into units25 */
    uint8_t  ppp;                      /* index into refdata ppp (birth registration province) */
    uint8_t  sex;
    uint8_t  flags;
} person_t;

typedef struct {
    uint32_t head, spouse;             /* index + 1 */
    int32_t  formed;
    uint16_t res;
    uint8_t  res_new;
    uint8_t  to;                       /* tổ (urban) / thôn (rural) number */
    uint16_t house;                    /* house number (urban), 0 = none */
} household_t;

enum { EV_BIRTH = 0, EV_MARRIAGE = 1, EV_DEATH = 2 };

typedef struct {
    uint32_t p1, p2, p3;     /* birth: child, father, mother; marriage: husband, wife; death: deceased (index + 1) */
    int32_t  date;           /* the event itself */
    int32_t  reg;            /* registration date */
    uint16_t commune;        /* pre-2025 commune of the registering office */
    uint16_t office;         /* numbering office: commune index, or 512 + units25 index after the merger */
    uint16_t number;         /* số */
    uint8_t  book;           /* quyển số (1..) in the registration year */
    uint8_t  type;
    uint8_t  commune_new;    /* 2025 commune */
    uint8_t  pad[3];
} event_t;

enum { LU_ODT, LU_ONT, LU_LUC, LU_BHK, LU_CLN, LU_NTS, LU_RSX, LU__COUNT, LU_NONE = 0xFF };
extern const char *const land_use_code[LU__COUNT];
extern const char *const land_use_name[LU__COUNT];

typedef struct {
    uint32_t owner1, owner2;   /* index + 1; owner2 0 = single owner */
    uint32_t hh;
    int32_t  issued;           /* certificate issue date, 0 = no certificate */
    int32_t  updated;          /* last change in the land register */
    uint32_t area_dm2;         /* area in tenths of a square metre */
    uint32_t seri_no;          /* 6 digits */
    uint32_t reg_no;           /* register number (số vào sổ) */
    uint16_t commune;
    uint16_t sheet, parcel_no;
    uint8_t  use, use2;        /* land-use codes; use2 LU_NONE unless mixed (ONT+CLN) */
    uint8_t  seri_pair;        /* letters: 'A' + pair / 26, 'A' + pair % 26 */
    uint8_t  res_new;
} parcel_t;

typedef struct {
    uint64_t seed;
    double   scale;
    int      cmnd_born_before;   /* CMND only for people born before this year */
    double   cmnd_share;         /* share of those who have one */
    int      event_from_year;    /* civil registers start */
} world_config_t;

typedef struct {
    const refdata_t *rd;
    world_config_t   cfg;
    int32_t          ref_date;     /* the snapshot date: 2025-09-30 */
    int32_t          merger_date;  /* 2025-07-01 */
    int32_t          event_from;

    person_t    *p;   uint32_t np, capp;
    household_t *hh;  uint32_t nhh, caph;
    event_t     *ev;  uint32_t nev;
    parcel_t    *pc;  uint32_t npc, cappc;
    uint32_t     living[2];        /* by province of residence: 0 = 48, 1 = 49 */
} world_t;

void world_build(world_t *w, const refdata_t *rd, const world_config_t *cfg);
void world_free(world_t *w);

/* Commune (2024 index) where a person lived on a date: prev_res before the
 * last move (may be NO_COMMUNE: outside the city), else res. */
uint16_t world_res_at(const world_t *w, const person_t *x, int32_t date, uint8_t *new_out);

/* Renders the 12-digit personal ID into out[13]; "" when the person has none. */
void world_pid(const world_t *w, const person_t *x, char out[13]);
/* Renders the 9-digit CMND into out[10]; "" when none. */
void world_cmnd(const person_t *x, char out[10]);
/* "Nguyễn Văn An" (middle may be empty). */
void world_full_name(const world_t *w, const person_t *x, char *out, size_t n);
/* Seri "AI 821557" into out[10]. */
void world_seri(const parcel_t *pc, char out[16]);
/* Register number (format by era) into out. */
void world_reg_no(const parcel_t *pc, char *out, size_t n);
/* Address detail of a household ("Số 12, Tổ 5" / "Thôn 3"). */
void world_hh_address(const world_t *w, const household_t *h, char *out, size_t n);
/* Same style for a person's previous residence (derived deterministically). */
void world_prev_address(const world_t *w, uint32_t pidx, char *out, size_t n);

#endif
