/* SPDX-License-Identifier: MIT */
/*
 * ws: the events WebSocket of one ARI client, its reconnects and the
 * reconciliation that follows each connect.
 *
 * Transport. A libwebsockets client context per client, created on the
 * caller's libev loop (LWS_SERVER_OPTION_LIBEV with a foreign loop, as
 * core/httpd runs its server), connects to
 * /ari/events?app=<apps>[&subscribeAll=true] with Basic auth in the upgrade
 * request (the api_key query parameter would put the password in URLs and
 * access logs) and no subprotocol (Asterisk accepts both). Each text
 * message, reassembled from its fragments, is parsed by ari_event_parse_ex()
 * into the client's event arena, handed to on_event, and the arena is reset.
 * A frame that does not parse is counted and logged (rate-limited); the
 * connection stays.
 *
 * Keep-alive. Every ping_interval_ms a ping is written; two pings without a
 * pong mean the peer is gone (a half-open TCP connection after a network
 * failure), and the connection is dropped.
 *
 * Reconnect. Any loss (refused, upgrade answered 401/503, closed, dropped)
 * schedules a new attempt after min(reconnect_max, reconnect_min * 2^n)
 * with "equal jitter" (half fixed, half random), n counting attempts since
 * the last success, so a fleet of dialers does not reconnect in lockstep
 * after an Asterisk restart. The app registers again with the new socket;
 * explicit subscriptions (ari_app_subscribe) are re-issued.
 *
 * Reconciliation. Events published while no socket was open are lost, so
 * after every establishment the client asks the owner which channels it
 * believes live (known_channels), copies that list, sends GET /channels and
 * reports which of them are gone and which are up (on_reconcile). The
 * snapshot is taken when the request is sent: a channel originated after
 * that is not judged on a list that could not contain it. Channels the
 * client originated itself are checked the same way to release capacity.
 */
#include <libwebsockets.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ari/client_int.h"
#include "core/clock.h"
#include "core/err.h"

enum {
    WS_RX_BUF = 64 * 1024,  /* lws's receive buffer */
    PINGS_MISSED_MAX = 2,   /* unanswered pings before the socket is dropped */
    KNOWN_FIRST_MAX = 1024, /* first guess of the owner's channel count */
    MAX_BACKOFF_SHIFT = 20, /* 2^20 * min is far above any max */
};

/* ---------------------------------------------------------------------- */
/* Delivery                                                                */
/* ---------------------------------------------------------------------- */

void ari__ws_deliver(struct ari_client *c, const char *text, size_t len)
{
    struct ari_event *ev = NULL;
    struct ari_parse_error perr;
    int rc = ari_event_parse_ex(text, len, &c->ev_arena, &ev, &perr);

    if (rc != 0) {
        uint64_t n;
        c->st.parse_errors++;
        n = log_ratelimit_pass(&c->parse_rl, clock_mono_us());
        if (n > 0) {
            LOG_WARN(ARI, "event=bad_event server=%s err=%s suppressed=%llu msg=\"%s\"", c->name,
                     err_name(rc), (unsigned long long)(n - 1),
                     rc == ERR_PARSE ? perr.message : err_str(rc));
        }
        arena_reset(&c->ev_arena);
        return;
    }
    if (ev->type == ARI_EVENT_CHANNEL_DESTROYED && ev->channel_destroyed.channel != NULL) {
        ari__idset_del(&c->originated, ev->channel_destroyed.channel->id);
    }
    c->st.events++;
    if (c->h.on_event != NULL) {
        c->h.on_event(c, ev, c->h.arg);
    }
    arena_reset(&c->ev_arena);
}

