/* SPDX-License-Identifier: MIT */
/*
 * migrate: the migration runner (see migrate.h for the contract).
 *
 * A run, on one blocking libpq connection:
 *   1. check the migration set (versions strictly increasing);
 *   2. take the session advisory lock SERVER_MIGRATE_LOCK_KEY (try first, so
 *      that we can say we are waiting, then wait up to lock_wait_ms);
 *   3. create schema_migrations if it does not exist;
 *   4. read the applied rows and verify them against the set: every applied
 *      version must be known with the same checksum, and nothing pending may
 *      sort before an applied version -- otherwise refuse before changing
 *      anything;
 *   5. for each pending migration: BEGIN, the file's SQL (one simple-query
 *      call, so a file holds any number of statements), the schema_migrations
 *      INSERT, COMMIT. On error: ROLLBACK, report file:line and stop.
 * The lock is a session lock, released explicitly and, should we die, by the
 * server when the connection goes. Taking it before step 3 also serialises
 * the CREATE TABLE IF NOT EXISTS, which is not safe against a concurrent
 * creator on its own.
 */
#include "server/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <postgresql/libpq-fe.h>
#include <sodium.h>

#include "core/err.h"
#include "core/log.h"

#ifndef DIALER_VERSION
#define DIALER_VERSION "unknown"
#endif

/* SQLSTATE lock_not_available: lock_timeout expired while waiting. */
#define SQLSTATE_LOCK_NOT_AVAILABLE "55P03"

