/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ivr/sim.c and ivr/clone.c: every bundled template is
 * instantiated with its defaults, passes the publish gate, and runs in the
 * simulator along a scripted call whose outcome is checked; then script
 * errors, parameters and hang-up at a node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ivr/ivr.h"

static json_t *load_template(const char *name)
{
    const char *root = getenv("DIALER_ROOT");
    char path[512];
    json_error_t je;
    snprintf(path, sizeof(path), "%s/ivr/templates/%s.json", root ? root : ".", name);
    json_t *t = json_load_file(path, 0, &je);
    if (t == NULL) {
        print_error("%s: %s\n", path, je.text);
        fail();
    }
    return t;
}

static struct ivr_flow *instantiate(const char *name, json_t *params)
{
    json_t *t = load_template(name);
    const char *err;
    json_t *doc = ivr_template_instantiate(t, params, &err);
    if (doc == NULL) {
        print_error("%s: %s\n", name, err);
        fail();
    }
    struct ivr_load_options opt = { .publish = true };
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    int rc = ivr_flow_load_json(doc, &opt, &f, &r);
    for (size_t i = 0; i < ivr_report_count(r); i++) {
        const struct ivr_diag *d = ivr_report_get(r, i);
        print_error("%s: %s %s %s\n", name, d->rule, d->path, d->message);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(ivr_report_count(r), 0); /* templates are clean: no warnings either */
    ivr_report_free(r);
    json_decref(doc);
    json_decref(t);
    return f;
}

struct sim_case {
    const char *tmpl;
    const char *vars;
    const char *script;
    const char *end_reason;
    const char *disposition;
    const char *must_say;  /* a substring of some "say:" action */
    const char *must_step; /* "node:event" */
};

/* clang-format off */
static const struct sim_case cases[] = {
    { "account_inquiry", "{\"secrets\":{\"account_api_token\":\"t\"}}",
      "on account; dtmf 123456#; on pin; dtmf 4321; mock GET https://api.example.com/accounts 200 "
      "{\"balance\": 1250.5, \"transactions\": [{\"description\": \"coffee\"}]}; on menu; dtmf 1; on menu; dtmf 9",
      "completed", "inquiry_done", "Your balance is 1250.5 dollars", "last_tx:done" },
    { "account_inquiry", NULL,
      "on account; dtmf 123456#; on pin; dtmf 4321; mock GET https://api.example.com/accounts 404 {}",
      "transferred", NULL, "could not find that account", "lookup:error" },
    { "appointment_scheduling", "{\"contact\":{\"id\":\"c7\",\"first_name\":\"Ada\"}}",
      "mock GET https://api.example.com/slots 200 {\"slot_id\":\"s1\",\"slot_text\":\"Tuesday at 3 pm\"}; "
      "mock POST https://api.example.com/bookings 201 {}; on menu; dtmf 1; on offer; dtmf 1",
      "completed", "booked", "booked for Tuesday at 3 pm", "book:success" },
    { "appointment_scheduling", "{\"contact\":{\"id\":\"c7\"}}",
      "mock POST https://api.example.com/bookings 200 {}; on menu; dtmf 3",
      "completed", "cancelled", "Hello there", "cancel:success" },
    { "card_activation", "{\"secrets\":{\"card_api_key\":\"k\"}}",
      "on card; dtmf 4111111111111111#; on dob; dtmf 07041990; mock POST https://api.example.com/cards/activate 200 {}",
      "completed", "activated", "card ending in 1111", "activate:success" },
    { "card_activation", NULL,
      "on card; dtmf 4111111111111111#; on dob; dtmf 13451990; wait 2s; dtmf 13451990; wait 2s; dtmf 13451990",
      "transferred", NULL, "date of birth", "dob:nomatch" },
    { "payment_processing", "{\"contact\":{\"amount_due\":\"42.10\",\"account\":\"A1\"},\"call\":{\"channel_id\":\"ch1\"},\"secrets\":{\"payment_api_token\":\"p\"}}",
      "on intro; dtmf 1; on card; dtmf 4111111111111111#; on expiry; dtmf 1229; on cvv; dtmf 123#; "
      "mock POST https://pay.example.com/v1/charges 200 {\"confirmation\":\"XK42\"}",
      "completed", "paid", "balance due is 42.10 dollars", "charge:success" },
    { "payment_processing", "{\"contact\":{\"amount_due\":\"42.10\"}}",
      "on intro; dtmf 1; on card; dtmf 4111111111111111#; on expiry; dtmf 1229; on cvv; dtmf 123#; "
      "mock POST https://pay.example.com/v1/charges 402 {\"error\":\"declined\"}",
      "transferred", NULL, "declined", "charge:error" },
    { "survey_feedback", "{\"contact\":{\"id\":\"c1\"}}",
      "on q1; dtmf 5; on q2; dtmf 9; on q3; dtmf 2; mock POST https://api.example.com/surveys 204",
      "completed", "survey_complete", "how likely", "save:success" },
    { "survey_feedback", "{\"contact\":{\"id\":\"c1\"}}",
      "on q1; dtmf 4; on q2; wait 1s; hangup; mock POST https://api.example.com/surveys 204",
      "hangup", "survey_partial", "how satisfied", "save_partial:success" },
    { "order_status", NULL,
      "on order; dtmf 123456#; mock GET https://api.example.com/orders/123456 200 {\"status_text\":\"shipped\",\"eta\":\"Arriving Friday.\"}; "
      "on menu; dtmf 1; on menu; silence 10s",
      "completed", "status_given", "Your order is shipped. Arriving Friday.", "repeat:continue" },
    { "order_status", NULL, "on order; silence 30s",
      "transferred", NULL, "I did not get that", "order:noinput" },
    { "support_queue", NULL, "clock 2026-11-24T15:00:00Z; transfer completed",
      "completed", "support_done", "Please hold", "to_queue:completed" },
    { "support_queue", NULL, "clock 2026-11-24T15:00:00Z; transfer no_answer; record 20s",
      "completed", "support_done", "agents are busy", "voicemail:recorded" },
    { "support_queue", NULL, "clock 2026-11-28T15:00:00Z; record 1s",
      "completed", "support_done", "office is closed", "voicemail:no_audio" },
    { "support_queue", NULL, "clock 2026-12-25T15:00:00Z",
      "completed", "support_done", "office is closed", "hours:default" },
};

/* clang-format on */

static bool any_action(json_t *log, const char *prefix, const char *needle)
{
    size_t i, k;
    json_t *st, *a;
    json_array_foreach (json_object_get(log, "steps"), i, st) {
        json_array_foreach (json_object_get(st, "actions"), k, a) {
            const char *s = json_string_value(a);
            if (strncmp(s, prefix, strlen(prefix)) == 0 && strstr(s, needle) != NULL) {
                return true;
            }
        }
    }
    return false;
}

static bool any_step(json_t *log, const char *want)
{
    size_t i;
    json_t *st;
    char buf[200];
    json_array_foreach (json_object_get(log, "steps"), i, st) {
        snprintf(buf, sizeof(buf), "%s:%s", json_string_value(json_object_get(st, "node")),
                 json_string_value(json_object_get(st, "event_out")));
        if (strcmp(buf, want) == 0) {
            return true;
        }
    }
    return false;
}

static void test_sim_every_template(void **state)
{
    (void)state;
    bool seen[7] = { false };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sim_case *c = &cases[i];
        struct ivr_flow *f = instantiate(c->tmpl, NULL);
        json_t *vars = c->vars ? json_loads(c->vars, 0, NULL) : NULL;
        json_t *log = NULL;
        char *err = NULL;
        int rc = ivr_sim_run(f, c->script, vars, &log, &err);
        if (rc != 0) {
            print_error("case %zu: %s\n", i, err ? err : "?");
            fail();
        }
        json_t *end = json_object_get(log, "end");
        const char *disp = json_string_value(json_object_get(end, "disposition"));
        bool ok =
            strcmp(json_string_value(json_object_get(end, "reason")), c->end_reason) == 0 &&
            (c->disposition == NULL ? disp == NULL : (disp && strcmp(disp, c->disposition) == 0)) &&
            any_action(log, "say: ", c->must_say) && any_step(log, c->must_step);
        if (!ok) {
            char *d = json_dumps(log, JSON_INDENT(1));
            print_error("case %zu (%s) failed:\n%s\n", i, c->tmpl, d);
            free(d);
            fail();
        }
        /* Secrets and masked digits never show in the step log. */
        char *text = json_dumps(log, JSON_COMPACT);
        assert_null(strstr(text, "4111111111111111"));
        assert_null(strstr(text, "07041990"));
        assert_null(strstr(text, "\"p\""));
        free(text);
        for (int k = 0; ivr_template_names()[k]; k++) {
            seen[k] |= strcmp(ivr_template_names()[k], c->tmpl) == 0;
        }
        free(err);
        json_decref(log);
        json_decref(vars);
        ivr_flow_unref(f);
    }
    for (int k = 0; k < 7; k++) {
        assert_true(seen[k]);
    }
}

