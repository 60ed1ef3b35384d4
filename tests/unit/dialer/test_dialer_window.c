/* SPDX-License-Identifier: MIT */
/*
 * The originate window (dialer/window.c) on its own clock: its rules, and a
 * simulated ARI server past its knee, where the window keeps originates
 * answered within the target at the server's full rate while an unbounded
 * launcher's originates wait past ari.request-timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dialer/dialer_int.h"

#define MS INT64_C(1000)

static void test_window_opens_while_answers_come_in_time(void **state)
{
    (void)state;
    struct dialer_window w;
    dialer_window_init(&w, 1000, 500 * MS);
    assert_int_equal(dialer_window_limit(&w), DIALER_WINDOW_START);
    /* used at least half: one more per answer in time */
    for (int i = 0; i < 10; i++) {
        dialer_window_answer(&w, 20 * MS, false, 40, i * MS);
    }
    assert_int_equal(dialer_window_limit(&w), DIALER_WINDOW_START + 10);
    /* barely used (a quiet campaign): it does not grow */
    for (int i = 0; i < 10; i++) {
        dialer_window_answer(&w, 20 * MS, false, 3, (20 + i) * MS);
    }
    assert_int_equal(dialer_window_limit(&w), DIALER_WINDOW_START + 10);
    /* never above its ceiling */
    for (int i = 0; i < 5000; i++) {
        dialer_window_answer(&w, 20 * MS, false, 1000, (40 + i) * MS);
    }
    assert_int_equal(dialer_window_limit(&w), 1000);
}

static void test_window_narrows_once_per_congested_moment(void **state)
{
    (void)state;
    struct dialer_window w;
    dialer_window_init(&w, 1000, 500 * MS);
    for (int i = 0; i < 36; i++) {
        dialer_window_answer(&w, 20 * MS, false, 100, 0);
    }
    assert_int_equal(dialer_window_limit(&w), 100);
    /* late answers: to 4/5, once for the whole moment */
    dialer_window_answer(&w, 800 * MS, false, 100, 1000 * MS);
    assert_int_equal(dialer_window_limit(&w), 80);
    dialer_window_answer(&w, 900 * MS, false, 100, 1100 * MS);
    dialer_window_answer(&w, 900 * MS, false, 100, 1200 * MS);
    assert_int_equal(dialer_window_limit(&w), 80);
    /* still late after DIALER_WINDOW_CUT_US: again */
    dialer_window_answer(&w, 900 * MS, false, 100, 1000 * MS + DIALER_WINDOW_CUT_US);
    assert_int_equal(dialer_window_limit(&w), 64);
    /* a timeout halves it */
    dialer_window_answer(&w, 0, true, 100, 2000 * MS);
    assert_int_equal(dialer_window_limit(&w), 32);
    /* never below the floor */
    for (int i = 0; i < 20; i++) {
        dialer_window_answer(&w, 0, true, 100, (3000 + i * 300) * MS);
    }
    assert_int_equal(dialer_window_limit(&w), DIALER_WINDOW_MIN);
    assert_true(w.cuts >= 4);
}

static void test_window_off_is_the_ceiling(void **state)
{
    (void)state;
    struct dialer_window w;
    dialer_window_init(&w, 1250, -1);
    dialer_window_answer(&w, 0, true, 1250, 0);
    dialer_window_answer(&w, 9000 * MS, false, 1250, 1000 * MS);
    assert_int_equal(dialer_window_limit(&w), 1250);
}

/*
 * A server that completes `rate` originates per millisecond in order, each
 * taking base_ms at least; the launcher always has contacts (a burst) and
 * keeps min(window, ceiling) originates out. Returns the originates answered
 * in the last half of the run, and the latest answer (ms) after the first
 * second, or a timeout (latency above timeout_ms) count.
 */
struct sim_out {
    long answered_late_half;
    int64_t worst_ms;
    long timeouts;
};

static struct sim_out simulate(bool window, int ceiling, int rate, int base_ms, int run_ms,
                               int timeout_ms)
{
    struct dialer_window w;
    dialer_window_init(&w, ceiling, window ? 500 * MS : -1);

    enum { QMAX = 1 << 20 };

    int64_t *sent = malloc(sizeof(int64_t) * QMAX); /* send times, FIFO */
    assert_non_null(sent);
    size_t head = 0, tail = 0;
    struct sim_out o = { 0 };
    for (int t = 0; t < run_ms; t++) {
        int64_t now = (int64_t)t * MS;
        /* the launcher fills the window */
        int out = (int)(tail - head);
        int cap = dialer_window_limit(&w);
        while (out < cap && tail < QMAX) {
            sent[tail++] = now;
            out++;
        }
        /* the server answers up to rate of those sent base_ms ago or earlier */
        for (int k = 0; k < rate && head < tail && sent[head] + base_ms * MS <= now; k++) {
            int64_t lat = now - sent[head++];
            bool to = lat > (int64_t)timeout_ms * MS;
            dialer_window_answer(&w, lat, to, (int)(tail - head), now);
            if (to) {
                o.timeouts++;
            }
            if (t >= run_ms / 2) {
                o.answered_late_half++;
            }
            if (t >= 1000 && lat / MS > o.worst_ms) {
                o.worst_ms = lat / MS;
            }
        }
    }
    free(sent);
    return o;
}

static void test_window_holds_the_knee(void **state)
{
    (void)state;
    /* 2,000 originates/s at best, 5 ms each; the launcher could have 25,000 out */
    struct sim_out with = simulate(true, 25000, 2, 5, 30000, 5000);
    struct sim_out without = simulate(false, 25000, 2, 5, 30000, 5000);
    print_message("window: %ld answered in the last 15 s, worst %lld ms, %ld timeouts; "
                  "unbounded: %ld, worst %lld ms, %ld timeouts\n",
                  with.answered_late_half, (long long)with.worst_ms, with.timeouts,
                  without.answered_late_half, (long long)without.worst_ms, without.timeouts);
    /* with the window: the server's full rate in the last 15 s, answers within about the
     * target (one cut's overshoot), nothing timed out */
    assert_true(with.answered_late_half >= 2 * 15000 * 95 / 100);
    assert_true(with.worst_ms < 1500);
    assert_int_equal(with.timeouts, 0);
    /* without: the same rate, but every originate waits in the queue past the timeout */
    assert_true(without.worst_ms > 5000);
    assert_true(without.timeouts > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_opens_while_answers_come_in_time),
        cmocka_unit_test(test_window_narrows_once_per_congested_moment),
        cmocka_unit_test(test_window_off_is_the_ceiling),
        cmocka_unit_test(test_window_holds_the_knee),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
