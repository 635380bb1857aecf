/* test-pid.c — personal ID checks against the shared admin data: every
 * code of cccd_birth_registration_codes.csv is known with its name, every
 * other 3-digit value (the gaps of the table) is not; each status of
 * pid_check with examples, the order of the rules, the skip rules for an
 * unknown sex or birth year, the why-texts; the CMND format; load errors.
 *
 * The expected codes are read by this file's own line splitting (the
 * table has no quoted fields), independently of the module's CSV reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pid.h"

#ifndef ADMIN_DATA_DIR
#error "ADMIN_DATA_DIR (../shared/data/admin) must be defined"
#endif

static const char *s_dir = ADMIN_DATA_DIR;

/* name of each code in the CSV, by numeric value; NULL: not a code */
static char *s_expect[1000];
static int s_nexpect;

static int s_setup(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cccd_birth_registration_codes.csv", s_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int ln = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (ln++ == 0 || !*line)
            continue;
        /* stt,cccd_code,province_name_tt07_2016,... */
        char *code = strchr(line, ',');
        if (!code)
            return -1;
        code++;
        char *name = strchr(code, ',');
        if (!name || name - code != 3)
            return -1;
        *name++ = '\0';
        char *end = strchr(name, ',');
        if (end)
            *end = '\0';
        int v = atoi(code);
        s_expect[v] = strdup(name);
        s_nexpect++;
    }
    free(line);
    fclose(f);
    pid_codes_t *codes = pid_codes_load(s_dir, path, sizeof path);
    if (!codes)
        return -1;
    *state = codes;
    return 0;
}

static int s_teardown(void **state)
{
    pid_codes_t *codes = *state;
    pid_codes_destroy(&codes);
    for (int i = 0; i < 1000; i++)
        free(s_expect[i]);
    return 0;
}

static pid_status_t s_check(void **state, const char *id, int sex, int year, int today,
                            char *why, size_t whysz)
{
    return pid_check(*state, id, strlen(id), sex, year, today, why, whysz);
}

/* ---- the province table ------------------------------------------------ */

static void test_every_code_known(void **state)
{
    assert_int_equal(s_nexpect, 63);
    int known = 0;
    for (int v = 0; v < 1000; v++) {
        char ppp[4];
        snprintf(ppp, sizeof ppp, "%03d", v);
        const char *name = pid_province_name(*state, ppp);
        if (s_expect[v]) {
            assert_non_null(name);
            assert_string_equal(name, s_expect[v]);
            known++;
        } else {
            /* the gaps of the table (003, 047, 050, 097, 000, 1xx, ...) */
            assert_null(name);
        }
    }
    assert_int_equal(known, 63);
    assert_string_equal(pid_province_name(*state, "048"), "Đà Nẵng");
    assert_string_equal(pid_province_name(*state, "049"), "Quảng Nam");
    assert_string_equal(pid_province_name(*state, "096"), "Cà Mau");
    const char *gaps[] = { "000", "003", "047", "050", "053", "097", "099", "148" };
    for (size_t i = 0; i < sizeof gaps / sizeof *gaps; i++)
        assert_null(pid_province_name(*state, gaps[i]));
    /* only the first three bytes count; non-digits are never codes */
    assert_non_null(pid_province_name(*state, "0489"));
    assert_null(pid_province_name(*state, "04a"));
    assert_null(pid_province_name(*state, " 48"));
    assert_null(pid_province_name(*state, NULL));
    assert_null(pid_province_name(NULL, "048"));
}

static void test_every_code_checks(void **state)
{
    /* a well-formed ID of every province passes; of every gap it fails */
    for (int v = 0; v < 1000; v++) {
        char id[13], why[200];
        snprintf(id, sizeof id, "%03d087001234", v);
        pid_status_t st = s_check(state, id, 1, 1987, 2025, why, sizeof why);
        assert_int_equal(st, s_expect[v] ? PID_OK : PID_PROVINCE);
        if (!s_expect[v]) {
            char ppp[8];
            snprintf(ppp, sizeof ppp, "%03d", v);
            assert_non_null(strstr(why, ppp));
        }
    }
}

