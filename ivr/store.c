/* SPDX-License-Identifier: MIT */
/*
 * store: flows in PostgreSQL (ivr_flows, ivr_flow_revisions; docs/schema.md).
 *
 * Every operation is one transaction, pipelined on a connection pinned from
 * the caller's pool: BEGIN, the tenant and actor settings that row-level
 * security reads (set_config(..., true): transaction-local), the
 * statements, COMMIT, all sent at once; the results come back in order and
 * the first error decides. Nothing waits on the loop.
 *
 * Drafts are saved as they are, valid or not, with the validator's verdict
 * (draft_valid, draft_errors). Publishing reads the draft, runs the publish
 * gate in C, then in one transaction allocates the next revision number
 * (the UPDATE locks the flow row), copies the draft into an immutable
 * revision with the message, and points published_revision at it. The
 * second transaction only applies if the draft is still the one that was
 * validated (draft_updated_at unchanged); otherwise it reports
 * ERR_CONFLICT and nothing changes. A call pins the revision it loaded
 * (ivr_store_load with revision 0 resolves "latest published" once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"
#include "core/err.h"
#include "ivr/ivr.h"
#include "ivr/store_int.h"

void ivr__txn_free(struct txn *t)
{
    json_decref(t->rows);
    free(t->message);
    free(t);
}

static void slot_cb(int status, PGresult *res, void *arg)
{
    struct slot *s = arg;
    struct txn *t = s->t;
    t->done++;
    if (status != 0 && t->first_err == 0) {
        t->first_err = status;
        snprintf(t->errmsg, sizeof(t->errmsg), "%s",
                 res ? PQresultErrorMessage(res) : err_str(status));
    }
    if (status == 0 && s->idx == t->capture && res != NULL) {
        for (int r = 0; r < PQntuples(res); r++) {
            json_t *row = json_array();
            for (int c = 0; c < PQnfields(res); c++) {
                json_array_append_new(
                    row, PQgetisnull(res, r, c) ? json_null() : json_string(PQgetvalue(res, r, c)));
            }
            json_array_append_new(t->rows, row);
        }
    }
    if (t->done == t->n) {
        db_pool_unpin(t->pool, t->c);
        t->fin(t);
    }
}

/*
 * Sends BEGIN, the tenant settings, the n statements and COMMIT on a pinned
 * connection. capture is the index (0-based among stmts) whose rows are
 * kept. Returns 0 (fin runs later, exactly once) or a negative code.
 */
int ivr__txn_run(struct txn *t, long long tenant, long long actor, int n, const char *const *sql,
                 const char *const params[][6], const int *nparams, int capture)
{
    char ten[32], act[48];
    int rc = db_pool_pin(t->pool, &t->c);
    if (rc != 0) {
        return rc;
    }
    snprintf(ten, sizeof(ten), "%lld", tenant);
    snprintf(act, sizeof(act), "user:%lld", actor);
    const char *p1[1] = { ten };
    const char *p2[1] = { act };
    struct db_query pre[3] = {
        { .sql = "BEGIN" },
        { .sql = "SELECT set_config('app.tenant_id', $1, true)", .nparams = 1, .params = p1 },
        { .sql = "SELECT set_config('app.actor', $1, true)", .nparams = 1, .params = p2 },
    };
    t->n = n + 4;
    t->capture = capture + 3;
    t->rows = json_array();
    for (int i = 0; i < t->n; i++) {
        t->slots[i].t = t;
        t->slots[i].idx = i;
    }
    for (int i = 0; i < t->n; i++) {
        struct db_query q;
        if (i < 3) {
            q = pre[i];
        } else if (i < n + 3) {
            q = (struct db_query){ .sql = sql[i - 3],
                                   .nparams = nparams[i - 3],
                                   .params = params[i - 3] };
        } else {
            q = (struct db_query){ .sql = "COMMIT" };
        }
        q.cb = slot_cb;
        q.arg = &t->slots[i];
        rc = db_query_send(t->c, &q, NULL);
        if (rc != 0) {
            /* Earlier statements are in flight: count the rest as failed ones. */
            for (int k = i; k < t->n; k++) {
                slot_cb(rc, NULL, &t->slots[k]);
            }
            return 0;
        }
    }
    return 0;
}

static void fin_simple(struct txn *t)
{
    struct ivr_store_result r = { .status = t->first_err, .error = t->errmsg };
    json_t *row = json_array_get(t->rows, 0);
    if (r.status == 0 && row == NULL) {
        r.status = ERR_NOTFOUND;
        r.error = "no such flow or revision";
    }
    if (row != NULL) {
        const char *a = json_string_value(json_array_get(row, 0));
        r.id = a ? strtoll(a, NULL, 10) : 0;
        const char *b = json_string_value(json_array_get(row, 1));
        r.revision = b ? (int)strtol(b, NULL, 10) : 0;
        r.definition = json_string_value(json_array_get(row, 2));
        r.stamp = json_string_value(json_array_get(row, 3));
    }
    t->cb(t->arg, &r);
    ivr__txn_free(t);
}

