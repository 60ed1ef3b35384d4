/* SPDX-License-Identifier: MIT */
/*
 * test_httpd_util: helpers shared by the httpd test binaries -- a blocking
 * libcurl client, a raw-socket HTTP client for requests curl would not send,
 * and a small RFC 6455 client built on curl's CONNECT_ONLY mode (plain TCP or
 * TLS, the same framing code). Header-only (static functions), included by
 * each test file; every wait is bounded.
 */
#ifndef TESTS_UNIT_CORE_TEST_HTTPD_UTIL_H
#define TESTS_UNIT_CORE_TEST_HTTPD_UTIL_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/httpd.h"

#define T_TIMEOUT_MS 10000L

/* ---------------------------------------------------------------------- */
/* libcurl client                                                          */
/* ---------------------------------------------------------------------- */

struct t_buf {
    char *data;
    size_t len;
};

struct t_resp {
    long status;
    struct t_buf body;
    struct t_buf headers; /* raw response header lines */
    json_t *json;         /* body parsed, when it is JSON */
    long new_conns;       /* CURLINFO_NUM_CONNECTS */
    CURLcode rc;
};

static inline size_t t_buf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct t_buf *b = arg;
    size_t n = size * nmemb;
    char *nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL) {
        return 0;
    }
    memcpy(nd + b->len, ptr, n);
    b->data = nd;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static inline void t_resp_free(struct t_resp *r)
{
    free(r->body.data);
    free(r->headers.data);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* The value of response header name (first occurrence), in buf; NULL when absent. */
static inline const char *t_header(const struct t_resp *r, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    const char *p = r->headers.data;

    while (p != NULL && *p != '\0') {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t vl;
            while (*v == ' ') {
                v++;
            }
            vl = ll - (size_t)(v - p);
            if (vl >= size) {
                vl = size - 1;
            }
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = eol != NULL ? eol + 2 : NULL;
    }
    return NULL;
}

/* error.code of a JSON error body, or "" */
static inline const char *t_err_code(const struct t_resp *r)
{
    json_t *e = r->json != NULL ? json_object_get(r->json, "error") : NULL;
    const char *s = e != NULL ? json_string_value(json_object_get(e, "code")) : NULL;
    return s != NULL ? s : "";
}

static inline const char *t_err_message(const struct t_resp *r)
{
    json_t *e = r->json != NULL ? json_object_get(r->json, "error") : NULL;
    const char *s = e != NULL ? json_string_value(json_object_get(e, "message")) : NULL;
    return s != NULL ? s : "";
}

struct t_req {
    const char *method;      /* NULL: GET, or POST when body is set */
    const char *body;        /* request body, or NULL */
    size_t body_len;         /* 0: strlen(body) */
    const char *const *hdrs; /* NULL-terminated extra request headers */
    CURL *reuse;             /* keep-alive tests pass a handle */
    long timeout_ms;         /* 0: T_TIMEOUT_MS */
    bool chunked;            /* send the body with Transfer-Encoding: chunked */
    bool insecure;           /* https with a self-signed certificate */
};

struct t_reader {
    const char *data;
    size_t len, off;
};

static inline size_t t_read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct t_reader *r = arg;
    size_t n = size * nmemb;
    if (n > r->len - r->off) {
        n = r->len - r->off;
    }
    memcpy(buf, r->data + r->off, n);
    r->off += n;
    return n;
}

/* Performs one request; the response goes to *out (free with t_resp_free). */
static inline CURLcode t_http(const char *url, const struct t_req *rq, struct t_resp *out)
{
    CURL *c = rq->reuse != NULL ? rq->reuse : curl_easy_init();
    struct curl_slist *hl = NULL;
    struct t_reader rd = { 0 };
    const char *method = rq->method;

    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        return CURLE_FAILED_INIT;
    }
    if (rq->reuse != NULL) {
        curl_easy_reset(c);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : T_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, t_buf_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    if (rq->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    for (const char *const *h = rq->hdrs; h != NULL && *h != NULL; h++) {
        hl = curl_slist_append(hl, *h);
    }
    if (rq->body != NULL) {
        rd.data = rq->body;
        rd.len = rq->body_len != 0 ? rq->body_len : strlen(rq->body);
        if (method == NULL) {
            method = "POST";
        }
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, t_read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &rd);
        if (rq->chunked) {
            hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rd.len);
        }
        /* Send the body right away unless a test asks for Expect itself. */
        hl = curl_slist_append(hl, "Expect:");
    }
    if (method != NULL) {
        if (strcmp(method, "HEAD") == 0) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &out->new_conns);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (rq->reuse == NULL) {
        curl_easy_cleanup(c);
    }
    if (out->body.data != NULL) {
        out->json = json_loadb(out->body.data, out->body.len, 0, NULL);
    }
    return out->rc;
}

