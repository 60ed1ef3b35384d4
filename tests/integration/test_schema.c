/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for the data model's constraints (sql/): each test
 * writes rows that the schema must refuse and checks the SQLSTATE, next to
 * rows it must accept. Runs as the superuser (row-level security is tested
 * in test_schema_rls.c) on a fresh database test_schema, dropped at the end.
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

#define DB "test_schema"

/* SQLSTATEs */
#define CHECK_VIOLATION    "23514"
#define UNIQUE_VIOLATION   "23505"
#define FK_VIOLATION       "23503"
#define NOT_NULL_VIOLATION "23502"
#define RESTRICT_VIOLATION "23001"

struct fixture {
    PGconn *c;
    long long ta, tb;   /* tenants */
    long long list_a;   /* a list of ta */
    long long list_a2;  /* another list of ta */
    long long list_b;   /* a list of tb */
    long long flow_a;   /* a flow of ta with revision 1 published */
    long long flow_b;   /* a flow of tb */
    long long campaign; /* a draft campaign of ta */
};

static long long new_tenant(PGconn *c, const char *slug)
{
    return tdb_int(c, "INSERT INTO tenants (slug, name) VALUES ('%s', '%s') RETURNING id", slug,
                   slug);
}

static long long new_list(PGconn *c, long long tenant, const char *name)
{
    return tdb_int(c,
                   "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, '%s') RETURNING id",
                   tenant, name);
}

static long long new_flow(PGconn *c, long long tenant, const char *name, bool publish)
{
    long long id = tdb_int(c,
                           "INSERT INTO ivr_flows (tenant_id, name, draft) VALUES (%lld, '%s',"
                           " '{\"format\": \"ivrflow/1\"}') RETURNING id",
                           tenant, name);
    if (publish) {
        tdb_exec(c, "UPDATE ivr_flows SET latest_revision = 1 WHERE id = %lld", id);
        tdb_exec(
            c,
            "INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition, message)"
            " VALUES (%lld, %lld, 1, '{\"format\": \"ivrflow/1\"}', 'first')",
            tenant, id);
        tdb_exec(c, "UPDATE ivr_flows SET published_revision = 1 WHERE id = %lld", id);
    }
    return id;
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];

    assert_non_null(f);
    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    f->c = tdb_connect(ci);
    f->ta = new_tenant(f->c, "tenant-a");
    f->tb = new_tenant(f->c, "tenant-b");
    f->list_a = new_list(f->c, f->ta, "list a");
    f->list_a2 = new_list(f->c, f->ta, "list a2");
    f->list_b = new_list(f->c, f->tb, "list b");
    f->flow_a = new_flow(f->c, f->ta, "flow a", true);
    f->flow_b = new_flow(f->c, f->tb, "flow b", true);
    f->campaign = tdb_int(
        f->c, "INSERT INTO campaigns (tenant_id, name) VALUES (%lld, 'base') RETURNING id", f->ta);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;

    PQfinish(f->c);
    free(f);
    tdb_drop(DB);
    return 0;
}

/* ------------------------------------------------------------------------- */

static void test_schema_contact_number_must_be_e164(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "4155550100",        /* no + */
        "+04155550100",      /* country code cannot start with 0 */
        "+141555",           /* too short: 6 digits */
        "+1234567890123456", /* too long: 16 digits */
        "+1 415 555 0100",   /* formatting */
        "+1415555010a",      /* not a digit */
        "",
    };

    tdb_exec(
        f->c,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155550100')",
        f->ta, f->list_a);
    tdb_exec(f->c,
             "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+4930123456')",
             f->ta, f->list_a);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tdb_fails(f->c, CHECK_VIOLATION,
                  "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '%s')",
                  f->ta, f->list_a, bad[i]);
    }
    /* Alternate numbers are checked element by element. */
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO contacts (tenant_id, list_id, number, alt_numbers)"
              " VALUES (%lld, %lld, '+14155550101', '{+14155550102,555-0103}')",
              f->ta, f->list_a);
    tdb_exec(f->c,
             "INSERT INTO contacts (tenant_id, list_id, number, alt_numbers)"
             " VALUES (%lld, %lld, '+14155550101', '{+14155550102,+14155550103}')",
             f->ta, f->list_a);
    /* And everywhere a number is stored. */
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
              " VALUES ('tenant', %lld, '0800123456', 'api')",
              f->ta);
}

