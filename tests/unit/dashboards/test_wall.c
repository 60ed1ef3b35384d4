/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for what a tenant's wall shows besides its campaigns: trunk
 * figures over the last minute and their alarm (error burst, server down or
 * degraded), tenant scoping of trunks and flows, the sum over two nodes, IVR
 * flow outcomes and drop-off nodes, the national DNC list state, the IVR
 * entity cache, and the node JSON and Prometheus text of the new entities.
 * Time is fake (dash__snap_take takes it as an argument).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dashboards/dash_int.h"

#define SEC INT64_C(1000000)

static struct dash *mk(size_t cap, const char *node)
{
    struct dash_config c = { .node_id = node, .max_entities = cap };
    struct dash *d = NULL;
    assert_int_equal(dash_create(&c, &d), 0);
    return d;
}

static json_t *find(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach (arr, i, x) {
        if (strcmp(json_string_value(json_object_get(x, key)), value) == 0) {
            return x;
        }
    }
    return NULL;
}

static int64_t ival(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *sval(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    return s;
}

static bool has_reason(json_t *trunk, const char *r)
{
    size_t i;
    json_t *x;
    json_array_foreach (json_object_get(trunk, "reasons"), i, x) {
        if (strcmp(json_string_value(x), r) == 0) {
            return true;
        }
    }
    return false;
}

/* One call ended on t: answered, or failed (an error), or busy (neither). */
static void call(struct dash_entity *t, char how)
{
    dash_inc(t, DASH_ATTEMPTS);
    dash_inc(t, DASH_ENDED);
    if (how == 'a') {
        dash_inc(t, DASH_ANSWERED);
    } else if (how == 'f') {
        dash_inc(t, DASH_ERRORS);
    }
}

static void test_wall_trunk_error_burst_turns_red_then_recovers(void **state)
{
    struct dash *d = mk(16, "n1");
    struct dash_entity *t = dash_tenant_trunk(d, 1, "carrier-a");
    struct dash_entity *srv = dash_server(d, "ast1");
    int64_t now = 1000 * SEC;
    struct dash_snap *s;
    json_t *tr, *x;
    (void)state;

    dash_server_health(d, srv, DASH_HEALTH_UP);
    dash_set(t, DASH_CAPACITY, 40);
    dash_add(t, DASH_CHANNELS, 10);
    free(dash__snap_take(d, d->hist, now));
    /* a quiet minute: 30 calls a second ... 9 answered, 1 busy each second */
    for (int i = 0; i < 60; i++) {
        for (int k = 0; k < 9; k++) {
            call(t, 'a');
        }
        call(t, 'b');
        now += SEC;
        free(dash__snap_take(d, d->hist, now));
    }
    s = dash__snap_take(d, d->hist, now + SEC);
    const struct dash_snap *one[] = { s };
    tr = dash__trunks_json(one, 1, 1);
    x = find(tr, "trunk", "carrier-a");
    assert_non_null(x);
    assert_string_equal(sval(x, "state"), "ok");
    assert_string_equal(sval(x, "servers"), "up");
    assert_true(json_real_value(json_object_get(x, "asr_1m")) == 0.9);
    assert_true(json_real_value(json_object_get(x, "error_rate_1m")) == 0.0);
    assert_true(json_real_value(json_object_get(x, "utilisation")) == 0.25);
    assert_int_equal(ival(x, "capacity"), 40);
    assert_int_equal(ival(x, "attempts"), 600);
    json_decref(tr);
    free(s);

    /* a burst: every call fails for 5 seconds; the minute's error rate passes 20 % */
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 30; k++) {
            call(t, 'f');
        }
        now += SEC;
        free(dash__snap_take(d, d->hist, now));
    }
    s = dash__snap_take(d, d->hist, now + SEC);
    one[0] = s;
    tr = dash__trunks_json(one, 1, 1);
    x = find(tr, "trunk", "carrier-a");
    assert_string_equal(sval(x, "state"), "alarm");
    assert_true(has_reason(x, "errors"));
    assert_int_equal(ival(x, "errors_1m"), 150);
    json_decref(tr);
    free(s);

    /* a clean minute later the window no longer holds the burst */
    for (int i = 0; i < 61; i++) {
        for (int k = 0; k < 10; k++) {
            call(t, 'a');
        }
        now += SEC;
        free(dash__snap_take(d, d->hist, now));
    }
    s = dash__snap_take(d, d->hist, now + SEC);
    one[0] = s;
    tr = dash__trunks_json(one, 1, 1);
    x = find(tr, "trunk", "carrier-a");
    assert_string_equal(sval(x, "state"), "ok");
    assert_int_equal(ival(x, "errors_1m"), 0);
    json_decref(tr);
    free(s);

    /* a degraded Asterisk server turns every trunk red, with the reason */
    dash_server_health(d, srv, DASH_HEALTH_DEGRADED);
    s = dash__snap_take(d, d->hist, now + 2 * SEC);
    one[0] = s;
    tr = dash__trunks_json(one, 1, 1);
    x = find(tr, "trunk", "carrier-a");
    assert_string_equal(sval(x, "state"), "alarm");
    assert_string_equal(sval(x, "servers"), "degraded");
    assert_true(has_reason(x, "server_degraded"));
    assert_false(has_reason(x, "errors"));
    json_decref(tr);
    x = dash__servers_json(one, 1);
    assert_int_equal(json_array_size(x), 1);
    assert_string_equal(sval(json_array_get(x, 0), "status"), "degraded");
    assert_string_equal(sval(json_array_get(x, 0), "node"), "n1");
    json_decref(x);
    free(s);
    dash_destroy(d);
}

