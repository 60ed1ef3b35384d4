/* SPDX-License-Identifier: MIT */
/*
 * Campaign routes: CRUD of campaigns with their settings document, the
 * state transitions (start, pause, resume, stop, complete, schedule) with
 * who and when, the history (campaign_events), and the lists a campaign
 * dials. Attempts, call logs, the CSV export and the ready set are in
 * api_campaigns_calls.c. Routes and decisions in docs/api.md ("Campaigns").
 *
 * Decisions:
 *   - The settings document is validated by the campaign module
 *     (campaign_settings_from_json; errors name the field as
 *     "$.settings.<path>") and stored normalised (campaign_settings_to_json:
 *     every default written out), so a campaign keeps its behaviour if the
 *     defaults change later. The indexed columns (pacing_mode, cps, ...) are
 *     copies of it. PATCH replaces the document as a whole: merging nested
 *     arrays (windows, trunks) has no obvious meaning; read, change, PATCH
 *     back with If-Match.
 *   - The flow reference is flow_id plus flow_revision (null: the flow's
 *     published revision at call start; a number: that revision, pinned).
 *     Both must be the tenant's (422 naming the field). Changing flow_id
 *     without flow_revision resets it to "latest published".
 *   - Going to running (start, resume) or scheduled needs a flow with a
 *     published revision (or a pinned one), a published machine flow when
 *     amd.machine_action is "flow", and at least one active list: 422
 *     naming what is missing. A transition the state machine does not allow
 *     from the current state is 409 naming from and to. The transition is a
 *     compare-and-set in SQL under the row lock, the database trigger stays
 *     the authority and writes the campaign_events row with app.actor (the
 *     principal, "user:42" / "api_key:7") and the optional reason.
 *   - Completed and stopped campaigns are final: PATCH and list changes
 *     answer 409. DELETE only in draft, stopped or completed (409
 *     otherwise); a campaign with call history is never deleted (the call
 *     records are compliance records; 409).
 *   - Attaching a list of another campaign is 409 (a list is dialed by one
 *     campaign at a time); attaching it again to the same campaign updates
 *     its priority (200). Detaching is refused while the campaign runs
 *     (409: pause first), since a node may hold leased contacts of it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_campaigns.h"
#include "api/api_rest.h"
#include "campaign/campaign.h"
#include "core/arena.h"
#include "core/err.h"

/* clang-format off */
#define CAMPAIGN_JSON(t)                                                                           \
    "json_build_object('id', " t ".id, 'name', " t ".name, 'state', " t ".state,"                  \
    " 'state_changed_at', " t ".state_changed_at, 'flow_id', " t ".flow_id,"                       \
    " 'flow_revision', " t ".flow_revision, 'settings', " t ".settings,"                           \
    " 'starts_at', " t ".starts_at,"                                                               \
    " 'lists', (SELECT coalesce(json_agg(cl.list_id ORDER BY cl.priority DESC, cl.list_id),"      \
    "  '[]'::json) FROM campaign_lists cl WHERE cl.campaign_id = " t ".id),"                       \
    " 'created_by', " t ".created_by, 'created_at', " t ".created_at,"                             \
    " 'updated_at', " t ".updated_at)"
#define CAMPAIGN_VERSION(t) "(extract(epoch FROM " t ".updated_at) * 1000000)::bigint"
/* clang-format on */

#define SETTINGS_MAX (64 * 1024)

/* ------------------------------------------------------------------ */
/* Result of a statement "SELECT verdict, json, version, state, extra" */

struct camp_out {
    bool found;       /* a row with a verdict came back */
    char verdict[24]; /* "ok" or why not */
    char state[16];   /* the campaign's state before the statement */
    char extra[32];
    const char *obj; /* JSON text in the request arena (parsed when answering) */
    int64_t version;
    int status;          /* answer status on success (0: 200) */
    const char *target;  /* transition: the state asked for */
    const char *verb;    /* transition: start, pause, ... */
    const char *missing; /* 404 message */
    bool attach;         /* list attach: 201 when new, 200 when it existed */
};

static struct camp_out *camp_out_new(struct api_ctx *ctx)
{
    struct camp_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    if (o != NULL) {
        o->missing = "no such campaign";
    }
    return o;
}

static int camp_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct camp_out *o = arg;
    int nf = PQnfields(res);

    if (PQntuples(res) != 1 || nf < 1 || PQgetisnull(res, 0, 0)) {
        return 0;
    }
    o->found = true;
    snprintf(o->verdict, sizeof(o->verdict), "%s", PQgetvalue(res, 0, 0));
    if (nf > 1 && !PQgetisnull(res, 0, 1)) {
        o->obj = arena_strdup(httpd_req_arena(api_ctx_req(ctx)), PQgetvalue(res, 0, 1));
        if (o->obj == NULL) {
            return ERR_NOMEM;
        }
    }
    if (nf > 2 && !PQgetisnull(res, 0, 2)) {
        o->version = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    if (nf > 3 && !PQgetisnull(res, 0, 3)) {
        snprintf(o->state, sizeof(o->state), "%s", PQgetvalue(res, 0, 3));
    }
    if (nf > 4 && !PQgetisnull(res, 0, 4)) {
        snprintf(o->extra, sizeof(o->extra), "%s", PQgetvalue(res, 0, 4));
    }
    return 0;
}

