/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ari/event.c: replay of every real message in
 * shared/ari/captures-asterisk-22 and shared/ari/examples, the event order of
 * each captured scenario (documentation for the simulator), round trips
 * through ari_event_to_json(), routing, and the dial outcome per scenario.
 *
 * Tests that need ../shared skip when it is absent (the product builds
 * without it; CI has it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "ari/ari_int.h"
#include "core/err.h"
#include "tests/unit/ari/ari_test_util.h"

/* ---------------------------------------------------------------------- */
/* Capture walking                                                         */
/* ---------------------------------------------------------------------- */

/* Per-message callback: the event JSON, its file and stream ("app", "all", ...). */
typedef void visit_cb(const json_t *event, const char *file, const char *ws, void *arg);

/* Calls cb for every event message of every capture file; returns how many. */
static size_t each_capture_event(visit_cb *cb, void *arg)
{
    size_t n_files;
    char **files = util_list_json("captures-asterisk-22", &n_files);
    size_t count = 0;

    for (size_t f = 0; f < n_files; f++) {
        char rel[512];
        json_t *doc;
        assert_true(util_join(rel, sizeof(rel), "captures-asterisk-22", files[f]));
        doc = util_load(rel);
        assert_non_null(doc);
        const char *lists[] = { "sequence", "subscribe_all_events" };
        for (size_t l = 0; l < 2; l++) {
            json_t *arr = json_object_get(doc, lists[l]);
            size_t i;
            json_t *item;
            assert_true(json_is_array(arr));
            json_array_foreach (arr, i, item) {
                if (strcmp(json_string_value(json_object_get(item, "kind")), "event") != 0) {
                    continue;
                }
                cb(json_object_get(item, "event"), files[f],
                   json_string_value(json_object_get(item, "ws")), arg);
                count++;
            }
        }
        json_decref(doc);
    }
    util_free_list(files, n_files);
    return count;
}

/* ---------------------------------------------------------------------- */
/* Type names                                                              */
/* ---------------------------------------------------------------------- */

static void test_event_type_names_round_trip(void **state)
{
    (void)state;
    for (int t = 1; t < ARI_EVENT_COUNT_; t++) {
        const char *name = ari_event_type_name((enum ari_event_type)t);
        assert_true(name[0] != '\0');
        assert_int_equal(ari_event_type_from_name(name, strlen(name)), t);
        if (t > 1) {
            assert_true(strcmp(ari_event_type_name((enum ari_event_type)(t - 1)), name) < 0);
        }
    }
    const char *misses[] = { "",     "Dia",        "Dial2",        "dial",
                             "DIAL", "StasisStar", "StasisStartX", "AAAA",
                             "zzzz", "Channel",    "RESTRequest" };
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        assert_int_equal(ari_event_type_from_name(misses[i], strlen(misses[i])), ARI_EVENT_UNKNOWN);
    }
    /* Length-delimited: a prefix of a longer buffer. */
    assert_int_equal(ari_event_type_from_name("DialXYZ", 4), ARI_EVENT_DIAL);
    assert_int_equal(ari_event_type_from_name(NULL, 0), ARI_EVENT_UNKNOWN);
    assert_string_equal(ari_event_type_name(ARI_EVENT_UNKNOWN), "");
    assert_string_equal(ari_event_type_name(ARI_EVENT_COUNT_), "");
}

/* Every model of events.json is an event type with a parser, or a helper model we decode. */
static void test_event_every_swagger_event_has_a_parser(void **state)
{
    json_t *doc = util_load("api-docs/events.json");
    json_t *models;
    json_t *subtypes = json_array();
    const char *name;
    json_t *m;
    size_t n_events = 0;

    (void)state;
    if (doc == NULL) {
        json_decref(subtypes);
        skip();
    }
    models = json_object_get(doc, "models");
    json_array_extend(subtypes, json_object_get(json_object_get(models, "Message"), "subTypes"));
    json_array_extend(subtypes, json_object_get(json_object_get(models, "Event"), "subTypes"));
    json_object_foreach (models, name, m) {
        bool is_event = false;
        size_t i;
        json_t *s;
        if (strcmp(name, "Message") == 0 || strcmp(name, "Event") == 0) {
            continue;
        }
        json_array_foreach (subtypes, i, s) {
            if (strcmp(json_string_value(s), name) == 0) {
                is_event = true;
            }
        }
        if (is_event) {
            enum ari_event_type t = ari_event_type_from_name(name, strlen(name));
            if (t == ARI_EVENT_UNKNOWN) {
                fail_msg("event type %s has no parser", name);
            }
            assert_string_equal(ari_event_type_name(t), name);
            n_events++;
        } else {
            bool found = false;
            for (int k = 0; k < ARI_MODEL_COUNT_; k++) {
                found = found || strcmp(ari_model_name((enum ari_model_type)k), name) == 0;
            }
            if (!found) {
                fail_msg("helper model %s has no descriptor", name);
            }
        }
    }
    assert_int_equal(n_events, ARI_EVENT_COUNT_ - 1);
    json_decref(subtypes);
    json_decref(doc);
}

/* ---------------------------------------------------------------------- */
/* Replay                                                                  */
/* ---------------------------------------------------------------------- */

struct replay {
    struct arena arena;
    size_t per_type[ARI_EVENT_COUNT_];
    size_t total;
    size_t destroyed;
};

/* Parses one captured event and checks it against its JSON. */
static void replay_one(const json_t *event, const char *file, const char *ws, void *arg)
{
    struct replay *r = arg;
    struct ari_parse_error err;
    struct ari_event *ev = NULL;
    char *text = util_dump(event);
    const char *type = json_string_value(json_object_get(event, "type"));
    int rc;

    (void)ws;
    rc = ari_event_parse_ex(text, strlen(text), &r->arena, &ev, &err);
    if (rc != 0) {
        fail_msg("%s: %s: rc=%d %s", file, type, rc, err.message);
    }
    /* Real Asterisk output takes the fast decoder, with the jansson path's result. */
    struct ari_event *fast = NULL;
    struct ari_event *ref = NULL;
    if (ari__event_parse_fast(text, strlen(text), &r->arena, &fast) != 0) {
        fail_msg("%s: %s: fast decoder fell back on %s", file, type, text);
    }
    assert_int_equal(ari__event_parse_jansson(text, strlen(text), &r->arena, &ref, &err), 0);
    assert_true(ari_event_equal(fast, ref));
    assert_true(ari_event_equal(ev, ref));
    assert_non_null(ev);
    /* Every captured type is one this build knows. */
    assert_int_not_equal(ev->type, ARI_EVENT_UNKNOWN);
    assert_string_equal(ev->type_name, type);
    assert_string_equal(ev->application, json_string_value(json_object_get(event, "application")));
    assert_string_equal(ev->asterisk_id, json_string_value(json_object_get(event, "asterisk_id")));
    assert_string_equal(ev->timestamp, json_string_value(json_object_get(event, "timestamp")));
    assert_true(ev->timestamp_us > 1795000000000000LL); /* late 2026 */

    /* Every field matches the JSON: the re-encoded event is the same JSON value, and for
     * Asterisk 22 output even the same bytes (key order included). */
    json_t *back = ari_event_to_json(ev);
    assert_non_null(back);
    if (!json_equal(back, (json_t *)event)) {
        char *b = util_dump(back);
        fail_msg("%s: %s re-encodes differently:\n  in:  %s\n  out: %s", file, type, text, b);
    }
    char *btext = util_dump(back);
    assert_string_equal(btext, text);

    /* Round trip: parse(to_json(parse(x))) == parse(x). */
    struct ari_event *ev2 = NULL;
    assert_int_equal(ari_event_parse(btext, strlen(btext), &r->arena, &ev2), 0);
    assert_true(ari_event_equal(ev, ev2));

    /* Typed spot checks shared by all events of a kind. */
    if (ev->type == ARI_EVENT_CHANNEL_DESTROYED) {
        const struct ari_ev_channel_destroyed *d = &ev->channel_destroyed;
        assert_int_equal(d->cause, json_integer_value(json_object_get(event, "cause")));
        /* cause_txt is exactly Asterisk's text for the code. */
        assert_string_equal(d->cause_txt, ari_cause_txt(d->cause));
        r->destroyed++;
    }
    const char *ids[8];
    if (ari_event_channel_ids(ev, ids, 8) > 0) {
        const json_t *ch = json_object_get(event, "channel");
        if (ch == NULL) {
            ch = json_object_get(event, "peer");
        }
        if (ch != NULL) {
            assert_string_equal(ids[0], json_string_value(json_object_get(ch, "id")));
            const char *st = json_string_value(json_object_get(ch, "state"));
            assert_int_not_equal(ari_channel_state_from_name(st), ARI_CHANNEL_STATE_UNKNOWN);
        }
    }
    r->per_type[ev->type]++;
    r->total++;
    free(btext);
    json_decref(back);
    free(text);
    arena_reset(&r->arena);
}

