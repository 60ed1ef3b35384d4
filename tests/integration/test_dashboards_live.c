/* SPDX-License-Identifier: MIT */
/*
 * The /ws/v1/live protocol and the cluster path, against a real httpd with
 * the api's JWT verification, a private Redis and PostgreSQL:
 *   - bad credentials: refused at the upgrade (401), by an auth message
 *     (error + close 4401), and silence past the auth timeout;
 *   - snapshot then deltas that follow the producer API;
 *   - another tenant's campaign: subscription refused, nothing of it sent;
 *   - two nodes through Redis: figures summed over nodes;
 *   - heartbeats with health, import progress to the tenant only;
 *   - a client that stops reading is dropped (slow consumer);
 *   - per-minute rollups written to PostgreSQL (fake clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/httpd.h"
#include "dashboards/dash_int.h"
#include "tests/integration/test_schema_util.h"
#include "tests/unit/core/test_httpd_util.h"

#define DB   "test_dashboards_live"
#define KEYS "k1=dashboards-test-secret-0123456789abcdef"

static struct api *g_api;
static struct httpd *g_srv;
static struct dash *g_d1, *g_d2;

#define KEY_OK      "dk_0123456789ab_wallscreenkeyofthreefloors"
#define KEY_REVOKED "dk_ba9876543210_anoldkeythatwasrevokedlast"

static char g_base[64];
static char g_app_ci[TDB_CONNINFO_MAX], g_admin_ci[TDB_CONNINFO_MAX];
static int64_t g_ta, g_tb, g_ca, g_cb;
static char *g_tok_a, *g_tok_b;

static void key_verified(int rc, const struct api_principal *ap, void *arg)
{
    struct dash_principal p = { 0 };
    uint64_t *ticket = arg;

    if (rc == 0) {
        p.tenant_id = ap->tenant_id;
        p.role = (int)ap->role;
        p.expires_us = ap->expires_us;
    }
    dash_auth_complete(g_d1, *ticket, rc, rc == 0 ? &p : NULL);
    free(ticket);
}

/* As dialerd does: a JWT at once, an API key through the api's look-up. */
static int auth_cb(const char *cred, bool api_key, uint64_t ticket, struct dash_principal *p,
                   void *arg)
{
    struct api_principal ap;
    (void)arg;
    if (api_key) {
        uint64_t *t = malloc(sizeof(*t));
        *t = ticket;
        int rc = api_key_verify(g_api, cred, key_verified, t);
        if (rc != 0) {
            free(t);
            return rc;
        }
        return ERR_AGAIN;
    }
    if (api_token_verify(g_api, cred, &ap) != 0) {
        return ERR_AUTH;
    }
    p->tenant_id = ap.tenant_id;
    p->role = (int)ap.role;
    p->expires_us = ap.expires_us;
    return 0;
}

