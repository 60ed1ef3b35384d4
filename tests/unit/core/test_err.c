/* SPDX-License-Identifier: MIT */
/* Unit tests for core/err. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"

static void test_err_project_codes_have_names(void **state)
{
    (void)state;
    assert_string_equal(err_name(ERR_TIMEOUT), "ERR_TIMEOUT");
    assert_string_equal(err_str(ERR_TIMEOUT), "timed out");
    assert_string_equal(err_name(ERR_NOMEM), "ERR_NOMEM");
    assert_string_equal(err_name(0), "OK");
}

static void test_err_errno_values_use_libc_names(void **state)
{
    (void)state;
    assert_string_equal(err_name(-ECONNREFUSED), "ECONNREFUSED");
    assert_string_equal(err_str(-ENOENT), "No such file or directory");
}

static void test_err_unknown_codes_are_named_unknown(void **state)
{
    (void)state;
    assert_string_equal(err_name(-999999), "UNKNOWN");
    assert_string_equal(err_str(12345), "unknown error");
}

static void test_err_codes_are_distinct_and_below_errno_range(void **state)
{
    static const int codes[] = {
#define ERR_CODE_(name, val, str) val,
        ERR_MAP(ERR_CODE_)
#undef ERR_CODE_
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] <= -1001);
        for (size_t j = i + 1; j < n; j++) {
            assert_int_not_equal(codes[i], codes[j]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_project_codes_have_names),
        cmocka_unit_test(test_err_errno_values_use_libc_names),
        cmocka_unit_test(test_err_unknown_codes_are_named_unknown),
        cmocka_unit_test(test_err_codes_are_distinct_and_below_errno_range),
    };
    return cmocka_run_group_tests_name("core/err", tests, NULL, NULL);
}
