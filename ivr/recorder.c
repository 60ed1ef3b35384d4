/* SPDX-License-Identifier: MIT */
/*
 * recorder: writes executions and their steps to ivr_executions and
 * ivr_steps in batches, off the hot path.
 *
 * The interpreter hands each step and the end of each execution to its
 * callbacks; the host forwards them here (ivr_recorder_step/_end), which
 * only appends a JSON row to the tenant's pending batch. A timer (and a
 * full batch) flushes: per tenant one pipelined transaction with three
 * statements over json_to_recordset (new executions, steps, ends), so a
 * batch of any size is three round-trip-free statements. One flush is in
 * flight at a time, which keeps an execution's INSERT ahead of its steps
 * and end. A flush that fails because the database was unreachable is put
 * back and retried (up to 3 times); one the database refuses is dropped and
 * counted (bad rows would fail forever). Values in vars_delta are already
 * masked by the interpreter.
 *
 * Step times come from the session clock (monotonic); they are converted to
 * wall time when recorded: wall = now_wall - (now_mono - t).
 *
 * A pending row is kept as its compact JSON text (a JSON string in the
 * batch's array), not as a tree of jansson values: about 300 bytes instead
 * of 1.3 KB per row. While PostgreSQL lags, every call in flight has its
 * execution and first step pending, so this is memory per in-flight call
 * (docs/PERFORMANCE.md). A flush joins the texts into one JSON array.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ivr/ivr.h"
#include "ivr/store_int.h"

#define RETRIES 3

struct ivr_recorder {
    struct ev_loop *loop;
    struct db_pool *pool;
    ev_timer timer;
    json_t *pending; /* tenant id (text) -> {"e": [...], "s": [...], "x": [...], "tries": n};
                        the arrays hold each row's JSON text as a string */
    size_t npending, max_rows;
    int inflight;
    bool destroying;
    struct ivr_recorder_stats st;
    struct log_ratelimit rl;
};

struct flush {
    struct ivr_recorder *r;
    long long tenant;
    json_t *batch; /* taken from pending */
    size_t rows;
};

static void free_rec(struct ivr_recorder *r)
{
    json_decref(r->pending);
    free(r);
}

static json_t *batch_of(struct ivr_recorder *r, long long tenant)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", tenant);
    json_t *b = json_object_get(r->pending, key);
    if (b == NULL) {
        b = json_pack("{s:[],s:[],s:[],s:i}", "e", "s", "x", "tries", 0);
        json_object_set_new(r->pending, key, b);
    }
    return b;
}

/* The rows of a batch (their JSON texts) as one JSON array; NULL when out of memory. */
static char *join_rows(const json_t *a)
{
    size_t n = json_array_size(a), len = 3;
    for (size_t i = 0; i < n; i++) {
        len += json_string_length(json_array_get(a, i)) + 1;
    }
    char *out = malloc(len), *p = out;
    if (out == NULL) {
        return NULL;
    }
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        size_t l = json_string_length(v);
        if (i > 0) {
            *p++ = ',';
        }
        memcpy(p, json_string_value(v), l);
        p += l;
    }
    *p++ = ']';
    *p = '\0';
    return out;
}

static void flush_done(struct txn *t)
{
    struct flush *f = t->arg;
    struct ivr_recorder *r = f->r;
    r->inflight--;
    if (t->first_err == 0) {
        r->st.written += f->rows;
    } else {
        json_int_t tries = json_integer_value(json_object_get(f->batch, "tries")) + 1;
        bool transient = t->first_err == ERR_DISCONNECTED || t->first_err == ERR_TIMEOUT;
        uint64_t n = log_ratelimit_pass(&r->rl, clock_mono_us());
        /* The server's message on one line, without quotes that would end the field. */
        for (char *p = t->errmsg; *p != '\0'; p++) {
            if (*p == '\n' || *p == '\r') {
                *p = '\0';
                break;
            }
            if (*p == '"') {
                *p = '\'';
            }
        }
        if (n > 0) {
            LOG_WARN(IVR,
                     "event=record_flush_failed tenant=%lld rows=%zu err=%s msg=\"%s\" "
                     "suppressed=%llu",
                     f->tenant, f->rows, err_name(t->first_err), t->errmsg,
                     (unsigned long long)(n - 1));
        }
        if (transient && tries < RETRIES && !r->destroying) {
            /* Put the rows back in front of anything newer for this tenant. */
            json_t *b = batch_of(r, f->tenant);
            static const char *const keys[] = { "e", "s", "x" };
            for (int k = 0; k < 3; k++) {
                json_t *mine = json_object_get(f->batch, keys[k]);
                json_array_extend(mine, json_object_get(b, keys[k]));
                json_object_set(b, keys[k], mine);
            }
            json_object_set_new(b, "tries", json_integer(tries));
            r->npending += f->rows;
        } else {
            r->st.dropped += f->rows;
        }
    }
    json_decref(f->batch);
    free(f);
    t->arg = NULL;
    ivr__txn_free(t);
    if (r->destroying && r->inflight == 0) {
        free_rec(r);
    }
}

