/* SPDX-License-Identifier: MIT */
/*
 * dashboards/dash_live: the httpd-thread side -- the newest snapshots (this
 * node's and its peers'), GET /metrics, and the /ws/v1/live WebSocket.
 *
 * Everything here runs on the httpd thread; snapshots arrive from the
 * metrics thread through httpd_post() and are owned here from then on.
 * On each local snapshot the cluster figures of every campaign are computed
 * once, compared with the figures last sent, and each authenticated session
 * gets one "delta" message with the changed campaigns it subscribed to.
 * Output is bounded by httpd's per-session queue limit: a client that does
 * not read is dropped as a slow consumer (core/httpd), never buffered
 * without limit. docs/dashboards.md describes the message format.
 *
 * An API key is a database look-up: the upgrade (or the auth message) is
 * accepted, the session waits, and hello (or an error and close 4401) follows
 * when the answer arrives; what the client sent meanwhile, up to
 * LIVE_HELD_MAX messages, is handled after hello.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/httpd.h"
#include "core/log.h"
#include "dashboards/dash_int.h"

static const char live_pattern[] = "/ws/v1/live";

/* Messages a client may send before its API key is verified (then refused). */
#define LIVE_HELD_MAX 8

/* One WebSocket session. */
struct dash_live {
    struct dash_live *next, *prev;
    struct httpd_ws *ws;
    struct dash *d;
    uint64_t ticket; /* names the session to a late authentication answer */
    bool authed;
    bool auth_pending;           /* an API key is being looked up */
    json_t *held[LIVE_HELD_MAX]; /* messages sent while it is */
    int nheld;
    struct dash_principal p;
    int64_t opened_us; /* monotonic */
    int64_t last_hb_us;
    bool tenant_all;
    int nsubs;
    int64_t subs[]; /* campaign ids, max_subs of them */
};

/* --------------------------------------------------------------- views */

/* This node's and the live peers' snapshots; returns how many. */
static size_t snaps(struct dash *d, const struct dash_snap **out)
{
    size_t n = 0;
    int64_t now = clock_mono_us();

    if (d->view.local != NULL) {
        out[n++] = d->view.local;
    }
    for (int i = 0; i < DASH_PEERS_MAX; i++) {
        struct dash_snap *p = d->view.peers[i];
        if (p != NULL && now - p->seen_mono_us <= d->peer_ttl_ms * CLOCK_US_PER_MS) {
            out[n++] = p;
        }
    }
    return n;
}

json_t *dash_view_campaign(struct dash *d, int64_t tenant_id, int64_t campaign_id)
{
    const struct dash_snap *s[DASH_PEERS_MAX + 1];
    size_t n;

    if (d == NULL) {
        return NULL;
    }
    n = snaps(d, s);
    return dash__campaign_json(s, n, tenant_id, campaign_id);
}

static int send_json(struct dash_live *l, json_t *msg)
{
    char *text = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
    int rc = ERR_NOMEM;

    json_decref(msg);
    if (text != NULL) {
        rc = httpd_ws_send(l->ws, text, strlen(text), false);
        free(text);
    }
    return rc;
}

static void send_error(struct dash_live *l, const char *code, const char *message, json_t *ref)
{
    json_t *m = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message);
    if (m != NULL && ref != NULL) {
        json_object_set(m, "ref", ref);
    }
    send_json(l, m);
}

static bool subscribed(const struct dash_live *l, int64_t tenant, int64_t campaign)
{
    if (!l->authed || l->p.tenant_id != tenant) {
        return false;
    }
    if (l->tenant_all) {
        return true;
    }
    for (int i = 0; i < l->nsubs; i++) {
        if (l->subs[i] == campaign) {
            return true;
        }
    }
    return false;
}

/* Fields of cur that differ from prev (updated_at aside); campaign_id always. */
static json_t *diff(json_t *prev, json_t *cur)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    bool any = false;

    json_object_foreach (cur, k, v) {
        if (strcmp(k, "updated_at") == 0) {
            continue;
        }
        if (prev == NULL || !json_equal(json_object_get(prev, k), v)) {
            json_object_set(out, k, v);
            any = true;
        }
    }
    if (!any) {
        json_decref(out);
        return NULL;
    }
    json_object_set(out, "campaign_id", json_object_get(cur, "campaign_id"));
    return out;
}

