/* SPDX-License-Identifier: MIT */
/*
 * The lessor: the glue between the lease store and the scheduler on one
 * loop. Per campaign it served: lease a batch when the scheduler runs low
 * (and back off for a few seconds after an empty batch), renew the held
 * leases every lease_s / 3, and hand back contacts whose next eligible time
 * is past their lease (campaign_sched_evict + campaign_store_release), so
 * the database records why they wait and no node sits on them.
 *
 * A lease that was lost anyway (renewal missed, another node took the
 * contact) is caught by campaign_store_attempt_begin (ERR_CONFLICT): the
 * dialer drops the contact, nothing is dialed twice.
 *
 * The pass runs every period_s (default 0.1 s) and leases at most one batch
 * per campaign per pass, so a node dials a campaign at most batch / period_s
 * contacts per second (2,000/s at the defaults): the pass used to run every
 * 0.5 s, which held one node to twice dialer.lease-batch per second whatever
 * its CPU (measured: 150-200 calls/s with batches of 100).
 *
 * Lifetime: every database operation in flight holds a reference; a lessor
 * destroyed with operations in flight is freed by the last callback, which
 * then touches nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#define DRY_BACKOFF_US (5 * INT64_C(1000000))

struct lessor_entry {
    struct campaign_lessor *l;
    int64_t tenant_id;
    int64_t campaign_id;
    int64_t list_id;
    bool lease_inflight;
    bool renew_inflight;
    int64_t dry_until_us;
    int64_t renew_at_us;
};

struct campaign_lessor {
    struct campaign_lessor_opts o;
    char owner[129];
    ev_timer timer;
    struct lessor_entry **v;
    size_t n;
    int refs;
    bool dead;
    struct campaign_lessor_stats stats;
};

static void unref(struct campaign_lessor *l)
{
    if (--l->refs == 0 && l->dead) {
        for (size_t i = 0; i < l->n; i++) {
            free(l->v[i]);
        }
        free(l->v);
        free(l);
    }
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct campaign_lessor *l = w->data;
    (void)loop;
    (void)revents;
    campaign_lessor_poll(l);
}

int campaign_lessor_create(const struct campaign_lessor_opts *o, struct campaign_lessor **out)
{
    if (!o || !o->loop || !o->db || !o->sched || !o->owner || !*o->owner ||
        strlen(o->owner) > 128 || !out) {
        return ERR_INVAL;
    }
    struct campaign_lessor *l = calloc(1, sizeof(*l));
    if (!l) {
        return ERR_NOMEM;
    }
    l->o = *o;
    snprintf(l->owner, sizeof(l->owner), "%s", o->owner);
    l->o.owner = l->owner;
    if (l->o.batch < 1 || l->o.batch > 10000) {
        l->o.batch = 200;
    }
    if (l->o.lease_s < 3 || l->o.lease_s > 3600) {
        l->o.lease_s = 300;
    }
    if (l->o.low_water < 1) {
        l->o.low_water = l->o.batch;
    }
    if (!(l->o.period_s > 0)) {
        l->o.period_s = 0.1;
    }
    l->refs = 1;
    ev_timer_init(&l->timer, on_timer, l->o.period_s, l->o.period_s);
    l->timer.data = l;
    ev_timer_start(l->o.loop, &l->timer);
    *out = l;
    return 0;
}

void campaign_lessor_destroy(struct campaign_lessor *l)
{
    if (!l) {
        return;
    }
    ev_timer_stop(l->o.loop, &l->timer);
    l->dead = true;
    unref(l);
}

int campaign_lessor_add(struct campaign_lessor *l, int64_t tenant_id, int64_t campaign_id,
                        int64_t list_id)
{
    if (campaign_sched_held(l->o.sched, campaign_id) < 0) {
        return ERR_NOTFOUND;
    }
    struct lessor_entry *e = calloc(1, sizeof(*e));
    struct lessor_entry **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!e || !v) {
        free(e);
        if (v) {
            l->v = v;
        }
        return ERR_NOMEM;
    }
    l->v = v;
    e->l = l;
    e->tenant_id = tenant_id;
    e->campaign_id = campaign_id;
    e->list_id = list_id;
    l->v[l->n++] = e;
    return 0;
}

static struct campaign_actor actor_of(const struct lessor_entry *e, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "scheduler:%s", e->l->owner);
    return (struct campaign_actor){ .tenant_id = e->tenant_id, .actor = buf };
}

static void on_batch(struct campaign_batch *b, void *arg)
{
    struct lessor_entry *e = arg;
    struct campaign_lessor *l = e->l;
    e->lease_inflight = false;
    if (!l->dead) {
        if (b->status != 0) {
            l->stats.errors++;
            e->dry_until_us = clock_wall_us() + DRY_BACKOFF_US / 5;
        } else if (b->n == 0) {
            e->dry_until_us = clock_wall_us() + DRY_BACKOFF_US;
        } else if (campaign_sched_add(l->o.sched, b) == 0) {
            l->stats.leased += b->n;
        } else {
            l->stats.errors++;
        }
    }
    campaign_batch_free(b);
    unref(l);
}

static void on_renew(int status, int64_t count, void *arg)
{
    struct lessor_entry *e = arg;
    struct campaign_lessor *l = e->l;
    e->renew_inflight = false;
    if (!l->dead) {
        if (status != 0) {
            l->stats.errors++;
        } else {
            l->stats.renewed += (uint64_t)count;
        }
    }
    unref(l);
}

static void on_release(int status, int64_t count, void *arg)
{
    struct campaign_lessor *l = arg;
    if (!l->dead) {
        if (status != 0) {
            l->stats.errors++;
        } else {
            l->stats.released += (uint64_t)count;
        }
    }
    unref(l);
}

struct id_list {
    int64_t *ids;
    int64_t *due;
    const char **why;
    size_t n, cap;
    bool nomem;
};

static void collect(void *arg, const struct campaign_contact *c)
{
    struct id_list *k = arg;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        int64_t *ids = realloc(k->ids, cap * sizeof(*ids));
        if (ids) {
            k->ids = ids;
        }
        int64_t *due = realloc(k->due, cap * sizeof(*due));
        if (due) {
            k->due = due;
        }
        const char **why = realloc(k->why, cap * sizeof(*why));
        if (why) {
            k->why = why;
        }
        if (!ids || !due || !why) {
            k->nomem = true;
            return;
        }
        k->cap = cap;
    }
    k->ids[k->n] = c->id;
    k->due[k->n] = c->due_us;
    k->why[k->n] = c->reason > CAMPAIGN_WAIT_NONE
                       ? campaign_wait_reason_name((enum campaign_wait_reason)c->reason)
                       : NULL;
    k->n++;
}

static void id_list_free(struct id_list *k)
{
    free(k->ids);
    free(k->due);
    free(k->why);
}

static void poll_entry(struct campaign_lessor *l, struct lessor_entry *e, int64_t now)
{
    char who_buf[160];
    struct campaign_actor who = actor_of(e, who_buf, sizeof(who_buf));
    int64_t held = campaign_sched_held(l->o.sched, e->campaign_id);
    const int64_t lease_us = (int64_t)l->o.lease_s * 1000000;

    /* blocked past the lease: back to the database with the reason */
    struct id_list k = { 0 };
    campaign_sched_evict(l->o.sched, e->campaign_id, now + lease_us * 2 / 3, collect, &k);
    if (k.n > 0) {
        for (size_t i = 0; i < k.n; i++) {
            if (k.due[i] == INT64_MAX) {
                k.due[i] = now + INT64_C(3650) * 86400 * 1000000; /* "never": far ahead */
            }
        }
        l->refs++;
        if (campaign_store_release(l->o.db, &who, l->owner, k.ids, k.due, k.why, k.n, on_release,
                                   l) != 0) {
            l->refs--;
            l->stats.errors++;
        }
    }
    if (k.nomem) {
        l->stats.errors++;
    }
    id_list_free(&k);

    if (!e->lease_inflight && held >= 0 && held < l->o.low_water && now >= e->dry_until_us) {
        struct campaign_lease_req req = { .campaign_id = e->campaign_id,
                                          .list_id = e->list_id,
                                          .owner = l->owner,
                                          .batch = l->o.batch,
                                          .lease_s = l->o.lease_s };
        l->refs++;
        if (campaign_store_lease(l->o.db, &who, &req, on_batch, e) == 0) {
            e->lease_inflight = true;
        } else {
            l->refs--;
            l->stats.errors++;
        }
    }
    if (!e->renew_inflight && held > 0 && now >= e->renew_at_us) {
        struct id_list r = { 0 };
        campaign_sched_foreach(l->o.sched, e->campaign_id, collect, &r);
        if (e->renew_at_us == 0) {
            e->renew_at_us = now + lease_us / 3; /* the first lease is fresh */
        } else if (!r.nomem && r.n > 0) {
            l->refs++;
            if (campaign_store_renew(l->o.db, &who, l->owner, r.ids, r.n, l->o.lease_s, on_renew,
                                     e) == 0) {
                e->renew_inflight = true;
                e->renew_at_us = now + lease_us / 3;
            } else {
                l->refs--;
                l->stats.errors++;
            }
        }
        id_list_free(&r);
    }
}

void campaign_lessor_poll(struct campaign_lessor *l)
{
    int64_t now = clock_wall_us();
    for (size_t i = 0; i < l->n; i++) {
        poll_entry(l, l->v[i], now);
    }
}

void campaign_lessor_stats(const struct campaign_lessor *l, struct campaign_lessor_stats *out)
{
    *out = l->stats;
}
