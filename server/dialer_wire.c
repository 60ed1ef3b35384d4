/* SPDX-License-Identifier: MIT */
/*
 * server/dialer_wire: campaigns -> scheduler -> attempt protocol -> dialer,
 * on dialerd's main loop. See server/dialer_wire.h and docs/dialer.md.
 */
#include "server/dialer_wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign.h"
#include "compliance/compliance.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "dialer/dialer.h"

enum { MAX_LISTS = 16 };

#define LIMIT_KEY "global"
#define US_PER_S  INT64_C(1000000)

struct wcamp {
    struct wcamp *next;
    int64_t id;
    int64_t tenant_id;
    bool running;
    bool seen; /* in the last poll */
    bool bad;  /* settings did not parse (logged once) */
    struct campaign_settings set;
    uint64_t settings_hash; /* of the settings text last applied */
    int nlists;
    int64_t lists[MAX_LISTS];
};

struct wcall {
    struct wcall *prev, *next; /* calls this node holds */
    struct dialer_wire *w;
    struct campaign_contact ct;
    struct campaign_attempt a;
    char endpoint[DIALER_DIAL_MAX];
    char caller_id[CAMPAIGN_E164_MAX + 1];
    char trunk[CAMPAIGN_NAME_MAX];
    bool booked;  /* holds a channel in Redis */
    bool counted; /* counted by the scheduler (launched) */
};

struct dialer_wire {
    struct ev_loop *loop;
    const struct server_config *conf;
    struct db_pool *db;
    struct kv_conn *kv;
    struct ari_pool *ari;
    struct compliance_dnc *dnc;
    struct campaign_sched *sched;
    struct campaign_lessor *lessor;
    struct campaign_limits *limits;
    struct campaign_gate *gate;
    struct dialer *dialer;
    struct wcamp *camps;
    struct wcall *calls;
    ev_timer tick;
    ev_timer poll;
    bool polling;
    bool polled; /* the campaigns were read once */
    bool inflight_sent;
    bool inflight_loaded;
    bool cdr_repair_sent;
    bool cdr_repaired;
    bool stopping;
    bool draining;
    int64_t ready_logged_us;
    unsigned rr; /* round robin over the pool's connections */
    char node[64];
    char actor[96];
};

static uint64_t text_hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    }
    return h;
}

static struct wcamp *camp_find(struct dialer_wire *w, int64_t id)
{
    for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
        if (c->id == id) {
            return c;
        }
    }
    return NULL;
}

static struct db_conn *next_conn(struct dialer_wire *w)
{
    int n = db_pool_size(w->db);
    for (int i = 0; i < n; i++) {
        struct db_conn *c = db_pool_conn(w->db, (int)(w->rr++ % (unsigned)n));
        if (db_conn_is_up(c)) {
            return c;
        }
    }
    return db_pool_conn(w->db, 0);
}

static struct campaign_actor actor_of(struct dialer_wire *w, int64_t tenant_id)
{
    return (struct campaign_actor){ .tenant_id = tenant_id, .actor = w->actor };
}

static void wcall_free(struct wcall *c)
{
    struct dialer_wire *w = c->w;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else if (w->calls == c) {
        w->calls = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c);
}

/* The call is over for the scheduler and the shared limits. */
static void release_slot(struct wcall *c, bool answered, double secs)
{
    struct dialer_wire *w = c->w;
    if (c->counted) {
        campaign_sched_call_ended(w->sched, c->ct.campaign_id, answered, secs);
        c->counted = false;
    }
    if (c->booked) {
        campaign_limits_release(w->limits, LIMIT_KEY, 1, NULL, NULL);
        c->booked = false;
    }
}

/* --------------------------------------------------------------- verdict */

static void verdict(void *arg, const struct campaign_contact *c, int64_t now_us,
                    struct campaign_verdict *v)
{
    struct dialer_wire *w = arg;
    struct wcamp *cp = camp_find(w, c->campaign_id);
    int64_t next = 0;

