/* SPDX-License-Identifier: MIT */
/*
 * The dialer's call state machine against the event sequences Asterisk 22
 * really sent (shared/ari/captures-asterisk-22): answered, busy, no answer,
 * congestion, rejected, unallocated, AMD human and machine, the callee
 * hanging up while the flow runs, ChannelDestroyed before StasisStart and
 * every event delivered twice. Each must end the call exactly once with the
 * right outcome and Q.850 cause. The abandonment rule (2 seconds from the
 * answer, AMD time included) is checked with the injected clock.
 *
 * Calls are registered with dialer_call_track() (nothing is sent to ARI) and
 * the captured events are parsed by the ARI client's own parser and fed to
 * dialer_on_event(). Tests skip when ../shared is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "ari/ari.h"
#include "core/arena.h"
#include "core/clock.h"
#include "dialer/dialer.h"
#include "dialer/dialer_int.h"
#include "tests/unit/ari/ari_test_util.h"

#define T0 (INT64_C(1795878000) * 1000000)

struct rec {
    int ended;
    int connects;
    int answered;
    int connect_rc; /* what the connect hook answers */
    bool connect_machine;
    struct dialer_call *call;
    struct dialer_result r; /* strings copied below */
    char outcome[16];
    char disposition[64];
    char amd[12];
};

struct fx {
    struct ev_loop *loop;
    struct dialer *d;
    struct rec rec;
    struct arena arena;
};

static void on_answered(void *arg, void *user, double ring_s)
{
    struct rec *r = arg;
    (void)user;
    (void)ring_s;
    r->answered++;
}

static int on_connect(void *arg, struct dialer_call *call, bool machine)
{
    struct rec *r = arg;
    r->connects++;
    r->call = call;
    r->connect_machine = machine;
    return r->connect_rc;
}

static void on_ended(void *arg, const struct dialer_result *res)
{
    struct rec *r = arg;
    r->ended++;
    r->r = *res;
    snprintf(r->outcome, sizeof(r->outcome), "%s", res->outcome);
    snprintf(r->disposition, sizeof(r->disposition), "%s",
             res->disposition != NULL ? res->disposition : "");
    snprintf(r->amd, sizeof(r->amd), "%s", res->amd_result != NULL ? res->amd_result : "");
    r->call = NULL;
}

static int setup(void **state)
{
    static struct fx f;
    /* zeroed and larger than the pool's struct: a pool of no servers (tracked calls never
     * reach it; dialer_create reads its size) */
    static _Alignas(max_align_t) unsigned char not_a_pool[256];
    memset(&f, 0, sizeof(f));
    f.loop = ev_loop_new(EVFLAG_AUTO);
    clock_set_fake(T0);
    struct dialer_config cfg = {
        .loop = f.loop,
        .ari = (struct ari_pool *)(void *)not_a_pool,
        .talk_ms = 1000,
    };
    struct dialer_hooks h = {
        .answered = on_answered, .connect = on_connect, .ended = on_ended, .arg = &f.rec
    };
    f.rec.connect_rc = -1; /* the stand-in, unless a test says otherwise */
    assert_int_equal(dialer_create(&cfg, &h, &f.d), 0);
    arena_init(&f.arena, 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dialer_destroy(f->d);
    ev_loop_destroy(f->loop);
    arena_fini(&f->arena);
    clock_clear_fake();
    return 0;
}

static void track(struct fx *f, const char *id, bool amd, bool machine_flow)
{
    struct dialer_call_req req = {
        .id = id,
        .tenant_id = 1,
        .campaign_id = 2,
        .contact_id = 3,
        .number = "+12125550100",
        .endpoint = "PJSIP/+12125550100@trunk",
        .ring_s = 20,
        .amd = amd,
        .machine_flow = machine_flow,
    };
    assert_int_equal(dialer_call_track(f->d, &req), 0);
}

/* Feeds one event (JSON) to the dialer; returns whether it took it. */
static bool feed(struct fx *f, const json_t *event)
{
    struct ari_event *ev = NULL;
    arena_reset(&f->arena);
    assert_int_equal(ari_event_from_json(event, &f->arena, &ev, NULL), 0);
    return dialer_on_event(f->d, NULL, ev);
}

/*
 * Replays the "app" WebSocket events of a capture, each `times` times, the
 * fake clock following the capture's timestamps. Returns how many the
 * dialer took, or -1 when ../shared is absent.
 */
static int replay(struct fx *f, const char *file, int times)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "captures-asterisk-22/%s", file);
    json_t *doc = util_load(rel);
    if (doc == NULL) {
        return -1;
    }
    json_t *seq = json_object_get(doc, "sequence");
    size_t i;
    json_t *item;
    int took = 0;
    json_array_foreach (seq, i, item) {
        const char *kind = json_string_value(json_object_get(item, "kind"));
        const char *ws = json_string_value(json_object_get(item, "ws"));
        if (kind == NULL || strcmp(kind, "event") != 0 || ws == NULL || strcmp(ws, "app") != 0) {
            continue;
        }
        clock_set_fake(T0 + (int64_t)(json_real_value(json_object_get(item, "t")) * 1e6));
        for (int k = 0; k < times; k++) {
            took += feed(f, json_object_get(item, "event"));
        }
    }
    json_decref(doc);
    return took;
}

