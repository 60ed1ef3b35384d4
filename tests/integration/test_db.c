/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for core/db against the private PostgreSQL started by
 * tests/support/run-all.sh. Every wait runs the loop under a guard timer and
 * an iteration cap, so a bug fails a test instead of hanging the suite. The
 * fault tests (restart, stop/start) come last; the group teardown makes sure
 * the server is running again for the test binaries that follow.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/db.h"
#include "core/err.h"
#include "tests/support/testenv.h"

#define NCOLS 4

struct fx {
    struct ev_loop *loop;
    struct db_conn *c;
    int ups;   /* state callback: up transitions */
    int downs; /* state callback: down transitions */
};

/* What a query callback saw. */
struct res {
    int calls;
    int status;
    int ntuples;
    char sqlstate[8];
    char msg[256];
    char val[NCOLS][256];
    int isnull[NCOLS];
    ev_tstamp at; /* loop time of the callback */
    struct ev_loop *loop;
};

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
    for (long i = 0; i < 10000000L && *flag < want && !fired; i++) {
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &guard);
}

static void run_for(struct ev_loop *loop, double seconds)
{
    int never = 0;
    run_until(loop, &never, 1, seconds);
}

static void on_state(int up, void *arg)
{
    struct fx *fx = arg;
    if (up) {
        fx->ups++;
    } else {
        fx->downs++;
    }
}

static void on_res(int status, PGresult *res, void *arg)
{
    struct res *r = arg;

    r->calls++;
    r->status = status;
    if (r->loop != NULL) {
        r->at = ev_now(r->loop);
    }
    if (res == NULL) {
        return;
    }
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", db_result_sqlstate(res));
    snprintf(r->msg, sizeof(r->msg), "%s", PQresultErrorMessage(res));
    r->ntuples = PQntuples(res);
    for (int i = 0; i < NCOLS && i < PQnfields(res) && PQntuples(res) > 0; i++) {
        r->isnull[i] = PQgetisnull(res, 0, i);
        snprintf(r->val[i], sizeof(r->val[i]), "%s", PQgetvalue(res, 0, i));
    }
}

static struct db_opts test_opts(struct fx *fx, const char *name)
{
    struct db_opts o = { .name = name,
                         .backoff_min_ms = 50,
                         .backoff_max_ms = 500,
                         .connect_timeout_ms = 5000,
                         .query_timeout_ms = 20000,
                         .state_cb = on_state,
                         .state_arg = fx };
    return o;
}

/* Sends sql on c and waits for its callback; returns the result. */
static struct res query_wait(struct fx *fx, struct db_conn *c, const char *sql, int nparams,
                             const char *const *params)
{
    struct res r = { .loop = fx->loop };
    struct db_query q = {
        .sql = sql, .nparams = nparams, .params = params, .cb = on_res, .arg = &r
    };

    assert_int_equal(db_query_send(c, &q, NULL), 0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.calls, 1);
    return r;
}

/* Waits until c is up (or fails the test). */
static void wait_up(struct fx *fx, struct db_conn *c, double seconds)
{
    ev_timer guard;
    int fired = 0;

    ev_timer_init(&guard, on_guard, seconds, 0.);
    guard.data = &fired;
    ev_timer_start(fx->loop, &guard);
    for (long i = 0; i < 10000000L && !db_conn_is_up(c) && !fired; i++) {
        ev_run(fx->loop, EVRUN_ONCE);
    }
    ev_timer_stop(fx->loop, &guard);
    assert_true(db_conn_is_up(c));
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct db_opts o = test_opts(fx, "itest");

    assert_non_null(fx);
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(fx->loop);
    assert_int_equal(db_conn_create(fx->loop, testenv_pg_conninfo(), &o, &fx->c), 0);
    wait_up(fx, fx->c, 20.0);
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

static int group_setup(void **state)
{
    (void)state;
    testenv_require("DIALER_PG_CONNINFO");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    /* A fault test that failed half-way must not leave the server stopped. */
    return testenv_services("start-pg") == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */

static void test_db_connect_and_simple_query(void **state)
{
    struct fx *fx = *state;
    struct res r;

    assert_int_equal(fx->ups, 1);
    assert_int_equal(fx->downs, 0);
    r = query_wait(fx, fx->c, "SELECT 1 + 1, current_database()", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.ntuples, 1);
    assert_string_equal(r.val[0], "2");
    assert_string_equal(r.val[1], "dialer");
}

static void test_db_params_null_and_unicode(void **state)
{
    struct fx *fx = *state;
    const char *word = "Grüße ☎ 日本 🚀 O'Brien; DROP TABLE x; --";
    const char *params[] = { NULL, word };
    const char *typed[] = { "41", "9000000000" };
    const Oid types[] = { DB_OID_INT4, DB_OID_INT8 };
    char octets[24];
    struct res r = { .loop = fx->loop };

    r = query_wait(fx, fx->c, "SELECT $1::text IS NULL, $2::text, octet_length($2::text), $1::text",
                   2, params);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "t");
    assert_string_equal(r.val[1], word);
    snprintf(octets, sizeof(octets), "%zu", strlen(word));
    assert_string_equal(r.val[2], octets);
    assert_int_equal(r.isnull[3], 1);

    /* Explicit parameter types reach the server (no casts in the SQL). */
    memset(&r, 0, sizeof(r));
    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT $1 + 1, pg_typeof($2)::text",
                                                       .nparams = 2,
                                                       .params = typed,
                                                       .types = types,
                                                       .cb = on_res,
                                                       .arg = &r },
                                   NULL),
                     0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "42");
    assert_string_equal(r.val[1], "bigint");
}

