/* SPDX-License-Identifier: MIT */
/*
 * control: the /_sim endpoints (outside /ari, no authentication).
 *
 *   GET  /_sim/health                      {"status":"ok"}
 *   GET  /_sim/stats                       counters and gauges
 *   POST /_sim/fault?action=...            drop_ws | refuse | delay | fail |
 *                                          restart | disk_full | clear
 *                                          (seconds, ms, status, mode)
 *   POST /_sim/scenario                    body: a scenario; or ?path=file
 *   POST /_sim/inbound?extension=&app=&caller=&context=&population=
 *   POST /_sim/channels/{id}/dtmf?digits=  the far end sends digits
 *   POST /_sim/channels/{id}/hangup?cause= the far end hangs up
 *   POST /_sim/channels/{id}/answer        the far end answers now
 *   POST /_sim/shutdown                    stops the simulator
 *
 * Parameters may come in the query string, a form body or a JSON body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/sim_int.h"

/* Floating-point prefix of s (0 when none). */
static inline double strtod_nul(const char *s)
{
    return strtod(s, NULL);
}

static void ok_json(struct sim_req *r)
{
    r->status = 200;
    r->reason = "OK";
    sim__buf_reset(&r->body_out);
}

static int count_sockets(const struct sim *s)
{
    int n = 0;
    for (const struct sim_ws *w = s->sockets; w != NULL; w = w->next) {
        n++;
    }
    return n;
}

void sim__stats_json(struct sim *s, struct sim_buf *b)
{
    const struct sim_counters *c = &s->stats;
    int first = 1;

    sim__buf_printf(b,
                    "{\"originates\":%llu,\"originate_rejected\":%llu,\"inbound\":%llu,"
                    "\"answered\":%llu,\"hangups\":%llu,\"outcomes\":{",
                    (unsigned long long)c->originates, (unsigned long long)c->originate_rejected,
                    (unsigned long long)c->inbound, (unsigned long long)c->answered,
                    (unsigned long long)c->hangups);
    for (int o = 0; o < OUT_COUNT_; o++) {
        sim__buf_printf(b, "%s\"%s\":%llu", first ? "" : ",",
                        sim__outcome_name((enum sim_outcome)o), (unsigned long long)c->outcome[o]);
        first = 0;
    }
    sim__buf_printf(b,
                    "},\"events\":%llu,\"event_bytes\":%llu,\"http_requests\":%llu,"
                    "\"http_4xx\":%llu,\"http_5xx_injected\":%llu,\"ws_connects\":%llu,"
                    "\"ws_refused\":%llu,\"conn_refused\":%llu,\"playbacks\":%llu,"
                    "\"recordings\":%llu,\"bridges_created\":%llu,\"timers_fired\":%llu,"
                    "\"channels_active\":%zu,\"bridges_active\":%zu,\"playbacks_active\":%zu,"
                    "\"sockets\":%d,\"timers_pending\":%u,\"scenario\":",
                    (unsigned long long)c->events, (unsigned long long)c->event_bytes,
                    (unsigned long long)c->http_requests, (unsigned long long)c->http_4xx,
                    (unsigned long long)c->http_5xx_injected, (unsigned long long)c->ws_connects,
                    (unsigned long long)c->ws_refused, (unsigned long long)c->conn_refused,
                    (unsigned long long)c->playbacks, (unsigned long long)c->recordings,
                    (unsigned long long)c->bridges, (unsigned long long)c->timers_fired, s->nchans,
                    s->bridges.n, s->playbacks.n, count_sockets(s), s->timers.n);
    sim__buf_jstr(b, s->scenario->name);
    sim__buf_printf(b, ",\"seed\":%lld,\"time_scale\":%g}", (long long)s->seed, s->time_scale);
}

static double num_param(struct sim_req *r, const char *name, double def)
{
    const char *v = sim__req_param(r, name);
    return v != NULL ? strtod_nul(v) : def;
}

void sim_fault_drop_websockets(struct sim *s)
{
    LOG_NOTICE(SIM, "event=fault action=drop_ws");
    sim__ws_drop_all(s);
}

void sim_fault_restart(struct sim *s, int64_t down_ms)
{
    LOG_NOTICE(SIM, "event=fault action=restart down_ms=%lld", (long long)down_ms);
    sim__ws_drop_all(s);
    sim__forget_all(s);
    /* A restarted Asterisk has a new start-up time and counts ids from 0. */
    s->epoch = clock_wall_us() / 1000000;
    s->uniq_seq = 0;
    s->startup_wall_us = s->reload_wall_us = clock_wall_us();
    if (down_ms > 0) {
        s->refuse_until_us = clock_mono_us() + down_ms * 1000;
    }
}

