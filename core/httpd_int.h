/* SPDX-License-Identifier: MIT */
/*
 * httpd_int: declarations shared by the httpd_*.c files; not for other modules.
 *
 * Objects and who owns them (all on the httpd thread after start):
 *
 *   struct httpd        the server; owns the routes, WebSocket endpoints, the
 *                       lws context, the listener, the connection list, the
 *                       pool of free requests and the table of held requests.
 *   struct httpd_conn   one per accepted socket; created at accept, freed on
 *                       LWS_CALLBACK_WSI_DESTROY. Found from the wsi through
 *                       lws's opaque user data (set right after adoption).
 *   struct httpd_req    one per request; from the pool. conn->req points to
 *                       it while the connection serves it, req->conn back
 *                       while attached. It is freed (returned to the pool)
 *                       when it is both detached from the wire (response
 *                       written, or connection gone) and not held by a
 *                       handler (deferred and not yet responded).
 *   struct httpd_ws     one per WebSocket session; conn->ws; freed after its
 *                       on_close callback.
 *
 * Nothing here is locked: only httpd_post (mailbox) and the start/stop
 * handshake cross threads, and they live in httpd.c.
 */
#ifndef CORE_HTTPD_INT_H
#define CORE_HTTPD_INT_H

#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/arena.h"
#include "core/counter.h"
#include "core/httpd.h"
#include "core/mpsc.h"

/* ---------------------------------------------------------------------- */
/* Intrusive doubly linked list                                            */
/* ---------------------------------------------------------------------- */

struct httpd_link {
    struct httpd_link *prev;
    struct httpd_link *next;
};

static inline void httpd_list_init(struct httpd_link *head)
{
    head->prev = head;
    head->next = head;
}

static inline bool httpd_list_empty(const struct httpd_link *head)
{
    return head->next == head;
}

static inline bool httpd_link_linked(const struct httpd_link *l)
{
    return l->next != NULL;
}

