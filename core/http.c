/* SPDX-License-Identifier: MIT */
/*
 * http: the HTTP client adapter (see http.h for the contract, docs/http.md
 * for the operator's view).
 *
 * DESIGN
 *
 * curl's multi-socket API drives many transfers from someone else's event
 * loop. curl tells us, through two callbacks, which sockets to watch for
 * what (on_curl_socket: one heap struct http_sock with an embedded ev_io per
 * socket, attached to curl's socket with curl_multi_assign) and when it next
 * needs a timeout tick (on_curl_timer: one ev_timer per client). When a
 * watcher fires we hand the event back with curl_multi_socket_action() and
 * then drain curl_multi_info_read() for finished transfers. This is the
 * pattern of curl's docs/examples/evhiperfifo.c. curl never calls us back
 * from inside curl_multi_add_handle() with a completion, so starting a
 * transfer never runs its callback re-entrantly.
 *
 * A transfer is a struct http_xfer: the caller's handle, the curl easy
 * handle, the response buffer and the bits needed to map curl's result to
 * our status codes. Finished and canceled transfers go to a free list with
 * their easy handle (curl_easy_reset() keeps nothing of the old request;
 * the keep-alive connections live in the multi handle, not in the easy
 * handle) and a response buffer up to HTTP_KEEP_BUF bytes, so the steady
 * state of the ARI client allocates little more than curl's header list.
 * Keep-alive reuse itself is curl's: one multi handle, one connection
 * cache, CURLMOPT_MAX_HOST_CONNECTIONS bounding parallel connections per
 * host (transfers beyond it wait in curl's queue, their total timeout
 * running).
 *
 * Result mapping: curl's timeouts become ERR_TIMEOUT; a failed connect
 * becomes the negated errno curl saw (-ECONNREFUSED); our write callback
 * refusing data past the size limit (CURLE_WRITE_ERROR with x->toobig) and
 * curl's own Content-Length check (CURLE_FILESIZE_EXCEEDED) become
 * ERR_TOOBIG; everything else is ERR_HTTP with curl's error text.
 *
 * SSRF guard: a request with an allow-address hook gets two curl callbacks.
 * CURLOPT_OPENSOCKETFUNCTION sees each resolved address before connect()
 * and refuses the socket when the hook denies it, so no packet reaches a
 * denied address. CURLOPT_PREREQFUNCTION runs on every request just before
 * it is sent, with the peer address of the connection actually used; that
 * catches a keep-alive connection opened earlier by a request without a
 * hook (the ARI client and an api_call node share the client). Either
 * denial completes the transfer with ERR_FORBIDDEN.
 *
 * Re-entrancy: user callbacks run only from the drain after
 * curl_multi_socket_action() (never from inside a curl callback), so they
 * may start and cancel transfers. http_client_destroy() from inside one is
 * made safe by a depth count: destroy cancels everything and marks the
 * client closing; the multi handle and the memory go when the outermost
 * loop entry returns.
 */
#include "core/http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counter.h"
#include "core/err.h"
#include "core/log.h"

#ifndef DIALER_VERSION
#define DIALER_VERSION "0.0.0"
#endif

#define HTTP_DEF_MAX_HOST_CONN 16
#define HTTP_DEF_MAX_CACHED    64
#define HTTP_DEF_CONNECT_MS    2000
#define HTTP_DEF_TIMEOUT_MS    10000
#define HTTP_DEF_MAX_RESPONSE  ((size_t)8 << 20)
#define HTTP_DEF_FREE_HANDLES  64
#define HTTP_KEEP_BUF          ((size_t)64 << 10) /* response buffers up to this are reused */
#define HTTP_FIRST_BUF         ((size_t)4 << 10)
#define HTTP_DEADLINE_SLACK_S  0.005 /* see http_xfer_start() */

#define HTTP_CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* clang-format off */
static struct counter http_requests_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "http_requests_total", "HTTP client transfers started");
static struct counter http_errors_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "http_errors_total", "HTTP client transfers that failed without a response");
static struct counter http_inflight = COUNTER_INIT(COUNTER_KIND_GAUGE,
    "http_inflight", "HTTP client transfers in progress");

/* clang-format on */

struct http_link {
    struct http_link *prev, *next;
};

