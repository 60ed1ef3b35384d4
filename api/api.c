/* SPDX-License-Identifier: MIT */
/*
 * api: lifecycle, route table, the request pipeline (authenticate,
 * authorise, idempotency, handler) and responses. See api/api.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mpsc.h"

/* ---------------------------------------------------------------- config */

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static void config_defaults(struct api_config *c)
{
    if (c->db_pool_size <= 0) {
        c->db_pool_size = 4;
    }
    if (c->db_query_timeout_ms <= 0) {
        c->db_query_timeout_ms = 10000;
    }
    if (c->access_ttl_s <= 0) {
        c->access_ttl_s = 900;
    }
    if (c->refresh_ttl_s <= 0) {
        c->refresh_ttl_s = 30 * 86400;
    }
    if (c->auth_cache_s < 0) {
        c->auth_cache_s = 0;
    } else if (c->auth_cache_s == 0) {
        c->auth_cache_s = 30;
    }
    if (c->login_max_failures <= 0) {
        c->login_max_failures = 5;
    }
    if (c->login_window_s <= 0) {
        c->login_window_s = 900;
    }
    if (c->hash_threads <= 0) {
        c->hash_threads = 2;
    }
    if (c->pwhash_ops == 0) {
        c->pwhash_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    }
    if (c->pwhash_mem == 0) {
        c->pwhash_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    }
}

int api_create(const struct api_config *cfg, struct api **out)
{
    struct api *a;
    char pw[32];
    int rc;

    *out = NULL;
    if (sodium_init() < 0) {
        LOG_ERR(API, "event=sodium_init_failed");
        return ERR_INTERNAL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return ERR_NOMEM;
    }
    a->cfg = *cfg;
    config_defaults(&a->cfg);
    a->s_conninfo = dup_or_null(cfg->db_conninfo);
    a->s_redis_host = dup_or_null(cfg->redis_host);
    a->s_redis_socket = dup_or_null(cfg->redis_socket);
    a->s_redis_password = dup_or_null(cfg->redis_password);
    a->cfg.db_conninfo = a->s_conninfo;
    a->cfg.redis_host = a->s_redis_host;
    a->cfg.redis_socket = a->s_redis_socket;
    a->cfg.redis_password = a->s_redis_password;
    a->cfg.jwt_keys = NULL;
    a->cfg.jwt_keys_file = NULL;
    rc = api__keys_load(a, cfg->jwt_keys, cfg->jwt_keys_file);
    if (rc != 0) {
        goto fail;
    }
    if (a->n_keys == 0) {
        /* Development convenience: a random key for this process. Tokens
         * then die with the process and are not accepted by other nodes. */
        unsigned char rnd[32];
        a->keys = calloc(1, sizeof(*a->keys));
        if (a->keys == NULL) {
            rc = ERR_NOMEM;
            goto fail;
        }
        randombytes_buf(rnd, sizeof(rnd));
        sodium_bin2hex(a->keys[0].kid, 17, rnd, 8);
        randombytes_buf(a->keys[0].secret, 32);
        a->keys[0].len = 32;
        a->n_keys = 1;
        LOG_WARN(API,
                 "event=ephemeral_jwt_key kid=%s msg=\"no api.jwt-keys configured: tokens "
                 "last only as long as this process and this node\"",
                 a->keys[0].kid);
    }
    /* A hash to verify against when the e-mail is unknown, so that the
     * answer takes as long as for a known one. */
    randombytes_buf(pw, sizeof(pw));
    if (crypto_pwhash_str(a->dummy_hash, pw, sizeof(pw), a->cfg.pwhash_ops, a->cfg.pwhash_mem) !=
        0) {
        rc = ERR_NOMEM;
        goto fail;
    }
    rc = api__hash_pool_start(a, a->cfg.hash_threads);
    if (rc == 0) {
        rc = api__auth_routes(a);
    }
    if (rc == 0) {
        rc = api__resource_routes(a);
    }
    if (rc == 0) {
        rc = api_dash_routes(a, cfg->dash);
    }
    if (rc == 0) {
        rc = api_campaigns_routes(a);
    }
    if (rc != 0) {
        goto fail;
    }
    *out = a;
    return 0;
fail:
    api_destroy(a);
    return rc;
}

