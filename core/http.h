/* SPDX-License-Identifier: MIT */
/*
 * http: the HTTP client adapter (libcurl multi-socket API on one libev loop).
 *
 * One struct http_client owns one curl multi handle, so every request made
 * through it shares the connection cache (HTTP/1.1 keep-alive), the DNS
 * cache and the per-host connection limit. Its users are the ARI REST client
 * (thousands of small requests per second to Asterisk on loopback) and the
 * IVR api_call nodes (requests to customer endpoints, guarded against SSRF
 * through the allow-address hook).
 *
 * A request is described by a struct http_request, which is read during
 * http_xfer_start() only: the URL, headers and credentials are copied by
 * curl, the body is copied by us unless HTTP_BODY_BORROWED says the caller
 * keeps it alive. Every transfer started successfully completes exactly once
 * through its callback, from the loop (never inside http_xfer_start()),
 * unless http_xfer_cancel() is called first:
 *
 *   status 0              an HTTP response arrived: any code, 2xx to 5xx
 *                         (mapping codes to outcomes is the caller's job)
 *   status ERR_TIMEOUT    the connect or total timeout expired
 *   status -ECONNREFUSED  (or another negated errno) the connect failed
 *   status ERR_FORBIDDEN  the allow-address hook denied every address
 *   status ERR_TOOBIG     the response body exceeded the size limit
 *   status ERR_NOMEM      out of memory while buffering the response
 *   status ERR_HTTP       any other transport failure (resp->error says what)
 *   status ERR_CANCELED   the client was destroyed
 *
 * The response passed to the callback is never NULL; its fields are
 * borrowed for the duration of the callback.
 *
 * Nothing here blocks the loop: curl's sockets are watched by ev_io
 * watchers and its timeout by one ev_timer (the pattern of curl's
 * docs/examples/evhiperfifo.c); name resolution runs in curl's resolver
 * thread. Proxies from the environment (http_proxy...) are ignored and only
 * http and https URLs are accepted; redirects are not followed (Location is
 * reported).
 *
 * Threads: a client and its transfers belong to the thread that runs the
 * loop. Counters (http_requests_total, http_errors_total,
 * http_inflight) are global and may be read from any thread.
 */
#ifndef CORE_HTTP_H
#define CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct http_client;
struct http_xfer;

/* Client-wide settings; 0 picks the default given in each comment. */
struct http_client_options {
    long max_host_connections;   /* parallel connections per host:port; 0: 16 */
    long max_total_connections;  /* parallel connections in all; 0: unlimited */
    long max_cached_connections; /* idle keep-alive connections kept; 0: 64 */
    int64_t connect_timeout_ms;  /* default per request; 0: 2000 */
    int64_t timeout_ms;          /* default total per request; 0: 10000 */
    size_t max_response_bytes;   /* default body limit; 0: 8 MiB */
    unsigned free_handles;       /* idle curl easy handles kept for reuse; 0: 64 */
    const char *user_agent;      /* copied; NULL: "dialer/<version>" */
};

/*
 * Decides whether a connection to the address sa may be used. Called with
 * each resolved address before connect() (a denied address never sees a
 * packet), and once more with the peer address of the connection actually
 * used right before the request is sent, which covers keep-alive
 * connections opened earlier by requests without a hook. Returns true to
 * allow. Runs inside curl: it must not call any http_ function. arg is
 * http_request.allow_arg.
 */
typedef bool http_allow_addr_cb(const struct sockaddr *sa, socklen_t len, void *arg);

enum {
    HTTP_BODY_BORROWED = 1u << 0, /* body is not copied: keep it alive until completion/cancel */
};

/* One request; read only during http_xfer_start(). */
struct http_request {
    const char *method;             /* "GET" (default when NULL), "POST", "PUT", "DELETE"... */
    const char *url;                /* http:// or https:// */
    const char *const *headers;     /* "Name: value" lines, nheaders of them */
    size_t nheaders;                /* number of headers */
    const void *body;               /* request body or NULL */
    size_t body_len;                /* its length (a body may be sent with any method) */
    unsigned flags;                 /* HTTP_BODY_BORROWED */
    const char *username;           /* Basic auth when non-NULL */
    const char *password;           /* Basic auth password (may be NULL: empty) */
    int64_t connect_timeout_ms;     /* 0: the client's default */
    int64_t timeout_ms;             /* total, queueing included; 0: the client's default */
    size_t max_response_bytes;      /* 0: the client's default */
    http_allow_addr_cb *allow_addr; /* optional SSRF guard */
    void *allow_arg;                /* for allow_addr */
};

