/* SPDX-License-Identifier: MIT */
/*
 * IVR flows: drafts, validation, publish, revisions, export/import,
 * templates and the simulator, over ivr/ivr.h (store, validator,
 * ivr_sim_run, ivr_template_instantiate). Routes in docs/api.md ("Flows").
 *
 * Decisions:
 *   - A draft may be invalid: POST and PUT store it and answer the
 *     validator's report with the publish gate ("valid": no error would
 *     block publishing). Publishing refuses with 422 and the report while
 *     errors remain.
 *   - PUT honours If-Match (the flow's updated_at), so it updates the row in
 *     its own statement instead of ivr_store_save_draft (which has no version
 *     condition); the stored verdict is the same (draft_valid, draft_errors).
 *   - Validation and simulation run on the httpd thread: both are bounded by
 *     the body limit (1 MiB flow documents; validating a 1,000-step flow
 *     takes about 12 ms), the simulator by the interpreter's guards
 *     (max_steps 500) and its turn limit, and the script by SIM_SCRIPT_MAX.
 *   - Export is {"format": "ivrflow-export/1", "name", "description",
 *     "definition"}; POST /flows/import takes the same document (a new flow;
 *     "name" may be changed in the body).
 *   - Templates are the bundled "<name>.json" files of the template
 *     directory (ivr.template-dir); unknown names answer 404.
 *   - Executions (GET /flows/{id}/executions[/{eid}[/steps]]) are the runs of
 *     a flow on calls, outbound and inbound alike, as the recorder wrote
 *     them (ivr_executions, ivr_steps): paged oldest first by the database's
 *     insertion order (seq), steps by their number. Variable values arrive
 *     masked ("***"), so nothing here masks again. An execution id that is
 *     not a uuid, or belongs to another flow or tenant, answers 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "ivr/ivr.h"

#define FLOW_MAX_BODY  (1024 * 1024 + 4096)
#define SIM_SCRIPT_MAX (16 * 1024)

struct api_flows {
    struct api *api;
    char *template_dir;
};

#define FLOW_JSON                                                                          \
    "json_build_object('id', f.id, 'name', f.name, 'description', f.description,"          \
    " 'draft_valid', f.draft_valid, 'latest_revision', f.latest_revision,"                 \
    " 'published_revision', f.published_revision, 'draft_updated_at', f.draft_updated_at," \
    " 'draft_updated_by', f.draft_updated_by, 'created_at', f.created_at,"                 \
    " 'updated_at', f.updated_at)"
#define FLOW_FULL_JSON                                                   \
    "(" FLOW_JSON "::jsonb || jsonb_build_object('definition', f.draft," \
    " 'report', f.draft_errors))::json"
#define FLOW_VERSION(t) "(extract(epoch FROM " t ".updated_at) * 1000000)::bigint"

/* The validator's verdict on doc with the publish gate: {"valid", "report"} (new). */
static json_t *verdict(json_t *doc, bool *valid)
{
    struct ivr_load_options opt = { .publish = true };
    struct ivr_report *r = NULL;
    int rc = ivr_flow_load_json(doc, &opt, NULL, &r);
    json_t *rep = r != NULL ? ivr_report_to_json(r) : NULL;

    ivr_report_free(r);
    *valid = rc == 0;
    return json_pack("{s:b, s:o}", "valid", *valid, "report", rep != NULL ? rep : json_object());
}

static char *dump_arena(struct api_ctx *ctx, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char *a = s != NULL ? api_ctx_printf(ctx, "%s", s) : NULL;
    free(s);
    return a;
}

/* ----------------------------------------------------- store callbacks */

struct op {
    struct api *api;
    uint64_t handle;
    json_t *verdict; /* answered with the flow */
    int created;
};

static struct op *op_new(struct api_ctx *ctx, json_t *verdict)
{
    struct op *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        json_decref(verdict);
        return NULL;
    }
    o->api = api_ctx_api(ctx);
    o->handle = api_ctx_handle(ctx);
    o->verdict = verdict;
    return o;
}

