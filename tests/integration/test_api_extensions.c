/* SPDX-License-Identifier: MIT */
/*
 * The extension routes on a real httpd against the private PostgreSQL (a
 * fresh migrated database) and Redis, with two tenants. Every response is
 * checked against api/openapi.yaml.
 *
 * Cases: claiming needs a published revision (or a pinned one) and names the
 * field that is wrong; next free and chosen numbers; another tenant's number
 * is 409 without saying whose; 50 parallel creates get 50 distinct
 * extensions; GET/PATCH (move, pin, limit, label, If-Match)/DELETE
 * (quarantine) with another tenant getting 404 and changing nothing; the
 * audit trail; list filters and cursor paging; pool figures.
 */
#include <pthread.h>
#include <setjmp.h>
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

/* The request tables list only the leading fields that matter per row. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define DB   "test_api_extensions"
#define KEYS "k1=integration-test-secret-0123456789abcdef"
#define FLOW(tag)                                                                             \
    "{\"name\":\"" tag "\",\"definition\":{\"format\":\"ivrflow/1\",\"start\":\"s\","         \
    "\"nodes\":{\"s\":{\"type\":\"start\",\"props\":{\"triggers\":[\"inbound\"]},"            \
    "\"next\":{\"next\":\"h\"}},\"h\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"" tag \
    "\"}}}}}"

enum { PARALLEL = 50 };

enum who { A_ADMIN, B_ADMIN, W_COUNT };

static struct api *g_api;
static struct api_flows *g_flows;
static struct api_extensions *g_exts;
static struct httpd *g_srv;
static json_t *g_spec;
static char g_base[64];
static char g_app_ci[TDB_CONNINFO_MAX];
static char g_admin_ci[TDB_CONNINFO_MAX];
static char g_auth[W_COUNT][512];
static int64_t g_flow_a, g_flow_a2, g_flow_b;

/* ------------------------------------------------------------ client */

struct rq {
    const char *method;
    const char *pattern;
    const char *path;
    enum who who;
    const char *body;
    const char *hdr;
};

static void request_of(const struct rq *q, struct apifix_call *c)
{
    *c = (struct apifix_call){ .method = q->method,
                               .pattern = q->pattern,
                               .path = q->path,
                               .auth = g_auth[q->who],
                               .body = q->body,
                               .hdr1 = q->hdr };
}

/* One request; the answer is checked against the contract (-1: no answer, -2: off contract).
 * Thread-safe. */
static void do_rq(const struct rq *q, struct t_resp *r)
{
    struct apifix_call c;
    request_of(q, &c);
    int rc = apifix_do(g_spec, g_base, &c, r);
    if (rc != 0) {
        r->status = rc;
    }
}

/* The answer's JSON (new reference) after checking the status. */
static json_t *rq_json(const struct rq *q, long want)
{
    struct apifix_call c;
    request_of(q, &c);
    return apifix_json(g_spec, g_base, &c, want);
}

/* Checks an error answer: status, code and field (NULL: none expected). */
static void rq_error(const struct rq *q, long want, const char *code, const char *field)
{
    json_t *j = rq_json(q, want);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    if (field != NULL) {
        assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    }
    json_decref(j);
}

#define sql_int(...) apifix_sql_int(g_admin_ci, __VA_ARGS__)

static json_t *claim(enum who w, const char *body, long want)
{
    struct rq q = { "POST", "/api/v1/extensions", "/api/v1/extensions", w, body, NULL };
    return rq_json(&q, want);
}

static int64_t ext_of(const json_t *j)
{
    return json_integer_value(json_object_get(j, "extension"));
}

/* ---------------------------------------------------------- set-up */

static bool login(const char *email, enum who w)
{
    return apifix_login(NULL, g_base, email, APIFIX_PASSWORD, g_auth[w], sizeof(g_auth[w]), NULL,
                        0);
}

static int64_t flow_published(enum who w, const char *body)
{
    struct rq c = { "POST", "/api/v1/flows", "/api/v1/flows", w, body, NULL };
    json_t *j = rq_json(&c, 201);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    char path[64];
    struct rq p = { "POST", "/api/v1/flows/{id}/publish", path, w, "{\"message\":\"go\"}", NULL };

    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/flows/%lld/publish", (long long)id);
    json_decref(rq_json(&p, 201));
    return id;
}

