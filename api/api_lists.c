/* SPDX-License-Identifier: MIT */
/*
 * Contact lists: CRUD of contact_lists with the settings the importer reads,
 * and the paged contacts of a list. Uploads, JSON batches and import jobs
 * are in api_imports.c. Routes and decisions in docs/api.md ("Lists").
 *
 * Decisions:
 *   - allowed_countries is an array of ISO alpha-2 codes (upper case, at
 *     most 50); empty means any country.
 *   - settings is an object with known members only: allow_fictional
 *     (accept 555-01XX), default_time_zone, mapping (the importer's
 *     explicit mapping when an upload has none), dedupe. Unknown members are
 *     refused like unknown body fields.
 *   - DELETE removes the list with its contacts and import history; a list a
 *     campaign still uses answers 409 (the campaign must detach it first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_imports.h"
#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"

#define LIST_JSON                                                                      \
    "json_build_object('id', l.id, 'name', l.name, 'description', l.description,"      \
    " 'dnc_mode', l.dnc_mode, 'allowed_countries', to_json(l.allowed_countries),"      \
    " 'settings', l.settings, 'created_by', l.created_by, 'created_at', l.created_at," \
    " 'updated_at', l.updated_at,"                                                     \
    " 'contacts', (SELECT count(*) FROM contacts c WHERE c.list_id = l.id))"
#define LIST_VERSION(t) "(extract(epoch FROM " t ".updated_at) * 1000000)::bigint"

#define MAX_COUNTRIES 50

static const char *const dnc_modes[] = { "reject", "mark", NULL };

/*
 * Checks the members that the field table cannot (allowed_countries,
 * settings) and validates the rest of the body with fields. On success
 * *countries is the Postgres array text ("{US,CA}") or NULL when absent, and
 * *settings the serialised object or NULL. Answers 400/422 itself.
 */
static int list_body(struct api_ctx *ctx, const struct api_field *fields, size_t nf, json_t **out,
                     const char **countries, const char **settings)
{
    static const struct api_field sfields[] = {
        { .name = "allow_fictional", .type = API_F_BOOL },
        { .name = "default_time_zone", .type = API_F_STRING, .min = 1, .max = 64 },
        { .name = "mapping", .type = API_F_OBJECT, .max = 16384 },
        { .name = "dedupe", .type = API_F_OBJECT, .max = 1024 },
    };
    json_t *body = httpd_req_json(api_ctx_req(ctx));
    json_t *rest, *ac, *st, *v;
    struct api_field_error fe;
    size_t i;
    char *buf, *p;

    *countries = NULL;
    *settings = NULL;
    if (!json_is_object(body)) {
        return api_body_validate(ctx, fields, nf, out); /* answers 400 */
    }
    rest = json_copy(body);
    if (rest == NULL) {
        return ERR_NOMEM;
    }
    json_object_del(rest, "allowed_countries");
    json_object_del(rest, "settings");
    if (api_json_check(rest, fields, nf, &fe) != 0) {
        json_decref(rest);
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, fe.code, fe.message, fe.field);
        return ERR_INVAL;
    }
    json_decref(rest);
    ac = json_object_get(body, "allowed_countries");
    if (ac != NULL) {
        if (!json_is_array(ac) || json_array_size(ac) > MAX_COUNTRIES) {
            rest_invalid(ctx, "invalid_field", "$.allowed_countries",
                         "allowed_countries must be an array of at most 50 country codes");
            return ERR_INVAL;
        }
        buf = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), 3 * MAX_COUNTRIES + 3);
        if (buf == NULL) {
            return ERR_NOMEM;
        }
        p = buf;
        *p++ = '{';
        json_array_foreach (ac, i, v) {
            const char *c = json_string_value(v);
            if (c == NULL || strlen(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' ||
                c[1] > 'Z') {
                rest_invalid(ctx, "invalid_field",
                             api_ctx_printf(ctx, "$.allowed_countries[%zu]", i),
                             "a country is an ISO 3166-1 alpha-2 code in upper case (\"US\")");
                return ERR_INVAL;
            }
            if (i > 0) {
                *p++ = ',';
            }
            *p++ = c[0];
            *p++ = c[1];
        }
        *p++ = '}';
        *p = '\0';
        *countries = buf;
    }
    st = json_object_get(body, "settings");
    if (st != NULL) {
        if (!json_is_object(st)) {
            rest_invalid(ctx, "invalid_field", "$.settings", "settings must be an object");
            return ERR_INVAL;
        }
        if (api_json_check(st, sfields, sizeof(sfields) / sizeof(sfields[0]), &fe) != 0) {
            rest_invalid(ctx, fe.code, api_ctx_printf(ctx, "$.settings%s", fe.field + 1),
                         fe.message);
            return ERR_INVAL;
        }
        p = json_dumps(st, JSON_COMPACT);
        if (p == NULL) {
            return ERR_NOMEM;
        }
        *settings = api_ctx_printf(ctx, "%s", p);
        free(p);
    }
    *out = body;
    return 0;
}

