/*
 * The test builds' window clock (compliance_window_clock_set): calling
 * windows judged at a shifted time, next-eligible given back in real time,
 * and no shift once it is cleared. Built without NDEBUG, as every test is.
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

static void test_shifted_clock_opens_the_window(void **state)
{
    (void)state;
    struct compliance_place p;
    struct compliance_verdict v;
    assert_int_equal(compliance_locate("+12125550142", &p), 0);

    assert_int_equal(compliance_window_check(&p, NULL, NIGHT_US, &v), 0);
    assert_int_not_equal(v.verdict, COMPLIANCE_ALLOW); /* the real night: closed */
    int64_t real_next = v.next_eligible_us;
    assert_true(real_next > NIGHT_US);

    assert_int_equal(compliance_window_clock_set(AFTERNOON_US - NIGHT_US), 0);
    assert_int_equal(compliance_window_check(&p, NULL, NIGHT_US, &v), 0);
    assert_int_equal(v.verdict, COMPLIANCE_ALLOW); /* judged at the afternoon */

    /* shifted to the next night: the next opening comes back in real time */
    assert_int_equal(compliance_window_clock_set(0), 0);
    assert_int_equal(compliance_window_check(&p, NULL, NIGHT_US, &v), 0);
    assert_int_not_equal(v.verdict, COMPLIANCE_ALLOW);
    assert_int_equal(compliance_window_clock_set(24 * 3600 * S), 0);
    struct compliance_verdict w;
    assert_int_equal(compliance_window_check(&p, NULL, NIGHT_US, &w), 0);
    assert_int_not_equal(w.verdict, COMPLIANCE_ALLOW);
    assert_int_equal(w.next_eligible_us, real_next); /* same hour of the next day, real time */
    assert_int_equal(compliance_window_clock_set(0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shifted_clock_opens_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
