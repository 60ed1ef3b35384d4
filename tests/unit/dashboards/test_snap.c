/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dashboards: the registry (idempotent registration, capacity),
 * rates over fake time, the cluster merge of a campaign and its derived
 * figures, the snapshot JSON between nodes and its parser's refusals, and the
 * Prometheus text (HELP/TYPE once per family, label escaping, core counters).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/counter.h"
#include "core/err.h"
#include "dashboards/dash_int.h"

static struct dash *mk(size_t cap, const char *node)
{
    struct dash_config c = { .node_id = node, .max_entities = cap };
    struct dash *d = NULL;
    assert_int_equal(dash_create(&c, &d), 0);
    return d;
}

static void test_dash_register_is_idempotent_and_bounded(void **state)
{
    struct dash *d = mk(3, "n1");
    (void)state;

    struct dash_entity *a = dash_campaign(d, 1, 10);
    assert_non_null(a);
    assert_ptr_equal(dash_campaign(d, 1, 10), a);
    assert_ptr_not_equal(dash_campaign(d, 2, 10), a); /* another tenant, another entity */
    assert_non_null(dash_trunk(d, "carrier-a"));
    assert_null(dash_campaign(d, 1, 11)); /* full */
    assert_ptr_equal(dash_trunk(d, "carrier-a"), dash_trunk(d, "carrier-a"));
    assert_null(dash_campaign(d, 0, 5));
    assert_null(dash_trunk(d, ""));
    assert_null(dash_ivr_node(d, 1, 1, NULL, NULL));
    dash_destroy(d);
}

static void test_dash_rates_over_fake_time(void **state)
{
    struct dash *d = mk(8, "n1");
    struct dash_entity *e = dash_campaign(d, 1, 7);
    int64_t t = 1000000000;
    struct dash_snap *s;
    (void)state;

    s = dash__snap_take(d, d->hist, t);
    assert_true(s->e[0].cps_1s == 0.0);
    free(s);
    /* 30 attempts per second for 70 seconds, then 10 in the last second. */
    for (int i = 0; i < 70; i++) {
        dash_add(e, DASH_ATTEMPTS, 30);
        t += 1000000;
        s = dash__snap_take(d, d->hist, t);
        free(s);
    }
    dash_add(e, DASH_ATTEMPTS, 10);
    t += 1000000;
    s = dash__snap_take(d, d->hist, t);
    assert_int_equal(s->e[0].v[DASH_ATTEMPTS], 70 * 30 + 10);
    assert_true(s->e[0].cps_1s > 9.99 && s->e[0].cps_1s < 10.01);
    /* the minute window: 59 seconds at 30 and one at 10, over 60 seconds */
    double want = (59.0 * 30 + 10) / 60.0;
    assert_true(s->e[0].cps_1m > want - 0.01 && s->e[0].cps_1m < want + 0.01);
    free(s);
    dash_destroy(d);
}