struct txn *ivr__txn_new(struct db_pool *pool, ivr_store_cb *cb, void *arg)
{
    struct txn *t = calloc(1, sizeof(*t));
    if (t != NULL) {
        t->pool = pool;
        t->cb = cb;
        t->arg = arg;
        t->fin = fin_simple;
    }
    return t;
}

/* Runs one statement in a tenant transaction; its first row feeds the result. */
static int one(struct db_pool *pool, long long tenant, long long actor, const char *sql,
               const char *const *params, int np, ivr_store_cb *cb, void *arg)
{
    struct txn *t = ivr__txn_new(pool, cb, arg);
    const char *const sqls[1] = { sql };
    const char *pp[1][6] = { { NULL } };
    int nps[1] = { np };
    if (t == NULL) {
        return ERR_NOMEM;
    }
    for (int i = 0; i < np && i < 6; i++) {
        pp[0][i] = params[i];
    }
    int rc = ivr__txn_run(t, tenant, actor, 1, sqls, (const char *const(*)[6])pp, nps, 0);
    if (rc != 0) {
        ivr__txn_free(t);
    }
    return rc;
}

/* The verdict of the validator on text as (valid, report JSON text). */
static char *verdict(const char *text, bool publish, bool *valid)
{
    struct ivr_load_options opt = { .publish = publish };
    struct ivr_report *r = NULL;
    int rc = ivr_flow_load(text, strlen(text), &opt, NULL, &r);
    *valid = rc == 0;
    json_t *j = r ? ivr_report_to_json(r) : NULL;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    ivr_report_free(r);
    return s;
}

int ivr_store_create(struct db_pool *pool, long long tenant, long long user, const char *name,
                     const char *definition, ivr_store_cb *cb, void *arg)
{
    char ten[32], usr[32];
    bool valid;
    char *rep = verdict(definition, false, &valid);
    snprintf(ten, sizeof(ten), "%lld", tenant);
    snprintf(usr, sizeof(usr), "%lld", user);
    const char *p[6] = { ten, name, definition, valid ? "true" : "false", rep, usr };
    int rc = one(pool, tenant, user,
                 "INSERT INTO ivr_flows (tenant_id, name, draft, draft_valid, draft_errors, "
                 "draft_updated_by) VALUES ($1, $2, $3::json, $4, $5::jsonb, $6) "
                 "RETURNING id, 0, NULL, draft_updated_at",
                 p, 6, cb, arg);
    free(rep);
    return rc;
}

int ivr_store_save_draft(struct db_pool *pool, long long tenant, long long user, long long flow_id,
                         const char *definition, ivr_store_cb *cb, void *arg)
{
    char ten[32], usr[32], fid[32];
    bool valid;
    char *rep = verdict(definition, false, &valid);
    snprintf(ten, sizeof(ten), "%lld", tenant);
    snprintf(usr, sizeof(usr), "%lld", user);
    snprintf(fid, sizeof(fid), "%lld", flow_id);
    const char *p[6] = { ten, fid, definition, valid ? "true" : "false", rep, usr };
    int rc = one(pool, tenant, user,
                 "UPDATE ivr_flows SET draft = $3::json, draft_valid = $4, draft_errors = "
                 "$5::jsonb, draft_updated_by = $6, draft_updated_at = clock_timestamp() "
                 "WHERE tenant_id = $1 AND id = $2 RETURNING id, latest_revision, NULL, "
                 "draft_updated_at",
                 p, 6, cb, arg);
    free(rep);
    return rc;
}

int ivr_store_load(struct db_pool *pool, long long tenant, long long flow_id, int revision,
                   ivr_store_cb *cb, void *arg)
{
    char ten[32], fid[32], rev[16];
    snprintf(ten, sizeof(ten), "%lld", tenant);
    snprintf(fid, sizeof(fid), "%lld", flow_id);
    snprintf(rev, sizeof(rev), "%d", revision);
    const char *p[3] = { ten, fid, rev };
    if (revision < 0) {
        return one(pool, tenant, 0,
                   "SELECT id, latest_revision, draft::text, draft_updated_at FROM ivr_flows "
                   "WHERE tenant_id = $1 AND id = $2",
                   p, 2, cb, arg);
    }
    if (revision == 0) {
        return one(pool, tenant, 0,
                   "SELECT f.id, r.revision, r.definition::text, r.published_at FROM ivr_flows f "
                   "JOIN ivr_flow_revisions r ON r.flow_id = f.id AND r.revision = "
                   "f.published_revision WHERE f.tenant_id = $1 AND f.id = $2",
                   p, 2, cb, arg);
    }
    return one(pool, tenant, 0,
               "SELECT flow_id, revision, definition::text, published_at FROM ivr_flow_revisions "
               "WHERE tenant_id = $1 AND flow_id = $2 AND revision = $3::int",
               p, 3, cb, arg);
}

