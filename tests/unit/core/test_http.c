/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/http against a small HTTP/1.1 server in a test thread
 * (plain sockets, one thread per connection, keep-alive). It answers by
 * path:
 *
 *   /ok            200 "ok"
 *   /slow          200 after 3 s (gives up early when the client leaves)
 *   /big           200, 1 MiB with Content-Length
 *   /bigchunked    200, 1 MiB chunked (no length known in advance)
 *   /status/NNN    status NNN
 *   /echo          200, body = method, path, the raw request headers, body
 *   /redirect      302 with Location: /ok
 *   /multi         two X-Multi headers
 *
 * and counts accepted connections, which is how keep-alive is checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/http.h"
#include "tests/support/evloop.h"

/* ---------------------------------------------------------------------- */
/* Test server                                                             */
/* ---------------------------------------------------------------------- */

#define SRV_MAX_CONNS 512
#define SRV_BUF       (256 * 1024)
#define BIG_LEN       (1024 * 1024)

struct srv_conn {
    struct srv *srv;
    pthread_t th;
    int fd;
};

struct srv {
    int lfd;
    int port;
    int wake[2];
    pthread_t acceptor;
    atomic_int accepts;
    atomic_bool stop;
    pthread_mutex_t mu;
    struct srv_conn *conns[SRV_MAX_CONNS];
    int nconns;
};

static int write_all(int fd, const void *p, size_t n)
{
    const char *b = p;

    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int respond(int fd, int code, const char *extra_headers, const char *body, size_t len,
                   int close_after)
{
    char head[1024];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s\r\n", code,
                     len, extra_headers != NULL ? extra_headers : "",
                     close_after ? "Connection: close\r\n" : "");
    if (write_all(fd, head, (size_t)n) != 0) {
        return -1;
    }
    return len > 0 ? write_all(fd, body, len) : 0;
}

/* Waits up to ms for the client to go away; returns 1 if it did or the server stops. */
static int wait_client_gone(struct srv *s, int fd, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;
        if (atomic_load(&s->stop)) {
            return 1;
        }
        if (poll(&p, 1, 50) > 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
            return 1;
        }
    }
    return 0;
}

static int send_big(int fd, int chunked)
{
    char chunk[16384]; /* per thread: connection threads run this concurrently */
    const char *head_len = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: 1048576\r\n\r\n";
    const char *head_chunked = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";

    memset(chunk, 'x', sizeof(chunk));
    if (write_all(fd, chunked ? head_chunked : head_len,
                  strlen(chunked ? head_chunked : head_len)) != 0) {
        return -1;
    }
    for (size_t sent = 0; sent < BIG_LEN; sent += sizeof(chunk)) {
        if (chunked) {
            char sz[32];
            int n = snprintf(sz, sizeof(sz), "%zx\r\n", sizeof(chunk));
            if (write_all(fd, sz, (size_t)n) != 0 || write_all(fd, chunk, sizeof(chunk)) != 0 ||
                write_all(fd, "\r\n", 2) != 0) {
                return -1;
            }
        } else if (write_all(fd, chunk, sizeof(chunk)) != 0) {
            return -1;
        }
    }
    return chunked ? write_all(fd, "0\r\n\r\n", 5) : 0;
}