static void test_db_sql_error_gives_err_db_with_sqlstate(void **state)
{
    struct fx *fx = *state;
    struct res bad = { 0 }, good = { 0 }, div = { 0 };

    /* Pipelined back to back: the error must not abort its neighbours. */
    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT * FROM no_such_table_xyz",
                                                       .cb = on_res,
                                                       .arg = &bad },
                                   NULL),
                     0);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1/0", .cb = on_res, .arg = &div },
                      NULL),
        0);
    assert_int_equal(
        db_query_send(
            fx->c, &(struct db_query){ .sql = "SELECT 'still fine'", .cb = on_res, .arg = &good },
            NULL),
        0);
    run_until(fx->loop, &good.calls, 1, 20.0);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.status, ERR_DB);
    assert_string_equal(bad.sqlstate, "42P01");
    assert_non_null(strstr(bad.msg, "no_such_table_xyz"));
    assert_int_equal(div.status, ERR_DB);
    assert_string_equal(div.sqlstate, "22012");
    assert_int_equal(good.status, 0);
    assert_string_equal(good.val[0], "still fine");
    assert_true(db_conn_is_up(fx->c));
}

static void test_db_prepared_statement_survives_reconnect(void **state)
{
    struct fx *fx = *state;
    const char *p21[] = { "21" };
    struct res r = { 0 }, kill = { 0 };
    struct db_stats st;

    assert_int_equal(db_prepare(fx->c, "double_it", "SELECT $1::int * 2", 1, NULL), 0);
    assert_int_equal(
        db_query_send(
            fx->c,
            &(struct db_query){
                .stmt = "double_it", .nparams = 1, .params = p21, .cb = on_res, .arg = &r },
            NULL),
        0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "42");

    /* The server ends the session; the adapter reconnects by itself. */
    assert_int_equal(
        db_query_send(fx->c,
                      &(struct db_query){ .sql = "SELECT pg_terminate_backend(pg_backend_pid())",
                                          .cb = on_res,
                                          .arg = &kill },
                      NULL),
        0);
    run_until(fx->loop, &fx->downs, 1, 20.0);
    assert_int_equal(fx->downs, 1);
    assert_int_equal(kill.calls, 1);
    wait_up(fx, fx->c, 20.0);
    assert_int_equal(fx->ups, 2);

    memset(&r, 0, sizeof(r));
    assert_int_equal(
        db_query_send(
            fx->c,
            &(struct db_query){
                .stmt = "double_it", .nparams = 1, .params = p21, .cb = on_res, .arg = &r },
            NULL),
        0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "42");
    r = query_wait(fx, fx->c,
                   "SELECT count(*) FROM pg_prepared_statements WHERE name = 'double_it'", 0, NULL);
    assert_string_equal(r.val[0], "1");
    db_conn_stats(fx->c, &st);
    assert_int_equal(st.reconnects, 1);

    /* A statement the server rejects fails its queries, not the session. */
    assert_int_equal(db_prepare(fx->c, "broken", "SELEC nonsense", 0, NULL), 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .stmt = "broken", .cb = on_res, .arg = &r }, NULL),
        0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.status, ERR_DB);
    assert_string_equal(r.sqlstate, "26000");
    r = query_wait(fx, fx->c, "SELECT 'session fine'", 0, NULL);
    assert_string_equal(r.val[0], "session fine");
}

