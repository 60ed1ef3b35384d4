/* SPDX-License-Identifier: MIT */
/*
 * httpd: the HTTP/1.1 + WebSocket server (REST API under /api/v1, the
 * monitoring WebSocket, static web assets), built on libwebsockets.
 *
 * DESIGN
 *
 * One struct httpd owns one thread, named after the server, with its own
 * libev loop. libwebsockets (4.1, Debian's build with the evlib plugins) runs
 * on that loop as a *foreign* libev loop (LWS_SERVER_OPTION_LIBEV +
 * foreign_loops): lws starts its io/timer/idle watchers on our loop and never
 * runs a loop of its own, so other components can put their watchers on the
 * same loop (httpd_loop()) -- an async PostgreSQL connection that answers
 * deferred requests, for example. The hooks on_thread_start/on_thread_stop
 * run on the httpd thread to set such components up and tear them down.
 *
 * The listening socket is ours, not lws's: we accept() under our own ev_io
 * and hand each connection to lws with lws_adopt_socket_vhost(). That gives
 * port 0 (httpd_port() reports the bound port), a connection cap, and a
 * graceful stop: httpd_stop() closes the listener, lets in-flight requests
 * finish until the grace deadline, joins the thread and frees everything.
 * (lws_context_deprecate(), lws's own way to stop listening, would raise
 * SIGINT in the whole process once the last connection closed.)
 *
 * Threading. Everything below runs on the httpd thread except httpd_create,
 * the registration calls made before httpd_start, httpd_start, httpd_stop,
 * httpd_port, httpd_loop, httpd_name, httpd_on_thread, httpd_stats and
 * httpd_post. Other threads reach the httpd thread
 * only through httpd_post(), an mpsc mailbox: the message (function + arg)
 * moves to the httpd thread and runs there. Results computed on the main loop
 * go back to a request through httpd_post() + httpd_req_lookup().
 *
 * Requests. A route is a method set and a path pattern with {name} segments.
 * The handler runs on the httpd thread with a struct httpd_req (path and
 * query parameters, headers, client address, request id, body, parsed JSON).
 * It responds at once (httpd_respond_json/_raw, httpd_error) and returns
 * HTTPD_DONE, or returns HTTPD_DEFERRED and responds later on the httpd
 * thread. A deferred handle stays valid until it is responded to, even when
 * the client disconnects meanwhile: the late response is then dropped. The
 * optional abort callback tells the handler early that nobody is listening.
 * Each request has an arena (scratch that dies with the request); request
 * objects and their first arena block are pooled, so a small request does
 * not touch the heap beyond the JSON values it parses and produces.
 *
 * Bodies are buffered up to max_body_bytes (413 above, rejected from
 * Content-Length before anything is read, or when a chunked body grows past
 * it) unless the route streams: then it gets the body in pieces as they
 * arrive, may pause reading (flow control) and has its own limit.
 *
 * Errors are always JSON: {"error":{"code":"...","message":"...","field":"..."}}
 * (field optional), with X-Request-Id on every response and one access-log
 * line per request.
 *
 * What lws 4.1 does not give us, and what we do instead:
 *   - Chunked request bodies are not decoded by lws; it passes the raw wire
 *     bytes as body for up to 100 MiB. We decode chunked ourselves and close
 *     the connection after such a request. Larger uploads need Content-Length.
 *   - A request head that overflows lws's header buffer is dropped by lws
 *     without a callback. The buffer is twice max_header_bytes; between the
 *     limit and that hard cap we answer 431 from our own measurement (see
 *     docs/httpd.md); beyond it the connection is closed without a response.
 *   - Expect: 100-continue is answered by us.
 *   - While a request is being handled lws leaves POLLIN armed without
 *     reading, so a client's FIN would make the loop spin. While a handler
 *     works we switch lws's reading off and watch the socket ourselves; a
 *     client that leaves (or half-closes) is a disconnect.
 *   - Bytes pipelined behind a request body make lws 4.1 loop; we answer and
 *     close the connection instead (pipelining without bodies works).
 * HTTP/2 is not offered (ALPN is http/1.1 only). docs/httpd.md has the rest.
 */
