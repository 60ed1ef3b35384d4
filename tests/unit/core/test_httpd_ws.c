/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/httpd WebSocket endpoints: the upgrade with auth in
 * on_open, echo of text/binary/large messages, path parameters and
 * subprotocols, broadcast, closes from either side, oversized messages, the
 * slow-consumer drop (the queue budget holds), and 1001 on server stop. The
 * client speaks RFC 6455 over curl's CONNECT_ONLY socket.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/httpd.h"
#include "tests/unit/core/test_httpd_util.h"

#define LIVE "/ws/v1/live"
#define ROOM "/ws/rooms/{room}"

static struct httpd *srv;
static char base[64];

static atomic_int g_opened;
static atomic_int g_closed;
static atomic_int g_close_reason;

/* ---------------------------------------------------------------------- */
/* Endpoint callbacks                                                      */
/* ---------------------------------------------------------------------- */

static int live_open(struct httpd_ws *ws, struct httpd_req *req, void *arg)
{
    const char *tok = httpd_req_query(req, "token");
    const char *auth = httpd_req_header(req, "Authorization");
    (void)arg;

    if ((tok == NULL || strcmp(tok, "ok") != 0) &&
        (auth == NULL || strcmp(auth, "Bearer ok") != 0)) {
        if (tok != NULL && strcmp(tok, "plain") == 0) {
            return HTTPD_STATUS_FORBIDDEN; /* a generic body */
        }
        httpd_error(req, HTTPD_STATUS_UNAUTHORIZED, "unauthorized", "token required", "token");
        return HTTPD_STATUS_UNAUTHORIZED;
    }
    atomic_fetch_add(&g_opened, 1);
    /* Queued before the handshake completes; delivered after it. */
    httpd_ws_send(ws, "welcome", 7, false);
    return 0;
}

static void live_message(struct httpd_ws *ws, const void *data, size_t len, bool binary, void *arg)
{
    (void)arg;
    if (!binary && len == 5 && memcmp(data, "close", 5) == 0) {
        httpd_ws_close(ws, 1000, "bye");
        return;
    }
    httpd_ws_send(ws, data, len, binary);
}

static void live_close(struct httpd_ws *ws, int reason, void *arg)
{
    (void)ws;
    (void)arg;
    atomic_store(&g_close_reason, reason);
    atomic_fetch_add(&g_closed, 1);
}

static int room_open(struct httpd_ws *ws, struct httpd_req *req, void *arg)
{
    char msg[128];
    (void)arg;
    snprintf(msg, sizeof(msg), "room:%s", httpd_req_param(req, "room"));
    httpd_ws_send(ws, msg, strlen(msg), false);
    return 0;
}

static int h_plain(struct httpd_req *req, void *arg)
{
    (void)arg;
    httpd_respond_json(req, HTTPD_STATUS_OK, json_pack("{sb}", "ok", 1));
    return HTTPD_DONE;
}

static const struct httpd_route routes[] = {
    { .methods = HTTPD_GET, .pattern = "/api/v1/ping", .handler = h_plain },
};

