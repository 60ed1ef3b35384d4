/* SPDX-License-Identifier: MIT */
/*
 * server: dialerd's configuration, start-up and wiring of loops and threads.
 *
 * dialerd runs one main libev loop (scheduler, dialer, IVR sessions, ARI
 * connections), an HTTP/WebSocket thread (core/httpd) with its own loop, and
 * worker threads for bulk work. This header holds the configuration struct
 * that every part reads; it is built once at start-up from defaults, the
 * config file and DIALERD_* environment variables (core/cfg), and is
 * immutable afterwards.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/cfg.h"

struct server_config {
    char *node_id;         /* this node's name in leases, logs and metrics */
    char *log_level;       /* core/log specification, e.g. "info,ari=debug" */
    char *http_bind;       /* API/WebSocket listen address */
    int64_t http_port;     /* API/WebSocket listen port */
    int64_t http_max_body; /* bytes; larger JSON bodies get 413 */
    int64_t http_max_header;
    char *http_static_dir;   /* web app build output served at / */
    char *ivr_template_dir;  /* bundled IVR flow templates (<name>.json) */
    char *http_tls_cert;     /* PEM file; empty = plain HTTP */
    char *http_tls_key;      /* PEM file */
    char *db_conninfo;       /* libpq conninfo of the application role */
    char *db_admin_conninfo; /* libpq conninfo for migrations (owner role) */
    int64_t db_pool_size;
    int64_t db_query_timeout_ms;
    int64_t db_reconnect_min_ms;
    int64_t db_reconnect_max_ms;
    char *redis_host;
    int64_t redis_port;
    char *redis_socket; /* unix socket path; wins over host/port when set */
    char *redis_password;
    char *ari_url; /* base URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088 */
    char *ari_user;
    char *ari_password;
    char *ari_app;              /* Stasis application name */
    char *ari_servers;          /* "name=url,..." for several servers; empty: ari_url alone */
    char *ari_credentials_file; /* "name user password" lines for ari_servers */
    int64_t ari_max_channels;   /* per server, for originate placement; 0: unlimited */
    int64_t ari_request_timeout_ms;
    char *ari_transport; /* "http" (own HTTP/1.1 client) or "curl" */
    int64_t shutdown_drain_ms;
    /* REST API (api/api.h) */
    char *api_jwt_keys;      /* "kid=secret,...": the first signs (secret: use the environment) */
    char *api_jwt_keys_file; /* lines "kid=secret", added after api.jwt-keys */
    char *secrets_key;       /* base64 32-byte key of tenant secrets (use the environment) */
    char *secrets_key_file;  /* the same in a file, when secrets.key is empty */
    int64_t api_access_ttl_ms;
    int64_t api_refresh_ttl_ms;
    int64_t api_auth_cache_ms;
    int64_t api_login_max_failures;
    int64_t api_login_window_ms;
    int64_t api_db_pool_size;
    int64_t api_hash_threads;
    int64_t api_pwhash_ops;
    int64_t api_import_wait_ms;
    int64_t api_pwhash_mem;
    /* outbound dialer (server/dialer_wire.c) */
    bool dialer_enabled;
    int64_t dialer_tick_ms;
    int64_t dialer_poll_ms;
    int64_t dialer_talk_ms;
    int64_t dialer_ports;
    char *dialer_endpoint;
    int64_t dialer_cps;
    int64_t dialer_max_channels;
    int64_t dialer_max_launching; /* 0: sized from dialer.cps and db.pool-size */
    int64_t dialer_originate_target_ms;
    char *dialer_trunk_limits; /* carrier trunks' cps/channels ("" none; campaign/trunklim.c) */
    int64_t dialer_lease_batch;
    int64_t dialer_lease_ms;
    bool dialer_allow_missing_dnc;
    /* Do-Not-Call store (server/dnc_wire.c) */
    bool dnc_enabled;
    char *dnc_channel;       /* Redis pub/sub channel of DNC changes between nodes */
    char *dnc_alarm_country; /* the country whose national list's age is alarmed */
    int64_t dnc_warn_days;
    int64_t dnc_alarm_interval_ms;
    int64_t dnc_upload_max;         /* bytes; larger DNC uploads get 413 */
    char *dnc_national_file;        /* the national registry file ("" none; server/dnc_wire.c) */
    char *dnc_national_file_format; /* registry | plain | auto */
    int64_t dnc_national_file_check_ms;
    int64_t dnc_national_file_max_age_days;
    /* Contact list imports (importers/importers.h) */
    int64_t import_max_jobs;
    int64_t import_window;
    int64_t import_max_row;
    int64_t import_copy_high_water;
    int64_t import_progress_ms;
    /* Live metrics (dashboards/dashboards.h) */
    int64_t dash_tick_ms;
    int64_t dash_heartbeat_ms;
    int64_t dash_retention_ms;
    int64_t dash_ws_max_queue;
    int64_t dash_max_entities;
    char *dash_metrics_token; /* bearer token /metrics requires; empty: none */
    /* inbound IVR (ivr/ivr.h: ivr_ari, ivr_inbound) */
    char *ivr_sounds_dir;       /* where say renders wav files; empty: say fails */
    char *ivr_sounds_uri;       /* that directory as Asterisk sees it; empty: ivr_sounds_dir */
    char *ivr_tts_provider;     /* "espeak" or "http" */
    char *ivr_tts_url;          /* http provider's URL (POST JSON, or GET template with {text}) */
    char *ivr_tts_token_file;   /* http provider's bearer token file; empty: ivr_tts_token */
    char *ivr_tts_token;        /* http provider's bearer token (secret); empty: none */
    int64_t ivr_tts_timeout_ms; /* http provider's request limit */
    int64_t ivr_tts_max_size;   /* http provider's response limit */
    char *ivr_sounds_http_base; /* when set, /sounds/ serves ivr_sounds_dir; say plays over HTTP */
    char *ivr_transfer_context; /* dialplan context of transfer targets */
    char *ivr_http_allow;       /* CIDRs api_call may reach although internal ("a,b") */
    int64_t ivr_tts_cache_max;  /* bytes of rendered prompts kept in ivr_sounds_dir */
    int64_t ivr_tts_cache_age_ms; /* rendered prompts unused this long are deleted */
    /* webhooks (hooks/hooks.h, server/hooks_wire.c) */
    bool webhooks_enabled;
    char *webhooks_allow; /* CIDRs webhooks may reach although internal ("a,b") */
    int64_t webhooks_connect_timeout_ms;
    int64_t webhooks_timeout_ms;
    int64_t webhooks_per_endpoint;
    int64_t webhooks_max_inflight;
    int64_t webhooks_poll_ms;
    int64_t webhooks_retry_min_ms;
    int64_t webhooks_retry_max_ms;
    int64_t webhooks_max_age_ms;
    int64_t webhooks_disable_after_ms;
    int64_t webhooks_retention_ms;
    int64_t webhooks_keep_per_tenant;
    /* extensions (ivr/ivr.h ext_store, api_extensions; server/ext_jobs.c) */
    char *ext_inbound_range;  /* "2000-2999": provisioned, claimed by tenants */
    char *ext_outbound_range; /* "3000-3999" */
    char *ext_reserved_range; /* "4000-4999" */
    bool ext_provision;       /* create the inventory rows of the ranges at start-up */
    int64_t ext_quarantine_ms;
    int64_t ext_expiry_interval_ms;
    int64_t ext_max_per_tenant; /* concurrent inbound calls, every node together */
    int64_t ext_max_per_extension;
    int64_t ext_limit_ttl_ms;
};

