/* SPDX-License-Identifier: MIT */
/*
 * Tenant secrets and api_call allowlists for flows (server/secrets_wire.h).
 *
 * Decisions:
 *   - Everything of every tenant is read in one read-only platform
 *     transaction every refresh interval (10 s by default): a change made
 *     through the API reaches running nodes within that time, with no
 *     message between processes. Calls started before the first load of
 *     the process get no secrets (their api_call sends the header without
 *     the value); the first load starts with the server.
 *   - Values are decrypted only here, into memory; a replaced table has its
 *     values wiped before it is freed. Nothing here logs a value; a row
 *     that does not open (another key, altered) is logged by tenant and
 *     name and left out.
 *   - A tenant with settings.api_call_allow gets its own SSRF-guarded
 *     backend (the global CIDRs and its own) over the shared HTTP client;
 *     the others share the global one. A backend whose list changed is
 *     kept until stop: requests in flight still point at it.
 *   - A failed load keeps the previous tables (a database hiccup does not
 *     take secrets away from running flows).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/log.h"
#include "ivr/ivr.h"
#include "server/secrets_wire.h"

enum { ALLOW_MAX = 64, DEFAULT_REFRESH_MS = 10000 };

struct tenant_io {
    long long tenant;
    json_t *secrets;               /* {"name": "value"}, or NULL */
    char *allow;                   /* settings.api_call_allow as loaded (JSON text), or NULL */
    struct ivr_http_backend *http; /* NULL: the global backend */
};

struct retired {
    struct ivr_http_backend *b;
    struct retired *next;
};

struct secrets_wire {
    struct ev_loop *loop;
    struct db_pool *db;
    struct http_client *client;
    char *global; /* ivr.http-allow */
    unsigned char key[API_SECRETS_KEY_BYTES];
    bool has_key;
    ev_timer timer;
    struct ivr_http_backend *global_b;
    struct tenant_io *t; /* sorted by tenant */
    size_t n;
    struct retired *retired;
    int loaded;
    bool stopping; /* secrets_wire_stop ran: the pool may be going */
    /* The load in flight. */
    struct db_conn *conn;
    int pending;
    int status;
    struct tenant_io *nt;
    size_t nn, ncap;
};

static void wipe(json_t *secrets)
{
    const char *k;
    json_t *v;
    json_object_foreach (secrets, k, v) {
        sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
}

static void table_free(struct tenant_io *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        wipe(t[i].secrets);
        json_decref(t[i].secrets);
        free(t[i].allow);
    }
    free(t);
}

static const struct tenant_io *find(const struct tenant_io *t, size_t n, long long tenant)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].tenant == tenant) {
            return &t[mid];
        }
        if (t[mid].tenant < tenant) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The entry of tenant in the table being built (rows come in tenant order per query). */
static struct tenant_io *slot(struct secrets_wire *w, long long tenant)
{
    for (size_t i = w->nn; i > 0; i--) {
        if (w->nt[i - 1].tenant == tenant) {
            return &w->nt[i - 1];
        }
    }
    if (w->nn == w->ncap) {
        size_t cap = w->ncap ? w->ncap * 2 : 16;
        struct tenant_io *t = realloc(w->nt, cap * sizeof(*t));
        if (t == NULL) {
            return NULL;
        }
        w->nt = t;
        w->ncap = cap;
    }
    struct tenant_io *e = &w->nt[w->nn++];
    memset(e, 0, sizeof(*e));
    e->tenant = tenant;
    return e;
}

static int cmp_tenant(const void *a, const void *b)
{
    long long x = ((const struct tenant_io *)a)->tenant, y = ((const struct tenant_io *)b)->tenant;
    return x < y ? -1 : x > y;
}

/* Splits text (commas/spaces) into out (pointers into text). Number, or -1 when too many. */
static int split(char *text, const char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(text, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        if (n == max) {
            return -1;
        }
        out[n++] = t;
    }
    return n;
}

