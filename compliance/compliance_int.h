/* SPDX-License-Identifier: MIT */
/*
 * compliance_int: declarations shared by the files of the compliance module
 * and nothing else (the generated tables, the zone registry, the rule table,
 * calendar arithmetic).
 */
#ifndef COMPLIANCE_COMPLIANCE_INT_H
#define COMPLIANCE_COMPLIANCE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "compliance/compliance.h"

/* ---- generated tables (npa_tables.c) ----------------------------------- */

struct compliance__zoneset {
    uint16_t start; /* index into compliance__zoneset_ids */
    uint16_t count;
};

struct compliance__prefix {
    uint64_t digits;  /* the prefix as a number (leading digit is never 0) */
    uint8_t len;      /* number of digits */
    char country[3];  /* ISO 3166-1 alpha-2 or "" */
    uint16_t region;  /* index into compliance__regions ("" = none) */
    uint16_t zoneset; /* index into compliance__zonesets */
    uint8_t source;   /* enum compliance_source */
};

extern const char compliance__phone_data_version[];
extern const char compliance__table_tzdata_version[];
extern const char *const compliance__zone_names[];
extern const unsigned compliance__zone_count;
extern const uint16_t compliance__zoneset_ids[];
extern const struct compliance__zoneset compliance__zonesets[];
extern const unsigned compliance__zoneset_count;
extern const char *const compliance__regions[];
extern const unsigned compliance__region_count;
extern const uint16_t compliance__region_zoneset[];
extern const char compliance__region_country[][3];
extern const struct compliance__prefix compliance__prefixes[];
extern const unsigned compliance__prefix_count;
extern const uint32_t compliance__prefix_lengths;

/* ---- zones (tz.c) -------------------------------------------------------- */

#define COMPLIANCE__ZONE_NONE 0xffffu

/* One stretch of UTC time with a constant offset: [start, end). */
struct compliance__span {
    int64_t start; /* seconds since the epoch; INT64_MIN: since ever */
    int64_t end;   /* exclusive; INT64_MAX: for ever */
    int32_t utoff; /* local - UTC, seconds */
    uint8_t isdst;
};

struct compliance__tz; /* a loaded zone; immutable once published */

/*
 * The loaded zone with id zone, loading it on first use (thread-safe).
 * Returns 0, ERR_NOTFOUND or ERR_PARSE. The pointer is valid until
 * compliance_fini().
 */
int compliance__tz_get(uint16_t zone, const struct compliance__tz **out);

/* The span of tz containing utc_s (seconds). Never fails. */
void compliance__tz_span(const struct compliance__tz *tz, int64_t utc_s,
                         struct compliance__span *out);

/* Local time of utc_s within span sp (which must contain it). */
void compliance__local_fill(int64_t utc_s, const struct compliance__span *sp,
                            struct compliance_local *out);

/* ---- calendar arithmetic (tz.c) ------------------------------------------ */

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
int64_t compliance__days_from_civil(int64_t y, unsigned m, unsigned d);

/* The date of day number days (since 1970-01-01). */
void compliance__civil_from_days(int64_t days, int32_t *y, unsigned *m, unsigned *d);

/* 0 = Sunday ... 6 = Saturday. */
unsigned compliance__weekday(int64_t days);

/* floor(a / b) for b > 0. */
static inline int64_t compliance__floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b) != 0 && (a < 0)) {
        q--;
    }
    return q;
}

/* ---- rules (rules.c) ----------------------------------------------------- */

#define COMPLIANCE__MAX_IVL 4

struct compliance__ivl {
    int32_t start; /* seconds of the local day, inclusive */
    int32_t end;   /* exclusive; at most 86400 */
};

/* One day of a weekly schedule: up to two intervals, minutes of the day. */
struct compliance__day_hours {
    uint8_t n;
    uint16_t start[2];
    uint16_t end[2];
};

struct compliance__holiday_cal; /* opaque: a holiday calendar */

/* The rules of one jurisdiction. Static rows of rules.c. */
struct compliance__juris {
    const char *code;                          /* "US", "US-FL", "CA", "GB", "FR" */
    const struct compliance_rule *hours_rule;  /* NULL: no hours rule */
    struct compliance__day_hours hours[7];     /* by weekday, 0 = Sunday */
    const struct compliance_rule *dayban_rule; /* NULL: no day ban */
    uint8_t dayban_mask;                       /* bit per weekday */
    const struct compliance_rule *holiday_rule;
    const struct compliance__holiday_cal *holidays;
    uint8_t presumption; /* area-code presumption of residence (FL, OK) */
};

/* The US federal row, a state row (NULL if none), country rows (NULL if none). */
const struct compliance__juris *compliance__juris_us(void);
const struct compliance__juris *compliance__juris_state(const char *code2);
const struct compliance__juris *compliance__juris_country(const char *iso2);
/* The strict US fallback (strictest hours, every ban, every holiday). */
const struct compliance__juris *compliance__juris_fallback(void);
/* The fallback's zones (names), NULL-terminated. */
extern const char *const compliance__fallback_zones[];

/* True if y-m-d (with weekday wday) is a banned day under cal. */
int compliance__holiday_is(const struct compliance__holiday_cal *cal, int32_t y, unsigned m,
                           unsigned d);

/* Countries whose numbers fall under the US federal rules. */
int compliance__country_is_us(const char *iso2);

/* The i-th state row (sorted by code), NULL past the end. */
const struct compliance__juris *compliance__juris_state_at(size_t i);

/* The rule table; the first rows are the verdicts no legal row decides. */
enum compliance__rule_special {
    COMPLIANCE__R_CAMPAIGN,
    COMPLIANCE__R_UNRULED,
    COMPLIANCE__R_UNKNOWN_BLOCK,
    COMPLIANCE__R_ZONE_ERROR,
    COMPLIANCE__R_FALLBACK,
    COMPLIANCE__R_FIRST_LEGAL,
};
extern const struct compliance_rule compliance__rules[];
extern const unsigned compliance__rule_count;

#endif
