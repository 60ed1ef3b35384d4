/* SPDX-License-Identifier: MIT */
/*
 * e164: numbers as spreadsheets and CRMs write them -> E.164.
 *
 * One pass over the cell splits it into the number part (digits and the
 * punctuation people put between them: space, '-', '.', '(', ')', '/') and
 * an optional extension introduced by "x", "ext", "ext.", "extension", '#'
 * or ";ext=". A leading '+' (or the international prefixes 011 and 00)
 * makes the number international; anything else is NANP, 10 digits or 11
 * with the leading 1. Spreadsheet damage is recognised: "4155552671.0" (a
 * number stored as a float) is repaired, "4.15555E+09" (scientific notation:
 * the last digits are gone) is refused with its own reason, because no
 * amount of cleaning brings the digits back.
 *
 * NANP rules (ATIS-0300115, the NANP numbering plan): NPA and NXX begin with
 * 2-9, neither is N11 (service codes), the area code is one the compliance
 * tables place (so unassigned and non-geographic codes such as toll-free
 * 8XX are refused: an outbound campaign calls people where they live), and
 * 555-0100..0199 is reserved for fiction unless the list allows it. Other
 * countries: the country code must be known to the compliance tables and the
 * whole number 8..15 digits; the list's allowed countries apply to every
 * number, NANP ones included (US, CA, PR ... are different countries).
 *
 * No allocation; the cost is one scan of the cell plus compliance_locate's
 * table lookup.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compliance/compliance.h"
#include "importers/importers.h"
#include "importers/importers_int.h"

static const char *const reason_names[] = {
#define IMPORTER_REASON_NAME_(id, name) name,
    IMPORTER_REASON_MAP(IMPORTER_REASON_NAME_)
#undef IMPORTER_REASON_NAME_
};

const char *importer_reason_name(enum importer_reason r)
{
    if ((unsigned)r >= IMPORTER_REASON_COUNT)
        return "unknown";
    return reason_names[r];
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static enum importer_reason fail(enum importer_reason r, char *detail, size_t dsz, const char *fmt,
                                 ...) __attribute__((format(printf, 4, 5)));

static enum importer_reason fail(enum importer_reason r, char *detail, size_t dsz, const char *fmt,
                                 ...)
{
    if (detail && dsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, dsz, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* Trims ASCII space and UTF-8 no-break spaces (U+00A0, as Excel writes them). */
static void trim(const char **s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t n = *len;
    for (;;) {
        if (n && is_space(p[0])) {
            p++;
            n--;
        } else if (n >= 2 && p[0] == 0xC2 && p[1] == 0xA0) {
            p += 2;
            n -= 2;
        } else {
            break;
        }
    }
    for (;;) {
        if (n && is_space(p[n - 1]))
            n--;
        else if (n >= 2 && p[n - 2] == 0xC2 && p[n - 1] == 0xA0)
            n -= 2;
        else
            break;
    }
    *s = (const char *)p;
    *len = n;
}

/* digits [. digits] (e|E) [+|-] digits: what a spreadsheet makes of a long number. */
static bool is_scientific(const char *s, size_t n)
{
    size_t i = 0, d = 0;
    while (i < n && is_digit(s[i]))
        i++, d++;
    if (i < n && (s[i] == '.' || s[i] == ',')) {
        i++;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (d == 0 || i >= n || lower(s[i]) != 'e')
        return false;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i >= n || !is_digit(s[i]))
        return false;
    while (i < n && is_digit(s[i]))
        i++;
    return i == n;
}

/* "4155552671.0", "4155552671.00": a whole number stored as a float. Returns the integer length. */
static size_t float_integer_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_digit(s[i]))
        i++;
    if (i < 7 || i >= n || s[i] != '.' || i + 1 >= n)
        return 0;
    for (size_t j = i + 1; j < n; j++)
        if (s[j] != '0')
            return 0;
    return i;
}

