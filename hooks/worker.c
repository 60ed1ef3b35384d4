/* SPDX-License-Identifier: MIT */
/*
 * hooks/worker: the delivery thread (hooks/hooks.h has the design).
 *
 * One loop, one small PostgreSQL pool and one curl multi client. Every
 * poll_ms a claim transaction (as dialer_platform) leases due rows,
 * round-robin over the enabled endpoints, each endpoint limited to
 * per_endpoint leases in flight; each leased row is signed and POSTed, and
 * its outcome is written back in its own transaction (which also keeps the
 * endpoint's failing_since and disables it when asked). A sweep every
 * minute fails pending rows past the max age and prunes finished rows.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/err.h"
#include "core/http.h"
#include "core/log.h"
#include "hooks/hooks.h"
#include "ivr/ivr.h"

enum {
    CLAIM_COLS = 12,
    LEASE_MARGIN_S = 10,
    SWEEP_MS = 60000,
    ERR_TEXT_MAX = 200,
    NODE_MAX = 128,
};

struct hooks {
    struct hooks_config cfg;
    char node[NODE_MAX + 1];
    char **allow; /* copies of cfg.allow */
    struct ev_loop *loop;
    ev_timer tick;
    ev_timer sweep;
    ev_async wake;
    pthread_t thread;
    bool running;
    atomic_int stopping;
    struct db_pool *db;
    struct http_client *http;
    struct ivr_http_backend *guard;
    bool claiming;
    bool sweeping;
    bool db_going;         /* db_pool_destroy runs: its callbacks must not touch the pool */
    int inflight;          /* requests and result writes owed */
    struct delivery *head; /* every delivery in flight (for stop) */
    struct delivery *wait, **wait_tail; /* results waiting for a free connection, FIFO */
    struct delivery *claimed;           /* leased by the claim in flight (not committed yet) */
    _Atomic uint64_t st_claimed;        /* statistics (relaxed) */
    _Atomic uint64_t st_delivered;      /* 2xx */
    _Atomic uint64_t st_failed;         /* attempts that did not deliver */
    _Atomic uint64_t st_inflight;       /* requests now */
};

/* One leased row, from the claim to its result write. */
struct delivery {
    struct hooks *h;
    struct delivery *prev, *next;
    void *xfer; /* the request in flight, NULL once done */
    char id[24];
    int64_t tenant;
    int attempts;
    int64_t retry_from_ms;
    char event_id[40];
    char type[65];
    char *url;
    char *body;
    long code;
    char err[ERR_TEXT_MAX + 1];
    bool ok;                /* 2xx */
    struct hooks_retry r;   /* when not ok */
    struct delivery *wnext; /* in h->wait: its result waits for a connection */
    struct delivery *cnext; /* in h->claimed: sent once the claim has committed */
    bool unsendable;        /* the secret did not open, or out of memory */
    char h_sig[128], h_ts[48], h_id[80], h_type[96]; /* request headers */
};

/* ------------------------------------------------------------ transactions */

static void result_drain(struct hooks *h);

typedef void tx_rows_cb(struct hooks *h, PGresult *res, void *arg);
typedef void tx_done_cb(struct hooks *h, int status, void *arg);

struct tx {
    struct hooks *h;
    struct db_conn *conn;
    int pending;
    int status;
    tx_rows_cb *rows;
    tx_done_cb *done;
    void *arg;
};

static void tx_cb(int status, PGresult *res, void *arg)
{
    struct tx *t = arg;
    if (status != 0 && t->status == 0) {
        t->status = status;
    }
    if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && t->rows != NULL &&
        t->status == 0) {
        t->rows(t->h, res, t->arg);
    }
    if (--t->pending > 0) {
        return;
    }
    struct hooks *h = t->h;
    if (!h->db_going) {
        db_pool_unpin(h->db, t->conn);
    }
    if (t->done != NULL) {
        t->done(h, t->status, t->arg);
    }
    free(t);
    result_drain(h);
}

