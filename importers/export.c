/* SPDX-License-Identifier: MIT */
/*
 * export: the rejected rows of an import as a CSV file the user can open in
 * a spreadsheet, fix and upload again.
 *
 * Columns: row (the data row number, 1 = first row after the header),
 * reason (import_rejects.reason), detail, then the file's own columns in
 * their original order with their original values. Every cell goes through
 * importer_csv_cell(), which quotes as RFC 4180 asks and neutralises cells a
 * spreadsheet would run as a formula (OWASP "CSV injection"): a leading '=',
 * '+', '-', '@', TAB or CR gets an apostrophe in front. That changes a
 * number written "+1 415..." into "'+1 415..." in the export; spreadsheets
 * display the apostrophe-prefixed cell as the text without it.
 *
 * The export reads with a blocking libpq connection of its own and writes
 * with write(2): run it on a worker thread (or the CLI), never on a loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <postgresql/libpq-fe.h>

#include "core/err.h"
#include "importers/importers.h"
#include "importers/importers_int.h"

int importer_csv_cell(const char *value, size_t len, char *buf, size_t bsz)
{
    bool guard = len > 0 && (value[0] == '=' || value[0] == '+' || value[0] == '-' ||
                             value[0] == '@' || value[0] == '\t' || value[0] == '\r');
    bool quote = guard;
    for (size_t i = 0; i < len && !quote; i++)
        if (value[i] == ',' || value[i] == '"' || value[i] == '\n' || value[i] == '\r')
            quote = true;
    size_t k = 0;
#define PUT(c)                 \
    do {                       \
        if (k + 1 >= bsz)      \
            return ERR_TOOBIG; \
        buf[k++] = (c);        \
    } while (0)
    if (quote)
        PUT('"');
    if (guard)
        PUT('\'');
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '"')
            PUT('"');
        PUT(value[i]);
    }
    if (quote)
        PUT('"');
#undef PUT
    if (k >= bsz)
        return ERR_TOOBIG;
    buf[k] = 0;
    return (int)k;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* A full disk is named: the caller tells the user why. */
            return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int add_cell(struct imp_buf *b, const char *v, size_t len, bool first)
{
    size_t need = 2 * len + 4;
    if (!first && imp_buf_addc(b, ',') != 0)
        return ERR_NOMEM;
    if (imp_buf_reserve(b, need) != 0)
        return ERR_NOMEM;
    int n = importer_csv_cell(v, len, b->p + b->len, b->cap - b->len);
    if (n < 0)
        return n;
    b->len += (size_t)n;
    return 0;
}

int importer_rejects_export(const char *conninfo, int64_t tenant_id, const char *job_id, int fd)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = 0;
    PGresult *r = NULL;
    json_t *cols = json_array();
    struct imp_buf b;
    imp_buf_init(&b);
    if (PQstatus(c) != CONNECTION_OK || !cols) {
        rc = ERR_DB;
        goto out;
    }
    char tenant[24];
    snprintf(tenant, sizeof(tenant), "%lld", (long long)tenant_id);
    PQclear(PQexec(c, "BEGIN"));
    const char *tp[] = { tenant };
    PQclear(PQexecParams(c, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL, tp, NULL, NULL,
                         0));
    const char *jp[] = { job_id };
    r = PQexecParams(c, "SELECT mapping::text FROM import_jobs WHERE id::text = $1", 1, NULL, jp,
                     NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = ERR_DB;
        goto out;
    }
    if (PQntuples(r) != 1) {
        rc = ERR_NOTFOUND;
        goto out;
    }
    /* The file's columns in file order (import_jobs.mapping.columns). */
    json_t *m = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    json_t *v;
    size_t i;
    json_array_foreach (json_object_get(m, "columns"), i, v) {
        json_t *name = json_object_get(v, "name");
        if (json_is_string(name))
            json_array_append(cols, name);
    }
    json_decref(m);
    PQclear(r);
    r = PQexecParams(c,
                     "SELECT row_no, reason, coalesce(detail, ''), original::text"
                     " FROM import_rejects WHERE job_id::text = $1 ORDER BY row_no",
                     1, NULL, jp, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = ERR_DB;
        goto out;
    }
    rc = add_cell(&b, "row", 3, true) | add_cell(&b, "reason", 6, false) |
         add_cell(&b, "detail", 6, false);
    json_array_foreach (cols, i, v) {
        rc |= add_cell(&b, json_string_value(v), strlen(json_string_value(v)), false);
    }
    rc |= imp_buf_adds(&b, "\r\n");
    for (int row = 0; row < PQntuples(r) && rc == 0; row++) {
        rc |= add_cell(&b, PQgetvalue(r, row, 0), strlen(PQgetvalue(r, row, 0)), true);
        rc |= add_cell(&b, PQgetvalue(r, row, 1), strlen(PQgetvalue(r, row, 1)), false);
        rc |= add_cell(&b, PQgetvalue(r, row, 2), strlen(PQgetvalue(r, row, 2)), false);
        json_t *o = json_loads(PQgetvalue(r, row, 3), JSON_PRESERVE_ORDER, NULL);
        if (json_is_array(o)) {
            json_array_foreach (o, i, v) {
                const char *s = json_is_string(v) ? json_string_value(v) : "";
                rc |= add_cell(&b, s, strlen(s), false);
            }
        } else {
            json_array_foreach (cols, i, v) {
                json_t *x = json_object_get(o, json_string_value(v));
                const char *s = json_is_string(x) ? json_string_value(x) : "";
                rc |= add_cell(&b, s, strlen(s), false);
            }
        }
        json_decref(o);
        rc |= imp_buf_adds(&b, "\r\n");
        if (b.len > 64 * 1024 && rc == 0) {
            rc = write_all(fd, b.p, b.len);
            b.len = 0;
        }
    }
    if (rc == 0 && b.len)
        rc = write_all(fd, b.p, b.len);
    if (rc && rc != ERR_IO && rc != -ENOSPC)
        rc = ERR_NOMEM;
out:
    PQclear(r);
    PQfinish(c);
    json_decref(cols);
    imp_buf_fini(&b);
    return rc;
}
