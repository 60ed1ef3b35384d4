/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ivr/flow.c: the validator, one failing and one passing
 * flow per rule of IVR-FLOWS.md section 8 (table below), the report
 * format, the size limits, and that the property tables agree with
 * ivr/schema/flow.schema.json.
 *
 * Flows in the table are written with single quotes for readability
 * (turned into double quotes before parsing). F(settings, nodes) wraps
 * nodes in a flow whose start step "s" leads to node "a".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ivr/ivr_int.h"

#define F(settings, nodes)                                                                 \
    "{'format':'ivrflow/1','flow_id':'f1','start':'s','settings':{" settings "},'nodes':{" \
    "'s':{'type':'start','next':{'next':'a'}}," nodes ",'bye':{'type':'hangup'}}}"

#define SAY(id, next) "'" id "':{'type':'say','props':{'text':'Hi'},'next':{'done':'" next "'}}"
#define MENU(extra, next)                                                                    \
    "'a':{'type':'collect','props':{'choices':['1','2']" extra "},'next':{'choice:1':'bye'," \
    "'choice:2':'bye','noinput':'bye','nomatch':'bye'" next "}}"
#define API(props, next)                                                                      \
    "'a':{'type':'api_call','props':{'url':'https://x.example/a'" props "},'next':{'success'" \
    ":'bye','error':'bye','timeout':'bye'" next "}}"

struct rule_case {
    const char *rule;
    enum ivr_severity sev;
    bool publish;
    const char *bad;
    const char *good;
};

