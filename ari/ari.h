/* SPDX-License-Identifier: MIT */
/*
 * ari: the Asterisk REST Interface client.
 *
 * Two layers: the event and model layer (this comment, the first sections),
 * and the client proper (REST operations, the events WebSocket, several
 * servers; its own comment at "The client" below). docs/ari.md has both.
 *
 * The events WebSocket delivers one JSON object per text frame. The
 * connection layer hands each frame to ari_event_parse(), which returns a
 * typed struct ari_event (ari/ari_types.h): the common keys (type, timestamp,
 * application, asterisk_id) plus a payload struct per event type, every key
 * of every model a member of the same name. Unknown event types are not an
 * error: they come back as ARI_EVENT_UNKNOWN with the type name and the raw
 * text. Unknown keys are ignored; optional keys may be missing; a missing
 * required key or a value of the wrong JSON type is ERR_PARSE with a message
 * naming the key ("ChannelDestroyed.channel.dialplan.priority: expected
 * integer, got string").
 *
 * Memory. Everything an event points at (strings included) is copied into
 * the caller's arena; nothing else outlives ari_event_parse() (a jansson
 * tree, when the fallback path builds one, is freed before it returns). An event therefore lives
 * exactly as long as the arena's allocations (until arena_reset()/arena_fini()), and the caller's
 * text buffer may be reused at once. The hot-path pattern is one arena per connection, reset after
 * each event has been dispatched; a handler that keeps a value copies it. Empty strings point at a
 * shared static "" and are never to be freed or written (nothing here is).
 *
 * Cost. Parsing is one pass over the text driven by the event's descriptor
 * table (ari/ari_desc.c, generated from the swagger by
 * scripts/gen_ari_models.py): each key matched against the table, one arena
 * copy per kept string, unknown values validated and skipped, no heap
 * allocation. Input that pass does not take (errors, real numbers, repeated
 * keys...) goes through jansson's DOM and the same tables, with the same
 * result. The type name is found by binary search over the sorted name
 * table. docs/ari.md has the measured figures.
 *
 * The same tables drive ari_event_to_json() (for the ARI simulator and the
 * round-trip tests), ari_event_equal() and the routing helpers
 * ari_event_channel_ids()/ari_event_bridge_id(). Helpers the dialer needs sit
 * beside them: channel state and dial status enums, the Q.850 cause table
 * with Asterisk's exact texts, and the dial outcome of an originated channel.
 *
 * Threads: no global state; every function may be called from any thread as
 * long as an arena and an event are used by one thread at a time.
 */
#ifndef ARI_ARI_H
#define ARI_ARI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ari/ari_types.h"
#include "core/arena.h"

/* Longest message ari_event_parse() accepts; longer is ERR_TOOBIG. */
#define ARI_EVENT_MAX_LEN ((size_t)1 << 20)

/*
 * Details of a parse failure, filled by the _ex parsers. field is the key
 * path inside the message ("channel.dialplan.priority", "args[2]"; empty when
 * the message as a whole is at fault) and message is one readable line that
 * names the event type, the path and the problem. Both are NUL-terminated
 * and truncated to fit.
 */
struct ari_parse_error {
    char field[128];   /* key path, e.g. "channel.caller.number" */
    char message[256]; /* e.g. "StasisStart.channel.id: missing required key" */
};

/* ---------------------------------------------------------------------- */
/* Events                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * Parses one events-WebSocket message (text, len bytes, not necessarily
 * NUL-terminated) into an event allocated in a. Returns 0 and sets *out, or:
 *   ERR_PARSE   not JSON, not an object, no string "type", a required key
 *               missing, a value of the wrong JSON type, an integer out of
 *               range, an invalid date (logged at DEBUG with the key path);
 *   ERR_TOOBIG  len > ARI_EVENT_MAX_LEN;
 *   ERR_NOMEM   the arena or jansson ran out of memory;
 *   ERR_INVAL   text or a or out is NULL.
 * *out is set to NULL on failure. An unknown "type" gives ARI_EVENT_UNKNOWN
 * (not an error) with raw/raw_len holding a copy of text.
 * Ownership: text is borrowed for the call; the event and everything it
 * points to are allocated in a and valid until a is reset. A failed parse
 * may leave unreachable allocations in a; they go with the next reset.
 */
int ari_event_parse(const char *text, size_t len, struct arena *a, struct ari_event **out);

/* ari_event_parse() that also fills err (may be NULL) on ERR_PARSE. */
int ari_event_parse_ex(const char *text, size_t len, struct arena *a, struct ari_event **out,
                       struct ari_parse_error *err);

/*
 * ari_event_parse_ex() for a message already parsed by jansson (obj is
 * borrowed; nothing in the event points into it). For an unknown type, raw
 * is obj's compact encoding.
 */
int ari_event_from_json(const json_t *obj, struct arena *a, struct ari_event **out,
                        struct ari_parse_error *err);