/* The tenant's wall besides campaigns: {trunks, servers, flows, compliance} now. */
static json_t *tenant_wall(struct dash *d, const struct dash_snap *const *s, size_t n,
                           int64_t tenant)
{
    struct dash_platform pf;

    memset(&pf, 0, sizeof(pf));
    pf.dnc_state = DASH_DNC_DISABLED;
    pf.dnc_age_s = -1;
    if (d->platform != NULL) {
        d->platform(&pf, d->platform_arg);
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "trunks", dash__trunks_json(s, n, tenant), "servers",
                     dash__servers_json(s, n), "flows", dash__flows_json(s, n, tenant),
                     "compliance", dash__compliance_json(&pf));
}

/* Items of cur that are new or differ from prev's item with the same key. */
static json_t *changed_items(json_t *prev, json_t *cur, const char *key)
{
    json_t *out = json_array();
    size_t i, j;
    json_t *x, *y;

    json_array_foreach (cur, i, x) {
        json_t *old = NULL;
        json_array_foreach (prev, j, y) {
            if (json_equal(json_object_get(y, key), json_object_get(x, key))) {
                old = y;
                break;
            }
        }
        if (old == NULL || !json_equal(old, x)) {
            json_array_append(out, x);
        }
    }
    return out;
}

/* The parts of a tenant's wall that changed since prev (NULL: none). */
static json_t *tenant_delta(json_t *prev, json_t *cur)
{
    static const char *const keyed[][2] = { { "trunks", "trunk" }, { "flows", "flow_id" } };
    static const char *const whole[] = { "servers", "compliance" };
    json_t *out = json_object();

    for (size_t k = 0; k < sizeof(keyed) / sizeof(keyed[0]); k++) {
        json_t *items = changed_items(json_object_get(prev, keyed[k][0]),
                                      json_object_get(cur, keyed[k][0]), keyed[k][1]);
        if (json_array_size(items) > 0) {
            json_object_set_new(out, keyed[k][0], items);
        } else {
            json_decref(items);
        }
    }
    for (size_t k = 0; k < sizeof(whole) / sizeof(whole[0]); k++) {
        json_t *v = json_object_get(cur, whole[k]);
        if (prev == NULL || !json_equal(json_object_get(prev, whole[k]), v)) {
            json_object_set(out, whole[k], v);
        }
    }
    if (json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* "tenant" -> the changes of its wall, for every tenant a session watches whole. */
static json_t *tenant_deltas(struct dash *d, const struct dash_snap *const *s, size_t n)
{
    json_t *out = json_object();
    char key[24];

    if (d->view.last_tenants == NULL) {
        d->view.last_tenants = json_object();
    }
    for (struct dash_live *l = d->view.sessions; l != NULL; l = l->next) {
        json_t *cur, *delta;
        if (!l->authed || !l->tenant_all) {
            continue;
        }
        snprintf(key, sizeof(key), "%lld", (long long)l->p.tenant_id);
        if (json_object_get(out, key) != NULL) {
            continue;
        }
        cur = tenant_wall(d, s, n, l->p.tenant_id);
        if (cur == NULL) {
            continue;
        }
        delta = tenant_delta(json_object_get(d->view.last_tenants, key), cur);
        json_object_set_new(out, key, delta != NULL ? delta : json_null());
        json_object_set_new(d->view.last_tenants, key, cur);
    }
    return out;
}

static void broadcast(struct dash *d)
{
    const struct dash_snap *s[DASH_PEERS_MAX + 1];
    size_t n = snaps(d, s);
    json_t *changed = json_array(); /* [tenant, delta] pairs */
    json_t *seen = json_object();
    json_t *walls;
    char key[48];
    size_t i;
    json_t *x;

    if (d->view.last_campaigns == NULL) {
        d->view.last_campaigns = json_object();
    }
    for (size_t a = 0; a < n; a++) {
        for (size_t j = 0; j < s[a]->n; j++) {
            const struct dash_snap_entry *e = &s[a]->e[j];
            json_t *cur, *delta;
            if (e->kind != DASH_KIND_CAMPAIGN) {
                continue;
            }
            snprintf(key, sizeof(key), "%lld:%lld", (long long)e->tenant_id, (long long)e->id);
            if (json_object_get(seen, key) != NULL) {
                continue;
            }
            json_object_set_new(seen, key, json_true());
            cur = dash__campaign_json(s, n, e->tenant_id, e->id);
            if (cur == NULL) {
                continue;
            }
            delta = diff(json_object_get(d->view.last_campaigns, key), cur);
            if (delta != NULL) {
                json_array_append_new(changed, json_pack("[I,o]", (json_int_t)e->tenant_id, delta));
            }
            json_object_set_new(d->view.last_campaigns, key, cur);
        }
    }
    json_decref(seen);
    walls = tenant_deltas(d, s, n);
    for (struct dash_live *l = d->view.sessions, *next; l != NULL; l = next) {
        json_t *mine = json_array();
        json_t *wall = NULL, *msg;
        next = l->next; /* a send may drop l (slow consumer) on a later iteration only */
        json_array_foreach (changed, i, x) {
            json_t *delta = json_array_get(x, 1);
            int64_t tenant = json_integer_value(json_array_get(x, 0));
            int64_t id = json_integer_value(json_object_get(delta, "campaign_id"));
            if (subscribed(l, tenant, id)) {
                json_array_append(mine, delta);
            }
        }
        if (l->authed && l->tenant_all) {
            snprintf(key, sizeof(key), "%lld", (long long)l->p.tenant_id);
            wall = json_object_get(walls, key);
            wall = json_is_object(wall) ? wall : NULL;
        }
        if (json_array_size(mine) == 0 && wall == NULL) {
            json_decref(mine);
            continue;
        }
        msg = json_pack("{s:s,s:I,s:I,s:o}", "type", "delta", "seq",
                        (json_int_t)(d->view.local != NULL ? d->view.local->seq : 0), "ts",
                        (json_int_t)(d->view.local != NULL ? d->view.local->taken_us / 1000 : 0),
                        "campaigns", mine);
        if (msg != NULL && wall != NULL) {
            json_object_update(msg, wall);
        }
        send_json(l, msg);
    }
    json_decref(walls);
    json_decref(changed);
}

void dash__view_receive(struct dash *d, struct dash_snap *s, bool local)
{
    int free_slot = -1, oldest = -1;

    s->seen_mono_us = clock_mono_us();
    if (local) {
        free(d->view.local);
        d->view.local = s;
        broadcast(d);
        return;
    }
    for (int i = 0; i < DASH_PEERS_MAX; i++) {
        struct dash_snap *p = d->view.peers[i];
        if (p != NULL && strcmp(p->node, s->node) == 0) {
            free(p);
            d->view.peers[i] = s;
            return;
        }
        if (p == NULL && free_slot < 0) {
            free_slot = i;
        }
        if (p != NULL && (oldest < 0 || p->seen_mono_us < d->view.peers[oldest]->seen_mono_us)) {
            oldest = i;
        }
    }
    if (free_slot < 0) {
        free_slot = oldest;
        free(d->view.peers[free_slot]);
    }
    d->view.peers[free_slot] = s;
}

void dash__view_free(struct dash *d)
{
    free(d->view.local);
    d->view.local = NULL;
    for (int i = 0; i < DASH_PEERS_MAX; i++) {
        free(d->view.peers[i]);
        d->view.peers[i] = NULL;
    }
    json_decref(d->view.last_campaigns);
    d->view.last_campaigns = NULL;
    json_decref(d->view.last_tenants);
    d->view.last_tenants = NULL;
}

/* ------------------------------------------------------------ /metrics */

static bool metrics_allowed(struct dash *d, struct httpd_req *req)
{
    const char *authz;
    size_t tl;

    if (d->metrics_token == NULL) {
        return true;
    }
    authz = httpd_req_header(req, "Authorization");
    tl = strlen(d->metrics_token);
    return authz != NULL && strncmp(authz, "Bearer ", 7) == 0 && strlen(authz + 7) == tl &&
           sodium_memcmp(authz + 7, d->metrics_token, tl) == 0;
}

static int metrics_route(struct httpd_req *req, void *arg)
{
    struct dash *d = arg;
    const struct dash_snap *s[DASH_PEERS_MAX + 1];
    const char *scope = httpd_req_query(req, "scope");
    struct dash_buf b = { 0 };
    size_t n;
    int rc;

    if (!metrics_allowed(d, req)) {
        return httpd_error(req, HTTPD_STATUS_UNAUTHORIZED, "unauthenticated",
                           "a valid bearer token is required", "Authorization");
    }
    if (scope != NULL && strcmp(scope, "node") != 0 && strcmp(scope, "cluster") != 0) {
        return httpd_error(req, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                           "scope must be node or cluster", "?scope");
    }
    n = snaps(d, s);
    if (scope == NULL || strcmp(scope, "node") == 0) {
        n = d->view.local != NULL ? 1 : 0;
    }
    dash__prom_render(&b, s, n, true);
    if (b.oom) {
        dash__buf_free(&b);
        return ERR_NOMEM;
    }
    rc = httpd_respond_raw(req, HTTPD_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
                           b.p != NULL ? b.p : "", b.len, NULL, 0);
    dash__buf_free(&b);
    return rc == 0 || rc == ERR_CLOSED ? HTTPD_DONE : rc;
}

/* ------------------------------------------------------------ sessions */

static void health_json(struct dash *d, json_t *o)
{
    bool pg = true, redis = true, ari = true;

    if (d->health != NULL) {
        d->health(&pg, &redis, &ari, d->cb_arg);
    }
    json_object_set_new(o, "health",
                        json_pack("{s:s,s:s,s:s}", "postgresql", pg ? "up" : "down", "redis",
                                  redis ? "up" : "down", "ari", ari ? "up" : "down"));
}

static void housekeeping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dash *d = w->data;
    int64_t now = clock_mono_us(), wall = clock_wall_us();
    (void)loop;
    (void)revents;

    for (struct dash_live *l = d->view.sessions, *next; l != NULL; l = next) {
        next = l->next;
        if (!l->authed) {
            if (now - l->opened_us >= d->auth_timeout_ms * CLOCK_US_PER_MS) {
                send_error(l, "unauthenticated", "no credentials in time", NULL);
                httpd_ws_close(l->ws, 4401, "unauthenticated");
            }
            continue;
        }
        if (l->p.expires_us > 0 && wall >= l->p.expires_us) {
            send_error(l, "credential_expired", "the credential expired; connect again", NULL);
            httpd_ws_close(l->ws, 4401, "credential expired");
            continue;
        }
        if (now - l->last_hb_us >= d->heartbeat_ms * CLOCK_US_PER_MS) {
            json_t *m =
                json_pack("{s:s,s:I}", "type", "heartbeat", "ts", (json_int_t)(wall / 1000));
            l->last_hb_us = now;
            health_json(d, m);
            send_json(l, m);
        }
    }
}

static void authenticated(struct dash_live *l, const struct dash_principal *p)
{
    struct dash *d = l->d;
    json_t *m;

    l->authed = true;
    l->p = *p;
    l->last_hb_us = clock_mono_us();
    m = json_pack("{s:s,s:s,s:I,s:I}", "type", "hello", "node", d->node_id, "tenant_id",
                  (json_int_t)p->tenant_id, "heartbeat_ms", (json_int_t)d->heartbeat_ms);
    health_json(d, m);
    send_json(l, m);
}

/* Credentials from the upgrade request: ?access_token=, Bearer, X-API-Key. */
static int open_cb(struct httpd_ws *ws, struct httpd_req *req, void *arg)
{
    struct dash *d = arg;
    struct dash_live *l;
    const char *tok = httpd_req_query(req, "access_token");
    const char *authz = httpd_req_header(req, "Authorization");
    const char *key = httpd_req_header(req, "X-API-Key");
    struct dash_principal p;
    bool api_key = false;

    if (tok == NULL && authz != NULL && strncmp(authz, "Bearer ", 7) == 0) {
        tok = authz + 7;
    }
    if (tok == NULL && key != NULL) {
        tok = key;
        api_key = true;
    }
    uint64_t ticket = ++d->view.next_ticket;
    int rc = 0;

    memset(&p, 0, sizeof(p));
    if (tok != NULL) {
        rc = d->auth(tok, api_key, ticket, &p, d->cb_arg);
    }
    if (rc != 0 && rc != ERR_AGAIN) {
        httpd_error(req, HTTPD_STATUS_UNAUTHORIZED, api_key ? "invalid_api_key" : "invalid_token",
                    "the credential was not accepted", NULL);
        return HTTPD_STATUS_UNAUTHORIZED;
    }
    l = calloc(1, sizeof(*l) + (size_t)d->max_subs * sizeof(l->subs[0]));
    if (l == NULL) {
        return ERR_NOMEM; /* a late answer finds no session and is dropped */
    }
    l->ticket = ticket;
    l->auth_pending = rc == ERR_AGAIN;
    l->ws = ws;
    l->d = d;
    l->opened_us = clock_mono_us();
    l->next = d->view.sessions;
    if (l->next != NULL) {
        l->next->prev = l;
    }
    d->view.sessions = l;
    d->view.n_sessions++;
    httpd_ws_set_data(ws, l);
    if (!d->view.timers_started) {
        ev_timer_init(&d->view.heartbeat, housekeeping_cb, 0.25, 0.25);
        d->view.heartbeat.data = d;
        ev_timer_start(httpd_loop(d->h), &d->view.heartbeat);
        d->view.timers_started = true;
    }
    if (tok != NULL && rc == 0) {
        authenticated(l, &p);
    }
    return 0;
}

static void close_cb(struct httpd_ws *ws, int reason, void *arg)
{
    struct dash *d = arg;
    struct dash_live *l = httpd_ws_data(ws);
    (void)reason;

    if (l == NULL) {
        return;
    }
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        d->view.sessions = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }
    d->view.n_sessions--;
    for (int i = 0; i < l->nheld; i++) {
        json_decref(l->held[i]);
    }
    free(l);
    if (d->view.n_sessions == 0 && d->view.timers_started) {
        ev_timer_stop(httpd_loop(d->h), &d->view.heartbeat);
        d->view.timers_started = false;
    }
}

