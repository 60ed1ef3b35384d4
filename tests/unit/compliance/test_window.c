/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for compliance/window.c: verdicts and the next eligible moment.
 *
 * One table, one row per decision: the number (and what the contact list
 * says), the campaign window, the instant in UTC, the expected verdict, the
 * rule that decides and the exact next eligible instant in UTC. Local times
 * are in the comments; 2026-06-10 is a Wednesday, 2026-03-08 and 2026-11-01
 * (Sundays) are the US DST change days.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "compliance/compliance_int.h"
#include "core/clock.h"
#include "core/err.h"

enum cw_preset {
    CW_NONE,
    CW_WEEKDAYS_9_17, /* Monday to Friday, 9:00-17:00 */
    CW_FALLBACK_BLOCK,
    CW_9_20,
    CW_UNRULED_9_18,
};

struct when {
    int y, mo, d, h, mi, s;
};

struct win_case {
    const char *number;
    const char *tz;     /* contact's own zone or NULL */
    const char *region; /* contact's own state or NULL */
    enum cw_preset cw;
    struct when now; /* UTC */
    enum compliance_verdict_kind verdict;
    const char *rule;
    struct when next; /* UTC; all zero: no eligible time (0) */
    const char *zone; /* deciding zone, NULL: not checked */
};

#define NY  "+12125550123"
#define FL  "+13055550123"
#define AL  "+12055550123"
#define UT  "+18015550123"
#define RI  "+14015550123"
#define ON  "+14165550123"
#define FR  "+33142685300"
#define SD  "+16055550123"
#define UNK "+19995550123"
#define B   COMPLIANCE_BLOCK
#define A   COMPLIANCE_ALLOW
#define NOW              \
    {                    \
        0, 0, 0, 0, 0, 0 \
    }

