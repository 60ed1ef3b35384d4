/* SPDX-License-Identifier: MIT */
/*
 * The campaign module's database side: state changes, contact leases and
 * the attempt protocol, all asynchronous on core/db.
 *
 * Every operation is one short transaction sent pipelined in one go on the
 * caller's db_conn: BEGIN, the context (app.tenant_id, app.actor,
 * app.reason with set_config(..., true), or SET LOCAL ROLE dialer_platform
 * for the cross-tenant reconciliation list), one statement, COMMIT. The
 * four queries are queued together, so they run in order on one session;
 * the connection is pinned while they are in flight when it is free to pin
 * (a dropped session then fails the rest instead of running them outside
 * the transaction). If the statement fails, COMMIT ends the aborted
 * transaction (the server answers ROLLBACK) and the first error is reported.
 *
 * The "never dial twice" argument is in docs/campaign.md; the statements
 * below are its steps: the lease hands a contact to one owner; attempt_begin
 * moves it from leased-by-me to dialing and writes the attempt row in one
 * statement (or does nothing when the lease was lost); the dialer originates
 * only after that commit; attempt_finish ends the attempt once
 * (ended_at IS NULL guard) and frees the contact; a dialing contact is never
 * leased again until its attempt is finished (the lease query takes only
 * pending and leased rows), and unfinished attempts are listed per node for
 * reconciliation.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

enum { TX_STEPS = 4, TX_MAIN = 2 };

struct tx;
typedef int tx_main_fn(struct tx *t, PGresult *res);
typedef void tx_done_fn(struct tx *t);

struct tx_step {
    struct tx *tx;
    int idx;
};

/* One transaction in flight; freed by tx_finish after its last callback. */
struct tx {
    struct db_conn *c;
    bool pinned;
    int pending;
    int status;
    struct tx_step steps[TX_STEPS];
    tx_main_fn *on_main; /* reads the statement's result; returns a status */
    tx_done_fn *done;    /* delivers to the user; must not free t */
    void *user_cb;
    void *user_arg;
    int64_t count;
    struct campaign_batch *batch;
    struct campaign_inflight *rows; /* campaign_store_inflight */
    size_t nrows;
    struct campaign_auto_change *changes; /* campaign_store_auto */
    enum campaign_auto_kind kind;
    char *text; /* campaign_store_attempt_begin: contact.* as JSON text */
};

static int map_db_error(int status, PGresult *res)
{
    if (status != ERR_DB) {
        return status;
    }
    const char *st = db_result_sqlstate(res);
    if (strcmp(st, "23514") == 0 || strcmp(st, "40001") == 0) {
        return ERR_CONFLICT; /* check violation (state guard), serialization */
    }
    if (strcmp(st, "23505") == 0) {
        return ERR_EXISTS;
    }
    if (strcmp(st, "23503") == 0) {
        return ERR_NOTFOUND;
    }
    LOG_WARN(CAMPAIGN, "database error sqlstate=%s msg=\"%s\"", st,
             res ? PQresultErrorMessage(res) : "");
    return ERR_DB;
}

static void tx_step_cb(int status, PGresult *res, void *arg)
{
    struct tx_step *st = arg;
    struct tx *t = st->tx;
    if (status != 0 && t->status == 0) {
        t->status = map_db_error(status, res);
    } else if (status == 0 && st->idx == TX_MAIN && t->status == 0 && t->on_main) {
        t->status = t->on_main(t, res);
    }
    if (--t->pending > 0) {
        return;
    }
    if (t->pinned) {
        db_conn_unpin(t->c);
    }
    t->done(t);
    campaign_batch_free(t->batch);
    free(t->rows);
    free(t->changes);
    free(t->text);
    free(t);
}