struct order {
    int next;   /* index of the callback expected next */
    int wrong;  /* callbacks out of order or with a wrong value */
    int failed; /* callbacks with status != 0 */
};

struct slot {
    struct order *o;
    int i;
};

static void on_ordered(int status, PGresult *res, void *arg)
{
    struct slot *s = arg;
    if (status != 0) {
        s->o->failed++;
    } else if (s->i != s->o->next || atoi(PQgetvalue(res, 0, 0)) != s->i) {
        s->o->wrong++;
    }
    s->o->next++;
}

static void test_db_thousand_queries_in_flight_complete_in_order(void **state)
{
    enum { N = 1000 };
    struct fx *fx = *state;
    struct order o = { 0 };
    struct slot *slots = calloc(N, sizeof(*slots));
    char(*vals)[16] = calloc(N, sizeof(*vals));
    struct db_stats st;

    assert_non_null(slots);
    assert_non_null(vals);
    for (int i = 0; i < N; i++) {
        const char *params[1];
        slots[i] = (struct slot){ .o = &o, .i = i };
        snprintf(vals[i], sizeof(vals[i]), "%d", i);
        params[0] = vals[i];
        assert_int_equal(db_query_send(fx->c,
                                       &(struct db_query){ .sql = "SELECT $1::int",
                                                           .nparams = 1,
                                                           .params = params,
                                                           .cb = on_ordered,
                                                           .arg = &slots[i] },
                                       NULL),
                         0);
    }
    /* All of them are on the wire before the first result is read. */
    db_conn_stats(fx->c, &st);
    assert_int_equal(st.inflight, N);
    run_until(fx->loop, &o.next, N, 30.0);
    assert_int_equal(o.next, N);
    assert_int_equal(o.wrong, 0);
    assert_int_equal(o.failed, 0);
    db_conn_stats(fx->c, &st);
    assert_int_equal(st.inflight, 0);
    free(slots);
    free(vals);
}

struct copier {
    struct db_conn *c;
    int next; /* next id to put */
    int total;
    int agains; /* puts answered ERR_AGAIN */
    int drains; /* drain callbacks */
    int ended;
    int done;
    int status;
    int64_t rows;
    char sqlstate[8];
    const char *bad_row; /* put this once in the middle */
};

static void copier_produce(struct copier *cp)
{
    char line[96];

    while (cp->next < cp->total) {
        int rc, n;
        cp->next++;
        if (cp->bad_row != NULL && cp->next == cp->total / 2) {
            rc = db_copy_put(cp->c, cp->bad_row, strlen(cp->bad_row));
        } else {
            n = snprintf(line, sizeof(line), "%d\tcontact ünï %d\n", cp->next, cp->next);
            rc = db_copy_put(cp->c, line, (size_t)n);
        }
        if (rc == ERR_AGAIN) {
            cp->agains++;
            return; /* wait for the drain callback */
        }
        assert_int_equal(rc, 0);
    }
    if (!cp->ended) {
        cp->ended = 1;
        assert_int_equal(db_copy_end(cp->c, NULL), 0);
    }
}

static void on_copy_drain(void *arg)
{
    struct copier *cp = arg;
    cp->drains++;
    copier_produce(cp);
}

static void on_copy_done(int status, int64_t rows, PGresult *res, void *arg)
{
    struct copier *cp = arg;
    cp->done++;
    cp->status = status;
    cp->rows = rows;
    snprintf(cp->sqlstate, sizeof(cp->sqlstate), "%s", db_result_sqlstate(res));
}

