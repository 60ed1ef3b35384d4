/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for campaign/limits.c against the private Redis: two
 * kv connections act as two dialerd nodes sharing a trunk's CPS bucket and
 * channel limit; a dead node's channels keep counting after its liveness
 * key goes until a survivor takes them over (or its hold expires); with
 * Redis down nothing is granted (fail closed).
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
#include "core/clock.h"
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

struct keys {
    int done;
    int n;
    char key[8][192];
};

static void on_keys(int status, redisReply *reply, void *arg)
{
    struct keys *k = arg;
    if (status == 0 && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements && k->n < 8; i++) {
            snprintf(k->key[k->n++], sizeof(k->key[0]), "%s", reply->element[i]->str);
        }
    }
    k->done++;
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

/* Deletes the liveness keys of every process of node (as their TTL would). */
static void expire_node(struct fx *f, const char *node)
{
    char pattern[192];
    snprintf(pattern, sizeof(pattern), "%slim:node:%s*", f->prefix, node);
    const char *argv[2] = { "KEYS", pattern };
    struct keys k = { 0 };
    assert_int_equal(kv_cmd_send(f->kv[1], 2, argv, NULL, on_keys, &k, NULL), 0);
    assert_true(evloop_run_until(f->loop, &k.done, 1, 5.0));
    assert_true(k.n > 0);
    for (int i = 0; i < k.n; i++) {
        const char *del[2] = { "DEL", k.key[i] };
        int done = 0;
        assert_int_equal(kv_cmd_send(f->kv[1], 2, del, NULL, on_cmd, &done, NULL), 0);
        assert_true(evloop_run_until(f->loop, &done, 1, 5.0));
    }
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

struct orphans {
    int done;
    int status;
    size_t n;
    struct campaign_orphan v[CAMPAIGN_ORPHANS_MAX];
};

static void on_orphans(int status, const struct campaign_orphan *v, size_t n, void *arg)
{
    struct orphans *o = arg;
    o->status = status;
    o->n = n;
    memcpy(o->v, v, n * sizeof(*v));
    o->done++;
}

static struct orphans orphans(struct fx *f, int node, const char *key)
{
    struct orphans o = { 0 };
    assert_int_equal(campaign_limits_orphans(f->lim[node], key, 4, on_orphans, &o), 0);
    assert_true(evloop_run_until(f->loop, &o.done, 1, 5.0));
    assert_int_equal(o.status, 0);
    return o;
}

static int takeover(struct fx *f, int node, const char *key, const char *dead, int n)
{
    struct grant g = { 0 };
    assert_int_equal(campaign_limits_takeover(f->lim[node], key, dead, n, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.status, 0);
    return g.granted;
}

static void del_key(struct fx *f, const char *what, const char *field)
{
    char k[256];
    snprintf(k, sizeof(k), "%slim:%s%s%s", f->prefix, what, *field ? ":" : "", field);
    const char *argv[2] = { "DEL", k };
    int done = 0;
    assert_int_equal(kv_cmd_send(f->kv[1], 2, argv, NULL, on_cmd, &done, NULL), 0);
    assert_true(evloop_run_until(f->loop, &done, 1, 5.0));
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
    /* node a dies: its call may still be up, so its channel counts after its
     * liveness key is gone, until node b takes it over (here with no call left) */
    char dead[160];
    snprintf(dead, sizeof(dead), "%s", campaign_limits_self(f->lim[0]));
    expire_node(f, "node-a");
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 0);
    struct orphans o = orphans(f, 1, "trunk-b");
    assert_int_equal(o.n, 1);
    assert_string_equal(o.v[0].process, dead);
    assert_int_equal(o.v[0].channels, 1);
    assert_int_equal(takeover(f, 1, "trunk-b", dead, 0), 0);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 1);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 0);
}

/*
 * A dead process's calls stay counted through the takeover: the survivor
 * that adopted three of them books them as its own and the dead field goes
 * in the same step, so the free channels never include them; one survivor
 * gets the orphan (claimed), and a live process is never an orphan.
 */
