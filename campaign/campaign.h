/* SPDX-License-Identifier: MIT */
/*
 * campaign: campaign settings, the campaign state machine, contact leasing
 * and the attempt protocol's database side, pacing, global limits and the
 * scheduler that turns leased contacts into launches.
 *
 * DESIGN (docs/campaign.md has the long form).
 *
 * Settings (settings.c): one JSON document per campaign, parsed into a
 * value struct and validated field by field; errors name the field
 * ("retry.busy.delay_s"). The pure helpers that use it live beside it:
 * schedule check with the next opening, caller-ID pick with local
 * presence, endpoint rendering, retry decision.
 *
 * State machine (state.c, store.c): draft -> scheduled -> running <-> paused
 * -> completed / stopped. campaign_state_allowed() is the same table as the
 * campaigns_state_guard trigger; the database stays the authority (the
 * trigger rejects, campaign_events records who and why). Two changes happen
 * by themselves (campaign_store_auto, actor "system"): scheduled -> running
 * at starts_at, running -> completed once every contact is final; the
 * schedule's windows never move the state (contacts wait for the window).
 *
 * Store (store.c): every database operation is one short transaction sent
 * pipelined on a pinned db_conn (BEGIN, tenant/actor context, one
 * statement, COMMIT); results arrive on the connection's loop. Leased
 * contacts come back as a struct campaign_batch that embeds an mpsc_node,
 * so a lessor running on a worker loop hands it to the scheduler's loop with
 * mpsc_mailbox_send().
 *
 * Pacing (pacing.c): pure functions of counters, estimates and "now"; no
 * I/O, no clock reads.
 *
 * Limits (limits.c, gate.c, trunklim.c): global and carrier-trunk CPS and
 * channel limits shared by every node through Redis Lua scripts, drawn into
 * local allowances (the scheduler's gate; a gate per limited trunk behind
 * the scheduler's room callback) so no launch waits for I/O; fail closed.
 * Trunk limits are deployment configuration (dialer.trunk-limits), not a
 * tenant setting: a carrier's limit is shared by every tenant on it. A
 * campaign's own trunks[].cps / max_channels are limits of the same kind,
 * one per campaign and trunk (campaign_trunk_own_spec), binding on top. A
 * dead process's bookings under every key move to its adopter in one step
 * (campaign_limits_takeover_keys).
 *
 * Scheduler (sched.c): loop-thread object; per campaign a min-heap of
 * contacts by next eligible time; a tick asks the verdict callback for due
 * contacts, lets pacing decide how many, and launches with the launch
 * callback in tenant-fair, then campaign-fair round robin.
 *
 * Lessor (lessor.c): keeps the scheduler supplied from the store, renews
 * leases, hands back contacts blocked beyond their lease.
 *
 * Decisions where the requirement is silent are listed in docs/campaign.md
 * (unknown settings keys are errors; a predictive campaign dialing North
 * America needs its own safe_harbour message; busy/declined retries wait
 * >= 60 s on the same trunk; predictive pacing falls back to progressive at the cap;
 * fairness is per tenant first, then per campaign; a due contact held by a
 * cap counts as "cap" in the ready set).
 *
 * Threads: everything here belongs to the thread of the loop it was created
 * on, except the pure functions (any thread) and a campaign_batch in flight
 * through a mailbox.
 */
#ifndef CAMPAIGN_CAMPAIGN_H
#define CAMPAIGN_CAMPAIGN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compliance/compliance.h"
#include "core/db.h"
#include "core/kv.h"
#include "core/mpsc.h"

/* ------------------------------------------------------------------------ */
/* Settings                                                                  */

#define CAMPAIGN_RING_MIN_S         15 /* legal minimum ring time (TSR, Ofcom) */
#define CAMPAIGN_RING_MAX_S         120
#define CAMPAIGN_REJECT_MIN_DELAY_S 60 /* busy/declined: never redialed sooner */
#define CAMPAIGN_MAX_TRUNKS         8
#define CAMPAIGN_MAX_POOL           64
#define CAMPAIGN_MAX_WINDOWS        8
#define CAMPAIGN_MAX_DISPOSITIONS   32
#define CAMPAIGN_NAME_MAX           64
#define CAMPAIGN_TEMPLATE_MAX       128
#define CAMPAIGN_E164_MAX           16 /* '+' and up to 15 digits */
#define CAMPAIGN_ZONE_MAX           64
#define CAMPAIGN_HARBOUR_TEXT_MAX   512 /* the safe-harbour message's text */
#define CAMPAIGN_MAX_CAP_SETS       4   /* compliance.cap_rules entries */

enum campaign_pacing_mode {
    CAMPAIGN_PACING_FIXED,       /* cps launches per second, channels permitting */
    CAMPAIGN_PACING_POWER,       /* dial_ratio lines per free port */
    CAMPAIGN_PACING_PROGRESSIVE, /* one line per free port */
    CAMPAIGN_PACING_PREDICTIVE,  /* estimated answers kept under the abandonment cap */
};

/* The outcome classes a retry policy distinguishes. */
enum campaign_retry_class {
    CAMPAIGN_RETRY_BUSY,      /* SIP 486, Q.850 17 */
    CAMPAIGN_RETRY_NO_ANSWER, /* rang out */
    CAMPAIGN_RETRY_MACHINE,   /* answering machine (AMD) */
    CAMPAIGN_RETRY_FAILED,    /* congestion, unreachable, network failure, lost */
    CAMPAIGN_RETRY_ABANDONED, /* live answer not connected in time */
    CAMPAIGN_RETRY_REJECTED,  /* SIP 603 declined, Q.850 21 */
    CAMPAIGN_RETRY_COUNT_,
};

struct campaign_retry_rule {
    int64_t delay_s;  /* wait after this outcome before the next attempt */
    int max_attempts; /* attempts of the contact after which this outcome is final */
    int max_per_day;  /* attempts per rolling 24 hours (0: no daily limit) */
};

