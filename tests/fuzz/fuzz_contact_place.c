/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for compliance_contact_place(): the check route passes
 * its time_zone and state query parameters (outside input) to it, and the
 * lease passes a contact's stored columns. The input is split at newlines
 * into number, region, zones and tz_source. Invariants:
 *
 *   - the result is 0, ERR_INVAL or ERR_NOTFOUND;
 *   - ERR_NOTFOUND leaves the area code's place (compliance_locate's);
 *   - 0 gives a place within its bounds whose zones all have names, and the
 *     source CONTACT only when tz_source says the list gave the place;
 *   - the dialer's question accepts the place.
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_contact_place -max_total_time=60 \
 *       tests/fuzz/corpus/contact_place/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "core/err.h"

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
    char buf[512];
    const char *field[4] = { "", "", "", "" };
    if (size >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf;
    for (int i = 0; i < 4 && p != NULL; i++) {
        field[i] = p; /* NUL-terminated below */
        p = strchr(p, '\n');
        if (p != NULL) {
            *p++ = '\0';
        }
    }
    struct compliance_place pl, want;
    int rc = compliance_contact_place(field[0], field[1], field[2], field[3], &pl);
    CHECK(rc == 0 || rc == ERR_INVAL || rc == ERR_NOTFOUND);
    if (rc == ERR_INVAL) {
        return 0;
    }
    CHECK(compliance_locate(field[0], &want) == 0);
    if (rc == ERR_NOTFOUND) {
        CHECK(memcmp(&pl, &want, sizeof(pl)) == 0);
    }
    CHECK(pl.nzones <= COMPLIANCE_PLACE_MAX_ZONES);
    CHECK(pl.nregions <= COMPLIANCE_PLACE_MAX_REGIONS);
    for (unsigned i = 0; i < pl.nzones; i++) {
        CHECK(compliance_zone_name(pl.zones[i]) != NULL);
    }
    int given = strcmp(field[3], "explicit") == 0 || strcmp(field[3], "postal_code") == 0 ||
                strcmp(field[3], "default") == 0;
    if (!given) {
        CHECK(memcmp(&pl, &want, sizeof(pl)) == 0);
    }
    struct compliance_decision d;
    struct compliance_campaign cp = { .allow_stale_list = 1 };
    CHECK(compliance_decide_local(NULL, &cp, field[0], &pl, 1795000000LL * 1000000, &d) == 0);
    return 0;
}
