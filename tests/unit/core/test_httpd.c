/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/httpd: routing, parameters, deferred responses, the
 * error contract, request ids, keep-alive, httpd_post, start/stop. A real
 * server runs on its own thread on 127.0.0.1 (port 0); the test thread is
 * the client (libcurl easy API, or raw sockets). Run under `make VARIANT=asan`
 * and `make VARIANT=tsan` as well.
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
#include "core/log.h"
#include "tests/unit/core/test_httpd_util.h"

struct fixture {
    struct httpd *h;
    char base[64];
};

static struct fixture fx;

/* What handlers saw, read by the test thread once the response is in. */
static atomic_int g_abort_reason;
static atomic_int g_late_rc;
static atomic_int g_late_done;
static atomic_int g_posted;
static atomic_int g_posted_on_thread;
static pthread_t g_worker;
static atomic_int g_worker_started;

/* ---------------------------------------------------------------------- */
/* Handlers                                                                */
/* ---------------------------------------------------------------------- */

static int h_echo(struct httpd_req *req, void *arg)
{
    json_t *o = json_object();
    json_t *params = json_object();
    json_t *query = json_array();
    const char *names[] = { "id", "name", NULL };
    size_t blen = 0;
    (void)arg;

    for (const char **n = names; *n != NULL; n++) {
        const char *v = httpd_req_param(req, *n);
        if (v != NULL) {
            json_object_set_new(params, *n, json_string(v));
        }
    }
    for (size_t i = 0; i < httpd_req_query_count(req); i++) {
        const char *k, *v;
        httpd_req_query_at(req, i, &k, &v);
        json_array_append_new(query, json_pack("[ss]", k, v));
    }
    httpd_req_body(req, &blen);
    json_object_set_new(o, "method", json_string(httpd_req_method_name(req)));
    json_object_set_new(o, "path", json_string(httpd_req_path(req)));
    json_object_set_new(o, "params", params);
    json_object_set_new(o, "query", query);
    json_object_set_new(o, "rid", json_string(httpd_req_id(req)));
    json_object_set_new(o, "client", json_string(httpd_req_client(req)));
    json_object_set_new(o, "body_len", json_integer((json_int_t)blen));
    if (httpd_req_json(req) != NULL) {
        json_object_set(o, "json", httpd_req_json(req));
    }
    if (httpd_req_header(req, "X-Custom") != NULL) {
        json_object_set_new(o, "x_custom", json_string(httpd_req_header(req, "x-custom")));
    }
    if (httpd_req_header(req, "User-Agent") != NULL) {
        json_object_set_new(o, "ua", json_string(httpd_req_header(req, "user-agent")));
    }
    return httpd_respond_json(req, HTTPD_STATUS_OK, o) == 0 ? HTTPD_DONE : HTTPD_DONE;
}

static int h_stats(struct httpd_req *req, void *arg)
{
    (void)arg;
    httpd_respond_json(req, HTTPD_STATUS_OK, json_pack("{sb}", "stats", 1));
    return HTTPD_DONE;
}

/* A deferred response from a timer on the httpd loop. */
struct later {
    ev_timer t;
    struct httpd_req *req;
    bool gone; /* the abort callback said the handle stays valid but nobody listens */
};

static void later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct later *l = (struct later *)w;
    int rc;
    (void)loop;
    (void)revents;
    rc = httpd_respond_json(l->req, HTTPD_STATUS_OK, json_pack("{ss}", "late", "yes"));
    atomic_store(&g_late_rc, rc);
    atomic_store(&g_late_done, 1);
    free(l);
}

static void later_abort(struct httpd_req *req, int reason, void *arg)
{
    (void)req;
    (void)arg;
    atomic_store(&g_abort_reason, reason);
}

static atomic_int g_released; /* httpd_req_on_release callbacks run */

static void count_release(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_released, 1);
}

static bool released(void *arg)
{
    return atomic_load(&g_released) >= *(int *)arg;
}

static int defer_for(struct httpd_req *req, double secs)
{
    struct later *l = calloc(1, sizeof(*l));
    l->req = req;
    httpd_req_on_release(req, count_release, NULL);
    httpd_req_on_abort(req, later_abort, l);
    ev_timer_init(&l->t, later_cb, secs, 0.);
    ev_timer_start(httpd_loop(httpd_req_server(req)), &l->t);
    return HTTPD_DEFERRED;
}

