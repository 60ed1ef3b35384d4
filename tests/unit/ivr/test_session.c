/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ivr/session.c: the interpreter against a fake channel on
 * the injected clock (core/clock's fake time; no sleeps). Covers the
 * collect timer rules of IVR-FLOWS.md 5.1 including the jambonz issues of
 * section 6 (#1306 overall timeout cutting off a typing caller, #534 the
 * inter-digit timer overruling the overall one, #1348 each digit extending
 * the wait, #597 the timeout without min_digits), barge-in, type-ahead,
 * retries with separate counters, masking, hang-up in every node type,
 * runtime guards, branch comparisons and time conditions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "ivr/ivr.h"

#define T0 (INT64_C(1767607200) * 1000000) /* 2026-01-05T10:00:00Z, a Monday */

struct fake {
    json_t *ops;   /* "say:Hi", "play:sound:x", "stop", "record", "transfer:100", "hangup:16" */
    json_t *steps; /* "node:event_out" */
    uint64_t play_op, rec_op, xfer_op;
    char rec_name[200];
    int ends, http_cancels;
    struct ivr_end end;
    char last_node[64];
    struct ivr_session *s;
    bool destroy_in_end;
    void *http_handle;
    ivr_http_done_cb *http_cb;
    void *http_arg;
    char hdr[200];   /* the first header of the last request */
    json_t *records; /* when set: {"node", "vars", "actions"} of each step record */
};

static struct fake F;

static void op(const char *kind, const char *arg)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s%s%s", kind, arg ? ":" : "", arg ? arg : "");
    json_array_append_new(F.ops, json_string(buf));
}

static int f_play(void *ctx, uint64_t o, const char *const *media, size_t n, const char *lang)
{
    (void)ctx;
    (void)n;
    (void)lang;
    F.play_op = o;
    op("play", media[0]);
    return 0;
}

static int f_say(void *ctx, uint64_t o, const char *text, const char *lang, const char *voice)
{
    (void)ctx;
    (void)lang;
    (void)voice;
    F.play_op = o;
    op("say", text);
    return 0;
}

static int f_stop(void *ctx, uint64_t o)
{
    (void)ctx;
    (void)o;
    op("stop", NULL);
    return 0;
}

static int f_record(void *ctx, uint64_t o, const struct ivr_record_params *p)
{
    (void)ctx;
    F.rec_op = o;
    snprintf(F.rec_name, sizeof(F.rec_name), "%s", p->name);
    op("record", p->terminate);
    return 0;
}

static int f_stop_record(void *ctx, uint64_t o)
{
    (void)ctx;
    (void)o;
    op("stop_record", NULL);
    return 0;
}

static int f_transfer(void *ctx, uint64_t o, enum ivr_transfer_mode mode, const char *target,
                      int ring, const char *cid)
{
    (void)ctx;
    (void)mode;
    (void)ring;
    (void)cid;
    F.xfer_op = o;
    op("transfer", target);
    return 0;
}

static int f_hangup(void *ctx, int cause)
{
    char b[16];
    (void)ctx;
    snprintf(b, sizeof(b), "%d", cause);
    op("hangup", b);
    return 0;
}

static const struct ivr_channel_ops fops = { f_play,        f_say,      f_stop,   f_record,
                                             f_stop_record, f_transfer, f_hangup, NULL };

static int h_start(void *ctx, const struct ivr_http_req *rq, ivr_http_done_cb *cb, void *arg,
                   void **handle)
{
    (void)ctx;
    op("http", rq->url);
    snprintf(F.hdr, sizeof(F.hdr), "%s", rq->nheaders > 0 ? rq->headers[0] : "");
    F.http_cb = cb;
    F.http_arg = arg;
    F.http_handle = &F;
    *handle = &F;
    return 0;
}

static void h_cancel(void *ctx, void *handle)
{
    (void)ctx;
    assert_ptr_equal(handle, &F);
    F.http_cancels++;
    F.http_cb = NULL;
}

static const struct ivr_http_ops fhttp = { h_start, h_cancel };

static void on_step(void *arg, const struct ivr_step *st)
{
    char buf[160];
    (void)arg;
    snprintf(buf, sizeof(buf), "%s:%s", st->node, st->event_out ? st->event_out : "-");
    json_array_append_new(F.steps, json_string(buf));
    if (F.records != NULL) {
        json_array_append_new(F.records, json_pack("{s:s,s:O,s:O}", "node", st->node, "vars",
                                                   st->vars, "actions", st->actions));
    }
    json_t *v = json_object_get(st->vars, "nodes.card.digits");
    if (v != NULL) {
        assert_string_equal(json_string_value(v), "***");
    }
}

static void on_end(void *arg, const struct ivr_end *e)
{
    (void)arg;
    F.ends++;
    F.end = *e;
    snprintf(F.last_node, sizeof(F.last_node), "%s", e->last_node ? e->last_node : "");
    if (F.destroy_in_end) {
        ivr_session_destroy(F.s);
        F.s = NULL;
    }
}

static struct ivr_flow *load(const char *src)
{
    char *t = strdup(src);
    for (char *p = t; *p; p++) {
        *p = *p == '\'' ? '"' : *p;
    }
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    int rc = ivr_flow_load(t, strlen(t), NULL, &f, &r);
    if (rc != 0) {
        for (size_t i = 0; i < ivr_report_count(r); i++) {
            print_error("%s %s\n", ivr_report_get(r, i)->path, ivr_report_get(r, i)->message);
        }
    }
    assert_int_equal(rc, 0);
    ivr_report_free(r);
    free(t);
    return f;
}

static void begin(const char *src, json_t *vars)
{
    memset(&F, 0, sizeof(F));
    F.ops = json_array();
    F.steps = json_array();
    clock_set_fake(T0);
    struct ivr_flow *f = load(src);
    struct ivr_session_config cfg = {
        .ops = &fops, .http = &fhttp, .on_step = on_step, .on_end = on_end
    };
    F.s = ivr_session_create(f, &cfg, vars);
    assert_non_null(F.s);
    ivr_flow_unref(f);
    ivr_session_start(F.s, "inbound", NULL);
}

static void end_test(void)
{
    ivr_session_destroy(F.s);
    json_decref(F.ops);
    json_decref(F.steps);
    clock_clear_fake();
}

static void advance_ms(int64_t ms)
{
    clock_advance(ms * 1000);
    if (F.s != NULL) {
        ivr_session_poll(F.s);
    }
}

static void played(void)
{
    struct ivr_event ev = { .type = IVR_EV_PLAYBACK_DONE, .op = F.play_op };
    ivr_session_event(F.s, &ev);
}

static void key(char d)
{
    struct ivr_event ev = { .type = IVR_EV_DTMF, .digit = d };
    ivr_session_event(F.s, &ev);
}

static void keys(const char *ds, int64_t gap_ms)
{
    for (const char *p = ds; *p; p++) {
        key(*p);
        if (p[1] && gap_ms) {
            advance_ms(gap_ms);
        }
    }
}

static void hangup(void)
{
    struct ivr_event ev = { .type = IVR_EV_HANGUP, .cause = 16 };
    ivr_session_event(F.s, &ev);
}

static const char *step(size_t i)
{
    return json_string_value(json_array_get(F.steps, i));
}

static bool has_step(const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach (F.steps, i, v) {
        if (strcmp(json_string_value(v), s) == 0) {
            return true;
        }
    }
    return false;
}

static size_t count_ops(const char *prefix)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach (F.ops, i, v) {
        n += strncmp(json_string_value(v), prefix, strlen(prefix)) == 0;
    }
    return n;
}

