/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for tenant isolation by row-level security: connected as
 * dialer_app, a transaction acting for tenant A (app.tenant_id) sees, changes
 * and creates only A's rows; without app.tenant_id nothing is visible; the
 * platform path (SET LOCAL ROLE dialer_platform) sees everything; shared rows
 * (national DNC, free extensions) follow their own policies; append-only
 * tables stay append-only. Database test_schema_rls, dropped at the end.
 */
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

#define DB "test_schema_rls"

#define INSUFFICIENT_PRIVILEGE "42501"

/* One tenant's seeded rows. */
struct tenant_rows {
    long long id, user, flow, list, campaign, contact, extension;
    char attempt[37];
};

struct fixture {
    PGconn *su;  /* superuser: seeds and checks behind RLS's back */
    PGconn *app; /* dialer_app */
    struct tenant_rows a, b;
    long long free_extension;
    char **tables; /* every table with RLS, NULL-terminated */
};

/* Seeds one row (at least) in every tenant-owned table. */
static void seed_tenant(PGconn *c, const char *slug, int n, struct tenant_rows *t)
{
    t->id =
        tdb_int(c, "INSERT INTO tenants (slug, name) VALUES ('%s', '%s') RETURNING id", slug, slug);
    t->user = tdb_int(c,
                      "INSERT INTO users (tenant_id, email, role) VALUES (%lld, 'admin@%s.example',"
                      " 'admin') RETURNING id",
                      t->id, slug);
    tdb_exec(c,
             "INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role, created_by)"
             " VALUES (%lld, 'ci', 'dk_%s_0001', sha256('k%d'), 'editor', %lld)",
             t->id, slug, n, t->user);
    tdb_exec(c,
             "INSERT INTO refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at)"
             " VALUES (%lld, %lld, gen_random_uuid(), sha256('r%d'), now() + interval '30 days')",
             t->id, t->user, n);
    t->flow =
        tdb_int(c,
                "INSERT INTO ivr_flows (tenant_id, name, latest_revision) VALUES (%lld, 'f', 1)"
                " RETURNING id",
                t->id);
    tdb_exec(c,
             "INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition,"
             " published_by) VALUES (%lld, %lld, 1, '{}', %lld)",
             t->id, t->flow, t->user);
    tdb_exec(c, "UPDATE ivr_flows SET published_revision = 1 WHERE id = %lld", t->flow);
    t->list = tdb_int(
        c, "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'l') RETURNING id", t->id);
    t->campaign =
        tdb_int(c,
                "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'c', %lld)"
                " RETURNING id",
                t->id, t->flow);
    tdb_exec(
        c, "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, %lld)",
        t->id, t->campaign, t->list);
    t->contact = tdb_int(c,
                         "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld,"
                         " '+1415555%04d') RETURNING id",
                         t->id, t->list, n);
    tdb_exec(c,
             "INSERT INTO dnc_lists (scope, tenant_id, name, source) VALUES ('tenant', %lld,"
             " 'internal', 'internal')",
             t->id);
    tdb_exec(c,
             "INSERT INTO dnc_entries (scope, tenant_id, number, source) VALUES ('tenant', %lld,"
             " '+1415666%04d', 'api')",
             t->id, n);
    t->extension = tdb_int(c,
                           "INSERT INTO extensions (number, pool, state, tenant_id, flow_id)"
                           " VALUES (%d, 'inbound', 'assigned', %lld, %lld) RETURNING id",
                           2000 + n, t->id, t->flow);
    PGresult *r = PQexec(c, "SELECT gen_random_uuid()");
    snprintf(t->attempt, sizeof(t->attempt), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    tdb_exec(
        c,
        "INSERT INTO call_attempts (id, tenant_id, campaign_id, contact_id, number, attempt_no,"
        " dialer_node, state, ended_at) VALUES ('%s', %lld, %lld, %lld, '+1415555%04d', 1,"
        " 'node-1', 'ended', now())",
        t->attempt, t->id, t->campaign, t->contact, n);
    tdb_exec(c,
             "INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, started_at,"
             " ended_at, ring_timeout_s, total_ms, outcome) VALUES ('%s', %lld, %lld,"
             " '+1415555%04d', now(), now(), 25, 1000, 'no_answer')",
             t->attempt, t->id, t->campaign, n);
    tdb_exec(c,
             "WITH e AS (INSERT INTO ivr_executions (tenant_id, flow_id, flow_revision, direction,"
             " call_attempt_id) VALUES (%lld, %lld, 1, 'outbound', '%s') RETURNING id)"
             " INSERT INTO ivr_steps (execution_id, seq, tenant_id, node_id, node_type, started_at)"
             " SELECT id, 1, %lld, 'welcome', 'say', now() FROM e",
             t->id, t->flow, t->attempt, t->id);
    tdb_exec(
        c,
        "WITH j AS (INSERT INTO import_jobs (tenant_id, list_id, upload_id) VALUES (%lld, %lld,"
        " 'u1') RETURNING id) INSERT INTO import_rejects (job_id, row_no, tenant_id, reason,"
        " original) SELECT id, 1, %lld, 'invalid_number', '{}' FROM j",
        t->id, t->list, t->id);
    tdb_exec(c, "INSERT INTO usage_daily (tenant_id, day, attempts) VALUES (%lld, current_date, 1)",
             t->id);
    tdb_exec(c,
             "INSERT INTO compliance_decisions (tenant_id, campaign_id, contact_id, attempt_id,"
             " number, verdict, rule, rules_version) VALUES (%lld, %lld, %lld, '%s',"
             " '+1415555%04d', 'allow', 'allow', 'r1')",
             t->id, t->campaign, t->contact, t->attempt, n);
    tdb_exec(c, "INSERT INTO audit_log (tenant_id, action) VALUES (%lld, 'user.create')", t->id);
    tdb_exec(c,
             "INSERT INTO api_idempotency (tenant_id, idem_key, request_hash)"
             " VALUES (%lld, 'key-%d', repeat('0', 64))",
             t->id, n);
    tdb_exec(c,
             "INSERT INTO campaign_metrics_minute (tenant_id, campaign_id, node, minute, attempts)"
             " VALUES (%lld, %lld, 'node-1', date_trunc('minute', now()), 1)",
             t->id, t->campaign);
    tdb_exec(
        c,
        "INSERT INTO tenant_secrets (tenant_id, name, ciphertext, nonce)"
        " VALUES (%lld, 'token', decode(repeat('00', 32), 'hex'), decode(repeat('00', 24), 'hex'))",
        t->id);
    tdb_exec(c,
             "WITH e AS (INSERT INTO webhook_endpoints (tenant_id, url, events, secret_ct,"
             " secret_nonce) VALUES (%lld, 'https://crm.example.com/hooks', '{*}',"
             " decode(repeat('00', 32), 'hex'), decode(repeat('00', 24), 'hex')) RETURNING id)"
             " INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, data)"
             " SELECT %lld, id, gen_random_uuid(), 'call.completed', '{}' FROM e",
             t->id, t->id);
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];

    assert_non_null(f);
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    f->su = tdb_connect(ci);
    seed_tenant(f->su, "alpha", 1, &f->a);
    seed_tenant(f->su, "bravo", 2, &f->b);
    f->free_extension = tdb_int(f->su, "INSERT INTO extensions (number, pool) VALUES (2100,"
                                       " 'inbound') RETURNING id");
    tdb_exec(f->su, "WITH l AS (INSERT INTO dnc_lists (scope, name, source, list_date)"
                    " VALUES ('national', 'FTC', 'ftc', current_date) RETURNING id)"
                    " INSERT INTO dnc_entries (scope, list_id, number, source)"
                    " SELECT 'national', id, '+12025550100', 'ftc' FROM l");
    tdb_exec(f->su, "INSERT INTO audit_log (tenant_id, action) VALUES (NULL, 'tenant.create')");

    PGresult *r = PQexec(f->su, "SELECT c.relname FROM pg_class c JOIN pg_namespace n"
                                " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                                " AND c.relkind = 'r' AND c.relrowsecurity ORDER BY 1");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    f->tables = calloc((size_t)PQntuples(r) + 1, sizeof(char *));
    assert_non_null(f->tables);
    for (int i = 0; i < PQntuples(r); i++) {
        f->tables[i] = strdup(PQgetvalue(r, i, 0));
    }
    assert_true(PQntuples(r) >= 23);
    PQclear(r);

    tdb_conninfo_app(DB, ci, sizeof(ci));
    f->app = tdb_connect(ci);
    assert_string_equal(PQuser(f->app), "dialer_app");
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;

    for (char **t = f->tables; *t != NULL; t++) {
        free(*t);
    }
    free(f->tables);
    PQfinish(f->app);
    PQfinish(f->su);
    free(f);
    tdb_drop(DB);
    return 0;
}

static bool has_tenant_column(PGconn *su, const char *table)
{
    return tdb_int(su,
                   "SELECT count(*) FROM pg_attribute WHERE attrelid = '%s'::regclass"
                   " AND attname = 'tenant_id' AND NOT attisdropped",
                   table) == 1;
}

/* ------------------------------------------------------------------------- */

static void test_rls_nothing_visible_without_tenant(void **state)
{
    struct fixture *f = *state;

    /* A transaction that set a tenant first, so the setting now reads as ''. */
    tdb_begin_tenant(f->app, f->a.id);
    assert_true(tdb_int(f->app, "SELECT count(*) FROM contacts") > 0);
    tdb_exec(f->app, "COMMIT");

    for (char **t = f->tables; *t != NULL; t++) {
        assert_true(tdb_int(f->su, "SELECT count(*) FROM %s", *t) > 0);
        tdb_begin_tenant(f->app, 0);
        long long n = tdb_int(f->app, "SELECT count(*) FROM %s", *t);
        tdb_exec(f->app, "COMMIT");
        if (n != 0) {
            fprintf(stderr, "%s: %lld rows visible without app.tenant_id\n", *t, n);
            fail();
        }
    }
    /* Nor is anything writable. */
    tdb_begin_tenant(f->app, 0);
    assert_int_equal(tdb_rows(f->app, "UPDATE contacts SET attempts = attempts + 1"), 0);
    assert_int_equal(tdb_rows(f->app, "DELETE FROM campaign_lists"), 0);
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'nope')", f->a.id);
    tdb_exec(f->app, "ROLLBACK");
}

