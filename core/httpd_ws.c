/* SPDX-License-Identifier: MIT */
/*
 * httpd_ws: WebSocket endpoints and sessions.
 *
 * An endpoint is a path pattern with open/message/close callbacks. The
 * upgrade request is judged in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION,
 * before lws answers the handshake: we build a struct httpd_req for it (path
 * parameters, query, headers, request id) and ask on_open, which may refuse
 * with a status and a JSON error body. lws 4.1 gives no way to defer that
 * decision, so on_open decides synchronously (a JWT check is fine, a
 * database round trip is not). A refusal is written at once and the
 * connection closed.
 *
 * Output. Each session has a FIFO of messages and a byte budget
 * (max_queue_bytes). Messages are reference-counted buffers with LWS_PRE
 * bytes of headroom for lws's frame header, so httpd_ws_broadcast() copies
 * the payload once for all sessions. One message is written per writeable
 * callback. A send that would pass the budget drops the session: its queue
 * is freed at once and the connection is killed asynchronously, so a client
 * that stops reading costs at most its budget (plus what lws and the kernel
 * hold), never unbounded memory. on_close then reports ERR_TOOBIG.
 *
 * Input. lws hands us frames in pieces of its receive buffer; we assemble a
 * message up to ws_max_message_bytes (close 1009 beyond) and deliver it
 * whole. A message that arrives in one piece is delivered without a copy.
 *
 * Lifetime. A session lives from a successful on_open until on_close has
 * returned, which happens once, from LWS_CALLBACK_CLOSED or -- if the
 * connection dies another way -- from the connection's destruction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/httpd_int.h"
#include "core/log.h"

/* A queued message, shared between the sessions of a broadcast. */
struct ws_msg {
    unsigned refs;
    bool binary;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then len bytes */
};

struct httpd_ws {
    struct httpd *h;
    struct httpd_conn *conn; /* NULL once the connection is gone */
    struct httpd_ws_ep *ep;
    struct httpd_link ep_link; /* ep->sessions */
    char *rid;                 /* these three share one allocation */
    char *path;
    char *client;
    int64_t start_us;
    struct ws_msg **q; /* ring of queued messages */
    size_t qhead, qcount, qcap;
    size_t queued; /* bytes in q */
    int64_t max_queue;
    unsigned char *rx; /* message being assembled */
    size_t rx_len, rx_cap;
    bool rx_binary;
    uint64_t bytes_out;
    bool established; /* the handshake answer went out */
    bool closing;     /* httpd_ws_close(): close after the queue */
    bool dropped;     /* killed; no more output */
    bool peer_closed; /* the client sent a close frame */
    bool in_close;    /* on_close is running or ran */
    int close_code;
    char close_reason[124];
    int reason; /* for on_close, when we decided it */
    void *user;
};

/* ---------------------------------------------------------------------- */
/* Messages and queues                                                     */
/* ---------------------------------------------------------------------- */

static struct ws_msg *msg_new(const void *data, size_t len, bool binary)
{
    struct ws_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

    if (m == NULL) {
        return NULL;
    }
    m->refs = 1;
    m->binary = binary;
    m->len = len;
    if (len > 0) {
        memcpy(m->buf + LWS_PRE, data, len);
    }
    return m;
}

static void msg_unref(struct ws_msg *m)
{
    if (--m->refs == 0) {
        free(m);
    }
}

static void queue_clear(struct httpd_ws *ws)
{
    while (ws->qcount > 0) {
        msg_unref(ws->q[ws->qhead]);
        ws->qhead = (ws->qhead + 1) % ws->qcap;
        ws->qcount--;
    }
    free(ws->q);
    ws->q = NULL;
    ws->qcap = 0;
    ws->qhead = 0;
    ws->queued = 0;
}

static void ws_drop(struct httpd_ws *ws, int reason)
{
    if (ws->dropped) {
        return;
    }
    ws->dropped = true;
    ws->reason = reason;
    queue_clear(ws);
    if (ws->conn != NULL) {
        httpd__conn_kill(ws->conn);
    }
}

