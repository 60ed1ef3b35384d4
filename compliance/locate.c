/* SPDX-License-Identifier: MIT */
/*
 * locate: E.164 number -> country, region(s) and zone(s).
 *
 * The generated table (npa_tables.c) is one array of prefixes sorted by
 * (length, digits). A number is looked up longest prefix first: for each
 * prefix length that occurs in the table (a bit mask says which), from the
 * longest down, one binary search on the (length, digits) key. A NANP number
 * therefore tries its NPA-NXX (7 digits with the "1"), then the 6- and
 * 5-digit splits, then the NPA; other numbers try the source's longer
 * prefixes (+441481 Guernsey) before the country code. The prefix "1" alone
 * is not in the table: an unknown NPA is unknown, not "somewhere in 42
 * zones". Cost: at most a dozen binary searches over ~3,300 rows, no
 * allocation, no I/O.
 *
 * compliance_place_override() applies what a contact list knows. The
 * contact's zone and state win over the area code; the one exception is a
 * state whose law presumes residence from its area codes (Florida, Oklahoma;
 * DIALER-ANCHORS.md 4.5), whose rules keep applying beside the contact's
 * state (the strictest rule when sources disagree, section 5.4).
 */
#include <string.h>

#include "compliance/compliance_int.h"
#include "core/err.h"

static int prefix_cmp(const struct compliance__prefix *p, unsigned len, uint64_t digits)
{
    if (p->len != len) {
        return p->len < len ? -1 : 1;
    }
    if (p->digits != digits) {
        return p->digits < digits ? -1 : 1;
    }
    return 0;
}

