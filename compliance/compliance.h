/* SPDX-License-Identifier: MIT */
/*
 * compliance: where a number is, what time it is there, and whether the law
 * (and the campaign) lets us call it now.
 *
 * Three layers, each usable on its own:
 *
 *   1. Place. compliance_locate() maps an E.164 number to a country, a US
 *      state / Canadian province / territory and one or more IANA time zones,
 *      from static tables generated out of libphonenumber's data
 *      (compliance/npa_tables.c; longest prefix wins: NPA-NXX before NPA
 *      before country code). A contact list may know better: the contact's
 *      own zone or state wins over the area code
 *      (compliance_place_override()).
 *
 *   2. Time. Zones are read from the system tz database (TZif files under
 *      /usr/share/zoneinfo by default), each once, into a transition table;
 *      UTC -> local is a binary search. No TZ environment variable, tzset()
 *      or localtime() is involved, so any thread may convert any zone.
 *
 *   3. Verdict. compliance_window_check() combines the calling-hour rules of
 *      every jurisdiction that applies (US federal plus the state, Canada,
 *      UK, France), Sunday and holiday bans and the campaign's own hours,
 *      evaluated in every zone of the place, and returns allow/block, the
 *      rule that decided, the rule-set version and the exact next moment the
 *      number becomes eligible. The check allocates nothing.
 *
 * Frequency caps (Florida's 3 calls per 24 h, the UK 72 h lockout after an
 * abandoned call, France's 4 calls a month) are not decided here; their
 * parameters are exposed as data (compliance_caps_find()) for the caps module.
 *
 * Threads: after compliance_init() every function may be called from any
 * thread. Zones are loaded lazily on first use under a mutex (or all at init
 * with preload); once loaded a zone is immutable and read without locks.
 */
#ifndef COMPLIANCE_COMPLIANCE_H
#define COMPLIANCE_COMPLIANCE_H

#include <stddef.h>
#include <stdint.h>

struct json_t;

/* Version of the rule table below; changes whenever a rule row changes. */
#define COMPLIANCE_RULESET_VERSION "2026.11-1"

#define COMPLIANCE_PLACE_MAX_ZONES   4
#define COMPLIANCE_PLACE_MAX_REGIONS 3

/* How far compliance_window_check() looks for the next eligible moment. */
#define COMPLIANCE_HORIZON_DAYS 14

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

struct compliance_options {
    const char *tzdir; /* zoneinfo directory; NULL: /usr/share/zoneinfo (copied) */
    int preload;       /* nonzero: load every zone of the tables now */
};

/*
 * Sets the zoneinfo directory and, with preload, loads every zone the tables
 * name (a missing zone is then reported here rather than at the first call).
 * opts may be NULL for the defaults. Returns 0, ERR_NOMEM, or with preload
 * the error of the first zone that failed (the others are still loaded).
 * Call once before threads use the module; calling any other function first
 * uses the defaults.
 */
int compliance_init(const struct compliance_options *opts);

/* Frees every loaded zone. No other call may be running or made afterwards
 * unless compliance_init() is called again. */
void compliance_fini(void);

/* ------------------------------------------------------------------------ */
/* Place                                                                     */

enum compliance_source {
    COMPLIANCE_SOURCE_UNKNOWN = 0, /* nothing known about the number */
    COMPLIANCE_SOURCE_NPA,         /* NANP area code */
    COMPLIANCE_SOURCE_NPA_NXX,     /* NANP area code + leading exchange digits */
    COMPLIANCE_SOURCE_COUNTRY,     /* country calling code (+ leading digits) */
    COMPLIANCE_SOURCE_CONTACT,     /* the contact list's own zone or state */
};

/*
 * Where a number is. A value type: copy it freely, store it with the contact.
 * zones[] are zone ids (compliance_zone_name()); ids of the generated table
 * are stable for one build, ids of zones registered at run time for one
 * process only, so persist zone names, not ids.
 */
