/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for the scheduler's contact lease (docs/schema.md, "The
 * lease query"): on 200,000 contacts the query is an ordered index scan of
 * the partial index contacts_lease_idx (EXPLAIN, custom and generic plans,
 * as dialer_app under row-level security); it takes exactly the due pending
 * and expired leased contacts, oldest first; and concurrent leasing
 * transactions (FOR UPDATE SKIP LOCKED) never hand out the same contact.
 * Database test_schema_lease, dropped at the end.
 */
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

#include "tests/integration/test_schema_util.h"

#define DB "test_schema_lease"

enum { LISTS_PER_TENANT = 10, CONTACTS_PER_LIST = 10000 };

/* The lease query, as in docs/schema.md: $1 list, $2 batch, $3 node, $4 lease seconds. */
static const char lease_sql[] =
    "WITH ready AS ("
    " SELECT id FROM contacts"
    " WHERE list_id = $1 AND state IN ('pending', 'leased') AND next_attempt_at <= now()"
    " ORDER BY next_attempt_at"
    " LIMIT $2"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE contacts c"
    " SET state = 'leased', lease_owner = $3,"
    " lease_expires_at = now() + make_interval(secs => $4),"
    " next_attempt_at = now() + make_interval(secs => $4)"
    " FROM ready WHERE c.id = ready.id"
    " RETURNING c.id, c.number, c.attempts, c.time_zones, c.custom";

struct fixture {
    PGconn *su;
    long long ta, tb;
    long long lists[LISTS_PER_TENANT]; /* tenant A's lists */
    char app_conninfo[TDB_CONNINFO_MAX];
};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];

    assert_non_null(f);
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    tdb_conninfo_app(DB, f->app_conninfo, sizeof(f->app_conninfo));
    f->su = tdb_connect(ci);
    f->ta = tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('ta', 'A') RETURNING id");
    f->tb = tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('tb', 'B') RETURNING id");
    for (int i = 0; i < LISTS_PER_TENANT; i++) {
        f->lists[i] = tdb_int(f->su,
                              "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'a%d')"
                              " RETURNING id",
                              f->ta, i);
        tdb_exec(f->su, "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'b%d')", f->tb,
                 i);
    }
    /*
     * Per list: a quarter done; 10% leased with an expired lease, 10% leased
     * with a live one; 1 in 7 of the rest due in an hour; the others due, up
     * to an hour ago.
     */
    tdb_exec(f->su,
             "INSERT INTO contacts (tenant_id, list_id, number, state, next_attempt_at,"
             " lease_owner, lease_expires_at)"
             " SELECT tenant_id, list_id, number, state, due,"
             "   CASE WHEN state = 'leased' THEN 'old-node' END,"
             "   CASE WHEN state = 'leased' THEN due END"
             " FROM (SELECT l.tenant_id, l.id AS list_id,"
             "   '+1' || (2000000000 + g)::text AS number,"
             "   CASE WHEN g %% 4 = 0 THEN 'done' WHEN g %% 10 IN (1, 2) THEN 'leased'"
             "        ELSE 'pending' END AS state,"
             "   CASE WHEN g %% 10 = 1 THEN now() - interval '5 minutes'"
             "        WHEN g %% 10 = 2 THEN now() + interval '5 minutes'"
             "        WHEN g %% 7 = 3 THEN now() + interval '1 hour'"
             "        ELSE now() - (g %% 3600) * interval '1 second' END AS due"
             "   FROM contact_lists l CROSS JOIN generate_series(1, %d) g) s",
             CONTACTS_PER_LIST);
    tdb_exec(f->su, "ANALYZE contacts");
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;

    PQfinish(f->su);
    free(f);
    tdb_drop(DB);
    return 0;
}

/* Contacts of list that the lease query may take now. */
static long long count_ready(PGconn *c, long long list)
{
    return tdb_int(c,
                   "SELECT count(*) FROM contacts WHERE list_id = %lld"
                   " AND state IN ('pending', 'leased') AND next_attempt_at <= now()",
                   list);
}

