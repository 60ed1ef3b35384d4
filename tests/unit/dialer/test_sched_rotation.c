/* SPDX-License-Identifier: MIT */
/*
 * Regression test for the scheduler as dialerd drives it: a tenant whose
 * rotation meets campaigns with nothing to dial (finished, or all contacts
 * blocked) before the one with work must still launch that campaign's whole
 * quota in one tick. (It used to launch one call per tick, and a resumed
 * campaign could stall behind empty ones.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "campaign/campaign.h"

#define T0 (INT64_C(1795878000) * 1000000)

static int launched;

static int launch(void *arg, const struct campaign_launch *l)
{
    (void)arg;
    (void)l;
    launched++;
    return 0;
}

static void run(int ncamps, int with_work)
{
    struct campaign_sched *s = NULL;
    struct campaign_sched_opts o = { .launch = launch };
    struct campaign_settings set;
    campaign_settings_default(&set);
    set.pacing = CAMPAIGN_PACING_FIXED;
    set.cps = 300;
    set.max_channels = 100;
    assert_int_equal(campaign_sched_create(&o, &s), 0);
    for (int id = 1; id <= ncamps; id++) {
        assert_int_equal(campaign_sched_campaign(s, 7, id, &set, 10, T0), 0);
        assert_int_equal(campaign_sched_set_running(s, id, true), 0);
    }
    struct campaign_batch *b = calloc(1, sizeof(*b) + 500 * sizeof(b->contacts[0]));
    assert_non_null(b);
    b->campaign_id = with_work;
    b->n = 500;
    for (int i = 0; i < 500; i++) {
        b->contacts[i].id = i + 1;
        b->contacts[i].campaign_id = with_work;
        b->contacts[i].tenant_id = 7;
    }
    assert_int_equal(campaign_sched_add(s, b), 0);
    free(b);
    launched = 0;
    /* several ticks so the rotation starts at every campaign once */
    for (int i = 0; i < ncamps; i++) {
        int before = launched;
        campaign_sched_tick(s, T0 + (i + 1) * 50000);
        for (int k = before; k < launched; k++) {
            campaign_sched_call_ended(s, with_work, false, 1);
        }
        /* the channel cap (100) or the CPS bucket (300 burst, 15 per 50 ms) decides */
        assert_true(launched - before >= 15);
    }
    campaign_sched_destroy(s);
}

static void test_empty_campaigns_ahead_in_rotation(void **state)
{
    (void)state;
    run(2, 1);
    run(3, 3);
    run(4, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_campaigns_ahead_in_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
