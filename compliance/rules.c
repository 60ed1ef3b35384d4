/* SPDX-License-Identifier: MIT */
/*
 * rules: the calling-window rule table, holiday calendars and cap data.
 *
 * Every legal fact the module encodes is a row here with its source beside
 * it; COMPLIANCE_RULESET_VERSION (compliance.h) changes whenever a row does,
 * and every verdict carries it, so an audit record says which table decided.
 *
 * A jurisdiction (struct compliance__juris) has up to three parts, each with
 * its own rule row so a verdict can name the part that blocked:
 *   - hours: a weekly schedule of allowed local times (up to two intervals a
 *     day, [start, end) in minutes: "8:00-21:00" allows 20:59:59, not 21:00);
 *   - a day ban: weekdays with no calls at all (Sunday in AL, LA, MS);
 *   - a holiday ban with its calendar.
 * A US number is under the federal row and the row of each of its states;
 * Canada, the UK and France have one row each. The window code intersects
 * them all, so a state row may only narrow the federal one.
 *
 * Holiday calendars are lists of rules (fixed date, n-th weekday of a month,
 * last weekday, Easter offset, US election day) with observed-day shifting
 * per entry. Where the law's list or its shifting is uncertain the calendar
 * takes the superset (the actual date and the observed date both banned, a
 * holiday on the vendor lists kept even if the statute is not at hand): a
 * wrong extra holiday delays calls by a day, a missing one breaks the law.
 * docs/compliance.md lists every such choice.
 *
 * Sources marked "(secondary)" come from the vendor and law-firm summaries
 * that DIALER-ANCHORS.md section 4 cites; "(unverified)" repeats that note's
 * own mark. Confirm with counsel before relying on them.
 */
#include <pthread.h>
#include <string.h>

#include "compliance/compliance_int.h"

/* ---- rule rows ------------------------------------------------------------- */

/* clang-format off */
enum rule_idx {
    R_FIRST_ = COMPLIANCE__R_FIRST_LEGAL - 1,
    R_US_HOURS,
    R_FL_HOURS,
    R_OK_HOURS,
    R_MD_HOURS,
    R_AL_HOURS,
    R_AL_SUNDAY,
    R_AL_HOLIDAY,
    R_LA_HOURS,
    R_LA_SUNDAY,
    R_LA_HOLIDAY,
    R_MS_HOURS,
    R_MS_SUNDAY,
    R_MS_HOLIDAY,
    R_RI_HOURS,
    R_RI_SUNDAY,
    R_RI_HOLIDAY,
    R_UT_HOLIDAY,
    R_PA_HOLIDAY,
    R_TX_HOURS,
    R_WA_HOURS,
    R_CT_HOURS,
    R_KY_HOURS,
    R_MA_HOURS,
    R_MI_HOURS,
    R_MN_HOURS,
    R_NV_HOURS,
    R_NM_HOURS,
    R_CA_HOURS,
    R_GB_HOURS,
    R_FR_HOURS,
    R_FR_WEEKEND,
    R_FR_HOLIDAY,
    R_COUNT_
};

