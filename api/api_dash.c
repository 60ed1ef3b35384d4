/* SPDX-License-Identifier: MIT */
/*
 * api/api_dash: GET /api/v1/campaigns/{id}/stats (the live figures of a
 * campaign, cluster-wide, from dashboards/) and the credential check the
 * /ws/v1/live WebSocket uses (api_token_verify).
 *
 * The stats route first reads the campaign row in a tenant-scoped
 * transaction, so another tenant's campaign is 404 like every other object
 * (row-level security hides it), then merges the row (name, state, cap) with
 * the live figures. A campaign no node has counted for answers zeros.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "dashboards/dashboards.h"

struct stats_req {
    struct dash *d;
    int64_t id;
    bool found;
    char name[256];
    char state[32];
    double cap_pct;
};

static int stats_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct stats_req *s = arg;
    (void)ctx;

    if (PQntuples(res) == 1 && PQnfields(res) == 3) {
        s->found = true;
        snprintf(s->name, sizeof(s->name), "%s", PQgetvalue(res, 0, 0));
        snprintf(s->state, sizeof(s->state), "%s", PQgetvalue(res, 0, 1));
        s->cap_pct = strtod(PQgetvalue(res, 0, 2), NULL);
    }
    return 0;
}

static void stats_done(struct api_ctx *ctx, int status, void *arg)
{
    struct stats_req *s = arg;
    const struct api_principal *p = api_ctx_principal(ctx);
    json_t *o;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (!s->found) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", NULL);
        return;
    }
    o = dash_view_campaign(s->d, p->tenant_id, s->id);
    if (o == NULL) {
        o = dash_campaign_json_empty(p->tenant_id, s->id);
        if (o != NULL) {
            json_object_set_new(o, "abandon_cap", json_real(s->cap_pct / 100.0));
        }
    }
    if (o == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "out of memory", NULL);
        return;
    }
    /* The campaign row is authoritative for the lifecycle until a producer reports one. */
    if (strcmp(json_string_value(json_object_get(o, "state")), "unknown") == 0) {
        json_object_set_new(o, "state", json_string(s->state));
    }
    json_object_set_new(o, "name", json_string(s->name));
    api_respond_json(ctx, HTTPD_STATUS_OK, o, NULL);
}

static int h_stats(struct api_ctx *ctx, void *arg)
{
    struct stats_req *s;
    const char *params[1];
    int rc;

    s = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*s));
    if (s == NULL) {
        return ERR_NOMEM;
    }
    s->d = arg;
    if (api_path_id(ctx, "id", &s->id) != 0) {
        return HTTPD_DONE;
    }
    params[0] = api_ctx_printf(ctx, "%lld", (long long)s->id);
    struct api_stmt st = {
        .sql = "SELECT name, state, abandon_cap_pct::text FROM campaigns WHERE id = $1",
        .nparams = 1,
        .params = params,
        .rows = stats_rows,
        .arg = s,
    };
    rc = api_db_run(ctx, API_SCOPE_TENANT, &st, 1, stats_done, s);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api_dash_routes(struct api *a, struct dash *d)
{
    const struct api_route r = {
        .methods = HTTPD_GET,
        .pattern = "/api/v1/campaigns/{id}/stats",
        .perm = API_PERM_CAMPAIGNS_READ,
        .handler = h_stats,
        .arg = d,
        .flags = API_ROUTE_NO_BODY,
    };
    return api_route_add(a, &r);
}

int api_token_verify(struct api *a, const char *token, struct api_principal *p)
{
    int64_t now_us = clock_wall_us();
    const struct api_principal *cached;

    if (a == NULL || token == NULL || p == NULL || token[0] == '\0') {
        return ERR_INVAL;
    }
    cached = api__cache_get(a, token, now_us);
    if (cached != NULL) {
        *p = *cached;
        return 0;
    }
    if (api__jwt_verify(a, token, now_us / CLOCK_US_PER_SEC, p) != 0) {
        return ERR_AUTH;
    }
    api__cache_put(a, token, p, now_us);
    return 0;
}
