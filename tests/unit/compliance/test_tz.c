/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for compliance/tz.c: the TZif reader, the POSIX TZ footer and
 * UTC -> local conversion. The expected local times below were produced with
 * an independent implementation (Python's zoneinfo over the same Debian
 * tzdata 2026f files) and checked by hand on the 2026 US DST days: spring
 * forward 2026-03-08 at 02:00 local, fall back 2026-11-01 at 02:00 local
 * (01:00-02:00 happens twice), St. John's at 02:00 NST/NDT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/tz.c"

static int64_t utc_us(int y, int mo, int d, int h, int mi, int s)
{
    int64_t days = compliance__days_from_civil(y, (unsigned)mo, (unsigned)d);
    return ((days * 86400) + h * 3600 + mi * 60 + s) * INT64_C(1000000);
}

struct tz_case {
    const char *zone;
    int y, mo, d, h, mi, s; /* UTC */
    int32_t utoff;
    int isdst;
    int ly, lmo, ld, lh, lmi, ls, wday; /* local */
};

/* clang-format off */
static const struct tz_case tz_cases[] = {
    { "America/New_York", 2026, 3, 8, 6, 59, 59, -18000, 0, 2026, 3, 8, 1, 59, 59, 0 },
    { "America/New_York", 2026, 3, 8, 7, 0, 0, -14400, 1, 2026, 3, 8, 3, 0, 0, 0 },
    { "America/New_York", 2026, 11, 1, 5, 30, 0, -14400, 1, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/New_York", 2026, 11, 1, 5, 59, 59, -14400, 1, 2026, 11, 1, 1, 59, 59, 0 },
    { "America/New_York", 2026, 11, 1, 6, 0, 0, -18000, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "America/New_York", 2026, 11, 1, 6, 30, 0, -18000, 0, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Chicago", 2026, 3, 8, 7, 59, 59, -21600, 0, 2026, 3, 8, 1, 59, 59, 0 },
    { "America/Chicago", 2026, 3, 8, 8, 0, 0, -18000, 1, 2026, 3, 8, 3, 0, 0, 0 },
    { "America/Chicago", 2026, 11, 1, 6, 30, 0, -18000, 1, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Chicago", 2026, 11, 1, 6, 59, 59, -18000, 1, 2026, 11, 1, 1, 59, 59, 0 },
    { "America/Chicago", 2026, 11, 1, 7, 0, 0, -21600, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "America/Chicago", 2026, 11, 1, 7, 30, 0, -21600, 0, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Denver", 2026, 3, 8, 8, 59, 59, -25200, 0, 2026, 3, 8, 1, 59, 59, 0 },
    { "America/Denver", 2026, 3, 8, 9, 0, 0, -21600, 1, 2026, 3, 8, 3, 0, 0, 0 },
    { "America/Denver", 2026, 11, 1, 7, 30, 0, -21600, 1, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Denver", 2026, 11, 1, 7, 59, 59, -21600, 1, 2026, 11, 1, 1, 59, 59, 0 },
    { "America/Denver", 2026, 11, 1, 8, 0, 0, -25200, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "America/Denver", 2026, 11, 1, 8, 30, 0, -25200, 0, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Los_Angeles", 2026, 3, 8, 9, 59, 59, -28800, 0, 2026, 3, 8, 1, 59, 59, 0 },
    { "America/Los_Angeles", 2026, 3, 8, 10, 0, 0, -25200, 1, 2026, 3, 8, 3, 0, 0, 0 },
    { "America/Los_Angeles", 2026, 11, 1, 8, 30, 0, -25200, 1, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Los_Angeles", 2026, 11, 1, 8, 59, 59, -25200, 1, 2026, 11, 1, 1, 59, 59, 0 },
    { "America/Los_Angeles", 2026, 11, 1, 9, 0, 0, -28800, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "America/Los_Angeles", 2026, 11, 1, 9, 30, 0, -28800, 0, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Anchorage", 2026, 3, 8, 10, 59, 59, -32400, 0, 2026, 3, 8, 1, 59, 59, 0 },
    { "America/Anchorage", 2026, 3, 8, 11, 0, 0, -28800, 1, 2026, 3, 8, 3, 0, 0, 0 },
    { "America/Anchorage", 2026, 11, 1, 9, 30, 0, -28800, 1, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Anchorage", 2026, 11, 1, 9, 59, 59, -28800, 1, 2026, 11, 1, 1, 59, 59, 0 },
    { "America/Anchorage", 2026, 11, 1, 10, 0, 0, -32400, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "America/Anchorage", 2026, 11, 1, 10, 30, 0, -32400, 0, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/Phoenix", 2026, 3, 8, 12, 0, 0, -25200, 0, 2026, 3, 8, 5, 0, 0, 0 },
    { "America/Phoenix", 2026, 11, 1, 12, 0, 0, -25200, 0, 2026, 11, 1, 5, 0, 0, 0 },
    { "America/Phoenix", 2026, 7, 1, 12, 0, 0, -25200, 0, 2026, 7, 1, 5, 0, 0, 3 },
    { "Pacific/Honolulu", 2026, 3, 8, 12, 0, 0, -36000, 0, 2026, 3, 8, 2, 0, 0, 0 },
    { "Pacific/Honolulu", 2026, 11, 1, 12, 0, 0, -36000, 0, 2026, 11, 1, 2, 0, 0, 0 },
    { "Pacific/Honolulu", 2026, 7, 1, 12, 0, 0, -36000, 0, 2026, 7, 1, 2, 0, 0, 3 },
    { "America/Puerto_Rico", 2026, 3, 8, 12, 0, 0, -14400, 0, 2026, 3, 8, 8, 0, 0, 0 },
    { "America/Puerto_Rico", 2026, 11, 1, 12, 0, 0, -14400, 0, 2026, 11, 1, 8, 0, 0, 0 },
    { "America/Puerto_Rico", 2026, 7, 1, 12, 0, 0, -14400, 0, 2026, 7, 1, 8, 0, 0, 3 },
    { "America/Regina", 2026, 3, 8, 12, 0, 0, -21600, 0, 2026, 3, 8, 6, 0, 0, 0 },
    { "America/Regina", 2026, 11, 1, 12, 0, 0, -21600, 0, 2026, 11, 1, 6, 0, 0, 0 },
    { "America/Regina", 2026, 7, 1, 12, 0, 0, -21600, 0, 2026, 7, 1, 6, 0, 0, 3 },
    { "Pacific/Guam", 2026, 3, 8, 12, 0, 0, 36000, 0, 2026, 3, 8, 22, 0, 0, 0 },
    { "Pacific/Guam", 2026, 11, 1, 12, 0, 0, 36000, 0, 2026, 11, 1, 22, 0, 0, 0 },
    { "Pacific/Guam", 2026, 7, 1, 12, 0, 0, 36000, 0, 2026, 7, 1, 22, 0, 0, 3 },
    { "America/St_Thomas", 2026, 3, 8, 12, 0, 0, -14400, 0, 2026, 3, 8, 8, 0, 0, 0 },
    { "America/St_Thomas", 2026, 11, 1, 12, 0, 0, -14400, 0, 2026, 11, 1, 8, 0, 0, 0 },
    { "America/St_Thomas", 2026, 7, 1, 12, 0, 0, -14400, 0, 2026, 7, 1, 8, 0, 0, 3 },
    { "Pacific/Pago_Pago", 2026, 3, 8, 12, 0, 0, -39600, 0, 2026, 3, 8, 1, 0, 0, 0 },
    { "Pacific/Pago_Pago", 2026, 11, 1, 12, 0, 0, -39600, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "Pacific/Pago_Pago", 2026, 7, 1, 12, 0, 0, -39600, 0, 2026, 7, 1, 1, 0, 0, 3 },
    { "America/St_Johns", 2026, 3, 8, 5, 29, 59, -12600, 0, 2026, 3, 8, 1, 59, 59, 0 },
    { "America/St_Johns", 2026, 3, 8, 5, 30, 0, -9000, 1, 2026, 3, 8, 3, 0, 0, 0 },
    { "America/St_Johns", 2026, 11, 1, 4, 29, 59, -9000, 1, 2026, 11, 1, 1, 59, 59, 0 },
    { "America/St_Johns", 2026, 11, 1, 4, 30, 0, -12600, 0, 2026, 11, 1, 1, 0, 0, 0 },
    { "America/St_Johns", 2026, 11, 1, 5, 0, 0, -12600, 0, 2026, 11, 1, 1, 30, 0, 0 },
    { "America/New_York", 2040, 3, 11, 6, 59, 59, -18000, 0, 2040, 3, 11, 1, 59, 59, 0 },
    { "America/New_York", 2040, 3, 11, 7, 0, 0, -14400, 1, 2040, 3, 11, 3, 0, 0, 0 },
    { "America/New_York", 2040, 11, 4, 5, 59, 59, -14400, 1, 2040, 11, 4, 1, 59, 59, 0 },
    { "America/New_York", 2040, 11, 4, 6, 0, 0, -18000, 0, 2040, 11, 4, 1, 0, 0, 0 },
    { "America/New_York", 2150, 7, 1, 12, 0, 0, -14400, 1, 2150, 7, 1, 8, 0, 0, 3 },
    { "America/New_York", 2150, 1, 15, 12, 0, 0, -18000, 0, 2150, 1, 15, 7, 0, 0, 4 },
    { "America/New_York", 2150, 3, 8, 7, 0, 0, -14400, 1, 2150, 3, 8, 3, 0, 0, 0 },
    { "America/New_York", 2150, 3, 14, 6, 59, 59, -14400, 1, 2150, 3, 14, 2, 59, 59, 6 },
    { "America/New_York", 2150, 3, 14, 7, 0, 0, -14400, 1, 2150, 3, 14, 3, 0, 0, 6 },
    { "America/Chicago", 2099, 11, 1, 6, 59, 59, -18000, 1, 2099, 11, 1, 1, 59, 59, 0 },
    { "America/Chicago", 2101, 3, 13, 8, 0, 0, -18000, 1, 2101, 3, 13, 3, 0, 0, 0 },
    { "Europe/Dublin", 2026, 1, 15, 12, 0, 0, 0, 1, 2026, 1, 15, 12, 0, 0, 4 },
    { "Europe/Dublin", 2026, 7, 15, 12, 0, 0, 3600, 0, 2026, 7, 15, 13, 0, 0, 3 },
    { "Europe/Dublin", 2045, 7, 15, 12, 0, 0, 3600, 0, 2045, 7, 15, 13, 0, 0, 6 },
    { "Europe/Dublin", 2045, 1, 15, 12, 0, 0, 0, 1, 2045, 1, 15, 12, 0, 0, 0 },
    { "Australia/Lord_Howe", 2026, 1, 15, 12, 0, 0, 39600, 1, 2026, 1, 15, 23, 0, 0, 4 },
    { "Australia/Lord_Howe", 2026, 7, 15, 12, 0, 0, 37800, 0, 2026, 7, 15, 22, 30, 0, 3 },
    { "Australia/Lord_Howe", 2045, 7, 15, 12, 0, 0, 37800, 0, 2045, 7, 15, 22, 30, 0, 6 },
    { "Australia/Lord_Howe", 2045, 1, 15, 12, 0, 0, 39600, 1, 2045, 1, 15, 23, 0, 0, 0 },
    { "America/Nuuk", 2026, 1, 15, 12, 0, 0, -7200, 0, 2026, 1, 15, 10, 0, 0, 4 },
    { "America/Nuuk", 2026, 7, 15, 12, 0, 0, -3600, 1, 2026, 7, 15, 11, 0, 0, 3 },
    { "America/Nuuk", 2045, 7, 15, 12, 0, 0, -3600, 1, 2045, 7, 15, 11, 0, 0, 6 },
    { "America/Nuuk", 2045, 1, 15, 12, 0, 0, -7200, 0, 2045, 1, 15, 10, 0, 0, 0 },
    { "Europe/Paris", 2026, 1, 15, 12, 0, 0, 3600, 0, 2026, 1, 15, 13, 0, 0, 4 },
    { "Europe/Paris", 2026, 7, 15, 12, 0, 0, 7200, 1, 2026, 7, 15, 14, 0, 0, 3 },
    { "Europe/Paris", 2045, 7, 15, 12, 0, 0, 7200, 1, 2045, 7, 15, 14, 0, 0, 6 },
    { "Europe/Paris", 2045, 1, 15, 12, 0, 0, 3600, 0, 2045, 1, 15, 13, 0, 0, 0 },
    { "Europe/London", 2026, 1, 15, 12, 0, 0, 0, 0, 2026, 1, 15, 12, 0, 0, 4 },
    { "Europe/London", 2026, 7, 15, 12, 0, 0, 3600, 1, 2026, 7, 15, 13, 0, 0, 3 },
    { "Europe/London", 2045, 7, 15, 12, 0, 0, 3600, 1, 2045, 7, 15, 13, 0, 0, 6 },
    { "Europe/London", 2045, 1, 15, 12, 0, 0, 0, 0, 2045, 1, 15, 12, 0, 0, 0 },
    { "America/Nuuk", 2026, 3, 29, 0, 59, 59, -7200, 0, 2026, 3, 28, 22, 59, 59, 6 },
    { "America/Nuuk", 2026, 3, 29, 1, 0, 0, -3600, 1, 2026, 3, 29, 0, 0, 0, 0 },
    { "America/New_York", 1800, 1, 1, 0, 0, 0, -17762, 0, 1799, 12, 31, 19, 3, 58, 2 },
};

/* clang-format on */

static void test_tz_conversions_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(tz_cases) / sizeof(tz_cases[0]); i++) {
        const struct tz_case *c = &tz_cases[i];
        struct compliance_local l;
        uint16_t id;
        assert_int_equal(compliance_zone_id(c->zone, &id), 0);
        assert_int_equal(
            compliance_tz_to_local(id, utc_us(c->y, c->mo, c->d, c->h, c->mi, c->s), &l), 0);
        if (l.utoff_s != c->utoff || l.isdst != c->isdst || l.year != c->ly || l.month != c->lmo ||
            l.day != c->ld || l.hour != c->lh || l.minute != c->lmi || l.second != c->ls ||
            l.wday != c->wday) {
            print_error("case %zu %s %04d-%02d-%02dT%02d:%02d:%02dZ: got %04d-%02u-%02u "
                        "%02u:%02u:%02u off=%d dst=%u wday=%u\n",
                        i, c->zone, c->y, c->mo, c->d, c->h, c->mi, c->s, (int)l.year, l.month,
                        l.day, l.hour, l.minute, l.second, (int)l.utoff_s, l.isdst, l.wday);
            fail();
        }
    }
}

static void test_tz_repeated_hour_is_two_spans(void **state)
{
    const struct compliance__tz *tz;
    struct compliance__span a, b;
    uint16_t id;
    (void)state;
    assert_int_equal(compliance_zone_id("America/New_York", &id), 0);
    assert_int_equal(compliance__tz_get(id, &tz), 0);
    /* 01:30 EDT and 01:30 EST on 2026-11-01 are an hour apart in UTC. */
    compliance__tz_span(tz, utc_us(2026, 11, 1, 5, 30, 0) / 1000000, &a);
    compliance__tz_span(tz, utc_us(2026, 11, 1, 6, 30, 0) / 1000000, &b);
    assert_int_equal(a.end, b.start);
    assert_int_equal(a.end, utc_us(2026, 11, 1, 6, 0, 0) / 1000000);
    assert_int_equal(a.utoff, -4 * 3600);
    assert_int_equal(b.utoff, -5 * 3600);
}

static void test_tz_footer_is_used_past_the_table(void **state)
{
    const struct compliance__tz *tz;
    uint16_t id;
    (void)state;
    assert_int_equal(compliance_zone_id("America/New_York", &id), 0);
    assert_int_equal(compliance__tz_get(id, &tz), 0);
    assert_true(tz->has_rule);
    assert_true(tz->rule.has_dst);
    assert_int_equal(tz->rule.std_off, -5 * 3600);
    assert_int_equal(tz->rule.dst_off, -4 * 3600);
    /* The table was extended from the footer through EXTEND_TO_YEAR. */
    assert_int_equal(year_of(tz->trans[tz->ntrans - 1].at), EXTEND_TO_YEAR);
}

struct posix_case {
    const char *s;
    int ok;
    int32_t std_off, dst_off;
    int has_dst;
};

/* clang-format off */
static const struct posix_case posix_cases[] = {
    { "EST5EDT,M3.2.0,M11.1.0", 1, -18000, -14400, 1 },
    { "<-03>3", 1, -10800, 0, 0 },
    { "NST3:30NDT,M3.2.0,M11.1.0", 1, -12600, -9000, 1 },
    { "IST-1GMT0,M10.5.0,M3.5.0/1", 1, 3600, 0, 1 },
    { "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1, 37800, 39600, 1 },
    { "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 1, -7200, -3600, 1 },
    { "CST6CDT,J60/2,300", 1, -21600, -18000, 1 },
    { "EST5EDT", 0, 0, 0, 0 },
    { "E5", 0, 0, 0, 0 },
    { "EST5EDT,M13.2.0,M11.1.0", 0, 0, 0, 0 },
    { "EST5EDT,M3.2.0,M11.1.0x", 0, 0, 0, 0 },
    { "<-03", 0, 0, 0, 0 },
    { "EST999", 0, 0, 0, 0 },
};

/* clang-format on */

static void test_tz_posix_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(posix_cases) / sizeof(posix_cases[0]); i++) {
        const struct posix_case *c = &posix_cases[i];
        struct posix_rule r;
        int rc = posix_parse(c->s, &r);
        if ((rc == 0) != c->ok) {
            print_error("case %zu \"%s\": rc %d\n", i, c->s, rc);
            fail();
        }
        if (c->ok) {
            assert_int_equal(r.std_off, c->std_off);
            assert_int_equal(r.has_dst, c->has_dst);
            if (c->has_dst) {
                assert_int_equal(r.dst_off, c->dst_off);
            }
        }
    }
}

static void test_tz_posix_rule_dates(void **state)
{
    struct posix_rule r;
    struct transition two[2];
    (void)state;
    assert_int_equal(posix_parse("EST5EDT,M3.2.0,M11.1.0", &r), 0);
    posix_year(&r, 2026, two);
    assert_int_equal(two[0].at, utc_us(2026, 3, 8, 7, 0, 0) / 1000000);
    assert_int_equal(two[1].at, utc_us(2026, 11, 1, 6, 0, 0) / 1000000);
    /* M10.5.0 is the last Sunday even when the month has only four. */
    assert_int_equal(posix_parse("IST-1GMT0,M10.5.0,M3.5.0/1", &r), 0);
    posix_year(&r, 2026, two);
    assert_int_equal(two[0].at, utc_us(2026, 3, 29, 1, 0, 0) / 1000000);
    assert_int_equal(two[1].at, utc_us(2026, 10, 25, 1, 0, 0) / 1000000);
    /* Jn skips February 29 in leap years: J60 is March 1. */
    assert_int_equal(posix_parse("CST6CDT,J60/2,300", &r), 0);
    posix_year(&r, 2028, two);
    assert_int_equal(two[0].at, utc_us(2028, 3, 1, 8, 0, 0) / 1000000);
}

static void test_tz_bad_and_missing_zones(void **state)
{
    uint16_t id;
    struct compliance_local l;
    (void)state;
    assert_int_equal(compliance_zone_id("../../etc/passwd", &id), ERR_INVAL);
    assert_int_equal(compliance_zone_id("/etc/passwd", &id), ERR_INVAL);
    assert_int_equal(compliance_zone_id("America/./New_York", &id), ERR_INVAL);
    assert_int_equal(compliance_zone_id("", &id), ERR_INVAL);
    assert_int_equal(compliance_zone_id("Mars/Olympus_Mons", &id), ERR_NOTFOUND);
    assert_int_equal(compliance_zone_id("zone.tab", &id), ERR_INVAL);
    assert_int_equal(compliance_zone_id("leapseconds", &id), ERR_PARSE); /* not TZif */
    assert_int_equal(compliance_tz_to_local(0xfff0, 0, &l), ERR_NOTFOUND);
    /* A zone outside the generated table is registered once, then reused. */
    uint16_t a, b;
    assert_int_equal(compliance_zone_id("America/Indiana/Indianapolis", &a), 0);
    assert_int_equal(compliance_zone_id("America/Indiana/Indianapolis", &b), 0);
    assert_int_equal(a, b);
    assert_true(a >= compliance__zone_count);
    assert_string_equal(compliance_zone_name(a), "America/Indiana/Indianapolis");
}

static void test_tz_truncated_files_are_rejected(void **state)
{
    unsigned char buf[8192];
    struct compliance__tz tz;
    (void)state;
    int fd = open("/usr/share/zoneinfo/America/New_York", O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    assert_true(n > 100);
    for (ssize_t cut = 0; cut < n; cut += 7) {
        memset(&tz, 0, sizeof(tz));
        int rc = tzif_parse(buf, (size_t)cut, &tz);
        free(tz.trans);
        /* Only the footer may be cut without the data becoming unreadable. */
        if (rc == 0) {
            assert_true(cut > n - 40);
        }
    }
    memset(&tz, 0, sizeof(tz));
    assert_int_equal(tzif_parse(buf, (size_t)n, &tz), 0);
    free(tz.trans);
}

static void *convert_many(void *arg)
{
    uint16_t *ids = arg;
    struct compliance_local l;
    for (int i = 0; i < 2000; i++) {
        uint16_t id = ids[i % 4];
        if (compliance_tz_to_local(id, utc_us(2026, 11, 1, 6, 30, 0) + i, &l) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

static void test_tz_lazy_load_from_threads(void **state)
{
    pthread_t th[4];
    uint16_t ids[4];
    (void)state;
    compliance_fini();
    ids[0] = (uint16_t)table_zone_id("America/Chicago");
    ids[1] = (uint16_t)table_zone_id("America/Denver");
    ids[2] = (uint16_t)table_zone_id("Pacific/Honolulu");
    ids[3] = (uint16_t)table_zone_id("America/St_Johns");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, convert_many, ids), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
}

static void test_tz_preload_and_version(void **state)
{
    struct compliance_options o = { NULL, 1 };
    (void)state;
    compliance_fini();
    assert_int_equal(compliance_init(&o), 0);
    assert_string_not_equal(compliance_tzdata_version(), "unknown");
    assert_true(strlen(compliance_tzdata_version()) >= 5);
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
        cmocka_unit_test(test_tz_conversions_table),
        cmocka_unit_test(test_tz_repeated_hour_is_two_spans),
        cmocka_unit_test(test_tz_footer_is_used_past_the_table),
        cmocka_unit_test(test_tz_posix_strings),
        cmocka_unit_test(test_tz_posix_rule_dates),
        cmocka_unit_test(test_tz_bad_and_missing_zones),
        cmocka_unit_test(test_tz_truncated_files_are_rejected),
        cmocka_unit_test(test_tz_lazy_load_from_threads),
        cmocka_unit_test(test_tz_preload_and_version),
    };
    return cmocka_run_group_tests_name("compliance_tz", tests, NULL, teardown);
}
