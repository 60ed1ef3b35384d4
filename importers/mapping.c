/* SPDX-License-Identifier: MIT */
/*
 * mapping: which column is the phone number, which the state, and so on.
 *
 * Headers are compared in a normal form (lower-case letters and digits
 * only: "Phone Number", "PHONE_1" and "phone-number" all become
 * "phonenumber"/"phone1"). The main number is the phone-like column of the
 * highest rank (phone > mobile/cell > home/work/other), first in the file
 * on a tie; every other phone-like column becomes an alternate number (at
 * most 9, contacts.alt_numbers). An explicit mapping names columns for
 * fields; fields it does not name are still detected among the columns it
 * does not name. Every column that is not a contact field becomes a custom
 * field keyed by its header as written (trimmed), flows read it as
 * contact.<key>; first_name, last_name and email are custom fields with
 * those fixed keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "importers/importers_int.h"

struct syn {
    const char *norm;
    enum imp_field field;
    int rank; /* phone-likes: higher wins the main number */
};

/* clang-format off */
static const struct syn synonyms[] = {
    { "phone", IMP_F_NUMBER, 3 },        { "phonenumber", IMP_F_NUMBER, 3 },
    { "phone1", IMP_F_NUMBER, 3 },       { "phonenumber1", IMP_F_NUMBER, 3 },
    { "primaryphone", IMP_F_NUMBER, 3 }, { "mainphone", IMP_F_NUMBER, 3 },
    { "telephone", IMP_F_NUMBER, 3 },    { "tel", IMP_F_NUMBER, 3 },
    { "telephonenumber", IMP_F_NUMBER, 3 }, { "number", IMP_F_NUMBER, 3 },
    { "contactnumber", IMP_F_NUMBER, 3 }, { "phoneno", IMP_F_NUMBER, 3 },
    { "msisdn", IMP_F_NUMBER, 3 },       { "e164", IMP_F_NUMBER, 3 },
    { "mobile", IMP_F_NUMBER, 2 },       { "mobilephone", IMP_F_NUMBER, 2 },
    { "mobilenumber", IMP_F_NUMBER, 2 }, { "cell", IMP_F_NUMBER, 2 },
    { "cellphone", IMP_F_NUMBER, 2 },    { "cellular", IMP_F_NUMBER, 2 },
    { "cellnumber", IMP_F_NUMBER, 2 },   { "homephone", IMP_F_NUMBER, 1 },
    { "workphone", IMP_F_NUMBER, 1 },    { "businessphone", IMP_F_NUMBER, 1 },
    { "officephone", IMP_F_NUMBER, 1 },  { "otherphone", IMP_F_NUMBER, 1 },
    { "altphone", IMP_F_NUMBER, 1 },     { "alternatephone", IMP_F_NUMBER, 1 },
    { "phone2", IMP_F_NUMBER, 1 },       { "phone3", IMP_F_NUMBER, 1 },
    { "phone4", IMP_F_NUMBER, 1 },       { "phone5", IMP_F_NUMBER, 1 },
    { "altphone1", IMP_F_NUMBER, 1 },    { "altphone2", IMP_F_NUMBER, 1 },
    { "altphone3", IMP_F_NUMBER, 1 },    { "phonenumber2", IMP_F_NUMBER, 1 },
    { "phonenumber3", IMP_F_NUMBER, 1 }, { "fax", IMP_F_IGNORE, 0 },
    { "firstname", IMP_F_FIRST_NAME, 0 }, { "first", IMP_F_FIRST_NAME, 0 },
    { "givenname", IMP_F_FIRST_NAME, 0 }, { "fname", IMP_F_FIRST_NAME, 0 },
    { "forename", IMP_F_FIRST_NAME, 0 },
    { "lastname", IMP_F_LAST_NAME, 0 },  { "last", IMP_F_LAST_NAME, 0 },
    { "surname", IMP_F_LAST_NAME, 0 },   { "familyname", IMP_F_LAST_NAME, 0 },
    { "lname", IMP_F_LAST_NAME, 0 },
    { "email", IMP_F_EMAIL, 0 },         { "emailaddress", IMP_F_EMAIL, 0 },
    { "mail", IMP_F_EMAIL, 0 },
    { "state", IMP_F_STATE, 0 },         { "province", IMP_F_STATE, 0 },
    { "stateprovince", IMP_F_STATE, 0 }, { "st", IMP_F_STATE, 0 },
    { "statecode", IMP_F_STATE, 0 },     { "region", IMP_F_STATE, 0 },
    { "zip", IMP_F_POSTAL, 0 },          { "zipcode", IMP_F_POSTAL, 0 },
    { "postalcode", IMP_F_POSTAL, 0 },   { "postcode", IMP_F_POSTAL, 0 },
    { "postal", IMP_F_POSTAL, 0 },       { "zippostalcode", IMP_F_POSTAL, 0 },
    { "timezone", IMP_F_TZ, 0 },         { "tz", IMP_F_TZ, 0 },
    { "externalid", IMP_F_EXTERNAL_ID, 0 }, { "crmid", IMP_F_EXTERNAL_ID, 0 },
    { "customerid", IMP_F_EXTERNAL_ID, 0 }, { "contactid", IMP_F_EXTERNAL_ID, 0 },
    { "leadid", IMP_F_EXTERNAL_ID, 0 },  { "recordid", IMP_F_EXTERNAL_ID, 0 },
    { "id", IMP_F_EXTERNAL_ID, 0 },
    { "extension", IMP_F_EXTENSION, 0 }, { "ext", IMP_F_EXTENSION, 0 },
    { "phoneextension", IMP_F_EXTENSION, 0 },
};

