/* SPDX-License-Identifier: MIT */
/*
 * DNC list routes: the lists (dnc_lists), their entries (dnc_entries) with
 * who and when, file uploads through compliance's parsers, and a CSV export.
 * PostgreSQL is the system of record; every committed change is handed to
 * dialerd's DNC store (api_dnc_config.change/reload), which applies it at
 * once on this node and sends it to the others (docs/compliance.md, "In
 * dialerd").
 *
 * Decisions:
 *   - A tenant sees its own lists and the national lists (read-only); another
 *     tenant's list is invisible (404). National lists are created, changed
 *     and deleted by platform operators only (403 for anyone else); those
 *     writes run on the platform role.
 *   - An entry is a number in E.164 form or a NANP block ("+1NPA",
 *     "+1NPANXX"). One owner (national, a tenant, a campaign) holds a number
 *     once: adding a number that another list of the same owner has answers
 *     409 naming the other list's id.
 *   - Uploads are bounded bodies (dnc.upload-max, 64 MB by default: 413
 *     above it), parsed on a thread of their own (at most PARSE_THREADS at
 *     once, 503 beyond; the httpd thread never parses) before anything is
 *     written: the first bad line
 *     fails the upload with its line number and field, and nothing is
 *     stored. ?format= auto (default), registry, changes, plain. A registry
 *     or plain file adds its numbers; ?replace=true first removes the list's
 *     entries (the default for registry files, which are full downloads).
 *     ?list_date=YYYY-MM-DD records the registry data's date (the age the
 *     31-day alarm measures); without it a registry upload dates the list
 *     today.
 *   - The export is CSV (number, source, reason, added_by, added_at); every
 *     cell but the number is neutralised for spreadsheets (a leading =, +, -,
 *     @ gets an apostrophe). The number is a checked E.164 number or block,
 *     written as it is so the file can be uploaded again. At most EXPORT_MAX
 *     rows (422 beyond).
 *   - The search (GET .../entries?number=) finds the number's own entry and
 *     the blocks that cover it.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_rest.h"
#include "compliance/compliance.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "importers/importers.h"

#define EXPORT_MAX    1000000
#define PARSE_THREADS 2 /* uploads parsed at once (503 with Retry-After beyond) */

#define DNC_LIST_JSON                                                                          \
    "json_build_object('id', l.id, 'scope', l.scope, 'campaign_id', l.campaign_id,"            \
    " 'name', l.name, 'source', l.source, 'country', l.country, 'list_date', l.list_date,"     \
    " 'loaded_at', l.loaded_at, 'max_age_days', l.max_age_days, 'entries', l.entry_count,"     \
    " 'file_sha256', encode(l.file_sha256, 'hex'),"                                            \
    " 'age_days', current_date - l.list_date,"                                                 \
    " 'stale', CASE WHEN l.max_age_days IS NULL THEN false WHEN l.list_date IS NULL THEN true" \
    "  ELSE l.list_date + l.max_age_days < current_date END,"                                  \
    " 'read_only', false, 'created_at', l.created_at, 'updated_at', l.updated_at)"
#define DNC_FILE_ID      "(-1)::bigint" /* API_DNC_FILE_LIST_ID */
#define DNC_LIST_VERSION "(extract(epoch FROM l.updated_at) * 1000000)::bigint"

#define ENTRY_JSON                                                                                \
    "json_build_object('id', e.id, 'list_id', e.list_id, 'number', e.number, 'prefix', e.prefix," \
    " 'source', e.source, 'reason', e.reason, 'added_by', e.added_by, 'added_at', e.added_at)"

struct api_dnc {
    struct api_dnc_config cfg;
    struct api *api;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int parsing; /* upload parse threads running (mu) */
};

static const char *const scope_names[] = { "national", "tenant", "campaign", NULL };

/* ------------------------------------------------------------ entries */

/* A DNC entry as the tables take it: a number (E.164, NANP rules for +1) or
 * a NANP block. *prefix says which. 0 or ERR_INVAL. */
static int entry_check(const char *s, size_t len, int *prefix)
{
    struct compliance_place pl;
    char buf[20];

    if (len < 2 || len > 16 || s[0] != '+' || strspn(s + 1, "0123456789") < len - 1) {
        return ERR_INVAL;
    }
    if ((len == 5 || len == 8) && s[1] == '1') {
        if (s[2] < '2' || (len == 8 && s[5] < '2')) {
            return ERR_INVAL;
        }
        *prefix = 1;
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    *prefix = 0;
    return len >= 8 && compliance_locate(buf, &pl) == 0 ? 0 : ERR_INVAL;
}

/* ------------------------------------------------------- list look-up */

struct op;
typedef int op_next_cb(struct api_ctx *ctx, struct op *op);

/* One request on a list: the list as found, then the route's own step. */
struct op {
    struct api_dnc *D;
    int64_t list_id;
    bool write;
    op_next_cb *next;
    /* the list */
    bool found;
    struct compliance_dnc_list_info info;
    /* route data */
    struct rest_out *o;
    const char *entry;
    int prefix;
    char *adds; /* upload: "{+1...,+1...}" (malloc) */
    char *dels;
    size_t nadds, ndels, adds_len, dels_len, adds_cap, dels_cap;
    uint64_t lines;
    int64_t added, removed;
    char sha[65];     /* upload: SHA-256 of the file as received (hex) */
    char cur_sha[65]; /* the list's file_sha256 (hex, "" none) */
};

static void op_info_row(struct op *op, PGresult *res)
{
    const char *sc = PQgetvalue(res, 0, 0);
    memset(&op->info, 0, sizeof(op->info));
    op->info.scope = strcmp(sc, "national") == 0 ? COMPLIANCE_DNC_NATIONAL
                     : strcmp(sc, "tenant") == 0 ? COMPLIANCE_DNC_TENANT
                                                 : COMPLIANCE_DNC_CAMPAIGN;
    op->info.tenant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    op->info.campaign_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    op->info.list_id = op->list_id;
    snprintf(op->info.name, sizeof(op->info.name), "%s", PQgetvalue(res, 0, 3));
    snprintf(op->info.country, sizeof(op->info.country), "%s", PQgetvalue(res, 0, 4));
    snprintf(op->cur_sha, sizeof(op->cur_sha), "%s",
             PQnfields(res) > 5 ? PQgetvalue(res, 0, 5) : "");
}

static int lookup_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct op *op = arg;
    (void)ctx;
    op->found = PQntuples(res) == 1;
    if (op->found) {
        op_info_row(op, res);
    }
    return 0;
}