#ifndef CORE_HTTPD_H
#define CORE_HTTPD_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cfg.h"

struct arena;
struct httpd;
struct httpd_req;
struct httpd_ws;

/* Request methods; a route takes a set of them (bitwise or). */
enum httpd_method {
    HTTPD_GET = 1u << 0,
    HTTPD_HEAD = 1u << 1,
    HTTPD_POST = 1u << 2,
    HTTPD_PUT = 1u << 3,
    HTTPD_PATCH = 1u << 4,
    HTTPD_DELETE = 1u << 5,
    HTTPD_OPTIONS = 1u << 6,
};

/* HTTP statuses the server itself produces, by name. Any 100..599 may be sent. */
enum httpd_status {
    HTTPD_STATUS_OK = 200,
    HTTPD_STATUS_CREATED = 201,
    HTTPD_STATUS_ACCEPTED = 202,
    HTTPD_STATUS_NO_CONTENT = 204,
    HTTPD_STATUS_NOT_MODIFIED = 304,
    HTTPD_STATUS_BAD_REQUEST = 400,
    HTTPD_STATUS_UNAUTHORIZED = 401,
    HTTPD_STATUS_FORBIDDEN = 403,
    HTTPD_STATUS_NOT_FOUND = 404,
    HTTPD_STATUS_METHOD_NOT_ALLOWED = 405,
    HTTPD_STATUS_CONFLICT = 409,
    HTTPD_STATUS_PAYLOAD_TOO_LARGE = 413,
    HTTPD_STATUS_UNSUPPORTED_MEDIA_TYPE = 415,
    HTTPD_STATUS_UNPROCESSABLE = 422,
    HTTPD_STATUS_UPGRADE_REQUIRED = 426,
    HTTPD_STATUS_HEADERS_TOO_LARGE = 431,
    HTTPD_STATUS_INTERNAL_ERROR = 500,
    HTTPD_STATUS_NOT_IMPLEMENTED = 501,
    HTTPD_STATUS_UNAVAILABLE = 503,
};

/* What a handler or chunk callback returns (negative values are err.h codes). */
enum httpd_result {
    HTTPD_DONE = 0,     /* responded (or, from on_chunk: keep reading) */
    HTTPD_DEFERRED = 1, /* handler: the response comes later; the handle stays valid */
    HTTPD_PAUSE = 2,    /* on_chunk: stop reading the body until httpd_req_resume() */
};

/*
 * A route's handler. Runs on the httpd thread. Returns HTTPD_DONE after
 * responding, HTTPD_DEFERRED to respond later, or a negative code: the server
 * then answers 500 internal_error (without details; the code is logged)
 * unless the handler has already responded. Returning HTTPD_DONE without a
 * response is a bug and answered with 500 as well. req is borrowed; see
 * httpd_respond_json() for when it stops being valid.
 *
 * For a streaming route the handler runs when the request head has arrived,
 * before any body: it returns HTTPD_DEFERRED to accept the body (on_chunk,
 * then on_end, then a response), or responds and returns HTTPD_DONE to
 * refuse it (the body is not read and the connection closes).
 */
typedef int httpd_handler_cb(struct httpd_req *req, void *arg);

/*
 * A piece of a streaming body (data borrowed for the call). Returns
 * HTTPD_DONE to continue, HTTPD_PAUSE to stop reading until
 * httpd_req_resume(), or a negative code to stop: the server answers 500
 * unless a response was given (an httpd_error() from the callback, say), and
 * closes the connection after it.
 */
typedef int httpd_chunk_cb(struct httpd_req *req, const void *data, size_t len, void *arg);

/* The streaming body is complete. The handler responds now or later. */
typedef void httpd_end_cb(struct httpd_req *req, void *arg);