void api_destroy(struct api *a)
{
    size_t i;

    if (a == NULL) {
        return;
    }
    api__hash_pool_stop(a);
    for (i = 0; i < a->n_routes; i++) {
        free((char *)a->routes[i]->r.pattern);
        free(a->routes[i]);
    }
    free(a->routes);
    if (a->keys != NULL) {
        sodium_memzero(a->keys, a->n_keys * sizeof(*a->keys));
    }
    free(a->keys);
    free(a->s_conninfo);
    free(a->s_redis_host);
    free(a->s_redis_socket);
    free(a->s_redis_password);
    free(a);
}

/* ---------------------------------------------------------------- routes */

int api_route_add(struct api *a, const struct api_route *r)
{
    struct api_route_ent *e;
    size_t i;

    if (a->mounted) {
        return ERR_BUSY;
    }
    if (r->handler == NULL || r->pattern == NULL || strncmp(r->pattern, "/api/v1/", 8) != 0 ||
        r->methods == 0 || (r->methods & (r->methods - 1)) != 0 || r->perm >= API_PERM_COUNT_) {
        return ERR_INVAL;
    }
    for (i = 0; i < a->n_routes; i++) {
        if (a->routes[i]->r.methods == r->methods &&
            strcmp(a->routes[i]->r.pattern, r->pattern) == 0) {
            return ERR_EXISTS;
        }
    }
    if (a->n_routes == a->cap_routes) {
        size_t cap = a->cap_routes == 0 ? 32 : a->cap_routes * 2;
        struct api_route_ent **nr = realloc(a->routes, cap * sizeof(*nr));
        if (nr == NULL) {
            return ERR_NOMEM;
        }
        a->routes = nr;
        a->cap_routes = cap;
    }
    e = malloc(sizeof(*e));
    if (e == NULL) {
        return ERR_NOMEM;
    }
    e->r = *r;
    e->api = a;
    e->on_chunk = NULL;
    e->on_end = NULL;
    e->r.pattern = strdup(r->pattern);
    if (e->r.pattern == NULL) {
        free(e);
        return ERR_NOMEM;
    }
    a->routes[a->n_routes++] = e;
    return 0;
}

int api_route_add_stream(struct api *a, const struct api_route *r, api_chunk_cb *on_chunk,
                         api_end_cb *on_end)
{
    int rc;

    if (on_chunk == NULL || on_end == NULL) {
        return ERR_INVAL;
    }
    rc = api_route_add(a, r);
    if (rc == 0) {
        a->routes[a->n_routes - 1]->on_chunk = on_chunk;
        a->routes[a->n_routes - 1]->on_end = on_end;
    }
    return rc;
}

size_t api_route_count(const struct api *a)
{
    return a->n_routes;
}

const struct api_route *api_route_at(const struct api *a, size_t i)
{
    return i < a->n_routes ? &a->routes[i]->r : NULL;
}

static int dispatch(struct httpd_req *req, void *arg);

/* Streaming body piece: held while the handler has not accepted the body yet. */
static int stream_chunk(struct httpd_req *req, const void *data, size_t len, void *arg)
{
    struct api_ctx *ctx = httpd_req_data(req);
    const struct api_route_ent *e = arg;
    char *h;

    if (ctx == NULL) {
        return ERR_INVAL;
    }
    if (ctx->stream_ready) {
        return e->on_chunk(ctx, data, len, e->r.arg);
    }
    /* At most one read buffer (64 KiB) arrives before we pause. */
    h = arena_alloc(httpd_req_arena(req), ctx->held_len + len);
    if (h == NULL) {
        return ERR_NOMEM;
    }
    if (ctx->held_len > 0) {
        memcpy(h, ctx->held, ctx->held_len);
    }
    memcpy(h + ctx->held_len, data, len);
    ctx->held = h;
    ctx->held_len += len;
    ctx->stream_paused = true;
    return HTTPD_PAUSE;
}

static void stream_end(struct httpd_req *req, void *arg)
{
    struct api_ctx *ctx = httpd_req_data(req);
    const struct api_route_ent *e = arg;

    if (ctx == NULL) {
        return;
    }
    if (!ctx->stream_ready) {
        ctx->stream_end = true;
        return;
    }
    e->on_end(ctx, e->r.arg);
}

