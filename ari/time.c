/* SPDX-License-Identifier: MIT */
/*
 * ARI Date values: parsing to and formatting from epoch microseconds.
 *
 * Asterisk writes every Date (event timestamp, Channel/Bridge creationtime)
 * with ast_json_timeval() as local time with a numeric offset and
 * millisecond precision: "2026-11-24T11:46:27.251+0000". Parsing is a strict
 * fixed-layout scan, no locale, no libc time zone database and no
 * allocation, so it is safe and cheap on the event hot path; the calendar
 * conversion is the proleptic-Gregorian days-from-civil arithmetic (valid
 * for every year the format can hold). Formatting always writes UTC
 * ("+0000"), which is what Asterisk sends when the server runs in UTC.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ari/ari.h"
#include "core/err.h"

#define US_PER_SEC  ((int64_t)1000000)
#define SEC_PER_DAY ((int64_t)86400)

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The civil date of z days since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int parse_full(const char *s, size_t len, int64_t *us);

/* Reads n decimal digits at s[*i] into *v; false if any is not a digit. */
static bool digits(const char *s, size_t len, size_t *i, int n, int *v)
{
    int x = 0;
    if (*i + (size_t)n > len) {
        return false;
    }
    for (int k = 0; k < n; k++) {
        char c = s[*i + (size_t)k];
        if (c < '0' || c > '9') {
            return false;
        }
        x = x * 10 + (c - '0');
    }
    *i += (size_t)n;
    *v = x;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c) {
        return false;
    }
    (*i)++;
    return true;
}

/* Parses the zone at s[*i..len): Z, +hh, +hhmm or +hh:mm; offset in seconds east of UTC. */
static bool parse_zone(const char *s, size_t len, size_t *i, int64_t *offset)
{
    int hh;
    int mm = 0;
    int sign;

    if (*i < len && s[*i] == 'Z') {
        (*i)++;
        *offset = 0;
        return true;
    }
    if (*i >= len || (s[*i] != '+' && s[*i] != '-')) {
        return false;
    }
    sign = s[*i] == '-' ? -1 : 1;
    (*i)++;
    if (!digits(s, len, i, 2, &hh)) {
        return false;
    }
    if (*i < len) {
        if (s[*i] == ':') {
            (*i)++;
        }
        if (!digits(s, len, i, 2, &mm)) {
            return false;
        }
    }
    if (hh > 23 || mm > 59) {
        return false;
    }
    *offset = sign * ((int64_t)hh * 3600 + (int64_t)mm * 60);
    return true;
}

/*
 * The last date-time prefix ("YYYY-MM-DDTHH:MM:SS") and zone parsed on this
 * thread in Asterisk's exact layout, and its epoch seconds. The events of
 * one call carry the same few seconds again and again (every event's
 * timestamp, the channel's creationtime), so most dates only need their
 * milliseconds read. Only a prefix the full parser accepted is remembered.
 */
static _Thread_local struct {
    char key[24]; /* s[0..19) + s[23..28) */
    int64_t secs; /* UTC epoch seconds of the key */
    bool valid;
} last_date;

static bool three_digits(const char *s, int64_t *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9') {
        return false;
    }
    *v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return true;
}

int ari_time_parse(const char *s, size_t len, int64_t *us)
{
    int64_t ms;

    /* "2026-11-24T11:46:27.251+0000": the layout Asterisk always writes. */
    if (s != NULL && us != NULL && len == 28 && s[19] == '.' && (s[23] == '+' || s[23] == '-') &&
        last_date.valid && memcmp(s, last_date.key, 19) == 0 &&
        memcmp(s + 23, last_date.key + 19, 5) == 0 && three_digits(s + 20, &ms)) {
        *us = last_date.secs * US_PER_SEC + ms * 1000;
        return 0;
    }
    return parse_full(s, len, us);
}

static int parse_full(const char *s, size_t len, int64_t *us)
{
    size_t i = 0;
    int year, mon, day, hh, mi, ss;
    int64_t frac_us = 0;
    int64_t offset;

    if (s == NULL || us == NULL) {
        return ERR_PARSE;
    }
    if (!digits(s, len, &i, 4, &year) || !expect(s, len, &i, '-') || !digits(s, len, &i, 2, &mon) ||
        !expect(s, len, &i, '-') || !digits(s, len, &i, 2, &day) || !expect(s, len, &i, 'T') ||
        !digits(s, len, &i, 2, &hh) || !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &mi) ||
        !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &ss)) {
        return ERR_PARSE;
    }
    if (i < len && s[i] == '.') {
        int n = 0;
        int64_t scale = 100000;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (n >= 9) {
                return ERR_PARSE;
            }
            frac_us += (s[i] - '0') * scale;
            scale /= 10;
            n++;
            i++;
        }
        if (n == 0) {
            return ERR_PARSE;
        }
    }
    if (!parse_zone(s, len, &i, &offset) || i != len) {
        return ERR_PARSE;
    }
    /* 60 admits a leap second, which lands on the next minute's :00. */
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hh > 23 || mi > 59 ||
        ss > 60) {
        return ERR_PARSE;
    }
    int64_t secs = days_from_civil(year, mon, day) * SEC_PER_DAY + hh * 3600 + mi * 60 + ss;
    *us = (secs - offset) * US_PER_SEC + frac_us;
    if (len == 28 && s[19] == '.' && (s[23] == '+' || s[23] == '-')) {
        memcpy(last_date.key, s, 19);
        memcpy(last_date.key + 19, s + 23, 5);
        last_date.secs = secs - offset;
        last_date.valid = true;
    }
    return 0;
}

int ari_time_format(int64_t us, char *buf, size_t size)
{
    int64_t secs = us / US_PER_SEC;
    int64_t rem = us % US_PER_SEC;
    int64_t y;
    int m, d, n;

    if (rem < 0) {
        rem += US_PER_SEC;
        secs--;
    }
    int64_t days = secs / SEC_PER_DAY;
    int64_t sod = secs % SEC_PER_DAY;
    if (sod < 0) {
        sod += SEC_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        return ERR_RANGE;
    }
    n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", (int)y, m, d,
                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)(rem / 1000));
    if (n < 0 || (size_t)n >= size) {
        return ERR_TOOBIG;
    }
    return n;
}
