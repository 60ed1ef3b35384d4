/* SPDX-License-Identifier: MIT */
/*
 * Webhook endpoints and their deliveries (docs/webhooks.md; the delivery
 * worker is hooks/).
 *
 * Decisions:
 *   - The signing secret is generated here ("whsec_" + 32 random bytes),
 *     answered once (creation, rotation) and stored sealed with the tenant
 *     secrets' key (api_secret_seal, secret name "webhook_signing"); no read
 *     ever returns it. Without a secrets key the write routes answer 503.
 *   - Rotation replaces the secret at once (no overlap): deliveries signed
 *     from then on use the new one.
 *   - PATCH enabled=true on a disabled endpoint clears its failure state and
 *     reason; its pending deliveries resume.
 *   - At most 20 endpoints per tenant.
 *   - url: http or https, a host, no user name or password, no spaces, at
 *     most 2048 bytes. Internal addresses are refused at delivery time (the
 *     SSRF guard resolves the name then), not here.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rest.h"
#include "core/arena.h"
#include "core/err.h"
#include "hooks/hooks.h"

#define WEBHOOK_SECRET_NAME HOOKS_SECRET_NAME
#define MAX_ENDPOINTS       20

#define HOOK_JSON                                                                       \
    "json_build_object('id', w.id, 'url', w.url, 'events', to_json(w.events),"          \
    " 'enabled', w.enabled, 'description', w.description,"                              \
    " 'disabled_reason', w.disabled_reason, 'disabled_at', w.disabled_at,"              \
    " 'failing_since', w.failing_since, 'last_success_at', w.last_success_at,"          \
    " 'last_failure_at', w.last_failure_at, 'secret_rotated_at', w.secret_rotated_at,"  \
    " 'pending', (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = w.id" \
    "   AND d.status IN ('pending', 'sending')),"                                       \
    " 'created_at', w.created_at, 'updated_at', w.updated_at)"
#define HOOK_VERSION(t) "(extract(epoch FROM " t ".updated_at) * 1000000)::bigint"

#define DELIVERY_JSON                                                                   \
    "json_build_object('id', d.id, 'event_id', d.event_id, 'event_type', d.event_type," \
    " 'event_at', d.event_at, 'status', d.status, 'attempts', d.attempts,"              \
    " 'next_attempt_at', CASE WHEN d.status = 'pending' THEN d.next_attempt_at END,"    \
    " 'last_attempt_at', d.last_attempt_at, 'last_code', d.last_code,"                  \
    " 'last_error', d.last_error, 'finished_at', d.finished_at, 'data', d.data)"

struct api_webhooks {
    unsigned char key[API_SECRETS_KEY_BYTES];
    bool has_key;
};

static const struct api_field create_fields[] = {
    { .name = "url", .type = API_F_STRING, .required = true, .min = 1, .max = HOOKS_URL_MAX },
    { .name = "events", .type = API_F_OBJECT }, /* checked by hooks_events_check */
    { .name = "enabled", .type = API_F_BOOL },
    { .name = "description", .type = API_F_STRING, .min = 0, .max = 500 },
};

static const struct api_field patch_fields[] = {
    { .name = "url", .type = API_F_STRING, .min = 1, .max = HOOKS_URL_MAX },
    { .name = "events", .type = API_F_OBJECT },
    { .name = "enabled", .type = API_F_BOOL },
    { .name = "description", .type = API_F_STRING, .min = 0, .max = 500 },
};

bool api_webhook_url_ok(const char *url)
{
    size_t n;
    const char *p;
    if (url == NULL || (n = strlen(url)) == 0 || n > HOOKS_URL_MAX) {
        return false;
    }
    if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        return false;
    }
    for (const char *q = url; *q != '\0'; q++) {
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
            return false;
        }
    }
    size_t host = strcspn(p, "/?#");
    if (host == 0 || memchr(p, '@', host) != NULL || p[0] == ':') {
        return false;
    }
    return true;
}

