/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the ARI client's HTTP/1.1 REST transport (ari/h1.c): the
 * response reader on a table of responses, whole and a byte at a time; and
 * the transport against a scripted server on loopback in the same loop:
 * the exact request bytes, keep-alive reuse, responses split across reads,
 * chunked bodies, "Connection: close", a server that closes an idle
 * keep-alive connection under a request (a GET is re-sent once, a POST is
 * not), timeouts of sent and of queued requests, the connection limit with
 * FIFO queueing, a refused connect, cancel and destroy.
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ari/h1_int.h"
#include "core/err.h"
#include "tests/support/evloop.h"

/* ---------------------------------------------------------------------- */
/* The reader                                                              */
/* ---------------------------------------------------------------------- */

struct pcase {
    const char *in;       /* the bytes the server sends */
    bool eof;             /* the server closes after them */
    long want;            /* > 0: complete (code below); ARI__H1_BAD / ARI__H1_BIG */
    int code;             /* final status */
    const char *body;     /* expected body */
    const char *location; /* expected Location or NULL */
    bool close;           /* connection must close */
};

static const struct pcase PCASES[] = {
    { "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
      false, 1, 200, "{\"a\":1}", NULL, false },
    { "HTTP/1.1 204 No Content\r\nServer: Asterisk/22\r\n\r\n", false, 1, 204, "", NULL, false },
    { "HTTP/1.1 201 Created\r\nLocation: /ari/playbacks/p1\r\ncontent-length: 2\r\n\r\n{}", false,
      1, 201, "{}", "/ari/playbacks/p1", false },
    /* chunked, with an extension, upper-case hex and a trailer */
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n[{\"i\r\nA\r\n\":\"1\"}, "
      "{}\r\n1\r\n]"
      "\r\n0\r\nX-T: 1\r\n\r\n",
      false, 1, 200, "[{\"i\":\"1\"}, {}]", NULL, false },
    /* 100 Continue first, then the answer */
    { "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}", false,
      1, 404, "{}", NULL, false },
    { "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false,
      1, 503, "", NULL, true },
    { "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 1, 200, "x", NULL, true },
    { "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", false, 1, 200, "x",
      NULL, false },
    /* neither length nor chunked: the body runs to the close */
    { "HTTP/1.1 200 OK\r\n\r\nto the end", true, 1, 200, "to the end", NULL, true },
    /* bare LF line ends */
    { "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, 1, 200, "ok", NULL, false },
    { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", false, ARI__H1_BAD, 0,
      NULL, NULL, false },
    { "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab", false, ARI__H1_BAD, 0, NULL, NULL, false },
    { "HTTP/2 200\r\n\r\n", false, ARI__H1_BAD, 0, NULL, NULL, false },
    { "SSH-2.0-OpenSSH\r\n\r\n", false, ARI__H1_BAD, 0, NULL, NULL, false },
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, ARI__H1_BAD, 0, NULL,
      NULL, false },
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", false, ARI__H1_BAD, 0,
      NULL, NULL, false },
    { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true, ARI__H1_BAD, 0, NULL, NULL, false },
    { "HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n", false, ARI__H1_BIG, 0, NULL, NULL,
      false },
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFF\r\n", false, ARI__H1_BIG, 0, NULL,
      NULL, false },
    { "", true, ARI__H1_BAD, 0, NULL, NULL, false },
};

/*
 * Feeds in[0..len) to the reader chunk bytes at a time, as the connection
 * does: 1xx responses are dropped, eof only with the last piece.
 */
static long feed(const struct pcase *pc, size_t chunk, struct ari__h1_msg *m, char *buf,
                 size_t *used_out)
{
    struct ari__h1_parser p;
    size_t total = strlen(pc->in);
    size_t have = 0, fed = 0;
    const char *why = NULL;
    long rc = ARI__H1_NEED;

    memset(&p, 0, sizeof(p));
    for (int guard = 0; guard < 100000; guard++) {
        size_t n = total - fed < chunk ? total - fed : chunk;
        memcpy(buf + have, pc->in + fed, n);
        have += n;
        fed += n;
        rc = ari__h1_parse(&p, buf, have, pc->eof && fed == total, false, 1000, m, &why);
        assert_non_null(why);
        if (rc > 0 && m->code < 200) {
            memmove(buf, buf + rc, have - (size_t)rc);
            have -= (size_t)rc;
            rc = ari__h1_parse(&p, buf, have, pc->eof && fed == total, false, 1000, m, &why);
        }
        if (rc != ARI__H1_NEED || fed == total) {
            break;
        }
    }
    *used_out = have;
    return rc;
}