enum campaign_machine_action {
    CAMPAIGN_MACHINE_HANGUP, /* hang up on machines */
    CAMPAIGN_MACHINE_FLOW,   /* run machine_flow_id (leave a message) */
};

enum campaign_alt_policy {
    CAMPAIGN_ALT_OFF,        /* only the main number */
    CAMPAIGN_ALT_ON_FAILURE, /* next alternate after an outcome in alt_on */
    CAMPAIGN_ALT_ROTATE,     /* main, alt 1, alt 2, ... in turn */
};

struct campaign_window {
    uint8_t days;      /* bit d set: weekday d (0 = Sunday) */
    uint16_t from_min; /* minutes after local midnight, inclusive */
    uint16_t to_min;   /* exclusive; > from_min */
};

struct campaign_trunk {
    char name[CAMPAIGN_NAME_MAX];         /* "carrier-a" */
    char endpoint[CAMPAIGN_TEMPLATE_MAX]; /* "PJSIP/{e164}@carrier-a" */
    double cps;                           /* 0: no trunk-level limit */
    int max_channels;                     /* 0: no trunk-level limit */
};

struct campaign_settings {
    enum campaign_pacing_mode pacing;
    double cps;             /* campaign launches per second (0: none for non-fixed) */
    int max_channels;       /* concurrent calls of the campaign (0: unlimited) */
    double dial_ratio;      /* power: lines per free port, 1..20 */
    double max_dial_ratio;  /* predictive: ceiling of lines per port, 1..20 */
    double abandon_cap_pct; /* predictive: abandoned / live answered, percent */
    int ring_time_s;        /* >= CAMPAIGN_RING_MIN_S */

    /* schedule */
    char time_zone[CAMPAIGN_ZONE_MAX]; /* IANA zone of the windows */
    bool contact_time;                 /* windows apply in each contact's zones instead */
    int64_t start_date;                /* days since epoch of the first day (INT64_MIN: none) */
    int64_t end_date;                  /* days since epoch of the last day (INT64_MAX: none) */
    int nwindows;
    struct campaign_window windows[CAMPAIGN_MAX_WINDOWS];

    /* caller ID */
    char caller_id[CAMPAIGN_E164_MAX + 1]; /* fixed number, "" when pool only */
    int npool;
    char pool[CAMPAIGN_MAX_POOL][CAMPAIGN_E164_MAX + 1];
    bool local_presence; /* pick the pool number nearest the callee */

    int ntrunks;
    struct campaign_trunk trunks[CAMPAIGN_MAX_TRUNKS];

    struct campaign_retry_rule retry[CAMPAIGN_RETRY_COUNT_];
    int max_attempts; /* absolute cap over all outcomes */

    bool amd;
    enum campaign_machine_action machine_action;
    int64_t machine_flow_id; /* CAMPAIGN_MACHINE_FLOW only */

    enum campaign_alt_policy alt_policy;
    unsigned alt_on; /* bit per enum campaign_retry_class: outcomes that move to the next number */

    bool callbacks;        /* contacts may ask for a callback */
    int callback_max_days; /* how far ahead a callback may be set */

    int ndispositions;
    char dispositions[CAMPAIGN_MAX_DISPOSITIONS][CAMPAIGN_NAME_MAX];

    /* The safe-harbour message (47 CFR 64.1200(a)(7)(i)): played to a live
     * answer that cannot be connected. harbour false: the deployment's
     * recording (dialerd's "sound:safe-harbour"). media "" : spoken (TTS)
     * from harbour_text, which names the seller and the callback number. */
    bool harbour;
    char harbour_seller[CAMPAIGN_NAME_MAX * 2];
    char harbour_number[CAMPAIGN_E164_MAX + 1];
    char harbour_media[CAMPAIGN_TEMPLATE_MAX * 2]; /* "sound:..." or "recording:..." */
    char harbour_text[CAMPAIGN_HARBOUR_TEXT_MAX];

    /* Frequency-cap rule sets the campaign selects (compliance_cap_ruleset
     * ids: "us-3-per-24h", "us-regf", "fr", "gb"), on top of the state caps
     * that apply by the number's place whatever is selected. */
    int ncap_sets;
    char cap_sets[CAMPAIGN_MAX_CAP_SETS][16];
    /* compliance.refuse_stale_dnc (default true): no US number is dialed while
     * the national DNC list is missing or older than its 31 days (TSR
     * 310.4(b)(3)(iv)); false dials at the campaign's own risk. */
    bool refuse_stale_dnc;
};

/* A validation failure: the field path and what is wrong with it. */
struct campaign_error {
    char field[96];
    char msg[160];
};

/* The defaults of a new campaign (progressive, 25 s ring, 3 attempts ...). */
void campaign_settings_default(struct campaign_settings *s);

/*
 * Parses and validates a settings document (borrowed). Unknown keys are
 * errors. Missing keys keep the defaults. Returns 0, or ERR_INVAL with err
 * (may be NULL) naming the first bad field. Any thread.
 */
int campaign_settings_from_json(const json_t *doc, struct campaign_settings *out,
                                struct campaign_error *err);

/* The document for s (new reference); from_json(to_json(s)) == s. NULL on ERR_NOMEM. */
json_t *campaign_settings_to_json(const struct campaign_settings *s);

/* Name of a retry class ("busy", "no_answer", ...). */
const char *campaign_retry_class_name(enum campaign_retry_class c);

/* The class of a call_attempts.outcome ("busy", "rejected", ...); -1 for final outcomes (human). */
int campaign_retry_class_of(const char *outcome);

/*
 * Schedule check at now_us (epoch us) for a contact in IANA zone zone (NULL:
 * the campaign's zone; used only with contact_time). Returns 1 when inside a
 * window, 0 when outside with *next_us the next opening (INT64_MAX if none
 * within 14 days or past end_date), or ERR_NOTFOUND for an unknown zone.
 */
int campaign_schedule_check(const struct campaign_settings *s, const char *zone, int64_t now_us,
                            int64_t *next_us);

