/* SPDX-License-Identifier: MIT */
/*
 * ivr: the IVR flow engine (format ivrflow/1, validator, interpreter,
 * simulator, templates).
 *
 * A flow is a JSON document: a graph of typed nodes with stable ids whose
 * named outcome events map to other nodes ("next": {"done": "menu"}); UI
 * positions live apart in "ui" (docs/ivr.md, ivr/schema/flow.schema.json).
 *
 *   ivr_flow_load()     parses and validates a document. The result is a
 *                       report (errors and warnings, each with node id, JSON
 *                       path and a message a campaign manager understands)
 *                       and, when there is no error, a compiled flow:
 *                       immutable, reference-counted, shared by every
 *                       session that runs it (templates, regexes and event
 *                       maps are prepared once here).
 *   ivr_session_*()     one execution of a compiled flow on one call. The
 *                       interpreter is driven by events: it calls the
 *                       channel operations below and returns at once; the
 *                       owner feeds back what happened (playback finished,
 *                       DTMF digit, recording finished, transfer outcome,
 *                       hang-up). Timers are engine-side deadlines read from
 *                       an injected clock; with a libev loop the session arms
 *                       one ev_timer for its earliest deadline, without one
 *                       the owner calls ivr_session_poll() (the simulator and
 *                       unit tests do, after moving their clock).
 *   ivr_sim_run()       the same interpreter against a scripted fake channel
 *                       (DTMF at times, silence, hang-up at a node, mocked
 *                       HTTP responses) returning the step log.
 *   ivr_template_*()    the bundled templates (ivr/templates/) and their
 *                       parameter blocks for cloning.
 *
 * Decisions where the design notes are silent are in docs/ivr.md; the main
 * ones: time zones for business hours come from a host hook (the server
 * wires compliance's TZif reader to it) with fixed "UTC"/"+HH:MM" zones built
 * in, so ivr does not depend on compliance; collect's max_duration_ms never
 * cuts off a caller who is typing (the inter-digit timer decides then);
 * secrets.* render only inside api_call headers and auth.
 *
 * Threads: a flow may be shared between threads once loaded (it is never
 * modified; the reference count is atomic). A session belongs to the thread
 * whose loop runs it.
 */
#ifndef IVR_IVR_H
#define IVR_IVR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_client;
struct ivr_flow;
struct ivr_session;

/* ---------------------------------------------------------------------- */
/* Validation report                                                       */
/* ---------------------------------------------------------------------- */

enum ivr_severity {
    IVR_SEV_ERROR = 0,   /* blocks publishing */
    IVR_SEV_WARNING = 1, /* shown and stored with the revision */
    IVR_SEV_INFO = 2,    /* hints (declared but unused variables) */
};

/* One finding. Strings are owned by the report. */
struct ivr_diag {
    enum ivr_severity severity;
    const char *rule;    /* stable code, e.g. "dangling_transition" */
    const char *node;    /* node id or NULL for flow-level findings */
    const char *path;    /* JSON path, e.g. "$.nodes.menu.next.noinput" */
    const char *message; /* one sentence for a campaign manager */
};

struct ivr_report;

/* Number of findings, and of errors among them. */
size_t ivr_report_count(const struct ivr_report *r);
size_t ivr_report_errors(const struct ivr_report *r);

/* The i-th finding (borrowed, valid until the report is freed) or NULL. */
const struct ivr_diag *ivr_report_get(const struct ivr_report *r, size_t i);

/* True when some finding has this rule code (tests and the UI use it). */
bool ivr_report_has(const struct ivr_report *r, const char *rule);

/*
 * The report as JSON: {"valid": bool, "errors": [...], "warnings": [...],
 * "info": [...]}, each item {"rule","node","path","message"}. New reference.
 */
json_t *ivr_report_to_json(const struct ivr_report *r);

void ivr_report_free(struct ivr_report *r);

/* ---------------------------------------------------------------------- */
/* Loading and validating flows                                            */
/* ---------------------------------------------------------------------- */

/* Resolves a subflow reference; returns a new flow reference or NULL. */
typedef struct ivr_flow *ivr_subflow_resolve_cb(const char *flow_id, int revision, void *arg);

/* Options for ivr_flow_load; a zeroed struct is valid. */
struct ivr_load_options {
    bool publish;                    /* publish gate: unreachable nodes become errors */
    const char *const *http_hosts;   /* hosts allowed with plain http:// in api_call */
    size_t nhttp_hosts;              /* number of them */
    const char *const *secrets;      /* known secret names (NULL: not checked) */
    size_t nsecrets;                 /* number of them */
    ivr_subflow_resolve_cb *subflow; /* NULL: subflow references are only warned about */
    void *subflow_arg;               /* for subflow */
};

/*
 * Parses and validates the flow document text (len bytes, not necessarily
 * NUL-terminated). Always returns a report in *report (new; free it) unless
 * out of memory (ERR_NOMEM). When the report has no error and flow is
 * non-NULL, *flow receives the compiled flow (new reference). Returns 0 when
 * the flow is valid, ERR_INVAL when the report holds errors.
 */
