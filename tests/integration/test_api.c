/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the REST API: the api module on a real httpd, against
 * the private PostgreSQL (a fresh migrated database) and Redis. Two tenants
 * are bootstrapped as `dialerd bootstrap` does; users and API keys of every
 * role are created through the API. Every response is checked against
 * api/openapi.yaml (status listed for the operation, body valid).
 *
 * Cases: the RBAC matrix over every route and every kind of principal
 * (expected table written here from the requirements, not taken from the
 * code), cross-tenant isolation through the API and directly in SQL as
 * dialer_app, token tampering/alg none/expiry/unknown kid/refresh reuse,
 * logout, bad input (types, missing, unknown fields, oversized, invalid
 * UTF-8, SQL meta-characters) with nothing stored, idempotency keys,
 * If-Match, cursor pagination, and the failed-login limit.
 */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/err.h"
#include "importers/importers.h"
#include "tests/integration/test_api_util.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/apifix.h"
#include "tests/unit/core/test_httpd_util.h"

/* The call tables below list only the leading fields that matter per row. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define DB   "test_api"
#define KEYS "k1=integration-test-secret-0123456789abcdef"

static struct api *g_api;
static struct api_lists *g_lists;
static struct importer *g_imp;
static struct api_flows *g_flows;
static struct api_compliance *g_comp;
static struct api_dnc *g_dnc;
static struct api_extensions *g_exts;
static struct api_secrets *g_secrets;
static struct api_webhooks *g_hooks;
static struct httpd *g_srv;
static json_t *g_spec;
static char g_base[64];
static char g_app_ci[TDB_CONNINFO_MAX];
static char g_admin_ci[TDB_CONNINFO_MAX];

/* Principals: bearer tokens and API keys (full header lines). */
enum who {
    W_ANON,
    W_VIEWER,
    W_EDITOR,
    W_ADMIN,
    W_OPERATOR,
    W_KEY_VIEWER,
    W_KEY_EDITOR,
    W_KEY_ADMIN,
    W_B_ADMIN,
    W_B_KEY,
    W_COUNT
};

static char g_auth[W_COUNT][512];
static int64_t g_tenant_a, g_tenant_b;
static int64_t g_user_editor_a; /* a user of tenant A */
static int64_t g_key_viewer_a;  /* an API key of tenant A */

/* ------------------------------------------------------------ client */

struct call {
    const char *method;
    const char *pattern; /* route pattern, for the contract check */
    const char *path;    /* path and query */
    enum who who;
    const char *body;
    size_t body_len;
    const char *hdr1; /* extra header */
    const char *hdr2;
    bool no_spec; /* the route is not the pattern's (e.g. 404 for an unknown path) */
};

/* The answer, checked against the contract (not a 413: the server's, before any route). */
static void do_call(const struct call *c, struct t_resp *r)
{
    struct apifix_call q = { .method = c->method,
                             .pattern = c->no_spec ? NULL : c->pattern,
                             .path = c->path,
                             .auth = g_auth[c->who],
                             .body = c->body,
                             .body_len = c->body_len,
                             .hdr1 = c->hdr1,
                             .hdr2 = c->hdr2,
                             .unchecked = 413 };
    if (apifix_do(g_spec, g_base, &q, r) != 0) {
        t_resp_free(r);
        fail();
    }
}

static long call_status(const struct call *c)
{
    struct t_resp r;
    long s;
    do_call(c, &r);
    s = r.status;
    t_resp_free(&r);
    return s;
}

static json_t *call_json(const struct call *c, long want)
{
    struct t_resp r;
    json_t *j;
    do_call(c, &r);
    if (r.status != want) {
        fprintf(stderr, "%s %s: want %ld, got %ld: %s\n", c->method, c->path, want, r.status,
                r.body.data != NULL ? r.body.data : "");
        fail();
    }
    j = json_incref(r.json);
    t_resp_free(&r);
    return j;
}

/* ------------------------------------------------------------- SQL */

#define sql_int apifix_sql_int

static int64_t count_users(void)
{
    return sql_int(g_admin_ci, "SELECT count(*) FROM users");
}

/* ---------------------------------------------------------- set-up */

static void login(const char *email, const char *password, enum who w, char *refresh,
                  size_t refresh_sz)
{
    assert_true(apifix_login(g_spec, g_base, email, password, g_auth[w], sizeof(g_auth[w]), refresh,
                             refresh_sz));
}

static int64_t create_user(enum who as, const char *email, const char *role)
{
    char body[512];
    struct call c = { "POST", "/api/v1/users", "/api/v1/users", as, body, 0 };
    json_t *j;
    int64_t id;

    snprintf(body, sizeof(body),
             "{\"email\":\"%s\",\"role\":\"%s\",\"password\":\"pass-word-123\"}", email, role);
    j = call_json(&c, 201);
    id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

static int64_t create_key(enum who as, const char *role, enum who w)
{
    char body[256];
    struct call c = { "POST", "/api/v1/api-keys", "/api/v1/api-keys", as, body, 0 };
    json_t *j;
    int64_t id;

    snprintf(body, sizeof(body), "{\"name\":\"%s key\",\"role\":\"%s\"}", role, role);
    j = call_json(&c, 201);
    id = json_integer_value(json_object_get(j, "id"));
    snprintf(g_auth[w], sizeof(g_auth[w]), "X-API-Key: %s",
             json_string_value(json_object_get(j, "key")));
    json_decref(j);
    return id;
}

static void redis_del(const char *key)
{
    redisContext *rc = redisConnect("127.0.0.1", testenv_redis_port());
    if (rc != NULL && rc->err == 0) {
        freeReplyObject(redisCommand(rc, "DEL %s", key));
    }
    redisFree(rc);
}

/* Forgets every failed-login counter (a rerun within the window must start clean). */
static void redis_del_login_counters(void)
{
    redisContext *rc = redisConnect("127.0.0.1", testenv_redis_port());
    if (rc != NULL && rc->err == 0) {
        redisReply *r = redisCommand(rc, "KEYS api:login:*");
        if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
            for (size_t i = 0; i < r->elements && i < 10000; i++) {
                freeReplyObject(redisCommand(rc, "DEL %s", r->element[i]->str));
            }
        }
        freeReplyObject(r);
    }
    redisFree(rc);
}

static int setup(void **state)
{
    struct api_config ac = { 0 };
    struct httpd_config hc = { .name = "api-test", .max_body_bytes = 65536 };
    struct call wait = { "GET", "/api/v1/roles", "/api/v1/roles", W_ANON };
    int i;
    (void)state;

    testenv_pg_conninfo();
    g_spec = tapi_spec_load();
    assert_non_null(g_spec);
    tdb_create_migrated(DB);
    tdb_conninfo_app(DB, g_app_ci, sizeof(g_app_ci));
    tdb_conninfo(DB, g_admin_ci, sizeof(g_admin_ci));
    apifix_bootstrap(g_app_ci, "alpha", "ops@alpha.test", true);
    apifix_bootstrap(g_app_ci, "beta", "admin@beta.test", false);
    g_tenant_a = sql_int(g_admin_ci, "SELECT id FROM tenants WHERE slug = 'alpha'");
    g_tenant_b = sql_int(g_admin_ci, "SELECT id FROM tenants WHERE slug = 'beta'");
    redis_del_login_counters();

    ac.db_conninfo = g_app_ci;
    ac.db_pool_size = 2;
    ac.redis_host = "127.0.0.1";
    ac.redis_port = testenv_redis_port();
    ac.jwt_keys = KEYS;
    ac.hash_threads = 2;
    ac.pwhash_ops = 1;
    ac.pwhash_mem = 8192;
    ac.login_max_failures = 3;
    ac.login_window_s = 60;
    if (api_create(&ac, &g_api) != 0) {
        return -1;
    }
    {
        /* A small window so that uploads exercise the pause/resume flow control. */
        struct importer_config ic = { .conninfo = g_app_ci,
                                      .window_bytes = 16 * 1024,
                                      .worker_name = "api-test" };
        if (importer_create(&ic, &g_imp) != 0 ||
            api_lists_create(g_api, g_imp, g_app_ci, &g_lists) != 0) {
            return -1;
        }
        char tdir[1024];
        snprintf(tdir, sizeof(tdir), "%s/ivr/templates", testenv_root());
        if (api_flows_create(g_api, tdir, &g_flows) != 0 ||
            api_compliance_create(g_api, NULL, &g_comp) != 0 ||
            api_dnc_create(g_api, NULL, &g_dnc) != 0 ||
            api_extensions_create(g_api, NULL, &g_exts) != 0 ||
            api_secrets_create(g_api, NULL, &g_secrets) != 0 ||
            api_webhooks_create(g_api, NULL, &g_hooks) != 0) {
            return -1;
        }
    }
    api_httpd_hooks(g_api, &hc);
    g_srv = httpd_create(&hc, NULL, 0);
    if (g_srv == NULL || api_mount(g_api, g_srv) != 0 || httpd_start(g_srv) != 0) {
        return -1;
    }
    snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%d", httpd_port(g_srv));
    /* The pool connects in the background: wait (bounded) for a login. */
    for (i = 0; i < 100; i++) {
        char body[] = "{\"email\":\"ops@alpha.test\",\"password\":\"pass-word-123\"}";
        struct call c = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, body, 0 };
        if (call_status(&c) == 200) {
            break;
        }
        usleep(50 * 1000);
    }
    (void)wait;
    login("ops@alpha.test", "pass-word-123", W_OPERATOR, NULL, 0);
    login("admin@beta.test", "pass-word-123", W_B_ADMIN, NULL, 0);
    /* Tenant A's admin without the operator flag. */
    create_user(W_OPERATOR, "admin@alpha.test", "admin");
    g_user_editor_a = create_user(W_OPERATOR, "editor@alpha.test", "editor");
    create_user(W_OPERATOR, "viewer@alpha.test", "viewer");
    login("admin@alpha.test", "pass-word-123", W_ADMIN, NULL, 0);
    login("editor@alpha.test", "pass-word-123", W_EDITOR, NULL, 0);
    login("viewer@alpha.test", "pass-word-123", W_VIEWER, NULL, 0);
    g_key_viewer_a = create_key(W_ADMIN, "viewer", W_KEY_VIEWER);
    create_key(W_ADMIN, "editor", W_KEY_EDITOR);
    create_key(W_ADMIN, "admin", W_KEY_ADMIN);
    create_key(W_B_ADMIN, "admin", W_B_KEY);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(g_srv);
    importer_destroy(g_imp);
    api_lists_destroy(g_lists);
    api_flows_destroy(g_flows);
    api_compliance_destroy(g_comp);
    api_dnc_destroy(g_dnc);
    api_extensions_destroy(g_exts);
    api_secrets_destroy(g_secrets);
    api_webhooks_destroy(g_hooks);
    api_destroy(g_api);
    json_decref(g_spec);
    tdb_drop(DB);
    return 0;
}

/* ------------------------------------------------------------ RBAC */

/*
 * The expected matrix, from the requirements: who may call each route.
 * V/E/A: viewer/editor/admin of the tenant (user or API key alike);
 * O: platform operators only (whatever their role); P: public.
 */
