/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for hooks/sign.c: the signature (known answers computed
 * independently with Python's hmac module, RFC 4231 case 2), its check on
 * the receiver's side (tampering, replay window, several v1 values), the
 * secret format, the event body, the event list check and the retry
 * schedule (doubling, cap, jitter bounds, max age, 410).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>

#include "api/api.h"
#include "core/err.h"
#include "hooks/hooks.h"

static void test_sign_known_answers(void **state)
{
    char sig[HOOKS_SIG_HEX + 1];
    (void)state;
    /* python3: hmac.new(b"whsec_test-secret", b'1700000000.{"id":"x"}', sha256).hexdigest() */
    hooks_sign("whsec_test-secret", 17, 1700000000, "{\"id\":\"x\"}", 10, sig);
    assert_string_equal(sig, "ed4177d50172b5359e3ab529be16f976d5b1f2888104b3919aaea6db6979870c");
    /* A different timestamp or body gives a different signature. */
    char other[HOOKS_SIG_HEX + 1];
    hooks_sign("whsec_test-secret", 17, 1700000001, "{\"id\":\"x\"}", 10, other);
    assert_string_not_equal(sig, other);
    hooks_sign("whsec_test-secret", 17, 1700000000, "{\"id\":\"y\"}", 10, other);
    assert_string_not_equal(sig, other);
}

static void test_hmac_rfc4231(void **state)
{
    /* The primitive itself: RFC 4231 test case 2 (key "Jefe"). */
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof(mac) + 1];
    crypto_auth_hmacsha256_state st;
    (void)state;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)"Jefe", 4);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"what do ya want for nothing?", 28);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_verify(void **state)
{
    const char *secret = "whsec_abc";
    const char *body = "{\"type\":\"call.completed\"}";
    char sig[HOOKS_SIG_HEX + 1], hdr[256];
    (void)state;
    hooks_sign(secret, strlen(secret), 1000, body, strlen(body), sig);
    snprintf(hdr, sizeof(hdr), "t=1000,v1=%s", sig);
    assert_true(hooks_verify(secret, strlen(secret), hdr, body, strlen(body), 1100, 300));
    /* Too old, too far in the future. */
    assert_false(hooks_verify(secret, strlen(secret), hdr, body, strlen(body), 1301, 300));
    assert_false(hooks_verify(secret, strlen(secret), hdr, body, strlen(body), 699, 300));
    /* Another secret, another body, a changed timestamp. */
    assert_false(hooks_verify("whsec_abd", 9, hdr, body, strlen(body), 1000, 300));
    assert_false(hooks_verify(secret, strlen(secret), hdr, "{}", 2, 1000, 300));
    snprintf(hdr, sizeof(hdr), "t=1001,v1=%s", sig);
    assert_false(hooks_verify(secret, strlen(secret), hdr, body, strlen(body), 1000, 300));
    /* Several signatures (a rotation's overlap on the receiver's side): any one matches. */
    snprintf(hdr, sizeof(hdr), "t=1000,v1=%064d,v1=%s", 0, sig);
    assert_true(hooks_verify(secret, strlen(secret), hdr, body, strlen(body), 1000, 300));
    /* Malformed headers. */
    assert_false(hooks_verify(secret, strlen(secret), "", body, strlen(body), 1000, 300));
    assert_false(
        hooks_verify(secret, strlen(secret), "v1=ab,t=1000", body, strlen(body), 1000, 300));
    assert_false(hooks_verify(secret, strlen(secret), "t=x,v1=ab", body, strlen(body), 1000, 300));
    assert_false(hooks_verify(secret, strlen(secret), NULL, body, strlen(body), 1000, 300));
    snprintf(hdr, sizeof(hdr), "t=1000,v1=%.63s", sig);
    assert_false(hooks_verify(secret, strlen(secret), hdr, body, strlen(body), 1000, 300));
}