static int h_deferred(struct httpd_req *req, void *arg)
{
    (void)arg;
    return defer_for(req, 0.05);
}

static int h_slow(struct httpd_req *req, void *arg)
{
    (void)arg;
    return defer_for(req, 0.4);
}

static int h_fail(struct httpd_req *req, void *arg)
{
    (void)req;
    (void)arg;
    return ERR_DB; /* e.g. the database said no */
}

static int h_noresp(struct httpd_req *req, void *arg)
{
    (void)req;
    (void)arg;
    return HTTPD_DONE;
}

/* Never answers on its own; the abort callback releases the handle. */
static void never_abort(struct httpd_req *req, int reason, void *arg)
{
    (void)arg;
    atomic_store(&g_abort_reason, reason);
    atomic_store(&g_late_rc, httpd_respond_json(req, HTTPD_STATUS_OK, NULL));
    atomic_store(&g_late_done, 1);
}

static int h_never(struct httpd_req *req, void *arg)
{
    (void)arg;
    httpd_req_on_abort(req, never_abort, NULL);
    return HTTPD_DEFERRED;
}

static int h_raw(struct httpd_req *req, void *arg)
{
    static const struct httpd_header hdrs[] = { { "X-Extra", "yes" },
                                                { "Cache-Control", "max-age=5" } };
    (void)arg;
    httpd_respond_raw(req, HTTPD_STATUS_CREATED, "text/plain", "hello", 5, hdrs, 2);
    return HTTPD_DONE;
}

static int h_badheader(struct httpd_req *req, void *arg)
{
    static const struct httpd_header hdrs[] = { { "X-Evil", "a\r\nSet-Cookie: x=1" } };
    (void)arg;
    httpd_respond_raw(req, HTTPD_STATUS_OK, "text/plain", "x", 1, hdrs, 1);
    return HTTPD_DONE;
}

static int h_big(struct httpd_req *req, void *arg)
{
    size_t n = 1024 * 1024 + 7;
    char *b = malloc(n);
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        b[i] = (char)('a' + i % 26);
    }
    httpd_respond_raw(req, HTTPD_STATUS_OK, "application/octet-stream", b, n, NULL, 0);
    free(b);
    return HTTPD_DONE;
}

/* A worker thread computes the answer and posts it back by handle. */
struct job {
    struct httpd *h;
    uint64_t handle;
};

static void job_answer(struct httpd *h, void *arg)
{
    struct job *j = arg;
    struct httpd_req *req = httpd_req_lookup(h, j->handle);
    if (req != NULL) {
        httpd_respond_json(req, HTTPD_STATUS_OK,
                           json_pack("{sb}", "from_worker", httpd_on_thread(h)));
    }
    free(j);
}

static void *job_thread(void *arg)
{
    struct job *j = arg;
    t_sleep_ms(20);
    if (httpd_post(j->h, job_answer, j) != 0) {
        free(j);
    }
    return NULL;
}

static int h_worker(struct httpd_req *req, void *arg)
{
    struct job *j = malloc(sizeof(*j));
    (void)arg;
    j->h = httpd_req_server(req);
    j->handle = httpd_req_handle(req);
    pthread_create(&g_worker, NULL, job_thread, j);
    atomic_store(&g_worker_started, 1);
    return HTTPD_DEFERRED;
}

/* clang-format off */
static const struct httpd_route routes[] = {
    { .methods = HTTPD_GET | HTTPD_DELETE, .pattern = "/api/v1/campaigns/{id}", .handler = h_echo },
    { .methods = HTTPD_GET, .pattern = "/api/v1/campaigns/stats", .handler = h_stats },
    { .methods = HTTPD_POST, .pattern = "/api/v1/campaigns/{id}/start", .handler = h_echo,
      .flags = HTTPD_ROUTE_JSON },
    { .methods = HTTPD_GET, .pattern = "/api/v1/lists/{id}/contacts/{name}", .handler = h_echo },
    { .methods = HTTPD_GET | HTTPD_POST, .pattern = "/echo", .handler = h_echo },
    { .methods = HTTPD_GET, .pattern = "/", .handler = h_echo },
    { .methods = HTTPD_GET, .pattern = "/deferred", .handler = h_deferred },
    { .methods = HTTPD_GET, .pattern = "/slow", .handler = h_slow },
    { .methods = HTTPD_GET, .pattern = "/fail", .handler = h_fail },
    { .methods = HTTPD_GET, .pattern = "/noresp", .handler = h_noresp },
    { .methods = HTTPD_GET, .pattern = "/never", .handler = h_never },
    { .methods = HTTPD_GET, .pattern = "/raw", .handler = h_raw },
    { .methods = HTTPD_GET, .pattern = "/badheader", .handler = h_badheader },
    { .methods = HTTPD_GET, .pattern = "/big", .handler = h_big },
    { .methods = HTTPD_GET, .pattern = "/worker", .handler = h_worker },
};

