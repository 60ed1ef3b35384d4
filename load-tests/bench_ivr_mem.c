/* SPDX-License-Identifier: MIT */
/*
 * bench_ivr_mem: heap bytes per live IVR session (issue 9: at most 8 KB of
 * dialerd memory per in-flight call; the IVR session is the largest part).
 *
 *   ivr_live_session_bytes       a realistic outbound flow (greeting with
 *                                contact and call variables, a menu, a
 *                                branch, two assignments) parked in a wait
 *                                node, with the variables the dialer gives a
 *                                call (call.* as server/dialer_wire.c builds
 *                                it, 8 contact fields, the tenant's shared
 *                                secrets) and a step sink; target <= 4096
 *   ivr_live_session_vars_bytes  the same minus the session structure
 *                                (ivr_session_size): the variables, the open
 *                                step's records and malloc's overhead
 *   ivr_hold_session_bytes       the load scenario's flow (start, then a
 *                                wait) with the same variables: what
 *                                load-tests/scenarios/concurrent.sh holds
 *
 * Measured with mallinfo2 (bytes in use, malloc's own headers included) over
 * N sessions alive at once: the heap after they all reached the wait node
 * minus the heap before the first one, divided by N. The variables given to
 * ivr_session_create are built and released per session, as the dialer does.
 * Heap figures do not depend on the machine's load or the build's
 * optimisation (the sanitizers' allocator aside).
 *
 * Usage: bench_ivr_mem [quick|full|N]   (quick: 2,000 sessions; full: 20,000)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ivr/ivr.h"

struct ctx {
    uint64_t op; /* the last media operation the session started */
};

static int op_play(void *c, uint64_t op, const char *const *m, size_t n, const char *l)
{
    (void)m;
    (void)n;
    (void)l;
    ((struct ctx *)c)->op = op;
    return 0;
}

static int op_say(void *c, uint64_t op, const char *t, const char *l, const char *v)
{
    (void)t;
    (void)l;
    (void)v;
    ((struct ctx *)c)->op = op;
    return 0;
}

static int op_hangup(void *c, int cause)
{
    (void)c;
    (void)cause;
    return 0;
}

static const struct ivr_channel_ops ops = { .play = op_play, .say = op_say, .hangup = op_hangup };

static unsigned steps_seen;

static void on_step(void *arg, const struct ivr_step *st)
{
    (void)arg;
    (void)st;
    steps_seen++;
}

static struct ivr_flow *load(const char *text)
{
    struct ivr_flow *f = NULL;
    struct ivr_report *r = NULL;
    if (ivr_flow_load(text, strlen(text), NULL, &f, &r) != 0) {
        for (size_t i = 0; i < ivr_report_count(r); i++) {
            fprintf(stderr, "%s %s\n", ivr_report_get(r, i)->path, ivr_report_get(r, i)->message);
        }
        exit(1);
    }
    ivr_report_free(r);
    return f;
}

static const char *const realistic =
    "{\"format\":\"ivrflow/1\",\"name\":\"renewal\",\"start\":\"s\",\"nodes\":{"
    "\"s\":{\"type\":\"start\",\"props\":{\"triggers\":[\"outbound_answered\"]},"
    "\"next\":{\"next\":\"hi\"}},"
    "\"hi\":{\"type\":\"say\",\"props\":{\"text\":\"Hello {{contact.first_name}}, this is "
    "{{call.campaign_name}}.\"},\"next\":{\"done\":\"menu\"}},"
    "\"menu\":{\"type\":\"collect\",\"props\":{\"prompt\":[{\"say\":\"Press 1 to renew for "
    "{{contact.balance}} dollars, 2 for an agent.\"}],\"choices\":[\"1\",\"2\"],"
    "\"max_noinput\":1},\"next\":{\"choice:1\":\"b\",\"choice:2\":\"b\",\"noinput\":\"end\","
    "\"nomatch\":\"end\"}},"
    "\"b\":{\"type\":\"branch\",\"props\":{\"routes\":[{\"id\":\"renew\",\"when\":{\"left\":"
    "\"{{nodes.menu.digits}}\",\"op\":\"eq\",\"right\":\"1\"}}]},"
    "\"next\":{\"route:renew\":\"v\",\"default\":\"end\"}},"
    "\"v\":{\"type\":\"set_variable\",\"props\":{\"assign\":["
    "{\"name\":\"choice\",\"value\":\"{{nodes.menu.digits}}\"},"
    "{\"name\":\"disposition\",\"value\":\"interested\"}]},\"next\":{\"next\":\"w\"}},"
    "\"w\":{\"type\":\"wait\",\"props\":{\"duration_ms\":60000},\"next\":{\"next\":\"end\"}},"
    "\"end\":{\"type\":\"hangup\",\"props\":{\"disposition\":\"done\"}}}}";

