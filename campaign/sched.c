/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: leased contacts in, launch decisions out, on the loop
 * thread.
 *
 * Each campaign keeps its contacts in a binary min-heap by next eligible
 * time (due_us). A tick (campaign_sched_tick, every 50-100 ms from the
 * loop's timer) does, for each running campaign:
 *   1. pacing: want = campaign_pacing_want(), bounded by the campaign's CPS
 *      bucket and channel cap;
 *   2. fair launches: rounds over tenants (rotating start), and within a
 *      tenant over its campaigns (rotating start); each visit launches at
 *      most one call. So every tenant with work gets the same share of a
 *      tick's global budget (max_per_tick, the gate), and within a tenant
 *      every campaign the same share of the tenant's budget (its CPS bucket
 *      and channel cap), whatever their list sizes;
 *   3. a launch pops the earliest due contact, asks the verdict callback
 *      (compliance), and either launches it (launch callback: the dialer)
 *      or puts it back at its next eligible time with the reason.
 * The global gate (Redis limits through a local allowance) is asked once per
 * launch; a closed gate ends the tick (fail closed). Before it, the room
 * callback (per-trunk limits) may hold one campaign back for the tick
 * while the others go on.
 *
 * A paused campaign is skipped from the next tick on; its contacts stay in
 * the heap (and their leases are renewed by the lessor) until it resumes.
 *
 * Campaigns and tenants are kept in small arrays and found by linear scan:
 * a node runs tens of campaigns, not thousands.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/err.h"

struct sched_tenant {
    int64_t id;
    bool has_cps;
    struct campaign_bucket bucket;
    int max_channels; /* 0: none */
    int active;       /* ringing + connected over its campaigns */
    size_t rr;        /* next campaign index to visit */
};

struct sched_campaign {
    int64_t id;
    int64_t tenant_id;
    struct campaign_settings set;
    int ports;
    bool running;
    bool capped; /* the last tick stopped at a cap with work left */
    int quota;   /* launches left in this tick */
    bool dry;    /* nothing more to launch this tick */
    struct campaign_bucket bucket;
    struct campaign_estimator est;
    int ringing;
    int connected;
    struct campaign_contact **heap;
    size_t n, cap;
};

struct campaign_sched {
    struct campaign_sched_opts o;
    struct sched_tenant *tenants;
    size_t ntenants;
    struct sched_campaign **camps;
    size_t ncamps;
    size_t tenant_rr;
    struct campaign_sched_stats stats;
};

static const char *const reason_names[CAMPAIGN_WAIT_COUNT_] = {
    "dialable", "window", "retry", "cap", "dnc",
};

const char *campaign_wait_reason_name(enum campaign_wait_reason r)
{
    return (unsigned)r < CAMPAIGN_WAIT_COUNT_ ? reason_names[r] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Heap                                                                      */

static void heap_set(struct sched_campaign *c, size_t i, struct campaign_contact *x)
{
    c->heap[i] = x;
    x->heap_idx = (uint32_t)i;
}

static void heap_up(struct sched_campaign *c, size_t i)
{
    struct campaign_contact *x = c->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c->heap[p]->due_us <= x->due_us) {
            break;
        }
        heap_set(c, i, c->heap[p]);
        i = p;
    }
    heap_set(c, i, x);
}

static void heap_down(struct sched_campaign *c, size_t i)
{
    struct campaign_contact *x = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        int64_t best = x->due_us;
        if (l < c->n && c->heap[l]->due_us < best) {
            m = l;
            best = c->heap[l]->due_us;
        }
        if (l + 1 < c->n && c->heap[l + 1]->due_us < best) {
            m = l + 1;
        }
        if (m == i) {
            break;
        }
        heap_set(c, i, c->heap[m]);
        i = m;
    }
    heap_set(c, i, x);
}

static int heap_push(struct sched_campaign *c, struct campaign_contact *x)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct campaign_contact **h = realloc(c->heap, nc * sizeof(*h));
        if (!h) {
            return ERR_NOMEM;
        }
        c->heap = h;
        c->cap = nc;
    }
    c->heap[c->n++] = x;
    heap_up(c, c->n - 1);
    return 0;
}