/* Queues m (a reference is taken). */
static int enqueue(struct httpd_ws *ws, struct ws_msg *m)
{
    if (ws->dropped || ws->closing || ws->conn == NULL) {
        return ERR_CLOSED;
    }
    if ((int64_t)(ws->queued + m->len) > ws->max_queue) {
        LOG_WARN(HTTPD, "event=ws_slow_consumer server=%s rid=%s path=\"%s\" queued=%zu limit=%lld",
                 ws->h->cfg.name, ws->rid, ws->path, ws->queued, (long long)ws->max_queue);
        counter_inc(&httpd__c_ws_drops);
        ws_drop(ws, ERR_TOOBIG);
        return ERR_TOOBIG;
    }
    if (ws->qcount == ws->qcap) {
        size_t cap = ws->qcap != 0 ? ws->qcap * 2 : 16;
        struct ws_msg **nq = malloc(cap * sizeof(*nq));
        if (nq == NULL) {
            return ERR_NOMEM;
        }
        for (size_t i = 0; i < ws->qcount; i++) {
            nq[i] = ws->q[(ws->qhead + i) % ws->qcap];
        }
        free(ws->q);
        ws->q = nq;
        ws->qcap = cap;
        ws->qhead = 0;
    }
    m->refs++;
    ws->q[(ws->qhead + ws->qcount) % ws->qcap] = m;
    ws->qcount++;
    ws->queued += m->len;
    if (ws->established) {
        lws_callback_on_writable(ws->conn->wsi);
    }
    return 0;
}

int httpd_ws_send(struct httpd_ws *ws, const void *data, size_t len, bool binary)
{
    struct ws_msg *m;
    int rc;

    if (ws->dropped || ws->closing || ws->conn == NULL) {
        return ERR_CLOSED;
    }
    m = msg_new(data, len, binary);
    if (m == NULL) {
        return ERR_NOMEM;
    }
    rc = enqueue(ws, m);
    msg_unref(m);
    return rc;
}

int httpd_ws_broadcast(struct httpd *h, const char *pattern, const void *data, size_t len,
                       bool binary)
{
    struct httpd_ws_ep *ep = NULL;
    struct ws_msg *m;
    int n = 0;

    for (size_t i = 0; i < h->neps && ep == NULL; i++) {
        if (strcmp(h->eps[i].e.pattern, pattern) == 0) {
            ep = &h->eps[i];
        }
    }
    if (ep == NULL) {
        return ERR_NOTFOUND;
    }
    if (httpd_list_empty(&ep->sessions)) {
        return 0;
    }
    m = msg_new(data, len, binary);
    if (m == NULL) {
        return ERR_NOMEM;
    }
    for (struct httpd_link *l = ep->sessions.next; l != &ep->sessions; l = l->next) {
        struct httpd_ws *ws = CONTAINER_OF(l, struct httpd_ws, ep_link);
        if (enqueue(ws, m) == 0) {
            n++;
        }
    }
    msg_unref(m);
    return n;
}

void httpd_ws_close(struct httpd_ws *ws, int code, const char *reason)
{
    if (ws->closing || ws->dropped || ws->conn == NULL) {
        return;
    }
    ws->closing = true;
    ws->close_code = code;
    snprintf(ws->close_reason, sizeof(ws->close_reason), "%s", reason != NULL ? reason : "");
    if (ws->established) {
        lws_callback_on_writable(ws->conn->wsi);
    }
}

const char *httpd_ws_id(const struct httpd_ws *ws)
{
    return ws->rid;
}

const char *httpd_ws_path(const struct httpd_ws *ws)
{
    return ws->path;
}

size_t httpd_ws_queued(const struct httpd_ws *ws)
{
    return ws->queued;
}

void httpd_ws_set_data(struct httpd_ws *ws, void *data)
{
    ws->user = data;
}

void *httpd_ws_data(const struct httpd_ws *ws)
{
    return ws->user;
}

struct httpd *httpd_ws_server(const struct httpd_ws *ws)
{
    return ws->h;
}

/* ---------------------------------------------------------------------- */
/* Registration                                                            */
/* ---------------------------------------------------------------------- */

