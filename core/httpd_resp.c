/* SPDX-License-Identifier: MIT */
/*
 * httpd_resp: responses -- building them, writing them, ending the request.
 *
 * A response is a head (status line and headers, formatted into the
 * request's arena) and a body (a malloc'd buffer we own, or an open file for
 * static assets). Answering only records it and asks lws for a writeable
 * callback; the writer then hands lws at most HTTPD_WBUF_SIZE bytes per
 * callback (head and body packed together into one server-wide buffer with
 * LWS_PRE headroom), so a large body never sits twice in memory and a slow
 * client only holds what the kernel and lws have buffered for it.
 *
 * When the last byte is handed over, the request ends: one access-log line,
 * the status-class counter, and the connection is either reused (lws goes
 * back to reading a head), closed, or -- when we answered before the client
 * finished sending its body -- kept open briefly to read and drop up to
 * HTTPD_LINGER_BYTES of that body, so the client gets our answer rather than
 * a reset (lws lets us close only after the body or when we give up).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/httpd_int.h"
#include "core/log.h"

static const struct {
    int status;
    const char *text;
} status_texts[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 204, "No Content" },
    { 206, "Partial Content" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 410, "Gone" },
    { 411, "Length Required" },
    { 412, "Precondition Failed" },
    { 413, "Content Too Large" },
    { 415, "Unsupported Media Type" },
    { 422, "Unprocessable Content" },
    { 426, "Upgrade Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
};

const char *httpd__status_text(int status)
{
    for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++) {
        if (status_texts[i].status == status) {
            return status_texts[i].text;
        }
    }
    return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

char *httpd__error_body(const char *code, const char *message, const char *field, size_t *len)
{
    json_t *err = json_object();
    json_t *root = json_object();
    char *s = NULL;

    if (err == NULL || root == NULL ||
        json_object_set_new(err, "code", json_string(code != NULL ? code : "error")) != 0 ||
        json_object_set_new(err, "message", json_string(message != NULL ? message : "")) != 0 ||
        (field != NULL && json_object_set_new(err, "field", json_string(field)) != 0)) {
        json_decref(err);
        json_decref(root);
        return NULL;
    }
    if (json_object_set_new(root, "error", err) == 0) {
        s = json_dumps(root, JSON_COMPACT);
    }
    json_decref(root);
    if (s != NULL) {
        *len = strlen(s);
    }
    return s;
}

void httpd__resp_clear(struct httpd_resp *r)
{
    free(r->body);
    r->body = NULL;
    if (r->fd != -1) {
        close(r->fd);
        r->fd = -1;
    }
}

/* Header values we accept from handlers: no CR, LF or NUL can split the head. */
static bool header_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strpbrk(s, "\r\n") == NULL;
}

/* Formats the head; NULL on OOM. extra is "Name: value\r\n"... or NULL. */
static char *build_head(struct httpd_req *req, int status, const char *ctype, int64_t len,
                        const char *extra, bool no_store, bool conn_close, size_t *hlen)
{
    char cl[48] = "";
    char *head;

    if (status >= 200 && status != 204 && status != 304) {
        snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", (long long)len);
    }
    head = arena_sprintf(
        &req->arena, "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s%sX-Request-Id: %s\r\n%s%s%s\r\n", status,
        httpd__status_text(status), httpd__date(req->h), ctype != NULL ? "Content-Type: " : "",
        ctype != NULL ? ctype : "", ctype != NULL ? "\r\n" : "", cl, req->rid,
        no_store ? "Cache-Control: no-store\r\n" : "", conn_close ? "Connection: close\r\n" : "",
        extra != NULL ? extra : "");
    if (head != NULL) {
        *hlen = strlen(head);
    }
    return head;
}

