/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/httpd static files: index.html, MIME types,
 * Cache-Control, ETag/304, HEAD, large files, and every way out of the
 * directory we could think of (../, %2e%2e, encoded slashes, dotfiles,
 * symlinks out) -- none may show the file that sits beside the directory.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/httpd.h"
#include "tests/unit/core/test_httpd_util.h"

#define SECRET "TOP-SECRET-outside-the-web-root"

static struct httpd *srv;
static char base[64];
static char tmp[256];
static size_t big_size = 3 * 1024 * 1024 + 11;

static void write_file(const char *rel, const char *data, size_t len)
{
    char path[512];
    int fd;
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void mk(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    mkdir(path, 0755);
}

static int h_ping(struct httpd_req *req, void *arg)
{
    (void)arg;
    httpd_respond_json(req, HTTPD_STATUS_OK, json_pack("{sb}", "pong", 1));
    return HTTPD_DONE;
}

static const struct httpd_route routes[] = {
    { .methods = HTTPD_GET, .pattern = "/api/v1/ping", .handler = h_ping },
};

static int setup(void **state)
{
    struct httpd_config cfg = { .name = "static" };
    char www[512], link[512];
    char *big;
    (void)state;

    snprintf(tmp, sizeof(tmp), "/tmp/httpd-static-XXXXXX");
    if (mkdtemp(tmp) == NULL) {
        return -1;
    }
    write_file("outside.txt", SECRET, strlen(SECRET));
    mk("www");
    mk("www/sub");
    mk("www/assets");
    mk("www/empty");
    write_file("www/index.html", "<h1>home</h1>", 13);
    write_file("www/app.js", "console.log(1)", 14);
    write_file("www/assets/app-1a2b.css", "body{}", 6);
    write_file("www/sub/index.html", "<p>sub</p>", 10);
    write_file("www/data.bin", "\x00\x01\x02", 3);
    write_file("www/.env", "PASSWORD=x", 10);
    big = malloc(big_size);
    for (size_t i = 0; i < big_size; i++) {
        big[i] = (char)(i * 7 + 3);
    }
    write_file("www/big.bin", big, big_size);
    free(big);
    snprintf(link, sizeof(link), "%s/www/link-out", tmp);
    if (symlink("../outside.txt", link) != 0) {
        return -1;
    }
    snprintf(link, sizeof(link), "%s/www/abs-out", tmp);
    snprintf(www, sizeof(www), "%s/outside.txt", tmp);
    if (symlink(www, link) != 0) {
        return -1;
    }
    snprintf(link, sizeof(link), "%s/www/link-in.js", tmp);
    if (symlink("app.js", link) != 0) {
        return -1;
    }
    snprintf(www, sizeof(www), "%s/www", tmp);
    cfg.static_dir = www;
    srv = httpd_create(&cfg, routes, 1);
    if (srv == NULL || httpd_start(srv) != 0) {
        return -1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", httpd_port(srv));
    return 0;
}

static int teardown(void **state)
{
    const char *files[] = { "www/index.html",     "www/app.js",   "www/assets/app-1a2b.css",
                            "www/sub/index.html", "www/data.bin", "www/.env",
                            "www/big.bin",        "www/link-out", "www/abs-out",
                            "www/link-in.js",     "outside.txt" };
    const char *dirs[] = { "www/sub", "www/assets", "www/empty", "www", "" };
    char path[512];
    (void)state;

    httpd_stop(srv);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
        unlink(path);
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, dirs[i]);
        rmdir(path);
    }
    return 0;
}

static void get(const char *path, struct t_resp *r)
{
    char u[512];
    snprintf(u, sizeof(u), "%s%s", base, path);
    assert_int_equal(t_get(u, r), CURLE_OK);
}

