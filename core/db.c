/* SPDX-License-Identifier: MIT */
/*
 * db: one asynchronous PostgreSQL session on a libev loop (see core/db.h for
 * the contract; core/db_copy.c holds COPY, core/db_pool.c the pool).
 *
 * DESIGN
 *
 * A db_conn is a small state machine, DOWN -> CONNECTING -> UP -> DOWN ...,
 * driven by four watchers embedded in it:
 *
 *   io      the libpq socket. CONNECTING: the direction PQconnectPoll asks
 *           for. UP: always readable, plus writable while libpq holds unsent
 *           output (PQflush returned 1) or COPY data waits.
 *   retry   DOWN: the back-off delay before the next attempt. CONNECTING:
 *           the connect timeout (PQconnectPoll has none of its own).
 *   qtimer  the earliest query deadline; one timer for all queries, re-armed
 *           lazily (a completed query's stale deadline costs one scan).
 *   defer   a zero-delay timer that runs what must not run inside the caller's
 *           db_* call: ERR_DISCONNECTED for queries issued while down, and the
 *           teardown of a session whose send failed.
 *
 * An UP session is in pipeline mode. db_query_send writes the query and a
 * Sync straight into libpq (PQsendQueryParams + PQpipelineSync, then PQflush)
 * and appends an entry to the in-flight queue. libpq returns, per query, its
 * result, a NULL, then PGRES_PIPELINE_SYNC; the entry completes on the Sync,
 * so entries and Syncs pair one to one and results can never be attributed
 * to the wrong query. The adapter's own statements (Parse for registered
 * statements, the session's start time, terminating an abandoned backend)
 * are internal entries in the same queue; they run no user code.
 *
 * Loss: when libpq reports CONNECTION_BAD (or a write fails, or a query
 * times out) the session is dropped: the socket watcher is stopped before
 * PQfinish, the state goes DOWN (so any query issued from a callback from
 * now on takes the fail-fast path), the reconnect is scheduled, the state
 * callback runs, and then every in-flight entry fails in order. A timeout
 * reconnects at once; anything else waits for the jittered back-off.
 *
 * Re-entrancy: user callbacks may call anything, including db_conn_destroy.
 * Each watcher callback counts itself in c->busy; destroy marks the conn
 * closing, stops everything and fails the outstanding callbacks with
 * ERR_CANCELED at once, but the free waits until the outermost handler
 * unwinds. Code that ran a user callback checks c->closing before it touches
 * the conn again, and an entry is unlinked before its callback runs.
 *
 * Costs: a query is one malloc (the entry) plus libpq's own buffering;
 * completion is O(1); cancel is O(queries in flight).
 */
#include "core/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/counter.h"
#include "core/db_int.h"
#include "core/err.h"
#include "core/log.h"

#define DEFAULT_BACKOFF_MIN_MS     100
#define DEFAULT_BACKOFF_MAX_MS     10000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_QUERY_TIMEOUT_MS   30000
#define MAX_PARAMS                 65535
#define CONNECT_LOG_INTERVAL_US    (10 * CLOCK_US_PER_SEC)

/* clang-format off */
struct counter db__ctr_queries = COUNTER_INIT(COUNTER_KIND_COUNTER, "db_queries_total",
    "Queries accepted by db_query_send");
struct counter db__ctr_errors = COUNTER_INIT(COUNTER_KIND_COUNTER, "db_query_errors_total",
    "Queries completed with ERR_DB, ERR_DISCONNECTED or ERR_TIMEOUT");
struct counter db__ctr_timeouts = COUNTER_INIT(COUNTER_KIND_COUNTER, "db_query_timeouts_total",
    "Queries that missed their deadline (each resets its session)");
struct counter db__ctr_reconnects = COUNTER_INIT(COUNTER_KIND_COUNTER, "db_reconnects_total",
    "PostgreSQL sessions established after a connection's first");
struct counter db__ctr_inflight = COUNTER_INIT(COUNTER_KIND_GAUGE, "db_queries_inflight",
    "Queries sent to PostgreSQL and not yet answered");
struct counter db__ctr_up = COUNTER_INIT(COUNTER_KIND_GAUGE, "db_connections_up",
    "PostgreSQL connections with an established session");
/* clang-format on */

static const char SESSION_INFO_SQL[] =
    "SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()";
static const char TERMINATE_SQL[] = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE pid = $1::int AND backend_start::text = $2";

/* Query handles: unique per thread (a conn and its pool live on one thread). */
static _Thread_local uint64_t last_query_id;

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_retry(struct ev_loop *loop, ev_timer *w, int revents);
static void on_qtimer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_defer(struct ev_loop *loop, ev_timer *w, int revents);
static void connect_start(struct db_conn *c);

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

