/* SPDX-License-Identifier: MIT */
/*
 * ari-sim HTTP and WebSocket behaviour (NOTES.md sections 1, 2 and 8):
 * authentication, errors and their reason phrases, headers, parameter
 * passing (query, form, JSON body), id rules, api-docs basePath rewriting and
 * the events WebSocket handshake. Runs the real ari-sim program.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "sim/simc.h"

static struct simc_proc sim;
static const char *AUTH = "asterisk:asterisk";

static int group_setup(void **state)
{
    static const char *const args[] = {
        "--time-scale", "0.1", "--scenario", "sim/scenarios/rules.json", "--log-level", "warn", NULL
    };
    (void)state;
    if (simc_start(&sim, args) < 0) {
        fprintf(stderr, "cannot start ari-sim (DIALER_BUILD?)\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = simc_stop(&sim, SIGTERM);
    if (rc != 0 || simc_log_has_sanitizer_report(&sim)) {
        fprintf(stderr, "ari-sim exited %d; log in %s\n", rc, sim.log);
        return -1;
    }
    return 0;
}

/* Asserts status, reason phrase and {"message": msg}. */
static void expect_error(struct simc_resp *r, long status, const char *reason, const char *msg)
{
    assert_int_equal(r->status, status);
    assert_string_equal(r->reason, reason);
    assert_non_null(r->json);
    assert_string_equal(json_string_value(json_object_get(r->json, "message")), msg);
}

static void req(const char *method, const char *path, const char *body, const char *ctype,
                const char *auth, struct simc_resp *r)
{
    assert_int_equal(simc_http(sim.port, method, path, body, ctype, auth, r), 0);
}

static void test_auth_required(void **state)
{
    struct simc_resp r;
    (void)state;
    req("GET", "/ari/asterisk/ping", NULL, NULL, NULL, &r);
    expect_error(&r, 401, "Unauthorized", "Authentication required");
    assert_non_null(strstr(r.headers, "WWW-Authenticate: Basic realm=\"Asterisk REST Interface\""));
    simc_resp_free(&r);
    req("GET", "/ari/asterisk/ping", NULL, NULL, "asterisk:wrong", &r);
    assert_int_equal(r.status, 401);
    simc_resp_free(&r);
    req("GET", "/ari/asterisk/ping?api_key=asterisk:asterisk", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "ping")), "pong");
    simc_resp_free(&r);
    /* api-docs need auth too. */
    req("GET", "/ari/api-docs/resources.json", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    simc_resp_free(&r);
}

static void test_headers_in_asterisk_order(void **state)
{
    struct simc_resp r;
    const char *server, *date, *cache, *ctype, *clen;
    (void)state;
    req("GET", "/ari/channels/nope", NULL, NULL, AUTH, &r);
    expect_error(&r, 404, "Not Found", "Channel not found");
    server = strstr(r.headers, "Server: Asterisk/22.10.1\r\n");
    date = strstr(r.headers, "Date: ");
    cache = strstr(r.headers, "Cache-Control: no-cache, no-store\r\n");
    ctype = strstr(r.headers, "Content-type: application/json\r\n");
    clen = strstr(r.headers, "Content-Length: ");
    assert_true(server && date && cache && ctype && clen);
    assert_true(server < date && date < cache && cache < ctype && ctype < clen);
    simc_resp_free(&r);
}

static void test_routing_errors(void **state)
{
    struct simc_resp r;
    (void)state;
    req("GET", "/ari/channels/", NULL, NULL, AUTH, &r);
    expect_error(&r, 404, "Not Found", "ARI URLs do not end with a slash. Try /ari/channels");
    simc_resp_free(&r);
    req("GET", "/ari/nothing/here", NULL, NULL, AUTH, &r);
    expect_error(&r, 404, "Not Found", "Resource not found");
    simc_resp_free(&r);
    req("PUT", "/ari/channels", NULL, NULL, AUTH, &r);
    expect_error(&r, 405, "Method Not Allowed", "Invalid method");
    assert_non_null(strstr(r.headers, "Allow: OPTIONS,GET,POST\r\n"));
    simc_resp_free(&r);
    req("GET", "/ari/events", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 426);
    assert_string_equal(r.reason, "Upgrade Required");
    simc_resp_free(&r);
    req("GET", "/elsewhere", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "The requested URL was not found on this server."));
    simc_resp_free(&r);
}

static void test_api_docs_base_path(void **state)
{
    struct simc_resp r;
    char want[64];
    (void)state;
    snprintf(want, sizeof(want), "http://127.0.0.1:%d/ari", sim.port);
    req("GET", "/ari/api-docs/resources.json", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "basePath")), want);
    assert_string_equal(json_string_value(json_object_get(r.json, "swaggerVersion")), "1.1");
    simc_resp_free(&r);
    req("GET", "/ari/api-docs/channels.json", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "basePath")), want);
    simc_resp_free(&r);
    req("GET", "/ari/api-docs/../../etc/passwd", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 404);
    simc_resp_free(&r);
}