static const char *digits_of(const char *node)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(ivr_session_vars(F.s), "nodes"), node), "digits"));
}

#define FLOW(settings, nodes)                                                                 \
    "{'format':'ivrflow/1','start':'s','settings':{" settings "},'nodes':{"                   \
    "'s':{'type':'start','next':{'next':'a'}}," nodes ",'ok':{'type':'hangup','props':{"      \
    "'disposition':'ok'}},'no':{'type':'hangup','props':{'disposition':'no'}},'bad':{'type':" \
    "'hangup','props':{'disposition':'bad'}}}}"

#define COLLECT(props)                                                      \
    "'a':{'type':'collect','props':{'prompt':[{'say':'Enter'}]," props "}," \
    "'next':{'input':'ok','noinput':'no','nomatch':'bad'}}"

/* ---------------------------------------------------------------------- */

static void test_session_first_digit_timer_starts_after_prompt(void **state)
{
    (void)state;
    begin(FLOW("", COLLECT("'max_digits':4,'max_noinput':0")), NULL);
    advance_ms(10000); /* a long prompt: no timer runs yet */
    assert_int_equal(F.ends, 0);
    played();
    advance_ms(4999);
    assert_int_equal(F.ends, 0);
    advance_ms(1);
    assert_int_equal(F.ends, 1);
    assert_string_equal(step(1), "a:noinput");
    assert_string_equal(F.end.disposition, "no");
    end_test();
}

static void test_session_overall_timeout_never_cuts_off_typing(void **state)
{
    (void)state;
    /* jambonz #1306 and #534: the overall timer expires mid-entry; the inter-digit timer decides.
     */
    begin(FLOW("", COLLECT("'max_digits':10,'max_duration_ms':6000,'inter_digit_timeout_ms':3000")),
          NULL);
    played();
    advance_ms(4000);
    keys("1234", 1000); /* digits at 4, 5, 6 (overall expires here), 7 s */
    assert_int_equal(F.ends, 0);
    advance_ms(2999);
    assert_int_equal(F.ends, 0);
    advance_ms(1);
    assert_int_equal(F.ends, 1);
    assert_string_equal(step(1), "a:input");
    assert_string_equal(digits_of("a"), "1234");
    end_test();
}

static void test_session_each_digit_extends_the_wait(void **state)
{
    (void)state;
    /* jambonz #1348: a slow but steady caller is never timed out. */
    begin(FLOW("", COLLECT("'max_digits':8,'inter_digit_timeout_ms':3000,'finish_on_key':''")),
          NULL);
    played();
    advance_ms(4500);
    keys("13572468", 2900);
    assert_int_equal(F.ends, 1); /* max_digits reached: completes at once */
    assert_string_equal(digits_of("a"), "13572468");
    end_test();
}

static void test_session_timeout_without_min_digits(void **state)
{
    (void)state;
    /* jambonz #597: the no-input timeout applies with the default min_digits. */
    begin(FLOW("", COLLECT("'max_digits':4,'max_noinput':0,'first_digit_timeout_ms':2000")), NULL);
    played();
    advance_ms(2000);
    assert_string_equal(step(1), "a:noinput");
    end_test();
}

