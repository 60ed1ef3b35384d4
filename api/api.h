/* SPDX-License-Identifier: MIT */
/*
 * api: the REST API under /api/v1 -- the route framework every resource
 * module adds its routes to, authentication (JWT access tokens, rotating
 * refresh tokens, API keys), the role/permission matrix, and the identity
 * resources (tenants, users, roles, API keys, /me).
 *
 * DESIGN
 *
 * One struct api serves one httpd. It is created on the main thread
 * (api_create), gets its routes (api_route_add, by this module and by every
 * resource module) and is mounted on the server (api_mount) before
 * httpd_start. From then on everything runs on the httpd thread: the api
 * opens its own PostgreSQL pool and Redis connection on httpd_loop() from the
 * thread-start hook (api_thread_start), so handlers query without leaving the
 * thread and never block it. Password hashing (Argon2id, slow by design) runs
 * on a small worker pool; results come back through httpd_post().
 *
 * A request goes through these steps before a handler sees it:
 *   1. authenticate: "Authorization: Bearer <jwt>" (HS256 with a kid, keys
 *      from api.jwt-keys), or "X-API-Key: <key>" (looked up by prefix through
 *      the platform path, SHA-256 compared in constant time). Verified tokens
 *      and keys are cached on the httpd thread for a short time (see
 *      docs/api.md), so an authenticated GET costs no database round trip.
 *   2. authorise: the route's permission against the principal's role in
 *      api_perm_matrix (api/api_perm.c), the one table of who may do what.
 *      Missing or bad credentials answer 401, a role without the permission
 *      403. Objects of another tenant are invisible (404), never 403:
 *      handlers query inside a transaction that sets app.tenant_id, and
 *      row-level security hides the rest.
 *   3. idempotency: a route flagged API_ROUTE_IDEMPOTENT with an
 *      Idempotency-Key header reserves the key for the tenant; a retry with
 *      the same body replays the stored response, another body gets 422.
 *   4. the handler runs with a struct api_ctx: principal, request id,
 *      transactions (api_db_run), JSON validation, pagination and ETag
 *      helpers. It answers through api_respond_* / api_error (never through
 *      httpd_respond_* directly), at once or later (HTTPD_DEFERRED).
 *
 * Errors are {"error":{"code","message","field"}} with field a JSON path
 * ("$.email") or a query parameter name ("?limit"). Every response carries
 * X-Request-Id, every api log line req=<id>.
 *
 * DECISIONS (reasons in docs/api.md)
 *   - Access tokens: JWT HS256 only, "kid" required, the first configured key
 *     signs and all verify (rotation); stateless for their 15-minute life, so
 *     role changes and disabling reach them when they expire; refresh tokens
 *     and API keys are checked in the database and stop at once.
 *   - Verified credentials are cached per node for api.auth-cache (30 s).
 *   - Failed logins are counted in Redis (all nodes agree); fail closed.
 *   - ETag = updated_at in microseconds; If-Match optional, 412 when stale.
 *   - Keyset pagination by id with an opaque cursor.
 *   - Idempotency keys are per tenant and live 24 hours.
 *   - Users are disabled, never deleted; e-mails are unique platform-wide.
 *
 * docs/api.md has a worked example of a resource module.
 */
#ifndef API_API_H
#define API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/db.h"
#include "core/httpd.h"

struct api;
struct api_ctx;
struct dash;
struct httpd;

/* ---------------------------------------------------------------------- */
/* Roles and permissions                                                   */
/* ---------------------------------------------------------------------- */

/* The fixed tenant roles, weakest first. */
enum api_role {
    API_ROLE_NONE = 0, /* not authenticated */
    API_ROLE_VIEWER = 1,
    API_ROLE_EDITOR = 2,
    API_ROLE_ADMIN = 3,
};

/*
 * Permissions a route may require. Every permission has one row in
 * api_perm_matrix (api_perm.c) naming the roles that hold it; add new ones
 * there and here together.
 */