const struct compliance_rule compliance__rules[] = {
    [COMPLIANCE__R_CAMPAIGN] = { "campaign-window", "campaign",
        "outside the campaign's own calling hours or days", "campaign configuration" },
    [COMPLIANCE__R_UNRULED] = { "no-rules-for-country", "none",
        "no calling rules are on file for the number's country; blocked by default",
        "module policy (docs/compliance.md)" },
    [COMPLIANCE__R_UNKNOWN_BLOCK] = { "unknown-place-blocked", "campaign",
        "the number's location is unknown and the campaign blocks such numbers",
        "campaign configuration" },
    [COMPLIANCE__R_ZONE_ERROR] = { "zone-data-unavailable", "none",
        "the time zone data for the number could not be read; blocked",
        "module policy (docs/compliance.md)" },
    [COMPLIANCE__R_FALLBACK] = { "us-strict-fallback", "US",
        "location unknown: the strictest US state rules in every US zone at once",
        "module policy (docs/compliance.md), from every US row of this table" },
    [R_US_HOURS] = { "us-tcpa-hours", "US",
     "no telephone solicitation before 8:00 or from 21:00 called party's local time",
     "47 CFR 64.1200(c)(1) (TCPA rules) (secondary quote); 16 CFR 310.4(c) (TSR)" },
    [R_FL_HOURS] = { "us-fl-hours", "US-FL",
     "commercial telephone solicitation only 8:00-20:00 called person's local time",
     "Fla. Stat. 501.616(6)(a), as amended by SB 1120 (2021), eff. 2021-07-01" },
    [R_OK_HOURS] = { "us-ok-hours", "US-OK",
     "calls only 9:00-20:00 local time (telephonic sales calls 8:00-20:00; automatic dial "
     "announcing devices not before 9:00)",
     "Oklahoma Telephone Solicitation Act of 2022, 15 O.S. 775C (secondary); 15 O.S. "
     "755.1(C)(2)(a) (statute text as quoted in DIALER-ANCHORS.md 4.5)" },
    [R_MD_HOURS] = { "us-md-hours", "US-MD",
     "telephone solicitation only 8:00-20:00 called party's time zone",
     "Maryland Stop the Spam Calls Act of 2023, eff. 2024-01-01 (secondary)" },
    [R_AL_HOURS] = { "us-al-hours", "US-AL", "calls only 8:00-20:00 local time",
     "Alabama PSC telephone solicitation rules (secondary: vendor state tables)" },
    [R_AL_SUNDAY] = { "us-al-sunday", "US-AL", "no calls on Sunday",
     "Alabama PSC telephone solicitation rules (secondary: vendor state tables)" },
    [R_AL_HOLIDAY] = { "us-al-holiday", "US-AL",
     "no calls on state holidays (Ala. Code 1-3-8; Saturday holiday also Friday, Sunday "
     "holiday also Monday)",
     "Alabama PSC rules; Ala. Code 1-3-8(a) (secondary: vendor holiday lists)" },
    [R_LA_HOURS] = { "us-la-hours", "US-LA", "calls only 8:00-20:00 Monday to Saturday",
     "La. PSC Gen. Order R-29617 V(A)(2); La. R.S. 45:811 (secondary quote)" },
    [R_LA_SUNDAY] = { "us-la-sunday", "US-LA", "no calls on Sunday",
     "La. PSC Gen. Order R-29617 V(A)(2) (secondary quote)" },
    [R_LA_HOLIDAY] = { "us-la-holiday", "US-LA",
     "no calls on legal holidays (La. R.S. 1:55 days incl. Jan 8, Mardi Gras, Good Friday)",
     "La. PSC Gen. Order R-29617 V(A)(2); La. R.S. 1:55 (secondary: vendor holiday lists)" },
    [R_MS_HOURS] = { "us-ms-hours", "US-MS", "calls only 8:00-20:00 local (Central) time",
     "Mississippi telephone solicitation rules (secondary: vendor state tables)" },
    [R_MS_SUNDAY] = { "us-ms-sunday", "US-MS", "no calls on Sunday",
     "Mississippi telephone solicitation rules (secondary: vendor state tables)" },
    [R_MS_HOLIDAY] = { "us-ms-holiday", "US-MS",
     "no calls on legal holidays (Miss. Code 3-3-7; Sunday holiday also Monday)",
     "Miss. Code 3-3-7 (secondary: vendor holiday lists)" },
    [R_RI_HOURS] = { "us-ri-hours", "US-RI",
     "unsolicited telephonic sales calls only during hours of operation: Monday to Friday "
     "9:00-18:00, Saturday 10:00-17:00",
     "R.I. Gen. Laws 5-61-3.6 and 5-61-2(2) (primary text)" },
    [R_RI_SUNDAY] = { "us-ri-sunday", "US-RI",
     "no unsolicited telephonic sales calls on Sunday (outside the hours of operation)",
     "R.I. Gen. Laws 5-61-2(2), 5-61-3.6 (primary text: the hours of operation name no Sunday)" },
    [R_RI_HOLIDAY] = { "us-ri-holiday", "US-RI",
     "no unsolicited telephonic sales calls on a state or federal holiday (25-1-1 list; federal "
     "observed days: Saturday also Friday, Sunday also Monday)",
     "R.I. Gen. Laws 5-61-2(2) (\"except a state or federal holiday\", primary text); "
     "R.I. Gen. Laws 25-1-1 (primary text); 5 U.S.C. 6103(b)" },
    [R_UT_HOLIDAY] = { "us-ut-holiday", "US-UT",
     "no calls on legal holidays (Utah Code 63G-1-301; Saturday also Friday, Sunday also "
     "Monday)",
     "Utah Code 63G-1-301 (secondary: vendor holiday lists)" },
    [R_PA_HOLIDAY] = { "us-pa-holiday", "US-PA", "no calls on Christmas Day",
     "vendor holiday lists (secondary)" },
    [R_TX_HOURS] = { "us-tx-hours", "US-TX",
     "calls only 9:00-21:00 Monday to Saturday, 12:00-21:00 Sunday",
     "Tex. Bus. & Com. Code 301.051 (secondary; Sunday hours unverified)" },
    [R_WA_HOURS] = { "us-wa-hours", "US-WA", "calls only 8:00-20:00 local time",
     "RCW 80.36.390 (unverified)" },
    [R_CT_HOURS] = { "us-ct-hours", "US-CT",
     "calls only 9:00-20:00 local time (sources disagree on 20:00 or 21:00; stricter kept)",
     "Connecticut (secondary: vendor state tables)" },
    [R_KY_HOURS] = { "us-ky-hours", "US-KY", "calls only 10:00-21:00 local time",
     "Kentucky (secondary: vendor state tables)" },
    [R_MA_HOURS] = { "us-ma-hours", "US-MA", "calls only 8:00-20:00 local time",
     "Massachusetts (secondary: vendor state tables)" },
    [R_MI_HOURS] = { "us-mi-hours", "US-MI", "calls only 9:00-21:00 local time",
     "Michigan (secondary: vendor state tables)" },
    [R_MN_HOURS] = { "us-mn-hours", "US-MN", "calls only 9:00-21:00 local time",
     "Minnesota (secondary: vendor state tables)" },
    [R_NV_HOURS] = { "us-nv-hours", "US-NV", "calls only 9:00-20:00 local time",
     "Nevada (secondary: vendor state tables)" },
    [R_NM_HOURS] = { "us-nm-hours", "US-NM", "calls only 9:00-21:00 local time",
     "New Mexico (secondary: vendor state tables)" },
    [R_CA_HOURS] = { "ca-crtc-hours", "CA",
     "telemarketing only 9:00-21:30 Monday to Friday, 10:00-18:00 Saturday and Sunday, "
     "called person's local time",
     "CRTC Unsolicited Telecommunications Rules, Part III (Telemarketing Rules) "
     "(secondary quote: northerntel.ca, lexology.com)" },
    [R_GB_HOURS] = { "gb-no-statutory-hours", "GB",
     "no statutory calling hours (Ofcom persistent-misuse policy governs abandoned and "
     "silent calls; caps data: 72 h after an abandoned call)",
     "Ofcom statement on persistent misuse (2016) (secondary summaries)" },
    [R_FR_HOURS] = { "fr-hours", "FR",
     "consumer telemarketing only Monday to Friday 10:00-13:00 and 14:00-20:00",
     "Decret n. 2022-1313 du 13 octobre 2022, art. 1 (Code de la consommation D223-8)" },
    [R_FR_WEEKEND] = { "fr-weekend", "FR", "no consumer telemarketing on Saturday or Sunday",
     "Decret n. 2022-1313, art. 1" },
    [R_FR_HOLIDAY] = { "fr-holiday", "FR",
     "no consumer telemarketing on public holidays (Code du travail L3133-1; Alsace-Moselle "
     "days applied nationwide)",
     "Decret n. 2022-1313, art. 1; Code du travail L3133-1" },
};
const unsigned compliance__rule_count = R_COUNT_;

