/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for campaign/store.c against the private PostgreSQL,
 * as dialer_app under row-level security: state changes with their audit
 * rows (and the C table agreeing with the trigger), two lessors (one on a
 * worker thread handing batches over through an mpsc mailbox) never sharing
 * a contact, renewal, release, expiry and reclaim, and each step of the
 * attempt protocol with the process "killed" (connection or transaction
 * abandoned) between and inside the steps. Database test_campaign_store.
 */
#include <ev.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "core/err.h"
#include "core/mpsc.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"

#define DB "test_campaign_store"

enum { NCONTACTS = 3000 };

struct fixture {
    PGconn *su;
    long long tenant, other, flow, campaign, list;
    char app[TDB_CONNINFO_MAX];
    struct ev_loop *loop;
};

static struct fixture *F;

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    tdb_conninfo_app(DB, f->app, sizeof(f->app));
    f->su = tdb_connect(ci);
    f->tenant =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('acme', 'A') RETURNING id");
    f->other =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('other', 'O') RETURNING id");
    f->flow =
        tdb_int(f->su, "INSERT INTO ivr_flows (tenant_id, name) VALUES (%lld, 'f') RETURNING id",
                f->tenant);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    F = f;
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    PQfinish(f->su);
    ev_loop_destroy(f->loop);
    free(f);
    tdb_drop(DB);
    return 0;
}

/* A fresh running campaign with one list of n due contacts. */
static void fresh_campaign(struct fixture *f, int n, const char *state)
{
    static int seq;
    seq++;
    f->campaign = tdb_int(f->su,
                          "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'c%d', "
                          "%lld) RETURNING id",
                          f->tenant, seq, f->flow);
    if (strcmp(state, "paused") == 0) {
        tdb_exec(f->su, "UPDATE campaigns SET state = 'running' WHERE id = %lld", f->campaign);
    }
    if (strcmp(state, "draft") != 0) {
        tdb_exec(f->su, "UPDATE campaigns SET state = '%s' WHERE id = %lld", state, f->campaign);
    }
    f->list = tdb_int(
        f->su, "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'l%d') RETURNING id",
        f->tenant, seq);
    tdb_exec(
        f->su,
        "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, %lld)",
        f->tenant, f->campaign, f->list);
    tdb_exec(f->su,
             "INSERT INTO contacts (tenant_id, list_id, number, time_zones, next_attempt_at)"
             " SELECT %lld, %lld, '+1415' || (2000000 + %d * 10000 + g)::text,"
             " '{America/Los_Angeles}', now() - g * interval '1 second'"
             " FROM generate_series(1, %d) g",
             f->tenant, f->list, seq, n);
}

static struct db_conn *app_conn(struct fixture *f)
{
    struct db_conn *c = NULL;
    assert_int_equal(db_conn_create(f->loop, f->app, NULL, &c), 0);
    for (int i = 0; i < 500 && !db_conn_is_up(c); i++) {
        evloop_run_for(f->loop, 0.01);
    }
    assert_true(db_conn_is_up(c));
    return c;
}

static const struct campaign_actor *actor(void)
{
    static struct campaign_actor a;
    a = (struct campaign_actor){ .tenant_id = F->tenant, .actor = "user:7", .reason = "test" };
    return &a;
}

struct result {
    int done;
    int status;
    int64_t count;
    char *contact; /* campaign_store_attempt_begin's contact.* */
};

static void on_done(int status, void *arg)
{
    struct result *r = arg;
    r->status = status;
    r->done++;
}

static void on_begun(int status, char *contact, void *arg)
{
    struct result *r = arg;
    free(r->contact);
    r->contact = contact;
    on_done(status, arg);
}

static void on_count(int status, int64_t count, void *arg)
{
    struct result *r = arg;
    r->status = status;
    r->count = count;
    r->done++;
}

