/* SPDX-License-Identifier: MIT */
/*
 * bench_dnc: the DNC index on one core.
 *
 * The benchmark generates a registry-like list: N distinct numbers at the
 * US national registry's density (about 253 million registered numbers
 * among the 8 * 10^9 NANP numbers with a valid area code, 3.2%), so the
 * bytes per number are those of the full registry. N is 10 million for
 * "quick" (make bench) and 50 million for "full" (make load); a number
 * argument sets N in millions.
 *
 * Figures:
 *   dnc_build_numbers_per_sec   parse a registry full file held in memory
 *                               (ten digits per line, random order) and
 *                               publish it: sort, compress, swap
 *   dnc_bytes_per_number        memory of the published set per number
 *   dnc_check_many_per_sec      compliance_dnc_check_many() of random
 *                               numbers (half on the list) against that
 *                               index: the scheduler's batch form, the
 *                               figure the 10 M/s target applies to
 *   dnc_check_per_sec           compliance_dnc_check() one number at a time
 *                               (E.164 string parse and hazard pin included)
 *   dnc_set_lookups_per_sec     the set's single membership test alone
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compliance/compliance.h"
#include "compliance/dnc_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* The i-th candidate number: area codes from 201 up, exchanges 200-999. */
static uint64_t nanp_key(uint64_t v)
{
    uint64_t npa = 201 + v / 8000000;
    uint64_t rest = 2000000 + v % 8000000;
    return UINT64_C(10000000000) + npa * 10000000 + rest;
}

static void report(const char *name, double value, const char *unit, const char *target, int ok)
{
    printf("BENCH name=%s value=%.2f unit=%s target=%s ok=%s\n", name, value, unit, target,
           ok ? "yes" : "no");
}

