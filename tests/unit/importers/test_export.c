/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for importers/export.c's cell writer: RFC 4180 quoting and the
 * spreadsheet-formula guard of the rejects export.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "importers/importers.h"

static const char *cell(const char *v)
{
    static char buf[256];
    int n = importer_csv_cell(v, strlen(v), buf, sizeof(buf));
    assert_true(n >= 0);
    assert_int_equal((size_t)n, strlen(buf));
    return buf;
}

static void test_export_cell_formula_guard(void **state)
{
    (void)state;
    assert_string_equal(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    assert_string_equal(cell("+1 415 555 2671"), "\"'+1 415 555 2671\"");
    assert_string_equal(cell("-2+3"), "\"'-2+3\"");
    assert_string_equal(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
    assert_string_equal(cell("\tx"), "\"'\tx\"");
    assert_string_equal(cell("\rx"), "\"'\rx\"");
    /* Only the first character matters. */
    assert_string_equal(cell("a=b"), "a=b");
}

static void test_export_cell_quoting(void **state)
{
    (void)state;
    assert_string_equal(cell("plain"), "plain");
    assert_string_equal(cell(""), "");
    assert_string_equal(cell("a,b"), "\"a,b\"");
    assert_string_equal(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_string_equal(cell("two\nlines"), "\"two\nlines\"");
    char small[4];
    assert_int_equal(importer_csv_cell("abcd", 4, small, sizeof(small)), ERR_TOOBIG);
    assert_int_equal(importer_csv_cell("abc", 3, small, sizeof(small)), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_cell_formula_guard),
        cmocka_unit_test(test_export_cell_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