/*
 * Picks the caller ID for callee (E.164) into out (CAMPAIGN_E164_MAX + 1
 * bytes): with local_presence, a pool number of the callee's NANP area code,
 * else of its country code; otherwise the fixed number, else a pool number
 * chosen by a hash of the callee (stable per callee). Returns 0 or
 * ERR_NOTFOUND when the campaign has no caller ID.
 */
int campaign_caller_id_pick(const struct campaign_settings *s, const char *callee, char *out);

/*
 * Renders template ("PJSIP/{e164}@carrier", "Local/{number}@ctx") for the
 * E.164 number into out. {e164} is the number with '+', {number} its digits.
 * Returns 0, ERR_INVAL when number is not E.164 (nothing that could change
 * the dial string gets through) or the template has an unknown placeholder,
 * ERR_TOOBIG when out is too small.
 */
int campaign_endpoint_render(const char *tmpl, const char *number, char *out, size_t outsz);

/* Checks a template's literal characters and placeholders; 0 or ERR_INVAL. */
int campaign_endpoint_template_check(const char *tmpl);

/* What to do with a contact after an attempt. */
struct campaign_retry_decision {
    bool retry;      /* false: the contact is finished (state done/failed) */
    int64_t at_us;   /* next attempt time when retry */
    bool same_trunk; /* the retry must not fail over to another trunk at once */
    int next_number; /* index: 0 main, 1.. alternate numbers */
};

/*
 * Decides the next step after an attempt of class cls (or -1: a final
 * outcome) ended at now_us. attempts: attempts made so far (this one
 * included); today: attempts made in the last 24 hours, this one included
 * (campaign_contact.attempts_24h + 1); number_idx / nalt: the
 * number just dialed and how many alternates the contact has.
 */
void campaign_retry_decide(const struct campaign_settings *s, int cls, int attempts, int today,
                           int number_idx, int nalt, int64_t now_us,
                           struct campaign_retry_decision *out);

/*
 * Validates a requested callback at at_us (requested at now_us): callbacks
 * enabled, in the future, within callback_max_days. Returns 0, or ERR_RANGE
 * / ERR_FORBIDDEN with err filled. The scheduler still applies windows and
 * caps when the callback becomes due.
 */
int campaign_callback_check(const struct campaign_settings *s, int64_t now_us, int64_t at_us,
                            struct campaign_error *err);

/* ------------------------------------------------------------------------ */
/* State machine                                                             */

enum campaign_state {
    CAMPAIGN_DRAFT,
    CAMPAIGN_SCHEDULED,
    CAMPAIGN_RUNNING,
    CAMPAIGN_PAUSED,
    CAMPAIGN_COMPLETED,
    CAMPAIGN_STOPPED,
    CAMPAIGN_STATE_COUNT_,
};

const char *campaign_state_name(enum campaign_state s);

/* Parses a state name; -1 when unknown. */
int campaign_state_parse(const char *name);

/* True when from -> to is a legal transition (same table as the database trigger). */
bool campaign_state_allowed(enum campaign_state from, enum campaign_state to);

/* ------------------------------------------------------------------------ */
/* Store: database side (async, on the loop of the db_conn)                  */

/* Who acts, for campaign_events and audit (app.actor / app.reason). */
struct campaign_actor {
    int64_t tenant_id;
    const char *actor;  /* "user:42", "scheduler:node-a" (borrowed) */
    const char *reason; /* optional (borrowed) */
};

/* The end of an operation: 0 or a negative code (see each function). */
typedef void campaign_done_cb(int status, void *arg);

/*
 * Moves campaign_id from state from to state to in one transaction; the
 * trigger writes the campaign_events row (actor, reason). cb gets 0,
 * ERR_CONFLICT (illegal transition, or the campaign was no longer in from),
 * ERR_NOTFOUND, or a db error (ERR_DB, ERR_DISCONNECTED, ERR_TIMEOUT). An
 * illegal from -> to returns ERR_CONFLICT at once without calling cb.
 */
int campaign_store_set_state(struct db_conn *c, const struct campaign_actor *who,
                             int64_t campaign_id, enum campaign_state from, enum campaign_state to,
                             campaign_done_cb *cb, void *arg);

/* One leased contact. */
struct campaign_contact {
    int64_t id;
    int64_t campaign_id;
    int64_t tenant_id;
    int attempts;                       /* attempts made before this lease */
    int attempts_24h;                   /* attempts started in the last 24 hours */
    int number_idx;                     /* 0: main number, n: alternate n */
    int nalt;                           /* alternate numbers the contact has */
    int64_t due_us;                     /* next eligible time (scheduler) */
    int reason;                         /* enum campaign_wait_reason while waiting */
    uint32_t heap_idx;                  /* scheduler-private */
    char number[CAMPAIGN_E164_MAX + 1]; /* E.164: the number to dial (main or alternate) */
    char zone[CAMPAIGN_ZONE_MAX];       /* first of time_zones, "" when none */
    /* Where the number is, for the legal windows and state rules: the list's
     * own zone or state when it gave one, else the area code of number
     * (compliance_contact_place(); the lease fills it). */
    struct compliance_place place;
    bool has_place; /* place is filled (false: locate number) */
};

/* A batch of leased contacts; travels between threads by its node. */
struct campaign_batch {
    struct mpsc_node node; /* for mpsc_mailbox_send() */
    int status;            /* 0, or the lease query's error (then n = 0) */
    int64_t campaign_id;
    int64_t list_id;
    int64_t lease_expires_us; /* epoch us, from the server */
    size_t n;
    struct campaign_contact contacts[]; /* n entries */
};

/* Receives a batch (taken: free with campaign_batch_free or pass it on). */
typedef void campaign_batch_cb(struct campaign_batch *b, void *arg);

void campaign_batch_free(struct campaign_batch *b);

/* Lease parameters. */
struct campaign_lease_req {
    int64_t campaign_id;
    int64_t list_id;
    const char *owner; /* node id (borrowed) */
    int batch;         /* 1..10000 */
    int lease_s;       /* 1..3600 */
};

