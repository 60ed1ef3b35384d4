/* SPDX-License-Identifier: MIT */
/*
 * httpd: the server's life -- creation, registration, the thread and its
 * loop, the listener, the lws context, the lws callback switch, httpd_post,
 * and the drain at stop. Requests are in httpd_req.c, responses in
 * httpd_resp.c, WebSockets in httpd_ws.c, static files in httpd_static.c.
 *
 * Start: httpd_start() spawns the thread with every signal blocked (signals
 * belong to the main loop's ev_signal watchers; a blocked SIGPIPE also turns
 * a write to a closed TLS peer into EPIPE instead of killing the process) and
 * waits on a condition variable until the thread has bound the socket and
 * created the lws context on its loop, or failed.
 *
 * Stop: httpd_stop() sets `stopping` and wakes the thread through stop_w.
 * There the drain begins: the listener closes, idle connections are killed,
 * WebSocket sessions get a 1001 close, connections with a request in flight
 * are told to close after their response. The drain ends when no connection
 * and no held request is left, or when shutdown_grace_ms passes (held
 * requests are then aborted with ERR_SHUTDOWN). The loop then ends;
 * on_thread_stop runs, lws_context_destroy() closes whatever is left, the
 * mailbox is drained one last time, and httpd_stop joins and frees.
 *
 * httpd_post vs. stop: a post increments `posters`, then checks `stopping`;
 * the thread sets `stopping`, then waits for `posters` to reach zero before
 * its last mailbox drain. Both sides use seq_cst, so either the post sees
 * `stopping` and fails, or the thread sees the post in flight and waits for
 * it: no message is pushed after the last drain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/httpd_int.h"
#include "core/log.h"

/* clang-format off */
struct counter httpd__c_class[6] = {
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_requests_total{class=\"other\"}", "HTTP responses sent"),
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_requests_total{class=\"1xx\"}", "HTTP responses sent"),
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_requests_total{class=\"2xx\"}", "HTTP responses sent"),
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_requests_total{class=\"3xx\"}", "HTTP responses sent"),
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_requests_total{class=\"4xx\"}", "HTTP responses sent"),
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_requests_total{class=\"5xx\"}", "HTTP responses sent"),
};
struct counter httpd__c_in_flight =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "httpd_requests_in_flight", "HTTP requests not yet answered");
struct counter httpd__c_connections =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "httpd_connections", "open HTTP/WebSocket connections");
struct counter httpd__c_ws_sessions =
    COUNTER_INIT(COUNTER_KIND_GAUGE, "httpd_ws_sessions", "open WebSocket sessions");
struct counter httpd__c_ws_drops =
    COUNTER_INIT(COUNTER_KIND_COUNTER, "httpd_ws_slow_consumer_drops_total",
                 "WebSocket sessions dropped because their output queue was full");