/* A response as the callback sees it; everything is borrowed during the callback. */
struct http_response {
    long code;                     /* HTTP status, 0 when no response arrived */
    const char *body;              /* NUL-terminated for convenience; "" when empty */
    size_t body_len;               /* bytes in body (excluding the added NUL) */
    const char *content_type;      /* Content-Type header value or NULL */
    const char *location;          /* Location header value or NULL */
    const char *error;             /* curl's error text on failure, "" on success */
    int64_t namelookup_us;         /* from start to name resolved */
    int64_t connect_us;            /* from start to connected */
    int64_t ttfb_us;               /* from start to the first response byte */
    int64_t total_us;              /* from start to completion */
    bool reused;                   /* carried by an existing keep-alive connection */
    const struct http_xfer *_xfer; /* private: for http_response_header() */
};

/*
 * A transfer completed. status is 0 for any HTTP response (see the file
 * comment for the others); resp is never NULL and is borrowed. The handle
 * returned by http_xfer_start() is dead once this runs.
 */
typedef void http_done_cb(int status, const struct http_response *resp, void *arg);

/* Per-client statistics for tests and diagnostics (the counters are global). */
struct http_stats {
    uint64_t requests;    /* transfers started */
    uint64_t responses;   /* completions with status 0 */
    uint64_t errors;      /* completions with a negative status other than ERR_CANCELED */
    uint64_t inflight;    /* transfers whose callback is still owed */
    uint64_t handles_new; /* curl easy handles created (the rest were reused) */
};

/*
 * Creates a client on loop. opt may be NULL (all defaults). Returns 0 and
 * sets *out (new; destroy with http_client_destroy), ERR_INVAL (NULL loop or
 * out) or ERR_NOMEM / ERR_HTTP (curl could not be set up). Loop thread only.
 * curl_global_init() must have run once before (server start-up; the
 * create calls it too, which is enough while only one thread starts).
 */
int http_client_create(struct ev_loop *loop, const struct http_client_options *opt,
                       struct http_client **out);

/*
 * Destroys c. Every transfer still owed completes with ERR_CANCELED inside
 * this call (starts from those callbacks return ERR_SHUTDOWN); then the
 * connections are closed. May be called from a completion callback of c.
 * NULL is a no-op.
 */
void http_client_destroy(struct http_client *c);

/*
 * Starts a transfer described by rq (borrowed during the call; the body too
 * when HTTP_BODY_BORROWED is set, until completion or cancel). cb(status,
 * resp, arg) runs exactly once, later, unless http_xfer_cancel() comes first.
 * When out is non-NULL it receives the handle, valid until the callback
 * starts or until cancel. Returns 0, ERR_INVAL (NULL c, rq, url or cb; a
 * NULL body with body_len > 0), ERR_NOMEM, ERR_SHUTDOWN (c is being
 * destroyed) or ERR_HTTP (curl refused an option); on error cb never runs.
 */
int http_xfer_start(struct http_client *c, const struct http_request *rq, http_done_cb *cb,
                    void *arg, struct http_xfer **out);

/*
 * Cancels a transfer: its connection is dropped or returned to the cache by
 * curl and its callback never runs. x must be a live handle; NULL is a
 * no-op, and so is a call from inside x's own callback. Must not be called
 * from an allow-address hook.
 */
void http_xfer_cancel(struct http_xfer *x);

/*
 * The value of response header name (case-insensitive; the last one when
 * repeated) or NULL. Valid only during the callback that received resp.
 */
const char *http_response_header(const struct http_response *resp, const char *name);

/* Copies the statistics of c into *st. */
void http_client_stats(const struct http_client *c, struct http_stats *st);

#endif
