/* SPDX-License-Identifier: MIT */
/*
 * dialer: the call objects, the ARI event state machine and restart
 * reconciliation. The design is in dialer/dialer.h and docs/dialer.md.
 */
#include "dialer/dialer.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "dialer/dialer_int.h"

enum { BUCKETS = 1 << 16 };

/*
 * A call whose channel never reports its end (a lost event, a simulator or
 * a switch that dropped it) must not stay in flight for ever: past the ring
 * time plus GUARD_S without an answer, or AMD_GUARD_S without an AMD verdict,
 * the dialer hangs the channel up and ends the call itself.
 */
#define GUARD_S     15.0
#define AMD_GUARD_S 30.0

/* A 5xx originate's channel check: tries, first delay (doubling). */
#define DIALER_CHECK_TRIES   7
#define DIALER_CHECK_FIRST_S 0.25

enum phase {
    PH_DIALING,   /* originate sent, not answered */
    PH_AMD,       /* answered, sent to AMD, waiting for StasisStart(amd) */
    PH_CONNECTED, /* live (or machine in a flow): talking */
    PH_HANGUP,    /* we asked for the hang-up */
    PH_ADOPTED,   /* restart: state unknown, waiting for reconciliation */
};

struct dialer_call {
    struct dialer_call *next; /* bucket chain */
    struct dialer *d;
    struct ari_client *client; /* server of the channel; NULL when adopted */
    struct ari_dial_tracker tr;
    enum phase phase;
    bool amd;
    bool machine_flow;
    bool machine;
    bool live;
    bool flow; /* the connect hook took it */
    bool originate_failed;
    bool offline;       /* dialer_call_track: requests are taken as sent, nothing goes out */
    bool probe;         /* the originate is a degraded server's probe */
    bool checking;      /* a 5xx originate: GET /channels/{id} decides */
    bool watch;         /* adopted from a dead process: kept up and watched (dialer_adopt_watch) */
    unsigned watch_srv; /* the server asked next while looking for the channel */
    bool orig_pending;  /* the originate's ARI answer has not come (hooks.originated owed) */
    int check_tries;
    int hangup_tries; /* DELETEs refused (5xx, transport): sent again with a back-off */
    unsigned events;  /* ARI events seen for the channel */
    const char *amd_result;
    int reconcile_gone; /* servers that reported it gone (adopted calls) */
    int ring_s;
    int64_t tenant_id, campaign_id, contact_id;
    int64_t started_us, answered_us, human_us, connected_us, safe_harbour_us;
    int64_t launched_us; /* the caller's launch began (the window's latency) */
    void *user;
    ev_timer talk;
    ev_timer guard; /* no answer / no AMD verdict in time (GUARD_S) */
    ev_timer check; /* the next GET /channels/{id} of a 5xx originate */
    char id[DIALER_ID_MAX];
    char number[DIALER_E164_MAX];
    char caller_id[DIALER_E164_MAX];
    char disposition[64];
};

static unsigned hash_id(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h & (BUCKETS - 1);
}

static struct dialer_call *find(const struct dialer *d, const char *id)
{
    if (id == NULL) {
        return NULL;
    }
    for (struct dialer_call *c = d->buckets[hash_id(id)]; c != NULL; c = c->next) {
        if (strcmp(c->id, id) == 0) {
            return c;
        }
    }
    return NULL;
}

static void unlink_call(struct dialer *d, struct dialer_call *call)
{
    struct dialer_call **pp = &d->buckets[hash_id(call->id)];
    while (*pp != NULL && *pp != call) {
        pp = &(*pp)->next;
    }
    if (*pp == call) {
        *pp = call->next;
        d->n_calls--;
    }
}

size_t dialer_call_size(void)
{
    return sizeof(struct dialer_call);
}

const char *dialer_call_id(const struct dialer_call *call)
{
    return call->id;
}

const char *dialer_call_number(const struct dialer_call *call)
{
    return call->number;
}

struct ari_client *dialer_call_client(const struct dialer_call *call)
{
    return call->client;
}

int64_t dialer_call_live_us(const struct dialer_call *call)
{
    return call->human_us != 0 ? call->human_us : call->answered_us;
}

void *dialer_call_user(const struct dialer_call *call)
{
    return call->user;
}

/* --------------------------------------------------------------- ending */

/*
 * The Q.850 cause of an unanswered call's outcome, for when the channel's
 * own cause is 0 (Unknown): with a Local/ endpoint the far half carries the
 * real cause and our half ends with 0 (captures 03 and 05), while the Dial
 * status still tells what happened.
 */
static int cause_of_dial(enum ari_dial_outcome o)
{
    switch (o) {
    case ARI_DIAL_BUSY:
        return 17; /* user busy */
    case ARI_DIAL_NO_ANSWER:
        return 19; /* no answer from user (user alerted) */
    case ARI_DIAL_CONGESTION:
        return 34; /* no circuit/channel available */
    case ARI_DIAL_REJECTED:
        return 21; /* call rejected */
    default:
        return -1;
    }
}

/*
 * How an adopted call ended: "lost" unless it was seen answered (its channel
 * Up at a watch), then "human": the contact took the call on the dead node,
 * so it is final, never dialed again by the failed class's policy. Whether a
 * machine answered is not known (the AMD result died with the node).
 */
static const char *adopted_outcome(const struct dialer_call *call)
{
    return call->answered_us != 0 ? "human" : "lost";
}