int httpd_ws_add(struct httpd *h, const struct httpd_ws_endpoint *e)
{
    struct httpd_ws_ep ep;
    int rc;

    if (h->thread_started) {
        return ERR_BUSY;
    }
    if (e->max_queue_bytes < 0 || (e->subprotocol != NULL && e->subprotocol[0] == '\0')) {
        return ERR_INVAL;
    }
    memset(&ep, 0, sizeof(ep));
    ep.e = *e;
    rc = httpd__pattern_compile(&ep.pat, e->pattern);
    if (rc != 0) {
        return rc;
    }
    ep.e.pattern = ep.pat.text;
    ep.e.subprotocol = NULL;
    if (e->subprotocol != NULL) {
        ep.e.subprotocol = strdup(e->subprotocol);
        if (ep.e.subprotocol == NULL) {
            httpd__pattern_free(&ep.pat);
            return ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < h->neps; i++) {
        if (httpd__pattern_same(&h->eps[i].pat, &ep.pat)) {
            rc = ERR_EXISTS;
        }
    }
    if (rc == 0 && h->neps == h->eps_cap) {
        size_t cap = h->eps_cap != 0 ? h->eps_cap * 2 : 4;
        struct httpd_ws_ep *ne = realloc(h->eps, cap * sizeof(*ne));
        if (ne == NULL) {
            rc = ERR_NOMEM;
        } else {
            h->eps = ne;
            h->eps_cap = cap;
        }
    }
    if (rc != 0) {
        httpd__pattern_free(&ep.pat);
        free((char *)ep.e.subprotocol);
        return rc;
    }
    /* The array may still move: the session lists are set up at start. */
    h->eps[h->neps++] = ep;
    return 0;
}

void httpd__ws_start(struct httpd *h)
{
    for (size_t i = 0; i < h->neps; i++) {
        if (h->eps[i].sessions.next == NULL) {
            httpd_list_init(&h->eps[i].sessions);
        }
    }
}

void httpd__ws_fini(struct httpd *h)
{
    (void)h; /* sessions end with their connections in lws_context_destroy() */
}

/* ---------------------------------------------------------------------- */
/* Upgrade                                                                 */
/* ---------------------------------------------------------------------- */

static struct httpd_ws_ep *ep_find(struct httpd *h, struct httpd_req *req, const char *proto)
{
    for (size_t i = 0; i < h->neps; i++) {
        struct httpd_ws_ep *ep = &h->eps[i];
        const char *want = ep->e.subprotocol != NULL ? ep->e.subprotocol : "http";
        if (httpd__pattern_match(&ep->pat, req->path, NULL, NULL, NULL) <= 0 ||
            strcmp(want, proto) != 0) {
            continue;
        }
        if (ep->pat.nsegs > 0) {
            req->params = arena_alloc(&req->arena, ep->pat.nsegs * sizeof(*req->params));
            if (req->params == NULL || httpd__pattern_match(&ep->pat, req->path, &req->arena,
                                                            req->params, &req->nparams) <= 0) {
                return NULL;
            }
        }
        return ep;
    }
    return NULL;
}

static struct httpd_ws *session_new(struct httpd_conn *c, struct httpd_ws_ep *ep,
                                    struct httpd_req *req)
{
    size_t lr = strlen(req->rid) + 1, lp = strlen(req->path) + 1, lc = strlen(req->client) + 1;
    struct httpd_ws *ws = calloc(1, sizeof(*ws) + lr + lp + lc);

    if (ws == NULL) {
        return NULL;
    }
    ws->h = c->h;
    ws->conn = c;
    ws->ep = ep;
    ws->rid = (char *)(ws + 1);
    ws->path = ws->rid + lr;
    ws->client = ws->path + lp;
    memcpy(ws->rid, req->rid, lr);
    memcpy(ws->path, req->path, lp);
    memcpy(ws->client, req->client, lc);
    ws->start_us = req->start_us;
    ws->max_queue =
        ep->e.max_queue_bytes > 0 ? ep->e.max_queue_bytes : c->h->cfg.ws_max_queue_bytes;
    return ws;
}

static void session_free(struct httpd_ws *ws)
{
    queue_clear(ws);
    free(ws->rx);
    free(ws);
}

/*
 * Caps the kernel's send buffer of a session. Without it the kernel grows it
 * to net.ipv4.tcp_wmem's maximum (4 MiB or more) before our own queue sees a
 * slow reader, so what a stalled client may hold, and how fast it is found
 * out, would depend on the host's sysctls. Best effort: a failure is logged.
 */
static void limit_sndbuf(struct lws *wsi, int bytes)
{
    lws_sockfd_type fd = lws_get_socket_fd(wsi);

    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) != 0) {
        LOG_WARN(HTTPD, "event=ws_sndbuf_failed errno=%d", errno);
    }
}

/* Refuses the upgrade: writes the answer now; lws closes when we return 1. */
static int refuse(struct httpd_req *req, struct lws *wsi)
{
    httpd__write_now(req, wsi);
    return 1;
}

