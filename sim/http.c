/* SPDX-License-Identifier: MIT */
/*
 * http: libwebsockets on the simulator's libev loop.
 *
 * One lws protocol ("ari", index 0) handles plain HTTP and the events
 * WebSocket. A client that asks for no subprotocol is bound to it without a
 * Sec-WebSocket-Protocol header in the answer (Asterisk does the same and
 * the node "ws" library insists on it); one that asks for "ari" gets it
 * echoed.
 *
 * A request goes through what Asterisk's ast_ari_callback() and
 * ast_ari_invoke() do, in that order: body (form fields merged with the
 * query, or a JSON body whose scalar keys override query parameters; 413
 * over the body limit), authentication (Basic first, then api_key; 401 with
 * WWW-Authenticate), trailing slash (404 with a hint), api-docs, route
 * (404 / 405 with Allow / 426 for the events path without an upgrade), then
 * the operation. Responses are written in one piece with Asterisk's headers
 * in Asterisk's order: Server, Date, [Connection: close], Cache-Control,
 * extra headers, Content-type (only with a body), Content-Length.
 *
 * Faults act here: refused connections are reset at accept, a 5xx window
 * answers every /ari request with the configured status, and a response
 * delay parks the finished response on the connection until a timer fires.
 */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/sim_int.h"

/* Decimal integer prefix of s (0 when none); strtol saturates instead of the
 * undefined behaviour of atoi on overflow. */
static inline long strtol_dec(const char *s)
{
    return strtol(s, NULL, 10);
}

struct sim_conn {
    struct sim *sim;
    struct lws *wsi;
    struct sim_ws *ws;   /* once upgraded */
    char *uri;           /* decoded path */
    int method;          /* SIM_M_* */
    struct sim_buf args; /* query fragments "name=value\0..." */
    struct sim_buf body; /* request body */
    int body_too_big;
    int body_expected;
    char host[256];
    char auth[512];
    char ctype[128];
    char origin[256];
    int conn_close;
    char *ws_apps; /* app=... of an upgrade */
    int ws_subscribe_all;
    struct sim_buf resp; /* response bytes (LWS_PRE headroom in front) */
    int resp_ready;      /* written when writable */
    struct sim_timer t_delay;
    int delayed;
    struct sim_conn *next_pending;
};

static const char *const mnames[SIM_M_COUNT_] = {
    "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD",
};

/* ---------------------------------------------------------------------- */
/* Request helpers for handlers */

static void add_param(struct sim_req *r, const char *name, const char *value)
{
    if (r->nparams == r->capparams) {
        int cap = r->capparams ? r->capparams * 2 : 16;
        struct sim_param *v = arena_alloc(&r->arena, sizeof(*v) * (size_t)cap);
        if (v == NULL) {
            abort();
        }
        if (r->nparams > 0) {
            memcpy(v, r->params, sizeof(*v) * (size_t)r->nparams);
        }
        r->params = v;
        r->capparams = cap;
    }
    r->params[r->nparams].name = arena_strdup(&r->arena, name);
    r->params[r->nparams].value = arena_strdup(&r->arena, value);
    r->nparams++;
}

const char *sim__req_param(const struct sim_req *r, const char *name)
{
    /* Later occurrences win, as in Asterisk's generated parsers. */
    for (int i = r->nparams - 1; i >= 0; i--) {
        if (strcmp(r->params[i].name, name) == 0) {
            return r->params[i].value;
        }
    }
    return NULL;
}

const char *sim__req_path(const struct sim_req *r, const char *name)
{
    for (int i = 0; i < r->npathp; i++) {
        if (strcmp(r->pathp[i].name, name) == 0) {
            return r->pathp[i].value;
        }
    }
    return NULL;
}

int sim__req_int(const struct sim_req *r, const char *name, int def)
{
    const char *v = sim__req_param(r, name);
    return v != NULL ? (int)strtol_dec(v) : def;
}

int sim__req_bool(const struct sim_req *r, const char *name, int def)
{
    const char *v = sim__req_param(r, name);
    if (v == NULL) {
        return def;
    }
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcasecmp(v, "y") == 0 ||
           strcasecmp(v, "t") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0;
}