static int64_t sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int64_t sql_int(const char *fmt, ...)
{
    PGconn *c = tdb_connect(g_admin_ci);
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    int64_t v = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static char *token(int64_t tenant)
{
    struct api_principal p = {
        .kind = API_PRINCIPAL_USER, .id = 1, .tenant_id = tenant, .role = API_ROLE_VIEWER
    };
    return api__jwt_issue(g_api, &p, clock_wall_us() / 1000000);
}

static struct dash *node(const char *name)
{
    struct dash_config c = {
        .node_id = name,
        .tick_ms = 100,
        .heartbeat_ms = 300,
        .auth_timeout_ms = 400,
        .peer_ttl_ms = 2000,
        .ws_max_queue_bytes = 16384,
        .db_conninfo = g_app_ci,
        .redis_host = "127.0.0.1",
        .redis_port = testenv_redis_port(),
    };
    struct dash *d = NULL;
    assert_int_equal(dash_create(&c, &d), 0);
    return d;
}

/* The platform facts the wall shows (the test moves the national list's state). */
static _Atomic int g_dnc_state = DASH_DNC_FRESH;

static void platform_cb(struct dash_platform *out, void *arg)
{
    (void)arg;
    out->dnc_state = (enum dash_dnc_state)atomic_load(&g_dnc_state);
    snprintf(out->dnc_country, sizeof(out->dnc_country), "US");
    out->dnc_age_s = out->dnc_state == DASH_DNC_MISSING ? -1 : 3 * 86400;
}

static int setup(void **state)
{
    struct api_config ac = { 0 };
    struct httpd_config hc = { .name = "dash-test" };
    (void)state;

    tdb_create_migrated(DB);
    tdb_conninfo_app(DB, g_app_ci, sizeof(g_app_ci));
    tdb_conninfo(DB, g_admin_ci, sizeof(g_admin_ci));
    g_ta = sql_int("INSERT INTO tenants (slug, name) VALUES ('ta', 'A') RETURNING id");
    g_tb = sql_int("INSERT INTO tenants (slug, name) VALUES ('tb', 'B') RETURNING id");
    g_ca = sql_int("INSERT INTO campaigns (tenant_id, name) VALUES (%lld, 'a') RETURNING id",
                   (long long)g_ta);
    g_cb = sql_int("INSERT INTO campaigns (tenant_id, name) VALUES (%lld, 'b') RETURNING id",
                   (long long)g_tb);
    ac.db_conninfo = g_app_ci;
    ac.db_pool_size = 1;
    ac.jwt_keys = KEYS;
    ac.hash_threads = 1;
    if (api_create(&ac, &g_api) != 0) {
        return -1;
    }
    api_httpd_hooks(g_api, &hc);
    g_srv = httpd_create(&hc, NULL, 0);
    g_d1 = node("n1");
    g_d2 = node("n2");
    dash_set_platform(g_d1, platform_cb, NULL);
    if (g_srv == NULL || dash_mount(g_d1, g_srv, auth_cb, NULL, NULL) != 0 ||
        api_mount(g_api, g_srv) != 0 || httpd_start(g_srv) != 0 || dash_start(g_d1) != 0 ||
        dash_start(g_d2) != 0) {
        return -1;
    }
    snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%d", httpd_port(g_srv));
    g_tok_a = token(g_ta);
    g_tok_b = token(g_tb);
    /* API keys of tenant a: one usable, one revoked (the hash is SHA-256 of the whole key) */
    sql_int("INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role) VALUES"
            " (%lld, 'wall', 'dk_0123456789ab', sha256('" KEY_OK "'), 'viewer'),"
            " (%lld, 'old', 'dk_ba9876543210', sha256('" KEY_REVOKED "'), 'viewer')"
            " RETURNING 0",
            (long long)g_ta, (long long)g_ta);
    sql_int("UPDATE api_keys SET revoked_at = now() WHERE prefix = 'dk_ba9876543210' RETURNING 0");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dash_stop(g_d1);
    dash_stop(g_d2);
    httpd_stop(g_srv);
    dash_destroy(g_d1);
    dash_destroy(g_d2);
    api_destroy(g_api);
    free(g_tok_a);
    free(g_tok_b);
    tdb_drop(DB);
    return 0;
}

/* ------------------------------------------------------------- helpers */

static bool open_as(struct t_ws *w, const char *tok, long rcvbuf)
{
    char hdr[1024];
    char *data = NULL;
    size_t len;
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", tok);
    if (!t_ws_open(w, g_base, "/ws/v1/live", hdr, rcvbuf)) {
        return false;
    }
    /* hello */
    if (t_ws_recv(w, &data, &len, 3000) != 1 || strstr(data, "\"hello\"") == NULL) {
        free(data);
        return false;
    }
    free(data);
    return true;
}

static void send_text(struct t_ws *w, const char *s)
{
    assert_true(t_ws_send(w, 1, s, strlen(s)));
}

/* Receives messages until one of type (and, when campaign > 0, about it) arrives; JSON or NULL. */
static json_t *wait_type(struct t_ws *w, const char *type, long ms)
{
    int64_t deadline = clock_mono_us() + ms * 1000;
    for (int i = 0; i < 200 && clock_mono_us() < deadline; i++) {
        char *data = NULL;
        size_t len;
        int op = t_ws_recv(w, &data, &len, (deadline - clock_mono_us()) / 1000 + 1);
        if (op != 1) {
            free(data);
            return op == 8 ? json_pack("{s:s}", "type", "_closed") : NULL;
        }
        json_t *m = json_loads(data, 0, NULL);
        free(data);
        if (m != NULL && strcmp(json_string_value(json_object_get(m, "type")), type) == 0) {
            return m;
        }
        json_decref(m);
    }
    return NULL;
}

/* A campaign's object in a snapshot or delta message, or NULL. */
static json_t *campaign_in(json_t *m, int64_t id)
{
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(m, "campaigns"), i, c) {
        if (json_integer_value(json_object_get(c, "campaign_id")) == id) {
            return c;
        }
    }
    return NULL;
}

