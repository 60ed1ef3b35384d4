/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ari/codec.c: what the decoder rejects (a table of bad
 * messages, each with the error code and the key it must name), what it
 * tolerates (unknown keys and types, missing or null optional keys, version
 * differences), values of every field kind, and encoding of structs built by
 * hand (the simulator's use). Under `make VARIANT=asan` these also prove the
 * failure paths neither crash nor leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/err.h"

/* A minimal valid Channel, with a hole for extra keys. */
#define CHAN_KEYS                                                                          \
    "\"id\":\"c1\",\"name\":\"PJSIP/a-1\",\"state\":\"Up\",\"caller\":{\"name\":\"\","     \
    "\"number\":\"\"},\"connected\":{\"name\":\"\",\"number\":\"\"},\"accountcode\":\"\"," \
    "\"dialplan\":{\"context\":\"c\",\"exten\":\"s\",\"priority\":1},"                     \
    "\"creationtime\":\"2026-01-01T12:00:00.000+0000\""
#define CHAN    "{" CHAN_KEYS "}"
#define EV_HEAD "\"application\":\"dialer\",\"timestamp\":\"2026-01-01T12:00:00.123+0000\","

struct bad_case {
    const char *name;   /* what the case is about */
    const char *text;   /* the message */
    int rc;             /* expected error */
    const char *field;  /* expected err.field (NULL: not checked) */
    const char *substr; /* expected in err.message (NULL: not checked) */
};

static const struct bad_case bad_cases[] = {
    { "empty input", "", ERR_PARSE, "", "not valid JSON" },
    { "whitespace only", "   \n", ERR_PARSE, "", "not valid JSON" },
    { "not JSON", "hello", ERR_PARSE, "", "not valid JSON" },
    { "truncated", "{\"type\":\"Dial\"", ERR_PARSE, "", "not valid JSON" },
    { "trailing garbage", "{\"type\":\"ApplicationReplaced\",\"application\":\"a\"} x", ERR_PARSE,
      "", "not valid JSON" },
    { "two objects", "{}{}", ERR_PARSE, "", "not valid JSON" },
    { "JSON array", "[{\"type\":\"Dial\"}]", ERR_PARSE, "", "expected a JSON object, got array" },
    { "JSON scalar", "\"Dial\"", ERR_PARSE, "", "not valid JSON" },
    { "missing type", "{\"application\":\"a\"}", ERR_PARSE, "type", "missing required key" },
    { "type not a string", "{\"type\":5}", ERR_PARSE, "type", "expected string, got integer" },
    { "type null", "{\"type\":null}", ERR_PARSE, "type", "expected string, got null" },
    { "type object", "{\"type\":{}}", ERR_PARSE, "type", "expected string, got object" },
    { "event without application", "{\"type\":\"ApplicationReplaced\"}", ERR_PARSE, "application",
      "ApplicationReplaced.application: missing required key" },
    { "application not a string", "{\"type\":\"ApplicationReplaced\",\"application\":[]}",
      ERR_PARSE, "application", "expected string, got array" },
    { "timestamp not a string",
      "{\"type\":\"ApplicationReplaced\",\"application\":\"a\","
      "\"timestamp\":1}",
      ERR_PARSE, "timestamp", "expected date string, got integer" },
    { "timestamp not a date",
      "{\"type\":\"ApplicationReplaced\",\"application\":\"a\","
      "\"timestamp\":\"yesterday\"}",
      ERR_PARSE, "timestamp", "invalid date" },
    { "asterisk_id not a string",
      "{\"type\":\"ApplicationReplaced\",\"application\":\"a\","
      "\"asterisk_id\":true}",
      ERR_PARSE, "asterisk_id", "expected string, got boolean" },
    { "missing payload key", "{\"type\":\"StasisEnd\"," EV_HEAD "\"x\":1}", ERR_PARSE, "channel",
      "StasisEnd.channel: missing required key" },
    { "required key null", "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":null}", ERR_PARSE,
      "channel", "missing required key" },
    { "model not an object", "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":\"c1\"}", ERR_PARSE,
      "channel", "expected object, got string" },
    { "nested required missing",
      "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":{\"id\":\"c1\",\"name\":\"n\"}}", ERR_PARSE,
      "channel.state", "missing required key" },
    { "deep required missing",
      "{\"type\":\"ChannelCreated\"," EV_HEAD "\"channel\":{" CHAN_KEYS
      ",\"caller\":{\"name\":\"x\"}}}",
      ERR_PARSE, "channel.caller.number", "ChannelCreated.channel.caller.number" },
    { "int as string",
      "{\"type\":\"ChannelDestroyed\"," EV_HEAD
      "\"cause\":\"16\",\"cause_txt\":\"x\",\"channel\":" CHAN "}",
      ERR_PARSE, "cause", "expected integer, got string" },
    { "int as real",
      "{\"type\":\"ChannelDestroyed\"," EV_HEAD
      "\"cause\":16.0,\"cause_txt\":\"x\",\"channel\":" CHAN "}",
      ERR_PARSE, "cause", "expected integer, got real" },
    { "int out of range",
      "{\"type\":\"ChannelDestroyed\"," EV_HEAD
      "\"cause\":4294967296,\"cause_txt\":\"x\",\"channel\":" CHAN "}",
      ERR_PARSE, "cause", "out of range" },
    { "int too big for JSON",
      "{\"type\":\"ChannelDestroyed\"," EV_HEAD
      "\"cause\":99999999999999999999999,\"cause_txt\":\"x\"}",
      ERR_PARSE, "", "not valid JSON" },
    { "long as string",
      "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":{" CHAN_KEYS
      ",\"dialplan\":{\"context\":\"c\",\"exten\":\"s\",\"priority\":\"1\"}}}",
      ERR_PARSE, "channel.dialplan.priority", "expected integer, got string" },
    { "bool as string",
      "{\"type\":\"ChannelHangupRequest\"," EV_HEAD "\"soft\":\"true\",\"channel\":" CHAN "}",
      ERR_PARSE, "soft", "expected boolean, got string" },
    { "bool as int",
      "{\"type\":\"ChannelHangupRequest\"," EV_HEAD "\"soft\":1,\"channel\":" CHAN "}", ERR_PARSE,
      "soft", "expected boolean, got integer" },
    { "invalid creationtime",
      "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":{" CHAN_KEYS
      ",\"creationtime\":\"2026-02-30T00:00:00.000+0000\"}}",
      ERR_PARSE, "channel.creationtime", "invalid date" },
    { "enum not a string",
      "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":{" CHAN_KEYS ",\"state\":6}}", ERR_PARSE,
      "channel.state", "expected string, got integer" },
    { "list not an array",
      "{\"type\":\"StasisStart\"," EV_HEAD "\"args\":\"a,b\",\"channel\":" CHAN "}", ERR_PARSE,
      "args", "expected array, got string" },
    { "list element not a string",
      "{\"type\":\"StasisStart\"," EV_HEAD "\"args\":[\"a\",\"b\",7],\"channel\":" CHAN "}",
      ERR_PARSE, "args[2]", "StasisStart.args[2]: expected string, got integer" },
    { "object not an object",
      "{\"type\":\"StasisEnd\"," EV_HEAD "\"channel\":{" CHAN_KEYS ",\"channelvars\":[]}}",
      ERR_PARSE, "channel.channelvars", "expected object, got array" },
    { "userevent not an object",
      "{\"type\":\"ChannelUserevent\"," EV_HEAD "\"eventname\":\"e\",\"userevent\":\"x\"}",
      ERR_PARSE, "userevent", "expected object, got string" },
    { "model list not an array",
      "{\"type\":\"ChannelTransfer\"," EV_HEAD
      "\"refer_to\":{\"requested_destination\":{\"additional_protocol_params\":{}}},"
      "\"referred_by\":{\"source_channel\":" CHAN "}}",
      ERR_PARSE, "refer_to.requested_destination.additional_protocol_params",
      "expected array, got object" },
    { "model list element not an object",
      "{\"type\":\"ChannelTransfer\"," EV_HEAD
      "\"refer_to\":{\"requested_destination\":{\"additional_protocol_params\":["
      "{\"parameter_name\":\"a\",\"parameter_value\":\"b\"},3]}},"
      "\"referred_by\":{\"source_channel\":" CHAN "}}",
      ERR_PARSE, "refer_to.requested_destination.additional_protocol_params[1]",
      "expected object, got integer" },
    { "model list element missing key",
      "{\"type\":\"ChannelTransfer\"," EV_HEAD
      "\"refer_to\":{\"requested_destination\":{\"additional_protocol_params\":["
      "{\"parameter_name\":\"a\"}]}},\"referred_by\":{\"source_channel\":" CHAN "}}",
      ERR_PARSE, "refer_to.requested_destination.additional_protocol_params[0].parameter_value",
      "missing required key" },
    { "invalid UTF-8 in type", "{\"type\":\"Dial\xff\"}", ERR_PARSE, "", "not valid JSON" },
    { "invalid UTF-8 in value", "{\"type\":\"ApplicationReplaced\",\"application\":\"a\xc3\x28\"}",
      ERR_PARSE, "", "not valid JSON" },
    { "overlong UTF-8", "{\"type\":\"ApplicationReplaced\",\"application\":\"\xc0\xaf\"}",
      ERR_PARSE, "", "not valid JSON" },
    { "escaped NUL", "{\"type\":\"ApplicationReplaced\",\"application\":\"a\\u0000b\"}", ERR_PARSE,
      "", "not valid JSON" },
    { "lone surrogate", "{\"type\":\"ApplicationReplaced\",\"application\":\"\\ud800\"}", ERR_PARSE,
      "", "not valid JSON" },
};

static void test_codec_rejects_bad_messages(void **state)
{
    struct arena a;

    (void)state;
    arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct ari_parse_error err;
        struct ari_event *ev = (struct ari_event *)&err; /* must come back NULL */
        int rc;

        memset(&err, 'x', sizeof(err));
        rc = ari_event_parse_ex(c->text, strlen(c->text), &a, &ev, &err);
        if (rc != c->rc) {
            fail_msg("%s: rc %d, expected %d (%s)", c->name, rc, c->rc, err.message);
        }
        assert_null(ev);
        if (c->field != NULL && strcmp(err.field, c->field) != 0) {
            fail_msg("%s: field \"%s\", expected \"%s\" (%s)", c->name, err.field, c->field,
                     err.message);
        }
        if (c->substr != NULL && strstr(err.message, c->substr) == NULL) {
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.message, c->substr);
        }
        /* The short form agrees. */
        assert_int_equal(ari_event_parse(c->text, strlen(c->text), &a, &ev), c->rc);
        arena_reset(&a);
    }
    arena_fini(&a);
}

static void test_codec_rejects_bad_arguments(void **state)
{
    struct arena a;
    struct ari_event *ev;
    const char *m = "{\"type\":\"ApplicationReplaced\",\"application\":\"a\"}";

    (void)state;
    arena_init(&a, 0);
    assert_int_equal(ari_event_parse(NULL, 0, &a, &ev), ERR_INVAL);
    assert_int_equal(ari_event_parse(m, strlen(m), NULL, &ev), ERR_INVAL);
    assert_int_equal(ari_event_parse(m, strlen(m), &a, NULL), ERR_INVAL);
    assert_int_equal(ari_event_from_json(NULL, &a, &ev, NULL), ERR_INVAL);
    /* A NUL byte inside the length is not the end of the message. */
    assert_int_equal(ari_event_parse(m, strlen(m) + 1, &a, &ev), ERR_PARSE);
    /* The length bounds the message even when the buffer goes on. */
    assert_int_equal(ari_event_parse(m, strlen(m) - 1, &a, &ev), ERR_PARSE);
    arena_fini(&a);
}

/* A message of len bytes: an event whose `key` string value pads it out. */
static char *padded(const char *head, const char *tail, size_t len)
{
    size_t hl = strlen(head);
    size_t tl = strlen(tail);
    char *s = malloc(len + 1);

    assert_non_null(s);
    assert_true(len > hl + tl);
    memcpy(s, head, hl);
    memset(s + hl, 'x', len - hl - tl);
    memcpy(s + len - tl, tail, tl);
    s[len] = '\0';
    return s;
}

static void test_codec_huge_inputs(void **state)
{
    struct arena a;
    struct ari_event *ev;
    struct ari_parse_error err;
    char *m;

    (void)state;
    arena_init(&a, 0);

    /* Over the limit: refused before parsing. */
    m = padded("{\"type\":\"ApplicationReplaced\",\"application\":\"", "\"}",
               ARI_EVENT_MAX_LEN + 1);
    assert_int_equal(ari_event_parse_ex(m, strlen(m), &a, &ev, &err), ERR_TOOBIG);
    assert_non_null(strstr(err.message, "exceeds"));
    free(m);

    /* Just under: a 1 MiB application name is only a long string. */
    m = padded("{\"type\":\"ApplicationReplaced\",\"application\":\"", "\"}", ARI_EVENT_MAX_LEN);
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(strlen(ev->application),
                     ARI_EVENT_MAX_LEN -
                         strlen("{\"type\":\"ApplicationReplaced\",\"application\":\"\"}"));
    free(m);
    arena_reset(&a);

    /* A huge unknown type name is still just an unknown type. */
    m = padded("{\"application\":\"a\",\"type\":\"", "\"}", 500000);
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ev->type, ARI_EVENT_UNKNOWN);
    assert_int_equal(strlen(ev->type_name),
                     500000 - strlen("{\"application\":\"a\",\"type\":\"\"}"));
    assert_int_equal(ev->raw_len, 500000);
    free(m);
    arena_reset(&a);

    /* A huge channel name. */
    m = padded("{\"type\":\"StasisEnd\",\"application\":\"a\",\"channel\":{" CHAN_KEYS
               ",\"name\":\"",
               "\"}}", 400000);
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_true(strlen(ev->stasis_end.channel->name) > 390000);
    free(m);
    arena_fini(&a);
}

static void test_codec_deep_nesting(void **state)
{
    struct arena a;
    struct ari_event *ev;
    struct ari_parse_error err;
    const size_t depths[] = { 100, 2000, 2100, 100000 };

    (void)state;
    arena_init(&a, 0);
    for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
        size_t depth = depths[k];
        const char *head = "{\"type\":\"ChannelUserevent\",\"application\":\"a\","
                           "\"eventname\":\"e\",\"userevent\":{\"v\":";
        size_t hl = strlen(head);
        char *m = malloc(hl + 2 * depth + 3);
        assert_non_null(m);
        memcpy(m, head, hl);
        memset(m + hl, '[', depth);
        memset(m + hl + depth, ']', depth);
        memcpy(m + hl + 2 * depth, "}}", 3);
        int rc = ari_event_parse_ex(m, strlen(m), &a, &ev, &err);
        if (depth <= 2000) {
            /* Within jansson's depth limit (2048): the nested value is kept as JSON text. */
            assert_int_equal(rc, 0);
            assert_true(ev->channel_userevent.userevent[0].json);
            assert_int_equal(strlen(ev->channel_userevent.userevent[0].value), 2 * depth);
            json_t *j = ari_event_to_json(ev);
            assert_non_null(j);
            json_decref(j);
        } else {
            /* Past it: an error, not a stack overflow. */
            assert_int_equal(rc, ERR_PARSE);
        }
        free(m);
        arena_reset(&a);
    }
    arena_fini(&a);
}