/* clang-format off */
#define API_PERM_MAP(X)                                      \
    X(PUBLIC,            "public")                           \
    X(PROFILE_READ,      "profile.read")                     \
    X(ROLES_READ,        "roles.read")                       \
    X(USERS_READ,        "users.read")                       \
    X(USERS_WRITE,       "users.write")                      \
    X(API_KEYS_READ,     "api_keys.read")                    \
    X(API_KEYS_WRITE,    "api_keys.write")                   \
    X(TENANTS_MANAGE,    "tenants.manage")                   \
    X(CAMPAIGNS_READ,    "campaigns.read")                   \
    X(CAMPAIGNS_WRITE,   "campaigns.write")                  \
    X(CAMPAIGNS_CONTROL, "campaigns.control")                \
    X(LISTS_READ,        "lists.read")                       \
    X(LISTS_WRITE,       "lists.write")                      \
    X(FLOWS_READ,        "flows.read")                       \
    X(FLOWS_WRITE,       "flows.write")                      \
    X(FLOWS_PUBLISH,     "flows.publish")                    \
    X(DNC_READ,          "dnc.read")                         \
    X(DNC_WRITE,         "dnc.write")                        \
    X(EXTENSIONS_READ,   "extensions.read")                  \
    X(EXTENSIONS_WRITE,  "extensions.write")                 \
    X(REPORTS_READ,      "reports.read")                     \
    X(AUDIT_READ,        "audit.read")                       \
    X(SECRETS_READ,      "secrets.read")                     \
    X(SECRETS_WRITE,     "secrets.write")                    \
    X(WEBHOOKS_READ,     "webhooks.read")                    \
    X(WEBHOOKS_WRITE,    "webhooks.write")

/* clang-format on */

enum api_perm {

#define API_PERM_ENUM_(id, name) API_PERM_##id,
    API_PERM_MAP(API_PERM_ENUM_)
#undef API_PERM_ENUM_
        API_PERM_COUNT_
};

/* One row of the permission matrix. */
struct api_perm_row {
    enum api_perm perm;
    const char *name;      /* "users.write" */
    unsigned roles;        /* bit (1u << enum api_role) per role holding it */
    bool platform;         /* true: only platform operators (any role) */
    const char *describes; /* one line for the README and GET /roles */
};

extern const struct api_perm_row api_perm_matrix[API_PERM_COUNT_];

/* "admin", "editor", "viewer" (or "none"); and back (API_ROLE_NONE when unknown). */
const char *api_role_name(enum api_role r);
enum api_role api_role_parse(const char *s);

/* Whether a principal with role (and the platform flag) holds perm. Pure. */
bool api_perm_allows(enum api_perm perm, enum api_role role, bool platform_operator);

/* ---------------------------------------------------------------------- */
/* Principal                                                               */
/* ---------------------------------------------------------------------- */

enum api_principal_kind {
    API_PRINCIPAL_NONE = 0,
    API_PRINCIPAL_USER = 1,
    API_PRINCIPAL_API_KEY = 2,
};

/* Who is calling (a value; copied freely). */
struct api_principal {
    enum api_principal_kind kind;
    int64_t id;             /* users.id or api_keys.id */
    int64_t tenant_id;      /* the tenant every query of the request is scoped to */
    enum api_role role;     /* role within the tenant */
    bool platform_operator; /* users only: may manage tenants */
    int64_t expires_us;     /* wall-clock end of the credential's validity (cache bound) */
};

/* ---------------------------------------------------------------------- */
/* Configuration and lifecycle                                             */
/* ---------------------------------------------------------------------- */

/* Zero fields take the default in brackets. Strings are copied by api_create. */
struct api_config {
    const char *db_conninfo;     /* libpq conninfo of dialer_app (required) */
    int db_pool_size;            /* connections on the httpd thread [4] */
    int64_t db_query_timeout_ms; /* [10000] */
    const char *redis_host;      /* login rate limits; NULL: no Redis (limits in memory) */
    int redis_port;
    const char *redis_socket;
    const char *redis_password;
    const char *jwt_keys;       /* "kid=secret,kid2=secret2": the first signs, all verify */
    const char *jwt_keys_file;  /* lines "kid=secret" (# comments); added after jwt_keys */
    int64_t access_ttl_s;       /* access token lifetime [900] */
    int64_t refresh_ttl_s;      /* refresh token lifetime [30 days] */
    int64_t auth_cache_s;       /* verified token/key cache lifetime [30] */
    int64_t login_max_failures; /* per account and per address within the window [5 / 20] */
    int64_t login_window_s;     /* failure counting window [900] */
    int hash_threads;           /* password hashing workers [2] */
    uint64_t pwhash_ops;        /* Argon2id opslimit [crypto_pwhash_OPSLIMIT_INTERACTIVE] */
    size_t pwhash_mem;          /* Argon2id memlimit bytes [crypto_pwhash_MEMLIMIT_INTERACTIVE] */
    struct dash *dash;          /* live metrics for /campaigns/{id}/stats (borrowed); NULL: zeros */
};