static int setup(void **state)
{
    struct httpd_config cfg = { .name = "ws", .ws_max_message_bytes = 200 * 1024 };
    struct httpd_ws_endpoint live = { .pattern = LIVE,
                                      .on_open = live_open,
                                      .on_message = live_message,
                                      .on_close = live_close,
                                      .max_queue_bytes = 256 * 1024 };
    struct httpd_ws_endpoint room = { .pattern = ROOM,
                                      .subprotocol = "dialer.v1",
                                      .on_open = room_open,
                                      .on_message = live_message };
    (void)state;

    srv = httpd_create(&cfg, routes, 1);
    if (srv == NULL || httpd_ws_add(srv, &live) != 0 || httpd_ws_add(srv, &room) != 0 ||
        httpd_ws_add(srv, &live) != ERR_EXISTS || httpd_start(srv) != 0) {
        return -1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", httpd_port(srv));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(srv);
    return 0;
}

/* Runs fn on the httpd thread and waits for it. */
struct call {
    void (*fn)(void *arg);
    void *arg;
    atomic_int done;
};

static void call_tramp(struct httpd *h, void *arg)
{
    struct call *c = arg;
    (void)h;
    c->fn(c->arg);
    atomic_store(&c->done, 1);
}

static bool call_done(void *arg)
{
    return atomic_load(&((struct call *)arg)->done) != 0;
}

static void on_thread(void (*fn)(void *), void *arg)
{
    struct call c = { .fn = fn, .arg = arg };
    atomic_init(&c.done, 0);
    assert_int_equal(httpd_post(srv, call_tramp, &c), 0);
    assert_true(t_wait_for(call_done, &c, 5000));
}

static bool no_sessions(void *arg)
{
    struct httpd_stats st;
    (void)arg;
    httpd_stats(&st);
    return st.ws_sessions == 0;
}

/* Sessions of earlier tests end when the server has seen their close. */
static int setup_each(void **state)
{
    (void)state;
    return t_wait_for(no_sessions, NULL, 5000) ? 0 : -1;
}

static bool closed_at_least(void *arg)
{
    return atomic_load(&g_closed) >= *(int *)arg;
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */
/* ---------------------------------------------------------------------- */

static void test_httpd_ws_echo(void **state)
{
    struct t_ws w;
    char *data = NULL;
    size_t len;
    int closed = atomic_load(&g_closed) + 1;
    (void)state;

    assert_true(t_ws_open(&w, base, LIVE "?token=ok", NULL, 0));
    assert_non_null(strstr(w.head, "X-Request-Id: "));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    assert_string_equal(data, "welcome");
    free(data);

    assert_true(t_ws_send(&w, 1, "hello", 5));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    assert_string_equal(data, "hello");
    free(data);

    unsigned char bin[300];
    for (size_t i = 0; i < sizeof(bin); i++) {
        bin[i] = (unsigned char)i;
    }
    assert_true(t_ws_send(&w, 2, bin, sizeof(bin)));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 2);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(data, bin, sizeof(bin));
    free(data);

    /* Larger than lws's receive buffer: assembled before delivery. */
    size_t big = 150 * 1024;
    char *msg = malloc(big);
    for (size_t i = 0; i < big; i++) {
        msg[i] = (char)('a' + i % 23);
    }
    assert_true(t_ws_send(&w, 1, msg, big));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    assert_int_equal(len, big);
    assert_memory_equal(data, msg, big);
    free(data);
    free(msg);

    /* A client close: on_close with 0. */
    assert_true(t_ws_send(&w, 8, "\x03\xe8", 2));
    t_ws_recv(&w, &data, &len, 2000);
    free(data);
    t_ws_close(&w);
    assert_true(t_wait_for(closed_at_least, &closed, 5000));
    assert_int_equal(atomic_load(&g_close_reason), 0);
}

static void test_httpd_ws_auth_and_routing(void **state)
{
    struct t_ws w;
    struct t_resp r;
    char u[256];
    (void)state;

    /* Refused by on_open with a JSON error. */
    assert_false(t_ws_open(&w, base, LIVE "?token=bad", NULL, 0));
    assert_int_equal(w.status, 401);
    assert_non_null(strstr(w.head, "Content-Type: application/json"));
    t_ws_close(&w);

    assert_false(t_ws_open(&w, base, LIVE "?token=plain", NULL, 0));
    assert_int_equal(w.status, 403);
    t_ws_close(&w);

    /* A header works as well as the query. */
    assert_true(t_ws_open(&w, base, LIVE, "Authorization: Bearer ok\r\n", 0));
    t_ws_close(&w);

    /* No endpoint there. */
    assert_false(t_ws_open(&w, base, "/ws/v1/other", NULL, 0));
    assert_int_equal(w.status, 404);
    t_ws_close(&w);

    /* A plain GET on a WebSocket path. */
    snprintf(u, sizeof(u), "%s" LIVE, base);
    t_get(u, &r);
    assert_int_equal(r.status, 426);
    assert_string_equal(t_err_code(&r), "upgrade_required");
    t_resp_free(&r);
}

static void test_httpd_ws_params_and_subprotocol(void **state)
{
    struct t_ws w;
    char *data = NULL;
    size_t len;
    (void)state;

    assert_true(t_ws_open(&w, base, "/ws/rooms/lobby", "Sec-WebSocket-Protocol: dialer.v1\r\n", 0));
    assert_non_null(strcasestr(w.head, "Sec-WebSocket-Protocol: dialer.v1"));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    assert_string_equal(data, "room:lobby");
    free(data);
    t_ws_close(&w);

    /* That endpoint insists on its subprotocol. */
    assert_false(t_ws_open(&w, base, "/ws/rooms/lobby", NULL, 0));
    assert_int_equal(w.status, 404);
    t_ws_close(&w);
}

struct bcast {
    const char *msg;
    int count;
};

static void do_broadcast(void *arg)
{
    struct bcast *b = arg;
    b->count = httpd_ws_broadcast(srv, LIVE, b->msg, strlen(b->msg), false);
}

static bool opened_at_least(void *arg)
{
    return atomic_load(&g_opened) >= *(int *)arg;
}

static void test_httpd_ws_broadcast(void **state)
{
    struct t_ws a, b;
    char *data = NULL;
    size_t len;
    struct bcast bc = { .msg = "tick 1" };
    int want = atomic_load(&g_opened) + 2;
    (void)state;

    assert_true(t_ws_open(&a, base, LIVE "?token=ok", NULL, 0));
    assert_true(t_ws_open(&b, base, LIVE "?token=ok", NULL, 0));
    assert_true(t_wait_for(opened_at_least, &want, 5000));
    for (struct t_ws *w = &a; w != NULL; w = w == &a ? &b : NULL) {
        assert_int_equal(t_ws_recv(w, &data, &len, 5000), 1); /* welcome */
        free(data);
    }
    on_thread(do_broadcast, &bc);
    assert_int_equal(bc.count, 2);
    for (struct t_ws *w = &a; w != NULL; w = w == &a ? &b : NULL) {
        assert_int_equal(t_ws_recv(w, &data, &len, 5000), 1);
        assert_string_equal(data, "tick 1");
        free(data);
    }
    t_ws_close(&a);
    t_ws_close(&b);
}

static void test_httpd_ws_server_close(void **state)
{
    struct t_ws w;
    char *data = NULL;
    size_t len;
    int op;
    (void)state;

    assert_true(t_ws_open(&w, base, LIVE "?token=ok", NULL, 0));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    free(data);
    assert_true(t_ws_send(&w, 1, "close", 5));
    op = t_ws_recv(&w, &data, &len, 5000);
    assert_int_equal(op, 8);
    assert_true(len >= 2);
    assert_int_equal(((unsigned char)data[0] << 8) | (unsigned char)data[1], 1000);
    assert_memory_equal(data + 2, "bye", 3);
    free(data);
    t_ws_close(&w);
}

static void test_httpd_ws_message_too_big(void **state)
{
    struct t_ws w;
    char *data = NULL;
    size_t len;
    size_t big = 300 * 1024;
    char *msg = calloc(1, big);
    int closed = atomic_load(&g_closed) + 1;
    int op;
    (void)state;

    assert_true(t_ws_open(&w, base, LIVE "?token=ok", NULL, 0));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    free(data);
    t_ws_send(&w, 2, msg, big);
    op = t_ws_recv(&w, &data, &len, 5000);
    assert_int_equal(op, 8);
    assert_int_equal(((unsigned char)data[0] << 8) | (unsigned char)data[1], 1009);
    free(data);
    free(msg);
    t_ws_close(&w);
    assert_true(t_wait_for(closed_at_least, &closed, 5000));
    assert_int_equal(atomic_load(&g_close_reason), ERR_TOOBIG);
}

/* Broadcasts 64 KiB messages and records the largest queue seen. */
struct flood {
    char *msg;
    size_t len;
    int sent;
};

static void flood_once(void *arg)
{
    struct flood *f = arg;
    f->sent = httpd_ws_broadcast(srv, LIVE, f->msg, f->len, true);
}

static void test_httpd_ws_slow_consumer_dropped(void **state)
{
    struct httpd_stats before, after;
    struct t_ws w;
    struct flood f = { .len = 64 * 1024 };
    char *data = NULL;
    size_t len;
    int closed = atomic_load(&g_closed) + 1;
    int rounds = 0;
    (void)state;

    httpd_stats(&before);
    f.msg = malloc(f.len);
    memset(f.msg, 'z', f.len);
    /* A client with a tiny receive window that stops reading. */
    assert_true(t_ws_open(&w, base, LIVE "?token=ok", NULL, 4096));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    free(data);
    do {
        on_thread(flood_once, &f);
        rounds++;
    } while (f.sent > 0 && rounds < 2000);
    /* Dropped after the kernel buffers filled and the 256 KiB budget ran out,
     * not after the 2000 * 64 KiB we could have queued. */
    assert_true(rounds < 2000);
    assert_true(t_wait_for(closed_at_least, &closed, 5000));
    assert_int_equal(atomic_load(&g_close_reason), ERR_TOOBIG);
    httpd_stats(&after);
    assert_int_equal(after.ws_slow_drops - before.ws_slow_drops, 1);
    fprintf(stderr, "slow consumer dropped after %d x 64 KiB\n", rounds);
    t_ws_close(&w);
    free(f.msg);
}

static void test_httpd_ws_plain_routes_unaffected(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;
    snprintf(u, sizeof(u), "%s/api/v1/ping", base);
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
}

/* Own server: stopping sends 1001 to open sessions. */
static atomic_int g_stop_reason;

static void stop_close(struct httpd_ws *ws, int reason, void *arg)
{
    (void)ws;
    (void)arg;
    atomic_store(&g_stop_reason, reason);
}

struct stopper {
    struct httpd *h;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    t_sleep_ms(100);
    httpd_stop(s->h);
    return NULL;
}

static void test_httpd_ws_stop_going_away(void **state)
{
    struct httpd_config cfg = { .shutdown_grace_ms = 3000 };
    struct httpd_ws_endpoint ep = { .pattern = "/ws", .on_close = stop_close };
    struct httpd *h = httpd_create(&cfg, NULL, 0);
    struct stopper st = { .h = h };
    struct t_ws w;
    char b[64], *data = NULL;
    size_t len;
    pthread_t th;
    (void)state;

    assert_int_equal(httpd_ws_add(h, &ep), 0);
    assert_int_equal(httpd_start(h), 0);
    snprintf(b, sizeof(b), "http://127.0.0.1:%d", httpd_port(h));
    atomic_store(&g_stop_reason, 1);
    assert_true(t_ws_open(&w, b, "/ws", NULL, 0));
    pthread_create(&th, NULL, stop_thread, &st);
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 8);
    assert_int_equal(((unsigned char)data[0] << 8) | (unsigned char)data[1], 1001);
    free(data);
    t_ws_send(&w, 8, "\x03\xe9", 2); /* answer the close */
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&g_stop_reason), ERR_SHUTDOWN);
    t_ws_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_httpd_ws_echo, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_auth_and_routing, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_params_and_subprotocol, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_broadcast, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_server_close, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_message_too_big, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_slow_consumer_dropped, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_plain_routes_unaffected, setup_each),
        cmocka_unit_test_setup(test_httpd_ws_stop_going_away, setup_each),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("httpd_ws", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
