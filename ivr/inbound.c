/* SPDX-License-Identifier: MIT */
/*
 * inbound: a call to an inbound extension becomes an IVR execution.
 *
 * DESIGN
 * - Stages of a call, all on the loop thread, nothing blocking: register the
 *   channel in the dispatcher at once (so its events, a hang-up included,
 *   are not lost while we look things up), look the extension up (platform
 *   path), check the limits, load the flow's published revision, answer,
 *   start the session. A caller who hangs up during a stage is noticed at the
 *   next one (ivr_ari_call_gone) and the call is dropped quietly.
 * - The revision is resolved once per call (ivr_store_load with revision 0,
 *   or the extension's pinned one) and the call keeps its compiled flow
 *   reference: a revision published mid-call changes only later calls.
 * - Compiled flows are cached by (flow id, revision), which is safe because
 *   revisions never change; the cache is an open-addressing table holding a
 *   reference each (bounded: cleared when it reaches 1024 entries, running
 *   calls keep their own references).
 * - Limits: without Redis, a per-extension counter (an array over the pool)
 *   and per-tenant counters (a small open-addressing table) of this process.
 *   With Redis (cfg.kv) every node shares them: a call takes a place in two
 *   sorted sets, "<prefix>t:<tenant>" and "<prefix>e:<ext>", member
 *   "<node>:<channel>", score its deadline in Redis' own clock. One Lua
 *   script drops expired places, counts, and adds both or neither, so two
 *   nodes never admit more than the limit together. The deadline (and the
 *   keys' own expiry) is pushed back every third of limit_ttl_ms while the
 *   call runs: the places of a node that died vanish within limit_ttl_ms.
 *   A call ending removes its places. No limit applies (both 0): Redis is
 *   not asked and the call is not counted. Redis down or slow while a limit
 *   applies: the call is refused like an overflow (fail closed; a limit
 *   that cannot be checked is not a limit).
 *   A call over a limit is answered, hears overflow_media and is hung up
 *   (busy). The per-extension limit is the extension's own (max_calls)
 *   when it has one, else max_per_extension. Unknown and
 *   unassigned extensions hear unknown_media and are hung up (cause 21,
 *   rejected: the hangup node's closed cause list has no 1) and are logged. Both messages run
 * through the interpreter as two built-in flows, so they use the same adapter as every flow.
 * - Subflows: the interpreter resolves a subflow synchronously when the call
 *   reaches the step, but flows live in the database. So after the parent is
 *   loaded, each distinct subflow it names (flow id, pinned revision or 0 for
 *   the latest published) is loaded too (ST_SUB, one query at a time, the
 *   same (flow, revision) cache), and the call's resolver answers from that
 *   list: the revision of a subflow is pinned when the call starts, like the
 *   parent's. A subflow that cannot be loaded (missing, another tenant's,
 *   invalid) is left out and its step takes the "failed" outcome when
 *   reached. Subflows do not nest (the interpreter refuses a subflow step
 *   inside a subflow: depth 1).
 * - Execution records: with cfg.recorder, every flow run (not the built-in
 *   messages) is an ivr_executions row (direction "inbound", extension,
 *   caller) with its steps, queued through the recorder's batches.
 * - api_call uses cfg.http (the SSRF-guarded backend in production) and the
 *   tenant's secrets from cfg.secrets, rendered only into headers and auth.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/ari.h"
#include "core/err.h"
#include "core/kv.h"
#include "core/log.h"
#include "ivr/ivr.h"
#include "ivr/ivr_int.h"

enum {
    CACHE_CAP = 2048,
    CACHE_MAX = 1024,
    TEN_CAP = 1024,
    NEXT = IVR_EXT_INBOUND_MAX - IVR_EXT_INBOUND_MIN + 1
};

enum stage { ST_LOOKUP, ST_LIMIT, ST_LOAD, ST_SUB, ST_ANSWER, ST_RUN };

enum { SUB_MAX = 8 };

/* A subflow the call's flow names, loaded before the call is answered. */
struct isub {
    const char *key;       /* the step's flow_id (borrowed from the parent flow) */
    long long flow_id;     /* the same as a number */
    int want;              /* the step's revision (0: latest published) */
    struct ivr_flow *flow; /* NULL: could not be loaded */
};

