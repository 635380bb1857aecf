/* recode.h — 2025 address recoding (Đà Nẵng + Quảng Nam -> Đà Nẵng).
 *
 * Loads ../shared/data/admin (mapping_2025.csv, units_2025.csv,
 * units_before_2025.csv) and answers: which 2025 commune does an old unit
 * (province, district, commune as of the GSO list of 01/03/2025) belong
 * to? By code, or by name (with or without diacritics, any case, with or
 * without the prefixes "P.", "Phường", "X.", "Xã", "TT.", "Thị trấn").
 * Every code and name answered comes from the CSVs; nothing is derived.
 *
 * Codes are reused across versions (new 20194 Hải Vân = old 20194 Hòa
 * Hiệp Bắc), so a result names the version of the original code as well.
 * All strings in a result point into the recode_t and stay valid until
 * recode_destroy. */
#ifndef LGSP_RECODE_H
#define LGSP_RECODE_H

#include <stddef.h>

/* Version labels of the two code lists. */
#define RECODE_OLD_VERSION "gso-2025-03-01"
#define RECODE_NEW_VERSION "2025-07-01"

#define RECODE_MAX_CANDIDATES 8

typedef struct recode recode_t;

typedef enum {
    RECODE_FOUND = 0,      /* exactly one 2025 commune */
    RECODE_AMBIGUOUS,      /* several (a split commune, or a name that fits several units) */
    RECODE_NOT_FOUND       /* no such old unit */
} recode_status_t;

typedef struct {
    const char *code;      /* 2025 commune code, 5 digits */
    const char *name;      /* its full name, e.g. "Phường Hải Vân" */
} recode_unit_t;

typedef struct {
    recode_status_t status;
    /* The old unit that matched (for FOUND and for a split commune);
     * NULL when not found or when several old units matched. */
    const char *old_province;
    const char *old_district;
    const char *old_commune;   /* "" for a district without communes (Hoàng Sa) */
    const char *old_name;
    /* How the row was checked against NQ 1659 (SOURCE.md): "exact",
     * "spelling_variant", "unchanged_unit", or "NOT_FOUND" for 20674 Xã
     * Quế Phước, mapped by name only and doubtful. */
    const char *old_check;
    const char *old_version;   /* RECODE_OLD_VERSION */
    const char *new_version;   /* RECODE_NEW_VERSION */
    size_t n;                  /* number of candidates */
    recode_unit_t candidates[RECODE_MAX_CANDIDATES];
} recode_result_t;

/* Loads the CSVs from dir (the admin directory). NULL on error, with a
 * message in errbuf. */
recode_t *recode_new(const char *dir, char *errbuf, size_t errlen);
void recode_destroy(recode_t **self_p);

/* Number of rows of the mapping table (old unit, new unit pairs). */
size_t recode_size(recode_t *self);

/* By code. province and district may be NULL (not checked); commune NULL
 * or "" means a district without communes. Returns the status. */
recode_status_t recode_by_code(recode_t *self, const char *province, const char *district,
                               const char *commune, recode_result_t *result);

/* By name of the old commune (or of a district without communes),
 * optionally restricted to an old district and/or province code (NULL:
 * any). A prefix, when given, must name the unit's type (Phường Phước Ninh
 * and Xã Phước Ninh are different units; "Phước Ninh" alone fits both).
 * Names are compared by matching key (vntext_key), so "tam thanh" fits Xã
 * Tam Thành, Xã Tam Thạnh and Xã Tam Thanh: AMBIGUOUS, with the old_*
 * fields NULL and the 2025 communes of all of them. A query written with
 * diacritics keeps only the units spelt that way. Invalid UTF-8 is not
 * found. */
recode_status_t recode_by_name(recode_t *self, const char *name, const char *province,
                               const char *district, recode_result_t *result);

/* An old district's code by its name ("Thành phố Tam Kỳ", "Tam Ky",
 * "Huyện Hòa Vang"; compared by matching key without the type prefix),
 * optionally within a province code; NULL when none or several fit. */
const char *recode_district_by_name(recode_t *self, const char *name, const char *province);

/* A commune of the 2025 list by its code, or NULL. */
const recode_unit_t *recode_new_unit(recode_t *self, const char *code);
/* A commune of the 2025 list by its name (prefix optional, compared by
 * matching key); NULL when none or more than one has that name. */
const recode_unit_t *recode_new_by_name(recode_t *self, const char *name);

#endif