static void test_schema_one_number_per_list(void **state)
{
    struct fixture *f = *state;

    tdb_exec(
        f->c,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155551000')",
        f->ta, f->list_a);
    tdb_fails(
        f->c, UNIQUE_VIOLATION,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155551000')",
        f->ta, f->list_a);
    /* The same number in another list is another contact. */
    tdb_exec(
        f->c,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155551000')",
        f->ta, f->list_a2);
}

static void test_schema_campaign_state_is_checked(void **state)
{
    struct fixture *f = *state;

    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO campaigns (tenant_id, name, state) VALUES (%lld, 'x', 'flying')", f->ta);
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET state = 'flying' WHERE id = %lld",
              f->campaign);
    /* The CHECK holds on its own, with the state-machine trigger out of the way. */
    tdb_exec(f->c, "BEGIN");
    tdb_exec(f->c, "SET LOCAL session_replication_role = replica");
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET state = 'flying' WHERE id = %lld",
              f->campaign);
    tdb_exec(f->c, "ROLLBACK");
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO campaigns (tenant_id, name, pacing_mode) VALUES (%lld, 'y', 'turbo')",
              f->ta);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO campaigns (tenant_id, name, pacing_mode) VALUES (%lld, 'y', 'fixed')",
              f->ta);
    tdb_exec(f->c,
             "INSERT INTO campaigns (tenant_id, name, pacing_mode, cps)"
             " VALUES (%lld, 'fixed-rate', 'fixed', 5)",
             f->ta);
}

static void test_schema_ring_time_at_least_15s(void **state)
{
    struct fixture *f = *state;

    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO campaigns (tenant_id, name, ring_time_s) VALUES (%lld, 'short', 10)",
              f->ta);
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET ring_time_s = 14 WHERE id = %lld",
              f->campaign);
    tdb_exec(f->c, "INSERT INTO campaigns (tenant_id, name, ring_time_s) VALUES (%lld, 'ok15', 15)",
             f->ta);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO campaigns (tenant_id, name, abandon_cap_pct) VALUES (%lld, 'cap', 101)",
              f->ta);
}

static void test_schema_campaign_state_machine_and_audit(void **state)
{
    struct fixture *f = *state;
    long long id = tdb_int(f->c,
                           "INSERT INTO campaigns (tenant_id, name) VALUES (%lld, 'machine')"
                           " RETURNING id",
                           f->ta);

    /* Leaving draft needs a flow. */
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET state = 'running' WHERE id = %lld", id);
    tdb_exec(f->c, "UPDATE campaigns SET flow_id = %lld WHERE id = %lld", f->flow_a, id);
    tdb_exec(f->c, "BEGIN");
    tdb_exec(f->c, "SELECT set_config('app.actor', 'user:7', true)");
    tdb_exec(f->c, "SELECT set_config('app.reason', 'go', true)");
    tdb_exec(f->c, "UPDATE campaigns SET state = 'running' WHERE id = %lld", id);
    tdb_exec(f->c, "COMMIT");
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET state = 'draft' WHERE id = %lld", id);
    tdb_exec(f->c, "UPDATE campaigns SET state = 'paused' WHERE id = %lld", id);
    tdb_exec(f->c, "UPDATE campaigns SET state = 'running' WHERE id = %lld", id);
    tdb_exec(f->c, "UPDATE campaigns SET state = 'completed' WHERE id = %lld", id);
    /* Final. */
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET state = 'running' WHERE id = %lld", id);
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE campaigns SET state = 'stopped' WHERE id = %lld", id);
    /* Updates that do not change state are not events. */
    tdb_exec(f->c, "UPDATE campaigns SET name = 'machine 2' WHERE id = %lld", id);

    assert_int_equal(
        tdb_int(f->c, "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld", id), 5);
    assert_int_equal(tdb_int(f->c,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld"
                             " AND kind = 'state_change' AND from_state = 'draft'"
                             " AND to_state = 'running' AND actor = 'user:7' AND reason = 'go'",
                             id),
                     1);
    assert_int_equal(tdb_int(f->c,
                             "SELECT count(*) FROM campaign_events WHERE campaign_id = %lld"
                             " AND kind = 'created' AND to_state = 'draft'",
                             id),
                     1);
    /* A campaign pinned to a revision the flow does not have is refused. */
    tdb_fails(f->c, FK_VIOLATION, "UPDATE campaigns SET flow_revision = 9 WHERE id = %lld", id);
}

