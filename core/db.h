/* SPDX-License-Identifier: MIT */
/*
 * db: asynchronous PostgreSQL access on a libev loop.
 *
 * A struct db_conn is one PostgreSQL session driven by libpq's non-blocking
 * API (PQconnectStart/PQconnectPoll, PQsendQueryParams, PQconsumeInput,
 * PQisBusy, PQflush) under one ev_io watcher; nothing here ever waits for
 * the server on the loop thread. The connection runs in libpq pipeline mode,
 * so any number of queries are in flight at once and their results arrive in
 * the order they were sent. Each query is followed by its own Sync, so every
 * query is its own implicit transaction and one query's error never aborts
 * its neighbours.
 *
 * Life of a connection: created down, it connects at once and reconnects by
 * itself after any failure or drop, waiting a jittered exponential back-off
 * (db_backoff_delay_ms) between attempts. The state callback reports each
 * transition up or down (for /readyz); db_conn_is_up() reads the state.
 * Named statements registered with db_prepare() are prepared again on every
 * new session before any query that follows them.
 *
 * Results: every query accepted by db_query_send() ends in exactly one call
 * of its callback, unless it was cancelled with db_query_cancel():
 *
 *   0                 success; res is the PGRES_TUPLES_OK / COMMAND_OK result
 *   ERR_DB            the server reported an error; read
 *                     PQresultErrorField(res, PG_DIAG_SQLSTATE) and
 *                     PQresultErrorMessage(res) (or db_result_sqlstate())
 *   ERR_DISCONNECTED  the connection was down when the query was issued, or
 *                     dropped while it was in flight: the outcome on the
 *                     server is unknown (it may have committed). res is NULL
 *                     or the error the server sent while closing the session
 *   ERR_TIMEOUT       the query was still unanswered after its timeout; the
 *                     session was reset (see "Timeouts")
 *   ERR_CANCELED      only from db_conn_destroy()/db_pool_destroy(), so the
 *                     owner of arg can free it; res is NULL
 *
 * A callback never runs inside the db_* call that issued the query: a query
 * on a down connection fails with ERR_DISCONNECTED from the loop a moment
 * later. The adapter does not retry: whether a query is safe to repeat is
 * the caller's knowledge. res is borrowed and valid only during the callback.
 *
 * Timeouts: each query carries a deadline (db_opts.query_timeout_ms unless
 * the query sets its own). libpq's PQcancel is blocking, and a pipelined
 * statement cannot be withdrawn, so a query that misses its deadline resets
 * the session: it gets ERR_TIMEOUT, every other query in flight on that
 * session ERR_DISCONNECTED, and the connection reconnects at once. The
 * abandoned server process is then terminated through the new session
 * (pg_terminate_backend, matched by pid and start time), so a runaway
 * statement does not keep its locks. For a server-side limit that keeps the
 * session, set statement_timeout in the conninfo options; such a query fails
 * with ERR_DB, SQLSTATE 57014.
 *
 * Transactions: queries on one connection run in the order sent, so BEGIN,
 * the statements and COMMIT sent one after another on the same db_conn form
 * one transaction; there is no need to wait for each result. Pin the
 * connection (db_pool_pin, or db_conn_pin on a connection of one's own) for
 * the duration: a pool routes nothing else to a pinned connection, and if a
 * pinned session drops, every later query on it fails with ERR_DISCONNECTED
 * until it is unpinned, so the rest of a transaction can never run outside
 * it on a fresh session. The pin may be released right after sending COMMIT
 * or ROLLBACK.
 *
 * COPY FROM STDIN: db_copy_start() waits for the queries in flight to finish,
 * leaves pipeline mode (libpq cannot pipeline COPY) and streams the data
 * given to db_copy_put() under a writable watcher. A connection carrying a
 * COPY refuses other queries (ERR_BUSY), so with a pool, pin a connection
 * for it.
 *
 * Threads: a db_conn or db_pool and everything about it belongs to the
 * thread running its loop; no function here may be called from another
 * thread. Query ids are unique per thread.
 *
 * Counters (core/counter.h, process-wide): db_queries_total,
 * db_query_errors_total, db_query_timeouts_total, db_reconnects_total,
 * db_queries_inflight, db_connections_up.
 *
 * DNS: PQconnectStart resolves a host name with a blocking getaddrinfo();
 * give the server as a unix socket directory, an IP address or hostaddr= so
 * that connecting never blocks the loop.
 */
