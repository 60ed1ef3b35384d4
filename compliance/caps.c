/* SPDX-License-Identifier: MIT */
/*
 * caps: per-number frequency caps enforced in Redis (compliance.h,
 * "Frequency caps in Redis").
 *
 * Data per tenant and number (one Redis hash slot: the braces):
 *   <prefix>att:{T:+E164}  sorted set: one member per attempt, score = time
 *                          in ms; trimmed to the longest window on each
 *                          reserve, expires with it
 *   <prefix>ev:{T:+E164}   hash: event name -> last time in ms
 *
 * The reserve script checks the rules in order and returns the first that
 * blocks with the moment it will allow again; otherwise it adds the attempt.
 * Redis runs a script atomically, so concurrent reserves from any number of
 * nodes are serialised: the cap is never exceeded.
 *
 * Decisions where the rules are silent (docs/compliance.md):
 *   - France's "4 a month" is enforced as 4 in any 30 days, which is stricter
 *     than a calendar month (a calendar month allows 4 on the 31st and 4
 *     more on the 1st).
 *   - Windows are rolling and counted in milliseconds: an attempt at t
 *     counts until t + period (exclusive).
 *   - Every reserved attempt counts, answered or not: the rules count calls
 *     placed, not calls answered.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "compliance/compliance.h"
#include "core/clock.h"
#include "core/counter.h"
#include "core/err.h"
#include "core/kv.h"

#define DAY_S INT64_C(86400)

static const struct compliance_cap_rule r_fl = { "us-fl-3-per-24h",
                                                 COMPLIANCE_CAP_RULE_ROLLING,
                                                 3,
                                                 DAY_S,
                                                 NULL,
                                                 "Fla. Stat. 501.616(6)(b) (SB 1120, 2021)" };
static const struct compliance_cap_rule r_ok = {
    "us-ok-3-per-24h", COMPLIANCE_CAP_RULE_ROLLING, 3, DAY_S, NULL, "15 O.S. 775C.4 (secondary)"
};
static const struct compliance_cap_rule r_md = {
    "us-md-3-per-24h",
    COMPLIANCE_CAP_RULE_ROLLING,
    3,
    DAY_S,
    NULL,
    "Maryland Stop the Spam Calls Act of 2023 (secondary)"
};
static const struct compliance_cap_rule r_3_24 = {
    "3-per-24h", COMPLIANCE_CAP_RULE_ROLLING,
    3,           DAY_S,
    NULL,        "campaign policy (the FL/OK/MD cap applied to every number)"
};
static const struct compliance_cap_rule r_regf_7 = { "us-regf-7-in-7",
                                                     COMPLIANCE_CAP_RULE_ROLLING,
                                                     7,
                                                     7 * DAY_S,
                                                     NULL,
                                                     "12 CFR 1006.14(b)(2)(i)(A) (secondary)" };
static const struct compliance_cap_rule r_regf_conv = { "us-regf-7-days-after-conversation",
                                                        COMPLIANCE_CAP_RULE_LOCKOUT,
                                                        0,
                                                        7 * DAY_S,
                                                        "conversation",
                                                        "12 CFR 1006.14(b)(2)(i)(B) (secondary)" };
static const struct compliance_cap_rule r_fr_4 = {
    "fr-4-per-30d",
    COMPLIANCE_CAP_RULE_ROLLING,
    4,
    30 * DAY_S,
    NULL,
    "Décret n° 2022-1313 (4 per month; enforced as any 30 days)"
};
static const struct compliance_cap_rule r_fr_refusal = {
    "fr-60d-after-refusal", COMPLIANCE_CAP_RULE_LOCKOUT, 0, 60 * DAY_S, "refusal",
    "Décret n° 2022-1313"
};
static const struct compliance_cap_rule r_gb_abandon = {
    "gb-72h-after-abandon",
    COMPLIANCE_CAP_RULE_LOCKOUT,
    0,
    3 * DAY_S,
    "abandon",
    "Ofcom 2010 statement on abandoned and silent calls (secondary)"
};
static const struct compliance_cap_rule r_gb_machine = {
    "gb-24h-after-amd",
    COMPLIANCE_CAP_RULE_LOCKOUT,
    0,
    DAY_S,
    "machine",
    "Ofcom 2010 statement (secondary): a repeat within 24 h after AMD needs a guaranteed agent"
};

static const struct compliance_cap_rule *const set_3_24[] = { &r_3_24 };
static const struct compliance_cap_rule *const set_regf[] = { &r_regf_7, &r_regf_conv };
static const struct compliance_cap_rule *const set_fr[] = { &r_fr_4, &r_fr_refusal };
static const struct compliance_cap_rule *const set_gb[] = { &r_gb_abandon, &r_gb_machine };

static const struct {
    const char *id;
    const struct compliance_cap_rule *const *rules;
    size_t n;
} sets[] = {
    { "us-3-per-24h", set_3_24, 1 },
    { "us-regf", set_regf, 2 },
    { "fr", set_fr, 2 },
    { "gb", set_gb, 2 },
};

const struct compliance_cap_rule *const *compliance_cap_ruleset(const char *id, size_t *n)
{
    for (size_t i = 0; id != NULL && i < sizeof(sets) / sizeof(sets[0]); i++) {
        if (strcmp(sets[i].id, id) == 0) {
            *n = sets[i].n;
            return sets[i].rules;
        }
    }
    *n = 0;
    return NULL;
}

size_t compliance_cap_rules_for_place(const struct compliance_place *place,
                                      const struct compliance_cap_rule **out, size_t max)
{
    static const struct {
        const char *region;
        const struct compliance_cap_rule *rule;
    } by_state[] = { { "FL", &r_fl }, { "OK", &r_ok }, { "MD", &r_md } };

    size_t n = 0;
    if (place == NULL || strcmp(place->country, "US") != 0) {
        return 0;
    }
    for (size_t r = 0; r < place->nregions; r++) {
        for (size_t i = 0; i < sizeof(by_state) / sizeof(by_state[0]); i++) {
            if (strcmp(place->regions[r], by_state[i].region) == 0) {
                if (n < max) {
                    out[n] = by_state[i].rule;
                }
                n++;
            }
        }
    }
    return n;
}

/* ---- scripts ---------------------------------------------------------------- */

