/* SPDX-License-Identifier: MIT */
/*
 * Global limits shared by every dialerd node through Redis: a token bucket
 * per key for calls per second, and a channel count per key held per node.
 *
 * One Lua script takes launches atomically against both: it refills the
 * bucket to the caller's time (never backwards), counts the channels of
 * live nodes (a node is live while its liveness key, refreshed with a TTL
 * at every call, exists; the channels of a dead node are dropped from the
 * count when its key expires), grants min(want, tokens, free channels) and
 * books them. Release gives channels back; refund gives back launches
 * granted and not used, their channels and their rate (the bucket capped at
 * its size). Set (campaign_limits_set) writes
 * the process's own count absolutely: the owner's periodic correction of
 * the drift left by commands whose outcome it never learnt (an acquire that
 * timed out in the client but ran in Redis books channels nobody holds; a
 * release refused while the connection was down gives nothing back). Time comes from the caller
 * (core/clock), so tests drive it; nodes are expected to keep NTP time.
 *
 * Fail closed: when Redis is down, slow or answers an error, the grant is 0
 * and the status says why; the scheduler's gate then stays shut.
 *
 * Channels are held per process, not per node id: the hash field and the
 * liveness key are "<node>/<incarnation>", the incarnation drawn at random
 * when the limiter is created. A node killed (kill -9) and restarted under
 * the same id therefore starts with no channels of its own, while the dead
 * process's channels keep counting until its liveness key expires (ttl_s):
 * its calls may still be up until the new process has hung them up. Under
 * one shared field the dead process's bookings were never given back and
 * the node's channel cap shrank with every crash until it stopped dialing.
 *
 * A dead process's channels are calls still up on Asterisk until somebody
 * ends them, so they do not stop counting when its liveness key expires:
 * each process also keeps a hold key (HOLD_TTL_S, far longer than the
 * liveness), and a field counts while its liveness or its hold key exists.
 * A process whose liveness lapsed is an orphan: campaign_limits_orphans()
 * hands each orphan to one surviving process (a claim key, SET NX with a
 * short TTL), which adopts its attempts (campaign_store_adopt) and then
 * moves the count to itself with campaign_limits_takeover(): in one script
 * its own field grows by the calls it adopted and the dead field and its
 * hold go, so at no moment are the calls uncounted. A process's calls are
 * counted under several keys (the global one, carrier trunks, campaigns'
 * own trunk limits): campaign_limits_takeover_keys() moves them all in one
 * script (32 keys a call, the hold removed by the last), each adopted call
 * counted under the keys its trunk names. Every process is also a member of
 * a process set (SADD at each acquire and set; removed when taken over or
 * when its hold is gone), which the orphan search reads besides the key's
 * fields: a dead process that held a trunk's unused tokens and no channel
 * under the global key is found and taken over too. Decision: fail closed;
 * an orphan nobody takes over (no survivor can reach PostgreSQL) keeps its
 * channels until its hold expires (the bound on a lost takeover).
 *
 * The script reads the liveness keys of other nodes by name, which needs a
 * single Redis instance (not Redis Cluster), as kv does.
 *
 * Keys: <prefix>lim:cps:<key> (hash t, ts), <prefix>lim:ch:<key> (hash
 * node/incarnation -> channels), <prefix>lim:node:<node>/<incarnation>
 * (liveness), <prefix>lim:hold:<node>/<incarnation> (hold),
 * <prefix>lim:claim:<node>/<incarnation> (takeover in progress, by whom),
 * <prefix>lim:procs (set of node/incarnation: the processes that booked).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "campaign/campaign_int.h"
#include "core/clock.h"
#include "core/err.h"

/* The pause after Redis lost its data: kv's reconnect back-off (5 s at most) + 1 s + margin. */
#define REBOOK_MS 6500
/* How long a dead process's channels count without a takeover. */
#define HOLD_TTL_S 600
/* How long a survivor has to take an orphan over before another may. */
#define CLAIM_TTL_S 10

/*
 * Redis lost its data (a restart without persistence): every process's
 * bookings are gone, although their calls are up. The epoch key (no TTL)
 * tells: a caller that knew an epoch and finds none, or another one, starts
 * a re-booking pause (REBOOK_MS, longer than the longest reconnect back-off
 * plus the once-a-second absolute write, campaign_limits_set) during which
 * nothing is granted, so every live process has written its count again
 * before anyone is granted more. A process that never saw an epoch (just
 * started) creates one without a pause: nothing says data was lost.
 * ARGV[e]: epoch key, pause key, the caller's known epoch, a new epoch,
 * pause ms. Leaves the current epoch in ep and paused true/false.
 */
