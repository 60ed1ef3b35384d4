/* SPDX-License-Identifier: MIT */
/*
 * window: the calling-window verdict and the next eligible moment.
 *
 * A check builds a small context on the stack: the jurisdiction rows that
 * apply (US federal + each state of the place, or the country's row, or for
 * an unknown place the federal row and every state row at once) and the
 * campaign window. For one local date the context yields the allowed local
 * intervals of that day: the intersection of every row's hours, empty on a
 * banned weekday or holiday, cut to the campaign's days and hours.
 *
 * Next eligible moment. Within one span of a zone (the time between two
 * offset changes, compliance__tz_span()) local time is UTC plus a constant,
 * so the first allowed instant at or after t in that span is found on the
 * local time line: walk the local days from local(t), take the first allowed
 * interval that ends after local(t), map back by subtracting the offset; if
 * that lands past the span's end, continue from the next span. This is exact
 * across the skipped hour (an interval starting at 02:30 on a spring-forward
 * day begins at the transition) and the repeated hour (the second 01:30 is a
 * different span and is found too). A place with several zones must be
 * allowed in all of them: starting at now, each zone in turn moves t to its
 * own next allowed instant; when a full pass moves nothing, t is allowed
 * everywhere, and since no zone ever skips an instant allowed in it, t is
 * the earliest such instant. The search stops COMPLIANCE_HORIZON_DAYS ahead
 * and then reports 0 (none).
 *
 * Cost: for an allowed number, per zone one binary search over the zone's
 * transitions and one day's intervals (a holiday check only in the states
 * that have a calendar). A blocked number walks a few more days. Nothing is
 * allocated; zones are loaded on first use (compliance__tz_get()).
 *
 * Rule reported: a block names the part that blocks now in the first zone
 * that blocks: holidays before weekday bans before hours, state rows before
 * the federal row, the law before the campaign. An allow names the governing
 * hours rule (the state's row if it has one, else the federal or country
 * row). A place judged by the fallback always names the fallback rule.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "compliance/compliance_int.h"
#include "core/err.h"

#define MAX_PARTS 24
#define MAX_IVL   8
#define DAY_S     INT64_C(86400)
#define NEVER     INT64_MAX
#define MAX_LOOPS 4096
#define MEMO      4

struct ctx {
    const struct compliance__juris *parts[MAX_PARTS]; /* all must allow */
    unsigned nparts;
    const struct compliance_campaign_window *cw; /* NULL: no narrowing */
    uint16_t cw_start_s_min, cw_end_s_min;       /* campaign hours in minutes */
    const struct compliance_rule *governing;     /* named by an allow */
    int fallback;                                /* the fallback decides */

    /* The last few days' intervals: every zone of a place (and every pass of
     * the search) asks about the same two or three local dates. */
    struct {
        int64_t day;
        unsigned n;
        struct compliance__ivl ivl[MAX_IVL];
    } memo[MEMO];

    unsigned memo_next;
};

/* ---- day intervals --------------------------------------------------------- */

/* out = out ∩ {[a0,b0), [a1,b1)...} (both sorted, disjoint). */
static unsigned intersect(struct compliance__ivl *out, unsigned n,
                          const struct compliance__ivl *with, unsigned m)
{
    struct compliance__ivl res[MAX_IVL];
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < m && k < MAX_IVL; j++) {
            int32_t a = out[i].start > with[j].start ? out[i].start : with[j].start;
            int32_t b = out[i].end < with[j].end ? out[i].end : with[j].end;
            if (a < b) {
                res[k].start = a;
                res[k].end = b;
                k++;
            }
        }
    }
    /* Only the k entries written above are copied. */
    /* cppcheck-suppress uninitvar */
    memcpy(out, res, k * sizeof(*res));
    return k;
}

static unsigned hours_ivl(const struct compliance__day_hours *h, struct compliance__ivl *out)
{
    for (unsigned i = 0; i < h->n; i++) {
        out[i].start = h->start[i] * 60;
        out[i].end = h->end[i] * 60;
    }
    return h->n;
}

