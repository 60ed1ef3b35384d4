/* SPDX-License-Identifier: MIT */
/*
 * The contract test: api/openapi.yaml and the route table agree. Every
 * route is in the spec with the same method and its permission in
 * x-permission; every operation of the spec is a route. A route added
 * without the spec (or the reverse) fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "tests/integration/test_api_util.h"

static const char *method_lc(unsigned m)
{
    switch (m) {
    case HTTPD_GET:
        return "get";
    case HTTPD_POST:
        return "post";
    case HTTPD_PUT:
        return "put";
    case HTTPD_PATCH:
        return "patch";
    case HTTPD_DELETE:
        return "delete";
    default:
        return "?";
    }
}

static void test_openapi_routes_match_spec(void **state)
{
    struct api_config c = { .pwhash_ops = 1, .pwhash_mem = 8192, .hash_threads = 1 };
    struct api *a = NULL;
    struct api_lists *lists = NULL;
    struct api_flows *flows = NULL;
    struct api_compliance *comp = NULL;
    struct api_dnc *dnc = NULL;
    struct api_extensions *exts = NULL;
    struct api_secrets *secrets = NULL;
    struct api_webhooks *hooks = NULL;
    json_t *spec = tapi_spec_load();
    json_t *paths, *ops, *op;
    const char *path, *m;
    size_t i, n, spec_ops = 0;
    (void)state;

    assert_non_null(spec);
    assert_string_equal(json_string_value(json_object_get(spec, "openapi")), "3.1.0");
    assert_int_equal(api_create(&c, &a), 0);
    assert_int_equal(api_lists_create(a, NULL, "", &lists), 0);
    assert_int_equal(api_flows_create(a, "ivr/templates", &flows), 0);
    assert_int_equal(api_compliance_create(a, NULL, &comp), 0);
    assert_int_equal(api_dnc_create(a, NULL, &dnc), 0);
    assert_int_equal(api_extensions_create(a, NULL, &exts), 0);
    assert_int_equal(api_secrets_create(a, NULL, &secrets), 0);
    assert_int_equal(api_webhooks_create(a, NULL, &hooks), 0);
    n = api_route_count(a);
    paths = json_object_get(spec, "paths");
    for (i = 0; i < n; i++) {
        const struct api_route *r = api_route_at(a, i);
        op = json_object_get(json_object_get(paths, r->pattern), method_lc(r->methods));
        if (op == NULL) {
            fprintf(stderr, "route %s %s is missing from api/openapi.yaml\n", method_lc(r->methods),
                    r->pattern);
            fail();
        }
        assert_string_equal(json_string_value(json_object_get(op, "x-permission")),
                            api_perm_matrix[r->perm].name);
    }
    json_object_foreach (paths, path, ops) {
        json_object_foreach (ops, m, op) {
            bool found = false;
            for (i = 0; i < n; i++) {
                const struct api_route *r = api_route_at(a, i);
                found = found ||
                        (strcmp(r->pattern, path) == 0 && strcmp(method_lc(r->methods), m) == 0);
            }
            if (!found) {
                fprintf(stderr, "api/openapi.yaml has %s %s, which is not a route\n", m, path);
                fail();
            }
            spec_ops++;
        }
    }
    assert_int_equal(spec_ops, n);
    api_lists_destroy(lists);
    api_flows_destroy(flows);
    api_compliance_destroy(comp);
    api_dnc_destroy(dnc);
    api_extensions_destroy(exts);
    api_secrets_destroy(secrets);
    api_webhooks_destroy(hooks);
    api_destroy(a);
    json_decref(spec);
}

static bool check(const json_t *spec, const char *pattern, long status, const char *body)
{
    char err[256];
    return tapi_check_response(spec, "GET", pattern, status, body, strlen(body), err, sizeof(err));
}

/* The validator the integration tests rely on does refuse what it should. */
static void test_openapi_validator_refuses(void **state)
{
    json_t *spec = tapi_spec_load();
    (void)state;

    assert_true(check(spec, "/api/v1/roles", 200,
                      "{\"items\":[{\"name\":\"admin\",\"permissions\":[]}],"
                      "\"next_cursor\":null}"));
    /* A field the schema does not have. */
    assert_false(check(spec, "/api/v1/roles/{name}", 200,
                       "{\"name\":\"admin\",\"permissions\":[],\"x\":1}"));
    /* A wrong enum value and a wrong type. */
    assert_false(
        check(spec, "/api/v1/roles/{name}", 200, "{\"name\":\"root\",\"permissions\":[]}"));
    assert_false(
        check(spec, "/api/v1/roles/{name}", 200, "{\"name\":\"admin\",\"permissions\":\"all\"}"));
    /* A status the operation does not list, and an error body without code. */
    assert_false(check(spec, "/api/v1/me", 418, "{}"));
    assert_false(check(spec, "/api/v1/me", 401, "{\"error\":{}}"));
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_routes_match_spec),
        cmocka_unit_test(test_openapi_validator_refuses),
    };
    return cmocka_run_group_tests_name("api_openapi", tests, NULL, NULL);
}