/* KEYS: attempts, events. ARGV: now_ms, member, keep_ms, nrules, record
 * ("1": add the attempt when allowed; "0": only check), then per rule kind
 * ('r'/'l'), period_ms, max or event. Returns {1,0,0} (allowed, recorded if
 * asked) or {0, rule (1-based), next_ms, what}: what is the attempts counted
 * in the rule's window (rolling) or the event's time in ms (lockout). */
static const char reserve_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "local keep = tonumber(ARGV[3])\n"
    "local n = tonumber(ARGV[4])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - keep)\n"
    "local i = 6\n"
    "for r = 1, n do\n"
    "  local kind, period, arg = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]\n"
    "  if kind == 'r' then\n"
    "    local max = tonumber(arg)\n"
    "    local cnt = redis.call('ZCOUNT', KEYS[1], now - period + 1, '+inf')\n"
    "    if cnt >= max then\n"
    "      local old = redis.call('ZRANGEBYSCORE', KEYS[1], now - period + 1, '+inf',\n"
    "                             'WITHSCORES', 'LIMIT', cnt - max, 1)\n"
    "      return {0, r, tonumber(old[2]) + period, cnt}\n"
    "    end\n"
    "  else\n"
    "    local t = redis.call('HGET', KEYS[2], arg)\n"
    "    if t and tonumber(t) + period > now then\n"
    "      return {0, r, tonumber(t) + period, tonumber(t)}\n"
    "    end\n"
    "  end\n"
    "  i = i + 3\n"
    "end\n"
    "if ARGV[5] == '1' then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[2])\n"
    "  if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end\n"
    "end\n"
    "return {1, 0, 0}\n";

/* KEYS: events. ARGV: event, at_ms, keep_ms. Keeps the later time. */
static const char event_lua[] = "local t = redis.call('HGET', KEYS[1], ARGV[1])\n"
                                "if not t or tonumber(t) < tonumber(ARGV[2]) then\n"
                                "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
                                "end\n"
                                "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then\n"
                                "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
                                "end\n"
                                "return 1\n";

struct compliance_caps {
    struct kv_conn *kv;
    struct kv_script *reserve, *event;
    char prefix[32];
    uint64_t node; /* random: reservation ids of two nodes never collide */
    uint64_t next_id;
};

struct req {
    compliance_caps_cb *cb;
    void *arg;
    size_t nrules;
    const struct compliance_cap_rule *rules[COMPLIANCE_CAP_MAX_RULES];
    char member[40]; /* "" for a peek */
};

