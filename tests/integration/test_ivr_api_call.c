/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the api_call node: the interpreter on a libev loop,
 * core/http (curl multi) and the SSRF guard, against a real local HTTP
 * server (core/httpd on its own thread, loopback). Checks the outcomes
 * success / error / timeout, response mapping, secrets rendered only into
 * headers, JSON bodies, retries only for idempotent methods, the response
 * size limit, the refusal of internal addresses without an allowlist, and
 * that a caller hang-up cancels a request in flight.
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/http.h"
#include "core/httpd.h"
#include "ivr/ivr.h"
#include "tests/support/evloop.h"

static atomic_int hits_fail, hits_post, hits_balance;

static int h_balance(struct httpd_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&hits_balance, 1);
    const char *auth = httpd_req_header(req, "authorization");
    const char *acct = httpd_req_query(req, "account");
    if (auth == NULL || strcmp(auth, "Bearer s3cr3t") != 0 || acct == NULL ||
        strcmp(acct, "12 34") != 0) {
        return httpd_respond_json(req, 401, json_pack("{s:s}", "error", "unauthorised"));
    }
    return httpd_respond_json(
        req, 200, json_pack("{s:{s:f,s:[{s:s}]}}", "data", "balance", 42.5, "items", "id", "tx1"));
}

static int h_fail(struct httpd_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(httpd_req_method(req) == HTTPD_POST ? &hits_post : &hits_fail, 1);
    return httpd_respond_json(req, 503, json_pack("{s:s}", "error", "down"));
}

static int h_slow(struct httpd_req *req, void *arg)
{
    (void)req;
    (void)arg;
    return HTTPD_DEFERRED; /* answered by the server's request timeout, long after ours */
}

static int h_big(struct httpd_req *req, void *arg)
{
    static char big[100000];
    (void)arg;
    memset(big, 'x', sizeof(big));
    return httpd_respond_raw(req, 200, "text/plain", big, sizeof(big), NULL, 0);
}

static int h_echo(struct httpd_req *req, void *arg)
{
    (void)arg;
    json_t *b = httpd_req_json(req);
    return httpd_respond_json(
        req, 200, json_pack("{s:O?,s:s?}", "got", b, "ct", httpd_req_header(req, "content-type")));
}

struct fixture {
    struct httpd *srv;
    struct ev_loop *loop;
    struct http_client *client;
    struct ivr_http_backend *allow_local, *no_allow;
    int port;
    int ends;
    struct ivr_end end;
    json_t *steps;
};

static struct fixture *FX;

static int nop_play(void *ctx, uint64_t op, const char *const *m, size_t n, const char *l)
{
    (void)ctx;
    (void)op;
    (void)m;
    (void)n;
    (void)l;
    return 0;
}

static int nop_hangup(void *ctx, int cause)
{
    (void)ctx;
    (void)cause;
    return 0;
}

static const struct ivr_channel_ops ops = { .play = nop_play, .hangup = nop_hangup };

static void on_step(void *arg, const struct ivr_step *st)
{
    (void)arg;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s:%s", st->node, st->event_out ? st->event_out : "-");
    json_array_append_new(FX->steps, json_string(buf));
}

static void on_end(void *arg, const struct ivr_end *e)
{
    (void)arg;
    FX->end = *e;
    FX->ends++;
}

