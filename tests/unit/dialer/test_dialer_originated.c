/* SPDX-License-Identifier: MIT */
/*
 * dialer.max-launching must cover a launch until ARI has answered its
 * originate, including the time the request waits in the ARI client's queue
 * for a free HTTP connection. dialer_hooks.originated is where a launch
 * ends: it must not fire while the originate is queued or unanswered, must
 * fire exactly once per dialer_call() that returned 0, and before the call's
 * ended hook.
 *
 * The Asterisk here is a slow HTTP server on a loopback socket: it reads
 * requests and answers them only when the test lets it. The ARI client has
 * two connections, so with four launches in flight two originates are on
 * the wire and two wait in the client's queue. A launcher with the wire's
 * rule (launch while launches in flight < bound, a launch counted from
 * dialer_call() to the originated hook) must never have more than the bound
 * out, whatever the server's pace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
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

#include "core/err.h"
#include "dialer/dialer.h"
#include "tests/support/evloop.h"

#define MAX_CONNS 8
#define BOUND     4

/* ------------------------------------------------------ the slow server */

struct sconn {
    ev_io io;
    int fd;
    char buf[16384];
    size_t len;
    int owed; /* complete requests not answered yet */
};

struct slow {
    struct ev_loop *loop;
    int lfd;
    int port;
    ev_io accept_io;
    struct sconn conns[MAX_CONNS];
    int nconns;
    int status;   /* HTTP status of the answers */
    bool answer;  /* answer the requests owed (else hold them) */
    int received; /* complete requests read */
    int answered; /* requests answered */
};

/* The first n-byte needle in the len-byte hay, or NULL. */
static char *find_bytes(char *hay, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/* Removes the complete requests at the start of k->buf; returns how many. */
static int take_requests(struct sconn *k)
{
    int n = 0;
    for (;;) {
        char *end = find_bytes(k->buf, k->len, "\r\n\r\n", 4);
        if (end == NULL) {
            return n;
        }
        size_t head = (size_t)(end - k->buf) + 4;
        size_t body = 0;
        char *cl = find_bytes(k->buf, head, "Content-Length:", 15);
        if (cl != NULL) {
            body = (size_t)strtoul(cl + 15, NULL, 10);
        }
        if (k->len < head + body) {
            return n;
        }
        memmove(k->buf, k->buf + head + body, k->len - head - body);
        k->len -= head + body;
        n++;
    }
}

static void answer_owed(struct slow *s, struct sconn *k)
{
    char resp[256];
    while (s->answer && k->owed > 0) {
        const char *body = s->status == 200 ? "{\"id\":\"x\",\"state\":\"Down\"}"
                                            : "{\"message\":\"Invalid endpoint\"}";
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         s->status, strlen(body), body);
        assert_int_equal(write(k->fd, resp, (size_t)n), n);
        k->owed--;
        s->answered++;
    }
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct slow *s = w->data;
    struct sconn *k = (struct sconn *)w;
    (void)revents;
    ssize_t n = read(k->fd, k->buf + k->len, sizeof(k->buf) - k->len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        ev_io_stop(loop, w);
        close(k->fd);
        k->fd = -1;
        return;
    }
    k->len += (size_t)n;
    int got = take_requests(k);
    k->owed += got;
    s->received += got;
    answer_owed(s, k);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct slow *s = w->data;
    (void)revents;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    assert_true(s->nconns < MAX_CONNS);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct sconn *k = &s->conns[s->nconns++];
    k->fd = fd;
    ev_io_init(&k->io, conn_cb, fd, EV_READ);
    k->io.data = s;
    ev_io_start(loop, &k->io);
}

static void slow_start(struct slow *s, struct ev_loop *loop)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->status = 200;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    fcntl(s->lfd, F_SETFL, fcntl(s->lfd, F_GETFL) | O_NONBLOCK);
    ev_io_init(&s->accept_io, accept_cb, s->lfd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
}

static void slow_release(struct slow *s)
{
    s->answer = true;
    for (int i = 0; i < s->nconns; i++) {
        if (s->conns[i].fd >= 0) {
            answer_owed(s, &s->conns[i]);
        }
    }
}

static void slow_stop(struct slow *s)
{
    ev_io_stop(s->loop, &s->accept_io);
    close(s->lfd);
    for (int i = 0; i < s->nconns; i++) {
        if (s->conns[i].fd >= 0) {
            ev_io_stop(s->loop, &s->conns[i].io);
            close(s->conns[i].fd);
        }
    }
}

/* ------------------------------------------------ the dialer and launcher */

struct fx {
    struct ev_loop *loop;
    struct slow srv;
    struct ari_pool *ari;
    struct dialer *d;
    int launched;   /* dialer_call() returned 0 */
    int in_flight;  /* launched, originated hook not yet run */
    int max_seen;   /* the most launches in flight at once */
    int originated; /* originated hooks */
    int ended;      /* ended hooks */
    int errors;     /* originated hooks with an error status */
    int order_bad;  /* an ended hook before its call's originated hook */
    bool seen_originated[64];
    char ids[64][40];
};

