/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ari/cause.c: the Q.850 table against NOTES.md section 6
 * (exact cause_txt), names, hang-up reasons, dial outcomes, and the dial
 * tracker on synthetic event sequences (the captured ones are in
 * test_event.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/err.h"

/* NOTES.md section 6, row by row: code, name, cause_txt, outcome. */
static const struct ari_cause notes_table[] = {
    { 1, "UNALLOCATED", "Unallocated (unassigned) number", ARI_DIAL_UNALLOCATED },
    { 3, "NO_ROUTE_DESTINATION", "No route to destination", ARI_DIAL_UNAVAILABLE },
    { 16, "NORMAL_CLEARING", "Normal Clearing", ARI_DIAL_UNKNOWN },
    { 17, "USER_BUSY", "User busy", ARI_DIAL_BUSY },
    { 18, "NO_USER_RESPONSE", "No user responding", ARI_DIAL_NO_ANSWER },
    { 19, "NO_ANSWER", "User alerting, no answer", ARI_DIAL_NO_ANSWER },
    { 20, "SUBSCRIBER_ABSENT", "Subscriber absent", ARI_DIAL_UNAVAILABLE },
    { 21, "CALL_REJECTED", "Call Rejected", ARI_DIAL_REJECTED },
    { 22, "NUMBER_CHANGED", "Number changed", ARI_DIAL_UNALLOCATED },
    { 26, "ANSWERED_ELSEWHERE", "Answered elsewhere", ARI_DIAL_CANCELLED },
    { 27, "DESTINATION_OUT_OF_ORDER", "Destination out of order", ARI_DIAL_FAILED },
    { 28, "INVALID_NUMBER_FORMAT", "Invalid number format", ARI_DIAL_UNALLOCATED },
    { 31, "NORMAL_UNSPECIFIED", "Normal, unspecified", ARI_DIAL_UNKNOWN },
    { 34, "NORMAL_CIRCUIT_CONGESTION", "Circuit/channel congestion", ARI_DIAL_CONGESTION },
    { 38, "NETWORK_OUT_OF_ORDER", "Network out of order", ARI_DIAL_FAILED },
    { 41, "NORMAL_TEMPORARY_FAILURE", "Temporary failure", ARI_DIAL_FAILED },
    { 42, "SWITCH_CONGESTION", "Switching equipment congestion", ARI_DIAL_CONGESTION },
    { 44, "REQUESTED_CHAN_UNAVAIL", "Requested channel not available", ARI_DIAL_CONGESTION },
    { 58, "BEARERCAPABILITY_NOTAVAIL", "Bearer capability not available", ARI_DIAL_FAILED },
    { 66, "CHAN_NOT_IMPLEMENTED", "Channel not implemented", ARI_DIAL_FAILED },
    { 102, "RECOVERY_ON_TIMER_EXPIRE", "Recover on timer expiry", ARI_DIAL_FAILED },
    { 127, "INTERWORKING", "Interworking, unspecified", ARI_DIAL_FAILED },
};

static void test_cause_table_matches_notes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(notes_table) / sizeof(notes_table[0]); i++) {
        const struct ari_cause *want = &notes_table[i];
        const struct ari_cause *got = ari_cause_lookup(want->code);
        assert_non_null(got);
        assert_int_equal(got->code, want->code);
        assert_string_equal(got->name, want->name);
        assert_string_equal(got->txt, want->txt);
        assert_string_equal(ari_cause_txt(want->code), want->txt);
        assert_string_equal(ari_cause_name(want->code), want->name);
        if (got->outcome != want->outcome || ari_cause_outcome(want->code) != want->outcome) {
            fail_msg("cause %d: outcome %s, expected %s", want->code,
                     ari_dial_outcome_name(got->outcome), ari_dial_outcome_name(want->outcome));
        }
    }
    /* 0 is "Unknown" (an old originate timeout), with no verdict of its own. */
    assert_null(ari_cause_lookup(0));
    assert_string_equal(ari_cause_txt(0), "Unknown");
    assert_string_equal(ari_cause_name(0), "NOTDEFINED");
    assert_int_equal(ari_cause_outcome(0), ARI_DIAL_UNKNOWN);
}

