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
 *   4. Do-Not-Call. An in-memory store of Elias-Fano number sets per list
 *      (national, tenant, campaign) with area-code and exchange blocks, an
 *      overlay of recent changes, lock-free readers (hazard pointers), a
 *      worker-thread loader (PostgreSQL, registry and plain files) and
 *      propagation between nodes over Redis pub/sub; the national list's age.
 *
 *   5. Frequency caps in Redis (one atomic Lua script per attempt, shared by
 *      the tenant's campaigns and all nodes; fail closed), abandonment
 *      accounting and the safe-harbour check.
 *
 *   6. compliance_decide(): the scheduler's one question, combining the
 *      above, naming the rule or list that decided, with an audit record.
 *
 *   7. Decision records: every blocked attempt as a compliance_decisions
 *      row (rule, facts, next eligible moment), one per contact, rule and
 *      next moment within a skip streak (compliance_recorder_add()).
 *
 * Decisions where the law or the issue is silent are in docs/compliance.md
 * ("Decisions on unclear points") and beside the code that makes them.
 *
 * Threads: after compliance_init() the place, time, window and DNC lookup
 * functions may be called from any thread. Zones are loaded lazily on first
 * use under a mutex (or all at init with preload); once loaded a zone is
 * immutable and read without locks. The Redis-backed parts (caps, sync) and
 * the loader's callbacks belong to one loop thread; see each section.
 */
#ifndef COMPLIANCE_COMPLIANCE_H
#define COMPLIANCE_COMPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct ev_loop;
struct kv_conn;
struct kv_options;
struct db_conn;

/* Version of the rule table below; changes whenever a rule row changes. */
#define COMPLIANCE_RULESET_VERSION "2026.11-2"

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

/*
 * The place of a contact from what its row stores (contacts.region,
 * contacts.time_zones joined with ',', contacts.tz_source), for the number
 * being dialed (e164: the main number or an alternate). The one function the
 * dialer and the check route use, so both decide alike:
 *   - tz_source "explicit", "postal_code" or "default": the contact list said
 *     where the contact is, and that wins over the area code. region ("FL" or
 *     "US-FL", may be NULL or "") replaces the area code's states unless it
 *     is one of them (then the area code's states all stay: the stricter
 *     reading); the presumption states (Florida, Oklahoma) keep applying as in
 *     compliance_place_override(). zones (IANA names, may be NULL or "")
 *     replace the zones, every one of them (a window must hold in all).
 *     source becomes COMPLIANCE_SOURCE_CONTACT.
 *   - anything else (NULL, "npa", "npa_nxx", "country"): the area code of
 *     e164 alone, as compliance_locate(); a prefix that spans several zones
 *     keeps them all.
 * Returns 0; ERR_INVAL for NULL arguments or an invalid number (*out as
 * compliance_locate() leaves it); ERR_NOTFOUND when the list's state or a
 * zone is unknown here (*out then holds the area code's place). May load a
 * zone file (first use of the zone).
 */
int compliance_contact_place(const char *e164, const char *region, const char *zones,
                             const char *tz_source, struct compliance_place *out);

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

/*
 * Test builds only (compiled without NDEBUG): the dialer judges calling
 * windows at now + offset_us (compliance_window_clock_offset(); it gives
 * next-eligible times back in real time), so end-to-end tests against a
 * simulated Asterisk dial at any hour. Caps, DNC, the campaign's own schedule
 * and the check route's explicit times keep the real clock. A release build
 * refuses (ERR_FORBIDDEN), so a production dialerd always judges calling
 * hours by the real time.
 */
int compliance_window_clock_set(int64_t offset_us);

/* The offset set above: always 0 in a release build. Any thread. */
int64_t compliance_window_clock_offset(void);

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

/* ------------------------------------------------------------------------ */
/* Do-Not-Call index (dnc.c, dnc_index.c, dnc_file.c)                        */

/*
 * The DNC store: every loaded list (national registries, tenant lists,
 * campaign lists), each an immutable Elias-Fano number set plus a sorted
 * array of area-code and exchange blocks, with a small sorted overlay of
 * adds and removes made since the set was built. Lookups never block and
 * never see a half-built list: readers pin the current snapshot with a hazard
 * pointer; a writer builds a new snapshot and publishes it with one atomic
 * exchange; old snapshots are freed once no reader has them pinned.
 *
 * Threads: compliance_dnc_check() from any thread, lock-free and
 * allocation-free. Writers (publish, apply, compact, drop) serialise on one
 * mutex held only for the copy of the snapshot's list table (never during a
 * build or a sort), so a loop thread may call apply.
 */
struct compliance_dnc;
struct compliance_dnc_builder;

enum compliance_dnc_scope {
    COMPLIANCE_DNC_NATIONAL = 0, /* a registry (FTC, CRTC DNCL, TPS): every tenant */
    COMPLIANCE_DNC_TENANT = 1,   /* a tenant's internal list: all its campaigns */
    COMPLIANCE_DNC_CAMPAIGN = 2, /* one campaign */
};

/* Which list: scope, owner and list id (dnc_lists.id; 0 for the owner's API list). */
struct compliance_dnc_list_info {
    enum compliance_dnc_scope scope;
    int64_t tenant_id;   /* 0 for national lists */
    int64_t campaign_id; /* 0 unless campaign scope */
    int64_t list_id;
    char name[64];        /* for verdicts and audit ("FTC national registry") */
    char country[3];      /* national lists: the country covered ("US"); "" = all */
    int64_t list_date_us; /* date of the list's data (registry download); 0 unknown */
    int32_t max_age_days; /* the list must be refreshed within this; 0 = no limit */
};

enum compliance_dnc_match {
    COMPLIANCE_DNC_MATCH_NUMBER = 0,
    COMPLIANCE_DNC_MATCH_AREA_CODE = 1, /* a whole NPA block */
    COMPLIANCE_DNC_MATCH_EXCHANGE = 2,  /* an NPA-NXX block */
};

/* The list that blocked a number. */
struct compliance_dnc_hit {
    enum compliance_dnc_scope scope;
    enum compliance_dnc_match match;
    int64_t tenant_id, campaign_id, list_id;
    int64_t list_date_us;
    char list_name[64];
};

/* Statistics of one list (compliance_dnc_list_stats). */
struct compliance_dnc_list_stats {
    uint64_t numbers;     /* in the built set */
    uint64_t blocks;      /* area-code and exchange blocks */
    uint64_t overlay;     /* pending adds and removes */
    uint64_t bytes;       /* memory of the set, blocks and overlay */
    int64_t list_date_us; /* as published */
    int64_t refreshed_us; /* when the set was last published */
};

/* Returns 0 and a new empty store in *out, or ERR_NOMEM. */
int compliance_dnc_create(struct compliance_dnc **out);

/* Frees d. No call on d may be running or made afterwards. NULL: no-op. */
void compliance_dnc_destroy(struct compliance_dnc *d);

/* A builder collects a list's entries (any order, duplicates allowed). */
int compliance_dnc_builder_create(struct compliance_dnc_builder **out);
void compliance_dnc_builder_destroy(struct compliance_dnc_builder *b);

/*
 * Adds one entry: an E.164 number ("+14155550123", 7 to 15 digits), a NANP
 * area-code block ("+1415") or exchange block ("+1415555"). len bytes at s
 * (no NUL needed). Returns 0, ERR_INVAL (malformed) or ERR_NOMEM.
 */
int compliance_dnc_builder_add(struct compliance_dnc_builder *b, const char *s, size_t len);

/* Entries added so far (numbers and blocks, before de-duplication). */
size_t compliance_dnc_builder_count(const struct compliance_dnc_builder *b);

/* The store's change sequence: take it before reading a list's source, pass it
 * to compliance_dnc_publish(). */
uint64_t compliance_dnc_seq(const struct compliance_dnc *d);

/*
 * Sorts and compresses b's entries into the list identified by info (scope,
 * owner, list_id), replacing an existing one, and publishes it. Overlay
 * changes with a sequence after since_seq (made while the source was read)
 * stay on top of the new set; older ones are taken to be in the source.
 * Consumes b (also on error). The sort and build run on the calling thread,
 * without the writer lock: call it from a worker thread. Returns 0,
 * ERR_TOOBIG or ERR_NOMEM.
 */
int compliance_dnc_publish(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                           struct compliance_dnc_builder *b, uint64_t since_seq);

/*
 * One change made through the API, an IVR opt-out or another node: adds
 * (add != 0) or removes entry (as compliance_dnc_builder_add) in the list
 * identified by info, creating an empty list when there is none. Visible to
 * every lookup that starts after the call returns. Returns 0 and, when seq is
 * non-NULL, the change's sequence; ERR_INVAL or ERR_NOMEM.
 */
int compliance_dnc_apply(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                         int add, const char *entry, uint64_t *seq);

/* Merges a list's overlay into its set (a rebuild; worker thread). Returns 0,
 * ERR_NOTFOUND or ERR_NOMEM. */
int compliance_dnc_compact(struct compliance_dnc *d, const struct compliance_dnc_list_info *info);

/* Removes a list. Returns 0 or ERR_NOTFOUND. */
int compliance_dnc_drop(struct compliance_dnc *d, const struct compliance_dnc_list_info *info);

/*
 * Is e164 on a list that applies to a call of campaign campaign_id of tenant
 * tenant_id to a number in country (ISO code from compliance_locate(); "" or
 * NULL when unknown)? National lists apply when their country is "" or
 * matches (the US list covers the US territories too; a number whose country
 * is unknown is checked against every national list); then the tenant's
 * lists, then the campaign's. Returns 1 and fills *hit (may be NULL) with the
 * first list that blocks, 0 when no list does, ERR_INVAL for a malformed
 * number, ERR_BUSY when more than 256 threads read at once. No allocation,
 * no lock: any thread.
 */
int compliance_dnc_check(struct compliance_dnc *d, const char *e164, const char *country,
                         int64_t tenant_id, int64_t campaign_id, struct compliance_dnc_hit *hit);

/* The lookup key of a number (its digits as an integer): for
 * compliance_dnc_check_many(). Returns 0 or ERR_INVAL. */
int compliance_dnc_key(const char *e164, uint64_t *key);

/*
 * compliance_dnc_check() for n numbers of one tenant and campaign at once
 * (the scheduler's batch): blocked[i] = 1 when keys[i] is on a list, and
 * hits[i] (hits may be NULL) names the first such list. The lookups of a
 * batch overlap their memory accesses, which makes this several times faster
 * per number than single checks. The whole batch sees one snapshot. Returns
 * 0, ERR_INVAL or ERR_BUSY. No allocation; any thread.
 */
int compliance_dnc_check_many(struct compliance_dnc *d, const uint64_t *keys, size_t n,
                              const char *country, int64_t tenant_id, int64_t campaign_id,
                              uint8_t *blocked, struct compliance_dnc_hit *hits);

/* Fills *st for the list identified by info. Returns 0 or ERR_NOTFOUND. */
int compliance_dnc_list_stats(struct compliance_dnc *d, const struct compliance_dnc_list_info *info,
                              struct compliance_dnc_list_stats *st);

/* ---- file formats (dnc_file.c) ------------------------------------------- */

enum compliance_dnc_format {
    COMPLIANCE_DNC_FMT_AUTO = 0, /* guessed from the first data line */
    COMPLIANCE_DNC_FMT_REGISTRY, /* registry full file: "NPANXXXXXX" or "NPA,NXXXXXX" */
    COMPLIANCE_DNC_FMT_CHANGES,  /* registry change file: "NPA,NXXXXXX,A|D[,date]" */
    COMPLIANCE_DNC_FMT_PLAIN,    /* one number per line or the first CSV column */
    COMPLIANCE_DNC_FMT_XML,      /* the registry's XML tagged file (numbers from element text) */
};

/* Called for every change-file line: add != 0 for an addition. */
typedef int compliance_dnc_change_cb(int add, const char *e164, void *arg);

struct compliance_dnc_parse_error {
    uint64_t line;     /* 1-based line of the first error, 0 if none */
    char message[160]; /* what was wrong, naming the field (and zip member) */
};

/*
 * Parses a DNC file held in memory (len bytes at data; see docs/compliance.md
 * for the formats). A zip archive (compliance_dnc_is_zip) is read member by
 * member, each inflated as it is parsed (errors name the member); an XML
 * tagged file (COMPLIANCE_DNC_FMT_XML, or AUTO/REGISTRY starting with '<')
 * gives the numbers found in element text and attributes, as a full list. Full and plain files add
 * their entries to b; change files call cb per line (b may then be NULL). With b NULL and cb given,
 * full and plain files call cb(1, entry) per entry instead (entry is "+1NPANXXXXXX", another E.164
 * number or a "+1NPA"/"+1NPANXX" block, checked as compliance_dnc_builder_add() checks it; a
 * nonzero return stops the parse with that line). Blank lines, "#" comments and one header line are
 * skipped. A NANP number without country code gets +1. Stops at the first bad line: returns
 * ERR_PARSE with err filled (line and field), else 0; *lines (may be NULL) receives the data lines
 * accepted. Never reads past len.
 */
int compliance_dnc_parse(const char *data, size_t len, enum compliance_dnc_format fmt,
                         struct compliance_dnc_builder *b, compliance_dnc_change_cb *cb, void *arg,
                         uint64_t *lines, struct compliance_dnc_parse_error *err);

/* True when data (len bytes) starts like a zip archive: compliance_dnc_parse()
 * then reads each member file of the archive (docs/compliance.md). */
bool compliance_dnc_is_zip(const void *data, size_t len);

/* ---- loading lists (dnc_load.c) ------------------------------------------- */

/*
 * The loader builds lists off the loop: a worker thread ("dnc-build") reads
 * and parses files, sorts and compresses, and publishes into the store;
 * PostgreSQL rows are fetched on the loop through core/db (paged, so no
 * callback holds the loop for long) and handed to the worker to build.
 * Completion is reported on the loop thread through done_cb.
 */
struct compliance_dnc_loader;
struct compliance_dnc_parse_error;
struct db_conn;

/* A load finished: status 0 or an error (ERR_IO, ERR_PARSE with the line in
 * err, ERR_DB, ERR_NOMEM); entries = accepted lines or rows. info as
 * published (with the list's name and dates from dnc_lists for a DB load). */
typedef void compliance_dnc_loaded_cb(const struct compliance_dnc_list_info *info, int status,
                                      uint64_t entries,
                                      const struct compliance_dnc_parse_error *err, void *arg);

/* Starts the worker thread. loop: where done_cb runs. Returns 0, ERR_NOMEM or
 * a pthread error. */
int compliance_dnc_loader_create(struct ev_loop *loop, struct compliance_dnc *d,
                                 compliance_dnc_loaded_cb *done_cb, void *arg,
                                 struct compliance_dnc_loader **out);

/* Stops the worker (a build in progress finishes first; queued jobs are
 * dropped without a callback) and frees l. Loop thread. NULL: no-op. */
void compliance_dnc_loader_destroy(struct compliance_dnc_loader *l);

/*
 * Loads a file into the list info (registry full or plain files replace the
 * list; a change file is applied to it and the list then compacted). path is
 * copied. Returns 0 (done_cb follows) or ERR_INVAL / ERR_NOMEM.
 */
int compliance_dnc_load_file(struct compliance_dnc_loader *l,
                             const struct compliance_dnc_list_info *info, const char *path,
                             enum compliance_dnc_format fmt);

/*
 * Loads the list identified by info (scope, tenant, campaign, list id; list
 * id 0 = the owner's entries without a list) from dnc_entries over db (which
 * must be up and not pinned; it is pinned for the read, on the platform
 * role). Returns 0 (done_cb follows) or ERR_INVAL / ERR_NOMEM / the pin's
 * error. Loop thread of db.
 */
int compliance_dnc_load_db(struct compliance_dnc_loader *l, struct db_conn *db,
                           const struct compliance_dnc_list_info *info);

/* ---- propagation between nodes (dnc_sync.c) ----------------------------- */

/*
 * Every node keeps its own DNC store; a change made on one node reaches the
 * others through Redis pub/sub within a second: compliance_dnc_sync_apply()
 * applies the change locally and publishes it on the channel; every other
 * node's subscriber applies it to its store (the overlay, visible at once).
 * Pub/sub loses messages while a subscriber is down, so after every
 * (re)connect of the subscriber, and on a "reload" message, resync_cb asks
 * the owner to reload lists from PostgreSQL (info NULL: every list).
 *
 * Message (text, one line): "dnc1 <node> <add|del> <scope> <tenant> <campaign>
 * <list> <entry>" or "dnc1 <node> reload <scope> <tenant> <campaign> <list>".
 * Malformed messages are counted (compliance_dnc_sync_bad_total) and dropped.
 *
 * Threads: the loop thread of the kv objects.
 */
struct compliance_dnc_sync;
struct kv_conn;
struct kv_options;
struct ev_loop;

typedef void compliance_dnc_resync_cb(const struct compliance_dnc_list_info *info, void *arg);

/*
 * Creates the sync on loop: pub (borrowed) publishes; a subscriber
 * connection is made from sub_opt (copied) on channel. node is this node's
 * id (1-63 characters [A-Za-z0-9_.-]); messages from the same node are
 * ignored. resync_cb may be NULL. Returns 0, ERR_INVAL or ERR_NOMEM.
 */
int compliance_dnc_sync_create(struct ev_loop *loop, struct compliance_dnc *d, struct kv_conn *pub,
                               const struct kv_options *sub_opt, const char *channel,
                               const char *node, compliance_dnc_resync_cb *resync_cb, void *arg,
                               struct compliance_dnc_sync **out);

void compliance_dnc_sync_destroy(struct compliance_dnc_sync *s);

/* Applies a change locally (compliance_dnc_apply) and publishes it. Returns
 * the local result; a failed publish is counted, and the other nodes catch
 * up at their next resync. */
int compliance_dnc_sync_apply(struct compliance_dnc_sync *s,
                              const struct compliance_dnc_list_info *info, int add,
                              const char *entry);

/* Asks every node (this one too) to reload one list, after an import. */
int compliance_dnc_sync_reload(struct compliance_dnc_sync *s,
                               const struct compliance_dnc_list_info *info);

/* Changes applied from other nodes, for tests and metrics. */
uint64_t compliance_dnc_sync_received(const struct compliance_dnc_sync *s);

/*
 * Parses one message (len bytes at m) into *info, *op (1 add, 0 del, 2
 * reload), node and entry (NUL-terminated copies of at most 63 and 23
 * characters). Returns 0 or ERR_PARSE. Exposed for the fuzz harness.
 */
int compliance_dnc_sync_parse(const char *m, size_t len, struct compliance_dnc_list_info *info,
                              int *op, char node[64], char entry[24]);

/* ---- list age ------------------------------------------------------------ */

enum compliance_list_age_state {
    COMPLIANCE_LIST_FRESH = 0,
    COMPLIANCE_LIST_WARNING = 1, /* within warn_days of its max_age_days */
    COMPLIANCE_LIST_STALE = 2,   /* older than max_age_days (or no date) */
    COMPLIANCE_LIST_MISSING = 3, /* no national list for the country */
};

/* The alarm state of the national list(s) covering country at now_us. */
struct compliance_list_age {
    enum compliance_list_age_state state;
    int64_t age_s;       /* now - list date; -1 when missing or undated */
    int64_t stale_at_us; /* list date + max_age_days; 0 when missing or no limit */
    int64_t list_id;     /* the oldest national list covering the country */
};

/*
 * The age state of one list at now_us by the same rule the alarm applies
 * (stale from list date + max_age_days, warning warn_days before; a list with
 * a limit and no date is stale; no limit: fresh). list_id is info's. Pure.
 */
void compliance_dnc_list_age(const struct compliance_dnc_list_info *info, int64_t now_us,
                             int32_t warn_days, struct compliance_list_age *out);

/* "fresh", "warning", "stale", "missing". Static. */
const char *compliance_list_age_name(enum compliance_list_age_state s);

/*
 * The age alarm of the national list(s) for country ("US"): the worst state
 * of the lists covering it. warn_days: how long before max_age_days the
 * WARNING state starts (configuration; 7 by default). No allocation; any
 * thread.
 */
void compliance_dnc_national_age(struct compliance_dnc *d, const char *country, int64_t now_us,
                                 int32_t warn_days, struct compliance_list_age *out);

/*
 * The same, and sets the gauge compliance_dnc_national_alarm (0 fresh,
 * 1 warning, 2 stale, 3 missing) for metrics and the wall. Call it from the
 * metrics tick for the country the platform dials (one caller, one country,
 * so the gauge does not flap).
 */
void compliance_dnc_age_alarm(struct compliance_dnc *d, const char *country, int64_t now_us,
                              int32_t warn_days, struct compliance_list_age *out);

/* ------------------------------------------------------------------------ */
/* Frequency caps in Redis (caps.c)                                          */

/*
 * One attempt record per number per tenant, shared by every campaign of the
 * tenant and every dialerd node: a Redis sorted set of attempt times and a
 * hash of the last events (conversation, abandoned call, refusal, machine).
 * compliance_caps_reserve() runs one Lua script that checks every rule of
 * the request and, if all allow, records the attempt, atomically: two nodes
 * can never both take the last attempt a cap allows (check-and-increment).
 * An attempt that is not dialled after all is given back with
 * compliance_caps_release().
 *
 * Failing closed: if Redis does not answer (down, timeout, error), the
 * result is COMPLIANCE_CAP_UNAVAILABLE (do not dial) and the counter
 * compliance_caps_unavailable_total goes up.
 *
 * Times come from the caller (core/clock), so the nodes' clocks must agree
 * (NTP); a skew of s seconds moves a window's edge by s.
 *
 * Threads: the kv_conn's loop thread only.
 */
struct compliance_caps;

enum compliance_cap_rule_kind {
    COMPLIANCE_CAP_RULE_ROLLING = 'r', /* at most max_calls in any period_s */
    COMPLIANCE_CAP_RULE_LOCKOUT = 'l', /* no call for period_s after event */
};

/* One enforced cap. Static rows (compliance_cap_ruleset()). */
struct compliance_cap_rule {
    const char *id; /* "us-fl-3-per-24h", "us-regf-7-in-7", "fr-4-per-30d" */
    enum compliance_cap_rule_kind kind;
    uint32_t max_calls; /* ROLLING */
    int64_t period_s;
    const char *event;  /* LOCKOUT: "conversation", "abandon", "refusal", "machine" */
    const char *source; /* legal source */
};

/* Rule-set ids a campaign can select: "us-3-per-24h", "us-regf", "fr", "gb".
 * Returns the rules (static) and *n, or NULL for an unknown id. */
const struct compliance_cap_rule *const *compliance_cap_ruleset(const char *id, size_t *n);

/* The state caps that apply to place by law whatever the campaign selects
 * (Florida, Oklahoma, Maryland: 3 per 24 h). Writes up to max pointers to out
 * and returns how many apply. */
size_t compliance_cap_rules_for_place(const struct compliance_place *place,
                                      const struct compliance_cap_rule **out, size_t max);

enum compliance_cap_outcome {
    COMPLIANCE_CAP_OK = 0,          /* allowed; the attempt is recorded (reservation) */
    COMPLIANCE_CAP_BLOCKED = 1,     /* a rule blocks: rule, next_eligible_us */
    COMPLIANCE_CAP_UNAVAILABLE = 2, /* Redis did not answer: fail closed, do not dial */
};

struct compliance_cap_result {
    enum compliance_cap_outcome outcome;
    int status; /* UNAVAILABLE: the kv error (ERR_DISCONNECTED, ERR_TIMEOUT, ERR_KV) */
    const struct compliance_cap_rule *rule; /* BLOCKED: the rule */
    int64_t next_eligible_us;               /* BLOCKED: when the rule allows again */
    uint32_t count;       /* BLOCKED by a rolling rule: attempts counted in its window */
    int64_t event_us;     /* BLOCKED by a lockout: when its event happened */
    char reservation[40]; /* OK: for compliance_caps_release() */
};

#define COMPLIANCE_CAP_MAX_RULES 16

typedef void compliance_caps_cb(const struct compliance_cap_result *r, void *arg);

/*
 * Creates the caps client on kv (borrowed; must outlive it). Keys are
 * "<prefix>att:{<tenant>:<e164>}" and "<prefix>ev:{...}"; prefix is copied
 * (NULL: "cmp:"). Returns 0, ERR_INVAL or ERR_NOMEM.
 */
int compliance_caps_create(struct kv_conn *kv, const char *prefix, struct compliance_caps **out);

/* Frees c. Reserves still in flight complete normally (their callbacks do
 * not use c); if the kv_conn is destroyed they complete with
 * COMPLIANCE_CAP_UNAVAILABLE (ERR_CANCELED). NULL: no-op. */
void compliance_caps_destroy(struct compliance_caps *c);

/*
 * Checks rules[0..nrules) (at most COMPLIANCE_CAP_MAX_RULES) for e164 of tenant at now_us and, when
 * all allow, records the attempt. cb runs exactly once, later, from the loop. Returns 0, or
 * ERR_INVAL / ERR_NOMEM / ERR_SHUTDOWN (cb will not run: do not dial). With nrules == 0 the attempt
 * is still recorded (the shared history).
 */
int compliance_caps_reserve(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                            const struct compliance_cap_rule *const *rules, size_t nrules,
                            int64_t now_us, compliance_caps_cb *cb, void *arg);

/* As compliance_caps_reserve() but records nothing (the check route's
 * question "would a cap allow a call now?"); reservation is "". */
int compliance_caps_peek(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                         const struct compliance_cap_rule *const *rules, size_t nrules,
                         int64_t now_us, compliance_caps_cb *cb, void *arg);

/* Gives a reserved attempt back (the call was not placed). Fire and forget. */
int compliance_caps_release(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                            const char *reservation);

/*
 * Records an event that starts a lockout: "conversation" (Reg F), "abandon"
 * (UK 72 h), "refusal" (France 60 days), "machine" (UK 24 h). Kept for
 * keep_s seconds. Fire and forget; returns 0 or ERR_INVAL / ERR_NOMEM.
 */
int compliance_caps_record_event(struct compliance_caps *c, int64_t tenant_id, const char *e164,
                                 const char *event, int64_t at_us, int64_t keep_s);

/* ------------------------------------------------------------------------ */
/* Abandonment (abandon.c)                                                   */

/*
 * A call answered by a live person is abandoned when it is not connected to
 * an agent or to the campaign's flow (the recorded message) within 2 seconds
 * of the end of the person's greeting. Time spent in answering-machine
 * detection counts against the 2 seconds: the clock starts at the end of the
 * greeting when the media layer reports it, otherwise at the answer (the
 * stricter reading, since AMD listens to the greeting). The rate is
 * abandoned / live-answered calls:
 *   US  per campaign over its duration if under 30 days, else over each
 *       successive 30-day period from the campaign's start (TSR safe harbour;
 *       47 CFR 64.1200(a)(7)); cap 3%.
 *   UK  per calendar day, midnight to midnight UK time (Ofcom 2010).
 */
#define COMPLIANCE_ABANDON_LIMIT_MS 2000

enum compliance_abandon_window {
    COMPLIANCE_ABANDON_CAMPAIGN_30D = 0, /* US: 30-day periods from the campaign start */
    COMPLIANCE_ABANDON_CALENDAR_DAY = 1, /* UK: calendar day in Europe/London */
};

/* What happened on one answered call (epoch microseconds; 0 = never/unknown). */
struct compliance_call_outcome {
    int64_t answered_us;     /* the callee picked up */
    int64_t greeting_end_us; /* end of the callee's greeting, if the media layer knows it */
    int64_t connected_us;    /* an agent or the flow took the call */
    int64_t safe_harbour_us; /* the safe-harbour message started */
    int64_t ended_us;        /* hang-up */
    uint8_t live_human;      /* answered by a person (AMD said human, or AMD off) */
};

/* The proof kept for each call (stored in call_logs; docs/compliance.md). */
struct compliance_abandon_proof {
    uint8_t live;             /* counts in the denominator */
    uint8_t abandoned;        /* counts in the numerator */
    int64_t clock_start_us;   /* where the 2 seconds start */
    int64_t connect_delay_ms; /* connected - clock start; -1 never connected */
    int64_t message_delay_ms; /* safe-harbour message start - clock start; -1 none */
    uint8_t message_in_time;  /* the message started within 2 s (the safe-harbour duty) */
};

/* Classifies one call. Returns 0, or ERR_INVAL (NULL, or a live call without
 * answered_us, or timings before the answer). */
int compliance_abandon_classify(const struct compliance_call_outcome *o,
                                struct compliance_abandon_proof *proof);

struct compliance_abandon;

struct compliance_abandon_rate {
    uint64_t live;
    uint64_t abandoned;
    double rate; /* abandoned / live; 0 when live == 0 */
    int64_t period_start_us;
    int64_t period_end_us; /* exclusive */
    uint8_t over_cap;      /* rate > cap_pct / 100 */
};

/*
 * An accountant for one campaign: window kind, the campaign's start (for the
 * US periods) and the cap in percent (3.0). Owned by the campaign's loop
 * thread. Returns 0, ERR_INVAL, ERR_NOMEM or (UK) the zone error.
 */
int compliance_abandon_create(enum compliance_abandon_window window, int64_t campaign_start_us,
                              double cap_pct, struct compliance_abandon **out);
void compliance_abandon_destroy(struct compliance_abandon *a);

/* The measuring period that contains at_us. Returns 0 or ERR_INVAL. */
int compliance_abandon_period(const struct compliance_abandon *a, int64_t at_us, int64_t *start_us,
                              int64_t *end_us);

/* Counts one call outcome (at its ended_us) and fills *proof (may be NULL).
 * Returns 0 or ERR_INVAL. No allocation. */
int compliance_abandon_record(struct compliance_abandon *a, const struct compliance_call_outcome *o,
                              struct compliance_abandon_proof *proof);

/*
 * After a restart: sets the counts of the period containing at_us from the
 * stored proof (compliance_abandon_restore_sql(), run over that period).
 */
void compliance_abandon_restore(struct compliance_abandon *a, int64_t at_us, uint64_t live,
                                uint64_t abandoned);

/* The query that gives the counts to restore: $1 campaign id, $2 period
 * start, $3 period end (timestamptz); returns one row (live, abandoned). */
const char *compliance_abandon_restore_sql(void);

/* The rate of the period containing now_us (for pacing and metrics). */
void compliance_abandon_rate(const struct compliance_abandon *a, int64_t now_us,
                             struct compliance_abandon_rate *out);

/*
 * Safe-harbour configuration check: a campaign that can abandon calls (it
 * dials predictively, i.e. may have no agent or flow ready at answer) must
 * name the seller and a callback number (E.164) for the recorded message.
 * Returns 0, or ERR_INVAL with *field set to "seller" or "callback_number".
 */
int compliance_safe_harbour_validate(int can_abandon, const char *seller,
                                     const char *callback_number, const char **field);

/* ------------------------------------------------------------------------ */
/* The scheduler's question (gate.c)                                         */

/*
 * "May I dial this number for this campaign now; if not, why and when?"
 * combines, in this order: the number's validity, the DNC lists (national,
 * tenant, campaign), the national list's age, the calling window, and the
 * frequency caps. The first that blocks decides and is named.
 */
enum compliance_reason {
    COMPLIANCE_REASON_NONE = 0,         /* allowed */
    COMPLIANCE_REASON_INVALID_NUMBER,   /* not a valid E.164 number */
    COMPLIANCE_REASON_DNC,              /* on a DNC list: dnc names it */
    COMPLIANCE_REASON_DNC_LIST_STALE,   /* the national list is older than allowed */
    COMPLIANCE_REASON_DNC_LIST_MISSING, /* no national list for a US number */
    COMPLIANCE_REASON_WINDOW,           /* outside the calling window: window names the rule */
    COMPLIANCE_REASON_CAP,              /* a frequency cap: cap_rule */
    COMPLIANCE_REASON_CAP_UNAVAILABLE,  /* the cap store did not answer: fail closed */
    COMPLIANCE_REASON_COUNT_
};

/* Stable names for reasons: "dnc", "dnc-list-stale", "cap-unavailable"... */
const char *compliance_reason_name(enum compliance_reason r);

/* A campaign's compliance settings (a zeroed struct is the safe default). */
struct compliance_campaign {
    int64_t tenant_id;
    int64_t campaign_id;
    struct compliance_campaign_window window;
    uint8_t allow_stale_list; /* 0 (default): refuse to dial on a stale/missing national list */
    const struct compliance_cap_rule *const *cap_rules; /* rule sets the campaign selected */
    size_t ncap_rules;
};

struct compliance_decision {
    enum compliance_verdict_kind verdict;
    enum compliance_reason reason;
    const char *rule_id;      /* the rule or list kind that decided ("us-fl-hours",
                               * "dnc-tenant", "dnc-list-stale", "3-per-24h"); static */
    int64_t next_eligible_us; /* now when allowed; 0 = not by waiting (DNC, stale list,
                               * invalid number) or beyond the window horizon */
    struct compliance_place place;
    struct compliance_verdict window;           /* the window verdict (when reached) */
    struct compliance_dnc_hit dnc;              /* reason DNC */
    struct compliance_list_age list_age;        /* the national list's age */
    const struct compliance_cap_rule *cap_rule; /* reason CAP */
    uint32_t cap_count;                         /* reason CAP, rolling rule: calls counted */
    int64_t cap_event_us;                       /* reason CAP, lockout: the event's time */
    char reservation[40];                       /* allowed with caps: the attempt recorded */
    uint8_t window_checked, dnc_checked, caps_checked;
};

/*
 * The in-memory part: validity, DNC, list age and window (no caps). place
 * may be NULL (the number is located) or the place stored with the contact.
 * dnc may be NULL (no DNC check: only for tests and non-US campaigns that
 * have no list; a US number then counts as "list missing"). Fills *out and
 * returns 0, or ERR_INVAL for NULL arguments. No allocation, no lock; any
 * thread.
 */
int compliance_decide_local(struct compliance_dnc *dnc, const struct compliance_campaign *cp,
                            const char *e164, const struct compliance_place *place, int64_t now_us,
                            struct compliance_decision *out);

typedef void compliance_decision_cb(const struct compliance_decision *d, void *arg);

/*
 * The whole question, caps included. Runs compliance_decide_local(); if that
 * blocks, returns 0 with *out filled and cb is not called. Otherwise the cap
 * check goes to Redis (the campaign's rules plus the state caps of the
 * place) and the call returns ERR_AGAIN: cb runs later, from caps' loop,
 * with the final decision (an allowed decision has recorded the attempt:
 * give it back with compliance_caps_release() if the call is not placed).
 * Other returns: ERR_INVAL, ERR_NOMEM, ERR_SHUTDOWN (treat as "do not dial").
 * caps' loop thread.
 */
int compliance_decide(struct compliance_dnc *dnc, struct compliance_caps *caps,
                      const struct compliance_campaign *cp, const char *e164,
                      const struct compliance_place *place, int64_t now_us,
                      struct compliance_decision *out, compliance_decision_cb *cb, void *arg);

/* The decision as an audit record: compliance_audit_json() plus "reason",
 * "dnc" (list, scope, match, list date), "list_age" and "cap". Returns 0 and
 * a new reference in *out, ERR_INVAL or ERR_NOMEM. */
int compliance_decision_audit_json(const char *e164, const struct compliance_decision *d,
                                   int64_t now_us, struct json_t **out);

/*
 * A decision the caller made outside compliance_decide_local(), filled so it
 * can be recorded like one (place, the legal window verdict with the local
 * time, versions):
 *   - the campaign's own schedule blocked at now_us (next_us: its next
 *     opening, 0 none): reason WINDOW, rule "campaign-window"; zone (an IANA
 *     name, may be NULL) is the zone the schedule was evaluated in, and the
 *     record's local time is taken there;
 *   - the frequency caps answered r (BLOCKED or UNAVAILABLE): reason CAP with
 *     the rule, count or event time, or CAP_UNAVAILABLE.
 * Returns 0, or ERR_INVAL (NULL arguments, an invalid number: out is then an
 * INVALID_NUMBER block). No allocation; any thread.
 */
int compliance_decision_campaign_window(const char *e164, const char *zone, int64_t now_us,
                                        int64_t next_us, struct compliance_decision *out);
int compliance_decision_from_caps(const char *e164, const struct compliance_cap_result *r,
                                  int64_t now_us, struct compliance_decision *out);

/* ------------------------------------------------------------------------ */
/* Decision records (record.c)                                               */

/*
 * Every blocked attempt of the dialer is recorded in compliance_decisions
 * (sql/0011_usage_audit.sql): the rule that decided in the column's form
 * ("dnc.national", "window.us_tcpa_hours", "window.campaign",
 * "cap.us_fl_3_per_24h", "cap.unavailable", "dnc.list_stale"...; see
 * compliance_record_rule()), the next eligible moment, data_versions (rule
 * set, tz and phone data, the DNC list, the zone and local time used, the cap
 * rule's window, limit and count) and the audit record as trace.
 *
 * Volume (decision): one row per contact, rule and next eligible moment
 * within a skip streak; a streak ends when the contact is dialed. A contact
 * asked about again and again (leased anew every few seconds, several nodes,
 * Redis away for an hour) writes one row, not one per lease: a direct-mapped
 * cache of the last row per contact skips repeats before they are queued,
 * and the insert itself skips a row whose contact already has one with the
 * same rule and next eligible moment since its last attempt
 * (contacts.last_attempt_at), which covers other nodes and restarts. A new
 * rule or a new next eligible moment is a new row. Failures to reach Redis
 * record no next moment (the retry time is not a legal fact), so an outage
 * is one row per contact.
 *
 * Rows are queued and written in one statement per batch on a pinned
 * connection (platform role: the rows span tenants), one write in flight;
 * beyond max_rows waiting rows the newest are dropped (counted, logged).
 * Nothing waits: the loop never blocks. Counters:
 * compliance_decision_records_total{result="queued"|"repeat"|"dropped"|"failed"}.
 *
 * Threads: the loop thread of db.
 */
struct compliance_recorder;
struct db_pool;

/* Creates a recorder writing over db (borrowed; must outlive it). max_rows 0: 10,000. */
int compliance_recorder_create(struct db_pool *db, size_t max_rows,
                               struct compliance_recorder **out);

/* No more writes start (a write in flight completes). NULL: no-op. */
void compliance_recorder_stop(struct compliance_recorder *r);

/* Frees r. The db pool's callbacks must have run (destroy the pool first). NULL: no-op. */
void compliance_recorder_destroy(struct compliance_recorder *r);

/*
 * Records that d (a block) skipped contact_id (0: none) of campaign_id of
 * tenant_id, number e164, at now_us. Returns 1 queued, 0 a repeat of the
 * contact's last row (skipped), ERR_TOOBIG (the queue is full: dropped),
 * ERR_INVAL (an allowed decision, NULL) or ERR_NOMEM.
 */
int compliance_recorder_add(struct compliance_recorder *r, int64_t tenant_id, int64_t campaign_id,
                            int64_t contact_id, const char *e164,
                            const struct compliance_decision *d, int64_t now_us);

/* The contact was dialed: its skip streak ends (the next block is a new row). */
void compliance_recorder_forget(struct compliance_recorder *r, int64_t contact_id);

/* Rows waiting to be written (tests, metrics). */
size_t compliance_recorder_pending(const struct compliance_recorder *r);

/* The rule column of a block: "dnc.tenant", "window.us_fl_hours", "cap.gb_72h_after_abandon"
 * (ids with '-' written '_'). Returns buf. */
const char *compliance_record_rule(const struct compliance_decision *d, char *buf, size_t size);

/* One row as compliance_recorder_add() queues it (the insert's JSON): tenant_id, campaign_id,
 * contact_id, number, at_us, rule, next_us (0: none), rules_version, data_versions, trace.
 * Returns 0 and a new reference in *out, ERR_INVAL or ERR_NOMEM. */
int compliance_record_json(int64_t tenant_id, int64_t campaign_id, int64_t contact_id,
                           const char *e164, const struct compliance_decision *d, int64_t now_us,
                           struct json_t **out);

#endif