static void test_originate_parameters(void **state)
{
    struct simc_resp r;
    json_t *ch;
    (void)state;
    /* Form body. */
    req("POST", "/ari/channels",
        "endpoint=PJSIP%2Ftrunk%2Fsip%3A%2B15550109%40h&app=dialer&channelId=form-2",
        "application/x-www-form-urlencoded", AUTH, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "form-2");
    simc_resp_free(&r);
    /* JSON body: scalar keys are parameters, variables are variables. */
    req("POST", "/ari/channels?app=ignored",
        "{\"endpoint\":\"PJSIP/trunk/sip:+15550119@h\",\"app\":\"dialer\",\"channelId\":\"json-1\","
        "\"callerId\":\"\\\"Sales\\\" <+1 (415) 555-0100>\",\"variables\":{\"CAMPAIGN\":\"c1\"}}",
        NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    ch = r.json;
    assert_string_equal(json_string_value(json_object_get(ch, "id")), "json-1");
    assert_string_equal(json_string_value(json_object_get(ch, "state")), "Down");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "caller"), "number")),
                        "+14155550100");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "caller"), "name")),
                        "Sales");
    simc_resp_free(&r);
    req("GET", "/ari/channels/json-1/variable?variable=CAMPAIGN", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "value")), "c1");
    simc_resp_free(&r);
    req("GET", "/ari/channels/json-1/variable?variable=NOPE", NULL, NULL, AUTH, &r);
    expect_error(&r, 404, "Variable Not Found", "Provided variable was not found");
    simc_resp_free(&r);
    /* Not in Stasis yet: 409; after hang-up: 404. */
    req("POST", "/ari/channels/json-1/answer", NULL, NULL, AUTH, &r);
    expect_error(&r, 409, "Conflict", "Channel not in Stasis application");
    simc_resp_free(&r);
    req("DELETE", "/ari/channels/json-1?reason=bogus", NULL, NULL, AUTH, &r);
    expect_error(&r, 400, "Invalid Reason", "Invalid reason for hangup reason provided");
    simc_resp_free(&r);
    req("DELETE", "/ari/channels/json-1?reason=busy&reason_code=17", NULL, NULL, AUTH, &r);
    expect_error(&r, 400, "Bad Request", "The reason and reason_code can't both be specified");
    simc_resp_free(&r);
    req("DELETE", "/ari/channels/json-1", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    assert_non_null(strstr(r.headers, "Content-Length: 0\r\n"));
    simc_resp_free(&r);
    req("DELETE", "/ari/channels/form-2", NULL, NULL, AUTH, &r);
    simc_resp_free(&r);
}

static void test_originate_errors(void **state)
{
    struct simc_resp r;
    char path[400];
    (void)state;
    req("POST", "/ari/channels?app=dialer", NULL, NULL, AUTH, &r);
    expect_error(&r, 400, "Bad Request", "Endpoint must be specified");
    simc_resp_free(&r);
    req("POST", "/ari/channels?endpoint=nonsense&app=dialer", NULL, NULL, AUTH, &r);
    expect_error(&r, 400, "Bad Request", "Invalid endpoint specified");
    simc_resp_free(&r);
    req("POST", "/ari/channels?endpoint=PJSIP/1000", NULL, NULL, AUTH, &r);
    expect_error(&r, 400, "Bad Request", "Application or extension must be specified");
    simc_resp_free(&r);
    req("POST", "/ari/channels?endpoint=FOO/1000&app=dialer", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "{\"error\":\"Allocation failed\"}");
    simc_resp_free(&r);
    /* Ids: duplicates and case-insensitive prefixes of live ids are refused. */
    req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:19@h&app=dialer&channelId=x-10", NULL, NULL,
        AUTH, &r);
    assert_int_equal(r.status, 200);
    simc_resp_free(&r);
    req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:29@h&app=dialer&channelId=x-10", NULL, NULL,
        AUTH, &r);
    expect_error(&r, 409, "Conflict", "Channel with given unique ID already exists");
    simc_resp_free(&r);
    req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:39@h&app=dialer&channelId=X-1", NULL, NULL,
        AUTH, &r);
    assert_int_equal(r.status, 409);
    simc_resp_free(&r);
    snprintf(path, sizeof(path), "/ari/channels?endpoint=PJSIP/1&app=d&channelId=%0150d", 0);
    req("POST", path, NULL, NULL, AUTH, &r);
    expect_error(&r, 400, "Bad Request", "Uniqueid length exceeds maximum of 149");
    simc_resp_free(&r);
    req("DELETE", "/ari/channels/x-10", NULL, NULL, AUTH, &r);
    simc_resp_free(&r);
    req("POST", "/ari/channels/create?endpoint=PJSIP/trunk/sip:9@h", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 400);
    simc_resp_free(&r);
}

