/* SPDX-License-Identifier: MIT */
/*
 * httpd_req: one HTTP request from its head to its hand-over to the writer.
 *
 * LWS_CALLBACK_HTTP brings the head. We parse method, path and query (lws has
 * already %-decoded them and collapsed "." and ".." segments), pick the
 * request id, check the head size, decide the body framing ourselves
 * (Content-Length, or chunked which lws does not decode), route, check the
 * body limits and media type, and then either dispatch at once (no body),
 * buffer the body until it is complete, or -- for a streaming route -- call
 * the handler now and feed it the body piece by piece.
 *
 * Holding. From dispatch until its respond call, the handler holds the
 * request (`held`; it sits in h->held and in the handle table). A request is
 * freed only when it is neither held nor attached to a connection nor on the
 * stack in a callback (`dispatching`), so a deferred handler's pointer stays
 * valid whatever the client does; when the client leaves, `dropped` turns the
 * later response into a no-op. Every call into user code (handler, on_chunk,
 * on_end, abort) is bracketed by `dispatching` so the request cannot be freed
 * under it.
 *
 * Flow control. HTTPD_PAUSE from on_chunk stops lws reading the socket
 * (lws_rx_flow_control). What is left of the current read buffer (at most
 * 64 KiB, possibly several chunked-encoding chunks) is stashed and fed first
 * on resume, from a zero-delay timer so that on_chunk never runs inside
 * httpd_req_resume(). While paused, lws's body-stall timeout is stretched to
 * request_timeout_ms.
 *
 * Reading. lws 4.1 keeps POLLIN armed while a request is being handled but
 * does not read in that state, so a level-triggered loop would spin on a
 * client's FIN (or pipelined bytes) for as long as a deferred handler
 * works. So while we wait for a handler (or a paused body) we switch lws's
 * reading off (lws_rx_flow_control) -- it cannot stay off while we write,
 * because lws then ignores POLLOUT too -- and our own ev_io on the socket
 * watches for the client leaving, from then until the response is written:
 * readable with the TCP state no longer ESTABLISHED (a FIN arrived) means it
 * is gone -- we treat a half-close as a disconnect, as nginx does -- and the
 * connection is closed, which runs the abort callback. Readable while still
 * ESTABLISHED (pipelined data, a TLS alert) switches to polling the TCP
 * state once a second instead.
 *
 * Head size (431). lws keeps the head in a buffer of twice max_header_bytes
 * and drops larger heads without telling us. For those that fit we measure:
 * the request line and every header lws knows by name, and -- on plain TCP --
 * the bytes lws consumed from the socket for this request (TCP_INFO's
 * bytes_received minus what is still queued), minus any body it may have read
 * along. That is exact for requests without a body; headers lws does not know
 * by name are only seen through this byte count.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/httpd_int.h"
#include "core/log.h"

enum {
    TCP_STATE_ESTABLISHED = 1, /* tcp_info.tcpi_state, as in <netinet/tcp.h> */
    POOL_MAX = 64,             /* free requests kept for reuse */
    ARENA_BLOCK = 4096,        /* first arena block, kept with a pooled request */
    NAME_MAX_LEN = 64,         /* longest header name we look up */
    STASH_MAX = 64 * 1024,     /* the rest of one read buffer */
};

static void req_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void req_resume_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void live_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* A handler (or a paused body's consumer) has the next move: see "Reading". */
static void wait_for_handler(struct httpd_req *req)
{
    if (req->conn != NULL) {
        httpd__rx(req->conn, false);
    }
    httpd__live_start(req);
}

static void body_input(struct httpd_req *req, const unsigned char *data, size_t len);

/* ---------------------------------------------------------------------- */
/* Header-name table                                                       */
/* ---------------------------------------------------------------------- */

struct token_name {
    char name[40]; /* lower case, without the colon */
    size_t len;
    int token;
};

static struct token_name token_names[WSI_TOKEN_COUNT];
static size_t ntoken_names;
static pthread_once_t token_once = PTHREAD_ONCE_INIT;

static void token_names_init(void)
{
    for (int i = 0; i < (int)WSI_TOKEN_COUNT; i++) {
        const char *s = (const char *)lws_token_to_string((enum lws_token_indexes)i);
        size_t len;
        if (s == NULL) {
            continue;
        }
        len = strlen(s);
        /* Header tokens end with ':'; methods ("get ") and pseudo-headers do not. */
        if (len < 2 || s[len - 1] != ':' || s[0] == ':' || len > sizeof(token_names[0].name)) {
            continue;
        }
        memcpy(token_names[ntoken_names].name, s, len - 1);
        token_names[ntoken_names].name[len - 1] = '\0';
        token_names[ntoken_names].len = len - 1;
        token_names[ntoken_names].token = i;
        ntoken_names++;
    }
}

static int token_find(const char *lname, size_t len)
{
    pthread_once(&token_once, token_names_init);
    for (size_t i = 0; i < ntoken_names; i++) {
        if (token_names[i].len == len && memcmp(token_names[i].name, lname, len) == 0) {
            return token_names[i].token;
        }
    }
    return -1;
}

/* A known header's value copied into a, or NULL when absent. */
static char *token_value(struct lws *wsi, struct arena *a, int token)
{
    int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)token);
    char *v;

    if (len <= 0) {
        return NULL;
    }
    v = arena_alloc(a, (size_t)len + 1);
    if (v == NULL || lws_hdr_copy(wsi, v, len + 1, (enum lws_token_indexes)token) < 0) {
        return NULL;
    }
    return v;
}