/* BEGIN; SET LOCAL ROLE dialer_platform; sql; COMMIT on one pinned connection. */
static int tx_run(struct hooks *h, const char *sql, int n, const char *const *p, tx_rows_cb *rows,
                  tx_done_cb *done, void *arg)
{
    struct tx *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return ERR_NOMEM;
    }
    int rc = db_pool_pin(h->db, &t->conn);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->h = h;
    t->rows = rows;
    t->done = done;
    t->arg = arg;
    const struct db_query qs[4] = {
        { .sql = "BEGIN" },
        { .sql = "SET LOCAL ROLE dialer_platform" },
        { .sql = sql, .nparams = n, .params = p },
        { .sql = "COMMIT" },
    };
    for (int i = 0; i < 4; i++) {
        struct db_query q = qs[i];
        q.cb = tx_cb;
        q.arg = t;
        if (db_query_send(t->conn, &q, NULL) != 0) {
            if (i == 0) {
                db_pool_unpin(h->db, t->conn);
                free(t);
                return ERR_DISCONNECTED;
            }
            t->status = ERR_DISCONNECTED;
            break;
        }
        t->pending++;
    }
    return 0;
}

/* ------------------------------------------------------------ results */

/*
 * $1 id, $2 new status, $3 code, $4 error, $5 delay s, $6 owner,
 * $7 success, $8 gone, $9 disable-after s.
 * The endpoint row is written only when something about it changes (or
 * every 5 s at most), so a busy endpoint is not rewritten per delivery.
 */
static const char RESULT_SQL[] =
    "WITH d AS (UPDATE webhook_deliveries SET status = $2,"
    " finished_at = CASE WHEN $2 IN ('delivered', 'failed') THEN now() END,"
    " last_code = $3::smallint, last_error = $4,"
    " next_attempt_at = now() + make_interval(secs => $5::double precision),"
    " lease_owner = NULL, lease_expires_at = NULL"
    " WHERE id = $1::bigint AND status = 'sending' AND lease_owner = $6"
    " RETURNING endpoint_id),"
    " x AS (SELECT e.id, ($8::boolean OR (NOT $7::boolean AND coalesce(e.failing_since <"
    "   now() - make_interval(secs => $9::double precision), false))) AS off"
    "   FROM webhook_endpoints e JOIN d ON e.id = d.endpoint_id)"
    " UPDATE webhook_endpoints e SET"
    " failing_since = CASE WHEN $7::boolean THEN NULL ELSE coalesce(e.failing_since, now()) END,"
    " last_success_at = CASE WHEN $7::boolean THEN now() ELSE e.last_success_at END,"
    " last_failure_at = CASE WHEN $7::boolean THEN e.last_failure_at ELSE now() END,"
    " enabled = e.enabled AND NOT x.off,"
    " disabled_at = CASE WHEN e.enabled AND x.off THEN now() ELSE e.disabled_at END,"
    " disabled_reason = CASE WHEN NOT e.enabled OR NOT x.off THEN e.disabled_reason"
    "   WHEN $8::boolean THEN 'disabled: the endpoint answered 410 Gone'"
    "   ELSE 'disabled: every delivery failed since ' ||"
    "   to_char(e.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END"
    " FROM x WHERE e.id = x.id AND (x.off OR CASE WHEN $7::boolean THEN"
    "   e.failing_since IS NOT NULL OR e.last_success_at IS NULL"
    "   OR e.last_success_at < now() - interval '5 seconds'"
    "   ELSE e.failing_since IS NULL OR e.last_failure_at IS NULL"
    "   OR e.last_failure_at < now() - interval '5 seconds' END)";

static void delivery_free(struct delivery *d)
{
    struct hooks *h = d->h;
    if (d->prev != NULL) {
        d->prev->next = d->next;
    } else {
        h->head = d->next;
    }
    if (d->next != NULL) {
        d->next->prev = d->prev;
    }
    h->inflight--;
    free(d->url);
    free(d->body);
    free(d);
}

static void result_done(struct hooks *h, int status, void *arg)
{
    struct delivery *d = arg;
    if (status != 0) {
        /* The lease expires and the row is sent again: at least once. */
        LOG_WARN(HOOKS, "event=result_write_failed delivery=%s err=\"%s\"", d->id, err_str(status));
    }
    delivery_free(d);
    if (!atomic_load_explicit(&h->stopping, memory_order_acquire)) {
        ev_feed_event(h->loop, &h->tick, EV_TIMER); /* a slot is free: claim more */
    }
}

static const char *result_status(const struct delivery *d)
{
    return d->ok ? "delivered" : d->r.retry ? "pending" : "failed";
}

