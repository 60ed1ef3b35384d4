/* SPDX-License-Identifier: MIT */
/*
 * Campaign settings: the JSON document, its validation, and the pure
 * helpers that read it (endpoint rendering, caller-ID pick, retry decision,
 * callback check). The schedule check is in schedule.c.
 *
 * Decisions where the requirement is silent:
 *  - unknown keys are errors (a typo must not silently mean "default");
 *  - busy and rejected (486/603) retries wait at least
 *    CAMPAIGN_REJECT_MIN_DELAY_S and never fail over to another trunk at
 *    once (same_trunk); only the "failed" class (network trouble) may;
 *  - a retry rule's max_attempts is bounded by the campaign's max_attempts;
 *  - endpoint templates accept only [A-Za-z0-9_./@:+-] outside the
 *    placeholders, and numbers are substituted only when they are E.164.
 */
#include <stdio.h>
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/err.h"

static const char *const retry_names[CAMPAIGN_RETRY_COUNT_] = {
    "busy", "no_answer", "machine", "failed", "abandoned", "rejected",
};

static const char *const pacing_names[] = { "fixed", "power", "progressive", "predictive" };
static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
static const char *const alt_names[] = { "off", "on_failure", "rotate" };
static const char *const machine_names[] = { "hangup", "flow" };

const char *campaign_retry_class_name(enum campaign_retry_class c)
{
    return (unsigned)c < CAMPAIGN_RETRY_COUNT_ ? retry_names[c] : "unknown";
}

int campaign_retry_class_of(const char *outcome)
{
    static const struct {
        const char *outcome;
        int cls;
    } map[] = {
        { "busy", CAMPAIGN_RETRY_BUSY },         { "no_answer", CAMPAIGN_RETRY_NO_ANSWER },
        { "machine", CAMPAIGN_RETRY_MACHINE },   { "rejected", CAMPAIGN_RETRY_REJECTED },
        { "congestion", CAMPAIGN_RETRY_FAILED }, { "unreachable", CAMPAIGN_RETRY_FAILED },
        { "failed", CAMPAIGN_RETRY_FAILED },     { "lost", CAMPAIGN_RETRY_FAILED },
        { "cancelled", CAMPAIGN_RETRY_FAILED },  { "abandoned", CAMPAIGN_RETRY_ABANDONED },
    };

    if (!outcome) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].outcome, outcome) == 0) {
            return map[i].cls;
        }
    }
    return -1;
}

void campaign_settings_default(struct campaign_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->pacing = CAMPAIGN_PACING_PROGRESSIVE;
    s->dial_ratio = 1.0;
    s->max_dial_ratio = 3.0;
    s->abandon_cap_pct = 3.0;
    s->ring_time_s = 25;
    snprintf(s->time_zone, sizeof(s->time_zone), "%s", "UTC");
    s->contact_time = true;
    s->refuse_stale_dnc = true;
    s->start_date = INT64_MIN;
    s->end_date = INT64_MAX;
    s->nwindows = 1;
    s->windows[0] = (struct campaign_window){ .days = 0x7f, .from_min = 0, .to_min = 1440 };
    s->max_attempts = 3;
    static const struct campaign_retry_rule defaults[CAMPAIGN_RETRY_COUNT_] = {
        [CAMPAIGN_RETRY_BUSY] = { 600, 3, 2 },       [CAMPAIGN_RETRY_NO_ANSWER] = { 3600, 3, 2 },
        [CAMPAIGN_RETRY_MACHINE] = { 14400, 2, 1 },  [CAMPAIGN_RETRY_FAILED] = { 300, 3, 3 },
        [CAMPAIGN_RETRY_ABANDONED] = { 3600, 2, 1 }, [CAMPAIGN_RETRY_REJECTED] = { 86400, 1, 1 },
    };
    memcpy(s->retry, defaults, sizeof(defaults));
    s->machine_action = CAMPAIGN_MACHINE_HANGUP;
    s->alt_policy = CAMPAIGN_ALT_OFF;
    s->alt_on = (1u << CAMPAIGN_RETRY_FAILED) | (1u << CAMPAIGN_RETRY_NO_ANSWER);
    s->callback_max_days = 30;
}

/* ------------------------------------------------------------------------ */
/* Validation helpers                                                        */

static int fail(struct campaign_error *err, const char *field, const char *msg)
{
    if (err) {
        snprintf(err->field, sizeof(err->field), "%s", field);
        snprintf(err->msg, sizeof(err->msg), "%s", msg);
    }
    return ERR_INVAL;
}

/* Rejects keys of o not in allowed (NULL-terminated). */
static int only_keys(const json_t *o, const char *path, const char *const *allowed,
                     struct campaign_error *err)
{
    const char *key;
    json_t *v;
    char field[96];
    if (!json_is_object(o)) {
        return fail(err, path, "must be an object");
    }
    json_object_foreach ((json_t *)o, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(allowed[i], key) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
            return fail(err, field, "unknown key");
        }
    }
    return 0;
}

static void join(char *out, size_t outsz, const char *path, const char *key)
{
    snprintf(out, outsz, "%s%s%s", path, *path ? "." : "", key);
}

/* Reads a number o.key into *out within [lo, hi] when present. */
static int get_num(const json_t *o, const char *path, const char *key, double lo, double hi,
                   double *out, struct campaign_error *err)
{
    char f[96];
    json_t *v = json_object_get(o, key);
    if (!v) {
        return 0;
    }
    join(f, sizeof(f), path, key);
    if (!json_is_number(v)) {
        return fail(err, f, "must be a number");
    }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        char m[96];
        snprintf(m, sizeof(m), "must be between %g and %g", lo, hi);
        return fail(err, f, m);
    }
    *out = d;
    return 0;
}