/* The allowed intervals of local day `day` (days since the epoch). */
static unsigned day_allowed(const struct ctx *c, int64_t day, struct compliance__ivl *out)
{
    int32_t y = 0;
    unsigned m = 0, d = 0, n = 1;
    int have_date = 0;
    unsigned wd = compliance__weekday(day);
    struct compliance__ivl tmp[2];

    out[0].start = 0;
    out[0].end = (int32_t)DAY_S;
    for (unsigned i = 0; i < c->nparts && n > 0; i++) {
        const struct compliance__juris *j = c->parts[i];
        if (j->dayban_mask & (1u << wd)) {
            return 0;
        }
        if (j->holidays != NULL) {
            if (!have_date) {
                compliance__civil_from_days(day, &y, &m, &d);
                have_date = 1;
            }
            if (compliance__holiday_is(j->holidays, y, m, d)) {
                return 0;
            }
        }
        if (j->hours_rule != NULL) {
            n = intersect(out, n, tmp, hours_ivl(&j->hours[wd], tmp));
        }
    }
    if (c->cw != NULL && n > 0) {
        if (c->cw->days != 0 && !(c->cw->days & (1u << wd))) {
            return 0;
        }
        tmp[0].start = c->cw_start_s_min * 60;
        tmp[0].end = c->cw_end_s_min * 60;
        n = intersect(out, n, tmp, 1);
    }
    return n;
}

/* day_allowed() through the context's memo; the result points into it. */
static unsigned day_allowed_memo(struct ctx *c, int64_t day, const struct compliance__ivl **out)
{
    for (unsigned i = 0; i < MEMO; i++) {
        if (c->memo[i].day == day) {
            *out = c->memo[i].ivl;
            return c->memo[i].n;
        }
    }
    unsigned slot = c->memo_next++ % MEMO;
    c->memo[slot].day = day;
    c->memo[slot].n = day_allowed(c, day, c->memo[slot].ivl);
    *out = c->memo[slot].ivl;
    return c->memo[slot].n;
}

/* The first allowed local instant in [w, stop) on the local time line, or NEVER. */
static int64_t first_allowed_local(struct ctx *c, int64_t w, int64_t stop)
{
    const struct compliance__ivl *ivl;
    int64_t day = compliance__floordiv(w, DAY_S);
    int64_t sod = w - day * DAY_S;
    while (day * DAY_S < stop) {
        unsigned n = day_allowed_memo(c, day, &ivl);
        for (unsigned i = 0; i < n; i++) {
            if (ivl[i].end > sod) {
                int64_t cand = day * DAY_S + (ivl[i].start > sod ? ivl[i].start : sod);
                return cand < stop ? cand : NEVER;
            }
        }
        day++;
        sod = 0;
    }
    return NEVER;
}

/* The first instant in [t, limit) allowed in zone tz, or NEVER. */
static int64_t next_open_zone(struct ctx *c, const struct compliance__tz *tz, int64_t t,
                              int64_t limit)
{
    struct compliance__span sp;
    for (int guard = 0; guard < MAX_LOOPS && t < limit; guard++) {
        compliance__tz_span(tz, t, &sp);
        int64_t end = sp.end < limit ? sp.end : limit;
        int64_t p = first_allowed_local(c, t + sp.utoff, end + sp.utoff);
        if (p != NEVER) {
            return p - sp.utoff;
        }
        t = end;
    }
    return NEVER;
}

/* ---- which rule blocks -------------------------------------------------------- */

static int in_hours(const struct compliance__day_hours *h, int32_t sod)
{
    for (unsigned i = 0; i < h->n; i++) {
        if (sod >= h->start[i] * 60 && sod < h->end[i] * 60) {
            return 1;
        }
    }
    return 0;
}

