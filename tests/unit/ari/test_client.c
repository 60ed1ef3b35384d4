/* SPDX-License-Identifier: MIT */
/*
 * The ARI client without a server: percent-encoding and JSON escaping, the
 * request line of every operation (path, parameters, encoding, body), the
 * mapping of HTTP statuses and error bodies to codes, argument checks,
 * URLs, the id set, the reconnect back-off and pool placement. Requests go
 * to a closed loopback port and are cancelled before the loop runs; what
 * is checked is the URL and body the client built.
 */
#include <errno.h>
#include <ev.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ari/client_int.h"
#include "core/clock.h"
#include "core/err.h"

struct fx {
    struct ev_loop *loop;
    struct ari_client *c;
};

static struct ari_client *make_client(struct ev_loop *loop, const char *url, const char *name,
                                      long max_channels)
{
    struct ari_client_config cfg = {
        .name = name,
        .url = url,
        .user = "dialer",
        .password = "secret",
        .app = "dialer,ivr",
        .no_events = true,
        .max_channels = max_channels,
    };
    struct ari_client *c = NULL;
    assert_int_equal(ari_client_create(loop, &cfg, NULL, &c), 0);
    return c;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->c = make_client(f->loop, "http://127.0.0.1:1", "t", 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ari_client_destroy(f->c);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

/* ------------------------------------------------------------- encoding */

static void test_client_urlenc_table(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "abcXYZ019", "abcXYZ019" },
        { "-._~", "-._~" },
        { "a b", "a%20b" },
        { "+15551234", "%2B15551234" },
        { "sound:hello/world", "sound%3Ahello%2Fworld" },
        { "&=?#%", "%26%3D%3F%23%25" },
        { "\"Name\" <1>", "%22Name%22%20%3C1%3E" },
        { "é", "%C3%A9" },
        { ",;", "%2C%3B" },
        { "", "" },
    };
    struct ari__buf b = { 0 };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ari__buf_reset(&b);
        ari__buf_add_urlenc(&b, cases[i].in);
        assert_string_equal(b.p, cases[i].out);
    }
    ari__buf_free(&b);
}

static void test_client_json_escape(void **state)
{
    struct ari__buf b = { 0 };
    (void)state;
    ari__buf_add_json_str(&b, "a\"b\\c\n\x01"
                              "é");
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\u000A\\u0001é\"");
    ari__buf_reset(&b);
    ari__buf_add_json_str(&b, "");
    assert_string_equal(b.p, "\"\"");
    ari__buf_free(&b);
}

/* -------------------------------------------------------- error mapping */

