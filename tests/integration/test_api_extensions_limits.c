/* SPDX-License-Identifier: MIT */
/*
 * Concurrent inbound-call limits shared by two nodes: two inbound routers
 * (each with its own Redis connection and node name, as two dialerd
 * processes have) take the calls of one ari-sim alternately, as Asterisk
 * spreads calls over the nodes. Against the private PostgreSQL and Redis.
 *
 * Cases: the per-extension limit (the extension's own max_calls) and the
 * per-tenant limit hold for both nodes together although each node alone is
 * under them; places are kept while calls run longer than the safety TTL
 * (refreshed) and removed when calls end; with Redis unreachable a call
 * under a limit is refused with the overflow message (fail closed), a call
 * without limits still runs; places left by a dead node stop counting after
 * their deadline.
 */
#include <ev.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/db.h"
#include "core/err.h"
#include "core/kv.h"
#include "ivr/ivr.h"
#include "sim/simc.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"
#include "tests/support/testenv.h"

#define DB "test_api_extensions_limits"

#define FLOWV(tag, ms)                                                                     \
    "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"                                \
    "\"s\":{\"type\":\"start\",\"props\":{\"triggers\":[\"inbound\"]},\"next\":{\"next\":" \
    "\"w\"}},\"w\":{\"type\":\"wait\",\"props\":{\"duration_ms\":" ms "},\"next\":{"       \
    "\"next\":\"h\"}},\"h\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"" tag "\"}}}}"

enum { NODES = 2, TTL_MS = 3000 };

struct fx {
    PGconn *su;
    struct ev_loop *loop;
    struct db_pool *pool;
    struct simc_proc sim;
    struct ari_client *c;
    struct ivr_ari *d[NODES];
    struct kv_conn *kv[NODES];
    struct ivr_inbound *in[NODES];
    struct ivr_inbound *target; /* the router the next StasisStart goes to */
    char prefix[64];
    char url[64];
    int connected;
    long long ta, fa, fshort;
    int n_got, status;
    long long id;
    redisContext *redis;
};

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    for (int i = 0; i < NODES; i++) {
        if (ivr_ari_dispatch(f->d[i], ev)) {
            return;
        }
    }
    ivr_inbound_start(f->target, c, ev);
}

static void on_reconcile(struct ari_client *c, int status, const char *const *gone, size_t ng,
                         const char *const *up, size_t nu, void *arg)
{
    struct fx *f = arg;
    (void)c, (void)status, (void)gone, (void)ng, (void)up, (void)nu;
    f->connected++;
}

static void store_cb(void *arg, const struct ivr_store_result *r)
{
    struct fx *f = arg;
    f->status = r->status;
    f->id = r->id;
    f->n_got++;
}

static void ext_cb(void *arg, const struct ivr_ext_result *r)
{
    struct fx *f = arg;
    f->status = r->status;
    f->n_got++;
}

static void wait_got(struct fx *f)
{
    assert_true(evloop_run_until(f->loop, &f->n_got, 1, 10.0));
    assert_int_equal(f->status, 0);
    f->n_got = 0;
}

static long long publish(struct fx *f, const char *def)
{
    long long u = tdb_int(f->su, "SELECT id FROM users WHERE tenant_id = %lld", f->ta);
    static int seq;
    char name[32];
    long long flow;
    snprintf(name, sizeof(name), "line %d", ++seq);
    assert_int_equal(ivr_store_create(f->pool, f->ta, u, name, def, store_cb, f), 0);
    wait_got(f);
    flow = f->id;
    assert_int_equal(ivr_store_publish(f->pool, f->ta, u, flow, "go", store_cb, f), 0);
    wait_got(f);
    return flow;
}

/* A router of "node" i: limits per tenant 3, per extension the default 0 (unlimited). */
static struct ivr_inbound *router(struct fx *f, struct kv_conn *kv, struct ivr_ari *d,
                                  const char *node, int max_tenant)
{
    struct ivr_inbound *in;
    struct ivr_inbound_config ic = { .loop = f->loop,
                                     .db = f->pool,
                                     .ari = d,
                                     .max_per_tenant = max_tenant,
                                     .kv = kv,
                                     .kv_prefix = f->prefix,
                                     .node_id = node,
                                     .limit_ttl_ms = TTL_MS };
    assert_int_equal(ivr_inbound_create(&ic, &in), 0);
    return in;
}

static struct kv_conn *kv_connect(struct fx *f, int port)
{
    struct kv_options o = { .host = "127.0.0.1", .port = port, .name = "limits" };
    struct kv_conn *kv;
    assert_int_equal(kv_conn_create(f->loop, &o, &kv), 0);
    return kv;
}

