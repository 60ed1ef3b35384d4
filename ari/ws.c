/* SPDX-License-Identifier: MIT */
/*
 * ws: the events WebSocket of one ARI client, its reconnects and the
 * reconciliation that follows each connect.
 *
 * Transport. A minimal RFC 6455 client on the caller's libev loop (one
 * non-blocking socket and one ev_io per client) connects to
 * /ari/events?app=<apps>[&subscribeAll=true] with Basic auth in the upgrade
 * request (the api_key query parameter would put the password in URLs and
 * access logs), no subprotocol and no extensions (Asterisk accepts that), and
 * checks the 101 and its Sec-WebSocket-Accept. Decision: libwebsockets 4.1
 * (the distribution's) ran its client state machine once per received byte,
 * ~42,000 instructions for a 1 KB event, half of the client's whole cost per
 * call; this reader parses the frame header and hands the payload over in
 * place (~100 instructions per frame). Data frames are delivered in the
 * pieces they arrive in and reassembled only when split; pings are answered
 * with pongs (control frames may come between fragments), a close is echoed
 * and ends the connection, a masked frame, reserved bits or an out-of-order
 * continuation are protocol errors that drop it. Client frames (ping, pong,
 * close) are masked. A numeric address is used at once; a host name is
 * looked up by getaddrinfo() on a short-lived thread of its own (a slow or
 * dead DNS server must never stall the loop that carries every call), which
 * wakes the loop with an ev_async; the handshake deadline covers the lookup.
 * A lookup still running when the client closes is abandoned: the thread
 * frees its result. Each text message is
 * parsed by ari_event_parse_ex() into the client's event arena, handed to
 * on_event, and the arena is reset. A frame that does not parse is counted
 * and logged (rate-limited); the connection stays.
 *
 * Keep-alive. Every ping_interval_ms a ping is written; two pings without a
 * pong mean the peer is gone (a half-open TCP connection after a network
 * failure), and the connection is dropped.
 *
 * Reconnect. Any loss (refused, upgrade answered 401/503, closed, dropped)
 * schedules a new attempt after min(reconnect_max, reconnect_min * 2^n)
 * with "equal jitter" (half fixed, half random), n counting attempts since
 * the last success, so a fleet of dialers does not reconnect in lockstep
 * after an Asterisk restart. The app registers again with the new socket;
 * explicit subscriptions (ari_app_subscribe) are re-issued.
 *
 * Reconciliation. Events published while no socket was open are lost, so
 * after every establishment the client asks the owner which channels it
 * believes live (known_channels), copies that list, sends GET /channels and
 * reports which of them are gone and which are up (on_reconcile). The
 * snapshot is taken when the request is sent: a channel originated after
 * that is not judged on a list that could not contain it. Channels the
 * client originated itself are checked the same way to release capacity.
 */
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ari/client_int.h"
#include "core/clock.h"
#include "core/err.h"

enum {
    WS_RX_BUF = 64 * 1024,  /* socket reads; events larger than this arrive in pieces */
    WS_HEAD_MAX = 8 * 1024, /* the upgrade response head */
    PINGS_MISSED_MAX = 2,   /* unanswered pings before the socket is dropped */
    KNOWN_FIRST_MAX = 1024, /* first guess of the owner's channel count */
    MAX_BACKOFF_SHIFT = 20, /* 2^20 * min is far above any max */
};

/* ---------------------------------------------------------------------- */
/* Delivery                                                                */
/* ---------------------------------------------------------------------- */

void ari__ws_deliver(struct ari_client *c, const char *text, size_t len)
{
    struct ari_event *ev = NULL;
    struct ari_parse_error perr;
    int rc = ari_event_parse_ex(text, len, &c->ev_arena, &ev, &perr);

    if (rc != 0) {
        uint64_t n;
        c->st.parse_errors++;
        n = log_ratelimit_pass(&c->parse_rl, clock_mono_us());
        if (n > 0) {
            LOG_WARN(ARI, "event=bad_event server=%s err=%s suppressed=%llu msg=\"%s\"", c->name,
                     err_name(rc), (unsigned long long)(n - 1),
                     rc == ERR_PARSE ? perr.message : err_str(rc));
        }
        arena_reset(&c->ev_arena);
        return;
    }
    if (ev->type == ARI_EVENT_CHANNEL_DESTROYED && ev->channel_destroyed.channel != NULL) {
        ari__idset_del(&c->originated, ev->channel_destroyed.channel->id);
    }
    c->st.events++;
    if (c->h.on_event != NULL) {
        c->h.on_event(c, ev, c->h.arg);
    }
    arena_reset(&c->ev_arena);
}