static void hl_init(struct http_link *l)
{
    l->prev = l;
    l->next = l;
}

static bool hl_empty(const struct http_link *head)
{
    return head->next == head;
}

static void hl_add(struct http_link *head, struct http_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void hl_del(struct http_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    hl_init(l);
}

enum xfer_state {
    X_IDLE,    /* on the free list */
    X_ACTIVE,  /* in the multi handle, callback owed; on client->active */
    X_CALLING, /* callback running */
};

struct http_xfer {
    struct http_link link;        /* on client->active */
    struct http_xfer *next_free;  /* free list */
    struct http_client *client;   /* owner */
    CURL *easy;                   /* kept across reuse */
    enum xfer_state state;        /* see enum xfer_state */
    http_done_cb *cb;             /* completion */
    void *arg;                    /* for cb */
    struct curl_slist *headers;   /* request headers (curl copies each line) */
    char *body_copy;              /* our copy of the request body, or NULL */
    char *buf;                    /* response body */
    size_t len, cap;              /* bytes in buf, bytes allocated */
    size_t max_response;          /* body limit for this transfer */
    bool toobig;                  /* the write callback refused data */
    bool denied;                  /* the allow-address hook said no */
    ev_timer deadline;            /* total timeout, also while queued for a connection */
    int64_t timeout_ms;           /* the total timeout in force */
    http_allow_addr_cb *allow;    /* SSRF hook or NULL */
    void *allow_arg;              /* for allow */
    char errbuf[CURL_ERROR_SIZE]; /* curl's error text */
};

struct http_sock {
    ev_io io;                   /* watches fd for curl */
    struct http_client *client; /* owner */
    curl_socket_t fd;           /* curl's socket */
    struct http_link link;      /* on client->socks */
};

struct http_client {
    struct ev_loop *loop;       /* owning loop */
    CURLM *multi;               /* the one multi handle */
    ev_timer timer;             /* curl's timeout */
    struct http_link active;    /* transfers with a callback owed */
    struct http_link socks;     /* sockets being watched */
    struct http_xfer *free;     /* idle transfers with their easy handles */
    unsigned nfree, max_free;   /* free-list length and cap */
    unsigned depth;             /* nesting of loop entries */
    bool closing;               /* destroy was called */
    int64_t connect_timeout_ms; /* defaults for requests */
    int64_t timeout_ms;
    size_t max_response;
    char *user_agent;        /* copy */
    struct http_stats stats; /* per-client statistics */
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static int http_global_rc;

static void http_global_init(void)
{
    http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : ERR_HTTP;
    counter_register(&http_requests_total);
    counter_register(&http_errors_total);
    counter_register(&http_inflight);
}

static void client_finalize(struct http_client *c);

static void client_enter(struct http_client *c)
{
    c->depth++;
}

/* May free c: touch nothing of c afterwards. */
static void client_leave(struct http_client *c)
{
    c->depth--;
    if (c->depth == 0 && c->closing) {
        client_finalize(c);
    }
}

/* ---------------------------------------------------------------------- */
/* Transfers                                                               */
/* ---------------------------------------------------------------------- */

static void xfer_free(struct http_xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body_copy);
    free(x->buf);
    free(x);
}

/* Returns a finished or canceled transfer to the free list (or frees it). */
static void xfer_recycle(struct http_xfer *x)
{
    struct http_client *c = x->client;

    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body_copy);
    x->body_copy = NULL;
    if (c->closing || c->nfree >= c->max_free) {
        xfer_free(x);
        return;
    }
    curl_easy_reset(x->easy);
    if (x->cap > HTTP_KEEP_BUF) {
        free(x->buf);
        x->buf = NULL;
        x->cap = 0;
    }
    x->state = X_IDLE;
    x->next_free = c->free;
    c->free = x;
    c->nfree++;
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents);

static struct http_xfer *xfer_get(struct http_client *c)
{
    struct http_xfer *x = c->free;

    if (x != NULL) {
        c->free = x->next_free;
        c->nfree--;
        x->next_free = NULL;
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return NULL;
    }
    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return NULL;
    }
    x->client = c;
    hl_init(&x->link);
    ev_timer_init(&x->deadline, on_deadline, 0., 0.);
    c->stats.handles_new++;
    return x;
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *x = userdata;
    size_t n = size * nmemb;

    if (n > x->max_response - x->len) {
        x->toobig = true;
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap != 0 ? x->cap : HTTP_FIRST_BUF;
        char *nb;
        while (cap < x->len + n + 1) {
            cap *= 2;
        }
        nb = realloc(x->buf, cap);
        if (nb == NULL) {
            return 0;
        }
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    return n;
}