static int get_int(const json_t *o, const char *path, const char *key, int64_t lo, int64_t hi,
                   int64_t *out, struct campaign_error *err)
{
    char f[96];
    json_t *v = json_object_get(o, key);
    if (!v) {
        return 0;
    }
    join(f, sizeof(f), path, key);
    if (!json_is_integer(v)) {
        return fail(err, f, "must be an integer");
    }
    json_int_t d = json_integer_value(v);
    if (d < lo || d > hi) {
        char m[96];
        snprintf(m, sizeof(m), "must be between %lld and %lld", (long long)lo, (long long)hi);
        return fail(err, f, m);
    }
    *out = d;
    return 0;
}

static int get_bool(const json_t *o, const char *path, const char *key, bool *out,
                    struct campaign_error *err)
{
    char f[96];
    json_t *v = json_object_get(o, key);
    if (!v) {
        return 0;
    }
    join(f, sizeof(f), path, key);
    if (!json_is_boolean(v)) {
        return fail(err, f, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* Reads an enumerated string; *out unchanged when absent. */
static int get_enum(const json_t *o, const char *path, const char *key, const char *const *names,
                    size_t n, int *out, struct campaign_error *err)
{
    char f[96];
    json_t *v = json_object_get(o, key);
    if (!v) {
        return 0;
    }
    join(f, sizeof(f), path, key);
    if (json_is_string(v)) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(names[i], json_string_value(v)) == 0) {
                *out = (int)i;
                return 0;
            }
        }
    }
    char m[160] = "must be one of";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(m);
        snprintf(m + len, sizeof(m) - len, "%s %s", i ? "," : "", names[i]);
    }
    return fail(err, f, m);
}

bool campaign_e164_valid(const char *s)
{
    size_t n;
    if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9') {
        return false;
    }
    for (n = 1; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n > 15) {
            return false;
        }
    }
    return n >= 8;
}

static int get_e164(const json_t *v, const char *field, char *out, struct campaign_error *err)
{
    if (!json_is_string(v) || !campaign_e164_valid(json_string_value(v))) {
        return fail(err, field, "must be an E.164 number (+ and 7 to 15 digits)");
    }
    snprintf(out, CAMPAIGN_E164_MAX + 1, "%s", json_string_value(v));
    return 0;
}

/* "HH:MM" (00:00 .. 24:00) to minutes. */
static int parse_hhmm(const char *s, int *out)
{
    if (!s || strlen(s) != 5 || s[2] != ':') {
        return ERR_INVAL;
    }
    for (int i = 0; i < 5; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9')) {
            return ERR_INVAL;
        }
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0)) {
        return ERR_INVAL;
    }
    *out = h * 60 + m;
    return 0;
}

/* "YYYY-MM-DD" to days since 1970-01-01. */
static int parse_date(const char *s, int64_t *out)
{
    int y, mo, d;
    char tail;
    if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3 ||
        s[4] != '-' || s[7] != '-') {
        return ERR_INVAL;
    }
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) {
        return ERR_INVAL;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) {
        return ERR_INVAL;
    }
    *out = campaign_days_from_civil(y, mo, d);
    return 0;
}