/* ---- statuses ------------------------------------------------------------- */

static void test_ok(void **state)
{
    char why[200] = "x";
    /* FACTS.md §2: 025188001010 = Phú Thọ, female born in 1988 */
    assert_int_equal(s_check(state, "025188001010", 2, 1988, 2025, why, sizeof why), PID_OK);
    assert_string_equal(why, "");
    assert_int_equal(s_check(state, "048087001234", 1, 1987, 2025, NULL, 0), PID_OK);
    assert_int_equal(s_check(state, "049316123456", 2, 2016, 2025, why, sizeof why), PID_OK);
    assert_int_equal(s_check(state, "048225000001", 1, 2025, 2025, why, sizeof why), PID_OK);
    /* every G with its own century and sex */
    for (int g = 0; g <= 9; g++) {
        char id[13];
        snprintf(id, sizeof id, "048%d45000001", g);
        int century = 1900 + g / 2 * 100;
        assert_int_equal(s_check(state, id, g % 2 ? 2 : 1, century + 45, 2400, why, sizeof why),
                         PID_OK);
    }
}

static void test_format(void **state)
{
    char why[200];
    const char *bad[] = { "", "04808700123", "0480870012345", "04808700123a", "048 87001234",
                          "04808700123 ", "-48087001234", "048087001234\n" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(s_check(state, bad[i], 1, 1987, 2025, why, sizeof why), PID_FORMAT);
        assert_non_null(strstr(why, "not 12 digits"));
    }
    /* the length is what counts, not the NUL: an embedded NUL is not a digit */
    assert_int_equal(pid_check(*state, "04808700\0" "234", 12, 1, 1987, 2025, why, sizeof why),
                     PID_FORMAT);
    /* 12 digits followed by more bytes of the buffer: only len is read */
    assert_int_equal(pid_check(*state, "048087001234xyz", 12, 1, 1987, 2025, why, sizeof why),
                     PID_OK);
    /* full-width digits are not ASCII digits */
    const char *fw = "０４８087001234";
    assert_int_equal(s_check(state, fw, 1, 1987, 2025, why, sizeof why), PID_FORMAT);
    assert_int_equal(pid_check(*state, NULL, 0, 1, 1987, 2025, why, sizeof why), PID_FORMAT);
    /* a format error comes before anything else (an unknown province too) */
    assert_int_equal(s_check(state, "05018700123", 1, 1987, 2025, why, sizeof why), PID_FORMAT);
}

static void test_province(void **state)
{
    char why[200];
    assert_int_equal(s_check(state, "050087001234", 1, 1987, 2025, why, sizeof why), PID_PROVINCE);
    assert_string_equal(why, "digits 1-3 are 050, not a province code of the birth-registration table");
    /* before the century/sex check: this one is wrong in both */
    assert_int_equal(s_check(state, "003187001234", 1, 1987, 2025, why, sizeof why), PID_PROVINCE);
    assert_int_equal(s_check(state, "097087001234", 0, 0, 0, why, sizeof why), PID_PROVINCE);
}