/* The handler accepted a streaming body: hand over what was held. */
static void stream_start(struct api_ctx *ctx)
{
    struct api *a = ctx->api;
    uint64_t handle = ctx->handle;
    const struct api_route_ent *e = (const struct api_route_ent *)ctx->route;
    const struct api_route *r = ctx->route;
    struct httpd_req *req = ctx->req;
    int rc = HTTPD_DONE;

    ctx->stream_ready = true;
    if (ctx->held_len > 0) {
        size_t n = ctx->held_len;
        ctx->held_len = 0;
        rc = e->on_chunk(ctx, ctx->held, n, r->arg);
        ctx = api__ctx_lookup(a, handle);
        if (ctx == NULL) {
            return;
        }
        if (rc < 0) {
            api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
            return;
        }
    }
    if (ctx->stream_end) {
        ctx->stream_end = false;
        e->on_end(ctx, r->arg);
        return;
    }
    if (ctx->stream_paused) {
        ctx->stream_paused = false;
        if (rc != HTTPD_PAUSE) {
            httpd_req_resume(req); /* else the route resumes when it can take more */
        }
    }
}

int api_mount(struct api *a, struct httpd *h)
{
    size_t i;
    int rc;

    for (i = 0; i < a->n_routes; i++) {
        struct api_route_ent *e = a->routes[i];
        const struct api_route *r = &e->r;
        struct httpd_route hr = {
            .methods = r->methods,
            .pattern = r->pattern,
            .handler = dispatch,
            .arg = e,
            .max_body = r->max_body,
            .on_chunk = e->on_chunk != NULL ? stream_chunk : NULL,
            .on_end = e->on_chunk != NULL ? stream_end : NULL,
        };
        rc = httpd_route_add(h, &hr);
        if (rc != 0) {
            LOG_ERR(API, "event=route_add_failed pattern=%s err=\"%s\"", r->pattern, err_str(rc));
            return rc;
        }
    }
    a->httpd = h;
    a->mounted = true;
    return 0;
}

/* ------------------------------------------------------- thread hooks */

/*
 * Failed-login limits, counted before the password is checked so that
 * parallel attempts cannot slip past the limit and a 401 is never sent
 * before its failure is counted. KEYS[1] account counter, KEYS[2] address
 * counter.
 *
 * take: ARGV[1] window seconds, ARGV[2] account limit, ARGV[3] address
 * limit. Books one attempt on both; over either limit the booking is undone
 * and the answer is {account, address, 0}, else {account, address, 1}.
 */
static const char rl_take_lua[] = "local a = redis.call('INCR', KEYS[1])\n"
                                  "if a == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
                                  "local b = redis.call('INCR', KEYS[2])\n"
                                  "if b == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end\n"
                                  "if a > tonumber(ARGV[2]) or b > tonumber(ARGV[3]) then\n"
                                  "  redis.call('DECR', KEYS[1])\n"
                                  "  redis.call('DECR', KEYS[2])\n"
                                  "  return {a - 1, b - 1, 0}\n"
                                  "end\n"
                                  "return {a, b, 1}\n";

/*
 * settle: the attempt was not a failure. ARGV[1] "ok" (the right password:
 * the account's failures are forgotten) or "void" (no verdict: the booking
 * is undone). The address booking is undone either way.
 */
static const char rl_settle_lua[] =
    "if ARGV[1] == 'ok' then redis.call('DEL', KEYS[1])\n"
    "elseif redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end\n"
    "if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end\n"
    "return 1\n";

static void purge_cb(int status, PGresult *res, void *arg)
{
    (void)arg;
    if (status != 0 && status != ERR_CANCELED) {
        LOG_WARN(API, "event=idempotency_purge_failed sqlstate=%s err=\"%s\"",
                 db_result_sqlstate(res), err_str(status));
    } else if (status == 0 && PQcmdTuples(res)[0] != '\0' && strcmp(PQcmdTuples(res), "0") != 0) {
        LOG_INFO(API, "event=idempotency_purged rows=%s", PQcmdTuples(res));
    }
}

/* Expired idempotency keys of every tenant go once an hour (platform path). */
void api__idem_purge(struct api *a)
{
    static const char *const sql[] = {
        "BEGIN",
        "SET LOCAL ROLE dialer_platform",
        "SELECT set_config('app.actor', 'api:purge', true)",
        "DELETE FROM api_idempotency WHERE created_at < now() - interval '24 hours'",
        "COMMIT",
    };
    struct db_conn *c;
    size_t i;

    if (a->db == NULL || db_pool_pin(a->db, &c) != 0) {
        return; /* next hour */
    }
    for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        struct db_query q = { .sql = sql[i], .cb = purge_cb };
        if (db_query_send(c, &q, NULL) != 0) {
            break;
        }
    }
    db_pool_unpin(a->db, c);
}

