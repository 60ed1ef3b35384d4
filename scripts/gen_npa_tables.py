#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates compliance/npa_tables.c: where a phone number is.

Reads libphonenumber's time-zone map and its English geocoding file for
country code 1 (both as copied into shared/phone-data/ with a SOURCE.md naming
the upstream commit), plus tzdata's zone.tab and tzdata.zi (for the country of
a zone and for zone links), and writes one C file of sorted static tables:

  * zone names (sorted; a zone id is an index into this array),
  * zone sets (the '&'-joined lists of the source, as runs of zone ids),
  * region strings (two-letter US state / Canadian province / territory codes,
    several joined by '&' where one prefix serves several),
  * the prefix table: E.164 digit prefix -> country, region, zone set, source
    kind; lookup is longest prefix first,
  * per region, the union of its zones (for contacts that give a state but no
    zone).

The generator is run by hand when the data changes; the build never runs it.

    python3 scripts/gen_npa_tables.py --phone-data ../shared/phone-data \
        --zoneinfo /usr/share/zoneinfo > compliance/npa_tables.c

It stops with an error when a NANP prefix's zone does not belong to its state
or province (per STATE_ZONES below) and no entry in CORRECTIONS explains it:
a silent wrong zone would put calls outside the legal hours.
"""
import argparse
import collections
import os
import re
import sys

# Place names used by geocoding_en_1.txt at NPA level (and some longer
# prefixes) -> region codes. Several codes where one area code serves several
# provinces/territories.
# clang-format has nothing to do with this file; keep the tables readable.
REGION_NAMES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR",
    "California": "CA", "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE",
    "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
    "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT",
    "Vermont": "VT", "Virginia": "VA", "Washington State": "WA",
    "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC",
    "Manitoba": "MB", "New Brunswick": "NB", "Newfoundland and Labrador": "NL",
    "Nova Scotia/Prince Edward Island": "NS&PE",
    "Northwest Territories/Nunavut/Yukon": "NT&NU&YT", "Ontario": "ON",
    "Quebec": "QC", "Saskatchewan": "SK",
}

US_REGIONS = set("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO "
                 "MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA DC WV "
                 "WI WY".split())
CA_REGIONS = set("AB BC MB NB NL NS PE NT NU YT ON QC SK".split())
# US territories with their own NANP area codes; USPS and ISO 3166-1 codes agree.
US_TERRITORIES = set("PR VI GU AS MP".split())

# The zones each state or province may legitimately be in (IANA names as
# libphonenumber writes them). Used only to check the data, not to fill it.
_E, _C, _M, _P = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
STATE_ZONES = {
    "AL": {_C}, "AK": {"America/Anchorage", "America/Adak", "America/Juneau"},
    "AZ": {"America/Phoenix", _M}, "AR": {_C}, "CA": {_P}, "CO": {_M}, "CT": {_E},
    "DE": {_E}, "DC": {_E}, "FL": {_E, _C}, "GA": {_E}, "HI": {"Pacific/Honolulu"},
    "ID": {"America/Boise", _P, _M}, "IL": {_C}, "IN": {_E, _C}, "IA": {_C},
    "KS": {_C, _M}, "KY": {_E, _C}, "LA": {_C}, "ME": {_E}, "MD": {_E}, "MA": {_E},
    "MI": {_E, _C}, "MN": {_C}, "MS": {_C}, "MO": {_C}, "MT": {_M}, "NE": {_C, _M},
    "NV": {_P, "America/Boise", _M}, "NH": {_E}, "NJ": {_E}, "NM": {_M}, "NY": {_E},
    "NC": {_E}, "ND": {_C, _M, "America/North_Dakota/Center"}, "OH": {_E},
    "OK": {_C}, "OR": {_P, "America/Boise", _M}, "PA": {_E}, "RI": {_E}, "SC": {_E},
    "SD": {_C, _M, "America/North_Dakota/Center"}, "TN": {_E, _C}, "TX": {_C, _M},
    "UT": {_M}, "VT": {_E}, "VA": {_E}, "WA": {_P}, "WV": {_E}, "WI": {_C}, "WY": {_M},
    "AB": {"America/Edmonton"}, "BC": {"America/Vancouver", "America/Edmonton",
                                       "America/Fort_Nelson"},
    "MB": {"America/Winnipeg"}, "NB": {"America/Halifax"},
    "NL": {"America/St_Johns", "America/Halifax", "America/Puerto_Rico"},
    "NS": {"America/Halifax"}, "PE": {"America/Halifax"},
    "NT": {"America/Edmonton", "America/Fort_Nelson"},
    "NU": {"America/Edmonton", "America/Winnipeg", "America/Toronto", "America/Fort_Nelson"},
    "YT": {"America/Vancouver", "America/Fort_Nelson", "America/Whitehorse"},
    "ON": {"America/Toronto", "America/Winnipeg"}, "QC": {"America/Toronto", "America/Halifax"},
    "SK": {"America/Regina", "America/Edmonton"},
}

# Known errors in the source, each with the reason. A correction replaces the
# source's zone set for exactly that prefix (longer prefixes are unaffected);
# where the right zone is not certain the replacement keeps the source's zone
# too, so a window must hold in both.
CORRECTIONS = {
    # NANPA assigned 689 as an overlay of 407/321 (Orlando, Eastern time); the
    # source says Central. Keep both: Eastern is right, Central never widens.
    "1689": "America/Chicago&America/New_York",
    # 474 is an overlay of 306/639 (Saskatchewan, no DST); the source says
    # Winnipeg, which runs an hour ahead in summer. Keep both.
    "1474": "America/Regina&America/Winnipeg",
    # Unalaska (907-581) keeps Alaska time; the source says Honolulu, which
    # has no DST and runs two hours behind Alaska in summer. Keep both.
    "1907581": "America/Anchorage&Pacific/Honolulu",
}

# Country calling code -> main region (ISO 3166-1 alpha-2), from libphonenumber
# java/libphonenumber/src/com/google/i18n/phonenumbers/CountryCodeToRegionCodeMap.java
# (google/libphonenumber commit 030071b3a9312b9a32d8363fe112d7309f2f2603): the
# first region listed for each code, which that file says is the main country.
# "001" (non-geographic services) is left out.
CALLING_CODES = {
    1: "US", 7: "RU", 20: "EG", 27: "ZA", 30: "GR", 31: "NL", 32: "BE", 33: "FR", 34: "ES",
    36: "HU", 39: "IT", 40: "RO", 41: "CH", 43: "AT", 44: "GB", 45: "DK", 46: "SE", 47: "NO",
    48: "PL", 49: "DE", 51: "PE", 52: "MX", 53: "CU", 54: "AR", 55: "BR", 56: "CL", 57: "CO",
    58: "VE", 60: "MY", 61: "AU", 62: "ID", 63: "PH", 64: "NZ", 65: "SG", 66: "TH", 81: "JP",
    82: "KR", 84: "VN", 86: "CN", 90: "TR", 91: "IN", 92: "PK", 93: "AF", 94: "LK", 95: "MM",
    98: "IR", 211: "SS", 212: "MA", 213: "DZ", 216: "TN", 218: "LY", 220: "GM", 221: "SN",
    222: "MR", 223: "ML", 224: "GN", 225: "CI", 226: "BF", 227: "NE", 228: "TG", 229: "BJ",
    230: "MU", 231: "LR", 232: "SL", 233: "GH", 234: "NG", 235: "TD", 236: "CF", 237: "CM",
    238: "CV", 239: "ST", 240: "GQ", 241: "GA", 242: "CG", 243: "CD", 244: "AO", 245: "GW",
    246: "IO", 247: "AC", 248: "SC", 249: "SD", 250: "RW", 251: "ET", 252: "SO", 253: "DJ",
    254: "KE", 255: "TZ", 256: "UG", 257: "BI", 258: "MZ", 260: "ZM", 261: "MG", 262: "RE",
    263: "ZW", 264: "NA", 265: "MW", 266: "LS", 267: "BW", 268: "SZ", 269: "KM", 290: "SH",
    291: "ER", 297: "AW", 298: "FO", 299: "GL", 350: "GI", 351: "PT", 352: "LU", 353: "IE",
    354: "IS", 355: "AL", 356: "MT", 357: "CY", 358: "FI", 359: "BG", 370: "LT", 371: "LV",
    372: "EE", 373: "MD", 374: "AM", 375: "BY", 376: "AD", 377: "MC", 378: "SM", 379: "VA",
    380: "UA", 381: "RS", 382: "ME", 385: "HR", 386: "SI", 387: "BA", 389: "MK", 420: "CZ",
    421: "SK", 423: "LI", 500: "FK", 501: "BZ", 502: "GT", 503: "SV", 504: "HN", 505: "NI",
    506: "CR", 507: "PA", 508: "PM", 509: "HT", 590: "GP", 591: "BO", 592: "GY", 593: "EC",
    594: "GF", 595: "PY", 596: "MQ", 597: "SR", 598: "UY", 599: "CW", 670: "TL", 672: "NF",
    673: "BN", 674: "NR", 675: "PG", 676: "TO", 677: "SB", 678: "VU", 679: "FJ", 680: "PW",
    681: "WF", 682: "CK", 683: "NU", 685: "WS", 686: "KI", 687: "NC", 688: "TV", 689: "PF",
    690: "TK", 691: "FM", 692: "MH", 850: "KP", 852: "HK", 853: "MO", 855: "KH", 856: "LA",
    880: "BD", 886: "TW", 960: "MV", 961: "LB", 962: "JO", 963: "SY", 964: "IQ", 965: "KW",
    966: "SA", 967: "YE", 968: "OM", 970: "PS", 971: "AE", 972: "IL", 973: "BH", 974: "QA",
    975: "BT", 976: "MN", 977: "NP", 992: "TJ", 993: "TM", 994: "AZ", 995: "GE", 996: "KG",
    998: "UZ",
    # Kosovo's code is in map_data.txt but not in the map file read above.
    383: "XK",
}

SOURCE_NPA, SOURCE_NPA_NXX, SOURCE_COUNTRY = "COMPLIANCE_SOURCE_NPA", "COMPLIANCE_SOURCE_NPA_NXX", \
    "COMPLIANCE_SOURCE_COUNTRY"


def read_pipe_file(path):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            prefix, value = line.split("|", 1)
            if not prefix.isdigit():
                sys.exit("bad prefix %r in %s" % (prefix, path))
            rows[prefix] = value
    return rows


def header_lines(path, n=3):
    """The SOURCE.md lines naming the upstream commit, for provenance."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "commit" in line or "libphonenumber" in line:
                out.append(line.strip())
    return out[:n]