/*
 * The JSON form of ev, keys in the order Asterisk 22 emits them, as a new
 * reference (json_decref() it). Absent optional keys are left out; a Date or
 * enum whose string is NULL is written from its _us/_code value (so a
 * simulator may fill only those). An ARI_EVENT_UNKNOWN event gives its raw
 * text parsed back. Returns NULL on OOM or when a required member is NULL
 * (the member is logged at DEBUG). ev is borrowed.
 */
json_t *ari_event_to_json(const struct ari_event *ev);

/*
 * True when a and b hold the same type, common keys and payload, compared
 * deeply (strings by content, dates by text and value). Unknown events
 * compare their raw JSON semantically. Either may be NULL (equal only if
 * both are).
 */
bool ari_event_equal(const struct ari_event *a, const struct ari_event *b);

/*
 * The event type named by the len bytes at name ("ChannelDestroyed"), or
 * ARI_EVENT_UNKNOWN. Binary search over the sorted names; no allocation.
 */
enum ari_event_type ari_event_type_from_name(const char *name, size_t len);

/* The name of type ("Dial"), or "" for ARI_EVENT_UNKNOWN / out of range. Static. */
const char *ari_event_type_name(enum ari_event_type type);

/*
 * Routing: stores in ids[0..max) the distinct ids of the channels ev
 * concerns and returns how many there are (which may exceed max; only max
 * are stored). The first is the primary channel: "channel" for channel
 * events, the dialled "peer" for Dial, the target of a playback or recording
 * ("channel:<id>" target_uri), then any others (Dial caller and forwarded,
 * StasisStart replace_channel, the legs of transfers). The strings are
 * borrowed from ev. Events about no channel (bridge, endpoint, device state,
 * application events, unknown types) return 0.
 */
size_t ari_event_channel_ids(const struct ari_event *ev, const char **ids, size_t max);

/* The primary channel id of ev (ids[0] above), or NULL. Borrowed from ev. */
const char *ari_event_channel_id(const struct ari_event *ev);

/*
 * The id of the bridge ev concerns: "bridge" of bridge and channel-bridge
 * events, the target of a playback or recording on a bridge ("bridge:<id>"),
 * or NULL. Borrowed from ev.
 */
const char *ari_event_bridge_id(const struct ari_event *ev);

/* ---------------------------------------------------------------------- */
/* Models (REST response bodies and event members)                         */
/* ---------------------------------------------------------------------- */

/* The swagger name of model type ("Channel"), or "" out of range. Static. */
const char *ari_model_name(enum ari_model_type type);

/* sizeof the struct of model type (struct ari_channel for ARI_MODEL_CHANNEL); 0 out of range. */
size_t ari_model_size(enum ari_model_type type);

/*
 * Decodes obj (borrowed) as a model of the given type into out, which must
 * point at the matching struct (struct ari_playback for ARI_MODEL_PLAYBACK).
 * out is overwritten; nested models and strings are allocated in a. Returns
 * 0, ERR_PARSE (err filled when not NULL), ERR_NOMEM or ERR_INVAL. Same
 * tolerance rules as events.
 */
int ari_model_from_json(enum ari_model_type type, const json_t *obj, struct arena *a, void *out,
                        struct ari_parse_error *err);

/* ari_model_from_json() on the len bytes of JSON text at text (a REST body). */
int ari_model_parse(enum ari_model_type type, const char *text, size_t len, struct arena *a,
                    void *out, struct ari_parse_error *err);

/*
 * The JSON form of the model at model (borrowed), as a new reference; NULL on
 * OOM or when a required member is NULL.
 */
json_t *ari_model_to_json(enum ari_model_type type, const void *model);

/* Deep equality of two models of the given type (NULL equals only NULL). */
bool ari_model_equal(enum ari_model_type type, const void *a, const void *b);

/* The commonest case, typed: a Channel body (originate, GET /channels/{id}). */
int ari_channel_parse(const char *text, size_t len, struct arena *a, struct ari_channel *out,
                      struct ari_parse_error *err);

/* ---------------------------------------------------------------------- */
/* Timestamps                                                              */
/* ---------------------------------------------------------------------- */

/* Room for ari_time_format()'s output and its NUL. */
#define ARI_TIME_BUFSZ 32

/*
 * Parses an ARI Date, "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hhmm|+hh:mm|+hh)"
 * as Asterisk emits it ("2026-01-01T12:00:00.123+0000"), into microseconds
 * since the epoch (UTC). The fraction may have 1-9 digits (truncated to
 * microseconds). Returns 0, or ERR_PARSE for anything else (including
 * impossible dates such as February 30). s need not be NUL-terminated.
 */
int ari_time_parse(const char *s, size_t len, int64_t *us);

/*
 * Writes us in Asterisk's format with millisecond precision and +0000
 * ("2026-01-01T12:00:00.123+0000"). Returns the length written (28 for years
 * 0-9999), or ERR_RANGE when the year is outside 0-9999, or ERR_TOOBIG when
 * size is too small (ARI_TIME_BUFSZ always suffices).
 */
int ari_time_format(int64_t us, char *buf, size_t size);

/* ---------------------------------------------------------------------- */
/* Enumerated strings                                                      */
/* ---------------------------------------------------------------------- */