void sim__req_error(struct sim_req *r, int status, const char *reason, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->reason = reason;
    sim__buf_reset(&r->body_out);
    SIM_LIT(&r->body_out, "{\"message\":");
    sim__buf_jstr(&r->body_out, msg);
    sim__buf_putc(&r->body_out, '}');
}

void sim__req_nocontent(struct sim_req *r)
{
    r->status = 204;
    r->reason = "No Content";
    sim__buf_reset(&r->body_out);
}

void sim__req_ok(struct sim_req *r)
{
    r->status = 200;
    r->reason = "OK";
    sim__buf_reset(&r->body_out);
}

void sim__req_created(struct sim_req *r, const char *location)
{
    r->status = 201;
    r->reason = "Created";
    sim__buf_reset(&r->body_out);
    sim__buf_printf(&r->hdr, "Location: /ari%s\r\n", location);
}

void sim__req_alloc_failed(struct sim_req *r)
{
    r->status = 500;
    r->reason = "Internal Server Error";
    sim__buf_reset(&r->body_out);
    SIM_LIT(&r->body_out, "{\"error\":\"Allocation failed\"}");
}

/* ---------------------------------------------------------------------- */
/* Responses */

static void http_date(char *buf, size_t len)
{
    static time_t cached_at = -1;
    static char cached[64];
    time_t now = (time_t)(clock_wall_us() / 1000000);
    struct tm tm;

    if (now == cached_at) {
        snprintf(buf, len, "%s", cached);
        return;
    }
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

    gmtime_r(&now, &tm);
    snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_at = now;
    snprintf(buf, len, "%s", cached);
}

/* Builds the whole response into conn->resp. */
static void build_response(struct sim_conn *cn, int status, const char *reason,
                           const struct sim_buf *hdr, const char *ctype, const char *body,
                           size_t blen, int head_only)
{
    struct sim *s = cn->sim;
    struct sim_buf *b = &cn->resp;
    char date[64];

    http_date(date, sizeof(date));
    sim__buf_reset(b);
    sim__buf_reserve(b, LWS_PRE + 512 + blen);
    b->len = LWS_PRE;
    sim__buf_printf(b, "HTTP/1.1 %d %s\r\nServer: Asterisk/%s\r\nDate: %s\r\n", status,
                    reason ? reason : "OK", s->version, date);
    if (cn->conn_close) {
        SIM_LIT(b, "Connection: close\r\n");
    }
    SIM_LIT(b, "Cache-Control: no-cache, no-store\r\n");
    if (hdr != NULL && hdr->len > 0) {
        sim__buf_put(b, hdr->p, hdr->len);
    }
    if (blen > 0 && ctype != NULL) {
        sim__buf_printf(b, "Content-type: %s\r\n", ctype);
    }
    sim__buf_printf(b, "Content-Length: %zu\r\n\r\n", blen);
    if (!head_only && blen > 0) {
        sim__buf_put(b, body, blen);
    }
    if (status >= 400 && status < 500) {
        s->stats.http_4xx++;
    }
}

/* Writes conn->resp now; returns what the lws callback must return. */
static int write_response(struct sim_conn *cn)
{
    struct sim_buf *b = &cn->resp;
    int n;

    cn->resp_ready = 0;
    n = lws_write(cn->wsi, (unsigned char *)b->p + LWS_PRE, b->len - LWS_PRE, LWS_WRITE_HTTP_FINAL);
    sim__buf_reset(b);
    if (n < 0) {
        return -1;
    }
    if (lws_http_transaction_completed(cn->wsi)) {
        return -1;
    }
    return 0;
}

static void delay_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_conn *cn = SIM_CONTAINER_OF(t, struct sim_conn, t_delay);
    (void)s;
    cn->delayed = 0;
    cn->resp_ready = 1;
    lws_callback_on_writable(cn->wsi);
}

/* Sends now, or after the fault delay. */
static int send_response(struct sim_conn *cn)
{
    struct sim *s = cn->sim;

    if (s->delay_ms > 0) {
        cn->delayed = 1;
        sim__timer_init(&cn->t_delay, delay_cb);
        sim__timer_at(s, &cn->t_delay, clock_mono_us() + s->delay_ms * 1000);
        lws_set_timeout(cn->wsi, NO_PENDING_TIMEOUT, 0);
        return 0;
    }
    return write_response(cn);
}

