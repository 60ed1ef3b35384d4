/* SPDX-License-Identifier: MIT */
/*
 * api/res: the identity resources -- /me, roles, users, API keys, tenants.
 *
 * Every query runs in a tenant-scoped transaction (app.tenant_id = the
 * caller's tenant), so an id of another tenant simply finds no row: 404.
 * Tenants are the exception: they are managed by platform operators through
 * the platform path, and each such change writes an audit_log row.
 * Objects are rendered by PostgreSQL (json_build_object) and carry their
 * version (updated_at in microseconds) as ETag. Decisions:
 *   - users are never deleted (call history and revisions name them):
 *     DELETE disables the user and revokes their refresh tokens;
 *   - an admin cannot change their own role or disable themselves (a
 *     tenant could otherwise lose its last admin by accident);
 *   - the platform-operator flag is not settable through the API, only by
 *     `dialerd bootstrap`;
 *   - e-mail addresses are unique platform-wide (login needs no tenant), so
 *     creating a user with an address taken in another tenant answers 409.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "ivr/ivr.h"

/* Result collector shared by the handlers below. */
struct out {
    json_t *items;   /* list: array of objects */
    json_t *obj;     /* single object */
    int64_t version; /* ETag of obj */
    int64_t last_id; /* list: id of the last row kept */
    int64_t limit;   /* list: page size (rows beyond are the "more" probe) */
    bool more;
    int64_t found; /* rows matched before the condition (update/delete) */
    const char *location_fmt;
    int created;
    char *password; /* arena, wiped */
    char *hash;     /* arena */
    json_t *body;   /* borrowed request body */
    int64_t id;
    char *extra;                                     /* e.g. the one-time API key */
    int (*next)(struct api_ctx *ctx, struct out *o); /* after the password hash */
};

static void out_clear(struct out *o)
{
    json_decref(o->items);
    json_decref(o->obj);
    o->items = NULL;
    o->obj = NULL;
}

/* When the client left before the answer: the JSON collected is freed and
 * the password wiped all the same (the completion does not run then). */
static void out_release(void *arg)
{
    struct out *o = arg;

    out_clear(o);
    if (o->password != NULL) {
        sodium_memzero(o->password, strlen(o->password));
    }
}

static struct out *out_new(struct api_ctx *ctx)
{
    struct out *o = arena_calloc(httpd_req_arena(ctx->req), sizeof(struct out));

    if (o != NULL && httpd_req_on_release(ctx->req, out_release, o) != 0) {
        return NULL;
    }
    return o;
}