/* clang-format off */
static const struct rule_case cases[] = {
    /* 1 schema */
    { "json", IVR_SEV_ERROR, false, "{'format':", F("", SAY("a", "bye")) },
    { "format", IVR_SEV_ERROR, false,
      "{'format':'studio','start':'s','nodes':{'s':{'type':'start','next':{'next':'b'}},'b':{'type':'hangup'}}}",
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','next':{'next':'b'}},'b':{'type':'hangup'}}}" },
    { "unknown_property", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':'Hi','colour':'red'},'next':{'done':'bye'}}"), F("", SAY("a", "bye")) },
    { "property_type", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':5},'next':{'done':'bye'}}"), F("", SAY("a", "bye")) },
    { "node_type", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'dance','next':{'done':'bye'}}"), F("", SAY("a", "bye")) },
    /* 2 ids */
    { "node_id", IVR_SEV_ERROR, false,
      F("", SAY("a", "bad id!") "," SAY("bad id!", "bye")), F("", SAY("a", "ok-id_1") "," SAY("ok-id_1", "bye")) },
    { "node_id", IVR_SEV_ERROR, false,
      F("", SAY("a", "__proto__") "," SAY("__proto__", "bye")), F("", SAY("a", "proto") "," SAY("proto", "bye")) },
    /* 3 start */
    { "start", IVR_SEV_ERROR, false,
      "{'format':'ivrflow/1','start':'b','nodes':{'s':{'type':'start','next':{'next':'b'}},'b':{'type':'hangup'}}}",
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','next':{'next':'b'}},'b':{'type':'hangup'}}}" },
    { "start_count", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'start','next':{'next':'bye'}}"), F("", SAY("a", "bye")) },
    /* 4 dangling */
    { "dangling_transition", IVR_SEV_ERROR, false, F("", SAY("a", "nowhere")), F("", SAY("a", "bye")) },
    /* 5 unknown events */
    { "unknown_event", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':'Hi'},'next':{'done':'bye','finished':'bye'}}"),
      F("", "'a':{'type':'say','props':{'text':'Hi'},'next':{'done':'bye','interrupted':'bye'}}") },
    { "unknown_event", IVR_SEV_ERROR, false, F("", MENU("", ",'choice:3':'bye'")), F("", MENU("", "")) },
    /* 6 required outcomes */
    { "outcome_unmapped", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'max_digits':4},'next':{'input':'bye','noinput':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'max_digits':4},'next':{'input':'bye','noinput':'bye','nomatch':'bye'}}") },
    { "outcome_unmapped", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'api_call','props':{'url':'https://x.example/'},'next':{'success':'bye','error':'bye'}}"),
      F("'on_error':'bye'", "'a':{'type':'api_call','props':{'url':'https://x.example/'},'next':{'success':'bye'}}") },
    { "outcome_unmapped", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'transfer','props':{'target':{'type':'extension','value':'100'},'mode':'bridge'},'next':{'failed':'bye','completed':'bye'}}"),
      F("", "'a':{'type':'transfer','props':{'target':{'type':'extension','value':'100'},'mode':'bridge'},'next':{'failed':'bye','completed':'bye','busy':'bye','no_answer':'bye'}}") },
    /* 7 required properties */
    { "required_property", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{},'next':{'done':'bye'}}"), F("", SAY("a", "bye")) },
    { "required_property", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'play','props':{'media':[]},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'play','props':{'media':['sound:hello']},'next':{'done':'bye'}}") },
    /* 8 unreachable: error when publishing */
    { "unreachable_node", IVR_SEV_ERROR, true, F("", SAY("a", "bye") "," SAY("lost", "bye")), F("", SAY("a", "lost") "," SAY("lost", "bye")) },
    { "unreachable_node", IVR_SEV_WARNING, false, F("", SAY("a", "bye") "," SAY("lost", "bye")), F("", SAY("a", "lost") "," SAY("lost", "bye")) },
    /* 9 every path terminates */
    { "no_ending", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'loop','props':{'max':3},'next':{'continue':'v','exhausted':'v'}},"
            "'v':{'type':'set_variable','props':{'assign':[{'name':'x','value':'1'}]},'next':{'next':'a','error':'a'}}"),
      F("", "'a':{'type':'loop','props':{'max':3},'next':{'continue':'v','exhausted':'bye'}},"
            "'v':{'type':'set_variable','props':{'assign':[{'name':'x','value':'1'}]},'next':{'next':'a','error':'a'}}") },
    /* 10 cycles */
    { "cycle_without_input", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'set_variable','props':{'assign':[{'name':'x','value':'1'}]},'next':{'next':'b'}},"
            "'b':{'type':'branch','props':{'routes':[{'id':'r','when':{'left':'{{flow.x}}','op':'eq','right':'1'}}]},'next':{'route:r':'a','default':'bye'}}"),
      F("", "'a':{'type':'set_variable','max_visits':3,'props':{'assign':[{'name':'x','value':'1'}]},'next':{'next':'b'}},"
            "'b':{'type':'branch','props':{'routes':[{'id':'r','when':{'left':'{{flow.x}}','op':'eq','right':'1'}}]},'next':{'route:r':'a','default':'bye'}}") },
    { "unbounded_cycle", IVR_SEV_WARNING, false,
      F("", "'a':{'type':'collect','props':{'choices':['1','2']},'next':{'choice:1':'a','choice:2':'bye','noinput':'bye','nomatch':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'choices':['1','2']},'next':{'choice:1':'l','choice:2':'bye','noinput':'bye','nomatch':'bye'}},"
            "'l':{'type':'loop','props':{'max':3},'next':{'continue':'a','exhausted':'bye'}}") },
    /* 11 handlers */
    { "handler_missing", IVR_SEV_ERROR, false, F("'on_error':'nope'", SAY("a", "bye")), F("'on_error':'bye'", SAY("a", "bye")) },
    { "hangup_handler_media", IVR_SEV_ERROR, false,
      F("'on_hangup':'h'", SAY("a", "bye") "," SAY("h", "bye")),
      F("'on_hangup':'h'", SAY("a", "bye") ",'h':{'type':'set_variable','props':{'assign':[{'name':'x','value':'1'}]},'next':{'next':'bye'}}") },
    { "hangup_handler_cycle", IVR_SEV_ERROR, false,
      F("'on_hangup':'h'", SAY("a", "bye") ",'h':{'type':'loop','props':{'max':2},'next':{'continue':'h','exhausted':'bye'}}"),
      F("'on_hangup':'h'", SAY("a", "bye") ",'h':{'type':'loop','props':{'max':2},'next':{'continue':'bye','exhausted':'bye'}}") },
    /* 12 subflows */
    { "subflow_recursion", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'subflow','props':{'flow_id':'f1'},'next':{'completed':'bye','failed':'bye'}}"),
      F("", "'a':{'type':'subflow','props':{'flow_id':'f2'},'next':{'completed':'bye','failed':'bye'}}") },
    /* 13 collect */
    { "choice_keys", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'choices':['1','x']},'next':{'choice:1':'bye','noinput':'bye','nomatch':'bye'}}"), F("", MENU("", "")) },
    { "choice_duplicate", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'choices':['1','1']},'next':{'choice:1':'bye','noinput':'bye','nomatch':'bye'}}"), F("", MENU("", "")) },
    { "choice_finish_key", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'choices':['1','#']},'next':{'choice:1':'bye','choice:#':'bye','noinput':'bye','nomatch':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'choices':['1','#'],'finish_on_key':''},'next':{'choice:1':'bye','choice:#':'bye','noinput':'bye','nomatch':'bye'}}") },
    { "choice_length", IVR_SEV_ERROR, false, F("", MENU(",'max_digits':1,'min_digits':2", "")), F("", MENU(",'max_digits':1", "")) },
    { "choice_prefix", IVR_SEV_WARNING, false,
      F("", "'a':{'type':'collect','props':{'choices':['1','12']},'next':{'choice:1':'bye','choice:12':'bye','noinput':'bye','nomatch':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'choices':['11','12']},'next':{'choice:11':'bye','choice:12':'bye','noinput':'bye','nomatch':'bye'}}") },
    { "digit_limits", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'max_digits':65},'next':{'input':'bye','noinput':'bye','nomatch':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'max_digits':64},'next':{'input':'bye','noinput':'bye','nomatch':'bye'}}") },
    { "out_of_range", IVR_SEV_ERROR, false, F("", MENU(",'first_digit_timeout_ms':500", "")), F("", MENU(",'first_digit_timeout_ms':8000", "")) },
    { "out_of_range", IVR_SEV_ERROR, false, F("", MENU(",'inter_digit_timeout_ms':16000", "")), F("", MENU(",'inter_digit_timeout_ms':2000", "")) },
    { "out_of_range", IVR_SEV_ERROR, false, F("", MENU(",'max_noinput':6", "")), F("", MENU(",'max_noinput':5", "")) },
    { "regex", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'max_digits':4,'pattern':'(12'},'next':{'input':'bye','noinput':'bye','nomatch':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'max_digits':4,'pattern':'^1[0-9]+$'},'next':{'input':'bye','noinput':'bye','nomatch':'bye'}}") },
    { "masked_in_speech", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'collect','props':{'max_digits':4,'mask':true},'next':{'input':'r','noinput':'bye','nomatch':'bye'}},"
            "'r':{'type':'say','props':{'text':'You entered {{nodes.a.digits}}'},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'collect','props':{'max_digits':4,'mask':true},'next':{'input':'r','noinput':'bye','nomatch':'bye'}},"
            "'r':{'type':'say','props':{'text':'Card ending {{nodes.a.digits | last4}}'},'next':{'done':'bye'}}") },
    { "input_mode", IVR_SEV_ERROR, false, F("", MENU(",'input':['speech']", "")), F("", MENU(",'input':['dtmf']", "")) },
    /* 14 branch */
    { "branch_routes", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'branch','props':{'routes':[]},'next':{'default':'bye'}}"),
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{call.from}}','op':'empty'}}]},'next':{'route:x':'bye','default':'bye'}}") },
    { "duplicate_condition", IVR_SEV_WARNING, false,
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{call.from}}','op':'empty'}},{'id':'y','when':{'left':'{{call.from}}','op':'empty'}}]},'next':{'route:x':'bye','route:y':'bye','default':'bye'}}"),
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{call.from}}','op':'empty'}},{'id':'y','when':{'left':'{{call.to}}','op':'empty'}}]},'next':{'route:x':'bye','route:y':'bye','default':'bye'}}") },
    { "route_unreachable", IVR_SEV_WARNING, false,
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'all':[]}},{'id':'y','when':{'left':'{{call.to}}','op':'empty'}}]},'next':{'route:x':'bye','route:y':'bye','default':'bye'}}"),
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'y','when':{'left':'{{call.to}}','op':'empty'}},{'id':'x','when':{'all':[]}}]},'next':{'route:x':'bye','route:y':'bye','default':'bye'}}") },
    { "condition_type", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{contact.age}}','op':'gt','right':'17'}}]},'next':{'route:x':'bye','default':'bye'}}"),
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{contact.age}}','op':'gt','right':17,'as':'number'}}]},'next':{'route:x':'bye','default':'bye'}}") },
    { "condition_operator", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'1','op':'like','right':'1'}}]},'next':{'route:x':'bye','default':'bye'}}"),
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'1','op':'ne','right':'1'}}]},'next':{'route:x':'bye','default':'bye'}}") },
    { "regex", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{call.from}}','op':'regex','right':'[0-'}}]},'next':{'route:x':'bye','default':'bye'}}"),
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'x','when':{'left':'{{call.from}}','op':'regex','right':'^\\\\+1'}}]},'next':{'route:x':'bye','default':'bye'}}") },
    { "calendar_missing", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'branch','props':{'routes':[{'id':'o','when':{'op':'business_hours','calendar':'office'}}]},'next':{'route:o':'bye','default':'bye'}}"),
      F("'calendars':{'office':{'tz':'Europe/Paris','hours':{'mon':['09:00-17:00']}}}",
        "'a':{'type':'branch','props':{'routes':[{'id':'o','when':{'op':'business_hours','calendar':'office'}}]},'next':{'route:o':'bye','default':'bye'}}") },
    { "calendar_hours", IVR_SEV_ERROR, false,
      F("'calendars':{'office':{'tz':'UTC','hours':{'mon':['17:00-09:00']}}}", SAY("a", "bye")),
      F("'calendars':{'office':{'tz':'UTC','hours':{'mon':['09:00-17:00']}}}", SAY("a", "bye")) },
    /* 15 templates and variables */
    { "template_syntax", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':'Hi {{contact.name'},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'say','props':{'text':'Hi {{contact.name}}'},'next':{'done':'bye'}}") },
    { "unknown_variable", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':'Hi {{widgets.x}}'},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'say','props':{'text':'Hi {{call.from}}'},'next':{'done':'bye'}}") },
    { "secret_outside_api_auth", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':'Key {{secrets.key}}'},'next':{'done':'bye'}}"),
      F("", API(",'headers':{'X-Key':'{{secrets.key}}'}", "")) },
    { "secret_outside_api_auth", IVR_SEV_ERROR, false,
      F("", API(",'body':{'k':'{{secrets.key}}'}", "")), F("", API(",'auth':{'type':'bearer','token':'{{secrets.key}}'}", "")) },
    { "variable_unset", IVR_SEV_WARNING, false,
      F("", "'a':{'type':'say','props':{'text':'{{flow.total}}'},'next':{'done':'bye'}}"),
      "{'format':'ivrflow/1','start':'s','variables':{'total':{'type':'number','default':0}},'nodes':{'s':{'type':'start','next':{'next':'a'}},"
      "'a':{'type':'say','props':{'text':'{{flow.total}}'},'next':{'done':'bye'}},'bye':{'type':'hangup'}}}" },
    { "unknown_node_reference", IVR_SEV_WARNING, false,
      F("", "'a':{'type':'say','props':{'text':'{{nodes.menu.digits}}'},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'say','props':{'text':'{{nodes.a.digits}}'},'next':{'done':'bye'}}") },
    { "variable_unused", IVR_SEV_INFO, false,
      "{'format':'ivrflow/1','start':'s','variables':{'spare':{'type':'string'}},'nodes':{'s':{'type':'start','next':{'next':'b'}},'b':{'type':'hangup'}}}",
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','next':{'next':'b'}},'b':{'type':'hangup'}}}" },
    /* 16 api_call */
    { "url_scheme", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'api_call','props':{'url':'http://x.example/a'},'next':{'success':'bye','error':'bye','timeout':'bye'}}"), F("", API("", "")) },
    { "http_method", IVR_SEV_ERROR, false, F("", API(",'method':'FETCH'", "")), F("", API(",'method':'PATCH'", "")) },
    { "out_of_range", IVR_SEV_ERROR, false, F("", API(",'timeout_ms':20000", "")), F("", API(",'timeout_ms':10000", "")) },
    /* A short total timeout bounds the default connect timeout; a larger one given is refused. */
    { "out_of_range", IVR_SEV_ERROR, false, F("", API(",'timeout_ms':1000,'connect_timeout_ms':3000", "")), F("", API(",'timeout_ms':400", "")) },
    { "retry_not_idempotent", IVR_SEV_ERROR, false,
      F("", API(",'method':'POST','retries':{'count':2}", "")), F("", API(",'method':'POST','retries':{'count':2},'idempotency_key':'{{call.channel_id}}'", "")) },
    { "response_mapping", IVR_SEV_ERROR, false,
      F("", API(",'response_mapping':[{'var':'x','path':'a..b'}]", "")), F("", API(",'response_mapping':[{'var':'x','path':'a.b'}]", "")) },
    { "auth", IVR_SEV_ERROR, false, F("", API(",'auth':{'type':'digest'}", "")), F("", API(",'auth':{'type':'basic','username':'u'}", "")) },
    /* 17 media / TTS */
    { "media_uri", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'play','props':{'media':['ftp://x/y.wav']},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'play','props':{'media':['https://x.example/y.wav','sound:beep']},'next':{'done':'bye'}}") },
    { "language", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'say','props':{'text':'Hola','language':'spanish!'},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'say','props':{'text':'Hola','language':'es-ES'},'next':{'done':'bye'}}") },
    /* 18 transfer */
    { "transfer_target", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'transfer','props':{'target':{'type':'pstn','value':'555-1234'}},'next':{'failed':'bye'}}"),
      F("", "'a':{'type':'transfer','props':{'target':{'type':'pstn','value':'+14155551234'}},'next':{'failed':'bye'}}") },
    { "out_of_range", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'transfer','props':{'target':{'type':'queue','value':'sales'},'ring_timeout_s':200},'next':{'failed':'bye'}}"),
      F("", "'a':{'type':'transfer','props':{'target':{'type':'queue','value':'sales'},'ring_timeout_s':20},'next':{'failed':'bye'}}") },
    /* 19 size */
    { "too_many_prompts", IVR_SEV_ERROR, false,
      F("", "'a':{'type':'play','props':{'media':['sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a',"
            "'sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a','sound:a']},'next':{'done':'bye'}}"),
      F("", "'a':{'type':'play','props':{'media':['sound:a','sound:a']},'next':{'done':'bye'}}") },
    /* 20 outbound */
    { "amd_outcomes", IVR_SEV_ERROR, false,
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','next':{'next':'b','human':'b'}},'b':{'type':'hangup'}}}",
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','next':{'next':'b','human':'b','machine':'b'}},'b':{'type':'hangup'}}}" },
    { "outbound_silence", IVR_SEV_WARNING, false,
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','props':{'triggers':['outbound_answered']},'next':{'next':'a'}}," API("", "") ",'bye':{'type':'hangup'}}}",
      "{'format':'ivrflow/1','start':'s','nodes':{'s':{'type':'start','props':{'triggers':['outbound_answered']},'next':{'next':'h'}}," SAY("h", "a") "," API("", "") ",'bye':{'type':'hangup'}}}" },
};

/* clang-format on */

static char *dq(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return d;
}

static struct ivr_report *load(const char *src, bool publish, const char *const *secrets,
                               size_t nsecrets, int *rc)
{
    char *text = dq(src);
    struct ivr_load_options opt = { .publish = publish, .secrets = secrets, .nsecrets = nsecrets };
    struct ivr_report *r = NULL;
    struct ivr_flow *f = NULL;
    *rc = ivr_flow_load(text, strlen(text), &opt, &f, &r);
    assert_non_null(r);
    if (*rc == 0) {
        assert_non_null(f);
        assert_int_equal(ivr_report_errors(r), 0);
    } else {
        assert_null(f);
        assert_true(ivr_report_errors(r) > 0);
    }
    ivr_flow_unref(f);
    free(text);
    return r;
}

static void dump(const struct ivr_report *r)
{
    for (size_t i = 0; i < ivr_report_count(r); i++) {
        const struct ivr_diag *d = ivr_report_get(r, i);
        print_error("   %d %s %s %s\n", d->severity, d->rule, d->path, d->message);
    }
}

static void test_flow_rules_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rule_case *c = &cases[i];
        int rc;
        struct ivr_report *bad = load(c->bad, c->publish, NULL, 0, &rc);
        bool found = false;
        for (size_t k = 0; k < ivr_report_count(bad); k++) {
            const struct ivr_diag *d = ivr_report_get(bad, k);
            if (strcmp(d->rule, c->rule) == 0 && d->severity == c->sev) {
                found = true;
                assert_non_null(d->path);
                assert_true(d->path[0] == '$');
                assert_true(strlen(d->message) > 10);
            }
        }
        if (!found || (c->sev == IVR_SEV_ERROR) != (rc != 0)) {
            print_error("case %zu (%s): bad flow not reported as expected (rc %d)\n", i, c->rule,
                        rc);
            dump(bad);
            fail();
        }
        ivr_report_free(bad);
        struct ivr_report *good = load(c->good, c->publish, NULL, 0, &rc);
        if (rc != 0 || ivr_report_has(good, c->rule)) {
            print_error("case %zu (%s): good flow rejected (rc %d)\n", i, c->rule, rc);
            dump(good);
            fail();
        }
        ivr_report_free(good);
    }
}

static void test_flow_errors_carry_node_and_path(void **state)
{
    (void)state;
    int rc;
    struct ivr_report *r = load(F("", SAY("a", "nowhere")), false, NULL, 0, &rc);
    assert_int_equal(rc, ERR_INVAL);
    const struct ivr_diag *d = ivr_report_get(r, 0);
    assert_string_equal(d->rule, "dangling_transition");
    assert_string_equal(d->node, "a");
    assert_string_equal(d->path, "$.nodes.a.next.done");
    assert_non_null(strstr(d->message, "nowhere"));
    json_t *j = ivr_report_to_json(r);
    assert_false(json_is_true(json_object_get(j, "valid")));
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "node")),
        "a");
    json_decref(j);
    ivr_report_free(r);
}

