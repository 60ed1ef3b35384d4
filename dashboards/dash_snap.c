/* SPDX-License-Identifier: MIT */
/*
 * dashboards/dash_snap: snapshots and what is computed from them -- rates,
 * the cluster merge of one campaign, the JSON published between nodes (and
 * its strict parser: it is outside input), and the Prometheus text page.
 * Everything here is a pure function of its arguments (the registry read
 * aside), so unit tests drive it with fake times and hand-made snapshots.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/counter.h"
#include "dashboards/dash_int.h"

/* ------------------------------------------------------------ snapshots */

static double rate(int64_t dv, int64_t dt_us)
{
    return dt_us > 0 ? (double)dv * 1e6 / (double)dt_us : 0.0;
}

/* The figure behind each DASH_W_ index. */
static const int win_stat[DASH_W_COUNT_] = { DASH_ATTEMPTS, DASH_ANSWERED, DASH_ERRORS,
                                             DASH_ENDED };

struct dash_snap *dash__snap_take(struct dash *d, struct dash_hist *hist, int64_t now_us)
{
    size_t n = atomic_load_explicit(&d->n, memory_order_acquire);
    struct dash_snap *s = calloc(1, sizeof(*s) + n * sizeof(s->e[0]));

    if (s == NULL) {
        return NULL;
    }
    snprintf(s->node, sizeof(s->node), "%s", d->node_id);
    s->taken_us = clock_wall_us();
    s->seq = ++d->seq;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        const struct dash_entity *e = d->ents[i];
        struct dash_snap_entry *o = &s->e[i];
        struct dash_hist *h = &hist[i];

        o->kind = e->kind;
        o->tenant_id = e->tenant_id;
        o->id = e->id;
        memcpy(o->name, e->name, sizeof(o->name));
        memcpy(o->outcome, e->outcome, sizeof(o->outcome));
        o->state = atomic_load_explicit(&e->state, memory_order_relaxed);
        o->cap_bp = atomic_load_explicit(&e->abandon_cap_bp, memory_order_relaxed);
        for (int k = 0; k < DASH_STAT_COUNT_; k++) {
            o->v[k] = atomic_load_explicit(&e->v[k], memory_order_relaxed);
        }
        if (h->n > 0) {
            unsigned prev = (h->head + DASH_HIST - 1) % DASH_HIST;
            unsigned oldest = h->n < DASH_HIST ? 0 : h->head;
            o->cps_1s = rate(o->v[DASH_ATTEMPTS] - h->attempts[prev], now_us - h->at_us[prev]);
            o->cps_1m = rate(o->v[DASH_ATTEMPTS] - h->attempts[oldest], now_us - h->at_us[oldest]);
            o->w1m[DASH_W_ATTEMPTS] = o->v[DASH_ATTEMPTS] - h->attempts[oldest];
            for (int k = 1; k < DASH_W_COUNT_; k++) {
                o->w1m[k] = o->v[win_stat[k]] - h->w[k - 1][oldest];
            }
        }
        for (int k = 1; k < DASH_W_COUNT_; k++) {
            h->w[k - 1][h->head] = o->v[win_stat[k]];
        }
        h->attempts[h->head] = o->v[DASH_ATTEMPTS];
        h->at_us[h->head] = now_us;
        h->head = (h->head + 1) % DASH_HIST;
        if (h->n < DASH_HIST) {
            h->n++;
        }
    }
    return s;
}

/* ------------------------------------------------- JSON between nodes */

