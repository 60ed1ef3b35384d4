/* SPDX-License-Identifier: MIT */
/*
 * bench_dashboards: the two figures issue 10 sets for live metrics.
 *
 *   counter_add_ns      cost of one hot-path dash_inc() (relaxed atomic add)
 *                       on one thread, and with two threads hitting the same
 *                       entity (the worst case: one cache line bouncing
 *                       between cores). Target <= 50 ns.
 *   ws_p99_ms           1,000 /ws/v1/live subscribers on a real httpd, one
 *                       snapshot per second (dashboards tick), a producer
 *                       counting all along: delivery latency from the
 *                       snapshot's time to the client having read the delta,
 *                       p50/p99 over every (subscriber, tick). Target p99 <
 *                       100 ms. Clients are raw sockets on one thread (poll).
 *
 * Usage: bench_dashboards [quick|full]   (quick: 8 ticks, full: 30 ticks)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/httpd.h"
#include "core/log.h"
#include "dashboards/dashboards.h"

enum { CLIENTS = 1000 };

/* ------------------------------------------------------------ counters */

static struct dash_entity *g_e;
static atomic_int g_go;

static void *adder(void *arg)
{
    long n = (long)arg;
    while (!atomic_load(&g_go)) {
    }
    for (long i = 0; i < n; i++) {
        dash_inc(g_e, DASH_ATTEMPTS);
    }
    return NULL;
}

static double add_ns(struct dash *d, int threads, long n)
{
    pthread_t t[2];
    int64_t t0;

    g_e = dash_campaign(d, 1, 1);
    atomic_store(&g_go, 0);
    for (int i = 0; i < threads; i++) {
        pthread_create(&t[i], NULL, adder, (void *)n);
    }
    t0 = clock_mono_us();
    atomic_store(&g_go, 1);
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
    }
    return (double)(clock_mono_us() - t0) * 1000.0 / (double)n;
}

/*
 * An IVR step as the dialer counts it: the node's hits and its outcome, in a
 * registry already holding `fill` other IVR entities (a few busy flows), via
 * the per-thread cache or the registry's look-up under its mutex.
 */
static double ivr_step_ns(bool cached, int fill, long steps)
{
    struct dash_config dc = { .node_id = "bench", .max_entities = (size_t)fill + 64 };
    struct dash *d = NULL;
    struct dash_ivr_cache *c;
    static const char *const nodes[] = { "start", "menu", "lookup", "transfer", "bye" };
    char name[32];
    int64_t t0, sink = 0;

    if (dash_create(&dc, &d) != 0) {
        return -1;
    }
    for (int i = 0; i < fill; i++) {
        snprintf(name, sizeof(name), "node-%d", i);
        dash_ivr_node(d, 1 + i % 7, 100 + i % 13, name, i % 2 ? "noinput" : "");
    }
    c = dash_ivr_cache_create(d);
    t0 = clock_mono_us();
    for (long i = 0; i < steps; i++) {
        const char *node = nodes[i % 5];
        struct dash_entity *a =
            cached ? dash_ivr_cached(c, 3, 42, node, "") : dash_ivr_node(d, 3, 42, node, "");
        struct dash_entity *b = cached ? dash_ivr_cached(c, 3, 42, node, "next")
                                       : dash_ivr_node(d, 3, 42, node, "next");
        dash_inc(a, DASH_HITS);
        dash_inc(b, DASH_HITS);
        sink += a != b;
    }
    double ns = (double)(clock_mono_us() - t0) * 1000.0 / (double)steps;
    dash_ivr_cache_destroy(c);
    dash_destroy(d);
    return sink > 0 ? ns : -1;
}

/* ------------------------------------------------------------ WebSocket */

static int auth(const char *cred, bool api_key, uint64_t ticket, struct dash_principal *p,
                void *arg)
{
    (void)arg;
    (void)ticket;
    if (api_key || strcmp(cred, "bench") != 0) {
        return ERR_AUTH;
    }
    p->tenant_id = 1;
    p->role = 1;
    p->expires_us = 0;
    return 0;
}

