/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"
#include "tests/support/ivrfix.h"

int simfix_mkdir(struct simfix *s, const char *name)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/%s.%d", name, (int)getpid());
    return mkdir(s->dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static int write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        return -1;
    }
    int rc = fputs(text, fp) < 0 ? -1 : 0;
    return fclose(fp) != 0 ? -1 : rc;
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct simfix *s = arg;
    if (s->cfg.on_event != NULL) {
        s->cfg.on_event(c, ev, s->cfg.arg);
    }
}

static void on_reconcile(struct ari_client *c, int status, const char *const *gone, size_t ng,
                         const char *const *up, size_t nu, void *arg)
{
    struct simfix *s = arg;
    (void)c, (void)status, (void)gone, (void)ng, (void)up, (void)nu;
    s->connected++;
}

int simfix_start(struct simfix *s, struct ev_loop *loop, const struct simfix_config *cfg)
{
    char scen[200], dp[200];
    const char *args[12];
    int n = 0;
    struct ari_handlers h = { on_event, NULL, NULL, on_reconcile, s };
    struct ari_client_config acfg = { .name = "sim",
                                      .user = "asterisk",
                                      .password = "asterisk",
                                      .app = cfg->app,
                                      .request_timeout_ms = cfg->request_timeout_ms };

    s->cfg = *cfg;
    if (s->dir[0] == '\0') {
        fprintf(stderr, "simfix: no directory (simfix_mkdir)\n");
        return -1;
    }
    if (cfg->scenario != NULL) {
        snprintf(scen, sizeof(scen), "%s/scenario.json", s->dir);
        if (write_file(scen, cfg->scenario) != 0) {
            fprintf(stderr, "simfix: cannot write %s\n", scen);
            return -1;
        }
        args[n++] = "--scenario";
        args[n++] = scen;
    }
    if (cfg->dialplan != NULL && strcmp(cfg->dialplan, "none") == 0) {
        args[n++] = "--dialplan";
        args[n++] = "none";
    } else if (cfg->dialplan != NULL) {
        snprintf(dp, sizeof(dp), "%s/extensions.conf", s->dir);
        if (write_file(dp, cfg->dialplan) != 0) {
            fprintf(stderr, "simfix: cannot write %s\n", dp);
            return -1;
        }
        args[n++] = "--dialplan";
        args[n++] = dp;
    }
    args[n++] = "--time-scale";
    args[n++] = "0.1";
    args[n++] = "--log-level";
    args[n++] = "warn";
    args[n] = NULL;
    if (simc_start(&s->sim, args) < 0) {
        fprintf(stderr, "simfix: ari-sim did not start\n");
        return -1;
    }
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->sim.port);
    acfg.url = s->url;
    if (ari_client_create(loop, &acfg, &h, &s->c) != 0) {
        fprintf(stderr, "simfix: no ARI client\n");
        return -1;
    }
    if (!evloop_run_until(loop, &s->connected, 1, 5.0)) {
        fprintf(stderr, "simfix: the ARI client did not connect to %s in 5 s\n", s->url);
        return -1;
    }
    return 0;
}

int simfix_stop(struct simfix *s)
{
    char cmd[200];
    int rc = 0;

    ari_client_destroy(s->c);
    s->c = NULL;
    if (s->sim.pid > 0) {
        rc = simc_stop(&s->sim, SIGTERM);
        if (rc != 0 || simc_log_has_sanitizer_report(&s->sim)) {
            fprintf(stderr, "ari-sim exited %d; log in %s\n", rc, s->sim.log);
            rc = -1;
        }
    }
    if (s->dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
        if (system(cmd) != 0) {
            rc = -1;
        }
    }
    return rc;
}

void ivrdb_setup(struct ivrdb *d, struct ev_loop *loop, const char *db, const char *pool_name)
{
    char ci[TDB_CONNINFO_MAX];
    struct db_opts o = { .name = pool_name };

    d->loop = loop;
    tdb_create_migrated(db);
    tdb_conninfo(db, ci, sizeof(ci));
    d->su = tdb_connect(ci);
    d->ta = tdb_int(d->su, "INSERT INTO tenants (slug, name) VALUES ('acme', 'Acme') RETURNING id");
    d->tb =
        tdb_int(d->su, "INSERT INTO tenants (slug, name) VALUES ('globex', 'Globex') RETURNING id");
    tdb_exec(d->su,
             "INSERT INTO users (tenant_id, email, role) VALUES (%lld, 'a@acme.example', "
             "'editor'), (%lld, 'b@globex.example', 'editor')",
             d->ta, d->tb);
    tdb_conninfo_app(db, ci, sizeof(ci));
    assert_int_equal(db_pool_create(loop, ci, 4, &o, &d->pool), 0);
    for (int i = 0; i < 200 && db_pool_up_count(d->pool) < 4; i++) {
        evloop_run_for(loop, 0.05);
    }
}

void ivrdb_teardown(struct ivrdb *d, const char *db)
{
    db_pool_destroy(d->pool);
    d->pool = NULL;
    PQfinish(d->su);
    d->su = NULL;
    tdb_drop(db);
}

void ivrdb_store_cb(void *arg, const struct ivr_store_result *r)
{
    struct ivrdb *d = arg;
    d->status = r->status;
    d->id = r->id;
    if (r->status != 0) {
        fprintf(stderr, "store: %s %s\n", r->error != NULL ? r->error : "",
                r->report != NULL ? r->report : "");
    }
    d->n_got++;
}

void ivrdb_ext_cb(void *arg, const struct ivr_ext_result *r)
{
    struct ivrdb *d = arg;
    d->status = r->status;
    d->id = r->number;
    d->n_got++;
}

void ivrdb_wait(struct ivrdb *d)
{
    assert_true(evloop_run_until(d->loop, &d->n_got, 1, 10.0));
    assert_int_equal(d->status, 0);
    d->n_got = 0;
}

long long ivrdb_publish(struct ivrdb *d, long long tenant, long long flow, const char *def)
{
    long long u = tdb_int(d->su, "SELECT id FROM users WHERE tenant_id = %lld", tenant);
    static int seq;
    char name[32];
    snprintf(name, sizeof(name), "flow %d", ++seq);
    if (flow == 0) {
        assert_int_equal(ivr_store_create(d->pool, tenant, u, name, def, ivrdb_store_cb, d), 0);
        ivrdb_wait(d);
        flow = d->id;
    } else {
        assert_int_equal(ivr_store_save_draft(d->pool, tenant, u, flow, def, ivrdb_store_cb, d), 0);
        ivrdb_wait(d);
    }
    assert_int_equal(ivr_store_publish(d->pool, tenant, u, flow, "go", ivrdb_store_cb, d), 0);
    ivrdb_wait(d);
    return flow;
}