static const char *outcome_of(const struct dialer_call *call, int *cause)
{
    const struct ari_dial_tracker *t = &call->tr;
    *cause = t->destroyed_cause > 0 ? t->destroyed_cause
             : t->hangup_cause > 0  ? t->hangup_cause
                                    : t->destroyed_cause;
    if (*cause <= 0 && call->answered_us == 0) {
        int c = cause_of_dial(ari_dial_tracker_outcome(t));
        *cause = c > 0 ? c : *cause;
    }
    if (call->answered_us != 0) {
        if (call->machine) {
            return "machine";
        }
        return "human";
    }
    switch (ari_dial_tracker_outcome(t)) {
    case ARI_DIAL_BUSY:
        return "busy";
    case ARI_DIAL_NO_ANSWER:
        return "no_answer";
    case ARI_DIAL_CONGESTION:
        return "congestion";
    case ARI_DIAL_REJECTED:
        return "rejected";
    case ARI_DIAL_UNAVAILABLE:
    case ARI_DIAL_UNALLOCATED: /* an invalid number: unreachable (the failed class) */
        return "unreachable";
    case ARI_DIAL_CANCELLED:
        return "cancelled";
    case ARI_DIAL_ANSWERED:
        return "human";
    default:
        return "failed";
    }
}

static void queue_cdr(struct dialer *d, const struct dialer_call *call,
                      const struct dialer_result *r, int64_t now)
{
    struct dialer_cdr row = { 0 };
    snprintf(row.attempt_id, sizeof(row.attempt_id), "%s", call->id);
    row.tenant_id = call->tenant_id;
    row.campaign_id = call->campaign_id;
    snprintf(row.number, sizeof(row.number), "%s", call->number);
    snprintf(row.caller_id, sizeof(row.caller_id), "%s", call->caller_id);
    row.started_us = call->started_us;
    row.answered_us = call->answered_us;
    row.human_us = call->live ? (call->human_us ? call->human_us : call->answered_us) : 0;
    row.ended_us = now < call->started_us ? call->started_us : now;
    row.ring_timeout_s = call->ring_s;
    row.ring_ms = (int64_t)(r->ring_s * 1000);
    row.talk_ms = (int64_t)(r->talk_s * 1000);
    row.total_ms = (row.ended_us - row.started_us) / 1000;
    snprintf(row.outcome, sizeof(row.outcome), "%s", r->outcome);
    snprintf(row.disposition, sizeof(row.disposition), "%s", r->disposition ? r->disposition : "");
    row.hangup_cause = r->hangup_cause >= 0 && r->hangup_cause <= 127 ? r->hangup_cause : -1;
    snprintf(row.amd, sizeof(row.amd), "%s", r->amd_result ? r->amd_result : "");
    row.live = r->live;
    row.connected_us = call->connected_us;
    row.safe_harbour_us = call->safe_harbour_us;
    row.abandoned = r->abandoned;
    dialer_cdr_push(d, &row);
}

static void originate_answered(struct dialer_call *call, int status);

/* Ends call with outcome (NULL: from its events), runs the hook, queues the CDR, frees it. */
static void end_call(struct dialer_call *call, const char *outcome, int cause)
{
    struct dialer *d = call->d;
    int64_t now = clock_wall_us();
    struct dialer_result r = { 0 };

    ev_timer_stop(d->loop, &call->talk);
    ev_timer_stop(d->loop, &call->guard);
    ev_timer_stop(d->loop, &call->check);
    unlink_call(d, call);
    if (call->watch) {
        d->n_watched--;
    }
    originate_answered(call, ERR_CANCELED);
    if (outcome == NULL) {
        outcome = outcome_of(call, &cause);
    }
    r.id = call->id;
    r.tenant_id = call->tenant_id;
    r.campaign_id = call->campaign_id;
    r.contact_id = call->contact_id;
    r.user = call->user;
    r.outcome = outcome;
    r.hangup_cause = cause;
    r.failed = call->originate_failed;
    r.answered = call->answered_us != 0;
    r.live = call->live;
    r.amd_result = call->amd
                       ? (call->amd_result ? call->amd_result : (r.answered ? "hangup" : NULL))
                       : (r.answered ? "off" : NULL);
    r.disposition = call->disposition[0] ? call->disposition : NULL;
    int64_t ans = call->answered_us ? call->answered_us : now;
    r.ring_s = (double)(ans - call->started_us) / 1e6;
    r.talk_s = call->answered_us ? (double)(now - call->answered_us) / 1e6 : 0;
    if (r.ring_s < 0) {
        r.ring_s = 0;
    }
    r.machine = call->machine;
    r.answered_us = call->answered_us;
    r.human_us = call->live ? (call->human_us ? call->human_us : call->answered_us) : 0;
    r.connected_us = call->connected_us;
    r.safe_harbour_us = call->safe_harbour_us;
    r.ended_us = now;
    if (call->live && call->answered_us != 0 && strcmp(outcome, "human") == 0) {
        /* the 2-second rule: measured from the answer (AMD time counts) */
        struct compliance_call_outcome o = {
            .answered_us = call->answered_us,
            .connected_us = call->connected_us,
            .safe_harbour_us = call->safe_harbour_us,
            .ended_us = now > call->answered_us ? now : call->answered_us,
            .live_human = 1,
        };
        struct compliance_abandon_proof proof;
        if (compliance_abandon_classify(&o, &proof) == 0 && proof.abandoned) {
            r.abandoned = true;
            r.outcome = outcome = "abandoned";
        }
    }
    d->st.ended++;
    if (strcmp(outcome, "not_dialed") == 0) {
        d->st.not_dialed++;
    } else if (call->started_us != 0) { /* adopted calls: the start is not known, no CDR */
        queue_cdr(d, call, &r, now);
    }
    LOG_DEBUG(DIALER, "event=call_end id=%s outcome=%s cause=%d", call->id, outcome, cause);
    if (d->hooks.ended != NULL) {
        d->hooks.ended(d->hooks.arg, &r);
    }
    free(call);
}

/* A refused hang-up is sent again: 0.25 s doubling to 4 s, for about a minute. */
#define HANGUP_TRIES 18

