/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/db (no server): the back-off schedule, argument
 * checks, and what a caller sees while PostgreSQL is unreachable (fail-fast
 * callbacks that never run re-entrantly, cancel, destroy). The connection
 * string points at a unix socket directory that does not exist, so every
 * connection attempt fails at once without touching the network.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/db.h"
#include "core/err.h"

#define NOWHERE "host=/nonexistent/dialer-db-unit-test port=5432 dbname=x user=x"

/* ------------------------------------------------------------------------ */
/* Back-off schedule                                                         */
/* ------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void test_db_backoff_doubles_within_jitter_bounds(void **state)
{
    /* attempt -> the un-jittered delay d for min 100, max 10000 */
    static const struct {
        unsigned attempt;
        int64_t d;
    } cases[] = {
        { 0, 100 },
        { 1, 200 },
        { 2, 400 },
        { 3, 800 },
        { 4, 1600 },
        { 5, 3200 },
        { 6, 6400 },
        { 7, 10000 },
        { 8, 10000 },
        { 30, 10000 },
        { 64, 10000 },
        { 1000, 10000 },
        { UINT32_MAX, 10000 },
    };

    uint64_t seed = 42;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t lo = cases[i].d / 2 < 100 ? 100 : cases[i].d / 2;
        for (int k = 0; k < 200; k++) {
            int64_t v = db_backoff_delay_ms(100, 10000, cases[i].attempt, splitmix(&seed));
            assert_in_range(v, lo, cases[i].d);
        }
        assert_int_equal(db_backoff_delay_ms(100, 10000, cases[i].attempt, 0), lo);
        assert_int_equal(db_backoff_delay_ms(100, 10000, cases[i].attempt, UINT64_MAX) >= lo, 1);
    }
}

static void test_db_backoff_jitter_spreads_a_fleet(void **state)
{
    int64_t seen[64];
    int distinct = 0;
    uint64_t seed = 7;
    (void)state;

    /* 64 nodes reconnecting after the same outage must not retry in lockstep. */
    for (int k = 0; k < 64; k++) {
        int64_t v = db_backoff_delay_ms(100, 10000, 5, splitmix(&seed));
        int dup = 0;
        for (int j = 0; j < distinct; j++) {
            dup |= seen[j] == v;
        }
        if (!dup) {
            seen[distinct++] = v;
        }
    }
    assert_true(distinct >= 40);
}

static void test_db_backoff_degenerate_bounds(void **state)
{
    (void)state;
    /* max below min: the delay is min; non-positive min: at least 1 ms. */
    assert_int_equal(db_backoff_delay_ms(500, 100, 3, 12345), 500);
    assert_in_range(db_backoff_delay_ms(0, 0, 0, 99), 1, 1);
    assert_in_range(db_backoff_delay_ms(-5, 8, 10, 99), 4, 8);
    /* Huge values do not overflow. */
    assert_in_range(db_backoff_delay_ms(INT64_MAX / 2, INT64_MAX, 100, 1), INT64_MAX / 2,
                    INT64_MAX);
}

/* ------------------------------------------------------------------------ */
/* Behaviour without a server                                                */
/* ------------------------------------------------------------------------ */

struct fx {
    struct ev_loop *loop;
    struct db_conn *c;
};

struct res {
    int calls;
    int status;
    int had_res;
    struct db_conn *destroy; /* destroy this conn from the callback */
    struct db_conn *resend;  /* send a query on this conn from the callback */
    int resend_rc;
    int retries;          /* resend with this callback while calls <= retries */
    struct ev_loop *loop; /* set to record the loop iteration of each call */
    unsigned iter[8];
};