static const char *const hold =
    "{\"format\":\"ivrflow/1\",\"name\":\"hold\",\"start\":\"s\",\"nodes\":{"
    "\"s\":{\"type\":\"start\",\"props\":{\"triggers\":[\"outbound_answered\"]},"
    "\"next\":{\"next\":\"w1\"}},"
    "\"w1\":{\"type\":\"wait\",\"props\":{\"duration_ms\":60000},\"next\":{\"next\":\"w2\"}},"
    "\"w2\":{\"type\":\"wait\",\"props\":{\"duration_ms\":60000},\"next\":{\"next\":\"end\"}},"
    "\"end\":{\"type\":\"hangup\"}}}";

/* The variables the dialer gives call i (call.* as server/dialer_wire.c builds them). */
static json_t *call_vars(unsigned i, json_t *secrets)
{
    char id[40], num[16];
    snprintf(id, sizeof(id), "6f1c2b9e-4d1a-4c1e-9a55-%012u", i);
    snprintf(num, sizeof(num), "+1212555%04u", i % 10000);
    json_t *v = json_pack(
        "{s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:i},"
        " s:{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}}",
        "call", "id", id, "channel", id, "direction", "outbound", "number", num, "caller_id",
        "+12125550100", "campaign_id", (json_int_t)42, "campaign_name", "Spring renewals",
        "tenant_id", (json_int_t)7, "attempt", 1, "contact", "first_name", "Maria", "last_name",
        "Gonzalez", "email", "maria.gonzalez@example.com", "account", "AC-0042-7781", "balance",
        (json_int_t)129, "due_date", "2026-12-15", "zip", "10027", "language", "en-US");
    if (v != NULL) {
        json_object_set(v, "secrets", secrets);
    }
    return v;
}

/* Creates n sessions of flow, drives them to their wait node; returns heap bytes per session. */
static double measure(struct ivr_flow *f, unsigned n, bool menu, double *struct_bytes)
{
    struct ivr_session **ss = calloc(n, sizeof(*ss));
    struct ctx *cx = calloc(n, sizeof(*cx));
    json_t *secrets =
        json_pack("{s:s, s:s}", "crm_token", "s3cr3t-t0k3n-0123456789abcdef", "crm_user", "dialer");
    if (ss == NULL || cx == NULL || secrets == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    struct ivr_session_config cfg = { .ops = &ops, .on_step = on_step };
    size_t sbytes = 0;
    struct mallinfo2 m0 = mallinfo2();
    for (unsigned i = 0; i < n; i++) {
        json_t *vars = call_vars(i, secrets);
        cfg.ops_ctx = &cx[i];
        ss[i] = ivr_session_create(f, &cfg, vars);
        json_decref(vars);
        if (ss[i] == NULL) {
            fprintf(stderr, "session %u: out of memory\n", i);
            exit(1);
        }
        ivr_session_start(ss[i], "outbound_answered", "human");
        if (menu) {
            struct ivr_event ev = { .type = IVR_EV_PLAYBACK_DONE, .op = cx[i].op };
            ivr_session_event(ss[i], &ev); /* greeting done: the menu's prompt plays */
            ev.op = cx[i].op;
            ivr_session_event(ss[i], &ev); /* prompt done: listening */
            struct ivr_event d = { .type = IVR_EV_DTMF, .digit = '1' };
            ivr_session_event(ss[i], &d);
        }
        const char *node = ivr_session_node(ss[i]);
        if (node == NULL || (strcmp(node, "w") != 0 && strcmp(node, "w1") != 0)) {
            fprintf(stderr, "session %u is at %s, not in its wait node\n", i, node ? node : "-");
            exit(1);
        }
        sbytes += ivr_session_size(ss[i]);
    }
    struct mallinfo2 m1 = mallinfo2();
    for (unsigned i = 0; i < n; i++) {
        ivr_session_destroy(ss[i]);
    }
    json_decref(secrets);
    free(ss);
    free(cx);
    *struct_bytes = (double)sbytes / n;
    return ((double)m1.uordblks - (double)m0.uordblks) / n;
}

int main(int argc, char **argv)
{
    unsigned n = 2000;
    if (argc > 1) {
        n = strcmp(argv[1], "quick") == 0  ? 2000
            : strcmp(argv[1], "full") == 0 ? 20000
                                           : (unsigned)strtoul(argv[1], NULL, 10);
    }
    if (n == 0 || n > 1000000) {
        fprintf(stderr, "usage: bench_ivr_mem [quick|full|N]\n");
        return 2;
    }
    struct ivr_flow *fr = load(realistic);
    struct ivr_flow *fh = load(hold);
    double sb;
    double b = measure(fr, n, true, &sb);
    printf("BENCH name=ivr_live_session_bytes value=%.0f unit=bytes target=4096 ok=%s\n", b,
           b <= 4096 ? "yes" : "no");
    printf("BENCH name=ivr_live_session_vars_bytes value=%.0f unit=bytes target=- ok=yes\n",
           b - sb);
    double h = measure(fh, n, false, &sb);
    printf("BENCH name=ivr_hold_session_bytes value=%.0f unit=bytes target=- ok=yes\n", h);
    printf("# %u sessions per flow, %u steps recorded; session structure %.0f bytes\n", n,
           steps_seen, sb);
    ivr_flow_unref(fr);
    ivr_flow_unref(fh);
    return 0;
}
