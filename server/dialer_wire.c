/* SPDX-License-Identifier: MIT */
/*
 * server/dialer_wire: campaigns -> scheduler -> attempt protocol -> dialer,
 * on dialerd's main loop. See server/dialer_wire.h and docs/dialer.md.
 *
 * Channel bookings (docs/dialer.md section 1d): a launch books one channel
 * in Redis (wcall.booked, counted in nbooked); unbook() gives it back once,
 * at the call's end or in wcall_free() at the latest. Each second the
 * process's count is written absolutely (book_sync), which undoes what
 * commands of unknown outcome (timed-out acquires, lost releases) left.
 * Launches in flight (cap check, attempt write or the originate's ARI answer
 * outstanding, the originate queued in the ARI client included) plus end
 * writes in flight are bounded by dialer.max-launching (wire_gate): above
 * it the scheduler's tick ends and the contacts wait, leased, no attempt
 * spent. Default max(dialer.cps / 4, 32 x db.pool-size).
 *
 * Carrier trunk limits (dialer.trunk-limits, docs/dialer.md section 1e): a
 * gate per configured trunk on the shared Redis limit "trunk:<name>"; the
 * scheduler's room callback (wire_room) takes the launch's trunk, or the
 * campaign's next trunk with room, or holds the campaign for the tick. Its
 * own section below ("trunk limits"). A campaign's own trunks[].cps and
 * max_channels are a gate per campaign and trunk on "camp:<id>:trunk:<name>",
 * taken in the same place before the carrier's (docs/dialer.md section 1f).
 * A dead process's calls are booked by their adopter on the global count and
 * on their trunk's limits, all moved in one takeover (takeover_adopted).
 */
#include "server/dialer_wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "campaign/campaign.h"
#include "compliance/compliance.h"
#include "core/clock.h"
#include "core/counter.h"
#include "core/err.h"
#include "core/log.h"
#include "dashboards/dashboards.h"
#include "dialer/dialer.h"
#include "ivr/ivr.h"

enum { MAX_LISTS = 16 };

#define LIMIT_KEY "global"
#define US_PER_S  INT64_C(1000000)

/* A campaign's flow, resolved once per campaign start (docs/dialer.md section 3). */
enum flow_state {
    FLOW_NONE = 0, /* nothing to load (no flow id) */
    FLOW_LOADING,  /* ivr_store_load in flight: the campaign does not launch yet */
    FLOW_READY,    /* flow holds the compiled revision */
    FLOW_MISSING,  /* no published revision or invalid: the stand-in runs (logged) */
    FLOW_RETRY,    /* the load could not be sent: tried again at the next poll */
};

struct wflow {
    enum flow_state state;
    int64_t flow_id;
    int pin; /* pinned revision, 0: the latest published at campaign start */
    int revision;
    struct ivr_flow *flow;
};

struct wcamp {
    struct wcamp *next;
    int64_t id;
    int64_t tenant_id;
    bool running;
    bool want_running;  /* the database says running (launches wait for the flow) */
    bool seen;          /* in the last poll */
    bool bad;           /* settings did not parse (logged once) */
    struct wflow flow;  /* campaigns.flow_id / flow_revision */
    struct wflow mflow; /* amd.machine_flow_id (leave a message) */
    int connected;      /* live calls in a flow now (capacity: dialer.ports) */
    struct compliance_abandon *ab;
    struct ivr_flow *harbour; /* the campaign's own safe-harbour message, or NULL */
    int ab_state;             /* enum ab_state: the accountant's restore (abandon_restore_start) */
    struct dash_entity *de;
    int64_t remaining, total;
    char name[CAMPAIGN_NAME_MAX];
    struct campaign_settings set;
    struct wtrunk *own[CAMPAIGN_MAX_TRUNKS]; /* set.trunks[i]'s own limit (cps, max_channels) */
    uint64_t settings_hash;                  /* of the settings text last applied */
    int nlists;
    int64_t lists[MAX_LISTS];
};

struct wtrunk;

struct wcall {
    struct wcall *prev, *next; /* calls this node holds */
    struct dialer_wire *w;
    struct dialer_call *call;    /* while a flow runs on it */
    struct ivr_ari_call *ac;     /* the channel in the IVR dispatcher */
    struct ivr_session *s;       /* the flow, or the safe-harbour message */
    struct ivr_flow *flow;       /* the revision pinned for this call */
    char *contact;               /* contact.* as JSON text (from the attempt's begin), or NULL */
    struct dash_entity *trunk_e; /* trunk utilisation */
    int64_t flow_id;
    int flow_rev;
    bool in_flow;  /* counted in wcamp.connected */
    bool answered; /* counted as in progress on the wall */
    bool reserved; /* holds a frequency-cap reservation */
    bool safe_harbour;
    int64_t callback_us;  /* the flow asked for a callback at this time (0: none) */
    char exec[37];        /* ivr_executions id, "" when not recorded */
    char reservation[40]; /* compliance_caps_reserve */
    struct campaign_contact ct;
    struct campaign_attempt a;
    char endpoint[DIALER_DIAL_MAX];
    char caller_id[CAMPAIGN_E164_MAX + 1];
    char trunk[CAMPAIGN_NAME_MAX];
    int trunk_idx;      /* index in the campaign's trunks, -1: dialer.endpoint */
    struct wtrunk *tl;  /* the limited trunk whose channel the call holds, or NULL */
    struct wtrunk *ctl; /* the campaign's own limit on that trunk it holds a channel of, or NULL */
    bool booked;        /* holds a channel in Redis (w->nbooked counts it) */
    bool launching;     /* counted in w->launching: launched, originate not answered yet */
    bool counted;       /* counted by the scheduler (launched) */
    int64_t decided_us; /* the scheduler's launch (decision-to-originate histogram) */
};

/*
 * A write on a call's end path (D3 in docs/RELIABILITY.md): the attempt's
 * finish, or its not_dialed close. Sent at once; one that fails (PostgreSQL
 * down, the outcome unknown) waits in the wire's FIFO and is sent again with
 * a back-off until it lands. Both statements only change an attempt whose
 * ended_at is NULL, so a retry after an unknown outcome is harmless (the
 * second answer is ERR_EXISTS: landed). One entry per attempt, so the writes
 * of an attempt stay in order. Bounded: beyond END_QUEUE_MAX the oldest is
 * dropped with an error log (its attempt stays open and the next start's
 * reconciliation settles it, as before).
 */
enum endw_kind {
    ENDW_FINISH,     /* campaign_store_attempt_finish: the contact pending (due) or final */
    ENDW_NOT_DIALED, /* closed as not_dialed, the contact pending with its attempt back */
    ENDW_KEEP,       /* finished, the contact kept leased: back into the scheduler when written */
};

struct endw {
    struct endw *next;
    struct dialer_wire *w;
    enum endw_kind kind;
    int64_t tenant_id;
    int64_t first_us; /* first try (wall) */
    int64_t due_us;   /* not_dialed: when the contact is due again */
    int tries;
    bool failed;
    bool retry;
    bool has_disposition;
    bool unsure; /* not_dialed after an attempt_begin of unknown outcome */
    int cause;
    int next_number;
    int64_t next_us;
    char id[37];
    char outcome[16];
    char disposition[65];
    /* ENDW_KEEP: the contact as the scheduler gets it back, and its next trunk (-1: any) */
    struct campaign_contact ct;
    int failover_trunk;
};

#define END_QUEUE_MAX     100000
#define END_INFLIGHT_MAX  64
#define END_BACKOFF_MIN_S 0.25
#define END_BACKOFF_MAX_S 5.0

static struct counter c_end_queued =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "dialer_end_writes_queued",
                 "attempt finishes waiting to be written again (PostgreSQL away)");
static struct counter c_end_retried =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dialer_end_writes_retried_total",
                 "attempt finishes sent again after a failure");
static struct counter c_end_dropped =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dialer_end_writes_dropped_total",
                 "attempt finishes dropped from a full queue (settled at the next start)");
static struct counter c_launching =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "dialer_launching",
                 "launches in flight: cap check, attempt write or originate answer outstanding "
                 "(new ones wait while these and the end writes in flight reach "
                 "dialer.max-launching)");
static struct counter c_launch_waits =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dialer_launch_waits_total",
                 "scheduler ticks cut short because dialer.max-launching launches (or the "
                 "originate window's) were in flight");
static struct counter c_window =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "dialer_launch_window",
                 "launches allowed in flight now: the originate window, at most "
                 "dialer.max-launching (docs/dialer.md section 1g)");
static struct counter c_booked =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "dialer_channels_booked",
                 "channels this process holds in the shared Redis count (calls and unused tokens)");
static struct counter c_not_dialed =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dialer_originates_not_dialed_total",
                 "originates refused before any channel existed (no attempt spent)");

/*
 * Trunk fail-over (docs/dialer.md section 1a). A trunk with TRUNK_FAULTS
 * route failures in a row (dialer_trunk_fault) rests for TRUNK_REST_US:
 * launches take the campaign's first trunk not resting. A call that ends
 * with a route failure is redialed at once on the campaign's next trunk when
 * the retry policy allows another attempt of the failed class today (it is
 * an attempt: max_attempts and max_per_day count it; only the class's delay
 * is waived); the contact stays leased and goes straight back into the
 * scheduler, and the fail-over map tells launch() which trunk it takes.
 */
#define TRUNK_FAULTS     3
#define TRUNK_REST_US    (30 * INT64_C(1000000))
#define TRUNK_HEALTH_MAX 64
#define FAILOVER_BUCKETS 1024
#define FAILOVER_TTL_US  (120 * INT64_C(1000000))

struct trunk_health {
    char name[CAMPAIGN_NAME_MAX];
    int faults;       /* route failures in a row */
    int64_t until_us; /* resting until */
};

struct failover {
    struct failover *next;
    int64_t contact_id;
    int trunk_idx;
    int64_t at_us;
};

