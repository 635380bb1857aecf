/* test-csvread.c — the RFC 4180 reader (csvread.c): quoted fields, doubled
 * quotes, CRLF / LF / CR, line ends and delimiters inside quotes, empty
 * fields and lines, line numbers, raw row bytes, errors and how reading
 * goes on after them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csvread.h"

/* Reads all rows into "f1|f2\n" lines, "!line:error" for errors, with the
 * row's first line as "@N " prefix. */
static char *s_dump(const char *data, size_t len, char delim)
{
    csvread_t *r = csvread_new(data, len, delim, '"');
    assert_non_null(r);
    size_t cap = 4096;
    char *out = calloc(1, cap);
    size_t n = 0;
    int rc;
    while ((rc = csvread_next(r)) != CSVREAD_END) {
        n += (size_t)snprintf(out + n, cap - n, "@%zu ", csvread_line(r));
        if (rc == CSVREAD_ERROR) {
            n += (size_t)snprintf(out + n, cap - n, "!%s\n", csvread_error(r));
            continue;
        }
        for (size_t i = 0; i < csvread_nfields(r); i++) {
            size_t fl;
            const char *f = csvread_field(r, i, &fl);
            n += (size_t)snprintf(out + n, cap - n, "%s%.*s", i ? "|" : "", (int)fl, f);
        }
        n += (size_t)snprintf(out + n, cap - n, "%s\n", csvread_terminated(r) ? "" : "$");
    }
    csvread_destroy(&r);
    assert_null(r);
    return out;
}

static void s_check(const char *in, const char *want)
{
    char *got = s_dump(in, strlen(in), ',');
    if (strcmp(got, want) != 0)
        fail_msg("input %s\n got:\n%s want:\n%s", in, got, want);
    free(got);
}

static void test_plain(void **state)
{
    (void)state;
    s_check("a,b,c\r\n1,2,3\r\n", "@1 a|b|c\n@2 1|2|3\n");
    s_check("a,b\n1,2\n", "@1 a|b\n@2 1|2\n");
    s_check("a,b\r1,2\r", "@1 a|b\n@2 1|2\n");               /* old Mac line ends */
    s_check("a,b\r\n1,2", "@1 a|b\n@2 1|2$\n");               /* no final line end */
    s_check("", "");
    s_check(",\r\n", "@1 |\n");
    s_check(",,\n", "@1 ||\n");
    s_check("\r\n\r\na\r\n", "@1 \n@2 \n@3 a\n");             /* empty lines are rows of one empty field */
}

static void test_quoted(void **state)
{
    (void)state;
    s_check("\"a,b\",c\r\n", "@1 a,b|c\n");
    s_check("\"say \"\"hi\"\"\",x\n", "@1 say \"hi\"|x\n");
    s_check("\"\",\"\"\n", "@1 |\n");
    s_check("\"\"\"\"\n", "@1 \"\n");
    /* line ends inside quotes; the next row's line number moves on */
    s_check("\"l1\r\nl2\",x\r\nnext,y\r\n", "@1 l1\r\nl2|x\n@3 next|y\n");
    s_check("\"a\nb\nc\"\nd\n", "@1 a\nb\nc\n@4 d\n");
    s_check("\"a\rb\"\nd\n", "@1 a\rb\n@3 d\n");
    /* a quote in the middle of an unquoted field is kept */
    s_check("ab\"c,d\n", "@1 ab\"c|d\n");
    /* quoted last field without a line end */
    s_check("a,\"b\"", "@1 a|b$\n");
}

static void test_errors(void **state)
{
    (void)state;
    /* text after a closing quote: the row is an error, the next one reads */
    s_check("\"a\"x,b\r\nc,d\r\n", "@1 !a quoted field is followed by text before the delimiter\n@2 c|d\n");
    /* an unterminated quote: the error is reported at its row, and reading
     * goes on at the next line */
    s_check("a,\"b\r\nc,d\r\n", "@1 !quoted field opened on line 1 is never closed\n@2 c|d\n");
    s_check("\"", "@1 !quoted field opened on line 1 is never closed\n");
    /* the error after an embedded line end reports the row's first line and
     * continues after the line where it happened */
    s_check("\"a\nb\"x\nc\n", "@1 !a quoted field is followed by text before the delimiter\n@3 c\n");
}

static void test_raw_and_delim(void **state)
{
    (void)state;
    const char *in = "h1;h2\r\n\"x;y\";z\r\nlast;row";
    csvread_t *r = csvread_new(in, strlen(in), ';', '"');
    size_t rl;
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    assert_int_equal(csvread_nfields(r), 2);
    const char *raw = csvread_raw(r, &rl);
    assert_int_equal(rl, 5);
    assert_memory_equal(raw, "h1;h2", 5);
    assert_int_equal(csvread_offset(r), 0);
    assert_int_equal(csvread_lines(r), 1);
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    raw = csvread_raw(r, &rl);
    assert_int_equal(rl, 7);
    assert_memory_equal(raw, "\"x;y\";z", 7);
    assert_string_equal(csvread_field(r, 0, NULL), "x;y");
    assert_string_equal(csvread_field(r, 1, NULL), "z");
    assert_null(csvread_field(r, 2, NULL));
    assert_true(csvread_terminated(r));
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    assert_int_equal(csvread_line(r), 3);
    assert_false(csvread_terminated(r));
    raw = csvread_raw(r, &rl);
    assert_int_equal(rl, 8);
    assert_int_equal(csvread_next(r), CSVREAD_END);
    assert_int_equal(csvread_next(r), CSVREAD_END);
    csvread_destroy(&r);
    csvread_destroy(&r);      /* NULL is fine */

    char *tsv = s_dump("a\tb\n", 4, '\t');
    assert_string_equal(tsv, "@1 a|b\n");
    free(tsv);
}

/* Legacy single-byte text and NUL bytes are carried as bytes. */
static void test_bytes(void **state)
{
    (void)state;
    const char in[] = "Nguy\xD4n,\"H\xAD\xACng\"\r\nx\0y,z\r\n";
    csvread_t *r = csvread_new(in, sizeof in - 1, ',', '"');
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    assert_string_equal(csvread_field(r, 0, NULL), "Nguy\xD4n");
    assert_string_equal(csvread_field(r, 1, NULL), "H\xAD\xACng");
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    size_t fl;
    const char *f = csvread_field(r, 0, &fl);
    assert_int_equal(fl, 3);
    assert_memory_equal(f, "x\0y", 3);
    csvread_destroy(&r);
}

/* Many fields and a long field grow the buffers. */
static void test_large(void **state)
{
    (void)state;
    size_t n = 5000;
    char *in = malloc(n * 2 + 70000);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        in[k++] = 'x';
        in[k++] = i + 1 < n ? ',' : '\n';
    }
    in[k++] = '"';
    for (size_t i = 0; i < 65536; i++)
        in[k++] = i % 100 == 99 ? '\n' : 'y';
    in[k++] = '"';
    in[k++] = '\n';
    csvread_t *r = csvread_new(in, k, ',', '"');
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    assert_int_equal(csvread_nfields(r), n);
    assert_int_equal(csvread_next(r), CSVREAD_ROW);
    size_t fl;
    csvread_field(r, 0, &fl);
    assert_int_equal(fl, 65536);
    assert_int_equal(csvread_line(r), 2);
    assert_int_equal(csvread_lines(r), 65536 / 100 + 1);
    assert_int_equal(csvread_next(r), CSVREAD_END);
    csvread_destroy(&r);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_raw_and_delim),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