/* ---------------------------------------------------------------------- */
/* Reconciliation                                                          */
/* ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_sorted(const char **live, size_t n, const char *id)
{
    return n > 0 && bsearch(&id, live, n, sizeof(*live), cmp_str) != NULL;
}

static void reconcile_report(struct ari_client *c, int status, const char **gone, size_t ng,
                             const char **up, size_t nu)
{
    c->st.reconciles++;
    LOG_INFO(ARI, "event=reconciled server=%s status=%d known=%zu gone=%zu up=%zu", c->name, status,
             c->n_rec_known, ng, nu);
    if (c->h.on_reconcile != NULL) {
        c->h.on_reconcile(c, status, gone, ng, up, nu, c->h.arg);
    }
}

static void reconcile_done(struct ari_client *c, struct ari_req *r, const struct ari_result *res)
{
    struct arena *a = &c->rec_arena;
    const char **live = NULL, **gone, **up;
    size_t nlive = 0, ng = 0, nu = 0;
    int rc;

    if (c->reconcile_req == r) {
        c->reconcile_req = NULL;
    }
    if (res->error != ARI_OK) {
        reconcile_report(c, res->error == ARI_E_CANCELED ? ERR_CANCELED : ERR_HTTP, NULL, 0, NULL,
                         0);
        return;
    }
    rc = ari__channel_ids_parse(res->body, res->body_len, a, &live, &nlive);
    gone = arena_alloc(a, (c->n_rec_known + 1) * sizeof(*gone));
    up = arena_alloc(a, (c->n_rec_known + 1) * sizeof(*up));
    if (rc == 0 && (gone == NULL || up == NULL)) {
        rc = ERR_NOMEM;
    }
    if (rc != 0) {
        LOG_WARN(ARI, "event=reconcile_bad_body server=%s err=%s", c->name, err_name(rc));
        reconcile_report(c, rc, NULL, 0, NULL, 0);
        return;
    }
    qsort(live, nlive, sizeof(*live), cmp_str);
    for (size_t i = 0; i < c->n_rec_orig; i++) {
        if (!in_sorted(live, nlive, c->rec_orig[i])) {
            ari__idset_del(&c->originated, c->rec_orig[i]);
        }
    }
    for (size_t i = 0; i < c->n_rec_known; i++) {
        if (in_sorted(live, nlive, c->rec_known[i])) {
            up[nu++] = c->rec_known[i];
        } else {
            gone[ng++] = c->rec_known[i];
        }
    }
    reconcile_report(c, 0, gone, ng, up, nu);
}

/* Copies the owner's ids (and our originated set) into rec_arena. */
static int reconcile_snapshot(struct ari_client *c)
{
    struct arena *a = &c->rec_arena;
    size_t max = KNOWN_FIRST_MAX, n = 0;
    const char **ids;

    arena_reset(a);
    c->n_rec_known = 0;
    c->n_rec_orig = 0;
    c->rec_known = NULL;
    c->rec_orig = NULL;
    if (c->h.known_channels != NULL) {
        ids = arena_alloc(a, max * sizeof(*ids));
        if (ids == NULL) {
            return ERR_NOMEM;
        }
        n = c->h.known_channels(c, ids, max, c->h.arg);
        if (n > max) {
            /* More than guessed: ask again with room for all of them. */
            max = n;
            ids = arena_alloc(a, max * sizeof(*ids));
            if (ids == NULL) {
                return ERR_NOMEM;
            }
            n = c->h.known_channels(c, ids, max, c->h.arg);
            if (n > max) {
                n = max;
            }
        }
        c->rec_known = arena_alloc(a, (n + 1) * sizeof(*c->rec_known));
        if (c->rec_known == NULL) {
            return ERR_NOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const char *copy = arena_strdup(a, ids[i] != NULL ? ids[i] : "");
            if (copy == NULL) {
                return ERR_NOMEM;
            }
            c->rec_known[c->n_rec_known++] = copy;
        }
    }
    c->rec_orig = arena_alloc(a, (c->originated.count + 1) * sizeof(*c->rec_orig));
    if (c->rec_orig == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < c->originated.cap; i++) {
        const char *k = c->originated.slots[i];
        if (k != NULL && ari__idset_has(&c->originated, k) && c->n_rec_orig < c->originated.count) {
            c->rec_orig[c->n_rec_orig++] = arena_strdup(a, k);
            if (c->rec_orig[c->n_rec_orig - 1] == NULL) {
                return ERR_NOMEM;
            }
        }
    }
    return 0;
}

