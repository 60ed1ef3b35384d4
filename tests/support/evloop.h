/* SPDX-License-Identifier: MIT */
/*
 * evloop: bounded ways for tests to run a libev loop. Every wait is bounded
 * in iterations and in time (an ev_timer guard), so a bug fails the test
 * instead of hanging it.
 */
#ifndef TESTS_SUPPORT_EVLOOP_H
#define TESTS_SUPPORT_EVLOOP_H

#include <ev.h>
#include <stdbool.h>

/*
 * Runs loop until *counter reaches target or max_s seconds pass. Returns
 * true when the target was reached.
 */
bool evloop_run_until(struct ev_loop *loop, const int *counter, int target, double max_s);

/* Lets loop run for s seconds. */
void evloop_run_for(struct ev_loop *loop, double s);

#endif