static void wait_for(struct result *r)
{
    assert_true(evloop_run_until(F->loop, &r->done, 1, 10.0));
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */

static int set_state(struct db_conn *c, long long id, enum campaign_state from,
                     enum campaign_state to)
{
    struct result r = { 0 };
    int rc = campaign_store_set_state(c, actor(), id, from, to, on_done, &r);
    if (rc != 0) {
        return rc;
    }
    wait_for(&r);
    return r.status;
}

static void test_store_state_changes_are_enforced_and_audited(void **state)
{
    struct fixture *f = *state;
    struct db_conn *c = app_conn(f);
    fresh_campaign(f, 1, "draft");
    assert_int_equal(set_state(c, f->campaign, CAMPAIGN_DRAFT, CAMPAIGN_RUNNING), 0);
    assert_int_equal(set_state(c, f->campaign, CAMPAIGN_RUNNING, CAMPAIGN_PAUSED), 0);
    assert_int_equal(set_state(c, f->campaign, CAMPAIGN_PAUSED, CAMPAIGN_RUNNING), 0);
    /* illegal: refused before the database */
    assert_int_equal(set_state(c, f->campaign, CAMPAIGN_RUNNING, CAMPAIGN_DRAFT), ERR_CONFLICT);
    /* stale "from" (someone else moved it) */
    assert_int_equal(set_state(c, f->campaign, CAMPAIGN_PAUSED, CAMPAIGN_STOPPED), ERR_CONFLICT);
    assert_int_equal(set_state(c, 999999, CAMPAIGN_RUNNING, CAMPAIGN_PAUSED), ERR_NOTFOUND);
    assert_int_equal(set_state(c, f->campaign, CAMPAIGN_RUNNING, CAMPAIGN_STOPPED), 0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld AND "
                             "kind = 'state_change' AND actor = 'user:7' AND reason = 'test'",
                             f->campaign),
                     4);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld AND "
                             "from_state = 'paused' AND to_state = 'running'",
                             f->campaign),
                     1);
    /* another tenant cannot see it (RLS): not found */
    struct campaign_actor other = { .tenant_id = f->other, .actor = "user:8" };
    struct result r = { 0 };
    fresh_campaign(f, 1, "draft");
    assert_int_equal(campaign_store_set_state(c, &other, f->campaign, CAMPAIGN_DRAFT,
                                              CAMPAIGN_SCHEDULED, on_done, &r),
                     0);
    wait_for(&r);
    assert_int_equal(r.status, ERR_NOTFOUND);
    db_conn_destroy(c);
}

