/* SPDX-License-Identifier: MIT */
/*
 * bench_ari_client: the ARI client's cost per call lifecycle against a real
 * ari-sim (separate process, so only the client side is measured).
 *
 *   bench_ari_client quick|full        lifecycles per second, then (when
 *                                      valgrind is installed) instructions
 *                                      per lifecycle under callgrind
 *   bench_ari_client callgrind [N]     N lifecycles, for
 *       valgrind --tool=callgrind --toggle-collect=run_lifecycles
 *
 * One lifecycle is what the dialer does for an answered call: originate
 * (POST /channels/{id} with app, appArgs, callerId, timeout), the events up
 * to StasisStart, one playback (POST .../play, PlaybackStarted,
 * PlaybackFinished), DELETE /channels/{id}, the events up to
 * ChannelDestroyed: 3 REST requests and 13 events, every event parsed into
 * its typed struct and routed by channel id. Calls run CONCURRENCY at a time
 * over the client's keep-alive connections (sim/scenarios/load.json: answer
 * at once, 50 ms prompt). The instruction count covers everything in this
 * process between the first originate and the last ChannelDestroyed:
 * request building, the REST transport (the client's own HTTP/1.1
 * connections; curl with BENCH_ARI_TRANSPORT=curl), the WebSocket reader,
 * event decoding and routing, and this driver's few lines per event.
 *
 * Target: at most 150,000 instructions per lifecycle on the client side.
 */
#include <ev.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ari/ari.h"
#include "core/log.h"
#include "sim/simc.h"

#define TARGET_INSTR 150000.0

enum { CONCURRENCY = 64, MAX_CALLS = 200000 };

enum call_state { C_FREE, C_DIALING, C_PLAYING, C_HANGING };

struct call {
    enum call_state st;
    char id[24];
};

struct bench {
    struct ev_loop *loop;
    struct ari_client *c;
    struct call calls[CONCURRENCY];
    int started, target, done, failed, connected;
    long events;
};

static const char *MEDIA[] = { "sound:hello-world" };

static void start_call(struct bench *b, int slot);

static void on_result(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct bench *b = arg;
    (void)c;
    if (res->error != ARI_OK) {
        b->failed++;
    }
}

/* The slot of a channel id "b<slot>-<n>", or -1. */
static int slot_of(const char *id)
{
    int slot = 0;
    if (id == NULL || id[0] != 'b') {
        return -1;
    }
    for (id++; *id >= '0' && *id <= '9'; id++) {
        slot = slot * 10 + (*id - '0');
    }
    return *id == '-' && slot < CONCURRENCY ? slot : -1;
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct bench *b = arg;
    int slot = slot_of(ari_event_channel_id(ev));
    struct call *k;

    b->events++;
    if (slot < 0) {
        return;
    }
    k = &b->calls[slot];
    switch (ev->type) {
    case ARI_EVENT_STASIS_START:
        if (k->st == C_DIALING) {
            struct ari_play p = { .media = MEDIA, .n_media = 1 };
            k->st = C_PLAYING;
            if (ari_channel_play(c, k->id, &p, on_result, b, NULL) != 0) {
                b->failed++;
            }
        }
        break;
    case ARI_EVENT_PLAYBACK_FINISHED:
        if (k->st == C_PLAYING) {
            k->st = C_HANGING;
            if (ari_channel_hangup(c, k->id, NULL, on_result, b, NULL) != 0) {
                b->failed++;
            }
        }
        break;
    case ARI_EVENT_CHANNEL_DESTROYED:
        if (k->st != C_FREE) {
            k->st = C_FREE;
            b->done++;
            if (b->started < b->target) {
                start_call(b, slot);
            }
        }
        break;
    default:
        break;
    }
}

static void on_health(struct ari_client *c, enum ari_health h, void *arg)
{
    struct bench *b = arg;
    (void)c;
    b->connected = h != ARI_HEALTH_DOWN;
}

static void start_call(struct bench *b, int slot)
{
    struct call *k = &b->calls[slot];
    struct ari_originate o = {
        .endpoint = "PJSIP/trunk/sip:+15550001234@carrier",
        .channel_id = k->id,
        .app_args = "c1,l1",
        .caller_id = "\"Bench\" <+15550000000>",
        .timeout_s = 30,
    };
    snprintf(k->id, sizeof(k->id), "b%d-%d", slot, b->started);
    k->st = C_DIALING;
    b->started++;
    if (ari_originate(b->c, &o, on_result, b, NULL) != 0) {
        b->failed++;
    }
}

/* The measured part (callgrind --toggle-collect=run_lifecycles). */
__attribute__((noinline)) int run_lifecycles(struct bench *b, int n);