#define HC_OFF(f) offsetof(struct httpd_config, f)
const struct cfg_option httpd_cfg_options[] = {
    { "httpd.name", CFG_STR, HC_OFF(name), "httpd", 0, 15, CFG_RESTART,
      "server name in logs and the thread name" },
    { "httpd.bind", CFG_STR, HC_OFF(bind_addr), "127.0.0.1", 0, 64, CFG_RESTART,
      "numeric IPv4 or IPv6 address to listen on" },
    { "httpd.port", CFG_INT, HC_OFF(port), "8080", 0, 65535, CFG_RESTART,
      "TCP port; 0 picks a free one" },
    { "httpd.max_header_size", CFG_SIZE, HC_OFF(max_header_bytes), "8k", 1024, 1 << 20,
      CFG_RESTART, "largest request line + headers (431 above)" },
    { "httpd.max_body_size", CFG_SIZE, HC_OFF(max_body_bytes), "1m", 1, INT64_C(1) << 32,
      CFG_RESTART, "largest buffered request body (413 above)" },
    { "httpd.static_dir", CFG_STR, HC_OFF(static_dir), NULL, 0, 4096, CFG_RESTART,
      "directory of static web assets; empty: none" },
    { "httpd.tls_cert", CFG_STR, HC_OFF(tls_cert_file), NULL, 0, 4096, CFG_RESTART,
      "PEM certificate chain; with httpd.tls_key serves HTTPS/WSS" },
    { "httpd.tls_key", CFG_STR, HC_OFF(tls_key_file), NULL, 0, 4096, CFG_RESTART | CFG_SECRET,
      "PEM private key" },
    { "httpd.request_timeout", CFG_DURATION, HC_OFF(request_timeout_ms), "30s", 100,
      INT64_C(3600000), CFG_RESTART, "deadline of a deferred response (503 after)" },
    { "httpd.shutdown_grace", CFG_DURATION, HC_OFF(shutdown_grace_ms), "5s", 0, INT64_C(600000),
      CFG_RESTART, "how long a stop waits for in-flight requests" },
    { "httpd.keepalive_timeout", CFG_DURATION, HC_OFF(keepalive_timeout_ms), "5s", 1000,
      INT64_C(3600000), CFG_RESTART, "idle keep-alive connections close after" },
    { "httpd.io_timeout", CFG_DURATION, HC_OFF(io_timeout_ms), "30s", 1000, INT64_C(3600000),
      CFG_RESTART, "a stalled request head or body is dropped after" },
    { "httpd.max_connections", CFG_INT, HC_OFF(max_connections), "1024", 1, 1000000, CFG_RESTART,
      "connections beyond are closed at accept" },
    { "httpd.ws_max_queue", CFG_SIZE, HC_OFF(ws_max_queue_bytes), "1m", 1024, INT64_C(1) << 32,
      CFG_RESTART, "per WebSocket session output queue; a slow consumer is dropped" },
    { "httpd.ws_max_message", CFG_SIZE, HC_OFF(ws_max_message_bytes), "64k", 128,
      INT64_C(1) << 30, CFG_RESTART, "largest inbound WebSocket message" },
    { "httpd.ws_sndbuf", CFG_SIZE, HC_OFF(ws_sndbuf_bytes), "256k", 4096, INT64_C(1) << 30,
      CFG_RESTART, "kernel send buffer of a WebSocket session (bounds what a slow reader holds)" },
    { "httpd.no_access_log", CFG_BOOL, HC_OFF(no_access_log), "false", 0, 0, CFG_RELOADABLE,
      "turn the access log off" },
};
#undef HC_OFF
/* clang-format on */
const size_t httpd_cfg_options_count = sizeof(httpd_cfg_options) / sizeof(httpd_cfg_options[0]);

enum {
    DEF_MAX_HEADER = 8 * 1024,
    DEF_MAX_BODY = 1024 * 1024,
    DEF_MAX_CONNECTIONS = 1024,
    DEF_WS_QUEUE = 1024 * 1024,
    DEF_WS_MESSAGE = 64 * 1024,
    DEF_WS_SNDBUF = 256 * 1024,
    PT_SERV_BUF = 64 * 1024, /* lws's read buffer: the largest body piece */
    WS_RX_BUF = 16 * 1024,   /* lws's per-session WebSocket receive buffer */
    TX_PACKET = 64 * 1024,   /* lws sends at most this per send() */
    ACCEPT_BATCH = 64,       /* accepts per listener wake-up */
    LISTEN_BACKLOG = 511,
};

#define DEF_REQUEST_TIMEOUT_MS   INT64_C(30000)
#define DEF_SHUTDOWN_GRACE_MS    INT64_C(5000)
#define DEF_KEEPALIVE_TIMEOUT_MS INT64_C(5000)
#define DEF_IO_TIMEOUT_MS        INT64_C(30000)

/* ---------------------------------------------------------------------- */
/* Configuration and registration                                          */
/* ---------------------------------------------------------------------- */

/* A copy of s, NULL for NULL or "" (optional settings). *ok cleared on OOM. */
static const char *opt_strdup(const char *s, bool *ok)
{
    char *d;

    if (s == NULL || s[0] == '\0') {
        return NULL;
    }
    d = strdup(s);
    if (d == NULL) {
        *ok = false;
    }
    return d;
}

static void config_free(struct httpd_config *c)
{
    free((char *)c->name);
    free((char *)c->bind_addr);
    free((char *)c->static_dir);
    free((char *)c->tls_cert_file);
    free((char *)c->tls_key_file);
}

