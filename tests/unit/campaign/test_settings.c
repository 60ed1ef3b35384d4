/* SPDX-License-Identifier: MIT */
/* Unit tests for campaign/settings.c, schedule.c and state.c. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "core/err.h"

#define SEC INT64_C(1000000)

static json_t *doc(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) {
        fail_msg("bad test JSON: %s", e.text);
    }
    return j;
}

/* Parses text expecting failure on field. */
static void expect_error(const char *text, const char *field)
{
    struct campaign_settings s;
    struct campaign_error err = { { 0 }, { 0 } };
    json_t *j = doc(text);
    int rc = campaign_settings_from_json(j, &s, &err);
    json_decref(j);
    if (rc != ERR_INVAL || strcmp(err.field, field) != 0) {
        fail_msg("%s: rc=%d field=%s msg=%s (expected %s)", text, rc, err.field, err.msg, field);
    }
    assert_true(err.msg[0] != '\0');
}

static const char FULL[] =
    "{\"pacing\": {\"mode\": \"predictive\", \"cps\": 20, \"max_channels\": 200,"
    "  \"max_dial_ratio\": 2.5, \"abandon_cap_pct\": 3},"
    " \"ring_time_s\": 30,"
    " \"schedule\": {\"time_zone\": \"America/New_York\", \"contact_time\": false,"
    "  \"start_date\": \"2026-11-01\", \"end_date\": \"2026-12-31\","
    "  \"windows\": [{\"days\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"],"
    "                 \"from\": \"09:00\", \"to\": \"20:00\"}]},"
    " \"caller_id\": {\"number\": \"+12025550100\", \"local_presence\": true,"
    "  \"pool\": [\"+13055550101\", \"+14155550102\", \"+14155550103\", \"+442071838750\"]},"
    " \"trunks\": [{\"name\": \"carrier-a\", \"endpoint\": \"PJSIP/{e164}@carrier-a\", \"cps\": 50,"
    "               \"max_channels\": 300},"
    "              {\"name\": \"local\", \"endpoint\": \"Local/{number}@outbound\"}],"
    " \"retry\": {\"max_attempts\": 5, \"busy\": {\"delay_s\": 900, \"max_attempts\": 4,"
    "             \"max_per_day\": 2}, \"no_answer\": {\"delay_s\": 3600}},"
    " \"amd\": {\"enabled\": true, \"machine_action\": \"flow\", \"flow_id\": 7},"
    " \"alt_numbers\": {\"policy\": \"on_failure\", \"on\": [\"no_answer\", \"failed\"]},"
    " \"callbacks\": {\"enabled\": true, \"max_days\": 10},"
    " \"dispositions\": [\"sale\", \"not_interested\"],"
    " \"safe_harbour\": {\"seller\": \"Acme Energy\", \"callback_number\": \"+12025550199\","
    "  \"media\": \"sound:acme/safe-harbour\"},"
    " \"compliance\": {\"cap_rules\": [\"us-regf\", \"us-3-per-24h\"],"
    "  \"refuse_stale_dnc\": false}}";

static void test_settings_full_document_round_trips(void **state)
{
    struct campaign_settings s, s2;
    struct campaign_error err;
    (void)state;
    json_t *j = doc(FULL);
    assert_int_equal(campaign_settings_from_json(j, &s, &err), 0);
    json_decref(j);
    assert_int_equal(s.pacing, CAMPAIGN_PACING_PREDICTIVE);
    assert_int_equal(s.ring_time_s, 30);
    assert_string_equal(s.time_zone, "America/New_York");
    assert_int_equal(s.nwindows, 1);
    assert_int_equal(s.windows[0].days, 0x3e);
    assert_int_equal(s.windows[0].from_min, 540);
    assert_int_equal(s.windows[0].to_min, 1200);
    assert_int_equal(s.ntrunks, 2);
    assert_int_equal(s.trunks[0].max_channels, 300);
    assert_int_equal(s.retry[CAMPAIGN_RETRY_BUSY].delay_s, 900);
    assert_int_equal(s.retry[CAMPAIGN_RETRY_BUSY].max_per_day, 2);
    assert_int_equal(s.retry[CAMPAIGN_RETRY_NO_ANSWER].delay_s, 3600);
    assert_int_equal(s.machine_action, CAMPAIGN_MACHINE_FLOW);
    assert_int_equal(s.machine_flow_id, 7);
    assert_int_equal(s.ndispositions, 2);
    assert_true(s.harbour);
    assert_string_equal(s.harbour_media, "sound:acme/safe-harbour");
    assert_string_equal(s.harbour_number, "+12025550199");
    /* without a text of its own the spoken fallback names seller and number */
    assert_string_equal(
        s.harbour_text,
        "This call was from Acme Energy. To call us back, dial 1 2 0 2 5 5 5 0 1 9 9.");
    assert_int_equal(s.ncap_sets, 2);
    assert_string_equal(s.cap_sets[0], "us-regf");
    assert_false(s.refuse_stale_dnc);

    json_t *out = campaign_settings_to_json(&s);
    assert_non_null(out);
    assert_int_equal(campaign_settings_from_json(out, &s2, &err), 0);
    json_decref(out);
    assert_memory_equal(&s, &s2, sizeof(s));
}

