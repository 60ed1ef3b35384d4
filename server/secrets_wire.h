/* SPDX-License-Identifier: MIT */
/*
 * What a tenant's flows need from the tenant (server/secrets_wire.c): its
 * secrets, decrypted, for api_call headers and auth, and its api_call
 * allowlist (tenants.settings.api_call_allow, added to ivr.http-allow for
 * that tenant only). Both are read from PostgreSQL on the main loop every
 * refresh interval and served from memory, so the hooks never block.
 */
#ifndef SERVER_SECRETS_WIRE_H
#define SERVER_SECRETS_WIRE_H

#include <ev.h>
#include <jansson.h>
#include <stdint.h>

#include "core/db.h"
#include "core/http.h"

struct secrets_wire;

struct secrets_wire_config {
    struct ev_loop *loop;     /* required: the main loop (the hooks run there) */
    struct db_pool *db;       /* required */
    struct http_client *http; /* required: api_call requests (borrowed) */
    const char *global_allow; /* ivr.http-allow: CIDRs, comma or space separated */
    const unsigned char *key; /* 32-byte secrets key (copied); NULL: no secrets loaded */
    int64_t refresh_ms;       /* [10000] how stale a change may be */
};

/* Starts the first load at once. 0, ERR_INVAL (a bad global CIDR) or ERR_NOMEM. */
int secrets_wire_start(const struct secrets_wire_config *cfg, struct secrets_wire **out);

/*
 * Stops the refresh (call it before the pool goes). Then, after
 * db_pool_destroy (a load in flight is owed its callbacks),
 * secrets_wire_free frees everything, wiping the values. NULL: no-op.
 */
void secrets_wire_stop(struct secrets_wire *w);
void secrets_wire_free(struct secrets_wire *w);

/* Whether a load has completed (tests; calls before it get no secrets). */
int secrets_wire_loaded(const struct secrets_wire *w);

/* struct ivr_inbound_config.secrets: {"name": "value"} of tenant (new reference) or NULL. */
json_t *secrets_wire_secrets(void *w, long long tenant);

/* The api_call backend (ivr_http_backend_ops() context) for tenant: global + tenant CIDRs. */
void *secrets_wire_http(void *w, long long tenant);

#endif
