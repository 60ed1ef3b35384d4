/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for compliance/caps.c against the private Redis:
 * rolling windows and their next eligible moment, lockouts after events,
 * release, the cap shared by two processes, and failing closed with Redis
 * stopped. Keys are prefixed "test_caps:<pid>:" so runs do not collide.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/counter.h"
#include "core/err.h"
#include "core/kv.h"
#include "tests/support/evloop.h"
#include "tests/support/testenv.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define DAY_US  (24 * HOUR_US)
/* 2026-06-10T12:00:00Z */
#define T0 (INT64_C(1781092800) * 1000000)

struct fx {
    struct ev_loop *loop;
    struct kv_conn *kv;
    struct compliance_caps *caps;
    int ups;
    char prefix[64];
};

struct got {
    int done;
    struct compliance_cap_result r;
};

static void on_state(bool up, void *arg)
{
    struct fx *f = arg;
    f->ups += up;
}

static void on_cap(const struct compliance_cap_result *r, void *arg)
{
    struct got *g = arg;
    g->r = *r;
    g->done++;
}

static void fx_open(struct fx *f, const char *tag)
{
    struct kv_options o = { .host = "127.0.0.1",
                            .port = testenv_redis_port(),
                            .name = "caps",
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 200,
                            .command_timeout_ms = 500,
                            .stall_timeout_ms = 500,
                            .state_cb = on_state,
                            .state_arg = f };
    f->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(f->prefix, sizeof(f->prefix), "test_caps:%s:", tag);
    assert_int_equal(kv_conn_create(f->loop, &o, &f->kv), 0);
    assert_true(evloop_run_until(f->loop, &f->ups, 1, 5.0));
    assert_int_equal(compliance_caps_create(f->kv, f->prefix, &f->caps), 0);
}

static void fx_close(struct fx *f)
{
    compliance_caps_destroy(f->caps);
    kv_conn_destroy(f->kv);
    ev_loop_destroy(f->loop);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char tag[32];
    snprintf(tag, sizeof(tag), "%d", (int)getpid());
    fx_open(f, tag);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    free(f);
    assert_int_equal(testenv_services("start-redis"), 0);
    return 0;
}