static void op_free(struct op *op)
{
    free(op->adds);
    free(op->dels);
    op->adds = op->dels = NULL;
}

static void lookup_done(struct api_ctx *ctx, int status, void *arg)
{
    struct op *op = arg;
    int rc;

    if (status != 0) {
        op_free(op);
        api_error_db(ctx, status);
        return;
    }
    if (!op->found) {
        op_free(op);
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such DNC list", NULL);
        return;
    }
    if (op->write && op->info.scope == COMPLIANCE_DNC_NATIONAL &&
        !api_ctx_principal(ctx)->platform_operator) {
        op_free(op);
        api_error(ctx, HTTPD_STATUS_FORBIDDEN, "forbidden",
                  "national DNC lists are managed by platform operators", NULL);
        return;
    }
    rc = op->next(ctx, op);
    if (rc < 0) {
        op_free(op);
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
    }
}

/* Finds the list {id} (visible to the tenant: its own or a national one), then runs next. */
static int with_list(struct api_ctx *ctx, struct op *op, bool write, op_next_cb *next)
{
    static const char sql[] =
        "SELECT scope, coalesce(tenant_id, 0), coalesce(campaign_id, 0),"
        " name, coalesce(country, ''), coalesce(encode(file_sha256, 'hex'), '')"
        " FROM dnc_lists WHERE id = $1::bigint";
    const char *params[1];

    op->write = write;
    op->next = next;
    params[0] = rest_i64(ctx, op->list_id);
    struct api_stmt st = {
        .sql = sql, .nparams = 1, .params = params, .rows = lookup_rows, .arg = op
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, &st, 1, lookup_done, op);
    if (rc != 0) {
        op_free(op);
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static struct op *op_new(struct api_ctx *ctx, void *arg, const char *missing)
{
    struct op *op = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*op));
    if (op == NULL) {
        return NULL;
    }
    op->D = arg;
    op->o = rest_out_new(ctx, missing);
    return op->o != NULL ? op : NULL;
}

/* The scope a write on this list runs in. */
static enum api_scope op_scope(const struct op *op)
{
    return op->info.scope == COMPLIANCE_DNC_NATIONAL ? API_SCOPE_PLATFORM : API_SCOPE_TENANT;
}

static void notify_reload(struct api_dnc *D, const struct compliance_dnc_list_info *info)
{
    if (D->cfg.reload != NULL) {
        (void)D->cfg.reload(info, D->cfg.arg);
    }
}

/* ---------------------------------------------- the registry file's list */

/* The path's {id} names the registry file's list (-1). */
static bool is_file_list(struct api_ctx *ctx)
{
    const char *id = httpd_req_param(api_ctx_req(ctx), "id");
    return id != NULL && strcmp(id, "-1") == 0;
}

/* A write to the registry file's list: 409 saying why. HTTPD_DONE. */
static int refuse_file_list(struct api_ctx *ctx)
{
    api_error(ctx, HTTPD_STATUS_CONFLICT, "read_only",
              "the national registry file's list (id -1) is read-only: each node loads it from "
              "its dnc.national-file; replace that file to change it",
              NULL);
    return HTTPD_DONE;
}

/* A read of the registry file's entries: 409 saying why. HTTPD_DONE. */
static int refuse_file_entries(struct api_ctx *ctx)
{
    api_error(ctx, HTTPD_STATUS_CONFLICT, "not_stored",
              "the national registry file's numbers are held in memory only, not in the "
              "database; check a number with GET /api/v1/compliance/check",
              NULL);
    return HTTPD_DONE;
}

static json_t *time_or_null(int64_t us)
{
    char buf[40];
    if (us <= 0) {
        return json_null();
    }
    clock_format_utc(us, buf, sizeof(buf));
    return json_string(buf);
}

/*
 * The registry file's list as a list object (new reference), or NULL when no
 * file is configured. Its age is judged by compliance_dnc_list_age(), the
 * rule of the national-list alarm (dnc.national-file-max-age, 31 days).
 */
static json_t *file_list_json(struct api_dnc *D)
{
    struct api_dnc_file f;
    struct compliance_list_age age;
    char date[40] = "";
    if (D->cfg.file == NULL || D->cfg.file(&f, D->cfg.arg) != 0) {
        return NULL;
    }
    const struct compliance_dnc_list_info li = { .scope = COMPLIANCE_DNC_NATIONAL,
                                                 .list_id = API_DNC_FILE_LIST_ID,
                                                 .list_date_us = f.list_date_us,
                                                 .max_age_days = f.max_age_days };
    compliance_dnc_list_age(&li, clock_wall_us(), f.warn_days, &age);
    if (f.loaded_us <= 0) {
        age.state = COMPLIANCE_LIST_MISSING; /* nothing loaded: nothing in force */
    }
    if (f.list_date_us > 0) {
        clock_format_utc(f.list_date_us, date, sizeof(date));
        date[10] = '\0'; /* the day, as the database lists' list_date */
    }
    json_t *o = json_pack(
        "{s:I, s:s, s:n, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:I, s:o, s:b, s:s, s:o, s:b, "
        "s:s, s:n, s:n}",
        "id", (json_int_t)API_DNC_FILE_LIST_ID, "scope", "national", "campaign_id", "name",
        "national registry file", "source", "registry_file", "source_file",
        f.path != NULL ? f.path : "", "country", f.country, "list_date",
        date[0] != '\0' ? json_string(date) : json_null(), "list_date_at",
        time_or_null(f.list_date_us), "loaded_at", time_or_null(f.loaded_us), "max_age_days",
        (int)f.max_age_days, "entries", (json_int_t)f.numbers, "age_days",
        age.age_s >= 0 ? json_integer(age.age_s / 86400) : json_null(), "stale",
        age.state == COMPLIANCE_LIST_STALE || age.state == COMPLIANCE_LIST_MISSING, "alarm",
        compliance_list_age_name(age.state), "stale_at", time_or_null(age.stale_at_us), "read_only",
        1, "state", f.state != NULL ? f.state : "loading", "created_at", "updated_at");
    if (o != NULL && f.error[0] != '\0') {
        json_object_set_new(
            o, "error",
            json_pack("{s:s, s:I}", "message", f.error, "line", (json_int_t)f.error_line));
    }
    return o;
}

