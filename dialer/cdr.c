/* SPDX-License-Identifier: MIT */
/*
 * dialer/cdr: call_logs rows queued at hang-up and written by a timer, one
 * multi-row INSERT per batch in a short transaction as dialer_platform (the
 * rows of a batch belong to several tenants), ON CONFLICT DO NOTHING. One
 * batch in flight at a time; a failed batch goes back to the queue.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "dialer/dialer_int.h"

struct dialer_cdr_tx {
    struct dialer *d; /* NULL once the dialer is gone */
    struct db_pool *pool;
    struct db_conn *conn;
    int pending;
    int status;
    size_t n;
    struct dialer_cdr rows[];
};

void dialer_cdr_push(struct dialer *d, const struct dialer_cdr *row)
{
    if (d->db == NULL) {
        return;
    }
    if (d->cdr_n >= d->cdr_max_queue) {
        /* the database has been away for long: keep the newest */
        memmove(d->cdr, d->cdr + 1, (d->cdr_n - 1) * sizeof(*d->cdr));
        d->cdr_n--;
        d->st.cdr_dropped++;
        LOG_ERR(DIALER, "event=cdr_dropped queued=%zu", d->cdr_n);
    }
    if (d->cdr_n == d->cdr_cap) {
        size_t cap = d->cdr_cap ? d->cdr_cap * 2 : 256;
        struct dialer_cdr *n = realloc(d->cdr, cap * sizeof(*n));
        if (n == NULL) {
            d->st.cdr_dropped++;
            LOG_ERR(DIALER, "event=cdr_dropped reason=nomem");
            return;
        }
        d->cdr = n;
        d->cdr_cap = cap;
    }
    d->cdr[d->cdr_n++] = *row;
}

static void requeue(struct dialer *d, const struct dialer_cdr *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dialer_cdr_push(d, &rows[i]);
    }
}

static void tx_cb(int status, PGresult *res, void *arg)
{
    struct dialer_cdr_tx *t = arg;
    (void)res;
    if (status != 0 && t->status == 0) {
        t->status = status;
        if (res != NULL) {
            LOG_WARN(DIALER, "event=cdr_write_failed sqlstate=%s msg=\"%s\"",
                     db_result_sqlstate(res), PQresultErrorMessage(res));
        }
    }
    if (--t->pending > 0) {
        return;
    }
    db_pool_unpin(t->pool, t->conn);
    struct dialer *d = t->d;
    if (d != NULL) {
        d->cdr_tx = NULL;
        if (t->status == 0) {
            d->st.cdr_written += t->n;
        } else {
            d->st.cdr_failed += t->n;
            requeue(d, t->rows, t->n);
        }
    }
    free(t);
}

static void fmt_ts(char *buf, size_t sz, int64_t us)
{
    snprintf(buf, sz, "%" PRId64, us);
}