/* clang-format on */

static int setup(void **state)
{
    struct httpd_config cfg = { 0 };
    (void)state;

    cfg.name = "test";
    cfg.port = 0;
    cfg.max_header_bytes = 2048;
    cfg.max_body_bytes = 1024;
    cfg.request_timeout_ms = 300;
    cfg.shutdown_grace_ms = 2000;
    fx.h = httpd_create(&cfg, routes, sizeof(routes) / sizeof(routes[0]));
    if (fx.h == NULL || httpd_start(fx.h) != 0) {
        return -1;
    }
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%d", httpd_port(fx.h));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(fx.h);
    fx.h = NULL;
    return 0;
}

static void url(char *buf, size_t size, const char *path)
{
    snprintf(buf, size, "%s%s", fx.base, path);
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */
/* ---------------------------------------------------------------------- */

static void test_httpd_port_picked(void **state)
{
    (void)state;
    assert_true(httpd_port(fx.h) > 0);
    assert_non_null(httpd_loop(fx.h));
    assert_string_equal(httpd_name(fx.h), "test");
    assert_false(httpd_on_thread(fx.h));
}

static void test_httpd_routes_and_params(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    url(u, sizeof(u), "/api/v1/campaigns/42");
    assert_int_equal(t_get(u, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/api/v1/campaigns/42");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "params"), "id")),
                        "42");
    assert_string_equal(json_string_value(json_object_get(r.json, "client")), "127.0.0.1");
    t_resp_free(&r);

    /* The literal segment wins over {id}. */
    url(u, sizeof(u), "/api/v1/campaigns/stats");
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "stats")));
    t_resp_free(&r);

    url(u, sizeof(u), "/api/v1/lists/9/contacts/alice%20b");
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    json_t *p = json_object_get(r.json, "params");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "9");
    assert_string_equal(json_string_value(json_object_get(p, "name")), "alice b");
    t_resp_free(&r);

    url(u, sizeof(u), "/");
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/");
    t_resp_free(&r);

    struct t_req del = { .method = "DELETE" };
    url(u, sizeof(u), "/api/v1/campaigns/7");
    t_http(u, &del, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "method")), "DELETE");
    t_resp_free(&r);

    /* POST to a JSON route with a JSON body. */
    const char *hdrs[] = { "Content-Type: application/json; charset=utf-8", NULL };
    struct t_req post = { .body = "{\"mode\":\"power\",\"n\":3}", .hdrs = hdrs };
    url(u, sizeof(u), "/api/v1/campaigns/12/start");
    t_http(u, &post, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "json"), "mode")),
                        "power");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "params"), "id")),
                        "12");
    t_resp_free(&r);
}