static void test_h1_reader_table_whole_and_byte_by_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(PCASES) / sizeof(PCASES[0]); i++) {
        const struct pcase *pc = &PCASES[i];
        static const size_t chunks[] = { 1, 3, 4096 };
        for (size_t ci = 0; ci < 3; ci++) {
            size_t chunk = chunks[ci];
            char buf[4097];
            struct ari__h1_msg m;
            size_t have;
            long rc = feed(pc, chunk, &m, buf, &have);
            if (pc->want > 0) {
                if (rc <= 0) {
                    print_error("case %zu chunk %zu: rc %ld\n", i, chunk, rc);
                }
                assert_true(rc > 0);
                assert_int_equal((size_t)rc, have); /* took exactly the response */
                assert_int_equal(m.code, pc->code);
                assert_int_equal(m.body_len, strlen(pc->body));
                assert_memory_equal(m.body, pc->body, m.body_len);
                if (pc->location != NULL) {
                    assert_non_null(m.location);
                    assert_string_equal(m.location, pc->location);
                } else {
                    assert_null(m.location);
                }
                assert_int_equal(m.close, pc->close);
            } else {
                if (rc != pc->want) {
                    print_error("case %zu chunk %zu: rc %ld want %ld\n", i, chunk, rc, pc->want);
                }
                assert_int_equal(rc, pc->want);
            }
        }
    }
}

/* Two responses back to back: the first takes only its own bytes. */
static void test_h1_reader_leaves_the_next_response(void **state)
{
    char buf[256];
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 204 No\r\n\r\n";
    struct ari__h1_parser p;
    struct ari__h1_msg m;
    const char *why;
    long rc;
    (void)state;

    memset(&p, 0, sizeof(p));
    memcpy(buf, two, strlen(two));
    rc = ari__h1_parse(&p, buf, strlen(two), false, false, 100, &m, &why);
    assert_int_equal(rc, strlen(two) - 19);
    assert_int_equal(m.code, 200);
    rc = ari__h1_parse(&p, buf + rc, 19, false, false, 100, &m, &why);
    assert_int_equal(rc, 19);
    assert_int_equal(m.code, 204);
}

/* ---------------------------------------------------------------------- */
/* The transport against a scripted server                                 */
/* ---------------------------------------------------------------------- */

#define MAX_SC 16

struct sconn {
    ev_io w;
    struct srv *s;
    int fd;
    char in[8192];
    size_t len;
    int requests; /* complete request heads read */
    int answered; /* of them, answered by the test */
};

struct srv {
    struct ev_loop *loop;
    int lfd;
    int port;
    ev_io accept_w;
    struct sconn *conns[MAX_SC];
    int accepts;
    int requests;       /* complete request heads, all connections */
    struct sconn *last; /* the connection of the last request */
    struct ari__h1 *h;
    /* completions */
    int done;
    int status[32];
    long code[32];
    char body[32][128];
    int order[32]; /* arg of each completion, in order */
};

static void srv_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sconn *k = (struct sconn *)w;
    ssize_t n;
    (void)revents;

    n = recv(k->fd, k->in + k->len, sizeof(k->in) - 1 - k->len, 0);
    if (n <= 0) {
        ev_io_stop(loop, w);
        return;
    }
    k->len += (size_t)n;
    k->in[k->len] = '\0';
    /* count heads (the tests' bodies never hold an empty line) */
    int heads = 0;
    for (const char *p = k->in; (p = strstr(p, "\r\n\r\n")) != NULL; p += 4) {
        heads++;
    }
    k->s->requests += heads - k->requests;
    k->requests = heads;
    if (heads > 0) {
        k->s->last = k;
    }
}

static void srv_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct srv *s = (struct srv *)((char *)w - offsetof(struct srv, accept_w));
    struct sconn *k;
    int fd;
    (void)revents;

    fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    assert_true(s->accepts < MAX_SC);
    k = calloc(1, sizeof(*k));
    assert_non_null(k);
    k->s = s;
    k->fd = fd;
    s->conns[s->accepts++] = k;
    ev_io_init(&k->w, srv_on_read, fd, EV_READ);
    ev_io_start(loop, &k->w);
}