int64_t db_backoff_delay_ms(int64_t min_ms, int64_t max_ms, unsigned attempt, uint64_t rnd)
{
    int64_t d, lo;

    if (min_ms < 1) {
        min_ms = 1;
    }
    if (max_ms < min_ms) {
        max_ms = min_ms;
    }
    d = min_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++) {
        d = d > max_ms / 2 ? max_ms : d * 2;
    }
    lo = d / 2;
    d = lo + (int64_t)(rnd % (uint64_t)(d - lo + 1));
    return d < min_ms ? min_ms : d;
}

/* xorshift64*: jitter only, nothing secret depends on it. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

static uint64_t query_id_next(void)
{
    if (++last_query_id == 0) {
        ++last_query_id;
    }
    return last_query_id;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}

const char *db__oneline(const char *msg, char *buf, size_t size)
{
    size_t n = 0;

    if (size == 0) {
        return "";
    }
    for (const char *p = msg != NULL ? msg : ""; *p != '\0' && n + 1 < size; p++) {
        char ch = *p;
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            ch = ' ';
        } else if (ch == '"' || ch == '\\') {
            ch = '\'';
        }
        if (ch == ' ' && (n == 0 || buf[n - 1] == ' ')) {
            continue;
        }
        buf[n++] = ch;
    }
    while (n > 0 && buf[n - 1] == ' ') {
        n--;
    }
    buf[n] = '\0';
    return buf;
}

const char *db_result_sqlstate(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

void db__queue_push(struct db_queue *q, struct db_entry *e)
{
    e->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = e;
    } else {
        q->head = e;
    }
    q->tail = e;
    q->n++;
}

struct db_entry *db__queue_pop(struct db_queue *q)
{
    struct db_entry *e = q->head;
    if (e != NULL) {
        q->head = e->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->n--;
        e->next = NULL;
    }
    return e;
}

/* Pops the head of the in-flight queue, keeping the gauges right. */
static struct db_entry *inflight_pop(struct db_conn *c)
{
    struct db_entry *e = db__queue_pop(&c->inflight);
    if (e != NULL && e->kind == DB_ENTRY_USER) {
        c->user_inflight--;
        counter_dec(&db__ctr_inflight);
    }
    return e;
}

int db__can_send(const struct db_conn *c)
{
    return c->state == DB_UP && !c->lost_pending && !c->pin_broken && !c->closing;
}

int64_t db__conn_load(const struct db_conn *c)
{
    return c->user_inflight + c->failq.n;
}

/* ------------------------------------------------------------------------ */
/* Watchers                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Points io at fd for events. force re-registers even when nothing changed:
 * during PQconnectPoll libpq may close its socket and open another that gets
 * the same number, which the loop's backend must be told about.
 */
static void io_set(struct db_conn *c, int fd, int events, bool force)
{
    if (!force && ev_is_active(&c->io) && c->io_fd == fd && c->io_events == events) {
        return;
    }
    ev_io_stop(c->loop, &c->io);
    ev_io_set(&c->io, fd, events);
    ev_io_start(c->loop, &c->io);
    c->io_fd = fd;
    c->io_events = events;
}

static void io_stop(struct db_conn *c)
{
    ev_io_stop(c->loop, &c->io);
    c->io_fd = -1;
    c->io_events = 0;
}

void db__io_update(struct db_conn *c)
{
    const struct db_copy *cp = &c->copy;
    bool copy_out;

    if (c->state != DB_UP || c->pg == NULL || c->closing) {
        return;
    }
    if (PQsocket(c->pg) < 0) {
        /* libpq found the socket dead while sending and dropped it. */
        io_stop(c);
        db__defer_loss(c);
        return;
    }
    copy_out = cp->phase == DB_COPY_ACTIVE && (cp->len > cp->off || cp->end_req);
    io_set(c, PQsocket(c->pg), EV_READ | (c->want_write || copy_out ? EV_WRITE : 0), false);
}

static void retry_arm(struct db_conn *c, int64_t delay_ms)
{
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_set(&c->retry, (ev_tstamp)delay_ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->retry);
}

void db__defer_arm(struct db_conn *c)
{
    if (!ev_is_active(&c->defer) && !c->closing) {
        ev_timer_set(&c->defer, 0., 0.);
        ev_timer_start(c->loop, &c->defer);
    }
}

void db__defer_loss(struct db_conn *c)
{
    c->lost_pending = true;
    db__defer_arm(c);
}