static void test_client_error_mapping_table(void **state)
{
    static const struct {
        int status;
        long code;
        const char *body;
        enum ari_error want;
    } cases[] = {
        { 0, 200, "{}", ARI_OK },
        { 0, 201, "{}", ARI_OK },
        { 0, 204, "", ARI_OK },
        { 0, 400, "{\"message\":\"Invalid reason for hangup provided\"}", ARI_E_BAD_REQUEST },
        { 0, 401, "{\"message\":\"Authentication required\"}", ARI_E_AUTH },
        { 0, 403, "{\"message\":\"Write access denied\"}", ARI_E_AUTH },
        { 0, 404, "{\"message\":\"Channel not found\"}", ARI_E_NOT_FOUND },
        { 0, 409, "{\"message\":\"Channel not in Stasis application\"}", ARI_E_NOT_IN_STASIS },
        { 0, 412, "{\"message\":\"Channel in invalid state\"}", ARI_E_PRECONDITION },
        { 0, 422, "{\"message\":\"Channel not in bridge\"}", ARI_E_UNPROCESSABLE },
        { 0, 500, "{\"error\":\"Allocation failed\"}", ARI_E_ALLOCATION_FAILED },
        { 0, 500, "{\"error\": \"Allocation failed\"}", ARI_E_ALLOCATION_FAILED },
        { 0, 500, "{\"message\":\"Allocation failed\"}", ARI_E_SERVER },
        { 0, 500, "{\"error\":\"Allocation failed!\"}", ARI_E_SERVER },
        { 0, 500, "", ARI_E_SERVER },
        { 0, 500, "not json Allocation failed", ARI_E_SERVER },
        { 0, 503, "{\"message\":\"Asterisk not booted\"}", ARI_E_SERVER },
        { 0, 502, NULL, ARI_E_SERVER },
        { 0, 418, "", ARI_E_HTTP },
        { 0, 301, "", ARI_E_HTTP },
        { ERR_TIMEOUT, 0, NULL, ARI_E_TIMEOUT },
        { -ECONNREFUSED, 0, NULL, ARI_E_TRANSPORT },
        { ERR_HTTP, 0, NULL, ARI_E_TRANSPORT },
        { ERR_TOOBIG, 200, NULL, ARI_E_TRANSPORT },
        { ERR_CANCELED, 0, NULL, ARI_E_CANCELED },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *b = cases[i].body;
        enum ari_error e =
            ari_error_from_http(cases[i].status, cases[i].code, b, b != NULL ? strlen(b) : 0);
        if (e != cases[i].want) {
            fail_msg("case %zu (%ld): got %s want %s", i, cases[i].code, ari_error_name(e),
                     ari_error_name(cases[i].want));
        }
    }
    assert_string_equal(ari_error_name(ARI_E_ALLOCATION_FAILED), "allocation_failed");
    assert_string_equal(ari_error_name((enum ari_error)99), "unknown");
    assert_string_equal(ari_op_name(ARI_OP_ORIGINATE), "originate");
    assert_string_equal(ari_health_name(ARI_HEALTH_DEGRADED), "degraded");
}

/* ------------------------------------------------------ request building */

#define BASE "http://127.0.0.1:1/ari"

/* Checks the URL of the request just started, then cancels it. */
static void expect_url(struct ari_client *c, struct ari_req *r, const char *url)
{
    assert_non_null(r);
    assert_string_equal(c->url.p, url);
    ari_req_cancel(r);
}

static void test_client_originate_request(void **state)
{
    struct fx *f = *state;
    struct ari_req *r = NULL;
    struct ari_var vars[] = { { "CAMPAIGN", "c \"7\"", false },
                              { "N", "{\"value\":\"1\"}", true } };
    struct ari_originate o = {
        .endpoint = "PJSIP/trunk/sip:+15551234@carrier",
        .channel_id = "att-42",
        .app_args = "c42,l7",
        .caller_id = "\"ACME\" <+15550000>",
        .timeout_s = 25,
        .variables = vars,
        .n_variables = 2,
    };

    assert_int_equal(ari_originate(f->c, &o, NULL, NULL, &r), 0);
    assert_string_equal(f->c->body.p,
                        "{\"variables\":{\"CAMPAIGN\":\"c \\\"7\\\"\",\"N\":{\"value\":\"1\"}}}");
    expect_url(f->c, r,
               BASE "/channels/att-42?endpoint=PJSIP%2Ftrunk%2Fsip%3A%2B15551234%40carrier"
                    "&app=dialer&appArgs=c42%2Cl7&callerId=%22ACME%22%20%3C%2B15550000%3E"
                    "&timeout=25");
    /* A cancelled originate keeps its place until its channel is seen gone. */
    assert_int_equal(ari_client_channels(f->c), 1);

    /* Dialplan mode, no id, no app; -1 = no timeout. */
    struct ari_originate d = { .endpoint = "Local/100@callee-answer",
                               .extension = "s",
                               .context = "amd",
                               .priority = 1,
                               .timeout_s = -1,
                               .other_channel_id = "x;2" };
    assert_int_equal(ari_originate(f->c, &d, NULL, NULL, &r), 0);
    expect_url(f->c, r,
               BASE "/channels?endpoint=Local%2F100%40callee-answer&extension=s&context=amd"
                    "&priority=1&timeout=-1&otherChannelId=x%3B2");
    assert_int_equal(ari_client_channels(f->c), 1);
}