static void test_httpd_static_files(void **state)
{
    struct t_resp r;
    char v[128];
    (void)state;

    get("/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "<h1>home</h1>");
    assert_string_equal(t_header(&r, "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
    assert_string_equal(t_header(&r, "Cache-Control", v, sizeof(v)), "no-cache");
    assert_non_null(t_header(&r, "ETag", v, sizeof(v)));
    assert_non_null(t_header(&r, "X-Request-Id", v, sizeof(v)));
    t_resp_free(&r);

    get("/app.js", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(t_header(&r, "Content-Type", v, sizeof(v)),
                        "text/javascript; charset=utf-8");
    assert_string_equal(t_header(&r, "Cache-Control", v, sizeof(v)), "public, max-age=3600");
    assert_string_equal(t_header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
    t_resp_free(&r);

    get("/assets/app-1a2b.css", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(t_header(&r, "Content-Type", v, sizeof(v)), "text/css; charset=utf-8");
    assert_string_equal(t_header(&r, "Cache-Control", v, sizeof(v)),
                        "public, max-age=31536000, immutable");
    t_resp_free(&r);

    get("/sub/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "<p>sub</p>");
    t_resp_free(&r);
    get("/sub", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "<p>sub</p>");
    t_resp_free(&r);

    get("/data.bin", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 3);
    assert_string_equal(t_header(&r, "Content-Type", v, sizeof(v)), "application/octet-stream");
    t_resp_free(&r);

    get("/link-in.js", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "console.log(1)");
    t_resp_free(&r);

    /* Routes still win. */
    get("/api/v1/ping", &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
}

static void test_httpd_static_missing_and_methods(void **state)
{
    struct t_resp r;
    char u[256];
    (void)state;

    get("/nope.html", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(t_err_code(&r), "not_found");
    t_resp_free(&r);

    get("/empty/", &r); /* a directory without index.html */
    assert_int_equal(r.status, 404);
    t_resp_free(&r);

    get("/api/v1/unknown", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(t_err_code(&r), "not_found");
    t_resp_free(&r);

    snprintf(u, sizeof(u), "%s/app.js", base);
    struct t_req post = { .body = "x" };
    t_http(u, &post, &r);
    assert_int_equal(r.status, 404);
    t_resp_free(&r);
}

static void test_httpd_static_head_etag_big(void **state)
{
    struct t_resp r;
    char u[256], etag[128], hdr[200], v[64];
    (void)state;

    snprintf(u, sizeof(u), "%s/app.js", base);
    struct t_req head = { .method = "HEAD" };
    t_http(u, &head, &r);
    assert_int_equal(r.status, 200);
    assert_null(r.body.data);
    assert_string_equal(t_header(&r, "Content-Length", v, sizeof(v)), "14");
    assert_non_null(t_header(&r, "ETag", etag, sizeof(etag)));
    t_resp_free(&r);

    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    const char *hdrs[] = { hdr, NULL };
    struct t_req cond = { .hdrs = hdrs };
    t_http(u, &cond, &r);
    assert_int_equal(r.status, 304);
    assert_null(r.body.data);
    t_resp_free(&r);

    get("/big.bin", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, big_size);
    for (size_t i = 0; i < big_size; i += 997) {
        assert_int_equal((unsigned char)r.body.data[i], (unsigned char)(i * 7 + 3));
    }
    t_resp_free(&r);
}

/* Any answer is fine as long as it is 403/404 and does not leak the secret. */
static void assert_refused_raw(const char *target)
{
    char req[512], buf[8192];
    int st;
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
    t_raw(httpd_port(srv), req, 0, buf, sizeof(buf));
    st = t_raw_status(buf);
    if (st != 403 && st != 404) {
        fail_msg("%s answered %d", target, st);
    }
    assert_null(strstr(buf, SECRET));
}

static void test_httpd_static_traversal(void **state)
{
    struct t_resp r;
    (void)state;

    assert_refused_raw("/../outside.txt");
    assert_refused_raw("/../../../../etc/passwd");
    assert_refused_raw("/sub/../../outside.txt");
    assert_refused_raw("/%2e%2e/outside.txt");
    assert_refused_raw("/%2E%2E/%2e%2e/outside.txt");
    assert_refused_raw("/..%2foutside.txt");
    assert_refused_raw("/sub%2f..%2f..%2foutside.txt");
    assert_refused_raw("/.%2e/outside.txt");
    assert_refused_raw("/..\\outside.txt");
    assert_refused_raw("/.env");
    assert_refused_raw("/sub/../.env");
    assert_refused_raw("/link-out");
    assert_refused_raw("/abs-out");

    /* curl with the path kept as written. */
    get("/../outside.txt", &r);
    assert_true(r.status == 403 || r.status == 404);
    assert_null(strstr(r.body.data != NULL ? r.body.data : "", SECRET));
    t_resp_free(&r);

    get("/link-out", &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(t_err_code(&r), "forbidden");
    t_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_static_files),
        cmocka_unit_test(test_httpd_static_missing_and_methods),
        cmocka_unit_test(test_httpd_static_head_etag_big),
        cmocka_unit_test(test_httpd_static_traversal),
    };
    int fails;

    curl_global_init(CURL_GLOBAL_ALL);
    fails = cmocka_run_group_tests_name("httpd_static", tests, setup, teardown);
    curl_global_cleanup();
    return fails;
}