static const struct compliance_rule *blocking_rule(const struct ctx *c, int64_t local_s)
{
    int64_t day = compliance__floordiv(local_s, DAY_S);
    int32_t sod = (int32_t)(local_s - day * DAY_S);
    unsigned wd = compliance__weekday(day);
    int32_t y;
    unsigned m, d;

    if (c->fallback) {
        return &compliance__rules[COMPLIANCE__R_FALLBACK];
    }
    compliance__civil_from_days(day, &y, &m, &d);
    for (unsigned i = 0; i < c->nparts; i++) {
        const struct compliance__juris *j = c->parts[i];
        if (j->holidays != NULL && compliance__holiday_is(j->holidays, y, m, d)) {
            return j->holiday_rule;
        }
    }
    for (unsigned i = 0; i < c->nparts; i++) {
        if (c->parts[i]->dayban_mask & (1u << wd)) {
            return c->parts[i]->dayban_rule;
        }
    }
    for (unsigned i = 0; i < c->nparts; i++) {
        const struct compliance__juris *j = c->parts[i];
        if (j->hours_rule != NULL && !in_hours(&j->hours[wd], sod)) {
            return j->hours_rule;
        }
    }
    return &compliance__rules[COMPLIANCE__R_CAMPAIGN];
}

/* ---- context ---------------------------------------------------------------- */

static pthread_once_t fallback_once = PTHREAD_ONCE_INIT;
static uint16_t fallback_ids[16];
static unsigned fallback_nids;

static void fallback_init(void)
{
    for (unsigned i = 0; i < 16 && compliance__fallback_zones[i] != NULL; i++) {
        uint16_t id;
        if (compliance_zone_id(compliance__fallback_zones[i], &id) == 0) {
            fallback_ids[fallback_nids++] = id;
        }
    }
}

static void add_part(struct ctx *c, const struct compliance__juris *j)
{
    for (unsigned i = 0; i < c->nparts; i++) {
        if (c->parts[i] == j) {
            return;
        }
    }
    if (c->nparts < MAX_PARTS) {
        c->parts[c->nparts++] = j;
    }
}

static void add_fallback_parts(struct ctx *c)
{
    add_part(c, compliance__juris_fallback());
    c->governing = &compliance__rules[COMPLIANCE__R_FALLBACK];
    c->fallback = 1;
}

static void block(struct compliance_verdict *out, int rule)
{
    out->verdict = COMPLIANCE_BLOCK;
    out->rule = &compliance__rules[rule];
    out->next_eligible_us = 0;
}

/*
 * Fills c and the zone list for place. Returns 1 when a verdict was decided
 * already (written to out), 0 to go on with the search.
 */
static int build(const struct compliance_place *place, struct ctx *c, uint16_t *zones,
                 unsigned *nzones, struct compliance_verdict *out)
{
    int zones_known = place->nzones > 0 && !place->zones_truncated;
    int us = compliance__country_is_us(place->country);
    int unknown_country = place->country[0] == '\0';

    if (!zones_known && (us || unknown_country)) {
        if (c->cw != NULL && c->cw->fallback == COMPLIANCE_FALLBACK_BLOCK) {
            block(out, COMPLIANCE__R_UNKNOWN_BLOCK);
            return 1;
        }
        pthread_once(&fallback_once, fallback_init);
        memcpy(zones, fallback_ids, fallback_nids * sizeof(*zones));
        *nzones = fallback_nids;
        add_fallback_parts(c);
        out->fallback_used = 1;
        return 0;
    }
    if (!zones_known) {
        block(out, COMPLIANCE__R_UNRULED);
        return 1;
    }
    memcpy(zones, place->zones, place->nzones * sizeof(*zones));
    *nzones = place->nzones;
    if (unknown_country) {
        /* A zone from the contact list but no idea of the country. */
        add_fallback_parts(c);
        return 0;
    }
    if (us) {
        const struct compliance_rule *gov = NULL;
        for (unsigned i = 0; i < place->nregions; i++) {
            const struct compliance__juris *j = compliance__juris_state(place->regions[i]);
            if (j != NULL) {
                add_part(c, j);
                if (gov == NULL && j->hours_rule != NULL) {
                    gov = j->hours_rule;
                }
            }
        }
        add_part(c, compliance__juris_us());
        c->governing = gov != NULL ? gov : compliance__juris_us()->hours_rule;
        return 0;
    }
    const struct compliance__juris *j = compliance__juris_country(place->country);
    if (j != NULL) {
        add_part(c, j);
        c->governing = j->hours_rule;
        return 0;
    }
    if (c->cw != NULL && c->cw->allow_unruled) {
        c->governing = &compliance__rules[COMPLIANCE__R_CAMPAIGN];
        return 0;
    }
    block(out, COMPLIANCE__R_UNRULED);
    return 1;
}