static void test_rls_select_sees_only_own_tenant(void **state)
{
    struct fixture *f = *state;

    tdb_begin_tenant(f->app, f->a.id);
    for (char **t = f->tables; *t != NULL; t++) {
        if (!has_tenant_column(f->su, *t)) {
            continue;
        }
        long long own =
            tdb_int(f->su, "SELECT count(*) FROM %s WHERE tenant_id = %lld", *t, f->a.id);
        long long seen = tdb_int(f->app, "SELECT count(*) FROM %s WHERE tenant_id IS NOT NULL", *t);
        long long other =
            tdb_int(f->app, "SELECT count(*) FROM %s WHERE tenant_id = %lld", *t, f->b.id);
        if (own == 0 || seen != own || other != 0) {
            fprintf(stderr, "%s: own %lld, seen %lld, other tenant's %lld\n", *t, own, seen, other);
            fail();
        }
    }
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM tenants"), 1);
    assert_int_equal(tdb_int(f->app, "SELECT id FROM tenants"), f->a.id);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM contacts WHERE id = %lld", f->b.contact),
                     0);
    assert_int_equal(
        tdb_int(f->app, "SELECT count(*) FROM call_attempts WHERE id = '%s'", f->b.attempt), 0);
    /* Platform-level audit entries are not a tenant's. */
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM audit_log WHERE tenant_id IS NULL"), 0);
    tdb_exec(f->app, "COMMIT");
}