int api_webhook_body_check(const json_t *body, bool create, struct api_field_error *err)
{
    const struct api_field *f = create ? create_fields : patch_fields;
    size_t nf = create ? sizeof(create_fields) / sizeof(create_fields[0])
                       : sizeof(patch_fields) / sizeof(patch_fields[0]);
    char msg[160];

    memset(err, 0, sizeof(*err));
    if (!json_is_object(body)) {
        snprintf(err->code, sizeof(err->code), "invalid_body");
        snprintf(err->field, sizeof(err->field), "$");
        snprintf(err->message, sizeof(err->message), "the body must be a JSON object");
        return ERR_INVAL;
    }
    json_t *rest = json_copy((json_t *)body);
    if (rest == NULL) {
        return ERR_NOMEM;
    }
    json_object_del(rest, "events");
    int rc = api_json_check(rest, f, nf, err);
    json_decref(rest);
    if (rc != 0) {
        return rc;
    }
    const json_t *ev = json_object_get(body, "events");
    if (ev == NULL && create) {
        snprintf(err->code, sizeof(err->code), "missing_field");
        snprintf(err->field, sizeof(err->field), "$.events");
        snprintf(err->message, sizeof(err->message), "events is required");
        return ERR_INVAL;
    }
    if (ev != NULL && hooks_events_check((const struct json_t *)ev, msg, sizeof(msg)) != 0) {
        snprintf(err->code, sizeof(err->code), "invalid_field");
        snprintf(err->field, sizeof(err->field), "$.events");
        snprintf(err->message, sizeof(err->message), "%s", msg);
        return ERR_INVAL;
    }
    const json_t *u = json_object_get(body, "url");
    if (u != NULL && !api_webhook_url_ok(json_string_value(u))) {
        snprintf(err->code, sizeof(err->code), "invalid_field");
        snprintf(err->field, sizeof(err->field), "$.url");
        snprintf(err->message, sizeof(err->message),
                 "url must be http:// or https:// with a host, no credentials and no spaces");
        return ERR_INVAL;
    }
    return 0;
}

/* The body checked, or NULL (answered). */
static json_t *checked_body(struct api_ctx *ctx, bool create)
{
    struct api_field_error fe;
    json_t *body = httpd_req_json(api_ctx_req(ctx));
    if (!json_is_object(body)) {
        json_t *dummy = NULL;
        api_body_validate(ctx, create_fields, 1, &dummy); /* answers 400 */
        return NULL;
    }
    int rc = api_webhook_body_check(body, create, &fe);
    if (rc == ERR_NOMEM) {
        api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
        return NULL;
    }
    if (rc != 0) {
        api_error(ctx, HTTPD_STATUS_UNPROCESSABLE, fe.code, fe.message, fe.field);
        return NULL;
    }
    return body;
}

/* The events as a PostgreSQL array literal ("{a,b}"), or NULL when absent. */
static const char *events_array(struct api_ctx *ctx, const json_t *body)
{
    const json_t *ev = json_object_get(body, "events");
    size_t i;
    json_t *v;
    if (ev == NULL) {
        return NULL;
    }
    char *s = api_ctx_printf(ctx, "{");
    json_array_foreach (ev, i, v) {
        s = api_ctx_printf(ctx, "%s%s%s", s, i > 0 ? "," : "", json_string_value(v));
        if (s == NULL) {
            return NULL;
        }
    }
    return api_ctx_printf(ctx, "%s}", s);
}

