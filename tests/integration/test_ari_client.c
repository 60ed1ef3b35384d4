/* SPDX-License-Identifier: MIT */
/*
 * The ARI client against a real ari-sim: originates answered, busy and not
 * answered with their events in order; play, DTMF and hang-up; error bodies
 * mapped to codes; 5xx and timeouts (health degraded); the events WebSocket
 * dropped mid-call, then reconnect, resubscribe and reconciliation naming
 * the right channels. Each group starts its own simulator on a free port
 * (scenario sim/scenarios/rules.json, behaviour by the number's last digit,
 * time scaled by 0.1).
 */
#include <ev.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/err.h"
#include "sim/simc.h"
#include "tests/support/evloop.h"

static const char *AUTH = "asterisk:asterisk";

/* ---------------------------------------------------------------- fixture */

enum { MAX_EV = 512, MAX_RES = 64, TOK = 96 };

struct rec_res {
    enum ari_op op;
    enum ari_error error;
    long http_status;
    char message[128];
    char location[128];
    char value[128];
};

struct fx {
    struct simc_proc sim;
    struct ev_loop *loop;
    struct ari_client *c;
    char url[64];
    /* events, as tokens "Type(detail)" per channel */
    char ev_tok[MAX_EV][TOK];
    char ev_chan[MAX_EV][64];
    int n_ev;
    char stasis_args[128]; /* args of the last StasisStart, comma-joined */
    struct ari_dial_tracker tracker;
    char tracked[64];
    /* results */
    struct rec_res res[MAX_RES];
    int n_res;
    /* health */
    int n_health;
    enum ari_health health;
    /* reconciliation */
    const char *known[8];
    size_t n_known;
    char gone[8][64];
    char up[8][64];
    int n_gone, n_up, n_reconcile, rec_status;
};

static struct fx *F;

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    const char *chan = ari_event_channel_id(ev);
    char *tok;
    (void)c;
    if (f->n_ev >= MAX_EV) {
        return;
    }
    tok = f->ev_tok[f->n_ev];
    snprintf(f->ev_chan[f->n_ev], 64, "%s", chan != NULL ? chan : "");
    switch (ev->type) {
    case ARI_EVENT_STASIS_START: {
        size_t n = 0;
        f->stasis_args[0] = '\0';
        for (size_t i = 0; i < ev->stasis_start.n_args; i++) {
            n += (size_t)snprintf(f->stasis_args + n, n < 128 ? 128 - n : 0, "%s%s", i ? "," : "",
                                  ev->stasis_start.args[i]);
        }
        snprintf(tok, TOK, "%s", ev->type_name);
        break;
    }
    case ARI_EVENT_DIAL:
        snprintf(tok, TOK, "Dial(%s)", ev->dial.dialstatus);
        break;
    case ARI_EVENT_CHANNEL_STATE_CHANGE:
        snprintf(tok, TOK, "ChannelStateChange(%s)", ev->channel_state_change.channel->state);
        break;
    case ARI_EVENT_CHANNEL_DESTROYED:
        snprintf(tok, TOK, "ChannelDestroyed(%d)", ev->channel_destroyed.cause);
        break;
    case ARI_EVENT_CHANNEL_HANGUP_REQUEST:
        snprintf(tok, TOK, "ChannelHangupRequest(%s%d)",
                 ev->channel_hangup_request.has_soft && ev->channel_hangup_request.soft ? "soft,"
                                                                                        : "",
                 ev->channel_hangup_request.has_cause ? ev->channel_hangup_request.cause : -1);
        break;
    case ARI_EVENT_CHANNEL_VARSET:
        snprintf(tok, TOK, "ChannelVarset(%s=%s)", ev->channel_varset.variable,
                 ev->channel_varset.value);
        break;
    case ARI_EVENT_CHANNEL_DTMF_RECEIVED:
        snprintf(tok, TOK, "ChannelDtmfReceived(%s)", ev->channel_dtmf_received.digit);
        break;
    case ARI_EVENT_PLAYBACK_FINISHED:
        snprintf(tok, TOK, "PlaybackFinished(%s)", ev->playback_finished.playback->state);
        break;
    default:
        snprintf(tok, TOK, "%s", ev->type_name);
        break;
    }
    f->n_ev++;
    if (f->tracked[0] != '\0') {
        ari_dial_tracker_feed(&f->tracker, ev);
    }
}