enum sim_disk sim__disk(const struct sim *s)
{
    return s->disk_fault >= 0 ? (enum sim_disk)s->disk_fault : s->scenario->disk_full;
}

static int fault(struct sim *s, struct sim_req *r)
{
    const char *action = sim__req_param(r, "action");
    double secs = num_param(r, "seconds", 5);
    int64_t now = clock_mono_us();

    if (action == NULL) {
        sim__req_error(r, 400, "Bad Request", "action is required");
        return 0;
    }
    if (strcmp(action, "drop_ws") == 0 || strcmp(action, "drop-websockets") == 0) {
        sim_fault_drop_websockets(s);
    } else if (strcmp(action, "refuse") == 0) {
        s->refuse_until_us = now + (int64_t)(secs * 1e6);
    } else if (strcmp(action, "delay") == 0) {
        s->delay_ms = (int64_t)num_param(r, "ms", 0);
    } else if (strcmp(action, "fail") == 0) {
        s->fail_until_us = now + (int64_t)(secs * 1e6);
        s->fail_status = (int)num_param(r, "status", 503);
        if (s->fail_status < 500 || s->fail_status > 599) {
            s->fail_status = 503;
        }
    } else if (strcmp(action, "restart") == 0) {
        sim_fault_restart(s, (int64_t)(num_param(r, "seconds", 0) * 1000));
    } else if (strcmp(action, "disk_full") == 0) {
        const char *m = sim__req_param(r, "mode");
        if (m == NULL || strcmp(m, "write") == 0) {
            s->disk_fault = SIM_DISK_FULL_WRITE;
        } else if (strcmp(m, "mkdir") == 0) {
            s->disk_fault = SIM_DISK_FULL_MKDIR;
        } else if (strcmp(m, "off") == 0) {
            s->disk_fault = SIM_DISK_OK;
        } else {
            sim__req_error(r, 400, "Bad Request", "mode: write, mkdir or off");
            return 0;
        }
    } else if (strcmp(action, "clear") == 0) {
        s->refuse_until_us = s->fail_until_us = 0;
        s->delay_ms = 0;
        s->disk_fault = -1;
    } else {
        sim__req_error(r, 400, "Bad Request", "unknown action %s", action);
        return 0;
    }
    LOG_NOTICE(SIM, "event=fault action=%s", action);
    ok_json(r);
    sim__buf_printf(&r->body_out, "{\"action\":");
    sim__buf_jstr(&r->body_out, action);
    sim__buf_putc(&r->body_out, '}');
    return 0;
}

static void scenario(struct sim *s, struct sim_req *r)
{
    char err[300];
    struct sim_scenario *sc;
    const char *path = sim__req_param(r, "path");

    if (path != NULL) {
        sc = sim__scenario_load_file(path, err, sizeof(err));
    } else if (r->body != NULL) {
        sc = sim__scenario_load_json(r->body, err, sizeof(err));
    } else {
        snprintf(err, sizeof(err), "send the scenario as a JSON body or ?path=");
        sc = NULL;
    }
    if (sc == NULL) {
        sim__req_error(r, 400, "Bad Request", "%s", err);
        return;
    }
    sim__gens_stop(s);
    sim__scenario_unref(s->scenario);
    s->scenario = sc;
    if (!s->seed_from_cli && sc->seed >= 0) {
        s->seed = sc->seed;
    }
    sim__gens_start(s);
    LOG_NOTICE(SIM, "event=scenario_swapped name=%s", sc->name);
    ok_json(r);
    SIM_LIT(&r->body_out, "{\"name\":");
    sim__buf_jstr(&r->body_out, sc->name);
    sim__buf_putc(&r->body_out, '}');
}

static void inbound(struct sim *s, struct sim_req *r)
{
    struct sim_inbound g;
    const char *pop = sim__req_param(r, "population");
    const struct sim_spec *sp = NULL;
    struct sim_rng rng;
    struct sim_chan *c;
    static uint64_t n;

    memset(&g, 0, sizeof(g));
    g.extension = (char *)(sim__req_param(r, "extension") ?: "2001");
    g.app = (char *)(sim__req_param(r, "app") ?: "ivr");
    g.context = (char *)(sim__req_param(r, "context") ?: "inbound");
    g.endpoint = (char *)(sim__req_param(r, "endpoint") ?: "trunk");
    g.caller_name = (char *)(sim__req_param(r, "caller_name") ?: "");
    sim__rng_seed(&rng, (uint64_t)s->seed ^ sim__mix64(++n));
    if (pop != NULL) {
        for (int i = 0; i < s->scenario->npops; i++) {
            if (strcmp(s->scenario->pops[i].name, pop) == 0) {
                sp = sim__scenario_pick_pop(s->scenario, i, &rng);
            }
        }
        if (sp == NULL) {
            sim__req_error(r, 400, "Bad Request", "unknown population %s", pop);
            return;
        }
    }
    c = sim__inbound_call(s, &g, sp, sim__req_param(r, "caller") ?: "5551234", &rng);
    ok_json(r);
    sim__chan_json(s, &r->body_out, c);
}