/* The trunk wire_room() chose for the launch that follows (launch() takes it). */
struct trunk_room {
    bool valid;
    int64_t contact_id;
    int idx;           /* in the campaign's trunks */
    struct wtrunk *t;  /* its limit (a token taken), NULL: no limit configured */
    struct wtrunk *ct; /* the campaign's own limit on it (a token taken), or NULL */
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
    struct ivr_ari *ivr;
    struct secrets_wire *secrets;
    struct ivr_recorder *rec;
    struct compliance_caps *caps;
    struct ivr_flow *harbour; /* the safe-harbour message flow */
    struct dash *dash;
    struct dash_ivr_cache *ivr_dash; /* IVR node entities without the registry's mutex */
    struct dash_entity *dash_none;   /* counts nothing (before the wall is wired) */
    struct wcamp *camps;
    struct wcall *calls;
    struct compliance_recorder *recorder; /* compliance_decisions rows (record_block) */
    ev_timer tick;
    ev_timer poll;
    bool polling;
    bool polled; /* the campaigns were read once */
    bool inflight_sent;
    bool inflight_loaded;
    bool cdr_repair_sent; /* a repair is in flight */
    bool cdr_repaired;    /* the first one is done */
    int repair_rounds;    /* repairs still to run (see poll_timer_cb) */
    int64_t start_us;     /* this process's start: the repair's bound */
    bool stopping;
    bool draining;
    int64_t ready_logged_us;
    bool auto_sent[2];  /* campaign_store_auto in flight, by enum campaign_auto_kind */
    unsigned auto_turn; /* which kind the next poll asks */
    int64_t counted_us; /* contacts remaining last read */
    unsigned rr;        /* round robin over the pool's connections */
    /* end writes waiting for PostgreSQL (struct endw) */
    struct endw *ew_head, *ew_tail;
    size_t ew_n;
    int ew_inflight;
    double ew_backoff_s;
    /* overload containment and the channel bookings (docs/dialer.md section 8) */
    int nbooked;       /* calls holding a channel booked in Redis */
    int launching;     /* calls launched whose originate ARI has not answered yet */
    int max_launching; /* launching + end writes in flight at most this */
    int64_t synced_us; /* the channel count last written absolutely (campaign_limits_set) */
    /* dead processes' calls taken over (docs/dialer.md section 2a) */
    bool orphans_sent;  /* campaign_limits_orphans in flight */
    int64_t orphans_us; /* last asked */
    int takeovers;      /* adoptions in flight (campaign_store_adopt, then the takeover) */
    ev_timer ew_timer;
    struct trunk_health th[TRUNK_HEALTH_MAX];
    int nth;
    /* carrier trunk limits (dialer.trunk-limits; section "trunk limits") */
    struct wtrunk *tl;
    int ntl;
    struct wtrunk *own;     /* campaigns' own trunk limits (settings trunks[].cps / max_channels) */
    struct trunk_room pick; /* wire_room()'s choice for the launch that follows */
    struct failover *fo[FAILOVER_BUCKETS];
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

/*
 * The connection for the next transaction: the up one with the fewest
 * queries in flight, from a rotating start (ties spread). A transaction is
 * pipelined on one connection and waits behind whatever that connection
 * already runs, so plain rotation put attempt rows behind a call-log batch
 * or a lease and their launches waited seconds at a few hundred per second.
 */
static struct db_conn *next_conn(struct dialer_wire *w)
{
    int n = db_pool_size(w->db);
    struct db_conn *best = NULL;
    int64_t best_load = 0;
    unsigned start = w->rr++;
    for (int i = 0; i < n; i++) {
        struct db_conn *c = db_pool_conn(w->db, (int)((start + (unsigned)i) % (unsigned)n));
        if (!db_conn_is_up(c)) {
            continue;
        }
        struct db_stats st;
        db_conn_stats(c, &st);
        if (best == NULL || st.inflight < best_load) {
            best = c;
            best_load = st.inflight;
            if (best_load == 0) {
                break;
            }
        }
    }
    return best != NULL ? best : db_pool_conn(w->db, 0);
}

static struct campaign_actor actor_of(struct dialer_wire *w, int64_t tenant_id)
{
    return (struct campaign_actor){ .tenant_id = tenant_id, .actor = w->actor };
}

static void launching_gauge(struct dialer_wire *w)
{
    counter_set(&c_launching, w->launching);
}

/* The launch is over: the originate was handed to the dialer, or the call is gone. */
static void launch_end(struct wcall *c)
{
    if (c->launching) {
        c->launching = false;
        c->w->launching--;
        launching_gauge(c->w);
    }
}

/*
 * The call's channel given back to the shared count, exactly once (the
 * booked flag). While stopping the limits may be gone and calls are left
 * up on purpose: the process's count goes with its liveness key.
 */
static void trunk_unbook(struct wcall *c);

static void unbook(struct wcall *c)
{
    struct dialer_wire *w = c->w;
    trunk_unbook(c);
    if (!c->booked) {
        return;
    }
    c->booked = false;
    w->nbooked--;
    if (!w->stopping) {
        campaign_limits_release(w->limits, LIMIT_KEY, 1, NULL, NULL);
    }
}

static void wcall_free(struct wcall *c)
{
    struct dialer_wire *w = c->w;
    launch_end(c);
    unbook(c); /* every path from a booking ends here at the latest */
    free(c->contact);
    ivr_flow_unref(c->flow);
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

/*
 * The originate's answer came from ARI (or the call ended first): the launch
 * is over. Until then it counted against dialer.max-launching, queued in the
 * ARI client included.
 */
static void on_originated(void *arg, void *user, int status)
{
    struct wcall *c = user;
    (void)arg;
    (void)status;
    if (c != NULL) {
        launch_end(c);
    }
}

/* The call is over for the scheduler and the shared limits. */
static void release_slot(struct wcall *c, bool answered, double secs)
{
    struct dialer_wire *w = c->w;
    if (c->counted) {
        campaign_sched_call_ended(w->sched, c->ct.campaign_id, answered, secs);
        c->counted = false;
    }
    unbook(c);
}

/* The frequency-cap attempt given back: the call was not placed. */
static void caps_giveback(struct wcall *c)
{
    if (c->reserved && c->w->caps != NULL) {
        compliance_caps_release(c->w->caps, c->ct.tenant_id, c->ct.number, c->reservation);
    }
    c->reserved = false;
}

/* ------------------------------------------------------------ dashboards */

/* Counts into the void until the wall's registry is wired (or when it is full). */
static struct dash_entity no_dash;

static struct dash_entity *camp_dash(const struct wcamp *cp)
{
    return cp != NULL && cp->de != NULL ? cp->de : &no_dash;
}

static void camp_dash_register(struct dialer_wire *w, struct wcamp *cp)
{
    if (w->dash == NULL || cp->de != NULL) {
        return;
    }
    cp->de = dash_campaign(w->dash, cp->tenant_id, cp->id);
    if (cp->de != NULL) {
        dash_campaign_cap(cp->de, (int64_t)(cp->set.abandon_cap_pct * 100.0 + 0.5));
        dash_campaign_state(w->dash, cp->de, cp->running ? DASH_STATE_RUNNING : DASH_STATE_PAUSED);
    }
}

static void camp_dash_state(struct dialer_wire *w, struct wcamp *cp, enum dash_state st)
{
    if (w->dash != NULL && cp->de != NULL) {
        dash_campaign_state(w->dash, cp->de, st);
    }
}

/* --------------------------------------------------------------- verdict */

static void verdict_inner(struct dialer_wire *w, const struct campaign_contact *c, int64_t now_us,
                          struct campaign_verdict *v);

/* The verdict, and the wall's "blocked by reason" figures. */
static void verdict(void *arg, const struct campaign_contact *c, int64_t now_us,
                    struct campaign_verdict *v)
{
    struct dialer_wire *w = arg;
    verdict_inner(w, c, now_us, v);
    if (!v->allow) {
        struct dash_entity *e = camp_dash(camp_find(w, c->campaign_id));
        switch (v->reason) {
        case CAMPAIGN_WAIT_DNC:
            dash_inc(e, DASH_BLOCKED_DNC);
            break;
        case CAMPAIGN_WAIT_WINDOW:
            dash_inc(e, DASH_BLOCKED_WINDOW);
            break;
        case CAMPAIGN_WAIT_CAP:
            dash_inc(e, DASH_BLOCKED_CAP);
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------- decision records */

/*
 * Every contact the dialer skips gets a compliance_decisions row naming the
 * rule that blocked it (a DNC list, a legal or the campaign's calling window,
 * a frequency cap, the cap store away, a stale list) with the facts that
 * decided; a repeat of the contact's last row within one skip streak is not
 * written again (compliance_recorder_add: compliance.h, docs/compliance.md).
 */
static void record_block(struct dialer_wire *w, const struct campaign_contact *c,
                         const struct compliance_decision *d, int64_t now_us)
{
    if (w->recorder != NULL && d->verdict == COMPLIANCE_BLOCK) {
        (void)compliance_recorder_add(w->recorder, c->tenant_id, c->campaign_id, c->id, c->number,
                                      d, now_us);
    }
}

/* The campaign's own schedule blocked c: recorded in the zone it was evaluated in. */
static void record_campaign_window(struct dialer_wire *w, const struct wcamp *cp,
                                   const struct campaign_contact *c, int64_t now_us, int64_t next)
{
    struct compliance_decision d;
    const char *zone = cp->set.contact_time && c->zone[0] ? c->zone : cp->set.time_zone;
    if (w->recorder != NULL &&
        compliance_decision_campaign_window(c->number, zone, now_us, next != INT64_MAX ? next : 0,
                                            &d) == 0) {
        record_block(w, c, &d, now_us);
    }
}

static void verdict_inner(struct dialer_wire *w, const struct campaign_contact *c, int64_t now_us,
                          struct campaign_verdict *v)
{
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
        record_campaign_window(w, cp, c, now_us, next);
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_WINDOW;
        v->next_us = next;
        return;
    }
    struct compliance_campaign cc = {
        .tenant_id = c->tenant_id,
        .campaign_id = c->campaign_id,
        .allow_stale_list = w->conf->dialer_allow_missing_dnc || !cp->set.refuse_stale_dnc,
    };
    struct compliance_decision d;
    /* the list's own zone or state when it gave one, else the area code (every zone of it) */
    const struct compliance_place *pl = c->has_place ? &c->place : NULL;
    /* a test build's window clock (compliance_window_clock_set); 0 in production */
    int64_t woff = compliance_window_clock_offset();
    if (compliance_decide_local(w->dnc, &cc, c->number, pl, now_us + woff, &d) != 0) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_DNC;
        v->next_us = INT64_MAX;
        return;
    }
    if (woff != 0 && d.next_eligible_us != 0) {
        d.next_eligible_us -= woff;
    }
    record_block(w, c, &d, now_us);
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

/* ------------------------------------------------------ trunk fail-over */

static struct trunk_health *trunk_health(struct dialer_wire *w, const char *name)
{
    for (int i = 0; i < w->nth; i++) {
        if (strcmp(w->th[i].name, name) == 0) {
            return &w->th[i];
        }
    }
    if (w->nth == TRUNK_HEALTH_MAX) {
        return NULL;
    }
    struct trunk_health *t = &w->th[w->nth++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    return t;
}

/* A call on trunk name ended: a route failure, or anything that shows the trunk works. */
static void trunk_note(struct dialer_wire *w, const char *name, bool fault, int64_t now)
{
    struct trunk_health *t = name[0] != '\0' ? trunk_health(w, name) : NULL;
    if (t == NULL) {
        return;
    }
    if (!fault) {
        t->faults = 0;
        t->until_us = 0;
        return;
    }
    if (++t->faults >= TRUNK_FAULTS && t->until_us <= now) {
        t->until_us = now + TRUNK_REST_US;
        LOG_WARN(DIALER, "event=trunk_resting trunk=%s faults=%d seconds=%d", t->name, t->faults,
                 (int)(TRUNK_REST_US / US_PER_S));
    }
}

/* The campaign's first trunk not resting (all resting: the one back soonest). */
static int trunk_pick(struct dialer_wire *w, const struct campaign_settings *set, int64_t now)
{
    int best = 0;
    int64_t best_until = INT64_MAX;
    for (int i = 0; i < set->ntrunks; i++) {
        struct trunk_health *t = trunk_health(w, set->trunks[i].name);
        int64_t until = t != NULL ? t->until_us : 0;
        if (until <= now) {
            return i;
        }
        if (until < best_until) {
            best_until = until;
            best = i;
        }
    }
    return best;
}

static unsigned fo_bucket(int64_t contact_id)
{
    return (unsigned)((uint64_t)contact_id * UINT64_C(0x9E3779B97F4A7C15) >> 54) &
           (FAILOVER_BUCKETS - 1);
}

static void failover_set(struct dialer_wire *w, int64_t contact_id, int trunk_idx, int64_t now)
{
    struct failover *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return; /* launch() then takes the first trunk not resting */
    }
    unsigned b = fo_bucket(contact_id);
    f->contact_id = contact_id;
    f->trunk_idx = trunk_idx;
    f->at_us = now;
    f->next = w->fo[b];
    w->fo[b] = f;
}

/* The trunk a failed-over contact takes (-1: none), removed; stale entries go too. */
static int failover_take(struct dialer_wire *w, int64_t contact_id, int64_t now)
{
    int idx = -1;
    for (struct failover **pp = &w->fo[fo_bucket(contact_id)]; *pp != NULL;) {
        struct failover *f = *pp;
        if (f->contact_id == contact_id || now - f->at_us > FAILOVER_TTL_US) {
            if (f->contact_id == contact_id && now - f->at_us <= FAILOVER_TTL_US) {
                idx = f->trunk_idx;
            }
            *pp = f->next;
            free(f);
            continue;
        }
        pp = &f->next;
    }
    return idx;
}

/* ---------------------------------------------------------- trunk limits */

/*
 * Carrier trunk limits (dialer.trunk-limits, docs/dialer.md section 1e). Each
 * configured trunk has a gate on the shared Redis limit "trunk:<name>"
 * (campaign/limits.c): a token is one launch within the trunk's CPS and one
 * of its channels, which the call holds until its end (trunk_unbook). The
 * scheduler asks wire_room() before the global gate: the contact's trunk (a
 * fail-over's target, else the campaign's first trunk not resting), then the
 * campaign's next trunks not resting, in order; a trunk without a configured
 * limit always has room. No trunk with room: the campaign waits this tick
 * (its contacts count as held by a cap) while other campaigns go on. With
 * Redis away the gates run dry and launches on limited trunks wait (fail
 * closed). Each second a trunk's count in Redis is written absolutely, as
 * the global one (book_sync).
 *
 * A campaign's own limits on its trunks (settings trunks[].cps and
 * max_channels, docs/dialer.md section 1f) work the same way on the shared
 * limit "camp:<campaign>:trunk:<name>": one entry (struct wtrunk, in
 * w->own) per campaign and limited trunk, made when the settings are
 * applied (own_apply), its gate made again when a limit changes. A launch
 * on a trunk takes a token of the campaign's own limit first, then of the
 * deployment's limit of that trunk name (given back when the second has
 * none), so each binds and a trunk at either goes on to the campaign's next
 * trunk with room. An entry its settings no longer limit loses its gate and
 * goes once its calls have ended (own_tick).
 */
struct trunk_ctrs {
    char name[CAMPAIGN_NAME_MAX];
    char names[4][160];
    struct counter launches, waits, overflows, channels;
};

struct wtrunk {
    struct campaign_trunk_limit lim;
    char key[CAMPAIGN_CAMP_TRUNK_KEY_MAX];
    struct campaign_gate *gate; /* a campaign's entry: NULL once its settings dropped the limit */
    int nbooked;                /* calls holding one of its channels */
    int64_t synced_us;          /* its count last written absolutely */
    struct trunk_ctrs *m;       /* NULL for a campaign's own limit */
    int adopted;                /* calls of a dead process booked on it (takeover_adopted) */
    /* a campaign's own limit (w->own) */
    struct wtrunk *next;
    int64_t campaign_id;
    bool used;  /* its campaign's settings limit the trunk */
    bool dirty; /* used since its count was last written as 0 */
};

static struct counter c_own_waits =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dialer_campaign_trunk_waits_total",
                 "launches that found a campaign's own trunks[].cps or max_channels used up on "
                 "a trunk (they waited or took the campaign's next trunk)");
static struct counter c_own_overflows =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "dialer_campaign_trunk_overflows_total",
                 "launches that went to the campaign's next trunk because its own limit on the "
                 "first had no room");

static void own_tick(struct dialer_wire *w, int64_t now);
static void own_free(struct dialer_wire *w);

/* Per-trunk counters live as long as the process (the registry keeps them), one set per name. */
static struct trunk_ctrs *trunk_ctrs_tab[CAMPAIGN_MAX_TRUNK_LIMITS];

static struct trunk_ctrs *trunk_ctrs_get(const char *name)
{
    static const char *const fam[4] = { "dialer_trunk_limit_launches_total",
                                        "dialer_trunk_limit_waits_total",
                                        "dialer_trunk_limit_overflows_total",
                                        "dialer_trunk_limit_channels" };
    int i = 0;
    for (; i < CAMPAIGN_MAX_TRUNK_LIMITS && trunk_ctrs_tab[i] != NULL; i++) {
        if (strcmp(trunk_ctrs_tab[i]->name, name) == 0) {
            return trunk_ctrs_tab[i];
        }
    }
    struct trunk_ctrs *m = i < CAMPAIGN_MAX_TRUNK_LIMITS ? calloc(1, sizeof(*m)) : NULL;
    if (m == NULL) {
        return NULL;
    }
    snprintf(m->name, sizeof(m->name), "%s", name);
    for (int k = 0; k < 4; k++) {
        snprintf(m->names[k], sizeof(m->names[k]), "%s{trunk=\"%s\"}", fam[k], name);
    }
    m->launches = (struct counter)COUNTER_INIT(
        COUNTER_KIND_COUNTER, m->names[0],
        "launches this process made on the trunk under its dialer.trunk-limits limit");
    m->waits = (struct counter)COUNTER_INIT(
        COUNTER_KIND_COUNTER, m->names[1],
        "launches that found the trunk's CPS or channels used up (they waited or took the "
        "campaign's next trunk)");
    m->overflows = (struct counter)COUNTER_INIT(
        COUNTER_KIND_COUNTER, m->names[2],
        "launches that went to the campaign's next trunk because this one had no room");
    m->channels = (struct counter)COUNTER_INIT(
        COUNTER_KIND_GAUGE, m->names[3],
        "channels of the trunk this process holds in the shared count (calls and unused tokens)");
    counter_register(&m->launches);
    counter_register(&m->waits);
    counter_register(&m->overflows);
    counter_register(&m->channels);
    trunk_ctrs_tab[i] = m;
    return m;
}

static struct wtrunk *trunk_limit(struct dialer_wire *w, const char *name)
{
    for (int i = 0; i < w->ntl; i++) {
        if (strcmp(w->tl[i].lim.name, name) == 0) {
            return &w->tl[i];
        }
    }
    return NULL;
}

/* The gates of dialer.trunk-limits (validated when the configuration was loaded). */
static int trunk_limits_create(struct dialer_wire *w)
{
    struct campaign_trunk_limit v[CAMPAIGN_MAX_TRUNK_LIMITS];
    struct campaign_error e;
    int n = 0;
    int rc = campaign_trunk_limits_parse(w->conf->dialer_trunk_limits, v, CAMPAIGN_MAX_TRUNK_LIMITS,
                                         &n, &e);
    if (rc != 0) {
        LOG_ERR(DIALER, "event=trunk_limits_invalid field=%s msg=\"%s\"", e.field, e.msg);
        return rc;
    }
    if (n == 0) {
        return 0;
    }
    w->tl = calloc((size_t)n, sizeof(*w->tl));
    if (w->tl == NULL) {
        return ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        struct wtrunk *t = &w->tl[i];
        struct campaign_limit_spec spec;
        int chunk = 1;
        t->lim = v[i];
        campaign_trunk_limit_spec(&t->lim, (double)w->conf->dialer_cps, t->key, sizeof(t->key),
                                  &spec, &chunk);
        rc = campaign_gate_create(w->limits, &spec, chunk, &t->gate);
        if (rc != 0) {
            return rc;
        }
        w->ntl = i + 1;
        t->m = trunk_ctrs_get(t->lim.name);
        LOG_NOTICE(DIALER, "event=trunk_limit trunk=%s cps=%.3f channels=%d", t->lim.name,
                   t->lim.cps, t->lim.max_channels);
    }
    return 0;
}

static void trunk_limits_free(struct dialer_wire *w)
{
    for (int i = 0; i < w->ntl; i++) {
        campaign_gate_destroy(w->tl[i].gate);
    }
    free(w->tl);
    w->tl = NULL;
    w->ntl = 0;
    own_free(w);
}

static void trunk_gauge(struct wtrunk *t)
{
    if (t->m != NULL) {
        counter_set(&t->m->channels, t->nbooked + campaign_gate_tokens(t->gate));
    }
}

/* Every tick: once a second each trunk's count written absolutely (as book_sync), refills. */
static void trunk_limits_tick(struct dialer_wire *w, int64_t now)
{
    for (int i = 0; i < w->ntl; i++) {
        struct wtrunk *t = &w->tl[i];
        if (now - t->synced_us >= US_PER_S &&
            campaign_gate_sync(t->gate, t->nbooked) != ERR_AGAIN) {
            t->synced_us = now;
        }
        campaign_gate_refill(t->gate);
        trunk_gauge(t);
    }
    own_tick(w, now);
}

static void own_flush(struct dialer_wire *w);

static void trunk_limits_flush(struct dialer_wire *w)
{
    for (int i = 0; i < w->ntl; i++) {
        campaign_gate_flush(w->tl[i].gate);
    }
    own_flush(w);
}

/* The campaign's own limit on trunk name, or NULL. */
static struct wtrunk *own_find(struct dialer_wire *w, int64_t campaign_id, const char *name)
{
    for (struct wtrunk *e = w->own; e != NULL; e = e->next) {
        if (e->campaign_id == campaign_id && strcmp(e->lim.name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The entry's gate gone, its unused tokens given back (its calls keep their channels). */
static void own_gate_drop(struct wtrunk *e)
{
    if (e->gate != NULL) {
        campaign_gate_flush(e->gate);
        campaign_gate_destroy(e->gate);
        e->gate = NULL;
        e->dirty = true;
    }
}

/* n launches taken from e and not made: back into its allowance (or to Redis without a gate). */
static void own_give_back(struct dialer_wire *w, struct wtrunk *e, int n)
{
    if (e->gate != NULL) {
        campaign_gate_untake(e->gate, n);
    } else if (!w->stopping) {
        campaign_limits_release(w->limits, e->key, n, NULL, NULL);
    }
}

/*
 * cp's settings applied: an entry with a gate for each trunk with a limit of
 * its own (made again when the limit changed), cp->own[] pointing at them.
 * A gate that cannot be made leaves the entry without one: the trunk has no
 * room (fail closed) until the next change of the settings.
 */
static void own_apply(struct dialer_wire *w, struct wcamp *cp)
{
    memset(cp->own, 0, sizeof(cp->own));
    for (struct wtrunk *e = w->own; e != NULL; e = e->next) {
        if (e->campaign_id == cp->id) {
            e->used = false;
        }
    }
    for (int i = 0; i < cp->set.ntrunks && i < CAMPAIGN_MAX_TRUNKS; i++) {
        const struct campaign_trunk *tr = &cp->set.trunks[i];
        struct campaign_limit_spec spec;
        char key[CAMPAIGN_CAMP_TRUNK_KEY_MAX];
        int chunk = 1;
        if (!campaign_trunk_own_spec(cp->id, tr, (double)w->conf->dialer_cps, key, sizeof(key),
                                     &spec, &chunk)) {
            continue;
        }
        struct wtrunk *e = own_find(w, cp->id, tr->name);
        if (e == NULL) {
            e = calloc(1, sizeof(*e));
            if (e == NULL) {
                LOG_ERR(DIALER,
                        "event=campaign_trunk_limit_failed campaign=%" PRId64 " trunk=%s "
                        "msg=\"out of memory: the trunk is dialed without its own limit\"",
                        cp->id, tr->name);
                continue;
            }
            e->campaign_id = cp->id;
            snprintf(e->lim.name, sizeof(e->lim.name), "%s", tr->name);
            snprintf(e->key, sizeof(e->key), "%s", key);
            e->next = w->own;
            w->own = e;
        }
        if (e->gate == NULL || e->lim.cps != tr->cps || e->lim.max_channels != tr->max_channels) {
            own_gate_drop(e);
            e->lim.cps = tr->cps;
            e->lim.max_channels = tr->max_channels;
            if (campaign_gate_create(w->limits, &spec, chunk, &e->gate) != 0) {
                e->gate = NULL;
                LOG_ERR(DIALER,
                        "event=campaign_trunk_limit_failed campaign=%" PRId64 " trunk=%s "
                        "msg=\"no gate: the trunk waits until the settings change\"",
                        cp->id, tr->name);
            }
            LOG_NOTICE(DIALER,
                       "event=campaign_trunk_limit campaign=%" PRId64 " trunk=%s cps=%.3f "
                       "channels=%d",
                       cp->id, tr->name, tr->cps, tr->max_channels);
        }
        e->used = true;
        cp->own[i] = e;
    }
    for (struct wtrunk *e = w->own; e != NULL; e = e->next) {
        if (e->campaign_id == cp->id && !e->used) {
            own_gate_drop(e);
        }
    }
}

static bool own_any(const struct wcamp *cp)
{
    for (int i = 0; i < cp->set.ntrunks && i < CAMPAIGN_MAX_TRUNKS; i++) {
        if (cp->own[i] != NULL) {
            return true;
        }
    }
    return false;
}

/*
 * Every tick: each entry's count written absolutely once a second while it
 * has calls or tokens (and once more at 0), the refills; an entry its
 * settings dropped goes once its last call ended and its 0 was written.
 */
static void own_tick(struct dialer_wire *w, int64_t now)
{
    for (struct wtrunk **pp = &w->own; *pp != NULL;) {
        struct wtrunk *e = *pp;
        int held = e->nbooked + (e->gate != NULL ? campaign_gate_tokens(e->gate) : 0);
        if (now - e->synced_us >= US_PER_S && (held > 0 || e->dirty)) {
            int rc = e->gate != NULL
                         ? campaign_gate_sync(e->gate, e->nbooked)
                         : campaign_limits_set(w->limits, e->key, e->nbooked, NULL, NULL);
            if (rc != ERR_AGAIN) {
                e->synced_us = now;
                e->dirty = e->dirty && (held > 0 || rc != 0);
            }
        }
        if (e->gate != NULL) {
            campaign_gate_refill(e->gate);
        } else if (!e->used && e->nbooked == 0 && !e->dirty) {
            *pp = e->next;
            free(e);
            continue;
        }
        pp = &e->next;
    }
}

static void own_flush(struct dialer_wire *w)
{
    for (struct wtrunk *e = w->own; e != NULL; e = e->next) {
        if (e->gate != NULL) {
            campaign_gate_flush(e->gate);
        }
    }
}

static void own_free(struct dialer_wire *w)
{
    while (w->own != NULL) {
        struct wtrunk *e = w->own;
        w->own = e->next;
        campaign_gate_destroy(e->gate);
        free(e);
    }
}

/* A fail-over's trunk for contact_id (-1: none), left in the map for launch(). */
static int failover_peek(struct dialer_wire *w, int64_t contact_id, int64_t now)
{
    for (struct failover *f = w->fo[fo_bucket(contact_id)]; f != NULL; f = f->next) {
        if (f->contact_id == contact_id && now - f->at_us <= FAILOVER_TTL_US) {
            return f->trunk_idx;
        }
    }
    return -1;
}

static bool trunk_resting(struct dialer_wire *w, const char *name, int64_t now)
{
    struct trunk_health *h = trunk_health(w, name);
    return h != NULL && h->until_us > now;
}

/*
 * campaign_sched_opts.room: a trunk with room for contact ct's launch (see
 * the section's comment). take false: the global gate refused after a true,
 * the token goes back into the trunk's allowance.
 */
static bool wire_room(void *arg, const struct campaign_contact *ct, bool take)
{
    struct dialer_wire *w = arg;
    if (!take) {
        if (w->pick.valid && w->pick.t != NULL) {
            campaign_gate_untake(w->pick.t->gate, 1);
        }
        if (w->pick.valid && w->pick.ct != NULL) {
            own_give_back(w, w->pick.ct, 1);
        }
        w->pick.valid = false;
        return true;
    }
    w->pick.valid = false;
    struct wcamp *cp = w->ntl > 0 || w->own != NULL ? camp_find(w, ct->campaign_id) : NULL;
    if (cp == NULL || cp->set.ntrunks == 0 || (w->ntl == 0 && !own_any(cp))) {
        return true; /* no limits, or dialer.endpoint: only the global gate */
    }
    int64_t now = clock_wall_us();
    const struct campaign_settings *set = &cp->set;
    int first = failover_peek(w, ct->id, now);
    if (first < 0 || first >= set->ntrunks) {
        first = trunk_pick(w, set, now);
    }
    struct wtrunk *full = NULL;
    bool own_full = false;
    for (int k = 0; k < set->ntrunks; k++) {
        int i = (first + k) % set->ntrunks;
        if (k > 0 && trunk_resting(w, set->trunks[i].name, now)) {
            continue;
        }
        /* the campaign's own limit first: its refusal costs the carrier's limit nothing */
        struct wtrunk *o = i < CAMPAIGN_MAX_TRUNKS ? cp->own[i] : NULL;
        if (o != NULL && (o->gate == NULL || campaign_gate_take(o->gate, ct->tenant_id, 1) < 1)) {
            counter_inc(&c_own_waits);
            own_full = true;
            continue;
        }
        struct wtrunk *t = trunk_limit(w, set->trunks[i].name);
        if (t != NULL && campaign_gate_take(t->gate, ct->tenant_id, 1) < 1) {
            if (o != NULL) {
                campaign_gate_untake(o->gate, 1);
            }
            if (t->m != NULL) {
                counter_inc(&t->m->waits);
            }
            full = full != NULL ? full : t;
            continue;
        }
        if (k > 0 && full != NULL && full->m != NULL) {
            counter_inc(&full->m->overflows);
        }
        if (k > 0 && own_full) {
            counter_inc(&c_own_overflows);
        }
        if (o != NULL) {
            o->dirty = true;
        }
        w->pick =
            (struct trunk_room){ .valid = true, .contact_id = ct->id, .idx = i, .t = t, .ct = o };
        return true;
    }
    return false;
}

/* launch(): the trunk wire_room() chose for this contact, and its channel. */
static void trunk_launch(struct dialer_wire *w, const struct campaign_contact *ct, struct wcall *c,
                         int ntrunks)
{
    if (!w->pick.valid || w->pick.contact_id != ct->id || w->pick.idx >= ntrunks) {
        return;
    }
    c->trunk_idx = w->pick.idx;
    c->tl = w->pick.t;
    c->ctl = w->pick.ct;
    w->pick.valid = false;
    if (c->ctl != NULL) {
        c->ctl->nbooked++;
    }
    if (c->tl != NULL) {
        c->tl->nbooked++;
        if (c->tl->m != NULL) {
            counter_inc(&c->tl->m->launches);
        }
    }
}

/* launch() gives up before anything was sent: the token goes back into the allowance. */
static void trunk_unlaunch(struct dialer_wire *w, struct wcall *c)
{
    if (w->pick.valid && w->pick.t != NULL) {
        campaign_gate_untake(w->pick.t->gate, 1);
    }
    if (w->pick.valid && w->pick.ct != NULL) {
        own_give_back(w, w->pick.ct, 1);
    }
    w->pick.valid = false;
    if (c != NULL && c->tl != NULL) {
        c->tl->nbooked--;
        campaign_gate_untake(c->tl->gate, 1);
        c->tl = NULL;
    }
    if (c != NULL && c->ctl != NULL) {
        c->ctl->nbooked--;
        own_give_back(w, c->ctl, 1);
        c->ctl = NULL;
    }
}

/* The call's trunk channels given back, exactly once (c->tl, c->ctl). */
static void trunk_unbook(struct wcall *c)
{
    struct wtrunk *o = c->ctl;
    if (o != NULL) {
        c->ctl = NULL;
        o->nbooked--;
        o->dirty = true;
        if (!c->w->stopping) {
            campaign_limits_release(c->w->limits, o->key, 1, NULL, NULL);
        }
    }
    struct wtrunk *t = c->tl;
    if (t == NULL) {
        return;
    }
    c->tl = NULL;
    t->nbooked--;
    if (!c->w->stopping) {
        campaign_limits_release(c->w->limits, t->key, 1, NULL, NULL);
    }
}

/* The wall's capacity of the call's trunk: its configured channels, else the campaign's or global.
 */
static int64_t trunk_capacity(const struct dialer_wire *w, const struct wcamp *cp,
                              const struct wcall *c)
{
    if (c->tl != NULL && c->tl->lim.max_channels > 0) {
        return c->tl->lim.max_channels;
    }
    if (cp != NULL && c->trunk_idx >= 0 && c->trunk_idx < cp->set.ntrunks &&
        cp->set.trunks[c->trunk_idx].max_channels > 0) {
        return cp->set.trunks[c->trunk_idx].max_channels;
    }
    return w->conf->dialer_max_channels;
}

/* ----------------------------------------------------------- attempt end */

static void endw_send(struct endw *e);

static void endw_push(struct dialer_wire *w, struct endw *e)
{
    if (w->ew_n >= END_QUEUE_MAX && w->ew_head != NULL) {
        struct endw *old = w->ew_head;
        w->ew_head = old->next;
        if (w->ew_head == NULL) {
            w->ew_tail = NULL;
        }
        w->ew_n--;
        counter_inc(&c_end_dropped);
        LOG_ERR(DIALER, "event=attempt_finish_dropped id=%s msg=\"queue full; settled at restart\"",
                old->id);
        free(old);
    }
    e->next = NULL;
    if (w->ew_tail != NULL) {
        w->ew_tail->next = e;
    } else {
        w->ew_head = e;
    }
    w->ew_tail = e;
    w->ew_n++;
    counter_set(&c_end_queued, (int64_t)w->ew_n);
}

static void endw_kick(struct dialer_wire *w, double after_s)
{
    if (w->stopping || w->ew_n == 0) {
        return;
    }
    ev_timer_stop(w->loop, &w->ew_timer);
    ev_timer_set(&w->ew_timer, after_s, 0);
    ev_timer_start(w->loop, &w->ew_timer);
}

static void endw_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dialer_wire *w = t->data;
    (void)loop;
    (void)revents;
    size_t n = w->ew_n;
    while (n-- > 0 && w->ew_head != NULL && w->ew_inflight < END_INFLIGHT_MAX && !w->stopping) {
        struct endw *e = w->ew_head;
        w->ew_head = e->next;
        if (w->ew_head == NULL) {
            w->ew_tail = NULL;
        }
        w->ew_n--;
        counter_set(&c_end_queued, (int64_t)w->ew_n);
        counter_inc(&c_end_retried);
        size_t before = w->ew_n;
        endw_send(e);
        if (w->ew_n > before) {
            break; /* could not even be sent: the back-off runs */
        }
    }
    if (w->ew_n > 0 && !ev_is_active(&w->ew_timer) && w->ew_inflight < END_INFLIGHT_MAX) {
        endw_kick(w, w->ew_backoff_s);
    }
}

/*
 * A kept contact's finish is written: the contact goes back into the
 * scheduler, due at its retry time (now for a fail-over). If the first try
 * did land and only its answer was lost (ERR_EXISTS now), the contact is
 * still leased by this node and the same holds; if it is not (another
 * outcome), attempt_begin finds no lease (ERR_CONFLICT) and nothing is dialed.
 */
static void keep_landed(struct endw *e)
{
    struct dialer_wire *w = e->w;
    struct campaign_batch *b = calloc(1, sizeof(*b) + sizeof(b->contacts[0]));
    int64_t now = clock_wall_us();
    if (b == NULL) {
        return; /* the lease expires and any node takes the contact again */
    }
    b->campaign_id = e->ct.campaign_id;
    b->lease_expires_us = now + w->conf->dialer_lease_ms * 1000;
    b->n = 1;
    b->contacts[0] = e->ct;
    const struct wcamp *cp = camp_find(w, e->ct.campaign_id);
    if (cp != NULL && cp->want_running && campaign_sched_add(w->sched, b) == 0) {
        if (e->failover_trunk >= 0) {
            failover_set(w, e->ct.id, e->failover_trunk, now);
        }
    } else {
        /* the campaign is gone from this node: the contact back to the database */
        struct campaign_actor who = actor_of(w, e->ct.tenant_id);
        const int64_t ids[1] = { e->ct.id };
        const int64_t due[1] = { e->ct.due_us > now ? e->ct.due_us : 0 };
        campaign_store_release(next_conn(w), &who, w->node, ids, due, NULL, 1, NULL, NULL);
    }
    free(b);
}

/* An end write answered (or could not be sent: status from the send). */
static void endw_done(int status, void *arg)
{
    struct endw *e = arg;
    struct dialer_wire *w = e->w;
    w->ew_inflight--;
    launching_gauge(w);
    if (w->stopping) {
        /* left unfinished: the next start reconciles it */
        free(e);
        return;
    }
    if (status == ERR_NOTFOUND && e->unsure && e->tries < 4) {
        status = ERR_DISCONNECTED; /* maybe not visible yet: once more later */
    }
    if (status == 0 || status == ERR_EXISTS || status == ERR_NOTFOUND || status == ERR_INVAL) {
        if (e->kind == ENDW_KEEP && (status == 0 || status == ERR_EXISTS)) {
            keep_landed(e);
        }
        if (status == ERR_NOTFOUND && e->unsure) {
            LOG_INFO(DIALER, "event=attempt_not_written id=%s", e->id); /* nothing to close */
        } else if (status == ERR_NOTFOUND || status == ERR_INVAL) {
            LOG_WARN(DIALER, "event=attempt_finish_failed id=%s err=\"%s\" msg=\"not retried\"",
                     e->id, err_str(status));
        } else if (e->tries > 1) {
            LOG_INFO(DIALER, "event=attempt_finish_landed id=%s outcome=%s tries=%d", e->id,
                     e->outcome, e->tries);
        }
        free(e);
        w->ew_backoff_s = 0;
        if (w->ew_n > 0 && !ev_is_active(&w->ew_timer)) {
            endw_kick(w, 0.01);
        }
        return;
    }
    /* unknown outcome (PostgreSQL away): again later, in the FIFO */
    if (e->tries == 1) {
        LOG_WARN(DIALER, "event=attempt_finish_failed id=%s err=\"%s\" msg=\"queued for retry\"",
                 e->id, err_str(status));
    }
    w->ew_backoff_s = w->ew_backoff_s <= 0 ? END_BACKOFF_MIN_S : w->ew_backoff_s * 2;
    if (w->ew_backoff_s > END_BACKOFF_MAX_S) {
        w->ew_backoff_s = END_BACKOFF_MAX_S;
    }
    endw_push(w, e);
    if (!ev_is_active(&w->ew_timer)) {
        endw_kick(w, w->ew_backoff_s);
    }
}

/* not_dialed: the attempt closed as such and the contact back, its attempt given back. */
static const char NOT_DIALED_SQL[] =
    "WITH a AS (UPDATE call_attempts SET state = 'failed', ended_at = now(), "
    "outcome = 'not_dialed' WHERE id = $1::uuid AND ended_at IS NULL "
    "RETURNING contact_id, attempt_no), "
    "u AS (UPDATE contacts c SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
    "attempts = greatest(c.attempts - 1, 0), "
    "next_attempt_at = to_timestamp($2::bigint / 1000000.0) "
    "FROM a WHERE c.id = a.contact_id AND c.state = 'dialing' AND c.attempts = a.attempt_no "
    "RETURNING c.id) "
    "SELECT (SELECT count(*) FROM a) + 0 * (SELECT count(*) FROM u), "
    "EXISTS (SELECT 1 FROM call_attempts WHERE id = $1::uuid)";

/* A retry due soon (or a fail-over): finished, the contact still leased by this node. */
static const char KEEP_SQL[] =
    "WITH a AS (UPDATE call_attempts SET state = $2, ended_at = now(), outcome = $3, "
    "hangup_cause = $4::smallint, disposition = $5 WHERE id = $1::uuid AND ended_at IS NULL "
    "RETURNING contact_id), "
    "u AS (UPDATE contacts c SET state = 'leased', lease_owner = $6, "
    "lease_expires_at = now() + make_interval(secs => $7::int), "
    "next_attempt_at = now() + make_interval(secs => $7::int), block_reason = NULL, "
    "last_outcome = $3, last_disposition = coalesce($5, c.last_disposition), "
    "next_number = $8::smallint FROM a WHERE c.id = a.contact_id AND c.state = 'dialing' "
    "RETURNING c.id) "
    "SELECT (SELECT count(*) FROM a) + 0 * (SELECT count(*) FROM u), "
    "EXISTS (SELECT 1 FROM call_attempts WHERE id = $1::uuid)";

struct nd_tx {
    struct endw *e;
    struct db_conn *conn;
    bool pinned;
    int pending;
    int status;
};

static void nd_cb(int status, PGresult *res, void *arg)
{
    struct nd_tx *t = arg;
    if (status != 0 && t->status == 0) {
        t->status = status;
    } else if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
               PQnfields(res) == 2 && PQntuples(res) == 1 && t->status == 0) {
        if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
            t->status = strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? ERR_EXISTS : ERR_NOTFOUND;
        }
    }
    if (--t->pending > 0) {
        return;
    }
    struct endw *e = t->e;
    if (t->pinned) {
        db_pool_unpin(e->w->db, t->conn);
    }
    int st = t->status;
    free(t);
    endw_done(st, e);
}

static int send_sql(struct endw *e, const char *sql, int nparams, const char *const *params)
{
    struct dialer_wire *w = e->w;
    struct nd_tx *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return ERR_NOMEM;
    }
    t->e = e;
    t->pinned = db_pool_pin(w->db, &t->conn) == 0;
    if (!t->pinned) {
        t->conn = next_conn(w);
    }
    char tid[24];
    snprintf(tid, sizeof(tid), "%" PRId64, e->tenant_id);
    const char *tp[1] = { tid };
    const struct db_query qs[4] = {
        { .sql = "BEGIN" },
        { .sql = "SELECT set_config('app.tenant_id', $1, true)", .nparams = 1, .params = tp },
        { .sql = sql, .nparams = nparams, .params = params },
        { .sql = "COMMIT" },
    };
    for (int i = 0; i < 4; i++) {
        struct db_query q = qs[i];
        q.cb = nd_cb;
        q.arg = t;
        if (db_query_send(t->conn, &q, NULL) != 0) {
            if (i == 0) {
                if (t->pinned) {
                    db_pool_unpin(w->db, t->conn);
                }
                free(t);
                return ERR_DISCONNECTED;
            }
            t->status = ERR_DISCONNECTED;
            break;
        }
        t->pending++;
    }
    return 0;
}

static void endw_send(struct endw *e)
{
    struct dialer_wire *w = e->w;
    int rc;
    e->tries++;
    w->ew_inflight++;
    launching_gauge(w);
    if (e->kind == ENDW_NOT_DIALED) {
        char due[24];
        snprintf(due, sizeof(due), "%" PRId64, e->due_us);
        const char *p[2] = { e->id, due };
        rc = send_sql(e, NOT_DIALED_SQL, 2, p);
    } else if (e->kind == ENDW_KEEP) {
        char cause[8], lease[16], num[8];
        snprintf(cause, sizeof(cause), "%d", e->cause);
        snprintf(lease, sizeof(lease), "%d", (int)(w->conf->dialer_lease_ms / 1000));
        snprintf(num, sizeof(num), "%d", e->next_number);
        const char *p[8] = {
            e->id,
            e->failed ? "failed" : "ended",
            e->outcome,
            e->cause >= 0 && e->cause <= 127 ? cause : NULL,
            e->has_disposition ? e->disposition : NULL,
            w->node,
            lease,
            num,
        };
        rc = send_sql(e, KEEP_SQL, 8, p);
    } else {
        struct campaign_attempt_end end = {
            .id = e->id,
            .failed = e->failed,
            .outcome = e->outcome,
            .hangup_cause = e->cause,
            .sip_code = -1,
            .disposition = e->has_disposition ? e->disposition : NULL,
            .retry = e->retry,
            .next_us = e->next_us,
            .next_number = e->next_number,
        };
        struct campaign_actor who = actor_of(w, e->tenant_id);
        rc = campaign_store_attempt_finish(next_conn(w), &who, &end, endw_done, e);
    }
    if (rc != 0) {
        endw_done(rc == ERR_INVAL ? ERR_INVAL : ERR_DISCONNECTED, e);
    }
}

static struct endw *endw_new(struct wcall *c, enum endw_kind kind)
{
    struct endw *e = calloc(1, sizeof(*e));
    if (e != NULL) {
        e->w = c->w;
        e->kind = kind;
        e->tenant_id = c->ct.tenant_id;
        e->first_us = clock_wall_us();
        snprintf(e->id, sizeof(e->id), "%s", c->a.id);
    }
    return e;
}

/*
 * A call that never rang: closed as not_dialed, the contact due again after
 * a pause. unsure: the attempt row's own write had an unknown outcome; a
 * "no such attempt" answer is then retried a few times (a commit still on
 * its way on a dropped session) before it is believed.
 */
static void close_not_dialed(struct wcall *c, bool unsure)
{
    struct endw *e = endw_new(c, ENDW_NOT_DIALED);
    if (!unsure) {
        counter_inc(&c_not_dialed);
    }
    if (e != NULL) {
        e->unsure = unsure;
        snprintf(e->outcome, sizeof(e->outcome), "not_dialed");
        e->due_us = clock_wall_us() + 2 * US_PER_S;
        endw_send(e);
    } else {
        LOG_ERR(DIALER, "event=attempt_finish_failed id=%s err=\"%s\"", c->a.id,
                err_str(ERR_NOMEM));
    }
    wcall_free(c);
}

/*
 * The attempt's finish with the retry decision. trunk_fault: the call failed
 * on its route (dialer_trunk_fault), so it may fail over to the next trunk.
 */
static void finish_attempt(struct wcall *c, const struct campaign_settings *set, bool failed,
                           const char *outcome, int cause, const char *disposition, int attempts,
                           int today, bool trunk_fault)
{
    struct dialer_wire *w = c->w;
    struct campaign_retry_decision dec;
    int64_t now = clock_wall_us();
    int cls = campaign_retry_class_of(outcome);
    campaign_retry_decide(set, cls, attempts, today, c->ct.number_idx, c->ct.nalt, now, &dec);
    int failover = -1;
    if (c->callback_us > now) {
        /* a callback the flow scheduled: the contact is due then (windows
         * and caps still apply when it comes up) */
        dec.retry = true;
        dec.at_us = c->callback_us;
        dec.next_number = c->ct.number_idx;
    } else if (trunk_fault && dec.retry && !dec.same_trunk && cls == CAMPAIGN_RETRY_FAILED &&
               dec.at_us <= now + set->retry[cls].delay_s * US_PER_S && c->trunk_idx >= 0 &&
               c->trunk_idx + 1 < set->ntrunks) {
        /* the route failed: at once on the next trunk (an attempt all the same) */
        failover = c->trunk_idx + 1;
        dec.at_us = now;
        LOG_INFO(DIALER, "event=trunk_failover id=%s from=%s to=%s", c->a.id, c->trunk,
                 set->trunks[failover].name);
    }
    /* a retry due within the lease's first two thirds stays with this node:
     * the scheduler holds it and dials it on the tick it is due */
    int64_t keep_us = w->conf->dialer_lease_ms * 1000 * 2 / 3;
    const struct wcamp *cp_run = camp_find(w, c->ct.campaign_id);
    bool keep = dec.retry && !w->draining && dec.next_number == c->ct.number_idx &&
                c->ct.number[0] != '\0' && /* not an adopted attempt's stand-in */
                dec.at_us - now < keep_us && cp_run != NULL && cp_run->want_running;
    struct endw *e = endw_new(c, keep ? ENDW_KEEP : ENDW_FINISH);
    if (e == NULL) {
        LOG_ERR(DIALER, "event=attempt_finish_failed id=%s err=\"%s\"", c->a.id,
                err_str(ERR_NOMEM));
        wcall_free(c);
        return;
    }
    e->failed = failed;
    snprintf(e->outcome, sizeof(e->outcome), "%s", outcome);
    e->cause = cause;
    if (disposition != NULL) {
        e->has_disposition = true;
        snprintf(e->disposition, sizeof(e->disposition), "%.64s", disposition);
    }
    e->retry = dec.retry;
    e->next_us = dec.at_us;
    e->next_number = dec.next_number;
    e->failover_trunk = failover;
    if (keep) {
        e->ct = c->ct;
        e->ct.attempts = attempts;
        e->ct.attempts_24h = today;
        /* a fail-over goes before the contacts already waiting (the
         * scheduler pops the earliest due first): it is the same call */
        e->ct.due_us = failover >= 0 ? 1 : dec.at_us > now ? dec.at_us : now;
        e->ct.reason = 0;
        e->ct.heap_idx = 0;
    }
    wcall_free(c);
    endw_send(e);
}

static void on_answered(void *arg, void *user, double ring_s)
{
    struct dialer_wire *w = arg;
    struct wcall *c = user;
    if (c != NULL && !w->stopping) {
        struct dash_entity *e = camp_dash(camp_find(w, c->ct.campaign_id));
        campaign_sched_call_answered(w->sched, c->ct.campaign_id, ring_s);
        dash_add(e, DASH_RINGING, -1);
        dash_inc(e, DASH_IN_PROGRESS);
        c->answered = true;
    }
}

/* ------------------------------------------------------------ the flow */

/* The call left its flow: its place in the campaign's capacity is free. */
static void flow_leave(struct wcall *c)
{
    if (c->in_flow) {
        struct wcamp *cp = camp_find(c->w, c->ct.campaign_id);
        if (cp != NULL && cp->connected > 0) {
            cp->connected--;
        }
        c->in_flow = false;
    }
}

/*
 * The call's disposition: the hangup node's, else the flow variable
 * flow.disposition (set_variable), else from how the flow ended.
 */
static void flow_disposition(const struct wcall *c, const struct ivr_end *e, char *out, size_t n)
{
    json_t *fv = c->s != NULL ? json_object_get(ivr_session_vars(c->s), "flow") : NULL;
    const char *v = json_string_value(json_object_get(fv, "disposition"));
    const char *d;
    if (e->disposition != NULL && e->disposition[0] != '\0') {
        d = e->disposition;
    } else if (v != NULL && v[0] != '\0') {
        d = v;
    } else {
        switch (e->reason) {
        case IVR_END_COMPLETED:
            d = "completed";
            break;
        case IVR_END_TRANSFERRED:
            d = "transferred";
            break;
        case IVR_END_HANGUP:
            d = "hangup";
            break;
        case IVR_END_SHUTDOWN:
            d = "shutdown";
            break;
        default:
            d = "flow_error";
            break;
        }
    }
    snprintf(out, n, "%.64s", d);
}

/* A callback time: epoch seconds as a number, or text dialer_parse_utc() reads; 0: neither. */
static int64_t parse_when(json_t *v)
{
    if (json_is_integer(v)) {
        return json_integer_value(v) > 0 && json_integer_value(v) < INT64_C(100000000000)
                   ? (int64_t)json_integer_value(v) * US_PER_S
                   : 0;
    }
    return dialer_parse_utc(json_string_value(v));
}

/* A callback the flow asked for (flow.callback_at), checked against the campaign's settings. */
static void flow_callback(struct wcall *c)
{
    json_t *fv = c->s != NULL ? json_object_get(ivr_session_vars(c->s), "flow") : NULL;
    json_t *v = json_object_get(fv, "callback_at");
    struct wcamp *cp = camp_find(c->w, c->ct.campaign_id);
    struct campaign_error err;
    if (v == NULL || cp == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
        return; /* none asked */
    }
    int64_t at = parse_when(v);
    if (at == 0 || campaign_callback_check(&cp->set, clock_wall_us(), at, &err) != 0) {
        LOG_NOTICE(DIALER, "event=callback_refused id=%s campaign=%" PRId64 " msg=\"%s\"", c->a.id,
                   cp->id, at == 0 ? "callback_at is not a UTC time" : err.msg);
        return;
    }
    c->callback_us = at;
    LOG_INFO(DIALER, "event=callback_set id=%s campaign=%" PRId64, c->a.id, cp->id);
}

static void flow_step(void *arg, const struct ivr_step *st)
{
    struct wcall *c = arg;
    struct dialer_wire *w = c->w;
    if (c->exec[0] != '\0' && w->rec != NULL) {
        ivr_recorder_step(w->rec, c->ct.tenant_id, c->exec, st);
    }
    if (w->ivr_dash != NULL) {
        /* the cache registers once per (flow, node, outcome); later steps take no lock */
        struct dash_entity *e =
            dash_ivr_cached(w->ivr_dash, c->ct.tenant_id, c->flow_id, st->node, "");
        if (e != NULL) {
            dash_inc(e, DASH_HITS);
        }
        if (st->event_out != NULL && (e = dash_ivr_cached(w->ivr_dash, c->ct.tenant_id, c->flow_id,
                                                          st->node, st->event_out)) != NULL) {
            dash_inc(e, DASH_HITS);
        }
    }
}

static void flow_end(void *arg, const struct ivr_end *e)
{
    struct wcall *c = arg;
    struct dialer_wire *w = c->w;
    char disp[65];

    if (c->exec[0] != '\0' && w->rec != NULL) {
        ivr_recorder_end(w->rec, c->ct.tenant_id, c->exec, e);
    }
    if (w->ivr_dash != NULL && e->last_node != NULL) {
        /* how the execution ended, on the node it ended in (the wall's drop-offs) */
        char outcome[32];
        snprintf(outcome, sizeof(outcome), DASH_IVR_END_PREFIX "%s",
                 ivr_end_reason_name(e->reason));
        struct dash_entity *de =
            dash_ivr_cached(w->ivr_dash, c->ct.tenant_id, c->flow_id, e->last_node, outcome);
        if (de != NULL) {
            dash_inc(de, DASH_HITS);
        }
    }
    flow_disposition(c, e, disp, sizeof(disp));
    flow_callback(c);
    LOG_DEBUG(DIALER, "event=flow_end id=%s reason=%s disposition=%s", c->a.id,
              ivr_end_reason_name(e->reason), disp);
    struct dialer_call *call = c->call;
    c->call = NULL;
    flow_leave(c);
    struct ivr_session *s = c->s;
    c->s = NULL;
    ivr_session_destroy(s);
    ivr_ari_call_destroy(c->ac);
    c->ac = NULL;
    if (call != NULL) {
        if (e->reason == IVR_END_HANGUP) {
            dialer_call_set_disposition(call, disp); /* the channel is going */
        } else if (e->reason == IVR_END_TRANSFERRED) {
            dialer_call_left(call, disp); /* may end c: nothing after this */
        } else {
            dialer_call_end(call, disp);
        }
    }
}

/*
 * What api_call needs from the call's tenant: its secrets (secrets.* in
 * headers and auth) and its SSRF allowlist (server/secrets_wire.c).
 */
static void flow_tenant_io(const struct dialer_wire *w, long long tenant,
                           struct ivr_session_config *cfg, json_t *vars)
{
    if (w->secrets == NULL) {
        return;
    }
    cfg->http = ivr_http_backend_ops();
    cfg->http_ctx = secrets_wire_http(w->secrets, tenant);
    json_t *sec = secrets_wire_secrets(w->secrets, tenant);
    if (vars != NULL && json_is_object(sec)) {
        json_object_set(vars, "secrets", sec);
    }
    json_decref(sec);
}

/* Runs flow on the answered call. 0, or an error (then nothing runs). */
static int run_flow(struct dialer_wire *w, struct wcall *c, struct dialer_call *call,
                    struct wcamp *cp, struct ivr_flow *flow, const struct wflow *wf, bool machine)
{
    struct ari_client *client = dialer_call_client(call);
    if (client == NULL) {
        return ERR_INVAL;
    }
    int rc = ivr_ari_call_create(w->ivr, client, dialer_call_id(call), &c->ac);
    if (rc != 0) {
        return rc;
    }
    json_t *vars =
        json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:i}}", "call", "id", c->a.id,
                  "channel", dialer_call_id(call), "direction", "outbound", "number", c->ct.number,
                  "caller_id", c->caller_id, "campaign_id", (json_int_t)cp->id, "campaign_name",
                  cp->name, "tenant_id", (json_int_t)cp->tenant_id, "attempt", c->ct.attempts + 1);
    if (vars != NULL) {
        json_t *ct = c->contact != NULL ? json_loads(c->contact, 0, NULL) : NULL;
        if (!json_is_object(ct)) {
            json_decref(ct); /* the campaign had no flow at launch: none asked for */
            ct = json_object();
        }
        json_object_set_new(vars, "contact", ct);
    }
    struct ivr_session_config cfg = {
        .ops = ivr_ari_ops(),
        .ops_ctx = c->ac,
        .loop = w->loop,
        .on_step = flow_step,
        .on_end = flow_end,
        .cb_arg = c,
    };
    flow_tenant_io(w, cp->tenant_id, &cfg, vars);
    c->s = vars != NULL ? ivr_session_create(flow, &cfg, vars) : NULL;
    json_decref(vars);
    if (c->s == NULL) {
        ivr_ari_call_destroy(c->ac);
        c->ac = NULL;
        return ERR_NOMEM;
    }
    /* The session holds its own copy of contact.*: the call's is not read again. */
    free(c->contact);
    c->contact = NULL;
    c->call = call;
    c->exec[0] = '\0';
    if (wf != NULL) {
        c->flow = ivr_flow_ref(flow);
        c->flow_id = wf->flow_id;
        c->flow_rev = wf->revision;
        struct ivr_exec_meta m = {
            .tenant = c->ct.tenant_id,
            .flow_id = wf->flow_id,
            .revision = wf->revision,
            .direction = "outbound",
            .call_attempt_id = c->a.id,
            .channel_id = dialer_call_id(call),
            .caller = c->ct.number,
        };
        if (w->rec != NULL && ivr_recorder_begin(w->rec, &m, c->exec) != 0) {
            c->exec[0] = '\0';
        }
    }
    if (!machine && wf != NULL && !c->in_flow) {
        cp->connected++;
        c->in_flow = true;
    }
    ivr_ari_call_bind(c->ac, c->s);
    if (dialer_call_live_us(call) != 0) {
        dialer_hist_observe(DIALER_HIST_EVENT_ACTION, clock_wall_us() - dialer_call_live_us(call));
    }
    /* flow_end may run inside (a flow without waits) */
    ivr_session_start(c->s, "outbound_answered",
                      cp->set.amd ? (machine ? "machine" : "human") : NULL);
    return 0;
}