static void test_century_sex(void **state)
{
    char why[200];
    /* the example of the brief: a female digit for a man */
    assert_int_equal(s_check(state, "048187001234", 1, 1987, 2025, why, sizeof why), PID_CENTURY_SEX);
    assert_string_equal(why, "digit 4 is 1 (female, born 1900-1999) but the record says male, born 1987");
    /* a male digit for a woman, birth year unknown */
    assert_int_equal(s_check(state, "048087001234", 2, 0, 2025, why, sizeof why), PID_CENTURY_SEX);
    assert_string_equal(why, "digit 4 is 0 (male, born 1900-1999) but the record says female");
    /* the right sex, the wrong century (2087 for someone born 1987) */
    assert_int_equal(s_check(state, "048287001234", 1, 1987, 2025, why, sizeof why), PID_CENTURY_SEX);
    assert_string_equal(why, "digit 4 is 2 (male, born 2000-2099) but the record says male, born 1987");
    /* sex unknown: only the century counts */
    assert_int_equal(s_check(state, "048316001234", 0, 1916, 2025, why, sizeof why), PID_CENTURY_SEX);
    assert_string_equal(why, "digit 4 is 3 (female, born 2000-2099) but the record says born 1916");
    /* no G encodes a year before 1900 */
    assert_int_equal(s_check(state, "048099001234", 1, 1899, 2025, why, sizeof why), PID_CENTURY_SEX);
    /* a century mismatch is reported before a YY mismatch */
    assert_int_equal(s_check(state, "048286001234", 1, 1987, 2025, why, sizeof why), PID_CENTURY_SEX);
}

static void test_birth_year(void **state)
{
    char why[200];
    assert_int_equal(s_check(state, "048086001234", 1, 1987, 2025, why, sizeof why), PID_BIRTH_YEAR);
    assert_string_equal(why, "digits 5-6 are 86 (born 1986) but the record says born 1987");
    assert_int_equal(s_check(state, "049305001234", 2, 2015, 2025, why, sizeof why), PID_BIRTH_YEAR);
    assert_string_equal(why, "digits 5-6 are 05 (born 2005) but the record says born 2015");
    /* sex unknown does not skip the year */
    assert_int_equal(s_check(state, "048086001234", 0, 1987, 2025, why, sizeof why), PID_BIRTH_YEAR);
}

static void test_future(void **state)
{
    char why[200];
    /* birth year unknown: the year G and YY give is in the future */
    assert_int_equal(s_check(state, "048230001234", 1, 0, 2025, why, sizeof why), PID_FUTURE);
    assert_string_equal(why, "digits 4-6 (2, 30) give a birth in 2030, after 2025");
    /* the record's own birth year (consistent with the ID) in the future */
    assert_int_equal(s_check(state, "048330001234", 2, 2030, 2025, why, sizeof why), PID_FUTURE);
    assert_string_equal(why, "the record says born 2030, after 2025");
    /* this year is not the future */
    assert_int_equal(s_check(state, "048225001234", 1, 2025, 2025, why, sizeof why), PID_OK);
    /* no today: no future check */
    assert_int_equal(s_check(state, "048230001234", 1, 0, 0, why, sizeof why), PID_OK);
    assert_int_equal(s_check(state, "048230001234", 1, 2030, -1, why, sizeof why), PID_OK);
    /* an inconsistency is reported before the future */
    assert_int_equal(s_check(state, "048230001234", 2, 2030, 2025, why, sizeof why), PID_CENTURY_SEX);
}

static void test_skip_rules(void **state)
{
    char why[200];
    /* sex unknown (0, or a value that is neither 1 nor 2): no sex check */
    assert_int_equal(s_check(state, "048187001234", 0, 1987, 2025, why, sizeof why), PID_OK);
    assert_int_equal(s_check(state, "048187001234", 7, 1987, 2025, why, sizeof why), PID_OK);
    assert_int_equal(s_check(state, "048187001234", -1, 1987, 2025, why, sizeof why), PID_OK);
    /* birth year unknown: no century and no YY check, only the future */
    assert_int_equal(s_check(state, "048087001234", 1, 0, 2025, why, sizeof why), PID_OK);
    assert_int_equal(s_check(state, "048287001234", 1, 0, 2100, why, sizeof why), PID_OK);
    assert_int_equal(s_check(state, "048287001234", 1, -5, 2025, why, sizeof why), PID_FUTURE);
    /* both unknown: format, province and future only */
    assert_int_equal(s_check(state, "048987001234", 0, 0, 2025, why, sizeof why), PID_FUTURE);
    assert_int_equal(s_check(state, "048987001234", 0, 0, 0, why, sizeof why), PID_OK);
    /* the why buffer is optional and truncated safely */
    assert_int_equal(s_check(state, "048187001234", 1, 1987, 2025, NULL, 10), PID_CENTURY_SEX);
    char tiny[8];
    assert_int_equal(s_check(state, "048187001234", 1, 1987, 2025, tiny, sizeof tiny), PID_CENTURY_SEX);
    assert_string_equal(tiny, "digit 4");
}