static struct campaign_contact *heap_pop(struct sched_campaign *c)
{
    struct campaign_contact *top = c->heap[0];
    c->n--;
    if (c->n > 0) {
        c->heap[0] = c->heap[c->n];
        heap_down(c, 0);
    }
    return top;
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                   */

int campaign_sched_create(const struct campaign_sched_opts *o, struct campaign_sched **out)
{
    if (!o || !o->launch || !out) {
        return ERR_INVAL;
    }
    struct campaign_sched *s = calloc(1, sizeof(*s));
    if (!s) {
        return ERR_NOMEM;
    }
    s->o = *o;
    if (s->o.retry_us <= 0) {
        s->o.retry_us = 5 * INT64_C(1000000);
    }
    *out = s;
    return 0;
}

void campaign_sched_destroy(struct campaign_sched *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->ncamps; i++) {
        struct sched_campaign *c = s->camps[i];
        for (size_t k = 0; k < c->n; k++) {
            free(c->heap[k]);
        }
        free(c->heap);
        free(c);
    }
    free(s->camps);
    free(s->tenants);
    free(s);
}

static struct sched_tenant *tenant_get(struct campaign_sched *s, int64_t id)
{
    for (size_t i = 0; i < s->ntenants; i++) {
        if (s->tenants[i].id == id) {
            return &s->tenants[i];
        }
    }
    struct sched_tenant *t = realloc(s->tenants, (s->ntenants + 1) * sizeof(*t));
    if (!t) {
        return NULL;
    }
    s->tenants = t;
    t = &s->tenants[s->ntenants++];
    memset(t, 0, sizeof(*t));
    t->id = id;
    return t;
}

static struct sched_campaign *camp_find(const struct campaign_sched *s, int64_t id)
{
    for (size_t i = 0; i < s->ncamps; i++) {
        if (s->camps[i]->id == id) {
            return s->camps[i];
        }
    }
    return NULL;
}

int campaign_sched_tenant(struct campaign_sched *s, int64_t tenant_id, double cps, int max_channels,
                          int64_t now_us)
{
    struct sched_tenant *t = tenant_get(s, tenant_id);
    if (!t) {
        return ERR_NOMEM;
    }
    t->has_cps = cps > 0;
    if (t->has_cps) {
        campaign_bucket_init(&t->bucket, cps, cps, now_us);
    }
    t->max_channels = max_channels > 0 ? max_channels : 0;
    return 0;
}

int campaign_sched_campaign(struct campaign_sched *s, int64_t tenant_id, int64_t campaign_id,
                            const struct campaign_settings *set, int ports, int64_t now_us)
{
    struct sched_campaign *c = camp_find(s, campaign_id);
    if (!tenant_get(s, tenant_id)) {
        return ERR_NOMEM;
    }
    if (!c) {
        struct sched_campaign **v = realloc(s->camps, (s->ncamps + 1) * sizeof(*v));
        if (!v) {
            return ERR_NOMEM;
        }
        s->camps = v;
        c = calloc(1, sizeof(*c));
        if (!c) {
            return ERR_NOMEM;
        }
        s->camps[s->ncamps++] = c;
        c->id = campaign_id;
        campaign_estimator_init(&c->est, 0.3, 60);
    } else if (c->tenant_id != tenant_id) {
        return ERR_CONFLICT;
    }
    c->tenant_id = tenant_id;
    c->set = *set;
    c->ports = ports;
    campaign_bucket_init(&c->bucket, set->cps, set->cps, now_us);
    return 0;
}

int campaign_sched_set_running(struct campaign_sched *s, int64_t campaign_id, bool running)
{
    struct sched_campaign *c = camp_find(s, campaign_id);
    if (!c) {
        return ERR_NOTFOUND;
    }
    c->running = running;
    return 0;
}