static void test_body_limit(void **state)
{
    struct simc_resp r;
    static char big[50000];
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "{\"x\":\"", 6);
    memcpy(big + sizeof(big) - 3, "\"}", 2);
    req("POST", "/ari/channels", big, NULL, AUTH, &r);
    expect_error(&r, 413, "Request Entity Too Large", "Request body too large");
    simc_resp_free(&r);
    req("POST", "/ari/channels", "{not json", NULL, AUTH, &r);
    expect_error(&r, 400, "Bad Request", "Error parsing request body");
    simc_resp_free(&r);
}

static void test_websocket_handshake(void **state)
{
    char hdr[2048];
    int status;
    struct simc_ws *w, *w2;
    json_t *e;
    struct simc_resp r;
    (void)state;

    /* No subprotocol asked: none answered. */
    w = simc_ws_open(sim.port, "/ari/events?app=hs&api_key=asterisk:asterisk", NULL, &status, hdr,
                     sizeof(hdr));
    assert_non_null(w);
    assert_int_equal(status, 101);
    assert_null(strcasestr(hdr, "Sec-WebSocket-Protocol"));
    /* "ari" asked: echoed. */
    w2 = simc_ws_open(sim.port, "/ari/events?app=hs2&api_key=asterisk:asterisk", "ari", &status,
                      hdr, sizeof(hdr));
    assert_non_null(w2);
    assert_non_null(strcasestr(hdr, "Sec-WebSocket-Protocol: ari"));
    simc_ws_close(w2);
    /* Errors before the upgrade. */
    assert_null(simc_ws_open(sim.port, "/ari/events?api_key=asterisk:asterisk", NULL, &status, hdr,
                             sizeof(hdr)));
    assert_int_equal(status, 400);
    assert_null(simc_ws_open(sim.port, "/ari/events?app=x&api_key=asterisk:nope", NULL, &status,
                             hdr, sizeof(hdr)));
    assert_int_equal(status, 401);
    /* Nothing is sent on connect; a second socket for the app replaces the first. */
    assert_null(simc_ws_next(w, 200));
    w2 = simc_ws_open(sim.port, "/ari/events?app=hs&api_key=asterisk:asterisk", NULL, &status, hdr,
                      sizeof(hdr));
    assert_non_null(w2);
    e = simc_ws_next(w, 2000);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "ApplicationReplaced");
    assert_string_equal(json_string_value(json_object_get(e, "application")), "hs");
    json_decref(e);
    /* A user event goes to the new socket only. */
    req("POST", "/ari/events/user/ping-1?application=hs", "{\"variables\":{\"k\":\"v\"}}", NULL,
        AUTH, &r);
    assert_int_equal(r.status, 204);
    simc_resp_free(&r);
    e = simc_ws_next(w2, 2000);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "ChannelUserevent");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "userevent"), "k")),
                        "v");
    json_decref(e);
    assert_null(simc_ws_next(w, 200));
    req("GET", "/ari/applications", NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(r.json) >= 1);
    simc_resp_free(&r);
    simc_ws_close(w);
    simc_ws_close(w2);
}

static void test_channel_name_in_path(void **state)
{
    struct simc_resp r;
    char path[300];
    const char *name;
    (void)state;
    req("POST", "/ari/channels?endpoint=Local/s@callee-noanswer&app=nobody&channelId=lc-1", NULL,
        NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    name = json_string_value(json_object_get(r.json, "name"));
    /* The name works as an id, also with '/' and ';' encoded. */
    assert_non_null(strchr(name, ';'));
    snprintf(path, sizeof(path), "/ari/channels/Local%%2F%.*s%%3B1",
             (int)(strchr(name, ';') - name - 6), name + 6);
    simc_resp_free(&r);
    req("GET", path, NULL, NULL, AUTH, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "lc-1");
    simc_resp_free(&r);
    req("DELETE", "/ari/channels/lc-1", NULL, NULL, AUTH, &r);
    simc_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_required),
        cmocka_unit_test(test_headers_in_asterisk_order),
        cmocka_unit_test(test_routing_errors),
        cmocka_unit_test(test_api_docs_base_path),
        cmocka_unit_test(test_originate_parameters),
        cmocka_unit_test(test_originate_errors),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_websocket_handshake),
        cmocka_unit_test(test_channel_name_in_path),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
