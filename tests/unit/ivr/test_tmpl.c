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

/* ---------------------------------------------------------------------- */
/* A session's compact store reads exactly as the tree it was made from    */
/* ---------------------------------------------------------------------- */

static json_t *rich_vars(void)
{
    json_t *v = vars();
    json_t *c = json_object_get(v, "contact");
    json_object_set_new(c, "addr", json_pack("{s:s,s:[i,i]}", "city", "Paris", "zip", 75, 1));
    json_object_set_new(c, "tags", json_pack("[s,s]", "gold", "fr"));
    json_object_set_new(c, "vip", json_true());
    json_object_set_new(c, "opted_out", json_false());
    json_object_set_new(c, "nick", json_null());
    json_object_set_new(c, "score", json_real(0.25));
    json_object_set_new(c, "balance", json_integer(-1200));
    json_object_set_new(json_object_get(v, "call"), "attempt", json_integer(2));
    return v;
}

static char *render_store(const struct ivr__vars *st, const char *src, bool secrets, int *missing)
{
    const char *err;
    struct ivr__tmpl *t = ivr__tmpl_compile(src, &err);
    assert_non_null(t);
    struct ivr__buf b = { 0 };
    *missing = 0;
    ivr__tmpl_render(t, st, secrets, &b, missing);
    ivr__tmpl_free(t);
    assert_false(b.oom);
    return b.p;
}

static const char *const store_cases[] = {
    "Hello {{contact.first_name}} of {{contact.addr.city}}",
    "{{contact.addr.zip.1}} {{contact.tags.0}}/{{contact.tags.1}} {{contact.tags.2}}",
    "{{contact.vip}} {{contact.opted_out}} [{{contact.nick}}] {{contact.score}} "
    "{{contact.balance}}",
    "{{contact.nick | default: 'none'}} {{contact.missing | default: 'x'}}",
    "{{contact.first_name.deeper}} {{contact.vip.x}} {{call.attempt.x}}",
    "{{contact | json}}",
    "{{call | json}}",
    "{{call.from | last4}} {{call.direction | upper}} {{call.attempt | number}}",
    "{{contact.addr | json}} {{contact.tags | json}} {{contact.visits | json}}",
    "{{flow | json}} {{flow.obj.k}} {{flow.amount}} {{nodes.menu.digits | digits}}",
    "{{nodes | json}} {{nodes.menu | json}} {{nodes.nosuch.digits}}",
    "{{sys | json}} {{sys.now}} {{sys.time}}",
    "{{secrets.token}} {{secrets | json}} {{secrets.nosuch}}",
    "{{nosuch.x}} {{nosuch}} {{contact}} {{call.nosuch}}",
};

/* Every case renders the same text and counts the same missing variables both ways. */
static void test_tmpl_store_matches_tree(void **state)
{
    (void)state;
    json_t *tree = rich_vars();
    struct ivr__vars st;
    assert_int_equal(ivr__vars_init(&st, tree), 0);
    assert_non_null(st.call);
    assert_non_null(st.contact);
    assert_null(st.sys); /* an empty group costs nothing */
    for (size_t i = 0; i < sizeof(store_cases) / sizeof(store_cases[0]); i++) {
        for (int sec = 0; sec < 2; sec++) {
            int m1 = 0, m2 = 0;
            const char *err;
            char *want = ivr_render(store_cases[i], tree, sec, &m1, &err);
            char *got = render_store(&st, store_cases[i], sec, &m2);
            if (want == NULL || strcmp(want, got) != 0 || m1 != m2) {
                print_error("case %zu (secrets %d): tree '%s' (%d), store '%s' (%d)\n", i, sec,
                            want ? want : "(null)", m1, got, m2);
                fail();
            }
            free(want);
            free(got);
        }
    }
    /* A few by value, so that both sides being wrong the same way cannot pass. */
    int m;
    char *a = render_store(&st, store_cases[0], false, &m);
    assert_string_equal(a, "Hello Ada of Paris");
    free(a);
    a = render_store(&st, "{{contact.vip}} {{contact.balance}} {{contact.tags.1}}", false, &m);
    assert_string_equal(a, "true -1200 fr");
    free(a);
    a = render_store(&st, "{{call | json}}", false, &m);
    assert_string_equal(a, "{\"from\":\"+14155550123\",\"direction\":\"inbound\",\"attempt\":2}");
    free(a);
    a = render_store(&st, "[{{secrets.token}}] {{sys | json}}", false, &m);
    assert_string_equal(a, "[] {}");
    assert_int_equal(m, 1);
    free(a);
    a = render_store(&st, "Bearer {{secrets.token}}", true, &m);
    assert_string_equal(a, "Bearer s3cr3t");
    free(a);
    ivr__vars_fini(&st);
    json_decref(tree);
}

