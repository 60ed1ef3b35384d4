/* SPDX-License-Identifier: MIT */
/*
 * graph: the validator's graph rules on compiled edges (CSR adjacency, in
 * O(nodes + edges)): reachability from the start and the handlers (rule 8),
 * every step can reach an end (rule 9, reverse BFS from the ends), cycles
 * need input or a bound (rule 10, iterative Tarjan SCC), the hang-up
 * handler is data-only and acyclic (rule 11), outbound flows greet before a
 * request (rule 20).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ivr/ivr_int.h"
#include "ivr/validate_int.h"

/* ---------------------------------------------------------------------- */
/* Graph rules (8, 9, 10, 11, 20)                                          */
/* ---------------------------------------------------------------------- */

static bool is_input_node(const struct ivr__node *n)
{
    return n->type == IVR_N_COLLECT || n->type == IVR_N_VOICEMAIL;
}

static bool is_media_node(const struct ivr__node *n)
{
    return n->type == IVR_N_PLAY || n->type == IVR_N_SAY || n->type == IVR_N_COLLECT ||
           n->type == IVR_N_TRANSFER || n->type == IVR_N_VOICEMAIL || n->type == IVR_N_WAIT ||
           n->type == IVR_N_SUBFLOW;
}

/* Every event the node may emit at run time. */
static size_t possible_events(const struct ivr__node *n, const char **out, size_t max)
{
    size_t k = 0;
    for (const char *const *e = ivr__v_events(n->type); *e && k < max; e++) {
        if (n->type == IVR_N_COLLECT && strcmp(*e, "input") == 0 && n->u.collect.nchoices) {
            continue;
        }
        if (n->type == IVR_N_TRANSFER && n->u.transfer.mode == IVR_TRANSFER_BLIND &&
            strcmp(*e, "failed") != 0 && strcmp(*e, "transferred") != 0) {
            continue;
        }
        if (n->type == IVR_N_START && strcmp(*e, "next") != 0 && ivr__edge_find(n, *e) < 0) {
            continue;
        }
        out[k++] = *e;
    }
    if (n->type == IVR_N_COLLECT) {
        for (size_t i = 0; i < n->u.collect.nchoices && k < max; i++) {
            out[k++] = n->u.collect.choices[i].event;
        }
    }
    if (n->type == IVR_N_BRANCH) {
        for (size_t i = 0; i < n->u.branch.nroutes && k < max; i++) {
            out[k++] = n->u.branch.routes[i].event;
        }
    }
    return k;
}

struct graph {
    int *adj_start; /* CSR: successors of i are adj[adj_start[i] .. adj_start[i+1]) */
    int *adj;
    int *radj_start;
    int *radj;
};

static int graph_build(const struct ivr_flow *f, struct graph *g)
{
    size_t n = f->nnodes, m = 0;
    for (size_t i = 0; i < n; i++) {
        m += f->nodes[i].nedges;
    }
    g->adj_start = calloc(n + 1, sizeof(int));
    g->adj = calloc(m + 1, sizeof(int));
    g->radj_start = calloc(n + 2, sizeof(int));
    g->radj = calloc(m + 1, sizeof(int));
    if (!g->adj_start || !g->adj || !g->radj_start || !g->radj) {
        return ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        g->adj_start[i] = (int)k;
        for (size_t e = 0; e < f->nodes[i].nedges; e++) {
            int t = f->nodes[i].edges[e].target;
            g->adj[k++] = t;
            g->radj_start[t + 2]++;
        }
    }
    g->adj_start[n] = (int)k;
    for (size_t i = 2; i < n + 2; i++) {
        g->radj_start[i] += g->radj_start[i - 1];
    }
    for (size_t i = 0; i < n; i++) {
        for (int e = g->adj_start[i]; e < g->adj_start[i + 1]; e++) {
            g->radj[g->radj_start[g->adj[e] + 1]++] = (int)i;
        }
    }
    return 0;
}

static void graph_free(struct graph *g)
{
    free(g->adj_start);
    free(g->adj);
    free(g->radj_start);
    free(g->radj);
}