/* clang-format on */

/* ---- holiday calendars ---------------------------------------------------- */

enum holiday_kind {
    H_FIXED,    /* month/day */
    H_NTH,      /* n-th weekday of month */
    H_LAST,     /* last weekday of month */
    H_EASTER,   /* Easter Sunday + offset days */
    H_ELECTION, /* Tuesday after the first Monday of November, even years */
};

enum holiday_shift {
    S_NONE = 0,
    S_SAT_FRI = 1, /* Saturday holiday also banned the Friday before */
    S_SUN_MON = 2, /* Sunday holiday also banned the Monday after */
    S_SAT_MON = 4, /* Saturday holiday also banned the Monday after */
};

struct holiday {
    uint8_t kind;
    uint8_t month;
    uint8_t day;  /* H_FIXED */
    uint8_t n;    /* H_NTH: 1-5 */
    uint8_t wday; /* H_NTH, H_LAST */
    int8_t easter_off;
    uint8_t shift;
};

struct compliance__holiday_cal {
    const struct holiday *days;
    unsigned n;
};

/* clang-format off */
#define FIXED(m, d, s)   { H_FIXED, m, d, 0, 0, 0, s }
#define NTH(n, wd, m)    { H_NTH, m, 0, n, wd, 0, S_NONE }
#define LAST(wd, m)      { H_LAST, m, 0, 0, wd, 0, S_NONE }
#define EASTER(off)      { H_EASTER, 0, 0, 0, 0, off, S_NONE }
#define ELECTION()       { H_ELECTION, 11, 0, 0, 0, 0, S_NONE }
enum { SUN, MON, TUE, WED, THU, FRI, SAT };
#define AL_S (S_SAT_FRI | S_SUN_MON)