static void snapshot_of(struct dash_live *l, json_t *ids, json_t *ref, bool whole)
{
    json_t *arr = json_array();
    size_t i;
    json_t *x;

    json_array_foreach (ids, i, x) {
        json_t *c = dash_view_campaign(l->d, l->p.tenant_id, json_integer_value(x));
        if (c != NULL) {
            json_array_append_new(arr, c);
        }
    }
    json_t *m = json_pack("{s:s,s:o}", "type", "snapshot", "campaigns", arr);
    if (m != NULL && ref != NULL) {
        json_object_set(m, "ref", ref);
    }
    if (m != NULL && whole) {
        const struct dash_snap *s[DASH_PEERS_MAX + 1];
        size_t n = snaps(l->d, s);
        json_t *wall = tenant_wall(l->d, s, n, l->p.tenant_id);
        if (wall != NULL) {
            json_object_update(m, wall);
            json_decref(wall);
        }
    }
    send_json(l, m);
}

static void subscribe(struct dash_live *l, json_t *msg, bool on)
{
    struct dash *d = l->d;
    json_t *campaign = json_object_get(msg, "campaign");
    json_t *tenant = json_object_get(msg, "tenant");
    json_t *ref = json_object_get(msg, "ref");
    const struct dash_snap *s[DASH_PEERS_MAX + 1];
    size_t n = snaps(d, s);

    if (json_is_true(tenant) && campaign == NULL) {
        l->tenant_all = on;
        send_json(l, json_pack("{s:s,s:b,s:O*}", "type", on ? "subscribed" : "unsubscribed",
                               "tenant", 1, "ref", ref));
        if (on) {
            json_t *ids = dash__tenant_campaigns(s, n, l->p.tenant_id);
            snapshot_of(l, ids, ref, true);
            json_decref(ids);
        }
        return;
    }
    if (!json_is_integer(campaign) || json_integer_value(campaign) <= 0 || tenant != NULL) {
        send_error(l, "invalid_message", "subscribe needs \"campaign\": <id> or \"tenant\": true",
                   ref);
        return;
    }
    int64_t id = json_integer_value(campaign);
    int at = -1;
    for (int i = 0; i < l->nsubs; i++) {
        at = l->subs[i] == id ? i : at;
    }
    if (!on) {
        if (at >= 0) {
            l->subs[at] = l->subs[--l->nsubs];
        }
        send_json(l, json_pack("{s:s,s:I,s:O*}", "type", "unsubscribed", "campaign", (json_int_t)id,
                               "ref", ref));
        return;
    }
    /* Another tenant's campaign and an unknown one get the same answer (no oracle). */
    json_t *c = dash__campaign_json(s, n, l->p.tenant_id, id);
    if (c == NULL) {
        send_error(l, "not_found", "no such campaign with live figures for this tenant", ref);
        return;
    }
    json_decref(c);
    if (at < 0) {
        if (l->nsubs == d->max_subs) {
            send_error(l, "too_many_subscriptions", "unsubscribe from something first", ref);
            return;
        }
        l->subs[l->nsubs++] = id;
    }
    send_json(l, json_pack("{s:s,s:I,s:O*}", "type", "subscribed", "campaign", (json_int_t)id,
                           "ref", ref));
    json_t *ids = json_pack("[I]", (json_int_t)id);
    snapshot_of(l, ids, ref, false);
    json_decref(ids);
}

