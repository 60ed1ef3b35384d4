/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the campaign routes: the api on a real httpd against
 * the private PostgreSQL (a fresh migrated database, queries as dialer_app
 * under RLS) and Redis. Every response is checked against api/openapi.yaml.
 *
 * Cases: settings validated by the campaign module with errors naming the
 * field and nothing stored; create with Idempotency-Key; PATCH with
 * If-Match and the settings_change record; list filters and cursor pages;
 * the state machine through start/pause/resume/stop/complete/schedule (409
 * naming from and to, 422 for a flow without a published revision or no
 * list), who and when in the history; lists attach/detach rules; delete
 * rules; attempts and call logs with filters and cursor pages, numbers in
 * full; the CSV export (formula-safe); the ready set; another tenant gets
 * 404 everywhere and changes nothing.
 */
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

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define DB   "test_api_campaigns"
#define KEYS "k1=integration-test-secret-0123456789abcdef"

static struct api *g_api;
static struct httpd *g_srv;
static json_t *g_spec;
static char g_base[64];
static char g_app_ci[TDB_CONNINFO_MAX];
static char g_admin_ci[TDB_CONNINFO_MAX];
static int64_t g_tenant_a, g_tenant_b, g_editor_id;

enum who { W_ANON, W_VIEWER, W_EDITOR, W_ADMIN, W_B_ADMIN, W_COUNT };

static char g_auth[W_COUNT][512];

/* ------------------------------------------------------------ client */

struct call {
    const char *method;
    const char *pattern;
    const char *path;
    enum who who;
    const char *body;
    const char *hdr1;
    bool no_spec; /* a body the contract does not describe as JSON (CSV) */
};

/* The request as c->who sends it; the answer is checked against the contract (a 200 of
 * a no_spec call is not: CSV). */
static const struct apifix_call *request_of(const struct call *c, struct apifix_call *q)
{
    *q = (struct apifix_call){ .method = c->method,
                               .pattern = c->pattern,
                               .path = c->path,
                               .auth = g_auth[c->who],
                               .body = c->body,
                               .hdr1 = c->hdr1,
                               .unchecked = c->no_spec ? 200 : 0 };
    return q;
}

static void do_call(const struct call *c, struct t_resp *r)
{
    struct apifix_call q;
    if (apifix_do(g_spec, g_base, request_of(c, &q), r) != 0) {
        t_resp_free(r);
        fail();
    }
}

static json_t *call_json(const struct call *c, long want)
{
    struct apifix_call q;
    return apifix_json(g_spec, g_base, request_of(c, &q), want);
}

/* Expects an error answer with status, code (NULL: any) and field (NULL: none checked). */
static void call_err(const struct call *c, long want, const char *code, const char *field)
{
    json_t *j = call_json(c, want);
    json_t *e = json_object_get(j, "error");
    if (code != NULL && strcmp(json_string_value(json_object_get(e, "code")), code) != 0) {
        fprintf(stderr, "%s %s: code %s, want %s\n", c->method, c->path,
                json_string_value(json_object_get(e, "code")), code);
        fail();
    }
    if (field != NULL) {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f == NULL || strcmp(f, field) != 0) {
            fprintf(stderr, "%s %s: field %s, want %s (%s)\n", c->method, c->path,
                    f != NULL ? f : "(none)", field,
                    json_string_value(json_object_get(e, "message")));
            fail();
        }
    }
    json_decref(j);
}

static const char *err_message(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "message"));
}

/* ------------------------------------------------------------- SQL */

#define sql_int(...) apifix_sql_int(g_admin_ci, __VA_ARGS__)

static void sql_exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sql_exec(const char *fmt, ...)
{
    PGconn *c = tdb_connect(g_admin_ci);
    va_list ap;
    PGresult *r;

    va_start(ap, fmt);
    r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "sql_exec: %s\n", PQresultErrorMessage(r));
        fail();
    }
    PQclear(r);
    PQfinish(c);
}

/* A flow of tenant; published with one revision when publish is set. */
static int64_t make_flow(int64_t tenant, const char *name, bool publish)
{
    int64_t f = sql_int("INSERT INTO ivr_flows (tenant_id, name) VALUES (%lld, '%s') RETURNING id",
                        (long long)tenant, name);
    if (publish) {
        sql_exec("UPDATE ivr_flows SET latest_revision = 1 WHERE id = %lld;"
                 " INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition)"
                 " VALUES (%lld, %lld, 1, '{\"format\": \"ivrflow/1\"}');"
                 " UPDATE ivr_flows SET published_revision = 1 WHERE id = %lld",
                 (long long)f, (long long)tenant, (long long)f, (long long)f);
    }
    return f;
}

/* A contact list of tenant with n contacts numbered from first. */
static int64_t make_list(int64_t tenant, const char *name, int n, long long first)
{
    int64_t l =
        sql_int("INSERT INTO contact_lists (tenant_id, name) VALUES (%lld, '%s') RETURNING id",
                (long long)tenant, name);
    sql_exec("INSERT INTO contacts (tenant_id, list_id, number)"
             " SELECT %lld, %lld, '+1212' || (%lld + g)::text FROM generate_series(0, %d) g",
             (long long)tenant, (long long)l, first, n - 1);
    return l;
}

/* ---------------------------------------------------------- set-up */

static void login(const char *email, enum who w)
{
    assert_true(apifix_login(g_spec, g_base, email, APIFIX_PASSWORD, g_auth[w], sizeof(g_auth[w]),
                             NULL, 0));
}