int main(int argc, char **argv)
{
    size_t millions = 10;
    double secs = 2.0;
    if (argc > 1) {
        if (strcmp(argv[1], "full") == 0) {
            millions = 50;
            secs = 5.0;
        } else if (strcmp(argv[1], "quick") != 0) {
            millions = (size_t)strtoul(argv[1], NULL, 10);
        }
    }
    if (millions == 0 || millions > 300) {
        fprintf(stderr, "usage: bench_dnc [quick|full|millions]\n");
        return 2;
    }
    const size_t n = millions * 1000000;
    const uint64_t space = (uint64_t)((double)n / 0.0316); /* registry density */
    uint64_t seed = 12345;

    /* The file: n lines "NPANXXXXXX\n" of distinct numbers in random order. */
    char *file = malloc(n * 11);
    uint64_t *present = malloc(n * sizeof(*present));
    if (file == NULL || present == NULL) {
        return 1;
    }
    size_t made = 0;
    for (uint64_t v = 0; made < n; v++) {
        if (rnd_next(&seed) % 1000 < 32 || space - v <= n - made) {
            present[made++] = nanp_key(v);
        }
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rnd_next(&seed) % (i + 1));
        uint64_t x = present[i];
        present[i] = present[j];
        present[j] = x;
    }
    for (size_t i = 0; i < n; i++) {
        char line[24];
        snprintf(line, sizeof(line), "%010" PRIu64 "\n", present[i] - UINT64_C(10000000000));
        memcpy(file + i * 11, line, 11);
    }

    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info li;
    struct compliance_dnc_parse_error err;
    struct compliance_dnc_list_stats st;
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_NATIONAL;
    li.list_id = 1;
    snprintf(li.country, sizeof(li.country), "%s", "US");
    if (compliance_dnc_create(&d) != 0 || compliance_dnc_builder_create(&b) != 0) {
        return 1;
    }
    double t = now_s();
    if (compliance_dnc_parse(file, n * 11, COMPLIANCE_DNC_FMT_REGISTRY, b, NULL, NULL, NULL,
                             &err) != 0 ||
        compliance_dnc_publish(d, &li, b, 0) != 0) {
        fprintf(stderr, "build failed: line %" PRIu64 " %s\n", err.line, err.message);
        return 1;
    }
    double build = now_s() - t;
    free(file);
    compliance_dnc_list_stats(d, &li, &st);
    double bpn = (double)st.bytes / (double)st.numbers;
    printf("dnc: %zu numbers, build %.2f s, %.3f bytes/number\n", n, build, bpn);
    report("dnc_build_numbers_per_sec", (double)n / build, "per_s", ">=5000000",
           (double)n / build >= 5e6);
    report("dnc_bytes_per_number", bpn, "bytes", "<=1", bpn <= 1.0);

    /* Queries: half present numbers, half random candidates (mostly absent). */
    enum { NQ = 1 << 20 };

    char(*q)[16] = malloc(NQ * sizeof(*q));
    uint64_t *qk = malloc(NQ * sizeof(*qk));
    for (size_t i = 0; i < NQ; i++) {
        uint64_t r = rnd_next(&seed);
        qk[i] = (r & 1) ? present[r % n] : nanp_key((r >> 1) % space);
        snprintf(q[i], sizeof(q[i]), "+%" PRIu64, qk[i]);
    }
    free(present);
    const struct compliance__ef *ef = compliance__dnc_ef(d, &li);
    uint8_t *res = malloc(NQ);
    for (int mode = 0; mode < 3; mode++) {
        uint64_t hits = 0, done = 0;
        double el;
        t = now_s();
        do {
            for (size_t i = 0; mode < 2 && i < NQ; i++) {
                if (mode == 0) {
                    hits += compliance_dnc_check(d, q[i], "US", 1, 0, NULL) == 1;
                } else if (mode == 1) {
                    hits += compliance__ef_contains(ef, qk[i]);
                }
            }
            if (mode == 2) {
                compliance_dnc_check_many(d, qk, NQ, "US", 1, 0, res, NULL);
                for (size_t i = 0; i < NQ; i++) {
                    hits += res[i];
                }
            }
            done += NQ;
            el = now_s() - t;
        } while (el < secs);
        static const char *const names[] = { "dnc_check_per_sec", "dnc_set_lookups_per_sec",
                                             "dnc_check_many_per_sec" };
        printf("%s: %.1f M/s, %.1f%% on the list\n", names[mode], (double)done / el / 1e6,
               100.0 * (double)hits / (double)done);
        report(names[mode], (double)done / el, "per_s", ">=10000000", (double)done / el >= 1e7);
    }
    /* The scheduler's in-memory decision (DNC, list age, window) on located
     * places, one contact at a time: informational, no target. */
    {
        enum { NP = 65536 };
        struct compliance_place *places = malloc(NP * sizeof(*places));
        struct compliance_campaign cp;
        struct compliance_decision dec;
        uint64_t done = 0, allowed = 0;
        const int64_t noon = INT64_C(1781107200) * 1000000; /* 2026-06-10T16:00Z */
        memset(&cp, 0, sizeof(cp));
        cp.tenant_id = 1;
        li.list_date_us = noon - INT64_C(86400000000);
        li.max_age_days = 31;
        compliance_dnc_builder_create(&b);
        compliance_dnc_publish(d, &li, b, 0); /* a dated (small) national list */
        for (size_t i = 0; i < NP; i++) {
            compliance_locate(q[i], &places[i]);
        }
        double el;
        t = now_s();
        do {
            for (size_t i = 0; i < NP; i++) {
                compliance_decide_local(d, &cp, q[i], &places[i],
                                        noon + (int64_t)(i & 1023) * 60000000, &dec);
                allowed += dec.verdict == COMPLIANCE_ALLOW;
            }
            done += NP;
            el = now_s() - t;
        } while (el < secs);
        printf("compliance_decide_local: %.2f M/s (%.0f%% allowed)\n", (double)done / el / 1e6,
               100.0 * (double)allowed / (double)done);
        report("compliance_decide_local_per_sec", (double)done / el, "per_s", "", 1);
        free(places);
    }
    free(q);
    free(qk);
    compliance_dnc_destroy(d);
    return 0;
}
