/* SPDX-License-Identifier: MIT */
/*
 * api/db: one transaction per api_db_run, pipelined on one connection of
 * the httpd thread's pool.
 *
 * BEGIN, the scope statement(s), the caller's statements and COMMIT are sent
 * back to back on a pinned connection and the pin is released at once: the
 * queries of one connection run in order, so nothing else can land inside
 * the transaction, and a connection that drops mid-way fails the rest (the
 * server rolls the transaction back). A failed statement leaves the
 * transaction aborted, every later statement fails with 25P02 and COMMIT
 * becomes a ROLLBACK; the batch reports the first failure.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/err.h"
#include "core/log.h"

struct batch_stmt {
    api_rows_cb *rows;
    void *arg;
};

struct batch {
    struct api *api;
    uint64_t handle;
    size_t head;  /* results before the first caller statement */
    size_t n;     /* caller statements */
    size_t total; /* all results expected (head + n + COMMIT) */
    size_t got;
    int status;
    char sqlstate[8];
    api_done_cb *done;
    void *arg;
    struct batch_stmt st[];
};

static void batch_cb(int status, PGresult *res, void *arg)
{
    struct batch *b = arg;
    size_t k = b->got++;
    struct api_ctx *ctx = api__ctx_lookup(b->api, b->handle);

    if (status != 0 && b->status == 0) {
        b->status = status;
        snprintf(b->sqlstate, sizeof(b->sqlstate), "%s", db_result_sqlstate(res));
        if (status == ERR_DB && strcmp(b->sqlstate, "25P02") != 0) {
            LOG_DEBUG(API, "event=stmt_failed sqlstate=%s msg=\"%s\"", b->sqlstate,
                      res != NULL ? PQresultErrorMessage(res) : "");
        }
    }
    if (status == 0 && b->status == 0 && ctx != NULL && k >= b->head && k < b->head + b->n) {
        struct batch_stmt *s = &b->st[k - b->head];
        if (s->rows != NULL) {
            int rc = s->rows(ctx, res, s->arg);
            if (rc < 0) {
                b->status = rc;
            }
        }
    }
    if (b->got < b->total) {
        return;
    }
    if (ctx != NULL) {
        memcpy(ctx->sqlstate, b->sqlstate, sizeof(ctx->sqlstate));
        b->done(ctx, b->status, b->arg);
    }
    free(b);
}

static int send_one(struct db_conn *c, struct batch *b, const char *sql, int n,
                    const char *const *params)
{
    struct db_query q = { .sql = sql, .nparams = n, .params = params, .cb = batch_cb, .arg = b };
    return db_query_send(c, &q, NULL);
}

int api_db_run(struct api_ctx *ctx, enum api_scope scope, const struct api_stmt *stmts, size_t n,
               api_done_cb *done, void *arg)
{
    struct api *a = ctx->api;
    struct db_conn *c;
    struct batch *b;
    const char *actor = ctx->actor[0] != '\0' ? ctx->actor : "anonymous";
    const char *tparams[2] = { ctx->tenant_text, actor };
    size_t i;
    int rc;

    if (done == NULL || n == 0) {
        return ERR_INVAL;
    }
    if (scope == API_SCOPE_TENANT && ctx->p.tenant_id <= 0) {
        return ERR_INVAL;
    }
    if (a->db == NULL) {
        return ERR_DISCONNECTED;
    }
    rc = db_pool_pin(a->db, &c);
    if (rc != 0) {
        return rc == ERR_BUSY ? ERR_DISCONNECTED : rc;
    }
    b = calloc(1, sizeof(*b) + n * sizeof(b->st[0]));
    if (b == NULL) {
        db_pool_unpin(a->db, c);
        return ERR_NOMEM;
    }
    b->api = a;
    b->handle = ctx->handle;
    b->head = scope == API_SCOPE_TENANT ? 2 : 3;
    b->n = n;
    b->total = b->head + n + 1;
    b->done = done;
    b->arg = arg;
    for (i = 0; i < n; i++) {
        b->st[i].rows = stmts[i].rows;
        b->st[i].arg = stmts[i].arg;
    }
    /* From the first send on, the callbacks own b: every query accepted
     * answers exactly once, and one refused here is counted as answered. */
    rc = send_one(c, b, "BEGIN", 0, NULL);
    if (rc != 0) {
        db_pool_unpin(a->db, c);
        free(b);
        return rc;
    }
    if (scope == API_SCOPE_TENANT) {
        rc = send_one(c, b,
                      "SELECT set_config('app.tenant_id', $1, true), "
                      "set_config('app.actor', $2, true)",
                      2, tparams);
    } else {
        rc = send_one(c, b, "SET LOCAL ROLE dialer_platform", 0, NULL);
        if (rc == 0) {
            rc = send_one(c, b, "SELECT set_config('app.actor', $1, true)", 1, &tparams[1]);
        }
    }
    for (i = 0; i < n && rc == 0; i++) {
        rc = send_one(c, b, stmts[i].sql, stmts[i].nparams, stmts[i].params);
    }
    if (rc == 0) {
        rc = send_one(c, b, "COMMIT", 0, NULL);
    }
    db_pool_unpin(a->db, c);
    if (rc != 0) {
        /* Queries already sent will answer; the ones never sent are
         * accounted for here so that the batch still completes once. */
        size_t sent = b->head + i;
        LOG_ERR(API, "event=batch_send_failed err=\"%s\"", err_str(rc));
        if (b->status == 0) {
            b->status = rc;
        }
        b->total = sent < b->total ? sent : b->total;
        /* BEGIN at least was sent; the server rolls back without COMMIT. */
        if (b->got >= b->total) {
            free(b);
            return rc;
        }
    }
    return 0;
}