/* Answers one parsed request; returns -1 to close the connection. */
static int route(struct srv *s, int fd, const char *method, const char *path, const char *hdrs,
                 size_t hdrs_len, const char *body, size_t blen, int close_after)
{
    if (strcmp(path, "/ok") == 0) {
        return respond(fd, 200, "Content-Type: text/plain\r\n", "ok", 2, close_after);
    }
    if (strcmp(path, "/slow") == 0) {
        if (wait_client_gone(s, fd, 3000)) {
            return -1;
        }
        return respond(fd, 200, "Content-Type: text/plain\r\n", "slow", 4, close_after);
    }
    if (strcmp(path, "/big") == 0 || strcmp(path, "/bigchunked") == 0) {
        return send_big(fd, strcmp(path, "/bigchunked") == 0);
    }
    if (strncmp(path, "/status/", 8) == 0) {
        char b[64];
        int n = snprintf(b, sizeof(b), "status %s", path + 8);
        return respond(fd, (int)strtol(path + 8, NULL, 10), "Content-Type: text/plain\r\n", b,
                       (size_t)n, close_after);
    }
    if (strcmp(path, "/redirect") == 0) {
        return respond(fd, 302, "Location: /ok\r\n", "", 0, close_after);
    }
    if (strcmp(path, "/multi") == 0) {
        return respond(fd, 200, "X-Multi: first\r\nX-Multi: second\r\n", "m", 1, close_after);
    }
    if (strcmp(path, "/echo") == 0) {
        char *out = malloc(hdrs_len + blen + 512);
        char extra[128];
        size_t n;
        int rc;
        n = (size_t)snprintf(out, 512, "method=%s\npath=%s\n", method, path);
        memcpy(out + n, hdrs, hdrs_len);
        n += hdrs_len;
        memcpy(out + n, "\nbody=", 6);
        n += 6;
        memcpy(out + n, body, blen);
        n += blen;
        snprintf(extra, sizeof(extra), "Content-Type: text/plain\r\nX-Echo-Method: %s\r\n", method);
        rc = respond(fd, 200, extra, out, n, close_after);
        free(out);
        return rc;
    }
    return respond(fd, 404, NULL, "", 0, close_after);
}

static const char *find_header(const char *hdrs, const char *name, char *val, size_t vsz)
{
    size_t nl = strlen(name);
    for (const char *p = hdrs; p != NULL && *p != '\0';) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL) {
            break;
        }
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t n;
            while (*v == ' ') {
                v++;
            }
            n = (size_t)(eol - v) < vsz - 1 ? (size_t)(eol - v) : vsz - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
        p = eol + 2;
    }
    return NULL;
}

static void *srv_conn_main(void *arg)
{
    struct srv_conn *sc = arg;
    struct srv *s = sc->srv;
    char *buf = malloc(SRV_BUF + 1);
    size_t have = 0;

    while (!atomic_load(&s->stop)) {
        char *end, method[16], path[256], val[64];
        size_t head_len, blen = 0;
        int close_after;
        ssize_t r;

        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            if (have == SRV_BUF) {
                break;
            }
            r = recv(sc->fd, buf + have, SRV_BUF - have, 0);
            if (r <= 0) {
                break;
            }
            have += (size_t)r;
            continue;
        }
        head_len = (size_t)(end - buf) + 4;
        if (sscanf(buf, "%15s %255s", method, path) != 2) {
            break;
        }
        if (find_header(buf, "Content-Length", val, sizeof(val)) != NULL) {
            blen = (size_t)strtoul(val, NULL, 10);
        }
        while (have < head_len + blen && have < SRV_BUF) {
            r = recv(sc->fd, buf + have, SRV_BUF - have, 0);
            if (r <= 0) {
                goto out;
            }
            have += (size_t)r;
        }
        if (have < head_len + blen) {
            break;
        }
        close_after = find_header(buf, "Connection", val, sizeof(val)) != NULL &&
                      strcasecmp(val, "close") == 0;
        {
            const char *hdrs = strstr(buf, "\r\n") + 2;
            if (route(s, sc->fd, method, path, hdrs, (size_t)(end + 2 - hdrs), buf + head_len, blen,
                      close_after) != 0 ||
                close_after) {
                break;
            }
        }
        memmove(buf, buf + head_len + blen, have - head_len - blen);
        have -= head_len + blen;
    }
out:
    shutdown(sc->fd, SHUT_WR);
    free(buf);
    return NULL;
}

