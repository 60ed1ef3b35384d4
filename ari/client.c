/* SPDX-License-Identifier: MIT */
/*
 * client: the REST side of the ARI client (ari_client_*, ari_<object>_<verb>).
 *
 * A request is built into one reusable URL buffer per client: the base
 * ("http://host:port/ari"), the path with every segment percent-encoded, the
 * query with every value percent-encoded (allowMultiple values such as media
 * lists are joined with literal commas, as Asterisk splits them). Channel
 * variables of an originate go in a JSON body {"variables":{...}} built by
 * hand into a second reusable buffer. The transport copies URL and body, so
 * the buffers are free again once the start call returns. Requests come from
 * a per-client free list, so the originate path allocates nothing of its own
 * after warm-up.
 *
 * Transport (decision): the client's own HTTP/1.1 keep-alive client
 * (ari/h1.c, h1_int.h) for an http:// URL with a numeric host, because curl
 * cost ~95,000 instructions per request against ~5,000 for it; curl
 * (core/http) for a host name (its resolver runs off the loop) or when the
 * configuration asks for it (transport = "curl"). Both report failures the
 * same way, so the mapping below and the callers' retry rules do not depend
 * on the transport. Only a GET may be re-sent by the transport (see
 * h1_int.h); an originate is never sent twice.
 *
 * Responses are not decoded unless the caller asks (ari_result_model()):
 * the dialer knows the channel id it chose and only needs the status. An
 * error response has its "message" (or "error") extracted for the result.
 *
 * Capacity: an originate reserves a place at once (the channel id goes into
 * the client's originated set); the place is released by its
 * ChannelDestroyed (ws.c), by a failed originate, or by a reconciliation
 * that finds the channel gone. Health: 5xx and transport failures are
 * counted per window; degraded_errors of them within degraded_window_ms
 * make the server DEGRADED for one window.
 */
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/client_int.h"
#include "core/clock.h"
#include "core/err.h"

enum { FREE_REQ_MAX = 256 };

/* ---------------------------------------------------------------------- */
/* Names                                                                   */
/* ---------------------------------------------------------------------- */

const char *ari_error_name(enum ari_error e)
{
    static const char *const names[ARI_E_COUNT_] = {
        [ARI_OK] = "ok",
        [ARI_E_BAD_REQUEST] = "bad_request",
        [ARI_E_AUTH] = "auth",
        [ARI_E_NOT_FOUND] = "not_found",
        [ARI_E_NOT_IN_STASIS] = "not_in_stasis",
        [ARI_E_PRECONDITION] = "precondition_failed",
        [ARI_E_UNPROCESSABLE] = "unprocessable",
        [ARI_E_ALLOCATION_FAILED] = "allocation_failed",
        [ARI_E_SERVER] = "server_error",
        [ARI_E_HTTP] = "http_error",
        [ARI_E_TIMEOUT] = "timeout",
        [ARI_E_TRANSPORT] = "transport",
        [ARI_E_CANCELED] = "canceled",
    };
    return (unsigned)e < ARI_E_COUNT_ ? names[e] : "unknown";
}

const char *ari_op_name(enum ari_op op)
{
    static const char *const names[ARI_OP_COUNT_] = {
        [ARI_OP_ORIGINATE] = "originate",
        [ARI_OP_HANGUP] = "hangup",
        [ARI_OP_ANSWER] = "answer",
        [ARI_OP_RING] = "ring",
        [ARI_OP_RING_STOP] = "ring_stop",
        [ARI_OP_PLAY] = "play",
        [ARI_OP_PLAYBACK_STOP] = "playback_stop",
        [ARI_OP_RECORD] = "record",
        [ARI_OP_RECORDING_STOP] = "recording_stop",
        [ARI_OP_RECORDING_CANCEL] = "recording_cancel",
        [ARI_OP_CONTINUE] = "continue",
        [ARI_OP_REDIRECT] = "redirect",
        [ARI_OP_DIAL] = "dial",
        [ARI_OP_SNOOP] = "snoop",
        [ARI_OP_DTMF] = "dtmf",
        [ARI_OP_VAR_GET] = "var_get",
        [ARI_OP_VAR_SET] = "var_set",
        [ARI_OP_CHANNELS_LIST] = "channels_list",
        [ARI_OP_CHANNEL_GET] = "channel_get",
        [ARI_OP_BRIDGE_CREATE] = "bridge_create",
        [ARI_OP_BRIDGE_ADD] = "bridge_add",
        [ARI_OP_BRIDGE_REMOVE] = "bridge_remove",
        [ARI_OP_BRIDGE_DESTROY] = "bridge_destroy",
        [ARI_OP_BRIDGE_PLAY] = "bridge_play",
        [ARI_OP_SUBSCRIBE] = "subscribe",
        [ARI_OP_UNSUBSCRIBE] = "unsubscribe",
        [ARI_OP_PING] = "ping",
    };
    return (unsigned)op < ARI_OP_COUNT_ ? names[op] : "unknown";
}

const char *ari_health_name(enum ari_health h)
{
    switch (h) {
    case ARI_HEALTH_UP:
        return "up";
    case ARI_HEALTH_DEGRADED:
        return "degraded";
    default:
        return "down";
    }
}

/* HTTP statuses ARI answers with, by name. */
enum {
    HTTP_BAD_REQUEST = 400,
    HTTP_UNAUTHORIZED = 401,
    HTTP_FORBIDDEN = 403,
    HTTP_NOT_FOUND = 404,
    HTTP_CONFLICT = 409,
    HTTP_PRECONDITION_FAILED = 412,
    HTTP_UNPROCESSABLE = 422,
    HTTP_INTERNAL_ERROR = 500,
};

/* True when body is {"error":"Allocation failed"}. */
static bool body_is_allocation_failed(const char *body, size_t len)
{
    static const char needle[] = "Allocation failed";
    json_t *j;
    bool yes;

    if (body == NULL || len < sizeof(needle) - 1 || memmem(body, len, needle, 17) == NULL) {
        return false;
    }
    j = json_loadb(body, len, 0, NULL);
    yes = j != NULL && json_is_string(json_object_get(j, "error")) &&
          strcmp(json_string_value(json_object_get(j, "error")), needle) == 0;
    json_decref(j);
    return yes;
}

