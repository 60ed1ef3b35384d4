/* SPDX-License-Identifier: MIT */
/*
 * record: the dialer's blocked attempts as compliance_decisions rows
 * (compliance.h, "Decision records"; docs/compliance.md, "Decision records").
 *
 * A row says which rule blocked (the column's form, compliance_record_rule),
 * the next eligible moment, the versions and facts that decided
 * (data_versions) and the audit record (trace, the number masked).
 *
 * Repeats: a direct-mapped cache of SLOTS entries holds each contact's last
 * queued row (rule hash and next eligible moment); the same row again is a
 * repeat and is not queued. A collision evicts the older contact, whose next
 * repeat is then queued and stopped by the insert's own check (the contact
 * has that row since its last attempt). So the cache bounds the statements,
 * the insert bounds the rows, across nodes and restarts.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "compliance/compliance_int.h"
#include "core/clock.h"
#include "core/counter.h"
#include "core/db.h"
#include "core/err.h"
#include "core/log.h"

#define SLOTS        16384 /* power of two */
#define MAX_ROWS_DEF 10000

struct seen {
    int64_t contact_id; /* 0: empty */
    uint32_t rule_hash;
    int64_t next_us;
};

struct compliance_recorder {
    struct db_pool *db;
    json_t *rows; /* queued rows (compliance_record_json) */
    size_t max_rows;
    bool out;     /* a write is in flight on conn (pinned) */
    bool stopped; /* no more writes start */
    struct db_conn *conn;
    struct seen seen[SLOTS];
};

/* clang-format off */
static struct counter c_queued = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "compliance_decision_records_total{result=\"queued\"}", "Blocked attempts queued for the record");
static struct counter c_repeat = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "compliance_decision_records_total{result=\"repeat\"}",
    "Blocked attempts not recorded again (same contact, rule and next moment)");
static struct counter c_dropped = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "compliance_decision_records_total{result=\"dropped\"}",
    "Blocked attempts not recorded: the queue was full");
static struct counter c_failed = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "compliance_decision_records_total{result=\"failed\"}",
    "Decision rows lost because their write failed");

/* clang-format on */

/* ---- rows ---------------------------------------------------------------------- */

static const char *scope_word(enum compliance_dnc_scope s)
{
    return s == COMPLIANCE_DNC_NATIONAL ? "national"
           : s == COMPLIANCE_DNC_TENANT ? "tenant"
                                        : "campaign";
}

/* prefix + id, the id in the column's alphabet ([a-z0-9_.], '-' and others as '_'). */
static void rule_text(char *buf, size_t size, const char *prefix, const char *id)
{
    int n = snprintf(buf, size, "%s%s", prefix, id != NULL ? id : "");
    size_t len = n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
    for (size_t i = strlen(prefix); i < len; i++) {
        char c = buf[i];
        if (c >= 'A' && c <= 'Z') {
            buf[i] = (char)(c - 'A' + 'a');
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) {
            buf[i] = '_';
        }
    }
}

const char *compliance_record_rule(const struct compliance_decision *d, char *buf, size_t size)
{
    if (buf == NULL || size < 2) {
        return "";
    }
    size = size > 65 ? 65 : size; /* the column takes at most 64 characters */
    switch (d->reason) {
    case COMPLIANCE_REASON_DNC:
        snprintf(buf, size, "dnc.%s", scope_word(d->dnc.scope));
        break;
    case COMPLIANCE_REASON_DNC_LIST_STALE:
        snprintf(buf, size, "dnc.list_stale");
        break;
    case COMPLIANCE_REASON_DNC_LIST_MISSING:
        rule_text(buf, size, "dnc.",
                  d->rule_id != NULL && strcmp(d->rule_id, "dnc-unavailable") == 0
                      ? "unavailable"
                      : "list_missing");
        break;
    case COMPLIANCE_REASON_WINDOW:
        if (d->rule_id != NULL && strcmp(d->rule_id, "campaign-window") == 0) {
            snprintf(buf, size, "window.campaign");
        } else {
            rule_text(buf, size, "window.", d->rule_id != NULL ? d->rule_id : "unknown");
        }
        break;
    case COMPLIANCE_REASON_CAP:
        rule_text(buf, size, "cap.", d->cap_rule != NULL ? d->cap_rule->id : "unknown");
        break;
    case COMPLIANCE_REASON_CAP_UNAVAILABLE:
        snprintf(buf, size, "cap.unavailable");
        break;
    case COMPLIANCE_REASON_INVALID_NUMBER:
        snprintf(buf, size, "number.invalid");
        break;
    default:
        snprintf(buf, size, "allow");
        break;
    }
    return buf;
}