static void test_event_replay_captures(void **state)
{
    struct replay r;

    (void)state;
    if (util_ari_dir() == NULL) {
        skip();
    }
    memset(&r, 0, sizeof(r));
    arena_init(&r.arena, 0);
    size_t n = each_capture_event(replay_one, &r);
    arena_fini(&r.arena);
    /* 12 scenarios, two WebSockets each: the counts pin what the captures hold. */
    assert_int_equal(n, 520);
    assert_int_equal(r.total, n);
    assert_int_equal(r.per_type[ARI_EVENT_STASIS_START], 7);
    assert_int_equal(r.per_type[ARI_EVENT_DIAL], 52);
    assert_int_equal(r.per_type[ARI_EVENT_DEVICE_STATE_CHANGED], 52);
    assert_int_equal(r.per_type[ARI_EVENT_APPLICATION_REPLACED], 1);
    assert_int_equal(r.per_type[ARI_EVENT_CHANNEL_USEREVENT], 2);
    assert_int_equal(r.destroyed, 48);
}

/* Parses the event in <capture> whose index in the app stream is seq; returns it. */
static struct ari_event *capture_event(struct arena *a, const char *rel, int seq)
{
    json_t *doc = util_load(rel);
    json_t *arr;
    json_t *item;
    size_t i;
    struct ari_event *ev = NULL;

    assert_non_null(doc);
    arr = json_object_get(doc, "sequence");
    json_array_foreach (arr, i, item) {
        if (json_integer_value(json_object_get(item, "seq")) == seq) {
            char *text = util_dump(json_object_get(item, "event"));
            assert_int_equal(ari_event_parse(text, strlen(text), a, &ev), 0);
            free(text);
        }
    }
    json_decref(doc);
    assert_non_null(ev);
    return ev;
}

/* Finds the first app-stream event of type t concerning channel id in a capture. */
static struct ari_event *find_event(struct arena *a, const char *rel, enum ari_event_type t,
                                    const char *id, int nth)
{
    json_t *doc = util_load(rel);
    json_t *item;
    size_t i;
    struct ari_event *found = NULL;

    assert_non_null(doc);
    json_array_foreach (json_object_get(doc, "sequence"), i, item) {
        struct ari_event *ev;
        char *text;
        if (found != NULL || strcmp(json_string_value(json_object_get(item, "kind")), "event")) {
            continue;
        }
        text = util_dump(json_object_get(item, "event"));
        assert_int_equal(ari_event_parse(text, strlen(text), a, &ev), 0);
        free(text);
        if (ev->type == t && (id == NULL || util_concerns(ev, id)) && nth-- == 0) {
            found = ev;
        }
    }
    json_decref(doc);
    if (found == NULL) {
        fail_msg("%s: no %s for %s", rel, ari_event_type_name(t), id ? id : "-");
    }
    return found;
}