/* ---------------------------------------------------------------------- */
/* Reconciliation                                                          */
/* ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_sorted(const char **live, size_t n, const char *id)
{
    return n > 0 && bsearch(&id, live, n, sizeof(*live), cmp_str) != NULL;
}

static void reconcile_report(struct ari_client *c, int status, const char **gone, size_t ng,
                             const char **up, size_t nu)
{
    c->st.reconciles++;
    LOG_INFO(ARI, "event=reconciled server=%s status=%d known=%zu gone=%zu up=%zu", c->name, status,
             c->n_rec_known, ng, nu);
    if (c->h.on_reconcile != NULL) {
        c->h.on_reconcile(c, status, gone, ng, up, nu, c->h.arg);
    }
}

static void reconcile_done(struct ari_client *c, struct ari_req *r, const struct ari_result *res)
{
    struct arena *a = &c->rec_arena;
    const char **live = NULL, **gone, **up;
    size_t nlive = 0, ng = 0, nu = 0;
    int rc;

    if (c->reconcile_req == r) {
        c->reconcile_req = NULL;
    }
    if (res->error != ARI_OK) {
        reconcile_report(c, res->error == ARI_E_CANCELED ? ERR_CANCELED : ERR_HTTP, NULL, 0, NULL,
                         0);
        return;
    }
    rc = ari__channel_ids_parse(res->body, res->body_len, a, &live, &nlive);
    gone = arena_alloc(a, (c->n_rec_known + 1) * sizeof(*gone));
    up = arena_alloc(a, (c->n_rec_known + 1) * sizeof(*up));
    if (rc == 0 && (gone == NULL || up == NULL)) {
        rc = ERR_NOMEM;
    }
    if (rc != 0) {
        LOG_WARN(ARI, "event=reconcile_bad_body server=%s err=%s", c->name, err_name(rc));
        reconcile_report(c, rc, NULL, 0, NULL, 0);
        return;
    }
    qsort(live, nlive, sizeof(*live), cmp_str);
    for (size_t i = 0; i < c->n_rec_orig; i++) {
        if (!in_sorted(live, nlive, c->rec_orig[i])) {
            ari__idset_del(&c->originated, c->rec_orig[i]);
        }
    }
    for (size_t i = 0; i < c->n_rec_known; i++) {
        if (in_sorted(live, nlive, c->rec_known[i])) {
            up[nu++] = c->rec_known[i];
        } else {
            gone[ng++] = c->rec_known[i];
        }
    }
    reconcile_report(c, 0, gone, ng, up, nu);
}

static int reconcile_copy(struct ari_client *c, const struct ari__idset *pending);

/*
 * Copies the owner's ids (and our originated set) into rec_arena, leaving
 * out the channels whose originate has not been answered yet: the server
 * may process it after the GET /channels that is about to go out (on
 * another connection, or queued behind it), so that list cannot judge them;
 * the next reconciliation will.
 */
static int reconcile_snapshot(struct ari_client *c)
{
    struct ari__idset pending;
    int rc;

    memset(&pending, 0, sizeof(pending));
    for (struct ari_req *r = c->live; r != NULL; r = r->next) {
        if (r->op == ARI_OP_ORIGINATE && r->id_len > 0 && ari__idset_add(&pending, r->id) != 0) {
            ari__idset_free(&pending);
            return ERR_NOMEM;
        }
    }
    rc = reconcile_copy(c, &pending);
    ari__idset_free(&pending);
    return rc;
}

static int reconcile_copy(struct ari_client *c, const struct ari__idset *pending)
{
    struct arena *a = &c->rec_arena;
    size_t max = KNOWN_FIRST_MAX, n = 0;
    const char **ids;

    arena_reset(a);
    c->n_rec_known = 0;
    c->n_rec_orig = 0;
    c->rec_known = NULL;
    c->rec_orig = NULL;
    if (c->h.known_channels != NULL) {
        ids = arena_alloc(a, max * sizeof(*ids));
        if (ids == NULL) {
            return ERR_NOMEM;
        }
        n = c->h.known_channels(c, ids, max, c->h.arg);
        if (n > max) {
            /* More than guessed: ask again with room for all of them. */
            max = n;
            ids = arena_alloc(a, max * sizeof(*ids));
            if (ids == NULL) {
                return ERR_NOMEM;
            }
            n = c->h.known_channels(c, ids, max, c->h.arg);
            if (n > max) {
                n = max;
            }
        }
        c->rec_known = arena_alloc(a, (n + 1) * sizeof(*c->rec_known));
        if (c->rec_known == NULL) {
            return ERR_NOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const char *copy;
            if (ids[i] != NULL && ari__idset_has(pending, ids[i])) {
                continue; /* its originate is in flight */
            }
            copy = arena_strdup(a, ids[i] != NULL ? ids[i] : "");
            if (copy == NULL) {
                return ERR_NOMEM;
            }
            c->rec_known[c->n_rec_known++] = copy;
        }
    }
    c->rec_orig = arena_alloc(a, (c->originated.count + 1) * sizeof(*c->rec_orig));
    if (c->rec_orig == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < c->originated.cap; i++) {
        const char *k = c->originated.slots[i];
        if (k != NULL && ari__idset_has(&c->originated, k) && !ari__idset_has(pending, k) &&
            c->n_rec_orig < c->originated.count) {
            c->rec_orig[c->n_rec_orig++] = arena_strdup(a, k);
            if (c->rec_orig[c->n_rec_orig - 1] == NULL) {
                return ERR_NOMEM;
            }
        }
    }
    return 0;
}

