/* SPDX-License-Identifier: MIT */
/*
 * api/auth: credentials.
 *
 * Access tokens are JWTs (libjwt), HS256 only, with a "kid" header naming
 * the key: keys come from api.jwt-keys ("kid=secret,...", best through the
 * environment) and api.jwt-keys-file (lines "kid=secret"); the first key
 * signs, every key verifies, so a key is rotated by putting the new one
 * first and dropping the old one after one token lifetime. Claims: iss
 * "dialerd", sub (user id), tid (tenant id), role, op (platform operator),
 * iat, exp. The header is read (libsodium base64, jansson) only to pick the
 * key and to refuse every algorithm but HS256 before libjwt verifies the
 * signature; "alg":"none" and unknown kids never reach it.
 *
 * Verified credentials are cached on the httpd thread (a direct-mapped
 * table keyed by a keyed BLAKE2b digest of the credential, never the
 * credential itself) for api.auth-cache seconds, bounded by the token's own
 * expiry: an authenticated request then costs one BLAKE2b. The cost: an API
 * key revoked on another node stays usable on this one for up to that long
 * (revoking through this node clears its cache at once).
 *
 * Refresh tokens are 256-bit random values (base64url) stored as SHA-256;
 * each use rotates them in one statement, and a token presented after it
 * was rotated revokes its whole family (reuse means it was stolen).
 *
 * Failed logins are counted in Redis per account (hash of the e-mail) and
 * per client address, in a fixed window (api.login-window); at the limit
 * login answers 429 with Retry-After before any password is checked. When
 * Redis cannot answer, login answers 503 (fail closed). Passwords are
 * verified on the hashing workers (api_hash.c); an unknown e-mail is
 * verified against a dummy hash so both take the same time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "api/api_int.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static unsigned char cache_key[crypto_generichash_KEYBYTES];

/* ------------------------------------------------------------------ keys */

static int key_add(struct api *a, const char *item, size_t len, const char *where)
{
    const char *eq = memchr(item, '=', len);
    size_t klen, slen, i;
    struct api_jwt_key *nk;

    while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\r' || item[len - 1] == '\n')) {
        len--;
    }
    while (len > 0 && *item == ' ') {
        item++;
        len--;
    }
    if (len == 0 || item[0] == '#') {
        return 0;
    }
    eq = memchr(item, '=', len);
    if (eq == NULL) {
        LOG_ERR(API, "event=bad_jwt_key where=%s msg=\"expected kid=secret\"", where);
        return ERR_INVAL;
    }
    klen = (size_t)(eq - item);
    slen = len - klen - 1;
    if (klen == 0 || klen >= API_KID_MAX) {
        LOG_ERR(API, "event=bad_jwt_key where=%s msg=\"kid must be 1-63 characters\"", where);
        return ERR_INVAL;
    }
    for (i = 0; i < klen; i++) {
        char c = item[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            LOG_ERR(API, "event=bad_jwt_key where=%s msg=\"kid may use A-Z a-z 0-9 - _ .\"", where);
            return ERR_INVAL;
        }
    }
    if (slen < API_SECRET_MIN || slen > API_SECRET_MAX) {
        LOG_ERR(API, "event=bad_jwt_key where=%s kid=%.*s msg=\"secret must be 32-256 bytes\"",
                where, (int)klen, item);
        return ERR_INVAL;
    }
    for (i = 0; i < a->n_keys; i++) {
        if (strlen(a->keys[i].kid) == klen && memcmp(a->keys[i].kid, item, klen) == 0) {
            LOG_ERR(API, "event=bad_jwt_key where=%s kid=%.*s msg=\"duplicate kid\"", where,
                    (int)klen, item);
            return ERR_INVAL;
        }
    }
    nk = realloc(a->keys, (a->n_keys + 1) * sizeof(*nk));
    if (nk == NULL) {
        return ERR_NOMEM;
    }
    a->keys = nk;
    memset(&nk[a->n_keys], 0, sizeof(nk[0]));
    memcpy(nk[a->n_keys].kid, item, klen);
    memcpy(nk[a->n_keys].secret, eq + 1, slen);
    nk[a->n_keys].len = slen;
    a->n_keys++;
    return 0;
}

static int keys_parse(struct api *a, const char *s, const char *seps, const char *where)
{
    while (s != NULL && *s != '\0') {
        size_t n = strcspn(s, seps);
        int rc = key_add(a, s, n, where);
        if (rc != 0) {
            return rc;
        }
        s += n;
        if (*s != '\0') {
            s++;
        }
    }
    return 0;
}