enum ari_error ari_error_from_http(int status, long code, const char *body, size_t len)
{
    if (status == ERR_TIMEOUT) {
        return ARI_E_TIMEOUT;
    }
    if (status == ERR_CANCELED || status == ERR_SHUTDOWN) {
        return ARI_E_CANCELED;
    }
    if (status != 0) {
        return ARI_E_TRANSPORT;
    }
    if (code >= 200 && code < 300) {
        return ARI_OK;
    }
    switch (code) {
    case HTTP_BAD_REQUEST:
        return ARI_E_BAD_REQUEST;
    case HTTP_UNAUTHORIZED:
    case HTTP_FORBIDDEN:
        return ARI_E_AUTH;
    case HTTP_NOT_FOUND:
        return ARI_E_NOT_FOUND;
    case HTTP_CONFLICT:
        return ARI_E_NOT_IN_STASIS;
    case HTTP_PRECONDITION_FAILED:
        return ARI_E_PRECONDITION;
    case HTTP_UNPROCESSABLE:
        return ARI_E_UNPROCESSABLE;
    case HTTP_INTERNAL_ERROR:
        return body_is_allocation_failed(body, len) ? ARI_E_ALLOCATION_FAILED : ARI_E_SERVER;
    default:
        return code >= 500 && code < 600 ? ARI_E_SERVER : ARI_E_HTTP;
    }
}

/* ---------------------------------------------------------------------- */
/* Buffers                                                                 */
/* ---------------------------------------------------------------------- */

