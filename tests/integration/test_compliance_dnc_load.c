/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for compliance/dnc_load.c: lists built on the worker
 * thread from dnc_entries in a freshly migrated PostgreSQL database (read on
 * the platform role, as dialer_app), and from registry, change and plain
 * files; completion on the loop; changes made during a load survive it.
 */
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/db.h"
#include "core/err.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"
#include "tests/support/testenv.h"
#include "tests/unit/compliance/zipw.h"

struct fx {
    char dbname[64];
    PGconn *su;
    long long tenant, national;
    struct ev_loop *loop;
    struct db_conn *db;
    int db_up;
    struct compliance_dnc *d;
    struct compliance_dnc_loader *l;
    int done;
    int status;
    uint64_t entries;
    struct compliance_dnc_list_info info;
    struct compliance_dnc_parse_error err;
};

static void on_db_state(int up, void *arg)
{
    struct fx *f = arg;
    f->db_up += up;
}

static void on_loaded(const struct compliance_dnc_list_info *info, int status, uint64_t entries,
                      const struct compliance_dnc_parse_error *err, void *arg)
{
    struct fx *f = arg;
    f->done++;
    f->status = status;
    f->entries = entries;
    f->info = *info;
    f->err = *err;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX];
    snprintf(f->dbname, sizeof(f->dbname), "test_cmp_dnc_load_%d", (int)getpid());
    tdb_create_migrated(f->dbname);
    tdb_conninfo(f->dbname, ci, sizeof(ci));
    f->su = tdb_connect(ci);
    f->tenant = tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('t1', 'T') RETURNING id");
    f->national = tdb_int(f->su, "INSERT INTO dnc_lists (scope, name, source, country, list_date, "
                                 "max_age_days) VALUES ('national', 'FTC registry', 'ftc', 'US', "
                                 "'2026-06-01', 31) RETURNING id");
    f->loop = ev_loop_new(EVFLAG_AUTO);
    tdb_conninfo_app(f->dbname, ci, sizeof(ci));
    struct db_opts o = { .name = "dnc-load", .state_cb = on_db_state, .state_arg = f };
    assert_int_equal(db_conn_create(f->loop, ci, &o, &f->db), 0);
    assert_true(evloop_run_until(f->loop, &f->db_up, 1, 10.0));
    assert_int_equal(compliance_dnc_create(&f->d), 0);
    assert_int_equal(compliance_dnc_loader_create(f->loop, f->d, on_loaded, f, &f->l), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    compliance_dnc_loader_destroy(f->l);
    db_conn_destroy(f->db);
    ev_loop_destroy(f->loop);
    compliance_dnc_destroy(f->d);
    PQfinish(f->su);
    tdb_drop(f->dbname);
    free(f);
    return 0;
}

static void wait_done(struct fx *f, int n)
{
    assert_true(evloop_run_until(f->loop, &f->done, n, 20.0));
}

/* 120,000 national entries (three pages) and a block, read as dialer_app on
 * the platform role; the list's name and date come from dnc_lists. */
