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
 *   - When the in-memory checks allow the call, the frequency caps are
 *     peeked in Redis (compliance_caps_peek: checked, nothing recorded) with
 *     the caps the law attaches to the number's place (Florida, Oklahoma,
 *     Maryland); the answer says caps_checked true. Without Redis on the
 *     httpd thread, or when Redis does not answer, the answer is the
 *     in-memory verdict with caps_checked false and caps_error set: the
 *     route reports, it does not fail closed (the dialer does).
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
#include "core/kv.h"

struct api_compliance {
    struct api *api;
    struct compliance_dnc *dnc;
    struct compliance_caps *caps; /* on the api's Redis connection (httpd thread), lazily */
};

/* Epoch seconds or RFC 3339 -> epoch microseconds. 0 or ERR_PARSE. */
struct check {
    struct api_compliance *C;
    const char *number;
    int64_t at_us;
    int64_t campaign;
    int64_t found;
    uint64_t handle; /* the request, for the cap peek's answer */
    struct compliance_decision d;
};

static void respond(struct api_ctx *ctx, struct check *c, bool caps_checked, const char *caps_err)
{
    json_t *out = NULL;

    if (compliance_decision_audit_json(c->number, &c->d, c->at_us, &out) != 0) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return;
    }
    json_object_set_new(out, "allowed", json_boolean(c->d.verdict == COMPLIANCE_ALLOW));
    json_object_set_new(out, "caps_checked", json_boolean(caps_checked));
    if (caps_err != NULL) {
        json_object_set_new(out, "caps_error", json_string(caps_err));
    }
    api_respond_json(ctx, HTTPD_STATUS_OK, out, NULL);
}

/* The cap peek's answer (httpd thread; the request may be gone). */
static void peeked(const struct compliance_cap_result *r, void *arg)
{
    struct check *c = arg;
    struct api_ctx *ctx = api_ctx_lookup(c->C->api, c->handle);

    if (ctx == NULL) {
        free(c);
        return;
    }
    if (r->outcome == COMPLIANCE_CAP_BLOCKED) {
        c->d.verdict = COMPLIANCE_BLOCK;
        c->d.reason = COMPLIANCE_REASON_CAP;
        c->d.cap_rule = r->rule;
        c->d.rule_id = r->rule != NULL ? r->rule->id : "cap";
        c->d.next_eligible_us = r->next_eligible_us;
        c->d.caps_checked = 1;
        respond(ctx, c, true, NULL);
    } else if (r->outcome == COMPLIANCE_CAP_UNAVAILABLE) {
        respond(ctx, c, false, "the frequency-cap store did not answer");
    } else {
        c->d.caps_checked = 1;
        respond(ctx, c, true, NULL);
    }
    free(c);
}

/* The caps the law attaches to the place, peeked in Redis. 0 (peeked answers) or an error. */
static int peek_caps(struct api_ctx *ctx, struct check *c)
{
    const struct compliance_cap_rule *rules[COMPLIANCE_CAP_MAX_RULES];
    size_t n;
    struct kv_conn *kv = api_kv(c->C->api);
    struct check *heap;

    if (kv == NULL) {
        return ERR_DISCONNECTED;
    }
    if (c->C->caps == NULL && compliance_caps_create(kv, NULL, &c->C->caps) != 0) {
        return ERR_NOMEM;
    }
    n = compliance_cap_rules_for_place(&c->d.place, rules, COMPLIANCE_CAP_MAX_RULES);
    if (n > COMPLIANCE_CAP_MAX_RULES) {
        n = COMPLIANCE_CAP_MAX_RULES;
    }
    heap = malloc(sizeof(*heap)); /* outlives the request if the client leaves */
    if (heap == NULL) {
        return ERR_NOMEM;
    }
    *heap = *c;
    heap->handle = api_ctx_handle(ctx);
    int rc = compliance_caps_peek(c->C->caps, api_ctx_principal(ctx)->tenant_id, c->number, rules,
                                  n, c->at_us, peeked, heap);
    if (rc != 0) {
        free(heap);
    }
    return rc;
}

/* Answers now, or returns HTTPD_DEFERRED when the caps are being peeked. */
static int answer(struct api_ctx *ctx, struct check *c)
{
    struct compliance_campaign cp = { .tenant_id = api_ctx_principal(ctx)->tenant_id,
                                      .campaign_id = c->campaign };

    if (compliance_decide_local(c->C->dnc, &cp, c->number, NULL, c->at_us, &c->d) != 0) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return HTTPD_DONE;
    }
    if (c->d.verdict == COMPLIANCE_ALLOW) {
        int rc = peek_caps(ctx, c);
        if (rc == 0) {
            return HTTPD_DEFERRED;
        }
        respond(ctx, c, false, "the frequency-cap store is not available");
        return HTTPD_DONE;
    }
    respond(ctx, c, false, NULL);
    return HTTPD_DONE;
}

static void campaign_done(struct api_ctx *ctx, int status, void *arg)
{
    struct check *c = arg;
    if (status != 0) {
        api_error_db(ctx, status);
    } else if (c->found == 0) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", "?campaign");
    } else {
        (void)answer(ctx, c);
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
        return answer(ctx, c);
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
    C->api = a;
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
    if (C != NULL) {
        compliance_caps_destroy(C->caps);
    }
    free(C);
}