static void srv_send(struct sconn *k, const char *text)
{
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = send(k->fd, text, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        text += w;
        n -= (size_t)w;
    }
}

static void srv_close(struct sconn *k)
{
    ev_io_stop(k->s->loop, &k->w);
    close(k->fd);
    k->fd = -1;
}

static void on_done(int status, const struct http_response *resp, void *arg);

static struct srv *g_srv; /* the completion callback's server */

static void on_done(int status, const struct http_response *resp, void *arg)
{
    struct srv *s = g_srv;
    int i = s->done;

    assert_true(i < 32);
    assert_non_null(resp);
    s->status[i] = status;
    s->code[i] = resp->code;
    snprintf(s->body[i], sizeof(s->body[i]), "%.*s", (int)resp->body_len,
             resp->body != NULL ? resp->body : "");
    if (resp->body != NULL) {
        assert_int_equal(resp->body[resp->body_len], '\0'); /* terminated in place */
    }
    s->order[i] = (int)(intptr_t)arg;
    s->done++;
}

static struct ari__h1 *make_h1(struct srv *s, int port, unsigned max_conns)
{
    struct sockaddr_in a;
    struct ari__h1_config cfg;
    struct ari__h1 *h = NULL;
    char host[64];

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = (struct sockaddr *)&a;
    cfg.addrlen = sizeof(a);
    cfg.host_header = host;
    cfg.auth_line = "Authorization: Basic ZGlhbGVyOnNlY3JldA==";
    cfg.max_conns = max_conns;
    cfg.connect_timeout_ms = 1000;
    cfg.max_response_bytes = 4096;
    assert_int_equal(ari__h1_create(s->loop, &cfg, &h), 0);
    return h;
}

static int setup(void **state)
{
    struct srv *s = calloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    assert_non_null(s);
    s->loop = ev_loop_new(EVFLAG_AUTO);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    ev_io_init(&s->accept_w, srv_on_accept, s->lfd, EV_READ);
    ev_io_start(s->loop, &s->accept_w);
    s->h = make_h1(s, s->port, 2);
    g_srv = s;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct srv *s = *state;
    ari__h1_destroy(s->h);
    for (int i = 0; i < s->accepts; i++) {
        if (s->conns[i]->fd >= 0) {
            srv_close(s->conns[i]);
        }
        free(s->conns[i]);
    }
    ev_io_stop(s->loop, &s->accept_w);
    close(s->lfd);
    ev_loop_destroy(s->loop);
    free(s);
    g_srv = NULL;
    return 0;
}

static int start(struct srv *s, const char *method, const char *target, const char *body,
                 bool retry_safe, int64_t timeout_ms, int tag)
{
    struct ari__h1_request rq;

    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.target = target;
    rq.target_len = strlen(target);
    rq.body = body;
    rq.body_len = body != NULL ? strlen(body) : 0;
    rq.timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    rq.retry_safe = retry_safe;
    return ari__h1_start(s->h, &rq, on_done, (void *)(intptr_t)tag, NULL);
}

static void wait_requests(struct srv *s, int n)
{
    assert_true(evloop_run_until(s->loop, &s->requests, n, 5.0));
}

static void wait_done(struct srv *s, int n)
{
    assert_true(evloop_run_until(s->loop, &s->done, n, 5.0));
}

static void turn(struct srv *s)
{
    for (int i = 0; i < 4; i++) {
        ev_run(s->loop, EVRUN_NOWAIT);
    }
}