static void test_store_state_table_matches_trigger(void **state)
{
    struct fixture *f = *state;
    char sql[256];
    fresh_campaign(f, 1, "draft");
    for (int from = 0; from < CAMPAIGN_STATE_COUNT_; from++) {
        for (int to = 0; to < CAMPAIGN_STATE_COUNT_; to++) {
            if (from == to) {
                continue;
            }
            tdb_exec(f->su, "ALTER TABLE campaigns DISABLE TRIGGER campaigns_state_guard");
            tdb_exec(f->su, "UPDATE campaigns SET state = '%s' WHERE id = %lld",
                     campaign_state_name(from), f->campaign);
            tdb_exec(f->su, "ALTER TABLE campaigns ENABLE TRIGGER campaigns_state_guard");
            snprintf(sql, sizeof(sql), "UPDATE campaigns SET state = '%s' WHERE id = %lld",
                     campaign_state_name(to), f->campaign);
            PGresult *r = PQexec(f->su, sql);
            bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (ok != campaign_state_allowed(from, to)) {
                fail_msg("%s -> %s: trigger %s, table %s", campaign_state_name(from),
                         campaign_state_name(to), ok ? "allows" : "refuses",
                         campaign_state_allowed(from, to) ? "allows" : "refuses");
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Leases                                                                    */

struct collect {
    int batches;
    int empty;
    int errors;
    int64_t *ids;
    size_t n, cap;
    int64_t expires_us;
};

static void collect_batch(struct collect *k, struct campaign_batch *b)
{
    k->batches++;
    if (b->status != 0) {
        k->errors++;
    }
    if (b->n == 0) {
        k->empty++;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (k->n == k->cap) {
            k->cap = k->cap ? 2 * k->cap : 256;
            k->ids = realloc(k->ids, k->cap * sizeof(*k->ids));
        }
        k->ids[k->n++] = b->contacts[i].id;
        assert_true(b->contacts[i].number[0] == '+');
        assert_string_equal(b->contacts[i].zone, "America/Los_Angeles");
        assert_int_equal(b->contacts[i].tenant_id, F->tenant);
    }
    k->expires_us = b->lease_expires_us;
    campaign_batch_free(b);
}

static void on_batch(struct campaign_batch *b, void *arg)
{
    collect_batch(arg, b);
}

/* Leases one batch on c and waits for it. */
static void lease_once(struct db_conn *c, const char *owner, int batch, int lease_s,
                       struct collect *k)
{
    struct campaign_lease_req req = {
        .campaign_id = F->campaign,
        .list_id = F->list,
        .owner = owner,
        .batch = batch,
        .lease_s = lease_s,
    };
    int before = k->batches;
    assert_int_equal(campaign_store_lease(c, actor(), &req, on_batch, k), 0);
    assert_true(evloop_run_until(F->loop, &k->batches, before + 1, 10.0));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The worker-thread lessor: its own loop and connection, batches to the main loop's mailbox. */
struct worker {
    struct mpsc_mailbox *mb;
    const char *conninfo;
    long long campaign, list, tenant;
    int sent;
    int done;
};

static void worker_batch(struct campaign_batch *b, void *arg)
{
    struct worker *w = arg;
    w->done = b->n == 0 || b->status != 0;
    w->sent++;
    mpsc_mailbox_send(w->mb, &b->node); /* ownership moves to the main loop */
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct db_conn *c = NULL;
    struct campaign_actor a = { .tenant_id = w->tenant, .actor = "scheduler:node-b" };
    struct campaign_lease_req req = {
        .campaign_id = w->campaign,
        .list_id = w->list,
        .owner = "node-b",
        .batch = 50,
        .lease_s = 300,
    };
    if (db_conn_create(loop, w->conninfo, NULL, &c) == 0) {
        for (int i = 0; i < 500 && !db_conn_is_up(c); i++) {
            evloop_run_for(loop, 0.01);
        }
        for (int i = 0; i < 1000 && !w->done; i++) {
            int before = w->sent;
            if (campaign_store_lease(c, &a, &req, worker_batch, w) != 0 ||
                !evloop_run_until(loop, &w->sent, before + 1, 10.0)) {
                break;
            }
        }
        db_conn_destroy(c);
    }
    ev_loop_destroy(loop);
    return NULL;
}

struct main_side {
    struct collect k;
    int final;
};

static void on_mail(struct mpsc_mailbox *mb, struct mpsc_node *msg, void *arg)
{
    struct main_side *m = arg;
    struct campaign_batch *b = CONTAINER_OF(msg, struct campaign_batch, node);
    (void)mb;
    if (b->n == 0 || b->status != 0) {
        m->final = 1;
    }
    collect_batch(&m->k, b);
}

static void test_store_two_lessors_never_share_a_contact(void **state)
{
    struct fixture *f = *state;
    struct collect a = { 0 };
    struct main_side m = { { 0 }, 0 };
    struct mpsc_mailbox mb;
    pthread_t th;
    fresh_campaign(f, NCONTACTS, "running");
    mpsc_mailbox_init(&mb, f->loop, on_mail, &m);
    struct worker w = {
        .mb = &mb, .conninfo = f->app, .campaign = f->campaign, .list = f->list, .tenant = f->tenant
    };
    struct db_conn *c = app_conn(f);
    assert_int_equal(pthread_create(&th, NULL, worker_main, &w), 0);
    /* node A leases with four batches in flight at a time until the list runs dry */
    struct campaign_lease_req req = {
        .campaign_id = f->campaign,
        .list_id = f->list,
        .owner = "node-a",
        .batch = 50,
        .lease_s = 300,
    };
    for (int round = 0; round < 200 && a.empty == 0; round++) {
        int before = a.batches;
        for (int i = 0; i < 4; i++) {
            assert_int_equal(campaign_store_lease(c, actor(), &req, on_batch, &a), 0);
        }
        assert_true(evloop_run_until(f->loop, &a.batches, before + 4, 10.0));
    }
    assert_true(evloop_run_until(f->loop, &m.final, 1, 30.0));
    pthread_join(th, NULL);
    mpsc_mailbox_drain(&mb);
    mpsc_mailbox_fini(&mb);
    assert_int_equal(a.errors + m.k.errors, 0);
    assert_true(a.n > 0 && m.k.n > 0); /* both really competed */
    print_message("node a leased %zu, node b %zu\n", a.n, m.k.n);
    /* every contact once, none twice */
    size_t n = a.n + m.k.n;
    int64_t *all = malloc(n * sizeof(*all));
    memcpy(all, a.ids, a.n * sizeof(*all));
    memcpy(all + a.n, m.k.ids, m.k.n * sizeof(*all));
    qsort(all, n, sizeof(*all), cmp_i64);
    for (size_t i = 1; i < n; i++) {
        assert_true(all[i] != all[i - 1]);
    }
    assert_int_equal(n, NCONTACTS);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND state = "
                             "'leased' AND lease_owner = 'node-a'",
                             f->list),
                     (long long)a.n);
    free(all);
    free(a.ids);
    free(m.k.ids);
    db_conn_destroy(c);
}

static void test_store_paused_campaign_and_other_tenant_lease_nothing(void **state)
{
    struct fixture *f = *state;
    struct collect k = { 0 };
    struct db_conn *c = app_conn(f);
    fresh_campaign(f, 20, "paused");
    lease_once(c, "node-a", 10, 60, &k);
    assert_int_equal(k.n, 0);
    tdb_exec(f->su, "UPDATE campaigns SET state = 'running' WHERE id = %lld", f->campaign);
    struct campaign_actor other = { .tenant_id = f->other, .actor = "x" };
    struct campaign_lease_req req = {
        .campaign_id = f->campaign,
        .list_id = f->list,
        .owner = "node-a",
        .batch = 10,
        .lease_s = 60,
    };
    assert_int_equal(campaign_store_lease(c, &other, &req, on_batch, &k), 0);
    assert_true(evloop_run_until(f->loop, &k.batches, 2, 10.0));
    assert_int_equal(k.n, 0);
    lease_once(c, "node-a", 10, 60, &k);
    assert_int_equal(k.n, 10);
    assert_true(k.expires_us > 0);
    free(k.ids);
    db_conn_destroy(c);
}

static bool has_id(const struct collect *k, int64_t id)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->ids[i] == id) {
            return true;
        }
    }
    return false;
}

