/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ivr/tmpl.c: {{ path | filter }} rendering, syntax errors,
 * missing variables, secrets only where allowed, zones and dates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ivr/ivr_int.h"

static json_t *vars(void)
{
    return json_pack("{s:{s:s,s:s},s:{s:s,s:i},s:{s:s,s:f,s:{s:s}},s:{s:{s:s}},s:{},s:{s:s}}",
                     "call", "from", "+14155550123", "direction", "inbound", "contact",
                     "first_name", "Ada", "visits", 7, "flow", "account", "00123", "amount", 12.5,
                     "obj", "k", "v", "nodes", "menu", "digits", "12#", "sys", "secrets", "token",
                     "s3cr3t");
}

struct case_ {
    const char *src;
    const char *want;
    int missing;
};

static void test_tmpl_render_table(void **state)
{
    (void)state;
    static const struct case_ cases[] = {
        { "plain text", "plain text", 0 },
        { "", "", 0 },
        { "Hello {{contact.first_name}}!", "Hello Ada!", 0 },
        { "{{ contact.first_name | upper }}", "ADA", 0 },
        { "{{contact.first_name|lower}}", "ada", 0 },
        { "{{contact.nickname | default: 'friend'}}", "friend", 0 },
        { "{{contact.first_name | default: \"x\"}}", "Ada", 0 },
        { "{{contact.nickname}}", "", 1 },
        { "{{flow.account | digits}}", "0 0 1 2 3", 0 },
        { "{{flow.account | number}}", "123", 0 },
        { "{{flow.amount}}", "12.5", 0 },
        { "{{contact.visits}}", "7", 0 },
        { "{{flow.obj | json}}", "{\"k\":\"v\"}", 0 },
        { "{{contact.first_name | json}}", "\"Ada\"", 0 },
        { "{{nodes.menu.digits | urlencode}}", "12%23", 0 },
        { "{{call.from | last4}}", "0123", 0 },
        { "{{secrets.token}}", "", 1 }, /* not allowed here */
        { "a {{contact.first_name}} b {{call.direction}} c", "a Ada b inbound c", 0 },
        { "{{contact.first_name | upper | default: 'x'}}", "ADA", 0 },
    };
    json_t *v = vars();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int missing = 0;
        const char *err = NULL;
        char *out = ivr_render(cases[i].src, v, false, &missing, &err);
        if (out == NULL || strcmp(out, cases[i].want) != 0 || missing != cases[i].missing) {
            print_error("case %zu: %s -> '%s' (missing %d), want '%s' (%d) err=%s\n", i,
                        cases[i].src, out ? out : "(null)", missing, cases[i].want,
                        cases[i].missing, err ? err : "");
            fail();
        }
        free(out);
    }
    json_decref(v);
}

static void test_tmpl_secrets_only_when_allowed(void **state)
{
    (void)state;
    json_t *v = vars();
    const char *err;
    char *a = ivr_render("Bearer {{secrets.token}}", v, true, NULL, &err);
    char *b = ivr_render("Bearer {{secrets.token}}", v, false, NULL, &err);
    assert_string_equal(a, "Bearer s3cr3t");
    assert_string_equal(b, "Bearer ");
    free(a);
    free(b);
    json_decref(v);
}

static void test_tmpl_syntax_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{{",
        "{{ }}",
        "{{contact.name",
        "x }} y",
        "{{a..b}}",
        "{{.a}}",
        "{{a.}}",
        "{{a | nosuch}}",
        "{{a | default}}",
        "{{a | default: x}}",
        "{{a | default: 'x}}",
        "{{a {{b}} }}",
        "{{a b}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = ivr_template_check(bad[i]);
        if (err == NULL) {
            print_error("accepted: %s\n", bad[i]);
            fail();
        }
    }
    assert_null(ivr_template_check("{{ a.b | default: 'x' | upper }} and {{c}}"));
}

static void test_tmpl_time_helpers(void **state)
{
    (void)state;
    int off = 99;
    assert_int_equal(ivr__tz_fixed("UTC", &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(ivr__tz_fixed("+05:30", &off), 0);
    assert_int_equal(off, 330);
    assert_int_equal(ivr__tz_fixed("-0800", &off), 0);
    assert_int_equal(off, -480);
    assert_int_equal(ivr__tz_fixed("Mars/Base", &off), ERR_NOTFOUND);
    assert_int_equal(ivr__parse_hhmm("09:30"), 570);
    assert_int_equal(ivr__parse_hhmm("24:00"), 1440);
    assert_int_equal(ivr__parse_hhmm("9:30"), -1);
    assert_int_equal(ivr__parse_hhmm("12:60"), -1);
    assert_int_equal(ivr__parse_date("1970-01-02"), 1);
    assert_int_equal(ivr__parse_date("2026-11-24"), 20781);
    assert_int_equal(ivr__parse_date("2026-13-01"), INT32_MIN);
    /* New York: EST in January, EDT in July; the switch at 2026-03-08 07:00 UTC. */
    assert_int_equal(ivr__tz_builtin("America/New_York", INT64_C(1767607200) * 1000000, &off), 0);
    assert_int_equal(off, -300);
    assert_int_equal(ivr__tz_builtin("America/New_York", INT64_C(1783000000) * 1000000, &off), 0);
    assert_int_equal(off, -240);
    assert_int_equal(ivr__tz_builtin("America/New_York", INT64_C(1772953199) * 1000000, &off), 0);
    assert_int_equal(off, -300);
    assert_int_equal(ivr__tz_builtin("America/New_York", INT64_C(1772953200) * 1000000, &off), 0);
    assert_int_equal(off, -240);
    /* Paris: CEST from 2026-03-29 01:00 UTC. */
    assert_int_equal(ivr__tz_builtin("Europe/Paris", INT64_C(1774745999) * 1000000, &off), 0);
    assert_int_equal(off, 60);
    assert_int_equal(ivr__tz_builtin("Europe/Paris", INT64_C(1774746000) * 1000000, &off), 0);
    assert_int_equal(off, 120);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpl_render_table),
        cmocka_unit_test(test_tmpl_secrets_only_when_allowed),
        cmocka_unit_test(test_tmpl_syntax_errors),
        cmocka_unit_test(test_tmpl_time_helpers),
    };
    return cmocka_run_group_tests_name("ivr_tmpl", tests, NULL, NULL);
}