static void test_event_capture_spot_checks(void **state)
{
    struct arena a;
    struct ari_event *ev;
    const char *c02 = "captures-asterisk-22/02_originate_answer.json";

    (void)state;
    if (util_ari_dir() == NULL) {
        skip();
    }
    arena_init(&a, 0);

    /* The first event of the answered originate: the far half's caller id. */
    ev = capture_event(&a, c02, 5);
    assert_int_equal(ev->type, ARI_EVENT_CHANNEL_CALLER_ID);
    assert_int_equal(ev->channel_caller_id.caller_presentation, 0);
    assert_string_equal(ev->channel_caller_id.caller_presentation_txt,
                        "Presentation Allowed, Not Screened");
    assert_string_equal(ev->channel_caller_id.channel->id, "c1-l1-far");
    assert_int_equal(ev->channel_caller_id.channel->state_code, ARI_CHANNEL_STATE_RING);
    assert_string_equal(ev->timestamp, "2026-11-24T11:46:27.251+0000");
    assert_true(ev->timestamp_us == INT64_C(1795520787251000));

    ev = find_event(&a, c02, ARI_EVENT_STASIS_START, "c1-l1", 0);
    const struct ari_ev_stasis_start *ss = &ev->stasis_start;
    assert_int_equal(ss->n_args, 2);
    assert_string_equal(ss->args[0], "c1");
    assert_string_equal(ss->args[1], "l1");
    assert_null(ss->replace_channel);
    assert_int_equal(ss->channel->state_code, ARI_CHANNEL_STATE_UP);
    assert_string_equal(ss->channel->caller->name, "Dialer");
    assert_string_equal(ss->channel->caller->number, "1000");
    assert_string_equal(ss->channel->dialplan->app_name, "Stasis");
    assert_string_equal(ss->channel->dialplan->app_data, "dialer,c1,l1");
    assert_true(ss->channel->dialplan->has_priority);
    assert_int_equal(ss->channel->dialplan->priority, 1);
    assert_string_equal(ss->channel->protocol_id, "");
    assert_string_equal(ss->channel->language, "en");
    assert_null(ss->channel->channelvars);
    assert_null(ss->channel->tenantid);

    ev = find_event(&a, c02, ARI_EVENT_DIAL, "c1-l1", 0);
    assert_int_equal(ev->dial.dialstatus_code, ARI_DIALSTATUS_STARTED);
    assert_string_equal(ev->dial.dialstatus, "");
    assert_string_equal(ev->dial.forward, "");
    assert_null(ev->dial.caller);
    assert_int_equal(ev->dial.peer->state_code, ARI_CHANNEL_STATE_DOWN);
    ev = find_event(&a, c02, ARI_EVENT_DIAL, "c1-l1", 2);
    assert_int_equal(ev->dial.dialstatus_code, ARI_DIALSTATUS_ANSWER);

    ev = find_event(&a, c02, ARI_EVENT_CHANNEL_DTMF_RECEIVED, "c1-l1", 0);
    assert_string_equal(ev->channel_dtmf_received.digit, "1");
    assert_int_equal(ev->channel_dtmf_received.duration_ms, 100);

    ev = find_event(&a, c02, ARI_EVENT_PLAYBACK_STARTED, "c1-l1", 0);
    assert_string_equal(ev->playback_started.playback->id, "c1-pb1");
    assert_string_equal(ev->playback_started.playback->media_uri, "sound:hello-world");
    assert_int_equal(ev->playback_started.playback->state_code, ARI_PLAYBACK_STATE_PLAYING);
    assert_null(ev->playback_started.playback->next_media_uri);
    assert_string_equal(ari_event_channel_id(ev), "c1-l1");
    assert_null(ari_event_bridge_id(ev));
    ev = find_event(&a, c02, ARI_EVENT_PLAYBACK_FINISHED, "c1-l1", 1);
    assert_string_equal(ev->playback_finished.playback->id, "c1-pb2");
    assert_int_equal(ev->playback_finished.playback->state_code, ARI_PLAYBACK_STATE_DONE);

    ev = find_event(&a, c02, ARI_EVENT_RECORDING_STARTED, "c1-l1", 0);
    assert_false(ev->recording_started.recording->has_duration);
    assert_int_equal(ev->recording_started.recording->state_code, ARI_RECORDING_STATE_RECORDING);
    ev = find_event(&a, c02, ARI_EVENT_RECORDING_FINISHED, "c1-l1", 0);
    assert_string_equal(ev->recording_finished.recording->name, "c1-rec");
    assert_string_equal(ev->recording_finished.recording->format, "wav");
    assert_true(ev->recording_finished.recording->has_duration);
    assert_int_equal(ev->recording_finished.recording->duration, 0);
    assert_int_equal(ev->recording_finished.recording->state_code, ARI_RECORDING_STATE_DONE);

    ev = find_event(&a, c02, ARI_EVENT_CHANNEL_HANGUP_REQUEST, "c1-l1", 0);
    assert_true(ev->channel_hangup_request.has_cause);
    assert_int_equal(ev->channel_hangup_request.cause, 16);
    assert_false(ev->channel_hangup_request.has_soft);
    ev = find_event(&a, c02, ARI_EVENT_CHANNEL_DESTROYED, "c1-l1", 0);
    assert_int_equal(ev->channel_destroyed.cause, ARI_CAUSE_NORMAL_CLEARING);
    assert_string_equal(ev->channel_destroyed.cause_txt, "Normal Clearing");
    assert_false(ev->channel_destroyed.has_tech_cause);

    /* Busy and congestion: the real cause is on the far (;2) half. */
    ev = find_event(&a, "captures-asterisk-22/03_originate_busy.json", ARI_EVENT_CHANNEL_DESTROYED,
                    "originate-busy-far", 0);
    assert_int_equal(ev->channel_destroyed.cause, ARI_CAUSE_USER_BUSY);
    assert_string_equal(ev->channel_destroyed.cause_txt, "User busy");
    assert_int_equal(ev->channel_destroyed.channel->state_code, ARI_CHANNEL_STATE_BUSY);
    ev = find_event(&a, "captures-asterisk-22/05_originate_congestion.json",
                    ARI_EVENT_CHANNEL_DESTROYED, "originate-congestion-far", 0);
    assert_int_equal(ev->channel_destroyed.cause, 34);
    assert_string_equal(ev->channel_destroyed.cause_txt, "Circuit/channel congestion");
    ev = find_event(&a, "captures-asterisk-22/04_originate_noanswer.json",
                    ARI_EVENT_CHANNEL_DESTROYED, "originate-noanswer", 0);
    assert_int_equal(ev->channel_destroyed.cause, 19);
    assert_string_equal(ev->channel_destroyed.cause_txt, "User alerting, no answer");
    assert_int_equal(ev->channel_destroyed.channel->state_code, ARI_CHANNEL_STATE_RINGING);
    ev = find_event(&a, "captures-asterisk-22/06_originate_reject21.json",
                    ARI_EVENT_CHANNEL_DESTROYED, "originate-reject21", 0);
    assert_string_equal(ev->channel_destroyed.cause_txt, "Call Rejected");
    ev = find_event(&a, "captures-asterisk-22/07_originate_unallocated1.json",
                    ARI_EVENT_CHANNEL_DESTROYED, "originate-unallocated1", 0);
    assert_string_equal(ev->channel_destroyed.cause_txt, "Unallocated (unassigned) number");

    /* DELETE /channels: soft hangup whose cause is the flag 32, not Q.850. */
    ev = find_event(&a, "captures-asterisk-22/10_amd_machine.json",
                    ARI_EVENT_CHANNEL_HANGUP_REQUEST, "amd-m", 0);
    assert_true(ev->channel_hangup_request.has_soft && ev->channel_hangup_request.soft);
    assert_int_equal(ev->channel_hangup_request.cause, 32);
    ev = find_event(&a, "captures-asterisk-22/10_amd_machine.json", ARI_EVENT_STASIS_START, "amd-m",
                    0);
    assert_int_equal(ev->stasis_start.n_args, 3);
    assert_string_equal(ev->stasis_start.args[1], "MACHINE");
    assert_string_equal(ev->stasis_start.args[2], "MAXWORDS-3-2");

    /* Bridges. */
    const char *c11 = "captures-asterisk-22/11_bridge_customer_agent.json";
    ev = find_event(&a, c11, ARI_EVENT_CHANNEL_ENTERED_BRIDGE, "agent1", 0);
    const struct ari_bridge *br = ev->channel_entered_bridge.bridge;
    assert_string_equal(br->id, "br1");
    assert_string_equal(br->technology, "simple_bridge");
    assert_string_equal(br->bridge_type, "mixing");
    assert_string_equal(br->bridge_class, "stasis");
    assert_string_equal(br->name, "campaign-c1");
    /* Both legs, in the bridge's own (container) order. */
    assert_int_equal(br->n_channels, 2);
    assert_true((strcmp(br->channels[0], "cust1") == 0 && strcmp(br->channels[1], "agent1") == 0) ||
                (strcmp(br->channels[0], "agent1") == 0 && strcmp(br->channels[1], "cust1") == 0));
    assert_string_equal(br->video_mode, "talker");
    assert_true(br->creationtime_us > 0);
    assert_string_equal(ari_event_bridge_id(ev), "br1");
    assert_string_equal(ari_event_channel_id(ev), "agent1");
    ev = find_event(&a, c11, ARI_EVENT_BRIDGE_DESTROYED, NULL, 0);
    assert_string_equal(ev->bridge_destroyed.bridge->id, "br1");
    assert_int_equal(ev->bridge_destroyed.bridge->n_channels, 0);
    assert_non_null(ev->bridge_destroyed.bridge->channels);
    assert_string_equal(ari_event_bridge_id(ev), "br1");
    assert_null(ari_event_channel_id(ev));
    ev = find_event(&a, c11, ARI_EVENT_CHANNEL_VARSET, "cust1", 1);
    assert_string_equal(ev->channel_varset.variable, "BRIDGEPEER");
    assert_string_equal(ev->channel_varset.value, "Local/s@agent-sim-0000000c;1");

    /* Application-level events. */
    const char *c01 = "captures-asterisk-22/01_info_and_websocket.json";
    ev = find_event(&a, c01, ARI_EVENT_APPLICATION_REPLACED, NULL, 0);
    assert_string_equal(ev->application, "dialer");
    assert_int_equal(ari_event_channel_ids(ev, NULL, 0), 0);
    ev = find_event(&a, c01, ARI_EVENT_CHANNEL_USEREVENT, NULL, 0);
    const struct ari_ev_channel_userevent *ue = &ev->channel_userevent;
    assert_string_equal(ue->eventname, "dialer-selftest");
    assert_int_equal(ue->n_userevent, 3);
    assert_string_equal(ue->userevent[0].name, "campaign");
    assert_string_equal(ue->userevent[0].value, "c1");
    assert_false(ue->userevent[0].json);
    assert_string_equal(ue->userevent[2].name, "eventname");
    assert_null(ue->channel);

    arena_fini(&a);
}

