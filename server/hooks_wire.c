/* SPDX-License-Identifier: MIT */
/* server/hooks_wire: see server/hooks_wire.h. */
#include "server/hooks_wire.h"

#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/log.h"

enum { ALLOW_MAX = 32 };

/* hooks_open_cb over api_secret_open: arg is the 32-byte secrets key. */
static int open_secret(void *arg, int64_t tenant, const char *name, const unsigned char *ct,
                       size_t ctlen, const unsigned char *nonce, char *out)
{
    if (ctlen < API_SECRET_MAC_BYTES || ctlen > HOOKS_SECRET_MAX + API_SECRET_MAC_BYTES) {
        return ERR_INVAL;
    }
    return api_secret_open(arg, tenant, name, ct, ctlen, nonce, out);
}

int hooks_wire_start(const struct server_config *c, const unsigned char *key, struct hooks **out)
{
    const char *allow[ALLOW_MAX];
    char buf[4096];
    size_t n = 0;
    char *save = NULL;

    *out = NULL;
    if (!c->webhooks_enabled) {
        return 0;
    }
    if (key == NULL) {
        LOG_WARN(SERVER, "event=webhooks_unconfigured msg=\"no secrets.key or secrets.key-file:"
                         " webhooks are not delivered from this node\"");
        return 0;
    }
    snprintf(buf, sizeof(buf), "%s", c->webhooks_allow);
    for (char *t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        if (n == ALLOW_MAX) {
            LOG_ERR(SERVER, "event=config_invalid key=webhooks.allow err=\"more than 32 CIDRs\"");
            return ERR_INVAL;
        }
        allow[n++] = t;
    }
    struct hooks_config hc = {
        .conninfo = c->db_conninfo,
        .node_id = c->node_id,
        .allow = allow,
        .nallow = n,
        .connect_timeout_ms = c->webhooks_connect_timeout_ms,
        .timeout_ms = c->webhooks_timeout_ms,
        .per_endpoint = (int)c->webhooks_per_endpoint,
        .max_inflight = (int)c->webhooks_max_inflight,
        .poll_ms = c->webhooks_poll_ms,
        .backoff = { .min_ms = c->webhooks_retry_min_ms,
                     .max_ms = c->webhooks_retry_max_ms,
                     .max_age_ms = c->webhooks_max_age_ms },
        .disable_after_ms = c->webhooks_disable_after_ms,
        .retention_ms = c->webhooks_retention_ms,
        .keep_per_tenant = c->webhooks_keep_per_tenant,
        .open = open_secret,
        .open_arg = (void *)key,
    };
    int rc = hooks_start(&hc, out);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=webhooks_init_failed err=\"%s\"", err_str(rc));
    }
    return rc;
}
