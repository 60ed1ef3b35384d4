/* SPDX-License-Identifier: MIT */
/*
 * Extensions: the tenant's inbound IVR extensions (claim the next free one
 * or a chosen one, bind to a flow and revision, per-extension call limit,
 * release into quarantine, audit), the pools' figures, and
 * POST /flows/{id}/inbound. Routes in docs/api.md and docs/inbound.md.
 *
 * Decisions:
 *   - Each change is one statement (data-modifying CTEs) in the tenant's
 *     transaction: the checks (the flow is the tenant's, the revision exists
 *     or the flow has a published one, the extension is free / the
 *     tenant's), the UPDATE and its audit_log row. The statement returns
 *     what it found, so the answer names the field that was wrong; nothing
 *     is changed when a check fails.
 *   - Next free: the lowest free row of the configured inbound range,
 *     FOR UPDATE SKIP LOCKED: concurrent creates each get another extension,
 *     without retries or table locks (the same rule as ivr_ext_assign).
 *   - An extension is bound to "the latest published revision" (revision
 *     null, resolved when each call starts) or pinned to a revision.
 *     Binding needs something runnable: the revision must exist, or the flow
 *     must have a published revision.
 *   - Another tenant's extension does not exist for the caller (404; row-level
 *     security hides it). Choosing a number another tenant holds is 409
 *     "not free", the same answer as a quarantined or locked one, so the
 *     answer never tells whose it is.
 *   - "Creating an inbound IVR assigns the next free extension":
 *     POST /flows/{id}/inbound (body optional) claims one for that flow and
 *     answers it; publishing does not claim one by itself (a flow may be
 *     published for outbound use only).
 *   - DELETE releases into quarantine for ext.quarantine (the row stays the
 *     tenant's, not routed, not claimable) and answers the extension with
 *     quarantine_until; dialerd frees expired ones on a timer.
 *   - Pool figures count every tenant's rows (aggregate numbers only) on the
 *     platform path; "yours" is the caller's share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"

struct api_extensions {
    struct api_ext_config cfg;
};

#define EXT_JSON                                                                           \
    "json_build_object('extension', e.number, 'pool', e.pool, 'state', e.state,"           \
    " 'flow_id', e.flow_id, 'revision', e.flow_revision,"                                  \
    " 'latest_published', e.state = 'assigned' AND e.flow_revision IS NULL,"               \
    " 'effective_revision', coalesce(e.flow_revision, (SELECT fl.published_revision FROM"  \
    " ivr_flows fl WHERE fl.id = e.flow_id)), 'label', e.label, 'max_calls', e.max_calls," \
    " 'assigned_at', e.assigned_at, 'quarantine_until', e.quarantine_until, 'updated_at'," \
    " e.updated_at)"
#define EXT_VERSION "(extract(epoch FROM e.updated_at) * 1000000)::bigint"
#define EXT_AUDIT(action_sql, src)                                                           \
    "INSERT INTO audit_log (tenant_id, action, object_type, object_id, detail) SELECT"       \
    " app_tenant_id(), " action_sql ", 'extension', e.number::text, json_build_object("      \
    "'flow_id', e.flow_id, 'revision', e.flow_revision, 'state', e.state, 'label', e.label," \
    " 'max_calls', e.max_calls, 'quarantine_until', e.quarantine_until)::jsonb FROM " src

/*
 * What a one-extension statement found: counts c[0..2] (their meaning per
 * operation), the extension as JSON, and its version (ETag).
 */
struct ext_out {
    int64_t c[3];
    json_t *obj;
    int64_t version;
    int number;   /* the extension asked for (0: next free) */
    int created;  /* status on success (0: 200) */
    bool by_path; /* POST /flows/{id}/inbound: a missing flow is 404 */
};

static int rows_ext(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct ext_out *o = arg;
    (void)ctx;
    if (PQntuples(res) != 1 || PQnfields(res) < 5) {
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        o->c[i] = PQgetisnull(res, 0, i) ? 0 : strtoll(PQgetvalue(res, 0, i), NULL, 10);
    }
    if (!PQgetisnull(res, 0, 3)) {
        json_decref(o->obj);
        o->obj = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    }
    if (!PQgetisnull(res, 0, 4)) {
        o->version = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    }
    return 0;
}