/*
 * Channel state from Channel.state ("Up", "Ringing", "Dialing Offhook",
 * "Pre-ring"; the swagger's "Rsrved" too). "Unknown (N)" and anything else
 * give ARI_CHANNEL_STATE_UNKNOWN. s may be NULL (UNKNOWN).
 */
enum ari_channel_state ari_channel_state_from_name(const char *s);

/* The string Asterisk emits for state ("Up"), or "Unknown". Static. */
const char *ari_channel_state_name(enum ari_channel_state state);

/* Dial status from Dial.dialstatus ("" is ARI_DIALSTATUS_STARTED). */
enum ari_dialstatus ari_dialstatus_from_name(const char *s);

/* The dialstatus string ("BUSY"; "" for STARTED), or "UNKNOWN". Static. */
const char *ari_dialstatus_name(enum ari_dialstatus status);

/* Playback.state and LiveRecording.state, as above. */
enum ari_playback_state ari_playback_state_from_name(const char *s);
const char *ari_playback_state_name(enum ari_playback_state state);
enum ari_recording_state ari_recording_state_from_name(const char *s);
const char *ari_recording_state_name(enum ari_recording_state state);

/* ---------------------------------------------------------------------- */
/* Q.850 hangup causes                                                     */
/* ---------------------------------------------------------------------- */

/* Named Q.850 causes the dialer tests for (values as Asterisk's causes.h). */
enum ari_cause_code {
    ARI_CAUSE_NOTDEFINED = 0,
    ARI_CAUSE_UNALLOCATED = 1,
    ARI_CAUSE_NO_ROUTE_DESTINATION = 3,
    ARI_CAUSE_NORMAL_CLEARING = 16,
    ARI_CAUSE_USER_BUSY = 17,
    ARI_CAUSE_NO_USER_RESPONSE = 18,
    ARI_CAUSE_NO_ANSWER = 19,
    ARI_CAUSE_SUBSCRIBER_ABSENT = 20,
    ARI_CAUSE_CALL_REJECTED = 21,
    ARI_CAUSE_NUMBER_CHANGED = 22,
    ARI_CAUSE_ANSWERED_ELSEWHERE = 26,
    ARI_CAUSE_DESTINATION_OUT_OF_ORDER = 27,
    ARI_CAUSE_INVALID_NUMBER_FORMAT = 28,
    ARI_CAUSE_NORMAL_UNSPECIFIED = 31,
    ARI_CAUSE_NORMAL_CIRCUIT_CONGESTION = 34,
    ARI_CAUSE_NETWORK_OUT_OF_ORDER = 38,
    ARI_CAUSE_NORMAL_TEMPORARY_FAILURE = 41,
    ARI_CAUSE_SWITCH_CONGESTION = 42,
    ARI_CAUSE_REQUESTED_CHAN_UNAVAIL = 44,
    ARI_CAUSE_BEARERCAPABILITY_NOTAVAIL = 58,
    ARI_CAUSE_CHAN_NOT_IMPLEMENTED = 66,
    ARI_CAUSE_RECOVERY_ON_TIMER_EXPIRE = 102,
    ARI_CAUSE_INTERWORKING = 127,
};

/*
 * What a call attempt came to, as the dialer records it. UNKNOWN means "no
 * verdict from this input" (a cause such as 16 that does not say, or a call
 * still in progress).
 */
enum ari_dial_outcome {
    ARI_DIAL_UNKNOWN = 0,
    ARI_DIAL_ANSWERED,    /* the callee answered (Dial ANSWER / StasisStart) */
    ARI_DIAL_BUSY,        /* 17, BUSY */
    ARI_DIAL_NO_ANSWER,   /* 18, 19, NOANSWER, originate timeout */
    ARI_DIAL_CONGESTION,  /* 34, 42, 44, CONGESTION: retry later */
    ARI_DIAL_REJECTED,    /* 21 (SIP 401/403/407/603) */
    ARI_DIAL_UNALLOCATED, /* 1, 5, 22, 28: the number is invalid */
    ARI_DIAL_UNAVAILABLE, /* 3, 20, CHANUNAVAIL: unreachable now */
    ARI_DIAL_CANCELLED,   /* hung up by us before answer, 26, CANCEL */
    ARI_DIAL_FAILED,      /* anything else: network, codec, config, protocol */
    ARI_DIAL_OUTCOME_COUNT_
};

/* One row of the cause table: code, Asterisk's name and its exact cause_txt. */
struct ari_cause {
    int code;                      /* Q.850 value */
    const char *name;              /* "USER_BUSY" (AST_CAUSE_ without the prefix) */
    const char *txt;               /* "User busy", exactly as ChannelDestroyed.cause_txt */
    enum ari_dial_outcome outcome; /* what it means for an unanswered call */
};

/* The table row of code, or NULL for a code Asterisk does not define (0 included). Static. */
const struct ari_cause *ari_cause_lookup(int code);

/*
 * The cause_txt Asterisk sends for code: the table text, or "Unknown" for
 * any code not in the table (0 included), exactly as ChannelDestroyed does.
 */