/*
 * A dead node's contacts come back first: their leases expired a moment ago
 * (next_attempt_at = lease expiry, later than every contact of the backlog),
 * yet they were the first due when leased, so the next lease takes them
 * before the pending backlog. Before, the lease ordered by next_attempt_at
 * alone and they waited behind the whole list.
 */
static void test_store_reclaimed_contacts_are_leased_first(void **state)
{
    struct fixture *f = *state;
    struct collect ka = { 0 }, kb = { 0 };
    struct db_conn *a = app_conn(f), *b = app_conn(f);
    fresh_campaign(f, 60, "running");
    lease_once(a, "node-a", 10, 60, &ka);
    assert_int_equal(ka.n, 10);
    /* node a dies; its leases expire just now, after the 50 pending contacts were due */
    tdb_exec(f->su, "UPDATE contacts SET lease_expires_at = now() - interval '10 ms',"
                    " next_attempt_at = now() - interval '10 ms' WHERE lease_owner = 'node-a'");
    lease_once(b, "node-b", 6, 60, &kb);
    assert_int_equal(kb.n, 6);
    for (size_t i = 0; i < kb.n; i++) {
        assert_true(has_id(&ka, kb.ids[i])); /* every one of them reclaimed */
    }
    /* the next batch: the 4 reclaimed left, then the backlog */
    lease_once(b, "node-b", 6, 60, &kb);
    assert_int_equal(kb.n, 12);
    int reclaimed = 0;
    for (size_t i = 0; i < kb.n; i++) {
        reclaimed += has_id(&ka, kb.ids[i]) ? 1 : 0;
    }
    assert_int_equal(reclaimed, 10);
    free(ka.ids);
    free(kb.ids);
    db_conn_destroy(a);
    db_conn_destroy(b);
}

static void test_store_renew_release_expiry_reclaim(void **state)
{
    struct fixture *f = *state;
    struct collect ka = { 0 }, kb = { 0 };
    struct result r = { 0 };
    struct db_conn *a = app_conn(f), *b = app_conn(f);
    fresh_campaign(f, 30, "running");
    lease_once(a, "node-a", 10, 60, &ka);
    assert_int_equal(ka.n, 10);
    /* renew: the holder renews all, another node none */
    assert_int_equal(campaign_store_renew(a, actor(), "node-a", ka.ids, ka.n, 120, on_count, &r),
                     0);
    wait_for(&r);
    assert_int_equal(r.count, 10);
    r.done = 0;
    assert_int_equal(campaign_store_renew(b, actor(), "node-b", ka.ids, ka.n, 120, on_count, &r),
                     0);
    wait_for(&r);
    assert_int_equal(r.count, 0);
    /* node a stops renewing: its leases expire and node b reclaims them, oldest due first */
    tdb_exec(f->su, "UPDATE contacts SET lease_expires_at = now() - interval '1 hour',"
                    " next_attempt_at = now() - interval '1 hour' WHERE lease_owner = 'node-a'");
    lease_once(b, "node-b", 10, 60, &kb);
    assert_int_equal(kb.n, 10);
    qsort(ka.ids, ka.n, sizeof(int64_t), cmp_i64);
    qsort(kb.ids, kb.n, sizeof(int64_t), cmp_i64);
    assert_memory_equal(ka.ids, kb.ids, 10 * sizeof(int64_t));
    /* node a lost them: renew finds none, and it may not start an attempt */
    r.done = 0;
    assert_int_equal(campaign_store_renew(a, actor(), "node-a", ka.ids, ka.n, 120, on_count, &r),
                     0);
    wait_for(&r);
    assert_int_equal(r.count, 0);
    struct campaign_attempt at = { .campaign_id = f->campaign,
                                   .contact_id = ka.ids[0],
                                   .owner = "node-a",
                                   .number = "+14155550000" };
    campaign_attempt_id_new(at.id);
    r.done = 0;
    at.with_contact = true;
    assert_int_equal(campaign_store_attempt_begin(a, actor(), &at, on_begun, &r), 0);
    wait_for(&r);
    assert_int_equal(r.status, ERR_CONFLICT);
    assert_null(r.contact); /* nothing of a contact this node does not hold */
    /* release half with a reason and a time; only the holder's leases count */
    int64_t due[5];
    const char *why[5] = { "window", "window", "dnc", "cap", NULL };
    for (int i = 0; i < 5; i++) {
        due[i] = (INT64_C(4102444800) + i) * 1000000; /* 2100-01-01 */
    }
    r.done = 0;
    assert_int_equal(
        campaign_store_release(b, actor(), "node-b", kb.ids, due, why, 5, on_count, &r), 0);
    wait_for(&r);
    assert_int_equal(r.count, 5);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND state = "
                             "'pending' AND block_reason = 'window' AND next_attempt_at >= "
                             "'2100-01-01'",
                             f->list),
                     2);
    r.done = 0;
    assert_int_equal(
        campaign_store_release(a, actor(), "node-a", kb.ids + 5, NULL, NULL, 5, on_count, &r), 0);
    wait_for(&r);
    assert_int_equal(r.count, 0);
    free(ka.ids);
    free(kb.ids);
    db_conn_destroy(a);
    db_conn_destroy(b);
}