    v->allow = true;
    if (cp == NULL) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_RETRY;
        v->next_us = now_us + 5 * US_PER_S;
        return;
    }
    int rc = campaign_schedule_check(&cp->set, c->zone[0] ? c->zone : NULL, now_us, &next);
    if (rc == ERR_NOTFOUND) {
        rc = campaign_schedule_check(&cp->set, NULL, now_us, &next);
    }
    if (rc == 0) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_WINDOW;
        v->next_us = next;
        return;
    }
    struct compliance_campaign cc = {
        .tenant_id = c->tenant_id,
        .campaign_id = c->campaign_id,
        .allow_stale_list = w->conf->dialer_allow_missing_dnc ? 1 : 0,
    };
    struct compliance_decision d;
    if (compliance_decide_local(w->dnc, &cc, c->number, NULL, now_us, &d) != 0) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_DNC;
        v->next_us = INT64_MAX;
        return;
    }
    switch (d.reason) {
    case COMPLIANCE_REASON_NONE:
        return;
    case COMPLIANCE_REASON_WINDOW:
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_WINDOW;
        v->next_us = d.next_eligible_us > now_us ? d.next_eligible_us : INT64_MAX;
        return;
    case COMPLIANCE_REASON_CAP:
    case COMPLIANCE_REASON_CAP_UNAVAILABLE:
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_CAP;
        v->next_us = d.next_eligible_us > now_us ? d.next_eligible_us : now_us + 60 * US_PER_S;
        return;
    case COMPLIANCE_REASON_DNC_LIST_STALE:
    case COMPLIANCE_REASON_DNC_LIST_MISSING:
        /* the list may be loaded later: look again in ten minutes */
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_DNC;
        v->next_us = now_us + 600 * US_PER_S;
        return;
    default: /* on a DNC list, or not a valid number: never */
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_DNC;
        v->next_us = INT64_MAX;
        return;
    }
}

/* ----------------------------------------------------------- attempt end */

static void finished(int status, void *arg)
{
    struct wcall *c = arg;
    if (status != 0 && status != ERR_EXISTS) {
        /* unknown outcome: the attempt stays unfinished and the contact
         * dialing; the next start of this node reconciles it */
        LOG_WARN(DIALER, "event=attempt_finish_failed id=%s err=\"%s\"", c->a.id, err_str(status));
    }
    wcall_free(c);
}

static void finish_attempt(struct wcall *c, const struct campaign_settings *set, bool failed,
                           const char *outcome, int cause, const char *disposition, int attempts,
                           int today)
{
    struct dialer_wire *w = c->w;
    struct campaign_retry_decision dec;
    int64_t now = clock_wall_us();
    campaign_retry_decide(set, campaign_retry_class_of(outcome), attempts, today, c->ct.number_idx,
                          c->ct.nalt, now, &dec);
    struct campaign_attempt_end e = {
        .id = c->a.id,
        .failed = failed,
        .outcome = outcome,
        .hangup_cause = cause,
        .sip_code = -1,
        .disposition = disposition,
        .retry = dec.retry,
        .next_us = dec.at_us,
        .next_number = dec.next_number,
    };
    struct campaign_actor who = actor_of(w, c->ct.tenant_id);
    int rc = campaign_store_attempt_finish(next_conn(w), &who, &e, finished, c);
    if (rc != 0) {
        finished(rc, c);
    }
}

static void on_answered(void *arg, void *user, double ring_s)
{
    struct dialer_wire *w = arg;
    struct wcall *c = user;
    if (c != NULL && !w->stopping) {
        campaign_sched_call_answered(w->sched, c->ct.campaign_id, ring_s);
    }
}

/*
 * The flow hook. The campaign's flow runs here through the IVR's ARI
 * adapter (ivr_store_load of the pinned or latest published revision, then
 * an ivr session on the channel, which ends the call with
 * dialer_call_end(call, disposition)). Until that adapter is wired, the
 * call is declined and the dialer hangs up after dialer.talk-time with the
 * disposition "no_flow".
 */
static int on_connect(void *arg, struct dialer_call *call, bool machine)
{
    (void)arg;
    (void)call;
    (void)machine;
    return ERR_NOTFOUND;
}