static int setup(void **state)
{
    struct api_config ac = { 0 };
    struct api_ext_config xc = { .quarantine_s = 3600 };
    struct httpd_config hc = { .name = "ext-test", .max_body_bytes = 65536 };
    char tdir[1024];
    bool ok = false;
    (void)state;

    testenv_pg_conninfo();
    g_spec = tapi_spec_load();
    assert_non_null(g_spec);
    tdb_create_migrated(DB);
    tdb_conninfo_app(DB, g_app_ci, sizeof(g_app_ci));
    tdb_conninfo(DB, g_admin_ci, sizeof(g_admin_ci));
    apifix_bootstrap(g_app_ci, "alpha", "admin@alpha.test", false);
    apifix_bootstrap(g_app_ci, "beta", "admin@beta.test", false);
    /* The inventory as dialerd provisions it at start-up. */
    assert_int_equal(sql_int("WITH i AS (INSERT INTO extensions (number, pool) SELECT n,"
                             " CASE WHEN n < 3000 THEN 'inbound' WHEN n < 4000 THEN 'outbound'"
                             " ELSE 'reserved' END FROM generate_series(2000, 4999) n"
                             " RETURNING 1) SELECT count(*) FROM i"),
                     3000);

    ac.db_conninfo = g_app_ci;
    ac.db_pool_size = 4;
    ac.redis_host = "127.0.0.1";
    ac.redis_port = testenv_redis_port();
    ac.jwt_keys = KEYS;
    ac.hash_threads = 1;
    ac.pwhash_ops = 1;
    ac.pwhash_mem = 8192;
    if (api_create(&ac, &g_api) != 0) {
        return -1;
    }
    snprintf(tdir, sizeof(tdir), "%s/ivr/templates", testenv_root());
    if (api_flows_create(g_api, tdir, &g_flows) != 0 ||
        api_extensions_create(g_api, &xc, &g_exts) != 0) {
        return -1;
    }
    api_httpd_hooks(g_api, &hc);
    g_srv = httpd_create(&hc, NULL, 0);
    if (g_srv == NULL || api_mount(g_api, g_srv) != 0 || httpd_start(g_srv) != 0) {
        return -1;
    }
    snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%d", httpd_port(g_srv));
    for (int i = 0; i < 100 && !ok; i++) { /* the pool connects in the background */
        ok = login("admin@alpha.test", A_ADMIN);
        if (!ok) {
            usleep(50 * 1000);
        }
    }
    if (!ok || !login("admin@beta.test", B_ADMIN)) {
        return -1;
    }
    g_flow_a = flow_published(A_ADMIN, FLOW("a1"));
    g_flow_a2 = flow_published(A_ADMIN, FLOW("a2"));
    g_flow_b = flow_published(B_ADMIN, FLOW("b1"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(g_srv);
    api_flows_destroy(g_flows);
    api_extensions_destroy(g_exts);
    api_destroy(g_api);
    json_decref(g_spec);
    tdb_drop(DB);
    return 0;
}

/* ------------------------------------------------------------ tests */

/* Claims: validation naming the field, next free, chosen, another tenant's. */
static void test_ext_claim(void **state)
{
    char body[256], path[64];
    struct rq q = { "POST", "/api/v1/extensions", "/api/v1/extensions", A_ADMIN, body, NULL };
    json_t *j;
    int64_t unpublished;
    (void)state;

    /* A flow never published cannot take calls: refused, nothing claimed. */
    {
        struct rq c = { "POST", "/api/v1/flows", "/api/v1/flows", A_ADMIN, FLOW("draft"), NULL };
        j = rq_json(&c, 201);
        unpublished = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
    }
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)unpublished);
    rq_error(&q, 422, "invalid_field", "$.flow_id");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"revision\":7}", (long long)g_flow_a);
    rq_error(&q, 422, "invalid_field", "$.revision");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)g_flow_b); /* B's flow */
    rq_error(&q, 422, "invalid_field", "$.flow_id");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"extension\":3000}", (long long)g_flow_a);
    rq_error(&q, 422, "invalid_field", "$.extension");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"revision\":1,\"latest_published\":true}",
             (long long)g_flow_a);
    rq_error(&q, 422, "invalid_field", "$.latest_published");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"latest_published\":false}",
             (long long)g_flow_a);
    rq_error(&q, 422, "invalid_field", "$.revision");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"max_calls\":-1}", (long long)g_flow_a);
    rq_error(&q, 422, "invalid_field", "$.max_calls");
    snprintf(body, sizeof(body), "{\"flow\":%lld}", (long long)g_flow_a);
    rq_error(&q, 422, "unknown_field", "$.flow");
    q.body = "{\"flow_id\":\"1\"}";
    rq_error(&q, 422, "invalid_field", "$.flow_id");
    q.body = body;
    assert_int_equal(sql_int("SELECT count(*) FROM extensions WHERE state <> 'free'"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE object_type = 'extension'"), 0);

    /* Next free: the lowest of the inbound pool, bound to the latest published revision. */
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"label\":\"support\"}", (long long)g_flow_a);
    j = claim(A_ADMIN, body, 201);
    assert_int_equal(ext_of(j), 2000);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "assigned");
    assert_true(json_is_true(json_object_get(j, "latest_published")));
    assert_int_equal(json_integer_value(json_object_get(j, "effective_revision")), 1);
    json_decref(j);
    /* Chosen by tenant B, pinned to revision 1. */
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"extension\":2500,\"revision\":1}",
             (long long)g_flow_b);
    j = claim(B_ADMIN, body, 201);
    assert_int_equal(ext_of(j), 2500);
    assert_int_equal(json_integer_value(json_object_get(j, "revision")), 1);
    json_decref(j);
    /* A asks for B's number: 409 naming the field, not the holder. */
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"extension\":2500}", (long long)g_flow_a);
    {
        json_t *e;
        j = claim(A_ADMIN, body, 409);
        e = json_object_get(j, "error");
        assert_string_equal(json_string_value(json_object_get(e, "field")), "$.extension");
        assert_string_equal(json_string_value(json_object_get(e, "message")),
                            "extension 2500 is not free");
        json_decref(j);
    }
    assert_int_equal(sql_int("SELECT tenant_id FROM extensions WHERE number = 2500"),
                     sql_int("SELECT id FROM tenants WHERE slug = 'beta'"));
    /* POST /flows/{id}/inbound with no body: the next free one. */
    snprintf(path, sizeof(path), "/api/v1/flows/%lld/inbound", (long long)g_flow_a2);
    {
        struct rq f = { "POST", "/api/v1/flows/{id}/inbound", path, A_ADMIN, NULL, NULL };
        j = rq_json(&f, 201);
        assert_int_equal(ext_of(j), 2001);
        assert_int_equal(json_integer_value(json_object_get(j, "flow_id")), g_flow_a2);
        json_decref(j);
        /* Another tenant's flow through the path: 404. */
        snprintf(path, sizeof(path), "/api/v1/flows/%lld/inbound", (long long)g_flow_b);
        rq_error(&f, 404, "not_found", NULL);
        snprintf(path, sizeof(path), "/api/v1/flows/%lld/inbound", (long long)unpublished);
        f.body = "{}";
        rq_error(&f, 422, "invalid_field", "$");
    }
    assert_int_equal(sql_int("SELECT count(*) FROM audit_log WHERE action = 'extension.assign'"),
                     3);
}

