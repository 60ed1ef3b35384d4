/* SPDX-License-Identifier: MIT */
/*
 * store_int: the pipelined tenant transaction shared by store.c (flows) and
 * recorder.c (executions and steps). Module-private.
 */
#ifndef IVR_STORE_INT_H
#define IVR_STORE_INT_H

#include <jansson.h>

#include "core/db.h"
#include "ivr/ivr.h"

#define TXN_MAX 8

struct txn;

struct slot {
    struct txn *t;
    int idx;
};

struct txn {
    struct db_pool *pool;
    struct db_conn *c;
    int n, done, capture, first_err;
    char errmsg[256];
    json_t *rows; /* rows of the captured statement: [[col, ...], ...] */
    struct slot slots[TXN_MAX + 4];
    void (*fin)(struct txn *t);
    ivr_store_cb *cb;
    void *arg;         /* for cb, or the owner of fin */
    long long flow_id; /* publish */
    char *message;
};

void ivr__txn_free(struct txn *t);

/* A transaction object on pool; fin defaults to the one-row result reporter. */
struct txn *ivr__txn_new(struct db_pool *pool, ivr_store_cb *cb, void *arg);

/*
 * Sends BEGIN, the tenant and actor settings (actor 0: "user:0"), the n
 * statements (params[i] has nparams[i] of up to 6 values) and COMMIT on a
 * connection pinned from t->pool; rows of statement capture are kept in
 * t->rows and t->fin(t) runs once all results are in (t->first_err holds the
 * first failure). Returns 0, or a negative code when nothing was sent.
 */
int ivr__txn_run(struct txn *t, long long tenant, long long actor, int n, const char *const *sql,
                 const char *const params[][6], const int *nparams, int capture);

#endif