int ari__reconcile_start(struct ari_client *c)
{
    int rc;

    if (c->reconcile_req != NULL) {
        ari_req_cancel(c->reconcile_req);
        c->reconcile_req = NULL;
    }
    rc = reconcile_snapshot(c);
    if (rc == 0) {
        rc = ari_channels_list(c, NULL, NULL, &c->reconcile_req);
    }
    if (rc == 0) {
        c->reconcile_req->internal = reconcile_done;
    } else {
        LOG_WARN(ARI, "event=reconcile_failed server=%s err=%s", c->name, err_name(rc));
        reconcile_report(c, rc, NULL, 0, NULL, 0);
    }
    return rc;
}

int ari_client_reconcile(struct ari_client *c)
{
    if (c == NULL) {
        return ERR_INVAL;
    }
    return ari__reconcile_start(c);
}

/* ---------------------------------------------------------------------- */
/* Connection                                                              */
/* ---------------------------------------------------------------------- */

static uint64_t rng_next(struct ari_client *c)
{
    /* splitmix64: jitter only, no security need. */
    uint64_t z = (c->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The next reconnect delay in ms: equal jitter over a capped exponential. */
int64_t ari__backoff_ms(struct ari_client *c)
{
    unsigned shift = c->attempt < MAX_BACKOFF_SHIFT ? c->attempt : MAX_BACKOFF_SHIFT;
    int64_t d = c->reconnect_min_ms << shift;
    int64_t half;

    if (d > c->reconnect_max_ms || d <= 0) {
        d = c->reconnect_max_ms;
    }
    half = d / 2;
    c->attempt++;
    return half + (int64_t)(rng_next(c) % (uint64_t)(d - half + 1));
}

static void schedule_reconnect(struct ari_client *c)
{
    int64_t ms;

    if (c->closing || ev_is_active(&c->reconnect_w)) {
        return;
    }
    ms = ari__backoff_ms(c);
    LOG_INFO(ARI, "event=ws_reconnect_scheduled server=%s attempt=%u delay_ms=%lld", c->name,
             c->attempt, (long long)ms);
    ev_timer_set(&c->reconnect_w, (double)ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->reconnect_w);
}

/* The socket is gone (or never came): idempotent. */
static void ws_lost(struct ari_client *c, const char *why)
{
    bool was_up = c->ws_connected;

    if (!c->ws_connected && !c->ws_connecting) {
        return;
    }
    c->ws_connected = false;
    c->ws_connecting = false;
    c->wsi = NULL;
    c->want_ping = false;
    ev_timer_stop(c->loop, &c->ping_w);
    if (c->closing) {
        return;
    }
    if (was_up) {
        c->st.disconnects++;
        LOG_WARN(ARI, "event=ws_lost server=%s msg=\"%s\"", c->name, why);
    } else {
        LOG_INFO(ARI, "event=ws_connect_failed server=%s msg=\"%s\"", c->name, why);
    }
    ari__health_notify(c);
    schedule_reconnect(c);
}

static void ws_established(struct ari_client *c)
{
    bool reconnect = c->st.connects > 0;

    c->ws_connecting = false;
    c->ws_connected = true;
    c->attempt = 0;
    c->pings_unanswered = 0;
    c->st.connects++;
    LOG_NOTICE(ARI, "event=ws_connected server=%s reconnect=%d", c->name, reconnect);
    ev_timer_set(&c->ping_w, (double)c->ping_interval_ms / 1000.0,
                 (double)c->ping_interval_ms / 1000.0);
    ev_timer_start(c->loop, &c->ping_w);
    ari__health_notify(c);
    if (reconnect) {
        ari__resubscribe(c);
    }
    ari__reconcile_start(c);
}

static void ws_receive(struct ari_client *c, struct lws *wsi, const char *in, size_t len)
{
    bool final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

    if (c->rx.len == 0 && final) {
        ari__ws_deliver(c, in, len); /* the common case: one frame, no copy */
        return;
    }
    if (c->rx.len + len > ARI_EVENT_MAX_LEN) {
        c->rx.oom = true; /* too big: drop the message when it ends */
    }
    ari__buf_add(&c->rx, in, len);
    if (final) {
        if (c->rx.oom) {
            c->st.parse_errors++;
            LOG_WARN(ARI, "event=bad_event server=%s err=ERR_TOOBIG", c->name);
        } else {
            ari__ws_deliver(c, c->rx.p, c->rx.len);
        }
        ari__buf_reset(&c->rx);
    }
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    struct lws_context *ctx = wsi != NULL ? lws_get_context(wsi) : NULL;
    struct ari_client *c = ctx != NULL ? lws_context_user(ctx) : NULL;
    (void)user;

    if (c == NULL) {
        return 0;
    }
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in;
        unsigned char *end = *p + len;
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (const unsigned char *)c->auth_header,
                                         (int)strlen(c->auth_header), p, end) != 0) {
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (wsi == c->wsi) {
            ws_established(c);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (wsi == c->wsi) {
            ws_receive(c, wsi, in, len);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        c->pings_unanswered = 0;
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (wsi == c->wsi && c->want_ping) {
            unsigned char buf[LWS_PRE + 4];
            c->want_ping = false;
            if (lws_write(wsi, buf + LWS_PRE, 0, LWS_WRITE_PING) < 0) {
                return -1;
            }
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi == c->wsi || c->wsi == NULL) {
            ws_lost(c, in != NULL ? (const char *)in : "connection error");
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == c->wsi) {
            ws_lost(c, "closed");
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (wsi == c->wsi) {
            ws_lost(c, "connection destroyed");
        }
        return 0;
    default:
        return 0;
    }
}

static void ws_connect(struct ari_client *c)
{
    struct lws_client_connect_info ci;
    char host_hdr[300];
    struct lws *wsi;

    snprintf(host_hdr, sizeof(host_hdr), "%s:%d", c->host, c->port);
    memset(&ci, 0, sizeof(ci));
    ci.context = c->lws;
    ci.address = c->host;
    ci.port = c->port;
    ci.path = c->ws_path;
    ci.host = host_hdr;
    ci.origin = host_hdr;
    ci.protocol = NULL; /* no subprotocol: Asterisk then sends none back */
    ci.local_protocol_name = "ari-events";
    ci.pwsi = &c->wsi;
    c->ws_connecting = true;
    c->rx.len = 0;
    c->rx.oom = false;
    wsi = lws_client_connect_via_info(&ci);
    if (wsi == NULL) {
        /* lws may have reported CONNECTION_ERROR already (then this is a no-op). */
        c->wsi = NULL;
        ws_lost(c, "connect failed");
    }
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, reconnect_w);
    (void)loop;
    (void)revents;
    if (!c->closing && !c->ws_connected && !c->ws_connecting) {
        ws_connect(c);
    }
}

static void ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, ping_w);
    (void)loop;
    (void)revents;
    if (c->wsi == NULL || !c->ws_connected) {
        return;
    }
    if (c->pings_unanswered >= PINGS_MISSED_MAX) {
        LOG_WARN(ARI, "event=ws_ping_timeout server=%s", c->name);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        lws_cancel_service(c->lws); /* make lws look at its timers now */
        return;
    }
    c->pings_unanswered++;
    c->want_ping = true;
    lws_callback_on_writable(c->wsi);
}

