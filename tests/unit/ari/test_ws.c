/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the events WebSocket transport of ari/ws.c against a
 * scripted server on loopback, in the same libev loop: the upgrade request
 * and its checks, frames split anywhere, every length encoding, fragmented
 * messages with a ping in the middle, the pong, close and protocol errors,
 * refused upgrades. The REST side (GET /channels of the reconciliation that
 * follows each connect) is answered with an empty list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
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
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ari/client_int.h"
#include "core/err.h"
#include "tests/support/evloop.h"

#define MAX_CONNS 8

struct srv {
    struct ev_loop *loop;
    int lfd;
    int port;
    ev_io accept_w;
    int conns[MAX_CONNS]; /* accepted fds not yet identified */
    int n_conns;
    int ws_fd;          /* the upgrade connection, once its request is read */
    char request[4096]; /* its request head */
    int upgrades;       /* upgrade requests seen */
    struct ari_client *c;
    bool hold_posts; /* leave POST requests unanswered (in held) */
    int held[4];
    int n_held;
    int posts;           /* POST requests seen */
    int reconciles;      /* on_reconcile calls */
    char gone[256];      /* the last reconciliation's gone ids, space-separated */
    int events;          /* on_event calls */
    char last_raw[2048]; /* raw text of the last (unknown-type) event */
};

static void srv_write(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

/* An accepted connection whose request head is still being read. */
struct pconn {
    ev_io w;
    struct srv *s;
    char head[4096];
    size_t len;
};

static void on_head(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pconn *pc = (struct pconn *)w;
    struct srv *s = pc->s;
    int fd = w->fd;
    ssize_t n;
    (void)revents;

    n = recv(fd, pc->head + pc->len, sizeof(pc->head) - 1 - pc->len, 0);
    if (n <= 0) {
        ev_io_stop(loop, w);
        close(fd);
        free(pc);
        return;
    }
    pc->len += (size_t)n;
    pc->head[pc->len] = '\0';
    if (strstr(pc->head, "\r\n\r\n") == NULL && pc->len + 1 < sizeof(pc->head)) {
        return;
    }
    ev_io_stop(loop, w);
    if (strncmp(pc->head, "GET /ari/events?", 16) == 0) {
        struct timeval tv = { 1, 0 }; /* the test's own blocking reads are bounded */
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        memcpy(s->request, pc->head, sizeof(s->request));
        s->ws_fd = fd;
        s->upgrades++;
    } else if (strncmp(pc->head, "POST ", 5) == 0 && s->hold_posts && s->n_held < 4) {
        s->held[s->n_held++] = fd; /* an originate the server has not processed yet */
        s->posts++;
    } else {
        static const char empty[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    "Content-Length: 2\r\n\r\n[]";
        static const char empty_close[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                                          "Content-Length: 2\r\n\r\n[]";
        if (s->hold_posts) {
            /* one request per connection, so every request gets its head read */
            srv_write(fd, empty_close, sizeof(empty_close) - 1);
            close(fd);
            free(pc);
            return;
        }
        srv_write(fd, empty, sizeof(empty) - 1);
        if (s->n_conns < MAX_CONNS) {
            s->conns[s->n_conns++] = fd; /* keep-alive: closed at teardown */
        } else {
            close(fd);
        }
    }
    free(pc);
}

/* Accepts and starts reading the request head (REST gets [], the upgrade is kept). */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct srv *s = (struct srv *)((char *)w - offsetof(struct srv, accept_w));
    struct pconn *pc;
    int fd;
    (void)revents;

    fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    pc = calloc(1, sizeof(*pc));
    assert_non_null(pc);
    pc->s = s;
    ev_io_init(&pc->w, on_head, fd, EV_READ);
    ev_io_start(loop, &pc->w);
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct srv *s = arg;
    (void)c;
    if (ev->type == ARI_EVENT_UNKNOWN && ev->raw_len < sizeof(s->last_raw)) {
        memcpy(s->last_raw, ev->raw, ev->raw_len);
        s->last_raw[ev->raw_len] = '\0';
    }
    s->events++;
}

static const char *srv_host = "127.0.0.1"; /* the host name the client is given */

static int setup(void **state)
{
    struct srv *s = calloc(1, sizeof(*s));
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char url[64];

    s->loop = ev_loop_new(EVFLAG_AUTO);
    s->ws_fd = -1;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    ev_io_init(&s->accept_w, on_accept, s->lfd, EV_READ);
    ev_io_start(s->loop, &s->accept_w);

    snprintf(url, sizeof(url), "http://%s:%d", srv_host, s->port);
    struct ari_client_config cfg = {
        .name = "ws",
        .url = url,
        .user = "dialer",
        .password = "secret",
        .app = "test",
        .reconnect_min_ms = 20,
        .reconnect_max_ms = 40,
    };
    struct ari_handlers h = { .on_event = on_event, .arg = s };
    assert_int_equal(ari_client_create(s->loop, &cfg, &h, &s->c), 0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct srv *s = *state;
    ari_client_destroy(s->c);
    for (int i = 0; i < s->n_conns; i++) {
        close(s->conns[i]);
    }
    if (s->ws_fd >= 0) {
        close(s->ws_fd);
    }
    ev_io_stop(s->loop, &s->accept_w);
    close(s->lfd);
    ev_loop_destroy(s->loop);
    free(s);
    return 0;
}

/* Runs the loop until the client has sent its upgrade request number n. */
static void wait_upgrade(struct srv *s, int n)
{
    assert_true(evloop_run_until(s->loop, &s->upgrades, n, 5.0));
}

/* The 101 answer to the request in s->request, with accept (NULL: the right one). */
static size_t make_101(const struct srv *s, const char *accept, char *out, size_t cap)
{
    const char *k = strstr(s->request, "Sec-WebSocket-Key: ");
    char key[64];
    char good[32];
    size_t n = 0;

    assert_non_null(k);
    k += 19;
    while (k[n] != '\r' && n + 1 < sizeof(key)) {
        key[n] = k[n];
        n++;
    }
    key[n] = '\0';
    assert_int_equal(ari__ws_accept(key, good), 0);
    int w = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept != NULL ? accept : good);
    return (size_t)w;
}

/* A server frame (unmasked) with the length in the given encoding (0: shortest). */
static size_t frame(unsigned char *out, unsigned b0, const char *payload, size_t len, int enc)
{
    size_t h = 2;
    out[0] = (unsigned char)b0;
    if (enc == 0) {
        enc = len < 126 ? 7 : (len < 65536 ? 16 : 64);
    }
    if (enc == 7) {
        out[1] = (unsigned char)len;
    } else if (enc == 16) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        h = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++) {
            out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        }
        h = 10;
    }
    memcpy(out + h, payload, len);
    return h + len;
}