/*
 * Creates the API with its own routes (auth, tenants, users, roles, API keys,
 * /me) and starts the password-hashing workers; connects to nothing yet.
 * Without any JWT key configured it makes a random per-process key and
 * warns (development only). Returns 0 and *out (new; api_destroy),
 * ERR_INVAL with a logged reason (a key shorter than 32 bytes, a malformed
 * or duplicate kid, an unreadable key file), ERR_NOMEM. Main thread.
 */
int api_create(const struct api_config *cfg, struct api **out);

/*
 * Registers every route with h (created with the hooks of api_httpd_hooks()
 * and not yet started). Routes added later are refused (ERR_BUSY). Returns
 * 0 or the httpd_route_add error (ERR_EXISTS for a clash). Main thread.
 */
int api_mount(struct api *a, struct httpd *h);

/*
 * Fills cfg->on_thread_start/on_thread_stop/thread_arg so that the api opens
 * and closes its connections on the httpd thread. Call before httpd_create.
 */
void api_httpd_hooks(struct api *a, struct httpd_config *cfg);

/* Frees the API after httpd_stop (joins the hashing workers). NULL is a no-op. */
void api_destroy(struct api *a);

/* ---------------------------------------------------------------------- */
/* Routes                                                                  */
/* ---------------------------------------------------------------------- */

/*
 * A handler. Runs on the httpd thread after authentication, authorisation
 * and the idempotency check. It answers with api_respond_json/api_error
 * (exactly once, now or later) and returns HTTPD_DONE or HTTPD_DEFERRED; a
 * negative return without an answer sends 500. ctx stays valid until the
 * answer is sent, not after.
 */
typedef int api_handler_cb(struct api_ctx *ctx, void *arg);

/*
 * Streaming routes (uploads): the handler runs once the request head is in
 * and authorised, before any body, and returns HTTPD_DEFERRED to accept it;
 * then on_chunk gets the body pieces (HTTPD_DONE: go on, HTTPD_PAUSE: stop
 * until httpd_req_resume(api_ctx_req(ctx)), negative: stop and answer 500)
 * and on_end the end. Body bytes that arrive while authentication is still
 * under way (API-key lookups) are held and handed to on_chunk as soon as
 * the handler has accepted the body. The route's max_body is the upload
 * limit (0: none).
 */
typedef int api_chunk_cb(struct api_ctx *ctx, const void *data, size_t len, void *arg);
typedef void api_end_cb(struct api_ctx *ctx, void *arg);

enum api_route_flag {
    API_ROUTE_IDEMPOTENT = 1u << 0, /* honour Idempotency-Key (creates) */
    API_ROUTE_NO_BODY = 1u << 1,    /* refuse a request body (400) */
};

/* A route. Copied by api_route_add (pattern included). */
struct api_route {
    unsigned methods;        /* exactly one enum httpd_method */
    const char *pattern;     /* "/api/v1/campaigns/{id}" */
    enum api_perm perm;      /* required permission; API_PERM_PUBLIC: no authentication */
    api_handler_cb *handler; /* required */
    void *arg;
    unsigned flags;   /* enum api_route_flag */
    int64_t max_body; /* bytes; 0: the server's http.max-body */
};

/*
 * Adds a route before api_mount. Returns 0, ERR_INVAL (no handler, not one
 * method, pattern not under /api/v1/), ERR_EXISTS, ERR_BUSY (mounted),
 * ERR_NOMEM.
 */
int api_route_add(struct api *a, const struct api_route *r);

/*
 * Adds a streaming route (see api_chunk_cb): like api_route_add, with the
 * body handed to on_chunk/on_end instead of buffered; r->max_body 0 means
 * no limit. ERR_INVAL also when on_chunk or on_end is NULL.
 */
int api_route_add_stream(struct api *a, const struct api_route *r, api_chunk_cb *on_chunk,
                         api_end_cb *on_end);

/* The routes registered so far, for tests and the spec check (borrowed, valid until api_destroy).
 */
size_t api_route_count(const struct api *a);
const struct api_route *api_route_at(const struct api *a, size_t i);

/* ---------------------------------------------------------------------- */
/* The request context (httpd thread)                                      */
/* ---------------------------------------------------------------------- */