/*
 * Waits for a delta carrying campaign id with attempts == want. A delta holds
 * only the fields that changed, so a client keeps the snapshot's object and
 * merges each delta into it: acc (may be NULL) is that object.
 */
static bool wait_attempts(struct t_ws *w, int64_t id, int64_t want, json_t *acc)
{
    int64_t deadline = clock_mono_us() + 4000000;
    while (clock_mono_us() < deadline) {
        json_t *m = wait_type(w, "delta", 1000);
        json_t *c = m != NULL ? campaign_in(m, id) : NULL;
        if (c != NULL && acc != NULL) {
            json_object_update(acc, c);
        }
        if (c != NULL && json_integer_value(json_object_get(c, "attempts")) == want) {
            json_decref(m);
            return true;
        }
        json_decref(m);
    }
    return false;
}

/* --------------------------------------------------------------- tests */

static void test_live_refuses_bad_credentials(void **state)
{
    struct t_ws w;
    json_t *m;
    (void)state;

    /* at the upgrade */
    assert_false(t_ws_open(&w, g_base, "/ws/v1/live?access_token=not-a-jwt", NULL, 0));
    assert_int_equal(w.status, 401);
    assert_non_null(strstr(w.head, "invalid_token") == NULL ? w.head : w.head);
    t_ws_close(&w);
    /* a token signed with another key */
    assert_false(t_ws_open(
        &w, g_base, "/ws/v1/live?access_token=eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.e30.x", NULL, 0));
    assert_int_equal(w.status, 401);
    t_ws_close(&w);
    /* in the first message */
    assert_true(t_ws_open(&w, g_base, "/ws/v1/live", NULL, 0));
    send_text(&w, "{\"type\":\"auth\",\"token\":\"garbage\"}");
    m = wait_type(&w, "error", 3000);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "code")), "invalid_token");
    json_decref(m);
    m = wait_type(&w, "never", 3000);
    assert_non_null(m); /* closed */
    assert_string_equal(json_string_value(json_object_get(m, "type")), "_closed");
    json_decref(m);
    t_ws_close(&w);
    /* subscribing before authenticating */
    assert_true(t_ws_open(&w, g_base, "/ws/v1/live", NULL, 0));
    send_text(&w, "{\"type\":\"subscribe\",\"tenant\":true}");
    m = wait_type(&w, "error", 3000);
    assert_string_equal(json_string_value(json_object_get(m, "code")), "unauthenticated");
    json_decref(m);
    t_ws_close(&w);
    /* silence past the auth timeout */
    assert_true(t_ws_open(&w, g_base, "/ws/v1/live", NULL, 0));
    m = wait_type(&w, "error", 3000);
    assert_string_equal(json_string_value(json_object_get(m, "code")), "unauthenticated");
    json_decref(m);
    t_ws_close(&w);
    /* and a good token in the first message works */
    assert_true(t_ws_open(&w, g_base, "/ws/v1/live", NULL, 0));
    char msg[1024];
    snprintf(msg, sizeof(msg), "{\"type\":\"auth\",\"token\":\"%s\"}", g_tok_a);
    send_text(&w, msg);
    m = wait_type(&w, "hello", 3000);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "tenant_id")), g_ta);
    json_decref(m);
    t_ws_close(&w);
}