/* Records the response and schedules the write. body/fd are taken. */
static int answer(struct httpd_req *req, int status, const char *ctype, unsigned char *body,
                  size_t len, int fd, int64_t flen, const char *extra, bool no_store)
{
    struct httpd_conn *c = req->conn;
    struct httpd_resp *r = &req->resp;
    bool must_close;

    if (req->answered || req->dropped || c == NULL) {
        free(body);
        if (fd != -1) {
            close(fd);
        }
        return ERR_CLOSED;
    }
    must_close =
        req->close || c->closing || req->h->draining || req->lws_body_pending || req->is_ws;
    req->answered = true;
    if (req->sink == HTTPD_SINK_STREAM && !req->body_done) {
        /* Answered before the end of a streaming body: the rest is dropped. */
        req->sink = HTTPD_SINK_DISCARD;
        req->paused = false;
        req->end_pending = false;
        free(req->stash);
        req->stash = NULL;
        req->stash_len = 0;
        ev_timer_stop(req->h->loop, &req->resume_w);
    }
    r->status = status;
    r->body = body;
    r->body_len = len;
    r->fd = fd;
    r->file_len = flen;
    r->close = must_close;
    r->no_body = req->head_only || status < 200 || status == 204 || status == 304;
    r->head = build_head(req, status, ctype, fd != -1 ? flen : (int64_t)len, extra, no_store,
                         must_close, &r->head_len);
    if (r->head == NULL) {
        /* Out of memory for a few hundred bytes: give up on the connection. */
        httpd__resp_clear(r);
        httpd__conn_kill(c);
        return ERR_NOMEM;
    }
    if (!req->is_ws && c->wsi != NULL) {
        /* lws must read to see POLLOUT; our watcher covers the client leaving. */
        httpd__rx(c, true);
        httpd__live_start(req);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                        (int)((req->h->cfg.io_timeout_ms + 999) / 1000));
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

int httpd__respond(struct httpd_req *req, int status, const char *ctype, unsigned char *body,
                   size_t len, const char *extra_headers, bool no_store)
{
    return answer(req, status, ctype, body, len, -1, 0, extra_headers, no_store);
}

int httpd__respond_file(struct httpd_req *req, int status, const char *ctype, int fd, int64_t size,
                        const char *extra_headers)
{
    return answer(req, status, ctype, NULL, 0, fd, size, extra_headers, false);
}

void httpd__fail(struct httpd_req *req, int status, const char *code, const char *message)
{
    size_t len = 0;
    char *body;

    if (req->answered || req->dropped || req->conn == NULL) {
        return;
    }
    body = httpd__error_body(code, message, NULL, &len);
    if (body == NULL) {
        len = 0;
    }
    answer(req, status, body != NULL ? "application/json" : NULL, (unsigned char *)body, len, -1, 0,
           NULL, true);
}

/* ---------------------------------------------------------------------- */
/* Public respond functions                                                */
/* ---------------------------------------------------------------------- */

/*
 * The handler gives up its hold. Returns 0 when a response may be sent,
 * ERR_CLOSED when it would go nowhere, ERR_CONFLICT when the handler did not
 * hold the request (answered twice).
 */
static int release_hold(struct httpd_req *req)
{
    if (!req->held) {
        LOG_ERR(HTTPD, "event=respond_without_hold server=%s rid=%s", req->h->cfg.name, req->rid);
        return ERR_CONFLICT;
    }
    httpd__unhold(req);
    if (req->answered || req->dropped || req->conn == NULL) {
        return ERR_CLOSED;
    }
    return 0;
}

int httpd_respond_raw(struct httpd_req *req, int status, const char *content_type, const void *body,
                      size_t len, const struct httpd_header *headers, size_t n)
{
    unsigned char *copy = NULL;
    char *extra = NULL;
    size_t elen = 0, off = 0;
    int rc = release_hold(req);

    if (rc != 0) {
        goto done;
    }
    if (status < 100 || status > 599 || (content_type != NULL && !header_ok(content_type)) ||
        (body == NULL && len > 0)) {
        rc = ERR_INVAL;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!header_ok(headers[i].name) || !header_ok(headers[i].value) ||
            strchr(headers[i].name, ':') != NULL) {
            rc = ERR_INVAL;
            goto fail;
        }
        elen += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    }
    if (n > 0) {
        extra = arena_alloc(&req->arena, elen + 1);
        if (extra == NULL) {
            rc = ERR_NOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            off += (size_t)snprintf(extra + off, elen + 1 - off, "%s: %s\r\n", headers[i].name,
                                    headers[i].value);
        }
    }
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            rc = ERR_NOMEM;
            goto fail;
        }
        memcpy(copy, body, len);
    }
    rc = httpd__respond(req, status, content_type, copy, len, extra,
                        extra == NULL || strcasestr(extra, "cache-control:") == NULL);
    goto done;
