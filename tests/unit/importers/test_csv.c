/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for importers/csv.c: the streaming reader in front of libcsv.
 * Every input is also fed one byte at a time, so that state kept between
 * pieces (a BOM, a split UTF-8 sequence, the held-back head before the
 * delimiter is known, a quoted newline) is exercised at every boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "importers/importers_int.h"

/* Rows joined as "a|b|c\n" (fields by '|', rows by newline) for comparison. */
struct collect {
    char out[4096];
    size_t len;
    int stop_at; /* return ERR_CANCELED at this row (0: never) */
};

static int collect_row(void *arg, uint64_t no, char **f, const size_t *lens, size_t n)
{
    struct collect *c = arg;
    if (c->stop_at && (int)no == c->stop_at)
        return ERR_CANCELED;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strlen(f[i]), lens[i]);
        c->len +=
            (size_t)snprintf(c->out + c->len, sizeof(c->out) - c->len, "%s%s", i ? "|" : "", f[i]);
    }
    c->len += (size_t)snprintf(c->out + c->len, sizeof(c->out) - c->len, "\n");
    return 0;
}

/* Reads data in pieces of piece bytes; returns the final code and the error text. */
static int read_csv(const char *data, size_t len, size_t piece, char delim, struct collect *c,
                    char *err, size_t errsz, char *delim_out)
{
    struct imp_csv r;
    assert_int_equal(imp_csv_init(&r, delim, 256, collect_row, c), 0);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += piece)
        rc = imp_csv_feed(&r, data + off, len - off < piece ? len - off : piece);
    if (rc == 0)
        rc = imp_csv_finish(&r);
    if (err)
        snprintf(err, errsz, "%s", r.err);
    if (delim_out)
        *delim_out = r.delim;
    imp_csv_fini(&r);
    return rc;
}

static void expect_rows(const char *data, size_t len, const char *rows, char delim)
{
    size_t pieces[] = { 1, 2, 3, 7, 4096 };
    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
        struct collect c = { .len = 0 };
        char err[256], d;
        int rc = read_csv(data, len, pieces[k], 0, &c, err, sizeof(err), &d);
        if (rc != 0 || strcmp(c.out, rows) != 0 || d != delim) {
            fprintf(stderr, "piece %zu: rc %d (%s) delim '%c'\ngot:\n%s\nwant:\n%s\n", pieces[k],
                    rc, err, d, c.out, rows);
            fail();
        }
    }
}

#define EXPECT(lit, rows, delim) expect_rows(lit, sizeof(lit) - 1, rows, delim)

static void test_csv_excel_semicolon_bom_crlf(void **state)
{
    (void)state;
    EXPECT("\xEF\xBB\xBF"
           "Name;Phone\r\n\"Doe; John\";\"(415) 555-2671\"\r\n\r\nAnn;415\r\n",
           "Name|Phone\nDoe; John|(415) 555-2671\nAnn|415\n", ';');
}

static void test_csv_quotes_newlines_ragged_blank(void **state)
{
    (void)state;
    EXPECT("a,b,c\n\"say \"\"hi\"\"\",\"two\nlines\",x\n\n,,\n1,2\n1,2,3,4\n",
           "a|b|c\nsay \"hi\"|two\nlines|x\n1|2\n1|2|3|4\n", ',');
}

static void test_csv_tab_delimited_keeps_empty_cells(void **state)
{
    (void)state;
    /* Google Sheets' TSV; tabs are delimiters, not spaces to trim. */
    EXPECT("phone\tname\tcity\n4155552671\t\tSF\n", "phone|name|city\n4155552671||SF\n", '\t');
}

static void test_csv_last_line_without_newline(void **state)
{
    (void)state;
    EXPECT("phone,name\n4155552671,Al", "phone|name\n4155552671|Al\n", ',');
    EXPECT("phone\n4155552671", "phone\n4155552671\n", ',');
}

static void test_csv_windows_1252_converted(void **state)
{
    (void)state;
    /* é (E9), € (80), “ ” (93 94), ü (FC) */
    EXPECT("n,p\nJos\xE9 \x80\x93x\x94,1\nM\xFCller,2\n",
           "n|p\nJos\xC3\xA9 \xE2\x82\xAC\xE2\x80\x9Cx\xE2\x80\x9D|1\nM\xC3\xBCller|2\n", ',');
}