/* Gives the client a few loop turns to read what was written (loopback: already there). */
static void turn(struct srv *s)
{
    for (int i = 0; i < 4; i++) {
        ev_run(s->loop, EVRUN_NOWAIT);
    }
}

static const char *event_text(char *buf, size_t cap, int n, size_t pad)
{
    char p[1024];
    memset(p, 'x', pad);
    p[pad] = '\0';
    int len =
        snprintf(buf, cap,
                 "{\"type\":\"TestEvent\",\"application\":\"test\",\"n\":%d,\"pad\":\"%s\"}", n, p);
    assert_true(len > 0 && (size_t)len < cap); /* the test's buffers are big enough */
    return buf;
}

static void connect_ok(struct srv *s, const char *first_event)
{
    char out[4096];
    size_t n;
    struct ari_client_stats st;

    wait_upgrade(s, 1);
    n = make_101(s, NULL, out, sizeof(out));
    if (first_event != NULL) {
        /* The first frame in the same write as the 101: read past the head. */
        n += frame((unsigned char *)out + n, 0x81, first_event, strlen(first_event), 0);
    }
    srv_write(s->ws_fd, out, n);
    turn(s);
    ari_client_stats(s->c, &st);
    assert_int_equal(st.connects, 1);
}

static void test_ws_accept_rfc_example(void **state)
{
    char out[32];
    (void)state;
    /* RFC 6455 section 1.3. */
    assert_int_equal(ari__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_ws_upgrade_request_and_first_event(void **state)
{
    struct srv *s = *state;
    char ev[512];

    wait_upgrade(s, 1);
    assert_non_null(strstr(s->request, "GET /ari/events?app=test HTTP/1.1\r\n"));
    assert_non_null(strstr(s->request, "\r\nUpgrade: websocket\r\n"));
    assert_non_null(strstr(s->request, "\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(s->request, "\r\nSec-WebSocket-Version: 13\r\n"));
    /* base64("dialer:secret") */
    assert_non_null(strstr(s->request, "\r\nAuthorization: Basic ZGlhbGVyOnNlY3JldA==\r\n"));
    connect_ok(s, event_text(ev, sizeof(ev), 1, 10));
    assert_int_equal(s->events, 1);
    assert_string_equal(s->last_raw, ev);
}

static size_t known_two(struct ari_client *c, const char **ids, size_t max, void *arg)
{
    (void)c;
    (void)arg;
    if (max >= 2) {
        ids[0] = "held-1";
        ids[1] = "gone-1";
    }
    return 2;
}

static void on_reconcile(struct ari_client *c, int status, const char *const *gone, size_t n_gone,
                         const char *const *up, size_t n_up, void *arg)
{
    struct srv *s = arg;
    (void)c;
    (void)up;
    (void)n_up;
    assert_int_equal(status, 0);
    s->gone[0] = '\0';
    for (size_t i = 0; i < n_gone; i++) {
        strncat(s->gone, gone[i], sizeof(s->gone) - strlen(s->gone) - 2);
        strcat(s->gone, " ");
    }
    s->reconciles++;
}

static int setup_reconcile(void **state)
{
    struct srv *s;
    struct ari_handlers h;

    setup(state);
    s = *state;
    ari_client_destroy(s->c);
    s->c = NULL;
    s->upgrades = 0;
    {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
        struct ari_client_config cfg = {
            .name = "ws",
            .url = url,
            .user = "dialer",
            .password = "secret",
            .app = "test",
            .reconnect_min_ms = 20,
            .reconnect_max_ms = 40,
        };
        memset(&h, 0, sizeof(h));
        h.on_event = on_event;
        h.known_channels = known_two;
        h.on_reconcile = on_reconcile;
        h.arg = s;
        assert_int_equal(ari_client_create(s->loop, &cfg, &h, &s->c), 0);
    }
    return 0;
}

/*
 * A channel whose originate is not answered yet is not judged by a
 * reconciliation: the server may process the originate after the GET
 * /channels. A known channel the list lacks is reported gone.
 */
static void test_ws_reconcile_skips_unanswered_originates(void **state)
{
    struct srv *s = *state;
    struct ari_originate o = { .endpoint = "PJSIP/1", .channel_id = "held-1" };
    char ev[512];

    wait_upgrade(s, 1);
    s->hold_posts = true;
    connect_ok(s, event_text(ev, sizeof(ev), 1, 10));
    assert_true(evloop_run_until(s->loop, &s->reconciles, 1, 5.0)); /* the one after connect */
    assert_int_equal(ari_originate(s->c, &o, NULL, NULL, NULL), 0);
    assert_true(evloop_run_until(s->loop, &s->posts, 1, 5.0));
    assert_int_equal(ari_client_reconcile(s->c), 0);
    assert_true(evloop_run_until(s->loop, &s->reconciles, 2, 5.0));
    assert_string_equal(s->gone, "gone-1 ");
    assert_int_equal(ari_client_channels(s->c), 1); /* its place is kept */
    for (int i = 0; i < s->n_held; i++) {
        close(s->held[i]);
    }
    s->n_held = 0;
}

/* A host name is looked up off the loop, then the same handshake follows. */
static int setup_named(void **state)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    bool v4;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("localhost", "80", &hints, &res) != 0 || res == NULL) {
        return -1;
    }
    v4 = res->ai_family == AF_INET;
    freeaddrinfo(res);
    srv_host = v4 ? "localhost" : "127.0.0.1"; /* the test server listens on IPv4 only */
    int rc = setup(state);
    srv_host = "127.0.0.1";
    return rc;
}

static void test_ws_host_name_connects(void **state)
{
    struct srv *s = *state;
    char ev[512];

    wait_upgrade(s, 1);
    assert_non_null(strstr(s->request, "GET /ari/events?app=test HTTP/1.1\r\n"));
    connect_ok(s, event_text(ev, sizeof(ev), 1, 10));
    assert_int_equal(s->events, 1);
}

static void test_ws_frames_split_and_every_length_encoding(void **state)
{
    struct srv *s = *state;
    unsigned char f[4096];
    char ev[1200];
    size_t n;

    connect_ok(s, NULL);
    /* 7-bit, 16-bit and (non-minimal but valid) 64-bit lengths. */
    for (int enc = 7, k = 0; k < 3; k++, enc = enc == 7 ? 16 : 64) {
        event_text(ev, sizeof(ev), 10 + k, enc == 7 ? 20 : 900);
        n = frame(f, 0x81, ev, strlen(ev), enc);
        srv_write(s->ws_fd, f, n);
        turn(s);
        assert_int_equal(s->events, 1 + k);
        assert_string_equal(s->last_raw, ev);
    }
    /* One frame written a byte at a time through its header, then in two halves. */
    event_text(ev, sizeof(ev), 20, 700);
    n = frame(f, 0x81, ev, strlen(ev), 0);
    for (size_t i = 0; i < 4; i++) {
        srv_write(s->ws_fd, f + i, 1);
        turn(s);
    }
    srv_write(s->ws_fd, f + 4, (n - 4) / 2);
    turn(s);
    assert_int_equal(s->events, 3);
    srv_write(s->ws_fd, f + 4 + (n - 4) / 2, n - 4 - (n - 4) / 2);
    turn(s);
    assert_int_equal(s->events, 4);
    assert_string_equal(s->last_raw, ev);
    /* Two frames in one write. */
    n = frame(f, 0x81, ev, strlen(ev), 0);
    n += frame(f + n, 0x81, ev, strlen(ev), 0);
    srv_write(s->ws_fd, f, n);
    turn(s);
    assert_int_equal(s->events, 6);
}

static void test_ws_fragmented_message_with_ping_inside(void **state)
{
    struct srv *s = *state;
    unsigned char f[2048];
    unsigned char pong[64];
    char ev[512];
    size_t n;
    ssize_t r;

    connect_ok(s, NULL);
    event_text(ev, sizeof(ev), 30, 200);
    size_t half = strlen(ev) / 2;
    n = frame(f, 0x01, ev, half, 0);                          /* text, not final */
    n += frame(f + n, 0x89, "hi", 2, 0);                      /* ping between the fragments */
    n += frame(f + n, 0x80, ev + half, strlen(ev) - half, 0); /* continuation, final */
    srv_write(s->ws_fd, f, n);
    turn(s);
    assert_int_equal(s->events, 1);
    assert_string_equal(s->last_raw, ev);
    /* The pong: final, masked, same payload. */
    r = recv(s->ws_fd, pong, sizeof(pong), MSG_DONTWAIT);
    assert_int_equal(r, 2 + 4 + 2);
    assert_int_equal(pong[0], 0x8A);
    assert_int_equal(pong[1], 0x80 | 2);
    assert_int_equal(pong[6] ^ pong[2], 'h');
    assert_int_equal(pong[7] ^ pong[3], 'i');
}

static void test_ws_close_from_server_then_reconnect(void **state)
{
    struct srv *s = *state;
    unsigned char f[16];
    unsigned char back[16];
    struct ari_client_stats st;
    size_t n;
    ssize_t r;

    connect_ok(s, NULL);
    n = frame(f, 0x88, "\x03\xe8", 2, 0); /* close 1000 */
    srv_write(s->ws_fd, f, n);
    turn(s);
    /* The close is echoed (masked), then the socket goes. */
    r = recv(s->ws_fd, back, sizeof(back), 0);
    assert_int_equal(r, 2 + 4 + 2);
    assert_int_equal(back[0], 0x88);
    assert_int_equal((back[6] ^ back[2]) << 8 | (back[7] ^ back[3]), 1000);
    assert_int_equal(recv(s->ws_fd, back, sizeof(back), 0), 0);
    ari_client_stats(s->c, &st);
    assert_int_equal(st.disconnects, 1);
    close(s->ws_fd);
    s->ws_fd = -1;
    /* Back-off of 20-40 ms, then a new upgrade. */
    wait_upgrade(s, 2);
}

static void test_ws_refusals_and_protocol_errors(void **state)
{
    struct srv *s = *state;
    char out[1024];
    unsigned char f[16];
    struct ari_client_stats st;
    size_t n;

    /* 1: a wrong Sec-WebSocket-Accept. */
    wait_upgrade(s, 1);
    n = make_101(s, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", out, sizeof(out));
    srv_write(s->ws_fd, out, n);
    turn(s);
    ari_client_stats(s->c, &st);
    assert_int_equal(st.connects, 0);
    close(s->ws_fd);
    s->ws_fd = -1;
    /* 2: 401. */
    wait_upgrade(s, 2);
    static const char unauth[] = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    srv_write(s->ws_fd, unauth, sizeof(unauth) - 1);
    turn(s);
    ari_client_stats(s->c, &st);
    assert_int_equal(st.connects, 0);
    close(s->ws_fd);
    s->ws_fd = -1;
    /* 3: accepted, then a masked frame (servers must not mask): dropped. */
    wait_upgrade(s, 3);
    n = make_101(s, NULL, out, sizeof(out));
    srv_write(s->ws_fd, out, n);
    turn(s);
    f[0] = 0x81;
    f[1] = 0x80 | 1;
    memset(f + 2, 0, 5);
    srv_write(s->ws_fd, f, 7);
    turn(s);
    ari_client_stats(s->c, &st);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(s->events, 0);
    close(s->ws_fd);
    s->ws_fd = -1;
    /* 4: a continuation with no message begun. */
    wait_upgrade(s, 4);
    n = make_101(s, NULL, out, sizeof(out));
    n += frame((unsigned char *)out + n, 0x80, "{}", 2, 0);
    srv_write(s->ws_fd, out, n);
    turn(s);
    ari_client_stats(s->c, &st);
    assert_int_equal(st.connects, 2);
    assert_int_equal(st.disconnects, 2);
    assert_int_equal(s->events, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_accept_rfc_example),
        cmocka_unit_test_setup_teardown(test_ws_upgrade_request_and_first_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_host_name_connects, setup_named, teardown),
        cmocka_unit_test_setup_teardown(test_ws_reconcile_skips_unanswered_originates,
                                        setup_reconcile, teardown),
        cmocka_unit_test_setup_teardown(test_ws_frames_split_and_every_length_encoding, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ws_fragmented_message_with_ping_inside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ws_close_from_server_then_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_refusals_and_protocol_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
