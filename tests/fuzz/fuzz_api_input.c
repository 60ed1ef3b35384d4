/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the API's handling of outside input: the bytes up
 * to the first newline are a query string, the rest a request body.
 *
 *   - the body is parsed as httpd does (jansson, no NUL) and checked with
 *     api_json_check against the user, API-key and tenant field sets: a
 *     refusal always names a code, a "$..." field and a message, and an
 *     accepted body really has the required members with the right types;
 *   - every query value is tried as a cursor and an If-Match value: a
 *     decoded cursor is a positive id, a decoded version non-negative;
 *   - the whole input is tried as a bearer token: it must never verify
 *     (the harness's key is random), and the principal stays zeroed.
 *
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_api_input -max_total_time=60 tests/fuzz/corpus/api_input/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static const char *const roles[] = { "admin", "editor", "viewer", NULL };
static const struct api_field user_fields[] = {
    { .name = "email", .type = API_F_EMAIL, .required = true },
    { .name = "display_name", .type = API_F_STRING, .max = 200 },
    { .name = "role", .type = API_F_ENUM, .required = true, .values = roles },
    { .name = "password", .type = API_F_STRING, .required = true, .min = 10, .max = 1000 },
};
static const struct api_field key_fields[] = {
    { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
    { .name = "role", .type = API_F_ENUM, .required = true, .values = roles },
    { .name = "expires_in_days", .type = API_F_INT, .min = 1, .max = 3650 },
    { .name = "disabled", .type = API_F_BOOL },
};
static const struct api_field tenant_fields[] = {
    { .name = "slug", .type = API_F_SLUG, .required = true },
    { .name = "name", .type = API_F_STRING, .required = true, .min = 1, .max = 200 },
    { .name = "settings", .type = API_F_OBJECT, .max = 65536 },
};

static struct api *g_api;

static void check_body(const json_t *j, const struct api_field *f, size_t n)
{
    struct api_field_error e;
    size_t i;

    if (api_json_check(j, f, n, &e) != 0) {
        CHECK(e.code[0] != '\0');
        CHECK(e.field[0] == '$');
        CHECK(e.message[0] != '\0');
        return;
    }
    CHECK(json_is_object(j));
    for (i = 0; i < n; i++) {
        json_t *v = json_object_get(j, f[i].name);
        if (f[i].required) {
            CHECK(v != NULL);
        }
        if (v == NULL || json_is_null(v)) {
            continue;
        }
        switch (f[i].type) {
        case API_F_INT:
            CHECK(json_is_integer(v));
            CHECK(json_integer_value(v) >= f[i].min && json_integer_value(v) <= f[i].max);
            break;
        case API_F_BOOL:
            CHECK(json_is_boolean(v));
            break;
        case API_F_OBJECT:
            CHECK(json_is_object(v));
            break;
        default:
            CHECK(json_is_string(v));
            CHECK(strlen(json_string_value(v)) == json_string_length(v));
            break;
        }
    }
}

static void check_query(const char *q)
{
    char buf[512];
    const char *p = q;

    while (*p != '\0') {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        int64_t v = 0;
        if (eq != NULL && (size_t)(eq - p) < n && n < sizeof(buf)) {
            size_t vl = n - (size_t)(eq - p) - 1;
            memcpy(buf, eq + 1, vl);
            buf[vl] = '\0';
            if (api_cursor_decode(buf, &v) == 0) {
                CHECK(v > 0);
            }
            if (api__etag_version(buf, &v) == 0) {
                CHECK(v >= 0);
            }
        }
        p += n;
        if (*p == '&') {
            p++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char *nl;
    json_t *j;
    struct api_principal p;

    if (g_api == NULL) {
        struct api_config c = { .pwhash_ops = 1, .pwhash_mem = 8192, .hash_threads = 1 };
        log_set_level(LOG_LEVEL_ERR);
        if (api_create(&c, &g_api) != 0) {
            abort();
        }
    }
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (strlen(s) == size) {
        CHECK(api__jwt_verify(g_api, s, 1800000000, &p) != 0);
        CHECK(p.id == 0 && p.tenant_id == 0);
    }
    nl = memchr(s, '\n', size);
    if (nl != NULL) {
        *nl = '\0';
        check_query(s);
        j = json_loadb(nl + 1, size - (size_t)(nl + 1 - s), JSON_DECODE_ANY, NULL);
        if (j != NULL) {
            check_body(j, user_fields, 4);
            check_body(j, key_fields, 4);
            check_body(j, tenant_fields, 3);
            json_decref(j);
        }
    }
    free(s);
    return 0;
}
