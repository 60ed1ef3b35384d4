/* SPDX-License-Identifier: MIT */
/*
 * dialer latency histograms on /metrics (see dialer/dialer.h,
 * dialer_hist_observe). Each histogram is a set of registered core counters
 * in Prometheus' cumulative form: <name>_bucket{le="..."} for a 1-2-5 series
 * of bounds from 100 us to 10 s plus +Inf, and <name>_count. An observation
 * adds one to every bucket whose bound it does not exceed (at most 17
 * relaxed atomic adds, on the loop thread that saw the latency). No _sum: the
 * load suite reads percentiles from the buckets.
 */
#include "dialer/dialer.h"

#include <stdbool.h>
#include <stdint.h>

#include "core/counter.h"

enum { NB = 17 };

/* Bucket bounds in microseconds (the last one is +Inf). */
static const int64_t bound_us[NB] = { 100,     200,     500,     1000,     2000,     5000,
                                      10000,   20000,   50000,   100000,   200000,   500000,
                                      1000000, 2000000, 5000000, 10000000, INT64_MAX };

#define C(name, le) COUNTER_INIT(COUNTER_KIND_COUNTER, #name "_bucket{le=\"" le "\"}", HELP_##name)
#define HIST(name)                                                                   \
    {                                                                                \
        { C(name, "0.0001"), C(name, "0.0002"), C(name, "0.0005"), C(name, "0.001"), \
          C(name, "0.002"),  C(name, "0.005"),  C(name, "0.01"),   C(name, "0.02"),  \
          C(name, "0.05"),   C(name, "0.1"),    C(name, "0.2"),    C(name, "0.5"),   \
          C(name, "1"),      C(name, "2"),      C(name, "5"),      C(name, "10"),    \
          C(name, "+Inf") },                                                         \
            COUNTER_INIT(COUNTER_KIND_COUNTER, #name "_count", HELP_##name)          \
    }

#define HELP_dialer_originate_seconds "Originate request sent to its ARI response, seconds"
#define HELP_dialer_decision_to_originate_seconds \
    "Scheduler launch decision to the originate request, seconds (caps, attempt row)"
#define HELP_dialer_event_to_action_seconds \
    "Answer event (StasisStart, or the AMD verdict) to the flow's first action, seconds"

struct hist {
    struct counter b[NB];
    struct counter count;
};

static struct hist hists[DIALER_HIST_COUNT_] = {
    [DIALER_HIST_ORIGINATE] = HIST(dialer_originate_seconds),
    [DIALER_HIST_DECISION] = HIST(dialer_decision_to_originate_seconds),
    [DIALER_HIST_EVENT_ACTION] = HIST(dialer_event_to_action_seconds),
};

void dialer_hist_register(void)
{
    for (int h = 0; h < DIALER_HIST_COUNT_; h++) {
        for (int i = 0; i < NB; i++) {
            counter_register(&hists[h].b[i]);
        }
        counter_register(&hists[h].count);
    }
}

void dialer_hist_observe(enum dialer_hist_id id, int64_t us)
{
    if ((unsigned)id >= DIALER_HIST_COUNT_) {
        return;
    }
    struct hist *h = &hists[id];
    if (us < 0) {
        us = 0;
    }
    for (int i = NB - 1; i >= 0 && us <= bound_us[i]; i--) {
        counter_inc(&h->b[i]);
    }
    counter_inc(&h->count);
}
