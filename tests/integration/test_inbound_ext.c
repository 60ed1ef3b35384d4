/* SPDX-License-Identifier: MIT */
/*
 * Integration test of ivr/ext_store.c against the private PostgreSQL as the
 * application role (row-level security on): inventory provisioning on the
 * platform path; 40 concurrent "next free" requests over 8 connections get 40
 * different extensions, the lowest ones; a chosen number only while free;
 * moving to another flow (pinned revision); release into quarantine (not
 * claimable, not routed), then freed by the platform job once expired;
 * another tenant can neither see, move nor release it; an audit row per
 * change; routing lookup.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/db.h"
#include "core/err.h"
#include "ivr/ivr.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"

#define DB "test_inbound_ext"

enum { NCONC = 40 };

struct fixture {
    PGconn *su;
    struct ev_loop *loop;
    struct db_pool *pool;
    long long tenant, other, flow1, flow2, flow_other;
};

struct got {
    int n;
    int status;
    int number;
    long long tenant, flow_id;
    int revision;
    char state[16];
};

static void got_cb(void *arg, const struct ivr_ext_result *r)
{
    struct got *g = arg;
    g->status = r->status;
    g->number = r->number;
    g->tenant = r->tenant;
    g->flow_id = r->flow_id;
    g->revision = r->revision;
    snprintf(g->state, sizeof(g->state), "%s", r->state != NULL ? r->state : "");
    g->n++;
}

static void wait1(struct fixture *f, struct got *g)
{
    assert_true(evloop_run_until(f->loop, &g->n, 1, 10.0));
}

static long long flow(struct fixture *f, long long tenant, const char *name)
{
    return tdb_int(f->su,
                   "INSERT INTO ivr_flows (tenant_id, name, draft) VALUES (%lld, '%s', '{}') "
                   "RETURNING id",
                   tenant, name);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];
    struct db_opts o = { .name = "ext" };
    struct got g = { 0 };
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    f->su = tdb_connect(ci);
    f->tenant =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id");
    f->other =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('globex', 'Globex') RETURNING id");
    f->flow1 = flow(f, f->tenant, "main");
    f->flow2 = flow(f, f->tenant, "night");
    f->flow_other = flow(f, f->other, "theirs");
    f->loop = ev_loop_new(EVFLAG_AUTO);
    tdb_conninfo_app(DB, ci, sizeof(ci));
    assert_int_equal(db_pool_create(f->loop, ci, 8, &o, &f->pool), 0);
    for (int i = 0; i < 200 && db_pool_up_count(f->pool) < 8; i++) {
        evloop_run_for(f->loop, 0.05);
    }
    assert_int_equal(db_pool_up_count(f->pool), 8);
    /* Inventory of the inbound pool, then again: nothing new. */
    assert_int_equal(ivr_ext_provision(f->pool, 2000, 2999, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.number, 1000);
    g.n = 0;
    assert_int_equal(ivr_ext_provision(f->pool, 2000, 2999, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.number, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    db_pool_destroy(f->pool);
    ev_loop_destroy(f->loop);
    PQfinish(f->su);
    tdb_drop(DB);
    free(f);
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void test_ext_concurrent_next_free(void **state)
{
    struct fixture *f = *state;
    static struct got g[NCONC];
    int done = 0;
    int nums[NCONC];
    bool sent[NCONC] = { false };
    int inflight_max = 0;
    memset(g, 0, sizeof(g));
    /* Keep every connection busy: a request is sent as soon as one is free. */
    for (int k = 0; k < 1000 && done < NCONC; k++) {
        int inflight = 0;
        for (int i = 0; i < NCONC; i++) {
            long long t = i % 2 == 0 ? f->tenant : f->other;
            long long fl = i % 2 == 0 ? f->flow1 : f->flow_other;
            int rc;
            if (sent[i]) {
                continue;
            }
            rc = ivr_ext_assign(f->pool, t, 1, 0, fl, "line", got_cb, &g[i]);
            if (rc == ERR_BUSY) {
                break;
            }
            assert_int_equal(rc, 0);
            sent[i] = true;
        }
        for (int i = 0; i < NCONC; i++) {
            inflight += sent[i] && g[i].n == 0;
        }
        if (inflight > inflight_max) {
            inflight_max = inflight;
        }
        evloop_run_for(f->loop, 0.005);
        done = 0;
        for (int i = 0; i < NCONC; i++) {
            done += g[i].n;
        }
    }
    assert_int_equal(done, NCONC);
    assert_true(inflight_max >= 4); /* they really overlapped */
    for (int i = 0; i < NCONC; i++) {
        assert_int_equal(g[i].status, 0);
        assert_string_equal(g[i].state, "assigned");
        nums[i] = g[i].number;
    }
    qsort(nums, NCONC, sizeof(nums[0]), cmp_int);
    for (int i = 0; i < NCONC; i++) {
        assert_int_equal(nums[i], 2000 + i); /* distinct and the lowest ones */
    }
    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM audit_log WHERE action = "
                                    "'extension.assign'"),
                     NCONC);
}

static void test_ext_choose_move_release_quarantine(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    long long rev;

    /* A chosen free number; then again (taken); outside the pool. */
    assert_int_equal(ivr_ext_assign(f->pool, f->tenant, 1, 2500, f->flow1, NULL, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.number, 2500);
    g.n = 0;
    assert_int_equal(ivr_ext_assign(f->pool, f->other, 1, 2500, f->flow_other, NULL, got_cb, &g),
                     0);
    wait1(f, &g);
    assert_int_equal(g.status, ERR_CONFLICT);
    assert_int_equal(ivr_ext_assign(f->pool, f->tenant, 1, 3100, f->flow1, NULL, got_cb, &g),
                     ERR_RANGE);

    /* Routing finds it. */
    g.n = 0;
    assert_int_equal(ivr_ext_lookup(f->pool, 2500, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.tenant, f->tenant);
    assert_int_equal(g.flow_id, f->flow1);
    assert_int_equal(g.revision, 0);

    /* Move to another flow, pinned to a revision. */
    tdb_exec(f->su,
             "INSERT INTO ivr_flow_revisions (flow_id, tenant_id, revision, definition) VALUES "
             "(%lld, %lld, 1, '{}')",
             f->flow2, f->tenant);
    rev = 1;
    g.n = 0;
    assert_int_equal(ivr_ext_move(f->pool, f->tenant, 1, 2500, f->flow2, (int)rev, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.flow_id, f->flow2);
    assert_int_equal(g.revision, 1);

    /* The other tenant can neither move nor release it. */
    g.n = 0;
    assert_int_equal(ivr_ext_move(f->pool, f->other, 1, 2500, f->flow_other, 0, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, ERR_NOTFOUND);
    g.n = 0;
    assert_int_equal(ivr_ext_release(f->pool, f->other, 1, 2500, 60, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, ERR_NOTFOUND);

    /* Release: quarantined, not routed, not claimable. */
    g.n = 0;
    assert_int_equal(ivr_ext_release(f->pool, f->tenant, 1, 2500, 3600, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.state, "quarantined");
    g.n = 0;
    assert_int_equal(ivr_ext_lookup(f->pool, 2500, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, ERR_NOTFOUND);
    g.n = 0;
    assert_int_equal(ivr_ext_assign(f->pool, f->other, 1, 2500, f->flow_other, NULL, got_cb, &g),
                     0);
    wait1(f, &g);
    assert_int_equal(g.status, ERR_CONFLICT);

    /* Not yet expired: the job keeps it; expired: free again, then claimable. */
    g.n = 0;
    assert_int_equal(ivr_ext_free_expired(f->pool, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.number, 0);
    tdb_exec(f->su, "UPDATE extensions SET quarantine_until = now() - interval '1 second' "
                    "WHERE number = 2500");
    g.n = 0;
    assert_int_equal(ivr_ext_free_expired(f->pool, got_cb, &g), 0);
    wait1(f, &g);
    assert_int_equal(g.number, 1);
    g.n = 0;
    assert_int_equal(ivr_ext_assign(f->pool, f->other, 1, 2500, f->flow_other, NULL, got_cb, &g),
                     0);
    wait1(f, &g);
    assert_int_equal(g.status, 0);

    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM audit_log WHERE object_id = '2500'"),
                     4); /* assign, move, release, assign */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ext_concurrent_next_free),
        cmocka_unit_test(test_ext_choose_move_release_quarantine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