struct httpd_req *api_ctx_req(struct api_ctx *ctx);
const struct api_principal *api_ctx_principal(const struct api_ctx *ctx);
const char *api_ctx_request_id(const struct api_ctx *ctx);
struct api *api_ctx_api(const struct api_ctx *ctx);

/* "user:42" or "api_key:7": the app.actor of the request's transactions. Borrowed. */
const char *api_ctx_actor(const struct api_ctx *ctx);

/* The tenant id as decimal text (for SQL parameters). Borrowed. */
const char *api_ctx_tenant_text(const struct api_ctx *ctx);

/* printf into the request's arena (freed with the request); NULL on OOM. */
char *api_ctx_printf(struct api_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * For continuations on other threads: keep api_ctx_handle(ctx) (and the
 * api), never ctx; back on the httpd thread api_ctx_lookup() returns the
 * context, or NULL once the request was answered, timed out or aborted.
 */
uint64_t api_ctx_handle(const struct api_ctx *ctx);
struct api_ctx *api_ctx_lookup(struct api *a, uint64_t handle);

/* The httpd the api is mounted on (NULL before api_mount). */
struct httpd *api_httpd(const struct api *a);

/*
 * The api's PostgreSQL pool on the httpd thread (for modules whose storage
 * functions take a pool, e.g. ivr_store_*); NULL before the thread started.
 * Prefer api_db_run, which scopes the transaction to the caller's tenant.
 */
struct db_pool *api_db_pool(struct api *a);

/* The api's Redis connection on the httpd thread (frequency-cap peeks of the
 * check route); NULL before the thread started or without Redis. */
struct kv_conn;
struct kv_conn *api_kv(struct api *a);

/* One pointer for the handler's own state (e.g. across deferred steps). */
void api_ctx_set_data(struct api_ctx *ctx, void *data);
void *api_ctx_data(const struct api_ctx *ctx);

/* ---------------------------------------------------------------------- */
/* Responses (httpd thread; exactly one per request)                       */
/* ---------------------------------------------------------------------- */

/* Extra response headers (copied); ETag and Location are the common ones. */
struct api_resp_opts {
    const char *etag;     /* value without quotes; sent as ETag: "<etag>" */
    const char *location; /* Location header */
    int retry_after_s;    /* > 0: Retry-After header */
};

/*
 * Sends body (taken; NULL: no body) as JSON with status. Stores it for the
 * Idempotency-Key of the request first when there is one. opts may be NULL.
 * Returns 0 or the httpd_respond_raw code (the client may be gone).
 */
int api_respond_json(struct api_ctx *ctx, int status, json_t *body,
                     const struct api_resp_opts *opts);

/*
 * Sends a body that is not JSON (a CSV export, say): content_type and body
 * (len bytes, copied) as they are. Never stored for an Idempotency-Key (use
 * it on reads). Returns as api_respond_json.
 */
int api_respond_raw(struct api_ctx *ctx, int status, const char *content_type, const void *body,
                    size_t len);

/* Sends {"error":{"code","message"[,"field"]}}; field NULL omits it. */
int api_error(struct api_ctx *ctx, int status, const char *code, const char *message,
              const char *field);

/*
 * Answers a failed api_db_run: 409 conflict for a unique violation, 422 for
 * a check or foreign-key violation (bad reference), 503 when the database is
 * unreachable, else 500 (the SQL error is logged, not sent).
 */
int api_error_db(struct api_ctx *ctx, int status);

/* ---------------------------------------------------------------------- */
/* Transactions (httpd thread)                                             */
/* ---------------------------------------------------------------------- */

enum api_scope {
    API_SCOPE_TENANT = 0,   /* app.tenant_id = the principal's tenant (RLS applies) */
    API_SCOPE_PLATFORM = 1, /* SET LOCAL ROLE dialer_platform: every tenant (keep rare) */
};

/*
 * Called with each statement's result (res borrowed for the call) in order.
 * Return 0, or a negative code to mark the batch failed (done gets it; the
 * transaction still commits, so put conditions in the SQL itself).
 */
typedef int api_rows_cb(struct api_ctx *ctx, PGresult *res, void *arg);

/*
 * The batch ended: status 0 (every statement and the COMMIT succeeded),
 * ERR_DB (api_ctx_sqlstate() says why; nothing was committed),
 * ERR_DISCONNECTED / ERR_TIMEOUT (outcome unknown) or a code a rows
 * callback returned. ctx is valid; answer the request here.
 */
typedef void api_done_cb(struct api_ctx *ctx, int status, void *arg);

/* One statement: SQL with $n text parameters (borrowed for the api_db_run call). */
struct api_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
    api_rows_cb *rows; /* optional */
    void *arg;
};