static int64_t create_user(const char *email, const char *role)
{
    char body[256];
    struct call c = { "POST", "/api/v1/users", "/api/v1/users", W_ADMIN, body };
    json_t *j;
    int64_t id;

    snprintf(body, sizeof(body),
             "{\"email\":\"%s\",\"role\":\"%s\",\"password\":\"pass-word-123\"}", email, role);
    j = call_json(&c, 201);
    id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

static int setup(void **state)
{
    struct api_config ac = { 0 };
    struct httpd_config hc = { .name = "api-campaigns-test", .max_body_bytes = 262144 };
    (void)state;

    testenv_pg_conninfo();
    g_spec = tapi_spec_load();
    assert_non_null(g_spec);
    tdb_create_migrated(DB);
    tdb_conninfo_app(DB, g_app_ci, sizeof(g_app_ci));
    tdb_conninfo(DB, g_admin_ci, sizeof(g_admin_ci));
    apifix_bootstrap(g_app_ci, "camp-a", "admin@camp-a.test", false);
    apifix_bootstrap(g_app_ci, "camp-b", "admin@camp-b.test", false);
    g_tenant_a = sql_int("SELECT id FROM tenants WHERE slug = 'camp-a'");
    g_tenant_b = sql_int("SELECT id FROM tenants WHERE slug = 'camp-b'");

    ac.db_conninfo = g_app_ci;
    ac.db_pool_size = 2;
    ac.redis_host = "127.0.0.1";
    ac.redis_port = testenv_redis_port();
    ac.jwt_keys = KEYS;
    ac.hash_threads = 1;
    ac.pwhash_ops = 1;
    ac.pwhash_mem = 8192;
    if (api_create(&ac, &g_api) != 0) {
        return -1;
    }
    api_httpd_hooks(g_api, &hc);
    g_srv = httpd_create(&hc, NULL, 0);
    if (g_srv == NULL || api_mount(g_api, g_srv) != 0 || httpd_start(g_srv) != 0) {
        return -1;
    }
    snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%d", httpd_port(g_srv));
    for (int i = 0; i < 100; i++) { /* the pool connects in the background (bounded wait) */
        char body[] = "{\"email\":\"admin@camp-a.test\",\"password\":\"pass-word-123\"}";
        struct call c = { "POST", "/api/v1/auth/login", "/api/v1/auth/login", W_ANON, body };
        struct t_resp r;
        do_call(&c, &r);
        long st = r.status;
        t_resp_free(&r);
        if (st == 200) {
            break;
        }
        usleep(50 * 1000);
    }
    login("admin@camp-a.test", W_ADMIN);
    login("admin@camp-b.test", W_B_ADMIN);
    g_editor_id = create_user("editor@camp-a.test", "editor");
    create_user("viewer@camp-a.test", "viewer");
    login("editor@camp-a.test", W_EDITOR);
    login("viewer@camp-a.test", W_VIEWER);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(g_srv);
    api_destroy(g_api);
    json_decref(g_spec);
    tdb_drop(DB);
    return 0;
}

/* Creates a campaign as the editor; returns its id. */
static int64_t create_campaign(const char *body)
{
    struct call c = { "POST", "/api/v1/campaigns", "/api/v1/campaigns", W_EDITOR, body };
    json_t *j = call_json(&c, 201);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

static json_t *transition(int64_t id, const char *verb, enum who w, const char *body, long want)
{
    char path[128], pattern[64];
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/%s", (long long)id, verb);
    snprintf(pattern, sizeof(pattern), "/api/v1/campaigns/{id}/%s", verb);
    struct call c = { "POST", pattern, path, w, body };
    return call_json(&c, want);
}

/* ------------------------------------------------------------ tests */

/* Bad settings are refused naming the field, and nothing is stored. */
static void test_campaign_create_validation(void **state)
{
    static const struct {
        const char *body;
        const char *field;
    } bad[] = {
        { "{\"name\":\"x\",\"settings\":{\"ring_time_s\":10}}", "$.settings.ring_time_s" },
        { "{\"name\":\"x\",\"settings\":{\"trunks\":[{\"name\":\"a\",\"endpoint\":"
          "\"PJSIP/{phone}@carrier\"}]}}",
          "$.settings.trunks[0].endpoint" },
        { "{\"name\":\"x\",\"settings\":{\"pacing\":{\"mode\":\"turbo\"}}}",
          "$.settings.pacing.mode" },
        { "{\"name\":\"x\",\"settings\":{\"pacing\":{\"mode\":\"fixed\"}}}",
          "$.settings.pacing.cps" },
        { "{\"name\":\"x\",\"settings\":{\"retry\":{\"busy\":{\"delay_s\":5}}}}",
          "$.settings.retry.busy.delay_s" },
        { "{\"name\":\"x\",\"settings\":{\"retry\":{\"max_attempts\":2,\"no_answer\":"
          "{\"max_attempts\":5}}}}",
          "$.settings.retry.no_answer.max_attempts" },
        { "{\"name\":\"x\",\"settings\":{\"caller_id\":{\"number\":\"12345\"}}}",
          "$.settings.caller_id.number" },
        { "{\"name\":\"x\",\"settings\":{\"amd\":{\"enabled\":true,\"machine_action\":"
          "\"flow\"}}}",
          "$.settings.amd.flow_id" },
        { "{\"name\":\"x\",\"settings\":{\"schedule\":{\"windows\":[{\"days\":[\"mon\"],"
          "\"from\":\"25:00\",\"to\":\"26:00\"}]}}}",
          "$.settings.schedule.windows[0].from" },
        { "{\"name\":\"x\",\"settings\":{\"max_channels\":5}}", "$.settings.max_channels" },
        { "{\"name\":\"x\",\"settings\":[]}", "$.settings" },
        { "{\"settings\":{}}", "$.name" },
        { "{\"name\":\"x\",\"bogus\":1}", "$.bogus" },
        { "{\"name\":\"x\",\"flow_id\":\"7\"}", "$.flow_id" },
        { "{\"name\":\"x\",\"flow_revision\":2}", "$.flow_revision" },
    };

    int64_t before = sql_int("SELECT count(*) FROM campaigns");
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct call c = { "POST", "/api/v1/campaigns", "/api/v1/campaigns", W_EDITOR, bad[i].body };
        call_err(&c, 422, NULL, bad[i].field);
    }
    {
        /* the ring-time refusal gives the legal reason */
        struct call c = { "POST", "/api/v1/campaigns", "/api/v1/campaigns", W_EDITOR,
                          "{\"name\":\"x\",\"settings\":{\"ring_time_s\":14}}" };
        json_t *j = call_json(&c, 422);
        assert_non_null(strstr(err_message(j), "legal minimum"));
        json_decref(j);
    }
    {
        /* another tenant's flow is no flow; a missing revision is named */
        int64_t fb = make_flow(g_tenant_b, "b-flow", true);
        int64_t fa = make_flow(g_tenant_a, "a-unpublished", false);
        char body[256];
        snprintf(body, sizeof(body), "{\"name\":\"x\",\"flow_id\":%lld}", (long long)fb);
        struct call c = { "POST", "/api/v1/campaigns", "/api/v1/campaigns", W_EDITOR, body };
        call_err(&c, 422, "invalid_field", "$.flow_id");
        snprintf(body, sizeof(body), "{\"name\":\"x\",\"flow_id\":%lld,\"flow_revision\":1}",
                 (long long)fa);
        call_err(&c, 422, "invalid_field", "$.flow_revision");
        snprintf(body, sizeof(body),
                 "{\"name\":\"x\",\"settings\":{\"amd\":{\"enabled\":true,\"machine_action\":"
                 "\"flow\",\"flow_id\":%lld}}}",
                 (long long)fb);
        call_err(&c, 422, "invalid_field", "$.settings.amd.flow_id");
    }
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns"), before);
}

/* A valid campaign: normalised settings, indexed columns, who created it, idempotent create. */
static void test_campaign_create_get_idempotent(void **state)
{
    const char *body =
        "{\"name\":\"Spring renewals\",\"settings\":{\"pacing\":{\"mode\":\"fixed\",\"cps\":"
        "12.5,\"max_channels\":40},\"ring_time_s\":22,\"retry\":{\"max_attempts\":4,\"busy\":"
        "{\"delay_s\":900}},\"trunks\":[{\"name\":\"carrier-a\",\"endpoint\":"
        "\"PJSIP/{e164}@carrier-a\"}],\"caller_id\":{\"number\":\"+12025550100\"}}}";
    struct call c = { "POST", "/api/v1/campaigns",        "/api/v1/campaigns", W_EDITOR,
                      body,   "Idempotency-Key: spring-1" };
    struct t_resp r;
    char etag[64], loc[128], hdr[64], path[64];
    json_t *j, *s;
    int64_t id;
    (void)state;

    do_call(&c, &r);
    assert_int_equal(r.status, 201);
    id = json_integer_value(json_object_get(r.json, "id"));
    assert_true(id > 0);
    assert_non_null(t_header(&r, "ETag", etag, sizeof(etag)));
    assert_non_null(t_header(&r, "Location", loc, sizeof(loc)));
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", (long long)id);
    assert_string_equal(loc, path);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "draft");
    s = json_object_get(r.json, "settings");
    /* stored with the defaults written out: a default not given is there */
    assert_int_equal(json_integer_value(json_object_get(s, "ring_time_s")), 22);
    assert_non_null(json_object_get(json_object_get(s, "retry"), "no_answer"));
    t_resp_free(&r);

    /* the same key and body: the first answer again, one row */
    do_call(&c, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), id);
    assert_non_null(t_header(&r, "Idempotent-Replayed", hdr, sizeof(hdr)));
    t_resp_free(&r);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE name = 'Spring renewals'"), 1);
    /* the indexed copies follow the document */
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld AND pacing_mode ="
                             " 'fixed' AND cps = 12.5 AND max_channels = 40 AND ring_time_s = 22"
                             " AND max_attempts = 4 AND created_by = %lld AND state = 'draft'",
                             (long long)id, (long long)g_editor_id),
                     1);
    /* the same name again is a conflict */
    struct call d = { "POST", "/api/v1/campaigns", "/api/v1/campaigns", W_EDITOR,
                      "{\"name\":\"Spring renewals\"}" };
    call_err(&d, 409, "conflict", NULL);

    /* a viewer reads it, with the ETag */
    struct call g = { "GET", "/api/v1/campaigns/{id}", path, W_VIEWER };
    do_call(&g, &r);
    assert_int_equal(r.status, 200);
    t_header(&r, "ETag", loc, sizeof(loc));
    assert_string_equal(loc, etag);
    j = json_object_get(json_object_get(r.json, "settings"), "pacing");
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "fixed");
    t_resp_free(&r);
}

