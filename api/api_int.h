/* SPDX-License-Identifier: MIT */
/*
 * api internals shared by the api module's files. Not for other modules.
 *
 * Async continuations (database batches, Redis replies, password-hash
 * results) never keep a bare struct api_ctx pointer: they keep the request's
 * httpd handle and find the context again with api__ctx_lookup(), which
 * returns NULL once the request was answered, timed out or aborted for
 * shutdown (its arena, and the context in it, are then gone).
 */
#ifndef API_API_INT_H
#define API_API_INT_H

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "core/kv.h"

enum {
    API_KID_MAX = 64,
    API_SECRET_MAX = 256,
    API_SECRET_MIN = 32,
    API_CACHE_SLOTS = 1024,
    API_ERR_FIELD_MAX = 96,
};

struct api_jwt_key {
    char kid[API_KID_MAX];
    unsigned char secret[API_SECRET_MAX];
    size_t len;
};

/* A verified credential (token or API key), keyed by its BLAKE2b digest. */
struct api_cache_slot {
    unsigned char digest[32];
    struct api_principal p;
    int64_t until_us; /* wall clock; 0: empty */
};

struct api_hash_pool;

/* A route as stored: the public entry and its owner (the httpd route's arg). */
struct api_route_ent {
    struct api_route r; /* first: a route pointer is its entry's */
    struct api *api;
    api_chunk_cb *on_chunk; /* streaming routes */
    api_end_cb *on_end;
};

struct api {
    /* Configuration (strings owned). */
    struct api_config cfg;
    char *s_conninfo, *s_redis_host, *s_redis_socket, *s_redis_password;
    struct api_jwt_key *keys; /* keys[0] signs */
    size_t n_keys;
    /* Routes (each entry owned, pattern owned). */
    struct api_route_ent **routes;
    size_t n_routes, cap_routes;
    struct httpd *httpd;
    bool mounted;
    /* httpd thread only, from api_thread_start on. */
    struct ev_loop *loop;
    struct db_pool *db;
    struct kv_conn *kv;
    struct kv_script *rl_take;   /* books a login attempt against the limits */
    struct kv_script *rl_settle; /* undoes a booking that was not a failure */
    struct api_cache_slot cache[API_CACHE_SLOTS];
    struct api_hash_pool *hash;
    ev_timer purge;                          /* hourly purge of expired idempotency keys */
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified for unknown e-mails (equal timing) */
};

struct api_ctx {
    struct api *api;
    struct httpd_req *req;
    const struct api_route *route;
    uint64_t handle;
    struct api_principal p;
    char actor[48];
    char tenant_text[24];
    char sqlstate[8];
    void *data;
    /* Idempotency-Key state. */
    const char *idem_key;
    char idem_hash[65]; /* hex SHA-256 of method, path and body */
    bool idem_active;   /* a reservation is held: the answer must be stored */
    /* Streaming routes: body bytes held until the handler accepted the body. */
    bool stream_ready;  /* the handler returned HTTPD_DEFERRED */
    bool stream_paused; /* we paused the body to hold bytes */
    bool stream_end;    /* the end came before the handler was ready */
    char *held;
    size_t held_len;
};

/* The live context of handle, or NULL when its request is gone. */
struct api_ctx *api__ctx_lookup(struct api *a, uint64_t handle);

/* Runs the route's handler for ctx (authenticated and authorised); answers 500 for a failure. */
int api__run_handler(struct api_ctx *ctx);

/* Continues after authentication: permission, body rules, idempotency, handler. */
int api__after_auth(struct api_ctx *ctx);

/* Deletes idempotency keys older than 24 hours (every tenant). httpd thread. */
void api__idem_purge(struct api *a);

/* Idempotency: starts the reservation (deferred) or runs the handler. */
int api__idem_begin(struct api_ctx *ctx);

/* api.c: continuation of an API-key lookup (p NULL: refused); answers 401 or continues. */
int api__apikey_done(struct api_ctx *ctx, const struct api_principal *p);
/* api.c: replays a stored idempotent response. */
int api__respond_replay(struct api_ctx *ctx, int status, const char *body);
/* api_idem.c: stores the answer for the request's Idempotency-Key, then sends it (body taken). */
int api__idem_store(struct api_ctx *ctx, int status, char *body, const struct api_resp_opts *o);
/* api.c: sends a serialised answer with the options' headers. */
int api__send_raw(struct api_ctx *ctx, int status, const char *body, size_t len,
                  const struct api_resp_opts *o, bool replayed);

/* api_auth.c: JWT keys, tokens, the credential cache, the auth routes. */
int api__keys_load(struct api *a, const char *list, const char *file);
char *api__jwt_issue(const struct api *a, const struct api_principal *p, int64_t now_s);
int api__jwt_verify(const struct api *a, const char *token, int64_t now_s, struct api_principal *p);
const struct api_principal *api__cache_get(struct api *a, const char *cred, int64_t now_us);
void api__cache_put(struct api *a, const char *cred, const struct api_principal *p, int64_t now_us);
void api__cache_clear(struct api *a);
int api__apikey_auth(struct api_ctx *ctx, const char *key);
int api__auth_routes(struct api *a);
void api__random_token(char *out, size_t nbytes); /* base64url of nbytes random bytes */
void api__sha256_hex(const void *data, size_t len, char hex[65]);

/* api_hash.c: the password-hashing worker pool. */
typedef void api_hash_done_cb(struct api *a, uint64_t handle, int status, const char *hash,
                              void *arg);
int api__hash_pool_start(struct api *a, int threads);
void api__hash_pool_stop(struct api *a);
/* Hashes password (copied, wiped after use); done runs on the httpd thread. */
int api__hash_password(struct api *a, uint64_t handle, const char *password, api_hash_done_cb *done,
                       void *arg);
/* Verifies password against hash (both copied); status 0 match, ERR_AUTH mismatch. */
int api__hash_verify(struct api *a, uint64_t handle, const char *password, const char *hash,
                     api_hash_done_cb *done, void *arg);

/* api_res.c: tenants, users, roles, API keys, /me. */
int api__resource_routes(struct api *a);

/* api_input.c */
int api__etag_version(const char *header, int64_t *version);

#endif