static void on_res(int status, PGresult *res, void *arg)
{
    struct res *r = arg;
    if (r->loop != NULL && r->calls < 8) {
        r->iter[r->calls] = ev_iteration(r->loop);
    }
    r->calls++;
    r->status = status;
    r->had_res = res != NULL;
    if (r->resend != NULL) {
        struct db_query q = { .sql = "SELECT 1" };
        if (r->calls <= r->retries) {
            q.cb = on_res;
            q.arg = r;
        }
        r->resend_rc = db_query_send(r->resend, &q, NULL);
    }
    if (r->destroy != NULL) {
        db_conn_destroy(r->destroy);
    }
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(int *)w->data = 1;
}

/* Runs loop until *flag >= want or seconds pass; bounded in iterations too. */
static void run_until(struct ev_loop *loop, const int *flag, int want, double seconds)
{
    ev_timer guard;
    int fired = 0;

    ev_timer_init(&guard, on_guard, seconds, 0.);
    guard.data = &fired;
    ev_timer_start(loop, &guard);
    for (int i = 0; i < 100000 && *flag < want && !fired; i++) {
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &guard);
}

static void run_for(struct ev_loop *loop, double seconds)
{
    int never = 0;
    run_until(loop, &never, 1, seconds);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct db_opts o = { .name = "unit", .backoff_min_ms = 20, .backoff_max_ms = 40 };

    assert_non_null(fx);
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(fx->loop);
    assert_int_equal(db_conn_create(fx->loop, NOWHERE, &o, &fx->c), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    db_conn_destroy(fx->c);
    ev_loop_destroy(fx->loop);
    free(fx);
    return 0;
}

static void test_db_create_rejects_bad_conninfo(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct db_conn *c = (struct db_conn *)&c;
    struct db_pool *p = (struct db_pool *)&p;
    (void)state;

    assert_int_equal(db_conn_create(loop, "no_such_keyword=1", NULL, &c), ERR_INVAL);
    assert_null(c);
    assert_int_equal(db_conn_create(loop, "host='unterminated", NULL, &c), ERR_INVAL);
    assert_int_equal(db_conn_create(NULL, NOWHERE, NULL, &c), ERR_INVAL);
    assert_int_equal(db_pool_create(loop, "no_such_keyword=1", 2, NULL, &p), ERR_INVAL);
    assert_null(p);
    assert_int_equal(db_pool_create(loop, NOWHERE, 0, NULL, &p), ERR_INVAL);
    assert_int_equal(db_pool_create(loop, NOWHERE, 65, NULL, &p), ERR_INVAL);
    ev_loop_destroy(loop);
}

static void test_db_query_rejects_malformed_queries(void **state)
{
    struct fx *fx = *state;
    const char *one[] = { "1" };
    const Oid types[] = { DB_OID_INT4 };
    struct res r = { 0 };

    /* Both or neither of sql/stmt, params missing, types with a statement. */
    assert_int_equal(db_query_send(fx->c, &(struct db_query){ .cb = on_res, .arg = &r }, NULL),
                     ERR_INVAL);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1", .stmt = "s", .cb = on_res },
                      NULL),
        ERR_INVAL);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT $1", .nparams = 1 }, NULL),
        ERR_INVAL);
    assert_int_equal(
        db_query_send(
            fx->c, &(struct db_query){ .stmt = "s", .nparams = 1, .params = one, .types = types },
            NULL),
        ERR_INVAL);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1", .nparams = 70000 }, NULL),
        ERR_INVAL);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1", .timeout_ms = -2 }, NULL),
        ERR_INVAL);
    run_for(fx->loop, 0.05);
    assert_int_equal(r.calls, 0);
}