static void on_health(struct ari_client *c, enum ari_health h, void *arg)
{
    struct fx *f = arg;
    (void)c;
    f->health = h;
    f->n_health++;
}

static size_t known_channels(struct ari_client *c, const char **ids, size_t max, void *arg)
{
    struct fx *f = arg;
    (void)c;
    for (size_t i = 0; i < f->n_known && i < max; i++) {
        ids[i] = f->known[i];
    }
    return f->n_known;
}

static void on_reconcile(struct ari_client *c, int status, const char *const *gone, size_t ng,
                         const char *const *up, size_t nu, void *arg)
{
    struct fx *f = arg;
    (void)c;
    f->rec_status = status;
    f->n_gone = 0;
    f->n_up = 0;
    for (size_t i = 0; i < ng && i < 8; i++) {
        snprintf(f->gone[f->n_gone++], 64, "%s", gone[i]);
    }
    for (size_t i = 0; i < nu && i < 8; i++) {
        snprintf(f->up[f->n_up++], 64, "%s", up[i]);
    }
    f->n_reconcile++;
}

static void on_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct fx *f = arg;
    struct rec_res *r;
    (void)c;
    if (f->n_res >= MAX_RES) {
        return;
    }
    r = &f->res[f->n_res];
    r->op = res->op;
    r->error = res->error;
    r->http_status = res->http_status;
    snprintf(r->message, sizeof(r->message), "%s", res->message);
    snprintf(r->location, sizeof(r->location), "%s", res->location ? res->location : "");
    r->value[0] = '\0';
    if (res->op == ARI_OP_VAR_GET && res->error == ARI_OK) {
        struct arena a;
        const char *v;
        arena_init(&a, 0);
        v = ari_result_value(res, &a);
        snprintf(r->value, sizeof(r->value), "%s", v != NULL ? v : "(null)");
        arena_fini(&a);
    }
    f->n_res++;
}

static struct ari_client_config base_cfg(struct fx *f)
{
    struct ari_client_config cfg = {
        .name = "sim",
        .url = f->url,
        .user = "asterisk",
        .password = "asterisk",
        .app = "dialer",
        .request_timeout_ms = 2000,
        .reconnect_min_ms = 50,
        .reconnect_max_ms = 300,
        .ping_interval_ms = 1000,
        .degraded_errors = 3,
        .degraded_window_ms = 1000,
    };
    return cfg;
}

static int setup(void **state)
{
    static const char *const args[] = {
        "--time-scale", "0.1", "--scenario", "sim/scenarios/rules.json", "--log-level", "warn", NULL
    };
    struct fx *f = calloc(1, sizeof(*f));
    struct ari_handlers h = { on_event, on_health, known_channels, on_reconcile, NULL };
    struct ari_client_config cfg;

    if (f == NULL || simc_start(&f->sim, args) < 0) {
        free(f);
        return -1;
    }
    f->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->sim.port);
    h.arg = f;
    cfg = base_cfg(f);
    if (ari_client_create(f->loop, &cfg, &h, &f->c) != 0) {
        return -1;
    }
    /* Connected and first reconciliation done. */
    if (!evloop_run_until(f->loop, &f->n_reconcile, 1, 5.0)) {
        fprintf(stderr, "client did not connect to ari-sim\n");
        return -1;
    }
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc;

    ari_client_destroy(f->c);
    ev_loop_destroy(f->loop);
    rc = simc_stop(&f->sim, SIGTERM);
    if (rc != 0 || simc_log_has_sanitizer_report(&f->sim)) {
        fprintf(stderr, "ari-sim exited %d; log in %s\n", rc, f->sim.log);
        free(f);
        return -1;
    }
    free(f);
    return 0;
}

static void reset(struct fx *f)
{
    f->n_ev = 0;
    f->n_res = 0;
    f->tracked[0] = '\0';
}

static void track(struct fx *f, const char *id)
{
    snprintf(f->tracked, sizeof(f->tracked), "%s", id);
    ari_dial_tracker_init(&f->tracker, f->tracked);
}