static void test_rls_update_and_delete_cannot_reach_other_tenant(void **state)
{
    struct fixture *f = *state;

    tdb_begin_tenant(f->app, f->a.id);
    assert_int_equal(
        tdb_rows(f->app, "UPDATE campaigns SET name = 'stolen' WHERE id = %lld", f->b.campaign), 0);
    assert_int_equal(
        tdb_rows(f->app, "UPDATE contacts SET attempts = 99 WHERE tenant_id = %lld", f->b.id), 0);
    assert_int_equal(tdb_rows(f->app, "UPDATE users SET role = 'viewer'"), 1);
    assert_int_equal(tdb_rows(f->app, "DELETE FROM contacts WHERE id = %lld", f->b.contact), 0);
    assert_int_equal(tdb_rows(f->app, "DELETE FROM api_keys WHERE tenant_id <> %lld", f->a.id), 0);
    assert_int_equal(tdb_rows(f->app, "DELETE FROM refresh_tokens"), 1);
    /* Moving an own row to the other tenant is refused. */
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "UPDATE contact_lists SET tenant_id = %lld WHERE id = %lld", f->b.id, f->a.list);
    tdb_exec(f->app, "ROLLBACK");

    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM campaigns WHERE name = 'stolen'"), 0);
    assert_int_equal(tdb_int(f->su, "SELECT attempts FROM contacts WHERE id = %lld", f->b.contact),
                     0);
    assert_int_equal(tdb_int(f->su, "SELECT count(*) FROM contacts WHERE id = %lld", f->b.contact),
                     1);
}