json_t *dash__snap_to_json(const struct dash_snap *s)
{
    json_t *arr = json_array();
    json_t *o;

    for (size_t i = 0; arr != NULL && i < s->n; i++) {
        const struct dash_snap_entry *e = &s->e[i];
        json_t *v = json_array();
        json_t *w = json_array();
        for (int k = 0; v != NULL && k < DASH_STAT_COUNT_; k++) {
            json_array_append_new(v, json_integer(e->v[k]));
        }
        for (int k = 0; w != NULL && k < DASH_W_COUNT_; k++) {
            json_array_append_new(w, json_integer(e->w1m[k]));
        }
        json_array_append_new(arr, json_pack("[i,I,I,s,s,i,I,o,f,f,o]", (int)e->kind,
                                             (json_int_t)e->tenant_id, (json_int_t)e->id, e->name,
                                             e->outcome, e->state, (json_int_t)e->cap_bp, v,
                                             e->cps_1s, e->cps_1m, w));
    }
    o = json_pack("{s:i,s:s,s:I,s:I,s:o}", "v", 1, "node", s->node, "seq", (json_int_t)s->seq, "ts",
                  (json_int_t)s->taken_us, "e", arr);
    return o;
}

static void fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
}

static int str_field(const json_t *j, char *dst, size_t cap)
{
    const char *s = json_string_value(j);
    size_t l;

    if (s == NULL) {
        return -1;
    }
    l = json_string_length(j);
    if (l >= cap || memchr(s, '\0', l) != NULL) {
        return -1;
    }
    memcpy(dst, s, l + 1);
    return 0;
}

static double num(const json_t *j)
{
    return json_is_number(j) ? json_number_value(j) : NAN;
}

static int parse_entry(const json_t *a, struct dash_snap_entry *e)
{
    json_t *v;

    /* 10 elements from nodes that keep no minute window, 11 with it */
    if (!json_is_array(a) || (json_array_size(a) != 10 && json_array_size(a) != 11) ||
        !json_is_integer(json_array_get(a, 0)) || !json_is_integer(json_array_get(a, 1)) ||
        !json_is_integer(json_array_get(a, 2)) || !json_is_integer(json_array_get(a, 5)) ||
        !json_is_integer(json_array_get(a, 6))) {
        return -1;
    }
    e->kind = (enum dash_kind)json_integer_value(json_array_get(a, 0));
    e->tenant_id = json_integer_value(json_array_get(a, 1));
    e->id = json_integer_value(json_array_get(a, 2));
    e->state = (int)json_integer_value(json_array_get(a, 5));
    e->cap_bp = json_integer_value(json_array_get(a, 6));
    if (e->kind > DASH_KIND_SERVER || e->tenant_id < 0 || e->id < 0 || e->state < 0 ||
        e->state > DASH_STATE_STOPPED || e->cap_bp < 0 || e->cap_bp > 10000 ||
        str_field(json_array_get(a, 3), e->name, sizeof(e->name)) != 0 ||
        str_field(json_array_get(a, 4), e->outcome, sizeof(e->outcome)) != 0) {
        return -1;
    }
    v = json_array_get(a, 7);
    if (!json_is_array(v) || json_array_size(v) != DASH_STAT_COUNT_) {
        return -1;
    }
    for (int k = 0; k < DASH_STAT_COUNT_; k++) {
        if (!json_is_integer(json_array_get(v, (size_t)k))) {
            return -1;
        }
        e->v[k] = json_integer_value(json_array_get(v, (size_t)k));
    }
    e->cps_1s = num(json_array_get(a, 8));
    e->cps_1m = num(json_array_get(a, 9));
    if (!isfinite(e->cps_1s) || !isfinite(e->cps_1m) || e->cps_1s < 0 || e->cps_1m < 0) {
        return -1;
    }
    if (e->kind == DASH_KIND_SERVER && e->state > DASH_HEALTH_DEGRADED) {
        return -1;
    }
    if (json_array_size(a) == 11) {
        v = json_array_get(a, 10);
        if (!json_is_array(v) || json_array_size(v) != DASH_W_COUNT_) {
            return -1;
        }
        for (int k = 0; k < DASH_W_COUNT_; k++) {
            if (!json_is_integer(json_array_get(v, (size_t)k))) {
                return -1;
            }
            e->w1m[k] = json_integer_value(json_array_get(v, (size_t)k));
        }
    }
    return 0;
}