static void test_codec_tolerates_unknown_and_missing(void **state)
{
    struct arena a;
    struct ari_event *ev;
    const char *m;

    (void)state;
    arena_init(&a, 0);

    /* Unknown keys at every level are ignored. */
    m = "{\"type\":\"ChannelDestroyed\",\"future\":{\"x\":[1,2]}," EV_HEAD
        "\"cause\":16,\"cause_txt\":\"Normal Clearing\",\"channel\":{" CHAN_KEYS
        ",\"new_key\":7,\"caller\":{\"name\":\"\",\"number\":\"1\",\"extra\":null}}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ev->channel_destroyed.cause, 16);
    assert_string_equal(ev->channel_destroyed.channel->caller->number, "1");

    /* Optional keys missing: Dial with only dialstatus and peer (ARI originate: no caller). */
    m = "{\"type\":\"Dial\",\"application\":\"a\",\"dialstatus\":\"\",\"peer\":" CHAN "}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_null(ev->dial.caller);
    assert_null(ev->dial.forward);
    assert_null(ev->dial.dialstring);
    assert_null(ev->timestamp);
    assert_null(ev->asterisk_id);
    assert_int_equal(ev->dial.dialstatus_code, ARI_DIALSTATUS_STARTED);

    /* Optional keys null: treated as absent. */
    m = "{\"type\":\"ChannelHangupRequest\",\"application\":\"a\",\"cause\":null,"
        "\"tech_cause\":null,\"channel\":{" CHAN_KEYS
        ",\"dialplan\":{\"context\":\"c\",\"exten\":\"s\",\"priority\":null}}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_false(ev->channel_hangup_request.has_cause);
    assert_false(ev->channel_hangup_request.has_tech_cause);
    assert_false(ev->channel_hangup_request.has_soft);
    assert_false(ev->channel_hangup_request.channel->dialplan->has_priority);

    /* Newer servers: tech_cause (22.7+), caller_rdnis, tenantid, channelvars of any value. */
    m = "{\"type\":\"ChannelDestroyed\"," EV_HEAD
        "\"cause\":17,\"cause_txt\":\"User busy\",\"tech_cause\":486,\"channel\":{" CHAN_KEYS
        ",\"protocol_id\":\"abc@host\",\"language\":\"de\",\"caller_rdnis\":\"555\","
        "\"channelvars\":{\"S\":\"v\",\"N\":5,\"B\":true,\"O\":{\"k\":[1]},\"Z\":null,\"E\":\"\"},"
        "\"tenantid\":\"t1\"}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    const struct ari_channel *ch = ev->channel_destroyed.channel;
    assert_true(ev->channel_destroyed.has_tech_cause);
    assert_int_equal(ev->channel_destroyed.tech_cause, 486);
    assert_string_equal(ch->protocol_id, "abc@host");
    assert_string_equal(ch->caller_rdnis, "555");
    assert_string_equal(ch->tenantid, "t1");
    assert_int_equal(ch->n_channelvars, 6);
    assert_string_equal(ch->channelvars[0].value, "v");
    assert_false(ch->channelvars[0].json);
    assert_string_equal(ch->channelvars[1].value, "5");
    assert_true(ch->channelvars[1].json);
    assert_string_equal(ch->channelvars[2].value, "true");
    assert_string_equal(ch->channelvars[3].value, "{\"k\":[1]}");
    assert_string_equal(ch->channelvars[4].value, "null");
    assert_true(ch->channelvars[4].json);
    assert_string_equal(ch->channelvars[5].value, "");
    assert_false(ch->channelvars[5].json);
    /* ... and all of it comes back out. */
    json_t *j = ari_event_to_json(ev);
    json_t *orig = json_loads(m, 0, NULL);
    assert_true(json_equal(j, orig));
    json_decref(j);
    json_decref(orig);

    /* Enumerated strings outside the known set are kept, with code UNKNOWN. */
    m = "{\"type\":\"StasisEnd\",\"application\":\"a\",\"channel\":{" CHAN_KEYS
        ",\"state\":\"Unknown (10)\"}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_string_equal(ev->stasis_end.channel->state, "Unknown (10)");
    assert_int_equal(ev->stasis_end.channel->state_code, ARI_CHANNEL_STATE_UNKNOWN);
    m = "{\"type\":\"StasisEnd\",\"application\":\"a\",\"channel\":{" CHAN_KEYS
        ",\"state\":\"Rsrved\"}}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ev->stasis_end.channel->state_code, ARI_CHANNEL_STATE_RSRVD);
    m = "{\"type\":\"Dial\",\"application\":\"a\",\"dialstatus\":\"TORTURE\",\"peer\":" CHAN "}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ev->dial.dialstatus_code, ARI_DIALSTATUS_UNKNOWN);
    assert_string_equal(ev->dial.dialstatus, "TORTURE");
    arena_fini(&a);
}

