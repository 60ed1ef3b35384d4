/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/pbx: the extensions.conf subset parser and matcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim_int.h"

static const char conf[] = "[general]\nstatic = yes\n"
                           "[globals]\nX=1\n"
                           "[ctx] ; comment\n"
                           "exten => s,1,NoOp(hello ${EXTEN}) ; trailing\n"
                           " same => n(again),Wait(1)\n"
                           " same => n,Hangup\n"
                           "exten => _X!,1,Hangup(${EXTEN})\n"
                           "exten => _2XX,1,Answer()\n"
                           "exten => 200,1,Busy(5)\n"
                           "exten => _NXX.,1,Congestion\n"
                           "exten => _[a-c]1,1,Echo()\n";

static void test_pbx_parse_and_match(void **state)
{
    char err[128];
    struct sim_pbx *p = sim__pbx_parse(conf, err, sizeof(err));
    (void)state;
    assert_non_null(p);
    assert_true(sim__pbx_has_context(p, "ctx"));
    assert_false(sim__pbx_has_context(p, "general"));
    assert_true(sim__pbx_exists(p, "ctx", "s", 1));
    assert_true(sim__pbx_exists(p, "ctx", "s", 3));
    assert_false(sim__pbx_exists(p, "ctx", "s", 4));
    assert_int_equal(sim__pbx_find_label(p, "ctx", "s", "again"), 2);
    assert_int_equal(sim__pbx_find_label(p, "ctx", "s", "nope"), -1);
    /* _X! matches digits (and nothing more after them). */
    assert_true(sim__pbx_exists(p, "ctx", "21", 1));
    assert_true(sim__pbx_exists(p, "ctx", "1", 1));
    assert_false(sim__pbx_exists(p, "ctx", "ab", 1));
    assert_true(sim__pbx_exists(p, "ctx", "2345", 1));  /* _NXX. */
    assert_true(sim__pbx_exists(p, "ctx", "1234x", 1)); /* _X! takes anything after */
    assert_true(sim__pbx_exists(p, "ctx", "b1", 1));
    assert_false(sim__pbx_exists(p, "ctx", "d1", 1));
    assert_false(sim__pbx_exists(p, "nope", "s", 1));
    sim__pbx_free(p);
}

static void test_pbx_errors(void **state)
{
    char err[128];
    (void)state;
    assert_null(sim__pbx_parse("[ctx\nexten => s,1,NoOp()\n", err, sizeof(err)));
    assert_non_null(strstr(err, "line 1"));
    assert_null(sim__pbx_parse("[ctx]\nsame => n,NoOp()\n", err, sizeof(err)));
    assert_non_null(strstr(err, "line 2"));
}

static void test_default_dialplan_loads(void **state)
{
    char err[128];
    struct sim_pbx *p = sim__pbx_load("sim/scenarios/extensions.conf", err, sizeof(err));
    (void)state;
    assert_non_null(p);
    assert_true(sim__pbx_exists(p, "amd", "s", 4));
    assert_true(sim__pbx_exists(p, "callee-reject", "21", 2));
    assert_true(sim__pbx_exists(p, "inbound", "2001", 2));
    sim__pbx_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pbx_parse_and_match),
        cmocka_unit_test(test_pbx_errors),
        cmocka_unit_test(test_default_dialplan_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