static void handle_message(struct dash_live *l, json_t *msg)
{
    struct dash *d = l->d;
    const char *type = json_string_value(json_object_get(msg, "type"));

    if (type == NULL) {
        send_error(l, "invalid_message", "messages are JSON objects with a \"type\"", NULL);
    } else if (strcmp(type, "auth") == 0) {
        const char *tok = json_string_value(json_object_get(msg, "token"));
        const char *key = json_string_value(json_object_get(msg, "api_key"));
        struct dash_principal p;
        int rc = ERR_AUTH;
        memset(&p, 0, sizeof(p));
        if (l->authed || l->auth_pending) {
            send_error(l, "invalid_message", "already authenticated", NULL);
            return;
        }
        if ((tok == NULL) != (key == NULL)) {
            rc = d->auth(tok != NULL ? tok : key, key != NULL, l->ticket, &p, d->cb_arg);
        }
        if (rc == ERR_AGAIN) {
            l->auth_pending = true;
        } else if (rc != 0) {
            send_error(l, key != NULL ? "invalid_api_key" : "invalid_token",
                       "the credential was not accepted", NULL);
            httpd_ws_close(l->ws, 4401, "unauthenticated");
        } else {
            authenticated(l, &p);
        }
    } else if (!l->authed) {
        send_error(l, "unauthenticated", "authenticate first", NULL);
        httpd_ws_close(l->ws, 4401, "unauthenticated");
    } else if (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0) {
        subscribe(l, msg, strcmp(type, "subscribe") == 0);
    } else if (strcmp(type, "ping") == 0) {
        send_json(l, json_pack("{s:s,s:O*}", "type", "pong", "ref", json_object_get(msg, "ref")));
    } else {
        send_error(l, "invalid_message", "unknown message type", NULL);
    }
}