struct got_contact {
    int done;
    char number[CAMPAIGN_E164_MAX + 1];
    int idx, nalt, attempts, attempts_24h;
};

static void on_got(struct campaign_batch *b, void *arg)
{
    struct got_contact *g = arg;
    if (b->n == 1) {
        memcpy(g->number, b->contacts[0].number, sizeof(g->number));
        g->idx = b->contacts[0].number_idx;
        g->nalt = b->contacts[0].nalt;
        g->attempts = b->contacts[0].attempts;
        g->attempts_24h = b->contacts[0].attempts_24h;
    }
    g->done++;
    campaign_batch_free(b);
}

/* ------------------------------------------------------------------------ */
/* The attempt protocol and "never dial twice"                               */

/* Step 1 for contact; with vars, *vars gets contact.* (new, or NULL). */
static int begin_attempt_vars(struct db_conn *c, int64_t contact, const char *owner, char id[37],
                              char **vars)
{
    struct result r = { 0 };
    struct campaign_attempt at = { .campaign_id = F->campaign,
                                   .contact_id = contact,
                                   .owner = owner,
                                   .number = "+14155550100",
                                   .caller_id = "+14155550199",
                                   .trunk = "carrier-a",
                                   .with_contact = vars != NULL };
    campaign_attempt_id_new(at.id);
    memcpy(id, at.id, 37);
    assert_int_equal(campaign_store_attempt_begin(c, actor(), &at, on_begun, &r), 0);
    wait_for(&r);
    if (vars != NULL) {
        *vars = r.contact;
    } else {
        assert_null(r.contact);
    }
    return r.status;
}

static int begin_attempt(struct db_conn *c, int64_t contact, const char *owner, char id[37])
{
    return begin_attempt_vars(c, contact, owner, id, NULL);
}

static int finish_attempt(struct db_conn *c, const char *id, const char *outcome, bool retry)
{
    struct result r = { 0 };
    struct campaign_attempt_end e = { .id = id,
                                      .outcome = outcome,
                                      .hangup_cause = 16,
                                      .sip_code = -1,
                                      .retry = retry,
                                      .next_us = INT64_C(1700000000) * 1000000,
                                      .failed = strcmp(outcome, "lost") == 0 };
    assert_int_equal(campaign_store_attempt_finish(c, actor(), &e, on_done, &r), 0);
    wait_for(&r);
    return r.status;
}

struct inflight {
    int done;
    int status;
    size_t n;
    char ids[16][37];
    char states[16][16];
};

static void on_inflight(int status, const struct campaign_inflight *v, size_t n, void *arg)
{
    struct inflight *k = arg;
    k->status = status;
    k->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        memcpy(k->ids[i], v[i].id, 37);
        memcpy(k->states[i], v[i].state, 16);
        assert_int_equal(v[i].tenant_id, F->tenant);
    }
    k->done++;
}

static void list_inflight(struct db_conn *c, const char *node, struct inflight *k)
{
    memset(k, 0, sizeof(*k));
    assert_int_equal(campaign_store_inflight(c, node, on_inflight, k), 0);
    assert_true(evloop_run_until(F->loop, &k->done, 1, 10.0));
    assert_int_equal(k->status, 0);
}

struct adopted {
    int done;
    int status;
    size_t n;
    struct campaign_inflight v[4];
};

static void on_adopted(int status, const struct campaign_inflight *v, size_t n, void *arg)
{
    struct adopted *a = arg;
    a->status = status;
    a->n = n;
    memcpy(a->v, v, (n < 4 ? n : 4) * sizeof(*v));
    a->done++;
}

/* A raw session acting for the tenant, for transactions abandoned half-way. */
static PGconn *raw_tenant_tx(struct fixture *f)
{
    PGconn *c = tdb_connect(f->app);
    tdb_begin_tenant(c, f->tenant);
    return c;
}

static void expire_leases(struct fixture *f)
{
    tdb_exec(f->su, "UPDATE contacts SET lease_expires_at = now() - interval '1 hour',"
                    " next_attempt_at = now() - interval '1 hour' WHERE state = 'leased'");
}