/* Alabama: Ala. Code 1-3-8 state holidays, shifting per 1-3-8(a). */
static const struct holiday al_days[] = {
    FIXED(1, 1, AL_S),  /* New Year's Day */
    NTH(3, MON, 1),     /* Robert E. Lee / Martin Luther King Jr. birthday */
    NTH(3, MON, 2),     /* George Washington / Thomas Jefferson birthday */
    EASTER(-47),        /* Mardi Gras (Baldwin and Mobile counties; kept statewide) */
    NTH(4, MON, 4),     /* Confederate Memorial Day */
    LAST(MON, 5),       /* National Memorial Day */
    NTH(1, MON, 6),     /* Jefferson Davis' birthday */
    FIXED(7, 4, AL_S),  /* Independence Day */
    NTH(1, MON, 9),     /* Labor Day */
    NTH(2, MON, 10),    /* Columbus Day / Fraternal Day / American Indian Heritage Day */
    FIXED(11, 11, AL_S),/* Veterans Day */
    NTH(4, THU, 11),    /* Thanksgiving Day */
    FIXED(12, 25, AL_S),/* Christmas Day */
};

/* Louisiana: La. R.S. 1:55 legal holidays as on the vendor lists; a Saturday
 * holiday observed Friday appears on those lists (July 3, 2015). */
static const struct holiday la_days[] = {
    FIXED(1, 1, AL_S),   /* New Year's Day */
    FIXED(1, 8, AL_S),   /* Battle of New Orleans */
    NTH(3, MON, 1),      /* Martin Luther King Jr. Day */
    FIXED(1, 19, AL_S),  /* Robert E. Lee Day */
    NTH(3, MON, 2),      /* Washington's Birthday */
    EASTER(-47),         /* Mardi Gras */
    EASTER(-2),          /* Good Friday */
    LAST(MON, 5),        /* National Memorial Day */
    FIXED(6, 3, AL_S),   /* Confederate Memorial Day */
    FIXED(6, 19, AL_S),  /* Juneteenth (kept: federal holiday, La. status uncertain) */
    FIXED(7, 4, AL_S),   /* Independence Day */
    NTH(1, MON, 9),      /* Labor Day */
    NTH(2, MON, 10),     /* Columbus Day */
    FIXED(11, 1, AL_S),  /* All Saints' Day */
    FIXED(11, 11, AL_S), /* Veterans Day */
    NTH(4, THU, 11),     /* Thanksgiving Day */
    FIXED(12, 25, AL_S), /* Christmas Day */
};

/* Mississippi: Miss. Code 3-3-7; a Sunday holiday is also the Monday after. */
static const struct holiday ms_days[] = {
    FIXED(1, 1, S_SUN_MON),   /* New Year's Day */
    NTH(3, MON, 1),           /* Martin Luther King Jr. and Robert E. Lee birthdays */
    NTH(3, MON, 2),           /* Washington's Birthday */
    LAST(MON, 4),             /* Confederate Memorial Day */
    LAST(MON, 5),             /* National Memorial Day and Jefferson Davis' birthday */
    FIXED(7, 4, S_SUN_MON),   /* Independence Day */
    NTH(1, MON, 9),           /* Labor Day */
    FIXED(11, 11, S_SUN_MON), /* Armistice (Veterans) Day */
    NTH(4, THU, 11),          /* Thanksgiving Day */
    FIXED(12, 25, S_SUN_MON), /* Christmas Day */
};

/* Rhode Island: hours of operation exclude "a state or federal holiday"
 * (R.I. Gen. Laws 5-61-2(2)). State holidays: 25-1-1 (primary text): four
 * days move to the Monday after a Saturday or Sunday; any holiday on a Sunday
 * also moves to Monday. Federal holidays are observed on the Friday before a
 * Saturday and the Monday after a Sunday (5 U.S.C. 6103(b)), so the federal
 * days also ban the Friday before. */
#define RI_S (S_SAT_MON | S_SUN_MON | S_SAT_FRI)
#define RI_F (S_SUN_MON | S_SAT_FRI)
static const struct holiday ri_days[] = {
    FIXED(1, 1, RI_S),        /* New Year's Day (state and federal) */
    NTH(3, MON, 1),           /* Dr. Martin Luther King Jr.'s Birthday */
    NTH(3, MON, 2),           /* Washington's Birthday */
    FIXED(5, 4, S_SUN_MON),   /* Rhode Island Independence Day */
    LAST(MON, 5),             /* Memorial Day */
    FIXED(6, 19, RI_F),       /* Juneteenth (federal, 5 U.S.C. 6103) */
    FIXED(7, 4, RI_S),        /* Independence Day */
    NTH(2, MON, 8),           /* Victory Day */
    NTH(1, MON, 9),           /* Labor Day */
    NTH(2, MON, 10),          /* Columbus Day */
    ELECTION(),               /* election day, years of general state elections */
    FIXED(11, 11, RI_S),      /* Veterans' Day */
    NTH(4, THU, 11),          /* Thanksgiving (appointed by the president) */
    FIXED(12, 25, RI_S),      /* Christmas Day */
};