/* The facts and versions that decided, flat, for data_versions. NULL on ERR_NOMEM. */
static json_t *versions_json(const struct compliance_decision *d, const json_t *trace)
{
    json_t *v =
        json_pack("{s:s, s:s, s:s}", "ruleset", COMPLIANCE_RULESET_VERSION, "tzdata",
                  compliance_tzdata_version(), "phone_data", compliance__phone_data_version);
    int bad = v == NULL;
    const json_t *local = json_object_get(trace, "local");
    if (!bad && json_is_object(local)) {
        /* the contact's local time and the zone it was taken in */
        bad |= json_object_set(v, "zone", json_object_get(local, "zone"));
        bad |= json_object_set(v, "local_time", json_object_get(local, "time"));
    }
    if (!bad && d->reason == COMPLIANCE_REASON_WINDOW && d->window.rule != NULL) {
        bad |= json_object_set_new(v, "rule_source", json_string(d->window.rule->source));
    }
    if (!bad && d->reason == COMPLIANCE_REASON_DNC) {
        char date[40] = "";
        if (d->dnc.list_date_us != 0) {
            clock_format_utc(d->dnc.list_date_us, date, sizeof(date));
        }
        bad |= json_object_set_new(v, "dnc_list_id", json_integer(d->dnc.list_id));
        bad |= json_object_set_new(v, "dnc_list", json_string(d->dnc.list_name));
        bad |= json_object_set_new(v, "dnc_scope", json_string(scope_word(d->dnc.scope)));
        bad |= json_object_set_new(v, "dnc_list_date", json_string(date));
    }
    if (!bad && d->reason == COMPLIANCE_REASON_CAP && d->cap_rule != NULL) {
        const struct compliance_cap_rule *r = d->cap_rule;
        bad |= json_object_set_new(v, "rule_source", json_string(r->source));
        bad |= json_object_set_new(v, "cap_rule", json_string(r->id));
        bad |= json_object_set_new(v, "cap_window_s", json_integer(r->period_s));
        if (r->kind == COMPLIANCE_CAP_RULE_ROLLING) {
            bad |= json_object_set_new(v, "cap_limit", json_integer(r->max_calls));
            bad |= json_object_set_new(v, "cap_count", json_integer(d->cap_count));
        } else {
            bad |= json_object_set_new(v, "cap_event", json_string(r->event ? r->event : ""));
        }
    }
    if (bad) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int compliance_record_json(int64_t tenant_id, int64_t campaign_id, int64_t contact_id,
                           const char *e164, const struct compliance_decision *d, int64_t now_us,
                           struct json_t **out)
{
    char rule[72];
    json_t *trace = NULL;
    if (e164 == NULL || d == NULL || out == NULL || d->verdict != COMPLIANCE_BLOCK) {
        return ERR_INVAL;
    }
    int rc = compliance_decision_audit_json(e164, d, now_us, &trace);
    if (rc != 0) {
        return rc;
    }
    json_t *versions = versions_json(d, trace);
    if (versions == NULL) {
        json_decref(trace);
        return ERR_NOMEM;
    }
    int64_t next = d->next_eligible_us > now_us ? d->next_eligible_us : 0;
    json_t *row = json_pack(
        "{s:I, s:I, s:I, s:s, s:I, s:s, s:I, s:s, s:o, s:o}", "tenant_id", (json_int_t)tenant_id,
        "campaign_id", (json_int_t)campaign_id, "contact_id", (json_int_t)contact_id, "number",
        e164, "at_us", (json_int_t)now_us, "rule", compliance_record_rule(d, rule, sizeof(rule)),
        "next_us", (json_int_t)next, "rules_version", COMPLIANCE_RULESET_VERSION, "data_versions",
        versions, "trace", trace);
    if (row == NULL) {
        return ERR_NOMEM; /* "o" steals the references even on failure */
    }
    *out = row;
    return 0;
}

/* ---- the recorder ----------------------------------------------------------------- */

int compliance_recorder_create(struct db_pool *db, size_t max_rows,
                               struct compliance_recorder **out)
{
    struct compliance_recorder *r;
    if (db == NULL || out == NULL) {
        return ERR_INVAL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->rows = json_array()) == NULL) {
        free(r);
        return ERR_NOMEM;
    }
    r->db = db;
    r->max_rows = max_rows > 0 ? max_rows : MAX_ROWS_DEF;
    counter_register(&c_queued);
    counter_register(&c_repeat);
    counter_register(&c_dropped);
    counter_register(&c_failed);
    *out = r;
    return 0;
}