static int setup(void **state)
{
    static const struct httpd_route routes[] = {
        { HTTPD_GET, "/balance", h_balance, NULL, 0, 0, NULL, NULL },
        { HTTPD_GET | HTTPD_POST, "/fail", h_fail, NULL, 0, 0, NULL, NULL },
        { HTTPD_GET, "/slow", h_slow, NULL, 0, 0, NULL, NULL },
        { HTTPD_GET, "/big", h_big, NULL, 0, 0, NULL, NULL },
        { HTTPD_POST, "/echo", h_echo, NULL, HTTPD_ROUTE_JSON, 0, NULL, NULL },
    };
    static const char *const local[] = { "127.0.0.0/8" };
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct httpd_config cfg = { .name = "ivrtest",
                                .request_timeout_ms = 3000,
                                .shutdown_grace_ms = 200,
                                .no_access_log = true };
    fx->srv = httpd_create(&cfg, routes, sizeof(routes) / sizeof(routes[0]));
    assert_non_null(fx->srv);
    assert_int_equal(httpd_start(fx->srv), 0);
    fx->port = httpd_port(fx->srv);
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(http_client_create(fx->loop, NULL, &fx->client), 0);
    fx->allow_local = ivr_http_backend_create(fx->client, local, 1);
    fx->no_allow = ivr_http_backend_create(fx->client, NULL, 0);
    assert_non_null(fx->allow_local);
    assert_non_null(fx->no_allow);
    FX = fx;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    ivr_http_backend_destroy(fx->allow_local);
    ivr_http_backend_destroy(fx->no_allow);
    http_client_destroy(fx->client);
    ev_loop_destroy(fx->loop);
    httpd_stop(fx->srv);
    free(fx);
    return 0;
}

/* Builds a one-request flow: start -> a (api_call with props) -> ok/err/tmo. */
static struct ivr_flow *flow(const char *props)
{
    char doc[4096];
    snprintf(doc, sizeof(doc),
             "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"
             "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"a\"}},"
             "\"a\":{\"type\":\"api_call\",\"props\":%s,"
             "\"next\":{\"success\":\"ok\",\"error\":\"err\",\"timeout\":\"tmo\"}},"
             "\"ok\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"ok\"}},"
             "\"err\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"err\"}},"
             "\"tmo\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"tmo\"}}}}",
             props);
    static const char *const hosts[] = { "127.0.0.1" };
    struct ivr_load_options opt = { .http_hosts = hosts, .nhttp_hosts = 1 };
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    int rc = ivr_flow_load(doc, strlen(doc), &opt, &f, &r);
    for (size_t i = 0; rc != 0 && i < ivr_report_count(r); i++) {
        print_error("%s %s\n", ivr_report_get(r, i)->path, ivr_report_get(r, i)->message);
    }
    assert_int_equal(rc, 0);
    ivr_report_free(r);
    return f;
}

static struct ivr_session *run_flow(struct fixture *fx, const char *props,
                                    struct ivr_http_backend *b, json_t *vars, bool wait_end)
{
    struct ivr_flow *f = flow(props);
    struct ivr_session_config cfg = { .ops = &ops,
                                      .http = ivr_http_backend_ops(),
                                      .http_ctx = b,
                                      .loop = fx->loop,
                                      .on_step = on_step,
                                      .on_end = on_end };
    fx->ends = 0;
    json_decref(fx->steps);
    fx->steps = json_array();
    struct ivr_session *s = ivr_session_create(f, &cfg, vars);
    ivr_flow_unref(f);
    ivr_session_start(s, "api", NULL);
    if (wait_end) {
        assert_true(evloop_run_until(fx->loop, &fx->ends, 1, 10.0));
    }
    return s;
}

static json_t *out(struct ivr_session *s, const char *key)
{
    return json_object_get(json_object_get(json_object_get(ivr_session_vars(s), "nodes"), "a"),
                           key);
}

static void done(struct fixture *fx, struct ivr_session *s)
{
    ivr_session_destroy(s);
    json_decref(fx->steps);
    fx->steps = NULL;
}

