/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for dialer.trunk-limits (campaign_trunk_limits_parse):
 * arbitrary bytes (cut at the first NUL, as a configuration value is) must
 * either parse into limits that satisfy what the dialer relies on, or be
 * refused with the entry named and a reason:
 *
 *   - at most max entries, names of 1 to 63 letters, digits, _ - ., unique;
 *   - each entry limits something: 0 < cps <= 100000 or 1 <= channels <=
 *     1000000 (and nothing out of those ranges);
 *   - the shared spec of each (key "trunk:<name>", bucket >= 2, chunk >= 1
 *     and, with channels, at most max(1, channels / 4));
 *   - a refusal is ERR_INVAL with field "dialer.trunk-limits[<i>]" and a
 *     message.
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_trunk_limits -max_total_time=60 tests/fuzz/corpus/trunk_limits/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#define MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct campaign_trunk_limit v[MAX];
    struct campaign_error err;
    int n = -1;

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&err, 0, sizeof(err));
    int rc = campaign_trunk_limits_parse(text, v, MAX, &n, &err);
    if (rc != 0) {
        CHECK(rc == ERR_INVAL);
        CHECK(strncmp(err.field, "dialer.trunk-limits[", 20) == 0);
        CHECK(err.msg[0] != '\0');
        free(text);
        return 0;
    }
    CHECK(n >= 0 && n <= MAX);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(v[i].name);
        CHECK(len >= 1 && len < CAMPAIGN_NAME_MAX);
        CHECK(strspn(v[i].name,
                     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == len);
        CHECK(v[i].cps > 0 || v[i].max_channels > 0);
        CHECK(v[i].cps >= 0 && v[i].cps <= 100000);
        CHECK(v[i].max_channels >= 0 && v[i].max_channels <= 1000000);
        for (int j = 0; j < i; j++) {
            CHECK(strcmp(v[i].name, v[j].name) != 0);
        }
        CHECK(campaign_trunk_limit_find(v, n, v[i].name) == &v[i]);
        struct campaign_limit_spec spec;
        char key[CAMPAIGN_NAME_MAX + 8];
        int chunk = 0;
        campaign_trunk_limit_spec(&v[i], 100, key, sizeof(key), &spec, &chunk);
        CHECK(strncmp(spec.key, "trunk:", 6) == 0 && strcmp(spec.key + 6, v[i].name) == 0);
        CHECK(spec.burst >= 2.0 && spec.refund);
        CHECK(chunk >= 1);
        CHECK(v[i].max_channels == 0 ||
              chunk <= (v[i].max_channels / 4 > 1 ? v[i].max_channels / 4 : 1));
    }
    free(text);
    return 0;
}