/* Runs the lease query; returns the result (caller clears). */
static PGresult *lease(PGconn *c, long long list, int batch, const char *node, int seconds)
{
    char lbuf[24], bbuf[16], sbuf[16];
    const char *params[4] = { lbuf, bbuf, node, sbuf };

    snprintf(lbuf, sizeof(lbuf), "%lld", list);
    snprintf(bbuf, sizeof(bbuf), "%d", batch);
    snprintf(sbuf, sizeof(sbuf), "%d", seconds);
    PGresult *r = PQexecParams(c, lease_sql, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "lease: %s", PQresultErrorMessage(r));
        fail();
    }
    return r;
}

static char *plan_text(PGresult *r)
{
    size_t len = 0;
    char *text = NULL;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    for (int i = 0; i < PQntuples(r); i++) {
        fprintf(f, "%s\n", PQgetvalue(r, i, 0));
    }
    fclose(f);
    return text;
}

static void assert_index_plan(const char *plan)
{
    fprintf(stderr, "%s", plan);
    assert_non_null(strstr(plan, "Index Scan using contacts_lease_idx on contacts"));
    /* Ordered by the index: no sort, no bitmap, no sequential scan of contacts. */
    assert_null(strstr(plan, "Sort"));
    assert_null(strstr(plan, "Bitmap"));
    assert_null(strstr(plan, "Seq Scan on contacts"));
}

/* ------------------------------------------------------------------------- */

static void test_lease_query_uses_partial_index(void **state)
{
    struct fixture *f = *state;
    char explain[sizeof(lease_sql) + 16];
    char lbuf[24];
    const char *params[4] = { lbuf, "100", "node-x", "60" };
    PGconn *app = tdb_connect(f->app_conninfo);

    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM contacts"),
                     2LL * LISTS_PER_TENANT * CONTACTS_PER_LIST);
    snprintf(lbuf, sizeof(lbuf), "%lld", f->lists[0]);
    snprintf(explain, sizeof(explain), "EXPLAIN %s", lease_sql);

    /* As the application does it: parameters, a custom plan. */
    tdb_begin_tenant(app, f->ta);
    PGresult *r = PQexecParams(app, explain, 4, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *plan = plan_text(r);
    PQclear(r);
    fprintf(stderr, "lease query, custom plan, 200000 contacts:\n");
    assert_index_plan(plan);
    free(plan);

    /* A prepared statement's generic plan too. */
    tdb_exec(app, "PREPARE lease (bigint, bigint, text, double precision) AS %s", lease_sql);
    tdb_exec(app, "SET LOCAL plan_cache_mode = force_generic_plan");
    r = PQexec(app, "EXPLAIN EXECUTE lease(1, 100, 'node-x', 60)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    plan = plan_text(r);
    PQclear(r);
    fprintf(stderr, "lease query, generic plan:\n");
    assert_index_plan(plan);
    free(plan);
    tdb_exec(app, "ROLLBACK");
    PQfinish(app);
}

static void test_lease_takes_due_contacts_oldest_first(void **state)
{
    struct fixture *f = *state;
    long long list = f->lists[1];
    PGconn *app = tdb_connect(f->app_conninfo);

    /* Due times before leasing. */
    tdb_exec(f->su,
             "CREATE TEMP TABLE before AS SELECT id, next_attempt_at AS due FROM contacts"
             " WHERE list_id = %lld AND ((state = 'pending' AND next_attempt_at <= now())"
             "   OR (state = 'leased' AND lease_expires_at <= now()))",
             list);

    tdb_begin_tenant(app, f->ta);
    PGresult *r = lease(app, list, 100, "node-1", 60);
    assert_int_equal(PQntuples(r), 100);
    size_t idlen = 0;
    char *ids = NULL;
    FILE *idf = open_memstream(&ids, &idlen);
    assert_non_null(idf);
    for (int i = 0; i < PQntuples(r); i++) {
        fprintf(idf, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
    }
    fclose(idf);
    PQclear(r);
    tdb_exec(app, "COMMIT");
    PQfinish(app);

    /* All 100 were ready, and none left behind was due earlier than any taken. */
    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM before WHERE id IN (%s)", ids), 100);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM before WHERE id NOT IN (%s) AND due <"
                             " (SELECT max(due) FROM before WHERE id IN (%s))",
                             ids, ids),
                     0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE id IN (%s) AND state = 'leased'"
                             " AND lease_owner = 'node-1' AND lease_expires_at > now()"
                             " AND next_attempt_at = lease_expires_at",
                             ids),
                     100);
    free(ids);
    tdb_exec(f->su, "DROP TABLE before");

    /* A small list, one contact of each kind: only the due and the expired go. */
    long long small = tdb_int(f->su,
                              "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'small')"
                              " RETURNING id",
                              f->ta);
    tdb_exec(f->su,
             "INSERT INTO contacts (tenant_id, list_id, number, state, next_attempt_at,"
             " lease_owner, lease_expires_at) VALUES"
             " (%lld, %lld, '+13105550001', 'pending', now() - interval '1 min', NULL, NULL),"
             " (%lld, %lld, '+13105550002', 'leased', now() - interval '2 min', 'dead-node',"
             "  now() - interval '2 min'),"
             " (%lld, %lld, '+13105550003', 'leased', now() + interval '2 min', 'live-node',"
             "  now() + interval '2 min'),"
             " (%lld, %lld, '+13105550004', 'pending', now() + interval '1 day', NULL, NULL),"
             " (%lld, %lld, '+13105550005', 'done', now() - interval '1 day', NULL, NULL),"
             " (%lld, %lld, '+13105550006', 'dialing', now() - interval '1 day', 'live-node',"
             "  now() - interval '1 min')",
             f->ta, small, f->ta, small, f->ta, small, f->ta, small, f->ta, small, f->ta, small);
    app = tdb_connect(f->app_conninfo);
    tdb_begin_tenant(app, f->ta);
    r = lease(app, small, 10, "node-2", 60);
    assert_int_equal(PQntuples(r), 2);
    bool got1 = false, got2 = false;
    for (int i = 0; i < PQntuples(r); i++) {
        got1 |= strcmp(PQgetvalue(r, i, 1), "+13105550001") == 0;
        got2 |= strcmp(PQgetvalue(r, i, 1), "+13105550002") == 0;
    }
    assert_true(got1 && got2);
    PQclear(r);
    tdb_exec(app, "COMMIT");
    /* And another tenant's lease query cannot take them. */
    tdb_exec(f->su, "UPDATE contacts SET state = 'pending', lease_owner = NULL,"
                    " lease_expires_at = NULL, next_attempt_at = now() - interval '1 hour'"
                    " WHERE number = '+13105550001'");
    tdb_begin_tenant(app, f->tb);
    r = lease(app, small, 10, "node-3", 60);
    assert_int_equal(PQntuples(r), 0);
    PQclear(r);
    tdb_exec(app, "ROLLBACK");
    PQfinish(app);
}