struct compliance_place {
    enum compliance_source source;                 /* ro: where the facts came from */
    char country[3];                               /* ro: ISO 3166-1 alpha-2, "" if unknown */
    uint8_t nregions;                              /* ro: entries used in regions[] */
    uint8_t nzones;                                /* ro: entries used in zones[] */
    uint8_t zones_truncated;                       /* ro: the data lists more zones than fit */
    uint8_t presumed_regions;                      /* ro: regions[] kept from the area code */
    char regions[COMPLIANCE_PLACE_MAX_REGIONS][3]; /* ro: "FL", "ON", "PR" */
    uint16_t zones[COMPLIANCE_PLACE_MAX_ZONES];    /* ro: zone ids */
};

/*
 * Locates e164 ("+14155550123"): '+', a country code and 4 to 14 more digits,
 * nothing else; NANP numbers need exactly 10 digits after "+1" with NPA and
 * NXX starting 2-9. Fills *out and returns 0, also for a valid number nothing
 * is known about (source COMPLIANCE_SOURCE_UNKNOWN). Returns ERR_INVAL for
 * malformed input (out is then cleared to UNKNOWN). e164 is borrowed. No
 * allocation, no I/O; any thread.
 */
int compliance_locate(const char *e164, struct compliance_place *out);

/*
 * Applies what the contact list says about a contact. tz_name (an IANA zone,
 * may be NULL or "") replaces the zones; region (a two-letter US state,
 * Canadian province or territory code, may be NULL or "") replaces the
 * regions, and without tz_name also the zones (those the data gives for the
 * region). When the area code's state gives a legal presumption of residence
 * (Florida, Oklahoma), that state's rules keep applying too (presumed_regions).
 * Returns 0 (source becomes COMPLIANCE_SOURCE_CONTACT), ERR_NOTFOUND for a
 * zone the tz database lacks or an unknown region, ERR_INVAL for a malformed
 * name; *place is unchanged on error. May load a zone file (first use).
 */
int compliance_place_override(struct compliance_place *place, const char *tz_name,
                              const char *region);

/* "npa", "npa-nxx", "country", "contact" or "unknown". Static. */
const char *compliance_source_name(enum compliance_source source);

/* The zone's IANA name, or NULL for an unknown id. Static (valid until fini). */
const char *compliance_zone_name(uint16_t id);

/*
 * The id of the zone called name, registering (and loading) it when the
 * tables do not list it. Returns 0, ERR_INVAL (malformed name), ERR_NOTFOUND
 * (no such zone in the tz database), ERR_TOOBIG (registry full), ERR_NOMEM.
 */
int compliance_zone_id(const char *name, uint16_t *id);

/* ------------------------------------------------------------------------ */
/* Time                                                                      */

struct compliance_local {
    int32_t utoff_s; /* local - UTC, seconds (-12600 in Newfoundland winter) */
    uint8_t isdst;   /* 1 while daylight saving time is in effect */
    uint8_t month;   /* 1-12 */
    uint8_t day;     /* 1-31 */
    uint8_t hour;    /* 0-23 */
    uint8_t minute;  /* 0-59 */
    uint8_t second;  /* 0-59 */
    uint8_t wday;    /* 0 = Sunday ... 6 = Saturday */
    int32_t year;
};

/*
 * Converts utc_us (epoch microseconds) to local time in zone id. Returns 0,
 * ERR_NOTFOUND (unknown id or zone file missing/unreadable) or ERR_PARSE
 * (zone file malformed). May load the zone on first use; any thread.
 */
int compliance_tz_to_local(uint16_t zone, int64_t utc_us, struct compliance_local *out);

/* The tz database version ("2026f") of the loaded zoneinfo, or "unknown". */
const char *compliance_tzdata_version(void);

/* ------------------------------------------------------------------------ */
/* Rules and verdicts                                                        */

/* One row of the rule table. Static data. */
struct compliance_rule {
    const char *id;           /* stable id, "us-fl-hours" */
    const char *jurisdiction; /* "US", "US-FL", "CA", "GB", "FR", "campaign" */
    const char *text;         /* what the rule says, for people */
    const char *source;       /* legal source; "(secondary)" where not primary */
};

enum compliance_verdict_kind {
    COMPLIANCE_ALLOW = 0,
    COMPLIANCE_BLOCK = 1,
};

enum compliance_fallback {
    COMPLIANCE_FALLBACK_US_STRICT = 0, /* the strictest US rules in every US zone */
    COMPLIANCE_FALLBACK_BLOCK = 1,     /* do not call numbers we cannot place */
};