static const char *refusal_code(int status)
{
    switch (status) {
    case HTTPD_STATUS_UNAUTHORIZED:
        return "unauthorized";
    case HTTPD_STATUS_FORBIDDEN:
        return "forbidden";
    case HTTPD_STATUS_NOT_FOUND:
        return "not_found";
    default:
        return status >= 500 ? "internal_error" : "refused";
    }
}

int httpd__ws_filter(struct httpd_conn *c, struct lws *wsi)
{
    struct httpd *h = c->h;
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    struct httpd_req *req;
    struct httpd_ws_ep *ep;
    struct httpd_ws *ws;
    int rc;

    if (c->req != NULL) {
        return 1;
    }
    req = httpd__req_new(c);
    if (req == NULL) {
        return 1;
    }
    c->req = req;
    req->is_ws = true;
    c->nrequests++;
    rc = httpd__req_parse_head(req, wsi);
    if (rc != 0) {
        httpd__fail(req, HTTPD_STATUS_BAD_REQUEST, "bad_request", "malformed upgrade request");
        return refuse(req, wsi);
    }
    if (httpd__head_too_large(req, wsi)) {
        httpd__fail(req, HTTPD_STATUS_HEADERS_TOO_LARGE, "headers_too_large",
                    "the request headers are too large");
        return refuse(req, wsi);
    }
    if (h->draining) {
        httpd__fail(req, HTTPD_STATUS_UNAVAILABLE, "shutting_down", "the server is shutting down");
        return refuse(req, wsi);
    }
    ep = req->method == HTTPD_GET
             ? ep_find(h, req, proto != NULL && proto->name != NULL ? proto->name : "http")
             : NULL;
    if (ep == NULL) {
        httpd__fail(req, HTTPD_STATUS_NOT_FOUND, "not_found", "no WebSocket endpoint here");
        return refuse(req, wsi);
    }
    ws = session_new(c, ep, req);
    if (ws == NULL) {
        httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
        return refuse(req, wsi);
    }
    if (ep->e.on_open != NULL) {
        httpd__hold(req);
        req->dispatching = true;
        rc = ep->e.on_open(ws, req, ep->e.arg);
        req->dispatching = false;
        if (req->held) {
            httpd__unhold(req);
        }
        if (rc != 0) {
            if (!req->answered) {
                int status = rc >= 400 && rc <= 599 ? rc : HTTPD_STATUS_INTERNAL_ERROR;
                httpd__fail(req, status, refusal_code(status),
                            status >= 500 ? "internal error" : "WebSocket connection refused");
            }
            session_free(ws);
            return refuse(req, wsi);
        }
    }
    limit_sndbuf(wsi, (int)c->h->cfg.ws_sndbuf_bytes);
    c->ws = ws;
    httpd_list_append(&ep->sessions, &ws->ep_link);
    counter_inc(&httpd__c_ws_sessions);
    /* The upgrade request is over; the session logs its line when it ends. */
    c->req = NULL;
    req->conn = NULL;
    req->finished = true;
    counter_dec(&httpd__c_in_flight);
    httpd__req_maybe_free(req);
    return 0;
}

void httpd__ws_add_headers(struct httpd_conn *c, struct lws_process_html_args *args)
{
    int n;

    if (c->ws == NULL || args == NULL || args->p == NULL) {
        return;
    }
    n = snprintf(args->p, (size_t)args->max_len, "X-Request-Id: %s\r\n", c->ws->rid);
    if (n > 0 && n < args->max_len) {
        args->p += n;
        args->max_len -= n;
    }
}