static const struct {
    const char *method;
    const char *pattern;
    const char *who;
} expected[] = {
    { "POST", "/api/v1/auth/login", "P" },
    { "POST", "/api/v1/auth/refresh", "P" },
    { "POST", "/api/v1/auth/logout", "P" },
    { "GET", "/api/v1/me", "VEA" },
    { "GET", "/api/v1/roles", "VEA" },
    { "GET", "/api/v1/roles/{name}", "VEA" },
    { "GET", "/api/v1/users", "EA" },
    { "POST", "/api/v1/users", "A" },
    { "GET", "/api/v1/users/{id}", "EA" },
    { "PATCH", "/api/v1/users/{id}", "A" },
    { "DELETE", "/api/v1/users/{id}", "A" },
    { "GET", "/api/v1/api-keys", "A" },
    { "POST", "/api/v1/api-keys", "A" },
    { "GET", "/api/v1/api-keys/{id}", "A" },
    { "DELETE", "/api/v1/api-keys/{id}", "A" },
    { "GET", "/api/v1/tenants", "O" },
    { "POST", "/api/v1/tenants", "O" },
    { "GET", "/api/v1/tenants/{id}", "O" },
    { "PATCH", "/api/v1/tenants/{id}", "O" },
    /* Contact lists, uploads and imports. */
    { "GET", "/api/v1/lists", "VEA" },
    { "POST", "/api/v1/lists", "EA" },
    { "GET", "/api/v1/lists/{id}", "VEA" },
    { "PATCH", "/api/v1/lists/{id}", "EA" },
    { "DELETE", "/api/v1/lists/{id}", "EA" },
    { "GET", "/api/v1/lists/{id}/contacts", "VEA" },
    { "POST", "/api/v1/lists/{id}/contacts", "EA" },
    { "POST", "/api/v1/lists/{id}/uploads", "EA" },
    { "GET", "/api/v1/lists/{id}/imports", "VEA" },
    { "GET", "/api/v1/imports/{job}", "VEA" },
    { "DELETE", "/api/v1/imports/{job}", "EA" },
    { "GET", "/api/v1/imports/{job}/rejects.csv", "VEA" },
    /* IVR flows. */
    { "GET", "/api/v1/flows", "VEA" },
    { "POST", "/api/v1/flows", "EA" },
    { "POST", "/api/v1/flows/validate", "VEA" },
    { "POST", "/api/v1/flows/import", "EA" },
    { "GET", "/api/v1/flows/templates", "VEA" },
    { "POST", "/api/v1/flows/from-template/{name}", "EA" },
    { "GET", "/api/v1/flows/{id}", "VEA" },
    { "PUT", "/api/v1/flows/{id}", "EA" },
    { "DELETE", "/api/v1/flows/{id}", "EA" },
    { "GET", "/api/v1/flows/{id}/export", "VEA" },
    { "POST", "/api/v1/flows/{id}/publish", "EA" },
    { "GET", "/api/v1/flows/{id}/revisions", "VEA" },
    { "GET", "/api/v1/flows/{id}/revisions/{rev}", "VEA" },
    { "GET", "/api/v1/flows/{id}/executions", "VEA" },
    { "GET", "/api/v1/flows/{id}/executions/{eid}", "VEA" },
    { "GET", "/api/v1/flows/{id}/executions/{eid}/steps", "VEA" },
    { "POST", "/api/v1/flows/{id}/simulate", "VEA" },
    /* Compliance. */
    { "GET", "/api/v1/compliance/check", "VEA" },
    { "GET", "/api/v1/compliance/decisions", "VEA" },
    /* DNC lists (national lists: platform operators only, checked in the handler). */
    { "GET", "/api/v1/dnc/lists", "VEA" },
    { "POST", "/api/v1/dnc/lists", "EA" },
    { "GET", "/api/v1/dnc/lists/{id}", "VEA" },
    { "DELETE", "/api/v1/dnc/lists/{id}", "EA" },
    { "GET", "/api/v1/dnc/lists/{id}/entries", "VEA" },
    { "POST", "/api/v1/dnc/lists/{id}/entries", "EA" },
    { "DELETE", "/api/v1/dnc/lists/{id}/entries/{number}", "EA" },
    { "POST", "/api/v1/dnc/lists/{id}/uploads", "EA" },
    { "GET", "/api/v1/dnc/lists/{id}/export.csv", "VEA" },
    { "GET", "/api/v1/campaigns/{id}/stats", "VEA" },
    { "GET", "/api/v1/campaigns/{id}/stats/minutes", "VEA" },
    /* Extensions. */
    { "GET", "/api/v1/extensions", "VEA" },
    { "POST", "/api/v1/extensions", "A" },
    { "GET", "/api/v1/extensions/pools", "VEA" },
    { "GET", "/api/v1/extensions/{ext}", "VEA" },
    { "PATCH", "/api/v1/extensions/{ext}", "A" },
    { "DELETE", "/api/v1/extensions/{ext}", "A" },
    { "GET", "/api/v1/extensions/{ext}/audit", "VEA" },
    { "POST", "/api/v1/flows/{id}/inbound", "A" },
    /* Campaigns: viewers read, editors write and control, admins everything. */
    { "GET", "/api/v1/campaigns", "VEA" },
    { "POST", "/api/v1/campaigns", "EA" },
    { "GET", "/api/v1/campaigns/{id}", "VEA" },
    { "PATCH", "/api/v1/campaigns/{id}", "EA" },
    { "DELETE", "/api/v1/campaigns/{id}", "EA" },
    { "POST", "/api/v1/campaigns/{id}/start", "EA" },
    { "POST", "/api/v1/campaigns/{id}/pause", "EA" },
    { "POST", "/api/v1/campaigns/{id}/resume", "EA" },
    { "POST", "/api/v1/campaigns/{id}/stop", "EA" },
    { "POST", "/api/v1/campaigns/{id}/complete", "EA" },
    { "POST", "/api/v1/campaigns/{id}/schedule", "EA" },
    { "GET", "/api/v1/campaigns/{id}/history", "VEA" },
    { "GET", "/api/v1/campaigns/{id}/lists", "VEA" },
    { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", "EA" },
    { "DELETE", "/api/v1/campaigns/{id}/lists/{list_id}", "EA" },
    { "GET", "/api/v1/campaigns/{id}/attempts", "VEA" },
    { "GET", "/api/v1/campaigns/{id}/calls", "VEA" },
    { "GET", "/api/v1/campaigns/{id}/calls.csv", "VEA" },
    { "GET", "/api/v1/campaigns/{id}/ready", "VEA" },
    { "POST", "/api/v1/contacts/{id}/callback", "EA" },
    /* Secrets: admins only (a secret opens a third party's API). */
    { "GET", "/api/v1/secrets", "A" },
    { "PUT", "/api/v1/secrets/{name}", "A" },
    { "DELETE", "/api/v1/secrets/{name}", "A" },
    { "GET", "/api/v1/webhooks", "VEA" },
    { "POST", "/api/v1/webhooks", "EA" },
    { "GET", "/api/v1/webhooks/{id}", "VEA" },
    { "PATCH", "/api/v1/webhooks/{id}", "EA" },
    { "DELETE", "/api/v1/webhooks/{id}", "EA" },
    { "POST", "/api/v1/webhooks/{id}/rotate-secret", "EA" },
    { "GET", "/api/v1/webhooks/{id}/deliveries", "VEA" },
    { "POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", "EA" },
};

static const char *method_name(unsigned m)
{
    switch (m) {
    case HTTPD_GET:
        return "GET";
    case HTTPD_POST:
        return "POST";
    case HTTPD_PATCH:
        return "PATCH";
    case HTTPD_DELETE:
        return "DELETE";
    case HTTPD_PUT:
        return "PUT";
    default:
        return "?";
    }
}

static bool may(const char *rule, enum who w)
{
    char role;
    if (strchr(rule, 'P') != NULL) {
        return true;
    }
    if (strchr(rule, 'O') != NULL) {
        return w == W_OPERATOR;
    }
    switch (w) {
    case W_VIEWER:
    case W_KEY_VIEWER:
        role = 'V';
        break;
    case W_EDITOR:
    case W_KEY_EDITOR:
        role = 'E';
        break;
    case W_ADMIN:
    case W_KEY_ADMIN:
    case W_OPERATOR:
    case W_B_ADMIN:
    case W_B_KEY:
        role = 'A';
        break;
    default:
        return false;
    }
    return strchr(rule, role) != NULL;
}

static void path_for(const char *pattern, char *out, size_t n)
{
    const char *p = pattern;
    size_t o = 0;
    while (*p != '\0' && o + 16 < n) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            o += (size_t)snprintf(out + o, n - o, "%s",
                                  strncmp(p, "{name}", 6) == 0 ? "viewer" : "999999");
            p = e + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void test_api_rbac_matrix(void **state)
{
    size_t i, j, nroutes = api_route_count(g_api);
    int w;
    int checked = 0;
    (void)state;

    /* Every route has an expectation, and every expectation a route. */
    assert_int_equal(nroutes, sizeof(expected) / sizeof(expected[0]));
    for (i = 0; i < nroutes; i++) {
        const struct api_route *r = api_route_at(g_api, i);
        const char *rule = NULL;
        char path[256];
        for (j = 0; j < sizeof(expected) / sizeof(expected[0]); j++) {
            if (strcmp(expected[j].method, method_name(r->methods)) == 0 &&
                strcmp(expected[j].pattern, r->pattern) == 0) {
                rule = expected[j].who;
            }
        }
        if (rule == NULL) {
            fprintf(stderr, "route %s %s has no row in the expected matrix\n",
                    method_name(r->methods), r->pattern);
            fail();
        }
        if (strcmp(rule, "P") == 0) {
            continue; /* covered by the auth tests */
        }
        path_for(r->pattern, path, sizeof(path));
        for (w = 0; w < W_COUNT; w++) {
            bool body =
                r->methods == HTTPD_POST || r->methods == HTTPD_PATCH || r->methods == HTTPD_PUT;
            struct call c = { method_name(r->methods), r->pattern, path, (enum who)w,
                              body ? "{}" : NULL,      0 };
            long st = call_status(&c);
            bool want = may(rule, (enum who)w);
            if (w == W_ANON) {
                if (st != 401) {
                    fprintf(stderr, "%s %s anonymous: %ld, want 401\n", c.method, path, st);
                    fail();
                }
            } else if (want ? (st == 401 || st == 403) : st != 403) {
                fprintf(stderr, "%s %s as principal %d: status %ld, want %s\n", c.method, path, w,
                        st, want ? "allowed" : "403");
                fail();
            }
            checked++;
        }
    }
    assert_true(checked >= 16 * W_COUNT);
}

/* ----------------------------------------------------- cross-tenant */

static bool list_has_id(const json_t *list, int64_t id)
{
    size_t i;
    json_t *x;
    json_array_foreach (json_object_get(list, "items"), i, x) {
        if (json_integer_value(json_object_get(x, "id")) == id) {
            return true;
        }
    }
    return false;
}

/* A campaign's live figures: its own tenant reads them, another tenant gets 404. */
static void test_api_cross_tenant_campaign_stats(void **state)
{
    char path[160];
    int64_t id = sql_int(
        g_admin_ci, "INSERT INTO campaigns (tenant_id, name) VALUES (%lld, 'stats') RETURNING id",
        (long long)g_tenant_a);

    enum who bs[2] = { W_B_ADMIN, W_B_KEY };

    (void)state;

    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/stats", (long long)id);
    struct call own = { "GET", "/api/v1/campaigns/{id}/stats", path, W_OPERATOR };
    json_t *j = call_json(&own, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "campaign_id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "stats");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "draft");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        struct call other = { "GET", "/api/v1/campaigns/{id}/stats", path, bs[i] };
        assert_int_equal(call_status(&other), 404);
    }

    /* The per-minute history: two nodes' rows of one minute are summed; the window is [from, to).
     */
    sql_int(g_admin_ci,
            "WITH i AS (INSERT INTO campaign_metrics_minute (tenant_id, campaign_id, node, minute, "
            "attempts,"
            " answered, busy) VALUES (%lld, %lld, 'n1', '2026-11-24T10:00:00Z', 10, 4, 1),"
            " (%lld, %lld, 'n2', '2026-11-24T10:00:00Z', 5, 2, 0),"
            " (%lld, %lld, 'n1', '2026-11-24T10:01:00Z', 7, 3, 2),"
            " (%lld, %lld, 'n1', '2026-11-24T10:05:00Z', 1, 1, 0) RETURNING 1)"
            " SELECT count(*) FROM i",
            (long long)g_tenant_a, (long long)id, (long long)g_tenant_a, (long long)id,
            (long long)g_tenant_a, (long long)id, (long long)g_tenant_a, (long long)id);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/stats/minutes?from=%s&to=%s",
             (long long)id, "2026-11-24T10:00:00Z", "1795514700" /* 10:05:00Z */);
    struct call hist = { "GET", "/api/v1/campaigns/{id}/stats/minutes", path, W_OPERATOR };
    j = call_json(&hist, 200);
    json_t *mins = json_object_get(j, "minutes");
    assert_int_equal(json_array_size(mins), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(mins, 0), "minute")),
                        "2026-11-24T10:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(mins, 0), "attempts")), 15);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(mins, 0), "answered")), 6);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(mins, 1), "busy")), 2);
    json_decref(j);
    for (int i = 0; i < 2; i++) {
        struct call other = { "GET", "/api/v1/campaigns/{id}/stats/minutes", path, bs[i] };
        assert_int_equal(call_status(&other), 404);
    }
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/stats/minutes?from=yesterday",
             (long long)id);
    struct call bad = { "GET", "/api/v1/campaigns/{id}/stats/minutes", path, W_OPERATOR };
    j = call_json(&bad, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                        "?from");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/stats/minutes?from=0&to=172800",
             (long long)id);
    struct call wide = { "GET", "/api/v1/campaigns/{id}/stats/minutes", path, W_OPERATOR };
    assert_int_equal(call_status(&wide), 400);
}