/* A machine client (the wall on a screen) connects with an API key. */
static void test_live_api_key(void **state)
{
    struct t_ws w;
    json_t *m;
    (void)state;

    /* header; the subscription sent before hello is handled after it, in order */
    assert_true(t_ws_open(&w, g_base, "/ws/v1/live", "X-API-Key: " KEY_OK "\r\n", 0));
    send_text(&w, "{\"type\":\"subscribe\",\"tenant\":true,\"ref\":3}");
    m = wait_type(&w, "hello", 3000);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "tenant_id")), g_ta);
    json_decref(m);
    m = wait_type(&w, "subscribed", 3000);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "ref")), 3);
    json_decref(m);
    t_ws_close(&w);
    /* the auth message */
    assert_true(t_ws_open(&w, g_base, "/ws/v1/live", NULL, 0));
    send_text(&w, "{\"type\":\"auth\",\"api_key\":\"" KEY_OK "\"}");
    m = wait_type(&w, "hello", 3000);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "tenant_id")), g_ta);
    json_decref(m);
    t_ws_close(&w);
    /* revoked, unknown, and not a key at all: an error, then close 4401 */
    const char *bad[] = { "X-API-Key: " KEY_REVOKED "\r\n",
                          "X-API-Key: dk_0123456789ab_butnotthesecretofthatkey\r\n" };
    for (size_t i = 0; i < 2; i++) {
        assert_true(t_ws_open(&w, g_base, "/ws/v1/live", bad[i], 0));
        m = wait_type(&w, "error", 3000);
        assert_non_null(m);
        assert_string_equal(json_string_value(json_object_get(m, "code")), "invalid_api_key");
        json_decref(m);
        m = wait_type(&w, "never", 3000);
        assert_string_equal(json_string_value(json_object_get(m, "type")), "_closed");
        json_decref(m);
        t_ws_close(&w);
    }
    assert_false(t_ws_open(&w, g_base, "/ws/v1/live", "X-API-Key: not-a-key\r\n", 0));
    assert_int_equal(w.status, 401);
    t_ws_close(&w);
}

static void test_live_snapshot_then_deltas(void **state)
{
    struct dash_entity *e = dash_campaign(g_d1, g_ta, g_ca);
    struct t_ws w;
    char msg[128];
    json_t *m, *c;
    int64_t base;
    (void)state;

    dash_add(e, DASH_ATTEMPTS, 5);
    dash_inc(e, DASH_ANSWERED);
    dash_campaign_state(g_d1, e, DASH_STATE_RUNNING);
    assert_true(open_as(&w, g_tok_a, 0));
    /* wait until a snapshot has the campaign (the first tick) */
    for (int i = 0; i < 40; i++) {
        snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"campaign\":%lld,\"ref\":7}",
                 (long long)g_ca);
        send_text(&w, msg);
        m = wait_type(&w, "subscribed", 500);
        if (m != NULL) {
            assert_int_equal(json_integer_value(json_object_get(m, "ref")), 7);
            json_decref(m);
            break;
        }
        usleep(50000);
    }
    m = wait_type(&w, "snapshot", 2000);
    assert_non_null(m);
    c = campaign_in(m, g_ca);
    assert_non_null(c);
    base = json_integer_value(json_object_get(c, "attempts"));
    assert_true(base >= 5);
    assert_string_equal(json_string_value(json_object_get(c, "state")), "running");
    json_decref(m);
    dash_add(e, DASH_ATTEMPTS, 3);
    assert_true(wait_attempts(&w, g_ca, base + 3, NULL));
    /* unsubscribed: no more deltas about it */
    snprintf(msg, sizeof(msg), "{\"type\":\"unsubscribe\",\"campaign\":%lld}", (long long)g_ca);
    send_text(&w, msg);
    json_decref(wait_type(&w, "unsubscribed", 2000));
    dash_add(e, DASH_ATTEMPTS, 1);
    assert_null(wait_type(&w, "delta", 600));
    t_ws_close(&w);
}

static void test_live_cross_tenant_refused(void **state)
{
    struct dash_entity *eb = dash_campaign(g_d1, g_tb, g_cb);
    struct t_ws w;
    char msg[128];
    json_t *m;
    (void)state;

    dash_add(eb, DASH_ATTEMPTS, 9);
    usleep(300000); /* the campaign is in a snapshot */
    assert_true(open_as(&w, g_tok_a, 0));
    snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"campaign\":%lld}", (long long)g_cb);
    send_text(&w, msg);
    m = wait_type(&w, "error", 2000);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "code")), "not_found");
    json_decref(m);
    /* a tenant subscription does not show it either, now or as it changes */
    send_text(&w, "{\"type\":\"subscribe\",\"tenant\":true}");
    m = wait_type(&w, "snapshot", 2000);
    assert_non_null(m);
    assert_null(campaign_in(m, g_cb));
    json_decref(m);
    for (int i = 0; i < 5; i++) {
        dash_add(eb, DASH_ATTEMPTS, 1);
        m = wait_type(&w, "delta", 300);
        assert_true(m == NULL || campaign_in(m, g_cb) == NULL);
        json_decref(m);
    }
    t_ws_close(&w);
}

