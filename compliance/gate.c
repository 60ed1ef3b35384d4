/* SPDX-License-Identifier: MIT */
/*
 * gate: the scheduler's one question (compliance.h, "The scheduler's
 * question"): validity, DNC, national list age, calling window, caps.
 *
 * Order. A DNC hit or a stale list blocks whatever the hour, and waiting does
 * not help (next_eligible 0), so they are named before the window. The window
 * is still evaluated for every valid number, so the audit record always has
 * the local time and the window's own next moment. Caps come last because
 * they cost a Redis round trip and record the attempt.
 *
 * The stale-list rule: for a number of the US or its territories the
 * national (FTC) list must be loaded and fresh (TSR 310.4(b)(3)(iv): a
 * version no more than 31 days old); for other countries a national list is
 * checked for age only when one is loaded. A campaign may set
 * allow_stale_list (its risk; the default refuses).
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "compliance/compliance_int.h"
#include "core/clock.h"
#include "core/counter.h"
#include "core/err.h"

static const char *const reason_names[COMPLIANCE_REASON_COUNT_] = {
    [COMPLIANCE_REASON_NONE] = "allowed",
    [COMPLIANCE_REASON_INVALID_NUMBER] = "invalid-number",
    [COMPLIANCE_REASON_DNC] = "dnc",
    [COMPLIANCE_REASON_DNC_LIST_STALE] = "dnc-list-stale",
    [COMPLIANCE_REASON_DNC_LIST_MISSING] = "dnc-list-missing",
    [COMPLIANCE_REASON_WINDOW] = "window",
    [COMPLIANCE_REASON_CAP] = "cap",
    [COMPLIANCE_REASON_CAP_UNAVAILABLE] = "cap-unavailable",
};

/* clang-format off */
static struct counter blocked[COMPLIANCE_REASON_COUNT_] = {
    [COMPLIANCE_REASON_NONE] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"allowed\"}", "Dial decisions that allowed the call"),
    [COMPLIANCE_REASON_INVALID_NUMBER] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"invalid-number\"}", "Blocked: invalid number"),
    [COMPLIANCE_REASON_DNC] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"dnc\"}", "Blocked: on a DNC list"),
    [COMPLIANCE_REASON_DNC_LIST_STALE] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"dnc-list-stale\"}", "Blocked: national list stale"),
    [COMPLIANCE_REASON_DNC_LIST_MISSING] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"dnc-list-missing\"}", "Blocked: no national list"),
    [COMPLIANCE_REASON_WINDOW] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"window\"}", "Blocked: calling window"),
    [COMPLIANCE_REASON_CAP] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"cap\"}", "Blocked: frequency cap"),
    [COMPLIANCE_REASON_CAP_UNAVAILABLE] = COUNTER_INIT(COUNTER_KIND_COUNTER,
        "compliance_decisions_total{result=\"cap-unavailable\"}",
        "Blocked: cap store unavailable (fail closed)"),
};
/* clang-format on */

static atomic_bool registered;

static void count(enum compliance_reason r)
{
    /* acq_rel: the first caller registers; registration itself is idempotent */
    if (!atomic_exchange_explicit(&registered, true, memory_order_acq_rel)) {
        for (int i = 0; i < COMPLIANCE_REASON_COUNT_; i++) {
            counter_register(&blocked[i]);
        }
    }
    counter_inc(&blocked[r]);
}

const char *compliance_reason_name(enum compliance_reason r)
{
    return (unsigned)r < COMPLIANCE_REASON_COUNT_ ? reason_names[r] : "unknown";
}

static void block(struct compliance_decision *d, enum compliance_reason r, const char *rule,
                  int64_t next)
{
    d->verdict = COMPLIANCE_BLOCK;
    d->reason = r;
    d->rule_id = rule;
    d->next_eligible_us = next;
}

static const char *dnc_rule(enum compliance_dnc_scope s)
{
    switch (s) {
    case COMPLIANCE_DNC_NATIONAL:
        return "dnc-national";
    case COMPLIANCE_DNC_TENANT:
        return "dnc-tenant";
    default:
        return "dnc-campaign";
    }
}

/* The warning threshold does not change a verdict; 7 days is the metric's. */
#define AGE_WARN_DAYS 7