static curl_socket_t on_curl_opensocket(void *clientp, curlsocktype purpose,
                                        struct curl_sockaddr *a)
{
    struct http_xfer *x = clientp;

    if (purpose == CURLSOCKTYPE_IPCXN && x->allow != NULL &&
        !x->allow(&a->addr, a->addrlen, x->allow_arg)) {
        x->denied = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int on_curl_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                          int local_port)
{
    struct http_xfer *x = clientp;
    struct sockaddr_in6 s6;
    struct sockaddr_in s4;

    (void)local_ip;
    (void)local_port;
    if (x->allow == NULL) {
        return CURL_PREREQFUNC_OK;
    }
    memset(&s4, 0, sizeof(s4));
    memset(&s6, 0, sizeof(s6));
    if (inet_pton(AF_INET, primary_ip, &s4.sin_addr) == 1) {
        s4.sin_family = AF_INET;
        s4.sin_port = htons((uint16_t)primary_port);
        if (x->allow((const struct sockaddr *)&s4, sizeof(s4), x->allow_arg)) {
            return CURL_PREREQFUNC_OK;
        }
    } else if (inet_pton(AF_INET6, primary_ip, &s6.sin6_addr) == 1) {
        s6.sin6_family = AF_INET6;
        s6.sin6_port = htons((uint16_t)primary_port);
        if (x->allow((const struct sockaddr *)&s6, sizeof(s6), x->allow_arg)) {
            return CURL_PREREQFUNC_OK;
        }
    }
    /* Denied, or an address we cannot parse (a unix socket): fail closed. */
    x->denied = true;
    return CURL_PREREQFUNC_ABORT;
}

static int map_result(struct http_xfer *x, CURLcode res)
{
    long oserr = 0;

    if (res == CURLE_OK) {
        return 0;
    }
    if (x->denied) {
        return ERR_FORBIDDEN;
    }
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        return ERR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return ERR_TOOBIG;
    case CURLE_WRITE_ERROR:
        return x->toobig ? ERR_TOOBIG : ERR_NOMEM;
    case CURLE_OUT_OF_MEMORY:
        return ERR_NOMEM;
    case CURLE_COULDNT_CONNECT:
        if (curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr > 0 &&
            oserr < 1000) {
            return -(int)oserr;
        }
        return ERR_HTTP;
    default:
        return ERR_HTTP;
    }
}

static int64_t info_us(CURL *e, CURLINFO what)
{
    curl_off_t v = 0;

    if (curl_easy_getinfo(e, what, &v) != CURLE_OK) {
        return 0;
    }
    return (int64_t)v;
}

static const char *header_value(CURL *e, const char *name)
{
    struct curl_header *h = NULL;

    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK) {
        return NULL;
    }
    if (h->amount > 1 &&
        curl_easy_header(e, name, h->amount - 1, CURLH_HEADER, -1, &h) != CURLHE_OK) {
        return NULL;
    }
    return h->value;
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
    if (resp == NULL || resp->_xfer == NULL || name == NULL) {
        return NULL;
    }
    return header_value(resp->_xfer->easy, name);
}

static void account(struct http_client *c, int status)
{
    c->stats.inflight--;
    counter_dec(&http_inflight);
    if (status == 0) {
        c->stats.responses++;
    } else if (status != ERR_CANCELED) {
        c->stats.errors++;
        counter_inc(&http_errors_total);
    }
}