static void *srv_accept_main(void *arg)
{
    struct srv *s = arg;

    for (;;) {
        struct pollfd p[2] = { { .fd = s->lfd, .events = POLLIN },
                               { .fd = s->wake[0], .events = POLLIN } };
        struct srv_conn *sc;
        int fd;

        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            break;
        }
        if (atomic_load(&s->stop) || (p[1].revents & POLLIN)) {
            break;
        }
        if (!(p[0].revents & POLLIN)) {
            continue;
        }
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        atomic_fetch_add(&s->accepts, 1);
        /* Headers and body go out in separate writes: avoid Nagle + delayed ACK stalls. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
        sc = calloc(1, sizeof(*sc));
        sc->srv = s;
        sc->fd = fd;
        pthread_mutex_lock(&s->mu);
        if (s->nconns == SRV_MAX_CONNS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            free(sc);
            continue;
        }
        s->conns[s->nconns++] = sc;
        pthread_mutex_unlock(&s->mu);
        pthread_create(&sc->th, NULL, srv_conn_main, sc);
    }
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof(*s));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int one = 1;

    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 256), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->wake), 0);
    assert_int_equal(pthread_create(&s->acceptor, NULL, srv_accept_main, s), 0);
    return s;
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, true);
    assert_int_equal(write(s->wake[1], "x", 1), 1);
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->nconns; i++) {
        shutdown(s->conns[i]->fd, SHUT_RDWR);
        pthread_join(s->conns[i]->th, NULL);
        close(s->conns[i]->fd);
        free(s->conns[i]);
    }
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---------------------------------------------------------------------- */
/* Fixture and helpers                                                     */
/* ---------------------------------------------------------------------- */

struct fx {
    struct ev_loop *loop;
    struct srv *srv;
    struct http_client *client;
    char url[128];
};

struct result {
    int done;
    int status;
    long code;
    char *body;
    size_t body_len;
    char ctype[128];
    char location[128];
    char error[256];
    char echo_method[32];
    char multi[32];
    bool reused;
    int64_t total_us;
    bool *inside_start; /* set while http_xfer_start runs */
    bool ran_inside_start;
};

static void on_done(int status, const struct http_response *r, void *arg)
{
    struct result *res = arg;
    const char *h;

    res->done++;
    res->status = status;
    res->code = r->code;
    free(res->body);
    res->body = malloc(r->body_len + 1);
    memcpy(res->body, r->body, r->body_len + 1);
    res->body_len = r->body_len;
    snprintf(res->ctype, sizeof(res->ctype), "%s", r->content_type ? r->content_type : "");
    snprintf(res->location, sizeof(res->location), "%s", r->location ? r->location : "");
    snprintf(res->error, sizeof(res->error), "%s", r->error);
    h = http_response_header(r, "X-Echo-Method");
    snprintf(res->echo_method, sizeof(res->echo_method), "%s", h != NULL ? h : "");
    h = http_response_header(r, "x-multi");
    snprintf(res->multi, sizeof(res->multi), "%s", h != NULL ? h : "");
    res->reused = r->reused;
    res->total_us = r->total_us;
    if (res->inside_start != NULL && *res->inside_start) {
        res->ran_inside_start = true;
    }
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->srv = srv_start();
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->srv->port);
    assert_int_equal(http_client_create(f->loop, NULL, &f->client), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    http_client_destroy(f->client);
    srv_stop(f->srv);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

static void result_free(struct result *r)
{
    free(r->body);
    r->body = NULL;
}

/* The URL of path on the test server; a ring of buffers, so a few can be live at once. */
static const char *url(struct fx *f, const char *path)
{
    static char buf[8][256];
    static unsigned next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof(buf[0]), "%s%s", f->url, path);
    return b;
}

/* Starts rq and waits for its completion (5 s at most). */
static void do_request(struct fx *f, struct http_request *rq, struct result *res)
{
    assert_int_equal(http_xfer_start(f->client, rq, on_done, res, NULL), 0);
    assert_true(evloop_run_until(f->loop, &res->done, 1, 5.0));
    assert_int_equal(res->done, 1);
}

static int closed_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---------------------------------------------------------------------- */
/* Cases                                                                   */
/* ---------------------------------------------------------------------- */

static void test_http_get_sends_headers_and_reads_response(void **state)
{
    struct fx *f = *state;
    const char *hdrs[] = { "X-Call-Id: c-42", "Accept: application/json" };
    struct http_request rq = { .url = url(f, "/echo"), .headers = hdrs, .nheaders = 2 };
    struct result res = { 0 };

    do_request(f, &rq, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.code, 200);
    assert_non_null(strstr(res.body, "method=GET\n"));
    assert_non_null(strstr(res.body, "X-Call-Id: c-42\r\n"));
    assert_non_null(strstr(res.body, "Accept: application/json\r\n"));
    assert_null(strstr(res.body, "Expect:"));
    assert_string_equal(res.ctype, "text/plain");
    assert_string_equal(res.echo_method, "GET");
    assert_string_equal(res.error, "");
    assert_true(res.total_us > 0);
    result_free(&res);
}

static void test_http_post_binary_body_with_basic_auth(void **state)
{
    struct fx *f = *state;
    static const char body[] = { 'a', 0, 'b', '\r', '\n', 'c' };
    const char *hdrs[] = { "Content-Type: application/octet-stream" };
    struct http_request rq = { .method = "POST",
                               .url = url(f, "/echo"),
                               .headers = hdrs,
                               .nheaders = 1,
                               .body = body,
                               .body_len = sizeof(body),
                               .username = "user",
                               .password = "pass" };
    struct result res = { 0 };
    char *b;

    do_request(f, &rq, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.code, 200);
    assert_non_null(strstr(res.body, "method=POST\n"));
    assert_non_null(strstr(res.body, "Authorization: Basic dXNlcjpwYXNz\r\n"));
    assert_non_null(strstr(res.body, "Content-Length: 6\r\n"));
    b = strstr(res.body, "\nbody=");
    assert_non_null(b);
    b += 6;
    assert_int_equal((size_t)(res.body + res.body_len - b), sizeof(body));
    assert_memory_equal(b, body, sizeof(body));
    result_free(&res);
}

static void test_http_delete_and_put_carry_bodies(void **state)
{
    struct fx *f = *state;
    char body[] = "reason=done";
    struct http_request rq = {
        .method = "DELETE", .url = url(f, "/echo"), .body = body, .body_len = strlen(body)
    };
    struct result res = { 0 };

    do_request(f, &rq, &res);
    assert_int_equal(res.code, 200);
    assert_non_null(strstr(res.body, "method=DELETE\n"));
    assert_non_null(strstr(res.body, "\nbody=reason=done"));
    result_free(&res);

    /* A borrowed body is read at send time, not copied. */
    memset(&res, 0, sizeof(res));
    rq.method = "PUT";
    rq.url = url(f, "/echo");
    rq.flags = HTTP_BODY_BORROWED;
    do_request(f, &rq, &res);
    assert_int_equal(res.code, 200);
    assert_non_null(strstr(res.body, "method=PUT\n"));
    assert_non_null(strstr(res.body, "\nbody=reason=done"));
    result_free(&res);

    /* DELETE without a body has no Content-Length. */
    memset(&res, 0, sizeof(res));
    rq = (struct http_request){ .method = "DELETE", .url = url(f, "/echo") };
    do_request(f, &rq, &res);
    assert_non_null(strstr(res.body, "method=DELETE\n"));
    assert_null(strstr(res.body, "Content-Length"));
    result_free(&res);
}

static void test_http_error_statuses_are_responses(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/status/503") };
    struct result res = { 0 };

    do_request(f, &rq, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.code, 503);
    assert_string_equal(res.body, "status 503");
    result_free(&res);

    memset(&res, 0, sizeof(res));
    rq.url = url(f, "/status/404");
    do_request(f, &rq, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.code, 404);
    result_free(&res);
}

static void test_http_redirect_is_reported_not_followed(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/redirect") };
    struct result res = { 0 };

    do_request(f, &rq, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.code, 302);
    assert_string_equal(res.location, "/ok");
    result_free(&res);

    memset(&res, 0, sizeof(res));
    rq.url = url(f, "/multi");
    do_request(f, &rq, &res);
    assert_string_equal(res.multi, "second");
    result_free(&res);
}

static void test_http_total_timeout(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/slow"), .timeout_ms = 200 };
    struct result res = { 0 };
    ev_tstamp t0 = ev_time();

    do_request(f, &rq, &res);
    assert_int_equal(res.status, ERR_TIMEOUT);
    assert_true(ev_time() - t0 < 2.0);
    assert_true(res.error[0] != '\0');
    result_free(&res);
}

static void test_http_queued_request_times_out(void **state)
{
    struct fx *f = *state;
    struct http_client_options o = { .max_host_connections = 1 };
    struct http_client *one = NULL;
    struct http_request slow = { .url = url(f, "/slow") };
    struct http_request quick = { .url = url(f, "/ok"), .timeout_ms = 300 };
    struct result a = { 0 }, b = { 0 };
    ev_tstamp t0 = ev_time();

    assert_int_equal(http_client_create(f->loop, &o, &one), 0);
    assert_int_equal(http_xfer_start(one, &slow, on_done, &a, NULL), 0);
    assert_int_equal(http_xfer_start(one, &quick, on_done, &b, NULL), 0);
    /* Queued behind /slow for the only connection: the total timeout still holds. */
    assert_true(evloop_run_until(f->loop, &b.done, 1, 5.0));
    assert_int_equal(b.status, ERR_TIMEOUT);
    assert_true(ev_time() - t0 < 1.0);
    assert_true(b.error[0] != '\0');
    assert_int_equal(a.done, 0);
    http_client_destroy(one);
    result_free(&a);
    result_free(&b);
}

static void test_http_connect_timeout(void **state)
{
    struct fx *f = *state;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fillers[4];
    char u[64];
    struct http_request rq = { .url = u, .connect_timeout_ms = 200, .timeout_ms = 5000 };
    struct result res = { 0 };
    ev_tstamp t0;

    /* A listener whose accept queue is full: SYNs are dropped, connect() hangs. */
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[i], (struct sockaddr *)&a, sizeof(a));
    }
    evloop_run_for(f->loop, 0.05);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/ok", ntohs(a.sin_port));
    t0 = ev_time();
    do_request(f, &rq, &res);
    assert_int_equal(res.status, ERR_TIMEOUT);
    assert_true(ev_time() - t0 < 1.5);
    for (int i = 0; i < 4; i++) {
        close(fillers[i]);
    }
    close(lfd);
    result_free(&res);
}