void ari__buf_reset(struct ari__buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

static bool buf_reserve(struct ari__buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap != 0 ? b->cap : 256;
    char *p;

    if (b->oom) {
        return false;
    }
    if (need <= b->cap) {
        return true;
    }
    while (cap < need) {
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void ari__buf_add(struct ari__buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n)) {
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ari__buf_adds(struct ari__buf *b, const char *s)
{
    ari__buf_add(b, s, strlen(s));
}

void ari__buf_free(struct ari__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

static const char hexdig[] = "0123456789ABCDEF";

static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

void ari__buf_add_urlenc(struct ari__buf *b, const char *s)
{
    size_t n = strlen(s);
    char *o;

    if (!buf_reserve(b, n * 3)) {
        return;
    }
    o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (unreserved(ch)) {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hexdig[ch >> 4];
            *o++ = hexdig[ch & 15];
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

void ari__buf_add_json_str(struct ari__buf *b, const char *s)
{
    size_t n = strlen(s);
    char *o;

    if (!buf_reserve(b, n * 6 + 2)) {
        return;
    }
    o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hexdig[ch >> 4];
            *o++ = hexdig[ch & 15];
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

/* ---------------------------------------------------------------------- */
/* Id set                                                                  */
/* ---------------------------------------------------------------------- */

static char ari__tomb_;
#define ARI__TOMB (&ari__tomb_)

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

bool ari__idset_has(const struct ari__idset *s, const char *key)
{
    if (s->cap == 0) {
        return false;
    }
    for (size_t i = hash_str(key) & (s->cap - 1), n = 0; n < s->cap;
         i = (i + 1) & (s->cap - 1), n++) {
        const char *k = s->slots[i];
        if (k == NULL) {
            return false;
        }
        if (k != ARI__TOMB && strcmp(k, key) == 0) {
            return true;
        }
    }
    return false;
}

static int idset_grow(struct ari__idset *s)
{
    size_t cap = s->cap == 0 ? 64 : (s->count * 4 > s->cap ? s->cap * 2 : s->cap);
    char **slots = calloc(cap, sizeof(*slots));

    if (slots == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        char *k = s->slots[i];
        if (k == NULL || k == ARI__TOMB) {
            continue;
        }
        size_t j = hash_str(k) & (cap - 1);
        while (slots[j] != NULL) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = k;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->count;
    return 0;
}

int ari__idset_add(struct ari__idset *s, const char *key)
{
    size_t i;
    char *copy;

    if (ari__idset_has(s, key)) {
        return 0;
    }
    if ((s->used + 1) * 2 > s->cap && idset_grow(s) != 0) {
        return ERR_NOMEM;
    }
    copy = strdup(key);
    if (copy == NULL) {
        return ERR_NOMEM;
    }
    i = hash_str(key) & (s->cap - 1);
    while (s->slots[i] != NULL && s->slots[i] != ARI__TOMB) {
        i = (i + 1) & (s->cap - 1);
    }
    if (s->slots[i] == NULL) {
        s->used++;
    }
    s->slots[i] = copy;
    s->count++;
    return 0;
}

bool ari__idset_del(struct ari__idset *s, const char *key)
{
    if (s->cap == 0) {
        return false;
    }
    for (size_t i = hash_str(key) & (s->cap - 1), n = 0; n < s->cap;
         i = (i + 1) & (s->cap - 1), n++) {
        char *k = s->slots[i];
        if (k == NULL) {
            return false;
        }
        if (k != ARI__TOMB && strcmp(k, key) == 0) {
            free(k);
            s->slots[i] = ARI__TOMB;
            s->count--;
            return true;
        }
    }
    return false;
}

void ari__idset_free(struct ari__idset *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i] != ARI__TOMB) {
            free(s->slots[i]);
        }
    }
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

/* ---------------------------------------------------------------------- */
/* Health                                                                  */
/* ---------------------------------------------------------------------- */

enum ari_health ari_client_health(struct ari_client *c)
{
    if (c == NULL || (!c->ws_connected && !c->no_events)) {
        return ARI_HEALTH_DOWN;
    }
    if (clock_mono_us() < c->degraded_until_us) {
        return ARI_HEALTH_DEGRADED;
    }
    return ARI_HEALTH_UP;
}

static void health_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ari_client *c = ARI__CONTAINER_OF(w, struct ari_client, health_w);
    (void)loop;
    (void)revents;
    ari__health_notify(c);
}

void ari__health_notify(struct ari_client *c)
{
    enum ari_health h = ari_client_health(c);

    if (h == c->health_reported) {
        return;
    }
    c->health_reported = h;
    if (h == ARI_HEALTH_DOWN) {
        LOG_WARN(ARI, "event=server_down server=%s", c->name);
    } else {
        LOG_NOTICE(ARI, "event=server_%s server=%s", ari_health_name(h), c->name);
    }
    if (c->h.on_health != NULL) {
        c->h.on_health(c, h, c->h.arg);
    }
}

void ari__health_failure(struct ari_client *c)
{
    int64_t now = clock_mono_us();
    int64_t window = c->degraded_window_ms * CLOCK_US_PER_MS;

    if (now - c->window_start_us >= window) {
        c->window_start_us = now;
        c->window_errors = 0;
    }
    if (++c->window_errors < c->degraded_errors) {
        return;
    }
    c->degraded_until_us = now + window;
    ev_timer_stop(c->loop, &c->health_w);
    ev_timer_set(&c->health_w, (double)c->degraded_window_ms / 1000.0 + 0.01, 0.);
    ev_timer_start(c->loop, &c->health_w);
    ari__health_notify(c);
}

/* ---------------------------------------------------------------------- */
/* Requests                                                                */
/* ---------------------------------------------------------------------- */

static struct ari_req *req_get(struct ari_client *c)
{
    struct ari_req *r = c->free_req;

    if (r != NULL) {
        c->free_req = r->next;
        c->n_free--;
    } else {
        r = malloc(sizeof(*r));
        if (r == NULL) {
            return NULL;
        }
    }
    r->c = c;
    r->xfer = NULL;
    r->h1 = NULL;
    r->cb = NULL;
    r->arg = NULL;
    r->internal = NULL;
    r->reserved = false;
    r->id_len = 0;
    r->id[0] = '\0';
    r->prev = NULL;
    r->next = c->live;
    if (c->live != NULL) {
        c->live->prev = r;
    }
    c->live = r;
    return r;
}

static void req_put(struct ari_req *r)
{
    struct ari_client *c = r->c;

    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        c->live = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    if (c->n_free < FREE_REQ_MAX && !c->destroying) {
        r->next = c->free_req;
        c->free_req = r;
        c->n_free++;
    } else {
        free(r);
    }
}

const char *ari__error_message(const char *body, size_t len, char *buf, size_t size)
{
    json_t *j;
    const char *m = NULL;

    buf[0] = '\0';
    if (body == NULL || len == 0 || body[0] != '{') {
        return buf;
    }
    j = json_loadb(body, len, 0, NULL);
    if (j != NULL) {
        m = json_string_value(json_object_get(j, "message"));
        if (m == NULL) {
            m = json_string_value(json_object_get(j, "error"));
        }
        if (m != NULL) {
            snprintf(buf, size, "%s", m);
        }
    }
    json_decref(j);
    return buf;
}

static void req_done(int status, const struct http_response *resp, void *arg)
{
    struct ari_req *r = arg;
    struct ari_client *c = r->c;
    struct ari_result res;
    char msg[256];

    r->xfer = NULL;
    r->h1 = NULL;
    memset(&res, 0, sizeof(res));
    res.op = r->op;
    res.http_status = resp->code;
    res.error = ari_error_from_http(status, resp->code, resp->body, resp->body_len);
    res.body = resp->body != NULL ? resp->body : "";
    res.body_len = resp->body_len;
    res.location = resp->location;
    res.resource_id = r->id_len > 0 ? r->id : NULL;
    if (res.error == ARI_OK) {
        res.message = "";
    } else if (status != 0) {
        res.message = resp->error != NULL && resp->error[0] != '\0' ? resp->error : err_str(status);
    } else {
        res.message = ari__error_message(resp->body, resp->body_len, msg, sizeof(msg));
    }
    if (res.error == ARI_E_SERVER || res.error == ARI_E_TIMEOUT || res.error == ARI_E_TRANSPORT) {
        c->st.failures++;
        LOG_INFO(ARI, "event=request_failed server=%s op=%s error=%s http_status=%ld msg=\"%s\"",
                 c->name, ari_op_name(r->op), ari_error_name(res.error), resp->code, res.message);
        ari__health_failure(c);
    } else if (res.error != ARI_OK && res.error != ARI_E_CANCELED) {
        LOG_DEBUG(ARI, "event=request_refused server=%s op=%s error=%s http_status=%ld msg=\"%s\"",
                  c->name, ari_op_name(r->op), ari_error_name(res.error), resp->code, res.message);
    }
    if (r->internal != NULL) {
        r->internal(c, r, &res);
    }
    if (r->cb != NULL) {
        r->cb(c, &res, r->arg);
    }
    req_put(r);
}

/* A request under construction. */
struct rb {
    struct ari_client *c;
    const char *method;
    enum ari_op op;
    bool query;     /* a '?' has been written */
    bool json;      /* c->body holds a JSON body */
    const char *id; /* resource named (copied into the request) */
};

static void rb_start(struct rb *b, struct ari_client *c, const char *method, enum ari_op op,
                     const char *path)
{
    memset(b, 0, sizeof(*b));
    b->c = c;
    b->method = method;
    b->op = op;
    ari__buf_reset(&c->url);
    ari__buf_add(&c->url, c->base, c->base_len);
    ari__buf_adds(&c->url, path);
}

/* "/" + s encoded. */
static void rb_seg(struct rb *b, const char *s)
{
    ari__buf_add(&b->c->url, "/", 1);
    ari__buf_add_urlenc(&b->c->url, s);
}

static void rb_lit(struct rb *b, const char *s)
{
    ari__buf_adds(&b->c->url, s);
}

static void rb_name(struct rb *b, const char *name)
{
    ari__buf_add(&b->c->url, b->query ? "&" : "?", 1);
    b->query = true;
    ari__buf_adds(&b->c->url, name);
    ari__buf_add(&b->c->url, "=", 1);
}

static void rb_param(struct rb *b, const char *name, const char *value)
{
    if (value == NULL) {
        return;
    }
    rb_name(b, name);
    ari__buf_add_urlenc(&b->c->url, value);
}

static void rb_param_long(struct rb *b, const char *name, long long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", v);
    rb_name(b, name);
    ari__buf_adds(&b->c->url, num);
}

static void rb_param_list(struct rb *b, const char *name, const char *const *v, size_t n)
{
    rb_name(b, name);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            ari__buf_add(&b->c->url, ",", 1);
        }
        ari__buf_add_urlenc(&b->c->url, v[i] != NULL ? v[i] : "");
    }
}

static int rb_send_internal(struct rb *b, ari_done_cb *cb, void *arg, ari__internal_cb *internal,
                            struct ari_req **out)
{
    struct ari_client *c = b->c;
    const char *hdrs[2] = { c->rest_auth, "Content-Type: application/json" };
    struct http_request hr;
    struct ari_req *r;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (c->destroying) {
        return ERR_SHUTDOWN;
    }
    if (c->url.oom || (b->json && c->body.oom)) {
        return ERR_NOMEM;
    }
    r = req_get(c);
    if (r == NULL) {
        return ERR_NOMEM;
    }
    r->cb = cb;
    r->arg = arg;
    r->internal = internal;
    r->op = b->op;
    if (b->id != NULL) {
        size_t n = strlen(b->id);
        if (n >= sizeof(r->id)) {
            n = sizeof(r->id) - 1;
        }
        memcpy(r->id, b->id, n);
        r->id[n] = '\0';
        r->id_len = n;
    }
    memset(&hr, 0, sizeof(hr));
    hr.method = b->method;
    hr.url = c->url.p;
    /* Basic auth as a ready header line: curl would base64-encode and format it again
     * for every request. */
    hr.headers = hdrs;
    hr.nheaders = 1;
    hr.timeout_ms = c->request_timeout_ms;
    hr.connect_timeout_ms = c->connect_timeout_ms;
    if (b->json) {
        hr.nheaders = 2;
        hr.body = c->body.p;
        hr.body_len = c->body.len;
    }
    if (c->h1 != NULL) {
        struct ari__h1_request q;
        q.method = b->method;
        q.target = c->url.p + c->origin_len;
        q.target_len = c->url.len - c->origin_len;
        q.body = b->json ? c->body.p : NULL;
        q.body_len = b->json ? c->body.len : 0;
        q.content_type = NULL;
        q.timeout_ms = c->request_timeout_ms;
        /* Only a GET may go twice (after the server closed an idle
         * connection under it): an originate or play must not. */
        q.retry_safe = b->method[0] == 'G';
        rc = ari__h1_start(c->h1, &q, req_done, r, &r->h1);
    } else {
        rc = http_xfer_start(c->http, &hr, req_done, r, &r->xfer);
    }
    if (rc != 0) {
        r->xfer = NULL;
        r->h1 = NULL;
        req_put(r);
        return rc;
    }
    c->st.requests++;
    if (out != NULL) {
        *out = r;
    }
    return 0;
}

static int rb_send(struct rb *b, ari_done_cb *cb, void *arg, struct ari_req **out)
{
    return rb_send_internal(b, cb, arg, NULL, out);
}

void ari_req_cancel(struct ari_req *r)
{
    if (r == NULL || (r->xfer == NULL && r->h1 == NULL)) {
        return; /* NULL, or inside its own callback */
    }
    if (r->h1 != NULL) {
        ari__h1_cancel(r->h1);
        r->h1 = NULL;
    } else {
        http_xfer_cancel(r->xfer);
        r->xfer = NULL;
    }
    if (r->op == ARI_OP_ORIGINATE && r->id_len > 0) {
        /* The originate may or may not have reached the server; its
         * ChannelDestroyed (or a reconciliation) releases the place then. */
    }
    if (r->c->reconcile_req == r) {
        r->c->reconcile_req = NULL;
    }
    req_put(r);
}

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* ---------------------------------------------------------------------- */
/* Channels                                                                */
/* ---------------------------------------------------------------------- */

static void originate_done(struct ari_client *c, struct ari_req *r, const struct ari_result *res)
{
    if (res->error == ARI_OK && r->id_len == 0) {
        /* The server chose the id: track it from the body. */
        json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id != NULL && ari__idset_add(&c->originated, id) != 0) {
            LOG_WARN(ARI, "event=capacity_track_failed server=%s err=nomem", c->name);
        }
        json_decref(j);
    } else if (res->error != ARI_OK && r->reserved && res->error != ARI_E_TIMEOUT &&
               res->error != ARI_E_TRANSPORT && res->error != ARI_E_CANCELED) {
        /* Refused: no channel exists. (After a timeout or transport error it
         * may; its ChannelDestroyed or a reconciliation will release it.) */
        ari__idset_del(&c->originated, r->id);
    }
}

static void originate_body(struct ari_client *c, const struct ari_originate *o)
{
    ari__buf_reset(&c->body);
    ari__buf_adds(&c->body, "{\"variables\":{");
    for (size_t i = 0; i < o->n_variables; i++) {
        if (i > 0) {
            ari__buf_add(&c->body, ",", 1);
        }
        ari__buf_add_json_str(&c->body, o->variables[i].name != NULL ? o->variables[i].name : "");
        ari__buf_add(&c->body, ":", 1);
        if (o->variables[i].json && o->variables[i].value != NULL) {
            ari__buf_adds(&c->body, o->variables[i].value);
        } else {
            ari__buf_add_json_str(&c->body,
                                  o->variables[i].value != NULL ? o->variables[i].value : "");
        }
    }
    ari__buf_adds(&c->body, "}}");
}

int ari_originate(struct ari_client *c, const struct ari_originate *o, ari_done_cb *cb, void *arg,
                  struct ari_req **out)
{
    struct rb b;
    struct ari_req *r = NULL;
    bool reserved;
    int rc;
    const char *app;

    if (c == NULL || o == NULL || empty(o->endpoint)) {
        return ERR_INVAL;
    }
    if (o->channel_id != NULL && strlen(o->channel_id) >= sizeof(((struct ari_req *)0)->id)) {
        return ERR_INVAL;
    }
    app = o->app != NULL ? o->app : (o->extension == NULL ? c->first_app : NULL);
    rb_start(&b, c, "POST", ARI_OP_ORIGINATE, "/channels");
    if (!empty(o->channel_id)) {
        rb_seg(&b, o->channel_id);
        b.id = o->channel_id;
    }
    rb_param(&b, "endpoint", o->endpoint);
    rb_param(&b, "app", app);
    rb_param(&b, "appArgs", o->app_args);
    rb_param(&b, "extension", o->extension);
    rb_param(&b, "context", o->context);
    if (o->priority > 0) {
        rb_param_long(&b, "priority", o->priority);
    }
    rb_param(&b, "label", o->label);
    rb_param(&b, "callerId", o->caller_id);
    if (o->timeout_s != 0) {
        rb_param_long(&b, "timeout", o->timeout_s);
    }
    rb_param(&b, "otherChannelId", o->other_channel_id);
    rb_param(&b, "originator", o->originator);
    rb_param(&b, "formats", o->formats);
    if (o->n_variables > 0) {
        originate_body(c, o);
        b.json = true;
    }
    /* Reserve the place before the request: events may precede the response.
     * An id already there (a duplicate the server will refuse with 409) keeps
     * the place of the channel that has it. */
    reserved = b.id != NULL && !ari__idset_has(&c->originated, b.id);
    if (reserved && ari__idset_add(&c->originated, b.id) != 0) {
        return ERR_NOMEM;
    }
    rc = rb_send_internal(&b, cb, arg, originate_done, &r);
    if (rc != 0) {
        if (reserved) {
            ari__idset_del(&c->originated, b.id);
        }
        return rc;
    }
    r->reserved = reserved;
    if (out != NULL) {
        *out = r;
    }
    return 0;
}

/* The common shape: METHOD /channels/{id}<suffix>. */
static void rb_channel(struct rb *b, struct ari_client *c, const char *method, enum ari_op op,
                       const char *id, const char *suffix)
{
    rb_start(b, c, method, op, "/channels");
    rb_seg(b, id);
    if (suffix != NULL) {
        rb_lit(b, suffix);
    }
    b->id = id;
}

int ari_channel_hangup(struct ari_client *c, const char *id, const char *reason, ari_done_cb *cb,
                       void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "DELETE", ARI_OP_HANGUP, id, NULL);
    rb_param(&b, "reason", reason);
    return rb_send(&b, cb, arg, out);
}

int ari_channel_answer(struct ari_client *c, const char *id, ari_done_cb *cb, void *arg,
                       struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_ANSWER, id, "/answer");
    return rb_send(&b, cb, arg, out);
}