/*
 * Nobody will read the response of a deferred request any more. reason is
 * ERR_CLOSED (client disconnected, or half-closed: we treat a FIN as a
 * disconnect), ERR_TIMEOUT (request_timeout_ms passed and 503 timeout was
 * sent), ERR_TOOBIG / ERR_PARSE / ERR_NOMEM (a streaming body was refused by
 * the server: 413 / 400 / 500 sent; on_end will not come) or ERR_SHUTDOWN
 * (httpd_stop's grace period is over). Except for ERR_SHUTDOWN the handle
 * stays valid until the handler responds (the response is dropped); for
 * ERR_SHUTDOWN it is freed as soon as the callback returns and must not be
 * used again. Called once at most; may respond from inside.
 */
typedef void httpd_abort_cb(struct httpd_req *req, int reason, void *arg);

/* Runs on the httpd thread (httpd_post, thread hooks). */
typedef void httpd_post_cb(struct httpd *h, void *arg);
typedef void httpd_thread_cb(struct httpd *h, struct ev_loop *loop, void *arg);

/* Route flags. */
enum httpd_route_flag {
    /*
     * A request body must be JSON (application/json or application/...+json):
     * 415 otherwise, 400 invalid_json when malformed. An empty body gives
     * httpd_req_json() == NULL.
     */
    HTTPD_ROUTE_JSON = 1u << 0,
};

/* A route. Copied by httpd_create/httpd_route_add (pattern included). */
struct httpd_route {
    unsigned methods;          /* enum httpd_method set; GET implies HEAD */
    const char *pattern;       /* "/api/v1/campaigns/{id}/start": literal or {name} segments */
    httpd_handler_cb *handler; /* required */
    void *arg;                 /* passed to handler, on_chunk and on_end */
    unsigned flags;            /* enum httpd_route_flag */
    int64_t max_body;          /* bytes; 0: max_body_bytes, or no limit when streaming */
    httpd_chunk_cb *on_chunk;  /* set (with on_end) to stream the body instead of buffering it */
    httpd_end_cb *on_end;      /* streaming: called once after the last chunk */
};

/*
 * Server configuration. Zero (or empty strings) selects the default given in
 * each comment, so a cfg_defaults() result and a {0}-initialised struct both
 * work. Strings are copied by httpd_create. httpd_cfg_options describes the
 * loadable fields for core/cfg ("httpd.port" = ...).
 */
struct httpd_config {
    const char *name;             /* for logs and the thread name; "httpd" */
    const char *bind_addr;        /* numeric IPv4 or IPv6 address; "127.0.0.1" */
    int64_t port;                 /* 0 picks a free port (see httpd_port()) */
    int64_t max_header_bytes;     /* request line + headers; 8 KiB; 431 above */
    int64_t max_body_bytes;       /* buffered bodies; 1 MiB; 413 above */
    const char *static_dir;       /* serve files from here for unrouted GET/HEAD; none */
    const char *tls_cert_file;    /* PEM; with tls_key_file, serve HTTPS/WSS only */
    const char *tls_key_file;     /* PEM */
    int64_t request_timeout_ms;   /* a deferred response must come within; 30 s */
    int64_t shutdown_grace_ms;    /* httpd_stop waits this long for in-flight work; 5 s */
    int64_t keepalive_timeout_ms; /* idle keep-alive connections close after; 5 s */
    int64_t io_timeout_ms;        /* a stalled request head or body is dropped after; 30 s */
    int64_t max_connections;      /* further connections are closed at accept; 1024 */
    int64_t ws_max_queue_bytes;   /* per WebSocket session output queue; 1 MiB */
    int64_t ws_max_message_bytes; /* largest inbound WebSocket message; 64 KiB */
    int64_t ws_sndbuf_bytes;      /* kernel send buffer of a WebSocket session; 256 KiB */
    bool no_access_log;           /* true: no access-log lines */
    /* Not loadable: */
    httpd_thread_cb *on_thread_start; /* on the httpd thread before serving */
    httpd_thread_cb *on_thread_stop;  /* on the httpd thread after the last request */
    void *thread_arg;                 /* for both hooks */
};

/* core/cfg table for struct httpd_config (keys "httpd.*"). */
extern const struct cfg_option httpd_cfg_options[];
extern const size_t httpd_cfg_options_count;

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

/*
 * Creates a stopped server. cfg and routes (n of them, may be 0) are copied.
 * Returns NULL on OOM or when the configuration or a route is invalid (the
 * reason is logged). Any thread; the httpd_loop() exists from here on.
 */
