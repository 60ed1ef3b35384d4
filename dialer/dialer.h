/* SPDX-License-Identifier: MIT */
/*
 * dialer: outbound calls through ARI, from "originate this attempt" to its
 * outcome, with the call detail records written in batches.
 *
 * DESIGN (docs/dialer.md has the long form).
 *
 * The dialer knows calls, not campaigns: the attempt row is written by the
 * caller (the campaign store's attempt protocol) before dialer_call() is
 * called, and the outcome goes back through dialer_hooks.ended, where the
 * caller decides the retry and finishes the attempt exactly once. So the
 * module depends on core and ari only (the campaign module sits above it).
 *
 * A call (struct dialer_call, about 600 bytes) is keyed by its channel id,
 * which is the attempt id. ARI events for known channels drive it:
 *   - an ari_dial_tracker accumulates Dial / ChannelStateChange /
 *     ChannelHangupRequest / ChannelDestroyed / StasisStart and gives the
 *     unanswered outcome with the Q.850 cause (NOTES.md section 7 order);
 *   - the first StasisStart is the answer. With AMD on, the channel is sent
 *     to the dialplan context "amd" (POST /continue) and comes back with
 *     StasisStart(amd, AMDSTATUS, AMDCAUSE): HUMAN and NOTSURE are treated
 *     as live (a person must never be hung up on for a doubtful verdict),
 *     MACHINE is hung up (outcome machine) or handed to the connect hook
 *     with machine = true when the campaign leaves a message;
 *   - a live answer calls hooks.answered, then hooks.connect (the IVR).
 *     Without a connect hook, or when it declines, the call is hung up after
 *     talk_ms (the stand-in for a flow) with the disposition "no_flow"; the
 *     stand-in counts as connected at once (it stands for the flow);
 *   - abandonment (47 CFR 64.1200(a)(7), docs/compliance.md): the moment the
 *     flow takes the call is its connection time; a live call the hook
 *     cannot connect (DIALER_CONNECT_SAFE_HARBOUR: no capacity) plays the
 *     safe-harbour message and is classified with
 *     compliance_abandon_classify at its end: abandoned calls end with the
 *     outcome "abandoned" and the proof (connected_at, safe_harbour_at,
 *     abandoned) goes into their call_logs row;
 *   - ChannelDestroyed ends the call: hooks.ended gets the outcome
 *     (call_attempts.outcome words), cause, timings and disposition, and a
 *     call_logs row is queued.
 *
 * Originate errors: 500 Allocation failed is "unreachable" (no channel);
 * other 4xx are "failed". A 503 is a refusal before any channel existed
 * (Asterisk not booted, overloaded): the call ends as "not_dialed", which
 * the caller does not count as an attempt of the contact. Any other 5xx
 * leaves it open whether a channel was made, so the dialer asks
 * GET /channels/{id} (again with a back-off while the server keeps failing):
 * not found and no event seen is "not_dialed", found is our call going on,
 * no answer after DIALER_CHECK_TRIES is handled like a timeout. A timeout or
 * transport error leaves the outcome unknown: the dialer sends
 * DELETE /channels/{id} (so a channel that did get created is not left
 * running unowned) and ends the call as "lost", which retries under the
 * failed class later, never at once (the request may still reach Asterisk
 * after any check we make, so it is never taken as not dialed).
 *
 * Server health (D2): launches go to UP servers; when only DEGRADED ones are
 * left (a 5xx burst), one probe call at a time with a doubling back-off
 * (dialer_can_call(); dialer_int.h has the rule); a probe accepted resumes
 * launches on that server.
 *
 * A dead node's calls: dialer_adopt_watch() registers a call another
 * process placed and died holding; it is watched (GET /channels/{id}), not
 * hung up, until it ends.
 *
 * Restart: dialer_adopt() registers an attempt found unfinished in the
 * database. dialer_reconcile() asks every ARI server (GET /channels through
 * the client's reconcile hook, which calls dialer_known_channels and
 * dialer_on_reconcile). An adopted channel still up on a server is hung up
 * (we no longer know where its flow was, and a person left in silence is
 * worse than a short call) and ends with its real cause when the events
 * arrive, or as "lost" when the hang-up finds nothing; an adopted channel no
 * server has ends as "lost". Neither is ever originated again under its id.
 *
 * CDRs: one call_logs row per ended call, queued in memory and written by a
 * timer as one multi-row INSERT per batch (ON CONFLICT DO NOTHING, so a row
 * written twice after a reconciliation is harmless) as dialer_platform, off
 * the hot path. A failed batch is kept and retried (bounded: beyond
 * cdr_max_queue rows the oldest are dropped with an error log).
 *
 * Threads: everything runs on the loop given to dialer_create().
 */
