/* SPDX-License-Identifier: MIT */
/*
 * dialer.trunk-limits: the carrier limits an operator writes in dialerd's
 * configuration. Good texts give the limits; every bad one is refused with
 * the entry named and the reason, never half applied. The shared spec of a
 * limit (Redis key, bucket, gate chunk) is sized so that a small trunk's
 * rate is not clipped and its channels are not hoarded by one node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign.h"
#include "core/err.h"

static void test_trunklim_parses_good_texts(void **state)
{
    struct campaign_trunk_limit v[4];
    struct campaign_error err;
    int n = -1;
    (void)state;

    assert_int_equal(campaign_trunk_limits_parse(
                         " carrier-a cps=5 channels=5,carrier_b.eu  cps=50.5 ; c3 channels=300 ,",
                         v, 4, &n, &err),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "carrier-a");
    assert_true(v[0].cps == 5.0);
    assert_int_equal(v[0].max_channels, 5);
    assert_string_equal(v[1].name, "carrier_b.eu");
    assert_true(v[1].cps == 50.5);
    assert_int_equal(v[1].max_channels, 0);
    assert_string_equal(v[2].name, "c3");
    assert_true(v[2].cps == 0.0);
    assert_int_equal(v[2].max_channels, 300);
    assert_ptr_equal(campaign_trunk_limit_find(v, n, "c3"), &v[2]);
    assert_null(campaign_trunk_limit_find(v, n, "carrier"));
    assert_null(campaign_trunk_limit_find(v, n, NULL));

    /* nothing configured */
    assert_int_equal(campaign_trunk_limits_parse("", v, 4, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(campaign_trunk_limits_parse("  , ", v, 4, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(campaign_trunk_limits_parse(NULL, v, 4, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_trunklim_refuses_bad_texts(void **state)
{
    static const struct {
        const char *text;
        const char *field;
        const char *msg; /* a part of the message */
    } cases[] = {
        { "carrier-a", "dialer.trunk-limits[0]", "needs cps=N or channels=N" },
        { "a cps=5, b", "dialer.trunk-limits[1]", "needs cps=N" },
        { "a cps=0", "dialer.trunk-limits[0]", "above 0" },
        { "a cps=-1", "dialer.trunk-limits[0]", "above 0" },
        { "a cps=100001", "dialer.trunk-limits[0]", "at most 100000" },
        { "a cps=nan", "dialer.trunk-limits[0]", "cps=nan" },
        { "a cps=5x", "dialer.trunk-limits[0]", "cps=5x" },
        { "a cps=", "dialer.trunk-limits[0]", "cps=" },
        { "a channels=0", "dialer.trunk-limits[0]", "1 to 1000000" },
        { "a channels=2.5", "dialer.trunk-limits[0]", "whole number" },
        { "a channels=1000001", "dialer.trunk-limits[0]", "1 to 1000000" },
        { "a cps=5 cps=6", "dialer.trunk-limits[0]", "given twice" },
        { "a speed=5", "dialer.trunk-limits[0]", "unknown option \"speed\"" },
        { "a 5", "dialer.trunk-limits[0]", "not cps=N" },
        { "a/b cps=5", "dialer.trunk-limits[0]", "trunk name" },
        { "cps=5", "dialer.trunk-limits[0]", "trunk name" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa cps=1",
          "dialer.trunk-limits[0]", "1 to 63" },
        { "a cps=1, b cps=2, a channels=3", "dialer.trunk-limits[2]", "listed twice" },
        { "a cps=1, b cps=1, c cps=1, d cps=1, e cps=1", "dialer.trunk-limits[4]", "too many" },
    };
    struct campaign_trunk_limit v[4];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct campaign_error err = { { 0 }, { 0 } };
        int n = -1;
        int rc = campaign_trunk_limits_parse(cases[i].text, v, 4, &n, &err);
        if (rc != ERR_INVAL || strcmp(err.field, cases[i].field) != 0 ||
            strstr(err.msg, cases[i].msg) == NULL) {
            fail_msg("case %zu \"%s\": rc %d field %s msg %s", i, cases[i].text, rc, err.field,
                     err.msg);
        }
    }
}

static void test_trunklim_spec_sizes(void **state)
{
    struct campaign_trunk_limit small = { .name = "small", .cps = 5, .max_channels = 5 };
    struct campaign_trunk_limit big = { .name = "big", .cps = 400, .max_channels = 2000 };
    struct campaign_trunk_limit chan = { .name = "chan", .max_channels = 300 };
    struct campaign_limit_spec sp;
    char key[CAMPAIGN_NAME_MAX + 8];
    int chunk = 0;
    (void)state;

    campaign_trunk_limit_spec(&small, 100, key, sizeof(key), &sp, &chunk);
    assert_string_equal(sp.key, "trunk:small");
    assert_true(sp.cps == 5.0);
    assert_int_equal(sp.max_channels, 5);
    assert_true(sp.burst == 2.0); /* never 1: a token due between ticks would be lost */
    assert_int_equal(chunk, 1);   /* 5 channels: one node holds no spare ones */

    campaign_trunk_limit_spec(&big, 100, key, sizeof(key), &sp, &chunk);
    assert_true(sp.burst == 40.0);
    assert_int_equal(chunk, 20); /* a 50 ms tick's share */

    campaign_trunk_limit_spec(&chan, 1000, key, sizeof(key), &sp, &chunk);
    assert_true(sp.cps == 0.0);
    assert_int_equal(chunk, 50); /* from the global rate, under a quarter of 300 */
}

/* A campaign's own trunk limit: its own key per campaign, sized as a carrier's. */
static void test_trunklim_own_spec(void **state)
{
    struct campaign_trunk a = { .name = "a", .endpoint = "PJSIP/{e164}@a", .cps = 5 };
    struct campaign_trunk b = { .name = "b.long-name_1", .cps = 400, .max_channels = 40 };
    struct campaign_trunk none = { .name = "c", .endpoint = "PJSIP/{e164}@c" };
    struct campaign_limit_spec sp;
    char key[CAMPAIGN_CAMP_TRUNK_KEY_MAX];
    int chunk = 0;
    (void)state;

    assert_true(campaign_trunk_own_spec(42, &a, 100, key, sizeof(key), &sp, &chunk));
    assert_string_equal(sp.key, "camp:42:trunk:a");
    assert_true(sp.cps == 5.0);
    assert_int_equal(sp.max_channels, 0);
    assert_true(sp.burst == 2.0);
    assert_true(sp.refund);
    assert_int_equal(chunk, 1);

    assert_true(campaign_trunk_own_spec(INT64_MAX, &b, 100, key, sizeof(key), &sp, &chunk));
    assert_string_equal(sp.key, "camp:9223372036854775807:trunk:b.long-name_1");
    assert_true(sp.burst == 40.0);
    assert_int_equal(sp.max_channels, 40);
    assert_int_equal(chunk, 10); /* a quarter of the channels, under the tick's 20 */

    /* a name as long as settings allow still fits the key */
    struct campaign_trunk longest = { .max_channels = 3 };
    memset(longest.name, 'x', CAMPAIGN_NAME_MAX - 1);
    assert_true(campaign_trunk_own_spec(INT64_MAX, &longest, 100, key, sizeof(key), &sp, &chunk));
    assert_int_equal(strlen(sp.key),
                     strlen("camp:9223372036854775807:trunk:") + CAMPAIGN_NAME_MAX - 1);

    key[0] = '\0';
    assert_false(campaign_trunk_own_spec(42, &none, 100, key, sizeof(key), &sp, &chunk));
    assert_string_equal(key, ""); /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trunklim_parses_good_texts),
        cmocka_unit_test(test_trunklim_refuses_bad_texts),
        cmocka_unit_test(test_trunklim_spec_sizes),
        cmocka_unit_test(test_trunklim_own_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
