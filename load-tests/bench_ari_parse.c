/* SPDX-License-Identifier: MIT */
/*
 * bench_ari_parse: throughput of the ARI event layer on real messages.
 *
 *   bench_ari_parse quick|full      timed runs (load-tests/run.sh contract:
 *                                   prints BENCH name=... value=... lines)
 *   bench_ari_parse callgrind [N]   N untimed passes (default 20) for
 *                                   valgrind --tool=callgrind
 *                                   --toggle-collect=bench_parse_pass
 *
 * The messages are every event of shared/ari/captures-asterisk-22 (both
 * WebSockets of all twelve scenarios, 520 messages, as compact JSON in the
 * order received), found through DIALER_SHARED or ../shared; without them a
 * built-in call of ten events is used. Each measured step is what the
 * connection layer does per message: ari_event_parse() into a per-connection
 * arena, ari_event_channel_id() to route it, arena_reset(). A jansson-only
 * pass (json_loadb + json_decref) shows how much of the cost is the JSON
 * parser itself, and an encode pass measures ari_event_to_json + dump (the
 * simulator's direction).
 *
 * Target: 50,000 events/s on one core (5,000 call attempts per second at
 * ten events each), a tenth of a core at the dialer's design load.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ari/ari.h"

#define TARGET_EVENTS_PER_SEC 50000.0

struct msg {
    char *text;
    size_t len;
};

struct msgs {
    struct msg *v;
    size_t n;
    size_t cap;
    size_t bytes;
};

static void add_msg(struct msgs *m, char *text)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct msg *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n].text = text;
    m->v[m->n].len = strlen(text);
    m->bytes += m->v[m->n].len;
    m->n++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every captured event; returns the number of files read. */
static int load_captures(struct msgs *m)
{
    const char *shared = getenv("DIALER_SHARED");
    char dir[4096];
    char *names[64];
    int n_names = 0;
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/ari/captures-asterisk-22",
             shared != NULL && *shared ? shared : "../shared");
    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL && n_names < 64) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0) {
            names[n_names++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n_names, sizeof(names[0]), cmp_str);
    for (int f = 0; f < n_names; f++) {
        char path[8192];
        const char *lists[] = { "sequence", "subscribe_all_events" };
        snprintf(path, sizeof(path), "%s/%s", dir, names[f]);
        json_t *doc = json_load_file(path, 0, NULL);
        for (int l = 0; doc != NULL && l < 2; l++) {
            size_t i;
            json_t *item;
            json_array_foreach (json_object_get(doc, lists[l]), i, item) {
                const char *kind = json_string_value(json_object_get(item, "kind"));
                if (kind != NULL && strcmp(kind, "event") == 0) {
                    add_msg(m, json_dumps(json_object_get(item, "event"), JSON_COMPACT));
                }
            }
        }
        json_decref(doc);
        free(names[f]);
    }
    return n_names;
}

#define BCH(st)                                                                                 \
    "{\"id\":\"c1-l1\",\"name\":\"PJSIP/trunk-00000002\",\"state\":\"" st                       \
    "\",\"protocol_id\":\"3848276298220188511@10.0.0.1\",\"caller\":{\"name\":\"Dialer\","      \
    "\"number\":\"1000\"},\"connected\":{\"name\":\"\",\"number\":\"15551234567\"},"            \
    "\"accountcode\":\"\",\"dialplan\":{\"context\":\"dialer\",\"exten\":\"s\",\"priority\":1," \
    "\"app_name\":\"Stasis\",\"app_data\":\"dialer,c1,l1\"},\"creationtime\":"                  \
    "\"2026-11-24T11:46:27.251+0000\",\"language\":\"en\"}"
#define TAIL ",\"asterisk_id\":\"02:fc:00:00:00:01\",\"application\":\"dialer\"}"
#define TS   "\"timestamp\":\"2026-11-24T11:46:28.253+0000\""