static void on_ended(void *arg, const struct dialer_result *r)
{
    struct dialer_wire *w = arg;
    struct wcall *c = r->user;
    struct campaign_settings defaults;
    const struct campaign_settings *set = &defaults;

    if (c == NULL) {
        /* an adopted attempt (restart): owned by a stand-in record */
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            return;
        }
        c->w = w;
        snprintf(c->a.id, sizeof(c->a.id), "%s", r->id);
        c->ct.tenant_id = r->tenant_id;
        c->ct.campaign_id = r->campaign_id;
        c->ct.id = r->contact_id;
        c->next = w->calls;
        if (w->calls != NULL) {
            w->calls->prev = c;
        }
        w->calls = c;
    }
    if (w->stopping) {
        /* left unfinished on purpose: the next start reconciles it */
        wcall_free(c);
        return;
    }
    release_slot(c, r->live, r->live ? r->talk_s : r->ring_s);
    struct wcamp *cp = camp_find(w, c->ct.campaign_id);
    if (cp != NULL && !cp->bad) {
        set = &cp->set;
    } else {
        campaign_settings_default(&defaults);
    }
    LOG_INFO(DIALER, "event=attempt_end id=%s campaign=%" PRId64 " outcome=%s cause=%d", c->a.id,
             c->ct.campaign_id, r->outcome, r->hangup_cause);
    finish_attempt(c, set, r->failed, r->outcome, r->hangup_cause, r->disposition,
                   c->ct.attempts + 1, c->ct.attempts_24h + 1);
}

/* ---------------------------------------------------------------- launch */

static void begun(int status, void *arg)
{
    struct wcall *c = arg;
    struct dialer_wire *w = c->w;

    if (w->stopping) {
        wcall_free(c);
        return;
    }
    if (status != 0) {
        /* ERR_CONFLICT: the lease was lost, another node has the contact;
         * anything else: unknown, never dial (restart reconciles it) */
        LOG_WARN(DIALER, "event=attempt_begin_failed id=%s err=\"%s\"", c->a.id, err_str(status));
        release_slot(c, false, 0);
        wcall_free(c);
        return;
    }
    struct wcamp *cp = camp_find(w, c->ct.campaign_id);
    struct dialer_call_req req = {
        .id = c->a.id,
        .tenant_id = c->ct.tenant_id,
        .campaign_id = c->ct.campaign_id,
        .contact_id = c->ct.id,
        .number = c->ct.number,
        .caller_id = c->caller_id[0] ? c->caller_id : NULL,
        .endpoint = c->endpoint,
        .ring_s = cp != NULL ? cp->set.ring_time_s : CAMPAIGN_RING_MIN_S,
        .amd = cp != NULL && cp->set.amd,
        .machine_flow = cp != NULL && cp->set.machine_action == CAMPAIGN_MACHINE_FLOW,
        .user = c,
    };
    int rc = dialer_call(w->dialer, &req);
    if (rc != 0) {
        /* committed but never originated: finish it as a failed originate */
        struct campaign_settings defaults;
        campaign_settings_default(&defaults);
        LOG_WARN(DIALER, "event=originate_refused id=%s err=\"%s\"", c->a.id, err_str(rc));
        release_slot(c, false, 0);
        finish_attempt(c, cp != NULL ? &cp->set : &defaults, true, "failed", -1, NULL,
                       c->ct.attempts + 1, c->ct.attempts_24h + 1);
    }
}