/* A transfer finished inside curl: build the response, detach, call back, recycle. */
static void xfer_finish(struct http_xfer *x, CURLcode res)
{
    struct http_client *c = x->client;
    struct http_response r;
    char *ct = NULL;
    long connects = 0;
    int status = map_result(x, res);

    memset(&r, 0, sizeof(r));
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.code);
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
    r.content_type = ct;
    r.location = header_value(x->easy, "Location");
    r.namelookup_us = info_us(x->easy, CURLINFO_NAMELOOKUP_TIME_T);
    r.connect_us = info_us(x->easy, CURLINFO_CONNECT_TIME_T);
    r.ttfb_us = info_us(x->easy, CURLINFO_STARTTRANSFER_TIME_T);
    r.total_us = info_us(x->easy, CURLINFO_TOTAL_TIME_T);
    r.reused = connects == 0 && status == 0;
    r.body = x->len > 0 ? x->buf : "";
    if (x->len > 0) {
        x->buf[x->len] = '\0'; /* on_curl_write keeps one spare byte */
    }
    r.body_len = x->len;
    r.error = status == 0 ? "" : x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(res);
    r._xfer = x;

    /* Detach first, so the callback can reuse the connection right away. */
    curl_multi_remove_handle(c->multi, x->easy);
    ev_timer_stop(c->loop, &x->deadline);
    hl_del(&x->link);
    x->state = X_CALLING;
    account(c, status);
    if (status != 0) {
        LOG_DEBUG(HTTP, "event=transfer_failed status=%s code=%ld total_us=%lld msg=\"%s\"",
                  err_name(status), r.code, (long long)r.total_us, r.error);
    }
    x->cb(status, &r, x->arg);
    xfer_recycle(x);
}

/* Our total-timeout timer fired before curl finished (typically: still queued). */
static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http_xfer *x = HTTP_CONTAINER_OF(w, struct http_xfer, deadline);
    struct http_client *c = x->client;

    (void)loop;
    (void)revents;
    if (x->state != X_ACTIVE) {
        return;
    }
    if (x->errbuf[0] == '\0') {
        snprintf(x->errbuf, sizeof(x->errbuf),
                 "Timed out after %lld milliseconds (waiting for a connection)",
                 (long long)x->timeout_ms);
    }
    client_enter(c);
    xfer_finish(x, CURLE_OPERATION_TIMEDOUT);
    client_leave(c);
}

static void client_drain(struct http_client *c)
{
    CURLMsg *msg;
    int left;

    while (!c->closing && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        struct http_xfer *x = NULL;
        CURL *e = msg->easy_handle;
        CURLcode res = msg->data.result;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        if (x != NULL && x->state == X_ACTIVE) {
            xfer_finish(x, res);
        }
    }
}

static int set_method(struct http_xfer *x, const struct http_request *rq, const char *body)
{
    CURL *e = x->easy;
    const char *m = rq->method != NULL ? rq->method : "GET";
    CURLcode rc = CURLE_OK;

    if (strcmp(m, "HEAD") == 0) {
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : ERR_HTTP;
    }
    if (body != NULL || strcmp(m, "POST") == 0) {
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    }
    if (strcmp(m, "GET") == 0 && body == NULL) {
        rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "POST") != 0) {
        rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
    return rc == CURLE_OK ? 0 : ERR_HTTP;
}

static int xfer_setup(struct http_client *c, struct http_xfer *x, const struct http_request *rq)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
    const char *body = NULL;
    int64_t cto = rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : c->connect_timeout_ms;
    int64_t to = rq->timeout_ms > 0 ? rq->timeout_ms : c->timeout_ms;

    x->timeout_ms = to;
    x->len = 0;
    x->toobig = false;
    x->denied = false;
    x->errbuf[0] = '\0';
    x->max_response = rq->max_response_bytes > 0 ? rq->max_response_bytes : c->max_response;
    x->allow = rq->allow_addr;
    x->allow_arg = rq->allow_arg;
    for (size_t i = 0; i < rq->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(x->headers, rq->headers[i]);
        if (n == NULL) {
            return ERR_NOMEM;
        }
        x->headers = n;
    }
    {
        /* No "Expect: 100-continue" round trip before larger bodies. */
        struct curl_slist *n = curl_slist_append(x->headers, "Expect:");
        if (n == NULL) {
            return ERR_NOMEM;
        }
        x->headers = n;
    }
    if (rq->body != NULL) {
        if (rq->flags & HTTP_BODY_BORROWED) {
            body = rq->body;
        } else {
            x->body_copy = malloc(rq->body_len + 1);
            if (x->body_copy == NULL) {
                return ERR_NOMEM;
            }
            memcpy(x->body_copy, rq->body, rq->body_len);
            x->body_copy[rq->body_len] = '\0';
            body = x->body_copy;
        }
    }
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    rc |= curl_easy_setopt(e, CURLOPT_URL, rq->url);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_PROXY, ""); /* ignore http_proxy & co. */
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cto);
    rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)to);
    rc |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_response);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    if (rq->username != NULL) {
        rc |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        rc |= curl_easy_setopt(e, CURLOPT_USERNAME, rq->username);
        rc |= curl_easy_setopt(e, CURLOPT_PASSWORD, rq->password != NULL ? rq->password : "");
    }
    if (rq->allow_addr != NULL) {
        rc |= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_curl_opensocket);
        rc |= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
        rc |= curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_curl_prereq);
        rc |= curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    }
    if (rc != CURLE_OK) {
        return ERR_HTTP;
    }
    return set_method(x, rq, body);
}