/* clang-format off */
static const char LEASE_SQL[] =
    "WITH run AS ("
    " SELECT EXISTS (SELECT 1 FROM campaign_lists cl JOIN campaigns k ON k.id = cl.campaign_id"
    "                WHERE cl.list_id = $1::bigint AND cl.campaign_id = $5::bigint"
    "                  AND cl.active AND k.state = 'running') AS ok),"
    " expired AS ("
    " SELECT id, 0 AS k FROM contacts"
    " WHERE list_id = $1::bigint AND state = 'leased' AND next_attempt_at <= now()"
    "   AND (SELECT ok FROM run)"
    " ORDER BY next_attempt_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"
    " due AS ("
    " SELECT id, 1 AS k FROM contacts"
    " WHERE list_id = $1::bigint AND state = 'pending' AND next_attempt_at <= now()"
    "   AND (SELECT ok FROM run)"
    " ORDER BY next_attempt_at LIMIT greatest(0, $2::int - (SELECT count(*) FROM expired))"
    " FOR UPDATE SKIP LOCKED),"
    " ready AS (SELECT id, k FROM expired UNION ALL SELECT id, k FROM due LIMIT $2::int) "
    "UPDATE contacts c SET state = 'leased', lease_owner = $3,"
    " lease_expires_at = now() + make_interval(secs => $4::int),"
    " next_attempt_at = now() + make_interval(secs => $4::int) "
    "FROM ready WHERE c.id = ready.id "
    "RETURNING c.id,"
    " CASE WHEN c.next_number BETWEEN 1 AND cardinality(c.alt_numbers)"
    "      THEN c.alt_numbers[c.next_number] ELSE c.number END,"
    " c.attempts, coalesce(c.time_zones[1], ''),"
    " (extract(epoch FROM c.lease_expires_at) * 1000000)::bigint, c.tenant_id,"
    " CASE WHEN c.next_number <= cardinality(c.alt_numbers) THEN c.next_number ELSE 0 END,"
    " cardinality(c.alt_numbers),"
    " (SELECT count(*) FROM call_attempts a WHERE a.contact_id = c.id"
    "   AND a.started_at > now() - interval '24 hours'"
    "   AND a.outcome IS DISTINCT FROM 'not_dialed'),"
    " ready.k,"
    " coalesce(c.region, ''), array_to_string(c.time_zones, ','), coalesce(c.tz_source, '')";
static const char BEGIN_SQL[] =
    "WITH k AS (UPDATE contacts SET state = 'dialing', attempts = attempts + 1,"
    "           last_attempt_at = now(), block_reason = NULL"
    "           WHERE id = $1::bigint AND lease_owner = $2 AND state = 'leased'"
    "           RETURNING id, tenant_id, attempts, number, external_id, extension, country,"
    "                     region, postal_code, custom),"
    " i AS (INSERT INTO call_attempts (id, tenant_id, campaign_id, contact_id, number,"
    "                                  attempt_no, caller_id, trunk, dialer_node,"
    "                                  dialer_process)"
    "       SELECT $3::uuid, k.tenant_id, $4::bigint, k.id, $5, k.attempts, $6, $7, $2, $8"
    "       FROM k RETURNING id) "
    "SELECT i.id, CASE WHEN $9::bool THEN"
    " (jsonb_build_object('id', k.id, 'number', k.number, 'external_id', k.external_id,"
    "  'extension', k.extension, 'country', k.country, 'region', k.region,"
    "  'postal_code', k.postal_code, 'attempts', k.attempts)"
    "  || coalesce(k.custom::jsonb, '{}'::jsonb))::text END "
    "FROM i CROSS JOIN k";
static const char FINISH_SQL[] =
    "WITH a AS (UPDATE call_attempts SET state = $2, ended_at = now(), outcome = $3,"
    "           hangup_cause = $4::smallint, sip_code = $5::smallint, disposition = $6"
    "           WHERE id = $1::uuid AND ended_at IS NULL RETURNING contact_id),"
    " u AS (UPDATE contacts c SET state = $7, lease_owner = NULL, lease_expires_at = NULL,"
    "       next_attempt_at = coalesce(to_timestamp($8::bigint / 1000000.0), "
    "c.next_attempt_at),"
    "       last_outcome = $3, last_disposition = coalesce($6, c.last_disposition),"
    "       next_number = $9::smallint"
    "       FROM a WHERE c.id = a.contact_id AND c.state = 'dialing' RETURNING c.id) "
    "SELECT (SELECT count(*) FROM a) + 0 * (SELECT count(*) FROM u),"
    " EXISTS (SELECT 1 FROM call_attempts WHERE id = $1::uuid)";