struct icall {
    struct ivr_inbound *in;
    struct icall *prev, *next;
    struct ari_client *client;
    struct ivr_ari_call *ac;
    struct ivr_session *s;
    struct ivr_flow *flow;
    enum stage stage;
    bool counted;    /* holds a place in this process' counters */
    bool kv_counted; /* holds places in Redis */
    bool builtin;    /* running a built-in message flow */
    bool waiting;    /* in the retry queue: every database connection was busy */
    int retries;
    int pin_rev;         /* the extension's pinned revision (0: published) */
    struct icall *pnext; /* retry queue */
    long long tenant, flow_id;
    int revision, ext;
    int max_ext; /* the extension's limit (0: none) */
    struct isub subs[SUB_MAX];
    int nsubs, sub_i;
    char exec[37]; /* execution id ("" when not recorded) */
    char chan[160];
    char caller[48];
};

struct cache_slot {
    long long flow_id;
    int revision;
    struct ivr_flow *flow;
};

struct ten_slot {
    long long tenant;
    int n;
};

struct ivr_inbound {
    struct ivr_inbound_config cfg;
    struct ivr_flow *overflow_flow, *unknown_flow;
    struct icall *calls;
    struct cache_slot cache[CACHE_CAP];
    size_t ncache;
    struct ten_slot tenants[TEN_CAP];
    int per_ext[NEXT];
    struct ivr_inbound_stats st;
    struct icall *pend_head, *pend_tail; /* waiting for a free database connection */
    ev_timer retry;
    struct kv_script *acquire, *release, *refresh;
    char prefix[64];
    char node[72];
    ev_timer keepalive; /* pushes back the deadlines of the places held */
};

