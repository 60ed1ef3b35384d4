/* SPDX-License-Identifier: MIT */
/* Unit tests for sim/engine helpers: dialed numbers and caller ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/engine.c"

static void test_endpoint_number(void **state)
{
    static const char *const rows[][2] = {
        { "PJSIP/trunk/sip:+15550001@carrier", "+15550001" },
        { "PJSIP/trunk/sip:+15550001@carrier;user=phone", "+15550001" },
        { "PJSIP/trunk/sips:2000@h", "2000" },
        { "PJSIP/trunk/tel:+4420", "+4420" },
        { "PJSIP/+15550002@trunk", "+15550002" },
        { "PJSIP/1000", "1000" },
        { "Local/s@callee-answer", "s" },
        { "Local/21@callee-reject/n", "21" },
        { "nonsense", "" },
    };
    char buf[64];
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sim__endpoint_number(rows[i][0], buf, sizeof(buf));
        assert_string_equal(buf, rows[i][1]);
    }
    pjsip_endpoint("trunk/sip:1@h", buf, sizeof(buf));
    assert_string_equal(buf, "trunk");
    pjsip_endpoint("1000@trunk2", buf, sizeof(buf));
    assert_string_equal(buf, "trunk2");
}

static void test_callerid_parsing(void **state)
{
    char name[64], num[64];
    (void)state;
    parse_callerid("Dialer <1000>", name, sizeof(name), num, sizeof(num));
    assert_string_equal(name, "Dialer");
    assert_string_equal(num, "1000");
    parse_callerid("\"Acme Sales\" <+1 (415) 555-0100>", name, sizeof(name), num, sizeof(num));
    assert_string_equal(name, "Acme Sales");
    assert_string_equal(num, "+14155550100");
    parse_callerid("5551234", name, sizeof(name), num, sizeof(num));
    assert_string_equal(name, "");
    assert_string_equal(num, "5551234");
    parse_callerid("Anonymous", name, sizeof(name), num, sizeof(num));
    assert_string_equal(name, "Anonymous");
    assert_string_equal(num, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_number),
        cmocka_unit_test(test_callerid_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
