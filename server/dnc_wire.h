/* SPDX-License-Identifier: MIT */
/*
 * server/dnc_wire: dialerd's Do-Not-Call store, on the main loop.
 *
 * At start-up dialerd creates one compliance_dnc store, a loader (its
 * "dnc-build" worker thread) and the Redis sync between nodes. Once
 * PostgreSQL is reachable every list (dnc_lists rows, plus the entries of
 * each owner that belong to no list) is loaded from PostgreSQL, one list at a
 * time, on a connection of its own. The sync's resync callback (after every
 * reconnect of its subscriber, and on a "reload" message sent after an
 * upload) loads again: one list, or all of them. A timer evaluates the
 * national list's age for dnc.alarm-country every dnc.alarm-interval: the
 * gauge compliance_dnc_national_alarm (0 fresh .. 3 missing) for /metrics,
 * a log line on each change of state, and /readyz's "dnc" check.
 *
 * The store is read by the dialer (deps.dnc), the importer's DNC scrub and
 * the check route from any thread. Changes made through the REST API come
 * from the httpd thread through dnc_wire_change()/dnc_wire_reload(): the
 * change is applied to the local store at once (read-your-writes for the
 * caller) and posted to the main loop, which publishes it to the other nodes.
 *
 * Decisions:
 *   - The importer's scrub answers "lookup failed" (the row is rejected as
 *     dnc_unavailable) until the first full load has finished, so a number is
 *     never imported unscrubbed because dialerd has just started.
 *   - /readyz reports the DNC state but readiness does not depend on it: the
 *     dialer refuses US numbers without a national list anyway, and the API
 *     must stay reachable so the operator can upload one.
 *   - A list whose dnc_lists row is gone when it is reloaded is dropped from
 *     the store (that is how a deletion reaches every node).
 *   - dnc.national-file: each node loads the national registry's full file
 *     itself (on the dnc-build worker) into a list of its own that the
 *     database and the sync never touch; a change of the file's modification
 *     time or size (checked every dnc.national-file-check) loads it again, a
 *     failed load keeps the previous list, and the list is dated by the
 *     file's modification time (see dnc_wire.c).
 */
#ifndef SERVER_DNC_WIRE_H
#define SERVER_DNC_WIRE_H

#include <ev.h>
#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "compliance/compliance.h"
#include "core/kv.h"
#include "server/server.h"

struct dnc_wire;

/* The list id of the national registry file (dnc.national-file): no dnc_lists row has it. */
#define DNC_WIRE_FILE_LIST_ID INT64_C(-1)

struct dnc_wire_deps {
    struct ev_loop *loop;             /* main loop */
    const struct server_config *conf; /* borrowed, immutable */
    struct kv_conn *kv;               /* main loop's Redis connection (publishes) */
};

/* Creates the store, loader and sync; loading starts once PostgreSQL is up.
 * Returns 0 and *out, or an error (logged). Main thread. */
int start_dnc(const struct dnc_wire_deps *deps, struct dnc_wire **out);

/* Stops the sync, the loader, the timer and the connection; the store stays
 * readable until dnc_wire_free(). Call before the kv connection goes. NULL: no-op. */
void stop_dnc(struct dnc_wire *w);

/* Frees the store (after everything that reads it has stopped). NULL: no-op. */
void dnc_wire_free(struct dnc_wire *w);

/* The store (NULL when w is NULL). */
struct compliance_dnc *dnc_wire_store(struct dnc_wire *w);

/* Nonzero once the first full load finished. Any thread. */
int dnc_wire_loaded(const struct dnc_wire *w);

/*
 * One entry added (add != 0) or removed in the list info, already committed
 * in dnc_entries: applied to the local store now, published to the other
 * nodes from the main loop. Any thread. Returns 0, ERR_INVAL or ERR_NOMEM.
 */
int dnc_wire_change(struct dnc_wire *w, const struct compliance_dnc_list_info *info, int add,
                    const char *entry);

/* Every node (this one too) reloads the list from PostgreSQL (after an
 * upload, a deletion). Any thread. Returns 0 or ERR_NOMEM. */
int dnc_wire_reload(struct dnc_wire *w, const struct compliance_dnc_list_info *info);

/* importer_dnc_cb over the store: 1 listed, 0 not, ERR_AGAIN before the
 * first load finished. Any thread. */
int dnc_wire_importer_check(const char *e164, int64_t tenant_id, int64_t list_id, void *arg);

/*
 * The registry file's list as this node has it (dnc.national-file), for the
 * list routes: 0 and *out filled, or ERR_NOTFOUND when no file is
 * configured. Any thread.
 */
int dnc_wire_file_info(struct dnc_wire *w, struct api_dnc_file *out);

/* The "dnc" object of /readyz: {"status", "lists_loading", "national": {...}}.
 * New reference. Any thread. */
json_t *dnc_wire_status_json(struct dnc_wire *w);

#endif