/* clang-format off */
static const struct win_case cases[] = {
    /* Federal 8:00-21:00, New York (EDT, UTC-4). */
    { NY, 0, 0, CW_NONE, { 2026, 6, 10, 11, 59, 0 }, B, "us-tcpa-hours", { 2026, 6, 10, 12, 0, 0 }, "America/New_York" }, /* 07:59 */
    { NY, 0, 0, CW_NONE, { 2026, 6, 10, 12, 0, 0 }, A, "us-tcpa-hours", NOW, "America/New_York" },                        /* 08:00 */
    { NY, 0, 0, CW_NONE, { 2026, 6, 11, 0, 59, 59 }, A, "us-tcpa-hours", NOW, 0 },                                       /* 20:59:59 */
    { NY, 0, 0, CW_NONE, { 2026, 6, 11, 1, 0, 0 }, B, "us-tcpa-hours", { 2026, 6, 11, 12, 0, 0 }, 0 },                  /* 21:00 */
    /* Florida 8:00-20:00. */
    { FL, 0, 0, CW_NONE, { 2026, 6, 10, 23, 59, 0 }, A, "us-fl-hours", NOW, 0 },                                          /* 19:59 */
    { FL, 0, 0, CW_NONE, { 2026, 6, 11, 0, 0, 0 }, B, "us-fl-hours", { 2026, 6, 11, 12, 0, 0 }, 0 },                    /* 20:00 */
    /* Sunday bans (CDT, UTC-5). */
    { AL, 0, 0, CW_NONE, { 2026, 6, 14, 17, 0, 0 }, B, "us-al-sunday", { 2026, 6, 15, 13, 0, 0 }, 0 },                  /* Sun 12:00 */
    { "+15045550123", 0, 0, CW_NONE, { 2026, 6, 14, 17, 0, 0 }, B, "us-la-sunday", { 2026, 6, 15, 13, 0, 0 }, 0 },
    { "+16015550123", 0, 0, CW_NONE, { 2026, 6, 14, 17, 0, 0 }, B, "us-ms-sunday", { 2026, 6, 15, 13, 0, 0 }, 0 },
    { AL, 0, 0, CW_NONE, { 2026, 6, 14, 1, 30, 0 }, B, "us-al-hours", { 2026, 6, 15, 13, 0, 0 }, 0 },                   /* Sat 20:30 */
    /* Holiday bans on the observed day: July 4, 2026 is a Saturday. */
    { UT, 0, 0, CW_NONE, { 2026, 7, 3, 18, 0, 0 }, B, "us-ut-holiday", { 2026, 7, 5, 14, 0, 0 }, 0 },                   /* Fri 12:00 MDT; Sat holiday; Sun open in UT */
    { AL, 0, 0, CW_NONE, { 2026, 7, 3, 17, 0, 0 }, B, "us-al-holiday", { 2026, 7, 6, 13, 0, 0 }, 0 },                   /* Fri, Sat holiday, Sun banned */
    { "+14055550123", 0, 0, CW_NONE, { 2026, 6, 10, 13, 30, 0 }, B, "us-ok-hours", { 2026, 6, 10, 14, 0, 0 }, 0 },  /* OK 8:30 CDT: ADAD rule opens 9:00 */
    { "+14055550123", 0, 0, CW_NONE, { 2026, 6, 11, 0, 59, 59 }, A, "us-ok-hours", NOW, 0 },                          /* 19:59:59 CDT */
    { RI, 0, 0, CW_NONE, { 2026, 7, 6, 14, 0, 0 }, B, "us-ri-holiday", { 2026, 7, 7, 13, 0, 0 }, 0 },                   /* Mon after a Saturday July 4; 9:00 EDT */
    { RI, 0, 0, CW_NONE, { 2026, 7, 3, 14, 0, 0 }, B, "us-ri-holiday", { 2026, 7, 7, 13, 0, 0 }, 0 },                   /* federal observed Friday */
    { RI, 0, 0, CW_NONE, { 2026, 7, 8, 12, 30, 0 }, B, "us-ri-hours", { 2026, 7, 8, 13, 0, 0 }, 0 },                     /* Wed 8:30 EDT: opens 9:00 */
    { RI, 0, 0, CW_NONE, { 2026, 7, 8, 21, 59, 59 }, A, "us-ri-hours", NOW, 0 },                                        /* 17:59:59 EDT */
    { RI, 0, 0, CW_NONE, { 2026, 7, 8, 22, 0, 0 }, B, "us-ri-hours", { 2026, 7, 9, 13, 0, 0 }, 0 },                      /* 18:00 EDT */
    { RI, 0, 0, CW_NONE, { 2026, 7, 11, 21, 0, 0 }, B, "us-ri-hours", { 2026, 7, 13, 13, 0, 0 }, 0 },                    /* Sat 17:00: Sunday banned, Monday 9:00 */
    { RI, 0, 0, CW_NONE, { 2026, 7, 11, 14, 0, 0 }, A, "us-ri-hours", NOW, 0 },                                         /* Sat 10:00 EDT */
    { "+12155550123", 0, 0, CW_NONE, { 2026, 12, 25, 15, 0, 0 }, B, "us-pa-holiday", { 2026, 12, 26, 13, 0, 0 }, 0 },
    /* Canada: 9:00-21:30 weekdays, 10:00-18:00 weekends (Toronto, EDT). */
    { ON, 0, 0, CW_NONE, { 2026, 6, 13, 13, 30, 0 }, B, "ca-crtc-hours", { 2026, 6, 13, 14, 0, 0 }, 0 },                /* Sat 09:30 */
    { ON, 0, 0, CW_NONE, { 2026, 6, 13, 22, 0, 0 }, B, "ca-crtc-hours", { 2026, 6, 14, 14, 0, 0 }, 0 },                 /* Sat 18:00 */
    { ON, 0, 0, CW_NONE, { 2026, 6, 11, 1, 29, 0 }, A, "ca-crtc-hours", NOW, 0 },                                         /* Wed 21:29 */
    { ON, 0, 0, CW_NONE, { 2026, 6, 11, 1, 30, 0 }, B, "ca-crtc-hours", { 2026, 6, 11, 13, 0, 0 }, 0 },                 /* Wed 21:30 */
    /* Regina (no DST) on the US spring-forward Sunday: weekend hours. */
    { "+13065550123", 0, 0, CW_NONE, { 2026, 3, 8, 15, 59, 0 }, B, "ca-crtc-hours", { 2026, 3, 8, 16, 0, 0 }, "America/Regina" },
    /* St. John's on its spring-forward Sunday: 01:30 NST -> 10:00 NDT (UTC-2:30). */
    { "+17097220123", 0, 0, CW_NONE, { 2026, 3, 8, 5, 0, 0 }, B, "ca-crtc-hours", { 2026, 3, 8, 12, 30, 0 }, "America/St_Johns" },
    /* France: 10:00-13:00, 14:00-20:00 weekdays (CEST, UTC+2). */
    { FR, 0, 0, CW_NONE, { 2026, 6, 10, 11, 30, 0 }, B, "fr-hours", { 2026, 6, 10, 12, 0, 0 }, "Europe/Paris" },        /* 13:30 */
    { FR, 0, 0, CW_NONE, { 2026, 6, 10, 7, 59, 0 }, B, "fr-hours", { 2026, 6, 10, 8, 0, 0 }, 0 },                       /* 09:59 */
    { FR, 0, 0, CW_NONE, { 2026, 6, 10, 8, 0, 0 }, A, "fr-hours", NOW, 0 },                                               /* 10:00 */
    { FR, 0, 0, CW_NONE, { 2026, 6, 10, 17, 59, 0 }, A, "fr-hours", NOW, 0 },                                             /* 19:59 */
    { FR, 0, 0, CW_NONE, { 2026, 6, 10, 18, 0, 0 }, B, "fr-hours", { 2026, 6, 11, 8, 0, 0 }, 0 },                       /* 20:00 */
    { FR, 0, 0, CW_NONE, { 2026, 6, 13, 10, 0, 0 }, B, "fr-weekend", { 2026, 6, 15, 8, 0, 0 }, 0 },                     /* Saturday */
    { FR, 0, 0, CW_NONE, { 2026, 7, 14, 10, 0, 0 }, B, "fr-holiday", { 2026, 7, 15, 8, 0, 0 }, 0 },                     /* 14 juillet */
    { FR, 0, 0, CW_NONE, { 2026, 1, 1, 10, 0, 0 }, B, "fr-holiday", { 2026, 1, 2, 9, 0, 0 }, 0 },                       /* New Year, CET */
    /* UK: no statutory hours; the campaign's window decides. */
    { "+442071234567", 0, 0, CW_NONE, { 2026, 6, 10, 3, 0, 0 }, A, "gb-no-statutory-hours", NOW, "Europe/London" },
    { "+442071234567", 0, 0, CW_9_20, { 2026, 6, 10, 3, 0, 0 }, B, "campaign-window", { 2026, 6, 10, 8, 0, 0 }, 0 },
    /* A country with no rule row: blocked, unless the campaign opts in. */
    { "+4930123456", 0, 0, CW_NONE, { 2026, 6, 10, 10, 0, 0 }, B, "no-rules-for-country", NOW, 0 },
    { "+4930123456", 0, 0, CW_UNRULED_9_18, { 2026, 6, 10, 10, 0, 0 }, A, "campaign-window", NOW, 0 },
    { "+4930123456", 0, 0, CW_UNRULED_9_18, { 2026, 6, 10, 16, 0, 0 }, B, "campaign-window", { 2026, 6, 11, 7, 0, 0 }, 0 },
    /* A prefix spanning Central and Mountain (605): allowed only in both. */
    { SD, 0, 0, CW_NONE, { 2026, 6, 10, 13, 30, 0 }, B, "us-tcpa-hours", { 2026, 6, 10, 14, 0, 0 }, "America/Denver" },
    { SD, 0, 0, CW_NONE, { 2026, 6, 10, 14, 0, 0 }, A, "us-tcpa-hours", NOW, 0 },
    { SD, 0, 0, CW_NONE, { 2026, 6, 11, 1, 59, 0 }, A, "us-tcpa-hours", NOW, 0 },
    { SD, 0, 0, CW_NONE, { 2026, 6, 11, 2, 0, 0 }, B, "us-tcpa-hours", { 2026, 6, 11, 14, 0, 0 }, "America/North_Dakota/Center" },
    /* Alaska's 907 spans Anchorage (AKDT) and Adak (HDT, an hour behind). */
    { "+19075550123", 0, 0, CW_NONE, { 2026, 6, 10, 16, 30, 0 }, B, "us-tcpa-hours", { 2026, 6, 10, 17, 0, 0 }, "America/Adak" },
    /* Unknown number: strictest US rules (10:00-20:00, no Sunday, every
     * holiday) in every US zone at once: 20:00-24:00 UTC in June. */
    { UNK, 0, 0, CW_NONE, { 2026, 6, 10, 19, 59, 0 }, B, "us-strict-fallback", { 2026, 6, 10, 20, 0, 0 }, 0 },
    { UNK, 0, 0, CW_NONE, { 2026, 6, 10, 20, 0, 0 }, A, "us-strict-fallback", NOW, 0 },
    { UNK, 0, 0, CW_NONE, { 2026, 6, 10, 21, 59, 59 }, A, "us-strict-fallback", NOW, 0 },
    { UNK, 0, 0, CW_NONE, { 2026, 6, 10, 22, 0, 0 }, B, "us-strict-fallback", { 2026, 6, 11, 20, 0, 0 }, 0 },   /* 18:00 EDT: RI hours */
    { UNK, 0, 0, CW_NONE, { 2026, 6, 10, 23, 59, 59 }, B, "us-strict-fallback", { 2026, 6, 11, 20, 0, 0 }, 0 },
    { UNK, 0, 0, CW_NONE, { 2026, 6, 11, 0, 0, 0 }, B, "us-strict-fallback", { 2026, 6, 11, 20, 0, 0 }, 0 },
    { UNK, 0, 0, CW_NONE, { 2026, 6, 14, 21, 0, 0 }, B, "us-strict-fallback", { 2026, 6, 15, 20, 0, 0 }, 0 },
    { UNK, 0, 0, CW_FALLBACK_BLOCK, { 2026, 6, 10, 21, 0, 0 }, B, "unknown-place-blocked", NOW, 0 },
    /* The contact's own zone wins over the area code. */
    { NY, "America/Los_Angeles", 0, CW_NONE, { 2026, 6, 10, 12, 30, 0 }, B, "us-tcpa-hours", { 2026, 6, 10, 15, 0, 0 }, "America/Los_Angeles" },
    { UNK, "America/Chicago", 0, CW_NONE, { 2026, 6, 10, 14, 30, 0 }, B, "us-strict-fallback", { 2026, 6, 10, 15, 0, 0 }, "America/Chicago" },
    /* Florida area code, contact in California: Florida's 20:00 in Pacific time. */
    { FL, 0, "CA", CW_NONE, { 2026, 6, 11, 3, 0, 0 }, B, "us-fl-hours", { 2026, 6, 11, 15, 0, 0 }, "America/Los_Angeles" },
    /* Next eligible across DST changes. Alabama, Saturday night before the
     * spring-forward Sunday: 21:30 CST -> Monday 08:00 CDT. */
    { AL, 0, 0, CW_NONE, { 2026, 3, 8, 3, 30, 0 }, B, "us-al-hours", { 2026, 3, 9, 13, 0, 0 }, 0 },
    /* Saturday night before fall-back: 20:30 CDT -> Monday 08:00 CST. */
    { AL, 0, 0, CW_NONE, { 2026, 11, 1, 1, 30, 0 }, B, "us-al-hours", { 2026, 11, 2, 14, 0, 0 }, 0 },
    /* New York on the change days: 08:00 is 12:00Z in March, 13:00Z in November,
     * from either 01:30 of the repeated hour. */
    { NY, 0, 0, CW_NONE, { 2026, 3, 8, 6, 59, 59 }, B, "us-tcpa-hours", { 2026, 3, 8, 12, 0, 0 }, 0 },
    { NY, 0, 0, CW_NONE, { 2026, 11, 1, 5, 30, 0 }, B, "us-tcpa-hours", { 2026, 11, 1, 13, 0, 0 }, 0 },
    { NY, 0, 0, CW_NONE, { 2026, 11, 1, 6, 30, 0 }, B, "us-tcpa-hours", { 2026, 11, 1, 13, 0, 0 }, 0 },
    { "+16025550123", 0, 0, CW_NONE, { 2026, 3, 8, 14, 59, 0 }, B, "us-tcpa-hours", { 2026, 3, 8, 15, 0, 0 }, "America/Phoenix" },
    { "+18085550123", 0, 0, CW_NONE, { 2026, 11, 1, 17, 59, 0 }, B, "us-tcpa-hours", { 2026, 11, 1, 18, 0, 0 }, "Pacific/Honolulu" },
    { "+17875550123", 0, 0, CW_NONE, { 2026, 3, 8, 11, 59, 0 }, B, "us-tcpa-hours", { 2026, 3, 8, 12, 0, 0 }, "America/Puerto_Rico" },
    { "+16715550123", 0, 0, CW_NONE, { 2026, 6, 10, 21, 59, 0 }, B, "us-tcpa-hours", { 2026, 6, 10, 22, 0, 0 }, "Pacific/Guam" },
    { "+16715550123", 0, 0, CW_NONE, { 2026, 6, 10, 22, 0, 0 }, A, "us-tcpa-hours", NOW, 0 },
    /* New Year's Day. 2026-01-01 is a Thursday; 2028-01-01 a Saturday, so
     * Alabama also bans Friday 2027-12-31, and Sunday is banned anyway. */
    { AL, 0, 0, CW_NONE, { 2026, 1, 1, 18, 0, 0 }, B, "us-al-holiday", { 2026, 1, 2, 14, 0, 0 }, 0 },
    { AL, 0, 0, CW_NONE, { 2027, 12, 31, 18, 0, 0 }, B, "us-al-holiday", { 2028, 1, 3, 14, 0, 0 }, 0 },
    { NY, 0, 0, CW_NONE, { 2026, 1, 1, 15, 0, 0 }, A, "us-tcpa-hours", NOW, 0 },
    /* Campaign narrowing: Monday-Friday 9:00-17:00. */
    { NY, 0, 0, CW_WEEKDAYS_9_17, { 2026, 6, 10, 12, 30, 0 }, B, "campaign-window", { 2026, 6, 10, 13, 0, 0 }, 0 },
    { NY, 0, 0, CW_WEEKDAYS_9_17, { 2026, 6, 10, 13, 0, 0 }, A, "us-tcpa-hours", NOW, 0 },
    { NY, 0, 0, CW_WEEKDAYS_9_17, { 2026, 6, 10, 21, 0, 0 }, B, "campaign-window", { 2026, 6, 11, 13, 0, 0 }, 0 },
    { NY, 0, 0, CW_WEEKDAYS_9_17, { 2026, 6, 13, 15, 0, 0 }, B, "campaign-window", { 2026, 6, 15, 13, 0, 0 }, 0 },
    /* Law before campaign: at 07:30 both block, the law is named. */
    { NY, 0, 0, CW_WEEKDAYS_9_17, { 2026, 6, 10, 11, 30, 0 }, B, "us-tcpa-hours", { 2026, 6, 10, 13, 0, 0 }, 0 },
};

