/* SPDX-License-Identifier: MIT */
/*
 * client_int: module-private parts of the ARI client shared by client.c
 * (REST requests), ws.c (the events WebSocket, reconnect, reconciliation)
 * and pool.c (several servers).
 *
 * Locking: none. A client, its requests and its WebSocket belong to the
 * thread running its loop.
 */
#ifndef ARI_CLIENT_INT_H
#define ARI_CLIENT_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ari/ari.h"
#include "ari/h1_int.h"
#include "core/arena.h"
#include "core/http.h"
#include "core/log.h"

#define ARI__CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Internal completion: used by the client itself (reconcile, resubscribe, capacity). */
typedef void ari__internal_cb(struct ari_client *c, struct ari_req *r,
                              const struct ari_result *res);

/* One REST request in flight; pooled per client (no malloc on the steady path). */
struct ari_req {
    struct ari_client *c;        /* owner */
    struct http_xfer *xfer;      /* core/http handle (curl transport), NULL once completed */
    struct ari__h1_req *h1;      /* own transport's handle, NULL once completed */
    ari_done_cb *cb;             /* user callback or NULL */
    void *arg;                   /* its argument */
    ari__internal_cb *internal;  /* runs before cb, or NULL */
    enum ari_op op;              /* what it is */
    bool reserved;               /* originate: this request added id to the originated set */
    struct ari_req *prev, *next; /* live list (for destroy) or free list (next only) */
    size_t id_len;               /* bytes of id in use */
    char id[160];                /* the resource named (channel id for originate); NUL-terminated */
};

/* A growable byte buffer that keeps its memory between uses. */
/* ws.c: the events WebSocket frame reader's state between reads. */
struct ari__wsrx {
    uint64_t left; /* payload bytes of the current data frame still to come */
    bool fin;      /* the current data frame ends its message */
    bool frag;     /* inside a fragmented message: continuation frames expected */
};

/* What ari__ws_next() found. */
enum {
    ARI__WS_NEED,  /* an incomplete header or control frame: read more */
    ARI__WS_DATA,  /* (a piece of) a data frame's payload */
    ARI__WS_PING,  /* a whole ping; answer with a pong of the same payload */
    ARI__WS_PONG,  /* a whole pong */
    ARI__WS_CLOSE, /* a whole close */
    ARI__WS_ERROR, /* a protocol error: drop the connection */
};

struct ari__wsitem {
    size_t used;               /* input bytes consumed */
    const unsigned char *data; /* payload, inside the input */
    size_t len;                /* its length (control frames: <= 125) */
    bool final;                /* ARI__WS_DATA: the last piece of its message */
    const char *error;         /* ARI__WS_ERROR: why */
};

/*
 * The next item of a server's frame stream in p[0..avail) (outside input;
 * fuzzed by tests/fuzz/fuzz_ari_ws.c). Consumes a data frame's header with
 * whatever of its payload is there; control frames only when whole. Server
 * frames must be unmasked, without reserved bits, continuations in sequence.
 */
int ari__ws_next(struct ari__wsrx *st, const unsigned char *p, size_t avail,
                 struct ari__wsitem *it);

struct ari__buf {
    char *p;    /* NUL-terminated contents, NULL before first use */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed; the contents are incomplete */
};

void ari__buf_reset(struct ari__buf *b);
void ari__buf_add(struct ari__buf *b, const char *s, size_t n);
void ari__buf_adds(struct ari__buf *b, const char *s);
void ari__buf_free(struct ari__buf *b);
/* Appends s percent-encoded: everything but A-Z a-z 0-9 - . _ ~ becomes %XX. */
void ari__buf_add_urlenc(struct ari__buf *b, const char *s);
/* Appends s as a JSON string literal (quotes included, RFC 8259 escapes). */
void ari__buf_add_json_str(struct ari__buf *b, const char *s);

/* A set of strings (channel ids), open addressing; owns copies of its keys. */
struct ari__idset {
    char **slots; /* NULL: empty, ARI__TOMB: deleted */
    size_t cap;   /* power of two or 0 */
    size_t count; /* live keys */
    size_t used;  /* live + tombstones */
};

bool ari__idset_has(const struct ari__idset *s, const char *key);
/* 0 (added or already there) or ERR_NOMEM. */
int ari__idset_add(struct ari__idset *s, const char *key);
/* True when key was there. */
bool ari__idset_del(struct ari__idset *s, const char *key);
void ari__idset_free(struct ari__idset *s);