struct dash_snap *dash__snap_parse(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    json_t *arr;
    struct dash_snap *s = NULL;
    size_t n;

    if (root == NULL || !json_is_object(root)) {
        fail(err, errlen, "not a JSON object");
        goto out;
    }
    if (json_integer_value(json_object_get(root, "v")) != 1) {
        fail(err, errlen, "$.v: unknown version");
        goto out;
    }
    arr = json_object_get(root, "e");
    if (!json_is_array(arr) || json_array_size(arr) > 1000000) {
        fail(err, errlen, "$.e: not an array");
        goto out;
    }
    n = json_array_size(arr);
    s = calloc(1, sizeof(*s) + n * sizeof(s->e[0]));
    if (s == NULL) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    s->n = n;
    if (str_field(json_object_get(root, "node"), s->node, sizeof(s->node)) != 0 ||
        s->node[0] == '\0') {
        fail(err, errlen, "$.node: not a node name");
        goto bad;
    }
    if (!json_is_integer(json_object_get(root, "seq")) ||
        !json_is_integer(json_object_get(root, "ts"))) {
        fail(err, errlen, "$.seq/$.ts: not integers");
        goto bad;
    }
    s->seq = (uint64_t)json_integer_value(json_object_get(root, "seq"));
    s->taken_us = json_integer_value(json_object_get(root, "ts"));
    for (size_t i = 0; i < n; i++) {
        if (parse_entry(json_array_get(arr, i), &s->e[i]) != 0) {
            snprintf(err, errlen, "$.e[%zu]: malformed entry", i);
            goto bad;
        }
    }
    goto out;
bad:
    free(s);
    s = NULL;
out:
    json_decref(root);
    return s;
}

/* ------------------------------------------------ a campaign's figures */

static double ratio(int64_t a, int64_t b)
{
    return b > 0 ? (double)a / (double)b : 0.0;
}

json_t *dash_campaign_json_empty(int64_t tenant_id, int64_t campaign_id)
{
    struct dash_snap_entry z;
    struct dash_snap *one = calloc(1, sizeof(*one) + sizeof(one->e[0]));
    json_t *o;

    if (one == NULL) {
        return NULL;
    }
    memset(&z, 0, sizeof(z));
    z.kind = DASH_KIND_CAMPAIGN;
    z.tenant_id = tenant_id;
    z.id = campaign_id;
    z.cap_bp = 300;
    one->n = 1;
    one->e[0] = z;
    const struct dash_snap *arr[1] = { one };
    o = dash__campaign_json(arr, 1, tenant_id, campaign_id);
    json_object_set_new(o, "nodes", json_integer(0));
    free(one);
    return o;
}

