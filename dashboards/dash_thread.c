/* SPDX-License-Identifier: MIT */
/*
 * dashboards/dash_thread: the metrics thread.
 *
 * Its own libev loop runs a periodic tick (dashboards tick, 1 s) and an
 * ev_async that dash_kick() and the stop request use. Each tick takes a
 * snapshot, hands it to the httpd thread (httpd_post, ownership moves),
 * publishes this node's totals on the Redis channel "dash:node" (when Redis
 * is configured) and, at each new minute, writes the finished minute's
 * rollup rows. A subscriber connection receives the other nodes' snapshots
 * and forwards them to the httpd thread as well. Nothing here blocks: Redis
 * and PostgreSQL are the async core adapters on this loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/err.h"
#include "core/httpd.h"
#include "core/kv.h"
#include "core/log.h"
#include "dashboards/dash_int.h"

static const char channel[] = "dash:node";

/* ------------------------------------------------------ to the httpd side */

struct delivery {
    struct dash *d;
    struct dash_snap *s;
    bool local;
};

static void deliver(struct httpd *h, void *arg)
{
    struct delivery *m = arg;
    (void)h;
    dash__view_receive(m->d, m->s, m->local);
    free(m);
}

static void hand_over(struct dash *d, struct dash_snap *s, bool local)
{
    struct delivery *m = malloc(sizeof(*m));

    if (m == NULL || d->h == NULL) {
        free(m);
        free(s);
        return;
    }
    m->d = d;
    m->s = s;
    m->local = local;
    if (httpd_post(d->h, deliver, m) != 0) {
        free(m);
        free(s);
    }
}

/* ------------------------------------------------------------ rollups */

static const char rollup_sql[] =
    "INSERT INTO campaign_metrics_minute AS m (tenant_id, campaign_id, node, minute, attempts, "
    "answered, human, machine, busy, no_answer, failed, abandoned, ended, talk_ms, handle_ms, "
    "blocked_dnc, blocked_window, blocked_cap, ringing, in_progress, contacts_remaining) "
    "SELECT r.tenant_id, r.campaign_id, $2, to_timestamp($3::bigint * 60), r.attempts, r.answered, "
    "r.human, r.machine, r.busy, r.no_answer, r.failed, r.abandoned, r.ended, r.talk_ms, "
    "r.handle_ms, r.blocked_dnc, r.blocked_window, r.blocked_cap, r.ringing, r.in_progress, "
    "r.contacts_remaining FROM json_to_recordset($1::json) AS r(tenant_id bigint, campaign_id "
    "bigint, attempts bigint, answered bigint, human bigint, machine bigint, busy bigint, "
    "no_answer bigint, failed bigint, abandoned bigint, ended bigint, talk_ms bigint, handle_ms "
    "bigint, blocked_dnc bigint, blocked_window bigint, blocked_cap bigint, ringing bigint, "
    "in_progress bigint, contacts_remaining bigint) "
    "WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.tenant_id = r.tenant_id AND c.id = "
    "r.campaign_id) "
    "ON CONFLICT (tenant_id, campaign_id, node, minute) DO UPDATE SET "
    "attempts = m.attempts + EXCLUDED.attempts, answered = m.answered + EXCLUDED.answered, "
    "human = m.human + EXCLUDED.human, machine = m.machine + EXCLUDED.machine, "
    "busy = m.busy + EXCLUDED.busy, no_answer = m.no_answer + EXCLUDED.no_answer, "
    "failed = m.failed + EXCLUDED.failed, abandoned = m.abandoned + EXCLUDED.abandoned, "
    "ended = m.ended + EXCLUDED.ended, talk_ms = m.talk_ms + EXCLUDED.talk_ms, "
    "handle_ms = m.handle_ms + EXCLUDED.handle_ms, "
    "blocked_dnc = m.blocked_dnc + EXCLUDED.blocked_dnc, "
    "blocked_window = m.blocked_window + EXCLUDED.blocked_window, "
    "blocked_cap = m.blocked_cap + EXCLUDED.blocked_cap, ringing = EXCLUDED.ringing, "
    "in_progress = EXCLUDED.in_progress, contacts_remaining = EXCLUDED.contacts_remaining";

static const char purge_sql[] =
    "DELETE FROM campaign_metrics_minute WHERE minute < now() - make_interval(secs => $1::bigint)";