static void test_csv_utf8_split_sequences(void **state)
{
    (void)state;
    EXPECT("n,p\n\xF0\x9F\x93\x9E caf\xC3\xA9,1\n", "n|p\n\xF0\x9F\x93\x9E caf\xC3\xA9|1\n", ',');
}

static void expect_error(const char *data, size_t len, const char *needle)
{
    size_t pieces[] = { 1, 4096 };
    for (size_t k = 0; k < 2; k++) {
        struct collect c = { .len = 0 };
        char err[256];
        int rc = read_csv(data, len, pieces[k], 0, &c, err, sizeof(err), NULL);
        if (rc != ERR_PARSE || !strstr(err, needle)) {
            fprintf(stderr, "piece %zu: rc %d err \"%s\", want \"%s\"\n", pieces[k], rc, err,
                    needle);
            fail();
        }
    }
}

#define EXPECT_ERR(lit, needle) expect_error(lit, sizeof(lit) - 1, needle)

static void test_csv_bad_input(void **state)
{
    (void)state;
    EXPECT_ERR("a,b\n1,\x00\n", "NUL byte at offset 6");
    EXPECT_ERR("\xFF\xFE"
               "a\x00",
               "UTF-16");
    /* UTF-8 first, then a Latin-1 byte: mixed encodings. */
    EXPECT_ERR("a,b\n\xC3\xA9,\xE9\n", "mixes encodings");
    /* 0x81 is not a character in Windows-1252. */
    EXPECT_ERR("a,b\n\x81,1\n", "encoding is unclear");
    EXPECT_ERR("a,b\n\"open,1\n", "ends inside a quoted field");
    /* A record over the limit (256 bytes in these tests). */
    char big[2048];
    memcpy(big, "a\n\"", 3);
    memset(big + 3, 'x', sizeof(big) - 3);
    struct collect c = { .len = 0 };
    char err[256];
    assert_int_equal(read_csv(big, sizeof(big), 100, 0, &c, err, sizeof(err), NULL), ERR_PARSE);
    assert_non_null(strstr(err, "longer than 256 bytes"));
}

static void test_csv_detect_delimiter(void **state)
{
    (void)state;
    assert_int_equal(imp_csv_detect_delim("a,b;c\n1,2;3\n", 12), ',');
    assert_int_equal(imp_csv_detect_delim("a;b;c\n1,5;2;3\n", 14), ';');
    assert_int_equal(imp_csv_detect_delim("a\tb\n1\t2\n", 8), '\t');
    /* Commas inside quotes do not count. */
    assert_int_equal(imp_csv_detect_delim("\"x,y,z\";b\n\"1,2,3\";4\n", 20), ';');
    /* A single column: comma by default. */
    assert_int_equal(imp_csv_detect_delim("phone\n1\n", 8), ',');
}

static void test_csv_given_delimiter_and_callback_stop(void **state)
{
    (void)state;
    struct collect c = { .len = 0 };
    static const char d[] = "a;b,c\n1;2,3\n";
    assert_int_equal(read_csv(d, sizeof(d) - 1, 4096, ',', &c, NULL, 0, NULL), 0);
    assert_string_equal(c.out, "a;b|c\n1;2|3\n");
    struct collect s = { .stop_at = 1 };
    assert_int_equal(read_csv(d, sizeof(d) - 1, 4096, 0, &s, NULL, 0, NULL), ERR_CANCELED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_excel_semicolon_bom_crlf),
        cmocka_unit_test(test_csv_quotes_newlines_ragged_blank),
        cmocka_unit_test(test_csv_tab_delimited_keeps_empty_cells),
        cmocka_unit_test(test_csv_last_line_without_newline),
        cmocka_unit_test(test_csv_windows_1252_converted),
        cmocka_unit_test(test_csv_utf8_split_sequences),
        cmocka_unit_test(test_csv_bad_input),
        cmocka_unit_test(test_csv_detect_delimiter),
        cmocka_unit_test(test_csv_given_delimiter_and_callback_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
