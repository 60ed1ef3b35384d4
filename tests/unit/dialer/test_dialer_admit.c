/* SPDX-License-Identifier: MIT */
/*
 * D2: a 5xx burst from the only Asterisk must not spend contacts' attempts.
 * The two rules behind it, with the test's own clock:
 *   - admission per server (dialer_probe_admit / dialer_probe_result): UP
 *     takes every call, DOWN none, DEGRADED one probe at a time with a
 *     back-off doubling from 250 ms to 5 s while probes fail, and calls
 *     again once a probe is accepted;
 *   - what an originate error means (dialer_originate_class): only a
 *     refusal that proves no channel exists is "not dialed"; an unknown
 *     outcome (timeout, transport) never is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dialer/dialer_int.h"

#define MS INT64_C(1000)

static void test_up_takes_everything_down_nothing(void **state)
{
    struct dialer_probe p = { 0 };
    (void)state;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_UP, i * MS, true), DIALER_ADMIT_YES);
        assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_UP, i * MS, false), DIALER_ADMIT_YES);
        assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DOWN, i * MS, true), DIALER_ADMIT_NO);
        assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DOWN, i * MS, false), DIALER_ADMIT_NO);
    }
}

/* Launches a tick would make against a degraded server between t0 and t1 (10 ms ticks). */
static int launches(struct dialer_probe *p, int64_t t0, int64_t t1)
{
    int n = 0;
    for (int64_t t = t0; t < t1; t += 10 * MS) {
        for (int k = 0; k < 50; k++) { /* many contacts due each tick */
            if (dialer_probe_admit(p, ARI_HEALTH_DEGRADED, t, true) != DIALER_ADMIT_NO) {
                n++;
            }
        }
    }
    return n;
}

static void test_degraded_one_probe_at_a_time(void **state)
{
    struct dialer_probe p = { 0 };
    (void)state;
    /* a burst of 5xx while it was still up: the failures set the back-off */
    for (int i = 0; i < 5; i++) {
        dialer_probe_result(&p, false, false, 0);
    }
    /* degraded: nothing before the first back-off (250 ms) */
    assert_int_equal(launches(&p, 0, 250 * MS), 0);
    /* then exactly one launch holds the probe, however many contacts wait */
    assert_int_equal(launches(&p, 250 * MS, 400 * MS), 1);
    /* its originate is the probe; no second originate while it is out */
    assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, 300 * MS, false),
                     DIALER_ADMIT_PROBE);
    assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, 310 * MS, false), DIALER_ADMIT_NO);
    assert_int_equal(launches(&p, 310 * MS, 2000 * MS), 0);
}

static void test_failed_probes_back_off_then_resume(void **state)
{
    struct dialer_probe p = { 0 };
    int64_t t = 0, prev_gap = 0;
    (void)state;
    dialer_probe_result(&p, false, false, t);
    /* probes fail: each next probe comes later, doubling up to 5 s */
    for (int i = 0; i < 8; i++) {
        int64_t at = -1;
        for (int64_t u = t; u < t + 10000 * MS; u += 10 * MS) {
            if (dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, u, true) != DIALER_ADMIT_NO) {
                at = u;
                break;
            }
        }
        assert_true(at > t);
        int64_t gap = at - t;
        assert_true(gap >= prev_gap);
        assert_true(gap <= DIALER_PROBE_MAX_US + 10 * MS);
        assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, at, false),
                         DIALER_ADMIT_PROBE);
        dialer_probe_result(&p, true, false, at); /* refused again */
        prev_gap = gap;
        t = at;
    }
    assert_int_equal(p.backoff_us, DIALER_PROBE_MAX_US);
    /* the next probe is accepted: every launch goes again, still "degraded" */
    t += DIALER_PROBE_MAX_US;
    assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, t, true), DIALER_ADMIT_PROBE);
    assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, t, false), DIALER_ADMIT_PROBE);
    dialer_probe_result(&p, true, true, t + 20 * MS);
    assert_int_equal(launches(&p, t + 30 * MS, t + 130 * MS), 10 * 50);
    /* a new failure stops them again, from the shortest back-off */
    dialer_probe_result(&p, false, false, t + 200 * MS);
    assert_int_equal(launches(&p, t + 200 * MS, t + 440 * MS), 0);
    assert_int_equal(launches(&p, t + 450 * MS, t + 600 * MS), 1);
}