int api__keys_load(struct api *a, const char *list, const char *file)
{
    int rc;

    randombytes_buf(cache_key, sizeof(cache_key));
    rc = keys_parse(a, list, ",\n", "api.jwt-keys");
    if (rc == 0 && file != NULL && file[0] != '\0') {
        FILE *f = fopen(file, "r");
        char *buf;
        long sz;
        if (f == NULL) {
            LOG_ERRNO(ERR, API, errno, "event=jwt_key_file_unreadable path=\"%s\"", file);
            return ERR_INVAL;
        }
        fseek(f, 0, SEEK_END);
        sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (sz < 0 || sz > 65536) {
            fclose(f);
            return ERR_INVAL;
        }
        buf = calloc(1, (size_t)sz + 1);
        if (buf == NULL || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
            free(buf);
            fclose(f);
            return ERR_IO;
        }
        fclose(f);
        rc = keys_parse(a, buf, "\n", "api.jwt-keys-file");
        sodium_memzero(buf, (size_t)sz);
        free(buf);
    }
    return rc;
}

/* ---------------------------------------------------------------- tokens */

char *api__jwt_issue(const struct api *a, const struct api_principal *p, int64_t now_s)
{
    const struct api_jwt_key *k = &a->keys[0];
    jwt_t *j = NULL;
    char *out = NULL;
    char sub[24];

    if (jwt_new(&j) != 0) {
        return NULL;
    }
    snprintf(sub, sizeof(sub), "%lld", (long long)p->id);
    if (jwt_add_header(j, "kid", k->kid) == 0 && jwt_add_grant(j, "iss", "dialerd") == 0 &&
        jwt_add_grant(j, "sub", sub) == 0 && jwt_add_grant_int(j, "tid", (long)p->tenant_id) == 0 &&
        jwt_add_grant(j, "role", api_role_name(p->role)) == 0 &&
        jwt_add_grant_bool(j, "op", p->platform_operator) == 0 &&
        jwt_add_grant_int(j, "iat", (long)now_s) == 0 &&
        jwt_add_grant_int(j, "exp", (long)(now_s + a->cfg.access_ttl_s)) == 0 &&
        jwt_set_alg(j, JWT_ALG_HS256, k->secret, (int)k->len) == 0) {
        out = jwt_encode_str(j);
    }
    jwt_free(j);
    return out;
}