static void test_sim_template_parameters(void **state)
{
    (void)state;
    json_t *params = json_pack("{s:s,s:s,s:i}", "company", "Globex", "queue_extension", "4777",
                               "ring_timeout_s", 12);
    struct ivr_flow *f = instantiate("support_queue", params);
    json_t *log = NULL;
    assert_int_equal(
        ivr_sim_run(f, "clock 2026-11-24T15:00:00Z; transfer no_answer", NULL, &log, NULL), 0);
    assert_true(any_action(log, "say: ", "calling Globex support"));
    /* no_answer comes after the ring timeout given as a parameter. */
    json_t *st = json_array_get(json_object_get(log, "steps"), 3);
    assert_string_equal(json_string_value(json_object_get(st, "event_out")), "no_answer");
    assert_int_equal(json_integer_value(json_object_get(st, "end_ms")) -
                         json_integer_value(json_object_get(st, "t_ms")),
                     12000);
    json_decref(log);
    ivr_flow_unref(f);
    json_decref(params);
    /* Bad parameters are refused with a reason. */
    json_t *t = load_template("support_queue");
    const char *err;
    json_t *bad = json_pack("{s:s}", "queue_extension", "sales");
    assert_null(ivr_template_instantiate(t, bad, &err));
    assert_non_null(strstr(err, "digits"));
    json_decref(bad);
    bad = json_pack("{s:s}", "nope", "x");
    assert_null(ivr_template_instantiate(t, bad, &err));
    json_decref(bad);
    json_t *u = load_template("order_status");
    bad = json_pack("{s:s}", "orders_api", "http://internal/orders");
    assert_null(ivr_template_instantiate(u, bad, &err));
    json_decref(bad);
    json_decref(u);
    json_decref(t);
}