static void test_schema_extension_pools(void **state)
{
    struct fixture *f = *state;

    tdb_exec(f->c, "INSERT INTO extensions (number, pool) VALUES (2500, 'inbound')");
    tdb_exec(f->c, "INSERT INTO extensions (number, pool) VALUES (3500, 'outbound')");
    tdb_exec(f->c, "INSERT INTO extensions (number, pool) VALUES (4999, 'reserved')");
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO extensions (number, pool) VALUES (3501, 'inbound')");
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO extensions (number, pool) VALUES (1999, 'inbound')");
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO extensions (number, pool) VALUES (5000, 'reserved')");
    tdb_fails(f->c, CHECK_VIOLATION, "INSERT INTO extensions (number, pool) VALUES (2600, 'vip')");
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO extensions (number, pool) VALUES (2500, 'inbound')");
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE extensions SET pool = 'outbound' WHERE number = 2500");
    /* State and ownership go together. */
    tdb_fails(f->c, CHECK_VIOLATION,
              "UPDATE extensions SET state = 'assigned' WHERE number = 2500");
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE extensions SET tenant_id = %lld WHERE number = 2500",
              f->ta);
    tdb_exec(f->c,
             "UPDATE extensions SET state = 'assigned', tenant_id = %lld, flow_id = %lld"
             " WHERE number = 2500",
             f->ta, f->flow_a);
    /* A flow of another tenant cannot be bound. */
    tdb_fails(f->c, FK_VIOLATION, "UPDATE extensions SET flow_id = %lld WHERE number = 2500",
              f->flow_b);
    tdb_fails(f->c, CHECK_VIOLATION,
              "UPDATE extensions SET state = 'quarantined' WHERE number = 2500");
    tdb_exec(f->c, "UPDATE extensions SET state = 'quarantined', flow_id = NULL,"
                   " quarantine_until = now() + interval '30 days' WHERE number = 2500");
}