static void test_session_finish_key_and_max_digits(void **state)
{
    (void)state;
    begin(FLOW("", COLLECT("'max_digits':6,'min_digits':2")), NULL);
    played();
    keys("42#", 100);
    assert_string_equal(step(1), "a:input");
    assert_string_equal(digits_of("a"), "42"); /* the finish key is not part of the input */
    assert_true(json_is_true(
        json_object_get(json_object_get(json_object_get(ivr_session_vars(F.s), "nodes"), "a"),
                        "terminator_pressed")));
    end_test();
    /* A terminator alone is no input. */
    begin(FLOW("", COLLECT("'max_digits':6,'max_noinput':0")), NULL);
    played();
    key('#');
    assert_string_equal(step(1), "a:noinput");
    end_test();
}

static void test_session_menu_prefix_waits_inter_digit(void **state)
{
    (void)state;
    const char *menu = FLOW(
        "", "'a':{'type':'collect','props':{'prompt':[{'say':'Menu'}],'choices':['1','12','3']},"
            "'next':{'choice:1':'ok','choice:12':'no','choice:3':'bad','noinput':'bad','nomatch':'"
            "bad'}}");
    begin(menu, NULL);
    played();
    key('1');
    assert_int_equal(F.ends, 0); /* could still become 12 */
    advance_ms(2999);
    assert_int_equal(F.ends, 0);
    advance_ms(1);
    assert_string_equal(step(1), "a:choice:1");
    end_test();
    begin(menu, NULL);
    played();
    keys("12", 500);
    assert_string_equal(step(1), "a:choice:12");
    end_test();
    begin(menu, NULL);
    played();
    key('3'); /* unambiguous: no wait */
    assert_string_equal(step(1), "a:choice:3");
    end_test();
}

static void test_session_barge_in_drops_queued_prompts(void **state)
{
    (void)state;
    begin(FLOW("", "'a':{'type':'collect','props':{'prompt':[{'say':'One'},{'say':'Two'},{'play':'"
                   "sound:three'}],"
                   "'max_digits':2},'next':{'input':'ok','noinput':'no','nomatch':'bad'}}"),
          NULL);
    uint64_t first = F.play_op;
    key('7');
    assert_int_equal(count_ops("stop"), 1);
    struct ivr_event stale = { .type = IVR_EV_PLAYBACK_DONE, .op = first };
    ivr_session_event(F.s, &stale); /* the stopped playback finishing changes nothing */
    key('8');
    assert_string_equal(step(1), "a:input");
    assert_string_equal(digits_of("a"), "78");
    assert_int_equal(count_ops("say:Two"), 0);
    assert_int_equal(count_ops("play:sound:three"), 0);
    end_test();
}

static void test_session_no_barge_in_buffers_or_ignores(void **state)
{
    (void)state;
    begin(FLOW("", COLLECT("'max_digits':3,'barge_in':false")), NULL);
    keys("12", 100); /* during the disclosure */
    assert_int_equal(count_ops("stop"), 0);
    assert_int_equal(F.ends, 0);
    played();
    key('3');
    assert_string_equal(digits_of("a"), "123");
    end_test();
    begin(FLOW("",
               COLLECT("'max_digits':3,'barge_in':false,'during_prompt':'ignore','max_noinput':0")),
          NULL);
    keys("12", 100);
    played();
    advance_ms(5000);
    assert_string_equal(step(1), "a:noinput");
    end_test();
}

static void test_session_type_ahead_into_collect(void **state)
{
    (void)state;
    const char *src =
        FLOW("", "'a':{'type':'say','props':{'text':'Welcome','barge_in':true},'next':{'done':'m','"
                 "interrupted':'m'}},"
                 "'m':{'type':'collect','props':{'prompt':[{'say':'Menu'}],'choices':['1','2'],'"
                 "flush_before':false},"
                 "'next':{'choice:1':'ok','choice:2':'no','noinput':'bad','nomatch':'bad'}}");
    begin(src, NULL);
    key('2');
    assert_string_equal(step(1), "a:interrupted");
    assert_string_equal(step(2), "m:choice:2");
    assert_int_equal(count_ops("say:Menu"), 0); /* the caller was ahead of the menu */
    end_test();
}

static void test_session_separate_retry_counters(void **state)
{
    (void)state;
    begin(FLOW("", "'a':{'type':'collect','props':{'prompt':[{'say':'Main'}],'choices':['1'],'max_"
                   "noinput':1,'max_nomatch':1,"
                   "'noinput_prompts':[{'say':'Nothing?'}],'nomatch_prompts':[{'say':'Wrong.'}]},"
                   "'next':{'choice:1':'ok','noinput':'no','nomatch':'bad'}}"),
          NULL);
    played();
    advance_ms(5000); /* no input 1: retry */
    assert_int_equal(count_ops("say:Nothing?"), 1);
    played();
    played(); /* retry prompt, then the main prompt again */
    key('9'); /* no match 1: retry; the no-input counter is separate */
    assert_int_equal(count_ops("say:Wrong."), 1);
    played();
    played();
    advance_ms(5000); /* no input 2: exhausted */
    assert_string_equal(step(1), "a:noinput");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(ivr_session_vars(F.s), "nodes"), "a"), "attempts")),
        3);
    assert_int_equal(count_ops("say:Main"), 3);
    end_test();
}

static void test_session_masked_input_never_in_step_log(void **state)
{
    (void)state;
    begin(FLOW("", "'a':{'type':'collect','props':{'prompt':[{'say':'Card'}],'max_digits':16,'mask'"
                   ":true,'save_as':'card'},"
                   "'next':{'input':'r','noinput':'no','nomatch':'bad'}},"
                   "'r':{'type':'say','props':{'text':'Ending {{flow.card | "
                   "last4}}'},'next':{'done':'ok'}},"
                   "'card':{'type':'wait','props':{'duration_ms':100},'next':{'next':'ok'}}"),
          NULL);
    played();
    keys("4111111111111234", 50);
    assert_int_equal(count_ops("say:Ending 1234"), 1);
    end_test();
}