static void test_cause_defined_codes(void **state)
{
    /* "Other defined codes" of NOTES.md plus the table's rows: exactly these exist. */
    static const int defined[] = { 1,  2,  3,  5,  6,   7,   8,   14,  16,  17, 18, 19, 20,
                                   21, 22, 23, 26, 27,  28,  29,  30,  31,  34, 38, 41, 42,
                                   43, 44, 50, 52, 54,  57,  58,  65,  66,  69, 81, 88, 95,
                                   96, 97, 98, 99, 100, 101, 102, 103, 111, 127 };
    size_t k = 0;

    (void)state;
    for (int code = -5; code <= 300; code++) {
        const struct ari_cause *c = ari_cause_lookup(code);
        bool want = k < sizeof(defined) / sizeof(defined[0]) && defined[k] == code;
        if (want) {
            k++;
            assert_non_null(c);
            assert_int_equal(c->code, code);
            /* Names and texts round-trip. */
            assert_int_equal(ari_cause_from_name(c->name), code);
            assert_int_equal(ari_cause_from_txt(c->txt), code);
            assert_int_not_equal(ari_cause_outcome(code), ARI_DIAL_ANSWERED);
        } else {
            assert_null(c);
            assert_string_equal(ari_cause_txt(code), "Unknown");
            if (code != 0) {
                assert_null(ari_cause_name(code));
                assert_int_equal(ari_cause_outcome(code), ARI_DIAL_FAILED);
            }
        }
    }
    assert_int_equal(k, sizeof(defined) / sizeof(defined[0]));
    /* A few of the rarer texts, exactly as Asterisk has them. */
    assert_string_equal(ari_cause_txt(2), "No route to specified transmit network");
    assert_string_equal(ari_cause_txt(5), "Misdialed trunk prefix");
    assert_string_equal(ari_cause_txt(30), "Response to STATus ENQuiry");
    assert_string_equal(ari_cause_txt(97), "Message type nonexist.");
}

static void test_cause_names_and_reasons(void **state)
{
    (void)state;
    assert_int_equal(ari_cause_from_name("USER_BUSY"), 17);
    assert_int_equal(ari_cause_from_name("user_busy"), 17);
    assert_int_equal(ari_cause_from_name("AST_CAUSE_USER_BUSY"), 17);
    assert_int_equal(ari_cause_from_name("NOTDEFINED"), 0);
    assert_int_equal(ari_cause_from_name("USER_BUS"), ERR_NOTFOUND);
    assert_int_equal(ari_cause_from_name(""), ERR_NOTFOUND);
    assert_int_equal(ari_cause_from_name(NULL), ERR_NOTFOUND);
    assert_int_equal(ari_cause_from_txt("Unknown"), 0);
    assert_int_equal(ari_cause_from_txt("user busy"), ERR_NOTFOUND);
    assert_int_equal(ari_cause_from_txt(NULL), ERR_NOTFOUND);

    /* DELETE /channels/{id}?reason= (NOTES.md section 3). */
    static const struct {
        const char *reason;
        int cause;
    } reasons[] = {
        { "normal", 16 },
        { "busy", 17 },
        { "congestion", 34 },
        { "no_answer", 19 },
        { "timeout", 18 },
        { "rejected", 21 },
        { "unallocated", 1 },
        { "normal_unspecified", 31 },
        { "number_incomplete", 28 },
        { "codec_mismatch", 58 },
        { "interworking", 127 },
        { "failure", 38 },
        { "answered_elsewhere", 26 },
    };

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        assert_int_equal(ari_hangup_reason_cause(reasons[i].reason), reasons[i].cause);
    }
    assert_int_equal(ari_hangup_reason_cause("Normal"), ERR_NOTFOUND);
    assert_int_equal(ari_hangup_reason_cause(NULL), ERR_NOTFOUND);
}

