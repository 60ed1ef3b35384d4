/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for importers/buf.c's one-pass writers of the staging lines:
 * imp_buf_add_json_copy must write exactly what JSON escaping followed by
 * COPY text escaping writes (the two-pass way it replaces), and
 * imp_buf_add_u64 the decimal digits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "importers/importers_int.h"

/* The reference: JSON-escape into a scratch buffer, then COPY-escape that. */
static void two_pass(struct imp_buf *out, const char *s, size_t len, size_t max)
{
    struct imp_buf j;
    imp_buf_init(&j);
    assert_int_equal(imp_buf_add_json(&j, s, len, max), 0);
    assert_int_equal(imp_buf_add_copy(out, j.p, j.len), 0);
    imp_buf_fini(&j);
}

static void check(const char *s, size_t len, size_t max)
{
    struct imp_buf a, b;
    imp_buf_init(&a);
    imp_buf_init(&b);
    /* A prefix, so appending (not only writing from the start) is covered. */
    assert_int_equal(imp_buf_adds(&a, "x\t"), 0);
    assert_int_equal(imp_buf_adds(&b, "x\t"), 0);
    assert_int_equal(imp_buf_add_json_copy(&a, s, len, max), 0);
    two_pass(&b, s, len, max);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    assert_int_equal(a.p[a.len], 0);
    imp_buf_fini(&a);
    imp_buf_fini(&b);
}

static void test_buf_json_copy_matches_two_passes(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",          "plain",         "say \"hi\"",   "back\\slash",
        "tab\there", "new\nline\r\n", "\x01\x1f\x7f", "Jos\xC3\xA9 M\xC3\xBCller",
        "\\\\\"\"",  "=cmd()",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check(cases[i], strlen(cases[i]), 512);
    /* Every byte value, alone and in a run. */
    char all[256];
    for (int c = 0; c < 256; c++) {
        all[c] = (char)c;
        check(&all[c], 1, 512);
    }
    check(all, sizeof(all), 512);
    /* The cut at max stays on a UTF-8 boundary, as imp_buf_add_json's. */
    static const char u[] = "ab\xC3\xA9\xC3\xA9";
    for (size_t max = 0; max <= 6; max++)
        check(u, sizeof(u) - 1, max);
}

static void test_buf_json_copy_examples(void **state)
{
    (void)state;
    struct imp_buf a;
    imp_buf_init(&a);
    assert_int_equal(imp_buf_add_json_copy(&a, "a\"b\\c\td", 7, 512), 0);
    /* JSON a\"b\\c\u0009d, then each backslash doubled for COPY. */
    assert_string_equal(a.p, "a\\\\\"b\\\\\\\\c\\\\u0009d");
    imp_buf_fini(&a);
}

static void test_buf_u64(void **state)
{
    (void)state;
    static const uint64_t v[] = { 0, 7, 10, 12345, 18446744073709551615ull };
    static const char *const want[] = { "0", "7", "10", "12345", "18446744073709551615" };
    for (size_t i = 0; i < 5; i++) {
        struct imp_buf a;
        imp_buf_init(&a);
        assert_int_equal(imp_buf_add_u64(&a, v[i]), 0);
        assert_string_equal(a.p, want[i]);
        imp_buf_fini(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_json_copy_matches_two_passes),
        cmocka_unit_test(test_buf_json_copy_examples),
        cmocka_unit_test(test_buf_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