def tz_version(zoneinfo):
    try:
        with open(os.path.join(zoneinfo, "tzdata.zi"), encoding="utf-8") as f:
            first = f.readline().strip()
        m = re.match(r"# version (\S+)", first)
        return m.group(1) if m else "unknown"
    except OSError:
        return "unknown"


def zone_countries(zoneinfo):
    """zone name -> set of ISO countries, from zone.tab, following tzdata.zi links."""
    countries = collections.defaultdict(set)
    with open(os.path.join(zoneinfo, "zone.tab"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            countries[parts[2]].add(parts[0])
    links = {}
    with open(os.path.join(zoneinfo, "tzdata.zi"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("L "):
                _, target, name = line.split()
                links[name] = target
    return countries, links


def region_of_place(name):
    """Region code(s) for a geocoding place name, or None if it names none."""
    if name in REGION_NAMES:
        return REGION_NAMES[name]
    m = re.search(r", ([A-Z]{2})$", name)
    if m and (m.group(1) in US_REGIONS or m.group(1) in CA_REGIONS
              or m.group(1) in US_TERRITORIES):
        return m.group(1)
    return None


def longest(table, key, minlen=1):
    for n in range(len(key), minlen - 1, -1):
        if key[:n] in table:
            return key[:n]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phone-data", required=True)
    ap.add_argument("--zoneinfo", default="/usr/share/zoneinfo")
    args = ap.parse_args()

    tz = read_pipe_file(os.path.join(args.phone_data, "timezones_map_data.txt"))
    geo = read_pipe_file(os.path.join(args.phone_data, "geocoding_en_1.txt"))
    provenance = header_lines(os.path.join(args.phone_data, "SOURCE.md"))
    zcountries, zlinks = zone_countries(args.zoneinfo)
    tzver = tz_version(args.zoneinfo)

    def countries_of(zones):
        out = set()
        for z in zones:
            c = zcountries.get(z) or zcountries.get(zlinks.get(z, ""), set())
            out |= c
        return out

    for prefix, zones in CORRECTIONS.items():
        if prefix not in tz:
            sys.exit("correction for %s: no such prefix in the source" % prefix)
        tz[prefix] = zones

    # --- North America: regions per prefix --------------------------------
    regions = {}  # prefix -> region string
    npas = sorted({p[:4] for p in tz if p.startswith("1") and len(p) >= 4} |
                  {p[:4] for p in geo if len(p) >= 4})
    for npa in npas:
        if npa in geo and region_of_place(geo[npa]):
            regions[npa] = region_of_place(geo[npa])
            continue
        seen = {region_of_place(v) for p, v in geo.items() if p.startswith(npa) and len(p) > 4}
        seen.discard(None)
        if len(seen) == 1:
            regions[npa] = seen.pop()
        elif seen:
            regions[npa] = "&".join(sorted(seen))
    for p, v in geo.items():
        if len(p) <= 4:
            continue
        r = region_of_place(v)
        parent = regions.get(p[:4])
        if r and parent and r != parent:
            if r in parent.split("&"):
                regions[p] = r  # narrows a shared area code (902: NS or PE)
            else:
                # The sources disagree (an exchange geocoded to another state):
                # keep both, so both states' rules apply.
                print("note: %s %r is %s inside %s %s" % (p, v, r, p[:4], parent), file=sys.stderr)
                regions[p] = "&".join(sorted(set(parent.split("&")) | {r}))

    # --- one merged table --------------------------------------------------
    rows = {}  # prefix -> (country, region, zones, source)
    nanp_keys = {p for p in tz if p.startswith("1") and len(p) >= 4} | set(regions)
    for key in sorted(nanp_keys, key=lambda k: (len(k), k)):
        zp = longest(tz, key, 4)
        rp = longest(regions, key, 4)
        zones = tz[zp] if zp else ""
        region = regions[rp] if rp else ""
        parts = region.split("&") if region else []
        if parts and all(r in US_REGIONS for r in parts):
            country = "US"
        elif parts and all(r in CA_REGIONS for r in parts):
            country = "CA"
        else:
            cs = countries_of(zones.split("&")) if zones else set()
            country = cs.pop() if len(cs) == 1 else ""
            region = country if country in US_TERRITORIES else ""
        source = SOURCE_NPA if len(key) == 4 else SOURCE_NPA_NXX
        rows[key] = (country, region, zones, source)

    # Check every NANP zone against the state's zones.
    bad = []
    for key, (country, region, zones, _) in rows.items():
        if country not in ("US", "CA") or not zones:
            continue
        allowed = set()
        for r in region.split("&"):
            allowed |= STATE_ZONES[r]
        for z in zones.split("&"):
            if z not in allowed and key not in CORRECTIONS:
                bad.append("%s %s %s" % (key, region, z))
    if bad:
        sys.exit("zones outside their state (add to STATE_ZONES or CORRECTIONS):\n  " +
                 "\n  ".join(sorted(bad)))

    # Per region: the union of its zones (single codes only).
    region_zones = collections.defaultdict(set)
    for country, region, zones, _ in rows.values():
        if region and zones and "&" not in region:
            region_zones[region] |= set(zones.split("&"))
    # Codes that only appear inside a joined string (NS, PE, NT, NU, YT).
    for country, region, zones, _ in rows.values():
        if "&" in region and zones:
            for r in region.split("&"):
                if r not in region_zones:
                    region_zones[r] |= set(zones.split("&"))

    # A NANP prefix with a region but no zone (the source has zones only for
    # some of its exchanges, e.g. 208 Idaho): all of the region's zones, so a
    # window must hold in each of them.
    for key, (country, region, zones, source) in list(rows.items()):
        if not zones and region and country in ("US", "CA"):
            union = set()
            for r in region.split("&"):
                union |= region_zones.get(r, set())
            rows[key] = (country, region, "&".join(sorted(union)), source)

    # Drop NANP rows that say nothing their parent does not.
    for key in sorted(rows, key=len, reverse=True):
        if len(key) <= 4:
            continue
        parent = longest(rows, key[:-1], 4)
        if parent and rows[parent][:3] == rows[key][:3]:
            del rows[key]

    # --- elsewhere: calling code rows plus the source's longer prefixes ----
    for p, zones in tz.items():
        if p.startswith("1"):
            continue
        cc = next((int(p[:n]) for n in (1, 2, 3) if int(p[:n]) in CALLING_CODES), None)
        if cc is None:
            print("note: no calling code for %s" % p, file=sys.stderr)
            continue
        cs = countries_of(zones.split("&"))
        country = cs.pop() if len(cs) == 1 else CALLING_CODES[cc]
        rows[p] = (country, "", zones, SOURCE_COUNTRY)
    for cc, country in CALLING_CODES.items():
        if cc != 1 and str(cc) not in rows:
            rows[str(cc)] = (country, "", "", SOURCE_COUNTRY)

    # --- intern strings ----------------------------------------------------
    zone_names = sorted({z for r in rows.values() if r[2] for z in r[2].split("&")} |
                        {z for zs in STATE_ZONES.values() for z in zs})
    zid = {z: i for i, z in enumerate(zone_names)}
    zonesets, zs_index, zs_ids = [], {}, []

    def zoneset(zones):
        ids = tuple(sorted(zid[z] for z in zones.split("&"))) if zones else ()
        if ids not in zs_index:
            zs_index[ids] = len(zonesets)
            zonesets.append((len(zs_ids), len(ids)))
            zs_ids.extend(ids)
        return zs_index[ids]

    zoneset("")
    region_strs = sorted({r[1] for r in rows.values()} |
                         US_REGIONS | CA_REGIONS | US_TERRITORIES)
    rid = {r: i for i, r in enumerate(region_strs)}

    keys = sorted(rows, key=lambda k: (len(k), int(k)))
    region_zs = [zoneset("&".join(sorted(region_zones.get(r, set()))) if "&" not in r else "")
                 for r in region_strs]
    row_zs = {k: zoneset(rows[k][2]) for k in keys}
    lengths = sorted({len(k) for k in keys})
    out = sys.stdout
    w = out.write
    w("/* SPDX-License-Identifier: MIT */\n")
    w("/*\n * GENERATED by scripts/gen_npa_tables.py - do not edit.\n *\n")
    w(" * Regenerate with:\n *     python3 scripts/gen_npa_tables.py --phone-data "
      "../shared/phone-data \\\n *         --zoneinfo /usr/share/zoneinfo > "
      "compliance/npa_tables.c\n *\n")
    w(" * Facts from:\n")
    w(" *   timezones_map_data.txt (libphonenumber resources/timezones/map_data.txt) and\n")
    w(" *   geocoding_en_1.txt (libphonenumber resources/geocoding/en/1.txt), as described\n")
    w(" *   by their SOURCE.md:\n")
    for line in provenance:
        for chunk in re.findall(r".{1,80}(?:\s|$)", line):
            w(" *     %s\n" % chunk.strip())
    w(" *   calling codes: libphonenumber CountryCodeToRegionCodeMap.java (commit\n")
    w(" *     030071b3a9312b9a32d8363fe112d7309f2f2603), main region per code;\n")
    w(" *   zone -> country: tzdata %s zone.tab and tzdata.zi links (Debian tzdata).\n" % tzver)
    w(" * Corrections applied to the source (see CORRECTIONS in the generator):\n")
    for p, z in sorted(CORRECTIONS.items()):
        w(" *   +%s -> %s\n" % (p, z))
    w(" */\n")
    w('#include "compliance/compliance_int.h"\n\n')
    w("/* clang-format off */\n")
    w('const char compliance__phone_data_version[] = "libphonenumber '
      'f7e3e88c92b905c8d6edb81f336dbe25edc05b52";\n')
    w('const char compliance__table_tzdata_version[] = "%s";\n\n' % tzver)
    w("const char *const compliance__zone_names[] = {\n")
    for z in zone_names:
        w('    "%s",\n' % z)
    w("};\nconst unsigned compliance__zone_count = %d;\n\n" % len(zone_names))
    w("const uint16_t compliance__zoneset_ids[] = {\n")
    for i in range(0, len(zs_ids), 16):
        w("    " + ", ".join(str(x) for x in zs_ids[i:i + 16]) + ",\n")
    w("};\n\nconst struct compliance__zoneset compliance__zonesets[] = {\n")
    for start, n in zonesets:
        w("    { %d, %d },\n" % (start, n))
    w("};\nconst unsigned compliance__zoneset_count = %d;\n\n" % len(zonesets))
    w("const char *const compliance__regions[] = {\n")
    for r in region_strs:
        w('    "%s",\n' % r)
    w("};\nconst unsigned compliance__region_count = %d;\n\n" % len(region_strs))
    w("/* Per single region code: the zones its numbers are in (by region index). */\n")
    w("const uint16_t compliance__region_zoneset[] = {\n")
    for r, zs in zip(region_strs, region_zs):
        w("    %d, /* %s */\n" % (zs, r or "-"))
    w("};\n\n")
    w("/* Per region string: its country (US for states and DC, CA, or the territory). */\n")
    w("const char compliance__region_country[][3] = {\n")
    for r in region_strs:
        parts = r.split("&") if r else []
        if parts and all(x in US_REGIONS for x in parts):
            c = "US"
        elif parts and all(x in CA_REGIONS for x in parts):
            c = "CA"
        elif r in US_TERRITORIES:
            c = r
        else:
            c = ""
        w('    "%s", /* %s */\n' % (c, r or "-"))
    w("};\n\n")
    w("/* Sorted by (length, digits). */\n")
    w("const struct compliance__prefix compliance__prefixes[] = {\n")
    for k in keys:
        country, region, zones, source = rows[k]
        w('    { %sULL, %d, "%s", %d, %d, %s },\n' % (
            k, len(k), country, rid[region], row_zs[k], source))
    w("};\nconst unsigned compliance__prefix_count = %d;\n" % len(keys))
    w("const uint32_t compliance__prefix_lengths = 0x%x; /* bit n: some prefix has n digits */\n"
      % sum(1 << n for n in lengths))
    w("/* clang-format on */\n")

if __name__ == "__main__":
    main()