/* A copy of the first event of type in file for channel id, re-aimed at new_id (new reference). */
static json_t *event_of(const char *file, const char *type, const char *id, const char *new_id)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "captures-asterisk-22/%s", file);
    json_t *doc = util_load(rel);
    json_t *found = NULL;
    size_t i;
    json_t *item;
    if (doc == NULL) {
        return NULL;
    }
    json_array_foreach (json_object_get(doc, "sequence"), i, item) {
        json_t *ev = json_object_get(item, "event");
        json_t *ch = json_object_get(ev, "channel");
        if (ev != NULL && strcmp(json_string_value(json_object_get(ev, "type")), type) == 0 &&
            strcmp(json_string_value(json_object_get(ch, "id")), id) == 0) {
            found = json_deep_copy(ev);
            json_object_set_new(json_object_get(found, "channel"), "id", json_string(new_id));
            break;
        }
    }
    json_decref(doc);
    return found;
}

static void expect_end(struct fx *f, const char *outcome, int cause)
{
    assert_int_equal(f->rec.ended, 1);
    assert_string_equal(f->rec.outcome, outcome);
    assert_int_equal(f->rec.r.hangup_cause, cause);
    struct dialer_stats st;
    dialer_stats(f->d, &st);
    assert_int_equal(st.in_flight, 0);
}

/* ------------------------------------------------------------------ */

static void test_unanswered_outcomes(void **state)
{
    static const struct {
        const char *file, *id, *outcome;
        int cause;
    } cases[] = {
        { "03_originate_busy.json", "originate-busy", "busy", 17 },
        { "04_originate_noanswer.json", "originate-noanswer", "no_answer", 19 },
        { "05_originate_congestion.json", "originate-congestion", "congestion", 34 },
        { "06_originate_reject21.json", "originate-reject21", "rejected", 21 },
        { "07_originate_unallocated1.json", "originate-unallocated1", "unreachable", 1 },
    };
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&f->rec, 0, sizeof(f->rec));
        f->rec.connect_rc = -1;
        track(f, cases[i].id, false, false);
        int took = replay(f, cases[i].file, 1);
        if (took < 0) {
            skip();
        }
        assert_true(took > 0);
        expect_end(f, cases[i].outcome, cases[i].cause);
        assert_false(f->rec.r.answered);
        assert_int_equal(f->rec.connects, 0);
        assert_int_equal(f->rec.answered, 0);
    }
}