static void test_db_copy_100k_rows_lands(void **state)
{
    struct fx *fx = *state;
    struct copier cp = { .c = fx->c, .total = 100000 };
    struct db_copy_opts o = { .sql = "COPY db_test_copy (id, name) FROM STDIN",
                              .done = on_copy_done,
                              .drain = on_copy_drain,
                              .arg = &cp,
                              .high_water = 64 * 1024 };
    struct res r;
    struct db_stats st;

    r = query_wait(fx, fx->c, "DROP TABLE IF EXISTS db_test_copy", 0, NULL);
    assert_int_equal(r.status, 0);
    r = query_wait(fx, fx->c, "CREATE TABLE db_test_copy (id int PRIMARY KEY, name text NOT NULL)",
                   0, NULL);
    assert_int_equal(r.status, 0);

    assert_int_equal(db_copy_start(fx->c, &o), 0);
    assert_int_equal(db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1" }, NULL), ERR_BUSY);
    copier_produce(&cp);
    run_until(fx->loop, &cp.done, 1, 60.0);
    assert_int_equal(cp.done, 1);
    assert_int_equal(cp.status, 0);
    assert_int_equal(cp.rows, 100000);
    /* ~2.8 MB through a 64 KiB high-water mark: back-pressure was exercised. */
    assert_true(cp.agains > 0);
    assert_int_equal(cp.drains, cp.agains);

    r = query_wait(fx, fx->c,
                   "SELECT count(*), sum(id), count(DISTINCT name), "
                   "min(name) = 'contact ünï 1' FROM db_test_copy",
                   0, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "100000");
    assert_string_equal(r.val[1], "5000050000");
    assert_string_equal(r.val[2], "100000");
    assert_string_equal(r.val[3], "t");
    db_conn_stats(fx->c, &st);
    assert_int_equal(st.copy_rows, 100000);
    r = query_wait(fx, fx->c, "DROP TABLE db_test_copy", 0, NULL);
    assert_int_equal(r.status, 0);
}

static void test_db_copy_bad_row_fails_and_connection_stays(void **state)
{
    struct fx *fx = *state;
    struct copier cp = { .c = fx->c, .total = 5000, .bad_row = "not-a-number\tx\n" };
    struct db_copy_opts o = { .sql = "COPY db_test_copy_bad (id, name) FROM STDIN",
                              .done = on_copy_done,
                              .drain = on_copy_drain,
                              .arg = &cp };
    struct res r;

    r = query_wait(fx, fx->c,
                   "CREATE TEMP TABLE db_test_copy_bad (id int PRIMARY KEY, name text NOT NULL)", 0,
                   NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(db_copy_start(fx->c, &o), 0);
    copier_produce(&cp);
    run_until(fx->loop, &cp.done, 1, 30.0);
    assert_int_equal(cp.done, 1);
    assert_int_equal(cp.status, ERR_DB);
    assert_string_equal(cp.sqlstate, "22P02");
    assert_int_equal(cp.rows, 0);
    /* Nothing committed, and the same session carries on. */
    r = query_wait(fx, fx->c, "SELECT count(*) FROM db_test_copy_bad", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "0");
    assert_int_equal(fx->downs, 0);

    /* A statement that is not COPY FROM STDIN is refused the same way. */
    memset(&cp, 0, sizeof(cp));
    cp.c = fx->c;
    o.sql = "SELECT 1";
    assert_int_equal(db_copy_start(fx->c, &o), 0);
    assert_int_equal(db_copy_end(fx->c, NULL), 0);
    run_until(fx->loop, &cp.done, 1, 20.0);
    assert_int_equal(cp.status, ERR_INVAL);
    r = query_wait(fx, fx->c, "SELECT 7", 0, NULL);
    assert_string_equal(r.val[0], "7");
}

static void test_db_copy_timeout_resets_and_recovers(void **state)
{
    struct fx *fx = *state;
    struct fx lfx = { .loop = fx->loop };
    struct db_opts lo = test_opts(&lfx, "locker");
    struct db_conn *locker = NULL;
    struct copier cp = { .c = fx->c, .total = 10 };
    struct db_copy_opts o = { .sql = "COPY db_test_copy_lock (id, name) FROM STDIN",
                              .done = on_copy_done,
                              .arg = &cp,
                              .timeout_ms = 300 };
    struct res r;
    ev_tstamp t0;

    r = query_wait(fx, fx->c, "DROP TABLE IF EXISTS db_test_copy_lock", 0, NULL);
    r = query_wait(fx, fx->c, "CREATE TABLE db_test_copy_lock (id int, name text)", 0, NULL);
    assert_int_equal(r.status, 0);
    /* Another session holds the table, so the COPY cannot finish. */
    assert_int_equal(db_conn_create(fx->loop, testenv_pg_conninfo(), &lo, &locker), 0);
    wait_up(&lfx, locker, 20.0);
    r = query_wait(fx, locker, "BEGIN", 0, NULL);
    r = query_wait(fx, locker, "LOCK TABLE db_test_copy_lock IN ACCESS EXCLUSIVE MODE", 0, NULL);
    assert_int_equal(r.status, 0);

    ev_now_update(fx->loop);
    t0 = ev_now(fx->loop);
    assert_int_equal(db_copy_start(fx->c, &o), 0);
    copier_produce(&cp);
    run_until(fx->loop, &cp.done, 1, 10.0);
    assert_int_equal(cp.done, 1);
    assert_int_equal(cp.status, ERR_TIMEOUT);
    ev_now_update(fx->loop);
    assert_true(ev_now(fx->loop) - t0 >= 0.25);
    assert_true(ev_now(fx->loop) - t0 < 3.0);

    wait_up(fx, fx->c, 20.0);
    r = query_wait(fx, fx->c, "SELECT 'copy conn back'", 0, NULL);
    assert_string_equal(r.val[0], "copy conn back");
    /* The abandoned COPY was terminated, so releasing the lock commits nothing. */
    r = query_wait(fx, fx->c,
                   "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                   "'COPY db_test_copy' || '_lock%' AND pid <> pg_backend_pid()",
                   0, NULL);
    for (int i = 0; i < 50 && strcmp(r.val[0], "0") != 0; i++) {
        run_for(fx->loop, 0.1);
        r = query_wait(fx, fx->c,
                       "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                       "'COPY db_test_copy' || '_lock%' AND pid <> pg_backend_pid()",
                       0, NULL);
    }
    assert_string_equal(r.val[0], "0");
    r = query_wait(fx, locker, "ROLLBACK", 0, NULL);
    assert_int_equal(r.status, 0);
    r = query_wait(fx, fx->c, "SELECT count(*) FROM db_test_copy_lock", 0, NULL);
    assert_string_equal(r.val[0], "0");
    r = query_wait(fx, fx->c, "DROP TABLE db_test_copy_lock", 0, NULL);
    assert_int_equal(r.status, 0);
    db_conn_destroy(locker);
}

static void test_db_copy_connection_lost_mid_stream(void **state)
{
    struct fx *fx = *state;
    struct fx vfx = { .loop = fx->loop };
    struct db_opts vo = test_opts(&vfx, "victim");
    struct db_conn *victim = NULL;
    struct copier cp = { .total = 1000000 };
    struct db_copy_opts o = { .sql = "COPY db_test_copy_lost (id, name) FROM STDIN",
                              .done = on_copy_done,
                              .arg = &cp,
                              .high_water = 256 * 1024 };
    char conninfo[1024];
    char line[64];
    struct res r;

    snprintf(conninfo, sizeof(conninfo), "%s application_name=db_copy_victim",
             testenv_pg_conninfo());
    r = query_wait(fx, fx->c, "DROP TABLE IF EXISTS db_test_copy_lost", 0, NULL);
    r = query_wait(fx, fx->c, "CREATE TABLE db_test_copy_lost (id int, name text)", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(db_conn_create(fx->loop, conninfo, &vo, &victim), 0);
    wait_up(&vfx, victim, 20.0);
    cp.c = victim;
    assert_int_equal(db_copy_start(victim, &o), 0);
    /* Stream some rows but never end: the COPY is open when the session dies. */
    for (int i = 1; i <= 2000; i++) {
        int n = snprintf(line, sizeof(line), "%d\trow %d\n", i, i);
        assert_int_equal(db_copy_put(victim, line, (size_t)n), 0);
    }
    run_for(fx->loop, 0.2);
    assert_int_equal(cp.done, 0);
    r = query_wait(fx, fx->c,
                   "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE application_name = 'db_copy_victim'",
                   0, NULL);
    assert_string_equal(r.val[0], "1");
    run_until(fx->loop, &cp.done, 1, 10.0);
    assert_int_equal(cp.done, 1);
    assert_int_equal(cp.status, ERR_DISCONNECTED);
    assert_int_equal(vfx.downs, 1);
    assert_int_equal(db_copy_put(victim, "1\tx\n", 5), ERR_INVAL);

    /* It reconnects by itself and serves queries; nothing was committed. */
    wait_up(&vfx, victim, 20.0);
    r = query_wait(fx, victim, "SELECT count(*) FROM db_test_copy_lost", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "0");
    db_conn_destroy(victim);
    r = query_wait(fx, fx->c, "DROP TABLE db_test_copy_lost", 0, NULL);
    assert_int_equal(r.status, 0);
}

static void test_db_query_timeout_resets_and_recovers(void **state)
{
    struct fx *fx = *state;
    struct res slow = { .loop = fx->loop }, behind = { .loop = fx->loop }, r;
    ev_tstamp t0;
    int lingering = 1;

    ev_now_update(fx->loop);
    t0 = ev_now(fx->loop);
    assert_int_equal(
        db_query_send(fx->c,
                      &(struct db_query){ .sql = "SELECT pg_sleep(30) /* db-timeout-test */",
                                          .timeout_ms = 300,
                                          .cb = on_res,
                                          .arg = &slow },
                      NULL),
        0);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &behind },
                      NULL),
        0);
    run_until(fx->loop, &behind.calls, 1, 10.0);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(slow.status, ERR_TIMEOUT);
    assert_true(slow.at - t0 >= 0.25);
    assert_true(slow.at - t0 < 3.0);
    assert_int_equal(behind.status, ERR_DISCONNECTED);

    wait_up(fx, fx->c, 20.0);
    r = query_wait(fx, fx->c, "SELECT 'back'", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "back");

    /* The abandoned backend does not sleep on for 30 s holding its snapshot. */
    for (int i = 0; i < 100 && lingering; i++) {
        r = query_wait(fx, fx->c,
                       "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                       "'%db-timeout' || '-test%' AND pid <> pg_backend_pid()",
                       0, NULL);
        assert_int_equal(r.status, 0);
        lingering = strcmp(r.val[0], "0") != 0;
        if (lingering) {
            run_for(fx->loop, 0.1);
        }
    }
    assert_false(lingering);
}