/* Utah: Utah Code 63G-1-301; Sunday -> Monday, Saturday -> Friday. */
static const struct holiday ut_days[] = {
    FIXED(1, 1, AL_S),   /* New Year's Day */
    NTH(3, MON, 1),      /* Dr. Martin Luther King Jr. Day / Human Rights Day */
    NTH(3, MON, 2),      /* Washington and Lincoln Day */
    LAST(MON, 5),        /* Memorial Day */
    FIXED(6, 19, AL_S),  /* Juneteenth National Freedom Day */
    FIXED(7, 4, AL_S),   /* Independence Day */
    FIXED(7, 24, AL_S),  /* Pioneer Day */
    NTH(1, MON, 9),      /* Labor Day */
    NTH(2, MON, 10),     /* Columbus Day */
    FIXED(11, 11, AL_S), /* Veterans Day */
    NTH(4, THU, 11),     /* Thanksgiving Day */
    FIXED(12, 25, AL_S), /* Christmas Day */
};

/* Pennsylvania: Christmas Day only (DIALER-ANCHORS.md 4.5). */
static const struct holiday pa_days[] = {
    FIXED(12, 25, S_NONE),
};

/* France: Code du travail L3133-1, plus Good Friday and December 26
 * (Alsace-Moselle, Code du travail L3134-13), applied to every French number. */
static const struct holiday fr_days[] = {
    FIXED(1, 1, S_NONE),   /* Jour de l'an */
    EASTER(-2),            /* Vendredi saint (Alsace-Moselle) */
    EASTER(1),             /* Lundi de Paques */
    FIXED(5, 1, S_NONE),   /* Fete du travail */
    FIXED(5, 8, S_NONE),   /* Victoire 1945 */
    EASTER(39),            /* Ascension */
    EASTER(50),            /* Lundi de Pentecote */
    FIXED(7, 14, S_NONE),  /* Fete nationale */
    FIXED(8, 15, S_NONE),  /* Assomption */
    FIXED(11, 1, S_NONE),  /* Toussaint */
    FIXED(11, 11, S_NONE), /* Armistice 1918 */
    FIXED(12, 25, S_NONE), /* Noel */
    FIXED(12, 26, S_NONE), /* Saint Etienne (Alsace-Moselle) */
};
/* clang-format on */

#define CAL(arr)                          \
    {                                     \
        arr, sizeof(arr) / sizeof(arr[0]) \
    }
static const struct compliance__holiday_cal al_cal = CAL(al_days);
static const struct compliance__holiday_cal la_cal = CAL(la_days);
static const struct compliance__holiday_cal ms_cal = CAL(ms_days);
static const struct compliance__holiday_cal ri_cal = CAL(ri_days);
static const struct compliance__holiday_cal ut_cal = CAL(ut_days);
static const struct compliance__holiday_cal pa_cal = CAL(pa_days);
static const struct compliance__holiday_cal fr_cal = CAL(fr_days);

/* Easter Sunday (Gregorian; anonymous algorithm), as a day number. */
static int64_t easter(int32_t y)
{
    int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31;
    int day = (h + l - 7 * m + 114) % 31 + 1;
    return compliance__days_from_civil(y, (unsigned)month, (unsigned)day);
}

static int64_t nth_weekday(int32_t y, unsigned m, unsigned n, unsigned wd)
{
    int64_t first = compliance__days_from_civil(y, m, 1);
    return first + (int64_t)((wd + 7 - compliance__weekday(first)) % 7) + 7 * (int64_t)(n - 1);
}

static int64_t last_weekday(int32_t y, unsigned m, unsigned wd)
{
    int64_t next = m == 12 ? compliance__days_from_civil(y + 1, 1, 1)
                           : compliance__days_from_civil(y, m + 1, 1);
    int64_t last = next - 1;
    return last - (int64_t)((compliance__weekday(last) + 7 - wd) % 7);
}

/* True if the fixed holiday h of year y, actual or observed, is day. */
static int fixed_hits(const struct holiday *h, int32_t y, int64_t day)
{
    int64_t actual = compliance__days_from_civil(y, h->month, h->day);
    if (actual == day) {
        return 1;
    }
    unsigned wd = compliance__weekday(actual);
    if (wd == SAT && (h->shift & S_SAT_FRI) && actual - 1 == day) {
        return 1;
    }
    if (wd == SAT && (h->shift & S_SAT_MON) && actual + 2 == day) {
        return 1;
    }
    if (wd == SUN && (h->shift & S_SUN_MON) && actual + 1 == day) {
        return 1;
    }
    return 0;
}