static void test_rls_insert_for_other_tenant_refused(void **state)
{
    struct fixture *f = *state;

    tdb_begin_tenant(f->app, f->a.id);
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'planted')", f->b.id);
    tdb_exec(f->app, "ROLLBACK");
    tdb_begin_tenant(f->app, f->a.id);
    tdb_fails(
        f->app, INSUFFICIENT_PRIVILEGE,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155559999')",
        f->b.id, f->b.list);
    tdb_exec(f->app, "ROLLBACK");
    tdb_begin_tenant(f->app, f->a.id);
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
              " VALUES ('tenant', %lld, '+14155559999', 'api')",
              f->b.id);
    tdb_exec(f->app, "ROLLBACK");
    /* Its own rows it can create, campaign events included (by trigger). */
    tdb_begin_tenant(f->app, f->a.id);
    long long list = tdb_int(f->app,
                             "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'mine')"
                             " RETURNING id",
                             f->a.id);
    tdb_exec(
        f->app,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155559999')",
        f->a.id, list);
    long long camp =
        tdb_int(f->app,
                "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'mine',"
                " %lld) RETURNING id",
                f->a.id, f->a.flow);
    tdb_exec(f->app, "UPDATE campaigns SET state = 'running' WHERE id = %lld", camp);
    assert_int_equal(tdb_int(f->app,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld"
                             " AND actor = 'test:%lld'",
                             camp, f->a.id),
                     2);
    tdb_exec(f->app, "COMMIT");
}

static void test_rls_platform_path(void **state)
{
    struct fixture *f = *state;
    long long all = tdb_int(f->su, "SELECT count(*) FROM campaigns");

    /* Membership alone gives nothing (dialer_app is NOINHERIT)... */
    tdb_begin_tenant(f->app, 0);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM campaigns"), 0);
    tdb_exec(f->app, "COMMIT");
    /* ...the explicit switch gives everything, for this transaction only. */
    tdb_begin_tenant(f->app, 0);
    tdb_exec(f->app, "SET LOCAL ROLE dialer_platform");
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM campaigns"), all);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM tenants"),
                     tdb_int(f->su, "SELECT count(*) FROM tenants"));
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM audit_log WHERE tenant_id IS NULL"), 1);
    long long t = tdb_int(f->app, "INSERT INTO tenants (slug, name) VALUES ('charlie', 'Charlie')"
                                  " RETURNING id");
    tdb_exec(f->app,
             "INSERT INTO users (tenant_id, email, role) VALUES (%lld, 'admin@charlie.example',"
             " 'admin')",
             t);
    /* Login before the tenant is known: by e-mail, across tenants. */
    assert_int_equal(tdb_int(f->app, "SELECT tenant_id FROM users WHERE lower(email) ="
                                     " 'admin@bravo.example'"),
                     f->b.id);
    tdb_exec(f->app, "COMMIT");
    tdb_begin_tenant(f->app, 0);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM campaigns"), 0);
    /* A tenant cannot create tenants, and the app cannot become anyone else. */
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "INSERT INTO tenants (slug, name) VALUES ('x1', 'x')");
    tdb_exec(f->app, "ROLLBACK");
    tdb_begin_tenant(f->app, 0);
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE, "SET LOCAL ROLE dialer");
    tdb_exec(f->app, "ROLLBACK");
}