/* clang-format on */

static const char CTX_TENANT[] = "SELECT set_config('app.tenant_id', $1, true), "
                                 "set_config('app.actor', $2, true), "
                                 "set_config('app.reason', coalesce($3, ''), true)";

/*
 * The statements of every attempt (its first and last steps and their
 * tenant context), prepared once per connection by
 * campaign_store_prepare(): on a connection that has them the transaction
 * names them instead of sending their text, so PostgreSQL neither parses
 * nor plans them again for each call. Other connections (tests, tools) send
 * the text as before. The lease is not among them: its plan depends on
 * its LIMIT's value (see campaign_store_lease), which a generic plan would
 * not see.
 */
static const struct {
    const char *name;
    const char *sql;
    int nparams;
} PREPARED[] = {
    { "campaign_ctx_tenant", CTX_TENANT, 3 },
    { "campaign_attempt_begin", BEGIN_SQL, 9 },
    { "campaign_attempt_finish", FINISH_SQL, 9 },
};

int campaign_store_prepare(struct db_conn *c)
{
    for (size_t i = 0; i < sizeof(PREPARED) / sizeof(PREPARED[0]); i++) {
        int rc = db_prepare(c, PREPARED[i].name, PREPARED[i].sql, PREPARED[i].nparams, NULL);
        if (rc != 0 && rc != ERR_EXISTS) {
            return rc;
        }
    }
    return 0;
}

/* The query for sql on c: by name when c has it prepared, else its text. */
static void query_for(struct db_conn *c, struct db_query *q, const char *sql)
{
    q->sql = sql;
    for (size_t i = 0; i < sizeof(PREPARED) / sizeof(PREPARED[0]); i++) {
        if (PREPARED[i].sql == sql && db_conn_has_stmt(c, PREPARED[i].name)) {
            q->sql = NULL;
            q->stmt = PREPARED[i].name;
            return;
        }
    }
}

/*
 * Sends the transaction: BEGIN, ctx (with nctx params), main (nmain params),
 * COMMIT. On an error return nothing was sent and t is freed.
 */
static int tx_send(struct tx *t, const char *ctx, int nctx, const char *const *ctxp,
                   const char *main, int nmain, const char *const *mainp)
{
    struct db_query qs[TX_STEPS] = {
        { .sql = "BEGIN" },
        { .nparams = nctx, .params = ctxp },
        { .nparams = nmain, .params = mainp },
        { .sql = "COMMIT" },
    };
    query_for(t->c, &qs[1], ctx);
    query_for(t->c, &qs[2], main);
    t->pinned = db_conn_pin(t->c) == 0;
    for (int i = 0; i < TX_STEPS; i++) {
        struct db_query q = qs[i];
        t->steps[i] = (struct tx_step){ .tx = t, .idx = i };
        q.cb = tx_step_cb;
        q.arg = &t->steps[i];
        int rc = db_query_send(t->c, &q, NULL);
        if (rc != 0) {
            if (i == 0) {
                if (t->pinned) {
                    db_conn_unpin(t->c);
                }
                campaign_batch_free(t->batch);
                free(t);
                return rc;
            }
            /* cannot happen after a first accepted send short of shutdown: the rest fail */
            t->status = t->status ? t->status : rc;
            break;
        }
        t->pending++;
    }
    return 0;
}

static int tx_send_tenant(struct tx *t, const struct campaign_actor *who, const char *main,
                          int nmain, const char *const *mainp)
{
    char tid[24];
    snprintf(tid, sizeof(tid), "%" PRId64, who->tenant_id);
    const char *p[3] = { tid, who->actor ? who->actor : "campaign", who->reason };
    return tx_send(t, CTX_TENANT, 3, p, main, nmain, mainp);
}

