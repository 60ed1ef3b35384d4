/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the zip reader behind compliance_dnc_parse()
 * (compliance/dnc_zip.c): arbitrary bytes as an archive, in every format.
 * Invariants:
 *
 *   - the result is 0 or a negative error code with a NUL-terminated
 *     message; an error of the archive itself starts "zip";
 *   - a full parse adds exactly one builder entry per accepted entry, and
 *     every number a change member reports is a valid lookup key;
 *   - never a read outside the input (ASan), never a hang: inflated output
 *     is bounded by the declared sizes (lowered here to 1 MiB per member).
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dnc_zip -max_total_time=60 tests/fuzz/corpus/dnc_zip/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "compliance/dnc_file_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static int on_change(int add, const char *e164, void *arg)
{
    uint64_t *n = arg;
    uint64_t key;
    CHECK(add == 0 || add == 1);
    CHECK(compliance_dnc_key(e164, &key) == 0);
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum compliance_dnc_format fmts[] = {
        COMPLIANCE_DNC_FMT_AUTO, COMPLIANCE_DNC_FMT_REGISTRY, COMPLIANCE_DNC_FMT_CHANGES,
        COMPLIANCE_DNC_FMT_PLAIN, COMPLIANCE_DNC_FMT_XML
    };

    dnc__zip_limits(1u << 20, 0);
    for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
        struct compliance_dnc_builder *b = NULL;
        struct compliance_dnc_parse_error err;
        uint64_t changes = 0, lines = 0;
        CHECK(compliance_dnc_builder_create(&b) == 0);
        int rc = compliance_dnc_parse((const char *)data, size, fmts[f], b, on_change, &changes,
                                      &lines, &err);
        CHECK(rc <= 0);
        CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
        if (rc != 0) {
            CHECK(err.message[0] != '\0');
        }
        if (rc == 0 && compliance_dnc_is_zip(data, size)) {
            CHECK(compliance_dnc_builder_count(b) + changes == lines);
        }
        compliance_dnc_builder_destroy(b);
    }
    return 0;
}