static void test_http_connect_refused(void **state)
{
    struct fx *f = *state;
    char u[64];
    bool inside = false;
    struct http_request rq = { .url = u };
    struct result res = { .inside_start = &inside };

    snprintf(u, sizeof(u), "http://127.0.0.1:%d/ok", closed_port());
    inside = true;
    assert_int_equal(http_xfer_start(f->client, &rq, on_done, &res, NULL), 0);
    inside = false;
    assert_int_equal(res.done, 0); /* never inside the start call */
    assert_true(evloop_run_until(f->loop, &res.done, 1, 5.0));
    assert_false(res.ran_inside_start);
    assert_int_equal(res.status, -ECONNREFUSED);
    assert_int_equal(res.code, 0);
    assert_true(res.error[0] != '\0');
    result_free(&res);
}

static void test_http_response_size_limit(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/big"), .max_response_bytes = 64 * 1024 };
    struct result res = { 0 };

    /* Content-Length known up front. */
    do_request(f, &rq, &res);
    assert_int_equal(res.status, ERR_TOOBIG);
    result_free(&res);

    /* Chunked: the limit is hit while reading. */
    memset(&res, 0, sizeof(res));
    rq.url = url(f, "/bigchunked");
    do_request(f, &rq, &res);
    assert_int_equal(res.status, ERR_TOOBIG);
    result_free(&res);

    /* Under the default limit the whole body arrives. */
    memset(&res, 0, sizeof(res));
    rq = (struct http_request){ .url = url(f, "/bigchunked") };
    do_request(f, &rq, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.body_len, BIG_LEN);
    assert_int_equal(res.body[BIG_LEN - 1], 'x');
    result_free(&res);
}

