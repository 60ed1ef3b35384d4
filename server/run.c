/* SPDX-License-Identifier: MIT */
/*
 * server/run: dialerd's wiring of loops, threads and dependencies.
 *
 * The main thread runs the main libev loop: it owns the PostgreSQL pool, the
 * Redis connection, the ARI connections and (as later modules land) the
 * scheduler, dialer and IVR sessions. The HTTP/WebSocket server runs on its
 * own thread (core/httpd) and reads the dependency health that the main loop
 * publishes in atomics, so /healthz and /readyz never wait on the main loop.
 *
 * Shutdown: SIGTERM or SIGINT marks the node draining (/readyz answers 503
 * so a load balancer stops sending work), stops taking new work, lets HTTP
 * requests in flight finish for at most shutdown.drain-timeout, then closes
 * everything and returns 0.
 */
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "ari/ari.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/err.h"
#include "core/http.h"
#include "core/httpd.h"
#include "core/kv.h"
#include "core/log.h"
#include "dashboards/dashboards.h"
#include "importers/importers.h"
#include "ivr/ivr.h"
#include "server/dialer_wire.h"
#include "server/dnc_wire.h"
#include "server/ext_jobs.h"
#include "server/hooks_wire.h"
#include "server/secrets_wire.h"
#include "server/server.h"

enum dep_state { DEP_DOWN = 0, DEP_UP = 1, DEP_UNCONFIGURED = 2 };

enum { ARI_SERVERS_MAX = 64 }; /* servers /readyz can report */

struct server {
    const struct server_config *conf; /* borrowed, immutable */
    struct ev_loop *loop;             /* main loop */
    ev_signal sigterm;
    ev_signal sigint;
    struct db_pool *db;                 /* main loop's PostgreSQL pool */
    struct kv_conn *kv;                 /* main loop's Redis connection */
    struct ari_server_list ari_servers; /* names and URLs, immutable while running */
    struct ari_pool *ari;               /* one ARI client per Asterisk server */
    struct ivr_ari *ivr_ari;            /* IVR calls by channel id; TTS worker */
    struct ivr_sounds *sounds;          /* GET /sounds/ over the TTS cache (ivr.sounds-http-base) */
    struct ivr_inbound *inbound;        /* inbound extensions to flows */
    struct ivr_recorder *ivr_rec;       /* inbound executions and steps */
    struct http_client *ivr_http;       /* api_call requests of inbound flows */
    struct ivr_http_backend *ivr_httpb; /* SSRF guard over ivr_http */
    struct ext_jobs *ext_jobs;          /* extension provisioning, quarantine expiry */
    struct httpd *httpd;                /* HTTP/WebSocket thread */
    struct api *api;                    /* REST API mounted on httpd */
    struct dialer_wire *dialer;         /* outbound engine (server/dialer_wire.c) */
    struct dnc_wire *dnc;               /* DNC store, loader, sync (server/dnc_wire.c) */
    struct dash *dash;                  /* live metrics, /metrics, /ws/v1/live */
    struct importer *importer;          /* contact list imports (own worker threads) */
    struct api_lists *api_lists;        /* list, upload and import routes */
    struct api_flows *api_flows;        /* IVR flow routes */
    struct api_compliance *api_comp;    /* compliance check route */
    struct api_dnc *api_dnc;            /* DNC list routes */
    struct api_extensions *api_exts;    /* extension routes */
    struct api_secrets *api_secrets;    /* tenant secret routes */
    struct api_webhooks *api_hooks;     /* webhook endpoint routes */
    struct hooks *hooks;                /* webhook delivery thread (NULL: not on this node) */
    struct secrets_wire *secrets;       /* tenants' secrets and allowlists for flows */
    unsigned char secrets_key[API_SECRETS_KEY_BYTES];
    int secrets_key_rc; /* 1: not read yet; 0: read; ERR_NOTFOUND: none configured */
    int64_t started_us;
    /* Published by the main loop, read by the httpd thread (relaxed: each
     * is an independent status flag, nothing else is synchronised by it). */
    _Atomic int pg_state;
    _Atomic int redis_state;
    _Atomic int ari_health[ARI_SERVERS_MAX]; /* enum ari_health per server */
    /* The wall's entity of each server (main thread; NULL before the registry exists). */
    struct dash_entity *dash_servers[ARI_SERVERS_MAX];
    _Atomic int draining;
};

static const char *dep_name(int s)
{
    switch (s) {
    case DEP_UP:
        return "up";
    case DEP_UNCONFIGURED:
        return "not_configured";
    default:
        return "down";
    }
}

/* ---------------------------------------------------------------- health */

static int healthz(struct httpd_req *req, void *arg)
{
    struct server *s = arg;
    json_t *body = json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "node", s->conf->node_id,
                             "version", DIALER_VERSION, "uptime_s",
                             (json_int_t)((clock_mono_us() - s->started_us) / CLOCK_US_PER_SEC));
    return httpd_respond_json(req, HTTPD_STATUS_OK, body);
}