static const struct lws_protocols ws_protocols[] = {
    { "ari-events", ws_cb, 0, WS_RX_BUF, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

static int build_strings(struct ari_client *c)
{
    struct ari__buf b = { 0 };
    int n;
    size_t cred_len = strlen(c->user) + 1 + strlen(c->password);
    char *cred = malloc(cred_len + 1);
    size_t b64 = (cred_len + 2) / 3 * 4 + 8; /* lws wants room beyond the NUL */

    if (cred == NULL) {
        return ERR_NOMEM;
    }
    snprintf(cred, cred_len + 1, "%s:%s", c->user, c->password);
    c->auth_header = malloc(sizeof("Basic ") + b64);
    if (c->auth_header == NULL) {
        free(cred);
        return ERR_NOMEM;
    }
    memcpy(c->auth_header, "Basic ", 6);
    n = lws_b64_encode_string(cred, (int)cred_len, c->auth_header + 6, (int)b64);
    memset(cred, 0, cred_len);
    free(cred);
    if (n < 0) {
        return ERR_INTERNAL;
    }

    /* The path after the authority: base is "http://host:port[/prefix]/ari". */
    ari__buf_adds(&b, strchr(c->base + 7, '/'));
    ari__buf_adds(&b, "/events?app=");
    ari__buf_add_urlenc(&b, c->app);
    if (c->subscribe_all) {
        ari__buf_adds(&b, "&subscribeAll=true");
    }
    if (b.oom) {
        ari__buf_free(&b);
        return ERR_NOMEM;
    }
    c->ws_path = b.p;
    return 0;
}

static pthread_once_t ws_log_once = PTHREAD_ONCE_INIT;

static void ws_log_emit(int level, const char *line)
{
    (void)level;
    LOG_DEBUG(ARI, "event=lws msg=\"%.*s\"", (int)strcspn(line, "\r\n\""), line);
}

static void ws_log_init(void)
{
    /* core/httpd may have set lws's log hook already; both only log. */
    lws_set_log_level(LLL_ERR, ws_log_emit);
}

int ari__ws_init(struct ari_client *c)
{
    struct lws_context_creation_info info;
    void *loops[1] = { c->loop };
    int rc;

    arena_init(&c->ev_arena, 16 * 1024);
    arena_init(&c->rec_arena, 16 * 1024);
    c->parse_rl.interval_us = 10 * CLOCK_US_PER_SEC;
    c->rng = (uint64_t)clock_mono_us() ^ (uint64_t)(uintptr_t)c;
    ev_timer_init(&c->reconnect_w, reconnect_cb, 0., 0.);
    ev_timer_init(&c->ping_w, ping_cb, 0., 0.);
    if (c->no_events) {
        return 0;
    }
    rc = build_strings(c);
    if (rc != 0) {
        return rc;
    }
    pthread_once(&ws_log_once, ws_log_init);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = ws_protocols;
    info.options = LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = loops;
    info.user = c;
    info.gid = -1;
    info.uid = -1;
    c->lws = lws_create_context(&info);
    if (c->lws == NULL) {
        LOG_ERR(ARI, "event=lws_context_failed server=%s", c->name);
        return ERR_INTERNAL;
    }
    ws_connect(c);
    return 0;
}

void ari__ws_fini(struct ari_client *c)
{
    c->closing = true;
    ev_timer_stop(c->loop, &c->reconnect_w);
    ev_timer_stop(c->loop, &c->ping_w);
    if (c->reconcile_req != NULL) {
        ari_req_cancel(c->reconcile_req);
        c->reconcile_req = NULL;
    }
    if (c->lws != NULL) {
        lws_context_destroy(c->lws);
        c->lws = NULL;
    }
    c->wsi = NULL;
    c->ws_connected = false;
    c->ws_connecting = false;
    ari__buf_free(&c->rx);
    arena_fini(&c->ev_arena);
    arena_fini(&c->rec_arena);
    free(c->ws_path);
    c->ws_path = NULL;
    free(c->auth_header);
    c->auth_header = NULL;
}