static inline CURLcode t_get(const char *url, struct t_resp *out)
{
    struct t_req rq = { 0 };
    return t_http(url, &rq, out);
}

/* ---------------------------------------------------------------------- */
/* Raw sockets                                                             */
/* ---------------------------------------------------------------------- */

static inline int t_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { .tv_sec = 10 };

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline bool t_send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/*
 * Sends a raw request and reads until the peer closes or a complete response
 * (head + Content-Length body) is in; returns the bytes read into buf.
 */
static inline size_t t_raw(int port, const char *req, size_t req_len, char *buf, size_t size)
{
    int fd = t_connect(port);
    size_t got = 0;

    if (fd < 0) {
        return 0;
    }
    t_send_all(fd, req, req_len != 0 ? req_len : strlen(req));
    while (got + 1 < size) {
        ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
        char *eoh;
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        eoh = strstr(buf, "\r\n\r\n");
        if (eoh != NULL) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            if (cl != NULL && cl < eoh) {
                long v = strtol(cl + 17, NULL, 10);
                if ((size_t)(eoh + 4 - buf) + (size_t)v <= got) {
                    break;
                }
            }
        }
    }
    buf[got] = '\0';
    close(fd);
    return got;
}

/* The status code of a raw response, or 0. */
static inline int t_raw_status(const char *resp)
{
    if (strncmp(resp, "HTTP/1.1 ", 9) != 0) {
        return 0;
    }
    return atoi(resp + 9);
}

/* ---------------------------------------------------------------------- */
/* WebSocket client over curl CONNECT_ONLY                                 */
/* ---------------------------------------------------------------------- */

struct t_ws {
    CURL *c;
    curl_socket_t fd;
    unsigned char *rbuf; /* received, not yet consumed */
    size_t rlen, rcap;
    int status;      /* handshake status */
    char head[4096]; /* handshake response head */
};

static inline int t_ws_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    int v = (int)(long)arg;
    (void)purpose;
    if (v > 0) {
        setsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
    return CURL_SOCKOPT_OK;
}

static inline bool t_ws_wait(struct t_ws *w, bool for_read, long ms)
{
    struct pollfd p = { .fd = (int)w->fd, .events = for_read ? POLLIN : POLLOUT };
    return poll(&p, 1, (int)ms) > 0;
}