int ari__reconcile_start(struct ari_client *c)
{
    int rc;

    if (c->reconcile_req != NULL) {
        ari_req_cancel(c->reconcile_req);
        c->reconcile_req = NULL;
    }
    rc = reconcile_snapshot(c);
    if (rc == 0) {
        rc = ari_channels_list(c, NULL, NULL, &c->reconcile_req);
    }
    if (rc == 0) {
        c->reconcile_req->internal = reconcile_done;
    } else {
        LOG_WARN(ARI, "event=reconcile_failed server=%s err=%s", c->name, err_name(rc));
        reconcile_report(c, rc, NULL, 0, NULL, 0);
    }
    return rc;
}

int ari_client_reconcile(struct ari_client *c)
{
    if (c == NULL) {
        return ERR_INVAL;
    }
    return ari__reconcile_start(c);
}

/* ---------------------------------------------------------------------- */
/* Connection                                                              */
/* ---------------------------------------------------------------------- */

static uint64_t rng_next(struct ari_client *c)
{
    /* splitmix64: jitter only, no security need. */
    uint64_t z = (c->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The next reconnect delay in ms: equal jitter over a capped exponential. */
int64_t ari__backoff_ms(struct ari_client *c)
{
    unsigned shift = c->attempt < MAX_BACKOFF_SHIFT ? c->attempt : MAX_BACKOFF_SHIFT;
    int64_t d = c->reconnect_min_ms << shift;
    int64_t half;

    if (d > c->reconnect_max_ms || d <= 0) {
        d = c->reconnect_max_ms;
    }
    half = d / 2;
    c->attempt++;
    return half + (int64_t)(rng_next(c) % (uint64_t)(d - half + 1));
}

static void schedule_reconnect(struct ari_client *c)
{
    int64_t ms;

    if (c->closing || ev_is_active(&c->reconnect_w)) {
        return;
    }
    ms = ari__backoff_ms(c);
    LOG_INFO(ARI, "event=ws_reconnect_scheduled server=%s attempt=%u delay_ms=%lld", c->name,
             c->attempt, (long long)ms);
    ev_timer_set(&c->reconnect_w, (double)ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->reconnect_w);
}

static void resolve_cancel(struct ari_client *c);

/* Closes the socket and stops its watchers (no callbacks). */
static void ws_close_socket(struct ari_client *c)
{
    ev_timer_stop(c->loop, &c->ws_hs_w);
    resolve_cancel(c);
    if (c->ws_fd >= 0) {
        ev_io_stop(c->loop, &c->ws_io);
        close(c->ws_fd);
        c->ws_fd = -1;
    }
    ari__buf_reset(&c->ws_out);
    c->ws_out_off = 0;
    c->ws_inlen = 0;
}

/* The socket is gone (or never came): idempotent. */
static void ws_lost(struct ari_client *c, const char *why)
{
    bool was_up = c->ws_connected;

    if (!c->ws_connected && !c->ws_connecting) {
        return;
    }
    c->ws_connected = false;
    c->ws_connecting = false;
    ws_close_socket(c);
    ev_timer_stop(c->loop, &c->ping_w);
    if (c->closing) {
        return;
    }
    if (was_up) {
        c->st.disconnects++;
        LOG_WARN(ARI, "event=ws_lost server=%s msg=\"%s\"", c->name, why);
    } else {
        LOG_INFO(ARI, "event=ws_connect_failed server=%s msg=\"%s\"", c->name, why);
    }
    ari__health_notify(c);
    schedule_reconnect(c);
}

static void ws_established(struct ari_client *c)
{
    bool reconnect = c->st.connects > 0;

    c->ws_connecting = false;
    c->ws_connected = true;
    c->attempt = 0;
    c->pings_unanswered = 0;
    c->st.connects++;
    LOG_NOTICE(ARI, "event=ws_connected server=%s reconnect=%d", c->name, reconnect);
    ev_timer_set(&c->ping_w, (double)c->ping_interval_ms / 1000.0,
                 (double)c->ping_interval_ms / 1000.0);
    ev_timer_start(c->loop, &c->ping_w);
    ari__health_notify(c);
    if (reconnect) {
        ari__resubscribe(c);
    }
    ari__reconcile_start(c);
}

/* A piece of a data message; final on its last piece. */
static void ws_receive(struct ari_client *c, const char *in, size_t len, bool final)
{
    if (c->rx.len == 0 && final) {
        ari__ws_deliver(c, in, len); /* the common case: one frame, no copy */
        return;
    }
    if (c->rx.len + len > ARI_EVENT_MAX_LEN) {
        c->rx.oom = true; /* too big: drop the message when it ends */
    }
    ari__buf_add(&c->rx, in, len);
    if (final) {
        if (c->rx.oom) {
            c->st.parse_errors++;
            LOG_WARN(ARI, "event=bad_event server=%s err=ERR_TOOBIG", c->name);
        } else {
            ari__ws_deliver(c, c->rx.p, c->rx.len);
        }
        ari__buf_reset(&c->rx);
    }
}

/* ---------------------------------------------------------------------- */
/* Transport: RFC 6455 client on the loop                                  */
/* ---------------------------------------------------------------------- */

/* ws_lost() with a socket error (strerror() is not thread-safe; these are the ones seen). */
static void ws_lost_errno(struct ari_client *c, int err)
{
    char why[48];
    const char *s = NULL;

    switch (err) {
    case ECONNREFUSED:
        s = "connection refused";
        break;
    case ECONNRESET:
        s = "connection reset";
        break;
    case ETIMEDOUT:
        s = "connection timed out";
        break;
    case EHOSTUNREACH:
        s = "host unreachable";
        break;
    case ENETUNREACH:
        s = "network unreachable";
        break;
    case EPIPE:
        s = "broken pipe";
        break;
    default:
        snprintf(why, sizeof(why), "socket error (errno %d)", err);
        s = why;
        break;
    }
    ws_lost(c, s);
}

/* SHA-1 (FIPS 180-4) of a short buffer: only for Sec-WebSocket-Accept. */
static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    }
    for (int i = 16; i < 80; i++) {
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }
    for (int i = 0; i < 80; i++) {
        uint32_t f;
        uint32_t k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* n must be under 119 bytes (one or two blocks with padding): enough for key + GUID. */
static void sha1_short(const unsigned char *d, size_t n, unsigned char out[20])
{
    uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
    unsigned char buf[128];
    size_t total = n + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;

    memset(buf, 0, sizeof(buf));
    memcpy(buf, d, n);
    buf[n] = 0x80;
    for (int i = 0; i < 8; i++) {
        buf[total - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    }
    sha1_block(h, buf);
    if (total == 128) {
        sha1_block(h, buf + 64);
    }
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

int ari__ws_accept(const char *key, char out[32])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char cat[64 + sizeof(guid)];
    unsigned char md[20];
    size_t klen = strlen(key);

    if (klen > 64) {
        return ERR_INVAL;
    }
    memcpy(cat, key, klen);
    memcpy(cat + klen, guid, sizeof(guid) - 1);
    sha1_short(cat, klen + sizeof(guid) - 1, md);
    return lws_b64_encode_string((const char *)md, sizeof(md), out, 32) == 28 ? 0 : ERR_INTERNAL;
}

/* Watches the socket for reading, and for writing while output is pending or connecting. */
static void ws_io_update(struct ari_client *c)
{
    int want = c->ws_tcp_up ? EV_READ : 0;

    if (!c->ws_tcp_up || c->ws_out.len > c->ws_out_off) {
        want |= EV_WRITE;
    }
    if (ev_is_active(&c->ws_io) && (c->ws_io.events & (EV_READ | EV_WRITE)) == want) {
        return;
    }
    ev_io_stop(c->loop, &c->ws_io);
    ev_io_set(&c->ws_io, c->ws_fd, want);
    ev_io_start(c->loop, &c->ws_io);
}

/* Writes what it can of the pending output; false when the socket failed (and is lost). */
static bool ws_flush(struct ari_client *c)
{
    while (c->ws_out_off < c->ws_out.len) {
        ssize_t n = send(c->ws_fd, c->ws_out.p + c->ws_out_off, c->ws_out.len - c->ws_out_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            ws_lost_errno(c, errno);
            return false;
        }
        c->ws_out_off += (size_t)n;
    }
    if (c->ws_out_off == c->ws_out.len) {
        ari__buf_reset(&c->ws_out);
        c->ws_out_off = 0;
    }
    ws_io_update(c);
    return true;
}

/* Queues one masked control frame (payload <= 125 bytes) and writes it. */
static bool ws_send_control(struct ari_client *c, unsigned opcode, const unsigned char *payload,
                            size_t len)
{
    unsigned char f[2 + 4 + 125];
    uint32_t mask = (uint32_t)rng_next(c);

    if (len > 125) {
        len = 125;
    }
    f[0] = (unsigned char)(0x80 | opcode);
    f[1] = (unsigned char)(0x80 | len);
    memcpy(f + 2, &mask, 4);
    for (size_t i = 0; i < len; i++) {
        f[6 + i] = payload[i] ^ f[2 + (i & 3)];
    }
    ari__buf_add(&c->ws_out, (const char *)f, 6 + len);
    if (c->ws_out.oom) {
        ws_lost(c, "out of memory");
        return false;
    }
    return ws_flush(c);
}

/* The value of header name (NUL-free, case-insensitive) in the response head, or NULL. */
static const char *head_value(const char *head, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p != NULL && p[2] != '\r') {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");
        if (eol == NULL) {
            return NULL;
        }
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
                e--;
            }
            *vlen = (size_t)(e - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* Checks the upgrade response head (NUL-terminated after its last header line). */
static bool ws_check_upgrade(struct ari_client *c, char *head)
{
    char why[96];
    size_t vlen = 0;
    const char *v;
    int code = 0;

    if (strncmp(head, "HTTP/1.", 7) != 0 || sscanf(head + 8, " %3d", &code) != 1) {
        ws_lost(c, "not an HTTP response to the upgrade");
        return false;
    }
    if (code != 101) {
        snprintf(why, sizeof(why), "upgrade refused: HTTP %d", code);
        ws_lost(c, why);
        return false;
    }
    v = head_value(head, "Sec-WebSocket-Accept", &vlen);
    if (v == NULL || vlen != strlen(c->ws_accept) || memcmp(v, c->ws_accept, vlen) != 0) {
        ws_lost(c, "bad Sec-WebSocket-Accept");
        return false;
    }
    return true;
}

int ari__ws_next(struct ari__wsrx *st, const unsigned char *p, size_t avail, struct ari__wsitem *it)
{
    size_t hl = 2;
    uint64_t len;

    memset(it, 0, sizeof(*it));
    if (avail == 0) {
        return ARI__WS_NEED;
    }
    if (st->left > 0) {
        size_t n = avail < st->left ? avail : (size_t)st->left;
        st->left -= n;
        it->used = n;
        it->data = p;
        it->len = n;
        it->final = st->fin && st->left == 0;
        return ARI__WS_DATA;
    }
    if (avail < 2) {
        return ARI__WS_NEED;
    }
    unsigned opcode = p[0] & 0x0f;
    bool fin = (p[0] & 0x80) != 0;
    if ((p[0] & 0x70) != 0 || (p[1] & 0x80) != 0) {
        it->error = "protocol error: reserved bits or a masked frame from the server";
        return ARI__WS_ERROR;
    }
    len = p[1] & 0x7f;
    if (len == 126) {
        hl = 4;
        if (avail < hl) {
            return ARI__WS_NEED;
        }
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (len == 127) {
        hl = 10;
        if (avail < hl) {
            return ARI__WS_NEED;
        }
        len = 0;
        for (int i = 0; i < 8; i++) {
            len = len << 8 | p[2 + i];
        }
        if (len >> 63) {
            it->error = "protocol error: frame length";
            return ARI__WS_ERROR;
        }
    }
    if (opcode & 0x8) {
        if (!fin || len > 125) {
            it->error = "protocol error: control frame fragmented or too long";
            return ARI__WS_ERROR;
        }
        if (avail < hl + len) {
            return ARI__WS_NEED;
        }
        it->used = hl + (size_t)len;
        it->data = p + hl;
        it->len = (size_t)len;
        switch (opcode) {
        case 0x8:
            return ARI__WS_CLOSE;
        case 0x9:
            return ARI__WS_PING;
        case 0xA:
            return ARI__WS_PONG;
        default:
            memset(it, 0, sizeof(*it));
            it->error = "protocol error: unknown control opcode";
            return ARI__WS_ERROR;
        }
    }
    if (opcode > 2 || (opcode == 0) != st->frag) {
        it->error = "protocol error: data frame out of sequence";
        return ARI__WS_ERROR;
    }
    st->frag = !fin;
    st->fin = fin;
    st->left = len;
    /* The header, and as much of the payload as is there (maybe none yet). */
    size_t n = avail - hl < st->left ? avail - hl : (size_t)st->left;
    st->left -= n;
    it->used = hl + n;
    it->data = p + hl;
    it->len = n;
    it->final = fin && st->left == 0;
    return ARI__WS_DATA;
}

/*
 * Consumes frames from the read buffer. A data frame's payload is handed to
 * ws_receive() straight from the buffer, in as many pieces as it arrives in
 * (one, for an event read whole). Returns false when the socket was lost.
 */
static bool ws_frames(struct ari_client *c)
{
    const unsigned char *p = (const unsigned char *)c->ws_inbuf;
    size_t have = c->ws_inlen;
    size_t off = 0;

    for (;;) {
        struct ari__wsitem it;
        int k = ari__ws_next(&c->ws_rx, p + off, have - off, &it);

        if (k == ARI__WS_NEED) {
            break;
        }
        if (k == ARI__WS_ERROR) {
            ws_lost(c, it.error);
            return false;
        }
        off += it.used;
        switch (k) {
        case ARI__WS_DATA:
            if (it.len > 0 || it.final) {
                ws_receive(c, (const char *)it.data, it.len, it.final);
                if (c->ws_fd < 0) {
                    return false;
                }
            }
            break;
        case ARI__WS_PING: {
            unsigned char pl[125];
            memcpy(pl, it.data, it.len);
            if (!ws_send_control(c, 0xA, pl, it.len)) {
                return false;
            }
            break;
        }
        case ARI__WS_PONG:
            c->pings_unanswered = 0;
            break;
        case ARI__WS_CLOSE: {
            unsigned char pl[2];
            size_t n = it.len >= 2 ? 2 : 0;
            memcpy(pl, it.data, n);
            (void)ws_send_control(c, 0x8, pl, n);
            ws_lost(c, "closed by the server");
            return false;
        }
        default:
            break;
        }
    }
    /* Keep the unconsumed tail (an incomplete header or control frame) at the front. */
    memmove(c->ws_inbuf, c->ws_inbuf + off, have - off);
    c->ws_inlen = have - off;
    return true;
}

/* Reads what the socket has and processes it. */
static void ws_read(struct ari_client *c)
{
    ssize_t n;

    n = recv(c->ws_fd, c->ws_inbuf + c->ws_inlen, WS_RX_BUF - c->ws_inlen, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            ws_lost_errno(c, errno);
        }
        return;
    }
    if (n == 0) {
        ws_lost(c, "connection closed");
        return;
    }
    c->ws_inlen += (size_t)n;
    if (!c->ws_connected) {
        char *end;
        c->ws_inbuf[c->ws_inlen] = '\0';
        end = strstr(c->ws_inbuf, "\r\n\r\n");
        if (end == NULL) {
            if (c->ws_inlen >= WS_HEAD_MAX) {
                ws_lost(c, "upgrade response head too long");
            }
            return;
        }
        size_t hlen = (size_t)(end - c->ws_inbuf) + 4;
        end[2] = '\0'; /* the head ends with its last header's CRLF */
        if (!ws_check_upgrade(c, c->ws_inbuf)) {
            return;
        }
        memmove(c->ws_inbuf, c->ws_inbuf + hlen, c->ws_inlen - hlen);
        c->ws_inlen -= hlen;
        ev_timer_stop(c->loop, &c->ws_hs_w);
        ws_established(c);
        if (c->ws_fd < 0) {
            return;
        }
    }
    (void)ws_frames(c);
}

static void ws_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, ws_io);
    (void)loop;

    if ((revents & EV_WRITE) && !c->ws_tcp_up) {
        int err = 0;
        socklen_t elen = sizeof(err);
        if (getsockopt(c->ws_fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
            err = errno;
        }
        if (err != 0) {
            ws_lost_errno(c, err);
            return;
        }
        c->ws_tcp_up = true;
    }
    if ((revents & EV_WRITE) && !ws_flush(c)) {
        return;
    }
    if (revents & EV_READ) {
        ws_read(c);
    }
}

static void ws_hs_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, ws_hs_w);
    (void)loop;
    (void)revents;
    ws_lost(c, "connect or upgrade timed out");
}

/* Queues the upgrade request and remembers the Sec-WebSocket-Accept it must get back. */
static int ws_queue_upgrade(struct ari_client *c)
{
    unsigned char nonce[16];
    char key[32];
    char line[320];

    for (size_t i = 0; i < sizeof(nonce); i += 8) {
        uint64_t r = rng_next(c);
        memcpy(nonce + i, &r, 8);
    }
    if (lws_b64_encode_string((const char *)nonce, sizeof(nonce), key, sizeof(key)) != 24) {
        return ERR_INTERNAL;
    }
    if (ari__ws_accept(key, c->ws_accept) != 0) {
        return ERR_INTERNAL;
    }
    ari__buf_reset(&c->ws_out);
    c->ws_out_off = 0;
    ari__buf_adds(&c->ws_out, "GET ");
    ari__buf_adds(&c->ws_out, c->ws_path);
    snprintf(line, sizeof(line),
             " HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: ",
             c->host, c->port, key);
    ari__buf_adds(&c->ws_out, line);
    ari__buf_adds(&c->ws_out, c->auth_header);
    ari__buf_adds(&c->ws_out, "\r\n\r\n");
    return c->ws_out.oom ? ERR_NOMEM : 0;
}

/*
 * A host name lookup on its own thread. Shared by the thread and the client
 * under mu; the last of the two to let go frees it. The thread touches the
 * client's ev_async only while holding mu and only when not cancelled, and the
 * client cancels under mu before it stops that watcher.
 */
struct ari__resolve {
    pthread_mutex_t mu;
    int refs;
    bool cancelled;
    bool done;
    int rc;
    struct addrinfo *res;
    struct ev_loop *loop;
    ev_async *wake;
    char port[16];
    char host[]; /* NUL-terminated */
};

static void resolve_unref(struct ari__resolve *r)
{
    bool last;

    pthread_mutex_lock(&r->mu);
    last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) {
        if (r->res != NULL) {
            freeaddrinfo(r->res);
        }
        pthread_mutex_destroy(&r->mu);
        free(r);
    }
}