static void test_lease_two_transactions_skip_locked(void **state)
{
    struct fixture *f = *state;
    long long list = f->lists[2];
    PGconn *c1 = tdb_connect(f->app_conninfo);
    PGconn *c2 = tdb_connect(f->app_conninfo);
    long long ready = count_ready(f->su, list);

    assert_true(ready > 400);
    tdb_begin_tenant(c1, f->ta);
    tdb_begin_tenant(c2, f->ta);
    /* Both transactions open at once: the second skips what the first locked. */
    PGresult *r1 = lease(c1, list, 200, "node-1", 300);
    PGresult *r2 = lease(c2, list, 200, "node-2", 300);
    assert_int_equal(PQntuples(r1), 200);
    assert_int_equal(PQntuples(r2), 200);
    for (int i = 0; i < PQntuples(r1); i++) {
        for (int j = 0; j < PQntuples(r2); j++) {
            if (strcmp(PQgetvalue(r1, i, 0), PQgetvalue(r2, j, 0)) == 0) {
                fprintf(stderr, "contact %s leased by both\n", PQgetvalue(r1, i, 0));
                fail();
            }
        }
    }
    PQclear(r1);
    PQclear(r2);
    tdb_exec(c1, "COMMIT");
    tdb_exec(c2, "COMMIT");
    PQfinish(c1);
    PQfinish(c2);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND"
                             " lease_owner IN ('node-1', 'node-2') AND lease_expires_at > now()",
                             list),
                     400);
    assert_int_equal(count_ready(f->su, list), ready - 400);
}