static const char LUA_ACQUIRE[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl = tonumber(ARGV[4])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "local lt, le = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "if lt > 0 and redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and\n"
    "   redis.call('ZCARD', KEYS[1]) >= lt then return 0 end\n"
    "if le > 0 and redis.call('ZSCORE', KEYS[2], ARGV[1]) == false and\n"
    "   redis.call('ZCARD', KEYS[2]) >= le then return -1 end\n"
    "redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])\n"
    "redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "redis.call('PEXPIRE', KEYS[2], ttl)\n"
    "return 1\n";

static const char LUA_RELEASE[] = "redis.call('ZREM', KEYS[1], ARGV[1])\n"
                                  "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                                  "return 1\n";

static const char LUA_REFRESH[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl = tonumber(ARGV[2])\n"
    "local n = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + ttl, ARGV[1])\n"
    "redis.call('ZADD', KEYS[2], 'XX', now + ttl, ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "redis.call('PEXPIRE', KEYS[2], ttl)\n"
    "return n\n";

enum { RETRY_MS = 10, RETRY_MAX = 500 };

static void send_stage(struct icall *c);

/* ----------------------------------------------------------- helpers */

static size_t mix(unsigned long long k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static struct ivr_flow *cache_get(struct ivr_inbound *in, long long flow_id, int rev)
{
    size_t i = mix((unsigned long long)flow_id * 1000003ULL + (unsigned)rev) % CACHE_CAP;
    for (size_t n = 0; n < CACHE_CAP; n++, i = (i + 1) % CACHE_CAP) {
        struct cache_slot *c = &in->cache[i];
        if (c->flow == NULL) {
            return NULL;
        }
        if (c->flow_id == flow_id && c->revision == rev) {
            return c->flow;
        }
    }
    return NULL;
}

static void cache_clear(struct ivr_inbound *in)
{
    for (size_t i = 0; i < CACHE_CAP; i++) {
        ivr_flow_unref(in->cache[i].flow);
        in->cache[i].flow = NULL;
    }
    in->ncache = 0;
}

static void cache_put(struct ivr_inbound *in, long long flow_id, int rev, struct ivr_flow *f)
{
    size_t i;
    if (in->ncache >= CACHE_MAX) {
        cache_clear(in);
    }
    i = mix((unsigned long long)flow_id * 1000003ULL + (unsigned)rev) % CACHE_CAP;
    while (in->cache[i].flow != NULL) {
        i = (i + 1) % CACHE_CAP;
    }
    in->cache[i] = (struct cache_slot){ flow_id, rev, ivr_flow_ref(f) };
    in->ncache++;
}

static struct ten_slot *tenant_slot(struct ivr_inbound *in, long long tenant, bool create)
{
    size_t i = mix((unsigned long long)tenant) % TEN_CAP;
    for (size_t n = 0; n < TEN_CAP; n++, i = (i + 1) % TEN_CAP) {
        struct ten_slot *t = &in->tenants[i];
        if (t->tenant == tenant) {
            return t;
        }
        if (t->tenant == 0) {
            if (!create) {
                return NULL;
            }
            t->tenant = tenant;
            return t;
        }
    }
    return NULL;
}

static void unlink_call(struct icall *c)
{
    struct ivr_inbound *in = c->in;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        in->calls = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    in->st.active--;
}

static void kv_keys(const char *prefix, const struct icall *c, char *kt, char *ke, size_t n)
{
    snprintf(kt, n, "%st:%lld", prefix, c->tenant);
    snprintf(ke, n, "%se:%d", prefix, c->ext);
}

static void kv_ignore(int status, redisReply *reply, void *arg)
{
    (void)status, (void)reply, (void)arg;
}

/* Removes the call's places in Redis (a failure leaves them to expire). */
static void kv_release(struct icall *c)
{
    char kt[96], ke[96], member[256];
    const char *argv[3] = { kt, ke, member };
    kv_keys(c->in->prefix, c, kt, ke, sizeof(kt));
    snprintf(member, sizeof(member), "%s:%s", c->in->node, c->chan);
    (void)kv_script_call(c->in->release, 2, 3, argv, NULL, kv_ignore, NULL, NULL);
    c->kv_counted = false;
}

static void release_limits(struct icall *c)
{
    if (c->kv_counted && c->in != NULL) {
        kv_release(c);
    }
    if (c->counted) {
        struct ten_slot *t = tenant_slot(c->in, c->tenant, false);
        if (t != NULL && t->n > 0) {
            t->n--;
        }
        c->in->per_ext[c->ext - IVR_EXT_INBOUND_MIN]--;
        c->counted = false;
    }
}

/* Frees the call's memory and flow references (it is unlinked already). */
static void call_free(struct icall *c)
{
    for (int i = 0; i < c->nsubs; i++) {
        ivr_flow_unref(c->subs[i].flow);
    }
    ivr_flow_unref(c->flow);
    free(c);
}

/* Frees a call that has no running session. */
static void drop(struct icall *c)
{
    release_limits(c);
    unlink_call(c);
    ivr_ari_call_destroy(c->ac);
    call_free(c);
}

/* ----------------------------------------------------------- session */

static void on_step(void *arg, const struct ivr_step *st)
{
    struct icall *c = arg;
    if (c->exec[0] != '\0') {
        ivr_recorder_step(c->in->cfg.recorder, c->tenant, c->exec, st);
    }
}

/* The subflow resolver: the subflows loaded before the call started. */
static struct ivr_flow *resolve_sub(const char *flow_id, int revision, void *arg)
{
    struct icall *c = arg;
    for (int i = 0; i < c->nsubs; i++) {
        if (c->subs[i].want == revision && strcmp(c->subs[i].key, flow_id) == 0) {
            return c->subs[i].flow != NULL ? ivr_flow_ref(c->subs[i].flow) : NULL;
        }
    }
    return NULL;
}

static void on_end(void *arg, const struct ivr_end *e)
{
    struct icall *c = arg;
    struct ivr_inbound *in = c->in;
    if (c->exec[0] != '\0') {
        ivr_recorder_end(in->cfg.recorder, c->tenant, c->exec, e);
    }
    if (!c->builtin) {
        in->st.ended++;
        LOG_INFO(IVR,
                 "event=inbound_flow_end extension=%d tenant=%lld flow=%lld revision=%d "
                 "channel=%s reason=%s disposition=\"%s\"",
                 c->ext, c->tenant, c->flow_id, c->revision, c->chan,
                 ivr_end_reason_name(e->reason), e->disposition != NULL ? e->disposition : "");
        if (in->cfg.on_end != NULL) {
            in->cfg.on_end(in->cfg.arg, c->tenant, c->ext, c->flow_id, c->revision, e);
        }
    }
    ivr_session_destroy(c->s);
    c->s = NULL;
    drop(c);
}

static void start_session(struct icall *c)
{
    const struct ivr_inbound_config *ic = &c->in->cfg;
    struct ivr_session_config cfg = { .ops = ivr_ari_ops(),
                                      .ops_ctx = c->ac,
                                      .http = ic->http,
                                      .http_ctx = ic->http_ctx,
                                      .loop = ic->loop,
                                      .subflow = resolve_sub,
                                      .subflow_arg = c,
                                      .on_step = ic->recorder != NULL ? on_step : NULL,
                                      .on_end = on_end,
                                      .cb_arg = c };
    char dialed[16];
    json_t *vars, *secrets = NULL;
    snprintf(dialed, sizeof(dialed), "%d", c->ext);
    if (!c->builtin && ic->secrets != NULL) {
        secrets = ic->secrets(ic->secrets_arg, c->tenant);
    }
    if (ic->http_for != NULL) {
        cfg.http_ctx = ic->http_for(ic->secrets_arg, c->tenant); /* its own allowlist */
    }
    vars = json_pack("{s:{s:s,s:s,s:s}}", "call", "caller_id", c->caller, "dialed", dialed,
                     "channel", c->chan);
    if (vars != NULL && json_is_object(secrets)) {
        json_object_set(vars, "secrets", secrets);
    }
    json_decref(secrets);
    c->s = vars != NULL ? ivr_session_create(c->flow, &cfg, vars) : NULL;
    json_decref(vars);
    if (c->s == NULL) {
        ari_channel_hangup(c->client, c->chan, "normal", NULL, NULL, NULL);
        c->in->st.failed++;
        drop(c);
        return;
    }
    c->stage = ST_RUN;
    ivr_ari_call_bind(c->ac, c->s);
    if (!c->builtin && ic->recorder != NULL) {
        struct ivr_exec_meta m = { .tenant = c->tenant,
                                   .flow_id = c->flow_id,
                                   .revision = c->revision,
                                   .direction = "inbound",
                                   .channel_id = c->chan,
                                   .extension = c->ext,
                                   .caller = c->caller[0] != '\0' ? c->caller : NULL };
        if (ivr_recorder_begin(ic->recorder, &m, c->exec) != 0) {
            c->exec[0] = '\0';
        }
    }
    if (!c->builtin) {
        c->in->st.started++;
        LOG_INFO(IVR,
                 "event=inbound_flow_start extension=%d tenant=%lld flow=%lld revision=%d "
                 "channel=%s",
                 c->ext, c->tenant, c->flow_id, c->revision, c->chan);
    }
    ivr_session_start(c->s, "inbound", NULL); /* on_end may run inside */
}

static void answered(struct ari_client *cl, const struct ari_result *res, void *arg)
{
    struct icall *c = arg;
    (void)cl;
    if (c->in == NULL) {
        call_free(c);
        return;
    }
    if (res->error != ARI_OK || ivr_ari_call_gone(c->ac)) {
        drop(c);
        return;
    }
    start_session(c);
}

/* Answers, then runs flow (a reference is taken) as the call's flow. */
static void answer_and_run(struct icall *c, struct ivr_flow *flow, bool builtin)
{
    if (c->flow != flow) {
        ivr_flow_unref(c->flow);
        c->flow = ivr_flow_ref(flow);
    }
    c->builtin = builtin;
    c->stage = ST_ANSWER;
    if (ari_channel_answer(c->client, c->chan, answered, c, NULL) != 0) {
        drop(c);
    }
}

enum refusal { R_UNKNOWN, R_OVERFLOW, R_FAILED };

static void refuse(struct icall *c, enum refusal why)
{
    struct ivr_inbound *in = c->in;
    bool overflow = why == R_OVERFLOW;
    release_limits(c);
    if (why == R_FAILED) {
        in->st.failed++;
        LOG_WARN(IVR, "event=inbound_failed extension=%d tenant=%lld channel=%s", c->ext, c->tenant,
                 c->chan);
    } else if (overflow) {
        in->st.overflow++;
        LOG_NOTICE(IVR, "event=inbound_overflow extension=%d tenant=%lld channel=%s", c->ext,
                   c->tenant, c->chan);
    } else {
        in->st.unknown++;
        LOG_NOTICE(IVR, "event=inbound_unknown extension=%d channel=%s", c->ext, c->chan);
    }
    answer_and_run(c, overflow ? in->overflow_flow : in->unknown_flow, true);
}

/* ------------------------------------------------------------- stages */

/* The compiled flow of a loaded revision, from the cache or compiled now (borrowed). */
static struct ivr_flow *compiled(struct ivr_inbound *in, long long flow_id,
                                 const struct ivr_store_result *r)
{
    struct ivr_flow *f = cache_get(in, flow_id, r->revision);
    if (f == NULL) {
        struct ivr_load_options opt = { 0 };
        struct ivr_report *rep = NULL;
        if (ivr_flow_load(r->definition, strlen(r->definition), &opt, &f, &rep) != 0 || f == NULL) {
            LOG_WARN(IVR, "event=inbound_flow_invalid flow=%lld revision=%d", flow_id, r->revision);
            ivr_report_free(rep);
            return NULL;
        }
        ivr_report_free(rep);
        cache_put(in, flow_id, r->revision, f);
        ivr_flow_unref(f); /* the cache holds it */
    }
    return f;
}

/* Numeric flow id of a subflow step, 0 when it is not one. */
static long long sub_id(const char *s)
{
    char *end;
    long long v;
    if (s == NULL || *s < '1' || *s > '9') {
        return 0;
    }
    v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? v : 0;
}

/* Lists the distinct subflows the call's flow names (at most SUB_MAX). */
static void collect_subs(struct icall *c)
{
    const struct ivr_flow *f = c->flow;
    c->nsubs = 0;
    for (size_t i = 0; i < f->nnodes; i++) {
        const struct ivr__subflow *sf = &f->nodes[i].u.sub;
        long long id;
        bool seen = false;
        if (f->nodes[i].type != IVR_N_SUBFLOW || (id = sub_id(sf->flow_id)) == 0) {
            continue;
        }
        for (int k = 0; k < c->nsubs; k++) {
            seen |= c->subs[k].flow_id == id && c->subs[k].want == sf->revision;
        }
        if (!seen && c->nsubs < SUB_MAX) {
            c->subs[c->nsubs++] = (struct isub){ sf->flow_id, id, sf->revision, NULL };
        }
    }
}

/* The next subflow to load, or answer and run once all are loaded. */
static void next_sub(struct icall *c)
{
    if (c->sub_i < c->nsubs) {
        c->stage = ST_SUB;
        c->retries = 0;
        send_stage(c);
        return;
    }
    answer_and_run(c, c->flow, false);
}

static void sub_loaded(void *arg, const struct ivr_store_result *r)
{
    struct icall *c = arg;
    struct ivr_inbound *in = c->in;
    struct isub *sb;
    if (in == NULL) {
        call_free(c);
        return;
    }
    if (ivr_ari_call_gone(c->ac)) {
        drop(c);
        return;
    }
    sb = &c->subs[c->sub_i++];
    if (r->status != 0 || r->definition == NULL) {
        LOG_WARN(IVR,
                 "event=inbound_subflow_missing extension=%d tenant=%lld flow=%lld "
                 "subflow=%lld revision=%d err=\"%s\"",
                 c->ext, c->tenant, c->flow_id, sb->flow_id, sb->want,
                 r->error != NULL ? r->error : "");
    } else {
        struct ivr_flow *f = compiled(in, sb->flow_id, r);
        sb->flow = f != NULL ? ivr_flow_ref(f) : NULL; /* invalid: the step takes "failed" */
    }
    next_sub(c);
}

static void loaded(void *arg, const struct ivr_store_result *r)
{
    struct icall *c = arg;
    struct ivr_inbound *in = c->in;
    struct ivr_flow *f;
    if (in == NULL) { /* the router was destroyed meanwhile */
        call_free(c);
        return;
    }
    if (ivr_ari_call_gone(c->ac)) {
        drop(c);
        return;
    }
    if (r->status != 0 || r->definition == NULL) {
        LOG_WARN(IVR, "event=inbound_flow_missing extension=%d tenant=%lld flow=%lld err=\"%s\"",
                 c->ext, c->tenant, c->flow_id, r->error != NULL ? r->error : "");
        refuse(c, R_FAILED);
        return;
    }
    c->revision = r->revision;
    f = compiled(in, c->flow_id, r);
    if (f == NULL) {
        refuse(c, R_FAILED);
        return;
    }
    c->flow = ivr_flow_ref(f);
    collect_subs(c);
    c->sub_i = 0;
    next_sub(c);
}

static void to_load(struct icall *c)
{
    c->stage = ST_LOAD;
    c->retries = 0;
    send_stage(c);
}

static void acquired(int status, redisReply *reply, void *arg)
{
    struct icall *c = arg;
    struct ivr_inbound *in = c->in;
    long long v =
        status == 0 && reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -2;
    if (in == NULL) { /* the router was destroyed meanwhile: a place taken expires */
        call_free(c);
        return;
    }
    if (v == 1) {
        c->kv_counted = true;
    }
    if (ivr_ari_call_gone(c->ac)) {
        drop(c);
        return;
    }
    if (v == -2) {
        in->st.limits_unavailable++;
        LOG_WARN(IVR, "event=inbound_limits_unavailable extension=%d tenant=%lld err=\"%s\"",
                 c->ext, c->tenant,
                 status == ERR_KV && reply != NULL && reply->str != NULL ? reply->str
                                                                         : err_str(status));
        refuse(c, R_OVERFLOW);
        return;
    }
    if (v != 1) {
        refuse(c, R_OVERFLOW);
        return;
    }
    to_load(c);
}

/* Asks Redis for a place under both limits (ST_LIMIT). */
static void kv_acquire(struct icall *c)
{
    struct ivr_inbound *in = c->in;
    char kt[96], ke[96], member[256], lt[16], le[16], ttl[24];
    const char *argv[6] = { kt, ke, member, lt, le, ttl };
    kv_keys(in->prefix, c, kt, ke, sizeof(kt));
    snprintf(member, sizeof(member), "%s:%s", in->node, c->chan);
    snprintf(lt, sizeof(lt), "%d", in->cfg.max_per_tenant);
    snprintf(le, sizeof(le), "%d", c->max_ext);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)in->cfg.limit_ttl_ms);
    c->stage = ST_LIMIT;
    if (kv_script_call(in->acquire, 2, 6, argv, NULL, acquired, c, NULL) != 0) {
        in->st.limits_unavailable++;
        LOG_WARN(IVR, "event=inbound_limits_unavailable extension=%d tenant=%lld", c->ext,
                 c->tenant);
        refuse(c, R_OVERFLOW);
    }
}

/* Pushes back the deadline of every place this node holds. */
static void keepalive_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ivr_inbound *in = w->data;
    char kt[96], ke[96], member[256], ttl[24];
    const char *argv[4] = { kt, ke, member, ttl };
    (void)loop, (void)revents;
    snprintf(ttl, sizeof(ttl), "%lld", (long long)in->cfg.limit_ttl_ms);
    for (struct icall *c = in->calls; c != NULL; c = c->next) {
        if (c->kv_counted) {
            kv_keys(in->prefix, c, kt, ke, sizeof(kt));
            snprintf(member, sizeof(member), "%s:%s", in->node, c->chan);
            (void)kv_script_call(in->refresh, 2, 4, argv, NULL, kv_ignore, NULL, NULL);
        }
    }
}