static void test_db_cancel_means_no_callback(void **state)
{
    struct fx *fx = *state;
    struct res a = { 0 }, b = { 0 };
    uint64_t ida = 0, idb = 0;

    assert_int_equal(
        db_query_send(
            fx->c,
            &(struct db_query){ .sql = "SELECT pg_sleep(0.2), 'a'", .cb = on_res, .arg = &a },
            &ida),
        0);
    assert_int_equal(
        db_query_send(fx->c, &(struct db_query){ .sql = "SELECT 'b'", .cb = on_res, .arg = &b },
                      &idb),
        0);
    assert_int_equal(db_query_cancel(fx->c, ida), 0);
    /* b completes after a on the same pipeline: a's result has come and gone. */
    run_until(fx->loop, &b.calls, 1, 10.0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, 0);
    assert_string_equal(b.val[0], "b");
    run_for(fx->loop, 0.3);
    assert_int_equal(a.calls, 0);
    assert_int_equal(db_query_cancel(fx->c, ida), ERR_NOTFOUND);
    assert_int_equal(db_query_cancel(fx->c, idb), ERR_NOTFOUND);
}

static void test_db_destroy_cancels_in_flight(void **state)
{
    struct fx *fx = *state;
    struct res r[3] = { { 0 } };

    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            db_query_send(
                fx->c,
                &(struct db_query){ .sql = "SELECT pg_sleep(5)", .cb = on_res, .arg = &r[i] },
                NULL),
            0);
    }
    run_for(fx->loop, 0.05);
    db_conn_destroy(fx->c);
    fx->c = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, ERR_CANCELED);
    }
}