int ivr_flow_load(const char *text, size_t len, const struct ivr_load_options *opt,
                  struct ivr_flow **flow, struct ivr_report **report);

/* The same for a parsed document (borrowed). */
int ivr_flow_load_json(json_t *doc, const struct ivr_load_options *opt, struct ivr_flow **flow,
                       struct ivr_report **report);

/* Reference counting; any thread. unref of NULL is a no-op. */
struct ivr_flow *ivr_flow_ref(struct ivr_flow *f);
void ivr_flow_unref(struct ivr_flow *f);

/* Number of nodes; the flow's name ("" when absent). */
size_t ivr_flow_nodes(const struct ivr_flow *f);
const char *ivr_flow_name(const struct ivr_flow *f);

/* ---------------------------------------------------------------------- */
/* Templates {{ path | filter }}                                           */
/* ---------------------------------------------------------------------- */

/*
 * Renders template src against vars ({"call":{},"contact":{},"flow":{},
 * "nodes":{},"sys":{},"secrets":{}}, borrowed). secrets.* resolve only when
 * allow_secrets is true (api_call headers and auth); elsewhere they render
 * as "". Returns a new string (free()) or NULL with *err set to a message
 * (static) when the template does not parse. *missing (may be NULL) counts
 * variables that were absent and rendered empty.
 */
char *ivr_render(const char *src, json_t *vars, bool allow_secrets, int *missing, const char **err);

/* Checks that src parses; returns NULL or a static message. */
const char *ivr_template_check(const char *src);

/* ---------------------------------------------------------------------- */
/* Channel operations and events                                           */
/* ---------------------------------------------------------------------- */

enum ivr_say_as {
    IVR_SAY_TEXT = 0,   /* text to speech through the provider */
    IVR_SAY_DIGITS,     /* ARI digits: media */
    IVR_SAY_NUMBER,     /* ARI number: media */
    IVR_SAY_CHARACTERS, /* ARI characters: media */
};

enum ivr_transfer_mode {
    IVR_TRANSFER_BLIND = 0,  /* continue in the dialplan at the target; the flow ends */
    IVR_TRANSFER_BRIDGE = 1, /* originate the target, bridge on answer */
};

/* Record parameters (ARI POST /channels/{id}/record). */
struct ivr_record_params {
    const char *name;      /* recording name chosen by the engine */
    const char *format;    /* "wav" */
    int max_duration_s;    /* maxDurationSeconds */
    int max_silence_s;     /* maxSilenceSeconds */
    bool beep;             /* beep */
    const char *terminate; /* terminateOn: "none", "any", "*", "#" */
};

/*
 * What the interpreter asks of the call. Each operation that completes later
 * receives an op id; the completion event carries it back, and events whose
 * id is not the one the session waits for are ignored (a stale completion
 * after barge-in or hang-up). Operations return 0 or a negative code; a
 * failure becomes the node's error outcome. They must not deliver events
 * from inside the call: completions come later, from the loop. Every field
 * may be NULL except play and hangup; a NULL operation fails with
 * ERR_DECLINED. Strings are borrowed for the duration of the call.
 *
 * An ARI channel maps directly: play -> POST /channels/{id}/play with the
 * media list and playbackId; stop_playback -> DELETE /playbacks/{id};
 * say -> the TTS provider then play; record -> POST .../record;
 * stop_record -> POST /recordings/live/{name}/stop; transfer blind ->
 * POST .../continue (or redirect), bridge -> originate + bridge; hangup ->
 * DELETE /channels/{id}?reason_code=; set_var -> POST .../variable.
 */
struct ivr_channel_ops {
    int (*play)(void *ctx, uint64_t op, const char *const *media, size_t n, const char *lang);
    int (*say)(void *ctx, uint64_t op, const char *text, const char *lang, const char *voice);
    int (*stop_playback)(void *ctx, uint64_t op);
    int (*record)(void *ctx, uint64_t op, const struct ivr_record_params *p);
    int (*stop_record)(void *ctx, uint64_t op);
    int (*transfer)(void *ctx, uint64_t op, enum ivr_transfer_mode mode, const char *target,
                    int ring_timeout_s, const char *caller_id);
    int (*hangup)(void *ctx, int cause);
    int (*set_var)(void *ctx, const char *name, const char *value);
};

enum ivr_event_type {
    IVR_EV_PLAYBACK_DONE = 1, /* op, failed: the media could not be played */
    IVR_EV_DTMF,              /* digit (end of tone; duplicates filtered by the adapter) */
    IVR_EV_RECORD_DONE,       /* op, duration_s, failed */
    IVR_EV_TRANSFER,          /* op, outcome */
    IVR_EV_HANGUP,            /* cause (Q.850) */
};

enum ivr_transfer_outcome {
    IVR_XFER_TRANSFERRED = 0, /* blind transfer done: the call left the flow */
    IVR_XFER_COMPLETED,       /* bridge ended, caller still up */
    IVR_XFER_BUSY,
    IVR_XFER_NO_ANSWER,
    IVR_XFER_FAILED,
};