static const char schema_migrations_ddl[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY CHECK (version > 0),"
    " name text NOT NULL,"
    " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " applied_by text NOT NULL DEFAULT current_user,"
    " duration_ms integer NOT NULL DEFAULT 0,"
    " dialer_version text NOT NULL DEFAULT '')";

/* A row of schema_migrations. */
struct applied_row {
    int version;
    char *name;
    char *checksum;
    char *applied_at; /* ISO 8601 UTC */
};

/* State of one call of server_migrate() or server_migrate_status(). */
struct run {
    PGconn *conn;
    FILE *report;                       /* borrowed; may be NULL */
    const struct server_migration *set; /* borrowed */
    size_t n_set;
    struct applied_row *rows; /* owned; schema_migrations, by version */
    size_t n_rows;
    struct server_migrate_result res;
};

static void say(const struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct run *r, const char *fmt, ...)
{
    va_list ap;

    if (r->report == NULL) {
        return;
    }
    va_start(ap, fmt);
    vfprintf(r->report, fmt, ap);
    va_end(ap);
    fputc('\n', r->report);
    fflush(r->report);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Server notices (WARNING and above; see connect_db) go to the log and report. */
static void on_notice(void *arg, const PGresult *res)
{
    const struct run *r = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    LOG_WARN(DB, "event=migrate_notice severity=%s msg=\"%s\"", sev ? sev : "?", msg ? msg : "");
    say(r, "migrate: %s: %s", sev ? sev : "NOTICE", msg ? msg : "");
}

void server_migration_checksum(const struct server_migration *m, char hex[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(digest, (const unsigned char *)m->sql, m->len);
    sodium_bin2hex(hex, 65, digest, sizeof(digest));
}

/* The 1-based line of a 1-based character position (PG_DIAG_STATEMENT_POSITION). */
static int line_of_position(const char *sql, size_t len, long pos)
{
    int line = 1;
    long chars = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)sql[i];
        if ((c & 0xC0) != 0x80 && ++chars >= pos) {
            break;
        }
        if (c == '\n') {
            line++;
        }
    }
    return line;
}

/* Reports a failed statement: file:line, SQLSTATE, message, detail, hint, context. */
static void say_pg_error(const struct run *r, const struct server_migration *m, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
    const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    char where[64] = "";

    if (msg == NULL) {
        msg = PQerrorMessage(r->conn);
    }
    if (pos != NULL) {
        long p = strtol(pos, NULL, 10);
        snprintf(where, sizeof(where), ":%d", line_of_position(m->sql, m->len, p));
    }
    LOG_ERR(DB, "event=migration_failed version=%d name=%s sqlstate=%s msg=\"%s\"", m->version,
            m->name, state ? state : "?", msg);
    say(r, "migrate: %s.sql%s: ERROR %s: %s", m->name, where, state ? state : "", msg);
    if (detail != NULL) {
        say(r, "  detail: %s", detail);
    }
    if (hint != NULL) {
        say(r, "  hint: %s", hint);
    }
    if (ctx != NULL) {
        say(r, "  context: %s", ctx);
    }
}

/* Runs a command that returns no rows; reports failures. Returns 0 or ERR_DB. */
static int exec_cmd(const struct run *r, const char *sql)
{
    PGresult *res = PQexec(r->conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        say(r, "migrate: %s: %s", sql, PQresultErrorMessage(res));
        rc = ERR_DB;
    }
    PQclear(res);
    return rc;
}

static int check_set(const struct run *r)
{
    for (size_t i = 0; i < r->n_set; i++) {
        const struct server_migration *m = &r->set[i];
        if (m->version <= 0 || m->name == NULL || m->sql == NULL) {
            say(r, "migrate: migration %zu of the set is malformed", i);
            return ERR_INVAL;
        }
        if (i > 0 && m->version <= r->set[i - 1].version) {
            say(r, "migrate: migrations out of order or duplicated: %s after %s", m->name,
                r->set[i - 1].name);
            return ERR_INVAL;
        }
    }
    return 0;
}

static int connect_db(struct run *r, const char *conninfo)
{
    const char *const keys[] = { "dbname", "fallback_application_name", NULL };
    const char *const vals[] = { conninfo, "dialerd-migrate", NULL };

    r->conn = PQconnectdbParams(keys, vals, 1);
    if (r->conn == NULL) {
        say(r, "migrate: out of memory");
        return ERR_NOMEM;
    }
    if (PQstatus(r->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(r->conn);
        LOG_ERR(DB, "event=migrate_connect_failed msg=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
        say(r, "migrate: cannot connect: %s", msg);
        return ERR_DB;
    }
    PQsetNoticeReceiver(r->conn, on_notice, r);
    /* CREATE ... IF NOT EXISTS and friends are chatty at NOTICE. */
    return exec_cmd(r, "SET client_min_messages = warning");
}

/* Takes the advisory lock, waiting at most wait_ms (0: forever). */
static int lock_acquire(const struct run *r, int64_t wait_ms)
{
    char sql[256];
    PGresult *res;
    int rc = 0;
    bool got;

    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%" PRId64 ")", SERVER_MIGRATE_LOCK_KEY);
    res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        say(r, "migrate: cannot take the migration lock: %s", PQresultErrorMessage(res));
        PQclear(res);
        return ERR_DB;
    }
    got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got) {
        return 0;
    }

    say(r, "migrate: another migrator holds the lock; waiting%s", wait_ms > 0 ? "" : " (no limit)");
    LOG_NOTICE(DB, "event=migrate_lock_wait wait_ms=%" PRId64, wait_ms);
    snprintf(sql, sizeof(sql), "SET lock_timeout = %" PRId64, wait_ms);
    if (exec_cmd(r, sql) != 0) {
        return ERR_DB;
    }
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%" PRId64 ")", SERVER_MIGRATE_LOCK_KEY);
    res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, SQLSTATE_LOCK_NOT_AVAILABLE) == 0) {
            say(r, "migrate: gave up waiting for the migration lock after %" PRId64 " ms", wait_ms);
            rc = ERR_TIMEOUT;
        } else {
            say(r, "migrate: cannot take the migration lock: %s", PQresultErrorMessage(res));
            rc = ERR_DB;
        }
    }
    PQclear(res);
    if (exec_cmd(r, "RESET lock_timeout") != 0 && rc == 0) {
        rc = ERR_DB;
    }
    return rc;
}