static void hangup_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct dialer *d = arg;
    const char *id = res->resource_id;
    struct dialer_call *call;
    (void)c;
    if (res->error != ARI_OK && res->error != ARI_E_NOT_FOUND && (call = find(d, id)) != NULL &&
        call->phase == PH_HANGUP) {
        /* the server failed (a 5xx burst, a dropped connection): a channel
         * we meant to end must not stay up, so the hang-up goes again (the
         * talk timer is free once we hang up: it sends it) */
        if (++call->hangup_tries < HANGUP_TRIES) {
            int k = call->hangup_tries < 5 ? call->hangup_tries : 5;
            ev_timer_stop(d->loop, &call->talk);
            ev_timer_set(&call->talk, 0.125 * (double)(1 << k), 0);
            ev_timer_start(d->loop, &call->talk);
            if (call->hangup_tries == 1) {
                LOG_WARN(DIALER, "event=hangup_failed id=%s err=%s msg=\"sent again\"", call->id,
                         ari_error_name(res->error));
            }
        } else {
            LOG_ERR(DIALER, "event=hangup_failed id=%s err=%s msg=\"given up; the call ends here\"",
                    call->id, ari_error_name(res->error));
            end_call(call, NULL, -1);
        }
        return;
    }
    /* An adopted channel: hung up, or gone already (404). Its events may
     * never reach this process (they went to the previous one's
     * subscription), so it ends here; a late ChannelDestroyed finds nothing. */
    if ((res->error == ARI_OK || res->error == ARI_E_NOT_FOUND) && (call = find(d, id)) != NULL &&
        call->phase == PH_ADOPTED) {
        end_call(call, "lost", -1);
    }
}

static void hang_up(struct dialer_call *call, const char *reason)
{
    if (call->offline && call->phase != PH_ADOPTED) {
        call->phase = PH_HANGUP;
        return;
    }
    if (call->client == NULL) {
        return;
    }
    if (call->phase != PH_ADOPTED) {
        call->phase = PH_HANGUP;
    }
    int rc = ari_channel_hangup(call->client, call->id, reason, hangup_done, call->d, NULL);
    if (rc != 0) {
        LOG_WARN(DIALER, "event=hangup_failed id=%s err=\"%s\"", call->id, err_str(rc));
    }
}

static void talk_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dialer_call *call = w->data;
    (void)loop;
    (void)revents;
    hang_up(call, NULL);
}

void dialer_call_set_disposition(struct dialer_call *call, const char *disposition)
{
    if (call != NULL && disposition != NULL) {
        snprintf(call->disposition, sizeof(call->disposition), "%s", disposition);
    }
}

void dialer_call_left(struct dialer_call *call, const char *disposition)
{
    if (call == NULL) {
        return;
    }
    dialer_call_set_disposition(call, disposition);
    end_call(call, NULL, -1);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dialer_call *call = w->data;
    (void)loop;
    (void)revents;
    LOG_WARN(DIALER, "event=call_guard id=%s phase=%s msg=\"no end reported; hung up\"", call->id,
             call->phase == PH_AMD ? "amd" : "dialing");
    if (call->phase != PH_HANGUP) {
        hang_up(call, NULL);
    }
    end_call(call, call->answered_us != 0 ? NULL : "lost", -1);
}

int dialer_call_end(struct dialer_call *call, const char *disposition)
{
    if (call == NULL) {
        return ERR_INVAL;
    }
    if (disposition != NULL) {
        snprintf(call->disposition, sizeof(call->disposition), "%s", disposition);
    }
    if (call->phase == PH_HANGUP) {
        return 0;
    }
    hang_up(call, NULL);
    return 0;
}

/* ------------------------------------------------------------ answering */

/* A live answer (or a machine whose campaign leaves a message). */
static void connect_call(struct dialer_call *call)
{
    struct dialer *d = call->d;
    call->phase = PH_CONNECTED;
    if (call->live) {
        d->st.live++;
        if (d->hooks.answered != NULL) {
            d->hooks.answered(d->hooks.arg, call->user,
                              (double)(call->answered_us - call->started_us) / 1e6);
        }
    }
    int64_t now = clock_wall_us();
    int rc = d->hooks.connect != NULL ? d->hooks.connect(d->hooks.arg, call, call->machine) : -1;
    if (rc == 0) {
        call->flow = true;
        if (call->connected_us == 0) {
            call->connected_us = now;
        }
        return;
    }
    if (rc == DIALER_CONNECT_SAFE_HARBOUR) {
        call->flow = true;
        if (call->safe_harbour_us == 0) {
            call->safe_harbour_us = now;
        }
        return;
    }
    /* No flow: the stand-in talk time (it stands for the flow, so the call
     * counts as connected), then hang up with a disposition. */
    call->connected_us = now;
    snprintf(call->disposition, sizeof(call->disposition), "no_flow");
    ev_timer_set(&call->talk, (double)d->talk_ms / 1000.0, 0);
    ev_timer_start(d->loop, &call->talk);
}

static void continue_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct dialer *d = arg;
    struct dialer_call *call;
    (void)c;
    if (res->error != ARI_OK && (call = find(d, res->resource_id)) != NULL &&
        call->phase == PH_AMD) {
        /* AMD unavailable: a person may be listening; treat as live. */
        LOG_WARN(DIALER, "event=amd_failed id=%s err=%s", call->id, ari_error_name(res->error));
        call->amd_result = "notsure";
        call->live = true;
        connect_call(call);
    }
}