static void on_originated(void *arg, void *user, int status)
{
    struct fx *f = arg;
    int i = (int)(intptr_t)user;
    assert_false(f->seen_originated[i]);
    f->seen_originated[i] = true;
    f->originated++;
    f->in_flight--;
    f->errors += status != 0;
}

static void on_ended(void *arg, const struct dialer_result *r)
{
    struct fx *f = arg;
    int i = (int)(intptr_t)r->user;
    f->ended++;
    f->order_bad += !f->seen_originated[i];
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char url[64];
    f->loop = ev_loop_new(EVFLAG_AUTO);
    slow_start(&f->srv, f->loop);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->srv.port);
    struct ari_client_config cfg = {
        .name = "slow",
        .url = url,
        .user = "dialer",
        .password = "secret",
        .app = "dialer",
        .no_events = true,
        .request_timeout_ms = 60000,
        .max_connections = 2,
    };
    assert_int_equal(ari_pool_create(f->loop, &cfg, 1, NULL, &f->ari), 0);
    struct dialer_config dc = { .loop = f->loop, .ari = f->ari, .app = "dialer" };
    struct dialer_hooks h = { .ended = on_ended, .originated = on_originated, .arg = f };
    assert_int_equal(dialer_create(&dc, &h, &f->d), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dialer_destroy(f->d);
    ari_pool_destroy(f->ari);
    slow_stop(&f->srv);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

/* The wire's rule: launch while fewer than BOUND launches are in flight. */
static void launch_some(struct fx *f, int total)
{
    while (f->launched < total && f->in_flight < BOUND) {
        int i = f->launched;
        snprintf(f->ids[i], sizeof(f->ids[i]), "00000000-0000-4000-8000-%012d", i);
        struct dialer_call_req req = {
            .id = f->ids[i],
            .number = "+15550100",
            .endpoint = "PJSIP/+15550100@carrier",
            .ring_s = 30,
            .user = (void *)(intptr_t)i,
        };
        assert_int_equal(dialer_call(f->d, &req), 0);
        f->launched++;
        f->in_flight++;
        if (f->in_flight > f->max_seen) {
            f->max_seen = f->in_flight;
        }
    }
}

/* Runs the loop in 10 ms steps for at most max_s, launching as the rule allows. */
static void drive(struct fx *f, int total, int target_originated, double max_s)
{
    for (int step = 0; step < (int)(max_s * 100) && f->originated < target_originated; step++) {
        launch_some(f, total);
        evloop_run_for(f->loop, 0.01);
    }
    launch_some(f, total);
}

static void test_queued_originates_count_until_answered(void **state)
{
    struct fx *f = *state;
    struct dialer_stats st;

    /* The server holds every request: four launches, then the bound shuts. */
    drive(f, 20, 1, 0.3);
    evloop_run_until(f->loop, &f->srv.received, 2, 2.0);
    launch_some(f, 20);
    assert_int_equal(f->launched, BOUND);
    assert_int_equal(f->originated, 0);
    /* two on the wire (the client's two connections), two in its queue */
    assert_int_equal(f->srv.received, 2);
    dialer_stats(f->d, &st);
    assert_int_equal(st.originating, BOUND);

    /* Answers come: every launch is answered, never more than the bound out. */
    slow_release(&f->srv);
    drive(f, 20, 20, 5.0);
    assert_int_equal(f->launched, 20);
    assert_int_equal(f->originated, 20);
    assert_int_equal(f->errors, 0);
    assert_int_equal(f->max_seen, BOUND);
    assert_int_equal(f->srv.answered, 20);
    dialer_stats(f->d, &st);
    assert_int_equal(st.originating, 0);
    assert_int_equal(st.in_flight, 20); /* the calls ring on: only the launches are over */
    assert_int_equal(f->ended, 0);
}

static void test_refused_originate_ends_launch_before_call(void **state)
{
    struct fx *f = *state;
    struct dialer_stats st;

    /* 400 (a bad endpoint): the launch ends, then the call, each once. */
    f->srv.status = 400;
    slow_release(&f->srv);
    drive(f, 6, 6, 5.0);
    evloop_run_until(f->loop, &f->ended, 6, 2.0);
    assert_int_equal(f->originated, 6);
    assert_int_equal(f->errors, 6);
    assert_int_equal(f->ended, 6);
    assert_int_equal(f->order_bad, 0);
    assert_true(f->max_seen <= BOUND);
    dialer_stats(f->d, &st);
    assert_int_equal(st.originating, 0);
    assert_int_equal(st.in_flight, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queued_originates_count_until_answered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_originate_ends_launch_before_call, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
