/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for the automatic campaign state changes
 * (campaign_store_auto, docs/campaign.md section 2a) against the private
 * PostgreSQL as dialer_app: a scheduled campaign starts when its starts_at
 * is reached on the caller's clock (not before, and not without a published
 * flow or an active list); a running campaign completes when every contact
 * is final (a contact handed back as never dialable counts as final; a
 * retry, a callback, a leased or a dialing contact keeps it running; a
 * paused one is left alone); each change is recorded once with actor
 * "system" and a reason, also when two nodes ask at the same moment.
 * Database test_campaign_autostate.
 */
#include <ev.h>
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
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"

#define DB "test_campaign_autostate"

#define US_PER_S INT64_C(1000000)

struct fixture {
    PGconn *su;
    long long tenant, flow, draft_flow;
    char app[TDB_CONNINFO_MAX];
    struct ev_loop *loop;
    int64_t t0_us; /* the database's now() at setup: the tests' clock starts there */
};

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
    f->flow = tdb_int(f->su,
                      "INSERT INTO ivr_flows (tenant_id, name, latest_revision) VALUES (%lld, "
                      "'f', 1) RETURNING id",
                      f->tenant);
    tdb_exec(f->su,
             "INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition)"
             " VALUES (%lld, %lld, 1, '{}')",
             f->tenant, f->flow);
    tdb_exec(f->su, "UPDATE ivr_flows SET published_revision = 1 WHERE id = %lld", f->flow);
    f->draft_flow =
        tdb_int(f->su, "INSERT INTO ivr_flows (tenant_id, name) VALUES (%lld, 'u') RETURNING id",
                f->tenant);
    f->t0_us = tdb_int(f->su, "SELECT (extract(epoch FROM now()) * 1000000)::bigint");
    f->loop = ev_loop_new(EVFLAG_AUTO);
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

/* A campaign in state (through the legal path) with flow, and a list when with_list. */
static long long campaign(struct fixture *f, const char *state, long long flow, bool with_list,
                          long long *list)
{
    static int seq;
    seq++;
    long long id = tdb_int(f->su,
                           "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'c%d', "
                           "%lld) RETURNING id",
                           f->tenant, seq, flow);
    if (strcmp(state, "paused") == 0) {
        tdb_exec(f->su, "UPDATE campaigns SET state = 'running' WHERE id = %lld", id);
    }
    if (strcmp(state, "draft") != 0) {
        tdb_exec(f->su, "UPDATE campaigns SET state = '%s' WHERE id = %lld", state, id);
    }
    long long l = tdb_int(
        f->su, "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'l%d') RETURNING id",
        f->tenant, seq);
    if (with_list) {
        tdb_exec(f->su,
                 "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, "
                 "%lld, %lld)",
                 f->tenant, id, l);
    }
    if (list != NULL) {
        *list = l;
    }
    return id;
}

/* A contact of list in state (due after due_s seconds), with a block reason or NULL. */
static long long contact(struct fixture *f, long long list, const char *state, long long due_s,
                         const char *reason)
{
    static int seq;
    seq++;
    bool held = strcmp(state, "leased") == 0 || strcmp(state, "dialing") == 0;
    return tdb_int(f->su,
                   "INSERT INTO contacts (tenant_id, list_id, number, state, next_attempt_at, "
                   "lease_owner, lease_expires_at, block_reason) VALUES (%lld, %lld, "
                   "'+1415555%04d', '%s', now() + %lld * interval '1 second', %s, "
                   "CASE WHEN %d = 1 THEN now() + %lld * interval '1 second' END, %s%s%s) "
                   "RETURNING id",
                   f->tenant, list, seq, state, due_s, held ? "'node-x'" : "NULL", held ? 1 : 0,
                   due_s, reason != NULL ? "'" : "", reason != NULL ? reason : "NULL",
                   reason != NULL ? "'" : "");
}

struct result {
    int done;
    int status;
    enum campaign_auto_kind kind;
    size_t n;
    long long ids[16];
};