#ifndef DIALER_DIALER_H
#define DIALER_DIALER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ari/ari.h"
#include "core/db.h"

#define DIALER_ID_MAX     37 /* UUID text and NUL */
#define DIALER_E164_MAX   17 /* '+', 15 digits, NUL */
#define DIALER_DIAL_MAX   160
#define DIALER_RING_MIN_S 15 /* legal minimum ring time */

struct dialer;
struct dialer_call;

/* What to dial. Strings are copied. */
struct dialer_call_req {
    const char *id; /* attempt id = ARI channelId (required) */
    int64_t tenant_id;
    int64_t campaign_id;
    int64_t contact_id;
    const char *number;    /* E.164 (required) */
    const char *caller_id; /* E.164 or NULL */
    const char *endpoint;  /* rendered dial string (required) */
    int ring_s;            /* ring timeout; raised to DIALER_RING_MIN_S */
    bool amd;              /* run AMD before treating the answer as live */
    bool machine_flow;     /* machines go to the connect hook (leave a message) */
    int64_t launched_us;   /* wall us the caller's launch began (cap check, attempt row):
                            * the originate window's latency counts from it; 0: from now */
    void *user;            /* the caller's, handed back in the hooks */
};

/* How a call ended. */
struct dialer_result {
    const char *id;
    int64_t tenant_id, campaign_id, contact_id;
    void *user;
    const char *outcome;     /* call_attempts.outcome: human, machine, busy, ... lost, not_dialed */
    int hangup_cause;        /* Q.850, -1 unknown */
    bool failed;             /* the originate itself failed (no channel) */
    bool answered;           /* the far end answered */
    bool live;               /* answered by a person (AMD off, or HUMAN/NOTSURE) */
    const char *amd_result;  /* "human", "machine", "notsure", "hangup", "off" */
    const char *disposition; /* set by the flow, or the dialer's ("no_flow"); may be NULL */
    double ring_s;           /* originate to answer or end */
    double talk_s;           /* answer to end */
    bool machine;            /* AMD said machine */
    bool abandoned;          /* a live answer not connected within 2 s (compliance rule) */
    /* epoch microseconds, 0 = never: the abandonment accountant's input */
    int64_t answered_us, human_us, connected_us, safe_harbour_us, ended_us;
};

/* connect hook results other than 0 (taken) and negative (declined) */
#define DIALER_CONNECT_SAFE_HARBOUR \
    1 /* the hook plays the safe-harbour message and ends the call */

struct dialer_hooks {
    /* A live answer after ring_s seconds (pacing, abandonment denominator). May be NULL. */
    void (*answered)(void *arg, void *user, double ring_s);
    /*
     * Hands a live (or, with machine_flow, machine) answered call to its
     * flow: return 0 when the flow took it (it ends the call with
     * dialer_call_end()), DIALER_CONNECT_SAFE_HARBOUR when there is no
     * capacity and the hook plays the safe-harbour message instead (it ends
     * the call too; the call is not connected), anything else to let the
     * dialer hang up after talk_ms. May be NULL.
     */
    int (*connect)(void *arg, struct dialer_call *call, bool machine);
    /* The call ended (exactly once per dialer_call / dialer_adopt). Required. */
    void (*ended)(void *arg, const struct dialer_result *r);
    /*
     * The originate's answer came from ARI (status 0: accepted; else the
     * error, the call's end follows), or the call ended before any answer.
     * Exactly once per dialer_call() that returned 0, before that call's
     * ended hook; never while the request is still queued in the ARI client
     * or on the wire. A bound on launches in flight counts a launch until
     * here (dialer.max-launching). May be NULL.
     */
    void (*originated)(void *arg, void *user, int status);
    void *arg;
};