static void test_api_cross_tenant_api(void **state)
{
    char upath[64], kpath[64];

    enum who bs[2] = { W_B_ADMIN, W_B_KEY };

    int i;
    (void)state;

    snprintf(upath, sizeof(upath), "/api/v1/users/%lld", (long long)g_user_editor_a);
    snprintf(kpath, sizeof(kpath), "/api/v1/api-keys/%lld", (long long)g_key_viewer_a);
    for (i = 0; i < 2; i++) {
        struct call get_u = { "GET", "/api/v1/users/{id}", upath, bs[i] };
        struct call patch_u = { "PATCH", "/api/v1/users/{id}", upath, bs[i],
                                "{\"display_name\":\"stolen\",\"role\":\"admin\"}" };
        struct call del_u = { "DELETE", "/api/v1/users/{id}", upath, bs[i] };
        struct call list_u = { "GET", "/api/v1/users", "/api/v1/users?limit=200", bs[i] };
        struct call get_k = { "GET", "/api/v1/api-keys/{id}", kpath, bs[i] };
        struct call del_k = { "DELETE", "/api/v1/api-keys/{id}", kpath, bs[i] };
        struct call list_k = { "GET", "/api/v1/api-keys", "/api/v1/api-keys?limit=200", bs[i] };
        json_t *j;

        assert_int_equal(call_status(&get_u), 404);
        assert_int_equal(call_status(&patch_u), 404);
        assert_int_equal(call_status(&del_u), 404);
        assert_int_equal(call_status(&get_k), 404);
        assert_int_equal(call_status(&del_k), 404);
        j = call_json(&list_u, 200);
        assert_false(list_has_id(j, g_user_editor_a));
        assert_true(json_array_size(json_object_get(j, "items")) >= 1);
        json_decref(j);
        j = call_json(&list_k, 200);
        assert_false(list_has_id(j, g_key_viewer_a));
        json_decref(j);
    }
    /* Nothing changed in tenant A. */
    {
        struct call get_u = { "GET", "/api/v1/users/{id}", upath, W_ADMIN };
        struct call get_k = { "GET", "/api/v1/api-keys/{id}", kpath, W_ADMIN };
        json_t *j = call_json(&get_u, 200);
        assert_string_equal(json_string_value(json_object_get(j, "role")), "editor");
        assert_string_equal(json_string_value(json_object_get(j, "display_name")), "");
        assert_false(json_is_true(json_object_get(j, "disabled")));
        json_decref(j);
        j = call_json(&get_k, 200);
        assert_false(json_is_true(json_object_get(j, "revoked")));
        json_decref(j);
    }
    /* The tenant's own row is readable through /me only; tenants need the operator. */
    {
        struct call t = { "GET", "/api/v1/tenants/{id}", "/api/v1/tenants/1", W_B_ADMIN };
        assert_int_equal(call_status(&t), 403);
    }
}

/* As dialer_app with tenant B set, tenant A's rows cannot be read or touched. */
static void test_api_cross_tenant_sql(void **state)
{
    PGconn *c = tdb_connect(g_app_ci);
    PGresult *r;
    char sql[512];
    const char *tables[] = { "users", "api_keys", "refresh_tokens", "api_idempotency",
                             "audit_log" };
    size_t i;
    (void)state;

    /* There are rows of tenant A in each table (set-up and earlier tests). */
    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        if (strcmp(tables[i], "api_idempotency") == 0) {
            continue;
        }
        assert_true(sql_int(g_admin_ci, "SELECT count(*) FROM %s WHERE tenant_id = %lld", tables[i],
                            (long long)g_tenant_a) > 0);
    }
    tdb_exec(c, "BEGIN");
    tdb_exec(c, "SELECT set_config('app.tenant_id', '%lld', true)", (long long)g_tenant_b);
    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tenant_id = %lld", tables[i],
                 (long long)g_tenant_a);
        r = PQexec(c, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), "0");
        PQclear(r);
    }
    snprintf(sql, sizeof(sql), "UPDATE users SET display_name = 'x' WHERE id = %lld",
             (long long)g_user_editor_a);
    r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdTuples(r), "0");
    PQclear(r);
    snprintf(sql, sizeof(sql), "DELETE FROM api_keys WHERE id = %lld", (long long)g_key_viewer_a);
    r = PQexec(c, sql);
    assert_string_equal(PQcmdTuples(r), "0");
    PQclear(r);
    snprintf(sql, sizeof(sql),
             "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = "
             "'admin' WHERE tenant_id = %lld",
             (long long)g_tenant_a);
    r = PQexec(c, sql);
    assert_string_equal(PQcmdTuples(r), "0");
    PQclear(r);
    /* Inserting into tenant A is refused by the policy's WITH CHECK. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO users (tenant_id, email, role) VALUES (%lld, 'x@alpha.test', 'admin')",
             (long long)g_tenant_a);
    r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
    PQclear(r);
    tdb_exec(c, "ROLLBACK");
    PQfinish(c);
}

/* ------------------------------------------------------------ tokens */

static long me_with(const char *auth_line)
{
    struct call c = { "GET", "/api/v1/me", "/api/v1/me", W_ANON };
    struct t_resp r;
    char saved[512];
    long s;

    memcpy(saved, g_auth[W_ANON], sizeof(saved));
    snprintf(g_auth[W_ANON], sizeof(g_auth[W_ANON]), "%s", auth_line);
    do_call(&c, &r);
    s = r.status;
    if (s == 401) {
        assert_string_equal(t_err_code(&r), "invalid_token");
    }
    t_resp_free(&r);
    memcpy(g_auth[W_ANON], saved, sizeof(saved));
    return s;
}

static char *b64url(const char *s)
{
    static char out[1024];
    sodium_bin2base64(out, sizeof(out), (const unsigned char *)s, strlen(s),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static void test_api_tokens(void **state)
{
    const char *good = g_auth[W_VIEWER] + strlen("Authorization: Bearer ");
    char tok[4096], line[8400];
    char *dot1, *dot2;
    struct api_principal p = { .kind = API_PRINCIPAL_USER,
                               .id = 1,
                               .tenant_id = g_tenant_a,
                               .role = API_ROLE_ADMIN,
                               .platform_operator = true };
    struct api *other = NULL;
    struct api_config oc = { .jwt_keys = "k9=another-secret-0123456789abcdef012345",
                             .pwhash_ops = 1,
                             .pwhash_mem = 8192,
                             .hash_threads = 1 };
    char *t;
    (void)state;

    snprintf(line, sizeof(line), "Authorization: Bearer %s", good);
    assert_int_equal(me_with(line), 200);

    /* Tampered signature: flip one character of the signature. */
    assert_true(strlen(good) < sizeof(tok));
    memcpy(tok, good, strlen(good) + 1);
    dot2 = strrchr(tok, '.');
    dot2[5] = dot2[5] == 'A' ? 'B' : 'A';
    snprintf(line, sizeof(line), "Authorization: Bearer %s", tok);
    assert_int_equal(me_with(line), 401);

    /* Tampered claims (viewer -> admin) under the original signature. */
    assert_true(strlen(good) < sizeof(tok));
    memcpy(tok, good, strlen(good) + 1);
    dot1 = strchr(tok, '.');
    dot2 = strrchr(tok, '.');
    {
        char claims[512];
        char forged[8192];
        snprintf(claims, sizeof(claims),
                 "{\"exp\":%lld,\"iat\":%lld,\"iss\":\"dialerd\",\"op\":true,\"role\":\"admin\","
                 "\"sub\":\"1\",\"tid\":%lld}",
                 (long long)(clock_wall_us() / 1000000 + 600),
                 (long long)(clock_wall_us() / 1000000), (long long)g_tenant_a);
        *dot1 = '\0';
        snprintf(forged, sizeof(forged), "%s.%s%s", tok, b64url(claims), dot2);
        snprintf(line, sizeof(line), "Authorization: Bearer %s", forged);
        assert_int_equal(me_with(line), 401);

        /* alg none, with and without a signature. */
        snprintf(forged, sizeof(forged), "%s.",
                 b64url("{\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"JWT\"}"));
        snprintf(forged + strlen(forged), sizeof(forged) - strlen(forged), "%s.", b64url(claims));
        snprintf(line, sizeof(line), "Authorization: Bearer %s", forged);
        assert_int_equal(me_with(line), 401);
        snprintf(forged, sizeof(forged), "%s.", b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}"));
        snprintf(forged + strlen(forged), sizeof(forged) - strlen(forged), "%s.", b64url(claims));
        snprintf(line, sizeof(line), "Authorization: Bearer %s", forged);
        assert_int_equal(me_with(line), 401);
        /* Another algorithm named in the header. */
        snprintf(forged, sizeof(forged), "%s.%s%s",
                 b64url("{\"alg\":\"HS512\",\"kid\":\"k1\",\"typ\":\"JWT\"}"), b64url(claims),
                 dot2);
        snprintf(line, sizeof(line), "Authorization: Bearer %s", forged);
        assert_int_equal(me_with(line), 401);
    }

    /* Expired: issued by the same key, in the past. */
    t = api__jwt_issue(g_api, &p, clock_wall_us() / 1000000 - 3600);
    snprintf(line, sizeof(line), "Authorization: Bearer %s", t);
    free(t);
    assert_int_equal(me_with(line), 401);
    /* Fresh from the same key: accepted (the forgery above was the only fault). */
    t = api__jwt_issue(g_api, &p, clock_wall_us() / 1000000);
    snprintf(line, sizeof(line), "Authorization: Bearer %s", t);
    free(t);
    assert_int_equal(me_with(line), 200);

    /* Unknown kid: a well-formed token from another key set. */
    assert_int_equal(api_create(&oc, &other), 0);
    t = api__jwt_issue(other, &p, clock_wall_us() / 1000000);
    snprintf(line, sizeof(line), "Authorization: Bearer %s", t);
    free(t);
    api_destroy(other);
    assert_int_equal(me_with(line), 401);

    /* Garbage. */
    assert_int_equal(me_with("Authorization: Bearer not.a.jwt"), 401);
    assert_int_equal(me_with("Authorization: Bearer ...."), 401);
}

static long refresh_call(const char *tok, const char *path, const char *want_code)
{
    char body[512];
    struct call c = { "POST", path, path, W_ANON, body };
    struct t_resp r;
    long s;

    snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", tok);
    do_call(&c, &r);
    s = r.status;
    if (want_code != NULL) {
        assert_string_equal(t_err_code(&r), want_code);
    }
    t_resp_free(&r);
    return s;
}

static void test_api_refresh_reuse_revokes_family(void **state)
{
    char r1[128], r2[128];
    char body[512];
    struct call c = { "POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", W_ANON, body };
    json_t *j;
    (void)state;

    login("viewer@alpha.test", "pass-word-123", W_VIEWER, r1, sizeof(r1));
    snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", r1);
    j = call_json(&c, 200);
    snprintf(r2, sizeof(r2), "%s", json_string_value(json_object_get(j, "refresh_token")));
    assert_string_not_equal(r1, r2);
    json_decref(j);
    /* r1 again: reuse. The whole family, r2 included, is revoked. */
    assert_int_equal(refresh_call(r1, "/api/v1/auth/refresh", "refresh_token_reused"), 401);
    assert_int_equal(refresh_call(r2, "/api/v1/auth/refresh", "invalid_refresh_token"), 401);
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM refresh_tokens WHERE revoked_reason = "
                             "'reuse_detected' AND family_id = (SELECT family_id FROM "
                             "refresh_tokens WHERE parent_id IS NOT NULL ORDER BY issued_at DESC "
                             "LIMIT 1)"),
                     2);
    /* Unknown token. */
    assert_int_equal(refresh_call("nonsense", "/api/v1/auth/refresh", "invalid_refresh_token"),
                     401);
}

static void test_api_logout(void **state)
{
    char r1[128];
    (void)state;

    login("editor@alpha.test", "pass-word-123", W_EDITOR, r1, sizeof(r1));
    assert_int_equal(refresh_call(r1, "/api/v1/auth/logout", NULL), 204);
    assert_int_equal(refresh_call(r1, "/api/v1/auth/refresh", "invalid_refresh_token"), 401);
    /* Logging out an unknown token says nothing either way. */
    assert_int_equal(refresh_call("unknown-token", "/api/v1/auth/logout", NULL), 204);
}

static void test_api_login_failures_limited(void **state)
{
    /* The counters live in the shared Redis: a name of this run's own. */
    char email[64], body[160], good[160];
    struct call c = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, body };
    struct call ok = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, good };
    struct t_resp r;
    int i;
    (void)state;

    snprintf(email, sizeof(email), "limited-%ld@alpha.test", (long)getpid());
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"wrong-password\"}", email);
    snprintf(good, sizeof(good), "{\"email\":\"%s\",\"password\":\"pass-word-123\"}", email);
    create_user(W_ADMIN, email, "viewer");
    for (i = 0; i < 3; i++) {
        assert_int_equal(call_status(&c), 401);
    }
    /* At the limit even the right password is refused, with Retry-After. */
    do_call(&ok, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(t_err_code(&r), "too_many_attempts");
    {
        char buf[32];
        assert_non_null(t_header(&r, "Retry-After", buf, sizeof(buf)));
    }
    t_resp_free(&r);
    /* Unknown e-mail and wrong password look the same. */
    {
        char nobody[] = "{\"email\":\"nobody@alpha.test\",\"password\":\"whatever-123\"}";
        struct call n = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, nobody };
        do_call(&n, &r);
        assert_int_equal(r.status, 401);
        assert_string_equal(t_err_code(&r), "invalid_credentials");
        t_resp_free(&r);
    }
    /* Per address: 4x the account limit, across any accounts. */
    redis_del("api:login:addr:127.0.0.1");
    for (i = 0; i < 12; i++) {
        char other[160];
        struct call n = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, other };
        snprintf(other, sizeof(other),
                 "{\"email\":\"spray-%d-%ld@alpha.test\",\"password\":\"wrong-password\"}", i,
                 (long)getpid());
        assert_int_equal(call_status(&n), 401);
    }
    {
        char viewer[] = "{\"email\":\"viewer@alpha.test\",\"password\":\"pass-word-123\"}";
        struct call v = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, viewer };
        assert_int_equal(call_status(&v), 429);
    }
    redis_del("api:login:addr:127.0.0.1");
}

