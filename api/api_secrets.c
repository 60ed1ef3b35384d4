/* SPDX-License-Identifier: MIT */
/*
 * Tenant secrets: GET /api/v1/secrets (names and times, never values),
 * PUT /api/v1/secrets/{name} {value}, DELETE /api/v1/secrets/{name}; and
 * the sealing both the API and dialerd's flow loader use. Routes in
 * docs/api.md ("Secrets"), use in flows in docs/ivr.md ("Secrets").
 *
 * Decisions:
 *   - Values are sealed with crypto_secretbox (XSalsa20-Poly1305), a random
 *     nonce per write, under a per-row key BLAKE2b(master key,
 *     "dialer-secret/<tenant>/<name>"): a ciphertext copied to another row
 *     (tenant or name) does not open. The master key comes from
 *     secrets.key (DIALERD_SECRETS_KEY, base64 of 32 bytes) or
 *     secrets.key-file (the same text in a file); without one every secrets
 *     route answers 503 naming both options and nothing is stored.
 *   - Admins only (secrets.read, secrets.write): a secret opens a third
 *     party's API.
 *   - PUT creates (201) or replaces (200); DELETE of an unknown name is 404.
 *   - Names are [a-z0-9_]{1,64} (they are template paths: secrets.<name>);
 *     values are 1 to 4096 bytes of UTF-8 text.
 *   - Every change writes an audit_log row (secret.put / secret.delete,
 *     object_id the name) without the value; plaintext lives only in
 *     request memory and is wiped after sealing.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"

struct api_secrets {
    unsigned char key[API_SECRETS_KEY_BYTES];
    bool has_key;
};

bool api_secret_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    return n >= 1 && n <= API_SECRET_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int parse_key(const char *text, unsigned char key[API_SECRETS_KEY_BYTES])
{
    size_t len = 0;
    char buf[128];
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) {
        n--;
    }
    if (n == 0 || n >= sizeof(buf)) {
        return ERR_INVAL;
    }
    memcpy(buf, text, n);
    buf[n] = '\0';
    int rc = sodium_base642bin(key, API_SECRETS_KEY_BYTES, buf, n, NULL, &len, NULL,
                               sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(buf, sizeof(buf));
    return rc == 0 && len == API_SECRETS_KEY_BYTES ? 0 : ERR_INVAL;
}

int api_secrets_key_load(const char *b64, const char *file,
                         unsigned char key[API_SECRETS_KEY_BYTES])
{
    if (sodium_init() < 0) {
        return ERR_INVAL;
    }
    if (b64 != NULL && b64[0] != '\0') {
        if (parse_key(b64, key) != 0) {
            LOG_ERR(API, "event=config_invalid key=secrets.key err=\"not base64 of 32 bytes\"");
            return ERR_INVAL;
        }
        return 0;
    }
    if (file == NULL || file[0] == '\0') {
        return ERR_NOTFOUND;
    }
    FILE *f = fopen(file, "r");
    char buf[128];
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f == NULL) {
        LOG_ERR(API, "event=config_invalid key=secrets.key-file err=\"cannot read the file\"");
        return ERR_INVAL;
    }
    fclose(f);
    buf[n] = '\0';
    int rc = parse_key(buf, key);
    sodium_memzero(buf, sizeof(buf));
    if (rc != 0) {
        LOG_ERR(API, "event=config_invalid key=secrets.key-file err=\"not base64 of 32 bytes\"");
    }
    return rc;
}

static void row_key(const unsigned char key[API_SECRETS_KEY_BYTES], int64_t tenant,
                    const char *name, unsigned char out[crypto_secretbox_KEYBYTES])
{
    char ctx[128];
    int n = snprintf(ctx, sizeof(ctx), "dialer-secret/%lld/%s", (long long)tenant, name);
    crypto_generichash(out, crypto_secretbox_KEYBYTES, (const unsigned char *)ctx, (size_t)n, key,
                       API_SECRETS_KEY_BYTES);
}

int api_secret_seal(const unsigned char key[API_SECRETS_KEY_BYTES], int64_t tenant,
                    const char *name, const char *value, size_t len, unsigned char *ct,
                    unsigned char nonce[API_SECRET_NONCE_BYTES])
{
    unsigned char k[crypto_secretbox_KEYBYTES];
    if (!api_secret_name_ok(name) || len > API_SECRET_VALUE_MAX) {
        return ERR_INVAL;
    }
    randombytes_buf(nonce, API_SECRET_NONCE_BYTES);
    row_key(key, tenant, name, k);
    int rc = crypto_secretbox_easy(ct, (const unsigned char *)value, len, nonce, k);
    sodium_memzero(k, sizeof(k));
    return rc == 0 ? 0 : ERR_INVAL;
}

int api_secret_open(const unsigned char key[API_SECRETS_KEY_BYTES], int64_t tenant,
                    const char *name, const unsigned char *ct, size_t ctlen,
                    const unsigned char nonce[API_SECRET_NONCE_BYTES], char *out)
{
    unsigned char k[crypto_secretbox_KEYBYTES];
    if (ctlen < crypto_secretbox_MACBYTES ||
        ctlen > API_SECRET_VALUE_MAX + crypto_secretbox_MACBYTES || !api_secret_name_ok(name)) {
        return ERR_INVAL;
    }
    row_key(key, tenant, name, k);
    int rc = crypto_secretbox_open_easy((unsigned char *)out, ct, ctlen, nonce, k);
    sodium_memzero(k, sizeof(k));
    if (rc != 0) {
        return ERR_INVAL;
    }
    out[ctlen - crypto_secretbox_MACBYTES] = '\0';
    return 0;
}

/* ------------------------------------------------------------ routes */