static void lock_release(const struct run *r)
{
    char sql[128];
    PGresult *res;

    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%" PRId64 ")", SERVER_MIGRATE_LOCK_KEY);
    res = PQexec(r->conn, sql);
    PQclear(res);
}

static void rows_free(struct run *r)
{
    for (size_t i = 0; i < r->n_rows; i++) {
        free(r->rows[i].name);
        free(r->rows[i].checksum);
        free(r->rows[i].applied_at);
    }
    free(r->rows);
    r->rows = NULL;
    r->n_rows = 0;
}

/* Reads schema_migrations into r->rows; a missing table (status, dry run) reads as empty. */
static int load_applied(struct run *r)
{
    PGresult *res;
    int rc = 0;
    int n;

    res = PQexec(r->conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        say(r, "migrate: cannot read the catalog: %s", PQresultErrorMessage(res));
        PQclear(res);
        return ERR_DB;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        PQclear(res);
        return 0;
    }
    PQclear(res);

    res =
        PQexec(r->conn, "SELECT version, name, checksum,"
                        " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                        " FROM schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        say(r, "migrate: cannot read schema_migrations: %s", PQresultErrorMessage(res));
        PQclear(res);
        return ERR_DB;
    }
    n = PQntuples(res);
    r->rows = calloc((size_t)n + 1, sizeof(*r->rows));
    if (r->rows == NULL) {
        PQclear(res);
        return ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        struct applied_row *row = &r->rows[i];
        row->version = (int)strtol(PQgetvalue(res, i, 0), NULL, 10);
        row->name = strdup(PQgetvalue(res, i, 1));
        row->checksum = strdup(PQgetvalue(res, i, 2));
        row->applied_at = strdup(PQgetvalue(res, i, 3));
        r->n_rows++;
        if (row->name == NULL || row->checksum == NULL || row->applied_at == NULL) {
            rc = ERR_NOMEM;
            break;
        }
    }
    PQclear(res);
    return rc;
}

static const struct applied_row *find_applied(const struct run *r, int version)
{
    for (size_t i = 0; i < r->n_rows; i++) {
        if (r->rows[i].version == version) {
            return &r->rows[i];
        }
    }
    return NULL;
}

static const struct server_migration *find_known(const struct run *r, int version)
{
    for (size_t i = 0; i < r->n_set; i++) {
        if (r->set[i].version == version) {
            return &r->set[i];
        }
    }
    return NULL;
}

/*
 * Compares the applied rows with the set and fills r->res (skipped, pending,
 * current_version). Reports every mismatch; returns ERR_CONFLICT if any.
 */
static int verify_history(struct run *r)
{
    int conflicts = 0;
    char sum[65];

    r->res.skipped = 0;
    r->res.pending = 0;
    r->res.current_version = r->n_rows > 0 ? r->rows[r->n_rows - 1].version : 0;

    for (size_t i = 0; i < r->n_rows; i++) {
        const struct applied_row *row = &r->rows[i];
        const struct server_migration *m = find_known(r, row->version);
        if (m == NULL) {
            say(r,
                "migrate: the database has migration %04d (%s), which this dialerd does not "
                "know: it was migrated by a newer version",
                row->version, row->name);
            conflicts++;
            continue;
        }
        server_migration_checksum(m, sum);
        if (strcmp(sum, row->checksum) != 0) {
            say(r,
                "migrate: %s.sql was changed after it was applied (on %s): checksum %s in the "
                "database, %s now. Applied migrations must not be edited: restore the file and "
                "put the change in a new migration",
                m->name, row->applied_at, row->checksum, sum);
            conflicts++;
            continue;
        }
        if (strcmp(m->name, row->name) != 0) {
            say(r, "migrate: note: migration %04d was applied as %s and is now named %s",
                m->version, row->name, m->name);
        }
        r->res.skipped++;
    }
    for (size_t i = 0; i < r->n_set; i++) {
        const struct server_migration *m = &r->set[i];
        if (find_applied(r, m->version) != NULL) {
            continue;
        }
        r->res.pending++;
        if (m->version < r->res.current_version) {
            say(r,
                "migrate: %s is not applied but a later migration (%04d) is: migrations must be "
                "applied in order; renumber it after the last applied one",
                m->name, r->res.current_version);
            conflicts++;
        }
    }
    return conflicts > 0 ? ERR_CONFLICT : 0;
}

