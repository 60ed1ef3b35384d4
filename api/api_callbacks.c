/* SPDX-License-Identifier: MIT */
/*
 * POST /api/v1/contacts/{id}/callback {at, number?, note?}: a contact asks
 * to be called back at a time. Routes and decisions in docs/api.md
 * ("Callbacks").
 *
 * Decisions:
 *   - One route by contact id (contacts have global ids; a list is dialed by
 *     one campaign at a time, so the campaign is the one the contact's list
 *     is attached to). A contact whose list is attached to no campaign is
 *     409; a completed or stopped campaign is 409 (final).
 *   - The callback takes the scheduler's callback path, the one a flow's
 *     flow.callback_at takes: the contact becomes pending, due at `at`
 *     (next_attempt_at = callback_at = at, block_reason "callback"); when it
 *     is due, a node leases it and the verdict applies the calling windows,
 *     DNC and frequency caps as for any attempt (a callback set outside a
 *     window waits for the window's opening). `number` must be the contact's
 *     number or one of its alternates (next_number points at it): the API
 *     does not dial numbers that were never imported and scrubbed.
 *   - The campaign's settings decide as for a flow's callback
 *     (campaign_callback_check's rules: callbacks.enabled, at most
 *     callbacks.max_days ahead), checked in the same statement under the
 *     row lock. `at` in the past or not a time is 400 naming $.at (checked
 *     before the database); callbacks disabled is 422 $.at; too far ahead
 *     400 $.at.
 *   - A contact leased or being dialed by a node is 409 (try again after
 *     the call); dnc and excluded contacts are 409 (never dialed).
 *     done/failed contacts are reopened: a person asking to be called back
 *     is a new reason to call.
 *   - The request is recorded in the campaign's history (kind "note", who,
 *     the note as reason, the contact, time and number index in detail).
 *   - Another tenant's contact is 404 (row-level security hides it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_campaigns.h"
#include "api/api_rest.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"

struct cb_out {
    bool found;
    int64_t contact_id;
    char verdict[16];
    int64_t campaign_id;
    int number_idx;
    char number[20];
    const char *at_text;
};

static int cb_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct cb_out *o = arg;
    (void)ctx;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        return 0;
    }
    o->found = true;
    snprintf(o->verdict, sizeof(o->verdict), "%s", PQgetvalue(res, 0, 0));
    o->campaign_id = PQgetisnull(res, 0, 1) ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    o->number_idx = PQgetisnull(res, 0, 2) ? 0 : (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(o->number, sizeof(o->number), "%s", PQgetvalue(res, 0, 3));
    return 0;
}

static void cb_done(struct api_ctx *ctx, int status, void *arg)
{
    struct cb_out *o = arg;
    const char *v = o->verdict;
    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (!o->found) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such contact", NULL);
    } else if (strcmp(v, "ok") == 0) {
        json_t *j =
            json_pack("{s:I, s:I, s:s, s:s, s:i, s:s}", "contact_id", (json_int_t)o->contact_id,
                      "campaign_id", (json_int_t)o->campaign_id, "callback_at", o->at_text,
                      "number", o->number, "number_index", o->number_idx, "state", "pending");
        if (j == NULL) {
            api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "out of memory", NULL);
            return;
        }
        api_respond_json(ctx, HTTPD_STATUS_OK, j, NULL);
    } else if (strcmp(v, "nocampaign") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the contact's list is not attached to a campaign: no one would call back", NULL);
    } else if (strcmp(v, "final") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the contact's campaign is completed or stopped: it dials no more", NULL);
    } else if (strcmp(v, "disabled") == 0) {
        rest_invalid(ctx, "invalid_field", "$.at",
                     "callbacks are not enabled for this campaign (settings callbacks.enabled)");
    } else if (strcmp(v, "far") == 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_field",
                  "at is further ahead than the campaign's callbacks.max_days", "$.at");
    } else if (strcmp(v, "past") == 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_field", "at must be in the future",
                  "$.at");
    } else if (strcmp(v, "number") == 0) {
        rest_invalid(ctx, "invalid_field", "$.number",
                     "number must be the contact's number or one of its alternate numbers");
    } else if (strcmp(v, "busy") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the contact is being dialed now; set the callback after the call", NULL);
    } else if (strcmp(v, "dnc") == 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the contact is on a do-not-call list or excluded: it is never dialed", NULL);
    } else {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "unexpected result", NULL);
    }
}

/* E.164: '+' and 7 to 15 digits, the first not 0. */
static bool e164_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 8 && n <= 16 && s[0] == '+' && s[1] >= '1' && s[1] <= '9' &&
           strspn(s + 1, "0123456789") == n - 1;
}