static void store_error(struct api_ctx *ctx, const struct ivr_store_result *r)
{
    switch (r->status) {
    case ERR_NOTFOUND:
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such flow", NULL);
        break;
    case ERR_CONFLICT:
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  r->error != NULL ? r->error : "the flow changed meanwhile", NULL);
        break;
    case ERR_DB:
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the flow could not be stored (is the name taken?)", "$.name");
        break;
    default:
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the flow store is unavailable; try again", NULL);
        break;
    }
}

/* create / import / from-template: answer the new flow's id with the verdict. */
static void created_cb(void *arg, const struct ivr_store_result *r)
{
    struct op *o = arg;
    struct api_ctx *ctx = api_ctx_lookup(o->api, o->handle);

    if (ctx != NULL) {
        if (r->status != 0) {
            store_error(ctx, r);
        } else {
            json_t *body = json_copy(o->verdict);
            json_object_set_new(body, "id", json_integer(r->id));
            api_respond_json(ctx, HTTPD_STATUS_CREATED, body,
                             &(struct api_resp_opts){
                                 .location = api_ctx_printf(ctx, "/api/v1/flows/%lld", r->id) });
        }
    }
    json_decref(o->verdict);
    free(o);
}

static int create_flow(struct api_ctx *ctx, const char *name, const char *description, json_t *doc)
{
    struct db_pool *pool = api_db_pool(api_ctx_api(ctx));
    const struct api_principal *p = api_ctx_principal(ctx);
    char *text = dump_arena(ctx, doc);
    bool valid;
    struct op *o;
    int rc;

    (void)description;
    if (text == NULL) {
        return ERR_NOMEM;
    }
    o = op_new(ctx, verdict(doc, &valid));
    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (pool == NULL) {
        rc = ERR_DISCONNECTED;
    } else {
        rc = ivr_store_create(pool, p->tenant_id, p->kind == API_PRINCIPAL_USER ? p->id : 0, name,
                              text, created_cb, o);
    }
    if (rc != 0) {
        json_decref(o->verdict);
        free(o);
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the database is unavailable; try again", NULL);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* ------------------------------------------------------------ handlers */

static const struct api_field create_fields[] = {
    { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
    { .name = "description", .type = API_F_STRING, .min = 0, .max = 2000 },
    { .name = "definition", .type = API_F_OBJECT, .required = true, .max = 1024 * 1024 },
};

static int h_create(struct api_ctx *ctx, void *arg)
{
    json_t *body;
    (void)arg;
    if (api_body_validate(ctx, create_fields, 3, &body) != 0) {
        return HTTPD_DONE;
    }
    return create_flow(ctx, rest_jstr(body, "name"), rest_jstr(body, "description"),
                       json_object_get(body, "definition"));
}

static int h_import(struct api_ctx *ctx, void *arg)
{
    static const char *const formats[] = { "ivrflow-export/1", NULL };
    static const struct api_field fields[] = {
        { .name = "format", .type = API_F_ENUM, .required = true, .values = formats },
        { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "description", .type = API_F_STRING, .min = 0, .max = 2000 },
        { .name = "definition", .type = API_F_OBJECT, .required = true, .max = 1024 * 1024 },
    };
    json_t *body;
    (void)arg;
    if (api_body_validate(ctx, fields, 4, &body) != 0) {
        return HTTPD_DONE;
    }
    return create_flow(ctx, rest_jstr(body, "name"), rest_jstr(body, "description"),
                       json_object_get(body, "definition"));
}

static int h_from_template(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
        { .name = "params", .type = API_F_OBJECT, .max = 65536 },
    };
    struct api_flows *F = arg;
    const char *tname = httpd_req_param(api_ctx_req(ctx), "name");
    const char *const *names = ivr_template_names();
    const char *err = NULL;
    json_t *body, *tmpl, *doc, *params;
    json_error_t je;
    char path[4200];
    bool known = false;
    int rc;

    for (size_t i = 0; names[i] != NULL && !known; i++) {
        known = tname != NULL && strcmp(names[i], tname) == 0;
    }
    if (!known) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such template", NULL);
        return HTTPD_DONE;
    }
    if (api_body_validate(ctx, fields, 2, &body) != 0) {
        return HTTPD_DONE;
    }
    snprintf(path, sizeof(path), "%s/%s.json", F->template_dir, tname);
    tmpl = json_load_file(path, 0, &je);
    if (tmpl == NULL) {
        LOG_ERR(API, "event=template_unreadable req=%s path=\"%s\" err=\"%s\"",
                api_ctx_request_id(ctx), path, je.text);
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable", "the template is not installed",
                  NULL);
        return HTTPD_DONE;
    }
    params = json_object_get(body, "params");
    if (params == NULL) {
        params = json_object();
    } else {
        json_incref(params);
    }
    doc = ivr_template_instantiate(tmpl, params, &err);
    json_decref(params);
    json_decref(tmpl);
    if (doc == NULL) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_field",
                  err != NULL ? err : "the parameters do not fit the template", "$.params");
        return HTTPD_DONE;
    }
    rc = create_flow(ctx, rest_jstr(body, "name"), NULL, doc);
    json_decref(doc);
    return rc;
}