static int config_copy(struct httpd_config *dst, const struct httpd_config *src)
{
    bool ok = true;

    *dst = *src;
    dst->name = opt_strdup(src->name != NULL && src->name[0] != '\0' ? src->name : "httpd", &ok);
    dst->bind_addr = opt_strdup(
        src->bind_addr != NULL && src->bind_addr[0] != '\0' ? src->bind_addr : "127.0.0.1", &ok);
    dst->static_dir = opt_strdup(src->static_dir, &ok);
    dst->tls_cert_file = opt_strdup(src->tls_cert_file, &ok);
    dst->tls_key_file = opt_strdup(src->tls_key_file, &ok);
    if (!ok) {
        return ERR_NOMEM;
    }
    if (dst->max_header_bytes <= 0) {
        dst->max_header_bytes = DEF_MAX_HEADER;
    }
    if (dst->max_body_bytes <= 0) {
        dst->max_body_bytes = DEF_MAX_BODY;
    }
    if (dst->request_timeout_ms <= 0) {
        dst->request_timeout_ms = DEF_REQUEST_TIMEOUT_MS;
    }
    if (dst->shutdown_grace_ms <= 0) {
        dst->shutdown_grace_ms = DEF_SHUTDOWN_GRACE_MS;
    }
    if (dst->keepalive_timeout_ms <= 0) {
        dst->keepalive_timeout_ms = DEF_KEEPALIVE_TIMEOUT_MS;
    }
    if (dst->io_timeout_ms <= 0) {
        dst->io_timeout_ms = DEF_IO_TIMEOUT_MS;
    }
    if (dst->max_connections <= 0) {
        dst->max_connections = DEF_MAX_CONNECTIONS;
    }
    if (dst->ws_max_queue_bytes <= 0) {
        dst->ws_max_queue_bytes = DEF_WS_QUEUE;
    }
    if (dst->ws_max_message_bytes <= 0) {
        dst->ws_max_message_bytes = DEF_WS_MESSAGE;
    }
    if (dst->ws_sndbuf_bytes <= 0) {
        dst->ws_sndbuf_bytes = DEF_WS_SNDBUF;
    }
    if (dst->port < 0 || dst->port > 65535 || dst->max_header_bytes > (1 << 20) ||
        (dst->tls_cert_file == NULL) != (dst->tls_key_file == NULL)) {
        return ERR_INVAL;
    }
    return 0;
}

static void register_counters(void)
{
    for (int i = 1; i < 6; i++) {
        counter_register(&httpd__c_class[i]);
    }
    counter_register(&httpd__c_in_flight);
    counter_register(&httpd__c_connections);
    counter_register(&httpd__c_ws_sessions);
    counter_register(&httpd__c_ws_drops);
}

void httpd_stats(struct httpd_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 6; i++) {
        out->requests_by_class[i] = counter_get(&httpd__c_class[i]);
    }
    out->in_flight = counter_get(&httpd__c_in_flight);
    out->connections = counter_get(&httpd__c_connections);
    out->ws_sessions = counter_get(&httpd__c_ws_sessions);
    out->ws_slow_drops = counter_get(&httpd__c_ws_drops);
}

static uint32_t random_u32(void)
{
    uint32_t v = 0;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        v = (uint32_t)clock_mono_us() ^ (uint32_t)getpid();
    }
    return v;
}

struct httpd *httpd_create(const struct httpd_config *cfg, const struct httpd_route *routes,
                           size_t n)
{
    static const struct httpd_config zero;
    struct httpd *h = calloc(1, sizeof(*h));
    int rc;

    if (h == NULL) {
        return NULL;
    }
    h->listen_fd = -1;
    h->static_fd = -1;
    httpd_list_init(&h->conns);
    httpd_list_init(&h->held);
    pthread_mutex_init(&h->start_mu, NULL);
    pthread_cond_init(&h->start_cv, NULL);
    atomic_init(&h->stopping, false);
    atomic_init(&h->posters, 0);
    atomic_init(&h->running, false);
    h->next_handle = 1;
    h->rid_prefix = random_u32();
    rc = config_copy(&h->cfg, cfg != NULL ? cfg : &zero);
    if (rc != 0) {
        LOG_ERR(HTTPD, "event=create_failed reason=%s", err_name(rc));
        goto fail;
    }
    snprintf(h->name, sizeof(h->name), "%s", h->cfg.name);
    h->loop = ev_loop_new(EVFLAG_AUTO);
    h->wbuf = malloc(LWS_PRE + HTTPD_WBUF_SIZE);
    if (h->loop == NULL || h->wbuf == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        rc = httpd_route_add(h, &routes[i]);
        if (rc != 0) {
            LOG_ERR(HTTPD, "event=create_failed route=%s reason=%s",
                    routes[i].pattern != NULL ? routes[i].pattern : "(null)", err_name(rc));
            goto fail;
        }
    }
    register_counters();
    return h;
fail:
    httpd_stop(h);
    return NULL;
}