static int setup(void **state)
{
    static const char *const args[] = { "--dialplan", "none", "--log-level", "warn", NULL };
    struct fx *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];
    struct db_opts o = { .name = "limits" };
    struct ari_handlers h = { on_event, NULL, NULL, on_reconcile, NULL };
    struct ari_client_config acfg = {
        .name = "sim", .user = "asterisk", .password = "asterisk", .app = "dialer"
    };

    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    f->su = tdb_connect(ci);
    f->ta = tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id");
    tdb_exec(f->su,
             "INSERT INTO users (tenant_id, email, role) VALUES (%lld, 'a@acme.example', "
             "'editor')",
             f->ta);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    tdb_conninfo_app(DB, ci, sizeof(ci));
    assert_int_equal(db_pool_create(f->loop, ci, 4, &o, &f->pool), 0);
    for (int i = 0; i < 200 && db_pool_up_count(f->pool) < 4; i++) {
        evloop_run_for(f->loop, 0.05);
    }
    f->fa = publish(f, FLOWV("long", "6000"));
    f->fshort = publish(f, FLOWV("short", "100"));
    assert_int_equal(ivr_ext_provision(f->pool, 2000, 2009, ext_cb, f), 0);
    wait_got(f);
    assert_int_equal(ivr_ext_assign(f->pool, f->ta, 0, 2000, f->fa, NULL, ext_cb, f), 0);
    wait_got(f);
    assert_int_equal(ivr_ext_assign(f->pool, f->ta, 0, 2001, f->fa, NULL, ext_cb, f), 0);
    wait_got(f);
    assert_int_equal(ivr_ext_assign(f->pool, f->ta, 0, 2002, f->fshort, NULL, ext_cb, f), 0);
    wait_got(f);
    /* 2000 has its own limit of 2 (PATCH /extensions/2000 {"max_calls": 2}). */
    tdb_exec(f->su, "UPDATE extensions SET max_calls = 2 WHERE number = 2000");

    if (simc_start(&f->sim, args) < 0) {
        return -1;
    }
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->sim.port);
    acfg.url = f->url;
    h.arg = f;
    assert_int_equal(ari_client_create(f->loop, &acfg, &h, &f->c), 0);
    assert_true(evloop_run_until(f->loop, &f->connected, 1, 5.0));
    snprintf(f->prefix, sizeof(f->prefix), "test:limits:%d:", (int)getpid());
    f->redis = redisConnect("127.0.0.1", testenv_redis_port());
    assert_true(f->redis != NULL && f->redis->err == 0);
    for (int i = 0; i < NODES; i++) {
        char node[32];
        snprintf(node, sizeof(node), "node-%d", i + 1);
        assert_int_equal(ivr_ari_create(f->loop, NULL, &f->d[i]), 0);
        f->kv[i] = kv_connect(f, testenv_redis_port());
        f->in[i] = router(f, f->kv[i], f->d[i], node, 3);
    }
    for (int i = 0; i < 100 && !(kv_conn_is_up(f->kv[0]) && kv_conn_is_up(f->kv[1])); i++) {
        evloop_run_for(f->loop, 0.02);
    }
    assert_true(kv_conn_is_up(f->kv[0]) && kv_conn_is_up(f->kv[1]));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc;
    for (int i = 0; i < NODES; i++) {
        ivr_inbound_destroy(f->in[i]);
    }
    ari_client_destroy(f->c);
    for (int i = 0; i < NODES; i++) {
        ivr_ari_destroy(f->d[i]);
        kv_conn_destroy(f->kv[i]);
    }
    db_pool_destroy(f->pool);
    ev_loop_destroy(f->loop);
    rc = simc_stop(&f->sim, SIGTERM);
    redisFree(f->redis);
    PQfinish(f->su);
    tdb_drop(DB);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* One inbound call to ext, taken by router in. */
