/* SPDX-License-Identifier: MIT */
/*
 * Inbound routing against the private PostgreSQL and a real ari-sim: calls to
 * an inbound extension run the published revision of the flow bound to it;
 * a revision published while a call runs changes only the next call; another
 * tenant's extension runs that tenant's flow; an unassigned extension hears
 * the message and is hung up; a call over the per-extension limit hears the
 * overflow message.
 */
#include <ev.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/db.h"
#include "core/err.h"
#include "ivr/ivr.h"
#include "sim/simc.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"
#include "tests/support/ivrfix.h"

#define DB "test_inbound"

enum { MAX_ENDS = 1024, LOAD_CALLS = 500, LOAD_EXTS = 20 };

struct fx {
    struct ivrdb db;  /* the database, its two tenants and the pool */
    struct simfix sx; /* ari-sim and the ARI client */
    struct ev_loop *loop;
    struct ivr_ari *d;
    struct ivr_inbound *in;
    long long fa, fb;
    int n_end;
    char disp[MAX_ENDS][16];
    long long tenant[MAX_ENDS];
    int ext[MAX_ENDS];
    long long flow[MAX_ENDS];
    int reason[MAX_ENDS];
};

static struct fx *F;

#define FLOWV(tag, ms)                                                                     \
    "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"                                \
    "\"s\":{\"type\":\"start\",\"props\":{\"triggers\":[\"inbound\"]},\"next\":{\"next\":" \
    "\"w\"}},\"w\":{\"type\":\"wait\",\"props\":{\"duration_ms\":" ms "},\"next\":{"       \
    "\"next\":\"h\"}},\"h\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"" tag "\"}}}}"

static void on_end(void *arg, long long tenant, int ext, long long flow_id, int revision,
                   const struct ivr_end *e)
{
    struct fx *f = arg;
    (void)revision;
    if (f->n_end < MAX_ENDS) {
        f->flow[f->n_end] = flow_id;
        f->reason[f->n_end] = (int)e->reason;
        snprintf(f->disp[f->n_end], 16, "%s", e->disposition != NULL ? e->disposition : "");
        f->tenant[f->n_end] = tenant;
        f->ext[f->n_end] = ext;
    }
    f->n_end++;
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    if (ivr_ari_dispatch(f->d, ev)) {
        return;
    }
    ivr_inbound_start(f->in, c, ev);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct simfix_config sc = { .app = "dialer", .dialplan = "none", .on_event = on_event };
    struct ivr_inbound_config icfg = { 0 };

    assert_non_null(f);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ivrdb_setup(&f->db, f->loop, DB, "inbound");
    f->fa = ivrdb_publish(&f->db, f->db.ta, 0, FLOWV("a1", "1500"));
    f->fb = ivrdb_publish(&f->db, f->db.tb, 0, FLOWV("b1", "100"));
    assert_int_equal(ivr_ext_provision(f->db.pool, 2000, 2999, ivrdb_ext_cb, &f->db), 0);
    ivrdb_wait(&f->db);
    assert_int_equal(
        ivr_ext_assign(f->db.pool, f->db.ta, 0, 2000, f->fa, NULL, ivrdb_ext_cb, &f->db), 0);
    ivrdb_wait(&f->db);
    assert_int_equal(
        ivr_ext_assign(f->db.pool, f->db.tb, 0, 2001, f->fb, NULL, ivrdb_ext_cb, &f->db), 0);
    ivrdb_wait(&f->db);

    assert_int_equal(simfix_mkdir(&f->sx, "test_inbound"), 0);
    sc.arg = f;
    F = f;
    *state = f;
    if (simfix_start(&f->sx, f->loop, &sc) != 0) {
        return -1;
    }
    assert_int_equal(ivr_ari_create(f->loop, NULL, &f->d), 0);
    icfg.loop = f->loop;
    icfg.db = f->db.pool;
    icfg.ari = f->d;
    icfg.max_per_extension = 2;
    icfg.on_end = on_end;
    icfg.arg = f;
    assert_int_equal(ivr_inbound_create(&icfg, &f->in), 0);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc;
    ivr_inbound_destroy(f->in);
    rc = simfix_stop(&f->sx);
    ivr_ari_destroy(f->d);
    ivrdb_teardown(&f->db, DB);
    ev_loop_destroy(f->loop);
    free(f);
    return rc;
}

