/* SPDX-License-Identifier: MIT */
/*
 * ext_store: inbound IVR extensions over the extensions table.
 *
 * DESIGN
 * - Inventory rows are platform data: ivr_ext_provision() creates the
 *   missing ones of a range (dialerd at start-up, or an operator); a tenant
 *   claims a free inbound one. "Next free" is one statement:
 *   the lowest free row FOR UPDATE SKIP LOCKED, then the UPDATE of that row,
 *   so concurrent requests each get a different extension without retries
 *   and without a table lock. A specific number is claimed only while free.
 * - Release does not free: the row stays the tenant's, quarantined until
 *   now() + the quarantine, so callers who still dial the old number do not
 *   reach another tenant. ivr_ext_free_expired() (platform) frees them.
 * - Every change and its audit_log row are one statement (a data-modifying
 *   CTE) inside the tenant transaction of store.c (row-level security); a
 *   statement that matched no row reports ERR_CONFLICT or ERR_NOTFOUND.
 * - Routing reads through the platform pool (no tenant yet: the extension
 *   tells which tenant the call belongs to).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/err.h"
#include "ivr/ivr.h"
#include "ivr/store_int.h"

struct ext_op {
    ivr_ext_cb *cb;
    void *arg;
    int kind; /* what a missing row means */
    int number;
};

enum { K_ASSIGN, K_CHANGE, K_LIST };

static long long col_ll(json_t *row, size_t i)
{
    const char *s = json_string_value(json_array_get(row, i));
    return s != NULL ? strtoll(s, NULL, 10) : 0;
}

static void fin_ext(struct txn *t)
{
    struct ext_op *op = t->arg;
    struct ivr_ext_result r = { .status = t->first_err, .error = t->errmsg, .rows = t->rows };
    json_t *row = json_array_get(t->rows, 0);
    char msg[96];

    if (r.status == 0 && op->kind != K_LIST) {
        if (row == NULL) {
            if (op->kind == K_ASSIGN) {
                r.status = ERR_CONFLICT;
                if (op->number == 0) {
                    snprintf(msg, sizeof(msg), "no free inbound extension");
                } else {
                    snprintf(msg, sizeof(msg), "extension %d is not free", op->number);
                }
            } else {
                r.status = ERR_NOTFOUND;
                snprintf(msg, sizeof(msg), "extension %d is not assigned to this tenant",
                         op->number);
            }
            r.error = msg;
        } else {
            r.number = (int)col_ll(row, 0);
            r.state = json_string_value(json_array_get(row, 1));
            r.flow_id = col_ll(row, 2);
            r.revision = (int)col_ll(row, 3);
        }
    }
    op->cb(op->arg, &r);
    free(op);
    t->arg = NULL;
    ivr__txn_free(t);
}

static int run(struct db_pool *pool, long long tenant, long long actor, int kind, int number,
               const char *sql, const char *const *params, int np, ivr_ext_cb *cb, void *arg)
{
    struct ext_op *op;
    struct txn *t;
    const char *const sqls[1] = { sql };
    const char *pp[1][6] = { { NULL } };
    int nps[1] = { np };
    int rc;

    if (pool == NULL || cb == NULL || tenant <= 0) {
        return ERR_INVAL;
    }
    op = calloc(1, sizeof(*op));
    t = ivr__txn_new(pool, NULL, op);
    if (op == NULL || t == NULL) {
        free(op);
        free(t);
        return ERR_NOMEM;
    }
    op->cb = cb;
    op->arg = arg;
    op->kind = kind;
    op->number = number;
    t->fin = fin_ext;
    for (int i = 0; i < np && i < 6; i++) {
        pp[0][i] = params[i];
    }
    rc = ivr__txn_run(t, tenant, actor, 1, sqls, (const char *const(*)[6])pp, nps, 0);
    if (rc != 0) {
        free(op);
        t->arg = NULL;
        ivr__txn_free(t);
    }
    return rc;
}

#define RETURNING " RETURNING e.number, e.state, e.flow_id, e.flow_revision"
#define AUDIT(action)                                                                          \
    ", aud AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, detail) "     \
    "SELECT app_tenant_id(), '" action "', 'extension', number::text, "                        \
    "json_build_object('flow_id', flow_id, 'revision', flow_revision, 'state', state)::jsonb " \
    "FROM upd) SELECT number, state, flow_id, flow_revision FROM upd"

static const char SQL_ASSIGN_NEXT[] =
    "WITH pick AS (SELECT id FROM extensions WHERE pool = 'inbound' AND state = 'free' "
    "ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED), "
    "upd AS (UPDATE extensions e SET state = 'assigned', tenant_id = app_tenant_id(), "
    "flow_id = $1::bigint, flow_revision = NULL, label = $2, assigned_at = now() "
    "FROM pick WHERE e.id = pick.id" RETURNING ")" AUDIT("extension.assign");