static int launch(void *arg, const struct campaign_launch *l)
{
    struct dialer_wire *w = arg;
    const struct campaign_contact *ct = l->contact;
    struct wcamp *cp = camp_find(w, ct->campaign_id);
    int rc = 0;
    if (cp == NULL || w->draining) {
        rc = ERR_SHUTDOWN;
    } else if (ari_pool_pick(w->ari) == NULL) {
        rc = ERR_BUSY; /* no Asterisk can take a call: do not spend an attempt */
    }
    struct wcall *c = rc == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        /* the gate's token carried a channel booked in Redis: give it back */
        campaign_limits_release(w->limits, LIMIT_KEY, 1, NULL, NULL);
        return rc != 0 ? rc : ERR_NOMEM;
    }
    c->w = w;
    c->ct = *ct;
    const char *tmpl = w->conf->dialer_endpoint;
    if (cp->set.ntrunks > 0) {
        /* the first trunk; failing over is for the failed class only (docs) */
        tmpl = cp->set.trunks[0].endpoint;
        snprintf(c->trunk, sizeof(c->trunk), "%s", cp->set.trunks[0].name);
    }
    rc = campaign_endpoint_render(tmpl, ct->number, c->endpoint, sizeof(c->endpoint));
    if (rc != 0) {
        free(c);
        campaign_limits_release(w->limits, LIMIT_KEY, 1, NULL, NULL);
        return rc;
    }
    if (campaign_caller_id_pick(&cp->set, ct->number, c->caller_id) != 0) {
        c->caller_id[0] = '\0';
    }
    campaign_attempt_id_new(c->a.id);
    c->a.campaign_id = ct->campaign_id;
    c->a.contact_id = ct->id;
    c->a.owner = w->node;
    c->a.number = c->ct.number;
    c->a.caller_id = c->caller_id[0] ? c->caller_id : NULL;
    c->a.trunk = c->trunk[0] ? c->trunk : NULL;
    struct campaign_actor who = actor_of(w, ct->tenant_id);
    rc = campaign_store_attempt_begin(next_conn(w), &who, &c->a, begun, c);
    if (rc != 0) {
        free(c);
        campaign_limits_release(w->limits, LIMIT_KEY, 1, NULL, NULL);
        return rc;
    }
    c->booked = w->gate != NULL;
    c->counted = true;
    c->next = w->calls;
    if (w->calls != NULL) {
        w->calls->prev = c;
    }
    w->calls = c;
    return 0;
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dialer_wire *w = t->data;
    (void)loop;
    (void)revents;
    if (w->gate != NULL) {
        campaign_gate_refill(w->gate);
    }
    campaign_sched_tick(w->sched, clock_wall_us());
}

/* ------------------------------------------------------------ campaigns */

static const char POLL_SQL[] =
    "SELECT c.id, c.tenant_id, c.state, c.settings::text, "
    "coalesce(string_agg(cl.list_id::text, ',' ORDER BY cl.priority, cl.list_id) "
    "FILTER (WHERE cl.active), '') "
    "FROM campaigns c LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id "
    "WHERE c.state IN ('running', 'paused') GROUP BY c.id";

struct poll_tx {
    struct dialer_wire *w;
    struct db_conn *conn;
    int pending;
    int status;
};

static void camp_stop(struct dialer_wire *w, struct wcamp *cp);

static void camp_update(struct dialer_wire *w, int64_t id, int64_t tenant, const char *state,
                        const char *settings, const char *lists)
{
    struct wcamp *cp = camp_find(w, id);
    int64_t now = clock_wall_us();
    bool fresh = cp == NULL;

    if (fresh) {
        cp = calloc(1, sizeof(*cp));
        if (cp == NULL) {
            return;
        }
        cp->id = id;
        cp->tenant_id = tenant;
        cp->next = w->camps;
        w->camps = cp;
    }
    cp->seen = true;
    if (!fresh && !cp->bad && cp->settings_hash == text_hash(settings)) {
        goto lists; /* unchanged */
    }
    struct campaign_settings set;
    struct campaign_error err = { 0 };
    json_error_t jerr;
    json_t *doc = json_loads(settings, 0, &jerr);
    int rc = doc != NULL ? campaign_settings_from_json(doc, &set, &err) : ERR_INVAL;
    json_decref(doc);
    if (rc != 0) {
        if (!cp->bad) {
            LOG_ERR(DIALER,
                    "event=campaign_settings_invalid campaign=%" PRId64 " field=\"%s\" msg=\"%s\"",
                    id, err.field, err.msg);
        }
        cp->bad = true;
        if (cp->running) {
            campaign_sched_set_running(w->sched, id, false);
            cp->running = false;
        }
        return;
    }
    cp->bad = false;
    cp->settings_hash = text_hash(settings);
    cp->set = set;
    campaign_sched_campaign(w->sched, tenant, id, &cp->set, (int)w->conf->dialer_ports, now);
lists:
    for (const char *p = lists; *p != '\0';) {
        char *end;
        long long l = strtoll(p, &end, 10);
        if (end == p) {
            break;
        }
        bool known = false;
        for (int i = 0; i < cp->nlists; i++) {
            known = known || cp->lists[i] == l;
        }
        if (!known && cp->nlists < MAX_LISTS &&
            campaign_lessor_add(w->lessor, tenant, id, l) == 0) {
            cp->lists[cp->nlists++] = l;
        }
        p = *end == ',' ? end + 1 : end;
    }
    bool run = strcmp(state, "running") == 0 && !w->draining;
    if (run != cp->running) {
        LOG_NOTICE(DIALER, "event=campaign_%s campaign=%" PRId64, run ? "running" : "paused", id);
        campaign_sched_set_running(w->sched, id, run);
        cp->running = run;
    }
}

