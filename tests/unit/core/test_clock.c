/* SPDX-License-Identifier: MIT */
/* Unit tests for core/clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_clock_real_time_moves_forward(void **state)
{
    (void)state;
    clock_clear_fake();
    int64_t a = clock_mono_us();
    int64_t b = clock_mono_us();
    assert_true(b >= a);
    /* After 2020-01-01 and before 2100. */
    assert_true(clock_wall_us() > INT64_C(1577836800) * CLOCK_US_PER_SEC);
    assert_true(clock_wall_us() < INT64_C(4102444800) * CLOCK_US_PER_SEC);
    assert_false(clock_is_fake());
}

static void test_clock_fake_time_is_frozen_and_advances_on_request(void **state)
{
    (void)state;
    /* 2026-11-01T06:30:00Z: 01:30 US Eastern, inside the repeated DST hour. */
    int64_t t = INT64_C(1793514600) * CLOCK_US_PER_SEC;
    char buf[40];
    clock_set_fake(t);
    assert_true(clock_is_fake());
    assert_int_equal(clock_wall_us(), t);
    assert_int_equal(clock_mono_us(), t);
    clock_advance(1500 * CLOCK_US_PER_MS);
    assert_int_equal(clock_wall_us(), t + 1500000);
    assert_string_equal(clock_format_utc(clock_wall_us(), buf, sizeof(buf)),
                        "2026-11-01T06:30:01.500Z");
    clock_clear_fake();
    clock_advance(5); /* no effect on the real clock */
    assert_false(clock_is_fake());
}

static void test_clock_format_before_epoch(void **state)
{
    char buf[40];
    (void)state;
    assert_string_equal(clock_format_utc(-1000, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_real_time_moves_forward),
        cmocka_unit_test(test_clock_fake_time_is_frozen_and_advances_on_request),
        cmocka_unit_test(test_clock_format_before_epoch),
    };
    return cmocka_run_group_tests_name("core/clock", tests, NULL, NULL);
}