/* Rows (id, json[, version]) -> list items. */
static int rows_list(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct out *o = arg;
    int i, n = PQntuples(res);
    (void)ctx;

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

/* One row (found, json, version) -> obj; found counts rows before a condition. */
static int rows_one(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct out *o = arg;
    (void)ctx;

    if (PQntuples(res) == 0) {
        return 0;
    }
    o->found = PQnfields(res) > 2 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 1;
    {
        int c = PQnfields(res) > 2 ? 1 : 0;
        if (!PQgetisnull(res, 0, c)) {
            o->obj = json_loads(PQgetvalue(res, 0, c), 0, NULL);
            if (PQnfields(res) > c + 1 && !PQgetisnull(res, 0, c + 1)) {
                o->version = strtoll(PQgetvalue(res, 0, c + 1), NULL, 10);
            }
        }
    }
    return 0;
}

static void list_done(struct api_ctx *ctx, int status, void *arg)
{
    struct out *o = arg;
    json_t *body;

    if (status != 0) {
        out_clear(o);
        api_error_db(ctx, status);
        return;
    }
    body = json_pack("{s:o, s:s?}", "items", o->items != NULL ? o->items : json_array(),
                     "next_cursor", o->more ? api_cursor_make(ctx, o->last_id) : NULL);
    o->items = NULL;
    if (body != NULL && json_object_get(body, "next_cursor") == NULL) {
        json_object_set_new(body, "next_cursor", json_null());
    }
    api_respond_json(ctx, HTTPD_STATUS_OK, body, NULL);
}

static void one_done(struct api_ctx *ctx, int status, void *arg)
{
    struct out *o = arg;
    struct api_resp_opts ro = { 0 };
    char *etag = NULL;
    json_t *obj;

    if (o->password != NULL) {
        sodium_memzero(o->password, strlen(o->password));
    }
    if (status != 0) {
        out_clear(o);
        api_error_db(ctx, status);
        return;
    }
    if (o->found == 0) {
        out_clear(o);
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such object", NULL);
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
        etag = api_ctx_printf(ctx, "%lld", (long long)o->version);
        ro.etag = etag;
    }
    if (o->location_fmt != NULL) {
        ro.location = api_ctx_printf(ctx, "%s/%lld", o->location_fmt,
                                     (long long)json_integer_value(json_object_get(o->obj, "id")));
    }
    if (o->extra != NULL) {
        json_object_set_new(o->obj, "key", json_string(o->extra));
        sodium_memzero(o->extra, strlen(o->extra));
    }
    obj = o->obj;
    o->obj = NULL;
    api_respond_json(ctx, o->created != 0 ? o->created : HTTPD_STATUS_OK, obj, &ro);
}

static int run(struct api_ctx *ctx, enum api_scope scope, const char *sql, int n,
               const char *const *params, api_rows_cb *rows, api_done_cb *done, struct out *o)
{
    struct api_stmt st = { .sql = sql, .nparams = n, .params = params, .rows = rows, .arg = o };
    int rc = api_db_run(ctx, scope, &st, 1, done, o);

    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static const char *i64s(struct api_ctx *ctx, int64_t v)
{
    return api_ctx_printf(ctx, "%lld", (long long)v);
}

static const char *jstr(json_t *body, const char *k)
{
    return json_string_value(json_object_get(body, k));
}

/* JSON true/false/absent -> "t"/"f"/NULL. */
static const char *jbool(json_t *body, const char *k)
{
    json_t *v = json_object_get(body, k);
    return v == NULL || json_is_null(v) ? NULL : (json_is_true(v) ? "t" : "f");
}

/* ------------------------------------------------------------------- /me */

static int h_me(struct api_ctx *ctx, void *arg)
{
    const struct api_principal *p = api_ctx_principal(ctx);
    struct out *o = out_new(ctx);
    const char *params[1];
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    params[0] = i64s(ctx, p->id);
    if (p->kind == API_PRINCIPAL_API_KEY) {
        return run(
            ctx, API_SCOPE_TENANT,
            "SELECT json_build_object('kind', 'api_key', 'id', k.id, 'tenant_id',"
            " k.tenant_id, 'tenant_slug', t.slug, 'role', k.role, 'platform_operator', false,"
            " 'name', k.name)"
            " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = $1",
            1, params, rows_one, one_done, o);
    }
    return run(ctx, API_SCOPE_TENANT,
               "SELECT json_build_object('kind', 'user', 'id', u.id, 'tenant_id', u.tenant_id,"
               " 'tenant_slug', t.slug, 'role', u.role, 'platform_operator',"
               " u.is_platform_operator, 'email', u.email, 'display_name', u.display_name)"
               " FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
               1, params, rows_one, one_done, o);
}

/* ----------------------------------------------------------------- roles */

static json_t *role_json(enum api_role r)
{
    json_t *perms = json_array();
    size_t i;

    for (i = 0; i < API_PERM_COUNT_; i++) {
        if (i != API_PERM_PUBLIC && !api_perm_matrix[i].platform &&
            api_perm_allows((enum api_perm)i, r, false)) {
            json_array_append_new(perms, json_string(api_perm_matrix[i].name));
        }
    }
    return json_pack("{s:s, s:o}", "name", api_role_name(r), "permissions", perms);
}

static int h_roles(struct api_ctx *ctx, void *arg)
{
    json_t *items = json_array();
    (void)arg;

    if (api_query_allow(ctx, NULL) != 0) {
        json_decref(items);
        return HTTPD_DONE;
    }
    json_array_append_new(items, role_json(API_ROLE_ADMIN));
    json_array_append_new(items, role_json(API_ROLE_EDITOR));
    json_array_append_new(items, role_json(API_ROLE_VIEWER));
    api_respond_json(ctx, HTTPD_STATUS_OK, json_pack("{s:o, s:n}", "items", items, "next_cursor"),
                     NULL);
    return HTTPD_DONE;
}

static int h_role(struct api_ctx *ctx, void *arg)
{
    enum api_role r = api_role_parse(httpd_req_param(ctx->req, "name"));
    (void)arg;

    if (r == API_ROLE_NONE) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such role", NULL);
        return HTTPD_DONE;
    }
    api_respond_json(ctx, HTTPD_STATUS_OK, role_json(r), NULL);
    return HTTPD_DONE;
}

/* ----------------------------------------------------------------- users */

#define USER_JSON \
    "json_build_object('id', u.id, 'email', u.email, 'display_name', u.display_name, 'role',  \
     u.role, 'platform_operator', u.is_platform_operator, 'disabled', u.disabled_at IS NOT NULL, \
     'last_login_at', u.last_login_at, 'created_at', u.created_at, 'updated_at', u.updated_at)"
#define VERSION(t) "(extract(epoch FROM " t ".updated_at) * 1000000)::bigint"

static const char *const role_values[] = { "admin", "editor", "viewer", NULL };

static int h_users_list(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "role", "disabled", NULL };
    struct out *o = out_new(ctx);
    const char *params[4];
    const char *role = httpd_req_query(ctx->req, "role");
    const char *dis = httpd_req_query(ctx->req, "disabled");
    int64_t limit, after;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 || api_page_parse(ctx, 50, 200, &limit, &after) != 0) {
        return HTTPD_DONE;
    }
    if (role != NULL && api_role_parse(role) == API_ROLE_NONE) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "role must be admin, editor or viewer", "?role");
        return HTTPD_DONE;
    }
    if (dis != NULL && strcmp(dis, "true") != 0 && strcmp(dis, "false") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "disabled must be true or false", "?disabled");
        return HTTPD_DONE;
    }
    o->limit = limit;
    params[0] = i64s(ctx, after);
    params[1] = role;
    params[2] = dis;
    params[3] = i64s(ctx, limit + 1);
    return run(ctx, API_SCOPE_TENANT,
               "SELECT u.id, " USER_JSON " FROM users u WHERE u.id > $1::bigint"
               " AND ($2::text IS NULL OR u.role = $2)"
               " AND ($3::bool IS NULL OR (u.disabled_at IS NOT NULL) = $3::bool)"
               " ORDER BY u.id LIMIT $4::int",
               4, params, rows_list, list_done, o);
}

