/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for core/kv against the private Redis that
 * tests/support/run-all.sh starts (tests/support/services.sh). Some cases
 * restart, stop and start that Redis; each case leaves it running.
 * Keys are prefixed "test_kv:" so other suites are not disturbed.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/kv.h"
#include "tests/support/evloop.h"
#include "tests/support/testenv.h"

struct fx {
    struct ev_loop *loop;
    struct kv_conn *conn;
    int ups, downs; /* state transitions of conn */
};

/* What a callback saw, copied out of the borrowed reply. */
struct res {
    int done;
    int status;
    int type;
    long long integer;
    char *str;
    size_t len;
    size_t elements;
    bool *inside; /* set while the send call runs */
    bool ran_inside;
};

static void on_res(int status, redisReply *r, void *arg)
{
    struct res *x = arg;

    x->done++;
    x->status = status;
    if (x->inside != NULL && *x->inside) {
        x->ran_inside = true;
    }
    if (r == NULL) {
        return;
    }
    x->type = r->type;
    x->integer = r->integer;
    x->elements = r->elements;
    free(x->str);
    x->str = NULL;
    if (r->str != NULL) {
        x->str = malloc(r->len + 1);
        memcpy(x->str, r->str, r->len);
        x->str[r->len] = '\0';
        x->len = r->len;
    }
}

static void res_free(struct res *x)
{
    free(x->str);
    memset(x, 0, sizeof(*x));
}

static void on_state(bool up, void *arg)
{
    struct fx *f = arg;
    if (up) {
        f->ups++;
    } else {
        f->downs++;
    }
}

static struct kv_options tcp_options(struct fx *f)
{
    struct kv_options o = { .host = "127.0.0.1",
                            .port = testenv_redis_port(),
                            .name = "test",
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 200,
                            .state_cb = on_state,
                            .state_arg = f };
    return o;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct kv_options o;

    f->loop = ev_loop_new(EVFLAG_AUTO);
    o = tcp_options(f);
    assert_int_equal(kv_conn_create(f->loop, &o, &f->conn), 0);
    assert_true(evloop_run_until(f->loop, &f->ups, 1, 5.0));
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    kv_conn_destroy(f->conn);
    ev_loop_destroy(f->loop);
    free(f);
    /* Whatever a case did to Redis, the next one finds it running. */
    assert_int_equal(testenv_services("start-redis"), 0);
    return 0;
}

/* Sends argv (NUL-terminated strings) and waits for the reply. */
static void cmd(struct fx *f, struct res *x, int argc, const char *const *argv)
{
    memset(x, 0, sizeof(*x));
    assert_int_equal(kv_cmd_send(f->conn, argc, argv, NULL, on_res, x, NULL), 0);
    assert_true(evloop_run_until(f->loop, &x->done, 1, 5.0));
}

/* ---------------------------------------------------------------------- */

static void test_kv_binary_values_round_trip(void **state)
{
    struct fx *f = *state;
    static const char key[] = "test_kv:bin\0\r\n$3\r\nkey";
    char val[256];
    const char *set[] = { "SET", key, val };
    size_t setl[] = { 3, sizeof(key) - 1, sizeof(val) };
    const char *get[] = { "GET", key };
    size_t getl[] = { 3, sizeof(key) - 1 };
    struct res a = { 0 }, b = { 0 };

    for (int i = 0; i < 256; i++) {
        val[i] = (char)i;
    }
    assert_int_equal(kv_cmd_send(f->conn, 3, set, setl, on_res, &a, NULL), 0);
    assert_int_equal(kv_cmd_send(f->conn, 2, get, getl, on_res, &b, NULL), 0);
    assert_true(evloop_run_until(f->loop, &b.done, 1, 5.0));
    assert_int_equal(a.status, 0);
    assert_string_equal(a.str, "OK");
    assert_int_equal(b.status, 0);
    assert_int_equal(b.type, REDIS_REPLY_STRING);
    assert_int_equal(b.len, sizeof(val));
    assert_memory_equal(b.str, val, sizeof(val));
    res_free(&a);
    res_free(&b);
}

