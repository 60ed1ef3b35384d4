/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/compliance/check?number=&at=&campaign=&time_zone=&state=: "may this number be
 * called at that time, and if not, why and when next?" over
 * compliance_decide_local() and compliance_decision_audit_json() (the same
 * record the dialer stores with each decision; the number masked).
 *
 * Decisions:
 *   - time_zone (IANA zones, comma-separated) and state ("FL" or "US-FL"),
 *     when given, are what a contact list says about the contact: they win
 *     over the area code through compliance_contact_place(), the function
 *     the dialer applies to a contact's stored zone and state (400 naming
 *     the parameter when unknown); without them the area code decides
 *     (every zone of a prefix that spans several).
 *   - at is epoch seconds or RFC 3339 ("2026-11-24T21:30:00Z", with Z or a
 *     +HH:MM offset); default now (core/clock).
 *   - When the in-memory checks allow the call, the frequency caps are
 *     peeked in Redis (compliance_caps_peek: checked, nothing recorded) with
 *     the caps the law attaches to the number's place (Florida, Oklahoma,
 *     Maryland); the answer says caps_checked true. Without Redis on the
 *     httpd thread, or when Redis does not answer, the answer is the
 *     in-memory verdict with caps_checked false and caps_error set: the
 *     route reports, it does not fail closed (the dialer does).
 *   - campaign, when given, must be the tenant's (404 otherwise). Its
 *     settings add what the dialer applies for that campaign: its calling
 *     windows (campaign_schedule_check, in the number's first zone when the
 *     campaign uses the contact's time) and the frequency-cap rule sets it
 *     selects (compliance.cap_rules: "us-3-per-24h", "us-regf", "fr", "gb")
 *     on top of the caps of the number's place. Both come from the campaign
 *     module's own parse (campaign_settings_from_json, set.cap_sets), so the
 *     route and the dialer cannot disagree; a document that parse refuses
 *     leaves the legal windows alone in force, with no cap rule set (the
 *     answer's campaign.error names the field; the dialer does not dial such
 *     a campaign at all).
 *   - The next eligible time honours both: from `at`, the legal window and
 *     the campaign's window each move the candidate to their next opening
 *     until both allow it (at most 16 rounds; 0 when none is found).
 *   - The DNC store is the one dialerd passes (NULL: none loaded, so a US
 *     number is blocked as "dnc-list-missing", which is what the dialer would
 *     do too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_rest.h"
#include "campaign/campaign.h"
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
    struct compliance_place place; /* time_zone / state given: the contact's place */
    bool has_place;
    int64_t at_us;
    int64_t campaign;
    const char *camp_field; /* "?campaign" or "?campaign_id" */
    int64_t found;
    uint64_t handle; /* the request, for the cap peek's answer */
    struct compliance_decision d;
    /* the campaign's settings (campaign given) */
    bool set_ok;                  /* set parsed */
    bool camp_closed;             /* the campaign's own window blocked at at_us */
    int64_t camp_next_us;         /* its next opening (0: none found) */
    char set_field[96];           /* set_ok false: the field the parse named */
    struct campaign_settings set; /* set.cap_sets: compliance.cap_rules */
};

static void respond(struct api_ctx *ctx, struct check *c, bool caps_checked, const char *caps_err)
{
    json_t *out = NULL;

    if (compliance_decision_audit_json(c->number, &c->d, c->at_us, &out) != 0) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return;
    }
    json_object_set_new(out, "allowed", json_boolean(c->d.verdict == COMPLIANCE_ALLOW));
    if (c->campaign > 0) {
        json_t *cj =
            json_pack("{s:I, s:b}", "id", (json_int_t)c->campaign, "window_checked", c->set_ok);
        json_t *sets = json_array();
        for (int i = 0; c->set_ok && i < c->set.ncap_sets; i++) {
            json_array_append_new(sets, json_string(c->set.cap_sets[i]));
        }
        json_object_set_new(cj, "cap_rules", sets);
        if (c->set_ok) {
            json_object_set_new(cj, "window", json_string(c->camp_closed ? "closed" : "open"));
        } else {
            json_object_set_new(cj, "error",
                                json_pack("{s:s, s:s}", "field", c->set_field, "message",
                                          "campaign settings invalid"));
        }
        json_object_set_new(out, "campaign", cj);
    }
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
        c->d.cap_count = r->count;
        c->d.cap_event_us = r->event_us;
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

/* Adds the campaign's rule sets to rules[0..n), each rule once. Returns the new count. */
static size_t add_campaign_rules(const struct check *c, const struct compliance_cap_rule **rules,
                                 size_t n)
{
    for (int i = 0; c->set_ok && i < c->set.ncap_sets; i++) {
        size_t m = 0;
        const struct compliance_cap_rule *const *rs =
            compliance_cap_ruleset(c->set.cap_sets[i], &m);
        for (size_t k = 0; rs != NULL && k < m; k++) {
            bool dup = false;
            for (size_t j = 0; j < n; j++) {
                dup = dup || rules[j] == rs[k];
            }
            if (!dup && n < COMPLIANCE_CAP_MAX_RULES) {
                rules[n++] = rs[k];
            }
        }
    }
    return n;
}

/* The caps of the place and the campaign's rule sets, peeked in Redis. 0 (peeked answers) or an
 * error. */
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
    n = add_campaign_rules(c, rules, n);
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

/* The campaign's schedule at t in the number's zone: 1 open, 0 closed (*next: its next opening,
 * 0 none), as campaign_schedule_check. */
static int camp_open(const struct check *c, int64_t t, int64_t *next)
{
    const char *zone = c->d.place.nzones > 0 ? compliance_zone_name(c->d.place.zones[0]) : NULL;
    int64_t n = 0;
    int rc = campaign_schedule_check(&c->set, c->set.contact_time ? zone : NULL, t, &n);
    if (rc == ERR_NOTFOUND) {
        rc = campaign_schedule_check(&c->set, NULL, t, &n);
    }
    if (rc < 0) {
        rc = 1; /* no verdict from the schedule: the legal windows decide */
    }
    *next = rc == 0 && n != INT64_MAX ? n : 0;
    return rc;
}

/*
 * Applies the campaign's own window to the in-memory decision: blocked by it
 * when the law allows at at_us and the campaign does not; the next eligible
 * moment, for a window block of either kind, is the first at which both allow.
 */
static void campaign_window(struct check *c, const struct compliance_campaign *cp)
{
    int64_t next = 0;
    c->camp_closed = camp_open(c, c->at_us, &next) == 0;
    c->camp_next_us = next;
    bool window_block = c->d.verdict == COMPLIANCE_BLOCK && c->d.reason == COMPLIANCE_REASON_WINDOW;
    if (c->d.verdict == COMPLIANCE_ALLOW && c->camp_closed) {
        c->d.verdict = COMPLIANCE_BLOCK;
        c->d.reason = COMPLIANCE_REASON_WINDOW;
        c->d.rule_id = "campaign-window";
        window_block = true;
    }
    if (!window_block) {
        return;
    }
    /* the first moment both allow: each moves the candidate to its next opening */
    int64_t t = c->at_us;
    for (int round = 0; round < 16; round++) {
        struct compliance_verdict v;
        int64_t n = 0;
        if (camp_open(c, t, &n) == 0) {
            if (n <= t) {
                t = 0;
                break;
            }
            t = n;
        }
        if (compliance_window_check(&c->d.place, &cp->window, t, &v) != 0 ||
            (v.verdict == COMPLIANCE_BLOCK && v.next_eligible_us <= t)) {
            t = 0;
            break;
        }
        if (v.verdict == COMPLIANCE_ALLOW && camp_open(c, t, &n) != 0) {
            break;
        }
        if (v.verdict == COMPLIANCE_BLOCK) {
            t = v.next_eligible_us;
        }
        if (round == 15) {
            t = 0;
        }
    }
    c->d.next_eligible_us = t;
}

/* Answers now, or returns HTTPD_DEFERRED when the caps are being peeked. */
static int answer(struct api_ctx *ctx, struct check *c)
{
    struct compliance_campaign cp = { .tenant_id = api_ctx_principal(ctx)->tenant_id,
                                      .campaign_id = c->campaign };

    if (compliance_decide_local(c->C->dnc, &cp, c->number, c->has_place ? &c->place : NULL,
                                c->at_us, &c->d) != 0) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return HTTPD_DONE;
    }
    if (c->set_ok) {
        campaign_window(c, &cp);
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
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", c->camp_field);
    } else {
        (void)answer(ctx, c);
    }
}