/*
 * Length of an extension marker at s (so the digits after it are the
 * extension), or 0 when s does not start one.
 */
static size_t ext_marker_len(const char *s, size_t n)
{
    static const char *const markers[] = { ";ext=", "extension", "ext.", "ext", "x", "#", ",," };
    for (size_t m = 0; m < sizeof(markers) / sizeof(markers[0]); m++) {
        size_t k = strlen(markers[m]);
        if (k > n)
            continue;
        size_t i = 0;
        while (i < k && lower(s[i]) == markers[m][i])
            i++;
        if (i == k)
            return k;
    }
    return 0;
}

static bool allowed(const struct importer_e164_opts *o, const char *country)
{
    if (!o || !o->allowed_countries || o->nallowed == 0)
        return true;
    for (size_t i = 0; i < o->nallowed; i++)
        if (o->allowed_countries[i] && strcmp(o->allowed_countries[i], country) == 0)
            return true;
    return false;
}

static enum importer_reason nanp_check(const char *d, const struct importer_e164_opts *o,
                                       char *detail, size_t dsz)
{
    char npa[4] = { d[0], d[1], d[2], 0 };
    if (d[0] < '2')
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                    "area code %s is not valid (NANP area codes begin with 2-9)", npa);
    if (d[1] == '1' && d[2] == '1')
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                    "area code %s is a service code, not an area code", npa);
    if (d[3] < '2')
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                    "exchange code is not valid in area code %s (it must begin with 2-9)", npa);
    if (d[4] == '1' && d[5] == '1')
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                    "exchange code is an N11 service code in area code %s", npa);
    if (d[3] == '5' && d[4] == '5' && d[5] == '5' && d[6] == '0' && d[7] == '1' &&
        !(o && o->allow_fictional))
        return fail(IMPORTER_REASON_FICTIONAL, detail, dsz,
                    "555-01XX numbers are reserved for fiction");
    return IMPORTER_REASON_NONE;
}

static enum importer_reason normalize(const char *in, size_t len,
                                      const struct importer_e164_opts *o,
                                      struct importer_number *out, char *detail, size_t dsz,
                                      struct compliance_place *pl)
{
    char digits[40];
    size_t nd = 0, ne = 0;
    bool plus = false;

    memset(out, 0, sizeof(*out));
    if (detail && dsz)
        detail[0] = 0;
    if (!in)
        len = 0;
    trim(&in, &len);
    if (len == 0)
        return fail(IMPORTER_REASON_MISSING_NUMBER, detail, dsz, "no phone number");
    if (is_scientific(in, len))
        return fail(IMPORTER_REASON_SCIENTIFIC, detail, dsz,
                    "the number is in scientific notation (a spreadsheet rounded it and its last "
                    "digits are lost): format the column as text and export again");
    size_t fl = float_integer_len(in, len);
    if (fl)
        len = fl;