int httpd__ws_established(struct httpd_conn *c)
{
    struct httpd_ws *ws = c->ws;

    if (ws == NULL) {
        return -1;
    }
    ws->established = true;
    if (ws->qcount > 0 || ws->closing) {
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Traffic                                                                 */
/* ---------------------------------------------------------------------- */

static void deliver(struct httpd_ws *ws, const void *data, size_t len, bool binary)
{
    if (ws->ep->e.on_message != NULL && !ws->dropped) {
        ws->ep->e.on_message(ws, data, len, binary, ws->ep->e.arg);
    }
}

int httpd__ws_receive(struct httpd_conn *c, const void *data, size_t len)
{
    struct httpd_ws *ws = c->ws;
    struct lws *wsi = c->wsi;
    bool first, final;

    if (ws == NULL || ws->dropped) {
        return 0;
    }
    first = lws_is_first_fragment(wsi) != 0;
    final = lws_is_final_fragment(wsi) != 0;
    if (first) {
        ws->rx_len = 0;
        ws->rx_binary = lws_frame_is_binary(wsi) != 0;
    }
    if ((int64_t)(ws->rx_len + len) > ws->h->cfg.ws_max_message_bytes) {
        LOG_WARN(HTTPD, "event=ws_message_too_big server=%s rid=%s path=\"%s\"", ws->h->cfg.name,
                 ws->rid, ws->path);
        ws->reason = ERR_TOOBIG;
        queue_clear(ws);
        ws->dropped = true;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"too big", 7);
        return -1;
    }
    if (final && ws->rx_len == 0) {
        deliver(ws, data, len, ws->rx_binary);
        return 0;
    }
    if (ws->rx_len + len > ws->rx_cap) {
        size_t cap = ws->rx_cap != 0 ? ws->rx_cap : 4096;
        unsigned char *nr;
        while (cap < ws->rx_len + len) {
            cap *= 2;
        }
        nr = realloc(ws->rx, cap);
        if (nr == NULL) {
            return -1;
        }
        ws->rx = nr;
        ws->rx_cap = cap;
    }
    memcpy(ws->rx + ws->rx_len, data, len);
    ws->rx_len += len;
    if (final) {
        size_t n = ws->rx_len;
        ws->rx_len = 0;
        deliver(ws, ws->rx, n, ws->rx_binary);
    }
    return 0;
}

int httpd__ws_writeable(struct httpd_conn *c)
{
    struct httpd_ws *ws = c->ws;
    struct ws_msg *m;

    if (ws == NULL || ws->dropped) {
        return ws == NULL ? 0 : -1;
    }
    if (ws->qcount == 0) {
        if (ws->closing) {
            lws_close_reason(c->wsi, (enum lws_close_status)ws->close_code,
                             (unsigned char *)ws->close_reason, strlen(ws->close_reason));
            return -1;
        }
        return 0;
    }
    m = ws->q[ws->qhead];
    if (lws_write(c->wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) <
        (int)m->len) {
        return -1;
    }
    ws->qhead = (ws->qhead + 1) % ws->qcap;
    ws->qcount--;
    ws->queued -= m->len;
    ws->bytes_out += m->len;
    msg_unref(m);
    if (ws->qcount > 0 || ws->closing) {
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

void httpd__ws_peer_closed(struct httpd_conn *c)
{
    if (c->ws != NULL) {
        c->ws->peer_closed = true;
    }
}

void httpd__ws_closed(struct httpd_conn *c, int reason)
{
    struct httpd_ws *ws = c->ws;
    struct httpd *h = c->h;

    if (ws == NULL || ws->in_close) {
        return;
    }
    ws->in_close = true;
    c->ws = NULL;
    ws->conn = NULL;
    if (ws->reason != 0) {
        reason = ws->reason;
    } else if (ws->peer_closed || ws->closing) {
        reason = 0;
    }
    httpd_list_remove(&ws->ep_link);
    counter_dec(&httpd__c_ws_sessions);
    if (!h->cfg.no_access_log) {
        LOG_INFO(HTTPD,
                 "event=access server=%s method=GET path=\"%s\" status=101 bytes=%llu dur_us=%lld "
                 "rid=%s client=%s ws_close=%s",
                 h->cfg.name, ws->path, (unsigned long long)ws->bytes_out,
                 (long long)(clock_mono_us() - ws->start_us), ws->rid, ws->client,
                 reason == 0 ? "normal" : err_name(reason));
    }
    if (ws->ep->e.on_close != NULL) {
        ws->ep->e.on_close(ws, reason, ws->ep->e.arg);
    }
    session_free(ws);
    httpd__drain_check(h);
}

void httpd__ws_close_all(struct httpd *h)
{
    for (size_t i = 0; i < h->neps; i++) {
        struct httpd_ws_ep *ep = &h->eps[i];
        for (struct httpd_link *l = ep->sessions.next; l != &ep->sessions; l = l->next) {
            struct httpd_ws *ws = CONTAINER_OF(l, struct httpd_ws, ep_link);
            if (ws->reason == 0) {
                ws->reason = ERR_SHUTDOWN;
            }
            httpd_ws_close(ws, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
        }
    }
}