/*
 * Leases up to req->batch due contacts of one list (FOR UPDATE SKIP LOCKED;
 * expired leases are due by construction). cb always gets a batch (status
 * set on failure). Returns 0, or ERR_INVAL / ERR_NOMEM at once (cb not
 * called). Operations on one connection queue behind each other.
 */
int campaign_store_lease(struct db_conn *c, const struct campaign_actor *who,
                         const struct campaign_lease_req *req, campaign_batch_cb *cb, void *arg);

/* The count of rows an operation touched, for renew and release. */
typedef void campaign_count_cb(int status, int64_t count, void *arg);

/*
 * Extends the leases of ids held by owner to now + lease_s. cb gets the
 * number still held (a lease that expired and was taken by another node is
 * not renewed).
 */
int campaign_store_renew(struct db_conn *c, const struct campaign_actor *who, const char *owner,
                         const int64_t *ids, size_t n, int lease_s, campaign_count_cb *cb,
                         void *arg);

/*
 * Gives leased contacts back: each becomes pending again, due at due_us[i]
 * (epoch us; 0 = now) with block_reason reasons[i] (NULL: none). Only leases
 * still held by owner are released; cb gets how many.
 */
int campaign_store_release(struct db_conn *c, const struct campaign_actor *who, const char *owner,
                           const int64_t *ids, const int64_t *due_us, const char *const *reasons,
                           size_t n, campaign_count_cb *cb, void *arg);

/*
 * Registers the attempt protocol's statements on c (db_prepare): the
 * attempt transactions sent on c then name them instead of sending their
 * text. 0 or db_prepare's error. Optional: without it the text is sent.
 */
int campaign_store_prepare(struct db_conn *c);

/* An attempt about to be originated. */
struct campaign_attempt {
    char id[37]; /* UUID, the future ARI channelId (campaign_attempt_id_new) */
    int64_t campaign_id;
    int64_t contact_id;
    const char *owner;     /* dialer node = lease owner (borrowed) */
    const char *process;   /* "<node>/<incarnation>" watching it (campaign_limits_self); NULL */
    const char *number;    /* the number dialed (borrowed) */
    const char *caller_id; /* may be NULL */
    const char *trunk;     /* may be NULL */
    bool with_contact;     /* campaign_store_attempt_begin returns contact.* */
};

/* Fills id with a new random UUID (version 4). */
void campaign_attempt_id_new(char id[37]);

/*
 * The answer to campaign_store_attempt_begin: status as below; contact (new,
 * the callee frees it; NULL unless status is 0 and a->with_contact) is the
 * contact's variables for a flow as one JSON object's text: id, number,
 * external_id, extension, country, region, postal_code, attempts (this one
 * counted), then the contact's custom fields.
 */
typedef void campaign_begun_cb(int status, char *contact, void *arg);

/*
 * Step 1 of the attempt protocol: in one statement, moves the contact from
 * leased (held by owner, lease not expired) to dialing, counts the attempt
 * and writes the call_attempts row with a->id. cb gets 0 (committed: the
 * originate may now be sent), ERR_CONFLICT (the lease was lost: do not
 * dial), or a db error (outcome unknown: do not dial; restart reconciliation
 * settles it).
 */
int campaign_store_attempt_begin(struct db_conn *c, const struct campaign_actor *who,
                                 const struct campaign_attempt *a, campaign_begun_cb *cb,
                                 void *arg);

/* How an attempt ended. */
struct campaign_attempt_end {
    const char *id;          /* attempt id */
    bool failed;             /* the originate itself failed (state failed, else ended) */
    const char *outcome;     /* call_attempts.outcome */
    int hangup_cause;        /* Q.850, -1 unknown */
    int sip_code;            /* -1 unknown */
    const char *disposition; /* may be NULL */
    /* the contact's next step (campaign_retry_decide) */
    bool retry;
    int64_t next_us; /* epoch us when retry */
    int next_number; /* number the next attempt dials (decision.next_number) */
};

/*
 * Step 3: finishes the attempt exactly once and releases its contact
 * (pending at next_us, or done/failed). cb gets 0, ERR_EXISTS when the
 * attempt was already finished (nothing changed), ERR_NOTFOUND, or a db error.
 */
int campaign_store_attempt_finish(struct db_conn *c, const struct campaign_actor *who,
                                  const struct campaign_attempt_end *e, campaign_done_cb *cb,
                                  void *arg);

/* An attempt that was in flight (unfinished) for a node. */
struct campaign_inflight {
    char id[37];
    int64_t tenant_id;
    int64_t campaign_id;
    int64_t contact_id; /* 0 when the contact was deleted */
    char state[16];     /* created, originating, ringing, answered */
    int attempt_no;     /* the contact's attempt number (0: not read) */
    /* campaign_store_adopt only: */
    int64_t started_us;                    /* call_attempts.started_at */
    char number[CAMPAIGN_E164_MAX + 1];    /* the number dialed */
    char caller_id[CAMPAIGN_E164_MAX + 1]; /* "" when none */
    char trunk[CAMPAIGN_NAME_MAX];         /* the trunk dialed, "" when none */
};

typedef void campaign_inflight_cb(int status, const struct campaign_inflight *v, size_t n,
                                  void *arg);

/*
 * Lists the attempts node wrote and never finished (any tenant: runs as
 * dialer_platform), for reconciliation against ARI's GET /channels. v is
 * borrowed for the duration of the callback.
 */
int campaign_store_inflight(struct db_conn *c, const char *node, campaign_inflight_cb *cb,
                            void *arg);

/*
 * Adoption of unfinished attempts (docs/dialer.md section 2a): they change
 * holder (call_attempts.dialer_process) to self, exactly once across
 * processes (one UPDATE guarded by the previous holder and ended_at IS NULL:
 * the row lock decides between two processes trying at once), and the
 * adopted ones are delivered like campaign_store_inflight's (attempt_no
 * set). Exactly one of:
 *   node     a restart: the attempts held by one of node's earlier
 *            processes (its own, and those they adopted from dead nodes) or
 *            by none (node's rows older than the column), never node's
 *            attempts another node adopted;
 *   process  a takeover: the attempts held by that dead process.
 * Any tenant (runs as dialer_platform).
 */