static void test_db_pool_spreads_load(void **state)
{
    struct fx *fx = *state;
    struct db_pool *p = NULL;
    struct db_opts o = test_opts(fx, "ipool");
    struct res r[30];
    int done = 0;

    assert_int_equal(db_pool_create(fx->loop, testenv_pg_conninfo(), 3, &o, &p), 0);
    for (int i = 0; i < 200 && db_pool_up_count(p) < 3; i++) {
        run_for(fx->loop, 0.05);
    }
    assert_int_equal(db_pool_up_count(p), 3);
    assert_true(db_pool_is_up(p));
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 30; i++) {
        assert_int_equal(
            db_pool_query_send(
                p, &(struct db_query){ .sql = "SELECT pg_sleep(0.01)", .cb = on_res, .arg = &r[i] },
                NULL),
            0);
    }
    for (int i = 0; i < 3; i++) {
        struct db_stats st;
        db_conn_stats(db_pool_conn(p, i), &st);
        assert_int_equal(st.inflight, 10);
    }
    for (int i = 0; i < 400 && done < 30; i++) {
        run_for(fx->loop, 0.05);
        done = 0;
        for (int k = 0; k < 30; k++) {
            done += r[k].calls == 1 && r[k].status == 0;
        }
    }
    assert_int_equal(done, 30);
    db_pool_destroy(p);
}

