/* SPDX-License-Identifier: MIT */
/*
 * hooks: signed event webhooks, delivered from a durable outbox.
 *
 * Events (call.completed, campaign.state_changed, import.finished) are
 * written by PostgreSQL triggers into webhook_deliveries in the same
 * transaction as the fact they report (sql/0098_webhooks.sql), one row per
 * subscribed endpoint, so a crash or restart of any node loses nothing and
 * no C code on the dialer's path has to remember to emit them. This module
 * signs and delivers them.
 *
 * Decisions (docs/webhooks.md has the whole design):
 *   - Delivery is at least once: a row is leased (status 'sending', a lease
 *     of the request timeout plus 10 s) before the POST and settled after;
 *     a node that dies mid-POST leaves a lease that expires and the row is
 *     sent again. Receivers deduplicate on the event id (header and body).
 *   - Signature: HMAC-SHA256 with the endpoint's secret (the whole text
 *     "whsec_...", as shown once at creation) over "<timestamp>.<body>",
 *     hex, sent as "Dialer-Signature: t=<timestamp>,v1=<hex>" with
 *     Dialer-Timestamp (Unix seconds), Dialer-Event-Id and Dialer-Event-Type.
 *     The timestamp is the send time (each retry is signed afresh), so a
 *     receiver can refuse replays older than a few minutes.
 *   - Outcome of an attempt: 2xx delivered; 410 Gone disables the endpoint
 *     (reason stored) and fails the delivery; anything else (other codes,
 *     timeouts, refused connections, addresses refused by the SSRF guard)
 *     is retried after webhooks.retry-min doubled per attempt up to
 *     webhooks.retry-max with equal jitter (core/db's db_backoff_delay_ms),
 *     until the event is older than webhooks.max-age: then it fails.
 *   - An endpoint whose deliveries all failed for webhooks.disable-after is
 *     disabled with a reason (GET shows it); PATCH enabled=true revives it.
 *   - Per-endpoint concurrency is bounded (webhooks.per-endpoint requests in
 *     flight, counted from the leases in the database, so across nodes too)
 *     and a claim takes rows round-robin across endpoints: one slow or dead
 *     target holds at most that many slots and never starves the others.
 *   - Everything runs on the module's own thread and loop (curl multi via
 *     core/http, libpq via core/db): nothing touches the dialer's loop.
 *   - Requests go through the api_call SSRF guard (ivr_http_backend):
 *     loopback, private, link-local... addresses are refused unless
 *     webhooks.allow lists them.
 *   - Old delivered and failed rows are pruned (webhooks.retention, and at
 *     most webhooks.keep-per-tenant finished rows per tenant); pending rows
 *     older than the max age are failed by the same sweep.
 *
 * Threads: hooks_start/hooks_stop on the starting thread; everything else
 * of the worker on its own thread. The pure functions run anywhere.
 */
#ifndef HOOKS_HOOKS_H
#define HOOKS_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HOOKS_SECRET_RAW_BYTES = 32, /* random bytes of a signing secret */
    HOOKS_SECRET_MAX = 64,       /* "whsec_" + base64url(32 bytes), no padding: 49 */
    HOOKS_SIG_HEX = 64,          /* hex of an HMAC-SHA256 */
    HOOKS_EVENTS_MAX = 16,       /* event types one endpoint subscribes to */
    HOOKS_URL_MAX = 2048,
};

/* The name under which endpoint secrets are sealed (api_secret_seal's name). */
#define HOOKS_SECRET_NAME "webhook_signing"

/* The event types, NULL-terminated; "*" subscribes to every one. */
extern const char *const hooks_event_types[];

/* Whether s is a known event type or "*". Pure. */
bool hooks_event_type_ok(const char *s);

/*
 * A new signing secret "whsec_<base64url of 32 random bytes>" into out
 * (at least HOOKS_SECRET_MAX + 1 bytes). 0, or ERR_INVAL when n is short.
 */
int hooks_secret_new(char *out, size_t n);

/*
 * The v1 signature of body for timestamp ts under secret (its bytes as
 * given): lower-case hex of HMAC-SHA256(secret, "<ts>.<body>") into
 * out[HOOKS_SIG_HEX + 1]. Pure.
 */
void hooks_sign(const char *secret, size_t secret_len, int64_t ts, const char *body, size_t len,
                char out[HOOKS_SIG_HEX + 1]);

