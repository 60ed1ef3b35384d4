/* SPDX-License-Identifier: MIT */
/*
 * ari-sim fault modes: the events WebSocket dropped while calls are up (and
 * an answered call lost while it is down), a 5xx window, delayed responses,
 * refused connections, a restart that forgets every channel, a full
 * recordings disk (as Asterisk 22 meets it), and the SIGUSR1/SIGUSR2
 * shortcuts. Runs the real ari-sim program.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim/simc.h"

static struct simc_proc sim;
static const char *AUTH = "asterisk:asterisk";
static const char *WS = "/ari/events?app=dialer&api_key=asterisk:asterisk";

static int setup(void **state)
{
    static const char *const args[] = {
        "--time-scale", "0.1", "--scenario", "sim/scenarios/rules.json", "--log-level", "warn", NULL
    };
    (void)state;
    return simc_start(&sim, args) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    int rc;
    (void)state;
    rc = simc_stop(&sim, SIGTERM);
    if (rc != 0 || simc_log_has_sanitizer_report(&sim)) {
        fprintf(stderr, "ari-sim exited %d; log in %s\n", rc, sim.log);
        return -1;
    }
    return 0;
}

static long req(const char *method, const char *path)
{
    struct simc_resp r;
    long status;
    if (simc_http(sim.port, method, path, NULL, NULL, AUTH, &r) < 0) {
        return -1;
    }
    status = r.status;
    simc_resp_free(&r);
    return status;
}

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static struct simc_ws *ws_open(void)
{
    int status;
    struct simc_ws *w = simc_ws_open(sim.port, WS, NULL, &status, NULL, 0);
    assert_non_null(w);
    return w;
}

static void expect_event(struct simc_ws *w, const char *type, const char *chan)
{
    json_t *e = simc_ws_wait(w, type, chan, 5000);
    if (e == NULL) {
        fail_msg("no %s for %s", type, chan ? chan : "-");
    }
    json_decref(e);
}

static void wait_closed(struct simc_ws *w)
{
    json_t *e;
    for (int i = 0; i < 50 && !simc_ws_closed(w); i++) {
        e = simc_ws_next(w, 100);
        json_decref(e);
    }
    assert_true(simc_ws_closed(w));
}

static void test_ws_drop_while_calls_up(void **state)
{
    struct simc_ws *w = ws_open();
    struct simc_resp r;
    (void)state;

    assert_int_equal(req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:%2B15550209@h"
                                 "&app=dialer&channelId=up-1"),
                     200);
    expect_event(w, "StasisStart", "up-1");
    assert_int_equal(req("POST", "/_sim/fault?action=drop_ws"), 200);
    wait_closed(w);
    simc_ws_close(w);

    /* The call survives; a new socket gets its events. */
    assert_int_equal(simc_http(sim.port, "GET", "/ari/channels/up-1", NULL, NULL, AUTH, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "Up");
    simc_resp_free(&r);

    /* While nobody listens, an answered call cannot enter Stasis and is lost. */
    assert_int_equal(req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:%2B15550219@h"
                                 "&app=dialer&channelId=lost-1"),
                     200);
    msleep(400);
    assert_int_equal(req("GET", "/ari/channels/lost-1"), 404);

    w = ws_open();
    assert_int_equal(req("POST", "/ari/channels/up-1/play?media=sound:hello-world"), 201);
    expect_event(w, "PlaybackStarted", NULL);
    assert_int_equal(req("DELETE", "/ari/channels/up-1"), 204);
    expect_event(w, "ChannelHangupRequest", "up-1");
    expect_event(w, "StasisEnd", "up-1");
    expect_event(w, "ChannelDestroyed", "up-1");
    simc_ws_close(w);
}

static void test_5xx_window(void **state)
{
    struct simc_resp r;
    int status;
    (void)state;
    assert_int_equal(req("POST", "/_sim/fault?action=fail&seconds=0.5"), 200);
    assert_int_equal(simc_http(sim.port, "GET", "/ari/asterisk/ping", NULL, NULL, AUTH, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.reason, "Service Unavailable");
    assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                        "Asterisk not booted");
    simc_resp_free(&r);
    assert_null(simc_ws_open(sim.port, WS, NULL, &status, NULL, 0));
    assert_int_equal(status, 503);
    msleep(600);
    assert_int_equal(req("GET", "/ari/asterisk/ping"), 200);
    /* Another status code. */
    assert_int_equal(req("POST", "/_sim/fault?action=fail&seconds=0.3&status=500"), 200);
    assert_int_equal(req("GET", "/ari/channels"), 500);
    assert_int_equal(req("POST", "/_sim/fault?action=clear"), 200);
    assert_int_equal(req("GET", "/ari/channels"), 200);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_delay_and_refuse(void **state)
{
    double t0;
    (void)state;
    assert_int_equal(req("POST", "/_sim/fault?action=delay&ms=300"), 200);
    t0 = now_s();
    assert_int_equal(req("GET", "/ari/asterisk/ping"), 200);
    assert_true(now_s() - t0 >= 0.29);
    assert_int_equal(req("POST", "/_sim/fault?action=delay&ms=0"), 200);
    t0 = now_s();
    assert_int_equal(req("GET", "/ari/asterisk/ping"), 200);
    assert_true(now_s() - t0 < 0.25);

    assert_int_equal(req("POST", "/_sim/fault?action=refuse&seconds=0.5"), 200);
    assert_int_equal(req("GET", "/ari/asterisk/ping"), -1);
    msleep(600);
    assert_int_equal(req("GET", "/ari/asterisk/ping"), 200);
}

static void test_restart_forgets_channels(void **state)
{
    struct simc_ws *w = ws_open();
    struct simc_resp r;
    (void)state;

    assert_int_equal(req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:%2B15550309@h"
                                 "&app=dialer&channelId=rs-1"),
                     200);
    assert_int_equal(req("POST", "/ari/bridges?bridgeId=rs-b"), 200);
    expect_event(w, "StasisStart", "rs-1");
    assert_int_equal(req("POST", "/_sim/fault?action=restart&seconds=0.3"), 200);
    wait_closed(w);
    simc_ws_close(w);
    /* Down for a moment, then up with nothing in it. */
    assert_int_equal(req("GET", "/ari/channels"), -1);
    msleep(400);
    assert_int_equal(simc_http(sim.port, "GET", "/ari/channels", NULL, NULL, AUTH, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 0);
    simc_resp_free(&r);
    assert_int_equal(req("GET", "/ari/channels/rs-1"), 404);
    assert_int_equal(req("GET", "/ari/bridges/rs-b"), 404);
    /* The id can be used again. */
    w = ws_open();
    assert_int_equal(req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:%2B15550309@h"
                                 "&app=dialer&channelId=rs-1"),
                     200);
    expect_event(w, "StasisStart", "rs-1");
    assert_int_equal(req("DELETE", "/ari/channels/rs-1"), 204);
    expect_event(w, "ChannelDestroyed", "rs-1");
    simc_ws_close(w);
}

