/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/map: the hash map and the id prefix index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim_int.h"

static void test_map_put_get_del_many(void **state)
{
    struct sim_map m;
    char key[32];
    size_t it = 0, seen = 0;
    (void)state;
    sim__map_init(&m, 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        sim__map_put(&m, key, (void *)(intptr_t)(i + 1));
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal((intptr_t)sim__map_del(&m, key), i + 1);
    }
    assert_int_equal(m.n, 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal((intptr_t)sim__map_get(&m, key), i % 2 ? i + 1 : 0);
    }
    while (sim__map_next(&m, &it) != NULL) {
        seen++;
    }
    assert_int_equal(seen, 2500);
    sim__map_put(&m, "k1", (void *)7);
    assert_int_equal((intptr_t)sim__map_get(&m, "k1"), 7);
    assert_int_equal(m.n, 2500);
    sim__map_fini(&m);
}

static void test_map_nocase(void **state)
{
    struct sim_map m;
    (void)state;
    sim__map_init(&m, 1);
    sim__map_put(&m, "Local/s@ctx-00000001;1", (void *)1);
    assert_int_equal((intptr_t)sim__map_get(&m, "local/S@CTX-00000001;1"), 1);
    sim__map_fini(&m);
    sim__map_init(&m, 0);
    sim__map_put(&m, "Abc", (void *)1);
    assert_null(sim__map_get(&m, "abc"));
    sim__map_fini(&m);
}

static void test_idx_prefix_like_asterisk(void **state)
{
    struct sim_idx x;
    (void)state;
    sim__idx_init(&x);
    sim__idx_add(&x, "x-10");
    sim__idx_add(&x, "Local/s@callee-00000001;1");
    assert_true(sim__idx_has_prefix(&x, "x-1"));
    assert_true(sim__idx_has_prefix(&x, "X-10"));
    assert_true(sim__idx_has_prefix(&x, "local/S@"));
    assert_false(sim__idx_has_prefix(&x, "x-100"));
    assert_false(sim__idx_has_prefix(&x, "x-2"));
    sim__idx_add(&x, "x-10");
    sim__idx_del(&x, "x-10");
    assert_true(sim__idx_has_prefix(&x, "x-1")); /* the duplicate is still there */
    sim__idx_del(&x, "X-10");
    assert_false(sim__idx_has_prefix(&x, "x-1"));
    for (int i = 0; i < 2000; i++) {
        char k[32];
        snprintf(k, sizeof(k), "id-%06d", i * 7 % 2000);
        sim__idx_add(&x, k);
    }
    assert_true(sim__idx_has_prefix(&x, "id-0019"));
    assert_false(sim__idx_has_prefix(&x, "id-002000"));
    assert_int_equal(x.n, 2001);
    sim__idx_fini(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_put_get_del_many),
        cmocka_unit_test(test_map_nocase),
        cmocka_unit_test(test_idx_prefix_like_asterisk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
