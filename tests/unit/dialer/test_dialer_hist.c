/* SPDX-License-Identifier: MIT */
/*
 * The latency histograms dialerd exposes on /metrics (dialer/hist.c): an
 * observation lands in every cumulative bucket whose bound it does not
 * exceed, the count follows, the three histograms are independent, and a
 * latency beyond the last bound (or a negative one from a clock step)
 * never goes missing. Read back through the counter registry, as the
 * /metrics renderer reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/counter.h"
#include "dialer/dialer.h"

struct find {
    const char *name;
    int64_t value;
    int found;
};

static void visit(const struct counter *c, void *arg)
{
    struct find *f = arg;
    if (strcmp(c->name, f->name) == 0) {
        f->value = counter_get(c);
        f->found++;
    }
}

static int64_t get(const char *name)
{
    struct find f = { .name = name };
    counter_foreach(visit, &f);
    assert_int_equal(f.found, 1);
    return f.value;
}

#define ORIG(le) "dialer_originate_seconds_bucket{le=\"" le "\"}"

static void test_cumulative_buckets(void **state)
{
    (void)state;
    dialer_hist_register();
    dialer_hist_register(); /* idempotent: every counter still once */
    int64_t b1ms = get(ORIG("0.001")), b2ms = get(ORIG("0.002")), inf = get(ORIG("+Inf"));
    int64_t b500us = get(ORIG("0.0005")), n = get("dialer_originate_seconds_count");

    dialer_hist_observe(DIALER_HIST_ORIGINATE, 1000); /* exactly 1 ms: in le=0.001 */
    dialer_hist_observe(DIALER_HIST_ORIGINATE, 1500); /* 1.5 ms: from le=0.002 up */

    assert_int_equal(get(ORIG("0.0005")) - b500us, 0);
    assert_int_equal(get(ORIG("0.001")) - b1ms, 1);
    assert_int_equal(get(ORIG("0.002")) - b2ms, 2);
    assert_int_equal(get(ORIG("+Inf")) - inf, 2);
    assert_int_equal(get("dialer_originate_seconds_count") - n, 2);
}

static void test_extremes_and_independence(void **state)
{
    (void)state;
    dialer_hist_register();
    const char *d_inf = "dialer_decision_to_originate_seconds_bucket{le=\"+Inf\"}";
    const char *d_10s = "dialer_decision_to_originate_seconds_bucket{le=\"10\"}";
    const char *d_100us = "dialer_decision_to_originate_seconds_bucket{le=\"0.0001\"}";
    int64_t inf = get(d_inf), ten = get(d_10s), small = get(d_100us);
    int64_t o = get("dialer_originate_seconds_count");
    int64_t e = get("dialer_event_to_action_seconds_count");

    dialer_hist_observe(DIALER_HIST_DECISION, INT64_C(60000000)); /* a minute: +Inf only */
    dialer_hist_observe(DIALER_HIST_DECISION, -5);                /* clock step: the first */
    dialer_hist_observe(DIALER_HIST_COUNT_, 10);                  /* unknown: ignored */

    assert_int_equal(get(d_inf) - inf, 2);
    assert_int_equal(get(d_10s) - ten, 1);
    assert_int_equal(get(d_100us) - small, 1);
    assert_int_equal(get("dialer_decision_to_originate_seconds_count"), get(d_inf));
    assert_int_equal(get("dialer_originate_seconds_count"), o);
    assert_int_equal(get("dialer_event_to_action_seconds_count"), e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cumulative_buckets),
        cmocka_unit_test(test_extremes_and_independence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