/*
 * The flow hook (docs/dialer.md section 3): the campaign's flow (the
 * revision resolved at campaign start, pinned for the call) runs on the
 * channel through the IVR's ARI adapter; a machine runs the leave-a-message
 * flow. A live call beyond the campaign's capacity (dialer.ports calls in
 * flows) hears the safe-harbour message and is hung up: abandoned, but
 * within the rule's 2 seconds. Declined (the stand-in runs) when the
 * campaign has no runnable flow.
 */
static int on_connect(void *arg, struct dialer_call *call, bool machine)
{
    struct dialer_wire *w = arg;
    struct wcall *c = dialer_call_user(call);
    struct wcamp *cp = c != NULL ? camp_find(w, c->ct.campaign_id) : NULL;
    if (cp == NULL || w->stopping || w->ivr == NULL) {
        return ERR_NOTFOUND;
    }
    struct wflow *wf = machine ? &cp->mflow : &cp->flow;
    if (wf->state != FLOW_READY) {
        return ERR_NOTFOUND;
    }
    struct ivr_flow *harbour = cp->harbour != NULL ? cp->harbour : w->harbour;
    if (!machine && cp->connected >= (int)w->conf->dialer_ports && harbour != NULL) {
        LOG_INFO(DIALER, "event=safe_harbour id=%s campaign=%" PRId64 " connected=%d own=%d",
                 c->a.id, cp->id, cp->connected, cp->harbour != NULL);
        if (run_flow(w, c, call, cp, harbour, NULL, false) == 0) {
            c->safe_harbour = true;
            return DIALER_CONNECT_SAFE_HARBOUR;
        }
        return ERR_BUSY;
    }
    int rc = run_flow(w, c, call, cp, wf->flow, wf, machine);
    if (rc != 0) {
        LOG_WARN(DIALER, "event=flow_start_failed id=%s err=\"%s\"", c->a.id, err_str(rc));
    }
    return rc;
}