static void *resolve_thread(void *arg)
{
    struct ari__resolve *r = arg;
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(r->host, r->port, &hints, &res);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->res = rc == 0 ? res : NULL;
    r->done = true;
    if (!r->cancelled) {
        ev_async_send(r->loop, r->wake);
    }
    pthread_mutex_unlock(&r->mu);
    resolve_unref(r);
    return NULL;
}

/* Abandons a lookup in flight (its thread frees what it finds). */
static void resolve_cancel(struct ari_client *c)
{
    struct ari__resolve *r = c->ws_res;

    if (r == NULL) {
        return;
    }
    c->ws_res = NULL;
    pthread_mutex_lock(&r->mu);
    r->cancelled = true;
    pthread_mutex_unlock(&r->mu);
    resolve_unref(r);
}

/* Opens the TCP connection to an address that is known now. Takes res. */
static void ws_connect_to(struct ari_client *c, struct addrinfo *res)
{
    int one = 1;
    int fd;
    int rc;

    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        ws_lost_errno(c, errno);
        return;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    c->ws_fd = fd;
    if (rc != 0 && errno != EINPROGRESS) {
        ws_lost_errno(c, errno);
        return;
    }
    ev_io_init(&c->ws_io, ws_io_cb, fd, EV_WRITE);
    ev_io_start(c->loop, &c->ws_io);
}

