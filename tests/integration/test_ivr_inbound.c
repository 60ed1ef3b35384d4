/* SPDX-License-Identifier: MIT */
/*
 * Inbound calls on a real ari-sim (over the real WebSocket) running flows
 * stored in the private PostgreSQL, with the parts that do not touch the
 * channel going through the same router as in dialerd:
 *   - api_call against a local HTTP server (core/httpd, loopback): success
 *     with the JSON answer mapped into a variable and a branch on it, the
 *     timeout outcome, a 5xx answer, and the SSRF guard refusing an internal
 *     address the allowlist does not name (nothing reaches the server);
 *     the tenant's secret goes only into the request header: it is in no
 *     step record and no log line (logging at DEBUG);
 *   - subflow: a published subflow at a pinned revision (revision 2 exists
 *     and is not used) with inputs and outputs, return to the parent and a
 *     branch on the output; a subflow that calls another subflow is refused
 *     at depth 2 (the "failed" outcome); another tenant's flow as a subflow
 *     is not found;
 *   - execution records: every call is an ivr_executions row (direction
 *     inbound, extension, caller, revision, end reason, step count) with its
 *     ivr_steps in order, written by the recorder in batches.
 */
#include <ev.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/db.h"
#include "core/err.h"
#include "core/http.h"
#include "core/httpd.h"
#include "core/log.h"
#include "ivr/ivr.h"
#include "sim/simc.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/evloop.h"
#include "tests/support/ivrfix.h"

#define DB     "test_ivr_inbound"
#define SECRET "tok-7f3a9c41e2"

enum { MAX_ENDS = 64 };

static atomic_int hits_balance, hits_fail, hits_slow;

static int h_balance(struct httpd_req *req, void *arg)
{
    const char *auth = httpd_req_header(req, "authorization");
    const char *acct = httpd_req_query(req, "account");
    (void)arg;
    atomic_fetch_add(&hits_balance, 1);
    if (auth == NULL || strcmp(auth, "Bearer " SECRET) != 0 || acct == NULL ||
        strcmp(acct, "2000") != 0) {
        return httpd_respond_json(req, 401, json_pack("{s:s}", "error", "unauthorised"));
    }
    return httpd_respond_json(req, 200, json_pack("{s:{s:f}}", "data", "balance", 42.5));
}

static int h_fail(struct httpd_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&hits_fail, 1);
    return httpd_respond_json(req, 503, json_pack("{s:s}", "error", "down"));
}

static int h_slow(struct httpd_req *req, void *arg)
{
    (void)req;
    (void)arg;
    atomic_fetch_add(&hits_slow, 1);
    return HTTPD_DEFERRED; /* answered by the server's request timeout, long after ours */
}

struct fx {
    struct ivrdb db;  /* the database, its two tenants and the pool */
    struct simfix sx; /* ari-sim, its directory (and the test's log) and the ARI client */
    struct ev_loop *loop;
    struct ivr_ari *d;
    struct ivr_inbound *in;
    struct ivr_recorder *rec;
    struct httpd *srv;
    struct http_client *http;
    struct ivr_http_backend *hb;
    char logpath[200];
    int logfd;
    int port;
    int n_end;
    char disp[MAX_ENDS][24];
    int ext[MAX_ENDS];
    int reason[MAX_ENDS];
    int secret_asks;
};

static json_t *secrets_of(void *arg, long long tenant)
{
    struct fx *f = arg;
    f->secret_asks++;
    return tenant == f->db.ta ? json_pack("{s:s}", "token", SECRET) : NULL;
}

static void on_end(void *arg, long long tenant, int ext, long long flow_id, int revision,
                   const struct ivr_end *e)
{
    struct fx *f = arg;
    (void)tenant, (void)flow_id, (void)revision;
    if (f->n_end < MAX_ENDS) {
        f->reason[f->n_end] = (int)e->reason;
        f->ext[f->n_end] = ext;
        snprintf(f->disp[f->n_end], sizeof(f->disp[0]), "%s",
                 e->disposition != NULL ? e->disposition : "");
    }
    f->n_end++;
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    if (ivr_ari_dispatch(f->d, ev)) {
        return;
    }
    ivr_inbound_start(f->in, c, ev);
}

/* Writes ' as " (the unit tests' convention) into a new string. */
static char *dq(const char *src)
{
    char *s = strdup(src);
    assert_non_null(s);
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return s;
}

/* Publishes def (with ' for ") as a new flow of tenant, or a new revision of flow. */
static long long publish(struct fx *f, long long tenant, long long flow, const char *def)
{
    char *doc = dq(def);
    flow = ivrdb_publish(&f->db, tenant, flow, doc);
    free(doc);
    return flow;
}