void dialer_cdr_flush(struct dialer *d)
{
    if (d->db == NULL || d->cdr_tx != NULL || d->cdr_n == 0) {
        return;
    }
    size_t n = d->cdr_n < (size_t)d->cdr_batch ? d->cdr_n : (size_t)d->cdr_batch;
    struct db_conn *conn = NULL;
    if (db_pool_pin(d->db, &conn) != 0) {
        return; /* nothing free or up now: the next tick tries again */
    }
    struct dialer_cdr_tx *t = malloc(sizeof(*t) + n * sizeof(t->rows[0]));
    size_t sqlsz = 512 + n * 640; /* a row's placeholders take about 420 bytes */
    char *sql = malloc(sqlsz);
    char(*vals)[24] = calloc(n * DIALER_CDR_COLS, sizeof(*vals));
    const char **params = calloc(n * DIALER_CDR_COLS, sizeof(*params));
    if (t == NULL || sql == NULL || vals == NULL || params == NULL) {
        db_pool_unpin(d->db, conn);
        free(t);
        free(sql);
        free(vals);
        free(params);
        return;
    }
    *t = (struct dialer_cdr_tx){ .d = d, .pool = d->db, .conn = conn, .n = n };
    memcpy(t->rows, d->cdr, n * sizeof(t->rows[0]));
    memmove(d->cdr, d->cdr + n, (d->cdr_n - n) * sizeof(*d->cdr));
    d->cdr_n -= n;

    size_t off = (size_t)snprintf(
        sql, sqlsz,
        "INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, caller_id, "
        "started_at, answered_at, human_detected_at, ended_at, ring_timeout_s, ring_ms, talk_ms, "
        "total_ms, outcome, disposition, hangup_cause, amd_result, connected_at, safe_harbour_at, "
        "live_answer, abandoned) VALUES ");
    for (size_t i = 0; i < n; i++) {
        const struct dialer_cdr *r = &t->rows[i];
        const char **p = &params[i * DIALER_CDR_COLS];
        char(*v)[24] = &vals[i * DIALER_CDR_COLS];
        int b = (int)(i * DIALER_CDR_COLS);
        p[0] = r->attempt_id;
        snprintf(v[1], 24, "%" PRId64, r->tenant_id);
        p[1] = v[1];
        snprintf(v[2], 24, "%" PRId64, r->campaign_id);
        p[2] = v[2];
        p[3] = r->number;
        p[4] = r->caller_id[0] ? r->caller_id : NULL;
        fmt_ts(v[5], 24, r->started_us);
        p[5] = v[5];
        fmt_ts(v[6], 24, r->answered_us);
        p[6] = r->answered_us ? v[6] : NULL;
        fmt_ts(v[7], 24, r->human_us);
        p[7] = r->human_us ? v[7] : NULL;
        fmt_ts(v[8], 24, r->ended_us);
        p[8] = v[8];
        snprintf(v[9], 24, "%d", r->ring_timeout_s);
        p[9] = v[9];
        snprintf(v[10], 24, "%" PRId64, r->ring_ms);
        p[10] = v[10];
        snprintf(v[11], 24, "%" PRId64, r->talk_ms);
        p[11] = v[11];
        snprintf(v[12], 24, "%" PRId64, r->total_ms);
        p[12] = v[12];
        p[13] = r->outcome;
        p[14] = r->disposition[0] ? r->disposition : NULL;
        snprintf(v[15], 24, "%d", r->hangup_cause);
        p[15] = r->hangup_cause >= 0 ? v[15] : NULL;
        p[16] = r->amd[0] ? r->amd : NULL;
        fmt_ts(v[17], 24, r->connected_us);
        p[17] = r->connected_us ? v[17] : NULL;
        fmt_ts(v[18], 24, r->safe_harbour_us);
        p[18] = r->safe_harbour_us ? v[18] : NULL;
        /* live_answer and abandoned are literals: they need no parameter */
        off += (size_t)snprintf(
            sql + off, sqlsz - off,
            "%s($%d::uuid, $%d::bigint, $%d::bigint, $%d, $%d, to_timestamp($%d::bigint / 1e6), "
            "to_timestamp($%d::bigint / 1e6), to_timestamp($%d::bigint / 1e6), "
            "to_timestamp($%d::bigint / 1e6), $%d::int, $%d::int, $%d::int, $%d::int, $%d, $%d, "
            "$%d::smallint, $%d, to_timestamp($%d::bigint / 1e6), to_timestamp($%d::bigint / 1e6), "
            "%s, %s)",
            i ? "," : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10,
            b + 11, b + 12, b + 13, b + 14, b + 15, b + 16, b + 17, b + 18, b + 19,
            r->live ? "true" : "false", r->live && r->abandoned ? "true" : "false");
        if (off >= sqlsz) {
            break; /* cannot happen with the size above; the statement then fails */
        }
    }
    snprintf(sql + (off < sqlsz ? off : sqlsz - 1), off < sqlsz ? sqlsz - off : 1,
             " ON CONFLICT (attempt_id) DO NOTHING");

    const struct db_query qs[4] = {
        { .sql = "BEGIN" },
        { .sql = "SET LOCAL ROLE dialer_platform" },
        { .sql = sql, .nparams = (int)(n * DIALER_CDR_COLS), .params = params },
        { .sql = "COMMIT" },
    };
    d->cdr_tx = t;
    for (int i = 0; i < 4; i++) {
        struct db_query q = qs[i];
        q.cb = tx_cb;
        q.arg = t;
        if (db_query_send(conn, &q, NULL) != 0) {
            if (i == 0) {
                d->cdr_tx = NULL;
                requeue(d, t->rows, t->n);
                db_pool_unpin(d->db, conn);
                free(t);
            } else {
                t->status = ERR_DB;
            }
            break;
        }
        t->pending++;
    }
    free(sql);
    free(vals);
    free(params);
}

void dialer_cdr_fini(struct dialer *d)
{
    if (d->cdr_tx != NULL) {
        d->cdr_tx->d = NULL;
    }
    free(d->cdr);
    d->cdr = NULL;
    d->cdr_n = d->cdr_cap = 0;
}