static void test_cause_dialstatus_and_states(void **state)
{
    (void)state;
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_ANSWER), ARI_DIAL_ANSWERED);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_BUSY), ARI_DIAL_BUSY);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_CONGESTION), ARI_DIAL_CONGESTION);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_CHANUNAVAIL), ARI_DIAL_UNAVAILABLE);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_NOANSWER), ARI_DIAL_NO_ANSWER);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_CANCEL), ARI_DIAL_CANCELLED);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_STARTED), ARI_DIAL_UNKNOWN);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_RINGING), ARI_DIAL_UNKNOWN);
    assert_int_equal(ari_dialstatus_outcome(ARI_DIALSTATUS_PROGRESS), ARI_DIAL_UNKNOWN);

    /* Every enumerated string round-trips through its name. */
    for (int s = 1; s < ARI_CHANNEL_STATE_COUNT_; s++) {
        const char *n = ari_channel_state_name((enum ari_channel_state)s);
        assert_int_equal(ari_channel_state_from_name(n), s);
    }
    for (int s = 1; s < ARI_DIALSTATUS_COUNT_; s++) {
        assert_int_equal(ari_dialstatus_from_name(ari_dialstatus_name((enum ari_dialstatus)s)), s);
    }
    for (int s = 1; s < ARI_PLAYBACK_STATE_COUNT_; s++) {
        assert_int_equal(
            ari_playback_state_from_name(ari_playback_state_name((enum ari_playback_state)s)), s);
    }
    for (int s = 1; s < ARI_RECORDING_STATE_COUNT_; s++) {
        assert_int_equal(
            ari_recording_state_from_name(ari_recording_state_name((enum ari_recording_state)s)),
            s);
    }
    /* The exact strings Asterisk emits. */
    static const char *const states[] = { "Down",     "Rsrvd", "OffHook",
                                          "Dialing",  "Ring",  "Ringing",
                                          "Up",       "Busy",  "Dialing Offhook",
                                          "Pre-ring", "Mute" };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        assert_int_equal(ari_channel_state_from_name(states[i]), (int)i + 1);
    }
    assert_int_equal(ari_channel_state_from_name("Rsrved"), ARI_CHANNEL_STATE_RSRVD);
    assert_string_equal(ari_channel_state_name(ARI_CHANNEL_STATE_RSRVD), "Rsrvd");
    assert_int_equal(ari_channel_state_from_name("Unknown (10)"), ARI_CHANNEL_STATE_UNKNOWN);
    assert_int_equal(ari_channel_state_from_name("up"), ARI_CHANNEL_STATE_UNKNOWN);
    assert_int_equal(ari_channel_state_from_name(NULL), ARI_CHANNEL_STATE_UNKNOWN);
    assert_string_equal(ari_channel_state_name(ARI_CHANNEL_STATE_UNKNOWN), "Unknown");
    assert_string_equal(ari_channel_state_name(ARI_CHANNEL_STATE_COUNT_), "Unknown");
    assert_int_equal(ari_dialstatus_from_name(""), ARI_DIALSTATUS_STARTED);
    assert_string_equal(ari_dialstatus_name(ARI_DIALSTATUS_STARTED), "");
    assert_string_equal(ari_dialstatus_name(ARI_DIALSTATUS_UNKNOWN), "UNKNOWN");
    assert_string_equal(ari_dial_outcome_name(ARI_DIAL_NO_ANSWER), "no_answer");
    assert_string_equal(ari_dial_outcome_name(ARI_DIAL_OUTCOME_COUNT_), "unknown");
}

/* ---------------------------------------------------------------------- */
/* Tracker                                                                 */
/* ---------------------------------------------------------------------- */