static inline bool t_ws_write(struct t_ws *w, const void *data, size_t len)
{
    const unsigned char *p = data;
    int64_t deadline = clock_mono_us() + T_TIMEOUT_MS * 1000;

    while (len > 0) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(w->c, p, len, &n);
        if (rc == CURLE_AGAIN) {
            if (clock_mono_us() > deadline) {
                return false;
            }
            t_ws_wait(w, false, 100);
            continue;
        }
        if (rc != CURLE_OK) {
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

/* Reads more into rbuf; false on EOF, error or after ms. */
static inline bool t_ws_fill(struct t_ws *w, long ms)
{
    int64_t deadline = clock_mono_us() + ms * 1000;

    if (w->rcap - w->rlen < 65536) {
        size_t cap = w->rcap != 0 ? w->rcap * 2 : 131072;
        unsigned char *nb = realloc(w->rbuf, cap);
        if (nb == NULL) {
            return false;
        }
        w->rbuf = nb;
        w->rcap = cap;
    }
    while (true) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(w->c, w->rbuf + w->rlen, w->rcap - w->rlen, &n);
        if (rc == CURLE_AGAIN) {
            int64_t left = (deadline - clock_mono_us()) / 1000;
            if (left <= 0) {
                return false;
            }
            t_ws_wait(w, true, left < 100 ? left : 100);
            continue;
        }
        if (rc != CURLE_OK || n == 0) {
            return false;
        }
        w->rlen += n;
        return true;
    }
}

static inline void t_ws_consume(struct t_ws *w, size_t n)
{
    memmove(w->rbuf, w->rbuf + n, w->rlen - n);
    w->rlen -= n;
}

/* Connects to base ("http://127.0.0.1:N" or https) and upgrades path. */
static inline bool t_ws_open(struct t_ws *w, const char *base, const char *path,
                             const char *extra_headers, long rcvbuf)
{
    char url[256], req[2048];
    curl_socket_t fd = CURL_SOCKET_BAD;
    size_t hl;
    char *eoh;

    memset(w, 0, sizeof(*w));
    w->c = curl_easy_init();
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(w->c, CURLOPT_URL, url);
    curl_easy_setopt(w->c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(w->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(w->c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(w->c, CURLOPT_CONNECTTIMEOUT_MS, T_TIMEOUT_MS);
    if (rcvbuf > 0) {
        /* Before connect, so the advertised window stays small. */
        curl_easy_setopt(w->c, CURLOPT_SOCKOPTFUNCTION, t_ws_sockopt);
        curl_easy_setopt(w->c, CURLOPT_SOCKOPTDATA, (void *)rcvbuf);
    }
    if (curl_easy_perform(w->c) != CURLE_OK) {
        return false;
    }
    curl_easy_getinfo(w->c, CURLINFO_ACTIVESOCKET, &fd);
    w->fd = fd;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, extra_headers != NULL ? extra_headers : "");
    if (!t_ws_write(w, req, strlen(req))) {
        return false;
    }
    while ((eoh = w->rbuf != NULL ? strstr((char *)w->rbuf, "\r\n\r\n") : NULL) == NULL) {
        if (!t_ws_fill(w, T_TIMEOUT_MS)) {
            break;
        }
        w->rbuf[w->rlen] = '\0';
    }
    if (w->rbuf == NULL) {
        return false;
    }
    w->rbuf[w->rlen < w->rcap ? w->rlen : w->rcap - 1] = '\0';
    eoh = strstr((char *)w->rbuf, "\r\n\r\n");
    hl = eoh != NULL ? (size_t)(eoh + 4 - (char *)w->rbuf) : w->rlen;
    snprintf(w->head, sizeof(w->head), "%.*s", (int)hl, (char *)w->rbuf);
    w->status = t_raw_status(w->head);
    if (w->status == 101) {
        t_ws_consume(w, hl);
    }
    return w->status == 101;
}

/* Sends one masked frame (opcode 1 text, 2 binary, 8 close, 9 ping). */
static inline bool t_ws_send(struct t_ws *w, int opcode, const void *data, size_t len)
{
    unsigned char hdr[14];
    unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    size_t hl = 2;
    unsigned char *frame;
    bool ok;

    hdr[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        hdr[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        hdr[1] = 0x80 | 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        hl = 4;
    } else {
        hdr[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) {
            hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        }
        hl = 10;
    }
    memcpy(hdr + hl, mask, 4);
    hl += 4;
    frame = malloc(hl + len);
    if (frame == NULL) {
        return false;
    }
    memcpy(frame, hdr, hl);
    for (size_t i = 0; i < len; i++) {
        frame[hl + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    }
    ok = t_ws_write(w, frame, hl + len);
    free(frame);
    return ok;
}

/*
 * Receives one frame; its payload (malloc'd, NUL-terminated) goes to *data.
 * Returns the opcode, or -1 on EOF/timeout.
 */
static inline int t_ws_recv(struct t_ws *w, char **data, size_t *len, long ms)
{
    int64_t deadline = clock_mono_us() + ms * 1000;

    while (true) {
        if (w->rlen >= 2) {
            size_t hl = 2;
            uint64_t pl = w->rbuf[1] & 0x7f;
            if (pl == 126 && w->rlen >= 4) {
                pl = ((uint64_t)w->rbuf[2] << 8) | w->rbuf[3];
                hl = 4;
            } else if (pl == 127 && w->rlen >= 10) {
                pl = 0;
                for (int i = 0; i < 8; i++) {
                    pl = (pl << 8) | w->rbuf[2 + i];
                }
                hl = 10;
            } else if (pl >= 126) {
                hl = 0; /* need more */
            }
            if (hl > 0 && w->rlen >= hl + pl) {
                int op = w->rbuf[0] & 0x0f;
                *data = malloc(pl + 1);
                memcpy(*data, w->rbuf + hl, pl);
                (*data)[pl] = '\0';
                *len = pl;
                t_ws_consume(w, hl + pl);
                return op;
            }
        }
        int64_t left = (deadline - clock_mono_us()) / 1000;
        if (left <= 0 || !t_ws_fill(w, left)) {
            return -1;
        }
    }
}

static inline void t_ws_close(struct t_ws *w)
{
    if (w->c != NULL) {
        curl_easy_cleanup(w->c);
    }
    free(w->rbuf);
    memset(w, 0, sizeof(*w));
}

/* ---------------------------------------------------------------------- */
/* Misc                                                                    */
/* ---------------------------------------------------------------------- */

static inline void t_sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Polls cond (a function of arg) every 5 ms for up to ms. */
static inline bool t_wait_for(bool (*cond)(void *), void *arg, long ms)
{
    for (long waited = 0; waited <= ms; waited += 5) {
        if (cond(arg)) {
            return true;
        }
        t_sleep_ms(5);
    }
    return cond(arg);
}

#endif
