/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the name check of GET /sounds/{name} (outside input:
 * any path segment a client sends). Invariants: an accepted name is exactly
 * "tts-" + 32 lowercase hex + ".wav" (so it can never leave the cache
 * directory nor name a render's temporary), and the name ivr_ari_tts_path
 * builds for the same bytes as text is always accepted. Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_tts_name -max_total_time=60 tests/fuzz/corpus/tts_name/
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ivr/ivr.h"

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
    char name[128], path[256];
    const char *base;
    if (size >= sizeof(name)) {
        size = sizeof(name) - 1;
    }
    memcpy(name, data, size);
    name[size] = '\0';
    if (ivr_tts_name_ok(name)) {
        CHECK(strlen(name) == 40);
        CHECK(strncmp(name, "tts-", 4) == 0 && strcmp(name + 36, ".wav") == 0);
        CHECK(strchr(name, '/') == NULL && strstr(name, "..") == NULL);
        for (size_t i = 4; i < 36; i++) {
            CHECK((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'));
        }
    }
    CHECK(ivr_ari_tts_path("/c", name, "en", path, sizeof(path)) == 0);
    base = strrchr(path, '/') + 1;
    CHECK(ivr_tts_name_ok(base));
    return 0;
}
