/* SPDX-License-Identifier: MIT */
/*
 * bench_ivr: the IVR engine's performance targets (issue 6).
 *
 *   ivr_transitions_per_s   node transitions per second on non-blocking
 *                           nodes (loop, set_variable, branch), sessions
 *                           created, run to their end and destroyed, no
 *                           step sink; target >= 1,000,000
 *   ivr_validate_1000_ms    validation and compilation of a 1,000-node flow
 *                           (already parsed JSON); target < 5 ms
 *   ivr_load_1000_ms        the same including JSON parsing of the text
 *   ivr_session_bytes       bytes a live session holds besides its variables
 *                           (waiting in a collect); target <= 4096
 *
 * Figures are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID).
 * Usage: bench_ivr [quick|full|SECONDS] [transitions|validate|bytes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ivr/ivr.h"

/*
 * CPU time of the process, not wall time: the build machine is shared, and
 * time spent waiting for a core is not the engine's cost.
 */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nop_play(void *c, uint64_t op, const char *const *m, size_t n, const char *l)
{
    (void)c;
    (void)op;
    (void)m;
    (void)n;
    (void)l;
    return 0;
}

static int nop_say(void *c, uint64_t op, const char *t, const char *l, const char *v)
{
    (void)c;
    (void)op;
    (void)t;
    (void)l;
    (void)v;
    return 0;
}

static int nop_hangup(void *c, int cause)
{
    (void)c;
    (void)cause;
    return 0;
}

static const struct ivr_channel_ops ops = { .play = nop_play,
                                            .say = nop_say,
                                            .hangup = nop_hangup };

static unsigned total_steps;

static void on_end(void *arg, const struct ivr_end *e)
{
    (void)arg;
    total_steps += e->steps;
}

static struct ivr_flow *load(const char *text)
{
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    if (ivr_flow_load(text, strlen(text), NULL, &f, &r) != 0) {
        for (size_t i = 0; i < ivr_report_count(r); i++) {
            fprintf(stderr, "%s\n", ivr_report_get(r, i)->message);
        }
        exit(1);
    }
    ivr_report_free(r);
    return f;
}

static void bench_transitions(double secs)
{
    static const char *flow =
        "{\"format\":\"ivrflow/1\",\"start\":\"s\",\"settings\":{\"limits\":{\"max_steps\":5000,"
        "\"max_consecutive_visits\":100}},\"nodes\":{"
        "\"s\":{\"type\":\"start\",\"next\":{\"next\":\"l\"}},"
        "\"l\":{\"type\":\"loop\",\"props\":{\"max\":100},\"next\":{\"continue\":\"v\","
        "\"exhausted\":\"e\"}},"
        "\"v\":{\"type\":\"set_variable\",\"props\":{\"assign\":[{\"name\":\"n\",\"value\":\"{{"
        "nodes.l.count}}\","
        "\"type\":\"number\"}]},\"next\":{\"next\":\"b\"}},"
        "\"b\":{\"type\":\"branch\",\"props\":{\"routes\":[{\"id\":\"even\",\"when\":{\"left\":\"{{"
        "flow.n}}\","
        "\"op\":\"in\",\"right\":[0,2,4,6,8],\"as\":\"number\"}}]},\"next\":{\"route:even\":\"l\","
        "\"default\":\"l\"}},"
        "\"e\":{\"type\":\"hangup\"}}}";
    struct ivr_flow *f = load(flow);
    struct ivr_session_config cfg = { .ops = &ops, .on_end = on_end };
    double t0 = now_s(), t;
    unsigned sessions = 0;
    total_steps = 0;
    do {
        for (int i = 0; i < 50; i++) {
            struct ivr_session *s = ivr_session_create(f, &cfg, NULL);
            ivr_session_start(s, "api", NULL);
            ivr_session_destroy(s);
            sessions++;
        }
        t = now_s() - t0;
    } while (t < secs);
    double rate = (double)total_steps / t;
    printf("BENCH name=ivr_transitions_per_s value=%.0f unit=transitions/s target=1000000 ok=%s\n",
           rate, rate >= 1e6 ? "yes" : "no");
    printf("# %u sessions of %u steps each\n", sessions, sessions ? total_steps / sessions : 0);
    ivr_flow_unref(f);
}

