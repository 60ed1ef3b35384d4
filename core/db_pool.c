/* SPDX-License-Identifier: MIT */
/*
 * db_pool: N db_conn on one loop (contract in core/db.h).
 *
 * Deliberately small: a fixed array of connections made at creation, each
 * reconnecting on its own. A query goes to the up, unpinned connection
 * without a COPY that has the fewest queries in flight; ties rotate from a
 * moving start index so an idle pool spreads its load. Pinning hands one
 * connection to a transaction or COPY and takes it out of the rotation.
 *
 * The pool's state callback aggregates its connections': up when the first
 * comes up, down when the last goes down. The pool holds no query state of
 * its own, so cancelling asks each connection in turn (query ids are unique
 * per thread).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/db.h"
#include "core/db_int.h"
#include "core/err.h"

#define POOL_MAX 64

struct db_pool {
    struct db_conn **conns; /* owned, n of them */
    int n;
    int up;      /* connections up now */
    unsigned rr; /* rotating start for ties */
    bool closing;
    db_state_cb *state_cb; /* the caller's, for the aggregate */
    void *state_arg;
};

static void pool_on_conn_state(int up, void *arg)
{
    struct db_pool *p = arg;

    if (up) {
        if (++p->up == 1 && p->state_cb != NULL) {
            p->state_cb(1, p->state_arg); /* last statement: it may destroy p */
        }
    } else if (p->up > 0) {
        if (--p->up == 0 && p->state_cb != NULL) {
            p->state_cb(0, p->state_arg);
        }
    }
}

int db_pool_create(struct ev_loop *loop, const char *conninfo, int size, const struct db_opts *opts,
                   struct db_pool **out)
{
    struct db_pool *p;
    const char *base = opts != NULL && opts->name != NULL ? opts->name : "db";

    if (loop == NULL || conninfo == NULL || out == NULL || size < 1 || size > POOL_MAX) {
        return ERR_INVAL;
    }
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return ERR_NOMEM;
    }
    p->conns = calloc((size_t)size, sizeof(*p->conns));
    if (p->conns == NULL) {
        free(p);
        return ERR_NOMEM;
    }
    if (opts != NULL) {
        p->state_cb = opts->state_cb;
        p->state_arg = opts->state_arg;
    }
    for (int i = 0; i < size; i++) {
        struct db_opts o = { 0 };
        char name[64];
        int rc;

        if (opts != NULL) {
            o = *opts;
        }
        snprintf(name, sizeof(name), "%s-%d", base, i);
        o.name = name;
        o.state_cb = pool_on_conn_state;
        o.state_arg = p;
        rc = db_conn_create(loop, conninfo, &o, &p->conns[i]);
        if (rc != 0) {
            db_pool_destroy(p);
            return rc;
        }
        p->n++;
    }
    *out = p;
    return 0;
}

void db_pool_destroy(struct db_pool *p)
{
    if (p == NULL || p->closing) {
        return;
    }
    p->closing = true;
    for (int i = 0; i < p->n; i++) {
        db_conn_destroy(p->conns[i]);
        p->conns[i] = NULL;
    }
    free(p->conns);
    free(p);
}

/* A connection may take pool traffic: not pinned, not carrying a COPY. */
static bool pool_eligible(const struct db_conn *c)
{
    return c != NULL && !c->pinned && !db__copy_busy(c);
}

/* The least-loaded eligible up connection, or NULL. */
static struct db_conn *pool_pick_up(struct db_pool *p)
{
    struct db_conn *best = NULL;
    int64_t best_load = 0;

    for (int k = 0; k < p->n; k++) {
        struct db_conn *c = p->conns[(p->rr + (unsigned)k) % (unsigned)p->n];
        int64_t load;

        if (!pool_eligible(c) || !db__can_send(c)) {
            continue;
        }
        load = db__conn_load(c);
        if (best == NULL || load < best_load) {
            best = c;
            best_load = load;
        }
    }
    p->rr++;
    return best;
}

int db_pool_query_send(struct db_pool *p, const struct db_query *q, uint64_t *id)
{
    struct db_conn *c;

    if (p == NULL) {
        return ERR_INVAL;
    }
    if (p->closing) {
        return ERR_SHUTDOWN;
    }
    c = pool_pick_up(p);
    if (c == NULL) {
        /* None up: any eligible connection fails it fast, asynchronously. */
        for (int i = 0; i < p->n && c == NULL; i++) {
            if (pool_eligible(p->conns[i])) {
                c = p->conns[i];
            }
        }
        if (c == NULL) {
            return ERR_BUSY;
        }
    }
    return db_query_send(c, q, id);
}

int db_pool_query_cancel(struct db_pool *p, uint64_t id)
{
    if (p == NULL || p->closing) {
        return ERR_NOTFOUND;
    }
    for (int i = 0; i < p->n; i++) {
        if (db_query_cancel(p->conns[i], id) == 0) {
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

int db_pool_prepare(struct db_pool *p, const char *name, const char *sql, int nparams,
                    const Oid *types)
{
    if (p == NULL) {
        return ERR_INVAL;
    }
    if (p->closing) {
        return ERR_SHUTDOWN;
    }
    for (int i = 0; i < p->n; i++) {
        int rc = db_prepare(p->conns[i], name, sql, nparams, types);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int db_pool_pin(struct db_pool *p, struct db_conn **out)
{
    struct db_conn *c;

    if (p == NULL || out == NULL) {
        return ERR_INVAL;
    }
    *out = NULL;
    if (p->closing) {
        return ERR_SHUTDOWN;
    }
    c = pool_pick_up(p);
    if (c == NULL) {
        return p->up > 0 ? ERR_BUSY : ERR_DISCONNECTED;
    }
    if (db_conn_pin(c) != 0) {
        return ERR_BUSY;
    }
    *out = c;
    return 0;
}

void db_pool_unpin(struct db_pool *p, struct db_conn *c)
{
    (void)p;
    if (c != NULL) {
        db_conn_unpin(c);
    }
}

int db_pool_up_count(const struct db_pool *p)
{
    return p->up;
}

int db_pool_is_up(const struct db_pool *p)
{
    return p->up > 0;
}

int db_pool_size(const struct db_pool *p)
{
    return p->n;
}

struct db_conn *db_pool_conn(const struct db_pool *p, int i)
{
    return i >= 0 && i < p->n ? p->conns[i] : NULL;
}