#define SECRET_JSON                                                                             \
    "json_build_object('name', s.name, 'created_at', s.created_at, 'updated_at', s.updated_at," \
    " 'updated_by', s.updated_by)"

static int no_key(struct api_ctx *ctx)
{
    return api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                     "secrets are not configured: set secrets.key (DIALERD_SECRETS_KEY) or "
                     "secrets.key-file to a base64 32-byte key",
                     NULL);
}

static int h_list(struct api_ctx *ctx, void *arg)
{
    const struct api_secrets *x = arg;
    if (!x->has_key) {
        return no_key(ctx);
    }
    /* Names are few (at most a few dozen per tenant): one page, ordered by name. */
    struct rest_out *o = rest_out_new(ctx, "no such secret");
    if (o == NULL) {
        return ERR_NOMEM;
    }
    o->limit = 1000; /* the first 1000 by name; next_cursor is always null */
    return rest_run(ctx,
                    "SELECT row_number() OVER (ORDER BY s.name), " SECRET_JSON
                    " FROM tenant_secrets s ORDER BY s.name LIMIT 1000",
                    0, NULL, rest_rows_page, rest_page_done, o);
}

/* The {name} segment; 404 when it cannot be a secret's name. */
static const char *path_name(struct api_ctx *ctx)
{
    const char *n = httpd_req_param(api_ctx_req(ctx), "name");
    if (!api_secret_name_ok(n)) {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found",
                  "no such secret (names are 1 to 64 of a-z, 0-9 and _)", NULL);
        return NULL;
    }
    return n;
}

static const char *hex(struct api_ctx *ctx, const unsigned char *b, size_t n)
{
    char *s = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), 2 * n + 3);
    if (s != NULL) {
        s[0] = '\\';
        s[1] = 'x';
        sodium_bin2hex(s + 2, 2 * n + 1, b, n);
    }
    return s;
}

struct put_out {
    json_t *obj;
    bool created;
};

static int put_rows(struct api_ctx *ctx, PGresult *res, void *arg)
{
    struct put_out *o = arg;
    (void)ctx;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        json_decref(o->obj);
        o->obj = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        o->created = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    }
    return 0;
}

static void put_done(struct api_ctx *ctx, int status, void *arg)
{
    struct put_out *o = arg;
    json_t *obj = o->obj;
    o->obj = NULL;
    if (status != 0) {
        json_decref(obj);
        api_error_db(ctx, status);
    } else if (obj == NULL) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
    } else {
        api_respond_json(ctx, o->created ? HTTPD_STATUS_CREATED : HTTPD_STATUS_OK, obj, NULL);
    }
}

