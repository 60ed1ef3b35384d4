/* SPDX-License-Identifier: MIT */
/*
 * Campaign call data: the attempts (call_attempts, one per origination),
 * the call logs (call_logs, one CDR per ended attempt) with filters and
 * cursor pages, the call logs as a formula-safe CSV export, and the ready
 * set (why contacts are or are not dialable now). Routes and decisions in
 * docs/api.md ("Campaigns").
 *
 * Decisions:
 *   - Numbers are shown in full to principals with read permission (they
 *     are the tenant's own data) and are never logged by these routes.
 *   - Attempts are ordered by (started_at, id), call logs by (ended_at,
 *     attempt_id): the indexes call_attempts_campaign_idx and
 *     call_logs_campaign_idx serve both the order and the ?from/?to range.
 *     The cursor is opaque (base64url of "<time us>.<uuid>").
 *   - The CSV export is bounded, not streamed (httpd answers whole bodies):
 *     at most CSV_MAX_ROWS calls per request, more is 422 naming ?from
 *     (narrow the time range, or page through /calls). Cells go through the
 *     importer's formula-safe writer (importer_csv_cell): a cell starting
 *     with = + - @ TAB or CR gets a leading apostrophe, so E.164 numbers
 *     read '+12125550100 in the file and stay text in a spreadsheet.
 *   - The ready set is computed from the database, cluster-wide, not from
 *     one node's scheduler: due contacts split by the campaign's own
 *     calling schedule (per contact zone when contact_time is set) into
 *     dialable and waiting.window (with the next opening); contacts not due
 *     yet under the reason the scheduler stored when it handed them back
 *     (block_reason: window, dnc, cap; anything else is a retry wait);
 *     contacts leased by a node (held: their reason lives in that node's
 *     memory), dialing, and the final states. The statutory windows and
 *     DNC verdicts of compliance are applied by the scheduler at dial time;
 *     here they show only once a contact was handed back with that reason.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_campaigns.h"
#include "api/api_rest.h"
#include "campaign/campaign.h"
#include "core/arena.h"
#include "core/err.h"
#include "importers/importers.h"

#define CSV_MAX_ROWS 50000
#define US_PER_S     INT64_C(1000000)
#define NEVER_DAYS   "1825" /* CAMPAIGN_AUTO_NEVER_DAYS, as SQL text */
_Static_assert(CAMPAIGN_AUTO_NEVER_DAYS == 1825, "NEVER_DAYS is CAMPAIGN_AUTO_NEVER_DAYS");

static const char *const outcomes[] = { "human",     "machine",    "busy",        "no_answer",
                                        "rejected",  "congestion", "unreachable", "failed",
                                        "cancelled", "abandoned",  "lost",        "not_dialed",
                                        NULL };

/* RFC 3339 UTC text of epoch us (arena). */
static const char *iso(struct api_ctx *ctx, int64_t us)
{
    struct tm tm;
    time_t t = (time_t)(us / US_PER_S);
    char b[32];
    gmtime_r(&t, &tm);
    strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return api_ctx_printf(ctx, "%s", b);
}

/* ------------------------------------------------------------- cursor */

