/* SPDX-License-Identifier: MIT */
/*
 * dashboards/dash_wall: what a tenant's wall shows besides its campaigns --
 * its traffic per trunk, the Asterisk servers' health, its IVR flows, and the
 * platform's compliance facts -- computed from the nodes' snapshots. Pure
 * functions of their arguments (unit tested, fuzzed through the snapshot
 * parser).
 *
 * Decisions (docs/dashboards.md section 3):
 *   - A trunk's answer and error rates are over the last minute (the
 *     increments since the oldest reading of the one-minute window), so a
 *     burst of failures turns the trunk red within a tick, and a trunk that
 *     recovered turns back within a minute.
 *   - A trunk is in alarm when at least DASH_TRUNK_ERR_MIN calls ended in
 *     that minute and DASH_TRUNK_ERR_RATE of them failed, or when an Asterisk
 *     server is down or degraded: the ARI pool spreads every trunk's calls
 *     over all servers, so a server in trouble is every trunk's trouble.
 *   - Server health is platform-wide and shown to every tenant (name and
 *     state only); a tenant's trunk figures are its own calls only.
 *   - An IVR execution "drops off" at the node it ended in when the caller
 *     hung up there (outcome end:hangup); the wall lists the top three.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboards/dash_int.h"

static double ratio(int64_t a, int64_t b)
{
    return b > 0 ? (double)a / (double)b : 0.0;
}

static double round4(double x)
{
    return round(x * 10000.0) / 10000.0;
}

static const char *health_name(int h)
{
    switch (h) {
    case DASH_HEALTH_UP:
        return "up";
    case DASH_HEALTH_DEGRADED:
        return "degraded";
    default:
        return "down";
    }
}

/* The worst server state over the live nodes: -1 when no server is known. */
static int servers_worst(const struct dash_snap *const *snaps, size_t n)
{
    int worst = -1; /* order: up < degraded < down */
    static const int rank[] = {
        [DASH_HEALTH_DOWN] = 3, [DASH_HEALTH_UP] = 1, [DASH_HEALTH_DEGRADED] = 2
    };

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            if (e->kind != DASH_KIND_SERVER || e->state < 0 || e->state > DASH_HEALTH_DEGRADED) {
                continue;
            }
            if (worst < 0 || rank[e->state] > rank[worst]) {
                worst = e->state;
            }
        }
    }
    return worst;
}

json_t *dash__servers_json(const struct dash_snap *const *snaps, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            if (e->kind == DASH_KIND_SERVER) {
                json_array_append_new(arr,
                                      json_pack("{s:s,s:s,s:s}", "node", snaps[i]->node, "server",
                                                e->name, "status", health_name(e->state)));
            }
        }
    }
    return arr;
}

/* ------------------------------------------------------------ trunks */

struct trunk_sum {
    const char *name;
    int nodes;
    int64_t v[DASH_STAT_COUNT_];
    int64_t w[DASH_W_COUNT_];
    double cps1, cps60;
};

static json_t *trunk_json(const struct trunk_sum *t, int worst)
{
    int64_t ended = t->w[DASH_W_ENDED], errors = t->w[DASH_W_ERRORS];
    double err_rate = ratio(errors, ended);
    json_t *reasons = json_array();
    json_t *o;

    if (ended >= DASH_TRUNK_ERR_MIN && err_rate >= DASH_TRUNK_ERR_RATE) {
        json_array_append_new(reasons, json_string("errors"));
    }
    if (worst == DASH_HEALTH_DOWN || worst == DASH_HEALTH_DEGRADED) {
        json_array_append_new(
            reasons, json_string(worst == DASH_HEALTH_DOWN ? "server_down" : "server_degraded"));
    }
    o = json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:s,s:s}",
                  "trunk", t->name, "nodes", t->nodes, "attempts", (json_int_t)t->v[DASH_ATTEMPTS],
                  "answered", (json_int_t)t->v[DASH_ANSWERED], "errors",
                  (json_int_t)t->v[DASH_ERRORS], "ended", (json_int_t)t->v[DASH_ENDED], "channels",
                  (json_int_t)t->v[DASH_CHANNELS], "capacity", (json_int_t)t->v[DASH_CAPACITY],
                  "cps_1s", floor(t->cps1 * 100) / 100, "cps_1m", floor(t->cps60 * 100) / 100,
                  "attempts_1m", (json_int_t)t->w[DASH_W_ATTEMPTS], "answered_1m",
                  (json_int_t)t->w[DASH_W_ANSWERED], "errors_1m", (json_int_t)errors, "ended_1m",
                  (json_int_t)ended, "asr_1m", round4(ratio(t->w[DASH_W_ANSWERED], ended)),
                  "error_rate_1m", round4(err_rate), "utilisation",
                  round4(ratio(t->v[DASH_CHANNELS], t->v[DASH_CAPACITY])), "servers",
                  worst < 0 ? "none" : health_name(worst), "state",
                  json_array_size(reasons) > 0 ? "alarm" : "ok");
    if (o != NULL) {
        json_object_set_new(o, "reasons", reasons);
    } else {
        json_decref(reasons);
    }
    return o;
}