/*
 * The settings the dialer applies, parsed by the campaign module itself
 * (campaign_settings_from_json): the windows and the cap rule sets
 * (set.cap_sets) are exactly the dialer's. A document it refuses leaves the
 * legal windows alone in force and names the field.
 */
static void read_settings(struct check *c, const char *text)
{
    struct campaign_error err = { 0 };
    json_t *doc = json_loads(text, 0, NULL);
    c->set_ok = false;
    snprintf(c->set_field, sizeof(c->set_field), "settings");
    if (doc == NULL) {
        return;
    }
    if (campaign_settings_from_json(doc, &c->set, &err) == 0) {
        c->set_ok = true;
    } else {
        snprintf(c->set_field, sizeof(c->set_field), "%s", err.field);
        c->set.ncap_sets = 0;
    }
    json_decref(doc);
}

static int campaign_row(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct check *c = arg;
    (void)ctx;
    c->found = PQntuples(res) == 1 ? 1 : 0;
    if (c->found) {
        read_settings(c, PQgetvalue(res, 0, 0));
    }
    return 0;
}

static int h_check(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "number",    "at",    "campaign", "campaign_id",
                                           "time_zone", "state", NULL };
    struct httpd_req *req = api_ctx_req(ctx);
    struct check *c = arena_calloc(httpd_req_arena(req), sizeof(*c));
    const char *number = httpd_req_query(req, "number");
    const char *at = httpd_req_query(req, "at");
    const char *camp = httpd_req_query(req, "campaign");
    const char *camp_field = "?campaign";
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
    const char *tz = httpd_req_query(req, "time_zone");
    const char *state = httpd_req_query(req, "state");
    if ((tz != NULL && tz[0] != '\0') || (state != NULL && state[0] != '\0')) {
        /* the contact list's word, exactly as the dialer applies a contact's stored columns */
        int rc = compliance_contact_place(number, state, tz, "explicit", &c->place);
        if (rc == ERR_NOTFOUND) {
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                      "unknown time zone or state (an IANA zone such as America/Chicago, "
                      "several joined by commas; a two-letter state or province code)",
                      tz != NULL && tz[0] != '\0' ? "?time_zone" : "?state");
            return HTTPD_DONE;
        }
        c->has_place = rc == 0;
    }
    c->C = arg;
    c->number = number;
    c->at_us = clock_wall_us();
    if (at != NULL && api_parse_time(at, &c->at_us) != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "at is epoch seconds or RFC 3339 (2026-11-24T21:30:00Z)", "?at");
        return HTTPD_DONE;
    }
    if (camp == NULL && (camp = httpd_req_query(req, "campaign_id")) != NULL) {
        camp_field = "?campaign_id";
    }
    if (camp == NULL) {
        return answer(ctx, c);
    }
    if (strspn(camp, "0123456789") != strlen(camp) || strlen(camp) == 0 || strlen(camp) > 18 ||
        (c->campaign = strtoll(camp, NULL, 10)) <= 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "campaign is a campaign id",
                  camp_field);
        return HTTPD_DONE;
    }
    c->camp_field = camp_field;
    const char *params[1] = { camp };
    struct api_stmt st = { .sql = "SELECT settings::text FROM campaigns WHERE id = $1::bigint",
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

/*
 * GET /api/v1/compliance/decisions?campaign=&contact=&number=&rule=&before=&limit=:
 * the tenant's stored decision records, newest first (compliance_decisions:
 * the dialer writes one for every contact it skips, naming the rule in rule,
 * the facts in data_versions and the audit record in trace; see
 * compliance_recorder_add). rule is a rule ("window.us_tcpa_hours",
 * "cap.us_fl_3_per_24h"; '-' may be written for '_') or a family ("window",
 * "cap", "dnc": every rule under it). before is the last id of the previous
 * page; limit 1..1000 (100).
 */
struct decisions {
    char *text; /* the page as JSON text (request arena) */
};

static int decisions_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct decisions *q = arg;
    if (PQntuples(res) == 1) {
        q->text = arena_strdup(httpd_req_arena(api_ctx_req(ctx)), PQgetvalue(res, 0, 0));
    }
    return 0;
}

