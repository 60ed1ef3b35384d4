/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/timer: the timer heap and its ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "sim/sim_int.h"

static int fired[64];
static int nfired;

struct item {
    struct sim_timer t;
    int tag;
};

static void cb(struct sim *s, struct sim_timer *t)
{
    (void)s;
    fired[nfired++] = SIM_CONTAINER_OF(t, struct item, t)->tag;
}

static void test_timer_order_is_due_then_start_order(void **state)
{
    static struct sim s; /* only the timer fields are used */
    struct item it[6];
    int64_t base = 1000000000;
    (void)state;
    clock_set_fake(base);
    s.time_scale = 1.0;
    nfired = 0;
    for (int i = 0; i < 6; i++) {
        it[i].tag = i;
        sim__timer_init(&it[i].t, cb);
    }
    sim__timer_at(&s, &it[0].t, base + 30);
    sim__timer_at(&s, &it[1].t, base + 10);
    sim__timer_at(&s, &it[2].t, base + 10); /* same time: after 1 */
    sim__timer_at(&s, &it[3].t, base + 20);
    sim__timer_at(&s, &it[4].t, base + 5);
    sim__timer_at(&s, &it[5].t, base + 15);
    sim__timer_stop(&s, &it[5].t);
    assert_false(sim__timer_running(&it[5].t));
    sim__timer_at(&s, &it[4].t, base + 25); /* restart moves it */
    clock_set_fake(base + 100);
    sim__timers_run(&s);
    assert_int_equal(nfired, 5);
    assert_int_equal(fired[0], 1);
    assert_int_equal(fired[1], 2);
    assert_int_equal(fired[2], 3);
    assert_int_equal(fired[3], 4);
    assert_int_equal(fired[4], 0);
    sim__timers_fini(&s.timers);
    clock_clear_fake();
}

static void test_timer_scaled_delays(void **state)
{
    static struct sim s;
    struct item a;
    (void)state;
    clock_set_fake(5000000);
    s.time_scale = 0.1;
    nfired = 0;
    a.tag = 9;
    sim__timer_init(&a.t, cb);
    sim__timer_after(&s, &a.t, 1000000); /* 1 s simulated = 100 ms */
    assert_int_equal(a.t.due, 5000000 + 100000);
    clock_set_fake(5000000 + 99999);
    sim__timers_run(&s);
    assert_int_equal(nfired, 0);
    clock_set_fake(5000000 + 100000);
    sim__timers_run(&s);
    assert_int_equal(nfired, 1);
    sim__timers_fini(&s.timers);
    clock_clear_fake();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order_is_due_then_start_order),
        cmocka_unit_test(test_timer_scaled_delays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