/*
 * Runs stmts as one transaction on one pooled connection: BEGIN, the scope
 * (app.tenant_id and app.actor, or the platform role), the statements,
 * COMMIT, all pipelined in one round trip. Returns 0 (done will be called
 * once, never before this returns) or ERR_DISCONNECTED (no connection up:
 * answer 503), ERR_INVAL, ERR_NOMEM. If the request is answered before done
 * (it should not be), the results are dropped.
 */
int api_db_run(struct api_ctx *ctx, enum api_scope scope, const struct api_stmt *stmts, size_t n,
               api_done_cb *done, void *arg);

/* SQLSTATE of the failed statement of the last batch, "" when none. Borrowed. */
const char *api_ctx_sqlstate(const struct api_ctx *ctx);

/* ---------------------------------------------------------------------- */
/* Input helpers (httpd thread). Each answers the request itself on a bad   */
/* input and returns ERR_INVAL: the handler then just returns HTTPD_DONE.   */
/* ---------------------------------------------------------------------- */

enum api_ftype {
    API_F_STRING = 0, /* min/max: length in characters (UTF-8 code points) */
    API_F_INT,        /* min/max: value */
    API_F_BOOL,
    API_F_OBJECT, /* any JSON object; max: serialised size in bytes when > 0 */
    API_F_EMAIL,  /* string: one @, no spaces, <= 254 */
    API_F_ENUM,   /* string, one of values[] */
    API_F_SLUG,   /* [a-z0-9][a-z0-9-]{1,62} */
};

/* One field of a JSON object body. */
struct api_field {
    const char *name;
    enum api_ftype type;
    bool required;
    bool nullable;             /* JSON null accepted */
    int64_t min, max;          /* see enum api_ftype; 0/0: no bounds */
    const char *const *values; /* API_F_ENUM: NULL-terminated */
};

/*
 * Checks the request body: a JSON object whose members are all in fields
 * (unknown members are refused: "$.x is not a known field") with the right
 * types and bounds, required ones present. Answers 400 (not JSON, not an
 * object) or 422 (code missing_field / invalid_field / unknown_field, field
 * = "$.name"). Returns 0 and *body (borrowed, request lifetime) or ERR_INVAL.
 */
int api_body_validate(struct api_ctx *ctx, const struct api_field *fields, size_t n, json_t **body);

/* Pure form of the check for tests and fuzzing: 0, or ERR_INVAL with code/field/message filled. */
struct api_field_error {
    char code[32];
    char field[96];
    char message[160];
};

int api_json_check(const json_t *obj, const struct api_field *fields, size_t n,
                   struct api_field_error *err);

/*
 * Refuses query parameters not in allowed (NULL-terminated) with 400
 * unknown_parameter. Returns 0 or ERR_INVAL (answered).
 */
int api_query_allow(struct api_ctx *ctx, const char *const *allowed);

/*
 * A time in a query parameter: epoch seconds ("1795000000") or RFC 3339
 * ("2026-11-24T21:30:00Z", "...+01:00"; fractions ignored). 0 and *us (epoch
 * microseconds), or ERR_PARSE.
 */
int api_parse_time(const char *s, int64_t *us);

/*
 * Cursor pagination: reads ?limit (1..max_limit, default def_limit) and
 * ?cursor (opaque, made by api_cursor_make) into *limit and *after (the last
 * id of the previous page, 0 for the first). 400 invalid_parameter on bad
 * values. Returns 0 or ERR_INVAL (answered).
 */
int api_page_parse(struct api_ctx *ctx, int64_t def_limit, int64_t max_limit, int64_t *limit,
                   int64_t *after);

/* The opaque cursor for a page that ended at id (arena string). */
char *api_cursor_make(struct api_ctx *ctx, int64_t id);

/* Pure cursor codec for tests: 0 or ERR_PARSE. */
int api_cursor_decode(const char *cursor, int64_t *id);

/*
 * If-Match: *version gets the version named by the header ("\"123\"" or
 * W/"123"), or -1 when there is none. 412 precondition_failed for a
 * malformed one. Returns 0 or ERR_INVAL (answered).
 */
