/* SPDX-License-Identifier: MIT */
/* Unit tests for ari/time.c: ARI Date parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/err.h"

static int64_t parse(const char *s)
{
    int64_t us = -42;
    assert_int_equal(ari_time_parse(s, strlen(s), &us), 0);
    return us;
}

static void test_time_parse_asterisk_format(void **state)
{
    (void)state;
    /* 2026-01-01T12:00:00Z is 1767268800. */
    assert_true(parse("2026-01-01T12:00:00.123+0000") == INT64_C(1767268800123000));
    assert_true(parse("2026-01-01T12:00:00.123Z") == INT64_C(1767268800123000));
    assert_true(parse("2026-01-01T12:00:00+0000") == INT64_C(1767268800000000));
    /* Offsets are east of UTC: 13:00+0100 is 12:00Z. */
    assert_true(parse("2026-01-01T13:00:00.000+0100") == INT64_C(1767268800000000));
    assert_true(parse("2026-01-01T13:00:00.000+01:00") == INT64_C(1767268800000000));
    assert_true(parse("2026-01-01T13:00:00.000+01") == INT64_C(1767268800000000));
    assert_true(parse("2026-01-01T06:30:00.000-0530") == INT64_C(1767268800000000));
    /* The 2014 documentation capture. */
    assert_true(parse("2014-05-20T13:15:27.131-0500") == INT64_C(1400609727131000));
    /* Fractions of 1 to 9 digits; beyond microseconds they are truncated. */
    assert_true(parse("2026-01-01T12:00:00.5+0000") == INT64_C(1767268800500000));
    assert_true(parse("2026-01-01T12:00:00.123456+0000") == INT64_C(1767268800123456));
    assert_true(parse("2026-01-01T12:00:00.123456789+0000") == INT64_C(1767268800123456));
    /* Epoch edges, leap days, a leap second. */
    assert_true(parse("1970-01-01T00:00:00.000+0000") == 0);
    assert_true(parse("1969-12-31T23:59:59.999+0000") == -1000);
    assert_true(parse("2024-02-29T00:00:00.000+0000") == INT64_C(1709164800000000));
    assert_true(parse("2000-02-29T00:00:00.000+0000") == INT64_C(951782400000000));
    assert_true(parse("2016-12-31T23:59:60.000+0000") == INT64_C(1483228800000000));
    /* Not NUL-terminated: the length is what counts. */
    int64_t us;
    assert_int_equal(ari_time_parse("2026-01-01T12:00:00.123+0000trailing", 28, &us), 0);
    assert_true(us == INT64_C(1767268800123000));
}

static void test_time_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "2026",
        "2026-01-01",
        "2026-01-01T12:00:00",                 /* no zone */
        "2026-01-01T12:00:00.123",             /* no zone */
        "2026-01-01 12:00:00.123+0000",        /* space for T */
        "2026-1-01T12:00:00.123+0000",         /* short month */
        "2026-13-01T12:00:00.123+0000",        /* month 13 */
        "2026-00-01T12:00:00.123+0000",        /* month 0 */
        "2026-01-00T12:00:00.123+0000",        /* day 0 */
        "2026-01-32T12:00:00.123+0000",        /* day 32 */
        "2023-02-29T12:00:00.123+0000",        /* not a leap year */
        "1900-02-29T12:00:00.123+0000",        /* century, not leap */
        "2026-04-31T12:00:00.123+0000",        /* April has 30 */
        "2026-01-01T24:00:00.123+0000",        /* hour 24 */
        "2026-01-01T12:60:00.123+0000",        /* minute 60 */
        "2026-01-01T12:00:61.123+0000",        /* second 61 */
        "2026-01-01T12:00:00.+0000",           /* empty fraction */
        "2026-01-01T12:00:00.1234567890+0000", /* 10 digits */
        "2026-01-01T12:00:00.123+000",         /* three-digit zone */
        "2026-01-01T12:00:00.123+2400",        /* zone hour 24 */
        "2026-01-01T12:00:00.123+0060",        /* zone minute 60 */
        "2026-01-01T12:00:00.123 +0000",       /* space before zone */
        "2026-01-01T12:00:00.123+0000 ",       /* trailing space */
        "2026-01-01T12:00:00.123+0000Z",       /* two zones */
        "2026-01-01T12:00:00.123z",            /* lower-case z */
        "+026-01-01T12:00:00.123+0000",        /* sign in year */
        "2026-01-01T12:00:00,123+0000",        /* comma fraction */
        "yesterday",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t us = 7;
        if (ari_time_parse(bad[i], strlen(bad[i]), &us) != ERR_PARSE) {
            fail_msg("accepted \"%s\"", bad[i]);
        }
        assert_true(us == 7);
    }
    assert_int_equal(ari_time_parse(NULL, 0, NULL), ERR_PARSE);
}

/* Every day from 1900 to 2100 agrees with the C library's timegm(). */
static void test_time_parse_agrees_with_timegm(void **state)
{
    (void)state;
    for (int64_t day = -25567; day < 47482; day++) {
        time_t t = (time_t)(day * 86400 + 45296); /* 12:34:56 */
        struct tm tm;
        char buf[64];
        int64_t us;
        assert_non_null(gmtime_r(&t, &tm));
        size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.789+0000", &tm);
        assert_int_equal(ari_time_parse(buf, n, &us), 0);
        assert_true(us == (int64_t)timegm(&tm) * 1000000 + 789000);
    }
}

static void test_time_format(void **state)
{
    char buf[ARI_TIME_BUFSZ];

    (void)state;
    assert_int_equal(ari_time_format(0, buf, sizeof(buf)), 28);
    assert_string_equal(buf, "1970-01-01T00:00:00.000+0000");
    assert_int_equal(ari_time_format(-1000, buf, sizeof(buf)), 28);
    assert_string_equal(buf, "1969-12-31T23:59:59.999+0000");
    assert_int_equal(ari_time_format(-1, buf, sizeof(buf)), 28);
    assert_string_equal(buf, "1969-12-31T23:59:59.999+0000");
    assert_int_equal(ari_time_format(INT64_C(1795520787251999), buf, sizeof(buf)), 28);
    assert_string_equal(buf, "2026-11-24T11:46:27.251+0000");
    /* Round trip at millisecond precision over a wide span. */
    for (int64_t us = -INT64_C(2208988800000000); us < INT64_C(4102444800000000);
         us += INT64_C(86399999937)) {
        int64_t back;
        int n = ari_time_format(us, buf, sizeof(buf));
        assert_int_equal(n, 28);
        assert_int_equal(ari_time_parse(buf, (size_t)n, &back), 0);
        int64_t ms_floor = us >= 0 ? us / 1000 * 1000 : -((-us + 999) / 1000 * 1000);
        assert_true(back == ms_floor);
    }
    /* Too small a buffer; years outside 0000-9999. */
    assert_int_equal(ari_time_format(0, buf, 28), ERR_TOOBIG);
    assert_int_equal(ari_time_format(INT64_C(253402300800000000), buf, sizeof(buf)), ERR_RANGE);
    assert_int_equal(ari_time_format(-INT64_C(62167219200000001), buf, sizeof(buf)), ERR_RANGE);
    assert_int_equal(ari_time_format(-INT64_C(62167219200000000), buf, sizeof(buf)), 28);
    assert_string_equal(buf, "0000-01-01T00:00:00.000+0000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse_asterisk_format),
        cmocka_unit_test(test_time_parse_rejects),
        cmocka_unit_test(test_time_parse_agrees_with_timegm),
        cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests_name("ari_time", tests, NULL, NULL);
}
