/* SPDX-License-Identifier: MIT */
/*
 * server/hooks_wire: starts the webhook delivery worker (hooks/hooks.h) from
 * dialerd's configuration, with the tenant secrets key opening the endpoints'
 * signing secrets.
 */
#ifndef SERVER_HOOKS_WIRE_H
#define SERVER_HOOKS_WIRE_H

#include "hooks/hooks.h"
#include "server/server.h"

/*
 * Starts the worker unless webhooks.enabled is false or key is NULL (no
 * secrets key: logged, nothing delivered): 0 and *out (NULL then). key (32
 * bytes) is borrowed and must outlive hooks_stop. ERR_INVAL for a bad
 * webhooks.allow (logged).
 */
int hooks_wire_start(const struct server_config *c, const unsigned char *key, struct hooks **out);

#endif