static int h_validate(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "definition", .type = API_F_OBJECT, .required = true, .max = 1024 * 1024 },
    };
    json_t *body;
    bool valid;
    (void)arg;
    if (api_body_validate(ctx, fields, 1, &body) != 0) {
        return HTTPD_DONE;
    }
    api_respond_json(ctx, HTTPD_STATUS_OK, verdict(json_object_get(body, "definition"), &valid),
                     NULL);
    return HTTPD_DONE;
}

static int h_list(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_page(ctx, "SELECT f.id, " FLOW_JSON " FROM ivr_flows f WHERE f.id > $1::bigint"
                          " AND f.archived_at IS NULL ORDER BY f.id LIMIT $2::bigint");
}

static int h_get(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_get_by_id(ctx, "no such flow",
                          "SELECT 1, " FLOW_FULL_JSON
                          ", " FLOW_VERSION("f") " FROM ivr_flows f"
                                                 " WHERE f.id = $1::bigint");
}

static int h_export(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_get_by_id(
        ctx, "no such flow",
        "SELECT 1, json_build_object('format', 'ivrflow-export/1', 'name', f.name,"
        " 'description', f.description, 'definition', f.draft) FROM ivr_flows f"
        " WHERE f.id = $1::bigint");
}

/* PUT: the draft replaced under If-Match; answers the flow with the verdict. */
struct put_out {
    struct rest_out r;
    json_t *verdict;
};

static void put_done(struct api_ctx *ctx, int status, void *arg)
{
    struct put_out *p = arg;
    if (status == 0 && p->r.obj != NULL) {
        json_object_update(p->r.obj, p->verdict);
    }
    json_decref(p->verdict);
    rest_one_done(ctx, status, &p->r);
}