int httpd_route_add(struct httpd *h, const struct httpd_route *r)
{
    const unsigned all = HTTPD_GET | HTTPD_HEAD | HTTPD_POST | HTTPD_PUT | HTTPD_PATCH |
                         HTTPD_DELETE | HTTPD_OPTIONS;
    struct httpd_route_int ri;
    int rc;

    if (h->thread_started) {
        return ERR_BUSY;
    }
    if (r->handler == NULL || r->methods == 0 || (r->methods & ~all) != 0 ||
        (r->on_chunk == NULL) != (r->on_end == NULL) || r->max_body < 0) {
        return ERR_INVAL;
    }
    memset(&ri, 0, sizeof(ri));
    ri.r = *r;
    rc = httpd__pattern_compile(&ri.pat, r->pattern);
    if (rc != 0) {
        return rc;
    }
    ri.r.pattern = ri.pat.text;
    for (size_t i = 0; i < h->nroutes; i++) {
        if ((h->routes[i].r.methods & r->methods) != 0 &&
            httpd__pattern_same(&h->routes[i].pat, &ri.pat)) {
            httpd__pattern_free(&ri.pat);
            return ERR_EXISTS;
        }
    }
    if (h->nroutes == h->routes_cap) {
        size_t cap = h->routes_cap != 0 ? h->routes_cap * 2 : 16;
        struct httpd_route_int *nr = realloc(h->routes, cap * sizeof(*nr));
        if (nr == NULL) {
            httpd__pattern_free(&ri.pat);
            return ERR_NOMEM;
        }
        h->routes = nr;
        h->routes_cap = cap;
    }
    h->routes[h->nroutes++] = ri;
    if (ri.pat.nsegs > h->max_segs) {
        h->max_segs = ri.pat.nsegs;
    }
    return 0;
}

int httpd_port(const struct httpd *h)
{
    return h->port;
}

struct ev_loop *httpd_loop(const struct httpd *h)
{
    return h->loop;
}

const char *httpd_name(const struct httpd *h)
{
    return h->cfg.name;
}

/* The server whose thread this is (no shared state to race on). */
static _Thread_local const struct httpd *tl_server;

bool httpd_on_thread(const struct httpd *h)
{
    return tl_server == h;
}

/* ---------------------------------------------------------------------- */
/* Cross-thread posts                                                      */
/* ---------------------------------------------------------------------- */

struct post_msg {
    struct mpsc_node node;
    httpd_post_cb *fn;
    void *arg;
};

int httpd_post(struct httpd *h, httpd_post_cb *fn, void *arg)
{
    struct post_msg *m;

    /* seq_cst: pairs with the store of `stopping` and the load of `posters`
     * in wait_posters() (see the file comment). */
    atomic_fetch_add_explicit(&h->posters, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&h->running, memory_order_seq_cst) ||
        atomic_load_explicit(&h->stopping, memory_order_seq_cst)) {
        atomic_fetch_sub_explicit(&h->posters, 1, memory_order_seq_cst);
        return ERR_SHUTDOWN;
    }
    m = malloc(sizeof(*m));
    if (m == NULL) {
        atomic_fetch_sub_explicit(&h->posters, 1, memory_order_seq_cst);
        return ERR_NOMEM;
    }
    m->fn = fn;
    m->arg = arg;
    mpsc_mailbox_send(&h->mailbox, &m->node);
    /* Release: the push above happens before wait_posters() sees zero. */
    atomic_fetch_sub_explicit(&h->posters, 1, memory_order_release);
    return 0;
}

