/* pid.h — checks of the 12-digit personal identification number (số định
 * danh cá nhân, the number on the CCCD / thẻ căn cước) and of the old 9-digit
 * CMND, as far as they can be checked without the national register.
 *
 * Layout PPP G YY RRRRRR (../shared/data/FACTS.md §2, TT 07/2016/TT-BCA
 * Điều 7): PPP the province where the birth was registered (the table is
 * ../shared/data/admin/cccd_birth_registration_codes.csv), G century and
 * sex (1900-1999: male 0, female 1; 2000-2099: 2/3; 2100-2199: 4/5;
 * 2200-2299: 6/7; 2300-2399: 8/9), YY the last two digits of the birth
 * year, RRRRRR random. There is no check digit, so a validator can check
 * only the digit count, a known PPP, G and YY against the record's sex and
 * birth year, and that the birth is not in the future.
 *
 * The "why" texts name the rule and the digits involved, never the whole
 * number (it is personal data). */
#ifndef LGSP_PID_H
#define LGSP_PID_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pid_codes pid_codes_t;

/* Reads admin_dir/cccd_birth_registration_codes.csv (columns cccd_code and
 * province_name_tt07_2016). NULL on error, with a message in err. */
pid_codes_t *pid_codes_load(const char *admin_dir, char *err, size_t errsz);
void pid_codes_destroy(pid_codes_t **self_p);

/* The province name of a 3-digit PPP ("048" -> "Đà Nẵng"); NULL if ppp is
 * not a known code (or not 3 ASCII digits). */
const char *pid_province_name(const pid_codes_t *self, const char ppp[3]);

typedef enum {
    PID_OK = 0,
    PID_FORMAT,        /* not exactly 12 ASCII digits */
    PID_PROVINCE,      /* PPP not in the birth-registration table */
    PID_CENTURY_SEX,   /* G disagrees with the record's sex, or its century with the birth year */
    PID_BIRTH_YEAR,    /* YY disagrees with the birth year (the century agrees) */
    PID_FUTURE         /* the birth year (the record's, or the one G YY give) is after today_year */
} pid_status_t;

/* Checks id[0..len), the text as given (exactly 12 ASCII digits; no
 * spaces are removed). sex: 0 unknown, 1 male, 2 female (anything else is
 * unknown). birth_year: 0 (or less) unknown. today_year: for the future
 * check (0 or less: no future check); the caller passes it so that results
 * do not depend on the clock. With an unknown sex or birth year the
 * corresponding check is skipped. The first failing rule is returned, in
 * the order of the enum; why (if not NULL) receives a sentence naming the
 * rule and the values, e.g. "digit 4 is 1 (female, born 1900-1999) but the
 * record says male, born 1987" ("" for PID_OK). */
pid_status_t pid_check(const pid_codes_t *self, const char *id, size_t len, int sex, int birth_year,
                       int today_year, char *why, size_t whysz);

/* "ok", "format", "province", "century_sex", "birth_year", "future";
 * "unknown" for a value outside the enum. */
const char *pid_status_name(pid_status_t s);

/* The old CMND: exactly 9 ASCII digits. */
bool pid_cmnd_ok(const char *s, size_t len);

#endif
