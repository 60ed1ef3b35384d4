/* SPDX-License-Identifier: MIT */
/*
 * ari-sim-bench: measures ari-sim's call lifecycle rate.
 *
 * One lifecycle is what a dialer does with an answered call: originate
 * (POST /ari/channels), wait for StasisStart, play one prompt (POST
 * /channels/{id}/play), wait for PlaybackFinished, hang up (DELETE
 * /channels/{id}) and wait for ChannelDestroyed; every event of the call
 * (Dial x2, ChannelStateChange, ChannelVarset x2, StasisStart,
 * PlaybackStarted, PlaybackFinished, ChannelHangupRequest, StasisEnd,
 * ChannelDestroyed) is delivered on one events WebSocket and read.
 *
 * The bench starts ari-sim (sim/scenarios/load.json: callees answer at once)
 * pinned to CPU 0, runs itself on CPU 1, keeps a fixed number of calls in
 * flight over a pool of keep-alive HTTP connections, and reports
 * lifecycles per second and the simulator's CPU use (from /proc), i.e. how
 * close it is to one full core.
 *
 *   ari-sim-bench [--seconds 10] [--concurrency 400] [--conns 16]
 *                 [--sim build/release/ari-sim] [--port P (use a running one)]
 *
 * Prints "BENCH name=... value=... unit=... target=... ok=..." lines.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Decimal integer prefix of s (0 when none); strtol saturates instead of the
 * undefined behaviour of atoi on overflow. */
static inline long strtol_dec(const char *s)
{
    return strtol(s, NULL, 10);
}

/* Floating-point prefix of s (0 when none). */
static inline double strtod_nul(const char *s)
{
    return strtod(s, NULL);
}

enum { MAXCONN = 256 };

