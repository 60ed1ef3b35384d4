/* SPDX-License-Identifier: MIT */
/*
 * bench_campaign_sched: the scheduler's and pacing's cost on one core.
 *
 *   campaign_sched_decisions_per_sec  launches decided per second of tick
 *       time: 10 campaigns of 2 tenants, 20,000 contacts each, one in ten
 *       blocked by the verdict (and put back with a next eligible time),
 *       ticks without a launch budget until every contact is launched;
 *   campaign_decision_to_launch_p99_us  microseconds from the start of a
 *       tick (the decision time) to each launch callback, with 200 launches
 *       per 100 ms tick (2,000 per second), p99 over all launches;
 *   campaign_pacing_predictive_ns  nanoseconds per predictive pacing
 *       computation (200 ports, 150 connected, 100 ringing);
 *   campaign_pacing_power_ns  the same for power pacing (the cheap modes).
 * Usage: bench_campaign_sched [quick|full]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign/campaign.h"
#include "core/clock.h"

enum { NCAMP = 10, PER_CAMP = 20000 };

static int64_t *lat;
static size_t nlat, caplat;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int launch(void *arg, const struct campaign_launch *l)
{
    (void)arg;
    if (nlat < caplat) {
        lat[nlat++] = clock_mono_us() - l->decided_us;
    }
    return 0;
}

static void verdict(void *arg, const struct campaign_contact *c, int64_t now_us,
                    struct campaign_verdict *v)
{
    (void)arg;
    if (c->id % 10 == 0 && c->due_us < now_us + 1) {
        v->allow = false;
        v->reason = CAMPAIGN_WAIT_WINDOW;
        v->next_us = now_us + INT64_C(3600000000);
    }
}

static struct campaign_sched *build(int max_per_tick, int64_t now)
{
    struct campaign_sched *s = NULL;
    struct campaign_sched_opts o = { .verdict = verdict,
                                     .launch = launch,
                                     .max_per_tick = max_per_tick };
    struct campaign_settings set;
    campaign_settings_default(&set);
    set.pacing = CAMPAIGN_PACING_FIXED;
    set.cps = 1e6;
    if (campaign_sched_create(&o, &s) != 0) {
        exit(1);
    }
    struct campaign_batch *b = calloc(1, sizeof(*b) + PER_CAMP * sizeof(b->contacts[0]));
    for (int c = 1; c <= NCAMP; c++) {
        campaign_sched_campaign(s, 1 + c % 2, c, &set, 0, now);
        campaign_sched_set_running(s, c, true);
        b->campaign_id = c;
        b->n = PER_CAMP;
        for (int i = 0; i < PER_CAMP; i++) {
            b->contacts[i].id = (int64_t)c * 1000000 + i;
            b->contacts[i].due_us = now - i;
            snprintf(b->contacts[i].number, sizeof(b->contacts[i].number), "+1415%07d", i);
        }
        campaign_sched_add(s, b);
    }
    free(b);
    return s;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int full = argc > 1 && strcmp(argv[1], "full") == 0;
    caplat = (size_t)NCAMP * PER_CAMP;
    lat = malloc(caplat * sizeof(*lat));

    /* decisions per second */
    int64_t now = clock_mono_us();
    struct campaign_sched *s = build(0, now);
    double t0 = now_s();
    long launched = 0;
    for (int i = 0; i < 100 && launched < (long)NCAMP * PER_CAMP * 9 / 10; i++) {
        launched += campaign_sched_tick(s, clock_mono_us());
    }
    double el = now_s() - t0;
    struct campaign_sched_stats st;
    campaign_sched_stats(s, &st);
    double rate = (double)launched / el;
    printf("scheduler: %ld launches, %llu verdicts in %.3f s\n", launched,
           (unsigned long long)st.verdicts, el);
    printf("BENCH name=campaign_sched_decisions_per_sec value=%.0f unit=per_s target=>=200000 "
           "ok=%s\n",
           rate, rate >= 200000 ? "yes" : "no");
    campaign_sched_destroy(s);

    /* decision-to-launch latency at 2,000 launches per second */
    nlat = 0;
    s = build(200, clock_mono_us());
    int ticks = full ? 900 : 300;
    for (int i = 0; i < ticks; i++) {
        campaign_sched_tick(s, clock_mono_us());
    }
    qsort(lat, nlat, sizeof(*lat), cmp);
    double p99 = nlat ? (double)lat[nlat * 99 / 100] : 0;
    printf("latency: %zu launches, p50 %lld us, p99 %.0f us, max %lld us\n", nlat,
           nlat ? (long long)lat[nlat / 2] : 0LL, p99, nlat ? (long long)lat[nlat - 1] : 0LL);
    printf("BENCH name=campaign_decision_to_launch_p99_us value=%.0f unit=us target=<=5000 ok=%s\n",
           p99, p99 <= 5000 ? "yes" : "no");
    campaign_sched_destroy(s);

    /* pacing computation */
    struct campaign_settings set;
    struct campaign_estimator e;
    campaign_settings_default(&set);
    campaign_estimator_init(&e, 0.25, 60);
    for (int i = 0; i < 500; i++) {
        campaign_estimator_resolve(&e, i % 4 == 0, 9);
    }
    for (int mode = 0; mode < 2; mode++) {
        set.pacing = mode == 0 ? CAMPAIGN_PACING_PREDICTIVE : CAMPAIGN_PACING_POWER;
        set.dial_ratio = 2;
        long n = full ? 2000000 : 300000, sink = 0;
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            struct campaign_pacing_in in = {
                .ringing = 100 + (int)(i % 7), .connected = 150, .ports = 200, .abandon = 0.01
            };
            sink += campaign_pacing_want(&set, &e, &in);
        }
        double ns = (now_s() - t0) * 1e9 / (double)n;
        printf("pacing %s: %.0f ns per computation [%ld]\n", mode ? "power" : "predictive", ns,
               sink % 10);
        printf("BENCH name=campaign_pacing_%s_ns value=%.0f unit=ns target=<=%s ok=%s\n",
               mode ? "power" : "predictive", ns, mode ? "1000" : "20000",
               ns <= (mode ? 1000 : 20000) ? "yes" : "no");
    }
    free(lat);
    return 0;
}