/* The answer for a verdict other than "ok". */
static void camp_refuse(struct api_ctx *ctx, struct camp_out *o)
{
    const char *v = o->verdict;

    if (strcmp(v, "stale") == 0) {
        api_error(ctx, 412, "precondition_failed",
                  "the campaign changed since the ETag given in If-Match; read it again",
                  "If-Match");
    } else if (strcmp(v, "final") == 0) {
        api_error(
            ctx, HTTPD_STATUS_CONFLICT, "conflict",
            api_ctx_printf(ctx, "the campaign is %s: it cannot be changed any more", o->state),
            NULL);
    } else if (strcmp(v, "flow") == 0) {
        rest_invalid(ctx, "invalid_field", "$.flow_id", "no such flow");
    } else if (strcmp(v, "rev") == 0) {
        rest_invalid(ctx, "invalid_field", "$.flow_revision", "the flow has no such revision");
    } else if (strcmp(v, "mflow") == 0) {
        rest_invalid(ctx, "invalid_field", "$.settings.amd.flow_id", "no such flow");
    } else if (strcmp(v, "noflow") == 0) {
        rest_invalid(ctx, "invalid_field", "$.flow_id",
                     api_ctx_printf(ctx, "a %s campaign needs a flow",
                                    o->target != NULL ? o->target : o->state));
    } else if (strcmp(v, "unpublished") == 0) {
        rest_invalid(ctx, "flow_unpublished", "$.flow_id",
                     "the campaign's flow has no published revision; publish it or pin a "
                     "revision");
    } else if (strcmp(v, "munpublished") == 0) {
        rest_invalid(ctx, "flow_unpublished", "$.settings.amd.flow_id",
                     "the machine flow has no published revision; publish it first");
    } else if (strcmp(v, "nolists") == 0) {
        rest_invalid(ctx, "no_lists", "$.lists",
                     "the campaign has no active list to dial; attach one first");
    } else if (strcmp(v, "state") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "illegal_transition",
                  api_ctx_printf(ctx, "a %s campaign cannot %s (from %s to %s)", o->state,
                                 o->verb != NULL ? o->verb : "change", o->state,
                                 o->target != NULL ? o->target : "?"),
                  NULL);
    } else if (strcmp(v, "running") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the campaign is running: pause it before detaching a list", NULL);
    } else if (strcmp(v, "active") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  api_ctx_printf(ctx,
                                 "a %s campaign cannot be deleted; stop it first (only draft, "
                                 "stopped and completed campaigns are deleted)",
                                 o->state),
                  NULL);
    } else if (strcmp(v, "list") == 0) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such list", NULL);
    } else if (strcmp(v, "taken") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  api_ctx_printf(ctx, "the list is attached to campaign %s; detach it there first",
                                 o->extra),
                  NULL);
    } else if (strcmp(v, "campaign") == 0) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", NULL);
    } else {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "unexpected result", NULL);
    }
}

static void camp_done(struct api_ctx *ctx, int status, void *arg)
{
    struct camp_out *o = arg;
    struct api_resp_opts ro = { 0 };
    json_t *obj;

    if (status != 0) {
        if (status == ERR_DB && strcmp(api_ctx_sqlstate(ctx), "23503") == 0) {
            /* call_attempts / call_logs keep the campaign (compliance records) */
            api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                      "the campaign has call history, which is kept as a compliance record; "
                      "it cannot be deleted",
                      NULL);
        } else if (status == ERR_DB && strcmp(api_ctx_sqlstate(ctx), "23505") == 0) {
            api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                      "a campaign with this name exists, or the list is attached elsewhere", NULL);
        } else {
            api_error_db(ctx, status);
        }
        return;
    }
    if (!o->found) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", o->missing, NULL);
        return;
    }
    if (strcmp(o->verdict, "ok") != 0) {
        camp_refuse(ctx, o);
        return;
    }
    if (o->attach) {
        o->status = strcmp(o->extra, "created") == 0 ? HTTPD_STATUS_CREATED : HTTPD_STATUS_OK;
    }
    if (o->status == HTTPD_STATUS_NO_CONTENT) {
        api_respond_json(ctx, HTTPD_STATUS_NO_CONTENT, NULL, NULL);
        return;
    }
    obj = o->obj != NULL ? json_loads(o->obj, 0, NULL) : NULL;
    if (obj == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "no result", NULL);
        return;
    }
    if (o->version > 0) {
        ro.etag = api_ctx_printf(ctx, "%lld", (long long)o->version);
    }
    if (o->status == HTTPD_STATUS_CREATED && !o->attach) {
        ro.location = api_ctx_printf(ctx, "/api/v1/campaigns/%lld",
                                     (long long)json_integer_value(json_object_get(obj, "id")));
    }
    api_respond_json(ctx, o->status != 0 ? o->status : HTTPD_STATUS_OK, obj, &ro);
}

