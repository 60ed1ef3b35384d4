/* SPDX-License-Identifier: MIT */
/*
 * Integration test of tenant secrets: the api module on a real httpd over
 * a fresh migrated PostgreSQL. Two tenants are bootstrapped; every response
 * is checked against api/openapi.yaml.
 *
 * Cases: set, replace, list (names only) and delete; what PostgreSQL holds
 * is ciphertext that opens with the key for that tenant and name only; the
 * audit log records who changed which secret, never the value; admins only;
 * bad names and values are refused with the field and nothing is stored;
 * another tenant neither sees nor deletes them; without a key every route
 * answers 503 naming the options.
 */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "core/err.h"
#include "tests/integration/test_api_util.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/apifix.h"
#include "tests/unit/core/test_httpd_util.h"

#define DB    "test_api_secrets"
#define KEYS  "k1=integration-test-secret-0123456789abcdef"
#define VALUE "tok-3f9a7c1e-very-secret-value"

enum who { W_ANON, W_ADMIN, W_EDITOR, W_B_ADMIN, W_NOKEY_ADMIN, W_COUNT };

static struct api *g_api, *g_api2;
static struct api_secrets *g_sec, *g_sec2;
static struct httpd *g_srv, *g_srv2;
static json_t *g_spec;
static char g_base[64], g_base2[64];
static char g_app_ci[TDB_CONNINFO_MAX];
static char g_admin_ci[TDB_CONNINFO_MAX];
static char g_auth[W_COUNT][512];
static int64_t g_tenant_a, g_tenant_b;
static unsigned char g_key[API_SECRETS_KEY_BYTES];

struct call {
    const char *method;
    const char *pattern;
    const char *path;
    enum who who;
    const char *body;
};

/* The request as c->who would send it (the key-less server for W_NOKEY_ADMIN). */
static const char *request_of(const struct call *c, struct apifix_call *q)
{
    enum who w = c->who == W_NOKEY_ADMIN ? W_ADMIN : c->who;
    *q = (struct apifix_call){ .method = c->method,
                               .pattern = c->pattern,
                               .path = c->path,
                               .auth = g_auth[w],
                               .body = c->body };
    return c->who == W_NOKEY_ADMIN ? g_base2 : g_base;
}

/* The answer, checked against the contract. */
static void do_call(const struct call *c, struct t_resp *r)
{
    struct apifix_call q;
    const char *base = request_of(c, &q);
    if (apifix_do(g_spec, base, &q, r) != 0) {
        t_resp_free(r);
        fail();
    }
}

static json_t *call_json(const struct call *c, long want)
{
    struct apifix_call q;
    const char *base = request_of(c, &q);
    return apifix_json(g_spec, base, &q, want);
}

static void put(enum who w, const char *name, const char *body, long want)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/secrets/%s", name);
    struct call c = { "PUT", "/api/v1/secrets/{name}", path, w, body };
    json_decref(call_json(&c, want));
}

static void del(enum who w, const char *name, long want)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/secrets/%s", name);
    struct call c = { "DELETE", "/api/v1/secrets/{name}", path, w, NULL };
    json_decref(call_json(&c, want));
}

static json_t *list(enum who w)
{
    struct call c = { "GET", "/api/v1/secrets", "/api/v1/secrets", w, NULL };
    return call_json(&c, 200);
}

#define sql_int(...) apifix_sql_int(g_admin_ci, __VA_ARGS__)

static void login(const char *email, enum who w)
{
    assert_true(apifix_login(g_spec, g_base, email, APIFIX_PASSWORD, g_auth[w], sizeof(g_auth[w]),
                             NULL, 0));
}

static int start_api(const unsigned char *key, struct api **a, struct api_secrets **s,
                     struct httpd **srv, char *base)
{
    struct api_config ac = { .db_conninfo = g_app_ci,
                             .db_pool_size = 1,
                             .jwt_keys = KEYS,
                             .hash_threads = 1,
                             .pwhash_ops = 1,
                             .pwhash_mem = 8192 };
    struct httpd_config hc = { .name = "api-secrets-test", .max_body_bytes = 65536 };
    if (api_create(&ac, a) != 0 || api_secrets_create(*a, key, s) != 0) {
        return -1;
    }
    api_httpd_hooks(*a, &hc);
    *srv = httpd_create(&hc, NULL, 0);
    if (*srv == NULL || api_mount(*a, *srv) != 0 || httpd_start(*srv) != 0) {
        return -1;
    }
    snprintf(base, 64, "http://127.0.0.1:%d", httpd_port(*srv));
    return 0;
}