struct ari_client {
    struct ev_loop *loop;
    struct http_client *http; /* REST transport through curl (keep-alive cache), or NULL */
    struct ari__h1 *h1;       /* own HTTP/1.1 REST transport, or NULL */
    size_t origin_len;        /* bytes of "http://host:port" at the start of base */
    struct ari_handlers h;    /* owner's callbacks */
    char *name;               /* configured name */
    char *base;               /* "http://host:port/ari" */
    size_t base_len;
    char *host; /* host part of url (for the WebSocket) */
    int port;   /* port of url */
    char *user; /* Basic auth */
    char *password;
    char *
        rest_auth; /* "Authorization: Basic base64(user:pass)", built once (secret: never logged) */
    char *app;     /* app list as configured ("dialer" or "a,b") */
    char *first_app; /* first element of app */
    bool subscribe_all;
    bool no_events;
    int64_t request_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    int64_t ping_interval_ms;
    long max_channels;
    int degraded_errors;
    int64_t degraded_window_ms;

    /* REST */
    struct ari__buf url;      /* request URL under construction (reused) */
    struct ari__buf body;     /* JSON body under construction (reused) */
    struct ari_req *live;     /* requests in flight */
    struct ari_req *free_req; /* recycled request structs */
    unsigned n_free;
    bool destroying;
    struct ari__idset originated; /* channels we originated that are not destroyed */

    /* health */
    enum ari_health health_reported; /* last value given to on_health */
    int64_t window_start_us;         /* start of the current failure-count window */
    int window_errors;               /* failures in it */
    int64_t degraded_until_us;       /* degraded while now < this */
    ev_timer health_w;               /* re-evaluates when the degraded window ends */

    /* events WebSocket (ws.c) */
    int ws_fd;                   /* -1 when not connected or connecting */
    ev_io ws_io;                 /* ws_fd: read, and write while output is pending */
    ev_timer ws_hs_w;            /* resolve + connect + upgrade deadline */
    struct ari__resolve *ws_res; /* host name lookup in flight on its thread, or NULL */
    ev_async ws_res_async;       /* the lookup thread's wake-up */
    bool ws_tcp_up;              /* TCP connected (the upgrade may still be in flight) */
    bool ws_connected;           /* handshake done */
    bool ws_connecting;          /* connect or upgrade in progress */
    char *ws_inbuf;              /* WS_RX_BUF + 1 bytes: read, not yet consumed */
    size_t ws_inlen;             /* bytes in ws_inbuf */
    struct ari__buf ws_out;      /* upgrade request and control frames not yet written */
    size_t ws_out_off;           /* written prefix of ws_out */
    char ws_accept[32];          /* the Sec-WebSocket-Accept the upgrade must return */
    struct ari__wsrx ws_rx;      /* frame reader state */
    int pings_unanswered;
    unsigned attempt;      /* reconnects since the last establishment */
    uint64_t rng;          /* jitter state */
    ev_timer reconnect_w;  /* back-off timer */
    ev_timer ping_w;       /* keep-alive timer */
    struct ari__buf rx;    /* a message being reassembled from fragments */
    struct arena ev_arena; /* events live here until dispatched */
    char *ws_path;         /* /ari/events?app=..[&subscribeAll=true] */
    char *auth_header;     /* "Basic base64(user:pass)" */
    char **subs;           /* remembered event sources ("app\nsource") */
    size_t n_subs;
    struct ari_req *reconcile_req; /* GET /channels in flight for reconciliation */
    struct arena rec_arena;        /* the known-id snapshot of that reconciliation */
    const char **rec_known;        /* snapshot of the owner's ids (in rec_arena) */
    size_t n_rec_known;
    const char **rec_orig; /* snapshot of the originated set (in rec_arena) */
    size_t n_rec_orig;
    bool closing;                  /* ari_client_destroy() in progress: no reconnect */
    struct log_ratelimit parse_rl; /* parse error log lines */

    struct ari_client_stats st;
};

/* client.c: a REST request, with an internal completion (may be NULL). */
void ari__health_failure(struct ari_client *c);
void ari__health_notify(struct ari_client *c);
/*
 * client.c: REST body readers (outside input; fuzzed by tests/fuzz/fuzz_ari_rest.c).
 * The "message" (or "error") string of an error body copied into buf, or "".
 */
const char *ari__error_message(const char *body, size_t len, char *buf, size_t size);
/*
 * The non-empty "id"s of a GET /channels body (a JSON array of Channel), copied
 * into a. Returns 0, ERR_PARSE (not an array) or ERR_NOMEM; entries without a
 * string id are skipped.
 */
int ari__channel_ids_parse(const char *body, size_t len, struct arena *a, const char ***ids,
                           size_t *n);
/* client.c: remembered subscriptions (ws.c re-issues them). */
int ari__resubscribe(struct ari_client *c);

/* ws.c */
struct ari__resolve; /* ws.c: a host name lookup off the loop */
int ari__ws_init(struct ari_client *c);
void ari__ws_fini(struct ari_client *c);
void ari__ws_deliver(struct ari_client *c, const char *text, size_t len);
int ari__reconcile_start(struct ari_client *c);
/* The Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2): base64(SHA-1(key GUID)). */
int ari__ws_accept(const char *key, char out[32]);
/* The next reconnect delay in ms (counts the attempt): equal jitter, capped. */
int64_t ari__backoff_ms(struct ari_client *c);

#endif
