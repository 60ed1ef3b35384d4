/* SPDX-License-Identifier: MIT */
/*
 * The deployment's trunk limits (dialer.trunk-limits): what each carrier
 * trunk allows, calls per second and channels, over every campaign, tenant
 * and node that dials through it.
 *
 * Decision: the limits are deployment configuration, beside the trunks
 * themselves (the PJSIP endpoints and their credentials live in Asterisk's
 * configuration, which the operator owns), not a tenant setting: a carrier's
 * limit is the operator's contract and no tenant may raise it for the
 * others. A campaign's trunks[] entry names a trunk; when a limit of that
 * name is configured, every launch on it goes through the limit, whichever
 * tenant the campaign belongs to. Enforcement is cluster-wide through Redis
 * (limits.c, one key "trunk:<name>" per trunk) by server/dialer_wire.c.
 *
 * Syntax: entries separated by ',' (or ';'), each a trunk name (1 to 63 of
 * letters, digits, _ - ., as in campaign settings) and at least one of
 * cps=N (0 < N <= 100000, decimals allowed) and channels=N (1..1000000),
 * separated by blanks:
 *     carrier-a cps=5 channels=5, carrier-b cps=50.5
 * An empty text configures no limit; blank entries are skipped. Errors name
 * the entry (counted from 0) and what is wrong.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/err.h"

static const char NAME_CHARS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789_-.";

static int bad(struct campaign_error *err, int entry, const char *msg)
{
    if (err != NULL) {
        snprintf(err->field, sizeof(err->field), "dialer.trunk-limits[%d]", entry);
        snprintf(err->msg, sizeof(err->msg), "%s", msg);
    }
    return ERR_INVAL;
}

/* The next blank-separated word of [*p, end) into w (size wsz); false when none. */
static bool next_word(const char **p, const char *end, char *w, size_t wsz, bool *toolong)
{
    const char *s = *p;
    while (s < end && isspace((unsigned char)*s)) {
        s++;
    }
    if (s == end) {
        *p = s;
        return false;
    }
    const char *e = s;
    while (e < end && !isspace((unsigned char)*e)) {
        e++;
    }
    *toolong = (size_t)(e - s) >= wsz;
    size_t n = *toolong ? wsz - 1 : (size_t)(e - s);
    memcpy(w, s, n);
    w[n] = '\0';
    *p = e;
    return true;
}

/* One entry [s, end): name and options into t. */
static int parse_entry(const char *s, const char *end, int entry, struct campaign_trunk_limit *t,
                       struct campaign_error *err)
{
    char w[96];
    char m[160];
    bool toolong = false;
    bool has_cps = false, has_ch = false;

    memset(t, 0, sizeof(*t));
    if (!next_word(&s, end, w, sizeof(w), &toolong)) {
        return bad(err, entry, "is empty"); /* not reached: blank entries are skipped */
    }
    if (toolong || strlen(w) >= CAMPAIGN_NAME_MAX || strspn(w, NAME_CHARS) != strlen(w)) {
        snprintf(m, sizeof(m), "trunk name \"%.64s\" must be 1 to 63 letters, digits, _ - .", w);
        return bad(err, entry, m);
    }
    memcpy(t->name, w, strlen(w) + 1);
    while (next_word(&s, end, w, sizeof(w), &toolong)) {
        char *eq = strchr(w, '=');
        if (toolong || eq == NULL) {
            snprintf(m, sizeof(m), "\"%.64s\" is not cps=N or channels=N", w);
            return bad(err, entry, m);
        }
        *eq = '\0';
        const char *v = eq + 1;
        char *stop = NULL;
        errno = 0;
        if (strcmp(w, "cps") == 0 && !has_cps) {
            double d = strtod(v, &stop);
            if (*v == '\0' || *stop != '\0' || errno != 0 || !isfinite(d) || d <= 0 || d > 100000) {
                snprintf(m, sizeof(m), "cps=%.32s must be a number above 0, at most 100000", v);
                return bad(err, entry, m);
            }
            t->cps = d;
            has_cps = true;
        } else if (strcmp(w, "channels") == 0 && !has_ch) {
            long n = strtol(v, &stop, 10);
            if (*v == '\0' || *stop != '\0' || errno != 0 || n < 1 || n > 1000000) {
                snprintf(m, sizeof(m), "channels=%.32s must be a whole number 1 to 1000000", v);
                return bad(err, entry, m);
            }
            t->max_channels = (int)n;
            has_ch = true;
        } else if (strcmp(w, "cps") == 0 || strcmp(w, "channels") == 0) {
            snprintf(m, sizeof(m), "%.32s is given twice", w);
            return bad(err, entry, m);
        } else {
            snprintf(m, sizeof(m), "unknown option \"%.32s\" (cps, channels)", w);
            return bad(err, entry, m);
        }
    }
    if (!has_cps && !has_ch) {
        snprintf(m, sizeof(m), "trunk %.64s needs cps=N or channels=N", t->name);
        return bad(err, entry, m);
    }
    return 0;
}