static const char *lookup_header(struct httpd_req *req, struct lws *wsi, const char *name)
{
    char lname[NAME_MAX_LEN + 2];
    size_t len = strlen(name);
    int token, n;
    char *v;

    if (len == 0 || len > NAME_MAX_LEN) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        lname[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    lname[len] = '\0';
    token = token_find(lname, len);
    if (token >= 0) {
        return token_value(wsi, &req->arena, token);
    }
    /* lws stores unknown header names lower-cased, with their colon. */
    lname[len] = ':';
    lname[len + 1] = '\0';
    n = lws_hdr_custom_length(wsi, lname, (int)len + 1);
    if (n < 0) {
        return NULL;
    }
    v = arena_alloc(&req->arena, (size_t)n + 1);
    if (v == NULL || lws_hdr_custom_copy(wsi, v, n + 1, lname, (int)len + 1) < 0) {
        return NULL;
    }
    return v;
}

const char *httpd_req_header(struct httpd_req *req, const char *name)
{
    const char *v;

    for (size_t i = 0; i < req->hdr_ncache; i++) {
        if (strcasecmp(req->hdr_cache[i].name, name) == 0) {
            return req->hdr_cache[i].value;
        }
    }
    if (req->conn == NULL || req->conn->wsi == NULL) {
        return NULL;
    }
    v = lookup_header(req, req->conn->wsi, name);
    if (req->hdr_ncache == req->hdr_ccap) {
        size_t cap = req->hdr_ccap != 0 ? req->hdr_ccap * 2 : 8;
        struct httpd_kv *nc = arena_alloc(&req->arena, cap * sizeof(*nc));
        if (nc == NULL) {
            return v;
        }
        if (req->hdr_ncache > 0) {
            memcpy(nc, req->hdr_cache, req->hdr_ncache * sizeof(*nc));
        }
        req->hdr_cache = nc;
        req->hdr_ccap = cap;
    }
    req->hdr_cache[req->hdr_ncache].name = arena_strdup(&req->arena, name);
    if (req->hdr_cache[req->hdr_ncache].name != NULL) {
        req->hdr_cache[req->hdr_ncache].value = v;
        req->hdr_ncache++;
    }
    return v;
}

/* ---------------------------------------------------------------------- */
/* Request objects                                                         */
/* ---------------------------------------------------------------------- */

struct httpd_req *httpd__req_new(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    struct httpd_req *req = h->pool;
    struct arena keep;

    if (req != NULL) {
        h->pool = req->pool_next;
        h->npool--;
        keep = req->arena;
    } else {
        req = malloc(sizeof(*req));
        if (req == NULL) {
            return NULL;
        }
        arena_init(&keep, ARENA_BLOCK);
    }
    memset(req, 0, sizeof(*req));
    req->arena = keep;
    req->h = h;
    req->conn = c;
    req->content_length = -1;
    req->resp.fd = -1;
    req->handle = h->next_handle++;
    req->start_us = clock_mono_us();
    req->client = arena_strdup(&req->arena, c->client);
    if (req->client == NULL) {
        req->client = "?";
    }
    ev_timer_init(&req->timer, req_timeout_cb, 0., 0.);
    ev_timer_init(&req->resume_w, req_resume_cb, 0., 0.);
    ev_timer_init(&req->live_t, live_timer_cb, 1., 1.);
    counter_inc(&httpd__c_in_flight);
    return req;
}

static void held_table_grow(struct httpd *h)
{
    size_t nb = h->held_buckets != 0 ? h->held_buckets * 2 : 64;
    struct httpd_req **t = calloc(nb, sizeof(*t));

    if (t == NULL) {
        return; /* keep the old table; chains just get longer */
    }
    for (size_t i = 0; i < h->held_buckets; i++) {
        struct httpd_req *r = h->held_table[i];
        while (r != NULL) {
            struct httpd_req *next = r->hash_next;
            size_t b = (size_t)(r->handle & (nb - 1));
            r->hash_next = t[b];
            t[b] = r;
            r = next;
        }
    }
    free(h->held_table);
    h->held_table = t;
    h->held_buckets = nb;
}

/* The handler now holds req: it is findable by handle and counted for the drain. */
void httpd__hold(struct httpd_req *req)
{
    struct httpd *h = req->h;
    size_t b;

    if (h->nheld >= h->held_buckets) {
        held_table_grow(h);
    }
    req->held = true;
    httpd_list_append(&h->held, &req->held_link);
    h->nheld++;
    if (h->held_buckets > 0) {
        b = (size_t)(req->handle & (h->held_buckets - 1));
        req->hash_next = h->held_table[b];
        h->held_table[b] = req;
    }
}

void httpd__unhold(struct httpd_req *req)
{
    struct httpd *h = req->h;

    if (!req->held) {
        return;
    }
    req->held = false;
    httpd_list_remove(&req->held_link);
    h->nheld--;
    if (h->held_buckets > 0) {
        struct httpd_req **pp = &h->held_table[req->handle & (h->held_buckets - 1)];
        while (*pp != NULL && *pp != req) {
            pp = &(*pp)->hash_next;
        }
        if (*pp == req) {
            *pp = req->hash_next;
        }
    }
    req->hash_next = NULL;
    ev_timer_stop(h->loop, &req->timer);
    httpd__drain_check(h);
}

struct httpd_req *httpd_req_lookup(struct httpd *h, uint64_t handle)
{
    if (h->held_buckets == 0) {
        return NULL;
    }
    for (struct httpd_req *r = h->held_table[handle & (h->held_buckets - 1)]; r != NULL;
         r = r->hash_next) {
        if (r->handle == handle) {
            return r;
        }
    }
    return NULL;
}

int httpd_req_on_release(struct httpd_req *req, httpd_cleanup_fn *fn, void *arg)
{
    struct httpd_cleanup *c = arena_alloc(&req->arena, sizeof(*c));

    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = req->cleanups;
    req->cleanups = c;
    return 0;
}

static void req_release(struct httpd_req *req)
{
    struct httpd *h = req->h;

    for (struct httpd_cleanup *c = req->cleanups; c != NULL; c = c->next) {
        c->fn(c->arg);
    }
    req->cleanups = NULL;

    ev_timer_stop(h->loop, &req->timer);
    ev_timer_stop(h->loop, &req->resume_w);
    httpd__live_stop(req);
    free(req->stash);
    req->stash = NULL;
    json_decref(req->json);
    req->json = NULL;
    if (req->body_heap) {
        free(req->body);
    }
    req->body = NULL;
    httpd__resp_clear(&req->resp);
    if (!req->finished) {
        req->finished = true;
        counter_dec(&httpd__c_in_flight);
    }
    if (h->npool < POOL_MAX) {
        arena_reset(&req->arena);
        req->pool_next = h->pool;
        h->pool = req;
        h->npool++;
    } else {
        arena_fini(&req->arena);
        free(req);
    }
}

void httpd__req_maybe_free(struct httpd_req *req)
{
    if (!req->dispatching && !req->held && req->conn == NULL) {
        req_release(req);
    }
}

void httpd__reqs_fini(struct httpd *h)
{
    while (h->pool != NULL) {
        struct httpd_req *r = h->pool;
        h->pool = r->pool_next;
        arena_fini(&r->arena);
        free(r);
    }
    h->npool = 0;
}

/* Calls the abort callback once, with req protected from being freed under it. */
static void call_abort(struct httpd_req *req, int reason)
{
    if (req->aborted || !req->held || req->abort_cb == NULL) {
        req->aborted = true;
        return;
    }
    req->aborted = true;
    req->dispatching = true;
    req->abort_cb(req, reason, req->abort_arg);
    req->dispatching = false;
}

void httpd__abort_held(struct httpd *h)
{
    while (!httpd_list_empty(&h->held)) {
        struct httpd_req *req = CONTAINER_OF(h->held.next, struct httpd_req, held_link);
        req->dropped = true;
        LOG_WARN(HTTPD, "event=request_aborted server=%s rid=%s path=\"%s\" reason=shutdown",
                 h->cfg.name, req->rid, httpd__log_escape(&req->arena, req->path));
        call_abort(req, ERR_SHUTDOWN);
        httpd__unhold(req);
        if (req->conn != NULL) {
            req->conn->req = NULL;
            req->conn = NULL;
        }
        httpd__req_maybe_free(req);
    }
}

void httpd__conn_gone(struct httpd_conn *c)
{
    struct httpd_req *req = c->req;

    if (c->ws != NULL) {
        httpd__ws_closed(c, ERR_CLOSED);
    }
    if (req == NULL) {
        return;
    }
    c->req = NULL;
    req->conn = NULL;
    req->dropped = true;
    ev_timer_stop(c->h->loop, &req->resume_w);
    httpd__live_stop(req);
    if (!req->finished) {
        httpd__access_log(req, HTTPD_LOG_CLIENT_GONE, 0);
        req->finished = true;
        counter_dec(&httpd__c_in_flight);
    }
    call_abort(req, ERR_CLOSED);
    httpd__req_maybe_free(req);
}

/* ---------------------------------------------------------------------- */
/* Reading and liveness                                                    */
/* ---------------------------------------------------------------------- */

void httpd__rx(struct httpd_conn *c, bool on)
{
    if (c->wsi == NULL || c->rx_off == !on) {
        return;
    }
    c->rx_off = !on;
    lws_rx_flow_control(c->wsi, on ? 1 : 0);
}

/* True when the peer has closed its side (or the socket is unusable). */
static bool peer_gone(int fd)
{
    struct tcp_info ti;
    socklen_t sl = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) == -1) {
        return true;
    }
    return ti.tcpi_state != TCP_STATE_ESTABLISHED;
}