static inline void httpd_list_append(struct httpd_link *head, struct httpd_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static inline void httpd_list_remove(struct httpd_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = NULL;
    l->next = NULL;
}

/* ---------------------------------------------------------------------- */
/* Routes (httpd_route.c)                                                  */
/* ---------------------------------------------------------------------- */

struct httpd_seg {
    const char *text; /* literal text, or the parameter name */
    size_t len;       /* length of text */
    bool param;       /* {name} segment */
};

struct httpd_pattern {
    char *text;             /* owned copy of the pattern */
    struct httpd_seg *segs; /* owned; into text */
    size_t nsegs;
};

/* A registered route: the caller's route plus its compiled pattern. */
struct httpd_route_int {
    struct httpd_route r; /* r.pattern points at pat.text */
    struct httpd_pattern pat;
};

/* A name/value pair in a request's arena. */
struct httpd_kv {
    const char *name;
    const char *value;
};

/* Compiles pattern into p (owned strings). ERR_INVAL for a malformed pattern, ERR_NOMEM. */
int httpd__pattern_compile(struct httpd_pattern *p, const char *pattern);
void httpd__pattern_free(struct httpd_pattern *p);

/*
 * Matches path against p. On a match returns its specificity (higher = more
 * literal segments, earlier ones weighing more; always >= 1) and, when params
 * is not NULL, stores the parameter values (copied into a) in params[0..]:
 * params must have room for p->nsegs entries; *nparams gets their number.
 * Returns 0 for no match, ERR_NOMEM.
 */
int64_t httpd__pattern_match(const struct httpd_pattern *p, const char *path, struct arena *a,
                             struct httpd_kv *params, size_t *nparams);

/* True when two compiled patterns accept exactly the same paths. */
bool httpd__pattern_same(const struct httpd_pattern *a, const struct httpd_pattern *b);

/* "GET, HEAD, POST" for a method set, into buf (at least 64 bytes). Returns buf. */
char *httpd__methods_format(unsigned methods, char *buf, size_t size);

/* The method's name ("GET"), or "?" */
const char *httpd__method_name(enum httpd_method m);

/* True when the media type (a Content-Type value) is JSON. */
bool httpd__is_json_type(const char *ctype);

/* True when s is a request id we accept from a client. */
bool httpd__request_id_ok(const char *s);

/* Escapes s for a key="value" log field into a (control bytes, quotes, backslashes). */
const char *httpd__log_escape(struct arena *a, const char *s);

/*
 * Chunked transfer decoding (RFC 9112 section 7.1), incremental. Chunk
 * extensions and trailers are skipped (each line at most 4 KiB).
 */
enum httpd_chunked_state {
    HTTPD_CH_SIZE,
    HTTPD_CH_EXT,
    HTTPD_CH_SIZE_LF,
    HTTPD_CH_DATA,
    HTTPD_CH_DATA_CR,
    HTTPD_CH_DATA_LF,
    HTTPD_CH_TRAILER,
    HTTPD_CH_TRAILER_LF,
    HTTPD_CH_DONE,
};

struct httpd_chunked {
    enum httpd_chunked_state state;
    uint64_t remain;   /* bytes left in the current chunk / the size being read */
    unsigned digits;   /* hex digits read for the size */
    size_t line;       /* bytes in the current extension or trailer line */
    bool trailer_text; /* the current trailer line is not empty */
};

/* Called with each decoded data span; a non-zero return stops the feed and is returned. */
typedef int httpd_chunked_emit_cb(const unsigned char *data, size_t len, void *arg);

void httpd__chunked_init(struct httpd_chunked *c);

/*
 * Decodes len bytes of in. Returns 0 (more input wanted, or done: check
 * c->state == HTTPD_CH_DONE; *used tells how much input was part of the body),
 * ERR_PARSE for malformed framing, or what emit returned.
 */
int httpd__chunked_feed(struct httpd_chunked *c, const unsigned char *in, size_t len, size_t *used,
                        httpd_chunked_emit_cb *emit, void *arg);

/* ---------------------------------------------------------------------- */
/* Server, connection, request                                             */
/* ---------------------------------------------------------------------- */

/* A WebSocket endpoint as registered. */
struct httpd_ws_ep {
    struct httpd_ws_endpoint e; /* e.pattern -> pat.text; e.subprotocol owned */
    struct httpd_pattern pat;
    struct httpd_link sessions; /* struct httpd_ws.ep_link */
};

/* The body framing of the request being read. */
enum httpd_body_mode {
    HTTPD_BODY_NONE,    /* no body (or already complete) */
    HTTPD_BODY_LENGTH,  /* Content-Length bytes */
    HTTPD_BODY_CHUNKED, /* Transfer-Encoding: chunked, decoded by us */
};

/* What happens to body bytes that arrive. */
enum httpd_body_sink {
    HTTPD_SINK_BUFFER,  /* appended to req->body */
    HTTPD_SINK_STREAM,  /* given to the route's on_chunk */
    HTTPD_SINK_DISCARD, /* dropped (the request was answered early) */
};

/* A response on its way out. */
struct httpd_resp {
    int status;
    char *head;                /* arena: status line + headers + blank line */
    size_t head_len, head_off; /* bytes, bytes handed to lws */
    unsigned char *body;       /* malloc'd, owned */
    size_t body_len, body_off;
    int fd; /* static file body, or -1 */
    int64_t file_len, file_off;
    bool no_body; /* HEAD, 204 or 304: the head only */
    bool close;   /* Connection: close after it */
};

struct httpd_cleanup {
    struct httpd_cleanup *next;
    httpd_cleanup_fn *fn;
    void *arg;
};

struct httpd_req {
    struct httpd *h;
    struct httpd_conn *conn;        /* while attached to the connection, else NULL */
    struct arena arena;             /* request scratch; first block kept in the pool */
    struct httpd_cleanup *cleanups; /* httpd_req_on_release, arena, newest first */
    struct httpd_link held_link;    /* h->held while a handler holds it */
    struct httpd_req *hash_next;    /* bucket chain of h->held_table */
    struct httpd_req *pool_next;    /* h->pool */
    ev_timer timer;                 /* deferred-response timeout */
    uint64_t handle;                /* httpd_req_handle() */
    const struct httpd_route_int *route;
    enum httpd_method method;
    const char *method_name;
    const char *path;        /* decoded, arena */
    struct httpd_kv *params; /* arena */
    size_t nparams;
    struct httpd_kv *query; /* arena */
    size_t nquery;
    struct httpd_kv *hdr_cache; /* looked-up headers (arena), hdr_ncache of hdr_ccap */
    size_t hdr_ncache, hdr_ccap;
    const char *rid;    /* request id, arena */
    const char *client; /* arena copy of the connection's address */
    int64_t start_us;   /* clock_mono_us() at the request head */
    /* body */
    enum httpd_body_mode body_mode;
    enum httpd_body_sink sink;
    int64_t content_length; /* -1 when absent */
    int64_t body_limit;     /* bytes accepted (0: none) */
    int64_t body_seen;      /* decoded body bytes received so far */
    int64_t discarded;      /* bytes dropped while discarding */
    struct httpd_chunked chunked;
    unsigned char *body; /* buffered body (NUL-terminated), arena or heap */
    size_t body_len, body_cap;
    bool body_heap;        /* body is malloc'd (chunked growth) */
    json_t *json;          /* parsed body, owned */
    bool expect_continue;  /* client waits for 100 Continue (cleared once sent) */
    bool lws_body_pending; /* lws still expects body bytes on this connection */
    unsigned char *stash;  /* paused: unread rest of a read buffer (malloc'd) */
    size_t stash_len;
    ev_timer resume_w; /* feeds the stash after httpd_req_resume() */
    ev_io live_w;      /* while waiting: notices the client leaving */
    ev_timer live_t;   /* ... or polls for it once data is pending */
    bool live_on;
    /* state */
    bool dispatching; /* a handler or callback is on the stack */
    bool held;        /* a handler holds the handle (in h->held) */
    bool answered;    /* the wire response is decided (resp is set) */
    bool dropped;     /* client gone, timed out or refused: responses go nowhere */
    bool aborted;     /* the abort callback ran (or is moot) */
    bool finished;    /* logged and uncounted from in-flight */
    bool body_done;   /* the whole body has been received */
    bool paused;      /* streaming: reading paused */
    bool end_pending; /* streaming: body ended while paused; on_end on resume */
    bool head_only;   /* HEAD */
    bool close;       /* the client asked to close, or HTTP/1.0 */
    bool is_ws;       /* the upgrade request of a WebSocket */
    httpd_abort_cb *abort_cb;
    void *abort_arg;
    void *user;
    struct httpd_resp resp;
};

struct httpd_conn {
    struct httpd *h;
    struct lws *wsi;
    struct httpd_link link; /* h->conns */
    struct httpd_req *req;  /* the request being served, or NULL */
    struct httpd_ws *ws;    /* set once upgraded to WebSocket */
    char client[INET6_ADDRSTRLEN];
    int64_t rx_base;       /* TCP bytes consumed before the current request head */
    unsigned nrequests;    /* requests served on this connection */
    bool closing;          /* asked to close; no further request is taken */
    bool rx_off;           /* lws reading is paused (lws_rx_flow_control) */
    bool discarding;       /* after an early answer: reading and dropping the body */
    int64_t discard_left;  /* bytes still to drop before we close */
    int64_t discard_until; /* clock_mono_us() deadline of the discarding */
};

/* The lws protocol callback's per-session data (we keep ours on the conn). */
struct httpd_pss {
    void *unused;
};

enum {
    HTTPD_WBUF_SIZE = 32 * 1024,
    /* After an early answer (413...) we keep reading and dropping the body
     * for up to this many bytes and seconds, so that a client still sending
     * gets to read the answer instead of a connection reset. */
    HTTPD_LINGER_BYTES = 8 * 1024 * 1024,
    HTTPD_LINGER_SECS = 5,
};

struct httpd {
    struct httpd_config cfg; /* strings owned (copies) */
    char name[16];           /* thread name */
    struct ev_loop *loop;
    /* registration */
    struct httpd_route_int *routes;
    size_t nroutes, routes_cap;
    struct httpd_ws_ep *eps;
    size_t neps, eps_cap;
    size_t max_segs; /* longest pattern, for param arrays */
    /* lws */
    struct lws_context *lws;
    struct lws_vhost *vhost;
    struct lws_protocols *protocols; /* [0] "http", then subprotocols, then NULL */
    size_t nprotocols;
    bool tls;
    /* listener */
    int listen_fd;
    ev_io listen_w;
    int port;
    int static_fd; /* O_PATH directory of static_dir, or -1 */
    /* thread and cross-thread state */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t start_mu;
    pthread_cond_t start_cv;
    int start_state; /* 0 starting, 1 running, -1 failed; under start_mu */
    int start_rc;
    struct mpsc_mailbox mailbox; /* httpd_post */
    ev_async stop_w;             /* httpd_stop's wake-up; keeps the loop alive */
    atomic_bool stopping;        /* httpd_stop has begun (seq_cst with posters) */
    atomic_int posters;          /* httpd_post calls in progress */
    atomic_bool running;         /* posts accepted */
    /* httpd thread state */
    bool draining;
    bool drained;
    ev_timer drain_w;
    struct httpd_link conns; /* struct httpd_conn.link */
    size_t nconns;
    struct httpd_link held; /* struct httpd_req.held_link */
    size_t nheld;
    struct httpd_req **held_table; /* handle -> req, chained */
    size_t held_buckets;
    struct httpd_req *pool; /* free requests */
    size_t npool;
    uint64_t next_handle;
    uint32_t rid_prefix;
    uint64_t rid_seq;
    unsigned char *wbuf; /* LWS_PRE + HTTPD_WBUF_SIZE, for writes */
    char date[40];       /* cached Date header value */
    int64_t date_sec;
};

/* Counters (httpd.c). */
extern struct counter httpd__c_class[6];
extern struct counter httpd__c_in_flight;
extern struct counter httpd__c_connections;
extern struct counter httpd__c_ws_sessions;
extern struct counter httpd__c_ws_drops;

/* ---------------------------------------------------------------------- */
/* httpd_req.c: the HTTP request path                                      */
/* ---------------------------------------------------------------------- */

/* LWS_CALLBACK_HTTP: a request head arrived on conn. Returns what the lws callback returns. */
int httpd__on_http(struct httpd_conn *c);

/* LWS_CALLBACK_HTTP_BODY / _COMPLETION. */
int httpd__on_body(struct httpd_conn *c, const unsigned char *data, size_t len);
int httpd__on_body_end(struct httpd_conn *c);

/* The connection is going away (close or destroy). */
void httpd__conn_gone(struct httpd_conn *c);

/* A new request object for conn (from the pool), with id, client, clock. NULL on OOM. */
struct httpd_req *httpd__req_new(struct httpd_conn *c);

/* Fills method/path/query from the lws header table. ERR_NOMEM, ERR_PARSE. */
int httpd__req_parse_head(struct httpd_req *req, struct lws *wsi);

/* True when the request head is larger than max_header_bytes (see docs). */
bool httpd__head_too_large(struct httpd_req *req, struct lws *wsi);

/* Lets lws read from c again or stops it (idempotent). */
void httpd__rx(struct httpd_conn *c, bool on);

/* Starts / stops watching for the client leaving while req is unanswered or written. */
void httpd__live_start(struct httpd_req *req);
void httpd__live_stop(struct httpd_req *req);

/* Records where the next request on c starts (after a response). */
void httpd__conn_mark_rx(struct httpd_conn *c);

/* The handler takes / gives up its hold on req (see httpd_req.c). */
void httpd__hold(struct httpd_req *req);
void httpd__unhold(struct httpd_req *req);

/* Releases a request object if nobody needs it any more. */
void httpd__req_maybe_free(struct httpd_req *req);

/* Frees pooled and held requests at the end (httpd thread, after the loop). */
void httpd__reqs_fini(struct httpd *h);

/* Aborts every held request for shutdown (abort callbacks, ERR_SHUTDOWN). */
void httpd__abort_held(struct httpd *h);

/* ---------------------------------------------------------------------- */
/* httpd_resp.c: responses and the write path                              */
/* ---------------------------------------------------------------------- */

/*
 * Records a response built from parts (body taken: free()d by us), marks the
 * request answered and asks lws for a writeable callback. Used by every
 * respond path. extra_headers is a preformatted "name: value\r\n" block or NULL.
 */
int httpd__respond(struct httpd_req *req, int status, const char *ctype, unsigned char *body,
                   size_t len, const char *extra_headers, bool no_store);

/* A file body (fd taken) of size bytes; see httpd__respond. */
int httpd__respond_file(struct httpd_req *req, int status, const char *ctype, int fd, int64_t size,
                        const char *extra_headers);

/* An error response from the server itself (not through a handler's hold). */
void httpd__fail(struct httpd_req *req, int status, const char *code, const char *message);

/* The error body as a malloc'd string; NULL on OOM. */
char *httpd__error_body(const char *code, const char *message, const char *field, size_t *len);

/* LWS_CALLBACK_HTTP_WRITEABLE. Returns what the lws callback returns. */
int httpd__on_writeable(struct httpd_conn *c);

/* Writes the response synchronously (WebSocket refusals). */
void httpd__write_now(struct httpd_req *req, struct lws *wsi);

/* Ends a request: access log, counters, detaches it from its connection. */
void httpd__req_finish(struct httpd_req *req);

/* Releases the response's resources (body, file). */
void httpd__resp_clear(struct httpd_resp *r);

/* The access-log status of a request whose client left before the answer was out. */
enum { HTTPD_LOG_CLIENT_GONE = 499 };

/* Writes the access-log line of req. */
void httpd__access_log(struct httpd_req *req, int status, int64_t bytes);

/* The reason phrase of status ("Not Found"). */
const char *httpd__status_text(int status);

/* ---------------------------------------------------------------------- */
/* httpd_static.c                                                          */
/* ---------------------------------------------------------------------- */

/* Opens the static directory (start). 0, or -errno. */
int httpd__static_open(struct httpd *h);

/* Serves req's path from the static directory (GET/HEAD). Always responds. */
void httpd__static_serve(struct httpd_req *req);

/* Reads up to size bytes of the response's file at its offset; -errno on failure. */
ssize_t httpd__static_read(struct httpd_resp *r, unsigned char *buf, size_t size);

/* ---------------------------------------------------------------------- */
/* httpd_ws.c                                                              */
/* ---------------------------------------------------------------------- */

/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: 0 accepts, non-zero refuses (response written). */
int httpd__ws_filter(struct httpd_conn *c, struct lws *wsi);

/* LWS_CALLBACK_ESTABLISHED, _RECEIVE, _SERVER_WRITEABLE, _CLOSED. */
int httpd__ws_established(struct httpd_conn *c);
int httpd__ws_receive(struct httpd_conn *c, const void *data, size_t len);
void httpd__ws_peer_closed(struct httpd_conn *c);

/* LWS_CALLBACK_ADD_HEADERS for the 101 answer: X-Request-Id. */
void httpd__ws_add_headers(struct httpd_conn *c, struct lws_process_html_args *args);
int httpd__ws_writeable(struct httpd_conn *c);
void httpd__ws_closed(struct httpd_conn *c, int reason);

/* Prepares the endpoints' session lists (thread start, registration is over). */
void httpd__ws_start(struct httpd *h);

/* Closes every session with 1001 (drain). */
void httpd__ws_close_all(struct httpd *h);

/* Frees the endpoints' state (after the loop). */
void httpd__ws_fini(struct httpd *h);

/* ---------------------------------------------------------------------- */
/* httpd.c                                                                 */
/* ---------------------------------------------------------------------- */

/* A request or session ended while draining: maybe the drain is complete. */
void httpd__drain_check(struct httpd *h);

/* Formats the Date header value for now (cached per second); borrowed. */
const char *httpd__date(struct httpd *h);

/* Closes a connection as soon as lws can (from any callback). */
void httpd__conn_kill(struct httpd_conn *c);

#endif