/* clang-format on */

static int64_t us_of(const struct when *w)
{
    int64_t days = compliance__days_from_civil(w->y, (unsigned)w->mo, (unsigned)w->d);
    return (days * 86400 + w->h * 3600 + w->mi * 60 + w->s) * INT64_C(1000000);
}

static const struct compliance_campaign_window *preset(enum cw_preset p)
{
    static const struct compliance_campaign_window weekdays = { 0x3e, 9 * 60, 17 * 60,
                                                                COMPLIANCE_FALLBACK_US_STRICT, 0 };
    static const struct compliance_campaign_window fb_block = { 0, 0, 0, COMPLIANCE_FALLBACK_BLOCK,
                                                                0 };
    static const struct compliance_campaign_window w920 = { 0, 9 * 60, 20 * 60,
                                                            COMPLIANCE_FALLBACK_US_STRICT, 0 };
    static const struct compliance_campaign_window unruled = { 0, 9 * 60, 18 * 60,
                                                               COMPLIANCE_FALLBACK_US_STRICT, 1 };
    switch (p) {
    case CW_WEEKDAYS_9_17:
        return &weekdays;
    case CW_FALLBACK_BLOCK:
        return &fb_block;
    case CW_9_20:
        return &w920;
    case CW_UNRULED_9_18:
        return &unruled;
    case CW_NONE:
    default:
        return NULL;
    }
}