struct release_ctx {
    int64_t ids[512];
    int64_t due[512];
    const char *reasons[512];
    size_t n;
    struct dialer_wire *w;
    int64_t tenant_id;
};

static void release_flush(struct release_ctx *r)
{
    if (r->n == 0) {
        return;
    }
    struct campaign_actor who = actor_of(r->w, r->tenant_id);
    campaign_store_release(next_conn(r->w), &who, r->w->node, r->ids, r->due, r->reasons, r->n,
                           NULL, NULL);
    r->n = 0;
}

static void release_one(void *arg, const struct campaign_contact *c)
{
    struct release_ctx *r = arg;
    r->ids[r->n] = c->id;
    r->due[r->n] = c->due_us > clock_wall_us() && c->due_us != INT64_MAX ? c->due_us : 0;
    r->reasons[r->n] = c->reason != CAMPAIGN_WAIT_NONE
                           ? campaign_wait_reason_name((enum campaign_wait_reason)c->reason)
                           : NULL;
    if (++r->n == 512) {
        release_flush(r);
    }
}

/* Stopped or completed: no more launches, held contacts go back. */
static void camp_stop(struct dialer_wire *w, struct wcamp *cp)
{
    LOG_NOTICE(DIALER, "event=campaign_stopped campaign=%" PRId64, cp->id);
    campaign_sched_set_running(w->sched, cp->id, false);
    cp->running = false;
    struct release_ctx *r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->w = w;
        r->tenant_id = cp->tenant_id;
        campaign_sched_evict(w->sched, cp->id, INT64_MIN, release_one, r);
        release_flush(r);
        free(r);
    }
}

static void poll_cb(int status, PGresult *res, void *arg)
{
    struct poll_tx *t = arg;
    struct dialer_wire *w = t->w;
    if (status != 0 && t->status == 0) {
        t->status = status;
    }
    if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
        PQnfields(res) == 5 && !w->stopping) {
        for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
            c->seen = false;
        }
        for (int i = 0; i < PQntuples(res); i++) {
            camp_update(w, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                        strtoll(PQgetvalue(res, i, 1), NULL, 10), PQgetvalue(res, i, 2),
                        PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
        }
        for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
            if (!c->seen && (c->running || c->nlists > 0)) {
                camp_stop(w, c);
                c->nlists = 0;
            }
        }
        w->polled = true;
    }
    if (--t->pending > 0) {
        return;
    }
    db_pool_unpin(w->db, t->conn);
    w->polling = false;
    free(t);
}