struct campaign_adopt_req {
    const char *self;    /* the adopting process, "<node>/<incarnation>" (required) */
    const char *node;    /* restart */
    const char *process; /* takeover of a dead process (not self) */
};

int campaign_store_adopt(struct db_conn *c, const struct campaign_adopt_req *req,
                         campaign_inflight_cb *cb, void *arg);

/*
 * Automatic state changes (docs/campaign.md section 2a), any tenant (runs as
 * dialer_platform), recorded in campaign_events with actor "system" and a
 * reason:
 *   START     scheduled -> running when starts_at <= now, the flow has a
 *             published (or pinned) revision and an active list is attached;
 *             reason "schedule: starts_at reached".
 *   COMPLETE  running -> completed when every contact of its lists is final:
 *             none pending (due now or later: retries and callbacks keep the
 *             campaign running), leased or dialing; a contact handed back
 *             as never dialable (DNC, invalid: due more than
 *             CAMPAIGN_AUTO_NEVER_DAYS ahead) counts as final; its active
 *             lists hold at least one contact (an empty campaign waits for
 *             its contacts); reason "every contact final".
 * One UPDATE ... WHERE state = <from> each: with several nodes running it,
 * the row lock lets exactly one change a campaign (the others find the new
 * state and skip it). now_us (the node's clock) decides "due" and
 * "starts_at reached". cb gets the campaigns changed (borrowed).
 */
#define CAMPAIGN_AUTO_NEVER_DAYS 1825

enum campaign_auto_kind {
    CAMPAIGN_AUTO_START,
    CAMPAIGN_AUTO_COMPLETE,
};

struct campaign_auto_change {
    int64_t id;
    int64_t tenant_id;
};

typedef void campaign_auto_cb(int status, enum campaign_auto_kind kind,
                              const struct campaign_auto_change *v, size_t n, void *arg);

int campaign_store_auto(struct db_conn *c, enum campaign_auto_kind kind, int64_t now_us,
                        campaign_auto_cb *cb, void *arg);

/* ------------------------------------------------------------------------ */
/* Pacing                                                                    */

/* A token bucket: rate tokens per second, at most burst stored. */
struct campaign_bucket {
    double rate;
    double burst;
    double tokens;
    int64_t last_us;
};

void campaign_bucket_init(struct campaign_bucket *b, double rate, double burst, int64_t now_us);

/* Takes up to want whole tokens at now_us; returns how many. */
int campaign_bucket_take(struct campaign_bucket *b, int64_t now_us, int want);

/* Whole tokens available at now_us without taking them. */
int campaign_bucket_peek(struct campaign_bucket *b, int64_t now_us);

/*
 * Where the measured abandonment rate comes from (the compliance module's
 * accountant implements it): abandoned / live answered over the campaign's
 * regulatory window, as a fraction; negative when unknown.
 */
struct campaign_abandon_source {
    double (*rate)(void *arg, int64_t campaign_id);
    void *arg;
};

/* The predictive estimator: online answer rate and handle time. */
struct campaign_estimator {
    double p_answer; /* slow EWMA of answered / resolved */
    double p_fast;   /* fast EWMA: catches a rising answer rate within a few calls */
    double n_eff;    /* effective sample count of the slow EWMA */
    double n_fast;   /* effective sample count of the fast EWMA */
    double handle_s; /* EWMA of connected-call durations */
    double ring_s;   /* EWMA of time to answer */
    double alpha;    /* slow EWMA weight of a new sample */
    double alpha_fast;
};

void campaign_estimator_init(struct campaign_estimator *e, double p0, double handle0_s);

/* A launched call resolved: answered (live) or not, after ring_s seconds of ringing. */
void campaign_estimator_resolve(struct campaign_estimator *e, bool answered, double ring_s);

/* A connected call ended after handle_s seconds. */
void campaign_estimator_handled(struct campaign_estimator *e, double handle_s);

/* What pacing sees at a tick. */
struct campaign_pacing_in {
    int ringing;    /* launched, not yet answered or failed */
    int connected;  /* answered calls holding a port/agent */
    int ports;      /* ports/agents serving the campaign (free = ports - connected) */
    double abandon; /* measured abandonment fraction, < 0 unknown */
};

/*
 * How many calls to launch now (before caps and buckets). Pure. For
 * predictive, e is the campaign's estimator (may be NULL for the others).
 */
int campaign_pacing_want(const struct campaign_settings *s, const struct campaign_estimator *e,
                         const struct campaign_pacing_in *in);

/*
 * The expected number of abandoned calls if lines calls are out with
 * answer probability p and free ports: E[max(0, X - free)], X ~ B(lines, p).
 */
double campaign_expected_excess(int lines, double p, int free);

/* ------------------------------------------------------------------------ */
/* Global limits through Redis                                               */

struct campaign_limits;

/* A trunk's shared limit. */
struct campaign_limit_spec {
    const char *key;  /* trunk name or "tenant:<id>" (borrowed) */
    double cps;       /* 0: none */
    double burst;     /* bucket size; 0: max(1, cps) */
    int max_channels; /* 0: none */
    bool refund;      /* a gate's unused tokens give their rate back too (campaign_limits_refund) */
};

typedef void campaign_grant_cb(int status, int granted, void *arg);

/*
 * Creates the limiter for node on kv (borrowed; must outlive it); the
 * process holds its channels under "<node>/<incarnation>" with a liveness
 * key of ttl_s seconds refreshed at each call (a dead process's channels
 * count until a survivor takes them over, or its 10-minute hold expires:
 * campaign_limits_orphans). prefix namespaces the keys ("dialer:"). Loop
 * thread.
 */
int campaign_limits_create(struct kv_conn *kv, const char *prefix, const char *node, int ttl_s,
                           struct campaign_limits **out);

void campaign_limits_destroy(struct campaign_limits *l);

/*
 * Atomically takes up to want launches under spec at now_us (CPS tokens and
 * channels both). cb gets (0, granted) or (error, 0): Redis down or slow
 * means no launch (fail closed).
 */