static void on_stasis_start(struct dialer_call *call, const struct ari_event *ev)
{
    struct dialer *d = call->d;
    const struct ari_ev_stasis_start *ss = &ev->stasis_start;

    if (call->phase == PH_AMD && ss->n_args >= 2 && strcmp(ss->args[0], "amd") == 0) {
        const char *st = ss->args[1];
        ev_timer_stop(d->loop, &call->guard);
        if (strcmp(st, "MACHINE") == 0) {
            call->amd_result = "machine";
            call->machine = true;
            if (call->machine_flow) {
                connect_call(call);
            } else {
                hang_up(call, NULL);
            }
        } else {
            call->amd_result = strcmp(st, "HUMAN") == 0 ? "human" : "notsure";
            call->live = true;
            call->human_us = clock_wall_us();
            connect_call(call);
        }
        return;
    }
    if (call->phase != PH_DIALING) {
        return;
    }
    call->answered_us = clock_wall_us();
    d->st.answered++;
    ev_timer_stop(d->loop, &call->guard);
    if (call->amd) {
        call->phase = PH_AMD;
        if (!call->offline) {
            ev_timer_set(&call->guard, AMD_GUARD_S, 0);
            ev_timer_start(d->loop, &call->guard);
        }
        int rc = 0; /* offline (tests): taken as sent */
        if (!call->offline) {
            rc = call->client == NULL ? ERR_INVAL
                                      : ari_channel_continue(call->client, call->id, d->amd_context,
                                                             "s", 1, NULL, continue_done, d, NULL);
        }
        if (rc == 0) {
            return;
        }
        call->amd_result = "notsure";
    }
    call->live = true;
    connect_call(call);
}

bool dialer_on_event(struct dialer *d, struct ari_client *c, const struct ari_event *ev)
{
    const char *ids[4];
    size_t n = ari_event_channel_ids(ev, ids, 4);
    bool mine = false;

    for (size_t i = 0; i < n; i++) {
        struct dialer_call *call = find(d, ids[i]);
        if (call == NULL) {
            continue;
        }
        mine = true;
        call->events++;
        if (call->client == NULL) {
            call->client = c;
        }
        ari_dial_tracker_feed(&call->tr, ev);
        if (call->phase == PH_ADOPTED && ev->type != ARI_EVENT_CHANNEL_DESTROYED) {
            continue; /* an adopted call's flow is gone: only its end matters */
        }
        switch (ev->type) {
        case ARI_EVENT_STASIS_START:
            if (strcmp(ids[i], call->id) == 0) {
                on_stasis_start(call, ev);
            }
            break;
        case ARI_EVENT_CHANNEL_DESTROYED:
            if (strcmp(ids[i], call->id) == 0) {
                /* an adopted call's history is unknown: its outcome from what was
                 * seen of it, with the real cause */
                end_call(call, call->phase == PH_ADOPTED ? adopted_outcome(call) : NULL,
                         call->phase == PH_ADOPTED ? ev->channel_destroyed.cause : -1);
                return true;
            }
            break;
        default:
            break;
        }
    }
    return mine;
}

/* ----------------------------------------------------------- originating */

/* The originate's answer (or the call's end before it): hooks.originated, once. */
static void originate_answered(struct dialer_call *call, int status)
{
    struct dialer *d = call->d;
    if (!call->orig_pending) {
        return;
    }
    call->orig_pending = false;
    d->originating--;
    if (d->hooks.originated != NULL) {
        d->hooks.originated(d->hooks.arg, call->user, status);
    }
}

/* ----------------------------------------------- server admission (D2) */

enum dialer_admit dialer_probe_admit(struct dialer_probe *p, enum ari_health h, int64_t now_us,
                                     bool launch)
{
    if (h == ARI_HEALTH_UP) {
        p->cleared = false;
        p->claimed = false;
        p->backoff_us = 0;
        return DIALER_ADMIT_YES;
    }
    if (h != ARI_HEALTH_DEGRADED) {
        return DIALER_ADMIT_NO;
    }
    if (p->cleared) {
        return DIALER_ADMIT_YES;
    }
    if (p->probing) {
        return DIALER_ADMIT_NO;
    }
    if (p->claimed && now_us - p->claimed_us > DIALER_PROBE_CLAIM_US) {
        p->claimed = false; /* the launch never came to the originate */
    }
    if (launch) {
        if (p->claimed || now_us < p->next_us) {
            return DIALER_ADMIT_NO;
        }
        p->claimed = true;
        p->claimed_us = now_us;
        return DIALER_ADMIT_PROBE;
    }
    if (!p->claimed && now_us < p->next_us) {
        return DIALER_ADMIT_NO;
    }
    p->claimed = false;
    p->probing = true;
    return DIALER_ADMIT_PROBE;
}

void dialer_probe_result(struct dialer_probe *p, bool probe, bool ok, int64_t now_us)
{
    if (probe) {
        p->probing = false;
    }
    if (ok) {
        p->cleared = true;
        p->backoff_us = 0;
        return;
    }
    p->cleared = false;
    if (probe || p->backoff_us == 0) {
        /* a failed probe doubles the spacing; calls already out do not */
        p->backoff_us = p->backoff_us == 0 ? DIALER_PROBE_MIN_US : p->backoff_us * 2;
        if (p->backoff_us > DIALER_PROBE_MAX_US) {
            p->backoff_us = DIALER_PROBE_MAX_US;
        }
    }
    if (p->next_us < now_us + p->backoff_us) {
        p->next_us = now_us + p->backoff_us;
    }
}

enum dialer_orig_class dialer_originate_class(enum ari_error e, long http_status,
                                              const char *message)
{
    switch (e) {
    case ARI_E_NOT_IN_STASIS:
        return message != NULL && strstr(message, "already exists") != NULL ? DIALER_ORIG_REPEATED
                                                                            : DIALER_ORIG_FAILED;
    case ARI_E_ALLOCATION_FAILED:
        return DIALER_ORIG_UNREACHABLE;
    case ARI_E_SERVER:
        return http_status == 503 ? DIALER_ORIG_NOT_DIALED : DIALER_ORIG_CHECK;
    case ARI_E_HTTP:
        return http_status >= 500 ? DIALER_ORIG_CHECK : DIALER_ORIG_FAILED;
    case ARI_E_TIMEOUT:
    case ARI_E_TRANSPORT:
    case ARI_E_CANCELED:
        return DIALER_ORIG_UNKNOWN;
    default:
        return DIALER_ORIG_FAILED;
    }
}

bool dialer_originate_server_fault(enum ari_error e, long http_status)
{
    return e == ARI_E_SERVER || e == ARI_E_TIMEOUT || e == ARI_E_TRANSPORT ||
           (e == ARI_E_HTTP && http_status >= 500);
}

