/* SPDX-License-Identifier: MIT */
/*
 * dashboards/dash_reg: the registry of entities producers count on.
 *
 * Registration takes the registry mutex, looks the entity up (a linear scan:
 * registration is rare and off the hot path) and otherwise allocates a
 * cache-line-aligned entity, stores its pointer in the next slot and
 * publishes the new count with release order; the metrics thread loads the
 * count with acquire order and reads slots [0, n) without the lock. Entities
 * are freed only by dash_destroy.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "dashboards/dash_int.h"

#define DASH_NAME_(id, name, kind, help) name,
const char *const dash__stat_names[DASH_STAT_COUNT_] = { DASH_STAT_MAP(DASH_NAME_) };
#undef DASH_NAME_
#define DASH_HELP_(id, name, kind, help) help,
const char *const dash__stat_help[DASH_STAT_COUNT_] = { DASH_STAT_MAP(DASH_HELP_) };
#undef DASH_HELP_
#define DASH_C                            0
#define DASH_G                            1
#define DASH_GAUGE_(id, name, kind, help) DASH_##kind,
const bool dash__stat_gauge[DASH_STAT_COUNT_] = { DASH_STAT_MAP(DASH_GAUGE_) };
#undef DASH_GAUGE_
#undef DASH_C
#undef DASH_G

static const char *const state_names[] = {
    [DASH_STATE_UNKNOWN] = "unknown",     [DASH_STATE_DRAFT] = "draft",
    [DASH_STATE_SCHEDULED] = "scheduled", [DASH_STATE_RUNNING] = "running",
    [DASH_STATE_PAUSED] = "paused",       [DASH_STATE_COMPLETED] = "completed",
    [DASH_STATE_STOPPED] = "stopped",
};

const char *dash_stat_name(enum dash_stat s)
{
    return (unsigned)s < DASH_STAT_COUNT_ ? dash__stat_names[s] : "unknown";
}

const char *dash_state_name(enum dash_state s)
{
    return (unsigned)s <= DASH_STATE_STOPPED ? state_names[s] : "unknown";
}

enum dash_state dash_state_parse(const char *s)
{
    for (int i = 1; s != NULL && i <= DASH_STATE_STOPPED; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            return (enum dash_state)i;
        }
    }
    return DASH_STATE_UNKNOWN;
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static int64_t or_default(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

int dash_create(const struct dash_config *cfg, struct dash **out)
{
    struct dash *d;

    if (cfg == NULL || out == NULL) {
        return ERR_INVAL;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return ERR_NOMEM;
    }
    d->node_id = strdup(cfg->node_id != NULL && cfg->node_id[0] != '\0' ? cfg->node_id : "node-1");
    d->cap = cfg->max_entities > 0 ? cfg->max_entities : 4096;
    d->tick_ms = or_default(cfg->tick_ms, 1000);
    d->heartbeat_ms = or_default(cfg->heartbeat_ms, 10000);
    d->auth_timeout_ms = or_default(cfg->auth_timeout_ms, 5000);
    d->peer_ttl_ms = or_default(cfg->peer_ttl_ms, 5000);
    d->retention_s = or_default(cfg->retention_s, 86400);
    d->ws_max_queue = or_default(cfg->ws_max_queue_bytes, 256 * 1024);
    d->max_subs = cfg->max_subscriptions > 0 ? cfg->max_subscriptions : 64;
    d->metrics_token = dup_or_null(cfg->metrics_token);
    d->db_conninfo = dup_or_null(cfg->db_conninfo);
    d->redis_host = dup_or_null(cfg->redis_host);
    d->redis_socket = dup_or_null(cfg->redis_socket);
    d->redis_password = dup_or_null(cfg->redis_password);
    d->redis_port = cfg->redis_port > 0 ? cfg->redis_port : 6379;
    d->ents = calloc(d->cap, sizeof(*d->ents));
    d->hist = calloc(d->cap, sizeof(*d->hist));
    d->rolled = calloc(d->cap, sizeof(*d->rolled));
    if (d->node_id == NULL || strlen(d->node_id) >= DASH_NODE_MAX || d->ents == NULL ||
        d->hist == NULL || d->rolled == NULL) {
        int rc = d->node_id != NULL && strlen(d->node_id) >= DASH_NODE_MAX ? ERR_INVAL : ERR_NOMEM;
        dash_destroy(d);
        return rc;
    }
    pthread_mutex_init(&d->lock, NULL);
    atomic_init(&d->n, 0);
    *out = d;
    return 0;
}

void dash_destroy(struct dash *d)
{
    size_t n;

    if (d == NULL) {
        return;
    }
    dash__thread_stop(d);
    dash__view_free(d);
    n = atomic_load_explicit(&d->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        free(d->ents[i]);
    }
    if (d->ents != NULL) {
        pthread_mutex_destroy(&d->lock);
    }
    free(d->ents);
    free(d->hist);
    free(d->rolled);
    free(d->node_id);
    free(d->metrics_token);
    free(d->db_conninfo);
    free(d->redis_host);
    free(d->redis_socket);
    free(d->redis_password);
    free(d);
}

static bool same(const struct dash_entity *e, enum dash_kind kind, int64_t tenant, int64_t id,
                 const char *name, const char *outcome)
{
    return e->kind == kind && e->tenant_id == tenant && e->id == id && strcmp(e->name, name) == 0 &&
           strcmp(e->outcome, outcome) == 0;
}

static struct dash_entity *reg(struct dash *d, enum dash_kind kind, int64_t tenant, int64_t id,
                               const char *name, const char *outcome)
{
    struct dash_entity *e = NULL;
    size_t n;

    if (d == NULL || strlen(name) >= sizeof(e->name) || strlen(outcome) >= sizeof(e->outcome)) {
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    n = atomic_load_explicit(&d->n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        if (same(d->ents[i], kind, tenant, id, name, outcome)) {
            e = d->ents[i];
            goto out;
        }
    }
    if (n == d->cap) {
        if (!d->full_logged) {
            LOG_ERR(DASH, "event=registry_full capacity=%zu msg=\"new entities are not counted\"",
                    d->cap);
            d->full_logged = true;
        }
        goto out;
    }
    e = aligned_alloc(64, (sizeof(*e) + 63) / 64 * 64);
    if (e == NULL) {
        goto out;
    }
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->tenant_id = tenant;
    e->id = id;
    memcpy(e->name, name, strlen(name) + 1);
    memcpy(e->outcome, outcome, strlen(outcome) + 1);
    e->index = (uint32_t)n;
    atomic_store_explicit(&e->abandon_cap_bp, 300, memory_order_relaxed);
    d->ents[n] = e;
    atomic_store_explicit(&d->n, n + 1, memory_order_release);
out:
    pthread_mutex_unlock(&d->lock);
    return e;
}

struct dash_entity *dash_campaign(struct dash *d, int64_t tenant_id, int64_t campaign_id)
{
    if (tenant_id <= 0 || campaign_id <= 0) {
        return NULL;
    }
    return reg(d, DASH_KIND_CAMPAIGN, tenant_id, campaign_id, "", "");
}

struct dash_entity *dash_trunk(struct dash *d, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return NULL;
    }
    return reg(d, DASH_KIND_TRUNK, 0, 0, name, "");
}

struct dash_entity *dash_ivr_node(struct dash *d, int64_t tenant_id, int64_t flow_id,
                                  const char *node, const char *outcome)
{
    if (tenant_id <= 0 || flow_id <= 0 || node == NULL || node[0] == '\0') {
        return NULL;
    }
    return reg(d, DASH_KIND_IVR, tenant_id, flow_id, node, outcome != NULL ? outcome : "");
}

struct dash_entity *dash_tenant_trunk(struct dash *d, int64_t tenant_id, const char *name)
{
    if (tenant_id <= 0 || name == NULL || name[0] == '\0') {
        return NULL;
    }
    return reg(d, DASH_KIND_TRUNK, tenant_id, 0, name, "");
}

struct dash_entity *dash_server(struct dash *d, const char *name)
{
    struct dash_entity *e;

    if (name == NULL || name[0] == '\0') {
        return NULL;
    }
    e = reg(d, DASH_KIND_SERVER, 0, 0, name, "");
    return e;
}

void dash_server_health(struct dash *d, struct dash_entity *e, enum dash_health h)
{
    if (e == NULL || e->kind != DASH_KIND_SERVER || (unsigned)h > DASH_HEALTH_DEGRADED) {
        return;
    }
    if (atomic_exchange_explicit(&e->state, (int)h, memory_order_relaxed) != (int)h) {
        dash_kick(d);
    }
}

void dash_set_platform(struct dash *d, dash_platform_cb *cb, void *arg)
{
    if (d != NULL) {
        d->platform = cb;
        d->platform_arg = arg;
    }
}

/* ------------------------------------------------------ IVR entity cache */