static int h_user_get(struct api_ctx *ctx, void *arg)
{
    struct out *o = out_new(ctx);
    const char *params[1];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    params[0] = i64s(ctx, id);
    return run(ctx, API_SCOPE_TENANT,
               "SELECT " USER_JSON ", " VERSION("u") " FROM users u WHERE u.id = $1::bigint", 1,
               params, rows_one, one_done, o);
}

static void user_hashed(struct api *a, uint64_t handle, int status, const char *hash, void *arg);

static int user_insert(struct api_ctx *ctx, struct out *o)
{
    const char *params[6];

    params[0] = jstr(o->body, "email");
    params[1] = jstr(o->body, "display_name") != NULL ? jstr(o->body, "display_name") : "";
    params[2] = jstr(o->body, "role");
    params[3] = o->hash;
    params[4] = httpd_req_client(ctx->req);
    params[5] = api_ctx_principal(ctx)->kind == API_PRINCIPAL_USER
                    ? i64s(ctx, api_ctx_principal(ctx)->id)
                    : NULL;
    o->created = HTTPD_STATUS_CREATED;
    o->location_fmt = "/api/v1/users";
    (void)params[5];
    return run(ctx, API_SCOPE_TENANT,
               "WITH u AS (INSERT INTO users (tenant_id, email, display_name, role, password_hash,"
               " password_changed_at) VALUES (app_tenant_id(), $1, $2, $3, $4, now()) RETURNING *),"
               " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, detail,"
               " client_ip) SELECT tenant_id, 'user.create', 'user', id::text,"
               " json_build_object('role', role)::jsonb, $5::inet FROM u)"
               " SELECT " USER_JSON ", " VERSION("u") " FROM u",
               5, params, rows_one, one_done, o);
}

