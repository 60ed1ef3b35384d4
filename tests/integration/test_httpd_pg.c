/* SPDX-License-Identifier: MIT */
/*
 * Integration test for core/httpd sharing its loop with an async PostgreSQL
 * connection (the private server started by tests/support/run-all.sh): the
 * connection is opened without blocking from on_thread_start on httpd_loop(),
 * a route sends a query with PQsendQueryParams and answers the deferred
 * request from the ev_io callback when the result arrives, a client that
 * leaves mid-query turns the late answer into a no-op, and on_thread_stop
 * closes the connection. This is the pattern the API's handlers follow.
 */
#include <postgresql/libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/httpd.h"
#include "core/mpsc.h"
#include "tests/support/testenv.h"
#include "tests/unit/core/test_httpd_util.h"

/* One connection on the httpd loop, one query at a time (enough here). */
struct db {
    struct httpd *h;
    PGconn *conn;
    ev_io io;
    bool connected;
    bool failed;
    struct httpd_req *req; /* the request the running query answers, or NULL */
    bool busy;
    json_t *out; /* result so far */
    int status;
};

static struct db db;
static struct httpd *srv;
static char base[64];
static atomic_int g_ready;
static atomic_int g_abort_reason;
static atomic_int g_late_rc;
static atomic_int g_late_done;

static void db_io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void db_watch(struct ev_loop *loop, int events)
{
    ev_io_stop(loop, &db.io);
    ev_io_set(&db.io, PQsocket(db.conn), events);
    ev_io_start(loop, &db.io);
}

/* Drives PQconnectPoll from the loop until the connection is up. */
static void db_connecting(struct ev_loop *loop)
{
    switch (PQconnectPoll(db.conn)) {
    case PGRES_POLLING_READING:
        db_watch(loop, EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        db_watch(loop, EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        db.connected = true;
        PQsetnonblocking(db.conn, 1);
        db_watch(loop, EV_READ);
        atomic_store(&g_ready, 1);
        break;
    default:
        db.failed = true;
        ev_io_stop(loop, &db.io);
        atomic_store(&g_ready, -1);
        break;
    }
}

/* Collects results without blocking; answers once the last one is in. */
static void db_results(void)
{
    PGresult *res;
    int rc;

    while (!PQisBusy(db.conn)) {
        res = PQgetResult(db.conn);
        if (res == NULL) {
            break;
        }
        if (PQresultStatus(res) == PGRES_TUPLES_OK && db.out == NULL) {
            db.out = json_pack("{si}", "value", atoi(PQgetvalue(res, 0, 1)));
        } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            db.status = HTTPD_STATUS_INTERNAL_ERROR;
        }
        PQclear(res);
    }
    if (PQisBusy(db.conn)) {
        return; /* more to come */
    }
    db.busy = false;
    if (db.status != HTTPD_STATUS_OK) {
        json_decref(db.out);
        rc = httpd_error(db.req, db.status, "db_error", "query failed", NULL);
    } else {
        rc = httpd_respond_json(db.req, db.status, db.out);
    }
    db.out = NULL;
    db.req = NULL;
    atomic_store(&g_late_rc, rc);
    atomic_store(&g_late_done, 1);
}

static void db_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)w;
    (void)revents;
    if (!db.connected) {
        db_connecting(loop);
        return;
    }
    if (PQconsumeInput(db.conn) == 0) {
        db.busy = false;
        return;
    }
    if (db.busy) {
        db_results();
    }
}

static void db_start(struct httpd *h, struct ev_loop *loop, void *arg)
{
    (void)arg;
    db.h = h;
    db.conn = PQconnectStart(testenv_pg_conninfo());
    if (db.conn == NULL || PQstatus(db.conn) == CONNECTION_BAD) {
        atomic_store(&g_ready, -1);
        return;
    }
    ev_io_init(&db.io, db_io_cb, PQsocket(db.conn), EV_WRITE);
    ev_io_start(loop, &db.io);
}

static void db_stop(struct httpd *h, struct ev_loop *loop, void *arg)
{
    (void)h;
    (void)arg;
    ev_io_stop(loop, &db.io);
    PQfinish(db.conn);
    db.conn = NULL;
}