int compliance_decide_local(struct compliance_dnc *dnc, const struct compliance_campaign *cp,
                            const char *e164, const struct compliance_place *place, int64_t now_us,
                            struct compliance_decision *out)
{
    static const struct compliance_campaign defaults;
    if (e164 == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (cp == NULL) {
        cp = &defaults;
    }
    memset(out, 0, sizeof(*out));
    out->verdict = COMPLIANCE_ALLOW;
    out->next_eligible_us = now_us;
    out->list_age.state = COMPLIANCE_LIST_FRESH;
    out->list_age.age_s = -1;
    uint64_t key;
    if (compliance_dnc_key(e164, &key) != 0) {
        block(out, COMPLIANCE_REASON_INVALID_NUMBER, "invalid-number", 0);
        count(out->reason);
        return 0;
    }
    if (place != NULL) {
        out->place = *place;
    } else if (compliance_locate(e164, &out->place) != 0) {
        block(out, COMPLIANCE_REASON_INVALID_NUMBER, "invalid-number", 0);
        count(out->reason);
        return 0;
    }
    /* the window first in time (cheap, and the audit wants it), named later */
    (void)compliance_window_check(&out->place, &cp->window, now_us, &out->window);
    out->window_checked = 1;

    const char *country = out->place.country;
    if (dnc != NULL) {
        int rc =
            compliance_dnc_check(dnc, e164, country, cp->tenant_id, cp->campaign_id, &out->dnc);
        out->dnc_checked = 1;
        if (rc == 1) {
            block(out, COMPLIANCE_REASON_DNC, dnc_rule(out->dnc.scope), 0);
            count(out->reason);
            return 0;
        }
        if (rc < 0) { /* ERR_BUSY: cannot tell, so do not dial */
            block(out, COMPLIANCE_REASON_DNC_LIST_MISSING, "dnc-unavailable", 0);
            count(out->reason);
            return 0;
        }
        compliance_dnc_national_age(dnc, country, now_us, AGE_WARN_DAYS, &out->list_age);
    } else {
        out->list_age.state = COMPLIANCE_LIST_MISSING;
    }
    bool us = country[0] == '\0' || compliance__country_is_us(country);
    if (!cp->allow_stale_list) {
        if (out->list_age.state == COMPLIANCE_LIST_STALE) {
            block(out, COMPLIANCE_REASON_DNC_LIST_STALE, "dnc-list-stale", 0);
            count(out->reason);
            return 0;
        }
        if (out->list_age.state == COMPLIANCE_LIST_MISSING && us) {
            block(out, COMPLIANCE_REASON_DNC_LIST_MISSING, "dnc-list-missing", 0);
            count(out->reason);
            return 0;
        }
    }
    if (out->window.verdict != COMPLIANCE_ALLOW) {
        block(out, COMPLIANCE_REASON_WINDOW,
              out->window.rule != NULL ? out->window.rule->id : "window",
              out->window.next_eligible_us);
        count(out->reason);
        return 0;
    }
    out->rule_id = out->window.rule != NULL ? out->window.rule->id : "window";
    return 0;
}

struct pending {
    struct compliance_decision d;
    compliance_decision_cb *cb;
    void *arg;
};

static void on_caps(const struct compliance_cap_result *r, void *arg)
{
    struct pending *p = arg;
    p->d.caps_checked = 1;
    switch (r->outcome) {
    case COMPLIANCE_CAP_OK:
        memcpy(p->d.reservation, r->reservation, sizeof(p->d.reservation));
        break;
    case COMPLIANCE_CAP_BLOCKED:
        p->d.cap_rule = r->rule;
        p->d.cap_count = r->count;
        p->d.cap_event_us = r->event_us;
        block(&p->d, COMPLIANCE_REASON_CAP, r->rule != NULL ? r->rule->id : "cap",
              r->next_eligible_us);
        break;
    default:
        block(&p->d, COMPLIANCE_REASON_CAP_UNAVAILABLE, "cap-unavailable", 0);
        break;
    }
    count(p->d.reason);
    p->cb(&p->d, p->arg);
    free(p);
}

int compliance_decide(struct compliance_dnc *dnc, struct compliance_caps *caps,
                      const struct compliance_campaign *cp, const char *e164,
                      const struct compliance_place *place, int64_t now_us,
                      struct compliance_decision *out, compliance_decision_cb *cb, void *arg)
{
    const struct compliance_cap_rule *rules[COMPLIANCE_CAP_MAX_RULES];
    size_t n = 0;
    int rc;
    if (caps == NULL || cb == NULL || out == NULL) {
        return ERR_INVAL;
    }
    rc = compliance_decide_local(dnc, cp, e164, place, now_us, out);
    if (rc != 0 || out->verdict == COMPLIANCE_BLOCK) {
        return rc;
    }
    for (size_t i = 0; cp != NULL && i < cp->ncap_rules && n < COMPLIANCE_CAP_MAX_RULES; i++) {
        rules[n++] = cp->cap_rules[i];
    }
    n += compliance_cap_rules_for_place(&out->place, rules + n, COMPLIANCE_CAP_MAX_RULES - n);
    n = n > COMPLIANCE_CAP_MAX_RULES ? COMPLIANCE_CAP_MAX_RULES : n;
    struct pending *p = malloc(sizeof(*p));
    if (p == NULL) {
        return ERR_NOMEM;
    }
    p->d = *out;
    p->cb = cb;
    p->arg = arg;
    rc = compliance_caps_reserve(caps, cp != NULL ? cp->tenant_id : 0, e164, rules, n, now_us,
                                 on_caps, p);
    if (rc != 0) {
        free(p);
        block(out, COMPLIANCE_REASON_CAP_UNAVAILABLE, "cap-unavailable", 0);
        count(out->reason);
        return rc;
    }
    return ERR_AGAIN;
}

static const char *scope_name(enum compliance_dnc_scope s)
{
    return s == COMPLIANCE_DNC_NATIONAL ? "national"
           : s == COMPLIANCE_DNC_TENANT ? "tenant"
                                        : "campaign";
}

static const char *match_name(enum compliance_dnc_match m)
{
    return m == COMPLIANCE_DNC_MATCH_NUMBER      ? "number"
           : m == COMPLIANCE_DNC_MATCH_AREA_CODE ? "area-code"
                                                 : "exchange";
}

static const char *age_name(enum compliance_list_age_state s)
{
    static const char *const n[] = { "fresh", "warning", "stale", "missing" };
    return (unsigned)s < 4 ? n[s] : "unknown";
}

/* The cap rule that blocked: its id and source, window, limit and the count (rolling) or the
 * event and its time (lockout). NULL on ERR_NOMEM. */
static json_t *cap_json(const struct compliance_decision *d)
{
    const struct compliance_cap_rule *r = d->cap_rule;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "rule", r->id, "source", r->source, "kind",
                          r->kind == COMPLIANCE_CAP_RULE_ROLLING ? "rolling" : "lockout",
                          "window_s", (json_int_t)r->period_s);
    int bad = o == NULL;
    if (!bad && r->kind == COMPLIANCE_CAP_RULE_ROLLING) {
        bad |= json_object_set_new(o, "limit", json_integer(r->max_calls));
        bad |= json_object_set_new(o, "count", json_integer(d->cap_count));
    } else if (!bad) {
        char at[40] = "";
        if (d->cap_event_us > 0) {
            clock_format_utc(d->cap_event_us, at, sizeof(at));
        }
        bad |= json_object_set_new(o, "event", json_string(r->event != NULL ? r->event : ""));
        bad |= json_object_set_new(o, "event_at", at[0] != '\0' ? json_string(at) : json_null());
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Place and legal window of e164 at now_us, without counting a decision. */
static int locate_only(const char *e164, int64_t now_us, struct compliance_decision *out)
{
    uint64_t key;
    memset(out, 0, sizeof(*out));
    out->list_age.age_s = -1;
    if (compliance_dnc_key(e164, &key) != 0 || compliance_locate(e164, &out->place) != 0) {
        block(out, COMPLIANCE_REASON_INVALID_NUMBER, "invalid-number", 0);
        return ERR_INVAL;
    }
    (void)compliance_window_check(&out->place, NULL, now_us, &out->window);
    out->window_checked = 1;
    return 0;
}

int compliance_decision_campaign_window(const char *e164, const char *zone, int64_t now_us,
                                        int64_t next_us, struct compliance_decision *out)
{
    uint16_t id;
    struct compliance_local local;
    if (e164 == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (locate_only(e164, now_us, out) != 0) {
        return ERR_INVAL;
    }
    if (zone != NULL && zone[0] != '\0' && compliance_zone_id(zone, &id) == 0 &&
        compliance_tz_to_local(id, now_us, &local) == 0) {
        out->window.zone = id; /* the zone the schedule was evaluated in */
        out->window.local = local;
    }
    out->window.verdict = COMPLIANCE_BLOCK;
    out->window.rule = &compliance__rules[COMPLIANCE__R_CAMPAIGN];
    out->window.next_eligible_us = next_us;
    block(out, COMPLIANCE_REASON_WINDOW, out->window.rule->id, next_us);
    return 0;
}

int compliance_decision_from_caps(const char *e164, const struct compliance_cap_result *r,
                                  int64_t now_us, struct compliance_decision *out)
{
    if (e164 == NULL || r == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (locate_only(e164, now_us, out) != 0) {
        return ERR_INVAL;
    }
    out->caps_checked = 1;
    if (r->outcome == COMPLIANCE_CAP_BLOCKED) {
        out->cap_rule = r->rule;
        out->cap_count = r->count;
        out->cap_event_us = r->event_us;
        block(out, COMPLIANCE_REASON_CAP, r->rule != NULL ? r->rule->id : "cap",
              r->next_eligible_us);
    } else if (r->outcome == COMPLIANCE_CAP_UNAVAILABLE) {
        block(out, COMPLIANCE_REASON_CAP_UNAVAILABLE, "cap-unavailable", 0);
    } else {
        out->verdict = COMPLIANCE_ALLOW;
        out->next_eligible_us = now_us;
    }
    return 0;
}

int compliance_decision_audit_json(const char *e164, const struct compliance_decision *d,
                                   int64_t now_us, struct json_t **out)
{
    json_t *o = NULL;
    char buf[40];
    int rc;
    if (e164 == NULL || d == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (d->window_checked && d->window.rule != NULL) {
        rc = compliance_audit_json(e164, &d->place, &d->window, now_us, &o);
        if (rc != 0) {
            return rc;
        }
    } else {
        /* an invalid number: no place, no window; the number is not echoed */
        clock_format_utc(now_us, buf, sizeof(buf));
        o = json_pack("{s:s, s:s}", "number", "(invalid)", "time", buf);
        if (o == NULL) {
            return ERR_NOMEM;
        }
    }
    json_t *nexte = json_null();
    if (d->next_eligible_us != 0) {
        clock_format_utc(d->next_eligible_us, buf, sizeof(buf));
        nexte = json_string(buf);
    }
    int bad = json_object_set_new(o, "verdict",
                                  json_string(d->verdict == COMPLIANCE_ALLOW ? "allow" : "block"));
    bad |= json_object_set_new(o, "reason", json_string(compliance_reason_name(d->reason)));
    bad |= json_object_set_new(o, "decided_by", json_string(d->rule_id != NULL ? d->rule_id : ""));
    bad |= json_object_set_new(o, "next_eligible", nexte);
    if (d->reason == COMPLIANCE_REASON_DNC) {
        char date[40] = "";
        if (d->dnc.list_date_us != 0) {
            clock_format_utc(d->dnc.list_date_us, date, sizeof(date));
        }
        bad |= json_object_set_new(o, "dnc",
                                   json_pack("{s:s, s:I, s:s, s:s, s:s}", "scope",
                                             scope_name(d->dnc.scope), "list_id",
                                             (json_int_t)d->dnc.list_id, "list", d->dnc.list_name,
                                             "match", match_name(d->dnc.match), "list_date", date));
    }
    if (d->dnc_checked) {
        bad |= json_object_set_new(o, "list_age",
                                   json_pack("{s:s, s:I}", "state", age_name(d->list_age.state),
                                             "age_s", (json_int_t)d->list_age.age_s));
    }
    if (d->cap_rule != NULL) {
        bad |= json_object_set_new(o, "cap", cap_json(d));
    }
    if (bad != 0) {
        json_decref(o);
        return ERR_NOMEM;
    }
    *out = o;
    return 0;
}