/* A backend over the global CIDRs and the tenant's (JSON array text). NULL on a bad list. */
static struct ivr_http_backend *backend_for(struct secrets_wire *w, long long tenant,
                                            const char *allow_json)
{
    const char *cidr[ALLOW_MAX];
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", w->global);
    int n = split(buf, cidr, ALLOW_MAX);
    json_t *a = json_loads(allow_json, JSON_DECODE_ANY, NULL);
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v) {
        if (n < 0 || n == ALLOW_MAX || !ivr_cidr_valid(json_string_value(v))) {
            LOG_WARN(SERVER, "event=tenant_allow_ignored tenant=%lld index=%zu", tenant, i);
            continue;
        }
        cidr[n++] = json_string_value(v);
    }
    struct ivr_http_backend *b =
        n >= 0 ? ivr_http_backend_create(w->client, cidr, (size_t)n) : NULL;
    json_decref(a);
    return b;
}

static void load_end(struct secrets_wire *w)
{
    if (!w->stopping) {
        db_pool_unpin(w->db, w->conn);
    }
    w->conn = NULL;
    if (w->status != 0 || w->stopping) {
        if (!w->stopping) {
            LOG_WARN(SERVER, "event=tenant_secrets_load_failed err=\"%s\"", err_str(w->status));
        }
        table_free(w->nt, w->nn);
    } else {
        if (w->nn > 1) {
            qsort(w->nt, w->nn, sizeof(*w->nt), cmp_tenant);
        }
        for (size_t i = 0; i < w->nn; i++) {
            struct tenant_io *e = &w->nt[i];
            const struct tenant_io *old = find(w->t, w->n, e->tenant);
            if (e->allow == NULL) {
                continue;
            }
            if (old != NULL && old->allow != NULL && strcmp(old->allow, e->allow) == 0) {
                e->http = old->http; /* the same list: the same backend */
                continue;
            }
            e->http = backend_for(w, e->tenant, e->allow);
            struct retired *r = e->http != NULL ? calloc(1, sizeof(*r)) : NULL;
            if (r == NULL) {
                ivr_http_backend_destroy(e->http);
                e->http = NULL;
                continue;
            }
            r->b = e->http; /* freed at stop (requests in flight may still use it) */
            r->next = w->retired;
            w->retired = r;
        }
        table_free(w->t, w->n);
        w->t = w->nt;
        w->n = w->nn;
        w->loaded = 1;
    }
    w->nt = NULL;
    w->nn = w->ncap = 0;
}

static void secrets_rows(struct secrets_wire *w, PGresult *res)
{
    char value[API_SECRET_VALUE_MAX + 1];
    unsigned char ct[API_SECRET_VALUE_MAX + API_SECRET_MAC_BYTES];
    unsigned char nonce[API_SECRET_NONCE_BYTES];
    for (int i = 0; i < PQntuples(res); i++) {
        long long tenant = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        const char *name = PQgetvalue(res, i, 1);
        size_t ctlen = 0, nlen = 0;
        if (sodium_hex2bin(ct, sizeof(ct), PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2),
                           NULL, &ctlen, NULL) != 0 ||
            sodium_hex2bin(nonce, sizeof(nonce), PQgetvalue(res, i, 3),
                           (size_t)PQgetlength(res, i, 3), NULL, &nlen, NULL) != 0 ||
            nlen != sizeof(nonce) ||
            api_secret_open(w->key, tenant, name, ct, ctlen, nonce, value) != 0) {
            LOG_WARN(SERVER, "event=tenant_secret_unreadable tenant=%lld name=%s", tenant, name);
            continue;
        }
        struct tenant_io *e = slot(w, tenant);
        if (e != NULL && e->secrets == NULL) {
            e->secrets = json_object();
        }
        if (e == NULL || e->secrets == NULL ||
            json_object_set_new(e->secrets, name, json_string(value)) != 0) {
            w->status = ERR_NOMEM;
        }
        sodium_memzero(value, sizeof(value));
    }
}

static void load_cb(int status, PGresult *res, void *arg)
{
    struct secrets_wire *w = arg;
    if (status != 0 && w->status == 0) {
        w->status = status;
    } else if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
               PQnfields(res) == 2) {
        for (int i = 0; i < PQntuples(res); i++) {
            struct tenant_io *e = slot(w, strtoll(PQgetvalue(res, i, 0), NULL, 10));
            if (e == NULL || (e->allow = strdup(PQgetvalue(res, i, 1))) == NULL) {
                w->status = ERR_NOMEM;
            }
        }
    } else if (status == 0 && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
               PQnfields(res) == 4) {
        secrets_rows(w, res);
    }
    if (--w->pending == 0) {
        load_end(w);
    }
}

