/* SPDX-License-Identifier: MIT */
/*
 * api/login: POST /api/v1/auth/login, /auth/refresh, /auth/logout.
 *
 * login:   body check -> Redis failure counters (429 at the limit) -> user
 *          by e-mail (platform path) -> Argon2id verify on a worker ->
 *          on failure count it and answer 401; on success a refresh token
 *          row and last_login_at, then the token pair.
 * refresh: one statement rotates the token or, when it was already
 *          rotated, revokes its family (api_auth.c has the model).
 * logout:  revokes the family of the refresh token given; 204 whatever the
 *          token (no oracle). Access tokens already issued stay valid until
 *          they expire (api.access-ttl, 15 minutes by default).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_rest.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

struct login {
    char email[256];
    char *password; /* arena; wiped when done */
    char acct_key[80];
    char ip_key[80];
    bool booked; /* the attempt is booked against the limits (take) */
    bool found;
    bool active; /* user enabled and tenant active */
    char hash[crypto_pwhash_STRBYTES];
    struct api_principal p;
    char refresh[64];
    char refresh_hash[65];
};

static void wipe(struct login *l)
{
    if (l->password != NULL) {
        sodium_memzero(l->password, strlen(l->password));
    }
}

static json_t *token_pair(struct api_ctx *ctx, const struct api_principal *p, const char *refresh)
{
    struct api *a = ctx->api;
    char *jwt = api__jwt_issue(a, p, clock_wall_us() / 1000000);
    json_t *o;

    if (jwt == NULL) {
        return NULL;
    }
    o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "access_token", jwt, "token_type", "Bearer",
                  "expires_in", (json_int_t)a->cfg.access_ttl_s, "refresh_token", refresh,
                  "refresh_expires_in", (json_int_t)a->cfg.refresh_ttl_s);
    free(jwt);
    return o;
}

/* ------------------------------------------------------------ rate limit */

static int64_t addr_limit(const struct api *a)
{
    return a->cfg.login_max_failures * 4;
}

static void kv_logged(int status, redisReply *reply, void *arg)
{
    (void)reply;
    (void)arg;
    if (status != 0) {
        LOG_WARN(API, "event=login_limiter_write_failed err=\"%s\"", err_str(status));
    }
}

/*
 * Settles a booked attempt that was not a failure: ok (the right password)
 * forgets the account's failures; otherwise (no verdict: database down,
 * workers busy, account disabled) the booking is undone. A failure stays
 * booked: it was counted before the answer went out.
 */
static void settle(struct api *a, struct login *l, bool ok)
{
    const char *argv[3] = { l->acct_key, l->ip_key, ok ? "ok" : "void" };

    if (!l->booked || a->rl_settle == NULL) {
        return;
    }
    l->booked = false;
    kv_script_call(a->rl_settle, 2, 3, argv, NULL, kv_logged, NULL, NULL);
}

/* ----------------------------------------------------------------- login */

static void login_stored(struct api_ctx *ctx, int status, void *arg)
{
    struct login *l = arg;
    json_t *body;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    body = token_pair(ctx, &l->p, l->refresh);
    LOG_INFO(API, "event=login req=%s user=%lld tenant=%lld", api_ctx_request_id(ctx),
             (long long)l->p.id, (long long)l->p.tenant_id);
    api_respond_json(ctx, body != NULL ? HTTPD_STATUS_OK : HTTPD_STATUS_INTERNAL_ERROR, body, NULL);
}