static void post_recv(struct mpsc_mailbox *mb, struct mpsc_node *node, void *arg)
{
    struct post_msg *m = CONTAINER_OF(node, struct post_msg, node);
    (void)mb;
    m->fn(arg, m->arg);
    free(m);
}

/* Waits until no httpd_post is between its `stopping` check and its push. */
static void wait_posters(struct httpd *h)
{
    atomic_store_explicit(&h->stopping, true, memory_order_seq_cst);
    for (unsigned spins = 0;
         atomic_load_explicit(&h->posters, memory_order_seq_cst) != 0 && spins < 1000000; spins++) {
        sched_yield();
    }
}

/* ---------------------------------------------------------------------- */
/* lws glue                                                                */
/* ---------------------------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    char buf[256];
    size_t n = 0;

    /* One line, without its newline and with quotes softened for msg="". */
    for (const char *s = line; *s != '\0' && n + 1 < sizeof(buf); s++) {
        if (*s == '\n' || *s == '\r') {
            continue;
        }
        buf[n++] = *s == '"' ? '\'' : *s;
    }
    buf[n] = '\0';
    if (level & LLL_ERR) {
        LOG_WARN(HTTPD, "event=lws level=err msg=\"%s\"", buf);
    } else {
        LOG_NOTICE(HTTPD, "event=lws level=warn msg=\"%s\"", buf);
    }
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

static void lws_log_init(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
}

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct httpd_conn *c = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
    (void)user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return c != NULL ? httpd__on_http(c) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return c != NULL ? httpd__on_body(c, in, len) : -1;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c != NULL ? httpd__on_body_end(c) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c != NULL ? httpd__on_writeable(c) : -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return c != NULL ? httpd__ws_filter(c, wsi) : 1;
    case LWS_CALLBACK_ADD_HEADERS:
        if (c != NULL) {
            httpd__ws_add_headers(c, in);
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        return c != NULL ? httpd__ws_established(c) : -1;
    case LWS_CALLBACK_RECEIVE:
        return c != NULL ? httpd__ws_receive(c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c != NULL ? httpd__ws_writeable(c) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c != NULL) {
            httpd__ws_peer_closed(c);
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c != NULL) {
            httpd__ws_closed(c, 0);
        }
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c != NULL) {
            httpd__conn_gone(c);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c != NULL) {
            struct httpd *h = c->h;
            lws_set_opaque_user_data(wsi, NULL);
            httpd__conn_gone(c);
            httpd_list_remove(&c->link);
            h->nconns--;
            counter_dec(&httpd__c_connections);
            free(c);
            httpd__drain_check(h);
        }
        return 0;
    default:
        return 0;
    }
}

void httpd__conn_kill(struct httpd_conn *c)
{
    c->closing = true;
    if (c->wsi != NULL) {
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        /* The libev evlib re-arms lws's timer only after lws's own events; a
         * kill requested from one of our watchers would wait for the next
         * one. Waking lws makes it look at its timer list now. */
        lws_cancel_service(c->h->lws);
    }
}

/* Builds the lws protocol list: "http" first, then each distinct subprotocol. */
static int protocols_build(struct httpd *h)
{
    size_t n = 1;

    h->protocols = calloc(h->neps + 2, sizeof(*h->protocols));
    if (h->protocols == NULL) {
        return ERR_NOMEM;
    }
    h->protocols[0].name = "http";
    for (size_t i = 0; i < h->neps; i++) {
        const char *sp = h->eps[i].e.subprotocol;
        bool seen = sp == NULL || strcmp(sp, "http") == 0;
        for (size_t j = 1; j < n && !seen; j++) {
            seen = strcmp(h->protocols[j].name, sp) == 0;
        }
        if (!seen) {
            h->protocols[n++].name = sp;
        }
    }
    for (size_t i = 0; i < n; i++) {
        h->protocols[i].callback = lws_cb;
        h->protocols[i].per_session_data_size = sizeof(struct httpd_pss);
        h->protocols[i].rx_buffer_size = WS_RX_BUF;
        h->protocols[i].tx_packet_size = TX_PACKET;
        h->protocols[i].user = h;
    }
    h->nprotocols = n;
    return 0;
}