static int run_stmts(struct api_ctx *ctx, const struct api_stmt *st, size_t n, struct camp_out *o)
{
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, n, camp_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int run_one(struct api_ctx *ctx, const char *sql, int n, const char *const *params,
                   struct camp_out *o)
{
    struct api_stmt st = {
        .sql = sql, .nparams = n, .params = params, .rows = camp_rows, .arg = o
    };
    return run_stmts(ctx, &st, 1, o);
}

/* ------------------------------------------------------------ settings */

/* The settings document as stored, and its indexed copies (SQL parameters). */
struct settings_cols {
    const char *doc; /* normalised JSON */
    const char *pacing_mode;
    const char *cps;          /* NULL: none */
    const char *max_channels; /* NULL: none */
    const char *dial_ratio;
    const char *abandon_cap_pct;
    const char *ring_time_s;
    const char *max_attempts;
    const char *machine_flow_id; /* NULL unless amd.machine_action is flow */
};

/*
 * Validates doc (NULL: the defaults) with the campaign module and fills
 * *c. Answers 422 naming "$.settings.<field>" itself and returns ERR_INVAL.
 */
static int settings_cols(struct api_ctx *ctx, const json_t *doc, struct settings_cols *c)
{
    struct campaign_settings s;
    struct campaign_error err = { 0 };
    json_t *norm;
    char *text;

    if (doc == NULL) {
        campaign_settings_default(&s);
    } else if (campaign_settings_from_json(doc, &s, &err) != 0) {
        const char *msg = err.msg;
        if (strcmp(err.field, "ring_time_s") == 0) {
            msg = api_ctx_printf(ctx,
                                 "%s: an unanswered call rings at least %d seconds before it is "
                                 "given up (the legal minimum: US TSR safe harbour, Ofcom)",
                                 err.msg, CAMPAIGN_RING_MIN_S);
        }
        rest_invalid(ctx, "invalid_field", api_ctx_printf(ctx, "$.settings.%s", err.field),
                     msg != NULL ? msg : err.msg);
        return ERR_INVAL;
    }
    norm = campaign_settings_to_json(&s);
    if (norm == NULL) {
        return ERR_NOMEM;
    }
    text = json_dumps(norm, JSON_COMPACT);
    c->pacing_mode = api_ctx_printf(
        ctx, "%s", json_string_value(json_object_get(json_object_get(norm, "pacing"), "mode")));
    json_decref(norm);
    if (text == NULL) {
        return ERR_NOMEM;
    }
    c->doc = api_ctx_printf(ctx, "%s", text);
    free(text);
    c->cps = s.cps > 0 ? api_ctx_printf(ctx, "%.2f", s.cps) : NULL;
    c->max_channels = s.max_channels > 0 ? rest_i64(ctx, s.max_channels) : NULL;
    c->dial_ratio = api_ctx_printf(ctx, "%.2f", s.dial_ratio);
    c->abandon_cap_pct = api_ctx_printf(ctx, "%.2f", s.abandon_cap_pct);
    c->ring_time_s = rest_i64(ctx, s.ring_time_s);
    c->max_attempts = rest_i64(ctx, s.max_attempts);
    c->machine_flow_id =
        s.machine_action == CAMPAIGN_MACHINE_FLOW ? rest_i64(ctx, s.machine_flow_id) : NULL;
    if (c->doc == NULL || c->pacing_mode == NULL || c->dial_ratio == NULL ||
        c->abandon_cap_pct == NULL || c->ring_time_s == NULL || c->max_attempts == NULL) {
        return ERR_NOMEM;
    }
    return 0;
}

static const char *creator(struct api_ctx *ctx)
{
    const struct api_principal *p = api_ctx_principal(ctx);
    return p->kind == API_PRINCIPAL_USER ? rest_i64(ctx, p->id) : NULL;
}

/* A JSON integer member as text; NULL when absent or null. */
static const char *jint(struct api_ctx *ctx, const json_t *body, const char *k)
{
    json_t *v = json_object_get(body, k);
    return json_is_integer(v) ? rest_i64(ctx, json_integer_value(v)) : NULL;
}

static const struct api_field campaign_fields[] = {
    { .name = "name", .type = API_F_STRING, .min = 1, .max = 200 },
    { .name = "flow_id", .type = API_F_INT, .nullable = true, .min = 1, .max = INT64_MAX },
    { .name = "flow_revision", .type = API_F_INT, .nullable = true, .min = 1, .max = INT32_MAX },
    { .name = "settings", .type = API_F_OBJECT, .max = SETTINGS_MAX },
};

#define NFIELDS (sizeof(campaign_fields) / sizeof(campaign_fields[0]))

/* ---------------------------------------------------------------- CRUD */

static int h_create(struct api_ctx *ctx, void *arg)
{
    struct api_field fields[NFIELDS];
    struct camp_out *o = camp_out_new(ctx);
    struct settings_cols sc;
    const char *p[13];
    json_t *body;
    int rc;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    memcpy(fields, campaign_fields, sizeof(fields));
    fields[0].required = true;
    if (api_body_validate(ctx, fields, NFIELDS, &body) != 0) {
        return HTTPD_DONE;
    }
    if (json_object_get(body, "flow_revision") != NULL &&
        !json_is_null(json_object_get(body, "flow_revision")) &&
        !json_is_integer(json_object_get(body, "flow_id"))) {
        return rest_invalid(ctx, "invalid_field", "$.flow_revision",
                            "a pinned revision needs flow_id");
    }
    rc = settings_cols(ctx, json_object_get(body, "settings"), &sc);
    if (rc != 0) {
        return rc == ERR_INVAL ? HTTPD_DONE : rc;
    }
    p[0] = rest_jstr(body, "name");
    p[1] = sc.doc;
    p[2] = sc.pacing_mode;
    p[3] = sc.cps;
    p[4] = sc.max_channels;
    p[5] = sc.dial_ratio;
    p[6] = sc.abandon_cap_pct;
    p[7] = sc.ring_time_s;
    p[8] = sc.max_attempts;
    p[9] = jint(ctx, body, "flow_id");
    p[10] = jint(ctx, body, "flow_revision");
    p[11] = creator(ctx);
    p[12] = sc.machine_flow_id;
    o->status = HTTPD_STATUS_CREATED;
    return run_one(
        ctx,
        "WITH chk AS (SELECT CASE"
        "  WHEN $10::bigint IS NOT NULL AND NOT EXISTS"
        "   (SELECT 1 FROM ivr_flows f WHERE f.id = $10::bigint) THEN 'flow'"
        "  WHEN $11::int IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ivr_flow_revisions r"
        "   WHERE r.flow_id = $10::bigint AND r.revision = $11::int) THEN 'rev'"
        "  WHEN $13::bigint IS NOT NULL AND NOT EXISTS"
        "   (SELECT 1 FROM ivr_flows f WHERE f.id = $13::bigint) THEN 'mflow'"
        "  ELSE 'ok' END AS verdict),"
        " c AS (INSERT INTO campaigns (tenant_id, name, settings, pacing_mode, cps, max_channels,"
        "  dial_ratio, abandon_cap_pct, ring_time_s, max_attempts, flow_id, flow_revision,"
        "  created_by)"
        "  SELECT app_tenant_id(), $1, $2::jsonb, $3, $4::numeric, $5::int, $6::numeric,"
        "  $7::numeric, $8::int, $9::int, $10::bigint, $11::int, $12::bigint"
        "  FROM chk WHERE chk.verdict = 'ok' RETURNING *)"
        " SELECT (SELECT verdict FROM chk), (SELECT " CAMPAIGN_JSON(
            "c") " FROM c),"
                 " (SELECT " CAMPAIGN_VERSION("c") " FROM c), 'draft'",
        13, p, o);
}

static int h_get(struct api_ctx *ctx, void *arg)
{
    struct camp_out *o = camp_out_new(ctx);
    const char *p[1];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    return run_one(ctx,
                   "SELECT 'ok', " CAMPAIGN_JSON("c") ", " CAMPAIGN_VERSION(
                       "c") ", c.state"
                            " FROM campaigns c WHERE c.id = $1::bigint",
                   1, p, o);
}

static int h_page(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "state", "name", NULL };
    struct rest_out *o = rest_out_new(ctx, NULL);
    struct httpd_req *req = api_ctx_req(ctx);
    const char *state = httpd_req_query(req, "state");
    const char *name = httpd_req_query(req, "name");
    const char *p[4];
    int64_t after;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 50, 200, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    if (state != NULL && campaign_state_parse(state) < 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "state is one of draft, scheduled, running, paused, completed, stopped",
                  "?state");
        return HTTPD_DONE;
    }
    if (name != NULL && (name[0] == '\0' || strlen(name) > 200)) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "name is 1 to 200 characters (a case-insensitive substring)", "?name");
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, after);
    p[1] = rest_i64(ctx, o->limit + 1);
    p[2] = state;
    p[3] = name;
    /* name: a substring, case-insensitive, with LIKE's wildcards taken literally */
    return rest_run(ctx,
                    "SELECT c.id, " CAMPAIGN_JSON(
                        "c") " FROM campaigns c WHERE c.id > $1::bigint"
                             " AND ($3::text IS NULL OR c.state = $3)"
                             " AND ($4::text IS NULL OR strpos(lower(c.name), lower($4)) > 0)"
                             " ORDER BY c.id LIMIT $2::bigint",
                    4, p, rest_rows_page, rest_page_done, o);
}