static void decisions_done(struct api_ctx *ctx, int status, void *arg)
{
    struct decisions *q = arg;
    json_t *items = q->text != NULL ? json_loads(q->text, 0, NULL) : NULL;
    if (status != 0) {
        json_decref(items);
        api_error_db(ctx, status);
        return;
    }
    if (!json_is_array(items)) {
        json_decref(items);
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return;
    }
    size_t n = json_array_size(items);
    json_t *last = n > 0 ? json_object_get(json_array_get(items, n - 1), "id") : NULL;
    api_respond_json(
        ctx, HTTPD_STATUS_OK,
        json_pack("{s:o, s:O}", "items", items, "next_before", last != NULL ? last : json_null()),
        NULL);
}

/* A positive integer query parameter (NULL when absent). 0, or -1 after answering 400. */
static int id_param(struct api_ctx *ctx, const char *name, const char **out)
{
    const char *v = httpd_req_query(api_ctx_req(ctx), name);
    char field[32];
    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    size_t n = strlen(v);
    if (n == 0 || n > 18 || strspn(v, "0123456789") != n || strtoll(v, NULL, 10) <= 0) {
        snprintf(field, sizeof(field), "?%s", name);
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "must be a positive integer",
                  field);
        return -1;
    }
    *out = v;
    return 0;
}