/* PATCH under If-Match; the change is recorded; settings replaced whole. */
static void test_campaign_patch(void **state)
{
    int64_t id = create_campaign("{\"name\":\"Patchable\"}");
    char path[64], ifm[96], etag[64];
    struct t_resp r;
    (void)state;

    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", (long long)id);
    struct call g = { "GET", "/api/v1/campaigns/{id}", path, W_EDITOR };
    do_call(&g, &r);
    t_header(&r, "ETag", etag, sizeof(etag));
    t_resp_free(&r);
    snprintf(ifm, sizeof(ifm), "If-Match: %s", etag);

    struct call p = { "PATCH",
                      "/api/v1/campaigns/{id}",
                      path,
                      W_EDITOR,
                      "{\"name\":\"Patched\",\"settings\":{\"ring_time_s\":30,\"pacing\":"
                      "{\"mode\":\"power\",\"dial_ratio\":2.5}}}",
                      ifm };
    json_t *j = call_json(&p, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "Patched");
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld AND name = 'Patched'"
                             " AND ring_time_s = 30 AND pacing_mode = 'power'"
                             " AND dial_ratio = 2.5",
                             (long long)id),
                     1);
    /* the old ETag is stale now: 412, nothing changed */
    struct call p2 = { "PATCH",  "/api/v1/campaigns/{id}",     path,
                       W_EDITOR, "{\"name\":\"Lost update\"}", ifm };
    call_err(&p2, 412, "precondition_failed", "If-Match");
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE name = 'Lost update'"), 0);
    /* a bad settings document changes nothing */
    struct call p3 = { "PATCH", "/api/v1/campaigns/{id}", path, W_EDITOR,
                       "{\"settings\":{\"ring_time_s\":5}}" };
    call_err(&p3, 422, "invalid_field", "$.settings.ring_time_s");
    assert_int_equal(sql_int("SELECT ring_time_s FROM campaigns WHERE id = %lld", (long long)id),
                     30);
    /* who changed what */
    assert_int_equal(sql_int("SELECT count(*) FROM campaign_events WHERE campaign_id = %lld"
                             " AND kind = 'settings_change' AND actor = 'user:%lld'"
                             " AND detail::text LIKE '%%settings%%'",
                             (long long)id, (long long)g_editor_id),
                     1);
    struct call v = { "PATCH", "/api/v1/campaigns/{id}", path, W_VIEWER, "{\"name\":\"v\"}" };
    call_err(&v, 403, "forbidden", NULL);
}

/* Filters and keyset pages. */
static void test_campaign_list_filters_pages(void **state)
{
    char next[256] = "/api/v1/campaigns?limit=2&name=PAGE-";
    int seen = 0;
    (void)state;

    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"name\":\"page-%d\"}", i);
        create_campaign(body);
    }
    for (int round = 0; round < 10; round++) {
        struct call l = { "GET", "/api/v1/campaigns", next, W_VIEWER };
        json_t *j = call_json(&l, 200);
        json_t *items = json_object_get(j, "items"), *x;
        size_t i;
        json_array_foreach (items, i, x) {
            assert_non_null(strstr(json_string_value(json_object_get(x, "name")), "page-"));
            seen++;
        }
        const char *cur = json_string_value(json_object_get(j, "next_cursor"));
        if (cur == NULL) {
            json_decref(j);
            break;
        }
        snprintf(next, sizeof(next), "/api/v1/campaigns?limit=2&name=PAGE-&cursor=%s", cur);
        json_decref(j);
    }
    assert_int_equal(seen, 5);
    struct call s = { "GET", "/api/v1/campaigns", "/api/v1/campaigns?state=running&name=page-",
                      W_VIEWER };
    json_t *j = call_json(&s, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    struct call b = { "GET", "/api/v1/campaigns", "/api/v1/campaigns?state=flying", W_VIEWER };
    call_err(&b, 400, "invalid_parameter", "?state");
    struct call u = { "GET", "/api/v1/campaigns", "/api/v1/campaigns?colour=red", W_VIEWER };
    call_err(&u, 400, "unknown_parameter", NULL);
}