static void test_schema_published_revision_immutable(void **state)
{
    struct fixture *f = *state;
    long long flow = new_flow(f->c, f->ta, "immutable", true);

    tdb_fails(f->c, RESTRICT_VIOLATION,
              "UPDATE ivr_flow_revisions SET message = 'rewritten' WHERE flow_id = %lld", flow);
    tdb_fails(f->c, RESTRICT_VIOLATION,
              "UPDATE ivr_flow_revisions SET definition = '{}' WHERE flow_id = %lld", flow);
    tdb_fails(f->c, RESTRICT_VIOLATION, "DELETE FROM ivr_flow_revisions WHERE flow_id = %lld",
              flow);
    tdb_fails(f->c, RESTRICT_VIOLATION, "TRUNCATE ivr_flow_revisions CASCADE");
    assert_int_equal(
        tdb_int(f->c, "SELECT count(*) FROM ivr_flow_revisions WHERE flow_id = %lld", flow), 1);
    /* Revision numbers are unique per flow. */
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition)"
              " VALUES (%lld, %lld, 1, '{}')",
              f->ta, flow);
    /* The published pointer must name an existing revision. */
    tdb_fails(f->c, CHECK_VIOLATION, "UPDATE ivr_flows SET published_revision = 2 WHERE id = %lld",
              flow);
    tdb_exec(f->c, "UPDATE ivr_flows SET latest_revision = 2 WHERE id = %lld", flow);
    tdb_fails(f->c, FK_VIOLATION, "UPDATE ivr_flows SET published_revision = 2 WHERE id = %lld",
              flow);
    /* The draft can change freely; deleting the flow takes its history along. */
    tdb_exec(f->c,
             "UPDATE ivr_flows SET draft = '{\"format\": \"ivrflow/1\", \"x\": 1}'"
             " WHERE id = %lld",
             flow);
    tdb_exec(f->c, "DELETE FROM ivr_flows WHERE id = %lld", flow);
    assert_int_equal(
        tdb_int(f->c, "SELECT count(*) FROM ivr_flow_revisions WHERE flow_id = %lld", flow), 0);
    /* A flow used by a campaign cannot be deleted. */
    long long used = new_flow(f->c, f->ta, "used", true);
    tdb_exec(f->c, "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'uses', %lld)",
             f->ta, used);
    tdb_fails(f->c, FK_VIOLATION, "DELETE FROM ivr_flows WHERE id = %lld", used);
}

static void test_schema_no_cross_tenant_references(void **state)
{
    struct fixture *f = *state;

    tdb_fails(f->c, FK_VIOLATION,
              "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'cross', %lld)",
              f->ta, f->flow_b);
    tdb_fails(
        f->c, FK_VIOLATION,
        "INSERT INTO contacts (tenant_id, list_id, number) VALUES (%lld, %lld, '+14155552000')",
        f->ta, f->list_b);
    tdb_fails(
        f->c, FK_VIOLATION,
        "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, %lld)",
        f->ta, f->campaign, f->list_b);
    tdb_fails(f->c, FK_VIOLATION,
              "INSERT INTO import_jobs (tenant_id, list_id, upload_id) VALUES (%lld, %lld, 'u')",
              f->tb, f->list_a);
}

static void test_schema_list_dialed_by_one_campaign(void **state)
{
    struct fixture *f = *state;
    long long other = tdb_int(f->c,
                              "INSERT INTO campaigns (tenant_id, name) VALUES (%lld, 'other')"
                              " RETURNING id",
                              f->ta);

    tdb_exec(
        f->c,
        "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, %lld)",
        f->ta, f->campaign, f->list_a2);
    tdb_fails(
        f->c, UNIQUE_VIOLATION,
        "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, %lld)",
        f->ta, other, f->list_a2);
}

static void test_schema_contact_lease_invariants(void **state)
{
    struct fixture *f = *state;

    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO contacts (tenant_id, list_id, number, state)"
              " VALUES (%lld, %lld, '+14155553000', 'leased')",
              f->ta, f->list_a);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO contacts (tenant_id, list_id, number, lease_owner, lease_expires_at)"
              " VALUES (%lld, %lld, '+14155553000', 'node-1', now())",
              f->ta, f->list_a);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO contacts (tenant_id, list_id, number, state, lease_owner,"
              " lease_expires_at, next_attempt_at)"
              " VALUES (%lld, %lld, '+14155553000', 'leased', 'node-1', now() + interval '1 min',"
              " now())",
              f->ta, f->list_a);
    tdb_exec(f->c,
             "INSERT INTO contacts (tenant_id, list_id, number, state, lease_owner,"
             " lease_expires_at, next_attempt_at)"
             " VALUES (%lld, %lld, '+14155553000', 'leased', 'node-1', now() + interval '1 min',"
             " now() + interval '1 min')",
             f->ta, f->list_a);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO contacts (tenant_id, list_id, number, state) VALUES (%lld, %lld,"
              " '+14155553001', 'sleeping')",
              f->ta, f->list_a);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO contacts (tenant_id, list_id, number, time_zones) VALUES (%lld, %lld,"
              " '+14155553001', '{\"America/New York\"}')",
              f->ta, f->list_a);
}