#define EPOCH_LUA(e)                                                                         \
    "local ep = redis.call('GET', ARGV[" #e "])\n"                                           \
    "if not ep or (ARGV[" #e " + 2] ~= '' and ep ~= ARGV[" #e " + 2]) then\n"                \
    "  if not ep then ep = ARGV[" #e " + 3] redis.call('SET', ARGV[" #e "], ep) end\n"       \
    "  if ARGV[" #e " + 2] ~= '' then\n"                                                     \
    "    redis.call('SET', ARGV[" #e " + 1], '1', 'PX', tonumber(ARGV[" #e " + 4]), 'NX')\n" \
    "  end\n"                                                                                \
    "end\n"                                                                                  \
    "local paused = redis.call('EXISTS', ARGV[" #e " + 1]) == 1\n"

static const char ACQUIRE_LUA[] =
    "local now = tonumber(ARGV[1])\n"
    "local want = tonumber(ARGV[2])\n"
    "local rate = tonumber(ARGV[3])\n"
    "local burst = tonumber(ARGV[4])\n"
    "local maxch = tonumber(ARGV[5])\n"
    "local node = ARGV[6]\n"
    "local ttl = tonumber(ARGV[7])\n"
    "local np = ARGV[8]\n"
    "local hp = ARGV[9]\n"
    "redis.call('SET', KEYS[3], '1', 'EX', ttl)\n"
    "redis.call('SET', hp .. node, '1', 'EX', tonumber(ARGV[10]))\n"
    "redis.call('SADD', ARGV[16], node)\n" EPOCH_LUA(
        11) "if paused then return {0, ep} end\n"
            "local grant = want\n"
            "local tokens, ts\n"
            "if rate > 0 then\n"
            "  local b = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
            "  tokens = tonumber(b[1]) or burst\n"
            "  ts = tonumber(b[2]) or now\n"
            "  if now > ts then\n"
            "    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)\n"
            "    ts = now\n"
            "  end\n"
            "  grant = math.min(grant, math.floor(tokens))\n"
            "end\n"
            "if maxch > 0 then\n"
            "  local used = 0\n"
            "  local h = redis.call('HGETALL', KEYS[2])\n"
            "  for i = 1, #h, 2 do\n"
            "    if h[i] == node or redis.call('EXISTS', np .. h[i]) == 1 or\n"
            "       redis.call('EXISTS', hp .. h[i]) == 1 then\n"
            "      used = used + tonumber(h[i + 1])\n"
            "    else\n"
            "      redis.call('HDEL', KEYS[2], h[i])\n"
            "    end\n"
            "  end\n"
            "  grant = math.min(grant, maxch - used)\n"
            "end\n"
            "if grant < 0 then grant = 0 end\n"
            "if rate > 0 then\n"
            "  redis.call('HSET', KEYS[1], 't', tostring(tokens - grant), 'ts', tostring(ts))\n"
            "  redis.call('PEXPIRE', KEYS[1], 3600000)\n"
            "end\n"
            "if grant > 0 then redis.call('HINCRBY', KEYS[2], node, grant) end\n"
            "return {grant, ep}\n";

static const char RELEASE_LUA[] =
    "local v = redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))\n"
    "if v <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) v = 0 end\n"
    "return v\n";

/* KEYS[1] channel hash, KEYS[2] liveness, KEYS[3] hold; ARGV: field, count, ttl, hold ttl,
 * the epoch's five, the process set */
static const char SET_LUA[] = "redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))\n"
                              "redis.call('SET', KEYS[3], '1', 'EX', tonumber(ARGV[4]))\n"
                              "redis.call('SADD', ARGV[10], ARGV[1])\n" EPOCH_LUA(
                                  5) "local n = tonumber(ARGV[2])\n"
                                     "if n > 0 then redis.call('HSET', KEYS[1], ARGV[1], n) else "
                                     "redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
                                     "return {n, ep}\n";

/*
 * Orphans: KEYS[1] channel hash; ARGV: self, liveness prefix, hold prefix,
 * claim prefix, claim ttl, max, the process set. Other processes whose
 * liveness is gone, among the hash's fields and the process set (a process
 * may hold channels under other keys only: a trunk's unused tokens):
 * without a hold they are dropped (as the acquire would), with one they are
 * claimed for self (SET NX) and returned as field, count pairs (the count
 * under KEYS[1], "0" without a field there).
 */