static void user_hashed(struct api *a, uint64_t handle, int status, const char *hash, void *arg)
{
    struct api_ctx *ctx = api__ctx_lookup(a, handle);
    struct out *o = arg;
    int (*next)(struct api_ctx *, struct out *);

    if (ctx == NULL) {
        return;
    }
    if (o->password != NULL) {
        sodium_memzero(o->password, strlen(o->password));
    }
    if (status != 0 || hash == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return;
    }
    o->hash = api_ctx_printf(ctx, "%s", hash);
    next = o->next;
    o->next = NULL;
    next(ctx, o);
}

static int hash_then(struct api_ctx *ctx, struct out *o, const char *password,
                     int (*next)(struct api_ctx *, struct out *))
{
    int rc;

    o->password = api_ctx_printf(ctx, "%s", password);
    if (o->password == NULL) {
        return ERR_NOMEM;
    }
    o->next = next;
    rc = api__hash_password(ctx->api, ctx->handle, o->password, user_hashed, o);
    if (rc != 0) {
        o->next = NULL;
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "busy", "too busy; try again", NULL);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_user_create(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "email", .type = API_F_EMAIL, .required = true },
        { .name = "display_name", .type = API_F_STRING, .min = 0, .max = 200 },
        { .name = "role", .type = API_F_ENUM, .required = true, .values = role_values },
        { .name = "password", .type = API_F_STRING, .required = true, .min = 10, .max = 1000 },
    };
    struct out *o = out_new(ctx);
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_body_validate(ctx, fields, 4, &o->body) != 0) {
        return HTTPD_DONE;
    }
    return hash_then(ctx, o, jstr(o->body, "password"), user_insert);
}

static int user_update(struct api_ctx *ctx, struct out *o)
{
    const char *params[7];

    params[0] = i64s(ctx, o->id);
    params[1] = o->version >= 0 ? i64s(ctx, o->version) : NULL;
    params[2] = jstr(o->body, "display_name");
    params[3] = jstr(o->body, "role");
    params[4] = jbool(o->body, "disabled");
    params[5] = o->hash;
    params[6] = httpd_req_client(ctx->req);
    o->version = 0;
    return run(
        ctx, API_SCOPE_TENANT,
        "WITH cur AS (SELECT id, " VERSION(
            "users") " AS v FROM users"
                     "  WHERE id = $1::bigint FOR UPDATE),"
                     " u AS (UPDATE users u SET display_name = coalesce($3::text, u.display_name),"
                     "  role = coalesce($4::text, u.role),"
                     "  disabled_at = CASE WHEN $5::bool IS NULL THEN u.disabled_at"
                     "   WHEN $5::bool THEN coalesce(u.disabled_at, now()) ELSE NULL END,"
                     "  password_hash = coalesce($6::text, u.password_hash),"
                     "  password_changed_at = CASE WHEN $6::text IS NULL THEN u.password_changed_at"
                     "   ELSE now() END"
                     "  FROM cur WHERE u.id = cur.id AND ($2::bigint IS NULL OR cur.v = $2::bigint)"
                     "  RETURNING u.*),"
                     " r AS (UPDATE refresh_tokens SET revoked_at = now(), revoked_reason ="
                     "  CASE WHEN $6::text IS NOT NULL THEN 'password_change' ELSE 'user_disabled' "
                     "END"
                     "  WHERE user_id IN (SELECT id FROM u WHERE disabled_at IS NOT NULL"
                     "   OR $6::text IS NOT NULL) AND revoked_at IS NULL),"
                     " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, "
                     "detail,"
                     "  client_ip) SELECT tenant_id, 'user.update', 'user', id::text,"
                     "  json_build_object('role', role, 'disabled', disabled_at IS NOT "
                     "NULL)::jsonb,"
                     "  $7::inet FROM u)"
                     " SELECT (SELECT count(*) FROM cur), (SELECT " USER_JSON " FROM u),"
                     " (SELECT " VERSION("u") " FROM u)",
        7, params, rows_one, one_done, o);
}

static bool self_change(struct api_ctx *ctx, int64_t id, json_t *body)
{
    const struct api_principal *p = api_ctx_principal(ctx);

    if (p->kind != API_PRINCIPAL_USER || p->id != id) {
        return false;
    }
    return (jstr(body, "role") != NULL && api_role_parse(jstr(body, "role")) != p->role) ||
           json_is_true(json_object_get(body, "disabled"));
}