static void test_unused_claim_expires(void **state)
{
    struct dialer_probe p = { 0 };
    (void)state;
    dialer_probe_result(&p, false, false, 0);
    assert_int_equal(dialer_probe_admit(&p, ARI_HEALTH_DEGRADED, 300 * MS, true),
                     DIALER_ADMIT_PROBE);
    /* the launch was blocked later (a cap): nothing originated */
    assert_int_equal(launches(&p, 310 * MS, 300 * MS + DIALER_PROBE_CLAIM_US), 0);
    assert_int_equal(
        launches(&p, 310 * MS + DIALER_PROBE_CLAIM_US, 400 * MS + DIALER_PROBE_CLAIM_US), 1);
}

static void test_originate_error_classes(void **state)
{
    (void)state;
    /* refused before any channel: not an attempt */
    assert_int_equal(dialer_originate_class(ARI_E_SERVER, 503, "Asterisk not booted"),
                     DIALER_ORIG_NOT_DIALED);
    /* another 5xx: the channel id is checked first */
    assert_int_equal(dialer_originate_class(ARI_E_SERVER, 500, "Internal Server Error"),
                     DIALER_ORIG_CHECK);
    assert_int_equal(dialer_originate_class(ARI_E_HTTP, 502, ""), DIALER_ORIG_CHECK);
    assert_int_equal(dialer_originate_class(ARI_E_HTTP, 504, ""), DIALER_ORIG_CHECK);
    /* unknown outcome: never retried blindly */
    assert_int_equal(dialer_originate_class(ARI_E_TIMEOUT, 0, ""), DIALER_ORIG_UNKNOWN);
    assert_int_equal(dialer_originate_class(ARI_E_TRANSPORT, 0, ""), DIALER_ORIG_UNKNOWN);
    assert_int_equal(dialer_originate_class(ARI_E_CANCELED, 0, ""), DIALER_ORIG_UNKNOWN);
    /* the number or the request, not the server */
    assert_int_equal(dialer_originate_class(ARI_E_ALLOCATION_FAILED, 500, "Allocation failed"),
                     DIALER_ORIG_UNREACHABLE);
    assert_int_equal(dialer_originate_class(ARI_E_BAD_REQUEST, 400, "bad"), DIALER_ORIG_FAILED);
    assert_int_equal(dialer_originate_class(ARI_E_HTTP, 418, ""), DIALER_ORIG_FAILED);
    assert_int_equal(dialer_originate_class(ARI_E_NOT_IN_STASIS, 409,
                                            "Channel with given unique ID already exists"),
                     DIALER_ORIG_REPEATED);
    /* what makes a server unhealthy */
    assert_true(dialer_originate_server_fault(ARI_E_SERVER, 503));
    assert_true(dialer_originate_server_fault(ARI_E_TIMEOUT, 0));
    assert_true(dialer_originate_server_fault(ARI_E_TRANSPORT, 0));
    assert_false(dialer_originate_server_fault(ARI_E_ALLOCATION_FAILED, 500));
    assert_false(dialer_originate_server_fault(ARI_E_BAD_REQUEST, 400));
}

/* Which endings fail over to the next trunk: the route's, never the callee's. */
static void test_trunk_fault(void **state)
{
    (void)state;
    static const int route[] = { 34, 38, 41, 42, 44, 47 };
    for (size_t i = 0; i < sizeof(route) / sizeof(route[0]); i++) {
        assert_true(dialer_trunk_fault("congestion", route[i], false));
        assert_true(dialer_trunk_fault("failed", route[i], false));
    }
    assert_true(dialer_trunk_fault("congestion", -1, false)); /* no cause: congestion */
    assert_true(dialer_trunk_fault("unreachable", 66, true)); /* Allocation failed */
    /* the callee's answers */
    assert_false(dialer_trunk_fault("busy", 17, false));
    assert_false(dialer_trunk_fault("rejected", 21, false));
    assert_false(dialer_trunk_fault("no_answer", 19, false));
    assert_false(dialer_trunk_fault("unreachable", 1, false)); /* unallocated number */
    assert_false(dialer_trunk_fault("human", 16, false));
    assert_false(dialer_trunk_fault("machine", 16, false));
    /* unknown or not a call: never an immediate redial */
    assert_false(dialer_trunk_fault("failed", -1, true));
    assert_false(dialer_trunk_fault("lost", -1, true));
    assert_false(dialer_trunk_fault("not_dialed", -1, true));
    assert_false(dialer_trunk_fault("cancelled", 34, false));
    assert_false(dialer_trunk_fault(NULL, 34, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_takes_everything_down_nothing),
        cmocka_unit_test(test_degraded_one_probe_at_a_time),
        cmocka_unit_test(test_failed_probes_back_off_then_resume),
        cmocka_unit_test(test_unused_claim_expires),
        cmocka_unit_test(test_originate_error_classes),
        cmocka_unit_test(test_trunk_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
