/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for api/api_input.c: JSON body checks (table-driven: each bad
 * body names the right field and code), the cursor codec, and If-Match
 * parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/err.h"

static const char *const roles[] = { "admin", "editor", "viewer", NULL };
static const struct api_field fields[] = {
    { .name = "email", .type = API_F_EMAIL, .required = true },
    { .name = "name", .type = API_F_STRING, .min = 1, .max = 5 },
    { .name = "role", .type = API_F_ENUM, .required = true, .values = roles },
    { .name = "days", .type = API_F_INT, .min = 1, .max = 10 },
    { .name = "on", .type = API_F_BOOL },
    { .name = "slug", .type = API_F_SLUG },
    { .name = "settings", .type = API_F_OBJECT, .max = 30 },
    { .name = "note", .type = API_F_STRING, .nullable = true, .max = 10 },
};

static const struct {
    const char *json;
    const char *code; /* NULL: valid */
    const char *field;
} cases[] = {
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\"}", NULL, NULL },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"name\":"
      "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
      NULL, NULL },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"name\":\"abcdef\"}", "invalid_field", "$.name" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"name\":\"\"}", "invalid_field", "$.name" },
    { "{\"role\":\"viewer\"}", "missing_field", "$.email" },
    { "{\"email\":\"a@b.c\"}", "missing_field", "$.role" },
    { "{\"email\":\"a@b.c\",\"role\":\"root\"}", "invalid_field", "$.role" },
    { "{\"email\":\"a@b.c\",\"role\":1}", "invalid_field", "$.role" },
    { "{\"email\":\"a b@c\",\"role\":\"viewer\"}", "invalid_field", "$.email" },
    { "{\"email\":\"a@b@c\",\"role\":\"viewer\"}", "invalid_field", "$.email" },
    { "{\"email\":\"@b.c\",\"role\":\"viewer\"}", "invalid_field", "$.email" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"days\":11}", "invalid_field", "$.days" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"days\":1.5}", "invalid_field", "$.days" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"days\":\"3\"}", "invalid_field", "$.days" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"on\":1}", "invalid_field", "$.on" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"slug\":\"Ab\"}", "invalid_field", "$.slug" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"slug\":\"-ab\"}", "invalid_field", "$.slug" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"slug\":\"ab-1\"}", NULL, NULL },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"settings\":[]}", "invalid_field", "$.settings" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"settings\":{\"k\":\"0123456789012345678901234\"}"
      "}",
      "invalid_field", "$.settings" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"note\":null}", NULL, NULL },
    { "{\"email\":\"a@b.c\",\"role\":null}", "invalid_field", "$.role" },
    { "{\"email\":\"a@b.c\",\"role\":\"viewer\",\"extra\":true}", "unknown_field", "$.extra" },
    { "[]", "invalid_body", "$" },
    { "\"x\"", "invalid_body", "$" },
};

static void test_input_json_check_table(void **state)
{
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        struct api_field_error e;
        int rc;
        assert_non_null(j);
        rc = api_json_check(j, fields, sizeof(fields) / sizeof(fields[0]), &e);
        if (cases[i].code == NULL) {
            if (rc != 0) {
                fprintf(stderr, "case %zu: %s %s\n", i, e.code, e.message);
            }
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, ERR_INVAL);
            assert_string_equal(e.code, cases[i].code);
            assert_string_equal(e.field, cases[i].field);
            assert_true(strlen(e.message) > 0);
        }
        json_decref(j);
    }
}

static void encode(const char *raw, char *out, size_t n)
{
    sodium_bin2base64(out, n, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void test_input_cursor_decode(void **state)
{
    char c[64];
    int64_t id = 0;
    (void)state;

    encode("c1:42", c, sizeof(c));
    assert_int_equal(api_cursor_decode(c, &id), 0);
    assert_int_equal(id, 42);
    encode("c1:9223372036854775807", c, sizeof(c));
    assert_int_equal(api_cursor_decode(c, &id), 0);
    encode("c1:0", c, sizeof(c));
    assert_int_equal(api_cursor_decode(c, &id), ERR_PARSE);
    encode("c1:-5", c, sizeof(c));
    assert_int_equal(api_cursor_decode(c, &id), ERR_PARSE);
    encode("c1:5 OR 1=1", c, sizeof(c));
    assert_int_equal(api_cursor_decode(c, &id), ERR_PARSE);
    encode("c2:5", c, sizeof(c));
    assert_int_equal(api_cursor_decode(c, &id), ERR_PARSE);
    assert_int_equal(api_cursor_decode("!!!", &id), ERR_PARSE);
    assert_int_equal(api_cursor_decode("", &id), ERR_PARSE);
    assert_int_equal(api_cursor_decode(NULL, &id), ERR_PARSE);
}

static void test_input_etag_version(void **state)
{
    int64_t v = 0;
    (void)state;

    assert_int_equal(api__etag_version("\"123\"", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(api__etag_version("W/\"77\"", &v), 0);
    assert_int_equal(v, 77);
    assert_int_equal(api__etag_version(" \"5\" ", &v), 0);
    assert_int_equal(api__etag_version("123", &v), ERR_PARSE);
    assert_int_equal(api__etag_version("\"\"", &v), ERR_PARSE);
    assert_int_equal(api__etag_version("\"-1\"", &v), ERR_PARSE);
    assert_int_equal(api__etag_version("\"1x\"", &v), ERR_PARSE);
    assert_int_equal(api__etag_version("*", &v), ERR_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_json_check_table),
        cmocka_unit_test(test_input_cursor_decode),
        cmocka_unit_test(test_input_etag_version),
    };
    return cmocka_run_group_tests_name("api_input", tests, NULL, NULL);
}