static struct dialer_probe *probe_of(struct dialer *d, const struct ari_client *c)
{
    for (size_t i = 0; i < d->nsrv; i++) {
        if (d->srv[i].c == c) {
            return &d->srv[i].probe;
        }
    }
    return NULL;
}

bool dialer_can_call(struct dialer *d)
{
    struct ari_client *c = ari_pool_pick(d->ari);
    struct dialer_probe *p = c != NULL ? probe_of(d, c) : NULL;
    if (c == NULL) {
        return false;
    }
    if (p == NULL) {
        return ari_client_health(c) != ARI_HEALTH_DOWN;
    }
    return dialer_probe_admit(p, ari_client_health(c), clock_mono_us(), true) != DIALER_ADMIT_NO;
}

/* ----------------------------------------------------------- originating */

/* A timeout's or transport error's call: a channel may exist; make sure it does not. */
static void end_unknown(struct dialer_call *call, struct ari_client *c, enum ari_error e)
{
    LOG_WARN(DIALER, "event=originate_unknown id=%s err=%s", call->id, ari_error_name(e));
    if (e != ARI_E_CANCELED && c != NULL) {
        ari_channel_hangup(c, call->id, NULL, NULL, NULL, NULL);
    }
    call->originate_failed = true;
    end_call(call, "lost", -1);
}

static void check_send(struct dialer_call *call);

static void check_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct dialer *d = arg;
    struct dialer_call *call = find(d, res->resource_id);
    if (call == NULL || !call->checking) {
        return;
    }
    if (res->error == ARI_OK) {
        /* the channel exists: ours, its events drive it as any call */
        LOG_NOTICE(DIALER, "event=originate_checked id=%s channel=up", call->id);
        call->checking = false;
        return;
    }
    if (res->error == ARI_E_NOT_FOUND && call->events == 0) {
        LOG_NOTICE(DIALER, "event=originate_checked id=%s channel=none", call->id);
        call->originate_failed = true;
        end_call(call, "not_dialed", -1);
        return;
    }
    if (res->error == ARI_E_NOT_FOUND || call->check_tries >= DIALER_CHECK_TRIES) {
        /* it existed (events came) and is gone, or no answer in time: unknown */
        call->checking = false;
        end_unknown(call, c, ARI_E_TIMEOUT);
        return;
    }
    double delay = DIALER_CHECK_FIRST_S * (double)(1 << (call->check_tries - 1));
    ev_timer_set(&call->check, delay, 0);
    ev_timer_start(d->loop, &call->check);
}

static void watch_send(struct dialer_call *call);

static void check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dialer_call *call = w->data;
    (void)loop;
    (void)revents;
    if (call->watch) {
        watch_send(call);
        return;
    }
    check_send(call);
}

static void check_send(struct dialer_call *call)
{
    call->check_tries++;
    int rc = call->client != NULL
                 ? ari_channel_get(call->client, call->id, check_done, call->d, NULL)
                 : ERR_INVAL;
    if (rc != 0) {
        call->checking = false;
        end_unknown(call, call->client, ARI_E_TRANSPORT);
    }
}

static void originate_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct dialer *d = arg;
    struct dialer_call *call = find(d, res->resource_id);
    bool timed_out = res->error == ARI_E_TIMEOUT || res->error == ARI_E_TRANSPORT;
    if (call != NULL || timed_out) {
        int64_t now = clock_wall_us();
        /* the window's latency: the whole launch (the attempt row's write included) */
        int64_t lat = call != NULL ? now - call->launched_us : 0;
        if (call != NULL) {
            dialer_hist_observe(DIALER_HIST_ORIGINATE, now - call->started_us);
        }
        int before = dialer_window_limit(&d->win);
        int used = d->win_used > (int)d->originating ? d->win_used : (int)d->originating;
        dialer_window_answer(&d->win, lat, timed_out, used, clock_mono_us());
        int after = dialer_window_limit(&d->win);
        if (after < before) {
            LOG_INFO(DIALER, "event=originate_window window=%d was=%d latency_ms=%lld timeout=%d",
                     after, before, (long long)(lat / 1000), timed_out);
        }
    }
    struct dialer_probe *p = probe_of(d, c);
    bool probe = call != NULL && call->probe;
    if (call != NULL) {
        call->probe = false;
        originate_answered(call, res->error == ARI_OK ? 0 : ERR_IO);
    }
    if (p != NULL) {
        if (res->error == ARI_OK) {
            dialer_probe_result(p, probe, true, clock_mono_us());
        } else if (dialer_originate_server_fault(res->error, res->http_status)) {
            dialer_probe_result(p, probe, false, clock_mono_us());
        } else if (probe) {
            p->probing = false; /* answered, not a server fault: the server is there */
            p->cleared = true;
        }
    }
    if (call == NULL || res->error == ARI_OK) {
        return;
    }
    enum dialer_orig_class k = dialer_originate_class(res->error, res->http_status, res->message);
    if (k == DIALER_ORIG_REPEATED) {
        /* The id is this attempt's own (a fresh UUID): a request repeated
         * by the transport (curl resends a request whose reused connection
         * died) found the channel the first one created. It is ours and
         * its events will come: nothing failed. */
        LOG_DEBUG(DIALER, "event=originate_repeated id=%s", call->id);
        return;
    }
    d->st.originate_errors++;
    switch (k) {
    case DIALER_ORIG_UNREACHABLE:
        call->originate_failed = true;
        end_call(call, "unreachable", ARI_CAUSE_CHAN_NOT_IMPLEMENTED);
        break;
    case DIALER_ORIG_NOT_DIALED:
        LOG_INFO(DIALER, "event=originate_refused id=%s status=%ld msg=\"not dialed\"", call->id,
                 res->http_status);
        call->originate_failed = true;
        end_call(call, "not_dialed", -1);
        break;
    case DIALER_ORIG_CHECK:
        LOG_WARN(DIALER, "event=originate_check id=%s status=%ld msg=\"%s\"", call->id,
                 res->http_status, res->message);
        call->checking = true;
        check_send(call);
        break;
    case DIALER_ORIG_UNKNOWN:
        end_unknown(call, c, res->error);
        break;
    default:
        LOG_WARN(DIALER, "event=originate_failed id=%s err=%s status=%ld msg=\"%s\"", call->id,
                 ari_error_name(res->error), res->http_status, res->message);
        call->originate_failed = true;
        end_call(call, "failed", -1);
        break;
    }
}