static void call(struct fx *f, struct ivr_inbound *in, const char *ext)
{
    char path[200];
    struct simc_resp r;
    f->target = in;
    snprintf(path, sizeof(path),
             "/_sim/inbound?extension=%s&app=dialer&caller=%%2B14155550100&population=default",
             ext);
    assert_int_equal(simc_http(f->sim.port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
}

/* Runs the loop until router in's statistic field reaches want (bounded: 10 s). */
static long stat_of(const struct ivr_inbound *in, size_t off)
{
    struct ivr_inbound_stats st;
    ivr_inbound_stats(in, &st);
    return *(const long *)((const char *)&st + off);
}

static void wait_stat(struct fx *f, const struct ivr_inbound *in, size_t off, long want)
{
    for (int i = 0; i < 500 && stat_of(in, off) < want; i++) {
        evloop_run_for(f->loop, 0.02);
    }
    assert_int_equal(stat_of(in, off), want);
}

#define STARTED  offsetof(struct ivr_inbound_stats, started)
#define OVERFLOW offsetof(struct ivr_inbound_stats, overflow)
#define ENDED    offsetof(struct ivr_inbound_stats, ended)
#define UNAVAIL  offsetof(struct ivr_inbound_stats, limits_unavailable)

static long long zcard(struct fx *f, const char *key)
{
    char k[128];
    redisReply *r;
    long long n;
    snprintf(k, sizeof(k), "%s%s", f->prefix, key);
    r = redisCommand(f->redis, "ZCARD %s", k);
    assert_non_null(r);
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static void wait_idle(struct fx *f)
{
    for (int i = 0; i < 500; i++) {
        struct ivr_inbound_stats a, b;
        ivr_inbound_stats(f->in[0], &a);
        ivr_inbound_stats(f->in[1], &b);
        if (a.active == 0 && b.active == 0) {
            return;
        }
        evloop_run_for(f->loop, 0.02);
    }
    fail_msg("calls still active");
}

static void test_limits_two_nodes(void **state)
{
    struct fx *f = *state;
    char tkey[32];
    snprintf(tkey, sizeof(tkey), "t:%lld", f->ta);

    /* Extension 2000 (own limit 2): one call on each node, the third refused. */
    call(f, f->in[0], "2000");
    wait_stat(f, f->in[0], STARTED, 1);
    call(f, f->in[1], "2000");
    wait_stat(f, f->in[1], STARTED, 1);
    call(f, f->in[0], "2000"); /* node 1 holds only one call of 2000 */
    wait_stat(f, f->in[0], OVERFLOW, 1);
    assert_int_equal(zcard(f, "e:2000"), 2);
    /* Tenant limit 3: the third call of the tenant runs, the fourth is refused. */
    call(f, f->in[1], "2001");
    wait_stat(f, f->in[1], STARTED, 2);
    call(f, f->in[0], "2001"); /* node 1 holds only one call of the tenant */
    wait_stat(f, f->in[0], OVERFLOW, 2);
    assert_int_equal(zcard(f, tkey), 3);
    assert_int_equal(stat_of(f->in[0], UNAVAIL) + stat_of(f->in[1], UNAVAIL), 0);

    /* The calls outlive the safety TTL: their places are refreshed, not lost. */
    evloop_run_for(f->loop, (TTL_MS + 500) / 1000.0);
    assert_int_equal(stat_of(f->in[0], ENDED) + stat_of(f->in[1], ENDED), 0);
    assert_int_equal(zcard(f, tkey), 3);
    call(f, f->in[1], "2001");
    wait_stat(f, f->in[1], OVERFLOW, 1);

    /* Calls end: every place is given back. */
    wait_stat(f, f->in[0], ENDED, 1);
    wait_stat(f, f->in[1], ENDED, 2);
    wait_idle(f);
    evloop_run_for(f->loop, 0.2); /* the release scripts' replies */
    assert_int_equal(zcard(f, tkey), 0);
    assert_int_equal(zcard(f, "e:2000"), 0);
    assert_int_equal(zcard(f, "e:2001"), 0);
    assert_int_equal(ivr_ari_count(f->d[0]) + ivr_ari_count(f->d[1]), 0);
}

/* Places of a node that died (never released) stop counting after their deadline. */
static void test_limits_dead_node_places_expire(void **state)
{
    struct fx *f = *state;
    char key[128];
    redisReply *r;
    long long now_ms;
    long started = stat_of(f->in[0], STARTED), over = stat_of(f->in[0], OVERFLOW);

    r = redisCommand(f->redis, "TIME");
    assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    now_ms =
        strtoll(r->element[0]->str, NULL, 10) * 1000 + strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    snprintf(key, sizeof(key), "%st:%lld", f->prefix, f->ta);
    for (int i = 0; i < 3; i++) {
        freeReplyObject(redisCommand(f->redis, "ZADD %s %lld dead:%d", key, now_ms + 1500, i));
    }
    call(f, f->in[0], "2002");
    wait_stat(f, f->in[0], OVERFLOW, over + 1);
    evloop_run_for(f->loop, 1.7);
    call(f, f->in[0], "2002");
    wait_stat(f, f->in[0], STARTED, started + 1);
    wait_idle(f);
}

/* Redis unreachable: refused while a limit applies (fail closed); without limits the call runs. */
static void test_limits_redis_down(void **state)
{
    struct fx *f = *state;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct kv_conn *dead;
    struct ivr_ari *d = f->d[0];
    struct ivr_inbound *limited, *open;

    /* A port nothing listens on: bound, then closed. */
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    dead = kv_connect(f, ntohs(sa.sin_port));
    limited = router(f, dead, d, "node-x", 3);
    open = router(f, dead, d, "node-y", 0);
    evloop_run_for(f->loop, 0.1);
    assert_false(kv_conn_is_up(dead));

    call(f, limited, "2002");
    wait_stat(f, limited, OVERFLOW, 1);
    assert_int_equal(stat_of(limited, UNAVAIL), 1);
    assert_int_equal(stat_of(limited, STARTED), 0);
    call(f, open, "2002");
    wait_stat(f, open, STARTED, 1);
    wait_stat(f, open, ENDED, 1);
    for (int i = 0; i < 300; i++) {
        struct ivr_inbound_stats a, b;
        ivr_inbound_stats(limited, &a);
        ivr_inbound_stats(open, &b);
        if (a.active == 0 && b.active == 0) {
            break;
        }
        evloop_run_for(f->loop, 0.02);
    }
    ivr_inbound_destroy(limited);
    ivr_inbound_destroy(open);
    kv_conn_destroy(dead);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_two_nodes),
        cmocka_unit_test(test_limits_dead_node_places_expire),
        cmocka_unit_test(test_limits_redis_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
