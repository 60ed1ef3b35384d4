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

/* ---------------------------------------------------------------------- */
/* The execution recorder                                                  */
/* ---------------------------------------------------------------------- */

struct rec_ctx {
    struct ivr_recorder *rec;
    long long tenant;
    char id[37];
    uint64_t play_op;
    int ends;
};

static int r_play(void *c, uint64_t op, const char *const *m, size_t n, const char *l)
{
    (void)m;
    (void)n;
    (void)l;
    ((struct rec_ctx *)c)->play_op = op;
    return 0;
}

static int r_say(void *c, uint64_t op, const char *t, const char *l, const char *v)
{
    (void)t;
    (void)l;
    (void)v;
    ((struct rec_ctx *)c)->play_op = op;
    return 0;
}

static int r_hangup(void *c, int cause)
{
    (void)c;
    (void)cause;
    return 0;
}

static const struct ivr_channel_ops rops = { .play = r_play, .say = r_say, .hangup = r_hangup };

static void r_step(void *arg, const struct ivr_step *st)
{
    struct rec_ctx *x = arg;
    ivr_recorder_step(x->rec, x->tenant, x->id, st);
}

static void r_end(void *arg, const struct ivr_end *e)
{
    struct rec_ctx *x = arg;
    ivr_recorder_end(x->rec, x->tenant, x->id, e);
    x->ends++;
}

static void test_store_recorder_writes_executions(void **state)
{
    struct fixture *f = *state;
    static const char *src =
        "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"
        "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"pin\"}},"
        "\"pin\":{\"type\":\"collect\",\"props\":{\"prompt\":[{\"say\":\"PIN\"}],"
        "\"max_digits\":4,\"mask\":true},\"next\":{\"input\":\"e\",\"noinput\":\"e\","
        "\"nomatch\":\"e\"}},\"e\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"ok\"}}}}";
    long long flow = tdb_int(f->su,
                             "INSERT INTO ivr_flows (tenant_id, name) VALUES (%lld, 'rec') "
                             "RETURNING id",
                             f->tenant);
    struct ivr_flow *fl = NULL;
    struct ivr_report *rep = NULL;
    assert_int_equal(ivr_flow_load(src, strlen(src), NULL, &fl, &rep), 0);
    ivr_report_free(rep);
    struct rec_ctx x = { .tenant = f->tenant };
    assert_int_equal(ivr_recorder_create(f->loop, f->pool, 50, 0, &x.rec), 0);

    enum { CALLS = 20 };

    for (int i = 0; i < CALLS; i++) {
        struct ivr_exec_meta m = { .tenant = f->tenant,
                                   .flow_id = flow,
                                   .revision = 0,
                                   .direction = "simulated",
                                   .caller = "+14155550123" };
        assert_int_equal(ivr_recorder_begin(x.rec, &m, x.id), 0);
        struct ivr_session_config cfg = {
            .ops = &rops, .ops_ctx = &x, .on_step = r_step, .on_end = r_end, .cb_arg = &x
        };
        struct ivr_session *s = ivr_session_create(fl, &cfg, NULL);
        ivr_session_start(s, "api", NULL);
        struct ivr_event done = { .type = IVR_EV_PLAYBACK_DONE, .op = x.play_op };
        ivr_session_event(s, &done);
        for (const char *k = "4321"; *k; k++) {
            struct ivr_event d = { .type = IVR_EV_DTMF, .digit = *k };
            ivr_session_event(s, &d);
        }
        ivr_session_destroy(s);
    }
    assert_int_equal(x.ends, CALLS);
    /* 20 executions, 3 steps each, 20 ends = 100 rows, written in batches. */
    struct ivr_recorder_stats st;
    for (int i = 0; i < 200; i++) {
        ivr_recorder_stats(x.rec, &st);
        if (st.written == 100) {
            break;
        }
        evloop_run_for(f->loop, 0.05);
    }
    assert_int_equal(st.written, 100);
    assert_int_equal(st.dropped, 0);
    assert_true(st.flushes >= 1);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM ivr_executions WHERE flow_id = %lld AND "
                             "status = 'ended' AND ended_reason = 'completed' AND draft AND "
                             "steps = 3 AND last_node = 'e'",
                             flow),
                     CALLS);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM ivr_steps s JOIN ivr_executions e ON "
                             "e.id = s.execution_id WHERE e.flow_id = %lld",
                             flow),
                     3 * CALLS);
    /* The PIN never reaches the database in clear. */
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM ivr_steps s JOIN ivr_executions e ON "
                             "e.id = s.execution_id WHERE e.flow_id = %lld AND s.node_id = "
                             "'pin' AND s.vars_delta->>'nodes.pin.digits' = '***' AND "
                             "s.event_out = 'input'",
                             flow),
                     CALLS);
    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM ivr_steps WHERE vars_delta::text LIKE "
                                    "'%%4321%%' OR detail::text LIKE '%%4321%%'"),
                     0);
    ivr_recorder_destroy(x.rec);
    ivr_flow_unref(fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_draft_publish_revisions),
        cmocka_unit_test(test_store_recorder_writes_executions),
    };
    return cmocka_run_group_tests_name("ivr_store", tests, setup, teardown);
}