static int h_put(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "definition", .type = API_F_OBJECT, .required = true, .max = 1024 * 1024 },
        { .name = "name", .type = API_F_STRING, .min = 1, .max = 200 },
        { .name = "description", .type = API_F_STRING, .min = 0, .max = 2000 },
    };
    struct put_out *p = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*p));
    const struct api_principal *pr = api_ctx_principal(ctx);
    const char *params[8];
    json_t *body, *rep;
    int64_t id, version;
    bool valid;
    int rc;
    (void)arg;

    if (p == NULL) {
        return ERR_NOMEM;
    }
    p->r.found = -1;
    p->r.missing = "no such flow";
    p->r.conflict_msg = "a flow with this name exists";
    if (api_path_id(ctx, "id", &id) != 0 || api_if_match(ctx, &version) != 0 ||
        api_body_validate(ctx, fields, 3, &body) != 0) {
        return HTTPD_DONE;
    }
    p->verdict = verdict(json_object_get(body, "definition"), &valid);
    rep = json_object_get(p->verdict, "report");
    params[0] = rest_i64(ctx, id);
    params[1] = version >= 0 ? rest_i64(ctx, version) : NULL;
    params[2] = dump_arena(ctx, json_object_get(body, "definition"));
    params[3] = valid ? "t" : "f";
    params[4] = dump_arena(ctx, rep);
    params[5] = pr->kind == API_PRINCIPAL_USER ? rest_i64(ctx, pr->id) : NULL;
    params[6] = rest_jstr(body, "name");
    params[7] = rest_jstr(body, "description");
    struct api_stmt st = {
        .sql = "WITH cur AS (SELECT id, " FLOW_VERSION(
            "ivr_flows") " AS v FROM ivr_flows"
                         "  WHERE id = $1::bigint FOR UPDATE),"
                         " f AS (UPDATE ivr_flows f SET draft = $3::jsonb, draft_valid = $4::bool,"
                         "  draft_errors = $5::jsonb, draft_updated_by = $6::bigint,"
                         "  draft_updated_at = clock_timestamp(), name = coalesce($7, f.name),"
                         "  description = coalesce($8, f.description)"
                         "  FROM cur WHERE f.id = cur.id AND ($2::bigint IS NULL OR cur.v = "
                         "$2::bigint)"
                         "  RETURNING f.*)"
                         " SELECT (SELECT count(*) FROM cur), (SELECT " FLOW_JSON " FROM f),"
                         " (SELECT " FLOW_VERSION("f") " FROM f)",
        .nparams = 8,
        .params = params,
        .rows = rest_rows_one,
        .arg = &p->r,
    };
    rc = api_db_run(ctx, API_SCOPE_TENANT, &st, 1, put_done, p);
    if (rc != 0) {
        json_decref(p->verdict);
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_delete(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_delete_by_id(ctx, "no such flow",
                             "WITH d AS (DELETE FROM ivr_flows WHERE id = $1::bigint RETURNING id)"
                             " SELECT (SELECT count(*) FROM d), '{}'::json",
                             "a campaign or extension uses this flow");
}

static void published_cb(void *arg, const struct ivr_store_result *r)
{
    struct op *o = arg;
    struct api_ctx *ctx = api_ctx_lookup(o->api, o->handle);

    if (ctx != NULL) {
        if (r->status == ERR_INVAL) {
            json_t *rep = r->report != NULL ? json_loads(r->report, 0, NULL) : NULL;
            api_respond_json(ctx, HTTPD_STATUS_UNPROCESSABLE,
                             json_pack("{s:{s:s, s:s}, s:o}", "error", "code", "flow_invalid",
                                       "message",
                                       "the draft has errors; fix them before publishing", "report",
                                       rep != NULL ? rep : json_object()),
                             NULL);
        } else if (r->status != 0) {
            store_error(ctx, r);
        } else {
            api_respond_json(
                ctx, HTTPD_STATUS_CREATED,
                json_pack("{s:I, s:i}", "id", (json_int_t)r->id, "revision", r->revision),
                &(struct api_resp_opts){ .location =
                                             api_ctx_printf(ctx, "/api/v1/flows/%lld/revisions/%d",
                                                            r->id, r->revision) });
        }
    }
    free(o);
}

static int h_publish(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "message", .type = API_F_STRING, .min = 0, .max = 2000 },
    };
    struct db_pool *pool = api_db_pool(api_ctx_api(ctx));
    const struct api_principal *p = api_ctx_principal(ctx);
    const char *msg;
    json_t *body;
    struct op *o;
    int64_t id;
    int rc;
    (void)arg;

    if (api_path_id(ctx, "id", &id) != 0 || api_body_validate(ctx, fields, 1, &body) != 0) {
        return HTTPD_DONE;
    }
    msg = rest_jstr(body, "message");
    o = op_new(ctx, NULL);
    if (o == NULL) {
        return ERR_NOMEM;
    }
    rc = pool == NULL
             ? ERR_DISCONNECTED
             : ivr_store_publish(pool, p->tenant_id, p->kind == API_PRINCIPAL_USER ? p->id : 0, id,
                                 msg != NULL ? msg : "", published_cb, o);
    if (rc != 0) {
        free(o);
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the database is unavailable; try again", NULL);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

#define REV_JSON                                                                            \
    "json_build_object('flow_id', r.flow_id, 'revision', r.revision, 'message', r.message," \
    " 'published_by', r.published_by, 'published_at', r.published_at,"                      \
    " 'published', r.revision = f.published_revision)"

static int h_revisions(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_child_page(ctx, "no such flow",
                           "SELECT count(*) FROM ivr_flows WHERE id = $1::bigint",
                           "SELECT r.revision, " REV_JSON " FROM ivr_flow_revisions r"
                           " JOIN ivr_flows f ON f.id = r.flow_id WHERE r.flow_id = $1::bigint"
                           " AND r.revision > $2::bigint ORDER BY r.revision LIMIT $3::bigint");
}

static int h_revision(struct api_ctx *ctx, void *arg)
{
    struct rest_out *o = rest_out_new(ctx, "no such revision");
    const char *params[2];
    int64_t id, rev;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_path_id(ctx, "rev", &rev) != 0) {
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, id);
    params[1] = rest_i64(ctx, rev);
    return rest_run(ctx,
                    "SELECT 1, (" REV_JSON "::jsonb || jsonb_build_object('definition',"
                    " r.definition))::json FROM ivr_flow_revisions r JOIN ivr_flows f"
                    " ON f.id = r.flow_id WHERE r.flow_id = $1::bigint AND r.revision = $2::int",
                    2, params, rest_rows_one, rest_one_done, o);
}