#define CHAN_STATE(id, st)                                                                      \
    "{\"id\":\"" id "\",\"name\":\"PJSIP/t-1\",\"state\":\"" st "\",\"caller\":{\"name\":\"\"," \
    "\"number\":\"\"},\"connected\":{\"name\":\"\",\"number\":\"\"},\"accountcode\":\"\","      \
    "\"dialplan\":{\"context\":\"c\",\"exten\":\"s\",\"priority\":1},"                          \
    "\"creationtime\":\"2026-01-01T12:00:00.000+0000\"}"

#define DIAL(st, peer_state)                                        \
    "{\"type\":\"Dial\",\"application\":\"d\",\"dialstatus\":\"" st \
    "\",\"peer\":" CHAN_STATE("X", peer_state) "}"
#define STATE(st) \
    "{\"type\":\"ChannelStateChange\",\"application\":\"d\",\"channel\":" CHAN_STATE("X", st) "}"
#define HANGUP(extra, st)                                             \
    "{\"type\":\"ChannelHangupRequest\",\"application\":\"d\"," extra \
    "\"channel\":" CHAN_STATE("X", st) "}"
#define DESTROYED(cause, st)                                                 \
    "{\"type\":\"ChannelDestroyed\",\"application\":\"d\",\"cause\":" #cause \
    ",\"cause_txt\":\"x\",\"channel\":" CHAN_STATE("X", st) "}"
#define STASIS_START                                                                       \
    "{\"type\":\"StasisStart\",\"application\":\"d\",\"args\":[],\"channel\":" CHAN_STATE( \
        "X", "Up") "}"

struct track_case {
    const char *name;
    const char *events[8];
    enum ari_dial_outcome outcome;
};

static const struct track_case track_cases[] = {
    /* NOTES.md section 7 B, SIP trunk shapes. */
    { "SIP busy 486",
      { DIAL("", "Down"), HANGUP("\"cause\":17,\"tech_cause\":486,", "Down"), DIAL("BUSY", "Down"),
        DESTROYED(17, "Down") },
      ARI_DIAL_BUSY },
    { "SIP 404",
      { DIAL("", "Down"), HANGUP("\"cause\":1,", "Down"), DIAL("NOANSWER", "Down"),
        DESTROYED(1, "Down") },
      ARI_DIAL_UNALLOCATED },
    { "SIP 603 decline",
      { DIAL("", "Down"), STATE("Ringing"), DIAL("RINGING", "Ringing"),
        HANGUP("\"cause\":21,", "Ringing"), DIAL("NOANSWER", "Ringing"), DESTROYED(21, "Ringing") },
      ARI_DIAL_REJECTED },
    { "SIP 503",
      { DIAL("", "Down"), HANGUP("\"cause\":34,", "Down"), DESTROYED(34, "Down") },
      ARI_DIAL_CONGESTION },
    { "chanunavail with cause 0",
      { DIAL("", "Down"), DIAL("CHANUNAVAIL", "Down"), DESTROYED(0, "Down") },
      ARI_DIAL_UNAVAILABLE },
    /* Originate timeout, before 20.18/22.8: only a destroy with cause 0 while ringing. */
    { "old originate timeout",
      { DIAL("", "Down"), STATE("Ringing"), DESTROYED(0, "Ringing") },
      ARI_DIAL_NO_ANSWER },
    { "old timeout seen only in the destroy", { DESTROYED(0, "Ringing") }, ARI_DIAL_NO_ANSWER },
    /* Cancelled by the dialer while ringing: soft hangup, Dial NOANSWER, cause 16. */
    { "cancelled while ringing",
      { DIAL("", "Down"), STATE("Ringing"), HANGUP("\"cause\":32,\"soft\":true,", "Ringing"),
        DIAL("NOANSWER", "Ringing"), DESTROYED(16, "Ringing") },
      ARI_DIAL_CANCELLED },
    /* Answered, then hung up by us: still answered. */
    { "answered then soft hangup",
      { DIAL("", "Down"), STATE("Up"), DIAL("ANSWER", "Up"), STASIS_START,
        HANGUP("\"cause\":32,\"soft\":true,", "Up"), DESTROYED(16, "Up") },
      ARI_DIAL_ANSWERED },
    { "answered seen only as StasisStart", { STASIS_START }, ARI_DIAL_ANSWERED },
    { "still ringing",
      { DIAL("", "Down"), STATE("Ringing"), DIAL("RINGING", "Ringing") },
      ARI_DIAL_UNKNOWN },
    { "undefined cause", { DIAL("", "Down"), DESTROYED(150, "Down") }, ARI_DIAL_FAILED },
    { "normal clearing before answer, no ring",
      { DIAL("", "Down"), DESTROYED(16, "Down") },
      ARI_DIAL_FAILED },
    { "far end gives up while ringing (cause 16)",
      { DIAL("", "Down"), STATE("Ringing"), HANGUP("\"cause\":16,", "Ringing"),
        DESTROYED(16, "Ringing") },
      ARI_DIAL_NO_ANSWER },
    { "hangup cause when the destroy has none",
      { DIAL("", "Down"), HANGUP("\"cause\":20,", "Down"), DESTROYED(0, "Down") },
      ARI_DIAL_UNAVAILABLE },
};