static void test_schema_dnc_scopes_and_uniqueness(void **state)
{
    struct fixture *f = *state;
    long long national =
        tdb_int(f->c, "INSERT INTO dnc_lists (scope, name, source, country, list_date,"
                      " max_age_days) VALUES ('national', 'FTC', 'ftc', 'US',"
                      " current_date, 31) RETURNING id");

    tdb_exec(f->c,
             "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
             " VALUES ('tenant', %lld, '+14155554000', 'ivr_opt_out')",
             f->ta);
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
              " VALUES ('tenant', %lld, '+14155554000', 'api')",
              f->ta);
    /* Same number, other scope owner: fine. */
    tdb_exec(f->c,
             "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
             " VALUES ('tenant', %lld, '+14155554000', 'api')",
             f->tb);
    tdb_exec(f->c,
             "INSERT INTO dnc_entries (scope, tenant_id, campaign_id, number, source)"
             " VALUES ('campaign', %lld, %lld, '+14155554000', 'api')",
             f->ta, f->campaign);
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, campaign_id, number, source)"
              " VALUES ('campaign', %lld, %lld, '+14155554000', 'api')",
              f->ta, f->campaign);
    tdb_exec(f->c,
             "INSERT INTO dnc_entries (scope, list_id, number, source)"
             " VALUES ('national', %lld, '+14155554000', 'ftc')",
             national);
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO dnc_entries (scope, list_id, number, source)"
              " VALUES ('national', %lld, '+14155554000', 'ftc')",
              national);
    /* Prefix blocks: NANP NPA or NPA-NXX. */
    tdb_exec(f->c,
             "INSERT INTO dnc_entries (scope, tenant_id, prefix, source)"
             " VALUES ('tenant', %lld, '+1415', 'api'), ('tenant', %lld, '+1212555', 'api')",
             f->ta, f->ta);
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, prefix, source)"
              " VALUES ('tenant', %lld, '+1415', 'api')",
              f->ta);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, prefix, source)"
              " VALUES ('tenant', %lld, '+44207', 'api')",
              f->ta);
    /* Exactly one of number and prefix; the scope decides the owner columns. */
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, number, prefix, source)"
              " VALUES ('tenant', %lld, '+14155554001', '+1415', 'api')",
              f->ta);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
              " VALUES ('national', %lld, '+14155554001', 'ftc')",
              f->ta);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO dnc_entries (scope, tenant_id, number, source)"
              " VALUES ('campaign', %lld, '+14155554001', 'api')",
              f->ta);
    /* A national entry belongs to a national list. */
    long long tlist = tdb_int(f->c,
                              "INSERT INTO dnc_lists (scope, tenant_id, name, source)"
                              " VALUES ('tenant', %lld, 'internal', 'internal') RETURNING id",
                              f->ta);
    tdb_fails(f->c, FK_VIOLATION,
              "INSERT INTO dnc_entries (scope, list_id, number, source)"
              " VALUES ('national', %lld, '+14155554002', 'ftc')",
              tlist);
    /* Reloading a registry replaces its entries. */
    tdb_exec(f->c, "DELETE FROM dnc_lists WHERE id = %lld", national);
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM dnc_entries WHERE scope = 'national'"), 0);
}