int http_xfer_start(struct http_client *c, const struct http_request *rq, http_done_cb *cb,
                    void *arg, struct http_xfer **out)
{
    struct http_xfer *x;
    int rc;

    if (c == NULL || rq == NULL || rq->url == NULL || cb == NULL ||
        (rq->body == NULL && rq->body_len > 0)) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    x = xfer_get(c);
    if (x == NULL) {
        return ERR_NOMEM;
    }
    rc = xfer_setup(c, x, rq);
    if (rc == 0 && curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        rc = ERR_HTTP;
    }
    if (rc != 0) {
        xfer_recycle(x);
        return rc;
    }
    x->cb = cb;
    x->arg = arg;
    x->state = X_ACTIVE;
    hl_add(&c->active, &x->link);
    /*
     * curl 7.88 does not check the timeout of a transfer queued behind
     * CURLMOPT_MAX_HOST_CONNECTIONS: it would wait for a free connection
     * however long that takes. Our own timer enforces the total timeout from
     * the start; the few milliseconds of slack let curl's own timer win (with
     * its more precise error text) for transfers that are actually running.
     */
    ev_timer_set(&x->deadline, (double)x->timeout_ms / 1000.0 + HTTP_DEADLINE_SLACK_S, 0.);
    ev_timer_start(c->loop, &x->deadline);
    c->stats.requests++;
    c->stats.inflight++;
    counter_inc(&http_requests_total);
    counter_inc(&http_inflight);
    if (out != NULL) {
        *out = x;
    }
    return 0;
}

void http_xfer_cancel(struct http_xfer *x)
{
    struct http_client *c;

    if (x == NULL || x->state != X_ACTIVE) {
        return;
    }
    c = x->client;
    curl_multi_remove_handle(c->multi, x->easy);
    ev_timer_stop(c->loop, &x->deadline);
    hl_del(&x->link);
    c->stats.inflight--;
    counter_dec(&http_inflight);
    xfer_recycle(x);
}

/* ---------------------------------------------------------------------- */
/* curl <-> libev                                                          */
/* ---------------------------------------------------------------------- */