static struct counter c_unavailable =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "compliance_caps_unavailable_total",
                 "Frequency-cap checks that failed closed because Redis did not answer");
static struct counter c_blocked = COUNTER_INIT(
    COUNTER_KIND_COUNTER, "compliance_caps_blocked_total", "Attempts a frequency cap refused");
static struct counter c_reserved = COUNTER_INIT(
    COUNTER_KIND_COUNTER, "compliance_caps_reserved_total", "Attempts recorded by the cap check");

int compliance_caps_create(struct kv_conn *kv, const char *prefix, struct compliance_caps **out)
{
    struct compliance_caps *c;
    if (kv == NULL || out == NULL || (prefix != NULL && strlen(prefix) >= sizeof(c->prefix))) {
        return ERR_INVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->kv = kv;
    if (getrandom(&c->node, sizeof(c->node), 0) != (ssize_t)sizeof(c->node)) {
        c->node = (uint64_t)(uintptr_t)c ^ (uint64_t)clock_wall_us();
    }
    snprintf(c->prefix, sizeof(c->prefix), "%s", prefix != NULL ? prefix : "cmp:");
    if (kv_script_create(kv, reserve_lua, sizeof(reserve_lua) - 1, &c->reserve) != 0 ||
        kv_script_create(kv, event_lua, sizeof(event_lua) - 1, &c->event) != 0) {
        free(c); /* scripts belong to kv and are freed with it */
        return ERR_NOMEM;
    }
    counter_register(&c_unavailable);
    counter_register(&c_blocked);
    counter_register(&c_reserved);
    *out = c;
    return 0;
}

void compliance_caps_destroy(struct compliance_caps *c)
{
    free(c);
}

static int valid_number(const char *e164)
{
    uint64_t key;
    return compliance_dnc_key(e164, &key) == 0;
}

static void key_of(const struct compliance_caps *c, const char *kind, int64_t tenant,
                   const char *e164, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s:{%" PRId64 ":%s}", c->prefix, kind, tenant, e164);
}

static void on_reserve(int status, redisReply *r, void *arg)
{
    struct req *q = arg;
    struct compliance_cap_result res;
    memset(&res, 0, sizeof(res));
    if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->elements > 4 ||
                        r->element[0]->type != REDIS_REPLY_INTEGER)) {
        status = ERR_PROTO;
    }
    if (status != 0) {
        res.outcome = COMPLIANCE_CAP_UNAVAILABLE;
        res.status = status;
        counter_inc(&c_unavailable);
    } else if (r->element[0]->integer == 1) {
        res.outcome = COMPLIANCE_CAP_OK;
        snprintf(res.reservation, sizeof(res.reservation), "%s", q->member);
        if (q->member[0] != '\0') {
            counter_inc(&c_reserved);
        }
    } else {
        long long idx = r->element[1]->integer;
        res.outcome = COMPLIANCE_CAP_BLOCKED;
        res.rule = idx >= 1 && (size_t)idx <= q->nrules ? q->rules[idx - 1] : NULL;
        res.next_eligible_us = (int64_t)r->element[2]->integer * 1000;
        long long what = r->elements == 4 && r->element[3]->type == REDIS_REPLY_INTEGER
                             ? r->element[3]->integer
                             : 0;
        if (res.rule != NULL && res.rule->kind == COMPLIANCE_CAP_RULE_ROLLING) {
            res.count = what > 0 && what < UINT32_MAX ? (uint32_t)what : 0;
        } else if (res.rule != NULL) {
            res.event_us = (int64_t)what * 1000;
        }
        counter_inc(&c_blocked);
    }
    q->cb(&res, q->arg);
    free(q);
}