static void looked_up(void *arg, const struct ivr_ext_result *r)
{
    struct icall *c = arg;
    struct ivr_inbound *in = c->in;
    struct ten_slot *t;
    int *pe;
    if (in == NULL) {
        call_free(c);
        return;
    }
    if (ivr_ari_call_gone(c->ac)) {
        drop(c);
        return;
    }
    if (r->status != 0) {
        if (r->status != ERR_NOTFOUND) {
            LOG_WARN(IVR, "event=inbound_lookup_failed extension=%d err=\"%s\"", c->ext,
                     r->error != NULL ? r->error : "");
        }
        refuse(c, r->status == ERR_NOTFOUND ? R_UNKNOWN : R_FAILED);
        return;
    }
    c->tenant = r->tenant;
    c->flow_id = r->flow_id;
    c->pin_rev = r->revision;
    c->max_ext = r->max_calls >= 0 ? r->max_calls : in->cfg.max_per_extension;
    if (in->cfg.kv != NULL) {
        if (in->cfg.max_per_tenant > 0 || c->max_ext > 0) {
            kv_acquire(c);
            return;
        }
    } else {
        t = tenant_slot(in, c->tenant, true);
        pe = &in->per_ext[c->ext - IVR_EXT_INBOUND_MIN];
        if (t == NULL || (in->cfg.max_per_tenant > 0 && t->n >= in->cfg.max_per_tenant) ||
            (c->max_ext > 0 && *pe >= c->max_ext)) {
            refuse(c, R_OVERFLOW);
            return;
        }
        t->n++;
        (*pe)++;
        c->counted = true;
    }
    to_load(c);
}