static void test_limits_takeover_keeps_dead_calls_counted(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "global-t", .max_channels = 5 };
    char dead[160];
    snprintf(dead, sizeof(dead), "%s", campaign_limits_self(f->lim[0]));
    assert_int_equal(acquire(f, 0, &spec, 4, T0), 4);
    assert_int_equal(orphans(f, 1, "global-t").n, 0); /* node a is alive */
    expire_node(f, "node-a");
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 1); /* a's four still count */
    struct orphans o = orphans(f, 1, "global-t");
    assert_int_equal(o.n, 1);
    assert_int_equal(o.v[0].channels, 4);
    assert_int_equal(orphans(f, 1, "global-t").n, 0); /* claimed: not offered twice */
    /* three of a's calls are still up: b books them, a's field goes */
    assert_int_equal(takeover(f, 1, "global-t", dead, 3), 3);
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 1); /* 1 + 3 held by b, 1 free */
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 0);
    release(f, 1, "global-t", 3); /* the adopted calls end */
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 3);
    /* a process taken for dead but only stalled (alive again): nothing removed (-1) */
    assert_int_equal(acquire(f, 0, &spec, 0, T0), 0);
    assert_int_equal(campaign_limits_takeover(f->lim[1], "global-t",
                                              campaign_limits_self(f->lim[1]), 0, NULL, NULL),
                     ERR_INVAL);
    assert_int_equal(takeover(f, 1, "global-t", campaign_limits_self(f->lim[0]), 0), -1);
}

static int takeover_keys(struct fx *f, int node, const char *dead,
                         const struct campaign_takeover_key *v, size_t n)
{
    struct grant g = { 0 };
    assert_int_equal(campaign_limits_takeover_keys(f->lim[node], dead, v, n, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.status, 0);
    return g.granted;
}

struct hget {
    int done;
    long long v; /* -1: no such field */
};

static void on_hget(int status, redisReply *reply, void *arg)
{
    struct hget *h = arg;
    h->v = status == 0 && reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10) : -1;
    h->done++;
}

/* The count field of process under key (-1: none). */
static long long field(struct fx *f, const char *key, const char *process)
{
    char k[256];
    snprintf(k, sizeof(k), "%slim:ch:%s", f->prefix, key);
    const char *argv[3] = { "HGET", k, process };
    struct hget h = { 0 };
    assert_int_equal(kv_cmd_send(f->kv[1], 3, argv, NULL, on_hget, &h, NULL), 0);
    assert_true(evloop_run_until(f->loop, &h.done, 1, 5.0));
    return h.v;
}

/*
 * A dead process's calls on carrier trunks and on a campaign's own trunk
 * limit are taken over with the global count: the survivor books the calls
 * it adopted under each key (the dead field goes in the same step), so each
 * trunk's free channels are right at once instead of after the 10-minute
 * hold; a key the survivor adopted nothing on loses the dead field (its
 * unused tokens) and a key not listed stops counting it with the hold.
 */
