/* SPDX-License-Identifier: MIT */
/*
 * server/config: the table of every dialerd option. `dialerd --help-config`
 * prints it; README.md's configuration section is generated from the same
 * output. Secrets (passwords) are flagged CFG_SECRET: they are never printed
 * and are best given through the environment (DIALERD_ARI_PASSWORD) or
 * libpq's own PGPASSFILE for the database.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "campaign/campaign.h"
#include "core/err.h"

#define OPT(name, type, field, def, min, max, flags, doc)                            \
    {                                                                                \
        name, type, offsetof(struct server_config, field), def, min, max, flags, doc \
    }

/* clang-format off */
const struct cfg_option server_config_options[] = {
    OPT("node.id", CFG_STR, node_id, "node-1", 1, 64, 0,
        "this node's name (contact leases, logs, metrics); unique per cluster"),
    OPT("log.level", CFG_STR, log_level, "info", 1, 256, CFG_RELOADABLE,
        "log levels: err|warn|notice|info|debug, per category: info,ari=debug"),
    OPT("http.bind", CFG_STR, http_bind, "127.0.0.1", 1, 255, 0,
        "address the REST API, WebSocket and web app listen on"),
    OPT("http.port", CFG_INT, http_port, "8080", 0, 65535, 0,
        "port of the REST API, WebSocket and web app (0 picks a free port)"),
    OPT("http.max-body", CFG_SIZE, http_max_body, "1MB", 1024, INT64_C(1) << 30, 0,
        "largest JSON request body; larger requests get 413"),
    OPT("http.max-header", CFG_SIZE, http_max_header, "8k", 1024, 65536, 0,
        "largest request header block; larger requests get 431"),
    OPT("http.static-dir", CFG_STR, http_static_dir, "dashboards/web/dist", 0, 4096, 0,
        "directory of the built web app served at /"),
    OPT("ivr.template-dir", CFG_STR, ivr_template_dir, "ivr/templates", 0, 4096, 0,
        "directory of the bundled IVR flow templates (<name>.json)"),
    OPT("http.tls-cert", CFG_STR, http_tls_cert, "", 0, 4096, 0,
        "PEM certificate file; when set with http.tls-key the API is served over TLS"),
    OPT("http.tls-key", CFG_STR, http_tls_key, "", 0, 4096, CFG_SECRET,
        "PEM private key file for http.tls-cert"),
    OPT("db.conninfo", CFG_STR, db_conninfo, "dbname=dialer", 1, 4096, 0,
        "libpq connection string of the application role (password via PGPASSFILE)"),
    OPT("db.admin-conninfo", CFG_STR, db_admin_conninfo, "", 0, 4096, 0,
        "libpq connection string used by `dialerd migrate` (defaults to db.conninfo)"),
    OPT("db.pool-size", CFG_INT, db_pool_size, "4", 1, 64, 0,
        "PostgreSQL connections of the main loop"),
    OPT("db.query-timeout", CFG_DURATION, db_query_timeout_ms, "10s", 100, 600000, 0,
        "a query running longer fails with a timeout and its connection is reset"),
    OPT("db.reconnect-min", CFG_DURATION, db_reconnect_min_ms, "100ms", 10, 60000, 0,
        "first reconnect delay after PostgreSQL goes away (doubles up to the max)"),
    OPT("db.reconnect-max", CFG_DURATION, db_reconnect_max_ms, "10s", 100, 600000, 0,
        "longest reconnect delay"),
    OPT("redis.host", CFG_STR, redis_host, "127.0.0.1", 1, 255, 0, "Redis host"),
    OPT("redis.port", CFG_INT, redis_port, "6379", 1, 65535, 0, "Redis port"),
    OPT("redis.socket", CFG_STR, redis_socket, "", 0, 4096, 0,
        "Redis unix socket; wins over host and port when set"),
    OPT("redis.password", CFG_STR, redis_password, "", 0, 512, CFG_SECRET,
        "Redis AUTH password (use DIALERD_REDIS_PASSWORD)"),
    OPT("ari.url", CFG_STR, ari_url, "http://127.0.0.1:8088", 1, 1024, 0,
        "base URL of Asterisk's HTTP server (ARI is under /ari)"),
    OPT("ari.user", CFG_STR, ari_user, "dialer", 1, 128, 0, "ARI user (ari.conf)"),
    OPT("ari.password", CFG_STR, ari_password, "", 0, 512, CFG_SECRET,
        "ARI password (use DIALERD_ARI_PASSWORD)"),
    OPT("ari.app", CFG_STR, ari_app, "dialer", 1, 128, 0,
        "Stasis application name used in the dialplan and originates"),
    OPT("ari.servers", CFG_STR, ari_servers, "", 0, 4096, 0,
        "several Asterisk servers: name=url,name=url (ari.url is then ignored)"),
    OPT("ari.credentials-file", CFG_STR, ari_credentials_file, "", 0, 4096, 0,
        "file of \"name user password\" lines for ari.servers; others use ari.user/password"),
    OPT("ari.max-channels", CFG_INT, ari_max_channels, "0", 0, 1000000, 0,
        "channels per Asterisk server for originate placement (0: unlimited)"),
    OPT("ari.request-timeout", CFG_DURATION, ari_request_timeout_ms, "5s", 100, 60000, 0,
        "an ARI REST request without an answer in this time fails"),
    OPT("ari.transport", CFG_STR, ari_transport, "http", 0, 8, 0,
        "ARI REST transport: http (own HTTP/1.1 keep-alive connections) or curl"),
    OPT("shutdown.drain-timeout", CFG_DURATION, shutdown_drain_ms, "30s", 0, 3600000, 0,
        "on SIGTERM, how long to let calls and requests in progress finish"),
    OPT("api.jwt-keys", CFG_STR, api_jwt_keys, "", 0, 4096, CFG_SECRET,
        "JWT signing keys \"kid=secret,...\" (>= 32 bytes each; the first signs); use DIALERD_API_JWT_KEYS"),
    OPT("api.jwt-keys-file", CFG_STR, api_jwt_keys_file, "", 0, 4096, 0,
        "file of JWT keys, one \"kid=secret\" per line (# comments), verified after api.jwt-keys"),
    OPT("secrets.key", CFG_STR, secrets_key, "", 0, 128, CFG_SECRET,
        "base64 32-byte key sealing tenant secrets (api_call headers and auth); use DIALERD_SECRETS_KEY; empty: secrets.key-file"),
    OPT("secrets.key-file", CFG_STR, secrets_key_file, "", 0, 4096, 0,
        "file holding the base64 32-byte tenant secrets key; neither set: the /secrets routes answer 503"),
    OPT("api.access-ttl", CFG_DURATION, api_access_ttl_ms, "15m", 60000, 86400000, 0,
        "lifetime of an access token (JWT)"),
    OPT("api.refresh-ttl", CFG_DURATION, api_refresh_ttl_ms, "30d", 60000, INT64_C(31536000000), 0,
        "lifetime of a refresh token (rotated on every use)"),
    OPT("api.auth-cache", CFG_DURATION, api_auth_cache_ms, "30s", 0, 300000, 0,
        "how long a verified token or API key is cached per node (0: off); bounds revocation delay"),
    OPT("api.login-max-failures", CFG_INT, api_login_max_failures, "5", 1, 1000, 0,
        "failed logins per account within api.login-window before 429 (per address: 4x)"),
    OPT("api.login-window", CFG_DURATION, api_login_window_ms, "15m", 1000, 86400000, 0,
        "window in which failed logins are counted (Redis)"),
    OPT("api.db-pool-size", CFG_INT, api_db_pool_size, "4", 1, 64, 0,
        "PostgreSQL connections of the API on the HTTP thread"),
    OPT("api.hash-threads", CFG_INT, api_hash_threads, "2", 1, 16, 0,
        "password hashing (Argon2id) worker threads"),
    OPT("api.import-wait", CFG_DURATION, api_import_wait_ms, "20s", 0, 25000, 0,
        "an upload whose import is still running this long after its body is in is answered "
        "202 with the job (GET /api/v1/imports/{id} for its end)"),
    OPT("api.pwhash-ops", CFG_INT, api_pwhash_ops, "2", 1, 10, 0,
        "Argon2id passes for new password hashes (libsodium opslimit)"),
    OPT("api.pwhash-mem", CFG_SIZE, api_pwhash_mem, "64MB", 8192, INT64_C(1) << 30, 0,
        "Argon2id memory for new password hashes"),
    OPT("dialer.enabled", CFG_BOOL, dialer_enabled, "true", 0, 0, 0,
        "run the outbound dialer: running campaigns are leased, scheduled and dialed"),
    OPT("dialer.tick", CFG_DURATION, dialer_tick_ms, "50ms", 10, 1000, 0,
        "scheduler period (pause takes effect within one tick)"),
    OPT("dialer.poll", CFG_DURATION, dialer_poll_ms, "2s", 100, 600000, 0,
        "how often the running campaigns are read from the database"),
    OPT("dialer.talk-time", CFG_DURATION, dialer_talk_ms, "3s", 0, 3600000, 0,
        "answered calls of campaigns without a runnable flow are hung up after this"),
    OPT("dialer.ports", CFG_INT, dialer_ports, "50", 1, 100000, 0,
        "ports (flow sessions or agents) per campaign for progressive, power and predictive pacing"),
    OPT("dialer.endpoint", CFG_STR, dialer_endpoint, "PJSIP/{e164}@trunk", 1, 128, 0,
        "endpoint template for campaigns whose settings name no trunk"),
    OPT("dialer.cps", CFG_INT, dialer_cps, "100", 1, 100000, 0,
        "call attempts per second over all nodes (shared through Redis)"),
    OPT("dialer.max-channels", CFG_INT, dialer_max_channels, "1000", 1, 1000000, 0,
        "concurrent calls over all nodes (shared through Redis)"),
    OPT("dialer.originate-target", CFG_DURATION, dialer_originate_target_ms, "500ms", 0, 60000, 0,
        "originates answered later than this (or timing out) narrow the launch window; "
        "answered in time, it widens up to dialer.max-launching (docs/dialer.md 1g). 0: no window"),
    OPT("dialer.max-launching", CFG_INT, dialer_max_launching, "0", 0, 1000000, 0,
        "launches in flight at most (cap check or attempt write outstanding, plus end writes); "
        "the scheduler waits above it. 0: max(dialer.cps / 4, 32 x db.pool-size)"),
    OPT("dialer.trunk-limits", CFG_STR, dialer_trunk_limits, NULL, 0, 4096, 0,
        "carrier trunks' limits over all nodes (Redis), by trunk name as in campaigns' trunks[]: "
        "\"carrier-a cps=5 channels=30, carrier-b cps=50\"; a launch waits or takes the "
        "campaign's next trunk with room"),
    OPT("dialer.lease-batch", CFG_INT, dialer_lease_batch, "200", 1, 10000, 0,
        "contacts leased per query"),
    OPT("dialer.lease-time", CFG_DURATION, dialer_lease_ms, "300s", 5000, 3600000, 0,
        "contact lease length (renewed while held)"),
    OPT("dialer.allow-missing-dnc", CFG_BOOL, dialer_allow_missing_dnc, "false", 0, 0, 0,
        "dial US numbers without a loaded national DNC list (test and demo set-ups only)"),
    OPT("dnc.enabled", CFG_BOOL, dnc_enabled, "true", 0, 0, 0,
        "keep the DNC lists in memory (loaded from PostgreSQL, synced between nodes through Redis)"),
    OPT("dnc.channel", CFG_STR, dnc_channel, "dialer:dnc", 1, 128, 0,
        "Redis pub/sub channel on which nodes exchange DNC changes (the same on every node)"),
    OPT("dnc.alarm-country", CFG_STR, dnc_alarm_country, "US", 2, 2, 0,
        "country (ISO code) whose national DNC list's age raises the alarm (gauge, log, /readyz)"),
    OPT("dnc.warn-days", CFG_INT, dnc_warn_days, "7", 0, 365, 0,
        "the national list alarm warns this many days before the list goes stale"),
    OPT("dnc.alarm-interval", CFG_DURATION, dnc_alarm_interval_ms, "60s", 100, 3600000, 0,
        "how often the national list's age is evaluated"),
    OPT("dnc.upload-max", CFG_SIZE, dnc_upload_max, "64MB", 1024, INT64_C(1) << 31, 0,
        "largest DNC file upload (POST /api/v1/dnc/lists/{id}/uploads); larger ones get 413"),
    OPT("dnc.national-file", CFG_STR, dnc_national_file, "", 0, 4096, 0,
        "national DNC registry file (full download: flat, XML, or the zip as delivered) loaded "
        "into memory on this node; "
        "reloaded when its modification time or size changes (\"\": none)"),
    OPT("dnc.national-file-format", CFG_STR, dnc_national_file_format, "registry", 4, 16, 0,
        "format of dnc.national-file: registry, plain, xml or auto (a zip is detected)"),
    OPT("dnc.national-file-check", CFG_DURATION, dnc_national_file_check_ms, "60s", 100, 86400000,
        0, "how often dnc.national-file's modification time and size are compared"),
    OPT("dnc.national-file-max-age", CFG_INT, dnc_national_file_max_age_days, "31", 1, 365, 0,
        "days after the file's modification time at which the national list is stale "
        "(31: TSR 310.4(b)(3)(iv))"),
    OPT("import.max-jobs", CFG_INT, import_max_jobs, "4", 1, 64, 0,
        "contact list imports running at once on this node (one worker thread each); more get 503"),
    OPT("import.window", CFG_SIZE, import_window, "4MB", 65536, INT64_C(1) << 30, 0,
        "upload bytes queued per import before the upload is paused (flow control)"),
    OPT("import.max-row", CFG_SIZE, import_max_row, "1MB", 1024, INT64_C(1) << 28, 0,
        "longest CSV record; a longer one fails the file"),
    OPT("import.copy-high-water", CFG_SIZE, import_copy_high_water, "1MB", 65536, INT64_C(1) << 30,
        0, "COPY buffer above which parsing waits for PostgreSQL"),
    OPT("import.progress-interval", CFG_DURATION, import_progress_ms, "250ms", 50, 60000, 0,
        "shortest interval between progress events of an import (API and live WebSocket)"),
    OPT("dashboards.tick", CFG_DURATION, dash_tick_ms, "1s", 100, 60000, 0,
        "how often live metrics are snapshot, published to peers and pushed to the wall"),
    OPT("dashboards.heartbeat", CFG_DURATION, dash_heartbeat_ms, "10s", 1000, 300000, 0,
        "heartbeat period of /ws/v1/live sessions"),
    OPT("dashboards.retention", CFG_DURATION, dash_retention_ms, "24h", 3600000,
        INT64_C(31536000000), 0, "how long per-minute metric rollups are kept in PostgreSQL"),
    OPT("dashboards.ws-max-queue", CFG_SIZE, dash_ws_max_queue, "256k", 4096, INT64_C(1) << 26, 0,
        "output a /ws/v1/live client may leave unread before it is dropped as a slow consumer"),
    OPT("dashboards.max-entities", CFG_INT, dash_max_entities, "4096", 16, 1000000, 0,
        "campaigns, trunks and IVR node outcomes the metrics registry holds"),
    OPT("dashboards.metrics-token", CFG_STR, dash_metrics_token, "", 0, 512, CFG_SECRET,
        "bearer token GET /metrics requires (empty: open); use DIALERD_DASHBOARDS_METRICS_TOKEN"),
    OPT("ivr.sounds-dir", CFG_STR, ivr_sounds_dir, "", 0, 4096, 0,
        "directory where text to speech renders prompts (the cache); Asterisk reads it, or fetches it over ivr.sounds-http-base; empty: say fails"),
    OPT("ivr.sounds-uri", CFG_STR, ivr_sounds_uri, "", 0, 4096, 0,
        "ivr.sounds-dir as Asterisk sees it (sound:<uri>/tts-...); empty: the same path"),
    OPT("ivr.tts-provider", CFG_STR, ivr_tts_provider, "espeak", 1, 16, 0,
        "text to speech provider of say: espeak (espeak-ng on this host) or http (ivr.tts-url)"),
    OPT("ivr.tts-url", CFG_STR, ivr_tts_url, "", 0, 2048, 0,
        "http provider: URL; POST {text,lang,voice} JSON, or GET when it holds {text} ({lang}, {voice} too)"),
    OPT("ivr.tts-token-file", CFG_STR, ivr_tts_token_file, "", 0, 4096, 0,
        "http provider: file holding the bearer token (wins over ivr.tts-token)"),
    OPT("ivr.tts-token", CFG_STR, ivr_tts_token, "", 0, 4096, CFG_SECRET,
        "http provider: bearer token (empty: none); use DIALERD_IVR_TTS_TOKEN or ivr.tts-token-file"),
    OPT("ivr.tts-timeout", CFG_DURATION, ivr_tts_timeout_ms, "10s", 100, 300000, 0,
        "http provider: whole request time limit (a timeout takes the say's error outcome)"),
    OPT("ivr.tts-max-size", CFG_SIZE, ivr_tts_max_size, "16MB", 1024, INT64_C(1) << 30, 0,
        "http provider: largest audio response accepted"),
    OPT("ivr.sounds-http-base", CFG_STR, ivr_sounds_http_base, "", 0, 2048, 0,
        "when set (http://host:port/sounds), dialerd serves ivr.sounds-dir at /sounds/ and say plays sound:<base>/tts-<hash>.wav"),
    OPT("ivr.transfer-context", CFG_STR, ivr_transfer_context, "ivr-transfer", 1, 64, 0,
        "dialplan context of IVR transfer targets"),
    OPT("ivr.http-allow", CFG_STR, ivr_http_allow, "", 0, 4096, 0,
        "CIDRs (comma-separated) api_call may reach although loopback, private or link-local"),
    OPT("ivr.tts-cache-max", CFG_SIZE, ivr_tts_cache_max, "256MB", 0, INT64_C(1) << 40, 0,
        "bytes of rendered prompts kept in ivr.sounds-dir (least recently used go first; 0: no bound)"),
    OPT("ivr.tts-cache-max-age", CFG_DURATION, ivr_tts_cache_age_ms, "30d", 0,
        INT64_C(31536000000), 0, "rendered prompts not played for this long are deleted (0: kept)"),
    OPT("ext.inbound-range", CFG_STR, ext_inbound_range, "2000-2999", 3, 9, 0,
        "inbound IVR extensions provisioned and claimed (FROM-TO within 2000-2999)"),
    OPT("ext.outbound-range", CFG_STR, ext_outbound_range, "3000-3999", 3, 9, 0,
        "outbound campaign extensions provisioned (FROM-TO within 3000-3999)"),
    OPT("ext.reserved-range", CFG_STR, ext_reserved_range, "4000-4999", 3, 9, 0,
        "reserved extensions provisioned (FROM-TO within 4000-4999)"),
    OPT("ext.provision", CFG_BOOL, ext_provision, "true", 0, 0, 0,
        "create the missing inventory rows of the ranges at start-up (idempotent)"),
    OPT("ext.quarantine", CFG_DURATION, ext_quarantine_ms, "30d", 0, INT64_C(31536000000), 0,
        "a released extension is neither routed nor claimable for this long"),
    OPT("ext.expiry-interval", CFG_DURATION, ext_expiry_interval_ms, "60s", 1000, 3600000, 0,
        "how often quarantined extensions whose time has passed are freed"),
    OPT("ext.max-per-tenant", CFG_INT, ext_max_per_tenant, "0", 0, 1000000, 0,
        "concurrent inbound IVR calls per tenant over all nodes (0: unlimited); more hear the overflow message"),
    OPT("ext.max-per-extension", CFG_INT, ext_max_per_extension, "0", 0, 1000000, 0,
        "concurrent inbound IVR calls per extension over all nodes unless it has its own (0: unlimited)"),
    OPT("ext.limit-ttl", CFG_DURATION, ext_limit_ttl_ms, "2m", 3000, 86400000, 0,
        "a call's place under the limits expires unless its node refreshes it (a dead node's calls)"),
    OPT("webhooks.enabled", CFG_BOOL, webhooks_enabled, "true", 0, 0, 0,
        "deliver webhook events from this node (needs secrets.key: the signing secrets are sealed with it)"),
    OPT("webhooks.allow", CFG_STR, webhooks_allow, "", 0, 4096, 0,
        "CIDRs (comma-separated) webhooks may reach although loopback, private or link-local"),
    OPT("webhooks.connect-timeout", CFG_DURATION, webhooks_connect_timeout_ms, "5s", 100, 60000, 0,
        "connecting to a webhook endpoint takes at most this long"),
    OPT("webhooks.timeout", CFG_DURATION, webhooks_timeout_ms, "10s", 100, 300000, 0,
        "a webhook request (connect, send, answer) takes at most this long"),
    OPT("webhooks.per-endpoint", CFG_INT, webhooks_per_endpoint, "4", 1, 256, 0,
        "requests in flight to one endpoint over all nodes (a slow endpoint holds no more)"),
    OPT("webhooks.max-inflight", CFG_INT, webhooks_max_inflight, "64", 1, 4096, 0,
        "webhook requests in flight on this node"),
    OPT("webhooks.poll", CFG_DURATION, webhooks_poll_ms, "500ms", 10, 60000, 0,
        "how often the outbox is read for due deliveries"),
    OPT("webhooks.retry-min", CFG_DURATION, webhooks_retry_min_ms, "5s", 10, 3600000, 0,
        "delay after a delivery's first failure; doubles per attempt (with jitter)"),
    OPT("webhooks.retry-max", CFG_DURATION, webhooks_retry_max_ms, "1h", 10, 86400000, 0,
        "longest delay between two attempts of a delivery"),
    OPT("webhooks.max-age", CFG_DURATION, webhooks_max_age_ms, "24h", 1000, INT64_C(2592000000), 0,
        "a delivery not made within this long of its event fails"),
    OPT("webhooks.disable-after", CFG_DURATION, webhooks_disable_after_ms, "72h", 1000,
        INT64_C(2592000000), 0, "an endpoint whose every delivery failed for this long is disabled"),
    OPT("webhooks.retention", CFG_DURATION, webhooks_retention_ms, "7d", 1000, INT64_C(31536000000), 0,
        "delivered and failed deliveries are kept this long"),
    OPT("webhooks.keep-per-tenant", CFG_INT, webhooks_keep_per_tenant, "10000", 1, 100000000, 0,
        "at most this many delivered and failed deliveries are kept per tenant (oldest go first)"),
};
/* clang-format on */