/* ---------------------------------------------------------------------- */
/* Publish                                                                 */
/* ---------------------------------------------------------------------- */

static void publish_done(struct txn *t)
{
    struct ivr_store_result r = { .status = t->first_err, .error = t->errmsg, .id = t->flow_id };
    json_t *row = json_array_get(t->rows, 0);
    if (r.status == 0 && row == NULL) {
        r.status = ERR_CONFLICT;
        r.error = "the draft changed while it was being published; publish again";
    }
    if (row != NULL) {
        r.revision = (int)strtol(json_string_value(json_array_get(row, 0)), NULL, 10);
    }
    t->cb(t->arg, &r);
    ivr__txn_free(t);
}

struct pub {
    struct db_pool *pool;
    long long tenant, user, flow_id;
    char *message;
    ivr_store_cb *cb;
    void *arg;
};

static void publish_loaded(void *arg, const struct ivr_store_result *res)
{
    struct pub *p = arg;
    struct ivr_store_result r = { .status = res->status, .error = res->error, .id = p->flow_id };
    char *rep = NULL;
    bool valid = false;
    if (res->status == 0) {
        rep = verdict(res->definition ? res->definition : "", true, &valid);
        if (!valid) {
            r.status = ERR_INVAL;
            r.error = "the draft has errors; fix them before publishing";
            r.report = rep;
        }
    }
    if (r.status != 0) {
        p->cb(p->arg, &r);
        goto out;
    }
    struct txn *t = ivr__txn_new(p->pool, p->cb, p->arg);
    if (t == NULL) {
        r.status = ERR_NOMEM;
        p->cb(p->arg, &r);
        goto out;
    }
    t->fin = publish_done;
    t->flow_id = p->flow_id;
    char ten[32], fid[32], usr[32];
    snprintf(ten, sizeof(ten), "%lld", p->tenant);
    snprintf(fid, sizeof(fid), "%lld", p->flow_id);
    snprintf(usr, sizeof(usr), "%lld", p->user);
    /* One statement: the next number, the immutable copy and the pointer move together. */
    const char *const sqls[2] = {
        "WITH bump AS (UPDATE ivr_flows SET latest_revision = latest_revision + 1, "
        "draft_valid = true, draft_errors = $5::jsonb "
        "WHERE tenant_id = $1 AND id = $2 AND draft_updated_at = $3::timestamptz "
        "RETURNING tenant_id, id, latest_revision, draft), "
        "ins AS (INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition, "
        "message, published_by) SELECT tenant_id, id, latest_revision, draft, $4, $6 FROM bump "
        "RETURNING revision) SELECT revision FROM ins",
        /* Matches only when the first statement did (same draft stamp). */
        "UPDATE ivr_flows SET published_revision = latest_revision "
        "WHERE tenant_id = $1 AND id = $2 AND draft_updated_at = $3::timestamptz",
    };
    const char *pp[2][6] = { { ten, fid, res->stamp, p->message, rep, usr },
                             { ten, fid, res->stamp, NULL, NULL, NULL } };
    int nps[2] = { 6, 3 };
    int rc = ivr__txn_run(t, p->tenant, p->user, 2, sqls, (const char *const(*)[6])pp, nps, 0);
    if (rc != 0) {
        ivr__txn_free(t);
        r.status = rc;
        r.error = err_str(rc);
        p->cb(p->arg, &r);
    }
out:
    free(rep);
    free(p->message);
    free(p);
}

int ivr_store_publish(struct db_pool *pool, long long tenant, long long user, long long flow_id,
                      const char *message, ivr_store_cb *cb, void *arg)
{
    struct pub *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->message = strdup(message ? message : "")) == NULL) {
        free(p);
        return ERR_NOMEM;
    }
    p->pool = pool;
    p->tenant = tenant;
    p->user = user;
    p->flow_id = flow_id;
    p->cb = cb;
    p->arg = arg;
    int rc = ivr_store_load(pool, tenant, flow_id, -1, publish_loaded, p);
    if (rc != 0) {
        free(p->message);
        free(p);
    }
    return rc;
}