int ari_channel_ring(struct ari_client *c, const char *id, bool on, ari_done_cb *cb, void *arg,
                     struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, on ? "POST" : "DELETE", on ? ARI_OP_RING : ARI_OP_RING_STOP, id, "/ring");
    return rb_send(&b, cb, arg, out);
}

static int play_common(struct rb *b, const struct ari_play *p, ari_done_cb *cb, void *arg,
                       struct ari_req **out)
{
    rb_param_list(b, "media", p->media, p->n_media);
    rb_param(b, "lang", p->lang);
    if (p->offsetms > 0) {
        rb_param_long(b, "offsetms", p->offsetms);
    }
    if (p->skipms > 0) {
        rb_param_long(b, "skipms", p->skipms);
    }
    rb_param(b, "playbackId", p->playback_id);
    return rb_send(b, cb, arg, out);
}

int ari_channel_play(struct ari_client *c, const char *id, const struct ari_play *p,
                     ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id) || p == NULL || p->media == NULL || p->n_media == 0) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_PLAY, id, "/play");
    return play_common(&b, p, cb, arg, out);
}

int ari_bridge_play(struct ari_client *c, const char *bridge_id, const struct ari_play *p,
                    ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(bridge_id) || p == NULL || p->media == NULL || p->n_media == 0) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "POST", ARI_OP_BRIDGE_PLAY, "/bridges");
    rb_seg(&b, bridge_id);
    rb_lit(&b, "/play");
    b.id = bridge_id;
    return play_common(&b, p, cb, arg, out);
}