/* Picks the key from the header after checking that it asks for HS256. */
static const struct api_jwt_key *header_key(const struct api *a, const char *token)
{
    const char *dot = strchr(token, '.');
    unsigned char raw[512];
    size_t len = 0;
    json_t *h;
    const char *alg;
    const char *kid;
    const struct api_jwt_key *found = NULL;
    size_t i;

    if (dot == NULL || dot == token || (size_t)(dot - token) > 600 ||
        sodium_base642bin(raw, sizeof(raw), token, (size_t)(dot - token), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return NULL;
    }
    h = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    alg = json_string_value(json_object_get(h, "alg"));
    kid = json_string_value(json_object_get(h, "kid"));
    if (alg != NULL && kid != NULL && strcmp(alg, "HS256") == 0) {
        for (i = 0; i < a->n_keys; i++) {
            if (strcmp(a->keys[i].kid, kid) == 0) {
                found = &a->keys[i];
                break;
            }
        }
    }
    json_decref(h);
    return found;
}

int api__jwt_verify(const struct api *a, const char *token, int64_t now_s, struct api_principal *p)
{
    const struct api_jwt_key *k;
    jwt_t *j = NULL;
    char *claims;
    json_t *c;
    const char *sub, *iss, *role;
    char *end;
    json_t *exp, *iat, *tid, *op;
    int rc = ERR_AUTH;

    memset(p, 0, sizeof(*p));
    if (strlen(token) > 4096) {
        return ERR_AUTH;
    }
    k = header_key(a, token);
    if (k == NULL || jwt_decode(&j, token, k->secret, (int)k->len) != 0) {
        return ERR_AUTH;
    }
    if (jwt_get_alg(j) != JWT_ALG_HS256) {
        jwt_free(j);
        return ERR_AUTH;
    }
    claims = jwt_get_grants_json(j, NULL);
    jwt_free(j);
    c = claims != NULL ? json_loads(claims, 0, NULL) : NULL;
    free(claims);
    sub = json_string_value(json_object_get(c, "sub"));
    iss = json_string_value(json_object_get(c, "iss"));
    role = json_string_value(json_object_get(c, "role"));
    exp = json_object_get(c, "exp");
    iat = json_object_get(c, "iat");
    tid = json_object_get(c, "tid");
    op = json_object_get(c, "op");
    if (sub == NULL || iss == NULL || strcmp(iss, "dialerd") != 0 || !json_is_integer(exp) ||
        !json_is_integer(iat) || !json_is_integer(tid) || !json_is_boolean(op) ||
        api_role_parse(role) == API_ROLE_NONE) {
        goto out;
    }
    if (json_integer_value(exp) <= now_s || json_integer_value(iat) > now_s + 60 ||
        json_integer_value(tid) <= 0) {
        goto out;
    }
    p->id = strtoll(sub, &end, 10);
    if (*end != '\0' || p->id <= 0) {
        goto out;
    }
    p->kind = API_PRINCIPAL_USER;
    p->tenant_id = json_integer_value(tid);
    p->role = api_role_parse(role);
    p->platform_operator = json_is_true(op);
    p->expires_us = json_integer_value(exp) * 1000000;
    rc = 0;
out:
    json_decref(c);
    if (rc != 0) {
        memset(p, 0, sizeof(*p));
    }
    return rc;
}

/* ----------------------------------------------------------------- cache */

static struct api_cache_slot *cache_slot(struct api *a, const char *cred, unsigned char d[32])
{
    crypto_generichash(d, 32, (const unsigned char *)cred, strlen(cred), cache_key,
                       sizeof(cache_key));
    return &a->cache[((size_t)d[0] | ((size_t)d[1] << 8)) % API_CACHE_SLOTS];
}

const struct api_principal *api__cache_get(struct api *a, const char *cred, int64_t now_us)
{
    unsigned char d[32];
    struct api_cache_slot *s;

    if (a->cfg.auth_cache_s <= 0 || cred == NULL) {
        return NULL;
    }
    s = cache_slot(a, cred, d);
    if (s->until_us <= now_us || sodium_memcmp(s->digest, d, sizeof(d)) != 0) {
        return NULL;
    }
    return &s->p;
}

void api__cache_put(struct api *a, const char *cred, const struct api_principal *p, int64_t now_us)
{
    unsigned char d[32];
    struct api_cache_slot *s;
    int64_t until;

    if (a->cfg.auth_cache_s <= 0 || cred == NULL) {
        return;
    }
    s = cache_slot(a, cred, d);
    until = now_us + a->cfg.auth_cache_s * 1000000;
    if (p->expires_us > 0 && p->expires_us < until) {
        until = p->expires_us;
    }
    memcpy(s->digest, d, sizeof(d));
    s->p = *p;
    s->until_us = until;
}

void api__cache_clear(struct api *a)
{
    memset(a->cache, 0, sizeof(a->cache));
}

/* --------------------------------------------------------------- helpers */

void api__random_token(char *out, size_t nbytes)
{
    unsigned char raw[64];

    if (nbytes > sizeof(raw)) {
        nbytes = sizeof(raw);
    }
    randombytes_buf(raw, nbytes);
    sodium_bin2base64(out,
                      sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

void api__sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char h[32];

    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* --------------------------------------------------------------- API keys */

static const char key_sql_find[] =
    "SELECT k.id, k.tenant_id, k.role, encode(k.secret_hash, 'hex'),"
    " (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())"
    "  AND t.status = 'active'),"
    " extract(epoch FROM k.expires_at)::bigint"
    " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1";
static const char key_sql_touch[] =
    "UPDATE api_keys SET last_used_at = now() WHERE prefix = $1"
    " AND secret_hash = decode($2, 'hex') AND revoked_at IS NULL"
    " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')";

struct key_lookup {
    char prefix[16];
    char hash[65];
    bool found;
    struct api_principal p;
};

/* dk_<12 hex>_<secret>: fills k's prefix and hash, or false when key cannot be one. */
static bool key_split(const char *key, struct key_lookup *k)
{
    size_t i, len = strlen(key);

    if (len < 20 || len > 128 || strncmp(key, "dk_", 3) != 0 || key[15] != '_') {
        return false;
    }
    for (i = 3; i < 15; i++) {
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f'))) {
            return false;
        }
    }
    memcpy(k->prefix, key, 15);
    k->prefix[15] = '\0';
    api__sha256_hex(key, len, k->hash);
    return true;
}

/* The found row matches k's hash and is usable: k->found and k->p. */
static void key_match(PGresult *res, struct key_lookup *k)
{
    unsigned char want[32], got[32];
    size_t n = 0;

    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        return;
    }
    if (sodium_hex2bin(want, sizeof(want), PQgetvalue(res, 0, 3), 64, NULL, &n, NULL) != 0 ||
        n != 32 || sodium_hex2bin(got, sizeof(got), k->hash, 64, NULL, &n, NULL) != 0 ||
        sodium_memcmp(want, got, 32) != 0) {
        return;
    }
    k->found = true;
    k->p.kind = API_PRINCIPAL_API_KEY;
    k->p.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    k->p.tenant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    k->p.role = api_role_parse(PQgetvalue(res, 0, 2));
    k->p.expires_us =
        PQgetisnull(res, 0, 5) ? 0 : strtoll(PQgetvalue(res, 0, 5), NULL, 10) * 1000000;
}

static int key_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    (void)ctx;
    key_match(res, arg);
    return 0;
}