int64_t campaign_days_from_civil(int y, int m, int d)
{
    /* H. Hinnant's days_from_civil. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void format_date(int64_t z, char *out, size_t outsz)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;
    const int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, outsz, "%04lld-%02lld-%02lld", (long long)y, (long long)m, (long long)d);
}

/* ------------------------------------------------------------------------ */
/* Sections                                                                  */

static int parse_pacing(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = {
        "mode", "cps", "max_channels", "dial_ratio", "max_dial_ratio", "abandon_cap_pct", NULL
    };
    int rc, mode = (int)s->pacing;
    int64_t ch = s->max_channels;
    if ((rc = only_keys(o, "pacing", keys, err)) ||
        (rc = get_enum(o, "pacing", "mode", pacing_names, 4, &mode, err)) ||
        (rc = get_num(o, "pacing", "cps", 0, 10000, &s->cps, err)) ||
        (rc = get_int(o, "pacing", "max_channels", 0, 1000000, &ch, err)) ||
        (rc = get_num(o, "pacing", "dial_ratio", 1, 20, &s->dial_ratio, err)) ||
        (rc = get_num(o, "pacing", "max_dial_ratio", 1, 20, &s->max_dial_ratio, err)) ||
        (rc = get_num(o, "pacing", "abandon_cap_pct", 0, 100, &s->abandon_cap_pct, err))) {
        return rc;
    }
    s->pacing = (enum campaign_pacing_mode)mode;
    s->max_channels = (int)ch;
    if (s->pacing == CAMPAIGN_PACING_FIXED && !(s->cps > 0)) {
        return fail(err, "pacing.cps", "is required (> 0) for fixed pacing");
    }
    return 0;
}

static int parse_window(const json_t *w, const char *path, struct campaign_window *out,
                        struct campaign_error *err)
{
    static const char *const keys[] = { "days", "from", "to", NULL };
    char f[96];
    int rc, from, to;
    if ((rc = only_keys(w, path, keys, err))) {
        return rc;
    }
    json_t *days = json_object_get(w, "days");
    out->days = 0x7f;
    if (days) {
        join(f, sizeof(f), path, "days");
        if (!json_is_array(days) || json_array_size(days) == 0) {
            return fail(err, f, "must be a non-empty array of sun..sat");
        }
        out->days = 0;
        size_t i;
        json_t *d;
        json_array_foreach (days, i, d) {
            int k = -1;
            for (int j = 0; j < 7 && json_is_string(d); j++) {
                if (strcmp(day_names[j], json_string_value(d)) == 0) {
                    k = j;
                }
            }
            if (k < 0) {
                snprintf(f, sizeof(f), "%s.days[%zu]", path, i);
                return fail(err, f, "must be one of sun, mon, tue, wed, thu, fri, sat");
            }
            out->days |= (uint8_t)(1u << k);
        }
    }
    json_t *jf = json_object_get(w, "from");
    json_t *jt = json_object_get(w, "to");
    join(f, sizeof(f), path, "from");
    if (!json_is_string(jf) || parse_hhmm(json_string_value(jf), &from)) {
        return fail(err, f, "must be a time HH:MM");
    }
    join(f, sizeof(f), path, "to");
    if (!json_is_string(jt) || parse_hhmm(json_string_value(jt), &to)) {
        return fail(err, f, "must be a time HH:MM");
    }
    if (to <= from) {
        return fail(err, f, "must be after from");
    }
    out->from_min = (uint16_t)from;
    out->to_min = (uint16_t)to;
    return 0;
}

static int parse_schedule(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "time_zone", "contact_time", "start_date",
                                        "end_date",  "windows",      NULL };
    int rc;
    if ((rc = only_keys(o, "schedule", keys, err)) ||
        (rc = get_bool(o, "schedule", "contact_time", &s->contact_time, err))) {
        return rc;
    }
    json_t *tz = json_object_get(o, "time_zone");
    if (tz) {
        uint16_t id;
        if (!json_is_string(tz) || json_string_length(tz) >= CAMPAIGN_ZONE_MAX ||
            compliance_zone_id(json_string_value(tz), &id) != 0) {
            return fail(err, "schedule.time_zone", "must be an IANA time zone (America/New_York)");
        }
        snprintf(s->time_zone, sizeof(s->time_zone), "%s", json_string_value(tz));
    }
    json_t *sd = json_object_get(o, "start_date");
    if (sd && (!json_is_string(sd) || parse_date(json_string_value(sd), &s->start_date))) {
        return fail(err, "schedule.start_date", "must be a date YYYY-MM-DD");
    }
    json_t *ed = json_object_get(o, "end_date");
    if (ed && (!json_is_string(ed) || parse_date(json_string_value(ed), &s->end_date))) {
        return fail(err, "schedule.end_date", "must be a date YYYY-MM-DD");
    }
    if (s->start_date != INT64_MIN && s->end_date != INT64_MAX && s->end_date < s->start_date) {
        return fail(err, "schedule.end_date", "must not be before start_date");
    }
    json_t *ws = json_object_get(o, "windows");
    if (ws) {
        if (!json_is_array(ws) || json_array_size(ws) == 0 ||
            json_array_size(ws) > CAMPAIGN_MAX_WINDOWS) {
            return fail(err, "schedule.windows", "must be an array of 1 to 8 windows");
        }
        size_t i;
        json_t *w;
        json_array_foreach (ws, i, w) {
            char p[64];
            snprintf(p, sizeof(p), "schedule.windows[%zu]", i);
            if ((rc = parse_window(w, p, &s->windows[i], err))) {
                return rc;
            }
        }
        s->nwindows = (int)json_array_size(ws);
    }
    return 0;
}

static int parse_caller_id(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "number", "pool", "local_presence", NULL };
    int rc;
    if ((rc = only_keys(o, "caller_id", keys, err)) ||
        (rc = get_bool(o, "caller_id", "local_presence", &s->local_presence, err))) {
        return rc;
    }
    json_t *n = json_object_get(o, "number");
    if (n && (rc = get_e164(n, "caller_id.number", s->caller_id, err))) {
        return rc;
    }
    json_t *pool = json_object_get(o, "pool");
    if (pool) {
        if (!json_is_array(pool) || json_array_size(pool) > CAMPAIGN_MAX_POOL) {
            return fail(err, "caller_id.pool", "must be an array of at most 64 numbers");
        }
        size_t i;
        json_t *v;
        json_array_foreach (pool, i, v) {
            char f[48];
            snprintf(f, sizeof(f), "caller_id.pool[%zu]", i);
            if ((rc = get_e164(v, f, s->pool[i], err))) {
                return rc;
            }
        }
        s->npool = (int)json_array_size(pool);
    }
    if (s->local_presence && s->npool == 0) {
        return fail(err, "caller_id.pool", "is required for local presence");
    }
    return 0;
}