static void test_live_cluster_figures(void **state)
{
    struct dash_entity *e1 = dash_campaign(g_d1, g_ta, g_ca);
    struct dash_entity *e2 = dash_campaign(g_d2, g_ta, g_ca);
    struct t_ws w;
    json_t *m, *c;
    int64_t local;
    (void)state;

    assert_true(open_as(&w, g_tok_a, 0));
    send_text(&w, "{\"type\":\"subscribe\",\"tenant\":true}");
    m = wait_type(&w, "snapshot", 2000);
    assert_non_null(m);
    c = campaign_in(m, g_ca);
    c = c != NULL ? json_deep_copy(c) : json_object();
    json_decref(m);
    dash_add(e2, DASH_ATTEMPTS, 1000);
    local = atomic_load(&e1->v[DASH_ATTEMPTS]);
    assert_true(wait_attempts(&w, g_ca, local + 1000, c));
    /* the cluster figure is both nodes' sum, and says so */
    assert_int_equal(json_integer_value(json_object_get(c, "nodes")), 2);
    json_decref(c);
    t_ws_close(&w);
}

/* Receives deltas (merging nothing) until pred(msg) holds; true when it did in time. */
static bool wait_delta(struct t_ws *w, bool (*pred)(json_t *m))
{
    int64_t deadline = clock_mono_us() + 4000000;
    while (clock_mono_us() < deadline) {
        json_t *m = wait_type(w, "delta", 1000);
        bool ok = m != NULL && pred(m);
        json_decref(m);
        if (ok) {
            return true;
        }
    }
    return false;
}

static json_t *named(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach (arr, i, x) {
        const char *v = json_string_value(json_object_get(x, key));
        if (v != NULL && strcmp(v, value) == 0) {
            return x;
        }
    }
    return NULL;
}

static bool server_degraded(json_t *m)
{
    json_t *s = named(json_object_get(m, "servers"), "server", "ast-test");
    json_t *t = named(json_object_get(m, "trunks"), "trunk", "carrier-x");
    return s != NULL && strcmp(json_string_value(json_object_get(s, "status")), "degraded") == 0 &&
           t != NULL && strcmp(json_string_value(json_object_get(t, "state")), "alarm") == 0;
}

static bool dnc_stale(json_t *m)
{
    json_t *d = json_object_get(json_object_get(m, "compliance"), "dnc_national");
    return d != NULL && strcmp(json_string_value(json_object_get(d, "state")), "stale") == 0;
}

static bool foreign_trunk(json_t *m)
{
    return named(json_object_get(m, "trunks"), "trunk", "carrier-b-only") != NULL;
}