/* One platform-wide read (all tenants) in a short transaction. */
static void poll_campaigns(struct dialer_wire *w)
{
    struct db_conn *conn = NULL;
    if (w->polling || db_pool_pin(w->db, &conn) != 0) {
        return;
    }
    struct poll_tx *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        db_pool_unpin(w->db, conn);
        return;
    }
    t->w = w;
    t->conn = conn;
    const char *sql[4] = { "BEGIN READ ONLY", "SET LOCAL ROLE dialer_platform", POLL_SQL,
                           "COMMIT" };
    w->polling = true;
    for (int i = 0; i < 4; i++) {
        struct db_query q = { .sql = sql[i], .cb = poll_cb, .arg = t };
        if (db_query_send(conn, &q, NULL) != 0) {
            if (i == 0) {
                w->polling = false;
                db_pool_unpin(w->db, conn);
                free(t);
                return;
            }
            break;
        }
        t->pending++;
    }
}

/*
 * Call logs of attempts this node finished shortly before it died (the
 * batch was still in memory): rebuilt from call_attempts at start-up, once.
 */
static const char REPAIR_SQL[] =
    "INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, caller_id, started_at, "
    "answered_at, human_detected_at, ended_at, ring_timeout_s, ring_ms, talk_ms, total_ms, "
    "outcome, disposition, hangup_cause, amd_result, live_answer) "
    "SELECT a.id, a.tenant_id, a.campaign_id, a.number, a.caller_id, a.started_at, a.answered_at, "
    "CASE WHEN a.outcome = 'human' THEN a.answered_at END, a.ended_at, "
    "greatest(c.ring_time_s, 15), "
    "greatest(0, (extract(epoch FROM coalesce(a.answered_at, a.ended_at) - a.started_at) * "
    "1000)::int), "
    "greatest(0, coalesce((extract(epoch FROM a.ended_at - a.answered_at) * 1000)::int, 0)), "
    "greatest(0, (extract(epoch FROM a.ended_at - a.started_at) * 1000)::int), "
    "a.outcome, a.disposition, a.hangup_cause, a.amd_result, "
    "a.outcome = 'human' AND a.answered_at IS NOT NULL "
    "FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id "
    "WHERE a.dialer_node = $1 AND a.ended_at IS NOT NULL AND a.outcome IS NOT NULL "
    "AND a.started_at > now() - interval '1 day' "
    "AND NOT EXISTS (SELECT 1 FROM call_logs l WHERE l.attempt_id = a.id) "
    "ON CONFLICT (attempt_id) DO NOTHING";

static void repair_cb(int status, PGresult *res, void *arg)
{
    struct poll_tx *t = arg;
    if (status != 0 && t->status == 0) {
        t->status = status;
        LOG_WARN(DIALER, "event=cdr_repair_failed msg=\"%s\"",
                 res != NULL ? PQresultErrorMessage(res) : "");
    } else if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
               strncmp(PQcmdStatus(res), "INSERT", 6) == 0) {
        LOG_NOTICE(DIALER, "event=cdr_repaired rows=%s", PQcmdTuples(res));
    }
    if (--t->pending > 0) {
        return;
    }
    if (t->status == 0) {
        t->w->cdr_repaired = true;
    } else {
        t->w->cdr_repair_sent = false; /* the next poll tries again */
    }
    db_pool_unpin(t->w->db, t->conn);
    free(t);
}

static void repair_cdrs(struct dialer_wire *w)
{
    struct db_conn *conn = NULL;
    if (db_pool_pin(w->db, &conn) != 0) {
        return;
    }
    struct poll_tx *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        db_pool_unpin(w->db, conn);
        return;
    }
    t->w = w;
    t->conn = conn;
    const char *node[1] = { w->node };
    const struct db_query qs[4] = {
        { .sql = "BEGIN" },
        { .sql = "SET LOCAL ROLE dialer_platform" },
        { .sql = REPAIR_SQL, .nparams = 1, .params = node },
        { .sql = "COMMIT" },
    };
    for (int i = 0; i < 4; i++) {
        struct db_query q = qs[i];
        q.cb = repair_cb;
        q.arg = t;
        if (db_query_send(conn, &q, NULL) != 0) {
            if (i == 0) {
                db_pool_unpin(w->db, conn);
                free(t);
                return;
            }
            break;
        }
        t->pending++;
    }
    w->cdr_repair_sent = true;
}