const char *ari_cause_txt(int code);

/* The symbolic name of code ("NORMAL_CLEARING"; "NOTDEFINED" for 0), or NULL. Static. */
const char *ari_cause_name(int code);

/*
 * The code for a symbolic name ("USER_BUSY", case-insensitive, with or
 * without "AST_CAUSE_"; "NOTDEFINED" is 0), or ERR_NOTFOUND.
 */
int ari_cause_from_name(const char *name);

/* The code whose cause_txt is txt (exact match), or ERR_NOTFOUND ("Unknown" gives 0). */
int ari_cause_from_txt(const char *txt);

/*
 * The cause a DELETE /channels/{id}?reason=<reason> sets ("busy" -> 17,
 * "normal" -> 16, ...; NOTES.md section 3), or ERR_NOTFOUND.
 */
int ari_hangup_reason_cause(const char *reason);

/* What cause means for a call that was not answered (table above; FAILED if undefined, UNKNOWN
 * for 0, 16, 31). */
enum ari_dial_outcome ari_cause_outcome(int cause);

/* What a final Dial status means (UNKNOWN for STARTED, RINGING, PROGRESS, PROCEEDING). */
enum ari_dial_outcome ari_dialstatus_outcome(enum ari_dialstatus status);

/* "answered", "busy", "no_answer", ...; "unknown" out of range. Static. */
const char *ari_dial_outcome_name(enum ari_dial_outcome outcome);

/*
 * Dial outcome of one originated channel, accumulated from its events.
 *
 * Asterisk spreads the verdict over several events and the reliable part
 * differs by scenario (captures-asterisk-22, NOTES.md section 7): a busy
 * Local callee destroys the channel with cause 0 after Dial BUSY; a reject
 * says Dial NOANSWER but cause 21; an originate timeout sends no final Dial
 * at all, only ChannelDestroyed 19 (0 before Asterisk 20.18/22.8). The
 * tracker keeps what it has seen and decides, in order: answered (Dial
 * ANSWER, StasisStart, or state Up) wins; a soft hangup before answer (our
 * DELETE) is CANCELLED; then the most informative cause (ChannelDestroyed,
 * else the far end's ChannelHangupRequest); then the last final Dial status;
 * then NO_ANSWER if it rang; else FAILED.
 *
 * Embed it in the call object; it holds no pointers into events.
 */
struct ari_dial_tracker {
    const char *channel_id;         /* public, borrowed: the originated channel's id */
    bool answered;                  /* ro: answer seen */
    bool ringing;                   /* ro: Ringing state or Dial RINGING/PROGRESS seen */
    bool soft_hangup;               /* ro: soft hangup requested before answer */
    bool destroyed;                 /* ro: ChannelDestroyed seen: the outcome is final */
    int hangup_cause;               /* ro: last non-soft ChannelHangupRequest cause, -1 none */
    int destroyed_cause;            /* ro: ChannelDestroyed cause, -1 none */
    enum ari_dialstatus dialstatus; /* ro: last Dial status for this peer, UNKNOWN none */
};

/*
 * Prepares t for the channel whose id is channel_id (borrowed: it must
 * outlive t, typically the call object's own copy).
 */
void ari_dial_tracker_init(struct ari_dial_tracker *t, const char *channel_id);

/*
 * Takes in ev if it concerns t's channel (Dial with it as peer,
 * ChannelStateChange, ChannelHangupRequest, ChannelDestroyed, StasisStart);
 * other events are ignored. Returns true when ev changed t. ev is borrowed.
 */
bool ari_dial_tracker_feed(struct ari_dial_tracker *t, const struct ari_event *ev);

/*
 * The outcome so far: ANSWERED as soon as answer is seen, UNKNOWN while the
 * call is unanswered and not yet destroyed, otherwise the final verdict.
 */
enum ari_dial_outcome ari_dial_tracker_outcome(const struct ari_dial_tracker *t);

/* ---------------------------------------------------------------------- */
/* The client: REST operations and the events WebSocket of one server       */
/* ---------------------------------------------------------------------- */

/*
 * struct ari_client is one Asterisk server: a REST side (core/http, curl
 * multi on the caller's libev loop: keep-alive connections, per-request
 * timeouts) and an events WebSocket (a minimal RFC 6455 client on the same loop)
 * that reconnects with bounded exponential back-off and jitter, pings the
 * server, and after every (re)connect re-issues the app's explicit
 * subscriptions and reconciles the owner's channels against GET /channels.
 *
 * Every REST operation is asynchronous: it builds the request (every
 * parameter percent-encoded), starts it and returns 0, or fails at once
 * with a negative code and never calls back. A started request completes
 * exactly once through its ari_done_cb, later and from the loop, unless it
 * is cancelled with ari_req_cancel() first (a session that hangs up cancels
 * what it still waits for). The result is borrowed for the callback.
 *
 * Threads: a client belongs to the thread running its loop; nothing here
 * blocks. docs/ari.md has the design, decisions and measured costs.
 */
struct ari_client;
struct ari_pool;
struct ari_req;
struct ev_loop;

