/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/kv that need no Redis: a closed port (connection
 * refused), a listener that accepts but never answers (command timeouts,
 * stall detection), and a listener whose accept queue is full (connect
 * timeout). The behaviour against a real Redis is covered by
 * tests/integration/test_kv.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/kv.h"
#include "tests/support/evloop.h"

struct fx {
    struct ev_loop *loop;
    struct kv_conn *conn;
    int lfd;        /* listener used by some cases, or -1 */
    int fillers[4]; /* connections filling the accept queue */
    int nfillers;
    int ups, downs; /* state callback transitions */
};

struct result {
    int done;
    int status;
    bool *inside; /* set while the send call runs */
    bool ran_inside;
};

static void on_reply(int status, redisReply *reply, void *arg)
{
    struct result *r = arg;

    (void)reply;
    r->done++;
    r->status = status;
    if (r->inside != NULL && *r->inside) {
        r->ran_inside = true;
    }
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

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->lfd = -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    kv_conn_destroy(f->conn);
    if (f->lfd >= 0) {
        close(f->lfd);
    }
    for (int i = 0; i < f->nfillers; i++) {
        close(f->fillers[i]);
    }
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

/* A listener on 127.0.0.1:0 with the given backlog; returns its port. */
static int listen_any(struct fx *f, int backlog)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);

    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, backlog), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &alen), 0);
    return ntohs(a.sin_port);
}

static int closed_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void conn_open(struct fx *f, int port, struct kv_options *extra)
{
    struct kv_options o = { 0 };

    if (extra != NULL) {
        o = *extra;
    }
    o.host = "127.0.0.1";
    o.port = port;
    o.name = "test";
    o.state_cb = on_state;
    o.state_arg = f;
    assert_int_equal(kv_conn_create(f->loop, &o, &f->conn), 0);
}

/* ---------------------------------------------------------------------- */

static void test_kv_rejects_bad_options(void **state)
{
    struct fx *f = *state;
    struct kv_options none = { 0 };
    struct kv_options port0 = { .host = "127.0.0.1", .port = 0 };
    struct kv_conn *c = NULL;
    struct kv_sub *s = NULL;

    assert_int_equal(kv_conn_create(f->loop, &none, &c), ERR_INVAL);
    assert_int_equal(kv_conn_create(f->loop, &port0, &c), ERR_INVAL);
    assert_int_equal(kv_conn_create(NULL, &port0, &c), ERR_INVAL);
    assert_int_equal(kv_sub_create(f->loop, &port0, NULL, NULL, &s), ERR_INVAL);
    assert_null(c);
    assert_null(s);
}

static void test_kv_commands_fail_fast_when_down(void **state)
{
    struct fx *f = *state;
    const char *argv[] = { "GET", "k" };
    struct result r = { 0 };
    bool inside = false;
    struct kv_stats st;
    ev_tstamp t0;

    r.inside = &inside;
    conn_open(f, closed_port(), NULL);
    evloop_run_for(f->loop, 0.05); /* the first attempt is refused */
    assert_false(kv_conn_is_up(f->conn));

    t0 = ev_time();
    inside = true;
    assert_int_equal(kv_cmd_send(f->conn, 2, argv, NULL, on_reply, &r, NULL), 0);
    inside = false;
    assert_int_equal(r.done, 0); /* never inside the send call */
    assert_true(evloop_run_until(f->loop, &r.done, 1, 1.0));
    assert_false(r.ran_inside);
    assert_int_equal(r.status, ERR_DISCONNECTED);
    assert_true(ev_time() - t0 < 0.25); /* one loop iteration, not a connect attempt */
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.disconnected, 1);
    assert_int_equal(st.inflight, 0);
    assert_int_equal(f->ups, 0);
}

static void test_kv_reconnect_backs_off(void **state)
{
    struct fx *f = *state;
    struct kv_options o = { .reconnect_min_ms = 20, .reconnect_max_ms = 80 };
    struct kv_stats st;

    conn_open(f, closed_port(), &o);
    evloop_run_for(f->loop, 1.0);
    kv_conn_stats(f->conn, &st);
    /* Delays of 10-20, 20-40, then 40-80 ms: roughly 12-25 attempts a second. */
    assert_true(st.connect_failures >= 8);
    assert_true(st.connect_failures <= 40);
    assert_int_equal(st.connects, 0);
}

