/* SPDX-License-Identifier: MIT */
/* Unit tests for core/arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"

static void test_arena_allocations_are_aligned_and_disjoint(void **state)
{
    struct arena a;
    char *prev = NULL;
    (void)state;
    arena_init(&a, 256);
    for (int i = 1; i < 200; i++) {
        char *p = arena_alloc(&a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, i & 0xff, (size_t)i);
        if (prev != NULL) {
            assert_int_equal((unsigned char)prev[0], (unsigned)((i - 1) & 0xff));
        }
        prev = p;
    }
    arena_fini(&a);
}

static void test_arena_large_allocation_keeps_current_block(void **state)
{
    struct arena a;
    (void)state;
    arena_init(&a, 128);
    char *small1 = arena_alloc(&a, 16);
    char *big = arena_alloc(&a, 10000);
    char *small2 = arena_alloc(&a, 16);
    assert_non_null(big);
    memset(big, 'b', 10000);
    /* The small allocations come from the same 128-byte block. */
    assert_ptr_equal(small2, small1 + 16);
    assert_int_equal(arena_used(&a), 16 + 10000 + 16);
    arena_fini(&a);
}

static void test_arena_strings(void **state)
{
    struct arena a;
    (void)state;
    arena_init(&a, 0);
    assert_string_equal(arena_strdup(&a, "hello"), "hello");
    assert_string_equal(arena_strndup(&a, "hello world", 5), "hello");
    assert_string_equal(arena_sprintf(&a, "%s-%d", "call", 42), "call-42");
    char *z = arena_calloc(&a, 64);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(z[i], 0);
    }
    arena_fini(&a);
}

static void test_arena_reset_reuses_first_block(void **state)
{
    struct arena a;
    (void)state;
    arena_init(&a, 64);
    char *first = arena_alloc(&a, 32);
    for (int i = 0; i < 100; i++) {
        assert_non_null(arena_alloc(&a, 48));
    }
    arena_reset(&a);
    assert_int_equal(arena_used(&a), 0);
    assert_ptr_equal(arena_alloc(&a, 32), first);
    arena_fini(&a);
}

static void test_arena_rejects_overflowing_size(void **state)
{
    struct arena a;
    (void)state;
    arena_init(&a, 64);
    assert_null(arena_alloc(&a, SIZE_MAX - 3));
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_allocations_are_aligned_and_disjoint),
        cmocka_unit_test(test_arena_large_allocation_keeps_current_block),
        cmocka_unit_test(test_arena_strings),
        cmocka_unit_test(test_arena_reset_reuses_first_block),
        cmocka_unit_test(test_arena_rejects_overflowing_size),
    };
    return cmocka_run_group_tests_name("core/arena", tests, NULL, NULL);
}