static void test_kv_unix_socket(void **state)
{
    struct fx *f = *state;
    struct kv_options o = { .unix_path = testenv_require("DIALER_REDIS_SOCK"),
                            .name = "unix",
                            .state_cb = on_state,
                            .state_arg = f };
    const char *ping[] = { "PING" };
    struct kv_conn *u = NULL;
    struct res x = { 0 };

    assert_int_equal(kv_conn_create(f->loop, &o, &u), 0);
    assert_true(evloop_run_until(f->loop, &f->ups, 2, 5.0));
    assert_int_equal(kv_cmd_send(u, 1, ping, NULL, on_res, &x, NULL), 0);
    assert_true(evloop_run_until(f->loop, &x.done, 1, 5.0));
    assert_int_equal(x.status, 0);
    assert_string_equal(x.str, "PONG");
    kv_conn_destroy(u);
    res_free(&x);
}

struct incrs {
    int done;
    int in_order;
    long long expect;
};

static void on_incr(int status, redisReply *r, void *arg)
{
    struct incrs *s = arg;

    s->done++;
    s->expect++;
    if (status == 0 && r->type == REDIS_REPLY_INTEGER && r->integer == s->expect) {
        s->in_order++;
    }
}

static void test_kv_10000_pipelined_incrs_in_order(void **state)
{
    struct fx *f = *state;
    const char *del[] = { "DEL", "test_kv:seq" };
    const char *incr[] = { "INCR", "test_kv:seq" };
    struct incrs s = { 0 };
    struct res x;
    struct kv_stats st;

    cmd(f, &x, 2, del);
    res_free(&x);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(kv_cmd_send(f->conn, 2, incr, NULL, on_incr, &s, NULL), 0);
    }
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.inflight, 10000);
    assert_true(evloop_run_until(f->loop, &s.done, 10000, 20.0));
    assert_int_equal(s.in_order, 10000);
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.inflight, 0);
}

static void test_kv_error_reply_is_err_kv(void **state)
{
    struct fx *f = *state;
    const char *set[] = { "SET", "test_kv:str", "x" };
    const char *lpush[] = { "LPUSH", "test_kv:str", "y" };
    const char *bogus[] = { "NOSUCHCOMMAND" };
    struct res x;

    cmd(f, &x, 3, set);
    res_free(&x);
    cmd(f, &x, 3, lpush);
    assert_int_equal(x.status, ERR_KV);
    assert_int_equal(x.type, REDIS_REPLY_ERROR);
    assert_memory_equal(x.str, "WRONGTYPE", 9);
    res_free(&x);
    cmd(f, &x, 1, bogus);
    assert_int_equal(x.status, ERR_KV);
    assert_memory_equal(x.str, "ERR", 3);
    res_free(&x);
    assert_true(kv_conn_is_up(f->conn)); /* an error reply is not a connection problem */
}

static void test_kv_command_timeout(void **state)
{
    struct fx *f = *state;
    const char *blpop[] = { "BLPOP", "test_kv:never", "1" };
    const char *ping[] = { "PING" };
    struct res a = { 0 }, b = { 0 };

    assert_int_equal(kv_cmd_send_timeout(f->conn, 3, blpop, NULL, 100, on_res, &a, NULL), 0);
    assert_int_equal(kv_cmd_send_timeout(f->conn, 1, ping, NULL, 3000, on_res, &b, NULL), 0);
    assert_true(evloop_run_until(f->loop, &a.done, 1, 2.0));
    assert_int_equal(a.status, ERR_TIMEOUT);
    /* The late BLPOP reply is dropped; the PING behind it is answered. */
    assert_true(evloop_run_until(f->loop, &b.done, 1, 3.0));
    assert_int_equal(b.status, 0);
    assert_string_equal(b.str, "PONG");
    evloop_run_for(f->loop, 0.05);
    assert_int_equal(a.done, 1);
    res_free(&a);
    res_free(&b);
}