static void result_send(struct delivery *d)
{
    struct hooks *h = d->h;
    char code[16], delay[32], after[32];
    snprintf(code, sizeof(code), "%ld", d->code);
    snprintf(delay, sizeof(delay), "%.3f", (double)d->r.delay_ms / 1000.0);
    snprintf(after, sizeof(after), "%.3f", (double)h->cfg.disable_after_ms / 1000.0);
    const char *p[9] = {
        d->id, result_status(d), d->code > 0 ? code : NULL, d->ok ? NULL : d->err,
        delay, h->node,          d->ok ? "t" : "f",         d->r.gone ? "t" : "f",
        after,
    };
    int rc = tx_run(h, RESULT_SQL, 9, p, NULL, result_done, d);
    LOG_DEBUG(HOOKS, "event=result_send delivery=%s rc=%d", d->id, rc);
    if (rc == ERR_BUSY) { /* every connection in a transaction: next one that ends */
        d->wnext = NULL;
        *h->wait_tail = d;
        h->wait_tail = &d->wnext;
    } else if (rc != 0) {
        result_done(h, rc, d);
    }
}

/* Sends the oldest waiting result, if any (a connection just came free). */
static void result_drain(struct hooks *h)
{
    struct delivery *d = h->wait;
    if (d != NULL && !h->db_going) {
        LOG_DEBUG(HOOKS, "event=result_drain delivery=%s", d->id);
        h->wait = d->wnext;
        if (h->wait == NULL) {
            h->wait_tail = &h->wait;
        }
        result_send(d);
    }
}

static void write_result(struct delivery *d, bool ok)
{
    struct hooks *h = d->h;
    d->ok = ok;
    if (!ok) {
        d->r = hooks_retry_decide(&h->cfg.backoff, d->code, d->attempts, d->retry_from_ms,
                                  clock_wall_us() / 1000, randombytes_random());
        if (!d->r.retry && !d->r.gone && d->err[0] != '\0') {
            char e[ERR_TEXT_MAX + 1];
            snprintf(e, sizeof(e), "%s", d->err);
            snprintf(d->err, sizeof(d->err), "given up (older than webhooks.max-age): %.150s", e);
        }
    }
    if (ok) {
        atomic_fetch_add_explicit(&h->st_delivered, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&h->st_failed, 1, memory_order_relaxed);
        LOG_INFO(HOOKS,
                 "event=delivery_failed delivery=%s event_id=%s attempt=%d code=%ld "
                 "next=%s delay_ms=%" PRId64 " err=\"%s\"",
                 d->id, d->event_id, d->attempts, d->code, result_status(d), d->r.delay_ms, d->err);
    }
    if (d->r.gone) {
        LOG_WARN(HOOKS, "event=endpoint_gone delivery=%s msg=\"410: endpoint disabled\"", d->id);
    }
    result_send(d);
}

static void http_done(void *arg, int status, long code, const char *body, size_t len,
                      const char *reason)
{
    struct delivery *d = arg;
    struct hooks *h = d->h;

    enum { HTTP_OK_MIN = 200, HTTP_OK_MAX = 299 };

    (void)body;
    (void)len;
    d->xfer = NULL;
    atomic_fetch_sub_explicit(&h->st_inflight, 1, memory_order_relaxed);
    if (status == ERR_CANCELED || atomic_load_explicit(&h->stopping, memory_order_acquire)) {
        delivery_free(d); /* stopping: the lease expires, the row is sent again */
        return;
    }
    d->code = status == 0 ? code : 0;
    if (status == 0) {
        if (code >= HTTP_OK_MIN && code <= HTTP_OK_MAX) {
            write_result(d, true);
            return;
        }
        snprintf(d->err, sizeof(d->err), "HTTP %ld", code);
    } else if (status == ERR_TIMEOUT) {
        snprintf(d->err, sizeof(d->err), "timeout (webhooks.timeout)");
    } else if (status == ERR_FORBIDDEN) {
        snprintf(d->err, sizeof(d->err), "address refused: internal and not in webhooks.allow");
    } else {
        snprintf(d->err, sizeof(d->err), "%s",
                 reason != NULL && reason[0] != '\0' ? reason : err_str(status));
    }
    write_result(d, false);
}

/* ------------------------------------------------------------ claim */

/*
 * $1 owner, $2 per endpoint, $3 batch, $4 lease s. Expired leases count as
 * due; a row is taken only if still due when locked (another node may have
 * taken it meanwhile).
 */