static void test_httpd_query_decoding(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    url(u, sizeof(u), "/echo?a=1&b=hello+world&c=%21%40%23&empty&d=x%3Dy&e=caf%C3%A9&a=2");
    assert_int_equal(t_get(u, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    json_t *q = json_object_get(r.json, "query");
    const char *want[][2] = { { "a", "1" },    { "b", "hello world" }, { "c", "!@#" },
                              { "empty", "" }, { "d", "x=y" },         { "e", "caf\xc3\xa9" },
                              { "a", "2" } };
    assert_int_equal(json_array_size(q), 7);
    for (size_t i = 0; i < 7; i++) {
        json_t *pair = json_array_get(q, i);
        assert_string_equal(json_string_value(json_array_get(pair, 0)), want[i][0]);
        assert_string_equal(json_string_value(json_array_get(pair, 1)), want[i][1]);
    }
    assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/echo");
    t_resp_free(&r);
}

static void test_httpd_deferred_response(void **state)
{
    struct t_resp r;
    char u[256];
    int64_t t0 = clock_mono_us();
    (void)state;

    int want = atomic_load(&g_released) + 1;
    atomic_store(&g_late_done, 0);
    url(u, sizeof(u), "/deferred");
    assert_int_equal(t_get(u, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "late")), "yes");
    assert_true(clock_mono_us() - t0 >= 45 * 1000);
    assert_int_equal(atomic_load(&g_late_rc), 0);
    t_resp_free(&r);
    /* what the handler registered is released with the request, once */
    assert_true(t_wait_for(released, &want, 3000));
    assert_int_equal(atomic_load(&g_released), want);
}

static bool late_done(void *arg)
{
    (void)arg;
    return atomic_load(&g_late_done) != 0;
}

static void test_httpd_disconnect_before_deferred_respond(void **state)
{
    struct t_resp r;
    struct t_req rq = { .timeout_ms = 60 };
    char u[256];
    (void)state;

    int want = atomic_load(&g_released) + 1;
    atomic_store(&g_late_done, 0);
    atomic_store(&g_abort_reason, 0);
    url(u, sizeof(u), "/slow");
    assert_int_not_equal(t_http(u, &rq, &r), CURLE_OK); /* curl gives up and closes */
    t_resp_free(&r);
    assert_true(t_wait_for(late_done, NULL, 3000));
    /* the abandoned request's clean-ups ran too */
    assert_true(t_wait_for(released, &want, 3000));
    assert_int_equal(atomic_load(&g_abort_reason), ERR_CLOSED);
    assert_int_equal(atomic_load(&g_late_rc), ERR_CLOSED);

    /* The server is fine afterwards. */
    url(u, sizeof(u), "/api/v1/campaigns/1");
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
}

/* A second request arrives while the first waits for its deferred answer. */
static void test_httpd_pipelined_while_deferred(void **state)
{
    const char *first = "GET /deferred HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *second = "GET /api/v1/campaigns/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[4096];
    size_t got = 0;
    int fd = t_connect(httpd_port(fx.h));
    (void)state;

    assert_true(fd >= 0);
    assert_true(t_send_all(fd, first, strlen(first)));
    t_sleep_ms(20);
    assert_true(t_send_all(fd, second, strlen(second)));
    while (got + 1 < sizeof(buf)) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    assert_int_equal(t_raw_status(buf), 200);
    assert_non_null(strstr(buf, "\"late\":\"yes\""));
    char *next = strstr(buf + 1, "HTTP/1.1 200");
    assert_non_null(next);
    assert_non_null(strstr(next, "/api/v1/campaigns/2"));
}

static void test_httpd_request_timeout(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    atomic_store(&g_late_done, 0);
    atomic_store(&g_abort_reason, 0);
    url(u, sizeof(u), "/never");
    t_get(u, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(t_err_code(&r), "timeout");
    t_resp_free(&r);
    assert_true(t_wait_for(late_done, NULL, 3000));
    assert_int_equal(atomic_load(&g_abort_reason), ERR_TIMEOUT);
    assert_int_equal(atomic_load(&g_late_rc), ERR_CLOSED);
}

static void test_httpd_not_found_and_method(void **state)
{
    struct t_resp r;
    char u[256], v[128];
    (void)state;

    url(u, sizeof(u), "/nope/nothing");
    t_get(u, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(t_err_code(&r), "not_found");
    assert_non_null(t_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    t_resp_free(&r);

    struct t_req put = { .method = "PUT", .body = "{}" };
    url(u, sizeof(u), "/api/v1/campaigns/7");
    t_http(u, &put, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(t_err_code(&r), "method_not_allowed");
    assert_non_null(t_header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "GET, HEAD, DELETE");
    t_resp_free(&r);

    /* A trailing slash is a different path. */
    url(u, sizeof(u), "/api/v1/campaigns/7/");
    t_get(u, &r);
    assert_int_equal(r.status, 404);
    t_resp_free(&r);
}

static void test_httpd_body_errors(void **state)
{
    struct t_resp r;
    char u[256];
    char big[2000];
    (void)state;

    memset(big, 'x', sizeof(big));
    url(u, sizeof(u), "/echo");
    struct t_req rq = { .body = big, .body_len = sizeof(big) };
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(t_err_code(&r), "body_too_large");
    t_resp_free(&r);

    struct t_req ch = { .body = big, .body_len = sizeof(big), .chunked = true };
    t_http(u, &ch, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(t_err_code(&r), "body_too_large");
    t_resp_free(&r);

    /* Wrong content type on a JSON route. */
    const char *text[] = { "Content-Type: text/plain", NULL };
    struct t_req tp = { .body = "{}", .hdrs = text };
    url(u, sizeof(u), "/api/v1/campaigns/3/start");
    t_http(u, &tp, &r);
    assert_int_equal(r.status, 415);
    assert_string_equal(t_err_code(&r), "unsupported_media_type");
    t_resp_free(&r);

    /* Malformed JSON: the message names line, column and byte. */
    const char *js[] = { "Content-Type: application/json", NULL };
    struct t_req bad = { .body = "{\n  \"a\": 1,\n  \"b\": }", .hdrs = js };
    t_http(u, &bad, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(t_err_code(&r), "invalid_json");
    assert_non_null(strstr(t_err_message(&r), "line 3, column"));
    assert_non_null(strstr(t_err_message(&r), "byte "));
    t_resp_free(&r);

    /* An empty body on a JSON route is fine (json NULL). */
    struct t_req empty = { .method = "POST", .hdrs = js };
    t_http(u, &empty, &r);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "json"));
    t_resp_free(&r);
}

static void test_httpd_headers_too_large(void **state)
{
    struct t_resp r;
    char u[256];
    char *hdr = malloc(4096);
    const char *hdrs[] = { hdr, NULL };
    struct t_req rq = { .hdrs = hdrs };
    (void)state;

    url(u, sizeof(u), "/echo");
    /* An unknown header: found by the byte count. */
    snprintf(hdr, 4096, "X-Big: %03000d", 7);
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 431);
    assert_string_equal(t_err_code(&r), "headers_too_large");
    t_resp_free(&r);

    /* A known header (Cookie). */
    snprintf(hdr, 4096, "Cookie: a=%02500d", 7);
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 431);
    t_resp_free(&r);

    /* Just under the limit is fine. */
    snprintf(hdr, 4096, "X-Custom: %01500d", 7);
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(strlen(json_string_value(json_object_get(r.json, "x_custom"))), 1500);
    t_resp_free(&r);

    /* Beyond lws's buffer (twice the limit) the connection just closes. */
    snprintf(hdr, 4096, "X-Big: %04080d", 7);
    assert_int_not_equal(t_http(u, &rq, &r), CURLE_OK);
    t_resp_free(&r);
    free(hdr);
}

static void test_httpd_request_id(void **state)
{
    struct t_resp r;
    char u[256], v[128];
    const char *mine[] = { "X-Request-Id: abc-123.x:y_z", NULL };
    const char *bad[] = { "X-Request-Id: has space\"quote", NULL };
    struct t_req rq = { .hdrs = mine };
    (void)state;

    url(u, sizeof(u), "/api/v1/campaigns/5");
    t_http(u, &rq, &r);
    assert_non_null(t_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_string_equal(v, "abc-123.x:y_z");
    assert_string_equal(json_string_value(json_object_get(r.json, "rid")), "abc-123.x:y_z");
    t_resp_free(&r);

    rq.hdrs = bad;
    t_http(u, &rq, &r);
    assert_non_null(t_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_int_equal(strlen(v), 20);
    assert_string_equal(json_string_value(json_object_get(r.json, "rid")), v);
    t_resp_free(&r);

    char first[64];
    t_get(u, &r);
    assert_non_null(t_header(&r, "X-Request-Id", first, sizeof(first)));
    t_resp_free(&r);
    t_get(u, &r);
    assert_non_null(t_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_string_not_equal(first, v);
    t_resp_free(&r);

    /* Errors carry it too. */
    url(u, sizeof(u), "/nothing-here");
    rq.hdrs = mine;
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(t_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_string_equal(v, "abc-123.x:y_z");
    t_resp_free(&r);
}

static void test_httpd_keepalive_reuse(void **state)
{
    CURL *c = curl_easy_init();
    struct t_req rq = { .reuse = c };
    struct t_resp r;
    char u[256];
    (void)state;

    url(u, sizeof(u), "/api/v1/campaigns/1");
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t_http(u, &rq, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.new_conns, i == 0 ? 1 : 0);
        t_resp_free(&r);
    }
    /* Errors keep the connection too. */
    url(u, sizeof(u), "/missing");
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.new_conns, 0);
    t_resp_free(&r);
    /* And a request with a body. */
    url(u, sizeof(u), "/echo");
    rq.body = "hello";
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.new_conns, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "body_len")), 5);
    t_resp_free(&r);
    curl_easy_cleanup(c);
}

static void test_httpd_handler_failure(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    url(u, sizeof(u), "/fail");
    t_get(u, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(t_err_code(&r), "internal_error");
    assert_string_equal(t_err_message(&r), "internal error");
    assert_null(strstr(r.body.data, "DB"));
    t_resp_free(&r);

    url(u, sizeof(u), "/noresp");
    t_get(u, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(t_err_code(&r), "internal_error");
    t_resp_free(&r);

    url(u, sizeof(u), "/badheader");
    t_get(u, &r);
    assert_int_equal(r.status, 500);
    assert_null(strstr(r.headers.data, "Set-Cookie"));
    t_resp_free(&r);
}

static void test_httpd_raw_and_head(void **state)
{
    struct t_resp r;
    char u[256], v[128];
    struct t_req head = { .method = "HEAD" };
    (void)state;

    url(u, sizeof(u), "/raw");
    t_get(u, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.data, "hello");
    assert_string_equal(t_header(&r, "Content-Type", v, sizeof(v)), "text/plain");
    assert_string_equal(t_header(&r, "X-Extra", v, sizeof(v)), "yes");
    assert_string_equal(t_header(&r, "Cache-Control", v, sizeof(v)), "max-age=5");
    assert_non_null(t_header(&r, "Date", v, sizeof(v)));
    t_resp_free(&r);

    url(u, sizeof(u), "/api/v1/campaigns/77");
    t_http(u, &head, &r);
    assert_int_equal(r.status, 200);
    assert_null(r.body.data);
    assert_non_null(t_header(&r, "Content-Length", v, sizeof(v)));
    assert_true(atoi(v) > 10);
    t_resp_free(&r);

    url(u, sizeof(u), "/big");
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 1024 * 1024 + 7);
    for (size_t i = 0; i < r.body.len; i += 4099) {
        assert_int_equal(r.body.data[i], 'a' + i % 26);
    }
    t_resp_free(&r);
}

static void test_httpd_post_from_worker_thread(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    atomic_store(&g_worker_started, 0);
    url(u, sizeof(u), "/worker");
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "from_worker")));
    t_resp_free(&r);
    assert_int_equal(atomic_load(&g_worker_started), 1);
    pthread_join(g_worker, NULL);
}