int campaign_sched_add(struct campaign_sched *s, const struct campaign_batch *b)
{
    struct sched_campaign *c = camp_find(s, b->campaign_id);
    if (!c) {
        return ERR_NOTFOUND;
    }
    for (size_t i = 0; i < b->n; i++) {
        struct campaign_contact *x = malloc(sizeof(*x));
        if (!x) {
            return ERR_NOMEM;
        }
        *x = b->contacts[i];
        x->campaign_id = c->id;
        x->tenant_id = c->tenant_id;
        x->reason = CAMPAIGN_WAIT_RETRY;
        if (heap_push(c, x) != 0) {
            free(x);
            return ERR_NOMEM;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Tick                                                                      */

/* Pacing and per-campaign limits: how many c may launch in this tick. */
static int campaign_quota(struct campaign_sched *s, struct sched_campaign *c, int64_t now_us)
{
    struct campaign_pacing_in in = {
        .ringing = c->ringing,
        .connected = c->connected,
        .ports = c->ports,
        .abandon = -1,
    };
    if (s->o.abandon.rate) {
        in.abandon = s->o.abandon.rate(s->o.abandon.arg, c->id);
    }
    int want = campaign_pacing_want(&c->set, &c->est, &in);
    if (c->set.cps > 0) {
        int tok = campaign_bucket_peek(&c->bucket, now_us);
        if (tok < want) {
            c->capped = c->n > 0;
            want = tok;
        }
    }
    return want;
}

/*
 * Launches at most one call of c. Returns 1 (launched), 0 (nothing due or
 * allowed: c is dry), or -1 (the global gate is closed).
 */
static int launch_one(struct campaign_sched *s, struct sched_campaign *c, int64_t now_us)
{
    while (c->n > 0 && c->heap[0]->due_us <= now_us) {
        struct campaign_contact *x = c->heap[0];
        struct campaign_verdict v = { .allow = true };
        if (s->o.verdict) {
            s->o.verdict(s->o.verdict_arg, x, now_us, &v);
            s->stats.verdicts++;
        }
        if (!v.allow) {
            x->reason = v.reason != CAMPAIGN_WAIT_NONE ? (int)v.reason : CAMPAIGN_WAIT_CAP;
            x->due_us = v.next_us > now_us ? v.next_us : now_us + s->o.retry_us;
            heap_down(c, 0);
            continue;
        }
        if (s->o.room && !s->o.room(s->o.room_arg, x, true)) {
            /* the campaign's own route is full (per-trunk limits): it waits */
            c->capped = true;
            return 0;
        }
        if (s->o.gate && s->o.gate(s->o.gate_arg, c->tenant_id, 1) < 1) {
            if (s->o.room) {
                s->o.room(s->o.room_arg, x, false);
            }
            c->capped = true;
            return -1;
        }
        struct campaign_launch l = { .contact = x, .decided_us = now_us };
        x->reason = CAMPAIGN_WAIT_NONE;
        if (s->o.launch(s->o.launch_arg, &l) != 0) {
            s->stats.launch_failures++;
            x->due_us = now_us + s->o.retry_us;
            x->reason = CAMPAIGN_WAIT_RETRY;
            heap_down(c, 0);
            return 0;
        }
        free(heap_pop(c));
        s->stats.launches++;
        return 1;
    }
    return 0;
}

/* True when tenant t may launch one more call now. */
static bool tenant_open(struct sched_tenant *t, int64_t now_us)
{
    if (t->max_channels > 0 && t->active >= t->max_channels) {
        return false;
    }
    return !t->has_cps || campaign_bucket_peek(&t->bucket, now_us) >= 1;
}

/* One visit of tenant t: one launch from its next campaign with work. 1 launched, 0 none, -1 gate.
 */
static int tenant_visit(struct campaign_sched *s, struct sched_tenant *t, int64_t now_us,
                        bool *work)
{
    size_t n = s->ncamps;
    for (size_t k = 0; k < n; k++) {
        size_t i = (t->rr + k) % n;
        struct sched_campaign *c = s->camps[i];
        if (c->tenant_id != t->id || !c->running || c->dry || c->quota <= 0) {
            continue;
        }
        *work = true;
        if (!tenant_open(t, now_us)) {
            c->capped = c->n > 0;
            return 0;
        }
        int r = launch_one(s, c, now_us);
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            /* t->rr must not move here: the loop index is relative to it */
            c->dry = true;
            continue;
        }
        t->rr = i + 1;
        c->quota--;
        c->ringing++;
        t->active++;
        if (c->set.cps > 0) {
            campaign_bucket_take(&c->bucket, now_us, 1);
        }
        if (t->has_cps) {
            campaign_bucket_take(&t->bucket, now_us, 1);
        }
        return 1;
    }
    return 0;
}

int campaign_sched_tick(struct campaign_sched *s, int64_t now_us)
{
    int launched = 0;
    int budget = s->o.max_per_tick > 0 ? s->o.max_per_tick : INT_MAX;
    s->stats.ticks++;
    for (size_t i = 0; i < s->ncamps; i++) {
        struct sched_campaign *c = s->camps[i];
        c->capped = false;
        c->dry = false;
        c->quota = c->running ? campaign_quota(s, c, now_us) : 0;
    }
    bool progress = true;
    while (progress && launched < budget) {
        progress = false;
        size_t nt = s->ntenants;
        for (size_t k = 0; k < nt && launched < budget; k++) {
            struct sched_tenant *t = &s->tenants[(s->tenant_rr + k) % nt];
            bool work = false;
            int r = tenant_visit(s, t, now_us, &work);
            if (r < 0) {
                return launched;
            }
            if (r > 0) {
                launched++;
                progress = true;
            }
        }
        if (nt > 0) {
            s->tenant_rr = (s->tenant_rr + 1) % nt;
        }
    }
    if (launched >= budget) {
        for (size_t i = 0; i < s->ncamps; i++) {
            struct sched_campaign *c = s->camps[i];
            if (c->running && c->quota > 0 && !c->dry) {
                c->capped = c->n > 0;
            }
        }
    }
    return launched;
}

/* ------------------------------------------------------------------------ */
/* Feedback from the dialer                                                  */

void campaign_sched_call_answered(struct campaign_sched *s, int64_t campaign_id, double ring_s)
{
    struct sched_campaign *c = camp_find(s, campaign_id);
    if (!c || c->ringing <= 0) {
        return;
    }
    c->ringing--;
    c->connected++;
    campaign_estimator_resolve(&c->est, true, ring_s);
}

void campaign_sched_call_ended(struct campaign_sched *s, int64_t campaign_id, bool was_answered,
                               double secs)
{
    struct sched_campaign *c = camp_find(s, campaign_id);
    struct sched_tenant *t;
    if (!c) {
        return;
    }
    if (was_answered) {
        if (c->connected <= 0) {
            return;
        }
        c->connected--;
        campaign_estimator_handled(&c->est, secs);
    } else {
        if (c->ringing <= 0) {
            return;
        }
        c->ringing--;
        campaign_estimator_resolve(&c->est, false, secs);
    }
    t = tenant_get(s, c->tenant_id);
    if (t && t->active > 0) {
        t->active--;
    }
}

/* ------------------------------------------------------------------------ */
/* Held contacts                                                             */

int campaign_sched_foreach(const struct campaign_sched *s, int64_t campaign_id,
                           campaign_contact_fn *fn, void *arg)
{
    const struct sched_campaign *c = camp_find(s, campaign_id);
    if (!c) {
        return ERR_NOTFOUND;
    }
    for (size_t i = 0; i < c->n; i++) {
        fn(arg, c->heap[i]);
    }
    return 0;
}

size_t campaign_sched_evict(struct campaign_sched *s, int64_t campaign_id, int64_t horizon_us,
                            campaign_contact_fn *fn, void *arg)
{
    struct sched_campaign *c = camp_find(s, campaign_id);
    size_t kept = 0, removed = 0;
    if (!c) {
        return 0;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct campaign_contact *x = c->heap[i];
        if (horizon_us != INT64_MIN && x->due_us < horizon_us) {
            c->heap[kept++] = x;
            continue;
        }
        if (fn) {
            fn(arg, x);
        }
        free(x);
        removed++;
    }
    c->n = kept;
    for (size_t i = 0; i < c->n; i++) {
        c->heap[i]->heap_idx = (uint32_t)i;
    }
    for (size_t i = c->n / 2; i-- > 0;) {
        heap_down(c, i);
    }
    return removed;
}

/* ------------------------------------------------------------------------ */
/* Explain                                                                   */

int campaign_sched_ready(const struct campaign_sched *s, int64_t campaign_id, int64_t now_us,
                         struct campaign_ready *out)
{
    const struct sched_campaign *c = camp_find(s, campaign_id);
    memset(out, 0, sizeof(*out));
    if (!c) {
        return ERR_NOTFOUND;
    }
    for (size_t i = 0; i < c->n; i++) {
        const struct campaign_contact *x = c->heap[i];
        if (x->due_us <= now_us) {
            if (c->capped) {
                out->waiting[CAMPAIGN_WAIT_CAP]++;
            } else {
                out->dialable++;
            }
        } else {
            int r = x->reason > CAMPAIGN_WAIT_NONE && x->reason < CAMPAIGN_WAIT_COUNT_
                        ? x->reason
                        : CAMPAIGN_WAIT_RETRY;
            out->waiting[r]++;
        }
    }
    out->ringing = c->ringing;
    out->connected = c->connected;
    out->running = c->running;
    return 0;
}

json_t *campaign_ready_json(const struct campaign_ready *r)
{
    json_t *w = json_object();
    if (!w) {
        return NULL;
    }
    for (int i = 1; i < CAMPAIGN_WAIT_COUNT_; i++) {
        json_object_set_new(w, reason_names[i], json_integer(r->waiting[i]));
    }
    return json_pack("{s:I, s:o, s:I, s:I, s:b}", "dialable", (json_int_t)r->dialable, "waiting", w,
                     "ringing", (json_int_t)r->ringing, "connected", (json_int_t)r->connected,
                     "running", r->running);
}

int64_t campaign_sched_held(const struct campaign_sched *s, int64_t campaign_id)
{
    const struct sched_campaign *c = camp_find(s, campaign_id);
    return c ? (int64_t)c->n : -1;
}

void campaign_sched_stats(const struct campaign_sched *s, struct campaign_sched_stats *out)
{
    *out = s->stats;
}