struct ivr_event {
    enum ivr_event_type type;
    uint64_t op;                       /* the operation it completes */
    char digit;                        /* IVR_EV_DTMF: 0-9 * # A-D */
    bool failed;                       /* playback or recording failed */
    int duration_s;                    /* IVR_EV_RECORD_DONE: recorded seconds */
    enum ivr_transfer_outcome outcome; /* IVR_EV_TRANSFER */
    int cause;                         /* IVR_EV_HANGUP: Q.850 cause */
};

/* ---------------------------------------------------------------------- */
/* HTTP for api_call                                                       */
/* ---------------------------------------------------------------------- */

/* An api_call request; strings borrowed during start. */
struct ivr_http_req {
    const char *method;
    const char *url;
    const char *const *headers; /* "Name: value" */
    size_t nheaders;
    const char *body;
    size_t body_len;
    const char *username; /* basic auth or NULL */
    const char *password;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    size_t max_response_bytes;
};

/*
 * Completion: status 0 with an HTTP code and body (borrowed for the call),
 * ERR_TIMEOUT, ERR_FORBIDDEN (the SSRF guard refused every address),
 * ERR_TOOBIG, or another negative code with reason text.
 */
typedef void ivr_http_done_cb(void *arg, int status, long code, const char *body, size_t len,
                              const char *reason);

/* Where api_call requests go: core/http in production, mocks in the simulator. */
struct ivr_http_ops {
    int (*start)(void *ctx, const struct ivr_http_req *rq, ivr_http_done_cb *cb, void *arg,
                 void **handle);
    void (*cancel)(void *ctx, void *handle);
};

/*
 * The production HTTP backend over core/http: the SSRF guard refuses
 * loopback, private, link-local, CGNAT, multicast and unspecified addresses
 * (checked on the resolved address, before connect) unless an allowlisted
 * CIDR ("10.1.0.0/16", "127.0.0.1/32", "::1/128") contains it.
 */
struct ivr_http_backend;

/* Creates one over client (borrowed; outlives the backend). NULL on OOM or bad CIDR. */
struct ivr_http_backend *ivr_http_backend_create(struct http_client *client,
                                                 const char *const *allow_cidrs, size_t n);
void ivr_http_backend_destroy(struct ivr_http_backend *b);
const struct ivr_http_ops *ivr_http_backend_ops(void);

/* Whether s is a CIDR the backend accepts ("10.1.0.0/16", "127.0.0.1", "::1/128"). Pure. */
bool ivr_cidr_valid(const char *s);

/* True when the SSRF guard would refuse sa with no allowlist (tests, docs). */
bool ivr_addr_is_internal(const void *sockaddr, unsigned len);

/* ---------------------------------------------------------------------- */
/* Sessions                                                                */
/* ---------------------------------------------------------------------- */

/* One finished step (a node visit), handed to the step sink. Borrowed during the call. */
struct ivr_step {
    unsigned seq;          /* 1, 2, ... */
    const char *node;      /* node id */
    const char *type;      /* node type */
    const char *event_in;  /* outcome that led here ("start" for the first) */
    const char *event_out; /* outcome it ended with, NULL when the execution ended inside it */
    int64_t started_us;    /* session clock */
    int64_t ended_us;
    json_t *vars;    /* variables the step changed, masked values as "***" (borrowed) */
    json_t *actions; /* what the caller heard/did: ["say: Hello", "dtmf: 1"] (borrowed) */
};

/* How an execution ended (the ivr_executions.ended_reason values). */
enum ivr_end_reason {
    IVR_END_COMPLETED = 0, /* reached a hangup node or an end */
    IVR_END_HANGUP,        /* the caller hung up */
    IVR_END_TRANSFERRED,   /* blind transfer */
    IVR_END_ERROR,         /* unhandled error */
    IVR_END_MAX_STEPS,     /* step budget */
    IVR_END_LOOP,          /* same node too often in a row */
    IVR_END_TIMEOUT,       /* call duration guard */
    IVR_END_SHUTDOWN,      /* ivr_session_stop */
};

const char *ivr_end_reason_name(enum ivr_end_reason r);

/* The end of an execution. Borrowed during the call. */
struct ivr_end {
    enum ivr_end_reason reason;
    const char *last_node;   /* may be NULL */
    const char *disposition; /* hangup node's disposition or NULL */
    unsigned steps;
    int hangup_cause; /* Q.850, 0 when unknown */
};

typedef void ivr_step_cb(void *arg, const struct ivr_step *step);
typedef void ivr_end_cb(void *arg, const struct ivr_end *end);

/* Time zone hook: the UTC offset in minutes of zone tz at wall_us; 0 or ERR_NOTFOUND. */
typedef int ivr_tz_offset_cb(void *arg, const char *tz, int64_t wall_us, int *offset_min);