struct httpd *httpd_create(const struct httpd_config *cfg, const struct httpd_route *routes,
                           size_t n);

/*
 * Adds a route (copied) before httpd_start. Returns 0, ERR_INVAL for a bad
 * pattern or missing handler, ERR_EXISTS when the same method and pattern are
 * taken, ERR_BUSY after start, ERR_NOMEM.
 */
int httpd_route_add(struct httpd *h, const struct httpd_route *r);

/*
 * Starts the thread, binds, and returns once the server accepts connections
 * (0) or failed to (a negative code; -errno for bind errors, ERR_INVAL for a
 * bad address or TLS files). On failure h is still valid and must be freed
 * with httpd_stop(). Called once, from the thread that created h.
 */
int httpd_start(struct httpd *h);

/*
 * Stops accepting, lets in-flight requests finish until shutdown_grace_ms,
 * aborts what is left (abort callbacks with ERR_SHUTDOWN), closes WebSocket
 * sessions (going away), runs on_thread_stop, joins the thread and frees
 * everything, h included. Works on a server that was never started or failed
 * to start. Not from the httpd thread. NULL is a no-op.
 */
void httpd_stop(struct httpd *h);

/* The bound TCP port once httpd_start returned 0; any thread. */
int httpd_port(const struct httpd *h);

/*
 * The httpd thread's loop (borrowed, valid until httpd_stop). Watchers may be
 * started on it only from the httpd thread (hooks, handlers, posted functions).
 */
struct ev_loop *httpd_loop(const struct httpd *h);

/* The configured name ("httpd" by default); borrowed. */
const char *httpd_name(const struct httpd *h);

/*
 * Runs fn(h, arg) on the httpd thread, in order with other posts from the
 * same thread. Any thread, including the httpd thread (then it runs on a
 * later loop iteration). Returns 0 (fn will run, arg moves with it),
 * ERR_SHUTDOWN once httpd_stop has begun or before httpd_start (fn will not
 * run; arg stays the caller's), ERR_NOMEM.
 */
int httpd_post(struct httpd *h, httpd_post_cb *fn, void *arg);

/* True on the httpd thread of h. */
bool httpd_on_thread(const struct httpd *h);

/* ---------------------------------------------------------------------- */
/* Requests (httpd thread only)                                            */
/* ---------------------------------------------------------------------- */

/* The method (one enum httpd_method bit) and its name ("GET"). */
enum httpd_method httpd_req_method(const struct httpd_req *req);
const char *httpd_req_method_name(const struct httpd_req *req);

/* The decoded path without the query ("/api/v1/campaigns/7"). Borrowed, request lifetime. */
const char *httpd_req_path(const struct httpd_req *req);

/* The value of the {name} path segment, or NULL. Borrowed, request lifetime. */
const char *httpd_req_param(const struct httpd_req *req, const char *name);

/*
 * The first decoded value of query parameter name ("a+b%21" -> "a b!"), ""
 * for a name without '=', NULL when absent. Borrowed, request lifetime.
 */
const char *httpd_req_query(const struct httpd_req *req, const char *name);

/* Number of query parameters, and the i-th as name/value (borrowed); 0 or ERR_RANGE. */
size_t httpd_req_query_count(const struct httpd_req *req);
int httpd_req_query_at(const struct httpd_req *req, size_t i, const char **name,
                       const char **value);

/*
 * The value of request header name (case-insensitive; repeated headers joined
 * by ","), or NULL. Works while the client is connected -- call it in the
 * handler; the string stays valid for the request's lifetime.
 */
const char *httpd_req_header(struct httpd_req *req, const char *name);

/* The client's address ("127.0.0.1", "::1"). Borrowed, request lifetime. */
const char *httpd_req_client(const struct httpd_req *req);

/*
 * The request id: the client's X-Request-Id when it is 1-64 characters of
 * [A-Za-z0-9._:-], otherwise one we generated. Sent back in X-Request-Id.
 */
const char *httpd_req_id(const struct httpd_req *req);

