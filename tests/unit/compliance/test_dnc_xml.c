/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/dnc_xml.c: the registry's XML tagged file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "compliance/dnc_file_int.h"
#include "core/err.h"

#define MAX_SEEN 32

struct seen {
    size_t n;
    char num[MAX_SEEN][20];
};

static int on_entry(int add, const char *e164, void *arg)
{
    struct seen *s = arg;
    assert_int_equal(add, 1);
    assert_true(s->n < MAX_SEEN);
    snprintf(s->num[s->n++], sizeof(s->num[0]), "%s", e164);
    return 0;
}

/* Parses text (a heap copy without NUL) entry by entry into s. */
static int parse(const char *text, enum compliance_dnc_format fmt, struct seen *s, uint64_t *lines,
                 struct compliance_dnc_parse_error *err)
{
    size_t len = strlen(text);
    char *copy = malloc(len > 0 ? len : 1);
    memcpy(copy, text, len);
    memset(s, 0, sizeof(*s));
    int rc = compliance_dnc_parse(copy, len, fmt, NULL, on_entry, s, lines, err);
    free(copy);
    return rc;
}

static const char sample[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!-- National Do Not Call Registry: <full> download -->\n"
    "<DNCFile created=\"2026-11-01\" count=\"6\">\n"
    "  <Header><Date>20261101</Date><Records>6</Records></Header>\n"
    "  <Record><PhoneNumber>2015550100</PhoneNumber></Record>\n"
    "  <Record><AreaCode>415</AreaCode><Number>5550123</Number></Record>\n"
    "  <Record><Phone><![CDATA[(312) 555-0199]]></Phone><Note>A &amp; B</Note></Record>\n"
    "  <Record areaCode='646' number=\"5550142\"/>\n"
    "  <Record><PhoneNumber>\n    +1 718 555 0111\n  </PhoneNumber></Record>\n"
    "  <Record phone=\"9175550177\"></Record>\n"
    "  <Record><PhoneNumber>0125550100</PhoneNumber><Id>123</Id></Record>\n"
    "</DNCFile>\n";

static const char *const sample_numbers[] = { "+12015550100", "+14155550123", "+13125550199",
                                              "+16465550142", "+17185550111", "+19175550177" };

/* Numbers in element text, CDATA, attributes and area code + number pairs; the
 * rest (dates, counts, ids, comments, an invalid NANP number) is ignored. */
static void test_numbers_found(void **state)
{
    (void)state;
    struct seen s;
    struct compliance_dnc_parse_error err;
    uint64_t lines = 0;
    assert_int_equal(parse(sample, COMPLIANCE_DNC_FMT_AUTO, &s, &lines, &err), 0);
    assert_int_equal(s.n, 6);
    assert_int_equal(lines, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(s.num[i], sample_numbers[i]);
    }
    /* the registry format reads the registry's XML variant too; xml is explicit */
    assert_int_equal(parse(sample, COMPLIANCE_DNC_FMT_REGISTRY, &s, &lines, &err), 0);
    assert_int_equal(s.n, 6);
    assert_int_equal(parse(sample, COMPLIANCE_DNC_FMT_XML, &s, &lines, &err), 0);
    assert_int_equal(s.n, 6);
    /* the plain format does not read XML: its first data line is not a number */
    assert_int_equal(parse(sample, COMPLIANCE_DNC_FMT_PLAIN, &s, &lines, &err), ERR_PARSE);
}

/* An area code is paired only with a number under the same parent. */
static void test_area_code_scope(void **state)
{
    (void)state;
    struct seen s;
    struct compliance_dnc_parse_error err;
    assert_int_equal(parse("<l><r><a>415</a></r><r><n>5550123</n><p>2125550100</p></r></l>",
                           COMPLIANCE_DNC_FMT_XML, &s, NULL, &err),
                     0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.num[0], "+12125550100");
}

/* Fed byte by byte (as a zip member is inflated), the result is the same. */
static void test_streamed_byte_by_byte(void **state)
{
    (void)state;
    struct seen s;
    struct compliance_dnc_parse_error err;
    struct dnc__target tg = { .cb = on_entry, .arg = &s };
    struct dnc__text *t = malloc(sizeof(*t));
    memset(&s, 0, sizeof(s));
    dnc__text_init(t, COMPLIANCE_DNC_FMT_AUTO, &tg, &err);
    for (size_t i = 0; i < sizeof(sample) - 1; i++) {
        assert_int_equal(dnc__text_feed(t, sample + i, 1, false), 0);
    }
    assert_int_equal(dnc__text_end(t), 0);
    assert_int_equal(dnc__text_count(t), 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(s.num[i], sample_numbers[i]);
    }
    free(t);
}

/* A DTD, entity definitions and undefined entities are refused, with the line:
 * no external entity is fetched, no entity is expanded. */
static void test_dtd_and_entities_refused(void **state)
{
    (void)state;
    struct seen s;
    struct compliance_dnc_parse_error err;
    assert_int_equal(parse("<?xml version=\"1.0\"?>\n<!DOCTYPE r [\n<!ENTITY x SYSTEM "
                           "\"file:///etc/passwd\">]>\n<r><n>2015550100</n></r>\n",
                           COMPLIANCE_DNC_FMT_AUTO, &s, NULL, &err),
                     ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "DTD"));
    assert_int_equal(s.n, 0);
    assert_int_equal(parse("<r>\n<n>&x;</n>\n</r>", COMPLIANCE_DNC_FMT_AUTO, &s, NULL, &err),
                     ERR_PARSE);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "entity"));
    assert_int_equal(
        parse("<r>\n<n a=\"&lol9;\">2015550100</n></r>", COMPLIANCE_DNC_FMT_AUTO, &s, NULL, &err),
        ERR_PARSE);
    assert_non_null(strstr(err.message, "entity"));
    /* the five XML entities and character references are fine (and make text no number) */
    assert_int_equal(parse("<r><t>&lt;&#65;&#x42;&quot;</t><n>2015550100</n><n>&#50;015550100</n>"
                           "</r>",
                           COMPLIANCE_DNC_FMT_AUTO, &s, NULL, &err),
                     0);
    assert_int_equal(s.n, 1);
}