/* Everything a session needs from its host; borrowed, must outlive the session. */
struct ivr_session_config {
    const struct ivr_channel_ops *ops; /* required */
    void *ops_ctx;
    const struct ivr_http_ops *http; /* NULL: api_call takes its error outcome */
    void *http_ctx;
    struct ev_loop *loop;          /* NULL: the owner calls ivr_session_poll() */
    int64_t (*now_us)(void *arg);  /* monotonic clock; NULL: clock_mono_us() */
    int64_t (*wall_us)(void *arg); /* wall clock; NULL: clock_wall_us() */
    void *clock_arg;
    ivr_tz_offset_cb *tz_offset; /* NULL: only "UTC" and "+HH:MM" zones */
    void *tz_arg;
    ivr_subflow_resolve_cb *subflow; /* NULL: subflow nodes fail */
    void *subflow_arg;
    ivr_step_cb *on_step; /* may be NULL */
    ivr_end_cb *on_end;   /* may be NULL; runs exactly once */
    void *cb_arg;
};

/*
 * Creates a session for flow (a reference is taken). vars (borrowed) may
 * hold "call", "contact", "flow" (inputs), "sys" and "secrets" objects: all
 * are copied (call.*, contact.* and sys.* into compact read-only form)
 * except "secrets", which is referenced and must not change afterwards (the
 * tenant's object, replaced, never edited, when its secrets change).
 * Returns NULL on OOM. Nothing runs until ivr_session_start().
 */
struct ivr_session *ivr_session_create(struct ivr_flow *flow, const struct ivr_session_config *cfg,
                                       json_t *vars);

/*
 * Runs from the start node until the first node that waits. trigger is
 * "inbound", "outbound_answered" or "api"; amd is NULL, "human" or
 * "machine". on_end may run before this returns (a flow without waits).
 */
void ivr_session_start(struct ivr_session *s, const char *trigger, const char *amd);

/* Feeds an event (borrowed). Ignored after the end. */
void ivr_session_event(struct ivr_session *s, const struct ivr_event *ev);

/* Fires every deadline that is due by the session clock. */
void ivr_session_poll(struct ivr_session *s);

/* The earliest pending deadline on the session clock, or INT64_MAX. */
int64_t ivr_session_deadline(const struct ivr_session *s);

/* Ends a running execution (IVR_END_SHUTDOWN): timers stop, HTTP is cancelled. */
void ivr_session_stop(struct ivr_session *s);

/* True once on_end has run. */
bool ivr_session_ended(const struct ivr_session *s);

/* The current node id, or NULL. */
const char *ivr_session_node(const struct ivr_session *s);

/*
 * The variables the flow wrote (borrowed; read only; NULL while it wrote
 * none): {"flow":{...}, "nodes":{...}} and "contact" once the flow assigned
 * to contact.* (flow.* also holds the caller's inputs and the flow's
 * defaults). call.*, contact.* (unwritten), sys.* and secrets.* are not in
 * it: read them with ivr_session_var().
 */
json_t *ivr_session_vars(const struct ivr_session *s);

/*
 * The value a template would read at path ("contact.first_name", "sys.time",
 * "nodes.menu.digits", or a whole group "call"), as a new reference (NULL
 * when absent). secrets.* are never returned.
 */
json_t *ivr_session_var(const struct ivr_session *s, const char *path);

/* Bytes the session holds outside its variables (the benchmark's figure). */
size_t ivr_session_size(const struct ivr_session *s);

/* Bytes of its compact read-only variables (call.*, contact.*, input sys.*). */
size_t ivr_session_vars_size(const struct ivr_session *s);

/* Stops everything and frees. May be called from on_end. NULL is a no-op. */
void ivr_session_destroy(struct ivr_session *s);

/* ---------------------------------------------------------------------- */
/* Simulator                                                               */
/* ---------------------------------------------------------------------- */

/*
 * Runs flow against a scripted fake channel (syntax in docs/ivr.md, e.g.
 * "on menu; dtmf 1; on ask_account; dtmf 1234#; mock GET https://x/ 200
 * {\"ok\":true}"). vars as for ivr_session_create (may be NULL). Returns 0
 * and *log (new): {"steps":[...], "end":{...}, "duration_ms":N}, or
 * ERR_PARSE with *err (new string) naming the bad statement.
 */
int ivr_sim_run(struct ivr_flow *flow, const char *script, json_t *vars, json_t **log, char **err);

/* ---------------------------------------------------------------------- */
/* Flow storage (PostgreSQL)                                               */
/* ---------------------------------------------------------------------- */

struct db_pool;
struct kv_conn;

/* The outcome of a store operation; everything is borrowed during the callback. */
struct ivr_store_result {
    int status;             /* 0, ERR_NOTFOUND, ERR_INVAL (publish gate), ERR_CONFLICT, ERR_DB... */
    const char *error;      /* a message when status != 0 */
    long long id;           /* the flow id */
    int revision;           /* load: the revision returned (pin it); publish: the new one */
    const char *definition; /* load: the document text */
    const char *stamp;      /* draft_updated_at (create, save, draft load) */
    const char *report;     /* publish refused: the validator's report as JSON text */
};