static void test_session_hangup_in_every_waiting_node(void **state)
{
    (void)state;

    static const struct {
        const char *node;
        const char *type_props;
    } cases[] = {
        { "play", "'type':'play','props':{'media':['sound:x']},'next':{'done':'ok'}" },
        { "say", "'type':'say','props':{'text':'x'},'next':{'done':'ok'}" },
        { "collect", "'type':'collect','props':{'max_digits':4},'next':{'input':'ok','noinput':'ok'"
                     ",'nomatch':'ok'}" },
        { "api_call", "'type':'api_call','props':{'url':'https://x.example/"
                      "'},'next':{'success':'ok','error':'ok','timeout':'ok'}" },
        { "transfer",
          "'type':'transfer','props':{'target':{'type':'extension','value':'100'},'mode':'bridge'},"
          "'next':{'completed':'ok','busy':'ok','no_answer':'ok','failed':'ok'}" },
        { "voicemail", "'type':'voicemail','props':{},'next':{'recorded':'ok','no_audio':'ok'}" },
        { "wait", "'type':'wait','props':{'duration_ms':5000},'next':{'next':'ok'}" },
        { "hangup", "'type':'hangup','props':{'final_prompt':[{'say':'Bye'}]}" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[1024];
        snprintf(src, sizeof(src), FLOW("", "'a':{%s}"), cases[i].type_props);
        begin(src, NULL);
        if (strcmp(cases[i].node, "collect") == 0) {
            key('5');
        }
        if (strcmp(cases[i].node, "voicemail") == 0) {
            assert_int_equal(count_ops("record"), 1);
        }
        size_t nops = json_array_size(F.ops);
        hangup();
        if (F.ends != 1 || F.end.reason != IVR_END_HANGUP) {
            print_error("%s: ends=%d reason=%d\n", cases[i].node, F.ends, F.end.reason);
            fail();
        }
        assert_string_equal(F.last_node, "a");
        assert_int_equal(ivr_session_deadline(F.s), INT64_MAX); /* timers stopped */
        if (strcmp(cases[i].node, "api_call") == 0) {
            assert_int_equal(F.http_cancels, 1);
        }
        /* Nothing more reaches the dead channel: no media, no second hang-up. */
        played();
        key('1');
        advance_ms(60000);
        assert_int_equal(json_array_size(F.ops), nops);
        assert_int_equal(F.ends, 1);
        if (strcmp(cases[i].node, "collect") == 0) {
            assert_string_equal(
                json_string_value(json_object_get(
                    json_object_get(json_object_get(ivr_session_vars(F.s), "nodes"), "a"),
                    "partial")),
                "5");
        }
        end_test();
    }
}

static void test_session_hangup_handler_runs_data_steps_only(void **state)
{
    (void)state;
    begin(FLOW("'on_hangup':'h'", "'a':{'type':'say','props':{'text':'x'},'next':{'done':'ok'}},"
                                  "'h':{'type':'set_variable','props':{'assign':[{'name':'left','"
                                  "value':'{{call.trigger}}'}]},'next':{'next':'post'}},"
                                  "'post':{'type':'api_call','props':{'url':'https://x.example/"
                                  "hangup'},'next':{'success':'ok','error':'ok','timeout':'ok'}}"),
          NULL);
    hangup();
    assert_int_equal(F.ends, 0); /* the report request is in flight */
    assert_int_equal(count_ops("http:https://x.example/hangup"), 1);
    F.http_cb(F.http_arg, 0, 204, "", 0, "");
    assert_int_equal(F.ends, 1);
    assert_int_equal(F.end.reason, IVR_END_HANGUP);
    assert_int_equal(count_ops("hangup"), 0); /* the channel is gone: no DELETE */
    assert_true(has_step("a:hangup"));
    assert_true(has_step("post:success"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ivr_session_vars(F.s), "flow"), "left")),
        "inbound");
    end_test();
}

static void test_session_voicemail_hangup_keeps_recording(void **state)
{
    (void)state;
    begin(FLOW("", "'a':{'type':'voicemail','props':{'greeting':[{'say':'Speak'}]},'next':{'"
                   "recorded':'ok','no_audio':'no','hangup':'h'}},"
                   "'h':{'type':'set_variable','props':{'assign':[{'name':'vm','value':'{{nodes.a."
                   "recording}}'}]},'next':{'next':'ok'}}"),
          NULL);
    played();
    assert_int_equal(count_ops("record:#"), 1);
    hangup();
    assert_true(has_step("a:hangup"));
    assert_true(has_step("h:next"));
    assert_int_equal(F.end.reason, IVR_END_HANGUP);
    end_test();
    /* Recorded normally, and too short. */
    begin(FLOW("", "'a':{'type':'voicemail','props':{'min_length_s':2},'next':{'recorded':'ok','no_"
                   "audio':'no'}}"),
          NULL);
    struct ivr_event ev = { .type = IVR_EV_RECORD_DONE, .op = F.rec_op, .duration_s = 1 };
    ivr_session_event(F.s, &ev);
    assert_string_equal(step(1), "a:no_audio");
    end_test();
}

/*
 * The recording's name is the call's own: two callers at the same voicemail
 * step never share one (Asterisk would refuse the second while the first
 * records, and overwrite a stored message). Unsafe characters become '_'.
 */