struct cancel_ctx {
    struct http_xfer *x;
};

static void cancel_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cancel_ctx *cc = w->data;
    (void)loop;
    (void)revents;
    http_xfer_cancel(cc->x);
}

static void test_http_cancel_means_no_callback(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/slow") };
    struct result a = { 0 }, b = { 0 }, c = { 0 };
    struct http_xfer *xa, *xb;
    struct cancel_ctx cc;
    struct http_stats st;
    ev_timer t;

    /* Canceled before the loop ever ran. */
    assert_int_equal(http_xfer_start(f->client, &rq, on_done, &a, &xa), 0);
    http_xfer_cancel(xa);
    /* Canceled mid-transfer, while the server is holding the response. */
    assert_int_equal(http_xfer_start(f->client, &rq, on_done, &b, &xb), 0);
    cc.x = xb;
    ev_timer_init(&t, cancel_later, 0.2, 0.);
    t.data = &cc;
    ev_timer_start(f->loop, &t);
    evloop_run_for(f->loop, 0.6);
    assert_int_equal(a.done, 0);
    assert_int_equal(b.done, 0);
    http_client_stats(f->client, &st);
    assert_int_equal(st.inflight, 0);

    /* The client is still fine. */
    rq.url = url(f, "/ok");
    do_request(f, &rq, &c);
    assert_int_equal(c.code, 200);
    result_free(&c);
}