static int lws_setup(struct httpd *h)
{
    struct lws_context_creation_info info;
    void *loops[1] = { h->loop };
    int rc = protocols_build(h);

    if (rc != 0) {
        return rc;
    }
    pthread_once(&lws_log_once, lws_log_init);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = h->protocols;
    info.vhost_name = "default";
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    /* Room for requests up to twice the limit, so that we can measure and
     * answer 431 for those between; lws drops anything larger. */
    info.max_http_header_data2 = (unsigned int)(h->cfg.max_header_bytes * 2);
    info.max_http_header_pool2 = (unsigned int)h->cfg.max_connections;
    info.pt_serv_buf_size = PT_SERV_BUF;
    info.keepalive_timeout = (int)((h->cfg.keepalive_timeout_ms + 999) / 1000);
    info.timeout_secs = (unsigned int)((h->cfg.io_timeout_ms + 999) / 1000);
    info.user = h;
    if (h->cfg.tls_cert_file != NULL) {
        /* Checked here because lws leaks a little when it fails on them, and
         * because this message names the file. */
        const char *files[] = { h->cfg.tls_cert_file, h->cfg.tls_key_file };
        for (size_t i = 0; i < 2; i++) {
            if (access(files[i], R_OK) != 0) {
                int e = errno;
                LOG_ERRNO(ERR, HTTPD, e, "event=tls_file_unreadable server=%s file=\"%s\"",
                          h->cfg.name, files[i]);
                return ERR_INVAL;
            }
        }
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = h->cfg.tls_cert_file;
        info.ssl_private_key_filepath = h->cfg.tls_key_file;
        info.alpn = "http/1.1";
        h->tls = true;
    }
    h->lws = lws_create_context(&info);
    if (h->lws == NULL) {
        LOG_ERR(HTTPD, "event=lws_context_failed server=%s tls=%d", h->cfg.name, h->tls);
        return ERR_INVAL;
    }
    h->vhost = lws_get_vhost_by_name(h->lws, "default");
    if (h->vhost == NULL) {
        return ERR_INTERNAL;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Listener                                                                */
/* ---------------------------------------------------------------------- */

static void conn_adopt(struct httpd *h, int fd, const struct sockaddr_storage *ss)
{
    struct httpd_conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL) {
        close(fd);
        return;
    }
    c->h = h;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, c->client, sizeof(c->client));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, c->client, sizeof(c->client));
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Callbacks during adoption find no conn and ignore themselves; on
     * failure lws has closed fd. */
    c->wsi = lws_adopt_socket_vhost(h->vhost, fd);
    if (c->wsi == NULL) {
        LOG_WARN(HTTPD, "event=adopt_failed client=%s", c->client);
        free(c);
        return;
    }
    lws_set_opaque_user_data(c->wsi, c);
    httpd_list_append(&h->conns, &c->link);
    h->nconns++;
    counter_inc(&httpd__c_connections);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpd *h = CONTAINER_OF(w, struct httpd, listen_w);
    static struct log_ratelimit rl_full = { .interval_us = 10 * CLOCK_US_PER_SEC };
    (void)loop;
    (void)revents;

    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(h->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            int e = errno;
            if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED) {
                LOG_ERRNO(WARN, HTTPD, e, "event=accept_failed server=%s", h->cfg.name);
                if (e == EMFILE || e == ENFILE) {
                    /* Out of descriptors: the pending connection would wake
                     * us forever; pause the listener for a moment. */
                    ev_io_stop(h->loop, &h->listen_w);
                    ev_timer_set(&h->drain_w, 0.1, 0.);
                    ev_timer_start(h->loop, &h->drain_w);
                }
            }
            return;
        }
        if (h->draining || (int64_t)h->nconns >= h->cfg.max_connections) {
            uint64_t n = log_ratelimit_pass(&rl_full, clock_mono_us());
            if (n > 0) {
                LOG_WARN(HTTPD,
                         "event=connection_refused server=%s connections=%zu suppressed=%llu",
                         h->cfg.name, h->nconns, (unsigned long long)(n - 1));
            }
            close(fd);
            continue;
        }
        conn_adopt(h, fd, &ss);
    }
}