static struct ext_out *out_new(struct api_ctx *ctx, int number)
{
    struct ext_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    if (o != NULL) {
        o->number = number;
    }
    return o;
}

/* Answers the extension (with ETag and, when created, Location). Takes o->obj. */
static void answer_ext(struct api_ctx *ctx, struct ext_out *o)
{
    struct api_resp_opts ro = { 0 };
    json_t *obj = o->obj;
    int number = (int)json_integer_value(json_object_get(obj, "extension"));

    o->obj = NULL;
    if (o->version > 0) {
        ro.etag = api_ctx_printf(ctx, "%lld", (long long)o->version);
    }
    if (o->created == HTTPD_STATUS_CREATED) {
        ro.location = api_ctx_printf(ctx, "/api/v1/extensions/%d", number);
    }
    api_respond_json(ctx, o->created != 0 ? o->created : HTTPD_STATUS_OK, obj, &ro);
}

static bool failed(struct api_ctx *ctx, int status, struct ext_out *o)
{
    if (status == 0) {
        return false;
    }
    json_decref(o->obj);
    o->obj = NULL;
    api_error_db(ctx, status);
    return true;
}

static void not_found(struct api_ctx *ctx)
{
    api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such extension", NULL);
}

static int run1(struct api_ctx *ctx, enum api_scope scope, const char *sql, int n,
                const char *const *params, api_rows_cb *rows, void *rows_arg, api_done_cb *done,
                void *arg)
{
    struct api_stmt st = {
        .sql = sql, .nparams = n, .params = params, .rows = rows, .arg = rows_arg
    };
    int rc = api_db_run(ctx, scope, &st, 1, done, arg);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* The {ext} path segment: a number of the pools (2000-4999), else 404. */
static int path_ext(struct api_ctx *ctx, int *number)
{
    int64_t n;
    if (api_path_id(ctx, "ext", &n) != 0) {
        return ERR_INVAL;
    }
    if (n < 2000 || n > 4999) {
        not_found(ctx);
        return ERR_INVAL;
    }
    *number = (int)n;
    return 0;
}

/* ----------------------------------------------------------- reads */

static int h_list(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "pool", "state", "flow", NULL };
    struct httpd_req *req = api_ctx_req(ctx);
    struct rest_out *o = rest_out_new(ctx, NULL);
    const char *pool = httpd_req_query(req, "pool");
    const char *state = httpd_req_query(req, "state");
    const char *flow = httpd_req_query(req, "flow");
    const char *params[5];
    int64_t after;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 100, 1000, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    if (pool != NULL && strcmp(pool, "inbound") != 0 && strcmp(pool, "outbound") != 0 &&
        strcmp(pool, "reserved") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "pool is one of inbound, outbound, reserved", "?pool");
        return HTTPD_DONE;
    }
    if (state != NULL && strcmp(state, "assigned") != 0 && strcmp(state, "quarantined") != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "state is one of assigned, quarantined", "?state");
        return HTTPD_DONE;
    }
    if (flow != NULL && (flow[0] < '1' || flow[0] > '9' || strlen(flow) > 18 ||
                         strspn(flow, "0123456789") != strlen(flow))) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "flow is a flow id (a positive integer)", "?flow");
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, after);
    params[1] = rest_i64(ctx, o->limit + 1);
    params[2] = pool;
    params[3] = state;
    params[4] = flow;
    return rest_run(ctx,
                    "SELECT e.number, " EXT_JSON " FROM extensions e"
                    " WHERE e.tenant_id = app_tenant_id() AND e.number > $1::bigint"
                    " AND ($3::text IS NULL OR e.pool = $3::text)"
                    " AND ($4::text IS NULL OR e.state = $4::text)"
                    " AND ($5::bigint IS NULL OR e.flow_id = $5::bigint)"
                    " ORDER BY e.number LIMIT $2::bigint",
                    5, params, rest_rows_page, rest_page_done, o);
}

