/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for dialer_parse_utc(), the reader of the callback time
 * a flow asks for (flow.callback_at, written by the tenant's flow author).
 * Invariants: never crashes or reads past the text; an accepted time is
 * positive, a whole number of seconds, and printing it back in the same
 * format gives the same text (ISO form) or the same number (epoch form).
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dialer_utc -max_total_time=60 tests/fuzz/corpus/dialer_utc/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dialer/dialer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (t == NULL) {
        return 0;
    }
    memcpy(t, data, size);
    t[size] = '\0';
    int64_t us = dialer_parse_utc(t);
    if (us != 0) {
        CHECK(us > 0 && us % 1000000 == 0);
        time_t secs = (time_t)(us / 1000000);
        char back[32];
        if (strlen(t) == 20) {
            struct tm tm;
            CHECK(gmtime_r(&secs, &tm) != NULL);
            strftime(back, sizeof(back), "%Y-%m-%dT%H:%M:%SZ", &tm);
            /* a leap second (:60) is the next minute's :00 */
            CHECK(strcmp(back, t) == 0 || memcmp(t + 17, "60", 2) == 0);
        } else {
            snprintf(back, sizeof(back), "%lld", (long long)secs);
            const char *p = t;
            while (*p == '0' && p[1] != '\0') {
                p++;
            }
            CHECK(strcmp(back, p) == 0);
        }
    }
    free(t);
    return 0;
}
