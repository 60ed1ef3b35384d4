/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for compliance/locate.c: E.164 number -> country, regions,
 * zones, against the generated tables (compliance/npa_tables.c). Expected
 * values come from libphonenumber's data as copied in shared/phone-data
 * (e.g. "1208201|America/Denver" splits Idaho's 208 by exchange).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "core/err.h"

struct loc_case {
    const char *number;
    enum compliance_source source;
    const char *country;
    const char *regions; /* joined by '&' */
    const char *zones;   /* joined by '&', sorted as the table keeps them */
};

/* clang-format off */
static const struct loc_case loc_cases[] = {
    /* US states and DC by NPA. */
    { "+12125550123", COMPLIANCE_SOURCE_NPA, "US", "NY", "America/New_York" },
    { "+13055550123", COMPLIANCE_SOURCE_NPA, "US", "FL", "America/New_York" },
    { "+12055550123", COMPLIANCE_SOURCE_NPA, "US", "AL", "America/Chicago" },
    { "+16025550123", COMPLIANCE_SOURCE_NPA, "US", "AZ", "America/Phoenix" },
    { "+18085550123", COMPLIANCE_SOURCE_NPA, "US", "HI", "Pacific/Honolulu" },
    { "+12025550123", COMPLIANCE_SOURCE_NPA, "US", "DC", "America/New_York" },
    { "+19075550123", COMPLIANCE_SOURCE_NPA, "US", "AK", "America/Adak&America/Anchorage" },
    /* Canada. */
    { "+14165550123", COMPLIANCE_SOURCE_NPA, "CA", "ON", "America/Toronto" },
    { "+13065550123", COMPLIANCE_SOURCE_NPA, "CA", "SK", "America/Regina" },
    { "+17095550123", COMPLIANCE_SOURCE_NPA, "CA", "NL", "America/Puerto_Rico&America/St_Johns" },
    { "+17097220123", COMPLIANCE_SOURCE_NPA_NXX, "CA", "NL", "America/St_Johns" },
    { "+19025550123", COMPLIANCE_SOURCE_NPA, "CA", "NS&PE", "America/Halifax" },
    { "+19024250123", COMPLIANCE_SOURCE_NPA_NXX, "CA", "NS", "America/Halifax" },
    /* US territories (own NANP area codes). */
    { "+17875550123", COMPLIANCE_SOURCE_NPA, "PR", "PR", "America/Puerto_Rico" },
    { "+16715550123", COMPLIANCE_SOURCE_NPA, "GU", "GU", "Pacific/Guam" },
    { "+13405550123", COMPLIANCE_SOURCE_NPA, "VI", "VI", "America/St_Thomas" },
    { "+16845550123", COMPLIANCE_SOURCE_NPA, "AS", "AS", "Pacific/Pago_Pago" },
    /* Other NANP countries: country from the zone, no region. */
    { "+18765550123", COMPLIANCE_SOURCE_NPA, "JM", "", "America/Jamaica" },
    /* NPA-NXX splits from the data (longest prefix wins). */
    { "+12082015555", COMPLIANCE_SOURCE_NPA_NXX, "US", "ID", "America/Denver" },
    { "+12082155555", COMPLIANCE_SOURCE_NPA_NXX, "US", "ID", "America/Los_Angeles" },
    { "+12082995555", COMPLIANCE_SOURCE_NPA_NXX, "US", "ID", "America/Boise&America/Los_Angeles" },
    /* Sources disagree (201-631 geocoded to New York): both states. */
    { "+12016315555", COMPLIANCE_SOURCE_NPA_NXX, "US", "NJ&NY", "America/New_York" },
    /* Corrected in the generator: 689 is Orlando (Eastern), source said Central. */
    { "+16895550123", COMPLIANCE_SOURCE_NPA, "US", "FL", "America/Chicago&America/New_York" },
    /* International. */
    { "+442071234567", COMPLIANCE_SOURCE_COUNTRY, "GB", "", "Europe/London" },
    { "+441481712345", COMPLIANCE_SOURCE_COUNTRY, "GG", "", "Europe/Guernsey" },
    { "+33142685300", COMPLIANCE_SOURCE_COUNTRY, "FR", "", "Europe/Paris" },
    { "+4930123456", COMPLIANCE_SOURCE_COUNTRY, "DE", "", "Europe/Berlin" },
    /* Valid but unknown: N11-style and unassigned NPAs. */
    { "+19995550123", COMPLIANCE_SOURCE_UNKNOWN, "", "", "" },
    { "+15555550123", COMPLIANCE_SOURCE_UNKNOWN, "", "", "" },
};

/* clang-format on */

static void join_regions(const struct compliance_place *p, char *buf, size_t size)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < p->nregions; i++) {
        if (i > 0) {
            strncat(buf, "&", size - strlen(buf) - 1);
        }
        strncat(buf, p->regions[i], size - strlen(buf) - 1);
    }
}