int api__campaign_cursor_make(int64_t t_us, const char *id, char *out, size_t outsz)
{
    char raw[80];
    int n = snprintf(raw, sizeof(raw), "%lld.%s", (long long)t_us, id);
    if (n <= 0 || (size_t)n >= sizeof(raw) ||
        outsz < sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
        return ERR_TOOBIG;
    }
    sodium_bin2base64(out, outsz, (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

static const char *cursor_make(struct api_ctx *ctx, int64_t t_us, const char *id)
{
    char out[128];
    if (api__campaign_cursor_make(t_us, id, out, sizeof(out)) != 0) {
        return NULL;
    }
    return api_ctx_printf(ctx, "%s", out);
}

static bool uuid_ok(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdefABCDEF", s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

int api__campaign_cursor_parse(const char *c, char *t_out, size_t tsz, char *id_out)
{
    unsigned char raw[80];
    size_t n = 0;
    char *dot;

    if (strlen(c) > 120 || sodium_base642bin(raw, sizeof(raw) - 1, c, strlen(c), NULL, &n, NULL,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return ERR_PARSE;
    }
    raw[n] = '\0';
    dot = strchr((char *)raw, '.');
    if (dot == NULL || dot == (char *)raw || (size_t)(dot - (char *)raw) >= tsz ||
        strspn((char *)raw, "0123456789") != (size_t)(dot - (char *)raw) ||
        (size_t)(dot - (char *)raw) > 18 || !uuid_ok(dot + 1)) {
        return ERR_PARSE;
    }
    memcpy(t_out, raw, (size_t)(dot - (char *)raw));
    t_out[dot - (char *)raw] = '\0';
    memcpy(id_out, dot + 1, 37);
    return 0;
}

/* ------------------------------------------------------------ filters */

/* The query of an attempts/calls route, validated (SQL parameter texts). */
struct call_q {
    int64_t campaign;
    int64_t limit;
    const char *after_t; /* cursor time us, NULL: first page */
    const char *after_id;
    const char *outcome;
    const char *disposition;
    const char *from_us;
    const char *to_us;
    const char *contact;
};

static int bad_param(struct api_ctx *ctx, const char *field, const char *msg)
{
    api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", msg, field);
    return ERR_INVAL;
}

/* Reads the path id and the filters; answers 400/404 itself (ERR_INVAL). */
static int call_query(struct api_ctx *ctx, bool paged, struct call_q *q)
{
    static const char *const allowed_paged[] = { "limit", "cursor", "outcome", "disposition",
                                                 "from",  "to",     "contact", NULL };
    static const char *const allowed_csv[] = { "outcome", "disposition", "from",
                                               "to",      "contact",     NULL };
    struct httpd_req *req = api_ctx_req(ctx);
    const char *v;
    int64_t t;
    char *end;

    memset(q, 0, sizeof(*q));
    if (api_path_id(ctx, "id", &q->campaign) != 0 ||
        api_query_allow(ctx, paged ? allowed_paged : allowed_csv) != 0) {
        return ERR_INVAL;
    }
    q->limit = 100;
    if (paged && (v = httpd_req_query(req, "limit")) != NULL) {
        long long l = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || l < 1 || l > 1000) {
            return bad_param(ctx, "?limit", "limit is an integer from 1 to 1000");
        }
        q->limit = l;
    }
    if (paged && (v = httpd_req_query(req, "cursor")) != NULL) {
        char tb[24], id[37];
        if (api__campaign_cursor_parse(v, tb, sizeof(tb), id) != 0) {
            return bad_param(ctx, "?cursor", "cursor is the next_cursor of a previous page");
        }
        q->after_t = api_ctx_printf(ctx, "%s", tb);
        q->after_id = api_ctx_printf(ctx, "%s", id);
    }
    if ((v = httpd_req_query(req, "outcome")) != NULL) {
        bool ok = false;
        for (size_t i = 0; outcomes[i] != NULL && !ok; i++) {
            ok = strcmp(v, outcomes[i]) == 0;
        }
        if (!ok) {
            return bad_param(ctx, "?outcome",
                             "outcome is one of human, machine, busy, no_answer, rejected, "
                             "congestion, unreachable, failed, cancelled, abandoned, lost");
        }
        q->outcome = v;
    }
    if ((v = httpd_req_query(req, "disposition")) != NULL) {
        if (v[0] == '\0' || strlen(v) > 64) {
            return bad_param(ctx, "?disposition", "disposition is 1 to 64 characters");
        }
        q->disposition = v;
    }
    if ((v = httpd_req_query(req, "from")) != NULL) {
        if (api_parse_time(v, &t) != 0) {
            return bad_param(ctx, "?from", "from is epoch seconds or RFC 3339");
        }
        q->from_us = rest_i64(ctx, t);
    }
    if ((v = httpd_req_query(req, "to")) != NULL) {
        if (api_parse_time(v, &t) != 0) {
            return bad_param(ctx, "?to", "to is epoch seconds or RFC 3339");
        }
        q->to_us = rest_i64(ctx, t);
    }
    if ((v = httpd_req_query(req, "contact")) != NULL) {
        long long c = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || c < 1) {
            return bad_param(ctx, "?contact", "contact is a contact id");
        }
        q->contact = rest_i64(ctx, c);
    }
    return 0;
}

/* ------------------------------------------------------------- pages */

struct call_page {
    int64_t found; /* campaign rows (0: 404) */
    int64_t limit;
    const char *items; /* JSON array text in the request arena (parsed when answering) */
    bool more;
    int64_t last_t;
    char last_id[37];
};

static int campaign_found(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct call_page *o = arg;
    (void)ctx;
    o->found = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    return 0;
}

/* Rows (time us, id, json) -> the items array (limit + 1 probe). */
static int page_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct call_page *o = arg;
    int n = PQntuples(res);
    size_t need = 3, len = 0;
    char *buf;

    for (int i = 0; i < n && i < o->limit; i++) {
        need += (size_t)PQgetlength(res, i, 2) + 1;
    }
    buf = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), need);
    if (buf == NULL) {
        return ERR_NOMEM;
    }
    buf[len++] = '[';
    for (int i = 0; i < n; i++) {
        if (i == o->limit) {
            o->more = true;
            break;
        }
        if (i > 0) {
            buf[len++] = ',';
        }
        memcpy(buf + len, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
        len += (size_t)PQgetlength(res, i, 2);
        o->last_t = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        snprintf(o->last_id, sizeof(o->last_id), "%s", PQgetvalue(res, i, 1));
    }
    buf[len++] = ']';
    buf[len] = '\0';
    o->items = buf;
    return 0;
}

static void page_done(struct api_ctx *ctx, int status, void *arg)
{
    struct call_page *o = arg;
    json_t *items;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (o->found == 0) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", NULL);
        return;
    }
    items = o->items != NULL ? json_loads(o->items, 0, NULL) : json_array();
    if (items == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "bad result", NULL);
        return;
    }
    const char *next = o->more ? cursor_make(ctx, o->last_t, o->last_id) : NULL;
    api_respond_json(ctx, HTTPD_STATUS_OK,
                     json_pack("{s:o, s:o}", "items", items, "next_cursor",
                               next != NULL ? json_string(next) : json_null()),
                     NULL);
}