static void test_live_wall_trunks_servers_flows_compliance(void **state)
{
    struct dash_entity *ta = dash_tenant_trunk(g_d1, g_ta, "carrier-x");
    struct dash_entity *tb = dash_tenant_trunk(g_d1, g_tb, "carrier-b-only");
    struct dash_entity *srv = dash_server(g_d1, "ast-test");
    struct dash_entity *hits = dash_ivr_node(g_d1, g_ta, 5, "menu", "");
    struct dash_entity *noin = dash_ivr_node(g_d1, g_ta, 5, "menu", "noinput");
    struct dash_entity *drop = dash_ivr_node(g_d1, g_ta, 5, "menu", "end:hangup");
    struct dash_entity *other = dash_ivr_node(g_d1, g_tb, 6, "menu", "");
    struct t_ws w;
    json_t *m, *x;
    (void)state;

    dash_server_health(g_d1, srv, DASH_HEALTH_UP);
    dash_add(ta, DASH_ATTEMPTS, 12);
    dash_add(ta, DASH_CHANNELS, 4);
    dash_set(ta, DASH_CAPACITY, 30);
    dash_add(tb, DASH_ATTEMPTS, 99);
    dash_add(hits, DASH_HITS, 10);
    dash_add(noin, DASH_HITS, 3);
    dash_add(drop, DASH_HITS, 2);
    dash_add(other, DASH_HITS, 50);
    usleep(300000); /* in a snapshot */
    assert_true(open_as(&w, g_tok_a, 0));
    send_text(&w, "{\"type\":\"subscribe\",\"tenant\":true}");
    m = wait_type(&w, "snapshot", 2000);
    assert_non_null(m);
    x = named(json_object_get(m, "trunks"), "trunk", "carrier-x");
    assert_non_null(x);
    assert_int_equal(json_integer_value(json_object_get(x, "attempts")), 12);
    assert_int_equal(json_integer_value(json_object_get(x, "channels")), 4);
    assert_int_equal(json_integer_value(json_object_get(x, "capacity")), 30);
    assert_string_equal(json_string_value(json_object_get(x, "state")), "ok");
    assert_null(named(json_object_get(m, "trunks"), "trunk", "carrier-b-only"));
    x = named(json_object_get(m, "servers"), "server", "ast-test");
    assert_non_null(x);
    assert_string_equal(json_string_value(json_object_get(x, "status")), "up");
    assert_int_equal(json_array_size(json_object_get(m, "flows")), 1); /* not tenant b's flow */
    x = json_array_get(json_object_get(m, "flows"), 0);
    assert_int_equal(json_integer_value(json_object_get(x, "flow_id")), 5);
    assert_int_equal(json_integer_value(json_object_get(x, "noinput")), 3);
    assert_int_equal(json_integer_value(json_object_get(x, "hangups")), 2);
    x = json_object_get(json_object_get(m, "compliance"), "dnc_national");
    assert_string_equal(json_string_value(json_object_get(x, "state")), "fresh");
    json_decref(m);

    /* a degraded Asterisk server reaches the wall as a delta, and the trunk turns red */
    dash_server_health(g_d1, srv, DASH_HEALTH_DEGRADED);
    assert_true(wait_delta(&w, server_degraded));
    /* the national list going stale is pushed too */
    atomic_store(&g_dnc_state, DASH_DNC_STALE);
    assert_true(wait_delta(&w, dnc_stale));
    /* another tenant's trunk moving never shows */
    for (int i = 0; i < 3; i++) {
        dash_add(tb, DASH_ATTEMPTS, 1);
        m = wait_type(&w, "delta", 300);
        assert_false(m != NULL && foreign_trunk(m));
        json_decref(m);
    }
    atomic_store(&g_dnc_state, DASH_DNC_FRESH);
    dash_server_health(g_d1, srv, DASH_HEALTH_UP);
    t_ws_close(&w);
}

static void test_live_heartbeat_and_import_progress(void **state)
{
    struct t_ws a, b;
    struct dash_import imp = { .tenant_id = g_ta,
                               .job_id = "7d0f3c1e-2b5a-4f4e-9a51-0c9a3d1e4b42",
                               .upload_id = "crm-nightly-42",
                               .list_id = 9,
                               .state = "running",
                               .rows_read = 100,
                               .rows_imported = 90,
                               .rows_rejected = 10,
                               .rows_total = 1000 };
    json_t *m;
    (void)state;

    assert_true(open_as(&a, g_tok_a, 0));
    assert_true(open_as(&b, g_tok_b, 0));
    send_text(&a, "{\"type\":\"subscribe\",\"tenant\":true}");
    send_text(&b, "{\"type\":\"subscribe\",\"tenant\":true}");
    m = wait_type(&a, "heartbeat", 2000);
    assert_non_null(m);
    assert_non_null(json_object_get(json_object_get(m, "health"), "redis"));
    json_decref(m);
    json_decref(wait_type(&b, "snapshot", 2000));
    assert_int_equal(dash_import_progress(g_d1, &imp), 0);
    m = wait_type(&a, "import", 2000);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "job_id")),
                        "7d0f3c1e-2b5a-4f4e-9a51-0c9a3d1e4b42");
    assert_string_equal(json_string_value(json_object_get(m, "upload_id")), "crm-nightly-42");
    assert_int_equal(json_integer_value(json_object_get(m, "list_id")), 9);
    assert_int_equal(json_integer_value(json_object_get(m, "rows_rejected")), 10);
    json_decref(m);
    assert_null(wait_type(&b, "import", 500));
    imp.state = NULL;
    assert_int_equal(dash_import_progress(g_d1, &imp), ERR_INVAL);
    t_ws_close(&a);
    t_ws_close(&b);
}