static void test_limits_takeover_keys_moves_trunk_bookings(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec global = { .key = "global-k", .max_channels = 20 };
    struct campaign_limit_spec tx = { .key = "trunk:x", .max_channels = 4 };
    struct campaign_limit_spec own = { .key = "camp:7:trunk:x", .max_channels = 3 };
    struct campaign_limit_spec ty = { .key = "trunk:y", .max_channels = 2 };
    struct campaign_limit_spec tz = { .key = "trunk:z", .max_channels = 2 };
    char dead[160];
    snprintf(dead, sizeof(dead), "%s", campaign_limits_self(f->lim[0]));
    /* node a: 3 calls on trunk x of campaign 7, a token on trunk y and trunk z */
    assert_int_equal(acquire(f, 0, &global, 3, T0), 3);
    assert_int_equal(acquire(f, 0, &tx, 3, T0), 3);
    assert_int_equal(acquire(f, 0, &own, 3, T0), 3);
    assert_int_equal(acquire(f, 0, &ty, 1, T0), 1);
    assert_int_equal(acquire(f, 0, &tz, 1, T0), 1);
    expire_node(f, "node-a");
    /* dead, not taken over: its bookings still count on every key */
    assert_int_equal(acquire(f, 1, &tx, 4, T0), 1);
    release(f, 1, "trunk:x", 1);
    assert_int_equal(acquire(f, 1, &own, 3, T0), 0);
    assert_int_equal(orphans(f, 1, "global-k").n, 1);
    /* two of its calls are still up, both adopted by b */
    const struct campaign_takeover_key v[4] = {
        { .key = "global-k", .n = 2 },
        { .key = "trunk:x", .n = 2 },
        { .key = "camp:7:trunk:x", .n = 2 },
        { .key = "trunk:y", .n = 0 },
    };
    assert_int_equal(takeover_keys(f, 1, dead, v, 4), 6);
    assert_int_equal(field(f, "trunk:x", dead), -1);
    assert_int_equal(field(f, "camp:7:trunk:x", dead), -1);
    assert_int_equal(field(f, "trunk:y", dead), -1);
    assert_int_equal(field(f, "trunk:x", campaign_limits_self(f->lim[1])), 2);
    assert_int_equal(field(f, "camp:7:trunk:x", campaign_limits_self(f->lim[1])), 2);
    /* the free channels are exactly what the calls up leave */
    assert_int_equal(acquire(f, 1, &tx, 4, T0), 2);
    assert_int_equal(acquire(f, 1, &own, 3, T0), 1);
    assert_int_equal(acquire(f, 1, &ty, 2, T0), 2);
    assert_int_equal(acquire(f, 1, &tz, 2, T0), 2); /* not listed: gone with the hold */
    assert_int_equal(acquire(f, 1, &global, 20, T0), 18);
    assert_int_equal(orphans(f, 1, "global-k").n, 0);
    /* bad arguments send nothing */
    assert_int_equal(campaign_limits_takeover_keys(f->lim[1], dead, v, 0, NULL, NULL), ERR_INVAL);
    const struct campaign_takeover_key neg = { .key = "trunk:x", .n = -1 };
    assert_int_equal(campaign_limits_takeover_keys(f->lim[1], dead, &neg, 1, NULL, NULL),
                     ERR_INVAL);
}

/*
 * A dead process that held only a trunk's unused tokens (no channel under
 * the global key) is still found and taken over: without that its tokens
 * counted against the trunk for the whole 10-minute hold.
 */
static void test_limits_orphan_with_trunk_tokens_only(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec tq = { .key = "trunk:q", .max_channels = 2 };
    char dead[160];
    snprintf(dead, sizeof(dead), "%s", campaign_limits_self(f->lim[0]));
    assert_int_equal(acquire(f, 0, &tq, 2, T0), 2); /* tokens of a gate, no call */
    expire_node(f, "node-a");
    assert_int_equal(acquire(f, 1, &tq, 2, T0), 0);
    struct orphans o = orphans(f, 1, "global-q");
    assert_int_equal(o.n, 1);
    assert_string_equal(o.v[0].process, dead);
    assert_int_equal(o.v[0].channels, 0);
    const struct campaign_takeover_key v[2] = { { .key = "global-q", .n = 0 },
                                                { .key = "trunk:q", .n = 0 } };
    assert_int_equal(takeover_keys(f, 1, dead, v, 2), 0);
    assert_int_equal(acquire(f, 1, &tq, 2, T0), 2);
    assert_int_equal(orphans(f, 1, "global-q").n, 0); /* gone for good */
}

/*
 * More keys than one script call takes: every key of every call moved
 * (the dead process's hold goes with the last one); a process that is
 * alive again loses nothing.
 */
static void test_limits_takeover_keys_in_several_calls(void **state)
{
    struct fx *f = *state;

    enum { N = CAMPAIGN_TAKEOVER_KEYS_PER_CALL + 8 };

    static char names[N][32];
    struct campaign_takeover_key v[N];
    char dead[160];
    snprintf(dead, sizeof(dead), "%s", campaign_limits_self(f->lim[0]));
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "camp:%d:trunk:t", i);
        struct campaign_limit_spec sp = { .key = names[i], .max_channels = 1 };
        assert_int_equal(acquire(f, 0, &sp, 1, T0), 1);
        v[i] = (struct campaign_takeover_key){ .key = names[i], .n = 1 };
    }
    /* alive: -1, its fields stay (b's bookings added all the same) */
    assert_int_equal(takeover_keys(f, 1, dead, v, N), -1);
    assert_int_equal(field(f, names[N - 1], dead), 1);
    for (int i = 0; i < N; i++) {
        release(f, 1, names[i], 1);
    }
    expire_node(f, "node-a");
    assert_int_equal(takeover_keys(f, 1, dead, v, N), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(field(f, names[i], dead), -1);
        assert_int_equal(field(f, names[i], campaign_limits_self(f->lim[1])), 1);
        struct campaign_limit_spec sp = { .key = names[i], .max_channels = 1 };
        assert_int_equal(acquire(f, 1, &sp, 1, T0), 0); /* b's call fills it */
    }
}