#define TS(col) "'epoch'::timestamptz + " col "::bigint * interval '1 microsecond'"
#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

static int run_page(struct api_ctx *ctx, const struct call_q *q, const char *sql)
{
    struct call_page *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    const char *p[9];

    if (o == NULL) {
        return ERR_NOMEM;
    }
    o->limit = q->limit;
    p[0] = rest_i64(ctx, q->campaign);
    p[1] = q->after_t;
    p[2] = q->after_id;
    p[3] = q->outcome;
    p[4] = q->disposition;
    p[5] = q->from_us;
    p[6] = q->to_us;
    p[7] = q->contact;
    p[8] = rest_i64(ctx, q->limit + 1);
    struct api_stmt st[2] = {
        { .sql = "SELECT count(*) FROM campaigns WHERE id = $1::bigint",
          .nparams = 1,
          .params = p,
          .rows = campaign_found,
          .arg = o },
        { .sql = sql, .nparams = 9, .params = p, .rows = page_rows, .arg = o },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 2, page_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_attempts(struct api_ctx *ctx, void *arg)
{
    struct call_q q;
    (void)arg;

    if (call_query(ctx, true, &q) != 0) {
        return HTTPD_DONE;
    }
    return run_page(
        ctx, &q,
        "SELECT " US(
            "a.started_at") ", a.id::text, json_build_object('id', a.id,"
                            " 'contact_id', a.contact_id, 'number', a.number, 'attempt_no', "
                            "a.attempt_no,"
                            " 'caller_id', a.caller_id, 'trunk', a.trunk, 'dialer_node', "
                            "a.dialer_node,"
                            " 'state', a.state, 'started_at', a.started_at, 'originated_at', "
                            "a.originated_at,"
                            " 'ringing_at', a.ringing_at, 'answered_at', a.answered_at, "
                            "'ended_at', a.ended_at,"
                            " 'hangup_cause', a.hangup_cause, 'sip_code', a.sip_code, 'outcome', "
                            "a.outcome,"
                            " 'disposition', a.disposition, 'amd_result', a.amd_result)"
                            " FROM call_attempts a WHERE a.campaign_id = $1::bigint"
                            " AND ($2::bigint IS NULL OR (a.started_at, a.id) > (" TS(
                                "$2") ", $3::uuid))"
                                      " AND ($4::text IS NULL OR a.outcome = $4) AND ($5::text IS "
                                      "NULL OR a.disposition = $5)"
                                      " AND ($6::bigint IS NULL OR a.started_at >= " TS(
                                          "$6") ")"
                                                " AND ($7::bigint IS NULL OR a.started_at < " TS(
                                                    "$7") ")"
                                                          " AND ($8::bigint IS NULL OR "
                                                          "a.contact_id = $8::bigint)"
                                                          " ORDER BY a.started_at, a.id LIMIT "
                                                          "$9::bigint");
}

#define CALLS_FROM                                                                                \
    " FROM call_logs l LEFT JOIN call_attempts a ON a.id = l.attempt_id"                          \
    " WHERE l.campaign_id = $1::bigint"                                                           \
    " AND ($2::bigint IS NULL OR (l.ended_at, l.attempt_id) > (" TS(                              \
        "$2") ", $3::uuid))"                                                                      \
              " AND ($4::text IS NULL OR l.outcome = $4) AND ($5::text IS NULL OR l.disposition " \
              "= $5)"                                                                             \
              " AND ($6::bigint IS NULL OR l.ended_at >= " TS(                                    \
                  "$6") ")"                                                                       \
                        " AND ($7::bigint IS NULL OR l.ended_at < " TS(                           \
                            "$7") ")"                                                             \
                                  " AND ($8::bigint IS NULL OR a.contact_id = $8::bigint)"        \
                                  " ORDER BY l.ended_at, l.attempt_id LIMIT $9::bigint"

static int h_calls(struct api_ctx *ctx, void *arg)
{
    struct call_q q;
    (void)arg;

    if (call_query(ctx, true, &q) != 0) {
        return HTTPD_DONE;
    }
    return run_page(
        ctx, &q,
        "SELECT " US(
            "l.ended_at") ", l.attempt_id::text, json_build_object("
                          " 'attempt_id', l.attempt_id, 'contact_id', a.contact_id, 'attempt_no', "
                          "a.attempt_no,"
                          " 'number', l.number, 'caller_id', l.caller_id, 'started_at', "
                          "l.started_at,"
                          " 'answered_at', l.answered_at, 'connected_at', l.connected_at, "
                          "'ended_at', l.ended_at,"
                          " 'ring_ms', l.ring_ms, 'talk_ms', l.talk_ms, 'total_ms', l.total_ms,"
                          " 'outcome', l.outcome, 'disposition', l.disposition, 'hangup_cause', "
                          "l.hangup_cause,"
                          " 'hangup_by', l.hangup_by, 'amd_result', l.amd_result, 'live_answer', "
                          "l.live_answer,"
                          " 'abandoned', l.abandoned)" CALLS_FROM);
}

/* ---------------------------------------------------------------- CSV */

static const char *const csv_cols[] = {
    "attempt_id",  "contact_id",   "attempt_no", "number",     "caller_id",   "started_at",
    "answered_at", "ended_at",     "ring_ms",    "talk_ms",    "total_ms",    "outcome",
    "disposition", "hangup_cause", "hangup_by",  "amd_result", "live_answer", "abandoned",
};

#define NCSV (sizeof(csv_cols) / sizeof(csv_cols[0]))

struct csv_out {
    int64_t found;
    char *buf; /* request arena: freed with the request, answered or not */
    size_t len, cap;
    bool too_many;
    bool nomem;
};

/* One cell and its separator; the buffer was sized for the worst case. */
static void csv_put(struct csv_out *o, const char *v, size_t n, bool last)
{
    int w = o->nomem ? -1 : importer_csv_cell(v, n, o->buf + o->len, o->cap - o->len);
    if (w < 0 || o->len + (size_t)w + 1 >= o->cap) {
        o->nomem = true;
        return;
    }
    o->len += (size_t)w;
    o->buf[o->len++] = last ? '\n' : ',';
}

static int csv_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct csv_out *o = arg;
    int n = PQntuples(res);
    size_t need = 64;

    if (n > CSV_MAX_ROWS) {
        o->too_many = true;
        return 0;
    }
    /* worst case per cell: quotes doubled, apostrophe, two quotes, separator */
    for (size_t c = 0; c < NCSV; c++) {
        need += 2 * strlen(csv_cols[c]) + 5;
    }
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < (int)NCSV; c++) {
            need += 2 * (size_t)PQgetlength(res, i, c) + 5;
        }
    }
    o->buf = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), need);
    if (o->buf == NULL) {
        o->nomem = true;
        return 0;
    }
    o->cap = need;
    for (size_t c = 0; c < NCSV; c++) {
        csv_put(o, csv_cols[c], strlen(csv_cols[c]), c + 1 == NCSV);
    }
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < (int)NCSV; c++) {
            const char *v = PQgetisnull(res, i, c) ? "" : PQgetvalue(res, i, c);
            csv_put(o, v, (size_t)PQgetlength(res, i, c), c + 1 == (int)NCSV);
        }
    }
    return 0;
}

