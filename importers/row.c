/* SPDX-License-Identifier: MIT */
/*
 * row: one CSV row (or JSON item) -> one line of the staging COPY.
 *
 * Every row produces exactly one staging line, accepted or not, so that the
 * merge at the end can both insert the accepted rows and record every
 * rejected one with its original values. Accepted rows carry the contact's
 * columns; rejected rows carry reason, detail and the original values only.
 *
 * Decisions where the issue is silent:
 *   - An alternate number that does not normalise is dropped (the contact is
 *     still worth calling on its main number); duplicates of the main number
 *     are dropped; at most 9 are kept (contacts.alt_numbers).
 *   - A state or time-zone cell that the compliance tables do not know
 *     rejects the row (invalid_field): calling hours depend on it, and
 *     guessing from the area code when the file says otherwise is unsafe.
 *   - An empty state/zone cell falls back to the number's area code, then to
 *     the list's default zone.
 *   - A failed DNC lookup rejects the row (dnc_unavailable): a number is
 *     never imported unscrubbed when the list asks for scrubbing.
 */
#include <stdio.h>
#include <string.h>

#include "compliance/compliance.h"
#include "core/err.h"
#include "importers/importers_int.h"

enum { VALUE_MAX = 512, CUSTOM_VALUE_MAX = 2000 };

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/*
 * The original values as JSON ({"header": "value"}, or an array without a
 * header), written straight into the COPY line: JSON's structure needs no
 * COPY escaping, its string contents go through imp_buf_add_json_copy.
 */
static int add_original(struct imp_buf *o, const struct imp_mapping *m, char **f,
                        const size_t *lens, size_t n)
{
    int rc = imp_buf_addc(o, m->no_header ? '[' : '{');
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            rc |= imp_buf_addc(o, ',');
        if (!m->no_header) {
            char extra[32];
            const char *k = i < m->ncols ? m->name[i] : extra;
            if (i >= m->ncols)
                snprintf(extra, sizeof(extra), "column_%zu", i + 1);
            rc |= imp_buf_addc(o, '"');
            rc |= imp_buf_add_json_copy(o, k, strlen(k), VALUE_MAX);
            rc |= imp_buf_add(o, "\":", 2);
        }
        rc |= imp_buf_addc(o, '"');
        rc |= imp_buf_add_json_copy(o, f[i], lens[i], VALUE_MAX);
        rc |= imp_buf_addc(o, '"');
    }
    rc |= imp_buf_addc(o, m->no_header ? ']' : '}');
    return rc ? ERR_NOMEM : 0;
}

static int stage_reject(struct imp_buf *o, uint64_t row_no, enum importer_reason r,
                        const char *detail, const struct imp_mapping *m, char **f,
                        const size_t *lens, size_t n)
{
    int rc = imp_buf_add_u64(o, row_no);
    rc |= imp_buf_addc(o, '\t');
    rc |= imp_buf_adds(o, importer_reason_name(r));
    rc |= imp_buf_addc(o, '\t');
    rc |= imp_buf_add_copy(o, detail, strlen(detail));
    /* number .. state: 11 NULL columns. */
    rc |= imp_buf_adds(o, "\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t");
    if (rc)
        return ERR_NOMEM;
    rc = add_original(o, m, f, lens, n);
    if (rc)
        return rc;
    return imp_buf_addc(o, '\n') ? ERR_NOMEM : 0;
}

static int reject(struct imp_buf *o, uint64_t row_no, enum importer_reason r, const char *detail,
                  const struct imp_mapping *m, char **f, const size_t *lens, size_t n, char *dout,
                  size_t dsz)
{
    if (dout && dsz && dout != detail)
        snprintf(dout, dsz, "%s", detail);
    int rc = stage_reject(o, row_no, r, detail, m, f, lens, n);
    return rc ? rc : (int)r;
}

static const char *cell(char **f, const size_t *lens, size_t n, long col, size_t *len)
{
    if (col < 0 || (size_t)col >= n) {
        *len = 0;
        return "";
    }
    const char *s = f[col];
    *len = lens[col];
    trim(&s, len);
    return s;
}

static long col_of(const struct imp_mapping *m, enum imp_field k)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (m->kind[i] == k)
            return (long)i;
    return -1;
}