/* Each ARI server's health; ARI is ready when at least one can take calls. */
static json_t *ari_checks(struct server *s, bool *any_up)
{
    json_t *servers = json_array();
    const char *overall = "down";

    *any_up = false;
    for (size_t i = 0; i < s->ari_servers.n && i < ARI_SERVERS_MAX; i++) {
        int h = atomic_load_explicit(&s->ari_health[i], memory_order_relaxed);
        if (h != ARI_HEALTH_DOWN) {
            *any_up = true;
            overall = h == ARI_HEALTH_UP || strcmp(overall, "up") == 0 ? "up" : "degraded";
        }
        json_array_append_new(servers,
                              json_pack("{s:s, s:s, s:s}", "name", s->ari_servers.servers[i].name,
                                        "status", ari_health_name((enum ari_health)h), "url",
                                        s->ari_servers.servers[i].url));
    }
    return json_pack("{s:s, s:o}", "status", overall, "servers", servers);
}

static int readyz(struct httpd_req *req, void *arg)
{
    struct server *s = arg;
    int pg = atomic_load_explicit(&s->pg_state, memory_order_relaxed);
    int redis = atomic_load_explicit(&s->redis_state, memory_order_relaxed);
    int draining = atomic_load_explicit(&s->draining, memory_order_relaxed);
    bool ari_up;
    json_t *ari = ari_checks(s, &ari_up);
    int ready = pg == DEP_UP && redis == DEP_UP && ari_up && !draining;
    /* The DNC state is reported, not required: see server/dnc_wire.h. */
    json_t *body =
        json_pack("{s:s, s:s, s:{s:{s:s}, s:{s:s}, s:o, s:o}}", "status",
                  draining ? "draining" : (ready ? "ready" : "not_ready"), "node", s->conf->node_id,
                  "checks", "postgresql", "status", dep_name(pg), "redis", "status",
                  dep_name(redis), "ari", ari, "dnc", dnc_wire_status_json(s->dnc));
    return httpd_respond_json(req, ready ? HTTPD_STATUS_OK : HTTPD_STATUS_UNAVAILABLE, body);
}

/* ------------------------------------------------------ dependency state */

static void db_state(int up, void *arg)
{
    struct server *s = arg;
    atomic_store_explicit(&s->pg_state, up ? DEP_UP : DEP_DOWN, memory_order_relaxed);
}

static void kv_state(bool up, void *arg)
{
    struct server *s = arg;
    atomic_store_explicit(&s->redis_state, up ? DEP_UP : DEP_DOWN, memory_order_relaxed);
}

/* The pool's health changes, published for /readyz (the httpd thread). */
static void ari_health_cb(struct ari_client *c, enum ari_health h, void *arg)
{
    struct server *s = arg;
    for (size_t i = 0; i < ari_pool_size(s->ari) && i < ARI_SERVERS_MAX; i++) {
        if (ari_pool_client(s->ari, i) == c) {
            atomic_store_explicit(&s->ari_health[i], (int)h, memory_order_relaxed);
            dash_server_health(s->dash, s->dash_servers[i], (enum dash_health)h);
        }
    }
}

/*
 * ARI events, in order: the outbound dialer's channels (attempt ids, "amd"
 * arguments), then a channel a live IVR call owns (ivr_ari_dispatch), then a
 * StasisStart whose first argument is an inbound extension (ivr_inbound_start).
 */
static void ari_event_cb(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct server *s = arg;
    if (dialer_wire_event(s->dialer, c, ev)) {
        return;
    }
    if (ivr_ari_dispatch(s->ivr_ari, ev)) {
        return;
    }
    ivr_inbound_start(s->inbound, c, ev);
}

/* api_call for inbound flows: core/http behind the SSRF guard (ivr.http-allow). */
static int start_ivr_http(struct server *s)
{
    const char *allow[32];
    char buf[4096];
    size_t n = 0;
    char *save = NULL;
    int rc = http_client_create(s->loop, NULL, &s->ivr_http);
    if (rc != 0) {
        return rc;
    }
    snprintf(buf, sizeof(buf), "%s", s->conf->ivr_http_allow);
    for (char *t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
        if (n == sizeof(allow) / sizeof(allow[0])) {
            LOG_ERR(SERVER, "event=config_invalid key=ivr.http-allow err=\"more than 32 CIDRs\"");
            return ERR_INVAL;
        }
        allow[n++] = t;
    }
    s->ivr_httpb = ivr_http_backend_create(s->ivr_http, allow, n);
    if (s->ivr_httpb == NULL) {
        LOG_ERR(SERVER, "event=config_invalid key=ivr.http-allow err=\"not a list of CIDRs\"");
        return ERR_INVAL;
    }
    return 0;
}