int ari_playback_stop(struct ari_client *c, const char *playback_id, ari_done_cb *cb, void *arg,
                      struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(playback_id)) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "DELETE", ARI_OP_PLAYBACK_STOP, "/playbacks");
    rb_seg(&b, playback_id);
    b.id = playback_id;
    return rb_send(&b, cb, arg, out);
}

int ari_channel_record(struct ari_client *c, const char *id, const struct ari_record *r,
                       ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id) || r == NULL || empty(r->name) || empty(r->format)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_RECORD, id, "/record");
    rb_param(&b, "name", r->name);
    rb_param(&b, "format", r->format);
    if (r->max_duration_s > 0) {
        rb_param_long(&b, "maxDurationSeconds", r->max_duration_s);
    }
    if (r->max_silence_s > 0) {
        rb_param_long(&b, "maxSilenceSeconds", r->max_silence_s);
    }
    rb_param(&b, "ifExists", r->if_exists);
    if (r->beep) {
        rb_param(&b, "beep", "true");
    }
    rb_param(&b, "terminateOn", r->terminate_on);
    return rb_send(&b, cb, arg, out);
}

int ari_recording_stop(struct ari_client *c, const char *name, bool discard, ari_done_cb *cb,
                       void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(name)) {
        return ERR_INVAL;
    }
    rb_start(&b, c, discard ? "DELETE" : "POST",
             discard ? ARI_OP_RECORDING_CANCEL : ARI_OP_RECORDING_STOP, "/recordings/live");
    rb_seg(&b, name);
    if (!discard) {
        rb_lit(&b, "/stop");
    }
    b.id = name;
    return rb_send(&b, cb, arg, out);
}

int ari_channel_continue(struct ari_client *c, const char *id, const char *context,
                         const char *extension, long priority, const char *label, ari_done_cb *cb,
                         void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_CONTINUE, id, "/continue");
    rb_param(&b, "context", context);
    rb_param(&b, "extension", extension);
    if (priority > 0) {
        rb_param_long(&b, "priority", priority);
    }
    rb_param(&b, "label", label);
    return rb_send(&b, cb, arg, out);
}

int ari_channel_redirect(struct ari_client *c, const char *id, const char *endpoint,
                         ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id) || empty(endpoint)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_REDIRECT, id, "/redirect");
    rb_param(&b, "endpoint", endpoint);
    return rb_send(&b, cb, arg, out);
}

int ari_channel_dial(struct ari_client *c, const char *id, const char *caller, int timeout_s,
                     ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_DIAL, id, "/dial");
    rb_param(&b, "caller", caller);
    if (timeout_s > 0) {
        rb_param_long(&b, "timeout", timeout_s);
    }
    return rb_send(&b, cb, arg, out);
}

int ari_channel_snoop(struct ari_client *c, const char *id, const char *app, const char *spy,
                      const char *whisper, const char *snoop_id, ari_done_cb *cb, void *arg,
                      struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_SNOOP, id, "/snoop");
    rb_param(&b, "app", app != NULL ? app : c->first_app);
    rb_param(&b, "spy", spy);
    rb_param(&b, "whisper", whisper);
    rb_param(&b, "snoopId", snoop_id);
    return rb_send(&b, cb, arg, out);
}