/* Answered, no flow: the stand-in runs and the callee's hang-up ends the call. */
static void test_answered_stand_in(void **state)
{
    struct fx *f = *state;
    track(f, "c1-l1", false, false);
    if (replay(f, "02_originate_answer.json", 1) < 0) {
        skip();
    }
    expect_end(f, "human", 16);
    assert_true(f->rec.r.answered && f->rec.r.live);
    assert_int_equal(f->rec.connects, 1);
    assert_int_equal(f->rec.answered, 1);
    assert_string_equal(f->rec.disposition, "no_flow");
    assert_string_equal(f->rec.amd, "off");
    assert_false(f->rec.r.abandoned); /* the stand-in counts as connected */
    /* tracked at 0, answered at 1.205 s, ended at 13.664 s of the capture */
    assert_true(f->rec.r.ring_s > 1.2 && f->rec.r.ring_s < 1.21);
    assert_true(f->rec.r.talk_s > 12.4 && f->rec.r.talk_s < 12.5);
}

/* The flow took the call and the callee hangs up in the middle of it. */
static void test_callee_hangs_up_mid_flow(void **state)
{
    struct fx *f = *state;
    f->rec.connect_rc = 0;
    track(f, "c1-l1", false, false);
    json_t *start = event_of("02_originate_answer.json", "StasisStart", "c1-l1", "c1-l1");
    if (start == NULL) {
        skip();
    }
    clock_set_fake(T0 + 1205000);
    assert_true(feed(f, start));
    json_decref(start);
    assert_int_equal(f->rec.connects, 1);
    assert_non_null(f->rec.call);
    dialer_call_set_disposition(f->rec.call, "greeted"); /* what the flow ends with */
    assert_int_equal(f->rec.ended, 0);
    replay(f, "02_originate_answer.json", 1); /* the rest, the StasisStart again included */
    expect_end(f, "human", 16);
    assert_string_equal(f->rec.disposition, "greeted");
    assert_int_equal(f->rec.connects, 1);
    assert_false(f->rec.r.abandoned);
    assert_int_equal(f->rec.r.connected_us, T0 + 1205000);
}

static void test_duplicate_events(void **state)
{
    struct fx *f = *state;
    track(f, "c1-l1", false, false);
    if (replay(f, "02_originate_answer.json", 2) < 0) {
        skip();
    }
    expect_end(f, "human", 16);
    assert_int_equal(f->rec.connects, 1);
    assert_int_equal(f->rec.answered, 1);

    memset(&f->rec, 0, sizeof(f->rec));
    f->rec.connect_rc = -1;
    track(f, "originate-busy", false, false);
    replay(f, "03_originate_busy.json", 2);
    expect_end(f, "busy", 17);
}

/* ChannelDestroyed first: the call ends then, and the late events find nothing. */
static void test_destroyed_before_stasis_start(void **state)
{
    struct fx *f = *state;
    track(f, "c1-l1", false, false);
    json_t *gone = event_of("02_originate_answer.json", "ChannelDestroyed", "c1-l1", "c1-l1");
    if (gone == NULL) {
        skip();
    }
    assert_true(feed(f, gone));
    json_decref(gone);
    assert_int_equal(f->rec.ended, 1);
    assert_false(f->rec.r.answered);
    assert_string_not_equal(f->rec.outcome, "human");
    assert_int_equal(f->rec.r.hangup_cause, 16);
    char first[16];
    snprintf(first, sizeof(first), "%s", f->rec.outcome);
    assert_int_equal(replay(f, "02_originate_answer.json", 1), 0); /* nobody's channel now */
    assert_int_equal(f->rec.ended, 1);
    assert_int_equal(f->rec.connects, 0);
    assert_string_equal(f->rec.outcome, first);
}

/* AMD: the answer goes to the amd context, the verdict comes back with StasisStart(amd, ...). */
static void amd_call(struct fx *f, const char *file, const char *id, bool machine_flow)
{
    json_t *verdict = event_of(file, "StasisStart", id, id);
    if (verdict == NULL) {
        skip();
    }
    json_t *answer = json_deep_copy(verdict);
    json_object_set_new(answer, "args", json_array());
    json_t *gone = event_of("02_originate_answer.json", "ChannelDestroyed", "c1-l1", id);
    track(f, id, true, machine_flow);
    clock_set_fake(T0 + 1000000);
    assert_true(feed(f, answer));
    assert_int_equal(f->rec.connects, 0); /* waiting for the verdict */
    clock_set_fake(T0 + 1800000);
    assert_true(feed(f, verdict));
    assert_true(feed(f, verdict)); /* a duplicate changes nothing */
    clock_set_fake(T0 + 5000000);
    assert_true(feed(f, gone));
    json_decref(answer);
    json_decref(verdict);
    json_decref(gone);
}