static int setup(void **state)
{
    (void)state;
    testenv_pg_conninfo();
    g_spec = tapi_spec_load();
    assert_non_null(g_spec);
    tdb_create_migrated(DB);
    tdb_conninfo_app(DB, g_app_ci, sizeof(g_app_ci));
    tdb_conninfo(DB, g_admin_ci, sizeof(g_admin_ci));
    apifix_bootstrap(g_app_ci, "alpha", "admin@alpha.test", true); /* also a platform operator */
    apifix_bootstrap(g_app_ci, "beta", "admin@beta.test", false);
    g_tenant_a = sql_int("SELECT id FROM tenants WHERE slug = 'alpha'");
    g_tenant_b = sql_int("SELECT id FROM tenants WHERE slug = 'beta'");
    randombytes_buf(g_key, sizeof(g_key));
    if (start_api(g_key, &g_api, &g_sec, &g_srv, g_base) != 0 ||
        start_api(NULL, &g_api2, &g_sec2, &g_srv2, g_base2) != 0) {
        return -1;
    }
    /* The pool connects in the background: wait (bounded) for a login. */
    for (int i = 0; i < 100 && !apifix_login(NULL, g_base, "admin@alpha.test", APIFIX_PASSWORD,
                                             g_auth[W_ADMIN], sizeof(g_auth[W_ADMIN]), NULL, 0);
         i++) {
        usleep(50 * 1000);
    }
    login("admin@alpha.test", W_ADMIN);
    login("admin@beta.test", W_B_ADMIN);
    {
        char body[] = "{\"email\":\"editor@alpha.test\",\"role\":\"editor\","
                      "\"password\":\"pass-word-123\"}";
        struct call c = { "POST", "/api/v1/users", "/api/v1/users", W_ADMIN, body };
        json_decref(call_json(&c, 201));
    }
    login("editor@alpha.test", W_EDITOR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(g_srv);
    httpd_stop(g_srv2);
    api_secrets_destroy(g_sec);
    api_secrets_destroy(g_sec2);
    api_destroy(g_api);
    api_destroy(g_api2);
    json_decref(g_spec);
    tdb_drop(DB);
    return 0;
}

/* Opens tenant's stored secret name with the test key into out. */
static int open_stored(int64_t tenant, const char *name, int64_t as_tenant, char *out)
{
    PGconn *c = tdb_connect(g_admin_ci);
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT encode(ciphertext, 'hex'), encode(nonce, 'hex') FROM tenant_secrets"
             " WHERE tenant_id = %lld AND name = '%s'",
             (long long)tenant, name);
    PGresult *r = PQexec(c, q);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    unsigned char ct[API_SECRET_VALUE_MAX + API_SECRET_MAC_BYTES], nonce[API_SECRET_NONCE_BYTES];
    size_t ctlen = 0, nlen = 0;
    assert_int_equal(sodium_hex2bin(ct, sizeof(ct), PQgetvalue(r, 0, 0),
                                    strlen(PQgetvalue(r, 0, 0)), NULL, &ctlen, NULL),
                     0);
    assert_int_equal(sodium_hex2bin(nonce, sizeof(nonce), PQgetvalue(r, 0, 1),
                                    strlen(PQgetvalue(r, 0, 1)), NULL, &nlen, NULL),
                     0);
    assert_int_equal(nlen, sizeof(nonce));
    /* The plaintext is nowhere in what the database holds. */
    assert_null(strstr(PQgetvalue(r, 0, 0), "746f6b2d")); /* hex of "tok-" */
    PQclear(r);
    PQfinish(c);
    return api_secret_open(g_key, as_tenant, name, ct, ctlen, nonce, out);
}