static void html_error(struct sim_conn *cn, int status, const char *title, const char *text,
                       const struct sim_buf *extra)
{
    struct sim_buf body, hdr;

    sim__buf_init(&body);
    sim__buf_init(&hdr);
    sim__buf_printf(&body,
                    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n"
                    "<title>%d %s</title>\r\n</head><body>\r\n<h1>%s</h1>\r\n<p>%s</p>\r\n"
                    "<hr />\r\n<address>Asterisk/%s</address>\r\n</body></html>\r\n",
                    status, title, title, text ? text : "", cn->sim->version);
    if (extra != NULL) {
        sim__buf_put(&hdr, extra->p, extra->len);
    }
    build_response(cn, status, title, &hdr, "text/html", body.p, body.len, 0);
    sim__buf_fini(&body);
    sim__buf_fini(&hdr);
}

/* ---------------------------------------------------------------------- */
/* Parsing */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void url_decode(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *w++ = ' ';
        } else if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *w++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

static void parse_form(struct sim_req *r, const char *body, size_t len)
{
    char *copy = arena_strndup(&r->arena, body, len);
    char *save = NULL;

    if (copy == NULL) {
        abort();
    }
    for (char *kv = strtok_r(copy, "&", &save); kv != NULL; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq != NULL) {
            *eq = '\0';
        }
        url_decode(kv);
        if (eq != NULL) {
            url_decode(eq + 1);
        }
        add_param(r, kv, eq ? eq + 1 : "");
    }
}

static void add_query(struct sim_req *r, const struct sim_buf *args)
{
    for (size_t off = 0; off < args->len;) {
        const char *kv = args->p + off;
        size_t n = strlen(kv);
        const char *eq = strchr(kv, '=');
        if (n > 0) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - kv : (long)n), kv);
            add_param(r, name, eq ? eq + 1 : "");
        }
        off += n + 1;
    }
}

/* JSON body: scalar keys act as query parameters (variables/fields stay in the body). */
static void add_json_params(struct sim_req *r, json_t *body)
{
    const char *k;
    json_t *v;

    if (!json_is_object(body)) {
        return;
    }
    json_object_foreach (body, k, v) {
        char num[64];
        if (strcmp(k, "variables") == 0 || strcmp(k, "fields") == 0) {
            continue;
        }
        if (json_is_string(v)) {
            add_param(r, k, json_string_value(v));
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            add_param(r, k, num);
        } else if (json_is_real(v)) {
            snprintf(num, sizeof(num), "%g", json_real_value(v));
            add_param(r, k, num);
        } else if (json_is_boolean(v)) {
            add_param(r, k, json_is_true(v) ? "true" : "false");
        } else if (json_is_array(v)) {
            /* An allowMultiple parameter sent as a list. */
            struct sim_buf j;
            size_t i;
            json_t *it;
            sim__buf_init(&j);
            json_array_foreach (v, i, it) {
                if (json_is_string(it)) {
                    if (j.len > 0) {
                        sim__buf_putc(&j, ',');
                    }
                    sim__buf_puts(&j, json_string_value(it));
                }
            }
            add_param(r, k, j.p ? j.p : "");
            sim__buf_fini(&j);
        }
    }
}