static const char ORPHANS_LUA[] =
    "local out, seen = {}, {}\n"
    "local function consider(f, n)\n"
    "  if seen[f] or f == ARGV[1] or redis.call('EXISTS', ARGV[2] .. f) == 1 then return end\n"
    "  seen[f] = true\n"
    "  if redis.call('EXISTS', ARGV[3] .. f) == 0 then\n"
    "    redis.call('HDEL', KEYS[1], f)\n"
    "    redis.call('SREM', ARGV[7], f)\n"
    "  elseif #out < 2 * tonumber(ARGV[6]) and\n"
    "         redis.call('SET', ARGV[4] .. f, ARGV[1], 'NX', 'EX', tonumber(ARGV[5])) then\n"
    "    out[#out + 1] = f\n"
    "    out[#out + 1] = n\n"
    "  end\n"
    "end\n"
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #h, 2 do consider(h[i], h[i + 1]) end\n"
    "local m = redis.call('SMEMBERS', ARGV[7])\n"
    "for i = 1, #m do consider(m[i], '0') end\n"
    "return out\n";

/*
 * Takeover: KEYS[1] own liveness, KEYS[2] own hold, KEYS[3..] channel
 * hashes; ARGV: self, dead, ttl, hold ttl, liveness prefix, hold prefix,
 * claim prefix, final ("1": the last call of the takeover), the process
 * set, then the count adopted under each hash in KEYS order. Under every hash, in one step, own
 * count + n and the dead field gone; the final call also ends the claim and
 * the dead process's hold (its fields under hashes not listed stop counting
 * with it). -1 (no field removed) when the dead process is alive again (it
 * was only stalled: its own fields keep counting its calls).
 */
static const char TAKEOVER_LUA[] =
    "redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[3]))\n"
    "redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[4]))\n"
    "local final = ARGV[8] == '1'\n"
    "if final then redis.call('DEL', ARGV[7] .. ARGV[2]) end\n"
    "local alive = redis.call('EXISTS', ARGV[5] .. ARGV[2]) == 1\n"
    "local moved = 0\n"
    "for i = 3, #KEYS do\n"
    "  local n = tonumber(ARGV[i + 7])\n"
    "  if n > 0 then redis.call('HINCRBY', KEYS[i], ARGV[1], n) moved = moved + n end\n"
    "  if not alive then redis.call('HDEL', KEYS[i], ARGV[2]) end\n"
    "end\n"
    "if alive then return -1 end\n"
    "if final then\n"
    "  redis.call('DEL', ARGV[6] .. ARGV[2])\n"
    "  redis.call('SREM', ARGV[9], ARGV[2])\n"
    "end\n"
    "return moved\n";

/* KEYS[1] bucket, KEYS[2] channel hash; ARGV: field, count, burst. Channels and rate back. */
static const char REFUND_LUA[] =
    "local n = tonumber(ARGV[2])\n"
    "local v = redis.call('HINCRBY', KEYS[2], ARGV[1], -n)\n"
    "if v <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) v = 0 end\n"
    "local t = tonumber(redis.call('HGET', KEYS[1], 't'))\n"
    "if t then\n"
    "  redis.call('HSET', KEYS[1], 't', tostring(math.min(tonumber(ARGV[3]), t + n)))\n"
    "end\n"
    "return v\n";

struct campaign_limits {
    struct kv_conn *kv;
    struct kv_script *acquire;
    struct kv_script *release;
    struct kv_script *set;
    struct kv_script *orphans;
    struct kv_script *takeover;
    struct kv_script *refund;
    char prefix[64];
    char node[160]; /* "<node id>/<incarnation>": this process's field */
    int ttl_s;
    /* the Redis data epoch last seen ("": none yet): "<node>/<incarnation>@<ms>" of its
     * creator, as long as struct epoch_args' fresh (a shorter copy was never kept, and a
     * process with a long node id never saw Redis lose its data) */
    char epoch[200];
    int pending;    /* acquire/set replies owed (they write epoch) */
    bool destroyed; /* freed by the last reply */
};

struct grant_ctx {
    campaign_grant_cb *cb;
    void *arg;
    struct campaign_limits *l; /* acquire and set: the reply carries the epoch */
};

