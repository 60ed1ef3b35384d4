/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for importers/mapping.c: header synonyms, the main number among
 * several phone columns, explicit mappings, custom keys, a missing phone
 * column explained.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "importers/importers_int.h"

static int build(struct imp_mapping *m, const char *const *h, size_t n, const char *json, char *err,
                 size_t errsz)
{
    char *names[32];
    size_t lens[32];
    for (size_t i = 0; i < n; i++) {
        names[i] = (char *)h[i];
        lens[i] = strlen(h[i]);
    }
    json_t *x = json ? json_loads(json, 0, NULL) : NULL;
    int rc = imp_mapping_build(m, names, lens, n, false, x, err, errsz);
    json_decref(x);
    return rc;
}

static void test_mapping_synonyms(void **state)
{
    (void)state;
    static const char *const h[] = { "First Name", "LAST_NAME", "E-mail", "Home Phone",
                                     "Mobile",     "PHONE_1",   "ST",     "Zip Code",
                                     "Time Zone",  "CRM ID",    "Ext",    "Favourite colour" };
    struct imp_mapping m;
    char err[256];
    assert_int_equal(build(&m, h, 12, NULL, err, sizeof(err)), 0);
    assert_int_equal(m.number_col, 5); /* PHONE_1 outranks Mobile and Home Phone */
    assert_int_equal(m.kind[0], IMP_F_FIRST_NAME);
    assert_int_equal(m.kind[1], IMP_F_LAST_NAME);
    assert_int_equal(m.kind[2], IMP_F_EMAIL);
    assert_int_equal(m.kind[3], IMP_F_ALT);
    assert_int_equal(m.kind[4], IMP_F_ALT);
    assert_int_equal(m.kind[6], IMP_F_STATE);
    assert_int_equal(m.kind[7], IMP_F_POSTAL);
    assert_int_equal(m.kind[8], IMP_F_TZ);
    assert_int_equal(m.kind[9], IMP_F_EXTERNAL_ID);
    assert_int_equal(m.kind[10], IMP_F_EXTENSION);
    assert_int_equal(m.kind[11], IMP_F_CUSTOM);
    assert_string_equal(m.key[0], "first_name");
    assert_string_equal(m.key[11], "Favourite colour");
    assert_null(m.key[5]);
    imp_mapping_fini(&m);

    static const char *const cell[] = { "name", "Cell Phone" };
    assert_int_equal(build(&m, cell, 2, NULL, err, sizeof(err)), 0);
    assert_int_equal(m.number_col, 1);
    imp_mapping_fini(&m);
}

static void test_mapping_explicit(void **state)
{
    (void)state;
    static const char *const h[] = { "Phone", "Given", "Other", "Notes" };
    struct imp_mapping m;
    char err[256];
    assert_int_equal(build(&m, h, 4,
                           "{\"phone\": \"Other\", \"first_name\": \"given\","
                           " \"ignore\": [4]}",
                           err, sizeof(err)),
                     0);
    assert_int_equal(m.number_col, 2);
    assert_int_equal(m.kind[0], IMP_F_ALT); /* the other phone column becomes an alternate */
    assert_int_equal(m.kind[1], IMP_F_FIRST_NAME);
    assert_int_equal(m.kind[3], IMP_F_IGNORE);
    assert_null(m.key[3]);
    json_t *j = imp_mapping_json(&m);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "columns"), 2), "field")),
                        "phone");
    json_decref(j);
    imp_mapping_fini(&m);

    assert_int_equal(build(&m, h, 4, "{\"phone\": \"Nope\"}", err, sizeof(err)), ERR_INVAL);
    assert_non_null(strstr(err, "phone"));
    assert_int_equal(build(&m, h, 4, "{\"colour\": \"Notes\"}", err, sizeof(err)), ERR_INVAL);
    assert_non_null(strstr(err, "unknown field"));
}

static void test_mapping_no_phone_column(void **state)
{
    (void)state;
    static const char *const h[] = { "name|phone" };
    struct imp_mapping m;
    char err[512];
    assert_int_equal(build(&m, h, 1, NULL, err, sizeof(err)), ERR_NOTFOUND);
    assert_non_null(strstr(err, "no phone column"));
    assert_non_null(strstr(err, "\"name|phone\""));
    assert_non_null(strstr(err, "delimiter"));
}

static void test_mapping_header_norm(void **state)
{
    (void)state;
    char out[32];
    imp_header_norm("Phone Number", 12, out, sizeof(out));
    assert_string_equal(out, "phonenumber");
    imp_header_norm("PHONE_1", 7, out, sizeof(out));
    assert_string_equal(out, "phone1");
    imp_header_norm("e-mail", 6, out, sizeof(out));
    assert_string_equal(out, "email");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_synonyms),
        cmocka_unit_test(test_mapping_explicit),
        cmocka_unit_test(test_mapping_no_phone_column),
        cmocka_unit_test(test_mapping_header_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