/*
 * The tenant secrets key (secrets.key or secrets.key-file), read once. NULL
 * when none is configured (the routes answer 503, flows get no secrets);
 * *rc ERR_INVAL when one is configured but unusable (startup fails).
 */
static const unsigned char *secrets_key(struct server *s, int *rc)
{
    if (s->secrets_key_rc == 1) {
        s->secrets_key_rc =
            api_secrets_key_load(s->conf->secrets_key, s->conf->secrets_key_file, s->secrets_key);
        if (s->secrets_key_rc == ERR_NOTFOUND) {
            LOG_WARN(SERVER, "event=secrets_unconfigured msg=\"no secrets.key or secrets.key-file:"
                             " /api/v1/secrets answers 503, flows get no secrets\"");
        }
    }
    *rc = s->secrets_key_rc == ERR_INVAL ? ERR_INVAL : 0;
    return s->secrets_key_rc == 0 ? s->secrets_key : NULL;
}

/* Tenants' secrets and api_call allowlists for flows, over the api_call client. */
static int start_secrets(struct server *s)
{
    int rc;
    struct secrets_wire_config sc = {
        .loop = s->loop,
        .db = s->db,
        .http = s->ivr_http,
        .global_allow = s->conf->ivr_http_allow,
    };
    sc.key = secrets_key(s, &rc);
    if (rc == 0) {
        rc = secrets_wire_start(&sc, &s->secrets);
    }
    return rc;
}

/*
 * The say provider of ivr.tts-provider. The http provider's bearer token comes
 * from ivr.tts-token-file (whitespace at its end dropped), else
 * ivr.tts-token (a secret: DIALERD_IVR_TTS_TOKEN); it is never logged.
 */
static int make_tts(const struct server_config *c, struct ivr_tts_provider **out)
{
    char tok[4096];
    struct ivr_tts_http_config hc = { .url = c->ivr_tts_url,
                                      .timeout_ms = c->ivr_tts_timeout_ms,
                                      .max_bytes = c->ivr_tts_max_size };
    tok[0] = '\0';
    if (strcmp(c->ivr_tts_provider, "http") != 0) {
        *out = NULL; /* the dispatcher's espeak-ng */
        return 0;
    }
    if (c->ivr_tts_token_file[0] != '\0') {
        FILE *f = fopen(c->ivr_tts_token_file, "r");
        size_t n;
        if (f == NULL) {
            LOG_ERR(SERVER, "event=config_invalid key=ivr.tts-token-file err=\"cannot read %s\"",
                    c->ivr_tts_token_file);
            return ERR_INVAL;
        }
        n = fread(tok, 1, sizeof(tok) - 1, f);
        fclose(f);
        tok[n] = '\0';
        while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ')) {
            tok[--n] = '\0';
        }
    } else {
        snprintf(tok, sizeof(tok), "%s", c->ivr_tts_token);
    }
    hc.token = tok;
    *out = ivr_tts_http_create(&hc);
    explicit_bzero(tok, sizeof(tok));
    if (*out == NULL) {
        LOG_ERR(SERVER, "event=config_invalid key=ivr.tts-url err=\"not a usable http(s) URL or "
                        "token\"");
        return ERR_INVAL;
    }
    return 0;
}

/* The IVR's dispatcher and the inbound router over the main pool. */
static int start_ivr(struct server *s)
{
    const struct server_config *c = s->conf;
    struct ivr_tts_provider *tts = NULL;
    struct ivr_ari_config ac = {
        .app = c->ari_app,
        .transfer_context = c->ivr_transfer_context,
        .sounds_dir = c->ivr_sounds_dir[0] != '\0' ? c->ivr_sounds_dir : NULL,
        .sounds_uri = c->ivr_sounds_uri[0] != '\0' ? c->ivr_sounds_uri : NULL,
        .tts_cache_max_bytes = c->ivr_tts_cache_max > 0 ? c->ivr_tts_cache_max : -1,
        .tts_cache_max_age_ms = c->ivr_tts_cache_age_ms > 0 ? c->ivr_tts_cache_age_ms : -1,
        .sounds_http_base = c->ivr_sounds_http_base[0] != '\0' ? c->ivr_sounds_http_base : NULL,
    };
    struct ivr_inbound_config ic = {
        .loop = s->loop,
        .db = s->db,
        .max_per_tenant = (int)c->ext_max_per_tenant,
        .max_per_extension = (int)c->ext_max_per_extension,
        .kv = s->kv, /* limits shared by every node */
        .node_id = c->node_id,
        .limit_ttl_ms = c->ext_limit_ttl_ms,
    };
    int rc = make_tts(c, &tts);
    if (rc != 0) {
        return rc;
    }
    ac.tts = tts; /* taken over, also on failure */
    rc = ivr_ari_create(s->loop, &ac, &s->ivr_ari);
    if (rc == 0) {
        rc = start_ivr_http(s);
    }
    if (rc == 0) {
        rc = start_secrets(s);
    }
    if (rc == 0) {
        rc = ivr_recorder_create(s->loop, s->db, 0, 0, &s->ivr_rec);
    }
    if (rc == 0) {
        ic.ari = s->ivr_ari;
        ic.recorder = s->ivr_rec;
        ic.http = ivr_http_backend_ops();
        ic.http_ctx = s->ivr_httpb;
        ic.secrets = secrets_wire_secrets;
        ic.http_for = secrets_wire_http;
        ic.secrets_arg = s->secrets;
        rc = ivr_inbound_create(&ic, &s->inbound);
    }
    if (rc == 0) {
        rc = ext_jobs_start(s->loop, c, s->db, &s->ext_jobs);
    }
    if (rc != 0) {
        LOG_ERR(SERVER, "event=ivr_init_failed err=\"%s\"", err_str(rc));
    }
    return rc;
}