static void test_settings_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("{\"ring_time_s\": 10}", "ring_time_s");
    expect_error("{\"ring_time\": 20}", "ring_time");
    expect_error("{\"pacing\": {\"mode\": \"turbo\"}}", "pacing.mode");
    expect_error("{\"pacing\": {\"mode\": \"fixed\"}}", "pacing.cps");
    expect_error("{\"schedule\": {\"time_zone\": \"Mars/Olympus\"}}", "schedule.time_zone");
    expect_error("{\"schedule\": {\"windows\": [{\"from\": \"09:00\", \"to\": \"08:00\"}]}}",
                 "schedule.windows[0].to");
    expect_error("{\"schedule\": {\"windows\": [{\"days\": [\"mon\", \"funday\"], \"from\": "
                 "\"09:00\", \"to\": \"10:00\"}]}}",
                 "schedule.windows[0].days[1]");
    expect_error("{\"schedule\": {\"start_date\": \"2026-02-30\"}}", "schedule.start_date");
    expect_error("{\"schedule\": {\"start_date\": \"2026-03-01\", \"end_date\": \"2026-02-01\"}}",
                 "schedule.end_date");
    expect_error("{\"caller_id\": {\"pool\": [\"+12025550100\", \"12345\"]}}", "caller_id.pool[1]");
    expect_error("{\"caller_id\": {\"local_presence\": true}}", "caller_id.pool");
    expect_error("{\"trunks\": [{\"name\": \"a\", \"endpoint\": \"PJSIP/{e164}@a;x=1\"}]}",
                 "trunks[0].endpoint");
    expect_error("{\"trunks\": [{\"name\": \"a\", \"endpoint\": \"PJSIP/${EXTEN}@a\"}]}",
                 "trunks[0].endpoint");
    expect_error("{\"trunks\": [{\"name\": \"a\", \"endpoint\": \"PJSIP/{e164}@a\"},"
                 " {\"name\": \"a\", \"endpoint\": \"PJSIP/{e164}@b\"}]}",
                 "trunks[1].name");
    expect_error("{\"retry\": {\"busy\": {\"delay_s\": 0}}}", "retry.busy.delay_s");
    expect_error("{\"retry\": {\"rejected\": {\"delay_s\": 30}}}", "retry.rejected.delay_s");
    expect_error("{\"retry\": {\"max_attempts\": 2, \"failed\": {\"max_attempts\": 3}}}",
                 "retry.failed.max_attempts");
    expect_error("{\"amd\": {\"machine_action\": \"flow\"}}", "amd.flow_id");
    expect_error("{\"alt_numbers\": {\"on\": [\"human\"]}}", "alt_numbers.on[0]");
    expect_error("{\"dispositions\": [\"Sale!\"]}", "dispositions[0]");
    expect_error("[]", "");
    /* a predictive campaign calling North America needs its own message */
    expect_error("{\"pacing\": {\"mode\": \"predictive\"},"
                 " \"caller_id\": {\"number\": \"+12025550100\"}}",
                 "safe_harbour");
    expect_error("{\"pacing\": {\"mode\": \"predictive\"},"
                 " \"compliance\": {\"cap_rules\": [\"us-regf\"]}}",
                 "safe_harbour");
    expect_error("{\"safe_harbour\": {\"callback_number\": \"+12025550199\"}}",
                 "safe_harbour.seller");
    expect_error("{\"safe_harbour\": {\"seller\": \"Acme\"}}", "safe_harbour.callback_number");
    expect_error("{\"safe_harbour\": {\"seller\": \"Acme\", \"callback_number\": \"555\"}}",
                 "safe_harbour.callback_number");
    expect_error("{\"safe_harbour\": {\"seller\": \"Acme\", \"callback_number\": \"+12025550199\","
                 " \"media\": \"http://evil/x.wav\"}}",
                 "safe_harbour.media");
    expect_error("{\"safe_harbour\": {\"seller\": \"Acme\", \"callback_number\": \"+12025550199\","
                 " \"media\": \"sound:../../etc/passwd\"}}",
                 "safe_harbour.media");
    expect_error("{\"safe_harbour\": {\"seller\": \"Acme\", \"callback_number\": \"+12025550199\","
                 " \"text\": \"Hello, call us.\"}}",
                 "safe_harbour.text");
    expect_error("{\"safe_harbour\": {\"seller\": \"Acme\", \"callback_number\": \"+12025550199\","
                 " \"color\": \"red\"}}",
                 "safe_harbour.color");
    expect_error("{\"compliance\": {\"cap_rules\": [\"us-regf\", \"de\"]}}",
                 "compliance.cap_rules[1]");
    expect_error("{\"compliance\": {\"cap_rules\": [\"fr\", \"fr\"]}}", "compliance.cap_rules[1]");
    expect_error("{\"compliance\": {\"cap_rules\": \"us-regf\"}}", "compliance.cap_rules");
    expect_error("{\"compliance\": {\"refuse_stale_dnc\": \"no\"}}", "compliance.refuse_stale_dnc");
}