static void test_session_voicemail_names_are_per_call(void **state)
{
    const char *src = FLOW("", "'a':{'type':'voicemail','props':{},'next':{'recorded':'ok','no_"
                               "audio':'no'}}");
    char first[200];
    json_t *vars;
    (void)state;
    vars = json_pack("{s:{s:s}}", "call", "channel", "1767607200.41");
    begin(src, vars);
    json_decref(vars);
    snprintf(first, sizeof(first), "%s", F.rec_name);
    assert_string_equal(first, "vm-1767607200.41-a-1");
    end_test();
    vars = json_pack("{s:{s:s}}", "call", "channel", "1767607200.42");
    begin(src, vars);
    json_decref(vars);
    assert_string_not_equal(F.rec_name, first);
    end_test();
    vars = json_pack("{s:{s:s}}", "call", "channel", "../x y;z");
    begin(src, vars);
    json_decref(vars);
    assert_string_equal(F.rec_name, "vm-.._x_y_z-a-1");
    end_test();
    begin(src, NULL); /* no channel known: the step and the operation only */
    assert_string_equal(F.rec_name, "vm-a-1");
    end_test();
}

static void test_session_transfer_outcomes(void **state)
{
    (void)state;
    const char *bridge =
        FLOW("", "'a':{'type':'transfer','props':{'target':{'type':'pstn','value':'{{contact.agent}"
                 "}'},'mode':'bridge'},"
                 "'next':{'completed':'ok','busy':'no','no_answer':'no','failed':'bad'}}");
    json_t *vars = json_pack("{s:{s:s}}", "contact", "agent", "+14155550100");
    begin(bridge, vars);
    assert_int_equal(count_ops("transfer:+14155550100"), 1);
    struct ivr_event ev = { .type = IVR_EV_TRANSFER, .op = F.xfer_op, .outcome = IVR_XFER_BUSY };
    ivr_session_event(F.s, &ev);
    assert_string_equal(step(1), "a:busy");
    end_test();
    begin(FLOW("", "'a':{'type':'transfer','props':{'target':{'type':'extension','value':'200'}},'"
                   "next':{'failed':'bad'}}"),
          vars);
    struct ivr_event ok = { .type = IVR_EV_TRANSFER,
                            .op = F.xfer_op,
                            .outcome = IVR_XFER_TRANSFERRED };
    ivr_session_event(F.s, &ok);
    assert_int_equal(F.end.reason, IVR_END_TRANSFERRED);
    end_test();
    json_decref(vars);
}

static void test_session_runtime_guards(void **state)
{
    (void)state;
    /* Same node ten times in a row. */
    begin(FLOW("", "'a':{'type':'collect','props':{'choices':['1','2']},'next':{'choice:1':'a','"
                   "choice:2':'ok','noinput':'no','nomatch':'bad'}}"),
          NULL);
    for (int i = 0; i < 12 && F.ends == 0; i++) {
        key('1');
    }
    assert_int_equal(F.end.reason, IVR_END_LOOP);
    end_test();
    /* Step budget. */
    begin(FLOW("'limits':{'max_steps':3}",
               "'a':{'type':'say','props':{'text':'1'},'next':{'done':'b'}},"
               "'b':{'type':'say','props':{'text':'2'},'next':{'done':'c'}},"
               "'c':{'type':'say','props':{'text':'3'},'next':{'done':'ok'}}"),
          NULL);
    played();
    played();
    assert_int_equal(F.end.reason, IVR_END_MAX_STEPS);
    end_test();
    /* The same budget with an error handler: the handler gets to apologise first. */
    begin(FLOW("'limits':{'max_steps':3},'on_error':'sorry'",
               "'a':{'type':'say','props':{'text':'1'},'next':{'done':'b'}},"
               "'b':{'type':'say','props':{'text':'2'},'next':{'done':'c'}},"
               "'c':{'type':'say','props':{'text':'3'},'next':{'done':'ok'}},"
               "'sorry':{'type':'say','props':{'text':'Sorry'},'next':{'done':'bad'}}"),
          NULL);
    played();
    played();
    assert_int_equal(count_ops("say:Sorry"), 1);
    played();
    assert_int_equal(F.ends, 1);
    assert_string_equal(F.end.disposition, "bad");
    end_test();
    /* Call duration. */
    begin(FLOW("'limits':{'max_duration_s':2}",
               "'a':{'type':'wait','props':{'duration_ms':60000},'next':{'next':'ok'}}"),
          NULL);
    advance_ms(2000);
    assert_int_equal(F.end.reason, IVR_END_TIMEOUT);
    assert_int_equal(count_ops("hangup:16"), 1);
    end_test();
}

static void test_session_errors_go_to_handler(void **state)
{
    (void)state;
    begin(
        FLOW("'on_error':'sorry'",
             "'a':{'type':'api_call','props':{'url':'https://x.example/'},'next':{'success':'ok'}},"
             "'sorry':{'type':'say','props':{'text':'Sorry'},'next':{'done':'bad'}}"),
        NULL);
    F.http_cb(F.http_arg, ERR_TIMEOUT, 0, "", 0, "timeout");
    assert_string_equal(step(1), "a:timeout");
    assert_int_equal(count_ops("say:Sorry"), 1);
    end_test();
}