static void purge_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    api__idem_purge(CONTAINER_OF(w, struct api, purge));
}

static void thread_start(struct httpd *h, struct ev_loop *loop, void *arg)
{
    struct api *a = arg;
    struct db_opts o = {
        .name = "api",
        .query_timeout_ms = a->cfg.db_query_timeout_ms,
    };
    int rc;

    a->httpd = h;
    a->loop = loop;
    ev_timer_init(&a->purge, purge_timer, 60.0, 3600.0);
    ev_timer_start(loop, &a->purge);
    rc = db_pool_create(loop, a->cfg.db_conninfo != NULL ? a->cfg.db_conninfo : "dbname=dialer",
                        a->cfg.db_pool_size, &o, &a->db);
    if (rc != 0) {
        LOG_ERR(API, "event=db_pool_failed err=\"%s\"", err_str(rc));
        a->db = NULL;
    }
    if (a->cfg.redis_host != NULL || a->cfg.redis_socket != NULL) {
        struct kv_options ko = {
            .host = a->cfg.redis_host,
            .port = a->cfg.redis_port,
            .unix_path = a->cfg.redis_socket,
            .password = a->cfg.redis_password,
            .name = "api",
        };
        rc = kv_conn_create(loop, &ko, &a->kv);
        if (rc == 0) {
            rc = kv_script_create(a->kv, rl_take_lua, sizeof(rl_take_lua) - 1, &a->rl_take);
        }
        if (rc == 0) {
            rc = kv_script_create(a->kv, rl_settle_lua, sizeof(rl_settle_lua) - 1, &a->rl_settle);
        }
        if (rc != 0) {
            LOG_ERR(API, "event=kv_failed err=\"%s\"", err_str(rc));
        }
    }
}

static void thread_stop(struct httpd *h, struct ev_loop *loop, void *arg)
{
    struct api *a = arg;
    (void)h;
    ev_timer_stop(loop, &a->purge);
    db_pool_destroy(a->db);
    a->db = NULL;
    kv_conn_destroy(a->kv);
    a->kv = NULL;
    a->rl_take = NULL;
    a->rl_settle = NULL;
}

void api_httpd_hooks(struct api *a, struct httpd_config *cfg)
{
    cfg->on_thread_start = thread_start;
    cfg->on_thread_stop = thread_stop;
    cfg->thread_arg = a;
}

/* ---------------------------------------------------------------- context */

struct httpd_req *api_ctx_req(struct api_ctx *ctx)
{
    return ctx->req;
}

const struct api_principal *api_ctx_principal(const struct api_ctx *ctx)
{
    return &ctx->p;
}

const char *api_ctx_request_id(const struct api_ctx *ctx)
{
    return httpd_req_id(ctx->req);
}

struct api *api_ctx_api(const struct api_ctx *ctx)
{
    return ctx->api;
}

const char *api_ctx_actor(const struct api_ctx *ctx)
{
    return ctx->actor;
}

const char *api_ctx_tenant_text(const struct api_ctx *ctx)
{
    return ctx->tenant_text;
}

const char *api_ctx_sqlstate(const struct api_ctx *ctx)
{
    return ctx->sqlstate;
}

void api_ctx_set_data(struct api_ctx *ctx, void *data)
{
    ctx->data = data;
}

void *api_ctx_data(const struct api_ctx *ctx)
{
    return ctx->data;
}