int compliance__holiday_is(const struct compliance__holiday_cal *cal, int32_t y, unsigned m,
                           unsigned d)
{
    int64_t day = compliance__days_from_civil(y, m, d);
    int64_t easter_day = INT64_MIN;
    /* Month-first filters keep this to a few comparisons on most days. */
    for (unsigned i = 0; i < cal->n; i++) {
        const struct holiday *h = &cal->days[i];
        switch (h->kind) {
        case H_FIXED:
            /* A shift moves at most two days, possibly across a month or year:
             * only the same month, or a neighbour's edge, can match. */
            if (h->month != m && !(d >= 28 && h->day <= 2 && h->month == m % 12 + 1u) &&
                !(d <= 3 && h->day >= 28 && m == (unsigned)h->month % 12 + 1)) {
                break;
            }
            if (fixed_hits(h, y, day) || (m == 12 && fixed_hits(h, y + 1, day)) ||
                (m == 1 && fixed_hits(h, y - 1, day))) {
                return 1;
            }
            break;
        case H_NTH:
            if (h->month == m && nth_weekday(y, m, h->n, h->wday) == day) {
                return 1;
            }
            break;
        case H_LAST:
            if (h->month == m && last_weekday(y, m, h->wday) == day) {
                return 1;
            }
            break;
        case H_EASTER:
            if (m >= 2 && m <= 6) {
                if (easter_day == INT64_MIN) {
                    easter_day = easter(y);
                }
                if (easter_day + h->easter_off == day) {
                    return 1;
                }
            }
            break;
        case H_ELECTION:
            if (m == 11 && y % 2 == 0 && nth_weekday(y, 11, 1, MON) + 1 == day) {
                return 1;
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- jurisdictions ---------------------------------------------------------- */

/* clang-format off */
#define H1(a, b)   { 1, { (a) * 60, 0 }, { (b) * 60, 0 } }
#define HM(a, b)   { 1, { (a), 0 }, { (b), 0 } }
#define NONE       { 0, { 0, 0 }, { 0, 0 } }
#define EVERY(h)   { h, h, h, h, h, h, h }
#define ALLDAY     H1(0, 24)

static const struct compliance__juris j_us = {
    "US", &compliance__rules[R_US_HOURS], EVERY(H1(8, 21)), NULL, 0, NULL, NULL, 0,
};

/* Sorted by code (binary search). */
static const struct compliance__juris j_states[] = {
    { "AL", &compliance__rules[R_AL_HOURS], EVERY(H1(8, 20)), &compliance__rules[R_AL_SUNDAY], 1 << SUN, &compliance__rules[R_AL_HOLIDAY], &al_cal, 0 },
    { "CT", &compliance__rules[R_CT_HOURS], EVERY(H1(9, 20)), NULL, 0, NULL, NULL, 0 },
    { "FL", &compliance__rules[R_FL_HOURS], EVERY(H1(8, 20)), NULL, 0, NULL, NULL, 1 },
    { "KY", &compliance__rules[R_KY_HOURS], EVERY(H1(10, 21)), NULL, 0, NULL, NULL, 0 },
    { "LA", &compliance__rules[R_LA_HOURS], EVERY(H1(8, 20)), &compliance__rules[R_LA_SUNDAY], 1 << SUN, &compliance__rules[R_LA_HOLIDAY], &la_cal, 0 },
    { "MA", &compliance__rules[R_MA_HOURS], EVERY(H1(8, 20)), NULL, 0, NULL, NULL, 0 },
    { "MD", &compliance__rules[R_MD_HOURS], EVERY(H1(8, 20)), NULL, 0, NULL, NULL, 0 },
    { "MI", &compliance__rules[R_MI_HOURS], EVERY(H1(9, 21)), NULL, 0, NULL, NULL, 0 },
    { "MN", &compliance__rules[R_MN_HOURS], EVERY(H1(9, 21)), NULL, 0, NULL, NULL, 0 },
    { "MS", &compliance__rules[R_MS_HOURS], EVERY(H1(8, 20)), &compliance__rules[R_MS_SUNDAY], 1 << SUN, &compliance__rules[R_MS_HOLIDAY], &ms_cal, 0 },
    { "NM", &compliance__rules[R_NM_HOURS], EVERY(H1(9, 21)), NULL, 0, NULL, NULL, 0 },
    { "NV", &compliance__rules[R_NV_HOURS], EVERY(H1(9, 20)), NULL, 0, NULL, NULL, 0 },
    { "OK", &compliance__rules[R_OK_HOURS], EVERY(H1(9, 20)), NULL, 0, NULL, NULL, 1 },
    { "PA", NULL, EVERY(NONE), NULL, 0, &compliance__rules[R_PA_HOLIDAY], &pa_cal, 0 },
    { "RI", &compliance__rules[R_RI_HOURS], { NONE, H1(9, 18), H1(9, 18), H1(9, 18), H1(9, 18), H1(9, 18),
                           H1(10, 17) }, &compliance__rules[R_RI_SUNDAY], 1 << SUN, &compliance__rules[R_RI_HOLIDAY], &ri_cal, 0 },
    { "TX", &compliance__rules[R_TX_HOURS], { H1(12, 21), H1(9, 21), H1(9, 21), H1(9, 21), H1(9, 21), H1(9, 21),
                           H1(9, 21) }, NULL, 0, NULL, NULL, 0 },
    { "UT", NULL, EVERY(NONE), NULL, 0, &compliance__rules[R_UT_HOLIDAY], &ut_cal, 0 },
    { "WA", &compliance__rules[R_WA_HOURS], EVERY(H1(8, 20)), NULL, 0, NULL, NULL, 0 },
};

/* Sorted by code. */
static const struct compliance__juris j_countries[] = {
    { "CA", &compliance__rules[R_CA_HOURS], { H1(10, 18), HM(540, 1290), HM(540, 1290), HM(540, 1290),
                           HM(540, 1290), HM(540, 1290), H1(10, 18) }, NULL, 0, NULL, NULL, 0 },
    { "FR", &compliance__rules[R_FR_HOURS], { NONE, { 2, { 600, 840 }, { 780, 1200 } },
                           { 2, { 600, 840 }, { 780, 1200 } }, { 2, { 600, 840 }, { 780, 1200 } },
                           { 2, { 600, 840 }, { 780, 1200 } }, { 2, { 600, 840 }, { 780, 1200 } },
                           NONE }, &compliance__rules[R_FR_WEEKEND], (1 << SUN) | (1 << SAT), &compliance__rules[R_FR_HOLIDAY], &fr_cal, 0 },
    { "GB", &compliance__rules[R_GB_HOURS], EVERY(ALLDAY), NULL, 0, NULL, NULL, 0 },
};

/* Every zone a number of the 50 states, DC, Puerto Rico or the US Virgin
 * Islands can be in. Guam, the Northern Mariana Islands and American Samoa
 * are left out: across the date line no hour is legal in them and in the
 * Eastern zone at once under the strictest state hours. */
const char *const compliance__fallback_zones[] = {
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "America/Adak", "Pacific/Honolulu",
    "America/Puerto_Rico", NULL,
};

/* clang-format on */

static const struct compliance__juris *find(const struct compliance__juris *rows, size_t n,
                                            const char *code)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rows[mid].code, code);
        if (c == 0) {
            return &rows[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const struct compliance__juris *compliance__juris_us(void)
{
    return &j_us;
}

const struct compliance__juris *compliance__juris_state(const char *code2)
{
    return find(j_states, sizeof(j_states) / sizeof(j_states[0]), code2);
}

const struct compliance__juris *compliance__juris_country(const char *iso2)
{
    return find(j_countries, sizeof(j_countries) / sizeof(j_countries[0]), iso2);
}

/*
 * The fallback row: every US row merged into one, built once. Hours are the
 * intersection of the federal and every state schedule (each one interval a
 * day), the day bans are their union and the calendar is every state
 * calendar concatenated (entries carry their own shifting, so the
 * concatenation bans exactly the union of the days). One row instead of
 * nineteen keeps the fallback's nine-zone search cheap.
 */
static struct compliance__juris j_fallback;
static struct holiday
    fallback_days[sizeof(al_days) / sizeof(al_days[0]) + sizeof(la_days) / sizeof(la_days[0]) +
                  sizeof(ms_days) / sizeof(ms_days[0]) + sizeof(ri_days) / sizeof(ri_days[0]) +
                  sizeof(ut_days) / sizeof(ut_days[0]) + sizeof(pa_days) / sizeof(pa_days[0])];
static struct compliance__holiday_cal fallback_cal;
static pthread_once_t fallback_once = PTHREAD_ONCE_INIT;

static void fallback_build(void)
{
    const struct compliance__juris *rows[32];
    unsigned nrows = 0;
    rows[nrows++] = &j_us;
    for (size_t i = 0; i < sizeof(j_states) / sizeof(j_states[0]); i++) {
        rows[nrows++] = &j_states[i];
    }
    j_fallback = j_us;
    j_fallback.code = "US*";
    j_fallback.hours_rule = &compliance__rules[COMPLIANCE__R_FALLBACK];
    j_fallback.dayban_rule = &compliance__rules[COMPLIANCE__R_FALLBACK];
    j_fallback.holiday_rule = &compliance__rules[COMPLIANCE__R_FALLBACK];
    for (unsigned r = 0; r < nrows; r++) {
        const struct compliance__juris *j = rows[r];
        j_fallback.dayban_mask |= j->dayban_mask;
        if (j->hours_rule == NULL) {
            continue;
        }
        for (int wd = 0; wd < 7; wd++) {
            struct compliance__day_hours *h = &j_fallback.hours[wd];
            /* Every US row has at most one interval a day. */
            if (j->hours[wd].n == 0) {
                h->n = 0;
            } else if (h->n == 1) {
                h->start[0] =
                    h->start[0] > j->hours[wd].start[0] ? h->start[0] : j->hours[wd].start[0];
                h->end[0] = h->end[0] < j->hours[wd].end[0] ? h->end[0] : j->hours[wd].end[0];
                if (h->start[0] >= h->end[0]) {
                    h->n = 0;
                }
            }
        }
    }
    const struct compliance__holiday_cal *cals[] = { &al_cal, &la_cal, &ms_cal,
                                                     &ri_cal, &ut_cal, &pa_cal };
    unsigned n = 0;
    for (size_t c = 0; c < sizeof(cals) / sizeof(cals[0]); c++) {
        for (unsigned i = 0; i < cals[c]->n; i++) {
            fallback_days[n++] = cals[c]->days[i];
        }
    }
    fallback_cal.days = fallback_days;
    fallback_cal.n = n;
    j_fallback.holidays = &fallback_cal;
}

const struct compliance__juris *compliance__juris_fallback(void)
{
    pthread_once(&fallback_once, fallback_build);
    return &j_fallback;
}

const struct compliance__juris *compliance__juris_state_at(size_t i)
{
    return i < sizeof(j_states) / sizeof(j_states[0]) ? &j_states[i] : NULL;
}

int compliance__country_is_us(const char *c)
{
    return strcmp(c, "US") == 0 || strcmp(c, "PR") == 0 || strcmp(c, "VI") == 0 ||
           strcmp(c, "GU") == 0 || strcmp(c, "AS") == 0 || strcmp(c, "MP") == 0;
}

const struct compliance_rule *compliance_rules(size_t *n)
{
    *n = R_COUNT_;
    return compliance__rules;
}

/* ---- caps (data only) ------------------------------------------------------- */

/* clang-format off */
static const struct compliance_cap caps[] = {
    { "us-fl-3-per-24h", "US-FL", COMPLIANCE_CAP_CALLS_PER_PERIOD, 3, 86400,
      "same subject matter or issue, from any number",
      "Fla. Stat. 501.616(6)(b), as amended by SB 1120 (2021)" },
    { "us-ok-3-per-24h", "US-OK", COMPLIANCE_CAP_CALLS_PER_PERIOD, 3, 86400,
      "same subject matter or issue", "15 O.S. 775C.4 (secondary)" },
    { "us-md-3-per-24h", "US-MD", COMPLIANCE_CAP_CALLS_PER_PERIOD, 3, 86400,
      "calls or text messages about the same subject to the same called party",
      "Maryland Stop the Spam Calls Act of 2023 (secondary)" },
    { "us-regf-7-in-7", "US", COMPLIANCE_CAP_CALLS_PER_PERIOD, 7, 7 * 86400,
      "debt collectors only: same person, same debt",
      "12 CFR 1006.14(b)(2)(i) (Regulation F) (secondary quote)" },
    { "gb-72h-after-abandon", "GB", COMPLIANCE_CAP_LOCKOUT_AFTER_ABANDON, 0, 72 * 3600,
      "same number, unless a live agent is guaranteed",
      "Ofcom 2010 statement on abandoned and silent calls, kept in practice after the "
      "2016 persistent-misuse statement (secondary summaries)" },
    { "gb-24h-after-amd", "GB", COMPLIANCE_CAP_LOCKOUT_AFTER_AMD, 0, 24 * 3600,
      "same number after an answering-machine detection, unless a live agent is guaranteed",
      "Ofcom 2010 statement on abandoned and silent calls (secondary summaries)" },
    { "fr-4-per-month", "FR", COMPLIANCE_CAP_CALLS_PER_MONTH, 4, 0,
      "same professional, same consumer", "Decret n. 2022-1313, art. 1" },
    { "fr-60d-after-refusal", "FR", COMPLIANCE_CAP_LOCKOUT_AFTER_REFUSAL, 0, 60 * 86400,
      "same professional, after the consumer refused", "Decret n. 2022-1313, art. 1" },
};

/* clang-format on */

static int cap_applies(const struct compliance_cap *c, const struct compliance_place *p)
{
    const char *j = c->jurisdiction;
    if (j[2] == '\0') {
        if (strcmp(j, "US") == 0) {
            return compliance__country_is_us(p->country);
        }
        return strcmp(j, p->country) == 0;
    }
    /* "US-XX": one of the place's regions. */
    if (!compliance__country_is_us(p->country)) {
        return 0;
    }
    for (unsigned i = 0; i < p->nregions; i++) {
        if (strcmp(j + 3, p->regions[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

size_t compliance_caps_find(const struct compliance_place *place, const struct compliance_cap **out,
                            size_t max)
{
    size_t n = 0;
    if (place == NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        if (cap_applies(&caps[i], place)) {
            if (n < max && out != NULL) {
                out[n] = &caps[i];
            }
            n++;
        }
    }
    return n;
}