static int parse_trunks(const json_t *a, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "name", "endpoint", "cps", "max_channels", NULL };
    if (!json_is_array(a) || json_array_size(a) > CAMPAIGN_MAX_TRUNKS) {
        return fail(err, "trunks", "must be an array of at most 8 trunks");
    }
    size_t i;
    json_t *t;
    json_array_foreach (a, i, t) {
        char p[32], f[64];
        int rc;
        int64_t ch = 0;
        struct campaign_trunk *tr = &s->trunks[i];
        snprintf(p, sizeof(p), "trunks[%zu]", i);
        if ((rc = only_keys(t, p, keys, err)) ||
            (rc = get_num(t, p, "cps", 0, 10000, &tr->cps, err)) ||
            (rc = get_int(t, p, "max_channels", 0, 1000000, &ch, err))) {
            return rc;
        }
        tr->max_channels = (int)ch;
        json_t *name = json_object_get(t, "name");
        join(f, sizeof(f), p, "name");
        if (!json_is_string(name) || json_string_length(name) == 0 ||
            json_string_length(name) >= CAMPAIGN_NAME_MAX ||
            strspn(json_string_value(name), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789_-.") != json_string_length(name)) {
            return fail(err, f, "must be 1 to 63 characters of letters, digits, _ - .");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->trunks[j].name, json_string_value(name)) == 0) {
                return fail(err, f, "is used by another trunk");
            }
        }
        snprintf(tr->name, sizeof(tr->name), "%s", json_string_value(name));
        json_t *ep = json_object_get(t, "endpoint");
        join(f, sizeof(f), p, "endpoint");
        if (!json_is_string(ep) || json_string_length(ep) >= CAMPAIGN_TEMPLATE_MAX ||
            campaign_endpoint_template_check(json_string_value(ep)) != 0) {
            return fail(err, f,
                        "must be a dial string template with {e164} or {number} and only "
                        "letters, digits and _ . / @ : + -");
        }
        snprintf(tr->endpoint, sizeof(tr->endpoint), "%s", json_string_value(ep));
    }
    s->ntrunks = (int)json_array_size(a);
    return 0;
}

static int parse_retry(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "max_attempts", "busy",      "no_answer", "machine",
                                        "failed",       "abandoned", "rejected",  NULL };
    static const char *const rkeys[] = { "delay_s", "max_attempts", "max_per_day", NULL };
    int rc;
    int64_t max = s->max_attempts;
    if ((rc = only_keys(o, "retry", keys, err)) ||
        (rc = get_int(o, "retry", "max_attempts", 1, 100, &max, err))) {
        return rc;
    }
    s->max_attempts = (int)max;
    unsigned given = 0;
    for (int c = 0; c < CAMPAIGN_RETRY_COUNT_; c++) {
        json_t *r = json_object_get(o, retry_names[c]);
        char p[32];
        struct campaign_retry_rule *rule = &s->retry[c];
        int64_t ma = rule->max_attempts, pd = rule->max_per_day;
        if (!r) {
            continue;
        }
        snprintf(p, sizeof(p), "retry.%s", retry_names[c]);
        if ((rc = only_keys(r, p, rkeys, err)) ||
            (rc = get_int(r, p, "delay_s", 0, 90 * 86400, &rule->delay_s, err)) ||
            (rc = get_int(r, p, "max_attempts", 1, 100, &ma, err)) ||
            (rc = get_int(r, p, "max_per_day", 0, 100, &pd, err))) {
            return rc;
        }
        rule->max_attempts = (int)ma;
        rule->max_per_day = (int)pd;
        given |= 1u << c;
    }
    for (int c = 0; c < CAMPAIGN_RETRY_COUNT_; c++) {
        char f[48];
        if ((c == CAMPAIGN_RETRY_BUSY || c == CAMPAIGN_RETRY_REJECTED) &&
            s->retry[c].delay_s < CAMPAIGN_REJECT_MIN_DELAY_S) {
            snprintf(f, sizeof(f), "retry.%s.delay_s", retry_names[c]);
            return fail(err, f,
                        "must be at least 60: a busy or declined callee is never redialed at once");
        }
        if (!(given & (1u << c)) && s->retry[c].max_attempts > s->max_attempts) {
            s->retry[c].max_attempts = s->max_attempts; /* a default follows the campaign cap */
        }
        if (s->retry[c].max_attempts > s->max_attempts) {
            snprintf(f, sizeof(f), "retry.%s.max_attempts", retry_names[c]);
            return fail(err, f, "must not exceed retry.max_attempts");
        }
    }
    return 0;
}

static int parse_amd(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "enabled", "machine_action", "flow_id", NULL };
    int rc, act = (int)s->machine_action;
    if ((rc = only_keys(o, "amd", keys, err)) ||
        (rc = get_bool(o, "amd", "enabled", &s->amd, err)) ||
        (rc = get_enum(o, "amd", "machine_action", machine_names, 2, &act, err)) ||
        (rc = get_int(o, "amd", "flow_id", 1, INT64_MAX, &s->machine_flow_id, err))) {
        return rc;
    }
    s->machine_action = (enum campaign_machine_action)act;
    if (s->machine_action == CAMPAIGN_MACHINE_FLOW && s->machine_flow_id <= 0) {
        return fail(err, "amd.flow_id", "is required when machine_action is flow");
    }
    return 0;
}

static int parse_alt(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "policy", "on", NULL };
    int rc, pol = (int)s->alt_policy;
    if ((rc = only_keys(o, "alt_numbers", keys, err)) ||
        (rc = get_enum(o, "alt_numbers", "policy", alt_names, 3, &pol, err))) {
        return rc;
    }
    s->alt_policy = (enum campaign_alt_policy)pol;
    json_t *on = json_object_get(o, "on");
    if (on) {
        if (!json_is_array(on)) {
            return fail(err, "alt_numbers.on", "must be an array of outcome classes");
        }
        s->alt_on = 0;
        size_t i;
        json_t *v;
        json_array_foreach (on, i, v) {
            int k = -1;
            for (int c = 0; c < CAMPAIGN_RETRY_COUNT_ && json_is_string(v); c++) {
                if (strcmp(retry_names[c], json_string_value(v)) == 0) {
                    k = c;
                }
            }
            if (k < 0) {
                char f[48];
                snprintf(f, sizeof(f), "alt_numbers.on[%zu]", i);
                return fail(err, f, "must be an outcome class (busy, no_answer, ...)");
            }
            s->alt_on |= 1u << k;
        }
    }
    return 0;
}