static int h_callback(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "at", .type = API_F_STRING, .required = true, .min = 1, .max = 64 },
        { .name = "number", .type = API_F_STRING, .nullable = true, .min = 1, .max = 16 },
        { .name = "note", .type = API_F_STRING, .nullable = true, .min = 1, .max = 500 },
    };
    struct cb_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    json_t *body = NULL;
    int64_t id, at_us;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    if (api_body_validate(ctx, fields, 3, &body) != 0) {
        return HTTPD_DONE;
    }
    const char *at = rest_jstr(body, "at");
    const char *number = rest_jstr(body, "number");
    if (at == NULL || api_parse_time(at, &at_us) != 0) {
        return api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_field",
                         "at must be an RFC 3339 time (2026-11-25T15:30:00Z) or epoch seconds",
                         "$.at");
    }
    if (at_us <= clock_wall_us()) {
        return api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_field", "at must be in the future",
                         "$.at");
    }
    if (number != NULL && !e164_ok(number)) {
        return api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_field",
                         "number must be E.164 (+ and 7 to 15 digits)", "$.number");
    }
    o->at_text = at;
    o->contact_id = id;
    const char *p[5] = { rest_i64(ctx, id), rest_i64(ctx, at_us), number, rest_jstr(body, "note"),
                         api_ctx_actor(ctx) };
    struct api_stmt st[1] = {
        { .sql =
              "WITH k AS (SELECT c.id, c.state, c.number, c.alt_numbers, c.list_id, c.tenant_id"
              "  FROM contacts c WHERE c.id = $1::bigint FOR UPDATE),"
              " cp AS (SELECT p.id, p.state, p.settings FROM k JOIN campaign_lists cl"
              "  ON cl.list_id = k.list_id JOIN campaigns p ON p.id = cl.campaign_id),"
              " t AS (SELECT to_timestamp($2::bigint / 1000000.0) AS at),"
              " idx AS (SELECT CASE WHEN $3::text IS NULL OR $3::text = k.number::text THEN 0"
              "  ELSE array_position(k.alt_numbers::text[], $3::text) END AS i FROM k),"
              " chk AS (SELECT CASE"
              "  WHEN NOT EXISTS (SELECT 1 FROM cp) THEN 'nocampaign'"
              "  WHEN (SELECT state FROM cp) IN ('completed', 'stopped') THEN 'final'"
              "  WHEN NOT coalesce((SELECT (settings->'callbacks'->>'enabled')::boolean FROM cp),"
              "   false) THEN 'disabled'"
              "  WHEN (SELECT at FROM t) <= now() THEN 'past'"
              "  WHEN (SELECT at FROM t) > now() + coalesce((SELECT (settings->'callbacks'"
              "   ->>'max_days')::int FROM cp), 30) * interval '1 day' THEN 'far'"
              "  WHEN (SELECT i FROM idx) IS NULL THEN 'number'"
              "  WHEN k.state IN ('leased', 'dialing') THEN 'busy'"
              "  WHEN k.state IN ('dnc', 'excluded') THEN 'dnc'"
              "  ELSE 'ok' END AS v FROM k),"
              " u AS (UPDATE contacts c SET state = 'pending', next_attempt_at = t.at,"
              "  callback_at = t.at, block_reason = 'callback', next_number = idx.i"
              "  FROM chk, t, idx WHERE c.id = $1::bigint AND chk.v = 'ok' RETURNING c.id),"
              " e AS (INSERT INTO campaign_events (tenant_id, campaign_id, kind, reason, detail)"
              "  SELECT k.tenant_id, cp.id, 'note', coalesce($4::text, 'callback requested'),"
              "  json_build_object('callback', json_build_object('contact_id', k.id, 'at', t.at,"
              "  'number_index', idx.i, 'by', $5::text))"
              "  FROM k, cp, t, idx, chk WHERE chk.v = 'ok' RETURNING id)"
              " SELECT (SELECT v FROM chk), (SELECT id FROM cp), (SELECT i FROM idx),"
              "  (SELECT CASE WHEN idx.i > 0 THEN (k.alt_numbers[idx.i])::text"
              "   ELSE k.number::text END FROM k, idx)",
          .nparams = 5,
          .params = p,
          .rows = cb_rows,
          .arg = o },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 1, cb_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api__contact_callback_routes(struct api *a)
{
    const struct api_route r = { .methods = HTTPD_POST,
                                 .pattern = "/api/v1/contacts/{id}/callback",
                                 .perm = API_PERM_CAMPAIGNS_CONTROL,
                                 .handler = h_callback };
    return api_route_add(a, &r);
}
