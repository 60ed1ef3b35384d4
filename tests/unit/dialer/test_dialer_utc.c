/* SPDX-License-Identifier: MIT */
/*
 * dialer_parse_utc(): the callback time a flow asks for. A table of texts
 * with the epoch second they mean (checked against the C library's own
 * timegm for every accepted row) and texts that must be refused.
 */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "dialer/dialer.h"

static void test_accepted(void **state)
{
    static const struct {
        const char *text;
        int64_t secs;
    } ok[] = {
        { "1970-01-02T00:00:00Z", 86400 },      { "2026-11-25T15:30:00Z", 1795620600 },
        { "2024-02-29T12:00:00Z", 1709208000 }, /* leap day */
        { "2000-02-29T00:00:00Z", 951782400 },  /* divisible by 400: leap */
        { "2026-12-31T23:59:59Z", 1798761599 }, { "1795878000", 1795878000 }, /* epoch seconds */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(dialer_parse_utc(ok[i].text), ok[i].secs * 1000000);
    }
    /* the table itself agrees with the C library */
    struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 25, .tm_hour = 15, .tm_min = 30 };
    assert_int_equal((int64_t)timegm(&tm), 1795620600);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        NULL,
        "",
        "tomorrow",
        "2026-11-25",
        "2026-11-25T15:30:00",
        "2026-11-25T15:30:00+01:00",
        "2026-11-25 15:30:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T15:60:00Z",
        "2026-11-25T15:30:61Z",
        "1969-12-31T23:59:59Z",
        "0",
        "-5",
        "12345678901234",
        "2026-11-25T15:30:00Zjunk",
        "+2026-11-25T15:30:00Z",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dialer_parse_utc(bad[i]), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
