/* SPDX-License-Identifier: MIT */
/*
 * The campaign's own schedule: date range, weekdays and hours, in the
 * campaign's zone or in each contact's zone. The statutory calling windows
 * (federal, state, holidays) are the compliance module's verdict and apply
 * on top of this.
 *
 * The next opening is found by trying, for each of the next 15 local days,
 * each window's start: the candidate instant is "now + the local minutes to
 * that start", corrected once by the UTC offset at the candidate (so a DST
 * change in between moves it to the right wall-clock time). A start that
 * does not exist locally (inside a spring-forward gap) lands on the first
 * minute after the gap.
 */
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/err.h"

#define US_PER_MIN (INT64_C(60) * 1000000)

static int64_t local_day(const struct compliance_local *l)
{
    return campaign_days_from_civil(l->year, l->month, l->day);
}

/* 1 when local time l is inside the schedule. */
static bool inside(const struct campaign_settings *s, const struct compliance_local *l)
{
    int64_t day = local_day(l);
    int min = l->hour * 60 + l->minute;
    if (day < s->start_date || day > s->end_date) {
        return false;
    }
    for (int i = 0; i < s->nwindows; i++) {
        const struct campaign_window *w = &s->windows[i];
        if ((w->days >> l->wday) & 1u && min >= w->from_min && min < w->to_min) {
            return true;
        }
    }
    return false;
}

int campaign_schedule_check(const struct campaign_settings *s, const char *zone, int64_t now_us,
                            int64_t *next_us)
{
    struct compliance_local l, c;
    uint16_t id;
    const char *name = (s->contact_time && zone && *zone) ? zone : s->time_zone;
    if (compliance_zone_id(name, &id) != 0 || compliance_tz_to_local(id, now_us, &l) != 0) {
        return ERR_NOTFOUND;
    }
    if (inside(s, &l)) {
        return 1;
    }
    int64_t best = INT64_MAX;
    int now_min = l.hour * 60 + l.minute;
    int64_t base = now_us - (int64_t)l.second * 1000000 - now_us % 1000000;
    for (int d = 0; d <= COMPLIANCE_HORIZON_DAYS; d++) {
        for (int i = 0; i < s->nwindows; i++) {
            int64_t cand =
                base + ((int64_t)d * 1440 + s->windows[i].from_min - now_min) * US_PER_MIN;
            if (cand <= now_us || compliance_tz_to_local(id, cand, &c) != 0) {
                continue;
            }
            /* correct by the offset change between now and the candidate */
            cand -= (int64_t)(c.utoff_s - l.utoff_s) * 1000000;
            if (cand <= now_us || compliance_tz_to_local(id, cand, &c) != 0) {
                continue;
            }
            if (!inside(s, &c)) {
                /* in a DST gap: the first minute after it */
                cand += (int64_t)(c.utoff_s - l.utoff_s) * 1000000;
                if (compliance_tz_to_local(id, cand, &c) != 0 || !inside(s, &c)) {
                    continue;
                }
            }
            if (cand < best) {
                best = cand;
            }
        }
        if (best != INT64_MAX) {
            break;
        }
    }
    *next_us = best;
    return 0;
}