void db__deadline_arm(struct db_conn *c, ev_tstamp at)
{
    ev_tstamp delay;

    if (ev_is_active(&c->qtimer) && c->qtimer_at <= at) {
        return;
    }
    ev_timer_stop(c->loop, &c->qtimer);
    delay = at - ev_now(c->loop);
    ev_timer_set(&c->qtimer, delay > 0. ? delay : 0., 0.);
    ev_timer_start(c->loop, &c->qtimer);
    c->qtimer_at = at;
}

/* Frees c; every watcher is stopped and nothing is outstanding. */
static void conn_free(struct db_conn *c)
{
    struct db_stmt *s = c->stmts;
    while (s != NULL) {
        struct db_stmt *next = s->next;
        free(s->name);
        free(s->sql);
        free(s->types);
        free(s);
        s = next;
    }
    free(c->conninfo);
    free(c->name);
    free(c);
}

/* Leaves one of our handlers; frees c when it was destroyed meanwhile. */
static void busy_leave(struct db_conn *c)
{
    if (--c->busy == 0 && c->closing) {
        conn_free(c);
    }
}

/* ------------------------------------------------------------------------ */
/* Completion                                                                */
/* ------------------------------------------------------------------------ */

/* Completes e (already unlinked) with status and frees it. May run user code. */
static void entry_deliver(struct db_conn *c, struct db_entry *e, int status)
{
    if (e->kind == DB_ENTRY_USER) {
        if (status != 0 && status != ERR_CANCELED) {
            c->stats.errors++;
            counter_inc(&db__ctr_errors);
        }
        if (status == ERR_TIMEOUT) {
            c->stats.timeouts++;
            counter_inc(&db__ctr_timeouts);
        }
        if (e->cb != NULL) {
            e->cb(status, status == ERR_CANCELED ? NULL : e->res, e->arg);
        }
    } else if (e->icb != NULL && status != ERR_CANCELED) {
        e->icb(c, e, status, e->res);
    }
    PQclear(e->res);
    free(e);
}

static int result_status(const PGresult *r)
{
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return 0;
    default:
        return ERR_DB;
    }
}