static void verified(struct api *a, uint64_t handle, int status, const char *hash, void *arg)
{
    struct api_ctx *ctx = api__ctx_lookup(a, handle);
    struct login *l = arg;
    char uid[24], tid[24], ttl[24];
    const char *params[6];
    struct api_stmt st[2] = {
        { .sql = "INSERT INTO refresh_tokens (tenant_id, user_id, family_id, token_hash,"
                 " expires_at, user_agent, client_ip)"
                 " VALUES ($1, $2, gen_random_uuid(), decode($3, 'hex'),"
                 " now() + make_interval(secs => $4::int), left($5, 512), $6::inet)",
          .nparams = 6,
          .params = params },
        { .sql = "UPDATE users SET last_login_at = now() WHERE id = $2 AND tenant_id = $1",
          .nparams = 2,
          .params = params },
    };
    int rc;
    (void)hash;

    if (ctx == NULL) {
        return; /* the client left */
    }
    wipe(l);
    if (status != 0 || !l->found) {
        l->booked = false; /* counted: the booking stays */
        LOG_INFO(API, "event=login_failed req=%s client=%s", api_ctx_request_id(ctx),
                 httpd_req_client(ctx->req));
        api_error(ctx, HTTPD_STATUS_UNAUTHORIZED, "invalid_credentials", "wrong e-mail or password",
                  NULL);
        return;
    }
    if (!l->active) {
        settle(a, l, false);
        api_error(ctx, HTTPD_STATUS_FORBIDDEN, "account_disabled",
                  "this account or its tenant is disabled", NULL);
        return;
    }
    settle(a, l, true);
    api__random_token(l->refresh, 32);
    api__sha256_hex(l->refresh, strlen(l->refresh), l->refresh_hash);
    snprintf(tid, sizeof(tid), "%lld", (long long)l->p.tenant_id);
    snprintf(uid, sizeof(uid), "%lld", (long long)l->p.id);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)a->cfg.refresh_ttl_s);
    params[0] = tid;
    params[1] = uid;
    params[2] = l->refresh_hash;
    params[3] = ttl;
    params[4] = httpd_req_header(ctx->req, "User-Agent");
    params[5] = httpd_req_client(ctx->req);
    rc = api_db_run(ctx, API_SCOPE_PLATFORM, st, 2, login_stored, l);
    if (rc != 0) {
        api_error_db(ctx, rc);
    }
}

static int user_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct login *l = arg;
    (void)ctx;

    if (PQntuples(res) != 1) {
        return 0;
    }
    l->found = !PQgetisnull(res, 0, 4);
    l->p.kind = API_PRINCIPAL_USER;
    l->p.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    l->p.tenant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    l->p.role = api_role_parse(PQgetvalue(res, 0, 2));
    l->p.platform_operator = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    snprintf(l->hash, sizeof(l->hash), "%s", l->found ? PQgetvalue(res, 0, 4) : "");
    l->active = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
    return 0;
}

static void user_done(struct api_ctx *ctx, int status, void *arg)
{
    struct login *l = arg;
    struct api *a = ctx->api;
    int rc;

    if (status != 0) {
        wipe(l);
        settle(a, l, false);
        api_error_db(ctx, status);
        return;
    }
    rc = api__hash_verify(a, ctx->handle, l->password, l->found ? l->hash : a->dummy_hash, verified,
                          l);
    if (rc != 0) {
        wipe(l);
        settle(a, l, false);
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "busy", "too many logins at once; try again",
                  NULL);
    }
}

static void start_lookup(struct api_ctx *ctx, struct login *l)
{
    const char *params[1] = { l->email };
    struct api_stmt st = {
        .sql = "SELECT u.id, u.tenant_id, u.role, u.is_platform_operator, u.password_hash,"
               " (u.disabled_at IS NULL AND t.status = 'active')"
               " FROM users u JOIN tenants t ON t.id = u.tenant_id"
               " WHERE lower(u.email) = lower($1)",
        .nparams = 1,
        .params = params,
        .rows = user_rows,
        .arg = l,
    };
    int rc = api_db_run(ctx, API_SCOPE_PLATFORM, &st, 1, user_done, l);

    if (rc != 0) {
        wipe(l);
        settle(ctx->api, l, false);
        api_error_db(ctx, rc);
    }
}

struct rl_wait {
    struct api *api;
    uint64_t handle;
    struct login *l;
};

static void limits_cb(int status, redisReply *reply, void *arg)
{
    struct rl_wait *w = arg;
    struct api *a = w->api;
    struct api_ctx *ctx = api__ctx_lookup(w->api, w->handle);
    struct login *l = w->l;

    free(w);
    if (ctx == NULL) {
        return; /* the client left: its attempt stays booked */
    }
    if (status != 0 || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[2]->type != REDIS_REPLY_INTEGER) {
        wipe(l);
        LOG_WARN(API, "event=login_limiter_unavailable req=%s err=\"%s\"", api_ctx_request_id(ctx),
                 err_str(status));
        api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                  "login is temporarily unavailable; try again", NULL);
        return;
    }
    if (reply->element[2]->integer != 1) {
        struct api_resp_opts o = { .retry_after_s = (int)a->cfg.login_window_s };
        bool by_acct = reply->element[0]->type == REDIS_REPLY_INTEGER &&
                       reply->element[0]->integer >= a->cfg.login_max_failures;
        wipe(l);
        LOG_NOTICE(API, "event=login_rate_limited req=%s client=%s by=%s", api_ctx_request_id(ctx),
                   httpd_req_client(ctx->req), by_acct ? "account" : "address");
        api_respond_json(ctx, 429,
                         json_pack("{s:{s:s, s:s}}", "error", "code", "too_many_attempts",
                                   "message", "too many failed logins; try again later"),
                         &o);
        return;
    }
    l->booked = true;
    start_lookup(ctx, l);
}