static size_t ari_known_cb(struct ari_client *c, const char **ids, size_t max, void *arg)
{
    struct server *s = arg;
    return dialer_wire_known(s->dialer, c, ids, max);
}

static void ari_reconcile_cb(struct ari_client *c, int status, const char *const *gone,
                             size_t n_gone, const char *const *up, size_t n_up, void *arg)
{
    struct server *s = arg;
    dialer_wire_reconciled(s->dialer, c, status, gone, n_gone, up, n_up);
}

/* The outbound dialer on the main loop (server/dialer_wire.c). */
static int start_dialer_wire(struct server *s)
{
    struct dialer_wire_deps deps = {
        .loop = s->loop,
        .conf = s->conf,
        .db = s->db,
        .kv = s->kv,
        .ari = s->ari,
        .ivr = s->ivr_ari,
        .secrets = s->secrets,
        .dnc = dnc_wire_store(s->dnc),
    };
    if (!s->conf->dialer_enabled) {
        return 0;
    }
    int rc = start_dialer(&deps, &s->dialer);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=dialer_init_failed err=\"%s\"", err_str(rc));
    }
    return rc;
}

/* One ARI client per configured Asterisk server (ari.url, or ari.servers). */
static int start_ari(struct server *s)
{
    const struct server_config *c = s->conf;
    struct ari_server_list_spec spec = {
        .servers = c->ari_servers,
        .url = c->ari_url,
        .user = c->ari_user,
        .password = c->ari_password,
        .credentials_file = c->ari_credentials_file,
    };
    struct ari_handlers h = { .on_event = ari_event_cb,
                              .on_health = ari_health_cb,
                              .known_channels = ari_known_cb,
                              .on_reconcile = ari_reconcile_cb,
                              .arg = s };
    char err[256];
    int rc = ari_server_list_parse(&s->ari_servers, &spec, err, sizeof(err));

    if (rc != 0) {
        LOG_ERR(SERVER, "event=ari_config_invalid msg=\"%s\"", err);
        return rc;
    }
    if (s->ari_servers.n > ARI_SERVERS_MAX) {
        LOG_ERR(SERVER, "event=ari_config_invalid msg=\"more than %d servers\"", ARI_SERVERS_MAX);
        return ERR_INVAL;
    }
    for (size_t i = 0; i < s->ari_servers.n; i++) {
        struct ari_client_config *sc = &s->ari_servers.servers[i];
        sc->app = c->ari_app;
        sc->max_channels = (long)c->ari_max_channels;
        sc->request_timeout_ms = c->ari_request_timeout_ms;
        sc->transport = c->ari_transport;
        LOG_NOTICE(SERVER, "event=ari_server name=%s url=%s", sc->name, sc->url);
    }
    rc = ari_pool_create(s->loop, s->ari_servers.servers, s->ari_servers.n, &h, &s->ari);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=ari_init_failed err=\"%s\"", err_str(rc));
    }
    return rc;
}

/* -------------------------------------------------------------- shutdown */