static void call(struct fx *f, const char *ext)
{
    char path[200];
    struct simc_resp r;
    snprintf(path, sizeof(path),
             "/_sim/inbound?extension=%s&app=dialer&caller=%%2B14155550100&population=default",
             ext);
    assert_int_equal(simc_http(f->sx.sim.port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
}

static void test_inbound_revisions_tenants_refusals(void **state)
{
    struct fx *f = *state;
    struct ivr_inbound_stats st;

    /* A call to 2000 starts revision 1 (a 1.5 s wait). */
    call(f, "2000");
    for (int i = 0; i < 300; i++) {
        ivr_inbound_stats(f->in, &st);
        if (st.started >= 1) {
            break;
        }
        evloop_run_for(f->loop, 0.02);
    }
    assert_int_equal(st.started, 1);
    /* Revision 2 published mid-call. */
    ivrdb_publish(&f->db, f->db.ta, f->fa, FLOWV("a2", "100"));
    call(f, "2000"); /* the second on the extension: within the limit of 2 */
    call(f, "2001"); /* the other tenant */
    call(f, "2999"); /* unassigned */
    assert_true(evloop_run_until(f->loop, &f->n_end, 3, 10.0));
    ivr_inbound_stats(f->in, &st);
    assert_int_equal(st.unknown, 1);
    assert_int_equal(st.failed, 0);
    assert_int_equal(f->n_end, 3);
    /* Order: the short ones first, the running revision 1 last. */
    for (int i = 0; i < 3; i++) {
        if (f->ext[i] == 2001) {
            assert_string_equal(f->disp[i], "b1");
            assert_int_equal(f->tenant[i], f->db.tb);
        } else {
            assert_int_equal(f->ext[i], 2000);
            assert_int_equal(f->tenant[i], f->db.ta);
        }
    }
    assert_string_equal(f->disp[2], "a1");
    assert_true(strcmp(f->disp[0], "a2") == 0 || strcmp(f->disp[1], "a2") == 0);

    /* Overflow: 2000 allows 2 at once (revision 2 is short: pin it long again). */
    ivrdb_publish(&f->db, f->db.ta, f->fa, FLOWV("a3", "1500"));
    call(f, "2000");
    call(f, "2000");
    for (int i = 0; i < 300; i++) {
        ivr_inbound_stats(f->in, &st);
        if (st.started >= 5) {
            break;
        }
        evloop_run_for(f->loop, 0.02);
    }
    assert_int_equal(st.started, 5);
    call(f, "2000");
    for (int i = 0; i < 300; i++) {
        ivr_inbound_stats(f->in, &st);
        if (st.overflow >= 1) {
            break;
        }
        evloop_run_for(f->loop, 0.02);
    }
    assert_int_equal(st.overflow, 1);
    assert_true(evloop_run_until(f->loop, &f->n_end, 5, 10.0));
    /* Every call gone: refused ones too. */
    for (int i = 0; i < 300; i++) {
        ivr_inbound_stats(f->in, &st);
        if (st.active == 0) {
            break;
        }
        evloop_run_for(f->loop, 0.02);
    }
    assert_int_equal(st.active, 0);
    assert_int_equal(ivr_ari_count(f->d), 0);
}

/*
 * 500 concurrent calls across 20 extensions of 3 tenants (no limits): every
 * call runs the flow of the tenant owning the extension it dialled, and they
 * really run at the same time (the pool of 4 database connections makes
 * most of them wait for a connection, which they do instead of failing).
 */
static void test_inbound_500_concurrent(void **state)
{
    struct fx *f = *state;
    struct ivr_inbound_config icfg = {
        .loop = f->loop, .db = f->db.pool, .ari = f->d, .on_end = on_end, .arg = f
    };
    struct ivr_inbound_stats st;
    long long tc, fc, fa, fb, owner[LOAD_EXTS];
    const char *tag[LOAD_EXTS];
    long long fid[LOAD_EXTS];
    long peak = 0;
    int base;

    ivr_inbound_destroy(f->in);
    assert_int_equal(ivr_inbound_create(&icfg, &f->in), 0);
    tc = tdb_int(f->db.su, "INSERT INTO tenants (slug, name) VALUES ('initech', 'Initech') "
                           "RETURNING id");
    tdb_exec(f->db.su,
             "INSERT INTO users (tenant_id, email, role) VALUES (%lld, 'c@initech.example', "
             "'editor')",
             tc);
    fa = ivrdb_publish(&f->db, f->db.ta, 0, FLOWV("ta", "2500"));
    fb = ivrdb_publish(&f->db, f->db.tb, 0, FLOWV("tb", "2500"));
    fc = ivrdb_publish(&f->db, tc, 0, FLOWV("tc", "2500"));
    for (int i = 0; i < LOAD_EXTS; i++) {
        long long t = i % 3 == 0 ? f->db.ta : i % 3 == 1 ? f->db.tb : tc;
        long long fl = i % 3 == 0 ? fa : i % 3 == 1 ? fb : fc;
        owner[i] = t;
        tag[i] = i % 3 == 0 ? "ta" : i % 3 == 1 ? "tb" : "tc";
        fid[i] = fl;
        assert_int_equal(ivr_ext_assign(f->db.pool, t, 0, 2100 + i, fl, NULL, ivrdb_ext_cb, &f->db),
                         0);
        ivrdb_wait(&f->db);
    }
    base = f->n_end;
    for (int i = 0; i < LOAD_CALLS; i++) {
        char ext[8];
        snprintf(ext, sizeof(ext), "%d", 2100 + i % LOAD_EXTS);
        call(f, ext);
        if (i % 50 == 49) {
            evloop_run_for(f->loop, 0.01);
        }
    }
    for (int i = 0; i < 3000 && f->n_end < base + LOAD_CALLS; i++) {
        evloop_run_for(f->loop, 0.02);
        ivr_inbound_stats(f->in, &st);
        if (st.active > peak) {
            peak = st.active;
        }
    }
    assert_int_equal(f->n_end, base + LOAD_CALLS);
    ivr_inbound_stats(f->in, &st);
    assert_int_equal(st.started, LOAD_CALLS);
    assert_int_equal(st.failed + st.unknown + st.overflow, 0);
    assert_true(peak >= LOAD_CALLS * 9 / 10); /* at the same time, not one after another */
    int completed = 0;
    for (int i = base; i < base + LOAD_CALLS; i++) {
        int k = f->ext[i] - 2100;
        completed += f->reason[i] == IVR_END_COMPLETED;
        assert_true(k >= 0 && k < LOAD_EXTS);
        assert_int_equal(f->tenant[i], owner[k]);
        assert_int_equal(f->flow[i], fid[k]);
        /* The flow ran to its end, or the simulated caller hung up first. */
        if (f->reason[i] == IVR_END_COMPLETED) {
            assert_string_equal(f->disp[i], tag[k]);
        } else {
            assert_int_equal(f->reason[i], IVR_END_HANGUP);
        }
    }
    fprintf(stderr, "500 calls: peak %ld at once, %d ran to their hangup node\n", peak, completed);
    assert_true(completed >= LOAD_CALLS / 2);
    for (int i = 0; i < 300; i++) {
        ivr_inbound_stats(f->in, &st);
        if (st.active == 0 && ivr_ari_count(f->d) == 0) {
            break;
        }
        evloop_run_for(f->loop, 0.02);
    }
    assert_int_equal(st.active, 0);
    assert_int_equal(ivr_ari_count(f->d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound_revisions_tenants_refusals),
        cmocka_unit_test(test_inbound_500_concurrent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