static int h_user_patch(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "display_name", .type = API_F_STRING, .min = 0, .max = 200 },
        { .name = "role", .type = API_F_ENUM, .values = role_values },
        { .name = "disabled", .type = API_F_BOOL },
        { .name = "password", .type = API_F_STRING, .min = 10, .max = 1000 },
    };
    struct out *o = out_new(ctx);
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &o->id) != 0 || api_if_match(ctx, &o->version) != 0 ||
        api_body_validate(ctx, fields, 4, &o->body) != 0) {
        return HTTPD_DONE;
    }
    if (self_change(ctx, o->id, o->body)) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "self_change",
                  "you cannot change your own role or disable yourself", "$.role");
        return HTTPD_DONE;
    }
    if (jstr(o->body, "password") != NULL) {
        return hash_then(ctx, o, jstr(o->body, "password"), user_update);
    }
    return user_update(ctx, o);
}

static int h_user_delete(struct api_ctx *ctx, void *arg)
{
    struct out *o = out_new(ctx);
    const char *params[2];
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &o->id) != 0) {
        return HTTPD_DONE;
    }
    if (api_ctx_principal(ctx)->kind == API_PRINCIPAL_USER && api_ctx_principal(ctx)->id == o->id) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "self_change", "you cannot disable yourself",
                  NULL);
        return HTTPD_DONE;
    }
    api__cache_clear(ctx->api);
    o->created = HTTPD_STATUS_NO_CONTENT;
    params[0] = i64s(ctx, o->id);
    params[1] = httpd_req_client(ctx->req);
    return run(
        ctx, API_SCOPE_TENANT,
        "WITH u AS (UPDATE users SET disabled_at = coalesce(disabled_at, now())"
        "  WHERE id = $1::bigint RETURNING *),"
        " r AS (UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'user_disabled'"
        "  WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL),"
        " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, client_ip)"
        "  SELECT tenant_id, 'user.disable', 'user', id::text, $2::inet FROM u)"
        " SELECT (SELECT count(*) FROM u), '{}'::json, NULL::bigint",
        2, params, rows_one, one_done, o);
}

/* -------------------------------------------------------------- API keys */

#define KEY_JSON \
    "json_build_object('id', k.id, 'name', k.name, 'prefix', k.prefix, 'role', k.role,         \
     'created_by', k.created_by, 'created_at', k.created_at, 'expires_at', k.expires_at,       \
     'last_used_at', k.last_used_at, 'revoked', k.revoked_at IS NOT NULL, 'revoked_at', k.revoked_at)"

static int h_keys_list(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "revoked", NULL };
    struct out *o = out_new(ctx);
    const char *params[3];
    const char *rev = httpd_req_query(ctx->req, "revoked");
    int64_t limit, after;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 || api_page_parse(ctx, 50, 200, &limit, &after) != 0) {
        return HTTPD_DONE;
    }
    if (rev != NULL && strcmp(rev, "true") != 0 && strcmp(rev, "false") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "revoked must be true or false", "?revoked");
        return HTTPD_DONE;
    }
    o->limit = limit;
    params[0] = i64s(ctx, after);
    params[1] = rev;
    params[2] = i64s(ctx, limit + 1);
    return run(ctx, API_SCOPE_TENANT,
               "SELECT k.id, " KEY_JSON " FROM api_keys k WHERE k.id > $1::bigint"
               " AND ($2::bool IS NULL OR (k.revoked_at IS NOT NULL) = $2::bool)"
               " ORDER BY k.id LIMIT $3::int",
               3, params, rows_list, list_done, o);
}

static int h_key_get(struct api_ctx *ctx, void *arg)
{
    struct out *o = out_new(ctx);
    const char *params[1];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    params[0] = i64s(ctx, id);
    return run(ctx, API_SCOPE_TENANT, "SELECT " KEY_JSON " FROM api_keys k WHERE k.id = $1::bigint",
               1, params, rows_one, one_done, o);
}