static void finish(struct server *s)
{
    ev_signal_stop(s->loop, &s->sigterm);
    ev_signal_stop(s->loop, &s->sigint);
    ev_break(s->loop, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct server *s = w->data;
    (void)loop;
    (void)revents;
    LOG_NOTICE(SERVER, "event=shutdown_start signal=%d drain_ms=%lld", w->signum,
               (long long)s->conf->shutdown_drain_ms);
    atomic_store_explicit(&s->draining, 1, memory_order_relaxed);
    dialer_wire_drain(s->dialer);
    /* The main loop holds no calls yet, so it can stop at once; HTTP
     * requests in flight get up to shutdown.drain-timeout in httpd_stop().
     * When the dialer lands, it stops originating here and the loop ends
     * once its calls have (bounded by the same timeout). */
    finish(s);
}

/* -------------------------------------------------------------- start-up */

static int start_deps(struct server *s)
{
    const struct server_config *c = s->conf;
    struct db_opts dbo = {
        .name = "main",
        .backoff_min_ms = c->db_reconnect_min_ms,
        .backoff_max_ms = c->db_reconnect_max_ms,
        .connect_timeout_ms = 10000,
        .query_timeout_ms = c->db_query_timeout_ms,
        .state_cb = db_state,
        .state_arg = s,
    };
    struct kv_options kvo = {
        .host = c->redis_host,
        .port = (int)c->redis_port,
        .unix_path = c->redis_socket[0] != '\0' ? c->redis_socket : NULL,
        .password = c->redis_password[0] != '\0' ? c->redis_password : NULL,
        .name = "main",
        .state_cb = kv_state,
        .state_arg = s,
    };
    int rc;

    rc = db_pool_create(s->loop, c->db_conninfo, (int)c->db_pool_size, &dbo, &s->db);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=db_init_failed err=\"%s\"", err_str(rc));
        return rc;
    }
    rc = kv_conn_create(s->loop, &kvo, &s->kv);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=kv_init_failed err=\"%s\"", err_str(rc));
        return rc;
    }
    if (c->dnc_enabled) {
        struct dnc_wire_deps dd = { .loop = s->loop, .conf = c, .kv = s->kv };
        rc = start_dnc(&dd, &s->dnc);
        if (rc != 0) {
            return rc;
        }
    }
    rc = start_ivr(s);
    if (rc != 0) {
        return rc;
    }
    rc = start_ari(s);
    if (rc == 0) {
        rc = start_dialer_wire(s);
    }
    return rc;
}

/* The web app is optional: without its build output the API still serves. */
static bool static_dir_usable(const char *dir)
{
    struct stat st;

    if (dir == NULL || dir[0] == '\0') {
        return false;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        LOG_WARN(
            SERVER,
            "event=static_dir_missing dir=\"%s\" msg=\"web app not built; serving the API only\"",
            dir);
        return false;
    }
    return true;
}

/* DNC changes made through the API (httpd thread) go to the store and the other nodes. */
static int api_dnc_change(const struct compliance_dnc_list_info *info, int add, const char *entry,
                          void *arg)
{
    struct server *s = arg;
    return dnc_wire_change(s->dnc, info, add, entry);
}

static int api_dnc_file(struct api_dnc_file *out, void *arg)
{
    struct server *s = arg;
    return dnc_wire_file_info(s->dnc, out);
}

static int api_dnc_reload(const struct compliance_dnc_list_info *info, void *arg)
{
    struct server *s = arg;
    return dnc_wire_reload(s->dnc, info);
}

/* Every import's progress to the tenant's live WebSocket subscribers (job worker thread). */
static void import_watch(const struct importer_watch *w, const struct importer_progress *p,
                         void *arg)
{
    struct server *s = arg;
    const struct dash_import di = {
        .tenant_id = w->tenant_id,
        .list_id = w->list_id,
        .job_id = w->job_id,
        .upload_id = w->upload_id,
        .state = importer_state_name(p->state),
        .rows_read = (int64_t)p->rows_read,
        .rows_imported = (int64_t)p->rows_accepted,
        .rows_rejected = (int64_t)p->rows_rejected,
        .rows_total = p->rows_total,
        .rows_total_estimated = !p->rows_total_exact,
    };

    (void)dash_import_progress(s->dash, &di); /* ERR_SHUTDOWN while stopping: dropped */
}

/* The REST API runs on the httpd thread with its own connections. */
/* Resource routes: imports (own worker threads, scrubbed against the DNC store) with the list
 * routes, the IVR flow routes, the compliance check and the DNC list routes. */
static int start_api_lists(struct server *s)
{
    const struct server_config *c = s->conf;
    const struct importer_config ic = {
        .conninfo = c->db_conninfo,
        .worker_name = c->node_id,
        .max_jobs = (int)c->import_max_jobs,
        .window_bytes = (size_t)c->import_window,
        .max_row_bytes = (size_t)c->import_max_row,
        .copy_high_water = (size_t)c->import_copy_high_water,
        .progress_ms = c->import_progress_ms,
        .dnc = s->dnc != NULL ? dnc_wire_importer_check : NULL,
        .dnc_arg = s->dnc,
        .watch = import_watch,
        .watch_arg = s,
    };
    const struct api_dnc_config dc = {
        .dnc = dnc_wire_store(s->dnc),
        .change = api_dnc_change,
        .reload = api_dnc_reload,
        .file = api_dnc_file,
        .arg = s,
        .max_upload = c->dnc_upload_max,
    };
    int rc = importer_create(&ic, &s->importer);

    if (rc == 0) {
        rc = api_lists_create(s->api, s->importer, s->conf->db_conninfo, &s->api_lists);
    }
    if (rc == 0) {
        api_lists_set_import_wait(s->api_lists, c->api_import_wait_ms);
    }
    if (rc == 0) {
        rc = api_flows_create(s->api, s->conf->ivr_template_dir, &s->api_flows);
    }
    if (rc == 0) {
        rc = api_compliance_create(s->api, dnc_wire_store(s->dnc), &s->api_comp);
    }
    if (rc == 0) {
        rc = api_dnc_create(s->api, &dc, &s->api_dnc);
    }
    if (rc == 0) {
        struct api_ext_config xc = { .quarantine_s = (int)(s->conf->ext_quarantine_ms / 1000) };
        (void)server_ext_range(s->conf->ext_inbound_range, 2000, 2999, &xc.inbound_from,
                               &xc.inbound_to);
        (void)server_ext_range(s->conf->ext_outbound_range, 3000, 3999, &xc.outbound_from,
                               &xc.outbound_to);
        (void)server_ext_range(s->conf->ext_reserved_range, 4000, 4999, &xc.reserved_from,
                               &xc.reserved_to);
        rc = api_extensions_create(s->api, &xc, &s->api_exts);
    }
    if (rc != 0) {
        LOG_ERR(SERVER, "event=import_init_failed err=\"%s\"", err_str(rc));
    }
    return rc;
}