/* Malformed markup: the error says what and on which line. */
static void test_malformed_reports_line(void **state)
{
    (void)state;

    static const struct {
        const char *text;
        uint64_t line;
        const char *what;
    } cases[] = {
        { "<r>\n<n>2015550100</m>\n</r>", 2, "does not match" },
        { "<r>\n<n>2015550100</n>\n", 3, "still open" },
        { "<r>\n<n x=1>2015550100</n></r>", 2, "not quoted" },
        { "<r><n>2015550100</n></r>\n<r></r>", 2, "second root" },
        { "<r><n>2015550100</n></r>\ntrailing", 2, "outside the root" },
        { "<r><n>2015550100</n>\n<!-- open", 2, "comment" },
        { "<r><n><![CDATA[2015550100</n></r>", 1, "CDATA" },
        { "<r>\n\n< n>2015550100</n></r>", 3, "tag name" },
        { "<r><n>2015550100</n><x/ ></r>", 1, "'/'" },
        { "<r><d>2026-11-01</d></r>", 1, "no phone numbers" },
        { "<!-- only a comment -->", 1, "no root" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen s;
        struct compliance_dnc_parse_error err;
        int rc = parse(cases[i].text, COMPLIANCE_DNC_FMT_XML, &s, NULL, &err);
        if (rc != ERR_PARSE || err.line != cases[i].line ||
            strstr(err.message, cases[i].what) == NULL) {
            fail_msg("case %zu: rc %d line %llu message \"%s\"", i, rc,
                     (unsigned long long)err.line, err.message);
        }
    }
    /* deeper than the nesting bound */
    char *deep = malloc(300 * 3 + 32);
    size_t o = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(deep + o, "<a>", 3);
        o += 3;
    }
    deep[o] = '\0';
    struct seen s;
    struct compliance_dnc_parse_error err;
    assert_int_equal(parse(deep, COMPLIANCE_DNC_FMT_XML, &s, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "deeper"));
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_found),
        cmocka_unit_test(test_area_code_scope),
        cmocka_unit_test(test_streamed_byte_by_byte),
        cmocka_unit_test(test_dtd_and_entities_refused),
        cmocka_unit_test(test_malformed_reports_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