static const char incrby_lua[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

static struct kv_script *script_ready(struct fx *f)
{
    struct kv_script *s = NULL;
    int ready = 0;

    assert_int_equal(kv_script_create(f->conn, incrby_lua, strlen(incrby_lua), &s), 0);
    for (int i = 0; i < 100 && kv_script_sha(s) == NULL; i++) {
        evloop_run_for(f->loop, 0.01);
    }
    ready = kv_script_sha(s) != NULL;
    assert_true(ready);
    return s;
}

static void script_incr(struct fx *f, struct kv_script *s, const char *by, long long expect)
{
    const char *argv[] = { "test_kv:script", by };
    struct res x = { 0 };

    assert_int_equal(kv_script_call(s, 1, 2, argv, NULL, on_res, &x, NULL), 0);
    assert_true(evloop_run_until(f->loop, &x.done, 1, 5.0));
    assert_int_equal(x.status, 0);
    assert_int_equal(x.type, REDIS_REPLY_INTEGER);
    assert_int_equal(x.integer, expect);
    res_free(&x);
}

static void test_kv_script_survives_flush_and_restart(void **state)
{
    struct fx *f = *state;
    const char *del[] = { "DEL", "test_kv:script" };
    const char *flush[] = { "SCRIPT", "FLUSH" };
    struct kv_script *s = script_ready(f);
    struct kv_stats st;
    struct res x;

    assert_int_equal(strlen(kv_script_sha(s)), 40);
    cmd(f, &x, 2, del);
    res_free(&x);
    script_incr(f, s, "5", 5);
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.noscript_fallbacks, 0);

    /* The cache is emptied behind our back: NOSCRIPT, then EVAL, same callback. */
    cmd(f, &x, 2, flush);
    res_free(&x);
    script_incr(f, s, "5", 10);
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.noscript_fallbacks, 1);
    script_incr(f, s, "5", 15); /* EVAL cached it again */
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.noscript_fallbacks, 1);

    /* After a restart the script is reloaded on connect: EVALSHA works at once. */
    assert_int_equal(testenv_services("restart-redis"), 0);
    assert_true(evloop_run_until(f->loop, &f->ups, 2, 10.0));
    script_incr(f, s, "7", 7); /* the restarted Redis keeps no data */
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.noscript_fallbacks, 1);

    /* A Lua error is an error reply. */
    {
        const char *argv[] = { "test_kv:script", "not-a-number" };
        struct res e = { 0 };
        assert_int_equal(kv_script_call(s, 1, 2, argv, NULL, on_res, &e, NULL), 0);
        assert_true(evloop_run_until(f->loop, &e.done, 1, 5.0));
        assert_int_equal(e.status, ERR_KV);
        res_free(&e);
    }
}

struct inbox {
    int n;
    char channel[64];
    char pattern[64];
    char data[64];
    size_t len;
    int sub_ups, sub_downs;
};

static void on_msg(const struct kv_message *m, void *arg)
{
    struct inbox *in = arg;

    in->n++;
    snprintf(in->channel, sizeof(in->channel), "%.*s", (int)m->channel_len, m->channel);
    snprintf(in->pattern, sizeof(in->pattern), "%.*s", (int)m->pattern_len,
             m->pattern != NULL ? m->pattern : "");
    memcpy(in->data, m->data, m->len < sizeof(in->data) ? m->len : sizeof(in->data));
    in->len = m->len;
}

static void on_sub_state(bool up, void *arg)
{
    struct inbox *in = arg;
    if (up) {
        in->sub_ups++;
    } else {
        in->sub_downs++;
    }
}

/* PUBLISH and return how many subscribers got it. */
static long long publish(struct fx *f, const char *ch, const char *data, size_t len)
{
    const char *argv[] = { "PUBLISH", ch, data };
    size_t lens[] = { 7, strlen(ch), len };
    struct res x = { 0 };
    long long n;

    assert_int_equal(kv_cmd_send(f->conn, 3, argv, lens, on_res, &x, NULL), 0);
    assert_true(evloop_run_until(f->loop, &x.done, 1, 5.0));
    assert_int_equal(x.status, 0);
    n = x.integer;
    res_free(&x);
    return n;
}

