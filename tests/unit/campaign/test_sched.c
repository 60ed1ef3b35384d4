/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for campaign/sched.c: verdicts, the ready set, pause within one
 * tick, fairness across tenants and campaigns, the global gate, launch
 * failures and CPS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "core/err.h"

#define SEC  INT64_C(1000000)
#define MS   INT64_C(1000)
#define T0   (INT64_C(1795878000) * SEC)
#define MAXC 16

struct world {
    struct campaign_sched *s;
    int64_t launched[MAXC]; /* launches per campaign id (ids 1..MAXC-1) */
    int64_t order[256];     /* contact ids in launch order */
    int norder;
    int fail_next;       /* launches to refuse */
    int gate_open;       /* -1: unlimited */
    int64_t block_below; /* contact ids below this are blocked by the verdict */
    int block_reason;
};

static int launch(void *arg, const struct campaign_launch *l)
{
    struct world *w = arg;
    if (w->fail_next > 0) {
        w->fail_next--;
        return ERR_DISCONNECTED;
    }
    w->launched[l->contact->campaign_id]++;
    if (w->norder < 256) {
        w->order[w->norder++] = l->contact->id;
    }
    return 0;
}

static void verdict(void *arg, const struct campaign_contact *c, int64_t now_us,
                    struct campaign_verdict *v)
{
    struct world *w = arg;
    if (c->id < w->block_below) {
        v->allow = false;
        v->reason = (enum campaign_wait_reason)w->block_reason;
        v->next_us = now_us + 3600 * SEC;
    }
}

static int gate(void *arg, int64_t tenant_id, int want)
{
    struct world *w = arg;
    (void)tenant_id;
    if (w->gate_open < 0) {
        return want;
    }
    int n = want < w->gate_open ? want : w->gate_open;
    w->gate_open -= n;
    return n;
}

/* Per-trunk room: campaign 1's trunk has room_left launches; undo gives one back. */
struct room_world {
    struct world *w;
    int room_left;
    int taken; /* taken and not given back nor launched */
    int undone;
};

static bool room(void *arg, const struct campaign_contact *c, bool take)
{
    struct room_world *r = arg;
    if (c->campaign_id != 1) {
        return true;
    }
    if (!take) {
        r->room_left++;
        r->undone++;
        return true;
    }
    if (r->room_left < 1) {
        return false;
    }
    r->room_left--;
    return true;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    struct campaign_sched_opts o = {
        .verdict = verdict,
        .verdict_arg = w,
        .launch = launch,
        .launch_arg = w,
        .gate = gate,
        .gate_arg = w,
    };
    w->gate_open = -1;
    w->block_reason = CAMPAIGN_WAIT_WINDOW;
    assert_int_equal(campaign_sched_create(&o, &w->s), 0);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    campaign_sched_destroy(w->s);
    free(w);
    return 0;
}

/* Adds n contacts (ids first..first+n-1) due at due to campaign id. */
static void add(struct world *w, int64_t campaign, int64_t first, int n, int64_t due)
{
    struct campaign_batch *b = calloc(1, sizeof(*b) + (size_t)n * sizeof(b->contacts[0]));
    b->campaign_id = campaign;
    b->n = (size_t)n;
    for (int i = 0; i < n; i++) {
        b->contacts[i].id = first + i;
        b->contacts[i].due_us = due;
        snprintf(b->contacts[i].number, sizeof(b->contacts[i].number), "+1415555%04d",
                 (int)((first + i) % 10000));
    }
    assert_int_equal(campaign_sched_add(w->s, b), 0);
    campaign_batch_free(b);
}

static void campaign(struct world *w, int64_t tenant, int64_t id, int ports, double cps)
{
    struct campaign_settings s;
    campaign_settings_default(&s);
    s.pacing = cps > 0 ? CAMPAIGN_PACING_FIXED : CAMPAIGN_PACING_PROGRESSIVE;
    s.cps = cps;
    assert_int_equal(campaign_sched_campaign(w->s, tenant, id, &s, ports, T0), 0);
    assert_int_equal(campaign_sched_set_running(w->s, id, true), 0);
}