static int cap_call(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                    const struct compliance_cap_rule *const *rules, size_t nrules, int64_t now_us,
                    int record, compliance_caps_cb *cb, void *arg)
{
    enum { FIXED = 7 };

    char katt[96], kev[96], now_s[24], keep_s[24], n_s[8];
    char per[COMPLIANCE_CAP_MAX_RULES][2][24];
    const char *argv[FIXED + 3 * COMPLIANCE_CAP_MAX_RULES];
    int64_t keep_ms = 1000;
    struct req *q;
    int rc;

    if (c == NULL || cb == NULL || e164 == NULL || !valid_number(e164) ||
        nrules > COMPLIANCE_CAP_MAX_RULES || (nrules > 0 && rules == NULL)) {
        return ERR_INVAL;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return ERR_NOMEM;
    }
    q->cb = cb;
    q->arg = arg;
    q->nrules = nrules;
    int64_t now_ms = now_us / 1000;
    snprintf(q->member, sizeof(q->member), "%" PRId64 ":%016" PRIx64 ":%" PRIu64, now_ms, c->node,
             ++c->next_id);
    const char *member = q->member;
    if (!record) {
        q->member[0] = '\0'; /* nothing to release */
        member = "-";
    }
    key_of(c, "att", tenant_id, e164, katt, sizeof(katt));
    key_of(c, "ev", tenant_id, e164, kev, sizeof(kev));
    argv[0] = katt;
    argv[1] = kev;
    for (size_t i = 0; i < nrules; i++) {
        const struct compliance_cap_rule *r = rules[i];
        q->rules[i] = r;
        int64_t pms = r->period_s * 1000;
        keep_ms = pms > keep_ms ? pms : keep_ms;
        snprintf(per[i][0], sizeof(per[i][0]), "%" PRId64, pms);
        if (r->kind == COMPLIANCE_CAP_RULE_ROLLING) {
            snprintf(per[i][1], sizeof(per[i][1]), "%" PRIu32, r->max_calls);
        } else {
            snprintf(per[i][1], sizeof(per[i][1]), "%s", r->event != NULL ? r->event : "");
        }
        argv[FIXED + 3 * i] = r->kind == COMPLIANCE_CAP_RULE_ROLLING ? "r" : "l";
        argv[FIXED + 3 * i + 1] = per[i][0];
        argv[FIXED + 3 * i + 2] = per[i][1];
    }
    snprintf(now_s, sizeof(now_s), "%" PRId64, now_ms);
    snprintf(keep_s, sizeof(keep_s), "%" PRId64, keep_ms);
    snprintf(n_s, sizeof(n_s), "%zu", nrules);
    argv[2] = now_s;
    argv[3] = member;
    argv[4] = keep_s;
    argv[5] = n_s;
    argv[6] = record ? "1" : "0";
    rc = kv_script_call(c->reserve, 2, FIXED + 3 * (int)nrules, argv, NULL, on_reserve, q, NULL);
    if (rc != 0) {
        free(q);
        counter_inc(&c_unavailable);
    }
    return rc;
}

int compliance_caps_reserve(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                            const struct compliance_cap_rule *const *rules, size_t nrules,
                            int64_t now_us, compliance_caps_cb *cb, void *arg)
{
    return cap_call(c, tenant_id, e164, rules, nrules, now_us, 1, cb, arg);
}

int compliance_caps_peek(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                         const struct compliance_cap_rule *const *rules, size_t nrules,
                         int64_t now_us, compliance_caps_cb *cb, void *arg)
{
    return cap_call(c, tenant_id, e164, rules, nrules, now_us, 0, cb, arg);
}

static void on_ignore(int status, redisReply *r, void *arg)
{
    (void)status;
    (void)r;
    (void)arg;
}

int compliance_caps_release(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                            const char *reservation)
{
    char katt[96];
    if (c == NULL || e164 == NULL || reservation == NULL || !valid_number(e164)) {
        return ERR_INVAL;
    }
    key_of(c, "att", tenant_id, e164, katt, sizeof(katt));
    const char *argv[3] = { "ZREM", katt, reservation };
    return kv_cmd_send(c->kv, 3, argv, NULL, on_ignore, NULL, NULL);
}

int compliance_caps_record_event(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                                 const char *event, int64_t at_us, int64_t keep_s)
{
    char kev[96], at[24], keep[24];
    if (c == NULL || e164 == NULL || event == NULL || event[0] == '\0' || keep_s <= 0 ||
        !valid_number(e164)) {
        return ERR_INVAL;
    }
    key_of(c, "ev", tenant_id, e164, kev, sizeof(kev));
    snprintf(at, sizeof(at), "%" PRId64, at_us / 1000);
    snprintf(keep, sizeof(keep), "%" PRId64, keep_s * 1000);
    const char *argv[4] = { kev, event, at, keep };
    return kv_script_call(c->event, 1, 4, argv, NULL, on_ignore, NULL, NULL);
}