static const char CLAIM_SQL[] =
    "WITH ep AS (SELECT e.id, e.url, encode(e.secret_ct, 'hex') AS ct,"
    " encode(e.secret_nonce, 'hex') AS nonce,"
    " greatest($2::int - (SELECT count(*) FROM webhook_deliveries s WHERE s.endpoint_id = e.id"
    "   AND s.status = 'sending' AND s.lease_expires_at > now()), 0) AS room"
    " FROM webhook_endpoints e WHERE e.enabled),"
    " pick AS (SELECT c.id, ep.id AS ep, row_number() OVER (PARTITION BY ep.id ORDER BY c.due)"
    "   AS rn FROM ep CROSS JOIN LATERAL (SELECT u.id, u.due FROM ("
    "   (SELECT d.id, d.next_attempt_at AS due FROM webhook_deliveries d"
    "    WHERE d.endpoint_id = ep.id AND d.status = 'pending' AND d.next_attempt_at <= now()"
    "    ORDER BY d.next_attempt_at LIMIT ep.room)"
    "   UNION ALL"
    "   (SELECT d.id, d.lease_expires_at FROM webhook_deliveries d"
    "    WHERE d.endpoint_id = ep.id AND d.status = 'sending' AND d.lease_expires_at <= now()"
    "    ORDER BY d.lease_expires_at LIMIT ep.room)) u ORDER BY u.due LIMIT ep.room) c"
    "   WHERE ep.room > 0 ORDER BY rn LIMIT $3::int)"
    " UPDATE webhook_deliveries d SET status = 'sending', lease_owner = $1,"
    " lease_expires_at = now() + make_interval(secs => $4::int),"
    " attempts = d.attempts + 1, last_attempt_at = now()"
    " FROM pick JOIN ep ON ep.id = pick.ep"
    " WHERE d.id = pick.id AND (d.status = 'pending' OR (d.status = 'sending'"
    "   AND d.lease_expires_at <= now()))"
    " RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.event_type,"
    " to_char(d.event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " d.data::text, d.attempts, (extract(epoch FROM d.retry_from) * 1000)::bigint,"
    " ep.url, ep.ct, ep.nonce";

static int unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
    return sodium_hex2bin(out, max, s, strlen(s), NULL, len, NULL);
}

/*
 * One claimed row: copied, its body built and signed. It is sent only once
 * the claim has committed (claim_done): a result written before would not
 * see the lease.
 */
static void claim_row(struct hooks *h, PGresult *res, int i)
{
    unsigned char ct[HOOKS_SECRET_MAX + 64], nonce[32];
    size_t ctlen = 0, nlen = 0;
    char secret[HOOKS_SECRET_MAX + 1];
    struct delivery *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return; /* the lease expires: sent again later */
    }
    d->h = h;
    snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(res, i, 0));
    d->tenant = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    snprintf(d->event_id, sizeof(d->event_id), "%s", PQgetvalue(res, i, 3));
    snprintf(d->type, sizeof(d->type), "%s", PQgetvalue(res, i, 4));
    d->attempts = (int)strtol(PQgetvalue(res, i, 7), NULL, 10);
    d->retry_from_ms = strtoll(PQgetvalue(res, i, 8), NULL, 10);
    d->url = strdup(PQgetvalue(res, i, 9));
    d->body = hooks_event_body(d->event_id, d->type, PQgetvalue(res, i, 5), d->tenant,
                               PQgetvalue(res, i, 6));
    d->next = h->head;
    if (h->head != NULL) {
        h->head->prev = d;
    }
    h->head = d;
    h->inflight++;
    atomic_fetch_add_explicit(&h->st_inflight, 1, memory_order_relaxed);
    d->cnext = h->claimed;
    h->claimed = d;
    if (d->url == NULL || d->body == NULL ||
        unhex(PQgetvalue(res, i, 10), ct, sizeof(ct), &ctlen) != 0 ||
        unhex(PQgetvalue(res, i, 11), nonce, sizeof(nonce), &nlen) != 0 || nlen != 24 ||
        h->cfg.open(h->cfg.open_arg, d->tenant, HOOKS_SECRET_NAME, ct, ctlen, nonce, secret) != 0) {
        LOG_ERR(HOOKS, "event=delivery_unsendable delivery=%s endpoint=%s", d->id,
                PQgetvalue(res, i, 2));
        d->unsendable = true;
        return;
    }
    char sig[HOOKS_SIG_HEX + 1];
    int64_t ts = clock_wall_us() / 1000000;
    hooks_sign(secret, strlen(secret), ts, d->body, strlen(d->body), sig);
    sodium_memzero(secret, sizeof(secret));
    snprintf(d->h_sig, sizeof(d->h_sig), "Dialer-Signature: t=%" PRId64 ",v1=%s", ts, sig);
    snprintf(d->h_ts, sizeof(d->h_ts), "Dialer-Timestamp: %" PRId64, ts);
    snprintf(d->h_id, sizeof(d->h_id), "Dialer-Event-Id: %s", d->event_id);
    snprintf(d->h_type, sizeof(d->h_type), "Dialer-Event-Type: %s", d->type);
}

