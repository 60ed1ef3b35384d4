/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the outside input of webhooks: the POST and PATCH
 * bodies of /api/v1/webhooks (api_webhook_body_check, which reuses the API's
 * field validation and adds the url and events checks), and the
 * Dialer-Signature header as a receiver parses it (hooks_verify).
 * Invariants:
 *
 *   - a body accepted for creation has an acceptable url and 1..16 known,
 *     distinct event types; a refused one names a field starting with "$";
 *   - a body accepted for creation is accepted for PATCH too;
 *   - arbitrary signature headers never verify unless they carry the real
 *     signature, and never crash or read past the input.
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_webhook_body -max_total_time=60 tests/fuzz/corpus/webhook_body/
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "hooks/hooks.h"

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
    static char text[65536 + 1];
    struct api_field_error fc, fp;
    if (size > 65536) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    json_t *j = json_loadb(text, size, JSON_DECODE_ANY, NULL);
    if (j != NULL) {
        int c = api_webhook_body_check(j, true, &fc);
        int p = api_webhook_body_check(j, false, &fp);
        if (c == 0) {
            CHECK(p == 0);
            CHECK(api_webhook_url_ok(json_string_value(json_object_get(j, "url"))));
            char err[160];
            CHECK(hooks_events_check(json_object_get(j, "events"), err, sizeof(err)) == 0);
        } else if (c == ERR_INVAL) {
            CHECK(fc.field[0] == '$');
        }
        if (p == ERR_INVAL) {
            CHECK(fp.field[0] == '$');
        }
        json_decref(j);
    }

    /* The same bytes as a signature header over a fixed body. */
    const char *body = "{\"id\":\"e\"}";
    CHECK(!hooks_verify("whsec_fuzz", 10, text, body, strlen(body), 1000, 300) ||
          strstr(text, "v1=") != NULL);
    char sig[HOOKS_SIG_HEX + 1], hdr[128];
    hooks_sign("whsec_fuzz", 10, 1000, body, strlen(body), sig);
    snprintf(hdr, sizeof(hdr), "t=1000,v1=%s", sig);
    CHECK(hooks_verify("whsec_fuzz", 10, hdr, body, strlen(body), 1000, 300));
    return 0;
}
