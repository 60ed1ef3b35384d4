/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for compliance_contact_place(): the place a contact row stores
 * (region, time_zones, tz_source) as the dialer and the check route see it.
 * The contact list's own zone or state wins over the area code; the area
 * code decides only when the list gave nothing, and a prefix spanning
 * several zones is dialed only when every one of them allows the call. The
 * decisions go through compliance_decide_local(), the dialer's question.
 * Dates: Tuesday 2026-11-24 and Sunday 2026-11-22, standard time (New York
 * UTC-5, Chicago UTC-6, Los Angeles UTC-8).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/err.h"

#define US_PER_S 1000000LL

/* Epoch microseconds of a November 2026 UTC moment. */
static int64_t nov(int day, int hour, int minute)
{
    /* 2026-11-01T00:00:00Z */
    const int64_t nov1 = 1793491200LL;
    return (nov1 + (int64_t)(day - 1) * 86400 + hour * 3600 + minute * 60) * US_PER_S;
}

/* The dialer's question (no DNC store: the list-age rule is waived). */
static void decide(const char *number, const struct compliance_place *pl, int64_t at,
                   struct compliance_decision *d)
{
    struct compliance_campaign cp = { .tenant_id = 1, .campaign_id = 1, .allow_stale_list = 1 };
    assert_int_equal(compliance_decide_local(NULL, &cp, number, pl, at, d), 0);
}

static const char *decided_zone(const struct compliance_decision *d)
{
    const char *z = compliance_zone_name(d->window.zone);
    return z != NULL ? z : "";
}

static int has_region(const struct compliance_place *p, const char *r)
{
    for (unsigned i = 0; i < p->nregions; i++) {
        if (strcmp(p->regions[i], r) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The date helper itself: 2026-11-24 13:30Z is 8:30 on a Tuesday in New York. */
static void test_dates(void **state)
{
    (void)state;
    struct compliance_local l;
    uint16_t ny;
    assert_int_equal(compliance_zone_id("America/New_York", &ny), 0);
    assert_int_equal(compliance_tz_to_local(ny, nov(24, 13, 30), &l), 0);
    assert_int_equal(l.day, 24);
    assert_int_equal(l.hour, 8);
    assert_int_equal(l.minute, 30);
    assert_int_equal(l.wday, 2);
}

/* Miami area code (8:00-20:00 Eastern), list says California: the list's zone decides. */
static void test_list_zone_outside_window_blocks(void **state)
{
    (void)state;
    struct compliance_place pl;
    struct compliance_decision d;
    const int64_t at = nov(24, 14, 30); /* 9:30 in Miami, 6:30 in Los Angeles */

    decide("+13055550123", NULL, at, &d);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW); /* the area code alone would dial */

    assert_int_equal(
        compliance_contact_place("+13055550123", "US-CA", "America/Los_Angeles", "explicit", &pl),
        0);
    assert_int_equal(pl.source, COMPLIANCE_SOURCE_CONTACT);
    assert_int_equal(pl.nzones, 1);
    assert_string_equal(compliance_zone_name(pl.zones[0]), "America/Los_Angeles");
    assert_true(has_region(&pl, "CA"));
    assert_true(has_region(&pl, "FL")); /* Florida presumes residence from its area codes */
    decide("+13055550123", &pl, at, &d);
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_int_equal(d.reason, COMPLIANCE_REASON_WINDOW);
    assert_string_equal(decided_zone(&d), "America/Los_Angeles");
    assert_int_equal(d.window.local.hour, 6);
    /* next: 8:00 in Los Angeles */
    assert_int_equal(d.next_eligible_us, nov(24, 16, 0));
}

/* Los Angeles area code before 8:00 there, list says New York where it is 8:30: dialed. */
static void test_list_zone_inside_window_dials(void **state)
{
    (void)state;
    struct compliance_place pl;
    struct compliance_decision d;
    const int64_t at = nov(24, 13, 30);

    decide("+12135550123", NULL, at, &d);
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_string_equal(decided_zone(&d), "America/Los_Angeles");

    assert_int_equal(
        compliance_contact_place("+12135550123", "US-NY", "America/New_York", "explicit", &pl), 0);
    assert_false(has_region(&pl, "CA"));
    decide("+12135550123", &pl, at, &d);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
    assert_string_equal(decided_zone(&d), "America/New_York");
}

/* A state given without a zone: its rules and its zones. Florida's 20:00 end applies to a
 * New York number, Alabama's Sunday ban in Chicago time. */
static void test_list_state_rules_apply(void **state)
{
    (void)state;
    struct compliance_place pl;
    struct compliance_decision d;
    const int64_t tue_2030_ny = nov(25, 1, 30);

    decide("+12125550123", NULL, tue_2030_ny, &d);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW); /* federal: until 21:00 */
    assert_int_equal(compliance_contact_place("+12125550123", "FL", "", "explicit", &pl), 0);
    assert_false(has_region(&pl, "NY"));
    decide("+12125550123", &pl, tue_2030_ny, &d);
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_string_equal(d.rule_id, "us-fl-hours");

    const int64_t sun_1500_chicago = nov(22, 21, 0);
    decide("+12125550123", NULL, sun_1500_chicago, &d);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
    assert_int_equal(
        compliance_contact_place("+12125550123", "US-AL", "America/Chicago", "explicit", &pl), 0);
    decide("+12125550123", &pl, sun_1500_chicago, &d);
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_string_equal(d.rule_id, "us-al-sunday");
    assert_string_equal(decided_zone(&d), "America/Chicago");
}

/* Zones the importer derived from the area code (tz_source npa...) are not the list's word:
 * the number dialed is located afresh (it may be an alternate with another area code). */
static void test_area_code_when_list_gave_nothing(void **state)
{
    (void)state;
    static const char *const sources[] = { "npa", "npa_nxx", "country", "", NULL };
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        struct compliance_place pl, want;
        assert_int_equal(compliance_contact_place("+13055550123", "US-CA", "America/Los_Angeles",
                                                  sources[i], &pl),
                         0);
        assert_int_equal(compliance_locate("+13055550123", &want), 0);
        assert_int_equal(pl.source, COMPLIANCE_SOURCE_NPA);
        assert_memory_equal(&pl, &want, sizeof(pl));
    }
    /* the list's default zone counts as the list's word */
    struct compliance_place pl;
    assert_int_equal(compliance_contact_place("+15555550123", NULL, "Europe/Paris", "default", &pl),
                     0);
    assert_int_equal(pl.source, COMPLIANCE_SOURCE_CONTACT);
    assert_string_equal(compliance_zone_name(pl.zones[0]), "Europe/Paris");
}

