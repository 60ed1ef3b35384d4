/* SPDX-License-Identifier: MIT */
/*
 * Two ari-sim instances in one ari_pool: originates are placed on both by
 * capacity in use, a full server is skipped, a server that goes down takes
 * no new originates (the other does), and it is used again once back. The
 * first server goes through the client's own HTTP/1.1 transport, the second
 * through curl (ari.transport), so both carry the same scenario.
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

struct fx {
    struct simc_proc sim[2];
    char url[2][64];
    struct ev_loop *loop;
    struct ari_pool *pool;
    int n_up;     /* health callbacks saying up */
    int n_down;   /* ... down */
    int n_stasis; /* StasisStart events */
    int n_done;   /* originate results */
    int n_ok;     /* ... successful */
};

static const char *const SIM_ARGS[] = {
    "--time-scale", "0.1", "--scenario", "sim/scenarios/rules.json", "--log-level", "warn", NULL
};

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    (void)c;
    if (ev->type == ARI_EVENT_STASIS_START) {
        f->n_stasis++;
    }
}

static void on_health(struct ari_client *c, enum ari_health h, void *arg)
{
    struct fx *f = arg;
    (void)c;
    if (h == ARI_HEALTH_UP) {
        f->n_up++;
    } else if (h == ARI_HEALTH_DOWN) {
        f->n_down++;
    }
}

static void on_done(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct fx *f = arg;
    (void)c;
    f->n_done++;
    if (res->error == ARI_OK) {
        f->n_ok++;
    }
}