static struct tx *tx_new(struct db_conn *c, tx_main_fn *on_main, tx_done_fn *done, void *cb,
                         void *arg)
{
    struct tx *t = calloc(1, sizeof(*t));
    if (t) {
        t->c = c;
        t->on_main = on_main;
        t->done = done;
        t->user_cb = cb;
        t->user_arg = arg;
    }
    return t;
}

static void done_status(struct tx *t)
{
    campaign_done_cb *cb = (campaign_done_cb *)t->user_cb;
    if (cb) {
        cb(t->status, t->user_arg);
    }
}

static void done_count(struct tx *t)
{
    campaign_count_cb *cb = (campaign_count_cb *)t->user_cb;
    if (cb) {
        cb(t->status, t->status ? 0 : t->count, t->user_arg);
    }
}

static int64_t field_i64(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        return 0;
    }
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int main_affected(struct tx *t, PGresult *res)
{
    t->count = strtoll(PQcmdTuples(res), NULL, 10);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */

static int main_set_state(struct tx *t, PGresult *res)
{
    (void)t;
    if (PQntuples(res) != 1) {
        return ERR_INTERNAL;
    }
    if (field_i64(res, 0, 0) == 1) {
        return 0;
    }
    return strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? ERR_CONFLICT : ERR_NOTFOUND;
}

int campaign_store_set_state(struct db_conn *c, const struct campaign_actor *who,
                             int64_t campaign_id, enum campaign_state from, enum campaign_state to,
                             campaign_done_cb *cb, void *arg)
{
    static const char sql[] =
        "WITH u AS (UPDATE campaigns SET state = $2 WHERE id = $1::bigint AND state = $3 "
        "RETURNING id) "
        "SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM campaigns WHERE id = $1::bigint)";
    char id[24];
    if (!c || !who) {
        return ERR_INVAL;
    }
    if (!campaign_state_allowed(from, to)) {
        return ERR_CONFLICT;
    }
    struct tx *t = tx_new(c, main_set_state, done_status, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    snprintf(id, sizeof(id), "%" PRId64, campaign_id);
    const char *p[3] = { id, campaign_state_name(to), campaign_state_name(from) };
    return tx_send_tenant(t, who, sql, 3, p);
}

/* ------------------------------------------------------------------------ */
/* Leases                                                                    */

void campaign_batch_free(struct campaign_batch *b)
{
    free(b);
}

static int main_lease(struct tx *t, PGresult *res)
{
    int n = PQntuples(res);
    struct campaign_batch *old = t->batch;
    struct campaign_batch *b = malloc(sizeof(*b) + (size_t)n * sizeof(b->contacts[0]));
    int64_t now = clock_wall_us();
    if (!b) {
        return ERR_NOMEM;
    }
    *b = *old;
    free(old);
    t->batch = b;
    for (int i = 0; i < n; i++) {
        struct campaign_contact *x = &b->contacts[i];
        memset(x, 0, sizeof(*x));
        x->id = field_i64(res, i, 0);
        x->campaign_id = b->campaign_id;
        snprintf(x->number, sizeof(x->number), "%s", PQgetvalue(res, i, 1));
        x->attempts = (int)field_i64(res, i, 2);
        snprintf(x->zone, sizeof(x->zone), "%s", PQgetvalue(res, i, 3));
        x->tenant_id = field_i64(res, i, 5);
        x->number_idx = (int)field_i64(res, i, 6);
        x->nalt = (int)field_i64(res, i, 7);
        x->attempts_24h = (int)field_i64(res, i, 8);
        /* an unknown stored zone or state (ERR_NOTFOUND) leaves the area code's place */
        int prc =
            compliance_contact_place(x->number, PQgetvalue(res, i, 10), PQgetvalue(res, i, 11),
                                     PQgetvalue(res, i, 12), &x->place);
        x->has_place = prc == 0 || prc == ERR_NOTFOUND;
        /* a reclaimed contact goes before the rest of the batch in the scheduler */
        x->due_us = field_i64(res, i, 9) == 0 ? now - 1 : now;
        b->lease_expires_us = field_i64(res, i, 4);
    }
    b->n = (size_t)n;
    return 0;
}

static void done_lease(struct tx *t)
{
    campaign_batch_cb *cb = (campaign_batch_cb *)t->user_cb;
    struct campaign_batch *b = t->batch;
    t->batch = NULL;
    b->status = t->status;
    if (t->status) {
        b->n = 0;
    }
    cb(b, t->user_arg);
}

int campaign_store_lease(struct db_conn *c, const struct campaign_actor *who,
                         const struct campaign_lease_req *req, campaign_batch_cb *cb, void *arg)
{
    /*
     * Expired leases first (a dead node's contacts: they were the first due
     * when it leased them), oldest expiry first, through contacts_reclaim_idx
     * (leased rows only); then pending contacts by due time through
     * contacts_lease_idx, for what the batch has left. A leased contact's
     * next_attempt_at is its lease expiry, so one ORDER BY next_attempt_at
     * over both put reclaimed contacts behind the whole backlog. The LIMIT on
     * ready tells the planner the batch is small (the second part's LIMIT is
     * an expression): without it the join back to contacts became a hash
     * join over the whole table (2.5 s on a million contacts, not 1 ms).
     */
    char list[24], batch[16], lease[16], camp[24];
    if (!c || !who || !req || !cb || !req->owner || req->batch < 1 || req->batch > 10000 ||
        req->lease_s < 1 || req->lease_s > 3600) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_lease, done_lease, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    t->batch = calloc(1, sizeof(*t->batch));
    if (!t->batch) {
        free(t);
        return ERR_NOMEM;
    }
    t->batch->campaign_id = req->campaign_id;
    t->batch->list_id = req->list_id;
    snprintf(list, sizeof(list), "%" PRId64, req->list_id);
    snprintf(batch, sizeof(batch), "%d", req->batch);
    snprintf(lease, sizeof(lease), "%d", req->lease_s);
    snprintf(camp, sizeof(camp), "%" PRId64, req->campaign_id);
    const char *p[5] = { list, batch, req->owner, lease, camp };
    return tx_send_tenant(t, who, LEASE_SQL, 5, p);
}

/* "{1,2,3}" for n ids into a new string. */
static char *id_array(const int64_t *v, size_t n)
{
    size_t cap = 2 + n * 21 + 1, len = 0;
    char *s = malloc(cap);
    if (!s) {
        return NULL;
    }
    s[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, cap - len, "%s%" PRId64, i ? "," : "", v[i]);
    }
    snprintf(s + len, cap - len, "}");
    return s;
}

/* A text[] literal with each element quoted, NULL as NULL. */
static char *text_array(const char *const *v, size_t n)
{
    size_t cap = 3, len = 0;
    for (size_t i = 0; i < n; i++) {
        cap += (v && v[i] ? 2 * strlen(v[i]) + 3 : 4) + 1;
    }
    char *s = malloc(cap);
    if (!s) {
        return NULL;
    }
    s[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) {
            s[len++] = ',';
        }
        if (!v || !v[i]) {
            memcpy(s + len, "NULL", 4);
            len += 4;
            continue;
        }
        s[len++] = '"';
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\') {
                s[len++] = '\\';
            }
            s[len++] = *p;
        }
        s[len++] = '"';
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

