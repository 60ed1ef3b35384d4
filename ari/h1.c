/* SPDX-License-Identifier: MIT */
/*
 * h1: the ARI client's HTTP/1.1 keep-alive REST transport (see h1_int.h for
 * the model and the retry rule).
 *
 * A connection's input buffer holds one whole response at a time: the body
 * is handed to the callback in place (NUL-terminated there), a chunked body
 * is compacted in place as its chunks arrive. A request's bytes are built
 * once into its own buffer (kept on the free list with its memory) and
 * written with one write() when a connection is free, normally straight
 * from ari__h1_start(); a short write arms the write watcher.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ari/h1_int.h"
#include "core/err.h"

enum { MODE_NONE, MODE_LEN, MODE_CHUNKED, MODE_CLOSE };

enum { IN_START = 16384, FREE_MAX = 256, CHUNK_LINE_MAX = 1024 };

/* ---------------------------------------------------------------------- */
/* Response reader                                                         */
/* ---------------------------------------------------------------------- */

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
}

/* s[0..n) equals the lower-case literal lit, ignoring case. */
static bool ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    for (i = 0; i < n && lit[i] != '\0'; i++) {
        if (lower(s[i]) != lit[i]) {
            return false;
        }
    }
    return i == n && lit[i] == '\0';
}

/* Whether the comma list v[0..n) contains token tok (lower-case). */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
            i++;
        }
        s = i;
        while (i < n && v[i] != ',') {
            i++;
        }
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
            e--;
        }
        if (e > s && ieq(v + s, e - s, tok)) {
            return true;
        }
    }
    return false;
}

/* The last token of the comma list v[0..n) is tok. */
static bool last_token(const char *v, size_t n, const char *tok)
{
    size_t e = n, s;
    while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
        e--;
    }
    s = e;
    while (s > 0 && v[s - 1] != ',' && v[s - 1] != ' ' && v[s - 1] != '\t') {
        s--;
    }
    return e > s && ieq(v + s, e - s, tok);
}

/*
 * The end of the head starting at buf[0] (just past its empty line), or 0
 * when not there yet; p->head_scan remembers how far the search went.
 */
static size_t head_end(struct ari__h1_parser *p, const char *buf, size_t len)
{
    size_t i = p->head_scan;

    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t k;
        if (nl == NULL) {
            p->head_scan = len;
            return 0;
        }
        k = (size_t)(nl - buf);
        if (k + 1 < len && buf[k + 1] == '\n') {
            return k + 2;
        }
        if (k + 2 < len && buf[k + 1] == '\r' && buf[k + 2] == '\n') {
            return k + 3;
        }
        if (k + 1 >= len || (k + 2 >= len && buf[k + 1] == '\r')) {
            p->head_scan = k; /* the empty line may be coming */
            return 0;
        }
        i = k + 1;
    }
    p->head_scan = i;
    return 0;
}