/* One wrong-password login from its own thread (no cmocka asserts off the main thread). */
static void *burst_login(void *arg)
{
    long *status = arg;
    char url[256];
    char body[160];
    const char *hdrs[2] = { "Content-Type: application/json", NULL };
    struct t_req rq = { .method = "POST", .hdrs = hdrs };
    struct t_resp r;

    snprintf(url, sizeof(url), "%s/api/v1/auth/login", g_base);
    snprintf(body, sizeof(body), "{\"email\":\"burst-%ld@alpha.test\",\"password\":\"guess\"}",
             (long)getpid());
    rq.body = body;
    rq.body_len = strlen(body);
    *status = t_http(url, &rq, &r) == CURLE_OK ? r.status : -1;
    t_resp_free(&r);
    return NULL;
}

/* Ten guesses at once on one account: exactly the limit (3) get a verdict, the rest 429. */
static void test_api_login_burst_limited(void **state)
{
    pthread_t th[10];
    long status[10];
    int n401 = 0, n429 = 0;
    (void)state;

    redis_del("api:login:addr:127.0.0.1");
    for (int i = 0; i < 10; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, burst_login, &status[i]), 0);
    }
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        n401 += status[i] == 401;
        n429 += status[i] == 429;
    }
    assert_int_equal(n401, 3);
    assert_int_equal(n429, 7);
    redis_del("api:login:addr:127.0.0.1");
}

/* --------------------------------------------------------- bad input */

static void bad(const char *body, size_t len, long want_status, const char *want_code,
                const char *want_field)
{
    struct call c = { "POST", "/api/v1/users", "/api/v1/users", W_ADMIN, body, len };
    struct t_resp r;

    do_call(&c, &r);
    if (r.status != want_status) {
        fprintf(stderr, "body %.80s: %ld (want %ld) %s\n", body, r.status, want_status,
                r.body.data != NULL ? r.body.data : "");
        fail();
    }
    if (want_code != NULL) {
        assert_string_equal(t_err_code(&r), want_code);
    }
    if (want_field != NULL) {
        json_t *e = json_object_get(r.json, "error");
        assert_string_equal(json_string_value(json_object_get(e, "field")), want_field);
    }
    t_resp_free(&r);
}

static void test_api_bad_input_nothing_stored(void **state)
{
    int64_t before = count_users();
    char *big;
    (void)state;

    bad("{\"email\":5,\"role\":\"viewer\",\"password\":\"pass-word-123\"}", 0, 422, "invalid_field",
        "$.email");
    bad("{\"email\":\"a@b.test\",\"role\":\"root\",\"password\":\"pass-word-123\"}", 0, 422,
        "invalid_field", "$.role");
    bad("{\"email\":\"a@b.test\",\"role\":\"viewer\"}", 0, 422, "missing_field", "$.password");
    bad("{\"email\":\"a@b.test\",\"role\":\"viewer\",\"password\":\"short\"}", 0, 422,
        "invalid_field", "$.password");
    bad("{\"email\":\"a@b.test\",\"role\":\"viewer\",\"password\":\"pass-word-123\",\"admin\":1}",
        0, 422, "unknown_field", "$.admin");
    bad("{\"email\":\"not-an-email\",\"role\":\"viewer\",\"password\":\"pass-word-123\"}", 0, 422,
        "invalid_field", "$.email");
    bad("{\"email\":\"a@b.test\",\"role\":[\"admin\"],\"password\":\"pass-word-123\"}", 0, 422,
        "invalid_field", "$.role");
    bad("[1,2,3]", 0, 400, "invalid_body", "$");
    bad("{\"email\":", 0, 400, NULL, NULL);
    bad("\"\xff\xfe\"", 3, 400, NULL, NULL);
    bad("{\"email\":\"a\xc3\x28@b.test\",\"role\":\"viewer\",\"password\":\"pass-word-123\"}", 0,
        400, NULL, NULL);
    bad("{\"email\":\"a\\u0000b@b.test\",\"role\":\"viewer\",\"password\":\"pass-word-123\"}", 0,
        400, NULL, NULL);
    /* Oversized: past the server's body limit. */
    big = malloc(70000);
    memset(big, ' ', 69999);
    big[0] = '{';
    big[69998] = '}';
    big[69999] = '\0';
    bad(big, 0, 413, NULL, NULL);
    free(big);
    assert_int_equal(count_users(), before);

    /* Query strings. */
    {
        struct call q[] = {
            { "GET", "/api/v1/users", "/api/v1/users?limit=abc", W_ADMIN },
            { "GET", "/api/v1/users", "/api/v1/users?limit=0", W_ADMIN },
            { "GET", "/api/v1/users", "/api/v1/users?limit=201", W_ADMIN },
            { "GET", "/api/v1/users", "/api/v1/users?cursor=bm9wZQ", W_ADMIN },
            { "GET", "/api/v1/users", "/api/v1/users?role=x%27%20OR%20%271%27%3D%271", W_ADMIN },
            { "GET", "/api/v1/users", "/api/v1/users?sort=email", W_ADMIN },
            { "GET", "/api/v1/users", "/api/v1/users?disabled=maybe", W_ADMIN },
        };
        size_t i;
        for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
            assert_int_equal(call_status(&q[i]), 400);
        }
    }
    /* Ids that are not ids. */
    {
        struct call q = { "GET", "/api/v1/users/{id}", "/api/v1/users/1%20OR%201=1", W_ADMIN };
        assert_int_equal(call_status(&q), 404);
    }
}

static void test_api_sql_metacharacters_stored_verbatim(void **state)
{
    const char *meta = "Robert'); DROP TABLE users; -- \\\" %_ $1 ; SELECT pg_sleep(1)";
    char body[1024];
    struct call c = { "POST", "/api/v1/users", "/api/v1/users", W_ADMIN, body };
    char path[64];
    json_t *j, *e;
    int64_t id;
    (void)state;

    snprintf(body, sizeof(body),
             "{\"email\":\"o'hara;--@alpha.test\",\"display_name\":\"%s\",\"role\":\"viewer\","
             "\"password\":\"pass' OR '1'='1\"}",
             meta);
    j = call_json(&c, 201);
    id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)id);
    {
        struct call g = { "GET", "/api/v1/users/{id}", path, W_ADMIN };
        j = call_json(&g, 200);
    }
    e = json_loads("\"Robert'); DROP TABLE users; -- \\\" %_ $1 ; SELECT pg_sleep(1)\"",
                   JSON_DECODE_ANY, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "display_name")),
                        json_string_value(e));
    assert_string_equal(json_string_value(json_object_get(j, "email")), "o'hara;--@alpha.test");
    json_decref(e);
    json_decref(j);
    /* The table is still there and the odd password works. */
    assert_true(count_users() > 3);
    login("o'hara;--@alpha.test", "pass' OR '1'='1", W_ANON, NULL, 0);
    g_auth[W_ANON][0] = '\0';
    /* The other string fields: API key and tenant names. */
    {
        struct call k = { "POST", "/api/v1/api-keys", "/api/v1/api-keys", W_ADMIN,
                          "{\"name\":\"k'; DELETE FROM api_keys; --\",\"role\":\"viewer\"}" };
        struct call t = { "POST", "/api/v1/tenants", "/api/v1/tenants", W_OPERATOR,
                          "{\"slug\":\"meta-co\",\"name\":\"x'); DELETE FROM tenants; --\"}" };
        json_t *jk = call_json(&k, 201);
        json_t *jt = call_json(&t, 201);
        assert_string_equal(json_string_value(json_object_get(jk, "name")),
                            "k'; DELETE FROM api_keys; --");
        assert_string_equal(json_string_value(json_object_get(jt, "name")),
                            "x'); DELETE FROM tenants; --");
        json_decref(jk);
        json_decref(jt);
        assert_true(sql_int(g_admin_ci, "SELECT count(*) FROM api_keys") >= 4);
        assert_true(sql_int(g_admin_ci, "SELECT count(*) FROM tenants") >= 3);
    }
    /* A tenant slug with meta-characters is refused. */
    {
        struct call t = { "POST", "/api/v1/tenants", "/api/v1/tenants", W_OPERATOR,
                          "{\"slug\":\"a'; drop\",\"name\":\"x\"}" };
        assert_int_equal(call_status(&t), 422);
    }
}

/* ------------------------------------------------------ conventions */

static void test_api_idempotency_key(void **state)
{
    const char *b1 = "{\"name\":\"idem\",\"role\":\"viewer\"}";
    const char *b2 = "{\"name\":\"idem2\",\"role\":\"viewer\"}";
    struct call c1 = { "POST",
                       "/api/v1/api-keys",
                       "/api/v1/api-keys",
                       W_ADMIN,
                       b1,
                       0,
                       "Idempotency-Key: create-key-1" };
    struct call c2 = c1;
    struct t_resp r1, r2;
    char buf[16];
    int64_t before = sql_int(g_admin_ci, "SELECT count(*) FROM api_keys");
    (void)state;

    do_call(&c1, &r1);
    assert_int_equal(r1.status, 201);
    do_call(&c1, &r2);
    assert_int_equal(r2.status, 201);
    assert_non_null(t_header(&r2, "Idempotent-Replayed", buf, sizeof(buf)));
    /* The same answer, secret included; one key stored. */
    assert_true(json_equal(r1.json, r2.json));
    t_resp_free(&r1);
    t_resp_free(&r2);
    assert_int_equal(sql_int(g_admin_ci, "SELECT count(*) FROM api_keys"), before + 1);
    /* Same key, another body: 422, nothing stored. */
    c2.body = b2;
    do_call(&c2, &r2);
    assert_int_equal(r2.status, 422);
    assert_string_equal(t_err_code(&r2), "idempotency_key_reused");
    t_resp_free(&r2);
    assert_int_equal(sql_int(g_admin_ci, "SELECT count(*) FROM api_keys"), before + 1);
    /* Keys are per tenant: tenant B may use the same key. */
    c2.who = W_B_ADMIN;
    assert_int_equal(call_status(&c2), 201);
    /* A malformed key. */
    c1.hdr1 = "Idempotency-Key: has space";
    assert_int_equal(call_status(&c1), 400);
}

static void purge_on_thread(struct httpd *h, void *arg)
{
    (void)h;
    api__idem_purge(arg);
}

static void test_api_idempotency_keys_expire(void **state)
{
    int i;
    (void)state;

    {
        PGconn *c = tdb_connect(g_admin_ci);
        tdb_exec(c,
                 "INSERT INTO api_idempotency (tenant_id, idem_key, request_hash, created_at)"
                 " VALUES (%lld, 'old-key', repeat('a', 64), now() - interval '25 hours'),"
                 " (%lld, 'new-key', repeat('b', 64), now())",
                 (long long)g_tenant_a, (long long)g_tenant_b);
        PQfinish(c);
    }
    assert_int_equal(httpd_post(g_srv, purge_on_thread, g_api), 0);
    for (i = 0; i < 100; i++) {
        if (sql_int(g_admin_ci,
                    "SELECT count(*) FROM api_idempotency WHERE idem_key = 'old-key'") == 0) {
            break;
        }
        usleep(20 * 1000);
    }
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM api_idempotency WHERE idem_key = 'old-key'"), 0);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM api_idempotency WHERE idem_key = 'new-key'"), 1);
}