static void ws_resolved_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, ws_res_async);
    struct ari__resolve *r = c->ws_res;
    struct addrinfo *res;
    bool done;
    int rc;

    (void)loop;
    (void)revents;
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    done = r->done;
    rc = r->rc;
    res = r->res;
    r->res = NULL;
    pthread_mutex_unlock(&r->mu);
    if (!done) {
        return;
    }
    c->ws_res = NULL;
    resolve_unref(r);
    if (rc != 0 || res == NULL) {
        if (res != NULL) {
            freeaddrinfo(res);
        }
        ws_lost(c, rc != 0 ? gai_strerror(rc) : "no address");
        return;
    }
    ws_connect_to(c, res);
}

/* Starts the lookup of c->host on a detached thread. */
static int resolve_start(struct ari_client *c)
{
    size_t hl = strlen(c->host);
    struct ari__resolve *r = calloc(1, sizeof(*r) + hl + 1);
    pthread_attr_t attr;
    pthread_t th;
    int rc;

    if (r == NULL) {
        return ERR_NOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->refs = 2; /* the client and the thread */
    r->loop = c->loop;
    r->wake = &c->ws_res_async;
    snprintf(r->port, sizeof(r->port), "%d", c->port);
    memcpy(r->host, c->host, hl + 1);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&th, &attr, resolve_thread, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return ERR_NOMEM;
    }
    c->ws_res = r;
    return 0;
}