/*
 * The campaign's own window, in the contact's local time; it can only narrow
 * the legal windows. A zeroed struct narrows nothing and uses the defaults.
 */
struct compliance_campaign_window {
    uint8_t days;       /* bit 0 = Sunday ... bit 6 = Saturday; 0 = every day */
    uint16_t start_min; /* first allowed minute of the day (0-1439) */
    uint16_t end_min;   /* first minute no longer allowed (1-1440); 0 = no hours limit */
    enum compliance_fallback fallback; /* for places with no zone */
    uint8_t allow_unruled;             /* countries with no rule row: call within the campaign
                                        * window (default: block) */
};

struct compliance_verdict {
    enum compliance_verdict_kind verdict;
    const struct compliance_rule *rule; /* the rule that decided (static) */
    const char *ruleset_version;        /* COMPLIANCE_RULESET_VERSION */
    int64_t next_eligible_us;           /* now when allowed; else the first allowed moment,
                                         * 0 if none within COMPLIANCE_HORIZON_DAYS */
    uint16_t zone;                      /* zone whose local time decided (0xffff: none) */
    uint8_t fallback_used;              /* the place had no zone: the fallback decided */
    struct compliance_local local;      /* now, in that zone */
};

/*
 * Decides whether the number at place may be called at now_us (epoch
 * microseconds, from core/clock) under the rule table and the campaign window
 * cw (NULL = no narrowing), and when it next may. Every zone of the place
 * must allow the call, under the rules of every region of the place. The
 * verdict is a value in *out, never an error. Returns 0, or ERR_INVAL for
 * NULL place/out or an invalid window (start_min >= end_min, end_min > 1440).
 * No allocation; zones not yet loaded are loaded on first use. Any thread.
 */
int compliance_window_check(const struct compliance_place *place,
                            const struct compliance_campaign_window *cw, int64_t now_us,
                            struct compliance_verdict *out);

/* The whole rule table (static; *n set to its length). */
const struct compliance_rule *compliance_rules(size_t *n);

/* ------------------------------------------------------------------------ */
/* Frequency-cap data (decided by the caps module, not here)                 */

enum compliance_cap_kind {
    COMPLIANCE_CAP_CALLS_PER_PERIOD,      /* at most max_calls per period_s, rolling */
    COMPLIANCE_CAP_CALLS_PER_MONTH,       /* at most max_calls per calendar month */
    COMPLIANCE_CAP_LOCKOUT_AFTER_ABANDON, /* no redial for period_s after an abandoned
                                           * call unless an agent is guaranteed */
    COMPLIANCE_CAP_LOCKOUT_AFTER_REFUSAL, /* no call for period_s after a refusal */
    COMPLIANCE_CAP_LOCKOUT_AFTER_AMD,     /* no redial for period_s after an answering
                                           * machine was detected, unless an agent is
                                           * guaranteed */
};

struct compliance_cap {
    const char *id;           /* "us-fl-3-per-24h" */
    const char *jurisdiction; /* "US-FL", "GB", "FR" */
    enum compliance_cap_kind kind;
    uint32_t max_calls; /* for the *_PER_* kinds */
    int64_t period_s;   /* window or lockout length in seconds */
    const char *scope;  /* what is counted: "same subject", "same professional" */
    const char *source; /* legal source */
};

/*
 * The caps that apply to place (its country and regions). Writes up to max
 * pointers to static rows into out and returns how many apply (which may be
 * more than max).
 */
size_t compliance_caps_find(const struct compliance_place *place, const struct compliance_cap **out,
                            size_t max);

/* ------------------------------------------------------------------------ */
/* Audit                                                                     */

/*
 * Formats one decision as a JSON object for export: the number masked (first
 * 5 and last 2 characters kept), the time (UTC and local), the verdict, the
 * deciding rule with its source, the next eligible time, the place and the
 * versions of the rule set, the phone data and the tz database. e164, place
 * and v are borrowed. Returns 0 and a new reference in *out (the caller
 * json_decref()s it), ERR_INVAL for NULL arguments, ERR_NOMEM.
 */
int compliance_audit_json(const char *e164, const struct compliance_place *place,
                          const struct compliance_verdict *v, int64_t now_us, struct json_t **out);

#endif