static void test_wall_few_failures_are_not_an_alarm(void **state)
{
    struct dash *d = mk(8, "n1");
    struct dash_entity *t = dash_tenant_trunk(d, 1, "carrier-a");
    struct dash_snap *s;
    (void)state;

    free(dash__snap_take(d, d->hist, SEC));
    for (int k = 0; k < DASH_TRUNK_ERR_MIN - 1; k++) {
        call(t, 'f'); /* 100 % of too few calls */
    }
    s = dash__snap_take(d, d->hist, 2 * SEC);
    const struct dash_snap *one[] = { s };
    json_t *tr = dash__trunks_json(one, 1, 1);
    json_t *x = find(tr, "trunk", "carrier-a");
    assert_string_equal(sval(x, "state"), "ok");
    assert_string_equal(sval(x, "servers"), "none"); /* no server registered */
    json_decref(tr);
    free(s);
    call(t, 'f');
    s = dash__snap_take(d, d->hist, 3 * SEC);
    one[0] = s;
    tr = dash__trunks_json(one, 1, 1);
    assert_string_equal(sval(find(tr, "trunk", "carrier-a"), "state"), "alarm");
    json_decref(tr);
    free(s);
    dash_destroy(d);
}

static void test_wall_trunks_are_per_tenant_and_summed_over_nodes(void **state)
{
    struct dash *n1 = mk(8, "n1"), *n2 = mk(8, "n2");
    struct dash_entity *a1 = dash_tenant_trunk(n1, 1, "carrier-a");
    struct dash_entity *b1 = dash_tenant_trunk(n1, 2, "carrier-a"); /* another tenant */
    struct dash_entity *a2 = dash_tenant_trunk(n2, 1, "carrier-a");
    struct dash_entity *down = dash_server(n2, "ast2");
    (void)state;

    assert_null(dash_tenant_trunk(n1, 0, "x"));
    assert_null(dash_tenant_trunk(n1, 1, ""));
    assert_ptr_equal(dash_tenant_trunk(n1, 1, "carrier-a"), a1);
    dash_add(a1, DASH_ATTEMPTS, 10);
    dash_add(a1, DASH_CHANNELS, 3);
    dash_set(a1, DASH_CAPACITY, 20);
    dash_add(b1, DASH_ATTEMPTS, 500);
    dash_add(a2, DASH_ATTEMPTS, 5);
    dash_add(a2, DASH_CHANNELS, 2);
    dash_set(a2, DASH_CAPACITY, 20);
    dash_server_health(n2, down, DASH_HEALTH_DOWN);
    struct dash_snap *s1 = dash__snap_take(n1, n1->hist, SEC);
    struct dash_snap *s2 = dash__snap_take(n2, n2->hist, SEC);
    const struct dash_snap *both[] = { s1, s2 };

    json_t *tr = dash__trunks_json(both, 2, 1);
    assert_int_equal(json_array_size(tr), 1);
    json_t *x = json_array_get(tr, 0);
    assert_int_equal(ival(x, "attempts"), 15);
    assert_int_equal(ival(x, "channels"), 5);
    assert_int_equal(ival(x, "nodes"), 2);
    /* a server down on the other node is this trunk's trouble too */
    assert_string_equal(sval(x, "servers"), "down");
    assert_true(has_reason(x, "server_down"));
    json_decref(tr);
    tr = dash__trunks_json(both, 2, 2);
    assert_int_equal(ival(json_array_get(tr, 0), "attempts"), 500);
    json_decref(tr);
    tr = dash__trunks_json(both, 2, 3);
    assert_int_equal(json_array_size(tr), 0);
    json_decref(tr);
    free(s1);
    free(s2);
    dash_destroy(n1);
    dash_destroy(n2);
}