static void flush_one(struct ivr_recorder *r, const char *key, json_t *batch)
{
    static const char *const sqls[3] = {
        "INSERT INTO ivr_executions (id, tenant_id, flow_id, flow_revision, draft, direction, "
        "call_attempt_id, channel_id, extension, caller, started_at) "
        "SELECT id, tenant_id, flow_id, flow_revision, draft, direction, call_attempt_id, "
        "channel_id, extension, caller, started_at FROM json_to_recordset($1::json) AS x(id uuid, "
        "tenant_id bigint, flow_id bigint, flow_revision int, draft bool, direction text, "
        "call_attempt_id uuid, channel_id text, extension int, caller text, started_at "
        "timestamptz)",
        "INSERT INTO ivr_steps (execution_id, seq, tenant_id, node_id, node_type, event_in, "
        "event_out, started_at, ended_at, vars_delta, detail) "
        "SELECT execution_id, seq, tenant_id, node_id, node_type, event_in, event_out, started_at, "
        "ended_at, vars_delta::jsonb, detail::jsonb FROM json_to_recordset($1::json) AS "
        "x(execution_id uuid, seq int, tenant_id bigint, node_id text, node_type text, event_in "
        "text, event_out text, started_at timestamptz, ended_at timestamptz, vars_delta json, "
        "detail json)",
        "UPDATE ivr_executions e SET status = 'ended', ended_reason = x.reason, last_node = "
        "x.last_node, steps = x.steps, ended_at = greatest(x.ended_at, e.started_at), error = "
        "x.error::jsonb FROM json_to_recordset($1::json) AS x(id uuid, reason text, last_node "
        "text, steps int, ended_at timestamptz, error json) WHERE e.id = x.id",
    };
    struct flush *f = calloc(1, sizeof(*f));
    char *texts[3] = { NULL, NULL, NULL };
    static const char *const keys[] = { "e", "s", "x" };
    if (f == NULL) {
        return;
    }
    f->r = r;
    f->tenant = strtoll(key, NULL, 10);
    f->batch = json_incref(batch);
    for (int k = 0; k < 3; k++) {
        json_t *a = json_object_get(batch, keys[k]);
        f->rows += json_array_size(a);
        texts[k] = join_rows(a);
    }
    const char *pp[3][6] = { { texts[0] }, { texts[1] }, { texts[2] } };
    int nps[3] = { 1, 1, 1 };
    struct txn *t = ivr__txn_new(r->pool, NULL, f);
    int rc = ERR_NOMEM;
    if (t != NULL && texts[0] && texts[1] && texts[2]) {
        t->fin = flush_done;
        r->inflight++;
        rc = ivr__txn_run(t, f->tenant, 0, 3, sqls, (const char *const(*)[6])pp, nps, 0);
        if (rc != 0) {
            r->inflight--;
        }
    }
    if (rc != 0) {
        /* Not sent (no connection up): keep the rows for the next tick. */
        json_t *b = batch_of(r, f->tenant);
        for (int k = 0; k < 3; k++) {
            json_t *mine = json_object_get(batch, keys[k]);
            json_array_extend(mine, json_object_get(b, keys[k]));
            json_object_set(b, keys[k], mine);
        }
        r->npending += f->rows;
        json_decref(f->batch);
        free(f);
        if (t != NULL) {
            ivr__txn_free(t);
        }
    }
    for (int k = 0; k < 3; k++) {
        free(texts[k]);
    }
}

void ivr_recorder_flush(struct ivr_recorder *r)
{
    if (r->inflight > 0 || r->npending == 0) {
        return; /* one flush at a time; the timer comes back */
    }
    json_t *all = r->pending;
    const char *key;
    json_t *batch;
    r->pending = json_object();
    r->npending = 0;
    r->st.flushes++;
    json_object_foreach (all, key, batch) {
        flush_one(r, key, batch);
    }
    json_decref(all);
}

static void tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ivr_recorder_flush(w->data);
}

