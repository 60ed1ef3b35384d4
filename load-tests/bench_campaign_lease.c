/* SPDX-License-Identifier: MIT */
/*
 * bench_campaign_lease: contacts leased per second from the private
 * PostgreSQL (tests/support/services.sh) by two nodes at once, through
 * campaign_store_lease() as dialer_app under row-level security: batches of
 * 500, four batches in flight per node, until the list (100,000 contacts;
 * 300,000 with "full") is empty. Database bench_campaign_lease, dropped at
 * the end. Without the services' environment (DIALER_PG_CONNINFO) it
 * prints a skipped line.
 *   campaign_lease_contacts_per_sec
 * Usage: bench_campaign_lease [quick|full]
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign/campaign.h"
#include "server/migrate.h"
#include "tests/support/evloop.h"

#define DB "bench_campaign_lease"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

struct node {
    struct db_conn *c;
    struct campaign_lease_req req;
    struct campaign_actor who;
    int inflight;
    int dry;
    long leased;
    int errors;
};

static void on_batch(struct campaign_batch *b, void *arg);

static void send_one(struct node *n)
{
    if (campaign_store_lease(n->c, &n->who, &n->req, on_batch, n) == 0) {
        n->inflight++;
    } else {
        n->errors++;
    }
}

static void on_batch(struct campaign_batch *b, void *arg)
{
    struct node *n = arg;
    n->inflight--;
    n->leased += (long)b->n;
    if (b->status != 0) {
        n->errors++;
    }
    if (b->n == 0 || b->status != 0) {
        n->dry = 1;
    } else if (!n->dry) {
        send_one(n);
    }
    campaign_batch_free(b);
}

int main(int argc, char **argv)
{
    const char *base = getenv("DIALER_PG_CONNINFO");
    int full = argc > 1 && strcmp(argv[1], "full") == 0;
    int ncontacts = full ? 300000 : 100000;
    char ci[1024], app[1024], sql[1024];
    if (!base) {
        printf("BENCH name=campaign_lease_contacts_per_sec value=0 unit=per_s target=>=20000 "
               "ok=skip\n");
        return 0;
    }
    PGconn *admin = PQconnectdb(base);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(admin));
        return 1;
    }
    run(admin, "DROP DATABASE IF EXISTS " DB " WITH (FORCE)");
    if (run(admin, "CREATE DATABASE " DB) != 0) {
        return 1;
    }
    snprintf(ci, sizeof(ci), "%s dbname=%s", base, DB);
    snprintf(app, sizeof(app), "%s dbname=%s user=dialer_app", base, DB);
    struct server_migrate_result res;
    if (server_migrate(ci, NULL, NULL, &res) != 0) {
        return 1;
    }
    PGconn *su = PQconnectdb(ci);
    run(su, "SET client_min_messages = warning");
    run(su, "INSERT INTO tenants (slug, name) VALUES ('bench', 'Bench')");
    run(su, "INSERT INTO ivr_flows (tenant_id, name) SELECT id, 'f' FROM tenants");
    run(su, "INSERT INTO campaigns (tenant_id, name, flow_id) SELECT tenant_id, 'c', id FROM "
            "ivr_flows");
    run(su, "UPDATE campaigns SET state = 'running'");
    run(su, "INSERT INTO contact_lists (tenant_id, name) SELECT id, 'l' FROM tenants");
    run(su, "INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) SELECT c.tenant_id, "
            "c.id, l.id FROM campaigns c, contact_lists l");
    snprintf(sql, sizeof(sql),
             "INSERT INTO contacts (tenant_id, list_id, number, next_attempt_at) SELECT "
             "l.tenant_id, l.id, '+1415' || (2000000 + g)::text, now() - g * interval '1 ms' "
             "FROM contact_lists l, generate_series(1, %d) g",
             ncontacts);
    run(su, sql);
    run(su, "ANALYZE contacts");
    PGresult *ids = PQexec(su, "SELECT c.tenant_id, c.id, l.list_id FROM campaigns c JOIN "
                               "campaign_lists l ON l.campaign_id = c.id");
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct node nodes[2];
    static const char *const owners[2] = { "node-a", "node-b" };
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < 2; i++) {
        struct node *n = &nodes[i];
        n->who = (struct campaign_actor){ .tenant_id = strtoll(PQgetvalue(ids, 0, 0), NULL, 10),
                                          .actor = "bench" };
        n->req = (struct campaign_lease_req){
            .campaign_id = strtoll(PQgetvalue(ids, 0, 1), NULL, 10),
            .list_id = strtoll(PQgetvalue(ids, 0, 2), NULL, 10),
            .owner = owners[i],
            .batch = 500,
            .lease_s = 600,
        };
        if (db_conn_create(loop, app, NULL, &n->c) != 0) {
            return 1;
        }
    }
    for (int i = 0; i < 500 && !(db_conn_is_up(nodes[0].c) && db_conn_is_up(nodes[1].c)); i++) {
        evloop_run_for(loop, 0.01);
    }
    double t0 = now_s();
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 4; k++) {
            send_one(&nodes[i]);
        }
    }
    for (int i = 0; i < 6000 && (nodes[0].inflight || nodes[1].inflight); i++) {
        evloop_run_for(loop, 0.01);
    }
    double el = now_s() - t0;
    long total = nodes[0].leased + nodes[1].leased;
    double rate = (double)total / el;
    printf("lease: %ld contacts (node a %ld, node b %ld) in %.2f s, %d errors\n", total,
           nodes[0].leased, nodes[1].leased, el, nodes[0].errors + nodes[1].errors);
    printf("BENCH name=campaign_lease_contacts_per_sec value=%.0f unit=per_s target=>=20000 "
           "ok=%s\n",
           rate, rate >= 20000 && total == ncontacts ? "yes" : "no");
    for (int i = 0; i < 2; i++) {
        db_conn_destroy(nodes[i].c);
    }
    ev_loop_destroy(loop);
    PQclear(ids);
    PQfinish(su);
    run(admin, "DROP DATABASE IF EXISTS " DB " WITH (FORCE)");
    PQfinish(admin);
    return 0;
}