static void test_api_if_match(void **state)
{
    char path[64];
    struct t_resp r;
    char etag[64], hdr[96];
    int64_t id = create_user(W_ADMIN, "etag@alpha.test", "viewer");
    (void)state;

    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)id);
    {
        struct call g = { "GET", "/api/v1/users/{id}", path, W_ADMIN };
        do_call(&g, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(t_header(&r, "ETag", etag, sizeof(etag)));
        t_resp_free(&r);
    }
    snprintf(hdr, sizeof(hdr), "If-Match: %s", etag);
    {
        struct call p = { "PATCH", "/api/v1/users/{id}",           path,
                          W_ADMIN, "{\"display_name\":\"first\"}", 0,
                          hdr };
        json_t *j = call_json(&p, 200);
        json_decref(j);
        /* The same ETag again is stale now. */
        p.body = "{\"display_name\":\"second\"}";
        do_call(&p, &r);
        assert_int_equal(r.status, 412);
        assert_string_equal(t_err_code(&r), "precondition_failed");
        t_resp_free(&r);
        p.hdr1 = "If-Match: garbage";
        assert_int_equal(call_status(&p), 412);
    }
    {
        struct call g = { "GET", "/api/v1/users/{id}", path, W_ADMIN };
        json_t *j = call_json(&g, 200);
        assert_string_equal(json_string_value(json_object_get(j, "display_name")), "first");
        json_decref(j);
    }
}

static void test_api_pagination(void **state)
{
    char path[256];
    char cursor[128] = "";
    int64_t seen[64];
    int nseen = 0, pages = 0, i, k;
    int64_t total;
    (void)state;

    for (i = 0; i < 5; i++) {
        char email[64];
        snprintf(email, sizeof(email), "page%d@alpha.test", i);
        create_user(W_ADMIN, email, "viewer");
    }
    total = sql_int(g_admin_ci, "SELECT count(*) FROM users WHERE tenant_id = %lld",
                    (long long)g_tenant_a);
    for (pages = 0; pages < 40; pages++) {
        struct call c = { "GET", "/api/v1/users", path, W_ADMIN };
        json_t *j, *x;
        size_t n;
        snprintf(path, sizeof(path), "/api/v1/users?limit=2%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        j = call_json(&c, 200);
        assert_true(json_array_size(json_object_get(j, "items")) <= 2);
        json_array_foreach (json_object_get(j, "items"), n, x) {
            int64_t id = json_integer_value(json_object_get(x, "id"));
            for (k = 0; k < nseen; k++) {
                assert_true(seen[k] != id);
            }
            assert_true(nseen < 64);
            seen[nseen++] = id;
        }
        x = json_object_get(j, "next_cursor");
        if (json_is_null(x)) {
            json_decref(j);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(x));
        json_decref(j);
    }
    assert_int_equal(nseen, total);
    /* Filters. */
    {
        struct call c = { "GET", "/api/v1/users", "/api/v1/users?role=editor&limit=200", W_ADMIN };
        json_t *j = call_json(&c, 200), *x;
        size_t n;
        assert_true(json_array_size(json_object_get(j, "items")) >= 1);
        json_array_foreach (json_object_get(j, "items"), n, x) {
            assert_string_equal(json_string_value(json_object_get(x, "role")), "editor");
        }
        json_decref(j);
    }
}

static void test_api_request_id_and_errors(void **state)
{
    struct call c = {
        "GET", "/api/v1/me", "/api/v1/me", W_ANON, NULL, 0, "X-Request-Id: test-req-42"
    };
    struct t_resp r;
    char buf[64];
    (void)state;

    do_call(&c, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(t_header(&r, "X-Request-Id", buf, sizeof(buf)));
    assert_string_equal(buf, "test-req-42");
    assert_string_equal(t_err_code(&r), "unauthenticated");
    t_resp_free(&r);
}

static void test_api_admin_cannot_lock_self_out(void **state)
{
    char path[64];
    int64_t me;
    (void)state;

    me = sql_int(g_admin_ci, "SELECT id FROM users WHERE email = 'admin@alpha.test'");
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)me);
    {
        struct call p = { "PATCH", "/api/v1/users/{id}", path, W_ADMIN, "{\"role\":\"viewer\"}" };
        struct call d = { "DELETE", "/api/v1/users/{id}", path, W_ADMIN };
        assert_int_equal(call_status(&p), 422);
        assert_int_equal(call_status(&d), 422);
    }
}

static void test_api_disable_and_revoke(void **state)
{
    char r1[128], path[64];
    int64_t id = create_user(W_ADMIN, "leaver@alpha.test", "editor");
    int64_t kid;
    (void)state;

    login("leaver@alpha.test", "pass-word-123", W_ANON, r1, sizeof(r1));
    g_auth[W_ANON][0] = '\0';
    snprintf(path, sizeof(path), "/api/v1/users/%lld", (long long)id);
    {
        struct call d = { "DELETE", "/api/v1/users/{id}", path, W_ADMIN };
        assert_int_equal(call_status(&d), 204);
    }
    assert_int_equal(refresh_call(r1, "/api/v1/auth/refresh", "invalid_refresh_token"), 401);
    {
        char body[] = "{\"email\":\"leaver@alpha.test\",\"password\":\"pass-word-123\"}";
        struct call l = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, body };
        assert_int_equal(call_status(&l), 403);
    }
    /* A revoked API key stops working at once on this node. */
    kid = create_key(W_ADMIN, "viewer", W_KEY_VIEWER);
    {
        struct call me = { "GET", "/api/v1/me", "/api/v1/me", W_KEY_VIEWER };
        struct call rv = { "DELETE", "/api/v1/api-keys/{id}", path, W_ADMIN };
        assert_int_equal(sql_int(g_admin_ci,
                                 "SELECT count(*) FROM api_keys WHERE id = %lld AND "
                                 "last_used_at IS NULL",
                                 (long long)kid),
                         1);
        assert_int_equal(call_status(&me), 200);
        /* First use records the time (in the same round trip as the lookup). */
        assert_int_equal(sql_int(g_admin_ci,
                                 "SELECT count(*) FROM api_keys WHERE id = %lld AND "
                                 "last_used_at > now() - interval '1 minute'",
                                 (long long)kid),
                         1);
        snprintf(path, sizeof(path), "/api/v1/api-keys/%lld", (long long)kid);
        assert_int_equal(call_status(&rv), 204);
        assert_int_equal(call_status(&me), 401);
    }
}

static void test_api_tenants_by_operator(void **state)
{
    char path[64];
    json_t *j;
    struct t_resp r;
    char etag[64], hdr[96];
    int64_t id;
    (void)state;

    {
        struct call c = {
            "POST", "/api/v1/tenants", "/api/v1/tenants", W_OPERATOR,
            "{\"slug\":\"gamma\",\"name\":\"Gamma\",\"settings\":{\"limits\":{\"max_cps\":5}}}"
        };
        j = call_json(&c, 201);
        id = json_integer_value(json_object_get(j, "id"));
        assert_string_equal(json_string_value(json_object_get(j, "status")), "active");
        json_decref(j);
        assert_int_equal(call_status(&c), 409); /* slug taken */
    }
    snprintf(path, sizeof(path), "/api/v1/tenants/%lld", (long long)id);
    {
        struct call g = { "GET", "/api/v1/tenants/{id}", path, W_OPERATOR };
        do_call(&g, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(t_header(&r, "ETag", etag, sizeof(etag)));
        t_resp_free(&r);
    }
    snprintf(hdr, sizeof(hdr), "If-Match: %s", etag);
    {
        struct call p = { "PATCH",    "/api/v1/tenants/{id}",       path,
                          W_OPERATOR, "{\"status\":\"suspended\"}", 0,
                          hdr };
        j = call_json(&p, 200);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "suspended");
        json_decref(j);
    }
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM audit_log WHERE tenant_id IS NULL AND "
                             "object_id = '%lld' AND action IN ('tenant.create', 'tenant.update')",
                             (long long)id),
                     2);
    {
        struct call l = { "GET", "/api/v1/tenants", "/api/v1/tenants?status=suspended",
                          W_OPERATOR };
        j = call_json(&l, 200);
        assert_true(list_has_id(j, id));
        json_decref(j);
    }
}

/* ------------------------------------------------- lists and imports */

/* Creates a list as who; returns its id. */
static int64_t create_list(enum who who, const char *body)
{
    struct call c = { "POST", "/api/v1/lists", "/api/v1/lists", who, body, 0 };
    json_t *j = call_json(&c, 201);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

/* An error answer's field, checked with the status. */
static void expect_error(const struct call *c, long status, const char *code, const char *field)
{
    json_t *j = call_json(c, status);
    json_t *e = json_object_get(j, "error");
    if (code != NULL) {
        assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    }
    if (field != NULL) {
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    }
    json_decref(j);
}

static void test_api_lists_crud(void **state)
{
    char path[96], hdr[96];
    struct t_resp r;
    json_t *j;
    int64_t id, before;
    (void)state;

    id = create_list(W_EDITOR, "{\"name\":\"Spring leads\",\"dnc_mode\":\"mark\","
                               "\"allowed_countries\":[\"US\",\"CA\"],"
                               "\"settings\":{\"allow_fictional\":true,"
                               "\"default_time_zone\":\"America/Chicago\"}}");
    snprintf(path, sizeof(path), "/api/v1/lists/%lld", (long long)id);
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM contact_lists WHERE id = %lld AND dnc_mode ="
                             " 'mark' AND allowed_countries = '{US,CA}' AND"
                             " settings->>'default_time_zone' = 'America/Chicago' AND"
                             " (settings->>'allow_fictional')::bool",
                             (long long)id),
                     1);

    /* Bad input names the field, and nothing is stored. */
    before = sql_int(g_admin_ci, "SELECT count(*) FROM contact_lists");
    {
        struct call c = { "POST", "/api/v1/lists", "/api/v1/lists", W_EDITOR,
                          "{\"name\":\"x\",\"allowed_countries\":[\"US\",\"usa\"]}" };
        expect_error(&c, 422, "invalid_field", "$.allowed_countries[1]");
    }
    {
        struct call c = { "POST", "/api/v1/lists", "/api/v1/lists", W_EDITOR,
                          "{\"name\":\"x\",\"settings\":{\"allow_fictionl\":true}}" };
        expect_error(&c, 422, "unknown_field", "$.settings.allow_fictionl");
    }
    {
        struct call c = { "POST", "/api/v1/lists", "/api/v1/lists", W_EDITOR,
                          "{\"name\":\"x\",\"dnc_mode\":\"ignore\"}" };
        expect_error(&c, 422, "invalid_field", "$.dnc_mode");
    }
    {
        struct call c = { "POST", "/api/v1/lists", "/api/v1/lists", W_EDITOR,
                          "{\"description\":\"no name\"}" };
        expect_error(&c, 422, "missing_field", "$.name");
    }
    {
        struct call c = { "POST", "/api/v1/lists", "/api/v1/lists", W_EDITOR,
                          "{\"name\":\"Spring leads\"}" };
        expect_error(&c, 409, "conflict", NULL);
    }
    assert_int_equal(sql_int(g_admin_ci, "SELECT count(*) FROM contact_lists"), before);

    /* Read with ETag; a stale If-Match is refused, the current one applies. */
    {
        struct call g = { "GET", "/api/v1/lists/{id}", path, W_VIEWER };
        do_call(&g, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.headers.data, "ETag: \""));
        snprintf(hdr, sizeof(hdr), "If-Match: %.60s", strstr(r.headers.data, "ETag: ") + 6);
        *strpbrk(hdr, "\r\n") = '\0';
        assert_int_equal(json_integer_value(json_object_get(r.json, "contacts")), 0);
        t_resp_free(&r);
    }
    {
        struct call p = { "PATCH",
                          "/api/v1/lists/{id}",
                          path,
                          W_EDITOR,
                          "{\"dnc_mode\":\"reject\",\"allowed_countries\":[]}",
                          0,
                          hdr };
        j = call_json(&p, 200);
        assert_string_equal(json_string_value(json_object_get(j, "dnc_mode")), "reject");
        assert_int_equal(json_array_size(json_object_get(j, "allowed_countries")), 0);
        json_decref(j);
        /* The same (now stale) ETag again. */
        struct call p2 = { "PATCH",  "/api/v1/lists/{id}",      path,
                           W_EDITOR, "{\"dnc_mode\":\"mark\"}", 0,
                           hdr };
        expect_error(&p2, 412, "precondition_failed", "If-Match");
    }
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM contact_lists WHERE id = %lld AND"
                             " dnc_mode = 'reject'",
                             (long long)id),
                     1);

    /* Pagination visits every list once. */
    create_list(W_ADMIN, "{\"name\":\"Second\"}");
    create_list(W_ADMIN, "{\"name\":\"Third\"}");
    {
        char next[256] = "/api/v1/lists?limit=1";
        int pages = 0, seen = 0;
        while (pages < 20) {
            struct call l = { "GET", "/api/v1/lists", next, W_VIEWER };
            j = call_json(&l, 200);
            seen += (int)json_array_size(json_object_get(j, "items"));
            pages++;
            if (json_is_null(json_object_get(j, "next_cursor"))) {
                json_decref(j);
                break;
            }
            snprintf(next, sizeof(next), "/api/v1/lists?limit=1&cursor=%s",
                     json_string_value(json_object_get(j, "next_cursor")));
            json_decref(j);
        }
        assert_int_equal(seen, sql_int(g_admin_ci,
                                       "SELECT count(*) FROM contact_lists WHERE"
                                       " tenant_id = %lld",
                                       (long long)g_tenant_a));
        assert_true(seen >= 3);
    }

    /* Delete, then it is gone. */
    {
        struct call d = { "DELETE", "/api/v1/lists/{id}", path, W_EDITOR };
        assert_int_equal(call_status(&d), 204);
        struct call g = { "GET", "/api/v1/lists/{id}", path, W_EDITOR };
        expect_error(&g, 404, "not_found", NULL);
        assert_int_equal(call_status(&d), 404);
    }
}

