/* SPDX-License-Identifier: MIT */
/*
 * abandon: abandonment classification, the per-campaign rate, and the
 * safe-harbour configuration check (compliance.h, "Abandonment").
 *
 * Persistence: the proof of every call (answer, human detection, connection
 * and safe-harbour times, live_answer, abandoned) is the call_logs row the
 * dialer writes at hang-up (sql/0008_calls.sql), indexed by (campaign_id,
 * ended_at) for exactly this count. So no second table is kept: after a
 * restart the accountant is restored from compliance_abandon_restore_sql()
 * over the current period, and from then on counts in memory.
 *
 * Sources: TSR 16 CFR 310.4(b)(4) safe harbour as quoted in
 * DIALER-ANCHORS.md 4.2 (3% of live-answered calls per campaign, or per
 * successive 30-day period; 2 seconds from the completed greeting; a
 * recorded message with the seller's name and telephone number); Ofcom 2010
 * (per calendar day, midnight to midnight), 4.8.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "core/clock.h"
#include "core/err.h"

#define PERIOD_US (INT64_C(30) * 86400 * CLOCK_US_PER_SEC)

struct compliance_abandon {
    enum compliance_abandon_window window;
    int64_t start_us;
    double cap;
    uint16_t zone; /* UK: Europe/London */
    int64_t cur_start, cur_end;
    uint64_t live, abandoned;
};

int compliance_abandon_classify(const struct compliance_call_outcome *o,
                                struct compliance_abandon_proof *p)
{
    if (o == NULL || p == NULL) {
        return ERR_INVAL;
    }
    memset(p, 0, sizeof(*p));
    p->connect_delay_ms = -1;
    p->message_delay_ms = -1;
    if (!o->live_human) {
        return 0; /* machines, no answer: neither numerator nor denominator */
    }
    if (o->answered_us <= 0 || (o->greeting_end_us != 0 && o->greeting_end_us < o->answered_us) ||
        (o->connected_us != 0 && o->connected_us < o->answered_us)) {
        return ERR_INVAL;
    }
    p->live = 1;
    p->clock_start_us = o->greeting_end_us != 0 ? o->greeting_end_us : o->answered_us;
    if (o->connected_us != 0) {
        /* connected before the greeting ended: delay 0 */
        int64_t d = o->connected_us - p->clock_start_us;
        p->connect_delay_ms = d > 0 ? d / 1000 : 0;
    }
    if (o->safe_harbour_us != 0) {
        int64_t d = o->safe_harbour_us - p->clock_start_us;
        p->message_delay_ms = d > 0 ? d / 1000 : 0;
    }
    /* "within two seconds": a delay of exactly 2000 ms is in time; the
     * delay is measured in microseconds so 2000.5 ms is not */
    bool connected_in_time =
        o->connected_us != 0 &&
        o->connected_us - p->clock_start_us <= COMPLIANCE_ABANDON_LIMIT_MS * CLOCK_US_PER_MS;
    p->abandoned = !connected_in_time;
    p->message_in_time =
        o->safe_harbour_us != 0 &&
        o->safe_harbour_us - p->clock_start_us <= COMPLIANCE_ABANDON_LIMIT_MS * CLOCK_US_PER_MS;
    return 0;
}

int compliance_abandon_create(enum compliance_abandon_window window, int64_t campaign_start_us,
                              double cap_pct, struct compliance_abandon **out)
{
    struct compliance_abandon *a;
    uint16_t zone = 0;
    if (out == NULL || !(cap_pct >= 0.0 && cap_pct <= 100.0) ||
        (window != COMPLIANCE_ABANDON_CAMPAIGN_30D && window != COMPLIANCE_ABANDON_CALENDAR_DAY)) {
        return ERR_INVAL;
    }
    if (window == COMPLIANCE_ABANDON_CALENDAR_DAY) {
        int rc = compliance_zone_id("Europe/London", &zone);
        if (rc != 0) {
            return rc;
        }
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return ERR_NOMEM;
    }
    a->window = window;
    a->start_us = campaign_start_us;
    a->cap = cap_pct / 100.0;
    a->zone = zone;
    a->cur_start = a->cur_end = INT64_MIN;
    *out = a;
    return 0;
}

void compliance_abandon_destroy(struct compliance_abandon *a)
{
    free(a);
}