static void test_window_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct win_case *c = &cases[i];
        struct compliance_place p;
        struct compliance_verdict v;
        int64_t now = us_of(&c->now);
        int64_t want_next = c->next.y == 0 ? (c->verdict == A ? now : 0) : us_of(&c->next);

        assert_int_equal(compliance_locate(c->number, &p), 0);
        assert_int_equal(compliance_place_override(&p, c->tz, c->region), 0);
        assert_int_equal(compliance_window_check(&p, preset(c->cw), now, &v), 0);
        const char *zone = v.zone != 0xffff ? compliance_zone_name(v.zone) : "-";
        if (v.verdict != c->verdict || strcmp(v.rule->id, c->rule) != 0 ||
            v.next_eligible_us != want_next || (c->zone != NULL && strcmp(zone, c->zone) != 0)) {
            char a[40], b[40];
            clock_format_utc(v.next_eligible_us, a, sizeof(a));
            clock_format_utc(want_next, b, sizeof(b));
            print_error("case %zu %s at %04d-%02d-%02dT%02d:%02d:%02dZ: got %s %s next %s zone %s"
                        " (%02u:%02u local); want %s %s next %s\n",
                        i, c->number, c->now.y, c->now.mo, c->now.d, c->now.h, c->now.mi, c->now.s,
                        v.verdict == A ? "allow" : "block", v.rule->id,
                        v.next_eligible_us ? a : "none", zone, v.local.hour, v.local.minute,
                        c->verdict == A ? "allow" : "block", c->rule, want_next ? b : "none");
            fail();
        }
        assert_string_equal(v.ruleset_version, COMPLIANCE_RULESET_VERSION);
    }
}