struct par {
    pthread_t th;
    int64_t ext;
    long status;
};

static void *par_claim(void *arg)
{
    struct par *p = arg;
    char path[64];
    struct rq q = { "POST", "/api/v1/flows/{id}/inbound", path, A_ADMIN, "{}", NULL };
    struct t_resp r;
    snprintf(path, sizeof(path), "/api/v1/flows/%lld/inbound", (long long)g_flow_a);
    do_rq(&q, &r);
    p->status = r.status;
    p->ext = r.status == 201 ? ext_of(r.json) : 0;
    t_resp_free(&r);
    return NULL;
}

/* 50 creates at once: 50 distinct extensions, each with its audit row. */
static void test_ext_parallel_creates(void **state)
{
    struct par p[PARALLEL];
    int64_t before = sql_int("SELECT count(*) FROM extensions WHERE state = 'assigned'");
    (void)state;

    for (int i = 0; i < PARALLEL; i++) {
        p[i] = (struct par){ 0 };
        assert_int_equal(pthread_create(&p[i].th, NULL, par_claim, &p[i]), 0);
    }
    for (int i = 0; i < PARALLEL; i++) {
        pthread_join(p[i].th, NULL);
    }
    for (int i = 0; i < PARALLEL; i++) {
        assert_int_equal(p[i].status, 201);
        assert_true(p[i].ext >= 2000 && p[i].ext <= 2999);
        for (int k = 0; k < i; k++) {
            assert_true(p[k].ext != p[i].ext);
        }
    }
    assert_int_equal(sql_int("SELECT count(*) FROM extensions WHERE state = 'assigned'"),
                     before + PARALLEL);
    assert_int_equal(
        sql_int("SELECT count(DISTINCT object_id) FROM audit_log WHERE action ="
                " 'extension.assign' AND object_id::integer NOT IN (2000, 2001, 2500)"),
        PARALLEL);
}