static const char *creator(struct api_ctx *ctx)
{
    const struct api_principal *p = api_ctx_principal(ctx);
    return p->kind == API_PRINCIPAL_USER ? rest_i64(ctx, p->id) : NULL;
}

static int h_list_create(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "description", .type = API_F_STRING, .min = 0, .max = 2000 },
        { .name = "dnc_mode", .type = API_F_ENUM, .values = dnc_modes },
    };
    struct rest_out *o = rest_out_new(ctx, NULL);
    const char *params[6];
    json_t *body;
    int rc;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    rc = list_body(ctx, fields, 3, &body, &params[3], &params[4]);
    if (rc != 0) {
        return rc == ERR_INVAL ? HTTPD_DONE : rc;
    }
    params[0] = rest_jstr(body, "name");
    params[1] = rest_jstr(body, "description");
    params[2] = rest_jstr(body, "dnc_mode");
    params[5] = creator(ctx);
    o->created = HTTPD_STATUS_CREATED;
    o->location = "/api/v1/lists";
    o->conflict_msg = "a list with this name exists";
    return rest_run(ctx,
                    "WITH l AS (INSERT INTO contact_lists (tenant_id, name, description, dnc_mode,"
                    "  allowed_countries, settings, created_by) VALUES (app_tenant_id(), $1,"
                    "  coalesce($2, ''), coalesce($3, 'reject'), coalesce($4::text[], '{}'),"
                    "  coalesce($5::jsonb, '{}'), $6::bigint) RETURNING *)"
                    " SELECT 1, " LIST_JSON ", " LIST_VERSION("l") " FROM l",
                    6, params, rest_rows_one, rest_one_done, o);
}

static int h_list_get(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_get_by_id(ctx, "no such list",
                          "SELECT 1, " LIST_JSON ", " LIST_VERSION("l") " FROM contact_lists l"
                                                                        " WHERE l.id = $1::bigint");
}

static int h_list_page(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_page(ctx, "SELECT l.id, " LIST_JSON " FROM contact_lists l WHERE l.id > $1::bigint"
                          " ORDER BY l.id LIMIT $2::bigint");
}

static int h_list_patch(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "name", .type = API_F_STRING, .min = 1, .max = 200 },
        { .name = "description", .type = API_F_STRING, .min = 0, .max = 2000 },
        { .name = "dnc_mode", .type = API_F_ENUM, .values = dnc_modes },
    };
    struct rest_out *o = rest_out_new(ctx, "no such list");
    const char *params[7];
    json_t *body;
    int64_t id, version;
    int rc;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_if_match(ctx, &version) != 0) {
        return HTTPD_DONE;
    }
    rc = list_body(ctx, fields, 3, &body, &params[5], &params[6]);
    if (rc != 0) {
        return rc == ERR_INVAL ? HTTPD_DONE : rc;
    }
    params[0] = rest_i64(ctx, id);
    params[1] = version >= 0 ? rest_i64(ctx, version) : NULL;
    params[2] = rest_jstr(body, "name");
    params[3] = rest_jstr(body, "description");
    params[4] = rest_jstr(body, "dnc_mode");
    o->conflict_msg = "a list with this name exists";
    return rest_run(
        ctx,
        "WITH cur AS (SELECT id, " LIST_VERSION(
            "contact_lists") " AS v"
                             "  FROM contact_lists WHERE id = $1::bigint FOR UPDATE),"
                             " l AS (UPDATE contact_lists l SET name = coalesce($3, l.name),"
                             "  description = coalesce($4, l.description),"
                             "  dnc_mode = coalesce($5, l.dnc_mode),"
                             "  allowed_countries = coalesce($6::text[], l.allowed_countries),"
                             "  settings = coalesce($7::jsonb, l.settings::jsonb)"
                             "  FROM cur WHERE l.id = cur.id AND ($2::bigint IS NULL OR cur.v = "
                             "$2::bigint)"
                             "  RETURNING l.*)"
                             " SELECT (SELECT count(*) FROM cur), (SELECT " LIST_JSON " FROM l),"
                             " (SELECT " LIST_VERSION("l") " FROM l)",
        7, params, rest_rows_one, rest_one_done, o);
}