static void test_secret_format(void **state)
{
    char a[HOOKS_SECRET_MAX + 1], b[HOOKS_SECRET_MAX + 1], small[10];
    (void)state;
    assert_int_equal(hooks_secret_new(a, sizeof(a)), 0);
    assert_int_equal(hooks_secret_new(b, sizeof(b)), 0);
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strlen(a), 6 + 43); /* base64url of 32 bytes, no padding */
    assert_string_not_equal(a, b);
    for (const char *p = a + 6; *p != '\0'; p++) {
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    }
    assert_int_equal(hooks_secret_new(small, sizeof(small)), ERR_INVAL);
}

static void test_event_body(void **state)
{
    (void)state;
    char *s = hooks_event_body("0b7f4c1e-1111-4a4a-8888-000000000001", "call.completed",
                               "2026-11-25T00:00:00.000000Z", 7,
                               "{\"attempt_no\": 2, \"number\": \"+12125550100\"}");
    assert_non_null(s);
    /* Field order is fixed (id, type, created_at, tenant_id, data): receivers may log it. */
    assert_string_equal(s, "{\"id\":\"0b7f4c1e-1111-4a4a-8888-000000000001\",\"type\":"
                           "\"call.completed\",\"created_at\":\"2026-11-25T00:00:00.000000Z\","
                           "\"tenant_id\":7,\"data\":{\"attempt_no\":2,\"number\":"
                           "\"+12125550100\"}}");
    free(s);
    /* data must be an object. */
    assert_null(hooks_event_body("id", "call.completed", "t", 1, "[1]"));
    assert_null(hooks_event_body("id", "call.completed", "t", 1, "not json"));
    assert_null(hooks_event_body("id", "call.completed", "t", 1, NULL));
    assert_null(hooks_event_body(NULL, "call.completed", "t", 1, "{}"));
}

static void test_events_check(void **state)
{
    char err[160];
    (void)state;
    json_t *ok = json_pack("[s, s]", "call.completed", "import.finished");
    json_t *star = json_pack("[s]", "*");
    json_t *unknown = json_pack("[s, s]", "call.completed", "call.done");
    json_t *dup = json_pack("[s, s]", "import.finished", "import.finished");
    json_t *empty = json_array();
    json_t *notarr = json_string("call.completed");
    json_t *num = json_pack("[i]", 1);
    assert_int_equal(hooks_events_check(ok, err, sizeof(err)), 0);
    assert_int_equal(hooks_events_check(star, err, sizeof(err)), 0);
    assert_int_equal(hooks_events_check(unknown, err, sizeof(err)), ERR_INVAL);
    assert_non_null(strstr(err, "events[1]"));
    assert_int_equal(hooks_events_check(dup, err, sizeof(err)), ERR_INVAL);
    assert_non_null(strstr(err, "repeats"));
    assert_int_equal(hooks_events_check(empty, err, sizeof(err)), ERR_INVAL);
    assert_int_equal(hooks_events_check(notarr, err, sizeof(err)), ERR_INVAL);
    assert_int_equal(hooks_events_check(num, err, sizeof(err)), ERR_INVAL);
    json_decref(ok);
    json_decref(star);
    json_decref(unknown);
    json_decref(dup);
    json_decref(empty);
    json_decref(notarr);
    json_decref(num);
}

static void test_backoff_schedule(void **state)
{
    const struct hooks_backoff b = { .min_ms = 5000, .max_ms = 60000, .max_age_ms = 3600000 };
    (void)state;
    /* Jitter 0 (rnd 0) gives the lower half, the largest rnd the full delay. */
    const int64_t full[] = { 5000, 10000, 20000, 40000, 60000, 60000 };
    for (int a = 1; a <= 6; a++) {
        struct hooks_retry lo = hooks_retry_decide(&b, 500, a, 0, 0, 0);
        struct hooks_retry hi = hooks_retry_decide(&b, 500, a, 0, 0, UINT64_MAX - 1);
        assert_true(lo.retry);
        assert_false(lo.gone);
        int64_t want_lo = full[a - 1] / 2 < 5000 ? 5000 : full[a - 1] / 2;
        assert_int_equal(lo.delay_ms, want_lo);
        assert_true(hi.delay_ms >= want_lo && hi.delay_ms <= full[a - 1]);
    }
    /* Every jitter value stays within [d/2, d] and never below the minimum. */
    for (uint64_t r = 0; r < 1000; r++) {
        struct hooks_retry x = hooks_retry_decide(&b, 0, 4, 0, 0, r * 7919);
        assert_true(x.delay_ms >= 20000 && x.delay_ms <= 40000);
    }
    /* A huge attempt count stays capped. */
    assert_true(hooks_retry_decide(&b, 0, 1000000, 0, 0, 1).delay_ms <= 60000);
}

