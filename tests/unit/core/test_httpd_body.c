/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/httpd request bodies: streaming with flow control (a
 * 50 MB upload that never sits in memory), chunked decoding, limits on
 * streaming routes, early refusals that the client still gets to read,
 * Expect: 100-continue, and framing errors sent over raw sockets.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/httpd.h"
#include "core/mpsc.h"
#include "tests/unit/core/test_httpd_util.h"

static struct httpd *srv;
static char base[64];
static atomic_int g_abort_reason;

/* ---------------------------------------------------------------------- */
/* Streaming handlers                                                      */
/* ---------------------------------------------------------------------- */

struct upload {
    struct httpd_req *req;
    ev_timer resume;
    uint64_t bytes;
    uint64_t fnv;
    size_t max_chunk;
    unsigned chunks;
    unsigned pauses;
    bool paused;
    int fail_after;     /* on_chunk fails after this many bytes (0: never) */
    int reject_after;   /* on_chunk answers 422 after this many bytes */
    bool answer_paused; /* answer from the resume timer instead of resuming */
};

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    }
    return h;
}

static void upload_abort(struct httpd_req *req, int reason, void *arg)
{
    struct upload *u = arg;
    atomic_store(&g_abort_reason, reason);
    ev_timer_stop(httpd_loop(httpd_req_server(req)), &u->resume);
    httpd_req_set_data(req, NULL);
    httpd_respond_json(req, HTTPD_STATUS_OK, NULL); /* dropped; releases the handle */
    free(u);
}

static void upload_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upload *u = CONTAINER_OF(w, struct upload, resume);
    (void)loop;
    (void)revents;
    if (u->answer_paused) {
        /* Enough seen: answer while paused; the rest of the body is dropped. */
        struct httpd_req *req = u->req;
        httpd_req_on_abort(req, NULL, NULL);
        httpd_respond_json(req, HTTPD_STATUS_ACCEPTED,
                           json_pack("{sI}", "seen", (json_int_t)u->bytes));
        free(u);
        return;
    }
    u->paused = false;
    httpd_req_resume(u->req);
}

static int h_upload(struct httpd_req *req, void *arg)
{
    struct upload *u = calloc(1, sizeof(*u));
    const char *fail = httpd_req_query(req, "fail_after");
    const char *rej = httpd_req_query(req, "reject_after");
    (void)arg;

    if (httpd_req_header(req, "X-Refuse") != NULL) {
        free(u);
        httpd_error(req, HTTPD_STATUS_UNAUTHORIZED, "unauthorized", "no token", NULL);
        return HTTPD_DONE;
    }
    u->req = req;
    u->fnv = UINT64_C(14695981039346656037);
    u->fail_after = fail != NULL ? atoi(fail) : 0;
    u->reject_after = rej != NULL ? atoi(rej) : 0;
    u->answer_paused = httpd_req_query(req, "answer_paused") != NULL;
    ev_timer_init(&u->resume, upload_resume, 0.001, 0.);
    httpd_req_set_data(req, u);
    httpd_req_on_abort(req, upload_abort, u);
    return HTTPD_DEFERRED;
}

static int upload_chunk(struct httpd_req *req, const void *data, size_t len, void *arg)
{
    struct upload *u = httpd_req_data(req);
    (void)arg;

    assert_false(u->paused); /* nothing arrives while paused */
    u->bytes += len;
    u->chunks++;
    if (len > u->max_chunk) {
        u->max_chunk = len;
    }
    u->fnv = fnv1a(u->fnv, data, len);
    if (u->fail_after > 0 && u->bytes >= (uint64_t)u->fail_after) {
        httpd_req_on_abort(req, NULL, NULL);
        free(u);
        return ERR_IO;
    }
    if (u->reject_after > 0 && u->bytes >= (uint64_t)u->reject_after) {
        httpd_req_on_abort(req, NULL, NULL);
        free(u);
        httpd_error(req, HTTPD_STATUS_UNPROCESSABLE, "bad_row", "row 7 is bad", "phone");
        return HTTPD_DONE;
    }
    if (u->chunks % 8 == 0) {
        /* Flow control: stop the sender for a moment. */
        u->paused = true;
        u->pauses++;
        ev_timer_start(httpd_loop(httpd_req_server(req)), &u->resume);
        return HTTPD_PAUSE;
    }
    return HTTPD_DONE;
}