int campaign_store_renew(struct db_conn *c, const struct campaign_actor *who, const char *owner,
                         const int64_t *ids, size_t n, int lease_s, campaign_count_cb *cb,
                         void *arg)
{
    static const char sql[] =
        "UPDATE contacts SET lease_expires_at = now() + make_interval(secs => $3::int),"
        " next_attempt_at = now() + make_interval(secs => $3::int) "
        "WHERE id = ANY ($1::bigint[]) AND lease_owner = $2 AND state = 'leased'";
    char lease[16];
    if (!c || !who || !owner || (!ids && n) || lease_s < 1 || lease_s > 3600) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_affected, done_count, (void *)cb, arg);
    char *arr = id_array(ids, n);
    if (!t || !arr) {
        free(t);
        free(arr);
        return ERR_NOMEM;
    }
    snprintf(lease, sizeof(lease), "%d", lease_s);
    const char *p[3] = { arr, owner, lease };
    int rc = tx_send_tenant(t, who, sql, 3, p);
    free(arr);
    return rc;
}

int campaign_store_release(struct db_conn *c, const struct campaign_actor *who, const char *owner,
                           const int64_t *ids, const int64_t *due_us, const char *const *reasons,
                           size_t n, campaign_count_cb *cb, void *arg)
{
    static const char sql[] =
        "UPDATE contacts c SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
        " next_attempt_at = CASE WHEN u.due = 0 THEN now()"
        "                        ELSE to_timestamp(u.due / 1000000.0) END,"
        " block_reason = u.reason "
        "FROM unnest($1::bigint[], $3::bigint[], $4::text[]) AS u(id, due, reason) "
        "WHERE c.id = u.id AND c.lease_owner = $2 AND c.state = 'leased'";
    if (!c || !who || !owner || (!ids && n)) {
        return ERR_INVAL;
    }
    int64_t *dues = calloc(n ? n : 1, sizeof(*dues));
    if (dues && due_us) {
        memcpy(dues, due_us, n * sizeof(*dues));
    }
    struct tx *t = tx_new(c, main_affected, done_count, (void *)cb, arg);
    char *a1 = id_array(ids, n), *a3 = dues ? id_array(dues, n) : NULL;
    char *a4 = text_array(reasons, n);
    int rc = ERR_NOMEM;
    if (t && a1 && a3 && a4) {
        const char *p[4] = { a1, owner, a3, a4 };
        rc = tx_send_tenant(t, who, sql, 4, p);
        t = NULL;
    }
    free(t);
    free(dues);
    free(a1);
    free(a3);
    free(a4);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Attempts                                                                  */

void campaign_attempt_id_new(char id[37])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(id, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int main_begun(struct tx *t, PGresult *res)
{
    if (PQntuples(res) != 1) {
        return ERR_CONFLICT;
    }
    if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1)) {
        t->text = strdup(PQgetvalue(res, 0, 1));
        if (t->text == NULL) {
            return ERR_NOMEM;
        }
    }
    return 0;
}