int api_if_match(struct api_ctx *ctx, int64_t *version);

/* The {name} path segment as a positive id; 404 not_found when it is not one. 0 or ERR_INVAL. */
int api_path_id(struct api_ctx *ctx, const char *name, int64_t *id);

/* ---------------------------------------------------------------------- */
/* Live metrics (api_dash.c)                                               */
/* ---------------------------------------------------------------------- */

/*
 * Adds GET /api/v1/campaigns/{id}/stats (campaigns.read), served from d's
 * cluster-wide figures (d NULL: every figure zero). api_create calls it with
 * api_config.dash. 0 or the api_route_add error.
 */
int api_dash_routes(struct api *a, struct dash *d);

/*
 * Adds the campaign routes (CRUD, start/pause/resume/stop/complete/schedule,
 * history, lists, attempts, call logs and their CSV export, the ready set;
 * docs/api.md "Campaigns"). api_create calls it. 0 or the api_route_add error.
 */
int api_campaigns_routes(struct api *a);

/*
 * Verifies a JWT access token outside a request (the live WebSocket) with
 * the same keys, claims and verified-credential cache as the request
 * pipeline. httpd thread only. Returns 0 and *p, ERR_AUTH or ERR_INVAL.
 */
int api_token_verify(struct api *a, const char *token, struct api_principal *p);

/*
 * Verifies an API key outside a request (the live WebSocket): a database
 * look-up, so the answer comes later through cb, once, on the httpd thread
 * (rc 0 and *p; ERR_AUTH for an unknown, revoked or expired key or a
 * suspended tenant; another code when the database failed). httpd thread
 * only. Returns 0 (cb will run), ERR_AUTH at once for something that cannot
 * be a key (cb will not run), ERR_DISCONNECTED, ERR_NOMEM or ERR_INVAL.
 */
typedef void api_key_verified_cb(int rc, const struct api_principal *p, void *arg);
int api_key_verify(struct api *a, const char *key, api_key_verified_cb *cb, void *arg);
/* Resource routes: contact lists, uploads and import jobs                  */
/* ---------------------------------------------------------------------- */

struct importer;
struct api_lists;

/*
 * Adds the contact-list routes to a (before api_mount): lists CRUD, the
 * contacts of a list, streaming uploads, JSON batches, import jobs
 * (progress, cancel) and the rejects CSV. imp is the importer service
 * (borrowed; NULL: uploads and batches answer 503); conninfo (copied) is the
 * dialer_app conninfo the rejects export connects with, on a thread of its
 * own. Returns 0 and *out (api_lists_destroy after httpd_stop), or the
 * api_route_add error. Main thread.
 */
int api_lists_create(struct api *a, struct importer *imp, const char *conninfo,
                     struct api_lists **out);

/*
 * How long an upload waits, after its body is in, for its import to end
 * before it is answered 202 with the running job (default 20 s; 0: at once).
 * Main thread, before the server starts.
 */
void api_lists_set_import_wait(struct api_lists *l, int64_t ms);

/* Waits (bounded) for running rejects exports and frees. NULL is a no-op. */
void api_lists_destroy(struct api_lists *l);

/*
 * Adds the IVR flow routes (drafts, validation, publish, revisions,
 * export/import, templates from template_dir (copied; "name.json" files),
 * the simulator). Returns 0 and *out (api_flows_destroy after httpd_stop) or
 * the api_route_add error. Main thread.
 */
struct api_flows;
int api_flows_create(struct api *a, const char *template_dir, struct api_flows **out);
void api_flows_destroy(struct api_flows *f);

/*
 * Adds GET /api/v1/compliance/check (the calling decision for a number at a
 * time, with reasons and the next eligible time). dnc is the DNC store
 * (borrowed; NULL: none loaded). Returns 0 and *out
 * (api_compliance_destroy after httpd_stop) or the api_route_add error.
 */
struct compliance_dnc;
struct api_compliance;
int api_compliance_create(struct api *a, struct compliance_dnc *dnc, struct api_compliance **out);
void api_compliance_destroy(struct api_compliance *c);

/*
 * Adds the DNC list routes under /api/v1/dnc/lists (lists, entries with who
 * and when, file uploads, CSV export; docs/compliance.md). Every committed
 * change goes to change (one entry) or reload (a whole list, after an upload
 * or a deletion), called on the httpd thread; both may be NULL (nothing is
 * loaded in memory). dnc (borrowed, may be NULL) is the store a deleted list
 * is dropped from at once. max_upload: largest upload body in bytes (413
 * above; 0: 64 MiB). Returns 0 and *out (api_dnc_destroy after httpd_stop)
 * or the api_route_add error.
 */