static void key_done(struct api_ctx *ctx, int status, void *arg)
{
    struct key_lookup *k = arg;

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    api__apikey_done(ctx, k->found ? &k->p : NULL);
}

int api__apikey_auth(struct api_ctx *ctx, const char *key)
{
    struct key_lookup *k = arena_calloc(httpd_req_arena(ctx->req), sizeof(*k));
    const char *params[2];
    struct api_stmt st[2] = {
        { .sql = key_sql_find, .nparams = 1, .params = params, .rows = key_rows, .arg = k },
        { .sql = key_sql_touch, .nparams = 2, .params = params },
    };
    int rc;

    if (k == NULL) {
        return ERR_NOMEM;
    }
    if (!key_split(key, k)) {
        return api__apikey_done(ctx, NULL);
    }
    params[0] = k->prefix;
    params[1] = k->hash;
    rc = api_db_run(ctx, API_SCOPE_PLATFORM, st, 2, key_done, k);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/*
 * The same check outside a request (the live WebSocket): BEGIN, the platform
 * role, the look-up, the last-used touch and COMMIT pipelined on one pinned
 * connection of the httpd thread's pool; the callback runs once, on that
 * thread, when COMMIT has answered (or the first failure).
 */
struct key_async {
    struct key_lookup k;
    api_key_verified_cb *cb;
    void *arg;
    int got;   /* answers so far */
    int total; /* answers expected: 5, fewer when a send failed */
    int status;
};

static void key_async_finish(struct key_async *q)
{
    if (q->status != 0) {
        q->cb(q->status, NULL, q->arg);
    } else {
        q->cb(q->k.found ? 0 : ERR_AUTH, q->k.found ? &q->k.p : NULL, q->arg);
    }
    sodium_memzero(q->k.hash, sizeof(q->k.hash));
    free(q);
}

static void key_async_cb(int status, PGresult *res, void *arg)
{
    struct key_async *q = arg;
    int index = q->got++; /* 0 BEGIN, 1 SET ROLE, 2 find, 3 touch, 4 COMMIT */

    if (status != 0 && q->status == 0) {
        q->status = status;
    }
    if (status == 0 && q->status == 0 && index == 2) {
        key_match(res, &q->k);
    }
    if (q->got >= q->total) {
        key_async_finish(q);
    }
}

int api_key_verify(struct api *a, const char *key, api_key_verified_cb *cb, void *arg)
{
    struct key_async *q;
    struct db_conn *c;
    const char *params[2];
    const char *sql[5] = { "BEGIN", "SET LOCAL ROLE dialer_platform", key_sql_find, key_sql_touch,
                           "COMMIT" };
    const int np[5] = { 0, 0, 1, 2, 0 };
    int rc = 0, sent;

    if (a == NULL || key == NULL || cb == NULL) {
        return ERR_INVAL;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return ERR_NOMEM;
    }
    if (!key_split(key, &q->k)) {
        free(q);
        return ERR_AUTH;
    }
    if (a->db == NULL || db_pool_pin(a->db, &c) != 0) {
        free(q);
        return ERR_DISCONNECTED;
    }
    q->cb = cb;
    q->arg = arg;
    q->total = 5;
    params[0] = q->k.prefix;
    params[1] = q->k.hash;
    for (sent = 0; sent < 5 && rc == 0; sent++) {
        struct db_query dq = {
            .sql = sql[sent], .nparams = np[sent], .params = params, .cb = key_async_cb, .arg = q
        };
        rc = db_query_send(c, &dq, NULL);
        if (rc != 0) {
            break;
        }
    }
    db_pool_unpin(a->db, c);
    if (rc != 0) {
        /* Sent queries still answer (the server rolls back without COMMIT). */
        LOG_ERR(API, "event=key_verify_send_failed err=\"%s\"", err_str(rc));
        if (sent == 0) {
            free(q);
            return rc;
        }
        q->status = rc;
        q->total = sent;
        if (q->got >= q->total) {
            key_async_finish(q);
        }
    }
    return 0;
}