static int check_auth(struct sim *s, struct sim_conn *cn, const struct sim_req *r)
{
    char want[600];
    const char *key;

    snprintf(want, sizeof(want), "%s:%s", s->user, s->password);
    if (strncasecmp(cn->auth, "Basic ", 6) == 0) {
        char dec[600];
        int n = lws_b64_decode_string(cn->auth + 6, dec, sizeof(dec) - 1);
        if (n > 0) {
            dec[n] = '\0';
            if (strcmp(dec, want) == 0) {
                return 1;
            }
        }
    }
    key = r ? sim__req_param(r, "api_key") : NULL;
    if (key != NULL && strcmp(key, want) == 0) {
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* ARI dispatch */

static void req_init(struct sim_req *r, struct sim *s)
{
    memset(r, 0, sizeof(*r));
    r->s = s;
    arena_init(&r->arena, 2048);
    sim__buf_init(&r->hdr);
    sim__buf_init(&r->body_out);
    r->status = 0;
}

static void req_fini(struct sim_req *r)
{
    arena_fini(&r->arena);
    sim__buf_fini(&r->hdr);
    sim__buf_fini(&r->body_out);
    if (r->body != NULL) {
        json_decref(r->body);
    }
}

static void allow_header(struct sim_req *r, const struct sim_route *rt)
{
    SIM_LIT(&r->hdr, "Allow: OPTIONS");
    for (int m = 0; m < SIM_M_COUNT_; m++) {
        if (rt->nick[m] != NULL) {
            sim__buf_printf(&r->hdr, ",%s", mnames[m]);
        }
    }
    SIM_LIT(&r->hdr, "\r\n");
}

/* Runs one /ari request; fills r. Returns 1 if an HTML 426 must be sent instead. */
static int ari_invoke(struct sim *s, struct sim_conn *cn, struct sim_req *r, const char *path)
{
    char *segs[64];
    int nsegs = 0;
    char *copy, *save = NULL;
    const struct sim_route *rt;
    sim_handler *h;

    if (cn->origin[0] != '\0') {
        sim__buf_printf(&r->hdr, "Access-Control-Allow-Origin: %s\r\n", cn->origin);
        SIM_LIT(&r->hdr, "Access-Control-Allow-Credentials: true\r\n");
    }
    if (!check_auth(s, cn, r)) {
        sim__req_error(r, 401, "Unauthorized", "Authentication required");
        SIM_LIT(&r->hdr, "WWW-Authenticate: Basic realm=\"Asterisk REST Interface\"\r\n");
        return 0;
    }
    if (path[0] != '\0' && path[strlen(path) - 1] == '/') {
        char slashless[512];
        snprintf(slashless, sizeof(slashless), "%s", path + (path[0] == '/'));
        if (slashless[0] != '\0') {
            slashless[strlen(slashless) - 1] = '\0';
        }
        sim__req_error(r, 404, "Not Found", "ARI URLs do not end with a slash. Try /ari/%s",
                       slashless);
        return 0;
    }
    if (strncmp(path, "/api-docs/", 10) == 0) {
        if (r->method != SIM_M_GET) {
            sim__req_error(r, 405, "Method Not Allowed", "Unsupported method");
        } else {
            sim__apidocs_serve(r, path + 10);
        }
        return 0;
    }
    copy = arena_strdup(&r->arena, path);
    for (char *t = strtok_r(copy, "/", &save); t != NULL && nsegs < 64;
         t = strtok_r(NULL, "/", &save)) {
        segs[nsegs++] = t;
    }
    rt = nsegs > 0 ? sim__route_match(s, r, segs, nsegs) : NULL;
    if (rt == NULL) {
        sim__req_error(r, 404, "Not Found", "Resource not found");
        return 0;
    }
    if (r->method == SIM_M_OPTIONS) {
        allow_header(r, rt);
        r->status = 204;
        r->reason = "No Content";
        return 0;
    }
    if (rt->websocket && r->method == SIM_M_GET) {
        return 1;
    }
    r->nickname = rt->nick[r->method];
    if (r->nickname == NULL) {
        allow_header(r, rt);
        sim__req_error(r, 405, "Method Not Allowed", "Invalid method");
        return 0;
    }
    {
        char key[160];
        snprintf(key, sizeof(key), "%s.%s", rt->segs[0], r->nickname);
        h = sim__rest_handler(key);
    }
    if (h == NULL) {
        sim__req_error(r, 501, "Not Implemented", "Method not implemented");
        return 0;
    }
    r->path = path;
    h(r);
    if (r->status == 0) {
        sim__req_error(r, 501, "Not Implemented", "Method not implemented");
    }
    return 0;
}

/* Fills the request's parameters from query, form body and JSON body. */
static int req_params(struct sim *s, struct sim_conn *cn, struct sim_req *r)
{
    add_query(r, &cn->args);
    if (cn->body_too_big) {
        sim__req_error(r, 413, "Request Entity Too Large", "Request body too large");
        return -1;
    }
    if (cn->body.len == 0) {
        return 0;
    }
    if (strncasecmp(cn->ctype, "application/x-www-form-urlencoded", 33) == 0) {
        /* Form fields first; query parameters appended after them win. */
        struct sim_req tmp;
        req_init(&tmp, s);
        parse_form(&tmp, cn->body.p, cn->body.len);
        {
            int nq = r->nparams;
            struct sim_param *q = r->params;
            r->params = NULL;
            r->nparams = r->capparams = 0;
            for (int i = 0; i < tmp.nparams; i++) {
                add_param(r, tmp.params[i].name, tmp.params[i].value);
            }
            for (int i = 0; i < nq; i++) {
                add_param(r, q[i].name, q[i].value);
            }
        }
        req_fini(&tmp);
        return 0;
    }
    if (strncasecmp(cn->ctype, "application/json", 16) == 0) {
        json_error_t je;
        r->body = json_loadb(cn->body.p, cn->body.len, JSON_DECODE_ANY, &je);
        if (r->body == NULL) {
            sim__req_error(r, 400, "Bad Request", "Error parsing request body");
            return -1;
        }
        add_json_params(r, r->body);
    }
    return 0;
}

static int process(struct sim_conn *cn)
{
    struct sim *s = cn->sim;
    struct sim_req r;
    const char *uri = cn->uri ? cn->uri : "/";
    int rc;

    s->stats.http_requests++;
    req_init(&r, s);
    r.method = cn->method;
    r.host = cn->host;

    if (strncmp(uri, "/_sim/", 6) == 0 || strcmp(uri, "/_sim") == 0) {
        if (req_params(s, cn, &r) == 0) {
            sim__control(s, cn->method, uri + 5, &r);
        }
        build_response(cn, r.status, r.reason, &r.hdr, "application/json", r.body_out.p,
                       r.body_out.len, 0);
        req_fini(&r);
        rc = write_response(cn); /* control answers are never delayed */
        sim__reap(s);
        return rc;
    }
    if (strcmp(uri, "/ari") != 0 && strncmp(uri, "/ari/", 5) != 0) {
        html_error(cn, 404, "Not Found", "The requested URL was not found on this server.", NULL);
        req_fini(&r);
        return send_response(cn);
    }
    if (clock_mono_us() < s->fail_until_us) {
        s->stats.http_5xx_injected++;
        if (s->fail_status == 503) {
            sim__req_error(&r, 503, "Service Unavailable", "Asterisk not booted");
        } else {
            sim__req_error(&r, s->fail_status, "Internal Server Error", "Internal Server Error");
        }
    } else if (req_params(s, cn, &r) == 0) {
        if (ari_invoke(s, cn, &r, uri + 4) == 1) {
            html_error(cn, 426, "Upgrade Required", NULL, NULL);
            req_fini(&r);
            return send_response(cn);
        }
    }
    build_response(cn, r.status, r.reason, &r.hdr, r.body_out.len > 0 ? "application/json" : NULL,
                   r.body_out.p, r.body_out.len, cn->method == SIM_M_HEAD);
    req_fini(&r);
    rc = send_response(cn);
    sim__reap(s);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* libwebsockets callback */

static void copy_hdr(struct lws *wsi, enum lws_token_indexes tok, char *dst, size_t len)
{
    dst[0] = '\0';
    if (lws_hdr_total_length(wsi, tok) > 0 && lws_hdr_copy(wsi, dst, (int)len, tok) < 0) {
        dst[0] = '\0';
    }
}

static int method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        int m;
    } tab[] = {
        { WSI_TOKEN_GET_URI, SIM_M_GET },         { WSI_TOKEN_POST_URI, SIM_M_POST },
        { WSI_TOKEN_PUT_URI, SIM_M_PUT },         { WSI_TOKEN_DELETE_URI, SIM_M_DELETE },
        { WSI_TOKEN_OPTIONS_URI, SIM_M_OPTIONS }, { WSI_TOKEN_PATCH_URI, SIM_M_PATCH },
        { WSI_TOKEN_HEAD_URI, SIM_M_HEAD },
    };

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (lws_hdr_total_length(wsi, tab[i].tok) > 0) {
            return tab[i].m;
        }
    }
    return SIM_M_GET;
}