static void posted(struct httpd *h, void *arg)
{
    atomic_int *n = arg;
    if (httpd_on_thread(h)) {
        atomic_fetch_add(&g_posted_on_thread, 1);
    }
    atomic_fetch_add(n, 1);
}

struct poster_arg {
    struct httpd *h;
    int count;
};

static void *poster(void *arg)
{
    struct poster_arg *pa = arg;
    for (int i = 0; i < pa->count; i++) {
        assert_int_equal(httpd_post(pa->h, posted, &g_posted), 0);
    }
    return NULL;
}

static bool all_posted(void *arg)
{
    return atomic_load(&g_posted) == *(int *)arg;
}

static void test_httpd_post_many_threads(void **state)
{
    pthread_t th[4];
    struct poster_arg pa = { .h = fx.h, .count = 500 };
    int want = 4 * 500;
    (void)state;

    atomic_store(&g_posted, 0);
    atomic_store(&g_posted_on_thread, 0);
    for (int i = 0; i < 4; i++) {
        pthread_create(&th[i], NULL, poster, &pa);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_true(t_wait_for(all_posted, &want, 5000));
    assert_int_equal(atomic_load(&g_posted_on_thread), want);
}

static struct httpd_stats g_before;

/* The counters move right after the last byte is handed over, which can be
 * a moment after the client has it. */
static bool counted(void *arg)
{
    struct httpd_stats now;
    (void)arg;
    httpd_stats(&now);
    return now.requests_by_class[2] - g_before.requests_by_class[2] == 1 &&
           now.requests_by_class[4] - g_before.requests_by_class[4] == 1 && now.in_flight == 0;
}

static void test_httpd_counters(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    httpd_stats(&g_before);
    url(u, sizeof(u), "/api/v1/campaigns/1");
    t_get(u, &r);
    t_resp_free(&r);
    url(u, sizeof(u), "/zzz");
    t_get(u, &r);
    t_resp_free(&r);
    assert_true(t_wait_for(counted, NULL, 2000));
}

/* ---------------------------------------------------------------------- */
/* Lifecycle tests (own servers)                                           */
/* ---------------------------------------------------------------------- */

static atomic_int g_hook_start, g_hook_stop;

static void hook_start(struct httpd *h, struct ev_loop *loop, void *arg)
{
    (void)arg;
    if (httpd_on_thread(h) && loop == httpd_loop(h)) {
        atomic_fetch_add(&g_hook_start, 1);
    }
}

static void hook_stop(struct httpd *h, struct ev_loop *loop, void *arg)
{
    (void)arg;
    if (httpd_on_thread(h) && loop == httpd_loop(h)) {
        atomic_fetch_add(&g_hook_stop, 1);
    }
}

static void test_httpd_start_stop_twice(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        struct httpd_config cfg = { .name = "twice",
                                    .on_thread_start = hook_start,
                                    .on_thread_stop = hook_stop };
        struct httpd *h = httpd_create(&cfg, routes, 2);
        struct t_resp r;
        char u[128];

        assert_non_null(h);
        assert_int_equal(httpd_post(h, posted, &g_posted), ERR_SHUTDOWN);
        assert_int_equal(httpd_start(h), 0);
        assert_int_equal(httpd_start(h), ERR_BUSY);
        assert_int_equal(httpd_route_add(h, &routes[3]), ERR_BUSY);
        snprintf(u, sizeof(u), "http://127.0.0.1:%d/api/v1/campaigns/%d", httpd_port(h), round);
        assert_int_equal(t_get(u, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        t_resp_free(&r);
        httpd_stop(h);
        assert_int_equal(atomic_load(&g_hook_start), round + 1);
        assert_int_equal(atomic_load(&g_hook_stop), round + 1);
    }
    /* Never started. */
    httpd_stop(httpd_create(NULL, NULL, 0));
    httpd_stop(NULL);
}

static void test_httpd_start_failures(void **state)
{
    struct httpd_config cfg = { .bind_addr = "not-an-address" };
    struct httpd *h;
    (void)state;

    h = httpd_create(&cfg, NULL, 0);
    assert_non_null(h);
    assert_int_equal(httpd_start(h), ERR_INVAL);
    httpd_stop(h);

    /* Port in use. */
    struct httpd_config c1 = { 0 };
    struct httpd *a = httpd_create(&c1, NULL, 0);
    assert_int_equal(httpd_start(a), 0);
    struct httpd_config c2 = { .port = httpd_port(a) };
    struct httpd *b = httpd_create(&c2, NULL, 0);
    assert_int_equal(httpd_start(b), -EADDRINUSE);
    httpd_stop(b);
    httpd_stop(a);

    /* Bad routes and configs. */
    struct httpd_route bad[] = {
        { .methods = HTTPD_GET, .pattern = "no-slash", .handler = h_echo }
    };
    assert_null(httpd_create(NULL, bad, 1));
    struct httpd_route dup[] = { routes[0], routes[0] };
    assert_null(httpd_create(NULL, dup, 2));
    struct httpd_config tls = { .tls_cert_file = "/nonexistent.pem" };
    assert_null(httpd_create(&tls, NULL, 0));
    struct httpd_config tls2 = { .tls_cert_file = "/nonexistent.pem",
                                 .tls_key_file = "/nonexistent.key" };
    h = httpd_create(&tls2, NULL, 0);
    assert_non_null(h);
    assert_int_equal(httpd_start(h), ERR_INVAL);
    httpd_stop(h);
}

/* Stop while a deferred request is held: its abort callback gets ERR_SHUTDOWN. */
static atomic_int g_shutdown_reason;

static void shutdown_abort(struct httpd_req *req, int reason, void *arg)
{
    (void)req;
    (void)arg;
    atomic_store(&g_shutdown_reason, reason);
}

static int h_hold(struct httpd_req *req, void *arg)
{
    (void)arg;
    httpd_req_on_abort(req, shutdown_abort, NULL);
    return HTTPD_DEFERRED;
}

struct bg_get {
    char url[128];
    struct t_resp r;
};

static void *bg_get(void *arg)
{
    struct bg_get *g = arg;
    t_get(g->url, &g->r);
    return NULL;
}

static bool one_in_flight(void *arg)
{
    struct httpd_stats s;
    (void)arg;
    httpd_stats(&s);
    return s.in_flight >= 1;
}

static void test_httpd_stop_aborts_held(void **state)
{
    struct httpd_route hold[] = { { .methods = HTTPD_GET, .pattern = "/hold", .handler = h_hold } };
    struct httpd_config cfg = { .shutdown_grace_ms = 200 };
    struct httpd *h = httpd_create(&cfg, hold, 1);
    struct bg_get g;
    pthread_t th;
    int64_t t0;
    (void)state;

    assert_int_equal(httpd_start(h), 0);
    snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%d/hold", httpd_port(h));
    atomic_store(&g_shutdown_reason, 0);
    pthread_create(&th, NULL, bg_get, &g);
    assert_true(t_wait_for(one_in_flight, NULL, 3000));
    t0 = clock_mono_us();
    httpd_stop(h);
    assert_true(clock_mono_us() - t0 >= 150 * 1000);
    assert_int_equal(atomic_load(&g_shutdown_reason), ERR_SHUTDOWN);
    pthread_join(th, NULL);
    assert_int_not_equal(g.r.rc, CURLE_OK); /* the connection was closed */
    t_resp_free(&g.r);
}

/* Stop waits for an in-flight deferred request that finishes within the grace. */
static void test_httpd_stop_drains_in_flight(void **state)
{
    struct httpd_config cfg = { .shutdown_grace_ms = 3000 };
    struct httpd *h = httpd_create(&cfg, routes, sizeof(routes) / sizeof(routes[0]));
    struct bg_get g;
    pthread_t th;
    char v[64];
    (void)state;

    assert_int_equal(httpd_start(h), 0);
    snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%d/slow", httpd_port(h));
    pthread_create(&th, NULL, bg_get, &g);
    assert_true(t_wait_for(one_in_flight, NULL, 3000));
    httpd_stop(h);
    pthread_join(th, NULL);
    assert_int_equal(g.r.rc, CURLE_OK);
    assert_int_equal(g.r.status, 200);
    assert_string_equal(t_header(&g.r, "Connection", v, sizeof(v)), "close");
    t_resp_free(&g.r);
}

static void test_httpd_max_connections(void **state)
{
    struct httpd_config cfg = { .max_connections = 1 };
    struct httpd *h = httpd_create(&cfg, routes, 1);
    char buf[64];
    int a, b;
    (void)state;

    assert_int_equal(httpd_start(h), 0);
    a = t_connect(httpd_port(h));
    assert_true(a >= 0);
    t_sleep_ms(50); /* let the server take the first one */
    b = t_connect(httpd_port(h));
    assert_true(b >= 0);
    /* The second is closed at once, the first stays usable. */
    assert_int_equal(recv(b, buf, sizeof(buf), 0), 0);
    close(b);
    const char *req = "GET /api/v1/campaigns/1 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(t_send_all(a, req, strlen(req)));
    assert_true(recv(a, buf, sizeof(buf) - 1, 0) > 12);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    close(a);
    httpd_stop(h);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_httpd_port_picked),
        cmocka_unit_test(test_httpd_routes_and_params),
        cmocka_unit_test(test_httpd_query_decoding),
        cmocka_unit_test(test_httpd_deferred_response),
        cmocka_unit_test(test_httpd_disconnect_before_deferred_respond),
        cmocka_unit_test(test_httpd_pipelined_while_deferred),
        cmocka_unit_test(test_httpd_request_timeout),
        cmocka_unit_test(test_httpd_not_found_and_method),
        cmocka_unit_test(test_httpd_body_errors),
        cmocka_unit_test(test_httpd_headers_too_large),
        cmocka_unit_test(test_httpd_request_id),
        cmocka_unit_test(test_httpd_keepalive_reuse),
        cmocka_unit_test(test_httpd_handler_failure),
        cmocka_unit_test(test_httpd_raw_and_head),
        cmocka_unit_test(test_httpd_post_from_worker_thread),
        cmocka_unit_test(test_httpd_post_many_threads),
        cmocka_unit_test(test_httpd_counters),
        cmocka_unit_test(test_httpd_start_stop_twice),
        cmocka_unit_test(test_httpd_start_failures),
        cmocka_unit_test(test_httpd_stop_aborts_held),
        cmocka_unit_test(test_httpd_stop_drains_in_flight),
        cmocka_unit_test(test_httpd_max_connections),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("httpd", shared, setup, teardown);
    curl_global_cleanup();
    return fails;
}