static void test_db_pool_pinned_transaction(void **state)
{
    struct fx *fx = *state;
    struct db_pool *p = NULL;
    struct db_conn *tx = NULL;
    struct db_opts o = test_opts(fx, "txpool");
    struct res begin = { 0 }, ins = { 0 }, commit = { 0 }, r = { 0 };
    struct db_stats before, after;
    const char *params[] = { "+14155550100" };

    r = query_wait(fx, fx->c, "DROP TABLE IF EXISTS db_test_tx", 0, NULL);
    r = query_wait(fx, fx->c, "CREATE TABLE db_test_tx (phone text)", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(db_pool_create(fx->loop, testenv_pg_conninfo(), 2, &o, &p), 0);
    for (int i = 0; i < 200 && db_pool_up_count(p) < 2; i++) {
        run_for(fx->loop, 0.05);
    }
    assert_int_equal(db_pool_up_count(p), 2);

    assert_int_equal(db_pool_pin(p, &tx), 0);
    assert_non_null(tx);
    db_conn_stats(tx, &before);
    /* BEGIN and INSERT go out back to back; order on one session is kept. */
    assert_int_equal(
        db_query_send(tx, &(struct db_query){ .sql = "BEGIN", .cb = on_res, .arg = &begin }, NULL),
        0);
    assert_int_equal(db_query_send(tx,
                                   &(struct db_query){ .sql = "INSERT INTO db_test_tx VALUES ($1)",
                                                       .nparams = 1,
                                                       .params = params,
                                                       .cb = on_res,
                                                       .arg = &ins },
                                   NULL),
                     0);
    run_until(fx->loop, &ins.calls, 1, 20.0);
    assert_int_equal(begin.status, 0);
    assert_int_equal(ins.status, 0);

    /* Pool traffic avoids the pinned session and cannot see the row yet. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        db_pool_query_send(
            p,
            &(struct db_query){ .sql = "SELECT count(*) FROM db_test_tx", .cb = on_res, .arg = &r },
            NULL),
        0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "0");
    db_conn_stats(tx, &after);
    assert_int_equal(after.queries, before.queries + 2);

    /* COMMIT, and the pin may go as soon as it is sent. */
    assert_int_equal(
        db_query_send(tx, &(struct db_query){ .sql = "COMMIT", .cb = on_res, .arg = &commit },
                      NULL),
        0);
    db_pool_unpin(p, tx);
    run_until(fx->loop, &commit.calls, 1, 20.0);
    assert_int_equal(commit.status, 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        db_pool_query_send(
            p,
            &(struct db_query){ .sql = "SELECT count(*) FROM db_test_tx", .cb = on_res, .arg = &r },
            NULL),
        0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_string_equal(r.val[0], "1");
    db_pool_destroy(p);
    r = query_wait(fx, fx->c, "DROP TABLE db_test_tx", 0, NULL);
    assert_int_equal(r.status, 0);
}

static void test_db_pinned_session_loss_is_not_papered_over(void **state)
{
    struct fx *fx = *state;
    struct res kill = { 0 }, r;

    assert_int_equal(db_prepare(fx->c, "triple", "SELECT $1::int * 3", 1, NULL), 0);
    assert_int_equal(db_conn_pin(fx->c), 0);
    assert_int_equal(db_conn_pin(fx->c), ERR_BUSY);
    r = query_wait(fx, fx->c, "BEGIN", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(
        db_query_send(fx->c,
                      &(struct db_query){ .sql = "SELECT pg_terminate_backend(pg_backend_pid())",
                                          .cb = on_res,
                                          .arg = &kill },
                      NULL),
        0);
    run_until(fx->loop, &fx->downs, 1, 20.0);
    wait_up(fx, fx->c, 20.0);
    /* Up again, but this holder's transaction is gone: refuse, don't autocommit. */
    r = query_wait(fx, fx->c, "SELECT 1", 0, NULL);
    assert_int_equal(r.status, ERR_DISCONNECTED);
    db_conn_unpin(fx->c);
    r = query_wait(fx, fx->c, "SELECT 1", 0, NULL);
    assert_int_equal(r.status, 0);
    /* Its statements were prepared on the new session all the same. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .stmt = "triple",
                                                       .nparams = 1,
                                                       .params = (const char *[]){ "5" },
                                                       .cb = on_res,
                                                       .arg = &r },
                                   NULL),
                     0);
    run_until(fx->loop, &r.calls, 1, 20.0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "15");
}

static void test_db_restart_pg_mid_query(void **state)
{
    struct fx *fx = *state;
    struct res slow = { 0 }, r;
    struct db_stats st;

    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT pg_sleep(60)",
                                                       .timeout_ms = DB_TIMEOUT_NONE,
                                                       .cb = on_res,
                                                       .arg = &slow },
                                   NULL),
                     0);
    run_for(fx->loop, 0.3);
    assert_int_equal(slow.calls, 0);

    assert_int_equal(testenv_services("restart-pg"), 0);
    run_until(fx->loop, &slow.calls, 1, 15.0);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(slow.status, ERR_DISCONNECTED);
    assert_string_equal(slow.sqlstate, "57P01"); /* the server said why: admin shutdown */
    assert_true(fx->downs >= 1);
    wait_up(fx, fx->c, 30.0);
    r = query_wait(fx, fx->c, "SELECT 'after restart'", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "after restart");
    db_conn_stats(fx->c, &st);
    assert_true(st.reconnects >= 1);
}

static void test_db_stopped_fails_fast_then_recovers(void **state)
{
    struct fx *fx = *state;
    struct res r = { .loop = fx->loop };
    ev_tstamp t0;

    assert_int_equal(testenv_services("stop-pg"), 0);
    run_until(fx->loop, &fx->downs, 1, 15.0);
    assert_int_equal(fx->downs, 1);
    assert_false(db_conn_is_up(fx->c));

    ev_now_update(fx->loop);
    t0 = ev_now(fx->loop);
    assert_int_equal(db_query_send(fx->c,
                                   &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &r },
                                   NULL),
                     0);
    assert_int_equal(r.calls, 0);
    run_until(fx->loop, &r.calls, 1, 5.0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, ERR_DISCONNECTED);
    assert_true(r.at - t0 < 0.5);

    /* Still down a while later: it keeps trying without being asked. */
    run_for(fx->loop, 1.0);
    assert_false(db_conn_is_up(fx->c));
    assert_int_equal(testenv_services("start-pg"), 0);
    wait_up(fx, fx->c, 30.0);
    assert_int_equal(fx->ups, 2);
    r = query_wait(fx, fx->c, "SELECT 'recovered'", 0, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.val[0], "recovered");
}

/*
 * Queries sent after the server went away but before the loop has read the
 * close: libpq finds the socket dead while sending and drops it (PQsocket
 * becomes -1). The adapter must take that as a lost session, not hand -1 to
 * libev (which aborts the process: found by the fault suite's PostgreSQL
 * restart under a running campaign).
 */
static void test_db_send_after_server_stop_is_a_lost_session(void **state)
{
    struct fx *fx = *state;
    struct res r[20];

    memset(r, 0, sizeof(r));
    assert_int_equal(testenv_services("stop-pg"), 0);
    for (int i = 0; i < 20; i++) {
        int rc = db_query_send(
            fx->c, &(struct db_query){ .sql = "SELECT 1", .cb = on_res, .arg = &r[i] }, NULL);
        assert_int_equal(rc, 0);
    }
    run_until(fx->loop, &r[19].calls, 1, 15.0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, ERR_DISCONNECTED);
    }
    assert_false(db_conn_is_up(fx->c));
    assert_int_equal(testenv_services("start-pg"), 0);
    wait_up(fx, fx->c, 30.0);
    struct res ok = query_wait(fx, fx->c, "SELECT 'back'", 0, NULL);
    assert_int_equal(ok.status, 0);
    assert_string_equal(ok.val[0], "back");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_db_connect_and_simple_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_params_null_and_unicode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_sql_error_gives_err_db_with_sqlstate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_prepared_statement_survives_reconnect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_thousand_queries_in_flight_complete_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_copy_100k_rows_lands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_copy_bad_row_fails_and_connection_stays, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_copy_timeout_resets_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_copy_connection_lost_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_query_timeout_resets_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_cancel_means_no_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_destroy_cancels_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_pool_spreads_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_pool_pinned_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_pinned_session_loss_is_not_papered_over, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_db_restart_pg_mid_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_stopped_fails_fast_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_send_after_server_stop_is_a_lost_session, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("integration/db", tests, group_setup, group_teardown);
}