static void query_abort(struct httpd_req *req, int reason, void *arg)
{
    (void)req;
    (void)arg;
    /* The query runs on; its answer will be dropped (the handle stays valid). */
    atomic_store(&g_abort_reason, reason);
}

/* GET /api/v1/db/sleep?ms=N&value=V: SELECT pg_sleep(N/1000), V. */
static int h_sleep(struct httpd_req *req, void *arg)
{
    const char *params[2];
    (void)arg;

    if (!db.connected || db.busy) {
        httpd_error(req, HTTPD_STATUS_UNAVAILABLE, "db_busy", "database busy", NULL);
        return HTTPD_DONE;
    }
    params[0] = httpd_req_query(req, "ms") != NULL ? httpd_req_query(req, "ms") : "0";
    params[1] = httpd_req_query(req, "value") != NULL ? httpd_req_query(req, "value") : "0";
    if (PQsendQueryParams(db.conn, "SELECT pg_sleep($1::float8 / 1000), $2::int", 2, NULL, params,
                          NULL, NULL, 0) == 0) {
        return ERR_DB;
    }
    db.busy = true;
    db.req = req;
    db.status = HTTPD_STATUS_OK;
    httpd_req_on_abort(req, query_abort, NULL);
    return HTTPD_DEFERRED;
}

static const struct httpd_route routes[] = {
    { .methods = HTTPD_GET, .pattern = "/api/v1/db/sleep", .handler = h_sleep },
};

static bool ready(void *arg)
{
    (void)arg;
    return atomic_load(&g_ready) != 0;
}

static int setup(void **state)
{
    struct httpd_config cfg = { .name = "api-db",
                                .on_thread_start = db_start,
                                .on_thread_stop = db_stop };
    (void)state;

    testenv_pg_conninfo(); /* exits with a message without the services */
    srv = httpd_create(&cfg, routes, 1);
    if (srv == NULL || httpd_start(srv) != 0) {
        return -1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", httpd_port(srv));
    if (!t_wait_for(ready, NULL, 10000) || atomic_load(&g_ready) != 1) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(srv);
    return 0;
}

static void test_httpd_pg_deferred_query(void **state)
{
    struct t_resp r;
    char u[256];
    int64_t t0 = clock_mono_us();
    (void)state;

    snprintf(u, sizeof(u), "%s/api/v1/db/sleep?ms=50&value=42", base);
    assert_int_equal(t_get(u, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "value")), 42);
    assert_true(clock_mono_us() - t0 >= 45 * 1000);
    t_resp_free(&r);
}

static bool late_done(void *arg)
{
    (void)arg;
    return atomic_load(&g_late_done) != 0;
}

static void test_httpd_pg_client_leaves_mid_query(void **state)
{
    struct t_resp r;
    struct t_req rq = { .timeout_ms = 50 };
    char u[256];
    (void)state;

    atomic_store(&g_late_done, 0);
    atomic_store(&g_abort_reason, 0);
    snprintf(u, sizeof(u), "%s/api/v1/db/sleep?ms=400&value=1", base);
    assert_int_not_equal(t_http(u, &rq, &r), CURLE_OK);
    t_resp_free(&r);
    assert_true(t_wait_for(late_done, NULL, 5000));
    assert_int_equal(atomic_load(&g_abort_reason), ERR_CLOSED);
    assert_int_equal(atomic_load(&g_late_rc), ERR_CLOSED);

    /* The connection and the server carry on. */
    snprintf(u, sizeof(u), "%s/api/v1/db/sleep?ms=1&value=7", base);
    t_get(u, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "value")), 7);
    t_resp_free(&r);
}

static void test_httpd_pg_query_error(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    snprintf(u, sizeof(u), "%s/api/v1/db/sleep?ms=1&value=notanumber", base);
    t_get(u, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(t_err_code(&r), "db_error");
    t_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_pg_deferred_query),
        cmocka_unit_test(test_httpd_pg_client_leaves_mid_query),
        cmocka_unit_test(test_httpd_pg_query_error),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("httpd_pg", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
