/* SPDX-License-Identifier: MIT */
/*
 * dashboards: live metrics of campaigns, tenants, trunks, IVR nodes and this
 * node; the Prometheus text page, the campaign statistics JSON and the
 * /ws/v1/live WebSocket of the monitoring wall.
 *
 * DESIGN
 *
 * Producers (scheduler, dialer, IVR, importer) register what they count once,
 * off the hot path (dash_campaign, dash_trunk, dash_ivr_node: a mutex and,
 * the first time, one allocation), keep the struct dash_entity pointer, and
 * from then on count with dash_add / dash_inc / dash_set: one relaxed atomic
 * add on a cache-line-aligned slot, no lock, no allocation, no branch.
 * Entities live until dash_destroy, so a pointer never dangles.
 *
 * The metrics thread (its own libev loop, named "metrics") reads every
 * entity once a second (or at once after dash_kick: a state change that
 * matters), computes 1 s and 1 min rates from a per-entity ring of the last
 * 61 readings, and builds an immutable snapshot. The snapshot is
 *   - posted to the httpd thread (httpd_post), which keeps the newest one
 *     and serves /metrics, the stats JSON and the WebSocket from it, so no
 *     request ever reads the live atomics or takes a lock;
 *   - published on the Redis channel "dash:node" as JSON with this node's
 *     totals. Every node subscribes, keeps each peer's latest snapshot for
 *     dashboards.peer-ttl and adds the peers' figures to its own: any node
 *     serves cluster-wide figures;
 *   - once a minute, written to PostgreSQL as per-minute rollups
 *     (campaign_metrics_minute, sql/0060), with rows older than
 *     dashboards.retention deleted.
 *
 * DECISIONS (reasons in docs/dashboards.md)
 *   - Nodes publish totals, not deltas: Redis pub/sub is fire-and-forget, and
 *     a lost total is repaired by the next one a second later, a lost delta
 *     never is. A peer silent for dashboards.peer-ttl no longer counts.
 *   - Tenant figures are the sum of the tenant's campaigns, computed when
 *     read; producers count each event once.
 *   - The abandonment rate is abandoned / answered-by-a-human (answered when
 *     no AMD result was counted) over the campaign's life as seen by the
 *     cluster since the nodes started; the 30-day regulatory figure belongs
 *     to compliance. ETA = contacts remaining / attempts per second (1 min).
 *   - /metrics shows this node's figures (label node), so a Prometheus that
 *     scrapes every node does not count twice; ?scope=cluster adds peers.
 *   - A WebSocket subscription to a single campaign needs the campaign to be
 *     known to the cluster's metrics (it has counted something); a tenant
 *     subscription covers every campaign of the tenant, present and future.
 *
 * Threads: registration and counting from any thread; dash_create,
 * dash_mount, dash_start, dash_destroy from the main thread; the dash_view_*
 * functions on the httpd thread only.
 */
#ifndef DASHBOARDS_DASHBOARDS_H
#define DASHBOARDS_DASHBOARDS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dash;
struct httpd;

/*
 * Every figure an entity counts: X(id, name, kind, help). Kind C is a
 * counter (only grows), G a gauge (goes up and down, or is set).
 */
/* clang-format off */
#define DASH_STAT_MAP(X)                                                                  \
    X(ATTEMPTS,           "attempts",           C, "originations sent")                   \
    X(ANSWERED,           "answered",           C, "calls answered")                      \
    X(HUMAN,              "human",              C, "answered calls classified human")     \
    X(MACHINE,            "machine",            C, "answered calls classified machine")   \
    X(BUSY,               "busy",               C, "calls ended busy")                    \
    X(NO_ANSWER,          "no_answer",          C, "calls ended without answer")          \
    X(FAILED,             "failed",             C, "calls failed (network, congestion)")  \
    X(ABANDONED,          "abandoned",          C, "answered calls abandoned")            \
    X(ENDED,              "ended",              C, "calls ended (any outcome)")           \
    X(TALK_MS,            "talk_ms",            C, "answered call time, milliseconds")    \
    X(HANDLE_MS,          "handle_ms",          C, "call handling time, milliseconds")    \
    X(BLOCKED_DNC,        "blocked_dnc",        C, "contacts blocked by a DNC list")      \
    X(BLOCKED_WINDOW,     "blocked_window",     C, "contacts blocked by calling window")  \
    X(BLOCKED_CAP,        "blocked_cap",        C, "contacts blocked by a frequency cap") \
    X(ERRORS,             "errors",             C, "trunk or origination errors")         \
    X(HITS,               "hits",               C, "IVR node executions (by outcome)")    \
    X(RINGING,            "ringing",            G, "calls ringing now")                   \
    X(IN_PROGRESS,        "in_progress",        G, "calls up now")                        \
    X(CONTACTS_REMAINING, "contacts_remaining", G, "contacts still to call")              \
    X(CONTACTS_TOTAL,     "contacts_total",     G, "contacts in the campaign's lists")    \
    X(CHANNELS,           "channels",           G, "trunk channels in use")               \
    X(CAPACITY,           "capacity",           G, "trunk channel capacity")