int campaign_limits_create(struct kv_conn *kv, const char *prefix, const char *node, int ttl_s,
                           struct campaign_limits **out)
{
    if (!kv || !prefix || !node || !*node || strlen(prefix) >= 64 || strlen(node) >= 128 ||
        ttl_s < 1 || !out) {
        return ERR_INVAL;
    }
    struct campaign_limits *l = calloc(1, sizeof(*l));
    if (!l) {
        return ERR_NOMEM;
    }
    l->kv = kv;
    l->ttl_s = ttl_s;
    snprintf(l->prefix, sizeof(l->prefix), "%s", prefix);
    if (sodium_init() < 0) {
        free(l);
        return ERR_INTERNAL;
    }
    snprintf(l->node, sizeof(l->node), "%s/%08" PRIx32, node, randombytes_random());
    int rc = kv_script_create(kv, ACQUIRE_LUA, sizeof(ACQUIRE_LUA) - 1, &l->acquire);
    if (rc == 0) {
        rc = kv_script_create(kv, RELEASE_LUA, sizeof(RELEASE_LUA) - 1, &l->release);
    }
    if (rc == 0) {
        rc = kv_script_create(kv, SET_LUA, sizeof(SET_LUA) - 1, &l->set);
    }
    if (rc == 0) {
        rc = kv_script_create(kv, ORPHANS_LUA, sizeof(ORPHANS_LUA) - 1, &l->orphans);
    }
    if (rc == 0) {
        rc = kv_script_create(kv, TAKEOVER_LUA, sizeof(TAKEOVER_LUA) - 1, &l->takeover);
    }
    if (rc == 0) {
        rc = kv_script_create(kv, REFUND_LUA, sizeof(REFUND_LUA) - 1, &l->refund);
    }
    if (rc != 0) {
        free(l); /* scripts belong to kv and go with it */
        return rc;
    }
    *out = l;
    return 0;
}

void campaign_limits_destroy(struct campaign_limits *l)
{
    if (l != NULL && l->pending > 0) {
        l->destroyed = true; /* the last reply frees it (kv completes every command) */
        return;
    }
    free(l);
}

/* {count, epoch} of acquire and set: the epoch is kept, the count returned. */
static void epoch_reply(int status, redisReply *reply, void *arg)
{
    struct grant_ctx *g = arg;
    struct campaign_limits *l = g->l;
    int n = 0;
    if (status == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                        reply->element[0]->type != REDIS_REPLY_INTEGER)) {
        status = ERR_PROTO;
    }
    if (status == 0) {
        n = reply->element[0]->integer > 0 ? (int)reply->element[0]->integer : 0;
        const redisReply *e = reply->element[1];
        if (e->type == REDIS_REPLY_STRING && e->len < sizeof(l->epoch)) {
            memcpy(l->epoch, e->str, e->len);
            l->epoch[e->len] = '\0';
        }
    }
    if (g->cb) {
        g->cb(status, status ? 0 : n, g->arg);
    }
    if (--l->pending == 0 && l->destroyed) {
        free(l);
    }
    free(g);
}

/* The epoch arguments (EPOCH_LUA): keys, the known epoch, a new one, the pause. */
struct epoch_args {
    char key[128], pause[128], fresh[200], ms[16];
};

static void epoch_args(const struct campaign_limits *l, int64_t now_us, struct epoch_args *e)
{
    snprintf(e->key, sizeof(e->key), "%slim:epoch", l->prefix);
    snprintf(e->pause, sizeof(e->pause), "%slim:rebook", l->prefix);
    snprintf(e->fresh, sizeof(e->fresh), "%s@%" PRId64, l->node, now_us / 1000);
    snprintf(e->ms, sizeof(e->ms), "%d", REBOOK_MS);
}

static void grant_reply(int status, redisReply *reply, void *arg)
{
    struct grant_ctx *g = arg;
    int granted = 0;
    if (status == 0 && reply->type != REDIS_REPLY_INTEGER) {
        status = ERR_PROTO;
    }
    if (status == 0) {
        granted = reply->integer > 0 ? (int)reply->integer : 0;
    }
    if (g->cb) {
        g->cb(status, status ? 0 : granted, g->arg);
    }
    free(g);
}

/*
 * Sends script s with a grant_ctx for cb/arg: 0 or the error (nothing sent).
 * Replies through epoch_reply (acquire, set) are counted in l->pending.
 */