static int h_pools(struct api_ctx *ctx, void *arg)
{
    const struct api_extensions *X = arg;
    struct rest_out *o = rest_out_new(ctx, NULL);
    const char *params[7];

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, (const char *const[]){ NULL }) != 0) {
        return HTTPD_DONE;
    }
    o->limit = 100;
    params[0] = rest_i64(ctx, X->cfg.inbound_from);
    params[1] = rest_i64(ctx, X->cfg.inbound_to);
    params[2] = rest_i64(ctx, X->cfg.outbound_from);
    params[3] = rest_i64(ctx, X->cfg.outbound_to);
    params[4] = rest_i64(ctx, X->cfg.reserved_from);
    params[5] = rest_i64(ctx, X->cfg.reserved_to);
    params[6] = api_ctx_tenant_text(ctx);
    struct api_stmt st = {
        .sql = "WITH p(pool, lo, hi) AS (VALUES ('inbound', $1::integer, $2::integer),"
               " ('outbound', $3::integer, $4::integer), ('reserved', $5::integer, $6::integer))"
               " SELECT p.lo, json_build_object('pool', p.pool, 'from', p.lo, 'to', p.hi,"
               " 'provisioned', count(e.id),"
               " 'free', count(e.id) FILTER (WHERE e.state = 'free'),"
               " 'assigned', count(e.id) FILTER (WHERE e.state = 'assigned'),"
               " 'quarantined', count(e.id) FILTER (WHERE e.state = 'quarantined'),"
               " 'yours', count(e.id) FILTER (WHERE e.tenant_id = $7::bigint))"
               " FROM p LEFT JOIN extensions e ON e.pool = p.pool AND e.number BETWEEN p.lo"
               " AND p.hi GROUP BY p.pool, p.lo, p.hi ORDER BY p.lo",
        .nparams = 7,
        .params = params,
        .rows = rest_rows_page,
        .arg = o,
    };
    if (api_db_run(ctx, API_SCOPE_PLATFORM, &st, 1, rest_page_done, o) != 0) {
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the database is unavailable; try again", NULL);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static void get_done(struct api_ctx *ctx, int status, void *arg)
{
    struct ext_out *o = arg;
    if (failed(ctx, status, o)) {
        return;
    }
    if (o->obj == NULL) {
        not_found(ctx);
        return;
    }
    answer_ext(ctx, o);
}

static int h_get(struct api_ctx *ctx, void *arg)
{
    struct ext_out *o;
    const char *params[1];
    int number;
    (void)arg;

    if (path_ext(ctx, &number) != 0) {
        return HTTPD_DONE;
    }
    o = out_new(ctx, number);
    if (o == NULL) {
        return ERR_NOMEM;
    }
    params[0] = rest_i64(ctx, number);
    return run1(ctx, API_SCOPE_TENANT,
                "SELECT 1, 1, 1, " EXT_JSON ", " EXT_VERSION " FROM extensions e"
                " WHERE e.number = $1::integer AND e.tenant_id = app_tenant_id()",
                1, params, rows_ext, o, get_done, o);
}

static int h_audit(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", NULL };
    struct rest_out *o = rest_out_new(ctx, "no such extension");
    const char *params[3];
    int64_t after;
    int number;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (path_ext(ctx, &number) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 100, 1000, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, number);
    params[1] = rest_i64(ctx, after);
    params[2] = rest_i64(ctx, o->limit + 1);
    /* The tenant's own history only (RLS): a number it never held is unknown. */
    return rest_run_page(ctx, o, params,
                         "SELECT (SELECT count(*) FROM extensions WHERE number = $1::integer AND"
                         " tenant_id = app_tenant_id()) + (SELECT count(*) FROM audit_log WHERE"
                         " object_type = 'extension' AND object_id = $1::integer::text)",
                         1,
                         "SELECT a.id, json_build_object('id', a.id, 'at', a.at, 'actor', a.actor,"
                         " 'action', a.action, 'detail', a.detail) FROM audit_log a"
                         " WHERE a.object_type = 'extension' AND a.object_id = $1::integer::text"
                         " AND a.id > $2::bigint ORDER BY a.id LIMIT $3::bigint",
                         3);
}

/* ----------------------------------------------------------- claim */

/*
 * Counts: c[0] the flow is the tenant's, c[1] the binding is runnable
 * (revision exists / a published one), c[2] unused; the claimed extension.
 */
static void create_done(struct api_ctx *ctx, int status, void *arg)
{
    struct ext_out *o = arg;
    if (failed(ctx, status, o)) {
        return;
    }
    if (o->c[0] == 0) {
        if (o->by_path) {
            api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such flow", NULL);
        } else {
            rest_invalid(ctx, "invalid_field", "$.flow_id", "no such flow");
        }
        return;
    }
    if (o->c[1] == 0) {
        if (o->c[2] != 0) {
            rest_invalid(ctx, "invalid_field", "$.revision", "the flow has no such revision");
        } else {
            rest_invalid(ctx, "invalid_field", o->by_path ? "$" : "$.flow_id",
                         "the flow has no published revision; publish it or pin a revision");
        }
        return;
    }
    if (o->obj == NULL) {
        if (o->number != 0) {
            api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                      api_ctx_printf(ctx, "extension %d is not free", o->number), "$.extension");
        } else {
            api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict", "no free inbound extension", NULL);
        }
        return;
    }
    o->created = HTTPD_STATUS_CREATED;
    answer_ext(ctx, o);
}

