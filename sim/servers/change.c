/* change.c — see change.h. */
#include "change.h"

#include <stdio.h>
#include <string.h>

int64_t chg_tick(int64_t *clock, rng_t *r)
{
    *clock += 1 + (int64_t)rng_below(r, 180);
    return *clock;
}

void chg_middle_given(const refdata_t *rd, rng_t *r, int sex, sbuf_t *out)
{
    int g = sex ? 1 : 0;
    const char *mid = rd->n_middles
        ? rd->middles[rd->middle_by_g[g][alias_draw(&rd->middle_alias[g], r)]].s : "";
    const char *giv = rd->n_givens
        ? rd->givens[rd->given_by_g[g][alias_draw(&rd->given_alias[g], r)]].s : "An";
    if (*mid) {
        sbuf_puts(out, mid);
        sbuf_putc(out, ' ');
    }
    sbuf_puts(out, giv);
}

void chg_name(const refdata_t *rd, rng_t *r, int sex, const char *surname, sbuf_t *out)
{
    if (!surname || !*surname)
        surname = rd->n_surnames ? rd->surnames[alias_draw(&rd->surname_alias, r)].s : "Nguyễn";
    sbuf_puts(out, surname);
    sbuf_putc(out, ' ');
    chg_middle_given(rd, r, sex, out);
}

void chg_personal_id(rng_t *r, const char *ppp, int sex, int birth_year, char out[13])
{
    int century = birth_year >= 2000 ? (birth_year - 2000) / 100 + 1 : 0;   /* 1900s: 0 */
    int g = century * 2 + (sex ? 1 : 0);
    unsigned yy = (unsigned)(birth_year % 100), rnd = rng_below(r, 1000000);
    memcpy(out, ppp, 3);
    out[3] = (char)('0' + g % 10);
    out[4] = (char)('0' + yy / 10);
    out[5] = (char)('0' + yy % 10);
    for (int i = 11; i >= 6; i--) {
        out[i] = (char)('0' + rnd % 10);
        rnd /= 10;
    }
    out[12] = 0;
}

const char *chg_ppp_of(const refdata_t *rd, const char *province_name)
{
    for (uint32_t i = 0; i < rd->n_ppp; i++) {
        const char *n = rd->ppp[i].name;
        size_t pl = strlen(province_name);
        /* "Thành phố Đà Nẵng" / "Tỉnh Quảng Nam" match "Đà Nẵng" / "Quảng Nam" */
        size_t nl = strlen(n);
        if (nl >= pl && strcmp(n + nl - pl, province_name) == 0)
            return rd->ppp[i].code;
    }
    return NULL;
}

void chg_first_word(const char *s, char *out, size_t outsz)
{
    size_t n = strcspn(s, " ");
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, s, n);
    out[n] = 0;
}