int imp_row_stage(const struct imp_list *l, const struct imp_mapping *m, uint64_t row_no, char **f,
                  const size_t *lens, size_t n, struct imp_buf *out, char *detail, size_t dsz)
{
    char why[256];
    struct importer_e164_opts eo = {
        .allowed_countries = (const char *const *)l->allowed,
        .nallowed = l->nallowed,
        .allow_fictional = l->allow_fictional,
    };
    struct importer_number num;
    struct compliance_place pl; /* where the number is: the file's state / zone may override */
    size_t len;
    const char *s = cell(f, lens, n, m->number_col, &len);
    enum importer_reason r = imp_e164_normalize_place(s, len, &eo, &num, &pl, why, sizeof(why));
    if (r != IMPORTER_REASON_NONE) {
        char d[300];
        snprintf(d, sizeof(d), "%s: %s", m->name[m->number_col], why);
        return reject(out, row_no, r, d, m, f, lens, n, detail, dsz);
    }

    /* Extension: a column of its own wins over one written after the number. */
    char ext[IMPORTER_EXT_MAX + 1];
    size_t elen = strnlen(num.ext, IMPORTER_EXT_MAX);
    memcpy(ext, num.ext, elen);
    ext[elen] = 0;
    long ec = col_of(m, IMP_F_EXTENSION);
    if (ec >= 0) {
        const char *e = cell(f, lens, n, ec, &len);
        if (len) {
            bool ok = len <= IMPORTER_EXT_MAX;
            for (size_t i = 0; i < len && ok; i++)
                ok = (e[i] >= '0' && e[i] <= '9') || e[i] == '*' || e[i] == '#';
            if (!ok) {
                snprintf(why, sizeof(why), "%s: an extension is 1 to 16 digits, * or #",
                         m->name[ec]);
                return reject(out, row_no, IMPORTER_REASON_INVALID_FIELD, why, m, f, lens, n,
                              detail, dsz);
            }
            memcpy(ext, e, len);
            ext[len] = 0;
        }
    }

    /* External id and postal code: length limits of the contacts table. */
    long xc = col_of(m, IMP_F_EXTERNAL_ID);
    const char *xid = cell(f, lens, n, xc, &len);
    size_t xlen = len;
    if (xlen > 200) {
        snprintf(why, sizeof(why), "%s: an external id is at most 200 characters", m->name[xc]);
        return reject(out, row_no, IMPORTER_REASON_INVALID_FIELD, why, m, f, lens, n, detail, dsz);
    }
    long pc = col_of(m, IMP_F_POSTAL);
    const char *postal = cell(f, lens, n, pc, &len);
    size_t plen = len;
    if (plen > 16) {
        snprintf(why, sizeof(why), "%s: a postal code is at most 16 characters", m->name[pc]);
        return reject(out, row_no, IMPORTER_REASON_INVALID_FIELD, why, m, f, lens, n, detail, dsz);
    }

    /* Place: the file's state / zone win over the area code. */
    const char *tz_source = NULL;
    switch (pl.source) {
    case COMPLIANCE_SOURCE_NPA:
        tz_source = "npa";
        break;
    case COMPLIANCE_SOURCE_NPA_NXX:
        tz_source = "npa_nxx";
        break;
    case COMPLIANCE_SOURCE_COUNTRY:
        tz_source = "country";
        break;
    default:
        break;
    }
    long sc = col_of(m, IMP_F_STATE), tc = col_of(m, IMP_F_TZ);
    size_t slen, tlen;
    const char *st = cell(f, lens, n, sc, &slen);
    const char *tz = cell(f, lens, n, tc, &tlen);
    if (slen > 3 && (st[0] == 'U' || st[0] == 'u') && (st[1] == 'S' || st[1] == 's') &&
        st[2] == '-') {
        st += 3; /* "US-FL" */
        slen -= 3;
    }
    if (slen || tlen) {
        char region[8] = "", zone[128] = "";
        if (slen) {
            if (slen != 2) {
                snprintf(why, sizeof(why),
                         "%s: give the state or province as its two-letter code (FL, ON)",
                         m->name[sc]);
                return reject(out, row_no, IMPORTER_REASON_INVALID_FIELD, why, m, f, lens, n,
                              detail, dsz);
            }
            region[0] = (char)(st[0] >= 'a' && st[0] <= 'z' ? st[0] - 32 : st[0]);
            region[1] = (char)(st[1] >= 'a' && st[1] <= 'z' ? st[1] - 32 : st[1]);
        }
        if (tlen) {
            if (tlen >= sizeof(zone)) {
                snprintf(why, sizeof(why), "%s: not a time zone name", m->name[tc]);
                return reject(out, row_no, IMPORTER_REASON_INVALID_FIELD, why, m, f, lens, n,
                              detail, dsz);
            }
            memcpy(zone, tz, tlen);
            zone[tlen] = 0;
        }
        int rc = compliance_place_override(&pl, zone, region);
        if (rc != 0) {
            if (tlen)
                snprintf(why, sizeof(why),
                         "%s/%s: unknown state or time zone (use a two-letter state and an IANA "
                         "zone such as America/New_York)",
                         sc >= 0 ? m->name[sc] : "-", tc >= 0 ? m->name[tc] : "-");
            else
                snprintf(why, sizeof(why), "%s: not a US state or Canadian province code",
                         m->name[sc]);
            return reject(out, row_no, IMPORTER_REASON_INVALID_FIELD, why, m, f, lens, n, detail,
                          dsz);
        }
        tz_source = "explicit";
    }
    if (pl.nzones == 0 && l->default_tz[0]) {
        if (compliance_place_override(&pl, l->default_tz, NULL) == 0)
            tz_source = "default";
    }

    /* DNC scrub. */
    const char *state = "pending";
    if (l->dnc) {
        int d = l->dnc(num.e164, l->tenant_id, l->list_id, l->dnc_arg);
        if (d < 0)
            return reject(out, row_no, IMPORTER_REASON_DNC_UNAVAILABLE,
                          "the do-not-call lookup failed; import the row again later", m, f, lens,
                          n, detail, dsz);
        if (d > 0) {
            if (!l->dnc_mark)
                return reject(out, row_no, IMPORTER_REASON_DNC,
                              "the number is on a do-not-call list", m, f, lens, n, detail, dsz);
            state = "dnc";
        }
    }

    /* The accepted line. */
    int rc = imp_buf_add_u64(out, row_no);
    rc |= imp_buf_adds(out, "\t\\N\t\\N\t");
    rc |= imp_buf_adds(out, num.e164);
    rc |= imp_buf_addc(out, '\t');
    rc |= ext[0] ? imp_buf_adds(out, ext) : imp_buf_adds(out, "\\N");
    rc |= imp_buf_adds(out, "\t{");
    /* Alternate numbers. */
    size_t nalt = 0;
    char alts[IMP_MAX_ALT][IMPORTER_E164_MAX + 1];
    for (size_t i = 0; i < m->ncols && i < n && nalt < IMP_MAX_ALT; i++) {
        if (m->kind[i] != IMP_F_ALT)
            continue;
        const char *a = cell(f, lens, n, (long)i, &len);
        struct importer_number an;
        if (!len || importer_e164_normalize(a, len, &eo, &an, NULL, 0) != IMPORTER_REASON_NONE)
            continue;
        bool dup = strcmp(an.e164, num.e164) == 0;
        for (size_t k = 0; k < nalt && !dup; k++)
            dup = strcmp(alts[k], an.e164) == 0;
        if (dup)
            continue;
        memcpy(alts[nalt], an.e164, sizeof(alts[nalt]));
        if (nalt)
            rc |= imp_buf_addc(out, ',');
        rc |= imp_buf_adds(out, alts[nalt]);
        nalt++;
    }
    rc |= imp_buf_adds(out, "}\t");
    rc |= xlen ? imp_buf_add_copy(out, xid, xlen) : imp_buf_adds(out, "\\N");
    rc |= imp_buf_addc(out, '\t');
    rc |= num.country[0] ? imp_buf_adds(out, num.country) : imp_buf_adds(out, "\\N");
    rc |= imp_buf_addc(out, '\t');
    if (pl.nregions && pl.country[0]) {
        rc |= imp_buf_adds(out, pl.country);
        rc |= imp_buf_addc(out, '-');
        rc |= imp_buf_adds(out, pl.regions[0]);
    } else {
        rc |= imp_buf_adds(out, "\\N");
    }
    rc |= imp_buf_addc(out, '\t');
    rc |= plen ? imp_buf_add_copy(out, postal, plen) : imp_buf_adds(out, "\\N");
    rc |= imp_buf_adds(out, "\t{");
    for (unsigned z = 0; z < pl.nzones; z++) {
        const char *zn = compliance_zone_name(pl.zones[z]);
        if (!zn)
            continue;
        if (z)
            rc |= imp_buf_addc(out, ',');
        rc |= imp_buf_adds(out, zn);
    }
    rc |= imp_buf_adds(out, "}\t");
    rc |= (tz_source && pl.nzones) ? imp_buf_adds(out, tz_source) : imp_buf_adds(out, "\\N");
    rc |= imp_buf_addc(out, '\t');
    /* Custom fields, as JSON straight into the line (see add_original). */
    rc |= imp_buf_addc(out, '{');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        char extra[32];
        size_t len2;
        const char *v = cell(f, lens, n, (long)i, &len2);
        if (!len2)
            continue;
        if (i < m->ncols) {
            key = m->key[i];
        } else {
            snprintf(extra, sizeof(extra), "column_%zu", i + 1);
            key = extra;
        }
        if (!key)
            continue;
        if (!first)
            rc |= imp_buf_addc(out, ',');
        first = false;
        rc |= imp_buf_addc(out, '"');
        rc |= imp_buf_add_json_copy(out, key, strlen(key), VALUE_MAX);
        rc |= imp_buf_add(out, "\":\"", 3);
        rc |= imp_buf_add_json_copy(out, v, len2, CUSTOM_VALUE_MAX);
        rc |= imp_buf_addc(out, '"');
    }
    rc |= imp_buf_addc(out, '}');
    rc |= imp_buf_addc(out, '\t');
    rc |= imp_buf_adds(out, state);
    rc |= imp_buf_addc(out, '\t');
    if (rc)
        return ERR_NOMEM;
    rc = add_original(out, m, f, lens, n);
    if (rc)
        return rc;
    return imp_buf_addc(out, '\n') ? ERR_NOMEM : IMPORTER_REASON_NONE;
}