static int h_key_create(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "role", .type = API_F_ENUM, .required = true, .values = role_values },
        { .name = "expires_in_days", .type = API_F_INT, .min = 1, .max = 3650 },
    };
    struct out *o = out_new(ctx);
    const char *params[7];
    unsigned char rnd[6];
    char hex[13];
    char secret[64];
    json_t *days;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_body_validate(ctx, fields, 3, &o->body) != 0) {
        return HTTPD_DONE;
    }
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    api__random_token(secret, 32);
    o->extra = api_ctx_printf(ctx, "dk_%s_%s", hex, secret);
    sodium_memzero(secret, sizeof(secret));
    if (o->extra == NULL) {
        return ERR_NOMEM;
    }
    days = json_object_get(o->body, "expires_in_days");
    params[0] = jstr(o->body, "name");
    params[1] = api_ctx_printf(ctx, "dk_%s", hex);
    {
        char h[65];
        api__sha256_hex(o->extra, strlen(o->extra), h);
        params[2] = api_ctx_printf(ctx, "%s", h);
    }
    params[3] = jstr(o->body, "role");
    params[4] = api_ctx_principal(ctx)->kind == API_PRINCIPAL_USER
                    ? i64s(ctx, api_ctx_principal(ctx)->id)
                    : NULL;
    params[5] = days != NULL && !json_is_null(days) ? i64s(ctx, json_integer_value(days)) : NULL;
    params[6] = httpd_req_client(ctx->req);
    o->created = HTTPD_STATUS_CREATED;
    o->location_fmt = "/api/v1/api-keys";
    return run(ctx, API_SCOPE_TENANT,
               "WITH k AS (INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role,"
               "  created_by, expires_at) VALUES (app_tenant_id(), $1, $2, decode($3, 'hex'), $4,"
               "  $5::bigint, now() + make_interval(days => $6::int)) RETURNING *),"
               " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, detail,"
               "  client_ip) SELECT tenant_id, 'api_key.create', 'api_key', id::text,"
               "  json_build_object('role', role, 'prefix', prefix)::jsonb, $7::inet FROM k)"
               " SELECT " KEY_JSON " FROM k",
               7, params, rows_one, one_done, o);
}

static int h_key_revoke(struct api_ctx *ctx, void *arg)
{
    struct out *o = out_new(ctx);
    const char *params[2];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    api__cache_clear(ctx->api);
    o->created = HTTPD_STATUS_NO_CONTENT;
    params[0] = i64s(ctx, id);
    params[1] = httpd_req_client(ctx->req);
    return run(ctx, API_SCOPE_TENANT,
               "WITH k AS (UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
               "  WHERE id = $1::bigint RETURNING *),"
               " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, client_ip)"
               "  SELECT tenant_id, 'api_key.revoke', 'api_key', id::text, $2::inet FROM k)"
               " SELECT (SELECT count(*) FROM k), '{}'::json, NULL::bigint",
               2, params, rows_one, one_done, o);
}

/* --------------------------------------------------------------- tenants */

#define TENANT_JSON \
    "json_build_object('id', t.id, 'slug', t.slug, 'name', t.name, 'status', t.status,      \
     'settings', t.settings, 'created_at', t.created_at, 'updated_at', t.updated_at)"

static const char *const status_values[] = { "active", "suspended", "closed", NULL };

enum { TENANT_ALLOW_MAX = 32 };

/*
 * settings.api_call_allow: CIDRs the tenant's api_call may reach although
 * loopback, private or link-local (added to ivr.http-allow for this
 * tenant's flows only). An array of at most 32 CIDR strings; 422 naming the
 * element otherwise. Returns 0 or ERR_INVAL (answered).
 */
static int tenant_allow_check(struct api_ctx *ctx, const json_t *settings)
{
    const json_t *a = json_object_get(settings, "api_call_allow");
    size_t i;
    json_t *v;
    if (a == NULL) {
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) > TENANT_ALLOW_MAX) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_field",
                  "api_call_allow must be an array of at most 32 CIDRs (\"10.1.0.0/16\")",
                  "$.settings.api_call_allow");
        return ERR_INVAL;
    }
    json_array_foreach (a, i, v) {
        if (!json_is_string(v) || !ivr_cidr_valid(json_string_value(v))) {
            api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_field",
                      "not a CIDR (\"10.1.0.0/16\", \"127.0.0.1/32\", \"::1/128\")",
                      api_ctx_printf(ctx, "$.settings.api_call_allow[%zu]", i));
            return ERR_INVAL;
        }
    }
    return 0;
}

