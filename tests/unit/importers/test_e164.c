/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for importers/e164.c: numbers as spreadsheets and CRMs write
 * them, NANP rules, extensions, international numbers and allowed
 * countries. Table-driven: input, expected E.164 (or "" when rejected),
 * extension, reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "importers/importers.h"

struct e164_case {
    const char *in;
    const char *e164;
    const char *ext;
    enum importer_reason reason;
};

/* clang-format off */
static const struct e164_case cases[] = {
    /* What the issue lists. */
    { "(415) 555-2671",       "+14155552671", "",   IMPORTER_REASON_NONE },
    { "415.555.2671 x12",     "+14155552671", "12", IMPORTER_REASON_NONE },
    { "+1 415 555 2671",      "+14155552671", "",   IMPORTER_REASON_NONE },
    { "1-415-555-2671",       "+14155552671", "",   IMPORTER_REASON_NONE },
    { "4155552671.0",         "+14155552671", "",   IMPORTER_REASON_NONE },
    { "4155552671.00",        "+14155552671", "",   IMPORTER_REASON_NONE },
    { "4.15555E+09",          "",             "",   IMPORTER_REASON_SCIENTIFIC },
    { "4,15555E+09",          "",             "",   IMPORTER_REASON_SCIENTIFIC },
    { "4155552671e0",         "",             "",   IMPORTER_REASON_SCIENTIFIC },
    { "",                     "",             "",   IMPORTER_REASON_MISSING_NUMBER },
    { "   ",                  "",             "",   IMPORTER_REASON_MISSING_NUMBER },
    /* More spellings. */
    { "4155552671",           "+14155552671", "",   IMPORTER_REASON_NONE },
    { "\xC2\xA0" "415 555 2671\xC2\xA0", "+14155552671", "", IMPORTER_REASON_NONE },
    { "+14155552671",         "+14155552671", "",   IMPORTER_REASON_NONE },
    { "415/555-2671",         "+14155552671", "",   IMPORTER_REASON_NONE },
    { "415-555-2671 ext. 7",  "+14155552671", "7",  IMPORTER_REASON_NONE },
    { "415-555-2671 extension 99", "+14155552671", "99", IMPORTER_REASON_NONE },
    { "415-555-2671#123",     "+14155552671", "123", IMPORTER_REASON_NONE },
    { "+1-415-555-2671;ext=55", "+14155552671", "55", IMPORTER_REASON_NONE },
    { "415 555 2671 X 3",     "+14155552671", "3",  IMPORTER_REASON_NONE },
    { "415-555-2671 x",       "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415-555-2671 x12345678901234567", "",  "",   IMPORTER_REASON_INVALID_NUMBER },
    /* NANP rules. */
    { "115-555-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "015-555-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "411-555-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "911-555-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415-155-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415-055-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415-211-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415-555-0100",         "",             "",   IMPORTER_REASON_FICTIONAL },
    { "415-555-0199",         "",             "",   IMPORTER_REASON_FICTIONAL },
    { "415-555-0200",         "+14155550200", "",   IMPORTER_REASON_NONE },
    { "800-555-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "299-555-2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415555267",            "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "41555526711",          "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "24155552671",          "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "+1 415 555 267",       "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "1-800-FLOWERS",        "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "415*555*2671",         "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "+",                    "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    /* Canada and other NANP countries. */
    { "(416) 555-1234",       "+14165551234", "",   IMPORTER_REASON_NONE },
    { "876 555 1234",         "",             "",   IMPORTER_REASON_COUNTRY },  /* JM not allowed */
    /* International: + , 011, 00. */
    { "+44 20 7946 0958",     "",             "",   IMPORTER_REASON_COUNTRY },
    { "+0 20 7946 0958",      "",             "",   IMPORTER_REASON_INVALID_NUMBER },
    { "+44 20",               "",             "",   IMPORTER_REASON_INVALID_NUMBER },
};
/* clang-format on */

static const char *const us_ca[] = { "US", "CA" };

static void test_e164_table(void **state)
{
    (void)state;
    struct importer_e164_opts o = { .allowed_countries = us_ca, .nallowed = 2 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct e164_case *c = &cases[i];
        struct importer_number n;
        char detail[256];
        enum importer_reason r =
            importer_e164_normalize(c->in, strlen(c->in), &o, &n, detail, sizeof(detail));
        if (r != c->reason || strcmp(n.e164, c->e164) != 0 || strcmp(n.ext, c->ext) != 0) {
            fprintf(stderr, "case %zu \"%s\": got %s \"%s\" ext \"%s\" (%s)\n", i, c->in,
                    importer_reason_name(r), n.e164, n.ext, detail);
            fail();
        }
        /* A reject always explains itself; an accept has no message. */
        assert_int_equal(detail[0] != 0, r != IMPORTER_REASON_NONE);
    }
}

static void test_e164_international_allowed(void **state)
{
    (void)state;
    static const char *const gb[] = { "GB" };
    struct importer_e164_opts o = { .allowed_countries = gb, .nallowed = 1 };
    struct importer_number n;
    const char *ins[] = { "+44 20 7946 0958", "0044 20 7946 0958", "011 44 20 7946 0958" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(importer_e164_normalize(ins[i], strlen(ins[i]), &o, &n, NULL, 0),
                         IMPORTER_REASON_NONE);
        assert_string_equal(n.e164, "+442079460958");
        assert_string_equal(n.country, "GB");
    }
    /* The list's countries apply to NANP numbers too. */
    assert_int_equal(importer_e164_normalize("4155552671", 10, &o, &n, NULL, 0),
                     IMPORTER_REASON_COUNTRY);
    /* No restriction: any known country. */
    assert_int_equal(importer_e164_normalize("+33 1 42 68 53 00", 17, NULL, &n, NULL, 0),
                     IMPORTER_REASON_NONE);
    assert_string_equal(n.e164, "+33142685300");
    assert_string_equal(n.country, "FR");
}

static void test_e164_fictional_allowed(void **state)
{
    (void)state;
    struct importer_e164_opts o = { .allow_fictional = true };
    struct importer_number n;
    assert_int_equal(importer_e164_normalize("415-555-0123", 12, &o, &n, NULL, 0),
                     IMPORTER_REASON_NONE);
    assert_string_equal(n.e164, "+14155550123");
}

static void test_e164_detail_names_the_problem(void **state)
{
    (void)state;
    struct importer_number n;
    char d[256];
    importer_e164_normalize("4.15555E+09", 11, NULL, &n, d, sizeof(d));
    assert_non_null(strstr(d, "scientific notation"));
    importer_e164_normalize("911-555-2671", 12, NULL, &n, d, sizeof(d));
    assert_non_null(strstr(d, "911"));
    /* The detail never repeats the whole number (it is personal data). */
    importer_e164_normalize("415-555-0123", 12, NULL, &n, d, sizeof(d));
    assert_null(strstr(d, "5550123"));
    assert_string_equal(importer_reason_name(IMPORTER_REASON_SCIENTIFIC), "scientific_notation");
    assert_string_equal(importer_reason_name((enum importer_reason)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e164_table),
        cmocka_unit_test(test_e164_international_allowed),
        cmocka_unit_test(test_e164_fictional_allowed),
        cmocka_unit_test(test_e164_detail_names_the_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
