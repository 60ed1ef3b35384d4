/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the lessor and the scheduler together against the
 * private PostgreSQL (as dialer_app): contacts are leased in batches, pass
 * the verdict, are launched by a stand-in dialer that runs the attempt
 * protocol (begin, then finish as answered), and contacts the verdict
 * blocks for two hours are handed back to the database with their reason
 * and time, while those blocked for seconds stay held with their leases
 * renewed. Every contact is dialed exactly once. Database
 * test_campaign_lessor.
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
#include "core/clock.h"
#include "core/err.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"

#define DB "test_campaign_lessor"

enum { NCONTACTS = 600 };

struct world {
    struct ev_loop *loop;
    struct db_conn *db;
    struct campaign_sched *sched;
    long long tenant, campaign, list;
    int launched;
    int finished;
    int failures;
    ev_timer tick;
};

struct call {
    struct world *w;
    struct campaign_attempt a;
    char number[CAMPAIGN_E164_MAX + 1];
    char owner[16];
};

static struct campaign_actor actor(struct world *w)
{
    return (struct campaign_actor){ .tenant_id = w->tenant, .actor = "dialer:node-a" };
}

static void on_finished(int status, void *arg)
{
    struct call *c = arg;
    struct world *w = c->w;
    if (status != 0) {
        w->failures++;
    }
    w->finished++;
    campaign_sched_call_ended(w->sched, c->a.campaign_id, false, 1);
    free(c);
}

static void on_begun(int status, char *contact, void *arg)
{
    free(contact); /* not asked for: NULL */
    struct call *c = arg;
    struct world *w = c->w;
    struct campaign_actor who = actor(w);
    if (status != 0) {
        w->failures++;
        free(c);
        return;
    }
    /* the call would be originated here; it is answered and ends at once */
    struct campaign_attempt_end e = {
        .id = c->a.id, .outcome = "human", .hangup_cause = 16, .sip_code = -1, .disposition = "sale"
    };
    if (campaign_store_attempt_finish(w->db, &who, &e, on_finished, c) != 0) {
        w->failures++;
        free(c);
    }
}

static int launch(void *arg, const struct campaign_launch *l)
{
    struct world *w = arg;
    struct campaign_actor who = actor(w);
    struct call *c = calloc(1, sizeof(*c));
    if (!c) {
        return ERR_NOMEM;
    }
    c->w = w;
    memcpy(c->number, l->contact->number, sizeof(c->number));
    snprintf(c->owner, sizeof(c->owner), "node-a");
    c->a = (struct campaign_attempt){ .campaign_id = l->contact->campaign_id,
                                      .contact_id = l->contact->id,
                                      .owner = c->owner,
                                      .number = c->number };
    campaign_attempt_id_new(c->a.id);
    int rc = campaign_store_attempt_begin(w->db, &who, &c->a, on_begun, c);
    if (rc != 0) {
        free(c);
        return rc;
    }
    w->launched++;
    return 0;
}

static int64_t start_us;

/*
 * Compliance stand-in: one contact in 15 is outside its window for two
 * hours (handed back); one in 7 of the others waits out a frequency cap for
 * the first 2.5 s (held, its lease renewed, then dialed).
 */
static void verdict(void *arg, const struct campaign_contact *c, int64_t now_us,
                    struct campaign_verdict *v)
{
    (void)arg;
    if (c->id % 15 == 0) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_WINDOW;
        v->next_us = now_us + 7200 * INT64_C(1000000);
    } else if (c->id % 7 == 0 && now_us < start_us + 2500000) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_CAP;
        v->next_us = start_us + 2500000;
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct world *w = t->data;
    (void)loop;
    (void)revents;
    campaign_sched_tick(w->sched, clock_wall_us());
}