static void test_settings_safe_harbour_text(void **state)
{
    struct campaign_settings s;
    struct campaign_error err;
    (void)state;
    /* the operator's own words, with the number as people write it */
    json_t *j =
        doc("{\"pacing\": {\"mode\": \"predictive\"},"
            " \"caller_id\": {\"number\": \"+12025550100\"},"
            " \"safe_harbour\": {\"seller\": \"Acme\", \"callback_number\": \"+12025550199\","
            "  \"text\": \"Sorry we missed you. Acme calling, reach us at (202) 555-0199.\"}}");
    assert_int_equal(campaign_settings_from_json(j, &s, &err), 0);
    json_decref(j);
    assert_true(s.harbour);
    assert_string_equal(s.harbour_media, "");
    assert_string_equal(s.harbour_text,
                        "Sorry we missed you. Acme calling, reach us at (202) 555-0199.");
    /* predictive outside North America without a message: accepted */
    j = doc("{\"pacing\": {\"mode\": \"predictive\"},"
            " \"caller_id\": {\"number\": \"+442071838750\"}}");
    assert_int_equal(campaign_settings_from_json(j, &s, &err), 0);
    json_decref(j);
    assert_false(s.harbour);
    assert_int_equal(s.ncap_sets, 0);
}

static void test_settings_endpoint_render_is_safe(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(
        campaign_endpoint_render("PJSIP/{e164}@carrier", "+14155550123", out, sizeof(out)), 0);
    assert_string_equal(out, "PJSIP/+14155550123@carrier");
    assert_int_equal(
        campaign_endpoint_render("Local/{number}@ctx", "+14155550123", out, sizeof(out)), 0);
    assert_string_equal(out, "Local/14155550123@ctx");
    /* numbers that would change the dial string never get through */
    assert_int_equal(campaign_endpoint_render("PJSIP/{e164}@c", "+1415&PJSIP/x", out, sizeof(out)),
                     ERR_INVAL);
    assert_int_equal(campaign_endpoint_render("PJSIP/{e164}@c", "+1415555,0123", out, sizeof(out)),
                     ERR_INVAL);
    assert_int_equal(campaign_endpoint_render("PJSIP/{e164}@c", "14155550123", out, sizeof(out)),
                     ERR_INVAL);
    assert_int_equal(campaign_endpoint_render("PJSIP/{e164}@c", "+14155550123", out, 10),
                     ERR_TOOBIG);
    assert_int_equal(campaign_endpoint_template_check("PJSIP/{name}@c"), ERR_INVAL);
    assert_int_equal(campaign_endpoint_template_check("PJSIP/carrier"), ERR_INVAL);
}