static int parse_callbacks(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "enabled", "max_days", NULL };
    int rc;
    int64_t d = s->callback_max_days;
    if ((rc = only_keys(o, "callbacks", keys, err)) ||
        (rc = get_bool(o, "callbacks", "enabled", &s->callbacks, err)) ||
        (rc = get_int(o, "callbacks", "max_days", 1, 365, &d, err))) {
        return rc;
    }
    s->callback_max_days = (int)d;
    return 0;
}

static int parse_dispositions(const json_t *a, struct campaign_settings *s,
                              struct campaign_error *err)
{
    if (!json_is_array(a) || json_array_size(a) > CAMPAIGN_MAX_DISPOSITIONS) {
        return fail(err, "dispositions", "must be an array of at most 32 codes");
    }
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v) {
        const char *str = json_string_value(v);
        size_t len = str ? strlen(str) : 0;
        if (!str || len == 0 || len >= CAMPAIGN_NAME_MAX ||
            strspn(str, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
            char f[48];
            snprintf(f, sizeof(f), "dispositions[%zu]", i);
            return fail(err, f, "must be 1 to 63 characters of a-z, 0-9 and _");
        }
        snprintf(s->dispositions[i], CAMPAIGN_NAME_MAX, "%s", str);
    }
    s->ndispositions = (int)json_array_size(a);
    return 0;
}

/* A media URI the dialer may play: sound: or recording: and a plain name. */
static bool media_ok(const char *m)
{
    const char *name = NULL;
    if (strncmp(m, "sound:", 6) == 0) {
        name = m + 6;
    } else if (strncmp(m, "recording:", 10) == 0) {
        name = m + 10;
    }
    size_t len = name != NULL ? strlen(name) : 0;
    return len > 0 && len < 200 && strstr(name, "..") == NULL &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") ==
               len;
}

