/* SPDX-License-Identifier: MIT */
/*
 * ari-sim determinism: the same seed and the same requests give the same
 * originate log (timestamps aside); outcomes are drawn per number, so the
 * order of the requests does not change what each number does; another
 * seed gives other outcomes; a second attempt on a number is logged as
 * attempt 2. Runs the real ari-sim program twice or more.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sim/simc.h"

enum { NCALLS = 80 };

static const char *AUTH = "asterisk:asterisk";

/* Runs one simulator, originates NCALLS numbers (reversed if asked), and
 * returns the "originate" lines of its log without their timestamps. */
static json_t *run(const char *seed, int reversed)
{
    struct simc_proc p;
    char logpath[400];
    const char *args[] = { "--time-scale",
                           "0.02",
                           "--scenario",
                           "sim/scenarios/default.json",
                           "--seed",
                           seed,
                           "--originate-log",
                           logpath,
                           "--log-level",
                           "warn",
                           NULL };
    json_t *lines = json_array();
    FILE *f;
    char buf[2048];

    snprintf(logpath, sizeof(logpath), "/tmp/ari-sim-det-%d-%s-%d.log", (int)getpid(), seed,
             reversed);
    remove(logpath);
    assert_int_equal(simc_start(&p, args), 0);
    for (int k = 0; k < NCALLS; k++) {
        int i = reversed ? NCALLS - 1 - k : k;
        char path[300];
        struct simc_resp r;
        snprintf(path, sizeof(path),
                 "/ari/channels?endpoint=PJSIP/trunk/sip:%%2B1555000%04d@carrier&app=dialer"
                 "&channelId=det-%04d&timeout=30",
                 i, i);
        assert_int_equal(simc_http(p.port, "POST", path, NULL, NULL, AUTH, &r), 0);
        assert_true(r.status == 200 || r.status == 500);
        simc_resp_free(&r);
    }
    assert_int_equal(simc_stop(&p, SIGTERM), 0);
    assert_false(simc_log_has_sanitizer_report(&p));
    f = fopen(logpath, "r");
    assert_non_null(f);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        json_t *j = json_loads(buf, 0, NULL);
        assert_non_null(j);
        if (strcmp(json_string_value(json_object_get(j, "event")), "originate") == 0) {
            json_object_del(j, "time");
            json_array_append_new(lines, j);
        } else {
            json_decref(j);
        }
    }
    fclose(f);
    remove(logpath);
    assert_int_equal(json_array_size(lines), NCALLS);
    return lines;
}

static json_t *by_number(json_t *lines)
{
    json_t *m = json_object();
    size_t i;
    json_t *l;
    json_array_foreach (lines, i, l) {
        json_object_set(m, json_string_value(json_object_get(l, "number")), l);
    }
    return m;
}

static void test_same_seed_same_log(void **state)
{
    json_t *a = run("42", 0);
    json_t *b = run("42", 0);
    (void)state;
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_order_does_not_matter(void **state)
{
    json_t *a = run("42", 0);
    json_t *b = run("42", 1);
    json_t *ma = by_number(a), *mb = by_number(b);
    (void)state;
    assert_false(json_equal(a, b)); /* different order of lines */
    assert_true(json_equal(ma, mb));
    json_decref(ma);
    json_decref(mb);
    json_decref(a);
    json_decref(b);
}

static void test_other_seed_other_outcomes(void **state)
{
    json_t *a = run("42", 0);
    json_t *b = run("43", 0);
    size_t i, differ = 0;
    json_t *l;
    (void)state;
    json_array_foreach (a, i, l) {
        if (!json_equal(json_object_get(l, "outcome"),
                        json_object_get(json_array_get(b, i), "outcome"))) {
            differ++;
        }
    }
    assert_true(differ > NCALLS / 10);
    json_decref(a);
    json_decref(b);
}

static void test_attempts_are_counted(void **state)
{
    struct simc_proc p;
    char logpath[300];
    const char *args[] = { "--time-scale",
                           "0.05",
                           "--scenario",
                           "sim/scenarios/rules.json",
                           "--originate-log",
                           logpath,
                           "--log-level",
                           "warn",
                           NULL };
    struct simc_resp r;
    FILE *f;
    char buf[2048];
    int attempts[3] = { 0, 0, 0 };
    (void)state;

    snprintf(logpath, sizeof(logpath), "/tmp/ari-sim-att-%d.log", (int)getpid());
    remove(logpath);
    assert_int_equal(simc_start(&p, args), 0);
    for (int i = 0; i < 2; i++) {
        char path[200];
        snprintf(path, sizeof(path),
                 "/ari/channels?endpoint=PJSIP/trunk/sip:%%2B15550100@h&app=dialer&channelId=at-%d",
                 i);
        assert_int_equal(simc_http(p.port, "POST", path, NULL, NULL, AUTH, &r), 0);
        assert_int_equal(r.status, 200);
        simc_resp_free(&r);
    }
    assert_int_equal(simc_stop(&p, SIGTERM), 0);
    f = fopen(logpath, "r");
    assert_non_null(f);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        json_t *j = json_loads(buf, 0, NULL);
        assert_non_null(j);
        if (strcmp(json_string_value(json_object_get(j, "event")), "originate") == 0) {
            int a = (int)json_integer_value(json_object_get(j, "attempt"));
            assert_true(a >= 1 && a <= 2);
            attempts[a]++;
            assert_string_equal(json_string_value(json_object_get(j, "outcome")), "busy");
            assert_int_equal(json_integer_value(json_object_get(j, "cause")), 17);
        }
        json_decref(j);
    }
    fclose(f);
    remove(logpath);
    assert_int_equal(attempts[1], 1);
    assert_int_equal(attempts[2], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_log),
        cmocka_unit_test(test_order_does_not_matter),
        cmocka_unit_test(test_other_seed_other_outcomes),
        cmocka_unit_test(test_attempts_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
