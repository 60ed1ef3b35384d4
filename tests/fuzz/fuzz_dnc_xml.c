/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the XML tagged file reader (compliance/dnc_xml.c).
 * Invariants:
 *
 *   - the result is 0 or a negative error code; an error names a line
 *     within the input (1 .. newlines + 1) and a NUL-terminated message;
 *   - every entry is "+1" and ten digits, a valid lookup key;
 *   - streaming: the input fed in two pieces (split where its first byte
 *     says) and byte by byte gives the same result, line and entries as the
 *     whole input (a zip member is parsed as it is inflated).
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dnc_xml -max_total_time=60 tests/fuzz/corpus/dnc_xml/
 */
#include <stdbool.h>
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

struct acc {
    uint64_t n;
    uint64_t sum; /* of the keys: the same entries in the same order give the same sum */
};

static int on_entry(int add, const char *e164, void *arg)
{
    struct acc *a = arg;
    uint64_t key;
    CHECK(add == 1);
    CHECK(strlen(e164) == 12 && e164[0] == '+' && e164[1] == '1');
    CHECK(compliance_dnc_key(e164, &key) == 0);
    a->n++;
    a->sum = a->sum * 31 + key;
    return 0;
}

struct result {
    int rc;
    uint64_t line;
    struct acc acc;
};

/* Feeds data in pieces of at most step bytes (0: the first piece is split bytes). */
static struct result run(const uint8_t *data, size_t size, size_t split, size_t step)
{
    struct result r = { 0 };
    struct compliance_dnc_parse_error err = { 0 };
    struct dnc__target tg = { .cb = on_entry, .arg = &r.acc };
    struct dnc__text *t = malloc(sizeof(*t));
    CHECK(t != NULL);
    dnc__text_init(t, COMPLIANCE_DNC_FMT_XML, &tg, &err);
    size_t pos = 0;
    bool first = true;
    while (r.rc == 0 && (pos < size || first)) {
        size_t n = step != 0 ? step : (first ? split : size - pos);
        if (n > size - pos) {
            n = size - pos;
        }
        r.rc = dnc__text_feed(t, (const char *)data + pos, n, false); /* n may be 0 */
        pos += n;
        first = false;
    }
    if (r.rc == 0) {
        r.rc = dnc__text_end(t);
    }
    CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    r.line = r.rc != 0 ? err.line : 0;
    free(t);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (compliance_dnc_is_zip(data, size)) {
        return 0; /* an archive, not one XML stream (fuzz_dnc_zip.c) */
    }
    uint64_t newlines = 0;
    for (size_t i = 0; i < size; i++) {
        newlines += data[i] == '\n';
    }
    struct compliance_dnc_parse_error err;
    struct acc whole = { 0 };
    uint64_t lines = 0;
    int rc = compliance_dnc_parse((const char *)data, size, COMPLIANCE_DNC_FMT_XML, NULL, on_entry,
                                  &whole, &lines, &err);
    CHECK(rc <= 0);
    if (rc != 0) {
        CHECK(err.message[0] != '\0');
        CHECK(err.line >= 1 && err.line <= newlines + 1);
    } else {
        CHECK(lines == whole.n && whole.n > 0);
    }
    size_t split = size > 0 ? data[0] % (size + 1) : 0;
    struct result two = run(data, size, split, 0);
    CHECK(two.rc == rc && two.acc.n == whole.n && two.acc.sum == whole.sum);
    if (rc != 0) {
        CHECK(two.line == err.line);
    }
    if (size <= 4096) {
        struct result bytes = run(data, size, 0, 1);
        CHECK(bytes.rc == rc && bytes.acc.n == whole.n && bytes.acc.sum == whole.sum);
    }
    return 0;
}