/* Waits for the n-th result (1-based) and returns it. */
static struct rec_res *wait_res(struct fx *f, int n)
{
    if (!evloop_run_until(f->loop, &f->n_res, n, 5.0)) {
        fail_msg("no result %d (have %d)", n, f->n_res);
    }
    return &f->res[n - 1];
}

/* The index of the first event token tok for chan at or after from, or -1. */
static int find_ev(struct fx *f, const char *chan, const char *tok, int from)
{
    for (int i = from; i < f->n_ev; i++) {
        if (strcmp(f->ev_chan[i], chan) == 0 && strcmp(f->ev_tok[i], tok) == 0) {
            return i;
        }
    }
    return -1;
}

/* Runs the loop until chan has event tok (bounded). */
static void wait_ev(struct fx *f, const char *chan, const char *tok)
{
    for (int i = 0; i < 100 && find_ev(f, chan, tok, 0) < 0; i++) {
        evloop_run_for(f->loop, 0.05);
    }
    if (find_ev(f, chan, tok, 0) < 0) {
        fail_msg("no %s for %s", tok, chan);
    }
}

/* The events of chan joined by " ", for exact sequence checks. */
static void seq_of(struct fx *f, const char *chan, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < f->n_ev; i++) {
        if (strcmp(f->ev_chan[i], chan) == 0) {
            n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? " " : "",
                                  f->ev_tok[i]);
        }
    }
}

static void originate(struct fx *f, const char *id, const char *number, int timeout_s)
{
    char ep[96];
    struct ari_var vars[] = { { "CAMPAIGN", "c1 \"quoted\"", false } };
    struct ari_originate o = {
        .endpoint = ep,
        .channel_id = id,
        .app_args = "c1,l7",
        .caller_id = "\"Dialer\" <+15550000000>",
        .timeout_s = timeout_s,
        .variables = vars,
        .n_variables = 1,
    };
    snprintf(ep, sizeof(ep), "PJSIP/trunk/sip:%s@carrier", number);
    assert_int_equal(ari_originate(f->c, &o, on_done, f, NULL), 0);
}

static void sim_post(struct fx *f, const char *path)
{
    struct simc_resp r;
    assert_int_equal(simc_http(f->sim.port, "POST", path, NULL, NULL, AUTH, &r), 0);
    assert_true(r.status == 200 || r.status == 204);
    simc_resp_free(&r);
}

/* ------------------------------------------------------------------ tests */

static void test_answered_play_dtmf_hangup(void **state)
{
    struct fx *f = *state;
    struct rec_res *r;
    const char *media[] = { "sound:hello-world" };
    struct ari_play play = { .media = media, .n_media = 1, .playback_id = "pb-1" };
    char seq[2048];

    reset(f);
    track(f, "ans-1");
    originate(f, "ans-1", "+15550109", 30);
    r = wait_res(f, 1);
    assert_int_equal(r->error, ARI_OK);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(ari_client_channels(f->c), 1);
    wait_ev(f, "ans-1", "StasisStart");
    seq_of(f, "ans-1", seq, sizeof(seq));
    assert_string_equal(seq, "Dial() ChannelStateChange(Ringing) Dial(RINGING) "
                             "ChannelStateChange(Up) Dial(ANSWER) ChannelVarset(STASISSTATUS=) "
                             "StasisStart");
    assert_int_equal(ari_dial_tracker_outcome(&f->tracker), ARI_DIAL_ANSWERED);

    /* The channel variable went in the JSON body, quotes and all. */
    assert_int_equal(ari_channel_var_get(f->c, "ans-1", "CAMPAIGN", on_done, f, NULL), 0);
    r = wait_res(f, 2);
    assert_int_equal(r->error, ARI_OK);
    assert_string_equal(r->value, "c1 \"quoted\"");

    assert_int_equal(ari_channel_play(f->c, "ans-1", &play, on_done, f, NULL), 0);
    r = wait_res(f, 3);
    assert_int_equal(r->error, ARI_OK);
    assert_int_equal(r->http_status, 201);
    assert_string_equal(r->location, "/ari/playbacks/pb-1");
    wait_ev(f, "ans-1", "PlaybackFinished(done)");
    assert_true(find_ev(f, "ans-1", "PlaybackStarted", 0) <
                find_ev(f, "ans-1", "PlaybackFinished(done)", 0));

    /* The far end presses 5. */
    sim_post(f, "/_sim/channels/ans-1/dtmf?digits=5");
    wait_ev(f, "ans-1", "ChannelDtmfReceived(5)");

    assert_int_equal(ari_channel_hangup(f->c, "ans-1", NULL, on_done, f, NULL), 0);
    r = wait_res(f, 4);
    assert_int_equal(r->error, ARI_OK);
    assert_int_equal(r->http_status, 204);
    wait_ev(f, "ans-1", "ChannelDestroyed(16)");
    assert_true(find_ev(f, "ans-1", "ChannelHangupRequest(soft,32)", 0) <
                find_ev(f, "ans-1", "StasisEnd", 0));
    assert_true(find_ev(f, "ans-1", "StasisEnd", 0) <
                find_ev(f, "ans-1", "ChannelDestroyed(16)", 0));
    assert_int_equal(ari_client_channels(f->c), 0);
}