/* clang-format on */

static const struct {
    const char *name;
    enum imp_field field;
} explicit_fields[] = {
    { "phone", IMP_F_NUMBER },
    { "number", IMP_F_NUMBER },
    { "alt_phones", IMP_F_ALT },
    { "first_name", IMP_F_FIRST_NAME },
    { "last_name", IMP_F_LAST_NAME },
    { "email", IMP_F_EMAIL },
    { "state", IMP_F_STATE },
    { "postal_code", IMP_F_POSTAL },
    { "time_zone", IMP_F_TZ },
    { "extension", IMP_F_EXTENSION },
    { "external_id", IMP_F_EXTERNAL_ID },
    { "ignore", IMP_F_IGNORE },
};

void imp_header_norm(const char *s, size_t len, char *out, size_t outsz)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < outsz; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            out[k++] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[k++] = c;
    }
    out[k] = 0;
}

static const struct syn *lookup(const char *norm)
{
    for (size_t i = 0; i < sizeof(synonyms) / sizeof(synonyms[0]); i++)
        if (strcmp(synonyms[i].norm, norm) == 0)
            return &synonyms[i];
    return NULL;
}

void imp_mapping_fini(struct imp_mapping *m)
{
    for (size_t i = 0; i < m->ncols; i++) {
        if (m->key)
            free(m->key[i]);
        if (m->name)
            free(m->name[i]);
    }
    free(m->key);
    free(m->name);
    free(m->kind);
    memset(m, 0, sizeof(*m));
}

static char *dup_trim(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

/* Column index named by v (a header name or a 1-based number), or -1. */
static long find_col(const struct imp_mapping *m, json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t k = json_integer_value(v);
        return (k >= 1 && (size_t)k <= m->ncols) ? (long)(k - 1) : -1;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    for (size_t i = 0; i < m->ncols; i++)
        if (strcmp(m->name[i], s) == 0)
            return (long)i;
    /* Fall back to the normal form, so "phone number" finds "Phone Number". */
    char a[128], b[128];
    imp_header_norm(s, strlen(s), a, sizeof(a));
    for (size_t i = 0; i < m->ncols; i++) {
        imp_header_norm(m->name[i], strlen(m->name[i]), b, sizeof(b));
        if (a[0] && strcmp(a, b) == 0)
            return (long)i;
    }
    return -1;
}

static int apply_explicit(struct imp_mapping *m, bool *fixed, json_t *map, char *err, size_t errsz)
{
    const char *k;
    json_t *v;
    json_object_foreach (map, k, v) {
        enum imp_field f = IMP_F_CUSTOM;
        bool known = false;
        for (size_t i = 0; i < sizeof(explicit_fields) / sizeof(explicit_fields[0]); i++)
            if (strcmp(explicit_fields[i].name, k) == 0) {
                f = explicit_fields[i].field;
                known = true;
            }
        if (!known) {
            snprintf(err, errsz, "mapping: unknown field \"%.64s\"", k);
            return ERR_INVAL;
        }
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t j = 0; j < n; j++) {
            json_t *e = json_is_array(v) ? json_array_get(v, j) : v;
            long c = find_col(m, e);
            if (c < 0) {
                snprintf(err, errsz, "mapping: field \"%.64s\" names a column the file lacks", k);
                return ERR_INVAL;
            }
            m->kind[c] = f;
            fixed[c] = true;
        }
    }
    return 0;
}