/* Parses the head buf[0..end) into p. Returns 0 or ARI__H1_BAD with *why. */
static int parse_head(struct ari__h1_parser *p, char *buf, size_t end, bool head_only,
                      const char **why)
{
    size_t i, eol;
    bool chunked = false, have_len = false, http10;
    uint64_t clen = 0;
    const char *nl;

    /* "HTTP/1.x 200 reason" */
    if (end < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
        buf[11] < '0' || buf[11] > '9' || (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')) {
        *why = "bad status line";
        return ARI__H1_BAD;
    }
    http10 = buf[7] == '0';
    p->code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    p->close = http10;
    p->loc_len = 0;
    p->ct_len = 0;
    nl = memchr(buf, '\n', end);
    i = (size_t)(nl - buf) + 1;
    for (;;) {
        size_t colon, vs, ve;
        nl = memchr(buf + i, '\n', end - i);
        eol = (size_t)(nl - buf);
        ve = eol > i && buf[eol - 1] == '\r' ? eol - 1 : eol;
        if (ve == i) {
            break; /* the empty line */
        }
        if (buf[i] == ' ' || buf[i] == '\t') {
            *why = "folded header line";
            return ARI__H1_BAD;
        }
        for (colon = i; colon < ve && buf[colon] != ':'; colon++) {
            if (buf[colon] == ' ' || buf[colon] == '\t' || buf[colon] == '\0') {
                *why = "bad header name";
                return ARI__H1_BAD;
            }
        }
        if (colon == ve || colon == i) {
            *why = "header line without a name and colon";
            return ARI__H1_BAD;
        }
        vs = colon + 1;
        while (vs < ve && (buf[vs] == ' ' || buf[vs] == '\t')) {
            vs++;
        }
        while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t')) {
            ve--;
        }
        switch (colon - i) {
        case 8:
            if (ieq(buf + i, 8, "location")) {
                p->loc_off = vs;
                p->loc_len = ve - vs;
                buf[ve] = '\0';
            }
            break;
        case 10:
            if (ieq(buf + i, 10, "connection")) {
                if (has_token(buf + vs, ve - vs, "close")) {
                    p->close = true;
                } else if (http10 && has_token(buf + vs, ve - vs, "keep-alive")) {
                    p->close = false;
                }
            }
            break;
        case 12:
            if (ieq(buf + i, 12, "content-type")) {
                p->ct_off = vs;
                p->ct_len = ve - vs;
                buf[ve] = '\0';
            }
            break;
        case 14:
            if (ieq(buf + i, 14, "content-length")) {
                uint64_t v = 0;
                if (ve == vs) {
                    *why = "empty Content-Length";
                    return ARI__H1_BAD;
                }
                for (size_t k = vs; k < ve; k++) {
                    if (buf[k] < '0' || buf[k] > '9' || v > (UINT64_MAX - 9) / 10) {
                        *why = "bad Content-Length";
                        return ARI__H1_BAD;
                    }
                    v = v * 10 + (uint64_t)(buf[k] - '0');
                }
                if (have_len && v != clen) {
                    *why = "conflicting Content-Length";
                    return ARI__H1_BAD;
                }
                have_len = true;
                clen = v;
            }
            break;
        case 17:
            if (ieq(buf + i, 17, "transfer-encoding")) {
                chunked = last_token(buf + vs, ve - vs, "chunked");
                if (!chunked) {
                    have_len = false; /* another coding: the body runs to the close */
                    p->close = true;
                }
            }
            break;
        default:
            break;
        }
        i = eol + 1;
    }
    p->clen = clen;
    if (head_only || p->code < 200 || p->code == 204 || p->code == 304) {
        p->mode = MODE_NONE;
    } else if (chunked) {
        p->mode = MODE_CHUNKED;
    } else if (have_len) {
        p->mode = MODE_LEN;
    } else {
        p->mode = MODE_CLOSE;
        p->close = true;
    }
    return 0;
}