/* clang-format on */

enum dash_stat {

#define DASH_STAT_ENUM_(id, name, kind, help) DASH_##id,
    DASH_STAT_MAP(DASH_STAT_ENUM_)
#undef DASH_STAT_ENUM_
        DASH_STAT_COUNT_
};

enum dash_kind {
    DASH_KIND_CAMPAIGN = 0,
    DASH_KIND_TRUNK = 1,
    DASH_KIND_IVR = 2,
    DASH_KIND_SERVER = 3, /* an Asterisk server of this node's ARI pool */
};

/* Health of an Asterisk server (the ARI pool's enum ari_health values). */
enum dash_health {
    DASH_HEALTH_DOWN = 0,
    DASH_HEALTH_UP = 1,
    DASH_HEALTH_DEGRADED = 2,
};

/* Campaign states as the wall shows them (the campaigns table's names). */
enum dash_state {
    DASH_STATE_UNKNOWN = 0,
    DASH_STATE_DRAFT,
    DASH_STATE_SCHEDULED,
    DASH_STATE_RUNNING,
    DASH_STATE_PAUSED,
    DASH_STATE_COMPLETED,
    DASH_STATE_STOPPED,
};

/*
 * One registered thing that counts. The values are public only so the
 * counting functions can be inline; read them through snapshots.
 */
struct dash_entity {
    _Alignas(64) _Atomic int64_t v[DASH_STAT_COUNT_]; /* private */
    _Atomic int state;              /* enum dash_state (campaigns), enum dash_health (servers) */
    _Atomic int64_t abandon_cap_bp; /* cap in basis points (300 = 3 %) */
    enum dash_kind kind;            /* read-only */
    int64_t tenant_id;              /* read-only; 0: platform-wide */
    int64_t id;                     /* campaign or flow id */
    char name[64];                  /* trunk name or IVR node name */
    char outcome[32];               /* IVR outcome ("" = node hits) */
    uint32_t index;                 /* private: slot in the registry */
};

/* Hot path: relaxed atomic adds (statistics only; nothing synchronises on them). */
static inline void dash_add(struct dash_entity *e, enum dash_stat s, int64_t n)
{
    atomic_fetch_add_explicit(&e->v[s], n, memory_order_relaxed);
}

static inline void dash_inc(struct dash_entity *e, enum dash_stat s)
{
    atomic_fetch_add_explicit(&e->v[s], 1, memory_order_relaxed);
}

/* For gauges that are set rather than moved (contacts remaining, capacity). */
static inline void dash_set(struct dash_entity *e, enum dash_stat s, int64_t v)
{
    atomic_store_explicit(&e->v[s], v, memory_order_relaxed);
}

/* Zero fields take the default in brackets. Strings are copied. */
struct dash_config {
    const char *node_id;        /* this node's name in labels and Redis ["node-1"] */
    size_t max_entities;        /* registry capacity [4096] */
    int64_t tick_ms;            /* snapshot period [1000] */
    int64_t heartbeat_ms;       /* WebSocket heartbeat period [10000] */
    int64_t auth_timeout_ms;    /* a socket must authenticate within [5000] */
    int64_t peer_ttl_ms;        /* a silent peer stops counting after [5000] */
    int64_t retention_s;        /* rollups kept [86400] */
    int64_t ws_max_queue_bytes; /* per WebSocket output bound [256 KiB] */
    int max_subscriptions;      /* per WebSocket [64] */
    const char *metrics_token;  /* when set, /metrics needs "Authorization: Bearer <it>" */
    const char *db_conninfo;    /* rollups; NULL: none */
    const char *redis_host;     /* cluster fan-out; NULL (and no socket): none */
    int redis_port;
    const char *redis_socket;
    const char *redis_password;
};