static int h_tenants_list(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "status", NULL };
    struct out *o = out_new(ctx);
    const char *params[3];
    const char *st = httpd_req_query(ctx->req, "status");
    int64_t limit, after;
    size_t i;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 || api_page_parse(ctx, 50, 200, &limit, &after) != 0) {
        return HTTPD_DONE;
    }
    for (i = 0; st != NULL && status_values[i] != NULL; i++) {
        if (strcmp(st, status_values[i]) == 0) {
            break;
        }
    }
    if (st != NULL && status_values[i] == NULL) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "status must be active, suspended or closed", "?status");
        return HTTPD_DONE;
    }
    o->limit = limit;
    params[0] = i64s(ctx, after);
    params[1] = st;
    params[2] = i64s(ctx, limit + 1);
    return run(ctx, API_SCOPE_PLATFORM,
               "SELECT t.id, " TENANT_JSON " FROM tenants t WHERE t.id > $1::bigint"
               " AND ($2::text IS NULL OR t.status = $2) ORDER BY t.id LIMIT $3::int",
               3, params, rows_list, list_done, o);
}

static int h_tenant_get(struct api_ctx *ctx, void *arg)
{
    struct out *o = out_new(ctx);
    const char *params[1];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    params[0] = i64s(ctx, id);
    return run(ctx, API_SCOPE_PLATFORM,
               "SELECT " TENANT_JSON ", " VERSION("t") " FROM tenants t WHERE t.id = $1::bigint", 1,
               params, rows_one, one_done, o);
}

static int h_tenant_create(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "slug", .type = API_F_SLUG, .required = true },
        { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "settings", .type = API_F_OBJECT, .max = 65536 },
    };
    struct out *o = out_new(ctx);
    const char *params[4];
    json_t *settings;
    char *stext;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_body_validate(ctx, fields, 3, &o->body) != 0 ||
        tenant_allow_check(ctx, json_object_get(o->body, "settings")) != 0) {
        return HTTPD_DONE;
    }
    settings = json_object_get(o->body, "settings");
    stext = settings != NULL ? json_dumps(settings, JSON_COMPACT) : NULL;
    params[0] = jstr(o->body, "slug");
    params[1] = jstr(o->body, "name");
    params[2] = stext != NULL ? api_ctx_printf(ctx, "%s", stext) : "{}";
    params[3] = httpd_req_client(ctx->req);
    free(stext);
    o->created = HTTPD_STATUS_CREATED;
    o->location_fmt = "/api/v1/tenants";
    return run(ctx, API_SCOPE_PLATFORM,
               "WITH t AS (INSERT INTO tenants (slug, name, settings) VALUES ($1, $2, $3::jsonb)"
               "  RETURNING *),"
               " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id, detail,"
               "  client_ip) SELECT NULL, 'tenant.create', 'tenant', id::text,"
               "  json_build_object('slug', slug)::jsonb, $4::inet FROM t)"
               " SELECT " TENANT_JSON ", " VERSION("t") " FROM t",
               4, params, rows_one, one_done, o);
}