static int no_key(struct api_ctx *ctx)
{
    return api_error(ctx, HTTPD_STATUS_UNAVAILABLE, "unavailable",
                     "webhook secrets cannot be sealed: set secrets.key (DIALERD_SECRETS_KEY) or "
                     "secrets.key-file to a base64 32-byte key",
                     NULL);
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

/* A statement whose answer carries the new secret once. */
struct secret_out {
    struct rest_out *o;
    bool create; /* no row: the tenant is at its endpoint limit (409) */
    char secret[HOOKS_SECRET_MAX + 1];
};

static void secret_done(struct api_ctx *ctx, int status, void *arg)
{
    struct secret_out *so = arg;
    if (status == 0 && so->create && so->o->found == 0) {
        sodium_memzero(so->secret, sizeof(so->secret));
        api_error(ctx, HTTPD_STATUS_CONFLICT, "conflict",
                  "the tenant has 20 webhook endpoints already; delete one first", NULL);
        return;
    }
    if (status == 0 && so->o->obj != NULL) {
        json_object_set_new(so->o->obj, "secret", json_string(so->secret));
    }
    sodium_memzero(so->secret, sizeof(so->secret));
    rest_one_done(ctx, status, so->o);
}

/* A new secret sealed into ct/nonce (hex for SQL); so->secret holds it in clear. */
static int new_secret(struct api_ctx *ctx, const struct api_webhooks *x, struct secret_out *so,
                      const char **ct_hex, const char **nonce_hex)
{
    unsigned char ct[HOOKS_SECRET_MAX + API_SECRET_MAC_BYTES];
    unsigned char nonce[API_SECRET_NONCE_BYTES];
    int64_t tenant = api_ctx_principal(ctx)->tenant_id;
    if (hooks_secret_new(so->secret, sizeof(so->secret)) != 0) {
        return ERR_INVAL;
    }
    size_t len = strlen(so->secret);
    if (api_secret_seal(x->key, tenant, WEBHOOK_SECRET_NAME, so->secret, len, ct, nonce) != 0) {
        return ERR_INVAL;
    }
    *ct_hex = hex(ctx, ct, len + API_SECRET_MAC_BYTES);
    *nonce_hex = hex(ctx, nonce, sizeof(nonce));
    return *ct_hex != NULL && *nonce_hex != NULL ? 0 : ERR_NOMEM;
}

static int run_secret(struct api_ctx *ctx, struct secret_out *so, const char *sql, int n,
                      const char *const *p)
{
    struct api_stmt st[1] = {
        { .sql = sql, .nparams = n, .params = p, .rows = rest_rows_one, .arg = so->o },
    };
    int rc = api_db_run(ctx, API_SCOPE_TENANT, st, 1, secret_done, so);
    if (rc != 0) {
        sodium_memzero(so->secret, sizeof(so->secret));
        api_error_db(ctx, rc);
        return HTTPD_DONE;
    }
    return HTTPD_DEFERRED;
}

static int h_create(struct api_ctx *ctx, void *arg)
{
    const struct api_webhooks *x = arg;
    struct secret_out *so;
    json_t *body;
    const char *p[7];

    if (!x->has_key) {
        return no_key(ctx);
    }
    if ((body = checked_body(ctx, true)) == NULL) {
        return HTTPD_DONE;
    }
    so = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*so));
    if (so == NULL ||
        (so->o = rest_out_new(ctx, "the tenant has 20 webhook endpoints already")) == NULL) {
        return ERR_NOMEM;
    }
    if (new_secret(ctx, x, so, &p[4], &p[5]) != 0) {
        sodium_memzero(so->secret, sizeof(so->secret));
        return api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
    }
    p[0] = rest_jstr(body, "url");
    p[1] = events_array(ctx, body);
    p[2] = rest_jbool(body, "enabled");
    p[3] = rest_jstr(body, "description");
    p[6] = rest_i64(ctx, MAX_ENDPOINTS);
    so->create = true;
    so->o->created = HTTPD_STATUS_CREATED;
    so->o->location = "/api/v1/webhooks";
    return run_secret(ctx, so,
                      "WITH w AS (INSERT INTO webhook_endpoints (tenant_id, url, events, enabled,"
                      " description, secret_ct, secret_nonce)"
                      " SELECT app_tenant_id(), $1, $2::text[], coalesce($3::boolean, true),"
                      " coalesce($4, ''), $5::bytea, $6::bytea"
                      " WHERE (SELECT count(*) FROM webhook_endpoints) < $7::int RETURNING *)"
                      " SELECT 1, " HOOK_JSON ", " HOOK_VERSION("w") " FROM w",
                      7, p);
}

static int h_rotate(struct api_ctx *ctx, void *arg)
{
    const struct api_webhooks *x = arg;
    struct secret_out *so;
    const char *p[3];
    int64_t id;

    if (!x->has_key) {
        return no_key(ctx);
    }
    if (api_path_id(ctx, "id", &id) != 0) {
        return HTTPD_DONE;
    }
    so = arena_calloc(httpd_req_arena(api_ctx_req(ctx)), sizeof(*so));
    if (so == NULL || (so->o = rest_out_new(ctx, "no such webhook")) == NULL) {
        return ERR_NOMEM;
    }
    if (new_secret(ctx, x, so, &p[1], &p[2]) != 0) {
        sodium_memzero(so->secret, sizeof(so->secret));
        return api_error(ctx, HTTPD_STATUS_INTERNAL_ERROR, "internal", "internal error", NULL);
    }
    p[0] = rest_i64(ctx, id);
    return run_secret(ctx, so,
                      "WITH w AS (UPDATE webhook_endpoints SET secret_ct = $2::bytea,"
                      " secret_nonce = $3::bytea, secret_rotated_at = now()"
                      " WHERE id = $1::bigint RETURNING *)"
                      " SELECT 1, " HOOK_JSON ", " HOOK_VERSION("w") " FROM w",
                      3, p);
}