/* ---------------------------------------------------------- executions */

#define EXEC_JSON                                                                        \
    "json_build_object('id', e.id, 'flow_id', e.flow_id, 'revision', e.flow_revision,"   \
    " 'draft', e.draft, 'direction', e.direction, 'call_attempt_id', e.call_attempt_id," \
    " 'channel_id', e.channel_id, 'extension', e.extension, 'caller', e.caller,"         \
    " 'status', e.status, 'ended_reason', e.ended_reason, 'last_node', e.last_node,"     \
    " 'steps', e.steps, 'started_at', e.started_at, 'ended_at', e.ended_at)"
#define STEP_JSON                                                                     \
    "json_build_object('seq', s.seq, 'node_id', s.node_id, 'node_type', s.node_type," \
    " 'event_in', s.event_in, 'event_out', s.event_out, 'started_at', s.started_at,"  \
    " 'ended_at', s.ended_at, 'vars', s.vars_delta, 'detail', s.detail)"

static int h_executions(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_child_page(ctx, "no such flow",
                           "SELECT count(*) FROM ivr_flows WHERE id = $1::bigint",
                           "SELECT e.seq, " EXEC_JSON " FROM ivr_executions e"
                           " WHERE e.flow_id = $1::bigint AND e.seq > $2::bigint"
                           " ORDER BY e.seq LIMIT $3::bigint");
}

/* True for a uuid in its text form (8-4-4-4-12 hex digits). */
static bool is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char ch = s[i];
        if (dash ? ch != '-'
                 : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                     (ch >= 'A' && ch <= 'F'))) {
            return false;
        }
    }
    return true;
}

/* The flow id and execution id of the path; 404 answered when either is not one. */
static int exec_path(struct api_ctx *ctx, int64_t *id, const char **eid)
{
    if (api_path_id(ctx, "id", id) != 0) {
        return ERR_INVAL;
    }
    *eid = httpd_req_param(api_ctx_req(ctx), "eid");
    if (!is_uuid(*eid)) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such execution", NULL);
        return ERR_INVAL;
    }
    return 0;
}