/* Chunked body from p->chunk_scan on: ARI__H1_NEED, an error, or the bytes the response took. */
static long parse_chunks(struct ari__h1_parser *p, char *buf, size_t len, size_t max_body,
                         const char **why)
{
    for (;;) {
        const char *nl;
        size_t line = p->chunk_scan, k, eol;
        uint64_t size = 0;

        nl = memchr(buf + line, '\n', len - line);
        if (nl == NULL) {
            if (len - line > CHUNK_LINE_MAX) {
                *why = p->in_trailers ? "trailer line too long" : "chunk size line too long";
                return ARI__H1_BAD;
            }
            return ARI__H1_NEED;
        }
        eol = (size_t)(nl - buf);
        if (p->in_trailers) {
            if (eol == line || (eol == line + 1 && buf[line] == '\r')) {
                p->chunk_scan = eol + 1;
                return (long)(eol + 1);
            }
            if (eol - line > CHUNK_LINE_MAX) {
                *why = "trailer line too long";
                return ARI__H1_BAD;
            }
            p->chunk_scan = eol + 1; /* a trailer field: ignored */
            continue;
        }
        for (k = line; k < eol; k++) {
            char ch = lower(buf[k]);
            unsigned d;
            if (ch >= '0' && ch <= '9') {
                d = (unsigned)(ch - '0');
            } else if (ch >= 'a' && ch <= 'f') {
                d = (unsigned)(ch - 'a' + 10);
            } else {
                break;
            }
            if (size > (UINT64_MAX >> 4)) {
                *why = "chunk size too large";
                return ARI__H1_BAD;
            }
            size = size * 16 + d;
        }
        if (k == line || (buf[k] != ';' && buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r')) {
            *why = "bad chunk size";
            return ARI__H1_BAD;
        }
        if (size == 0) {
            p->in_trailers = true;
            p->chunk_scan = eol + 1;
            continue;
        }
        if (size > max_body || p->body_end - p->head_len > max_body - size) {
            return ARI__H1_BIG;
        }
        /* data, then CRLF (or a bare LF) */
        {
            size_t data = eol + 1;
            size_t avail = len - data;
            size_t after;
            if (avail < size + 1) {
                return ARI__H1_NEED;
            }
            after = data + (size_t)size;
            if (buf[after] == '\r') {
                if (avail < size + 2) {
                    return ARI__H1_NEED;
                }
                after++;
            }
            if (buf[after] != '\n') {
                *why = "chunk data not followed by CRLF";
                return ARI__H1_BAD;
            }
            memmove(buf + p->body_end, buf + data, (size_t)size);
            p->body_end += (size_t)size;
            p->chunk_scan = after + 1;
        }
    }
}

long ari__h1_parse(struct ari__h1_parser *p, char *buf, size_t len, bool eof, bool head_only,
                   size_t max_body, struct ari__h1_msg *m, const char **why)
{
    long used;
    size_t body_start, body_len;

    *why = "";
    if (p->head_len == 0) {
        size_t end = head_end(p, buf, len);
        if (end == 0) {
            if (len > ARI__H1_HEAD_MAX) {
                *why = "response head too long";
                return ARI__H1_BAD;
            }
            if (eof) {
                *why = len == 0 ? "connection closed before the response"
                                : "connection closed inside the response head";
                return ARI__H1_BAD;
            }
            return ARI__H1_NEED;
        }
        if (end > ARI__H1_HEAD_MAX) {
            *why = "response head too long";
            return ARI__H1_BAD;
        }
        if (parse_head(p, buf, end, head_only, why) != 0) {
            return ARI__H1_BAD;
        }
        p->head_len = end;
        p->chunk_scan = end;
        p->body_end = end;
        p->in_trailers = false;
    }
    body_start = p->head_len;
    switch (p->mode) {
    case MODE_NONE:
        body_len = 0;
        used = (long)body_start;
        break;
    case MODE_LEN:
        if (p->clen > max_body) {
            return ARI__H1_BIG;
        }
        if (len - body_start < p->clen) {
            if (eof) {
                *why = "connection closed inside the response body";
                return ARI__H1_BAD;
            }
            return ARI__H1_NEED;
        }
        body_len = (size_t)p->clen;
        used = (long)(body_start + body_len);
        break;
    case MODE_CHUNKED:
        used = parse_chunks(p, buf, len, max_body, why);
        if (used == ARI__H1_NEED && eof) {
            *why = "connection closed inside a chunked body";
            return ARI__H1_BAD;
        }
        if (used <= 0) {
            return used;
        }
        body_len = p->body_end - body_start;
        break;
    default: /* MODE_CLOSE */
        if (len - body_start > max_body) {
            return ARI__H1_BIG;
        }
        if (!eof) {
            return ARI__H1_NEED;
        }
        body_len = len - body_start;
        used = (long)len;
        break;
    }
    m->code = p->code;
    m->body = buf + body_start;
    m->body_len = body_len;
    m->location = p->loc_len > 0 ? buf + p->loc_off : NULL;
    m->content_type = p->ct_len > 0 ? buf + p->ct_off : NULL;
    m->close = p->close;
    memset(p, 0, sizeof(*p));
    return used;
}

/* ---------------------------------------------------------------------- */
/* Connections and requests                                                */
/* ---------------------------------------------------------------------- */

enum conn_state { CONN_CLOSED, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

/* Whether a request that lost its connection may be sent again (once). */
enum retry {
    RETRY_NO,      /* it may have been processed */
    RETRY_IF_SAFE, /* the idle-close race: only a request marked retry_safe */
    RETRY_UNSENT,  /* not one byte of it went out: any request */
};

struct h1conn {
    struct ari__h1 *h;
    int fd;
    enum conn_state state;
    ev_io io;
    int io_events;           /* what io watches (0: stopped) */
    ev_timer connect_w;      /* connect deadline */
    struct ari__h1_req *req; /* the request on this connection (CONNECTING, BUSY) */
    unsigned served;         /* responses completed on this connection */
    int connect_err;         /* connect() failed at once with this errno */
    ev_tstamp idle_since;
    char *in;      /* input buffer: one response (cap + 1 bytes) */
    size_t in_len; /* bytes in it */
    size_t in_cap;
    struct ari__h1_parser ps;
};

struct ari__h1_req {
    struct ari__h1 *h;
    struct h1conn *conn;             /* NULL while queued */
    struct ari__h1_req *prev, *next; /* queue, or free list (next) */
    ari__h1_cb *cb;
    void *arg;
    ev_timer timeout_w;
    bool queued;
    bool retry_safe;
    bool retried;
    bool head_only;
    char *out; /* the whole request */
    size_t out_len, out_cap, out_off;
};

struct ari__h1 {
    struct ev_loop *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *prefix; /* " HTTP/1.1\r\nHost: ..\r\nAuthorization: ..\r\n" */
    size_t prefix_len;
    unsigned max_conns;
    double connect_timeout;
    double idle_timeout;
    size_t max_body;
    struct h1conn *conns;       /* max_conns of them */
    unsigned n_open;            /* not CLOSED */
    struct ari__h1_req *q_head; /* waiting for a connection */
    struct ari__h1_req *q_tail;
    struct ari__h1_req *free_req;
    unsigned n_free;
    ev_timer idle_w; /* closes connections idle too long */
    bool destroying;
    struct ari__h1_stats st;
};

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void pump(struct ari__h1 *h);

static void io_want(struct h1conn *k, int events)
{
    if (k->io_events == events) {
        return;
    }
    if (k->io_events != 0) {
        ev_io_stop(k->h->loop, &k->io);
    }
    k->io_events = events;
    if (events != 0) {
        ev_io_set(&k->io, k->fd, events);
        ev_io_start(k->h->loop, &k->io);
    }
}

static void q_remove(struct ari__h1 *h, struct ari__h1_req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        h->q_head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        h->q_tail = r->prev;
    }
    r->prev = r->next = NULL;
    r->queued = false;
}

static void q_push(struct ari__h1 *h, struct ari__h1_req *r, bool front)
{
    r->queued = true;
    if (front) {
        r->prev = NULL;
        r->next = h->q_head;
        if (h->q_head != NULL) {
            h->q_head->prev = r;
        } else {
            h->q_tail = r;
        }
        h->q_head = r;
    } else {
        r->next = NULL;
        r->prev = h->q_tail;
        if (h->q_tail != NULL) {
            h->q_tail->next = r;
        } else {
            h->q_head = r;
        }
        h->q_tail = r;
    }
}

static void req_free(struct ari__h1_req *r)
{
    struct ari__h1 *h = r->h;

    if (h->n_free < FREE_MAX && !h->destroying) {
        r->next = h->free_req;
        h->free_req = r;
        h->n_free++;
    } else {
        free(r->out);
        free(r);
    }
}

/* Completes r (already detached from queue and connection) and recycles it. */
static void req_finish(struct ari__h1_req *r, int status, const struct http_response *resp)
{
    ari__h1_cb *cb = r->cb;
    void *arg = r->arg;

    ev_timer_stop(r->h->loop, &r->timeout_w);
    req_free(r);
    cb(status, resp, arg);
}

static void req_fail(struct ari__h1_req *r, int status, const char *why)
{
    struct http_response resp;

    memset(&resp, 0, sizeof(resp));
    resp.body = "";
    resp.error = why;
    req_finish(r, status, &resp);
}

static void conn_close(struct h1conn *k)
{
    struct ari__h1 *h = k->h;

    if (k->state == CONN_CLOSED) {
        return;
    }
    io_want(k, 0);
    ev_timer_stop(h->loop, &k->connect_w);
    if (k->fd >= 0) {
        close(k->fd);
    }
    k->fd = -1;
    k->state = CONN_CLOSED;
    k->req = NULL;
    k->in_len = 0;
    memset(&k->ps, 0, sizeof(k->ps));
    h->n_open--;
}

/*
 * Closes k and completes its request with status (or re-queues it once
 * when retry applies), then lets the queue use the free place.
 */
static void conn_fail(struct h1conn *k, int status, const char *why, enum retry retry)
{
    struct ari__h1_req *r = k->req;
    struct ari__h1 *h = k->h;

    conn_close(k);
    if (r != NULL) {
        r->conn = NULL;
        if (((retry == RETRY_IF_SAFE && r->retry_safe) || retry == RETRY_UNSENT) && !r->retried &&
            !h->destroying) {
            r->retried = true;
            r->out_off = 0;
            h->st.retries++;
            q_push(h, r, true);
        } else {
            req_fail(r, status, why);
        }
    }
    pump(h);
}

/* Writes what is left of k's request; arms the write watcher when it does not all go. */
static void conn_write(struct h1conn *k)
{
    struct ari__h1_req *r = k->req;

    while (r->out_off < r->out_len) {
        ssize_t n = send(k->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            /* EAGAIN: wait; any other error is found again by the callback. */
            io_want(k, EV_READ | EV_WRITE);
            return;
        }
        r->out_off += (size_t)n;
    }
    io_want(k, EV_READ);
}

static void conn_assign(struct h1conn *k, struct ari__h1_req *r)
{
    k->req = r;
    k->state = CONN_BUSY;
    r->conn = k;
    r->out_off = 0;
    k->h->st.requests++;
    conn_write(k);
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct h1conn *k = w->data;
    (void)loop;
    (void)revents;
    if (k->fd < 0) {
        conn_fail(k, -k->connect_err, err_str(-k->connect_err), RETRY_NO);
        return;
    }
    conn_fail(k, ERR_TIMEOUT, "connect timeout", RETRY_NO);
}

/* Opens a connection for r on the closed slot k. */
static void conn_open(struct h1conn *k, struct ari__h1_req *r)
{
    struct ari__h1 *h = k->h;
    int one = 1;
    int fd;

    r->conn = k;
    k->req = r;
    k->served = 0;
    k->in_len = 0;
    memset(&k->ps, 0, sizeof(k->ps));
    fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        /* Out of descriptors: reported from the loop (this may run inside a start). */
        k->fd = -1;
        k->state = CONN_CONNECTING;
        k->io_events = 0;
        k->connect_err = errno;
        h->n_open++;
        ev_timer_set(&k->connect_w, 0., 0.);
        ev_timer_start(h->loop, &k->connect_w);
        return;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    k->fd = fd;
    k->state = CONN_CONNECTING;
    k->io_events = 0;
    h->n_open++;
    h->st.connects++;
    k->connect_err = 0;
    if (connect(fd, (const struct sockaddr *)&h->addr, h->addrlen) != 0 && errno != EINPROGRESS) {
        /* Reported from the loop like every other failure (never inside a start). */
        k->connect_err = errno;
    }
    io_want(k, EV_WRITE);
    ev_timer_set(&k->connect_w, h->connect_timeout, 0.);
    ev_timer_start(h->loop, &k->connect_w);
}

/* Gives queued requests to idle connections, opening new ones up to the limit. */
static void pump(struct ari__h1 *h)
{
    while (h->q_head != NULL && !h->destroying) {
        struct h1conn *idle = NULL, *closed = NULL;
        struct ari__h1_req *r;
        for (unsigned i = 0; i < h->max_conns; i++) {
            struct h1conn *k = &h->conns[i];
            if (k->state == CONN_IDLE) {
                idle = k;
                break;
            }
            if (k->state == CONN_CLOSED && closed == NULL) {
                closed = k;
            }
        }
        if (idle == NULL && closed == NULL) {
            return;
        }
        r = h->q_head;
        q_remove(h, r);
        if (idle != NULL) {
            conn_assign(idle, r);
        } else {
            conn_open(closed, r);
        }
    }
}

static void conn_connected(struct h1conn *k)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err == 0) {
        err = k->connect_err;
    }
    if (err != 0) {
        conn_fail(k, -err, err_str(-err), RETRY_NO);
        return;
    }
    ev_timer_stop(k->h->loop, &k->connect_w);
    conn_assign(k, k->req);
}