struct dialer_config {
    struct ev_loop *loop;    /* required */
    struct ari_pool *ari;    /* required (borrowed) */
    struct db_pool *db;      /* for call_logs; NULL: no CDRs */
    const char *app;         /* Stasis app [dialer] */
    const char *node;        /* this node's id, for logs [node-1] */
    int64_t talk_ms;         /* stand-in talk time without a flow [3000] */
    int cdr_batch;           /* rows per INSERT [200] */
    int64_t cdr_flush_ms;    /* flush period [200] */
    size_t cdr_max_queue;    /* rows kept while the database is away [100000] */
    const char *amd_context; /* dialplan context of AMD [amd] */
    /* The originate window (docs/dialer.md section 1g): an originate answered later than
     * this narrows it [500 ms]; < 0: no window (dialer_launch_window is window_max). */
    int64_t originate_target_ms;
    int window_max; /* the window's ceiling [100000] */
};

int dialer_create(const struct dialer_config *cfg, const struct dialer_hooks *h,
                  struct dialer **out);

/* Hangs nothing up: calls still known end as "lost" without hooks; flushes no CDR. */
void dialer_destroy(struct dialer *d);

/*
 * Originates req (the attempt row must already be committed). Returns 0
 * (hooks.ended will follow exactly once), ERR_EXISTS for an id already in
 * flight, ERR_INVAL, ERR_NOMEM, or ERR_BUSY when no ARI server can take a
 * call (then nothing was sent and no hook will run).
 */
int dialer_call(struct dialer *d, const struct dialer_call_req *req);

/*
 * How many launches may be out now, by the originate window (docs/dialer.md
 * section 1g): it narrows when originates are answered later than
 * originate_target_ms or time out, and widens while they are answered in
 * time and the caller uses at least half of it. in_flight is the caller's
 * launches out now (the attempt write and the originate), which it holds at
 * or below the answer.
 */
int dialer_launch_window(struct dialer *d, int in_flight);

/*
 * True when a call launched now could be originated: a server is UP, or a
 * DEGRADED server's probe is due (the launch then holds it). The caller
 * asks before spending anything on a launch; dialer_call() may still answer
 * ERR_BUSY (the server went down meanwhile).
 */
bool dialer_can_call(struct dialer *d);

/*
 * Routes an ARI event. Returns true when it concerned a channel of the
 * dialer (other StasisStart events belong to the inbound side).
 */
bool dialer_on_event(struct dialer *d, struct ari_client *c, const struct ari_event *ev);

/* The flow ends the call: hang up with disposition (copied; may be NULL). */
int dialer_call_end(struct dialer_call *call, const char *disposition);

/*
 * The channel left the application (a blind transfer continued it in the
 * dialplan): the call ends now, as answered, without a hang-up.
 */
void dialer_call_left(struct dialer_call *call, const char *disposition);

/* Sets the disposition without hanging up (the caller already hung up). */
void dialer_call_set_disposition(struct dialer_call *call, const char *disposition);

/* Accessors for the connect hook. */
const char *dialer_call_id(const struct dialer_call *call);
const char *dialer_call_number(const struct dialer_call *call);
struct ari_client *dialer_call_client(const struct dialer_call *call);
void *dialer_call_user(const struct dialer_call *call);

/*
 * Restart: registers an attempt written by this node and never finished.
 * Its outcome comes from dialer_reconcile() (see the header comment).
 */
int dialer_adopt(struct dialer *d, const char *id, int64_t tenant_id, int64_t campaign_id,
                 int64_t contact_id, void *user);

/*
 * A dead process's attempt adopted by this one (docs/dialer.md section 2a):
 * unlike dialer_adopt() the call is not hung up. It is looked for on each
 * server (GET /channels/{id}) and, while it is up, asked again every 2 s
 * (longer with many: at most 500 requests/s in all) until it is gone; it
 * then ends as "lost" (with the Q.850 cause when a ChannelDestroyed reaches
 * this process) and, started_us being the attempt's start, gets its call
 * log. req gives id, tenant, campaign, contact, number, caller_id, ring_s
 * and user; nothing is sent to Asterisk but the GETs.
 */