/* A built-in answered call of ten events, for when the captures are absent. */
static void load_builtin(struct msgs *m)
{
    static const char *const call[] = {
        "{\"type\":\"Dial\"," TS ",\"dialstatus\":\"\",\"forward\":\"\",\"dialstring\":\"trunk/"
        "15551234567\",\"peer\":" BCH("Down") TAIL,
        "{\"type\":\"ChannelStateChange\"," TS ",\"channel\":" BCH("Ringing") TAIL,
        "{\"type\":\"Dial\"," TS ",\"dialstatus\":\"RINGING\",\"forward\":\"\",\"dialstring\":"
        "\"trunk/15551234567\",\"peer\":" BCH("Ringing") TAIL,
        "{\"type\":\"ChannelStateChange\"," TS ",\"channel\":" BCH("Up") TAIL,
        "{\"type\":\"StasisStart\"," TS ",\"args\":[\"c1\",\"l1\"],\"channel\":" BCH("Up") TAIL,
        "{\"type\":\"PlaybackStarted\"," TS ",\"playback\":{\"id\":\"c1-pb1\",\"media_uri\":"
        "\"sound:hello-world\",\"target_uri\":\"channel:c1-l1\",\"language\":\"en\",\"state\":"
        "\"playing\"}" TAIL,
        "{\"type\":\"ChannelDtmfReceived\"," TS ",\"digit\":\"1\",\"duration_ms\":100,"
        "\"channel\":" BCH("Up") TAIL,
        "{\"cause\":16,\"type\":\"ChannelHangupRequest\"," TS ",\"channel\":" BCH("Up") TAIL,
        "{\"type\":\"StasisEnd\"," TS ",\"channel\":" BCH("Up") TAIL,
        "{\"type\":\"ChannelDestroyed\"," TS ",\"cause\":16,\"cause_txt\":\"Normal Clearing\","
        "\"channel\":" BCH("Up") TAIL,
    };
    for (size_t i = 0; i < sizeof(call) / sizeof(call[0]); i++) {
        char *s = strdup(call[i]);
        if (s == NULL) {
            exit(1);
        }
        add_msg(m, s);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One pass over all messages as the connection layer would do it; returns routed events. */
__attribute__((noinline)) size_t bench_parse_pass(const struct msgs *m, struct arena *a);

__attribute__((noinline)) size_t bench_parse_pass(const struct msgs *m, struct arena *a)
{
    size_t routed = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct ari_event *ev;
        if (ari_event_parse(m->v[i].text, m->v[i].len, a, &ev) != 0) {
            fprintf(stderr, "parse failed: %.200s\n", m->v[i].text);
            exit(1);
        }
        routed += ari_event_channel_id(ev) != NULL;
        arena_reset(a);
    }
    return routed;
}

__attribute__((noinline)) size_t bench_jansson_pass(const struct msgs *m);

__attribute__((noinline)) size_t bench_jansson_pass(const struct msgs *m)
{
    size_t ok = 0;
    for (size_t i = 0; i < m->n; i++) {
        json_t *j = json_loadb(m->v[i].text, m->v[i].len, 0, NULL);
        ok += j != NULL;
        json_decref(j);
    }
    return ok;
}

/* Parse + encode + dump: the simulator's direction. */
static size_t bench_encode_pass(const struct msgs *m, struct arena *a)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct ari_event *ev;
        if (ari_event_parse(m->v[i].text, m->v[i].len, a, &ev) != 0) {
            exit(1);
        }
        json_t *j = ari_event_to_json(ev);
        char *s = json_dumps(j, JSON_COMPACT);
        bytes += s != NULL ? strlen(s) : 0;
        free(s);
        json_decref(j);
        arena_reset(a);
    }
    return bytes;
}

/* Runs pass() until secs have elapsed; returns events per second. */
static double timed(const struct msgs *m, struct arena *a, double secs, int which)
{
    size_t events = 0;
    size_t sink = 0;
    double t0 = now_s();
    double t;

    do {
        if (which == 0) {
            sink += bench_parse_pass(m, a);
        } else if (which == 1) {
            sink += bench_jansson_pass(m);
        } else {
            sink += bench_encode_pass(m, a);
        }
        events += m->n;
        t = now_s() - t0;
    } while (t < secs);
    if (sink == 0) {
        fprintf(stderr, "nothing routed\n");
    }
    return (double)events / t;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "quick";
    struct msgs m = { 0 };
    struct arena a;
    int files;

    files = load_captures(&m);
    if (m.n == 0) {
        load_builtin(&m);
    }
    arena_init(&a, 8192);
    printf("messages: %zu (%s), average %.0f bytes\n", m.n,
           files > 0 ? "captures-asterisk-22" : "built-in call", (double)m.bytes / (double)m.n);

    if (strcmp(mode, "callgrind") == 0) {
        long passes = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
        size_t routed = 0;
        if (passes < 1 || passes > 1000000) {
            fprintf(stderr, "passes: 1..1000000\n");
            return 2;
        }
        for (long p = 0; p < passes; p++) {
            routed += bench_parse_pass(&m, &a);
        }
        printf("callgrind: %ld passes, %zu events, %zu routed\n", passes, (size_t)passes * m.n,
               routed);
        arena_fini(&a);
        return 0;
    }

    double secs = strcmp(mode, "full") == 0 ? 5.0 : 1.0;
    (void)timed(&m, &a, 0.2, 0); /* warm-up */
    double parse = timed(&m, &a, secs, 0);
    double jansson = timed(&m, &a, secs, 1);
    double encode = timed(&m, &a, secs, 2);
    double avg = (double)m.bytes / (double)m.n;

    printf("BENCH name=ari_parse_events_per_sec value=%.0f unit=events/s target=>=%.0f ok=%s\n",
           parse, TARGET_EVENTS_PER_SEC, parse >= TARGET_EVENTS_PER_SEC ? "yes" : "no");
    printf("BENCH name=ari_parse_ns_per_event value=%.0f unit=ns target= ok=yes\n", 1e9 / parse);
    printf("BENCH name=ari_parse_mb_per_sec value=%.1f unit=MB/s target= ok=yes\n",
           parse * avg / 1e6);
    printf("BENCH name=ari_jansson_only_events_per_sec value=%.0f unit=events/s target= ok=yes\n",
           jansson);
    printf("BENCH name=ari_parse_share_in_jansson value=%.0f unit=%% target= ok=yes\n",
           100.0 * parse / jansson);
    printf("BENCH name=ari_parse_encode_events_per_sec value=%.0f unit=events/s target= ok=yes\n",
           encode);
    arena_fini(&a);
    for (size_t i = 0; i < m.n; i++) {
        free(m.v[i].text);
    }
    free(m.v);
    return parse >= TARGET_EVENTS_PER_SEC ? 0 : 1;
}