static void upload_end(struct httpd_req *req, void *arg)
{
    struct upload *u = httpd_req_data(req);
    char fnv[32];
    (void)arg;

    snprintf(fnv, sizeof(fnv), "%016llx", (unsigned long long)u->fnv);
    httpd_respond_json(req, HTTPD_STATUS_OK,
                       json_pack("{sIsssIsIsI}", "bytes", (json_int_t)u->bytes, "fnv", fnv,
                                 "max_chunk", (json_int_t)u->max_chunk, "pauses",
                                 (json_int_t)u->pauses, "chunks", (json_int_t)u->chunks));
    free(u);
}

static int h_echo_len(struct httpd_req *req, void *arg)
{
    size_t len = 0;
    const char *b = httpd_req_body(req, &len);
    (void)arg;
    httpd_respond_json(
        req, HTTPD_STATUS_OK,
        json_pack("{sIss#}", "len", (json_int_t)len, "body", b, len < 64 ? len : 64));
    return HTTPD_DONE;
}

/* clang-format off */
static const struct httpd_route routes[] = {
    { .methods = HTTPD_POST | HTTPD_PUT, .pattern = "/upload", .handler = h_upload,
      .on_chunk = upload_chunk, .on_end = upload_end },
    { .methods = HTTPD_POST, .pattern = "/upload-small", .handler = h_upload,
      .on_chunk = upload_chunk, .on_end = upload_end, .max_body = 1000 },
    { .methods = HTTPD_POST, .pattern = "/echo", .handler = h_echo_len },
};

/* clang-format on */

static int setup(void **state)
{
    struct httpd_config cfg = { .name = "body", .max_body_bytes = 1024 };
    (void)state;
    srv = httpd_create(&cfg, routes, sizeof(routes) / sizeof(routes[0]));
    if (srv == NULL || httpd_start(srv) != 0) {
        return -1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", httpd_port(srv));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpd_stop(srv);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* A generated upload: bytes made on the fly, never all in memory          */
/* ---------------------------------------------------------------------- */

struct gen {
    uint64_t size, off, fnv;
};

static size_t gen_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct gen *g = arg;
    size_t n = size * nmemb;
    if (n > g->size - g->off) {
        n = (size_t)(g->size - g->off);
    }
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)(((g->off + i) * 31 + 7) & 0xff);
    }
    g->fnv = fnv1a(g->fnv, (unsigned char *)buf, n);
    g->off += n;
    return n;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Uploads size generated bytes to path; chunked when size_known is false. */
static void upload(const char *path, uint64_t size, bool size_known, bool expect,
                   struct t_resp *out, struct gen *g)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char u[256];

    memset(out, 0, sizeof(*out));
    memset(g, 0, sizeof(*g));
    g->size = size;
    g->fnv = UINT64_C(14695981039346656037);
    snprintf(u, sizeof(u), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(c, CURLOPT_READFUNCTION, gen_read);
    curl_easy_setopt(c, CURLOPT_READDATA, g);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, t_buf_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 65536L);
    hl = curl_slist_append(hl, "Content-Type: text/csv");
    if (!expect) {
        hl = curl_slist_append(hl, "Expect:");
    } else {
        hl = curl_slist_append(hl, "Expect: 100-continue");
        /* Fail loudly if the server did not answer 100 within the test. */
        curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 20000L);
    }
    if (size_known) {
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    if (out->body.data != NULL) {
        out->json = json_loadb(out->body.data, out->body.len, 0, NULL);
    }
}