/*
 * Sends the stage's query. Each query pins a connection of the pool; when
 * all are pinned (a burst of calls) the call waits in a FIFO retried every
 * RETRY_MS, for at most RETRY_MAX tries, instead of being refused.
 */
static void send_stage(struct icall *c)
{
    struct ivr_inbound *in = c->in;
    int rc;
    if (c->stage == ST_LOOKUP) {
        rc = ivr_ext_lookup(in->cfg.db, c->ext, looked_up, c);
    } else if (c->stage == ST_SUB) {
        const struct isub *sb = &c->subs[c->sub_i];
        rc = ivr_store_load(in->cfg.db, c->tenant, sb->flow_id, sb->want, sub_loaded, c);
    } else {
        rc = ivr_store_load(in->cfg.db, c->tenant, c->flow_id, c->pin_rev, loaded, c);
    }
    if (rc == ERR_BUSY && c->retries++ < RETRY_MAX) {
        c->waiting = true;
        c->pnext = NULL;
        if (in->pend_tail != NULL) {
            in->pend_tail->pnext = c;
        } else {
            in->pend_head = c;
        }
        in->pend_tail = c;
        if (!ev_is_active(&in->retry)) {
            ev_timer_set(&in->retry, RETRY_MS / 1000.0, 0.);
            ev_timer_start(in->cfg.loop, &in->retry);
        }
        return;
    }
    if (rc != 0) {
        refuse(c, R_FAILED);
    }
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ivr_inbound *in = w->data;
    struct icall *c = in->pend_head;
    (void)loop, (void)revents;
    in->pend_head = in->pend_tail = NULL;
    while (c != NULL) {
        struct icall *next = c->pnext;
        c->waiting = false;
        if (ivr_ari_call_gone(c->ac)) {
            drop(c);
        } else {
            send_stage(c);
        }
        c = next;
    }
}