static void ws_connect(struct ari_client *c)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char port[16];
    int rc;

    c->ws_connecting = true;
    c->ws_tcp_up = false;
    memset(&c->ws_rx, 0, sizeof(c->ws_rx));
    c->rx.len = 0;
    c->rx.oom = false;
    c->ws_inlen = 0;
    if (ws_queue_upgrade(c) != 0) {
        ws_lost(c, "out of memory");
        return;
    }
    ev_timer_set(&c->ws_hs_w, (double)(c->connect_timeout_ms + c->request_timeout_ms) / 1000.0, 0.);
    ev_timer_start(c->loop, &c->ws_hs_w);
    /* A numeric address needs no lookup (and cannot block). */
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    snprintf(port, sizeof(port), "%d", c->port);
    rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc == 0 && res != NULL) {
        ws_connect_to(c, res);
        return;
    }
    if (res != NULL) {
        freeaddrinfo(res);
    }
    if (resolve_start(c) != 0) {
        ws_lost(c, "cannot start the name lookup");
    }
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, reconnect_w);
    (void)loop;
    (void)revents;
    if (!c->closing && !c->ws_connected && !c->ws_connecting) {
        ws_connect(c);
    }
}

static void ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, ping_w);
    (void)loop;
    (void)revents;
    if (c->ws_fd < 0 || !c->ws_connected) {
        return;
    }
    if (c->pings_unanswered >= PINGS_MISSED_MAX) {
        LOG_WARN(ARI, "event=ws_ping_timeout server=%s", c->name);
        ws_lost(c, "no pong");
        return;
    }
    c->pings_unanswered++;
    (void)ws_send_control(c, 0x9, NULL, 0);
}