static int h_decisions(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "campaign", "contact", "number", "rule",
                                           "before",   "limit",   NULL };
    static const char sql[] =
        "SELECT coalesce(json_agg(d ORDER BY d.id DESC), '[]')::text FROM ("
        "SELECT id, campaign_id, contact_id, number, decided_at, verdict, rule, next_eligible_at, "
        "rules_version, data_versions, trace FROM compliance_decisions "
        "WHERE ($1::bigint IS NULL OR campaign_id = $1::bigint) "
        "AND ($2::bigint IS NULL OR contact_id = $2::bigint) "
        "AND ($3::text IS NULL OR number = $3::text) "
        "AND ($4::bigint IS NULL OR id < $4::bigint) "
        "AND ($6::text IS NULL OR rule = $6::text OR left(rule, length($6::text) + 1) = "
        "$6::text || '.') ORDER BY id DESC LIMIT $5::int) d";
    struct httpd_req *req = api_ctx_req(ctx);
    struct decisions *q = arena_calloc(httpd_req_arena(req), sizeof(*q));
    const char *p[6] = { NULL, NULL, NULL, NULL, "100", NULL };
    const char *number = httpd_req_query(req, "number");
    const char *rule = httpd_req_query(req, "rule");
    const char *limit = httpd_req_query(req, "limit");
    (void)arg;
    if (q == NULL) {
        return ERR_NOMEM;
    }
    if (api_query_allow(ctx, allowed) != 0 || id_param(ctx, "campaign", &p[0]) != 0 ||
        id_param(ctx, "contact", &p[1]) != 0 || id_param(ctx, "before", &p[3]) != 0) {
        return HTTPD_DONE;
    }
    if (number != NULL) {
        size_t n = strlen(number);
        if (n < 3 || n > 16 || number[0] != '+' || strspn(number + 1, "0123456789") != n - 1) {
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                      "number is E.164 (+14155552671; encode + as %2B)", "?number");
            return HTTPD_DONE;
        }
        p[2] = number;
    }
    if (rule != NULL) {
        size_t n = strlen(rule);
        char *r = arena_strdup(httpd_req_arena(req), rule);
        if (n == 0 || n > 64 || strspn(rule, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != n ||
            rule[0] == '.' || rule[n - 1] == '.') {
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                      "rule is a rule (window.us_tcpa_hours, cap.us_fl_3_per_24h) or a family "
                      "(dnc, window, cap): 1-64 characters of a-z, 0-9, _, - and .",
                      "?rule");
            return HTTPD_DONE;
        }
        if (r == NULL) {
            return ERR_NOMEM;
        }
        for (char *t = r; *t != '\0'; t++) {
            *t = *t == '-' ? '_' : *t; /* rule ids are stored with '_' */
        }
        p[5] = r;
    }
    if (limit != NULL) {
        size_t n = strlen(limit);
        long v = n > 0 && n <= 4 && strspn(limit, "0123456789") == n ? strtol(limit, NULL, 10) : 0;
        if (v < 1 || v > 1000) {
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", "limit is 1 to 1000",
                      "?limit");
            return HTTPD_DONE;
        }
        p[4] = limit;
    }
    const char **params = arena_calloc(httpd_req_arena(req), sizeof(p));
    if (params == NULL) {
        return ERR_NOMEM;
    }
    memcpy(params, p, sizeof(p));
    struct api_stmt st = {
        .sql = sql, .nparams = 6, .params = params, .rows = decisions_rows, .arg = q
    };
    if (api_db_run(ctx, API_SCOPE_TENANT, &st, 1, decisions_done, q) != 0) {
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "the database is unavailable; try again", NULL);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api_compliance_create(struct api *a, struct compliance_dnc *dnc, struct api_compliance **out)
{
    struct api_compliance *C = calloc(1, sizeof(*C));
    size_t before;
    int rc;

    *out = NULL;
    if (C == NULL) {
        return ERR_NOMEM;
    }
    C->api = a;
    C->dnc = dnc;
    before = api_route_count(a);
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/compliance/check",
          .perm = API_PERM_DNC_READ,
          .handler = h_check,
          .arg = C,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/compliance/decisions",
          .perm = API_PERM_DNC_READ,
          .handler = h_decisions,
          .arg = C,
          .flags = API_ROUTE_NO_BODY },
    };
    rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    if (rc != 0 && api_route_count(a) == before) {
        free(C); /* no route holds it */
        return rc;
    }
    *out = C; /* a route holds C: freed by api_compliance_destroy(), also on failure */
    return rc;
}

void api_compliance_destroy(struct api_compliance *C)
{
    if (C != NULL) {
        compliance_caps_destroy(C->caps);
    }
    free(C);
}