/* The state machine through the API: checks, conflicts, who and when. */
static void test_campaign_transitions(void **state)
{
    int64_t unpublished = make_flow(g_tenant_a, "draft-only", false);
    int64_t published = make_flow(g_tenant_a, "live", true);
    int64_t list = make_list(g_tenant_a, "transitions", 5, 5551000);
    char body[256], path[128], lpath[128];
    json_t *j;
    (void)state;

    int64_t id = create_campaign("{\"name\":\"Lifecycle\"}");
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", (long long)id);

    /* no flow at all */
    j = transition(id, "start", W_EDITOR, NULL, 422);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                        "$.flow_id");
    json_decref(j);
    /* a flow without a published revision */
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)unpublished);
    struct call p = { "PATCH", "/api/v1/campaigns/{id}", path, W_EDITOR, body };
    json_decref(call_json(&p, 200));
    j = transition(id, "start", W_EDITOR, "{}", 422);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "flow_unpublished");
    json_decref(j);
    /* published, but no list */
    snprintf(body, sizeof(body), "{\"flow_id\":%lld}", (long long)published);
    json_decref(call_json(&p, 200));
    j = transition(id, "start", W_EDITOR, NULL, 422);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "no_lists");
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld AND state = 'draft'",
                             (long long)id),
                     1);
    /* attach: 201, again 200 with the new priority */
    snprintf(lpath, sizeof(lpath), "/api/v1/campaigns/%lld/lists/%lld", (long long)id,
             (long long)list);
    struct call a = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", lpath, W_EDITOR, NULL };
    j = call_json(&a, 201);
    assert_int_equal(json_integer_value(json_object_get(j, "contacts")), 5);
    json_decref(j);
    struct call a2 = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", lpath, W_EDITOR,
                       "{\"priority\":7}" };
    j = call_json(&a2, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "priority")), 7);
    json_decref(j);

    /* a viewer cannot start it */
    json_decref(transition(id, "start", W_VIEWER, NULL, 403));
    /* start, with a reason */
    j = transition(id, "start", W_EDITOR, "{\"reason\":\"go live\"}", 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
    json_decref(j);
    /* illegal: from running to running, and resume of a running campaign */
    j = transition(id, "start", W_EDITOR, NULL, 409);
    assert_non_null(strstr(err_message(j), "from running to running"));
    json_decref(j);
    j = transition(id, "resume", W_EDITOR, NULL, 409);
    assert_non_null(strstr(err_message(j), "from running to running"));
    json_decref(j);
    /* detaching from a running campaign is refused */
    struct call dl = { "DELETE", "/api/v1/campaigns/{id}/lists/{list_id}", lpath, W_EDITOR };
    call_err(&dl, 409, "conflict", NULL);
    /* delete of a running campaign is refused */
    struct call del = { "DELETE", "/api/v1/campaigns/{id}", path, W_ADMIN };
    call_err(&del, 409, "conflict", NULL);
    /* pause, resume, pause, stop */
    j = transition(id, "pause", W_EDITOR, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "paused");
    json_decref(j);
    json_decref(transition(id, "resume", W_ADMIN, NULL, 200));
    json_decref(transition(id, "pause", W_EDITOR, NULL, 200));
    j = transition(id, "stop", W_EDITOR, "{\"reason\":\"budget\"}", 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "stopped");
    json_decref(j);
    /* final: no way back, no changes */
    j = transition(id, "resume", W_EDITOR, NULL, 409);
    assert_non_null(strstr(err_message(j), "from stopped to running"));
    json_decref(j);
    struct call p2 = { "PATCH", "/api/v1/campaigns/{id}", path, W_EDITOR, "{\"name\":\"z\"}" };
    call_err(&p2, 409, "conflict", NULL);
    struct call a3 = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", lpath, W_EDITOR, NULL };
    call_err(&a3, 409, "conflict", NULL);

    /* the history: created, then every state change with who, why and when */
    char hpath[128];
    snprintf(hpath, sizeof(hpath), "/api/v1/campaigns/%lld/history?kind=state_change",
             (long long)id);
    struct call h = { "GET", "/api/v1/campaigns/{id}/history", hpath, W_VIEWER };
    j = call_json(&h, 200);
    json_t *items = json_object_get(j, "items");
    static const char *const want[][2] = { { "draft", "running" },
                                           { "running", "paused" },
                                           { "paused", "running" },
                                           { "running", "paused" },
                                           { "paused", "stopped" } };
    assert_int_equal(json_array_size(items), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *e = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(e, "from_state")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(e, "to_state")), want[i][1]);
        assert_non_null(json_string_value(json_object_get(e, "at")));
    }
    char actor[64];
    snprintf(actor, sizeof(actor), "user:%lld", (long long)g_editor_id);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "actor")),
                        actor);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "reason")),
                        "go live");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 4), "reason")),
                        "budget");
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(items, 2), "actor")),
                            actor);
    json_decref(j);
    snprintf(hpath, sizeof(hpath), "/api/v1/campaigns/%lld/history", (long long)id);
    struct call h2 = { "GET", "/api/v1/campaigns/{id}/history", hpath, W_VIEWER };
    j = call_json(&h2, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "kind")),
        "created");
    json_decref(j);

    /* a stopped campaign without calls is deleted; its events go with it */
    struct call del2 = { "DELETE", "/api/v1/campaigns/{id}", path, W_EDITOR };
    struct t_resp r;
    do_call(&del2, &r);
    assert_int_equal(r.status, 204);
    t_resp_free(&r);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld", (long long)id), 0);
    assert_int_equal(
        sql_int("SELECT count(*) FROM campaign_lists WHERE list_id = %lld", (long long)list), 0);
}

/* schedule and complete; pause of a scheduled campaign; a pinned revision. */
static void test_campaign_schedule_complete(void **state)
{
    int64_t flow = make_flow(g_tenant_a, "pinned", true);
    int64_t list = make_list(g_tenant_a, "sched", 3, 5552000);
    char body[256], lpath[128];
    json_t *j;
    (void)state;

    snprintf(body, sizeof(body), "{\"name\":\"Scheduled\",\"flow_id\":%lld,\"flow_revision\":1}",
             (long long)flow);
    int64_t id = create_campaign(body);
    snprintf(lpath, sizeof(lpath), "/api/v1/campaigns/%lld/lists/%lld", (long long)id,
             (long long)list);
    struct call a = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", lpath, W_EDITOR };
    json_decref(call_json(&a, 201));
    j = transition(id, "complete", W_EDITOR, NULL, 409);
    assert_non_null(strstr(err_message(j), "from draft to completed"));
    json_decref(j);
    json_decref(transition(id, "schedule", W_EDITOR, NULL, 200));
    json_decref(transition(id, "pause", W_EDITOR, NULL, 200));
    json_decref(transition(id, "resume", W_EDITOR, NULL, 200));
    j = transition(id, "complete", W_EDITOR, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "completed");
    assert_int_equal(json_integer_value(json_object_get(j, "flow_revision")), 1);
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM campaign_events WHERE campaign_id = %lld"
                             " AND kind = 'state_change'",
                             (long long)id),
                     4);
}