/* What an ARI request came to: the HTTP status mapped as NOTES.md section 3 reads it. */
enum ari_error {
    ARI_OK = 0,              /* 2xx */
    ARI_E_BAD_REQUEST,       /* 400: a parameter is missing or invalid */
    ARI_E_AUTH,              /* 401/403: credentials refused */
    ARI_E_NOT_FOUND,         /* 404: no such channel, bridge, playback, recording */
    ARI_E_NOT_IN_STASIS,     /* 409: exists but not in the app (or a duplicate id) */
    ARI_E_PRECONDITION,      /* 412: in the app but not answered (Down/Ringing) */
    ARI_E_UNPROCESSABLE,     /* 422: e.g. channel not in the bridge, bad format */
    ARI_E_ALLOCATION_FAILED, /* 500 {"error":"Allocation failed"}: endpoint unrequestable */
    ARI_E_SERVER,            /* any other 5xx (503 while booting, 500) */
    ARI_E_HTTP,              /* any other unexpected status */
    ARI_E_TIMEOUT,           /* no answer within the request timeout */
    ARI_E_TRANSPORT,         /* connect refused, reset, malformed HTTP */
    ARI_E_CANCELED,          /* the client was destroyed with the request owed */
    ARI_E_COUNT_
};

/* "ok", "not_found", "allocation_failed", ...; "unknown" out of range. Static. */
const char *ari_error_name(enum ari_error e);

/*
 * The error of an HTTP exchange: code is the status (0 when none arrived),
 * body/len the response body (may be NULL), status the transport status of
 * core/http (0 when a response arrived). Pure; exposed for tests.
 */
enum ari_error ari_error_from_http(int status, long code, const char *body, size_t len);

/* The REST operations, as named in the swagger (for logs and results). */
enum ari_op {
    ARI_OP_ORIGINATE,
    ARI_OP_HANGUP,
    ARI_OP_ANSWER,
    ARI_OP_RING,
    ARI_OP_RING_STOP,
    ARI_OP_PLAY,
    ARI_OP_PLAYBACK_STOP,
    ARI_OP_RECORD,
    ARI_OP_RECORDING_STOP,
    ARI_OP_RECORDING_CANCEL,
    ARI_OP_CONTINUE,
    ARI_OP_REDIRECT,
    ARI_OP_DIAL,
    ARI_OP_SNOOP,
    ARI_OP_DTMF,
    ARI_OP_VAR_GET,
    ARI_OP_VAR_SET,
    ARI_OP_CHANNELS_LIST,
    ARI_OP_CHANNEL_GET,
    ARI_OP_BRIDGE_CREATE,
    ARI_OP_BRIDGE_ADD,
    ARI_OP_BRIDGE_REMOVE,
    ARI_OP_BRIDGE_DESTROY,
    ARI_OP_BRIDGE_PLAY,
    ARI_OP_SUBSCRIBE,
    ARI_OP_UNSUBSCRIBE,
    ARI_OP_PING,
    ARI_OP_COUNT_
};

/* "originate", "hangup", ... Static. */
const char *ari_op_name(enum ari_op op);

/* A completed request; everything is borrowed for the duration of the callback. */
struct ari_result {
    enum ari_op op;          /* which operation */
    enum ari_error error;    /* ARI_OK or what went wrong */
    long http_status;        /* HTTP status, 0 when no response arrived */
    const char *message;     /* error text ("Channel not found", curl's error); "" on success */
    const char *body;        /* raw response body, "" when empty (204) */
    size_t body_len;         /* its length */
    const char *location;    /* Location header (play, record) or NULL */
    const char *resource_id; /* the channel/bridge/playback/recording the request named, or NULL */
};

/*
 * A request completed. c is the client, res is borrowed, arg is the
 * caller's. The request handle is dead once this runs. The callback may
 * start or cancel other requests; it must not destroy c.
 */
typedef void ari_done_cb(struct ari_client *c, const struct ari_result *res, void *arg);

/* Health of one server as the pool sees it. */
enum ari_health {
    ARI_HEALTH_DOWN = 0, /* events WebSocket not connected */
    ARI_HEALTH_UP,       /* connected, requests succeed */
    ARI_HEALTH_DEGRADED, /* connected, but a burst of 5xx/transport failures just now */
};

/* "down", "up", "degraded". Static. */
const char *ari_health_name(enum ari_health h);

/* Callbacks of a client's owner; any may be NULL. arg is ari_handlers.arg. */
struct ari_handlers {
    /* One parsed event; ev is valid during the call only (copy what you keep). */
    void (*on_event)(struct ari_client *c, const struct ari_event *ev, void *arg);
    /* The health changed (WebSocket up or down, degraded after a 5xx burst, recovered). */
    void (*on_health)(struct ari_client *c, enum ari_health h, void *arg);
    /*
     * Reconciliation, step 1: called right before GET /channels is sent
     * after a (re)connect (or ari_client_reconcile()). Store up to max ids of
     * the channels the owner believes live on this server in ids (borrowed
     * until the call returns; they are copied) and return how many there
     * are (more than max: only max are checked).
     */
    size_t (*known_channels)(struct ari_client *c, const char **ids, size_t max, void *arg);
    /*
     * Reconciliation, step 2: of the ids known_channels gave, gone are not on
     * the server any more (finalise them: their events were lost) and up are
     * still there. status is 0, or the error of GET /channels (then both
     * lists are empty and nothing is known). Lists borrowed for the call.
     */
    void (*on_reconcile)(struct ari_client *c, int status, const char *const *gone, size_t n_gone,
                         const char *const *up, size_t n_up, void *arg);
    void *arg;
};