static void done_begun(struct tx *t)
{
    campaign_begun_cb *cb = (campaign_begun_cb *)t->user_cb;
    char *text = t->status == 0 ? t->text : NULL;
    t->text = NULL;
    if (cb) {
        cb(t->status, text, t->user_arg);
    } else {
        free(text);
    }
}

/*
 * contact.* (the flow's view of the contact: number, external id, place,
 * attempts counted with this one, then the list's custom fields) comes from
 * the row the statement updates, so it is the committed row and costs no
 * second read: a call never reaches its flow without it.
 */
int campaign_store_attempt_begin(struct db_conn *c, const struct campaign_actor *who,
                                 const struct campaign_attempt *a, campaign_begun_cb *cb, void *arg)
{
    char contact[24], camp[24];
    if (!c || !who || !a || !a->owner || !campaign_e164_valid(a->number)) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_begun, done_begun, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    snprintf(contact, sizeof(contact), "%" PRId64, a->contact_id);
    snprintf(camp, sizeof(camp), "%" PRId64, a->campaign_id);
    const char *p[9] = { contact,  a->owner,   a->id,
                         camp,     a->number,  a->caller_id,
                         a->trunk, a->process, a->with_contact ? "t" : "f" };
    return tx_send_tenant(t, who, BEGIN_SQL, 9, p);
}

static int main_finish(struct tx *t, PGresult *res)
{
    (void)t;
    if (PQntuples(res) != 1) {
        return ERR_INTERNAL;
    }
    if (field_i64(res, 0, 0) == 1) {
        return 0;
    }
    return strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? ERR_EXISTS : ERR_NOTFOUND;
}

