/* SPDX-License-Identifier: MIT */
/* evloop: see evloop.h. */
#include "tests/support/evloop.h"

static void guard_fired(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(bool *)w->data = true;
}

bool evloop_run_until(struct ev_loop *loop, const int *counter, int target, double max_s)
{
    bool fired = false;
    ev_timer guard;

    ev_timer_init(&guard, guard_fired, max_s, 0.);
    guard.data = &fired;
    ev_timer_start(loop, &guard);
    for (long i = 0; i < 1000000 && *counter < target && !fired; i++) {
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &guard);
    return *counter >= target;
}

void evloop_run_for(struct ev_loop *loop, double s)
{
    int never = 0;
    (void)evloop_run_until(loop, &never, 1, s);
}
