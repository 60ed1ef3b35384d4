/* SPDX-License-Identifier: MIT */
/*
 * bench_dialer: the outbound dialer's call attempts per second end to end
 * against a real ari-sim (separate process on the same machine), compared
 * with what a bare ARI client gets from the same ari-sim in the same run;
 * bytes per in-flight call; instructions per attempt under callgrind.
 *
 *   bench_dialer quick|full         the figures below
 *   bench_dialer callgrind [N]      N attempts, for
 *       valgrind --tool=callgrind --toggle-collect=run_attempts
 *
 * One attempt is what the dialer does for an answered call without a flow:
 * originate (channelId = attempt id, app args, caller ID, ring timeout),
 * the events to StasisStart through the dial tracker, the stand-in talk
 * timer, DELETE /channels/{id}, the events to ChannelDestroyed, the
 * outcome with its cause and the call_logs row queued (no database: the
 * batch writer is not part of this figure; bench_campaign_lease and the
 * integration tests cover the database side). CONCURRENCY calls are in
 * flight at once; each ended call starts the next.
 *
 * The reference ("ari-sim capacity") is the same lifecycle driven by a bare
 * ari_client (originate, StasisStart, DELETE, ChannelDestroyed) with the
 * same concurrency: the ratio says how much of what ari-sim and the ARI
 * client can do the dialer's own logic keeps. Both share the two cores with
 * ari-sim, so the absolute rates move with the machine; the ratio much less.
 *
 * Targets: >= 2,000 attempts/s (issue 9), <= 8 KB per in-flight call.
 */
#include <ev.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ari/ari.h"
#include "core/log.h"
#include "dialer/dialer.h"
#include "dialer/dialer_int.h"
#include "sim/simc.h"

#define TARGET_RATE  2000.0
#define TARGET_BYTES 8192.0

enum { CONCURRENCY = 100, CALLGRIND_CONCURRENCY = 16, FOOTPRINT_CALLS = 20000 };