#ifndef CORE_DB_H
#define CORE_DB_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Debian keeps libpq's headers in /usr/include/postgresql, which the build
 * does not put on the include path (pkg-config --cflags libpq would).
 */
#if defined(__has_include)
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif
#else
#include <postgresql/libpq-fe.h>
#endif

struct db_conn;
struct db_pool;

/* A query timeout that means "no deadline". */
#define DB_TIMEOUT_NONE INT64_C(-1)

/* Type OIDs for db_query.types / db_prepare (from the server's pg_type). */
enum db_oid {
    DB_OID_BOOL = 16,
    DB_OID_BYTEA = 17,
    DB_OID_INT8 = 20,
    DB_OID_INT2 = 21,
    DB_OID_INT4 = 23,
    DB_OID_TEXT = 25,
    DB_OID_JSON = 114,
    DB_OID_FLOAT8 = 701,
    DB_OID_VARCHAR = 1043,
    DB_OID_DATE = 1082,
    DB_OID_TIMESTAMPTZ = 1184,
    DB_OID_INTERVAL = 1186,
    DB_OID_NUMERIC = 1700,
    DB_OID_UUID = 2950,
    DB_OID_JSONB = 3802,
};

/*
 * The end of a query. status is 0 or a negative code (see the table above);
 * res is borrowed, NULL for ERR_CANCELED and possibly NULL for
 * ERR_DISCONNECTED and ERR_TIMEOUT, and valid only until the callback
 * returns. The callback may issue queries, cancel queries and destroy the
 * connection or pool.
 */
typedef void db_result_cb(int status, PGresult *res, void *arg);

/* A connection (or, for a pool, the first/last connection) went up (1) or down (0). */
typedef void db_state_cb(int up, void *arg);

/*
 * The end of a COPY: status 0 and the number of rows copied, or ERR_DB (res
 * holds the server's error: bad data, constraint, db_copy_end() with an
 * error message), ERR_INVAL (the statement was not a COPY FROM STDIN),
 * ERR_TIMEOUT (past db_copy_opts.timeout_ms: the session was reset as for a
 * query), ERR_DISCONNECTED (connection down or lost) or ERR_CANCELED
 * (connection destroyed). After ERR_DB nothing was committed; after
 * ERR_TIMEOUT or ERR_DISCONNECTED the outcome is unknown as for a query, but
 * a COPY whose end had not yet been requested cannot have committed. res is
 * borrowed as for db_result_cb.
 */
typedef void db_copy_done_cb(int status, int64_t rows, PGresult *res, void *arg);

/* The COPY buffer fell back to half the high-water mark: put more data. */
typedef void db_copy_drain_cb(void *arg);

/*
 * Connection options. Zero fields take the defaults in brackets, so
 * (struct db_opts){ .name = "main" } is a complete set.
 */
struct db_opts {
    const char *name;           /* for log lines; copied ["db"] */
    int64_t backoff_min_ms;     /* first reconnect delay [100] */
    int64_t backoff_max_ms;     /* reconnect delay cap [10000] */
    int64_t connect_timeout_ms; /* a connection attempt longer than this fails [10000] */
    int64_t query_timeout_ms;   /* default per-query deadline; DB_TIMEOUT_NONE for none [30000] */
    db_state_cb *state_cb;      /* optional: up/down transitions */
    void *state_arg;            /* borrowed: passed to state_cb */
};

/*
 * One query: either sql (sent with PQsendQueryParams, one statement, $1..$n
 * placeholders) or stmt (the name given to db_prepare). Parameters are text;
 * a NULL element is SQL NULL. types (optional, sql only) gives each
 * parameter's type OID, 0 letting the server infer it. All pointers are
 * borrowed for the duration of the db_query_send() call only.
 */
struct db_query {
    const char *sql;           /* SQL text, or NULL when stmt is set */
    const char *stmt;          /* prepared statement name, or NULL */
    int nparams;               /* number of parameters, 0..65535 */
    const char *const *params; /* nparams text values (NULL = SQL NULL) */
    const Oid *types;          /* optional, nparams type OIDs (sql only) */
    int64_t timeout_ms;        /* 0: connection default; DB_TIMEOUT_NONE: none */
    db_result_cb *cb;          /* may be NULL: result discarded */
    void *arg;                 /* borrowed: passed to cb */
};