static void test_api_lists_cross_tenant(void **state)
{
    char path[96], cpath[128], upath[128];

    enum who bs[2] = { W_B_ADMIN, W_B_KEY };

    int64_t id;
    int i;
    (void)state;

    id = create_list(W_ADMIN, "{\"name\":\"Tenant A only\"}");
    snprintf(path, sizeof(path), "/api/v1/lists/%lld", (long long)id);
    snprintf(cpath, sizeof(cpath), "/api/v1/lists/%lld/contacts", (long long)id);
    snprintf(upath, sizeof(upath), "/api/v1/lists/%lld/uploads", (long long)id);
    for (i = 0; i < 2; i++) {
        struct call g = { "GET", "/api/v1/lists/{id}", path, bs[i] };
        struct call p = { "PATCH", "/api/v1/lists/{id}", path, bs[i], "{\"name\":\"taken\"}" };
        struct call d = { "DELETE", "/api/v1/lists/{id}", path, bs[i] };
        struct call c = { "GET", "/api/v1/lists/{id}/contacts", cpath, bs[i] };
        struct call b = { "POST", "/api/v1/lists/{id}/contacts", cpath, bs[i],
                          "{\"upload_id\":\"x1\",\"items\":[{\"phone\":\"4155552671\"}]}" };
        struct call l = { "GET", "/api/v1/lists", "/api/v1/lists?limit=200", bs[i] };
        json_t *j;
        assert_int_equal(call_status(&g), 404);
        assert_int_equal(call_status(&p), 404);
        assert_int_equal(call_status(&d), 404);
        assert_int_equal(call_status(&c), 404);
        assert_int_equal(call_status(&b), 404);
        j = call_json(&l, 200);
        assert_false(list_has_id(j, id));
        json_decref(j);
        {
            const char *hdrs[] = { g_auth[bs[i]], "Content-Type: text/csv", "Upload-Id: x2", NULL };
            struct t_req rq = { .method = "POST", .body = "phone\n4155552671\n", .hdrs = hdrs };
            struct t_resp r;
            char url[256];
            snprintf(url, sizeof(url), "%s%s", g_base, upath);
            assert_int_equal(t_http(url, &rq, &r), CURLE_OK);
            assert_int_equal(r.status, 404);
            t_resp_free(&r);
        }
    }
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM contact_lists WHERE id = %lld AND name ="
                             " 'Tenant A only'",
                             (long long)id),
                     1);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)id),
        0);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM import_jobs WHERE list_id = %lld", (long long)id),
        0);
}

/*
 * POSTs a file to /lists/{id}/uploads with one more header (NULL: none);
 * returns the parsed answer (checked against the contract) and, when loc is
 * not NULL, its Location header.
 */
static json_t *upload_ex(enum who who, int64_t list, const char *upload_id, const char *ctype,
                         const char *body, size_t len, bool chunked, long want, const char *extra,
                         char *loc, size_t loc_size)
{
    char url[256], uid[160], ct[200], err[512];
    const char *hdrs[6];
    int n = 0;
    struct t_resp r;
    json_t *j;

    snprintf(url, sizeof(url), "%s/api/v1/lists/%lld/uploads", g_base, (long long)list);
    hdrs[n++] = g_auth[who];
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
    hdrs[n++] = ct;
    if (upload_id != NULL) {
        snprintf(uid, sizeof(uid), "Upload-Id: %s", upload_id);
        hdrs[n++] = uid;
    }
    if (extra != NULL) {
        hdrs[n++] = extra;
    }
    hdrs[n] = NULL;
    struct t_req rq = { .method = "POST",
                        .body = body,
                        .body_len = len,
                        .hdrs = hdrs,
                        .chunked = chunked,
                        .timeout_ms = 60000 };
    assert_int_equal(t_http(url, &rq, &r), CURLE_OK);
    if (loc != NULL && t_header(&r, "Location", loc, loc_size) == NULL) {
        loc[0] = '\0';
    }
    if (r.status != want) {
        fprintf(stderr, "upload: want %ld, got %ld: %s\n", want, r.status,
                r.body.data != NULL ? r.body.data : "");
        fail();
    }
    if (!tapi_check_response(g_spec, "POST", "/api/v1/lists/{id}/uploads", r.status, r.body.data,
                             r.body.len, err, sizeof(err))) {
        fprintf(stderr, "contract: %s\n", err);
        fail();
    }
    j = json_incref(r.json);
    t_resp_free(&r);
    return j;
}

static json_t *upload(enum who who, int64_t list, const char *upload_id, const char *ctype,
                      const char *body, size_t len, bool chunked, long want)
{
    return upload_ex(who, list, upload_id, ctype, body, len, chunked, want, NULL, NULL, 0);
}

static char *make_csv(int rows, size_t *len)
{
    size_t cap = (size_t)rows * 64 + 128, n = 0;
    char *s = malloc(cap);
    int i;
    assert_non_null(s);
    n += (size_t)snprintf(s + n, cap - n, "Phone Number,First Name,Notes\r\n");
    for (i = 0; i < rows; i++) {
        /* 312-2XX-XXXX: Chicago, valid NANP. */
        n += (size_t)snprintf(s + n, cap - n, "(312) %03d-%04d,Name %d,\"note, %d\"\r\n",
                              200 + i / 10000, i % 10000, i, i);
    }
    *len = n;
    return s;
}

static void test_api_upload_csv_chunked(void **state)
{
    enum who fresh = W_KEY_EDITOR;
    char path[128];
    size_t len;
    char *csv;
    json_t *j, *job;
    int64_t list;
    const char *job_id;
    (void)state;

    list = create_list(W_EDITOR, "{\"name\":\"Upload target\"}");
    /* A key never used before: its database lookup runs while the body arrives. */
    create_key(W_ADMIN, "editor", fresh);
    csv = make_csv(3000, &len);
    j = upload(fresh, list, "spring-1", "text/csv", csv, len, true, 201);
    job = json_object_get(j, "job");
    assert_string_equal(json_string_value(json_object_get(job, "state")), "completed");
    assert_int_equal(json_integer_value(json_object_get(job, "rows_read")), 3000);
    assert_int_equal(json_integer_value(json_object_get(job, "rows_accepted")), 3000);
    assert_false(json_is_true(json_object_get(job, "replayed")));
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        3000);
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM contacts WHERE list_id = %lld AND number ="
                             " '+13122000005' AND custom->>'Notes' = 'note, 5'",
                             (long long)list),
                     1);
    job_id = json_string_value(json_object_get(job, "id"));
    snprintf(path, sizeof(path), "/api/v1/imports/%s", job_id);

    /* Retry with the same Upload-Id (not chunked this time): replayed, no duplicates. */
    {
        json_t *j2 = upload(W_EDITOR, list, "spring-1", "text/csv", csv, len, false, 200);
        assert_true(json_is_true(json_object_get(json_object_get(j2, "job"), "replayed")));
        json_decref(j2);
    }
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        3000);
    assert_int_equal(sql_int(g_admin_ci, "SELECT count(*) FROM import_jobs WHERE list_id = %lld",
                             (long long)list),
                     1);
    free(csv);

    /* The job: readable, listed, not cancellable once ended, invisible to tenant B. */
    {
        struct call g = { "GET", "/api/v1/imports/{job}", path, W_VIEWER };
        json_t *x = call_json(&g, 200);
        assert_string_equal(json_string_value(json_object_get(x, "state")), "completed");
        assert_int_equal(json_integer_value(json_object_get(x, "percent")), 100);
        json_decref(x);
        struct call d = { "DELETE", "/api/v1/imports/{job}", path, W_EDITOR };
        expect_error(&d, 409, "not_running", NULL);
        struct call gb = { "GET", "/api/v1/imports/{job}", path, W_B_ADMIN };
        assert_int_equal(call_status(&gb), 404);
        char lpath[128];
        snprintf(lpath, sizeof(lpath), "/api/v1/lists/%lld/imports", (long long)list);
        struct call l = { "GET", "/api/v1/lists/{id}/imports", lpath, W_VIEWER };
        x = call_json(&l, 200);
        assert_int_equal(json_array_size(json_object_get(x, "items")), 1);
        json_decref(x);
    }

    /* Contacts: paged and filtered. */
    {
        char cpath[160];
        snprintf(cpath, sizeof(cpath), "/api/v1/lists/%lld/contacts?number=%%2B13122000005",
                 (long long)list);
        struct call c = { "GET", "/api/v1/lists/{id}/contacts", cpath, W_VIEWER };
        json_t *x = call_json(&c, 200);
        assert_int_equal(json_array_size(json_object_get(x, "items")), 1);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(x, "items"), 0), "number")),
                            "+13122000005");
        json_decref(x);
        snprintf(cpath, sizeof(cpath), "/api/v1/lists/%lld/contacts?state=bogus", (long long)list);
        struct call bad = { "GET", "/api/v1/lists/{id}/contacts", cpath, W_VIEWER };
        expect_error(&bad, 400, "invalid_parameter", "?state");
    }
    json_decref(j);
}

/*
 * A long import is answered 202 with its running job and Location instead of
 * keeping the client until the HTTP server's deadline answers 503; the
 * import goes on, and GET on the Location tells its end. "Prefer:
 * respond-async" asks for the 202 at once (the same path as
 * api.import-wait's timer, at 0).
 */
static void test_api_upload_long_import_answers_202(void **state)
{
    char loc[256], want[128];
    size_t len;
    (void)state;
    int64_t list = create_list(W_EDITOR, "{\"name\":\"Big upload\"}");
    char *csv = make_csv(40000, &len);
    json_t *j = upload_ex(W_EDITOR, list, "big-1", "text/csv", csv, len, false, 202,
                          "Prefer: respond-async", loc, sizeof(loc));
    json_t *job = json_object_get(j, "job");
    const char *state_now = json_string_value(json_object_get(job, "state"));
    assert_true(strcmp(state_now, "running") == 0 || strcmp(state_now, "pending") == 0);
    assert_false(json_is_true(json_object_get(job, "replayed")));
    const char *id = json_string_value(json_object_get(job, "id"));
    assert_non_null(id);
    snprintf(want, sizeof(want), "/api/v1/imports/%s", id);
    assert_string_equal(loc, want);
    /* the import goes on without the client: GET on the Location until it ends (bounded) */
    json_t *x = NULL;
    for (int i = 0; i < 600; i++) {
        struct call g = { "GET", "/api/v1/imports/{job}", loc, W_VIEWER };
        json_decref(x);
        x = call_json(&g, 200);
        const char *st = json_string_value(json_object_get(x, "state"));
        if (strcmp(st, "running") != 0 && strcmp(st, "pending") != 0) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_string_equal(json_string_value(json_object_get(x, "state")), "completed");
    assert_int_equal(json_integer_value(json_object_get(x, "rows_accepted")), 40000);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        40000);
    json_decref(x);
    /* the same upload again: the finished job, 200 replayed, nothing imported twice */
    json_t *j2 = upload(W_EDITOR, list, "big-1", "text/csv", csv, len, false, 200);
    assert_true(json_is_true(json_object_get(json_object_get(j2, "job"), "replayed")));
    json_decref(j2);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        40000);
    json_decref(j);
    free(csv);
}