/* Applies one migration in its own transaction. Returns 0 or ERR_DB. */
static int apply_one(struct run *r, const struct server_migration *m, int64_t lock_timeout_ms)
{
    char sum[65], vbuf[16], msbuf[24], sql[128];
    const char *params[5];
    int64_t t0 = now_ms();
    PGresult *res;
    int rc = 0;

    server_migration_checksum(m, sum);
    if (exec_cmd(r, "BEGIN") != 0) {
        return ERR_DB;
    }
    if (lock_timeout_ms > 0) {
        snprintf(sql, sizeof(sql), "SET LOCAL lock_timeout = %" PRId64, lock_timeout_ms);
        if (exec_cmd(r, sql) != 0) {
            rc = ERR_DB;
            goto out;
        }
    }

    res = PQexec(r->conn, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
        PQresultStatus(res) != PGRES_EMPTY_QUERY) {
        say_pg_error(r, m, res);
        PQclear(res);
        rc = ERR_DB;
        goto out;
    }
    PQclear(res);
    if (PQtransactionStatus(r->conn) != PQTRANS_INTRANS) {
        say(r,
            "migrate: %s.sql ended the transaction itself (COMMIT or ROLLBACK in the file?); "
            "migrations must not contain transaction control",
            m->name);
        rc = ERR_DB;
        goto out;
    }

    snprintf(vbuf, sizeof(vbuf), "%d", m->version);
    snprintf(msbuf, sizeof(msbuf), "%" PRId64, now_ms() - t0);
    params[0] = vbuf;
    params[1] = m->name;
    params[2] = sum;
    params[3] = msbuf;
    params[4] = DIALER_VERSION;
    res = PQexecParams(r->conn,
                       "INSERT INTO schema_migrations (version, name, checksum, duration_ms,"
                       " dialer_version) VALUES ($1, $2, $3, $4, $5)",
                       5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        say(r, "migrate: cannot record %s: %s", m->name, PQresultErrorMessage(res));
        PQclear(res);
        rc = ERR_DB;
        goto out;
    }
    PQclear(res);
    rc = exec_cmd(r, "COMMIT");

out:
    if (rc != 0) {
        if (PQtransactionStatus(r->conn) != PQTRANS_IDLE) {
            exec_cmd(r, "ROLLBACK");
        }
        say(r, "migrate: %s rolled back", m->name);
        return rc;
    }
    LOG_NOTICE(DB, "event=migration_applied version=%d name=%s ms=%" PRId64, m->version, m->name,
               now_ms() - t0);
    say(r, "migrate: applied %s (%" PRId64 " ms)", m->name, now_ms() - t0);
    return 0;
}

static bool in_target(const struct server_migration *m, int target)
{
    return target <= 0 || m->version <= target;
}

/* Sets up a run: the set, its check, the connection. */
static int run_init(struct run *r, const char *conninfo, const struct server_migrate_opts *opts,
                    FILE *report)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->report = report;
    if (opts->migrations != NULL) {
        r->set = opts->migrations;
        r->n_set = opts->n_migrations;
    } else {
        r->set = server_migrations;
        r->n_set = server_migrations_count;
    }
    rc = check_set(r);
    if (rc != 0) {
        return rc;
    }
    if (sodium_init() < 0) {
        say(r, "migrate: libsodium failed to initialise");
        return ERR_INTERNAL;
    }
    return connect_db(r, conninfo);
}

static void run_fini(struct run *r, struct server_migrate_result *res)
{
    if (res != NULL) {
        *res = r->res;
    }
    rows_free(r);
    PQfinish(r->conn);
    r->conn = NULL;
}

