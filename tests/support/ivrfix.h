/* SPDX-License-Identifier: MIT */
/*
 * Set-up shared by the IVR integration tests (test_ivr_ari, test_ivr_tts,
 * test_inbound, test_ivr_inbound):
 *   - simfix: a private ari-sim (its scenario and dialplan written to a fresh
 *     directory, time 10x faster) and an ARI client on the caller's loop,
 *     connected to it;
 *   - ivrdb: a fresh migrated database with two tenants (acme, globex) and an
 *     editor each, a pool of 4 connections as dialer_app on the caller's
 *     loop, and flows and extensions stored through the ivr module, each
 *     answer waited for (bounded).
 * Tests keep their own callbacks and checks; the ivrdb functions assert
 * (cmocka) where a set-up step fails. Include after <cmocka.h>.
 */
#ifndef TESTS_SUPPORT_IVRFIX_H
#define TESTS_SUPPORT_IVRFIX_H

#include <ev.h>
#include <postgresql/libpq-fe.h>
#include <stdint.h>

#include "ari/ari.h"
#include "core/db.h"
#include "ivr/ivr.h"
#include "sim/simc.h"

struct simfix_config {
    const char *app;            /* the Stasis application ("ivr", "dialer") */
    const char *scenario;       /* JSON text, or NULL: ari-sim's built-in mix */
    const char *dialplan;       /* extensions.conf text, "none", or NULL: ari-sim's default */
    int64_t request_timeout_ms; /* the client's; 0: its default */
    /* Every event of the client (the test's dispatch). */
    void (*on_event)(struct ari_client *c, const struct ari_event *ev, void *arg);
    void *arg;
};

struct simfix {
    char dir[128]; /* /tmp/<name>.<pid>, removed by simfix_stop */
    struct simc_proc sim;
    char url[64]; /* ari-sim's base URL */
    struct ari_client *c;
    int connected; /* reconciliations seen (the first follows the connection) */
    struct simfix_config cfg;
};

/* Creates the fixture's directory /tmp/<name>.<pid> (simfix_start needs it). 0 or -1. */
int simfix_mkdir(struct simfix *s, const char *name);

/*
 * Writes the scenario and dialplan into the directory, starts ari-sim and an
 * ARI client on loop, and waits (at most 5 s) for it to connect. 0, or -1
 * after naming the step that failed on stderr.
 */
int simfix_start(struct simfix *s, struct ev_loop *loop, const struct simfix_config *cfg);

/*
 * Destroys the client (before the loop goes), stops ari-sim and removes the
 * directory. 0, or -1 (said on stderr, with the log's path) if ari-sim did not
 * exit cleanly or its log holds a sanitizer report.
 */
int simfix_stop(struct simfix *s);

struct ivrdb {
    PGconn *su; /* the database's owner (for set-up and checks) */
    struct ev_loop *loop;
    struct db_pool *pool; /* 4 connections as dialer_app */
    long long ta, tb;     /* tenants acme and globex, an editor each */
    int n_got;            /* answers of the store and extension calls */
    int status;           /* the last answer's status */
    long long id;         /* the last answer's id (a flow) or number (an extension) */
};

/* Creates and migrates database db, the two tenants and the pool (named pool_name). */
void ivrdb_setup(struct ivrdb *d, struct ev_loop *loop, const char *db, const char *pool_name);

/* Closes the pool and the connection and drops database db. */
void ivrdb_teardown(struct ivrdb *d, const char *db);

/* Callbacks of ivr_store_* and ivr_ext_* (arg: the struct ivrdb). */
void ivrdb_store_cb(void *arg, const struct ivr_store_result *r);
void ivrdb_ext_cb(void *arg, const struct ivr_ext_result *r);

/* Runs the loop until the answer came (at most 10 s); asserts it succeeded. */
void ivrdb_wait(struct ivrdb *d);

/* Publishes def as a new flow of tenant (flow 0) or a new revision of flow; its id. */
long long ivrdb_publish(struct ivrdb *d, long long tenant, long long flow, const char *def);

#endif