/* The wall's figures of an ended call. */
static void count_end(struct dialer_wire *w, struct wcall *c, struct wcamp *cp,
                      const struct dialer_result *r)
{
    struct dash_entity *e = camp_dash(cp);
    const char *o = r->outcome;
    if (c->answered) {
        dash_add(e, DASH_IN_PROGRESS, -1);
    } else if (c->counted || r->answered) {
        dash_add(e, DASH_RINGING, -1);
    }
    c->answered = false;
    dash_inc(e, DASH_ENDED);
    if (r->answered) {
        dash_inc(e, DASH_ANSWERED);
        dash_add(e, DASH_TALK_MS, (int64_t)(r->talk_s * 1000));
        dash_add(e, DASH_HANDLE_MS, (int64_t)(r->talk_s * 1000));
        dash_inc(e, r->machine ? DASH_MACHINE : DASH_HUMAN);
    }
    if (r->abandoned) {
        dash_inc(e, DASH_ABANDONED);
    } else if (strcmp(o, "busy") == 0) {
        dash_inc(e, DASH_BUSY);
    } else if (strcmp(o, "no_answer") == 0) {
        dash_inc(e, DASH_NO_ANSWER);
    } else if (!r->answered && strcmp(o, "cancelled") != 0) {
        dash_inc(e, DASH_FAILED);
    }
    if (c->trunk_e != NULL) {
        dash_add(c->trunk_e, DASH_CHANNELS, -1);
        dash_inc(c->trunk_e, DASH_ENDED);
        if (r->answered) {
            dash_inc(c->trunk_e, DASH_ANSWERED);
        }
        if (r->failed || dialer_trunk_fault(r->outcome, r->hangup_cause, r->failed)) {
            dash_inc(c->trunk_e, DASH_ERRORS); /* the originate or the route failed */
        }
        c->trunk_e = NULL;
    }
    (void)w;
}

