/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/dnc_file.c: the DNC file formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/err.h"

struct fx {
    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info li;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_int_equal(compliance_dnc_create(&f->d), 0);
    assert_int_equal(compliance_dnc_builder_create(&f->b), 0);
    f->li.scope = COMPLIANCE_DNC_TENANT;
    f->li.tenant_id = 1;
    f->li.list_id = 9;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    compliance_dnc_builder_destroy(f->b);
    compliance_dnc_destroy(f->d);
    free(f);
    return 0;
}

/* Parses text as a heap copy without a terminating NUL (ASan catches overreads). */
static int parse(struct fx *f, const char *text, enum compliance_dnc_format fmt,
                 compliance_dnc_change_cb *cb, void *arg, uint64_t *lines,
                 struct compliance_dnc_parse_error *err)
{
    size_t len = strlen(text);
    char *copy = malloc(len > 0 ? len : 1);
    memcpy(copy, text, len);
    int rc = compliance_dnc_parse(copy, len, fmt, f->b, cb, arg, lines, err);
    free(copy);
    return rc;
}

static int blocked(struct fx *f, const char *num)
{
    return compliance_dnc_check(f->d, num, "US", 1, 0, NULL);
}

static void publish(struct fx *f)
{
    assert_int_equal(compliance_dnc_publish(f->d, &f->li, f->b, 0), 0);
    f->b = NULL;
}

static void test_registry_full_both_forms(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_parse_error err;
    uint64_t lines;
    assert_int_equal(parse(f, "2125550100\r\n415,5550101\n\n# comment\n 3055550102 \n4155550101",
                           COMPLIANCE_DNC_FMT_AUTO, NULL, NULL, &lines, &err),
                     0);
    assert_int_equal(lines, 4);
    publish(f);
    assert_int_equal(blocked(f, "+12125550100"), 1);
    assert_int_equal(blocked(f, "+14155550101"), 1);
    assert_int_equal(blocked(f, "+13055550102"), 1);
    assert_int_equal(blocked(f, "+13055550103"), 0);
}

static void test_registry_errors_name_line_and_field(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_parse_error err;

    static const struct {
        const char *text;
        uint64_t line;
        const char *field;
    } cases[] = {
        { "2125550100\n212555010\n", 2, "number" },
        { "2125550100\n1125550100\n", 2, "area code" },
        { "2125550100\n2121550100\n", 2, "exchange" },
        { "2125550100\n212,5550100,x\n", 2, "unexpected field" },
        { "2125550100\n\n\n21255501OO\n", 4, "number" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(
            parse(f, cases[i].text, COMPLIANCE_DNC_FMT_REGISTRY, NULL, NULL, NULL, &err),
            ERR_PARSE);
        assert_int_equal(err.line, cases[i].line);
        assert_non_null(strstr(err.message, cases[i].field));
    }
}

struct changes {
    int adds, dels;
    char last[20];
};

static int on_change(int add, const char *e164, void *arg)
{
    struct changes *c = arg;
    if (add) {
        c->adds++;
    } else {
        c->dels++;
    }
    snprintf(c->last, sizeof(c->last), "%s", e164);
    return 0;
}

static void test_change_file(void **state)
{
    struct fx *f = *state;
    struct changes c = { 0 };
    struct compliance_dnc_parse_error err;
    uint64_t lines;
    assert_int_equal(parse(f, "212,5550100,A,20261101\n4155550101,D\n305,5550102,Delete\n",
                           COMPLIANCE_DNC_FMT_AUTO, on_change, &c, &lines, &err),
                     0);
    assert_int_equal(lines, 3);
    assert_int_equal(c.adds, 1);
    assert_int_equal(c.dels, 2);
    assert_string_equal(c.last, "+13055550102");
    assert_int_equal(parse(f, "212,5550100,A\n212,5550101,X\n", COMPLIANCE_DNC_FMT_CHANGES,
                           on_change, &c, NULL, &err),
                     ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "action"));
}

static void test_plain_and_csv(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_parse_error err;
    uint64_t lines;
    assert_int_equal(parse(f,
                           "phone,name,reason\n"
                           "\"+1 (212) 555-0100\",Jane,asked\n"
                           "1-415-555-0101,Joe\n"
                           "+442079460000,Ann\n"
                           "+1900,whole area code\n",
                           COMPLIANCE_DNC_FMT_AUTO, NULL, NULL, &lines, &err),
                     0);
    assert_int_equal(lines, 4);
    publish(f);
    assert_int_equal(blocked(f, "+12125550100"), 1);
    assert_int_equal(blocked(f, "+14155550101"), 1);
    assert_int_equal(compliance_dnc_check(f->d, "+442079460000", "GB", 1, 0, NULL), 1);
    assert_int_equal(blocked(f, "+19005550199"), 1);
}

static void test_plain_errors(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_parse_error err;
    static const char *const bad[] = {
        "+12125550100\nabc\n",               /* letters (not the first line) */
        "+12125550100\n555-0100\n",          /* 7 digits */
        "+12125550100\n+1212555010\n",       /* NANP with 10 digits after +1 ... 9 */
        "+12125550100\n+1234567890123456\n", /* 16 digits */
        "+12125550100\n+0123456789\n",       /* country code 0 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(f, bad[i], COMPLIANCE_DNC_FMT_PLAIN, NULL, NULL, NULL, &err),
                         ERR_PARSE);
        assert_int_equal(err.line, 2);
        assert_non_null(strstr(err.message, "column 1"));
    }
    assert_int_equal(parse(f, "", COMPLIANCE_DNC_FMT_AUTO, NULL, NULL, NULL, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_full_both_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_errors_name_line_and_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_and_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