static void test_schema_import_upload_idempotent(void **state)
{
    struct fixture *f = *state;

    tdb_exec(f->c,
             "INSERT INTO import_jobs (tenant_id, list_id, upload_id) VALUES (%lld, %lld, 'up-1')",
             f->ta, f->list_a);
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO import_jobs (tenant_id, list_id, upload_id) VALUES (%lld, %lld, 'up-1')",
              f->ta, f->list_a);
    tdb_exec(f->c,
             "INSERT INTO import_jobs (tenant_id, list_id, upload_id) VALUES (%lld, %lld, 'up-1')",
             f->ta, f->list_a2);
    tdb_fails(f->c, CHECK_VIOLATION,
              "UPDATE import_jobs SET rows_read = 10, rows_accepted = 8, rows_rejected = 3"
              " WHERE list_id = %lld",
              f->list_a);
    tdb_fails(f->c, CHECK_VIOLATION,
              "UPDATE import_jobs SET state = 'completed' WHERE list_id = %lld", f->list_a);
    tdb_exec(f->c,
             "UPDATE import_jobs SET state = 'completed', finished_at = now(), rows_read = 10,"
             " rows_accepted = 7, rows_rejected = 3, rejected_by_reason = '{\"invalid_number\": 3}'"
             " WHERE list_id = %lld",
             f->list_a);
    tdb_exec(f->c,
             "INSERT INTO import_rejects (job_id, row_no, tenant_id, reason, original)"
             " SELECT id, 4, tenant_id, 'invalid_number', '{\"phone\": \"12\"}' FROM import_jobs"
             " WHERE list_id = %lld",
             f->list_a);
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO import_rejects (job_id, row_no, tenant_id, reason, original)"
              " SELECT id, 4, tenant_id, 'duplicate', '{}' FROM import_jobs WHERE list_id = %lld",
              f->list_a);
}

static void test_schema_call_records_are_kept(void **state)
{
    struct fixture *f = *state;
    long long t = new_tenant(f->c, "tenant-calls");
    long long l = new_list(f->c, t, "calls");
    long long fl = new_flow(f->c, t, "calls", true);
    long long camp = tdb_int(f->c,
                             "INSERT INTO campaigns (tenant_id, name, flow_id) VALUES (%lld, 'c',"
                             " %lld) RETURNING id",
                             t, fl);
    long long contact = tdb_int(f->c,
                                "INSERT INTO contacts (tenant_id, list_id, number)"
                                " VALUES (%lld, %lld, '+14155555000') RETURNING id",
                                t, l);

    tdb_exec(f->c,
             "INSERT INTO call_attempts (id, tenant_id, campaign_id, contact_id, number,"
             " attempt_no, dialer_node) VALUES ('00000000-0000-4000-8000-000000000001', %lld,"
             " %lld, %lld, '+14155555000', 1, 'node-1')",
             t, camp, contact);
    /* The same attempt of a contact cannot be written twice. */
    tdb_fails(f->c, UNIQUE_VIOLATION,
              "INSERT INTO call_attempts (tenant_id, campaign_id, contact_id, number, attempt_no,"
              " dialer_node) VALUES (%lld, %lld, %lld, '+14155555000', 1, 'node-2')",
              t, camp, contact);
    tdb_fails(f->c, CHECK_VIOLATION,
              "UPDATE call_attempts SET state = 'ended' WHERE contact_id = %lld", contact);
    tdb_fails(f->c, CHECK_VIOLATION,
              "UPDATE call_attempts SET hangup_cause = 128 WHERE contact_id = %lld", contact);
    tdb_exec(f->c,
             "UPDATE call_attempts SET state = 'ended', answered_at = now(), ended_at = now(),"
             " hangup_cause = 16, outcome = 'human' WHERE contact_id = %lld",
             contact);
    /* CDR: an abandoned call must have been answered live. */
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, started_at,"
              " ended_at, ring_timeout_s, total_ms, outcome, abandoned)"
              " VALUES ('00000000-0000-4000-8000-000000000001', %lld, %lld, '+14155555000', now(),"
              " now(), 25, 0, 'abandoned', true)",
              t, camp);
    tdb_fails(f->c, CHECK_VIOLATION,
              "INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, started_at,"
              " ended_at, ring_timeout_s, total_ms, outcome)"
              " VALUES ('00000000-0000-4000-8000-000000000001', %lld, %lld, '+14155555000', now(),"
              " now(), 10, 0, 'no_answer')",
              t, camp);
    tdb_exec(f->c,
             "INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, started_at,"
             " answered_at, human_detected_at, safe_harbour_at, ended_at, ring_timeout_s, total_ms,"
             " outcome, live_answer, abandoned)"
             " VALUES ('00000000-0000-4000-8000-000000000001', %lld, %lld, '+14155555000', now(),"
             " now(), now(), now(), now(), 25, 9000, 'abandoned', true, true)",
             t, camp);
    /* Neither the campaign nor the tenant can be deleted while the records exist... */
    tdb_fails(f->c, FK_VIOLATION, "DELETE FROM campaigns WHERE id = %lld", camp);
    tdb_fails(f->c, FK_VIOLATION, "DELETE FROM tenants WHERE id = %lld", t);
    /* ...but the contact can (erasure): the attempt keeps the number it dialed. */
    tdb_exec(f->c, "DELETE FROM contact_lists WHERE id = %lld", l);
    assert_int_equal(tdb_int(f->c,
                             "SELECT count(*) FROM call_attempts WHERE contact_id IS NULL"
                             " AND number = '+14155555000' AND campaign_id = %lld",
                             camp),
                     1);
}