/* A complete response m on k (which took used bytes of k->in). */
static void conn_response(struct h1conn *k, const struct ari__h1_msg *m, size_t used)
{
    struct ari__h1 *h = k->h;
    struct ari__h1_req *r = k->req;
    struct http_response resp;
    char *body = (char *)(uintptr_t)m->body;
    char saved = body[m->body_len];

    k->req = NULL;
    r->conn = NULL;
    k->served++;
    memset(&resp, 0, sizeof(resp));
    resp.code = m->code;
    resp.body = body;
    resp.body_len = m->body_len;
    resp.content_type = m->content_type;
    resp.location = m->location;
    resp.error = "";
    resp.reused = k->served > 1;
    /* The connection is free before the callback, so the queue goes first
     * (FIFO) and a request started from the callback can take it too. The
     * response stays in k->in: nothing reads it before we return. */
    if (m->close || used < k->in_len) {
        /* Closing (asked to, or bytes nobody asked for): after the callback. */
        k->state = CONN_BUSY;
    } else {
        k->state = CONN_IDLE;
        k->idle_since = ev_now(h->loop);
    }
    pump(h);
    body[m->body_len] = '\0';
    req_finish(r, 0, &resp);
    body[m->body_len] = saved;
    if (k->state == CONN_BUSY && k->req == NULL) {
        conn_close(k);
        pump(h);
        return;
    }
    k->in_len = 0;
}