static void test_retry_stops_at_max_age_and_410(void **state)
{
    const struct hooks_backoff b = { .min_ms = 5000, .max_ms = 60000, .max_age_ms = 3600000 };
    (void)state;
    /* An event from retry_from 0, now just before the age limit: the next try would land after. */
    struct hooks_retry r = hooks_retry_decide(&b, 503, 3, 0, 3600000 - 1000, 0);
    assert_false(r.retry);
    assert_false(r.gone);
    r = hooks_retry_decide(&b, 503, 3, 0, 3600000 - 60000, 0);
    assert_true(r.retry);
    /* 410 gives up at once and disables, whatever the age. */
    r = hooks_retry_decide(&b, 410, 1, 0, 0, 0);
    assert_false(r.retry);
    assert_true(r.gone);
    /* Defaults: 5 s, then doubling. */
    r = hooks_retry_decide(NULL, 0, 1, 0, 0, UINT64_MAX - 1);
    assert_true(r.retry && r.delay_ms >= 2500 && r.delay_ms <= 5000);
}

static void test_api_body_check(void **state)
{
    struct api_field_error fe;
    (void)state;

    struct {
        const char *json;
        bool create;
        int rc;
        const char *field;
    } cases[] = {
        { "{\"url\": \"https://crm.example.com/hooks\", \"events\": [\"*\"]}", true, 0, "" },
        { "{\"url\": \"http://10.0.0.1:8080/x?y=1\", \"events\": [\"call.completed\"],"
          " \"enabled\": false, \"description\": \"crm\"}",
          true, 0, "" },
        { "{\"url\": \"https://crm.example.com/hooks\"}", true, ERR_INVAL, "$.events" },
        { "{\"events\": [\"*\"]}", true, ERR_INVAL, "$.url" },
        { "{\"url\": \"ftp://x/\", \"events\": [\"*\"]}", true, ERR_INVAL, "$.url" },
        { "{\"url\": \"https://user:pw@x/\", \"events\": [\"*\"]}", true, ERR_INVAL, "$.url" },
        { "{\"url\": \"https:///nohost\", \"events\": [\"*\"]}", true, ERR_INVAL, "$.url" },
        { "{\"url\": \"https://x/a b\", \"events\": [\"*\"]}", true, ERR_INVAL, "$.url" },
        { "{\"url\": \"https://x/\", \"events\": [\"nope\"]}", true, ERR_INVAL, "$.events" },
        { "{\"url\": \"https://x/\", \"events\": [\"*\"], \"colour\": 1}", true, ERR_INVAL,
          "$.colour" },
        { "{}", false, 0, "" },
        { "{\"enabled\": true}", false, 0, "" },
        { "{\"enabled\": \"yes\"}", false, ERR_INVAL, "$.enabled" },
        { "{\"events\": []}", false, ERR_INVAL, "$.events" },
        { "[]", false, ERR_INVAL, "$" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        assert_non_null(j);
        int rc = api_webhook_body_check(j, cases[i].create, &fe);
        if (rc != cases[i].rc) {
            print_error("case %zu: rc %d, want %d (%s)\n", i, rc, cases[i].rc, fe.message);
        }
        assert_int_equal(rc, cases[i].rc);
        if (rc != 0) {
            assert_string_equal(fe.field, cases[i].field);
        }
        json_decref(j);
    }
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_answers),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_secret_format),
        cmocka_unit_test(test_event_body),
        cmocka_unit_test(test_events_check),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_retry_stops_at_max_age_and_410),
        cmocka_unit_test(test_api_body_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
