/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/audit.c: the JSON decision record. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/err.h"

/* 2026-06-10T01:30:00Z: 21:30 EDT in Miami (blocked under Florida's 20:00). */
#define NOW_US INT64_C(1781055000000000)

static void test_audit_block_record(void **state)
{
    struct compliance_place p;
    struct compliance_verdict v;
    json_t *o = NULL;
    (void)state;
    assert_int_equal(compliance_locate("+13055550123", &p), 0);
    assert_int_equal(compliance_window_check(&p, NULL, NOW_US, &v), 0);
    assert_int_equal(compliance_audit_json("+13055550123", &p, &v, NOW_US, &o), 0);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "number")), "+1305*****23");
    assert_string_equal(json_string_value(json_object_get(o, "time")), "2026-06-10T01:30:00.000Z");
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "block");
    json_t *rule = json_object_get(o, "rule");
    assert_string_equal(json_string_value(json_object_get(rule, "id")), "us-fl-hours");
    assert_non_null(strstr(json_string_value(json_object_get(rule, "source")), "501.616"));
    assert_string_equal(json_string_value(json_object_get(o, "next_eligible")),
                        "2026-06-10T12:00:00.000Z");
    json_t *local = json_object_get(o, "local");
    assert_string_equal(json_string_value(json_object_get(local, "time")),
                        "2026-06-09T21:30:00-04:00");
    assert_string_equal(json_string_value(json_object_get(local, "zone")), "America/New_York");
    json_t *place = json_object_get(o, "place");
    assert_string_equal(json_string_value(json_object_get(place, "source")), "npa");
    assert_string_equal(json_string_value(json_array_get(json_object_get(place, "regions"), 0)),
                        "FL");
    json_t *ver = json_object_get(o, "versions");
    assert_string_equal(json_string_value(json_object_get(ver, "ruleset")),
                        COMPLIANCE_RULESET_VERSION);
    assert_non_null(
        strstr(json_string_value(json_object_get(ver, "phone_data")), "libphonenumber"));
    assert_string_not_equal(json_string_value(json_object_get(ver, "tzdata")), "");
    /* The number never appears in full anywhere in the record. */
    char *text = json_dumps(o, JSON_COMPACT);
    assert_null(strstr(text, "3055550123"));
    free(text);
    json_decref(o);
}

static void test_audit_unknown_and_errors(void **state)
{
    struct compliance_place p;
    struct compliance_verdict v;
    json_t *o = NULL;
    (void)state;
    assert_int_equal(compliance_locate("+4930123456", &p), 0);
    assert_int_equal(compliance_window_check(&p, NULL, NOW_US, &v), 0);
    assert_int_equal(compliance_audit_json("+4930123456", &p, &v, NOW_US, &o), 0);
    assert_true(json_is_null(json_object_get(o, "next_eligible")));
    assert_true(json_is_null(json_object_get(o, "local")));
    assert_string_equal(json_string_value(json_object_get(o, "number")), "+4930****56");
    json_decref(o);
    assert_int_equal(compliance_audit_json(NULL, &p, &v, 0, &o), ERR_INVAL);
    assert_int_equal(compliance_audit_json("+4930123456", &p, &v, 0, NULL), ERR_INVAL);
}

static int teardown(void **state)
{
    (void)state;
    compliance_fini();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_block_record),
        cmocka_unit_test(test_audit_unknown_and_errors),
    };
    return cmocka_run_group_tests_name("compliance_audit", tests, NULL, teardown);
}