static const char *const SQL_CLAIM =
    "WITH f AS (SELECT id, published_revision FROM ivr_flows WHERE id = $1::bigint"
    "  AND archived_at IS NULL),"
    " ok AS (SELECT f.id FROM f WHERE CASE WHEN $2::integer IS NULL"
    "  THEN f.published_revision IS NOT NULL ELSE EXISTS (SELECT 1 FROM ivr_flow_revisions r"
    "  WHERE r.flow_id = f.id AND r.revision = $2::integer) END),"
    " pick AS (SELECT id FROM extensions WHERE pool = 'inbound' AND state = 'free'"
    "  AND number BETWEEN $6::integer AND $7::integer"
    "  AND ($3::integer IS NULL OR number = $3::integer) AND EXISTS (SELECT 1 FROM ok)"
    "  ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED),"
    " upd AS (UPDATE extensions e SET state = 'assigned', tenant_id = app_tenant_id(),"
    "  flow_id = $1::bigint, flow_revision = $2::integer, label = $4, max_calls = $5::integer,"
    "  assigned_at = now() FROM pick WHERE e.id = pick.id RETURNING e.*),"
    " aud AS (" EXT_AUDIT(
        "'extension.assign'",
        "upd e") ")"
                 " SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM ok), $2::integer,"
                 " (SELECT " EXT_JSON " FROM upd e), (SELECT " EXT_VERSION " FROM upd e)";

static const struct api_field claim_fields[] = {
    { .name = "flow_id", .type = API_F_INT, .required = true, .min = 1, .max = INT64_MAX },
    { .name = "revision", .type = API_F_INT, .nullable = true, .min = 1, .max = 1000000000 },
    { .name = "latest_published", .type = API_F_BOOL },
    { .name = "extension", .type = API_F_INT, .nullable = true, .min = 1, .max = 99999 },
    { .name = "label", .type = API_F_STRING, .nullable = true, .min = 0, .max = 200 },
    { .name = "max_calls", .type = API_F_INT, .nullable = true, .min = 0, .max = 100000 },
};

