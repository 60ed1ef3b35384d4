/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the DNC file parsers (compliance_dnc_parse()): feeds
 * arbitrary bytes in each format and checks the invariants importers rely
 * on:
 *
 *   - the result is 0 or a negative error code, and an error names a line
 *     within the input and a NUL-terminated message;
 *   - a full or plain parse adds exactly one entry per accepted line, and
 *     every entry it added is found by a lookup once published;
 *   - every number a change file reports is a valid lookup key.
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_dnc_file -max_total_time=60 tests/fuzz/corpus/dnc_file/
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
    uint64_t changes;
};

static int on_change(int add, const char *e164, void *arg)
{
    struct seen *s = arg;
    uint64_t key;
    CHECK(add == 0 || add == 1);
    CHECK(compliance_dnc_key(e164, &key) == 0);
    s->changes++;
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

/* Lines that are neither blank nor comments (no header skipped when the
 * parser accepted this many). */
static uint64_t count_data_lines(const uint8_t *data, size_t size)
{
    uint64_t n = 0;
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t l = nl != NULL ? (size_t)(nl - (data + pos)) : size - pos;
        size_t e = l;
        if (e > 0 && data[pos + e - 1] == '\r') {
            e--;
        }
        size_t s = 0;
        while (s < e && (data[pos + s] == ' ' || data[pos + s] == '\t')) {
            s++;
        }
        n += s < e && data[pos + s] != '#';
        pos += l + 1;
    }
    return n;
}

/* Starts like XML (after white space and a byte order mark): the XML reader runs. */
static int xmlish(const uint8_t *data, size_t size)
{
    size_t i = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    return i < size && data[i] == '<';
}

static void check_err(int rc, const struct compliance_dnc_parse_error *err, uint64_t nlines)
{
    CHECK(rc <= 0);
    CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
    if (rc != 0) {
        CHECK(err->message[0] != '\0');
        /* an error of a zip archive names a member's line, or none (fuzz_dnc_zip.c) */
        CHECK(nlines == UINT64_MAX || (err->line >= 1 && err->line <= nlines + 1));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum compliance_dnc_format fmts[] = {
        COMPLIANCE_DNC_FMT_AUTO, COMPLIANCE_DNC_FMT_REGISTRY, COMPLIANCE_DNC_FMT_CHANGES,
        COMPLIANCE_DNC_FMT_PLAIN, COMPLIANCE_DNC_FMT_XML
    };

    uint64_t nlines = compliance_dnc_is_zip(data, size) ? UINT64_MAX : count_lines(data, size);

    for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
        struct compliance_dnc_builder *b = NULL;
        struct compliance_dnc_parse_error err;
        struct seen seen = { 0 };
        uint64_t lines = 0;
        CHECK(compliance_dnc_builder_create(&b) == 0);
        int rc = compliance_dnc_parse((const char *)data, size, fmts[f], b, on_change, &seen,
                                      &lines, &err);
        check_err(rc, &err, nlines);
        CHECK(lines <= nlines || xmlish(data, size)); /* XML: several numbers a line */
        if (rc == 0 && seen.changes == 0) {
            CHECK(compliance_dnc_builder_count(b) == lines);
        }
        if (rc == 0 && seen.changes > 0) {
            CHECK(seen.changes == lines);
        }
        compliance_dnc_builder_destroy(b);
    }

    /* Publish a plain parse and look every accepted number up. */
    struct compliance_dnc *d = NULL;
    struct compliance_dnc_builder *b = NULL;
    struct compliance_dnc_list_info li;
    struct compliance_dnc_parse_error err;
    memset(&li, 0, sizeof(li));
    li.scope = COMPLIANCE_DNC_TENANT;
    li.tenant_id = 1;
    CHECK(compliance_dnc_create(&d) == 0);
    CHECK(compliance_dnc_builder_create(&b) == 0);
    uint64_t accepted = 0;
    if (compliance_dnc_parse((const char *)data, size, COMPLIANCE_DNC_FMT_PLAIN, b, NULL, NULL,
                             &accepted, &err) == 0 &&
        accepted == count_data_lines(data, size)) {
        CHECK(compliance_dnc_publish(d, &li, b, 0) == 0);
        /* re-parse line by line: every plain number found is blocked */
        const char *p = (const char *)data;
        size_t pos = 0;
        while (pos < size) {
            const char *nl = memchr(p + pos, '\n', size - pos);
            size_t l = nl != NULL ? (size_t)(nl - (p + pos)) : size - pos;
            char line[32];
            if (l > 0 && l < sizeof(line) && p[pos] == '+') {
                memcpy(line, p + pos, l);
                line[l] = '\0';
                if (strlen(line) != l) {
                    pos += l + 1;
                    continue; /* a NUL inside: not the line the parser saw */
                }
                uint64_t key;
                if (compliance_dnc_key(line, &key) == 0) {
                    CHECK(compliance_dnc_check(d, line, "", 1, 0, NULL) == 1);
                }
            }
            pos += l + 1;
        }
    } else {
        compliance_dnc_builder_destroy(b);
    }
    compliance_dnc_destroy(d);
    return 0;
}