static int grant_call(struct campaign_limits *l, struct kv_script *s, int nkeys, int argc,
                      const char *const *argv, kv_reply_cb *reply, campaign_grant_cb *cb, void *arg)
{
    struct grant_ctx *g = malloc(sizeof(*g));
    if (!g) {
        return ERR_NOMEM;
    }
    g->cb = cb;
    g->arg = arg;
    g->l = l;
    int rc = kv_script_call(s, nkeys, argc, argv, NULL, reply, g, NULL);
    if (rc != 0) {
        free(g);
    } else if (reply == epoch_reply) {
        l->pending++;
    }
    return rc;
}

int campaign_limits_acquire(struct campaign_limits *l, const struct campaign_limit_spec *spec,
                            int want, int64_t now_us, campaign_grant_cb *cb, void *arg)
{
    char k1[256], k2[256], k3[256], np[128], hp[128], a[5][32], ttl[16], hold[16];
    if (!l || !spec || !spec->key || want < 0 || strlen(spec->key) > 128) {
        return ERR_INVAL;
    }
    double burst = spec->burst > 0 ? spec->burst : (spec->cps > 1 ? spec->cps : 1);
    snprintf(k1, sizeof(k1), "%slim:cps:%s", l->prefix, spec->key);
    snprintf(k2, sizeof(k2), "%slim:ch:%s", l->prefix, spec->key);
    snprintf(k3, sizeof(k3), "%slim:node:%s", l->prefix, l->node);
    snprintf(np, sizeof(np), "%slim:node:", l->prefix);
    snprintf(a[0], sizeof(a[0]), "%" PRId64, now_us / 1000);
    snprintf(a[1], sizeof(a[1]), "%d", want);
    snprintf(a[2], sizeof(a[2]), "%.6f", spec->cps > 0 ? spec->cps : 0.0);
    snprintf(a[3], sizeof(a[3]), "%.6f", burst);
    snprintf(a[4], sizeof(a[4]), "%d", spec->max_channels > 0 ? spec->max_channels : 0);
    snprintf(ttl, sizeof(ttl), "%d", l->ttl_s);
    snprintf(hp, sizeof(hp), "%slim:hold:", l->prefix);
    snprintf(hold, sizeof(hold), "%d", HOLD_TTL_S);
    struct epoch_args e = { 0 };
    epoch_args(l, now_us, &e);
    char procs[128];
    snprintf(procs, sizeof(procs), "%slim:procs", l->prefix);
    const char *argv[19] = { k1, k2, k3,   a[0],  a[1],    a[2],     a[3],    a[4], l->node, ttl,
                             np, hp, hold, e.key, e.pause, l->epoch, e.fresh, e.ms, procs };
    return grant_call(l, l->acquire, 3, 19, argv, epoch_reply, cb, arg);
}

int campaign_limits_release(struct campaign_limits *l, const char *key, int n,
                            campaign_grant_cb *cb, void *arg)
{
    char k[256], num[16];
    if (!l || !key || n < 0 || strlen(key) > 128) {
        return ERR_INVAL;
    }
    snprintf(k, sizeof(k), "%slim:ch:%s", l->prefix, key);
    snprintf(num, sizeof(num), "%d", n);
    const char *argv[3] = { k, l->node, num };
    return grant_call(l, l->release, 1, 3, argv, grant_reply, cb, arg);
}

int campaign_limits_refund(struct campaign_limits *l, const struct campaign_limit_spec *spec, int n,
                           campaign_grant_cb *cb, void *arg)
{
    char k1[256], k2[256], num[16], burst[32];
    if (!l || !spec || !spec->key || n < 0 || strlen(spec->key) > 128) {
        return ERR_INVAL;
    }
    snprintf(k1, sizeof(k1), "%slim:cps:%s", l->prefix, spec->key);
    snprintf(k2, sizeof(k2), "%slim:ch:%s", l->prefix, spec->key);
    snprintf(num, sizeof(num), "%d", n);
    snprintf(burst, sizeof(burst), "%.6f",
             spec->burst > 0 ? spec->burst : (spec->cps > 1 ? spec->cps : 1));
    const char *argv[5] = { k1, k2, l->node, num, burst };
    return grant_call(l, l->refund, 2, 5, argv, grant_reply, cb, arg);
}

