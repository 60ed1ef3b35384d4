/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for campaign/limits.c against the private Redis: two
 * kv connections act as two dialerd nodes sharing a trunk's CPS bucket and
 * channel limit; a dead node's channels are freed when its liveness key
 * goes; with Redis down nothing is granted (fail closed).
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "core/err.h"
#include "tests/support/evloop.h"
#include "tests/support/testenv.h"

#define SEC INT64_C(1000000)
#define T0  (INT64_C(1795878000) * SEC)

struct fx {
    struct ev_loop *loop;
    struct kv_conn *kv[2];
    struct campaign_limits *lim[2];
    char prefix[64];
};

struct grant {
    int done;
    int status;
    int granted;
};

static void on_grant(int status, int granted, void *arg)
{
    struct grant *g = arg;
    g->status = status;
    g->granted += granted;
    g->done++;
}

static void on_cmd(int status, redisReply *reply, void *arg)
{
    (void)status;
    (void)reply;
    (*(int *)arg)++;
}

static int setup(void **state)
{
    static int seq;
    struct fx *f = calloc(1, sizeof(*f));
    struct kv_options o = { .host = "127.0.0.1",
                            .port = testenv_redis_port(),
                            .name = "limits",
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 200 };
    f->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(f->prefix, sizeof(f->prefix), "test:%d:%d:", (int)getpid(), ++seq);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kv_conn_create(f->loop, &o, &f->kv[i]), 0);
        assert_int_equal(
            campaign_limits_create(f->kv[i], f->prefix, i ? "node-b" : "node-a", 30, &f->lim[i]),
            0);
    }
    for (int i = 0; i < 200 && !(kv_conn_is_up(f->kv[0]) && kv_conn_is_up(f->kv[1])); i++) {
        evloop_run_for(f->loop, 0.01);
    }
    assert_true(kv_conn_is_up(f->kv[0]) && kv_conn_is_up(f->kv[1]));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++) {
        campaign_limits_destroy(f->lim[i]);
        kv_conn_destroy(f->kv[i]);
    }
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

static int acquire(struct fx *f, int node, const struct campaign_limit_spec *spec, int want,
                   int64_t now)
{
    struct grant g = { 0 };
    assert_int_equal(campaign_limits_acquire(f->lim[node], spec, want, now, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.status, 0);
    return g.granted;
}

static void release(struct fx *f, int node, const char *key, int n)
{
    struct grant g = { 0 };
    assert_int_equal(campaign_limits_release(f->lim[node], key, n, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.status, 0);
}

static void test_limits_cps_shared_by_two_nodes(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "trunk-a", .cps = 10, .burst = 10 };
    assert_int_equal(acquire(f, 0, &spec, 8, T0), 8);
    assert_int_equal(acquire(f, 1, &spec, 8, T0), 2);
    assert_int_equal(acquire(f, 1, &spec, 8, T0), 0);
    assert_int_equal(acquire(f, 0, &spec, 10, T0 + SEC / 2), 5);
    /* a clock behind the last refill does not mint tokens */
    assert_int_equal(acquire(f, 1, &spec, 10, T0), 0);
    /* many small requests in flight from both nodes at once: never more than the bucket */
    struct grant g = { 0 };
    for (int i = 0; i < 40; i++) {
        assert_int_equal(
            campaign_limits_acquire(f->lim[i % 2], &spec, 1, T0 + 3 * SEC, on_grant, &g), 0);
    }
    assert_true(evloop_run_until(f->loop, &g.done, 40, 5.0));
    assert_int_equal(g.granted, 10);
}

static void test_limits_channels_across_nodes(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "trunk-b", .max_channels = 5 };
    assert_int_equal(acquire(f, 0, &spec, 3, T0), 3);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 2);
    assert_int_equal(acquire(f, 1, &spec, 1, T0), 0);
    release(f, 0, "trunk-b", 2);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 2);
    /* node a dies: when its liveness key is gone its one channel is free again */
    char key[128];
    snprintf(key, sizeof(key), "%slim:node:node-a", f->prefix);
    const char *argv[2] = { "DEL", key };
    int done = 0;
    assert_int_equal(kv_cmd_send(f->kv[1], 2, argv, NULL, on_cmd, &done, NULL), 0);
    assert_true(evloop_run_until(f->loop, &done, 1, 5.0));
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 1);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 0);
}

static void test_limits_fail_closed_when_redis_is_down(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "trunk-c", .cps = 100, .max_channels = 100 };
    struct grant g = { 0 };
    assert_int_equal(testenv_services("stop-redis"), 0);
    for (int i = 0; i < 200 && kv_conn_is_up(f->kv[0]); i++) {
        evloop_run_for(f->loop, 0.01);
    }
    int rc = campaign_limits_acquire(f->lim[0], &spec, 5, T0, on_grant, &g);
    if (rc == 0) {
        assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
        assert_true(g.status != 0);
    }
    assert_int_equal(g.granted, 0);
    assert_int_equal(testenv_services("start-redis"), 0);
    for (int i = 0; i < 500 && !kv_conn_is_up(f->kv[0]); i++) {
        evloop_run_for(f->loop, 0.01);
    }
    assert_int_equal(acquire(f, 0, &spec, 5, T0), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limits_cps_shared_by_two_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_channels_across_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_fail_closed_when_redis_is_down, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