int campaign_store_attempt_finish(struct db_conn *c, const struct campaign_actor *who,
                                  const struct campaign_attempt_end *e, campaign_done_cb *cb,
                                  void *arg)
{
    char cause[8], sip[8], next[24], num[8];
    if (!c || !who || !e || !e->id || !e->outcome || e->next_number < 0 || e->next_number > 9) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_finish, done_status, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    snprintf(cause, sizeof(cause), "%d", e->hangup_cause);
    snprintf(sip, sizeof(sip), "%d", e->sip_code);
    snprintf(next, sizeof(next), "%" PRId64, e->next_us);
    snprintf(num, sizeof(num), "%d", e->next_number);
    const char *state = e->retry ? "pending" : strcmp(e->outcome, "human") == 0 ? "done" : "failed";
    const char *p[9] = {
        e->id,
        e->failed ? "failed" : "ended",
        e->outcome,
        e->hangup_cause >= 0 ? cause : NULL,
        e->sip_code >= 0 ? sip : NULL,
        e->disposition,
        state,
        e->retry ? next : NULL,
        num,
    };
    return tx_send_tenant(t, who, FINISH_SQL, 9, p);
}

static int main_inflight(struct tx *t, PGresult *res)
{
    int n = PQntuples(res);
    struct campaign_inflight *v = calloc(n ? (size_t)n : 1, sizeof(*v));
    if (!v) {
        return ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        snprintf(v[i].id, sizeof(v[i].id), "%s", PQgetvalue(res, i, 0));
        v[i].tenant_id = field_i64(res, i, 1);
        v[i].campaign_id = field_i64(res, i, 2);
        v[i].contact_id = field_i64(res, i, 3);
        snprintf(v[i].state, sizeof(v[i].state), "%s", PQgetvalue(res, i, 4));
        if (PQnfields(res) > 9) {
            v[i].attempt_no = (int)field_i64(res, i, 5);
            v[i].started_us = field_i64(res, i, 6);
            snprintf(v[i].number, sizeof(v[i].number), "%s", PQgetvalue(res, i, 7));
            snprintf(v[i].caller_id, sizeof(v[i].caller_id), "%s", PQgetvalue(res, i, 8));
            snprintf(v[i].trunk, sizeof(v[i].trunk), "%s", PQgetvalue(res, i, 9));
        }
    }
    t->rows = v;
    t->nrows = (size_t)n;
    return 0;
}

static void done_inflight(struct tx *t)
{
    campaign_inflight_cb *cb = (campaign_inflight_cb *)t->user_cb;
    cb(t->status, t->status ? NULL : t->rows, t->status ? 0 : t->nrows, t->user_arg);
}

int campaign_store_inflight(struct db_conn *c, const char *node, campaign_inflight_cb *cb,
                            void *arg)
{
    static const char sql[] =
        "SELECT id, tenant_id, campaign_id, contact_id, state FROM call_attempts "
        "WHERE dialer_node = $1 AND ended_at IS NULL ORDER BY started_at";
    if (!c || !node || !cb) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_inflight, done_inflight, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    const char *p[1] = { node };
    return tx_send(t, "SET LOCAL ROLE dialer_platform", 0, NULL, sql, 1, p);
}

/*
 * Adoption: the attempts change holder (dialer_process) in one UPDATE guarded
 * by the holder they had and ended_at IS NULL, so each goes to exactly one
 * process; a second process trying at the same moment waits on the row lock
 * and then finds the guard false.
 */
#define ADOPT_COLS                                                                          \
    "id, tenant_id, campaign_id, contact_id, state, attempt_no,"                            \
    " (extract(epoch FROM started_at) * 1000000)::bigint, number, coalesce(caller_id, '')," \
    " coalesce(trunk, '')"

int campaign_store_adopt(struct db_conn *c, const struct campaign_adopt_req *req,
                         campaign_inflight_cb *cb, void *arg)
{
    static const char restart_sql[] =
        "UPDATE call_attempts SET dialer_process = $2 "
        "WHERE ended_at IS NULL AND (left(dialer_process, length($1) + 1) = $1 || '/'"
        " OR (dialer_node = $1 AND dialer_process IS NULL)) "
        "RETURNING " ADOPT_COLS;
    static const char takeover_sql[] = "UPDATE call_attempts SET dialer_process = $2 "
                                       "WHERE dialer_process = $1 AND ended_at IS NULL "
                                       "RETURNING " ADOPT_COLS;
    if (!c || !req || !cb || !req->self || !*req->self || !req->node == !req->process ||
        (req->process && strcmp(req->process, req->self) == 0)) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_inflight, done_inflight, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    const char *p[2] = { req->node ? req->node : req->process, req->self };
    return tx_send(t, "SET LOCAL ROLE dialer_platform", 0, NULL,
                   req->node ? restart_sql : takeover_sql, 2, p);
}

