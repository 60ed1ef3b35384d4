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
 * The script reads the liveness keys of other nodes by name, which needs a
 * single Redis instance (not Redis Cluster), as kv does.
 *
 * Keys: <prefix>lim:cps:<key> (hash t, ts), <prefix>lim:ch:<key> (hash
 * node/incarnation -> channels), <prefix>lim:node:<node>/<incarnation>
 * (liveness).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "campaign/campaign_int.h"
#include "core/err.h"

static const char ACQUIRE_LUA[] =
    "local now = tonumber(ARGV[1])\n"
    "local want = tonumber(ARGV[2])\n"
    "local rate = tonumber(ARGV[3])\n"
    "local burst = tonumber(ARGV[4])\n"
    "local maxch = tonumber(ARGV[5])\n"
    "local node = ARGV[6]\n"
    "local ttl = tonumber(ARGV[7])\n"
    "local np = ARGV[8]\n"
    "redis.call('SET', KEYS[3], '1', 'EX', ttl)\n"
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
    "    if h[i] == node or redis.call('EXISTS', np .. h[i]) == 1 then\n"
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
    "return grant\n";

static const char RELEASE_LUA[] =
    "local v = redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))\n"
    "if v <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) v = 0 end\n"
    "return v\n";

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

/* KEYS[1] channel hash, KEYS[2] liveness; ARGV: field, count, ttl */
static const char SET_LUA[] = "redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))\n"
                              "local n = tonumber(ARGV[2])\n"
                              "if n > 0 then redis.call('HSET', KEYS[1], ARGV[1], n) else "
                              "redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
                              "return n\n";

struct campaign_limits {
    struct kv_conn *kv;
    struct kv_script *acquire;
    struct kv_script *release;
    struct kv_script *set;
    struct kv_script *refund;
    char prefix[64];
    char node[160]; /* "<node id>/<incarnation>": this process's field */
    int ttl_s;
};

struct grant_ctx {
    campaign_grant_cb *cb;
    void *arg;
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
    free(l);
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

int campaign_limits_acquire(struct campaign_limits *l, const struct campaign_limit_spec *spec,
                            int want, int64_t now_us, campaign_grant_cb *cb, void *arg)
{
    char k1[256], k2[256], k3[256], np[128], a[5][32], ttl[16];
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
    const char *argv[11] = { k1, k2, k3, a[0], a[1], a[2], a[3], a[4], l->node, ttl, np };
    struct grant_ctx *g = malloc(sizeof(*g));
    if (!g) {
        return ERR_NOMEM;
    }
    g->cb = cb;
    g->arg = arg;
    int rc = kv_script_call(l->acquire, 3, 11, argv, NULL, grant_reply, g, NULL);
    if (rc != 0) {
        free(g);
    }
    return rc;
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
    struct grant_ctx *g = malloc(sizeof(*g));
    if (!g) {
        return ERR_NOMEM;
    }
    g->cb = cb;
    g->arg = arg;
    int rc = kv_script_call(l->release, 1, 3, argv, NULL, grant_reply, g, NULL);
    if (rc != 0) {
        free(g);
    }
    return rc;
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
    struct grant_ctx *g = malloc(sizeof(*g));
    if (!g) {
        return ERR_NOMEM;
    }
    g->cb = cb;
    g->arg = arg;
    int rc = kv_script_call(l->refund, 2, 5, argv, NULL, grant_reply, g, NULL);
    if (rc != 0) {
        free(g);
    }
    return rc;
}

int campaign_limits_set(struct campaign_limits *l, const char *key, int n, campaign_grant_cb *cb,
                        void *arg)
{
    char k[256], live[256], num[16], ttl[16];
    if (!l || !key || n < 0 || strlen(key) > 128) {
        return ERR_INVAL;
    }
    snprintf(k, sizeof(k), "%slim:ch:%s", l->prefix, key);
    snprintf(live, sizeof(live), "%slim:node:%s", l->prefix, l->node);
    snprintf(num, sizeof(num), "%d", n);
    snprintf(ttl, sizeof(ttl), "%d", l->ttl_s);
    const char *argv[5] = { k, live, l->node, num, ttl };
    struct grant_ctx *g = malloc(sizeof(*g));
    if (!g) {
        return ERR_NOMEM;
    }
    g->cb = cb;
    g->arg = arg;
    int rc = kv_script_call(l->set, 2, 5, argv, NULL, grant_reply, g, NULL);
    if (rc != 0) {
        free(g);
    }
    return rc;
}
