/* SPDX-License-Identifier: MIT */
/*
 * migrate: the database migration runner behind `dialerd migrate`.
 *
 * The schema is the ordered set of files sql/NNNN_name.sql. They are embedded
 * into the binary at build time (sql/module.mk runs scripts/embed-sql.sh), so
 * an installed dialerd needs no sql/ directory and always carries exactly the
 * schema its code was built against. server_migrations_load_dir() reads a
 * directory instead, for development and tests.
 *
 * server_migrate() connects with a libpq conninfo (the schema owner's, not
 * dialer_app's), takes a session advisory lock so that nodes starting
 * together do not race, creates schema_migrations if needed, verifies the
 * history, and applies every pending migration in version order, each in one
 * transaction together with its schema_migrations row (version, name,
 * checksum, applied_at). A failed migration is rolled back entirely and stops
 * the run; the ones before it stay applied. Rerunning is safe: applied
 * migrations are skipped.
 *
 * History is verified before anything is applied. The run is refused
 * (ERR_CONFLICT, nothing applied) when an applied migration's checksum (the
 * SHA-256 of its file) differs from the file's -- someone edited a migration
 * that has already run; write a new migration instead -- or when the database
 * has a version this binary does not know (a newer dialerd migrated it).
 *
 * Blocking libpq: these functions are for the CLI and start-up, never for a
 * loop thread. Any thread may call them; they share no state.
 */
#ifndef SERVER_MIGRATE_H
#define SERVER_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One migration: a file sql/NNNN_name.sql. */
struct server_migration {
    int version;      /* NNNN, > 0; versions strictly increase through a set */
    const char *name; /* file name without ".sql": "0004_campaigns" */
    const char *sql;  /* the file's text, NUL-terminated */
    size_t len;       /* its length in bytes (strlen(sql)) */
};

/* The migrations embedded at build time, in version order (generated file). */
extern const struct server_migration server_migrations[];
extern const size_t server_migrations_count;

/* The advisory lock key (pg_locks.objid shows its low 32 bits): "dialerdb". */
#define SERVER_MIGRATE_LOCK_KEY INT64_C(0x6469616c65726462)

struct server_migrate_opts {
    const struct server_migration *migrations; /* NULL: the embedded set */
    size_t n_migrations;                       /* entries in migrations */
    int target_version;                        /* apply up to and including this version; 0 = all */
    bool dry_run;                              /* report what would be applied; change nothing */
    int64_t lock_wait_ms;    /* wait for another migrator at most this long; 0 = forever */
    int64_t lock_timeout_ms; /* lock_timeout for the migrations' statements; 0 = server's */
};

struct server_migrate_result {
    int applied;         /* migrations applied by this call */
    int skipped;         /* already applied, checksum verified */
    int pending;         /* known, not applied when the call returned */
    int current_version; /* highest applied version when the call returned; 0 = none */
    int failed_version;  /* the migration that failed, or 0 */
};

/*
 * Applies the pending migrations of opts (NULL opts: all embedded ones) to
 * the database of conninfo, writing one line per event to report (may be
 * NULL) and filling *res (may be NULL).
 *
 * Returns 0 on success (including "nothing to do"), ERR_CONFLICT when the
 * history does not match (edited or unknown migration; nothing applied),
 * ERR_TIMEOUT when another migrator held the lock longer than lock_wait_ms,
 * ERR_INVAL for a malformed migration set (versions not strictly
 * increasing), ERR_DB when connecting or a migration failed (the failed one
 * is rolled back; res->failed_version names it). conninfo and opts are
 * borrowed for the call.
 */
int server_migrate(const char *conninfo, const struct server_migrate_opts *opts, FILE *report,
                   struct server_migrate_result *res);

/*
 * Lists every known migration as applied (with its time) or pending, and
 * flags edited or unknown ones, to out (may be NULL); fills *res. Changes
 * nothing and takes no lock. Returns 0, ERR_CONFLICT when the history does
 * not match (the listing is still written), ERR_INVAL or ERR_DB as above. A
 * database that was never migrated reports everything pending.
 */
int server_migrate_status(const char *conninfo, const struct server_migrate_opts *opts, FILE *out,
                          struct server_migrate_result *res);

/*
 * Loads dir/NNNN_name.sql (name: [a-z0-9_]+) in version order into a new
 * array *out of *n entries, to be freed with server_migrations_free(). Other
 * files are ignored. Returns 0, ERR_INVAL for two files with one version,
 * ERR_NOTFOUND when the directory holds no migration, ERR_NOMEM, or a
 * negated errno (ENOENT for a missing directory). dir is borrowed.
 */
int server_migrations_load_dir(const char *dir, struct server_migration **out, size_t *n);

/* Frees an array from server_migrations_load_dir(); NULL is fine. */
void server_migrations_free(struct server_migration *m, size_t n);

/*
 * The SHA-256 of a migration's text as 64 lowercase hex digits plus NUL into
 * hex[65]: the checksum recorded in schema_migrations.
 */
void server_migration_checksum(const struct server_migration *m, char hex[65]);

#endif