static int build_strings(struct ari_client *c)
{
    struct ari__buf b = { 0 };
    int n;
    size_t cred_len = strlen(c->user) + 1 + strlen(c->password);
    char *cred = malloc(cred_len + 1);
    size_t b64 = (cred_len + 2) / 3 * 4 + 8; /* lws wants room beyond the NUL */

    if (cred == NULL) {
        return ERR_NOMEM;
    }
    snprintf(cred, cred_len + 1, "%s:%s", c->user, c->password);
    c->auth_header = malloc(sizeof("Basic ") + b64);
    if (c->auth_header == NULL) {
        free(cred);
        return ERR_NOMEM;
    }
    memcpy(c->auth_header, "Basic ", 6);
    n = lws_b64_encode_string(cred, (int)cred_len, c->auth_header + 6, (int)b64);
    memset(cred, 0, cred_len);
    free(cred);
    if (n < 0) {
        return ERR_INTERNAL;
    }

    /* The path after the authority: base is "http://host:port[/prefix]/ari". */
    ari__buf_adds(&b, strchr(c->base + 7, '/'));
    ari__buf_adds(&b, "/events?app=");
    ari__buf_add_urlenc(&b, c->app);
    if (c->subscribe_all) {
        ari__buf_adds(&b, "&subscribeAll=true");
    }
    if (b.oom) {
        ari__buf_free(&b);
        return ERR_NOMEM;
    }
    c->ws_path = b.p;
    return 0;
}

