/* SPDX-License-Identifier: MIT */
/*
 * db_copy: COPY FROM STDIN on a db_conn (contract in core/db.h).
 *
 * libpq cannot queue commands during a COPY, and a COPY cannot share a
 * pipeline, so a COPY owns its connection from db_copy_start until the done
 * callback. Phases (struct db_copy.phase):
 *
 *   WAIT      queries already in flight finish; the caller's data is
 *             buffered meanwhile (db__copy_maybe_begin runs whenever the
 *             in-flight queue empties)
 *   STARTING  pipeline mode left, the COPY statement sent (simple protocol),
 *             waiting for CopyInResponse (PGRES_COPY_IN)
 *   ACTIVE    the buffer is fed to PQputCopyData under the writable
 *             watcher, at most PUMP_CHUNK bytes at a time and only while
 *             libpq's own output buffer is empty, so the bytes waiting are
 *             (almost all) in our buffer, where the high-water mark can see
 *             them; after db_copy_end and an empty buffer, PQputCopyEnd
 *   ENDING    waiting for the command's result; then pipeline mode again,
 *             statements registered meanwhile are prepared, done runs
 *   FAILED    the connection was down at db_copy_start or was lost; done
 *             gets ERR_DISCONNECTED
 *
 * Back-pressure: db_copy_put always takes the bytes and says ERR_AGAIN once
 * the buffer reaches the high-water mark; the drain callback runs when it
 * falls to half of it. A producer that honours this keeps at most
 * high_water + one put in memory.
 *
 * A server-side error (a malformed row, a constraint) is reported when the
 * COPY ends: the server drops the remaining data and libpq does not read the
 * error before CopyDone, so done gets ERR_DB with the server's message only
 * after everything was sent. Should libpq refuse data on a good connection
 * (PQputCopyData < 0), the buffered rest is dropped and the result read.
 */
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/db_int.h"
#include "core/err.h"
#include "core/log.h"

#define DEFAULT_HIGH_WATER ((size_t)1 << 20)
#define PUMP_CHUNK         ((size_t)64 * 1024)

int db__copy_busy(const struct db_conn *c)
{
    return c->copy.phase != DB_COPY_NONE;
}

void db__copy_finish(struct db_conn *c, int status, int64_t rows, PGresult *res, bool notify)
{
    struct db_copy cp = c->copy;

    memset(&c->copy, 0, sizeof(c->copy));
    c->copy.phase = DB_COPY_NONE;
    free(cp.sql);
    free(cp.buf);
    free(cp.errmsg);
    PQclear(cp.res);
    if (status == 0) {
        c->stats.copy_rows += (uint64_t)rows;
    }
    LOG_DEBUG(DB, "event=copy_done name=%s status=%s rows=%lld", c->name, err_name(status),
              (long long)rows);
    if (notify && cp.done != NULL) {
        cp.done(status, rows, status == ERR_CANCELED ? NULL : res, cp.arg);
    }
    PQclear(res);
}

void db__copy_maybe_begin(struct db_conn *c)
{
    int rc;

    if (c->copy.phase != DB_COPY_WAIT || c->inflight.head != NULL || c->state != DB_UP ||
        c->lost_pending) {
        return;
    }
    if (!PQexitPipelineMode(c->pg) || !PQsendQuery(c->pg, c->copy.sql)) {
        char buf[256];
        LOG_ERR(DB, "event=copy_start_failed name=%s err=\"%s\"", c->name,
                db__oneline(PQerrorMessage(c->pg), buf, sizeof(buf)));
        db__defer_loss(c);
        return;
    }
    c->copy.phase = DB_COPY_STARTING;
    rc = PQflush(c->pg);
    if (rc < 0) {
        db__defer_loss(c);
        return;
    }
    c->want_write = rc == 1;
}

/* The COPY statement's results are all in (libpq returned its NULL). */
static void copy_complete(struct db_conn *c)
{
    PGresult *res = c->copy.res;
    int64_t rows = 0;
    int status;

    c->copy.res = NULL;
    if (PQresultStatus(res) == PGRES_COMMAND_OK && strncmp(PQcmdStatus(res), "COPY", 4) == 0) {
        status = 0;
        rows = strtoll(PQcmdTuples(res), NULL, 10);
    } else if (PQresultStatus(res) == PGRES_FATAL_ERROR ||
               PQresultStatus(res) == PGRES_NONFATAL_ERROR ||
               PQresultStatus(res) == PGRES_BAD_RESPONSE) {
        status = ERR_DB;
    } else {
        status = ERR_INVAL; /* the statement ran but was not a COPY FROM STDIN */
    }
    if (!PQenterPipelineMode(c->pg)) {
        db__defer_loss(c);
    }
    /* Back in pipeline mode before done runs, so done may send queries at once. */
    c->copy.phase = DB_COPY_NONE;
    db__send_pending_prepares(c);
    db__copy_finish(c, status, rows, res, true);
}

void db__copy_read(struct db_conn *c)
{
    struct db_copy *cp = &c->copy;

    for (;;) {
        PGresult *r;

        if (c->closing || c->state != DB_UP) {
            return;
        }
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            db__session_lost(c, "connection lost");
            return;
        }
        if (PQisBusy(c->pg)) {
            return;
        }
        r = PQgetResult(c->pg);
        if (r == NULL) {
            if (cp->res == NULL) {
                db__session_lost(c, "COPY ended without a result");
                return;
            }
            copy_complete(c);
            return;
        }
        switch (PQresultStatus(r)) {
        case PGRES_COPY_IN:
            /* libpq repeats this while the COPY is open: nothing new. */
            PQclear(r);
            if (cp->phase == DB_COPY_STARTING) {
                cp->phase = DB_COPY_ACTIVE;
                LOG_DEBUG(DB, "event=copy_active name=%s", c->name);
            }
            return;
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            PQclear(r);
            cp->fail_status = ERR_INVAL;
            db__session_lost(c, "COPY statement is not FROM STDIN");
            return;
        default:
            /* The command's outcome (or the error that ended it early). */
            PQclear(cp->res);
            cp->res = r;
            cp->phase = DB_COPY_ENDING;
            cp->off = cp->len = 0;
            break;
        }
    }
}

