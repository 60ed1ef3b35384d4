/* SPDX-License-Identifier: MIT */
/*
 * http: api_call requests over core/http, with the SSRF guard.
 *
 * The guard runs inside curl on every resolved address before connect()
 * and again on the peer of the connection actually used (core/http's
 * allow_addr hook), so a name that resolves to an internal address, or a
 * keep-alive connection opened earlier, cannot reach loopback, private
 * (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10, which includes
 * cloud metadata services), CGNAT (100.64/10), multicast or unspecified
 * addresses. A tenant may allowlist CIDRs (an on-premises CRM); the
 * allowlist is the only way through. A refused request completes with
 * ERR_FORBIDDEN and the node takes its error outcome with reason
 * "forbidden_address".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/http.h"
#include "ivr/ivr.h"

struct cidr {
    int family;
    uint8_t addr[16];
    int bits;
};

struct ivr_http_backend {
    struct http_client *client;
    struct cidr *allow;
    size_t nallow;
};

struct xfer {
    struct ivr_http_backend *b;
    ivr_http_done_cb *cb;
    void *arg;
    struct http_xfer *x;
};

static bool prefix_match(const uint8_t *a, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static int parse_cidr(const char *s, struct cidr *c)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof(buf)) {
        return ERR_INVAL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        return ERR_INVAL;
    }
    if (slash != NULL) {
        char *end;
        size_t nd = strlen(slash + 1);
        if (nd == 0 || nd > 3 || strspn(slash + 1, "0123456789") != nd) {
            return ERR_INVAL; /* "10.0.0.0/" is not /0 */
        }
        long b = strtol(slash + 1, &end, 10);
        if (*end != '\0' || b < 0 || b > c->bits) {
            return ERR_INVAL;
        }
        c->bits = (int)b;
    }
    return 0;
}

bool ivr_cidr_valid(const char *s)
{
    struct cidr c;
    return s != NULL && parse_cidr(s, &c) == 0;
}

/* Returns the IPv4 address bytes of sa (plain or IPv4-mapped IPv6), or NULL. */
static const uint8_t *v4_bytes(const struct sockaddr *sa, uint8_t *tmp)
{
    if (sa->sa_family == AF_INET) {
        memcpy(tmp, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return tmp;
    }
    const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
    if (memcmp(a6, mapped, 12) == 0) {
        memcpy(tmp, a6 + 12, 4);
        return tmp;
    }
    return NULL;
}

bool ivr_addr_is_internal(const void *sockaddr, unsigned len)
{
    const struct sockaddr *sa = sockaddr;
    uint8_t tmp[4];
    const uint8_t *a;
    if (sa == NULL || len < sizeof(struct sockaddr_in) ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
        return true;
    }
    if (sa->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)) {
        return true;
    }
    a = v4_bytes(sa, tmp);
    if (a != NULL) {
        return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
               (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
               (a[0] == 100 && (a[1] & 0xC0) == 64) || a[0] >= 224;
    }
    const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[15] = { 0 };
    if (memcmp(a6, zero, 15) == 0 && (a6[15] == 0 || a6[15] == 1)) {
        return true; /* :: and ::1 */
    }
    return (a6[0] & 0xFE) == 0xFC || (a6[0] == 0xFE && (a6[1] & 0xC0) == 0x80) || a6[0] == 0xFF;
}

static bool allow_addr(const struct sockaddr *sa, socklen_t len, void *arg)
{
    const struct ivr_http_backend *b = arg;
    if (!ivr_addr_is_internal(sa, (unsigned)len)) {
        return true;
    }
    uint8_t tmp[4];
    const uint8_t *a4 = v4_bytes(sa, tmp);
    for (size_t i = 0; i < b->nallow; i++) {
        const struct cidr *c = &b->allow[i];
        if (c->family == AF_INET && a4 != NULL && prefix_match(a4, c->addr, c->bits)) {
            return true;
        }
        if (c->family == AF_INET6 && sa->sa_family == AF_INET6 &&
            prefix_match(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, c->addr, c->bits)) {
            return true;
        }
    }
    return false;
}

struct ivr_http_backend *ivr_http_backend_create(struct http_client *client,
                                                 const char *const *allow_cidrs, size_t n)
{
    struct ivr_http_backend *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->client = client;
    b->allow = calloc(n + 1, sizeof(*b->allow));
    if (b->allow == NULL) {
        free(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_cidr(allow_cidrs[i], &b->allow[i]) != 0) {
            ivr_http_backend_destroy(b);
            return NULL;
        }
    }
    b->nallow = n;
    return b;
}

void ivr_http_backend_destroy(struct ivr_http_backend *b)
{
    if (b == NULL) {
        return;
    }
    free(b->allow);
    free(b);
}

static void done(int status, const struct http_response *resp, void *arg)
{
    struct xfer *x = arg;
    x->cb(x->arg, status, resp->code, resp->body, resp->body_len, resp->error);
    free(x);
}

static int start(void *ctx, const struct ivr_http_req *rq, ivr_http_done_cb *cb, void *arg,
                 void **handle)
{
    struct ivr_http_backend *b = ctx;
    struct xfer *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return ERR_NOMEM;
    }
    x->b = b;
    x->cb = cb;
    x->arg = arg;
    struct http_request hr = {
        .method = rq->method,
        .url = rq->url,
        .headers = rq->headers,
        .nheaders = rq->nheaders,
        .body = rq->body,
        .body_len = rq->body_len,
        .username = rq->username,
        .password = rq->password,
        .connect_timeout_ms = rq->connect_timeout_ms,
        .timeout_ms = rq->timeout_ms,
        .max_response_bytes = rq->max_response_bytes,
        .allow_addr = allow_addr,
        .allow_arg = b,
    };
    int rc = http_xfer_start(b->client, &hr, done, x, &x->x);
    if (rc != 0) {
        free(x);
        return rc;
    }
    *handle = x;
    return 0;
}

static void cancel(void *ctx, void *handle)
{
    struct xfer *x = handle;
    (void)ctx;
    if (x != NULL) {
        http_xfer_cancel(x->x);
        free(x);
    }
}

const struct ivr_http_ops *ivr_http_backend_ops(void)
{
    static const struct ivr_http_ops ops = { start, cancel };
    return &ops;
}