static void test_sched_due_order_and_verdicts(void **state)
{
    struct world *w = *state;
    struct campaign_ready r;
    campaign(w, 1, 1, 5, 0);
    add(w, 1, 100, 5, T0 + 2 * SEC); /* later */
    add(w, 1, 10, 5, T0);            /* due now; 10..11 blocked by the window */
    w->block_below = 12;
    assert_int_equal(campaign_sched_tick(w->s, T0), 3);
    assert_int_equal(w->order[0] < 15 && w->order[0] >= 12, 1);
    assert_int_equal(campaign_sched_ready(w->s, 1, T0, &r), 0);
    assert_int_equal(r.dialable, 0);
    assert_int_equal(r.waiting[CAMPAIGN_WAIT_WINDOW], 2);
    assert_int_equal(r.waiting[CAMPAIGN_WAIT_RETRY], 5);
    assert_int_equal(r.ringing, 3);
    /* the ports are busy (3 ringing of 5): two more when the later ones are due */
    assert_int_equal(campaign_sched_tick(w->s, T0 + 2 * SEC), 2);
    assert_true(w->order[3] >= 100 && w->order[4] >= 100); /* the later ones */
    assert_int_equal(campaign_sched_ready(w->s, 1, T0 + 2 * SEC, &r), 0);
    assert_int_equal(r.dialable, 3);
    json_t *j = campaign_ready_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "dialable")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "waiting"), "window")),
                     2);
    json_decref(j);
    /* blocked contacts come back when their next eligible time passes */
    for (int i = 0; i < 5; i++) {
        campaign_sched_call_ended(w->s, 1, false, 25);
    }
    w->block_below = 0;
    assert_int_equal(campaign_sched_tick(w->s, T0 + 3601 * SEC), 5);
    assert_int_equal(campaign_sched_ready(w->s, 1, T0 + 3601 * SEC, &r), 0);
    assert_int_equal(r.dialable + r.waiting[CAMPAIGN_WAIT_WINDOW], 0);
}

static void test_sched_pause_stops_launches_within_one_tick(void **state)
{
    struct world *w = *state;
    campaign(w, 1, 1, 0, 10); /* fixed 10 cps */
    add(w, 1, 1, 100, T0);
    int64_t t = T0;
    assert_true(campaign_sched_tick(w->s, t) > 0);
    assert_int_equal(campaign_sched_set_running(w->s, 1, false), 0);
    int64_t before = w->launched[1];
    for (int i = 0; i < 20; i++) {
        t += 100 * MS;
        assert_int_equal(campaign_sched_tick(w->s, t), 0);
    }
    assert_int_equal(w->launched[1], before);
    struct campaign_ready r;
    campaign_sched_ready(w->s, 1, t, &r);
    assert_false(r.running);
    assert_int_equal(r.dialable, 100 - before);
    assert_int_equal(campaign_sched_set_running(w->s, 1, true), 0);
    t += 100 * MS;
    assert_true(campaign_sched_tick(w->s, t) > 0);
}

static void test_sched_fair_across_tenants_and_campaigns(void **state)
{
    struct world *w = *state;
    struct campaign_sched_opts o = { .launch = launch, .launch_arg = w, .max_per_tick = 12 };
    campaign_sched_destroy(w->s);
    assert_int_equal(campaign_sched_create(&o, &w->s), 0);
    /* tenant 1: three campaigns; tenant 2: one; tenant 3: one with a tiny list */
    for (int c = 1; c <= 3; c++) {
        campaign(w, 1, c, 0, 1000);
        add(w, c, c * 10000, 5000, T0);
    }
    campaign(w, 2, 4, 0, 1000);
    add(w, 4, 40000, 5000, T0);
    campaign(w, 3, 5, 0, 1000);
    add(w, 5, 50000, 10, T0);
    int64_t t = T0;
    for (int i = 0; i < 100; i++) {
        t += 100 * MS;
        assert_int_equal(campaign_sched_tick(w->s, t), 12);
    }
    /* tenant 3 got its 10; the rest is shared half and half by tenants 1 and 2 */
    int64_t t1 = w->launched[1] + w->launched[2] + w->launched[3];
    print_message("tenant 1: %lld (%lld %lld %lld), tenant 2: %lld, tenant 3: %lld\n",
                  (long long)t1, (long long)w->launched[1], (long long)w->launched[2],
                  (long long)w->launched[3], (long long)w->launched[4], (long long)w->launched[5]);
    assert_int_equal(w->launched[5], 10);
    assert_true(llabs(t1 - w->launched[4]) <= 12);
    for (int c = 1; c <= 3; c++) {
        assert_true(llabs(w->launched[c] - t1 / 3) <= 12);
    }
}