/* GET, PATCH (move, pin, limit, If-Match), DELETE, audit; another tenant sees nothing. */
static void test_ext_get_patch_delete_audit(void **state)
{
    char body[256], ifm[96];
    struct rq g = { "GET", "/api/v1/extensions/{ext}", "/api/v1/extensions/2000", A_ADMIN };
    struct rq pa = { "PATCH", "/api/v1/extensions/{ext}", "/api/v1/extensions/2000", A_ADMIN,
                     body };
    struct rq d = { "DELETE", "/api/v1/extensions/{ext}", "/api/v1/extensions/2000", A_ADMIN };
    struct rq au = { "GET", "/api/v1/extensions/{ext}/audit", "/api/v1/extensions/2000/audit",
                     A_ADMIN };
    struct t_resp r;
    char etag[64];
    json_t *j, *items;
    (void)state;

    do_rq(&g, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(t_header(&r, "ETag", etag, sizeof(etag)));
    assert_string_equal(json_string_value(json_object_get(r.json, "label")), "support");
    t_resp_free(&r);

    /* Tenant B: 404 for every route on A's extension, nothing changes. */
    g.who = pa.who = d.who = au.who = B_ADMIN;
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)g_flow_b);
    rq_error(&g, 404, "not_found", NULL);
    rq_error(&pa, 404, "not_found", NULL);
    rq_error(&d, 404, "not_found", NULL);
    rq_error(&au, 404, "not_found", NULL);
    g.who = pa.who = d.who = au.who = A_ADMIN;
    assert_int_equal(sql_int("SELECT flow_id FROM extensions WHERE number = 2000"), g_flow_a);
    /* Unknown numbers and numbers outside the pools. */
    g.path = "/api/v1/extensions/2999";
    rq_error(&g, 404, "not_found", NULL);
    g.path = "/api/v1/extensions/12";
    rq_error(&g, 404, "not_found", NULL);
    g.path = "/api/v1/extensions/2000";

    /* Move to another flow: the latest published revision of it. */
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)g_flow_a2);
    j = rq_json(&pa, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "flow_id")), g_flow_a2);
    assert_true(json_is_null(json_object_get(j, "revision")));
    json_decref(j);
    /* The old ETag is stale now. */
    snprintf(ifm, sizeof(ifm), "If-Match: %s", etag);
    pa.hdr = ifm;
    snprintf(body, sizeof(body), "{\"max_calls\":3}");
    rq_error(&pa, 412, "precondition_failed", "If-Match");
    pa.hdr = NULL;
    /* Pin revision 1, set a limit; bad values name their field. */
    snprintf(body, sizeof(body), "{\"revision\":1,\"max_calls\":3}");
    j = rq_json(&pa, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "revision")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "max_calls")), 3);
    json_decref(j);
    snprintf(body, sizeof(body), "{\"revision\":9}");
    rq_error(&pa, 422, "invalid_field", "$.revision");
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)g_flow_b);
    rq_error(&pa, 422, "invalid_field", "$.flow_id");
    snprintf(body, sizeof(body), "{\"max_calls\":100001}");
    rq_error(&pa, 422, "invalid_field", "$.max_calls");
    assert_int_equal(sql_int("SELECT max_calls FROM extensions WHERE number = 2000"), 3);
    assert_int_equal(sql_int("SELECT flow_revision FROM extensions WHERE number = 2000"), 1);
    /* Back to following the latest, limit back to the default. */
    snprintf(body, sizeof(body), "{\"latest_published\":true,\"max_calls\":null}");
    j = rq_json(&pa, 200);
    assert_true(json_is_null(json_object_get(j, "revision")));
    assert_true(json_is_null(json_object_get(j, "max_calls")));
    json_decref(j);

    /* Release: quarantined, not routed, not claimable, not changeable. */
    j = rq_json(&d, 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "quarantined");
    assert_true(json_is_string(json_object_get(j, "quarantine_until")));
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM extensions WHERE number = 2000 AND"
                             " quarantine_until BETWEEN now() + interval '59 minutes' AND"
                             " now() + interval '61 minutes'"),
                     1);
    rq_error(&d, 409, "conflict", NULL);
    snprintf(body, sizeof(body), "{\"max_calls\":1}");
    rq_error(&pa, 409, "conflict", NULL);
    snprintf(body, sizeof(body), "{\"flow_id\":%lld,\"extension\":2000}", (long long)g_flow_b);
    json_decref(claim(B_ADMIN, body, 409));

    /* The audit trail: assign, move, update (pin + limit), update, release. */
    j = rq_json(&au, 200);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 5);
    {
        static const char *const want[] = { "extension.assign", "extension.move", "extension.move",
                                            "extension.move", "extension.release" };
        for (size_t i = 0; i < 5; i++) {
            json_t *it = json_array_get(items, i);
            assert_string_equal(json_string_value(json_object_get(it, "action")), want[i]);
            assert_non_null(strstr(json_string_value(json_object_get(it, "actor")), "user:"));
        }
    }
    json_decref(j);
    /* B's own extension has B's history only. */
    au.who = B_ADMIN;
    au.path = "/api/v1/extensions/2500/audit";
    j = rq_json(&au, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
}