typedef void ivr_store_cb(void *arg, const struct ivr_store_result *r);

/*
 * Each function runs one transaction for tenant (row-level security) on a
 * connection pinned from pool, on the pool's loop, and calls cb exactly once
 * later (never before it returns) unless it returns an error (then cb never
 * runs): ERR_DISCONNECTED, ERR_BUSY (every connection pinned), ERR_NOMEM.
 * Strings are copied. user is the acting user id (draft_updated_by,
 * published_by, app.actor).
 *
 *   create      a new flow with its first draft (stored even when invalid,
 *               with draft_valid and the report in draft_errors)
 *   save_draft  replaces the draft of flow_id
 *   publish     validates the stored draft with the publish gate (ERR_INVAL
 *               with the report when it has errors) and freezes it as the
 *               next immutable revision with message, making it the
 *               published one; ERR_CONFLICT when the draft changed meanwhile
 *   load        revision > 0: that revision; 0: the latest published one
 *               (the caller pins the returned number for the call); -1: the
 *               draft (test numbers, simulator)
 */
int ivr_store_create(struct db_pool *pool, long long tenant, long long user, const char *name,
                     const char *definition, ivr_store_cb *cb, void *arg);
int ivr_store_save_draft(struct db_pool *pool, long long tenant, long long user, long long flow_id,
                         const char *definition, ivr_store_cb *cb, void *arg);
int ivr_store_publish(struct db_pool *pool, long long tenant, long long user, long long flow_id,
                      const char *message, ivr_store_cb *cb, void *arg);
int ivr_store_load(struct db_pool *pool, long long tenant, long long flow_id, int revision,
                   ivr_store_cb *cb, void *arg);

/*
 * The execution recorder: ivr_executions and ivr_steps written in batches
 * (per tenant one transaction per flush, every flush_ms or when max_rows
 * rows wait), off the hot path. The host calls begin when a call starts a
 * flow and forwards the session's on_step / on_end to step / end. All on
 * the pool's loop thread.
 */
struct ivr_recorder;

struct ivr_exec_meta {
    long long tenant;
    long long flow_id;
    int revision;                /* the pinned revision; 0: the draft ran */
    const char *direction;       /* "outbound", "inbound" or "simulated" */
    const char *call_attempt_id; /* uuid, required for outbound, else NULL */
    const char *channel_id;      /* may be NULL */
    int extension;               /* inbound extension or 0 */
    const char *caller;          /* caller number or NULL */
};

struct ivr_recorder_stats {
    uint64_t written; /* rows committed */
    uint64_t dropped; /* rows given up (refused by the database, or pending at destroy) */
    uint64_t flushes; /* flush rounds started */
    size_t pending;   /* rows waiting */
};

/* 0 and *out, or ERR_NOMEM. flush_ms 0: 200; max_rows 0: 5000. */
int ivr_recorder_create(struct ev_loop *loop, struct db_pool *pool, int64_t flush_ms,
                        size_t max_rows, struct ivr_recorder **out);

/* Stops the timer; pending rows are dropped (flush first); in-flight ones complete. */
void ivr_recorder_destroy(struct ivr_recorder *r);

/* Queues a new execution; writes its uuid (36 characters + NUL) into id. 0 or ERR_*. */
int ivr_recorder_begin(struct ivr_recorder *r, const struct ivr_exec_meta *m, char id[37]);

/* Queues a step (copied; its vars are already masked) of execution exec_id. */
void ivr_recorder_step(struct ivr_recorder *r, long long tenant, const char *exec_id,
                       const struct ivr_step *st);

/* Queues the end of execution exec_id. */
void ivr_recorder_end(struct ivr_recorder *r, long long tenant, const char *exec_id,
                      const struct ivr_end *e);

/* Starts a flush now unless one is in flight. */
void ivr_recorder_flush(struct ivr_recorder *r);

void ivr_recorder_stats(const struct ivr_recorder *r, struct ivr_recorder_stats *out);

/* ---------------------------------------------------------------------- */
/* Bundled templates                                                       */
/* ---------------------------------------------------------------------- */

/* Names of the bundled templates ("account_inquiry", ...); NULL-terminated, static. */
const char *const *ivr_template_names(void);

/*
 * Instantiates a template document (borrowed) with params (borrowed object;
 * missing ones take their defaults): every "{{params.NAME}}" in a string is
 * replaced and the "parameters" block is dropped. Returns a new document or
 * NULL with *err (static) for an unknown or ill-typed parameter.
 */
json_t *ivr_template_instantiate(json_t *tmpl, json_t *params, const char **err);

/* ---------------------------------------------------------------------- */
/* ARI adapter (ivr_ari.c)                                                 */
/* ---------------------------------------------------------------------- */