/* Lists: same tenant only, one campaign per list, detach, listing. */
static void test_campaign_lists(void **state)
{
    int64_t c1 = create_campaign("{\"name\":\"Lists one\"}");
    int64_t c2 = create_campaign("{\"name\":\"Lists two\"}");
    int64_t mine = make_list(g_tenant_a, "mine", 4, 5553000);
    int64_t theirs = make_list(g_tenant_b, "theirs", 2, 5554000);
    char p[128];
    json_t *j;
    (void)state;

    snprintf(p, sizeof(p), "/api/v1/campaigns/%lld/lists/%lld", (long long)c1, (long long)theirs);
    struct call t = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", p, W_EDITOR };
    call_err(&t, 404, "not_found", NULL);
    snprintf(p, sizeof(p), "/api/v1/campaigns/%lld/lists/%lld", (long long)c1, (long long)mine);
    struct call a = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", p, W_EDITOR };
    json_decref(call_json(&a, 201));
    char p2[128];
    snprintf(p2, sizeof(p2), "/api/v1/campaigns/%lld/lists/%lld", (long long)c2, (long long)mine);
    struct call b = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", p2, W_EDITOR };
    j = call_json(&b, 409);
    assert_non_null(strstr(err_message(j), "attached to campaign"));
    json_decref(j);
    /* the list's own delete is refused while a campaign uses it */
    char lp[64];
    snprintf(lp, sizeof(lp), "/api/v1/lists/%lld", (long long)mine);
    char lpl[128];
    snprintf(lpl, sizeof(lpl), "/api/v1/campaigns/%lld/lists", (long long)c1);
    struct call l = { "GET", "/api/v1/campaigns/{id}/lists", lpl, W_VIEWER };
    j = call_json(&l, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    json_t *x = json_array_get(json_object_get(j, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(x, "list_id")), mine);
    assert_int_equal(json_integer_value(json_object_get(x, "contacts")), 4);
    assert_int_equal(json_integer_value(json_object_get(x, "pending")), 4);
    json_decref(j);
    struct call d = { "DELETE", "/api/v1/campaigns/{id}/lists/{list_id}", p, W_EDITOR };
    struct t_resp r;
    do_call(&d, &r);
    assert_int_equal(r.status, 204);
    t_resp_free(&r);
    call_err(&d, 404, "not_found", NULL);
    assert_int_equal(sql_int("SELECT count(*) FROM campaign_events WHERE campaign_id = %lld"
                             " AND kind IN ('list_attached', 'list_detached')",
                             (long long)c1),
                     2);
    /* now the other campaign may have it */
    json_decref(call_json(&b, 201));
}

/* Attempts and call logs of a campaign that dialed (rows written as the dialer does). */
static int64_t g_calls_campaign;

static void seed_calls(void)
{
    int64_t flow = make_flow(g_tenant_a, "calls-flow", true);
    int64_t list = make_list(g_tenant_a, "calls", 6, 5555000);
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"Dialed\",\"flow_id\":%lld}", (long long)flow);
    int64_t id = create_campaign(body);
    g_calls_campaign = id;
    sql_exec("INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld, "
             "%lld)",
             (long long)g_tenant_a, (long long)id, (long long)list);
    /* six contacts: attempts at minutes 0..5 of 2026-11-02 10:00 UTC; outcomes alternate */
    sql_exec("INSERT INTO call_attempts (tenant_id, campaign_id, contact_id, number, attempt_no,"
             " dialer_node, state, started_at, answered_at, ended_at, outcome, disposition,"
             " hangup_cause)"
             " SELECT %lld, %lld, k.id, k.number, 1, 'node-a', 'ended',"
             "  '2026-11-02 10:00:00+00'::timestamptz + (row_number() OVER (ORDER BY k.id) - 1)"
             "   * interval '1 minute',"
             "  CASE WHEN k.id %% 2 = 0 THEN '2026-11-02 10:00:05+00'::timestamptz"
             "   + (row_number() OVER (ORDER BY k.id) - 1) * interval '1 minute' END,"
             "  '2026-11-02 10:00:30+00'::timestamptz + (row_number() OVER (ORDER BY k.id) - 1)"
             "   * interval '1 minute',"
             "  CASE WHEN k.id %% 2 = 0 THEN 'human' ELSE 'busy' END,"
             "  CASE WHEN k.id %% 2 = 0 THEN '=HYPERLINK(\"x\")' END,"
             "  CASE WHEN k.id %% 2 = 0 THEN 16 ELSE 17 END"
             " FROM contacts k WHERE k.list_id = %lld",
             (long long)g_tenant_a, (long long)id, (long long)list);
    sql_exec("INSERT INTO call_logs (attempt_id, tenant_id, campaign_id, number, started_at,"
             " answered_at, ended_at, ring_timeout_s, total_ms, outcome, disposition,"
             " hangup_cause, live_answer)"
             " SELECT a.id, a.tenant_id, a.campaign_id, a.number, a.started_at, a.answered_at,"
             "  a.ended_at, 25, 30000, a.outcome, a.disposition, a.hangup_cause,"
             "  a.answered_at IS NOT NULL FROM call_attempts a WHERE a.campaign_id = %lld",
             (long long)id);
    sql_exec("UPDATE contacts SET state = CASE WHEN id %% 2 = 0 THEN 'done' ELSE 'pending' END,"
             " attempts = 1, next_attempt_at = now() + interval '1 hour', block_reason = NULL"
             " WHERE list_id = %lld",
             (long long)list);
}