/* ------------------------------------------------------------------------- */

enum { N_LEASERS = 4, LEASE_BATCH = 25, MAX_LEASED = 8000 };

struct leaser {
    pthread_barrier_t *start;
    const char *conninfo;
    long long tenant, list;
    char node[24];
    long long *ids; /* leased contact ids */
    int n;
    int batches;
    bool failed;
};

static void *leaser_main(void *arg)
{
    struct leaser *l = arg;
    PGconn *c = PQconnectdb(l->conninfo);
    char sql[128];

    pthread_barrier_wait(l->start);
    if (PQstatus(c) != CONNECTION_OK) {
        l->failed = true;
        PQfinish(c);
        return NULL;
    }
    snprintf(sql, sizeof(sql), "BEGIN; SELECT set_config('app.tenant_id', '%lld', true)",
             l->tenant);
    for (;;) {
        char lbuf[24], bbuf[16];
        const char *params[4] = { lbuf, bbuf, l->node, "300" };
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) {
            l->failed = true;
            break;
        }
        snprintf(lbuf, sizeof(lbuf), "%lld", l->list);
        snprintf(bbuf, sizeof(bbuf), "%d", LEASE_BATCH);
        r = PQexecParams(c, lease_sql, 4, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "%s: %s", l->node, PQresultErrorMessage(r));
            PQclear(r);
            l->failed = true;
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && l->n < MAX_LEASED; i++) {
            l->ids[l->n++] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        }
        PQclear(r);
        r = PQexec(c, "COMMIT");
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            l->failed = true;
            break;
        }
        l->batches++;
        if (n == 0) {
            break;
        }
    }
    PQfinish(c);
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void test_lease_concurrent_leasers_never_share(void **state)
{
    struct fixture *f = *state;
    long long list = f->lists[3];
    long long ready = count_ready(f->su, list);
    pthread_barrier_t start;
    pthread_t th[N_LEASERS];
    struct leaser ls[N_LEASERS];
    long long *all;
    int total = 0;

    assert_true(ready > 1000 && ready < MAX_LEASED);
    assert_int_equal(pthread_barrier_init(&start, NULL, N_LEASERS), 0);
    for (int i = 0; i < N_LEASERS; i++) {
        ls[i] = (struct leaser){
            .start = &start, .conninfo = f->app_conninfo, .tenant = f->ta, .list = list
        };
        snprintf(ls[i].node, sizeof(ls[i].node), "leaser-%d", i);
        ls[i].ids = calloc(MAX_LEASED, sizeof(long long));
        assert_non_null(ls[i].ids);
        assert_int_equal(pthread_create(&th[i], NULL, leaser_main, &ls[i]), 0);
    }
    for (int i = 0; i < N_LEASERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    pthread_barrier_destroy(&start);

    all = calloc((size_t)N_LEASERS * MAX_LEASED, sizeof(long long));
    assert_non_null(all);
    for (int i = 0; i < N_LEASERS; i++) {
        assert_false(ls[i].failed);
        fprintf(stderr, "%s: %d contacts in %d transactions\n", ls[i].node, ls[i].n, ls[i].batches);
        memcpy(all + total, ls[i].ids, (size_t)ls[i].n * sizeof(long long));
        total += ls[i].n;
        free(ls[i].ids);
    }
    /* Every ready contact leased exactly once. */
    assert_int_equal(total, ready);
    qsort(all, (size_t)total, sizeof(long long), cmp_ll);
    for (int i = 1; i < total; i++) {
        if (all[i] == all[i - 1]) {
            fprintf(stderr, "contact %lld leased twice\n", all[i]);
            fail();
        }
    }
    free(all);
    assert_int_equal(count_ready(f->su, list), 0);
    assert_int_equal(tdb_int(f->su,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld"
                             " AND lease_owner LIKE 'leaser-%%'",
                             list),
                     ready);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_query_uses_partial_index),
        cmocka_unit_test(test_lease_takes_due_contacts_oldest_first),
        cmocka_unit_test(test_lease_two_transactions_skip_locked),
        cmocka_unit_test(test_lease_concurrent_leasers_never_share),
    };
    return cmocka_run_group_tests_name("schema_lease", tests, group_setup, group_teardown);
}