/*
 * Parses an extension range "FROM-TO" that lies within lo..hi. Returns 0
 * with *from and *to, or ERR_INVAL.
 */
int server_ext_range(const char *s, int lo, int hi, int *from, int *to);

extern const struct cfg_option server_config_options[];
extern const size_t server_config_options_count;

/*
 * Loads the configuration: defaults, then path (when not NULL), then the
 * DIALERD_* environment. On failure returns a negative code and leaves a
 * message naming the key in err; conf must then still be freed with
 * server_config_free().
 */
int server_config_load(struct server_config *conf, const char *path, struct cfg_error *err);

void server_config_free(struct server_config *conf);

/* Prints every option (name, type, default, bounds, environment name, doc). */
void server_config_help(FILE *out);

/*
 * Runs the server until SIGTERM/SIGINT: starts the HTTP thread, connects to
 * PostgreSQL, Redis and ARI, then drains and exits. Returns the process exit
 * status (0 after a clean shutdown).
 */
int server_run(const struct server_config *conf);

/*
 * `dialerd migrate` (status_only false) or `dialerd migrate-status`: applies
 * or lists the database migrations using db.admin-conninfo (or db.conninfo).
 * Returns the process exit status.
 */
int server_migrate_cmd(const struct server_config *conf, bool status_only);

#endif