static int h_patch(struct api_ctx *ctx, void *arg)
{
    struct camp_out *o = camp_out_new(ctx);
    struct settings_cols sc = { 0 };
    const char *p[17];
    json_t *body, *changed;
    const char *key;
    json_t *val;
    char *ch;
    int64_t id, version;
    int rc;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_if_match(ctx, &version) != 0 ||
        api_body_validate(ctx, campaign_fields, NFIELDS, &body) != 0) {
        return HTTPD_DONE;
    }
    if (json_object_get(body, "settings") != NULL) {
        rc = settings_cols(ctx, json_object_get(body, "settings"), &sc);
        if (rc != 0) {
            return rc == ERR_INVAL ? HTTPD_DONE : rc;
        }
    }
    changed = json_array();
    json_object_foreach (body, key, val) {
        json_array_append_new(changed, json_string(key));
    }
    ch = json_dumps(changed, JSON_COMPACT);
    json_decref(changed);
    if (ch == NULL) {
        return ERR_NOMEM;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = version >= 0 ? rest_i64(ctx, version) : NULL;
    p[2] = json_object_get(body, "flow_id") != NULL ? "t" : "f";
    p[3] = jint(ctx, body, "flow_id");
    p[4] = json_object_get(body, "flow_revision") != NULL ? "t" : "f";
    p[5] = jint(ctx, body, "flow_revision");
    p[6] = rest_jstr(body, "name");
    p[7] = sc.doc;
    p[8] = sc.pacing_mode;
    p[9] = sc.cps;
    p[10] = sc.max_channels;
    p[11] = sc.dial_ratio;
    p[12] = sc.abandon_cap_pct;
    p[13] = sc.ring_time_s;
    p[14] = sc.max_attempts;
    p[15] = sc.machine_flow_id;
    p[16] = api_ctx_printf(ctx, "%s", ch);
    free(ch);
    o->missing = "no such campaign";
    return run_one(
        ctx,
        "WITH cur AS (SELECT c.*, " CAMPAIGN_VERSION(
            "c") " AS v FROM campaigns c"
                 "  WHERE c.id = $1::bigint FOR UPDATE),"
                 " nv AS (SELECT cur.id,"
                 "  CASE WHEN $3::bool THEN $4::bigint ELSE cur.flow_id END AS flow_id,"
                 "  CASE WHEN $5::bool THEN $6::int WHEN $3::bool THEN NULL ELSE cur.flow_revision "
                 "END"
                 "   AS flow_revision,"
                 "  CASE WHEN $8::text IS NOT NULL THEN $16::bigint"
                 "   WHEN cur.settings->'amd'->>'machine_action' = 'flow'"
                 "   THEN (cur.settings->'amd'->>'flow_id')::bigint END AS mflow"
                 "  FROM cur),"
                 " chk AS (SELECT CASE"
                 "  WHEN $2::bigint IS NOT NULL AND cur.v <> $2::bigint THEN 'stale'"
                 "  WHEN cur.state IN ('completed', 'stopped') THEN 'final'"
                 "  WHEN nv.flow_id IS NOT NULL AND NOT EXISTS"
                 "   (SELECT 1 FROM ivr_flows f WHERE f.id = nv.flow_id) THEN 'flow'"
                 "  WHEN nv.flow_revision IS NOT NULL AND nv.flow_id IS NULL THEN 'rev'"
                 "  WHEN nv.flow_revision IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                 "ivr_flow_revisions r"
                 "   WHERE r.flow_id = nv.flow_id AND r.revision = nv.flow_revision) THEN 'rev'"
                 "  WHEN $16::bigint IS NOT NULL AND NOT EXISTS"
                 "   (SELECT 1 FROM ivr_flows f WHERE f.id = $16::bigint) THEN 'mflow'"
                 "  WHEN cur.state <> 'draft' AND nv.flow_id IS NULL THEN 'noflow'"
                 "  WHEN cur.state <> 'draft' AND nv.flow_revision IS NULL AND NOT EXISTS"
                 "   (SELECT 1 FROM ivr_flows f WHERE f.id = nv.flow_id"
                 "    AND f.published_revision IS NOT NULL) THEN 'unpublished'"
                 "  WHEN cur.state <> 'draft' AND nv.mflow IS NOT NULL AND NOT EXISTS"
                 "   (SELECT 1 FROM ivr_flows f WHERE f.id = nv.mflow"
                 "    AND f.published_revision IS NOT NULL) THEN 'munpublished'"
                 "  ELSE 'ok' END AS verdict, cur.state FROM cur, nv),"
                 " u AS (UPDATE campaigns c SET name = coalesce($7, c.name),"
                 "  settings = coalesce($8::jsonb, c.settings::jsonb),"
                 "  pacing_mode = CASE WHEN $8::text IS NULL THEN c.pacing_mode ELSE $9 END,"
                 "  cps = CASE WHEN $8::text IS NULL THEN c.cps ELSE $10::numeric END,"
                 "  max_channels = CASE WHEN $8::text IS NULL THEN c.max_channels ELSE $11::int "
                 "END,"
                 "  dial_ratio = CASE WHEN $8::text IS NULL THEN c.dial_ratio ELSE $12::numeric "
                 "END,"
                 "  abandon_cap_pct = CASE WHEN $8::text IS NULL THEN c.abandon_cap_pct"
                 "   ELSE $13::numeric END,"
                 "  ring_time_s = CASE WHEN $8::text IS NULL THEN c.ring_time_s ELSE $14::int END,"
                 "  max_attempts = CASE WHEN $8::text IS NULL THEN c.max_attempts ELSE $15::int "
                 "END,"
                 "  flow_id = nv.flow_id, flow_revision = nv.flow_revision"
                 "  FROM nv, chk WHERE c.id = nv.id AND chk.verdict = 'ok' RETURNING c.*),"
                 " ev AS (INSERT INTO campaign_events (tenant_id, campaign_id, kind, detail)"
                 "  SELECT u.tenant_id, u.id, 'settings_change', json_build_object('fields', "
                 "$17::json)"
                 "  FROM u WHERE json_array_length($17::json) > 0 RETURNING 1)"
                 " SELECT (SELECT verdict FROM chk), (SELECT " CAMPAIGN_JSON(
                     "u") " FROM u),"
                          " (SELECT " CAMPAIGN_VERSION("u") " FROM u), (SELECT state FROM chk),"
                                                            " (SELECT count(*) FROM ev)",
        17, p, o);
}