/* POSTs a claimed row (the claim committed). */
static void launch(struct delivery *d)
{
    struct hooks *h = d->h;
    if (d->unsendable) {
        http_done(d, ERR_INVAL, 0, NULL, 0, "the endpoint's secret does not open (secrets.key?)");
        return;
    }
    const char *hdr[] = { "Content-Type: application/json", d->h_sig, d->h_ts, d->h_id, d->h_type };
    struct ivr_http_req rq = {
        .method = "POST",
        .url = d->url,
        .headers = hdr,
        .nheaders = sizeof(hdr) / sizeof(hdr[0]),
        .body = d->body,
        .body_len = strlen(d->body),
        .connect_timeout_ms = h->cfg.connect_timeout_ms,
        .timeout_ms = h->cfg.timeout_ms,
        .max_response_bytes = 64 * 1024,
    };
    int rc = ivr_http_backend_ops()->start(h->guard, &rq, http_done, d, &d->xfer);
    if (rc != 0) {
        d->xfer = NULL;
        http_done(d, rc, 0, NULL, 0, err_str(rc));
    }
}

static void claim_rows(struct hooks *h, PGresult *res, void *arg)
{
    (void)arg;
    if (PQnfields(res) != CLAIM_COLS) {
        return;
    }
    int n = PQntuples(res);
    atomic_fetch_add_explicit(&h->st_claimed, (uint64_t)n, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        claim_row(h, res, i);
    }
}

static void claim_done(struct hooks *h, int status, void *arg)
{
    (void)arg;
    h->claiming = false;
    if (status != 0) {
        LOG_DEBUG(HOOKS, "event=claim_failed err=\"%s\"", err_str(status));
    }
    struct delivery *next, *d = h->claimed;
    h->claimed = NULL;
    for (; d != NULL; d = next) {
        next = d->cnext;
        if (status != 0 || h->db_going) { /* not leased after all (rolled back), or stopping */
            atomic_fetch_sub_explicit(&h->st_inflight, 1, memory_order_relaxed);
            delivery_free(d);
        } else {
            launch(d);
        }
    }
}

static void claim(struct hooks *h)
{
    result_drain(h);
    if (h->claiming || atomic_load_explicit(&h->stopping, memory_order_acquire)) {
        return;
    }
    int room = h->cfg.max_inflight - h->inflight;
    if (room <= 0) {
        return;
    }
    char per[16], batch[16], lease[24];
    snprintf(per, sizeof(per), "%d", h->cfg.per_endpoint);
    snprintf(batch, sizeof(batch), "%d", room);
    snprintf(lease, sizeof(lease), "%" PRId64,
             (h->cfg.connect_timeout_ms + h->cfg.timeout_ms) / 1000 + LEASE_MARGIN_S);
    const char *p[4] = { h->node, per, batch, lease };
    h->claiming = true;
    if (tx_run(h, CLAIM_SQL, 4, p, claim_rows, claim_done, NULL) != 0) {
        h->claiming = false;
    }
}

/* ------------------------------------------------------------ sweep */

/*
 * $1 max age s, $2 retention s, $3 keep per tenant. Pending rows past the
 * max age fail; finished rows past the retention, or beyond the newest
 * keep-per-tenant of their tenant, go.
 */
static const char SWEEP_SQL[] =
    "WITH x AS (UPDATE webhook_deliveries SET status = 'failed', finished_at = now(),"
    " last_error = left('given up (older than webhooks.max-age)' ||"
    "   coalesce(': ' || last_error, ''), 500)"
    " WHERE status = 'pending' AND retry_from < now() - make_interval(secs => $1::double precision)"
    " RETURNING 1),"
    " old AS (DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed')"
    " AND finished_at < now() - make_interval(secs => $2::double precision) RETURNING 1),"
    " over AS (DELETE FROM webhook_deliveries d USING (SELECT id FROM (SELECT id, row_number()"
    "   OVER (PARTITION BY tenant_id ORDER BY finished_at DESC, id DESC) AS rn"
    "   FROM webhook_deliveries WHERE status IN ('delivered', 'failed')) r WHERE rn > $3::bigint) o"
    " WHERE d.id = o.id RETURNING 1)"
    " SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM old), (SELECT count(*) FROM over)";