static void test_cause_tracker(void **state)
{
    struct arena a;

    (void)state;
    arena_init(&a, 0);
    for (size_t c = 0; c < sizeof(track_cases) / sizeof(track_cases[0]); c++) {
        const struct track_case *tc = &track_cases[c];
        struct ari_dial_tracker t;
        ari_dial_tracker_init(&t, "X");
        for (size_t i = 0; i < 8 && tc->events[i] != NULL; i++) {
            struct ari_event *ev;
            struct ari_parse_error err;
            if (ari_event_parse_ex(tc->events[i], strlen(tc->events[i]), &a, &ev, &err) != 0) {
                fail_msg("%s: event %zu: %s", tc->name, i, err.message);
            }
            assert_true(ari_dial_tracker_feed(&t, ev));
        }
        if (ari_dial_tracker_outcome(&t) != tc->outcome) {
            fail_msg("%s: outcome %s, expected %s", tc->name,
                     ari_dial_outcome_name(ari_dial_tracker_outcome(&t)),
                     ari_dial_outcome_name(tc->outcome));
        }
        arena_reset(&a);
    }
    arena_fini(&a);
}

static void test_cause_tracker_ignores_other_channels(void **state)
{
    struct arena a;
    struct ari_dial_tracker t;
    struct ari_event *ev;
    const char *other = DESTROYED(17, "Busy");
    const char *unrelated = "{\"type\":\"DeviceStateChanged\",\"application\":\"d\","
                            "\"device_state\":{\"name\":\"x\",\"state\":\"INUSE\"}}";

    (void)state;
    arena_init(&a, 0);
    ari_dial_tracker_init(&t, "Y");
    assert_int_equal(ari_event_parse(other, strlen(other), &a, &ev), 0);
    assert_false(ari_dial_tracker_feed(&t, ev));
    assert_int_equal(ari_event_parse(unrelated, strlen(unrelated), &a, &ev), 0);
    assert_false(ari_dial_tracker_feed(&t, ev));
    assert_false(ari_dial_tracker_feed(&t, NULL));
    assert_false(t.destroyed);
    assert_int_equal(t.destroyed_cause, -1);
    assert_int_equal(ari_dial_tracker_outcome(&t), ARI_DIAL_UNKNOWN);
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cause_table_matches_notes),
        cmocka_unit_test(test_cause_defined_codes),
        cmocka_unit_test(test_cause_names_and_reasons),
        cmocka_unit_test(test_cause_dialstatus_and_states),
        cmocka_unit_test(test_cause_tracker),
        cmocka_unit_test(test_cause_tracker_ignores_other_channels),
    };
    return cmocka_run_group_tests_name("ari_cause", tests, NULL, NULL);
}