/* Nobody took a dead process over before its hold expired: its channels are free. */
static void test_limits_hold_expiry_frees_an_orphan(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "global-h", .max_channels = 3 };
    char dead[160];
    snprintf(dead, sizeof(dead), "%s", campaign_limits_self(f->lim[0]));
    assert_int_equal(acquire(f, 0, &spec, 3, T0), 3);
    expire_node(f, "node-a");
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 0);
    del_key(f, "hold", dead); /* as its TTL would */
    assert_int_equal(orphans(f, 1, "global-h").n, 0);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 3);
}

/* The owner's absolute count corrects bookings lost to unknown outcomes. */
static void test_limits_set_corrects_lost_bookings(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "trunk-s", .max_channels = 6 };
    /* node a booked 5 but learnt of none (a timed-out acquire): node b gets 1 */
    assert_int_equal(acquire(f, 0, &spec, 5, T0), 5);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 1);
    /* node a writes what it holds: 2; node b may take 3 more, then none */
    struct grant g = { 0 };
    assert_int_equal(campaign_limits_set(f->lim[0], "trunk-s", 2, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.status, 0);
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 3);
    assert_int_equal(acquire(f, 1, &spec, 1, T0), 0);
    /* 0: node a holds nothing, its channels are free for b */
    g = (struct grant){ 0 };
    assert_int_equal(campaign_limits_set(f->lim[0], "trunk-s", 0, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 2);
    assert_int_equal(campaign_limits_set(f->lim[0], "trunk-s", -1, NULL, NULL), ERR_INVAL);
}

/* The first acquire node gets answered after Redis came back (bounded: 10 s). */
static int acquire_when_back(struct fx *f, int node, const struct campaign_limit_spec *spec,
                             int want)
{
    for (int i = 0; i < 100; i++) {
        struct grant g = { 0 };
        if (campaign_limits_acquire(f->lim[node], spec, want, T0, on_grant, &g) == 0 &&
            evloop_run_until(f->loop, &g.done, 1, 5.0) && g.status == 0) {
            return g.granted;
        }
        evloop_run_for(f->loop, 0.1);
    }
    fail_msg("Redis did not come back");
    return -1;
}

static void set_count(struct fx *f, int node, const char *key, int n)
{
    struct grant g = { 0 };
    assert_int_equal(campaign_limits_set(f->lim[node], key, n, on_grant, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 5.0));
    assert_int_equal(g.status, 0);
}

/*
 * Redis restarts without persistence while calls are up: every booking is
 * forgotten. Nothing is granted until the processes have written their
 * counts again (the once-a-second campaign_limits_set): a process that had
 * seen the data before notices it is gone and starts the pause. Before, the
 * first acquire after the restart found an empty count and granted the whole
 * cap on top of the calls still up.
 */
static void test_limits_redis_restart_waits_for_the_rebooking(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "global-r", .max_channels = 5 };
    assert_int_equal(acquire(f, 0, &spec, 4, T0), 4); /* four calls up on node a */
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 1);
    assert_int_equal(testenv_services("restart-redis"), 0);
    assert_int_equal(acquire_when_back(f, 1, &spec, 5), 0); /* the data is gone: paused */
    assert_int_equal(acquire_when_back(f, 0, &spec, 5), 0);
    set_count(f, 0, "global-r", 4); /* the re-booking of each process */
    set_count(f, 1, "global-r", 1);
    del_key(f, "rebook", "");
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 0); /* 4 + 1 held: the cap */
    release(f, 0, "global-r", 2);
    assert_int_equal(acquire(f, 1, &spec, 5, T0), 2);
}

/*
 * A carrier trunk's gate gives the rate of the tokens it did not spend back
 * to the shared bucket (never above its size): a node that held a token
 * through an idle tick does not lower the trunk's rate; the global gate's
 * release gives only channels back.
 */