/* ------------------------------------------------------------ lists */

static int h_lists_page(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "scope", NULL };
    struct rest_out *o = rest_out_new(ctx, NULL);
    const char *scope = httpd_req_query(api_ctx_req(ctx), "scope");
    const char *params[4];
    int64_t after;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 50, 200, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    if (scope != NULL && strcmp(scope, "national") != 0 && strcmp(scope, "tenant") != 0 &&
        strcmp(scope, "campaign") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "scope is one of national, tenant, campaign", "?scope");
        return HTTPD_DONE;
    }
    /* the registry file's list (id -1) comes first, on the first page */
    json_t *fj = scope == NULL || strcmp(scope, "national") == 0 ? file_list_json(arg) : NULL;
    char *ftxt = fj != NULL ? json_dumps(fj, JSON_COMPACT) : NULL;
    json_decref(fj);
    params[3] = ftxt != NULL ? arena_strdup(httpd_req_arena(api_ctx_req(ctx)), ftxt) : NULL;
    free(ftxt);
    if (httpd_req_query(api_ctx_req(ctx), "cursor") == NULL) {
        after = API_DNC_FILE_LIST_ID - 1;
    }
    params[0] = rest_i64(ctx, after);
    params[1] = rest_i64(ctx, o->limit + 1);
    params[2] = scope;
    return rest_run(ctx,
                    "SELECT x.id, x.j FROM (SELECT " DNC_FILE_ID " AS id, $4::text::json AS j"
                    " WHERE $4::text IS NOT NULL UNION ALL SELECT l.id, " DNC_LIST_JSON
                    " FROM dnc_lists l WHERE $3::text IS NULL OR l.scope = $3) x"
                    " WHERE x.id > $1::bigint ORDER BY x.id LIMIT $2::bigint",
                    4, params, rest_rows_page, rest_page_done, o);
}

/* A date "YYYY-MM-DD" that exists. */
static bool valid_date(const char *s)
{
    struct tm tm;
    char *end;
    memset(&tm, 0, sizeof(tm));
    if (s == NULL || strlen(s) != 10) {
        return false;
    }
    end = strptime(s, "%Y-%m-%d", &tm);
    return end != NULL && *end == '\0' && tm.tm_year >= 100 && tm.tm_year < 300;
}

struct create {
    struct api_dnc *D;
    struct rest_out *o;
    struct compliance_dnc_list_info info;
};

static void create_done(struct api_ctx *ctx, int status, void *arg)
{
    struct create *c = arg;
    json_t *id = c->o->obj != NULL ? json_object_get(c->o->obj, "id") : NULL;
    if (status == 0 && json_is_integer(id)) {
        c->info.list_id = json_integer_value(id);
        notify_reload(c->D, &c->info); /* every node loads the (empty) list and its dates */
    }
    rest_one_done(ctx, status, c->o);
}

static int h_list_create(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "scope", .type = API_F_ENUM, .values = scope_names },
        { .name = "campaign_id", .type = API_F_INT, .nullable = true, .min = 1, .max = INT64_MAX },
        { .name = "source", .type = API_F_STRING, .min = 1, .max = 32 },
        { .name = "country", .type = API_F_STRING, .nullable = true, .min = 2, .max = 2 },
        { .name = "list_date", .type = API_F_STRING, .nullable = true, .min = 10, .max = 10 },
        { .name = "max_age_days", .type = API_F_INT, .nullable = true, .min = 1, .max = 3650 },
    };
    struct arena *ar = httpd_req_arena(api_ctx_req(ctx));
    struct create *c = arena_calloc(ar, sizeof(*c));
    const char *params[8];
    json_t *body;
    const char *scope, *source, *country, *date;
    json_t *camp;

    if (c == NULL || (c->o = rest_out_new(ctx, NULL)) == NULL) {
        return ERR_NOMEM;
    }
    c->D = arg;
    if (api_body_validate(ctx, fields, sizeof(fields) / sizeof(fields[0]), &body) != 0) {
        return HTTPD_DONE;
    }
    scope = rest_jstr(body, "scope") != NULL ? rest_jstr(body, "scope") : "tenant";
    source = rest_jstr(body, "source") != NULL ? rest_jstr(body, "source") : "internal";
    country = rest_jstr(body, "country");
    date = rest_jstr(body, "list_date");
    camp = json_object_get(body, "campaign_id");
    if (strspn(source, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(source)) {
        return rest_invalid(ctx, "invalid_field", "$.source",
                            "source is 1-32 characters of a-z, 0-9 and _ (ftc, internal, ...)");
    }
    if (country != NULL &&
        (country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z')) {
        return rest_invalid(ctx, "invalid_field", "$.country",
                            "country is an ISO 3166-1 alpha-2 code in upper case (\"US\")");
    }
    if (date != NULL && !valid_date(date)) {
        return rest_invalid(ctx, "invalid_field", "$.list_date", "list_date is a date YYYY-MM-DD");
    }
    if (strcmp(scope, "campaign") == 0 && !json_is_integer(camp)) {
        return rest_invalid(ctx, "missing_field", "$.campaign_id",
                            "a campaign list names its campaign_id");
    }
    if (strcmp(scope, "campaign") != 0 && json_is_integer(camp)) {
        return rest_invalid(ctx, "invalid_field", "$.campaign_id",
                            "campaign_id is only for lists of scope campaign");
    }
    if (strcmp(scope, "national") != 0 && country != NULL) {
        return rest_invalid(ctx, "invalid_field", "$.country",
                            "country is only for national lists");
    }
    if (strcmp(scope, "national") == 0 && !api_ctx_principal(ctx)->platform_operator) {
        api_error(ctx, HTTPD_STATUS_FORBIDDEN, "forbidden",
                  "national DNC lists are managed by platform operators", "$.scope");
        return HTTPD_DONE;
    }
    c->info.scope = strcmp(scope, "national") == 0 ? COMPLIANCE_DNC_NATIONAL
                    : strcmp(scope, "tenant") == 0 ? COMPLIANCE_DNC_TENANT
                                                   : COMPLIANCE_DNC_CAMPAIGN;
    c->info.tenant_id =
        c->info.scope == COMPLIANCE_DNC_NATIONAL ? 0 : api_ctx_principal(ctx)->tenant_id;
    c->info.campaign_id = json_is_integer(camp) ? json_integer_value(camp) : 0;
    params[0] = scope;
    params[1] = c->info.scope == COMPLIANCE_DNC_NATIONAL ? NULL : api_ctx_tenant_text(ctx);
    params[2] = json_is_integer(camp) ? rest_i64(ctx, json_integer_value(camp)) : NULL;
    params[3] = rest_jstr(body, "name");
    params[4] = source;
    params[5] = country;
    params[6] = date;
    params[7] = json_is_integer(json_object_get(body, "max_age_days"))
                    ? rest_i64(ctx, json_integer_value(json_object_get(body, "max_age_days")))
                    : NULL;
    c->o->created = HTTPD_STATUS_CREATED;
    c->o->location = "/api/v1/dnc/lists";
    c->o->conflict_msg = "a DNC list with this name exists";
    struct api_stmt st = {
        .sql = "WITH l AS (INSERT INTO dnc_lists (scope, tenant_id, campaign_id, name, source,"
               "  country, list_date, max_age_days) VALUES ($1, $2::bigint, $3::bigint, $4, $5,"
               "  $6, $7::date, $8::integer) RETURNING *)"
               " SELECT 1, " DNC_LIST_JSON ", " DNC_LIST_VERSION " FROM l",
        .nparams = 8,
        .params = params,
        .rows = rest_rows_one,
        .arg = c->o,
    };
    int rc = api_db_run(
        ctx, c->info.scope == COMPLIANCE_DNC_NATIONAL ? API_SCOPE_PLATFORM : API_SCOPE_TENANT, &st,
        1, create_done, c);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_list_get(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        json_t *fj = file_list_json(arg);
        if (fj == NULL) {
            api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found",
                      "no such DNC list: this node loads no registry file (dnc.national-file)",
                      NULL);
            return HTTPD_DONE;
        }
        api_respond_json(ctx, HTTPD_STATUS_OK, fj, NULL);
        return HTTPD_DONE;
    }
    return rest_get_by_id(ctx, "no such DNC list",
                          "SELECT 1, " DNC_LIST_JSON ", " DNC_LIST_VERSION
                          " FROM dnc_lists l WHERE l.id = $1::bigint");
}

