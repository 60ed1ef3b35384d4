/* SPDX-License-Identifier: MIT */
/*
 * api/bootstrap: the first tenant and admin, from the command line
 * (`dialerd bootstrap`). Blocking libpq on purpose: this is a one-shot
 * command, never code on a loop thread. The password arrives from the
 * environment or stdin (never argv, which other users can read in ps) and
 * is wiped after hashing.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "core/err.h"

static int exec_ok(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
                   FILE *o)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int rc = state != NULL && strcmp(state, "23505") == 0 ? ERR_EXISTS : ERR_DB;
        fprintf(o, "bootstrap: %s", rc == ERR_EXISTS ? "already exists: " : "database error: ");
        fprintf(o, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return rc;
    }
    if (out != NULL) {
        *out = r;
    } else {
        PQclear(r);
    }
    return 0;
}

static int check_input(const struct api_bootstrap *b, FILE *o)
{
    static const struct api_field fields[] = {
        { .name = "tenant_slug", .type = API_F_SLUG, .required = true },
        { .name = "tenant_name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "email", .type = API_F_EMAIL, .required = true },
        { .name = "display_name", .type = API_F_STRING, .min = 0, .max = 200 },
        { .name = "password", .type = API_F_STRING, .required = true, .min = 10, .max = 1000 },
    };
    struct api_field_error e;
    json_t *j = json_object();
    const char *vals[5] = { b->tenant_slug,
                            b->tenant_name != NULL ? b->tenant_name : b->tenant_slug, b->email,
                            b->display_name, b->password };
    size_t i;
    int rc;

    for (i = 0; i < 5 && j != NULL; i++) {
        json_t *v;
        if (vals[i] == NULL) {
            continue; /* reported as missing below */
        }
        v = json_string(vals[i]);
        if (v == NULL) {
            fprintf(o, "bootstrap: %s must be UTF-8 text\n", fields[i].name);
            json_decref(j);
            return ERR_INVAL;
        }
        json_object_set_new(j, fields[i].name, v);
    }
    if (j == NULL) {
        return ERR_NOMEM;
    }
    rc = api_json_check(j, fields, sizeof(fields) / sizeof(fields[0]), &e);
    json_decref(j);
    if (rc != 0) {
        fprintf(o, "bootstrap: %s (%s)\n", e.message, e.code);
    }
    return rc;
}

int api_bootstrap_run(const char *conninfo, const struct api_bootstrap *b, FILE *o)
{
    char hash[crypto_pwhash_STRBYTES];
    PGconn *c;
    PGresult *r = NULL;
    const char *p[6];
    int rc;

    if (sodium_init() < 0) {
        return ERR_INTERNAL;
    }
    rc = check_input(b, o);
    if (rc != 0) {
        return rc;
    }
    if (crypto_pwhash_str(hash, b->password, strlen(b->password),
                          b->pwhash_ops != 0 ? b->pwhash_ops : crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          b->pwhash_mem != 0 ? b->pwhash_mem
                                             : crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        fprintf(o, "bootstrap: out of memory while hashing the password\n");
        return ERR_NOMEM;
    }
    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(o, "bootstrap: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return ERR_DB;
    }
    rc = exec_ok(c, "BEGIN", 0, NULL, NULL, o);
    if (rc == 0) {
        rc = exec_ok(c, "SET LOCAL ROLE dialer_platform", 0, NULL, NULL, o);
    }
    if (rc == 0) {
        rc = exec_ok(c, "SELECT set_config('app.actor', 'cli:bootstrap', true)", 0, NULL, NULL, o);
    }
    p[0] = b->tenant_slug;
    p[1] = b->tenant_name != NULL ? b->tenant_name : b->tenant_slug;
    if (rc == 0) {
        rc = exec_ok(
            c,
            "WITH ins AS (INSERT INTO tenants (slug, name) VALUES ($1, $2)"
            " ON CONFLICT (slug) DO NOTHING RETURNING id)"
            " SELECT id, true FROM ins UNION ALL"
            " SELECT id, false FROM tenants WHERE slug = $1 AND NOT EXISTS (SELECT 1 FROM ins)",
            2, p, &r, o);
    }
    if (rc == 0) {
        char tid[24];
        bool created = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        snprintf(tid, sizeof(tid), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        r = NULL;
        fprintf(o, "tenant %s id=%s %s\n", b->tenant_slug, tid, created ? "created" : "exists");
        p[0] = tid;
        p[1] = b->email;
        p[2] = b->display_name != NULL ? b->display_name : "";
        p[3] = hash;
        p[4] = b->platform_operator ? "t" : "f";
        rc = exec_ok(
            c,
            "WITH u AS (INSERT INTO users (tenant_id, email, display_name, role,"
            " password_hash, is_platform_operator, password_changed_at)"
            " VALUES ($1::bigint, $2, $3, 'admin', $4, $5::bool, now()) RETURNING id, tenant_id),"
            " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, detail)"
            " SELECT tenant_id, 'user.create', 'user', id::text,"
            " jsonb_build_object('role', 'admin', 'via', 'bootstrap',"
            " 'platform_operator', $5::bool) FROM u)"
            " SELECT id FROM u",
            5, p, &r, o);
    }
    if (rc == 0) {
        fprintf(o, "user %s id=%s role=admin%s created\n", b->email, PQgetvalue(r, 0, 0),
                b->platform_operator ? " platform-operator" : "");
        PQclear(r);
        rc = exec_ok(c, "COMMIT", 0, NULL, NULL, o);
    } else {
        PQclear(PQexec(c, "ROLLBACK"));
    }
    sodium_memzero(hash, sizeof(hash));
    PQfinish(c);
    return rc;
}