static void test_wall_flow_outcomes_and_drop_offs(void **state)
{
    struct dash *d = mk(64, "n1");
    struct dash_ivr_cache *c = dash_ivr_cache_create(d);
    (void)state;

#define HIT(node, outcome, n) dash_add(dash_ivr_cached(c, 1, 7, node, outcome), DASH_HITS, n)
    HIT("start", "", 100);
    HIT("start", "next", 100);
    HIT("menu", "", 130);
    HIT("menu", "noinput", 40);
    HIT("menu", "nomatch", 12);
    HIT("menu", "choice:1", 70);
    HIT("lookup", "", 70);
    HIT("lookup", "error", 4);
    HIT("lookup", "timeout", 2);
    HIT("lookup", "success", 64);
    HIT("menu", "end:hangup", 25);
    HIT("lookup", "end:hangup", 9);
    HIT("bye", "end:completed", 60);
    HIT("oops", "end:hangup", 9);
    HIT("oops", "end:error", 6);
    dash_add(dash_ivr_cached(c, 2, 7, "menu", "end:hangup"), DASH_HITS, 1000); /* other tenant */
#undef HIT
    struct dash_snap *s = dash__snap_take(d, d->hist, SEC);
    const struct dash_snap *one[] = { s };
    json_t *flows = dash__flows_json(one, 1, 1);

    assert_int_equal(json_array_size(flows), 1);
    json_t *f = json_array_get(flows, 0);
    assert_int_equal(ival(f, "flow_id"), 7);
    assert_int_equal(ival(f, "executions"), 25 + 9 + 60 + 9 + 6);
    assert_int_equal(ival(f, "hangups"), 25 + 9 + 9);
    assert_int_equal(ival(f, "noinput"), 40);
    assert_int_equal(ival(f, "nomatch"), 12);
    assert_int_equal(ival(f, "errors"), 6); /* api_call error and timeout */
    assert_int_equal(ival(json_object_get(f, "ended"), "completed"), 60);
    assert_int_equal(ival(json_object_get(f, "ended"), "error"), 6);
    json_t *menu = find(json_object_get(f, "nodes"), "node", "menu");
    assert_int_equal(ival(menu, "hits"), 130);
    assert_int_equal(ival(menu, "drop_offs"), 25);
    assert_int_equal(ival(json_object_get(menu, "outcomes"), "choice:1"), 70);
    /* the top drop-offs: most first, ties by name, at most three */
    json_t *top = json_object_get(f, "top_drop_offs");
    assert_int_equal(json_array_size(top), 3);
    assert_string_equal(sval(json_array_get(top, 0), "node"), "menu");
    assert_string_equal(sval(json_array_get(top, 1), "node"), "lookup");
    assert_string_equal(sval(json_array_get(top, 2), "node"), "oops");
    assert_int_equal(ival(json_array_get(top, 2), "count"), 9);
    json_decref(flows);
    flows = dash__flows_json(one, 1, 3);
    assert_int_equal(json_array_size(flows), 0);
    json_decref(flows);
    free(s);
    dash_ivr_cache_destroy(c);
    dash_destroy(d);
}