int campaign_trunk_limits_parse(const char *text, struct campaign_trunk_limit *out, int max, int *n,
                                struct campaign_error *err)
{
    char m[160];
    if (out == NULL || n == NULL || max < 0) {
        return ERR_INVAL;
    }
    *n = 0;
    for (const char *s = text; s != NULL && *s != '\0';) {
        const char *end = s + strcspn(s, ",;");
        const char *q = s;
        while (q < end && isspace((unsigned char)*q)) {
            q++;
        }
        if (q < end) { /* blank pieces (a trailing separator) are skipped */
            if (*n >= max) {
                return bad(err, *n, "too many trunks");
            }
            struct campaign_trunk_limit *t = &out[*n];
            int rc = parse_entry(q, end, *n, t, err);
            if (rc != 0) {
                return rc;
            }
            for (int i = 0; i < *n; i++) {
                if (strcmp(out[i].name, t->name) == 0) {
                    snprintf(m, sizeof(m), "trunk %.64s is listed twice", t->name);
                    return bad(err, *n, m);
                }
            }
            (*n)++;
        }
        s = *end != '\0' ? end + 1 : end;
    }
    return 0;
}

const struct campaign_trunk_limit *campaign_trunk_limit_find(const struct campaign_trunk_limit *v,
                                                             int n, const char *name)
{
    for (int i = 0; name != NULL && i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            return &v[i];
        }
    }
    return NULL;
}

void campaign_trunk_limit_spec(const struct campaign_trunk_limit *t, double default_cps, char *key,
                               size_t keysz, struct campaign_limit_spec *spec, int *chunk)
{
    snprintf(key, keysz, "trunk:%s", t->name);
    spec->key = key;
    spec->cps = t->cps;
    /* 100 ms of the rate, and at least 2: tokens that come due between two
     * ticks are not clipped (a bucket of 1 lost a tenth of a 5 CPS trunk's
     * rate), while a second after an idle spell holds at most 10 % more */
    spec->burst = t->cps / 10.0 > 2.0 ? t->cps / 10.0 : 2.0;
    spec->max_channels = t->max_channels;
    spec->refund = true; /* a token held and not spent goes back to the bucket */
    /* a tick's share of the rate (ticks of 50 ms), never more than a quarter
     * of the channels: tokens held locally book channels the other nodes
     * cannot use */
    int c = (int)ceil((t->cps > 0 ? t->cps : default_cps) / 20.0);
    if (t->max_channels > 0 && c > t->max_channels / 4) {
        c = t->max_channels / 4;
    }
    *chunk = c < 1 ? 1 : c;
}

bool campaign_trunk_own_spec(int64_t campaign_id, const struct campaign_trunk *t,
                             double default_cps, char *key, size_t keysz,
                             struct campaign_limit_spec *spec, int *chunk)
{
    if (t->cps <= 0 && t->max_channels <= 0) {
        return false;
    }
    struct campaign_trunk_limit lim = { .cps = t->cps > 0 ? t->cps : 0,
                                        .max_channels = t->max_channels > 0 ? t->max_channels : 0 };
    snprintf(lim.name, sizeof(lim.name), "%s", t->name);
    campaign_trunk_limit_spec(&lim, default_cps, key, keysz, spec, chunk);
    snprintf(key, keysz, "camp:%" PRId64 ":trunk:%s", campaign_id, t->name);
    return true;
}
