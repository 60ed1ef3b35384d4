/* SPDX-License-Identifier: MIT */
/*
 * timer: one binary heap of call timers behind one libev timer.
 *
 * Every scheduled thing in the simulator (a far end answering, a dialplan
 * Wait(), a playback ending, a scripted digit) is a struct sim_timer
 * embedded in its owner. The heap orders timers by (due time, start
 * sequence), so timers due at the same instant fire in the order they were
 * started; together with the seeded outcome streams this keeps a run
 * reproducible. Starting or stopping is O(log n). One ev_timer is re-armed
 * to the earliest due time from an ev_prepare watcher, i.e. once per loop
 * iteration rather than once per change.
 *
 * Delays given with sim__timer_after() are simulated time and are multiplied
 * by the time scale (--time-scale 0.1 runs ten times faster).
 */
#include <stdlib.h>

#include "core/clock.h"
#include "sim/sim_int.h"

static int earlier(const struct sim_timer *a, const struct sim_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(struct sim_timers *ts, uint32_t i, struct sim_timer *t)
{
    ts->h[i] = t;
    t->idx = i + 1;
}

static void sift_up(struct sim_timers *ts, uint32_t i)
{
    struct sim_timer *t = ts->h[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!earlier(t, ts->h[parent])) {
            break;
        }
        heap_set(ts, i, ts->h[parent]);
        i = parent;
    }
    heap_set(ts, i, t);
}

static void sift_down(struct sim_timers *ts, uint32_t i)
{
    struct sim_timer *t = ts->h[i];
    for (;;) {
        uint32_t l = 2 * i + 1;
        uint32_t m = l;
        if (l >= ts->n) {
            break;
        }
        if (l + 1 < ts->n && earlier(ts->h[l + 1], ts->h[l])) {
            m = l + 1;
        }
        if (!earlier(ts->h[m], t)) {
            break;
        }
        heap_set(ts, i, ts->h[m]);
        i = m;
    }
    heap_set(ts, i, t);
}

void sim__timer_init(struct sim_timer *t, sim_timer_cb *cb)
{
    t->due = 0;
    t->seq = 0;
    t->idx = 0;
    t->cb = cb;
}

void sim__timer_stop(struct sim *s, struct sim_timer *t)
{
    struct sim_timers *ts = &s->timers;
    uint32_t i;

    if (t->idx == 0) {
        return;
    }
    i = t->idx - 1;
    t->idx = 0;
    ts->n--;
    if (i == ts->n) {
        return;
    }
    heap_set(ts, i, ts->h[ts->n]);
    if (i > 0 && earlier(ts->h[i], ts->h[(i - 1) / 2])) {
        sift_up(ts, i);
    } else {
        sift_down(ts, i);
    }
}

void sim__timer_at(struct sim *s, struct sim_timer *t, int64_t due_us)
{
    struct sim_timers *ts = &s->timers;

    sim__timer_stop(s, t);
    if (ts->n == ts->cap) {
        uint32_t cap = ts->cap ? ts->cap * 2 : 1024;
        struct sim_timer **h = realloc(ts->h, sizeof(*h) * cap);
        if (h == NULL) {
            abort();
        }
        ts->h = h;
        ts->cap = cap;
    }
    t->due = due_us;
    t->seq = ++ts->seq;
    heap_set(ts, ts->n, t);
    ts->n++;
    sift_up(ts, ts->n - 1);
}

void sim__timer_after(struct sim *s, struct sim_timer *t, int64_t delay_us)
{
    int64_t scaled = delay_us <= 0 ? 0 : (int64_t)((double)delay_us * s->time_scale);
    sim__timer_at(s, t, clock_mono_us() + scaled);
}

void sim__timers_fini(struct sim_timers *ts)
{
    for (uint32_t i = 0; i < ts->n; i++) {
        ts->h[i]->idx = 0;
    }
    free(ts->h);
    ts->h = NULL;
    ts->n = ts->cap = 0;
}

void sim__timers_run(struct sim *s)
{
    struct sim_timers *ts = &s->timers;
    int64_t now = clock_mono_us();

    s->in_dispatch = 1;
    while (ts->n > 0 && ts->h[0]->due <= now) {
        struct sim_timer *t = ts->h[0];
        sim__timer_stop(s, t);
        s->stats.timers_fired++;
        t->cb(s, t);
    }
    s->in_dispatch = 0;
    sim__reap(s);
}

void sim__timers_arm(struct sim *s)
{
    struct sim_timers *ts = &s->timers;
    double delay;

    ev_timer_stop(s->loop, &s->loop_timer);
    if (ts->n == 0) {
        return;
    }
    delay = (double)(ts->h[0]->due - clock_mono_us()) / 1e6;
    if (delay < 0) {
        delay = 0;
    }
    ev_timer_set(&s->loop_timer, delay, 0.);
    ev_timer_start(s->loop, &s->loop_timer);
}