static void test_codec_unknown_type_keeps_raw(void **state)
{
    struct arena a;
    struct ari_event *ev;
    struct ari_event *ev2;
    const char *m = "{ \"type\" : \"ChannelFutureThing\", \"application\":\"dialer\","
                    "\"timestamp\":\"2026-01-01T12:00:00.000+0000\",\"payload\":{\"a\":[1,2]} }";

    (void)state;
    arena_init(&a, 0);
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_int_equal(ev->type, ARI_EVENT_UNKNOWN);
    assert_string_equal(ev->type_name, "ChannelFutureThing");
    assert_string_equal(ev->application, "dialer");
    assert_true(ev->timestamp_us == INT64_C(1767268800000000));
    /* The raw text is a byte copy, in the arena. */
    assert_int_equal(ev->raw_len, strlen(m));
    assert_string_equal(ev->raw, m);
    assert_true(ev->raw != m);
    assert_int_equal(ari_event_channel_ids(ev, NULL, 0), 0);

    /* It re-encodes to the same JSON and compares equal to its re-parse. */
    json_t *j = ari_event_to_json(ev);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_int_equal(ari_event_parse(s, strlen(s), &a, &ev2), 0);
    assert_true(ari_event_equal(ev, ev2));
    free(s);
    json_decref(j);

    /* From a jansson tree: raw is the compact encoding. */
    json_t *obj = json_loads(m, 0, NULL);
    assert_int_equal(ari_event_from_json(obj, &a, &ev2, NULL), 0);
    assert_string_equal(ev2->raw, "{\"type\":\"ChannelFutureThing\",\"application\":\"dialer\","
                                  "\"timestamp\":\"2026-01-01T12:00:00.000+0000\","
                                  "\"payload\":{\"a\":[1,2]}}");
    assert_true(ari_event_equal(ev, ev2));
    json_decref(obj);

    /* Unknown types need no application, but known common keys are still checked. */
    m = "{\"type\":\"Whatever\"}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    assert_null(ev->application);
    m = "{\"type\":\"Whatever\",\"timestamp\":\"x\"}";
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), ERR_PARSE);
    arena_fini(&a);
}

