/* SPDX-License-Identifier: MIT */
/*
 * clone: instantiating the bundled templates (the JSON files in ivr/templates).
 *
 * A template is an ordinary flow plus a "parameters" block:
 *
 *   "parameters": {
 *     "balance_url": {"type": "url", "description": "...", "default": "https://..."},
 *     "agent_queue": {"type": "string", "description": "...", "default": "support"}
 *   }
 *
 * and "{{params.NAME}}" placeholders in any string of the flow. Instantiation
 * replaces each placeholder with the value given (or the default), drops the
 * block, and returns a normal document that still has to pass validation.
 * A string that is exactly one placeholder of a number parameter becomes a
 * JSON number, so limits and timeouts can be parameters too. Types: string,
 * url (must start with https://), number, e164 (+ and 8-15 digits),
 * extension (digits).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ivr/ivr_int.h"

static const char *const names[] = {
    "account_inquiry", "appointment_scheduling", "card_activation", "payment_processing",
    "survey_feedback", "order_status",           "support_queue",   NULL,
};

const char *const *ivr_template_names(void)
{
    return names;
}

static const char *check_type(const char *type, json_t *v)
{
    if (strcmp(type, "number") == 0) {
        return json_is_number(v) ? NULL : "a number parameter needs a number";
    }
    if (!json_is_string(v)) {
        return "a text parameter needs text";
    }
    const char *s = json_string_value(v);
    if (strcmp(type, "url") == 0 && strncmp(s, "https://", 8) != 0) {
        return "a url parameter must start with https://";
    }
    if (strcmp(type, "e164") == 0) {
        size_t n = strlen(s);
        if (s[0] != '+' || n < 9 || n > 16 || strspn(s + 1, "0123456789") != n - 1) {
            return "an e164 parameter is a number like +14155550123";
        }
    }
    if (strcmp(type, "extension") == 0 && (s[0] == '\0' || strspn(s, "0123456789") != strlen(s))) {
        return "an extension parameter has digits only";
    }
    return NULL;
}

/* Replaces placeholders in str; returns a new value. */
static json_t *subst_string(const char *str, json_t *values)
{
    struct ivr__buf b = { 0 };
    const char *p = str;
    while (*p) {
        const char *o = strstr(p, "{{");
        if (o == NULL) {
            ivr__buf_adds(&b, p);
            break;
        }
        const char *q = o + 2;
        while (*q == ' ') {
            q++;
        }
        const char *c = strstr(q, "}}");
        if (strncmp(q, "params.", 7) != 0 || c == NULL) {
            ivr__buf_add(&b, p, (size_t)(o + 2 - p));
            p = o + 2;
            continue;
        }
        const char *ns = q + 7, *ne = ns;
        while (isalnum((unsigned char)*ne) || *ne == '_') {
            ne++;
        }
        const char *after = ne;
        while (*after == ' ') {
            after++;
        }
        if (after != c) {
            ivr__buf_add(&b, p, (size_t)(o + 2 - p));
            p = o + 2;
            continue;
        }
        char name[128];
        size_t nl = (size_t)(ne - ns) < sizeof(name) - 1 ? (size_t)(ne - ns) : sizeof(name) - 1;
        memcpy(name, ns, nl);
        name[nl] = '\0';
        json_t *v = json_object_get(values, name);
        if (o == str && c[2] == '\0' && json_is_number(v)) {
            ivr__buf_fini(&b);
            return json_copy(v);
        }
        ivr__buf_add(&b, p, (size_t)(o - p));
        if (v != NULL) {
            ivr__value_text(v, &b);
        }
        p = c + 2;
    }
    json_t *r = json_string(b.p ? b.p : "");
    ivr__buf_fini(&b);
    return r;
}

static json_t *subst(json_t *j, json_t *values)
{
    if (json_is_string(j)) {
        return subst_string(json_string_value(j), values);
    }
    if (json_is_object(j)) {
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach (j, k, v) {
            json_object_set_new(o, k, subst(v, values));
        }
        return o;
    }
    if (json_is_array(j)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
            json_array_append_new(a, subst(v, values));
        }
        return a;
    }
    return json_copy(j);
}

json_t *ivr_template_instantiate(json_t *tmpl, json_t *params, const char **err)
{
    json_t *decl = json_object_get(tmpl, "parameters");
    json_t *values = json_object();
    const char *k;
    json_t *d;
    *err = NULL;
    if (!json_is_object(tmpl) || !json_is_object(decl)) {
        *err = "not a template: it has no parameters block";
        json_decref(values);
        return NULL;
    }
    json_object_foreach (params, k, d) {
        if (json_object_get(decl, k) == NULL) {
            *err = "unknown template parameter";
            json_decref(values);
            return NULL;
        }
    }
    json_object_foreach (decl, k, d) {
        json_t *v = json_object_get(params, k);
        const char *type = json_string_value(json_object_get(d, "type"));
        if (v == NULL) {
            v = json_object_get(d, "default");
        }
        if (v == NULL) {
            *err = "a required template parameter is missing";
            json_decref(values);
            return NULL;
        }
        *err = check_type(type ? type : "string", v);
        if (*err != NULL) {
            json_decref(values);
            return NULL;
        }
        json_object_set(values, k, v);
    }
    json_t *copy = json_copy(tmpl);
    json_object_del(copy, "parameters");
    json_t *out = subst(copy, values);
    json_decref(copy);
    json_decref(values);
    return out;
}