int server_migrate(const char *conninfo, const struct server_migrate_opts *opts, FILE *report,
                   struct server_migrate_result *res)
{
    static const struct server_migrate_opts defaults;
    struct run r;
    bool locked = false;
    int todo = 0;
    int rc;

    if (opts == NULL) {
        opts = &defaults;
    }
    rc = run_init(&r, conninfo, opts, report);
    if (rc != 0) {
        goto out;
    }
    if (!opts->dry_run) {
        rc = lock_acquire(&r, opts->lock_wait_ms);
        if (rc != 0) {
            goto out;
        }
        locked = true;
        rc = exec_cmd(&r, schema_migrations_ddl);
        if (rc != 0) {
            goto out;
        }
    }
    rc = load_applied(&r);
    if (rc != 0) {
        goto out;
    }
    rc = verify_history(&r);
    if (rc != 0) {
        say(&r, "migrate: refusing to migrate %s: the history does not match (nothing applied)",
            PQdb(r.conn));
        goto out;
    }

    for (size_t i = 0; i < r.n_set; i++) {
        if (find_applied(&r, r.set[i].version) == NULL &&
            in_target(&r.set[i], opts->target_version)) {
            todo++;
        }
    }
    say(&r, "migrate: database %s at version %d; %zu migrations known, %d to apply%s", PQdb(r.conn),
        r.res.current_version, r.n_set, todo, opts->dry_run ? " (dry run)" : "");

    for (size_t i = 0; i < r.n_set && rc == 0; i++) {
        const struct server_migration *m = &r.set[i];
        if (find_applied(&r, m->version) != NULL || !in_target(m, opts->target_version)) {
            continue;
        }
        if (opts->dry_run) {
            say(&r, "migrate: would apply %s", m->name);
            continue;
        }
        rc = apply_one(&r, m, opts->lock_timeout_ms);
        if (rc != 0) {
            r.res.failed_version = m->version;
            break;
        }
        r.res.applied++;
        r.res.pending--;
        r.res.current_version = m->version;
    }
    if (rc == 0) {
        say(&r, "migrate: done: %d applied, %d already applied, %d pending; at version %d",
            r.res.applied, r.res.skipped, r.res.pending, r.res.current_version);
    } else {
        say(&r, "migrate: stopped: %d applied, %d pending; at version %d", r.res.applied,
            r.res.pending, r.res.current_version);
    }

out:
    if (locked) {
        lock_release(&r);
    }
    run_fini(&r, res);
    return rc;
}

int server_migrate_status(const char *conninfo, const struct server_migrate_opts *opts, FILE *out,
                          struct server_migrate_result *res)
{
    static const struct server_migrate_opts defaults;
    struct run r;
    int rc, vrc;

    if (opts == NULL) {
        opts = &defaults;
    }
    rc = run_init(&r, conninfo, opts, out);
    if (rc == 0) {
        rc = load_applied(&r);
    }
    if (rc != 0) {
        run_fini(&r, res);
        return rc;
    }
    /* Mismatches are flagged in the table below rather than as messages. */
    r.report = NULL;
    vrc = verify_history(&r);

