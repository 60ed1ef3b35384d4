/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the importer's number normaliser
 * (importer_e164_normalize). Invariants:
 *
 *   - an accepted number is E.164 as the database's e164 domain defines it
 *     (^\+[1-9][0-9]{6,14}$), its extension matches [0-9*#]{0,16} and its
 *     country is two capitals;
 *   - normalising the result again gives the same number (idempotent);
 *   - a rejected number leaves the output empty and always says why;
 *   - the detail is NUL-terminated within its buffer.
 *
 * The first input byte picks the options (allowed countries, fictional).
 * Run: make fuzz-build && build/fuzz/tests/fuzz/fuzz_e164 tests/fuzz/corpus/e164/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "importers/importers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static int is_e164(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const countries[] = { "US", "CA", "GB" };
    if (size == 0)
        return 0;
    struct importer_e164_opts o = { .allowed_countries = countries,
                                    .nallowed = data[0] % 4,
                                    .allow_fictional = (data[0] & 4) != 0 };
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    struct importer_number n;
    char detail[128];
    memset(detail, 'z', sizeof(detail));
    enum importer_reason r = importer_e164_normalize(in, len, &o, &n, detail, sizeof(detail));
    CHECK(memchr(detail, 0, sizeof(detail)) != NULL);
    CHECK((unsigned)r < IMPORTER_REASON_COUNT);
    if (r != IMPORTER_REASON_NONE) {
        CHECK(detail[0] != 0);
        CHECK(n.e164[0] == 0 && n.ext[0] == 0);
        return 0;
    }
    CHECK(is_e164(n.e164));
    CHECK(strlen(n.ext) <= IMPORTER_EXT_MAX);
    for (const char *p = n.ext; *p; p++)
        CHECK((*p >= '0' && *p <= '9') || *p == '*' || *p == '#');
    CHECK(strlen(n.country) == 2 && n.country[0] >= 'A' && n.country[0] <= 'Z');
    struct importer_number again;
    CHECK(importer_e164_normalize(n.e164, strlen(n.e164), &o, &again, NULL, 0) ==
          IMPORTER_REASON_NONE);
    CHECK(strcmp(again.e164, n.e164) == 0);
    return 0;
}