static struct dash_snap *one(const char *node, int64_t tenant, int64_t id, int64_t ts)
{
    struct dash_snap *s = calloc(1, sizeof(*s) + sizeof(s->e[0]));
    snprintf(s->node, sizeof(s->node), "%s", node);
    s->n = 1;
    s->taken_us = ts;
    s->e[0].kind = DASH_KIND_CAMPAIGN;
    s->e[0].tenant_id = tenant;
    s->e[0].id = id;
    s->e[0].cap_bp = 300;
    return s;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_dash_campaign_merges_nodes(void **state)
{
    struct dash_snap *a = one("n1", 1, 5, 1000), *b = one("n2", 1, 5, 2000);
    struct dash_snap *other = one("n3", 2, 5, 3000);
    (void)state;

    a->e[0].v[DASH_ATTEMPTS] = 100;
    a->e[0].v[DASH_ANSWERED] = 40;
    a->e[0].v[DASH_HUMAN] = 30;
    a->e[0].v[DASH_MACHINE] = 10;
    a->e[0].v[DASH_ABANDONED] = 1;
    a->e[0].v[DASH_TALK_MS] = 40 * 60000;
    a->e[0].v[DASH_CONTACTS_TOTAL] = 1000;
    a->e[0].v[DASH_CONTACTS_REMAINING] = 400;
    a->e[0].cps_1m = 2.0;
    a->e[0].state = DASH_STATE_PAUSED;
    b->e[0].v[DASH_ATTEMPTS] = 100;
    b->e[0].v[DASH_ANSWERED] = 60;
    b->e[0].v[DASH_HUMAN] = 50;
    b->e[0].v[DASH_MACHINE] = 10;
    b->e[0].v[DASH_ABANDONED] = 3;
    b->e[0].v[DASH_TALK_MS] = 60 * 30000;
    b->e[0].v[DASH_CONTACTS_TOTAL] = 1000;
    b->e[0].v[DASH_CONTACTS_REMAINING] = 200;
    b->e[0].cps_1m = 3.0;
    b->e[0].state = DASH_STATE_RUNNING;
    other->e[0].v[DASH_ATTEMPTS] = 999;
    const struct dash_snap *all[] = { a, NULL, b, other };

    json_t *o = dash__campaign_json(all, 4, 1, 5);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 2);
    /* the newest snapshot names the state */
    assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
    assert_true(num(o, "asr") == 0.5);
    assert_true(num(o, "abandon_rate") == 4.0 / 80.0); /* of human answers */
    assert_true(num(o, "avg_call_s") == (40.0 * 60 + 60.0 * 30) / 100.0);
    assert_int_equal(json_integer_value(json_object_get(o, "contacts_remaining")), 600);
    assert_int_equal(json_integer_value(json_object_get(o, "contacts_total")), 1000);
    assert_true(num(o, "progress") == 0.4);
    assert_int_equal(json_integer_value(json_object_get(o, "eta_s")), 120); /* 600 / 5 per s */
    json_decref(o);
    /* another tenant's campaign with the same id is not mixed in, and unknown is NULL */
    o = dash__campaign_json(all, 4, 2, 5);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 999);
    json_decref(o);
    assert_null(dash__campaign_json(all, 4, 3, 5));
    o = dash__tenant_campaigns(all, 4, 1);
    assert_int_equal(json_array_size(o), 1);
    json_decref(o);
    free(a);
    free(b);
    free(other);
}

static void test_dash_snapshot_json_round_trip(void **state)
{
    struct dash *d = mk(8, "node-\"7\"");
    struct dash_entity *e = dash_campaign(d, 3, 9);
    struct dash_entity *t = dash_trunk(d, "tr\\unk");
    struct dash_entity *n = dash_ivr_node(d, 3, 4, "menu", "1");
    struct dash_snap *s, *p;
    char err[160];
    json_t *j;
    char *text;
    (void)state;

    dash_add(e, DASH_ATTEMPTS, 12);
    dash_campaign_state(d, e, DASH_STATE_RUNNING);
    dash_set(t, DASH_CAPACITY, 30);
    dash_inc(n, DASH_HITS);
    s = dash__snap_take(d, d->hist, 5000000);
    j = dash__snap_to_json(s);
    text = json_dumps(j, JSON_COMPACT);
    p = dash__snap_parse(text, strlen(text), err, sizeof(err));
    assert_non_null(p);
    assert_string_equal(p->node, "node-\"7\"");
    assert_int_equal(p->n, 3);
    assert_int_equal(p->e[0].v[DASH_ATTEMPTS], 12);
    assert_int_equal(p->e[0].state, DASH_STATE_RUNNING);
    assert_string_equal(p->e[1].name, "tr\\unk");
    assert_int_equal(p->e[1].v[DASH_CAPACITY], 30);
    assert_string_equal(p->e[2].outcome, "1");
    free(p);
    free(text);
    json_decref(j);
    free(s);
    dash_destroy(d);
}

static void test_dash_snapshot_parser_refuses_bad_input(void **state)
{
    static const struct {
        const char *in;
        const char *field;
    } cases[] = {
        { "", "not a JSON object" },
        { "[]", "not a JSON object" },
        { "{\"v\":2,\"node\":\"a\",\"seq\":1,\"ts\":1,\"e\":[]}", "$.v" },
        { "{\"v\":1,\"node\":\"\",\"seq\":1,\"ts\":1,\"e\":[]}", "$.node" },
        { "{\"v\":1,\"node\":\"a\",\"seq\":\"1\",\"ts\":1,\"e\":[]}", "$.seq" },
        { "{\"v\":1,\"node\":\"a\",\"seq\":1,\"ts\":1,\"e\":{}}", "$.e" },
        { "{\"v\":1,\"node\":\"a\",\"seq\":1,\"ts\":1,\"e\":[[0,1,1,\"\",\"\",0,300,[],0,0]]}",
          "$.e[0]" },
        { "{\"v\":1,\"node\":\"a\",\"seq\":1,\"ts\":1,\"e\":[[9,1,1,\"\",\"\",0,300,[],0,0]]}",
          "$.e[0]" },
        { "{\"v\":1,\"node\":\"a\",\"node\":\"b\",\"seq\":1,\"ts\":1,\"e\":[]}",
          "not a JSON object" },
    };

    char err[160];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_null(dash__snap_parse(cases[i].in, strlen(cases[i].in), err, sizeof(err)));
        if (strstr(err, cases[i].field) == NULL) {
            fail_msg("case %zu: \"%s\" does not name %s", i, err, cases[i].field);
        }
    }
}