json_t *dash__trunks_json(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id)
{
    json_t *arr = json_array();
    struct trunk_sum *t = NULL;
    size_t nt = 0, cap = 0;
    int worst = servers_worst(snaps, n);

    for (size_t i = 0; arr != NULL && i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            size_t k = 0;
            if (e->kind != DASH_KIND_TRUNK || e->tenant_id != tenant_id) {
                continue;
            }
            while (k < nt && strcmp(t[k].name, e->name) != 0) {
                k++;
            }
            if (k == nt) {
                if (nt == cap) {
                    size_t nc = cap > 0 ? cap * 2 : 8;
                    struct trunk_sum *p = realloc(t, nc * sizeof(*p));
                    if (p == NULL) {
                        goto out;
                    }
                    t = p;
                    cap = nc;
                }
                memset(&t[nt], 0, sizeof(t[nt]));
                t[nt++].name = e->name;
            }
            t[k].nodes++;
            for (int s = 0; s < DASH_STAT_COUNT_; s++) {
                t[k].v[s] = dash__add_sat(t[k].v[s], e->v[s]);
            }
            for (int s = 0; s < DASH_W_COUNT_; s++) {
                t[k].w[s] = dash__add_sat(t[k].w[s], e->w1m[s]);
            }
            t[k].cps1 += e->cps_1s;
            t[k].cps60 += e->cps_1m;
        }
    }
    for (size_t k = 0; arr != NULL && k < nt; k++) {
        json_array_append_new(arr, trunk_json(&t[k], worst));
    }
out:
    free(t);
    return arr;
}

/* ------------------------------------------------------------ flows */

static json_t *flow_get(json_t *flows, int64_t id)
{
    char key[24];
    json_t *f;

    snprintf(key, sizeof(key), "%lld", (long long)id);
    f = json_object_get(flows, key);
    if (f == NULL) {
        f = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:{},s:{}}", "flow_id", (json_int_t)id,
                      "executions", (json_int_t)0, "hangups", (json_int_t)0, "noinput",
                      (json_int_t)0, "nomatch", (json_int_t)0, "errors", (json_int_t)0, "ended",
                      "nodes");
        json_object_set_new(flows, key, f);
    }
    return f;
}

static void add_to(json_t *o, const char *key, int64_t v)
{
    json_t *x = json_object_get(o, key);
    json_object_set_new(o, key, json_integer(dash__add_sat(json_integer_value(x), v)));
}

/* Which of the flow's summary figures an outcome feeds (NULL: none). */
static const char *summary_of(const char *outcome)
{
    if (strcmp(outcome, "noinput") == 0) {
        return "noinput";
    }
    if (strcmp(outcome, "nomatch") == 0) {
        return "nomatch";
    }
    if (strcmp(outcome, "error") == 0 || strcmp(outcome, "timeout") == 0 ||
        strcmp(outcome, "failed") == 0) {
        return "errors";
    }
    return NULL;
}

