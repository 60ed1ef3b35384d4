/* SPDX-License-Identifier: MIT */
/*
 * api/idem: Idempotency-Key on creates.
 *
 * The key is reserved for the tenant (table api_idempotency) together with
 * a SHA-256 of method, path and body, before the handler runs. The answer is
 * stored under the key before it is sent (statuses below 500; a 5xx frees
 * the key so that the client may retry). A later request with the key:
 *   - same method, path and body, answer stored: the stored answer again,
 *     with Idempotent-Replayed: true;
 *   - another body (or route): 422 idempotency_key_reused;
 *   - the first request still running: 409 idempotency_key_in_use.
 * Keys live 24 hours (purged hourly by api.c). A reservation whose request never finished (node
 * crash) is taken over after 2 minutes; if that request did commit its
 * object, the retry creates a second one (the reservation and the object
 * are written by different transactions). docs/api.md discusses this.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"

struct idem_row {
    bool reserved;
    bool found;
    int status; /* -1: in progress */
    char hash[65];
    char *response; /* arena */
    char *etag;
    char *location;
};

static const char reserve_sql[] =
    "WITH ins AS ("
    " INSERT INTO api_idempotency (tenant_id, idem_key, request_hash)"
    " VALUES (app_tenant_id(), $1, $2)"
    " ON CONFLICT (tenant_id, idem_key) DO UPDATE"
    "  SET request_hash = EXCLUDED.request_hash, status = NULL, response = NULL,"
    "      etag = NULL, location = NULL, created_at = now()"
    "  WHERE api_idempotency.created_at < now() - interval '24 hours'"
    "     OR (api_idempotency.status IS NULL"
    "         AND api_idempotency.created_at < now() - interval '2 minutes')"
    " RETURNING 1)"
    " SELECT r.n, i.request_hash, i.status, i.response, i.etag, i.location"
    " FROM (SELECT count(*)::int AS n FROM ins) r"
    " LEFT JOIN api_idempotency i ON i.tenant_id = app_tenant_id() AND i.idem_key = $1";

static char *arena_dup(struct api_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(httpd_req_arena(ctx->req), n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static int reserve_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct idem_row *r = arg;

    if (PQntuples(res) != 1) {
        return ERR_INTERNAL;
    }
    r->reserved = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
    r->found = !PQgetisnull(res, 0, 1);
    if (r->found) {
        snprintf(r->hash, sizeof(r->hash), "%s", PQgetvalue(res, 0, 1));
        r->status = PQgetisnull(res, 0, 2) ? -1 : (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
        r->response = PQgetisnull(res, 0, 3) ? NULL : arena_dup(ctx, PQgetvalue(res, 0, 3));
        r->etag = PQgetisnull(res, 0, 4) ? NULL : arena_dup(ctx, PQgetvalue(res, 0, 4));
        r->location = PQgetisnull(res, 0, 5) ? NULL : arena_dup(ctx, PQgetvalue(res, 0, 5));
    }
    return 0;
}

static void reserve_done(struct api_ctx *ctx, int status, void *arg)
{
    struct idem_row *r = arg;
    struct api_resp_opts o = { 0 };

    if (status != 0) {
        api_error_db(ctx, status);
        return;
    }
    if (r->reserved) {
        ctx->idem_active = true;
        api__run_handler(ctx);
        return;
    }
    if (!r->found || r->status < 0) {
        api_error(ctx, HTTPD_STATUS_CONFLICT, "idempotency_key_in_use",
                  "a request with this Idempotency-Key is still being processed; retry later",
                  NULL);
        return;
    }
    if (strcmp(r->hash, ctx->idem_hash) != 0) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, "idempotency_key_reused",
                  "this Idempotency-Key was used with a different request", NULL);
        return;
    }
    LOG_INFO(API, "event=idempotent_replay req=%s actor=%s", api_ctx_request_id(ctx), ctx->actor);
    o.etag = r->etag;
    o.location = r->location;
    api__send_raw(ctx, r->status, r->response, r->response != NULL ? strlen(r->response) : 0, &o,
                  true);
}

static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    size_t i;

    if (n == 0 || n > 255) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

int api__idem_begin(struct api_ctx *ctx)
{
    const char *key = httpd_req_header(ctx->req, "Idempotency-Key");
    const char *method = httpd_req_method_name(ctx->req);
    const char *path = httpd_req_path(ctx->req);
    size_t blen = 0;
    const void *body = httpd_req_body(ctx->req, &blen);
    crypto_hash_sha256_state st;
    unsigned char h[32];
    struct idem_row *r;
    const char *params[2];
    struct api_stmt s = {
        .sql = reserve_sql, .nparams = 2, .params = params, .rows = reserve_rows
    };
    int rc;

    if (!key_ok(key)) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_header",
                  "Idempotency-Key must be 1-255 printable ASCII characters", "Idempotency-Key");
        return HTTPD_DONE;
    }
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)method, strlen(method) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)path, strlen(path) + 1);
    crypto_hash_sha256_update(&st, body, blen);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(ctx->idem_hash, sizeof(ctx->idem_hash), h, sizeof(h));
    ctx->idem_key = key;
    r = arena_calloc(httpd_req_arena(ctx->req), sizeof(*r));
    if (r == NULL) {
        return ERR_NOMEM;
    }
    params[0] = key;
    params[1] = ctx->idem_hash;
    s.arg = r;
    rc = api_db_run(ctx, API_SCOPE_TENANT, &s, 1, reserve_done, r);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

/* ---------------------------------------------------------------- store */

struct idem_store {
    int status;
    char *body; /* owned (malloc) */
    struct api_resp_opts o;
};

static void store_done(struct api_ctx *ctx, int status, void *arg)
{
    struct idem_store *s = arg;

    if (status != 0) {
        LOG_WARN(API, "event=idempotency_store_failed req=%s sqlstate=%s", api_ctx_request_id(ctx),
                 api_ctx_sqlstate(ctx));
    }
    api__send_raw(ctx, s->status, s->body, s->body != NULL ? strlen(s->body) : 0, &s->o, false);
    free(s->body);
    s->body = NULL;
}

int api__idem_store(struct api_ctx *ctx, int status, char *body, const struct api_resp_opts *o)
{
    struct idem_store *s = arena_calloc(httpd_req_arena(ctx->req), sizeof(*s));
    char *st = api_ctx_printf(ctx, "%d", status);
    const char *params[5];
    struct api_stmt q = { .params = params };
    int rc;

    if (s == NULL || st == NULL) {
        return ERR_NOMEM;
    }
    s->status = status;
    s->body = body;
    if (o != NULL) {
        s->o = *o;
        s->o.etag = o->etag != NULL ? arena_dup(ctx, o->etag) : NULL;
        s->o.location = o->location != NULL ? arena_dup(ctx, o->location) : NULL;
    }
    params[0] = ctx->idem_key;
    if (status >= 500) {
        q.sql = "DELETE FROM api_idempotency WHERE tenant_id = app_tenant_id() AND idem_key = $1";
        q.nparams = 1;
    } else {
        q.sql = "UPDATE api_idempotency SET status = $2::int, response = $3, etag = $4, "
                "location = $5 WHERE tenant_id = app_tenant_id() AND idem_key = $1";
        q.nparams = 5;
        params[1] = st;
        params[2] = body;
        params[3] = s->o.etag;
        params[4] = s->o.location;
    }
    rc = api_db_run(ctx, API_SCOPE_TENANT, &q, 1, store_done, s);
    if (rc != 0) {
        s->body = NULL; /* the caller sends and frees it */
    }
    return rc;
}