static struct dialer_call *call_new(struct dialer *d, const char *id)
{
    struct dialer_call *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        return NULL;
    }
    call->d = d;
    snprintf(call->id, sizeof(call->id), "%s", id);
    ari_dial_tracker_init(&call->tr, call->id);
    ev_timer_init(&call->talk, talk_cb, 0, 0);
    call->talk.data = call;
    ev_timer_init(&call->guard, guard_cb, 0, 0);
    call->guard.data = call;
    ev_timer_init(&call->check, check_cb, 0, 0);
    call->check.data = call;
    unsigned b = hash_id(call->id);
    call->next = d->buckets[b];
    d->buckets[b] = call;
    d->n_calls++;
    return call;
}

static struct dialer_call *call_setup(struct dialer *d, const struct dialer_call_req *req)
{
    struct dialer_call *call = call_new(d, req->id);
    if (call == NULL) {
        return NULL;
    }
    call->tenant_id = req->tenant_id;
    call->campaign_id = req->campaign_id;
    call->contact_id = req->contact_id;
    call->user = req->user;
    call->amd = req->amd;
    call->machine_flow = req->machine_flow;
    call->ring_s = req->ring_s < DIALER_RING_MIN_S ? DIALER_RING_MIN_S : req->ring_s;
    call->started_us = clock_wall_us();
    call->launched_us = req->launched_us > 0 ? req->launched_us : call->started_us;
    snprintf(call->number, sizeof(call->number), "%s", req->number);
    if (req->caller_id != NULL) {
        snprintf(call->caller_id, sizeof(call->caller_id), "%s", req->caller_id);
    }
    return call;
}

static bool req_valid(const struct dialer_call_req *req)
{
    return req != NULL && req->id != NULL && strlen(req->id) < DIALER_ID_MAX &&
           req->number != NULL && strlen(req->number) < DIALER_E164_MAX && req->endpoint != NULL &&
           req->endpoint[0] != '\0';
}

int dialer_call_track(struct dialer *d, const struct dialer_call_req *req)
{
    if (!req_valid(req)) {
        return ERR_INVAL;
    }
    if (find(d, req->id) != NULL) {
        return ERR_EXISTS;
    }
    struct dialer_call *call = call_setup(d, req);
    if (call == NULL) {
        return ERR_NOMEM;
    }
    call->offline = true;
    d->st.originated++;
    return 0;
}

int dialer_call(struct dialer *d, const struct dialer_call_req *req)
{
    if (!req_valid(req)) {
        return ERR_INVAL;
    }
    if (find(d, req->id) != NULL) {
        return ERR_EXISTS;
    }
    struct ari_client *server = ari_pool_pick(d->ari);
    if (server == NULL) {
        return ERR_BUSY;
    }
    struct dialer_probe *p = probe_of(d, server);
    enum dialer_admit adm =
        p != NULL ? dialer_probe_admit(p, ari_client_health(server), clock_mono_us(), false)
                  : DIALER_ADMIT_YES;
    if (adm == DIALER_ADMIT_NO) {
        return ERR_BUSY; /* degraded, and not this call's turn to probe */
    }
    struct dialer_call *call = call_setup(d, req);
    if (call == NULL) {
        if (adm == DIALER_ADMIT_PROBE) {
            p->probing = false;
        }
        return ERR_NOMEM;
    }
    call->client = server;
    call->probe = adm == DIALER_ADMIT_PROBE;
    char args[96];
    snprintf(args, sizeof(args), "attempt,%s", call->id);
    struct ari_originate o = {
        .endpoint = req->endpoint,
        .channel_id = call->id,
        .app = d->app,
        .app_args = args,
        .caller_id = call->caller_id[0] ? call->caller_id : NULL,
        .timeout_s = call->ring_s,
    };
    call->orig_pending = true; /* before the request: its answer may come at once */
    d->originating++;
    int rc = ari_originate(server, &o, originate_done, d, NULL);
    if (rc != 0) {
        call->orig_pending = false;
        d->originating--;
        if (call->probe) {
            p->probing = false;
        }
        unlink_call(d, call);
        free(call);
        return rc;
    }
    if (call->probe) {
        d->st.probes++;
        LOG_INFO(DIALER, "event=originate_probe id=%s server=%s", call->id,
                 ari_client_name(server));
    }
    ev_timer_set(&call->guard, call->ring_s + GUARD_S, 0);
    ev_timer_start(d->loop, &call->guard);
    d->st.originated++;
    return 0;
}

bool dialer_trunk_fault(const char *outcome, int cause, bool originate_failed)
{
    if (outcome == NULL) {
        return false;
    }
    if (strcmp(outcome, "unreachable") == 0 && originate_failed) {
        return true; /* the endpoint could not be allocated */
    }
    if (strcmp(outcome, "congestion") != 0 && strcmp(outcome, "failed") != 0 &&
        strcmp(outcome, "unreachable") != 0) {
        return false; /* answered, busy, rejected, no answer, cancelled, lost, not dialed */
    }
    switch (cause) {
    case 34: /* no circuit/channel available */
    case 38: /* network out of order */
    case 41: /* temporary failure */
    case 42: /* switching equipment congestion */
    case 44: /* requested circuit/channel not available */
    case 47: /* resource unavailable, unspecified */
        return true;
    default:
        return cause < 0 && strcmp(outcome, "congestion") == 0;
    }
}