/* The connection died before any byte of the response: may its request go again? */
static enum retry retry_kind(const struct h1conn *k)
{
    if (k->req != NULL && k->req->out_off == 0) {
        return RETRY_UNSENT;
    }
    return k->in_len == 0 && k->served > 0 ? RETRY_IF_SAFE : RETRY_NO;
}

/* Reads what is there and completes the response when it is whole. */
static void conn_read(struct h1conn *k)
{
    struct ari__h1 *h = k->h;
    bool eof = false;
    struct ari__h1_msg m;
    const char *why;
    long used;

    for (;;) {
        ssize_t n;
        if (k->in_len == k->in_cap) {
            size_t cap = k->in_cap != 0 ? k->in_cap * 2 : IN_START;
            char *p;
            if (k->in_cap > h->max_body + ARI__H1_HEAD_MAX + 65536) {
                conn_fail(k, ERR_TOOBIG, "response too big", RETRY_NO);
                return;
            }
            p = realloc(k->in, cap + 1);
            if (p == NULL) {
                conn_fail(k, ERR_NOMEM, "out of memory", RETRY_NO);
                return;
            }
            k->in = p;
            k->in_cap = cap;
        }
        n = recv(k->fd, k->in + k->in_len, k->in_cap - k->in_len, 0);
        if (n > 0) {
            k->in_len += (size_t)n;
            if (k->in_len < k->in_cap) {
                break; /* drained (a full buffer may have more) */
            }
            continue;
        }
        if (n == 0) {
            eof = true;
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        }
        {
            int e = errno;
            /* A reset before any byte of the response on a reused connection
             * is the idle-close race: retried when safe. */
            conn_fail(k, -e, err_str(-e), retry_kind(k));
            return;
        }
    }
    if (k->state == CONN_IDLE) {
        if (eof || k->in_len > 0) {
            /* Bytes or a close while idle: the server is done with this connection. */
            conn_close(k);
            pump(h);
        }
        return;
    }
    for (;;) {
        used =
            ari__h1_parse(&k->ps, k->in, k->in_len, eof, k->req->head_only, h->max_body, &m, &why);
        if (used > 0 && m.code < 200) {
            /* 1xx: skipped. */
            memmove(k->in, k->in + used, k->in_len - (size_t)used);
            k->in_len -= (size_t)used;
            continue;
        }
        break;
    }
    if (used > 0) {
        conn_response(k, &m, (size_t)used);
        return;
    }
    if (used == ARI__H1_BIG) {
        conn_fail(k, ERR_TOOBIG, "response too big", RETRY_NO);
    } else if (used == ARI__H1_BAD) {
        conn_fail(k, ERR_HTTP, why, eof && k->in_len == 0 ? retry_kind(k) : RETRY_NO);
    }
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct h1conn *k = w->data;
    (void)loop;

    if (k->state == CONN_CONNECTING) {
        conn_connected(k);
        return;
    }
    if ((revents & EV_WRITE) && k->state == CONN_BUSY && k->req != NULL &&
        k->req->out_off < k->req->out_len) {
        ssize_t n = send(k->fd, k->req->out + k->req->out_off, k->req->out_len - k->req->out_off,
                         MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            conn_fail(k, -e, err_str(-e), retry_kind(k));
            return;
        }
        if (n > 0) {
            k->req->out_off += (size_t)n;
        }
        if (k->req->out_off == k->req->out_len) {
            io_want(k, EV_READ);
        }
    }
    if (revents & EV_READ) {
        conn_read(k);
    }
}

