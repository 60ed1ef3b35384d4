/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the DNC sync message parser
 * (compliance_dnc_sync_parse()): a message from Redis pub/sub never crashes
 * the parser, a parsed message has a valid scope, non-negative ids, a
 * NUL-terminated node and an entry the store accepts, and applying it to a
 * store succeeds.
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dnc_sync -max_total_time=60 tests/fuzz/corpus/dnc_sync/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"

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
    struct compliance_dnc_list_info info;
    char node[64], entry[24];
    int op = -1;
    if (compliance_dnc_sync_parse((const char *)data, size, &info, &op, node, entry) != 0) {
        return 0;
    }
    CHECK(op >= 0 && op <= 2);
    CHECK(info.scope <= COMPLIANCE_DNC_CAMPAIGN);
    CHECK(info.tenant_id >= 0 && info.campaign_id >= 0 && info.list_id >= 0);
    CHECK(strlen(node) >= 1 && strlen(node) <= 63);
    if (op != 2) {
        struct compliance_dnc *d = NULL;
        CHECK(compliance_dnc_create(&d) == 0);
        CHECK(compliance_dnc_apply(d, &info, op, entry, NULL) == 0);
        compliance_dnc_destroy(d);
    }
    return 0;
}
