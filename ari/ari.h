/* SPDX-License-Identifier: MIT */
/*
 * ari: the Asterisk REST Interface client's event and model layer.
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
 * the caller's arena; the jansson tree the text was parsed into is freed
 * before ari_event_parse() returns. An event therefore lives exactly as long
 * as the arena's allocations (until arena_reset()/arena_fini()), and the
 * caller's text buffer may be reused at once. The hot-path pattern is one
 * arena per connection, reset after each event has been dispatched; a
 * handler that keeps a value copies it. Empty strings point at a shared
 * static "" and are never to be freed or written (nothing here is).
 *
 * Cost. Parsing is jansson's DOM plus one pass over the event's descriptor
 * table (ari/ari_desc.c, generated from the swagger by
 * scripts/gen_ari_models.py): one hash lookup per known key, one arena copy
 * per string, no heap allocation of our own. The type name is found by
 * binary search over the sorted name table. docs/ari.md has the measured
 * figures.
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

#endif