/* One server's settings; strings are copied by ari_client_create(). 0/NULL picks the default. */
struct ari_client_config {
    const char *name;           /* for logs and /readyz; default "default" */
    const char *url;            /* http://host:port of Asterisk's HTTP server (ARI under /ari) */
    const char *user;           /* ARI user (Basic auth); required */
    const char *password;       /* its password; NULL: empty */
    const char *app;            /* Stasis application(s), comma list; required */
    bool subscribe_all;         /* events=...&subscribeAll=true */
    bool no_events;             /* REST only: no WebSocket (tools, tests) */
    int64_t request_timeout_ms; /* total per request; 5000 */
    int64_t connect_timeout_ms; /* TCP connect; 2000 */
    int64_t reconnect_min_ms;   /* first WebSocket reconnect delay; 250 */
    int64_t reconnect_max_ms;   /* back-off cap; 10000 */
    int64_t ping_interval_ms;   /* WebSocket ping period; two missed pongs drop it; 10000 */
    long max_connections;       /* parallel HTTP connections; 16 */
    long max_channels;          /* capacity for placement; 0: unlimited */
    int degraded_errors;        /* 5xx/transport failures within degraded_window_ms; 5 */
    int64_t degraded_window_ms; /* 10000 */
    /* REST transport: NULL or "http" (default): the client's own HTTP/1.1
     * keep-alive connections when the URL's host is a numeric address, curl
     * otherwise; "curl": always core/http (curl). */
    const char *transport;
};

/*
 * Creates a client on loop and starts connecting its events WebSocket.
 * Returns 0 and sets *out (new; ari_client_destroy), ERR_INVAL (missing
 * loop/url/user/app, a URL that is not http://host[:port]) or ERR_NOMEM.
 * h is copied; it may be NULL.
 */
int ari_client_create(struct ev_loop *loop, const struct ari_client_config *cfg,
                      const struct ari_handlers *h, struct ari_client **out);

/*
 * Closes the WebSocket and completes every owed request with
 * ARI_E_CANCELED (callbacks run inside this call). NULL is a no-op. Must not
 * be called from the client's own callbacks.
 */
void ari_client_destroy(struct ari_client *c);

/* The configured name. Borrowed, valid for the client's life. */
const char *ari_client_name(const struct ari_client *c);

/* Current health (a degraded window that has passed counts as up). */
enum ari_health ari_client_health(struct ari_client *c);

/* True while the events WebSocket is established. */
bool ari_client_connected(const struct ari_client *c);

/* Channels this client originated that are not destroyed yet, and the configured cap. */
long ari_client_channels(const struct ari_client *c);
long ari_client_max_channels(const struct ari_client *c);

/* Statistics for tests and diagnostics. */
struct ari_client_stats {
    uint64_t requests;     /* REST requests started */
    uint64_t failures;     /* completed with an error other than 4xx */
    uint64_t events;       /* events delivered */
    uint64_t parse_errors; /* frames that did not parse */
    uint64_t connects;     /* WebSocket establishments */
    uint64_t disconnects;  /* WebSocket losses */
    uint64_t reconciles;   /* reconciliations completed */
};

void ari_client_stats(const struct ari_client *c, struct ari_client_stats *st);

/* Runs the reconciliation now (as after a reconnect). Returns 0 or a start error. */
int ari_client_reconcile(struct ari_client *c);

/* Cancels a request: its callback never runs. NULL is a no-op; so is a call from its callback. */
void ari_req_cancel(struct ari_req *r);

/*
 * Every operation below: c is the client; string arguments are borrowed for
 * the call (copied into the request) and NULL leaves an optional parameter
 * out; cb(c, res, arg) completes it (cb may be NULL: fire and forget); *out,
 * when out is not NULL, receives the handle for ari_req_cancel(), valid
 * until the callback starts. Returns 0, ERR_INVAL (a required argument is
 * NULL or empty), ERR_NOMEM or ERR_SHUTDOWN.
 */

/* POST /channels[/{channelId}]: originate. See NOTES.md section 3. */
struct ari_originate {
    const char *endpoint;         /* required: "PJSIP/+15551234@trunk", "Local/100@ctx" */
    const char *channel_id;       /* our id (the attempt id); goes in the path */
    const char *other_channel_id; /* id of a Local channel's ;2 half */
    const char *app;              /* Stasis app; NULL: the client's first app (unless extension) */
    const char *app_args;         /* "c42,l7" */
    const char *extension;        /* dialplan mode instead of app: extension, context, priority */
    const char *context;
    long priority; /* 0: omitted */
    const char *label;
    const char *caller_id;           /* "Name" <number> */
    int timeout_s;                   /* ring timeout: 0 = server default (30), -1 = none */
    const char *originator;          /* channel id of the originating channel */
    const char *formats;             /* "ulaw,alaw" (not with originator) */
    const struct ari_var *variables; /* channel variables (value strings) */
    size_t n_variables;
};