static void record_cap_events(struct dialer_wire *w, const struct wcall *c,
                              const struct dialer_result *r);

/* The wall's figures of an originate that never became a call: as if never launched. */
static void count_not_dialed(struct wcall *c, struct wcamp *cp)
{
    struct dash_entity *e = camp_dash(cp);
    dash_add(e, DASH_RINGING, -1);
    dash_add(e, DASH_ATTEMPTS, -1);
    if (c->trunk_e != NULL) {
        dash_add(c->trunk_e, DASH_CHANNELS, -1);
        dash_add(c->trunk_e, DASH_ATTEMPTS, -1);
        c->trunk_e = NULL;
    }
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
    /* a flow still running (the channel went before the flow noticed) stops */
    c->call = NULL;
    if (c->s != NULL) {
        ivr_session_stop(c->s); /* flow_end runs and frees the session */
        ivr_session_destroy(c->s);
        c->s = NULL;
    }
    ivr_ari_call_destroy(c->ac);
    c->ac = NULL;
    flow_leave(c);
    if (w->stopping) {
        /* left unfinished on purpose: the next start reconciles it */
        wcall_free(c);
        return;
    }
    struct wcamp *cp = camp_find(w, c->ct.campaign_id);
    if (strcmp(r->outcome, "not_dialed") == 0) {
        /* refused before any channel existed: no attempt of the contact */
        LOG_INFO(DIALER, "event=attempt_not_dialed id=%s campaign=%" PRId64, c->a.id,
                 c->ct.campaign_id);
        count_not_dialed(c, cp);
        caps_giveback(c);
        release_slot(c, false, 0);
        close_not_dialed(c, false);
        return;
    }
    count_end(w, c, cp, r);
    if (cp != NULL && cp->ab != NULL && r->live && r->answered_us != 0) {
        struct compliance_call_outcome o = {
            .answered_us = r->answered_us,
            .connected_us = r->connected_us,
            .safe_harbour_us = r->safe_harbour_us,
            .ended_us = r->ended_us,
            .live_human = 1,
        };
        compliance_abandon_record(cp->ab, &o, NULL);
    }
    release_slot(c, r->live, r->live ? r->talk_s : r->ring_s);
    record_cap_events(w, c, r);
    if (cp != NULL && !cp->bad) {
        set = &cp->set;
    } else {
        campaign_settings_default(&defaults);
    }
    LOG_INFO(DIALER, "event=attempt_end id=%s campaign=%" PRId64 " outcome=%s cause=%d", c->a.id,
             c->ct.campaign_id, r->outcome, r->hangup_cause);
    bool tf = dialer_trunk_fault(r->outcome, r->hangup_cause, r->failed);
    if (c->trunk[0] != '\0' && !r->failed) {
        trunk_note(w, c->trunk, tf, clock_wall_us());
    } else if (c->trunk[0] != '\0' && tf) {
        trunk_note(w, c->trunk, true, clock_wall_us());
    }
    finish_attempt(c, set, r->failed, r->outcome, r->hangup_cause, r->disposition,
                   c->ct.attempts + 1, c->ct.attempts_24h + 1, tf);
}

/* ---------------------------------------------------------------- launch */

/* ------------------------------------------------------- contact.* */

static void begun(int status, char *contact, void *arg)
{
    struct wcall *c = arg;
    struct dialer_wire *w = c->w;
    free(c->contact);
    c->contact = contact; /* contact.* for the flow (asked for when the campaign has one) */

    if (w->stopping) {
        wcall_free(c);
        return;
    }
    if (status != 0) {
        /* ERR_CONFLICT: the lease was lost, another node has the contact
         * (nothing was written). Anything else: unknown whether the row
         * committed; never dial it, and close it as not dialed (the close
         * only changes an attempt that exists and is open), so the contact
         * is not left dialing until the next start. */
        LOG_WARN(DIALER, "event=attempt_begin_failed id=%s err=\"%s\"", c->a.id, err_str(status));
        caps_giveback(c);
        release_slot(c, false, 0);
        if (status == ERR_CONFLICT) {
            wcall_free(c);
        } else {
            close_not_dialed(c, true);
        }
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
        .launched_us = c->decided_us,
        .user = c,
    };
    dialer_hist_observe(DIALER_HIST_DECISION, clock_wall_us() - c->decided_us);
    int rc = dialer_call(w->dialer, &req);
    if (rc != 0) {
        launch_end(c);
    } /* else the launch ends when ARI answers the originate (on_originated) */
    if (rc == 0) {
        struct dash_entity *e = camp_dash(cp);
        dash_inc(e, DASH_ATTEMPTS);
        dash_inc(e, DASH_RINGING);
        if (w->dash != NULL) {
            c->trunk_e =
                dash_tenant_trunk(w->dash, c->ct.tenant_id, c->trunk[0] ? c->trunk : "default");
        }
        if (c->trunk_e != NULL) {
            dash_inc(c->trunk_e, DASH_ATTEMPTS);
            dash_inc(c->trunk_e, DASH_CHANNELS);
            dash_set(c->trunk_e, DASH_CAPACITY, trunk_capacity(w, cp, c));
        }
        return;
    }
    if (rc != 0) {
        /* committed but never sent: nothing rang. No server could take it
         * (ERR_BUSY: down, or degraded and not the probe's turn) or no
         * memory: not dialed, the contact goes back with its attempt. A
         * request the dialer refuses as invalid is a failed attempt. */
        LOG_WARN(DIALER, "event=originate_refused id=%s err=\"%s\"", c->a.id, err_str(rc));
        caps_giveback(c);
        release_slot(c, false, 0);
        if (rc == ERR_BUSY || rc == ERR_NOMEM) {
            close_not_dialed(c, false);
            return;
        }
        struct campaign_settings defaults;
        campaign_settings_default(&defaults);
        finish_attempt(c, cp != NULL ? &cp->set : &defaults, true, "failed", -1, NULL,
                       c->ct.attempts + 1, c->ct.attempts_24h + 1, false);
    }
}

/* The contact goes back to the database, due at due_us (a cap blocked it after the launch). */
static void hand_back(struct wcall *c, int64_t due_us, const char *reason)
{
    struct dialer_wire *w = c->w;
    struct campaign_actor who = actor_of(w, c->ct.tenant_id);
    const int64_t ids[1] = { c->ct.id };
    const int64_t due[1] = { due_us };
    const char *reasons[1] = { reason };
    campaign_store_release(next_conn(w), &who, w->node, ids, due, reasons, 1, NULL, NULL);
}

static int begin_attempt(struct wcall *c)
{
    struct dialer_wire *w = c->w;
    struct campaign_actor who = actor_of(w, c->ct.tenant_id);
    compliance_recorder_forget(w->recorder, c->ct.id); /* dialed: its skip streak ends */
    struct wcamp *cp = camp_find(w, c->ct.campaign_id);
    c->a.with_contact =
        cp != NULL && (cp->flow.state == FLOW_READY || cp->mflow.state == FLOW_READY);
    return campaign_store_attempt_begin(next_conn(w), &who, &c->a, begun, c);
}

/*
 * A contact whose cap reservation got no answer (Redis slow or away) goes
 * back due this much later. While Redis is away the global gate grants
 * nothing, so only the launches caught by the outage come here: a short
 * wait costs no churn, and a campaign no longer waits a minute for its last
 * contacts after a Redis stall of seconds.
 */
#define CAP_RETRY_US (5 * US_PER_S)

/* The frequency caps answered (fail closed: no answer, no call). */
static void cap_done(const struct compliance_cap_result *r, void *arg)
{
    struct wcall *c = arg;
    struct dialer_wire *w = c->w;
    if (w->stopping) {
        if (r->outcome == COMPLIANCE_CAP_OK && w->caps != NULL) {
            compliance_caps_release(w->caps, c->ct.tenant_id, c->ct.number, r->reservation);
        }
        wcall_free(c);
        return;
    }
    if (r->outcome == COMPLIANCE_CAP_OK) {
        c->reserved = true;
        snprintf(c->reservation, sizeof(c->reservation), "%s", r->reservation);
        if (begin_attempt(c) == 0) {
            return;
        }
        caps_giveback(c);
        release_slot(c, false, 0);
        hand_back(c, clock_wall_us() + 5 * US_PER_S, NULL);
        wcall_free(c);
        return;
    }
    int64_t now = clock_wall_us();
    int64_t due = r->outcome == COMPLIANCE_CAP_BLOCKED && r->next_eligible_us > now
                      ? r->next_eligible_us
                      : now + CAP_RETRY_US;
    if (r->outcome == COMPLIANCE_CAP_UNAVAILABLE) {
        LOG_WARN(DIALER, "event=cap_unavailable id=%s err=\"%s\" msg=\"not dialed (fail closed)\"",
                 c->a.id, err_str(r->status));
    } else {
        LOG_INFO(DIALER, "event=cap_blocked id=%s rule=%s", c->a.id,
                 r->rule != NULL ? r->rule->id : "");
    }
    struct compliance_decision d;
    if (w->recorder != NULL && compliance_decision_from_caps(c->ct.number, r, now, &d) == 0) {
        record_block(w, &c->ct, &d, now);
    }
    dash_inc(camp_dash(camp_find(w, c->ct.campaign_id)), DASH_BLOCKED_CAP);
    release_slot(c, false, 0);
    hand_back(c, due, campaign_wait_reason_name(CAMPAIGN_WAIT_CAP));
    wcall_free(c);
}

/*
 * Adds the rule sets the campaign selected (compliance.cap_rules) to the n
 * rules already in rules (the state caps of the number's place), each rule
 * once, at most COMPLIANCE_CAP_MAX_RULES. Returns the new count.
 */