void compliance_recorder_stop(struct compliance_recorder *r)
{
    if (r != NULL) {
        r->stopped = true;
    }
}

void compliance_recorder_destroy(struct compliance_recorder *r)
{
    if (r == NULL) {
        return;
    }
    json_decref(r->rows);
    free(r);
}

size_t compliance_recorder_pending(const struct compliance_recorder *r)
{
    return r != NULL ? json_array_size(r->rows) : 0;
}

static struct seen *slot_of(struct compliance_recorder *r, int64_t contact_id)
{
    uint64_t h = (uint64_t)contact_id * UINT64_C(0x9e3779b97f4a7c15);
    return &r->seen[h >> 50]; /* the top 14 bits: SLOTS = 2^14 */
}

static uint32_t hash_text(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

void compliance_recorder_forget(struct compliance_recorder *r, int64_t contact_id)
{
    if (r == NULL || contact_id == 0) {
        return;
    }
    struct seen *s = slot_of(r, contact_id);
    if (s->contact_id == contact_id) {
        memset(s, 0, sizeof(*s));
    }
}

static void flush(struct compliance_recorder *r);

static void written(int status, PGresult *res, void *arg)
{
    struct compliance_recorder *r = arg;
    (void)res;
    if (status != 0 && status != ERR_CANCELED) {
        LOG_WARN(COMPLIANCE, "event=decision_records_failed err=%s", err_name(status));
        /* the rows are lost: forget what was seen, so the next skips write again (the insert
         * still skips rows that did reach the table) */
        memset(r->seen, 0, sizeof(r->seen));
        counter_inc(&c_failed);
    }
    r->out = false;
    db_pool_unpin(r->db, r->conn);
    r->conn = NULL;
    if (!r->stopped && status != ERR_CANCELED) {
        flush(r);
    }
}

/*
 * The insert: rows of a contact whose last attempt is older than a row with the same rule and
 * next eligible moment are repeats of that row (another node, a restart) and are skipped.
 */
static const char insert_sql[] =
    "WITH x AS (SELECT x.*, CASE WHEN x.next_us > 0 THEN timestamptz 'epoch' + x.next_us * "
    "interval '1 microsecond' END AS next_at FROM json_to_recordset($1::json) AS x(tenant_id "
    "bigint, campaign_id bigint, contact_id bigint, number text, at_us bigint, rule text, "
    "next_us bigint, rules_version text, data_versions json, trace json)), "
    "r AS (INSERT INTO compliance_decisions (tenant_id, campaign_id, contact_id, number, "
    "decided_at, verdict, rule, next_eligible_at, rules_version, data_versions, trace) "
    "SELECT x.tenant_id, x.campaign_id, k.id, x.number, timestamptz 'epoch' + x.at_us * "
    "interval '1 microsecond', 'block', x.rule, x.next_at, x.rules_version, x.data_versions, "
    "x.trace FROM x LEFT JOIN contacts k ON k.id = x.contact_id "
    "WHERE k.id IS NULL OR NOT EXISTS (SELECT 1 FROM compliance_decisions p "
    "WHERE p.contact_id = k.id AND p.rule = x.rule AND p.next_eligible_at IS NOT DISTINCT FROM "
    "x.next_at AND p.decided_at >= coalesce(k.last_attempt_at, '-infinity')) RETURNING 1) "
    "SELECT count(*) FROM r";

static void flush(struct compliance_recorder *r)
{
    if (r->out || r->stopped || json_array_size(r->rows) == 0) {
        return;
    }
    struct db_conn *conn = NULL;
    if (db_pool_pin(r->db, &conn) != 0) {
        return; /* the next row tries again */
    }
    char *rows = json_dumps(r->rows, JSON_COMPACT);
    if (rows == NULL) {
        db_pool_unpin(r->db, conn);
        return;
    }
    const char *params[1] = { rows };
    const struct db_query qs[4] = {
        { .sql = "BEGIN" },
        { .sql = "SET LOCAL ROLE dialer_platform" },
        { .sql = insert_sql, .nparams = 1, .params = params },
        { .sql = "COMMIT", .cb = written, .arg = r },
    };
    int i = 0;
    for (; i < 4 && db_query_send(conn, &qs[i], NULL) == 0; i++) {
    }
    free(rows);
    if (i < 4) {
        if (i > 0) {
            const struct db_query rb = { .sql = "ROLLBACK" };
            (void)db_query_send(conn, &rb, NULL);
        }
        db_pool_unpin(r->db, conn);
        return;
    }
    json_array_clear(r->rows);
    r->conn = conn;
    r->out = true;
}

int compliance_recorder_add(struct compliance_recorder *r, int64_t tenant_id, int64_t campaign_id,
                            int64_t contact_id, const char *e164,
                            const struct compliance_decision *d, int64_t now_us)
{
    char rule[72];
    json_t *row = NULL;
    if (r == NULL || e164 == NULL || d == NULL || d->verdict != COMPLIANCE_BLOCK) {
        return ERR_INVAL;
    }
    int64_t next = d->next_eligible_us > now_us ? d->next_eligible_us : 0;
    uint32_t h = hash_text(compliance_record_rule(d, rule, sizeof(rule)));
    struct seen *s = contact_id != 0 ? slot_of(r, contact_id) : NULL;
    if (s != NULL && s->contact_id == contact_id && s->rule_hash == h && s->next_us == next) {
        counter_inc(&c_repeat);
        return 0;
    }
    if (json_array_size(r->rows) >= r->max_rows) {
        counter_inc(&c_dropped);
        LOG_WARN(COMPLIANCE,
                 "event=decision_record_dropped campaign=%" PRId64 " contact=%" PRId64
                 " rule=%s msg=\"the record queue is full\"",
                 campaign_id, contact_id, rule);
        return ERR_TOOBIG;
    }
    int rc = compliance_record_json(tenant_id, campaign_id, contact_id, e164, d, now_us, &row);
    if (rc != 0) {
        return rc;
    }
    if (json_array_append_new(r->rows, row) != 0) {
        return ERR_NOMEM;
    }
    if (s != NULL) {
        s->contact_id = contact_id;
        s->rule_hash = h;
        s->next_us = next;
    }
    counter_inc(&c_queued);
    flush(r);
    return 1;
}