static void client_left(struct httpd_req *req)
{
    struct httpd_conn *c = req->conn;

    httpd__live_stop(req);
    if (c != NULL) {
        LOG_INFO(HTTPD, "event=client_left server=%s rid=%s path=\"%s\"", req->h->cfg.name,
                 req->rid, httpd__log_escape(&req->arena, req->path));
        httpd__conn_kill(c);
    }
}

static void live_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd_req *req = CONTAINER_OF(w, struct httpd_req, live_t);
    (void)loop;
    (void)revents;

    if (peer_gone(req->live_w.fd)) {
        client_left(req);
    }
}

static void live_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpd_req *req = CONTAINER_OF(w, struct httpd_req, live_w);
    (void)revents;

    if (peer_gone(w->fd)) {
        client_left(req);
        return;
    }
    /* Data, not a close: stop the level-triggered watcher (its fd stays
     * recorded in it), poll instead. */
    ev_io_stop(loop, w);
    ev_timer_again(loop, &req->live_t);
}

void httpd__live_start(struct httpd_req *req)
{
    struct httpd_conn *c = req->conn;
    int fd;

    if (req->live_on || c == NULL || c->wsi == NULL) {
        return;
    }
    fd = lws_get_socket_fd(c->wsi);
    if (fd < 0) {
        return;
    }
    req->live_on = true;
    ev_io_init(&req->live_w, live_io_cb, fd, EV_READ);
    ev_io_start(req->h->loop, &req->live_w);
}

void httpd__live_stop(struct httpd_req *req)
{
    if (!req->live_on) {
        return;
    }
    req->live_on = false;
    ev_io_stop(req->h->loop, &req->live_w);
    ev_timer_stop(req->h->loop, &req->live_t);
}

/* ---------------------------------------------------------------------- */
/* Head                                                                    */
/* ---------------------------------------------------------------------- */

static enum httpd_method map_method(int m)
{
    switch (m) {
    case LWSHUMETH_GET:
        return HTTPD_GET;
    case LWSHUMETH_POST:
        return HTTPD_POST;
    case LWSHUMETH_OPTIONS:
        return HTTPD_OPTIONS;
    case LWSHUMETH_PUT:
        return HTTPD_PUT;
    case LWSHUMETH_PATCH:
        return HTTPD_PATCH;
    case LWSHUMETH_DELETE:
        return HTTPD_DELETE;
    case LWSHUMETH_HEAD:
        return HTTPD_HEAD;
    default:
        return 0;
    }
}