static void test_var_value_round_trip(void **state)
{
    struct fx *f = *state;

    /* A value with every kind of character that needs encoding comes back unchanged. */
    reset(f);
    originate(f, "var-1", "+15550119", 30);
    assert_int_equal(wait_res(f, 1)->error, ARI_OK);
    wait_ev(f, "var-1", "StasisStart");
    assert_int_equal(ari_channel_var_set(f->c, "var-1", "X_NOTE", "a&b=c d/é", on_done, f, NULL),
                     0);
    assert_int_equal(wait_res(f, 2)->error, ARI_OK);
    assert_int_equal(ari_channel_var_get(f->c, "var-1", "X_NOTE", on_done, f, NULL), 0);
    assert_string_equal(wait_res(f, 3)->value, "a&b=c d/é");
    assert_int_equal(ari_channel_hangup(f->c, "var-1", "normal", on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 4)->error, ARI_OK);
    wait_ev(f, "var-1", "ChannelDestroyed(16)");
}

static void test_amd_continue_record_snoop_dtmf(void **state)
{
    struct fx *f = *state;
    struct rec_res *r;
    struct ari_record rec = {
        .name = "rec-1", .format = "wav", .max_duration_s = 30, .if_exists = "overwrite"
    };

    reset(f);
    originate(f, "amd-1", "+15550106", 30); /* an answering machine */
    assert_int_equal(wait_res(f, 1)->error, ARI_OK);
    wait_ev(f, "amd-1", "StasisStart");
    assert_string_equal(f->stasis_args, "c1,l7");
    /* To the AMD context and back into the app with the verdict. */
    assert_int_equal(ari_channel_continue(f->c, "amd-1", "amd", "s", 1, NULL, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 2)->error, ARI_OK);
    wait_ev(f, "amd-1", "StasisEnd");
    for (int i = 0;
         i < 100 && find_ev(f, "amd-1", "StasisStart", find_ev(f, "amd-1", "StasisEnd", 0)) < 0;
         i++) {
        evloop_run_for(f->loop, 0.05);
    }
    assert_true(find_ev(f, "amd-1", "StasisStart", find_ev(f, "amd-1", "StasisEnd", 0)) > 0);
    assert_string_equal(f->stasis_args, "amd,MACHINE,MAXWORDS-3-2");

    /* A live recording, stopped: 201 with its Location, then started/finished. */
    assert_int_equal(ari_channel_record(f->c, "amd-1", &rec, on_done, f, NULL), 0);
    r = wait_res(f, 3);
    assert_int_equal(r->error, ARI_OK);
    assert_int_equal(r->http_status, 201);
    assert_string_equal(r->location, "/ari/recordings/live/rec-1");
    wait_ev(f, "amd-1", "RecordingStarted");
    assert_int_equal(ari_recording_stop(f->c, "rec-1", false, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 4)->error, ARI_OK);
    wait_ev(f, "amd-1", "RecordingFinished");

    /* DTMF towards the far end, a snoop channel on it, ringing on an answered call. */
    assert_int_equal(ari_channel_dtmf(f->c, "amd-1", "12#", 100, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 5)->error, ARI_OK);
    assert_int_equal(
        ari_channel_snoop(f->c, "amd-1", NULL, "in", NULL, "snoop-1", on_done, f, NULL), 0);
    r = wait_res(f, 6);
    assert_int_equal(r->error, ARI_OK);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(ari_channel_hangup(f->c, "amd-1", NULL, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 7)->error, ARI_OK);
    wait_ev(f, "amd-1", "ChannelDestroyed(16)");
    assert_int_equal(ari_client_channels(f->c), 0);
}