static void test_sched_tenant_caps(void **state)
{
    struct world *w = *state;
    campaign(w, 1, 1, 0, 1000);
    campaign(w, 1, 2, 0, 1000);
    add(w, 1, 1, 100, T0);
    add(w, 2, 1000, 100, T0);
    assert_int_equal(campaign_sched_tenant(w->s, 1, 0, 7, T0), 0); /* 7 channels for the tenant */
    assert_int_equal(campaign_sched_tick(w->s, T0), 7);
    assert_int_equal(campaign_sched_tick(w->s, T0 + SEC), 0);
    struct campaign_ready r;
    campaign_sched_ready(w->s, 1, T0 + SEC, &r);
    assert_int_equal(r.dialable, 0);
    assert_true(r.waiting[CAMPAIGN_WAIT_CAP] > 90);
    campaign_sched_call_ended(w->s, 1, false, 20);
    campaign_sched_call_ended(w->s, 2, false, 20);
    assert_int_equal(campaign_sched_tick(w->s, T0 + 2 * SEC), 2);
}

static void test_sched_gate_closed_means_no_launch(void **state)
{
    struct world *w = *state;
    campaign(w, 1, 1, 0, 1000);
    add(w, 1, 1, 50, T0);
    w->gate_open = 0; /* Redis down: the allowance is empty */
    assert_int_equal(campaign_sched_tick(w->s, T0), 0);
    struct campaign_ready r;
    campaign_sched_ready(w->s, 1, T0, &r);
    assert_int_equal(r.waiting[CAMPAIGN_WAIT_CAP], 50);
    w->gate_open = 4;
    assert_int_equal(campaign_sched_tick(w->s, T0 + SEC), 4);
}

static void test_sched_room_holds_one_campaign_and_undoes(void **state)
{
    struct world *w = *state;
    struct room_world rw = { .w = w, .room_left = 3 };
    struct campaign_sched_opts o = {
        .launch = launch,
        .launch_arg = w,
        .gate = gate,
        .gate_arg = w,
        .room = room,
        .room_arg = &rw,
    };
    campaign_sched_destroy(w->s);
    assert_int_equal(campaign_sched_create(&o, &w->s), 0);
    campaign(w, 1, 1, 0, 1000); /* on the full trunk */
    campaign(w, 1, 2, 0, 1000); /* same tenant, another route */
    add(w, 1, 1, 50, T0);
    add(w, 2, 1000, 50, T0);
    /* the trunk lets 3 of campaign 1 go; campaign 2 goes on */
    assert_int_equal(campaign_sched_tick(w->s, T0), 53);
    assert_int_equal(w->launched[1], 3);
    assert_int_equal(w->launched[2], 50);
    struct campaign_ready r;
    campaign_sched_ready(w->s, 1, T0, &r);
    assert_int_equal(r.dialable, 0);
    assert_int_equal(r.waiting[CAMPAIGN_WAIT_CAP], 47); /* held by a cap, not lost */
    /* room again, but the global gate is shut: what the room took goes back */
    rw.room_left = 2;
    w->gate_open = 0;
    assert_int_equal(campaign_sched_tick(w->s, T0 + SEC), 0);
    assert_int_equal(rw.undone, 1);
    assert_int_equal(rw.room_left, 2);
    w->gate_open = -1;
    assert_int_equal(campaign_sched_tick(w->s, T0 + 2 * SEC), 2);
    assert_int_equal(w->launched[1], 5);
}