/*
 * struct ivr_channel_ops over the ARI client for one channel, and the
 * per-process dispatcher that turns ARI events into ivr_session_event().
 *
 * One struct ivr_ari per process (loop thread): a hash map from channel id
 * to the call that owns it (the caller's channel, and the callee's channel
 * of a bridged transfer while it exists), plus the text-to-speech worker.
 * Routing rule for the pool's event callback: ivr_ari_dispatch() first; it
 * returns false for a channel it does not know (a new inbound call, or one
 * of the dialer's channels), which the caller then routes elsewhere.
 *
 * Ids: playback "<channel>.p<op>", bridged-transfer callee "<channel>.x<op>",
 * its bridge "<channel>.b<op>"; recordings take the name the engine gives.
 */
struct ari_client;
struct ari_event;
struct ev_loop;
struct ivr_ari;
struct ivr_ari_call;

/*
 * A text-to-speech provider (ivr/tts.c). render writes the prompt for text in
 * lang with voice to the cache file path, atomically (temporary file in the
 * same directory, then rename). It runs on the dispatcher's TTS worker thread
 * only and may block there. Returns 0 or an ERR_* code (the say then takes
 * its error outcome). destroy(ctx) frees ctx.
 */
struct ivr_tts_provider {
    const char *name; /* "espeak", "http" */
    int (*render)(void *ctx, const char *text, const char *lang, const char *voice,
                  const char *path);
    void (*destroy)(void *ctx);
    void *ctx;
};

/* espeak-ng (program; NULL: "espeak-ng"), default_voice (NULL: "en"). NULL on OOM. */
struct ivr_tts_provider *ivr_tts_espeak_create(const char *program, const char *default_voice);

struct ivr_tts_http_config {
    /*
     * http(s) URL. Without "{text}": POST {"text","lang","voice"} as JSON.
     * With it: GET, {text}, {lang} and {voice} replaced URL-encoded.
     */
    const char *url;
    const char *token;  /* bearer token (copied; never logged); NULL or "": none */
    int64_t timeout_ms; /* whole request; 0: 10 s */
    int64_t max_bytes;  /* response body limit; 0: 16 MiB */
};

/*
 * An HTTP TTS service: blocking curl easy on the worker thread; 200 with
 * Content-Type audio/wav (or audio/x-wav, audio/wave) and a RIFF body is a
 * success, anything else a failure. NULL for a bad URL or token, or OOM.
 */
struct ivr_tts_provider *ivr_tts_http_create(const struct ivr_tts_http_config *cfg);

/* Calls destroy and frees p. NULL is a no-op. */
void ivr_tts_provider_destroy(struct ivr_tts_provider *p);

/* True for a cache file name "tts-<32 lowercase hex>.wav" (and nothing else). */
bool ivr_tts_name_ok(const char *name);

/*
 * Serves dir's cache files read-only at GET /sounds/{name} on h (before
 * httpd_start): only names ivr_tts_name_ok accepts, no listing, no symlinks;
 * 404 otherwise. Free with ivr_sounds_free after httpd_stop. NULL on error.
 */
struct httpd;
struct ivr_sounds;
struct ivr_sounds *ivr_sounds_mount(struct httpd *h, const char *dir);
void ivr_sounds_free(struct ivr_sounds *s);

struct ivr_ari_config {
    const char *app;              /* Stasis app of bridged-transfer callees; NULL: the client's */
    const char *transfer_context; /* dialplan context of transfer targets; default "ivr-transfer" */
    const char *sounds_dir;       /* where say renders wav files; NULL: say fails (ERR_DECLINED) */
    const char *sounds_uri;       /* that directory as Asterisk sees it; default sounds_dir */
    const char *tts_program;      /* default "espeak-ng" */
    const char *default_voice;    /* default "en" */
    /*
     * The TTS provider, taken over (destroyed with the dispatcher, also when
     * ivr_ari_create fails); NULL: espeak-ng with tts_program.
     */
    struct ivr_tts_provider *tts;
    /*
     * When set (e.g. "http://10.0.0.7:8080/sounds"), say plays
     * "sound:<sounds_http_base>/tts-<hex>.wav" (Asterisk's HTTP media cache
     * fetches it from dialerd's /sounds/ route) instead of
     * "sound:<sounds_uri>/tts-<hex>".
     */
    const char *sounds_http_base;
    /*
     * The rendered-prompt cache in sounds_dir is bounded by the worker (never
     * the loop): total size (0: 256 MiB; < 0: no bound), least recently used
     * first, and age since last use (0: 30 days; < 0: no bound), swept every
     * tts_sweep_interval_ms (0: 60 s; < 0: only when over the size bound or
     * asked). Files a live call uses are never deleted.
     */
    int64_t tts_cache_max_bytes;
    int64_t tts_cache_max_age_ms;
    int64_t tts_sweep_interval_ms;
};

/* The TTS cache's figures after the last sweep. */
struct ivr_ari_tts_stats {
    uint64_t sweeps;  /* clean-up passes done */
    uint64_t deleted; /* files deleted */
    size_t files;     /* files kept by the last pass */
    int64_t bytes;    /* their size */
    size_t pinned;    /* files live calls are using now */
};

/* Asks the worker for a clean-up pass now (asynchronous). NULL is a no-op. */
void ivr_ari_tts_sweep(struct ivr_ari *d);