static void conn_reset(struct sim_conn *cn)
{
    free(cn->uri);
    cn->uri = NULL;
    sim__buf_reset(&cn->args);
    sim__buf_reset(&cn->body);
    cn->body_too_big = 0;
    cn->body_expected = 0;
}

/* Releases everything a session holds; safe to call more than once. */
static void conn_cleanup(struct sim_conn *cn)
{
    if (cn->delayed && cn->sim != NULL) {
        sim__timer_stop(cn->sim, &cn->t_delay);
        cn->delayed = 0;
    }
    if (cn->ws != NULL) {
        sim__ws_closed(cn->ws);
        cn->ws = NULL;
    }
    free(cn->ws_apps);
    cn->ws_apps = NULL;
    conn_reset(cn);
    sim__buf_fini(&cn->args);
    sim__buf_fini(&cn->body);
    sim__buf_fini(&cn->resp);
}

static void conn_capture(struct sim *s, struct sim_conn *cn, struct lws *wsi, const char *uri)
{
    char conn_hdr[64];
    char frag[4096];

    cn->sim = s;
    cn->wsi = wsi;
    conn_reset(cn);
    cn->uri = strdup(uri ? uri : "/");
    if (cn->uri == NULL) {
        abort();
    }
    cn->method = method_of(wsi);
    copy_hdr(wsi, WSI_TOKEN_HOST, cn->host, sizeof(cn->host));
    copy_hdr(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, cn->auth, sizeof(cn->auth));
    copy_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, cn->ctype, sizeof(cn->ctype));
    copy_hdr(wsi, WSI_TOKEN_ORIGIN, cn->origin, sizeof(cn->origin));
    copy_hdr(wsi, WSI_TOKEN_CONNECTION, conn_hdr, sizeof(conn_hdr));
    cn->conn_close = strcasestr(conn_hdr, "close") != NULL;
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
         i++) {
        sim__buf_put(&cn->args, frag, strlen(frag) + 1);
    }
}

