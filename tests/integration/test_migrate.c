/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for the migration runner (server/migrate.c) against the
 * private PostgreSQL: fresh migration, rerun, edited and unknown history,
 * order, failure and rollback, concurrent migrators, the lock timeout,
 * target version, dry run, status, and the embedded set against sql/.
 *
 * Databases: test_migrate (the real schema), test_migrate_conc (concurrent
 * migrators), test_migrate_synth (small synthetic migration sets); all
 * dropped at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "server/migrate.h"
#include "tests/integration/test_schema_util.h"

#define DB_MAIN  "test_migrate"
#define DB_CONC  "test_migrate_conc"
#define DB_SYNTH "test_migrate_synth"

/* Every table of the data model (docs/schema.md). */
static const char *const model_tables[] = {
    "schema_migrations",
    "tenants",
    "users",
    "api_keys",
    "refresh_tokens",
    "ivr_flows",
    "ivr_flow_revisions",
    "contact_lists",
    "campaigns",
    "campaign_events",
    "campaign_lists",
    "contacts",
    "dnc_lists",
    "dnc_entries",
    "extensions",
    "call_attempts",
    "call_logs",
    "ivr_executions",
    "ivr_steps",
    "import_jobs",
    "import_rejects",
    "usage_daily",
    "compliance_decisions",
    "audit_log",
};

/* A report captured in memory. */
struct capture {
    char *text;
    size_t len;
    FILE *f;
};

static void capture_open(struct capture *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static void capture_close(struct capture *c)
{
    fclose(c->f);
    c->f = NULL;
}

static void capture_free(struct capture *c)
{
    free(c->text);
    c->text = NULL;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fprintf(stderr, "expected to find \"%s\" in:\n%s\n", needle, hay);
        fail();
    }
}

static int group_setup(void **state)
{
    (void)state;
    tdb_create(DB_MAIN);
    tdb_create(DB_CONC);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tdb_drop(DB_MAIN);
    tdb_drop(DB_CONC);
    tdb_drop(DB_SYNTH);
    return 0;
}

/* ------------------------------------------------------------------------- */

static void test_migrate_fresh_database(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_conninfo(DB_MAIN, ci, sizeof(ci));
    capture_open(&out);
    assert_int_equal(server_migrate(ci, NULL, out.f, &res), 0);
    capture_close(&out);
    assert_int_equal(res.applied, (int)server_migrations_count);
    assert_int_equal(res.skipped, 0);
    assert_int_equal(res.pending, 0);
    assert_int_equal(res.failed_version, 0);
    assert_int_equal(res.current_version, server_migrations[server_migrations_count - 1].version);
    assert_contains(out.text, "applied 0001_foundation");
    assert_contains(out.text, "done: ");
    capture_free(&out);

    PGconn *c = tdb_connect(ci);
    for (size_t i = 0; i < sizeof(model_tables) / sizeof(model_tables[0]); i++) {
        if (tdb_int(c,
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                    " AND tablename = '%s'",
                    model_tables[i]) != 1) {
            fprintf(stderr, "table %s missing\n", model_tables[i]);
            fail();
        }
    }
    assert_int_equal(tdb_int(c, "SELECT count(*) FROM schema_migrations"),
                     (long long)server_migrations_count);
    /* Each row records the file's checksum and name. */
    for (size_t i = 0; i < server_migrations_count; i++) {
        char sum[65];
        server_migration_checksum(&server_migrations[i], sum);
        assert_int_equal(tdb_int(c,
                                 "SELECT count(*) FROM schema_migrations WHERE version = %d"
                                 " AND name = '%s' AND checksum = '%s' AND applied_at <= now()",
                                 server_migrations[i].version, server_migrations[i].name, sum),
                         1);
    }
    PQfinish(c);
}

static void test_migrate_rerun_applies_nothing(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_conninfo(DB_MAIN, ci, sizeof(ci));
    capture_open(&out);
    assert_int_equal(server_migrate(ci, NULL, out.f, &res), 0);
    capture_close(&out);
    assert_int_equal(res.applied, 0);
    assert_int_equal(res.skipped, (int)server_migrations_count);
    assert_int_equal(res.pending, 0);
    assert_contains(out.text, " 0 to apply");
    assert_null(strstr(out.text, "applied 0"));
    capture_free(&out);
}