static void test_limits_refund_gives_rate_back(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = {
        .key = "trunk-r", .cps = 5, .burst = 2, .max_channels = 3, .refund = true
    };
    struct campaign_gate *g;
    clock_set_fake(T0);
    assert_int_equal(campaign_gate_create(f->lim[0], &spec, 2, &g), 0);
    assert_int_equal(campaign_gate_take(g, 1, 1), 0); /* a refill of the bucket's 2 starts */
    for (int k = 0; k < 200 && campaign_gate_busy(g); k++) {
        evloop_run_for(f->loop, 0.005);
    }
    assert_int_equal(campaign_gate_tokens(g), 2);
    assert_int_equal(acquire(f, 1, &spec, 2, T0), 0); /* the bucket is empty */
    campaign_gate_refill(g);                          /* demand seen: kept */
    campaign_gate_refill(g);                          /* idle: given back, rate and channels */
    assert_int_equal(campaign_gate_tokens(g), 0);
    evloop_run_for(f->loop, 0.05);
    assert_int_equal(acquire(f, 1, &spec, 3, T0), 2); /* at the same instant: the rate is back */
    release(f, 1, "trunk-r", 2);
    /* a release (no refund) gives the channel back, not the rate */
    assert_int_equal(acquire(f, 0, &spec, 1, T0 + SEC / 5), 1);
    release(f, 0, "trunk-r", 1);
    assert_int_equal(acquire(f, 1, &spec, 1, T0 + SEC / 5), 0);
    /* never above the bucket's size: 2 given back to a full bucket leave it at 2 */
    assert_int_equal(acquire(f, 0, &spec, 2, T0 + 2 * SEC), 2);
    struct grant gr = { 0 };
    assert_int_equal(campaign_limits_refund(f->lim[0], &spec, 2, on_grant, &gr), 0);
    assert_true(evloop_run_until(f->loop, &gr.done, 1, 5.0));
    assert_int_equal(gr.status, 0);
    assert_int_equal(gr.granted, 0); /* node a holds no channel of the trunk now */
    gr = (struct grant){ 0 };
    assert_int_equal(campaign_limits_refund(f->lim[0], &spec, 2, on_grant, &gr), 0);
    assert_true(evloop_run_until(f->loop, &gr.done, 1, 5.0));
    assert_int_equal(acquire(f, 1, &spec, 3, T0 + 2 * SEC), 2);
    campaign_gate_destroy(g);
    clock_clear_fake();
}

static void wait_idle(struct fx *f, struct campaign_gate *g)
{
    for (int k = 0; k < 400 && campaign_gate_busy(g); k++) {
        evloop_run_for(f->loop, 0.005);
    }
    assert_false(campaign_gate_busy(g));
}

/*
 * The whole channel cap booked under a process by acquires that ran after
 * their timeout, while the scheduler wants launches at every tick: the
 * absolute write (campaign_gate_sync) that finds a refill in flight holds
 * the next refills until it has gone, so it goes at the next tick and the
 * gate grants again. (It used to be skipped whenever a refill was in
 * flight, which under steady demand was at every tick: launches stopped
 * for good.)
 */
static void test_gate_sync_under_steady_demand(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "ch-sync", .max_channels = 4 };
    struct campaign_gate *g;
    clock_set_fake(T0);
    assert_int_equal(campaign_gate_create(f->lim[0], &spec, 2, &g), 0);
    assert_int_equal(acquire(f, 0, &spec, 4, T0), 4); /* booked, held by nobody */
    assert_int_equal(campaign_gate_take(g, 1, 1), 0); /* the scheduler wants one: a refill */
    assert_true(campaign_gate_busy(g));
    assert_int_equal(campaign_gate_sync(g, 0), ERR_AGAIN); /* would miss the refill's grant */
    wait_idle(f, g);
    assert_int_equal(campaign_gate_tokens(g), 0); /* the cap is full in Redis */
    /* the next tick's scheduler and refill: no refill before the write */
    assert_int_equal(campaign_gate_take(g, 1, 1), 0);
    campaign_gate_refill(g);
    assert_false(campaign_gate_busy(g));
    assert_int_equal(campaign_gate_sync(g, 0), 0);    /* this process holds nothing */
    assert_int_equal(campaign_gate_take(g, 1, 1), 0); /* refills again, behind the write */
    assert_true(campaign_gate_busy(g));
    wait_idle(f, g);
    assert_int_equal(campaign_gate_tokens(g), 2);
    assert_int_equal(campaign_gate_take(g, 1, 1), 1);
    /* node b finds the two channels node a does not hold */
    assert_int_equal(acquire(f, 1, &spec, 4, T0), 2);
    /* an idle gate writes at once, and counts its tokens */
    assert_int_equal(campaign_gate_sync(g, 1), 0);
    assert_int_equal(acquire(f, 1, &spec, 4, T0), 0);
    campaign_gate_destroy(g);
    clock_clear_fake();
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