static int parse_ext(const char *s)
{
    int v = 0;
    if (s == NULL || strlen(s) != 4) {
        return 0;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
        v = v * 10 + (*p - '0');
    }
    return v >= IVR_EXT_INBOUND_MIN && v <= IVR_EXT_INBOUND_MAX ? v : 0;
}

bool ivr_inbound_start(struct ivr_inbound *in, struct ari_client *client,
                       const struct ari_event *ev)
{
    const struct ari_ev_stasis_start *ss;
    struct icall *c;
    int ext;
    if (in == NULL || ev->type != ARI_EVENT_STASIS_START) {
        return false;
    }
    ss = &ev->stasis_start;
    if (ss->n_args < 1 || (ext = parse_ext(ss->args[0])) == 0 || ss->channel == NULL) {
        return false;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ari_channel_hangup(client, ss->channel->id, "congestion", NULL, NULL, NULL);
        return true;
    }
    c->in = in;
    c->client = client;
    c->ext = ext;
    snprintf(c->chan, sizeof(c->chan), "%s", ss->channel->id);
    snprintf(c->caller, sizeof(c->caller), "%s",
             ss->channel->caller != NULL && ss->channel->caller->number != NULL
                 ? ss->channel->caller->number
                 : "");
    if (ivr_ari_call_create(in->cfg.ari, client, c->chan, &c->ac) != 0) {
        free(c);
        return false; /* already someone's channel */
    }
    c->next = in->calls;
    if (in->calls != NULL) {
        in->calls->prev = c;
    }
    in->calls = c;
    in->st.active++;
    c->stage = ST_LOOKUP;
    LOG_INFO(IVR, "event=inbound_call extension=%d caller=%s channel=%s", ext,
             LOG_NUM(LOG_LEVEL_INFO, c->caller), c->chan);
    send_stage(c);
    return true;
}

