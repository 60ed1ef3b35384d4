/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for compliance/dnc_sync.c through the private Redis: a
 * DNC change made on one node is visible on another within a second; own
 * messages are not applied twice; malformed messages are dropped; a
 * reconnect and a reload message ask the owner to resync.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/err.h"
#include "core/kv.h"
#include "tests/support/evloop.h"
#include "tests/support/testenv.h"

struct node {
    struct compliance_dnc *d;
    struct kv_conn *pub;
    struct compliance_dnc_sync *sync;
    int pub_up;
    int resyncs_all, resyncs_list;
    struct compliance_dnc_list_info last;
};

struct fx {
    struct ev_loop *loop;
    struct node a, b;
    char channel[64];
};

static void on_pub_state(bool up, void *arg)
{
    struct node *n = arg;
    n->pub_up += up;
}

static void on_resync(const struct compliance_dnc_list_info *info, void *arg)
{
    struct node *n = arg;
    if (info == NULL) {
        n->resyncs_all++;
    } else {
        n->resyncs_list++;
        n->last = *info;
    }
}

static struct kv_options opts(void)
{
    struct kv_options o = { .host = "127.0.0.1",
                            .port = testenv_redis_port(),
                            .name = "dnc-sync",
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 200 };
    return o;
}

static void node_open(struct fx *f, struct node *n, const char *name)
{
    struct kv_options o = opts();
    o.state_cb = on_pub_state;
    o.state_arg = n;
    assert_int_equal(compliance_dnc_create(&n->d), 0);
    assert_int_equal(kv_conn_create(f->loop, &o, &n->pub), 0);
    assert_true(evloop_run_until(f->loop, &n->pub_up, 1, 5.0));
    struct kv_options so = opts();
    assert_int_equal(compliance_dnc_sync_create(f->loop, n->d, n->pub, &so, f->channel, name,
                                                on_resync, n, &n->sync),
                     0);
    assert_true(evloop_run_until(f->loop, &n->resyncs_all, 1, 5.0));
}

static void node_close(struct node *n)
{
    compliance_dnc_sync_destroy(n->sync);
    kv_conn_destroy(n->pub);
    compliance_dnc_destroy(n->d);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(f->channel, sizeof(f->channel), "test_dnc_sync:%d", (int)getpid());
    node_open(f, &f->a, "node-a");
    node_open(f, &f->b, "node-b");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    node_close(&f->a);
    node_close(&f->b);
    ev_loop_destroy(f->loop);
    free(f);
    assert_int_equal(testenv_services("start-redis"), 0);
    return 0;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until b has received want changes; returns the seconds it took. */
static double wait_received(struct fx *f, struct node *n, uint64_t want)
{
    double t0 = mono();
    for (int i = 0; i < 200 && compliance_dnc_sync_received(n->sync) < want; i++) {
        evloop_run_for(f->loop, 0.005);
    }
    assert_int_equal(compliance_dnc_sync_received(n->sync), want);
    return mono() - t0;
}

static void test_sync_add_and_remove_reach_the_other_node(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_list_info li;
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_TENANT;
    li.tenant_id = 42;
    assert_int_equal(compliance_dnc_sync_apply(f->a.sync, &li, 1, "+13055550101"), 0);
    /* visible on a at once, on b within a second */
    assert_int_equal(compliance_dnc_check(f->a.d, "+13055550101", "US", 42, 0, NULL), 1);
    double took = wait_received(f, &f->b, 1);
    assert_true(took < 1.0);
    assert_int_equal(compliance_dnc_check(f->b.d, "+13055550101", "US", 42, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(f->b.d, "+13055550101", "US", 43, 0, NULL), 0);

    assert_int_equal(compliance_dnc_sync_apply(f->b.sync, &li, 1, "+1212555"), 0);
    assert_int_equal(compliance_dnc_sync_apply(f->b.sync, &li, 0, "+13055550101"), 0);
    wait_received(f, &f->a, 2);
    assert_int_equal(compliance_dnc_check(f->a.d, "+13055550101", "US", 42, 0, NULL), 0);
    assert_int_equal(compliance_dnc_check(f->a.d, "+12125550000", "US", 42, 0, NULL), 1);
    /* a did not receive its own change back */
    assert_int_equal(compliance_dnc_sync_received(f->a.sync), 2);
    assert_int_equal(compliance_dnc_sync_received(f->b.sync), 1);
    assert_int_equal(compliance_dnc_sync_apply(f->a.sync, &li, 1, "junk"), ERR_INVAL);
}

static void test_sync_malformed_messages_dropped(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "hello",
        "dnc1 node-x add 1 42 0 0",              /* no entry */
        "dnc1 node-x add 9 42 0 0 +13055550101", /* bad scope */
        "dnc1 node-x add 1 42 0 0 +1305",        /* an area-code block: valid */
        "dnc1 node x add 1 42 0 0 +13055550101",
        "dnc1 node-x add 1 -4 0 0 +13055550101",
        "dnc1 node-x add 1 42 0 0 +13055550101 extra",
    };
    struct compliance_dnc_list_info info;
    char node[64], entry[24];
    int op;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = compliance_dnc_sync_parse(bad[i], strlen(bad[i]), &info, &op, node, entry);
        if (i == 3) {
            assert_int_equal(rc, 0); /* an area-code block is a valid entry */
            continue;
        }
        assert_int_equal(rc, ERR_PARSE);
    }
    (void)f;
}

static void on_ignore(int status, redisReply *r, void *arg)
{
    (void)status;
    (void)r;
    (void)arg;
}

static void test_sync_garbage_on_the_channel(void **state)
{
    struct fx *f = *state;
    const char *argv[3] = { "PUBLISH", f->channel, "dnc1 x add 1 42 0 0 +1305555010" };
    assert_int_equal(kv_cmd_send(f->a.pub, 3, argv, NULL, on_ignore, NULL, NULL), 0);
    struct compliance_dnc_list_info li;
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_TENANT;
    li.tenant_id = 42;
    assert_int_equal(compliance_dnc_sync_apply(f->a.sync, &li, 1, "+13055550109"), 0);
    wait_received(f, &f->b, 1); /* the good one after the bad one arrives */
    assert_int_equal(compliance_dnc_check(f->b.d, "+13055550109", "US", 42, 0, NULL), 1);
}

static void test_sync_reload_and_reconnect_resync(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_list_info li;
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_CAMPAIGN;
    li.tenant_id = 42;
    li.campaign_id = 7;
    li.list_id = 3;
    assert_int_equal(compliance_dnc_sync_reload(f->a.sync, &li), 0);
    assert_true(evloop_run_until(f->loop, &f->b.resyncs_list, 1, 2.0));
    assert_true(evloop_run_until(f->loop, &f->a.resyncs_list, 1, 2.0));
    assert_int_equal(f->b.last.scope, COMPLIANCE_DNC_CAMPAIGN);
    assert_int_equal(f->b.last.campaign_id, 7);
    assert_int_equal(f->b.last.list_id, 3);
    /* Redis restarts: each subscriber resyncs everything after reconnecting */
    assert_int_equal(testenv_services("restart-redis"), 0);
    assert_true(evloop_run_until(f->loop, &f->a.resyncs_all, 2, 10.0));
    assert_true(evloop_run_until(f->loop, &f->b.resyncs_all, 2, 10.0));
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
        cmocka_unit_test_setup_teardown(test_sync_add_and_remove_reach_the_other_node, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sync_malformed_messages_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_garbage_on_the_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_reload_and_reconnect_resync, setup, teardown),
    };
    return cmocka_run_group_tests_name("integration/compliance_dnc_sync", tests, group_setup, NULL);
}