/*
 * The fast decoder against the jansson reference on inputs at its edges:
 * the public parse must give the reference's result or error whichever path
 * runs, and the fast path must take (0) or leave (ARI__FALLBACK) the input
 * as listed.
 */
static void test_event_fast_decoder_matches_reference(void **state)
{
#define CH                                                                                      \
    "\"channel\":{\"id\":\"c1\",\"name\":\"PJSIP/x\",\"state\":\"Up\",\"protocol_id\":\"\","    \
    "\"caller\":{\"name\":\"\",\"number\":\"\"},\"connected\":{\"name\":\"\",\"number\":\"\"}," \
    "\"accountcode\":\"\",\"dialplan\":{\"context\":\"c\",\"exten\":\"s\",\"priority\":1,"      \
    "\"app_name\":\"\",\"app_data\":\"\"},\"creationtime\":\"2026-11-24T10:00:00.000+0000\","   \
    "\"language\":\"en\"}"
#define ENV "\"timestamp\":\"2026-11-24T10:00:01.000+0000\",\"application\":\"dialer\""

    static const struct {
        const char *text;
        int fast_rc; /* 0: the fast path decodes it; ARI__FALLBACK: jansson does */
    } cases[] = {
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[\"a\",\"\"]," CH "}", 0 },
        /* type not first (blob-built events), whitespace everywhere */
        { " {\n\t\"args\" : [ ] , " CH " ,\"type\":\"StasisStart\"," ENV "}\r\n", 0 },
        /* escapes and UTF-8 decoded like jansson, including a surrogate pair */
        { "{\"type\":\"StasisStart\"," ENV
          ",\"args\":[\"\\u00e9\\n\\\"\\/\\ud83d\\ude00\",\"\xc3\xa9\"]," CH "}",
          0 },
        /* unknown keys of every JSON type skipped, unknown type kept raw */
        { "{\"type\":\"StasisStart\"," ENV
          ",\"x\":{\"a\":[1,-2,true,false,null,{}]},\"args\":[]," CH "}",
          0 },
        { "{\"type\":\"FutureEvent\"," ENV ",\"thing\":[1]}", 0 },
        /* optional keys null or absent */
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[],\"replace_channel\":null," CH "}", 0 },
        /* variables */
        { "{\"type\":\"ChannelUserevent\"," ENV ",\"eventname\":\"e\",\"userevent\":{\"k\":\"v\","
          "\"k2\":\"\"}}",
          0 },
        { "{\"type\":\"ChannelUserevent\"," ENV ",\"eventname\":\"e\",\"userevent\":{\"k\":1}}",
          ARI__FALLBACK },
        { "{\"type\":\"ChannelUserevent\"," ENV ",\"eventname\":\"e\",\"userevent\":{\"k\":\"1\","
          "\"k\":\"2\"}}",
          ARI__FALLBACK },
        /* what the fast path leaves to jansson: errors of every kind, reals, duplicates */
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"channel\":null}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[1]," CH "}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":1.5}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":1e999}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":99999999999999999999}",
          ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":\"\\u0000\"}",
          ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":\"\\udc00\"}",
          ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":\"\xed\xa0\x80\"}",
          ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":\"\xc0\xaf\"}",
          ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",\"x\":01}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH "} x", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"," ENV ",\"args\":[]," CH ",}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\",\"type\":\"Dial\"," ENV ",\"args\":[]," CH "}",
          ARI__FALLBACK },
        { "{\"typ\\u0065\":\"StasisStart\"," ENV ",\"args\":[]," CH "}", ARI__FALLBACK },
        { "{\"type\":\"ChannelDtmfReceived\"," ENV ",\"digit\":\"1\",\"duration_ms\":3000000000," CH
          "}",
          ARI__FALLBACK },
        { "{\"type\":\"StasisStart\",\"timestamp\":\"yesterday\",\"application\":\"d\",\"args\":[]"
          "," CH "}",
          ARI__FALLBACK },
        { "[{\"type\":\"StasisStart\"}]", ARI__FALLBACK },
        { "{\"type\":7}", ARI__FALLBACK },
        { "{\"type\":\"StasisStart\"", ARI__FALLBACK },
    };

#undef CH
#undef ENV
    struct arena a;

    (void)state;
    arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *text = cases[i].text;
        size_t len = strlen(text);
        struct ari_parse_error err;
        struct ari_parse_error ref_err;
        struct ari_event *ev = NULL;
        struct ari_event *ref = NULL;
        struct ari_event *fast = NULL;
        int rc = ari_event_parse_ex(text, len, &a, &ev, &err);
        int ref_rc = ari__event_parse_jansson(text, len, &a, &ref, &ref_err);
        int fast_rc = ari__event_parse_fast(text, len, &a, &fast);

        if (fast_rc != cases[i].fast_rc) {
            fail_msg("case %zu: fast decoder rc=%d, want %d: %s", i, fast_rc, cases[i].fast_rc,
                     text);
        }
        assert_int_equal(rc, ref_rc);
        if (rc == 0) {
            assert_true(ari_event_equal(ev, ref));
        } else {
            assert_null(ev);
            assert_string_equal(err.message, ref_err.message);
        }
        if (fast_rc == 0) {
            if (ref_rc != 0) {
                fail_msg("case %zu: fast decoder accepted what jansson refuses: %s", i, text);
            }
            assert_true(ari_event_equal(fast, ref));
        }
    }
    /* Spot checks of decoded values. */
    struct ari_event *ev = NULL;
    assert_int_equal(ari_event_parse(cases[2].text, strlen(cases[2].text), &a, &ev), 0);
    assert_string_equal(ev->stasis_start.args[0], "\xc3\xa9\n\"/\xf0\x9f\x98\x80");
    assert_string_equal(ev->stasis_start.args[1], "\xc3\xa9");
    assert_int_equal(ari_event_parse(cases[4].text, strlen(cases[4].text), &a, &ev), 0);
    assert_int_equal(ev->type, ARI_EVENT_UNKNOWN);
    assert_string_equal(ev->type_name, "FutureEvent");
    assert_memory_equal(ev->raw, cases[4].text, ev->raw_len);
    assert_int_equal(ari_event_parse(cases[6].text, strlen(cases[6].text), &a, &ev), 0);
    assert_int_equal(ev->channel_userevent.n_userevent, 2);
    assert_string_equal(ev->channel_userevent.userevent[1].name, "k2");
    assert_string_equal(ev->channel_userevent.userevent[1].value, "");
    arena_fini(&a);
}

