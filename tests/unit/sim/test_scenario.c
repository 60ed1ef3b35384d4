/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/scenario and sim/rng: parsing, rules, weights, draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim_int.h"

static struct sim_scenario *load_text(const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    struct sim_scenario *sc;
    assert_non_null(j);
    sc = sim__scenario_load_json(j, err, errlen);
    json_decref(j);
    return sc;
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(sim__glob("*0", "+15550100"));
    assert_false(sim__glob("*0", "+15550101"));
    assert_true(sim__glob("+1555????", "+15550101"));
    assert_true(sim__glob("+1[45]*", "+1555"));
    assert_false(sim__glob("+1[!45]*", "+1555"));
    assert_true(sim__glob("Local/*@callee-*", "Local/s@callee-machine"));
    assert_true(sim__glob("*", ""));
}

static void test_example_scenarios_load(void **state)
{
    static const char *const files[] = { "sim/scenarios/default.json", "sim/scenarios/rules.json",
                                         "sim/scenarios/inbound.json", "sim/scenarios/load.json",
                                         "sim/scenarios/answering-rates.json" };
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct sim_scenario *sc = sim__scenario_load_file(files[i], err, sizeof(err));
        if (sc == NULL) {
            fail_msg("%s: %s", files[i], err);
        }
        sim__scenario_unref(sc);
    }
}

static void test_rules_pick_by_last_digit(void **state)
{
    char err[256];
    struct sim_scenario *sc = sim__scenario_load_file("sim/scenarios/rules.json", err, sizeof(err));
    struct sim_rng r;

    static const enum sim_outcome want[10] = {
        OUT_BUSY,        OUT_NOANSWER, OUT_CONGESTION, OUT_REJECTED, OUT_UNALLOCATED,
        OUT_UNREACHABLE, OUT_ANSWER,   OUT_ANSWER,     OUT_FAILED,   OUT_ANSWER,
    };

    (void)state;
    assert_non_null(sc);
    sim__rng_seed(&r, 1);
    for (int d = 0; d < 10; d++) {
        char num[32];
        const struct sim_spec *sp;
        snprintf(num, sizeof(num), "+155501%d", d);
        sp = sim__scenario_pick(sc, num, "PJSIP/trunk", &r);
        assert_int_equal(sp->outcome, want[d]);
    }
    assert_int_equal(sim__scenario_pick(sc, "+1555016", "x", &r)->amd, AMD_MACHINE);
    assert_int_equal(sim__scenario_pick(sc, "+1555017", "x", &r)->ndtmf, 2);
    assert_true(sim__scenario_pick(sc, "+1555019", "x", &r)->talk_forever);
    sim__scenario_unref(sc);
}

static void test_weights(void **state)
{
    char err[256];
    struct sim_scenario *sc =
        load_text("{\"populations\":{\"default\":[{\"weight\":3,\"outcome\":\"answer\"},"
                  "{\"weight\":1,\"outcome\":\"busy\"}]}}",
                  err, sizeof(err));
    struct sim_rng r;
    int answers = 0;
    (void)state;
    assert_non_null(sc);
    sim__rng_seed(&r, 99);
    for (int i = 0; i < 4000; i++) {
        answers += sim__scenario_pick(sc, "1", "x", &r)->outcome == OUT_ANSWER;
    }
    assert_true(answers > 2850 && answers < 3150);
    sim__scenario_unref(sc);
}

static void test_bad_scenarios_are_explained(void **state)
{
    char err[256];
    (void)state;
    assert_null(load_text("{\"populations\":{\"x\":[{\"weight\":1}]}}", err, sizeof(err)));
    assert_non_null(strstr(err, "default"));
    assert_null(
        load_text("{\"populations\":{\"default\":[{\"outcome\":\"maybe\"}]}}", err, sizeof(err)));
    assert_non_null(strstr(err, "maybe"));
    assert_null(load_text("{\"populations\":{\"default\":[{\"ring\":{\"uniform\":[3,1]}}]}}", err,
                          sizeof(err)));
    assert_non_null(strstr(err, "uniform"));
    assert_null(load_text("{\"rules\":[{\"outcome\":\"busy\"}]}", err, sizeof(err)));
    assert_non_null(strstr(err, "number"));
    assert_null(load_text("{\"populations\":{\"default\":[{\"dtmf\":[{\"digits\":\"1x\"}]}]}}", err,
                          sizeof(err)));
    assert_non_null(strstr(err, "digits"));
    assert_null(load_text("{\"disk_full\":\"sometimes\"}", err, sizeof(err)));
    assert_non_null(strstr(err, "disk_full"));
}

/* disk_full: off by default; true and "write" end recordings empty, "mkdir" refuses them. */
static void test_disk_full_key(void **state)
{
    static const struct {
        const char *text;
        enum sim_disk want;
    } cases[] = {
        { "{}", SIM_DISK_OK },
        { "{\"disk_full\":false}", SIM_DISK_OK },
        { "{\"disk_full\":true}", SIM_DISK_FULL_WRITE },
        { "{\"disk_full\":\"write\"}", SIM_DISK_FULL_WRITE },
        { "{\"disk_full\":\"mkdir\"}", SIM_DISK_FULL_MKDIR },
    };

    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sim_scenario *sc = load_text(cases[i].text, err, sizeof(err));
        assert_non_null(sc);
        assert_int_equal(sc->disk_full, cases[i].want);
        sim__scenario_unref(sc);
    }
}

static void test_distributions(void **state)
{
    struct sim_dist d;
    struct sim_rng r, r2;
    char err[128];
    json_t *j;
    double sum = 0;
    (void)state;
    sim__rng_seed(&r, 5);
    r2 = r;
    assert_int_equal(sim__rng_next(&r), sim__rng_next(&r2));

    j = json_loads("{\"uniform\":[2,4]}", 0, NULL);
    assert_int_equal(sim__dist_parse(j, &d, err, sizeof(err)), 0);
    json_decref(j);
    for (int i = 0; i < 1000; i++) {
        double v = sim__dist_draw(&d, &r, 0);
        assert_true(v >= 2 && v <= 4);
    }
    j = json_loads("{\"exponential\":10,\"max\":30}", 0, NULL);
    assert_int_equal(sim__dist_parse(j, &d, err, sizeof(err)), 0);
    json_decref(j);
    for (int i = 0; i < 20000; i++) {
        double v = sim__dist_draw(&d, &r, 0);
        assert_true(v >= 0 && v <= 30);
        sum += v;
    }
    assert_true(sum / 20000 > 8.5 && sum / 20000 < 10.0);
    j = json_loads("{\"lognormal\":{\"median\":6,\"sigma\":0.5}}", 0, NULL);
    assert_int_equal(sim__dist_parse(j, &d, err, sizeof(err)), 0);
    json_decref(j);
    {
        int below = 0;
        for (int i = 0; i < 10000; i++) {
            below += sim__dist_draw(&d, &r, 0) < 6.0;
        }
        assert_true(below > 4700 && below < 5300);
    }
    d.kind = DIST_NONE;
    assert_true(sim__dist_draw(&d, &r, 1.5) == 1.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_disk_full_key),
        cmocka_unit_test(test_example_scenarios_load),
        cmocka_unit_test(test_rules_pick_by_last_digit),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_bad_scenarios_are_explained),
        cmocka_unit_test(test_distributions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
