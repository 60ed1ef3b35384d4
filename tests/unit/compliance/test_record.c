/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/record.c: the rows recorded for blocked attempts (rule column, the
 * facts in data_versions, the trace) and the recorder's repeat rule. The recorder runs on a pool
 * that never connects, so rows stay queued and can be counted. */
#include <ev.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/db.h"
#include "core/err.h"

#define S INT64_C(1000000)
/* 2026-06-10T01:30:00Z: 21:30 EDT on Tuesday 9 June in New York */
#define LATE (INT64_C(1781055000) * S)
/* 08:00 EDT the next morning */
#define NEXT_MORNING (INT64_C(1781092800) * S)

static const char *vstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "(none)";
}

static json_int_t vint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void test_record_legal_window_row(void **state)
{
    struct compliance_decision d;
    json_t *row = NULL;
    char rule[72];
    (void)state;
    assert_int_equal(compliance_decide_local(NULL,
                                             &(struct compliance_campaign){ .allow_stale_list = 1 },
                                             "+12125550100", NULL, LATE, &d),
                     0);
    assert_int_equal(d.reason, COMPLIANCE_REASON_WINDOW);
    assert_string_equal(compliance_record_rule(&d, rule, sizeof(rule)), "window.us_tcpa_hours");
    assert_int_equal(compliance_record_json(7, 70, 700, "+12125550100", &d, LATE, &row), 0);
    assert_string_equal(vstr(row, "rule"), "window.us_tcpa_hours");
    assert_true(vint(row, "next_us") == NEXT_MORNING);
    assert_true(vint(row, "contact_id") == 700);
    const json_t *v = json_object_get(row, "data_versions");
    assert_string_equal(vstr(v, "zone"), "America/New_York");
    assert_string_equal(vstr(v, "local_time"), "2026-06-09T21:30:00-04:00");
    assert_string_equal(vstr(v, "ruleset"), COMPLIANCE_RULESET_VERSION);
    assert_non_null(strstr(vstr(v, "rule_source"), "64.1200"));
    const json_t *t = json_object_get(row, "trace");
    assert_string_equal(vstr(json_object_get(t, "rule"), "id"), "us-tcpa-hours");
    assert_non_null(strchr(vstr(t, "number"), '*')); /* masked in the trace */
    json_decref(row);
}

static void test_record_campaign_window_zone(void **state)
{
    struct compliance_decision d;
    json_t *row = NULL;
    (void)state;
    /* 21:30 EDT is 10:30 the next day in Tokyo: the zone the schedule used is recorded */
    assert_int_equal(
        compliance_decision_campaign_window("+12125550100", "Asia/Tokyo", LATE, NEXT_MORNING, &d),
        0);
    assert_int_equal(compliance_record_json(7, 70, 700, "+12125550100", &d, LATE, &row), 0);
    assert_string_equal(vstr(row, "rule"), "window.campaign");
    assert_true(vint(row, "next_us") == NEXT_MORNING);
    const json_t *v = json_object_get(row, "data_versions");
    assert_string_equal(vstr(v, "zone"), "Asia/Tokyo");
    assert_string_equal(vstr(v, "local_time"), "2026-06-10T10:30:00+09:00");
    assert_string_equal(vstr(v, "rule_source"), "campaign configuration");
    json_decref(row);
    /* without a zone the number's own zone is kept */
    assert_int_equal(compliance_decision_campaign_window("+12125550100", NULL, LATE, 0, &d), 0);
    assert_int_equal(compliance_record_json(7, 70, 700, "+12125550100", &d, LATE, &row), 0);
    assert_string_equal(vstr(json_object_get(row, "data_versions"), "zone"), "America/New_York");
    assert_true(vint(row, "next_us") == 0);
    json_decref(row);
    assert_int_equal(compliance_decision_campaign_window("12125550100", NULL, LATE, 0, &d),
                     ERR_INVAL);
}

static void test_record_cap_rows(void **state)
{
    struct compliance_place pl;
    const struct compliance_cap_rule *fl[4];
    struct compliance_decision d;
    json_t *row = NULL;
    (void)state;
    assert_int_equal(compliance_locate("+13055550100", &pl), 0); /* Miami */
    assert_int_equal(compliance_cap_rules_for_place(&pl, fl, 4), 1);
    struct compliance_cap_result r = { .outcome = COMPLIANCE_CAP_BLOCKED,
                                       .rule = fl[0],
                                       .next_eligible_us = LATE + 3600 * S,
                                       .count = 3 };
    assert_int_equal(compliance_decision_from_caps("+13055550100", &r, LATE, &d), 0);
    assert_int_equal(compliance_record_json(7, 70, 701, "+13055550100", &d, LATE, &row), 0);
    assert_string_equal(vstr(row, "rule"), "cap.us_fl_3_per_24h");
    const json_t *v = json_object_get(row, "data_versions");
    assert_string_equal(vstr(v, "cap_rule"), "us-fl-3-per-24h");
    assert_true(vint(v, "cap_window_s") == 86400);
    assert_true(vint(v, "cap_limit") == 3);
    assert_true(vint(v, "cap_count") == 3);
    assert_non_null(strstr(vstr(v, "rule_source"), "501.616"));
    assert_string_equal(vstr(v, "zone"), "America/New_York");
    const json_t *cap = json_object_get(json_object_get(row, "trace"), "cap");
    assert_string_equal(vstr(cap, "kind"), "rolling");
    assert_true(vint(cap, "count") == 3 && vint(cap, "limit") == 3);
    json_decref(row);

    size_t n = 0;
    const struct compliance_cap_rule *const *gb = compliance_cap_ruleset("gb", &n);
    assert_non_null(gb);
    struct compliance_cap_result l = { .outcome = COMPLIANCE_CAP_BLOCKED,
                                       .rule = gb[0],
                                       .next_eligible_us = LATE + 72 * 3600 * S,
                                       .event_us = LATE };
    assert_int_equal(compliance_decision_from_caps("+442079460123", &l, LATE, &d), 0);
    assert_int_equal(compliance_record_json(7, 70, 702, "+442079460123", &d, LATE, &row), 0);
    assert_string_equal(vstr(row, "rule"), "cap.gb_72h_after_abandon");
    assert_string_equal(vstr(json_object_get(row, "data_versions"), "cap_event"), "abandon");
    cap = json_object_get(json_object_get(row, "trace"), "cap");
    assert_string_equal(vstr(cap, "event_at"), "2026-06-10T01:30:00.000Z");
    json_decref(row);

    struct compliance_cap_result u = { .outcome = COMPLIANCE_CAP_UNAVAILABLE };
    assert_int_equal(compliance_decision_from_caps("+13055550100", &u, LATE, &d), 0);
    assert_int_equal(compliance_record_json(7, 70, 701, "+13055550100", &d, LATE, &row), 0);
    assert_string_equal(vstr(row, "rule"), "cap.unavailable");
    assert_true(vint(row, "next_us") == 0);
    json_decref(row);
}