static size_t camp_cap_rules(const struct campaign_settings *set,
                             const struct compliance_cap_rule **rules, size_t n)
{
    for (int i = 0; i < set->ncap_sets; i++) {
        size_t m = 0;
        const struct compliance_cap_rule *const *rs = compliance_cap_ruleset(set->cap_sets[i], &m);
        for (size_t k = 0; rs != NULL && k < m; k++) {
            bool dup = false;
            for (size_t j = 0; j < n; j++) {
                dup = dup || rules[j] == rs[k];
            }
            if (!dup && n < COMPLIANCE_CAP_MAX_RULES) {
                rules[n++] = rs[k];
            }
        }
    }
    return n;
}

/*
 * The lockout events of an ended call, in the tenant's shared per-number
 * record (every campaign of the tenant sees them, whatever rule sets it
 * selected): "conversation" (a live call connected: Reg F's 7 days),
 * "abandon" (UK 72 h), "machine" (UK 24 h). Each is kept as long as the
 * longest lockout any rule set starts with it.
 */
static void record_cap_events(struct dialer_wire *w, const struct wcall *c,
                              const struct dialer_result *r)
{
    static const char *const sets[] = { "us-3-per-24h", "us-regf", "fr", "gb" };
    /* A refusal is the flow's disposition `refused` or `do_not_call` on a
     * conversation (France: no call for 60 days after it). */
    const char *const d = r->disposition != NULL ? r->disposition : "";
    const char *evs[2] = {
        r->abandoned             ? "abandon"
        : r->machine             ? "machine"
        : r->live && r->answered ? "conversation"
                                 : NULL,
        r->live && r->answered && !r->machine &&
                (strcmp(d, "refused") == 0 || strcmp(d, "do_not_call") == 0)
            ? "refusal"
            : NULL,
    };
    if (w->caps == NULL || c->ct.number[0] == '\0') {
        return;
    }
    int64_t at = r->ended_us != 0 ? r->ended_us : clock_wall_us();
    for (int e = 0; e < 2; e++) {
        const char *ev = evs[e];
        int64_t keep = 0;
        for (size_t i = 0; ev != NULL && i < sizeof(sets) / sizeof(sets[0]); i++) {
            size_t m = 0;
            const struct compliance_cap_rule *const *rs = compliance_cap_ruleset(sets[i], &m);
            for (size_t k = 0; rs != NULL && k < m; k++) {
                if (rs[k]->kind == COMPLIANCE_CAP_RULE_LOCKOUT && strcmp(rs[k]->event, ev) == 0 &&
                    rs[k]->period_s > keep) {
                    keep = rs[k]->period_s;
                }
            }
        }
        if (keep > 0 && compliance_caps_record_event(w->caps, c->ct.tenant_id, c->ct.number, ev, at,
                                                     keep) != 0) {
            LOG_WARN(DIALER, "event=cap_event_failed id=%s kind=%s", c->a.id, ev);
        }
    }
}

/* Reserves the attempt in the shared frequency caps (the state rules of the
 * number's place and the campaign's rule sets). */
static int reserve_cap(struct dialer_wire *w, const struct wcamp *cp, struct wcall *c)
{
    struct compliance_campaign cc = { .tenant_id = cp->tenant_id,
                                      .campaign_id = cp->id,
                                      .allow_stale_list = 1 };
    struct compliance_decision d;
    const struct compliance_cap_rule *rules[COMPLIANCE_CAP_MAX_RULES];
    int64_t now = clock_wall_us();
    size_t n = 0;
    const struct compliance_place *pl = c->ct.has_place ? &c->ct.place : NULL;
    if (compliance_decide_local(NULL, &cc, c->ct.number, pl, now, &d) == 0) {
        n = compliance_cap_rules_for_place(&d.place, rules, COMPLIANCE_CAP_MAX_RULES);
    }
    n = camp_cap_rules(&cp->set, rules, n);
    return compliance_caps_reserve(w->caps, c->ct.tenant_id, c->ct.number, rules, n, now, cap_done,
                                   c);
}

static int launch(void *arg, const struct campaign_launch *l)
{
    struct dialer_wire *w = arg;
    const struct campaign_contact *ct = l->contact;
    struct wcamp *cp = camp_find(w, ct->campaign_id);
    int rc = 0;
    if (cp == NULL || w->draining) {
        rc = ERR_SHUTDOWN;
    } else if (!dialer_can_call(w->dialer)) {
        /* no Asterisk can take a call (down, or degraded between probes):
         * do not spend an attempt */
        rc = ERR_BUSY;
    }
    struct wcall *c = rc == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        /* the gate's token carried a channel booked in Redis: give it back */
        campaign_limits_release(w->limits, LIMIT_KEY, 1, NULL, NULL);
        trunk_unlaunch(w, NULL);
        return rc != 0 ? rc : ERR_NOMEM;
    }
    c->w = w;
    c->ct = *ct;
    c->decided_us = clock_wall_us();
    const char *tmpl = w->conf->dialer_endpoint;
    c->trunk_idx = -1;
    if (cp->set.ntrunks > 0) {
        /* a fail-over's next trunk, else the first trunk not resting */
        int64_t now = clock_wall_us();
        int t = failover_take(w, ct->id, now);
        c->trunk_idx = t >= 0 && t < cp->set.ntrunks ? t : trunk_pick(w, &cp->set, now);
        trunk_launch(w, ct, c, cp->set.ntrunks);
        tmpl = cp->set.trunks[c->trunk_idx].endpoint;
        snprintf(c->trunk, sizeof(c->trunk), "%s", cp->set.trunks[c->trunk_idx].name);
    }
    rc = campaign_endpoint_render(tmpl, ct->number, c->endpoint, sizeof(c->endpoint));
    if (rc != 0) {
        trunk_unlaunch(w, c);
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
    c->a.process = campaign_limits_self(w->limits);
    c->a.number = c->ct.number;
    c->a.caller_id = c->caller_id[0] ? c->caller_id : NULL;
    c->a.trunk = c->trunk[0] ? c->trunk : NULL;
    c->booked = true; /* the gate's token carried a channel booked in Redis */
    w->nbooked++;
    c->launching = true;
    w->launching++;
    launching_gauge(w);
    c->counted = true;
    c->next = w->calls;
    if (w->calls != NULL) {
        w->calls->prev = c;
    }
    w->calls = c;
    rc = w->caps != NULL ? reserve_cap(w, cp, c) : begin_attempt(c);
    if (rc != 0) {
        /* nothing was sent: the scheduler takes the contact back */
        c->counted = false;
        wcall_free(c); /* gives the channel back */
        return rc;
    }
    return 0;
}

/*
 * The scheduler's gate (campaign_sched_opts.gate): shut while
 * dialer.max-launching launches are in flight, so the contacts wait in the
 * scheduler (leased, no attempt spent) instead of piling queries on
 * PostgreSQL and originates on ARI; else the shared limits' allowance.
 */
static int wire_gate(void *arg, int64_t tenant_id, int want)
{
    struct dialer_wire *w = arg;
    int out = w->launching + w->ew_inflight;
    int cap = w->dialer != NULL ? dialer_launch_window(w->dialer, out) : w->max_launching;
    cap = cap < w->max_launching ? cap : w->max_launching;
    counter_set(&c_window, cap);
    if (want > 0 && out >= cap) {
        counter_inc(&c_launch_waits);
        return 0;
    }
    return campaign_gate_take(w->gate, tenant_id, want);
}

/* ------------------------------------------------- dead processes' calls */

/*
 * A dialerd process that died (kill -9, a lost machine) leaves calls up on
 * Asterisk: their channels stay booked in Redis under its field (its hold
 * key outlives its liveness: campaign/limits.c), and every second each
 * process asks for orphans (processes whose liveness lapsed, each handed to
 * one survivor for 10 s). For an orphan it got, this process adopts the dead
 * process's unfinished attempts in PostgreSQL (campaign_store_adopt: one
 * UPDATE guarded by the holder, so exactly one process adopts each, also
 * against the dead node's own restart), books each adopted call as its own
 * (a wcall with booked set, counted in nbooked) and moves the count in Redis
 * (campaign_limits_takeover: its own count up, the dead field gone, in one
 * script). The calls are watched, not hung up (dialer_adopt_watch): they
 * stay counted until they end, then their attempts are finished once (the
 * ended_at guard) as "lost" with the retry policy, and their call logs
 * written. Bounded: at most ORPHANS_PER_ASK orphans per second, one adoption
 * transaction each; nothing here waits on the loop.
 */
#define ORPHANS_EVERY_US US_PER_S
#define ORPHANS_PER_ASK  4

struct takeover {
    struct dialer_wire *w;
    char process[160];
};

static void takeover_done(int status, int moved, void *arg)
{
    struct takeover *t = arg;
    if (status != 0) {
        /* the dead field stays counted (fail closed); the booking write of
         * the next second (book_sync) counts the adopted calls under ours */
        LOG_WARN(DIALER, "event=takeover_failed process=%s err=\"%s\"", t->process,
                 err_str(status));
    } else if (moved < 0) {
        LOG_WARN(DIALER,
                 "event=takeover_alive process=%s msg=\"the process was stalled, not dead\"",
                 t->process);
    }
    t->w->takeovers--;
    free(t);
}

/*
 * The adopted call's trunk channels: the carrier trunk's limit and the
 * campaign's own limit on it (when this process knows the campaign and it
 * limits the trunk), each counted in its adopted figure for the takeover.
 * The call's trunk stays unnamed (c->trunk): its end says nothing of the
 * trunk's health.
 */
static void adopt_trunk(struct dialer_wire *w, struct wcall *c, const struct wcamp *cp,
                        const char *trunk)
{
    if (trunk[0] == '\0') {
        return;
    }
    c->tl = trunk_limit(w, trunk);
    for (int i = 0; cp != NULL && i < cp->set.ntrunks && i < CAMPAIGN_MAX_TRUNKS; i++) {
        if (strcmp(cp->set.trunks[i].name, trunk) == 0) {
            c->ctl = cp->own[i];
        }
    }
    if (c->tl != NULL) {
        c->tl->nbooked++;
        c->tl->adopted++;
    }
    if (c->ctl != NULL) {
        c->ctl->nbooked++;
        c->ctl->adopted++;
        c->ctl->dirty = true;
    }
}

/* One adopted attempt: a call of this process from now on, its channels booked. */
static bool adopt_one(struct dialer_wire *w, const struct campaign_inflight *v)
{
    struct wcall *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return false;
    }
    const struct wcamp *cp = camp_find(w, v->campaign_id);
    c->w = w;
    c->trunk_idx = -1;
    snprintf(c->a.id, sizeof(c->a.id), "%s", v->id);
    c->a.campaign_id = v->campaign_id;
    c->a.contact_id = v->contact_id;
    c->ct.id = v->contact_id;
    c->ct.tenant_id = v->tenant_id;
    c->ct.campaign_id = v->campaign_id;
    /* the retry decision counts this attempt (attempt_no) */
    c->ct.attempts = v->attempt_no > 0 ? v->attempt_no - 1 : 0;
    c->ct.attempts_24h = c->ct.attempts;
    struct dialer_call_req req = {
        .id = v->id,
        .tenant_id = v->tenant_id,
        .campaign_id = v->campaign_id,
        .contact_id = v->contact_id,
        .number = v->number,
        .caller_id = v->caller_id[0] != '\0' ? v->caller_id : NULL,
        .ring_s = cp != NULL ? cp->set.ring_time_s : CAMPAIGN_RING_MIN_S,
        .user = c,
    };
    if (dialer_adopt_watch(w->dialer, &req, v->started_us) != 0) {
        free(c); /* already known here (cannot be booked twice) */
        return false;
    }
    c->booked = true;
    w->nbooked++;
    adopt_trunk(w, c, cp, v->trunk);
    c->next = w->calls;
    if (w->calls != NULL) {
        w->calls->prev = c;
    }
    w->calls = c;
    return true;
}

/*
 * The keys the adopted calls are counted under, with how many: the global
 * one, every carrier trunk (a dead field there holds its unused tokens at
 * least) and each campaign trunk limit that got calls. Freed by the caller;
 * NULL when out of memory.
 */
static struct campaign_takeover_key *takeover_keys(struct dialer_wire *w, int booked, size_t *n)
{
    size_t max = 1 + (size_t)w->ntl;
    for (struct wtrunk *e = w->own; e != NULL; e = e->next) {
        max += e->adopted > 0 ? 1 : 0;
    }
    struct campaign_takeover_key *v = calloc(max, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    size_t k = 0;
    v[k++] = (struct campaign_takeover_key){ .key = LIMIT_KEY, .n = booked };
    for (int i = 0; i < w->ntl; i++) {
        v[k++] = (struct campaign_takeover_key){ .key = w->tl[i].key, .n = w->tl[i].adopted };
    }
    for (struct wtrunk *e = w->own; e != NULL && k < max; e = e->next) {
        if (e->adopted > 0) {
            v[k++] = (struct campaign_takeover_key){ .key = e->key, .n = e->adopted };
        }
    }
    *n = k;
    return v;
}

static void takeover_adopted(int status, const struct campaign_inflight *v, size_t n, void *arg)
{
    struct takeover *t = arg;
    struct dialer_wire *w = t->w;
    if (status != 0 || w->stopping) {
        /* the claim lapses and the orphan is offered again; its field counts meanwhile */
        LOG_WARN(DIALER, "event=takeover_failed process=%s err=\"%s\"", t->process,
                 err_str(status ? status : ERR_CANCELED));
        w->takeovers--;
        free(t);
        return;
    }
    for (int i = 0; i < w->ntl; i++) {
        w->tl[i].adopted = 0;
    }
    for (struct wtrunk *e = w->own; e != NULL; e = e->next) {
        e->adopted = 0;
    }
    int booked = 0;
    for (size_t i = 0; i < n; i++) {
        booked += adopt_one(w, &v[i]) ? 1 : 0;
    }
    LOG_NOTICE(DIALER, "event=dead_process_adopted process=%s attempts=%zu watched=%d", t->process,
               n, booked);
    /* every key in one step (the calls counted under ours, the dead fields
     * and its hold gone): a failure leaves the dead fields counting until
     * the hold expires, and the absolute writes count the calls under ours */
    size_t nk = 0;
    struct campaign_takeover_key *keys = takeover_keys(w, booked, &nk);
    int rc = keys != NULL
                 ? campaign_limits_takeover_keys(w->limits, t->process, keys, nk, takeover_done, t)
                 : ERR_NOMEM;
    free(keys);
    if (rc != 0) {
        takeover_done(rc, 0, t);
    }
}

static void on_orphans(int status, const struct campaign_orphan *v, size_t n, void *arg)
{
    struct dialer_wire *w = arg;
    w->orphans_sent = false;
    if (status != 0 || w->stopping || w->draining) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct takeover *t = calloc(1, sizeof(*t));
        struct db_conn *conn = next_conn(w);
        if (t == NULL || conn == NULL || !db_conn_is_up(conn)) {
            free(t);
            return; /* the claims lapse: asked again */
        }
        t->w = w;
        snprintf(t->process, sizeof(t->process), "%s", v[i].process);
        LOG_NOTICE(DIALER, "event=dead_process process=%s channels=%d", v[i].process,
                   v[i].channels);
        struct campaign_adopt_req req = { .self = campaign_limits_self(w->limits),
                                          .process = t->process };
        if (campaign_store_adopt(conn, &req, takeover_adopted, t) != 0) {
            free(t);
            return;
        }
        w->takeovers++;
    }
}

static void orphans_check(struct dialer_wire *w, int64_t now)
{
    if (w->orphans_sent || w->takeovers > 0 || w->stopping || w->draining ||
        now - w->orphans_us < ORPHANS_EVERY_US) {
        return;
    }
    w->orphans_us = now;
    w->orphans_sent =
        campaign_limits_orphans(w->limits, LIMIT_KEY, ORPHANS_PER_ASK, on_orphans, w) == 0;
}

#define BOOK_SYNC_US US_PER_S

/*
 * Once a second, the process's channel count in Redis is written as what it
 * holds (calls booked and tokens unused). Commands on the connection run in
 * order, so the releases sent before land first; the count left wrong by an
 * acquire that timed out but ran, or a release refused while Redis was
 * away, is right again within a second. A refill in flight (its grant not
 * counted yet) defers the write to the next tick, and the gate asks no
 * refill until it has gone (campaign_gate_sync): called before the tick's
 * refill, when the previous tick's refill has normally been answered.
 */