static void test_names_and_cmnd(void **state)
{
    (void) state;
    assert_string_equal(pid_status_name(PID_OK), "ok");
    assert_string_equal(pid_status_name(PID_FORMAT), "format");
    assert_string_equal(pid_status_name(PID_PROVINCE), "province");
    assert_string_equal(pid_status_name(PID_CENTURY_SEX), "century_sex");
    assert_string_equal(pid_status_name(PID_BIRTH_YEAR), "birth_year");
    assert_string_equal(pid_status_name(PID_FUTURE), "future");
    assert_string_equal(pid_status_name((pid_status_t) 42), "unknown");

    assert_true(pid_cmnd_ok("201234567", 9));
    assert_true(pid_cmnd_ok("2012345678", 9));   /* only len bytes are read */
    assert_false(pid_cmnd_ok("20123456", 8));
    assert_false(pid_cmnd_ok("2012345678", 10));
    assert_false(pid_cmnd_ok("20123456a", 9));
    assert_false(pid_cmnd_ok("20123 567", 9));
    assert_false(pid_cmnd_ok(NULL, 9));
    assert_false(pid_cmnd_ok("", 0));
}

/* ---- loading --------------------------------------------------------------- */

static void s_write(const char *dir, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/cccd_birth_registration_codes.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_errors(void **state)
{
    (void) state;
    char err[512] = "";
    assert_null(pid_codes_load("/nonexistent-lgsp-dir", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));

    char dir[] = "/tmp/lgsp-test-pid-XXXXXX";
    assert_non_null(mkdtemp(dir));
    s_write(dir, "stt,code,name\n1,001,Hà Nội\n");
    assert_null(pid_codes_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "no column cccd_code"));
    s_write(dir, "stt,cccd_code,province_name_tt07_2016\n1,001,Hà Nội\n2,001,Hà Nội\n");
    assert_null(pid_codes_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "listed twice"));
    s_write(dir, "stt,cccd_code,province_name_tt07_2016\n1,01,Hà Nội\n");
    assert_null(pid_codes_load(dir, err, sizeof err));
    assert_non_null(strstr(err, ":2: expected a 3-digit"));
    s_write(dir, "stt,cccd_code,province_name_tt07_2016\n");
    assert_null(pid_codes_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "no codes"));
    /* quoted fields and CRLF are fine (the module reads RFC 4180) */
    s_write(dir, "stt,cccd_code,province_name_tt07_2016\r\n1,\"048\",\"Đà Nẵng, thành phố\"\r\n\r\n");
    pid_codes_t *c = pid_codes_load(dir, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(pid_province_name(c, "048"), "Đà Nẵng, thành phố");
    assert_null(pid_province_name(c, "049"));
    pid_codes_destroy(&c);
    assert_null(c);
    pid_codes_destroy(&c);
    pid_codes_destroy(NULL);

    char path[512];
    snprintf(path, sizeof path, "%s/cccd_birth_registration_codes.csv", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_known),
        cmocka_unit_test(test_every_code_checks),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_province),
        cmocka_unit_test(test_century_sex),
        cmocka_unit_test(test_birth_year),
        cmocka_unit_test(test_future),
        cmocka_unit_test(test_skip_rules),
        cmocka_unit_test(test_names_and_cmnd),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