static void test_session_branch_typed_and_time(void **state)
{
    (void)state;
    const char *src =
        FLOW("'calendars':{'office':{'tz':'America/"
             "New_York','hours':{'mon':['09:00-17:00']},'holidays':['2026-01-06']}}",
             "'a':{'type':'branch','props':{'routes':["
             "{'id':'num','when':{'left':'{{contact.n}}','op':'gt','right':9,'as':'number'}},"
             "{'id':'open','when':{'op':'business_hours','calendar':'office'}},"
             "{'id':'late','when':{'all':[{'op':'after_time','right':'17:00','tz':'UTC'},{'op':'"
             "weekday_in','right':['mon','tue']}]}}]},"
             "'next':{'route:num':'ok','route:open':'no','route:late':'bad','default':'bad'}}");
    json_t *v10 = json_pack("{s:{s:s}}", "contact", "n", "10");
    json_t *v2 = json_pack("{s:{s:s}}", "contact", "n", "2");
    begin(src, v10); /* "10" > 9 as numbers (as strings it would not be) */
    assert_string_equal(step(1), "a:route:num");
    end_test();
    begin(src, v2); /* Monday 10:00 UTC = 05:00 in New York: closed; not after 17:00 UTC */
    assert_string_equal(step(1), "a:default");
    end_test();
    memset(&F, 0, sizeof(F));
    clock_set_fake(T0 + INT64_C(5) * 3600 * 1000000); /* 15:00 UTC = 10:00 in New York: open */
    F.ops = json_array();
    F.steps = json_array();
    struct ivr_flow *f = load(src);
    struct ivr_session_config cfg = { .ops = &fops, .on_step = on_step, .on_end = on_end };
    F.s = ivr_session_create(f, &cfg, v2);
    ivr_flow_unref(f);
    ivr_session_start(F.s, "inbound", NULL);
    assert_string_equal(step(1), "a:route:open");
    ivr_session_destroy(F.s);
    F.s = NULL;
    json_decref(F.ops);
    json_decref(F.steps);
    json_decref(v10);
    json_decref(v2);
    clock_clear_fake();
}

static void test_session_set_variable_types(void **state)
{
    (void)state;
    json_t *vars = json_pack("{s:{s:s,s:s}}", "contact", "n", "41", "bad", "forty");
    begin(FLOW("", "'a':{'type':'set_variable','props':{'assign':[{'name':'n','value':'{{contact.n}"
                   "}','type':'number'},"
                   "{'name':'flag','value':'yes','type':'bool'},{'name':'obj','value':{'k':'{{"
                   "contact.n}}'}}]},'next':{'next':'b'}},"
                   "'b':{'type':'set_variable','props':{'assign':[{'name':'m','value':'{{contact."
                   "bad}}','type':'number'}]},'next':{'next':'ok','error':'bad'}}"),
          vars);
    json_t *flow = json_object_get(ivr_session_vars(F.s), "flow");
    assert_int_equal(json_integer_value(json_object_get(flow, "n")), 41);
    assert_true(json_is_true(json_object_get(flow, "flag")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(flow, "obj"), "k")),
                        "41");
    assert_string_equal(step(2), "b:error");
    end_test();
    json_decref(vars);
}

static void test_session_destroy_from_on_end(void **state)
{
    (void)state;
    begin(FLOW("", "'a':{'type':'say','props':{'text':'x'},'next':{'done':'ok'}}"), NULL);
    F.destroy_in_end = true;
    played();
    assert_int_equal(F.ends, 1);
    assert_null(F.s);
    end_test();
}

/* Subflows: the child for the resolver below, and what each step record carried. */
static struct ivr_flow *g_child;
static unsigned g_seqs[32];
static json_t *g_outs; /* the vars of the subflow step's record after the return */
static size_t g_nrec;

static struct ivr_flow *resolve_child(const char *flow_id, int revision, void *arg)
{
    (void)revision, (void)arg;
    return strcmp(flow_id, "child") == 0 ? ivr_flow_ref(g_child) : NULL;
}

static void sub_step(void *arg, const struct ivr_step *st)
{
    on_step(arg, st);
    if (g_nrec < 32) {
        g_seqs[g_nrec++] = st->seq;
    }
    if (strcmp(st->node, "sf") == 0 && st->event_in != NULL &&
        strcmp(st->event_in, "return") == 0) {
        json_decref(g_outs);
        g_outs = json_deep_copy(st->vars);
    }
}

static void run_subflow(const char *child)
{
    memset(&F, 0, sizeof(F));
    F.ops = json_array();
    F.steps = json_array();
    g_nrec = 0;
    clock_set_fake(T0);
    g_child = load(child);
    struct ivr_flow *f =
        load("{'format':'ivrflow/1','start':'s','variables':{'out':{'type':'string','default':''}},"
             "'nodes':{'s':{'type':'start','next':{'next':'sf'}},"
             "'sf':{'type':'subflow','props':{'flow_id':'child','inputs':{'who':'Ann'},"
             "'outputs':{'out':'{{flow.res}}'}},'next':{'completed':'bye','failed':'ko'}},"
             "'bye':{'type':'hangup','props':{'disposition':'done'}},"
             "'ko':{'type':'hangup','props':{'disposition':'failed'}}}}");
    struct ivr_session_config cfg = {
        .ops = &fops, .subflow = resolve_child, .on_step = sub_step, .on_end = on_end
    };
    F.s = ivr_session_create(f, &cfg, NULL);
    assert_non_null(F.s);
    ivr_flow_unref(f);
    ivr_session_start(F.s, "inbound", NULL);
}

static void end_subflow(void)
{
    ivr_flow_unref(g_child);
    g_child = NULL;
    json_decref(g_outs);
    g_outs = NULL;
    end_test();
}