static void test_kv_cancel_and_destroy(void **state)
{
    struct fx *f = *state;
    const char *argv[] = { "INCR", "n" };
    struct result a = { 0 }, b = { 0 };
    struct kv_cmd *h;

    conn_open(f, closed_port(), NULL);
    assert_int_equal(kv_cmd_send(f->conn, 2, argv, NULL, on_reply, &a, &h), 0);
    kv_cmd_cancel(h);
    assert_int_equal(kv_cmd_send(f->conn, 2, argv, NULL, on_reply, &b, NULL), 0);
    /* Destroy completes what is still owed, inside the call. */
    kv_conn_destroy(f->conn);
    f->conn = NULL;
    assert_int_equal(a.done, 0);
    assert_int_equal(b.done, 1);
    assert_int_equal(b.status, ERR_CANCELED);
    evloop_run_for(f->loop, 0.05);
    assert_int_equal(a.done, 0);
}

static void test_kv_command_timeout_and_stall(void **state)
{
    struct fx *f = *state;
    struct kv_options o = { .command_timeout_ms = 100, .stall_timeout_ms = 200 };
    const char *argv[] = { "GET", "k" };
    struct result r1 = { 0 }, r2 = { 0 };
    struct kv_stats st;
    int port = listen_any(f, 16); /* accepts (in the kernel) but never answers */

    conn_open(f, port, &o);
    assert_true(evloop_run_until(f->loop, &f->ups, 1, 2.0));
    assert_true(kv_conn_is_up(f->conn));
    assert_int_equal(kv_cmd_send(f->conn, 2, argv, NULL, on_reply, &r1, NULL), 0);
    assert_int_equal(kv_cmd_send_timeout(f->conn, 2, argv, NULL, 50, on_reply, &r2, NULL), 0);
    assert_true(evloop_run_until(f->loop, &r1.done, 1, 1.0));
    assert_int_equal(r1.status, ERR_TIMEOUT);
    assert_int_equal(r2.done, 1);
    assert_int_equal(r2.status, ERR_TIMEOUT);
    /* No reply at all for the stall window: the connection is dropped and re-made. */
    assert_true(evloop_run_until(f->loop, &f->downs, 1, 2.0));
    assert_true(evloop_run_until(f->loop, &f->ups, 2, 2.0));
    kv_conn_stats(f->conn, &st);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(st.connects, 2);
    assert_int_equal(r1.done, 1); /* a timed-out command never completes twice */
}

static void test_kv_connect_timeout(void **state)
{
    struct fx *f = *state;
    struct kv_options o = { .connect_timeout_ms = 100,
                            .reconnect_min_ms = 50,
                            .reconnect_max_ms = 50 };
    struct kv_stats st;
    int port = listen_any(f, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port) };

    /* Fill the accept queue so further SYNs are dropped and connect() hangs. */
    for (int i = 0; i < 4; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fd, (struct sockaddr *)&a, sizeof(a));
        f->fillers[f->nfillers++] = fd;
    }
    evloop_run_for(f->loop, 0.05);
    conn_open(f, port, &o);
    evloop_run_for(f->loop, 0.6);
    kv_conn_stats(f->conn, &st);
    /* Each attempt lasts 100 ms then waits 25-50 ms: about 4 in 0.6 s. */
    assert_true(st.connect_failures >= 2);
    assert_true(st.connect_failures <= 6);
    assert_int_equal(st.connects, 0);
    assert_false(kv_conn_is_up(f->conn));
}

static void destroy_on_up(bool up, void *arg)
{
    struct fx *f = arg;
    if (up) {
        f->ups++;
        kv_conn_destroy(f->conn);
        f->conn = NULL;
    }
}

static void test_kv_destroy_from_state_callback(void **state)
{
    struct fx *f = *state;
    struct kv_options o = { .host = "127.0.0.1", .state_cb = destroy_on_up, .state_arg = f };

    o.port = listen_any(f, 16);
    assert_int_equal(kv_conn_create(f->loop, &o, &f->conn), 0);
    assert_true(evloop_run_until(f->loop, &f->ups, 1, 2.0));
    assert_null(f->conn);
    evloop_run_for(f->loop, 0.05); /* nothing of the freed connection may fire */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_rejects_bad_options, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_commands_fail_fast_when_down, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_reconnect_backs_off, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_cancel_and_destroy, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_command_timeout_and_stall, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_connect_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kv_destroy_from_state_callback, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("core/kv", tests, NULL, NULL);
}