static void on_auto(int status, enum campaign_auto_kind kind, const struct campaign_auto_change *v,
                    size_t n, void *arg)
{
    struct result *r = arg;
    r->status = status;
    r->kind = kind;
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++) {
        r->ids[i] = v[i].id;
    }
    r->done++;
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

static size_t run_auto(struct fixture *f, struct db_conn *c, enum campaign_auto_kind kind,
                       int64_t now_us, struct result *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(campaign_store_auto(c, kind, now_us, on_auto, r), 0);
    assert_true(evloop_run_until(f->loop, &r->done, 1, 10.0));
    assert_int_equal(r->status, 0);
    assert_int_equal(r->kind, kind);
    return r->n;
}

static const char *state_of(struct fixture *f, long long id)
{
    static const char *const names[] = { "draft",  "scheduled", "running",
                                         "paused", "completed", "stopped" };
    long long k = tdb_int(f->su,
                          "SELECT array_position(ARRAY['draft', 'scheduled', 'running', "
                          "'paused', 'completed', 'stopped'], state) FROM campaigns WHERE id = "
                          "%lld",
                          id);
    return (k >= 1 && k <= 6 ? names[k - 1] : "?");
}

static void test_auto_start_when_starts_at_is_reached(void **state)
{
    struct fixture *f = *state;
    struct db_conn *c = app_conn(f);
    struct result r;
    int64_t t0 = f->t0_us;
    /* due at t0 + 60 s; one without a start time; one without a list; one unpublished */
    long long a = campaign(f, "scheduled", f->flow, true, NULL);
    long long none = campaign(f, "scheduled", f->flow, true, NULL);
    long long nolist = campaign(f, "scheduled", f->flow, false, NULL);
    long long unpub = campaign(f, "scheduled", f->draft_flow, true, NULL);
    tdb_exec(f->su,
             "UPDATE campaigns SET starts_at = to_timestamp(%lld / 1e6) + interval '60 s' "
             "WHERE id IN (%lld, %lld, %lld)",
             (long long)t0, a, nolist, unpub);

    /* one second before its start: nothing moves */
    assert_int_equal(run_auto(f, c, CAMPAIGN_AUTO_START, t0 + 59 * US_PER_S, &r), 0);
    assert_string_equal(state_of(f, a), "scheduled");
    /* at its start: it runs, recorded with who and why */
    assert_int_equal(run_auto(f, c, CAMPAIGN_AUTO_START, t0 + 60 * US_PER_S, &r), 1);
    assert_int_equal(r.ids[0], a);
    assert_string_equal(state_of(f, a), "running");
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld AND "
                             "kind = 'state_change' AND from_state = 'scheduled' AND "
                             "to_state = 'running' AND actor = 'system' AND "
                             "reason = 'schedule: starts_at reached'",
                             a),
                     1);
    /* the others wait: no start time, no list, no published flow */
    assert_int_equal(run_auto(f, c, CAMPAIGN_AUTO_START, t0 + 3600 * US_PER_S, &r), 0);
    assert_string_equal(state_of(f, none), "scheduled");
    assert_string_equal(state_of(f, nolist), "scheduled");
    assert_string_equal(state_of(f, unpub), "scheduled");
    db_conn_destroy(c);
}