    size_t i = 0;
    if (in[0] == '+') {
        plus = true;
        i = 1;
    }
    for (; i < len; i++) {
        char c = in[i];
        if (is_digit(c)) {
            if (nd >= sizeof(digits) - 1)
                return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                            "too many digits for a phone number");
            digits[nd++] = c;
            continue;
        }
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' ||
            (unsigned char)c == 0xC2 || (unsigned char)c == 0xA0)
            continue;
        size_t m = nd ? ext_marker_len(in + i, len - i) : 0;
        if (m) {
            i += m;
            while (i < len && (in[i] == ' ' || in[i] == '.' || in[i] == ':' || in[i] == '='))
                i++;
            for (; i < len; i++) {
                if (in[i] == ' ')
                    continue;
                if (!is_digit(in[i]) && in[i] != '*' && in[i] != '#')
                    return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                                "the extension may hold only digits, * and #");
                if (ne >= IMPORTER_EXT_MAX)
                    return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                                "the extension is longer than 16 digits");
                out->ext[ne++] = in[i];
            }
            if (ne == 0)
                return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                            "extension marker without digits");
            break;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                        "letters in the number (write vanity numbers as digits)");
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                    "unexpected character in the number");
    }
    digits[nd] = 0;
    if (nd == 0)
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz, "no digits in the number");

    const char *d = digits;
    if (!plus) {
        if (nd > 11 && strncmp(d, "011", 3) == 0) {
            plus = true;
            d += 3;
            nd -= 3;
        } else if (nd > 10 && d[0] == '0' && d[1] == '0') {
            plus = true;
            d += 2;
            nd -= 2;
        } else if (nd == 11 && d[0] == '1') {
            d += 1;
            nd -= 1;
        } else if (nd != 10) {
            return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                        "%zu digits: a NANP number has 10 (or 11 starting with 1); other countries "
                        "need a + and the country code",
                        nd);
        }
    }
    if (plus) {
        if (d[0] == '0')
            return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                        "a country code cannot begin with 0");
        if (d[0] == '1') {
            if (nd != 11)
                return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                            "a +1 (NANP) number has 10 digits after the 1");
            d += 1;
            nd -= 1;
        } else {
            if (nd < 8 || nd > 15)
                return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                            "an international number has 8 to 15 digits with its country code");
            out->e164[0] = '+';
            memcpy(out->e164 + 1, d, nd);
            out->e164[nd + 1] = 0;
            if (compliance_locate(out->e164, pl) != 0 || pl->country[0] == 0) {
                out->e164[0] = 0;
                return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz, "unknown country code");
            }
            memcpy(out->country, pl->country, sizeof(out->country));
            if (!allowed(o, out->country)) {
                char c[3];
                memcpy(c, pl->country, sizeof(c));
                memset(out, 0, sizeof(*out));
                return fail(IMPORTER_REASON_COUNTRY, detail, dsz,
                            "country %s is not allowed for this list", c);
            }
            return IMPORTER_REASON_NONE;
        }
    }
    /* NANP, d has the 10 national digits. */
    enum importer_reason r = nanp_check(d, o, detail, dsz);
    if (r != IMPORTER_REASON_NONE) {
        memset(out, 0, sizeof(*out));
        return r;
    }
    out->e164[0] = '+';
    out->e164[1] = '1';
    memcpy(out->e164 + 2, d, 10);
    out->e164[12] = 0;
    if (compliance_locate(out->e164, pl) != 0 || pl->source == COMPLIANCE_SOURCE_UNKNOWN ||
        pl->country[0] == 0) {
        char npa[4] = { d[0], d[1], d[2], 0 };
        memset(out, 0, sizeof(*out));
        return fail(IMPORTER_REASON_INVALID_NUMBER, detail, dsz,
                    "area code %s is not a geographic area code in service", npa);
    }
    memcpy(out->country, pl->country, sizeof(out->country));
    if (!allowed(o, out->country)) {
        char c[3];
        memcpy(c, pl->country, sizeof(c));
        memset(out, 0, sizeof(*out));
        return fail(IMPORTER_REASON_COUNTRY, detail, dsz, "country %s is not allowed for this list",
                    c);
    }
    return IMPORTER_REASON_NONE;
}

enum importer_reason imp_e164_normalize_place(const char *in, size_t len,
                                              const struct importer_e164_opts *o,
                                              struct importer_number *out,
                                              struct compliance_place *place, char *detail,
                                              size_t dsz)
{
    memset(place, 0, sizeof(*place));
    enum importer_reason r = normalize(in, len, o, out, detail, dsz, place);
    if (r != IMPORTER_REASON_NONE)
        memset(out, 0, sizeof(*out)); /* a reject leaves nothing half-filled */
    return r;
}

enum importer_reason importer_e164_normalize(const char *in, size_t len,
                                             const struct importer_e164_opts *o,
                                             struct importer_number *out, char *detail, size_t dsz)
{
    struct compliance_place pl;
    return imp_e164_normalize_place(in, len, o, out, &pl, detail, dsz);
}