static void on_sock_event(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_sock *hs = HTTP_CONTAINER_OF(w, struct http_sock, io);
    struct http_client *c = hs->client;
    curl_socket_t fd = hs->fd; /* hs may be freed by the call below */
    int action = 0;
    int running;

    (void)loop;
    if (revents & EV_READ) {
        action |= CURL_CSELECT_IN;
    }
    if (revents & EV_WRITE) {
        action |= CURL_CSELECT_OUT;
    }
    client_enter(c);
    curl_multi_socket_action(c->multi, fd, action, &running);
    client_drain(c);
    client_leave(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http_client *c = HTTP_CONTAINER_OF(w, struct http_client, timer);
    int running;

    (void)loop;
    (void)revents;
    client_enter(c);
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    client_drain(c);
    client_leave(c);
}

/* CURLMOPT_SOCKETFUNCTION: curl wants fd watched for what (or forgotten). */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http_client *c = userp;
    struct http_sock *hs = socketp;
    int events = 0;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (hs != NULL) {
            ev_io_stop(c->loop, &hs->io);
            hl_del(&hs->link);
            free(hs);
        }
        return 0;
    }
    if (what & CURL_POLL_IN) {
        events |= EV_READ;
    }
    if (what & CURL_POLL_OUT) {
        events |= EV_WRITE;
    }
    if (hs == NULL) {
        hs = calloc(1, sizeof(*hs));
        if (hs == NULL) {
            return -1; /* curl fails the transfer */
        }
        hs->client = c;
        hs->fd = fd;
        hl_add(&c->socks, &hs->link);
        ev_io_init(&hs->io, on_sock_event, fd, events);
        curl_multi_assign(c->multi, fd, hs);
    } else {
        ev_io_stop(c->loop, &hs->io);
        ev_io_set(&hs->io, fd, events);
    }
    ev_io_start(c->loop, &hs->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm the one timer; -1 disarms. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_client *c = userp;

    (void)multi;
    ev_timer_stop(c->loop, &c->timer);
    if (timeout_ms >= 0) {
        /* Never call curl from here: the timer runs it from the loop. */
        ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(c->loop, &c->timer);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Client                                                                  */
/* ---------------------------------------------------------------------- */

int http_client_create(struct ev_loop *loop, const struct http_client_options *opt,
                       struct http_client **out)
{
    static const struct http_client_options defaults;
    struct http_client *c;
    CURLMcode mc = CURLM_OK;
    char ua[64];

    if (loop == NULL || out == NULL) {
        return ERR_INVAL;
    }
    pthread_once(&http_once, http_global_init);
    if (http_global_rc != 0) {
        return http_global_rc;
    }
    if (opt == NULL) {
        opt = &defaults;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->loop = loop;
    hl_init(&c->active);
    hl_init(&c->socks);
    c->max_free = opt->free_handles > 0 ? opt->free_handles : HTTP_DEF_FREE_HANDLES;
    c->connect_timeout_ms =
        opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : HTTP_DEF_CONNECT_MS;
    c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : HTTP_DEF_TIMEOUT_MS;
    c->max_response = opt->max_response_bytes > 0 ? opt->max_response_bytes : HTTP_DEF_MAX_RESPONSE;
    snprintf(ua, sizeof(ua), "dialer/%s", DIALER_VERSION);
    c->user_agent = strdup(opt->user_agent != NULL ? opt->user_agent : ua);
    c->multi = curl_multi_init();
    if (c->user_agent == NULL || c->multi == NULL) {
        curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c);
        return ERR_NOMEM;
    }
    ev_timer_init(&c->timer, on_timer, 0., 0.);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                            opt->max_host_connections > 0 ? opt->max_host_connections
                                                          : (long)HTTP_DEF_MAX_HOST_CONN);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                            opt->max_total_connections > 0 ? opt->max_total_connections : 0L);
    mc |= curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
                            opt->max_cached_connections > 0 ? opt->max_cached_connections
                                                            : (long)HTTP_DEF_MAX_CACHED);
    if (mc != CURLM_OK) {
        curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c);
        return ERR_HTTP;
    }
    *out = c;
    return 0;
}

static void client_finalize(struct http_client *c)
{
    ev_timer_stop(c->loop, &c->timer);
    curl_multi_cleanup(c->multi); /* closes the cached connections */
    while (!hl_empty(&c->socks)) {
        struct http_sock *hs = HTTP_CONTAINER_OF(c->socks.next, struct http_sock, link);
        ev_io_stop(c->loop, &hs->io);
        hl_del(&hs->link);
        free(hs);
    }
    while (c->free != NULL) {
        struct http_xfer *x = c->free;
        c->free = x->next_free;
        xfer_free(x);
    }
    free(c->user_agent);
    free(c);
}

void http_client_destroy(struct http_client *c)
{
    struct http_response r;

    if (c == NULL || c->closing) {
        return;
    }
    client_enter(c);
    c->closing = true;
    memset(&r, 0, sizeof(r));
    r.body = "";
    r.error = "canceled";
    while (!hl_empty(&c->active)) {
        struct http_xfer *x = HTTP_CONTAINER_OF(c->active.next, struct http_xfer, link);
        curl_multi_remove_handle(c->multi, x->easy);
        ev_timer_stop(c->loop, &x->deadline);
        hl_del(&x->link);
        x->state = X_CALLING;
        account(c, ERR_CANCELED);
        x->cb(ERR_CANCELED, &r, x->arg);
        xfer_recycle(x); /* frees: the client is closing */
    }
    client_leave(c);
}

void http_client_stats(const struct http_client *c, struct http_stats *st)
{
    *st = c->stats;
}