static void deleted_done(struct api_ctx *ctx, int status, void *arg)
{
    struct op *op = arg;
    if (status == 0 && op->o->found > 0) {
        if (op->D->cfg.dnc != NULL) {
            (void)compliance_dnc_drop(op->D->cfg.dnc, &op->info); /* this node at once */
        }
        notify_reload(op->D, &op->info); /* the others find the row gone and drop it */
    }
    rest_one_done(ctx, status, op->o);
}

static int list_delete_step(struct api_ctx *ctx, struct op *op)
{
    const char *params[1] = { rest_i64(ctx, op->list_id) };
    op->o->created = HTTPD_STATUS_NO_CONTENT;
    struct api_stmt st = {
        .sql = "WITH d AS (DELETE FROM dnc_lists WHERE id = $1::bigint RETURNING id)"
               " SELECT (SELECT count(*) FROM d), '{}'::json",
        .nparams = 1,
        .params = params,
        .rows = rest_rows_one,
        .arg = op->o,
    };
    int rc = api_db_run(ctx, op_scope(op), &st, 1, deleted_done, op);
    if (rc != 0) {
        api_error_db(ctx, rc);
    }
    return 0;
}

static int h_list_delete(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        return refuse_file_list(ctx);
    }
    struct op *op = op_new(ctx, arg, "no such DNC list");
    if (op == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &op->list_id) != 0) {
        return HTTPD_DONE;
    }
    return with_list(ctx, op, true, list_delete_step);
}

/* ------------------------------------------------------------ entries */

static void entry_added_done(struct api_ctx *ctx, int status, void *arg)
{
    struct op *op = arg;
    if (status == 0 && op->o->found > 0 && op->D->cfg.change != NULL) {
        (void)op->D->cfg.change(&op->info, 1, op->entry, op->D->cfg.arg);
    }
    if (status == ERR_DB && strcmp(api_ctx_sqlstate(ctx), "23505") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the number is already on a DNC list of this owner", "$.number");
        return;
    }
    rest_one_done(ctx, status, op->o);
}

static int entry_add_step(struct api_ctx *ctx, struct op *op)
{
    json_t *body = httpd_req_json(api_ctx_req(ctx));
    const char *params[8];
    params[0] = rest_i64(ctx, op->list_id);
    params[1] = scope_names[op->info.scope];
    params[2] = op->info.tenant_id != 0 ? rest_i64(ctx, op->info.tenant_id) : NULL;
    params[3] = op->info.campaign_id != 0 ? rest_i64(ctx, op->info.campaign_id) : NULL;
    params[4] = op->prefix ? NULL : op->entry;
    params[5] = op->prefix ? op->entry : NULL;
    params[6] = rest_jstr(body, "source") != NULL ? rest_jstr(body, "source") : "api";
    params[7] = rest_jstr(body, "reason");
    op->o->created = HTTPD_STATUS_CREATED;
    op->o->location = api_ctx_printf(ctx, "/api/v1/dnc/lists/%lld/entries", (long long)op->list_id);
    struct api_stmt st[2] = {
        { .sql = "WITH e AS (INSERT INTO dnc_entries (scope, tenant_id, campaign_id, list_id,"
                 "  number, prefix, source, reason) VALUES ($2, $3::bigint, $4::bigint,"
                 "  $1::bigint, $5, $6, $7, $8) RETURNING *)"
                 " SELECT 1, " ENTRY_JSON " FROM e",
          .nparams = 8,
          .params = params,
          .rows = rest_rows_one,
          .arg = op->o },
        { .sql = "UPDATE dnc_lists SET entry_count = entry_count + 1 WHERE id = $1::bigint",
          .nparams = 1,
          .params = params },
    };
    int rc = api_db_run(ctx, op_scope(op), st, 2, entry_added_done, op);
    if (rc != 0) {
        api_error_db(ctx, rc);
    }
    return 0;
}