static int h_tenant_patch(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "name", .type = API_F_STRING, .min = 1, .max = 200 },
        { .name = "status", .type = API_F_ENUM, .values = status_values },
        { .name = "settings", .type = API_F_OBJECT, .max = 65536 },
    };
    struct out *o = out_new(ctx);
    const char *params[6];
    json_t *settings;
    char *stext;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &o->id) != 0 || api_if_match(ctx, &o->version) != 0 ||
        api_body_validate(ctx, fields, 3, &o->body) != 0 ||
        tenant_allow_check(ctx, json_object_get(o->body, "settings")) != 0) {
        return HTTPD_DONE;
    }
    settings = json_object_get(o->body, "settings");
    stext = settings != NULL ? json_dumps(settings, JSON_COMPACT) : NULL;
    params[0] = i64s(ctx, o->id);
    params[1] = o->version >= 0 ? i64s(ctx, o->version) : NULL;
    params[2] = jstr(o->body, "name");
    params[3] = jstr(o->body, "status");
    params[4] = stext != NULL ? api_ctx_printf(ctx, "%s", stext) : NULL;
    params[5] = httpd_req_client(ctx->req);
    free(stext);
    o->version = 0;
    if (params[3] != NULL) {
        api__cache_clear(ctx->api);
    }
    return run(ctx, API_SCOPE_PLATFORM,
               "WITH cur AS (SELECT id, " VERSION(
                   "tenants") " AS v FROM tenants"
                              "  WHERE id = $1::bigint FOR UPDATE),"
                              " t AS (UPDATE tenants t SET name = coalesce($3::text, t.name),"
                              "  status = coalesce($4::text, t.status),"
                              "  settings = coalesce($5::jsonb, t.settings)"
                              "  FROM cur WHERE t.id = cur.id AND ($2::bigint IS NULL OR cur.v = "
                              "$2::bigint)"
                              "  RETURNING t.*),"
                              " a AS (INSERT INTO audit_log (tenant_id, action, object_type, "
                              "object_id, detail,"
                              "  client_ip) SELECT NULL, 'tenant.update', 'tenant', id::text,"
                              "  json_build_object('status', status)::jsonb, $6::inet FROM t)"
                              " SELECT (SELECT count(*) FROM cur), (SELECT " TENANT_JSON " FROM t),"
                              " (SELECT " VERSION("t") " FROM t)",
               6, params, rows_one, one_done, o);
}

/* ---------------------------------------------------------------- table */

int api__resource_routes(struct api *a)
{
    const struct api_route routes[] = {
        { HTTPD_GET, "/api/v1/me", API_PERM_PROFILE_READ, h_me, NULL, API_ROUTE_NO_BODY, 0 },
        { HTTPD_GET, "/api/v1/roles", API_PERM_ROLES_READ, h_roles, NULL, API_ROUTE_NO_BODY, 0 },
        { HTTPD_GET, "/api/v1/roles/{name}", API_PERM_ROLES_READ, h_role, NULL, API_ROUTE_NO_BODY,
          0 },
        { HTTPD_GET, "/api/v1/users", API_PERM_USERS_READ, h_users_list, NULL, API_ROUTE_NO_BODY,
          0 },
        { HTTPD_POST, "/api/v1/users", API_PERM_USERS_WRITE, h_user_create, NULL,
          API_ROUTE_IDEMPOTENT, 0 },
        { HTTPD_GET, "/api/v1/users/{id}", API_PERM_USERS_READ, h_user_get, NULL, API_ROUTE_NO_BODY,
          0 },
        { HTTPD_PATCH, "/api/v1/users/{id}", API_PERM_USERS_WRITE, h_user_patch, NULL, 0, 0 },
        { HTTPD_DELETE, "/api/v1/users/{id}", API_PERM_USERS_WRITE, h_user_delete, NULL,
          API_ROUTE_NO_BODY, 0 },
        { HTTPD_GET, "/api/v1/api-keys", API_PERM_API_KEYS_READ, h_keys_list, NULL,
          API_ROUTE_NO_BODY, 0 },
        { HTTPD_POST, "/api/v1/api-keys", API_PERM_API_KEYS_WRITE, h_key_create, NULL,
          API_ROUTE_IDEMPOTENT, 0 },
        { HTTPD_GET, "/api/v1/api-keys/{id}", API_PERM_API_KEYS_READ, h_key_get, NULL,
          API_ROUTE_NO_BODY, 0 },
        { HTTPD_DELETE, "/api/v1/api-keys/{id}", API_PERM_API_KEYS_WRITE, h_key_revoke, NULL,
          API_ROUTE_NO_BODY, 0 },
        { HTTPD_GET, "/api/v1/tenants", API_PERM_TENANTS_MANAGE, h_tenants_list, NULL,
          API_ROUTE_NO_BODY, 0 },
        { HTTPD_POST, "/api/v1/tenants", API_PERM_TENANTS_MANAGE, h_tenant_create, NULL,
          API_ROUTE_IDEMPOTENT, 0 },
        { HTTPD_GET, "/api/v1/tenants/{id}", API_PERM_TENANTS_MANAGE, h_tenant_get, NULL,
          API_ROUTE_NO_BODY, 0 },
        { HTTPD_PATCH, "/api/v1/tenants/{id}", API_PERM_TENANTS_MANAGE, h_tenant_patch, NULL, 0,
          0 },
    };

    return api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
}