struct far_dtmf {
    struct sim_timer t;
    struct far_dtmf *next, **prevp; /* pending list on the simulator */
    struct sim *s;
    char chan[160];
    char digits[64];
    int i;
};

static void far_dtmf_free(struct far_dtmf *fd)
{
    sim__timer_stop(fd->s, &fd->t);
    *fd->prevp = fd->next;
    if (fd->next != NULL) {
        fd->next->prevp = fd->prevp;
    }
    free(fd);
}

static void far_dtmf_cb(struct sim *s, struct sim_timer *t)
{
    struct far_dtmf *fd = SIM_CONTAINER_OF(t, struct far_dtmf, t);
    struct sim_chan *c = sim__chan_find(s, fd->chan);

    if (c == NULL || c->hanging || fd->digits[fd->i] == '\0') {
        far_dtmf_free(fd);
        return;
    }
    sim__dtmf_in(c, fd->digits[fd->i++], 100);
    if (fd->digits[fd->i] == '\0') {
        far_dtmf_free(fd);
        return;
    }
    sim__timer_after(s, &fd->t, 350000);
}

void sim__control_fini(struct sim *s)
{
    while (s->far_dtmfs != NULL) {
        far_dtmf_free(s->far_dtmfs);
    }
}

static void chan_action(struct sim *s, struct sim_req *r, const char *rest)
{
    char id[200];
    const char *slash = strrchr(rest, '/');
    struct sim_chan *c;

    if (slash == NULL) {
        sim__req_error(r, 404, "Not Found", "Resource not found");
        return;
    }
    snprintf(id, sizeof(id), "%.*s", (int)(slash - rest), rest);
    c = sim__chan_find(s, id);
    if (c == NULL || c->hanging) {
        sim__req_error(r, 404, "Not Found", "Channel not found");
        return;
    }
    if (strcmp(slash, "/dtmf") == 0) {
        const char *d = sim__req_param(r, "digits");
        struct far_dtmf *fd;
        if (d == NULL || d[0] == '\0') {
            sim__req_error(r, 400, "Bad Request", "digits is required");
            return;
        }
        fd = calloc(1, sizeof(*fd));
        if (fd == NULL) {
            abort();
        }
        fd->s = s;
        fd->next = s->far_dtmfs;
        if (fd->next != NULL) {
            fd->next->prevp = &fd->next;
        }
        fd->prevp = &s->far_dtmfs;
        s->far_dtmfs = fd;
        snprintf(fd->chan, sizeof(fd->chan), "%s", c->id);
        snprintf(fd->digits, sizeof(fd->digits), "%s", d);
        sim__timer_init(&fd->t, far_dtmf_cb);
        sim__timer_after(s, &fd->t, 100000);
    } else if (strcmp(slash, "/hangup") == 0) {
        sim__far_hangup(c, (int)num_param(r, "cause", 16));
    } else if (strcmp(slash, "/answer") == 0) {
        sim__far_answer(c);
    } else {
        sim__req_error(r, 404, "Not Found", "Resource not found");
        return;
    }
    r->status = 204;
    r->reason = "No Content";
    sim__buf_reset(&r->body_out);
}

int sim__control(struct sim *s, int method, const char *path, struct sim_req *r)
{
    if (method == SIM_M_GET && strcmp(path, "/health") == 0) {
        ok_json(r);
        SIM_LIT(&r->body_out, "{\"status\":\"ok\"}");
    } else if (method == SIM_M_GET && strcmp(path, "/stats") == 0) {
        ok_json(r);
        sim__stats_json(s, &r->body_out);
    } else if (method == SIM_M_POST && strcmp(path, "/fault") == 0) {
        fault(s, r);
    } else if (method == SIM_M_POST && strcmp(path, "/scenario") == 0) {
        scenario(s, r);
    } else if (method == SIM_M_POST && strcmp(path, "/inbound") == 0) {
        inbound(s, r);
    } else if (method == SIM_M_POST && strncmp(path, "/channels/", 10) == 0) {
        chan_action(s, r, path + 10);
    } else if (method == SIM_M_POST && strcmp(path, "/shutdown") == 0) {
        sim_request_stop(s);
        ok_json(r);
        SIM_LIT(&r->body_out, "{\"status\":\"stopping\"}");
    } else {
        sim__req_error(r, 404, "Not Found", "Resource not found");
    }
    return 0;
}