static void test_wall_ivr_cache_answers_like_the_registry(void **state)
{
    enum { N = 1500 }; /* more keys than the cache keeps */
    struct dash *d = mk(N + 8, "n1");
    struct dash_ivr_cache *c = dash_ivr_cache_create(d);
    char node[32];
    (void)state;

    assert_null(dash_ivr_cache_create(NULL));
    assert_null(dash_ivr_cached(NULL, 1, 1, "a", ""));
    assert_null(dash_ivr_cached(c, 0, 1, "a", ""));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(node, sizeof(node), "n%d", i);
            struct dash_entity *e = dash_ivr_cached(c, 1 + i % 3, 9, node, i % 2 ? "x" : NULL);
            assert_non_null(e);
            assert_ptr_equal(e, dash_ivr_node(d, 1 + i % 3, 9, node, i % 2 ? "x" : ""));
        }
    }
    /* the same node under another flow or outcome is another entity */
    assert_ptr_not_equal(dash_ivr_cached(c, 1, 9, "n0", ""), dash_ivr_cached(c, 1, 10, "n0", ""));
    assert_ptr_not_equal(dash_ivr_cached(c, 1, 9, "n0", ""), dash_ivr_cached(c, 1, 9, "n0", "y"));
    dash_ivr_cache_destroy(c);
    dash_destroy(d);
}

static void test_wall_compliance_states(void **state)
{
    static const struct {
        enum dash_dnc_state st;
        const char *name;
        bool age;
    } cases[] = {
        { DASH_DNC_FRESH, "fresh", true },        { DASH_DNC_WARNING, "warning", true },
        { DASH_DNC_STALE, "stale", true },        { DASH_DNC_MISSING, "missing", false },
        { DASH_DNC_DISABLED, "disabled", false },
    };

    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dash_platform p = { .dnc_state = cases[i].st,
                                   .dnc_country = "US",
                                   .dnc_age_s = 40 * 86400 + 5,
                                   .dnc_stale_at_s = 1700000000 };
        json_t *o = dash__compliance_json(&p);
        json_t *n = json_object_get(o, "dnc_national");
        assert_string_equal(sval(n, "state"), cases[i].name);
        assert_string_equal(sval(n, "country"), "US");
        assert_true((json_object_get(n, "age_days") != NULL) == cases[i].age);
        if (cases[i].age) {
            assert_int_equal(ival(n, "age_days"), 40);
        }
        json_decref(o);
    }
    json_t *o = dash__compliance_json(NULL);
    assert_string_equal(sval(json_object_get(o, "dnc_national"), "state"), "disabled");
    json_decref(o);
}