int dialer_adopt_watch(struct dialer *d, const struct dialer_call_req *req, int64_t started_us);

/* Runs reconciliation against every ARI server now. */
void dialer_reconcile(struct dialer *d);

/* For the pool's ari_handlers (known_channels / on_reconcile). */
size_t dialer_known_channels(struct dialer *d, struct ari_client *c, const char **ids, size_t max);
void dialer_on_reconcile(struct dialer *d, struct ari_client *c, int status,
                         const char *const *gone, size_t n_gone, const char *const *up,
                         size_t n_up);

struct dialer_stats {
    uint64_t originated; /* originate requests sent */
    uint64_t answered;
    uint64_t live;
    uint64_t ended;
    uint64_t originate_errors;
    uint64_t adopted;
    uint64_t not_dialed; /* originates refused before any channel existed */
    uint64_t probes;     /* originates sent as a probe to a degraded server */
    uint64_t cdr_written;
    uint64_t cdr_failed; /* rows in batches that failed (retried) */
    uint64_t cdr_dropped;
    size_t in_flight;
    size_t originating; /* originates sent or queued in the ARI client, not answered yet */
    size_t cdr_queued;
};

void dialer_stats(const struct dialer *d, struct dialer_stats *out);

/*
 * A callback time a flow asked for (flow.callback_at): text
 * "YYYY-MM-DDTHH:MM:SSZ" (UTC, nothing before or after) or whole epoch
 * seconds (digits only). Returns epoch microseconds, or 0 when the text is
 * neither (an impossible date included: month 1-12, day within the month,
 * leap years counted, 00:00:00-23:59:60). Any thread.
 */
int64_t dialer_parse_utc(const char *text);

/*
 * A failure of the route rather than of the callee (trunk fail-over): the
 * Q.850 causes 34 (no circuit), 38 (network out of order), 41 (temporary
 * failure), 42 (switching equipment congestion), 44 (requested channel not
 * available), 47 (resource unavailable), SIP 503 (mapped to 34), a
 * congestion without a cause, or an originate whose endpoint could not be
 * allocated (500 Allocation failed: outcome unreachable, originate_failed).
 * Busy (17/486), rejected (21/603), no answer, an unallocated number (1) and
 * anything answered are the callee's: never. Pure.
 */
bool dialer_trunk_fault(const char *outcome, int cause, bool originate_failed);

/* Bytes one in-flight call takes (the call object). */
size_t dialer_call_size(void);

/* Writes the queued CDRs now (also done by the timer). */
void dialer_cdr_flush(struct dialer *d);

/*
 * Latency histograms on /metrics (dialer/hist.c): cumulative buckets
 * <name>_bucket{le="seconds"} from 100 us to 10 s and <name>_count, read by
 * the load suite for percentiles.
 *   DIALER_HIST_ORIGINATE      dialer_originate_seconds: originate request
 *                              to its ARI response (observed by the dialer);
 *   DIALER_HIST_DECISION       dialer_decision_to_originate_seconds: the
 *                              scheduler's launch to the originate request
 *                              (frequency caps and attempt row between);
 *   DIALER_HIST_EVENT_ACTION   dialer_event_to_action_seconds: the answer
 *                              (StasisStart, or the AMD verdict) to the
 *                              flow's start (contact read between).
 * dialer_create() registers them; observing is lock-free, any thread.
 */
enum dialer_hist_id {
    DIALER_HIST_ORIGINATE = 0,
    DIALER_HIST_DECISION,
    DIALER_HIST_EVENT_ACTION,
    DIALER_HIST_COUNT_
};

void dialer_hist_register(void);
void dialer_hist_observe(enum dialer_hist_id id, int64_t us);

/* When the call was answered live (the AMD verdict with AMD on), epoch us; 0 if not. */
int64_t dialer_call_live_us(const struct dialer_call *call);

#endif