/* The 2014 docs sequence, the voipbin production fixtures and the testsuite patterns. */
static void test_event_replay_examples(void **state)
{
    struct arena a;
    struct ari_event *ev;
    struct ari_parse_error err;
    json_t *doc;
    json_t *item;
    size_t i;

    (void)state;
    if (util_ari_dir() == NULL) {
        skip();
    }
    arena_init(&a, 0);

    /* Asterisk 12 era: no asterisk_id, no protocol_id/language, no app_name/app_data, and
     * playback events without a timestamp. All of it must parse. */
    doc = util_load("examples/asterisk-docs-hello-world.json");
    assert_non_null(doc);
    size_t n_events = 0;
    json_array_foreach (json_object_get(doc, "sequence"), i, item) {
        const char *dir = json_string_value(json_object_get(item, "direction"));
        char *text;
        if (strcmp(dir, "event") == 0) {
            text = util_dump(json_object_get(item, "message"));
            if (ari_event_parse_ex(text, strlen(text), &a, &ev, &err) != 0) {
                fail_msg("hello-world: %s", err.message);
            }
            assert_null(ev->asterisk_id);
            assert_string_equal(ev->application, "hello-world");
            json_t *back = ari_event_to_json(ev);
            assert_true(json_equal(back, json_object_get(item, "message")));
            json_decref(back);
            n_events++;
        } else {
            struct ari_playback pb;
            text = util_dump(json_object_get(item, "body"));
            assert_int_equal(ari_model_parse(ARI_MODEL_PLAYBACK, text, strlen(text), &a, &pb, &err),
                             0);
            assert_string_equal(pb.id, "9567ea46-440f-41be-a044-6ecc8100730a");
            assert_int_equal(pb.state_code, ARI_PLAYBACK_STATE_QUEUED);
        }
        free(text);
    }
    assert_int_equal(n_events, 4);
    json_decref(doc);
    /* The first one in detail. */
    doc = util_load("examples/asterisk-docs-hello-world.json");
    char *text =
        util_dump(json_object_get(json_array_get(json_object_get(doc, "sequence"), 0), "message"));
    assert_int_equal(ari_event_parse(text, strlen(text), &a, &ev), 0);
    assert_int_equal(ev->type, ARI_EVENT_STASIS_START);
    assert_int_equal(ev->stasis_start.n_args, 0);
    assert_non_null(ev->stasis_start.args);
    assert_null(ev->stasis_start.channel->protocol_id);
    assert_null(ev->stasis_start.channel->language);
    assert_null(ev->stasis_start.channel->dialplan->app_name);
    assert_int_equal(ev->stasis_start.channel->dialplan->priority, 3);
    /* -0500: 13:15:27.131 local is 18:15:27.131 UTC. */
    assert_true(ev->timestamp_us == INT64_C(1400609727131000));
    free(text);
    text =
        util_dump(json_object_get(json_array_get(json_object_get(doc, "sequence"), 2), "message"));
    assert_int_equal(ari_event_parse(text, strlen(text), &a, &ev), 0);
    assert_int_equal(ev->type, ARI_EVENT_PLAYBACK_STARTED);
    assert_null(ev->timestamp);
    assert_true(ev->timestamp_us == 0);
    free(text);
    json_decref(doc);

    /* voipbin: raw bytes as Asterisk sent them (2020-2024). */
    doc = util_load("examples/captured-events-voipbin.json");
    assert_non_null(doc);
    size_t n_raw = 0;
    json_array_foreach (json_object_get(doc, "examples"), i, item) {
        const char *raw = json_string_value(json_object_get(item, "raw"));
        json_t *msg = json_object_get(item, "message");
        if (json_object_get(msg, "type") == NULL) {
            /* A Channel body of the REST API (externalMedia), not an event. */
            struct ari_channel ch;
            assert_int_equal(ari_channel_parse(raw, strlen(raw), &a, &ch, &err), 0);
            assert_string_equal(ch.name, "UnicastRTP/127.0.0.1:5090-0x7f6d54035300");
            assert_int_equal(ch.n_channelvars, 2);
            assert_string_equal(ch.channelvars[0].name, "UNICASTRTP_LOCAL_PORT");
            assert_string_equal(ch.channelvars[0].value, "10492");
            assert_string_equal(ch.channelvars[1].name, "UNICASTRTP_LOCAL_ADDRESS");
            json_t *back = ari_model_to_json(ARI_MODEL_CHANNEL, &ch);
            assert_true(json_equal(back, msg));
            json_decref(back);
            continue;
        }
        if (ari_event_parse_ex(raw, strlen(raw), &a, &ev, &err) != 0) {
            fail_msg("voipbin %s: %s", json_string_value(json_object_get(item, "description")),
                     err.message);
        }
        json_t *back = ari_event_to_json(ev);
        char *b = util_dump(back);
        /* Production output re-encodes to the identical bytes. */
        assert_string_equal(b, raw);
        free(b);
        json_decref(back);
        n_raw++;
    }
    assert_int_equal(n_raw, 12);
    json_decref(doc);

    /* Testsuite patterns are partial: every type they name is known, and parsing a partial
     * pattern fails cleanly with a named key instead of crashing. */
    doc = util_load("examples/asterisk-testsuite-sequences.json");
    assert_non_null(doc);
    char *all = util_dump(doc);
    const char *p = all;
    size_t n_types = 0;
    while ((p = strstr(p, "\"type\":\"")) != NULL) {
        const char *s = p + 8;
        const char *e = strchr(s, '"');
        assert_int_not_equal(ari_event_type_from_name(s, (size_t)(e - s)), ARI_EVENT_UNKNOWN);
        n_types++;
        p = e;
    }
    assert_true(n_types >= 15);
    free(all);
    json_array_foreach (json_object_get(doc, "tests"), i, item) {
        json_t *steps = json_object_get(item, "pluggable-config");
        json_t *step;
        size_t k;
        json_array_foreach (steps, k, step) {
            json_t *match = json_object_get(json_object_get(step, "ari-events"), "match");
            if (match == NULL) {
                continue;
            }
            char *t = util_dump(match);
            int rc = ari_event_parse_ex(t, strlen(t), &a, &ev, &err);
            assert_int_equal(rc, ERR_PARSE);
            assert_true(strstr(err.message, "missing required key") != NULL);
            assert_true(err.field[0] != '\0');
            free(t);
        }
    }
    json_decref(doc);
    arena_fini(&a);
}