static int h_delete(struct api_ctx *ctx, void *arg)
{
    struct camp_out *o = camp_out_new(ctx);
    const char *p[1];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    o->status = HTTPD_STATUS_NO_CONTENT;
    return run_one(ctx,
                   "WITH cur AS (SELECT id, state FROM campaigns WHERE id = $1::bigint FOR UPDATE),"
                   " d AS (DELETE FROM campaigns c USING cur WHERE c.id = cur.id"
                   "  AND cur.state IN ('draft', 'stopped', 'completed') RETURNING c.id)"
                   " SELECT (SELECT CASE WHEN EXISTS (SELECT 1 FROM d) THEN 'ok' ELSE 'active' END"
                   "  FROM cur), NULL, NULL, (SELECT state FROM cur)",
                   1, p, o);
}

/* --------------------------------------------------------- transitions */

/* A transition route: the target state, the states it applies to, checks. */
struct verb {
    const char *name;
    enum campaign_state to;
    unsigned from; /* bit per enum campaign_state */
    bool needs_flow;
};

#define BIT(s) (1u << (s))

static const struct verb verbs[] = {
    { "start", CAMPAIGN_RUNNING, BIT(CAMPAIGN_DRAFT) | BIT(CAMPAIGN_SCHEDULED), true },
    { "pause", CAMPAIGN_PAUSED, BIT(CAMPAIGN_RUNNING) | BIT(CAMPAIGN_SCHEDULED), false },
    { "resume", CAMPAIGN_RUNNING, BIT(CAMPAIGN_PAUSED), true },
    { "stop", CAMPAIGN_STOPPED,
      BIT(CAMPAIGN_SCHEDULED) | BIT(CAMPAIGN_RUNNING) | BIT(CAMPAIGN_PAUSED), false },
    { "complete", CAMPAIGN_COMPLETED, BIT(CAMPAIGN_RUNNING) | BIT(CAMPAIGN_PAUSED), false },
    { "schedule", CAMPAIGN_SCHEDULED, BIT(CAMPAIGN_DRAFT) | BIT(CAMPAIGN_PAUSED), true },
};