static void sweep_rows(struct hooks *h, PGresult *res, void *arg)
{
    (void)h;
    (void)arg;
    if (PQntuples(res) == 1 && PQnfields(res) == 3) {
        LOG_DEBUG(HOOKS, "event=sweep expired=%s pruned=%s over_bound=%s", PQgetvalue(res, 0, 0),
                  PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    }
}

static void sweep_done(struct hooks *h, int status, void *arg)
{
    (void)arg;
    h->sweeping = false;
    if (status != 0) {
        LOG_DEBUG(HOOKS, "event=sweep_failed err=\"%s\"", err_str(status));
    }
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct hooks *h = w->data;
    (void)loop;
    (void)revents;
    if (h->sweeping) {
        return;
    }
    char age[32], ret[32], keep[24];
    snprintf(age, sizeof(age), "%.3f", (double)h->cfg.backoff.max_age_ms / 1000.0);
    snprintf(ret, sizeof(ret), "%.3f", (double)h->cfg.retention_ms / 1000.0);
    snprintf(keep, sizeof(keep), "%" PRId64, h->cfg.keep_per_tenant);
    const char *p[3] = { age, ret, keep };
    h->sweeping = true;
    if (tx_run(h, SWEEP_SQL, 3, p, sweep_rows, sweep_done, NULL) != 0) {
        h->sweeping = false;
    }
}

/* ------------------------------------------------------------ thread */

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    claim(w->data);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct hooks *h = w->data;
    (void)revents;
    if (atomic_load_explicit(&h->stopping, memory_order_acquire)) {
        ev_timer_stop(loop, &h->tick);
        ev_timer_stop(loop, &h->sweep);
        ev_async_stop(loop, &h->wake);
        /* Requests in flight: cancelled; their rows' leases expire. */
        struct delivery *next;
        for (struct delivery *d = h->head; d != NULL; d = next) {
            next = d->next;
            if (d->xfer != NULL) { /* else a result write owns it: the pool's end settles it */
                ivr_http_backend_ops()->cancel(h->guard, d->xfer);
                d->xfer = NULL;
                atomic_fetch_sub_explicit(&h->st_inflight, 1, memory_order_relaxed);
                delivery_free(d);
            }
        }
        ev_break(loop, EVBREAK_ALL);
    }
}

static void *thread_main(void *arg)
{
    struct hooks *h = arg;
    struct http_client_options ho = {
        .max_host_connections = h->cfg.per_endpoint,
        .connect_timeout_ms = h->cfg.connect_timeout_ms,
        .timeout_ms = h->cfg.timeout_ms,
        .user_agent = "dialer-webhooks",
    };
    struct db_opts dopts = { .name = "hooks" };
    if (db_pool_create(h->loop, h->cfg.conninfo, h->cfg.db_pool_size, &dopts, &h->db) != 0 ||
        http_client_create(h->loop, &ho, &h->http) != 0 ||
        (h->guard = ivr_http_backend_create(h->http, (const char *const *)h->allow,
                                            h->cfg.nallow)) == NULL) {
        LOG_ERR(HOOKS, "event=start_failed msg=\"webhooks are not delivered\"");
    } else {
        ev_run(h->loop, 0);
    }
    /* Result writes still owed complete (as failures) while the pool goes. */
    h->db_going = true;
    db_pool_destroy(h->db);
    h->db = NULL;
    while (h->head != NULL) {
        delivery_free(h->head);
    }
    ivr_http_backend_destroy(h->guard);
    h->guard = NULL;
    http_client_destroy(h->http);
    h->http = NULL;
    return NULL;
}