static void test_store_attempt_protocol_survives_kills(void **state)
{
    struct fixture *f = *state;
    struct collect k = { 0 }, kb = { 0 };
    struct inflight inf;
    char id_y[37], id_z[37], id2[37];
    struct db_conn *a = app_conn(f), *b = app_conn(f);
    fresh_campaign(f, 3, "running");
    lease_once(a, "node-a", 3, 60, &k);
    assert_int_equal(k.n, 3);
    int64_t x = k.ids[0], y = k.ids[1], z = k.ids[2];

    /* kill inside step 1: the transaction is abandoned before COMMIT */
    PGconn *raw = raw_tenant_tx(f);
    tdb_exec(raw, "UPDATE contacts SET state = 'dialing', attempts = attempts + 1 WHERE id = %lld",
             (long long)x);
    tdb_exec(raw,
             "INSERT INTO call_attempts (tenant_id, campaign_id, contact_id, number, attempt_no,"
             " dialer_node) VALUES (%lld, %lld, %lld, '+14155550100', 1, 'node-a')",
             f->tenant, f->campaign, (long long)x);
    PQfinish(raw);
    assert_int_equal(
        tdb_int(f->su, "SELECT count(*) FROM call_attempts WHERE contact_id = %lld", (long long)x),
        0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE id = %lld AND state = 'leased' "
                             "AND attempts = 0",
                             (long long)x),
                     1);

    /* step 1 commits for y and z; then node a "crashes" before originating y */
    assert_int_equal(begin_attempt(a, y, "node-a", id_y), 0);
    assert_int_equal(begin_attempt(a, z, "node-a", id_z), 0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE id IN (%lld, %lld) AND state = "
                             "'dialing' AND attempts = 1",
                             (long long)y, (long long)z),
                     2);
    /* a second attempt for a contact in flight is refused: not leased any more */
    assert_int_equal(begin_attempt(a, y, "node-a", id2), ERR_CONFLICT);
    db_conn_destroy(a);

    /* every lease runs out; node b takes x (never dialed: not lost) but never y or z */
    expire_leases(f);
    lease_once(b, "node-b", 10, 60, &kb);
    assert_int_equal(kb.n, 1);
    assert_int_equal(kb.ids[0], x);

    /* kill inside step 3 for z: the finishing transaction is abandoned */
    raw = raw_tenant_tx(f);
    tdb_exec(raw,
             "UPDATE call_attempts SET state = 'ended', ended_at = now(), outcome = 'human'"
             " WHERE id = '%s'",
             id_z);
    PQfinish(raw);

    /* restart of node a: both attempts are listed for reconciliation */
    a = app_conn(f);
    list_inflight(a, "node-a", &inf);
    assert_int_equal(inf.n, 2);
    assert_string_equal(inf.states[0], "created");
    list_inflight(a, "node-b", &inf);
    assert_int_equal(inf.n, 0);
    /* the restart claims them (campaign_store_adopt): each with what its call log and the
     * takeover of its trunk's bookings need */
    struct adopted ad = { 0 };
    struct campaign_adopt_req req = { .self = "node-a/00000002", .node = "node-a" };
    assert_int_equal(campaign_store_adopt(a, &req, on_adopted, &ad), 0);
    assert_true(evloop_run_until(f->loop, &ad.done, 1, 10.0));
    assert_int_equal(ad.status, 0);
    assert_int_equal(ad.n, 2);
    for (size_t i = 0; i < ad.n; i++) {
        assert_string_equal(ad.v[i].trunk, "carrier-a");
        assert_string_equal(ad.v[i].number, "+14155550100");
        assert_string_equal(ad.v[i].caller_id, "+14155550199");
        assert_int_equal(ad.v[i].attempt_no, 1);
    }
    /* reconciliation: ARI has no channel y (never originated): lost, retried */
    assert_int_equal(finish_attempt(a, id_y, "lost", true), 0);
    /* z was answered and hung up: finished once, then never again */
    assert_int_equal(finish_attempt(a, id_z, "human", false), 0);
    assert_int_equal(finish_attempt(a, id_z, "human", false), ERR_EXISTS);
    assert_int_equal(finish_attempt(a, id_y, "busy", true), ERR_EXISTS);
    assert_int_equal(finish_attempt(a, "00000000-0000-4000-8000-000000000000", "busy", true),
                     ERR_NOTFOUND);
    list_inflight(a, "node-a", &inf);
    assert_int_equal(inf.n, 0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE id = %lld AND state = 'pending'"
                             " AND attempts = 1 AND last_outcome = 'lost'"
                             " AND next_attempt_at = to_timestamp(1700000000)",
                             (long long)y),
                     1);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE id = %lld AND state = 'done'",
                             (long long)z),
                     1);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM call_attempts WHERE id = '%s' AND state = "
                             "'failed' AND outcome = 'lost'",
                             id_y),
                     1);
    free(k.ids);
    free(kb.ids);
    db_conn_destroy(a);
    db_conn_destroy(b);
}