static int h_get(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_get_by_id(ctx, "no such webhook",
                          "SELECT 1, " HOOK_JSON ", " HOOK_VERSION("w") " FROM webhook_endpoints w"
                                                                        " WHERE w.id = $1::bigint");
}

static int h_page(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_page(ctx, "SELECT w.id, " HOOK_JSON " FROM webhook_endpoints w"
                          " WHERE w.id > $1::bigint ORDER BY w.id LIMIT $2::bigint");
}

static int h_patch(struct api_ctx *ctx, void *arg)
{
    struct rest_out *o = rest_out_new(ctx, "no such webhook");
    const char *p[6];
    json_t *body;
    int64_t id, version;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_if_match(ctx, &version) != 0) {
        return HTTPD_DONE;
    }
    if ((body = checked_body(ctx, false)) == NULL) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = version >= 0 ? rest_i64(ctx, version) : NULL;
    p[2] = rest_jstr(body, "url");
    p[3] = events_array(ctx, body);
    p[4] = rest_jbool(body, "enabled");
    p[5] = rest_jstr(body, "description");
    return rest_run(
        ctx,
        "WITH cur AS (SELECT id, enabled, " HOOK_VERSION(
            "webhook_endpoints") " AS v"
                                 "  FROM webhook_endpoints WHERE id = $1::bigint FOR UPDATE),"
                                 " w AS (UPDATE webhook_endpoints w SET url = coalesce($3, w.url),"
                                 "  events = coalesce($4::text[], w.events), enabled = "
                                 "coalesce($5::boolean, w.enabled),"
                                 "  description = coalesce($6, w.description),"
                                 "  disabled_reason = CASE WHEN $5::boolean THEN NULL"
                                 "    WHEN $5::boolean = false AND cur.enabled THEN NULL ELSE "
                                 "w.disabled_reason END,"
                                 "  disabled_at = CASE WHEN $5::boolean THEN NULL"
                                 "    WHEN $5::boolean = false AND cur.enabled THEN now() ELSE "
                                 "w.disabled_at END,"
                                 "  failing_since = CASE WHEN $5::boolean AND NOT cur.enabled THEN "
                                 "NULL"
                                 "    ELSE w.failing_since END"
                                 "  FROM cur WHERE w.id = cur.id AND ($2::bigint IS NULL OR cur.v "
                                 "= $2::bigint)"
                                 "  RETURNING w.*)"
                                 " SELECT (SELECT count(*) FROM cur), (SELECT " HOOK_JSON
                                 " FROM w),"
                                 " (SELECT " HOOK_VERSION("w") " FROM w)",
        6, p, rest_rows_one, rest_one_done, o);
}

static int h_delete(struct api_ctx *ctx, void *arg)
{
    (void)arg;
    return rest_delete_by_id(
        ctx, "no such webhook",
        "WITH d AS (DELETE FROM webhook_endpoints WHERE id = $1::bigint RETURNING id)"
        " SELECT (SELECT count(*) FROM d), '{}'::json",
        NULL);
}