struct compliance_dnc_list_info;
struct api_dnc;
typedef int api_dnc_change_cb(const struct compliance_dnc_list_info *info, int add,
                              const char *entry, void *arg);
typedef int api_dnc_reload_cb(const struct compliance_dnc_list_info *info, void *arg);

/*
 * The national registry loaded from a file on this node (dnc.national-file;
 * list id -1, no dnc_lists row): shown read-only by the list routes.
 */
#define API_DNC_FILE_LIST_ID INT64_C(-1)

struct api_dnc_file {
    const char *path;     /* the file (borrowed: valid while dialerd runs) */
    const char *state;    /* "loading", "loaded", "failed", "missing" (static) */
    char country[3];      /* the country it covers (dnc.alarm-country) */
    int64_t numbers;      /* in the loaded set (0 before the first load) */
    int64_t list_date_us; /* the file's modification time at the load; 0 before it */
    int64_t loaded_us;    /* when the set was loaded; 0 before the first load */
    int32_t max_age_days; /* dnc.national-file-max-age */
    int32_t warn_days;    /* dnc.warn-days: the alarm's warning */
    uint64_t error_line;  /* the last failure's line (0: none or not a line) */
    char error[128];      /* the last failure since the last good load; "" none */
};

/* Fills *out: 0, or ERR_NOTFOUND when no file is configured. Any thread. */
typedef int api_dnc_file_cb(struct api_dnc_file *out, void *arg);

struct api_dnc_config {
    struct compliance_dnc *dnc;
    api_dnc_change_cb *change;
    api_dnc_reload_cb *reload;
    api_dnc_file_cb *file; /* NULL: no registry file */
    void *arg;
    int64_t max_upload;
};

int api_dnc_create(struct api *a, const struct api_dnc_config *cfg, struct api_dnc **out);
void api_dnc_destroy(struct api_dnc *d);

/* ---------------------------------------------------------------------- */
/* Bootstrap (command line only: blocking)                                 */
/* ---------------------------------------------------------------------- */

/* What `dialerd bootstrap` creates. Strings borrowed for the call. */
struct api_bootstrap {
    const char *tenant_slug;  /* created when missing, reused when present */
    const char *tenant_name;  /* for a new tenant; default: the slug */
    const char *email;        /* the admin; must not exist yet */
    const char *display_name; /* optional */
    const char *password;     /* >= 10 characters; hashed with Argon2id here */
    bool platform_operator;   /* also a platform operator (manages tenants) */
    uint64_t pwhash_ops;      /* 0: crypto_pwhash_OPSLIMIT_INTERACTIVE */
    size_t pwhash_mem;        /* 0: crypto_pwhash_MEMLIMIT_INTERACTIVE */
};

/*
 * Creates the tenant (unless its slug exists) and its admin in one
 * transaction through the platform path, with an audit_log row, on a
 * blocking libpq connection to conninfo (dialer_app). Prints one line per
 * object to out. Returns 0, ERR_INVAL (bad input, message on out),
 * ERR_EXISTS (the e-mail is taken), ERR_DB. Never on a loop thread.
 */
int api_bootstrap_run(const char *conninfo, const struct api_bootstrap *b, FILE *out);

/* ---------------------------------------------------------------------- */
/* Resource routes: extensions (api_extensions.c)                          */
/* ---------------------------------------------------------------------- */

struct api_extensions;

/* Pools and release policy; zero ranges take the schema's blocks. */
struct api_ext_config {
    int inbound_from, inbound_to;   /* claims come from here [2000-2999] */
    int outbound_from, outbound_to; /* [3000-3999] */
    int reserved_from, reserved_to; /* [4000-4999] */
    int quarantine_s;               /* a released extension is not claimable for this long */
};

/*
 * Adds the extension routes: GET/POST /extensions, GET /extensions/pools,
 * GET/PATCH/DELETE /extensions/{ext}, GET /extensions/{ext}/audit and
 * POST /flows/{id}/inbound (claim the next free extension for a flow).
 * cfg is copied (NULL: defaults with no quarantine). Returns 0 and *out
 * (api_extensions_destroy after httpd_stop) or the api_route_add error.
 */