static int h_list_delete(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_delete_by_id(
        ctx, "no such list",
        "WITH d AS (DELETE FROM contact_lists WHERE id = $1::bigint RETURNING id)"
        " SELECT (SELECT count(*) FROM d), '{}'::json",
        "a campaign uses this list; detach it first");
}

#define CONTACT_JSON                                                                           \
    "json_build_object('id', c.id, 'list_id', c.list_id, 'number', c.number,"                  \
    " 'extension', c.extension, 'alt_numbers', to_json(c.alt_numbers),"                        \
    " 'external_id', c.external_id, 'country', c.country, 'region', c.region,"                 \
    " 'postal_code', c.postal_code, 'time_zones', to_json(c.time_zones),"                      \
    " 'tz_source', c.tz_source, 'custom', c.custom, 'state', c.state, 'attempts', c.attempts," \
    " 'next_attempt_at', c.next_attempt_at, 'last_outcome', c.last_outcome,"                   \
    " 'created_at', c.created_at)"

static int h_contacts_page(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = {
        "limit", "cursor", "state", "number", "external_id", NULL
    };
    static const char *const states[] = { "pending", "leased", "dialing", "done",
                                          "failed",  "dnc",    "excluded" };
    struct rest_out *o = rest_out_new(ctx, "no such list");
    struct httpd_req *req = api_ctx_req(ctx);
    const char *params[6];
    const char *state = httpd_req_query(req, "state");
    const char *number = httpd_req_query(req, "number");
    const char *ext = httpd_req_query(req, "external_id");
    int64_t id, after;
    size_t i;
    bool ok = state == NULL;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 100, 1000, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    for (i = 0; !ok && i < sizeof(states) / sizeof(states[0]); i++) {
        ok = strcmp(state, states[i]) == 0;
    }
    if (!ok) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "state is one of pending, leased, dialing, done, failed, dnc, excluded",
                  "?state");
        return HTTPD_DONE;
    }
    if (number != NULL && (number[0] != '+' || strlen(number) < 2 || strlen(number) > 16 ||
                           strspn(number + 1, "0123456789") != strlen(number) - 1)) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "number is in E.164 form (+14155552671)", "?number");
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, id);
    params[1] = rest_i64(ctx, after);
    params[2] = rest_i64(ctx, o->limit + 1);
    params[3] = state;
    params[4] = number;
    params[5] = ext;
    return rest_run_page(
        ctx, o, params, "SELECT count(*) FROM contact_lists WHERE id = $1::bigint", 1,
        "SELECT c.id, " CONTACT_JSON " FROM contacts c WHERE c.list_id = $1::bigint"
        " AND c.id > $2::bigint AND ($4::text IS NULL OR c.state = $4)"
        " AND ($5::text IS NULL OR c.number = $5::text)"
        " AND ($6::text IS NULL OR c.external_id = $6)"
        " ORDER BY c.id LIMIT $3::bigint",
        6);
}

int api__lists_routes_add(struct api *a)
{
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/lists",
          .perm = API_PERM_LISTS_READ,
          .handler = h_list_page,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/lists",
          .perm = API_PERM_LISTS_WRITE,
          .handler = h_list_create,
          .flags = API_ROUTE_IDEMPOTENT },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/lists/{id}",
          .perm = API_PERM_LISTS_READ,
          .handler = h_list_get,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_PATCH,
          .pattern = "/api/v1/lists/{id}",
          .perm = API_PERM_LISTS_WRITE,
          .handler = h_list_patch },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/lists/{id}",
          .perm = API_PERM_LISTS_WRITE,
          .handler = h_list_delete,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/lists/{id}/contacts",
          .perm = API_PERM_LISTS_READ,
          .handler = h_contacts_page,
          .flags = API_ROUTE_NO_BODY },
    };
    return api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
}