static void test_wall_node_json_and_prometheus(void **state)
{
    struct dash *d = mk(8, "n1");
    struct dash_entity *t = dash_tenant_trunk(d, 4, "carrier-a");
    struct dash_entity *srv = dash_server(d, "ast1");
    struct dash_buf b = { 0 };
    char err[160];
    (void)state;

    dash_server_health(d, srv, DASH_HEALTH_DEGRADED);
    dash_server_health(d, srv, (enum dash_health)7); /* ignored */
    free(dash__snap_take(d, d->hist, SEC));
    call(t, 'f');
    struct dash_snap *s = dash__snap_take(d, d->hist, 2 * SEC);
    json_t *j = dash__snap_to_json(s);
    char *text = json_dumps(j, JSON_COMPACT);
    struct dash_snap *p = dash__snap_parse(text, strlen(text), err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->e[0].tenant_id, 4);
    assert_int_equal(p->e[0].w1m[DASH_W_ERRORS], 1);
    assert_int_equal(p->e[0].w1m[DASH_W_ENDED], 1);
    assert_int_equal(p->e[1].kind, DASH_KIND_SERVER);
    assert_int_equal(p->e[1].state, DASH_HEALTH_DEGRADED);
    free(p);
    /* entries without the minute window (10 elements) still parse; a bad server state does not */
    static const char old[] = "{\"v\":1,\"node\":\"a\",\"seq\":1,\"ts\":1,\"e\":[[1,0,0,\"t\","
                              "\"\",0,300,[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],0,0]]}";
    p = dash__snap_parse(old, strlen(old), err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->e[0].w1m[DASH_W_ENDED], 0);
    free(p);
    static const char bad[] = "{\"v\":1,\"node\":\"a\",\"seq\":1,\"ts\":1,\"e\":[[3,0,0,\"s\","
                              "\"\",5,300,[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],0,0]]}";
    assert_null(dash__snap_parse(bad, strlen(bad), err, sizeof(err)));
    assert_non_null(strstr(err, "$.e[0]"));

    const struct dash_snap *one[] = { s };
    dash__prom_render(&b, one, 1, false);
    dash__buf_printf(&b, "%c", '\0');
    assert_non_null(strstr(b.p, "dialer_trunk_errors_total{node=\"n1\",tenant=\"4\","
                                "trunk=\"carrier-a\"} 1\n"));
    assert_non_null(strstr(b.p, "# TYPE dialer_ari_server_health gauge\n"
                                "dialer_ari_server_health{node=\"n1\",server=\"ast1\"} 2\n"));
    dash__buf_free(&b);
    free(text);
    json_decref(j);
    free(s);
    dash_destroy(d);
}

/* A peer publishing absurd figures must not overflow the merge (signed overflow is undefined). */
static void test_wall_huge_peer_figures_saturate(void **state)
{
    struct dash_snap *a = calloc(1, sizeof(*a) + 2 * sizeof(a->e[0]));
    (void)state;

    snprintf(a->node, sizeof(a->node), "n1");
    a->n = 2;
    a->taken_us = 1;
    a->e[0].kind = DASH_KIND_CAMPAIGN;
    a->e[0].tenant_id = 1;
    a->e[0].id = 2;
    a->e[0].v[DASH_ATTEMPTS] = INT64_MAX;
    a->e[0].v[DASH_CONTACTS_REMAINING] = INT64_MAX;
    a->e[0].v[DASH_CONTACTS_TOTAL] = 10;
    a->e[0].cps_1m = 0.01;
    a->e[1].kind = DASH_KIND_TRUNK;
    a->e[1].tenant_id = 1;
    snprintf(a->e[1].name, sizeof(a->e[1].name), "t");
    a->e[1].v[DASH_ATTEMPTS] = INT64_MAX;
    a->e[1].w1m[DASH_W_ENDED] = INT64_MAX;
    a->e[1].w1m[DASH_W_ERRORS] = INT64_MAX;
    const struct dash_snap *two[] = { a, a };

    json_t *c = dash__campaign_json(two, 2, 1, 2);
    assert_int_equal(ival(c, "attempts"), INT64_MAX);
    assert_true(json_is_null(json_object_get(c, "eta_s"))); /* beyond any integer: unknown */
    json_decref(c);
    json_t *tr = dash__trunks_json(two, 2, 1);
    json_t *x = find(tr, "trunk", "t");
    assert_int_equal(ival(x, "attempts"), INT64_MAX);
    assert_string_equal(sval(x, "state"), "alarm");
    json_decref(tr);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wall_trunk_error_burst_turns_red_then_recovers),
        cmocka_unit_test(test_wall_few_failures_are_not_an_alarm),
        cmocka_unit_test(test_wall_trunks_are_per_tenant_and_summed_over_nodes),
        cmocka_unit_test(test_wall_flow_outcomes_and_drop_offs),
        cmocka_unit_test(test_wall_ivr_cache_answers_like_the_registry),
        cmocka_unit_test(test_wall_compliance_states),
        cmocka_unit_test(test_wall_node_json_and_prometheus),
        cmocka_unit_test(test_wall_huge_peer_figures_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