static void test_secrets_set_list_delete(void **state)
{
    char out[API_SECRET_VALUE_MAX + 1];
    (void)state;

    put(W_ADMIN, "crm_token", "{\"value\":\"first-value\"}", 201);
    put(W_ADMIN, "crm_token", "{\"value\":\"" VALUE "\"}", 200);
    put(W_ADMIN, "billing_key", "{\"value\":\"other\"}", 201);

    json_t *j = list(W_ADMIN);
    char *text = json_dumps(j, 0);
    assert_null(strstr(text, VALUE)); /* names and times only */
    assert_null(strstr(text, "other"));
    free(text);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "name")),
                        "billing_key");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "name")),
                        "crm_token");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "updated_by")),
                        json_string_value(json_object_get(json_array_get(items, 0), "updated_by")));
    json_decref(j);

    /* Ciphertext opens with the key for this tenant and name, and no other. */
    assert_int_equal(open_stored(g_tenant_a, "crm_token", g_tenant_a, out), 0);
    assert_string_equal(out, VALUE);
    assert_int_equal(open_stored(g_tenant_a, "crm_token", g_tenant_b, out), ERR_INVAL);

    /* Audited, without the value. */
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE tenant_id = %lld AND action ="
                             " 'secret.put' AND object_id = 'crm_token'",
                             (long long)g_tenant_a),
                     2);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE detail::text LIKE '%%tok-%%'"
                             " OR detail::text LIKE '%%first-value%%'"),
                     0);

    del(W_ADMIN, "billing_key", 204);
    del(W_ADMIN, "billing_key", 404);
    j = list(W_ADMIN);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE action = 'secret.delete'"
                             " AND object_id = 'billing_key'"),
                     1);
}

static void test_secrets_admins_only(void **state)
{
    (void)state;
    put(W_EDITOR, "editor_try", "{\"value\":\"x\"}", 403);
    del(W_EDITOR, "crm_token", 403);
    struct call c = { "GET", "/api/v1/secrets", "/api/v1/secrets", W_EDITOR, NULL };
    json_decref(call_json(&c, 403));
    struct call a = { "GET", "/api/v1/secrets", "/api/v1/secrets", W_ANON, NULL };
    json_decref(call_json(&a, 401));
    assert_int_equal(sql_int("SELECT count(*) FROM tenant_secrets WHERE name = 'editor_try'"), 0);
}

static void test_secrets_bad_input(void **state)
{
    static char big[API_SECRET_VALUE_MAX + 64];
    (void)state;
    put(W_ADMIN, "Upper", "{\"value\":\"x\"}", 404);
    put(W_ADMIN, "a-b", "{\"value\":\"x\"}", 404);
    put(W_ADMIN, "x2345678901234567890123456789012345678901234567890123456789012345",
        "{\"value\":\"x\"}", 404);
    put(W_ADMIN, "empty", "{\"value\":\"\"}", 422);
    put(W_ADMIN, "numeric", "{\"value\":42}", 422);
    put(W_ADMIN, "extra", "{\"value\":\"x\",\"plain\":true}", 422);
    put(W_ADMIN, "missing", "{}", 422);
    put(W_ADMIN, "quote", "{\"value\":\"x'); DROP TABLE tenant_secrets; --\"}", 201);
    /* 4096 bytes pass, 4097 do not (two-byte characters: the bound is in bytes). */
    memset(big, 0, sizeof(big));
    memcpy(big, "{\"value\":\"", 10);
    memset(big + 10, 'a', API_SECRET_VALUE_MAX);
    memcpy(big + 10 + API_SECRET_VALUE_MAX, "\"}", 2);
    put(W_ADMIN, "big", big, 201);
    memset(big, 0, sizeof(big));
    memcpy(big, "{\"value\":\"", 10);
    for (int i = 0; i < 2049; i++) {
        memcpy(big + 10 + 2 * i, "\xc3\xa9", 2);
    }
    memcpy(big + 10 + 2 * 2049, "\"}", 2);
    put(W_ADMIN, "too_big", big, 422);
    assert_int_equal(sql_int("SELECT count(*) FROM tenant_secrets WHERE name IN ('empty',"
                             " 'numeric', 'extra', 'missing', 'too_big')"),
                     0);
    del(W_ADMIN, "quote", 204);
    del(W_ADMIN, "big", 204);
}