static int start_api(struct server *s, struct httpd_config *hc)
{
    const struct server_config *c = s->conf;
    struct api_config ac = {
        .db_conninfo = c->db_conninfo,
        .db_pool_size = (int)c->api_db_pool_size,
        .db_query_timeout_ms = c->db_query_timeout_ms,
        .redis_host = c->redis_socket[0] != '\0' ? NULL : c->redis_host,
        .redis_port = (int)c->redis_port,
        .redis_socket = c->redis_socket[0] != '\0' ? c->redis_socket : NULL,
        .redis_password = c->redis_password[0] != '\0' ? c->redis_password : NULL,
        .jwt_keys = c->api_jwt_keys,
        .jwt_keys_file = c->api_jwt_keys_file,
        .access_ttl_s = c->api_access_ttl_ms / 1000,
        .refresh_ttl_s = c->api_refresh_ttl_ms / 1000,
        .auth_cache_s = c->api_auth_cache_ms > 0 ? (c->api_auth_cache_ms + 999) / 1000 : -1,
        .login_max_failures = c->api_login_max_failures,
        .login_window_s = c->api_login_window_ms / 1000,
        .hash_threads = (int)c->api_hash_threads,
        .pwhash_ops = (uint64_t)c->api_pwhash_ops,
        .pwhash_mem = (size_t)c->api_pwhash_mem,
        .dash = s->dash,
    };
    int rc = api_create(&ac, &s->api);

    if (rc != 0) {
        LOG_ERR(SERVER, "event=api_init_failed err=\"%s\"", err_str(rc));
        return rc;
    }
    api_httpd_hooks(s->api, hc);
    rc = start_api_lists(s);
    if (rc != 0) {
        return rc;
    }
    const unsigned char *key = secrets_key(s, &rc);
    if (rc == 0) {
        rc = api_secrets_create(s->api, key, &s->api_secrets);
    }
    if (rc == 0) {
        rc = api_webhooks_create(s->api, key, &s->api_hooks);
    }
    if (rc == 0) {
        rc = hooks_wire_start(s->conf, key, &s->hooks);
    }
    return rc;
}

/* A late API-key answer for the live WebSocket. */
struct dash_key_check {
    struct server *s;
    uint64_t ticket;
};

static void dash_key_verified(int rc, const struct api_principal *ap, void *arg)
{
    struct dash_key_check *k = arg;
    struct dash_principal p = { 0 };

    if (rc == 0 && ap != NULL) {
        p.tenant_id = ap->tenant_id;
        p.role = (int)ap->role;
        p.expires_us = ap->expires_us;
    }
    dash_auth_complete(k->s->dash, k->ticket, rc, rc == 0 ? &p : NULL);
    free(k);
}

/* /ws/v1/live credentials: the api's JWT check, or its API-key look-up (httpd thread). */
static int dash_auth(const char *cred, bool api_key, uint64_t ticket, struct dash_principal *p,
                     void *arg)
{
    struct server *s = arg;
    struct api_principal ap;

    if (api_key) {
        struct dash_key_check *k = malloc(sizeof(*k));
        int rc;
        if (k == NULL) {
            return ERR_NOMEM;
        }
        k->s = s;
        k->ticket = ticket;
        rc = api_key_verify(s->api, cred, dash_key_verified, k);
        if (rc != 0) {
            free(k);
            return rc;
        }
        return ERR_AGAIN;
    }
    if (api_token_verify(s->api, cred, &ap) != 0) {
        return ERR_AUTH;
    }
    p->tenant_id = ap.tenant_id;
    p->role = (int)ap.role;
    p->expires_us = ap.expires_us;
    return 0;
}

static void dash_health(bool *pg, bool *redis, bool *ari, void *arg)
{
    struct server *s = arg;
    bool any_up = false;

    *pg = atomic_load_explicit(&s->pg_state, memory_order_relaxed) == DEP_UP;
    *redis = atomic_load_explicit(&s->redis_state, memory_order_relaxed) == DEP_UP;
    for (size_t i = 0; i < s->ari_servers.n && i < ARI_SERVERS_MAX; i++) {
        any_up = any_up ||
                 atomic_load_explicit(&s->ari_health[i], memory_order_relaxed) != ARI_HEALTH_DOWN;
    }
    *ari = any_up;
}