/*
 * Each record of a run through a subflow has its own number (the records
 * are keyed by it), and the return step records the outputs as its changes,
 * masked when the child collects masked input.
 */
static void test_session_subflow_records(void **state)
{
    (void)state;
    run_subflow("{'format':'ivrflow/1','start':'s','variables':{'who':{'type':'string','default':"
                "''},'res':{'type':'string','default':''}},'nodes':{"
                "'s':{'type':'start','next':{'next':'v'}},"
                "'v':{'type':'set_variable','props':{'assign':[{'name':'res','value':'hi "
                "{{flow.who}}'}]},'next':{'next':'r'}},"
                "'r':{'type':'return','props':{'exit':'completed'}}}}");
    assert_int_equal(F.ends, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ivr_session_vars(F.s), "flow"), "out")),
        "hi Ann");
    assert_int_equal(g_nrec, 7); /* s, sf (enter), child s, v, r, sf (return), bye */
    for (size_t i = 0; i < g_nrec; i++) {
        assert_int_equal(g_seqs[i], i + 1);
    }
    assert_string_equal(step(1), "sf:enter");
    assert_string_equal(step(5), "sf:completed");
    assert_non_null(g_outs);
    assert_string_equal(json_string_value(json_object_get(g_outs, "flow.out")), "hi Ann");
    end_subflow();

    run_subflow("{'format':'ivrflow/1','start':'s','variables':{'who':{'type':'string','default':"
                "''},'res':{'type':'string','default':''}},'nodes':{"
                "'s':{'type':'start','next':{'next':'c'}},"
                "'c':{'type':'collect','props':{'prompt':[{'play':'sound:pin'}],'max_digits':4,"
                "'mask':true,'save_as':'res'},'next':{'input':'r','noinput':'r','nomatch':'r'}},"
                "'r':{'type':'return','props':{'exit':'completed'}}}}");
    played();
    keys("4321", 100);
    assert_int_equal(F.ends, 1);
    /* The parent has the value; only the record masks it. */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ivr_session_vars(F.s), "flow"), "out")),
        "4321");
    assert_non_null(g_outs);
    assert_string_equal(json_string_value(json_object_get(g_outs, "flow.out")), "***");
    end_subflow();
}

/* ---------------------------------------------------------------------- */
/* Variables: compact groups read and written as before                    */
/* ---------------------------------------------------------------------- */

static const char *var_str(const char *path)
{
    static char buf[200];
    json_t *v = ivr_session_var(F.s, path);
    snprintf(buf, sizeof(buf), "%s", json_is_string(v) ? json_string_value(v) : "(none)");
    json_decref(v);
    return buf;
}

/*
 * A contact field and a call field read in speech, sys.* from the clock in
 * the flow's zone, a contact field written (the others stay readable), a
 * flow variable with a default overwritten twice, and what the step records
 * carry for each.
 */
static void test_session_variables_read_and_written(void **state)
{
    (void)state;
    json_t *vars = json_pack("{s:{s:s,s:s},s:{s:s,s:s,s:i},s:{s:s}}", "call", "campaign", "Spring",
                             "channel", "ch-1", "contact", "first_name", "Ada", "last_name",
                             "Lovelace", "visits", 3, "secrets", "token", "s3cr3t");
    const char *src =
        "{'format':'ivrflow/1','start':'s','settings':{'tz':'America/New_York'},"
        "'variables':{'greet':{'type':'string','default':'hello'}},'nodes':{"
        "'s':{'type':'start','next':{'next':'a'}},"
        "'a':{'type':'say','props':{'text':'{{flow.greet}} {{contact.first_name}} from "
        "{{call.campaign}} ({{call.trigger}}) at {{sys.time}} {{sys.weekday}} {{sys.tz}}'},"
        "'next':{'done':'v'}},"
        "'v':{'type':'set_variable','props':{'assign':[{'name':'contact.first_name','value':'Bea'},"
        "{'name':'greet','value':'hi'},{'name':'greet','value':'{{flow.greet}}!'},"
        "{'name':'n','value':'{{contact.visits}}','type':'number'}]},'next':{'next':'b'}},"
        "'b':{'type':'say','props':{'text':'{{flow.greet}} {{contact.first_name}} "
        "{{contact.last_name}} {{flow.n}}'},'next':{'done':'ok'}},"
        "'ok':{'type':'hangup','props':{'disposition':'ok'}}}}";
    memset(&F, 0, sizeof(F));
    F.ops = json_array();
    F.steps = json_array();
    F.records = json_array();
    clock_set_fake(T0 + INT64_C(90) * 60 * 1000000); /* 11:30 UTC: 06:30 in New York */
    struct ivr_flow *f = load(src);
    struct ivr_session_config cfg = { .ops = &fops, .on_step = on_step, .on_end = on_end };
    F.s = ivr_session_create(f, &cfg, vars);
    json_decref(vars); /* the session keeps its own copy */
    ivr_flow_unref(f);
    ivr_session_start(F.s, "inbound", NULL);
    assert_string_equal(json_string_value(json_array_get(F.ops, 0)),
                        "say:hello Ada from Spring (inbound) at 06:30 mon America/New_York");
    clock_advance(INT64_C(60) * 1000000);
    played();
    assert_string_equal(json_string_value(json_array_get(F.ops, 1)), "say:hi! Bea Lovelace 3");
    assert_string_equal(var_str("contact.first_name"), "Bea");
    assert_string_equal(var_str("contact.last_name"), "Lovelace");
    assert_string_equal(var_str("call.campaign"), "Spring");
    assert_string_equal(var_str("call.trigger"), "inbound");
    assert_string_equal(var_str("sys.time"), "06:31");
    assert_string_equal(var_str("flow.greet"), "hi!");
    assert_null(ivr_session_var(F.s, "secrets.token"));
    assert_null(ivr_session_var(F.s, "contact.nosuch"));
    json_t *all = ivr_session_var(F.s, "contact");
    assert_int_equal(json_object_size(all), 3);
    json_decref(all);
    json_t *call = ivr_session_var(F.s, "call");
    assert_string_equal(json_string_value(json_object_get(call, "channel")), "ch-1");
    json_decref(call);
    /* The records: the set step's changes (last value of each), nothing for the says. */
    json_t *rv = json_object_get(json_array_get(F.records, 2), "vars");
    assert_string_equal(json_string_value(json_object_get(json_array_get(F.records, 2), "node")),
                        "v");
    assert_int_equal(json_object_size(rv), 3);
    assert_string_equal(json_string_value(json_object_get(rv, "contact.first_name")), "Bea");
    assert_string_equal(json_string_value(json_object_get(rv, "flow.greet")), "hi!");
    assert_int_equal(json_integer_value(json_object_get(rv, "flow.n")), 3);
    json_t *r1 = json_array_get(F.records, 1);
    assert_int_equal(json_object_size(json_object_get(r1, "vars")), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r1, "actions"), 0)),
                        "say: hello Ada from Spring (inbound) at 06:30 mon America/New_York");
    played();
    assert_int_equal(F.ends, 1);
    json_decref(F.records);
    end_test();
}