int ari_channel_dtmf(struct ari_client *c, const char *id, const char *dtmf, int between_ms,
                     ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id) || empty(dtmf)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_DTMF, id, "/dtmf");
    rb_param(&b, "dtmf", dtmf);
    if (between_ms > 0) {
        rb_param_long(&b, "between", between_ms);
    }
    return rb_send(&b, cb, arg, out);
}

int ari_channel_var_get(struct ari_client *c, const char *id, const char *name, ari_done_cb *cb,
                        void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id) || empty(name)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "GET", ARI_OP_VAR_GET, id, "/variable");
    rb_param(&b, "variable", name);
    return rb_send(&b, cb, arg, out);
}

int ari_channel_var_set(struct ari_client *c, const char *id, const char *name, const char *value,
                        ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id) || empty(name)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "POST", ARI_OP_VAR_SET, id, "/variable");
    rb_param(&b, "variable", name);
    rb_param(&b, "value", value != NULL ? value : "");
    return rb_send(&b, cb, arg, out);
}

int ari_channels_list(struct ari_client *c, ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "GET", ARI_OP_CHANNELS_LIST, "/channels");
    return rb_send(&b, cb, arg, out);
}

int ari_channel_get(struct ari_client *c, const char *id, ari_done_cb *cb, void *arg,
                    struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(id)) {
        return ERR_INVAL;
    }
    rb_channel(&b, c, "GET", ARI_OP_CHANNEL_GET, id, NULL);
    return rb_send(&b, cb, arg, out);
}

/* ---------------------------------------------------------------------- */
/* Bridges                                                                 */
/* ---------------------------------------------------------------------- */

int ari_bridge_create(struct ari_client *c, const char *bridge_id, const char *type,
                      const char *name, ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "POST", ARI_OP_BRIDGE_CREATE, "/bridges");
    if (!empty(bridge_id)) {
        rb_seg(&b, bridge_id);
        b.id = bridge_id;
    }
    rb_param(&b, "type", type);
    rb_param(&b, "name", name);
    return rb_send(&b, cb, arg, out);
}

static int bridge_member(struct ari_client *c, enum ari_op op, const char *bridge_id,
                         const char *channel, const char *role, ari_done_cb *cb, void *arg,
                         struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(bridge_id) || empty(channel)) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "POST", op, "/bridges");
    rb_seg(&b, bridge_id);
    rb_lit(&b, op == ARI_OP_BRIDGE_ADD ? "/addChannel" : "/removeChannel");
    b.id = bridge_id;
    rb_param(&b, "channel", channel);
    rb_param(&b, "role", role);
    return rb_send(&b, cb, arg, out);
}

int ari_bridge_add_channel(struct ari_client *c, const char *bridge_id, const char *channel,
                           const char *role, ari_done_cb *cb, void *arg, struct ari_req **out)
{
    return bridge_member(c, ARI_OP_BRIDGE_ADD, bridge_id, channel, role, cb, arg, out);
}

int ari_bridge_remove_channel(struct ari_client *c, const char *bridge_id, const char *channel,
                              ari_done_cb *cb, void *arg, struct ari_req **out)
{
    return bridge_member(c, ARI_OP_BRIDGE_REMOVE, bridge_id, channel, NULL, cb, arg, out);
}

int ari_bridge_destroy(struct ari_client *c, const char *bridge_id, ari_done_cb *cb, void *arg,
                       struct ari_req **out)
{
    struct rb b;

    if (c == NULL || empty(bridge_id)) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "DELETE", ARI_OP_BRIDGE_DESTROY, "/bridges");
    rb_seg(&b, bridge_id);
    b.id = bridge_id;
    return rb_send(&b, cb, arg, out);
}

/* ---------------------------------------------------------------------- */
/* Applications and subscriptions                                          */
/* ---------------------------------------------------------------------- */

/* Remembered subscriptions are "app\nsource" strings. */
static char *sub_key(const char *app, const char *source)
{
    size_t a = strlen(app), s = strlen(source);
    char *k = malloc(a + s + 2);

    if (k != NULL) {
        memcpy(k, app, a);
        k[a] = '\n';
        memcpy(k + a + 1, source, s + 1);
    }
    return k;
}

static void sub_forget(struct ari_client *c, const char *key)
{
    for (size_t i = 0; i < c->n_subs; i++) {
        if (strcmp(c->subs[i], key) == 0) {
            free(c->subs[i]);
            c->subs[i] = c->subs[--c->n_subs];
            return;
        }
    }
}

static void sub_remember(struct ari_client *c, const char *key)
{
    char **n;
    char *copy;

    for (size_t i = 0; i < c->n_subs; i++) {
        if (strcmp(c->subs[i], key) == 0) {
            return;
        }
    }
    copy = strdup(key);
    n = realloc(c->subs, (c->n_subs + 1) * sizeof(*n));
    if (copy == NULL || n == NULL) {
        free(copy);
        if (n != NULL) {
            c->subs = n;
        }
        LOG_WARN(ARI, "event=subscription_not_remembered server=%s err=nomem", c->name);
        return;
    }
    c->subs = n;
    c->subs[c->n_subs++] = copy;
}

/* The request's id holds "app\nsource" for subscription requests. */
static void subscribe_done(struct ari_client *c, struct ari_req *r, const struct ari_result *res)
{
    if (res->error != ARI_OK) {
        return;
    }
    if (r->op == ARI_OP_SUBSCRIBE) {
        sub_remember(c, r->id);
    } else {
        sub_forget(c, r->id);
    }
}

static int subscription(struct ari_client *c, enum ari_op op, const char *app, const char *source,
                        ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;
    char *key;
    int rc;

    if (c == NULL || empty(source)) {
        return ERR_INVAL;
    }
    if (app == NULL) {
        app = c->first_app;
    }
    key = sub_key(app, source);
    if (key == NULL) {
        return ERR_NOMEM;
    }
    if (strlen(key) >= sizeof(((struct ari_req *)0)->id)) {
        free(key);
        return ERR_INVAL;
    }
    rb_start(&b, c, op == ARI_OP_SUBSCRIBE ? "POST" : "DELETE", op, "/applications");
    rb_seg(&b, app);
    rb_lit(&b, "/subscription");
    rb_param(&b, "eventSource", source);
    b.id = key;
    rc = rb_send_internal(&b, cb, arg, subscribe_done, out);
    free(key);
    return rc;
}