static int h_entry_add(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        return refuse_file_list(ctx);
    }
    static const struct api_field fields[] = {
        { .name = "number", .type = API_F_STRING, .required = true, .min = 2, .max = 16 },
        { .name = "reason", .type = API_F_STRING, .nullable = true, .min = 0, .max = 500 },
        { .name = "source", .type = API_F_STRING, .min = 1, .max = 32 },
    };
    struct op *op = op_new(ctx, arg, "no such DNC list");
    json_t *body;
    const char *src;

    if (op == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &op->list_id) != 0 ||
        api_body_validate(ctx, fields, sizeof(fields) / sizeof(fields[0]), &body) != 0) {
        return HTTPD_DONE;
    }
    op->entry = rest_jstr(body, "number");
    if (entry_check(op->entry, strlen(op->entry), &op->prefix) != 0) {
        return rest_invalid(ctx, "invalid_field", "$.number",
                            "number is an E.164 number (+14155552671) or a NANP block "
                            "(+1415 area code, +1415555 exchange)");
    }
    src = rest_jstr(body, "source");
    if (src != NULL && strspn(src, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(src)) {
        return rest_invalid(ctx, "invalid_field", "$.source",
                            "source is 1-32 characters of a-z, 0-9 and _ (api, complaint, ...)");
    }
    return with_list(ctx, op, true, entry_add_step);
}

/* The {number} path segment: "+14155552671" (%2B encoded) or its digits. */
static const char *path_entry(struct api_ctx *ctx, int *prefix)
{
    const char *n = httpd_req_param(api_ctx_req(ctx), "number");
    const char *e;
    if (n == NULL || n[0] == '\0') {
        return NULL;
    }
    e = n[0] == '+' ? n : api_ctx_printf(ctx, "+%s", n);
    return e != NULL && entry_check(e, strlen(e), prefix) == 0 ? e : NULL;
}

static void entry_removed_done(struct api_ctx *ctx, int status, void *arg)
{
    struct op *op = arg;
    if (status == 0 && op->o->found > 0 && op->D->cfg.change != NULL) {
        (void)op->D->cfg.change(&op->info, 0, op->entry, op->D->cfg.arg);
    }
    rest_one_done(ctx, status, op->o);
}

static int entry_remove_step(struct api_ctx *ctx, struct op *op)
{
    const char *params[2] = { rest_i64(ctx, op->list_id), op->entry };
    op->o->created = HTTPD_STATUS_NO_CONTENT;
    struct api_stmt st = {
        .sql = "WITH d AS (DELETE FROM dnc_entries WHERE list_id = $1::bigint"
               "  AND coalesce(number::text, prefix) = $2 RETURNING id),"
               " u AS (UPDATE dnc_lists SET entry_count = greatest(entry_count - (SELECT count(*)"
               "  FROM d), 0) WHERE id = $1::bigint)"
               " SELECT (SELECT count(*) FROM d), '{}'::json",
        .nparams = 2,
        .params = params,
        .rows = rest_rows_one,
        .arg = op->o,
    };
    int rc = api_db_run(ctx, op_scope(op), &st, 1, entry_removed_done, op);
    if (rc != 0) {
        api_error_db(ctx, rc);
    }
    return 0;
}

static int h_entry_remove(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        return refuse_file_list(ctx);
    }
    struct op *op = op_new(ctx, arg, "the number is not on this DNC list");
    if (op == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &op->list_id) != 0) {
        return HTTPD_DONE;
    }
    op->entry = path_entry(ctx, &op->prefix);
    if (op->entry == NULL) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found",
                  "the number is not an E.164 number or NANP block", NULL);
        return HTTPD_DONE;
    }
    return with_list(ctx, op, true, entry_remove_step);
}

static int h_entries_page(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        return refuse_file_entries(ctx);
    }
    static const char *const allowed[] = { "limit", "cursor", "number", NULL };
    struct rest_out *o = rest_out_new(ctx, "no such DNC list");
    const char *number = httpd_req_query(api_ctx_req(ctx), "number");
    const char *params[4];
    int64_t id, after;
    int prefix = 0;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 100, 1000, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    if (number != NULL && entry_check(number, strlen(number), &prefix) != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "number is an E.164 number (encode + as %2B) or a NANP block", "?number");
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, id);
    params[1] = rest_i64(ctx, after);
    params[2] = rest_i64(ctx, o->limit + 1);
    params[3] = number;
    /* The number's own entry and the area-code and exchange blocks that cover it. */
    return rest_run_page(
        ctx, o, params, "SELECT count(*) FROM dnc_lists WHERE id = $1::bigint", 1,
        "SELECT e.id, " ENTRY_JSON " FROM dnc_entries e WHERE e.list_id = $1::bigint"
        " AND e.id > $2::bigint AND ($4::text IS NULL OR e.number = $4::text"
        "  OR e.prefix = $4 OR (e.prefix IS NOT NULL AND left($4, length(e.prefix)) ="
        "  e.prefix)) ORDER BY e.id LIMIT $3::bigint",
        4);
}

/* ------------------------------------------------------------ uploads */

/* Appends s to the array literal *buf ("{a,b"); the closing brace comes at the end. */
static int arr_add(char **buf, size_t *len, size_t *cap, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*len + l + 3 > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < *len + l + 3) {
            nc *= 2;
        }
        char *nb = realloc(*buf, nc);
        if (nb == NULL) {
            return ERR_NOMEM;
        }
        *buf = nb;
        *cap = nc;
    }
    (*buf)[(*len)++] = *n == 0 ? '{' : ',';
    memcpy(*buf + *len, s, l);
    *len += l;
    (*buf)[*len] = '\0';
    (*n)++;
    return 0;
}

static int arr_close(char **buf, size_t *len, size_t *cap, size_t *n)
{
    if (*n == 0) {
        free(*buf);
        *buf = strdup("{}");
        return *buf != NULL ? 0 : ERR_NOMEM;
    }
    if (*len + 2 > *cap) {
        char *nb = realloc(*buf, *len + 2);
        if (nb == NULL) {
            return ERR_NOMEM;
        }
        *buf = nb;
    }
    (*buf)[(*len)++] = '}';
    (*buf)[*len] = '\0';
    return 0;
}

