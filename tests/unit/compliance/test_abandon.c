/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/abandon.c: what counts as abandoned, the US and
 * UK measuring periods, restore after a restart, the safe-harbour check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/err.h"

#define S   INT64_C(1000000)
#define MS  INT64_C(1000)
#define DAY (86400 * S)
/* 2026-06-10T12:00:00Z */
#define T0 (INT64_C(1781092800) * S)

/* Table: timings -> abandoned or not. */
static void test_abandon_classify_table(void **state)
{
    static const struct {
        const char *what;
        struct compliance_call_outcome o;
        int live, abandoned, msg_in_time;
        int64_t delay_ms;
    } cases[] = {
        { "agent at 1.9 s after answer",
          { T0, 0, T0 + 1900 * MS, 0, T0 + 60 * S, 1 },
          1,
          0,
          0,
          1900 },
        { "agent at exactly 2 s", { T0, 0, T0 + 2000 * MS, 0, T0 + 60 * S, 1 }, 1, 0, 0, 2000 },
        { "agent at 2.001 s", { T0, 0, T0 + 2001 * MS, 0, T0 + 60 * S, 1 }, 1, 1, 0, 2001 },
        { "never connected, message at 1 s", { T0, 0, 0, T0 + 1 * S, T0 + 9 * S, 1 }, 1, 1, 1, -1 },
        { "never connected, message at 3 s", { T0, 0, 0, T0 + 3 * S, T0 + 9 * S, 1 }, 1, 1, 0, -1 },
        /* greeting ended 1.5 s after answer: the clock starts there */
        { "agent 1.8 s after greeting",
          { T0, T0 + 1500 * MS, T0 + 3300 * MS, 0, T0 + 9 * S, 1 },
          1,
          0,
          0,
          1800 },
        /* AMD took 3 s with no greeting end known: counts against the 2 s */
        { "AMD 3 s then agent", { T0, 0, T0 + 3 * S, 0, T0 + 9 * S, 1 }, 1, 1, 0, 3000 },
        { "machine", { T0, 0, 0, 0, T0 + 9 * S, 0 }, 0, 0, 0, -1 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct compliance_abandon_proof p;
        assert_int_equal(compliance_abandon_classify(&cases[i].o, &p), 0);
        if (p.live != cases[i].live || p.abandoned != cases[i].abandoned ||
            p.message_in_time != cases[i].msg_in_time || p.connect_delay_ms != cases[i].delay_ms) {
            fail_msg("%s: live %d abandoned %d msg %d delay %lld", cases[i].what, p.live,
                     p.abandoned, p.message_in_time, (long long)p.connect_delay_ms);
        }
    }
    struct compliance_call_outcome bad = { 0, 0, 0, 0, 0, 1 };
    struct compliance_abandon_proof p;
    assert_int_equal(compliance_abandon_classify(&bad, &p), ERR_INVAL);
    struct compliance_call_outcome before = { T0, T0 - S, 0, 0, 0, 1 };
    assert_int_equal(compliance_abandon_classify(&before, &p), ERR_INVAL);
}

static void call(struct compliance_abandon *a, int64_t at, int abandoned)
{
    struct compliance_call_outcome o = { at, 0, abandoned ? 0 : at + S, 0, at + 30 * S, 1 };
    assert_int_equal(compliance_abandon_record(a, &o, NULL), 0);
}

/* US: successive 30-day periods from the campaign start. */
static void test_abandon_us_periods(void **state)
{
    struct compliance_abandon *a;
    struct compliance_abandon_rate r;
    (void)state;
    assert_int_equal(compliance_abandon_create(COMPLIANCE_ABANDON_CAMPAIGN_30D, T0, 3.0, &a), 0);
    for (int i = 0; i < 97; i++) {
        call(a, T0 + i * 60 * S, 0);
    }
    for (int i = 0; i < 3; i++) {
        call(a, T0 + 29 * DAY + i * S, 1);
    }
    compliance_abandon_rate(a, T0 + 29 * DAY + 10 * S, &r);
    assert_int_equal(r.live, 100);
    assert_int_equal(r.abandoned, 3);
    assert_false(r.over_cap); /* exactly 3% is allowed */
    assert_int_equal(r.period_start_us, T0);
    assert_int_equal(r.period_end_us, T0 + 30 * DAY);
    call(a, T0 + 29 * DAY + 20 * S, 1);
    compliance_abandon_rate(a, T0 + 29 * DAY + 30 * S, &r);
    assert_true(r.over_cap);
    /* day 30 starts a new period */
    compliance_abandon_rate(a, T0 + 30 * DAY, &r);
    assert_int_equal(r.live, 0);
    assert_int_equal(r.period_start_us, T0 + 30 * DAY);
    call(a, T0 + 30 * DAY + S, 1);
    compliance_abandon_rate(a, T0 + 30 * DAY + 2 * S, &r);
    assert_int_equal(r.live, 1);
    assert_int_equal(r.abandoned, 1);
    compliance_abandon_destroy(a);
}

/* UK: calendar days in UK time, including the 25-hour day of 2026-10-25. */
static void test_abandon_uk_calendar_day(void **state)
{
    struct compliance_abandon *a;
    struct compliance_abandon_rate r;
    int64_t s, e;
    (void)state;
    assert_int_equal(compliance_init(NULL), 0);
    assert_int_equal(compliance_abandon_create(COMPLIANCE_ABANDON_CALENDAR_DAY, 0, 3.0, &a), 0);
    /* 2026-06-10T12:00Z = 13:00 BST: the day is 2026-06-09T23:00Z .. 06-10T23:00Z */
    assert_int_equal(compliance_abandon_period(a, T0, &s, &e), 0);
    assert_int_equal(s, T0 - 13 * 3600 * S);
    assert_int_equal(e, s + DAY);
    /* 2026-10-25 (clocks go back): 2026-10-24T23:00Z .. 2026-10-26T00:00Z, 25 h */
    int64_t oct25 = INT64_C(1792929600) * S; /* 2026-10-25T12:00:00Z */
    assert_int_equal(compliance_abandon_period(a, oct25, &s, &e), 0);
    assert_int_equal(s, INT64_C(1792882800) * S);
    assert_int_equal(e - s, 25 * 3600 * S);
    /* 2026-03-29 (clocks go forward): 00:00Z .. 23:00Z, 23 h */
    int64_t mar29 = INT64_C(1774785600) * S; /* 2026-03-29T12:00:00Z */
    assert_int_equal(compliance_abandon_period(a, mar29, &s, &e), 0);
    assert_int_equal(s, INT64_C(1774742400) * S);
    assert_int_equal(e - s, 23 * 3600 * S);
    call(a, T0, 1);
    call(a, T0 + S, 0);
    compliance_abandon_rate(a, T0 + 2 * S, &r);
    assert_int_equal(r.live, 2);
    assert_int_equal(r.abandoned, 1);
    /* 23:30 UK time the same day still counts; 00:00 UK time does not */
    compliance_abandon_rate(a, T0 + 10 * 3600 * S + 30 * 60 * S, &r);
    assert_int_equal(r.live, 2);
    compliance_abandon_rate(a, T0 + 11 * 3600 * S, &r);
    assert_int_equal(r.live, 0);
    compliance_abandon_destroy(a);
}

/* A restart restores the period's counts and carries on from them. */
static void test_abandon_restore(void **state)
{
    struct compliance_abandon *a;
    struct compliance_abandon_rate r;
    (void)state;
    assert_int_equal(compliance_abandon_create(COMPLIANCE_ABANDON_CAMPAIGN_30D, T0, 3.0, &a), 0);
    compliance_abandon_restore(a, T0 + 5 * DAY, 1000, 25);
    call(a, T0 + 5 * DAY + S, 1);
    compliance_abandon_rate(a, T0 + 5 * DAY + 2 * S, &r);
    assert_int_equal(r.live, 1001);
    assert_int_equal(r.abandoned, 26);
    assert_false(r.over_cap);
    assert_non_null(strstr(compliance_abandon_restore_sql(), "call_logs"));
    compliance_abandon_destroy(a);
}

/*
 * UK (Ofcom: 3 % per campaign per calendar day): a node restarted in the
 * afternoon restores the morning's counts, so one more abandoned call puts
 * the day over the cap; at midnight UK time the next day starts from zero.
 */
static void test_abandon_uk_restore_day(void **state)
{
    struct compliance_abandon *a;
    struct compliance_abandon_rate r;
    int64_t s, e;
    (void)state;
    assert_int_equal(compliance_init(NULL), 0);
    assert_int_equal(
        compliance_abandon_create(COMPLIANCE_ABANDON_CALENDAR_DAY, T0 - 40 * DAY, 3.0, &a), 0);
    /* restarted at 13:00 BST with 100 live answers and 3 abandoned (3.0 %: allowed) */
    compliance_abandon_restore(a, T0, 100, 3);
    compliance_abandon_rate(a, T0, &r);
    assert_int_equal(r.live, 100);
    assert_int_equal(r.abandoned, 3);
    assert_false(r.over_cap);
    assert_int_equal(compliance_abandon_period(a, T0, &s, &e), 0);
    assert_int_equal(r.period_start_us, s);
    /* one more abandoned call: 4 / 101 > 3 % */
    call(a, T0 + 60 * S, 1);
    compliance_abandon_rate(a, T0 + 61 * S, &r);
    assert_int_equal(r.abandoned, 4);
    assert_true(r.over_cap);
    /* 00:00 BST (23:00Z): a new day, nothing counted */
    compliance_abandon_rate(a, e, &r);
    assert_int_equal(r.live, 0);
    assert_false(r.over_cap);
    call(a, e + S, 0);
    compliance_abandon_rate(a, e + 2 * S, &r);
    assert_int_equal(r.live, 1);
    assert_int_equal(r.abandoned, 0);
    compliance_abandon_destroy(a);
}

static void test_safe_harbour_validate(void **state)
{
    const char *field = NULL;
    (void)state;
    assert_int_equal(compliance_safe_harbour_validate(0, NULL, NULL, &field), 0);
    assert_int_equal(compliance_safe_harbour_validate(1, "Acme Solar", "+18005550100", &field), 0);
    assert_int_equal(compliance_safe_harbour_validate(1, "  ", "+18005550100", &field), ERR_INVAL);
    assert_string_equal(field, "seller");
    assert_int_equal(compliance_safe_harbour_validate(1, NULL, "+18005550100", &field), ERR_INVAL);
    assert_string_equal(field, "seller");
    assert_int_equal(compliance_safe_harbour_validate(1, "Acme", "800-555-0100", &field),
                     ERR_INVAL);
    assert_string_equal(field, "callback_number");
    assert_int_equal(compliance_safe_harbour_validate(1, "Acme", NULL, &field), ERR_INVAL);
    assert_string_equal(field, "callback_number");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abandon_classify_table),
        cmocka_unit_test(test_abandon_us_periods),
        cmocka_unit_test(test_abandon_uk_calendar_day),
        cmocka_unit_test(test_abandon_restore),
        cmocka_unit_test(test_abandon_uk_restore_day),
        cmocka_unit_test(test_safe_harbour_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