static void test_campaign_attempts_calls(void **state)
{
    char path[256];
    json_t *j;
    int64_t id;
    (void)state;

    seed_calls();
    id = g_calls_campaign;
    /* every attempt once over pages of 4 */
    int seen = 0;
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?limit=4", (long long)id);
    for (int round = 0; round < 5; round++) {
        struct call c = { "GET", "/api/v1/campaigns/{id}/attempts", path, W_VIEWER };
        j = call_json(&c, 200);
        json_t *items = json_object_get(j, "items"), *x;
        size_t i;
        json_array_foreach (items, i, x) {
            /* the number in full, for a principal with read permission */
            assert_int_equal(
                strncmp(json_string_value(json_object_get(x, "number")), "+1212555", 8), 0);
            seen++;
        }
        const char *cur = json_string_value(json_object_get(j, "next_cursor"));
        if (cur == NULL) {
            json_decref(j);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?limit=4&cursor=%s",
                 (long long)id, cur);
        json_decref(j);
    }
    assert_int_equal(seen, 6);

    /* filters: outcome, time range, contact */
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?outcome=busy", (long long)id);
    struct call o = { "GET", "/api/v1/campaigns/{id}/attempts", path, W_VIEWER };
    j = call_json(&o, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
    json_decref(j);
    snprintf(
        path, sizeof(path),
        "/api/v1/campaigns/%lld/attempts?from=2026-11-02T10:01:00Z&to=2026-11-02T05:03:00-05:00",
        (long long)id);
    j = call_json(&o, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    int64_t contact = sql_int("SELECT min(contact_id) FROM call_attempts WHERE campaign_id = %lld",
                              (long long)id);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?contact=%lld", (long long)id,
             (long long)contact);
    j = call_json(&o, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(j, "items"), 0), "contact_id")),
                     contact);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?outcome=maybe", (long long)id);
    call_err(&o, 400, "invalid_parameter", "?outcome");
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?from=yesterday", (long long)id);
    call_err(&o, 400, "invalid_parameter", "?from");
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/attempts?cursor=abc", (long long)id);
    call_err(&o, 400, "invalid_parameter", "?cursor");

    /* call logs with the disposition filter */
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/calls?outcome=human&limit=2",
             (long long)id);
    struct call cl = { "GET", "/api/v1/campaigns/{id}/calls", path, W_VIEWER };
    j = call_json(&cl, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
    assert_true(json_is_string(json_object_get(j, "next_cursor")));
    json_t *x = json_array_get(json_object_get(j, "items"), 0);
    assert_true(json_is_true(json_object_get(x, "live_answer")));
    assert_string_equal(json_string_value(json_object_get(x, "disposition")), "=HYPERLINK(\"x\")");
    json_decref(j);

    /* the CSV: header, one line per call, formula-safe cells */
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/calls.csv", (long long)id);
    struct call csv = {
        "GET", "/api/v1/campaigns/{id}/calls.csv", path, W_VIEWER, NULL, NULL, true
    };
    struct t_resp r;
    char ct[64];
    do_call(&csv, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(t_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_non_null(strstr(ct, "text/csv"));
    assert_int_equal(strncmp(r.body.data, "attempt_id,contact_id,attempt_no,number,", 40), 0);
    int lines = 0;
    for (size_t i = 0; i < r.body.len; i++) {
        lines += r.body.data[i] == '\n';
    }
    assert_int_equal(lines, 7);
    assert_non_null(strstr(r.body.data, ",\"'+1212555"));
    assert_non_null(strstr(r.body.data, "\"'=HYPERLINK(\"\"x\"\")\""));
    assert_null(strstr(r.body.data, ",=HYPERLINK"));
    assert_non_null(strstr(r.body.data, "2026-11-02T10:00:30.000Z"));
    t_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/calls.csv?outcome=busy", (long long)id);
    do_call(&csv, &r);
    lines = 0;
    for (size_t i = 0; i < r.body.len; i++) {
        lines += r.body.data[i] == '\n';
    }
    assert_int_equal(lines, 4);
    t_resp_free(&r);

    /* a campaign with call history is never deleted */
    json_decref(transition(id, "start", W_EDITOR, NULL, 200));
    json_decref(transition(id, "stop", W_EDITOR, NULL, 200));
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", (long long)id);
    struct call del = { "DELETE", "/api/v1/campaigns/{id}", path, W_ADMIN };
    j = call_json(&del, 409);
    assert_non_null(strstr(err_message(j), "call history"));
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld", (long long)id), 1);
}

/* The ready set explains itself: window, retry, DNC, held, finished. */
static void test_campaign_ready(void **state)
{
    int64_t flow = make_flow(g_tenant_a, "ready-flow", true);
    int64_t list = make_list(g_tenant_a, "ready", 10, 5556000);
    char body[512], path[128];
    json_t *j, *w;
    (void)state;

    /* a window that is closed now: the two hours from now + 2 h, UTC, every day */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(body, sizeof(body),
             "{\"name\":\"Ready\",\"flow_id\":%lld,\"settings\":{\"schedule\":{\"time_zone\":"
             "\"UTC\",\"windows\":[{\"days\":[\"sun\",\"mon\",\"tue\",\"wed\",\"thu\",\"fri\","
             "\"sat\"],\"from\":\"%02d:00\",\"to\":\"%02d:00\"}]}}}",
             (long long)flow, (tm.tm_hour + 2) % 24, (tm.tm_hour + 2) % 24 + 1);
    int64_t id = create_campaign(body);
    sql_exec("INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld,"
             " %lld)",
             (long long)g_tenant_a, (long long)id, (long long)list);
    /* 10 contacts: 4 due now, 2 waiting for a retry, 1 handed back for DNC, 1 leased,
     * 1 done, 1 failed */
    sql_exec("WITH k AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contacts"
             " WHERE list_id = %lld)"
             " UPDATE contacts c SET"
             " state = CASE WHEN k.n <= 7 THEN 'pending' WHEN k.n = 8 THEN 'leased'"
             "  WHEN k.n = 9 THEN 'done' ELSE 'failed' END,"
             " next_attempt_at = CASE WHEN k.n <= 4 THEN now() - interval '1 minute'"
             "  WHEN k.n = 8 THEN now() + interval '5 minutes'"
             "  ELSE now() + interval '1 hour' END,"
             " lease_owner = CASE WHEN k.n = 8 THEN 'node-a' END,"
             " lease_expires_at = CASE WHEN k.n = 8 THEN now() + interval '5 minutes' END,"
             " block_reason = CASE WHEN k.n = 7 THEN 'dnc' END"
             " FROM k WHERE c.id = k.id",
             (long long)list);
    /* leased rows need next_attempt_at = lease_expires_at */
    sql_exec("UPDATE contacts SET next_attempt_at = lease_expires_at WHERE list_id = %lld AND"
             " state = 'leased'",
             (long long)list);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/ready", (long long)id);
    struct call c = { "GET", "/api/v1/campaigns/{id}/ready", path, W_VIEWER };

    /* draft, window closed: the due ones wait for the window, with its next opening */
    j = call_json(&c, 200);
    w = json_object_get(j, "waiting");
    assert_int_equal(json_integer_value(json_object_get(j, "dialable")), 0);
    assert_int_equal(json_integer_value(json_object_get(w, "window")), 4);
    assert_int_equal(json_integer_value(json_object_get(w, "retry")), 2);
    assert_int_equal(json_integer_value(json_object_get(w, "dnc")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "held")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "finished"), "exhausted")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "finished"), "done")),
                     1);
    assert_false(json_is_true(json_object_get(j, "window_open")));
    char want[32];
    snprintf(want, sizeof(want), "T%02d:00:00Z", (tm.tm_hour + 2) % 24);
    assert_non_null(strstr(json_string_value(json_object_get(j, "next_window_open")), want));
    json_decref(j);

    /* an always-open schedule; running: the due ones are dialable */
    struct call p = { "PATCH", "/api/v1/campaigns/{id}", path, W_EDITOR, "{\"settings\":{}}" };
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", (long long)id);
    json_decref(call_json(&p, 200));
    json_decref(transition(id, "start", W_EDITOR, NULL, 200));
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/ready", (long long)id);
    j = call_json(&c, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "dialable")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "waiting"), "window")),
                     0);
    assert_true(json_is_null(json_object_get(j, "next_window_open")));
    json_decref(j);
    /* paused: the due ones wait for the campaign */
    json_decref(transition(id, "pause", W_EDITOR, NULL, 200));
    j = call_json(&c, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "dialable")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "waiting"), "campaign")),
                     4);
    json_decref(j);
}

