/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for campaign settings (the body of the campaign API's
 * create and update routes): arbitrary bytes are parsed as JSON and given
 * to campaign_settings_from_json(). Invariants:
 *
 *   - a rejected document names a field and a message (NUL-terminated);
 *   - an accepted document encodes (campaign_settings_to_json) and the
 *     encoding parses back to identical settings (round trip);
 *   - every accepted trunk template renders a valid number, and the
 *     rendered dial string contains no character outside the template's
 *     alphabet;
 *   - the caller-ID pick and the schedule check never fail on accepted
 *     settings except for the documented codes.
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_campaign_settings -max_total_time=60 \
 *       tests/fuzz/corpus/campaign_settings/
 */
#include <jansson.h>
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

static void check_accepted(const struct campaign_settings *s)
{
    struct campaign_settings back;
    struct campaign_error err;
    char out[256], cid[CAMPAIGN_E164_MAX + 1];
    int64_t next = 0;
    json_t *j = campaign_settings_to_json(s);
    CHECK(j != NULL);
    CHECK(campaign_settings_from_json(j, &back, &err) == 0);
    CHECK(memcmp(&back, s, sizeof(back)) == 0);
    json_decref(j);
    for (int i = 0; i < s->ntrunks; i++) {
        CHECK(campaign_endpoint_render(s->trunks[i].endpoint, "+14155550123", out, sizeof(out)) ==
              0);
        CHECK(
            strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./@:+-") ==
            strlen(out));
    }
    int rc = campaign_caller_id_pick(s, "+14155550123", cid);
    CHECK(rc == 0 || rc == ERR_NOTFOUND);
    CHECK(rc != 0 || cid[0] == '+');
    rc = campaign_schedule_check(s, NULL, INT64_C(1795878000000000), &next);
    CHECK(rc == 0 || rc == 1 || rc == ERR_NOTFOUND);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    struct campaign_settings s;
    struct campaign_error err;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        return 0;
    }
    memset(&err, 0x55, sizeof(err));
    int rc = campaign_settings_from_json(j, &s, &err);
    if (rc == 0) {
        check_accepted(&s);
    } else {
        CHECK(rc == ERR_INVAL);
        CHECK(memchr(err.field, '\0', sizeof(err.field)) != NULL);
        CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        CHECK(err.msg[0] != '\0');
    }
    json_decref(j);
    return 0;
}
