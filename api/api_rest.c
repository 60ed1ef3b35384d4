/* SPDX-License-Identifier: MIT */
/* Result collectors and answers shared by the resource route files (see api_rest.h). */
#include <stdlib.h>
#include <string.h>

#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"

int api__routes_add(struct api *a, const struct api_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = api_route_add(a, &routes[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void out_clear(struct rest_out *o)
{
    json_decref(o->items);
    json_decref(o->obj);
    o->items = NULL;
    o->obj = NULL;
}

static void out_release(void *arg)
{
    out_clear(arg);
}

/* The JSON it collects is freed with the request too: the completion does
 * not run when the client leaves between the rows and COMMIT. */
struct rest_out *rest_out_new(struct api_ctx *ctx, const char *missing)
{
    struct httpd_req *req = api_ctx_req(ctx);
    struct rest_out *o = arena_calloc(httpd_req_arena(req), sizeof(*o));
    if (o != NULL) {
        o->found = -1;
        o->missing = missing != NULL ? missing : "no such object";
        if (httpd_req_on_release(req, out_release, o) != 0) {
            return NULL;
        }
    }
    return o;
}

int rest_rows_page(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct rest_out *o = arg;
    int i, n = PQntuples(res);
    (void)ctx;

    json_decref(o->items);
    o->items = json_array();
    for (i = 0; i < n; i++) {
        if (i == o->limit) {
            o->more = true;
            break;
        }
        json_array_append_new(o->items, json_loads(PQgetvalue(res, i, 1), 0, NULL));
        o->last_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    }
    return 0;
}

int rest_rows_found(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct rest_out *o = arg;
    (void)ctx;
    o->found = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    return 0;
}

int rest_rows_one(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct rest_out *o = arg;
    (void)ctx;

    if (PQntuples(res) == 0) {
        o->found = 0;
        return 0;
    }
    o->found = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (!PQgetisnull(res, 0, 1)) {
        json_decref(o->obj);
        o->obj = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    }
    if (PQnfields(res) > 2 && !PQgetisnull(res, 0, 2)) {
        o->version = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    return 0;
}

static bool db_failed(struct api_ctx *ctx, int status, struct rest_out *o)
{
    if (status == 0) {
        return false;
    }
    out_clear(o);
    if (status == ERR_DB && o->sqlstate_409 != NULL &&
        strcmp(api_ctx_sqlstate(ctx), o->sqlstate_409) == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict", o->conflict_msg, NULL);
    } else {
        api_error_db(ctx, status);
    }
    return true;
}

void rest_page_done(struct api_ctx *ctx, int status, void *arg)
{
    struct rest_out *o = arg;
    json_t *body;

    if (db_failed(ctx, status, o)) {
        return;
    }
    if (o->found == 0) {
        out_clear(o);
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", o->missing, NULL);
        return;
    }
    body =
        json_pack("{s:o, s:o}", "items", o->items != NULL ? o->items : json_array(), "next_cursor",
                  o->more ? json_string(api_cursor_make(ctx, o->last_id)) : json_null());
    o->items = NULL;
    api_respond_json(ctx, HTTPD_STATUS_OK, body, NULL);
}

void rest_one_done(struct api_ctx *ctx, int status, void *arg)
{
    struct rest_out *o = arg;
    struct api_resp_opts ro = { 0 };
    json_t *obj;

    if (db_failed(ctx, status, o)) {
        return;
    }
    if (o->found == 0) {
        out_clear(o);
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", o->missing, NULL);
        return;
    }
    if (o->obj == NULL) {
        out_clear(o);
        api_error(ctx, 412, "precondition_failed",
                  "the object changed since the ETag given in If-Match; read it again", "If-Match");
        return;
    }
    if (o->created == HTTPD_STATUS_NO_CONTENT) {
        out_clear(o);
        api_respond_json(ctx, HTTPD_STATUS_NO_CONTENT, NULL, NULL);
        return;
    }
    if (o->version > 0) {
        ro.etag = api_ctx_printf(ctx, "%lld", (long long)o->version);
    }
    if (o->location != NULL) {
        ro.location = api_ctx_printf(ctx, "%s/%lld", o->location,
                                     (long long)json_integer_value(json_object_get(o->obj, "id")));
    }
    obj = o->obj;
    o->obj = NULL;
    api_respond_json(ctx, o->created != 0 ? o->created : HTTPD_STATUS_OK, obj, &ro);
}

int rest_run(struct api_ctx *ctx, const char *sql, int n, const char *const *params,
             api_rows_cb *rows, api_done_cb *done, struct rest_out *o)
{
    struct api_stmt st = { .sql = sql, .nparams = n, .params = params, .rows = rows, .arg = o };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, &st, 1, done, o);

    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* One statement on the object the path's {id} names ($1), answered by rest_one_done. */
static int run_by_id(struct api_ctx *ctx, struct rest_out *o, const char *sql)
{
    const char *params[1];
    int64_t id;

    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, id);
    return rest_run(ctx, sql, 1, params, rest_rows_one, rest_one_done, o);
}

int rest_get_by_id(struct api_ctx *ctx, const char *missing, const char *sql)
{
    struct rest_out *o = rest_out_new(ctx, missing);

    if (o == NULL) {
        return ERR_NOMEM;
    }
    return run_by_id(ctx, o, sql);
}

int rest_delete_by_id(struct api_ctx *ctx, const char *missing, const char *sql,
                      const char *conflict_msg)
{
    struct rest_out *o = rest_out_new(ctx, missing);

    if (o == NULL) {
        return ERR_NOMEM;
    }
    o->created = HTTPD_STATUS_NO_CONTENT;
    if (conflict_msg != NULL) {
        o->sqlstate_409 = "23503";
        o->conflict_msg = conflict_msg;
    }
    return run_by_id(ctx, o, sql);
}

const char *rest_i64(struct api_ctx *ctx, int64_t v)
{
    return api_ctx_printf(ctx, "%lld", (long long)v);
}

const char *rest_jstr(const json_t *body, const char *k)
{
    return json_string_value(json_object_get(body, k));
}

const char *rest_jbool(const json_t *body, const char *k)
{
    json_t *v = json_object_get(body, k);
    return v == NULL || json_is_null(v) ? NULL : (json_is_true(v) ? "t" : "f");
}

int rest_invalid(struct api_ctx *ctx, const char *code, const char *field, const char *message)
{
    api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, code, message, field);
    return HTTPD_DONE;
}

int rest_child_page(struct api_ctx *ctx, const char *missing, const char *parent_sql,
                    const char *page_sql)
{
    static const char *const allowed[] = { "limit", "cursor", NULL };
    struct rest_out *o = rest_out_new(ctx, missing);
    const char **p = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), 3 * sizeof(*p));
    int64_t id, after;

    if (o == NULL || p == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 50, 200, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = rest_i64(ctx, after);
    p[2] = rest_i64(ctx, o->limit + 1);
    return rest_run_page(ctx, o, p, parent_sql, 1, page_sql, 3);
}

int rest_run_page(struct api_ctx *ctx, struct rest_out *o, const char *const *params,
                  const char *parent_sql, int nparent, const char *page_sql, int npage)
{
    struct api_stmt st[2] = {
        { .sql = parent_sql,
          .nparams = nparent,
          .params = params,
          .rows = rest_rows_found,
          .arg = o },
        { .sql = page_sql, .nparams = npage, .params = params, .rows = rest_rows_page, .arg = o },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 2, rest_page_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int rest_page(struct api_ctx *ctx, const char *sql)
{
    static const char *const allowed[] = { "limit", "cursor", NULL };
    struct rest_out *o = rest_out_new(ctx, NULL);
    const char **p = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), 2 * sizeof(*p));
    int64_t after;

    if (o == NULL || p == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 50, 200, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, after);
    p[1] = rest_i64(ctx, o->limit + 1);
    return rest_run(ctx, sql, 2, p, rest_rows_page, rest_page_done, o);
}