static int h_execution(struct api_ctx *ctx, void *arg)
{
    struct rest_out *o = rest_out_new(ctx, "no such execution");
    const char *params[2];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (exec_path(ctx, &id, &params[1]) != 0) {
        return HTTPD_DONE;
    }
    params[0] = rest_i64(ctx, id);
    return rest_run(ctx,
                    "SELECT 1, " EXEC_JSON " FROM ivr_executions e"
                    " WHERE e.flow_id = $1::bigint AND e.id = $2::uuid",
                    2, params, rest_rows_one, rest_one_done, o);
}

static int h_steps(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", NULL };
    struct rest_out *o = rest_out_new(ctx, "no such execution");
    const char **p = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), 4 * sizeof(*p));
    int64_t id, after;
    (void)arg;

    if (o == NULL || p == NULL) {
        return ERR_NOMEM;
    }
    if (exec_path(ctx, &id, &p[1]) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 100, 500, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[2] = rest_i64(ctx, after);
    p[3] = rest_i64(ctx, o->limit + 1);
    return rest_run_page(
        ctx, o, p,
        "SELECT count(*) FROM ivr_executions WHERE flow_id = $1::bigint AND id = $2::uuid", 2,
        "SELECT s.seq, " STEP_JSON " FROM ivr_steps s JOIN ivr_executions e"
        " ON e.id = s.execution_id WHERE e.flow_id = $1::bigint"
        " AND s.execution_id = $2::uuid AND s.seq > $3::bigint ORDER BY s.seq"
        " LIMIT $4::bigint",
        4);
}

/* POST /flows/{id}/simulate {script, vars, revision}: the draft (or a revision) simulated. */
struct sim_out {
    json_t *vars;
    char *script;
    json_t *doc;
    int64_t found;
};

static int sim_row(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct sim_out *s = arg;
    (void)ctx;
    s->found = PQntuples(res);
    if (s->found == 1) {
        s->doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    }
    return 0;
}

static void sim_done(struct api_ctx *ctx, int status, void *arg)
{
    struct sim_out *s = arg;
    struct ivr_flow *flow = NULL;
    struct ivr_report *rep = NULL;
    json_t *log = NULL;
    char *err = NULL;
    int rc;

    if (status != 0) {
        api_error_db(ctx, status);
        goto out;
    }
    if (s->doc == NULL) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such flow or revision", NULL);
        goto out;
    }
    rc = ivr_flow_load_json(s->doc, &(struct ivr_load_options){ 0 }, &flow, &rep);
    if (rc != 0) {
        json_t *r = rep != NULL ? ivr_report_to_json(rep) : json_object();
        api_respond_json(ctx, HTTPD_STATUS_UNPROCESSABLE,
                         json_pack("{s:{s:s, s:s}, s:o}", "error", "code", "flow_invalid",
                                   "message", "the flow has errors; it cannot run", "report",
                                   r != NULL ? r : json_object()),
                         NULL);
        goto out;
    }
    rc = ivr_sim_run(flow, s->script, s->vars, &log, &err);
    if (rc == ERR_PARSE) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_field",
                  err != NULL ? err : "the script is invalid", "$.script");
    } else if (rc != 0) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "the simulation failed", NULL);
    } else {
        api_respond_json(ctx, HTTPD_STATUS_OK, log, NULL);
        log = NULL;
    }
out:
    free(err);
    json_decref(log);
    ivr_report_free(rep);
    ivr_flow_unref(flow);
    json_decref(s->doc);
    json_decref(s->vars);
    s->doc = s->vars = NULL;
}