static struct compliance_cap_result reserve(struct fx *f, const char *num,
                                            const struct compliance_cap_rule *const *rules,
                                            size_t n, int64_t now)
{
    struct got g = { 0 };
    assert_int_equal(compliance_caps_reserve(f->caps, 1, num, rules, n, now, on_cap, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    return g.r;
}

/* 3 per 24 h: the fourth is refused until the first leaves the window; the
 * count is per number and tenant. */
static void test_caps_rolling_window(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct compliance_cap_rule *const *rs = compliance_cap_ruleset("us-3-per-24h", &n);
    struct compliance_cap_result r;
    assert_non_null(rs);
    for (int i = 0; i < 3; i++) {
        r = reserve(f, "+13055550101", rs, n, T0 + i * HOUR_US);
        assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    }
    r = reserve(f, "+13055550101", rs, n, T0 + 5 * HOUR_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_string_equal(r.rule->id, "3-per-24h");
    assert_int_equal(r.next_eligible_us, T0 + DAY_US);
    /* another number is not affected */
    r = reserve(f, "+13055550102", rs, n, T0 + 5 * HOUR_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    /* one millisecond early: still blocked; at the edge: allowed */
    r = reserve(f, "+13055550101", rs, n, T0 + DAY_US - 1000);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    r = reserve(f, "+13055550101", rs, n, T0 + DAY_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    /* now the window holds t0+1h, t0+2h, t0+24h: next frees at t0+25h */
    r = reserve(f, "+13055550101", rs, n, T0 + DAY_US + 1000);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_int_equal(r.next_eligible_us, T0 + DAY_US + HOUR_US);
}

/* A released reservation does not count. */
static void test_caps_release(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct compliance_cap_rule *const *rs = compliance_cap_ruleset("us-3-per-24h", &n);
    struct compliance_cap_result r;
    for (int i = 0; i < 3; i++) {
        r = reserve(f, "+13055550103", rs, n, T0 + i * 1000000);
        assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    }
    /* a peek says "blocked" and records nothing */
    struct got g = { 0 };
    assert_int_equal(
        compliance_caps_peek(f->caps, 1, "+13055550103", rs, n, T0 + 5 * 1000000, on_cap, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_int_equal(compliance_caps_release(f->caps, 1, "+13055550103", r.reservation), 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        compliance_caps_peek(f->caps, 1, "+13055550103", rs, n, T0 + 6 * 1000000, on_cap, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.r.outcome, COMPLIANCE_CAP_OK);
    assert_string_equal(g.r.reservation, "");
    r = reserve(f, "+13055550103", rs, n, T0 + 10 * 1000000);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    r = reserve(f, "+13055550103", rs, n, T0 + 11 * 1000000);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
}

/* Reg F: 7 in 7 days, and none within 7 days after a conversation. */
static void test_caps_regf(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct compliance_cap_rule *const *rs = compliance_cap_ruleset("us-regf", &n);
    struct compliance_cap_result r;
    for (int i = 0; i < 7; i++) {
        r = reserve(f, "+12125550104", rs, n, T0 + i * 10 * HOUR_US);
        assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    }
    r = reserve(f, "+12125550104", rs, n, T0 + 3 * DAY_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_string_equal(r.rule->id, "us-regf-7-in-7");
    assert_int_equal(r.next_eligible_us, T0 + 7 * DAY_US);

    assert_int_equal(
        compliance_caps_record_event(f->caps, 1, "+12125550105", "conversation", T0, 8 * 86400), 0);
    r = reserve(f, "+12125550105", rs, n, T0 + 6 * DAY_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_string_equal(r.rule->id, "us-regf-7-days-after-conversation");
    assert_int_equal(r.next_eligible_us, T0 + 7 * DAY_US);
    r = reserve(f, "+12125550105", rs, n, T0 + 7 * DAY_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
}

/* France: 4 in 30 days; the UK's 72 h after an abandoned call. */
static void test_caps_fr_and_gb(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct compliance_cap_rule *const *fr = compliance_cap_ruleset("fr", &n);
    struct compliance_cap_result r;
    for (int i = 0; i < 4; i++) {
        r = reserve(f, "+33142685300", fr, n, T0 + i * DAY_US);
        assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
    }
    r = reserve(f, "+33142685300", fr, n, T0 + 29 * DAY_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_string_equal(r.rule->id, "fr-4-per-30d");
    assert_int_equal(r.next_eligible_us, T0 + 30 * DAY_US);

    const struct compliance_cap_rule *const *gb = compliance_cap_ruleset("gb", &n);
    assert_int_equal(
        compliance_caps_record_event(f->caps, 1, "+442079460000", "abandon", T0, 4 * 86400), 0);
    r = reserve(f, "+442079460000", gb, n, T0 + 71 * HOUR_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_BLOCKED);
    assert_string_equal(r.rule->id, "gb-72h-after-abandon");
    r = reserve(f, "+442079460000", gb, n, T0 + 72 * HOUR_US);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
}

/* Two processes, each with its own connection, reserve the same number at
 * once, 20 attempts each: exactly 3 are allowed in all. */
static int run_side(const char *prefix_tag, int rfd, int count)
{
    struct fx f = { 0 };
    size_t n;
    const struct compliance_cap_rule *const *rs = compliance_cap_ruleset("us-3-per-24h", &n);
    struct got g[20];
    char go;
    int ok = 0;
    fx_open(&f, prefix_tag);
    if (read(rfd, &go, 1) != 1) {
        return -1;
    }
    memset(g, 0, sizeof(g));
    for (int i = 0; i < count; i++) {
        if (compliance_caps_reserve(f.caps, 1, "+14155550199", rs, n, T0 + i, on_cap, &g[i]) != 0) {
            return -1;
        }
    }
    int done = 0;
    for (int k = 0; k < 200 && done < count; k++) {
        evloop_run_for(f.loop, 0.02);
        done = 0;
        for (int i = 0; i < count; i++) {
            done += g[i].done;
        }
    }
    for (int i = 0; i < count; i++) {
        ok += g[i].done == 1 && g[i].r.outcome == COMPLIANCE_CAP_OK;
    }
    fx_close(&f);
    return done == count ? ok : -1;
}

static void test_caps_two_processes(void **state)
{
    int pfd[2];
    char tag[32];
    (void)state;
    /* both sides must use the same keys: the tag includes the parent's pid */
    snprintf(tag, sizeof(tag), "shared%d", (int)getpid());
    assert_int_equal(pipe(pfd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(pfd[1]);
        int ok = run_side(tag, pfd[0], 20);
        _exit(ok < 0 ? 100 : ok);
    }
    close(pfd[0]);
    int wr[2];
    assert_int_equal(pipe(wr), 0);
    /* the parent's side reads its own go byte from wr */
    assert_int_equal(write(wr[1], "g", 1), 1);
    assert_int_equal(write(pfd[1], "g", 1), 1);
    int mine = run_side(tag, wr[0], 20);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    close(pfd[1]);
    close(wr[0]);
    close(wr[1]);
    assert_true(WIFEXITED(status));
    int theirs = WEXITSTATUS(status);
    assert_true(mine >= 0 && theirs <= 20);
    assert_int_equal(mine + theirs, 3);
}

/* Redis stopped: the check fails closed with its own outcome and counter. */
struct count_fx {
    const char *name;
    int64_t value;
};

static void find_counter(const struct counter *c, void *arg)
{
    struct count_fx *x = arg;
    if (strcmp(c->name, x->name) == 0) {
        x->value = counter_get(c);
    }
}

static void test_caps_fail_closed(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct compliance_cap_rule *const *rs = compliance_cap_ruleset("us-3-per-24h", &n);
    struct count_fx before = { "compliance_caps_unavailable_total", -1 };
    struct count_fx after = { "compliance_caps_unavailable_total", -1 };
    counter_foreach(find_counter, &before);
    assert_int_equal(testenv_services("stop-redis"), 0);
    struct compliance_cap_result r = reserve(f, "+13055550109", rs, n, T0);
    assert_int_equal(r.outcome, COMPLIANCE_CAP_UNAVAILABLE);
    assert_true(r.status == ERR_DISCONNECTED || r.status == ERR_TIMEOUT);
    counter_foreach(find_counter, &after);
    assert_int_equal(after.value, before.value + 1);
    /* back up: the reconnect re-registers the scripts and checks work again */
    assert_int_equal(testenv_services("start-redis"), 0);
    for (int i = 0; i < 100; i++) {
        r = reserve(f, "+13055550109", rs, n, T0);
        if (r.outcome != COMPLIANCE_CAP_UNAVAILABLE) {
            break;
        }
        evloop_run_for(f->loop, 0.1);
    }
    assert_int_equal(r.outcome, COMPLIANCE_CAP_OK);
}

/* The whole question: window and lists in memory, then the caps in Redis. */
struct dec {
    int done;
    struct compliance_decision d;
};

static void on_decision(const struct compliance_decision *d, void *arg)
{
    struct dec *x = arg;
    x->d = *d;
    x->done++;
}

static void test_caps_decide(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc *dnc;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info li;
    struct compliance_campaign cp;
    struct compliance_decision now;
    /* 2026-06-10T16:00:00Z: noon in Miami */
    const int64_t noon = INT64_C(1781107200) * 1000000;
    memset(&li, 0, sizeof(li));
    memset(&cp, 0, sizeof(cp));
    li.scope = COMPLIANCE_DNC_NATIONAL;
    snprintf(li.country, sizeof(li.country), "%s", "US");
    li.list_date_us = noon - DAY_US;
    li.max_age_days = 31;
    assert_int_equal(compliance_dnc_create(&dnc), 0);
    assert_int_equal(compliance_dnc_builder_create(&b), 0);
    assert_int_equal(compliance_dnc_publish(dnc, &li, b, 0), 0);
    cp.tenant_id = 1;
    cp.campaign_id = 10;
    /* Florida's 3 per 24 h applies by law although the campaign selected no caps */
    for (int i = 0; i < 4; i++) {
        struct dec x = { 0 };
        int rc = compliance_decide(dnc, f->caps, &cp, "+13055550177", NULL, noon + i * 1000000,
                                   &now, on_decision, &x);
        assert_int_equal(rc, ERR_AGAIN);
        assert_true(evloop_run_until(f->loop, &x.done, 1, 5.0));
        if (i < 3) {
            assert_int_equal(x.d.verdict, COMPLIANCE_ALLOW);
            assert_true(x.d.reservation[0] != '\0');
        } else {
            assert_int_equal(x.d.reason, COMPLIANCE_REASON_CAP);
            assert_string_equal(x.d.rule_id, "us-fl-3-per-24h");
            assert_int_equal(x.d.next_eligible_us, noon + DAY_US);
        }
    }
    /* a window block is decided at once, without Redis */
    struct dec x = { 0 };
    assert_int_equal(compliance_decide(dnc, f->caps, &cp, "+13055550178", NULL, noon - 12 * HOUR_US,
                                       &now, on_decision, &x),
                     0);
    assert_int_equal(now.reason, COMPLIANCE_REASON_WINDOW);
    assert_int_equal(x.done, 0);
    /* Redis down: fail closed with its own reason */
    assert_int_equal(testenv_services("stop-redis"), 0);
    struct dec y = { 0 };
    int rc =
        compliance_decide(dnc, f->caps, &cp, "+13055550179", NULL, noon, &now, on_decision, &y);
    if (rc == ERR_AGAIN) {
        assert_true(evloop_run_until(f->loop, &y.done, 1, 5.0));
        now = y.d;
    }
    assert_int_equal(now.verdict, COMPLIANCE_BLOCK);
    assert_int_equal(now.reason, COMPLIANCE_REASON_CAP_UNAVAILABLE);
    compliance_dnc_destroy(dnc);
}

static void test_caps_rules_for_place(void **state)
{
    struct compliance_place p;
    const struct compliance_cap_rule *out[4];
    (void)state;
    assert_int_equal(compliance_locate("+13055550123", &p), 0);
    assert_int_equal(compliance_cap_rules_for_place(&p, out, 4), 1);
    assert_string_equal(out[0]->id, "us-fl-3-per-24h");
    assert_int_equal(compliance_locate("+12125550123", &p), 0);
    assert_int_equal(compliance_cap_rules_for_place(&p, out, 4), 0);
    size_t n;
    assert_null(compliance_cap_ruleset("nope", &n));
}

static int group_setup(void **state)
{
    (void)state;
    (void)testenv_redis_port();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_caps_rolling_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps_regf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps_fr_and_gb, setup, teardown),
        cmocka_unit_test(test_caps_two_processes),
        cmocka_unit_test_setup_teardown(test_caps_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps_decide, setup, teardown),
        cmocka_unit_test(test_caps_rules_for_place),
    };
    return cmocka_run_group_tests_name("integration/compliance_caps", tests, group_setup, NULL);
}