/* The next eligible moment is itself allowed, and the second before it is not. */
static void test_window_next_is_exact(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct win_case *c = &cases[i];
        struct compliance_place p;
        struct compliance_verdict v, w;
        if (c->verdict != B || c->next.y == 0) {
            continue;
        }
        assert_int_equal(compliance_locate(c->number, &p), 0);
        assert_int_equal(compliance_place_override(&p, c->tz, c->region), 0);
        assert_int_equal(compliance_window_check(&p, preset(c->cw), us_of(&c->now), &v), 0);
        assert_int_equal(compliance_window_check(&p, preset(c->cw), v.next_eligible_us, &w), 0);
        assert_int_equal(w.verdict, A);
        assert_int_equal(
            compliance_window_check(&p, preset(c->cw), v.next_eligible_us - 1000000, &w), 0);
        assert_int_equal(w.verdict, B);
        assert_int_equal(w.next_eligible_us, v.next_eligible_us);
    }
}

/* Walking an hour at a time for two weeks, each verdict agrees with the next
 * eligible time found from an earlier blocked instant. */
static void test_window_scan_consistency(void **state)
{
    static const char *const numbers[] = { NY, AL, SD, UNK, FR, ON, "+17097220123" };
    (void)state;
    for (size_t n = 0; n < sizeof(numbers) / sizeof(numbers[0]); n++) {
        struct compliance_place p;
        struct compliance_verdict v;
        struct when start = { 2026, 10, 25, 0, 0, 0 };
        int64_t t0 = us_of(&start);
        int64_t pending = -1;
        assert_int_equal(compliance_locate(numbers[n], &p), 0);
        for (int64_t t = t0; t < t0 + INT64_C(14) * 86400 * 1000000; t += INT64_C(600) * 1000000) {
            assert_int_equal(compliance_window_check(&p, NULL, t, &v), 0);
            if (pending >= 0 && t < pending) {
                assert_int_equal(v.verdict, B);
                assert_int_equal(v.next_eligible_us, pending);
            }
            if (v.verdict == B) {
                pending = v.next_eligible_us;
            } else {
                pending = -1;
            }
        }
    }
}

