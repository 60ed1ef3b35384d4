/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for compliance/rules.c: holiday calendars (fixed, n-th and last
 * weekday, Easter, election day, observed-day shifting) and the rule rows.
 * Includes rules.c to reach its calendars.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/rules.c"

struct hol_case {
    const struct compliance__holiday_cal *cal;
    int y, m, d;
    int banned;
};

/* clang-format off */
static const struct hol_case hol_cases[] = {
    /* Alabama: Ala. Code 1-3-8, Saturday -> Friday, Sunday -> Monday. */
    { &al_cal, 2026, 1, 1, 1 },    /* New Year's Day, Thursday */
    { &al_cal, 2026, 1, 2, 0 },
    { &al_cal, 2026, 1, 19, 1 },   /* third Monday of January */
    { &al_cal, 2026, 4, 27, 1 },   /* fourth Monday of April: Confederate Memorial Day */
    { &al_cal, 2026, 5, 25, 1 },   /* last Monday of May */
    { &al_cal, 2026, 6, 1, 1 },    /* first Monday of June: Jefferson Davis */
    { &al_cal, 2026, 7, 3, 1 },    /* Friday before a Saturday July 4 */
    { &al_cal, 2026, 7, 4, 1 },
    { &al_cal, 2026, 7, 6, 0 },
    { &al_cal, 2027, 12, 31, 1 },  /* Friday before Saturday 2028-01-01 */
    { &al_cal, 2028, 1, 1, 1 },
    { &al_cal, 2026, 11, 26, 1 },  /* Thanksgiving */
    { &al_cal, 2026, 2, 17, 1 },   /* Mardi Gras 2026 (Easter April 5) */
    { &al_cal, 2022, 12, 26, 1 },  /* Monday after a Sunday Christmas */
    /* Mississippi: Sunday -> Monday only. */
    { &ms_cal, 2026, 7, 3, 0 },
    { &ms_cal, 2027, 7, 5, 1 },    /* July 4, 2027 is a Sunday */
    { &ms_cal, 2026, 4, 27, 1 },   /* last Monday of April */
    /* Rhode Island: four days move to Monday from Saturday or Sunday (25-1-1);
     * federal holidays are also observed on the Friday before (5 U.S.C. 6103). */
    { &ri_cal, 2026, 7, 6, 1 },
    { &ri_cal, 2026, 7, 3, 1 },
    { &ri_cal, 2026, 5, 1, 0 },    /* May 4 is a Monday in 2026: no shift */
    { &ri_cal, 2027, 6, 18, 1 },   /* Juneteenth 2027 is a Saturday: federal Friday */
    { &ri_cal, 2027, 6, 21, 0 },   /* ... and not the Monday (25-1-1 moves only Sundays) */
    { &ri_cal, 2026, 5, 4, 1 },    /* RI Independence Day */
    { &ri_cal, 2026, 8, 10, 1 },   /* Victory Day, second Monday of August */
    { &ri_cal, 2026, 11, 3, 1 },   /* election day 2026 */
    { &ri_cal, 2027, 11, 2, 0 },   /* no general state election in 2027 */
    { &ri_cal, 2026, 6, 19, 1 },   /* Juneteenth */
    /* Utah. */
    { &ut_cal, 2026, 7, 24, 1 },   /* Pioneer Day, Friday */
    { &ut_cal, 2027, 7, 23, 1 },   /* Saturday 2027-07-24 -> Friday */
    { &ut_cal, 2022, 7, 25, 1 },   /* Sunday 2022-07-24 -> Monday (vendor list) */
    /* Louisiana. */
    { &la_cal, 2026, 1, 8, 1 },    /* Battle of New Orleans */
    { &la_cal, 2026, 4, 3, 1 },    /* Good Friday 2026 */
    { &la_cal, 2026, 11, 1, 1 },   /* All Saints' Day */
    /* Pennsylvania: Christmas only. */
    { &pa_cal, 2026, 12, 25, 1 },
    { &pa_cal, 2026, 7, 4, 0 },
    { &pa_cal, 2022, 12, 26, 0 },
    /* France: Easter-based days 2026 (Easter April 5). */
    { &fr_cal, 2026, 4, 6, 1 },    /* Lundi de Paques */
    { &fr_cal, 2026, 5, 14, 1 },   /* Ascension */
    { &fr_cal, 2026, 5, 25, 1 },   /* Lundi de Pentecote */
    { &fr_cal, 2026, 5, 8, 1 },
    { &fr_cal, 2026, 8, 15, 1 },
    { &fr_cal, 2026, 8, 14, 0 },
};

/* clang-format on */

static void test_rules_holiday_calendars(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hol_cases) / sizeof(hol_cases[0]); i++) {
        const struct hol_case *c = &hol_cases[i];
        int got = compliance__holiday_is(c->cal, c->y, (unsigned)c->m, (unsigned)c->d);
        if (got != c->banned) {
            print_error("case %zu %04d-%02d-%02d: got %d\n", i, c->y, c->m, c->d, got);
            fail();
        }
    }
}

static void test_rules_easter(void **state)
{
    (void)state;
    assert_int_equal(easter(2026), compliance__days_from_civil(2026, 4, 5));
    assert_int_equal(easter(2027), compliance__days_from_civil(2027, 3, 28));
    assert_int_equal(easter(2038), compliance__days_from_civil(2038, 4, 25));
    assert_int_equal(easter(2285), compliance__days_from_civil(2285, 3, 22));
}

static void test_rules_state_rows_narrow_federal(void **state)
{
    const struct compliance__juris *us = compliance__juris_us();
    (void)state;
    for (size_t i = 0; compliance__juris_state_at(i) != NULL; i++) {
        const struct compliance__juris *j = compliance__juris_state_at(i);
        if (i > 0) {
            assert_true(strcmp(compliance__juris_state_at(i - 1)->code, j->code) < 0);
        }
        if (j->hours_rule == NULL) {
            continue;
        }
        for (int wd = 0; wd < 7; wd++) {
            for (unsigned k = 0; k < j->hours[wd].n; k++) {
                assert_true(j->hours[wd].start[k] >= us->hours[wd].start[0]);
                assert_true(j->hours[wd].end[k] <= us->hours[wd].end[0]);
            }
        }
    }
    assert_non_null(compliance__juris_state("FL"));
    assert_true(compliance__juris_state("FL")->presumption);
    assert_null(compliance__juris_state("NY"));
    assert_non_null(compliance__juris_country("FR"));
    assert_null(compliance__juris_country("DE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_holiday_calendars),
        cmocka_unit_test(test_rules_easter),
        cmocka_unit_test(test_rules_state_rows_narrow_federal),
    };
    return cmocka_run_group_tests_name("compliance_rules", tests, NULL, NULL);
}