/* Iterative Tarjan: comp[i] = component id; returns the number of components. */
static int tarjan(const struct ivr_flow *f, const struct graph *g, int *comp)
{
    int n = (int)f->nnodes, idx = 0, ncomp = 0, sp = 0, cs = 0;
    int *index = malloc(sizeof(int) * (size_t)n), *low = malloc(sizeof(int) * (size_t)n);
    int *stack = malloc(sizeof(int) * (size_t)n), *call = malloc(sizeof(int) * (size_t)n);
    int *edge = malloc(sizeof(int) * (size_t)n);
    bool *on = calloc((size_t)n + 1, sizeof(bool));
    if (!index || !low || !stack || !call || !edge || !on) {
        ncomp = -1;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        index[i] = -1;
    }
    for (int r = 0; r < n; r++) {
        if (index[r] >= 0) {
            continue;
        }
        call[cs] = r;
        edge[cs++] = g->adj_start[r];
        index[r] = low[r] = idx++;
        stack[sp++] = r;
        on[r] = true;
        while (cs > 0) {
            int u = call[cs - 1];
            if (edge[cs - 1] < g->adj_start[u + 1]) {
                int w = g->adj[edge[cs - 1]++];
                if (index[w] < 0) {
                    index[w] = low[w] = idx++;
                    stack[sp++] = w;
                    on[w] = true;
                    call[cs] = w;
                    edge[cs++] = g->adj_start[w];
                } else if (on[w] && index[w] < low[u]) {
                    low[u] = index[w];
                }
                continue;
            }
            if (low[u] == index[u]) {
                int w;
                do {
                    w = stack[--sp];
                    on[w] = false;
                    comp[w] = ncomp;
                } while (w != u);
                ncomp++;
            }
            cs--;
            if (cs > 0) {
                int p = call[cs - 1];
                if (low[u] < low[p]) {
                    low[p] = low[u];
                }
            }
        }
    }
out:
    free(index);
    free(low);
    free(stack);
    free(call);
    free(edge);
    free(on);
    return ncomp;
}

static void bfs(const struct ivr_flow *f, const struct graph *g, int from, bool *seen, bool reverse,
                int *queue)
{
    (void)f;
    int qh = 0, qt = 0;
    if (from < 0 || seen[from]) {
        return;
    }
    seen[from] = true;
    queue[qt++] = from;
    while (qh < qt) {
        int u = queue[qh++];
        const int *st = reverse ? g->radj_start : g->adj_start;
        const int *a = reverse ? g->radj : g->adj;
        for (int e = st[u]; e < st[u + 1]; e++) {
            if (!seen[a[e]]) {
                seen[a[e]] = true;
                queue[qt++] = a[e];
            }
        }
    }
}

