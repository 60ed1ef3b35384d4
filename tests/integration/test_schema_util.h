/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the schema and migration integration tests: a fresh
 * database per test binary (CREATE DATABASE test_xxx, dropped at the end),
 * connections as the superuser or as dialer_app, and assertions on SQL
 * outcomes. Include after <cmocka.h>.
 */
#ifndef TESTS_INTEGRATION_TEST_SCHEMA_UTIL_H
#define TESTS_INTEGRATION_TEST_SCHEMA_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <postgresql/libpq-fe.h>

#include "server/migrate.h"
#include "tests/support/testenv.h"

enum { TDB_CONNINFO_MAX = 1024, TDB_SQL_MAX = 8192 };

/* conninfo of database name on the test server, as the superuser, into out. */
static inline void tdb_conninfo(const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s dbname=%s", testenv_pg_conninfo(), name);
}

/* The same, as user dialer_app. */
static inline void tdb_conninfo_app(const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s dbname=%s user=dialer_app", testenv_pg_conninfo(), name);
}

static inline PGconn *tdb_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect %s: %s\n", conninfo, PQerrorMessage(c));
        fail();
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

/* Runs sql on the server's maintenance database "dialer". */
static inline void tdb_admin(const char *sql)
{
    PGconn *c = tdb_connect(testenv_pg_conninfo());
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
        fail();
    }
    PQclear(r);
    PQfinish(c);
}

/* Creates an empty database name (dropping a leftover one first). */
static inline void tdb_create(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    tdb_admin(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    tdb_admin(sql);
}

static inline void tdb_drop(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    tdb_admin(sql);
}

/* Creates database name and applies every embedded migration to it. */
static inline void tdb_create_migrated(const char *name)
{
    char ci[TDB_CONNINFO_MAX];
    struct server_migrate_result res;
    tdb_create(name);
    tdb_conninfo(name, ci, sizeof(ci));
    assert_int_equal(server_migrate(ci, NULL, NULL, &res), 0);
    assert_int_equal(res.applied, (int)server_migrations_count);
}

static inline PGresult *tdb_vquery(PGconn *c, const char *fmt, va_list ap)
{
    char sql[TDB_SQL_MAX];
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    return PQexec(c, sql);
}

/* Runs a statement that must succeed. */
static inline void tdb_exec(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void tdb_exec(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "unexpected failure: %s", PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    PQclear(r);
}

/* Runs a statement that must fail with SQLSTATE state. */
static inline void tdb_fails(PGconn *c, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void tdb_fails(PGconn *c, const char *state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    const char *got = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (PQresultStatus(r) != PGRES_FATAL_ERROR || got == NULL || strcmp(got, state) != 0) {
        fprintf(stderr, "expected SQLSTATE %s, got %s: %s\n", state, got ? got : "success",
                PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    PQclear(r);
}

/* The first column of the first row as a number (the query must return one row). */
static inline long long tdb_int(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline long long tdb_int(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "expected one row: %s", PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Number of rows a statement affected (UPDATE/DELETE) or returned. */
static inline long long tdb_rows(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline long long tdb_rows(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    long long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        n = PQntuples(r);
    } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        n = strtoll(PQcmdTuples(r), NULL, 10);
    } else {
        fprintf(stderr, "unexpected failure: %s", PQresultErrorMessage(r));
        PQclear(r);
        fail();
    }
    PQclear(r);
    return n;
}

/* Opens a transaction acting for tenant (0: none) with app.actor set. */
static inline void tdb_begin_tenant(PGconn *c, long long tenant)
{
    tdb_exec(c, "BEGIN");
    if (tenant != 0) {
        tdb_exec(c, "SELECT set_config('app.tenant_id', '%lld', true)", tenant);
    }
    tdb_exec(c, "SELECT set_config('app.actor', 'test:%lld', true)", tenant);
}

#endif