static int claim(struct api_ctx *ctx, const struct api_extensions *X, int64_t flow_id,
                 const json_t *body, bool by_path)
{
    json_t *rev = json_object_get(body, "revision");
    json_t *num = json_object_get(body, "extension");
    json_t *mc = json_object_get(body, "max_calls");
    const char *params[7];
    struct ext_out *o;
    int number = 0;

    if (json_is_true(json_object_get(body, "latest_published")) && json_is_integer(rev)) {
        return rest_invalid(ctx, "invalid_field", "$.latest_published",
                            "give either revision or latest_published, not both");
    }
    if (json_is_false(json_object_get(body, "latest_published")) && !json_is_integer(rev)) {
        return rest_invalid(ctx, "invalid_field", "$.revision",
                            "latest_published is false: give the revision to pin");
    }
    if (json_is_integer(num)) {
        json_int_t n = json_integer_value(num);
        if (n < X->cfg.inbound_from || n > X->cfg.inbound_to) {
            return rest_invalid(ctx, "invalid_field", "$.extension",
                                api_ctx_printf(ctx, "extension is in the inbound pool %d-%d",
                                               X->cfg.inbound_from, X->cfg.inbound_to));
        }
        number = (int)n;
    }
    o = out_new(ctx, number);
    if (o == NULL) {
        return ERR_NOMEM;
    }
    o->by_path = by_path;
    params[0] = rest_i64(ctx, flow_id);
    params[1] = json_is_integer(rev) ? rest_i64(ctx, json_integer_value(rev)) : NULL;
    params[2] = number != 0 ? rest_i64(ctx, number) : NULL;
    params[3] = rest_jstr(body, "label");
    params[4] = json_is_integer(mc) ? rest_i64(ctx, json_integer_value(mc)) : NULL;
    params[5] = rest_i64(ctx, X->cfg.inbound_from);
    params[6] = rest_i64(ctx, X->cfg.inbound_to);
    return run1(ctx, API_SCOPE_TENANT, SQL_CLAIM, 7, params, rows_ext, o, create_done, o);
}

static int h_create(struct api_ctx *ctx, void *arg)
{
    json_t *body;
    if (api_body_validate(ctx, claim_fields, sizeof(claim_fields) / sizeof(claim_fields[0]),
                          &body) != 0) {
        return HTTPD_DONE;
    }
    return claim(ctx, arg, json_integer_value(json_object_get(body, "flow_id")), body, false);
}

/* POST /flows/{id}/inbound: the same claim for the flow of the path; the body is optional. */
static int h_flow_inbound(struct api_ctx *ctx, void *arg)
{
    json_t *body;
    int64_t id;
    size_t len = 0;
    int rc;

    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    httpd_req_body(api_ctx_req(ctx), &len);
    if (len == 0) {
        body = json_object();
        if (body == NULL) {
            return ERR_NOMEM;
        }
        rc = claim(ctx, arg, id, body, true); /* the statement copied what it needs */
        json_decref(body);
        return rc;
    }
    if (api_body_validate(ctx, claim_fields + 1, sizeof(claim_fields) / sizeof(claim_fields[0]) - 1,
                          &body) != 0) {
        return HTTPD_DONE;
    }
    return claim(ctx, arg, id, body, true);
}

/* ----------------------------------------------------------- change */

/*
 * Counts: c[0] the tenant holds the extension (2: assigned, 1: quarantined),
 * c[1] the new flow is the tenant's, c[2] the binding is runnable; the
 * extension when the update applied (none with c[2] set: If-Match failed).
 */
static void patch_done(struct api_ctx *ctx, int status, void *arg)
{
    struct ext_out *o = arg;
    if (failed(ctx, status, o)) {
        return;
    }
    if (o->c[0] == 0) {
        not_found(ctx);
    } else if (o->c[0] == 1) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the extension was released and is quarantined; claim another one", NULL);
    } else if (o->c[1] == 0) {
        rest_invalid(ctx, "invalid_field", "$.flow_id", "no such flow");
    } else if (o->c[2] == 0) {
        rest_invalid(ctx, "invalid_field", "$.revision",
                     "no such revision of the flow (or, without one, no published revision)");
    } else if (o->obj == NULL) {
        api_error(ctx, 412, "precondition_failed",
                  "the extension changed since the ETag given in If-Match; read it again",
                  "If-Match");
    } else {
        answer_ext(ctx, o);
    }
}