/* drain_w doubles as the listener's back-off timer before the drain. */
static void drain_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static int listener_open(struct httpd *h)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1, zero = 0, fd, e;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, h->cfg.bind_addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)h->cfg.port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, h->cfg.bind_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) ==
               1) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)h->cfg.port);
        sl = sizeof(*s6);
    } else {
        LOG_ERR(HTTPD, "event=bad_bind_address server=%s bind=%s", h->cfg.name, h->cfg.bind_addr);
        return ERR_INVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        e = errno;
        LOG_ERRNO(ERR, HTTPD, e, "event=socket_failed server=%s", h->cfg.name);
        return -e;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
        e = errno;
        LOG_ERRNO(ERR, HTTPD, e, "event=listen_failed server=%s bind=%s port=%lld", h->cfg.name,
                  h->cfg.bind_addr, (long long)h->cfg.port);
        close(fd);
        return -e;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
        e = errno;
        close(fd);
        return -e;
    }
    h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    h->listen_fd = fd;
    ev_io_init(&h->listen_w, accept_cb, fd, EV_READ);
    ev_io_start(h->loop, &h->listen_w);
    return 0;
}

static void listener_close(struct httpd *h)
{
    if (h->listen_fd != -1) {
        ev_io_stop(h->loop, &h->listen_w);
        close(h->listen_fd);
        h->listen_fd = -1;
    }
}

/* ---------------------------------------------------------------------- */
/* Drain                                                                   */
/* ---------------------------------------------------------------------- */

static void drain_finish(struct httpd *h)
{
    if (h->drained) {
        return;
    }
    h->drained = true;
    ev_timer_stop(h->loop, &h->drain_w);
    httpd__abort_held(h);
    ev_break(h->loop, EVBREAK_ALL);
}

void httpd__drain_check(struct httpd *h)
{
    if (h->draining && !h->drained && h->nconns == 0 && h->nheld == 0) {
        drain_finish(h);
    }
}

static void drain_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd *h = CONTAINER_OF(w, struct httpd, drain_w);
    (void)loop;
    (void)revents;

    if (!h->draining) {
        /* The accept back-off is over. */
        if (h->listen_fd != -1) {
            ev_io_start(h->loop, &h->listen_w);
        }
        return;
    }
    LOG_NOTICE(HTTPD, "event=drain_deadline server=%s connections=%zu held=%zu", h->cfg.name,
               h->nconns, h->nheld);
    drain_finish(h);
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct httpd *h = CONTAINER_OF(w, struct httpd, stop_w);
    struct httpd_link *l, *next;
    (void)loop;
    (void)revents;

    if (h->draining) {
        return;
    }
    LOG_INFO(HTTPD, "event=draining server=%s connections=%zu held=%zu", h->cfg.name, h->nconns,
             h->nheld);
    h->draining = true;
    listener_close(h);
    ev_timer_stop(h->loop, &h->drain_w);
    for (l = h->conns.next; l != &h->conns; l = next) {
        struct httpd_conn *c = CONTAINER_OF(l, struct httpd_conn, link);
        next = l->next;
        if (c->ws != NULL) {
            continue;
        }
        if (c->req == NULL) {
            httpd__conn_kill(c);
        } else {
            c->closing = true;
        }
    }
    httpd__ws_close_all(h);
    ev_timer_set(&h->drain_w, (double)h->cfg.shutdown_grace_ms / 1000.0, 0.);
    ev_timer_start(h->loop, &h->drain_w);
    httpd__drain_check(h);
}

/* ---------------------------------------------------------------------- */
/* The thread                                                              */
/* ---------------------------------------------------------------------- */