int imp_mapping_build(struct imp_mapping *m, char **names, const size_t *lens, size_t ncols,
                      bool no_header, json_t *explicit_map, char *err, size_t errsz)
{
    memset(m, 0, sizeof(*m));
    m->number_col = -1;
    m->no_header = no_header;
    bool *fixed = calloc(ncols ? ncols : 1, sizeof(*fixed));
    int *rank = calloc(ncols ? ncols : 1, sizeof(*rank));
    m->kind = calloc(ncols ? ncols : 1, sizeof(*m->kind));
    m->key = calloc(ncols ? ncols : 1, sizeof(*m->key));
    m->name = calloc(ncols ? ncols : 1, sizeof(*m->name));
    int rc = ERR_NOMEM;
    if (!fixed || !rank || !m->kind || !m->key || !m->name)
        goto out;
    m->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        if (no_header) {
            char b[32];
            snprintf(b, sizeof(b), "column_%zu", i + 1);
            m->name[i] = strdup(b);
        } else {
            m->name[i] = dup_trim(names[i], lens[i]);
        }
        if (!m->name[i])
            goto out;
    }
    if (explicit_map && !json_is_object(explicit_map)) {
        snprintf(err, errsz, "mapping: must be an object of field -> column");
        rc = ERR_INVAL;
        goto out;
    }
    if (explicit_map) {
        rc = apply_explicit(m, fixed, explicit_map, err, errsz);
        if (rc)
            goto out;
    }
    /* Auto-detection of the columns the explicit mapping left alone. */
    bool have_explicit_number = false;
    for (size_t i = 0; i < ncols; i++)
        if (fixed[i] && m->kind[i] == IMP_F_NUMBER)
            have_explicit_number = true;
    bool seen[IMP_F_IGNORE + 1] = { false };
    for (size_t i = 0; i < ncols; i++)
        if (fixed[i])
            seen[m->kind[i]] = true;
    for (size_t i = 0; i < ncols && !no_header; i++) {
        if (fixed[i])
            continue;
        char norm[128];
        imp_header_norm(m->name[i], strlen(m->name[i]), norm, sizeof(norm));
        const struct syn *s = lookup(norm);
        if (!s)
            continue;
        if (s->field == IMP_F_NUMBER) {
            m->kind[i] = have_explicit_number ? IMP_F_ALT : IMP_F_NUMBER;
            rank[i] = s->rank;
        } else if (!seen[s->field]) {
            m->kind[i] = s->field;
            seen[s->field] = true;
        }
    }
    /* Main number: explicit, else the best-ranked phone-like column. */
    long best = -1;
    for (size_t i = 0; i < ncols; i++) {
        if (m->kind[i] != IMP_F_NUMBER)
            continue;
        if (fixed[i]) {
            best = (long)i;
            break;
        }
        if (best < 0 || rank[i] > rank[best])
            best = (long)i;
    }
    for (size_t i = 0; i < ncols; i++)
        if (m->kind[i] == IMP_F_NUMBER && (long)i != best)
            m->kind[i] = IMP_F_ALT;
    m->number_col = best;
    if (best < 0) {
        size_t k = (size_t)snprintf(err, errsz, "no phone column: the header has ");
        for (size_t i = 0; i < ncols && k < errsz; i++)
            k += (size_t)snprintf(err + k, errsz - k, "%s\"%.40s\"", i ? ", " : "", m->name[i]);
        if (k < errsz)
            snprintf(err + k, errsz - k,
                     " (name a column phone, mobile, cell... or give a mapping; a file with a "
                     "single column may use another delimiter)");
        rc = ERR_NOTFOUND;
        goto out;
    }
    /* Custom keys: the header as written; first_name, last_name, email fixed. */
    for (size_t i = 0; i < ncols; i++) {
        const char *key = NULL;
        switch (m->kind[i]) {
        case IMP_F_CUSTOM:
            key = m->name[i][0] ? m->name[i] : NULL;
            break;
        case IMP_F_FIRST_NAME:
            key = "first_name";
            break;
        case IMP_F_LAST_NAME:
            key = "last_name";
            break;
        case IMP_F_EMAIL:
            key = "email";
            break;
        default:
            break;
        }
        char b[32];
        if (m->kind[i] == IMP_F_CUSTOM && !key) {
            snprintf(b, sizeof(b), "column_%zu", i + 1);
            key = b;
        }
        if (key) {
            /* A repeated key keeps the first column's value. */
            bool dup = false;
            for (size_t j = 0; j < i; j++)
                if (m->key[j] && strcmp(m->key[j], key) == 0)
                    dup = true;
            if (dup)
                continue;
            m->key[i] = strdup(key);
            if (!m->key[i])
                goto out;
        }
    }
    rc = 0;
out:
    free(fixed);
    free(rank);
    if (rc)
        imp_mapping_fini(m);
    return rc;
}

json_t *imp_mapping_json(const struct imp_mapping *m)
{
    static const char *const names[] = {
        [IMP_F_CUSTOM] = "custom",
        [IMP_F_NUMBER] = "phone",
        [IMP_F_ALT] = "alt_phone",
        [IMP_F_EXTENSION] = "extension",
        [IMP_F_EXTERNAL_ID] = "external_id",
        [IMP_F_STATE] = "state",
        [IMP_F_POSTAL] = "postal_code",
        [IMP_F_TZ] = "time_zone",
        [IMP_F_FIRST_NAME] = "first_name",
        [IMP_F_LAST_NAME] = "last_name",
        [IMP_F_EMAIL] = "email",
        [IMP_F_IGNORE] = "ignore",
    };
    /* An array keeps the file's column order (a jsonb object would not). */
    json_t *cols = json_array();
    for (size_t i = 0; i < m->ncols && cols; i++)
        json_array_append_new(
            cols, json_pack("{s:s, s:s}", "name", m->name[i], "field", names[m->kind[i]]));
    return cols ? json_pack("{s:o}", "columns", cols) : NULL;
}