static void test_flow_secret_names_checked(void **state)
{
    (void)state;
    static const char *const known[] = { "crm_token" };
    int rc;
    struct ivr_report *r =
        load(F("", API(",'headers':{'Authorization':'Bearer {{secrets.crm_tokn}}'}", "")), false,
             known, 1, &rc);
    assert_int_equal(rc, ERR_INVAL);
    assert_true(ivr_report_has(r, "secret_missing"));
    ivr_report_free(r);
    r = load(F("", API(",'headers':{'Authorization':'Bearer {{secrets.crm_token}}'}", "")), false,
             known, 1, &rc);
    assert_int_equal(rc, 0);
    ivr_report_free(r);
}

static struct ivr_flow *resolve(const char *flow_id, int revision, void *arg)
{
    (void)revision;
    if (strcmp(flow_id, "verify") != 0) {
        return NULL;
    }
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    char *t = dq("{'format':'ivrflow/1','start':'s','variables':{'acct':{'type':'string'}},"
                 "'nodes':{'s':{'type':'start','next':{'next':'r'}},"
                 "'r':{'type':'return','props':{'exit':'completed'}}}}");
    (void)arg;
    ivr_flow_load(t, strlen(t), NULL, &f, &r);
    ivr_report_free(r);
    free(t);
    return f;
}

