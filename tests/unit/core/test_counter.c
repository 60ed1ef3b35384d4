/* SPDX-License-Identifier: MIT */
/* Unit tests for core/counter. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/counter.h"

static struct counter attempts = COUNTER_INIT(COUNTER_KIND_COUNTER, "test_attempts_total", "a");
static struct counter inflight = COUNTER_INIT(COUNTER_KIND_GAUGE, "test_inflight", "b");

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        counter_inc(&attempts);
    }
    return NULL;
}

static void test_counter_concurrent_increments_are_exact(void **state)
{
    pthread_t th[4];
    (void)state;
    counter_set(&attempts, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, adder, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(counter_get(&attempts), 400000);
}

static void test_counter_gauge_goes_down(void **state)
{
    (void)state;
    counter_inc(&inflight);
    counter_inc(&inflight);
    counter_dec(&inflight);
    counter_add(&inflight, 5);
    assert_int_equal(counter_get(&inflight), 6);
}

struct seen {
    int n;
    int attempts_seen;
};

static void visit(const struct counter *c, void *arg)
{
    struct seen *s = arg;
    s->n++;
    if (strcmp(c->name, "test_attempts_total") == 0) {
        s->attempts_seen++;
    }
}

static void test_counter_registry_is_idempotent(void **state)
{
    struct seen s = { 0 };
    (void)state;
    counter_register(&attempts);
    counter_register(&inflight);
    counter_register(&attempts);
    counter_foreach(visit, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.attempts_seen, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_concurrent_increments_are_exact),
        cmocka_unit_test(test_counter_gauge_goes_down),
        cmocka_unit_test(test_counter_registry_is_idempotent),
    };
    return cmocka_run_group_tests_name("core/counter", tests, NULL, NULL);
}