static const char SQL_ASSIGN_NUM[] =
    "WITH upd AS (UPDATE extensions e SET state = 'assigned', tenant_id = app_tenant_id(), "
    "flow_id = $1::bigint, flow_revision = NULL, label = $2, assigned_at = now() "
    "WHERE e.number = $3::integer AND e.pool = 'inbound' AND e.state = 'free'" RETURNING
    ")" AUDIT("extension.assign");

static const char SQL_MOVE[] =
    "WITH upd AS (UPDATE extensions e SET flow_id = $1::bigint, "
    "flow_revision = NULLIF($2::integer, 0) WHERE e.number = $3::integer AND "
    "e.state = 'assigned' AND e.tenant_id = app_tenant_id()" RETURNING ")" AUDIT("extension.move");

static const char SQL_RELEASE[] =
    "WITH upd AS (UPDATE extensions e SET state = 'quarantined', flow_id = NULL, "
    "flow_revision = NULL, max_calls = NULL, quarantine_until = now() + make_interval(secs => "
    "$1::integer) "
    "WHERE e.number = $2::integer AND e.state = 'assigned' AND e.tenant_id = "
    "app_tenant_id()" RETURNING ")" AUDIT("extension.release");

static const char SQL_LIST[] =
    "SELECT number, state, flow_id, flow_revision, label, quarantine_until FROM extensions "
    "WHERE tenant_id = app_tenant_id() ORDER BY number";

int ivr_ext_assign(struct db_pool *pool, long long tenant, long long actor, int number,
                   long long flow_id, const char *label, ivr_ext_cb *cb, void *arg)
{
    char fl[32], num[16];
    const char *p[3] = { fl, label, num };
    if (number != 0 && (number < IVR_EXT_INBOUND_MIN || number > IVR_EXT_INBOUND_MAX)) {
        return ERR_RANGE;
    }
    if (flow_id <= 0) {
        return ERR_INVAL;
    }
    snprintf(fl, sizeof(fl), "%lld", flow_id);
    snprintf(num, sizeof(num), "%d", number);
    return run(pool, tenant, actor, K_ASSIGN, number,
               number == 0 ? SQL_ASSIGN_NEXT : SQL_ASSIGN_NUM, p, number == 0 ? 2 : 3, cb, arg);
}

int ivr_ext_move(struct db_pool *pool, long long tenant, long long actor, int number,
                 long long flow_id, int revision, ivr_ext_cb *cb, void *arg)
{
    char fl[32], rev[16], num[16];
    const char *p[3] = { fl, rev, num };
    if (flow_id <= 0 || revision < 0) {
        return ERR_INVAL;
    }
    snprintf(fl, sizeof(fl), "%lld", flow_id);
    snprintf(rev, sizeof(rev), "%d", revision);
    snprintf(num, sizeof(num), "%d", number);
    return run(pool, tenant, actor, K_CHANGE, number, SQL_MOVE, p, 3, cb, arg);
}

int ivr_ext_release(struct db_pool *pool, long long tenant, long long actor, int number,
                    int quarantine_s, ivr_ext_cb *cb, void *arg)
{
    char q[16], num[16];
    const char *p[2] = { q, num };
    if (quarantine_s < 0) {
        return ERR_INVAL;
    }
    snprintf(q, sizeof(q), "%d", quarantine_s);
    snprintf(num, sizeof(num), "%d", number);
    return run(pool, tenant, actor, K_CHANGE, number, SQL_RELEASE, p, 2, cb, arg);
}

int ivr_ext_list(struct db_pool *pool, long long tenant, ivr_ext_cb *cb, void *arg)
{
    return run(pool, tenant, 0, K_LIST, 0, SQL_LIST, NULL, 0, cb, arg);
}

/* ------------------------------------------------------------ platform */

struct plat_op {
    ivr_ext_cb *cb;
    void *arg;
    struct db_pool *pool;
    struct db_conn *c;
    int number;
    bool count;
    int done, first_err;
    int ntuples;
    long long tenant, flow_id;
    int revision;
    int max_calls;
    char msg[160];
};

/* BEGIN, SET LOCAL ROLE dialer_platform, the statement, COMMIT: results in order. */
enum { PLAT_STEPS = 4, PLAT_STMT = 2 };