static void test_secrets_other_tenant(void **state)
{
    (void)state;
    put(W_ADMIN, "shared_name", "{\"value\":\"alpha-only\"}", 201);
    json_t *j = list(W_B_ADMIN);
    char *text = json_dumps(j, 0);
    assert_null(strstr(text, "crm_token"));
    assert_null(strstr(text, "shared_name"));
    free(text);
    json_decref(j);
    del(W_B_ADMIN, "shared_name", 404);
    put(W_B_ADMIN, "shared_name", "{\"value\":\"beta-own\"}", 201); /* its own, not A's */
    char out[API_SECRET_VALUE_MAX + 1];
    assert_int_equal(open_stored(g_tenant_a, "shared_name", g_tenant_a, out), 0);
    assert_string_equal(out, "alpha-only");
    assert_int_equal(open_stored(g_tenant_b, "shared_name", g_tenant_b, out), 0);
    assert_string_equal(out, "beta-own");
}

static void test_secrets_without_key(void **state)
{
    struct t_resp r;
    (void)state;
    struct call calls[3] = {
        { "GET", "/api/v1/secrets", "/api/v1/secrets", W_NOKEY_ADMIN, NULL },
        { "PUT", "/api/v1/secrets/{name}", "/api/v1/secrets/nokey", W_NOKEY_ADMIN,
          "{\"value\":\"plain\"}" },
        { "DELETE", "/api/v1/secrets/{name}", "/api/v1/secrets/crm_token", W_NOKEY_ADMIN, NULL },
    };
    for (int i = 0; i < 3; i++) {
        do_call(&calls[i], &r);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body.data, "secrets.key"));
        assert_non_null(strstr(r.body.data, "secrets.key-file"));
        t_resp_free(&r);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM tenant_secrets WHERE name = 'nokey'"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM tenant_secrets WHERE name = 'crm_token'"), 1);
}

/* tenants.settings.api_call_allow (platform operators, PATCH /tenants/{id}): CIDRs only. */
static void test_tenant_allowlist_validated(void **state)
{
    char path[64];
    struct t_resp r;
    (void)state;
    snprintf(path, sizeof(path), "/api/v1/tenants/%lld", (long long)g_tenant_b);

    static const struct {
        const char *body;
        const char *field; /* NULL: accepted */
    } cases[] = {
        { "{\"settings\":{\"api_call_allow\":[\"10.0.0.0/8\",\"nope\"]}}",
          "$.settings.api_call_allow[1]" },
        { "{\"settings\":{\"api_call_allow\":[\"10.0.0.0/\"]}}", "$.settings.api_call_allow[0]" },
        { "{\"settings\":{\"api_call_allow\":[\"10.0.0.0/33\"]}}", "$.settings.api_call_allow[0]" },
        { "{\"settings\":{\"api_call_allow\":[7]}}", "$.settings.api_call_allow[0]" },
        { "{\"settings\":{\"api_call_allow\":\"10.0.0.0/8\"}}", "$.settings.api_call_allow" },
        { "{\"settings\":{\"api_call_allow\":[\"10.1.0.0/16\",\"::1/128\",\"127.0.0.1\"]}}", NULL },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct call c = { "PATCH", "/api/v1/tenants/{id}", path, W_ADMIN, cases[i].body };
        do_call(&c, &r);
        if (cases[i].field != NULL) {
            assert_int_equal(r.status, 422);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(r.json, "error"), "field")),
                cases[i].field);
        } else {
            assert_int_equal(r.status, 200);
        }
        t_resp_free(&r);
    }
    assert_int_equal(sql_int("SELECT jsonb_array_length(settings->'api_call_allow') FROM tenants"
                             " WHERE id = %lld",
                             (long long)g_tenant_b),
                     3);
    /* A tenant admin who is not an operator cannot set it. */
    struct call c = { "PATCH", "/api/v1/tenants/{id}", path, W_B_ADMIN,
                      "{\"settings\":{\"api_call_allow\":[\"0.0.0.0/0\"]}}" };
    json_decref(call_json(&c, 403));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets_set_list_delete),
        cmocka_unit_test(test_secrets_admins_only),
        cmocka_unit_test(test_secrets_bad_input),
        cmocka_unit_test(test_secrets_other_tenant),
        cmocka_unit_test(test_secrets_without_key),
        cmocka_unit_test(test_tenant_allowlist_validated),
    };
    curl_global_init(CURL_GLOBAL_ALL);
    int fails = cmocka_run_group_tests_name("api_secrets", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