static void test_flow_subflow_checked_through_resolver(void **state)
{
    (void)state;
    const char *docs[] = {
        F("", "'a':{'type':'subflow','props':{'flow_id':'missing'},'next':{'completed':'bye','"
              "failed':'bye'}}"),
        F("", "'a':{'type':'subflow','props':{'flow_id':'verify'},'next':{'completed':'bye','"
              "failed':'bye'}}"),
        F("", "'a':{'type':'subflow','props':{'flow_id':'verify','inputs':{'acct':'{{contact.acct}}"
              "'}},'next':{'completed':'bye','failed':'bye'}}"),
    };
    const char *want[] = { "subflow_missing", "subflow_input", NULL };
    for (int i = 0; i < 3; i++) {
        char *t = dq(docs[i]);
        struct ivr_load_options opt = { .subflow = resolve };
        struct ivr_report *r = NULL;
        int rc = ivr_flow_load(t, strlen(t), &opt, NULL, &r);
        if (want[i] != NULL) {
            assert_int_equal(rc, ERR_INVAL);
            assert_true(ivr_report_has(r, want[i]));
        } else {
            assert_int_equal(rc, 0);
        }
        ivr_report_free(r);
        free(t);
    }
}

static void test_flow_size_limits(void **state)
{
    (void)state;
    /* 1,001 steps: refused; 1,000: fine. */
    for (int n = 999; n <= 1000; n++) {
        json_t *nodes = json_object();
        json_object_set_new(nodes, "s",
                            json_pack("{s:s,s:{s:s}}", "type", "start", "next", "next", "n0"));
        for (int i = 0; i < n; i++) {
            char id[16], nx[16];
            snprintf(id, sizeof(id), "n%d", i);
            snprintf(nx, sizeof(nx), i + 1 < n ? "n%d" : "s", i + 1);
            if (i + 1 == n) {
                json_object_set_new(nodes, id, json_pack("{s:s}", "type", "hangup"));
            } else {
                json_object_set_new(nodes, id,
                                    json_pack("{s:s,s:{s:s},s:{s:s}}", "type", "say", "props",
                                              "text", "x", "next", "done", nx));
            }
        }
        json_t *doc =
            json_pack("{s:s,s:s,s:o}", "format", "ivrflow/1", "start", "s", "nodes", nodes);
        struct ivr_report *r = NULL;
        int rc = ivr_flow_load_json(doc, NULL, NULL, &r);
        assert_int_equal(rc, n + 1 > IVR_MAX_NODES ? ERR_INVAL : 0);
        assert_int_equal(ivr_report_has(r, "too_many_nodes"), n + 1 > IVR_MAX_NODES);
        ivr_report_free(r);
        json_decref(doc);
    }
    /* Over 1 MB of text is refused before parsing. */
    size_t big = IVR_MAX_DOC_BYTES + 10;
    char *text = malloc(big);
    memset(text, ' ', big);
    struct ivr_report *r = NULL;
    assert_int_equal(ivr_flow_load(text, big, NULL, NULL, &r), ERR_INVAL);
    assert_true(ivr_report_has(r, "too_large"));
    ivr_report_free(r);
    free(text);
}