static void test_client_channel_requests(void **state)
{
    struct fx *f = *state;
    struct ari_client *c = f->c;
    struct ari_req *r = NULL;
    const char *media[] = { "sound:hello-world", "digits:12#" };
    struct ari_play p = {
        .media = media, .n_media = 2, .lang = "en", .playback_id = "pb 1", .skipms = 500
    };
    struct ari_record rec = {
        .name = "rec/1", .format = "wav", .max_duration_s = 30, .beep = true, .terminate_on = "#"
    };

    assert_int_equal(ari_channel_hangup(c, "id/1", "busy", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id%2F1?reason=busy");
    assert_int_equal(ari_channel_hangup(c, "id1", NULL, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1");
    assert_int_equal(ari_channel_answer(c, "id1", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/answer");
    assert_int_equal(ari_channel_ring(c, "id1", false, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/ring");
    assert_int_equal(ari_channel_play(c, "id1", &p, NULL, NULL, &r), 0);
    expect_url(c, r,
               BASE "/channels/id1/play?media=sound%3Ahello-world,digits%3A12%23&lang=en"
                    "&skipms=500&playbackId=pb%201");
    assert_int_equal(ari_bridge_play(c, "b1", &p, NULL, NULL, &r), 0);
    expect_url(c, r,
               BASE "/bridges/b1/play?media=sound%3Ahello-world,digits%3A12%23&lang=en"
                    "&skipms=500&playbackId=pb%201");
    assert_int_equal(ari_playback_stop(c, "pb 1", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/playbacks/pb%201");
    assert_int_equal(ari_channel_record(c, "id1", &rec, NULL, NULL, &r), 0);
    expect_url(c, r,
               BASE "/channels/id1/record?name=rec%2F1&format=wav&maxDurationSeconds=30"
                    "&beep=true&terminateOn=%23");
    assert_int_equal(ari_recording_stop(c, "rec1", false, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/recordings/live/rec1/stop");
    assert_int_equal(ari_recording_stop(c, "rec1", true, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/recordings/live/rec1");
    assert_int_equal(ari_channel_continue(c, "id1", "amd", "s", 1, NULL, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/continue?context=amd&extension=s&priority=1");
    assert_int_equal(ari_channel_continue(c, "id1", NULL, NULL, 0, NULL, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/continue");
    assert_int_equal(ari_channel_redirect(c, "id1", "PJSIP/agent", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/redirect?endpoint=PJSIP%2Fagent");
    assert_int_equal(ari_channel_dial(c, "id1", "id0", 20, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/dial?caller=id0&timeout=20");
    assert_int_equal(ari_channel_snoop(c, "id1", NULL, "in", "none", "sn1", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/snoop?app=dialer&spy=in&whisper=none&snoopId=sn1");
    assert_int_equal(ari_channel_dtmf(c, "id1", "12*#", 150, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/dtmf?dtmf=12%2A%23&between=150");
    assert_int_equal(ari_channel_var_get(c, "id1", "CALLERID(num)", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/variable?variable=CALLERID%28num%29");
    assert_int_equal(ari_channel_var_set(c, "id1", "X", "a&b=c", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1/variable?variable=X&value=a%26b%3Dc");
    assert_int_equal(ari_channels_list(c, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels");
    assert_int_equal(ari_channel_get(c, "id1", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/channels/id1");
    assert_int_equal(ari_ping(c, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/asterisk/ping");
}

static void test_client_bridge_and_app_requests(void **state)
{
    struct fx *f = *state;
    struct ari_client *c = f->c;
    struct ari_req *r = NULL;

    assert_int_equal(ari_bridge_create(c, "br1", "mixing,dtmf_events", "conf 1", NULL, NULL, &r),
                     0);
    expect_url(c, r, BASE "/bridges/br1?type=mixing%2Cdtmf_events&name=conf%201");
    assert_int_equal(ari_bridge_create(c, NULL, NULL, NULL, NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/bridges");
    assert_int_equal(ari_bridge_add_channel(c, "br1", "a,b", "agent", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/bridges/br1/addChannel?channel=a%2Cb&role=agent");
    assert_int_equal(ari_bridge_remove_channel(c, "br1", "a", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/bridges/br1/removeChannel?channel=a");
    assert_int_equal(ari_bridge_destroy(c, "br1", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/bridges/br1");
    assert_int_equal(ari_app_subscribe(c, NULL, "channel:id1", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/applications/dialer/subscription?eventSource=channel%3Aid1");
    assert_int_equal(ari_app_unsubscribe(c, "ivr", "bridge:b", NULL, NULL, &r), 0);
    expect_url(c, r, BASE "/applications/ivr/subscription?eventSource=bridge%3Ab");
    /* Nothing was subscribed (all cancelled), so nothing is remembered. */
    assert_int_equal(c->n_subs, 0);
}

static void test_client_invalid_arguments(void **state)
{
    struct fx *f = *state;
    struct ari_client *c = f->c;
    struct ari_req *r = (struct ari_req *)1;
    struct ari_originate none = { 0 };
    struct ari_play empty_play = { 0 };
    struct ari_record no_format = { .name = "x" };
    char long_id[200];

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    struct ari_originate too_long = { .endpoint = "PJSIP/1", .channel_id = long_id };

    assert_int_equal(ari_originate(c, &none, NULL, NULL, &r), ERR_INVAL);
    assert_int_equal(ari_originate(c, NULL, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_originate(NULL, &too_long, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_originate(c, &too_long, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_hangup(c, NULL, NULL, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_answer(c, "", NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_play(c, "x", &empty_play, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_record(c, "x", &no_format, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_redirect(c, "x", NULL, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_channel_dtmf(c, "x", "", 0, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_bridge_add_channel(c, "b", NULL, NULL, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_app_subscribe(c, NULL, NULL, NULL, NULL, NULL), ERR_INVAL);
    assert_int_equal(ari_client_channels(c), 0);
    assert_int_equal(c->live == NULL, 1);
    ari_req_cancel(NULL);
}

static void test_client_urls(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "https://h:8088", "ftp://h",        "http://",      "http://:80",
        "http://h:0",     "http://h:99999", "http://h:80x", "h:8088",
    };
    struct ari_client_config cfg = { .user = "u", .app = "a", .no_events = true };
    struct ari_client *c = NULL;
    struct ari_req *r = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.url = bad[i];
        assert_int_equal(ari_client_create(f->loop, &cfg, NULL, &c), ERR_INVAL);
        assert_null(c);
    }
    cfg.url = "http://127.0.0.1:1/asterisk//";
    assert_int_equal(ari_client_create(f->loop, &cfg, NULL, &c), 0);
    assert_int_equal(ari_ping(c, NULL, NULL, &r), 0);
    expect_url(c, r, "http://127.0.0.1:1/asterisk/ari/asterisk/ping");
    /* a numeric host: the own HTTP/1.1 transport, which sends the origin-form target */
    assert_non_null(c->h1);
    assert_null(c->http);
    assert_string_equal(c->url.p + c->origin_len, "/asterisk/ari/asterisk/ping");
    assert_string_equal(ari_client_name(c), "default");
    ari_client_destroy(c);
    cfg.url = "http://localhost";
    assert_int_equal(ari_client_create(f->loop, &cfg, NULL, &c), 0);
    assert_int_equal(c->port, 80);
    assert_string_equal(c->host, "localhost");
    /* a host name: curl, whose resolver runs off the loop */
    assert_null(c->h1);
    assert_non_null(c->http);
    ari_client_destroy(c);
    cfg.url = "http://127.0.0.1:8088";
    cfg.transport = "curl";
    assert_int_equal(ari_client_create(f->loop, &cfg, NULL, &c), 0);
    assert_null(c->h1);
    assert_non_null(c->http);
    ari_client_destroy(c);
    cfg.transport = "http2";
    assert_int_equal(ari_client_create(f->loop, &cfg, NULL, &c), ERR_INVAL);
    assert_null(c);
    cfg.transport = NULL;
    cfg.url = "http://h";
    cfg.user = NULL;
    assert_int_equal(ari_client_create(f->loop, &cfg, NULL, &c), ERR_INVAL);
}

/* A request to a closed port fails with a transport error through the callback. */
static int n_done;
static enum ari_error last_error;

static void done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    (void)c;
    (void)arg;
    n_done++;
    last_error = res->error;
}

static void test_client_transport_error_and_destroy_cancels(void **state)
{
    struct fx *f = *state;
    struct ari_client *c = make_client(f->loop, "http://127.0.0.1:1", "x", 0);

    n_done = 0;
    assert_int_equal(ari_ping(f->c, done, NULL, NULL), 0);
    for (int i = 0; i < 200 && n_done == 0; i++) {
        ev_run(f->loop, EVRUN_ONCE);
    }
    assert_int_equal(n_done, 1);
    assert_int_equal(last_error, ARI_E_TRANSPORT);
    /* Destroy completes owed requests with ARI_E_CANCELED. */
    assert_int_equal(ari_ping(c, done, NULL, NULL), 0);
    ari_client_destroy(c);
    assert_int_equal(n_done, 2);
    assert_int_equal(last_error, ARI_E_CANCELED);
}

/* ------------------------------------------------------------ internals */

static void test_client_idset(void **state)
{
    struct ari__idset s = { 0 };
    char id[32];
    (void)state;

    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "ch-%d", i);
        assert_int_equal(ari__idset_add(&s, id), 0);
    }
    assert_int_equal(ari__idset_add(&s, "ch-5"), 0);
    assert_int_equal(s.count, 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(id, sizeof(id), "ch-%d", i);
        assert_true(ari__idset_del(&s, id));
    }
    assert_false(ari__idset_del(&s, "ch-0"));
    assert_int_equal(s.count, 500);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "ch-%d", i);
        assert_int_equal(ari__idset_has(&s, id), i % 2 == 1);
    }
    /* Churn (add/remove) does not fill the table with tombstones forever. */
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "t-%d", i);
        assert_int_equal(ari__idset_add(&s, id), 0);
        assert_true(ari__idset_del(&s, id));
    }
    assert_int_equal(s.count, 500);
    assert_true(s.cap <= 4096);
    ari__idset_free(&s);
}

static void test_client_backoff_bounded_with_jitter(void **state)
{
    struct fx *f = *state;
    struct ari_client *c = f->c;
    int64_t prev_max = 0;
    bool varied = false;
    int64_t first = -1;
    (void)state;

    c->reconnect_min_ms = 100;
    c->reconnect_max_ms = 3000;
    for (int round = 0; round < 50; round++) {
        c->attempt = 0;
        for (unsigned k = 0; k < 12; k++) {
            int64_t cap = 100LL << k;
            int64_t d = ari__backoff_ms(c);
            if (cap > 3000) {
                cap = 3000;
            }
            assert_true(d >= cap / 2 && d <= cap);
            if (k == 0) {
                varied = varied || (first >= 0 && d != first);
                first = d;
            }
            prev_max = d > prev_max ? d : prev_max;
        }
    }
    assert_true(prev_max <= 3000);
    assert_true(varied); /* jitter: not every first retry waits the same */
    c->attempt = 1000;
    assert_true(ari__backoff_ms(c) <= 3000);
}

static void test_client_pool_pick(void **state)
{
    struct fx *f = *state;
    struct ari_client_config cfg[3];
    struct ari_pool *p = NULL;
    struct ari_client *a, *b, *cc, *got;
    struct ari_originate o = { .endpoint = "PJSIP/1" };
    char id[16];
    int n_a = 0;

    memset(cfg, 0, sizeof(cfg));
    for (int i = 0; i < 3; i++) {
        cfg[i].name = i == 0 ? "a" : (i == 1 ? "b" : "c");
        cfg[i].url = "http://127.0.0.1:1";
        cfg[i].user = "u";
        cfg[i].app = "dialer";
        cfg[i].no_events = true;
    }
    cfg[0].max_channels = 2;
    cfg[1].max_channels = 4;
    cfg[2].max_channels = 4;
    assert_int_equal(ari_pool_create(f->loop, cfg, 3, NULL, &p), 0);
    a = ari_pool_client(p, 0);
    b = ari_pool_client(p, 1);
    cc = ari_pool_client(p, 2);
    assert_null(ari_pool_client(p, 3));
    /* c is degraded: used only when a and b are full. */
    cc->degraded_until_us = clock_mono_us() + 3600 * CLOCK_US_PER_SEC;
    for (int i = 0; i < 6; i++) {
        struct ari_req *r = NULL;
        snprintf(id, sizeof(id), "x-%d", i);
        o.channel_id = id;
        assert_int_equal(ari_pool_originate(p, &o, NULL, NULL, &r, &got), 0);
        assert_true(got == a || got == b);
        n_a += got == a;
        ari_req_cancel(r);
    }
    /* Filled by share of capacity: a 2 of 2, b 4 of 4. */
    assert_int_equal(n_a, 2);
    assert_int_equal(ari_client_channels(a), 2);
    assert_int_equal(ari_client_channels(b), 4);
    assert_ptr_equal(ari_pool_pick(p), cc);
    /* Everything full: busy. */
    {
        struct ari_req *r = NULL;
        o.channel_id = "x-c";
        assert_int_equal(ari_originate(cc, &o, NULL, NULL, &r), 0);
        ari_req_cancel(r);
        cc->max_channels = 1;
    }
    assert_int_equal(ari_pool_originate(p, &o, NULL, NULL, NULL, &got), ERR_BUSY);
    assert_null(got);
    ari_pool_destroy(p);

    /* Duplicate names are refused; nothing is left running. */
    cfg[1].name = "a";
    assert_int_equal(ari_pool_create(f->loop, cfg, 3, NULL, &p), ERR_INVAL);
    assert_null(p);
}

static void test_client_pool_ties_rotate(void **state)
{
    struct fx *f = *state;
    struct ari_client_config cfg[2];
    struct ari_pool *p = NULL;
    struct ari_client *first, *second;

    memset(cfg, 0, sizeof(cfg));
    for (int i = 0; i < 2; i++) {
        cfg[i].name = i == 0 ? "a" : "b";
        cfg[i].url = "http://127.0.0.1:1";
        cfg[i].user = "u";
        cfg[i].app = "dialer";
        cfg[i].no_events = true;
    }
    assert_int_equal(ari_pool_create(f->loop, cfg, 2, NULL, &p), 0);
    first = ari_pool_pick(p);
    second = ari_pool_pick(p);
    assert_non_null(first);
    assert_ptr_not_equal(first, second);
    assert_ptr_equal(ari_pool_pick(p), first);
    ari_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_urlenc_table),
        cmocka_unit_test(test_client_json_escape),
        cmocka_unit_test(test_client_error_mapping_table),
        cmocka_unit_test_setup_teardown(test_client_originate_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_channel_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_bridge_and_app_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_invalid_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_transport_error_and_destroy_cancels, setup,
                                        teardown),
        cmocka_unit_test(test_client_idset),
        cmocka_unit_test_setup_teardown(test_client_backoff_bounded_with_jitter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_pool_pick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_pool_ties_rotate, setup, teardown),
    };
    return cmocka_run_group_tests_name("ari_client", tests, NULL, NULL);
}