static void test_load_national_from_db(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_list_info li;
    struct compliance_dnc_hit hit;
    struct compliance_list_age age;
    tdb_exec(f->su,
             "INSERT INTO dnc_entries (scope, list_id, number, source) "
             "SELECT 'national', %lld, '+1212' || lpad((2000000 + g)::text, 7, '0'), 'registry' "
             "FROM generate_series(0, 119999) g",
             f->national);
    tdb_exec(f->su,
             "INSERT INTO dnc_entries (scope, list_id, prefix, source) "
             "VALUES ('national', %lld, '+1900', 'registry')",
             f->national);
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_NATIONAL;
    li.list_id = f->national;
    assert_int_equal(compliance_dnc_load_db(f->l, f->db, &li), 0);
    /* a change made while the load runs stays on top of it */
    assert_int_equal(compliance_dnc_apply(f->d, &li, 1, "+13055550101", NULL), 0);
    wait_done(f, 1);
    assert_int_equal(f->status, 0);
    assert_int_equal(f->entries, 120001);
    assert_string_equal(f->info.name, "FTC registry");
    assert_string_equal(f->info.country, "US");
    assert_int_equal(f->info.list_date_us, INT64_C(1780272000) * 1000000); /* 2026-06-01 */
    assert_int_equal(compliance_dnc_check(f->d, "+12122000000", "US", 1, 0, &hit), 1);
    assert_string_equal(hit.list_name, "FTC registry");
    assert_int_equal(compliance_dnc_check(f->d, "+12122119999", "US", 1, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(f->d, "+12122120000", "US", 1, 0, NULL), 0);
    assert_int_equal(compliance_dnc_check(f->d, "+19005550100", "US", 1, 0, &hit), 1);
    assert_int_equal(hit.match, COMPLIANCE_DNC_MATCH_AREA_CODE);
    assert_int_equal(compliance_dnc_check(f->d, "+13055550101", "US", 1, 0, NULL), 1);
    compliance_dnc_national_age(f->d, "US",
                                INT64_C(1780272000) * 1000000 + 10 * INT64_C(86400000000), 7, &age);
    assert_int_equal(age.state, COMPLIANCE_LIST_FRESH);
}

/* The tenant's own entries (no list); another tenant's are not read. */
static void test_load_tenant_from_db(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_list_info li;
    long long other =
        tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('t2', 'U') RETURNING id");
    tdb_exec(f->su,
             "INSERT INTO dnc_entries (scope, tenant_id, number, source) VALUES "
             "('tenant', %lld, '+13055550111', 'api'), ('tenant', %lld, '+442079460000', "
             "'ivr_opt_out'), "
             "('tenant', %lld, '+13055550112', 'api')",
             f->tenant, f->tenant, other);
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_TENANT;
    li.tenant_id = f->tenant;
    assert_int_equal(compliance_dnc_load_db(f->l, f->db, &li), 0);
    wait_done(f, 1);
    assert_int_equal(f->status, 0);
    assert_int_equal(f->entries, 2);
    assert_int_equal(compliance_dnc_check(f->d, "+13055550111", "US", f->tenant, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(f->d, "+442079460000", "GB", f->tenant, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(f->d, "+13055550112", "US", f->tenant, 0, NULL), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    fclose(fp);
}

/* A registry full file, then a change file, then a bad file. */
static void test_load_files(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_list_info li;
    char full[128], chg[128], bad[128];
    snprintf(full, sizeof(full), "/tmp/test_cmp_full_%d.txt", (int)getpid());
    snprintf(chg, sizeof(chg), "/tmp/test_cmp_chg_%d.txt", (int)getpid());
    snprintf(bad, sizeof(bad), "/tmp/test_cmp_bad_%d.txt", (int)getpid());
    write_file(full, "2125550100\n212,5550101\n4155550102\n");
    write_file(chg, "212,5550101,D,20260602\n305,5550103,A,20260602\n");
    write_file(bad, "2125550100\n21255501\n");
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_NATIONAL;
    li.list_id = 77;
    snprintf(li.country, sizeof(li.country), "US");
    assert_int_equal(compliance_dnc_load_file(f->l, &li, full, COMPLIANCE_DNC_FMT_AUTO), 0);
    wait_done(f, 1);
    assert_int_equal(f->status, 0);
    assert_int_equal(f->entries, 3);
    assert_int_equal(compliance_dnc_check(f->d, "+12125550101", "US", 1, 0, NULL), 1);
    assert_int_equal(compliance_dnc_load_file(f->l, &li, chg, COMPLIANCE_DNC_FMT_CHANGES), 0);
    wait_done(f, 2);
    assert_int_equal(f->status, 0);
    assert_int_equal(compliance_dnc_check(f->d, "+12125550101", "US", 1, 0, NULL), 0);
    assert_int_equal(compliance_dnc_check(f->d, "+13055550103", "US", 1, 0, NULL), 1);
    struct compliance_dnc_list_stats st;
    assert_int_equal(compliance_dnc_list_stats(f->d, &li, &st), 0);
    assert_int_equal(st.overlay, 0); /* compacted */
    assert_int_equal(compliance_dnc_load_file(f->l, &li, bad, COMPLIANCE_DNC_FMT_REGISTRY), 0);
    wait_done(f, 3);
    assert_int_equal(f->status, ERR_PARSE);
    assert_int_equal(f->err.line, 2);
    /* the failed load left the list as it was */
    assert_int_equal(compliance_dnc_check(f->d, "+14155550102", "US", 1, 0, NULL), 1);
    assert_int_equal(
        compliance_dnc_load_file(f->l, &li, "/nonexistent/file", COMPLIANCE_DNC_FMT_AUTO), 0);
    wait_done(f, 4);
    assert_true(f->status < 0);
    /* the registry zipped as delivered (what dnc.national-file is given): a flat and an XML
     * member replace the list */
    char zip[128];
    snprintf(zip, sizeof(zip), "/tmp/test_cmp_zip_%d.zip", (int)getpid());
    struct zipw_member m[] = {
        { .name = "flat.txt", .data = "6175550100\n617,5550101\n", .method = 8 },
        { .name = "dnc.xml", .data = "<r><e npa=\"617\" n=\"5550102\"/></r>", .method = 0 },
    };
    size_t zlen;
    unsigned char *zb = zipw_build(m, 2, &zlen);
    FILE *zf = fopen(zip, "wb");
    assert_non_null(zf);
    assert_int_equal(fwrite(zb, 1, zlen, zf), zlen);
    fclose(zf);
    free(zb);
    assert_int_equal(compliance_dnc_load_file(f->l, &li, zip, COMPLIANCE_DNC_FMT_REGISTRY), 0);
    wait_done(f, 5);
    assert_int_equal(f->status, 0);
    assert_int_equal(f->entries, 3);
    assert_int_equal(compliance_dnc_check(f->d, "+16175550101", "US", 1, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(f->d, "+16175550102", "US", 1, 0, NULL), 1);
    assert_int_equal(compliance_dnc_check(f->d, "+14155550102", "US", 1, 0, NULL), 0);
    unlink(zip);
    unlink(full);
    unlink(chg);
    unlink(bad);
}

static int group_setup(void **state)
{
    (void)state;
    (void)testenv_pg_conninfo();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_national_from_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_tenant_from_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_files, setup, teardown),
    };
    return cmocka_run_group_tests_name("integration/compliance_dnc_load", tests, group_setup, NULL);
}