static void test_busy(void **state)
{
    struct fx *f = *state;
    char seq[1024];

    reset(f);
    track(f, "busy-1");
    originate(f, "busy-1", "+15550100", 30);
    assert_int_equal(wait_res(f, 1)->error, ARI_OK);
    wait_ev(f, "busy-1", "ChannelDestroyed(17)");
    seq_of(f, "busy-1", seq, sizeof(seq));
    assert_string_equal(seq, "Dial() ChannelHangupRequest(17) Dial(BUSY) ChannelDestroyed(17)");
    assert_int_equal(ari_dial_tracker_outcome(&f->tracker), ARI_DIAL_BUSY);
    assert_int_equal(ari_client_channels(f->c), 0);
}

static void test_no_answer_timeout(void **state)
{
    struct fx *f = *state;
    char seq[1024];

    reset(f);
    track(f, "na-1");
    originate(f, "na-1", "+15550101", 3); /* 0.3 s at time scale 0.1 */
    assert_int_equal(wait_res(f, 1)->error, ARI_OK);
    wait_ev(f, "na-1", "ChannelDestroyed(19)");
    seq_of(f, "na-1", seq, sizeof(seq));
    assert_string_equal(seq, "Dial() ChannelStateChange(Ringing) Dial(RINGING) "
                             "ChannelDestroyed(19)");
    assert_int_equal(ari_dial_tracker_outcome(&f->tracker), ARI_DIAL_NO_ANSWER);
}

static void test_cancel_ringing_with_reason(void **state)
{
    struct fx *f = *state;

    reset(f);
    track(f, "cx-1");
    originate(f, "cx-1", "+15550101", 30);
    assert_int_equal(wait_res(f, 1)->error, ARI_OK);
    wait_ev(f, "cx-1", "Dial(RINGING)");
    assert_int_equal(ari_channel_hangup(f->c, "cx-1", "busy", on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 2)->error, ARI_OK);
    wait_ev(f, "cx-1", "ChannelDestroyed(17)");
    assert_int_equal(ari_dial_tracker_outcome(&f->tracker), ARI_DIAL_CANCELLED);
}