int compliance_abandon_period(const struct compliance_abandon *a, int64_t at_us, int64_t *start_us,
                              int64_t *end_us)
{
    if (a == NULL || start_us == NULL || end_us == NULL) {
        return ERR_INVAL;
    }
    if (a->window == COMPLIANCE_ABANDON_CAMPAIGN_30D) {
        int64_t k = at_us < a->start_us ? 0 : (at_us - a->start_us) / PERIOD_US;
        *start_us = a->start_us + k * PERIOD_US;
        *end_us = *start_us + PERIOD_US;
        return 0;
    }
    /* UK calendar day: local midnight to the next local midnight (23, 24 or
     * 25 hours on clock-change days) */
    struct compliance_local lt;
    if (compliance_tz_to_local(a->zone, at_us, &lt) != 0) {
        return ERR_INVAL;
    }
    int64_t since_midnight =
        ((int64_t)lt.hour * 3600 + lt.minute * 60 + lt.second) * CLOCK_US_PER_SEC +
        (at_us % CLOCK_US_PER_SEC + CLOCK_US_PER_SEC) % CLOCK_US_PER_SEC;
    /* local clock time minus the time since midnight is midnight only if the
     * offset did not change in between: correct by the offset there */
    int64_t cand = at_us - since_midnight;
    struct compliance_local lt0, lt2;
    if (compliance_tz_to_local(a->zone, cand, &lt0) != 0) {
        return ERR_INVAL;
    }
    *start_us = cand - (int64_t)(lt0.utoff_s - lt.utoff_s) * CLOCK_US_PER_SEC;
    if (compliance_tz_to_local(a->zone, *start_us, &lt0) != 0) {
        return ERR_INVAL;
    }
    /* the next midnight: 24 h on, corrected by the offset change */
    int64_t guess = *start_us + 86400 * CLOCK_US_PER_SEC;
    if (compliance_tz_to_local(a->zone, guess, &lt2) != 0) {
        return ERR_INVAL;
    }
    *end_us = guess - (int64_t)(lt2.utoff_s - lt0.utoff_s) * CLOCK_US_PER_SEC;
    return 0;
}

static void roll(struct compliance_abandon *a, int64_t at_us)
{
    if (at_us >= a->cur_start && at_us < a->cur_end) {
        return;
    }
    int64_t s, e;
    if (compliance_abandon_period(a, at_us, &s, &e) != 0) {
        return;
    }
    a->cur_start = s;
    a->cur_end = e;
    a->live = a->abandoned = 0;
}

int compliance_abandon_record(struct compliance_abandon *a, const struct compliance_call_outcome *o,
                              struct compliance_abandon_proof *proof)
{
    struct compliance_abandon_proof p;
    int rc;
    if (a == NULL || o == NULL) {
        return ERR_INVAL;
    }
    rc = compliance_abandon_classify(o, &p);
    if (rc != 0) {
        return rc;
    }
    int64_t at = o->ended_us != 0 ? o->ended_us : o->answered_us;
    /* an outcome of a past period does not disturb the current count */
    if (at >= a->cur_end || a->cur_start == INT64_MIN) {
        roll(a, at);
    }
    if (at >= a->cur_start && at < a->cur_end) {
        a->live += p.live;
        a->abandoned += p.abandoned;
    }
    if (proof != NULL) {
        *proof = p;
    }
    return 0;
}

void compliance_abandon_restore(struct compliance_abandon *a, int64_t at_us, uint64_t live,
                                uint64_t abandoned)
{
    roll(a, at_us);
    a->live = live;
    a->abandoned = abandoned;
}

const char *compliance_abandon_restore_sql(void)
{
    return "SELECT count(*) FILTER (WHERE live_answer), count(*) FILTER (WHERE abandoned) "
           "FROM call_logs WHERE campaign_id = $1 AND ended_at >= $2 AND ended_at < $3";
}

void compliance_abandon_rate(const struct compliance_abandon *a, int64_t now_us,
                             struct compliance_abandon_rate *out)
{
    memset(out, 0, sizeof(*out));
    (void)compliance_abandon_period(a, now_us, &out->period_start_us, &out->period_end_us);
    if (a->cur_start == out->period_start_us && a->cur_end == out->period_end_us) {
        out->live = a->live;
        out->abandoned = a->abandoned;
    }
    out->rate = out->live == 0 ? 0.0 : (double)out->abandoned / (double)out->live;
    out->over_cap = out->rate > a->cap;
}

int compliance_safe_harbour_validate(int can_abandon, const char *seller,
                                     const char *callback_number, const char **field)
{
    uint64_t key;
    const char *bad = NULL;
    if (!can_abandon) {
        return 0;
    }
    size_t sl = seller != NULL ? strlen(seller) : 0;
    size_t lead = 0;
    while (lead < sl && (seller[lead] == ' ' || seller[lead] == '\t')) {
        lead++;
    }
    if (seller == NULL || lead == sl || sl > 200) {
        bad = "seller";
    } else if (callback_number == NULL || compliance_dnc_key(callback_number, &key) != 0) {
        bad = "callback_number";
    }
    if (field != NULL) {
        *field = bad;
    }
    return bad != NULL ? ERR_INVAL : 0;
}
