/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for api/api_perm.c: the permission matrix is well formed and
 * its roles nest (whatever a viewer may do, an editor may; whatever an
 * editor may do, an admin may), platform permissions need the operator
 * flag, and unknown roles get nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

static void test_perm_rows_in_enum_order_with_unique_names(void **state)
{
    size_t i, j;
    (void)state;

    for (i = 0; i < API_PERM_COUNT_; i++) {
        assert_int_equal(api_perm_matrix[i].perm, (int)i);
        assert_non_null(api_perm_matrix[i].name);
        assert_non_null(api_perm_matrix[i].describes);
        for (j = 0; j < i; j++) {
            assert_string_not_equal(api_perm_matrix[i].name, api_perm_matrix[j].name);
        }
    }
}

static void test_perm_roles_nest(void **state)
{
    size_t i;
    (void)state;

    for (i = 0; i < API_PERM_COUNT_; i++) {
        enum api_perm p = (enum api_perm)i;
        if (api_perm_allows(p, API_ROLE_VIEWER, false)) {
            assert_true(api_perm_allows(p, API_ROLE_EDITOR, false));
        }
        if (api_perm_allows(p, API_ROLE_EDITOR, false)) {
            assert_true(api_perm_allows(p, API_ROLE_ADMIN, false));
        }
    }
}

static void test_perm_platform_needs_operator(void **state)
{
    (void)state;
    assert_false(api_perm_allows(API_PERM_TENANTS_MANAGE, API_ROLE_ADMIN, false));
    assert_true(api_perm_allows(API_PERM_TENANTS_MANAGE, API_ROLE_ADMIN, true));
    assert_true(api_perm_allows(API_PERM_TENANTS_MANAGE, API_ROLE_VIEWER, true));
    /* The flag adds tenant management, not tenant permissions. */
    assert_false(api_perm_allows(API_PERM_USERS_WRITE, API_ROLE_VIEWER, true));
}

static void test_perm_people_and_keys_are_admin_only(void **state)
{
    (void)state;
    assert_true(api_perm_allows(API_PERM_USERS_WRITE, API_ROLE_ADMIN, false));
    assert_false(api_perm_allows(API_PERM_USERS_WRITE, API_ROLE_EDITOR, false));
    assert_false(api_perm_allows(API_PERM_API_KEYS_READ, API_ROLE_EDITOR, false));
    assert_false(api_perm_allows(API_PERM_USERS_READ, API_ROLE_VIEWER, false));
    assert_true(api_perm_allows(API_PERM_CAMPAIGNS_READ, API_ROLE_VIEWER, false));
    assert_false(api_perm_allows(API_PERM_CAMPAIGNS_WRITE, API_ROLE_VIEWER, false));
    /* Secrets open third parties' APIs: admins only, reading the names too. */
    assert_true(api_perm_allows(API_PERM_SECRETS_READ, API_ROLE_ADMIN, false));
    assert_true(api_perm_allows(API_PERM_SECRETS_WRITE, API_ROLE_ADMIN, false));
    assert_false(api_perm_allows(API_PERM_SECRETS_READ, API_ROLE_EDITOR, false));
    assert_false(api_perm_allows(API_PERM_SECRETS_WRITE, API_ROLE_EDITOR, false));
    assert_false(api_perm_allows(API_PERM_SECRETS_READ, API_ROLE_VIEWER, false));
}

static void test_perm_unknown_roles_and_perms_get_nothing(void **state)
{
    size_t i;
    (void)state;

    for (i = 1; i < API_PERM_COUNT_; i++) {
        assert_false(api_perm_allows((enum api_perm)i, API_ROLE_NONE, true));
        assert_false(api_perm_allows((enum api_perm)i, (enum api_role)7, true));
    }
    assert_false(api_perm_allows(API_PERM_COUNT_, API_ROLE_ADMIN, true));
    assert_true(api_perm_allows(API_PERM_PUBLIC, API_ROLE_NONE, false));
}

static void test_perm_role_names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(api_role_parse(api_role_name(API_ROLE_ADMIN)), API_ROLE_ADMIN);
    assert_int_equal(api_role_parse(api_role_name(API_ROLE_EDITOR)), API_ROLE_EDITOR);
    assert_int_equal(api_role_parse(api_role_name(API_ROLE_VIEWER)), API_ROLE_VIEWER);
    assert_int_equal(api_role_parse("Admin"), API_ROLE_NONE);
    assert_int_equal(api_role_parse(""), API_ROLE_NONE);
    assert_int_equal(api_role_parse(NULL), API_ROLE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perm_rows_in_enum_order_with_unique_names),
        cmocka_unit_test(test_perm_roles_nest),
        cmocka_unit_test(test_perm_platform_needs_operator),
        cmocka_unit_test(test_perm_people_and_keys_are_admin_only),
        cmocka_unit_test(test_perm_unknown_roles_and_perms_get_nothing),
        cmocka_unit_test(test_perm_role_names_round_trip),
    };
    return cmocka_run_group_tests_name("api_perm", tests, NULL, NULL);
}