static void test_rls_shared_rows(void **state)
{
    struct fixture *f = *state;

    /* The national registry is read by every tenant, written by none. */
    tdb_begin_tenant(f->app, f->b.id);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM dnc_entries WHERE scope = 'national'"),
                     1);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM dnc_entries"), 2);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM dnc_lists WHERE scope = 'national'"), 1);
    assert_int_equal(tdb_rows(f->app, "DELETE FROM dnc_entries WHERE scope = 'national'"), 0);
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "INSERT INTO dnc_lists (scope, name, source) VALUES ('national', 'fake', 'ftc')");
    tdb_exec(f->app, "ROLLBACK");

    /* Free extensions can be claimed; assigned ones stay with their tenant. */
    tdb_begin_tenant(f->app, f->a.id);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM extensions"), 2);
    assert_int_equal(tdb_rows(f->app,
                              "UPDATE extensions SET state = 'assigned', tenant_id = %lld,"
                              " flow_id = %lld, assigned_at = now() WHERE id = %lld",
                              f->a.id, f->a.flow, f->free_extension),
                     1);
    tdb_exec(f->app, "COMMIT");
    tdb_begin_tenant(f->app, f->a.id);
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE, "UPDATE extensions SET number = 2999 WHERE id = %lld",
              f->a.extension);
    tdb_exec(f->app, "ROLLBACK");
    tdb_begin_tenant(f->app, f->b.id);
    assert_int_equal(tdb_int(f->app, "SELECT count(*) FROM extensions"), 1);
    assert_int_equal(tdb_rows(f->app, "UPDATE extensions SET tenant_id = %lld WHERE id = %lld",
                              f->b.id, f->free_extension),
                     0);
    /* Nor can a tenant release an extension to nobody directly. */
    tdb_fails(f->app, INSUFFICIENT_PRIVILEGE,
              "UPDATE extensions SET state = 'free', tenant_id = NULL, flow_id = NULL"
              " WHERE id = %lld",
              f->b.extension);
    tdb_exec(f->app, "ROLLBACK");
}

static void test_rls_append_only_tables(void **state)
{
    struct fixture *f = *state;
    static const char *const denied[] = {
        "UPDATE ivr_flow_revisions SET message = 'x'",
        "DELETE FROM ivr_flow_revisions",
        "UPDATE call_logs SET abandoned = false",
        "DELETE FROM call_logs",
        "DELETE FROM call_attempts",
        "UPDATE campaign_events SET reason = 'x'",
        "DELETE FROM compliance_decisions",
        "UPDATE dnc_entries SET source = 'x'",
        "DELETE FROM audit_log",
        "UPDATE tenants SET name = 'x'",
        "TRUNCATE contacts",
    };

    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        tdb_begin_tenant(f->app, f->a.id);
        tdb_fails(f->app, INSUFFICIENT_PRIVILEGE, "%s", denied[i]);
        tdb_exec(f->app, "ROLLBACK");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rls_nothing_visible_without_tenant),
        cmocka_unit_test(test_rls_select_sees_only_own_tenant),
        cmocka_unit_test(test_rls_update_and_delete_cannot_reach_other_tenant),
        cmocka_unit_test(test_rls_insert_for_other_tenant_refused),
        cmocka_unit_test(test_rls_platform_path),
        cmocka_unit_test(test_rls_shared_rows),
        cmocka_unit_test(test_rls_append_only_tables),
    };
    return cmocka_run_group_tests_name("schema_rls", tests, group_setup, group_teardown);
}