static int parse_query(struct httpd_req *req, struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    char *buf;
    size_t n = 0;
    int nfrag = 0;

    if (total <= 0) {
        return 0;
    }
    buf = arena_alloc(&req->arena, (size_t)total + 1);
    if (buf == NULL) {
        return ERR_NOMEM;
    }
    /* lws has split the query at '&' and ';' into fragments: count them. */
    while (nfrag <= total &&
           lws_hdr_copy_fragment(wsi, buf, total + 1, WSI_TOKEN_HTTP_URI_ARGS, nfrag) >= 0) {
        nfrag++;
    }
    req->query = arena_alloc(&req->arena, ((size_t)nfrag + 1) * sizeof(*req->query));
    if (req->query == NULL) {
        return ERR_NOMEM;
    }
    for (int i = 0; i < nfrag; i++) {
        int len = lws_hdr_copy_fragment(wsi, buf, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq, *name;
        if (len < 0) {
            break;
        }
        if (len == 0) {
            continue;
        }
        name = arena_strndup(&req->arena, buf, (size_t)len);
        if (name == NULL) {
            return ERR_NOMEM;
        }
        eq = strchr(name, '=');
        if (eq != NULL) {
            *eq = '\0';
            req->query[n].value = eq + 1;
        } else {
            req->query[n].value = "";
        }
        req->query[n].name = name;
        n++;
    }
    req->nquery = n;
    return 0;
}

static const char *new_request_id(struct httpd_req *req)
{
    struct httpd *h = req->h;
    return arena_sprintf(&req->arena, "%08x%012llx", h->rid_prefix,
                         (unsigned long long)(++h->rid_seq & UINT64_C(0xffffffffffff)));
}

int httpd__req_parse_head(struct httpd_req *req, struct lws *wsi)
{
    char *uri = NULL;
    int ulen = 0;
    int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    const char *rid;

    rid = lookup_header(req, wsi, "x-request-id");
    req->rid = httpd__request_id_ok(rid) ? rid : new_request_id(req);
    if (req->rid == NULL) {
        return ERR_NOMEM;
    }
    if (m < 0 || uri == NULL) {
        req->path = "?";
        req->method_name = "?";
        return ERR_PARSE;
    }
    req->path = arena_strndup(&req->arena, uri, (size_t)ulen);
    if (req->path == NULL) {
        return ERR_NOMEM;
    }
    req->method = map_method(m);
    req->method_name = httpd__method_name(req->method);
    if (req->method == 0) {
        req->method_name = m == LWSHUMETH_CONNECT ? "CONNECT" : "?";
        return ERR_PARSE;
    }
    req->head_only = req->method == HTTPD_HEAD;
    {
        const char *conn = token_value(wsi, &req->arena, WSI_TOKEN_CONNECTION);
        const char *ver = token_value(wsi, &req->arena, WSI_TOKEN_HTTP);
        req->close = (conn != NULL && strcasestr(conn, "close") != NULL) ||
                     (ver != NULL && strcmp(ver, "HTTP/1.0") == 0);
    }
    return parse_query(req, wsi);
}

/* Bytes of this connection that lws has taken from the kernel; -1 if unknown. */
static int64_t tcp_consumed(struct lws *wsi)
{
    struct tcp_info ti;
    socklen_t sl = sizeof(ti);
    int fd = lws_get_socket_fd(wsi);
    int inq = 0;

    memset(&ti, 0, sizeof(ti));
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) == -1 ||
        sl < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received) ||
        ioctl(fd, SIOCINQ, &inq) == -1) {
        return -1;
    }
    return (int64_t)ti.tcpi_bytes_received - inq;
}

bool httpd__head_too_large(struct httpd_req *req, struct lws *wsi)
{
    struct httpd *h = req->h;
    int64_t limit = h->cfg.max_header_bytes;
    int64_t known = (int64_t)strlen(req->method_name) + 12; /* " HTTP/1.1\r\n" + space */
    int64_t consumed;

    pthread_once(&token_once, token_names_init);
    known += (int64_t)strlen(req->path) + lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    for (size_t i = 0; i < ntoken_names; i++) {
        int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)token_names[i].token);
        if (len > 0) {
            known += (int64_t)token_names[i].len + 4 + len; /* ": " and CRLF */
        }
    }
    if (known > limit) {
        return true;
    }
    if (h->tls || req->conn == NULL) {
        return false; /* TLS records make the byte count meaningless */
    }
    consumed = tcp_consumed(wsi);
    if (consumed < 0) {
        return false;
    }
    consumed -= req->conn->rx_base;
    if (req->body_mode == HTTPD_BODY_LENGTH) {
        consumed -= req->content_length;
    } else if (req->body_mode == HTTPD_BODY_CHUNKED) {
        return false; /* how much body came along is unknown */
    }
    return consumed > limit;
}

/* Records where the next request on c starts, for httpd__head_too_large(). */
void httpd__conn_mark_rx(struct httpd_conn *c)
{
    int64_t consumed;

    if (c->h->tls || c->wsi == NULL) {
        return;
    }
    consumed = tcp_consumed(c->wsi);
    if (consumed >= 0) {
        c->rx_base = consumed;
    }
}