static void test_sim_script_errors_name_the_statement(void **state)
{
    (void)state;
    struct ivr_flow *f = instantiate("order_status", NULL);
    static const char *const bad[] = { "dtmf 12x",        "wait soon",      "mock GET",
                                       "fly away",        "transfer maybe", "on",
                                       "clock yesterday", "dtmf 1 gap" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *log = NULL;
        char *err = NULL;
        char script[64];
        snprintf(script, sizeof(script), "on order; %s", bad[i]);
        assert_int_equal(ivr_sim_run(f, script, NULL, &log, &err), ERR_PARSE);
        assert_null(log);
        assert_non_null(err);
        assert_non_null(strstr(err, "statement 2"));
        free(err);
    }
    ivr_flow_unref(f);
}

static void test_sim_hangup_at_node_and_no_mock(void **state)
{
    (void)state;
    struct ivr_flow *f = instantiate("order_status", NULL);
    json_t *log = NULL;
    assert_int_equal(ivr_sim_run(f, "on order; dtmf 55555#; on status; hangup", NULL, &log, NULL),
                     0);
    /* Without a mock the request fails and the flow says so; here it gets the error path. */
    assert_true(any_step(log, "lookup:error"));
    json_decref(log);
    assert_int_equal(
        ivr_sim_run(f,
                    "mock GET https://api.example.com/orders 200 {\"status_text\":\"late\"}; "
                    "on order; dtmf 55555#; on status; hangup",
                    NULL, &log, NULL),
        0);
    json_t *end = json_object_get(log, "end");
    assert_string_equal(json_string_value(json_object_get(end, "reason")), "hangup");
    assert_string_equal(json_string_value(json_object_get(end, "last_node")), "status");
    json_decref(log);
    /* A mock that times out takes the timeout outcome after the node's timeout. */
    assert_int_equal(
        ivr_sim_run(f, "mock GET https://api.example.com/orders timeout; on order; dtmf 55555#",
                    NULL, &log, NULL),
        0);
    assert_true(any_step(log, "lookup:timeout"));
    json_decref(log);
    ivr_flow_unref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_every_template),
        cmocka_unit_test(test_sim_template_parameters),
        cmocka_unit_test(test_sim_script_errors_name_the_statement),
        cmocka_unit_test(test_sim_hangup_at_node_and_no_mock),
    };
    return cmocka_run_group_tests_name("ivr_sim", tests, NULL, NULL);
}