static json_t *recording_event(struct simc_ws *w, const char *type)
{
    json_t *e = simc_ws_wait(w, type, NULL, 5000);
    if (e == NULL) {
        fail_msg("no %s", type);
    }
    return e;
}

/*
 * A full recordings disk: the record request is accepted, the recording ends
 * at once "done" with duration 0 and leaves no stored recording ("write");
 * or the request answers 500 (mode "mkdir"); clear gives a normal recording.
 */
static void test_disk_full_recordings(void **state)
{
    struct simc_ws *w = ws_open();
    struct simc_resp r;
    json_t *e, *rec;
    (void)state;

    assert_int_equal(req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:%2B15550409@h"
                                 "&app=dialer&channelId=df-1"),
                     200);
    expect_event(w, "StasisStart", "df-1");

    assert_int_equal(req("POST", "/_sim/fault?action=disk_full"), 200);
    assert_int_equal(req("POST", "/ari/channels/df-1/record?name=msg1&format=wav"
                                 "&maxDurationSeconds=30"),
                     201);
    json_decref(recording_event(w, "RecordingStarted"));
    e = recording_event(w, "RecordingFinished");
    rec = json_object_get(e, "recording");
    assert_string_equal(json_string_value(json_object_get(rec, "name")), "msg1");
    assert_string_equal(json_string_value(json_object_get(rec, "state")), "done");
    assert_int_equal(json_integer_value(json_object_get(rec, "duration")), 0);
    json_decref(e);
    assert_int_equal(req("GET", "/ari/recordings/stored/msg1"), 404);

    assert_int_equal(req("POST", "/_sim/fault?action=disk_full&mode=mkdir"), 200);
    assert_int_equal(simc_http(sim.port, "POST", "/ari/channels/df-1/record?name=msg2&format=wav",
                               NULL, NULL, AUTH, &r),
                     0);
    assert_int_equal(r.status, 500);
    assert_string_equal(json_string_value(json_object_get(r.json, "message")),
                        "Internal Server Error");
    simc_resp_free(&r);
    assert_int_equal(req("GET", "/ari/recordings/live/msg2"), 404);
    assert_int_equal(req("POST", "/_sim/fault?action=disk_full&mode=sideways"), 400);

    assert_int_equal(req("POST", "/_sim/fault?action=clear"), 200);
    assert_int_equal(req("POST", "/ari/channels/df-1/record?name=msg3&format=wav"
                                 "&maxDurationSeconds=1"),
                     201);
    json_decref(recording_event(w, "RecordingStarted"));
    e = recording_event(w, "RecordingFinished");
    rec = json_object_get(e, "recording");
    assert_string_equal(json_string_value(json_object_get(rec, "name")), "msg3");
    json_decref(e);
    assert_int_equal(req("GET", "/ari/recordings/stored/msg3"), 200);

    assert_int_equal(req("DELETE", "/ari/channels/df-1"), 204);
    expect_event(w, "ChannelDestroyed", "df-1");
    simc_ws_close(w);
}

static void test_signals(void **state)
{
    struct simc_ws *w = ws_open();
    (void)state;
    assert_int_equal(req("POST", "/ari/channels?endpoint=PJSIP/trunk/sip:%2B15550409@h"
                                 "&app=dialer&channelId=sg-1"),
                     200);
    expect_event(w, "StasisStart", "sg-1");
    kill(sim.pid, SIGUSR1);
    wait_closed(w);
    simc_ws_close(w);
    assert_int_equal(req("GET", "/ari/channels/sg-1"), 200);
    kill(sim.pid, SIGUSR2);
    msleep(200);
    assert_int_equal(req("GET", "/ari/channels/sg-1"), 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ws_drop_while_calls_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5xx_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay_and_refuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_forgets_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_recordings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