static void check_upload(const struct t_resp *r, const struct gen *g)
{
    char fnv[32];
    snprintf(fnv, sizeof(fnv), "%016llx", (unsigned long long)g->fnv);
    assert_int_equal(r->rc, CURLE_OK);
    assert_int_equal(r->status, 200);
    assert_int_equal(json_integer_value(json_object_get(r->json, "bytes")), g->size);
    assert_string_equal(json_string_value(json_object_get(r->json, "fnv")), fnv);
    /* Pieces are at most one read buffer. */
    assert_true(json_integer_value(json_object_get(r->json, "max_chunk")) <= 64 * 1024);
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */
/* ---------------------------------------------------------------------- */

static void test_httpd_stream_50mb_upload(void **state)
{
    const uint64_t size = UINT64_C(50) * 1000 * 1000;
    struct t_resp r;
    struct gen g;
    long before = rss_kb(), after;
    int64_t t0 = clock_mono_us();
    (void)state;

    upload("/upload", size, true, false, &r, &g);
    after = rss_kb();
    check_upload(&r, &g);
    assert_true(json_integer_value(json_object_get(r.json, "pauses")) > 10);
    /* 50 MB went through; the process grew by far less. */
    assert_true(after - before < 16 * 1024);
    fprintf(stderr, "50 MB upload: %lld ms, %lld chunks, rss +%ld kB\n",
            (long long)(clock_mono_us() - t0) / 1000,
            (long long)json_integer_value(json_object_get(r.json, "chunks")), after - before);
    t_resp_free(&r);
}

static void test_httpd_stream_expect_continue(void **state)
{
    struct t_resp r;
    struct gen g;
    int64_t t0 = clock_mono_us();
    (void)state;

    upload("/upload", 3 * 1000 * 1000, true, true, &r, &g);
    check_upload(&r, &g);
    /* The 100 Continue came from us, not from curl's 1 s fallback. */
    assert_true(clock_mono_us() - t0 < 900 * 1000);
    t_resp_free(&r);
}

static void test_httpd_stream_chunked(void **state)
{
    struct t_resp r;
    struct gen g;
    char v[32];
    (void)state;

    upload("/upload", 5 * 1000 * 1000 + 123, false, false, &r, &g);
    check_upload(&r, &g);
    /* lws cannot reuse a connection after a chunked body. */
    assert_string_equal(t_header(&r, "Connection", v, sizeof(v)), "close");
    t_resp_free(&r);
}

static void test_httpd_stream_limits(void **state)
{
    struct t_resp r;
    struct gen g;
    (void)state;

    /* Content-Length over the route's own limit: refused before reading. */
    upload("/upload-small", 5000, true, false, &r, &g);
    assert_int_equal(r.status, 413);
    assert_string_equal(t_err_code(&r), "body_too_large");
    t_resp_free(&r);

    /* Chunked, growing past it: refused mid-stream, the handler is told. */
    atomic_store(&g_abort_reason, 0);
    upload("/upload-small", 5000, false, false, &r, &g);
    assert_int_equal(r.status, 413);
    assert_int_equal(atomic_load(&g_abort_reason), ERR_TOOBIG);
    t_resp_free(&r);

    /* The server's max_body_bytes does not apply to streaming routes. */
    upload("/upload", 100 * 1000, true, false, &r, &g);
    check_upload(&r, &g);
    t_resp_free(&r);
}

static void test_httpd_stream_refusals(void **state)
{
    struct t_resp r;
    char u[256];
    char *big = malloc(2 * 1024 * 1024);
    const char *refuse[] = { "X-Refuse: 1", NULL };
    (void)state;

    memset(big, 'a', 2 * 1024 * 1024);
    /* The handler refuses at the head; the 2 MB body is not read, yet the
     * client (which sends it all) gets the 401. */
    snprintf(u, sizeof(u), "%s/upload", base);
    struct t_req rq = { .body = big, .body_len = 2 * 1024 * 1024, .hdrs = refuse };
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(t_err_code(&r), "unauthorized");
    t_resp_free(&r);

    /* on_chunk fails: 500, without details. */
    snprintf(u, sizeof(u), "%s/upload?fail_after=100000", base);
    struct t_req fail = { .body = big, .body_len = 1024 * 1024 };
    t_http(u, &fail, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(t_err_code(&r), "internal_error");
    t_resp_free(&r);

    /* on_chunk answers 422 with a field, mid-body. */
    snprintf(u, sizeof(u), "%s/upload?reject_after=200000", base);
    t_http(u, &fail, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(t_err_code(&r), "bad_row");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "field")), "phone");
    t_resp_free(&r);

    /* Answered from a timer while paused: the rest of the body is dropped. */
    snprintf(u, sizeof(u), "%s/upload?answer_paused=1", base);
    struct t_req paused = { .body = big, .body_len = 2 * 1024 * 1024 };
    t_http(u, &paused, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 202);
    assert_true(json_integer_value(json_object_get(r.json, "seen")) > 0);
    t_resp_free(&r);

    /* Buffered route, body over max_body_bytes, no Expect: still a clean 413. */
    snprintf(u, sizeof(u), "%s/echo", base);
    struct t_req over = { .body = big, .body_len = 2 * 1024 * 1024 };
    t_http(u, &over, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);
    t_resp_free(&r);

    /* ... and with Expect: 100-continue the body is never sent. */
    const char *exp[] = { "Expect: 100-continue", NULL };
    struct t_req over2 = { .body = big, .body_len = 2 * 1024 * 1024, .hdrs = exp };
    t_http(u, &over2, &r);
    assert_int_equal(r.status, 413);
    t_resp_free(&r);
    free(big);
}