static void test_sched_launch_failure_retries_later(void **state)
{
    struct world *w = *state;
    campaign(w, 1, 1, 3, 0);
    add(w, 1, 1, 1, T0);
    w->fail_next = 1;
    assert_int_equal(campaign_sched_tick(w->s, T0), 0);
    assert_int_equal(campaign_sched_tick(w->s, T0 + 4 * SEC), 0);
    assert_int_equal(campaign_sched_tick(w->s, T0 + 5 * SEC), 1);
    struct campaign_sched_stats st;
    campaign_sched_stats(w->s, &st);
    assert_int_equal(st.launch_failures, 1);
    assert_int_equal(st.launches, 1);
}

static void test_sched_fixed_cps_is_smooth(void **state)
{
    struct world *w = *state;
    campaign(w, 1, 1, 0, 20);
    add(w, 1, 1, 2000, T0);
    int64_t t = T0;
    campaign_sched_tick(w->s, t); /* the initial bucket */
    int64_t start = w->launched[1];
    for (int i = 0; i < 100; i++) { /* 10 s of 100 ms ticks */
        t += 100 * MS;
        int n = campaign_sched_tick(w->s, t);
        assert_true(n <= 2);
    }
    assert_int_equal(w->launched[1] - start, 200);
    assert_int_equal(campaign_sched_campaign(w->s, 2, 1, &(struct campaign_settings){ 0 }, 0, t),
                     ERR_CONFLICT);
    assert_int_equal(campaign_sched_set_running(w->s, 99, true), ERR_NOTFOUND);
}

static void count_contact(void *arg, const struct campaign_contact *c)
{
    int64_t *sum = arg;
    *sum += c->id;
}

static void test_sched_evict_blocked_beyond_the_lease(void **state)
{
    struct world *w = *state;
    int64_t sum = 0;
    campaign(w, 1, 1, 0, 0); /* progressive with no ports: nothing launches */
    add(w, 1, 1, 10, T0);
    add(w, 1, 100, 5, T0 + 7200 * SEC); /* a callback in two hours */
    w->block_below = 4;                 /* 1..3 outside the window for an hour */
    campaign_sched_tick(w->s, T0);
    assert_int_equal(campaign_sched_foreach(w->s, 1, count_contact, &sum), 0);
    assert_int_equal(sum, 55 + 510);
    /* the lease lasts 30 minutes: hand back what waits longer */
    sum = 0;
    assert_int_equal(campaign_sched_evict(w->s, 1, T0 + 1800 * SEC, count_contact, &sum), 5);
    assert_int_equal(sum, 510);
    /* verdict-blocked ones were not evaluated (no ports): still held, still in order */
    struct campaign_ready r;
    campaign_sched_ready(w->s, 1, T0, &r);
    assert_int_equal(r.dialable, 10);
    w->launched[1] = 0;
    assert_int_equal(campaign_sched_campaign(
                         w->s, 1, 1,
                         &(struct campaign_settings){ .pacing = CAMPAIGN_PACING_PROGRESSIVE }, 3,
                         T0),
                     0);
    assert_int_equal(campaign_sched_tick(w->s, T0), 3);
    assert_true(w->order[0] >= 4 && w->order[1] >= 4 && w->order[2] >= 4);
    assert_int_equal(campaign_sched_evict(w->s, 1, INT64_MIN, NULL, NULL), 7);
    campaign_sched_ready(w->s, 1, T0, &r);
    assert_int_equal(r.dialable + r.waiting[CAMPAIGN_WAIT_WINDOW], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sched_due_order_and_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_pause_stops_launches_within_one_tick, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_fair_across_tenants_and_campaigns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_tenant_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_gate_closed_means_no_launch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_room_holds_one_campaign_and_undoes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_launch_failure_retries_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_fixed_cps_is_smooth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_evict_blocked_beyond_the_lease, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