/* A pool that never connects: the recorder keeps its rows queued. */
struct fx {
    struct ev_loop *loop;
    struct db_pool *pool;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(db_pool_create(f->loop,
                                    "host=/nonexistent port=1 dbname=none connect_timeout=1", 1,
                                    NULL, &f->pool),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    db_pool_destroy(f->pool);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

static void window_block(struct compliance_decision *d, int64_t now)
{
    const struct compliance_campaign cp = { .allow_stale_list = 1 };
    assert_int_equal(compliance_decide_local(NULL, &cp, "+12125550100", NULL, now, d), 0);
    assert_int_equal(d->reason, COMPLIANCE_REASON_WINDOW);
}

static void test_recorder_one_row_per_streak(void **state)
{
    struct fx *f = *state;
    struct compliance_recorder *r = NULL;
    struct compliance_decision d;
    assert_int_equal(compliance_recorder_create(f->pool, 0, &r), 0);
    /* leased again every 5 seconds for an hour of the night: one row */
    int queued = 0;
    for (int i = 0; i < 720; i++) {
        int64_t now = LATE + (int64_t)i * 5 * S;
        window_block(&d, now);
        int rc = compliance_recorder_add(r, 7, 70, 700, "+12125550100", &d, now);
        assert_true(rc == 0 || rc == 1);
        queued += rc;
    }
    assert_int_equal(queued, 1);
    assert_int_equal(compliance_recorder_pending(r), 1);
    /* another contact with the same number and rule: its own row */
    window_block(&d, LATE);
    assert_int_equal(compliance_recorder_add(r, 7, 70, 701, "+12125550100", &d, LATE), 1);
    /* a new next eligible moment (the campaign window): a new row */
    assert_int_equal(compliance_decision_campaign_window("+12125550100", NULL, LATE,
                                                         NEXT_MORNING + 3600 * S, &d),
                     0);
    assert_int_equal(compliance_recorder_add(r, 7, 70, 700, "+12125550100", &d, LATE), 1);
    assert_int_equal(compliance_recorder_add(r, 7, 70, 700, "+12125550100", &d, LATE + S), 0);
    /* the contact was dialed: the next skip starts a new streak */
    compliance_recorder_forget(r, 700);
    assert_int_equal(compliance_recorder_add(r, 7, 70, 700, "+12125550100", &d, LATE + 2 * S), 1);
    assert_int_equal(compliance_recorder_pending(r), 4);
    /* the cap store away for minutes: no next moment, one row */
    struct compliance_cap_result u = { .outcome = COMPLIANCE_CAP_UNAVAILABLE };
    queued = 0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(compliance_decision_from_caps("+12125550100", &u, LATE + i * 60 * S, &d),
                         0);
        queued += compliance_recorder_add(r, 7, 70, 700, "+12125550100", &d, LATE + i * 60 * S);
    }
    assert_int_equal(queued, 1);
    /* an allowed decision is not a record */
    d.verdict = COMPLIANCE_ALLOW;
    assert_int_equal(compliance_recorder_add(r, 7, 70, 700, "+12125550100", &d, LATE), ERR_INVAL);
    compliance_recorder_destroy(r);
}

static void test_recorder_bounded_queue(void **state)
{
    struct fx *f = *state;
    struct compliance_recorder *r = NULL;
    struct compliance_decision d;
    assert_int_equal(compliance_recorder_create(f->pool, 3, &r), 0);
    window_block(&d, LATE);
    for (int64_t c = 1; c <= 3; c++) {
        assert_int_equal(compliance_recorder_add(r, 7, 70, c, "+12125550100", &d, LATE), 1);
    }
    assert_int_equal(compliance_recorder_add(r, 7, 70, 4, "+12125550100", &d, LATE), ERR_TOOBIG);
    assert_int_equal(compliance_recorder_pending(r), 3);
    /* the dropped contact is not taken as recorded: it is tried again */
    assert_int_equal(compliance_recorder_add(r, 7, 70, 4, "+12125550100", &d, LATE), ERR_TOOBIG);
    compliance_recorder_destroy(r);
    assert_int_equal(compliance_recorder_create(NULL, 0, &r), ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_legal_window_row),
        cmocka_unit_test(test_record_campaign_window_zone),
        cmocka_unit_test(test_record_cap_rows),
        cmocka_unit_test_setup_teardown(test_recorder_one_row_per_streak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recorder_bounded_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