static int has_body(struct lws *wsi)
{
    char cl[32];

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        return 1;
    }
    copy_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl));
    return strtol_dec(cl) > 0;
}

/* The events socket upgrade: auth, app=, faults. Returns 0 to accept. */
static int confirm_upgrade(struct sim *s, struct sim_conn *cn)
{
    struct sim_req r;
    int rc = 0;

    req_init(&r, s);
    add_query(&r, &cn->args);
    if (clock_mono_us() < s->refuse_until_us) {
        s->stats.ws_refused++;
        req_fini(&r);
        return -1;
    }
    if (clock_mono_us() < s->fail_until_us) {
        sim__req_error(&r, 503, "Service Unavailable", "Asterisk not booted");
        rc = 1;
    } else if (strcmp(cn->uri, "/ari/events") != 0) {
        /* Not the events path: answer it as a normal request. */
        req_fini(&r);
        return 2;
    } else if (!check_auth(s, cn, &r)) {
        sim__req_error(&r, 401, "Unauthorized", "Authentication required");
        SIM_LIT(&r.hdr, "WWW-Authenticate: Basic realm=\"Asterisk REST Interface\"\r\n");
        rc = 1;
    } else {
        const char *apps = sim__req_param(&r, "app");
        if (apps == NULL || apps[0] == '\0') {
            html_error(cn, 400, "Bad Request", "HTTP request is missing param: [app]", NULL);
            s->stats.ws_refused++;
            req_fini(&r);
            return 1;
        }
    }
    if (rc == 1) {
        s->stats.ws_refused++;
        build_response(cn, r.status, r.reason, &r.hdr, "application/json", r.body_out.p,
                       r.body_out.len, 0);
    }
    req_fini(&r);
    return rc;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct sim_conn *cn = user;
    struct sim *s = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (clock_mono_us() < s->refuse_until_us) {
            /* Reset the connection: linger 0 turns close() into RST. */
            struct linger lg = { 1, 0 };
            int fd = (int)(intptr_t)in;
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            s->stats.conn_refused++;
            return 1;
        }
        return 0;

    case LWS_CALLBACK_HTTP:
        conn_capture(s, cn, wsi, in);
        if (has_body(wsi)) {
            cn->body_expected = 1;
            return 0;
        }
        return process(cn);

    case LWS_CALLBACK_HTTP_BODY:
        if (cn->body.len + len > (size_t)s->body_limit) {
            cn->body_too_big = 1;
        } else {
            sim__buf_put(&cn->body, in, len);
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        cn->body_expected = 0;
        return process(cn);

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (cn != NULL && cn->resp_ready) {
            return write_response(cn);
        }
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* The session memory may not exist yet: work on a stack copy. */
        struct sim_conn tmp;
        memset(&tmp, 0, sizeof(tmp));
        struct sim_conn *c2 = cn != NULL ? cn : &tmp;
        int rc;
        char uri[1024];

        if (strcasecmp((const char *)in, "websocket") != 0) {
            return 0;
        }
        if (cn == NULL) {
            memset(&tmp, 0, sizeof(tmp));
        }
        copy_hdr(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri));
        conn_capture(s, c2, wsi, uri);
        rc = confirm_upgrade(s, c2);
        if (rc == 2) {
            /* Not the events path: answered as a plain request. */
            int prc;
            prc = cn != NULL ? process(cn) : -1;
            rc = prc < 0 ? -1 : 1;
        } else if (rc == 1) {
            struct sim_buf *b = &c2->resp;
            if (lws_write(wsi, (unsigned char *)b->p + LWS_PRE, b->len - LWS_PRE,
                          LWS_WRITE_HTTP_FINAL) < 0) {
                rc = -1;
            }
        }
        if (c2 == &tmp) {
            conn_reset(&tmp);
            free(tmp.ws_apps);
            sim__buf_fini(&tmp.args);
            sim__buf_fini(&tmp.body);
            sim__buf_fini(&tmp.resp);
        } else {
            sim__buf_reset(&c2->resp);
        }
        return rc;
    }

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        /* Session memory exists now: keep what the socket registers. */
        struct sim_req r;
        char uri[1024];
        copy_hdr(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri));
        conn_capture(s, cn, wsi, uri);
        req_init(&r, s);
        add_query(&r, &cn->args);
        free(cn->ws_apps);
        cn->ws_apps = strdup(sim__req_param(&r, "app") ?: "");
        cn->ws_subscribe_all = sim__req_bool(&r, "subscribeAll", 0);
        req_fini(&r);
        return cn->ws_apps == NULL ? -1 : 0;
    }

    case LWS_CALLBACK_ESTABLISHED:
        cn->sim = s;
        cn->wsi = wsi;
        cn->ws = sim__ws_new(s, wsi, cn->ws_apps ? cn->ws_apps : "", cn->ws_subscribe_all);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (cn->ws != NULL) {
            return sim__ws_writable(cn->ws);
        }
        return 0;

    case LWS_CALLBACK_RECEIVE:
        /* Clients do not send anything the simulator needs. */
        return 0;

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
        if (cn != NULL) {
            conn_cleanup(cn);
        }
        return 0;

    default:
        return 0;
    }
}

static struct lws_protocols protocols[] = {
    { "ari", callback, sizeof(struct sim_conn), 65536, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

int sim__http_start(struct sim *s)
{
    struct lws_context_creation_info info;
    void *loops[1] = { s->loop };

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = (int)s->port;
    info.iface = s->bind;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = loops;
    info.user = s;
    info.timeout_secs = 60;
    info.keepalive_timeout = 15; /* Asterisk: session_keep_alive 15000 ms */
    info.pt_serv_buf_size = 32768;
    info.max_http_header_data = 8192;
    s->lws = lws_create_context(&info);
    if (s->lws == NULL) {
        LOG_ERR(SIM, "event=listen_failed bind=%s port=%d", s->bind, (int)s->port);
        return -1;
    }
    s->vhost = lws_get_vhost_by_name(s->lws, "default");
    s->port = s->vhost ? lws_get_vhost_listen_port(s->vhost) : s->port;
    return 0;
}

void sim__http_stop(struct sim *s)
{
    if (s->lws != NULL) {
        lws_context_destroy(s->lws);
        s->lws = NULL;
    }
}