static void test_kv_pubsub_resubscribes_after_restart(void **state)
{
    struct fx *f = *state;
    struct inbox in = { 0 };
    struct kv_options o = tcp_options(f);
    struct kv_sub *s = NULL;

    o.name = "sub";
    o.state_cb = on_sub_state;
    o.state_arg = &in;
    assert_int_equal(kv_sub_create(f->loop, &o, on_msg, &in, &s), 0);
    assert_int_equal(kv_sub_subscribe(s, "test_kv:dnc", 11), 0);
    assert_int_equal(kv_sub_psubscribe(s, "test_kv:metrics:*", 17), 0);
    assert_true(evloop_run_until(f->loop, &in.sub_ups, 1, 5.0));
    assert_true(kv_sub_is_up(s));

    assert_int_equal(publish(f, "test_kv:dnc", "+1415\0x", 7), 1);
    assert_true(evloop_run_until(f->loop, &in.n, 1, 5.0));
    assert_string_equal(in.channel, "test_kv:dnc");
    assert_string_equal(in.pattern, "");
    assert_int_equal(in.len, 7);
    assert_memory_equal(in.data, "+1415\0x", 7);

    assert_int_equal(publish(f, "test_kv:metrics:node1", "m", 1), 1);
    assert_true(evloop_run_until(f->loop, &in.n, 2, 5.0));
    assert_string_equal(in.channel, "test_kv:metrics:node1");
    assert_string_equal(in.pattern, "test_kv:metrics:*");

    /* Restart: both connections come back and the subscriber re-subscribes. */
    assert_int_equal(testenv_services("restart-redis"), 0);
    assert_true(evloop_run_until(f->loop, &in.sub_ups, 2, 10.0));
    assert_true(evloop_run_until(f->loop, &f->ups, 2, 10.0));
    assert_int_equal(in.sub_downs, 1);
    assert_int_equal(publish(f, "test_kv:dnc", "again", 5), 1);
    assert_true(evloop_run_until(f->loop, &in.n, 3, 5.0));
    assert_memory_equal(in.data, "again", 5);

    /* Unsubscribed channels are no longer delivered; a channel added later is. */
    assert_int_equal(kv_sub_unsubscribe(s, "test_kv:dnc", 11), 0);
    assert_int_equal(kv_sub_unsubscribe(s, "test_kv:dnc", 11), ERR_NOTFOUND);
    assert_int_equal(kv_sub_subscribe(s, "test_kv:late", 12), 0);
    for (int i = 0; i < 100 && publish(f, "test_kv:late", "l", 1) == 0; i++) {
        evloop_run_for(f->loop, 0.01);
    }
    assert_true(evloop_run_until(f->loop, &in.n, 4, 5.0));
    assert_string_equal(in.channel, "test_kv:late");
    assert_int_equal(publish(f, "test_kv:dnc", "gone", 4), 0);
    kv_sub_destroy(s);
}

struct bulk {
    int done;
    int disconnected;
};

static void on_bulk(int status, redisReply *r, void *arg)
{
    struct bulk *b = arg;
    (void)r;
    b->done++;
    if (status == ERR_DISCONNECTED) {
        b->disconnected++;
    }
}

static void test_kv_restart_with_commands_in_flight(void **state)
{
    struct fx *f = *state;
    const char *blpop[] = { "BLPOP", "test_kv:never", "5" };
    const char *incr[] = { "INCR", "test_kv:inflight" };
    const char *set[] = { "SET", "test_kv:after", "1" };
    struct bulk b = { 0 };
    struct kv_stats st;
    struct res x;

    /*
     * BLPOP blocks the connection inside Redis, so everything behind it waits
     * too. The restart below blocks this thread for a few seconds: the command
     * timeouts must outlast it, or the loop would report ERR_TIMEOUT first.
     */
    assert_int_equal(kv_cmd_send_timeout(f->conn, 3, blpop, NULL, 30000, on_bulk, &b, NULL), 0);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(kv_cmd_send_timeout(f->conn, 2, incr, NULL, 30000, on_bulk, &b, NULL), 0);
    }
    evloop_run_for(f->loop, 0.1); /* written to Redis */
    assert_int_equal(b.done, 0);

    assert_int_equal(testenv_services("restart-redis"), 0);
    assert_true(evloop_run_until(f->loop, &b.done, 501, 5.0));
    assert_int_equal(b.disconnected, 501);
    assert_true(evloop_run_until(f->loop, &f->downs, 1, 5.0));
    /* Nobody asked: the connection comes back by itself. */
    assert_true(evloop_run_until(f->loop, &f->ups, 2, 10.0));
    cmd(f, &x, 3, set);
    assert_int_equal(x.status, 0);
    res_free(&x);
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(st.connects, 2);
}

