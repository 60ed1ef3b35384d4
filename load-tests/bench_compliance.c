/* SPDX-License-Identifier: MIT */
/*
 * bench_compliance: calling-window verdicts per second on one core.
 *
 * Three loops over a fixed mix of numbers (single-zone US states with and
 * without holiday calendars, a split-zone area code, Canada, France, an
 * unknown number judged by the all-US-zones fallback) at instants spread
 * over two weeks, so about half the verdicts are blocks that search for the
 * next eligible moment:
 *   check          compliance_window_check() on places located beforehand
 *                  (the scheduler's case: the place is stored with the contact)
 *   locate+check   compliance_locate() then the check
 *   locate         compliance_locate() alone
 * Zones are preloaded so file I/O is not measured. Usage:
 *   bench_compliance [seconds-per-loop]   (default 1)
 * Output: one line per loop, "name N verdicts/s (allow A%)".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compliance/compliance.h"

static const char *const numbers[] = {
    "+12125550123", /* NY: federal only */
    "+13055550123", /* FL: 8-20 */
    "+12055550123", /* AL: 8-20, Sunday, holidays */
    "+18015550123", /* UT: holidays */
    "+16055550123", /* SD: two zones */
    "+14165550123", /* ON: CRTC */
    "+33142685300", /* FR: lunch gap, weekends, holidays */
    "+13125550123", /* IL */
    "+14155550123", /* CA */
    "+19995550123", /* unknown: fallback in nine zones */
};
#define NNUM (sizeof(numbers) / sizeof(numbers[0]))
#define NT   997 /* instants, coprime with NNUM */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    /* "quick" (make bench), "full" (make load) or a number of seconds per mode. */
    double secs = 1.0;
    if (argc > 1) {
        if (strcmp(argv[1], "quick") == 0) {
            secs = 2.0;
        } else if (strcmp(argv[1], "full") == 0) {
            secs = 10.0;
        } else {
            secs = strtod(argv[1], NULL);
        }
    }
    if (secs <= 0.0) {
        secs = 1.0;
    }
    struct compliance_options opts = { NULL, 1 };
    struct compliance_place places[NNUM];
    int64_t times[NT];
    /* 2026-10-25T00:00:00Z and the following two weeks, 20 min 17 s apart. */
    const int64_t t0 = INT64_C(1792886400) * 1000000;

    if (compliance_init(&opts) != 0) {
        fprintf(stderr, "compliance_init failed\n");
        return 1;
    }
    for (size_t i = 0; i < NNUM; i++) {
        if (compliance_locate(numbers[i], &places[i]) != 0) {
            return 1;
        }
    }
    for (int i = 0; i < NT; i++) {
        times[i] = t0 + (int64_t)i * 1217 * 1000000;
    }

    for (int mode = 0; mode < 3; mode++) {
        static const char *const names[] = { "check", "locate+check", "locate" };
        uint64_t n = 0, allowed = 0, sink = 0;
        double start = now_s(), el;
        do {
            for (int k = 0; k < 10000; k++, n++) {
                size_t i = n % NNUM;
                int64_t t = times[n % NT];
                struct compliance_verdict v;
                struct compliance_place p;
                if (mode == 0) {
                    compliance_window_check(&places[i], NULL, t, &v);
                } else {
                    compliance_locate(numbers[i], &p);
                    if (mode == 2) {
                        sink += p.nzones;
                        continue;
                    }
                    compliance_window_check(&p, NULL, t, &v);
                }
                allowed += v.verdict == COMPLIANCE_ALLOW;
                sink += (uint64_t)v.next_eligible_us;
            }
            el = now_s() - start;
        } while (el < secs);
        printf("%-13s %10.0f %s/s (allow %.0f%%) [%" PRIu64 "]\n", names[mode], (double)n / el,
               mode == 2 ? "lookups" : "verdicts",
               mode == 2 ? 0.0 : 100.0 * (double)allowed / (double)n, sink % 10);
        {
            static const char *const bench_names[] = { "compliance_verdicts_per_sec",
                                                       "compliance_locate_check_per_sec",
                                                       "compliance_locate_per_sec" };
            double rate = (double)n / el;
            printf("BENCH name=%s value=%.0f unit=per_s target=%s ok=%s\n", bench_names[mode], rate,
                   mode == 0 ? ">=2000000" : "", mode != 0 || rate >= 2000000.0 ? "yes" : "no");
        }
    }
    compliance_fini();
    return 0;
}