/* A 1,000-node flow: menus, checks, assignments and prompts chained in rounds. */
static json_t *big_flow(void)
{
    json_t *nodes = json_object();
    int rounds = 249; /* 4 nodes per round + start, welcome, end, error = 1,000 */
    char id[32], nx[32], txt[128];
    json_object_set_new(nodes, "s",
                        json_pack("{s:s,s:{s:s}}", "type", "start", "next", "next", "hi"));
    json_object_set_new(nodes, "hi",
                        json_pack("{s:s,s:{s:s},s:{s:s}}", "type", "say", "props", "text",
                                  "Welcome", "next", "done", "m0"));
    for (int r = 0; r < rounds; r++) {
        snprintf(nx, sizeof(nx), r + 1 < rounds ? "m%d" : "end", r + 1);
        snprintf(id, sizeof(id), "m%d", r);
        char c1[32], b1[32], v1[32];
        snprintf(c1, sizeof(c1), "c%d", r);
        snprintf(b1, sizeof(b1), "b%d", r);
        snprintf(v1, sizeof(v1), "v%d", r);
        snprintf(txt, sizeof(txt), "Menu %d for {{contact.name | default: 'you'}}: press 1 or 2.",
                 r);
        json_object_set_new(nodes, id,
                            json_pack("{s:s,s:{s:s},s:{s:s}}", "type", "say", "props", "text", txt,
                                      "next", "done", c1));
        json_object_set_new(nodes, c1,
                            json_pack("{s:s,s:{s:[{s:s}],s:[s,s],s:i},s:{s:s,s:s,s:s,s:s}}", "type",
                                      "collect", "props", "prompt", "say", "Choose", "choices", "1",
                                      "2", "max_noinput", 1, "next", "choice:1", b1, "choice:2", v1,
                                      "noinput", "end", "nomatch", "end"));
        json_object_set_new(nodes, b1,
                            json_pack("{s:s,s:{s:[{s:s,s:{s:s,s:s,s:s}}]},s:{s:s,s:s}}", "type",
                                      "branch", "props", "routes", "id", "one", "when", "left",
                                      "{{nodes.c0.digits}}", "op", "eq", "right", "1", "next",
                                      "route:one", v1, "default", nx));
        json_object_set_new(nodes, v1,
                            json_pack("{s:s,s:{s:[{s:s,s:s}]},s:{s:s}}", "type", "set_variable",
                                      "props", "assign", "name", "last", "value",
                                      "{{nodes.c0.digits}}", "next", "next", nx));
    }
    json_object_set_new(
        nodes, "end", json_pack("{s:s,s:{s:s}}", "type", "hangup", "props", "disposition", "done"));
    json_object_set_new(nodes, "oops", json_pack("{s:s}", "type", "hangup"));
    return json_pack("{s:s,s:s,s:{s:s},s:o}", "format", "ivrflow/1", "start", "s", "settings",
                     "on_error", "oops", "nodes", nodes);
}

static void bench_validate(double secs)
{
    json_t *doc = big_flow();
    char *text = json_dumps(doc, JSON_COMPACT);
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    if (ivr_flow_load_json(doc, NULL, &f, &r) != 0 || ivr_flow_nodes(f) != 1000) {
        fprintf(stderr, "big flow invalid (%zu nodes)\n", f ? ivr_flow_nodes(f) : 0);
        for (size_t i = 0; i < ivr_report_count(r) && i < 5; i++) {
            fprintf(stderr, "%s %s\n", ivr_report_get(r, i)->path, ivr_report_get(r, i)->message);
        }
        exit(1);
    }
    ivr_flow_unref(f);
    ivr_report_free(r);
    int n = 0;
    double t0 = now_s(), t;
    do {
        ivr_flow_load_json(doc, NULL, &f, &r);
        ivr_flow_unref(f);
        ivr_report_free(r);
        n++;
        t = now_s() - t0;
    } while (t < secs / 2);
    double ms = t * 1000 / n;
    printf("BENCH name=ivr_validate_1000_ms value=%.3f unit=ms target=5 ok=%s\n", ms,
           ms < 5 ? "yes" : "no");
    n = 0;
    t0 = now_s();
    do {
        ivr_flow_load(text, strlen(text), NULL, &f, &r);
        ivr_flow_unref(f);
        ivr_report_free(r);
        n++;
        t = now_s() - t0;
    } while (t < secs / 2);
    ms = t * 1000 / n;
    printf("BENCH name=ivr_load_1000_ms value=%.3f unit=ms target=- ok=yes\n", ms);
    free(text);
    json_decref(doc);
}

static void bench_session_bytes(void)
{
    static const char *flow =
        "{\"format\":\"ivrflow/"
        "1\",\"start\":\"s\",\"nodes\":{\"s\":{\"type\":\"start\",\"next\":{\"next\":\"c\"}},"
        "\"c\":{\"type\":\"collect\",\"props\":{\"prompt\":[{\"say\":\"Enter\"}],\"max_digits\":8},"
        "\"next\":{\"input\":\"e\",\"noinput\":\"e\",\"nomatch\":\"e\"}},\"e\":{\"type\":"
        "\"hangup\"}}}";
    struct ivr_flow *f = load(flow);
    struct ivr_session_config cfg = { .ops = &ops };
    struct ivr_session *s = ivr_session_create(f, &cfg, NULL);
    ivr_session_start(s, "inbound", NULL);
    size_t bytes = ivr_session_size(s);
    printf("BENCH name=ivr_session_bytes value=%zu unit=bytes target=4096 ok=%s\n", bytes,
           bytes <= 4096 ? "yes" : "no");
    ivr_session_destroy(s);
    ivr_flow_unref(f);
}

int main(int argc, char **argv)
{
    double secs = 1.0;
    if (argc > 1) {
        secs = strcmp(argv[1], "quick") == 0  ? 1.0
               : strcmp(argv[1], "full") == 0 ? 5.0
                                              : strtod(argv[1], NULL);
    }
    if (secs <= 0) {
        secs = 1.0;
    }
    /* A second argument picks one figure (for profiling): transitions, validate, bytes. */
    const char *only = argc > 2 ? argv[2] : "";
    if (!*only || strcmp(only, "transitions") == 0) {
        bench_transitions(secs);
    }
    if (!*only || strcmp(only, "validate") == 0) {
        bench_validate(secs);
    }
    if (!*only || strcmp(only, "bytes") == 0) {
        bench_session_bytes();
    }
    return 0;
}