static void on_inflight(int status, const struct campaign_inflight *v, size_t n, void *arg)
{
    struct dialer_wire *w = arg;
    if (status != 0) {
        w->inflight_sent = false;
        LOG_WARN(DIALER, "event=inflight_failed err=\"%s\" msg=\"retrying\"", err_str(status));
        return; /* the poll timer asks again */
    }
    w->inflight_sent = false;
    w->inflight_loaded = true;
    for (size_t i = 0; i < n; i++) {
        dialer_adopt(w->dialer, v[i].id, v[i].tenant_id, v[i].campaign_id, v[i].contact_id, NULL);
    }
    LOG_NOTICE(DIALER, "event=inflight_adopted n=%zu", n);
    if (n > 0) {
        dialer_reconcile(w->dialer);
    }
}

static void poll_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dialer_wire *w = t->data;
    (void)loop;
    (void)revents;
    /* campaigns first (the adopted attempts' retry decisions need their
     * settings), then the attempts this node left in flight, then the
     * call logs a crash lost */
    poll_campaigns(w);
    if (w->polled && !w->inflight_loaded && !w->inflight_sent &&
        db_conn_is_up(db_pool_conn(w->db, 0))) {
        w->inflight_sent =
            campaign_store_inflight(db_pool_conn(w->db, 0), w->node, on_inflight, w) == 0;
    }
    if (w->inflight_loaded && !w->cdr_repair_sent) {
        repair_cdrs(w);
    }
    /* the ready set of each running campaign, explained, every ~10 s */
    int64_t now = clock_wall_us();
    if (now - w->ready_logged_us >= 10 * US_PER_S) {
        struct campaign_sched_stats ss;
        campaign_sched_stats(w->sched, &ss);
        LOG_INFO(DIALER, "event=sched_stats ticks=%llu verdicts=%llu launches=%llu failures=%llu",
                 (unsigned long long)ss.ticks, (unsigned long long)ss.verdicts,
                 (unsigned long long)ss.launches, (unsigned long long)ss.launch_failures);
        w->ready_logged_us = now;
        for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
            struct campaign_ready r;
            if (c->running && campaign_sched_ready(w->sched, c->id, now, &r) == 0) {
                LOG_INFO(DIALER,
                         "event=campaign_ready campaign=%" PRId64 " dialable=%lld window=%lld "
                         "retry=%lld cap=%lld dnc=%lld ringing=%lld connected=%lld gate=%d/%d",
                         c->id, (long long)r.dialable, (long long)r.waiting[CAMPAIGN_WAIT_WINDOW],
                         (long long)r.waiting[CAMPAIGN_WAIT_RETRY],
                         (long long)r.waiting[CAMPAIGN_WAIT_CAP],
                         (long long)r.waiting[CAMPAIGN_WAIT_DNC], (long long)r.ringing,
                         (long long)r.connected, campaign_gate_tokens(w->gate),
                         campaign_gate_status(w->gate));
            }
        }
    }
}

/* ------------------------------------------------------------ lifecycle */

bool dialer_wire_event(struct dialer_wire *w, struct ari_client *c, const struct ari_event *ev)
{
    return w != NULL && dialer_on_event(w->dialer, c, ev);
}

size_t dialer_wire_known(struct dialer_wire *w, struct ari_client *c, const char **ids, size_t max)
{
    return w != NULL ? dialer_known_channels(w->dialer, c, ids, max) : 0;
}

void dialer_wire_reconciled(struct dialer_wire *w, struct ari_client *c, int status,
                            const char *const *gone, size_t n_gone, const char *const *up,
                            size_t n_up)
{
    if (w != NULL) {
        dialer_on_reconcile(w->dialer, c, status, gone, n_gone, up, n_up);
    }
}