/* Top three nodes by drop_offs, most first (ties by name). */
static json_t *top_drop_offs(json_t *nodes)
{
    json_t *top = json_array();
    const char *picked[3] = { NULL, NULL, NULL };

    for (int r = 0; r < 3; r++) {
        const char *best = NULL;
        int64_t bestv = 0;
        const char *k;
        json_t *v;
        json_object_foreach (nodes, k, v) {
            int64_t d = json_integer_value(json_object_get(v, "drop_offs"));
            bool taken = false;
            for (int p = 0; p < r; p++) {
                taken = taken || strcmp(picked[p], k) == 0;
            }
            if (!taken && d > 0 && (d > bestv || (d == bestv && strcmp(k, best) < 0))) {
                best = k;
                bestv = d;
            }
        }
        if (best == NULL) {
            break;
        }
        picked[r] = best;
        json_array_append_new(top,
                              json_pack("{s:s,s:I}", "node", best, "count", (json_int_t)bestv));
    }
    return top;
}

json_t *dash__flows_json(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id)
{
    json_t *flows = json_object(); /* "id" -> flow object with nodes as an object */
    json_t *arr = json_array();
    const char *k;
    json_t *f;

    for (size_t i = 0; flows != NULL && i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            const size_t pl = sizeof(DASH_IVR_END_PREFIX) - 1;
            int64_t hits;
            json_t *nodes, *node;
            if (e->kind != DASH_KIND_IVR || e->tenant_id != tenant_id) {
                continue;
            }
            hits = e->v[DASH_HITS];
            f = flow_get(flows, e->id);
            nodes = json_object_get(f, "nodes");
            node = json_object_get(nodes, e->name);
            if (node == NULL) {
                node = json_pack("{s:s,s:I,s:I,s:{}}", "node", e->name, "hits", (json_int_t)0,
                                 "drop_offs", (json_int_t)0, "outcomes");
                json_object_set_new(nodes, e->name, node);
            }
            if (e->outcome[0] == '\0') {
                add_to(node, "hits", hits);
            } else if (strncmp(e->outcome, DASH_IVR_END_PREFIX, pl) == 0) {
                const char *reason = e->outcome + pl;
                add_to(f, "executions", hits);
                add_to(json_object_get(f, "ended"), reason, hits);
                if (strcmp(reason, "hangup") == 0) {
                    add_to(f, "hangups", hits);
                    add_to(node, "drop_offs", hits);
                }
            } else {
                const char *sum = summary_of(e->outcome);
                add_to(json_object_get(node, "outcomes"), e->outcome, hits);
                if (sum != NULL) {
                    add_to(f, sum, hits);
                }
            }
        }
    }
    json_object_foreach (flows, k, f) {
        json_t *nodes = json_object_get(f, "nodes");
        json_t *list = json_array();
        const char *nk;
        json_t *nv;
        json_object_set_new(f, "top_drop_offs", top_drop_offs(nodes));
        json_object_foreach (nodes, nk, nv) {
            json_array_append(list, nv);
        }
        json_object_set_new(f, "nodes", list);
        json_array_append(arr, f);
    }
    json_decref(flows);
    return arr;
}

/* ------------------------------------------------------------ compliance */

json_t *dash__compliance_json(const struct dash_platform *p)
{
    static const char *const names[] = { "fresh", "warning", "stale", "missing", "disabled" };
    int st = p != NULL && (unsigned)p->dnc_state <= DASH_DNC_DISABLED ? (int)p->dnc_state
                                                                      : DASH_DNC_DISABLED;
    json_t *dnc =
        json_pack("{s:s,s:s}", "state", names[st], "country", p != NULL ? p->dnc_country : "");

    if (dnc != NULL && p != NULL && p->dnc_age_s >= 0 && st != DASH_DNC_DISABLED &&
        st != DASH_DNC_MISSING) {
        json_object_set_new(dnc, "age_days", json_integer(p->dnc_age_s / 86400));
    }
    if (dnc != NULL && p != NULL && p->dnc_stale_at_s > 0) {
        json_object_set_new(dnc, "stale_at_s", json_integer(p->dnc_stale_at_s));
    }
    return json_pack("{s:o}", "dnc_national", dnc);
}
