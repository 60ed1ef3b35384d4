/* SPDX-License-Identifier: MIT */
/*
 * Integration test of what dialerd hands a tenant's flows
 * (server/secrets_wire.c): secrets sealed in PostgreSQL (as the API stores
 * them) are decrypted into the api_call render context of their tenant
 * only; tenants.settings.api_call_allow lets that tenant's api_call reach a
 * loopback server that another tenant is refused; a change is picked up at
 * the next refresh; the secret's value appears in no log line (DEBUG
 * included) and no step. Real PostgreSQL, a real local HTTP server
 * (core/httpd, loopback), the interpreter on a libev loop.
 */
#include <ev.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "core/err.h"
#include "core/http.h"
#include "core/httpd.h"
#include "core/log.h"
#include "ivr/ivr.h"
#include "server/secrets_wire.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"

#define DB     "test_secrets_wire"
#define SECRET "v4lue-9c2e-never-logged"

static atomic_int hits;

static int h_balance(struct httpd_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&hits, 1);
    const char *auth = httpd_req_header(req, "authorization");
    if (auth == NULL || strcmp(auth, "Bearer " SECRET) != 0) {
        return httpd_respond_json(req, 401, json_pack("{s:s}", "error", "unauthorised"));
    }
    return httpd_respond_json(req, 200, json_pack("{s:i}", "balance", 42));
}

struct fx {
    struct httpd *srv;
    struct ev_loop *loop;
    struct http_client *client;
    struct db_pool *db;
    struct secrets_wire *w;
    PGconn *su;
    long long ta, tb;
    unsigned char key[API_SECRETS_KEY_BYTES];
    char logpath[128];
    int logfd;
    int port;
    int ends;
    char disp[64];
    char steps[8192];
};

static struct fx *FX;

static int nop_play(void *ctx, uint64_t op, const char *const *m, size_t n, const char *l)
{
    (void)ctx;
    (void)op;
    (void)m;
    (void)n;
    (void)l;
    return 0;
}

static int nop_hangup(void *ctx, int cause)
{
    (void)ctx;
    (void)cause;
    return 0;
}

static const struct ivr_channel_ops ops = { .play = nop_play, .hangup = nop_hangup };

static void on_step(void *arg, const struct ivr_step *st)
{
    (void)arg;
    char *v = json_dumps(st->vars, JSON_COMPACT);
    size_t n = strlen(FX->steps);
    snprintf(FX->steps + n, sizeof(FX->steps) - n, "%s:%s %s\n", st->node,
             st->event_out ? st->event_out : "-", v != NULL ? v : "");
    free(v);
}

static void on_end(void *arg, const struct ivr_end *e)
{
    (void)arg;
    snprintf(FX->disp, sizeof(FX->disp), "%s", e->disposition ? e->disposition : "");
    FX->ends++;
}

/* Seals value for (tenant, name) as PUT /api/v1/secrets does and stores it. */
static void put_secret(struct fx *f, long long tenant, const char *name, const char *value)
{
    unsigned char ct[API_SECRET_VALUE_MAX + API_SECRET_MAC_BYTES], nonce[API_SECRET_NONCE_BYTES];
    char hct[2 * sizeof(ct) + 1], hn[2 * sizeof(nonce) + 1];
    size_t len = strlen(value);
    assert_int_equal(api_secret_seal(f->key, tenant, name, value, len, ct, nonce), 0);
    sodium_bin2hex(hct, sizeof(hct), ct, len + API_SECRET_MAC_BYTES);
    sodium_bin2hex(hn, sizeof(hn), nonce, sizeof(nonce));
    tdb_exec(f->su,
             "INSERT INTO tenant_secrets (tenant_id, name, ciphertext, nonce) VALUES (%lld, '%s',"
             " '\\x%s'::bytea, '\\x%s'::bytea) ON CONFLICT (tenant_id, name) DO UPDATE SET"
             " ciphertext = EXCLUDED.ciphertext, nonce = EXCLUDED.nonce",
             tenant, name, hct, hn);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
}

/* Runs the loop until the wire has loaded n times more than before (bounded: 10 s). */
static void wait_loaded(struct fx *f)
{
    ev_timer t;
    ev_timer_init(&t, tick_cb, 0.02, 0.02);
    ev_timer_start(f->loop, &t);
    for (int i = 0; i < 500 && !secrets_wire_loaded(f->w); i++) {
        ev_run(f->loop, EVRUN_ONCE);
    }
    ev_timer_stop(f->loop, &t);
    assert_true(secrets_wire_loaded(f->w));
}