int ari_originate(struct ari_client *c, const struct ari_originate *o, ari_done_cb *cb, void *arg,
                  struct ari_req **out);

/* DELETE /channels/{id}[?reason=]: reason one of NOTES.md's names ("busy"), NULL for normal. */
int ari_channel_hangup(struct ari_client *c, const char *id, const char *reason, ari_done_cb *cb,
                       void *arg, struct ari_req **out);
/* POST /channels/{id}/answer, POST|DELETE /channels/{id}/ring. */
int ari_channel_answer(struct ari_client *c, const char *id, ari_done_cb *cb, void *arg,
                       struct ari_req **out);
int ari_channel_ring(struct ari_client *c, const char *id, bool on, ari_done_cb *cb, void *arg,
                     struct ari_req **out);

/* POST /channels/{id}/play or /bridges/{id}/play: media in order, optional playback id. */
struct ari_play {
    const char *const *media; /* required: "sound:hello-world", "digits:123", ... */
    size_t n_media;           /* at least 1 */
    const char *lang;
    const char *playback_id;
    int offsetms; /* 0: omitted */
    int skipms;   /* 0: omitted (server default 3000) */
};

int ari_channel_play(struct ari_client *c, const char *id, const struct ari_play *p,
                     ari_done_cb *cb, void *arg, struct ari_req **out);
int ari_bridge_play(struct ari_client *c, const char *bridge_id, const struct ari_play *p,
                    ari_done_cb *cb, void *arg, struct ari_req **out);
/* DELETE /playbacks/{id}: stop (barge-in). */
int ari_playback_stop(struct ari_client *c, const char *playback_id, ari_done_cb *cb, void *arg,
                      struct ari_req **out);

/* POST /channels/{id}/record: a live recording. */
struct ari_record {
    const char *name;      /* required */
    const char *format;    /* required: "wav", "gsm", ... */
    int max_duration_s;    /* 0: omitted */
    int max_silence_s;     /* 0: omitted */
    const char *if_exists; /* fail | overwrite | append */
    bool beep;
    const char *terminate_on; /* none | any | * | # */
};

int ari_channel_record(struct ari_client *c, const char *id, const struct ari_record *r,
                       ari_done_cb *cb, void *arg, struct ari_req **out);
/* POST /recordings/live/{name}/stop (keep it) or DELETE /recordings/live/{name} (discard). */
int ari_recording_stop(struct ari_client *c, const char *name, bool discard, ari_done_cb *cb,
                       void *arg, struct ari_req **out);

/* POST /channels/{id}/continue: back to the dialplan (NULLs/0: the next priority). */
int ari_channel_continue(struct ari_client *c, const char *id, const char *context,
                         const char *extension, long priority, const char *label, ari_done_cb *cb,
                         void *arg, struct ari_req **out);
/* POST /channels/{id}/redirect?endpoint= */
int ari_channel_redirect(struct ari_client *c, const char *id, const char *endpoint,
                         ari_done_cb *cb, void *arg, struct ari_req **out);
/* POST /channels/{id}/dial[?caller=&timeout=] (a channel from /channels/create). */
int ari_channel_dial(struct ari_client *c, const char *id, const char *caller, int timeout_s,
                     ari_done_cb *cb, void *arg, struct ari_req **out);
/* POST /channels/{id}/snoop: spy/whisper "none|both|out|in", app required. 200 Channel. */
int ari_channel_snoop(struct ari_client *c, const char *id, const char *app, const char *spy,
                      const char *whisper, const char *snoop_id, ari_done_cb *cb, void *arg,
                      struct ari_req **out);
/* POST /channels/{id}/dtmf?dtmf=&between= (between_ms 0: server default). */
int ari_channel_dtmf(struct ari_client *c, const char *id, const char *dtmf, int between_ms,
                     ari_done_cb *cb, void *arg, struct ari_req **out);
/* GET /channels/{id}/variable?variable= (200 {"value":..}: ari_result_value()). */
int ari_channel_var_get(struct ari_client *c, const char *id, const char *name, ari_done_cb *cb,
                        void *arg, struct ari_req **out);
/* POST /channels/{id}/variable?variable=&value= */
int ari_channel_var_set(struct ari_client *c, const char *id, const char *name, const char *value,
                        ari_done_cb *cb, void *arg, struct ari_req **out);
/* GET /channels (a JSON array of Channel) and GET /channels/{id} (a Channel). */
int ari_channels_list(struct ari_client *c, ari_done_cb *cb, void *arg, struct ari_req **out);
int ari_channel_get(struct ari_client *c, const char *id, ari_done_cb *cb, void *arg,
                    struct ari_req **out);