int campaign_limits_set(struct campaign_limits *l, const char *key, int n, campaign_grant_cb *cb,
                        void *arg)
{
    char k[256], live[256], holdk[256], num[16], ttl[16], hold[16];
    if (!l || !key || n < 0 || strlen(key) > 128) {
        return ERR_INVAL;
    }
    snprintf(k, sizeof(k), "%slim:ch:%s", l->prefix, key);
    snprintf(live, sizeof(live), "%slim:node:%s", l->prefix, l->node);
    snprintf(holdk, sizeof(holdk), "%slim:hold:%s", l->prefix, l->node);
    snprintf(num, sizeof(num), "%d", n);
    snprintf(ttl, sizeof(ttl), "%d", l->ttl_s);
    snprintf(hold, sizeof(hold), "%d", HOLD_TTL_S);
    struct epoch_args e = { 0 };
    epoch_args(l, clock_wall_us(), &e);
    char procs[128];
    snprintf(procs, sizeof(procs), "%slim:procs", l->prefix);
    const char *argv[13] = { k,     live,    holdk,    l->node, num,  ttl,  hold,
                             e.key, e.pause, l->epoch, e.fresh, e.ms, procs };
    return grant_call(l, l->set, 3, 13, argv, epoch_reply, cb, arg);
}

const char *campaign_limits_self(const struct campaign_limits *l)
{
    return l->node;
}

struct orphans_ctx {
    campaign_orphans_cb *cb;
    void *arg;
};

static void orphans_reply(int status, redisReply *reply, void *arg)
{
    struct orphans_ctx *o = arg;
    struct campaign_orphan v[CAMPAIGN_ORPHANS_MAX];
    size_t n = 0;
    if (status == 0 && reply->type != REDIS_REPLY_ARRAY) {
        status = ERR_PROTO;
    }
    for (size_t i = 0; status == 0 && i + 1 < reply->elements && n < CAMPAIGN_ORPHANS_MAX; i += 2) {
        const redisReply *f = reply->element[i], *c = reply->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || c->type != REDIS_REPLY_STRING ||
            f->len >= sizeof(v[0].process)) {
            continue;
        }
        memcpy(v[n].process, f->str, f->len);
        v[n].process[f->len] = '\0';
        v[n].channels = (int)strtol(c->str, NULL, 10);
        n++;
    }
    if (o->cb) {
        o->cb(status, v, status ? 0 : n, o->arg);
    }
    free(o);
}

int campaign_limits_orphans(struct campaign_limits *l, const char *key, int max,
                            campaign_orphans_cb *cb, void *arg)
{
    char k[256], np[128], hp[128], cp[128], ttl[16], mx[16], procs[128];
    if (!l || !key || strlen(key) > 128 || max < 1 || !cb) {
        return ERR_INVAL;
    }
    snprintf(k, sizeof(k), "%slim:ch:%s", l->prefix, key);
    snprintf(np, sizeof(np), "%slim:node:", l->prefix);
    snprintf(hp, sizeof(hp), "%slim:hold:", l->prefix);
    snprintf(cp, sizeof(cp), "%slim:claim:", l->prefix);
    snprintf(ttl, sizeof(ttl), "%d", CLAIM_TTL_S);
    snprintf(mx, sizeof(mx), "%d", max < CAMPAIGN_ORPHANS_MAX ? max : CAMPAIGN_ORPHANS_MAX);
    snprintf(procs, sizeof(procs), "%slim:procs", l->prefix);
    const char *argv[8] = { k, l->node, np, hp, cp, ttl, mx, procs };
    struct orphans_ctx *o = malloc(sizeof(*o));
    if (!o) {
        return ERR_NOMEM;
    }
    o->cb = cb;
    o->arg = arg;
    int rc = kv_script_call(l->orphans, 1, 8, argv, NULL, orphans_reply, o, NULL);
    if (rc != 0) {
        free(o);
    }
    return rc;
}

/* The calls of one takeover: cb once every call has answered (the first error, or -1, wins). */
struct takeover_ctx {
    campaign_grant_cb *cb;
    void *arg;
    int left; /* replies owed */
    int status;
    int moved; /* sum of the replies, -1 once one said the dead process is alive */
};