static void test_lessor_feeds_the_scheduler_and_hands_back_blocked(void **state)
{
    struct world w = { 0 };
    char ci[TDB_CONNINFO_MAX], app[TDB_CONNINFO_MAX];
    (void)state;
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    tdb_conninfo_app(DB, app, sizeof(app));
    PGconn *su = tdb_connect(ci);
    w.tenant = tdb_int(su, "INSERT INTO tenants (slug, name) VALUES ('acme', 'A') RETURNING id");
    long long flow = tdb_int(
        su, "INSERT INTO ivr_flows (tenant_id, name) VALUES (%lld, 'f') RETURNING id", w.tenant);
    w.campaign = tdb_int(su,
                         "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'c', "
                         "%lld) RETURNING id",
                         w.tenant, flow);
    tdb_exec(su, "UPDATE campaigns SET state = 'running' WHERE id = %lld", w.campaign);
    w.list =
        tdb_int(su, "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'l') RETURNING id",
                w.tenant);
    tdb_exec(su,
             "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, "
             "%lld)",
             w.tenant, w.campaign, w.list);
    tdb_exec(su,
             "INSERT INTO contacts (tenant_id, list_id, number, next_attempt_at) SELECT %lld, "
             "%lld, '+1415' || (2000000 + g)::text, now() - g * interval '1 second' FROM "
             "generate_series(1, %d) g",
             w.tenant, w.list, NCONTACTS);
    long long blocked =
        tdb_int(su, "SELECT count(*) FROM contacts WHERE list_id = %lld AND id %% 15 = 0", w.list);

    w.loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(db_conn_create(w.loop, app, NULL, &w.db), 0);
    for (int i = 0; i < 500 && !db_conn_is_up(w.db); i++) {
        evloop_run_for(w.loop, 0.01);
    }
    struct campaign_sched_opts so = { .verdict = verdict, .launch = launch, .launch_arg = &w };
    assert_int_equal(campaign_sched_create(&so, &w.sched), 0);
    struct campaign_settings set;
    campaign_settings_default(&set);
    set.pacing = CAMPAIGN_PACING_FIXED;
    set.cps = 2000;
    set.max_channels = 40;
    assert_int_equal(
        campaign_sched_campaign(w.sched, w.tenant, w.campaign, &set, 0, clock_wall_us()), 0);
    assert_int_equal(campaign_sched_set_running(w.sched, w.campaign, true), 0);
    struct campaign_lessor *lessor = NULL;
    struct campaign_lessor_opts lo = { .loop = w.loop,
                                       .db = w.db,
                                       .sched = w.sched,
                                       .owner = "node-a",
                                       .batch = 100,
                                       .lease_s = 6,
                                       .low_water = 50,
                                       .period_s = 0.05 };
    assert_int_equal(campaign_lessor_create(&lo, &lessor), 0);
    assert_int_equal(campaign_lessor_add(lessor, w.tenant, w.campaign, w.list), 0);
    assert_int_equal(campaign_lessor_add(lessor, w.tenant, 424242, w.list), ERR_NOTFOUND);
    start_us = clock_wall_us();
    ev_timer_init(&w.tick, on_tick, 0.02, 0.02);
    w.tick.data = &w;
    ev_timer_start(w.loop, &w.tick);

    int want = NCONTACTS - (int)blocked;
    assert_true(evloop_run_until(w.loop, &w.finished, want, 30.0));
    /* let the last releases land */
    struct campaign_lessor_stats st;
    for (int i = 0; i < 200; i++) {
        campaign_lessor_stats(lessor, &st);
        if ((long long)st.released >= blocked) {
            break;
        }
        evloop_run_for(w.loop, 0.05);
    }
    print_message("leased %llu, released %llu, renewed %llu, launched %d, errors %llu\n",
                  (unsigned long long)st.leased, (unsigned long long)st.released,
                  (unsigned long long)st.renewed, w.launched, (unsigned long long)st.errors);
    assert_int_equal(w.failures, 0);
    assert_int_equal(st.errors, 0);
    assert_int_equal(w.launched, want);
    assert_int_equal((long long)st.released, blocked);
    assert_true(st.renewed > 0); /* the capped ones were held past a third of their lease */
    /* every allowed contact dialed exactly once, and finished */
    assert_int_equal(
        tdb_int(su, "SELECT count(*) FROM call_attempts WHERE campaign_id = %lld", w.campaign),
        want);
    assert_int_equal(tdb_int(su,
                             "SELECT count(DISTINCT contact_id) FROM call_attempts WHERE "
                             "campaign_id = %lld AND ended_at IS NOT NULL",
                             w.campaign),
                     want);
    assert_int_equal(tdb_int(su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND state = "
                             "'done' AND attempts = 1 AND last_disposition = 'sale'",
                             w.list),
                     want);
    /* the blocked ones wait in the database, with their reason and time */
    assert_int_equal(tdb_int(su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND state = "
                             "'pending' AND block_reason = 'window' AND attempts = 0 AND "
                             "next_attempt_at > now() + interval '1 hour'",
                             w.list),
                     blocked);
    ev_timer_stop(w.loop, &w.tick);
    campaign_lessor_destroy(lessor);
    campaign_sched_destroy(w.sched);
    db_conn_destroy(w.db);
    ev_loop_destroy(w.loop);
    PQfinish(su);
    tdb_drop(DB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lessor_feeds_the_scheduler_and_hands_back_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
