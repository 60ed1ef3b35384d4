/* SPDX-License-Identifier: MIT */
/* clock: see clock.h. */
#include "core/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

/* INT64_MIN means "no fake time". Relaxed: the value is self-contained. */
static _Atomic int64_t fake_us = INT64_MIN;

static int64_t ts_us(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * CLOCK_US_PER_SEC + ts->tv_nsec / 1000;
}

int64_t clock_wall_us(void)
{
    int64_t f = atomic_load_explicit(&fake_us, memory_order_relaxed);
    struct timespec ts;

    if (f != INT64_MIN) {
        return f;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_us(&ts);
}

int64_t clock_mono_us(void)
{
    int64_t f = atomic_load_explicit(&fake_us, memory_order_relaxed);
    struct timespec ts;

    if (f != INT64_MIN) {
        return f;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_us(&ts);
}

void clock_set_fake(int64_t us)
{
    atomic_store_explicit(&fake_us, us, memory_order_relaxed);
}

void clock_advance(int64_t delta_us)
{
    int64_t cur = atomic_load_explicit(&fake_us, memory_order_relaxed);
    while (cur != INT64_MIN &&
           !atomic_compare_exchange_weak_explicit(&fake_us, &cur, cur + delta_us,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void clock_clear_fake(void)
{
    atomic_store_explicit(&fake_us, INT64_MIN, memory_order_relaxed);
}

int clock_is_fake(void)
{
    return atomic_load_explicit(&fake_us, memory_order_relaxed) != INT64_MIN;
}

char *clock_format_utc(int64_t us, char *buf, unsigned long size)
{
    time_t sec = (time_t)(us / CLOCK_US_PER_SEC);
    int64_t rem = us % CLOCK_US_PER_SEC;
    struct tm tm;
    char tmp[24];

    if (rem < 0) {
        rem += CLOCK_US_PER_SEC;
        sec -= 1;
    }
    gmtime_r(&sec, &tm);
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", tmp, (int)(rem / 1000));
    return buf;
}