static void test_store_attempt_begin_killed_at_any_moment(void **state)
{
    struct fixture *f = *state;
    struct collect k = { 0 };
    struct db_conn *a = app_conn(f);
    fresh_campaign(f, 16, "running");
    lease_once(a, "node-a", 16, 60, &k);
    assert_int_equal(k.n, 16);
    db_conn_destroy(a);
    for (size_t i = 0; i < k.n; i++) {
        struct result r = { 0 };
        struct campaign_attempt at = { .campaign_id = f->campaign,
                                       .contact_id = k.ids[i],
                                       .owner = "node-a",
                                       .number = "+14155550100" };
        a = app_conn(f);
        campaign_attempt_id_new(at.id);
        assert_int_equal(campaign_store_attempt_begin(a, actor(), &at, on_begun, &r), 0);
        if (i % 2) { /* a different moment each time: 0 to 0.8 ms, or once done */
            evloop_run_for(f->loop, 0.0001 * (double)(i / 2));
        } else if (i >= 8) {
            evloop_run_until(f->loop, &r.done, 1, 5.0);
        }
        db_conn_destroy(a);
    }
    /* give statements still running server-side time to end, then check the invariant */
    for (int i = 0; i < 100 && tdb_int(f->su,
                                       "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "'%s' AND usename = 'dialer_app' AND state = 'active'",
                                       DB) > 0;
         i++) {
        evloop_run_for(f->loop, 0.02);
    }
    long long dialing = tdb_int(
        f->su, "SELECT count(*) FROM contacts WHERE list_id = %lld AND state = 'dialing'", f->list);
    long long attempts = tdb_int(f->su,
                                 "SELECT count(*) FROM call_attempts a JOIN contacts c ON c.id = "
                                 "a.contact_id WHERE c.list_id = %lld AND a.ended_at IS NULL",
                                 f->list);
    long long mismatched = tdb_int(f->su,
                                   "SELECT count(*) FROM contacts c WHERE c.list_id = %lld AND "
                                   "(c.state = 'dialing') <> EXISTS (SELECT 1 FROM call_attempts a "
                                   "WHERE a.contact_id = c.id AND a.ended_at IS NULL)",
                                   f->list);
    print_message("killed at 16 moments: %lld attempts written, %lld contacts still leased\n",
                  attempts, 16 - dialing);
    assert_true(attempts >= 4); /* the ones that ran to completion at least */
    assert_int_equal(mismatched, 0);
    assert_int_equal(dialing, attempts);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND state NOT IN "
                             "('dialing', 'leased')",
                             f->list),
                     0);
    free(k.ids);
}

static void test_store_alternate_number_is_dialed_next(void **state)
{
    struct fixture *f = *state;
    struct collect k = { 0 };
    struct result r = { 0 };
    char id[37];
    struct db_conn *a = app_conn(f);
    fresh_campaign(f, 1, "running");
    tdb_exec(f->su,
             "UPDATE contacts SET alt_numbers = '{+14155550201,+14155550202}' WHERE list_id = %lld",
             f->list);
    lease_once(a, "node-a", 1, 60, &k);
    assert_int_equal(k.n, 1);
    assert_int_equal(begin_attempt(a, k.ids[0], "node-a", id), 0);
    struct campaign_attempt_end e = { .id = id,
                                      .outcome = "no_answer",
                                      .hangup_cause = 19,
                                      .sip_code = 480,
                                      .retry = true,
                                      .next_us = INT64_C(1700000000) * 1000000,
                                      .next_number = 2 };
    assert_int_equal(campaign_store_attempt_finish(a, actor(), &e, on_done, &r), 0);
    wait_for(&r);
    assert_int_equal(r.status, 0);
    /* the next lease hands out the second alternate */
    struct campaign_lease_req req = {
        .campaign_id = f->campaign,
        .list_id = f->list,
        .owner = "node-a",
        .batch = 5,
        .lease_s = 60,
    };
    struct got_contact g = { 0 };
    assert_int_equal(campaign_store_lease(a, actor(), &req, on_got, &g), 0);
    assert_true(evloop_run_until(f->loop, &g.done, 1, 10.0));
    assert_string_equal(g.number, "+14155550202");
    assert_int_equal(g.idx, 2);
    assert_int_equal(g.nalt, 2);
    assert_int_equal(g.attempts, 1);
    assert_int_equal(g.attempts_24h, 1); /* for retry.<class>.max_per_day */
    free(k.ids);
    db_conn_destroy(a);
}

/*
 * The attempt's first step hands the flow its contact.* from the row it
 * commits: the list's custom fields with the number, external id, place and
 * the attempts counted with this one; none when not asked for or when the
 * lease was lost.
 */