static void test_kv_stop_fails_fast_start_recovers(void **state)
{
    struct fx *f = *state;
    const char *get[] = { "GET", "test_kv:any" };
    bool inside = false;
    struct res x = { .inside = &inside };
    struct kv_stats st;
    ev_tstamp t0;

    assert_int_equal(testenv_services("stop-redis"), 0);
    assert_true(evloop_run_until(f->loop, &f->downs, 1, 5.0));
    assert_false(kv_conn_is_up(f->conn));

    t0 = ev_time();
    inside = true;
    assert_int_equal(kv_cmd_send(f->conn, 2, get, NULL, on_res, &x, NULL), 0);
    inside = false;
    assert_true(evloop_run_until(f->loop, &x.done, 1, 1.0));
    assert_false(x.ran_inside);
    assert_int_equal(x.status, ERR_DISCONNECTED);
    assert_true(ev_time() - t0 < 0.25); /* one loop iteration, not a connect attempt */

    evloop_run_for(f->loop, 0.5); /* reconnect attempts keep failing, with back-off */
    kv_conn_stats(f->conn, &st);
    assert_true(st.connect_failures >= 2);

    assert_int_equal(testenv_services("start-redis"), 0);
    assert_true(evloop_run_until(f->loop, &f->ups, 2, 10.0));
    res_free(&x);
    x.inside = NULL;
    cmd(f, &x, 2, get);
    assert_int_equal(x.status, 0);
    assert_int_equal(x.type, REDIS_REPLY_NIL);
    res_free(&x);
}

static void test_kv_cancel_means_no_callback(void **state)
{
    struct fx *f = *state;
    const char *blpop[] = { "BLPOP", "test_kv:never", "0.3" };
    const char *get[] = { "GET", "test_kv:any" };
    const char *ping[] = { "PING" };
    struct res a = { 0 }, b = { 0 }, c = { 0 };
    struct kv_cmd *ha, *hb;
    struct kv_stats st;

    assert_int_equal(kv_cmd_send(f->conn, 3, blpop, NULL, on_res, &a, &ha), 0);
    assert_int_equal(kv_cmd_send(f->conn, 2, get, NULL, on_res, &b, &hb), 0);
    kv_cmd_cancel(hb); /* before it was even written */
    evloop_run_for(f->loop, 0.1);
    kv_cmd_cancel(ha); /* written, blocked inside Redis */
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.inflight, 0);
    evloop_run_for(f->loop, 0.5); /* the BLPOP and GET replies arrive and are dropped */
    assert_int_equal(a.done, 0);
    assert_int_equal(b.done, 0);
    cmd(f, &c, 1, ping);
    assert_string_equal(c.str, "PONG");
    res_free(&c);
}

static void test_kv_destroy_cancels_inflight(void **state)
{
    struct fx *f = *state;
    const char *blpop[] = { "BLPOP", "test_kv:never", "1" };
    struct res a = { 0 };

    assert_int_equal(kv_cmd_send(f->conn, 3, blpop, NULL, on_res, &a, NULL), 0);
    evloop_run_for(f->loop, 0.05);
    kv_conn_destroy(f->conn);
    f->conn = NULL;
    assert_int_equal(a.done, 1);
    assert_int_equal(a.status, ERR_CANCELED);
    evloop_run_for(f->loop, 0.05);
    assert_int_equal(a.done, 1);
}

static int group_setup(void **state)
{
    (void)state;
    (void)testenv_redis_port(); /* exits with a clear message outside run-all.sh */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_binary_values_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_unix_socket, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_10000_pipelined_incrs_in_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_error_reply_is_err_kv, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_command_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_script_survives_flush_and_restart, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_pubsub_resubscribes_after_restart, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_restart_with_commands_in_flight, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_stop_fails_fast_start_recovers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_cancel_means_no_callback, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_destroy_cancels_inflight, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("integration/kv", tests, group_setup, NULL);
}