/* Row-level security and roles as the catalog describes them. */
static void test_schema_catalog_invariants(void **state)
{
    struct fixture *f = *state;

    /* Every table with a tenant_id column has RLS enabled and forced. */
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                                   " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                                   " AND c.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_attribute a"
                                   " WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')"
                                   " AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"),
                     0);
    assert_true(
        tdb_int(f->c, "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                      " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                      " AND c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity") >= 22);
    /* ...and a policy for dialer_app and one for dialer_platform. */
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                                   " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                                   " AND c.relkind = 'r' AND c.relrowsecurity AND (NOT EXISTS"
                                   " (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname"
                                   " AND 'dialer_app' = ANY (p.roles)) OR NOT EXISTS"
                                   " (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname"
                                   " AND 'dialer_platform' = ANY (p.roles)))"),
                     0);
    /* The application role owns nothing and bypasses nothing. */
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM pg_class WHERE relowner ="
                                   " 'dialer_app'::regrole"),
                     0);
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM pg_roles WHERE rolname = 'dialer_app'"
                                   " AND rolcanlogin AND NOT rolsuper AND NOT rolbypassrls"
                                   " AND NOT rolinherit"),
                     1);
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM pg_roles WHERE rolname ="
                                   " 'dialer_platform' AND NOT rolcanlogin AND NOT rolsuper"
                                   " AND NOT rolbypassrls"),
                     1);
    /* The important tables say what they are. */
    assert_int_equal(tdb_int(f->c, "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                                   " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                                   " AND c.relkind = 'r' AND c.relname <> 'schema_migrations'"
                                   " AND obj_description(c.oid, 'pg_class') IS NULL"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_contact_number_must_be_e164),
        cmocka_unit_test(test_schema_one_number_per_list),
        cmocka_unit_test(test_schema_campaign_state_is_checked),
        cmocka_unit_test(test_schema_ring_time_at_least_15s),
        cmocka_unit_test(test_schema_campaign_state_machine_and_audit),
        cmocka_unit_test(test_schema_extension_pools),
        cmocka_unit_test(test_schema_published_revision_immutable),
        cmocka_unit_test(test_schema_no_cross_tenant_references),
        cmocka_unit_test(test_schema_list_dialed_by_one_campaign),
        cmocka_unit_test(test_schema_contact_lease_invariants),
        cmocka_unit_test(test_schema_dnc_scopes_and_uniqueness),
        cmocka_unit_test(test_schema_import_upload_idempotent),
        cmocka_unit_test(test_schema_call_records_are_kept),
        cmocka_unit_test(test_schema_catalog_invariants),
    };
    return cmocka_run_group_tests_name("schema", tests, group_setup, group_teardown);
}
