/* SPDX-License-Identifier: MIT */
/*
 * h1_int: the ARI client's own HTTP/1.1 REST transport (ari/h1.c), used for
 * http:// servers with a numeric address instead of core/http (curl).
 *
 * Why: with curl every keep-alive request cost ~95,000 instructions
 * (request formatting through its printf, URL parsing and re-assembly, the
 * multi state machine), more than half of the client's cost per call. ARI
 * requests are small and uniform, so this transport writes each one as
 * "METHOD target HTTP/1.1\r\n" + one prefix built at creation (Host,
 * Authorization) + the body headers, and reads responses with a minimal
 * status-line/header reader.
 *
 * Model: a small pool of non-blocking keep-alive TCP connections per server
 * (at most max_conns), one request at a time on each (no pipelining).
 * Requests that find every connection busy wait in a FIFO queue in the
 * transport and take the next connection that frees up; nothing re-parses
 * a queued request. A request's timeout covers queueing, connecting and the
 * exchange; connecting also has its own connect timeout.
 *
 * Responses: status line and headers (Content-Length, Transfer-Encoding:
 * chunked, Connection, Location, Content-Type; others ignored), 1xx
 * responses skipped, bodies delimited by Content-Length, chunked encoding
 * (decoded in place) or the connection's close; "Connection: close" and
 * HTTP/1.0 without keep-alive close the connection after the response.
 *
 * Failures are reported as core/http reports them (same statuses, same
 * struct http_response), so the client maps them exactly as before:
 * ERR_TIMEOUT, a negated errno for a refused/reset connection, ERR_HTTP
 * for a malformed response or a connection closed before its end,
 * ERR_TOOBIG, ERR_CANCELED (destroy). Retry: a request is re-sent once,
 * on a new connection, only when it is marked safe to retry (GET) AND it
 * went out on a reused keep-alive connection that the server closed before
 * a single byte of the response came back (the server had closed the idle
 * connection while the request was on its way). Everything else - POSTs
 * such as an originate, DELETEs - is reported as a transport error and the
 * caller's rules apply (the dialer hangs an unknown originate up).
 * Idle connections are closed after idle_timeout_ms (below Asterisk's
 * session_keep_alive, 15 s by default), so that race is rare in the first
 * place, and a server close of an idle connection is noticed at once (the
 * socket is watched while idle).
 *
 * Threads: everything belongs to the loop's thread.
 */
#ifndef ARI_H1_INT_H
#define ARI_H1_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/http.h"

struct ari__h1;
struct ari__h1_req;

/* Completion: status and resp as core/http's http_done_cb (resp borrowed). */
typedef void ari__h1_cb(int status, const struct http_response *resp, void *arg);

struct ari__h1_config {
    const struct sockaddr *addr; /* server address (copied) */
    socklen_t addrlen;
    const char *host_header;    /* "host:port" for the Host header */
    const char *auth_line;      /* "Authorization: Basic ..." or NULL (secret: never logged) */
    unsigned max_conns;         /* connections at most; 0: 16 */
    int64_t connect_timeout_ms; /* 0: 2000 */
    int64_t idle_timeout_ms;    /* an idle connection is closed after this; 0: 10000 */
    size_t max_response_bytes;  /* body limit; 0: 8 MiB */
};

/* 0 and *out, ERR_INVAL or ERR_NOMEM. */
int ari__h1_create(struct ev_loop *loop, const struct ari__h1_config *cfg, struct ari__h1 **out);

/*
 * Completes every owed request with ERR_CANCELED inside the call (a start
 * from those callbacks returns ERR_SHUTDOWN), closes the connections. NULL
 * is a no-op.
 */
void ari__h1_destroy(struct ari__h1 *h);

/* One request; borrowed during ari__h1_start() only (the bytes are copied). */
struct ari__h1_request {
    const char *method; /* "GET", "POST", "DELETE", "PUT" */
    const char *target; /* "/ari/channels/x?app=y" (origin form) */
    size_t target_len;
    const char *body; /* NULL: none */
    size_t body_len;
    const char *content_type; /* with a body; NULL: application/json */
    int64_t timeout_ms;       /* total, queueing included; > 0 */
    bool retry_safe;          /* may be re-sent once after an idle-close race */
};

/*
 * Starts a request; cb runs exactly once, later, from the loop (never inside
 * this call), unless ari__h1_cancel() comes first. *out (when out is not
 * NULL) is valid until the callback starts. Returns 0, ERR_INVAL, ERR_NOMEM
 * or ERR_SHUTDOWN (then cb never runs).
 */
int ari__h1_start(struct ari__h1 *h, const struct ari__h1_request *rq, ari__h1_cb *cb, void *arg,
                  struct ari__h1_req **out);

/* Cancels a live request (its connection, if it had one, is closed); cb never runs. */
void ari__h1_cancel(struct ari__h1_req *r);

struct ari__h1_stats {
    uint64_t connects; /* connections opened */
    uint64_t requests; /* requests written (a retry counts again) */
    uint64_t retries;  /* requests re-sent after an idle-close race */
    uint64_t queued;   /* requests that waited for a connection */
};

void ari__h1_get_stats(const struct ari__h1 *h, struct ari__h1_stats *st);

/* ---------------------------------------------------------------------- */
/* The response reader (outside input; fuzzed by tests/fuzz/fuzz_ari_http.c) */
/* ---------------------------------------------------------------------- */

enum {
    ARI__H1_HEAD_MAX = 16384, /* status line + headers */
};

/* Reader state between reads of one connection; zero it before the first response. */
struct ari__h1_parser {
    size_t head_len;         /* bytes of the final (non-1xx) head, 0 until it is complete */
    size_t head_scan;        /* where the search for the head's end resumes */
    size_t chunk_scan;       /* chunked: offset of the next chunk-size line */
    size_t body_end;         /* chunked: end of the decoded body so far */
    uint64_t clen;           /* Content-Length */
    int code;                /* status */
    unsigned char mode;      /* body framing (h1.c) */
    bool close;              /* the server closes after this response */
    bool in_trailers;        /* chunked: the last chunk was seen */
    size_t loc_off, loc_len; /* Location value (offsets into the buffer), len 0: none */
    size_t ct_off, ct_len;   /* Content-Type value */
};

/* A complete response, pointing into the buffer given to ari__h1_parse(). */
struct ari__h1_msg {
    int code;
    const char *body; /* not NUL-terminated */
    size_t body_len;
    const char *location; /* NUL-terminated in the buffer, or NULL */
    const char *content_type;
    bool close; /* the connection must be closed after it */
};

enum {
    ARI__H1_NEED = 0, /* incomplete: read more and call again with the grown buffer */
    ARI__H1_BAD = -1, /* malformed: drop the connection */
    ARI__H1_BIG = -2, /* the body exceeds max_body */
};

/*
 * Reads the response at the start of buf[0..len) (len counts every byte
 * received so far; the same buffer, possibly moved, is passed again with
 * more bytes after ARI__H1_NEED). eof: the server closed (a body delimited
 * by the close ends here; anything else incomplete is ARI__H1_BAD).
 * head_only: the request was a HEAD (no body). Rewrites buf in place
 * (header values NUL-terminated, chunked bodies compacted). Returns the
 * number of bytes the response took (> 0) with *m filled, or one of the
 * codes above; *why says what was wrong for ARI__H1_BAD.
 */
long ari__h1_parse(struct ari__h1_parser *p, char *buf, size_t len, bool eof, bool head_only,
                   size_t max_body, struct ari__h1_msg *m, const char **why);

#endif
