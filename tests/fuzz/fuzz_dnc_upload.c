/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the way the DNC upload route reads a file:
 * compliance_dnc_parse() without a builder, every entry handed to a
 * callback (api/api_dnc.c stores them). Arbitrary bytes in each format
 * (the first input byte picks it); invariants:
 *
 *   - the result is 0 or a negative error code; an error names a line
 *     within the input and carries a NUL-terminated message;
 *   - on success the callback ran exactly once per accepted line;
 *   - every entry is '+' and 1 to 15 digits, NUL-terminated, and an add or
 *     a delete (never anything else);
 *   - the input is read within its bounds (ASan: the copy has no slack).
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dnc_upload -max_total_time=60 tests/fuzz/corpus/dnc_upload/
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

struct seen {
    uint64_t calls;
    enum compliance_dnc_format fmt;
};

static int on_entry(int add, const char *e, void *arg)
{
    struct seen *s = arg;
    size_t n = strlen(e);
    CHECK(add == 0 || add == 1);
    CHECK(add == 1 || s->fmt == COMPLIANCE_DNC_FMT_CHANGES || s->fmt == COMPLIANCE_DNC_FMT_AUTO);
    CHECK(n >= 2 && n <= 16 && e[0] == '+');
    CHECK(strspn(e + 1, "0123456789") == n - 1);
    s->calls++;
    return 0;
}

static uint64_t count_lines(const uint8_t *data, size_t size)
{
    uint64_t n = size > 0 ? 1 : 0;
    for (size_t i = 0; i < size; i++) {
        n += data[i] == '\n' && i + 1 < size;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum compliance_dnc_format fmts[] = {
        COMPLIANCE_DNC_FMT_AUTO, COMPLIANCE_DNC_FMT_REGISTRY, COMPLIANCE_DNC_FMT_CHANGES,
        COMPLIANCE_DNC_FMT_PLAIN, COMPLIANCE_DNC_FMT_XML
    };
    struct compliance_dnc_parse_error err;
    struct seen s = { 0 };
    uint64_t lines = 0;
    char *copy;
    int rc;

    if (size == 0) {
        return 0;
    }
    s.fmt = fmts[data[0] % 5];
    data++;
    size--;
    copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    rc = compliance_dnc_parse(copy, size, s.fmt, NULL, on_entry, &s, &lines, &err);
    CHECK(rc <= 0);
    CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    if (rc == 0) {
        CHECK(s.calls == lines);
        CHECK(err.line == 0);
    } else {
        /* a zip archive's errors name a member's line or none; XML may fail at the end of the
         * file, one line past the last newline */
        CHECK(compliance_dnc_is_zip(data, size) ||
              (err.line >= 1 && err.line <= count_lines(data, size) + 1));
        CHECK(err.message[0] != '\0');
    }
    free(copy);
    return 0;
}