/* Writes: a flow variable overwritten, a contact field written, call.* extended, sys read only. */
static void test_tmpl_store_writes(void **state)
{
    (void)state;
    json_t *tree = rich_vars();
    struct ivr__vars st;
    int m;
    assert_int_equal(ivr__vars_init(&st, tree), 0);
    json_decref(tree);
    char flow[] = "flow", contact[] = "contact", sys[] = "sys", sec[] = "secrets";
    char account[] = "account", first[] = "first_name", now[] = "now", token[] = "token";
    char *fa[] = { flow, account };
    assert_int_equal(ivr__vars_set(&st, fa, 2, json_string("999")), 0);
    assert_int_equal(ivr__vars_set(&st, fa, 2, json_integer(7)), 0);
    char *a = render_store(&st, "{{flow.account}} {{flow.amount}}", false, &m);
    assert_string_equal(a, "7 12.5");
    free(a);
    /* The first write to contact.* turns the compact copy into an object: the rest stays. */
    char *cf[] = { contact, first };
    assert_int_equal(ivr__vars_set(&st, cf, 2, json_string("Bea")), 0);
    assert_null(st.contact);
    a = render_store(&st, "{{contact.first_name}} {{contact.addr.city}} {{contact.tags.0}}", false,
                     &m);
    assert_string_equal(a, "Bea Paris gold");
    assert_int_equal(m, 0);
    free(a);
    assert_string_equal(ivr__vars_str(&st, "contact", "first_name"), "Bea");
    /* call.* gains a member at the end, or replaces one in place. */
    assert_int_equal(ivr__vars_set_str(&st, "call", "trigger", "inbound"), 0);
    assert_int_equal(ivr__vars_set_str(&st, "call", "direction", "outbound"), 0);
    assert_string_equal(ivr__vars_str(&st, "call", "trigger"), "inbound");
    a = render_store(&st, "{{call | json}}", false, &m);
    assert_string_equal(a, "{\"from\":\"+14155550123\",\"direction\":\"outbound\",\"attempt\":2,"
                           "\"trigger\":\"inbound\"}");
    free(a);
    /* sys.* and secrets.* are not written by a flow. */
    char *sn[] = { sys, now };
    char *st2[] = { sec, token };
    assert_int_equal(ivr__vars_set(&st, sn, 2, json_integer(1)), ERR_INVAL);
    assert_int_equal(ivr__vars_set(&st, st2, 2, json_string("x")), ERR_INVAL);
    a = render_store(&st, "{{secrets.token}}", true, &m);
    assert_string_equal(a, "s3cr3t");
    free(a);
    ivr__vars_fini(&st);
}

/* sys.* derived from the saved instant; a caller's own sys members are kept, in jansson's order. */
static void test_tmpl_store_sys(void **state)
{
    (void)state;
    json_t *tree = json_pack("{s:{s:s,s:s}}", "sys", "time", "old", "region", "eu");
    struct ivr__vars st;
    int m;
    assert_int_equal(ivr__vars_init(&st, tree), 0);
    char *a = render_store(&st, "{{sys | json}} {{sys.time}} {{sys.now}}", false, &m);
    assert_string_equal(a, "{\"time\":\"old\",\"region\":\"eu\"} old ");
    assert_int_equal(m, 1);
    free(a);
    st.sys_now = INT64_C(1767607200) + 3600 * 4 + 60 * 5; /* Monday 2026-01-05 14:05 UTC */
    st.sys_off = -300;
    st.sys_tz = "America/New_York";
    st.sys_set = true;
    a = render_store(&st, "{{sys.time}} {{sys.weekday}} {{sys.tz}} {{sys.region}}", false, &m);
    assert_string_equal(a, "09:05 mon America/New_York eu");
    free(a);
    a = render_store(&st, "{{sys | json}}", false, &m);
    assert_string_equal(a, "{\"time\":\"09:05\",\"region\":\"eu\",\"now\":1767621900,"
                           "\"weekday\":\"mon\",\"tz\":\"America/New_York\"}");
    free(a);
    st.sys_now = INT64_C(1767607200) - 3600 * 8; /* Monday 02:00 UTC: Sunday in New York */
    a = render_store(&st, "{{sys.time}} {{sys.weekday}}", false, &m);
    assert_string_equal(a, "21:00 sun");
    free(a);
    ivr__vars_fini(&st);
    json_decref(tree);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpl_render_table),
        cmocka_unit_test(test_tmpl_secrets_only_when_allowed),
        cmocka_unit_test(test_tmpl_syntax_errors),
        cmocka_unit_test(test_tmpl_time_helpers),
        cmocka_unit_test(test_tmpl_store_matches_tree),
        cmocka_unit_test(test_tmpl_store_writes),
        cmocka_unit_test(test_tmpl_store_sys),
    };
    return cmocka_run_group_tests_name("ivr_tmpl", tests, NULL, NULL);
}