static void test_amd_human(void **state)
{
    struct fx *f = *state;
    f->rec.connect_rc = 0;
    amd_call(f, "09_amd_human.json", "amd-h", false);
    expect_end(f, "human", 16);
    assert_string_equal(f->rec.amd, "human");
    assert_int_equal(f->rec.connects, 1);
    assert_false(f->rec.connect_machine);
    assert_true(f->rec.r.live);
    assert_false(f->rec.r.abandoned); /* connected 0.8 s after the answer */
}

static void test_amd_machine(void **state)
{
    struct fx *f = *state;
    amd_call(f, "10_amd_machine.json", "amd-m", false);
    expect_end(f, "machine", 16);
    assert_string_equal(f->rec.amd, "machine");
    assert_int_equal(f->rec.connects, 0); /* hung up: no leave-a-message flow */
    assert_false(f->rec.r.live);
    assert_int_equal(f->rec.answered, 0);

    memset(&f->rec, 0, sizeof(f->rec));
    f->rec.connect_rc = 0;
    amd_call(f, "10_amd_machine.json", "amd-m", true);
    expect_end(f, "machine", 16);
    assert_int_equal(f->rec.connects, 1);
    assert_true(f->rec.connect_machine);
    assert_false(f->rec.r.abandoned); /* machines are never abandoned calls */
}

/* The 2-second rule: AMD time counts, measured from the answer. */
static void test_abandonment_two_seconds(void **state)
{
    struct fx *f = *state;
    json_t *verdict = event_of("09_amd_human.json", "StasisStart", "amd-h", "amd-h");
    if (verdict == NULL) {
        skip();
    }
    json_t *answer = json_deep_copy(verdict);
    json_object_set_new(answer, "args", json_array());
    json_t *gone = event_of("02_originate_answer.json", "ChannelDestroyed", "c1-l1", "amd-h");
    f->rec.connect_rc = 0;
    track(f, "amd-h", true, false);
    clock_set_fake(T0);
    feed(f, answer);
    clock_set_fake(T0 + 2001000); /* the verdict 2.001 s after the answer */
    feed(f, verdict);
    feed(f, gone);
    expect_end(f, "abandoned", 16);
    assert_true(f->rec.r.abandoned);

    /* no capacity: the safe-harbour message at once, still abandoned */
    memset(&f->rec, 0, sizeof(f->rec));
    f->rec.connect_rc = DIALER_CONNECT_SAFE_HARBOUR;
    track(f, "amd-h", false, false);
    clock_set_fake(T0);
    feed(f, answer);
    dialer_call_end(f->rec.call, "safe_harbour");
    clock_set_fake(T0 + 9000000);
    feed(f, gone);
    expect_end(f, "abandoned", 16);
    assert_int_equal(f->rec.r.safe_harbour_us, T0);
    assert_int_equal(f->rec.r.connected_us, 0);
    assert_string_equal(f->rec.disposition, "safe_harbour");

    /* exactly 2 s is in time */
    memset(&f->rec, 0, sizeof(f->rec));
    f->rec.connect_rc = 0;
    track(f, "amd-h", true, false);
    clock_set_fake(T0);
    feed(f, answer);
    clock_set_fake(T0 + 2000000);
    feed(f, verdict);
    feed(f, gone);
    expect_end(f, "human", 16);
    assert_false(f->rec.r.abandoned);
    json_decref(answer);
    json_decref(verdict);
    json_decref(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unanswered_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answered_stand_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callee_hangs_up_mid_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroyed_before_stasis_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_amd_human, setup, teardown),
        cmocka_unit_test_setup_teardown(test_amd_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandonment_two_seconds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