static void message_cb(struct httpd_ws *ws, const void *data, size_t len, bool binary, void *arg)
{
    struct dash_live *l = httpd_ws_data(ws);
    json_error_t je;
    json_t *msg;
    (void)arg;

    if (l == NULL) {
        return;
    }
    msg = binary ? NULL : json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (l->auth_pending && msg != NULL) {
        if (l->nheld == LIVE_HELD_MAX) {
            send_error(l, "invalid_message", "wait for hello: the API key is being checked", NULL);
            json_decref(msg);
            return;
        }
        l->held[l->nheld++] = msg;
        return;
    }
    handle_message(l, msg);
    json_decref(msg);
}

void dash_auth_complete(struct dash *d, uint64_t ticket, int rc, const struct dash_principal *p)
{
    struct dash_live *l = d != NULL ? d->view.sessions : NULL;

    while (l != NULL && l->ticket != ticket) {
        l = l->next;
    }
    if (l == NULL || !l->auth_pending) {
        return; /* closed meanwhile */
    }
    l->auth_pending = false;
    if (rc != 0 || p == NULL) {
        if (rc != ERR_AUTH) {
            LOG_WARN(DASH, "event=live_key_check_failed err=\"%s\"", err_str(rc));
        }
        send_error(l, "invalid_api_key",
                   rc == ERR_AUTH ? "the credential was not accepted"
                                  : "the credential could not be checked; try again",
                   NULL);
        httpd_ws_close(l->ws, 4401, "unauthenticated");
        return;
    }
    authenticated(l, p);
    /* What the client sent while it waited, in order; a close in between
     * (an error) leaves l valid until close_cb, which frees what is left. */
    for (int i = 0; i < l->nheld; i++) {
        json_t *m = l->held[i];
        l->held[i] = NULL;
        handle_message(l, m);
        json_decref(m);
    }
    l->nheld = 0;
}