/* Decides the body framing. 0, or an error response was given. */
static int body_framing(struct httpd_req *req, struct lws *wsi)
{
    char *te = token_value(wsi, &req->arena, WSI_TOKEN_HTTP_TRANSFER_ENCODING);
    char *cl = token_value(wsi, &req->arena, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    char *expect = token_value(wsi, &req->arena, WSI_TOKEN_HTTP_EXPECT);
    bool lws_reads_body =
        req->method == HTTPD_POST || req->method == HTTPD_PUT || req->method == HTTPD_PATCH;

    req->expect_continue = expect != NULL && strcasecmp(expect, "100-continue") == 0;
    if (te != NULL) {
        while (*te == ' ') {
            te++;
        }
        if (cl != NULL) {
            req->lws_body_pending = true;
            httpd__fail(req, HTTPD_STATUS_BAD_REQUEST, "bad_request",
                        "Content-Length and Transfer-Encoding together");
            return ERR_PARSE;
        }
        if (strncasecmp(te, "chunked", 7) != 0 || (te[7] != '\0' && te[7] != ' ') ||
            !lws_reads_body) {
            req->lws_body_pending = lws_reads_body;
            httpd__fail(req, HTTPD_STATUS_NOT_IMPLEMENTED, "not_implemented",
                        "only chunked request bodies on POST, PUT and PATCH are supported");
            return ERR_PARSE;
        }
        /* lws counts the chunked wire bytes as a 100 MiB body: it will wait
         * for more after the last chunk, so this connection closes after
         * the response. */
        req->body_mode = HTTPD_BODY_CHUNKED;
        req->lws_body_pending = true;
        httpd__chunked_init(&req->chunked);
        return 0;
    }
    if (cl != NULL) {
        char *end = NULL;
        long long v;
        errno = 0;
        v = strtoll(cl, &end, 10);
        if (cl[0] < '0' || cl[0] > '9' || errno != 0 || end == cl || *end != '\0' || v < 0) {
            req->lws_body_pending = true;
            httpd__fail(req, HTTPD_STATUS_BAD_REQUEST, "bad_request", "invalid Content-Length");
            return ERR_PARSE;
        }
        req->content_length = v;
        req->body_mode = v > 0 ? HTTPD_BODY_LENGTH : HTTPD_BODY_NONE;
        req->lws_body_pending = v > 0;
        return 0;
    }
    /* No framing: no body, but lws expects one for these methods. */
    req->body_mode = HTTPD_BODY_NONE;
    req->lws_body_pending = lws_reads_body;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Routing and dispatch                                                    */
/* ---------------------------------------------------------------------- */

static bool route_accepts(const struct httpd_route_int *ri, enum httpd_method m)
{
    return (ri->r.methods & m) != 0 || (m == HTTPD_HEAD && (ri->r.methods & HTTPD_GET) != 0);
}

static const struct httpd_route_int *route_find(struct httpd *h, struct httpd_req *req,
                                                unsigned *allowed)
{
    const struct httpd_route_int *best = NULL;
    int64_t best_score = 0;

    *allowed = 0;
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct httpd_route_int *ri = &h->routes[i];
        int64_t score = httpd__pattern_match(&ri->pat, req->path, NULL, NULL, NULL);
        if (score <= 0) {
            continue;
        }
        *allowed |= ri->r.methods;
        if ((ri->r.methods & HTTPD_GET) != 0) {
            *allowed |= HTTPD_HEAD;
        }
        if (route_accepts(ri, req->method) && score > best_score) {
            best = ri;
            best_score = score;
        }
    }
    return best;
}

static bool ws_endpoint_matches(struct httpd *h, const char *path)
{
    for (size_t i = 0; i < h->neps; i++) {
        if (httpd__pattern_match(&h->eps[i].pat, path, NULL, NULL, NULL) > 0) {
            return true;
        }
    }
    return false;
}

/* Writes "HTTP/1.1 100 Continue" when the client waits for it. */
static void send_continue(struct httpd_req *req)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    unsigned char buf[LWS_PRE + sizeof(cont)];

    if (!req->expect_continue || req->conn == NULL) {
        return;
    }
    req->expect_continue = false; /* answered: the body will come */
    memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
    lws_write(req->conn->wsi, buf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP_HEADERS);
}

/* After a handler (or on_end) returned rc. */
static void handler_done(struct httpd_req *req, int rc, bool arm_timer)
{
    struct httpd *h = req->h;

    if (!req->held) {
        return; /* responded */
    }
    if (rc == HTTPD_DEFERRED) {
        if (arm_timer && !req->dropped && !req->answered) {
            ev_timer_set(&req->timer, (double)h->cfg.request_timeout_ms / 1000.0, 0.);
            ev_timer_start(h->loop, &req->timer);
            if (req->conn != NULL) {
                /* Our timer rules now, not lws's content timeout. */
                lws_set_timeout(req->conn->wsi, NO_PENDING_TIMEOUT, 0);
            }
            wait_for_handler(req);
        }
        return;
    }
    if (rc < 0) {
        LOG_ERR(HTTPD, "event=handler_failed server=%s rid=%s path=\"%s\" err=%s", h->cfg.name,
                req->rid, httpd__log_escape(&req->arena, req->path), err_name(rc));
    } else {
        LOG_ERR(HTTPD, "event=handler_no_response server=%s rid=%s path=\"%s\" rc=%d", h->cfg.name,
                req->rid, httpd__log_escape(&req->arena, req->path), rc);
    }
    httpd__unhold(req);
    if (!req->answered && !req->dropped) {
        httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
    }
}

/* Runs the route's handler. The caller calls httpd__req_maybe_free() after. */
static int dispatch(struct httpd_req *req)
{
    const struct httpd_route_int *ri = req->route;
    int rc;

    httpd__hold(req);
    req->dispatching = true;
    rc = ri->r.handler(req, ri->r.arg);
    req->dispatching = false;
    handler_done(req, rc, ri->r.on_chunk == NULL || req->body_done);
    return rc;
}

static void call_on_end(struct httpd_req *req)
{
    const struct httpd_route_int *ri = req->route;

    if (!req->held) {
        return;
    }
    req->dispatching = true;
    ri->r.on_end(req, ri->r.arg);
    req->dispatching = false;
    handler_done(req, HTTPD_DEFERRED, true);
}