static void book_sync(struct dialer_wire *w, int64_t now)
{
    counter_set(&c_booked, w->nbooked + campaign_gate_tokens(w->gate));
    if (now - w->synced_us >= BOOK_SYNC_US &&
        campaign_gate_sync(w->gate, w->nbooked) != ERR_AGAIN) {
        w->synced_us = now;
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dialer_wire *w = t->data;
    (void)loop;
    (void)revents;
    if (w->gate != NULL) {
        book_sync(w, clock_wall_us());
        campaign_gate_refill(w->gate);
    }
    trunk_limits_tick(w, clock_wall_us());
    if (!w->inflight_loaded) {
        return; /* a restart's work comes first: see poll_timer_cb */
    }
    orphans_check(w, clock_wall_us());
    campaign_sched_tick(w->sched, clock_wall_us());
}

/* ------------------------------------------------------------ campaigns */

#define POLL_HEAD                                                                  \
    "SELECT c.id, c.tenant_id, c.state, c.settings::text, "                        \
    "coalesce(string_agg(cl.list_id::text, ',' ORDER BY cl.priority, cl.list_id) " \
    "FILTER (WHERE cl.active), ''), c.name, coalesce(c.flow_id, 0), "              \
    "coalesce(c.flow_revision, 0), "
#define POLL_WHERE                                                                    \
    "WHERE c.state IN ('running', 'paused') OR (c.state IN ('completed', 'stopped') " \
    "AND c.state_changed_at > now() - interval '1 minute') "

/* The campaigns, and every COUNT_EVERY_US their contacts remaining and total (-1: not read). */
static const char POLL_SQL[] =
    POLL_HEAD "-1, -1 FROM campaigns c "
              "LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id " POLL_WHERE "GROUP BY c.id";
static const char POLL_COUNT_SQL[] = POLL_HEAD
    "n.remaining, n.total FROM campaigns c "
    "LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id "
    "LEFT JOIN LATERAL (SELECT count(*) AS total, count(*) FILTER (WHERE ct.state IN "
    "('pending', 'leased', 'dialing')) AS remaining FROM campaign_lists l2 JOIN contacts ct "
    "ON ct.list_id = l2.list_id WHERE l2.campaign_id = c.id AND l2.active) n ON true " POLL_WHERE
    "GROUP BY c.id, n.remaining, n.total";

#define COUNT_EVERY_US (5 * US_PER_S)

/* One row of the poll. */
struct camp_row {
    int64_t id, tenant_id;
    const char *state, *settings, *lists, *name;
    int64_t flow_id;
    int flow_rev;
    int64_t remaining, total;
};

struct poll_tx {
    struct dialer_wire *w;
    struct db_conn *conn;
    int pending;
    int status;
};

static void camp_stop(struct dialer_wire *w, struct wcamp *cp);

static void camp_apply_run(struct dialer_wire *w, struct wcamp *cp);
static void flow_resolve(struct dialer_wire *w, struct wcamp *cp, bool machine, int64_t flow_id,
                         int pin);

static struct ivr_flow *harbour_flow(const struct campaign_settings *s);

/* ------------------------------------------------ abandonment accountant */

/*
 * Each campaign's accountant (compliance_abandon) is restored when this node
 * takes the campaign up, before its first launch: one query reads the
 * campaign's abandon_window, its start (the first change to running in
 * campaign_events; created_at without one) and the live answers and
 * abandoned calls of its call_logs in the current period (the campaign's
 * current 30-day period, or for calendar_day the current day in
 * Europe/London), so a restart (kill -9 included) does not reset the rate
 * the predictive pacer keeps under the cap. The period is computed from this
 * node's clock ($2) by the database and compared with compliance's own
 * computation; should they differ, nothing is restored (logged). Calls
 * counted in a call log not yet written when the node died are lost with it.
 * A failed query is sent again at the next poll; until then the campaign
 * does not launch.
 */
enum ab_state { AB_NONE = 0, AB_LOADING, AB_READY };

static const char ABANDON_RESTORE_SQL[] =
    "WITH c AS (SELECT c.abandon_window AS win, coalesce((SELECT min(e.at) FROM campaign_events e "
    "  WHERE e.campaign_id = c.id AND e.to_state = 'running'), c.created_at) AS started, "
    "  to_timestamp($2::bigint / 1000000.0) AS now FROM campaigns c WHERE c.id = $1::bigint), "
    "p AS (SELECT win, started, CASE WHEN win = 'calendar_day' "
    "  THEN date_trunc('day', now AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London' "
    "  ELSE started + floor(greatest(extract(epoch FROM now - started), 0) / 2592000) "
    "    * interval '30 days' END AS ps FROM c) "
    "SELECT p.win, floor(extract(epoch FROM p.started) * 1000000)::bigint, "
    "floor(extract(epoch FROM p.ps) * 1000000)::bigint, "
    "(SELECT count(*) FROM call_logs l WHERE l.campaign_id = $1::bigint AND l.live_answer "
    "  AND l.ended_at >= p.ps), "
    "(SELECT count(*) FROM call_logs l WHERE l.campaign_id = $1::bigint AND l.abandoned "
    "  AND l.ended_at >= p.ps) FROM p";

struct ab_restore {
    struct dialer_wire *w;
    struct db_conn *conn;
    int64_t campaign_id;
    int64_t now_us;
    int pending;
    bool got;
    enum compliance_abandon_window win;
    int64_t started_us, period_us;
    uint64_t live, abandoned;
};

static double abandon_rate(void *arg, int64_t campaign_id);

static void abandon_restored(struct dialer_wire *w, struct ab_restore *r)
{
    struct wcamp *cp = camp_find(w, r->campaign_id);
    if (cp == NULL || cp->ab_state != AB_LOADING) {
        return;
    }
    if (!r->got) {
        cp->ab_state = AB_NONE; /* the next poll asks again */
        return;
    }
    struct compliance_abandon *ab = NULL;
    int64_t ps = 0, pe = 0;
    if (compliance_abandon_create(r->win, r->started_us, cp->set.abandon_cap_pct, &ab) != 0) {
        LOG_ERR(DIALER, "event=abandon_accountant_failed campaign=%" PRId64, cp->id);
        cp->ab_state = AB_NONE;
        return;
    }
    (void)compliance_abandon_period(ab, r->now_us, &ps, &pe);
    char from[40];
    clock_format_utc(ps, from, sizeof(from));
    if (ps == r->period_us) {
        compliance_abandon_restore(ab, r->now_us, r->live, r->abandoned);
    } else {
        LOG_WARN(DIALER,
                 "event=abandon_restore_skipped campaign=%" PRId64
                 " period_start=%s db_period_start_us=%" PRId64
                 " msg=\"the database computed another period: counting from zero\"",
                 cp->id, from, r->period_us);
    }
    cp->ab = ab;
    cp->ab_state = AB_READY;
    double rate = abandon_rate(w, cp->id); /* what the predictive pacer reads */
    LOG_NOTICE(DIALER,
               "event=abandon_restored campaign=%" PRId64 " window=%s period_start=%s live=%" PRIu64
               " abandoned=%" PRIu64 " rate=%.4f",
               cp->id, r->win == COMPLIANCE_ABANDON_CALENDAR_DAY ? "calendar_day" : "campaign_30d",
               from, ps == r->period_us ? r->live : 0, ps == r->period_us ? r->abandoned : 0,
               rate < 0 ? 0.0 : rate);
    camp_apply_run(w, cp);
}

static void abandon_restore_cb(int status, PGresult *res, void *arg)
{
    struct ab_restore *r = arg;
    if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
        PQnfields(res) == 5 && PQntuples(res) == 1) {
        r->win = strcmp(PQgetvalue(res, 0, 0), "calendar_day") == 0
                     ? COMPLIANCE_ABANDON_CALENDAR_DAY
                     : COMPLIANCE_ABANDON_CAMPAIGN_30D;
        r->started_us = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        r->period_us = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        r->live = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
        r->abandoned = strtoull(PQgetvalue(res, 0, 4), NULL, 10);
        r->got = true;
    } else if (status != 0 && status != ERR_CANCELED && res != NULL) {
        LOG_WARN(DIALER, "event=abandon_restore_failed campaign=%" PRId64 " err=%s", r->campaign_id,
                 err_name(status));
    }
    if (--r->pending > 0) {
        return;
    }
    db_pool_unpin(r->w->db, r->conn);
    if (!r->w->stopping) {
        abandon_restored(r->w, r);
    }
    free(r);
}

/* Sends the restore query for cp (once; again after a failure). */
static void abandon_restore_start(struct dialer_wire *w, struct wcamp *cp)
{
    struct db_conn *conn = NULL;
    if (cp->ab_state != AB_NONE || db_pool_pin(w->db, &conn) != 0) {
        return;
    }
    struct ab_restore *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        db_pool_unpin(w->db, conn);
        return;
    }
    char id[24], now[24];
    r->w = w;
    r->conn = conn;
    r->campaign_id = cp->id;
    r->now_us = clock_wall_us();
    snprintf(id, sizeof(id), "%" PRId64, cp->id);
    snprintf(now, sizeof(now), "%" PRId64, r->now_us);
    const char *params[2] = { id, now };
    const struct db_query qs[4] = {
        { .sql = "BEGIN READ ONLY", .cb = abandon_restore_cb, .arg = r },
        { .sql = "SET LOCAL ROLE dialer_platform", .cb = abandon_restore_cb, .arg = r },
        { .sql = ABANDON_RESTORE_SQL,
          .nparams = 2,
          .params = params,
          .cb = abandon_restore_cb,
          .arg = r },
        { .sql = "COMMIT", .cb = abandon_restore_cb, .arg = r },
    };
    for (int i = 0; i < 4; i++) {
        if (db_query_send(conn, &qs[i], NULL) != 0) {
            if (i == 0) {
                db_pool_unpin(w->db, conn);
                free(r);
                return;
            }
            break;
        }
        r->pending++;
    }
    cp->ab_state = AB_LOADING;
}

static void camp_update(struct dialer_wire *w, const struct camp_row *row)
{
    int64_t id = row->id, tenant = row->tenant_id;
    const char *state = row->state, *settings = row->settings, *lists = row->lists;
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
    camp_dash_register(w, cp); /* before the first figures */
    snprintf(cp->name, sizeof(cp->name), "%s", row->name);
    if (row->total >= 0) {
        cp->remaining = row->remaining;
        cp->total = row->total;
        dash_set(camp_dash(cp), DASH_CONTACTS_REMAINING, row->remaining);
        dash_set(camp_dash(cp), DASH_CONTACTS_TOTAL, row->total);
    }
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
    own_apply(w, cp);
    ivr_flow_unref(cp->harbour); /* calls playing it hold their own reference */
    cp->harbour = set.harbour ? harbour_flow(&cp->set) : NULL;
    campaign_sched_campaign(w->sched, tenant, id, &cp->set, (int)w->conf->dialer_ports, now);
    if (cp->de != NULL) {
        dash_campaign_cap(cp->de, (int64_t)(set.abandon_cap_pct * 100.0 + 0.5));
    }
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
    abandon_restore_start(w, cp); /* once per campaign (again after a failure): launches wait */
    cp->want_running = strcmp(state, "running") == 0 && !w->draining;
    /* the flows are resolved once per campaign start (and when they change) */
    flow_resolve(w, cp, false, row->flow_id, row->flow_rev);
    flow_resolve(w, cp, true,
                 cp->set.machine_action == CAMPAIGN_MACHINE_FLOW ? cp->set.machine_flow_id : 0, 0);
    camp_apply_run(w, cp);
}

static bool flow_settled(const struct wflow *f)
{
    return f->state == FLOW_NONE || f->state == FLOW_READY || f->state == FLOW_MISSING;
}

/* Launches run when the database says running and the flows are resolved. */
static void camp_apply_run(struct dialer_wire *w, struct wcamp *cp)
{
    bool run = cp->want_running && !w->draining && !cp->bad && flow_settled(&cp->flow) &&
               flow_settled(&cp->mflow) && cp->ab_state == AB_READY;
    if (run != cp->running) {
        LOG_NOTICE(DIALER, "event=campaign_%s campaign=%" PRId64, run ? "running" : "paused",
                   cp->id);
        campaign_sched_set_running(w->sched, cp->id, run);
        cp->running = run;
        camp_dash_state(w, cp, run ? DASH_STATE_RUNNING : DASH_STATE_PAUSED);
    }
}

static void wflow_clear(struct wflow *f)
{
    ivr_flow_unref(f->flow);
    *f = (struct wflow){ 0 };
}

struct flow_load {
    struct dialer_wire *w;
    int64_t campaign_id;
    bool machine;
};

static void flow_loaded(void *arg, const struct ivr_store_result *r)
{
    struct flow_load *fl = arg;
    struct dialer_wire *w = fl->w;
    bool machine = fl->machine;
    struct wcamp *cp = w->stopping ? NULL : camp_find(w, fl->campaign_id);
    free(fl);
    struct wflow *f = cp != NULL ? (machine ? &cp->mflow : &cp->flow) : NULL;
    if (f == NULL || f->state != FLOW_LOADING) {
        return;
    }
    struct ivr_flow *flow = NULL;
    struct ivr_report *rep = NULL;
    struct ivr_load_options opt = { 0 };
    if (r->status == 0 && r->definition != NULL &&
        ivr_flow_load(r->definition, strlen(r->definition), &opt, &flow, &rep) == 0 &&
        flow != NULL) {
        f->flow = flow;
        f->revision = r->revision;
        f->state = FLOW_READY;
        LOG_NOTICE(DIALER,
                   "event=campaign_flow campaign=%" PRId64 " flow=%" PRId64 " revision=%d%s",
                   cp->id, f->flow_id, f->revision, machine ? " kind=machine" : "");
    } else {
        /* no published revision (or one that no longer loads): answered
         * calls get the stand-in, and the operator is told */
        f->state = FLOW_MISSING;
        LOG_WARN(DIALER,
                 "event=campaign_flow_missing campaign=%" PRId64 " flow=%" PRId64
                 " err=\"%s\" msg=\"answered calls are hung up after dialer.talk-time\"",
                 cp->id, f->flow_id, r->status != 0 && r->error != NULL ? r->error : "invalid");
    }
    ivr_report_free(rep);
    camp_apply_run(w, cp);
}

