/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/compliance/check?number=&at=&campaign=: "may this number be
 * called at that time, and if not, why and when next?" over
 * compliance_decide_local() and compliance_decision_audit_json() (the same
 * record the dialer stores with each decision; the number masked).
 *
 * Decisions:
 *   - at is epoch seconds or RFC 3339 ("2026-11-24T21:30:00Z", with Z or a
 *     +HH:MM offset); default now (core/clock).
 *   - The frequency caps are not peeked (caps_checked false in the answer):
 *     dialerd has no cap store on the httpd thread yet.
 *   - campaign, when given, must be the tenant's (404 otherwise); its own
 *     calling window is not applied yet (the campaign settings reader is in
 *     the campaign module), so the legal windows decide.
 *   - The DNC store is the one dialerd passes (NULL: none loaded, so a US
 *     number is blocked as "dnc-list-missing", which is what the dialer would
 *     do too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_rest.h"
#include "compliance/compliance.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"

struct api_compliance {
    struct compliance_dnc *dnc;
};

/* Epoch seconds or RFC 3339 -> epoch microseconds. 0 or ERR_PARSE. */
struct check {
    struct api_compliance *C;
    const char *number;
    int64_t at_us;
    int64_t campaign;
    int64_t found;
};

static void answer(struct api_ctx *ctx, struct check *c)
{
    struct compliance_campaign cp = { .tenant_id = api_ctx_principal(ctx)->tenant_id,
                                      .campaign_id = c->campaign };
    struct compliance_decision d;
    json_t *out = NULL;

    if (compliance_decide_local(c->C->dnc, &cp, c->number, NULL, c->at_us, &d) != 0 ||
        compliance_decision_audit_json(c->number, &d, c->at_us, &out) != 0) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return;
    }
    json_object_set_new(out, "allowed", json_boolean(d.verdict == COMPLIANCE_ALLOW));
    json_object_set_new(out, "caps_checked", json_false());
    api_respond_json(ctx, HTTPD_STATUS_OK, out, NULL);
}

static void campaign_done(struct api_ctx *ctx, int status, void *arg)
{
    struct check *c = arg;
    if (status != 0) {
        api_error_db(ctx, status);
    } else if (c->found == 0) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", "?campaign");
    } else {
        answer(ctx, c);
    }
}

static int campaign_row(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct check *c = arg;
    (void)ctx;
    c->found = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    return 0;
}

static int h_check(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "number", "at", "campaign", NULL };
    struct httpd_req *req = api_ctx_req(ctx);
    struct check *c = arena_calloc(httpd_req_arena(req), sizeof(*c));
    const char *number = httpd_req_query(req, "number");
    const char *at = httpd_req_query(req, "at");
    const char *camp = httpd_req_query(req, "campaign");
    size_t n;

    if (c == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0) {
        return HTTPD_DONE;
    }
    n = number != NULL ? strlen(number) : 0;
    if (n < 3 || n > 16 || number[0] != '+' || strspn(number + 1, "0123456789") != n - 1) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "number is required in E.164 form (+14155552671; encode + as %2B)", "?number");
        return HTTPD_DONE;
    }
    c->C = arg;
    c->number = number;
    c->at_us = clock_wall_us();
    if (at != NULL && api_parse_time(at, &c->at_us) != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "at is epoch seconds or RFC 3339 (2026-11-24T21:30:00Z)", "?at");
        return HTTPD_DONE;
    }
    if (camp == NULL) {
        answer(ctx, c);
        return HTTPD_DONE;
    }
    if (strspn(camp, "0123456789") != strlen(camp) || strlen(camp) == 0 || strlen(camp) > 18 ||
        (c->campaign = strtoll(camp, NULL, 10)) <= 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "campaign is a campaign id",
                  "?campaign");
        return HTTPD_DONE;
    }
    const char *params[1] = { camp };
    struct api_stmt st = { .sql = "SELECT count(*) FROM campaigns WHERE id = $1::bigint",
                           .nparams = 1,
                           .params = params,
                           .rows = campaign_row,
                           .arg = c };
    if (api_db_run(ctx, API_SCOPE_TENANT, &st, 1, campaign_done, c) != 0) {
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the database is unavailable; try again", NULL);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api_compliance_create(struct api *a, struct compliance_dnc *dnc, struct api_compliance **out)
{
    struct api_compliance *C = calloc(1, sizeof(*C));
    int rc;

    *out = NULL;
    if (C == NULL) {
        return ERR_NOMEM;
    }
    C->dnc = dnc;
    const struct api_route r = { .methods = HTTPD_GET,
                                 .pattern = "/api/v1/compliance/check",
                                 .perm = API_PERM_DNC_READ,
                                 .handler = h_check,
                                 .arg = C,
                                 .flags = API_ROUTE_NO_BODY };
    rc = api_route_add(a, &r);
    if (rc != 0) {
        free(C);
        return rc;
    }
    *out = C;
    return 0;
}

void api_compliance_destroy(struct api_compliance *C)
{
    free(C);
}