/*
 * kill -9 and restart under the same node id: the dead process's channels
 * count after its liveness key expires (its calls may still be up) until a
 * process takes it over (here the new one, whose restart hung those calls
 * up), then come back; the new process never inherits them. Before, both processes
 * shared one field, so a crash with calls up shrank the cap for good.
 */
static void test_limits_restart_under_same_id_frees_dead_channels(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "trunk-d", .max_channels = 10 };
    assert_int_equal(acquire(f, 0, &spec, 10, T0), 10);
    /* the process dies without releasing; a new one starts as node-a */
    campaign_limits_destroy(f->lim[0]);
    f->lim[0] = NULL;
    assert_int_equal(campaign_limits_create(f->kv[0], f->prefix, "node-a", 30, &f->lim[0]), 0);
    assert_int_equal(acquire(f, 0, &spec, 10, T0), 0);
    /* the dead process's liveness expires: the new process takes it over
     * (its calls were hung up by the restart) and all ten are free again */
    expire_node(f, "node-a");
    assert_int_equal(acquire(f, 0, &spec, 10, T0), 0);
    struct orphans o = orphans(f, 0, "trunk-d");
    assert_int_equal(o.n, 1);
    assert_int_equal(takeover(f, 0, "trunk-d", o.v[0].process, 0), 0);
    assert_int_equal(acquire(f, 0, &spec, 10, T0), 10);
    release(f, 0, "trunk-d", 10);
    assert_int_equal(acquire(f, 1, &spec, 10, T0), 10);
}

static int count_launch(void *arg, const struct campaign_launch *l)
{
    (void)l;
    (*(int *)arg)++;
    return 0;
}