struct client {
    int fd;
    char buf[65536];
    size_t len;
    bool open;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int connect_one(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return false;
        }
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* A masked client text frame. */
static bool send_text(int fd, const char *s)
{
    unsigned char f[256];
    size_t n = strlen(s);
    if (n > 125) {
        return false;
    }
    f[0] = 0x81;
    f[1] = (unsigned char)(0x80 | n);
    memset(f + 2, 0, 4); /* mask key 0: payload unchanged */
    memcpy(f + 6, s, n);
    return send_all(fd, f, n + 6);
}

/* Consumes whole frames in c->buf; records delivery latencies of deltas. */
static void frames(struct client *c, int64_t *lat, size_t *nlat, size_t cap)
{
    size_t off = 0;
    while (c->len - off >= 2) {
        unsigned char *p = (unsigned char *)c->buf + off;
        size_t hl = 2, pl = p[1] & 0x7f;
        if (pl == 126) {
            if (c->len - off < 4) {
                break;
            }
            pl = ((size_t)p[2] << 8) | p[3];
            hl = 4;
        } else if (pl == 127) {
            if (c->len - off < 10) {
                break;
            }
            pl = 0;
            for (int i = 0; i < 8; i++) {
                pl = (pl << 8) | p[2 + i];
            }
            hl = 10;
        }
        if (c->len - off < hl + pl) {
            break;
        }
        char *msg = (char *)p + hl;
        if (pl > 20 && memmem(msg, pl, "\"type\":\"delta\"", 14) != NULL) {
            char *ts = memmem(msg, pl, "\"ts\":", 5);
            if (ts != NULL && *nlat < cap) {
                int64_t at = strtoll(ts + 5, NULL, 10);
                lat[(*nlat)++] = clock_wall_us() / 1000 - at;
            }
        }
        off += hl + pl;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static bool handshake(struct client *c)
{
    static const char req[] =
        "GET /ws/v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer bench\r\n\r\n";
    char *eoh;
    if (!send_all(c->fd, req, sizeof(req) - 1)) {
        return false;
    }
    while ((eoh = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r <= 0) {
            return false;
        }
        c->len += (size_t)r;
    }
    if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) {
        return false;
    }
    size_t hl = (size_t)(eoh + 4 - c->buf);
    memmove(c->buf, c->buf + hl, c->len - hl);
    c->len -= hl;
    return send_text(c->fd, "{\"type\":\"subscribe\",\"tenant\":true}");
}

static atomic_int g_stop_producer;

static void *producer(void *arg)
{
    struct dash_entity *e = arg;
    while (!atomic_load(&g_stop_producer)) {
        dash_inc(e, DASH_ATTEMPTS);
        usleep(20000);
    }
    return NULL;
}

static int ws_bench(int ticks)
{
    struct httpd_config hc = { .name = "bench", .max_connections = 4096, .no_access_log = true };
    struct dash_config dc = { .node_id = "bench", .tick_ms = 1000, .heartbeat_ms = 60000 };
    struct dash *d = NULL;
    struct httpd *h = httpd_create(&hc, NULL, 0);
    static struct client cl[CLIENTS];
    static struct pollfd pfd[CLIENTS];
    size_t cap = (size_t)CLIENTS * (size_t)(ticks + 2), nlat = 0;
    int64_t *lat = calloc(cap, sizeof(*lat));
    pthread_t prod;
    int opened = 0;

    if (h == NULL || dash_create(&dc, &d) != 0 || dash_mount(d, h, auth, NULL, NULL) != 0 ||
        httpd_start(h) != 0 || dash_start(d) != 0) {
        fprintf(stderr, "bench: server set-up failed\n");
        free(lat);
        return 1;
    }
    struct dash_entity *e = dash_campaign(d, 1, 1);
    dash_campaign_state(d, e, DASH_STATE_RUNNING);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i].fd = connect_one(httpd_port(h));
        cl[i].open = cl[i].fd >= 0 && handshake(&cl[i]);
        opened += cl[i].open;
        pfd[i].fd = cl[i].open ? cl[i].fd : -1;
        pfd[i].events = POLLIN;
    }
    pthread_create(&prod, NULL, producer, e);
    /* Let every subscription settle, then measure for `ticks` seconds. */
    int64_t settle = clock_mono_us() + 1500000;
    int64_t end = settle + (int64_t)ticks * 1000000;
    while (clock_mono_us() < end) {
        int n = poll(pfd, CLIENTS, 100);
        bool measuring = clock_mono_us() >= settle;
        for (int i = 0; n > 0 && i < CLIENTS; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            ssize_t r = recv(cl[i].fd, cl[i].buf + cl[i].len, sizeof(cl[i].buf) - cl[i].len, 0);
            if (r <= 0) {
                pfd[i].fd = -1;
                cl[i].open = false;
                continue;
            }
            cl[i].len += (size_t)r;
            size_t before = nlat;
            frames(&cl[i], lat, &nlat, cap);
            if (!measuring) {
                nlat = before;
            }
        }
    }
    atomic_store(&g_stop_producer, 1);
    pthread_join(prod, NULL);
    int still = 0;
    for (int i = 0; i < CLIENTS; i++) {
        still += cl[i].open;
        if (cl[i].fd >= 0) {
            close(cl[i].fd);
        }
    }
    dash_stop(d);
    httpd_stop(h);
    dash_destroy(d);
    qsort(lat, nlat, sizeof(*lat), cmp_i64);
    int64_t p50 = nlat > 0 ? lat[nlat / 2] : -1;
    int64_t p99 = nlat > 0 ? lat[(nlat * 99) / 100] : -1;
    bool ok = opened == CLIENTS && still == CLIENTS &&
              nlat >= (size_t)CLIENTS * (size_t)(ticks - 1) && p99 >= 0 && p99 < 100;
    printf("BENCH name=ws_subscribers value=%d unit=sessions target=1000 ok=%s\n", still,
           still == CLIENTS ? "yes" : "no");
    printf("BENCH name=ws_deliveries value=%zu unit=messages target=%d ok=%s\n", nlat,
           CLIENTS * (ticks - 1), nlat >= (size_t)CLIENTS * (size_t)(ticks - 1) ? "yes" : "no");
    printf("BENCH name=ws_delivery_p50 value=%lld unit=ms target=- ok=yes\n", (long long)p50);
    printf("BENCH name=ws_delivery_p99 value=%lld unit=ms target=<100 ok=%s\n", (long long)p99,
           ok ? "yes" : "no");
    free(lat);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    bool full = argc > 1 && strcmp(argv[1], "full") == 0;
    /* "ivr N": only the IVR step through the cache, N steps (for callgrind) */
    if (argc > 2 && strcmp(argv[1], "ivr") == 0) {
        log_configure("warn");
        double ns = ivr_step_ns(true, 1000, strtol(argv[2], NULL, 10));
        printf("BENCH name=ivr_step_cached_ns value=%.1f unit=ns target=- ok=yes\n", ns);
        return ns > 0 ? 0 : 1;
    }
    struct dash_config dc = { .node_id = "bench" };
    struct dash *d = NULL;
    long n = full ? 200000000L : 50000000L;
    int rc = 0;