static void test_api_upload_multipart(void **state)
{
    static const char body[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
        "ignored field\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"leads.csv\"\r\n"
        "Content-Type: text/csv\r\n\r\n"
        "phone;name;Comment\r\n"
        "+1 415 555 2671;Ann;=HYPERLINK(\"x\")\r\n"
        "415.555.2672;Bob;ok\r\n"
        "not a number;Cy;=1+2\r\n"
        "(415) 555-2671;Dup;again\r\n"
        "--XyZ--\r\n";
    char path[128];
    struct t_resp r;
    json_t *j, *job;
    int64_t list;
    (void)state;

    list = create_list(W_EDITOR, "{\"name\":\"Browser form\"}");
    j = upload(W_EDITOR, list, "form-1", "multipart/form-data; boundary=XyZ", body,
               sizeof(body) - 1, false, 201);
    job = json_object_get(j, "job");
    assert_int_equal(json_integer_value(json_object_get(job, "rows_accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(job, "rows_rejected")), 2);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(job, "rejected_by_reason"), "duplicate")),
                     1);
    snprintf(path, sizeof(path), "/api/v1/imports/%s/rejects.csv",
             json_string_value(json_object_get(job, "id")));
    /* The rejects CSV: the original values, formula cells neutralised. */
    {
        struct call c = { "GET", "/api/v1/imports/{job}/rejects.csv", path, W_VIEWER };
        c.no_spec = true;
        do_call(&c, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.headers.data, "text/csv"));
        assert_non_null(strstr(r.body.data, "invalid_number"));
        assert_non_null(strstr(r.body.data, "'=1+2"));
        assert_null(strstr(r.body.data, ",=1+2"));
        assert_non_null(strstr(r.body.data, "duplicate"));
        t_resp_free(&r);
        struct call b = { "GET", "/api/v1/imports/{job}/rejects.csv", path, W_B_ADMIN };
        b.no_spec = true;
        assert_int_equal(call_status(&b), 404);
    }
    json_decref(j);
}

static void test_api_upload_bad_input(void **state)
{
    static const char truncated[] = "phone,name\n4155552671,Ann\n4155552672,\"Bob\n";
    static const char nophone[] = "name,city\nAnn,Paris\n";
    json_t *j;
    const char *msg;
    int64_t list;
    (void)state;

    list = create_list(W_EDITOR, "{\"name\":\"Bad files\"}");
    j = upload(W_EDITOR, list, "bad-1", "text/csv", truncated, sizeof(truncated) - 1, true, 422);
    msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(strstr(msg, "record 3"));
    json_decref(j);
    j = upload(W_EDITOR, list, "bad-2", "text/csv", nophone, sizeof(nophone) - 1, false, 422);
    msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(strstr(msg, "no phone column"));
    json_decref(j);
    j = upload(W_EDITOR, list, "bad-3", "text/csv", "\x00\x01\x02binary", 9, false, 422);
    json_decref(j);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        0);
    /* Request errors before any byte is imported. */
    j = upload(W_EDITOR, list, NULL, "text/csv", nophone, sizeof(nophone) - 1, false, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                        "Upload-Id");
    json_decref(j);
    j = upload(W_EDITOR, list, "bad-4", "application/pdf", nophone, sizeof(nophone) - 1, false,
               415);
    json_decref(j);
    j = upload(W_VIEWER, list, "bad-5", "text/csv", nophone, sizeof(nophone) - 1, false, 403);
    json_decref(j);
    j = upload(W_EDITOR, 999999, "bad-6", "text/csv", nophone, sizeof(nophone) - 1, false, 404);
    json_decref(j);
}

/* A raw connection that sends an upload's head and first rows, and then waits. */
static int open_partial_upload(int64_t list, const char *upload_id, const char *first)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char head[1024];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int n;

    assert_true(fd >= 0);
    sa.sin_port = htons((uint16_t)httpd_port(g_srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = snprintf(head, sizeof(head),
                 "POST /api/v1/lists/%lld/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                 "Content-Type: text/csv\r\nUpload-Id: %s\r\nContent-Length: 1000000\r\n\r\n%s",
                 (long long)list, g_auth[W_EDITOR], upload_id, first);
    assert_int_equal(write(fd, head, (size_t)n), n);
    return fd;
}

/* The id of the list's running import, waiting (bounded) for its claim. */
static char *running_job(int64_t list)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/lists/%lld/imports", (long long)list);
    for (int i = 0; i < 200; i++) {
        struct call l = { "GET", "/api/v1/lists/{id}/imports", path, W_VIEWER };
        json_t *j = call_json(&l, 200);
        json_t *it;
        size_t k;
        json_array_foreach (json_object_get(j, "items"), k, it) {
            if (strcmp(json_string_value(json_object_get(it, "state")), "running") == 0) {
                char *id = strdup(json_string_value(json_object_get(it, "id")));
                json_decref(j);
                return id;
            }
        }
        json_decref(j);
        usleep(20 * 1000);
    }
    fail_msg("the upload never started");
    return NULL;
}

static void test_api_upload_cancel(void **state)
{
    char path[128], buf[4096];
    int64_t list;
    ssize_t got = 0, n;
    char *job;
    int fd;
    (void)state;

    list = create_list(W_EDITOR, "{\"name\":\"Cancelled\"}");
    /* 1. DELETE /imports/{job} while the body is still arriving: 202, the upload answers 409,
     *    nothing is imported. */
    fd = open_partial_upload(list, "cancel-1", "phone\r\n4155552671\r\n4155552672\r\n");
    job = running_job(list);
    snprintf(path, sizeof(path), "/api/v1/imports/%s", job);
    {
        struct call d = { "DELETE", "/api/v1/imports/{job}", path, W_EDITOR };
        struct call db = { "DELETE", "/api/v1/imports/{job}", path, W_B_ADMIN };
        assert_int_equal(call_status(&db), 404); /* another tenant cannot */
        json_decref(call_json(&d, 202));
    }
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (got < (ssize_t)sizeof(buf) - 1 &&
           (n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0) {
        got += n;
        buf[got] = '\0';
        if (strstr(buf, "cancelled") != NULL) {
            break;
        }
    }
    buf[got > 0 ? got : 0] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 409"));
    close(fd);
    for (int i = 0; i < 200 && sql_int(g_admin_ci,
                                       "SELECT count(*) FROM import_jobs WHERE id = '%s' AND"
                                       " state = 'cancelled'",
                                       job) == 0;
         i++) {
        usleep(20 * 1000);
    }
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM import_jobs WHERE id = '%s' AND state ="
                             " 'cancelled'",
                             job),
                     1);
    free(job);

    /* 2. The client leaving before the body is complete cancels as well. */
    fd = open_partial_upload(list, "cancel-2", "phone\r\n4155552673\r\n");
    job = running_job(list);
    close(fd);
    for (int i = 0; i < 200 && sql_int(g_admin_ci,
                                       "SELECT count(*) FROM import_jobs WHERE id = '%s' AND"
                                       " state = 'cancelled'",
                                       job) == 0;
         i++) {
        usleep(20 * 1000);
    }
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM import_jobs WHERE id = '%s' AND state ="
                             " 'cancelled'",
                             job),
                     1);
    free(job);
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        0);
}

static void test_api_contacts_batch(void **state)
{
    char path[128];
    json_t *j, *items;
    int64_t list;
    (void)state;

    list = create_list(W_EDITOR, "{\"name\":\"CRM batch\"}");
    snprintf(path, sizeof(path), "/api/v1/lists/%lld/contacts", (long long)list);
    {
        struct call c = {
            "POST", "/api/v1/lists/{id}/contacts", path, W_KEY_EDITOR,
            "{\"upload_id\":\"crm-7\",\"items\":[{\"phone\":\"(415) 555-2671\","
            "\"first_name\":\"Ann\"},{\"phone\":\"555\"},{\"phone\":\"415 555 2671\"}]}"
        };
        j = call_json(&c, 200);
        items = json_object_get(j, "items");
        assert_int_equal(json_array_size(items), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "status")),
                            "accepted");
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "status")),
                            "rejected");
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "reason")),
                            "invalid_number");
        json_decref(j);
        /* The same batch again: replayed, nothing new. */
        j = call_json(&c, 200);
        assert_true(json_is_true(json_object_get(json_object_get(j, "job"), "replayed")));
        json_decref(j);
    }
    assert_int_equal(
        sql_int(g_admin_ci, "SELECT count(*) FROM contacts WHERE list_id = %lld", (long long)list),
        1);
    {
        struct call c = { "POST", "/api/v1/lists/{id}/contacts", path, W_EDITOR,
                          "{\"upload_id\":\"crm-8\",\"items\":[1,2]}" };
        expect_error(&c, 422, "invalid_field", "$.items");
        struct call m = { "POST", "/api/v1/lists/{id}/contacts", path, W_EDITOR,
                          "{\"upload_id\":\"crm-9\"}" };
        expect_error(&m, 422, "missing_field", "$.items");
    }
}

/* ------------------------------------------------------------- flows */

#define FLOW_GOOD(text)                                                                     \
    "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"                                 \
    "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"h\"}},"                                 \
    "\"h\":{\"type\":\"say\",\"props\":{\"text\":\"" text "\"},\"next\":{\"done\":\"e\"}}," \
    "\"e\":{\"type\":\"hangup\"}}}"
#define FLOW_BAD                                            \
    "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{" \
    "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"nowhere\"}}}}"

static void test_api_flows_draft_publish(void **state)
{
    char path[96], sub[160], hdr[96];
    struct t_resp r;
    json_t *j;
    int64_t id;
    (void)state;

    /* An invalid draft is stored with its report; publishing is refused with the errors. */
    {
        struct call c = { "POST", "/api/v1/flows", "/api/v1/flows", W_EDITOR,
                          "{\"name\":\"Main menu\",\"definition\":" FLOW_BAD "}" };
        j = call_json(&c, 201);
        assert_false(json_is_true(json_object_get(j, "valid")));
        assert_true(json_array_size(json_object_get(json_object_get(j, "report"), "errors")) > 0);
        id = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
    }
    snprintf(path, sizeof(path), "/api/v1/flows/%lld", (long long)id);
    snprintf(sub, sizeof(sub), "%s/publish", path);
    {
        struct call p = { "POST", "/api/v1/flows/{id}/publish", sub, W_EDITOR,
                          "{\"message\":\"first\"}" };
        j = call_json(&p, 422);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                            "flow_invalid");
        assert_true(json_array_size(json_object_get(json_object_get(j, "report"), "errors")) > 0);
        json_decref(j);
    }
    assert_int_equal(sql_int(g_admin_ci,
                             "SELECT count(*) FROM ivr_flow_revisions WHERE"
                             " flow_id = %lld",
                             (long long)id),
                     0);

    /* PUT the fixed draft with If-Match: valid, then publish twice -> revisions 1 and 2. */
    {
        struct call g = { "GET", "/api/v1/flows/{id}", path, W_VIEWER };
        do_call(&g, &r);
        assert_int_equal(r.status, 200);
        snprintf(hdr, sizeof(hdr), "If-Match: %.60s", strstr(r.headers.data, "ETag: ") + 6);
        *strpbrk(hdr, "\r\n") = '\0';
        t_resp_free(&r);
        struct call p = { "PUT",
                          "/api/v1/flows/{id}",
                          path,
                          W_EDITOR,
                          "{\"definition\":" FLOW_GOOD("Version one") "}",
                          0,
                          hdr };
        j = call_json(&p, 200);
        assert_true(json_is_true(json_object_get(j, "valid")));
        json_decref(j);
        expect_error(&p, 412, "precondition_failed", "If-Match");
    }
    {
        struct call p = { "POST", "/api/v1/flows/{id}/publish", sub, W_EDITOR,
                          "{\"message\":\"first\"}" };
        j = call_json(&p, 201);
        assert_int_equal(json_integer_value(json_object_get(j, "revision")), 1);
        json_decref(j);
        struct call u = { "PUT", "/api/v1/flows/{id}", path, W_EDITOR,
                          "{\"definition\":" FLOW_GOOD("Version two") "}" };
        j = call_json(&u, 200);
        json_decref(j);
        j = call_json(&p, 201);
        assert_int_equal(json_integer_value(json_object_get(j, "revision")), 2);
        json_decref(j);
        /* A viewer may read but not publish. */
        struct call v = { "POST", "/api/v1/flows/{id}/publish", sub, W_VIEWER, "{}" };
        assert_int_equal(call_status(&v), 403);
    }
    {
        char rp[160];
        snprintf(rp, sizeof(rp), "%s/revisions", path);
        struct call l = { "GET", "/api/v1/flows/{id}/revisions", rp, W_VIEWER };
        j = call_json(&l, 200);
        assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
        assert_true(json_is_true(
            json_object_get(json_array_get(json_object_get(j, "items"), 1), "published")));
        json_decref(j);
        snprintf(rp, sizeof(rp), "%s/revisions/1", path);
        struct call g = { "GET", "/api/v1/flows/{id}/revisions/{rev}", rp, W_VIEWER };
        j = call_json(&g, 200);
        {
            char *t = json_dumps(json_object_get(j, "definition"), JSON_COMPACT);
            assert_non_null(strstr(t, "Version one"));
            free(t);
        }
        json_decref(j);
        snprintf(rp, sizeof(rp), "%s/revisions/9", path);
        struct call n = { "GET", "/api/v1/flows/{id}/revisions/{rev}", rp, W_VIEWER };
        assert_int_equal(call_status(&n), 404);
    }

    /* Simulate the draft and revision 1. */
    {
        char sp[160];
        snprintf(sp, sizeof(sp), "%s/simulate", path);
        struct call s = { "POST", "/api/v1/flows/{id}/simulate", sp, W_VIEWER,
                          "{\"script\":\"\",\"revision\":1}" };
        j = call_json(&s, 200);
        char *t = json_dumps(j, JSON_COMPACT);
        assert_non_null(strstr(t, "Version one"));
        free(t);
        json_decref(j);
        struct call bad = { "POST", "/api/v1/flows/{id}/simulate", sp, W_VIEWER,
                            "{\"script\":\"on s; frobnicate 3\"}" };
        expect_error(&bad, 422, "invalid_field", "$.script");
    }

    /* Export, import as a new flow, delete; another tenant sees nothing. */
    {
        char ep[160];
        snprintf(ep, sizeof(ep), "%s/export", path);
        struct call e = { "GET", "/api/v1/flows/{id}/export", ep, W_VIEWER };
        j = call_json(&e, 200);
        json_object_set_new(j, "name", json_string("Main menu (copy)"));
        char *t = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        struct call i = { "POST", "/api/v1/flows/import", "/api/v1/flows/import", W_EDITOR, t };
        j = call_json(&i, 201);
        assert_true(json_is_true(json_object_get(j, "valid")));
        json_decref(j);
        free(t);
    }
    {
        enum who bs[2] = { W_B_ADMIN, W_B_KEY };

        for (int k = 0; k < 2; k++) {
            struct call g = { "GET", "/api/v1/flows/{id}", path, bs[k] };
            struct call p = { "PUT", "/api/v1/flows/{id}", path, bs[k],
                              "{\"definition\":" FLOW_BAD "}" };
            struct call pub = { "POST", "/api/v1/flows/{id}/publish", sub, bs[k], "{}" };
            struct call d = { "DELETE", "/api/v1/flows/{id}", path, bs[k] };
            assert_int_equal(call_status(&g), 404);
            assert_int_equal(call_status(&p), 404);
            assert_int_equal(call_status(&pub), 404);
            assert_int_equal(call_status(&d), 404);
        }
        assert_int_equal(sql_int(g_admin_ci,
                                 "SELECT count(*) FROM ivr_flows WHERE id = %lld AND"
                                 " draft_valid AND latest_revision = 2",
                                 (long long)id),
                         1);
    }
    {
        struct call d = { "DELETE", "/api/v1/flows/{id}", path, W_EDITOR };
        assert_int_equal(call_status(&d), 204);
        struct call g = { "GET", "/api/v1/flows/{id}", path, W_EDITOR };
        assert_int_equal(call_status(&g), 404);
    }
}