/* ---------------------------------------------------------- lifecycle */

static struct ivr_flow *message_flow(const char *media, const char *cause)
{
    json_t *doc = json_pack("{s:s, s:s, s:{s:{s:s, s:{s:s}}, s:{s:s, s:{s:s, s:s, s:[{s:s}]}}}}",
                            "format", "ivrflow/1", "start", "s", "nodes", "s", "type", "start",
                            "next", "next", "h", "h", "type", "hangup", "props", "cause", cause,
                            "disposition", "refused", "final_prompt", "play", media);
    struct ivr_flow *f = NULL;
    struct ivr_report *rep = NULL;
    struct ivr_load_options opt = { 0 };
    if (doc == NULL) {
        return NULL;
    }
    if (ivr_flow_load_json(doc, &opt, &f, &rep) != 0) {
        f = NULL;
    }
    ivr_report_free(rep);
    json_decref(doc);
    return f;
}

int ivr_inbound_create(const struct ivr_inbound_config *cfg, struct ivr_inbound **out)
{
    struct ivr_inbound *in;
    if (cfg == NULL || cfg->loop == NULL || cfg->db == NULL || cfg->ari == NULL || out == NULL) {
        return ERR_INVAL;
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        return ERR_NOMEM;
    }
    in->cfg = *cfg;
    in->overflow_flow = message_flow(
        cfg->overflow_media != NULL ? cfg->overflow_media : "sound:all-circuits-busy-now", "busy");
    in->unknown_flow = message_flow(
        cfg->unknown_media != NULL ? cfg->unknown_media : "sound:ss-noservice", "rejected");
    if (in->overflow_flow == NULL || in->unknown_flow == NULL) {
        ivr_flow_unref(in->overflow_flow);
        ivr_flow_unref(in->unknown_flow);
        free(in);
        return ERR_INVAL;
    }
    in->cfg.overflow_media = NULL;
    in->cfg.unknown_media = NULL;
    snprintf(in->prefix, sizeof(in->prefix), "%s",
             cfg->kv_prefix != NULL ? cfg->kv_prefix : "ivr:in:");
    snprintf(in->node, sizeof(in->node), "%s", cfg->node_id != NULL ? cfg->node_id : "node");
    in->cfg.kv_prefix = NULL;
    in->cfg.node_id = NULL;
    if (in->cfg.limit_ttl_ms <= 0) {
        in->cfg.limit_ttl_ms = 120000;
    }
    ev_timer_init(&in->retry, retry_cb, RETRY_MS / 1000.0, 0.);
    in->retry.data = in;
    ev_timer_init(&in->keepalive, keepalive_cb, (double)in->cfg.limit_ttl_ms / 3000.0,
                  (double)in->cfg.limit_ttl_ms / 3000.0);
    in->keepalive.data = in;
    if (cfg->kv != NULL) {
        if (kv_script_create(cfg->kv, LUA_ACQUIRE, sizeof(LUA_ACQUIRE) - 1, &in->acquire) != 0 ||
            kv_script_create(cfg->kv, LUA_RELEASE, sizeof(LUA_RELEASE) - 1, &in->release) != 0 ||
            kv_script_create(cfg->kv, LUA_REFRESH, sizeof(LUA_REFRESH) - 1, &in->refresh) != 0) {
            ivr_flow_unref(in->overflow_flow);
            ivr_flow_unref(in->unknown_flow);
            free(in);
            return ERR_NOMEM;
        }
        ev_timer_start(in->cfg.loop, &in->keepalive);
    }
    *out = in;
    return 0;
}

void ivr_inbound_destroy(struct ivr_inbound *in)
{
    if (in == NULL) {
        return;
    }
    ev_timer_stop(in->cfg.loop, &in->retry);
    ev_timer_stop(in->cfg.loop, &in->keepalive);
    in->pend_head = in->pend_tail = NULL;
    while (in->calls != NULL) {
        struct icall *c = in->calls;
        if (c->s != NULL) {
            ivr_session_stop(c->s); /* on_end frees c */
            if (in->calls == c) {
                ivr_session_destroy(c->s);
                c->s = NULL;
                drop(c);
            }
        } else if (c->waiting) {
            drop(c); /* nothing in flight */
        } else {
            /* A request in flight still points at c: orphan it; its callback frees it. */
            release_limits(c);
            unlink_call(c);
            ivr_ari_call_destroy(c->ac);
            c->ac = NULL;
            c->in = NULL;
        }
    }
    cache_clear(in);
    ivr_flow_unref(in->overflow_flow);
    ivr_flow_unref(in->unknown_flow);
    free(in);
}

void ivr_inbound_stats(const struct ivr_inbound *in, struct ivr_inbound_stats *out)
{
    *out = in->st;
}