/* The event lives in the arena: the input buffer may be reused at once. */
static void test_codec_event_outlives_input(void **state)
{
    struct arena a;
    struct ari_event *ev;
    char *m = strdup("{\"type\":\"ChannelDtmfReceived\",\"application\":\"ivr\",\"digit\":\"#\","
                     "\"duration_ms\":120,\"channel\":" CHAN "}");

    (void)state;
    arena_init(&a, 256);
    assert_int_equal(ari_event_parse(m, strlen(m), &a, &ev), 0);
    memset(m, 'Z', strlen(m));
    free(m);
    assert_string_equal(ev->channel_dtmf_received.digit, "#");
    assert_int_equal(ev->channel_dtmf_received.duration_ms, 120);
    assert_string_equal(ev->channel_dtmf_received.channel->name, "PJSIP/a-1");
    assert_string_equal(ev->application, "ivr");
    assert_string_equal(ari_event_channel_id(ev), "c1");
    assert_true(arena_used(&a) > sizeof(*ev));
    arena_fini(&a);
}

/* The simulator builds events by hand and encodes them. */
static void test_codec_encode_built_event(void **state)
{
    struct ari_caller_id cid = { "Alice", "1000" };
    struct ari_dialplan_cep dp = { "dialer", "s", true, 1, "Stasis", "dialer,c1" };
    struct ari_channel ch;
    struct ari_event ev;
    json_t *j;
    char *s;

    (void)state;
    memset(&ch, 0, sizeof(ch));
    ch.id = "c1";
    ch.name = "PJSIP/trunk-00000001";
    ch.state_code = ARI_CHANNEL_STATE_UP; /* no string: written from the code */
    ch.caller = &cid;
    ch.connected = &cid;
    ch.accountcode = "";
    ch.dialplan = &dp;
    ch.creationtime_us = INT64_C(1767268800123456); /* no string: formatted */
    memset(&ev, 0, sizeof(ev));
    ev.type = ARI_EVENT_CHANNEL_DESTROYED;
    ev.type_name = "ChannelDestroyed";
    ev.application = "dialer";
    ev.timestamp_us = INT64_C(1767268801000000);
    ev.channel_destroyed.cause = 17;
    ev.channel_destroyed.cause_txt = ari_cause_txt(17);
    ev.channel_destroyed.channel = &ch;
    j = ari_event_to_json(&ev);
    assert_non_null(j);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(
        s, "{\"type\":\"ChannelDestroyed\",\"timestamp\":\"2026-01-01T12:00:01.000+0000\","
           "\"cause\":17,\"cause_txt\":\"User busy\",\"channel\":{\"id\":\"c1\",\"name\":"
           "\"PJSIP/trunk-00000001\",\"state\":\"Up\",\"caller\":{\"name\":\"Alice\",\"number\":"
           "\"1000\"},\"connected\":{\"name\":\"Alice\",\"number\":\"1000\"},\"accountcode\":\"\","
           "\"dialplan\":{\"context\":\"dialer\",\"exten\":\"s\",\"priority\":1,\"app_name\":"
           "\"Stasis\",\"app_data\":\"dialer,c1\"},\"creationtime\":"
           "\"2026-01-01T12:00:00.123+0000\"},\"application\":\"dialer\"}");
    free(s);
    json_decref(j);

    /* A required member left NULL is refused, not emitted half-built. */
    ch.accountcode = NULL;
    assert_null(ari_event_to_json(&ev));
    ch.accountcode = "";
    ev.application = NULL;
    assert_null(ari_event_to_json(&ev));
    ev.application = "dialer";
    ch.state_code = ARI_CHANNEL_STATE_UNKNOWN; /* neither string nor code */
    assert_null(ari_event_to_json(&ev));
    assert_null(ari_event_to_json(NULL));
}

