/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the campaign routes' query values (outside input):
 * the input is tried as an attempts/calls cursor and as a ?from/?to time.
 *
 *   - a cursor that decodes gives a decimal time of at most 18 digits and a
 *     well-formed uuid, and encoding those again decodes to the same pair;
 *   - the time parser (api_parse_time, ?from/?to) never crashes or overflows
 *     (UBSan) whatever the digits.
 *
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_api_campaign_query -max_total_time=60 \
 *       tests/fuzz/corpus/api_campaign_query/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_campaigns.h"

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
    char in[512], t[24], id[37], t2[24], id2[37], enc[128];
    int64_t us;

    if (size >= sizeof(in)) {
        return 0;
    }
    memcpy(in, data, size);
    in[size] = '\0';
    if (api__campaign_cursor_parse(in, t, sizeof(t), id) == 0) {
        CHECK(strlen(t) >= 1 && strlen(t) <= 18 && strspn(t, "0123456789") == strlen(t));
        CHECK(strlen(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-');
        CHECK(api__campaign_cursor_make(strtoll(t, NULL, 10), id, enc, sizeof(enc)) == 0);
        CHECK(api__campaign_cursor_parse(enc, t2, sizeof(t2), id2) == 0);
        CHECK(strtoll(t, NULL, 10) == strtoll(t2, NULL, 10) && strcmp(id, id2) == 0);
    }
    (void)api_parse_time(in, &us);
    return 0;
}