fail:
    LOG_ERR(HTTPD, "event=bad_response server=%s rid=%s err=%s", req->h->cfg.name, req->rid,
            err_name(rc));
    httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
done:
    httpd__req_maybe_free(req);
    return rc;
}

int httpd_respond_json(struct httpd_req *req, int status, json_t *body)
{
    char *s = NULL;
    int rc = release_hold(req);

    if (rc != 0) {
        json_decref(body);
        httpd__req_maybe_free(req);
        return rc;
    }
    if (status < 100 || status > 599) {
        rc = ERR_INVAL;
    } else if (body != NULL) {
        s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s == NULL) {
            rc = ERR_NOMEM;
        }
    }
    json_decref(body);
    if (rc != 0) {
        LOG_ERR(HTTPD, "event=bad_response server=%s rid=%s err=%s", req->h->cfg.name, req->rid,
                err_name(rc));
        httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
    } else {
        rc = httpd__respond(req, status, s != NULL ? "application/json" : NULL, (unsigned char *)s,
                            s != NULL ? strlen(s) : 0, NULL, true);
    }
    httpd__req_maybe_free(req);
    return rc;
}

int httpd_error(struct httpd_req *req, int status, const char *code, const char *message,
                const char *field)
{
    size_t len = 0;
    char *body;
    int rc = release_hold(req);

    if (rc == 0) {
        body = httpd__error_body(code, message, field, &len);
        if (body == NULL) {
            rc = ERR_NOMEM;
            httpd__fail(req, HTTPD_STATUS_INTERNAL_ERROR, "internal_error", "internal error");
        } else {
            rc = httpd__respond(req, status, "application/json", (unsigned char *)body, len, NULL,
                                true);
        }
    }
    httpd__req_maybe_free(req);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Writing                                                                 */
/* ---------------------------------------------------------------------- */

void httpd__access_log(struct httpd_req *req, int status, int64_t bytes)
{
    struct httpd *h = req->h;

    if (h->cfg.no_access_log) {
        return;
    }
    LOG_INFO(HTTPD,
             "event=access server=%s method=%s path=\"%s\" status=%d bytes=%lld dur_us=%lld "
             "rid=%s client=%s",
             h->cfg.name, req->method_name != NULL ? req->method_name : "?",
             httpd__log_escape(&req->arena, req->path != NULL ? req->path : "?"), status,
             (long long)bytes, (long long)(clock_mono_us() - req->start_us),
             req->rid != NULL ? req->rid : "-", req->client);
}

void httpd__req_finish(struct httpd_req *req)
{
    struct httpd_resp *r = &req->resp;
    int cls = r->status / 100;

    if (!req->finished) {
        int64_t bytes = r->no_body ? 0 : (r->fd != -1 ? r->file_len : (int64_t)r->body_len);
        httpd__access_log(req, r->status, bytes);
        req->finished = true;
        counter_dec(&httpd__c_in_flight);
        counter_inc(&httpd__c_class[cls >= 1 && cls <= 5 ? cls : 0]);
    }
    httpd__live_stop(req);
    if (req->conn != NULL) {
        req->conn->req = NULL;
        req->conn = NULL;
    }
    httpd__resp_clear(r);
    httpd__req_maybe_free(req);
}

/* Packs the next piece of head and body into out. Returns its length, or -errno. */
static ssize_t fill(struct httpd_resp *r, unsigned char *out, size_t size)
{
    size_t n = 0;

    if (r->head_off < r->head_len) {
        n = r->head_len - r->head_off;
        if (n > size) {
            n = size;
        }
        memcpy(out, r->head + r->head_off, n);
        r->head_off += n;
    }
    if (r->no_body || n == size) {
        return (ssize_t)n;
    }
    if (r->fd != -1) {
        if (r->file_off < r->file_len) {
            ssize_t m = httpd__static_read(r, out + n, size - n);
            if (m < 0) {
                return m;
            }
            n += (size_t)m;
        }
    } else if (r->body_off < r->body_len) {
        size_t m = r->body_len - r->body_off;
        if (m > size - n) {
            m = size - n;
        }
        memcpy(out + n, r->body + r->body_off, m);
        r->body_off += m;
        n += m;
    }
    return (ssize_t)n;
}

static bool resp_done(const struct httpd_resp *r)
{
    if (r->head_off < r->head_len) {
        return false;
    }
    if (r->no_body) {
        return true;
    }
    return r->fd != -1 ? r->file_off >= r->file_len : r->body_off >= r->body_len;
}

int httpd__on_writeable(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    struct httpd_req *req = c->req;
    struct httpd_resp *r;
    unsigned char *out = h->wbuf + LWS_PRE;
    ssize_t n;
    bool linger, must_close;
    int64_t req_discarded;

    if (req == NULL || !req->answered) {
        return 0; /* lws asks on its own, e.g. after a keep-alive transaction */
    }
    r = &req->resp;
    n = fill(r, out, HTTPD_WBUF_SIZE);
    if (n < 0) {
        LOG_ERRNO(WARN, HTTPD, (int)-n, "event=file_read_failed server=%s rid=%s", h->cfg.name,
                  req->rid);
        return -1;
    }
    if (n > 0 && lws_write(c->wsi, out, (size_t)n, LWS_WRITE_HTTP) < n) {
        return -1;
    }
    if (!resp_done(r)) {
        /* A client that stops reading is dropped after io_timeout. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                        (int)((h->cfg.io_timeout_ms + 999) / 1000));
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    /* The client is still sending a body we refused, and will read our
     * answer only if we do not reset the connection under it. */
    linger = !req->body_done && req->body_mode != HTTPD_BODY_NONE && !req->expect_continue &&
             req->lws_body_pending;
    must_close = r->close || req->lws_body_pending || c->closing;
    req_discarded = req->discarded;
    httpd__req_finish(req);
    if (linger) {
        c->discarding = true;
        c->discard_left = HTTPD_LINGER_BYTES - req_discarded;
        c->discard_until = clock_mono_us() + HTTPD_LINGER_SECS * CLOCK_US_PER_SEC;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTPD_LINGER_SECS);
        return 0;
    }
    if (must_close) {
        return -1;
    }
    httpd__conn_mark_rx(c);
    if (lws_http_transaction_completed(c->wsi) != 0) {
        return -1;
    }
    return 0;
}

void httpd__write_now(struct httpd_req *req, struct lws *wsi)
{
    struct httpd *h = req->h;
    struct httpd_resp *r = &req->resp;
    unsigned char *out = h->wbuf + LWS_PRE;

    /* lws keeps whatever the socket does not take and sends it before it
     * closes; used for refusals and before a forced close, so small. */
    while (req->answered && !resp_done(r)) {
        ssize_t n = fill(r, out, HTTPD_WBUF_SIZE);
        if (n <= 0 || lws_write(wsi, out, (size_t)n, LWS_WRITE_HTTP_HEADERS) < n) {
            break;
        }
    }
    httpd__req_finish(req);
}