json_t *dash__campaign_json(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id,
                            int64_t campaign_id)
{
    int64_t v[DASH_STAT_COUNT_] = { 0 };
    double cps1 = 0, cps60 = 0;
    int state = DASH_STATE_UNKNOWN, nodes = 0;
    int64_t cap_bp = 300, newest = 0;
    json_t *o;

    for (size_t i = 0; i < n; i++) {
        const struct dash_snap *s = snaps[i];
        for (size_t j = 0; s != NULL && j < s->n; j++) {
            const struct dash_snap_entry *e = &s->e[j];
            if (e->kind != DASH_KIND_CAMPAIGN || e->tenant_id != tenant_id ||
                e->id != campaign_id) {
                continue;
            }
            for (int k = 0; k < DASH_STAT_COUNT_; k++) {
                /* contacts_total is the campaign's size, the same on every node */
                if (k == DASH_CONTACTS_TOTAL) {
                    v[k] = e->v[k] > v[k] ? e->v[k] : v[k];
                } else {
                    v[k] = dash__add_sat(v[k], e->v[k]);
                }
            }
            cps1 += e->cps_1s;
            cps60 += e->cps_1m;
            if (s->taken_us >= newest) {
                newest = s->taken_us;
                state = e->state;
                cap_bp = e->cap_bp;
            }
            nodes++;
        }
    }
    if (nodes == 0) {
        return NULL;
    }
    int64_t human_base =
        dash__add_sat(v[DASH_HUMAN], v[DASH_MACHINE]) > 0 ? v[DASH_HUMAN] : v[DASH_ANSWERED];
    int64_t remaining = v[DASH_CONTACTS_REMAINING];
    int64_t total = v[DASH_CONTACTS_TOTAL];
    json_t *eta = cps60 > 0.001 && fabs(ceil((double)remaining / cps60)) < 9e18
                      ? json_integer((json_int_t)ceil((double)remaining / cps60))
                      : json_null();
    o = json_pack("{s:I,s:I,s:s,s:i,s:f,s:f}", "campaign_id", (json_int_t)campaign_id, "tenant_id",
                  (json_int_t)tenant_id, "state", dash_state_name((enum dash_state)state), "nodes",
                  nodes, "cps_1s", round(cps1 * 100) / 100, "cps_1m", round(cps60 * 100) / 100);
    if (o == NULL) {
        json_decref(eta);
        return NULL;
    }
    for (int k = 0; k < DASH_STAT_COUNT_; k++) {
        if (k == DASH_HITS || k == DASH_CHANNELS || k == DASH_CAPACITY) {
            continue;
        }
        json_object_set_new(o, dash__stat_names[k], json_integer(v[k]));
    }
    json_object_set_new(o, "abandon_rate", json_real(ratio(v[DASH_ABANDONED], human_base)));
    json_object_set_new(o, "abandon_cap", json_real((double)cap_bp / 10000.0));
    json_object_set_new(o, "asr", json_real(ratio(v[DASH_ANSWERED], v[DASH_ATTEMPTS])));
    json_object_set_new(o, "avg_call_s",
                        json_real(ratio(v[DASH_TALK_MS], v[DASH_ANSWERED]) / 1000.0));
    json_object_set_new(o, "avg_handle_s",
                        json_real(ratio(v[DASH_HANDLE_MS], v[DASH_ENDED]) / 1000.0));
    json_object_set_new(
        o, "progress",
        json_real(total > 0 ? ((double)total - (double)remaining) / (double)total : 0.0));
    json_object_set_new(o, "eta_s", eta);
    if (newest > 0) {
        char ts[32];
        json_object_set_new(o, "updated_at", json_string(clock_format_utc(newest, ts, sizeof(ts))));
    }
    return o;
}

json_t *dash__tenant_campaigns(const struct dash_snap *const *snaps, size_t n, int64_t tenant_id)
{
    json_t *ids = json_array();

    for (size_t i = 0; ids != NULL && i < n; i++) {
        const struct dash_snap *s = snaps[i];
        for (size_t j = 0; s != NULL && j < s->n; j++) {
            const struct dash_snap_entry *e = &s->e[j];
            bool seen = false;
            size_t k;
            json_t *x;
            if (e->kind != DASH_KIND_CAMPAIGN || e->tenant_id != tenant_id) {
                continue;
            }
            json_array_foreach (ids, k, x) {
                seen = seen || json_integer_value(x) == e->id;
            }
            if (!seen) {
                json_array_append_new(ids, json_integer(e->id));
            }
        }
    }
    return ids;
}

/* ------------------------------------------------------------ text */

