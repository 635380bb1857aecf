/* change.h — pieces of the data changes the simulators make while running:
 * a later updated_at, new people's names and personal IDs. Everything goes
 * through the system's own rng_t, so the same seed and the same sequence of
 * change commands give the same records. */
#ifndef LGSP_SIM_CHANGE_H
#define LGSP_SIM_CHANGE_H

#include <stdint.h>

#include "refdata.h"
#include "rng.h"
#include "util.h"

/* The next updated_at after *clock (1 s to 3 min later); updates *clock. */
int64_t chg_tick(int64_t *clock, rng_t *r);
/* A new name "Họ Chữ-đệm Tên" (NFC, title case) of sex (0 m, 1 f) with the
 * given surname (NULL: drawn). Appended to out. */
void    chg_name(const refdata_t *rd, rng_t *r, int sex, const char *surname, sbuf_t *out);
/* Only the middle and given names (appended, "Văn Minh"). */
void    chg_middle_given(const refdata_t *rd, rng_t *r, int sex, sbuf_t *out);
/* A 12-digit personal ID: province code ppp ("049"), century/sex digit,
 * the birth year's last two digits, 6 random digits. out has 13 bytes. */
void    chg_personal_id(rng_t *r, const char *ppp, int sex, int birth_year, char out[13]);
/* The PPP code of a province name ("Quảng Nam" -> "049"), or NULL. */
const char *chg_ppp_of(const refdata_t *rd, const char *province_name);
/* The first word of s (the surname) into out (size outsz). */
void    chg_first_word(const char *s, char *out, size_t outsz);

#endif
