/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/buf: the byte buffer and JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim_int.h"

static void test_buf_json_strings_are_escaped_like_jansson(void **state)
{
    struct sim_buf b;
    (void)state;
    sim__buf_init(&b);
    sim__buf_jstr(&b, "a\"b\\c/d\n\t\x01"
                      "é");
    assert_string_equal(b.p, "\"a\\\"b\\\\c/d\\n\\t\\u0001é\"");
    sim__buf_reset(&b);
    sim__buf_jstr(&b, NULL);
    assert_string_equal(b.p, "\"\"");
    sim__buf_fini(&b);
}

static void test_buf_integers_and_printf(void **state)
{
    struct sim_buf b;
    (void)state;
    sim__buf_init(&b);
    sim__buf_jint(&b, 0);
    sim__buf_putc(&b, ',');
    sim__buf_jint(&b, -9223372036854775807LL - 1);
    sim__buf_putc(&b, ',');
    sim__buf_jint(&b, 1234567);
    assert_string_equal(b.p, "0,-9223372036854775808,1234567");
    sim__buf_reset(&b);
    for (int i = 0; i < 1000; i++) {
        sim__buf_printf(&b, "%04d", i);
    }
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.p + 3996, "0999", 4);
    sim__buf_consume(&b, 3996);
    assert_string_equal(b.p, "0999");
    sim__buf_fini(&b);
}

static void test_buf_reserve_keeps_it_terminated(void **state)
{
    struct sim_buf b;
    (void)state;
    sim__buf_init(&b);
    sim__buf_reserve(&b, 10);
    assert_string_equal(b.p, "");
    SIM_LIT(&b, "abc");
    assert_int_equal(b.len, 3);
    assert_string_equal(b.p, "abc");
    sim__buf_fini(&b);
    assert_null(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_json_strings_are_escaped_like_jansson),
        cmocka_unit_test(test_buf_integers_and_printf),
        cmocka_unit_test(test_buf_reserve_keeps_it_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