static int h_transition(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "reason", .type = API_F_STRING, .nullable = true, .min = 1, .max = 500 },
        { .name = "starts_at", .type = API_F_STRING, .nullable = true, .min = 1, .max = 64 },
    };
    const struct verb *vb = arg;
    struct camp_out *o = camp_out_new(ctx);
    const char *p[6];
    char from[128];
    size_t len = 0, fl = 0;
    json_t *body = NULL;
    int64_t id;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    httpd_req_body(api_ctx_req(ctx), &len);
    if (len > 0 && api_body_validate(ctx, fields, 2, &body) != 0) {
        return HTTPD_DONE;
    }
    /* schedule: when dialerd starts it by itself (docs/api.md) */
    const char *starts = body != NULL ? rest_jstr(body, "starts_at") : NULL;
    int64_t starts_us = 0;
    if (starts != NULL && vb->to != CAMPAIGN_SCHEDULED) {
        rest_invalid(ctx, "invalid_field", "$.starts_at", "only schedule takes a start time");
        return HTTPD_DONE;
    }
    if (starts != NULL && api_parse_time(starts, &starts_us) != 0) {
        rest_invalid(ctx, "invalid_field", "$.starts_at",
                     "must be an RFC 3339 time (2026-11-24T21:30:00Z) or epoch seconds");
        return HTTPD_DONE;
    }
    /* The states the verb applies to, as the state machine allows them. */
    from[fl++] = '{';
    for (int s = 0; s < CAMPAIGN_STATE_COUNT_; s++) {
        if ((vb->from & BIT(s)) && campaign_state_allowed((enum campaign_state)s, vb->to)) {
            fl += (size_t)snprintf(from + fl, sizeof(from) - fl, "%s%s", fl > 1 ? "," : "",
                                   campaign_state_name((enum campaign_state)s));
        }
    }
    snprintf(from + fl, sizeof(from) - fl, "}");
    p[0] = rest_i64(ctx, id);
    p[1] = campaign_state_name(vb->to);
    p[2] = api_ctx_printf(ctx, "%s", from);
    p[3] = vb->needs_flow ? "t" : "f";
    p[4] = body != NULL ? rest_jstr(body, "reason") : NULL;
    p[5] = starts != NULL ? rest_i64(ctx, starts_us) : NULL;
    o->verb = vb->name;
    o->target = campaign_state_name(vb->to);
    const char *q[5] = { p[0], p[1], p[2], p[3], p[5] };
    struct api_stmt st[2] = {
        { .sql = "SELECT set_config('app.reason', coalesce($1, ''), true)",
          .nparams = 1,
          .params = &p[4] },
        { .sql =
              "WITH cur AS (SELECT c.id, c.state, c.flow_id, c.flow_revision, c.settings"
              "  FROM campaigns c WHERE c.id = $1::bigint FOR UPDATE),"
              " chk AS (SELECT CASE"
              "  WHEN NOT (cur.state = ANY ($3::text[])) THEN 'state'"
              "  WHEN $4::bool AND cur.flow_id IS NULL THEN 'noflow'"
              "  WHEN $4::bool AND cur.flow_revision IS NULL AND NOT EXISTS"
              "   (SELECT 1 FROM ivr_flows f WHERE f.id = cur.flow_id"
              "    AND f.published_revision IS NOT NULL) THEN 'unpublished'"
              "  WHEN $4::bool AND cur.settings->'amd'->>'machine_action' = 'flow' AND NOT EXISTS"
              "   (SELECT 1 FROM ivr_flows f"
              "    WHERE f.id = (cur.settings->'amd'->>'flow_id')::bigint"
              "    AND f.published_revision IS NOT NULL) THEN 'munpublished'"
              "  WHEN $4::bool AND NOT EXISTS (SELECT 1 FROM campaign_lists cl"
              "   WHERE cl.campaign_id = cur.id AND cl.active) THEN 'nolists'"
              "  ELSE 'ok' END AS verdict, cur.state FROM cur),"
              " u AS (UPDATE campaigns c SET state = $2, starts_at = CASE WHEN $2 <> 'scheduled'"
              "  THEN c.starts_at WHEN $5::bigint IS NOT NULL"
              "  THEN to_timestamp($5::bigint / 1000000.0)"
              "  WHEN c.settings->'schedule'->>'start_date' IS NOT NULL"
              "  THEN (c.settings->'schedule'->>'start_date')::date::timestamp"
              "   AT TIME ZONE coalesce(c.settings->'schedule'->>'time_zone', 'UTC') END FROM chk"
              "  WHERE c.id = $1::bigint AND chk.verdict = 'ok' RETURNING c.*)"
              " SELECT (SELECT verdict FROM chk), (SELECT " CAMPAIGN_JSON(
                  "u") " FROM u),"
                       " (SELECT " CAMPAIGN_VERSION("u") " FROM u), (SELECT state FROM chk)",
          .nparams = 5,
          .params = q,
          .rows = camp_rows,
          .arg = o },
    };
    return run_stmts(ctx, st, 2, o);
}