/* ------------------------------------------------------------------------ */
/* Automatic state changes                                                   */

#define AT_NOW "to_timestamp($1::bigint / 1000000.0)"

/* clang-format off */
static const char AUTO_START_SQL[] =
    "UPDATE campaigns c SET state = 'running' "
    "WHERE c.state = 'scheduled' AND c.starts_at IS NOT NULL AND c.starts_at <= " AT_NOW " "
    "AND c.flow_id IS NOT NULL "
    "AND (c.flow_revision IS NOT NULL OR EXISTS (SELECT 1 FROM ivr_flows f "
    "     WHERE f.id = c.flow_id AND f.published_revision IS NOT NULL)) "
    "AND EXISTS (SELECT 1 FROM campaign_lists cl WHERE cl.campaign_id = c.id AND cl.active) "
    "RETURNING c.id, c.tenant_id";

static const char AUTO_COMPLETE_SQL[] =
    "UPDATE campaigns c SET state = 'completed' "
    "WHERE c.state = 'running' "
    "AND EXISTS (SELECT 1 FROM campaign_lists cl JOIN contacts k ON k.list_id = cl.list_id "
    "  WHERE cl.campaign_id = c.id AND cl.active) "
    "AND NOT EXISTS (SELECT 1 FROM campaign_lists cl JOIN contacts k ON k.list_id = cl.list_id "
    "  WHERE cl.campaign_id = c.id AND (k.state IN ('leased', 'dialing') OR (cl.active "
    "  AND k.state = 'pending' AND k.next_attempt_at < " AT_NOW " + $2::int * interval '1 day'))) "
    "RETURNING c.id, c.tenant_id";

/* clang-format on */

static int main_auto(struct tx *t, PGresult *res)
{
    int n = PQntuples(res);
    t->changes = calloc(n ? (size_t)n : 1, sizeof(*t->changes));
    if (t->changes == NULL) {
        return ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        t->changes[i].id = field_i64(res, i, 0);
        t->changes[i].tenant_id = field_i64(res, i, 1);
    }
    t->nrows = (size_t)n;
    return 0;
}

static void done_auto(struct tx *t)
{
    campaign_auto_cb *cb = (campaign_auto_cb *)t->user_cb;
    cb(t->status, t->kind, t->status ? NULL : t->changes, t->status ? 0 : t->nrows, t->user_arg);
}

int campaign_store_auto(struct db_conn *c, enum campaign_auto_kind kind, int64_t now_us,
                        campaign_auto_cb *cb, void *arg)
{
    static const char ctx[] = "SELECT set_config('role', 'dialer_platform', true), "
                              "set_config('app.actor', 'system', true), "
                              "set_config('app.reason', $1, true)";
    if (!c || !cb || (kind != CAMPAIGN_AUTO_START && kind != CAMPAIGN_AUTO_COMPLETE)) {
        return ERR_INVAL;
    }
    struct tx *t = tx_new(c, main_auto, done_auto, (void *)cb, arg);
    if (!t) {
        return ERR_NOMEM;
    }
    t->kind = kind;
    char now[24], never[16];
    snprintf(now, sizeof(now), "%" PRId64, now_us);
    snprintf(never, sizeof(never), "%d", CAMPAIGN_AUTO_NEVER_DAYS);
    const char *reason[1] = { kind == CAMPAIGN_AUTO_START ? "schedule: starts_at reached"
                                                          : "every contact final" };
    const char *p[2] = { now, never };
    return tx_send(t, ctx, 1, reason,
                   kind == CAMPAIGN_AUTO_START ? AUTO_START_SQL : AUTO_COMPLETE_SQL,
                   kind == CAMPAIGN_AUTO_START ? 1 : 2, p);
}