int ari_app_subscribe(struct ari_client *c, const char *app, const char *event_source,
                      ari_done_cb *cb, void *arg, struct ari_req **out)
{
    return subscription(c, ARI_OP_SUBSCRIBE, app, event_source, cb, arg, out);
}

int ari_app_unsubscribe(struct ari_client *c, const char *app, const char *event_source,
                        ari_done_cb *cb, void *arg, struct ari_req **out)
{
    return subscription(c, ARI_OP_UNSUBSCRIBE, app, event_source, cb, arg, out);
}

int ari__resubscribe(struct ari_client *c)
{
    int rc = 0;
    size_t n = c->n_subs;
    char **copy;

    if (n == 0) {
        return 0;
    }
    /* subscription() may reorder c->subs through its completion; work on a copy. */
    copy = calloc(n, sizeof(*copy));
    if (copy == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        copy[i] = strdup(c->subs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        char *nl = copy[i] != NULL ? strchr(copy[i], '\n') : NULL;
        if (nl == NULL) {
            rc = ERR_NOMEM;
            continue;
        }
        *nl = '\0';
        int r = subscription(c, ARI_OP_SUBSCRIBE, copy[i], nl + 1, NULL, NULL, NULL);
        if (r != 0) {
            rc = r;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(copy[i]);
    }
    free(copy);
    LOG_INFO(ARI, "event=resubscribed server=%s sources=%zu rc=%d", c->name, n, rc);
    return rc;
}

int ari_ping(struct ari_client *c, ari_done_cb *cb, void *arg, struct ari_req **out)
{
    struct rb b;

    if (c == NULL) {
        return ERR_INVAL;
    }
    rb_start(&b, c, "GET", ARI_OP_PING, "/asterisk/ping");
    return rb_send(&b, cb, arg, out);
}

/* ---------------------------------------------------------------------- */
/* Results                                                                 */
/* ---------------------------------------------------------------------- */

int ari__channel_ids_parse(const char *body, size_t len, struct arena *a, const char ***ids,
                           size_t *n)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char **v;
    size_t k = 0;

    *ids = NULL;
    *n = 0;
    if (!json_is_array(j)) {
        json_decref(j);
        return ERR_PARSE;
    }
    v = arena_alloc(a, (json_array_size(j) + 1) * sizeof(*v));
    if (v == NULL) {
        json_decref(j);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < json_array_size(j); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(j, i), "id"));
        if (id != NULL && id[0] != '\0') {
            v[k] = arena_strdup(a, id);
            if (v[k] == NULL) {
                json_decref(j);
                return ERR_NOMEM;
            }
            k++;
        }
    }
    json_decref(j);
    *ids = v;
    *n = k;
    return 0;
}

int ari_result_model(const struct ari_result *res, enum ari_model_type type, struct arena *a,
                     void *out, struct ari_parse_error *err)
{
    if (res == NULL || res->error != ARI_OK || res->body == NULL || res->body_len == 0) {
        return ERR_INVAL;
    }
    return ari_model_parse(type, res->body, res->body_len, a, out, err);
}

const char *ari_result_value(const struct ari_result *res, struct arena *a)
{
    json_t *j;
    const char *v;
    char *copy = NULL;

    if (res == NULL || res->error != ARI_OK || res->body_len == 0) {
        return NULL;
    }
    j = json_loadb(res->body, res->body_len, 0, NULL);
    v = json_string_value(json_object_get(j, "value"));
    if (v != NULL) {
        copy = arena_strdup(a, v);
    }
    json_decref(j);
    return copy;
}

/* ---------------------------------------------------------------------- */
/* Life                                                                    */
/* ---------------------------------------------------------------------- */

/* Splits "http://host[:port][/prefix]" into c->host, c->port and c->base. */
static int parse_url(struct ari_client *c, const char *url)
{
    const char *p, *host_end, *path;
    size_t host_len, path_len;
    long port = 80;

    if (strncmp(url, "http://", 7) != 0) {
        return ERR_INVAL;
    }
    p = url + 7;
    path = strchr(p, '/');
    if (path == NULL) {
        path = p + strlen(p);
    }
    host_end = memchr(p, ':', (size_t)(path - p));
    if (host_end != NULL) {
        char *end;
        port = strtol(host_end + 1, &end, 10);
        if (end != path || port <= 0 || port > 65535) {
            return ERR_INVAL;
        }
    } else {
        host_end = path;
    }
    host_len = (size_t)(host_end - p);
    if (host_len == 0) {
        return ERR_INVAL;
    }
    path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/') {
        path_len--;
    }
    c->host = strndup(p, host_len);
    c->port = (int)port;
    c->origin_len = (size_t)(path - url);
    c->base_len = (size_t)(path - url) + path_len + 4;
    c->base = malloc(c->base_len + 1);
    if (c->host == NULL || c->base == NULL) {
        return ERR_NOMEM;
    }
    snprintf(c->base, c->base_len + 1, "%.*s%.*s/ari", (int)(path - url), url, (int)path_len, path);
    return 0;
}

static int64_t or_default(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

static char *dup_or(const char *s, const char *def)
{
    return strdup(s != NULL ? s : def);
}

/* c->rest_auth from c->user and c->password. */
static int build_rest_auth(struct ari_client *c)
{
    static const char prefix[] = "Authorization: Basic ";
    size_t cred_len = strlen(c->user) + 1 + strlen(c->password);
    size_t b64 = (cred_len + 2) / 3 * 4 + 8; /* lws wants room beyond the NUL */
    char *cred = malloc(cred_len + 1);
    int n;

    c->rest_auth = malloc(sizeof(prefix) + b64);
    if (cred == NULL || c->rest_auth == NULL) {
        free(cred);
        return ERR_NOMEM;
    }
    snprintf(cred, cred_len + 1, "%s:%s", c->user, c->password);
    memcpy(c->rest_auth, prefix, sizeof(prefix) - 1);
    n = lws_b64_encode_string(cred, (int)cred_len, c->rest_auth + sizeof(prefix) - 1, (int)b64);
    memset(cred, 0, cred_len);
    free(cred);
    return n < 0 ? ERR_INTERNAL : 0;
}

/*
 * The own HTTP/1.1 transport for a numeric host (a name would need a lookup
 * off the loop: those servers keep curl and its threaded resolver). Leaves
 * c->h1 NULL when it does not apply.
 */
static int h1_create(struct ari_client *c, const struct ari_client_config *cfg, const char *url)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct ari__h1_config hc;
    char port[16];
    char *host_header;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    snprintf(port, sizeof(port), "%d", c->port);
    if (getaddrinfo(c->host, port, &hints, &res) != 0 || res == NULL) {
        return 0;
    }
    host_header = strndup(url + 7, c->origin_len - 7);
    if (host_header == NULL) {
        freeaddrinfo(res);
        return ERR_NOMEM;
    }
    memset(&hc, 0, sizeof(hc));
    hc.addr = res->ai_addr;
    hc.addrlen = res->ai_addrlen;
    hc.host_header = host_header;
    hc.auth_line = c->rest_auth;
    hc.max_conns = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : 16;
    hc.connect_timeout_ms = c->connect_timeout_ms;
    hc.max_response_bytes = (size_t)16 << 20; /* GET /channels on a busy server */
    rc = ari__h1_create(c->loop, &hc, &c->h1);
    freeaddrinfo(res);
    free(host_header);
    return rc;
}