/*
 * Whether header (a Dialer-Signature value "t=<ts>,v1=<hex>[,v1=...]")
 * carries a valid signature of body under secret whose timestamp is within
 * tolerance_s of now_s. The receiver's side, for tests and the docs'
 * example. Constant-time comparison. Pure.
 */
bool hooks_verify(const char *secret, size_t secret_len, const char *header, const char *body,
                  size_t len, int64_t now_s, int64_t tolerance_s);

/*
 * The body of one event, a JSON object (new string; free()):
 *   {"id": event_id, "type": type, "created_at": created_at,
 *    "tenant_id": tenant, "data": <data_json>}
 * data_json must be a JSON object. NULL when it is not, or on OOM.
 */
char *hooks_event_body(const char *event_id, const char *type, const char *created_at,
                       int64_t tenant, const char *data_json);

/* What to do after one failed attempt (not 2xx). */
struct hooks_retry {
    bool retry;       /* false: give up (410, or too old) */
    bool gone;        /* 410: disable the endpoint */
    int64_t delay_ms; /* when retry: wait this long */
};

/* The retry schedule's settings (0: the defaults in brackets). */
struct hooks_backoff {
    int64_t min_ms;     /* delay after the first failure [5000] */
    int64_t max_ms;     /* cap of the doubling [3600000] */
    int64_t max_age_ms; /* no attempt after retry_from + this [86400000] */
};

/*
 * The decision after attempt number attempts (1 for the first) failed with
 * HTTP code (0: no response) at now_ms, for an event whose retries count
 * from retry_from_ms: 410 gives up and disables, otherwise a retry after
 * db_backoff_delay_ms(min, max, attempts - 1, rnd) unless that lands after
 * the max age. Pure.
 */
struct hooks_retry hooks_retry_decide(const struct hooks_backoff *b, long code, int attempts,
                                      int64_t retry_from_ms, int64_t now_ms, uint64_t rnd);

/*
 * Checks a JSON array of event types (the API's "events" field): 0, or
 * ERR_INVAL with a message naming the offending element in err. Pure.
 */
struct json_t;
int hooks_events_check(const struct json_t *events, char *err, size_t errlen);

/*
 * Opens a sealed signing secret (sealed for tenant under the name
 * HOOKS_SECRET_NAME) into out (HOOKS_SECRET_MAX + 1 bytes, NUL-terminated). 0 or an
 * error. Given by the server (api_secret_open under the secrets key), so
 * this module needs no key of its own. Called on the worker's thread.
 */
typedef int hooks_open_cb(void *arg, int64_t tenant, const char *name, const unsigned char *ct,
                          size_t ctlen, const unsigned char *nonce, char *out);

struct hooks_config {
    const char *conninfo;         /* libpq, the application role (SET LOCAL ROLE platform) */
    const char *node_id;          /* lease owner */
    const char *const *allow;     /* CIDRs the SSRF guard lets through */
    size_t nallow;                /* number of them */
    int64_t connect_timeout_ms;   /* [5000] */
    int64_t timeout_ms;           /* whole request [10000] */
    int per_endpoint;             /* requests in flight per endpoint [4] */
    int max_inflight;             /* requests in flight in all [64] */
    int64_t poll_ms;              /* outbox poll [500] */
    struct hooks_backoff backoff; /* retry schedule */
    int64_t disable_after_ms;     /* failing this long disables the endpoint [259200000] */
    int64_t retention_ms;         /* finished rows kept this long [604800000] */
    int64_t keep_per_tenant;      /* finished rows kept per tenant at most [10000] */
    int db_pool_size;             /* [3] */
    hooks_open_cb *open;          /* required */
    void *open_arg;
};

struct hooks;

/* Delivery statistics (tests, diagnostics); any thread. */
struct hooks_stats {
    uint64_t claimed;   /* rows leased */
    uint64_t delivered; /* 2xx */
    uint64_t failed;    /* attempts that did not deliver */
    uint64_t inflight;  /* requests now */
};

/*
 * Starts the worker thread. cfg is copied. 0 and *out, ERR_INVAL (missing
 * conninfo, node or open; a bad CIDR) or ERR_NOMEM.
 */
int hooks_start(const struct hooks_config *cfg, struct hooks **out);

/*
 * Stops the worker and frees it: requests in flight are abandoned (their
 * leases expire and another pass sends them again). NULL is a no-op.
 */
void hooks_stop(struct hooks *h);

void hooks_stats(const struct hooks *h, struct hooks_stats *out);

#endif