static void flow_resolve(struct dialer_wire *w, struct wcamp *cp, bool machine, int64_t flow_id,
                         int pin)
{
    struct wflow *f = machine ? &cp->mflow : &cp->flow;
    if (f->flow_id == flow_id && f->pin == pin && f->state != FLOW_NONE && f->state != FLOW_RETRY) {
        return; /* resolved (or being resolved) for this start */
    }
    if (f->state == FLOW_LOADING) {
        return; /* the answer in flight decides; a change is seen at the next poll */
    }
    wflow_clear(f);
    f->flow_id = flow_id;
    f->pin = pin;
    if (flow_id <= 0 || w->ivr == NULL) {
        f->state = FLOW_NONE;
        f->flow_id = 0;
        return;
    }
    struct flow_load *fl = calloc(1, sizeof(*fl));
    if (fl == NULL) {
        f->state = FLOW_RETRY;
        return;
    }
    fl->w = w;
    fl->campaign_id = cp->id;
    fl->machine = machine;
    f->state = FLOW_LOADING;
    if (ivr_store_load(w->db, cp->tenant_id, flow_id, pin, flow_loaded, fl) != 0) {
        free(fl);
        f->state = FLOW_RETRY;
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
    cp->want_running = false;
    /* a later start resolves the flows again */
    if (cp->flow.state != FLOW_LOADING) {
        wflow_clear(&cp->flow);
    }
    if (cp->mflow.state != FLOW_LOADING) {
        wflow_clear(&cp->mflow);
    }
    if (cp->de != NULL) {
        int st = atomic_load_explicit(&cp->de->state, memory_order_relaxed);
        if (st != DASH_STATE_COMPLETED && st != DASH_STATE_STOPPED) {
            camp_dash_state(w, cp, DASH_STATE_STOPPED);
        }
    }
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
        PQnfields(res) == 10 && !w->stopping) {
        for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
            c->seen = false;
        }
        for (int i = 0; i < PQntuples(res); i++) {
            struct camp_row row = {
                .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
                .tenant_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
                .state = PQgetvalue(res, i, 2),
                .settings = PQgetvalue(res, i, 3),
                .lists = PQgetvalue(res, i, 4),
                .name = PQgetvalue(res, i, 5),
                .flow_id = strtoll(PQgetvalue(res, i, 6), NULL, 10),
                .flow_rev = (int)strtol(PQgetvalue(res, i, 7), NULL, 10),
                .remaining = strtoll(PQgetvalue(res, i, 8), NULL, 10),
                .total = strtoll(PQgetvalue(res, i, 9), NULL, 10),
            };
            if (strcmp(row.state, "running") == 0 || strcmp(row.state, "paused") == 0) {
                camp_update(w, &row);
                continue;
            }
            /* completed or stopped lately: the wall shows which (stopped below) */
            struct wcamp *cp = camp_find(w, row.id);
            if (cp != NULL) {
                if (row.remaining >= 0) {
                    dash_set(camp_dash(cp), DASH_CONTACTS_REMAINING, row.remaining);
                }
                camp_dash_state(w, cp, dash_state_parse(row.state));
            }
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
    /* counting the contacts costs a scan of the lists: not at every poll */
    int64_t now = clock_wall_us();
    bool count = now - w->counted_us >= COUNT_EVERY_US;
    if (count) {
        w->counted_us = now;
    }
    const char *sql[4] = { "BEGIN READ ONLY", "SET LOCAL ROLE dialer_platform",
                           count ? POLL_COUNT_SQL : POLL_SQL, "COMMIT" };
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
    "AND a.outcome <> 'not_dialed' "
    "AND a.started_at > now() - interval '1 day' AND a.started_at < to_timestamp($2::bigint / 1e6) "
    "AND NOT EXISTS (SELECT 1 FROM call_logs l WHERE l.attempt_id = a.id) "
    "ON CONFLICT (attempt_id) DO NOTHING";

static void ask_inflight(struct dialer_wire *w);

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
    t->w->cdr_repair_sent = false;
    if (t->status == 0) {
        t->w->cdr_repaired = true;
        t->w->repair_rounds--;
        ask_inflight(t->w); /* the next step at once, not a poll later */
    }                       /* else the next poll tries again */
    db_pool_unpin(t->w->db, t->conn);
    free(t);
}

static void on_inflight(int status, const struct campaign_inflight *v, size_t n, void *arg);

/* The attempts this node's previous process left in flight, once. */
static void ask_inflight(struct dialer_wire *w)
{
    if (w->cdr_repaired && !w->inflight_loaded && !w->inflight_sent &&
        db_conn_is_up(db_pool_conn(w->db, 0))) {
        /* a claim (campaign_store_adopt): never the attempts a surviving
         * node adopted while this node was down */
        struct campaign_adopt_req req = { .self = campaign_limits_self(w->limits),
                                          .node = w->node };
        w->inflight_sent = campaign_store_adopt(db_pool_conn(w->db, 0), &req, on_inflight, w) == 0;
    }
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
    char start[24];
    snprintf(start, sizeof(start), "%" PRId64, w->start_us);
    const char *node[2] = { w->node, start };
    const struct db_query qs[4] = {
        { .sql = "BEGIN" },
        { .sql = "SET LOCAL ROLE dialer_platform" },
        { .sql = REPAIR_SQL, .nparams = 2, .params = node },
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
    /* adopted calls write no call log of their own (their start is not
     * known here): the repair gives the ones reconciliation ends theirs */
    w->repair_rounds = n > 0 ? 5 : 0;
    for (size_t i = 0; i < n; i++) {
        dialer_adopt(w->dialer, v[i].id, v[i].tenant_id, v[i].campaign_id, v[i].contact_id, NULL);
    }
    LOG_NOTICE(DIALER, "event=inflight_adopted n=%zu", n);
    if (n > 0) {
        dialer_reconcile(w->dialer);
    }
}

/*
 * Scheduled campaigns whose start arrived go running; running campaigns
 * whose contacts are all final go completed (docs/campaign.md section 2a).
 * Every node asks; the database lets one of them change each campaign. The
 * next poll sees the new state and the wall shows it like a manual change.
 */
static void auto_done(int status, enum campaign_auto_kind kind,
                      const struct campaign_auto_change *v, size_t n, void *arg)
{
    struct dialer_wire *w = arg;
    w->auto_sent[kind] = false;
    if (status != 0) {
        LOG_WARN(DIALER, "event=campaign_auto_failed kind=%s err=\"%s\"",
                 kind == CAMPAIGN_AUTO_START ? "start" : "complete", err_str(status));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        LOG_NOTICE(DIALER, "event=campaign_%s campaign=%" PRId64 " tenant=%" PRId64 " who=system",
                   kind == CAMPAIGN_AUTO_START ? "auto_started" : "auto_completed", v[i].id,
                   v[i].tenant_id);
    }
}

/* One kind per poll, in turn (a short transaction on one connection at a
 * time: the calls' contact reads need free connections); completion only
 * while a campaign is running (every node's poll lists all running ones). */
static void auto_states(struct dialer_wire *w)
{
    int k = w->auto_turn++ % 2 == 0 ? CAMPAIGN_AUTO_START : CAMPAIGN_AUTO_COMPLETE;
    bool running = false;
    for (struct wcamp *c = w->camps; c != NULL && !running; c = c->next) {
        running = c->want_running;
    }
    if (k == CAMPAIGN_AUTO_COMPLETE && !running) {
        return;
    }
    struct db_conn *conn = next_conn(w);
    if (!w->auto_sent[k] && conn != NULL && db_conn_is_up(conn)) {
        w->auto_sent[k] = campaign_store_auto(conn, (enum campaign_auto_kind)k, clock_wall_us(),
                                              auto_done, w) == 0;
    }
}

static void poll_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dialer_wire *w = t->data;
    (void)loop;
    (void)revents;
    /*
     * After a restart, in this order and before any new launch (tick_cb
     * waits for inflight_loaded): the campaigns (the adopted attempts'
     * retry decisions need their settings); the call logs the previous
     * process ended but never wrote (only attempts already ended, so
     * nothing the new process will write itself); then the attempts it
     * left in flight, adopted and reconciled. Launching earlier would let
     * the in-flight query return this process's own new attempts and the
     * repair rebuild rows still waiting in the call-log batch. The repair
     * only ever touches attempts started before this process, so the few
     * rounds after adoption (one per poll, for the adopted calls that
     * reconciliation ends) cannot meet a call log this process writes.
     */
    poll_campaigns(w);
    if (w->polled && w->repair_rounds > 0 && !w->cdr_repair_sent) {
        repair_cdrs(w);
    }
    ask_inflight(w);
    if (w->polled && w->inflight_loaded && !w->draining && !w->stopping) {
        auto_states(w);
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

/*
 * A channel with a flow running is both the IVR's (playbacks, DTMF, its
 * hang-up) and the dialer's (the end of the call): the flow sees the event
 * first, so a caller hanging up mid-flow ends the session before the call.
 */
bool dialer_wire_event(struct dialer_wire *w, struct ari_client *c, const struct ari_event *ev)
{
    if (w == NULL) {
        return false;
    }
    bool took = w->ivr != NULL && ivr_ari_dispatch(w->ivr, ev);
    return dialer_on_event(w->dialer, c, ev) || took;
}

void dialer_wire_set_dash(struct dialer_wire *w, struct dash *dash)
{
    if (w == NULL) {
        return;
    }
    w->dash = dash;
    dash_ivr_cache_destroy(w->ivr_dash);
    w->ivr_dash = dash != NULL ? dash_ivr_cache_create(dash) : NULL;
    for (struct wcamp *c = w->camps; c != NULL; c = c->next) {
        c->de = NULL;
        if (dash != NULL) {
            camp_dash_register(w, c);
        }
    }
}

/* The predictive pacer's measured abandonment rate (compliance's accountant). */
static double abandon_rate(void *arg, int64_t campaign_id)
{
    struct dialer_wire *w = arg;
    struct wcamp *cp = camp_find(w, campaign_id);
    struct compliance_abandon_rate r;
    if (cp == NULL || cp->ab == NULL) {
        return -1;
    }
    compliance_abandon_rate(cp->ab, clock_wall_us(), &r);
    return r.live > 0 ? r.rate : -1;
}

/*
 * The safe-harbour message: played when a live call cannot be connected
 * (47 CFR 64.1200(a)(7)(i): a prerecorded message within 2 seconds naming
 * the seller and a number to call), then a hang-up with the disposition
 * "safe_harbour". The campaign's own (settings safe_harbour: its media, or
 * its text spoken), else (s NULL or no block) the deployment's recording
 * "sound:safe-harbour".
 */
static struct ivr_flow *harbour_flow(const struct campaign_settings *s)
{
    bool own = s != NULL && s->harbour;
    bool say = own && s->harbour_media[0] == '\0';
    const char *what = !own ? "sound:safe-harbour" : say ? s->harbour_text : s->harbour_media;
    json_t *doc =
        json_pack("{s:s, s:s, s:{s:{s:s, s:{s:s}}, s:{s:s, s:{s:s, s:s, s:[{s:s}]}}}}", "format",
                  "ivrflow/1", "start", "s", "nodes", "s", "type", "start", "next", "next", "h",
                  "h", "type", "hangup", "props", "cause", "normal", "disposition", "safe_harbour",
                  "final_prompt", say ? "say" : "play", what);
    struct ivr_flow *f = NULL;
    struct ivr_report *rep = NULL;
    struct ivr_load_options opt = { 0 };
    if (doc != NULL && ivr_flow_load_json(doc, &opt, &f, &rep) != 0) {
        f = NULL;
    }
    ivr_report_free(rep);
    json_decref(doc);
    return f;
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
    w->start_us = clock_wall_us();
    w->repair_rounds = 1;
    w->db = deps->db;
    for (int i = 0; w->db != NULL && i < db_pool_size(w->db); i++) {
        if (campaign_store_prepare(db_pool_conn(w->db, i)) != 0) {
            LOG_WARN(DIALER, "event=prepare_failed conn=%d msg=\"attempt statements sent as text\"",
                     i);
        }
    }
    w->kv = deps->kv;
    w->ari = deps->ari;
    w->dnc = deps->dnc;
    w->ivr = deps->ivr;
    w->secrets = deps->secrets;
    if (w->db != NULL && compliance_recorder_create(w->db, 0, &w->recorder) != 0) {
        LOG_WARN(DIALER, "event=decision_records_off msg=\"out of memory\"");
    }
    snprintf(w->node, sizeof(w->node), "%s", conf->node_id);
    snprintf(w->actor, sizeof(w->actor), "dialer:%s", conf->node_id);
    *out = w;

    w->max_launching = (int)conf->dialer_max_launching;
    if (w->max_launching <= 0) {
        /* a quarter second of the configured rate, and at least 32 per database
         * connection: a launch takes one write (attempt_begin) and at most one
         * more (its end) on the pool */
        int64_t m = conf->dialer_cps / 4;
        int64_t floor = conf->db_pool_size * 32;
        w->max_launching = (int)(m > floor ? m : floor);
    }
    struct dialer_config dc = {
        .loop = w->loop,
        .ari = w->ari,
        .db = w->db,
        .app = conf->ari_app,
        .node = conf->node_id,
        .talk_ms = conf->dialer_talk_ms,
        .originate_target_ms =
            conf->dialer_originate_target_ms > 0 ? conf->dialer_originate_target_ms : -1,
        .window_max = w->max_launching,
    };
    struct dialer_hooks dh = { .answered = on_answered,
                               .connect = on_connect,
                               .ended = on_ended,
                               .originated = on_originated,
                               .arg = w };
    rc = dialer_create(&dc, &dh, &w->dialer);
    if (rc != 0) {
        return rc;
    }
    if (w->ivr != NULL) {
        w->harbour = harbour_flow(NULL);
        rc = w->harbour != NULL ? ivr_recorder_create(w->loop, w->db, 0, 0, &w->rec) : ERR_INVAL;
        if (rc != 0) {
            return rc;
        }
    }
    if (w->kv != NULL) {
        rc = compliance_caps_create(w->kv, NULL, &w->caps);
        if (rc != 0) {
            return rc;
        }
    }
    rc = campaign_limits_create(w->kv, "dialer:", w->node, 15, &w->limits);
    if (rc != 0) {
        return rc;
    }
    struct campaign_limit_spec spec = {
        .key = LIMIT_KEY,
        .cps = (double)conf->dialer_cps,
        /* 50 ms of the rate (at least one): a bucket of a whole second's tokens, full after
         * any pause (idle cluster, channel cap reached), let a second hold up to twice the
         * global CPS */
        .burst = conf->dialer_cps >= 20 ? (double)conf->dialer_cps / 20.0 : 1.0,
        .max_channels = (int)conf->dialer_max_channels,
    };
    int chunk = (int)(conf->dialer_cps / 10);
    rc = campaign_gate_create(w->limits, &spec, chunk < 1 ? 1 : chunk, &w->gate);
    if (rc != 0) {
        return rc;
    }
    rc = trunk_limits_create(w);
    if (rc != 0) {
        return rc;
    }
    struct campaign_sched_opts so = {
        .verdict = verdict,
        .verdict_arg = w,
        .launch = launch,
        .launch_arg = w,
        .gate = wire_gate,
        .gate_arg = w,
        .room = wire_room,
        .room_arg = w,
        .abandon = { .rate = abandon_rate, .arg = w },
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
    counter_register(&c_end_queued);
    counter_register(&c_launching);
    counter_register(&c_window);
    counter_register(&c_launch_waits);
    counter_register(&c_booked);
    counter_register(&c_end_retried);
    counter_register(&c_end_dropped);
    counter_register(&c_not_dialed);
    counter_register(&c_own_waits);
    counter_register(&c_own_overflows);
    ev_timer_init(&w->ew_timer, endw_timer_cb, 0, 0);
    w->ew_timer.data = w;
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
    trunk_limits_flush(w);
}

void stop_dialer(struct dialer_wire *w)
{
    if (w == NULL) {
        return;
    }
    dialer_wire_drain(w);
    w->stopping = true;
    compliance_recorder_stop(w->recorder);
    ev_timer_stop(w->loop, &w->tick);
    ev_timer_stop(w->loop, &w->poll);
    ev_timer_stop(w->loop, &w->ew_timer);
    if (w->ew_n > 0) {
        LOG_WARN(DIALER, "event=attempt_finish_unwritten n=%zu msg=\"settled at the next start\"",
                 w->ew_n);
    }
    campaign_lessor_destroy(w->lessor);
    w->lessor = NULL;
    /* flows still running end (IVR_END_SHUTDOWN); their calls stay for reconciliation */
    for (struct wcall *c = w->calls; c != NULL; c = c->next) {
        c->call = NULL;
        if (c->s != NULL) {
            ivr_session_stop(c->s);
            ivr_session_destroy(c->s);
            c->s = NULL;
        }
        ivr_ari_call_destroy(c->ac);
        c->ac = NULL;
    }
    if (w->dialer != NULL) {
        dialer_cdr_flush(w->dialer);
    }
    if (w->rec != NULL) {
        ivr_recorder_flush(w->rec);
    }
    ivr_recorder_destroy(w->rec); /* the flush in flight completes */
    w->rec = NULL;
    compliance_caps_destroy(w->caps); /* reserves in flight still answer */
    w->caps = NULL;
}

void dialer_wire_free(struct dialer_wire *w)
{
    if (w == NULL) {
        return;
    }
    w->stopping = true;
    dialer_destroy(w->dialer);
    ivr_recorder_destroy(w->rec);
    compliance_caps_destroy(w->caps);
    ivr_flow_unref(w->harbour);
    campaign_sched_destroy(w->sched);
    campaign_gate_destroy(w->gate);
    while (w->calls != NULL) {
        wcall_free(w->calls);
    }
    trunk_limits_free(w);
    campaign_limits_destroy(w->limits);
    if (w->loop != NULL) {
        ev_timer_stop(w->loop, &w->ew_timer);
    }
    while (w->ew_head != NULL) {
        struct endw *e = w->ew_head;
        w->ew_head = e->next;
        free(e);
    }
    w->ew_tail = NULL;
    w->ew_n = 0;
    for (size_t b = 0; b < FAILOVER_BUCKETS; b++) {
        while (w->fo[b] != NULL) {
            struct failover *f = w->fo[b];
            w->fo[b] = f->next;
            free(f);
        }
    }
    counter_set(&c_end_queued, 0);
    while (w->camps != NULL) {
        struct wcamp *n = w->camps->next;
        wflow_clear(&w->camps->flow);
        wflow_clear(&w->camps->mflow);
        compliance_abandon_destroy(w->camps->ab);
        ivr_flow_unref(w->camps->harbour);
        free(w->camps);
        w->camps = n;
    }
    compliance_recorder_destroy(w->recorder);
    dash_ivr_cache_destroy(w->ivr_dash);
    free(w);
}