int start_dialer(const struct dialer_wire_deps *deps, struct dialer_wire **out)
{
    const struct server_config *conf = deps->conf;
    struct dialer_wire *w = calloc(1, sizeof(*w));
    int rc;

    if (w == NULL) {
        return ERR_NOMEM;
    }
    w->loop = deps->loop;
    w->conf = conf;
    w->db = deps->db;
    w->kv = deps->kv;
    w->ari = deps->ari;
    w->dnc = deps->dnc;
    snprintf(w->node, sizeof(w->node), "%s", conf->node_id);
    snprintf(w->actor, sizeof(w->actor), "dialer:%s", conf->node_id);
    *out = w;

    struct dialer_config dc = {
        .loop = w->loop,
        .ari = w->ari,
        .db = w->db,
        .app = conf->ari_app,
        .node = conf->node_id,
        .talk_ms = conf->dialer_talk_ms,
    };
    struct dialer_hooks dh = {
        .answered = on_answered, .connect = on_connect, .ended = on_ended, .arg = w
    };
    rc = dialer_create(&dc, &dh, &w->dialer);
    if (rc != 0) {
        return rc;
    }
    rc = campaign_limits_create(w->kv, "dialer:", w->node, 15, &w->limits);
    if (rc != 0) {
        return rc;
    }
    struct campaign_limit_spec spec = {
        .key = LIMIT_KEY,
        .cps = (double)conf->dialer_cps,
        .burst = (double)conf->dialer_cps,
        .max_channels = (int)conf->dialer_max_channels,
    };
    int chunk = (int)(conf->dialer_cps / 10);
    rc = campaign_gate_create(w->limits, &spec, chunk < 1 ? 1 : chunk, &w->gate);
    if (rc != 0) {
        return rc;
    }
    struct campaign_sched_opts so = {
        .verdict = verdict,
        .verdict_arg = w,
        .launch = launch,
        .launch_arg = w,
        .gate = campaign_gate_take,
        .gate_arg = w->gate,
    };
    rc = campaign_sched_create(&so, &w->sched);
    if (rc != 0) {
        return rc;
    }
    struct campaign_lessor_opts lo = {
        .loop = w->loop,
        .db = db_pool_conn(w->db, 0),
        .sched = w->sched,
        .owner = w->node,
        .batch = (int)conf->dialer_lease_batch,
        .lease_s = (int)(conf->dialer_lease_ms / 1000),
    };
    rc = campaign_lessor_create(&lo, &w->lessor);
    if (rc != 0) {
        return rc;
    }
    double tick = (double)conf->dialer_tick_ms / 1000.0;
    ev_timer_init(&w->tick, tick_cb, tick, tick);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    double poll = (double)conf->dialer_poll_ms / 1000.0;
    ev_timer_init(&w->poll, poll_timer_cb, 0.1, poll);
    w->poll.data = w;
    ev_timer_start(w->loop, &w->poll);
    LOG_NOTICE(DIALER, "event=dialer_started node=%s cps=%lld channels=%lld", w->node,
               (long long)conf->dialer_cps, (long long)conf->dialer_max_channels);
    return 0;
}

void dialer_wire_drain(struct dialer_wire *w)
{
    if (w == NULL || w->draining) {
        return;
    }
    w->draining = true;
    for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
        if (c->running) {
            campaign_sched_set_running(w->sched, c->id, false);
            c->running = false;
        }
    }
    if (w->gate != NULL) {
        campaign_gate_flush(w->gate);
    }
}

void stop_dialer(struct dialer_wire *w)
{
    if (w == NULL) {
        return;
    }
    dialer_wire_drain(w);
    w->stopping = true;
    ev_timer_stop(w->loop, &w->tick);
    ev_timer_stop(w->loop, &w->poll);
    campaign_lessor_destroy(w->lessor);
    w->lessor = NULL;
    if (w->dialer != NULL) {
        dialer_cdr_flush(w->dialer);
    }
}

void dialer_wire_free(struct dialer_wire *w)
{
    if (w == NULL) {
        return;
    }
    w->stopping = true;
    dialer_destroy(w->dialer);
    campaign_sched_destroy(w->sched);
    campaign_gate_destroy(w->gate);
    campaign_limits_destroy(w->limits);
    while (w->calls != NULL) {
        wcall_free(w->calls);
    }
    while (w->camps != NULL) {
        struct wcamp *n = w->camps->next;
        free(w->camps);
        w->camps = n;
    }
    free(w);
}