/* A COPY FROM STDIN. */
struct db_copy_opts {
    const char *sql;         /* "COPY t (a, b) FROM STDIN ..."; copied */
    db_copy_done_cb *done;   /* required */
    db_copy_drain_cb *drain; /* optional: back-pressure relief (see db_copy_put) */
    void *arg;               /* borrowed: passed to done and drain */
    size_t high_water;       /* buffered bytes that make db_copy_put say ERR_AGAIN [1 MiB] */
    int64_t timeout_ms;      /* whole COPY, from db_copy_start; 0 or DB_TIMEOUT_NONE: none */
};

/* Per-connection statistics (the process-wide counters sum these). */
struct db_stats {
    uint64_t queries;    /* queries accepted by db_query_send */
    uint64_t errors;     /* completed with ERR_DB, ERR_DISCONNECTED or ERR_TIMEOUT */
    uint64_t timeouts;   /* completed with ERR_TIMEOUT */
    uint64_t reconnects; /* sessions established after the first */
    uint64_t copy_rows;  /* rows committed by COPY */
    int64_t inflight;    /* queries sent to the server and not yet answered */
};

/*
 * The delay before reconnect attempt number attempt (0 for the first after a
 * failure): min_ms doubled attempt times, capped at max_ms, then jittered
 * uniformly into [d/2, d] from the random value rnd and never below min_ms
 * ("equal jitter": spreads a fleet's reconnects without ever retrying in a
 * tight loop). Pure; any thread.
 */
int64_t db_backoff_delay_ms(int64_t min_ms, int64_t max_ms, unsigned attempt, uint64_t rnd);

/*
 * Creates a connection bound to loop and starts connecting (the first
 * attempt begins before this returns; it completes on the loop). conninfo
 * is a libpq connection string or URI; it is copied and never logged. opts
 * may be NULL for all defaults; it is copied.
 * Returns 0 and sets *out (new: release with db_conn_destroy), ERR_INVAL for
 * a conninfo libpq cannot parse or bad options, or ERR_NOMEM.
 */
int db_conn_create(struct ev_loop *loop, const char *conninfo, const struct db_opts *opts,
                   struct db_conn **out);

/*
 * Closes the session, stops every watcher and calls each outstanding query
 * callback (and a pending COPY's done) with ERR_CANCELED before returning;
 * cancelled queries get nothing. Calls into c made from those callbacks fail
 * with ERR_SHUTDOWN. May be called from one of c's own callbacks: the memory
 * is then released when that callback returns. NULL is ignored.
 */
void db_conn_destroy(struct db_conn *c);

/* 1 while a session is established (queries are being sent), else 0. */
int db_conn_is_up(const struct db_conn *c);

/* The name from db_opts; borrowed, valid until db_conn_destroy. */
const char *db_conn_name(const struct db_conn *c);

/* Fills *out with c's statistics. */
void db_conn_stats(const struct db_conn *c, struct db_stats *out);

/*
 * Binds c's session to its holder for a transaction or a COPY: a pool sends
 * nothing else to it, and if the session is lost, queries on c fail with
 * ERR_DISCONNECTED (even after it reconnects) until db_conn_unpin().
 * Returns 0, ERR_BUSY if already pinned, ERR_DISCONNECTED if c is not up or
 * ERR_SHUTDOWN during destruction.
 */
int db_conn_pin(struct db_conn *c);

/* Releases a pin (no effect on an unpinned connection). */
void db_conn_unpin(struct db_conn *c);

/*
 * Registers a named statement on c: prepared now if c is up, and again on
 * every new session. types (optional) has nparams OIDs. Strings and types
 * are copied. A statement the server rejects is logged; queries naming it
 * then fail with ERR_DB (SQLSTATE 26000).
 * Returns 0, ERR_EXISTS for a name already registered, ERR_INVAL, ERR_NOMEM
 * or ERR_SHUTDOWN.
 */
int db_prepare(struct db_conn *c, const char *name, const char *sql, int nparams, const Oid *types);

/* 1 when name was registered on c with db_prepare (queries may name it), else 0. */
int db_conn_has_stmt(const struct db_conn *c, const char *name);

