/* SPDX-License-Identifier: MIT */
/*
 * audit: one calling-window decision as a JSON object for export.
 *
 * The record answers "why was (or wasn't) this number called at that
 * moment" on its own: the masked number, the instant in UTC and in the
 * deciding zone's local time, the verdict, the rule with its legal source,
 * the next eligible moment, the place and where it came from, and the
 * versions of everything that decided (rule set, phone data, tz database).
 * Numbers are personal data: only the first 5 and last 2 characters are
 * kept, as in log lines (core/log.h). Built with jansson; the caller owns the
 * returned object.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "compliance/compliance_int.h"
#include "core/clock.h"
#include "core/err.h"

static void mask_number(const char *num, char *buf, size_t size)
{
    size_t n = strlen(num);
    if (n <= 7 || n + 1 > size) {
        snprintf(buf, size, "%s", n <= 7 ? "*******" : "(too long)");
        return;
    }
    memcpy(buf, num, 5);
    memset(buf + 5, '*', n - 7);
    memcpy(buf + n - 2, num + n - 2, 2);
    buf[n] = '\0';
}

static json_t *place_json(const struct compliance_place *p)
{
    json_t *o = json_object();
    json_t *regions = json_array();
    json_t *zones = json_array();
    if (o == NULL || regions == NULL || zones == NULL) {
        json_decref(o);
        json_decref(regions);
        json_decref(zones);
        return NULL;
    }
    for (unsigned i = 0; i < p->nregions; i++) {
        json_array_append_new(regions, json_string(p->regions[i]));
    }
    for (unsigned i = 0; i < p->nzones; i++) {
        const char *name = compliance_zone_name(p->zones[i]);
        json_array_append_new(zones, json_string(name != NULL ? name : "?"));
    }
    json_object_set_new(o, "source", json_string(compliance_source_name(p->source)));
    json_object_set_new(o, "country", json_string(p->country));
    json_object_set_new(o, "regions", regions);
    json_object_set_new(o, "zones", zones);
    if (p->zones_truncated) {
        json_object_set_new(o, "zones_truncated", json_true());
    }
    if (p->presumed_regions) {
        json_object_set_new(o, "presumed_regions", json_true());
    }
    return o;
}

static json_t *local_json(const struct compliance_local *l, uint16_t zone)
{
    char buf[48];
    int off = l->utoff_s < 0 ? -l->utoff_s : l->utoff_s;
    snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02u:%02u:%02u%c%02d:%02d", (int)l->year, l->month,
             l->day, l->hour, l->minute, l->second, l->utoff_s < 0 ? '-' : '+', off / 3600,
             off / 60 % 60);
    const char *name = compliance_zone_name(zone);
    return json_pack("{s:s, s:s, s:b}", "time", buf, "zone", name != NULL ? name : "", "dst",
                     (int)l->isdst);
}

int compliance_audit_json(const char *e164, const struct compliance_place *place,
                          const struct compliance_verdict *v, int64_t now_us, struct json_t **out)
{
    char masked[40];
    char when[40];
    char next[40];
    json_t *o = NULL;

    if (e164 == NULL || place == NULL || v == NULL || out == NULL || v->rule == NULL) {
        return ERR_INVAL;
    }
    mask_number(e164, masked, sizeof(masked));
    clock_format_utc(now_us, when, sizeof(when));
    json_t *pl = place_json(place);
    json_t *rule =
        json_pack("{s:s, s:s, s:s, s:s}", "id", v->rule->id, "jurisdiction", v->rule->jurisdiction,
                  "text", v->rule->text, "source", v->rule->source);
    json_t *versions =
        json_pack("{s:s, s:s, s:s}", "ruleset", v->ruleset_version, "phone_data",
                  compliance__phone_data_version, "tzdata", compliance_tzdata_version());
    json_t *local = v->zone != COMPLIANCE__ZONE_NONE ? local_json(&v->local, v->zone) : json_null();
    json_t *nexte;
    if (v->next_eligible_us != 0) {
        clock_format_utc(v->next_eligible_us, next, sizeof(next));
        nexte = json_string(next);
    } else {
        nexte = json_null();
    }
    if (pl == NULL || rule == NULL || versions == NULL || local == NULL || nexte == NULL) {
        goto fail;
    }
    o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:o}", "number", masked, "time", when,
                  "verdict", v->verdict == COMPLIANCE_ALLOW ? "allow" : "block", "rule", rule,
                  "next_eligible", nexte, "local", local, "fallback", (int)v->fallback_used,
                  "place", pl, "versions", versions);
    if (o == NULL) {
        /* json_pack with "o" steals references even on failure. */
        return ERR_NOMEM;
    }
    *out = o;
    return 0;
fail:
    json_decref(pl);
    json_decref(rule);
    json_decref(versions);
    json_decref(local);
    json_decref(nexte);
    return ERR_NOMEM;
}