enum { IVR_CACHE_SLOTS = 1024 }; /* power of two; a full cache falls back to the registry */

struct ivr_slot {
    struct dash_entity *e; /* NULL: empty */
    uint64_t hash;
};

struct dash_ivr_cache {
    struct dash *d;
    size_t used;
    struct ivr_slot slot[IVR_CACHE_SLOTS];
};

struct dash_ivr_cache *dash_ivr_cache_create(struct dash *d)
{
    struct dash_ivr_cache *c;

    if (d == NULL) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->d = d;
    }
    return c;
}

void dash_ivr_cache_destroy(struct dash_ivr_cache *c)
{
    free(c);
}

/* A multiply-xorshift hash over the key's parts, eight bytes at a time. */
static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * UINT64_C(0x9e3779b97f4a7c15);
    return h ^ (h >> 29);
}

static uint64_t mix_str(uint64_t h, const char *s, size_t n)
{
    uint64_t w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = mix(h, w);
    }
    w = 0;
    memcpy(&w, s, n);
    return mix(h, w ^ ((uint64_t)n << 56));
}

struct dash_entity *dash_ivr_cached(struct dash_ivr_cache *c, int64_t tenant_id, int64_t flow_id,
                                    const char *node, const char *outcome)
{
    uint64_t h;
    size_t nl, ol;

    if (c == NULL || node == NULL) {
        return NULL;
    }
    outcome = outcome != NULL ? outcome : "";
    nl = strlen(node);
    ol = strlen(outcome);
    h = mix(mix((uint64_t)tenant_id, (uint64_t)flow_id), 0);
    h = mix_str(h, node, nl);
    h = mix_str(h, outcome, ol);
    for (size_t i = 0, at = (size_t)h & (IVR_CACHE_SLOTS - 1); i < IVR_CACHE_SLOTS;
         i++, at = (at + 1) & (IVR_CACHE_SLOTS - 1)) {
        struct ivr_slot *s = &c->slot[at];
        if (s->e == NULL) {
            struct dash_entity *e = dash_ivr_node(c->d, tenant_id, flow_id, node, outcome);
            /* keep a quarter free so probes stay short; beyond, the registry answers */
            if (e != NULL && c->used < IVR_CACHE_SLOTS * 3 / 4) {
                s->e = e;
                s->hash = h;
                c->used++;
            }
            return e;
        }
        if (s->hash == h && s->e->tenant_id == tenant_id && s->e->id == flow_id &&
            strcmp(s->e->name, node) == 0 && strcmp(s->e->outcome, outcome) == 0) {
            return s->e;
        }
    }
    return dash_ivr_node(c->d, tenant_id, flow_id, node, outcome);
}

void dash_campaign_state(struct dash *d, struct dash_entity *e, enum dash_state st)
{
    if (e == NULL) {
        return;
    }
    if (atomic_exchange_explicit(&e->state, (int)st, memory_order_relaxed) != (int)st) {
        dash_kick(d);
    }
}

void dash_campaign_cap(struct dash_entity *e, int64_t cap_bp)
{
    if (e != NULL && cap_bp >= 0 && cap_bp <= 10000) {
        atomic_store_explicit(&e->abandon_cap_bp, cap_bp, memory_order_relaxed);
    }
}

void dash_kick(struct dash *d)
{
    if (d == NULL || atomic_exchange_explicit(&d->kicked, 1, memory_order_acq_rel) != 0) {
        return;
    }
    if (atomic_load_explicit(&d->thread_running, memory_order_acquire)) {
        ev_async_send(d->loop, &d->wake);
    }
}
