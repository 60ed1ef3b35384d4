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
 *
 * GET /api/v1/campaigns/{id}/stats/minutes?from=&to= serves the per-minute
 * rollups (campaign_metrics_minute, summed over nodes) for charts and
 * reports: by default the last hour; at most a day per request (1,440
 * points); the window is [from, to), times in epoch seconds or RFC 3339.
 * Minutes no node counted in are absent (a chart draws them as zero).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/api_int.h"
#include "api/api_rest.h"
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

/* ------------------------------------------------------------ rollups */

#define MINUTES_DEFAULT_S INT64_C(3600)
#define MINUTES_MAX_S     INT64_C(86400)

/* The rollup columns, in the order of the query and the JSON. */
static const char *const minute_cols[] = {
    "attempts",
    "answered",
    "human",
    "machine",
    "busy",
    "no_answer",
    "failed",
    "abandoned",
    "ended",
    "talk_ms",
    "handle_ms",
    "blocked_dnc",
    "blocked_window",
    "blocked_cap",
    "ringing",
    "in_progress",
    "contacts_remaining",
};
#define MINUTE_NCOLS (sizeof(minute_cols) / sizeof(minute_cols[0]))

struct minutes_req {
    struct httpd_req *req;
    int64_t id, from_s, to_s;
    bool found;
    int nrows;
    int64_t *v; /* nrows x (1 + MINUTE_NCOLS), in the request's arena */
};

static int minutes_exists(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct minutes_req *m = arg;
    (void)ctx;
    m->found = PQntuples(res) == 1;
    return 0;
}

/* Copies the figures into the request's arena: the JSON is built in done,
 * which does not run when the client has gone (nothing to free then). */
static int minutes_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct minutes_req *m = arg;
    int nr = PQntuples(res);
    (void)ctx;

    if (PQnfields(res) != (int)MINUTE_NCOLS + 1) {
        return ERR_DB;
    }
    m->v = arena_alloc(httpd_req_arena(m->req),
                       (size_t)(nr > 0 ? nr : 1) * (1 + MINUTE_NCOLS) * sizeof(int64_t));
    if (m->v == NULL) {
        return ERR_NOMEM;
    }
    for (int r = 0; r < nr; r++) {
        for (size_t c = 0; c <= MINUTE_NCOLS; c++) {
            m->v[(size_t)r * (1 + MINUTE_NCOLS) + c] =
                strtoll(PQgetvalue(res, r, (int)c), NULL, 10);
        }
    }
    m->nrows = nr;
    return 0;
}

static void minutes_done(struct api_ctx *ctx, int status, void *arg)
{
    struct minutes_req *m = arg;
    json_t *rows;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (!m->found) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", NULL);
        return;
    }
    rows = json_array();
    for (int r = 0; r < m->nrows && rows != NULL; r++) {
        const int64_t *v = &m->v[(size_t)r * (1 + MINUTE_NCOLS)];
        json_t *o = json_object();
        char iso[32];
        time_t t = (time_t)v[0];
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(o, "minute", json_string(iso));
        for (size_t c = 0; c < MINUTE_NCOLS; c++) {
            json_object_set_new(o, minute_cols[c], json_integer(v[c + 1]));
        }
        json_array_append_new(rows, o);
    }
    api_respond_json(ctx, HTTPD_STATUS_OK,
                     json_pack("{s:I,s:I,s:I,s:o}", "campaign_id", (json_int_t)m->id, "from",
                               (json_int_t)m->from_s, "to", (json_int_t)m->to_s, "minutes", rows),
                     NULL);
}

static int h_minutes(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "from", "to", NULL };
    struct httpd_req *req = api_ctx_req(ctx);
    struct minutes_req *m = arena_calloc(httpd_req_arena(req), sizeof(*m));
    const char *from = httpd_req_query(req, "from");
    const char *to = httpd_req_query(req, "to");
    int64_t from_us = 0, to_us = 0;
    char sql[1024];
    size_t n = 0;
    int rc;
    (void)arg;

    if (m == NULL) {
        return ERR_NOMEM;
    }
    m->req = req;
    if (api_path_id(ctx, "id", &m->id) != 0 || api_query_allow(ctx, allowed) != 0) {
        return HTTPD_DONE;
    }
    if (to != NULL && api_parse_time(to, &to_us) != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "to is epoch seconds or RFC 3339 (2026-11-24T21:30:00Z)", "?to");
        return HTTPD_DONE;
    }
    if (from != NULL && api_parse_time(from, &from_us) != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "from is epoch seconds or RFC 3339 (2026-11-24T20:30:00Z)", "?from");
        return HTTPD_DONE;
    }
    m->to_s = to != NULL ? to_us / CLOCK_US_PER_SEC : clock_wall_us() / CLOCK_US_PER_SEC + 60;
    m->from_s = from != NULL ? from_us / CLOCK_US_PER_SEC : m->to_s - MINUTES_DEFAULT_S;
    if (m->from_s >= m->to_s) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "from must be before to",
                  "?from");
        return HTTPD_DONE;
    }
    if (m->to_s - m->from_s > MINUTES_MAX_S) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "at most one day (1,440 minutes) per request", "?from");
        return HTTPD_DONE;
    }
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, "SELECT extract(epoch FROM minute)::bigint");
    for (size_t c = 0; c < MINUTE_NCOLS && n < sizeof(sql); c++) {
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", sum(%s)", minute_cols[c]);
    }
    if (n < sizeof(sql)) {
        snprintf(sql + n, sizeof(sql) - n,
                 " FROM campaign_metrics_minute WHERE campaign_id = $1::bigint"
                 " AND minute >= to_timestamp($2::bigint) AND minute < to_timestamp($3::bigint)"
                 " GROUP BY minute ORDER BY minute");
    }
    const char *params[3] = {
        api_ctx_printf(ctx, "%lld", (long long)m->id),
        api_ctx_printf(ctx, "%lld", (long long)m->from_s),
        api_ctx_printf(ctx, "%lld", (long long)m->to_s),
    };
    if (params[0] == NULL || params[1] == NULL || params[2] == NULL) {
        return ERR_NOMEM;
    }
    struct api_stmt st[2] = {
        { .sql = "SELECT 1 FROM campaigns WHERE id = $1::bigint",
          .nparams = 1,
          .params = params,
          .rows = minutes_exists,
          .arg = m },
        { .sql = api_ctx_printf(ctx, "%s", sql),
          .nparams = 3,
          .params = params,
          .rows = minutes_rows,
          .arg = m },
    };
    rc = api_db_run(ctx, API_SCOPE_TENANT, st, 2, minutes_done, m);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api_dash_routes(struct api *a, struct dash *d)
{
    const struct api_route r[2] = {
        {
            .methods = HTTPD_GET,
            .pattern = "/api/v1/campaigns/{id}/stats",
            .perm = API_PERM_CAMPAIGNS_READ,
            .handler = h_stats,
            .arg = d,
            .flags = API_ROUTE_NO_BODY,
        },
        {
            .methods = HTTPD_GET,
            .pattern = "/api/v1/campaigns/{id}/stats/minutes",
            .perm = API_PERM_CAMPAIGNS_READ,
            .handler = h_minutes,
            .flags = API_ROUTE_NO_BODY,
        },
    };

    return api__routes_add(a, r, sizeof(r) / sizeof(r[0]));
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