/* The C property tables and ivr/schema/flow.schema.json name the same properties. */
struct pspec {
    const char *name;
    int kind;
    bool required;
};
const struct pspec *ivr__pspecs(int type);

static void test_flow_schema_matches_tables(void **state)
{
    (void)state;
    const char *root = getenv("DIALER_ROOT");
    char path[512];
    snprintf(path, sizeof(path), "%s/ivr/schema/flow.schema.json", root ? root : ".");
    json_error_t je;
    json_t *schema = json_load_file(path, 0, &je);
    if (schema == NULL) {
        print_error("%s: %s\n", path, je.text);
        fail();
    }
    json_t *defs = json_object_get(schema, "$defs");
    for (int t = 0; t < IVR_N_COUNT_; t++) {
        char key[64];
        snprintf(key, sizeof(key), "props_%s", ivr__ntype_names[t]);
        json_t *def = json_object_get(defs, key);
        json_t *props = json_object_get(def, "properties");
        json_t *req = json_object_get(def, "required");
        if (!json_is_object(props)) {
            print_error("schema lacks $defs.%s.properties\n", key);
            fail();
        }
        size_t n = 0;
        for (const struct pspec *p = ivr__pspecs(t); p->name; p++, n++) {
            if (json_object_get(props, p->name) == NULL) {
                print_error("schema %s lacks %s\n", key, p->name);
                fail();
            }
            bool in_req = false;
            size_t i;
            json_t *it;
            json_array_foreach (req, i, it) {
                in_req |= strcmp(json_string_value(it), p->name) == 0;
            }
            assert_int_equal(in_req, p->required);
        }
        assert_int_equal(json_object_size(props), n);
        assert_false(json_is_true(json_object_get(def, "additionalProperties")));
    }
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_rules_table),
        cmocka_unit_test(test_flow_errors_carry_node_and_path),
        cmocka_unit_test(test_flow_secret_names_checked),
        cmocka_unit_test(test_flow_subflow_checked_through_resolver),
        cmocka_unit_test(test_flow_size_limits),
        cmocka_unit_test(test_flow_schema_matches_tables),
    };
    return cmocka_run_group_tests_name("ivr_flow", tests, NULL, NULL);
}