/* The buffered body (NUL-terminated for convenience; len excludes it); "" when none. */
const void *httpd_req_body(const struct httpd_req *req, size_t *len);

/* The parsed body when its content type is JSON, else NULL. Borrowed, request lifetime. */
json_t *httpd_req_json(const struct httpd_req *req);

/* The request's scratch arena (freed with the request). */
struct arena *httpd_req_arena(struct httpd_req *req);

/* One pointer for the handler's own use. */
void httpd_req_set_data(struct httpd_req *req, void *data);
void *httpd_req_data(const struct httpd_req *req);

/*
 * Runs fn(arg) when req is released (answered and gone, or abandoned by a
 * client that left mid-way), newest first, on the httpd thread. For what a
 * deferred handler holds outside the request's arena (JSON built from
 * results) and would leak when its completion never runs because the
 * client left. fn must tolerate running after the handler already freed
 * the thing (clear it to NULL). 0 or ERR_NOMEM.
 */
typedef void httpd_cleanup_fn(void *arg);
int httpd_req_on_release(struct httpd_req *req, httpd_cleanup_fn *fn, void *arg);

/* The server the request belongs to. */
struct httpd *httpd_req_server(const struct httpd_req *req);

/*
 * A number naming this request while a handler holds it (deferred): pass it
 * to other threads, and back on the httpd thread httpd_req_lookup() returns
 * the request, or NULL once it was answered or aborted for shutdown. Never 0.
 */
uint64_t httpd_req_handle(const struct httpd_req *req);
struct httpd_req *httpd_req_lookup(struct httpd *h, uint64_t handle);

/* Sets (or clears, cb NULL) the abort callback of a deferred request. */
void httpd_req_on_abort(struct httpd_req *req, httpd_abort_cb *cb, void *arg);

/* True while the client is still connected and waiting for this response. */
bool httpd_req_connected(const struct httpd_req *req);

/* Resumes reading a streaming body paused by HTTPD_PAUSE. No-op otherwise. */
void httpd_req_resume(struct httpd_req *req);

/* ---------------------------------------------------------------------- */
/* Responses (httpd thread only)                                           */
/* ---------------------------------------------------------------------- */

/* An extra response header (name and value borrowed for the call). */
struct httpd_header {
    const char *name;
    const char *value;
};

/*
 * Sends status with body as JSON (body taken, even on failure; NULL sends no
 * body). Returns 0 when the response is on its way, ERR_CLOSED when the
 * client is gone or the request already timed out (the response is dropped),
 * ERR_NOMEM/ERR_INVAL (a 500 is sent instead). Exactly one respond call per
 * request. After it the handle is released: a deferred handler must not use
 * req again; a handler that responds before returning may still read req
 * until it returns.
 */
int httpd_respond_json(struct httpd_req *req, int status, json_t *body);

/*
 * Sends status with len raw bytes of body (copied) as content_type (NULL:
 * no Content-Type), plus n extra headers (copied; empty names or values, CR
 * or LF anywhere, or ':' in a name are ERR_INVAL and a 500 is sent instead).
 * Cache-Control: no-store is added unless the extra headers set
 * Cache-Control. Same return and handle rules as httpd_respond_json().
 */
int httpd_respond_raw(struct httpd_req *req, int status, const char *content_type, const void *body,
                      size_t len, const struct httpd_header *headers, size_t n);

/*
 * Sends {"error":{"code":code,"message":message[,"field":field]}} with status.
 * message and field may be NULL (field omitted). Same rules as above.
 */
int httpd_error(struct httpd_req *req, int status, const char *code, const char *message,
                const char *field);

/* ---------------------------------------------------------------------- */
/* WebSockets (httpd thread only)                                          */
/* ---------------------------------------------------------------------- */

/*
 * A client asks to open a session on the endpoint. req carries the upgrade
 * request's path parameters, query, headers, client and id (borrowed for the
 * call). Returns 0 to accept (httpd_ws_send may already queue messages), or
 * refuses with an HTTP status >= 400 (after httpd_error(req, ...) to choose
 * the JSON body; otherwise a generic one) or a negative code (500).
 */