static void test_error_mapping(void **state)
{
    struct fx *f = *state;
    struct rec_res *r;
    const char *media[] = { "sound:hello-world" };
    struct ari_play play = { .media = media, .n_media = 1 };
    struct ari_originate unreachable = { .endpoint = "PJSIP/trunk/sip:+15550105@carrier",
                                         .channel_id = "un-1" };

    reset(f);
    /* 404: no such channel. */
    assert_int_equal(ari_channel_play(f->c, "nope-1", &play, on_done, f, NULL), 0);
    r = wait_res(f, 1);
    assert_int_equal(r->error, ARI_E_NOT_FOUND);
    assert_int_equal(r->http_status, 404);
    assert_string_equal(r->message, "Channel not found");

    /* 409 (not in Stasis yet: ringing), then 409 for the duplicate id. */
    originate(f, "ring-1", "+15550101", 30);
    assert_int_equal(wait_res(f, 2)->error, ARI_OK);
    assert_int_equal(ari_channel_answer(f->c, "ring-1", on_done, f, NULL), 0);
    r = wait_res(f, 3);
    assert_int_equal(r->error, ARI_E_NOT_IN_STASIS);
    assert_int_equal(r->http_status, 409);
    originate(f, "ring-1", "+15550101", 30);
    r = wait_res(f, 4);
    assert_int_equal(r->error, ARI_E_NOT_IN_STASIS);
    assert_int_equal(ari_client_channels(f->c), 1); /* the refused duplicate took no place */

    /* 400: an invalid hang-up reason. */
    assert_int_equal(ari_channel_hangup(f->c, "ring-1", "bogus", on_done, f, NULL), 0);
    r = wait_res(f, 5);
    assert_int_equal(r->error, ARI_E_BAD_REQUEST);
    assert_int_equal(ari_channel_hangup(f->c, "ring-1", NULL, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 6)->error, ARI_OK);

    /* 500 {"error":"Allocation failed"}: the endpoint cannot be reached. */
    assert_int_equal(ari_originate(f->c, &unreachable, on_done, f, NULL), 0);
    r = wait_res(f, 7);
    assert_int_equal(r->error, ARI_E_ALLOCATION_FAILED);
    assert_int_equal(r->http_status, 500);
    assert_string_equal(r->message, "Allocation failed");

    /* 422: removing a channel that is not in the bridge. */
    assert_int_equal(ari_bridge_create(f->c, "br-1", "mixing", NULL, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 8)->error, ARI_OK);
    originate(f, "br-c1", "+15550119", 30);
    assert_int_equal(wait_res(f, 9)->error, ARI_OK);
    wait_ev(f, "br-c1", "StasisStart");
    assert_int_equal(ari_bridge_remove_channel(f->c, "br-1", "br-c1", on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 10)->error, ARI_E_UNPROCESSABLE);
    assert_int_equal(ari_bridge_add_channel(f->c, "br-1", "br-c1", NULL, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 11)->error, ARI_OK);
    wait_ev(f, "br-c1", "ChannelEnteredBridge");
    assert_int_equal(ari_bridge_destroy(f->c, "br-1", on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 12)->error, ARI_OK);
    assert_int_equal(ari_channel_hangup(f->c, "br-c1", NULL, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 13)->error, ARI_OK);
    wait_ev(f, "br-c1", "ChannelDestroyed(16)");
    /* Invalid arguments fail at once, without a callback. */
    assert_int_equal(ari_channel_answer(f->c, "", on_done, f, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_play(f->c, "x", NULL, on_done, f, NULL), ERR_INVAL);
    assert_int_equal(f->n_res, 13);
}

static void test_5xx_and_timeout(void **state)
{
    struct fx *f = *state;
    struct rec_res *r;

    reset(f);
    sim_post(f, "/_sim/fault?action=fail&seconds=0.5");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ari_ping(f->c, on_done, f, NULL), 0);
    }
    r = wait_res(f, 3);
    assert_int_equal(f->res[0].error, ARI_E_SERVER);
    assert_int_equal(r->http_status, 503);
    assert_string_equal(r->message, "Asterisk not booted");
    assert_int_equal(ari_client_health(f->c), ARI_HEALTH_DEGRADED);
    assert_int_equal(f->health, ARI_HEALTH_DEGRADED);

    /* Slow answers: the request times out (2 s limit, 2.5 s delay). */
    sim_post(f, "/_sim/fault?action=clear");
    sim_post(f, "/_sim/fault?action=delay&ms=2500");
    assert_int_equal(ari_ping(f->c, on_done, f, NULL), 0);
    r = wait_res(f, 4);
    assert_int_equal(r->error, ARI_E_TIMEOUT);
    assert_int_equal(r->http_status, 0);
    sim_post(f, "/_sim/fault?action=delay&ms=0");

    /* The degraded window ends: up again (the on_health callback says so). */
    for (int i = 0; i < 60 && f->health != ARI_HEALTH_UP; i++) {
        evloop_run_for(f->loop, 0.05);
    }
    assert_int_equal(f->health, ARI_HEALTH_UP);
    assert_int_equal(ari_ping(f->c, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 5)->error, ARI_OK);
}

static void test_cancel_request(void **state)
{
    struct fx *f = *state;
    struct ari_req *req = NULL;

    reset(f);
    sim_post(f, "/_sim/fault?action=delay&ms=200");
    assert_int_equal(ari_ping(f->c, on_done, f, &req), 0);
    assert_non_null(req);
    ari_req_cancel(req);
    assert_int_equal(ari_ping(f->c, on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 1)->error, ARI_OK);
    evloop_run_for(f->loop, 0.3);
    assert_int_equal(f->n_res, 1); /* the cancelled one never called back */
    sim_post(f, "/_sim/fault?action=delay&ms=0");
}