static void test_window_rejects_bad_arguments(void **state)
{
    struct compliance_place p;
    struct compliance_verdict v;
    struct compliance_campaign_window cw = { 0, 600, 600, COMPLIANCE_FALLBACK_US_STRICT, 0 };
    (void)state;
    assert_int_equal(compliance_locate(NY, &p), 0);
    assert_int_equal(compliance_window_check(&p, &cw, 0, &v), ERR_INVAL);
    cw.end_min = 1441;
    assert_int_equal(compliance_window_check(&p, &cw, 0, &v), ERR_INVAL);
    cw.end_min = 700;
    cw.days = 0x80;
    assert_int_equal(compliance_window_check(&p, &cw, 0, &v), ERR_INVAL);
    assert_int_equal(compliance_window_check(NULL, NULL, 0, &v), ERR_INVAL);
    assert_int_equal(compliance_window_check(&p, NULL, 0, NULL), ERR_INVAL);
}

static void test_window_zone_missing_blocks(void **state)
{
    struct compliance_place p;
    struct compliance_verdict v;
    struct compliance_options o = { "/nonexistent", 0 };
    (void)state;
    compliance_fini();
    assert_int_equal(compliance_init(&o), 0);
    assert_int_equal(compliance_locate(NY, &p), 0);
    assert_int_equal(compliance_window_check(&p, NULL, 0, &v), 0);
    assert_int_equal(v.verdict, B);
    assert_string_equal(v.rule->id, "zone-data-unavailable");
    assert_int_equal(v.next_eligible_us, 0);
    compliance_fini();
    assert_int_equal(compliance_init(NULL), 0);
}