static void config_defaults(struct hooks_config *c)
{
    if (c->connect_timeout_ms <= 0) {
        c->connect_timeout_ms = 5000;
    }
    if (c->timeout_ms <= 0) {
        c->timeout_ms = 10000;
    }
    if (c->per_endpoint <= 0) {
        c->per_endpoint = 4;
    }
    if (c->max_inflight <= 0) {
        c->max_inflight = 64;
    }
    if (c->poll_ms <= 0) {
        c->poll_ms = 500;
    }
    if (c->backoff.min_ms <= 0) {
        c->backoff.min_ms = 5000;
    }
    if (c->backoff.max_ms <= 0) {
        c->backoff.max_ms = 3600000;
    }
    if (c->backoff.max_age_ms <= 0) {
        c->backoff.max_age_ms = 86400000;
    }
    if (c->disable_after_ms <= 0) {
        c->disable_after_ms = INT64_C(259200000);
    }
    if (c->retention_ms <= 0) {
        c->retention_ms = INT64_C(604800000);
    }
    if (c->keep_per_tenant <= 0) {
        c->keep_per_tenant = 10000;
    }
    if (c->db_pool_size <= 0) {
        c->db_pool_size = 3;
    }
}

static void hooks_free(struct hooks *h)
{
    if (h->allow != NULL) {
        for (size_t i = 0; i < h->cfg.nallow; i++) {
            free(h->allow[i]);
        }
        free(h->allow);
    }
    if (h->loop != NULL) {
        ev_loop_destroy(h->loop);
    }
    free(h);
}

int hooks_start(const struct hooks_config *cfg, struct hooks **out)
{
    if (cfg == NULL || out == NULL || cfg->conninfo == NULL || cfg->node_id == NULL ||
        cfg->open == NULL || strlen(cfg->node_id) > NODE_MAX) {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < cfg->nallow; i++) {
        if (!ivr_cidr_valid(cfg->allow[i])) {
            LOG_ERR(HOOKS, "event=config_invalid key=webhooks.allow err=\"not a CIDR: %s\"",
                    cfg->allow[i]);
            return ERR_INVAL;
        }
    }
    struct hooks *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return ERR_NOMEM;
    }
    h->cfg = *cfg;
    config_defaults(&h->cfg);
    h->cfg.allow = NULL;
    snprintf(h->node, sizeof(h->node), "%s", cfg->node_id);
    h->allow = calloc(cfg->nallow + 1, sizeof(*h->allow));
    if (h->allow == NULL) {
        hooks_free(h);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < cfg->nallow; i++) {
        if ((h->allow[i] = strdup(cfg->allow[i])) == NULL) {
            hooks_free(h);
            return ERR_NOMEM;
        }
    }
    h->wait_tail = &h->wait;
    h->loop = ev_loop_new(EVFLAG_AUTO);
    if (h->loop == NULL) {
        hooks_free(h);
        return ERR_NOMEM;
    }
    double poll = (double)h->cfg.poll_ms / 1000.0;
    ev_timer_init(&h->tick, tick_cb, poll, poll);
    h->tick.data = h;
    ev_timer_start(h->loop, &h->tick);
    ev_timer_init(&h->sweep, sweep_cb, 1.0, (double)SWEEP_MS / 1000.0);
    h->sweep.data = h;
    ev_timer_start(h->loop, &h->sweep);
    ev_async_init(&h->wake, wake_cb);
    h->wake.data = h;
    ev_async_start(h->loop, &h->wake);
    if (pthread_create(&h->thread, NULL, thread_main, h) != 0) {
        hooks_free(h);
        return ERR_NOMEM;
    }
    pthread_setname_np(h->thread, "webhooks");
    h->running = true;
    LOG_INFO(HOOKS, "event=started per_endpoint=%d max_inflight=%d allow=%zu", h->cfg.per_endpoint,
             h->cfg.max_inflight, h->cfg.nallow);
    *out = h;
    return 0;
}

void hooks_stop(struct hooks *h)
{
    if (h == NULL) {
        return;
    }
    if (h->running) {
        atomic_store_explicit(&h->stopping, 1, memory_order_release);
        ev_async_send(h->loop, &h->wake);
        pthread_join(h->thread, NULL);
    }
    hooks_free(h);
}

void hooks_stats(const struct hooks *h, struct hooks_stats *out)
{
    out->claimed = atomic_load_explicit(&h->st_claimed, memory_order_relaxed);
    out->delivered = atomic_load_explicit(&h->st_delivered, memory_order_relaxed);
    out->failed = atomic_load_explicit(&h->st_failed, memory_order_relaxed);
    out->inflight = atomic_load_explicit(&h->st_inflight, memory_order_relaxed);
}