static int h_simulate(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "script",
          .type = API_F_STRING,
          .required = true,
          .min = 0,
          .max = SIM_SCRIPT_MAX },
        { .name = "vars", .type = API_F_OBJECT, .max = 65536 },
        { .name = "revision", .type = API_F_INT, .min = 1, .max = 1000000 },
    };
    struct sim_out *s = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*s));
    const char *params[2];
    json_t *body, *rev;
    int64_t id;
    int rc;
    (void)arg;

    if (s == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_body_validate(ctx, fields, 3, &body) != 0) {
        return HTTPD_DONE;
    }
    s->script = (char *)rest_jstr(body, "script");
    s->vars = json_incref(json_object_get(body, "vars"));
    rev = json_object_get(body, "revision");
    params[0] = rest_i64(ctx, id);
    params[1] = rev != NULL ? rest_i64(ctx, json_integer_value(rev)) : NULL;
    struct api_stmt st = {
        .sql = "SELECT CASE WHEN $2::int IS NULL THEN f.draft::text ELSE"
               " (SELECT r.definition::text FROM ivr_flow_revisions r WHERE r.flow_id = f.id"
               "  AND r.revision = $2::int) END FROM ivr_flows f WHERE f.id = $1::bigint",
        .nparams = 2,
        .params = params,
        .rows = sim_row,
        .arg = s,
    };
    rc = api_db_run(ctx, API_SCOPE_TENANT, &st, 1, sim_done, s);
    if (rc != 0) {
        json_decref(s->vars);
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_templates(struct api_ctx *ctx, void *arg)
{
    const char *const *names = ivr_template_names();
    json_t *items = json_array();
    (void)arg;
    for (size_t i = 0; names[i] != NULL; i++) {
        json_array_append_new(items, json_pack("{s:s}", "name", names[i]));
    }
    api_respond_json(ctx, HTTPD_STATUS_OK, json_pack("{s:o}", "items", items), NULL);
    return HTTPD_DONE;
}

int api_flows_create(struct api *a, const char *template_dir, struct api_flows **out)
{
    struct api_flows *F = calloc(1, sizeof(*F));
    int rc = 0;

    *out = NULL;
    if (F == NULL) {
        return ERR_NOMEM;
    }
    F->api = a;
    F->template_dir = strdup(template_dir != NULL ? template_dir : "ivr/templates");
    if (F->template_dir == NULL) {
        free(F);
        return ERR_NOMEM;
    }
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_list,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows",
          .perm = API_PERM_FLOWS_WRITE,
          .handler = h_create,
          .flags = API_ROUTE_IDEMPOTENT,
          .max_body = FLOW_MAX_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows/validate",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_validate,
          .max_body = FLOW_MAX_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows/import",
          .perm = API_PERM_FLOWS_WRITE,
          .handler = h_import,
          .flags = API_ROUTE_IDEMPOTENT,
          .max_body = FLOW_MAX_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/templates",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_templates,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows/from-template/{name}",
          .perm = API_PERM_FLOWS_WRITE,
          .handler = h_from_template,
          .arg = F,
          .flags = API_ROUTE_IDEMPOTENT },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_get,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_PUT,
          .pattern = "/api/v1/flows/{id}",
          .perm = API_PERM_FLOWS_WRITE,
          .handler = h_put,
          .max_body = FLOW_MAX_BODY },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/flows/{id}",
          .perm = API_PERM_FLOWS_WRITE,
          .handler = h_delete,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}/export",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_export,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows/{id}/publish",
          .perm = API_PERM_FLOWS_PUBLISH,
          .handler = h_publish },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}/revisions",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_revisions,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}/revisions/{rev}",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_revision,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}/executions",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_executions,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}/executions/{eid}",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_execution,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/flows/{id}/executions/{eid}/steps",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_steps,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/flows/{id}/simulate",
          .perm = API_PERM_FLOWS_READ,
          .handler = h_simulate },
    };
    if (rc == 0) {
        rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    }
    if (rc != 0) {
        api_flows_destroy(F);
        return rc;
    }
    *out = F;
    return 0;
}

void api_flows_destroy(struct api_flows *F)
{
    if (F != NULL) {
        free(F->template_dir);
        free(F);
    }
}
