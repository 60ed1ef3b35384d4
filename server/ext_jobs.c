/* SPDX-License-Identifier: MIT */
/* Extension inventory provisioning and quarantine expiry (see ext_jobs.h). */
#include "server/ext_jobs.h"

#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"
#include "ivr/ivr.h"

enum { NRANGES = 3 };

struct ext_jobs {
    struct ev_loop *loop;
    struct db_pool *db;
    ev_timer tick;
    int from[NRANGES], to[NRANGES];
    bool provisioned[NRANGES];
    bool prov_owed[NRANGES]; /* a provisioning query of the range is in flight */
    int inflight;            /* queries whose callback is owed */
    bool stopped;            /* freed by the last callback */
    bool expiry_owed;        /* an expiry query is in flight: do not stack another */
    double every;            /* ext.expiry-interval in seconds */
};

static void maybe_free(struct ext_jobs *j)
{
    if (j->stopped && j->inflight == 0) {
        free(j);
    }
}

struct prov_arg {
    struct ext_jobs *j;
    int i;
};

static void provisioned(void *arg, const struct ivr_ext_result *r)
{
    struct prov_arg *p = arg;
    struct ext_jobs *j = p->j;
    int i = p->i;

    free(p);
    j->inflight--;
    j->prov_owed[i] = false;
    if (!j->stopped) {
        if (r->status == 0) {
            j->provisioned[i] = true;
            LOG_NOTICE(SERVER, "event=extensions_provisioned from=%d to=%d created=%d", j->from[i],
                       j->to[i], r->number);
        } else {
            LOG_WARN(SERVER, "event=extensions_provision_failed from=%d to=%d err=\"%s\"",
                     j->from[i], j->to[i], r->error != NULL ? r->error : err_str(r->status));
        }
    }
    maybe_free(j);
}

static void expired(void *arg, const struct ivr_ext_result *r)
{
    struct ext_jobs *j = arg;
    j->inflight--;
    j->expiry_owed = false;
    if (!j->stopped) {
        if (r->status != 0) {
            LOG_WARN(SERVER, "event=extensions_expiry_failed err=\"%s\"",
                     r->error != NULL ? r->error : err_str(r->status));
        } else if (r->number > 0) {
            LOG_NOTICE(SERVER, "event=extensions_quarantine_ended freed=%d", r->number);
        }
    }
    maybe_free(j);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ext_jobs *j = w->data;
    (void)loop, (void)revents;

    for (int i = 0; i < NRANGES; i++) {
        if (!j->provisioned[i] && !j->prov_owed[i]) {
            struct prov_arg *p = malloc(sizeof(*p));
            if (p == NULL) {
                return;
            }
            *p = (struct prov_arg){ j, i };
            if (ivr_ext_provision(j->db, j->from[i], j->to[i], provisioned, p) != 0) {
                free(p); /* no connection up yet: the next tick tries again */
                return;
            }
            j->inflight++;
            j->prov_owed[i] = true;
        }
    }
    for (int i = 0; i < NRANGES; i++) {
        if (!j->provisioned[i]) {
            return; /* expiry starts once the inventory is there */
        }
    }
    w->repeat = j->every; /* provisioned: from now on the expiry interval */
    if (!j->expiry_owed && ivr_ext_free_expired(j->db, expired, j) == 0) {
        j->inflight++;
        j->expiry_owed = true;
    }
}

int ext_jobs_start(struct ev_loop *loop, const struct server_config *conf, struct db_pool *db,
                   struct ext_jobs **out)
{
    const char *r[NRANGES] = { conf->ext_inbound_range, conf->ext_outbound_range,
                               conf->ext_reserved_range };
    static const int lo[NRANGES] = { 2000, 3000, 4000 }, hi[NRANGES] = { 2999, 3999, 4999 };
    struct ext_jobs *j = calloc(1, sizeof(*j));
    double every = (double)conf->ext_expiry_interval_ms / 1000.0;

    if (j == NULL) {
        return ERR_NOMEM;
    }
    j->loop = loop;
    j->db = db;
    for (int i = 0; i < NRANGES; i++) {
        if (server_ext_range(r[i], lo[i], hi[i], &j->from[i], &j->to[i]) != 0) {
            free(j);
            return ERR_INVAL;
        }
        j->provisioned[i] = !conf->ext_provision;
    }
    j->every = every;
    /* Provisioning retries every second until the database is up; then the interval. */
    ev_timer_init(&j->tick, tick_cb, 0.05, 1.0);
    j->tick.data = j;
    ev_timer_start(loop, &j->tick);
    *out = j;
    return 0;
}

void ext_jobs_stop(struct ext_jobs *j)
{
    if (j == NULL) {
        return;
    }
    ev_timer_stop(j->loop, &j->tick);
    j->stopped = true;
    maybe_free(j);
}