static struct counter c_a =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dashtest_events_total{kind=\"a\"}", "test events");
static struct counter c_g = COUNTER_INIT(COUNTER_KIND_GAUGE, "dashtest_level", "test level");
static struct counter c_b =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dashtest_events_total{kind=\"b\"}", "test events");

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_dash_prometheus_text(void **state)
{
    struct dash *d = mk(8, "n1");
    struct dash_entity *e = dash_campaign(d, 1, 2);
    struct dash_entity *t = dash_trunk(d, "a\"b\\c\nd");
    struct dash_buf b = { 0 };
    struct dash_snap *s;
    (void)state;

    counter_register(&c_a);
    counter_register(&c_g);
    counter_register(&c_b);
    counter_add(&c_b, 5);
    dash_add(e, DASH_ATTEMPTS, 41);
    dash_set(e, DASH_RINGING, 3);
    dash_campaign_state(d, e, DASH_STATE_RUNNING);
    dash_set(t, DASH_CHANNELS, 7);
    s = dash__snap_take(d, d->hist, 1000);
    const struct dash_snap *arr[] = { s };
    dash__prom_render(&b, arr, 1, true);
    assert_false(b.oom);
    dash__buf_printf(&b, "%c", '\0');
    assert_non_null(strstr(b.p, "# TYPE dialer_campaign_attempts_total counter\n"
                                "dialer_campaign_attempts_total{node=\"n1\",tenant=\"1\","
                                "campaign=\"2\"} 41\n"));
    assert_non_null(strstr(b.p, "# TYPE dialer_campaign_ringing gauge\n"));
    assert_non_null(
        strstr(b.p, "dialer_campaign_running{node=\"n1\",tenant=\"1\",campaign=\"2\"} 1\n"));
    assert_non_null(strstr(b.p, "dialer_campaign_cps{node=\"n1\",tenant=\"1\",campaign=\"2\","
                                "window=\"1s\"} 0.000\n"));
    assert_non_null(
        strstr(b.p, "dialer_trunk_channels{node=\"n1\",trunk=\"a\\\"b\\\\c\\nd\"} 7\n"));
    /* one HELP and TYPE per family, its samples together */
    assert_int_equal(count(b.p, "# TYPE dialer_campaign_attempts_total "), 1);
    assert_int_equal(count(b.p, "# TYPE dashtest_events_total counter"), 1);
    assert_non_null(strstr(b.p, "dashtest_events_total{kind=\"a\"} 0\n"
                                "dashtest_events_total{kind=\"b\"} 5\n"));
    assert_non_null(strstr(b.p, "# TYPE dashtest_level gauge\ndashtest_level 0\n"));
    /* every line is a comment or "name{labels} value" */
    for (char *line = b.p; *line != '\0';) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (line[0] != '#') {
            char one[512];
            size_t l = (size_t)(nl - line);
            assert_true(l < sizeof(one));
            memcpy(one, line, l);
            one[l] = '\0';
            char *sp = strrchr(one, ' ');
            assert_non_null(sp);
            assert_true(strchr(one, '{') == NULL || sp[-1] == '}');
            assert_true(strtod(sp + 1, NULL) >= 0);
        }
        line = nl + 1;
    }
    dash__buf_free(&b);
    free(s);
    dash_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dash_register_is_idempotent_and_bounded),
        cmocka_unit_test(test_dash_rates_over_fake_time),
        cmocka_unit_test(test_dash_campaign_merges_nodes),
        cmocka_unit_test(test_dash_snapshot_json_round_trip),
        cmocka_unit_test(test_dash_snapshot_parser_refuses_bad_input),
        cmocka_unit_test(test_dash_prometheus_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