int campaign_limits_acquire(struct campaign_limits *l, const struct campaign_limit_spec *spec,
                            int want, int64_t now_us, campaign_grant_cb *cb, void *arg);

/*
 * Gives back n channels (calls ended). cb may be NULL; it gets (0, channels
 * this node still holds under key) or (error, 0).
 */
int campaign_limits_release(struct campaign_limits *l, const char *key, int n,
                            campaign_grant_cb *cb, void *arg);

/*
 * Gives back n launches granted under spec and not used: their channels, and
 * their CPS tokens to the bucket (never above its size), so a launch drawn
 * and not spent does not lower the shared rate. cb may be NULL; it gets (0,
 * channels this node still holds) or (error, 0).
 */
int campaign_limits_refund(struct campaign_limits *l, const struct campaign_limit_spec *spec, int n,
                           campaign_grant_cb *cb, void *arg);

/*
 * Sets this process's channel count under key to n (the channels it holds by
 * its own account) and refreshes its liveness. The count kept by acquire and
 * release drifts when a command's outcome is unknown to the caller (an
 * acquire that timed out but ran, a release lost with the connection); the
 * owner calls this periodically, while no acquire of its own is in flight,
 * to bring the shared count back to the truth. cb may be NULL.
 */
int campaign_limits_set(struct campaign_limits *l, const char *key, int n, campaign_grant_cb *cb,
                        void *arg);

/* This process's field in the shared counts, "<node>/<incarnation>" (as long as l lives). */
const char *campaign_limits_self(const struct campaign_limits *l);

/*
 * Dead processes' channels (docs/dialer.md section 2a). A process whose
 * liveness key lapsed keeps its channels counted (its calls may be up on
 * Asterisk) while its hold key lives (10 min, refreshed with the liveness).
 * campaign_limits_orphans() returns up to max of them under key (the
 * key's fields and every process that ever booked under any key, with
 * channels 0 when it has none under key), each
 * claimed for this process for 10 s (another survivor does not get it
 * meanwhile); fields with neither key are dropped. The caller adopts the
 * orphan's attempts (campaign_store_adopt) and then calls
 * campaign_limits_takeover(), which in one step adds n (the calls it
 * adopted) to its own count and removes the dead field and its hold; cb
 * gets (0, n), or (0, -1) when the dead process is alive again (only
 * stalled: nothing removed, n added all the same: the caller holds them).
 * A claim not taken over lapses and the orphan is offered again.
 */
#define CAMPAIGN_ORPHANS_MAX 16

struct campaign_orphan {
    char process[160]; /* "<node>/<incarnation>" */
    int channels;      /* its count under the key */
};

typedef void campaign_orphans_cb(int status, const struct campaign_orphan *v, size_t n, void *arg);

int campaign_limits_orphans(struct campaign_limits *l, const char *key, int max,
                            campaign_orphans_cb *cb, void *arg);
int campaign_limits_takeover(struct campaign_limits *l, const char *key, const char *dead, int n,
                             campaign_grant_cb *cb, void *arg);

/*
 * The takeover of a dead process whose calls are counted under several keys
 * (the global count, each carrier trunk's, each campaign trunk's): under
 * every key of v, in one step per key, this process's count grows by v[i].n
 * and the dead field goes; the last step also removes the dead process's
 * hold, so its fields under keys not listed (unused tokens) stop counting.
 * The keys go CAMPAIGN_TAKEOVER_KEYS_PER_CALL to a script call (usually
 * one call, atomic over all keys); the calls run in order on the
 * connection, and one that cannot be sent stops the later ones (the hold
 * then stays: fail closed). cb once: (0, the sum of n), (0, -1) when the
 * dead process is alive again (n added all the same, nothing removed), or
 * (error, 0). Returns 0 or ERR_INVAL / ERR_NOMEM / kv's error (nothing sent).
 */
#define CAMPAIGN_TAKEOVER_KEYS_PER_CALL 32

struct campaign_takeover_key {
    const char *key; /* as given to acquire (borrowed for the call) */
    int n;           /* calls adopted under it, >= 0 */
};

int campaign_limits_takeover_keys(struct campaign_limits *l, const char *dead,
                                  const struct campaign_takeover_key *v, size_t nv,
                                  campaign_grant_cb *cb, void *arg);

/*
 * The deployment's carrier trunk limits (dialer.trunk-limits, trunklim.c):
 * calls per second and channels of one trunk, shared by every campaign,
 * tenant and node that dials through a trunk of that name.
 */
#define CAMPAIGN_MAX_TRUNK_LIMITS 64

struct campaign_trunk_limit {
    char name[CAMPAIGN_NAME_MAX]; /* as in a campaign's trunks[].name */
    double cps;                   /* 0: no CPS limit */
    int max_channels;             /* 0: no channel limit */
};

/*
 * Parses "carrier-a cps=5 channels=5, carrier-b cps=50" (entries separated
 * by ',' or ';'; a name, then cps=N and/or channels=N) into out (at most max
 * entries; *n gets the count). NULL or blank text: none. Returns 0, or
 * ERR_INVAL with err naming the entry ("dialer.trunk-limits[1]") and what is
 * wrong (bad name, unknown option, value out of range, no limit given, a
 * trunk listed twice, too many). Any thread.
 */
int campaign_trunk_limits_parse(const char *text, struct campaign_trunk_limit *out, int max, int *n,
                                struct campaign_error *err);

/* The limit of trunk name among v[0..n), or NULL. */
const struct campaign_trunk_limit *campaign_trunk_limit_find(const struct campaign_trunk_limit *v,
                                                             int n, const char *name);

/*
 * The shared limit spec of t (key "trunk:<name>" written into key, keysz
 * >= CAMPAIGN_NAME_MAX + 6) and the gate's chunk: a tick's share of the
 * rate (default_cps for a trunk without a CPS limit), at most a quarter of
 * the channels, at least 1; the bucket holds 100 ms of the rate, at least 2.
 */