/* Two schedulers (two nodes) behind gates on one trunk limit: the global rate holds. */
static void test_limits_two_schedulers_share_the_trunk_rate(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = { .key = "trunk-d", .cps = 20, .burst = 20 };
    struct campaign_gate *g[2];
    struct campaign_sched *s[2];
    int launched[2] = { 0, 0 };
    struct campaign_settings set;
    campaign_settings_default(&set);
    set.pacing = CAMPAIGN_PACING_FIXED;
    set.cps = 1000;
    struct campaign_batch *b = calloc(1, sizeof(*b) + 500 * sizeof(b->contacts[0]));
    int64_t now = T0;
    clock_set_fake(now);
    for (int i = 0; i < 2; i++) {
        struct campaign_sched_opts o = { .launch = count_launch,
                                         .launch_arg = &launched[i],
                                         .gate = campaign_gate_take };
        assert_int_equal(campaign_gate_create(f->lim[i], &spec, 4, &g[i]), 0);
        o.gate_arg = g[i];
        assert_int_equal(campaign_sched_create(&o, &s[i]), 0);
        assert_int_equal(campaign_sched_campaign(s[i], 1, 1, &set, 0, now), 0);
        assert_int_equal(campaign_sched_set_running(s[i], 1, true), 0);
        b->campaign_id = 1;
        b->n = 500;
        for (int k = 0; k < 500; k++) {
            b->contacts[k].id = i * 1000 + k;
            b->contacts[k].due_us = now;
            snprintf(b->contacts[k].number, sizeof(b->contacts[k].number), "+1415555%04d",
                     k % 10000);
        }
        assert_int_equal(campaign_sched_add(s[i], b), 0);
    }
    free(b);
    /* 5 s of 100 ms ticks on the fake clock; refills complete between ticks */
    for (int t = 0; t < 50; t++) {
        for (int i = 0; i < 2; i++) {
            campaign_sched_tick(s[i], now);
            campaign_gate_refill(g[i]);
        }
        for (int k = 0; k < 100 && (campaign_gate_busy(g[0]) || campaign_gate_busy(g[1])); k++) {
            evloop_run_for(f->loop, 0.005);
        }
        now += 100000;
        clock_set_fake(now);
    }
    int total = launched[0] + launched[1];
    print_message("two nodes launched %d + %d in 5 s at a shared 20/s\n", launched[0], launched[1]);
    /* the bucket (20) plus 5 s at 20/s, less at most the tokens still held locally */
    assert_true(total <= 20 + 5 * 20);
    assert_true(total >= 20 + 5 * 20 - 2 * 4 - 20);
    assert_true(launched[0] > 0 && launched[1] > 0); /* both nodes dial (no share is promised) */

    /* Redis goes away: at most the local allowance more, then nothing */
    assert_int_equal(testenv_services("stop-redis"), 0);
    for (int i = 0; i < 200 && kv_conn_is_up(f->kv[0]); i++) {
        evloop_run_for(f->loop, 0.01);
    }
    int before = launched[0] + launched[1];
    int held = campaign_gate_tokens(g[0]) + campaign_gate_tokens(g[1]);
    for (int t = 0; t < 30; t++) {
        now += 100000;
        clock_set_fake(now);
        for (int i = 0; i < 2; i++) {
            campaign_sched_tick(s[i], now);
        }
        evloop_run_for(f->loop, 0.005);
    }
    assert_true(launched[0] + launched[1] - before <= held);
    assert_true(campaign_gate_status(g[0]) != 0);
    assert_int_equal(testenv_services("start-redis"), 0);
    for (int i = 0; i < 500 && !(kv_conn_is_up(f->kv[0]) && kv_conn_is_up(f->kv[1])); i++) {
        evloop_run_for(f->loop, 0.01);
    }
    clock_clear_fake();
    for (int i = 0; i < 2; i++) {
        campaign_gate_flush(g[i]);
        campaign_gate_destroy(g[i]);
        campaign_sched_destroy(s[i]);
    }
}

/*
 * An idle gate gives back what it holds: a node without work books no channels and keeps no
 * launches to spend all at once when work appears (over the global CPS in that second).
 */
static void test_limits_idle_gate_holds_nothing(void **state)
{
    struct fx *f = *state;
    struct campaign_limit_spec spec = {
        .key = "trunk-e", .cps = 100, .burst = 100, .max_channels = 4
    };
    struct campaign_gate *g;
    int64_t now = T0;
    clock_set_fake(now);
    assert_int_equal(campaign_gate_create(f->lim[0], &spec, 4, &g), 0);
    assert_int_equal(campaign_gate_take(g, 1, 1), 0); /* nothing held yet: a refill starts */
    for (int k = 0; k < 200 && campaign_gate_busy(g); k++) {
        evloop_run_for(f->loop, 0.005);
    }
    assert_int_equal(campaign_gate_tokens(g), 4);
    assert_int_equal(acquire(f, 1, &spec, 1, now), 0); /* the gate booked every channel */
    campaign_gate_refill(g); /* the tick after a take: topped up (already full) */
    assert_int_equal(campaign_gate_tokens(g), 4);
    campaign_gate_refill(g); /* a tick with no take since the last one: idle */
    assert_int_equal(campaign_gate_tokens(g), 0);
    assert_false(campaign_gate_busy(g));
    evloop_run_for(f->loop, 0.05);                     /* the release is sent without a callback */
    assert_int_equal(acquire(f, 1, &spec, 4, now), 4); /* the channels are free again */
    release(f, 1, "trunk-e", 4);
    campaign_gate_destroy(g);
    clock_clear_fake();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limits_cps_shared_by_two_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_channels_across_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_takeover_keeps_dead_calls_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_hold_expiry_frees_an_orphan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_takeover_keys_moves_trunk_bookings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_takeover_keys_in_several_calls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_orphan_with_trunk_tokens_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_redis_restart_waits_for_the_rebooking, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_restart_under_same_id_frees_dead_channels,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_fail_closed_when_redis_is_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_two_schedulers_share_the_trunk_rate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_idle_gate_holds_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_set_corrects_lost_bookings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_refund_gives_rate_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_sync_under_steady_demand, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