int ari_client_create(struct ev_loop *loop, const struct ari_client_config *cfg,
                      const struct ari_handlers *h, struct ari_client **out)
{
    struct ari_client *c;
    struct http_client_options ho;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (loop == NULL || cfg == NULL || out == NULL || empty(cfg->url) || empty(cfg->user) ||
        empty(cfg->app)) {
        return ERR_INVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->loop = loop;
    c->ws_fd = -1;
    if (h != NULL) {
        c->h = *h;
    }
    c->name = dup_or(cfg->name, "default");
    c->user = strdup(cfg->user);
    c->password = dup_or(cfg->password, "");
    c->app = strdup(cfg->app);
    c->first_app = c->app != NULL ? strndup(c->app, strcspn(c->app, ",")) : NULL;
    c->subscribe_all = cfg->subscribe_all;
    c->no_events = cfg->no_events;
    c->request_timeout_ms = or_default(cfg->request_timeout_ms, 5000);
    c->connect_timeout_ms = or_default(cfg->connect_timeout_ms, 2000);
    c->reconnect_min_ms = or_default(cfg->reconnect_min_ms, 250);
    c->reconnect_max_ms = or_default(cfg->reconnect_max_ms, 10000);
    if (c->reconnect_max_ms < c->reconnect_min_ms) {
        c->reconnect_max_ms = c->reconnect_min_ms;
    }
    c->ping_interval_ms = or_default(cfg->ping_interval_ms, 10000);
    c->max_channels = cfg->max_channels > 0 ? cfg->max_channels : 0;
    c->degraded_errors = cfg->degraded_errors > 0 ? cfg->degraded_errors : 5;
    c->degraded_window_ms = or_default(cfg->degraded_window_ms, 10000);
    c->health_reported = ARI_HEALTH_DOWN;
    ev_timer_init(&c->health_w, health_timer_cb, 0., 0.);
    if (c->name == NULL || c->user == NULL || c->password == NULL || c->app == NULL ||
        c->first_app == NULL) {
        rc = ERR_NOMEM;
        goto fail;
    }
    rc = build_rest_auth(c);
    if (rc != 0) {
        goto fail;
    }
    rc = parse_url(c, cfg->url);
    if (rc != 0) {
        LOG_ERR(ARI, "event=bad_url server=%s msg=\"expected http://host[:port][/prefix]\"",
                c->name);
        goto fail;
    }
    if (cfg->transport != NULL && strcmp(cfg->transport, "http") != 0 &&
        strcmp(cfg->transport, "curl") != 0) {
        LOG_ERR(ARI, "event=bad_transport server=%s msg=\"expected http or curl\"", c->name);
        rc = ERR_INVAL;
        goto fail;
    }
    if (cfg->transport == NULL || strcmp(cfg->transport, "http") == 0) {
        rc = h1_create(c, cfg, cfg->url);
        if (rc != 0) {
            goto fail;
        }
    }
    if (c->h1 != NULL) {
        goto transport_ready;
    }
    memset(&ho, 0, sizeof(ho));
    ho.max_host_connections = cfg->max_connections > 0 ? cfg->max_connections : 16;
    ho.connect_timeout_ms = c->connect_timeout_ms;
    ho.timeout_ms = c->request_timeout_ms;
    ho.max_response_bytes = (size_t)16 << 20; /* GET /channels on a busy server */
    rc = http_client_create(loop, &ho, &c->http);
    if (rc != 0) {
        goto fail;
    }
transport_ready:
    rc = ari__ws_init(c);
    if (rc != 0) {
        goto fail;
    }
    *out = c;
    return 0;
fail:
    ari_client_destroy(c);
    return rc;
}

void ari_client_destroy(struct ari_client *c)
{
    struct ari_req *r;

    if (c == NULL) {
        return;
    }
    ari__ws_fini(c);
    ev_timer_stop(c->loop, &c->health_w);
    /* Owed requests complete with ARI_E_CANCELED inside these. */
    ari__h1_destroy(c->h1);
    c->h1 = NULL;
    http_client_destroy(c->http);
    c->http = NULL;
    c->destroying = true;
    while ((r = c->live) != NULL) {
        req_put(r); /* only if core/http failed to call back */
    }
    while ((r = c->free_req) != NULL) {
        c->free_req = r->next;
        free(r);
    }
    for (size_t i = 0; i < c->n_subs; i++) {
        free(c->subs[i]);
    }
    free(c->subs);
    ari__idset_free(&c->originated);
    ari__buf_free(&c->url);
    ari__buf_free(&c->body);
    free(c->name);
    free(c->base);
    free(c->host);
    free(c->user);
    free(c->password);
    if (c->rest_auth != NULL) {
        memset(c->rest_auth, 0, strlen(c->rest_auth));
        free(c->rest_auth);
    }
    free(c->app);
    free(c->first_app);
    free(c);
}

const char *ari_client_name(const struct ari_client *c)
{
    return c != NULL ? c->name : "";
}

bool ari_client_connected(const struct ari_client *c)
{
    return c != NULL && c->ws_connected;
}

long ari_client_channels(const struct ari_client *c)
{
    return c != NULL ? (long)c->originated.count : 0;
}

long ari_client_max_channels(const struct ari_client *c)
{
    return c != NULL ? c->max_channels : 0;
}

void ari_client_stats(const struct ari_client *c, struct ari_client_stats *st)
{
    if (c != NULL && st != NULL) {
        *st = c->st;
    }
}
