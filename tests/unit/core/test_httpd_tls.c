/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/httpd over TLS: HTTPS requests (keep-alive, deferred,
 * errors) and a WSS session, with a throw-away self-signed certificate made
 * by the openssl command at setup (the test is skipped without it).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "core/httpd.h"
#include "tests/unit/core/test_httpd_util.h"

extern char **environ;

static struct httpd *srv;
static char base[64];
static char tmp[128], cert[192], key[192];

struct later {
    ev_timer t;
    struct httpd_req *req;
};

static void later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct later *l = (struct later *)w;
    (void)loop;
    (void)revents;
    httpd_respond_json(l->req, HTTPD_STATUS_OK, json_pack("{sb}", "late", 1));
    free(l);
}

static int h_hello(struct httpd_req *req, void *arg)
{
    (void)arg;
    if (httpd_req_query(req, "defer") != NULL) {
        struct later *l = calloc(1, sizeof(*l));
        l->req = req;
        ev_timer_init(&l->t, later_cb, 0.05, 0.);
        ev_timer_start(httpd_loop(httpd_req_server(req)), &l->t);
        return HTTPD_DEFERRED;
    }
    httpd_respond_json(req, HTTPD_STATUS_OK, json_pack("{ss}", "hello", "tls"));
    return HTTPD_DONE;
}

static void echo(struct httpd_ws *ws, const void *data, size_t len, bool binary, void *arg)
{
    (void)arg;
    httpd_ws_send(ws, data, len, binary);
}

static const struct httpd_route routes[] = {
    { .methods = HTTPD_GET, .pattern = "/hello", .handler = h_hello },
};

/* Runs a command (argv NULL-terminated) quietly; its exit status, or -1. */
static int run(const char *const args[])
{
    char *argv[24];
    size_t n = 0;
    pid_t pid;
    int status = 0, rc;
    posix_spawn_file_actions_t fa;

    for (; args[n] != NULL && n + 1 < sizeof(argv) / sizeof(argv[0]); n++) {
        argv[n] = strdup(args[n]);
    }
    argv[n] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    for (size_t i = 0; i < n; i++) {
        free(argv[i]);
    }
    if (rc != 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
    struct httpd_config cfg = { .name = "tls" };
    struct httpd_ws_endpoint ep = { .pattern = "/ws", .on_message = echo };
    (void)state;

    snprintf(tmp, sizeof(tmp), "/tmp/httpd-tls-XXXXXX");
    if (mkdtemp(tmp) == NULL) {
        return -1;
    }
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
    snprintf(key, sizeof(key), "%s/key.pem", tmp);
    const char *const argv[] = { "openssl",
                                 "req",
                                 "-x509",
                                 "-newkey",
                                 "ec",
                                 "-pkeyopt",
                                 "ec_paramgen_curve:prime256v1",
                                 "-nodes",
                                 "-keyout",
                                 key,
                                 "-out",
                                 cert,
                                 "-days",
                                 "1",
                                 "-subj",
                                 "/CN=127.0.0.1",
                                 NULL };
    if (run(argv) != 0) {
        return 0; /* no openssl command: srv stays NULL and the tests skip */
    }
    cfg.tls_cert_file = cert;
    cfg.tls_key_file = key;
    srv = httpd_create(&cfg, routes, 1);
    if (srv == NULL || httpd_ws_add(srv, &ep) != 0 || httpd_start(srv) != 0) {
        return -1;
    }
    snprintf(base, sizeof(base), "https://127.0.0.1:%d", httpd_port(srv));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(srv);
    unlink(cert);
    unlink(key);
    rmdir(tmp);
    return 0;
}

static void test_httpd_tls_https(void **state)
{
    CURL *c;
    struct t_resp r;
    char u[256], v[64];
    (void)state;

    if (srv == NULL) {
        skip();
    }
    c = curl_easy_init();
    struct t_req rq = { .insecure = true, .reuse = c };
    snprintf(u, sizeof(u), "%s/hello", base);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t_http(u, &rq, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "hello")), "tls");
        assert_non_null(t_header(&r, "X-Request-Id", v, sizeof(v)));
        assert_int_equal(r.new_conns, i == 0 ? 1 : 0);
        t_resp_free(&r);
    }
    snprintf(u, sizeof(u), "%s/hello?defer=1", base);
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "late")));
    t_resp_free(&r);

    snprintf(u, sizeof(u), "%s/missing", base);
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(t_err_code(&r), "not_found");
    t_resp_free(&r);
    curl_easy_cleanup(c);

    /* Plain HTTP on the TLS port is not served. */
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/hello", httpd_port(srv));
    struct t_req plain = { .timeout_ms = 2000 };
    t_http(u, &plain, &r);
    assert_int_not_equal(r.status, 200);
    t_resp_free(&r);
}

static void test_httpd_tls_wss(void **state)
{
    struct t_ws w;
    char *data = NULL;
    size_t len;
    (void)state;

    if (srv == NULL) {
        skip();
    }
    assert_true(t_ws_open(&w, base, "/ws", NULL, 0));
    assert_true(t_ws_send(&w, 1, "over tls", 8));
    assert_int_equal(t_ws_recv(&w, &data, &len, 5000), 1);
    assert_string_equal(data, "over tls");
    free(data);
    t_ws_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_tls_https),
        cmocka_unit_test(test_httpd_tls_wss),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("httpd_tls", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
