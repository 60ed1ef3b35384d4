/* SPDX-License-Identifier: MIT */
/*
 * server/dialer_wire: the outbound engine inside dialerd, on the main loop.
 *
 * Running campaigns are read from the database every dialer.poll (as
 * dialer_platform: all tenants) and put into the scheduler; the lessor
 * keeps it supplied; a tick every dialer.tick asks the verdict (the
 * campaign's own schedule, then compliance_decide_local: validity, DNC,
 * statutory window), draws launches from the Redis-shared gate and launches:
 * campaign_store_attempt_begin, and only after its COMMIT dialer_call(). The
 * dialer's outcome comes back to dialer_wire's ended hook: retry decision,
 * campaign_store_attempt_finish (exactly once per attempt), pacing feedback,
 * the Redis channel given back. The end writes (finish; not_dialed for an
 * originate refused before any channel existed, which gives the contact its
 * attempt back; a kept finish for a retry due soon or a trunk fail-over,
 * the contact staying leased and going straight back to the scheduler) are
 * queued and retried with a back-off while PostgreSQL is away. A route
 * failure (congestion and the like) is redialed at once on the campaign's
 * next trunk within the retry policy; busy and declined calls never are;
 * launches take the first trunk not resting, and pause while no Asterisk
 * server is up (one probe at a time to a degraded one). A paused campaign
 * stops launching on the next tick; a stopped or completed one also hands
 * its held contacts back.
 * At start the attempts this node left unfinished are adopted and
 * reconciled with ARI (dialer/dialer.h).
 *
 * Answered calls run the campaign's IVR flow (resolved once per campaign
 * start, the revision pinned per call) through the IVR's ARI adapter; a
 * live call beyond dialer.ports calls in flows hears the safe-harbour
 * message (abandoned, inside the 2-second rule). The compliance abandonment
 * accountant of each campaign feeds the predictive pacer; frequency caps are
 * reserved in Redis before the attempt row (fail closed) and given back
 * when the call is not placed; every call event is counted for the wall.
 * docs/dialer.md has the decisions.
 */
#ifndef SERVER_DIALER_WIRE_H
#define SERVER_DIALER_WIRE_H

#include <ev.h>

#include "ari/ari.h"
#include "core/db.h"
#include "core/kv.h"
#include "server/secrets_wire.h"
#include "server/server.h"

struct dialer_wire;
struct compliance_dnc;
struct dash;
struct ivr_ari;

struct dialer_wire_deps {
    struct ev_loop *loop;
    const struct server_config *conf;
    struct db_pool *db;
    struct kv_conn *kv;
    struct ari_pool *ari;
    struct compliance_dnc *dnc; /* NULL: no DNC lists (US numbers wait, see docs/dialer.md) */
    struct ivr_ari *ivr; /* the IVR's ARI dispatcher; NULL: answered calls get the stand-in */
    struct secrets_wire *secrets; /* tenants' secrets and api_call allowlists; NULL: no api_call */
};

int start_dialer(const struct dialer_wire_deps *deps, struct dialer_wire **out);

/*
 * The wall's registry (dashboards/dashboards.h), once it exists: the dialer
 * counts every call event into it from then on. NULL: counting stops.
 */
void dialer_wire_set_dash(struct dialer_wire *w, struct dash *dash);

/* Stops launching (drain starts); calls in progress keep running. */
void dialer_wire_drain(struct dialer_wire *w);

/*
 * Stops the timers and the lessor before the dependencies go (call it
 * first). Attempts still in flight stay unfinished in the database and are
 * reconciled by the next start. Then, after the ARI pool, Redis and
 * PostgreSQL are destroyed (their owed callbacks may still reach the
 * dialer), dialer_wire_free() frees the rest.
 */
void stop_dialer(struct dialer_wire *w);
void dialer_wire_free(struct dialer_wire *w);

/* ARI events for the dialer's channels; false when the event is someone else's. */
bool dialer_wire_event(struct dialer_wire *w, struct ari_client *c, const struct ari_event *ev);
size_t dialer_wire_known(struct dialer_wire *w, struct ari_client *c, const char **ids, size_t max);
void dialer_wire_reconciled(struct dialer_wire *w, struct ari_client *c, int status,
                            const char *const *gone, size_t n_gone, const char *const *up,
                            size_t n_up);

#endif