/* Copies the cache figures (any thread). */
void ivr_ari_tts_stats(struct ivr_ari *d, struct ivr_ari_tts_stats *out);

/* Creates the dispatcher on loop and starts the TTS worker. 0, ERR_INVAL or ERR_NOMEM. */
int ivr_ari_create(struct ev_loop *loop, const struct ivr_ari_config *cfg, struct ivr_ari **out);

/* Destroys every call still registered, stops the worker. NULL is a no-op. */
void ivr_ari_destroy(struct ivr_ari *d);

/* The operations; their ctx is a struct ivr_ari_call. */
const struct ivr_channel_ops *ivr_ari_ops(void);

/*
 * Registers channel_id (copied) on client (borrowed; outlives the call).
 * 0, ERR_EXISTS (already registered), ERR_INVAL or ERR_NOMEM.
 */
int ivr_ari_call_create(struct ivr_ari *d, struct ari_client *client, const char *channel_id,
                        struct ivr_ari_call **out);

/* The session that receives the call's events (borrowed; NULL detaches). */
void ivr_ari_call_bind(struct ivr_ari_call *call, struct ivr_session *s);

/* The channel id (borrowed). */
const char *ivr_ari_call_channel(const struct ivr_ari_call *call);

/* True once the channel hung up or left the app (also before a session is bound). */
bool ivr_ari_call_gone(const struct ivr_ari_call *call);

/*
 * Unregisters and frees: pending requests are cancelled, a bridged-transfer
 * callee is hung up and its bridge destroyed. Safe from the session's on_end
 * (even inside ivr_ari_dispatch). NULL is a no-op.
 */
void ivr_ari_call_destroy(struct ivr_ari_call *call);

/*
 * Routes ev (borrowed) to the call owning its channel. Returns true when a
 * registered call took it, false for a channel this dispatcher does not know.
 */
bool ivr_ari_dispatch(struct ivr_ari *d, const struct ari_event *ev);

/* Registered channels (callers and transfer callees). */
size_t ivr_ari_count(const struct ivr_ari *d);

/*
 * The cache file of a say (text, voice): "<dir>/tts-<32 hex>.wav" into buf.
 * Returns 0 or ERR_TOOBIG.
 */
int ivr_ari_tts_path(const char *dir, const char *text, const char *voice, char *buf, size_t size);

/* ---------------------------------------------------------------------- */
/* Extensions (ext_store.c)                                                */
/* ---------------------------------------------------------------------- */

/*
 * Inbound IVR extensions over the extensions table (docs/inbound.md). Pools
 * are fixed by the schema: 2000-2999 inbound IVR, 3000-3999 outbound,
 * 4000-4999 reserved. Each call runs one transaction for tenant (row-level
 * security) on pool and calls cb exactly once, later, on the pool's loop;
 * every change writes an audit_log row in the same transaction.
 */
enum { IVR_EXT_INBOUND_MIN = 2000, IVR_EXT_INBOUND_MAX = 2999 };

struct ivr_ext_result {
    int status;        /* 0, ERR_CONFLICT (taken/none free), ERR_NOTFOUND, ERR_RANGE, ERR_DB */
    const char *error; /* a message when status != 0 */
    int number;        /* the extension */
    const char *state; /* "assigned", "quarantined" */
    long long tenant;  /* lookup */
    long long flow_id; /* 0: none */
    int revision;      /* pinned revision, 0: the published one */
    int max_calls;     /* lookup: the extension's own call limit (0: none), -1: the default */
    json_t *rows;      /* list: [[number, state, flow_id, revision, label, quarantine_until]...] */
};

typedef void ivr_ext_cb(void *arg, const struct ivr_ext_result *r);

/*
 * Assigns number (0: the lowest free inbound extension, safe under
 * concurrent callers: FOR UPDATE SKIP LOCKED) to flow_id with label (may be
 * NULL). ERR_CONFLICT when that number (or every one) is taken, ERR_RANGE
 * outside the inbound pool.
 */
int ivr_ext_assign(struct db_pool *pool, long long tenant, long long actor, int number,
                   long long flow_id, const char *label, ivr_ext_cb *cb, void *arg);

/* Binds the tenant's assigned extension to another flow (revision 0: the published one). */
int ivr_ext_move(struct db_pool *pool, long long tenant, long long actor, int number,
                 long long flow_id, int revision, ivr_ext_cb *cb, void *arg);

/* Releases it into quarantine for quarantine_s seconds (no other tenant gets it meanwhile). */
int ivr_ext_release(struct db_pool *pool, long long tenant, long long actor, int number,
                    int quarantine_s, ivr_ext_cb *cb, void *arg);

/* The tenant's extensions, in number order (rows). */
int ivr_ext_list(struct db_pool *pool, long long tenant, ivr_ext_cb *cb, void *arg);

/*
 * Routing (platform pool, no tenant): tenant, flow and pinned revision of an
 * assigned inbound extension; ERR_NOTFOUND for a free, quarantined or
 * unknown one.
 */
