/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the outside input of tenant secrets and the
 * tenant api_call allowlist: secret names from request paths
 * (api_secret_name_ok), CIDRs from tenants.settings.api_call_allow
 * (ivr_cidr_valid), and stored rows (api_secret_open over arbitrary
 * ciphertext and nonce). Invariants:
 *
 *   - a valid name is 1..64 of [a-z0-9_] and nothing else is;
 *   - a CIDR that is valid builds a backend; one that is not, does not;
 *   - arbitrary bytes never open (the MAC) and never write past the output;
 *   - what was sealed opens to the same bytes, and not as another name.
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_secrets -max_total_time=60 tests/fuzz/corpus/secrets/
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "ivr/ivr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static const unsigned char KEY[API_SECRETS_KEY_BYTES] = "fuzz-key-0123456789abcdef-012345";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[API_SECRET_VALUE_MAX + 64];
    static char out[API_SECRET_VALUE_MAX + 1];
    static unsigned char ct[API_SECRET_VALUE_MAX + API_SECRET_MAC_BYTES];
    if (sodium_init() < 0 || size > API_SECRET_VALUE_MAX + 32) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    /* Names. */
    size_t n = strlen(text);
    bool ok = n >= 1 && n <= 64 && strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
    CHECK(api_secret_name_ok(text) == ok);

    /* CIDRs: the check and the backend agree. */
    if (n < 128) {
        const char *one[1] = { text };
        struct ivr_http_backend *b = ivr_http_backend_create(NULL, one, 1);
        CHECK((b != NULL) == ivr_cidr_valid(text));
        ivr_http_backend_destroy(b);
    }

    /* Stored rows: arbitrary bytes as ciphertext never open. */
    if (size >= API_SECRET_NONCE_BYTES) {
        int rc = api_secret_open(KEY, 1, "name", data + API_SECRET_NONCE_BYTES,
                                 size - API_SECRET_NONCE_BYTES, data, out);
        CHECK(rc == ERR_INVAL);
    }

    /* Round trip of the bytes as a value. */
    if (size >= 1 && size <= API_SECRET_VALUE_MAX) {
        unsigned char nonce[API_SECRET_NONCE_BYTES];
        CHECK(api_secret_seal(KEY, 7, "fuzz_name", (const char *)data, size, ct, nonce) == 0);
        CHECK(api_secret_open(KEY, 7, "fuzz_name", ct, size + API_SECRET_MAC_BYTES, nonce, out) ==
              0);
        CHECK(memcmp(out, data, size) == 0 && out[size] == '\0');
        CHECK(api_secret_open(KEY, 7, "other", ct, size + API_SECRET_MAC_BYTES, nonce, out) ==
              ERR_INVAL);
        CHECK(api_secret_open(KEY, 8, "fuzz_name", ct, size + API_SECRET_MAC_BYTES, nonce, out) ==
              ERR_INVAL);
    }
    return 0;
}
