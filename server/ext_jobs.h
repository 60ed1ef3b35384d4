/* SPDX-License-Identifier: MIT */
/*
 * server/ext_jobs: the extension inventory jobs of dialerd, on the main loop.
 *
 * At start-up (ext.provision) the rows of the configured ranges are created
 * where missing (ivr_ext_provision, idempotent, ON CONFLICT DO NOTHING), so
 * every node may do it and a restart changes nothing. Then every
 * ext.expiry-interval, quarantined extensions whose quarantine_until has
 * passed become free (ivr_ext_free_expired; the same UPDATE on every node,
 * harmless when two run it). A database that is not up yet is retried on
 * the next tick.
 */
#ifndef SERVER_EXT_JOBS_H
#define SERVER_EXT_JOBS_H

#include <ev.h>

#include "core/db.h"
#include "server/server.h"

struct ext_jobs;

/* Starts the timer (first tick at once). conf and db are borrowed. 0, ERR_INVAL or ERR_NOMEM. */
int ext_jobs_start(struct ev_loop *loop, const struct server_config *conf, struct db_pool *db,
                   struct ext_jobs **out);

/* Stops the timer; a query in flight finishes into nothing. NULL is a no-op. */
void ext_jobs_stop(struct ext_jobs *j);

#endif