void ivr__v_graph_rules(struct vstate *v)
{
    struct ivr_flow *f = v->f;
    size_t n = f->nnodes;
    struct graph g = { 0 };
    struct pbuf pb = { "" };
    bool *reach = calloc(n + 1, sizeof(bool));
    bool *ends = calloc(n + 1, sizeof(bool));
    bool *hang = calloc(n + 1, sizeof(bool));
    int *queue = calloc(n + 1, sizeof(int));
    int *comp = calloc(n + 1, sizeof(int));
    if (!reach || !ends || !hang || !queue || !comp || graph_build(f, &g) != 0) {
        v->r->oom = true;
        goto out;
    }
    /* Rule 8: reachable from start or a handler. */
    bfs(f, &g, f->start, reach, false, queue);
    bfs(f, &g, f->on_error, reach, false, queue);
    bfs(f, &g, f->on_hangup, reach, false, queue);
    for (size_t i = 0; i < n; i++) {
        if (!reach[i]) {
            v->node_id = f->nodes[i].id;
            ivr__v_diag(v, v->opt->publish ? IVR_SEV_ERROR : IVR_SEV_WARNING, "unreachable_node",
                        ivr__v_npath(&pb, v, "%s", ""),
                        "No path from the start leads to this step.");
        }
    }
    /* Rule 9: some end is reachable from every node. */
    for (size_t i = 0; i < n; i++) {
        const struct ivr__node *nd = &f->nodes[i];
        const char *evs[80];
        size_t k = possible_events(nd, evs, 80);
        bool end = nd->type == IVR_N_HANGUP || nd->type == IVR_N_RETURN ||
                   (nd->type == IVR_N_TRANSFER && nd->u.transfer.mode == IVR_TRANSFER_BLIND);
        for (size_t e = 0; e < k && !end; e++) {
            end = ivr__edge_find(nd, evs[e]) == IVR_NO_NODE &&
                  !(ivr__v_failure_event(evs[e]) && f->on_error != IVR_NO_NODE);
        }
        if (end && !ends[i]) {
            bfs(f, &g, (int)i, ends, true, queue);
        }
    }
    if (f->on_error != IVR_NO_NODE && ends[f->on_error]) {
        for (size_t i = 0; i < n; i++) {
            ends[i] = true; /* failures can always leave through the handler */
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ends[i] && reach[i]) {
            v->node_id = f->nodes[i].id;
            ivr__v_diag(
                v, IVR_SEV_ERROR, "no_ending", ivr__v_npath(&pb, v, "%s", ""),
                "From this step the call can never end: every path loops back without reaching "
                "a hang-up, transfer or end.");
        }
    }
    /* Rule 10: cycles need input or a bound. */
    int ncomp = tarjan(f, &g, comp);
    if (ncomp < 0) {
        v->r->oom = true;
        goto out;
    }
    int *size = calloc((size_t)ncomp + 1, sizeof(int));
    int *flags = calloc((size_t)ncomp + 1, sizeof(int));
    if (size == NULL || flags == NULL) {
        free(size);
        free(flags);
        v->r->oom = true;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ivr__node *nd = &f->nodes[i];
        size[comp[i]]++;
        for (int e = g.adj_start[i]; e < g.adj_start[i + 1]; e++) {
            if (g.adj[e] == (int)i) {
                size[comp[i]]++; /* a self loop is a cycle */
            }
        }
        flags[comp[i]] |=
            (is_input_node(nd) ? 1 : 0) | ((nd->type == IVR_N_LOOP || nd->max_visits > 0) ? 2 : 0);
    }
    for (size_t i = 0; i < n; i++) {
        int c = comp[i];
        if (size[c] < 2 || flags[c] < 0) {
            continue;
        }
        v->node_id = f->nodes[i].id;
        if ((flags[c] & 3) == 0) {
            ivr__v_diag(
                v, IVR_SEV_ERROR, "cycle_without_input", ivr__v_npath(&pb, v, "%s", ""),
                "This step is in a loop that never waits for the caller and has no loop limit, "
                "so it could spin forever; add a loop step or an input step.");
        } else if ((flags[c] & 2) == 0) {
            ivr__v_diag(
                v, IVR_SEV_WARNING, "unbounded_cycle", ivr__v_npath(&pb, v, "%s", ""),
                "Callers can go round this loop without limit; consider a loop step that gives "
                "up after a few rounds.");
        }
        flags[c] = -1; /* one finding per component */
    }
    /* Rule 11: the hang-up handler runs without a caller. */
    if (f->on_hangup != IVR_NO_NODE) {
        bfs(f, &g, f->on_hangup, hang, false, queue);
        for (size_t i = 0; i < n; i++) {
            if (!hang[i]) {
                continue;
            }
            v->node_id = f->nodes[i].id;
            if (is_media_node(&f->nodes[i])) {
                ivr__v_diag(
                    v, IVR_SEV_ERROR, "hangup_handler_media", ivr__v_npath(&pb, v, "%s", ""),
                    "After the caller hung up only data steps can run (set variable, branch, "
                    "API call); this %s step needs a caller.",
                    ivr__ntype_names[f->nodes[i].type]);
            }
            if (size[comp[i]] >= 2 || flags[comp[i]] == -1) {
                ivr__v_diag(v, IVR_SEV_ERROR, "hangup_handler_cycle",
                            ivr__v_npath(&pb, v, "%s", ""),
                            "The steps after a hang-up must not loop.");
            }
        }
    }
    free(size);
    free(flags);
    /* Rule 20: outbound flows speak before any slow request. */
    const struct ivr__node *st = f->start >= 0 ? &f->nodes[f->start] : NULL;
    if (st != NULL) {
        bool outbound = false, human = ivr__edge_find(st, "human") >= 0,
             machine = ivr__edge_find(st, "machine") >= 0;
        json_t *trig = json_object_get(
            json_object_get(json_object_get(json_object_get(v->doc, "nodes"), st->id), "props"),
            "triggers");
        size_t i;
        json_t *it;
        json_array_foreach (trig, i, it) {
            outbound |=
                json_is_string(it) && strcmp(json_string_value(it), "outbound_answered") == 0;
        }
        v->node_id = st->id;
        if (human != machine) {
            ivr__v_diag(
                v, IVR_SEV_ERROR, "amd_outcomes", ivr__v_npath(&pb, v, ".next"),
                "When answering-machine results are used, map both \"human\" and \"machine\".");
        }
        int cur = ivr__edge_find(st, "next");
        for (int hops = 0; outbound && cur >= 0 && hops < 32; hops++) {
            const struct ivr__node *nd = &f->nodes[cur];
            if (nd->type == IVR_N_PLAY || nd->type == IVR_N_SAY || nd->type == IVR_N_COLLECT) {
                break;
            }
            if (nd->type == IVR_N_API_CALL) {
                v->node_id = nd->id;
                ivr__v_diag(
                    v, IVR_SEV_WARNING, "outbound_silence", ivr__v_npath(&pb, v, "%s", ""),
                    "The called person hears silence while this request runs; greet them first "
                    "(people hang up on silent calls).");
                break;
            }
            cur = nd->nedges > 0 ? nd->edges[0].target : -1;
        }
    }
out:
    v->node_id = NULL;
    graph_free(&g);
    free(reach);
    free(ends);
    free(hang);
    free(queue);
    free(comp);
}