int run_lifecycles(struct bench *b, int n)
{
    b->target = b->started + n;
    int goal = b->done + n;
    for (int i = 0; i < CONCURRENCY && b->started < b->target; i++) {
        start_call(b, i);
    }
    for (long i = 0; i < 100000000L && b->done < goal && b->failed == 0; i++) {
        ev_run(b->loop, EVRUN_ONCE);
    }
    return b->done >= goal ? 0 : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(struct bench *b, struct simc_proc *sim)
{
    static const char *const args[] = { "--scenario", "sim/scenarios/load.json", "--log-level",
                                        "warn", NULL };
    struct ari_handlers h = { .on_event = on_event, .on_health = on_health, .arg = b };
    char url[64];
    struct ari_client_config cfg = { .name = "bench",
                                     .url = url,
                                     .user = "asterisk",
                                     .password = "asterisk",
                                     .app = "bench",
                                     .max_connections = 8,
                                     .transport = getenv("BENCH_ARI_TRANSPORT") };

    if (simc_start(sim, args) < 0) {
        fprintf(stderr, "bench_ari_client: cannot start ari-sim (DIALER_BUILD=%s)\n",
                getenv("DIALER_BUILD") ? getenv("DIALER_BUILD") : "");
        return -1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", sim->port);
    b->loop = ev_default_loop(0);
    if (ari_client_create(b->loop, &cfg, &h, &b->c) != 0) {
        return -1;
    }
    for (int i = 0; i < 1000 && !b->connected; i++) {
        ev_run(b->loop, EVRUN_ONCE);
    }
    return b->connected ? 0 : -1;
}

static void teardown(struct bench *b, struct simc_proc *sim)
{
    ari_client_destroy(b->c);
    simc_stop(sim, SIGTERM);
}

/* Runs this program under callgrind for n lifecycles; returns instructions per lifecycle. */
static double callgrind_figure(const char *self, int n)
{
    char out[] = "/tmp/bench-ari-client-XXXXXX";
    char file[64], toggle[] = "--toggle-collect=run_lifecycles", nbuf[16], line[256];
    char a0[] = "valgrind", a1[] = "--tool=callgrind", a4[] = "-q", a6[] = "callgrind";
    char selfcopy[1024];
    int fd = mkstemp(out);
    pid_t pid;
    int status;
    double total = -1;
    FILE *f;

    if (fd < 0 || access("/usr/bin/valgrind", X_OK) != 0) {
        return -1;
    }
    close(fd);
    snprintf(file, sizeof(file), "--callgrind-out-file=%s", out);
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    snprintf(selfcopy, sizeof(selfcopy), "%s", self);
    pid = fork();
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
    f = fopen(out, "r");
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
    log_configure("warn");
    /* ari-sim of the same build as this program (build/<variant>/load-tests/..). */
    if (getenv("DIALER_BUILD") == NULL && realpath(argv[0], self) != NULL) {
        snprintf(dir, sizeof(dir), "%s", self);
        setenv("DIALER_BUILD", dirname(dirname(dir)), 1);
    }
    if (setup(&b, &sim) != 0) {
        return 1;
    }
    if (strcmp(mode, "callgrind") == 0) {
        int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 500;
        /* Warm-up outside the measured function: connections, handles, arenas. */
        int rc = run_lifecycles(&b, 100) == 0 && run_lifecycles(&b, n) == 0 ? 0 : 1;
        teardown(&b, &sim);
        return rc;
    }
    int n = strcmp(mode, "full") == 0 ? 50000 : 5000;
    if (run_lifecycles(&b, 200) != 0) {
        fprintf(stderr, "bench_ari_client: warm-up failed (failed=%d)\n", b.failed);
        teardown(&b, &sim);
        return 1;
    }
    long ev0 = b.events;
    double t0 = now_s();
    int rc = run_lifecycles(&b, n);
    double dt = now_s() - t0;
    double rate = n / dt;
    double per = (double)(b.events - ev0) / n;
    teardown(&b, &sim);
    if (rc != 0) {
        fprintf(stderr, "bench_ari_client: run failed (done=%d failed=%d)\n", b.done, b.failed);
        return 1;
    }
    printf("BENCH name=ari_client_lifecycles_per_s value=%.0f unit=lifecycles/s target=- ok=yes"
           " events_per_lifecycle=%.1f concurrency=%d\n",
           rate, per, CONCURRENCY);
    if (realpath(argv[0], self) != NULL) {
        double instr = callgrind_figure(self, 500);
        if (instr > 0) {
            printf("BENCH name=ari_client_instr_per_lifecycle value=%.0f unit=instructions "
                   "target=%.0f ok=%s\n",
                   instr, TARGET_INSTR, instr <= TARGET_INSTR ? "yes" : "no");
        }
    }
    return 0;
}
