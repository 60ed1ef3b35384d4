/* SPDX-License-Identifier: MIT */
/*
 * db_int: what core/db.c, core/db_copy.c and core/db_pool.c share. Not part
 * of the public API: other modules include core/db.h only.
 */
#ifndef CORE_DB_INT_H
#define CORE_DB_INT_H

#include <stdbool.h>

#include "core/counter.h"
#include "core/db.h"
#include "core/log.h"

#define DB_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum db_state {
    DB_DOWN,       /* no session; the retry timer will start an attempt */
    DB_CONNECTING, /* PQconnectPoll in progress */
    DB_UP,         /* session established, pipeline mode (except around a COPY) */
};

enum db_entry_kind {
    DB_ENTRY_USER,     /* a db_query_send query */
    DB_ENTRY_INTERNAL, /* the adapter's own: prepare, session info, terminate */
};

struct db_entry;

/* Completion of an internal entry (status as for db_result_cb); runs no user code. */
typedef void db_internal_cb(struct db_conn *c, const struct db_entry *e, int status,
                            const PGresult *res);

/*
 * One query in flight (or waiting to fail fast). Results arrive in order,
 * each query's results followed by the PGRES_PIPELINE_SYNC of its own Sync.
 */
struct db_entry {
    struct db_entry *next;
    uint64_t id;         /* handle; 0 for internal entries */
    db_result_cb *cb;    /* NULL once cancelled */
    void *arg;           /* borrowed from the caller */
    db_internal_cb *icb; /* internal entries only */
    const void *aux;     /* internal entries: e.g. the statement */
    PGresult *res;       /* latest result received, owned until delivery */
    ev_tstamp deadline;  /* loop time; 0 for none */
    unsigned char kind;  /* enum db_entry_kind */
    bool timed_out;      /* its deadline passed: ERR_TIMEOUT on reset */
    bool ended;          /* libpq returned the NULL that ends its results */
};

struct db_queue {
    struct db_entry *head;
    struct db_entry *tail;
    int64_t n;
};

/* A statement registered with db_prepare. */
struct db_stmt {
    struct db_stmt *next;
    char *name;
    char *sql;
    Oid *types; /* NULL or nparams OIDs */
    int nparams;
    bool sent; /* Parse queued on the current session */
};

enum db_copy_phase {
    DB_COPY_NONE,
    DB_COPY_WAIT,     /* waiting for the pipeline to drain */
    DB_COPY_STARTING, /* COPY sent, waiting for CopyInResponse */
    DB_COPY_ACTIVE,   /* streaming data */
    DB_COPY_ENDING,   /* CopyDone/CopyFail sent, waiting for the result */
    DB_COPY_FAILED,   /* done(ERR_DISCONNECTED) owed from the defer timer */
};

struct db_copy {
    enum db_copy_phase phase;
    char *sql;
    db_copy_done_cb *done;
    db_copy_drain_cb *drain;
    void *arg;
    char *buf; /* pending bytes are buf[off..len) */
    size_t off, len, cap;
    size_t high;        /* high-water mark */
    bool over;          /* a put said ERR_AGAIN: the drain callback is owed */
    bool end_req;       /* db_copy_end called */
    char *errmsg;       /* CopyFail message, or NULL */
    PGresult *res;      /* final (or error) result, owned */
    int fail_status;    /* status to report if the session ends now */
    ev_tstamp deadline; /* loop time; 0 for none */
};

struct db_conn {
    struct ev_loop *loop;
    char *conninfo; /* secret: never logged */
    char *name;
    struct db_opts opts; /* copy, with defaults applied; opts.name points at name */
    PGconn *pg;
    enum db_state state;

    ev_io io;      /* the libpq socket */
    int io_fd;     /* fd io is set for, -1 when stopped */
    int io_events; /* events io is set for */
    bool want_write;

    ev_timer retry;  /* DOWN: back-off; CONNECTING: connect timeout */
    ev_timer qtimer; /* earliest query deadline */
    ev_tstamp qtimer_at;
    ev_timer defer; /* zero-delay: fail-fast callbacks, deferred session loss */