/* REST bodies in the captures decode as their models and re-encode identically. */
static void test_event_replay_http_bodies(void **state)
{
    static const struct {
        const char *method;
        const char *path_prefix; /* "$" at the end: the whole path */
        int status;
        enum ari_model_type model;
    } routes[] = {
        { "POST", "/ari/channels?", 200, ARI_MODEL_CHANNEL },
        { "GET", "/ari/channels/c1-l1$", 200, ARI_MODEL_CHANNEL },
        { "POST", "/ari/bridges?", 200, ARI_MODEL_BRIDGE },
        { "GET", "/ari/bridges/br1$", 200, ARI_MODEL_BRIDGE },
        { "POST", "/ari/channels/c1-l1/play", 201, ARI_MODEL_PLAYBACK },
        { "POST", "/ari/channels/in1-ivr/play", 201, ARI_MODEL_PLAYBACK },
        { "POST", "/ari/channels/c1-l1/record", 201, ARI_MODEL_LIVE_RECORDING },
        { "POST", "/ari/channels/rec1/record", 201, ARI_MODEL_LIVE_RECORDING },
        { "GET", "/ari/recordings/stored/", 200, ARI_MODEL_STORED_RECORDING },
    };

    size_t n_files;
    char **files;
    size_t decoded = 0;
    struct arena a;

    (void)state;
    if (util_ari_dir() == NULL) {
        skip();
    }
    arena_init(&a, 0);
    files = util_list_json("captures-asterisk-22", &n_files);
    for (size_t f = 0; f < n_files; f++) {
        char rel[512];
        json_t *item;
        size_t i;
        assert_true(util_join(rel, sizeof(rel), "captures-asterisk-22", files[f]));
        json_t *doc = util_load(rel);
        json_array_foreach (json_object_get(doc, "sequence"), i, item) {
            const char *kind = json_string_value(json_object_get(item, "kind"));
            const char *method = json_string_value(json_object_get(item, "method"));
            const char *url = json_string_value(json_object_get(item, "url"));
            json_t *body = json_object_get(item, "body");
            if (strcmp(kind, "http_response") != 0 || !json_is_object(body)) {
                continue;
            }
            for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
                size_t plen = strlen(routes[r].path_prefix);
                bool whole = routes[r].path_prefix[plen - 1] == '$';
                if (whole) {
                    plen--;
                }
                if (strcmp(method, routes[r].method) != 0 ||
                    strncmp(url, routes[r].path_prefix, plen) != 0 ||
                    (whole && url[plen] != '\0') ||
                    json_integer_value(json_object_get(item, "status")) != routes[r].status) {
                    continue;
                }
                char buf[2048];
                struct ari_parse_error err;
                char *text = util_dump(body);
                assert_true(ari_model_size(routes[r].model) <= sizeof(buf));
                if (ari_model_parse(routes[r].model, text, strlen(text), &a, buf, &err) != 0) {
                    fail_msg("%s %s: %s", method, url, err.message);
                }
                json_t *back = ari_model_to_json(routes[r].model, buf);
                char *b = util_dump(back);
                assert_string_equal(b, text);
                if (routes[r].model == ARI_MODEL_CHANNEL && strcmp(routes[r].method, "POST") == 0) {
                    /* Originate answers with a Down snapshot. */
                    const struct ari_channel *ch = (const void *)buf;
                    assert_int_equal(ch->state_code, ARI_CHANNEL_STATE_DOWN);
                }
                free(b);
                free(text);
                json_decref(back);
                decoded++;
                break;
            }
        }
        json_decref(doc);
    }
    util_free_list(files, n_files);
    arena_fini(&a);
    assert_true(decoded >= 20);
}

/* ---------------------------------------------------------------------- */
/* Event order (NOTES.md section 7, as the captures show it)               */
/* ---------------------------------------------------------------------- */

struct order_case {
    const char *file;          /* capture */
    const char *channel;       /* channel the app originated or answered */
    const char *const *expect; /* tokens of its app-stream events, NULL-terminated */
    enum ari_dial_outcome outcome;
};

/* A. Originate into the app, answered: Dial "" -> Ringing -> Dial RINGING -> Up -> Dial ANSWER
 * -> ChannelVarset STASISSTATUS="" -> StasisStart -> media -> hangup request -> StasisEnd ->
 * ChannelVarset STASISSTATUS=SUCCESS -> ChannelDestroyed. (NOTES omits the two Varsets.) */
static const char *const order_answer[] = { "Dial()",
                                            "ChannelStateChange(Ringing)",
                                            "Dial(RINGING)",
                                            "ChannelStateChange(Up)",
                                            "Dial(ANSWER)",
                                            "ChannelVarset(STASISSTATUS=)",
                                            "StasisStart(c1,l1)",
                                            "PlaybackStarted",
                                            "PlaybackFinished",
                                            "ChannelDtmfReceived(1)",
                                            "PlaybackStarted",
                                            "PlaybackFinished",
                                            "RecordingStarted",
                                            "RecordingFinished",
                                            "ChannelHangupRequest(16)",
                                            "StasisEnd",
                                            "ChannelVarset(STASISSTATUS=SUCCESS)",
                                            "ChannelDestroyed(16)",
                                            NULL };

/* B. Busy / congestion over Local channels: no HangupRequest on ;1, the final Dial status
 * comes first and ;1 is destroyed with cause 0 (the 17/34 is on ;2). */
static const char *const order_busy[] = { "Dial()", "Dial(BUSY)", "ChannelDestroyed(0)", NULL };
static const char *const order_congestion[] = { "Dial()", "Dial(CONGESTION)", "ChannelDestroyed(0)",
                                                NULL };

/* B. Originate timeout while ringing: no final Dial status and no HangupRequest on ;1. */
static const char *const order_noanswer[] = { "Dial()", "ChannelStateChange(Ringing)",
                                              "Dial(RINGING)", "ChannelDestroyed(19)", NULL };

/* B. Far end rejects (21) or says unallocated (1) before answer: the cause is on the hangup
 * request and the destroy; Dial says NOANSWER for both. */
static const char *const order_reject[] = { "Dial()", "ChannelHangupRequest(21)", "Dial(NOANSWER)",
                                            "ChannelDestroyed(21)", NULL };
static const char *const order_unallocated[] = { "Dial()", "ChannelHangupRequest(1)",
                                                 "Dial(NOANSWER)", "ChannelDestroyed(1)", NULL };

/* C. Inbound through Stasis() in the dialplan: nothing before StasisStart (state Ring), and
 * no ChannelDestroyed after StasisEnd (implicit subscription). */
static const char *const order_inbound[] = { "StasisStart(2001)",
                                             "ChannelStateChange(Up)",
                                             "PlaybackStarted",
                                             "ChannelDtmfReceived(1)",
                                             "PlaybackFinished",
                                             "ChannelDtmfReceived(2)",
                                             "ChannelDtmfReceived(#)",
                                             "ChannelHangupRequest(16)",
                                             "StasisEnd",
                                             NULL };

/* Dialplan-mode originate (AMD first): the app sees nothing until StasisStart; the app's
 * DELETE gives a soft hangup request (cause 32) and StasisEnd, and no ChannelDestroyed. */
static const char *const order_amd_human[] = { "StasisStart(amd,HUMAN,HUMAN-803-800)",
                                               "ChannelHangupRequest(soft,32)", "StasisEnd", NULL };
static const char *const order_amd_machine[] = { "StasisStart(amd,MACHINE,MAXWORDS-3-2)",
                                                 "ChannelHangupRequest(soft,32)", "StasisEnd",
                                                 NULL };