static void test_api_success_maps_response(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    snprintf(
        props, sizeof(props),
        "{\"url\":\"http://127.0.0.1:%d/balance\",\"query\":{\"account\":\"{{contact.acct}}\"},"
        "\"headers\":{\"Authorization\":\"Bearer {{secrets.token}}\"},"
        "\"response_mapping\":[{\"var\":\"balance\",\"path\":\"data.balance\"},"
        "{\"var\":\"first\",\"path\":\"data.items.0.id\"},{\"var\":\"none\",\"path\":\"data.nope\"}"
        "]}",
        fx->port);
    json_t *vars =
        json_pack("{s:{s:s},s:{s:s}}", "contact", "acct", "12 34", "secrets", "token", "s3cr3t");
    struct ivr_session *s = run_flow(fx, props, fx->allow_local, vars, true);
    assert_string_equal(fx->end.disposition, "ok");
    assert_int_equal(json_integer_value(out(s, "status")), 200);
    json_t *flowv = json_object_get(ivr_session_vars(s), "flow");
    assert_true(json_real_value(json_object_get(flowv, "balance")) == 42.5);
    assert_string_equal(json_string_value(json_object_get(flowv, "first")), "tx1");
    assert_true(json_is_null(json_object_get(flowv, "none")));
    done(fx, s);
    /* Without the secret the server refuses: a 4xx is the error outcome, never success. */
    json_object_del(vars, "secrets");
    s = run_flow(fx, props, fx->allow_local, vars, true);
    assert_string_equal(fx->end.disposition, "err");
    assert_int_equal(json_integer_value(out(s, "status")), 401);
    done(fx, s);
    json_decref(vars);
}

static void test_api_json_body(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    snprintf(props, sizeof(props),
             "{\"method\":\"POST\",\"url\":\"http://127.0.0.1:%d/echo\","
             "\"body\":{\"name\":\"{{contact.name}}\",\"n\":3}}",
             fx->port);
    json_t *vars = json_pack("{s:{s:s}}", "contact", "name", "O\"Brien");
    struct ivr_session *s = run_flow(fx, props, fx->allow_local, vars, true);
    assert_string_equal(fx->end.disposition, "ok");
    json_t *body = out(s, "body");
    assert_string_equal(json_string_value(json_object_get(body, "ct")), "application/json");
    /* A quote in a variable cannot break the JSON document; the number stays a number. */
    json_t *got = json_object_get(body, "got");
    assert_string_equal(json_string_value(json_object_get(got, "name")), "O\"Brien");
    assert_int_equal(json_integer_value(json_object_get(got, "n")), 3);
    done(fx, s);
    json_decref(vars);
    vars = json_pack("{s:{s:s}}", "contact", "name", "Ada");
    s = run_flow(fx, props, fx->allow_local, vars, true);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out(s, "body"), "got"), "name")), "Ada");
    done(fx, s);
    json_decref(vars);
}

static void test_api_retries_only_idempotent(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    atomic_store(&hits_fail, 0);
    atomic_store(&hits_post, 0);
    snprintf(props, sizeof(props),
             "{\"url\":\"http://127.0.0.1:%d/fail\",\"retries\":{\"count\":2,\"backoff_ms\":20}}",
             fx->port);
    struct ivr_session *s = run_flow(fx, props, fx->allow_local, NULL, true);
    assert_string_equal(fx->end.disposition, "err");
    assert_int_equal(atomic_load(&hits_fail), 3);
    assert_int_equal(json_integer_value(out(s, "status")), 503);
    done(fx, s);
    snprintf(props, sizeof(props), "{\"method\":\"POST\",\"url\":\"http://127.0.0.1:%d/fail\"}",
             fx->port);
    s = run_flow(fx, props, fx->allow_local, NULL, true);
    assert_int_equal(atomic_load(&hits_post), 1);
    done(fx, s);
}

static void test_api_timeout_is_its_own_outcome(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    snprintf(props, sizeof(props),
             "{\"url\":\"http://127.0.0.1:%d/slow\",\"timeout_ms\":300,\"connect_timeout_ms\":200}",
             fx->port);
    ev_tstamp t0 = ev_time();
    struct ivr_session *s = run_flow(fx, props, fx->allow_local, NULL, true);
    assert_string_equal(fx->end.disposition, "tmo");
    assert_true(ev_time() - t0 < 2.0);
    done(fx, s);
}