static void test_settings_caller_id_local_presence(void **state)
{
    struct campaign_settings s;
    char out[CAMPAIGN_E164_MAX + 1], again[CAMPAIGN_E164_MAX + 1];
    (void)state;
    json_t *j = doc(FULL);
    assert_int_equal(campaign_settings_from_json(j, &s, NULL), 0);
    json_decref(j);
    /* same area code */
    assert_int_equal(campaign_caller_id_pick(&s, "+13055559999", out), 0);
    assert_string_equal(out, "+13055550101");
    /* two numbers in 415: stable per callee, both used across callees */
    int seen103 = 0, seen102 = 0;
    for (int i = 0; i < 40; i++) {
        char callee[32];
        snprintf(callee, sizeof(callee), "+141555500%02d", i);
        assert_int_equal(campaign_caller_id_pick(&s, callee, out), 0);
        assert_int_equal(campaign_caller_id_pick(&s, callee, again), 0);
        assert_string_equal(out, again);
        seen102 += strcmp(out, "+14155550102") == 0;
        seen103 += strcmp(out, "+14155550103") == 0;
    }
    assert_int_equal(seen102 + seen103, 40);
    assert_true(seen102 > 0 && seen103 > 0);
    /* same country, other area code: a pool number of the country */
    assert_int_equal(campaign_caller_id_pick(&s, "+447700900123", out), 0);
    assert_string_equal(out, "+442071838750");
    /* nothing local: the fixed number */
    assert_int_equal(campaign_caller_id_pick(&s, "+33612345678", out), 0);
    assert_string_equal(out, "+12025550100");
    struct campaign_settings none;
    campaign_settings_default(&none);
    assert_int_equal(campaign_caller_id_pick(&none, "+33612345678", out), ERR_NOTFOUND);
}

static void test_settings_retry_policy(void **state)
{
    struct campaign_settings s;
    struct campaign_retry_decision d;
    const int64_t now = 1795878000 * SEC;
    (void)state;
    json_t *j = doc(FULL);
    assert_int_equal(campaign_settings_from_json(j, &s, NULL), 0);
    json_decref(j);
    /* busy: after its delay, same trunk (never an immediate failover) */
    campaign_retry_decide(&s, CAMPAIGN_RETRY_BUSY, 1, 1, 0, 0, now, &d);
    assert_true(d.retry);
    assert_true(d.same_trunk);
    assert_int_equal(d.at_us, now + 900 * SEC);
    /* busy twice today: not before tomorrow */
    campaign_retry_decide(&s, CAMPAIGN_RETRY_BUSY, 2, 2, 0, 0, now, &d);
    assert_true(d.retry);
    assert_true(d.at_us >= now + 86400 * SEC);
    /* the class's max attempts */
    campaign_retry_decide(&s, CAMPAIGN_RETRY_BUSY, 4, 1, 0, 0, now, &d);
    assert_false(d.retry);
    /* rejected (603) by default: one attempt, then final */
    campaign_retry_decide(&s, CAMPAIGN_RETRY_REJECTED, 1, 1, 0, 0, now, &d);
    assert_false(d.retry);
    /* failed may fail over; no answer moves to the next alternate number */
    campaign_retry_decide(&s, CAMPAIGN_RETRY_FAILED, 1, 1, 0, 2, now, &d);
    assert_true(d.retry);
    assert_false(d.same_trunk);
    assert_int_equal(d.next_number, 1);
    campaign_retry_decide(&s, CAMPAIGN_RETRY_MACHINE, 1, 1, 0, 2, now, &d);
    assert_int_equal(d.next_number, 0);
    /* human: done */
    campaign_retry_decide(&s, campaign_retry_class_of("human"), 1, 1, 0, 0, now, &d);
    assert_false(d.retry);
    assert_int_equal(campaign_retry_class_of("rejected"), CAMPAIGN_RETRY_REJECTED);
    assert_int_equal(campaign_retry_class_of("congestion"), CAMPAIGN_RETRY_FAILED);
}

static void test_settings_callbacks(void **state)
{
    struct campaign_settings s;
    struct campaign_error err;
    const int64_t now = 1795878000 * SEC;
    (void)state;
    campaign_settings_default(&s);
    assert_true(s.refuse_stale_dnc); /* a stale national list stops dialing unless said otherwise */
    assert_int_equal(campaign_callback_check(&s, now, now + 3600 * SEC, &err), ERR_FORBIDDEN);
    s.callbacks = true;
    assert_int_equal(campaign_callback_check(&s, now, now + 3600 * SEC, &err), 0);
    assert_int_equal(campaign_callback_check(&s, now, now - SEC, &err), ERR_RANGE);
    assert_string_equal(err.field, "callback_at");
    assert_int_equal(campaign_callback_check(&s, now, now + 31 * 86400 * SEC, &err), ERR_RANGE);
}