static int upload_entry(int add, const char *e164, void *arg)
{
    struct op *op = arg;
    int prefix;
    if (entry_check(e164, strlen(e164), &prefix) != 0) {
        return ERR_INVAL;
    }
    return add ? arr_add(&op->adds, &op->adds_len, &op->adds_cap, &op->nadds, e164)
               : arr_add(&op->dels, &op->dels_len, &op->dels_cap, &op->ndels, e164);
}

/* A statement "SELECT count(*) FROM ..." adds its count to the int64_t at arg. */
static int count_into(struct api_ctx *ctx, PGresult *res, void *arg)
{
    int64_t *n = arg;
    (void)ctx;
    if (PQntuples(res) == 1) {
        *n += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    return 0;
}

static void upload_done(struct api_ctx *ctx, int status, void *arg)
{
    struct op *op = arg;
    op_free(op);
    if (status != 0 || op->o->found == 0 || op->o->obj == NULL) {
        rest_one_done(ctx, status, op->o);
        return;
    }
    notify_reload(op->D, &op->info); /* every node rebuilds the list from PostgreSQL */
    json_t *out =
        json_pack("{s:I, s:I, s:I, s:O}", "lines", (json_int_t)op->lines, "added",
                  (json_int_t)op->added, "removed", (json_int_t)op->removed, "list", op->o->obj);
    json_decref(op->o->obj);
    op->o->obj = NULL;
    api_respond_json(ctx, HTTPD_STATUS_OK, out, NULL);
}

static int upload_step(struct api_ctx *ctx, struct op *op)
{
    struct httpd_req *req = api_ctx_req(ctx);
    const char *fmt = httpd_req_query(req, "format");
    const char *rep = httpd_req_query(req, "replace");
    const char *date = httpd_req_query(req, "list_date");
    const char *force = httpd_req_query(req, "force");
    bool registry = fmt != NULL && (strcmp(fmt, "registry") == 0 || strcmp(fmt, "xml") == 0);
    bool replace = registry;
    const char *params[9];

    if (rep != NULL) {
        replace = strcmp(rep, "true") == 0;
    }
    if (replace && (force == NULL || strcmp(force, "true") != 0) && op->sha[0] != '\0' &&
        strcmp(op->sha, op->cur_sha) == 0) {
        op_free(op);
        api_error(ctx, HTTPD_STATUS_CONFLICT, "same_file",
                  api_ctx_printf(ctx,
                                 "this file (SHA-256 %s) is the one the list was last loaded "
                                 "from; add ?force=true to load it again",
                                 op->sha),
                  "file_sha256");
        return 0;
    }
    if (date == NULL && registry) {
        date = "today"; /* PostgreSQL's date literal */
    }
    params[0] = rest_i64(ctx, op->list_id);
    params[1] = scope_names[op->info.scope];
    params[2] = op->info.tenant_id != 0 ? rest_i64(ctx, op->info.tenant_id) : NULL;
    params[3] = op->info.campaign_id != 0 ? rest_i64(ctx, op->info.campaign_id) : NULL;
    params[4] = op->adds;
    params[5] = op->dels;
    params[6] = replace ? "t" : "f";
    params[7] = date;
    params[8] = op->sha[0] != '\0' ? op->sha : NULL;
    /* Separate statements (not sibling CTEs), so the insert sees the deletes. */
    struct api_stmt st[4] = {
        { .sql = "WITH r AS (DELETE FROM dnc_entries WHERE $2::boolean AND list_id = $1::bigint"
                 "  RETURNING id) SELECT count(*) FROM r",
          .nparams = 2,
          .params = (const char *const[]){ params[0], params[6] },
          .rows = count_into,
          .arg = &op->removed },
        { .sql = "WITH d AS (DELETE FROM dnc_entries WHERE list_id = $1::bigint"
                 "  AND coalesce(number::text, prefix) = ANY ($2::text[]) RETURNING id)"
                 " SELECT count(*) FROM d",
          .nparams = 2,
          .params = (const char *const[]){ params[0], params[5] },
          .rows = count_into,
          .arg = &op->removed },
        { .sql = "WITH i AS (INSERT INTO dnc_entries (scope, tenant_id, campaign_id, list_id,"
                 "  number, prefix, source) SELECT $2, $3::bigint, $4::bigint, $1::bigint,"
                 "  CASE WHEN length(x) > 8 THEN x END, CASE WHEN length(x) <= 8 THEN x END,"
                 "  'import' FROM (SELECT DISTINCT x FROM unnest($5::text[]) x) s"
                 "  ON CONFLICT DO NOTHING RETURNING id) SELECT count(*) FROM i",
          .nparams = 5,
          .params = params,
          .rows = count_into,
          .arg = &op->added },
        { .sql = "WITH l AS (UPDATE dnc_lists SET entry_count = (SELECT count(*) FROM dnc_entries"
                 "  WHERE list_id = $1::bigint), loaded_at = now(),"
                 "  list_date = coalesce($2::date, list_date),"
                 "  file_sha256 = coalesce(decode($3, 'hex'), file_sha256)"
                 "  WHERE id = $1::bigint RETURNING *)"
                 " SELECT 1, " DNC_LIST_JSON " FROM l",
          .nparams = 3,
          .params = (const char *const[]){ params[0], params[7], params[8] },
          .rows = rest_rows_one,
          .arg = op->o },
    };
    int rc = api_db_run(ctx, op_scope(op), st, 4, upload_done, op);
    if (rc != 0) {
        op_free(op);
        api_error_db(ctx, rc);
    }
    return 0;
}

/* An upload being parsed on its own thread; the entries come back to the request's op. */
struct parse_job {
    struct api_dnc *D;
    struct httpd *h;
    uint64_t handle;
    char *data; /* a copy of the body: the request may go away meanwhile */
    size_t len;
    enum compliance_dnc_format fmt;
    struct op res; /* adds, dels, lines, sha */
    int rc;
    struct compliance_dnc_parse_error perr;
};

static void parse_job_free(struct parse_job *pj)
{
    op_free(&pj->res);
    free(pj->data);
    free(pj);
}

/* Back on the httpd thread: answer a bad file, or store the entries. */
static void parse_answer(struct httpd *h, void *arg)
{
    struct parse_job *pj = arg;
    struct api_ctx *ctx = api_ctx_lookup(pj->D->api, pj->handle);
    struct op *op;
    (void)h;

    if (ctx == NULL) { /* the client left */
        parse_job_free(pj);
        return;
    }
    op = api_ctx_data(ctx);
    if (pj->rc == ERR_NOMEM) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "out of memory", NULL);
    } else if (pj->rc != 0) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_file",
                  api_ctx_printf(ctx, "line %llu: %s", (unsigned long long)pj->perr.line,
                                 pj->perr.message[0] != '\0' ? pj->perr.message : "not a DNC file"),
                  api_ctx_printf(ctx, "line %llu", (unsigned long long)pj->perr.line));
    } else {
        op->adds = pj->res.adds;
        op->dels = pj->res.dels;
        op->lines = pj->res.lines;
        memcpy(op->sha, pj->res.sha, sizeof(op->sha));
        pj->res.adds = pj->res.dels = NULL;
        (void)with_list(ctx, op, true, upload_step);
    }
    parse_job_free(pj);
}