int db__copy_pump(struct db_conn *c)
{
    struct db_copy *cp = &c->copy;
    int rc;

    if (cp->phase != DB_COPY_ACTIVE) {
        return 0;
    }
    while (cp->off < cp->len) {
        size_t n = cp->len - cp->off;

        rc = PQflush(c->pg);
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            c->want_write = true;
            return 0;
        }
        if (n > PUMP_CHUNK) {
            n = PUMP_CHUNK;
        }
        rc = PQputCopyData(c->pg, cp->buf + cp->off, (int)n);
        if (rc == 0) {
            c->want_write = true;
            return 0;
        }
        if (rc < 0) {
            /* A good connection refusing data means the server ended the COPY. */
            cp->off = cp->len = 0;
            return PQstatus(c->pg) == CONNECTION_BAD ? -1 : 1;
        }
        cp->off += n;
    }
    cp->off = cp->len = 0;
    if (cp->end_req) {
        rc = PQputCopyEnd(c->pg, cp->errmsg);
        if (rc < 0) {
            return PQstatus(c->pg) == CONNECTION_BAD ? -1 : 1;
        }
        if (rc == 0) {
            c->want_write = true;
            return 0;
        }
        cp->phase = DB_COPY_ENDING;
        rc = PQflush(c->pg);
        if (rc < 0) {
            return -1;
        }
        c->want_write = rc == 1;
    }
    return 0;
}

void db__copy_drained(struct db_conn *c)
{
    struct db_copy *cp = &c->copy;

    if (cp->phase == DB_COPY_ACTIVE && cp->over && cp->len - cp->off <= cp->high / 2) {
        cp->over = false;
        if (cp->drain != NULL) {
            cp->drain(cp->arg);
        }
    }
}

int db_copy_start(struct db_conn *c, const struct db_copy_opts *o)
{
    char *sql;

    if (c == NULL || o == NULL || o->sql == NULL || o->done == NULL ||
        o->timeout_ms < DB_TIMEOUT_NONE) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    if (c->copy.phase != DB_COPY_NONE) {
        return ERR_BUSY;
    }
    sql = strdup(o->sql);
    if (sql == NULL) {
        return ERR_NOMEM;
    }
    memset(&c->copy, 0, sizeof(c->copy));
    c->copy.sql = sql;
    c->copy.done = o->done;
    c->copy.drain = o->drain;
    c->copy.arg = o->arg;
    c->copy.high = o->high_water != 0 ? o->high_water : DEFAULT_HIGH_WATER;
    if (!db__can_send(c)) {
        c->copy.phase = DB_COPY_FAILED;
        db__defer_arm(c);
        return 0;
    }
    c->copy.phase = DB_COPY_WAIT;
    if (o->timeout_ms > 0) {
        c->copy.deadline = ev_now(c->loop) + (ev_tstamp)o->timeout_ms / 1000.0;
        db__deadline_arm(c, c->copy.deadline);
    }
    LOG_DEBUG(DB, "event=copy_start name=%s inflight=%lld", c->name, (long long)c->inflight.n);
    db__copy_maybe_begin(c);
    db__io_update(c);
    return 0;
}

/* The error for a put or end in the current phase, or 0 when allowed. */
static int copy_accepting(const struct db_conn *c)
{
    switch (c->copy.phase) {
    case DB_COPY_NONE:
    case DB_COPY_ENDING:
        return ERR_INVAL;
    case DB_COPY_FAILED:
        return ERR_DISCONNECTED;
    default:
        return c->copy.end_req ? ERR_INVAL : 0;
    }
}

int db_copy_put(struct db_conn *c, const void *data, size_t len)
{
    struct db_copy *cp;
    int rc;

    if (c == NULL || (data == NULL && len > 0)) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    rc = copy_accepting(c);
    if (rc != 0) {
        return rc;
    }
    cp = &c->copy;
    if (cp->off > 0) {
        memmove(cp->buf, cp->buf + cp->off, cp->len - cp->off);
        cp->len -= cp->off;
        cp->off = 0;
    }
    if (len > cp->cap - cp->len) {
        size_t cap = cp->cap != 0 ? cp->cap : PUMP_CHUNK;
        char *buf;
        while (cap - cp->len < len) {
            cap *= 2;
        }
        buf = realloc(cp->buf, cap);
        if (buf == NULL) {
            return ERR_NOMEM;
        }
        cp->buf = buf;
        cp->cap = cap;
    }
    if (len > 0) {
        memcpy(cp->buf + cp->len, data, len);
        cp->len += len;
    }
    db__io_update(c);
    if (cp->len >= cp->high) {
        cp->over = true;
        return ERR_AGAIN;
    }
    return 0;
}

int db_copy_end(struct db_conn *c, const char *errmsg)
{
    int rc;

    if (c == NULL) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    rc = copy_accepting(c);
    if (rc != 0) {
        return rc;
    }
    if (errmsg != NULL) {
        c->copy.errmsg = strdup(errmsg);
        if (c->copy.errmsg == NULL) {
            return ERR_NOMEM;
        }
    }
    c->copy.end_req = true;
    db__io_update(c);
    return 0;
}