/* Fails every queued fail-fast entry present now (later ones wait a turn). */
static void failq_deliver(struct db_conn *c)
{
    struct db_entry *last = c->failq.tail;
    struct db_entry *e;

    while (!c->closing && (e = db__queue_pop(&c->failq)) != NULL) {
        bool stop = e == last;
        entry_deliver(c, e, ERR_DISCONNECTED);
        if (stop) {
            break;
        }
    }
    if (!c->closing && c->failq.head != NULL) {
        db__defer_arm(c);
    }
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                                */
/* ------------------------------------------------------------------------ */

static void on_notice(void *arg, const char *message)
{
    struct db_conn *c = arg;
    char buf[256];
    LOG_DEBUG(DB, "event=notice name=%s msg=\"%s\"", c->name,
              db__oneline(message, buf, sizeof(buf)));
}

/* An attempt failed (msg may point into c->pg): log, back off, retry. */
static void connect_failed(struct db_conn *c, const char *msg)
{
    int64_t delay;
    uint64_t n;

    db__oneline(msg, c->errbuf, sizeof(c->errbuf));
    io_stop(c);
    PQfinish(c->pg);
    c->pg = NULL;
    c->state = DB_DOWN;
    delay = db_backoff_delay_ms(c->opts.backoff_min_ms, c->opts.backoff_max_ms, c->attempt,
                                rng_next(&c->rng));
    if (c->attempt < 64) {
        c->attempt++;
    }
    n = log_ratelimit_pass(&c->rl, clock_mono_us());
    if (n > 0) {
        LOG_WARN(DB,
                 "event=connect_failed name=%s attempt=%u retry_ms=%lld suppressed=%llu "
                 "err=\"%s\"",
                 c->name, c->attempt, (long long)delay, (unsigned long long)(n - 1), c->errbuf);
    }
    retry_arm(c, delay);
}

static void connect_start(struct db_conn *c)
{
    int fd;

    c->pg = PQconnectStart(c->conninfo);
    if (c->pg == NULL) {
        connect_failed(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    /* Non-blocking from the start, so PQfinish never waits on a full socket. */
    PQsetnonblocking(c->pg, 1);
    PQsetNoticeProcessor(c->pg, on_notice, c);
    fd = PQsocket(c->pg);
    if (fd < 0) {
        connect_failed(c, "no socket");
        return;
    }
    c->state = DB_CONNECTING;
    LOG_DEBUG(DB, "event=connecting name=%s attempt=%u", c->name, c->attempt);
    /* libpq: before the first PQconnectPoll, behave as if it asked for WRITING. */
    io_set(c, fd, EV_WRITE, true);
    retry_arm(c, c->opts.connect_timeout_ms);
}

static void on_session_info(struct db_conn *c, const struct db_entry *e, int status,
                            const PGresult *res)
{
    (void)e;
    if (status == 0 && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        snprintf(c->backend_start, sizeof(c->backend_start), "%s", PQgetvalue(res, 0, 0));
    }
}

static void on_terminate(struct db_conn *c, const struct db_entry *e, int status,
                         const PGresult *res)
{
    char buf[256];
    (void)e;
    if (status == 0) {
        LOG_INFO(DB, "event=abandoned_backend_terminated name=%s found=%d", c->name,
                 PQntuples(res));
    } else if (res != NULL) {
        LOG_WARN(DB, "event=abandoned_backend_terminate_failed name=%s sqlstate=%s err=\"%s\"",
                 c->name, db_result_sqlstate(res),
                 db__oneline(PQresultErrorMessage(res), buf, sizeof(buf)));
    }
}

static void on_prepared(struct db_conn *c, const struct db_entry *e, int status,
                        const PGresult *res)
{
    const struct db_stmt *s = e->aux;
    char buf[256];
    if (status == ERR_DB) {
        LOG_ERR(DB, "event=prepare_failed name=%s stmt=%s sqlstate=%s err=\"%s\"", c->name, s->name,
                db_result_sqlstate(res), db__oneline(PQresultErrorMessage(res), buf, sizeof(buf)));
    }
}

/*
 * Writes one query and its Sync and queues e (even on failure, so that it
 * fails in order with the rest when the session is torn down). stmt and sql:
 * PQsendPrepare (stmt is the name); stmt alone: PQsendQueryPrepared; sql
 * alone: PQsendQueryParams.
 */
static void send_entry(struct db_conn *c, struct db_entry *e, const char *sql, const char *stmt,
                       int nparams, const char *const *params, const Oid *types)
{
    int ok, rc;

    if (e->kind == DB_ENTRY_USER) {
        c->user_inflight++;
        counter_inc(&db__ctr_inflight);
    }
    db__queue_push(&c->inflight, e);
    if (stmt != NULL && sql != NULL) {
        ok = PQsendPrepare(c->pg, stmt, sql, nparams, types);
    } else if (stmt != NULL) {
        ok = PQsendQueryPrepared(c->pg, stmt, nparams, params, NULL, NULL, 0);
    } else {
        ok = PQsendQueryParams(c->pg, sql, nparams, types, params, NULL, NULL, 0);
    }
    if (ok) {
        ok = PQpipelineSync(c->pg);
    }
    rc = ok ? PQflush(c->pg) : -1;
    if (rc < 0) {
        db__defer_loss(c);
        return;
    }
    c->want_write = rc == 1;
}

static struct db_entry *internal_entry(db_internal_cb *icb, const void *aux)
{
    struct db_entry *e = calloc(1, sizeof(*e));
    if (e != NULL) {
        e->kind = DB_ENTRY_INTERNAL;
        e->icb = icb;
        e->aux = aux;
    }
    return e;
}

void db__send_pending_prepares(struct db_conn *c)
{
    /* Session-level, so a broken pin (which refuses user queries) does not matter. */
    for (struct db_stmt *s = c->stmts;
         s != NULL && c->state == DB_UP && !c->lost_pending && !c->closing; s = s->next) {
        struct db_entry *e;
        if (s->sent) {
            continue;
        }
        e = internal_entry(on_prepared, s);
        if (e == NULL) {
            LOG_ERR(DB, "event=prepare_failed name=%s stmt=%s err=\"out of memory\"", c->name,
                    s->name);
            continue;
        }
        s->sent = true;
        send_entry(c, e, s->sql, s->name, s->nparams, NULL, s->types);
    }
}

/* Queues the abandoned backend's termination (see core/db.h, "Timeouts"). */
static void send_terminate(struct db_conn *c)
{
    char pid[16];
    const char *params[2] = { pid, c->orphan_start };
    struct db_entry *e = internal_entry(on_terminate, NULL);

    if (e != NULL) {
        snprintf(pid, sizeof(pid), "%d", c->orphan_pid);
        send_entry(c, e, TERMINATE_SQL, NULL, 2, params, NULL);
    }
    c->orphan_pid = 0;
    c->orphan_start[0] = '\0';
}

/* PQconnectPoll said OK: enter pipeline mode, restore the session, report up. */
static void session_start(struct db_conn *c)
{
    struct db_entry *e;

    ev_timer_stop(c->loop, &c->retry);
    if (!PQenterPipelineMode(c->pg)) {
        connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = DB_UP;
    c->attempt = 0;
    c->want_write = false;
    c->backend_pid = PQbackendPID(c->pg);
    c->backend_start[0] = '\0';
    if (c->ever_up) {
        c->stats.reconnects++;
        counter_inc(&db__ctr_reconnects);
    }
    c->ever_up = true;
    counter_inc(&db__ctr_up);
    LOG_INFO(DB, "event=connected name=%s host=%s port=%s backend_pid=%d server_version=%d",
             c->name, PQhost(c->pg), PQport(c->pg), c->backend_pid, PQserverVersion(c->pg));
    io_set(c, PQsocket(c->pg), EV_READ, true);

    e = internal_entry(on_session_info, NULL);
    if (e != NULL) {
        send_entry(c, e, SESSION_INFO_SQL, NULL, 0, NULL, NULL);
    }
    if (c->orphan_pid != 0) {
        send_terminate(c);
    }
    db__send_pending_prepares(c);
    db__io_update(c);
    if (c->opts.state_cb != NULL) {
        c->opts.state_cb(1, c->opts.state_arg);
    }
}

static void connect_poll(struct db_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        io_set(c, PQsocket(c->pg), EV_READ, true);
        break;
    case PGRES_POLLING_WRITING:
        io_set(c, PQsocket(c->pg), EV_WRITE, true);
        break;
    case PGRES_POLLING_OK:
        session_start(c);
        break;
    default:
        connect_failed(c, PQerrorMessage(c->pg));
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Session loss                                                              */
/* ------------------------------------------------------------------------ */

void db__session_lost(struct db_conn *c, const char *reason)
{
    struct db_entry *e;
    bool timeout = c->reset_now;

    c->lost_pending = false;
    if (c->state != DB_UP || c->closing) {
        return;
    }
    db__oneline(PQerrorMessage(c->pg), c->errbuf, sizeof(c->errbuf));
    if (timeout && c->backend_pid != 0 && c->backend_start[0] != '\0') {
        c->orphan_pid = c->backend_pid;
        memcpy(c->orphan_start, c->backend_start, sizeof(c->orphan_start));
    }
    io_stop(c);
    ev_timer_stop(c->loop, &c->qtimer);
    PQfinish(c->pg);
    c->pg = NULL;
    c->state = DB_DOWN;
    c->want_write = false;
    c->reset_now = false;
    c->backend_pid = 0;
    c->backend_start[0] = '\0';
    for (struct db_stmt *s = c->stmts; s != NULL; s = s->next) {
        s->sent = false;
    }
    if (c->pinned) {
        c->pin_broken = true;
    }
    counter_dec(&db__ctr_up);
    LOG_WARN(DB, "event=disconnected name=%s reason=\"%s\" inflight=%lld err=\"%s\"", c->name,
             reason, (long long)c->user_inflight, c->errbuf);
    if (c->copy.phase != DB_COPY_NONE && c->copy.phase != DB_COPY_FAILED) {
        /* Queries issued from the callbacks below must see the COPY as over. */
        c->copy.phase = DB_COPY_FAILED;
    }
    retry_arm(c, timeout ? 0
                         : db_backoff_delay_ms(c->opts.backoff_min_ms, c->opts.backoff_max_ms, 0,
                                               rng_next(&c->rng)));

    if (c->opts.state_cb != NULL) {
        c->opts.state_cb(0, c->opts.state_arg);
        if (c->closing) {
            return;
        }
    }
    while ((e = inflight_pop(c)) != NULL) {
        entry_deliver(c, e, e->timed_out ? ERR_TIMEOUT : ERR_DISCONNECTED);
        if (c->closing) {
            return;
        }
    }
    if (c->copy.phase == DB_COPY_FAILED) {
        PGresult *res = c->copy.res;
        int status = c->copy.fail_status != 0 ? c->copy.fail_status : ERR_DISCONNECTED;
        c->copy.res = NULL;
        db__copy_finish(c, status, 0, res, true);
    }
}

/* ------------------------------------------------------------------------ */
/* Reading results                                                           */
/* ------------------------------------------------------------------------ */

static void read_results(struct db_conn *c)
{
    for (;;) {
        struct db_entry *e;
        PGresult *r;

        if (c->closing || c->state != DB_UP) {
            return;
        }
        if (c->lost_pending) {
            db__session_lost(c, "send failed");
            return;
        }
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            db__session_lost(c, "connection lost");
            return;
        }
        if (c->copy.phase >= DB_COPY_STARTING && c->copy.phase <= DB_COPY_ENDING) {
            db__copy_read(c);
            return;
        }
        e = c->inflight.head;
        if (e == NULL || PQisBusy(c->pg)) {
            return;
        }
        r = PQgetResult(c->pg);
        if (r == NULL) {
            if (e->ended) {
                /* libpq is idle although we wait for a Sync: out of step. */
                db__session_lost(c, "pipeline out of step");
                return;
            }
            e->ended = true;
            continue;
        }
        switch (PQresultStatus(r)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(r);
            e = inflight_pop(c);
            entry_deliver(c, e, e->res != NULL ? result_status(e->res) : ERR_DB);
            if (!c->closing && c->inflight.head == NULL) {
                ev_timer_stop(c->loop, &c->qtimer);
                db__copy_maybe_begin(c);
                if (c->copy.deadline > 0.) {
                    db__deadline_arm(c, c->copy.deadline);
                }
            }
            break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            /* A COPY sent as a query would stall the pipeline: reset instead. */
            PQclear(r);
            LOG_ERR(DB, "event=copy_in_pipeline name=%s msg=\"use db_copy_start for COPY\"",
                    c->name);
            db__session_lost(c, "COPY sent as a query");
            return;
        default:
            PQclear(e->res);
            e->res = r;
            e->ended = false;
            break;
        }
    }
}

static void session_io(struct db_conn *c, int revents)
{
    int rc;

    if ((revents & EV_READ) && !PQconsumeInput(c->pg)) {
        /* Parse what did arrive (the server's parting error), then drop. */
        read_results(c);
        if (!c->closing && c->state == DB_UP) {
            db__session_lost(c, "read failed");
        }
        return;
    }
    if (revents & EV_READ) {
        PGnotify *n;
        /* LISTEN is not supported; drop notifications so they cannot pile up. */
        while ((n = PQnotifies(c->pg)) != NULL) {
            LOG_DEBUG(DB, "event=notify_dropped name=%s", c->name);
            PQfreemem(n);
        }
    }
    if (c->want_write || (revents & EV_WRITE)) {
        rc = PQflush(c->pg);
        if (rc < 0) {
            db__session_lost(c, "write failed");
            return;
        }
        c->want_write = rc == 1;
    }
    read_results(c);
    if (c->closing || c->state != DB_UP) {
        return;
    }
    if (c->copy.phase == DB_COPY_ACTIVE && !c->want_write) {
        rc = db__copy_pump(c);
        if (rc < 0) {
            db__session_lost(c, "write failed");
            return;
        }
        if (rc > 0) {
            read_results(c);
            if (c->closing || c->state != DB_UP) {
                return;
            }
        }
        db__copy_drained(c);
        if (c->closing || c->state != DB_UP) {
            return;
        }
    }
    db__io_update(c);
}

/* ------------------------------------------------------------------------ */
/* Watcher callbacks                                                         */
/* ------------------------------------------------------------------------ */

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct db_conn *c = DB_CONTAINER_OF(w, struct db_conn, io);

    (void)loop;
    c->busy++;
    if (c->state == DB_CONNECTING) {
        connect_poll(c);
    } else if (c->state == DB_UP) {
        session_io(c, revents);
    }
    busy_leave(c);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct db_conn *c = DB_CONTAINER_OF(w, struct db_conn, retry);

    (void)loop;
    (void)revents;
    c->busy++;
    if (c->state == DB_DOWN) {
        connect_start(c);
    } else if (c->state == DB_CONNECTING) {
        connect_failed(c, "connect timeout");
    }
    busy_leave(c);
}

static void on_qtimer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct db_conn *c = DB_CONTAINER_OF(w, struct db_conn, qtimer);
    ev_tstamp now = ev_now(loop), next = 0.;
    int expired = 0;

    (void)revents;
    c->busy++;
    for (struct db_entry *e = c->inflight.head; e != NULL; e = e->next) {
        if (e->deadline <= 0.) {
            continue;
        }
        if (e->deadline <= now) {
            e->timed_out = true;
            expired++;
        } else if (next == 0. || e->deadline < next) {
            next = e->deadline;
        }
    }
    if (c->copy.deadline > 0. && c->copy.phase >= DB_COPY_WAIT && c->copy.phase <= DB_COPY_ENDING) {
        if (c->copy.deadline <= now) {
            c->copy.fail_status = ERR_TIMEOUT;
            expired++;
        } else if (next == 0. || c->copy.deadline < next) {
            next = c->copy.deadline;
        }
    }
    if (expired > 0 && c->state == DB_UP) {
        LOG_WARN(DB, "event=query_timeout name=%s expired=%d inflight=%lld action=reset", c->name,
                 expired, (long long)c->user_inflight);
        c->reset_now = true;
        db__session_lost(c, "query timeout");
    } else if (next > 0.) {
        db__deadline_arm(c, next);
    }
    busy_leave(c);
}

static void on_defer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct db_conn *c = DB_CONTAINER_OF(w, struct db_conn, defer);

    (void)loop;
    (void)revents;
    c->busy++;
    if (c->lost_pending) {
        db__session_lost(c, "send failed");
    }
    if (!c->closing) {
        failq_deliver(c);
    }
    if (!c->closing && c->copy.phase == DB_COPY_FAILED) {
        db__copy_finish(c, ERR_DISCONNECTED, 0, NULL, true);
    }
    busy_leave(c);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

static void counters_register(void)
{
    counter_register(&db__ctr_queries);
    counter_register(&db__ctr_errors);
    counter_register(&db__ctr_timeouts);
    counter_register(&db__ctr_reconnects);
    counter_register(&db__ctr_inflight);
    counter_register(&db__ctr_up);
}

static int conninfo_check(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

    if (opts == NULL) {
        char buf[256];
        /* libpq's message names the bad keyword, never a value. */
        LOG_ERR(DB, "event=bad_conninfo err=\"%s\"",
                db__oneline(err != NULL ? err : "out of memory", buf, sizeof(buf)));
        PQfreemem(err);
        return err != NULL ? ERR_INVAL : ERR_NOMEM;
    }
    PQconninfoFree(opts);
    return 0;
}

int db_conn_create(struct ev_loop *loop, const char *conninfo, const struct db_opts *opts,
                   struct db_conn **out)
{
    struct db_conn *c;
    int rc;

    if (loop == NULL || conninfo == NULL || out == NULL) {
        return ERR_INVAL;
    }
    *out = NULL;
    rc = conninfo_check(conninfo);
    if (rc != 0) {
        return rc;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    if (opts != NULL) {
        c->opts = *opts;
    }
    c->conninfo = dup_str(conninfo);
    c->name = dup_str(c->opts.name != NULL ? c->opts.name : "db");
    if (c->conninfo == NULL || c->name == NULL) {
        conn_free(c);
        return ERR_NOMEM;
    }
    c->opts.name = c->name;
    if (c->opts.backoff_min_ms <= 0) {
        c->opts.backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
    }
    if (c->opts.backoff_max_ms <= 0) {
        c->opts.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    }
    if (c->opts.backoff_max_ms < c->opts.backoff_min_ms) {
        c->opts.backoff_max_ms = c->opts.backoff_min_ms;
    }
    if (c->opts.connect_timeout_ms <= 0) {
        c->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    }
    if (c->opts.query_timeout_ms == 0) {
        c->opts.query_timeout_ms = DEFAULT_QUERY_TIMEOUT_MS;
    }
    c->loop = loop;
    c->state = DB_DOWN;
    c->io_fd = -1;
    c->rl.interval_us = CONNECT_LOG_INTERVAL_US;
    c->rng = (uint64_t)clock_mono_us() ^ (uint64_t)(uintptr_t)c ^ UINT64_C(0x9E3779B97F4A7C15);
    if (c->rng == 0) {
        c->rng = 1;
    }
    ev_io_init(&c->io, on_io, 0, 0);
    ev_timer_init(&c->retry, on_retry, 0., 0.);
    ev_timer_init(&c->qtimer, on_qtimer, 0., 0.);
    ev_timer_init(&c->defer, on_defer, 0., 0.);
    counters_register();
    connect_start(c);
    *out = c;
    return 0;
}

void db_conn_destroy(struct db_conn *c)
{
    struct db_entry *e;

    if (c == NULL || c->closing) {
        return;
    }
    c->closing = true;
    io_stop(c);
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->qtimer);
    ev_timer_stop(c->loop, &c->defer);
    if (c->state == DB_UP) {
        counter_dec(&db__ctr_up);
    }
    PQfinish(c->pg);
    c->pg = NULL;
    c->state = DB_DOWN;
    LOG_DEBUG(DB, "event=destroy name=%s inflight=%lld", c->name, (long long)c->user_inflight);

    c->busy++;
    while ((e = inflight_pop(c)) != NULL) {
        entry_deliver(c, e, ERR_CANCELED);
    }
    while ((e = db__queue_pop(&c->failq)) != NULL) {
        entry_deliver(c, e, ERR_CANCELED);
    }
    if (c->copy.phase != DB_COPY_NONE) {
        db__copy_finish(c, ERR_CANCELED, 0, NULL, true);
    }
    busy_leave(c);
}

int db_conn_is_up(const struct db_conn *c)
{
    return c != NULL && c->state == DB_UP && !c->closing;
}

const char *db_conn_name(const struct db_conn *c)
{
    return c->name;
}

void db_conn_stats(const struct db_conn *c, struct db_stats *out)
{
    *out = c->stats;
    out->inflight = c->user_inflight;
}

int db_conn_pin(struct db_conn *c)
{
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    if (c->pinned) {
        return ERR_BUSY;
    }
    if (c->state != DB_UP || c->lost_pending) {
        return ERR_DISCONNECTED;
    }
    c->pinned = true;
    c->pin_broken = false;
    return 0;
}

void db_conn_unpin(struct db_conn *c)
{
    c->pinned = false;
    c->pin_broken = false;
}

int db_conn_has_stmt(const struct db_conn *c, const char *name)
{
    if (c == NULL || name == NULL) {
        return 0;
    }
    for (const struct db_stmt *s = c->stmts; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

int db_prepare(struct db_conn *c, const char *name, const char *sql, int nparams, const Oid *types)
{
    struct db_stmt *s, **tail;

    if (c == NULL || name == NULL || name[0] == '\0' || sql == NULL || nparams < 0 ||
        nparams > MAX_PARAMS) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    for (tail = &c->stmts; *tail != NULL; tail = &(*tail)->next) {
        if (strcmp((*tail)->name, name) == 0) {
            return ERR_EXISTS;
        }
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return ERR_NOMEM;
    }
    s->name = dup_str(name);
    s->sql = dup_str(sql);
    s->nparams = nparams;
    if (types != NULL && nparams > 0) {
        s->types = malloc(sizeof(Oid) * (size_t)nparams);
        if (s->types != NULL) {
            memcpy(s->types, types, sizeof(Oid) * (size_t)nparams);
        }
    }
    if (s->name == NULL || s->sql == NULL || (types != NULL && nparams > 0 && s->types == NULL)) {
        free(s->name);
        free(s->sql);
        free(s->types);
        free(s);
        return ERR_NOMEM;
    }
    *tail = s;
    if (!db__copy_busy(c)) {
        db__send_pending_prepares(c);
        db__io_update(c);
    }
    return 0;
}

int db_query_send(struct db_conn *c, const struct db_query *q, uint64_t *id)
{
    struct db_entry *e;
    int64_t timeout;

    if (c == NULL || q == NULL) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    if ((q->sql == NULL) == (q->stmt == NULL) || q->nparams < 0 || q->nparams > MAX_PARAMS ||
        (q->nparams > 0 && q->params == NULL) || (q->stmt != NULL && q->types != NULL) ||
        q->timeout_ms < DB_TIMEOUT_NONE) {
        return ERR_INVAL;
    }
    if (db__copy_busy(c)) {
        return ERR_BUSY;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return ERR_NOMEM;
    }
    e->kind = DB_ENTRY_USER;
    e->id = query_id_next();
    e->cb = q->cb;
    e->arg = q->arg;
    c->stats.queries++;
    counter_inc(&db__ctr_queries);
    if (id != NULL) {
        *id = e->id;
    }
    if (!db__can_send(c)) {
        db__queue_push(&c->failq, e);
        db__defer_arm(c);
        return 0;
    }
    timeout = q->timeout_ms != 0 ? q->timeout_ms : c->opts.query_timeout_ms;
    if (timeout > 0) {
        e->deadline = ev_now(c->loop) + (ev_tstamp)timeout / 1000.0;
    }
    send_entry(c, e, q->sql, q->stmt, q->nparams, q->params, q->types);
    if (e->deadline > 0.) {
        db__deadline_arm(c, e->deadline);
    }
    db__io_update(c);
    return 0;
}

static int queue_cancel(struct db_queue *q, uint64_t id)
{
    for (struct db_entry *e = q->head; e != NULL; e = e->next) {
        if (e->id == id && e->kind == DB_ENTRY_USER) {
            e->id = 0;
            e->cb = NULL;
            e->arg = NULL;
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

int db_query_cancel(struct db_conn *c, uint64_t id)
{
    if (c == NULL || id == 0) {
        return ERR_NOTFOUND;
    }
    if (queue_cancel(&c->inflight, id) == 0 || queue_cancel(&c->failq, id) == 0) {
        return 0;
    }
    return ERR_NOTFOUND;
}
