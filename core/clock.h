/* SPDX-License-Identifier: MIT */
/*
 * clock: the time every scheduling decision reads.
 *
 * Pacing, retry schedules, leases and calling windows take "now" from here and
 * never from the C library directly, so tests can set the time (a DST change
 * day, a lease expiry) without sleeping. In production clock_wall_us() is
 * CLOCK_REALTIME and clock_mono_us() is CLOCK_MONOTONIC; once a test calls
 * clock_set_fake(), both return the fake time (monotonic = fake wall time)
 * until clock_clear_fake(). Any thread may call any function here.
 */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <stdint.h>

#define CLOCK_US_PER_SEC INT64_C(1000000)
#define CLOCK_US_PER_MS  INT64_C(1000)

/* Microseconds since the Unix epoch (or the fake time). */
int64_t clock_wall_us(void);

/* Microseconds from an arbitrary fixed origin (or the fake time). */
int64_t clock_mono_us(void);

/* Freezes time at us (epoch microseconds). */
void clock_set_fake(int64_t us);

/* Moves the fake time forward by delta_us; no effect without a fake time. */
void clock_advance(int64_t delta_us);

/* Returns to the real clocks. */
void clock_clear_fake(void);

/* True while a fake time is set. */
int clock_is_fake(void);

/*
 * Formats epoch microseconds as RFC 3339 UTC with milliseconds
 * ("2026-11-01T06:30:00.000Z") into buf (at least 32 bytes). Returns buf.
 */
char *clock_format_utc(int64_t us, char *buf, unsigned long size);

#endif