static const char OK_A[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: 11\r\n\r\n{\"id\":\"a1\"}";

static void test_h1_request_bytes_and_keepalive_reuse(void **state)
{
    struct srv *s = *state;
    char want[512];
    struct ari__h1_stats st;

    assert_int_equal(start(s, "GET", "/ari/channels/a%2Fb?x=1", NULL, true, 0, 1), 0);
    assert_int_equal(s->done, 0); /* never inside the start */
    wait_requests(s, 1);
    snprintf(want, sizeof(want),
             "GET /ari/channels/a%%2Fb?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Authorization: Basic ZGlhbGVyOnNlY3JldA==\r\n\r\n",
             s->port);
    assert_string_equal(s->last->in, want);
    /* the response in three pieces, with loop turns between them */
    srv_send(s->last, "HTTP/1.1 200 OK\r\nContent-Le");
    turn(s);
    assert_int_equal(s->done, 0);
    srv_send(s->last, "ngth: 11\r\n\r\n{\"id\"");
    turn(s);
    assert_int_equal(s->done, 0);
    srv_send(s->last, ":\"a1\"}");
    wait_done(s, 1);
    assert_int_equal(s->status[0], 0);
    assert_int_equal(s->code[0], 200);
    assert_string_equal(s->body[0], "{\"id\":\"a1\"}");

    /* a POST with a body on the same connection */
    s->last->len = 0;
    s->last->requests = 0;
    assert_int_equal(
        start(s, "POST", "/ari/channels/c1?endpoint=PJSIP%2F1", "{\"variables\":{}}", false, 0, 2),
        0);
    wait_requests(s, 2);
    assert_int_equal(s->accepts, 1);
    assert_non_null(strstr(s->last->in, "POST /ari/channels/c1?endpoint=PJSIP%2F1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s->last->in, "Content-Type: application/json\r\nContent-Length: 16\r\n"
                                        "\r\n{\"variables\":{}}"));
    srv_send(s->last, "HTTP/1.1 204 No Content\r\n\r\n");
    wait_done(s, 2);
    assert_int_equal(s->code[1], 204);
    assert_string_equal(s->body[1], "");

    /* a POST without a body says so */
    s->last->len = 0;
    s->last->requests = 0;
    assert_int_equal(start(s, "POST", "/ari/channels/c1/answer", NULL, false, 0, 3), 0);
    wait_requests(s, 3);
    assert_non_null(strstr(s->last->in, "Content-Length: 0\r\n\r\n"));
    srv_send(s->last, "HTTP/1.1 204 No Content\r\n\r\n");
    wait_done(s, 3);
    ari__h1_get_stats(s->h, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(s->accepts, 1);
}

static void test_h1_chunked_body_in_pieces(void **state)
{
    struct srv *s = *state;

    assert_int_equal(start(s, "GET", "/ari/channels", NULL, true, 0, 1), 0);
    wait_requests(s, 1);
    srv_send(s->last, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{\"id");
    turn(s);
    srv_send(s->last, "\r\n");
    turn(s);
    srv_send(s->last, "7\r\n\":\"x\"}]\r\n0\r");
    turn(s);
    assert_int_equal(s->done, 0);
    srv_send(s->last, "\n\r\n");
    wait_done(s, 1);
    assert_int_equal(s->status[0], 0);
    assert_string_equal(s->body[0], "[{\"id\":\"x\"}]");
}

static void test_h1_connection_close_opens_a_new_connection(void **state)
{
    struct srv *s = *state;

    assert_int_equal(start(s, "GET", "/ari/asterisk/info", NULL, true, 0, 1), 0);
    wait_requests(s, 1);
    srv_send(s->last, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
    srv_close(s->last);
    wait_done(s, 1);
    assert_int_equal(s->status[0], 0);
    assert_string_equal(s->body[0], "{}");
    assert_int_equal(start(s, "GET", "/ari/asterisk/info", NULL, true, 0, 2), 0);
    wait_requests(s, 2);
    assert_int_equal(s->accepts, 2);
    srv_send(s->last, OK_A);
    wait_done(s, 2);
    assert_int_equal(s->status[1], 0);
    assert_string_equal(s->body[1], "{\"id\":\"a1\"}");
}

/* A response that closes its connection while the next request waits for it. */
static void test_h1_close_with_a_request_waiting(void **state)
{
    struct srv *s = *state;

    ari__h1_destroy(s->h);
    s->h = make_h1(s, s->port, 1); /* one connection: the second request queues */
    assert_int_equal(start(s, "DELETE", "/ari/channels/c1", NULL, false, 0, 1), 0);
    assert_int_equal(start(s, "POST", "/ari/channels/c2/answer", NULL, false, 0, 2), 0);
    wait_requests(s, 1);
    turn(s);
    assert_int_equal(s->requests, 1);
    /* the answer and the close in one write */
    srv_send(s->last, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    srv_close(s->last);
    wait_done(s, 1);
    assert_int_equal(s->status[0], 0);
    assert_int_equal(s->code[0], 204);
    /* the waiting request goes out once, on a new connection, and is answered there */
    wait_requests(s, 2);
    assert_int_equal(s->accepts, 2);
    assert_non_null(strstr(s->last->in, "POST /ari/channels/c2/answer HTTP/1.1\r\n"));
    srv_send(s->last, "HTTP/1.1 204 No Content\r\n\r\n");
    wait_done(s, 2);
    assert_int_equal(s->status[1], 0);
    assert_int_equal(s->order[1], 2);
}

/* Answers the first request on a connection, then closes it when the next one arrives. */
static struct sconn *serve_one_then_idle(struct srv *s, int tag)
{
    struct sconn *k;
    assert_int_equal(start(s, "GET", "/ari/channels", NULL, true, 0, tag), 0);
    wait_requests(s, s->requests + 1);
    k = s->last;
    srv_send(k, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]");
    wait_done(s, s->done + 1);
    return k;
}

static void test_h1_idle_close_race_retries_a_get_once(void **state)
{
    struct srv *s = *state;
    struct sconn *k = serve_one_then_idle(s, 1);
    struct ari__h1_stats st;

    /* The server closes the idle connection just as the GET goes out on it:
     * it reads the request and closes without a byte of answer. */
    assert_int_equal(start(s, "GET", "/ari/channels/c1", NULL, true, 0, 2), 0);
    wait_requests(s, 2);
    assert_ptr_equal(s->last, k);
    srv_close(k);
    /* re-sent once, on a new connection, and answered there */
    wait_requests(s, 3);
    assert_int_equal(s->accepts, 2);
    assert_non_null(strstr(s->last->in, "GET /ari/channels/c1 HTTP/1.1\r\n"));
    srv_send(s->last, OK_A);
    wait_done(s, 2);
    assert_int_equal(s->status[1], 0);
    assert_int_equal(s->code[1], 200);
    ari__h1_get_stats(s->h, &st);
    assert_int_equal(st.retries, 1);
}

static void test_h1_idle_close_race_retry_only_once(void **state)
{
    struct srv *s = *state;
    struct sconn *k = serve_one_then_idle(s, 1);

    assert_int_equal(start(s, "GET", "/ari/channels/c1", NULL, true, 0, 2), 0);
    wait_requests(s, 2);
    srv_close(k);
    wait_requests(s, 3);
    srv_close(s->last); /* the retry's connection is closed the same way */
    wait_done(s, 2);
    assert_int_equal(s->status[1], ERR_HTTP); /* a transport error, no third attempt */
    turn(s);
    assert_int_equal(s->requests, 3);
}

static void test_h1_idle_close_race_never_resends_a_post(void **state)
{
    struct srv *s = *state;
    struct sconn *k = serve_one_then_idle(s, 1);

    /* an originate: it may have been processed, so it is not sent again */
    assert_int_equal(start(s, "POST", "/ari/channels/c9?endpoint=x", NULL, false, 0, 2), 0);
    wait_requests(s, 2);
    srv_close(k);
    wait_done(s, 2);
    assert_true(s->status[1] != 0 && s->status[1] != ERR_TIMEOUT);
    turn(s);
    assert_int_equal(s->requests, 2);
    assert_int_equal(s->accepts, 1);
}

static void test_h1_server_close_of_idle_connection_is_noticed(void **state)
{
    struct srv *s = *state;
    struct sconn *k = serve_one_then_idle(s, 1);
    struct ari__h1_stats st;

    srv_close(k); /* Asterisk's session_keep_alive expired */
    turn(s);
    /* the next request does not go to the dead connection */
    assert_int_equal(start(s, "POST", "/ari/channels/c2/answer", NULL, false, 0, 2), 0);
    wait_requests(s, 2);
    assert_int_equal(s->accepts, 2);
    srv_send(s->last, "HTTP/1.1 204 No Content\r\n\r\n");
    wait_done(s, 2);
    assert_int_equal(s->status[1], 0);
    ari__h1_get_stats(s->h, &st);
    assert_int_equal(st.retries, 0);
}

static void test_h1_timeouts_sent_and_queued(void **state)
{
    struct srv *s = *state;
    int before;

    /* two connections at most: two requests hang, the third waits in the queue */
    assert_int_equal(start(s, "GET", "/ari/a", NULL, true, 150, 1), 0);
    assert_int_equal(start(s, "GET", "/ari/b", NULL, true, 150, 2), 0);
    assert_int_equal(start(s, "GET", "/ari/c", NULL, true, 150, 3), 0);
    wait_requests(s, 2);
    wait_done(s, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s->status[i], ERR_TIMEOUT);
        assert_int_equal(s->code[i], 0);
    }
    /* the transport is still usable */
    before = s->requests;
    assert_int_equal(start(s, "GET", "/ari/d", NULL, true, 2000, 4), 0);
    wait_requests(s, before + 1);
    srv_send(s->last, OK_A);
    wait_done(s, 4);
    assert_int_equal(s->status[3], 0);
}

static void test_h1_connection_limit_and_fifo_queue(void **state)
{
    struct srv *s = *state;
    int answered = 0;
    char target[32];

    for (int i = 0; i < 5; i++) {
        snprintf(target, sizeof(target), "/ari/q%d", i + 1);
        assert_int_equal(start(s, "GET", target, NULL, true, 0, i + 1), 0);
    }
    /* the first two in the queue go out first, one per connection */
    wait_requests(s, 2);
    turn(s);
    assert_int_equal(s->requests, 2);
    assert_int_equal(s->accepts, 2);
    assert_true((strstr(s->conns[0]->in, "/ari/q1 ") != NULL &&
                 strstr(s->conns[1]->in, "/ari/q2 ") != NULL) ||
                (strstr(s->conns[0]->in, "/ari/q2 ") != NULL &&
                 strstr(s->conns[1]->in, "/ari/q1 ") != NULL));
    for (int round = 0; round < 10 && s->done < 5; round++) {
        wait_requests(s, answered + 1);
        for (int i = 0; i < s->accepts; i++) {
            struct sconn *k = s->conns[i];
            while (k->answered < k->requests) {
                srv_send(k, OK_A);
                k->answered++;
                answered++;
            }
        }
        wait_done(s, answered);
    }
    assert_int_equal(s->done, 5);
    assert_int_equal(s->accepts, 2); /* never more than the limit, both reused */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s->status[i], 0);
    }
}

static void test_h1_refused_connect_is_reported_from_the_loop(void **state)
{
    struct srv *s = *state;
    struct ari__h1 *h;
    int closed_port;
    struct ari__h1_request rq;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    /* a port nobody listens on */
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    closed_port = ntohs(a.sin_port);
    close(fd);
    h = make_h1(s, closed_port, 2);
    memset(&rq, 0, sizeof(rq));
    rq.method = "POST";
    rq.target = "/ari/channels";
    rq.target_len = 13;
    rq.timeout_ms = 2000;
    assert_int_equal(ari__h1_start(h, &rq, on_done, (void *)1, NULL), 0);
    assert_int_equal(s->done, 0);
    wait_done(s, 1);
    assert_true(s->status[0] < 0);
    assert_true(s->status[0] != ERR_TIMEOUT);
    ari__h1_destroy(h);
}

static void test_h1_cancel_and_destroy(void **state)
{
    struct srv *s = *state;
    struct ari__h1_request rq;
    struct ari__h1_req *r = NULL;

    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    rq.target = "/ari/x";
    rq.target_len = 6;
    rq.timeout_ms = 2000;
    assert_int_equal(ari__h1_start(s->h, &rq, on_done, (void *)1, &r), 0);
    assert_non_null(r);
    ari__h1_cancel(r);
    assert_int_equal(start(s, "GET", "/ari/y", NULL, true, 0, 2), 0);
    assert_int_equal(start(s, "GET", "/ari/z", NULL, true, 0, 3), 0);
    assert_int_equal(start(s, "GET", "/ari/w", NULL, true, 0, 4), 0); /* queued */
    turn(s);
    assert_int_equal(s->done, 0);
    ari__h1_destroy(s->h);
    s->h = NULL;
    assert_int_equal(s->done, 3); /* the cancelled one never */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s->status[i], ERR_CANCELED);
        assert_int_not_equal(s->order[i], 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_reader_table_whole_and_byte_by_byte),
        cmocka_unit_test(test_h1_reader_leaves_the_next_response),
        cmocka_unit_test_setup_teardown(test_h1_request_bytes_and_keepalive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_chunked_body_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_connection_close_opens_a_new_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_h1_close_with_a_request_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_idle_close_race_retries_a_get_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_h1_idle_close_race_retry_only_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_idle_close_race_never_resends_a_post, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_h1_server_close_of_idle_connection_is_noticed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_h1_timeouts_sent_and_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_connection_limit_and_fifo_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_h1_refused_connect_is_reported_from_the_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_h1_cancel_and_destroy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