/* A copy of the embedded set in which migration idx has different text. */
static struct server_migration *edited_set(size_t idx, const char *new_sql)
{
    struct server_migration *set = calloc(server_migrations_count, sizeof(*set));
    assert_non_null(set);
    memcpy(set, server_migrations, server_migrations_count * sizeof(*set));
    set[idx].sql = new_sql;
    set[idx].len = strlen(new_sql);
    return set;
}

static void test_migrate_edited_migration_refused(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    char *text;
    (void)state;

    tdb_conninfo(DB_MAIN, ci, sizeof(ci));
    /* The file of 0003 gained a line after it was applied. */
    assert_true(asprintf(&text, "%s-- an innocent edit\n", server_migrations[2].sql) > 0);
    struct server_migration *set = edited_set(2, text);
    struct server_migrate_opts opts = { .migrations = set,
                                        .n_migrations = server_migrations_count };

    capture_open(&out);
    assert_int_equal(server_migrate(ci, &opts, out.f, &res), ERR_CONFLICT);
    capture_close(&out);
    assert_int_equal(res.applied, 0);
    assert_contains(out.text, "0003_ivr_flows.sql was changed after it was applied");
    assert_contains(out.text, "refusing to migrate");
    capture_free(&out);

    /* Status says so too, and fails. */
    capture_open(&out);
    assert_int_equal(server_migrate_status(ci, &opts, out.f, &res), ERR_CONFLICT);
    capture_close(&out);
    assert_contains(out.text, "EDITED");
    capture_free(&out);
    free(set);
    free(text);

    /* The same when the recorded checksum is what changed. */
    PGconn *c = tdb_connect(ci);
    tdb_exec(c, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 2");
    assert_int_equal(server_migrate(ci, NULL, NULL, &res), ERR_CONFLICT);
    char sum[65];
    server_migration_checksum(&server_migrations[1], sum);
    tdb_exec(c, "UPDATE schema_migrations SET checksum = '%s' WHERE version = 2", sum);
    assert_int_equal(server_migrate(ci, NULL, NULL, &res), 0);
    PQfinish(c);
}

static void test_migrate_unknown_version_refused(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_conninfo(DB_MAIN, ci, sizeof(ci));
    PGconn *c = tdb_connect(ci);
    tdb_exec(c, "INSERT INTO schema_migrations (version, name, checksum)"
                " VALUES (9000, '9000_from_the_future', repeat('a', 64))");
    capture_open(&out);
    assert_int_equal(server_migrate(ci, NULL, out.f, &res), ERR_CONFLICT);
    capture_close(&out);
    assert_contains(out.text, "9000");
    assert_contains(out.text, "newer version");
    capture_free(&out);

    capture_open(&out);
    assert_int_equal(server_migrate_status(ci, NULL, out.f, &res), ERR_CONFLICT);
    capture_close(&out);
    assert_contains(out.text, "UNKNOWN");
    capture_free(&out);

    tdb_exec(c, "DELETE FROM schema_migrations WHERE version = 9000");
    PQfinish(c);
    assert_int_equal(server_migrate(ci, NULL, NULL, &res), 0);
}

static void test_migrate_status_lists_applied_and_pending(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_create(DB_SYNTH);
    tdb_conninfo(DB_SYNTH, ci, sizeof(ci));

    /* A database never migrated: everything pending, nothing created. */
    capture_open(&out);
    assert_int_equal(server_migrate_status(ci, NULL, out.f, &res), 0);
    capture_close(&out);
    assert_int_equal(res.pending, (int)server_migrations_count);
    assert_int_equal(res.current_version, 0);
    assert_contains(out.text, "0001_foundation");
    assert_contains(out.text, "pending");
    capture_free(&out);

    /* Dry run: reports, changes nothing. */
    struct server_migrate_opts dry = { .dry_run = true };
    capture_open(&out);
    assert_int_equal(server_migrate(ci, &dry, out.f, &res), 0);
    capture_close(&out);
    assert_int_equal(res.applied, 0);
    assert_int_equal(res.pending, (int)server_migrations_count);
    assert_contains(out.text, "would apply 0001_foundation");
    capture_free(&out);
    PGconn *c = tdb_connect(ci);
    assert_int_equal(tdb_int(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'tenants'"
                                " OR tablename = 'schema_migrations'"),
                     0);

    /* Up to a target version, then status. */
    struct server_migrate_opts upto = { .target_version = 3 };
    assert_int_equal(server_migrate(ci, &upto, NULL, &res), 0);
    assert_int_equal(res.applied, 3);
    assert_int_equal(res.current_version, 3);
    assert_int_equal(res.pending, (int)server_migrations_count - 3);

    capture_open(&out);
    assert_int_equal(server_migrate_status(ci, NULL, out.f, &res), 0);
    capture_close(&out);
    assert_int_equal(res.skipped, 3);
    assert_int_equal(res.pending, (int)server_migrations_count - 3);
    assert_contains(out.text, "0003     0003_ivr_flows");
    assert_contains(out.text, "applied");
    assert_contains(out.text, "0004     0004_campaigns                    pending");
    assert_contains(out.text, "at version 3");
    capture_free(&out);

    /* And the rest. */
    assert_int_equal(server_migrate(ci, NULL, NULL, &res), 0);
    assert_int_equal(res.applied, (int)server_migrations_count - 3);
    assert_int_equal(res.skipped, 3);
    PQfinish(c);
    tdb_drop(DB_SYNTH);
}

/* ------------------------------------------------------------------------- */
/* Synthetic sets                                                              */
/* ------------------------------------------------------------------------- */

#define MIG(v, n, s)           \
    {                          \
        v, n, s, sizeof(s) - 1 \
    }

static void test_migrate_out_of_order_refused(void **state)
{
    static const struct server_migration first[] = {
        MIG(1, "0001_a", "CREATE TABLE a (x int);\n"),
        MIG(3, "0003_c", "CREATE TABLE c (x int);\n"),
    };
    static const struct server_migration later[] = {
        MIG(1, "0001_a", "CREATE TABLE a (x int);\n"),
        MIG(2, "0002_b", "CREATE TABLE b (x int);\n"),
        MIG(3, "0003_c", "CREATE TABLE c (x int);\n"),
    };
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_create(DB_SYNTH);
    tdb_conninfo(DB_SYNTH, ci, sizeof(ci));
    struct server_migrate_opts o1 = { .migrations = first, .n_migrations = 2 };
    assert_int_equal(server_migrate(ci, &o1, NULL, &res), 0);
    assert_int_equal(res.applied, 2);

    struct server_migrate_opts o2 = { .migrations = later, .n_migrations = 3 };
    capture_open(&out);
    assert_int_equal(server_migrate(ci, &o2, out.f, &res), ERR_CONFLICT);
    capture_close(&out);
    assert_int_equal(res.applied, 0);
    assert_contains(out.text, "0002_b is not applied but a later migration (0003) is");
    capture_free(&out);

    /* A set that is not in order is refused before connecting. */
    static const struct server_migration unordered[] = {
        MIG(2, "0002_b", "SELECT 1;\n"),
        MIG(1, "0001_a", "SELECT 1;\n"),
    };
    struct server_migrate_opts o3 = { .migrations = unordered, .n_migrations = 2 };
    assert_int_equal(server_migrate(ci, &o3, NULL, &res), ERR_INVAL);
    tdb_drop(DB_SYNTH);
}

static void test_migrate_failure_rolls_back(void **state)
{
    static const struct server_migration set[] = {
        MIG(1, "0001_ok", "CREATE TABLE ok (x int);\n"),
        MIG(2, "0002_broken",
            "CREATE TABLE half (x int);\n"
            "INSERT INTO half VALUES (1);\n"
            "CRATE TABLE typo (x int);\n"),
        MIG(3, "0003_after", "CREATE TABLE after (x int);\n"),
    };
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_create(DB_SYNTH);
    tdb_conninfo(DB_SYNTH, ci, sizeof(ci));
    struct server_migrate_opts o = { .migrations = set, .n_migrations = 3 };
    capture_open(&out);
    assert_int_equal(server_migrate(ci, &o, out.f, &res), ERR_DB);
    capture_close(&out);
    assert_int_equal(res.applied, 1);
    assert_int_equal(res.failed_version, 2);
    assert_int_equal(res.current_version, 1);
    /* file:line of the failing statement, and the SQLSTATE (syntax error). */
    assert_contains(out.text, "0002_broken.sql:3: ERROR 42601");
    assert_contains(out.text, "0002_broken rolled back");
    capture_free(&out);

    PGconn *c = tdb_connect(ci);
    assert_int_equal(
        tdb_int(c, "SELECT count(*) FROM pg_tables WHERE tablename IN ('half', 'after')"), 0);
    assert_int_equal(tdb_int(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'ok'"), 1);
    assert_int_equal(tdb_int(c, "SELECT max(version) FROM schema_migrations"), 1);
    PQfinish(c);
    tdb_drop(DB_SYNTH);
}

static void test_migrate_transaction_control_refused(void **state)
{
    static const struct server_migration set[] = {
        MIG(1, "0001_commits", "CREATE TABLE early (x int);\nCOMMIT;\n"),
    };
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_create(DB_SYNTH);
    tdb_conninfo(DB_SYNTH, ci, sizeof(ci));
    struct server_migrate_opts o = { .migrations = set, .n_migrations = 1 };
    capture_open(&out);
    assert_int_equal(server_migrate(ci, &o, out.f, &res), ERR_DB);
    capture_close(&out);
    assert_int_equal(res.failed_version, 1);
    assert_contains(out.text, "ended the transaction itself");
    capture_free(&out);
    tdb_drop(DB_SYNTH);
}

static void test_migrate_lock_wait_times_out(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    struct capture out;
    (void)state;

    tdb_conninfo(DB_MAIN, ci, sizeof(ci));
    PGconn *holder = tdb_connect(ci);
    tdb_exec(holder, "SELECT pg_advisory_lock(%lld)", (long long)SERVER_MIGRATE_LOCK_KEY);

    struct server_migrate_opts o = { .lock_wait_ms = 300 };
    capture_open(&out);
    assert_int_equal(server_migrate(ci, &o, out.f, &res), ERR_TIMEOUT);
    capture_close(&out);
    assert_contains(out.text, "another migrator holds the lock");
    assert_contains(out.text, "gave up waiting");
    capture_free(&out);

    tdb_exec(holder, "SELECT pg_advisory_unlock(%lld)", (long long)SERVER_MIGRATE_LOCK_KEY);
    PQfinish(holder);
    assert_int_equal(server_migrate(ci, &o, NULL, &res), 0);
}

/* ------------------------------------------------------------------------- */
/* Concurrent migrators                                                        */
/* ------------------------------------------------------------------------- */

enum { N_MIGRATORS = 4 };

struct migrator {
    pthread_barrier_t *start;
    const char *conninfo;
    int rc;
    struct server_migrate_result res;
};

static void *migrator_main(void *arg)
{
    struct migrator *m = arg;

    pthread_barrier_wait(m->start);
    m->rc = server_migrate(m->conninfo, NULL, NULL, &m->res);
    return NULL;
}

static void test_migrate_concurrent_migrators(void **state)
{
    char ci[TDB_CONNINFO_MAX];
    pthread_barrier_t start;
    pthread_t th[N_MIGRATORS];
    struct migrator mig[N_MIGRATORS];
    int applied = 0;
    (void)state;

    tdb_conninfo(DB_CONC, ci, sizeof(ci));
    assert_int_equal(pthread_barrier_init(&start, NULL, N_MIGRATORS), 0);
    for (int i = 0; i < N_MIGRATORS; i++) {
        mig[i] = (struct migrator){ .start = &start, .conninfo = ci };
        assert_int_equal(pthread_create(&th[i], NULL, migrator_main, &mig[i]), 0);
    }
    for (int i = 0; i < N_MIGRATORS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    pthread_barrier_destroy(&start);

    for (int i = 0; i < N_MIGRATORS; i++) {
        assert_int_equal(mig[i].rc, 0);
        assert_int_equal(mig[i].res.pending, 0);
        assert_int_equal(mig[i].res.applied + mig[i].res.skipped, (int)server_migrations_count);
        applied += mig[i].res.applied;
    }
    /* Exactly one set applied between them. */
    assert_int_equal(applied, (int)server_migrations_count);
    PGconn *c = tdb_connect(ci);
    assert_int_equal(tdb_int(c, "SELECT count(*) FROM schema_migrations"),
                     (long long)server_migrations_count);
    PQfinish(c);
}

/* ------------------------------------------------------------------------- */
/* The embedded set and sql/                                                   */
/* ------------------------------------------------------------------------- */

static void test_migrate_embedded_matches_sql_dir(void **state)
{
    char dir[4096];
    struct server_migration *set;
    size_t n;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/sql", testenv_root());
    assert_int_equal(server_migrations_load_dir(dir, &set, &n), 0);
    assert_int_equal(n, server_migrations_count);
    for (size_t i = 0; i < n; i++) {
        char a[65], b[65];
        assert_int_equal(set[i].version, server_migrations[i].version);
        assert_string_equal(set[i].name, server_migrations[i].name);
        assert_int_equal(set[i].len, server_migrations[i].len);
        server_migration_checksum(&set[i], a);
        server_migration_checksum(&server_migrations[i], b);
        assert_string_equal(a, b);
    }
    server_migrations_free(set, n);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_migrate_load_dir_rules(void **state)
{
    char dir[] = "/tmp/migrate-test-XXXXXX";
    char path[256];
    struct server_migration *set;
    size_t n;
    (void)state;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(server_migrations_load_dir(dir, &set, &n), ERR_NOTFOUND);

    snprintf(path, sizeof(path), "%s/0002_second.sql", dir);
    write_text(path, "SELECT 2;\n");
    snprintf(path, sizeof(path), "%s/0001_first.sql", dir);
    write_text(path, "SELECT 1;\n");
    snprintf(path, sizeof(path), "%s/README.md", dir);
    write_text(path, "not a migration\n");
    snprintf(path, sizeof(path), "%s/0003_Bad-Name.sql", dir);
    write_text(path, "ignored\n");
    assert_int_equal(server_migrations_load_dir(dir, &set, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(set[0].version, 1);
    assert_string_equal(set[0].name, "0001_first");
    assert_string_equal(set[0].sql, "SELECT 1;\n");
    assert_int_equal(set[1].version, 2);
    server_migrations_free(set, n);

    snprintf(path, sizeof(path), "%s/0001_again.sql", dir);
    write_text(path, "SELECT 1;\n");
    assert_int_equal(server_migrations_load_dir(dir, &set, &n), ERR_INVAL);
    assert_null(set);

    const char *names[] = { "0001_first.sql", "0002_second.sql", "README.md", "0003_Bad-Name.sql",
                            "0001_again.sql" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    assert_int_equal(server_migrations_load_dir(dir, &set, &n), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_fresh_database),
        cmocka_unit_test(test_migrate_rerun_applies_nothing),
        cmocka_unit_test(test_migrate_edited_migration_refused),
        cmocka_unit_test(test_migrate_unknown_version_refused),
        cmocka_unit_test(test_migrate_lock_wait_times_out),
        cmocka_unit_test(test_migrate_concurrent_migrators),
        cmocka_unit_test(test_migrate_status_lists_applied_and_pending),
        cmocka_unit_test(test_migrate_out_of_order_refused),
        cmocka_unit_test(test_migrate_failure_rolls_back),
        cmocka_unit_test(test_migrate_transaction_control_refused),
        cmocka_unit_test(test_migrate_embedded_matches_sql_dir),
        cmocka_unit_test(test_migrate_load_dir_rules),
    };
    return cmocka_run_group_tests_name("migrate", tests, group_setup, group_teardown);
}