/* POST /bridges[/{id}]?type=&name= (type "mixing", "holding", "mixing,dtmf_events"). 200 Bridge. */
int ari_bridge_create(struct ari_client *c, const char *bridge_id, const char *type,
                      const char *name, ari_done_cb *cb, void *arg, struct ari_req **out);
/* POST /bridges/{id}/addChannel|removeChannel?channel= (comma list), role for add. */
int ari_bridge_add_channel(struct ari_client *c, const char *bridge_id, const char *channel,
                           const char *role, ari_done_cb *cb, void *arg, struct ari_req **out);
int ari_bridge_remove_channel(struct ari_client *c, const char *bridge_id, const char *channel,
                              ari_done_cb *cb, void *arg, struct ari_req **out);
/* DELETE /bridges/{id} */
int ari_bridge_destroy(struct ari_client *c, const char *bridge_id, ari_done_cb *cb, void *arg,
                       struct ari_req **out);

/*
 * POST|DELETE /applications/{app}/subscription?eventSource= ("channel:<id>",
 * "bridge:<id>", comma list). app NULL: the client's first app. Successful
 * subscriptions are remembered and re-issued after a reconnect until
 * unsubscribed.
 */
int ari_app_subscribe(struct ari_client *c, const char *app, const char *event_source,
                      ari_done_cb *cb, void *arg, struct ari_req **out);
int ari_app_unsubscribe(struct ari_client *c, const char *app, const char *event_source,
                        ari_done_cb *cb, void *arg, struct ari_req **out);
/* GET /asterisk/ping */
int ari_ping(struct ari_client *c, ari_done_cb *cb, void *arg, struct ari_req **out);

/*
 * Typed bodies of a successful result, decoded on demand (the hot path does
 * not pay for bodies it does not read). out points at the model struct;
 * strings are allocated in a. Returns 0, ERR_PARSE (err filled), ERR_INVAL
 * (no body) or ERR_NOMEM.
 */
int ari_result_model(const struct ari_result *res, enum ari_model_type type, struct arena *a,
                     void *out, struct ari_parse_error *err);
/* The "value" of a GET variable result, copied into a; NULL when absent or on error. */
const char *ari_result_value(const struct ari_result *res, struct arena *a);

/* ---------------------------------------------------------------------- */
/* Several servers                                                         */
/* ---------------------------------------------------------------------- */

/*
 * A pool of n clients (one per Asterisk server) sharing one set of handlers
 * (the client pointer tells which server an event or result comes from).
 * Returns 0 and *out (new; ari_pool_destroy), ERR_INVAL or ERR_NOMEM (then
 * nothing is left running).
 */
int ari_pool_create(struct ev_loop *loop, const struct ari_client_config *cfgs, size_t n,
                    const struct ari_handlers *h, struct ari_pool **out);
void ari_pool_destroy(struct ari_pool *p);
size_t ari_pool_size(const struct ari_pool *p);
/* The i-th client (configuration order), NULL out of range. Borrowed. */
struct ari_client *ari_pool_client(const struct ari_pool *p, size_t i);

/*
 * Placement: the server for the next originate. Up servers before degraded
 * ones, down servers never; among equals the lowest share of capacity in
 * use (channels / max_channels), ties taken in turn. Full servers are
 * skipped. NULL when no server can take a call.
 */
struct ari_client *ari_pool_pick(struct ari_pool *p);

/* ari_pool_pick() + ari_originate(); *server (may be NULL) gets the client used. ERR_BUSY when
 * no server can take it. */
int ari_pool_originate(struct ari_pool *p, const struct ari_originate *o, ari_done_cb *cb,
                       void *arg, struct ari_req **out, struct ari_client **server);

/* ---------------------------------------------------------------------- */
/* Server list from configuration                                          */
/* ---------------------------------------------------------------------- */

/* What dialerd's configuration says about its Asterisk servers (all borrowed). */
struct ari_server_list_spec {
    const char *servers; /* "a=http://h1:8088,b=http://h2:8088"; empty: url alone */
    const char *url;     /* the single server, named "default" */
    const char *user;    /* default credentials */
    const char *password;
    const char *credentials_file; /* "name user password" lines; may be NULL/empty */
};

/* The parsed list: one ari_client_config per server with name, url, user, password set. */
struct ari_server_list {
    struct ari_client_config *servers; /* n of them; the caller fills the other fields */
    size_t n;
    char **_strings; /* private: storage of the strings */
    size_t _n_strings;
};

/*
 * Parses spec into l. Returns 0, or ERR_INVAL / ERR_NOTFOUND / ERR_NOMEM
 * with a message naming the key (and line) in err; l is then empty. The
 * strings in l are owned by l (ari_server_list_free()); user and password
 * may point at spec's (borrowed) when no file line overrides them. Reads a
 * file: start-up only, never on a loop thread.
 */
int ari_server_list_parse(struct ari_server_list *l, const struct ari_server_list_spec *spec,
                          char *err, size_t errlen);
void ari_server_list_free(struct ari_server_list *l);

#endif