static void test_window_caps_data(void **state)
{
    struct compliance_place p;
    const struct compliance_cap *caps[8];
    (void)state;
    assert_int_equal(compliance_locate(FL, &p), 0);
    size_t n = compliance_caps_find(&p, caps, 8);
    assert_int_equal(n, 2); /* Florida 3/24h, Regulation F (debt only) */
    assert_string_equal(caps[0]->id, "us-fl-3-per-24h");
    assert_int_equal(caps[0]->max_calls, 3);
    assert_int_equal(caps[0]->period_s, 86400);
    assert_int_equal(compliance_locate("+442071234567", &p), 0);
    n = compliance_caps_find(&p, caps, 8);
    assert_int_equal(n, 2);
    assert_int_equal(caps[0]->kind, COMPLIANCE_CAP_LOCKOUT_AFTER_ABANDON);
    assert_int_equal(caps[0]->period_s, 72 * 3600);
    assert_int_equal(compliance_locate(FR, &p), 0);
    n = compliance_caps_find(&p, caps, 1);
    assert_int_equal(n, 2); /* more than fit */
    assert_string_equal(caps[0]->id, "fr-4-per-month");
}

static void test_window_rule_table_is_complete(void **state)
{
    size_t n;
    const struct compliance_rule *r = compliance_rules(&n);
    (void)state;
    assert_true(n > 30);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(r[i].id);
        assert_non_null(r[i].jurisdiction);
        assert_non_null(r[i].text);
        assert_non_null(r[i].source);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(r[i].id, r[j].id);
        }
    }
}

static void *check_many(void *arg)
{
    static const char *const numbers[] = { NY, AL, SD, UNK, FR, ON };
    size_t off = (size_t)(uintptr_t)arg;
    struct when start = { 2026, 10, 30, 0, 0, 0 };
    for (int i = 0; i < 3000; i++) {
        struct compliance_place p;
        struct compliance_verdict v;
        if (compliance_locate(numbers[(off + (size_t)i) % 6], &p) != 0 ||
            compliance_window_check(&p, NULL, us_of(&start) + INT64_C(97) * 1000000 * i, &v) != 0 ||
            v.rule == NULL) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Checks from several threads while the zones load lazily (run under TSan). */
static void test_window_threads(void **state)
{
    pthread_t th[4];
    (void)state;
    compliance_fini();
    for (uintptr_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, check_many, (void *)i), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
}

static int teardown(void **state)
{
    (void)state;
    compliance_fini();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_table),
        cmocka_unit_test(test_window_next_is_exact),
        cmocka_unit_test(test_window_scan_consistency),
        cmocka_unit_test(test_window_rejects_bad_arguments),
        cmocka_unit_test(test_window_zone_missing_blocks),
        cmocka_unit_test(test_window_caps_data),
        cmocka_unit_test(test_window_rule_table_is_complete),
        cmocka_unit_test(test_window_threads),
    };
    return cmocka_run_group_tests_name("compliance_window", tests, NULL, teardown);
}