static void test_store_attempt_begin_returns_contact_vars(void **state)
{
    struct fixture *f = *state;
    struct collect k = { 0 };
    char id[37], id2[37];
    struct db_conn *a = app_conn(f);
    fresh_campaign(f, 2, "running");
    tdb_exec(
        f->su,
        "UPDATE contacts SET custom = '{\"name\": \"Ada\", \"balance\": 12.5, "
        "\"number\": \"kept\"}', external_id = 'crm-' || id, region = 'US-WI' WHERE list_id = %lld",
        f->list);
    lease_once(a, "node-a", 2, 60, &k);
    assert_int_equal(k.n, 2);
    char *vars = NULL;
    assert_int_equal(begin_attempt_vars(a, k.ids[0], "node-a", id, &vars), 0);
    assert_non_null(vars);
    json_error_t je;
    json_t *o = json_loads(vars, 0, &je);
    assert_true(json_is_object(o));
    assert_string_equal(json_string_value(json_object_get(o, "name")), "Ada");
    assert_true(json_real_value(json_object_get(o, "balance")) == 12.5);
    char ext[32];
    snprintf(ext, sizeof(ext), "crm-%lld", (long long)k.ids[0]);
    assert_string_equal(json_string_value(json_object_get(o, "external_id")), ext);
    assert_string_equal(json_string_value(json_object_get(o, "region")), "US-WI");
    assert_int_equal(json_integer_value(json_object_get(o, "id")), k.ids[0]);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 1);
    /* a custom field named like a built-in one wins, as the list's own column */
    assert_string_equal(json_string_value(json_object_get(o, "number")), "kept");
    json_decref(o);
    free(vars);
    /* without asking: nothing read */
    assert_int_equal(begin_attempt(a, k.ids[1], "node-a", id2), 0);
    /* lost lease: no row, no variables */
    vars = NULL;
    assert_int_equal(begin_attempt_vars(a, k.ids[0], "node-a", id2, &vars), ERR_CONFLICT);
    assert_null(vars);
    free(k.ids);
    db_conn_destroy(a);
}

static void on_count_rows(int status, PGresult *res, void *arg)
{
    struct result *r = arg;
    r->status = status;
    r->count = status == 0 && PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    r->done++;
}

/*
 * On a connection with the attempt statements prepared, the attempt's steps
 * run by name (three statements prepared on that session) and behave as
 * when sent as text: contact.* back from the first step, the finish once.
 */
static void test_store_prepared_statements_run_the_protocol(void **state)
{
    struct fixture *f = *state;
    struct collect k = { 0 };
    struct result r = { 0 };
    char id[37];
    struct db_conn *a = app_conn(f);
    assert_int_equal(campaign_store_prepare(a), 0);
    assert_int_equal(campaign_store_prepare(a), 0); /* twice: no error */
    fresh_campaign(f, 1, "running");
    lease_once(a, "node-a", 1, 60, &k);
    assert_int_equal(k.n, 1);
    char *vars = NULL;
    assert_int_equal(begin_attempt_vars(a, k.ids[0], "node-a", id, &vars), 0);
    assert_non_null(vars);
    assert_non_null(strstr(vars, "\"attempts\": 1"));
    free(vars);
    struct campaign_attempt_end e = {
        .id = id, .outcome = "human", .hangup_cause = 16, .sip_code = -1
    };
    assert_int_equal(campaign_store_attempt_finish(a, actor(), &e, on_done, &r), 0);
    wait_for(&r);
    assert_int_equal(r.status, 0);
    r.done = 0;
    assert_int_equal(campaign_store_attempt_finish(a, actor(), &e, on_done, &r), 0);
    wait_for(&r);
    assert_int_equal(r.status, ERR_EXISTS);
    /* the session holds them: the steps above were sent by name */
    r.done = 0;
    const struct db_query q = { .sql = "SELECT count(*) FROM pg_prepared_statements WHERE name "
                                       "LIKE 'campaign\\_%'",
                                .cb = on_count_rows,
                                .arg = &r };
    assert_int_equal(db_query_send(a, &q, NULL), 0);
    wait_for(&r);
    assert_int_equal(r.count, 3);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE id = %lld AND state = 'done'",
                             (long long)k.ids[0]),
                     1);
    free(k.ids);
    db_conn_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_state_changes_are_enforced_and_audited),
        cmocka_unit_test(test_store_state_table_matches_trigger),
        cmocka_unit_test(test_store_two_lessors_never_share_a_contact),
        cmocka_unit_test(test_store_paused_campaign_and_other_tenant_lease_nothing),
        cmocka_unit_test(test_store_reclaimed_contacts_are_leased_first),
        cmocka_unit_test(test_store_renew_release_expiry_reclaim),
        cmocka_unit_test(test_store_attempt_protocol_survives_kills),
        cmocka_unit_test(test_store_attempt_begin_killed_at_any_moment),
        cmocka_unit_test(test_store_alternate_number_is_dialed_next),
        cmocka_unit_test(test_store_attempt_begin_returns_contact_vars),
        cmocka_unit_test(test_store_prepared_statements_run_the_protocol),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