/* The rollup's columns: counters as deltas since the last rollup, gauges as read. */
static const int rollup_stats[] = {
    DASH_ATTEMPTS,
    DASH_ANSWERED,
    DASH_HUMAN,
    DASH_MACHINE,
    DASH_BUSY,
    DASH_NO_ANSWER,
    DASH_FAILED,
    DASH_ABANDONED,
    DASH_ENDED,
    DASH_TALK_MS,
    DASH_HANDLE_MS,
    DASH_BLOCKED_DNC,
    DASH_BLOCKED_WINDOW,
    DASH_BLOCKED_CAP,
    DASH_RINGING,
    DASH_IN_PROGRESS,
    DASH_CONTACTS_REMAINING,
};

static void rollup_step(int status, PGresult *res, void *arg)
{
    (void)arg;
    if (status != 0) {
        LOG_WARN(DASH, "event=rollup_failed err=\"%s\" sqlstate=%s", err_str(status),
                 db_result_sqlstate(res));
    }
}

static void rollup_done(int status, PGresult *res, void *arg)
{
    struct dash *d = arg;
    rollup_step(status, res, arg);
    if (d->pinned == NULL) {
        return;
    }
    db_pool_unpin(d->db, d->pinned);
    d->pinned = NULL;
    d->rollup_busy = false;
}

/*
 * Writes the rollup of minute. Returns false when it could not start (a
 * previous write still running, or no connection up): the caller retries on
 * the next tick, and the increments stay counted for it. A write that fails
 * in the database loses that minute (logged).
 */
static bool rollup(struct dash *d, const struct dash_snap *s, int64_t minute)
{
    json_t *rows;
    char *rows_text;
    char minute_text[24], keep[24];
    struct db_conn *c;

    if (d->db == NULL) {
        return true;
    }
    if (d->rollup_busy || db_pool_pin(d->db, &c) != 0) {
        return false;
    }
    rows = json_array();
    for (size_t i = 0; i < s->n; i++) {
        const struct dash_snap_entry *e = &s->e[i];
        json_t *r;
        if (e->kind != DASH_KIND_CAMPAIGN) {
            continue;
        }
        r = json_pack("{s:I,s:I}", "tenant_id", (json_int_t)e->tenant_id, "campaign_id",
                      (json_int_t)e->id);
        for (size_t k = 0; k < sizeof(rollup_stats) / sizeof(rollup_stats[0]); k++) {
            int st = rollup_stats[k];
            int64_t v = e->v[st];
            if (!dash__stat_gauge[st]) {
                v -= d->rolled[i][st];
                d->rolled[i][st] = e->v[st];
            }
            json_object_set_new(r, dash__stat_names[st], json_integer(v));
        }
        json_array_append_new(rows, r);
    }
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        db_pool_unpin(d->db, c);
        return true;
    }
    rows_text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    if (rows_text == NULL) {
        db_pool_unpin(d->db, c);
        return true;
    }
    snprintf(minute_text, sizeof(minute_text), "%lld", (long long)minute);
    snprintf(keep, sizeof(keep), "%lld", (long long)d->retention_s);
    const char *ins_params[] = { rows_text, d->node_id, minute_text };
    const char *purge_params[] = { keep };
    const struct db_query qs[] = {
        { .sql = "BEGIN", .cb = rollup_step, .arg = d },
        { .sql = "SET LOCAL ROLE dialer_platform", .cb = rollup_step, .arg = d },
        { .sql = rollup_sql, .nparams = 3, .params = ins_params, .cb = rollup_step, .arg = d },
        { .sql = purge_sql, .nparams = 1, .params = purge_params, .cb = rollup_step, .arg = d },
        { .sql = "COMMIT", .cb = rollup_done, .arg = d },
    };
    d->pinned = c;
    d->rollup_busy = true;
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        if (db_query_send(c, &qs[i], NULL) != 0) {
            /* the connection is going away; COMMIT's callback may never come */
            LOG_WARN(DASH, "event=rollup_send_failed step=%zu", i);
            db_pool_unpin(d->db, c);
            d->pinned = NULL;
            d->rollup_busy = false;
            break;
        }
    }
    free(rows_text);
    return true;
}

/* ---------------------------------------------------------------- tick */

static void publish_done(int status, redisReply *reply, void *arg)
{
    (void)status;
    (void)reply;
    (void)arg;
}

static void publish(struct dash *d, const struct dash_snap *s)
{
    json_t *j;
    char *text;

    if (d->kv == NULL || !kv_conn_is_up(d->kv)) {
        return;
    }
    j = dash__snap_to_json(s);
    text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text != NULL) {
        const char *argv[] = { "PUBLISH", channel, text };
        kv_cmd_send(d->kv, 3, argv, NULL, publish_done, NULL, NULL);
        free(text);
    }
}