/* ------------------------------------------------------------- history */

static int h_history(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "kind", NULL };
    static const char *const kinds[] = { "created",       "state_change",  "settings_change",
                                         "list_attached", "list_detached", "note" };
    struct rest_out *o = rest_out_new(ctx, "no such campaign");
    const char *kind = httpd_req_query(api_ctx_req(ctx), "kind");
    const char *p[4];
    int64_t id, after;
    bool ok = kind == NULL;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 100, 1000, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    for (size_t i = 0; !ok && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        ok = strcmp(kind, kinds[i]) == 0;
    }
    if (!ok) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "kind is one of created, state_change, settings_change, list_attached, "
                  "list_detached, note",
                  "?kind");
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = rest_i64(ctx, after);
    p[2] = rest_i64(ctx, o->limit + 1);
    p[3] = kind;
    return rest_run_page(
        ctx, o, p, "SELECT count(*) FROM campaigns WHERE id = $1::bigint", 1,
        "SELECT e.id, json_build_object('id', e.id, 'at', e.at, 'kind', e.kind,"
        " 'from_state', e.from_state, 'to_state', e.to_state, 'actor', e.actor,"
        " 'reason', e.reason, 'detail', e.detail)"
        " FROM campaign_events e WHERE e.campaign_id = $1::bigint AND e.id > $2::bigint"
        " AND ($4::text IS NULL OR e.kind = $4) ORDER BY e.id LIMIT $3::bigint",
        4);
}

/* --------------------------------------------------------------- lists */

#define CLIST_JSON                                                                      \
    "json_build_object('list_id', cl.list_id, 'name', l.name, 'priority', cl.priority," \
    " 'active', cl.active, 'added_at', cl.added_at,"                                    \
    " 'contacts', (SELECT count(*) FROM contacts k WHERE k.list_id = cl.list_id),"      \
    " 'pending', (SELECT count(*) FROM contacts k WHERE k.list_id = cl.list_id"         \
    "  AND k.state IN ('pending', 'leased', 'dialing')))"

static int h_list_attach(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "priority", .type = API_F_INT, .min = -1000, .max = 1000 },
        { .name = "active", .type = API_F_BOOL },
    };
    struct camp_out *o = camp_out_new(ctx);
    const char *p[4];
    size_t len = 0;
    json_t *body = NULL;
    int64_t id, list;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_path_id(ctx, "list_id", &list) != 0) {
        return HTTPD_DONE;
    }
    httpd_req_body(api_ctx_req(ctx), &len);
    if (len > 0 && api_body_validate(ctx, fields, 2, &body) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = rest_i64(ctx, list);
    p[2] = body != NULL ? jint(ctx, body, "priority") : NULL;
    p[3] = body != NULL ? rest_jbool(body, "active") : NULL;
    o->attach = true;
    return run_one(
        ctx,
        "WITH c AS (SELECT id, state FROM campaigns WHERE id = $1::bigint FOR UPDATE),"
        " l AS (SELECT id, name FROM contact_lists WHERE id = $2::bigint),"
        " other AS (SELECT campaign_id FROM campaign_lists WHERE list_id = $2::bigint),"
        " chk AS (SELECT CASE"
        "  WHEN NOT EXISTS (SELECT 1 FROM c) THEN 'campaign'"
        "  WHEN NOT EXISTS (SELECT 1 FROM l) THEN 'list'"
        "  WHEN (SELECT state FROM c) IN ('completed', 'stopped') THEN 'final'"
        "  WHEN EXISTS (SELECT 1 FROM other WHERE campaign_id <> $1::bigint) THEN 'taken'"
        "  ELSE 'ok' END AS verdict),"
        " cl AS (INSERT INTO campaign_lists (tenant_id, campaign_id, list_id, priority, active)"
        "  SELECT app_tenant_id(), $1::bigint, $2::bigint, coalesce($3::int, 0),"
        "  coalesce($4::bool, true) FROM chk WHERE chk.verdict = 'ok'"
        "  ON CONFLICT (campaign_id, list_id) DO UPDATE"
        "  SET priority = coalesce($3::int, campaign_lists.priority),"
        "  active = coalesce($4::bool, campaign_lists.active)"
        "  RETURNING (xmax = 0) AS inserted, *),"
        " ev AS (INSERT INTO campaign_events (tenant_id, campaign_id, kind, detail)"
        "  SELECT cl.tenant_id, cl.campaign_id, 'list_attached',"
        "  json_build_object('list_id', cl.list_id, 'priority', cl.priority, 'active', cl.active)"
        "  FROM cl RETURNING 1)"
        " SELECT (SELECT verdict FROM chk), (SELECT " CLIST_JSON " FROM cl, l),"
        " NULL, (SELECT state FROM c),"
        " coalesce((SELECT CASE WHEN inserted THEN 'created' END FROM cl),"
        "  (SELECT campaign_id::text FROM other WHERE campaign_id <> $1::bigint LIMIT 1))"
        " FROM (SELECT count(*) FROM ev) e",
        4, p, o);
}