static void req_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari__h1_req *r = w->data;
    struct ari__h1 *h = r->h;
    (void)loop;
    (void)revents;

    if (r->queued) {
        q_remove(h, r);
        req_fail(r, ERR_TIMEOUT, "request timeout");
        return;
    }
    if (r->conn != NULL) {
        struct h1conn *k = r->conn;
        k->req = NULL;
        r->conn = NULL;
        conn_close(k);
        req_fail(r, ERR_TIMEOUT, "request timeout");
        pump(h);
    }
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari__h1 *h = w->data;
    ev_tstamp now = ev_now(loop);
    (void)revents;

    for (unsigned i = 0; i < h->max_conns; i++) {
        struct h1conn *k = &h->conns[i];
        if (k->state == CONN_IDLE && now - k->idle_since >= h->idle_timeout) {
            conn_close(k);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* API                                                                     */
/* ---------------------------------------------------------------------- */

static bool buf_add(struct ari__h1_req *r, const char *s, size_t n)
{
    if (r->out_len + n > r->out_cap) {
        size_t cap = r->out_cap != 0 ? r->out_cap : 512;
        char *p;
        while (cap < r->out_len + n) {
            cap *= 2;
        }
        p = realloc(r->out, cap);
        if (p == NULL) {
            return false;
        }
        r->out = p;
        r->out_cap = cap;
    }
    memcpy(r->out + r->out_len, s, n);
    r->out_len += n;
    return true;
}

static size_t fmt_size(char *dst, size_t v)
{
    char tmp[24];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        dst[i] = tmp[n - 1 - i];
    }
    return n;
}

int ari__h1_start(struct ari__h1 *h, const struct ari__h1_request *rq, ari__h1_cb *cb, void *arg,
                  struct ari__h1_req **out)
{
    struct ari__h1_req *r;
    bool ok;
    bool has_body;
    size_t mlen;

    if (out != NULL) {
        *out = NULL;
    }
    if (h == NULL || rq == NULL || rq->method == NULL || rq->target == NULL || cb == NULL ||
        (rq->body == NULL && rq->body_len > 0)) {
        return ERR_INVAL;
    }
    if (h->destroying) {
        return ERR_SHUTDOWN;
    }
    r = h->free_req;
    if (r != NULL) {
        h->free_req = r->next;
        h->n_free--;
    } else {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            return ERR_NOMEM;
        }
        r->h = h;
        ev_timer_init(&r->timeout_w, req_timeout_cb, 0., 0.);
        r->timeout_w.data = r;
    }
    r->conn = NULL;
    r->prev = r->next = NULL;
    r->cb = cb;
    r->arg = arg;
    r->queued = false;
    r->retry_safe = rq->retry_safe;
    r->retried = false;
    mlen = strlen(rq->method);
    r->head_only = mlen == 4 && memcmp(rq->method, "HEAD", 4) == 0;
    r->out_len = 0;
    r->out_off = 0;
    has_body = rq->body != NULL || (mlen == 4 && memcmp(rq->method, "POST", 4) == 0) ||
               (mlen == 3 && memcmp(rq->method, "PUT", 3) == 0);
    ok = buf_add(r, rq->method, mlen) && buf_add(r, " ", 1) &&
         buf_add(r, rq->target, rq->target_len) && buf_add(r, h->prefix, h->prefix_len);
    if (ok && has_body) {
        char line[64];
        size_t n = 0;
        if (rq->body_len > 0) {
            const char *ct = rq->content_type != NULL ? rq->content_type : "application/json";
            ok = buf_add(r, "Content-Type: ", 14) && buf_add(r, ct, strlen(ct)) &&
                 buf_add(r, "\r\n", 2);
        }
        memcpy(line, "Content-Length: ", 16);
        n = 16 + fmt_size(line + 16, rq->body_len);
        memcpy(line + n, "\r\n", 2);
        ok = ok && buf_add(r, line, n + 2);
    }
    ok = ok && buf_add(r, "\r\n", 2) && (rq->body_len == 0 || buf_add(r, rq->body, rq->body_len));
    if (!ok) {
        req_free(r);
        return ERR_NOMEM;
    }
    ev_timer_set(&r->timeout_w, (double)(rq->timeout_ms > 0 ? rq->timeout_ms : 5000) / 1000.0, 0.);
    ev_timer_start(h->loop, &r->timeout_w);
    if (out != NULL) {
        *out = r;
    }
    /* An idle connection takes it now; otherwise it waits its turn. */
    if (h->q_head == NULL) {
        for (unsigned i = 0; i < h->max_conns; i++) {
            if (h->conns[i].state == CONN_IDLE) {
                conn_assign(&h->conns[i], r);
                return 0;
            }
        }
    }
    h->st.queued += h->n_open >= h->max_conns;
    q_push(h, r, false);
    pump(h);
    return 0;
}