/* Printable text without control characters, 1..max-1 bytes. */
static bool text_ok(const char *t, size_t max)
{
    size_t len = strlen(t);
    if (len == 0 || len >= max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

/* t names the number: its digits in order, spaces, dots, dashes and brackets aside. */
static bool mentions_number(const char *t, const char *e164)
{
    char flat[CAMPAIGN_HARBOUR_TEXT_MAX];
    size_t k = 0;
    for (; *t != '\0' && k + 1 < sizeof(flat); t++) {
        if (strchr(" .-()", *t) == NULL) {
            flat[k++] = *t;
        }
    }
    flat[k] = '\0';
    /* a North American number may be said without its country code */
    return strstr(flat, e164 + 1) != NULL ||
           (strncmp(e164, "+1", 2) == 0 && strstr(flat, e164 + 2) != NULL);
}

static int parse_harbour(const json_t *o, struct campaign_settings *s, struct campaign_error *err)
{
    static const char *const keys[] = { "seller", "callback_number", "media", "text", NULL };
    int rc;
    if ((rc = only_keys(o, "safe_harbour", keys, err))) {
        return rc;
    }
    json_t *seller = json_object_get(o, "seller");
    if (!json_is_string(seller) || !text_ok(json_string_value(seller), sizeof(s->harbour_seller))) {
        return fail(err, "safe_harbour.seller",
                    "is required: the seller's name, 1 to 127 characters (47 CFR 64.1200(a)(7))");
    }
    json_t *num = json_object_get(o, "callback_number");
    if (num == NULL) {
        return fail(err, "safe_harbour.callback_number",
                    "is required: the number to call back (47 CFR 64.1200(a)(7))");
    }
    if ((rc = get_e164(num, "safe_harbour.callback_number", s->harbour_number, err))) {
        return rc;
    }
    snprintf(s->harbour_seller, sizeof(s->harbour_seller), "%s", json_string_value(seller));
    json_t *media = json_object_get(o, "media");
    json_t *text = json_object_get(o, "text");
    s->harbour_media[0] = '\0';
    if (media != NULL) {
        if (!json_is_string(media) || !media_ok(json_string_value(media))) {
            return fail(err, "safe_harbour.media",
                        "must be sound:<name> or recording:<name> (letters, digits, _ . / -)");
        }
        snprintf(s->harbour_media, sizeof(s->harbour_media), "%s", json_string_value(media));
    }
    if (text != NULL) {
        const char *t = json_string_value(text);
        if (t == NULL || !text_ok(t, sizeof(s->harbour_text))) {
            return fail(err, "safe_harbour.text", "must be text of 1 to 511 characters");
        }
        /* the spoken message must say who calls and where to call back */
        if (strstr(t, s->harbour_seller) == NULL || !mentions_number(t, s->harbour_number)) {
            return fail(err, "safe_harbour.text", "must name the seller and the callback number");
        }
        snprintf(s->harbour_text, sizeof(s->harbour_text), "%s", t);
    } else {
        /* digits spaced so the voice reads them one by one */
        char digits[2 * CAMPAIGN_E164_MAX + 1];
        size_t k = 0;
        for (const char *p = s->harbour_number + 1; *p != '\0' && k + 2 < sizeof(digits); p++) {
            digits[k++] = *p;
            digits[k++] = p[1] != '\0' ? ' ' : '\0';
        }
        digits[k] = '\0';
        snprintf(s->harbour_text, sizeof(s->harbour_text),
                 "This call was from %s. To call us back, dial %s.", s->harbour_seller, digits);
    }
    s->harbour = true;
    return 0;
}

static int parse_compliance(const json_t *o, struct campaign_settings *s,
                            struct campaign_error *err)
{
    static const char *const keys[] = { "cap_rules", "refuse_stale_dnc", NULL };
    int rc;
    if ((rc = only_keys(o, "compliance", keys, err))) {
        return rc;
    }
    json_t *stale = json_object_get(o, "refuse_stale_dnc");
    if (stale != NULL) {
        if (!json_is_boolean(stale)) {
            return fail(err, "compliance.refuse_stale_dnc", "must be true or false");
        }
        s->refuse_stale_dnc = json_is_true(stale);
    }
    json_t *a = json_object_get(o, "cap_rules");
    if (a == NULL) {
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) > CAMPAIGN_MAX_CAP_SETS) {
        return fail(err, "compliance.cap_rules", "must be an array of at most 4 rule-set ids");
    }
    size_t i;
    json_t *v;
    s->ncap_sets = 0;
    json_array_foreach (a, i, v) {
        size_t n;
        const char *id = json_string_value(v);
        char f[48];
        snprintf(f, sizeof(f), "compliance.cap_rules[%zu]", i);
        if (id == NULL || strlen(id) >= sizeof(s->cap_sets[0]) ||
            compliance_cap_ruleset(id, &n) == NULL) {
            return fail(err, f, "must be one of us-3-per-24h, us-regf, fr, gb");
        }
        for (int k = 0; k < s->ncap_sets; k++) {
            if (strcmp(s->cap_sets[k], id) == 0) {
                return fail(err, f, "is listed twice");
            }
        }
        snprintf(s->cap_sets[s->ncap_sets++], sizeof(s->cap_sets[0]), "%s", id);
    }
    return 0;
}

/*
 * A campaign dials North America when a selected cap rule set is a US one or
 * its caller ID (fixed or pool) is a +1 number: then predictive pacing, which
 * can abandon calls, needs its own safe-harbour message.
 */
static bool dials_nanp(const struct campaign_settings *s)
{
    for (int i = 0; i < s->ncap_sets; i++) {
        if (strncmp(s->cap_sets[i], "us-", 3) == 0) {
            return true;
        }
    }
    if (strncmp(s->caller_id, "+1", 2) == 0) {
        return true;
    }
    for (int i = 0; i < s->npool; i++) {
        if (strncmp(s->pool[i], "+1", 2) == 0) {
            return true;
        }
    }
    return false;
}

int campaign_settings_from_json(const json_t *doc, struct campaign_settings *out,
                                struct campaign_error *err)
{
    static const char *const keys[] = { "pacing",    "ring_time_s",  "schedule",     "caller_id",
                                        "trunks",    "retry",        "amd",          "alt_numbers",
                                        "callbacks", "dispositions", "safe_harbour", "compliance",
                                        NULL };
    struct campaign_settings s;
    int rc;
    int64_t ring;
    json_t *v;
    campaign_settings_default(&s);
    if ((rc = only_keys(doc, "", keys, err))) {
        return rc;
    }
    ring = s.ring_time_s;
    if ((rc = get_int(doc, "", "ring_time_s", CAMPAIGN_RING_MIN_S, CAMPAIGN_RING_MAX_S, &ring,
                      err))) {
        return rc;
    }
    s.ring_time_s = (int)ring;
    if (((v = json_object_get(doc, "pacing")) && (rc = parse_pacing(v, &s, err))) ||
        ((v = json_object_get(doc, "schedule")) && (rc = parse_schedule(v, &s, err))) ||
        ((v = json_object_get(doc, "caller_id")) && (rc = parse_caller_id(v, &s, err))) ||
        ((v = json_object_get(doc, "trunks")) && (rc = parse_trunks(v, &s, err))) ||
        ((v = json_object_get(doc, "retry")) && (rc = parse_retry(v, &s, err))) ||
        ((v = json_object_get(doc, "amd")) && (rc = parse_amd(v, &s, err))) ||
        ((v = json_object_get(doc, "alt_numbers")) && (rc = parse_alt(v, &s, err))) ||
        ((v = json_object_get(doc, "callbacks")) && (rc = parse_callbacks(v, &s, err))) ||
        ((v = json_object_get(doc, "dispositions")) && (rc = parse_dispositions(v, &s, err))) ||
        ((v = json_object_get(doc, "safe_harbour")) && (rc = parse_harbour(v, &s, err))) ||
        ((v = json_object_get(doc, "compliance")) && (rc = parse_compliance(v, &s, err)))) {
        return rc;
    }
    if (s.pacing == CAMPAIGN_PACING_PREDICTIVE && !s.harbour && dials_nanp(&s)) {
        return fail(err, "safe_harbour",
                    "is required for predictive pacing in North America: abandoned calls must "
                    "hear the seller and a callback number (47 CFR 64.1200(a)(7))");
    }
    *out = s;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static json_t *hhmm(int min)
{
    char b[8];
    snprintf(b, sizeof(b), "%02d:%02d", (min / 60) % 100, min % 60);
    return json_string(b);
}

json_t *campaign_settings_to_json(const struct campaign_settings *s)
{
    json_t *doc = json_object();
    json_t *windows = json_array();
    json_t *pool = json_array();
    json_t *trunks = json_array();
    json_t *retry = json_object();
    json_t *alt_on = json_array();
    json_t *disp = json_array();
    json_t *sched;
    char d[64];
    if (!doc || !windows || !pool || !trunks || !retry || !alt_on || !disp) {
        goto fail;
    }
    json_object_set_new(doc, "pacing",
                        json_pack("{s:s, s:f, s:i, s:f, s:f, s:f}", "mode", pacing_names[s->pacing],
                                  "cps", s->cps, "max_channels", s->max_channels, "dial_ratio",
                                  s->dial_ratio, "max_dial_ratio", s->max_dial_ratio,
                                  "abandon_cap_pct", s->abandon_cap_pct));
    json_object_set_new(doc, "ring_time_s", json_integer(s->ring_time_s));
    for (int i = 0; i < s->nwindows; i++) {
        json_t *days = json_array();
        for (int k = 0; k < 7; k++) {
            if (s->windows[i].days & (1u << k)) {
                json_array_append_new(days, json_string(day_names[k]));
            }
        }
        json_array_append_new(windows, json_pack("{s:o, s:o, s:o}", "days", days, "from",
                                                 hhmm(s->windows[i].from_min), "to",
                                                 hhmm(s->windows[i].to_min)));
    }
    sched = json_pack("{s:s, s:b, s:o}", "time_zone", s->time_zone, "contact_time", s->contact_time,
                      "windows", windows);
    windows = NULL;
    if (sched && s->start_date != INT64_MIN) {
        format_date(s->start_date, d, sizeof(d));
        json_object_set_new(sched, "start_date", json_string(d));
    }
    if (sched && s->end_date != INT64_MAX) {
        format_date(s->end_date, d, sizeof(d));
        json_object_set_new(sched, "end_date", json_string(d));
    }
    json_object_set_new(doc, "schedule", sched);
    for (int i = 0; i < s->npool; i++) {
        json_array_append_new(pool, json_string(s->pool[i]));
    }
    json_t *cid = json_pack("{s:o, s:b}", "pool", pool, "local_presence", s->local_presence);
    pool = NULL;
    if (cid && s->caller_id[0]) {
        json_object_set_new(cid, "number", json_string(s->caller_id));
    }
    json_object_set_new(doc, "caller_id", cid);
    for (int i = 0; i < s->ntrunks; i++) {
        const struct campaign_trunk *t = &s->trunks[i];
        json_array_append_new(trunks, json_pack("{s:s, s:s, s:f, s:i}", "name", t->name, "endpoint",
                                                t->endpoint, "cps", t->cps, "max_channels",
                                                t->max_channels));
    }
    json_object_set_new(doc, "trunks", trunks);
    trunks = NULL;
    json_object_set_new(retry, "max_attempts", json_integer(s->max_attempts));
    for (int c = 0; c < CAMPAIGN_RETRY_COUNT_; c++) {
        json_object_set_new(retry, retry_names[c],
                            json_pack("{s:I, s:i, s:i}", "delay_s", (json_int_t)s->retry[c].delay_s,
                                      "max_attempts", s->retry[c].max_attempts, "max_per_day",
                                      s->retry[c].max_per_day));
    }
    json_object_set_new(doc, "retry", retry);
    retry = NULL;
    json_t *amd = json_pack("{s:b, s:s}", "enabled", s->amd, "machine_action",
                            machine_names[s->machine_action]);
    if (amd && s->machine_flow_id > 0) {
        json_object_set_new(amd, "flow_id", json_integer(s->machine_flow_id));
    }
    json_object_set_new(doc, "amd", amd);
    for (int c = 0; c < CAMPAIGN_RETRY_COUNT_; c++) {
        if (s->alt_on & (1u << c)) {
            json_array_append_new(alt_on, json_string(retry_names[c]));
        }
    }
    json_object_set_new(doc, "alt_numbers",
                        json_pack("{s:s, s:o}", "policy", alt_names[s->alt_policy], "on", alt_on));
    alt_on = NULL;
    json_object_set_new(
        doc, "callbacks",
        json_pack("{s:b, s:i}", "enabled", s->callbacks, "max_days", s->callback_max_days));
    for (int i = 0; i < s->ndispositions; i++) {
        json_array_append_new(disp, json_string(s->dispositions[i]));
    }
    json_object_set_new(doc, "dispositions", disp);
    disp = NULL;
    if (s->harbour) {
        json_t *h = json_pack("{s:s, s:s, s:s}", "seller", s->harbour_seller, "callback_number",
                              s->harbour_number, "text", s->harbour_text);
        if (h != NULL && s->harbour_media[0] != '\0') {
            json_object_set_new(h, "media", json_string(s->harbour_media));
        }
        json_object_set_new(doc, "safe_harbour", h);
    }
    json_t *caps = json_array();
    for (int i = 0; caps != NULL && i < s->ncap_sets; i++) {
        json_array_append_new(caps, json_string(s->cap_sets[i]));
    }
    json_object_set_new(
        doc, "compliance",
        json_pack("{s:o*, s:b}", "cap_rules", caps, "refuse_stale_dnc", s->refuse_stale_dnc));
    return doc;
fail:
    json_decref(doc);
    json_decref(windows);
    json_decref(pool);
    json_decref(trunks);
    json_decref(retry);
    json_decref(alt_on);
    json_decref(disp);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Endpoint templates                                                        */

static bool literal_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_./@:+-", c) != NULL;
}

/* Length of a placeholder at p ("{e164}" or "{number}"), 0 if none. */
static size_t placeholder(const char *p, bool *with_plus)
{
    if (strncmp(p, "{e164}", 6) == 0) {
        *with_plus = true;
        return 6;
    }
    if (strncmp(p, "{number}", 8) == 0) {
        *with_plus = false;
        return 8;
    }
    return 0;
}

int campaign_endpoint_template_check(const char *tmpl)
{
    int nph = 0;
    bool plus;
    if (!tmpl || !strchr(tmpl, '/')) {
        return ERR_INVAL;
    }
    for (const char *p = tmpl; *p;) {
        size_t n = placeholder(p, &plus);
        if (n) {
            nph++;
            p += n;
        } else if (literal_ok(*p)) {
            p++;
        } else {
            return ERR_INVAL;
        }
    }
    return nph > 0 ? 0 : ERR_INVAL;
}

int campaign_endpoint_render(const char *tmpl, const char *number, char *out, size_t outsz)
{
    size_t len = 0;
    bool plus;
    if (!out || outsz == 0 || campaign_endpoint_template_check(tmpl) != 0 ||
        !campaign_e164_valid(number)) {
        return ERR_INVAL;
    }
    for (const char *p = tmpl; *p;) {
        size_t n = placeholder(p, &plus);
        const char *add = n ? (plus ? number : number + 1) : p;
        size_t addlen = n ? strlen(add) : 1;
        if (len + addlen >= outsz) {
            out[0] = '\0';
            return ERR_TOOBIG;
        }
        memcpy(out + len, add, addlen);
        len += addlen;
        p += n ? n : 1;
    }
    out[len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Caller ID                                                                 */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * UINT64_C(1099511628211);
    }
    return h;
}

/* Length of the calling code of an E.164 number: 1 for +1 and +7, else 2 (approximate, 3 rare). */
static size_t cc_len(const char *e164)
{
    static const char *const three[] = { "21", "22", "23", "24", "25", "26", "29", "35",
                                         "37", "38", "42", "50", "59", "67", "68", "69",
                                         "80", "85", "87", "88", "96", "97", "99" };
    if (e164[1] == '1' || e164[1] == '7') {
        return 1;
    }
    for (size_t i = 0; i < sizeof(three) / sizeof(three[0]); i++) {
        if (strncmp(e164 + 1, three[i], 2) == 0) {
            return 3;
        }
    }
    return 2;
}

int campaign_caller_id_pick(const struct campaign_settings *s, const char *callee, char *out)
{
    const uint64_t h = callee ? fnv1a(callee) : 0;
    out[0] = '\0';
    if (s->local_presence && s->npool > 0 && campaign_e164_valid(callee)) {
        /* prefix lengths to match: NANP area code (+1 NPA), then the calling code */
        size_t lens[2] = { callee[1] == '1' ? 5u : 0u, 1 + cc_len(callee) };
        for (int k = 0; k < 2; k++) {
            int match[CAMPAIGN_MAX_POOL], n = 0;
            if (lens[k] == 0) {
                continue;
            }
            for (int i = 0; i < s->npool; i++) {
                if (strncmp(s->pool[i], callee, lens[k]) == 0) {
                    match[n++] = i;
                }
            }
            if (n > 0) {
                memcpy(out, s->pool[match[h % (uint64_t)n]], CAMPAIGN_E164_MAX + 1);
                return 0;
            }
        }
    }
    if (s->caller_id[0]) {
        memcpy(out, s->caller_id, CAMPAIGN_E164_MAX + 1);
        return 0;
    }
    if (s->npool > 0) {
        memcpy(out, s->pool[h % (uint64_t)s->npool], CAMPAIGN_E164_MAX + 1);
        return 0;
    }
    return ERR_NOTFOUND;
}

/* ------------------------------------------------------------------------ */
/* Retry and callbacks                                                       */

void campaign_retry_decide(const struct campaign_settings *s, int cls, int attempts, int today,
                           int number_idx, int nalt, int64_t now_us,
                           struct campaign_retry_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->next_number = number_idx;
    if (cls < 0 || cls >= CAMPAIGN_RETRY_COUNT_) {
        return; /* a final outcome: the contact is done */
    }
    const struct campaign_retry_rule *r = &s->retry[cls];
    if (attempts >= s->max_attempts || attempts >= r->max_attempts) {
        return;
    }
    out->retry = true;
    out->at_us = now_us + r->delay_s * INT64_C(1000000);
    out->same_trunk = cls == CAMPAIGN_RETRY_BUSY || cls == CAMPAIGN_RETRY_REJECTED;
    if (r->max_per_day > 0 && today >= r->max_per_day) {
        /* not again today: at least a day later (windows then pick the hour) */
        int64_t day = now_us + INT64_C(86400) * 1000000;
        out->at_us = out->at_us > day ? out->at_us : day;
    }
    if (nalt > 0) {
        if (s->alt_policy == CAMPAIGN_ALT_ROTATE) {
            out->next_number = (number_idx + 1) % (nalt + 1);
        } else if (s->alt_policy == CAMPAIGN_ALT_ON_FAILURE && (s->alt_on & (1u << cls)) &&
                   number_idx < nalt) {
            out->next_number = number_idx + 1;
        }
    }
}

int campaign_callback_check(const struct campaign_settings *s, int64_t now_us, int64_t at_us,
                            struct campaign_error *err)
{
    if (!s->callbacks) {
        fail(err, "callback_at", "callbacks are not enabled for this campaign");
        return ERR_FORBIDDEN;
    }
    if (at_us <= now_us) {
        fail(err, "callback_at", "must be in the future");
        return ERR_RANGE;
    }
    if (at_us - now_us > (int64_t)s->callback_max_days * 86400 * INT64_C(1000000)) {
        fail(err, "callback_at", "is further ahead than callbacks.max_days");
        return ERR_RANGE;
    }
    return 0;
}