/*
 * Sends q on c. On 0, q->cb will be called exactly once later (never before
 * this returns) unless the query is cancelled; *id (may be NULL) receives
 * the query's handle, never 0. Returns ERR_INVAL for a malformed q (no
 * callback), ERR_BUSY while c carries a COPY, ERR_SHUTDOWN during
 * destruction, or ERR_NOMEM. A down connection is not an error here: the
 * callback gets ERR_DISCONNECTED.
 */
int db_query_send(struct db_conn *c, const struct db_query *q, uint64_t *id);

/*
 * Withdraws interest in query id: its callback will never be called; a
 * result that arrives is discarded. The statement itself still runs on the
 * server (and its deadline still applies). Returns 0, or ERR_NOTFOUND when
 * id is unknown or already completed.
 */
int db_query_cancel(struct db_conn *c, uint64_t id);

/*
 * Starts a COPY FROM STDIN on c; data may be put at once (it is buffered
 * until the server is ready). The COPY begins when the queries already in
 * flight on c have finished. Returns 0 (o->done will be called exactly
 * once, never before this returns), ERR_BUSY if c already has a COPY,
 * ERR_INVAL, ERR_NOMEM or ERR_SHUTDOWN. A down connection gives done
 * ERR_DISCONNECTED.
 */
int db_copy_start(struct db_conn *c, const struct db_copy_opts *o);

/*
 * Appends len bytes of COPY data (any split; rows may straddle calls); the
 * bytes are copied. Returns 0, or ERR_AGAIN when the data was accepted but
 * the buffer is now above the high-water mark: stop putting until the drain
 * callback (the buffer is not bounded otherwise). Returns ERR_INVAL without
 * a COPY in progress or after db_copy_end, ERR_DISCONNECTED once the COPY
 * has failed (done follows or has run), or ERR_NOMEM.
 */
int db_copy_put(struct db_conn *c, const void *data, size_t len);

/*
 * Ends the COPY after the buffered data: errmsg NULL commits it, otherwise
 * the server aborts it with that message (done gets ERR_DB). Returns 0 or
 * ERR_INVAL/ERR_DISCONNECTED as db_copy_put.
 */
int db_copy_end(struct db_conn *c, const char *errmsg);

/* SQLSTATE of an error result ("42P01"), or "" for none or NULL. Borrowed from res. */
const char *db_result_sqlstate(const PGresult *res);

/*
 * Creates size connections (named "<name>-<i>") on loop. opts as for
 * db_conn_create, except that state_cb reports the pool: up when the first
 * connection comes up, down when the last goes down.
 * Returns 0 and sets *out (new: release with db_pool_destroy), ERR_INVAL
 * (bad conninfo, size outside 1..64) or ERR_NOMEM.
 */
int db_pool_create(struct ev_loop *loop, const char *conninfo, int size, const struct db_opts *opts,
                   struct db_pool **out);

/* Destroys every connection as db_conn_destroy does. NULL is ignored. */
void db_pool_destroy(struct db_pool *p);

/*
 * Sends q to the up, unpinned connection with the fewest queries in flight.
 * With none up the callback gets ERR_DISCONNECTED; ERR_BUSY when every
 * connection is pinned. Otherwise as db_query_send.
 */
int db_pool_query_send(struct db_pool *p, const struct db_query *q, uint64_t *id);

/* As db_query_cancel, for a query sent with db_pool_query_send. */
int db_pool_query_cancel(struct db_pool *p, uint64_t id);

/*
 * Registers a named statement on every connection (as db_prepare). On an
 * error some connections may already have it.
 */
int db_pool_prepare(struct db_pool *p, const char *name, const char *sql, int nparams,
                    const Oid *types);

/*
 * Pins the least-loaded up connection for a transaction or COPY (see
 * db_conn_pin) and sets *out (borrowed: valid until db_pool_destroy).
 * Returns 0, ERR_DISCONNECTED when no connection is up or ERR_BUSY when all
 * up connections are pinned.
 */
int db_pool_pin(struct db_pool *p, struct db_conn **out);

/* Releases a connection pinned with db_pool_pin. */
void db_pool_unpin(struct db_pool *p, struct db_conn *c);

/* Number of connections up. */
int db_pool_up_count(const struct db_pool *p);

/* 1 when at least one connection is up. */
int db_pool_is_up(const struct db_pool *p);

/* Number of connections, and connection i (borrowed), for stats and tests. */
int db_pool_size(const struct db_pool *p);
struct db_conn *db_pool_conn(const struct db_pool *p, int i);

#endif