/* ------------------------------------------------------- callback time */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t dialer_parse_utc(const char *t)
{
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (t == NULL) {
        return 0;
    }
    size_t len = strlen(t);
    if (len >= 1 && len <= 11 && all_digits(t, len)) {
        int64_t v = 0;
        for (size_t i = 0; i < len; i++) {
            v = v * 10 + (t[i] - '0');
        }
        return v > 0 ? v * 1000000 : 0;
    }
    /* YYYY-MM-DDTHH:MM:SSZ */
    if (len != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' ||
        t[19] != 'Z' || !all_digits(t, 4) || !all_digits(t + 5, 2) || !all_digits(t + 8, 2) ||
        !all_digits(t + 11, 2) || !all_digits(t + 14, 2) || !all_digits(t + 17, 2)) {
        return 0;
    }
    int y = num(t, 4), mo = num(t + 5, 2), d = num(t + 8, 2);
    int h = num(t + 11, 2), mi = num(t + 14, 2), sec = num(t + 17, 2);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap ? 1 : 0) ||
        h > 23 || mi > 59 || sec > 60) {
        return 0;
    }
    /* days from civil (proleptic Gregorian) */
    int yy = y - (mo <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    return ((days * 86400) + h * 3600 + mi * 60 + sec) * 1000000;
}

/* -------------------------------------------------------------- restart */

int dialer_adopt(struct dialer *d, const char *id, int64_t tenant_id, int64_t campaign_id,
                 int64_t contact_id, void *user)
{
    if (id == NULL || strlen(id) >= DIALER_ID_MAX) {
        return ERR_INVAL;
    }
    if (find(d, id) != NULL) {
        return ERR_EXISTS;
    }
    struct dialer_call *call = call_new(d, id);
    if (call == NULL) {
        return ERR_NOMEM;
    }
    call->phase = PH_ADOPTED;
    call->tenant_id = tenant_id;
    call->campaign_id = campaign_id;
    call->contact_id = contact_id;
    call->user = user;
    d->st.adopted++;
    return 0;
}

/*
 * A dead process's call (docs/dialer.md section 2a). Its events go to the
 * dead process's application, so the call is found by GET /channels/{id} on
 * each server in turn and then asked again every watch_period() until a 404
 * says it ended (or a ChannelDestroyed reaches us: then with its cause).
 * The period grows with the calls watched, so the polls stay under
 * WATCH_RATE requests per second whatever a dead node left.
 */
#define WATCH_MIN_S 2.0
#define WATCH_RATE  500.0

static double watch_period(const struct dialer *d)
{
    double p = (double)d->n_watched / WATCH_RATE;
    return p > WATCH_MIN_S ? p : WATCH_MIN_S;
}

static void watch_arm(struct dialer_call *call, double after_s)
{
    ev_timer_stop(call->d->loop, &call->check);
    ev_timer_set(&call->check, after_s, 0);
    ev_timer_start(call->d->loop, &call->check);
}

/* The channel's state in a GET /channels/{id} body is Up. */
static bool body_is_up(const struct ari_result *res)
{
    struct arena a;
    struct ari_channel ch;
    arena_init(&a, 0);
    bool up = res->body != NULL &&
              ari_channel_parse(res->body, res->body_len, &a, &ch, NULL) == 0 &&
              ch.state_code == ARI_CHANNEL_STATE_UP;
    arena_fini(&a);
    return up;
}

static void watch_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct dialer *d = arg;
    struct dialer_call *call = find(d, res->resource_id);
    if (call == NULL || !call->watch) {
        return;
    }
    if (res->error == ARI_OK) {
        if (call->client == NULL) {
            call->client = c;
            LOG_NOTICE(DIALER, "event=adopted_watch id=%s server=%s", call->id, ari_client_name(c));
        }
        if (call->answered_us == 0 && body_is_up(res)) {
            /* the answer's time died with the node: talk time counts from here */
            call->answered_us = clock_wall_us();
            LOG_INFO(DIALER, "event=adopted_answered id=%s", call->id);
        }
        watch_arm(call, watch_period(d));
        return;
    }
    if (res->error == ARI_E_NOT_FOUND) {
        if (call->client == NULL && ++call->watch_srv < ari_pool_size(d->ari)) {
            watch_send(call); /* not on this server: the next one */
            return;
        }
        LOG_NOTICE(DIALER, "event=adopted_ended id=%s answered=%d", call->id,
                   call->answered_us != 0);
        end_call(call, adopted_outcome(call), -1);
        return;
    }
    watch_arm(call, watch_period(d)); /* the server did not answer: asked again later */
}

static void watch_send(struct dialer_call *call)
{
    struct dialer *d = call->d;
    struct ari_client *c = call->client;
    if (c == NULL) {
        c = ari_pool_client(d->ari, call->watch_srv);
    }
    if (c == NULL || ari_channel_get(c, call->id, watch_done, d, NULL) != 0) {
        watch_arm(call, watch_period(d));
    }
}

int dialer_launch_window(struct dialer *d, int in_flight)
{
    d->win_used = in_flight;
    return dialer_window_limit(&d->win);
}

int dialer_adopt_watch(struct dialer *d, const struct dialer_call_req *req, int64_t started_us)
{
    if (req == NULL || req->id == NULL || strlen(req->id) >= DIALER_ID_MAX) {
        return ERR_INVAL;
    }
    if (find(d, req->id) != NULL) {
        return ERR_EXISTS;
    }
    struct dialer_call *call = call_new(d, req->id);
    if (call == NULL) {
        return ERR_NOMEM;
    }
    call->phase = PH_ADOPTED;
    call->watch = true;
    call->tenant_id = req->tenant_id;
    call->campaign_id = req->campaign_id;
    call->contact_id = req->contact_id;
    call->user = req->user;
    call->ring_s = req->ring_s > DIALER_RING_MIN_S ? req->ring_s : DIALER_RING_MIN_S;
    call->started_us = started_us; /* known from the attempt row: the call gets its call log */
    snprintf(call->number, sizeof(call->number), "%s", req->number ? req->number : "");
    snprintf(call->caller_id, sizeof(call->caller_id), "%s", req->caller_id ? req->caller_id : "");
    d->st.adopted++;
    d->n_watched++;
    watch_send(call);
    return 0;
}