static void test_ws_drop_reconnect_reconcile(void **state)
{
    struct fx *f = *state;
    struct ari_client_stats st0, st1;
    struct simc_resp r;
    int rec0;

    reset(f);
    originate(f, "keep-1", "+15550209", 30);
    originate(f, "gone-1", "+15550219", 30);
    wait_ev(f, "keep-1", "StasisStart");
    wait_ev(f, "gone-1", "StasisStart");
    assert_int_equal(ari_app_subscribe(f->c, NULL, "channel:keep-1", on_done, f, NULL), 0);
    assert_int_equal(wait_res(f, 3)->error, ARI_OK);
    f->known[0] = "keep-1";
    f->known[1] = "gone-1";
    f->known[2] = "never-1";
    f->n_known = 3;
    ari_client_stats(f->c, &st0);
    rec0 = f->n_reconcile;

    /* Drop the socket and, while it is down (the loop does not run during these
     * blocking calls, so no reconnect can happen), the far end of gone-1 hangs up. */
    sim_post(f, "/_sim/fault?action=drop_ws");
    sim_post(f, "/_sim/channels/gone-1/hangup?cause=16");
    for (int i = 0; i < 100 && f->health != ARI_HEALTH_DOWN; i++) {
        evloop_run_for(f->loop, 0.02);
    }
    assert_false(ari_client_connected(f->c));
    assert_int_equal(ari_client_health(f->c), ARI_HEALTH_DOWN);
    assert_int_equal(find_ev(f, "gone-1", "ChannelDestroyed(16)", 0), -1); /* lost */

    assert_true(evloop_run_until(f->loop, &f->n_reconcile, rec0 + 1, 5.0));
    assert_true(ari_client_connected(f->c));
    assert_int_equal(f->rec_status, 0);
    assert_int_equal(f->n_gone, 2);
    assert_int_equal(f->n_up, 1);
    assert_string_equal(f->up[0], "keep-1");
    assert_true((strcmp(f->gone[0], "gone-1") == 0 && strcmp(f->gone[1], "never-1") == 0) ||
                (strcmp(f->gone[1], "gone-1") == 0 && strcmp(f->gone[0], "never-1") == 0));
    ari_client_stats(f->c, &st1);
    assert_int_equal(st1.disconnects, st0.disconnects + 1);
    assert_true(st1.connects >= st0.connects + 1);
    /* gone-1's place was released by the reconciliation. */
    assert_int_equal(ari_client_channels(f->c), 1);

    /* The subscription was re-issued (one POST beside GET /channels), and events
     * flow on the new socket. */
    assert_int_equal(st1.requests, st0.requests + 2);
    assert_int_equal(
        simc_http(f->sim.port, "GET", "/ari/applications/dialer", NULL, NULL, AUTH, &r), 0);
    assert_non_null(strstr(r.body, "\"keep-1\""));
    simc_resp_free(&r);
    assert_int_equal(ari_channel_hangup(f->c, "keep-1", NULL, NULL, NULL, NULL), 0);
    wait_ev(f, "keep-1", "ChannelDestroyed(16)");
    assert_int_equal(ari_client_channels(f->c), 0);
    f->n_known = 0;
}

static void test_reconnect_after_restart(void **state)
{
    struct fx *f = *state;
    int rec0 = f->n_reconcile;

    reset(f);
    originate(f, "rs-1", "+15550309", 30);
    wait_ev(f, "rs-1", "StasisStart");
    f->known[0] = "rs-1";
    f->n_known = 1;
    /* Asterisk restarts and refuses connections for 0.5 s: several attempts, backed off. */
    sim_post(f, "/_sim/fault?action=restart&seconds=0.5");
    assert_true(evloop_run_until(f->loop, &f->n_reconcile, rec0 + 1, 8.0));
    assert_int_equal(f->n_gone, 1);
    assert_string_equal(f->gone[0], "rs-1");
    assert_int_equal(f->n_up, 0);
    assert_int_equal(ari_client_channels(f->c), 0);
    f->n_known = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answered_play_dtmf_hangup),
        cmocka_unit_test(test_var_value_round_trip),
        cmocka_unit_test(test_amd_continue_record_snoop_dtmf),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_no_answer_timeout),
        cmocka_unit_test(test_cancel_ringing_with_reason),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_5xx_and_timeout),
        cmocka_unit_test(test_cancel_request),
        cmocka_unit_test(test_ws_drop_reconnect_reconcile),
        cmocka_unit_test(test_reconnect_after_restart),
    };
    return cmocka_run_group_tests_name("ari_client", tests, setup, teardown);
}