    if (out != NULL) {
        char sum[65];
        fprintf(out, "%-7s  %-32s  %-8s  %s\n", "version", "name", "state", "applied at");
        for (size_t i = 0; i < r.n_set; i++) {
            const struct server_migration *m = &r.set[i];
            const struct applied_row *row = find_applied(&r, m->version);
            const char *state = "pending";
            if (row != NULL) {
                server_migration_checksum(m, sum);
                state = strcmp(sum, row->checksum) == 0 ? "applied" : "EDITED";
            } else if (m->version < r.res.current_version) {
                state = "SKIPPED";
            }
            fprintf(out, "%04d     %-32s  %-8s  %s\n", m->version, m->name, state,
                    row != NULL ? row->applied_at : "");
        }
        for (size_t i = 0; i < r.n_rows; i++) {
            if (find_known(&r, r.rows[i].version) == NULL) {
                fprintf(out, "%04d     %-32s  %-8s  %s\n", r.rows[i].version, r.rows[i].name,
                        "UNKNOWN", r.rows[i].applied_at);
            }
        }
        fprintf(out, "database %s: at version %d, %d applied, %d pending%s\n", PQdb(r.conn),
                r.res.current_version, r.res.skipped, r.res.pending,
                vrc != 0 ? "; HISTORY MISMATCH (EDITED: file changed after it was applied, "
                           "UNKNOWN: applied by a newer dialerd, SKIPPED: pending before an "
                           "applied one)"
                         : "");
        fflush(out);
    }
    run_fini(&r, res);
    return vrc;
}

/* ------------------------------------------------------------------------- */
/* Loading a directory                                                        */
/* ------------------------------------------------------------------------- */

/* The version of a migration file name "NNNN_name.sql", or 0 if it is not one. */
static int migration_file_version(const char *fname)
{
    size_t len = strlen(fname);
    int version = 0;

    if (len < 10 || strcmp(fname + len - 4, ".sql") != 0 || fname[4] != '_') {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (fname[i] < '0' || fname[i] > '9') {
            return 0;
        }
        version = version * 10 + (fname[i] - '0');
    }
    for (size_t i = 5; i < len - 4; i++) {
        char c = fname[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    return version;
}

/* Reads a whole file into a new NUL-terminated buffer. */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = 0;

    if (f == NULL) {
        return -errno;
    }
    for (;;) {
        if (cap - n < 4096) {
            size_t ncap = cap == 0 ? 16384 : cap * 2;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                rc = ERR_NOMEM;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                rc = ERR_IO;
            }
            break;
        }
    }
    fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int cmp_migration(const void *a, const void *b)
{
    const struct server_migration *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

void server_migrations_free(struct server_migration *m, size_t n)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free((char *)m[i].name);
        free((char *)m[i].sql);
    }
    free(m);
}

int server_migrations_load_dir(const char *dir, struct server_migration **out, size_t *n)
{
    struct server_migration *set = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    DIR *d;
    int rc = 0;

    *out = NULL;
    *n = 0;
    d = opendir(dir);
    if (d == NULL) {
        return -errno;
    }
    while ((de = readdir(d)) != NULL) {
        int version = migration_file_version(de->d_name);
        char path[4096];
        if (version == 0) {
            continue;
        }
        if (count == cap) {
            size_t ncap = cap == 0 ? 32 : cap * 2;
            struct server_migration *nset = realloc(set, ncap * sizeof(*set));
            if (nset == NULL) {
                rc = ERR_NOMEM;
                break;
            }
            set = nset;
            cap = ncap;
        }
        struct server_migration *m = &set[count];
        memset(m, 0, sizeof(*m));
        m->version = version;
        m->name = strndup(de->d_name, strlen(de->d_name) - 4);
        if (m->name == NULL) {
            rc = ERR_NOMEM;
            break;
        }
        count++;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path)) {
            rc = ERR_TOOBIG;
            break;
        }
        char *text = NULL;
        rc = read_file(path, &text, &m->len);
        if (rc != 0) {
            break;
        }
        m->sql = text;
    }
    closedir(d);
    if (rc == 0 && count == 0) {
        rc = ERR_NOTFOUND;
    }
    if (rc == 0) {
        qsort(set, count, sizeof(*set), cmp_migration);
        for (size_t i = 1; i < count; i++) {
            if (set[i].version == set[i - 1].version) {
                LOG_ERR(DB, "event=migration_duplicate version=%d a=%s b=%s", set[i].version,
                        set[i - 1].name, set[i].name);
                rc = ERR_INVAL;
                break;
            }
        }
    }
    if (rc != 0) {
        server_migrations_free(set, count);
        return rc;
    }
    *out = set;
    *n = count;
    return 0;
}