int ari__ws_init(struct ari_client *c)
{
    int rc;

    arena_init(&c->ev_arena, 16 * 1024);
    arena_init(&c->rec_arena, 16 * 1024);
    c->parse_rl.interval_us = 10 * CLOCK_US_PER_SEC;
    c->rng = (uint64_t)clock_mono_us() ^ (uint64_t)(uintptr_t)c;
    ev_timer_init(&c->reconnect_w, reconnect_cb, 0., 0.);
    ev_timer_init(&c->ping_w, ping_cb, 0., 0.);
    ev_timer_init(&c->ws_hs_w, ws_hs_timeout_cb, 0., 0.);
    ev_async_init(&c->ws_res_async, ws_resolved_cb);
    c->ws_fd = -1;
    if (c->no_events) {
        return 0;
    }
    rc = build_strings(c);
    if (rc != 0) {
        return rc;
    }
    c->ws_inbuf = malloc(WS_RX_BUF + 1);
    if (c->ws_inbuf == NULL) {
        return ERR_NOMEM;
    }
    /* Unreferenced: a lookup in flight does not by itself keep the loop alive. */
    ev_async_start(c->loop, &c->ws_res_async);
    ev_unref(c->loop);
    ws_connect(c);
    return 0;
}

void ari__ws_fini(struct ari_client *c)
{
    c->closing = true;
    ev_timer_stop(c->loop, &c->reconnect_w);
    ev_timer_stop(c->loop, &c->ping_w);
    if (c->reconcile_req != NULL) {
        ari_req_cancel(c->reconcile_req);
        c->reconcile_req = NULL;
    }
    ws_close_socket(c);
    if (ev_is_active(&c->ws_res_async)) {
        ev_ref(c->loop); /* started unreferenced */
        ev_async_stop(c->loop, &c->ws_res_async);
    }
    c->ws_connected = false;
    c->ws_connecting = false;
    ari__buf_free(&c->rx);
    ari__buf_free(&c->ws_out);
    free(c->ws_inbuf);
    c->ws_inbuf = NULL;
    arena_fini(&c->ev_arena);
    arena_fini(&c->rec_arena);
    free(c->ws_path);
    c->ws_path = NULL;
    free(c->auth_header);
    c->auth_header = NULL;
}