static int h_login(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "email", .type = API_F_EMAIL, .required = true },
        { .name = "password", .type = API_F_STRING, .required = true, .min = 1, .max = 1000 },
    };
    struct api *a = ctx->api;
    struct login *l = arena_calloc(httpd_req_arena(ctx->req), sizeof(*l));
    json_t *body;
    const char *pw;
    char digest[65];
    size_t i;
    (void)arg;

    if (l == NULL) {
        return ERR_NOMEM;
    }
    if (api_body_validate(ctx, fields, 2, &body) != 0) {
        return HTTPD_DONE;
    }
    snprintf(l->email, sizeof(l->email), "%s", json_string_value(json_object_get(body, "email")));
    pw = json_string_value(json_object_get(body, "password"));
    l->password = api_ctx_printf(ctx, "%s", pw);
    if (l->password == NULL) {
        return ERR_NOMEM;
    }
    for (i = 0; l->email[i] != '\0'; i++) {
        if (l->email[i] >= 'A' && l->email[i] <= 'Z') {
            l->email[i] = (char)(l->email[i] - 'A' + 'a');
        }
    }
    api__sha256_hex(l->email, strlen(l->email), digest);
    snprintf(l->acct_key, sizeof(l->acct_key), "api:login:acct:%.32s", digest);
    snprintf(l->ip_key, sizeof(l->ip_key), "api:login:addr:%s", httpd_req_client(ctx->req));
    if (a->kv == NULL) {
        start_lookup(ctx, l);
        return HTTPD_DEFERRED;
    }
    {
        char win[24], amax[24], imax[24];
        const char *argv[5] = { l->acct_key, l->ip_key, win, amax, imax };
        struct rl_wait *w = malloc(sizeof(*w));
        if (w == NULL) {
            return ERR_NOMEM;
        }
        snprintf(win, sizeof(win), "%lld", (long long)a->cfg.login_window_s);
        snprintf(amax, sizeof(amax), "%lld", (long long)a->cfg.login_max_failures);
        snprintf(imax, sizeof(imax), "%lld", (long long)addr_limit(a));
        w->api = a;
        w->handle = ctx->handle;
        w->l = l;
        if (a->rl_take == NULL ||
            kv_script_call(a->rl_take, 2, 5, argv, NULL, limits_cb, w, NULL) != 0) {
            free(w);
            wipe(l);
            api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                      "login is temporarily unavailable; try again", NULL);
            return HTTPD_DONE;
        }
    }
    return HTTPD_DEFERRED;
}

/* --------------------------------------------------------------- refresh */

struct refresh {
    char hash[65];
    char next[64];
    char next_hash[65];
    bool found, rotated, reused;
    struct api_principal p;
};

static const struct api_field refresh_fields[] = {
    { .name = "refresh_token", .type = API_F_STRING, .required = true, .min = 1, .max = 256 },
};

static int refresh_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct refresh *r = arg;
    (void)ctx;

    if (PQntuples(res) != 1) {
        return 0;
    }
    r->found = true;
    r->p.kind = API_PRINCIPAL_USER;
    r->p.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    r->p.tenant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    r->p.role = api_role_parse(PQgetvalue(res, 0, 2));
    r->p.platform_operator = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    r->rotated = strcmp(PQgetvalue(res, 0, 4), "0") != 0;
    r->reused = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
    return 0;
}

static void refresh_done(struct api_ctx *ctx, int status, void *arg)
{
    struct refresh *r = arg;
    json_t *body;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (r->found && r->reused) {
        LOG_WARN(API,
                 "event=refresh_token_reused req=%s user=%lld client=%s msg=\"family revoked\"",
                 api_ctx_request_id(ctx), (long long)r->p.id, httpd_req_client(ctx->req));
        api_error(ctx, HTTPD_STATUS_UNAUTHORIZED, "refresh_token_reused",
                  "this refresh token was already used; the session is revoked", NULL);
        return;
    }
    if (!r->found || !r->rotated) {
        api_error(ctx, HTTPD_STATUS_UNAUTHORIZED, "invalid_refresh_token",
                  "the refresh token is invalid, expired or revoked", NULL);
        return;
    }
    body = token_pair(ctx, &r->p, r->next);
    api_respond_json(ctx, body != NULL ? HTTPD_STATUS_OK : HTTPD_STATUS_INTERNAL_ERROR, body, NULL);
}