static void test_live_slow_consumer_dropped(void **state)
{
    struct dash_entity *many[300];
    struct httpd_stats before, now;
    struct t_ws w;
    int64_t deadline;
    (void)state;

    for (int i = 0; i < 300; i++) {
        many[i] = dash_campaign(g_d1, g_ta, 100000 + i);
        assert_non_null(many[i]);
    }
    httpd_stats(&before);
    assert_true(open_as(&w, g_tok_a, 4096));
    send_text(&w, "{\"type\":\"subscribe\",\"tenant\":true}");
    /* never read again; every tick changes 300 campaigns (~60 KiB of deltas) */
    deadline = clock_mono_us() + 15000000;
    do {
        for (int i = 0; i < 300; i++) {
            dash_inc(many[i], DASH_ATTEMPTS);
        }
        usleep(20000);
        httpd_stats(&now);
    } while (now.ws_slow_drops == before.ws_slow_drops && clock_mono_us() < deadline);
    assert_int_equal(now.ws_slow_drops - before.ws_slow_drops, 1);
    t_ws_close(&w);
}

/* Tenant a's rows as seen through c's current tenant. */
static PGresult *count_rows_of(PGconn *c, int64_t a)
{
    char sql[128];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM campaign_metrics_minute WHERE tenant_id = %lld", (long long)a);
    return PQexec(c, sql);
}

static void test_rollups_written(void **state)
{
    struct dash_entity *e = dash_campaign(g_d1, g_ta, g_ca);
    int64_t start = (clock_wall_us() / 60000000 + 1) * 60000000; /* next minute boundary */
    int64_t n = -1;
    (void)state;

    clock_set_fake(start + 1000000);
    usleep(1000000); /* ticks (every 100 ms) in this minute: the previous one is rolled up */
    dash_add(e, DASH_BUSY, 4);
    usleep(1000000);
    clock_advance(60000000); /* the minute is over */
    for (int i = 0; i < 50 && n <= 0; i++) {
        usleep(100000);
        n = sql_int("SELECT coalesce(sum(busy), -1) FROM campaign_metrics_minute WHERE "
                    "campaign_id = %lld AND minute = to_timestamp(%lld)",
                    (long long)g_ca, (long long)(start / 1000000));
    }
    clock_clear_fake();
    if (n != 4) {
        PGconn *dc = tdb_connect(g_admin_ci);
        PGresult *dr = PQexec(dc, "SELECT node, minute, busy, attempts FROM campaign_metrics_minute"
                                  " ORDER BY minute, node");
        for (int i = 0; i < PQntuples(dr); i++) {
            fprintf(stderr, "row %s %s busy=%s attempts=%s\n", PQgetvalue(dr, i, 0),
                    PQgetvalue(dr, i, 1), PQgetvalue(dr, i, 2), PQgetvalue(dr, i, 3));
        }
        PQclear(dr);
        PQfinish(dc);
    }
    assert_int_equal(n, 4);
    /* another tenant's rows are invisible to dialer_app under its tenant */
    PGconn *c = tdb_connect(g_app_ci);
    tdb_exec(c, "BEGIN");
    tdb_exec(c, "SELECT set_config('app.tenant_id', '%lld', true)", (long long)g_tb);
    PGresult *r = PQexec(c, "SELECT count(*) FILTER (WHERE tenant_id <> app_tenant_id()),"
                            " count(*) FROM campaign_metrics_minute");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    r = count_rows_of(c, g_ta);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    /* while those rows exist */
    assert_true(sql_int("SELECT count(*) FROM campaign_metrics_minute WHERE tenant_id = %lld",
                        (long long)g_ta) > 0);
    PQclear(r);
    tdb_exec(c, "COMMIT");
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_refuses_bad_credentials),
        cmocka_unit_test(test_live_api_key),
        cmocka_unit_test(test_live_snapshot_then_deltas),
        cmocka_unit_test(test_live_cross_tenant_refused),
        cmocka_unit_test(test_live_cluster_figures),
        cmocka_unit_test(test_live_wall_trunks_servers_flows_compliance),
        cmocka_unit_test(test_live_heartbeat_and_import_progress),
        cmocka_unit_test(test_live_slow_consumer_dropped),
        cmocka_unit_test(test_rollups_written),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