    log_configure("warn");
    if (dash_create(&dc, &d) != 0) {
        return 1;
    }
    double one = add_ns(d, 1, n);
    double two = add_ns(d, 2, n / 2);
    dash_destroy(d);
    printf("BENCH name=counter_add_ns value=%.2f unit=ns target=<=50 ok=%s\n", one,
           one <= 50 ? "yes" : "no");
    printf("BENCH name=counter_add_contended_ns value=%.2f unit=ns target=<=50 ok=%s\n", two,
           two <= 50 ? "yes" : "no");
    rc |= one > 50;
    double slow = ivr_step_ns(false, 1000, full ? 200000L : 50000L);
    double fast = ivr_step_ns(true, 1000, full ? 20000000L : 5000000L);
    /* a ratio, so the verdict does not depend on how busy the machine is */
    double speedup = fast > 0 ? slow / fast : 0.0;
    printf("BENCH name=ivr_step_registry_ns value=%.1f unit=ns target=- ok=yes\n", slow);
    printf("BENCH name=ivr_step_cached_ns value=%.1f unit=ns target=- ok=yes\n", fast);
    printf("BENCH name=ivr_step_speedup value=%.0f unit=ratio target=>=10 ok=%s\n", speedup,
           speedup >= 10 ? "yes" : "no");
    rc |= speedup < 10;
    rc |= ws_bench(full ? 30 : 8);
    return rc;
}