void ari__h1_cancel(struct ari__h1_req *r)
{
    struct ari__h1 *h;

    if (r == NULL) {
        return;
    }
    h = r->h;
    ev_timer_stop(h->loop, &r->timeout_w);
    if (r->queued) {
        q_remove(h, r);
    } else if (r->conn != NULL) {
        struct h1conn *k = r->conn;
        k->req = NULL;
        r->conn = NULL;
        conn_close(k); /* the response, if any, would belong to nobody */
    }
    req_free(r);
    pump(h);
}

int ari__h1_create(struct ev_loop *loop, const struct ari__h1_config *cfg, struct ari__h1 **out)
{
    struct ari__h1 *h;
    size_t hl, al;

    if (out != NULL) {
        *out = NULL;
    }
    if (loop == NULL || cfg == NULL || out == NULL || cfg->addr == NULL ||
        cfg->addrlen > sizeof(h->addr) || cfg->host_header == NULL) {
        return ERR_INVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return ERR_NOMEM;
    }
    h->loop = loop;
    memcpy(&h->addr, cfg->addr, cfg->addrlen);
    h->addrlen = cfg->addrlen;
    h->max_conns = cfg->max_conns > 0 ? cfg->max_conns : 16;
    h->connect_timeout =
        (double)(cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000) / 1e3;
    h->idle_timeout = (double)(cfg->idle_timeout_ms > 0 ? cfg->idle_timeout_ms : 10000) / 1e3;
    h->max_body = cfg->max_response_bytes > 0 ? cfg->max_response_bytes : (size_t)8 << 20;
    hl = strlen(cfg->host_header);
    al = cfg->auth_line != NULL ? strlen(cfg->auth_line) : 0;
    h->prefix = malloc(32 + hl + al + 4);
    h->conns = calloc(h->max_conns, sizeof(*h->conns));
    if (h->prefix == NULL || h->conns == NULL) {
        free(h->prefix);
        free(h->conns);
        free(h);
        return ERR_NOMEM;
    }
    h->prefix_len =
        (size_t)snprintf(h->prefix, 32 + hl, " HTTP/1.1\r\nHost: %s\r\n", cfg->host_header);
    if (al > 0) {
        memcpy(h->prefix + h->prefix_len, cfg->auth_line, al);
        memcpy(h->prefix + h->prefix_len + al, "\r\n", 3);
        h->prefix_len += al + 2;
    }
    for (unsigned i = 0; i < h->max_conns; i++) {
        struct h1conn *k = &h->conns[i];
        k->h = h;
        k->fd = -1;
        ev_io_init(&k->io, conn_io_cb, -1, 0);
        k->io.data = k;
        ev_timer_init(&k->connect_w, connect_timeout_cb, 0., 0.);
        k->connect_w.data = k;
    }
    ev_timer_init(&h->idle_w, idle_cb, h->idle_timeout / 2, h->idle_timeout / 2);
    h->idle_w.data = h;
    ev_timer_start(loop, &h->idle_w);
    ev_unref(loop); /* the sweep alone does not keep the loop running */
    *out = h;
    return 0;
}

void ari__h1_destroy(struct ari__h1 *h)
{
    struct ari__h1_req *r;

    if (h == NULL) {
        return;
    }
    h->destroying = true;
    while ((r = h->q_head) != NULL) {
        q_remove(h, r);
        req_fail(r, ERR_CANCELED, "client destroyed");
    }
    for (unsigned i = 0; i < h->max_conns; i++) {
        struct h1conn *k = &h->conns[i];
        r = k->req;
        if (r != NULL) {
            k->req = NULL;
            r->conn = NULL;
            req_fail(r, ERR_CANCELED, "client destroyed");
        }
        conn_close(k);
        free(k->in);
    }
    ev_ref(h->loop);
    ev_timer_stop(h->loop, &h->idle_w);
    while ((r = h->free_req) != NULL) {
        h->free_req = r->next;
        free(r->out);
        free(r);
    }
    memset(h->prefix, 0, h->prefix_len);
    free(h->prefix);
    free(h->conns);
    free(h);
}

void ari__h1_get_stats(const struct ari__h1 *h, struct ari__h1_stats *st)
{
    if (h != NULL && st != NULL) {
        *st = h->st;
    }
}