/* The body is complete: parse it and dispatch (buffered), or tell the stream. */
static void body_complete(struct httpd_req *req)
{
    req->body_done = true;
    if (req->sink == HTTPD_SINK_STREAM) {
        if (req->paused) {
            req->end_pending = true;
            return;
        }
        call_on_end(req);
        return;
    }
    if (req->sink != HTTPD_SINK_BUFFER || req->answered) {
        return;
    }
    if (req->body == NULL) {
        req->body = (unsigned char *)"";
    } else {
        req->body[req->body_len] = '\0';
    }
    if (req->body_len > 0 && httpd__is_json_type(httpd_req_header(req, "content-type"))) {
        json_error_t err;
        req->json =
            json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
        if (req->json == NULL) {
            char *msg =
                arena_sprintf(&req->arena, "invalid JSON at line %d, column %d (byte %d): %s",
                              err.line, err.column, err.position, err.text);
            httpd__fail(req, HTTPD_STATUS_BAD_REQUEST, "invalid_json",
                        msg != NULL ? msg : "invalid JSON");
            return;
        }
    }
    dispatch(req);
}

/* The server refuses the rest of the body (413, 400...): answer and discard. */
static void body_refuse(struct httpd_req *req, int status, const char *code, const char *message,
                        int reason)
{
    req->sink = HTTPD_SINK_DISCARD;
    if (req->held) {
        /* A streaming handler holds it: it learns through its abort callback,
         * and its own late response will be dropped. */
        if (!req->answered) {
            httpd__fail(req, status, code, message);
        }
        req->dropped = true;
        call_abort(req, reason);
        return;
    }
    if (!req->answered) {
        httpd__fail(req, status, code, message);
    }
}

static void pause_reading(struct httpd_req *req)
{
    struct httpd_conn *c = req->conn;

    req->paused = true;
    if (c != NULL) {
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                        (int)((req->h->cfg.request_timeout_ms + 999) / 1000));
        wait_for_handler(req);
    }
}

/* Decoded body bytes. Returns 0 to go on, 1 to stop feeding (paused, refused, answered). */
static int body_data(struct httpd_req *req, const unsigned char *data, size_t len)
{
    const struct httpd_route_int *ri = req->route;
    int rc;

    if (req->body_seen + (int64_t)len > req->body_limit) {
        body_refuse(req, HTTPD_STATUS_PAYLOAD_TOO_LARGE, "body_too_large",
                    "the request body is too large", ERR_TOOBIG);
        return 1;
    }
    req->body_seen += (int64_t)len;
    if (req->sink == HTTPD_SINK_BUFFER) {
        if (req->body_len + len + 1 > req->body_cap) {
            size_t cap = req->body_cap != 0 ? req->body_cap * 2 : 4096;
            unsigned char *nb;
            while (cap < req->body_len + len + 1) {
                cap *= 2;
            }
            nb = realloc(req->body_heap ? req->body : NULL, cap);
            if (nb == NULL) {
                body_refuse(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error",
                            ERR_NOMEM);
                return 1;
            }
            if (!req->body_heap && req->body_len > 0) {
                memcpy(nb, req->body, req->body_len);
            }
            req->body = nb;
            req->body_cap = cap;
            req->body_heap = true;
        }
        memcpy(req->body + req->body_len, data, len);
        req->body_len += len;
        return 0;
    }
    if (req->sink != HTTPD_SINK_STREAM) {
        return 1;
    }
    req->dispatching = true;
    rc = ri->r.on_chunk(req, data, len, ri->r.arg);
    req->dispatching = false;
    if (!req->held || req->answered || req->dropped) {
        /* Responded (or refused by us) in the middle of the body. */
        req->sink = HTTPD_SINK_DISCARD;
        return 1;
    }
    if (rc == HTTPD_PAUSE) {
        pause_reading(req);
        return 1;
    }
    if (rc < 0) {
        LOG_ERR(HTTPD, "event=stream_failed server=%s rid=%s path=\"%s\" err=%s", req->h->cfg.name,
                req->rid, httpd__log_escape(&req->arena, req->path), err_name(rc));
        httpd__unhold(req);
        body_refuse(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error", rc);
        return 1;
    }
    return 0;
}

static int chunk_emit(const unsigned char *data, size_t len, void *arg)
{
    return body_data(arg, data, len);
}

/* Keeps the unread rest of a read buffer while paused. */
static void stash(struct httpd_req *req, const unsigned char *data, size_t len)
{
    size_t need = req->stash_len + len;
    unsigned char *ns;

    /* lws does not read while we are paused, so this is the rest of one
     * read buffer; anything more means reading did not stop. */
    if (need > 2 * STASH_MAX) {
        body_refuse(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error",
                    ERR_INTERNAL);
        return;
    }
    ns = realloc(req->stash, need);
    if (ns == NULL) {
        body_refuse(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error",
                    ERR_NOMEM);
        return;
    }
    req->stash = ns;
    memcpy(req->stash + req->stash_len, data, len);
    req->stash_len = need;
}

/* Feeds raw body bytes (as they came off the wire) through framing and sink. */
static void body_input(struct httpd_req *req, const unsigned char *data, size_t len)
{
    while (len > 0 && !req->paused && !req->body_done && req->sink != HTTPD_SINK_DISCARD) {
        if (req->body_mode == HTTPD_BODY_CHUNKED) {
            size_t used = 0;
            int rc = httpd__chunked_feed(&req->chunked, data, len, &used, chunk_emit, req);
            data += used;
            len -= used;
            if (rc == ERR_PARSE) {
                body_refuse(req, HTTPD_STATUS_BAD_REQUEST, "invalid_chunked",
                            "malformed chunked request body", ERR_PARSE);
                return;
            }
            if (req->chunked.state == HTTPD_CH_DONE) {
                body_complete(req);
                return;
            }
            if (rc != 0) {
                break;
            }
        } else {
            size_t n = len;
            if (req->content_length >= 0 && (int64_t)n > req->content_length - req->body_seen) {
                n = (size_t)(req->content_length - req->body_seen);
            }
            if (n == 0) {
                return;
            }
            int rc = body_data(req, data, n);
            data += n;
            len -= n;
            if (rc != 0) {
                break;
            }
        }
    }
    if (len > 0 && req->paused && req->sink == HTTPD_SINK_STREAM) {
        stash(req, data, len);
    }
}

static void req_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd_req *req = CONTAINER_OF(w, struct httpd_req, resume_w);
    unsigned char *buf = req->stash;
    size_t len = req->stash_len;
    (void)loop;
    (void)revents;

    req->stash = NULL;
    req->stash_len = 0;
    req->dispatching = true;
    if (len > 0) {
        body_input(req, buf, len);
    }
    free(buf);
    if (!req->paused && req->end_pending) {
        req->end_pending = false;
        call_on_end(req);
    }
    if (!req->paused && req->conn != NULL && req->sink != HTTPD_SINK_DISCARD && !req->body_done) {
        httpd__live_stop(req);
        httpd__rx(req->conn, true);
        lws_set_timeout(req->conn->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                        (int)((req->h->cfg.io_timeout_ms + 999) / 1000));
    }
    req->dispatching = false;
    httpd__req_maybe_free(req);
}