static void test_codec_models(void **state)
{
    struct arena a;
    struct ari_parse_error err;
    struct ari_live_recording rec;
    struct ari_bridge br;
    struct ari_channel ch;
    const char *m;

    (void)state;
    arena_init(&a, 0);
    assert_string_equal(ari_model_name(ARI_MODEL_CHANNEL), "Channel");
    assert_string_equal(ari_model_name(ARI_MODEL_COUNT_), "");
    assert_int_equal(ari_model_size(ARI_MODEL_CHANNEL), sizeof(struct ari_channel));
    assert_int_equal(ari_model_size(ARI_MODEL_LIVE_RECORDING), sizeof(struct ari_live_recording));
    assert_int_equal(ari_model_size(ARI_MODEL_COUNT_), 0);

    m = "{\"name\":\"r1\",\"format\":\"wav\",\"state\":\"failed\",\"target_uri\":\"channel:c\","
        "\"cause\":\"Could not open file\",\"talking_duration\":3,\"silence_duration\":0}";
    assert_int_equal(ari_model_parse(ARI_MODEL_LIVE_RECORDING, m, strlen(m), &a, &rec, &err), 0);
    assert_int_equal(rec.state_code, ARI_RECORDING_STATE_FAILED);
    assert_string_equal(rec.cause, "Could not open file");
    assert_false(rec.has_duration);
    assert_true(rec.has_talking_duration);
    assert_int_equal(rec.talking_duration, 3);
    assert_true(rec.has_silence_duration);

    /* Old servers: a Bridge without creationtime or video_mode. */
    m = "{\"id\":\"b\",\"technology\":\"holding_bridge\",\"bridge_type\":\"holding\","
        "\"bridge_class\":\"stasis\",\"creator\":\"Stasis\",\"name\":\"\",\"channels\":[\"x\"],"
        "\"bridgevars\":{\"K\":\"V\"}}";
    assert_int_equal(ari_model_parse(ARI_MODEL_BRIDGE, m, strlen(m), &a, &br, &err), 0);
    assert_null(br.creationtime);
    assert_true(br.creationtime_us == 0);
    assert_int_equal(br.n_bridgevars, 1);
    json_t *j = ari_model_to_json(ARI_MODEL_BRIDGE, &br);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, m);
    free(s);
    json_decref(j);
    assert_true(ari_model_equal(ARI_MODEL_BRIDGE, &br, &br));
    assert_true(ari_model_equal(ARI_MODEL_BRIDGE, NULL, NULL));
    assert_false(ari_model_equal(ARI_MODEL_BRIDGE, &br, NULL));

    /* Errors name the model. */
    m = "{\"id\":\"c\"}";
    assert_int_equal(ari_channel_parse(m, strlen(m), &a, &ch, &err), ERR_PARSE);
    assert_string_equal(err.field, "name");
    assert_string_equal(err.message, "Channel.name: missing required key");
    assert_int_equal(ari_channel_parse("[]", 2, &a, &ch, &err), ERR_PARSE);
    assert_string_equal(err.message, "Channel: expected object, got array");
    assert_int_equal(ari_channel_parse("{", 1, &a, &ch, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "Channel: not valid JSON"));
    assert_int_equal(ari_model_parse(ARI_MODEL_COUNT_, "{}", 2, &a, &ch, &err), ERR_INVAL);
    assert_int_equal(ari_model_from_json(ARI_MODEL_CHANNEL, NULL, &a, &ch, &err), ERR_INVAL);
    assert_null(ari_model_to_json(ARI_MODEL_CHANNEL, NULL));
    arena_fini(&a);
}