/* ------------------------------------------------------------ imports */

struct import_msg {
    struct dash *d;
    int64_t tenant_id;
    json_t *body;
};

static void import_deliver(struct httpd *h, void *arg)
{
    struct import_msg *m = arg;
    (void)h;
    for (struct dash_live *l = m->d->view.sessions; l != NULL; l = l->next) {
        if (l->authed && l->tenant_all && l->p.tenant_id == m->tenant_id) {
            send_json(l, json_incref(m->body));
        }
    }
    json_decref(m->body);
    free(m);
}

json_t *dash__import_json(const struct dash_import *imp)
{
    const bool known = imp->rows_total >= 0;

    return json_pack(
        "{s:s,s:s,s:o,s:o,s:s,s:I,s:I,s:I,s:o,s:b}", "type", "import", "job_id", imp->job_id,
        "upload_id", imp->upload_id != NULL ? json_string(imp->upload_id) : json_null(), "list_id",
        imp->list_id > 0 ? json_integer(imp->list_id) : json_null(), "state", imp->state,
        "rows_read", (json_int_t)imp->rows_read, "rows_imported", (json_int_t)imp->rows_imported,
        "rows_rejected", (json_int_t)imp->rows_rejected, "rows_total",
        known ? json_integer(imp->rows_total) : json_null(), "rows_total_estimated",
        known && imp->rows_total_estimated);
}