/* Who a WebSocket authenticated as. */
struct dash_principal {
    int64_t tenant_id;
    int role;           /* the api's enum api_role value (viewer 1, editor 2, admin 3) */
    int64_t expires_us; /* the socket is closed when the credential expires */
};

/*
 * Verifies a credential (a JWT, or an API key when api_key is true) on the
 * httpd thread. Returns 0 and fills *p, or a negative code; or ERR_AGAIN
 * when the answer comes later (an API key is a database look-up): then the
 * verifier calls dash_auth_complete(d, ticket, ...) once, on the httpd
 * thread, whether or not the socket is still open.
 */
typedef int dash_auth_cb(const char *credential, bool api_key, uint64_t ticket,
                         struct dash_principal *p, void *arg);

/*
 * The late answer to a dash_auth_cb that returned ERR_AGAIN: rc 0 and *p
 * authenticate the session (hello follows, then the messages it sent while
 * waiting); another rc closes it with an error and 4401. A ticket whose
 * socket has gone is ignored. httpd thread only.
 */
void dash_auth_complete(struct dash *d, uint64_t ticket, int rc, const struct dash_principal *p);

/* Health flags the wall shows as alarms (read from the httpd thread). */
typedef void dash_health_cb(bool *pg_up, bool *redis_up, bool *ari_up, void *arg);

/* States of the national Do-Not-Call list as the wall shows them. */
enum dash_dnc_state {
    DASH_DNC_FRESH = 0,
    DASH_DNC_WARNING = 1, /* goes stale soon */
    DASH_DNC_STALE = 2,
    DASH_DNC_MISSING = 3,
    DASH_DNC_DISABLED = 4, /* no DNC store in this process */
};

/* Platform-wide compliance facts every tenant's wall shows. */
struct dash_platform {
    enum dash_dnc_state dnc_state;
    char dnc_country[8];    /* the country whose national list is watched ("US") */
    int64_t dnc_age_s;      /* -1 when missing or undated */
    int64_t dnc_stale_at_s; /* epoch seconds, 0 when unknown */
};

/* Fills *out (zeroed by the caller). httpd thread, once per tick; must not block. */
typedef void dash_platform_cb(struct dash_platform *out, void *arg);

/* ---------------------------------------------------------------------- */
/* Lifecycle (main thread)                                                 */
/* ---------------------------------------------------------------------- */

/* Creates the registry; no thread yet. 0 and *out, ERR_INVAL, ERR_NOMEM. */
int dash_create(const struct dash_config *cfg, struct dash **out);

/*
 * Adds GET /metrics and the /ws/v1/live endpoint to h (before httpd_start).
 * auth verifies WebSocket credentials (required); health may be NULL.
 * Returns 0 or the httpd error.
 */
int dash_mount(struct dash *d, struct httpd *h, dash_auth_cb *auth, dash_health_cb *health,
               void *arg);

/*
 * The source of the platform-wide compliance facts (the national DNC list's
 * age) shown on every tenant's wall. Before httpd_start; cb NULL: none.
 */
void dash_set_platform(struct dash *d, dash_platform_cb *cb, void *arg);

/* Starts the metrics thread (after httpd_start). 0 or a negative code. */
int dash_start(struct dash *d);

/*
 * Stops the metrics thread (no snapshot is posted after it returns). Call
 * before httpd_stop: the thread posts to the httpd thread. NULL: no-op.
 */
void dash_stop(struct dash *d);

/* Frees everything after httpd_stop (stops the thread if still running). NULL: no-op. */
void dash_destroy(struct dash *d);

/* ---------------------------------------------------------------------- */
/* Producers (any thread)                                                  */
/* ---------------------------------------------------------------------- */

/*
 * The entity of a campaign, registered on first use (the same pointer on
 * later calls). NULL when the registry is full or on OOM (logged once).
 */
struct dash_entity *dash_campaign(struct dash *d, int64_t tenant_id, int64_t campaign_id);

/* The entity of a trunk (name: 1..63 bytes). NULL as above or for a bad name. */
struct dash_entity *dash_trunk(struct dash *d, const char *name);

/*
 * A tenant's traffic on a trunk (what the tenant's wall shows: its own calls
 * only). Count DASH_ATTEMPTS, DASH_CHANNELS (+1 at the originate, -1 at the
 * end), DASH_CAPACITY (set), and at the end DASH_ENDED, DASH_ANSWERED and
 * DASH_ERRORS (a failed call: no channel, congestion, network failure).
 */