static int h_refresh(struct api_ctx *ctx, void *arg)
{
    static const char sql[] =
        "WITH cur AS ("
        " SELECT r.id, r.tenant_id, r.user_id, r.family_id, r.rotated_at, r.revoked_at,"
        "  r.expires_at, u.role, u.is_platform_operator, u.disabled_at, t.status"
        " FROM refresh_tokens r JOIN users u ON u.id = r.user_id"
        " JOIN tenants t ON t.id = r.tenant_id"
        " WHERE r.token_hash = decode($1, 'hex') FOR UPDATE OF r),"
        "reuse AS ("
        " UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'reuse_detected'"
        " WHERE family_id IN (SELECT family_id FROM cur WHERE rotated_at IS NOT NULL)"
        " AND revoked_at IS NULL RETURNING 1),"
        "rot AS ("
        " UPDATE refresh_tokens r SET rotated_at = now() FROM cur"
        " WHERE r.id = cur.id AND cur.rotated_at IS NULL AND cur.revoked_at IS NULL"
        " AND cur.expires_at > now() AND cur.disabled_at IS NULL AND cur.status = 'active'"
        " RETURNING r.id, r.tenant_id, r.user_id, r.family_id),"
        "child AS ("
        " INSERT INTO refresh_tokens (tenant_id, user_id, family_id, parent_id, token_hash,"
        "  expires_at, client_ip)"
        " SELECT tenant_id, user_id, family_id, id, decode($2, 'hex'),"
        "  now() + make_interval(secs => $3::int), $4::inet FROM rot RETURNING 1)"
        " SELECT cur.user_id, cur.tenant_id, cur.role, cur.is_platform_operator,"
        "  (SELECT count(*) FROM child), (cur.rotated_at IS NOT NULL),"
        "  (SELECT count(*) FROM reuse)"
        " FROM cur";
    struct refresh *r = arena_calloc(httpd_req_arena(ctx->req), sizeof(*r));
    json_t *body;
    const char *tok;
    char ttl[24];
    const char *params[4];
    struct api_stmt st = { .sql = sql, .nparams = 4, .params = params, .rows = refresh_rows };
    int rc;
    (void)arg;

    if (r == NULL) {
        return ERR_NOMEM;
    }
    if (api_body_validate(ctx, refresh_fields, 1, &body) != 0) {
        return HTTPD_DONE;
    }
    tok = json_string_value(json_object_get(body, "refresh_token"));
    api__sha256_hex(tok, strlen(tok), r->hash);
    api__random_token(r->next, 32);
    api__sha256_hex(r->next, strlen(r->next), r->next_hash);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ctx->api->cfg.refresh_ttl_s);
    params[0] = r->hash;
    params[1] = r->next_hash;
    params[2] = ttl;
    params[3] = httpd_req_client(ctx->req);
    st.arg = r;
    rc = api_db_run(ctx, API_SCOPE_PLATFORM, &st, 1, refresh_done, r);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* ---------------------------------------------------------------- logout */

static void logout_done(struct api_ctx *ctx, int status, void *arg)
{
    (void)arg;
    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    api_respond_json(ctx, HTTPD_STATUS_NO_CONTENT, NULL, NULL);
}

static int h_logout(struct api_ctx *ctx, void *arg)
{
    char *hash = arena_alloc(httpd_req_arena(ctx->req), 65);
    json_t *body;
    const char *tok;
    const char *params[1];
    struct api_stmt st = {
        .sql = "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'logout'"
               " WHERE family_id = (SELECT family_id FROM refresh_tokens"
               "  WHERE token_hash = decode($1, 'hex'))"
               " AND revoked_at IS NULL",
        .nparams = 1,
        .params = params,
    };
    int rc;
    (void)arg;

    if (hash == NULL) {
        return ERR_NOMEM;
    }
    if (api_body_validate(ctx, refresh_fields, 1, &body) != 0) {
        return HTTPD_DONE;
    }
    tok = json_string_value(json_object_get(body, "refresh_token"));
    api__sha256_hex(tok, strlen(tok), hash);
    params[0] = hash;
    rc = api_db_run(ctx, API_SCOPE_PLATFORM, &st, 1, logout_done, NULL);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

int api__auth_routes(struct api *a)
{
    const struct api_route routes[] = {
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/auth/login",
          .perm = API_PERM_PUBLIC,
          .handler = h_login,
          .max_body = 4096 },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/auth/refresh",
          .perm = API_PERM_PUBLIC,
          .handler = h_refresh,
          .max_body = 4096 },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/auth/logout",
          .perm = API_PERM_PUBLIC,
          .handler = h_logout,
          .max_body = 4096 },
    };

    return api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
}