int ivr_ext_lookup(struct db_pool *platform, int number, ivr_ext_cb *cb, void *arg);

/* Platform: creates the inventory rows of from..to (2000-4999) that do not exist; r->number: how
 * many. */
int ivr_ext_provision(struct db_pool *platform, int from, int to, ivr_ext_cb *cb, void *arg);

/*
 * Platform job: quarantined extensions whose time has passed become free.
 * r->number is how many.
 */
int ivr_ext_free_expired(struct db_pool *platform, ivr_ext_cb *cb, void *arg);

/* ---------------------------------------------------------------------- */
/* Inbound routing (inbound.c)                                             */
/* ---------------------------------------------------------------------- */

/*
 * A StasisStart whose first argument is an inbound extension (2000-2999,
 * dialplan Stasis(app,${EXTEN})) becomes an IVR call: the extension's tenant
 * and flow (ivr_ext_lookup), the limits, the published revision
 * (ivr_store_load, compiled once per (flow, revision)), answer, and the
 * interpreter with call.caller_id, call.dialed and call.channel as
 * variables. The revision is pinned when the call starts: publishing later
 * changes only later calls. Over a limit the caller hears overflow_media,
 * an unknown or unassigned extension unknown_media, then a hang-up.
 * Subflows the flow names are loaded (and their revisions pinned) before
 * the call is answered; api_call goes through cfg.http with the tenant's
 * secrets; each run is recorded through cfg.recorder (direction "inbound").
 */
struct ivr_inbound;

struct ivr_inbound_stats {
    long started;            /* flows started */
    long ended;              /* flows ended */
    long unknown;            /* unknown or unassigned extension */
    long overflow;           /* refused by a limit */
    long failed;             /* lookup/load/compile failure (also hung up with unknown_media) */
    long active;             /* calls in progress (any stage) */
    long limits_unavailable; /* refused (as overflow) because Redis did not answer */
};

/* The end of one inbound flow; borrowed during the call. */
typedef void ivr_inbound_end_cb(void *arg, long long tenant, int extension, long long flow_id,
                                int revision, const struct ivr_end *end);

struct ivr_inbound_config {
    struct ev_loop *loop;  /* required */
    struct db_pool *db;    /* required: flows (tenant path) and lookup (platform path) */
    struct ivr_ari *ari;   /* required: the dispatcher calls register in */
    int max_per_tenant;    /* concurrent inbound calls per tenant; 0: unlimited */
    int max_per_extension; /* per extension unless it has its own; 0: unlimited */
    /*
     * Limits shared by every node (NULL: counted in this process only). A
     * call holds a place in two Redis sorted sets (tenant, extension) taken
     * atomically by a Lua script; places carry a deadline refreshed while
     * the call runs, so a node that dies frees its places after
     * limit_ttl_ms. Redis unreachable while a limit applies: the caller hears
     * overflow_media (fail closed). Borrowed; must outlive the router.
     */
    struct kv_conn *kv;
    const char *kv_prefix;      /* key prefix [ "ivr:in:" ], copied */
    const char *node_id;        /* names this node's places [ "node" ], copied */
    int64_t limit_ttl_ms;       /* [120000]; refreshed every third of it */
    const char *overflow_media; /* default "sound:all-circuits-busy-now" */
    const char *unknown_media;  /* default "sound:ss-noservice" */
    ivr_inbound_end_cb *on_end; /* may be NULL */
    void *arg;
    /*
     * Execution records: each flow run (not the built-in messages) is begun,
     * stepped and ended in this recorder like an outbound one (direction
     * "inbound", the extension, the caller). NULL: not recorded. Borrowed.
     */
    struct ivr_recorder *recorder;
    /* api_call requests (ivr_http_backend_ops() over a backend); NULL: error outcome. */
    const struct ivr_http_ops *http;
    void *http_ctx;
    /*
     * The tenant's secrets for api_call headers and auth: a new reference to
     * an object {"name": "value"} or NULL. May be NULL (no secrets).
     */
    json_t *(*secrets)(void *arg, long long tenant);
    /*
     * The api_call context (for http) of the tenant's flows: its SSRF
     * allowlist. NULL: http_ctx for every tenant. Gets secrets_arg.
     */
    void *(*http_for)(void *arg, long long tenant);
    void *secrets_arg;
};

/* 0, ERR_INVAL or ERR_NOMEM. */
int ivr_inbound_create(const struct ivr_inbound_config *cfg, struct ivr_inbound **out);

/* Stops every running call (sessions end with IVR_END_SHUTDOWN). NULL is a no-op. */
void ivr_inbound_destroy(struct ivr_inbound *in);

/*
 * Takes ev if it is a StasisStart whose first argument is an inbound
 * extension (digits in 2000-2999) on a channel not yet known; returns false
 * for anything else (the caller routes it on). client is borrowed.
 */
bool ivr_inbound_start(struct ivr_inbound *in, struct ari_client *client,
                       const struct ari_event *ev);

void ivr_inbound_stats(const struct ivr_inbound *in, struct ivr_inbound_stats *out);

#endif