static void test_db_down_query_fails_fast_never_reentrantly(void **state)
{
    struct fx *fx = *state;
    struct res r = { 0 };
    struct db_stats st;
    uint64_t id = 0;
    ev_tstamp t0;

    run_for(fx->loop, 0.05); /* a few failed attempts */
    assert_false(db_conn_is_up(fx->c));
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &r }, &id),
        0);
    assert_true(id != 0);
    assert_int_equal(r.calls, 0); /* not inside db_query_send */
    ev_now_update(fx->loop);
    t0 = ev_now(fx->loop);
    run_until(fx->loop, &r.calls, 1, 2.0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, ERR_DISCONNECTED);
    assert_false(r.had_res);
    assert_true(ev_now(fx->loop) - t0 < 0.5);
    db_conn_stats(fx->c, &st);
    assert_int_equal(st.queries, 1);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.inflight, 0);
    /* A finished query cannot be cancelled. */
    assert_int_equal(db_query_cancel(fx->c, id), ERR_NOTFOUND);
}

static void test_db_retry_from_callback_waits_a_turn(void **state)
{
    struct fx *fx = *state;
    struct res r = { 0 };

    /*
     * A caller that retries from its callback gets its new failure on a later
     * loop iteration: a retry loop cannot spin inside one delivery.
     */
    r.resend = fx->c;
    r.retries = 3;
    r.loop = fx->loop;
    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &r },
                                   NULL),
                     0);
    run_until(fx->loop, &r.calls, 4, 2.0);
    assert_int_equal(r.calls, 4);
    assert_int_equal(r.resend_rc, 0);
    for (int i = 1; i < 4; i++) {
        assert_true(r.iter[i] > r.iter[i - 1]);
    }
    run_for(fx->loop, 0.05);
    assert_int_equal(r.calls, 4);
}

static void test_db_cancel_means_no_callback(void **state)
{
    struct fx *fx = *state;
    struct res a = { 0 }, b = { 0 };
    uint64_t ida = 0, idb = 0;

    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &a },
                                   &ida),
                     0);
    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT 2", .cb = on_res, .arg = &b },
                                   &idb),
                     0);
    assert_true(ida != idb);
    assert_int_equal(db_query_cancel(fx->c, ida), 0);
    assert_int_equal(db_query_cancel(fx->c, ida), ERR_NOTFOUND);
    assert_int_equal(db_query_cancel(fx->c, 0), ERR_NOTFOUND);
    run_until(fx->loop, &b.calls, 1, 2.0);
    run_for(fx->loop, 0.05);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
}

static void test_db_destroy_cancels_outstanding_queries(void **state)
{
    struct fx *fx = *state;
    struct res r[3] = { { 0 } };

    for (int i = 0; i < 3; i++) {
        r[i].resend = fx->c; /* must be refused: the conn is going away */
        assert_int_equal(
            db_query_send(
                fx->c, &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &r[i] }, NULL),
            0);
    }
    db_conn_destroy(fx->c);
    fx->c = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, ERR_CANCELED);
        assert_int_equal(r[i].resend_rc, ERR_SHUTDOWN);
    }
}

static void test_db_destroy_from_own_callback(void **state)
{
    struct fx *fx = *state;
    struct res first = { 0 }, second = { 0 };

    /* The first callback destroys the connection; the second is cancelled. */
    first.destroy = fx->c;
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &first },
                      NULL),
        0);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 2", .cb = on_res, .arg = &second },
                      NULL),
        0);
    fx->c = NULL;
    run_until(fx->loop, &second.calls, 1, 2.0);
    assert_int_equal(first.calls, 1);
    assert_int_equal(first.status, ERR_DISCONNECTED);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.status, ERR_CANCELED);
    run_for(fx->loop, 0.1); /* no watcher of the freed conn may fire */
}

static void test_db_prepare_registers_once(void **state)
{
    struct fx *fx = *state;
    const Oid types[] = { DB_OID_INT4 };

    assert_int_equal(db_prepare(fx->c, "get_contact", "SELECT $1::int", 1, types), 0);
    assert_int_equal(db_prepare(fx->c, "get_contact", "SELECT 2", 0, NULL), ERR_EXISTS);
    assert_int_equal(db_prepare(fx->c, "", "SELECT 2", 0, NULL), ERR_INVAL);
    assert_int_equal(db_prepare(fx->c, "x", NULL, 0, NULL), ERR_INVAL);
    assert_int_equal(db_prepare(fx->c, "x", "SELECT 1", -1, NULL), ERR_INVAL);
}