struct bench {
    struct ev_loop *loop;
    struct ari_pool *pool;
    struct dialer *d;
    int started, target, ended, failed;
    long seq; /* channel ids are never reused */
    int conc; /* calls in flight */
    bool connected;
    /* bare-client reference */
    bool raw;
    int raw_started, raw_ended;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start_attempt(struct bench *b)
{
    char id[40];
    snprintf(id, sizeof(id), "bench-%ld", b->seq++);
    struct dialer_call_req req = {
        .id = id,
        .tenant_id = 1,
        .campaign_id = 1,
        .contact_id = b->started,
        .number = "+12125550100",
        .caller_id = "+12125550199",
        .endpoint = "PJSIP/+12125550100@trunk",
        .ring_s = 20,
    };
    b->started++;
    if (dialer_call(b->d, &req) != 0) {
        b->failed++;
        b->ended++;
    }
}

static void on_ended(void *arg, const struct dialer_result *r)
{
    struct bench *b = arg;
    b->ended++;
    if (strcmp(r->outcome, "human") != 0) {
        b->failed++;
    }
    if (b->started < b->target) {
        start_attempt(b);
    }
}

/* The reference: the bare client's lifecycle. */
static void raw_start(struct bench *b)
{
    char id[40];
    snprintf(id, sizeof(id), "raw-%ld", b->seq++);
    b->raw_started++;
    struct ari_originate o = {
        .endpoint = "PJSIP/+12125550100@trunk",
        .channel_id = id,
        .app = "bench",
        .app_args = "attempt,x",
        .caller_id = "+12125550199",
        .timeout_s = 20,
    };
    if (ari_pool_originate(b->pool, &o, NULL, NULL, NULL, NULL) != 0) {
        b->raw_ended++;
    }
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct bench *b = arg;
    if (!b->raw) {
        dialer_on_event(b->d, c, ev);
        return;
    }
    if (ev->type == ARI_EVENT_STASIS_START) {
        ari_channel_hangup(c, ev->stasis_start.channel->id, NULL, NULL, NULL, NULL);
    } else if (ev->type == ARI_EVENT_CHANNEL_DESTROYED) {
        b->raw_ended++;
        if (b->raw_started < b->target) {
            raw_start(b);
        }
    }
}

static void on_health(struct ari_client *c, enum ari_health h, void *arg)
{
    struct bench *b = arg;
    (void)c;
    b->connected = h == ARI_HEALTH_UP;
}

/* The measured function (callgrind toggles on it): n attempts, CONCURRENCY at a time. */
int run_attempts(struct bench *b, int n);

__attribute__((noinline)) int run_attempts(struct bench *b, int n)
{
    b->started = b->ended = b->failed = 0;
    b->target = n;
    for (int i = 0; i < b->conc && b->started < n; i++) {
        start_attempt(b);
    }
    double end = now_s() + 120;
    while (b->ended < n && now_s() < end) {
        ev_run(b->loop, EVRUN_ONCE);
    }
    return b->ended == n && b->failed == 0 ? 0 : -1;
}

static int run_raw(struct bench *b, int n)
{
    b->raw = true;
    b->raw_started = b->raw_ended = 0;
    b->target = n;
    for (int i = 0; i < b->conc && b->raw_started < n; i++) {
        raw_start(b);
    }
    double end = now_s() + 120;
    while (b->raw_ended < n && now_s() < end) {
        ev_run(b->loop, EVRUN_ONCE);
    }
    b->raw = false;
    return b->raw_ended == n ? 0 : -1;
}

static int setup(struct bench *b, struct simc_proc *sim)
{
    const char *root = getenv("DIALER_ROOT");
    char scen[1024];
    snprintf(scen, sizeof(scen), "%s/sim/scenarios/load.json", root != NULL ? root : ".");
    const char *args[] = { "--scenario", scen,          "--user", "asterisk", "--password",
                           "asterisk",   "--log-level", "error",  NULL };
    char url[64];
    struct ari_client_config cfg = { .name = "bench",
                                     .url = url,
                                     .user = "asterisk",
                                     .password = "asterisk",
                                     .app = "bench",
                                     .max_connections = 8,
                                     .max_channels = 100000 };
    struct ari_handlers h = { .on_event = on_event, .on_health = on_health, .arg = b };
    if (simc_start(sim, args) < 0) {
        fprintf(stderr, "bench_dialer: cannot start ari-sim (DIALER_BUILD=%s)\n",
                getenv("DIALER_BUILD") ? getenv("DIALER_BUILD") : "");
        return -1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", sim->port);
    b->loop = ev_default_loop(0);
    if (ari_pool_create(b->loop, &cfg, 1, &h, &b->pool) != 0) {
        return -1;
    }
    struct dialer_config dc = { .loop = b->loop, .ari = b->pool, .app = "bench", .talk_ms = 1 };
    struct dialer_hooks dh = { .ended = on_ended, .arg = b };
    if (dialer_create(&dc, &dh, &b->d) != 0) {
        return -1;
    }
    double end = now_s() + 10;
    while (!b->connected && now_s() < end) {
        ev_run(b->loop, EVRUN_ONCE);
    }
    return b->connected ? 0 : -1;
}

static void teardown(struct bench *b, struct simc_proc *sim)
{
    dialer_destroy(b->d);
    ari_pool_destroy(b->pool);
    simc_stop(sim, SIGTERM);
}

/* Heap bytes per in-flight call: FOOTPRINT_CALLS calls registered, nothing sent. */
static double bytes_per_call(void)
{
    struct ev_loop *loop = ev_loop_new(0);
    static int not_a_pool;
    struct dialer *d = NULL;
    struct dialer_config dc = { .loop = loop, .ari = (struct ari_pool *)(void *)&not_a_pool };
    struct dialer_hooks dh = { .ended = on_ended, .arg = NULL };
    if (loop == NULL || dialer_create(&dc, &dh, &d) != 0) {
        return -1;
    }
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < FOOTPRINT_CALLS; i++) {
        char id[40];
        snprintf(id, sizeof(id), "6f1c2e0a-0000-4000-8000-%012d", i);
        struct dialer_call_req req = { .id = id,
                                       .number = "+12125550100",
                                       .caller_id = "+12125550199",
                                       .endpoint = "PJSIP/+12125550100@trunk",
                                       .ring_s = 20 };
        if (dialer_call_track(d, &req) != 0) {
            return -1;
        }
    }
    struct mallinfo2 m1 = mallinfo2();
    dialer_destroy(d);
    ev_loop_destroy(loop);
    return (double)(m1.uordblks - m0.uordblks) / FOOTPRINT_CALLS;
}

static double callgrind_figure(const char *self, int n)
{
    char out[] = "/tmp/bench-dialer-XXXXXX";
    char file[64], toggle[] = "--toggle-collect=run_attempts", nbuf[16], line[256];
    char a0[] = "valgrind", a1[] = "--tool=callgrind", a4[] = "-q", a6[] = "callgrind";
    char selfcopy[1024];
    int fd = mkstemp(out);
    int status;
    double total = -1;
    if (fd < 0 || access("/usr/bin/valgrind", X_OK) != 0) {
        return -1;
    }
    close(fd);
    snprintf(file, sizeof(file), "--callgrind-out-file=%s", out);
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    snprintf(selfcopy, sizeof(selfcopy), "%s", self);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = { a0, a1, toggle, file, a4, selfcopy, a6, nbuf, NULL };
        execv("/usr/bin/valgrind", argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        unlink(out);
        return -1;
    }
    FILE *f = fopen(out, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "totals:", 7) == 0 || strncmp(line, "summary:", 8) == 0) {
            total = strtod(line + (line[0] == 't' ? 7 : 8), NULL);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    unlink(out);
    return total > 0 ? total / n : -1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "quick";
    struct bench b;
    struct simc_proc sim;
    char self[1024], dir[1024];

    memset(&b, 0, sizeof(b));
    b.conc = CONCURRENCY;
    log_configure(getenv("BENCH_LOG") != NULL ? getenv("BENCH_LOG") : "warn");
    if (realpath(argv[0], self) != NULL) {
        snprintf(dir, sizeof(dir), "%s", self);
        char *bdir = dirname(dirname(dir)); /* build/<variant> */
        if (getenv("DIALER_BUILD") == NULL) {
            setenv("DIALER_BUILD", bdir, 1);
        }
        if (getenv("DIALER_ROOT") == NULL) {
            char root[1024];
            snprintf(root, sizeof(root), "%s/../..", bdir);
            setenv("DIALER_ROOT", root, 1);
        }
    }
    if (setup(&b, &sim) != 0) {
        return 1;
    }
    if (strcmp(mode, "callgrind") == 0) {
        int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 500;
        b.conc = CALLGRIND_CONCURRENCY; /* valgrind is slow: no request may time out */
        int rc = run_attempts(&b, 200) == 0 && run_attempts(&b, n) == 0 ? 0 : 1;
        teardown(&b, &sim);
        return rc;
    }
    int n = strcmp(mode, "full") == 0 ? 50000 : 10000;
    if (run_attempts(&b, 500) != 0 || run_raw(&b, 500) != 0) {
        fprintf(stderr, "bench_dialer: warm-up failed (ended=%d failed=%d)\n", b.ended, b.failed);
        const char *ids[8];
        size_t n_in = dialer_known_channels(b.d, ari_pool_client(b.pool, 0), ids, 8);
        for (size_t i = 0; i < n_in && i < 8; i++) {
            fprintf(stderr, "  still in flight: %s\n", ids[i]);
        }
        teardown(&b, &sim);
        return 1;
    }
    double t0 = now_s();
    int rc = run_attempts(&b, n);
    double rate = n / (now_s() - t0);
    t0 = now_s();
    int rc2 = run_raw(&b, n);
    double raw_rate = n / (now_s() - t0);
    teardown(&b, &sim);
    if (rc != 0 || rc2 != 0) {
        fprintf(stderr, "bench_dialer: run failed (ended=%d failed=%d raw=%d)\n", b.ended, b.failed,
                b.raw_ended);
        return 1;
    }
    printf("BENCH name=dialer_attempts_per_s value=%.0f unit=attempts/s target=%.0f ok=%s "
           "concurrency=%d\n",
           rate, TARGET_RATE, rate >= TARGET_RATE ? "yes" : "no", CONCURRENCY);
    printf(
        "BENCH name=ari_sim_bare_lifecycles_per_s value=%.0f unit=lifecycles/s target=- ok=yes\n",
        raw_rate);
    printf("BENCH name=dialer_share_of_ari_sim value=%.2f unit=ratio target=- ok=yes\n",
           rate / raw_rate);
    double bytes = bytes_per_call();
    printf("BENCH name=dialer_bytes_per_inflight_call value=%.0f unit=bytes target=%.0f ok=%s\n",
           bytes, TARGET_BYTES, bytes > 0 && bytes <= TARGET_BYTES ? "yes" : "no");
    double instr = callgrind_figure(self, 2000);
    if (instr > 0) {
        printf("BENCH name=dialer_instr_per_attempt value=%.0f unit=instructions target=- "
               "ok=yes\n",
               instr);
    }
    return 0;
}