static void load(struct secrets_wire *w)
{
    static const char *const sql[] = {
        "BEGIN READ ONLY",
        "SET LOCAL ROLE dialer_platform",
        "SELECT id, (settings->'api_call_allow')::text FROM tenants"
        " WHERE jsonb_typeof(settings->'api_call_allow') = 'array' AND status = 'active'",
        "SELECT tenant_id, name, encode(ciphertext, 'hex'), encode(nonce, 'hex')"
        " FROM tenant_secrets ORDER BY tenant_id",
        "COMMIT",
    };
    size_t nsql = w->has_key ? 5 : 4;
    if (w->conn != NULL || db_pool_pin(w->db, &w->conn) != 0) {
        return; /* a load in flight, or no connection: the next tick tries again */
    }
    w->status = 0;
    w->pending = 0;
    for (size_t i = 0; i < nsql; i++) {
        const char *q = !w->has_key && i == 3 ? sql[4] : sql[i];
        struct db_query dq = { .sql = q, .cb = load_cb, .arg = w };
        if (db_query_send(w->conn, &dq, NULL) != 0) {
            w->status = ERR_DB;
            break;
        }
        w->pending++;
    }
    if (w->pending == 0) {
        load_end(w);
    }
}

static void tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    load(t->data);
}

int secrets_wire_start(const struct secrets_wire_config *cfg, struct secrets_wire **out)
{
    const char *cidr[ALLOW_MAX];
    char buf[4096];
    struct secrets_wire *w = sodium_malloc(sizeof(*w));
    if (w == NULL) {
        return ERR_NOMEM;
    }
    memset(w, 0, sizeof(*w));
    w->loop = cfg->loop;
    w->db = cfg->db;
    w->client = cfg->http;
    w->global = strdup(cfg->global_allow != NULL ? cfg->global_allow : "");
    if (cfg->key != NULL) {
        memcpy(w->key, cfg->key, API_SECRETS_KEY_BYTES);
        w->has_key = true;
    }
    snprintf(buf, sizeof(buf), "%s", w->global != NULL ? w->global : "");
    int n = split(buf, cidr, ALLOW_MAX);
    w->global_b = n >= 0 ? ivr_http_backend_create(w->client, cidr, (size_t)n) : NULL;
    if (w->global == NULL || w->global_b == NULL) {
        secrets_wire_free(w);
        return n < 0 || w->global != NULL ? ERR_INVAL : ERR_NOMEM;
    }
    double every = (double)(cfg->refresh_ms > 0 ? cfg->refresh_ms : DEFAULT_REFRESH_MS) / 1000.0;
    ev_timer_init(&w->timer, tick, 0.0, every);
    w->timer.data = w;
    ev_timer_start(w->loop, &w->timer);
    *out = w;
    return 0;
}

void secrets_wire_stop(struct secrets_wire *w)
{
    if (w != NULL) {
        ev_timer_stop(w->loop, &w->timer);
        w->stopping = true;
    }
}

void secrets_wire_free(struct secrets_wire *w)
{
    if (w == NULL) {
        return;
    }
    ev_timer_stop(w->loop, &w->timer);
    table_free(w->t, w->n);
    table_free(w->nt, w->nn);
    while (w->retired != NULL) {
        struct retired *r = w->retired;
        w->retired = r->next;
        ivr_http_backend_destroy(r->b);
        free(r);
    }
    ivr_http_backend_destroy(w->global_b);
    free(w->global);
    sodium_free(w); /* wipes the key */
}

int secrets_wire_loaded(const struct secrets_wire *w)
{
    return w != NULL && w->loaded;
}

json_t *secrets_wire_secrets(void *arg, long long tenant)
{
    struct secrets_wire *w = arg;
    const struct tenant_io *e = w != NULL ? find(w->t, w->n, tenant) : NULL;
    return e != NULL ? json_incref(e->secrets) : NULL;
}

void *secrets_wire_http(void *arg, long long tenant)
{
    struct secrets_wire *w = arg;
    const struct tenant_io *e = w != NULL ? find(w->t, w->n, tenant) : NULL;
    return e != NULL && e->http != NULL ? e->http : (w != NULL ? w->global_b : NULL);
}