static void assign(struct fx *f, long long tenant, int ext, long long flow)
{
    assert_int_equal(ivr_ext_assign(f->db.pool, tenant, 0, ext, flow, NULL, ivrdb_ext_cb, &f->db),
                     0);
    ivrdb_wait(&f->db);
}

static int setup(void **state)
{
    static const struct httpd_route routes[] = {
        { HTTPD_GET, "/balance", h_balance, NULL, 0, 0, NULL, NULL },
        { HTTPD_GET, "/fail", h_fail, NULL, 0, 0, NULL, NULL },
        { HTTPD_GET, "/slow", h_slow, NULL, 0, 0, NULL, NULL },
    };
    static const char SCEN[] = "{\"name\":\"ivr-inbound\",\"seed\":3,"
                               "\"populations\":{\"default\":[{\"weight\":1,\"outcome\":\"answer\","
                               "\"talk\":\"forever\"}]}}";
    static const char *const allow[] = { "127.0.0.1/32" };
    struct fx *f = calloc(1, sizeof(*f));
    struct simfix_config sc = {
        .app = "dialer", .scenario = SCEN, .dialplan = "none", .on_event = on_event
    };
    struct httpd_config hcfg = { .name = "ivrin-api",
                                 .request_timeout_ms = 5000,
                                 .shutdown_grace_ms = 200,
                                 .no_access_log = true };
    struct ivr_inbound_config icfg = { 0 };

    assert_non_null(f);
    assert_int_equal(simfix_mkdir(&f->sx, "test_ivr_inbound"), 0);
    snprintf(f->logpath, sizeof(f->logpath), "%s/test.log", f->sx.dir);
    f->logfd = open(f->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(f->logfd >= 0);
    log_set_fd(f->logfd);
    assert_int_equal(log_configure("debug"), 0);

    f->loop = ev_loop_new(EVFLAG_AUTO);
    ivrdb_setup(&f->db, f->loop, DB, "ivrin");
    assert_int_equal(ivr_ext_provision(f->db.pool, 2000, 2999, ivrdb_ext_cb, &f->db), 0);
    ivrdb_wait(&f->db);

    f->srv = httpd_create(&hcfg, routes, sizeof(routes) / sizeof(routes[0]));
    assert_non_null(f->srv);
    assert_int_equal(httpd_start(f->srv), 0);
    f->port = httpd_port(f->srv);
    assert_int_equal(http_client_create(f->loop, NULL, &f->http), 0);
    f->hb = ivr_http_backend_create(f->http, allow, 1);
    assert_non_null(f->hb);
    assert_int_equal(ivr_recorder_create(f->loop, f->db.pool, 50, 0, &f->rec), 0);

    sc.arg = f;
    *state = f;
    if (simfix_start(&f->sx, f->loop, &sc) != 0) {
        return -1;
    }
    assert_int_equal(ivr_ari_create(f->loop, NULL, &f->d), 0);
    icfg.loop = f->loop;
    icfg.db = f->db.pool;
    icfg.ari = f->d;
    icfg.on_end = on_end;
    icfg.arg = f;
    icfg.recorder = f->rec;
    icfg.http = ivr_http_backend_ops();
    icfg.http_ctx = f->hb;
    icfg.secrets = secrets_of;
    icfg.secrets_arg = f;
    assert_int_equal(ivr_inbound_create(&icfg, &f->in), 0);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc;
    ivr_inbound_destroy(f->in);
    ari_client_destroy(f->sx.c);
    f->sx.c = NULL;
    ivr_ari_destroy(f->d);
    ivr_recorder_destroy(f->rec);
    ivr_http_backend_destroy(f->hb);
    http_client_destroy(f->http);
    httpd_stop(f->srv);
    ivrdb_teardown(&f->db, DB);
    ev_loop_destroy(f->loop);
    log_set_fd(2);
    close(f->logfd);
    rc = simfix_stop(&f->sx); /* also removes the directory, the test's log with it */
    free(f);
    return rc;
}

static void call(struct fx *f, int ext)
{
    char path[200];
    struct simc_resp r;
    snprintf(path, sizeof(path),
             "/_sim/inbound?extension=%d&app=dialer&caller=%%2B14155550100&population=default",
             ext);
    assert_int_equal(simc_http(f->sx.sim.port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
}

/* The disposition the call to ext ended with ("" when it has not ended). */
static const char *disp_of(const struct fx *f, int ext)
{
    for (int i = 0; i < f->n_end && i < MAX_ENDS; i++) {
        if (f->ext[i] == ext) {
            return f->disp[i];
        }
    }
    return "";
}

/* One string from a query as the superuser (new; "" for no row or NULL). */
static char *sql_str(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *sql_str(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    PGresult *r;
    char *s;
    va_start(ap, fmt);
    r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    s = strdup(PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return s;
}

/* Runs the loop until every call has ended and every record is written. */
static void settle(struct fx *f, int ends)
{
    struct ivr_recorder_stats st;
    struct ivr_inbound_stats is;
    assert_true(evloop_run_until(f->loop, &f->n_end, ends, 20.0));
    for (int i = 0; i < 300; i++) {
        ivr_recorder_flush(f->rec);
        ivr_recorder_stats(f->rec, &st);
        ivr_inbound_stats(f->in, &is);
        if (st.pending == 0 && is.active == 0 && ivr_ari_count(f->d) == 0) {
            break;
        }
        evloop_run_for(f->loop, 0.05);
    }
    evloop_run_for(f->loop, 0.2); /* the last flush's transaction */
    ivr_recorder_stats(f->rec, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(ivr_ari_count(f->d), 0);
}

/* The step list of the execution of the call to ext: "node:event_out,..." (new). */
static char *steps_of(struct fx *f, int ext)
{
    return sql_str(f->db.su,
                   "SELECT string_agg(s.node_id || ':' || coalesce(s.event_out, '-'), ',' ORDER BY "
                   "s.seq) FROM ivr_steps s JOIN ivr_executions e ON e.id = s.execution_id "
                   "WHERE e.extension = %d",
                   ext);
}

#define API_FLOW(url, tmo)                                                                     \
    "{'format':'ivrflow/1','start':'s',"                                                       \
    "'variables':{'api':{'type':'string','default':'" url "'},"                                \
    "'balance':{'type':'number','default':0}},"                                                \
    "'nodes':{"                                                                                \
    "'s':{'type':'start','props':{'triggers':['inbound']},'next':{'next':'a'}},"               \
    "'a':{'type':'api_call','props':{'method':'GET','url':'{{flow.api}}',"                     \
    "'query':{'account':'{{call.dialed}}'},"                                                   \
    "'headers':{'Authorization':'Bearer {{secrets.token}}'},'timeout_ms':" tmo ","             \
    "'response_mapping':[{'var':'balance','path':'data.balance'}]},"                           \
    "'next':{'success':'br','error':'err','timeout':'tmo'}},"                                  \
    "'br':{'type':'branch','props':{'routes':[{'id':'rich','when':{'left':'{{flow.balance}}'," \
    "'op':'gt','right':'40','as':'number'}}]},'next':{'route:rich':'rich','default':'poor'}}," \
    "'rich':{'type':'hangup','props':{'disposition':'rich'}},"                                 \
    "'poor':{'type':'hangup','props':{'disposition':'poor'}},"                                 \
    "'err':{'type':'hangup','props':{'disposition':'err'}},"                                   \
    "'tmo':{'type':'hangup','props':{'disposition':'tmo'}}}}"

static void test_api_call_outcomes_secrets_and_records(void **state)
{
    struct fx *f = *state;
    char base[64], ok[96], fail[96], slow[96], internal[96], flow[4096];
    long long fl[4];
    int exts[4] = { 2000, 2001, 2002, 2003 };
    char *s;

    snprintf(base, sizeof(base), "http://127.0.0.1:%d", f->port);
    snprintf(ok, sizeof(ok), "%s/balance", base);
    snprintf(fail, sizeof(fail), "%s/fail", base);
    snprintf(slow, sizeof(slow), "%s/slow", base);
    /* Loopback too, but not in the allowlist (127.0.0.1/32): refused before any connect. */
    snprintf(internal, sizeof(internal), "http://127.0.0.2:%d/balance", f->port);
    const char *urls[4] = { ok, fail, slow, internal };
    for (int i = 0; i < 4; i++) {
        char tmpl[4096];
        /* The URL is data (a variable's default), so the test builds the document at run time. */
        snprintf(tmpl, sizeof(tmpl), "%s", API_FLOW("@URL@", "400"));
        char *at = strstr(tmpl, "@URL@");
        assert_non_null(at);
        *at = '\0';
        snprintf(flow, sizeof(flow), "%s%s%s", tmpl, urls[i], at + 5);
        fl[i] = publish(f, f->db.ta, 0, flow);
        assign(f, f->db.ta, exts[i], fl[i]);
    }
    for (int i = 0; i < 4; i++) {
        call(f, exts[i]);
    }
    settle(f, 4);

    /* success: the answer's balance (42.5) mapped and branched on; 5xx; timeout; refused. */
    assert_string_equal(disp_of(f, 2000), "rich");
    assert_string_equal(disp_of(f, 2001), "err");
    assert_string_equal(disp_of(f, 2002), "tmo");
    assert_string_equal(disp_of(f, 2003), "err");
    assert_int_equal(atomic_load(&hits_balance), 1); /* the refused request never arrived */
    assert_int_equal(atomic_load(&hits_fail), 1);    /* GET is retried only on request */
    assert_true(atomic_load(&hits_slow) >= 1);
    assert_true(f->secret_asks >= 4);

    /* Execution rows: one per call, inbound, with extension, caller and revision. */
    assert_int_equal(tdb_int(f->db.su,
                             "SELECT count(*) FROM ivr_executions WHERE direction = 'inbound' AND "
                             "status = 'ended' AND extension BETWEEN 2000 AND 2003 AND "
                             "caller = '+14155550100' AND flow_revision = 1 AND tenant_id = %lld "
                             "AND ended_reason = 'completed' AND channel_id IS NOT NULL",
                             f->db.ta),
                     4);
    assert_int_equal(
        tdb_int(f->db.su,
                "SELECT steps FROM ivr_executions WHERE extension = 2000 AND flow_id = %lld",
                fl[0]),
        4);
    s = steps_of(f, 2000);
    assert_string_equal(s, "s:next,a:success,br:route:rich,rich:-");
    free(s);
    s = steps_of(f, 2002);
    assert_string_equal(s, "s:next,a:timeout,tmo:-");
    free(s);
    /* What each api_call step changed: the mapped balance, the status, the refusal. */
    s = sql_str(f->db.su,
                "SELECT s.vars_delta::text FROM ivr_steps s JOIN ivr_executions e ON e.id = "
                "s.execution_id WHERE e.extension = 2000 AND s.node_id = 'a'");
    assert_non_null(strstr(s, "42.5"));
    free(s);
    s = sql_str(f->db.su,
                "SELECT s.vars_delta::text FROM ivr_steps s JOIN ivr_executions e ON e.id "
                "= s.execution_id WHERE e.extension = 2001 AND s.node_id = 'a'");
    assert_non_null(strstr(s, "503"));
    free(s);
    s = sql_str(f->db.su,
                "SELECT s.vars_delta::text FROM ivr_steps s JOIN ivr_executions e ON e.id "
                "= s.execution_id WHERE e.extension = 2003 AND s.node_id = 'a'");
    assert_non_null(strstr(s, "forbidden_address"));
    free(s);

    /* The secret is in no step record and no log line (DEBUG included). */
    assert_int_equal(tdb_int(f->db.su,
                             "SELECT count(*) FROM ivr_steps WHERE vars_delta::text LIKE '%%%s%%' "
                             "OR detail::text LIKE '%%%s%%'",
                             SECRET, SECRET),
                     0);
    assert_int_equal(tdb_int(f->db.su,
                             "SELECT count(*) FROM ivr_executions WHERE error::text LIKE '%%%s%%'",
                             SECRET),
                     0);
    {
        char buf[1 << 16];
        FILE *lf = fopen(f->logpath, "r");
        size_t n, lines = 0;
        bool leaked = false;
        assert_non_null(lf);
        while (fgets(buf, sizeof(buf), lf) != NULL) {
            lines++;
            leaked |= strstr(buf, SECRET) != NULL;
        }
        fclose(lf);
        n = lines;
        assert_true(n > 10); /* the log was written (the flows' start and end lines) */
        assert_false(leaked);
    }
}

#define SUB_FLOW(tag)                                                                          \
    "{'format':'ivrflow/1','start':'s',"                                                       \
    "'variables':{'who':{'type':'string','default':''},'greeting':{'type':'string','default':" \
    "''}},'nodes':{"                                                                           \
    "'s':{'type':'start','next':{'next':'v'}},"                                                \
    "'v':{'type':'set_variable','props':{'assign':[{'name':'greeting','value':'" tag           \
    " {{flow.who}}'}]},'next':{'next':'r'}},"                                                  \
    "'r':{'type':'return','props':{'exit':'completed'}}}}"

static void test_subflow_pinned_outputs_and_depth(void **state)
{
    struct fx *f = *state;
    char doc[4096];
    long long sub, nest, parent, deep, foreign;
    int base = f->n_end;
    char *s;

    sub = publish(f, f->db.ta, 0, SUB_FLOW("v1"));
    publish(f, f->db.ta, sub, SUB_FLOW("v2")); /* revision 2: not the one pinned */
    /* The parent pins revision 1, passes the dialled number, reads the greeting back. */
    snprintf(doc, sizeof(doc),
             "{'format':'ivrflow/1','start':'s','variables':{'out':{'type':'string','default':''}},"
             "'nodes':{'s':{'type':'start','props':{'triggers':['inbound']},'next':{'next':'sf'}},"
             "'sf':{'type':'subflow','props':{'flow_id':'%lld','revision':1,"
             "'inputs':{'who':'{{call.dialed}}'},'outputs':{'out':'{{flow.greeting}}'}},"
             "'next':{'completed':'br','failed':'failed'}},"
             "'br':{'type':'branch','props':{'routes':[{'id':'v1','when':{'left':'{{flow.out}}',"
             "'op':'eq','right':'v1 2010'}}]},'next':{'route:v1':'good','default':'bad'}},"
             "'good':{'type':'hangup','props':{'disposition':'returned'}},"
             "'bad':{'type':'hangup','props':{'disposition':'wrong_output'}},"
             "'failed':{'type':'hangup','props':{'disposition':'failed'}}}}",
             sub);
    parent = publish(f, f->db.ta, 0, doc);
    assign(f, f->db.ta, 2010, parent);

    /* A subflow that itself calls a subflow: refused inside (depth 1), so it fails. */
    snprintf(doc, sizeof(doc),
             "{'format':'ivrflow/1','start':'s','nodes':{"
             "'s':{'type':'start','next':{'next':'in'}},"
             "'in':{'type':'subflow','props':{'flow_id':'%lld'},"
             "'next':{'completed':'ok','failed':'ko'}},"
             "'ok':{'type':'return','props':{'exit':'completed'}},"
             "'ko':{'type':'return','props':{'exit':'failed'}}}}",
             sub);
    nest = publish(f, f->db.ta, 0, doc);
    snprintf(doc, sizeof(doc),
             "{'format':'ivrflow/1','start':'s','nodes':{"
             "'s':{'type':'start','props':{'triggers':['inbound']},'next':{'next':'sf'}},"
             "'sf':{'type':'subflow','props':{'flow_id':'%lld'},"
             "'next':{'completed':'deep','failed':'limited'}},"
             "'deep':{'type':'hangup','props':{'disposition':'nested'}},"
             "'limited':{'type':'hangup','props':{'disposition':'depth_limited'}}}}",
             nest);
    deep = publish(f, f->db.ta, 0, doc);
    assign(f, f->db.ta, 2011, deep);

    /* Tenant B naming tenant A's subflow: not found under B's row-level security. */
    snprintf(doc, sizeof(doc),
             "{'format':'ivrflow/1','start':'s','nodes':{"
             "'s':{'type':'start','props':{'triggers':['inbound']},'next':{'next':'sf'}},"
             "'sf':{'type':'subflow','props':{'flow_id':'%lld'},"
             "'next':{'completed':'ran','failed':'nf'}},"
             "'ran':{'type':'hangup','props':{'disposition':'ran_foreign'}},"
             "'nf':{'type':'hangup','props':{'disposition':'not_found'}}}}",
             sub);
    foreign = publish(f, f->db.tb, 0, doc);
    assign(f, f->db.tb, 2012, foreign);

    call(f, 2010);
    call(f, 2011);
    call(f, 2012);
    settle(f, base + 3);
    assert_string_equal(disp_of(f, 2010), "returned");
    assert_string_equal(disp_of(f, 2011), "depth_limited");
    assert_string_equal(disp_of(f, 2012), "not_found");

    /* The parent's record shows the subflow's steps between entering and returning. */
    s = steps_of(f, 2010);
    assert_string_equal(
        s, "s:next,sf:enter,s:next,v:next,r:completed,sf:completed,br:route:v1,good:-");
    free(s);
    s = sql_str(f->db.su,
                "SELECT s.vars_delta::text FROM ivr_steps s JOIN ivr_executions e ON e.id = "
                "s.execution_id WHERE e.extension = 2010 AND s.node_id = 'sf' AND s.event_out = "
                "'completed'");
    assert_non_null(strstr(s, "v1 2010"));
    free(s);
    assert_int_equal(tdb_int(f->db.su,
                             "SELECT count(*) FROM ivr_executions WHERE extension = 2012 AND "
                             "tenant_id = %lld AND flow_id = %lld AND ended_reason = 'completed'",
                             f->db.tb, foreign),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_call_outcomes_secrets_and_records),
        cmocka_unit_test(test_subflow_pinned_outputs_and_depth),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