/* Runs the loop for s seconds (refresh intervals in this test are 100 ms). */
static void run_for(struct fx *f, double s)
{
    ev_timer t;
    ev_timer_init(&t, tick_cb, s, 0.0);
    ev_timer_start(f->loop, &t);
    for (int i = 0; i < 1000 && ev_is_active(&t); i++) {
        ev_run(f->loop, EVRUN_ONCE);
    }
    ev_timer_stop(f->loop, &t);
}

static int setup(void **state)
{
    static const struct httpd_route routes[] = {
        { HTTPD_GET, "/balance", h_balance, NULL, 0, 0, NULL, NULL },
    };
    struct fx *f = calloc(1, sizeof(*f));
    char ci[TDB_CONNINFO_MAX], app[TDB_CONNINFO_MAX];
    struct httpd_config hc = { .name = "secrets-test",
                               .request_timeout_ms = 3000,
                               .shutdown_grace_ms = 200,
                               .no_access_log = true };
    assert_non_null(f);
    assert_true(sodium_init() >= 0);
    snprintf(f->logpath, sizeof(f->logpath), "/tmp/test_secrets_wire.%d.log", (int)getpid());
    f->logfd = open(f->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(f->logfd >= 0);
    log_set_fd(f->logfd);
    assert_int_equal(log_configure("debug"), 0);

    tdb_create_migrated(DB);
    tdb_conninfo(DB, ci, sizeof(ci));
    tdb_conninfo_app(DB, app, sizeof(app));
    f->su = tdb_connect(ci);
    f->ta = tdb_int(f->su, "INSERT INTO tenants (slug, name, settings) VALUES ('acme', 'Acme',"
                           " '{\"api_call_allow\": [\"127.0.0.1/32\"]}') RETURNING id");
    f->tb = tdb_int(f->su, "INSERT INTO tenants (slug, name) VALUES ('beta', 'Beta') RETURNING id");
    randombytes_buf(f->key, sizeof(f->key));
    put_secret(f, f->ta, "token", SECRET);
    put_secret(f, f->tb, "token", "beta-token");

    f->srv = httpd_create(&hc, routes, 1);
    assert_non_null(f->srv);
    assert_int_equal(httpd_start(f->srv), 0);
    f->port = httpd_port(f->srv);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(http_client_create(f->loop, NULL, &f->client), 0);
    assert_int_equal(db_pool_create(f->loop, app, 1, NULL, &f->db), 0);
    struct secrets_wire_config sc = { .loop = f->loop,
                                      .db = f->db,
                                      .http = f->client,
                                      .global_allow = "",
                                      .key = f->key,
                                      .refresh_ms = 100 };
    assert_int_equal(secrets_wire_start(&sc, &f->w), 0);
    FX = f;
    *state = f;
    wait_loaded(f);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    secrets_wire_stop(f->w);
    db_pool_destroy(f->db);
    secrets_wire_free(f->w);
    http_client_destroy(f->client);
    ev_loop_destroy(f->loop);
    httpd_stop(f->srv);
    PQfinish(f->su);
    tdb_drop(DB);
    log_set_fd(2);
    close(f->logfd);
    unlink(f->logpath);
    free(f);
    return 0;
}

static struct ivr_flow *flow(int port)
{
    char doc[2048];
    snprintf(doc, sizeof(doc),
             "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"nodes\":{"
             "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"a\"}},"
             "\"a\":{\"type\":\"api_call\",\"props\":{\"url\":\"http://127.0.0.1:%d/balance\","
             "\"headers\":{\"Authorization\":\"Bearer {{secrets.token}}\"}},"
             "\"next\":{\"success\":\"ok\",\"error\":\"err\",\"timeout\":\"err\"}},"
             "\"ok\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"ok\"}},"
             "\"err\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"err\"}}}}",
             port);
    static const char *const hosts[] = { "127.0.0.1" };
    struct ivr_load_options opt = { .http_hosts = hosts, .nhttp_hosts = 1 };
    struct ivr_flow *fl = NULL;
    struct ivr_report *r = NULL;
    assert_int_equal(ivr_flow_load(doc, strlen(doc), &opt, &fl, &r), 0);
    ivr_report_free(r);
    return fl;
}

/* Runs the flow as the tenant's (its secrets, its backend); returns the disposition. */
static const char *run_as(struct fx *f, long long tenant)
{
    struct ivr_flow *fl = flow(f->port);
    struct ivr_session_config cfg = { .ops = &ops,
                                      .http = ivr_http_backend_ops(),
                                      .http_ctx = secrets_wire_http(f->w, tenant),
                                      .loop = f->loop,
                                      .on_step = on_step,
                                      .on_end = on_end };
    json_t *vars = json_object();
    json_t *sec = secrets_wire_secrets(f->w, tenant);
    if (sec != NULL) {
        json_object_set_new(vars, "secrets", sec);
    }
    f->ends = 0;
    struct ivr_session *s = ivr_session_create(fl, &cfg, vars);
    json_decref(vars);
    ivr_flow_unref(fl);
    ivr_session_start(s, "api", NULL);
    assert_true(evloop_run_until(f->loop, &f->ends, 1, 10.0));
    ivr_session_destroy(s);
    return f->disp;
}

static void test_tenant_allowlist_and_secrets(void **state)
{
    struct fx *f = *state;
    atomic_store(&hits, 0);
    /* A is allowlisted for 127.0.0.1 and its secret opens the server. */
    assert_string_equal(run_as(f, f->ta), "ok");
    assert_int_equal(atomic_load(&hits), 1);
    /* B is refused before a packet leaves (no allowlist), though it has a secret too. */
    assert_string_equal(run_as(f, f->tb), "err");
    assert_int_equal(atomic_load(&hits), 1);
    /* Each tenant gets its own secrets only. */
    json_t *a = secrets_wire_secrets(f->w, f->ta), *b = secrets_wire_secrets(f->w, f->tb);
    assert_string_equal(json_string_value(json_object_get(a, "token")), SECRET);
    assert_string_equal(json_string_value(json_object_get(b, "token")), "beta-token");
    json_decref(a);
    json_decref(b);
    assert_null(secrets_wire_secrets(f->w, 999999));
}

static void test_changes_reach_flows(void **state)
{
    struct fx *f = *state;
    /* A's allowlist is withdrawn and B's granted: after a refresh the roles swap. */
    tdb_exec(f->su, "UPDATE tenants SET settings = '{}' WHERE id = %lld", f->ta);
    tdb_exec(f->su,
             "UPDATE tenants SET settings = '{\"api_call_allow\": [\"127.0.0.0/8\"]}'"
             " WHERE id = %lld",
             f->tb);
    put_secret(f, f->tb, "token", SECRET);
    run_for(f, 0.5);
    atomic_store(&hits, 0);
    assert_string_equal(run_as(f, f->ta), "err");
    assert_int_equal(atomic_load(&hits), 0);
    assert_string_equal(run_as(f, f->tb), "ok");
    assert_int_equal(atomic_load(&hits), 1);
    /* A deleted secret is gone at the next refresh. */
    tdb_exec(f->su, "DELETE FROM tenant_secrets WHERE tenant_id = %lld", f->ta);
    run_for(f, 0.5);
    assert_null(secrets_wire_secrets(f->w, f->ta));
}

static void test_unreadable_row_and_no_leak(void **state)
{
    struct fx *f = *state;
    /* A row sealed for another tenant (copied) does not open: left out, named in the log. */
    tdb_exec(f->su,
             "INSERT INTO tenant_secrets (tenant_id, name, ciphertext, nonce) SELECT %lld,"
             " 'copied', ciphertext, nonce FROM tenant_secrets WHERE tenant_id = %lld",
             f->ta, f->tb);
    run_for(f, 0.5);
    json_t *a = secrets_wire_secrets(f->w, f->ta);
    assert_null(json_object_get(a, "copied"));
    json_decref(a);

    /* The value is in no step record and no log line, DEBUG included. */
    assert_null(strstr(f->steps, SECRET));
    FILE *lf = fopen(f->logpath, "r");
    char line[4096];
    int lines = 0;
    bool unreadable = false;
    assert_non_null(lf);
    while (lines < 100000 && fgets(line, sizeof(line), lf) != NULL) {
        lines++;
        assert_null(strstr(line, SECRET));
        assert_null(strstr(line, "beta-token"));
        unreadable = unreadable || strstr(line, "tenant_secret_unreadable") != NULL;
    }
    fclose(lf);
    assert_true(lines > 0);
    assert_true(unreadable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_allowlist_and_secrets),
        cmocka_unit_test(test_changes_reach_flows),
        cmocka_unit_test(test_unreadable_row_and_no_leak),
    };
    return cmocka_run_group_tests_name("secrets_wire", tests, setup, teardown);
}