typedef int httpd_ws_open_cb(struct httpd_ws *ws, struct httpd_req *req, void *arg);

/* One complete message (data borrowed for the call). */
typedef void httpd_ws_message_cb(struct httpd_ws *ws, const void *data, size_t len, bool binary,
                                 void *arg);

/*
 * The session is over; ws is freed when this returns. reason: 0 (normal
 * close), ERR_CLOSED (connection lost), ERR_TOOBIG (dropped as a slow
 * consumer or for an oversized message), ERR_SHUTDOWN.
 */
typedef void httpd_ws_close_cb(struct httpd_ws *ws, int reason, void *arg);

/* A WebSocket endpoint. Copied by httpd_ws_add. */
struct httpd_ws_endpoint {
    const char *pattern;             /* "/ws/v1/live"; {name} segments allowed */
    const char *subprotocol;         /* optional Sec-WebSocket-Protocol to agree to */
    int64_t max_queue_bytes;         /* 0: ws_max_queue_bytes */
    httpd_ws_open_cb *on_open;       /* optional; NULL accepts everyone */
    httpd_ws_message_cb *on_message; /* optional */
    httpd_ws_close_cb *on_close;     /* optional */
    void *arg;
};

/*
 * Registers an endpoint before httpd_start. GET requests with a WebSocket
 * upgrade on the pattern open sessions (with the endpoint's subprotocol, when
 * it names one: clients must offer it); plain requests there get 426 unless a
 * route matches. Returns 0, ERR_INVAL, ERR_EXISTS (same pattern), ERR_BUSY
 * (started), ERR_NOMEM.
 */
int httpd_ws_add(struct httpd *h, const struct httpd_ws_endpoint *ep);

/*
 * Queues a message (copied) for the session. Returns 0, ERR_CLOSED when the
 * session is closing, or ERR_TOOBIG when queued output would pass the
 * endpoint's limit: the session is then dropped as a slow consumer (closed at
 * once, on_close with ERR_TOOBIG on a later loop iteration).
 */
int httpd_ws_send(struct httpd_ws *ws, const void *data, size_t len, bool binary);

/*
 * Sends len bytes (copied once, shared) to every open session of the endpoint
 * registered with pattern (the same string as given to httpd_ws_add).
 * Returns the number of sessions it was queued for (slow consumers are
 * dropped as in httpd_ws_send), or ERR_NOTFOUND / ERR_NOMEM.
 */
int httpd_ws_broadcast(struct httpd *h, const char *pattern, const void *data, size_t len,
                       bool binary);

/* Closes the session politely with code (1000 normal, 1001 going away...) and reason. */
void httpd_ws_close(struct httpd_ws *ws, int code, const char *reason);

/* The upgrade request's id and path (borrowed, session lifetime). */
const char *httpd_ws_id(const struct httpd_ws *ws);
const char *httpd_ws_path(const struct httpd_ws *ws);

/* Bytes waiting in the session's output queue. */
size_t httpd_ws_queued(const struct httpd_ws *ws);

/* One pointer for the endpoint's own use, and the server. */
void httpd_ws_set_data(struct httpd_ws *ws, void *data);
void *httpd_ws_data(const struct httpd_ws *ws);
struct httpd *httpd_ws_server(const struct httpd_ws *ws);

/* ---------------------------------------------------------------------- */
/* Statistics                                                              */
/* ---------------------------------------------------------------------- */

/*
 * Process-wide counters (core/counter, registered by httpd_create):
 *   httpd_requests_total{class="1xx".."5xx"}  responses sent, by status class
 *   httpd_requests_in_flight                  requests received, not yet answered
 *   httpd_connections                         open connections
 *   httpd_ws_sessions                         open WebSocket sessions
 *   httpd_ws_slow_consumer_drops_total        sessions dropped for a full queue
 * httpd_stats() reads them (any thread).
 */
struct httpd_stats {
    int64_t requests_by_class[6]; /* index 1..5 = 1xx..5xx */
    int64_t in_flight;
    int64_t connections;
    int64_t ws_sessions;
    int64_t ws_slow_drops;
};

void httpd_stats(struct httpd_stats *out);

#endif