struct dash_entity *dash_tenant_trunk(struct dash *d, int64_t tenant_id, const char *name);

/*
 * An Asterisk server of this node's ARI pool (platform-wide; every tenant's
 * wall shows its health). Its health is set with dash_server_health.
 */
struct dash_entity *dash_server(struct dash *d, const char *name);

/* Sets a server's health; a change snapshots at once. e NULL: no-op. */
void dash_server_health(struct dash *d, struct dash_entity *e, enum dash_health h);

/*
 * The entity of an IVR node's outcome in a flow: count DASH_HITS on it.
 * outcome "" (or NULL) counts the node's executions. NULL as above.
 */
struct dash_entity *dash_ivr_node(struct dash *d, int64_t tenant_id, int64_t flow_id,
                                  const char *node, const char *outcome);

/*
 * Outcomes the wall reads from IVR node entities besides the flow's own
 * events: DASH_IVR_END_PREFIX + an end reason ("end:hangup", "end:completed",
 * "end:error"...) counted once per execution on the node it ended in. An
 * execution that ends with "end:hangup" dropped off at that node.
 */
#define DASH_IVR_END_PREFIX "end:"

/*
 * A cache of IVR node entities for one thread (the caller's): a lookup is a
 * hash of (tenant, flow, node, outcome) and a string compare, no lock and no
 * allocation; a miss registers through dash_ivr_node once. Entities outlive
 * the cache, so a cached pointer never dangles. Not thread-safe: one cache
 * per thread. NULL on OOM (then dash_ivr_cached answers NULL: count nothing).
 */
struct dash_ivr_cache;
struct dash_ivr_cache *dash_ivr_cache_create(struct dash *d);
void dash_ivr_cache_destroy(struct dash_ivr_cache *c);

/* The entity as dash_ivr_node would answer it. c NULL: NULL. */
struct dash_entity *dash_ivr_cached(struct dash_ivr_cache *c, int64_t tenant_id, int64_t flow_id,
                                    const char *node, const char *outcome);

/*
 * A campaign's state and abandonment cap (basis points). A state change
 * makes the metrics thread snapshot at once.
 */
void dash_campaign_state(struct dash *d, struct dash_entity *e, enum dash_state st);
void dash_campaign_cap(struct dash_entity *e, int64_t cap_bp);

/* Asks for a snapshot now (coalesced). */
void dash_kick(struct dash *d);

/* Progress of an import job, sent to the tenant's WebSocket subscribers. */
struct dash_import {
    int64_t tenant_id;
    int64_t list_id;       /* 0 when unknown */
    const char *job_id;    /* the import job's id (a UUID, as the REST API names it; copied) */
    const char *upload_id; /* the client's Upload-Id, or NULL (copied) */
    const char *state;     /* "running", "completed", "failed" ... (copied) */
    int64_t rows_read;
    int64_t rows_imported;
    int64_t rows_rejected;
    int64_t rows_total; /* -1 when unknown */
    /*
     * rows_total is an estimate (from the bytes read so far) rather than the
     * exact count; ignored while rows_total is unknown. The message says
     * "rows_total_estimated": true until the importer knows the count.
     */
    bool rows_total_estimated;
};

/* Any thread. 0, ERR_INVAL, ERR_NOMEM, ERR_SHUTDOWN (not mounted or stopping). */
int dash_import_progress(struct dash *d, const struct dash_import *imp);

/* ---------------------------------------------------------------------- */
/* Readers (httpd thread)                                                  */
/* ---------------------------------------------------------------------- */

/*
 * The cluster-wide statistics of a campaign as the stats route and the
 * WebSocket send them (new reference), or NULL when no node has counted
 * anything for it or d is NULL (callers answer zeros: dash_campaign_json_empty).
 */
json_t *dash_view_campaign(struct dash *d, int64_t tenant_id, int64_t campaign_id);

/* The same object with every figure zero (new reference). */
json_t *dash_campaign_json_empty(int64_t tenant_id, int64_t campaign_id);

/* Name of a stat ("attempts") and of a state ("running"). */
const char *dash_stat_name(enum dash_stat s);
const char *dash_state_name(enum dash_state s);
enum dash_state dash_state_parse(const char *s);

#endif