char *api_ctx_printf(struct api_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    s = arena_alloc(httpd_req_arena(ctx->req), (size_t)n + 1);
    if (s == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

struct api_ctx *api__ctx_lookup(struct api *a, uint64_t handle)
{
    struct httpd_req *req = httpd_req_lookup(a->httpd, handle);
    return req != NULL ? httpd_req_data(req) : NULL;
}

uint64_t api_ctx_handle(const struct api_ctx *ctx)
{
    return ctx->handle;
}

struct api_ctx *api_ctx_lookup(struct api *a, uint64_t handle)
{
    return a->httpd != NULL ? api__ctx_lookup(a, handle) : NULL;
}

struct httpd *api_httpd(const struct api *a)
{
    return a->httpd;
}

struct db_pool *api_db_pool(struct api *a)
{
    return a->db;
}

struct kv_conn *api_kv(struct api *a)
{
    return a->kv;
}

static void set_principal(struct api_ctx *ctx, const struct api_principal *p)
{
    ctx->p = *p;
    snprintf(ctx->actor, sizeof(ctx->actor), "%s:%lld",
             p->kind == API_PRINCIPAL_API_KEY ? "api_key" : "user", (long long)p->id);
    snprintf(ctx->tenant_text, sizeof(ctx->tenant_text), "%lld", (long long)p->tenant_id);
}

/* -------------------------------------------------------------- pipeline */

int api__run_handler(struct api_ctx *ctx)
{
    struct api *a = ctx->api;
    uint64_t handle = ctx->handle;
    int rc = ctx->route->handler(ctx, ctx->route->arg);

    if (rc == HTTPD_DEFERRED) {
        ctx = api__ctx_lookup(a, handle);
        if (ctx != NULL && ((const struct api_route_ent *)ctx->route)->on_chunk != NULL) {
            stream_start(ctx);
        }
        return HTTPD_DEFERRED;
    }
    /* Done or failed: answer unless the handler did. */
    ctx = api__ctx_lookup(a, handle);
    if (ctx != NULL) {
        LOG_ERR(API, "event=handler_failed req=%s route=%s err=\"%s\"", api_ctx_request_id(ctx),
                ctx->route->pattern, rc < 0 ? err_str(rc) : "returned without an answer");
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
    }
    return HTTPD_DONE;
}

int api__after_auth(struct api_ctx *ctx)
{
    const struct api_route *r = ctx->route;
    size_t len = 0;

    if (r->perm != API_PERM_PUBLIC &&
        !api_perm_allows(r->perm, ctx->p.role, ctx->p.platform_operator)) {
        LOG_INFO(API, "event=forbidden req=%s actor=%s perm=%s", api_ctx_request_id(ctx),
                 ctx->actor, api_perm_matrix[r->perm].name);
        api_error(ctx, HTTPD_STATUS_FORBIDDEN, "forbidden",
                  "your role does not allow this operation", NULL);
        return HTTPD_DONE;
    }
    httpd_req_body(ctx->req, &len);
    if ((r->flags & API_ROUTE_NO_BODY) != 0 && len > 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "unexpected_body",
                  "this operation takes no request body", NULL);
        return HTTPD_DONE;
    }
    if ((r->flags & API_ROUTE_IDEMPOTENT) != 0 &&
        httpd_req_header(ctx->req, "Idempotency-Key") != NULL) {
        return api__idem_begin(ctx);
    }
    return api__run_handler(ctx);
}

static int unauthorized(struct api_ctx *ctx, const char *code, const char *message)
{
    LOG_INFO(API, "event=unauthenticated req=%s client=%s reason=%s", api_ctx_request_id(ctx),
             httpd_req_client(ctx->req), code);
    api_error(ctx, HTTPD_STATUS_UNAUTHORIZED, code, message, NULL);
    return HTTPD_DONE;
}

static int dispatch(struct httpd_req *req, void *arg)
{
    const struct api_route_ent *e = arg;
    const struct api_route *r = &e->r;
    struct api_ctx *ctx = arena_calloc(httpd_req_arena(req), sizeof(*ctx));
    const char *authz;
    const char *key;
    const struct api_principal *cached;
    struct api_principal p;
    int64_t now_us = clock_wall_us();

    if (ctx == NULL) {
        return ERR_NOMEM;
    }
    ctx->req = req;
    ctx->route = r;
    ctx->handle = httpd_req_handle(req);
    ctx->api = e->api;
    httpd_req_set_data(req, ctx);
    if (r->perm == API_PERM_PUBLIC) {
        return api__after_auth(ctx);
    }
    authz = httpd_req_header(req, "Authorization");
    key = httpd_req_header(req, "X-API-Key");
    if (authz != NULL && key != NULL) {
        return unauthorized(ctx, "invalid_credentials",
                            "send either Authorization or X-API-Key, not both");
    }
    if (authz != NULL) {
        if (strncasecmp(authz, "Bearer ", 7) != 0 || authz[7] == '\0') {
            return unauthorized(ctx, "invalid_credentials",
                                "Authorization must be \"Bearer <access token>\"");
        }
        authz += 7;
        cached = api__cache_get(ctx->api, authz, now_us);
        if (cached != NULL) {
            set_principal(ctx, cached);
            return api__after_auth(ctx);
        }
        if (api__jwt_verify(ctx->api, authz, now_us / 1000000, &p) != 0) {
            return unauthorized(ctx, "invalid_token", "the access token is invalid or expired");
        }
        api__cache_put(ctx->api, authz, &p, now_us);
        set_principal(ctx, &p);
        return api__after_auth(ctx);
    }
    if (key != NULL) {
        cached = api__cache_get(ctx->api, key, now_us);
        if (cached != NULL) {
            set_principal(ctx, cached);
            return api__after_auth(ctx);
        }
        return api__apikey_auth(ctx, key);
    }
    return unauthorized(ctx, "unauthenticated",
                        "authentication required: Authorization: Bearer <token> or X-API-Key");
}

/* Called by api_auth.c once an API key was checked in the database. */
int api__apikey_done(struct api_ctx *ctx, const struct api_principal *p)
{
    if (p == NULL) {
        return unauthorized(ctx, "invalid_api_key", "the API key is invalid, expired or revoked");
    }
    api__cache_put(ctx->api, httpd_req_header(ctx->req, "X-API-Key"), p, clock_wall_us());
    set_principal(ctx, p);
    return api__after_auth(ctx);
}

/* ------------------------------------------------------------- responses */

int api__send_raw(struct api_ctx *ctx, int status, const char *body, size_t len,
                  const struct api_resp_opts *o, bool replayed)
{
    struct httpd_header hs[4];
    size_t n = 0;
    char etag[80];
    char retry[24];

    if (o != NULL && o->etag != NULL) {
        snprintf(etag, sizeof(etag), "\"%s\"", o->etag);
        hs[n++] = (struct httpd_header){ "ETag", etag };
    }
    if (o != NULL && o->location != NULL) {
        hs[n++] = (struct httpd_header){ "Location", o->location };
    }
    if (o != NULL && o->retry_after_s > 0) {
        snprintf(retry, sizeof(retry), "%d", o->retry_after_s);
        hs[n++] = (struct httpd_header){ "Retry-After", retry };
    }
    if (replayed) {
        hs[n++] = (struct httpd_header){ "Idempotent-Replayed", "true" };
    }
    return httpd_respond_raw(ctx->req, status, body != NULL ? "application/json" : NULL, body,
                             body != NULL ? len : 0, hs, n);
}

int api__respond_replay(struct api_ctx *ctx, int status, const char *body)
{
    return api__send_raw(ctx, status, body, body != NULL ? strlen(body) : 0, NULL, true);
}

int api_respond_json(struct api_ctx *ctx, int status, json_t *body,
                     const struct api_resp_opts *opts)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            return httpd_error(ctx->req, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error",
                               NULL);
        }
        len = strlen(text);
    }
    if (ctx->idem_active) {
        ctx->idem_active = false;
        rc = api__idem_store(ctx, status, text, opts);
        if (rc == 0) {
            return 0; /* answered when the response is stored */
        }
    }
    rc = api__send_raw(ctx, status, text, len, opts, false);
    free(text);
    return rc;
}