static void join_zones(const struct compliance_place *p, char *buf, size_t size)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < p->nzones; i++) {
        if (i > 0) {
            strncat(buf, "&", size - strlen(buf) - 1);
        }
        strncat(buf, compliance_zone_name(p->zones[i]), size - strlen(buf) - 1);
    }
}

static void test_locate_table(void **state)
{
    char regions[64], zones[256];
    (void)state;
    for (size_t i = 0; i < sizeof(loc_cases) / sizeof(loc_cases[0]); i++) {
        const struct loc_case *c = &loc_cases[i];
        struct compliance_place p;
        assert_int_equal(compliance_locate(c->number, &p), 0);
        join_regions(&p, regions, sizeof(regions));
        join_zones(&p, zones, sizeof(zones));
        if (p.source != c->source || strcmp(p.country, c->country) != 0 ||
            strcmp(regions, c->regions) != 0 || strcmp(zones, c->zones) != 0) {
            print_error("%s: got %s %s [%s] [%s]\n", c->number, compliance_source_name(p.source),
                        p.country, regions, zones);
            fail();
        }
    }
}

static void test_locate_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "12125550123",
        "+1212555012",
        "+121255501234",
        "+10125550123",
        "+12121550123",
        "+1212555012a",
        "+ 12125550123",
        "+0441234567",
        "+4412345",
        "+4412345678901234",
        "++12125550123",
    };
    struct compliance_place p;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&p, 0x55, sizeof(p));
        if (compliance_locate(bad[i], &p) != ERR_INVAL) {
            print_error("accepted \"%s\"\n", bad[i]);
            fail();
        }
        assert_int_equal(p.source, COMPLIANCE_SOURCE_UNKNOWN);
        assert_int_equal(p.nzones, 0);
    }
    assert_int_equal(compliance_locate(NULL, &p), ERR_INVAL);
    assert_int_equal(compliance_locate("+12125550123", NULL), ERR_INVAL);
}

static void test_locate_contact_zone_wins(void **state)
{
    struct compliance_place p;
    (void)state;
    assert_int_equal(compliance_locate("+12125550123", &p), 0);
    assert_int_equal(compliance_place_override(&p, "America/Los_Angeles", NULL), 0);
    assert_int_equal(p.source, COMPLIANCE_SOURCE_CONTACT);
    assert_int_equal(p.nzones, 1);
    assert_string_equal(compliance_zone_name(p.zones[0]), "America/Los_Angeles");
    assert_string_equal(p.regions[0], "NY"); /* no state given: kept */
}

static void test_locate_contact_state_wins_with_presumption(void **state)
{
    struct compliance_place p;
    (void)state;
    /* A Florida area code, contact lives in Texas: Texas zones and rules,
     * Florida's rules still apply (area-code presumption). */
    assert_int_equal(compliance_locate("+13055550123", &p), 0);
    assert_int_equal(compliance_place_override(&p, NULL, "TX"), 0);
    assert_int_equal(p.nregions, 2);
    assert_string_equal(p.regions[0], "TX");
    assert_string_equal(p.regions[1], "FL");
    assert_true(p.presumed_regions);
    assert_string_equal(p.country, "US");
    char zones[256];
    join_zones(&p, zones, sizeof(zones));
    assert_string_equal(zones, "America/Chicago&America/Denver");
    /* A New York area code, contact in California: California only. */
    assert_int_equal(compliance_locate("+12125550123", &p), 0);
    assert_int_equal(compliance_place_override(&p, NULL, "CA"), 0);
    assert_int_equal(p.nregions, 1);
    assert_string_equal(p.regions[0], "CA");
    /* Unknown number, contact says Quebec: Canada. */
    assert_int_equal(compliance_locate("+19995550123", &p), 0);
    assert_int_equal(compliance_place_override(&p, NULL, "QC"), 0);
    assert_string_equal(p.country, "CA");
    assert_true(p.nzones >= 1);
}

static void test_locate_override_rejects(void **state)
{
    struct compliance_place p, before;
    (void)state;
    assert_int_equal(compliance_locate("+12125550123", &p), 0);
    before = p;
    assert_int_equal(compliance_place_override(&p, "Not/AZone", NULL), ERR_NOTFOUND);
    assert_int_equal(compliance_place_override(&p, "../etc", NULL), ERR_INVAL);
    assert_int_equal(compliance_place_override(&p, NULL, "XX"), ERR_NOTFOUND);
    assert_int_equal(compliance_place_override(&p, NULL, "Texas"), ERR_INVAL);
    assert_memory_equal(&p, &before, sizeof(p));
    assert_int_equal(compliance_place_override(&p, NULL, NULL), 0);
    assert_memory_equal(&p, &before, sizeof(p));
}

static int teardown(void **state)
{
    (void)state;
    compliance_fini();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locate_table),
        cmocka_unit_test(test_locate_rejects_malformed),
        cmocka_unit_test(test_locate_contact_zone_wins),
        cmocka_unit_test(test_locate_contact_state_wins_with_presumption),
        cmocka_unit_test(test_locate_override_rejects),
    };
    return cmocka_run_group_tests_name("compliance_locate", tests, NULL, teardown);
}