static int start_sim(struct fx *f, int i)
{
    if (simc_start(&f->sim[i], SIM_ARGS) < 0) {
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct ari_handlers h = { on_event, on_health, NULL, NULL, NULL };
    struct ari_client_config cfg[2];

    if (f == NULL || start_sim(f, 0) < 0 || start_sim(f, 1) < 0) {
        return -1;
    }
    f->loop = ev_loop_new(EVFLAG_AUTO);
    h.arg = f;
    memset(cfg, 0, sizeof(cfg));
    for (int i = 0; i < 2; i++) {
        snprintf(f->url[i], sizeof(f->url[i]), "http://127.0.0.1:%d", f->sim[i].port);
        cfg[i].name = i == 0 ? "ast-a" : "ast-b";
        cfg[i].url = f->url[i];
        cfg[i].user = "asterisk";
        cfg[i].password = "asterisk";
        cfg[i].app = "dialer";
        cfg[i].max_channels = 3;
        cfg[i].reconnect_min_ms = 50;
        cfg[i].reconnect_max_ms = 200;
        /* both REST transports: the own HTTP/1.1 client and curl (ari.transport) */
        cfg[i].transport = i == 0 ? "http" : "curl";
    }
    if (ari_pool_create(f->loop, cfg, 2, &h, &f->pool) != 0) {
        return -1;
    }
    if (!evloop_run_until(f->loop, &f->n_up, 2, 5.0)) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int bad = 0;

    ari_pool_destroy(f->pool);
    ev_loop_destroy(f->loop);
    for (int i = 0; i < 2; i++) {
        if (f->sim[i].pid > 0 &&
            (simc_stop(&f->sim[i], SIGTERM) != 0 || simc_log_has_sanitizer_report(&f->sim[i]))) {
            fprintf(stderr, "ari-sim %d failed; log in %s\n", i, f->sim[i].log);
            bad = 1;
        }
    }
    free(f);
    return bad ? -1 : 0;
}

/* Originates a call that stays up (number ending in 9) through the pool. */
static int place(struct fx *f, const char *id, struct ari_client **server)
{
    struct ari_originate o = { .endpoint = "PJSIP/trunk/sip:+15550009@carrier", .channel_id = id };
    return ari_pool_originate(f->pool, &o, on_done, f, NULL, server);
}

static void hangup_all(struct fx *f, const char *const *ids, struct ari_client *const *on, int n)
{
    for (int i = 0; i < n; i++) {
        if (on[i] != NULL) {
            assert_int_equal(ari_channel_hangup(on[i], ids[i], NULL, NULL, NULL, NULL), 0);
        }
    }
    for (int i = 0; i < 100; i++) {
        if (ari_client_channels(ari_pool_client(f->pool, 0)) == 0 &&
            ari_client_channels(ari_pool_client(f->pool, 1)) == 0) {
            break;
        }
        evloop_run_for(f->loop, 0.05);
    }
    assert_int_equal(ari_client_channels(ari_pool_client(f->pool, 0)), 0);
    assert_int_equal(ari_client_channels(ari_pool_client(f->pool, 1)), 0);
}

static void test_placement_spreads_and_fills(void **state)
{
    struct fx *f = *state;
    struct ari_client *a = ari_pool_client(f->pool, 0), *b = ari_pool_client(f->pool, 1);
    const char *ids[7] = { "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7" };
    struct ari_client *on[7] = { 0 };
    int on_a = 0;

    assert_int_equal(ari_pool_size(f->pool), 2);
    assert_string_equal(ari_client_name(a), "ast-a");
    for (int i = 0; i < 6; i++) {
        assert_int_equal(place(f, ids[i], &on[i]), 0);
        on_a += on[i] == a;
        /* Never more than one apart: the emptier server is chosen. */
        long d = ari_client_channels(a) - ari_client_channels(b);
        assert_true(d >= -1 && d <= 1);
    }
    assert_int_equal(on_a, 3);
    /* Both full (3 each): the seventh has nowhere to go. */
    assert_null(ari_pool_pick(f->pool));
    assert_int_equal(place(f, ids[6], &on[6]), ERR_BUSY);
    assert_null(on[6]);
    assert_true(evloop_run_until(f->loop, &f->n_stasis, 6, 5.0));
    assert_int_equal(f->n_ok, 6);
    hangup_all(f, ids, on, 6);
}

static void test_server_down_other_takes_over(void **state)
{
    struct fx *f = *state;
    struct ari_client *a = ari_pool_client(f->pool, 0), *b = ari_pool_client(f->pool, 1);
    const char *ids[3] = { "q-1", "q-2", "q-3" };
    struct ari_client *on[3] = { 0 };
    int down0 = f->n_down, stasis0 = f->n_stasis;

    /* Server b goes away. */
    assert_int_equal(simc_stop(&f->sim[1], SIGTERM), 0);
    f->sim[1].pid = 0;
    assert_true(evloop_run_until(f->loop, &f->n_down, down0 + 1, 5.0));
    assert_int_equal(ari_client_health(b), ARI_HEALTH_DOWN);
    assert_int_equal(ari_client_health(a), ARI_HEALTH_UP);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(place(f, ids[i], &on[i]), 0);
        assert_ptr_equal(on[i], a);
    }
    assert_true(evloop_run_until(f->loop, &f->n_stasis, stasis0 + 3, 5.0));
    hangup_all(f, ids, on, 3);
}

static void test_back_after_restart(void **state)
{
    struct fx *f = *state;
    struct ari_client *a = ari_pool_client(f->pool, 0);
    int up0 = f->n_up;
    struct simc_resp r;

    /* Asterisk a restarts: refused for 0.3 s; the pool has no server meanwhile. */
    assert_int_equal(simc_http(f->sim[0].port, "POST", "/_sim/fault?action=restart&seconds=0.3",
                               NULL, NULL, NULL, &r),
                     0);
    simc_resp_free(&r);
    for (int i = 0; i < 100 && ari_client_health(a) != ARI_HEALTH_DOWN; i++) {
        evloop_run_for(f->loop, 0.01);
    }
    assert_null(ari_pool_pick(f->pool));
    assert_true(evloop_run_until(f->loop, &f->n_up, up0 + 1, 5.0));
    assert_ptr_equal(ari_pool_pick(f->pool), a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_spreads_and_fills),
        cmocka_unit_test(test_server_down_other_takes_over),
        cmocka_unit_test(test_back_after_restart),
    };
    return cmocka_run_group_tests_name("ari_client_pool", tests, setup, teardown);
}