static void takeover_reply(int status, redisReply *reply, void *arg)
{
    struct takeover_ctx *t = arg;
    if (status == 0 && reply->type != REDIS_REPLY_INTEGER) {
        status = ERR_PROTO;
    }
    if (status != 0 && t->status == 0) {
        t->status = status;
    } else if (status == 0 && t->moved >= 0) {
        t->moved = reply->integer < 0 ? -1 : t->moved + (int)reply->integer;
    }
    if (--t->left > 0) {
        return;
    }
    if (t->cb) {
        t->cb(t->status, t->status ? 0 : t->moved, t->arg);
    }
    free(t);
}

/* One script call for v[0..n) (n <= CAMPAIGN_TAKEOVER_KEYS_PER_CALL). */
static int takeover_call(struct campaign_limits *l, const char *dead,
                         const struct campaign_takeover_key *v, size_t n, bool final,
                         struct takeover_ctx *t)
{
    enum { FIXED_KEYS = 2, FIXED_ARGS = 9 };

    char live[256], holdk[256], ttl[16], hold[16], np[128], hp[128], cp[128], procs[128];
    char keys[CAMPAIGN_TAKEOVER_KEYS_PER_CALL][256], nums[CAMPAIGN_TAKEOVER_KEYS_PER_CALL][16];
    const char *argv[FIXED_KEYS + 2 * CAMPAIGN_TAKEOVER_KEYS_PER_CALL + FIXED_ARGS];
    snprintf(live, sizeof(live), "%slim:node:%s", l->prefix, l->node);
    snprintf(holdk, sizeof(holdk), "%slim:hold:%s", l->prefix, l->node);
    snprintf(ttl, sizeof(ttl), "%d", l->ttl_s);
    snprintf(hold, sizeof(hold), "%d", HOLD_TTL_S);
    snprintf(np, sizeof(np), "%slim:node:", l->prefix);
    snprintf(hp, sizeof(hp), "%slim:hold:", l->prefix);
    snprintf(cp, sizeof(cp), "%slim:claim:", l->prefix);
    snprintf(procs, sizeof(procs), "%slim:procs", l->prefix);
    size_t a = 0;
    argv[a++] = live;
    argv[a++] = holdk;
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%slim:ch:%s", l->prefix, v[i].key);
        argv[a++] = keys[i];
    }
    const char *fixed[FIXED_ARGS] = {
        l->node, dead, ttl, hold, np, hp, cp, final ? "1" : "0", procs
    };
    for (size_t i = 0; i < FIXED_ARGS; i++) {
        argv[a++] = fixed[i];
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%d", v[i].n);
        argv[a++] = nums[i];
    }
    return kv_script_call(l->takeover, (int)(FIXED_KEYS + n), (int)a, argv, NULL, takeover_reply, t,
                          NULL);
}

int campaign_limits_takeover_keys(struct campaign_limits *l, const char *dead,
                                  const struct campaign_takeover_key *v, size_t nv,
                                  campaign_grant_cb *cb, void *arg)
{
    if (!l || !dead || !*dead || strlen(dead) >= 160 || strcmp(dead, l->node) == 0 || !v ||
        nv < 1) {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < nv; i++) {
        if (!v[i].key || strlen(v[i].key) > 128 || v[i].n < 0) {
            return ERR_INVAL;
        }
    }
    struct takeover_ctx *t = calloc(1, sizeof(*t));
    if (!t) {
        return ERR_NOMEM;
    }
    t->cb = cb;
    t->arg = arg;
    t->left = 1; /* held until every call is sent */
    for (size_t i = 0; i < nv; i += CAMPAIGN_TAKEOVER_KEYS_PER_CALL) {
        size_t n =
            nv - i < CAMPAIGN_TAKEOVER_KEYS_PER_CALL ? nv - i : CAMPAIGN_TAKEOVER_KEYS_PER_CALL;
        int rc = takeover_call(l, dead, v + i, n, i + n == nv, t);
        if (rc != 0) {
            /* no later call (the final one ends the hold): what was sent
             * moved its keys; the dead process's other fields keep counting
             * until its hold expires */
            if (i == 0) {
                free(t);
                return rc;
            }
            t->status = rc;
            break;
        }
        t->left++;
    }
    /* the replies come from the loop, never from inside kv_script_call: drop the hold */
    t->left--;
    return 0;
}

int campaign_limits_takeover(struct campaign_limits *l, const char *key, const char *dead, int n,
                             campaign_grant_cb *cb, void *arg)
{
    if (!key) {
        return ERR_INVAL;
    }
    const struct campaign_takeover_key v = { .key = key, .n = n };
    return campaign_limits_takeover_keys(l, dead, &v, 1, cb, arg);
}