static void take(struct dash *d)
{
    int64_t now = clock_mono_us();
    struct dash_snap *s = dash__snap_take(d, d->hist, now);
    int64_t minute = clock_wall_us() / (60 * CLOCK_US_PER_SEC);

    if (s == NULL) {
        return;
    }
    publish(d, s);
    if (d->rollup_minute == 0) {
        d->rollup_minute = minute;
    } else if (minute != d->rollup_minute && rollup(d, s, d->rollup_minute)) {
        d->rollup_minute = minute;
    }
    hand_over(d, s, true);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dash *d = w->data;
    (void)loop;
    (void)revents;
    atomic_store_explicit(&d->kicked, 0, memory_order_release);
    take(d);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct dash *d = w->data;
    (void)revents;
    if (atomic_load_explicit(&d->stopping, memory_order_acquire)) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (atomic_exchange_explicit(&d->kicked, 0, memory_order_acq_rel) != 0) {
        take(d);
    }
}

static void peer_cb(const struct kv_message *m, void *arg)
{
    struct dash *d = arg;
    char err[160];
    struct dash_snap *s = dash__snap_parse(m->data, m->len, err, sizeof(err));

    if (s == NULL) {
        LOG_WARN(DASH, "event=peer_snapshot_refused err=\"%s\"", err);
        return;
    }
    if (strcmp(s->node, d->node_id) == 0) {
        free(s);
        return;
    }
    hand_over(d, s, false);
}

static void connect_deps(struct dash *d)
{
    if (d->redis_host != NULL || d->redis_socket != NULL) {
        struct kv_options o = {
            .host = d->redis_host,
            .port = d->redis_port,
            .unix_path = d->redis_socket,
            .password = d->redis_password,
            .name = "metrics",
        };
        if (kv_conn_create(d->loop, &o, &d->kv) != 0) {
            d->kv = NULL;
        }
        o.name = "metrics-sub";
        if (kv_sub_create(d->loop, &o, peer_cb, d, &d->sub) == 0) {
            kv_sub_subscribe(d->sub, channel, strlen(channel));
        } else {
            d->sub = NULL;
        }
    }
    if (d->db_conninfo != NULL) {
        struct db_opts o = { .name = "metrics" };
        if (db_pool_create(d->loop, d->db_conninfo, 1, &o, &d->db) != 0) {
            d->db = NULL;
        }
    }
}

static void *thread_main(void *arg)
{
    struct dash *d = arg;

    connect_deps(d);
    ev_run(d->loop, 0);
    if (d->pinned != NULL) {
        db_pool_unpin(d->db, d->pinned);
    }
    db_pool_destroy(d->db);
    d->db = NULL;
    kv_sub_destroy(d->sub);
    d->sub = NULL;
    kv_conn_destroy(d->kv);
    d->kv = NULL;
    return NULL;
}

int dash__thread_start(struct dash *d)
{
    d->loop = ev_loop_new(EVFLAG_AUTO);
    if (d->loop == NULL) {
        return ERR_NOMEM;
    }
    ev_timer_init(&d->tick, tick_cb, (double)d->tick_ms / 1000.0, (double)d->tick_ms / 1000.0);
    d->tick.data = d;
    ev_timer_start(d->loop, &d->tick);
    ev_async_init(&d->wake, wake_cb);
    d->wake.data = d;
    ev_async_start(d->loop, &d->wake);
    atomic_store_explicit(&d->thread_running, 1, memory_order_release);
    if (pthread_create(&d->thread, NULL, thread_main, d) != 0) {
        atomic_store_explicit(&d->thread_running, 0, memory_order_release);
        ev_loop_destroy(d->loop);
        d->loop = NULL;
        return ERR_NOMEM;
    }
    pthread_setname_np(d->thread, "metrics");
    return 0;
}

void dash__thread_stop(struct dash *d)
{
    if (!atomic_load_explicit(&d->thread_running, memory_order_acquire)) {
        return;
    }
    atomic_store_explicit(&d->stopping, 1, memory_order_release);
    ev_async_send(d->loop, &d->wake);
    pthread_join(d->thread, NULL);
    atomic_store_explicit(&d->thread_running, 0, memory_order_release);
    ev_loop_destroy(d->loop);
    d->loop = NULL;
}

void dash_stop(struct dash *d)
{
    if (d != NULL) {
        dash__thread_stop(d);
    }
}

int dash_start(struct dash *d)
{
    if (d == NULL) {
        return ERR_INVAL;
    }
    return dash__thread_start(d);
}