void dialer_reconcile(struct dialer *d)
{
    for (size_t i = 0; i < ari_pool_size(d->ari); i++) {
        struct ari_client *c = ari_pool_client(d->ari, i);
        int rc = ari_client_reconcile(c);
        if (rc != 0) {
            LOG_WARN(DIALER, "event=reconcile_failed server=%s err=\"%s\"", ari_client_name(c),
                     err_str(rc));
        }
    }
}

size_t dialer_known_channels(struct dialer *d, struct ari_client *c, const char **ids, size_t max)
{
    size_t n = 0;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (struct dialer_call *call = d->buckets[b]; call != NULL; call = call->next) {
            if (call->client == NULL || call->client == c) {
                if (n < max) {
                    ids[n] = call->id;
                }
                n++;
            }
        }
    }
    return n;
}

void dialer_on_reconcile(struct dialer *d, struct ari_client *c, int status,
                         const char *const *gone, size_t n_gone, const char *const *up, size_t n_up)
{
    size_t nservers = ari_pool_size(d->ari);
    if (status != 0) {
        return;
    }
    for (size_t i = 0; i < n_up; i++) {
        struct dialer_call *call = find(d, up[i]);
        if (call != NULL && call->phase == PH_ADOPTED && !call->watch) {
            call->client = c;
            LOG_NOTICE(DIALER, "event=adopted_hangup id=%s server=%s", call->id,
                       ari_client_name(c));
            hang_up(call, NULL);
        }
    }
    for (size_t i = 0; i < n_gone; i++) {
        struct dialer_call *call = find(d, gone[i]);
        if (call == NULL) {
            continue;
        }
        if (call->phase == PH_ADOPTED) {
            if (call->client == NULL && (size_t)++call->reconcile_gone >= nservers) {
                end_call(call, adopted_outcome(call), -1);
            } else if (call->client == c) {
                /* ended while we looked (watched or hung up) */
                end_call(call, adopted_outcome(call), -1);
            }
        } else if (call->client == c) {
            /* its events were lost while the socket was down */
            end_call(call, call->answered_us ? NULL : "lost", -1);
        }
    }
}

/* ------------------------------------------------------------ lifecycle */

static void cdr_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    dialer_cdr_flush(w->data);
}

int dialer_create(const struct dialer_config *cfg, const struct dialer_hooks *h,
                  struct dialer **out)
{
    if (cfg == NULL || cfg->loop == NULL || cfg->ari == NULL || h == NULL || h->ended == NULL ||
        out == NULL) {
        return ERR_INVAL;
    }
    struct dialer *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return ERR_NOMEM;
    }
    dialer_hist_register();
    d->buckets = calloc(BUCKETS, sizeof(*d->buckets));
    if (d->buckets == NULL) {
        free(d);
        return ERR_NOMEM;
    }
    d->nsrv = ari_pool_size(cfg->ari);
    d->srv = calloc(d->nsrv ? d->nsrv : 1, sizeof(*d->srv));
    if (d->srv == NULL) {
        free(d->buckets);
        free(d);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < d->nsrv; i++) {
        d->srv[i].c = ari_pool_client(cfg->ari, i);
    }
    d->loop = cfg->loop;
    d->ari = cfg->ari;
    d->db = cfg->db;
    d->hooks = *h;
    snprintf(d->app, sizeof(d->app), "%s", cfg->app ? cfg->app : "dialer");
    snprintf(d->node, sizeof(d->node), "%s", cfg->node ? cfg->node : "node-1");
    snprintf(d->amd_context, sizeof(d->amd_context), "%s",
             cfg->amd_context ? cfg->amd_context : "amd");
    d->talk_ms = cfg->talk_ms > 0 ? cfg->talk_ms : 3000;
    dialer_window_init(&d->win, cfg->window_max > 0 ? cfg->window_max : 100000,
                       cfg->originate_target_ms == 0 ? 500000 : cfg->originate_target_ms * 1000);
    d->cdr_batch = cfg->cdr_batch > 0 ? cfg->cdr_batch : 200;
    if (d->cdr_batch > DIALER_CDR_BATCH_MAX) {
        d->cdr_batch = DIALER_CDR_BATCH_MAX;
    }
    d->cdr_max_queue = cfg->cdr_max_queue > 0 ? cfg->cdr_max_queue : 100000;
    int64_t flush = cfg->cdr_flush_ms > 0 ? cfg->cdr_flush_ms : 200;
    ev_timer_init(&d->cdr_timer, cdr_timer_cb, (double)flush / 1000.0, (double)flush / 1000.0);
    d->cdr_timer.data = d;
    if (d->db != NULL) {
        ev_timer_start(d->loop, &d->cdr_timer);
        ev_unref(d->loop);
    }
    *out = d;
    return 0;
}

void dialer_destroy(struct dialer *d)
{
    if (d == NULL) {
        return;
    }
    if (ev_is_active(&d->cdr_timer)) {
        ev_ref(d->loop);
        ev_timer_stop(d->loop, &d->cdr_timer);
    }
    for (size_t b = 0; b < BUCKETS; b++) {
        struct dialer_call *call = d->buckets[b];
        while (call != NULL) {
            struct dialer_call *next = call->next;
            ev_timer_stop(d->loop, &call->talk);
            ev_timer_stop(d->loop, &call->guard);
            ev_timer_stop(d->loop, &call->check);
            free(call);
            call = next;
        }
    }
    free(d->buckets);
    free(d->srv);
    dialer_cdr_fini(d);
    free(d);
}

void dialer_stats(const struct dialer *d, struct dialer_stats *out)
{
    *out = d->st;
    out->in_flight = d->n_calls;
    out->originating = d->originating;
    out->cdr_queued = d->cdr_n;
}