/* Equality notices every kind of difference. */
static void test_codec_equal_detects_differences(void **state)
{
    static const char *const variants[] = {
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":" CHAN "}",
        "{\"type\":\"StasisStart\",\"application\":\"b\",\"args\":[\"x\"],\"channel\":" CHAN "}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"y\"],\"channel\":" CHAN "}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[],\"channel\":" CHAN "}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":{" CHAN_KEYS
        ",\"state\":\"Ring\"}}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":{" CHAN_KEYS
        ",\"channelvars\":{}}}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":{" CHAN_KEYS
        ",\"channelvars\":{\"a\":\"1\"}}}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":{" CHAN_KEYS
        ",\"channelvars\":{\"a\":1}}}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":{" CHAN_KEYS
        ",\"dialplan\":{\"context\":\"c\",\"exten\":\"s\"}}}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":{" CHAN_KEYS
        ",\"creationtime\":\"2026-01-01T12:00:00.000Z\"}}",
        "{\"type\":\"StasisStart\",\"application\":\"a\",\"args\":[\"x\"],\"channel\":" CHAN
        ",\"replace_channel\":" CHAN "}",
        "{\"type\":\"StasisEnd\",\"application\":\"a\",\"channel\":" CHAN "}",
    };
    const size_t n = sizeof(variants) / sizeof(variants[0]);
    struct ari_event *evs[sizeof(variants) / sizeof(variants[0])];
    struct arena a;

    (void)state;
    arena_init(&a, 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ari_event_parse(variants[i], strlen(variants[i]), &a, &evs[i]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < n; k++) {
            if (ari_event_equal(evs[i], evs[k]) != (i == k)) {
                fail_msg("variants %zu and %zu: equal=%d", i, k, i != k);
            }
        }
    }
    assert_false(ari_event_equal(evs[0], NULL));
    assert_true(ari_event_equal(NULL, NULL));
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_rejects_bad_messages),
        cmocka_unit_test(test_codec_rejects_bad_arguments),
        cmocka_unit_test(test_codec_huge_inputs),
        cmocka_unit_test(test_codec_deep_nesting),
        cmocka_unit_test(test_codec_tolerates_unknown_and_missing),
        cmocka_unit_test(test_codec_unknown_type_keeps_raw),
        cmocka_unit_test(test_codec_event_outlives_input),
        cmocka_unit_test(test_codec_encode_built_event),
        cmocka_unit_test(test_codec_models),
        cmocka_unit_test(test_codec_equal_detects_differences),
    };
    return cmocka_run_group_tests_name("ari_codec", tests, NULL, NULL);
}