static void test_auto_complete_when_every_contact_is_final(void **state)
{
    struct fixture *f = *state;
    struct db_conn *c = app_conn(f);
    struct result r;
    int64_t now = f->t0_us + 7200 * US_PER_S;
    long long l1, l2, l3, l4, l5, l6;
    /* final: done, failed, dnc, excluded, handed back as never dialable */
    long long fin = campaign(f, "running", f->flow, true, &l1);
    contact(f, l1, "done", 0, NULL);
    contact(f, l1, "failed", 0, NULL);
    contact(f, l1, "dnc", 0, NULL);
    contact(f, l1, "excluded", 0, NULL);
    contact(f, l1, "pending", 3650LL * 86400, "dnc");
    /* a retry in an hour keeps it running */
    long long retry = campaign(f, "running", f->flow, true, &l2);
    contact(f, l2, "done", 0, NULL);
    long long rc2 = contact(f, l2, "pending", 10 * 3600, "retry");
    /* a callback in ten days */
    long long cb = campaign(f, "running", f->flow, true, &l3);
    tdb_exec(f->su,
             "UPDATE contacts SET callback_at = now() + interval '10 days', next_attempt_at = "
             "now() + interval '10 days' WHERE id = %lld",
             contact(f, l3, "pending", 0, NULL));
    /* leased and dialing contacts */
    long long leased = campaign(f, "running", f->flow, true, &l4);
    contact(f, l4, "leased", 60, NULL);
    long long dialing = campaign(f, "running", f->flow, true, &l5);
    contact(f, l5, "dialing", 60, NULL);
    /* paused with every contact final: left paused (an operator decision) */
    long long paused = campaign(f, "paused", f->flow, true, &l6);
    contact(f, l6, "done", 0, NULL);
    /* running without any list, or with an empty list: not complete (nothing to say it is
     * done: an import may be on its way) */
    long long nolist = campaign(f, "running", f->flow, false, NULL);
    long long empty = campaign(f, "running", f->flow, true, NULL);

    assert_int_equal(run_auto(f, c, CAMPAIGN_AUTO_COMPLETE, now, &r), 1);
    assert_int_equal(r.ids[0], fin);
    assert_string_equal(state_of(f, fin), "completed");
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld AND "
                             "from_state = 'running' AND to_state = 'completed' AND "
                             "actor = 'system' AND reason = 'every contact final'",
                             fin),
                     1);
    assert_string_equal(state_of(f, retry), "running");
    assert_string_equal(state_of(f, cb), "running");
    assert_string_equal(state_of(f, leased), "running");
    assert_string_equal(state_of(f, dialing), "running");
    assert_string_equal(state_of(f, paused), "paused");
    assert_string_equal(state_of(f, nolist), "running");
    assert_string_equal(state_of(f, empty), "running");

    /* the retry ends the contact: the campaign completes at the next check */
    tdb_exec(f->su, "UPDATE contacts SET state = 'done' WHERE id = %lld", rc2);
    assert_int_equal(run_auto(f, c, CAMPAIGN_AUTO_COMPLETE, now, &r), 1);
    assert_int_equal(r.ids[0], retry);
    assert_string_equal(state_of(f, cb), "running");
    db_conn_destroy(c);
}

/* Two nodes ask at the same moment: each campaign changes once, one event each. */
static void test_auto_two_nodes_change_each_campaign_once(void **state)
{
    struct fixture *f = *state;
    struct db_conn *a = app_conn(f), *b = app_conn(f);
    struct result ra, rb;
    long long ids[6], l;
    int64_t now = f->t0_us + 7200 * US_PER_S;
    for (int i = 0; i < 6; i++) {
        ids[i] = campaign(f, "running", f->flow, true, &l);
        contact(f, l, "done", 0, NULL);
    }
    for (int round = 0; round < 2; round++) {
        memset(&ra, 0, sizeof(ra));
        memset(&rb, 0, sizeof(rb));
        assert_int_equal(campaign_store_auto(a, CAMPAIGN_AUTO_COMPLETE, now, on_auto, &ra), 0);
        assert_int_equal(campaign_store_auto(b, CAMPAIGN_AUTO_COMPLETE, now, on_auto, &rb), 0);
        assert_true(evloop_run_until(f->loop, &ra.done, 1, 10.0));
        assert_true(evloop_run_until(f->loop, &rb.done, 1, 10.0));
        assert_int_equal(ra.status, 0);
        assert_int_equal(rb.status, 0);
        assert_int_equal(ra.n + rb.n, round == 0 ? 6 : 0);
    }
    for (int i = 0; i < 6; i++) {
        assert_string_equal(state_of(f, ids[i]), "completed");
        assert_int_equal(tdb_int(f->su,
                                 "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld "
                                 "AND to_state = 'completed'",
                                 ids[i]),
                         1);
    }
    db_conn_destroy(a);
    db_conn_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_start_when_starts_at_is_reached),
        cmocka_unit_test(test_auto_complete_when_every_contact_is_final),
        cmocka_unit_test(test_auto_two_nodes_change_each_campaign_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