/* schedule takes starts_at (or the settings' start_date); a bad one names the field. */
static void test_campaign_schedule_starts_at(void **state)
{
    int64_t flow = make_flow(g_tenant_a, "starts-flow", true);
    int64_t list = make_list(g_tenant_a, "starts", 2, 5557000);
    char body[256];
    json_t *j;
    (void)state;

    snprintf(body, sizeof(body),
             "{\"name\":\"Starts\",\"flow_id\":%lld,\"settings\":{\"schedule\":{\"time_zone\":"
             "\"America/New_York\",\"start_date\":\"2030-01-15\"}}}",
             (long long)flow);
    int64_t id = create_campaign(body);
    sql_exec("INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld,"
             " %lld)",
             (long long)g_tenant_a, (long long)id, (long long)list);
    /* a start time only for schedule, and only a time */
    j = transition(id, "start", W_EDITOR, "{\"starts_at\":\"2030-01-01T00:00:00Z\"}", 422);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                        "$.starts_at");
    json_decref(j);
    j = transition(id, "schedule", W_EDITOR, "{\"starts_at\":\"tomorrow\"}", 422);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                        "$.starts_at");
    json_decref(j);
    j = transition(id, "schedule", W_EDITOR, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "scheduled");
    json_decref(j);
    /* without starts_at: the settings' start date at midnight in its zone (EST: 05:00 UTC) */
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld AND starts_at ="
                             " '2030-01-15T05:00:00Z'",
                             (long long)id),
                     1);
    json_decref(transition(id, "pause", W_EDITOR, NULL, 200));
    j = transition(id, "schedule", W_EDITOR,
                   "{\"starts_at\":\"2031-02-03T04:05:06Z\",\"reason\":\"launch day\"}", 200);
    assert_non_null(strstr(json_string_value(json_object_get(j, "starts_at")), "2031-02-03"));
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld AND starts_at ="
                             " '2031-02-03T04:05:06Z'",
                             (long long)id),
                     1);
}

static json_t *callback(int64_t contact, enum who w, const char *body, long want)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/contacts/%lld/callback", (long long)contact);
    struct call c = { "POST", "/api/v1/contacts/{id}/callback", path, w, body };
    return call_json(&c, want);
}

static void callback_err(int64_t contact, const char *body, long want, const char *field)
{
    json_t *j = callback(contact, W_EDITOR, body, want);
    const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
    if (field != NULL && (f == NULL || strcmp(f, field) != 0)) {
        fprintf(stderr, "callback %s: field %s, want %s (%s)\n", body, f ? f : "(none)", field,
                err_message(j));
        fail();
    }
    json_decref(j);
}