static const struct compliance__prefix *prefix_find(unsigned len, uint64_t digits)
{
    unsigned lo = 0, hi = compliance__prefix_count;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int c = prefix_cmp(&compliance__prefixes[mid], len, digits);
        if (c == 0) {
            return &compliance__prefixes[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Splits a region string ("NS&PE") into place->regions. */
static void set_regions(struct compliance_place *place, const char *s)
{
    place->nregions = 0;
    while (s[0] != '\0' && s[1] != '\0' && place->nregions < COMPLIANCE_PLACE_MAX_REGIONS) {
        place->regions[place->nregions][0] = s[0];
        place->regions[place->nregions][1] = s[1];
        place->regions[place->nregions][2] = '\0';
        place->nregions++;
        s += 2;
        if (*s == '&') {
            s++;
        }
    }
}

static void set_zoneset(struct compliance_place *place, uint16_t zoneset)
{
    const struct compliance__zoneset *zs = &compliance__zonesets[zoneset];
    place->nzones = 0;
    place->zones_truncated = zs->count > COMPLIANCE_PLACE_MAX_ZONES;
    for (unsigned i = 0; i < zs->count && i < COMPLIANCE_PLACE_MAX_ZONES; i++) {
        place->zones[place->nzones++] = compliance__zoneset_ids[zs->start + i];
    }
}

/* Number of digits after '+', or 0 if s is not '+' and 8-15 digits. */
static unsigned e164_digits(const char *s)
{
    unsigned n = 0;
    if (s == NULL || s[0] != '+') {
        return 0;
    }
    for (const char *p = s + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || ++n > 15) {
            return 0;
        }
    }
    if (n < 8 || s[1] == '0') {
        return 0;
    }
    if (s[1] == '1' && (n != 11 || s[2] < '2' || s[5] < '2')) {
        return 0; /* NANP: 1 + NPA (2-9xx) + NXX (2-9xx) + 4 */
    }
    return n;
}

int compliance_locate(const char *e164, struct compliance_place *out)
{
    if (out == NULL) {
        return ERR_INVAL;
    }
    memset(out, 0, sizeof(*out));
    unsigned n = e164_digits(e164);
    if (n == 0) {
        return ERR_INVAL;
    }
    uint64_t value[16];
    value[0] = 0;
    for (unsigned i = 1; i <= n; i++) {
        value[i] = value[i - 1] * 10 + (uint64_t)(e164[i] - '0');
    }
    unsigned minlen = e164[1] == '1' ? 4 : 1;
    for (unsigned len = n < 31 ? n : 31; len >= minlen; len--) {
        if (!(compliance__prefix_lengths & (UINT32_C(1) << len))) {
            continue;
        }
        const struct compliance__prefix *p = prefix_find(len, value[len]);
        if (p == NULL) {
            continue;
        }
        out->source = (enum compliance_source)p->source;
        memcpy(out->country, p->country, sizeof(out->country));
        set_regions(out, compliance__regions[p->region]);
        set_zoneset(out, p->zoneset);
        return 0;
    }
    return 0;
}

const char *compliance_source_name(enum compliance_source source)
{
    switch (source) {
    case COMPLIANCE_SOURCE_NPA:
        return "npa";
    case COMPLIANCE_SOURCE_NPA_NXX:
        return "npa-nxx";
    case COMPLIANCE_SOURCE_COUNTRY:
        return "country";
    case COMPLIANCE_SOURCE_CONTACT:
        return "contact";
    case COMPLIANCE_SOURCE_UNKNOWN:
    default:
        return "unknown";
    }
}

/* Index of a single region code in compliance__regions, or -1. */
static int region_index(const char *code)
{
    unsigned lo = 0, hi = compliance__region_count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        int c = strcmp(compliance__regions[mid], code);
        if (c == 0) {
            return (int)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

static int has_region(const struct compliance_place *p, const char *code)
{
    for (unsigned i = 0; i < p->nregions; i++) {
        if (strcmp(p->regions[i], code) == 0) {
            return 1;
        }
    }
    return 0;
}

int compliance_place_override(struct compliance_place *place, const char *tz_name,
                              const char *region)
{
    struct compliance_place np;
    uint16_t zone = 0;
    int ri = -1;
    int rc;

    if (place == NULL) {
        return ERR_INVAL;
    }
    int have_tz = tz_name != NULL && tz_name[0] != '\0';
    int have_region = region != NULL && region[0] != '\0';
    if (have_region) {
        if (strlen(region) != 2 || region[0] < 'A' || region[0] > 'Z' || region[1] < 'A' ||
            region[1] > 'Z') {
            return ERR_INVAL;
        }
        ri = region_index(region);
        if (ri < 0) {
            return ERR_NOTFOUND;
        }
    }
    if (have_tz) {
        rc = compliance_zone_id(tz_name, &zone);
        if (rc != 0) {
            return rc;
        }
    }
    np = *place;
    if (have_region) {
        np.nregions = 0;
        np.presumed_regions = 0;
        set_regions(&np, region);
        /* The area code's presumption states keep applying. */
        for (unsigned i = 0; i < place->nregions; i++) {
            const struct compliance__juris *j = compliance__juris_state(place->regions[i]);
            if (j != NULL && j->presumption && !has_region(&np, place->regions[i]) &&
                np.nregions < COMPLIANCE_PLACE_MAX_REGIONS) {
                memcpy(np.regions[np.nregions++], place->regions[i], 3);
                np.presumed_regions = 1;
            }
        }
        memcpy(np.country, compliance__region_country[ri], sizeof(np.country));
        if (!have_tz && !has_region(place, region)) {
            set_zoneset(&np, compliance__region_zoneset[ri]);
        }
    }
    if (have_tz) {
        np.nzones = 1;
        np.zones_truncated = 0;
        np.zones[0] = zone;
    }
    if (have_tz || have_region) {
        np.source = COMPLIANCE_SOURCE_CONTACT;
    }
    *place = np;
    return 0;
}

/* tz_source values that mean the contact list itself said where the contact is. */
static int list_given(const char *tz_source)
{
    return tz_source != NULL &&
           (strcmp(tz_source, "explicit") == 0 || strcmp(tz_source, "postal_code") == 0 ||
            strcmp(tz_source, "default") == 0);
}

int compliance_contact_place(const char *e164, const char *region, const char *zones,
                             const char *tz_source, struct compliance_place *out)
{
    struct compliance_place np;
    char name[128];

    if (e164 == NULL || out == NULL) {
        return ERR_INVAL;
    }
    if (compliance_locate(e164, out) != 0) {
        return ERR_INVAL;
    }
    if (!list_given(tz_source)) {
        return 0; /* the area code of the number dialed */
    }
    np = *out;
    if (region != NULL && strlen(region) > 3 && region[2] == '-') {
        region += 3; /* "US-FL" */
    }
    if (region != NULL && region[0] != '\0' && !has_region(&np, region) &&
        compliance_place_override(&np, NULL, region) != 0) {
        return ERR_NOTFOUND;
    }
    /* The stored zones, all of them: the window must hold in each. */
    uint8_t n = 0, truncated = 0;
    uint16_t ids[COMPLIANCE_PLACE_MAX_ZONES];
    const char *s = zones != NULL ? zones : "";
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof(name)) {
            return ERR_NOTFOUND;
        }
        memcpy(name, s, len);
        name[len] = '\0';
        s += len + (s[len] == ',');
        if (n == COMPLIANCE_PLACE_MAX_ZONES) {
            truncated = 1;
            continue;
        }
        if (compliance_zone_id(name, &ids[n]) != 0) {
            return ERR_NOTFOUND;
        }
        n++;
    }
    if (n > 0) {
        memcpy(np.zones, ids, n * sizeof(ids[0]));
        np.nzones = n;
        np.zones_truncated = truncated;
    }
    np.source = COMPLIANCE_SOURCE_CONTACT;
    *out = np;
    return 0;
}
