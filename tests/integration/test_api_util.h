/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the REST API tests: the OpenAPI contract (api/openapi.yaml,
 * written in YAML's JSON subset, read with jansson), a validator for the
 * part of JSON Schema the contract uses (type, properties, required,
 * additionalProperties, items, enum, minimum/maximum, minLength/maxLength,
 * $ref), and a client that checks every response against the contract.
 * Include after <cmocka.h> and test_httpd_util.h.
 */
#ifndef TESTS_INTEGRATION_TEST_API_UTIL_H
#define TESTS_INTEGRATION_TEST_API_UTIL_H

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "tests/support/testenv.h"

static inline json_t *tapi_spec_load(void)
{
    char path[1024];
    json_error_t e;
    json_t *s;

    snprintf(path, sizeof(path), "%s/api/openapi.yaml", testenv_root());
    s = json_load_file(path, 0, &e);
    if (s == NULL) {
        fprintf(stderr, "%s:%d: %s\n", path, e.line, e.text);
    }
    return s;
}

static inline size_t tapi_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

static inline bool tapi_type_is(const char *t, const json_t *v)
{
    if (strcmp(t, "string") == 0) {
        return json_is_string(v);
    }
    if (strcmp(t, "integer") == 0) {
        return json_is_integer(v);
    }
    if (strcmp(t, "number") == 0) {
        return json_is_number(v);
    }
    if (strcmp(t, "boolean") == 0) {
        return json_is_boolean(v);
    }
    if (strcmp(t, "object") == 0) {
        return json_is_object(v);
    }
    if (strcmp(t, "array") == 0) {
        return json_is_array(v);
    }
    if (strcmp(t, "null") == 0) {
        return json_is_null(v);
    }
    return false;
}

/* Validates v against schema; on failure writes a message naming the JSON path to err. */

/* A check's message; cut to errsz (a long path is still readable). */
static inline void tapi_errf(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void tapi_errf(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static inline bool tapi_validate(const json_t *root, const json_t *schema, const json_t *v,
                                 const char *path, char *err, size_t errsz)
{
    const json_t *ref = json_object_get(schema, "$ref");
    const json_t *type = json_object_get(schema, "type");
    const json_t *en = json_object_get(schema, "enum");
    const char *k;
    json_t *x;
    size_t i;
    char sub[256];

    if (json_is_string(ref)) {
        const char *name = strrchr(json_string_value(ref), '/');
        const json_t *target =
            json_object_get(json_object_get(json_object_get(root, "components"), "schemas"),
                            name != NULL ? name + 1 : "");
        if (target == NULL) {
            tapi_errf(err, errsz, "%s: unresolved %s", path, json_string_value(ref));
            return false;
        }
        return tapi_validate(root, target, v, path, err, errsz);
    }
    if (json_is_string(type) && !tapi_type_is(json_string_value(type), v)) {
        tapi_errf(err, errsz, "%s: not of type %s", path, json_string_value(type));
        return false;
    }
    if (json_is_array(type)) {
        bool ok = false;
        json_array_foreach (type, i, x) {
            ok = ok || tapi_type_is(json_string_value(x), v);
        }
        if (!ok) {
            tapi_errf(err, errsz, "%s: not of any listed type", path);
            return false;
        }
    }
    if (json_is_array(en)) {
        bool ok = false;
        json_array_foreach (en, i, x) {
            ok = ok || json_equal(x, v);
        }
        if (!ok) {
            tapi_errf(err, errsz, "%s: not one of the enum values", path);
            return false;
        }
    }
    if (json_is_integer(v)) {
        const json_t *mn = json_object_get(schema, "minimum");
        const json_t *mx = json_object_get(schema, "maximum");
        if ((mn != NULL && json_integer_value(v) < json_integer_value(mn)) ||
            (mx != NULL && json_integer_value(v) > json_integer_value(mx))) {
            tapi_errf(err, errsz, "%s: out of range", path);
            return false;
        }
    }
    if (json_is_string(v)) {
        const json_t *mn = json_object_get(schema, "minLength");
        const json_t *mx = json_object_get(schema, "maxLength");
        size_t n = tapi_utf8_len(json_string_value(v));
        if ((mn != NULL && (json_int_t)n < json_integer_value(mn)) ||
            (mx != NULL && (json_int_t)n > json_integer_value(mx))) {
            tapi_errf(err, errsz, "%s: length out of range", path);
            return false;
        }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(schema, "properties");
        const json_t *req = json_object_get(schema, "required");
        json_array_foreach (req, i, x) {
            if (json_object_get(v, json_string_value(x)) == NULL) {
                tapi_errf(err, errsz, "%s: missing required %s", path, json_string_value(x));
                return false;
            }
        }
        json_object_foreach ((json_t *)v, k, x) {
            const json_t *ps = json_object_get(props, k);
            if (snprintf(sub, sizeof(sub), "%s.%s", path, k) >= (int)sizeof(sub)) {
                tapi_errf(err, errsz, "%s: nested too deep to check", path);
                return false;
            }
            if (ps == NULL) {
                if (json_is_false(json_object_get(schema, "additionalProperties"))) {
                    tapi_errf(err, errsz, "%s: not in the schema", sub);
                    return false;
                }
                continue;
            }
            if (!tapi_validate(root, ps, x, sub, err, errsz)) {
                return false;
            }
        }
    }
    if (json_is_array(v) && json_object_get(schema, "items") != NULL) {
        json_array_foreach (v, i, x) {
            if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) >= (int)sizeof(sub)) {
                tapi_errf(err, errsz, "%s: nested too deep to check", path);
                return false;
            }
            if (!tapi_validate(root, json_object_get(schema, "items"), x, sub, err, errsz)) {
                return false;
            }
        }
    }
    return true;
}

/*
 * Checks one response against the contract: the status is listed for the
 * operation, and the body matches its schema (or is empty when none).
 */
static inline bool tapi_check_response(const json_t *spec, const char *method, const char *pattern,
                                       long status, const char *body, size_t len, char *err,
                                       size_t errsz)
{
    char m[16];
    char st[8];
    size_t i;
    const json_t *op, *resp, *schema;
    json_t *v;
    bool ok;

    for (i = 0; method[i] != '\0' && i < sizeof(m) - 1; i++) {
        m[i] = (char)tolower((unsigned char)method[i]);
    }
    m[i] = '\0';
    op = json_object_get(json_object_get(json_object_get(spec, "paths"), pattern), m);
    if (op == NULL) {
        tapi_errf(err, errsz, "%s %s: not in the contract", method, pattern);
        return false;
    }
    snprintf(st, sizeof(st), "%ld", status);
    resp = json_object_get(json_object_get(op, "responses"), st);
    if (resp == NULL) {
        tapi_errf(err, errsz, "%s %s: status %ld not in the contract", method, pattern, status);
        return false;
    }
    schema = json_object_get(json_object_get(json_object_get(resp, "content"), "application/json"),
                             "schema");
    if (schema == NULL) {
        if (len != 0) {
            tapi_errf(err, errsz, "%s %s %ld: a body where the contract has none", method, pattern,
                      status);
            return false;
        }
        return true;
    }
    v = json_loadb(body != NULL ? body : "", len, 0, NULL);
    if (v == NULL) {
        tapi_errf(err, errsz, "%s %s %ld: body is not JSON", method, pattern, status);
        return false;
    }
    ok = tapi_validate(spec, schema, v, "$", err, errsz);
    json_decref(v);
    return ok;
}

#endif