/* A prefix spanning two zones (689: Chicago and New York), nothing from the list: dialed only
 * when both allow. */
static void test_split_prefix_needs_every_zone(void **state)
{
    (void)state;
    struct compliance_place pl;
    struct compliance_decision d;
    assert_int_equal(compliance_contact_place("+16895550123", "US-FL",
                                              "America/Chicago,America/New_York", "npa", &pl),
                     0);
    assert_int_equal(pl.nzones, 2);
    decide("+16895550123", &pl, nov(24, 13, 30), &d); /* 8:30 New York, 7:30 Chicago */
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_string_equal(decided_zone(&d), "America/Chicago");
    assert_int_equal(d.next_eligible_us, nov(24, 14, 0));
    decide("+16895550123", &pl, nov(24, 14, 0), &d);
    assert_int_equal(d.verdict, COMPLIANCE_ALLOW);
    /* the list's zones, several of them: every one must allow too */
    assert_int_equal(compliance_contact_place("+12125550123", "",
                                              "America/New_York,America/Los_Angeles", "explicit",
                                              &pl),
                     0);
    assert_int_equal(pl.nzones, 2);
    decide("+12125550123", &pl, nov(24, 14, 30), &d);
    assert_int_equal(d.verdict, COMPLIANCE_BLOCK);
    assert_string_equal(decided_zone(&d), "America/Los_Angeles");
}

static void test_bad_input(void **state)
{
    (void)state;
    struct compliance_place pl, want;
    assert_int_equal(compliance_locate("+13055550123", &want), 0);
    assert_int_equal(
        compliance_contact_place("+13055550123", NULL, "Mars/Olympus", "explicit", &pl),
        ERR_NOTFOUND);
    assert_memory_equal(&pl, &want, sizeof(pl)); /* the area code's place */
    assert_int_equal(compliance_contact_place("+13055550123", "US-ZZ", "", "explicit", &pl),
                     ERR_NOTFOUND);
    assert_int_equal(compliance_contact_place("+13055550123", NULL, ",", "explicit", &pl),
                     ERR_NOTFOUND);
    assert_int_equal(compliance_contact_place("12", NULL, NULL, "explicit", &pl), ERR_INVAL);
    assert_int_equal(compliance_contact_place(NULL, NULL, NULL, NULL, &pl), ERR_INVAL);
    assert_int_equal(compliance_contact_place("+13055550123", NULL, NULL, NULL, NULL), ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_list_zone_outside_window_blocks),
        cmocka_unit_test(test_list_zone_inside_window_dials),
        cmocka_unit_test(test_list_state_rules_apply),
        cmocka_unit_test(test_area_code_when_list_gave_nothing),
        cmocka_unit_test(test_split_prefix_needs_every_zone),
        cmocka_unit_test(test_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    compliance_fini();
    return rc;
}