/* Bridged customer: the app hangs the call up (soft), the channel leaves the bridge first. */
static const char *const order_bridge_customer[] = {
    "Dial()",
    "ChannelStateChange(Ringing)",
    "Dial(RINGING)",
    "ChannelStateChange(Up)",
    "Dial(ANSWER)",
    "ChannelVarset(STASISSTATUS=)",
    "StasisStart(customer)",
    "ChannelEnteredBridge",
    "ChannelVarset(BRIDGEPEER=Local/s@agent-sim-0000000c;1)",
    "ChannelDtmfReceived(1)",
    "ChannelHangupRequest(soft,32)",
    "ChannelVarset(BRIDGEPEER=)",
    "ChannelLeftBridge",
    "StasisEnd",
    "ChannelVarset(STASISSTATUS=SUCCESS)",
    "ChannelDestroyed(16)",
    NULL
};

/* An agent leg that answers at once never rings. */
static const char *const order_bridge_agent[] = {
    "Dial()",
    "ChannelStateChange(Up)",
    "Dial(ANSWER)",
    "ChannelVarset(STASISSTATUS=)",
    "StasisStart(agent)",
    "ChannelEnteredBridge",
    "ChannelVarset(BRIDGEPEER=Local/s@callee-answer-0000000b;1)",
    "ChannelHangupRequest(soft,32)",
    "ChannelVarset(BRIDGEPEER=)",
    "ChannelLeftBridge",
    "StasisEnd",
    "ChannelVarset(STASISSTATUS=SUCCESS)",
    "ChannelDestroyed(16)",
    NULL
};

static const char *const order_record[] = { "Dial()",
                                            "ChannelStateChange(Ringing)",
                                            "Dial(RINGING)",
                                            "ChannelStateChange(Up)",
                                            "Dial(ANSWER)",
                                            "ChannelVarset(STASISSTATUS=)",
                                            "StasisStart(rec)",
                                            "RecordingStarted",
                                            "RecordingFinished",
                                            "ChannelHangupRequest(soft,32)",
                                            "StasisEnd",
                                            "ChannelVarset(STASISSTATUS=SUCCESS)",
                                            "ChannelDestroyed(16)",
                                            NULL };

/* Originate to a missing context: destroyed at once with cause 0, no Dial at all. */
static const char *const order_no_context[] = { "ChannelDestroyed(0)", NULL };

static const struct order_case order_cases[] = {
    { "01_info_and_websocket.json", "testpeer-1795520783.0", order_no_context, ARI_DIAL_FAILED },
    { "02_originate_answer.json", "c1-l1", order_answer, ARI_DIAL_ANSWERED },
    { "03_originate_busy.json", "originate-busy", order_busy, ARI_DIAL_BUSY },
    { "04_originate_noanswer.json", "originate-noanswer", order_noanswer, ARI_DIAL_NO_ANSWER },
    { "05_originate_congestion.json", "originate-congestion", order_congestion,
      ARI_DIAL_CONGESTION },
    { "06_originate_reject21.json", "originate-reject21", order_reject, ARI_DIAL_REJECTED },
    { "07_originate_unallocated1.json", "originate-unallocated1", order_unallocated,
      ARI_DIAL_UNALLOCATED },
    { "08_inbound_ivr.json", "in1-ivr", order_inbound, ARI_DIAL_ANSWERED },
    { "09_amd_human.json", "amd-h", order_amd_human, ARI_DIAL_ANSWERED },
    { "10_amd_machine.json", "amd-m", order_amd_machine, ARI_DIAL_ANSWERED },
    { "11_bridge_customer_agent.json", "cust1", order_bridge_customer, ARI_DIAL_ANSWERED },
    { "11_bridge_customer_agent.json", "agent1", order_bridge_agent, ARI_DIAL_ANSWERED },
    { "12_record_far_end_audio.json", "rec1", order_record, ARI_DIAL_ANSWERED },
};

static void test_event_order_per_scenario(void **state)
{
    struct arena a;

    (void)state;
    if (util_ari_dir() == NULL) {
        skip();
    }
    arena_init(&a, 0);
    for (size_t c = 0; c < sizeof(order_cases) / sizeof(order_cases[0]); c++) {
        const struct order_case *oc = &order_cases[c];
        struct ari_dial_tracker tr;
        char rel[512];
        json_t *item;
        size_t i;
        size_t k = 0;

        assert_true(util_join(rel, sizeof(rel), "captures-asterisk-22", oc->file));
        json_t *doc = util_load(rel);
        assert_non_null(doc);
        ari_dial_tracker_init(&tr, oc->channel);
        json_array_foreach (json_object_get(doc, "sequence"), i, item) {
            struct ari_event *ev;
            char tok[256];
            if (strcmp(json_string_value(json_object_get(item, "kind")), "event") != 0 ||
                strcmp(json_string_value(json_object_get(item, "ws")), "app") != 0) {
                continue;
            }
            char *text = util_dump(json_object_get(item, "event"));
            assert_int_equal(ari_event_parse(text, strlen(text), &a, &ev), 0);
            free(text);
            ari_dial_tracker_feed(&tr, ev);
            if (!util_concerns(ev, oc->channel)) {
                continue;
            }
            util_token(ev, tok, sizeof(tok));
            if (oc->expect[k] == NULL) {
                fail_msg("%s/%s: unexpected extra event %s", oc->file, oc->channel, tok);
            }
            if (strcmp(tok, oc->expect[k]) != 0) {
                fail_msg("%s/%s: event %zu is %s, expected %s", oc->file, oc->channel, k, tok,
                         oc->expect[k]);
            }
            k++;
            arena_reset(&a);
        }
        if (oc->expect[k] != NULL) {
            fail_msg("%s/%s: missing %s", oc->file, oc->channel, oc->expect[k]);
        }
        if (ari_dial_tracker_outcome(&tr) != oc->outcome) {
            fail_msg("%s/%s: outcome %s, expected %s", oc->file, oc->channel,
                     ari_dial_outcome_name(ari_dial_tracker_outcome(&tr)),
                     ari_dial_outcome_name(oc->outcome));
        }
        json_decref(doc);
    }
    arena_fini(&a);
}

/* The testsuite's nominal create+dial order agrees with the captures' shape. */
static void test_event_order_testsuite_nominal(void **state)
{
    static const char *const expect[] = { "StasisStart", "Dial", "ChannelHangupRequest",
                                          "StasisEnd", "ChannelDestroyed" };
    json_t *doc = util_load("examples/asterisk-testsuite-sequences.json");
    json_t *steps;
    json_t *step;
    size_t i;
    size_t k = 0;

    (void)state;
    if (doc == NULL) {
        skip();
    }
    steps = json_object_get(json_array_get(json_object_get(doc, "tests"), 0), "pluggable-config");
    json_array_foreach (steps, i, step) {
        json_t *match = json_object_get(json_object_get(step, "ari-events"), "match");
        if (match != NULL) {
            assert_true(k < 5);
            assert_string_equal(json_string_value(json_object_get(match, "type")), expect[k]);
            k++;
        }
    }
    assert_int_equal(k, 5);
    json_decref(doc);
}

/* ---------------------------------------------------------------------- */
/* Routing without captures                                                */
/* ---------------------------------------------------------------------- */

