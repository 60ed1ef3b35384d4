/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/gate.c: the in-memory part of the scheduler's
 * question (validity, DNC, list age, window) and its audit record. */
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
#include "core/err.h"

#define S   INT64_C(1000000)
#define DAY (86400 * S)
/* 2026-06-10T16:00:00Z: 12:00 in New York and Miami (a Wednesday) */
#define NOON (INT64_C(1781107200) * S)
/* 2026-06-10T01:30:00Z: 21:30 EDT the evening before */
#define LATE (INT64_C(1781055000) * S)

struct fx {
    struct compliance_dnc *d;
    struct compliance_campaign cp;
};

static void publish_national(struct compliance_dnc *d, int64_t list_date)
{
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info li;
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_NATIONAL;
    li.list_id = 1;
    snprintf(li.name, sizeof(li.name), "%s", "FTC national registry");
    snprintf(li.country, sizeof(li.country), "%s", "US");
    li.list_date_us = list_date;
    li.max_age_days = 31;
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    assert_int_equal(compliance_dnc_builder_add(b, "+12125550100", 12), 0);
    assert_int_equal(compliance_dnc_publish(d, &li, b, 0), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_int_equal(compliance_dnc_create(&f->d), 0);
    f->cp.tenant_id = 7;
    f->cp.campaign_id = 70;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    compliance_dnc_destroy(f->d);
    free(f);
    return 0;
}

static void test_gate_invalid_number(void **state)
{
    struct fx *f = *state;
    struct compliance_decision d;
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "212-555-0100", NULL, NOON, &d), 0);
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_int_equal(d.reason, COMPLIANCE_REASON_INVALID_NUMBER);
    assert_int_equal(d.next_eligible_us, 0);
    json_t *o = NULL;
    assert_int_equal(compliance_decision_audit_json("212-555-0100", &d, NOON, &o), 0);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "invalid-number");
    json_decref(o);
}

/* No national list: a US number is refused, unless the campaign accepts it. */
static void test_gate_missing_and_stale_list(void **state)
{
    struct fx *f = *state;
    struct compliance_decision d;
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550101", NULL, NOON, &d), 0);
    assert_int_equal(d.reason, COMPLIANCE_REASON_DNC_LIST_MISSING);
    assert_string_equal(d.rule_id, "dnc-list-missing");
    /* a UK number needs no US list */
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+442079460000", NULL, NOON, &d), 0);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);

    publish_national(f->d, NOON - 31 * DAY); /* stale exactly now */
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550101", NULL, NOON, &d), 0);
    assert_int_equal(d.reason, COMPLIANCE_REASON_DNC_LIST_STALE);
    assert_int_equal(d.list_age.state, COMPLIANCE_LIST_STALE);
    f->cp.allow_stale_list = 1;
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550101", NULL, NOON, &d), 0);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
    f->cp.allow_stale_list = 0;

    publish_national(f->d, NOON - 25 * DAY); /* within the warning days: still dials */
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550101", NULL, NOON, &d), 0);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
    assert_int_equal(d.list_age.state, COMPLIANCE_LIST_WARNING);
}

/* DNC before the window: the list is named, waiting does not help. */
static void test_gate_dnc_named(void **state)
{
    struct fx *f = *state;
    struct compliance_decision d;
    struct compliance_dnc_list_info ten;
    json_t *o = NULL;
    publish_national(f->d, NOON - DAY);
    memset(&ten, 0, sizeof(ten));
    ten.scope = COMPLIANCE_DNC_TENANT;
    ten.tenant_id = 7;
    snprintf(ten.name, sizeof(ten.name), "%s", "internal");
    assert_int_equal(compliance_dnc_apply(f->d, &ten, 1, "+13055550101", NULL), 0);

    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+12125550100", NULL, LATE, &d), 0);
    assert_int_equal(d.reason, COMPLIANCE_REASON_DNC);
    assert_string_equal(d.rule_id, "dnc-national");
    assert_int_equal(d.next_eligible_us, 0);
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550101", NULL, NOON, &d), 0);
    assert_int_equal(d.reason, COMPLIANCE_REASON_DNC);
    assert_string_equal(d.rule_id, "dnc-tenant");
    assert_int_equal(compliance_decision_audit_json("+13055550101", &d, NOON, &o), 0);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "block");
    assert_string_equal(json_string_value(json_object_get(o, "number")), "+1305*****01");
    json_t *dnc = json_object_get(o, "dnc");
    assert_string_equal(json_string_value(json_object_get(dnc, "scope")), "tenant");
    assert_string_equal(json_string_value(json_object_get(dnc, "list")), "internal");
    assert_true(json_is_null(json_object_get(o, "next_eligible")));
    json_decref(o);
    /* another tenant's campaign is not blocked by it */
    f->cp.tenant_id = 8;
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550101", NULL, NOON, &d), 0);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
}

/* The window decides with its rule and next moment; allowed names the hours rule. */
static void test_gate_window(void **state)
{
    struct fx *f = *state;
    struct compliance_decision d;
    json_t *o = NULL;
    publish_national(f->d, NOON - DAY);
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550102", NULL, LATE, &d), 0);
    assert_int_equal(d.reason, COMPLIANCE_REASON_WINDOW);
    assert_string_equal(d.rule_id, "us-fl-hours");
    assert_int_equal(d.next_eligible_us, INT64_C(1781092800) * S); /* 08:00 EDT */
    assert_int_equal(compliance_decision_audit_json("+13055550102", &d, LATE, &o), 0);
    assert_string_equal(json_string_value(json_object_get(o, "next_eligible")),
                        "2026-06-10T12:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "window");
    json_decref(o);
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550102", NULL, NOON, &d), 0);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
    assert_string_equal(d.rule_id, "us-fl-hours");
    assert_int_equal(d.next_eligible_us, NOON);
    /* the contact's stored place is used as given */
    struct compliance_place p;
    assert_int_equal(compliance_locate("+12125550123", &p), 0);
    assert_int_equal(compliance_decide_local(f->d, &f->cp, "+13055550102", &p, LATE, &d), 0);
    assert_string_equal(d.rule_id, "us-tcpa-hours");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gate_invalid_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_missing_and_stale_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_dnc_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_window, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