static void test_api_response_size_limit(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    snprintf(props, sizeof(props),
             "{\"url\":\"http://127.0.0.1:%d/big\",\"max_response_bytes\":1000}", fx->port);
    struct ivr_session *s = run_flow(fx, props, fx->allow_local, NULL, true);
    assert_string_equal(fx->end.disposition, "err");
    assert_string_equal(json_string_value(out(s, "reason")), "response_too_large");
    done(fx, s);
}

static void test_api_ssrf_guard(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    atomic_store(&hits_balance, 0);
    snprintf(props, sizeof(props), "{\"url\":\"http://127.0.0.1:%d/balance\"}", fx->port);
    struct ivr_session *s = run_flow(fx, props, fx->no_allow, NULL, true);
    assert_string_equal(fx->end.disposition, "err");
    assert_string_equal(json_string_value(out(s, "reason")), "forbidden_address");
    assert_int_equal(atomic_load(&hits_balance), 0); /* not a packet reached the server */
    done(fx, s);

    /* The classification itself. */
    static const struct {
        const char *addr;
        bool internal;
    } cases[] = {
        { "127.0.0.1", true },       { "10.2.3.4", true },      { "172.16.0.1", true },
        { "172.32.0.1", false },     { "192.168.1.1", true },   { "169.254.169.254", true },
        { "100.64.0.1", true },      { "0.0.0.0", true },       { "224.0.0.1", true },
        { "8.8.8.8", false },        { "::1", true },           { "fe80::1", true },
        { "fd00::1", true },         { "2606:4700::1", false }, { "::ffff:127.0.0.1", true },
        { "::ffff:8.8.8.8", false },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_in6 a6 = { 0 };
        struct sockaddr_in a4 = { 0 };
        bool r;
        if (inet_pton(AF_INET, cases[i].addr, &a4.sin_addr) == 1) {
            a4.sin_family = AF_INET;
            r = ivr_addr_is_internal(&a4, sizeof(a4));
        } else {
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &a6.sin6_addr), 1);
            a6.sin6_family = AF_INET6;
            r = ivr_addr_is_internal(&a6, sizeof(a6));
        }
        if (r != cases[i].internal) {
            print_error("%s classified %d\n", cases[i].addr, r);
            fail();
        }
    }
    static const char *const bad_cidr[] = { "10.0.0.0/33" };
    assert_null(ivr_http_backend_create(fx->client, bad_cidr, 1));
}

static void hang(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ivr_event ev = { .type = IVR_EV_HANGUP, .cause = 16 };
    ivr_session_event(w->data, &ev);
}

static void test_api_hangup_cancels_request(void **state)
{
    struct fixture *fx = *state;
    char props[512];
    snprintf(props, sizeof(props), "{\"url\":\"http://127.0.0.1:%d/slow\",\"timeout_ms\":3000}",
             fx->port);
    struct ivr_session *s = run_flow(fx, props, fx->allow_local, NULL, false);
    ev_timer t;
    ev_timer_init(&t, hang, 0.1, 0.0);
    t.data = s;
    ev_timer_start(fx->loop, &t);
    assert_true(evloop_run_until(fx->loop, &fx->ends, 1, 5.0));
    assert_int_equal(fx->end.reason, IVR_END_HANGUP);
    struct http_stats st;
    http_client_stats(fx->client, &st);
    assert_int_equal(st.inflight, 0); /* cancelled, not left running */
    evloop_run_for(fx->loop, 0.3);
    assert_int_equal(fx->ends, 1);
    ev_timer_stop(fx->loop, &t);
    done(fx, s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_success_maps_response),
        cmocka_unit_test(test_api_json_body),
        cmocka_unit_test(test_api_retries_only_idempotent),
        cmocka_unit_test(test_api_timeout_is_its_own_outcome),
        cmocka_unit_test(test_api_response_size_limit),
        cmocka_unit_test(test_api_ssrf_guard),
        cmocka_unit_test(test_api_hangup_cancels_request),
    };
    return cmocka_run_group_tests_name("ivr_api_call", tests, setup, teardown);
}