static void test_schedule_next_opening(void **state)
{
    struct campaign_settings s;
    int64_t next = 0;
    (void)state;
    json_t *j = doc(FULL);
    assert_int_equal(campaign_settings_from_json(j, &s, NULL), 0);
    json_decref(j);
    /* Saturday 2026-11-28 10:00 EST: closed; opens Monday 09:00 EST = 14:00 UTC */
    assert_int_equal(campaign_schedule_check(&s, NULL, 1795878000 * SEC, &next), 0);
    assert_int_equal(next, 1796047200 * SEC);
    /* Monday 10:00 EST: open */
    assert_int_equal(campaign_schedule_check(&s, NULL, 1796050800 * SEC, &next), 1);
    /* after end_date: never */
    s.end_date = s.start_date + 10;
    assert_int_equal(campaign_schedule_check(&s, NULL, 1796050800 * SEC, &next), 0);
    assert_true(next == INT64_MAX);
}

static void test_schedule_across_dst_change(void **state)
{
    struct campaign_settings s;
    int64_t next = 0;
    (void)state;
    json_t *j = doc("{\"schedule\": {\"time_zone\": \"America/New_York\", \"contact_time\": true,"
                    " \"windows\": [{\"from\": \"09:00\", \"to\": \"20:00\"}]}}");
    assert_int_equal(campaign_settings_from_json(j, &s, NULL), 0);
    json_decref(j);
    /* Sat 2026-10-31 23:00 EDT; clocks go back at 02:00; opens 09:00 EST = 14:00 UTC */
    assert_int_equal(campaign_schedule_check(&s, NULL, 1793502000 * SEC, &next), 0);
    assert_int_equal(next, 1793541600 * SEC);
    /* the contact's own zone: 03:00 UTC is 20:00 in Los Angeles: closed until 16:00 UTC */
    assert_int_equal(campaign_schedule_check(&s, "America/Los_Angeles", 1793502000 * SEC, &next),
                     0);
    assert_int_equal(next, (1793541600 + 3 * 3600) * SEC);
    assert_int_equal(campaign_schedule_check(&s, "Nowhere/Land", 1793502000 * SEC, &next),
                     ERR_NOTFOUND);
    /* the defaults: every day, all day, UTC */
    campaign_settings_default(&s);
    assert_int_equal(campaign_schedule_check(&s, NULL, 1793502000 * SEC, &next), 1);
    assert_int_equal(campaign_schedule_check(&s, "Asia/Tokyo", 1793502000 * SEC, &next), 1);
}

static void test_state_table(void **state)
{
    (void)state;
    assert_true(campaign_state_allowed(CAMPAIGN_DRAFT, CAMPAIGN_SCHEDULED));
    assert_true(campaign_state_allowed(CAMPAIGN_RUNNING, CAMPAIGN_PAUSED));
    assert_true(campaign_state_allowed(CAMPAIGN_PAUSED, CAMPAIGN_RUNNING));
    assert_true(campaign_state_allowed(CAMPAIGN_RUNNING, CAMPAIGN_STOPPED));
    assert_false(campaign_state_allowed(CAMPAIGN_DRAFT, CAMPAIGN_PAUSED));
    assert_false(campaign_state_allowed(CAMPAIGN_COMPLETED, CAMPAIGN_RUNNING));
    assert_false(campaign_state_allowed(CAMPAIGN_STOPPED, CAMPAIGN_DRAFT));
    assert_false(campaign_state_allowed(CAMPAIGN_RUNNING, CAMPAIGN_RUNNING));
    assert_int_equal(campaign_state_parse("paused"), CAMPAIGN_PAUSED);
    assert_int_equal(campaign_state_parse("PAUSED"), -1);
    assert_string_equal(campaign_state_name(CAMPAIGN_STOPPED), "stopped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_full_document_round_trips),
        cmocka_unit_test(test_settings_errors_name_the_field),
        cmocka_unit_test(test_settings_safe_harbour_text),
        cmocka_unit_test(test_settings_endpoint_render_is_safe),
        cmocka_unit_test(test_settings_caller_id_local_presence),
        cmocka_unit_test(test_settings_retry_policy),
        cmocka_unit_test(test_settings_callbacks),
        cmocka_unit_test(test_schedule_next_opening),
        cmocka_unit_test(test_schedule_across_dst_change),
        cmocka_unit_test(test_state_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