int api_respond_raw(struct api_ctx *ctx, int status, const char *content_type, const void *body,
                    size_t len)
{
    ctx->idem_active = false;
    return httpd_respond_raw(ctx->req, status, content_type, body, len, NULL, 0);
}

int api_error(struct api_ctx *ctx, int status, const char *code, const char *message,
              const char *field)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message != NULL ? message : code);
    if (e != NULL && field != NULL) {
        json_object_set_new(e, "field", json_string(field));
    }
    return api_respond_json(ctx, status, json_pack("{s:o*}", "error", e), NULL);
}

int api_error_db(struct api_ctx *ctx, int status)
{
    const char *st = ctx->sqlstate;

    if (status == ERR_DISCONNECTED || status == ERR_TIMEOUT) {
        return api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                         "the database is unavailable; try again", NULL);
    }
    if (strcmp(st, "23505") == 0) {
        return api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                         "an object with the same unique value exists", NULL);
    }
    if (strcmp(st, "23503") == 0) {
        return api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_reference",
                         "a referenced object does not exist", NULL);
    }
    if (strncmp(st, "23", 2) == 0 || strcmp(st, "22P02") == 0 || strcmp(st, "22001") == 0) {
        return api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "invalid_value",
                         "a value was refused by a constraint", NULL);
    }
    LOG_ERR(API, "event=db_failed req=%s sqlstate=%s err=\"%s\"", api_ctx_request_id(ctx), st,
            err_str(status));
    return api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
}