/* The national DNC list's age for every tenant's wall (httpd thread; no allocation). */
static void dash_platform(struct dash_platform *out, void *arg)
{
    struct server *s = arg;
    struct compliance_list_age age;
    struct compliance_dnc *store = dnc_wire_store(s->dnc);

    if (store == NULL) {
        out->dnc_state = DASH_DNC_DISABLED;
        out->dnc_age_s = -1;
        return;
    }
    compliance_dnc_national_age(store, s->conf->dnc_alarm_country, clock_wall_us(),
                                (int32_t)s->conf->dnc_warn_days, &age);
    out->dnc_state = (enum dash_dnc_state)age.state; /* the same order, 0 fresh .. 3 missing */
    snprintf(out->dnc_country, sizeof(out->dnc_country), "%s", s->conf->dnc_alarm_country);
    out->dnc_age_s = age.age_s;
    out->dnc_stale_at_s = age.stale_at_us / 1000000;
}

/* The registry's server entities, with the health the pool reported so far. */
static void dash_register_servers(struct server *s)
{
    for (size_t i = 0; i < s->ari_servers.n && i < ARI_SERVERS_MAX; i++) {
        s->dash_servers[i] = dash_server(s->dash, s->ari_servers.servers[i].name);
        dash_server_health(
            s->dash, s->dash_servers[i],
            (enum dash_health)atomic_load_explicit(&s->ari_health[i], memory_order_relaxed));
    }
}

static int start_dash(struct server *s)
{
    const struct server_config *c = s->conf;
    struct dash_config dc = {
        .node_id = c->node_id,
        .max_entities = (size_t)c->dash_max_entities,
        .tick_ms = c->dash_tick_ms,
        .heartbeat_ms = c->dash_heartbeat_ms,
        .retention_s = c->dash_retention_ms / 1000,
        .ws_max_queue_bytes = c->dash_ws_max_queue,
        .metrics_token = c->dash_metrics_token,
        .db_conninfo = c->db_conninfo,
        .redis_host = c->redis_socket[0] != '\0' ? NULL : c->redis_host,
        .redis_port = (int)c->redis_port,
        .redis_socket = c->redis_socket[0] != '\0' ? c->redis_socket : NULL,
        .redis_password = c->redis_password[0] != '\0' ? c->redis_password : NULL,
    };
    int rc = dash_create(&dc, &s->dash);

    if (rc != 0) {
        LOG_ERR(SERVER, "event=dashboards_init_failed err=\"%s\"", err_str(rc));
        return rc;
    }
    dash_set_platform(s->dash, dash_platform, s);
    dash_register_servers(s);
    return 0;
}

static int start_httpd(struct server *s)
{
    const struct server_config *c = s->conf;
    const struct httpd_route routes[] = {
        { .methods = HTTPD_GET, .pattern = "/healthz", .handler = healthz, .arg = s },
        { .methods = HTTPD_GET, .pattern = "/readyz", .handler = readyz, .arg = s },
    };
    struct httpd_config hc = {
        .name = "httpd",
        .bind_addr = c->http_bind,
        .port = c->http_port,
        .max_header_bytes = c->http_max_header,
        .max_body_bytes = c->http_max_body,
        .static_dir = static_dir_usable(c->http_static_dir) ? c->http_static_dir : NULL,
        .tls_cert_file = c->http_tls_cert[0] != '\0' ? c->http_tls_cert : NULL,
        .tls_key_file = c->http_tls_key[0] != '\0' ? c->http_tls_key : NULL,
        .shutdown_grace_ms = c->shutdown_drain_ms,
    };
    int rc;

    rc = start_dash(s);
    if (rc == 0) {
        rc = start_api(s, &hc);
    }
    if (rc != 0) {
        return rc;
    }
    s->httpd = httpd_create(&hc, routes, sizeof(routes) / sizeof(routes[0]));
    if (s->httpd == NULL) {
        LOG_ERR(SERVER, "event=httpd_init_failed");
        return ERR_INVAL;
    }
    rc = dash_mount(s->dash, s->httpd, dash_auth, dash_health, s);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=dashboards_mount_failed err=\"%s\"", err_str(rc));
        return rc;
    }
    rc = api_mount(s->api, s->httpd);
    if (rc != 0) {
        return rc;
    }
    if (c->ivr_sounds_http_base[0] != '\0') {
        s->sounds = ivr_sounds_mount(s->httpd, c->ivr_sounds_dir);
        if (s->sounds == NULL) {
            LOG_ERR(SERVER, "event=sounds_mount_failed dir=%s", c->ivr_sounds_dir);
            return ERR_INVAL;
        }
    }
    rc = httpd_start(s->httpd);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=httpd_start_failed bind=%s port=%lld err=\"%s\"", c->http_bind,
                (long long)c->http_port, err_str(rc));
        return rc;
    }
    rc = dash_start(s->dash);
    if (rc != 0) {
        LOG_ERR(SERVER, "event=metrics_start_failed err=\"%s\"", err_str(rc));
        return rc;
    }
    dialer_wire_set_dash(s->dialer, s->dash); /* the dialer counts for the wall */
    LOG_NOTICE(SERVER, "event=listening bind=%s port=%d", c->http_bind, httpd_port(s->httpd));
    return 0;
}