static void test_httpd_chunked_buffered(void **state)
{
    struct t_resp r;
    char u[256], v[32];
    struct t_req rq = { .body = "hello chunked world", .chunked = true };
    (void)state;

    snprintf(u, sizeof(u), "%s/echo", base);
    t_http(u, &rq, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "len")), 19);
    assert_string_equal(json_string_value(json_object_get(r.json, "body")), "hello chunked world");
    assert_string_equal(t_header(&r, "Connection", v, sizeof(v)), "close");
    t_resp_free(&r);
}

static void test_httpd_framing_errors(void **state)
{
    char buf[4096];
    int port = httpd_port(srv);
    (void)state;

    /* Chunked with extensions and a trailer, split oddly. */
    t_raw(port,
          "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: y\r\n\r\n",
          0, buf, sizeof(buf));
    assert_int_equal(t_raw_status(buf), 200);
    assert_non_null(strstr(buf, "\"body\":\"hello world\""));

    t_raw(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
          0, buf, sizeof(buf));
    assert_int_equal(t_raw_status(buf), 400);
    assert_non_null(strstr(buf, "invalid_chunked"));

    t_raw(port,
          "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          0, buf, sizeof(buf));
    assert_int_equal(t_raw_status(buf), 400);

    t_raw(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxxxx", 0, buf,
          sizeof(buf));
    assert_int_equal(t_raw_status(buf), 501);

    t_raw(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\nxxxx", 0, buf,
          sizeof(buf));
    assert_int_equal(t_raw_status(buf), 400);

    /* POST without Content-Length: an empty body, and the connection closes. */
    t_raw(port, "POST /echo HTTP/1.1\r\nHost: x\r\n\r\n", 0, buf, sizeof(buf));
    assert_int_equal(t_raw_status(buf), 200);
    assert_non_null(strstr(buf, "\"len\":0"));
    assert_non_null(strcasestr(buf, "\r\nConnection: close\r\n"));

    /* HTTP/1.0 gets its answer and a close. */
    t_raw(port, "POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", 0, buf, sizeof(buf));
    assert_int_equal(t_raw_status(buf), 200);
    assert_non_null(strcasestr(buf, "\r\nConnection: close\r\n"));

    /* Two requests pipelined in one packet: lws 4.1 cannot hold a request
     * that follows a body, so the first is answered and the connection
     * closes (the client retries the rest, as after any close). */
    const char *two = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: "
                      "close\r\n\r\nde";
    int fd = t_connect(port);
    size_t got = 0;
    t_send_all(fd, two, strlen(two));
    while (got + 1 < sizeof(buf)) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    assert_int_equal(t_raw_status(buf), 200);
    assert_non_null(strstr(buf, "\"body\":\"abc\""));
    assert_non_null(strcasestr(buf, "\r\nConnection: close\r\n"));

    /* Pipelined requests without bodies are all answered, in order. */
    const char *gets = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                       "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n";
    fd = t_connect(port);
    got = 0;
    t_send_all(fd, gets, strlen(gets));
    while (got + 1 < sizeof(buf)) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    char *second = strstr(buf + 1, "HTTP/1.1 404");
    assert_non_null(second);
    assert_non_null(strstr(second + 1, "HTTP/1.1 200"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_stream_50mb_upload),
        cmocka_unit_test(test_httpd_stream_expect_continue),
        cmocka_unit_test(test_httpd_stream_chunked),
        cmocka_unit_test(test_httpd_stream_limits),
        cmocka_unit_test(test_httpd_stream_refusals),
        cmocka_unit_test(test_httpd_chunked_buffered),
        cmocka_unit_test(test_httpd_framing_errors),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("httpd_body", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