void httpd_req_resume(struct httpd_req *req)
{
    if (!req->paused) {
        return;
    }
    req->paused = false;
    /* Not synchronously: on_chunk must not run inside the caller. */
    ev_timer_set(&req->resume_w, 0., 0.);
    ev_timer_start(req->h->loop, &req->resume_w);
}

/* ---------------------------------------------------------------------- */
/* lws entry points                                                        */
/* ---------------------------------------------------------------------- */

/* No route takes req's method and path: 405, a static file, 426 or 404. */
static void route_missing(struct httpd_req *req, unsigned allowed)
{
    struct httpd *h = req->h;

    if (allowed != 0) {
        char methods[80], hdr[100];
        char *body;
        size_t len = 0;
        httpd__methods_format(allowed, methods, sizeof(methods));
        snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", methods);
        body =
            httpd__error_body("method_not_allowed", "method not allowed for this path", NULL, &len);
        httpd__respond(req, HTTPD_STATUS_METHOD_NOT_ALLOWED,
                       body != NULL ? "application/json" : NULL, (unsigned char *)body, len, hdr,
                       true);
    } else if (h->static_fd != -1 && (req->method == HTTPD_GET || req->method == HTTPD_HEAD)) {
        httpd__static_serve(req);
    } else if (ws_endpoint_matches(h, req->path) && req->method == HTTPD_GET) {
        httpd__fail(req, HTTPD_STATUS_UPGRADE_REQUIRED, "upgrade_required",
                    "this path takes WebSocket connections");
    } else {
        httpd__fail(req, HTTPD_STATUS_NOT_FOUND, "not_found", "no such resource");
    }
}

/* Routes req and starts reading its body (or dispatches it). */
static void req_route(struct httpd_req *req)
{
    struct httpd *h = req->h;
    const struct httpd_route_int *ri;
    unsigned allowed;

    ri = route_find(h, req, &allowed);
    if (ri == NULL) {
        route_missing(req, allowed);
        return;
    }
    req->route = ri;
    if (ri->pat.nsegs > 0) {
        req->params = arena_alloc(&req->arena, ri->pat.nsegs * sizeof(*req->params));
        if (req->params == NULL || httpd__pattern_match(&ri->pat, req->path, &req->arena,
                                                        req->params, &req->nparams) <= 0) {
            httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
            return;
        }
    }
    if (ri->r.on_chunk != NULL) {
        req->body_limit = ri->r.max_body > 0 ? ri->r.max_body : INT64_MAX;
    } else {
        req->body_limit = ri->r.max_body > 0 ? ri->r.max_body : h->cfg.max_body_bytes;
    }
    if (req->body_mode == HTTPD_BODY_LENGTH && req->content_length > req->body_limit) {
        httpd__fail(req, HTTPD_STATUS_PAYLOAD_TOO_LARGE, "body_too_large",
                    "the request body is too large");
        return;
    }
    if ((ri->r.flags & HTTPD_ROUTE_JSON) != 0 && req->body_mode != HTTPD_BODY_NONE &&
        !httpd__is_json_type(httpd_req_header(req, "content-type"))) {
        httpd__fail(req, HTTPD_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                    "the request body must be application/json");
        return;
    }
    if (ri->r.on_chunk != NULL) {
        req->sink = HTTPD_SINK_STREAM;
        if (dispatch(req) != HTTPD_DEFERRED || !req->held) {
            req->sink = HTTPD_SINK_DISCARD;
            return;
        }
        if (req->body_mode == HTTPD_BODY_NONE) {
            body_complete(req);
        } else {
            send_continue(req);
        }
        return;
    }
    req->sink = HTTPD_SINK_BUFFER;
    if (req->body_mode == HTTPD_BODY_NONE) {
        body_complete(req);
        return;
    }
    if (req->body_mode == HTTPD_BODY_LENGTH) {
        req->body = arena_alloc(&req->arena, (size_t)req->content_length + 1);
        if (req->body == NULL) {
            httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
            return;
        }
        req->body_cap = (size_t)req->content_length + 1;
    }
    send_continue(req);
}

int httpd__on_http(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    struct httpd_req *req;
    int rc;

    if (c->req != NULL) {
        LOG_ERR(HTTPD, "event=overlapping_request server=%s client=%s", h->cfg.name, c->client);
        return -1;
    }
    req = httpd__req_new(c);
    if (req == NULL) {
        return -1;
    }
    c->req = req;
    c->nrequests++;
    c->discarding = false;
    rc = httpd__req_parse_head(req, c->wsi);
    if (rc == ERR_NOMEM) {
        httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
        goto out;
    }
    if (rc == ERR_PARSE) {
        req->lws_body_pending = true;
        httpd__fail(req, HTTPD_STATUS_NOT_IMPLEMENTED, "not_implemented",
                    "request method not supported");
        goto out;
    }
    if (body_framing(req, c->wsi) != 0) {
        goto out;
    }
    if (httpd__head_too_large(req, c->wsi)) {
        httpd__fail(req, HTTPD_STATUS_HEADERS_TOO_LARGE, "headers_too_large",
                    "the request headers are too large");
        goto out;
    }
    if (h->draining) {
        httpd__fail(req, HTTPD_STATUS_UNAVAILABLE, "shutting_down", "the server is shutting down");
        goto out;
    }
    req_route(req);
out:
    httpd__req_maybe_free(req);
    return 0;
}