/* List filters and paging; pool figures. */
static void test_ext_list_and_pools(void **state)
{
    char path[160];
    struct rq l = { "GET", "/api/v1/extensions", path, A_ADMIN };
    struct rq p = { "GET", "/api/v1/extensions/pools", "/api/v1/extensions/pools", A_ADMIN };
    int64_t mine = sql_int("SELECT count(*) FROM extensions e JOIN tenants t ON t.id ="
                           " e.tenant_id WHERE t.slug = 'alpha'");
    int64_t seen = 0, last = 0;
    json_t *j, *it;
    size_t i;
    (void)state;

    /* Every page in number order, each row once, only A's. */
    snprintf(path, sizeof(path), "/api/v1/extensions?limit=7");
    for (int pages = 0; pages < 100; pages++) {
        const char *next;
        j = rq_json(&l, 200);
        json_array_foreach (json_object_get(j, "items"), i, it) {
            assert_true(ext_of(it) > last);
            assert_true(ext_of(it) != 2500);
            last = ext_of(it);
            seen++;
        }
        next = json_string_value(json_object_get(j, "next_cursor"));
        if (next == NULL) {
            json_decref(j);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/extensions?limit=7&cursor=%s", next);
        json_decref(j);
    }
    assert_int_equal(seen, mine);
    /* Filters. */
    snprintf(path, sizeof(path), "/api/v1/extensions?state=quarantined&pool=inbound");
    j = rq_json(&l, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_int_equal(ext_of(json_array_get(json_object_get(j, "items"), 0)), 2000);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/extensions?flow=%lld&limit=1000", (long long)g_flow_a2);
    j = rq_json(&l, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1); /* 2001 */
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/extensions?state=free");
    rq_error(&l, 400, "invalid_parameter", "?state");
    snprintf(path, sizeof(path), "/api/v1/extensions?flow=abc");
    rq_error(&l, 400, "invalid_parameter", "?flow");
    snprintf(path, sizeof(path), "/api/v1/extensions?owner=1");
    rq_error(&l, 400, "unknown_parameter", "?owner");

    /* Pools: figures over every tenant, "yours" the caller's. */
    j = rq_json(&p, 200);
    it = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "pool")), "inbound");
    assert_int_equal(json_integer_value(json_object_get(it, "from")), 2000);
    assert_int_equal(json_integer_value(json_object_get(it, "provisioned")), 1000);
    assert_int_equal(json_integer_value(json_object_get(it, "assigned")),
                     sql_int("SELECT count(*) FROM extensions WHERE state = 'assigned'"));
    assert_int_equal(json_integer_value(json_object_get(it, "quarantined")), 1);
    assert_int_equal(json_integer_value(json_object_get(it, "free")),
                     sql_int("SELECT count(*) FROM extensions WHERE state = 'free' AND"
                             " pool = 'inbound'"));
    assert_int_equal(json_integer_value(json_object_get(it, "yours")), mine);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ext_claim),
        cmocka_unit_test(test_ext_parallel_creates),
        cmocka_unit_test(test_ext_get_patch_delete_audit),
        cmocka_unit_test(test_ext_list_and_pools),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