struct many {
    int done;
    int ok;
};

static void on_many(int status, const struct http_response *r, void *arg)
{
    struct many *m = arg;
    m->done++;
    if (status == 0 && r->code == 200 && r->body_len == 2) {
        m->ok++;
    }
}

static void test_http_200_in_flight_all_complete(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/ok") };
    struct many m = { 0 };
    struct http_stats st;

    for (int i = 0; i < 200; i++) {
        assert_int_equal(http_xfer_start(f->client, &rq, on_many, &m, NULL), 0);
    }
    http_client_stats(f->client, &st);
    assert_int_equal(st.inflight, 200);
    assert_true(evloop_run_until(f->loop, &m.done, 200, 20.0));
    assert_int_equal(m.ok, 200);
    http_client_stats(f->client, &st);
    assert_int_equal(st.inflight, 0);
    assert_int_equal(st.responses, 200);
    /* Bounded by the per-host limit (16 by default), not one per request. */
    assert_true(atomic_load(&f->srv->accepts) <= 16);
}

struct chain {
    struct fx *f;
    int done;
    int ok;
    int reused;
    int limit;
};

static void on_chain(int status, const struct http_response *r, void *arg)
{
    struct chain *ch = arg;
    struct http_request rq = { .url = url(ch->f, "/ok") };

    ch->done++;
    if (status == 0 && r->code == 200) {
        ch->ok++;
    }
    if (r->reused) {
        ch->reused++;
    }
    if (ch->done < ch->limit) {
        assert_int_equal(http_xfer_start(ch->f->client, &rq, on_chain, ch, NULL), 0);
    }
}

static void test_http_keepalive_reuses_connections(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/ok") };
    struct chain ch = { .f = f, .limit = 100 };
    struct http_stats st;

    assert_int_equal(http_xfer_start(f->client, &rq, on_chain, &ch, NULL), 0);
    assert_true(evloop_run_until(f->loop, &ch.done, 100, 20.0));
    assert_int_equal(ch.ok, 100);
    assert_true(atomic_load(&f->srv->accepts) <= 2);
    assert_true(ch.reused >= 98);
    /* Easy handles come from the free list too. */
    http_client_stats(f->client, &st);
    assert_true(st.handles_new <= 2);
}

struct hook {
    int calls;
    bool allow;
    int family;
    char ip[64];
    int port;
};

static bool hook_cb(const struct sockaddr *sa, socklen_t len, void *arg)
{
    struct hook *h = arg;

    (void)len;
    h->calls++;
    h->family = sa->sa_family;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, h->ip, sizeof(h->ip));
        h->port = ntohs(s4->sin_port);
    }
    return h->allow;
}

static void test_http_allow_hook_denies_before_connect(void **state)
{
    struct fx *f = *state;
    struct hook h = { .allow = false };
    struct http_request rq = { .url = url(f, "/ok"), .allow_addr = hook_cb, .allow_arg = &h };
    struct result res = { 0 };

    do_request(f, &rq, &res);
    assert_int_equal(res.status, ERR_FORBIDDEN);
    assert_true(h.calls >= 1);
    assert_int_equal(h.family, AF_INET);
    assert_string_equal(h.ip, "127.0.0.1");
    assert_int_equal(h.port, f->srv->port);
    evloop_run_for(f->loop, 0.05);
    assert_int_equal(atomic_load(&f->srv->accepts), 0); /* no connection was made */
    result_free(&res);
}