int httpd__on_body(struct httpd_conn *c, const unsigned char *data, size_t len)
{
    struct httpd_req *req = c->req;

    if (req == NULL) {
        /* After an early answer we read and drop a bounded amount, so the
         * client sees our response instead of a reset. */
        if (c->discarding) {
            c->discard_left -= (int64_t)len;
            return c->discard_left < 0 || clock_mono_us() > c->discard_until ? -1 : 0;
        }
        return 0;
    }
    if (req->sink == HTTPD_SINK_DISCARD || req->body_done) {
        req->discarded += (int64_t)len;
        return req->discarded > HTTPD_LINGER_BYTES ? -1 : 0;
    }
    if (len == 0) {
        return 0;
    }
    req->dispatching = true;
    body_input(req, data, len);
    req->dispatching = false;
    httpd__req_maybe_free(req);
    return 0;
}

int httpd__on_body_end(struct httpd_conn *c)
{
    struct httpd_req *req = c->req;

    if (req == NULL) {
        return c->discarding ? -1 : 0;
    }
    if (req->body_done && req->body_mode == HTTPD_BODY_LENGTH) {
        /* lws 4.1 reports the completion again when more bytes follow the
         * body (a pipelined request); it would loop doing so. The only way
         * out is to close: hand over the answer if we have it, then go. */
        LOG_NOTICE(HTTPD, "event=pipelined_after_body server=%s rid=%s client=%s", c->h->cfg.name,
                   req->rid, c->client);
        c->closing = true;
        if (req->answered) {
            httpd__write_now(req, c->wsi);
        }
        return -1;
    }
    if (req->body_done) {
        return 0;
    }
    if (req->sink == HTTPD_SINK_DISCARD) {
        req->body_done = true;
        req->lws_body_pending = false;
        return 0;
    }
    req->dispatching = true;
    if (req->body_mode == HTTPD_BODY_CHUNKED) {
        /* lws stopped counting at 100 MiB of wire bytes before the last chunk. */
        body_refuse(req, HTTPD_STATUS_PAYLOAD_TOO_LARGE, "body_too_large",
                    "chunked request bodies are limited to 100 MiB; send Content-Length",
                    ERR_TOOBIG);
    } else if (req->body_mode == HTTPD_BODY_LENGTH) {
        req->lws_body_pending = false;
        body_complete(req);
    }
    req->dispatching = false;
    httpd__req_maybe_free(req);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Accessors                                                               */
/* ---------------------------------------------------------------------- */

enum httpd_method httpd_req_method(const struct httpd_req *req)
{
    return req->method;
}

const char *httpd_req_method_name(const struct httpd_req *req)
{
    return req->method_name;
}

const char *httpd_req_path(const struct httpd_req *req)
{
    return req->path;
}

const char *httpd_req_param(const struct httpd_req *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, name) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

const char *httpd_req_query(const struct httpd_req *req, const char *name)
{
    for (size_t i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].name, name) == 0) {
            return req->query[i].value;
        }
    }
    return NULL;
}

size_t httpd_req_query_count(const struct httpd_req *req)
{
    return req->nquery;
}

int httpd_req_query_at(const struct httpd_req *req, size_t i, const char **name, const char **value)
{
    if (i >= req->nquery) {
        return ERR_RANGE;
    }
    *name = req->query[i].name;
    *value = req->query[i].value;
    return 0;
}

const char *httpd_req_client(const struct httpd_req *req)
{
    return req->client;
}

const char *httpd_req_id(const struct httpd_req *req)
{
    return req->rid;
}

const void *httpd_req_body(const struct httpd_req *req, size_t *len)
{
    if (len != NULL) {
        *len = req->body_len;
    }
    return req->body != NULL ? (const void *)req->body : "";
}

json_t *httpd_req_json(const struct httpd_req *req)
{
    return req->json;
}

struct arena *httpd_req_arena(struct httpd_req *req)
{
    return &req->arena;
}

void httpd_req_set_data(struct httpd_req *req, void *data)
{
    req->user = data;
}

void *httpd_req_data(const struct httpd_req *req)
{
    return req->user;
}

struct httpd *httpd_req_server(const struct httpd_req *req)
{
    return req->h;
}

uint64_t httpd_req_handle(const struct httpd_req *req)
{
    return req->handle;
}

void httpd_req_on_abort(struct httpd_req *req, httpd_abort_cb *cb, void *arg)
{
    req->abort_cb = cb;
    req->abort_arg = arg;
}

bool httpd_req_connected(const struct httpd_req *req)
{
    return req->conn != NULL && !req->dropped && !req->answered;
}

/* ---------------------------------------------------------------------- */
/* Deferred-response timeout                                               */
/* ---------------------------------------------------------------------- */

static void req_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpd_req *req = CONTAINER_OF(w, struct httpd_req, timer);
    (void)loop;
    (void)revents;

    if (!req->held || req->answered || req->dropped) {
        return;
    }
    LOG_WARN(HTTPD, "event=request_timeout server=%s rid=%s path=\"%s\"", req->h->cfg.name,
             req->rid, httpd__log_escape(&req->arena, req->path));
    req->dispatching = true;
    httpd__fail(req, HTTPD_STATUS_UNAVAILABLE, "timeout", "the request took too long");
    req->dropped = true;
    call_abort(req, ERR_TIMEOUT);
    req->dispatching = false;
    httpd__req_maybe_free(req);
}