struct copy_res {
    int calls;
    int status;
    int64_t rows;
};

static void on_copy_done(int status, int64_t rows, PGresult *res, void *arg)
{
    struct copy_res *r = arg;
    (void)res;
    r->calls++;
    r->status = status;
    r->rows = rows;
}

static void test_db_copy_on_down_connection(void **state)
{
    struct fx *fx = *state;
    struct copy_res r = { 0 };
    struct db_copy_opts o = { .sql = "COPY t FROM STDIN", .done = on_copy_done, .arg = &r };

    assert_int_equal(db_copy_put(fx->c, "x\n", 2), ERR_INVAL);
    assert_int_equal(db_copy_end(fx->c, NULL), ERR_INVAL);
    assert_int_equal(db_copy_start(fx->c, &(struct db_copy_opts){ .sql = "COPY t FROM STDIN" }),
                     ERR_INVAL);
    assert_int_equal(db_copy_start(fx->c, &o), 0);
    assert_int_equal(db_copy_start(fx->c, &o), ERR_BUSY);
    assert_int_equal(db_copy_put(fx->c, "x\n", 2), ERR_DISCONNECTED);
    assert_int_equal(db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1" }, NULL), ERR_BUSY);
    assert_int_equal(r.calls, 0);
    run_until(fx->loop, &r.calls, 1, 2.0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, ERR_DISCONNECTED);
    /* The connection takes queries again once the COPY is over. */
    assert_int_equal(db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1" }, NULL), 0);
}

static void on_pool_state(int up, void *arg)
{
    (void)up;
    (*(int *)arg)++;
}

static void test_db_pool_down_fails_fast(void **state)
{
    struct fx *fx = *state;
    struct db_pool *p = NULL;
    struct db_conn *pinned = NULL;
    struct res r = { 0 };
    int transitions = 0;
    struct db_opts o = { .name = "unitpool",
                         .backoff_min_ms = 20,
                         .backoff_max_ms = 40,
                         .state_cb = on_pool_state,
                         .state_arg = &transitions };

    assert_int_equal(db_pool_create(fx->loop, NOWHERE, 3, &o, &p), 0);
    assert_int_equal(db_pool_size(p), 3);
    assert_string_equal(db_conn_name(db_pool_conn(p, 2)), "unitpool-2");
    assert_null(db_pool_conn(p, 3));
    run_for(fx->loop, 0.05);
    assert_false(db_pool_is_up(p));
    assert_int_equal(db_pool_up_count(p), 0);
    assert_int_equal(db_pool_pin(p, &pinned), ERR_DISCONNECTED);
    assert_null(pinned);
    assert_int_equal(db_pool_query_send(
                         p, &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &r }, NULL),
                     0);
    assert_int_equal(r.calls, 0);
    run_until(fx->loop, &r.calls, 1, 2.0);
    assert_int_equal(r.status, ERR_DISCONNECTED);
    assert_int_equal(transitions, 0); /* never up, so never down either */
    db_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_backoff_doubles_within_jitter_bounds),
        cmocka_unit_test(test_db_backoff_jitter_spreads_a_fleet),
        cmocka_unit_test(test_db_backoff_degenerate_bounds),
        cmocka_unit_test(test_db_create_rejects_bad_conninfo),
        cmocka_unit_test_setup_teardown(test_db_query_rejects_malformed_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_down_query_fails_fast_never_reentrantly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_retry_from_callback_waits_a_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_cancel_means_no_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_destroy_cancels_outstanding_queries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_destroy_from_own_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_prepare_registers_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_copy_on_down_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_pool_down_fails_fast, setup, teardown),
    };
    return cmocka_run_group_tests_name("core/db", tests, NULL, NULL);
}
