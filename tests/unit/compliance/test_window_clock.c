/*
 * The test builds' window clock (compliance_window_clock_set): an offset the
 * dialer adds to now when it judges calling windows; explicit times keep the
 * real clock. Built without NDEBUG, as every test is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compliance/compliance.h"

#define S 1000000LL
/* 2026-11-18 (a Wednesday) 03:00 UTC: 22:00 in New York, outside 8:00-21:00. */
#define NIGHT_US     (1794970800LL * S)
#define AFTERNOON_US (NIGHT_US + 16 * 3600 * S) /* 19:00 UTC, 14:00 in New York */

static void test_window_clock_is_the_dialers_only(void **state)
{
    (void)state;
    struct compliance_place p;
    struct compliance_verdict v;
    assert_int_equal(compliance_locate("+12125550142", &p), 0);
    assert_int_equal(compliance_window_clock_offset(), 0);

    assert_int_equal(compliance_window_clock_set(AFTERNOON_US - NIGHT_US), 0);
    assert_int_equal(compliance_window_clock_offset(), AFTERNOON_US - NIGHT_US);
    /* an explicit time (the check route's ?at=) keeps the real clock */
    assert_int_equal(compliance_window_check(&p, NULL, NIGHT_US, &v), 0);
    assert_int_not_equal(v.verdict, COMPLIANCE_ALLOW);
    /* what the dialer asks: now + the offset, the afternoon */
    assert_int_equal(
        compliance_window_check(&p, NULL, NIGHT_US + compliance_window_clock_offset(), &v), 0);
    assert_int_equal(v.verdict, COMPLIANCE_ALLOW);
    assert_int_equal(compliance_window_clock_set(0), 0);
    assert_int_equal(compliance_window_clock_offset(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_clock_is_the_dialers_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