int api_extensions_create(struct api *a, const struct api_ext_config *cfg,
                          struct api_extensions **out);

/* NULL is a no-op. */
void api_extensions_destroy(struct api_extensions *x);

/* ---------------------------------------------------------------------- */
/* Tenant secrets (api_secrets.c)                                          */
/* ---------------------------------------------------------------------- */

enum {
    API_SECRETS_KEY_BYTES = 32,  /* the master key (secrets.key, base64) */
    API_SECRET_NONCE_BYTES = 24, /* crypto_secretbox nonce */
    API_SECRET_MAC_BYTES = 16,   /* ciphertext = value + this */
    API_SECRET_NAME_MAX = 64,    /* [a-z0-9_]{1,64} */
    API_SECRET_VALUE_MAX = 4096, /* bytes */
};

struct api_secrets;

/* Whether name is a valid secret name ([a-z0-9_]{1,64}). Pure. */
bool api_secret_name_ok(const char *name);

/*
 * The master key: b64 (secrets.key / DIALERD_SECRETS_KEY) when not empty,
 * else the base64 text of file (secrets.key-file). 0 and key, ERR_NOTFOUND
 * when neither is set, ERR_INVAL (logged, naming the option, never the
 * text) when unreadable or not base64 of 32 bytes.
 */
int api_secrets_key_load(const char *b64, const char *file,
                         unsigned char key[API_SECRETS_KEY_BYTES]);

/*
 * Seals value (len <= API_SECRET_VALUE_MAX bytes) for (tenant, name): ct
 * gets len + API_SECRET_MAC_BYTES bytes, nonce a fresh random nonce. 0 or
 * ERR_INVAL.
 */
int api_secret_seal(const unsigned char key[API_SECRETS_KEY_BYTES], int64_t tenant,
                    const char *name, const char *value, size_t len, unsigned char *ct,
                    unsigned char nonce[API_SECRET_NONCE_BYTES]);

/*
 * Opens what api_secret_seal sealed for the same (tenant, name): out gets
 * ctlen - API_SECRET_MAC_BYTES bytes and a NUL. 0, or ERR_INVAL when the
 * ciphertext was altered, belongs to another row or key.
 */
int api_secret_open(const unsigned char key[API_SECRETS_KEY_BYTES], int64_t tenant,
                    const char *name, const unsigned char *ct, size_t ctlen,
                    const unsigned char nonce[API_SECRET_NONCE_BYTES], char *out);

/*
 * Adds GET /api/v1/secrets, PUT and DELETE /api/v1/secrets/{name}. key (32
 * bytes, copied into locked memory) may be NULL: every route then answers
 * 503 naming secrets.key and secrets.key-file. 0 and *out
 * (api_secrets_destroy after httpd_stop) or ERR_NOMEM / api_route_add error.
 */
int api_secrets_create(struct api *a, const unsigned char *key, struct api_secrets **out);

/* Wipes the key. NULL is a no-op. */
void api_secrets_destroy(struct api_secrets *x);

/* ---------------------------------------------------------------------- */
/* Webhook endpoints (api_webhooks.c; delivery in hooks/)                  */
/* ---------------------------------------------------------------------- */

struct api_webhooks;

/*
 * Adds GET/POST /api/v1/webhooks, GET/PATCH/DELETE /api/v1/webhooks/{id},
 * POST /api/v1/webhooks/{id}/rotate-secret, GET /api/v1/webhooks/{id}/deliveries
 * and POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver. key: the
 * tenant secrets key (sealing the signing secrets), or NULL: creation and
 * rotation answer 503. 0 and *out (api_webhooks_destroy after httpd_stop).
 */
int api_webhooks_create(struct api *a, const unsigned char *key, struct api_webhooks **out);

/* Wipes the key. NULL is a no-op. */
void api_webhooks_destroy(struct api_webhooks *x);

/* Whether url is an acceptable endpoint URL (http/https, a host, no credentials). Pure. */
bool api_webhook_url_ok(const char *url);

/*
 * Checks a POST (create) or PATCH body of /api/v1/webhooks: known fields,
 * types, url and events. 0, or ERR_INVAL with err naming the field
 * ($.url, $.events...), ERR_NOMEM. Pure (fuzzed: tests/fuzz/fuzz_webhook_body.c).
 */
int api_webhook_body_check(const json_t *body, bool create, struct api_field_error *err);

#endif