static void *parse_thread(void *arg)
{
    struct parse_job *pj = arg;
    struct api_dnc *D = pj->D;
    struct op *r = &pj->res;
    unsigned char digest[crypto_hash_sha256_BYTES];

    /* the digest of the file as received (before any unzipping): a file loaded twice is told */
    crypto_hash_sha256(digest, (const unsigned char *)pj->data, pj->len);
    sodium_bin2hex(r->sha, sizeof(r->sha), digest, sizeof(digest));
    pj->rc = compliance_dnc_parse(pj->data, pj->len, pj->fmt, NULL, upload_entry, r, &r->lines,
                                  &pj->perr);
    if (pj->rc == 0) {
        pj->rc = arr_close(&r->adds, &r->adds_len, &r->adds_cap, &r->nadds);
    }
    if (pj->rc == 0) {
        pj->rc = arr_close(&r->dels, &r->dels_len, &r->dels_cap, &r->ndels);
    }
    free(pj->data);
    pj->data = NULL;
    if (httpd_post(pj->h, parse_answer, pj) != 0) {
        parse_job_free(pj);
    }
    pthread_mutex_lock(&D->mu);
    D->parsing--;
    pthread_cond_broadcast(&D->cv);
    pthread_mutex_unlock(&D->mu);
    return NULL;
}

/* Parses the body off the httpd thread; the answer comes from parse_answer. Returns HTTPD_*. */
static int start_parse(struct api_ctx *ctx, struct op *op, const void *data, size_t len,
                       enum compliance_dnc_format fmt)
{
    struct api_dnc *D = op->D;
    struct parse_job *pj;
    pthread_attr_t at;
    pthread_t t;
    bool busy;
    int rc;

    pthread_mutex_lock(&D->mu);
    busy = D->parsing >= PARSE_THREADS;
    if (!busy) {
        D->parsing++;
    }
    pthread_mutex_unlock(&D->mu);
    if (busy) {
        api_respond_json(ctx, HTTPD_STATUS_UNAVAILABLE,
                         json_pack("{s:{s:s, s:s}}", "error", "code", "busy", "message",
                                   "other DNC uploads are being read; try again shortly"),
                         &(struct api_resp_opts){ .retry_after_s = 2 });
        return HTTPD_DONE;
    }
    pj = calloc(1, sizeof(*pj));
    if (pj != NULL && (pj->data = malloc(len)) == NULL) {
        free(pj);
        pj = NULL;
    }
    rc = pj == NULL ? ERR_NOMEM : 0;
    if (rc == 0) {
        memcpy(pj->data, data, len);
        pj->D = D;
        pj->h = httpd_req_server(api_ctx_req(ctx));
        pj->handle = api_ctx_handle(ctx);
        pj->len = len;
        pj->fmt = fmt;
        api_ctx_set_data(ctx, op);
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&t, &at, parse_thread, pj) != 0 ? ERR_NOMEM : 0;
        pthread_attr_destroy(&at);
        if (rc == 0) {
            return HTTPD_DEFERRED;
        }
        parse_job_free(pj);
    }
    pthread_mutex_lock(&D->mu);
    D->parsing--;
    pthread_mutex_unlock(&D->mu);
    return rc;
}

static int h_upload(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        return refuse_file_list(ctx);
    }
    static const char *const allowed[] = { "format", "replace", "list_date", "force", NULL };
    struct httpd_req *req = api_ctx_req(ctx);
    struct op *op = op_new(ctx, arg, "no such DNC list");
    const char *fmt = httpd_req_query(req, "format");
    const char *rep = httpd_req_query(req, "replace");
    const char *date = httpd_req_query(req, "list_date");
    const char *force = httpd_req_query(req, "force");
    enum compliance_dnc_format f = COMPLIANCE_DNC_FMT_AUTO;
    const void *data;
    size_t len;

    if (op == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &op->list_id) != 0 || api_query_allow(ctx, allowed) != 0) {
        return HTTPD_DONE;
    }
    if (fmt != NULL) {
        if (strcmp(fmt, "registry") == 0) {
            f = COMPLIANCE_DNC_FMT_REGISTRY;
        } else if (strcmp(fmt, "changes") == 0) {
            f = COMPLIANCE_DNC_FMT_CHANGES;
        } else if (strcmp(fmt, "plain") == 0) {
            f = COMPLIANCE_DNC_FMT_PLAIN;
        } else if (strcmp(fmt, "xml") == 0) {
            f = COMPLIANCE_DNC_FMT_XML;
        } else if (strcmp(fmt, "auto") != 0) {
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                      "format is one of auto, registry, changes, plain, xml", "?format");
            return HTTPD_DONE;
        }
    }
    if (rep != NULL && strcmp(rep, "true") != 0 && strcmp(rep, "false") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "replace is true or false",
                  "?replace");
        return HTTPD_DONE;
    }
    if (force != NULL && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "force is true or false",
                  "?force");
        return HTTPD_DONE;
    }
    if (date != NULL && !valid_date(date)) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "list_date is a date YYYY-MM-DD", "?list_date");
        return HTTPD_DONE;
    }
    data = httpd_req_body(req, &len);
    if (len == 0) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "empty_file", "the upload is empty", NULL);
        return HTTPD_DONE;
    }
    if (!compliance_dnc_is_zip(data, len) && memchr(data, '\0', len) != NULL) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_file",
                  "the upload is not a text file (it contains NUL bytes)", NULL);
        return HTTPD_DONE;
    }
    return start_parse(ctx, op, data, len, f);
}

