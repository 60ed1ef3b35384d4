/* SPDX-License-Identifier: MIT */
/*
 * dashboards internals: the registry, snapshots, the metrics thread and the
 * httpd-side view. Not for other modules (they use dashboards/dashboards.h).
 */
#ifndef DASHBOARDS_DASH_INT_H
#define DASHBOARDS_DASH_INT_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mpsc.h"
#include "dashboards/dashboards.h"

struct db_pool;
struct db_conn;
struct kv_conn;
struct kv_sub;
struct httpd_ws;

enum { DASH_HIST = 61, DASH_NODE_MAX = 64, DASH_PEERS_MAX = 32 };

/* Figures also kept as increments over the last minute (trunk rates, alarms). */
enum { DASH_W_ATTEMPTS, DASH_W_ANSWERED, DASH_W_ERRORS, DASH_W_ENDED, DASH_W_COUNT_ };

/* A trunk is in alarm when, over the last minute, at least this many calls
 * ended and at least this share of them failed (or a server is not up). */
#define DASH_TRUNK_ERR_MIN  5
#define DASH_TRUNK_ERR_RATE 0.2

/* One entity as read at a snapshot. */
struct dash_snap_entry {
    enum dash_kind kind;
    int64_t tenant_id;
    int64_t id;
    char name[64];
    char outcome[32];
    int state;      /* enum dash_state */
    int64_t cap_bp; /* abandonment cap, basis points */
    int64_t v[DASH_STAT_COUNT_];
    double cps_1s; /* attempts per second over the last tick */
    double cps_1m; /* attempts per second over the last minute (or since registration) */
    int64_t w1m[DASH_W_COUNT_]; /* increments over the same minute window */
};

/* An immutable reading of one node's registry. */
struct dash_snap {
    char node[DASH_NODE_MAX];
    int64_t taken_us; /* wall clock */
    uint64_t seq;
    int64_t seen_mono_us; /* httpd side: when it arrived (peers expire) */
    size_t n;
    struct dash_snap_entry e[];
};

/* Per-entity history on the metrics thread: attempts at the last readings. */
struct dash_hist {
    int64_t attempts[DASH_HIST];
    int64_t w[DASH_W_COUNT_ - 1][DASH_HIST]; /* answered, errors, ended */
    int64_t at_us[DASH_HIST];
    unsigned head; /* next slot to write */
    unsigned n;    /* readings held (<= DASH_HIST) */
};

/* The httpd-side state: newest local snapshot, peers, WebSocket sessions. */
struct dash_view {
    struct dash_snap *local;
    struct dash_snap *peers[DASH_PEERS_MAX];
    json_t *last_campaigns; /* "tenant:campaign" -> last sent object (deltas) */
    json_t *last_tenants;   /* "tenant" -> {trunks, servers, flows, compliance} last sent */
    struct dash_live *sessions;
    size_t n_sessions;
    uint64_t next_ticket; /* session ids for late authentication answers */
    ev_timer heartbeat;
    ev_timer auth_timer;
    bool timers_started;
};

struct dash {
    /* Configuration (strings owned). */
    char *node_id;
    size_t cap;
    int64_t tick_ms, heartbeat_ms, auth_timeout_ms, peer_ttl_ms, retention_s, ws_max_queue;
    int max_subs;
    char *metrics_token, *db_conninfo, *redis_host, *redis_socket, *redis_password;
    int redis_port;

    /* Registry. */
    pthread_mutex_t lock;
    struct dash_entity **ents; /* cap slots; [0, n) published */
    _Atomic size_t n;
    bool full_logged;

    /* Metrics thread. */
    pthread_t thread;
    _Atomic int thread_running;
    struct ev_loop *loop;
    ev_timer tick;
    ev_async wake;
    _Atomic int kicked;
    _Atomic int stopping;
    struct dash_hist *hist;
    int64_t (*rolled)[DASH_STAT_COUNT_]; /* counter values at the last rollup */
    int64_t rollup_minute;               /* epoch minute of the last rollup */
    bool rollup_busy;
    struct db_pool *db;
    struct db_conn *pinned;
    struct kv_conn *kv;
    struct kv_sub *sub;
    uint64_t seq;

    /* httpd side. */
    struct httpd *h;
    dash_auth_cb *auth;
    dash_health_cb *health;
    void *cb_arg;
    dash_platform_cb *platform;
    void *platform_arg;
    struct dash_view view;
};

/* Peers' figures are outside input: sums of them saturate instead of overflowing. */
static inline int64_t dash__add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

/* dash_reg.c */
extern const char *const dash__stat_names[DASH_STAT_COUNT_];
extern const char *const dash__stat_help[DASH_STAT_COUNT_];
extern const bool dash__stat_gauge[DASH_STAT_COUNT_];

/* dash_snap.c: pure functions (unit tested, fuzzed). */

/* Reads every entity of d into a new snapshot; updates hist. NULL on OOM. */
struct dash_snap *dash__snap_take(struct dash *d, struct dash_hist *hist, int64_t now_us);

/* A snapshot as the compact JSON published on Redis (new reference). */
json_t *dash__snap_to_json(const struct dash_snap *s);

/*
 * Parses a peer's snapshot. Returns a new snapshot, or NULL with a message
 * naming the field in err (at least 128 bytes).
 */
struct dash_snap *dash__snap_parse(const char *data, size_t len, char *err, size_t errlen);

/*
 * Cluster statistics of one campaign from n snapshots (NULL entries skipped):
 * a new object, or NULL when none of them has the campaign.
 */
json_t *dash__campaign_json(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id,
                            int64_t campaign_id);

/*
 * The tenant's wall besides its campaigns, each a new JSON array:
 *   trunks:  the tenant's traffic per trunk summed over the nodes, with the
 *            minute's answer and error rates and an alarm state that also
 *            reflects every Asterisk server's health;
 *   servers: every node's Asterisk servers and their health (platform-wide);
 *   flows:   per IVR flow of the tenant, executions, outcomes, per-node hits
 *            and the nodes callers hang up in most.
 * Formats in docs/dashboards.md section 3.
 */
json_t *dash__trunks_json(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id);
json_t *dash__servers_json(const struct dash_snap *const *snaps, size_t n);
json_t *dash__flows_json(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id);

/* The "compliance" object of the wall from the platform facts (new reference). */
json_t *dash__compliance_json(const struct dash_platform *p);

/* The ids of every campaign of tenant_id in the snapshots (new JSON array of integers). */
json_t *dash__tenant_campaigns(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id);

/* A growable text buffer. */
struct dash_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

void dash__buf_printf(struct dash_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dash__buf_free(struct dash_buf *b);

/* Appends v as a Prometheus label value (backslash, quote, newline escaped). */
void dash__prom_escape(struct dash_buf *b, const char *v);

/*
 * Renders the snapshots (one per node) and the process counters
 * (core/counter, when with_counters) in Prometheus text format 0.0.4.
 */
void dash__prom_render(struct dash_buf *b, const struct dash_snap *const *snaps, size_t n,
                       bool with_counters);

/* dash_thread.c */
int dash__thread_start(struct dash *d);
void dash__thread_stop(struct dash *d);

/* dash_live.c (httpd thread) */
void dash__view_receive(struct dash *d, struct dash_snap *s, bool local);
void dash__view_free(struct dash *d);

/*
 * The "import" message of /ws/v1/live for imp (new reference; NULL on OOM):
 * rows_total null while unknown, rows_total_estimated true only with a number
 * that is an estimate. Any thread (pure).
 */
json_t *dash__import_json(const struct dash_import *imp);

#endif