void campaign_trunk_limit_spec(const struct campaign_trunk_limit *t, double default_cps, char *key,
                               size_t keysz, struct campaign_limit_spec *spec, int *chunk);

/*
 * A campaign's own limit on one of its trunks (settings trunks[].cps and
 * max_channels), shared by every node that runs the campaign: key
 * "camp:<campaign_id>:trunk:<name>" (keysz >= CAMPAIGN_CAMP_TRUNK_KEY_MAX),
 * bucket and chunk sized as campaign_trunk_limit_spec's. False (nothing
 * written) when t sets neither limit.
 */
#define CAMPAIGN_CAMP_TRUNK_KEY_MAX (CAMPAIGN_NAME_MAX + 40)

bool campaign_trunk_own_spec(int64_t campaign_id, const struct campaign_trunk *t,
                             double default_cps, char *key, size_t keysz,
                             struct campaign_limit_spec *spec, int *chunk);

/*
 * A local allowance in front of one shared limit: the scheduler's gate.
 * campaign_gate_take() (a campaign_gate_fn) hands out launches from local
 * tokens without I/O and, when fewer than half a chunk are left, asks Redis
 * for another chunk in the background (campaign_limits_acquire at the
 * clock's now). Each token carries a channel booked in Redis: the dialer
 * gives it back with campaign_limits_release when the call ends, and
 * campaign_gate_flush() gives back the tokens not used. With Redis down
 * the refills fail and the gate closes once the local tokens are gone
 * (at most one chunk): fail closed.
 */
struct campaign_gate;

int campaign_gate_create(struct campaign_limits *l, const struct campaign_limit_spec *spec,
                         int chunk, struct campaign_gate **out);

/* Frees g (a refill still in flight finishes into the void). NULL is ignored. */
void campaign_gate_destroy(struct campaign_gate *g);

/* campaign_gate_fn: up to want launches from the allowance; arg is the gate. */
int campaign_gate_take(void *arg, int64_t tenant_id, int want);

/*
 * Call every tick. When a take wanted launches since the previous call, starts a refill
 * unless one is in flight or the allowance is full; otherwise (idle) gives the tokens held
 * back, so an idle node holds no launches to spend at once when work appears.
 */
void campaign_gate_refill(struct campaign_gate *g);

/*
 * Gives the unused tokens' channels back (with spec.refund their rate too)
 * and empties the allowance.
 */
void campaign_gate_flush(struct campaign_gate *g);

/*
 * Puts n tokens a take handed out back into the allowance (the launch did
 * not happen): no I/O, the channel and the rate they carry stay this
 * node's, for the next take or the next flush.
 */
void campaign_gate_untake(struct campaign_gate *g, int n);

/*
 * Writes this process's count of the gate's channel limit absolutely
 * (campaign_limits_set): held, the channels of calls up that the gate's
 * tokens became, plus the tokens held. Call it about once a second: it
 * undoes what refills that timed out here but ran in Redis booked, and what
 * releases lost while Redis was away failed to give back. With a refill in
 * flight nothing is written (its grant would be missed): ERR_AGAIN, and the
 * gate asks no refill until a later call has written, so a gate under
 * steady demand (a refill every tick) is written at the next call. Returns
 * 0 (sent), ERR_AGAIN, or campaign_limits_set()'s error.
 */
int campaign_gate_sync(struct campaign_gate *g, int held);

/* Tokens held locally; whether a refill is in flight; the last refill's status. */
int campaign_gate_tokens(const struct campaign_gate *g);
bool campaign_gate_busy(const struct campaign_gate *g);
int campaign_gate_status(const struct campaign_gate *g);

/* ------------------------------------------------------------------------ */
/* Scheduler                                                                 */

/* Why a contact is not dialable now. */
enum campaign_wait_reason {
    CAMPAIGN_WAIT_NONE,   /* due: dialable */
    CAMPAIGN_WAIT_WINDOW, /* outside the calling window / schedule */
    CAMPAIGN_WAIT_RETRY,  /* retry delay or callback time not reached */
    CAMPAIGN_WAIT_CAP,    /* frequency cap, channel or CPS limit */
    CAMPAIGN_WAIT_DNC,    /* on a do-not-call list */
    CAMPAIGN_WAIT_COUNT_,
};

const char *campaign_wait_reason_name(enum campaign_wait_reason r);

/* A compliance verdict on a due contact. */
struct campaign_verdict {
    bool allow;
    enum campaign_wait_reason reason; /* when blocked */
    int64_t next_us;                  /* when blocked: next eligible (INT64_MAX: never) */
};

/* Asks compliance about c at now_us; fills *v. Loop thread, must not block. */
typedef void campaign_verdict_fn(void *arg, const struct campaign_contact *c, int64_t now_us,
                                 struct campaign_verdict *v);

/* A launch decision handed to the dialer. */
struct campaign_launch {
    const struct campaign_contact *contact; /* borrowed for the call */
    int64_t decided_us;                     /* when the scheduler decided */
};

/*
 * Launches (the dialer writes the attempt and originates). Returns 0 when
 * the dialer took the call (then it reports campaign_sched_call_* later), or
 * an error: the contact goes back, due after retry_us.
 */
typedef int campaign_launch_fn(void *arg, const struct campaign_launch *l);

/*
 * Global gate (Redis limits through a local allowance): how many of want
 * launches of tenant may go now. NULL: no global gate.
 */
typedef int campaign_gate_fn(void *arg, int64_t tenant_id, int want);

/*
 * Room for one launch of contact c on its campaign's own routes (the
 * per-trunk limits), asked before the global gate with take true: true
 * when it may go (what it took is held for the launch callback that
 * follows), false when the campaign waits for this tick (its due contacts
 * count as held by a cap; other campaigns go on). When the global gate
 * then refuses, it is called again with take false to give back what the
 * last true took. NULL: no such limit.
 */
typedef bool campaign_room_fn(void *arg, const struct campaign_contact *c, bool take);