static void plat_done(int status, PGresult *res, void *arg)
{
    struct plat_op *op = arg;
    int step = op->done++;
    if (status != 0 && op->first_err == 0) {
        op->first_err = status;
        snprintf(op->msg, sizeof(op->msg), "%s",
                 res != NULL ? PQresultErrorMessage(res) : err_str(status));
    }
    if (status == 0 && step == PLAT_STMT && res != NULL) {
        if (op->count) {
            op->ntuples = (int)strtol(PQcmdTuples(res), NULL, 10);
        } else if (PQntuples(res) > 0) {
            op->ntuples = 1;
            op->tenant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            op->flow_id = PQgetisnull(res, 0, 1) ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            op->revision =
                PQgetisnull(res, 0, 2) ? 0 : (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
            op->max_calls = PQnfields(res) < 4 || PQgetisnull(res, 0, 3)
                                ? -1
                                : (int)strtol(PQgetvalue(res, 0, 3), NULL, 10);
        }
    }
    if (op->done < PLAT_STEPS) {
        return;
    }
    db_pool_unpin(op->pool, op->c);
    {
        struct ivr_ext_result r = { .status = op->first_err,
                                    .error = op->msg,
                                    .number = op->number };
        if (r.status == 0 && op->count) {
            r.number = op->ntuples;
        } else if (r.status == 0 && op->ntuples == 0) {
            r.status = ERR_NOTFOUND;
            snprintf(op->msg, sizeof(op->msg), "extension %d is not assigned", op->number);
        } else if (r.status == 0) {
            r.tenant = op->tenant;
            r.flow_id = op->flow_id;
            r.revision = op->revision;
            r.max_calls = op->max_calls;
            r.state = "assigned";
        }
        op->cb(op->arg, &r);
    }
    free(op);
}

static int plat(struct db_pool *pool, const char *sql, const char *const *params, int np,
                int number, bool count, ivr_ext_cb *cb, void *arg)
{
    struct plat_op *op;
    int rc;
    if (pool == NULL || cb == NULL) {
        return ERR_INVAL;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return ERR_NOMEM;
    }
    op->cb = cb;
    op->arg = arg;
    op->pool = pool;
    op->number = number;
    op->count = count;
    rc = db_pool_pin(pool, &op->c);
    if (rc != 0) {
        free(op);
        return rc;
    }
    for (int i = 0; i < PLAT_STEPS; i++) {
        struct db_query q = { .cb = plat_done, .arg = op };
        switch (i) {
        case 0:
            q.sql = "BEGIN";
            break;
        case 1:
            q.sql = "SET LOCAL ROLE dialer_platform";
            break;
        case PLAT_STMT:
            q.sql = sql;
            q.nparams = np;
            q.params = params;
            break;
        default:
            q.sql = "COMMIT";
            break;
        }
        rc = db_query_send(op->c, &q, NULL);
        if (rc != 0) {
            /* Earlier steps are in flight: count the rest as failed. */
            for (int k = i; k < PLAT_STEPS; k++) {
                plat_done(rc, NULL, op);
            }
            return 0;
        }
    }
    return 0;
}

int ivr_ext_lookup(struct db_pool *platform, int number, ivr_ext_cb *cb, void *arg)
{
    char num[16];
    const char *p[1] = { num };
    snprintf(num, sizeof(num), "%d", number);
    return plat(
        platform,
        "SELECT tenant_id, flow_id, flow_revision, max_calls FROM extensions WHERE number = "
        "$1::integer AND pool = 'inbound' AND state = 'assigned' AND flow_id IS NOT NULL",
        p, 1, number, false, cb, arg);
}

int ivr_ext_free_expired(struct db_pool *platform, ivr_ext_cb *cb, void *arg)
{
    return plat(platform,
                "UPDATE extensions SET state = 'free', tenant_id = NULL, label = NULL, "
                "assigned_at = NULL, quarantine_until = NULL WHERE state = 'quarantined' AND "
                "quarantine_until <= now()",
                NULL, 0, 0, true, cb, arg);
}

int ivr_ext_provision(struct db_pool *platform, int from, int to, ivr_ext_cb *cb, void *arg)
{
    char a[16], b[16];
    const char *p[2] = { a, b };
    if (from < 2000 || to > 4999 || from > to) {
        return ERR_RANGE;
    }
    snprintf(a, sizeof(a), "%d", from);
    snprintf(b, sizeof(b), "%d", to);
    return plat(platform,
                "INSERT INTO extensions (number, pool) SELECT n, CASE WHEN n < 3000 THEN "
                "'inbound' WHEN n < 4000 THEN 'outbound' ELSE 'reserved' END FROM "
                "generate_series($1::integer, $2::integer) AS n ON CONFLICT (number) DO NOTHING",
                p, 2, 0, true, cb, arg);
}