struct out {
    char *p;
    size_t len, cap;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 65536;
        while (cap < o->len + n) {
            cap *= 2;
        }
        o->p = realloc(o->p, cap);
        if (o->p == NULL) {
            abort();
        }
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

struct conn {
    int fd;
    int busy; /* requests outstanding (pipelined) */
    struct out in;
};

struct req {
    char line[256];
};

/* A FIFO of requests waiting for a free connection. */
static struct req *q;
static size_t qhead, qtail, qcap;

static void q_push(const char *line)
{
    if (qtail - qhead == qcap) {
        size_t cap = qcap ? qcap * 2 : 4096;
        struct req *n = malloc(sizeof(*n) * cap);
        for (size_t i = 0; i < qtail - qhead; i++) {
            n[i] = q[(qhead + i) % qcap];
        }
        qtail -= qhead;
        qhead = 0;
        free(q);
        q = n;
        qcap = cap;
    }
    snprintf(q[qtail % qcap].line, sizeof(q[0].line), "%s", line);
    qtail++;
}

static int port;
static struct conn conns[MAXCONN];
static int nconns = 16;
static int depth = 8; /* pipelined requests per connection */
static int epfd;
static long long done_calls, started_calls, http_done, events_seen, errors;
static long long next_call;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tcp_connect(void)
{
    struct sockaddr_in sa;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            perror("write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void pump(void)
{
    static int rr;
    /* Fill each connection up to the pipeline depth, one write per batch. */
    for (int k = 0; k < nconns && qhead < qtail; k++) {
        struct conn *c = &conns[(rr + k) % nconns];
        char buf[8192];
        size_t len = 0;
        while (c->busy < depth && qhead < qtail && len + 512 < sizeof(buf)) {
            const char *line = q[qhead % qcap].line;
            qhead++;
            len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                    "%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic "
                                    "YXN0ZXJpc2s6YXN0ZXJpc2s=\r\nContent-Length: 0\r\n\r\n",
                                    line);
            c->busy++;
        }
        if (len > 0) {
            send_all(c->fd, buf, len);
        }
    }
    rr++;
}

static void start_call(void)
{
    char line[256];
    long long i = next_call++;
    snprintf(line, sizeof(line),
             "POST /ari/channels?endpoint=PJSIP/load/sip:%%2B1555%07lld@h&app=bench"
             "&channelId=b%010lld",
             i % 10000000, i);
    q_push(line);
    started_calls++;
}

/* Reads HTTP responses on a connection; frees it for the next request. */
static void conn_read(struct conn *c)
{
    char buf[65536];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n <= 0) {
        fprintf(stderr, "http connection closed\n");
        exit(1);
    }
    out_put(&c->in, buf, (size_t)n);
    for (;;) {
        char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
        char *cl;
        size_t hl, blen = 0, total;
        int status;
        if (end == NULL) {
            return;
        }
        hl = (size_t)(end - c->in.p) + 4;
        cl = memmem(c->in.p, hl, "Content-Length: ", 16);
        if (cl != NULL) {
            blen = (size_t)strtoul(cl + 16, NULL, 10);
        }
        total = hl + blen;
        if (c->in.len < total) {
            return;
        }
        status = (int)strtol_dec(c->in.p + 9);
        if (status >= 300) {
            errors++;
            if (errors < 5) {
                fprintf(stderr, "HTTP %d: %.*s\n", status, (int)blen, c->in.p + hl);
            }
        }
        memmove(c->in.p, c->in.p + total, c->in.len - total);
        c->in.len -= total;
        c->busy--;
        http_done++;
    }
}

static int ws_fd;
static struct out ws_in;
static int running = 1;

static long long call_of(const char *id)
{
    return strtoll(id + 1, NULL, 10);
}

static void on_event(const char *p, size_t len)
{
    const char *t = memmem(p, len, "\"type\":\"", 8);
    const char *id;
    char line[256];

    events_seen++;
    if (t == NULL) {
        return;
    }
    t += 8;
    if (strncmp(t, "StasisStart\"", 12) == 0) {
        id = memmem(p, len, "\"channel\":{\"id\":\"", 17);
        if (id == NULL) {
            return;
        }
        id += 17;
        snprintf(line, sizeof(line),
                 "POST /ari/channels/b%010lld/play?media=sound:hello-world&playbackId=p%010lld",
                 call_of(id), call_of(id));
        q_push(line);
    } else if (strncmp(t, "PlaybackFinished\"", 17) == 0) {
        id = memmem(p, len, "\"id\":\"p", 7);
        if (id == NULL) {
            return;
        }
        snprintf(line, sizeof(line), "DELETE /ari/channels/b%010lld", strtoll(id + 7, NULL, 10));
        q_push(line);
    } else if (strncmp(t, "ChannelDestroyed\"", 17) == 0) {
        done_calls++;
        if (running) {
            start_call();
        }
    }
}

static void ws_read(void)
{
    char buf[262144];
    ssize_t n = read(ws_fd, buf, sizeof(buf));
    size_t off = 0;

    if (n <= 0) {
        fprintf(stderr, "events socket closed\n");
        exit(1);
    }
    out_put(&ws_in, buf, (size_t)n);
    for (;;) {
        unsigned char *b = (unsigned char *)ws_in.p + off;
        size_t avail = ws_in.len - off, len, hl = 2;
        if (avail < 2) {
            break;
        }
        len = b[1] & 0x7f;
        if (len == 126) {
            if (avail < 4) {
                break;
            }
            len = (size_t)b[2] << 8 | b[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10) {
                break;
            }
            len = 0;
            for (int i = 0; i < 8; i++) {
                len = len << 8 | b[2 + i];
            }
            hl = 10;
        }
        if (avail < hl + len) {
            break;
        }
        if ((b[0] & 0x0f) == 1) {
            on_event((const char *)b + hl, len);
        }
        off += hl + len;
    }
    memmove(ws_in.p, ws_in.p + off, ws_in.len - off);
    ws_in.len -= off;
}

static void ws_open(void)
{
    char req[512], buf[4096];
    int n;
    ssize_t r;
    ws_fd = tcp_connect();
    n = snprintf(req, sizeof(req),
                 "GET /ari/events?app=bench&api_key=asterisk:asterisk HTTP/1.1\r\nHost: "
                 "127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                 "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    send_all(ws_fd, req, (size_t)n);
    r = read(ws_fd, buf, sizeof(buf) - 1);
    if (r <= 0 || strncmp(buf, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "websocket handshake failed\n");
        exit(1);
    }
    {
        char *end = memmem(buf, (size_t)r, "\r\n\r\n", 4);
        size_t hl = (size_t)(end - buf) + 4;
        if ((size_t)r > hl) {
            out_put(&ws_in, buf + hl, (size_t)r - hl);
        }
    }
}

static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    FILE *f;
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fgets(buf, sizeof(buf), f) != NULL) {
        char *p = strrchr(buf, ')');
        if (p != NULL) {
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
        }
    }
    fclose(f);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char **argv)
{
    double seconds = 10;
    int concurrency = 400;
    const char *simbin = "build/release/ari-sim";
    const char *scenario = "sim/scenarios/load.json";
    pid_t pid = 0;
    double t0, tend, cpu0, cpu1, warm = 1.0;
    long long done0;
    struct epoll_event ev;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod_nul(argv[i + 1]);
        } else if (strcmp(argv[i], "--concurrency") == 0) {
            concurrency = (int)strtol_dec(argv[i + 1]);
        } else if (strcmp(argv[i], "--depth") == 0) {
            depth = (int)strtol_dec(argv[i + 1]);
        } else if (strcmp(argv[i], "--conns") == 0) {
            nconns = (int)strtol_dec(argv[i + 1]);
        } else if (strcmp(argv[i], "--sim") == 0) {
            simbin = argv[i + 1];
        } else if (strcmp(argv[i], "--port") == 0) {
            port = (int)strtol_dec(argv[i + 1]);
        } else if (strcmp(argv[i], "--scenario") == 0) {
            scenario = argv[i + 1];
        }
    }
    if (argc > 1 && strcmp(argv[1], "quick") == 0) {
        seconds = 5;
    }
    if (nconns > MAXCONN) {
        nconns = MAXCONN;
    }
    signal(SIGPIPE, SIG_IGN);
    if (port == 0) {
        char portfile[] = "/tmp/ari-sim-bench-port-XXXXXX";
        int fd = mkstemp(portfile);
        close(fd);
        unlink(portfile);
        pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            pin(0);
            execl(simbin, simbin, "--port", "0", "--port-file", portfile, "--scenario", scenario,
                  "--log-level", "warn", (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 200 && port == 0; i++) {
            FILE *f = fopen(portfile, "r");
            if (f != NULL) {
                if (fscanf(f, "%d", &port) != 1) {
                    port = 0;
                }
                fclose(f);
            }
            usleep(20000);
        }
        unlink(portfile);
        if (port == 0) {
            fprintf(stderr, "could not start %s\n", simbin);
            return 1;
        }
    }
    pin(1);
    epfd = epoll_create1(0);
    ws_open();
    ev.events = EPOLLIN;
    ev.data.u32 = 1000;
    epoll_ctl(epfd, EPOLL_CTL_ADD, ws_fd, &ev);
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = tcp_connect();
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    for (int i = 0; i < concurrency; i++) {
        start_call();
    }
    t0 = now_s();
    tend = t0 + warm + seconds;
    done0 = 0;
    cpu0 = 0;
    for (int phase = 0;;) {
        struct epoll_event evs[64];
        int n;
        double now = now_s();
        if (phase == 0 && now >= t0 + warm) {
            phase = 1;
            done0 = done_calls;
            cpu0 = pid ? proc_cpu(pid) : 0;
            t0 = now;
        }
        if (now >= tend) {
            break;
        }
        pump();
        n = epoll_wait(epfd, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == 1000) {
                ws_read();
            } else {
                conn_read(&conns[evs[i].data.u32]);
            }
        }
    }
    {
        double el = now_s() - t0;
        long long calls = done_calls - done0;
        double rate = (double)calls / el;
        double cpu = 0;
        cpu1 = pid ? proc_cpu(pid) : 0;
        if (pid) {
            cpu = (cpu1 - cpu0) / el;
        }
        running = 0;
        printf("lifecycles=%lld seconds=%.2f rate=%.0f/s events=%lld http=%lld errors=%lld "
               "sim_cpu=%.0f%% of one core\n",
               calls, el, rate, events_seen, http_done, errors, cpu * 100);
        printf("BENCH name=ari_sim_call_lifecycles value=%.0f unit=calls/s target=5000 ok=%s\n",
               rate, rate >= 5000 ? "yes" : "no");
        if (pid) {
            printf("BENCH name=ari_sim_cpu_per_1000_calls value=%.3f unit=cpu-s target= ok=yes\n",
                   rate > 0 ? cpu / rate * 1000 : 0);
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
        }
    }
    return errors > 0 ? 1 : 0;
}