/* An error answer's status, code and message. */
static void expect_message(const struct call *c, long status, const char *code, const char *msg)
{
    json_t *j = call_json(c, status);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_string_equal(json_string_value(json_object_get(e, "message")), msg);
    json_decref(j);
}

/*
 * The answers of the "one object by id" routes (read and delete) of lists, flows, webhooks
 * and DNC lists: 404 naming the kind of object for an id with no row (another tenant's
 * included) and "no such object" for a path id that is not one; an object found comes with
 * its ETag; a flow that a campaign uses is not deleted (409, saying why) and stays readable.
 */
static void test_api_by_id_answers(void **state)
{
    static const struct {
        const char *pattern, *prefix, *missing;
    } kinds[] = {
        { "/api/v1/lists/{id}", "/api/v1/lists/", "no such list" },
        { "/api/v1/flows/{id}", "/api/v1/flows/", "no such flow" },
        { "/api/v1/webhooks/{id}", "/api/v1/webhooks/", "no such webhook" },
    };

    char path[160], ep[180];
    int64_t flow, list, other;
    (void)state;

    other = sql_int(g_admin_ci,
                    "INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, 'b by id')"
                    " RETURNING id",
                    (long long)g_tenant_b);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        snprintf(path, sizeof(path), "%s987654321", kinds[k].prefix);
        struct call g = { "GET", kinds[k].pattern, path, W_ADMIN };
        struct call d = { "DELETE", kinds[k].pattern, path, W_ADMIN };
        expect_message(&g, 404, "not_found", kinds[k].missing);
        expect_message(&d, 404, "not_found", kinds[k].missing);
        snprintf(path, sizeof(path), "%sx1", kinds[k].prefix);
        struct call bad = { "GET", kinds[k].pattern, path, W_ADMIN };
        expect_message(&bad, 404, "not_found", "no such object");
    }
    {
        struct call g = { "GET", "/api/v1/dnc/lists/{id}", "/api/v1/dnc/lists/987654321", W_ADMIN };
        expect_message(&g, 404, "not_found", "no such DNC list");
        struct call e = { "GET", "/api/v1/flows/{id}/export", "/api/v1/flows/987654321/export",
                          W_ADMIN };
        expect_message(&e, 404, "not_found", "no such flow");
        snprintf(path, sizeof(path), "/api/v1/lists/%lld", (long long)other);
        struct call x = { "GET", "/api/v1/lists/{id}", path, W_ADMIN };
        expect_message(&x, 404, "not_found", "no such list");
    }

    /* Found: the object with its ETag. A flow a campaign uses is not deleted (409). */
    flow = sql_int(g_admin_ci,
                   "INSERT INTO ivr_flows (tenant_id, name) VALUES (%lld, 'by id') RETURNING id",
                   (long long)g_tenant_a);
    list = create_list(W_ADMIN, "{\"name\":\"by id\"}");
    assert_int_equal(sql_int(g_admin_ci,
                             "INSERT INTO campaigns (tenant_id, name, flow_id)"
                             " VALUES (%lld, 'by id', %lld) RETURNING 1",
                             (long long)g_tenant_a, (long long)flow),
                     1);
    snprintf(path, sizeof(path), "/api/v1/lists/%lld", (long long)list);
    {
        struct call g = { "GET", "/api/v1/lists/{id}", path, W_ADMIN };
        struct t_resp r;
        char etag[64];
        do_call(&g, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "id")), list);
        assert_string_equal(json_string_value(json_object_get(r.json, "name")), "by id");
        assert_non_null(t_header(&r, "ETag", etag, sizeof(etag)));
        t_resp_free(&r);
    }
    snprintf(path, sizeof(path), "/api/v1/flows/%lld", (long long)flow);
    snprintf(ep, sizeof(ep), "%s/export", path);
    {
        struct call d = { "DELETE", "/api/v1/flows/{id}", path, W_ADMIN };
        expect_message(&d, 409, "conflict", "a campaign or extension uses this flow");
        struct call g = { "GET", "/api/v1/flows/{id}", path, W_ADMIN };
        json_t *j = call_json(&g, 200);
        assert_string_equal(json_string_value(json_object_get(j, "name")), "by id");
        json_decref(j);
        struct call e = { "GET", "/api/v1/flows/{id}/export", ep, W_ADMIN };
        j = call_json(&e, 200);
        assert_string_equal(json_string_value(json_object_get(j, "format")), "ivrflow-export/1");
        json_decref(j);
    }
}

static void test_api_flows_validate_and_templates(void **state)
{
    json_t *j;
    (void)state;
    {
        struct call v = { "POST", "/api/v1/flows/validate", "/api/v1/flows/validate", W_VIEWER,
                          "{\"definition\":" FLOW_BAD "}" };
        j = call_json(&v, 200);
        assert_false(json_is_true(json_object_get(j, "valid")));
        json_decref(j);
        struct call ok = { "POST", "/api/v1/flows/validate", "/api/v1/flows/validate", W_VIEWER,
                           "{\"definition\":" FLOW_GOOD("hi") "}" };
        j = call_json(&ok, 200);
        assert_true(json_is_true(json_object_get(j, "valid")));
        json_decref(j);
        struct call m = { "POST", "/api/v1/flows/validate", "/api/v1/flows/validate", W_VIEWER,
                          "{\"definition\":[1]}" };
        expect_error(&m, 422, "invalid_field", "$.definition");
    }
    {
        struct call l = { "GET", "/api/v1/flows/templates", "/api/v1/flows/templates", W_VIEWER };
        j = call_json(&l, 200);
        assert_true(json_array_size(json_object_get(j, "items")) >= 7);
        json_decref(j);
        struct call t = { "POST", "/api/v1/flows/from-template/{name}",
                          "/api/v1/flows/from-template/support_queue", W_EDITOR,
                          "{\"name\":\"Support line\",\"params\":{\"company\":\"Globex\"}}" };
        j = call_json(&t, 201);
        assert_true(json_is_true(json_object_get(j, "valid")));
        json_decref(j);
        assert_int_equal(sql_int(g_admin_ci, "SELECT count(*) FROM ivr_flows WHERE name ="
                                             " 'Support line' AND draft::text LIKE '%%Globex%%'"),
                         1);
        struct call u = { "POST", "/api/v1/flows/from-template/{name}",
                          "/api/v1/flows/from-template/no_such", W_EDITOR, "{\"name\":\"x\"}" };
        assert_int_equal(call_status(&u), 404);
    }
}

/* ------------------------------------------------------- compliance */

static json_t *check(const char *query, long want)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/compliance/check?%s", query);
    struct call c = { "GET", "/api/v1/compliance/check", path, W_VIEWER };
    return call_json(&c, want);
}

static void test_api_compliance_check(void **state)
{
    json_t *j;
    char *t;
    (void)state;

    /* Paris at 04:00 local time: outside the window, with the next eligible time. */
    j = check("number=%2B33142685300&at=2026-11-24T03:00:00Z", 200);
    t = json_dumps(j, JSON_COMPACT);
    assert_false(json_is_true(json_object_get(j, "allowed")));
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "window");
    assert_string_equal(json_string_value(json_object_get(j, "decided_by")), "fr-hours");
    /* 10:00 in Paris. */
    assert_string_equal(json_string_value(json_object_get(j, "next_eligible")),
                        "2026-11-24T09:00:00.000Z");
    assert_null(strstr(t, "33142685300")); /* the number is masked */
    free(t);
    json_decref(j);
    /* The same number at 15:00 local time (RFC 3339 with an offset): allowed. */
    j = check("number=%2B33142685300&at=2026-11-24T15:00:00%2B01:00", 200);
    assert_true(json_is_true(json_object_get(j, "allowed")));
    json_decref(j);
    /* A US number without a national DNC list loaded: blocked, and says why. */
    j = check("number=%2B14155552671&at=1764007200", 200);
    assert_false(json_is_true(json_object_get(j, "allowed")));
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "dnc-list-missing");
    json_decref(j);
    /* Bad input names the parameter; another tenant's (or no) campaign is 404. */
    {
        struct call c = { "GET", "/api/v1/compliance/check",
                          "/api/v1/compliance/check?number=4155552671", W_VIEWER };
        expect_error(&c, 400, "invalid_parameter", "?number");
        struct call a = { "GET", "/api/v1/compliance/check",
                          "/api/v1/compliance/check?number=%2B14155552671&at=yesterday", W_VIEWER };
        expect_error(&a, 400, "invalid_parameter", "?at");
        struct call k = { "GET", "/api/v1/compliance/check",
                          "/api/v1/compliance/check?number=%2B14155552671&campaign=999999",
                          W_VIEWER };
        expect_error(&k, 404, "not_found", "?campaign");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_rbac_matrix),
        cmocka_unit_test(test_api_cross_tenant_api),
        cmocka_unit_test(test_api_cross_tenant_campaign_stats),
        cmocka_unit_test(test_api_cross_tenant_sql),
        cmocka_unit_test(test_api_tokens),
        cmocka_unit_test(test_api_refresh_reuse_revokes_family),
        cmocka_unit_test(test_api_logout),
        cmocka_unit_test(test_api_login_failures_limited),
        cmocka_unit_test(test_api_login_burst_limited),
        cmocka_unit_test(test_api_bad_input_nothing_stored),
        cmocka_unit_test(test_api_sql_metacharacters_stored_verbatim),
        cmocka_unit_test(test_api_idempotency_key),
        cmocka_unit_test(test_api_idempotency_keys_expire),
        cmocka_unit_test(test_api_if_match),
        cmocka_unit_test(test_api_pagination),
        cmocka_unit_test(test_api_request_id_and_errors),
        cmocka_unit_test(test_api_admin_cannot_lock_self_out),
        cmocka_unit_test(test_api_disable_and_revoke),
        cmocka_unit_test(test_api_tenants_by_operator),
        cmocka_unit_test(test_api_lists_crud),
        cmocka_unit_test(test_api_lists_cross_tenant),
        cmocka_unit_test(test_api_upload_csv_chunked),
        cmocka_unit_test(test_api_upload_multipart),
        cmocka_unit_test(test_api_upload_long_import_answers_202),
        cmocka_unit_test(test_api_upload_bad_input),
        cmocka_unit_test(test_api_upload_cancel),
        cmocka_unit_test(test_api_contacts_batch),
        cmocka_unit_test(test_api_flows_draft_publish),
        cmocka_unit_test(test_api_flows_validate_and_templates),
        cmocka_unit_test(test_api_by_id_answers),
        cmocka_unit_test(test_api_compliance_check),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("api", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
