/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the REST bodies the ARI client reads: error bodies
 * ({"message":..} / {"error":"Allocation failed"}), the GET /channels list
 * read by reconciliation, a variable's {"value":..} and typed models of
 * 200/201 bodies. Checks that nothing crashes or leaks, that the mapped
 * error is one of the enum's values, that a message is NUL-terminated within
 * its buffer, and that every channel id returned is a non-empty string.
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_ari_rest -max_total_time=60 tests/fuzz/corpus/ari_rest/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/client_int.h"

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
    static const long codes[] = { 200, 204, 400, 404, 409, 412, 422, 500, 503 };
    const char *body = (const char *)data;
    char msg[64];
    struct arena a;
    const char **ids = NULL;
    size_t n = 0;
    struct ari_result res = { .error = ARI_OK, .body = body, .body_len = size };
    struct ari_channel ch;
    struct ari_parse_error perr;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        enum ari_error e = ari_error_from_http(0, codes[i], body, size);
        CHECK((unsigned)e < ARI_E_COUNT_);
    }
    memset(msg, 'x', sizeof(msg));
    ari__error_message(body, size, msg, sizeof(msg));
    CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);

    arena_init(&a, 0);
    if (ari__channel_ids_parse(body, size, &a, &ids, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            CHECK(ids[i] != NULL && ids[i][0] != '\0');
        }
    } else {
        CHECK(ids == NULL && n == 0);
    }
    (void)ari_result_value(&res, &a);
    (void)ari_result_model(&res, ARI_MODEL_CHANNEL, &a, &ch, &perr);
    arena_fini(&a);
    return 0;
}