const size_t server_config_options_count =
    sizeof(server_config_options) / sizeof(server_config_options[0]);

/* Read by dialerd itself, not configuration keys. */
static const char *const env_ignore[] = { "DIALERD_CONFIG", "DIALERD_BOOTSTRAP_PASSWORD", NULL };

int server_config_load(struct server_config *conf, const char *path, struct cfg_error *err)
{
    int rc;

    memset(conf, 0, sizeof(*conf));
    rc = cfg_defaults(server_config_options, server_config_options_count, conf, err);
    if (rc == 0 && path != NULL) {
        rc = cfg_load_file(server_config_options, server_config_options_count, conf, path, err);
    }
    if (rc == 0) {
        rc = cfg_load_env(server_config_options, server_config_options_count, conf, "DIALERD_",
                          env_ignore, err);
    }
    if (rc == 0 && strcmp(conf->ivr_tts_provider, "espeak") != 0 &&
        strcmp(conf->ivr_tts_provider, "http") != 0) {
        snprintf(err->msg, sizeof(err->msg), "ivr.tts-provider: \"%s\" is not espeak or http",
                 conf->ivr_tts_provider);
        rc = ERR_INVAL;
    }
    if (rc == 0 && strcmp(conf->ivr_tts_provider, "http") == 0 &&
        strncmp(conf->ivr_tts_url, "http://", 7) != 0 &&
        strncmp(conf->ivr_tts_url, "https://", 8) != 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "ivr.tts-url: an http:// or https:// URL is required by ivr.tts-provider = http");
        rc = ERR_INVAL;
    }
    if (rc == 0 && conf->ivr_sounds_http_base[0] != '\0' &&
        ((strncmp(conf->ivr_sounds_http_base, "http://", 7) != 0 &&
          strncmp(conf->ivr_sounds_http_base, "https://", 8) != 0) ||
         conf->ivr_sounds_dir[0] == '\0')) {
        snprintf(err->msg, sizeof(err->msg),
                 "ivr.sounds-http-base: an http(s):// URL, and ivr.sounds-dir set, are required");
        rc = ERR_INVAL;
    }
    if (rc == 0) {
        struct campaign_trunk_limit tl[CAMPAIGN_MAX_TRUNK_LIMITS];
        struct campaign_error e;
        int n = 0;
        if (campaign_trunk_limits_parse(conf->dialer_trunk_limits, tl, CAMPAIGN_MAX_TRUNK_LIMITS,
                                        &n, &e) != 0) {
            snprintf(err->msg, sizeof(err->msg), "%.90s: %.160s", e.field, e.msg);
            rc = ERR_INVAL;
        }
    }
    if (rc == 0) {
        static const struct {
            const char *key;
            size_t off;
            int lo, hi;
        } ranges[] = {
            { "ext.inbound-range", offsetof(struct server_config, ext_inbound_range), 2000, 2999 },
            { "ext.outbound-range", offsetof(struct server_config, ext_outbound_range), 3000,
              3999 },
            { "ext.reserved-range", offsetof(struct server_config, ext_reserved_range), 4000,
              4999 },
        };

        for (size_t i = 0; rc == 0 && i < sizeof(ranges) / sizeof(ranges[0]); i++) {
            const char *v = *(char *const *)((const char *)conf + ranges[i].off);
            int a, b;
            if (server_ext_range(v, ranges[i].lo, ranges[i].hi, &a, &b) != 0) {
                snprintf(err->msg, sizeof(err->msg), "%s: \"%s\" is not FROM-TO within %d-%d",
                         ranges[i].key, v, ranges[i].lo, ranges[i].hi);
                rc = ERR_INVAL;
            }
        }
    }
    return rc;
}

static int parse_num(const char *s, size_t n, int *out)
{
    int v = 0;
    if (n == 0 || n > 4) {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return ERR_INVAL;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int server_ext_range(const char *s, int lo, int hi, int *from, int *to)
{
    const char *dash = s != NULL ? strchr(s, '-') : NULL;
    int a, b;
    if (dash == NULL || parse_num(s, (size_t)(dash - s), &a) != 0 ||
        parse_num(dash + 1, strlen(dash + 1), &b) != 0 || a < lo || b > hi || a > b) {
        return ERR_INVAL;
    }
    *from = a;
    *to = b;
    return 0;
}

void server_config_free(struct server_config *conf)
{
    cfg_free(server_config_options, server_config_options_count, conf);
}

void server_config_help(FILE *out)
{
    fprintf(out, "dialerd configuration: file lines \"name = value\" (dialerd -c FILE or\n"
                 "DIALERD_CONFIG=FILE), each overridden by its environment variable.\n\n");
    cfg_print_help(server_config_options, server_config_options_count, "DIALERD_", out);
}