int ivr_recorder_create(struct ev_loop *loop, struct db_pool *pool, int64_t flush_ms,
                        size_t max_rows, struct ivr_recorder **out)
{
    struct ivr_recorder *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->pending = json_object()) == NULL) {
        free(r);
        return ERR_NOMEM;
    }
    r->loop = loop;
    r->pool = pool;
    r->max_rows = max_rows ? max_rows : 5000;
    r->rl.interval_us = 10 * CLOCK_US_PER_SEC;
    double every = (double)(flush_ms > 0 ? flush_ms : 200) / 1000.0;
    ev_timer_init(&r->timer, tick, every, every);
    r->timer.data = r;
    ev_timer_start(loop, &r->timer);
    *out = r;
    return 0;
}

void ivr_recorder_destroy(struct ivr_recorder *r)
{
    if (r == NULL) {
        return;
    }
    ev_timer_stop(r->loop, &r->timer);
    r->st.dropped += r->npending;
    if (r->inflight > 0) {
        r->destroying = true; /* freed by the last flush callback */
        return;
    }
    free_rec(r);
}

void ivr_recorder_stats(const struct ivr_recorder *r, struct ivr_recorder_stats *out)
{
    *out = r->st;
    out->pending = r->npending;
}

static void added(struct ivr_recorder *r)
{
    if (++r->npending >= r->max_rows) {
        ivr_recorder_flush(r);
    }
}

/* Appends row (taken) to the tenant's batch k ("e", "s" or "x") as its JSON text. */
static int append_row(struct ivr_recorder *r, long long tenant, const char *k, json_t *row)
{
    if (row == NULL) {
        return ERR_NOMEM;
    }
    char *text = json_dumps(row, JSON_COMPACT);
    json_decref(row);
    json_t *s = text != NULL ? json_string_nocheck(text) : NULL;
    free(text);
    if (s == NULL || json_array_append_new(json_object_get(batch_of(r, tenant), k), s) != 0) {
        return ERR_NOMEM;
    }
    added(r);
    return 0;
}

static json_t *iso(int64_t wall_us)
{
    char buf[40];
    return json_string(clock_format_utc(wall_us, buf, sizeof(buf)));
}

int ivr_recorder_begin(struct ivr_recorder *r, const struct ivr_exec_meta *m, char id[37])
{
    unsigned char u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        return ERR_IO;
    }
    u[6] = (unsigned char)((u[6] & 0x0F) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3F) | 0x80); /* variant 1 */
    snprintf(id, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
    json_t *row =
        json_pack("{s:s,s:I,s:I,s:o,s:b,s:s,s:s?,s:s?,s:o,s:s?,s:o}", "id", id, "tenant_id",
                  (json_int_t)m->tenant, "flow_id", (json_int_t)m->flow_id, "flow_revision",
                  m->revision > 0 ? json_integer(m->revision) : json_null(), "draft",
                  m->revision <= 0, "direction", m->direction ? m->direction : "inbound",
                  "call_attempt_id", m->call_attempt_id, "channel_id", m->channel_id, "extension",
                  m->extension > 0 ? json_integer(m->extension) : json_null(), "caller", m->caller,
                  "started_at", iso(clock_wall_us()));
    return append_row(r, m->tenant, "e", row);
}

void ivr_recorder_step(struct ivr_recorder *r, long long tenant, const char *exec_id,
                       const struct ivr_step *st)
{
    int64_t wall = clock_wall_us(), mono = clock_mono_us();
    json_t *row = json_pack(
        "{s:s,s:i,s:I,s:s,s:s,s:s?,s:s?,s:o,s:o,s:o,s:{s:o}}", "execution_id", exec_id, "seq",
        (int)st->seq, "tenant_id", (json_int_t)tenant, "node_id", st->node, "node_type", st->type,
        "event_in", st->event_in, "event_out", st->event_out, "started_at",
        iso(wall - (mono - st->started_us)), "ended_at", iso(wall - (mono - st->ended_us)),
        "vars_delta", st->vars ? json_incref(st->vars) : json_object(), "detail", "actions",
        st->actions ? json_incref(st->actions) : json_array());
    (void)append_row(r, tenant, "s", row);
}

void ivr_recorder_end(struct ivr_recorder *r, long long tenant, const char *exec_id,
                      const struct ivr_end *e)
{
    json_t *err = e->reason == IVR_END_ERROR ? json_pack("{s:i}", "hangup_cause", e->hangup_cause)
                                             : json_null();
    json_t *row = json_pack("{s:s,s:s,s:s?,s:i,s:o,s:o}", "id", exec_id, "reason",
                            ivr_end_reason_name(e->reason), "last_node", e->last_node, "steps",
                            (int)e->steps, "ended_at", iso(clock_wall_us()), "error", err);
    (void)append_row(r, tenant, "x", row);
}
