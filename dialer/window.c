/* SPDX-License-Identifier: MIT */
/*
 * The originate window (docs/dialer.md section 1g): how many originates may
 * be out at once, from what their answers take.
 *
 * Past its knee an ARI server (and the PostgreSQL behind the attempt rows)
 * answers later and later; without a bound the launches pile up in the ARI
 * client's queue until they reach ari.request-timeout, and every originate
 * that times out is an attempt spent on a call of unknown fate ("lost").
 * Throughput then falls far below the knee instead of levelling off at it
 * (measured: a 20,000-contact burst at 5,000 attempts/s offered dialed
 * 13,251 numbers, 6,765 originates timed out, and the campaign ended with a
 * third of its contacts spent undialed).
 *
 * The window follows the answers, as TCP's congestion window follows its
 * acknowledgements (additive increase, multiplicative decrease; Jacobson
 * 1988, RFC 5681; the latency signal as in TCP Vegas):
 *   - an originate answered within the target latency, while the window
 *     was at least half used, opens it by one (so it doubles every round
 *     trip while the server keeps up, like slow start; an idle window does
 *     not grow, so a burst after a quiet spell meets the window the last
 *     load earned, not an unbounded one);
 *   - an answer later than the target closes it to 4/5, a timeout or a
 *     transport error to 1/2, at most once per DIALER_WINDOW_CUT_US (the
 *     answers of one congested moment arrive together: one cut for them);
 *   - it stays within [DIALER_WINDOW_MIN, max].
 * The scheduler's gate counts launches in flight against min(the window,
 * dialer.max-launching): above it the contacts wait, leased, nothing spent.
 * Pure: the unit tests drive it with their own clock.
 */
#include "dialer/dialer_int.h"

void dialer_window_init(struct dialer_window *w, int max, int64_t target_us)
{
    w->max = max > DIALER_WINDOW_MIN ? max : DIALER_WINDOW_MIN;
    w->limit = DIALER_WINDOW_START < w->max ? DIALER_WINDOW_START : w->max;
    w->target_us = target_us;
    w->last_cut_us = INT64_MIN / 2;
    w->cuts = 0;
}

void dialer_window_answer(struct dialer_window *w, int64_t latency_us, bool timed_out,
                          int in_flight, int64_t now_us)
{
    if (w->target_us <= 0) {
        return; /* off: dialer.max-launching alone */
    }
    bool late = timed_out || latency_us > w->target_us;
    if (!late) {
        if ((double)in_flight * 2.0 >= w->limit && w->limit < w->max) {
            w->limit += 1.0;
            if (w->limit > w->max) {
                w->limit = w->max;
            }
        }
        return;
    }
    if (now_us - w->last_cut_us < DIALER_WINDOW_CUT_US) {
        return;
    }
    w->last_cut_us = now_us;
    w->cuts++;
    w->limit *= timed_out ? 0.5 : 0.8;
    if (w->limit < DIALER_WINDOW_MIN) {
        w->limit = DIALER_WINDOW_MIN;
    }
}

int dialer_window_limit(const struct dialer_window *w)
{
    return w->target_us <= 0 ? w->max : (int)w->limit;
}
