/* SPDX-License-Identifier: MIT */
/*
 * Integration test of ivr/store.c against the private PostgreSQL, as the
 * application role (row-level security on): drafts saved valid or not with
 * the verdict, the publish gate, immutable integer revisions with messages,
 * "latest published" against a pinned revision, the draft for test runs,
 * and tenant isolation.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
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

#define DB "test_ivr_store"

struct fixture {
    PGconn *su;
    struct ev_loop *loop;
    struct db_pool *pool;
    long long tenant, user, other;
};

struct got {
    int n;
    int status;
    long long id;
    int revision;
    char *definition;
    char *report;
};

static void got_cb(void *arg, const struct ivr_store_result *r)
{
    struct got *g = arg;
    g->status = r->status;
    g->id = r->id;
    g->revision = r->revision;
    free(g->definition);
    free(g->report);
    g->definition = r->definition ? strdup(r->definition) : NULL;
    g->report = r->report ? strdup(r->report) : NULL;
    g->n++;
}

static void wait_for(struct fixture *f, struct got *g)
{
    assert_true(evloop_run_until(f->loop, &g->n, 1, 10.0));
}

static const char *GOOD1 =
    "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"
    "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"h\"}},"
    "\"h\":{\"type\":\"say\",\"props\":{\"text\":\"Version one\"},\"next\":{\"done\":\"e\"}},"
    "\"e\":{\"type\":\"hangup\"}}}";
static const char *GOOD2 =
    "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"
    "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"h\"}},"
    "\"h\":{\"type\":\"say\",\"props\":{\"text\":\"Version two\"},\"next\":{\"done\":\"e\"}},"
    "\"e\":{\"type\":\"hangup\"}}}";
static const char *BAD = "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"
                         "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"nowhere\"}}}}";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    f->su = tdb_connect(ci);
    f->tenant =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id");
    f->user = tdb_int(f->su,
                      "INSERT INTO users (tenant_id, email, role) VALUES (%lld, "
                      "'ed@acme.example', 'editor') RETURNING id",
                      f->tenant);
    f->other =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('globex', 'Globex') RETURNING id");
    f->loop = ev_loop_new(EVFLAG_AUTO);
    tdb_conninfo_app(DB, ci, sizeof(ci));
    struct db_opts o = { .name = "ivrstore" };
    assert_int_equal(db_pool_create(f->loop, ci, 2, &o, &f->pool), 0);
    int up = 0;
    for (int i = 0; i < 200 && !db_pool_is_up(f->pool); i++) {
        evloop_run_for(f->loop, 0.05);
    }
    (void)up;
    assert_true(db_pool_is_up(f->pool));
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

static void test_store_draft_publish_revisions(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };

    /* An invalid draft is stored, with its verdict. */
    assert_int_equal(ivr_store_create(f->pool, f->tenant, f->user, "Main line", BAD, got_cb, &g),
                     0);
    wait_for(f, &g);
    assert_int_equal(g.status, 0);
    long long flow = g.id;
    assert_true(flow > 0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM ivr_flows WHERE id = %lld AND "
                             "draft_valid = false AND draft_errors->>'valid' = 'false'",
                             flow),
                     1);
    /* Publishing it is refused with the report; nothing is frozen. */
    g.n = 0;
    assert_int_equal(ivr_store_publish(f->pool, f->tenant, f->user, flow, "try", got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.status, ERR_INVAL);
    assert_non_null(g.report);
    assert_non_null(strstr(g.report, "dangling_transition"));
    assert_int_equal(
        tdb_int(f->su, "SELECT count(*) FROM ivr_flow_revisions WHERE flow_id = %lld", flow), 0);

    /* A valid draft publishes as revision 1 with its message. */
    g.n = 0;
    assert_int_equal(ivr_store_save_draft(f->pool, f->tenant, f->user, flow, GOOD1, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.status, 0);
    g.n = 0;
    assert_int_equal(
        ivr_store_publish(f->pool, f->tenant, f->user, flow, "first version", got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.revision, 1);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM ivr_flow_revisions WHERE flow_id = %lld AND "
                             "revision = 1 AND message = 'first version' AND published_by = %lld",
                             flow, f->user),
                     1);
    assert_int_equal(
        tdb_int(f->su, "SELECT published_revision FROM ivr_flows WHERE id = %lld", flow), 1);

    /* Editing the draft does not change what calls get. */
    g.n = 0;
    assert_int_equal(ivr_store_save_draft(f->pool, f->tenant, f->user, flow, GOOD2, got_cb, &g), 0);
    wait_for(f, &g);
    g.n = 0;
    assert_int_equal(ivr_store_load(f->pool, f->tenant, flow, 0, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.revision, 1);
    assert_non_null(strstr(g.definition, "Version one"));
    g.n = 0;
    assert_int_equal(ivr_store_load(f->pool, f->tenant, flow, -1, got_cb, &g), 0);
    wait_for(f, &g);
    assert_non_null(strstr(g.definition, "Version two"));

    /* Revision 2; a call pinned to 1 still loads 1, and it loads into the engine. */
    g.n = 0;
    assert_int_equal(ivr_store_publish(f->pool, f->tenant, f->user, flow, "second", got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.revision, 2);
    g.n = 0;
    assert_int_equal(ivr_store_load(f->pool, f->tenant, flow, 1, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.revision, 1);
    struct ivr_flow *fl = NULL;
    struct ivr_report *rep = NULL;
    assert_int_equal(ivr_flow_load(g.definition, strlen(g.definition), NULL, &fl, &rep), 0);
    ivr_flow_unref(fl);
    ivr_report_free(rep);
    g.n = 0;
    assert_int_equal(ivr_store_load(f->pool, f->tenant, flow, 0, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.revision, 2);
    /* Revisions are immutable. */
    tdb_fails(f->su, "23001", "UPDATE ivr_flow_revisions SET message = 'x' WHERE flow_id = %lld",
              flow);

    /* Another tenant sees nothing. */
    g.n = 0;
    assert_int_equal(ivr_store_load(f->pool, f->other, flow, 0, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.status, ERR_NOTFOUND);
    g.n = 0;
    assert_int_equal(ivr_store_save_draft(f->pool, f->other, f->user, flow, GOOD1, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_not_equal(g.status, 0);
    g.n = 0;
    assert_int_equal(ivr_store_load(f->pool, f->tenant, flow, 7, got_cb, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.status, ERR_NOTFOUND);
    free(g.definition);
    free(g.report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_draft_publish_revisions),
    };
    return cmocka_run_group_tests_name("ivr_store", tests, setup, teardown);
}