void dash__buf_printf(struct dash_buf *b, const char *fmt, ...)
{
    va_list ap;
    int need;

    if (b->oom) {
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        va_start(ap, fmt);
        need = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? b->cap - b->len : 0,
                         fmt, ap);
        va_end(ap);
        if (need < 0) {
            b->oom = true;
            return;
        }
        if (b->p != NULL && b->len + (size_t)need < b->cap) {
            b->len += (size_t)need;
            return;
        }
        size_t cap = b->cap > 0 ? b->cap : 4096;
        while (cap <= b->len + (size_t)need) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

void dash__buf_free(struct dash_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void dash__prom_escape(struct dash_buf *b, const char *v)
{
    for (const char *c = v; *c != '\0'; c++) {
        switch (*c) {
        case '\\':
            dash__buf_printf(b, "\\\\");
            break;
        case '"':
            dash__buf_printf(b, "\\\"");
            break;
        case '\n':
            dash__buf_printf(b, "\\n");
            break;
        default:
            dash__buf_printf(b, "%c", *c);
        }
    }
}

static const char *const kind_prefix[] = { "dialer_campaign", "dialer_trunk", "dialer_ivr_node",
                                           "dialer_ari_server" };

/* Which figures each kind of entity shows. */
static bool shows(enum dash_kind kind, int k)
{
    switch (kind) {
    case DASH_KIND_CAMPAIGN:
        return k != DASH_HITS && k != DASH_CHANNELS && k != DASH_CAPACITY;
    case DASH_KIND_TRUNK:
        return k == DASH_ATTEMPTS || k == DASH_ANSWERED || k == DASH_FAILED || k == DASH_ERRORS ||
               k == DASH_ENDED || k == DASH_CHANNELS || k == DASH_CAPACITY;
    case DASH_KIND_IVR:
        return k == DASH_HITS;
    default:
        return false; /* servers: dialer_ari_server_health only */
    }
}

static void labels(struct dash_buf *b, const struct dash_snap *s, const struct dash_snap_entry *e)
{
    dash__buf_printf(b, "{node=\"");
    dash__prom_escape(b, s->node);
    switch (e->kind) {
    case DASH_KIND_CAMPAIGN:
        dash__buf_printf(b, "\",tenant=\"%lld\",campaign=\"%lld\"", (long long)e->tenant_id,
                         (long long)e->id);
        break;
    case DASH_KIND_TRUNK:
        if (e->tenant_id > 0) {
            dash__buf_printf(b, "\",tenant=\"%lld", (long long)e->tenant_id);
        }
        dash__buf_printf(b, "\",trunk=\"");
        dash__prom_escape(b, e->name);
        dash__buf_printf(b, "\"");
        break;
    case DASH_KIND_SERVER:
        dash__buf_printf(b, "\",server=\"");
        dash__prom_escape(b, e->name);
        dash__buf_printf(b, "\"");
        break;
    default:
        dash__buf_printf(b, "\",tenant=\"%lld\",flow=\"%lld\",ivr_node=\"", (long long)e->tenant_id,
                         (long long)e->id);
        dash__prom_escape(b, e->name);
        dash__buf_printf(b, "\",outcome=\"");
        dash__prom_escape(b, e->outcome);
        dash__buf_printf(b, "\"");
    }
    dash__buf_printf(b, "}");
}

static bool any_of_kind(const struct dash_snap *const *snaps, size_t n, enum dash_kind kind)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            if (snaps[i]->e[j].kind == kind) {
                return true;
            }
        }
    }
    return false;
}

/* One family: HELP, TYPE, then a sample per entity of the kind. */
static void family(struct dash_buf *b, const struct dash_snap *const *snaps, size_t n,
                   enum dash_kind kind, int k)
{
    bool gauge = dash__stat_gauge[k];

    dash__buf_printf(b, "# HELP %s_%s%s %s.\n# TYPE %s_%s%s %s\n", kind_prefix[kind],
                     dash__stat_names[k], gauge ? "" : "_total", dash__stat_help[k],
                     kind_prefix[kind], dash__stat_names[k], gauge ? "" : "_total",
                     gauge ? "gauge" : "counter");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            if (e->kind != kind) {
                continue;
            }
            dash__buf_printf(b, "%s_%s%s", kind_prefix[kind], dash__stat_names[k],
                             gauge ? "" : "_total");
            labels(b, snaps[i], e);
            dash__buf_printf(b, " %lld\n", (long long)e->v[k]);
        }
    }
}