static int h_patch(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "flow_id", .type = API_F_INT, .min = 1, .max = INT64_MAX },
        { .name = "revision", .type = API_F_INT, .nullable = true, .min = 1, .max = 1000000000 },
        { .name = "latest_published", .type = API_F_BOOL },
        { .name = "label", .type = API_F_STRING, .nullable = true, .min = 0, .max = 200 },
        { .name = "max_calls", .type = API_F_INT, .nullable = true, .min = 0, .max = 100000 },
    };
    const char *params[9];
    struct ext_out *o;
    json_t *body, *rev, *latest, *mc;
    int64_t version;
    int number;
    (void)arg;

    if (path_ext(ctx, &number) != 0 || api_if_match(ctx, &version) != 0 ||
        api_body_validate(ctx, fields, sizeof(fields) / sizeof(fields[0]), &body) != 0) {
        return HTTPD_DONE;
    }
    rev = json_object_get(body, "revision");
    latest = json_object_get(body, "latest_published");
    mc = json_object_get(body, "max_calls");
    if (json_is_true(latest) && json_is_integer(rev)) {
        return rest_invalid(ctx, "invalid_field", "$.latest_published",
                            "give either revision or latest_published, not both");
    }
    o = out_new(ctx, number);
    if (o == NULL) {
        return ERR_NOMEM;
    }
    params[0] = rest_i64(ctx, number);
    params[1] = version >= 0 ? rest_i64(ctx, version) : NULL;
    params[2] = json_is_integer(json_object_get(body, "flow_id"))
                    ? rest_i64(ctx, json_integer_value(json_object_get(body, "flow_id")))
                    : NULL;
    params[3] = json_is_integer(rev) ? rest_i64(ctx, json_integer_value(rev)) : NULL;
    params[4] = json_is_true(latest) || json_is_null(rev) ? "t" : "f";
    params[5] = json_object_get(body, "label") != NULL ? "t" : "f";
    params[6] = rest_jstr(body, "label");
    params[7] = mc != NULL ? "t" : "f";
    params[8] = json_is_integer(mc) ? rest_i64(ctx, json_integer_value(mc)) : NULL;
    return run1(
        ctx, API_SCOPE_TENANT,
        "WITH cur AS (SELECT e.id, e.state, e.flow_id, e.flow_revision, " EXT_VERSION " AS v"
        "  FROM extensions e WHERE e.number = $1::integer AND e.tenant_id = app_tenant_id()"
        "  FOR UPDATE),"
        " nv AS (SELECT cur.id, cur.v, coalesce($3::bigint, cur.flow_id) AS fid,"
        "  CASE WHEN $5::bool THEN NULL WHEN $4::integer IS NOT NULL THEN $4::integer"
        "  WHEN $3::bigint IS NOT NULL THEN NULL ELSE cur.flow_revision END AS rev"
        "  FROM cur WHERE cur.state = 'assigned'),"
        " fl AS (SELECT nv.*, f.published_revision FROM nv JOIN ivr_flows f ON f.id = nv.fid"
        "  AND f.archived_at IS NULL),"
        " ok AS (SELECT fl.* FROM fl WHERE CASE WHEN fl.rev IS NULL THEN"
        "  fl.published_revision IS NOT NULL ELSE EXISTS (SELECT 1 FROM ivr_flow_revisions r"
        "  WHERE r.flow_id = fl.fid AND r.revision = fl.rev) END),"
        " upd AS (UPDATE extensions e SET flow_id = ok.fid, flow_revision = ok.rev,"
        "  label = CASE WHEN $6::bool THEN $7 ELSE e.label END,"
        "  max_calls = CASE WHEN $8::bool THEN $9::integer ELSE e.max_calls END"
        "  FROM ok WHERE e.id = ok.id AND ($2::bigint IS NULL OR ok.v = $2::bigint)"
        "  RETURNING e.*),"
        " aud AS (" EXT_AUDIT(
            "CASE WHEN e.flow_id IS DISTINCT FROM (SELECT flow_id FROM cur)"
            " OR e.flow_revision IS DISTINCT FROM"
            " (SELECT flow_revision FROM cur) THEN 'extension.move' ELSE 'extension.update' END",
            "upd e") ")"
                     " SELECT (SELECT CASE WHEN state = 'assigned' THEN 2 ELSE 1 END FROM cur),"
                     " (SELECT count(*) FROM fl), (SELECT count(*) FROM ok),"
                     " (SELECT " EXT_JSON " FROM upd e), (SELECT " EXT_VERSION " FROM upd e)",
        9, params, rows_ext, o, patch_done, o);
}

