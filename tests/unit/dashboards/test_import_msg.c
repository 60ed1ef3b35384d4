/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the "import" message of /ws/v1/live (dash__import_json):
 * the counters and ids a progress bar reads, rows_total null while unknown,
 * and rows_total_estimated saying whether rows_total is an estimate (true
 * while the body streams, false once the count is exact, false while there
 * is no number at all).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dashboards/dash_int.h"

static struct dash_import running(void)
{
    const struct dash_import imp = { .tenant_id = 3,
                                     .list_id = 9,
                                     .job_id = "7d0f3c1e-2b5a-4f4e-9a51-0c9a3d1e4b42",
                                     .upload_id = "crm-nightly-42",
                                     .state = "running",
                                     .rows_read = 5000,
                                     .rows_imported = 4900,
                                     .rows_rejected = 100,
                                     .rows_total = 20011,
                                     .rows_total_estimated = true };
    return imp;
}

static void test_import_msg_estimate_while_streaming(void **state)
{
    struct dash_import imp = running();
    json_t *m = dash__import_json(&imp);
    (void)state;

    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "import");
    assert_string_equal(json_string_value(json_object_get(m, "job_id")),
                        "7d0f3c1e-2b5a-4f4e-9a51-0c9a3d1e4b42");
    assert_string_equal(json_string_value(json_object_get(m, "upload_id")), "crm-nightly-42");
    assert_int_equal(json_integer_value(json_object_get(m, "list_id")), 9);
    assert_string_equal(json_string_value(json_object_get(m, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(m, "rows_read")), 5000);
    assert_int_equal(json_integer_value(json_object_get(m, "rows_imported")), 4900);
    assert_int_equal(json_integer_value(json_object_get(m, "rows_rejected")), 100);
    assert_int_equal(json_integer_value(json_object_get(m, "rows_total")), 20011);
    assert_true(json_is_true(json_object_get(m, "rows_total_estimated")));
    /* The tenant is the audience, not part of the message. */
    assert_null(json_object_get(m, "tenant_id"));
    json_decref(m);
}

static void test_import_msg_exact_count(void **state)
{
    struct dash_import imp = running();
    json_t *m;
    (void)state;

    imp.state = "completed";
    imp.rows_read = imp.rows_total = 20000;
    imp.rows_total_estimated = false;
    m = dash__import_json(&imp);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "rows_total")), 20000);
    assert_true(json_is_false(json_object_get(m, "rows_total_estimated")));
    json_decref(m);
}

/* No body size (chunked upload): no number, so nothing is estimated either. */
static void test_import_msg_unknown_total(void **state)
{
    struct dash_import imp = running();
    json_t *m;
    (void)state;

    imp.rows_total = -1;
    imp.upload_id = NULL;
    imp.list_id = 0;
    m = dash__import_json(&imp);
    assert_non_null(m);
    assert_true(json_is_null(json_object_get(m, "rows_total")));
    assert_true(json_is_false(json_object_get(m, "rows_total_estimated")));
    assert_true(json_is_null(json_object_get(m, "upload_id")));
    assert_true(json_is_null(json_object_get(m, "list_id")));
    json_decref(m);
}

/* A zero-row file is an exact count of 0, not an unknown one. */
static void test_import_msg_zero_rows(void **state)
{
    struct dash_import imp = running();
    json_t *m;
    (void)state;

    imp.rows_read = imp.rows_imported = imp.rows_rejected = imp.rows_total = 0;
    imp.rows_total_estimated = false;
    m = dash__import_json(&imp);
    assert_non_null(m);
    assert_true(json_is_integer(json_object_get(m, "rows_total")));
    assert_int_equal(json_integer_value(json_object_get(m, "rows_total")), 0);
    assert_true(json_is_false(json_object_get(m, "rows_total_estimated")));
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_msg_estimate_while_streaming),
        cmocka_unit_test(test_import_msg_exact_count),
        cmocka_unit_test(test_import_msg_unknown_total),
        cmocka_unit_test(test_import_msg_zero_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