/* ------------------------------------------------------------- export */

static int export_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct op *op = arg;
    int n = PQntuples(res);
    size_t cap = 64, len = 0;
    char *csv, cell[1100];

    if (n > EXPORT_MAX) {
        op->o->found = -1;
        return 0;
    }
    op->o->found = 1;
    for (int i = 0; i < n; i++) {
        for (int f = 0; f < 5; f++) {
            cap += (size_t)PQgetlength(res, i, f) * 2 + 4;
        }
    }
    csv = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), cap + 64);
    if (csv == NULL) {
        return ERR_NOMEM;
    }
    len = (size_t)snprintf(csv, cap, "number,source,reason,added_by,added_at\r\n");
    for (int i = 0; i < n; i++) {
        for (int f = 0; f < 5; f++) {
            /* The entry is a checked E.164 number or block ('+' and digits): written as it is,
             * so the file loads again as a plain list. Every other cell is neutralised. */
            int w = f == 0 ? snprintf(cell, sizeof(cell), "%s", PQgetvalue(res, i, f))
                           : importer_csv_cell(PQgetvalue(res, i, f),
                                               (size_t)PQgetlength(res, i, f), cell, sizeof(cell));
            if (w < 0) {
                return ERR_TOOBIG;
            }
            memcpy(csv + len, cell, (size_t)w);
            len += (size_t)w;
            csv[len++] = f < 4 ? ',' : '\r';
            if (f == 4) {
                csv[len++] = '\n';
            }
        }
    }
    op->adds_len = len;
    op->entry = csv;
    return 0;
}

static void export_done(struct api_ctx *ctx, int status, void *arg)
{
    struct op *op = arg;
    if (status != 0) {
        api_error_db(ctx, status);
    } else if (!op->found) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such DNC list", NULL);
    } else if (op->o->found < 0) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "too_large",
                  "the list has more than 1000000 entries; export it from the database", NULL);
    } else {
        api_respond_raw(ctx, HTTPD_STATUS_OK, "text/csv; charset=utf-8", op->entry, op->adds_len);
    }
}

static int export_found(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct op *op = arg;
    (void)ctx;
    op->found = PQntuples(res) == 1 && strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0;
    return 0;
}

static int h_export(struct api_ctx *ctx, void *arg)
{
    if (is_file_list(ctx)) {
        return refuse_file_entries(ctx);
    }
    struct op *op = op_new(ctx, arg, "no such DNC list");
    const char *params[2];

    if (op == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &op->list_id) != 0) {
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, op->list_id);
    params[1] = rest_i64(ctx, EXPORT_MAX + 1);
    struct api_stmt st[2] = {
        { .sql = "SELECT count(*) FROM dnc_lists WHERE id = $1::bigint",
          .nparams = 1,
          .params = params,
          .rows = export_found,
          .arg = op },
        { .sql = "SELECT coalesce(e.number::text, e.prefix), e.source, coalesce(e.reason, ''),"
                 " e.added_by, to_char(e.added_at AT TIME ZONE 'UTC',"
                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM dnc_entries e"
                 " WHERE e.list_id = $1::bigint ORDER BY e.id LIMIT $2::bigint",
          .nparams = 2,
          .params = params,
          .rows = export_rows,
          .arg = op },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 2, export_done, op);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* ------------------------------------------------------------- routes */

int api_dnc_create(struct api *a, const struct api_dnc_config *cfg, struct api_dnc **out)
{
    struct api_dnc *D = calloc(1, sizeof(*D));
    int rc = 0;

    *out = NULL;
    if (D == NULL) {
        return ERR_NOMEM;
    }
    if (cfg != NULL) {
        D->cfg = *cfg;
    }
    D->api = a;
    pthread_mutex_init(&D->mu, NULL);
    pthread_cond_init(&D->cv, NULL);
    if (D->cfg.max_upload <= 0) {
        D->cfg.max_upload = INT64_C(64) * 1024 * 1024;
    }
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/dnc/lists",
          .perm = API_PERM_DNC_READ,
          .handler = h_lists_page,
          .arg = D,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/dnc/lists",
          .perm = API_PERM_DNC_WRITE,
          .handler = h_list_create,
          .arg = D,
          .flags = API_ROUTE_IDEMPOTENT },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/dnc/lists/{id}",
          .perm = API_PERM_DNC_READ,
          .handler = h_list_get,
          .arg = D,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/dnc/lists/{id}",
          .perm = API_PERM_DNC_WRITE,
          .handler = h_list_delete,
          .arg = D,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/dnc/lists/{id}/entries",
          .perm = API_PERM_DNC_READ,
          .handler = h_entries_page,
          .arg = D,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/dnc/lists/{id}/entries",
          .perm = API_PERM_DNC_WRITE,
          .handler = h_entry_add,
          .arg = D },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/dnc/lists/{id}/entries/{number}",
          .perm = API_PERM_DNC_WRITE,
          .handler = h_entry_remove,
          .arg = D,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/dnc/lists/{id}/uploads",
          .perm = API_PERM_DNC_WRITE,
          .handler = h_upload,
          .arg = D,
          .max_body = D->cfg.max_upload },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/dnc/lists/{id}/export.csv",
          .perm = API_PERM_DNC_READ,
          .handler = h_export,
          .arg = D,
          .flags = API_ROUTE_NO_BODY },
    };
    rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    if (rc != 0) {
        api_dnc_destroy(D);
        return rc;
    }
    *out = D;
    return 0;
}

void api_dnc_destroy(struct api_dnc *D)
{
    struct timespec until;

    if (D == NULL) {
        return;
    }
    /* Parse threads still running (bounded): their answer is dropped by httpd_post. */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&D->mu);
    while (D->parsing > 0 && pthread_cond_timedwait(&D->cv, &D->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&D->mu);
    pthread_mutex_destroy(&D->mu);
    pthread_cond_destroy(&D->cv);
    free(D);
}