    struct db_queue inflight; /* sent, in pipeline order */
    struct db_queue failq;    /* issued while down: ERR_DISCONNECTED from defer */
    int64_t user_inflight;    /* DB_ENTRY_USER entries in inflight */
    struct db_stmt *stmts;
    struct db_copy copy;

    unsigned attempt; /* consecutive failed connection attempts */
    uint64_t rng;     /* xorshift state for back-off jitter */
    bool ever_up;
    bool lost_pending; /* a send failed: handle the loss from defer */
    bool reset_now;    /* reconnect without back-off (timeout reset) */
    bool pinned;
    bool pin_broken; /* the pinned session was lost */
    bool closing;    /* db_conn_destroy ran */
    int busy;        /* depth of our own handlers on the stack */

    int backend_pid;        /* of the current session, 0 if unknown */
    char backend_start[64]; /* its pg_stat_activity.backend_start, "" if unknown */
    int orphan_pid;         /* a session abandoned on timeout, to terminate */
    char orphan_start[64];

    struct log_ratelimit rl; /* connection failure lines */
    struct db_stats stats;
    char errbuf[256]; /* last connection error, one line */
};

/* 1 when new queries may be written to the session now. */
int db__can_send(const struct db_conn *c);

/* Appends e to q. */
void db__queue_push(struct db_queue *q, struct db_entry *e);

/* Removes and returns the head of q, or NULL. */
struct db_entry *db__queue_pop(struct db_queue *q);

/* Copies libpq's message into buf as one log-safe line (no quotes, newlines). */
const char *db__oneline(const char *msg, char *buf, size_t size);

/* Re-arms the io watcher for READ plus WRITE when c->want_write. */
void db__io_update(struct db_conn *c);

/*
 * Drops the session for reason (logged): fails everything in flight, a
 * running COPY too, and schedules the reconnect. Runs user callbacks; the
 * caller must check c->closing afterwards.
 */
void db__session_lost(struct db_conn *c, const char *reason);

/* Notes a send failure; the loss is handled from the defer timer. */
void db__defer_loss(struct db_conn *c);

/* Makes the query timer fire no later than at (loop time). */
void db__deadline_arm(struct db_conn *c, ev_tstamp at);

/* Starts the zero-delay defer timer. */
void db__defer_arm(struct db_conn *c);

/* Queues Parse for every registered statement not yet sent on this session. */
void db__send_pending_prepares(struct db_conn *c);

/* db_copy.c: the copy's part of the io handler and of the conn's lifecycle. */

/* Called when the pipeline is empty: begins a waiting COPY. */
void db__copy_maybe_begin(struct db_conn *c);

/*
 * Writes buffered COPY data (and CopyDone once db_copy_end asked and the
 * buffer is empty). Returns 0, 1 when the server has ended the COPY (read
 * its result), or -1 when the session failed. Runs no user code.
 */
int db__copy_pump(struct db_conn *c);

/* Reads COPY results; may run the done callback (check c->closing after). */
void db__copy_read(struct db_conn *c);

/* Calls the drain callback when it is owed and the buffer fell to half the mark. */
void db__copy_drained(struct db_conn *c);

/*
 * Resets the COPY, then calls done(status, rows, res) unless notify is false.
 * Takes res (may be NULL). Runs a user callback: check c->closing after.
 */
void db__copy_finish(struct db_conn *c, int status, int64_t rows, PGresult *res, bool notify);

/* 1 while a COPY owns the connection (from db_copy_start until done). */
int db__copy_busy(const struct db_conn *c);

/* Process-wide counters, registered by db_conn_create. */
extern struct counter db__ctr_queries;
extern struct counter db__ctr_errors;
extern struct counter db__ctr_timeouts;
extern struct counter db__ctr_reconnects;
extern struct counter db__ctr_inflight;
extern struct counter db__ctr_up;

/* Pool hook: the pool's conns report transitions here. */
int64_t db__conn_load(const struct db_conn *c);

#endif