/* Newest first: the page key is INT64_MAX - id so that the usual "key > cursor" pages. */
static int h_deliveries(struct api_ctx *ctx, void *arg)
{
    static const char *const allowed[] = { "limit", "cursor", "status", NULL };
    static const char *const statuses[] = { "pending", "sending", "delivered", "failed", NULL };
    struct rest_out *o = rest_out_new(ctx, "no such webhook");
    const char **p = arena_alloc(httpd_req_arena(api_ctx_req(ctx)), 4 * sizeof(*p));
    int64_t id, after;
    (void)arg;

    if (o == NULL || p == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_query_allow(ctx, allowed) != 0 ||
        api_page_parse(ctx, 50, 200, &o->limit, &after) != 0) {
        return HTTPD_DONE;
    }
    const char *status = httpd_req_query(api_ctx_req(ctx), "status");
    if (status != NULL) {
        bool ok = false;
        for (size_t i = 0; statuses[i] != NULL; i++) {
            ok = ok || strcmp(status, statuses[i]) == 0;
        }
        if (!ok) {
            return api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                             "status is one of pending, sending, delivered, failed", "status");
        }
    }
    p[0] = rest_i64(ctx, id);
    p[1] = rest_i64(ctx, after);
    p[2] = rest_i64(ctx, o->limit + 1);
    p[3] = status;
    return rest_run_page(ctx, o, p, "SELECT count(*) FROM webhook_endpoints WHERE id = $1::bigint",
                         1,
                         "SELECT 9223372036854775807 - d.id, " DELIVERY_JSON
                         " FROM webhook_deliveries d WHERE d.endpoint_id = $1::bigint"
                         " AND 9223372036854775807 - d.id > $2::bigint"
                         " AND ($4::text IS NULL OR d.status = $4) ORDER BY d.id DESC"
                         " LIMIT $3::bigint",
                         4);
}

/* Sends a delivery again now, whatever its state (a new max-age window). */
static int h_redeliver(struct api_ctx *ctx, void *arg)
{
    struct rest_out *o = rest_out_new(ctx, "no such delivery");
    const char *p[2];
    int64_t id, did;
    (void)arg;

    if (o == NULL) {
        return ERR_NOMEM;
    }
    if (api_path_id(ctx, "id", &id) != 0 || api_path_id(ctx, "delivery_id", &did) != 0) {
        return HTTPD_DONE;
    }
    p[0] = rest_i64(ctx, id);
    p[1] = rest_i64(ctx, did);
    o->created = HTTPD_STATUS_ACCEPTED;
    return rest_run(ctx,
                    "WITH d AS (UPDATE webhook_deliveries d SET status = 'pending',"
                    " next_attempt_at = now(), retry_from = now(), finished_at = NULL,"
                    " lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE d.endpoint_id = $1::bigint AND d.id = $2::bigint"
                    " AND d.status <> 'sending' RETURNING d.*)"
                    " SELECT (SELECT count(*) FROM webhook_deliveries"
                    "  WHERE endpoint_id = $1::bigint AND id = $2::bigint),"
                    " (SELECT " DELIVERY_JSON " FROM d)",
                    2, p, rest_rows_one, rest_one_done, o);
}

int api_webhooks_create(struct api *a, const unsigned char *key, struct api_webhooks **out)
{
    struct api_webhooks *x = sodium_malloc(sizeof(*x));
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
          .pattern = "/api/v1/webhooks",
          .perm = API_PERM_WEBHOOKS_READ,
          .handler = h_page,
          .arg = x },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/webhooks",
          .perm = API_PERM_WEBHOOKS_WRITE,
          .handler = h_create,
          .arg = x },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/webhooks/{id}",
          .perm = API_PERM_WEBHOOKS_READ,
          .handler = h_get,
          .arg = x },
        { .methods = HTTPD_PATCH,
          .pattern = "/api/v1/webhooks/{id}",
          .perm = API_PERM_WEBHOOKS_WRITE,
          .handler = h_patch,
          .arg = x },
        { .methods = HTTPD_DELETE,
          .pattern = "/api/v1/webhooks/{id}",
          .perm = API_PERM_WEBHOOKS_WRITE,
          .handler = h_delete,
          .arg = x },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/webhooks/{id}/rotate-secret",
          .perm = API_PERM_WEBHOOKS_WRITE,
          .handler = h_rotate,
          .arg = x },
        { .methods = HTTPD_GET,
          .pattern = "/api/v1/webhooks/{id}/deliveries",
          .perm = API_PERM_WEBHOOKS_READ,
          .handler = h_deliveries,
          .arg = x },
        { .methods = HTTPD_POST,
          .pattern = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
          .perm = API_PERM_WEBHOOKS_WRITE,
          .handler = h_redeliver,
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

void api_webhooks_destroy(struct api_webhooks *x)
{
    if (x != NULL) {
        sodium_free(x); /* wipes the key */
    }
}