static void csv_done(struct api_ctx *ctx, int status, void *arg)
{
    struct csv_out *o = arg;

    if (status != 0) {
        api_error_db(ctx, status);
    } else if (o->found == 0) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", NULL);
    } else if (o->too_many) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "too_many_rows",
                  api_ctx_printf(ctx,
                                 "more than %d calls match: narrow the time range with from and "
                                 "to, or page through /calls",
                                 CSV_MAX_ROWS),
                  "?from");
    } else if (o->nomem || o->buf == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "out of memory", NULL);
    } else {
        api_respond_raw(ctx, HTTPD_STATUS_OK, "text/csv; charset=utf-8", o->buf, o->len);
    }
}

static int csv_found(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct csv_out *o = arg;
    (void)ctx;
    o->found = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    return 0;
}

#define CSV_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static int h_calls_csv(struct api_ctx *ctx, void *arg)
{
    struct csv_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    struct call_q q;
    const char *p[9];
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (call_query(ctx, false, &q) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, q.campaign);
    p[1] = NULL;
    p[2] = NULL;
    p[3] = q.outcome;
    p[4] = q.disposition;
    p[5] = q.from_us;
    p[6] = q.to_us;
    p[7] = q.contact;
    p[8] = rest_i64(ctx, CSV_MAX_ROWS + 1);
    struct api_stmt st[2] = {
        { .sql = "SELECT count(*) FROM campaigns WHERE id = $1::bigint",
          .nparams = 1,
          .params = p,
          .rows = csv_found,
          .arg = o },
        { .sql = "SELECT l.attempt_id, a.contact_id, a.attempt_no, l.number, l.caller_id,"
                 " " CSV_TS("l.started_at") ", " CSV_TS("l.answered_at") ", " CSV_TS(
                     "l.ended_at") ", l.ring_ms, l.talk_ms, l.total_ms, l.outcome,"
                                   " l.disposition, l.hangup_cause, l.hangup_by, l.amd_result,"
                                   " l.live_answer, l.abandoned" CALLS_FROM,
          .nparams = 9,
          .params = p,
          .rows = csv_rows,
          .arg = o },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 2, csv_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* ---------------------------------------------------------- ready set */

enum { MAX_ZONES = 1000 };

struct ready_out {
    bool found;
    char state[16];
    struct campaign_settings set;
    bool bad_settings;
    int64_t now_us;
    int64_t dialable, w_window, w_retry, w_cap, w_dnc, w_campaign;
    int64_t held, dialing, done, failed, dnc, excluded;
    int64_t callbacks, never; /* pending for a callback; handed back as never dialable */
    int64_t next_due_us;      /* INT64_MAX: none */
    int64_t next_open_us;     /* INT64_MAX: none known */
    bool window_open;         /* the campaign's own schedule, in its zone */
};

static int ready_campaign(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct ready_out *o = arg;
    json_t *doc;
    int64_t next = 0;
    (void)ctx;

    if (PQntuples(res) != 1) {
        return 0;
    }
    o->found = true;
    snprintf(o->state, sizeof(o->state), "%s", PQgetvalue(res, 0, 0));
    o->now_us = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    doc = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    o->bad_settings = doc == NULL || campaign_settings_from_json(doc, &o->set, NULL) != 0;
    json_decref(doc);
    o->next_due_us = INT64_MAX;
    o->next_open_us = INT64_MAX;
    o->window_open = true;
    if (!o->bad_settings) {
        o->window_open = campaign_schedule_check(&o->set, NULL, o->now_us, &next) != 0;
        if (!o->window_open) {
            o->next_open_us = next;
        }
    }
    return 0;
}

static int64_t col(PGresult *res, int i, int c)
{
    return PQgetisnull(res, i, c) ? 0 : strtoll(PQgetvalue(res, i, c), NULL, 10);
}

static int ready_zones(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct ready_out *o = arg;
    bool running = strcmp(o->state, "running") == 0;
    (void)ctx;

    if (!o->found) {
        return 0;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *zone = PQgetvalue(res, i, 0);
        int64_t due = col(res, i, 1), next = 0;
        int open = 1;
        if (!o->bad_settings) {
            open =
                campaign_schedule_check(&o->set, zone[0] != '\0' ? zone : NULL, o->now_us, &next);
            if (open == ERR_NOTFOUND) {
                open = campaign_schedule_check(&o->set, NULL, o->now_us, &next);
            }
        }
        if (open == 0) {
            o->w_window += due;
            if (due > 0 && next < o->next_open_us) {
                o->next_open_us = next;
            }
        } else if (!running) {
            o->w_campaign += due;
        } else {
            o->dialable += due;
        }
        o->w_window += col(res, i, 2);
        o->w_dnc += col(res, i, 3);
        o->w_cap += col(res, i, 4);
        o->w_retry += col(res, i, 5);
        o->held += col(res, i, 6);
        o->dialing += col(res, i, 7);
        o->done += col(res, i, 8);
        o->failed += col(res, i, 9);
        o->dnc += col(res, i, 10);
        o->excluded += col(res, i, 11);
        if (!PQgetisnull(res, i, 12) && col(res, i, 12) < o->next_due_us) {
            o->next_due_us = col(res, i, 12);
        }
        o->callbacks += col(res, i, 13);
        o->never += col(res, i, 14);
    }
    return 0;
}

/*
 * Why a running campaign has not completed yet (dialerd completes it once
 * every contact is final: docs/campaign.md section 2a).
 */
static json_t *ready_completion(struct api_ctx *ctx, const struct ready_out *o)
{
    int64_t waiting = o->w_window + o->w_retry + o->w_cap + o->w_dnc - o->never;
    int64_t open = o->dialable + o->w_campaign + waiting + o->held + o->dialing;
    int64_t retries = o->w_retry - o->callbacks;
    const char *why;
    if (strcmp(o->state, "completed") == 0 || strcmp(o->state, "stopped") == 0) {
        why = api_ctx_printf(ctx, "the campaign is %s", o->state);
    } else if (open == 0) {
        why = strcmp(o->state, "running") == 0
                  ? "every contact is final: the campaign completes at the next check"
                  : api_ctx_printf(ctx, "every contact is final; the campaign is %s", o->state);
    } else if (o->dialable + o->held + o->dialing > 0) {
        why = api_ctx_printf(ctx, "%lld contacts still to dial or in a call",
                             (long long)(o->dialable + o->held + o->dialing));
    } else {
        why = api_ctx_printf(ctx,
                             "waiting: %lld retries, %lld callbacks, %lld for a calling window or "
                             "cap%s%s",
                             (long long)(retries > 0 ? retries : 0), (long long)o->callbacks,
                             (long long)(waiting - o->w_retry > 0 ? waiting - o->w_retry : 0),
                             o->next_due_us != INT64_MAX ? "; next due " : "",
                             o->next_due_us != INT64_MAX ? iso(ctx, o->next_due_us) : "");
    }
    return json_pack("{s:b, s:I, s:I, s:I, s:I, s:s}", "complete", open == 0, "open",
                     (json_int_t)open, "retries", (json_int_t)(retries > 0 ? retries : 0),
                     "callbacks", (json_int_t)o->callbacks, "never", (json_int_t)o->never, "why",
                     why);
}

static void ready_done(struct api_ctx *ctx, int status, void *arg)
{
    struct ready_out *o = arg;
    json_t *j;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (!o->found) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such campaign", NULL);
        return;
    }
    j = json_pack(
        "{s:s, s:b, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I,"
        " s:{s:I, s:I, s:I, s:I}, s:o, s:o, s:b, s:s}",
        "state", o->state, "running", strcmp(o->state, "running") == 0, "at", iso(ctx, o->now_us),
        "dialable", (json_int_t)o->dialable, "waiting", "window", (json_int_t)o->w_window, "retry",
        (json_int_t)o->w_retry, "cap", (json_int_t)o->w_cap, "dnc", (json_int_t)o->w_dnc,
        "campaign", (json_int_t)o->w_campaign, "held", (json_int_t)o->held, "dialing",
        (json_int_t)o->dialing, "finished", "done", (json_int_t)o->done, "exhausted",
        (json_int_t)o->failed, "dnc", (json_int_t)o->dnc, "excluded", (json_int_t)o->excluded,
        "next_window_open",
        o->next_open_us != INT64_MAX ? json_string(iso(ctx, o->next_open_us)) : json_null(),
        "next_due",
        o->next_due_us != INT64_MAX ? json_string(iso(ctx, o->next_due_us)) : json_null(),
        "window_open", o->window_open, "source", "database");
    if (j != NULL) {
        json_object_set_new(j, "completion", ready_completion(ctx, o));
    }
    if (j == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "out of memory", NULL);
        return;
    }
    api_respond_json(ctx, HTTPD_STATUS_OK, j, NULL);
}