/* ---- the check ----------------------------------------------------------------- */

int compliance_window_check(const struct compliance_place *place,
                            const struct compliance_campaign_window *cw, int64_t now_us,
                            struct compliance_verdict *out)
{
    struct ctx c;
    uint16_t zones[16];
    const struct compliance__tz *tz[16];
    unsigned nzones = 0;

    if (place == NULL || out == NULL) {
        return ERR_INVAL;
    }
    c.nparts = 0;
    c.cw = NULL;
    c.fallback = 0;
    c.governing = NULL;
    c.memo_next = 0;
    for (unsigned i = 0; i < MEMO; i++) {
        c.memo[i].day = INT64_MIN;
    }
    if (cw != NULL) {
        uint16_t end = cw->end_min == 0 ? 1440 : cw->end_min;
        if (end > 1440 || cw->start_min >= end || (cw->days & 0x80)) {
            return ERR_INVAL;
        }
        c.cw = cw;
        c.cw_start_s_min = cw->start_min;
        c.cw_end_s_min = end;
    }
    memset(out, 0, sizeof(*out));
    out->ruleset_version = COMPLIANCE_RULESET_VERSION;
    out->zone = COMPLIANCE__ZONE_NONE;
    if (build(place, &c, zones, &nzones, out)) {
        return 0;
    }
    for (unsigned i = 0; i < nzones; i++) {
        if (compliance__tz_get(zones[i], &tz[i]) != 0) {
            out->zone = zones[i];
            block(out, COMPLIANCE__R_ZONE_ERROR);
            return 0;
        }
    }
    if (nzones == 0) {
        block(out, COMPLIANCE__R_ZONE_ERROR);
        return 0;
    }

    int64_t now_s = compliance__floordiv(now_us, 1000000);
    int64_t limit = now_s + COMPLIANCE_HORIZON_DAYS * DAY_S;
    int64_t t = now_s;
    int moved = 1;
    for (int guard = 0; moved && t != NEVER && guard < MAX_LOOPS; guard++) {
        moved = 0;
        for (unsigned i = 0; i < nzones && t != NEVER; i++) {
            int64_t t2 = next_open_zone(&c, tz[i], t, limit);
            if (t2 != t) {
                t = t2;
                moved = 1;
            }
        }
    }
    if (moved) {
        t = NEVER; /* guard hit: treat as nothing found */
    }

    /* The zone that decided: the first that blocks now, else the first. */
    unsigned dz = 0;
    struct compliance__span sp;
    if (t != now_s) {
        for (unsigned i = 0; i < nzones; i++) {
            if (next_open_zone(&c, tz[i], now_s, now_s + 1) != now_s) {
                dz = i;
                break;
            }
        }
    }
    compliance__tz_span(tz[dz], now_s, &sp);
    compliance__local_fill(now_s, &sp, &out->local);
    out->zone = zones[dz];
    if (t == now_s) {
        out->verdict = COMPLIANCE_ALLOW;
        out->rule = c.governing;
        out->next_eligible_us = now_us;
        return 0;
    }
    out->verdict = COMPLIANCE_BLOCK;
    out->rule = blocking_rule(&c, now_s + sp.utoff);
    out->next_eligible_us = t == NEVER ? 0 : t * 1000000;
    return 0;
}

/* Test builds only: see compliance_window_clock_set(). */
static _Atomic int64_t window_offset_us;

int compliance_window_clock_set(int64_t offset_us)
{
#ifdef NDEBUG
    (void)offset_us;
    return ERR_FORBIDDEN;
#else
    atomic_store(&window_offset_us, offset_us);
    return 0;
#endif
}

int64_t compliance_window_clock_offset(void)
{
    return atomic_load(&window_offset_us);
}