const char *httpd__date(struct httpd *h)
{
    int64_t sec = clock_wall_us() / CLOCK_US_PER_SEC;

    if (sec != h->date_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(h->date, sizeof(h->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        h->date_sec = sec;
    }
    return h->date;
}

static int thread_setup(struct httpd *h)
{
    int rc;

    mpsc_mailbox_init(&h->mailbox, h->loop, post_recv, h);
    ev_async_init(&h->stop_w, stop_cb);
    ev_async_start(h->loop, &h->stop_w);
    ev_timer_init(&h->drain_w, drain_timer_cb, 0., 0.);
    httpd__ws_start(h);
    if (h->cfg.static_dir != NULL) {
        rc = httpd__static_open(h);
        if (rc != 0) {
            return rc;
        }
    }
    rc = lws_setup(h);
    if (rc != 0) {
        return rc;
    }
    rc = listener_open(h);
    if (rc != 0) {
        return rc;
    }
    if (h->cfg.on_thread_start != NULL) {
        h->cfg.on_thread_start(h, h->loop, h->cfg.thread_arg);
    }
    /* seq_cst like the other flags httpd_post reads. */
    atomic_store_explicit(&h->running, true, memory_order_seq_cst);
    return 0;
}

static void thread_teardown(struct httpd *h, bool started)
{
    listener_close(h);
    ev_timer_stop(h->loop, &h->drain_w);
    if (started && h->cfg.on_thread_stop != NULL) {
        h->cfg.on_thread_stop(h, h->loop, h->cfg.thread_arg);
    }
    if (h->lws != NULL) {
        /* Closes what is left; our WSI_DESTROY handler frees the conns. */
        lws_context_destroy(h->lws);
        h->lws = NULL;
        h->vhost = NULL;
    }
    wait_posters(h);
    mpsc_mailbox_fini(&h->mailbox);
    ev_async_stop(h->loop, &h->stop_w);
    httpd__reqs_fini(h);
    httpd__ws_fini(h);
    if (h->static_fd != -1) {
        close(h->static_fd);
        h->static_fd = -1;
    }
}

static void *thread_main(void *arg)
{
    struct httpd *h = arg;
    int rc;

    tl_server = h;
    pthread_setname_np(pthread_self(), h->name);
    rc = thread_setup(h);
    pthread_mutex_lock(&h->start_mu);
    h->start_rc = rc;
    h->start_state = rc == 0 ? 1 : -1;
    pthread_cond_signal(&h->start_cv);
    pthread_mutex_unlock(&h->start_mu);
    if (rc != 0) {
        thread_teardown(h, false);
        tl_server = NULL;
        return NULL;
    }
    LOG_INFO(HTTPD, "event=listening server=%s bind=%s port=%d tls=%d static=%s", h->cfg.name,
             h->cfg.bind_addr, h->port, h->tls, h->cfg.static_dir != NULL ? "yes" : "no");
    while (!h->drained) {
        ev_run(h->loop, 0);
    }
    thread_teardown(h, true);
    LOG_INFO(HTTPD, "event=stopped server=%s", h->cfg.name);
    tl_server = NULL;
    return NULL;
}

int httpd_start(struct httpd *h)
{
    sigset_t all, old;
    int rc;

    if (h->thread_started || h->start_state != 0) {
        return ERR_BUSY;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&h->thread, NULL, thread_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        return -rc;
    }
    h->thread_started = true;
    pthread_mutex_lock(&h->start_mu);
    while (h->start_state == 0) {
        pthread_cond_wait(&h->start_cv, &h->start_mu);
    }
    rc = h->start_state == 1 ? 0 : h->start_rc;
    pthread_mutex_unlock(&h->start_mu);
    if (rc != 0) {
        pthread_join(h->thread, NULL);
        h->thread_started = false;
    }
    return rc;
}

void httpd_stop(struct httpd *h)
{
    if (h == NULL) {
        return;
    }
    if (httpd_on_thread(h)) {
        /* It would join itself. */
        LOG_ERR(HTTPD, "event=stop_from_own_thread server=%s", h->cfg.name);
        return;
    }
    if (h->thread_started) {
        atomic_store_explicit(&h->stopping, true, memory_order_seq_cst);
        ev_async_send(h->loop, &h->stop_w);
        pthread_join(h->thread, NULL);
        h->thread_started = false;
    }
    for (size_t i = 0; i < h->nroutes; i++) {
        httpd__pattern_free(&h->routes[i].pat);
    }
    free(h->routes);
    for (size_t i = 0; i < h->neps; i++) {
        httpd__pattern_free(&h->eps[i].pat);
        free((char *)h->eps[i].e.subprotocol);
    }
    free(h->eps);
    free(h->protocols);
    free(h->held_table);
    free(h->wbuf);
    if (h->loop != NULL) {
        ev_loop_destroy(h->loop);
    }
    pthread_mutex_destroy(&h->start_mu);
    pthread_cond_destroy(&h->start_cv);
    config_free(&h->cfg);
    free(h);
}