static void campaign_extras(struct dash_buf *b, const struct dash_snap *const *snaps, size_t n)
{
    dash__buf_printf(b, "# HELP dialer_campaign_cps Attempts per second over a window.\n"
                        "# TYPE dialer_campaign_cps gauge\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            if (e->kind != DASH_KIND_CAMPAIGN) {
                continue;
            }
            for (int w = 0; w < 2; w++) {
                dash__buf_printf(b, "dialer_campaign_cps");
                labels(b, snaps[i], e);
                if (!b->oom) {
                    b->len--; /* reopen the label set */
                }
                dash__buf_printf(b, ",window=\"%s\"} %.3f\n", w == 0 ? "1s" : "1m",
                                 w == 0 ? e->cps_1s : e->cps_1m);
            }
        }
    }
    dash__buf_printf(b, "# HELP dialer_campaign_running Whether the campaign is running (1) or "
                        "not (0).\n# TYPE dialer_campaign_running gauge\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            if (e->kind == DASH_KIND_CAMPAIGN) {
                dash__buf_printf(b, "dialer_campaign_running");
                labels(b, snaps[i], e);
                dash__buf_printf(b, " %d\n", e->state == DASH_STATE_RUNNING);
            }
        }
    }
}

static void server_health(struct dash_buf *b, const struct dash_snap *const *snaps, size_t n)
{
    dash__buf_printf(b, "# HELP dialer_ari_server_health Asterisk server health (0 down, 1 up, "
                        "2 degraded).\n# TYPE dialer_ari_server_health gauge\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; snaps[i] != NULL && j < snaps[i]->n; j++) {
            const struct dash_snap_entry *e = &snaps[i]->e[j];
            if (e->kind == DASH_KIND_SERVER) {
                dash__buf_printf(b, "dialer_ari_server_health");
                labels(b, snaps[i], e);
                dash__buf_printf(b, " %d\n", e->state);
            }
        }
    }
}

/* Process counters grouped by family (the part of the name before '{'). */
struct ctr_list {
    const struct counter **c;
    size_t n, cap;
};

static void collect(const struct counter *c, void *arg)
{
    struct ctr_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap > 0 ? l->cap * 2 : 64;
        const struct counter **p = realloc(l->c, cap * sizeof(*p));
        if (p == NULL) {
            return;
        }
        l->c = p;
        l->cap = cap;
    }
    l->c[l->n++] = c;
}

static size_t fam_len(const char *name)
{
    const char *brace = strchr(name, '{');
    return brace != NULL ? (size_t)(brace - name) : strlen(name);
}

static void counters(struct dash_buf *b)
{
    struct ctr_list l = { 0 };
    bool *done;

    counter_foreach(collect, &l);
    done = calloc(l.n + 1, sizeof(*done));
    for (size_t i = 0; done != NULL && i < l.n; i++) {
        size_t fl = fam_len(l.c[i]->name);
        if (done[i]) {
            continue;
        }
        dash__buf_printf(b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)fl, l.c[i]->name,
                         l.c[i]->help != NULL ? l.c[i]->help : "", (int)fl, l.c[i]->name,
                         l.c[i]->kind == COUNTER_KIND_GAUGE ? "gauge" : "counter");
        for (size_t j = i; j < l.n; j++) {
            if (!done[j] && fam_len(l.c[j]->name) == fl &&
                strncmp(l.c[j]->name, l.c[i]->name, fl) == 0) {
                dash__buf_printf(b, "%s %lld\n", l.c[j]->name, (long long)counter_get(l.c[j]));
                done[j] = true;
            }
        }
    }
    free(done);
    free(l.c);
}

void dash__prom_render(struct dash_buf *b, const struct dash_snap *const *snaps, size_t n,
                       bool with_counters)
{
    for (int kind = DASH_KIND_CAMPAIGN; kind <= DASH_KIND_SERVER; kind++) {
        if (!any_of_kind(snaps, n, (enum dash_kind)kind)) {
            continue;
        }
        for (int k = 0; k < DASH_STAT_COUNT_; k++) {
            if (shows((enum dash_kind)kind, k)) {
                family(b, snaps, n, (enum dash_kind)kind, k);
            }
        }
        if (kind == DASH_KIND_CAMPAIGN) {
            campaign_extras(b, snaps, n);
        }
        if (kind == DASH_KIND_SERVER) {
            server_health(b, snaps, n);
        }
    }
    if (with_counters) {
        counters(b);
    }
}