static int h_list_detach(struct api_ctx *ctx, void *arg)
{
    struct camp_out *o = camp_out_new(ctx);
    const char *p[2];
    int64_t id, list;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_path_id(ctx, "list_id", &list) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = rest_i64(ctx, list);
    o->status = HTTPD_STATUS_NO_CONTENT;
    return run_one(
        ctx,
        "WITH c AS (SELECT id, state FROM campaigns WHERE id = $1::bigint FOR UPDATE),"
        " chk AS (SELECT CASE"
        "  WHEN NOT EXISTS (SELECT 1 FROM c) THEN 'campaign'"
        "  WHEN NOT EXISTS (SELECT 1 FROM campaign_lists WHERE campaign_id = $1::bigint"
        "   AND list_id = $2::bigint) THEN 'list'"
        "  WHEN (SELECT state FROM c) IN ('completed', 'stopped') THEN 'final'"
        "  WHEN (SELECT state FROM c) = 'running' THEN 'running'"
        "  ELSE 'ok' END AS verdict),"
        " d AS (DELETE FROM campaign_lists cl USING chk WHERE cl.campaign_id = $1::bigint"
        "  AND cl.list_id = $2::bigint AND chk.verdict = 'ok' RETURNING cl.*),"
        " ev AS (INSERT INTO campaign_events (tenant_id, campaign_id, kind, detail)"
        "  SELECT d.tenant_id, d.campaign_id, 'list_detached', json_build_object('list_id',"
        "  d.list_id) FROM d RETURNING 1)"
        " SELECT (SELECT verdict FROM chk), NULL, NULL, (SELECT state FROM c)"
        " FROM (SELECT count(*) FROM ev) e",
        2, p, o);
}

static int h_lists(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_child_page(ctx, "no such campaign",
                           "SELECT count(*) FROM campaigns WHERE id = $1::bigint",
                           "SELECT cl.list_id, " CLIST_JSON " FROM campaign_lists cl"
                           " JOIN contact_lists l ON l.id = cl.list_id"
                           " WHERE cl.campaign_id = $1::bigint AND cl.list_id > $2::bigint"
                           " ORDER BY cl.list_id LIMIT $3::bigint");
}

/* ------------------------------------------------------- registration */

int api_campaigns_routes(struct api *a)
{
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_page,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/campaigns",
          .perm = API_PERM_CAMPAIGNS_WRITE,
          .handler = h_create,
          .flags = API_ROUTE_IDEMPOTENT },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_get,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_PATCH,
          .pattern = "/api/v1/campaigns/{id}",
          .perm = API_PERM_CAMPAIGNS_WRITE,
          .handler = h_patch },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/campaigns/{id}",
          .perm = API_PERM_CAMPAIGNS_WRITE,
          .handler = h_delete,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}/history",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_history,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}/lists",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_lists,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/campaigns/{id}/lists/{list_id}",
          .perm = API_PERM_CAMPAIGNS_WRITE,
          .handler = h_list_attach },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/campaigns/{id}/lists/{list_id}",
          .perm = API_PERM_CAMPAIGNS_WRITE,
          .handler = h_list_detach,
          .flags = API_ROUTE_NO_BODY },
    };
    char pattern[64];
    int rc;

    rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        snprintf(pattern, sizeof(pattern), "/api/v1/campaigns/{id}/%s", verbs[i].name);
        const struct api_route r = { .methods = HTTPD_POST,
                                     .pattern = pattern,
                                     .perm = API_PERM_CAMPAIGNS_CONTROL,
                                     .handler = h_transition,
                                     .arg = (void *)&verbs[i] };
        rc = api_route_add(a, &r);
        if (rc != 0) {
            return rc;
        }
    }
    rc = api__contact_callback_routes(a);
    if (rc != 0) {
        return rc;
    }
    return api__campaign_calls_routes(a);
}