static void test_http_allow_hook_checks_reused_connections(void **state)
{
    struct fx *f = *state;
    struct hook h = { .allow = false };
    struct http_request plain = { .url = url(f, "/ok") };
    struct result a = { 0 }, b = { 0 }, c = { 0 };
    struct http_request guarded;

    /* A request without the hook leaves a keep-alive connection in the cache. */
    do_request(f, &plain, &a);
    assert_int_equal(a.code, 200);
    assert_int_equal(atomic_load(&f->srv->accepts), 1);

    guarded = (struct http_request){ .url = url(f, "/ok"), .allow_addr = hook_cb, .allow_arg = &h };
    do_request(f, &guarded, &b);
    assert_int_equal(b.status, ERR_FORBIDDEN);
    assert_true(h.calls >= 1);
    assert_int_equal(atomic_load(&f->srv->accepts), 1); /* caught on the reused connection */

    /* An allowing hook gets through. */
    h.allow = true;
    h.calls = 0;
    guarded.url = url(f, "/ok");
    do_request(f, &guarded, &c);
    assert_int_equal(c.status, 0);
    assert_int_equal(c.code, 200);
    assert_true(h.calls >= 1);
    result_free(&a);
    result_free(&b);
    result_free(&c);
}

static void test_http_destroy_cancels_inflight(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = url(f, "/slow") };
    struct result r[3] = { { 0 } };

    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_xfer_start(f->client, &rq, on_done, &r[i], NULL), 0);
    }
    evloop_run_for(f->loop, 0.1);
    http_client_destroy(f->client);
    f->client = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].status, ERR_CANCELED);
        result_free(&r[i]);
    }
}

struct destroyer {
    struct fx *f;
    int done;
    int others;
};

static void on_destroying(int status, const struct http_response *r, void *arg)
{
    struct destroyer *d = arg;
    (void)status;
    (void)r;
    d->done++;
    http_client_destroy(d->f->client);
    d->f->client = NULL;
}

static void on_other(int status, const struct http_response *r, void *arg)
{
    struct destroyer *d = arg;
    (void)r;
    if (status == ERR_CANCELED) {
        d->others++;
    }
}

static void test_http_destroy_from_callback(void **state)
{
    struct fx *f = *state;
    struct http_request ok = { .url = url(f, "/ok") };
    struct http_request slow = { .url = url(f, "/slow") };
    struct destroyer d = { .f = f };

    assert_int_equal(http_xfer_start(f->client, &slow, on_other, &d, NULL), 0);
    assert_int_equal(http_xfer_start(f->client, &ok, on_destroying, &d, NULL), 0);
    assert_true(evloop_run_until(f->loop, &d.done, 1, 5.0));
    assert_int_equal(d.others, 1);
    assert_null(f->client);
    evloop_run_for(f->loop, 0.05); /* no watcher of the freed client may fire */
}

static void test_http_rejects_bad_arguments(void **state)
{
    struct fx *f = *state;
    struct http_request rq = { .url = NULL };
    struct http_request body = { .url = url(f, "/ok"), .body_len = 3 };
    struct result res = { 0 };

    assert_int_equal(http_xfer_start(f->client, &rq, on_done, &res, NULL), ERR_INVAL);
    assert_int_equal(http_xfer_start(f->client, &body, on_done, &res, NULL), ERR_INVAL);
    assert_int_equal(http_xfer_start(f->client, &body, NULL, &res, NULL), ERR_INVAL);
    assert_int_equal(http_client_create(NULL, NULL, NULL), ERR_INVAL);

    /* A URL curl cannot use fails through the callback, not the call. */
    rq.url = "ftp://127.0.0.1/x";
    do_request(f, &rq, &res);
    assert_int_equal(res.status, ERR_HTTP);
    assert_true(res.error[0] != '\0');
    result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_get_sends_headers_and_reads_response, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_post_binary_body_with_basic_auth, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_delete_and_put_carry_bodies, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_error_statuses_are_responses, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_redirect_is_reported_not_followed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_total_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_queued_request_times_out, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_connect_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_connect_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_response_size_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_cancel_means_no_callback, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_200_in_flight_all_complete, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_keepalive_reuses_connections, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_allow_hook_denies_before_connect, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_allow_hook_checks_reused_connections, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_destroy_cancels_inflight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_destroy_from_callback, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_http_rejects_bad_arguments, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("core/http", tests, NULL, NULL);
}