/* call.amd_result routes the start node; secrets render in an api_call header, nowhere else. */
static void test_session_amd_and_secret_header(void **state)
{
    (void)state;
    json_t *vars =
        json_pack("{s:{s:s},s:{s:s}}", "contact", "id", "c 42", "secrets", "token", "s3cr3t");
    const char *src =
        "{'format':'ivrflow/1','start':'s','nodes':{"
        "'s':{'type':'start','next':{'next':'ok','human':'ok','machine':'a'}},"
        "'a':{'type':'api_call','props':{'url':'https://x.example/{{contact.id | urlencode}}/"
        "{{call.amd_result}}','headers':{'X-Token':'{{secrets.token}}'}},"
        "'next':{'success':'ok','error':'ok','timeout':'ok'}},"
        "'ok':{'type':'hangup','props':{'disposition':'ok'}}}}";
    memset(&F, 0, sizeof(F));
    F.ops = json_array();
    F.steps = json_array();
    F.records = json_array();
    clock_set_fake(T0);
    struct ivr_flow *f = load(src);
    struct ivr_session_config cfg = {
        .ops = &fops, .http = &fhttp, .on_step = on_step, .on_end = on_end
    };
    F.s = ivr_session_create(f, &cfg, vars);
    ivr_flow_unref(f);
    ivr_session_start(F.s, "outbound_answered", "machine");
    assert_string_equal(step(0), "s:machine");
    assert_string_equal(json_string_value(json_array_get(F.ops, 0)),
                        "http:https://x.example/c%2042/machine");
    assert_string_equal(F.hdr, "X-Token: s3cr3t");
    assert_string_equal(var_str("call.amd_result"), "machine");
    assert_string_equal(var_str("call.trigger"), "outbound_answered");
    F.http_cb(F.http_arg, 0, 200, "{}", 2, NULL);
    assert_int_equal(F.ends, 1);
    /* The secret is in no record. */
    char *dump = json_dumps(F.records, JSON_COMPACT);
    assert_null(strstr(dump, "s3cr3t"));
    free(dump);
    json_decref(F.records);
    json_decref(vars);
    end_test();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_first_digit_timer_starts_after_prompt),
        cmocka_unit_test(test_session_overall_timeout_never_cuts_off_typing),
        cmocka_unit_test(test_session_each_digit_extends_the_wait),
        cmocka_unit_test(test_session_timeout_without_min_digits),
        cmocka_unit_test(test_session_finish_key_and_max_digits),
        cmocka_unit_test(test_session_menu_prefix_waits_inter_digit),
        cmocka_unit_test(test_session_barge_in_drops_queued_prompts),
        cmocka_unit_test(test_session_no_barge_in_buffers_or_ignores),
        cmocka_unit_test(test_session_type_ahead_into_collect),
        cmocka_unit_test(test_session_separate_retry_counters),
        cmocka_unit_test(test_session_masked_input_never_in_step_log),
        cmocka_unit_test(test_session_hangup_in_every_waiting_node),
        cmocka_unit_test(test_session_hangup_handler_runs_data_steps_only),
        cmocka_unit_test(test_session_voicemail_hangup_keeps_recording),
        cmocka_unit_test(test_session_voicemail_names_are_per_call),
        cmocka_unit_test(test_session_transfer_outcomes),
        cmocka_unit_test(test_session_runtime_guards),
        cmocka_unit_test(test_session_errors_go_to_handler),
        cmocka_unit_test(test_session_branch_typed_and_time),
        cmocka_unit_test(test_session_set_variable_types),
        cmocka_unit_test(test_session_destroy_from_on_end),
        cmocka_unit_test(test_session_subflow_records),
        cmocka_unit_test(test_session_variables_read_and_written),
        cmocka_unit_test(test_session_amd_and_secret_header),
    };
    return cmocka_run_group_tests_name("ivr_session", tests, NULL, NULL);
}