/* A contact's callback: due at the time asked, recorded, refused with reasons. */
static void test_contact_callback(void **state)
{
    int64_t flow = make_flow(g_tenant_a, "cb-flow", true);
    int64_t list = make_list(g_tenant_a, "cb", 4, 5558000);
    int64_t lone = make_list(g_tenant_a, "cb-lone", 1, 5558100);
    char body[512], at[64], far[64];
    json_t *j;
    (void)state;

    snprintf(body, sizeof(body),
             "{\"name\":\"Callbacks\",\"flow_id\":%lld,\"settings\":{\"callbacks\":"
             "{\"enabled\":true,\"max_days\":5}}}",
             (long long)flow);
    int64_t id = create_campaign(body);
    sql_exec("INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (%lld, %lld,"
             " %lld)",
             (long long)g_tenant_a, (long long)id, (long long)list);
    int64_t k = sql_int("SELECT min(id) FROM contacts WHERE list_id = %lld", (long long)list);
    sql_exec("UPDATE contacts SET alt_numbers = '{+12125559999}', state = 'done' WHERE id = %lld",
             (long long)k);
    time_t t = time(NULL) + 2 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    t += 10 * 86400;
    gmtime_r(&t, &tm);
    strftime(far, sizeof(far), "%Y-%m-%dT%H:%M:%SZ", &tm);

    /* bad input names the field and changes nothing */
    callback_err(k, "{\"at\":\"next tuesday\"}", 400, "$.at");
    callback_err(k, "{\"at\":\"2020-01-01T10:00:00Z\"}", 400, "$.at");
    snprintf(body, sizeof(body), "{\"at\":\"%s\"}", far);
    callback_err(k, body, 400, "$.at");
    snprintf(body, sizeof(body), "{\"at\":\"%s\",\"number\":\"+12125550000\"}", at);
    callback_err(k, body, 422, "$.number");
    snprintf(body, sizeof(body), "{\"at\":\"%s\",\"number\":\"12\"}", at);
    callback_err(k, body, 400, "$.number");
    callback_err(k, "{}", 422, "$.at");
    assert_int_equal(sql_int("SELECT count(*) FROM contacts WHERE id = %lld AND state = 'done'"
                             " AND callback_at IS NULL",
                             (long long)k),
                     1);
    /* a viewer may not; another tenant's admin does not see the contact */
    snprintf(body, sizeof(body), "{\"at\":\"%s\"}", at);
    json_decref(callback(k, W_VIEWER, body, 403));
    json_decref(callback(k, W_B_ADMIN, body, 404));

    /* on the alternate number, with a note: pending, due then, in the history */
    snprintf(body, sizeof(body),
             "{\"at\":\"%s\",\"number\":\"+12125559999\",\"note\":\"asked for Thursday\"}", at);
    j = callback(k, W_EDITOR, body, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "contact_id")), k);
    assert_int_equal(json_integer_value(json_object_get(j, "campaign_id")), id);
    assert_int_equal(json_integer_value(json_object_get(j, "number_index")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "number")), "+12125559999");
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM contacts WHERE id = %lld AND state = 'pending'"
                             " AND next_attempt_at = '%s' AND callback_at = '%s' AND"
                             " next_number = 1 AND block_reason = 'callback'",
                             (long long)k, at, at),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM campaign_events WHERE campaign_id = %lld AND"
                             " kind = 'note' AND reason = 'asked for Thursday' AND actor LIKE"
                             " 'user:%%'",
                             (long long)id),
                     1);
    /* the ready set counts it as a callback and says why the campaign is not complete */
    json_decref(transition(id, "start", W_EDITOR, NULL, 200));
    sql_exec("UPDATE contacts SET state = 'done' WHERE list_id = %lld AND id <> %lld",
             (long long)list, (long long)k);
    snprintf(body, sizeof(body), "/api/v1/campaigns/%lld/ready", (long long)id);
    struct call r = { "GET", "/api/v1/campaigns/{id}/ready", body, W_VIEWER };
    j = call_json(&r, 200);
    json_t *cpl = json_object_get(j, "completion");
    assert_false(json_is_true(json_object_get(cpl, "complete")));
    assert_int_equal(json_integer_value(json_object_get(cpl, "callbacks")), 1);
    assert_int_equal(json_integer_value(json_object_get(cpl, "open")), 1);
    assert_non_null(strstr(json_string_value(json_object_get(cpl, "why")), "1 callbacks"));
    json_decref(j);

    /* a contact being dialed, a DNC contact, a list without a campaign: 409 */
    snprintf(body, sizeof(body), "{\"at\":\"%s\"}", at);
    int64_t k2 = sql_int("SELECT max(id) FROM contacts WHERE list_id = %lld", (long long)list);
    sql_exec("UPDATE contacts SET state = 'dialing', lease_owner = 'n', lease_expires_at = now()"
             " WHERE id = %lld",
             (long long)k2);
    callback_err(k2, body, 409, NULL);
    sql_exec("UPDATE contacts SET state = 'dnc', lease_owner = NULL, lease_expires_at = NULL"
             " WHERE id = %lld",
             (long long)k2);
    callback_err(k2, body, 409, NULL);
    callback_err(sql_int("SELECT id FROM contacts WHERE list_id = %lld", (long long)lone), body,
                 409, NULL);
    callback_err(999999999, body, 404, NULL);
    /* callbacks off: 422 naming at */
    struct call off = { "PATCH", "/api/v1/campaigns/{id}", body, W_EDITOR,
                        "{\"settings\":{\"callbacks\":{\"enabled\":false}}}" };
    snprintf(body, sizeof(body), "/api/v1/campaigns/%lld", (long long)id);
    json_decref(call_json(&off, 200));
    snprintf(body, sizeof(body), "{\"at\":\"%s\"}", at);
    callback_err(k, body, 422, "$.at");
}

/* Another tenant sees nothing and changes nothing. */
static void test_campaign_cross_tenant(void **state)
{
    static const struct {
        const char *method, *pattern, *suffix, *body;
    } routes[] = {
        { "GET", "/api/v1/campaigns/{id}", "", NULL },
        { "PATCH", "/api/v1/campaigns/{id}", "", "{\"name\":\"stolen\"}" },
        { "DELETE", "/api/v1/campaigns/{id}", "", NULL },
        { "POST", "/api/v1/campaigns/{id}/start", "/start", NULL },
        { "POST", "/api/v1/campaigns/{id}/stop", "/stop", NULL },
        { "GET", "/api/v1/campaigns/{id}/history", "/history", NULL },
        { "GET", "/api/v1/campaigns/{id}/lists", "/lists", NULL },
        { "GET", "/api/v1/campaigns/{id}/attempts", "/attempts", NULL },
        { "GET", "/api/v1/campaigns/{id}/calls", "/calls", NULL },
        { "GET", "/api/v1/campaigns/{id}/calls.csv", "/calls.csv", NULL },
        { "GET", "/api/v1/campaigns/{id}/ready", "/ready", NULL },
    };

    int64_t flow = make_flow(g_tenant_a, "xt-flow", true);
    int64_t list = make_list(g_tenant_a, "xt", 2, 5557000);
    int64_t blist = make_list(g_tenant_b, "xt-b", 2, 5558000);
    char body[128], path[128];
    (void)state;

    snprintf(body, sizeof(body), "{\"name\":\"Private\",\"flow_id\":%lld}", (long long)flow);
    int64_t id = create_campaign(body);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/campaigns/%lld%s", (long long)id, routes[i].suffix);
        struct call c = { routes[i].method, routes[i].pattern, path, W_B_ADMIN, routes[i].body };
        call_err(&c, 404, "not_found", NULL);
    }
    /* B attaches its list to A's campaign, or A's list to its own: 404 */
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/lists/%lld", (long long)id,
             (long long)blist);
    struct call a = { "POST", "/api/v1/campaigns/{id}/lists/{list_id}", path, W_B_ADMIN };
    call_err(&a, 404, "not_found", NULL);
    struct call bc = { "POST", "/api/v1/campaigns", "/api/v1/campaigns", W_B_ADMIN,
                       "{\"name\":\"B's own\"}" };
    json_t *j = call_json(&bc, 201);
    int64_t bid = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/lists/%lld", (long long)bid,
             (long long)list);
    call_err(&a, 404, "not_found", NULL);
    /* B's list does not show A's campaigns */
    struct call l = { "GET", "/api/v1/campaigns", "/api/v1/campaigns?limit=200", W_B_ADMIN };
    j = call_json(&l, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
    assert_int_equal(sql_int("SELECT count(*) FROM campaigns WHERE id = %lld AND name = 'Private'"
                             " AND state = 'draft'",
                             (long long)id),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM campaign_lists WHERE list_id IN (%lld, %lld)",
                             (long long)list, (long long)blist),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_create_validation),
        cmocka_unit_test(test_campaign_create_get_idempotent),
        cmocka_unit_test(test_campaign_patch),
        cmocka_unit_test(test_campaign_list_filters_pages),
        cmocka_unit_test(test_campaign_transitions),
        cmocka_unit_test(test_campaign_schedule_complete),
        cmocka_unit_test(test_campaign_lists),
        cmocka_unit_test(test_campaign_attempts_calls),
        cmocka_unit_test(test_campaign_ready),
        cmocka_unit_test(test_campaign_schedule_starts_at),
        cmocka_unit_test(test_contact_callback),
        cmocka_unit_test(test_campaign_cross_tenant),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("api_campaigns", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