static int h_ready(struct api_ctx *ctx, void *arg)
{
    struct ready_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    const char *p[1];
    int64_t id;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    struct api_stmt st[2] = {
        { .sql = "SELECT c.state, c.settings::text, " US("now()") " FROM campaigns c"
                                                                  " WHERE c.id = $1::bigint",
          .nparams = 1,
          .params = p,
          .rows = ready_campaign,
          .arg = o },
        { .sql =
              "SELECT coalesce(k.time_zones[1], ''),"
              " count(*) FILTER (WHERE k.state = 'pending' AND k.next_attempt_at <= now()),"
              " count(*) FILTER (WHERE k.state = 'pending' AND k.next_attempt_at > now()"
              "  AND k.block_reason = 'window'),"
              " count(*) FILTER (WHERE k.state = 'pending' AND k.next_attempt_at > now()"
              "  AND k.block_reason = 'dnc'),"
              " count(*) FILTER (WHERE k.state = 'pending' AND k.next_attempt_at > now()"
              "  AND k.block_reason = 'cap'),"
              " count(*) FILTER (WHERE k.state = 'pending' AND k.next_attempt_at > now()"
              "  AND coalesce(k.block_reason, '') NOT IN ('window', 'dnc', 'cap')),"
              " count(*) FILTER (WHERE k.state = 'leased'),"
              " count(*) FILTER (WHERE k.state = 'dialing'),"
              " count(*) FILTER (WHERE k.state = 'done'),"
              " count(*) FILTER (WHERE k.state = 'failed'),"
              " count(*) FILTER (WHERE k.state = 'dnc'),"
              " count(*) FILTER (WHERE k.state = 'excluded'),"
              " " US(
                  "min(k.next_attempt_at) FILTER (WHERE k.state = 'pending'"
                  " AND k.next_attempt_at > now())") ","
                                                     " count(*) FILTER (WHERE k.state = 'pending' "
                                                     "AND k.next_attempt_at > now()"
                                                     "  AND k.callback_at IS NOT NULL AND "
                                                     "k.next_attempt_at = k.callback_at),"
                                                     " count(*) FILTER (WHERE k.state = 'pending'"
                                                     "  AND k.next_attempt_at >= now() "
                                                     "+ " NEVER_DAYS " * interval '1 day')"
                                                     " FROM campaign_lists cl"
                                                     " JOIN contacts k ON k.list_id = "
                                                     "cl.list_id"
                                                     " WHERE cl.campaign_id = $1::bigint"
                                                     " AND cl.active"
                                                     " GROUP BY 1 ORDER BY 1 LIMIT 1000",
          .nparams = 1,
          .params = p,
          .rows = ready_zones,
          .arg = o },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 2, ready_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api__campaign_calls_routes(struct api *a)
{
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}/attempts",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_attempts,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}/calls",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_calls,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}/calls.csv",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_calls_csv,
          .flags = API_ROUTE_NO_BODY },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/campaigns/{id}/ready",
          .perm = API_PERM_CAMPAIGNS_READ,
          .handler = h_ready,
          .flags = API_ROUTE_NO_BODY },
    };
    return api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
}