static int h_put(struct api_ctx *ctx, void *arg)
{
    static const struct api_field fields[] = {
        { .name = "value",
          .type = API_F_STRING,
          .required = true,
          .min = 1,
          .max = API_SECRET_VALUE_MAX },
    };
    const struct api_secrets *x = arg;
    json_t *body = NULL;
    unsigned char nonce[API_SECRET_NONCE_BYTES];
    unsigned char *ct;
    const char *name;

    if (!x->has_key) {
        return no_key(ctx);
    }
    if ((name = path_name(ctx)) == NULL) {
        return HTTPD_DONE;
    }
    if (api_body_validate(ctx, fields, 1, &body) != 0) {
        return HTTPD_DONE;
    }
    const char *value = rest_jstr(body, "value");
    size_t len = value != NULL ? strlen(value) : 0;
    if (len == 0 || len > API_SECRET_VALUE_MAX) {
        return rest_invalid(ctx, "invalid_field", "$.value", "value must be 1 to 4096 bytes");
    }
    ct = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), len + crypto_secretbox_MACBYTES);
    if (ct == NULL) {
        return ERR_NOMEM;
    }
    int64_t tenant = api_ctx_principal(ctx)->tenant_id;
    int rc = api_secret_seal(x->key, tenant, name, value, len, ct, nonce);
    sodium_memzero((char *)value, len); /* the request's copy of the plaintext */
    if (rc != 0) {
        return api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
    }
    struct put_out *o = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*o));
    const char *p[4] = { name, hex(ctx, ct, len + crypto_secretbox_MACBYTES),
                         hex(ctx, nonce, sizeof(nonce)), httpd_req_client(api_ctx_req(ctx)) };
    if (o == NULL || p[1] == NULL || p[2] == NULL) {
        return ERR_NOMEM;
    }
    struct api_stmt st[1] = {
        { .sql = "WITH s AS (INSERT INTO tenant_secrets AS t (tenant_id, name, ciphertext, nonce)"
                 " VALUES (app_tenant_id(), $1, $2::bytea, $3::bytea)"
                 " ON CONFLICT (tenant_id, name) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,"
                 " nonce = EXCLUDED.nonce, updated_by = app_actor()"
                 " RETURNING t.*, (xmax = 0) AS created),"
                 " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id,"
                 " client_ip) SELECT tenant_id, 'secret.put', 'secret', name, $4::inet FROM s)"
                 " SELECT " SECRET_JSON ", s.created FROM s",
          .nparams = 4,
          .params = p,
          .rows = put_rows,
          .arg = o },
    };
    rc = api_db_run(ctx, API_SCOPE_TENANT, st, 1, put_done, o);
    if (rc != 0) {
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_delete(struct api_ctx *ctx, void *arg)
{
    const struct api_secrets *x = arg;
    const char *name;
    if (!x->has_key) {
        return no_key(ctx);
    }
    if ((name = path_name(ctx)) == NULL) {
        return HTTPD_DONE;
    }
    struct rest_out *o = rest_out_new(ctx, "no such secret");
    if (o == NULL) {
        return ERR_NOMEM;
    }
    o->created = HTTPD_STATUS_NO_CONTENT;
    const char *p[2] = { name, httpd_req_client(api_ctx_req(ctx)) };
    return rest_run(ctx,
                    "WITH s AS (DELETE FROM tenant_secrets WHERE name = $1 RETURNING *),"
                    " a AS (INSERT INTO audit_log (tenant_id, action, object_type, object_id,"
                    " client_ip) SELECT tenant_id, 'secret.delete', 'secret', name, $2::inet"
                    " FROM s)"
                    " SELECT count(*) OVER (), '{}'::json, 0 FROM s",
                    2, p, rest_rows_one, rest_one_done, o);
}

int api_secrets_create(struct api *a, const unsigned char *key, struct api_secrets **out)
{
    struct api_secrets *x = sodium_malloc(sizeof(*x));
    if (x == NULL) {
        return ERR_NOMEM;
    }
    memset(x, 0, sizeof(*x));
    if (key != NULL) {
        memcpy(x->key, key, API_SECRETS_KEY_BYTES);
        x->has_key = true;
    }
    const struct api_route routes[] = {
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/secrets",
          .perm = API_PERM_SECRETS_READ,
          .handler = h_list,
          .arg = x },
        { .methods = HTTPD_PUT,
          .pattern = "/api/v1/secrets/{name}",
          .perm = API_PERM_SECRETS_WRITE,
          .handler = h_put,
          .arg = x },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/secrets/{name}",
          .perm = API_PERM_SECRETS_WRITE,
          .handler = h_delete,
          .arg = x },
    };
    int rc = api__routes_add(a, routes, sizeof(routes) / sizeof(routes[0]));
    if (rc != 0) {
        sodium_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void api_secrets_destroy(struct api_secrets *x)
{
    if (x != NULL) {
        sodium_free(x); /* wipes the key */
    }
}