int dash_import_progress(struct dash *d, const struct dash_import *imp)
{
    struct import_msg *m;
    int rc;

    if (d == NULL || imp == NULL || imp->tenant_id <= 0 || imp->job_id == NULL ||
        imp->job_id[0] == '\0' || imp->state == NULL) {
        return ERR_INVAL;
    }
    if (d->h == NULL) {
        return ERR_SHUTDOWN;
    }
    m = malloc(sizeof(*m));
    if (m == NULL) {
        return ERR_NOMEM;
    }
    m->d = d;
    m->tenant_id = imp->tenant_id;
    m->body = dash__import_json(imp);
    if (m->body == NULL) {
        free(m);
        return ERR_NOMEM;
    }
    rc = httpd_post(d->h, import_deliver, m);
    if (rc != 0) {
        json_decref(m->body);
        free(m);
    }
    return rc;
}

/* ------------------------------------------------------------ mounting */

int dash_mount(struct dash *d, struct httpd *h, dash_auth_cb *auth, dash_health_cb *health,
               void *arg)
{
    struct httpd_route r = { .methods = HTTPD_GET,
                             .pattern = "/metrics",
                             .handler = metrics_route };
    struct httpd_ws_endpoint ep = {
        .pattern = live_pattern,
        .on_open = open_cb,
        .on_message = message_cb,
        .on_close = close_cb,
    };
    int rc;

    if (d == NULL || h == NULL || auth == NULL) {
        return ERR_INVAL;
    }
    r.arg = d;
    ep.arg = d;
    ep.max_queue_bytes = d->ws_max_queue;
    d->h = h;
    d->auth = auth;
    d->health = health;
    d->cb_arg = arg;
    rc = httpd_route_add(h, &r);
    if (rc == 0) {
        rc = httpd_ws_add(h, &ep);
    }
    return rc;
}