#define CH(id)                                                                                     \
    "{\"id\":\"" id                                                                                \
    "\",\"name\":\"n\",\"state\":\"Up\",\"caller\":{\"name\":\"\",\"number\":\"\"},\"connected\":" \
    "{\"name\":\"\",\"number\":\"\"},\"accountcode\":\"\",\"dialplan\":{\"context\":\"c\","        \
    "\"exten\":\"s\",\"priority\":1},\"creationtime\":\"2026-01-01T12:00:00.000+0000\"}"
#define BR(id)                                                                                 \
    "{\"id\":\"" id "\",\"technology\":\"simple_bridge\",\"bridge_type\":\"mixing\",\"bridge_" \
    "class\":\"stasis\",\"creator\":\"Stasis\",\"name\":\"\",\"channels\":[]}"

static void test_event_routing(void **state)
{
    struct arena a;
    struct ari_event *ev;
    const char *ids[8];
    const char *m;

    (void)state;
    arena_init(&a, 0);

    /* Dial: the dialled peer first, then caller and forwarded. */
    m = "{\"type\":\"Dial\",\"application\":\"x\",\"dialstatus\":\"RINGING\",\"caller\":" CH(
        "A") ",\"peer\":" CH("B") ",\"forwarded\":" CH("C") "}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ari_event_channel_ids(ev, ids, 8), 3);
    assert_string_equal(ids[0], "B");
    assert_string_equal(ids[1], "A");
    assert_string_equal(ids[2], "C");
    /* Fewer slots than ids: the count still says how many there are. */
    assert_int_equal(ari_event_channel_ids(ev, ids, 1), 3);
    assert_string_equal(ids[0], "B");
    assert_string_equal(ari_event_channel_id(ev), "B");

    /* StasisStart with replace_channel; duplicates are reported once. */
    m = "{\"type\":\"StasisStart\",\"application\":\"x\",\"args\":[],\"channel\":" CH(
        "A") ",\"replace_channel\":" CH("A") "}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ari_event_channel_ids(ev, ids, 8), 1);
    assert_int_equal(ari_event_channel_ids(ev, NULL, 0), 1); /* exact even with no room */

    /* A playback on a bridge routes to the bridge, not to a channel. */
    m = "{\"type\":\"PlaybackStarted\",\"application\":\"x\",\"playback\":{\"id\":\"p\",\"media_"
        "uri\":\"sound:x\",\"target_uri\":\"bridge:br9\",\"state\":\"playing\"}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ari_event_channel_ids(ev, ids, 8), 0);
    assert_null(ari_event_channel_id(ev));
    assert_string_equal(ari_event_bridge_id(ev), "br9");

    /* A recording's target. */
    m = "{\"type\":\"RecordingFailed\",\"application\":\"x\",\"recording\":{\"name\":\"r\","
        "\"format\":\"wav\",\"state\":\"failed\",\"target_uri\":\"channel:c7\",\"cause\":\"x\"}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_string_equal(ari_event_channel_id(ev), "c7");
    assert_int_equal(ev->recording_failed.recording->state_code, ARI_RECORDING_STATE_FAILED);

    /* Nested: ChannelTransfer names the referring channel first. */
    m = "{\"type\":\"ChannelTransfer\",\"application\":\"x\",\"refer_to\":{\"requested_"
        "destination\":{\"destination\":\"1000\"},\"destination_channel\":" CH(
            "D") "},\"referred_by\":{\"source_channel\":" CH("S") ",\"bridge\":" BR("b1") "}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ari_event_channel_ids(ev, ids, 8), 2);
    assert_string_equal(ids[0], "S");
    assert_string_equal(ids[1], "D");
    assert_string_equal(ari_event_bridge_id(ev), "b1");

    /* Attended transfer: every leg. */
    m = "{\"type\":\"BridgeAttendedTransfer\",\"application\":\"x\",\"transferer_first_leg\":" CH(
        "L1") ",\"transferer_second_leg\":" CH("L2") ",\"transferee\":" CH("T") ",\"result\":"
                                                                                "\"Success\",\"is_"
                                                                                "external\":false,"
                                                                                "\"destination_"
                                                                                "type\":\"bridge\","
                                                                                "\"destination_"
                                                                                "bridge\":\"b2\","
                                                                                "\"transferer_"
                                                                                "first_leg_"
                                                                                "bridge\":" BR(
                                                                                    "b2") "}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ari_event_channel_ids(ev, ids, 8), 3);
    assert_string_equal(ids[0], "L1");
    assert_string_equal(ari_event_bridge_id(ev), "b2");

    /* No channel: device state, endpoint, application events. */
    m = "{\"type\":\"DeviceStateChanged\",\"application\":\"x\",\"device_state\":{\"name\":\"PJSIP/"
        "1\",\"state\":\"INUSE\"}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ari_event_channel_ids(ev, ids, 8), 0);
    assert_null(ari_event_bridge_id(ev));
    assert_int_equal(ari_event_channel_ids(NULL, ids, 8), 0);
    arena_fini(&a);
}

/* Encoding follows Asterisk's key placement for blob-built and application-first events. */
static void test_event_encode_key_order(void **state)
{
    struct arena a;
    struct ari_event *ev;
    json_t *j;
    char *s;
    const char *m;

    (void)state;
    arena_init(&a, 0);
    m = "{\"type\":\"ChannelTalkingFinished\",\"application\":\"x\",\"channel\":" CH(
        "A") ",\"duration\":1500,\"asterisk_id\":\"id\"}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    j = ari_event_to_json(ev);
    s = util_dump(j);
    assert_true(strncmp(s, "{\"duration\":1500,\"type\":\"ChannelTalkingFinished\",", 49) == 0);
    assert_non_null(strstr(s, "\"asterisk_id\":\"id\",\"application\":\"x\"}"));
    free(s);
    json_decref(j);

    m = "{\"type\":\"ApplicationRegistered\",\"timestamp\":\"2026-01-01T00:00:00.000+0000\","
        "\"application\":\"dialer\",\"asterisk_id\":\"id\"}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    j = ari_event_to_json(ev);
    s = util_dump(j);
    assert_string_equal(s, m);
    free(s);
    json_decref(j);

    /* MissingParams is a Message: no application, no timestamp. */
    m = "{\"type\":\"MissingParams\",\"params\":[\"app\"]}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_null(ev->application);
    assert_int_equal(ev->missing_params.n_params, 1);
    j = ari_event_to_json(ev);
    s = util_dump(j);
    assert_string_equal(s, m);
    free(s);
    json_decref(j);
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_type_names_round_trip),
        cmocka_unit_test(test_event_every_swagger_event_has_a_parser),
        cmocka_unit_test(test_event_replay_captures),
        cmocka_unit_test(test_event_capture_spot_checks),
        cmocka_unit_test(test_event_fast_decoder_matches_reference),
        cmocka_unit_test(test_event_replay_examples),
        cmocka_unit_test(test_event_replay_http_bodies),
        cmocka_unit_test(test_event_order_per_scenario),
        cmocka_unit_test(test_event_order_testsuite_nominal),
        cmocka_unit_test(test_event_routing),
        cmocka_unit_test(test_event_encode_key_order),
    };
    return cmocka_run_group_tests_name("ari_event", tests, NULL, NULL);
}