/* c[0]: the tenant holds it; the extension when it was released now. */
static void delete_done(struct api_ctx *ctx, int status, void *arg)
{
    struct ext_out *o = arg;
    if (failed(ctx, status, o)) {
        return;
    }
    if (o->c[0] == 0) {
        not_found(ctx);
    } else if (o->obj == NULL) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict", "the extension is already released",
                  NULL);
    } else {
        answer_ext(ctx, o);
    }
}

static int h_delete(struct api_ctx *ctx, void *arg)
{
    const struct api_extensions *X = arg;
    const char *params[2];
    struct ext_out *o;
    int number;

    if (path_ext(ctx, &number) != 0) {
        return HTTPD_DONE;
    }
    o = out_new(ctx, number);
    if (o == NULL) {
        return ERR_NOMEM;
    }
    params[0] = rest_i64(ctx, number);
    params[1] = rest_i64(ctx, X->cfg.quarantine_s);
    return run1(ctx, API_SCOPE_TENANT,
                "WITH upd AS (UPDATE extensions e SET state = 'quarantined', flow_id = NULL,"
                "  flow_revision = NULL, max_calls = NULL,"
                "  quarantine_until = now() + make_interval(secs => $2::integer)"
                "  WHERE e.number = $1::integer AND e.state = 'assigned'"
                "  AND e.tenant_id = app_tenant_id() RETURNING e.*),"
                " aud AS (" EXT_AUDIT(
                    "'extension.release'",
                    "upd e") ")"
                             " SELECT (SELECT count(*) FROM extensions WHERE number = $1::integer"
                             " AND tenant_id = app_tenant_id()), 0, 0,"
                             " (SELECT " EXT_JSON " FROM upd e), (SELECT " EXT_VERSION
                             " FROM upd e)",
                2, params, rows_ext, o, delete_done, o);
}

/* ----------------------------------------------------------- lifecycle */

int api_extensions_create(struct api *a, const struct api_ext_config *cfg,
                          struct api_extensions **out)
{
    struct api_extensions *X = calloc(1, sizeof(*X));
    int rc = 0;

    *out = NULL;
    if (X == NULL) {
        return ERR_NOMEM;
    }
    X->cfg = (struct api_ext_config){ 2000, 2999, 3000, 3999, 4000, 4999, 30 * 86400 };
    if (cfg != NULL) {
        if (cfg->inbound_from != 0) {
            X->cfg.inbound_from = cfg->inbound_from;
            X->cfg.inbound_to = cfg->inbound_to;
        }
        if (cfg->outbound_from != 0) {
            X->cfg.outbound_from = cfg->outbound_from;
            X->cfg.outbound_to = cfg->outbound_to;
        }
        if (cfg->reserved_from != 0) {
            X->cfg.reserved_from = cfg->reserved_from;
            X->cfg.reserved_to = cfg->reserved_to;
        }
        X->cfg.quarantine_s = cfg->quarantine_s;
    }
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/extensions",
          .perm = API_PERM_EXTENSIONS_READ,
          .handler = h_list,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/extensions",
          .perm = API_PERM_EXTENSIONS_WRITE,
          .handler = h_create,
          .arg = X,
          .flags = API_ROUTE_IDEMPOTENT },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/extensions/pools",
          .perm = API_PERM_EXTENSIONS_READ,
          .handler = h_pools,
          .arg = X,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/extensions/{ext}",
          .perm = API_PERM_EXTENSIONS_READ,
          .handler = h_get,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_PATCH,
          .pattern = "/api/v1/extensions/{ext}",
          .perm = API_PERM_EXTENSIONS_WRITE,
          .handler = h_patch },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/extensions/{ext}",
          .perm = API_PERM_EXTENSIONS_WRITE,
          .handler = h_delete,
          .arg = X,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/extensions/{ext}/audit",
          .perm = API_PERM_EXTENSIONS_READ,
          .handler = h_audit,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows/{id}/inbound",
          .perm = API_PERM_EXTENSIONS_WRITE,
          .handler = h_flow_inbound,
          .arg = X,
          .flags = API_ROUTE_IDEMPOTENT },
    };
    if (rc == 0) {
        rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    }
    if (rc != 0) {
        free(X);
        return rc;
    }
    *out = X;
    return 0;
}

void api_extensions_destroy(struct api_extensions *X)
{
    free(X);
}