struct campaign_sched_opts {
    campaign_verdict_fn *verdict; /* NULL: everything allowed */
    void *verdict_arg;
    campaign_launch_fn *launch; /* required */
    void *launch_arg;
    campaign_gate_fn *gate;
    void *gate_arg;
    campaign_room_fn *room;
    void *room_arg;
    struct campaign_abandon_source abandon; /* rate NULL: unknown */
    int max_per_tick; /* launches per tick over all campaigns (0: unlimited) */
    int64_t retry_us; /* back-off for a contact whose launch failed [5 s] */
};

struct campaign_sched;

int campaign_sched_create(const struct campaign_sched_opts *o, struct campaign_sched **out);
void campaign_sched_destroy(struct campaign_sched *s);

/* Tenant limits (created on first use with no limits). */
int campaign_sched_tenant(struct campaign_sched *s, int64_t tenant_id, double cps, int max_channels,
                          int64_t now_us);

/*
 * Adds or updates a campaign (settings copied). ports: ports/agents for
 * progressive, power and predictive pacing. A new campaign is paused.
 */
int campaign_sched_campaign(struct campaign_sched *s, int64_t tenant_id, int64_t campaign_id,
                            const struct campaign_settings *set, int ports, int64_t now_us);

/* running true: launches allowed from the next tick; false: none from the next tick. */
int campaign_sched_set_running(struct campaign_sched *s, int64_t campaign_id, bool running);

/*
 * Takes the contacts of b (b itself stays the caller's). Contacts of an
 * unknown campaign are refused (ERR_NOTFOUND). Each enters with due_us and
 * reason RETRY when due in the future.
 */
int campaign_sched_add(struct campaign_sched *s, const struct campaign_batch *b);

/* Visits a contact held by the scheduler (borrowed for the call). */
typedef void campaign_contact_fn(void *arg, const struct campaign_contact *c);

/*
 * Calls fn for every contact held for campaign_id (for lease renewal).
 * Returns ERR_NOTFOUND for an unknown campaign.
 */
int campaign_sched_foreach(const struct campaign_sched *s, int64_t campaign_id,
                           campaign_contact_fn *fn, void *arg);

/*
 * Removes the contacts of campaign_id not due before horizon_us (blocked
 * for longer than their lease lasts; INT64_MIN: all, for a stopped
 * campaign), calling fn (may be NULL) with each before it is freed, so the
 * caller releases them to the database with their due time and reason
 * (campaign_store_release). Returns how many were removed.
 */
size_t campaign_sched_evict(struct campaign_sched *s, int64_t campaign_id, int64_t horizon_us,
                            campaign_contact_fn *fn, void *arg);

/*
 * One scheduling pass at now_us: verdicts, pacing, fair launches. Returns
 * the number of launches.
 */
int campaign_sched_tick(struct campaign_sched *s, int64_t now_us);

/* Calls of campaign_id: one launched call was answered by a live person (after ring_s). */
void campaign_sched_call_answered(struct campaign_sched *s, int64_t campaign_id, double ring_s);

/* A launched call ended: answered ones after handle_s, unanswered after ring_s. */
void campaign_sched_call_ended(struct campaign_sched *s, int64_t campaign_id, bool was_answered,
                               double secs);

/* The ready set of a campaign, explained. */
struct campaign_ready {
    int64_t dialable;                      /* due and not held by a cap */
    int64_t waiting[CAMPAIGN_WAIT_COUNT_]; /* by reason (index 0 unused) */
    int64_t ringing;
    int64_t connected;
    bool running;
};

int campaign_sched_ready(const struct campaign_sched *s, int64_t campaign_id, int64_t now_us,
                         struct campaign_ready *out);

/* The ready set as JSON ({"dialable": n, "waiting": {"window": n, ...}, ...}); new reference. */
json_t *campaign_ready_json(const struct campaign_ready *r);

/* Contacts held for campaign_id (-1 for an unknown campaign). */
int64_t campaign_sched_held(const struct campaign_sched *s, int64_t campaign_id);

/* Statistics for benchmarks and tests. */
struct campaign_sched_stats {
    uint64_t ticks;
    uint64_t verdicts;
    uint64_t launches;
    uint64_t launch_failures;
};

void campaign_sched_stats(const struct campaign_sched *s, struct campaign_sched_stats *out);

/* ------------------------------------------------------------------------ */
/* Lessor: keeps the scheduler supplied, on the loop of its db_conn          */

/*
 * For each campaign it serves, the lessor leases a batch when the scheduler
 * holds fewer than low_water contacts (waiting a few seconds after an empty
 * batch), renews the leases of the contacts held every lease_s / 3, and
 * hands back (release, with due time and reason) the contacts blocked
 * beyond their lease. Its db_conn and the scheduler must be on the same
 * loop; a lessor on a worker loop would instead pass batches through a
 * mailbox (struct campaign_batch.node).
 */
struct campaign_lessor_opts {
    struct ev_loop *loop;
    struct db_conn *db;           /* borrowed */
    struct campaign_sched *sched; /* borrowed */
    const char *owner;            /* node id; copied */
    int batch;                    /* contacts per lease [200] */
    int lease_s;                  /* lease length [300] */
    int low_water;                /* lease when fewer are held [batch] */
    double period_s;              /* how often to look [0.1]; at most batch / period_s
                                   * contacts leased per second and campaign */
};

struct campaign_lessor;

struct campaign_lessor_stats {
    uint64_t leased;
    uint64_t renewed;
    uint64_t released;
    uint64_t errors;
};

int campaign_lessor_create(const struct campaign_lessor_opts *o, struct campaign_lessor **out);

/* Stops the timer; operations in flight complete into the void. NULL is ignored. */
void campaign_lessor_destroy(struct campaign_lessor *l);

/* Serves campaign_id's list list_id for tenant_id (the campaign must be in the scheduler). */
int campaign_lessor_add(struct campaign_lessor *l, int64_t tenant_id, int64_t campaign_id,
                        int64_t list_id);

/* One pass now (the timer runs it every period_s). */
void campaign_lessor_poll(struct campaign_lessor *l);

void campaign_lessor_stats(const struct campaign_lessor *l, struct campaign_lessor_stats *out);

#endif