static void stop_all(struct server *s)
{
    hooks_stop(s->hooks); /* before the secrets key is wiped */
    s->hooks = NULL;
    stop_dialer(s->dialer);
    dialer_wire_set_dash(s->dialer, NULL);
    /* The metrics thread posts to the httpd thread: stop it first. */
    dash_stop(s->dash);
    if (s->httpd != NULL) {
        httpd_stop(s->httpd);
        s->httpd = NULL;
    }
    ivr_sounds_free(s->sounds);
    s->sounds = NULL;
    /* After httpd_stop: snapshots posted to the httpd thread have been delivered. */
    memset(s->dash_servers, 0, sizeof(s->dash_servers)); /* the pool may report health later */
    dash_destroy(s->dash);
    s->dash = NULL;
    importer_destroy(s->importer);
    s->importer = NULL;
    api_lists_destroy(s->api_lists);
    s->api_lists = NULL;
    api_flows_destroy(s->api_flows);
    s->api_flows = NULL;
    api_compliance_destroy(s->api_comp);
    s->api_comp = NULL;
    api_dnc_destroy(s->api_dnc);
    s->api_dnc = NULL;
    api_extensions_destroy(s->api_exts);
    s->api_exts = NULL;
    api_secrets_destroy(s->api_secrets);
    s->api_secrets = NULL;
    api_webhooks_destroy(s->api_hooks);
    s->api_hooks = NULL;
    api_destroy(s->api);
    s->api = NULL;
    ext_jobs_stop(s->ext_jobs);
    s->ext_jobs = NULL;
    secrets_wire_stop(s->secrets);
    ivr_inbound_destroy(s->inbound); /* running calls end (shutdown) into the recorder */
    s->inbound = NULL;
    if (s->ivr_rec != NULL) {
        ivr_recorder_flush(s->ivr_rec);
    }
    ivr_recorder_destroy(s->ivr_rec); /* the flush in flight completes */
    s->ivr_rec = NULL;
    ivr_http_backend_destroy(s->ivr_httpb);
    s->ivr_httpb = NULL;
    http_client_destroy(s->ivr_http);
    s->ivr_http = NULL;
    ari_pool_destroy(s->ari);
    s->ari = NULL;
    ivr_ari_destroy(s->ivr_ari);
    s->ivr_ari = NULL;
    stop_dnc(s->dnc); /* its sync publishes on the main Redis connection */
    kv_conn_destroy(s->kv);
    s->kv = NULL;
    db_pool_destroy(s->db);
    s->db = NULL;
    secrets_wire_free(s->secrets); /* after the pool: a load in flight got its callbacks */
    s->secrets = NULL;
    sodium_memzero(s->secrets_key, sizeof(s->secrets_key));
    dialer_wire_free(s->dialer);
    s->dialer = NULL;
    dnc_wire_free(s->dnc); /* last: the dialer, importer and routes read the store */
    s->dnc = NULL;
    ari_server_list_free(&s->ari_servers);
}

int server_run(const struct server_config *conf)
{
    struct server s;
    int rc;

    memset(&s, 0, sizeof(s));
    s.conf = conf;
    s.secrets_key_rc = 1;
    s.started_us = clock_mono_us();
    s.loop = ev_default_loop(EVFLAG_AUTO);
    if (s.loop == NULL) {
        LOG_ERR(SERVER, "event=loop_init_failed");
        return 1;
    }
    /* Peers closing sockets must not kill the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    ev_signal_init(&s.sigterm, signal_cb, SIGTERM);
    s.sigterm.data = &s;
    ev_signal_start(s.loop, &s.sigterm);
    ev_signal_init(&s.sigint, signal_cb, SIGINT);
    s.sigint.data = &s;
    ev_signal_start(s.loop, &s.sigint);

    LOG_NOTICE(SERVER, "event=starting node=%s version=%s", conf->node_id, DIALER_VERSION);
    rc = start_deps(&s);
    if (rc == 0) {
        rc = start_httpd(&s);
    }
    if (rc == 0) {
        ev_run(s.loop, 0);
    }
    stop_all(&s);
    ev_loop_destroy(s.loop);
    LOG_NOTICE(SERVER, "event=stopped status=%d", rc == 0 ? 0 : 1);
    return rc == 0 ? 0 : 1;
}
