/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/httpd_route: path patterns and their specificity, the
 * chunked decoder fed byte by byte and in one piece, media types, request
 * ids and log escaping. Table-driven, no server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/httpd_int.h"

static void test_httpd_pattern_compile(void **state)
{
    static const struct {
        const char *pattern;
        int rc;
        size_t nsegs;
    } cases[] = {
        { "/", 0, 0 },
        { "/api", 0, 1 },
        { "/api/v1/campaigns/{id}/start", 0, 5 },
        { "/{a}/{b_2}", 0, 2 },
        { "", ERR_INVAL, 0 },
        { "api", ERR_INVAL, 0 },
        { "//a", ERR_INVAL, 0 },
        { "/a/", ERR_INVAL, 0 },
        { "/a//b", ERR_INVAL, 0 },
        { "/{}", ERR_INVAL, 0 },
        { "/{a", ERR_INVAL, 0 },
        { "/a}", ERR_INVAL, 0 },
        { "/{a-b}", ERR_INVAL, 0 },
        { "/x{a}", ERR_INVAL, 0 },
    };

    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct httpd_pattern p;
        int rc = httpd__pattern_compile(&p, cases[i].pattern);
        if (rc != cases[i].rc) {
            fail_msg("pattern \"%s\": rc %d, want %d", cases[i].pattern, rc, cases[i].rc);
        }
        if (rc == 0) {
            assert_int_equal(p.nsegs, cases[i].nsegs);
            httpd__pattern_free(&p);
        }
    }
    assert_int_equal(httpd__pattern_compile(&(struct httpd_pattern){ 0 }, NULL), ERR_INVAL);
}

static void test_httpd_pattern_match(void **state)
{
    static const struct {
        const char *pattern;
        const char *path;
        bool match;
        const char *params; /* "k=v,k=v" */
    } cases[] = {
        { "/", "/", true, "" },
        { "/", "/a", false, "" },
        { "/a", "/", false, "" },
        { "/a/b", "/a/b", true, "" },
        { "/a/b", "/a/b/", false, "" },
        { "/a/b", "/a", false, "" },
        { "/a/b", "/a/b/c", false, "" },
        { "/a/b", "/A/b", false, "" },
        { "/c/{id}", "/c/42", true, "id=42" },
        { "/c/{id}", "/c/", false, "" },
        { "/c/{id}/start", "/c/7/start", true, "id=7" },
        { "/c/{id}/start", "/c/7/stop", false, "" },
        { "/l/{list}/c/{contact}", "/l/x y/c/+1415", true, "list=x y,contact=+1415" },
        { "/{a}", "/%2e", true, "a=%2e" },
    };
    struct arena a;
    (void)state;

    arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct httpd_pattern p;
        struct httpd_kv kv[8];
        size_t n = 0;
        char got[256] = "";
        assert_int_equal(httpd__pattern_compile(&p, cases[i].pattern), 0);
        int64_t score = httpd__pattern_match(&p, cases[i].path, &a, kv, &n);
        if ((score > 0) != cases[i].match) {
            fail_msg("%s vs %s: score %lld", cases[i].pattern, cases[i].path, (long long)score);
        }
        for (size_t k = 0; k < n; k++) {
            size_t off = strlen(got);
            snprintf(got + off, sizeof(got) - off, "%s%s=%s", k > 0 ? "," : "", kv[k].name,
                     kv[k].value);
        }
        if (cases[i].match) {
            assert_string_equal(got, cases[i].params);
        }
        httpd__pattern_free(&p);
    }
    arena_fini(&a);
}

static void test_httpd_pattern_specificity(void **state)
{
    struct httpd_pattern lit, par, first, second;
    (void)state;

    httpd__pattern_compile(&lit, "/campaigns/stats");
    httpd__pattern_compile(&par, "/campaigns/{id}");
    assert_true(httpd__pattern_match(&lit, "/campaigns/stats", NULL, NULL, NULL) >
                httpd__pattern_match(&par, "/campaigns/stats", NULL, NULL, NULL));
    /* An earlier literal weighs more than any later one. */
    httpd__pattern_compile(&first, "/a/{x}/{y}");
    httpd__pattern_compile(&second, "/{w}/b/c");
    assert_true(httpd__pattern_match(&first, "/a/b/c", NULL, NULL, NULL) >
                httpd__pattern_match(&second, "/a/b/c", NULL, NULL, NULL));
    assert_true(httpd__pattern_same(&par, &par));
    assert_false(httpd__pattern_same(&par, &lit));
    struct httpd_pattern par2;
    httpd__pattern_compile(&par2, "/campaigns/{other}");
    assert_true(httpd__pattern_same(&par, &par2)); /* names do not matter */
    httpd__pattern_free(&lit);
    httpd__pattern_free(&par);
    httpd__pattern_free(&par2);
    httpd__pattern_free(&first);
    httpd__pattern_free(&second);
}

struct sink {
    char out[256];
    size_t len;
    int stop_after; /* emit returns 1 once this many bytes came (0: never) */
};

static int sink_emit(const unsigned char *data, size_t len, void *arg)
{
    struct sink *s = arg;
    memcpy(s->out + s->len, data, len);
    s->len += len;
    s->out[s->len] = '\0';
    return s->stop_after > 0 && s->len >= (size_t)s->stop_after ? 1 : 0;
}

static void test_httpd_chunked_decoder(void **state)
{
    static const struct {
        const char *in;
        int rc; /* final rc */
        bool done;
        const char *out;
        size_t used; /* bytes consumed when done (0: all) */
    } cases[] = {
        { "5\r\nhello\r\n0\r\n\r\n", 0, true, "hello", 0 },
        { "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nEXTRA", 0, true, "hello world", 26 },
        { "A;name=val\r\n0123456789\r\n0\r\n\r\n", 0, true, "0123456789", 0 },
        { "3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", 0, true, "abc", 0 },
        { "3\nabc\n0\n\n", 0, true, "abc", 0 },
        { "f\r\n0123456789abcde\r\n0\r\n\r\n", 0, true, "0123456789abcde", 0 },
        { "5\r\nhel", 0, false, "hel", 0 },
        { "zz\r\n", ERR_PARSE, false, "", 0 },
        { "\r\n", ERR_PARSE, false, "", 0 },
        { "3\r\nabcX", ERR_PARSE, false, "abc", 0 },
        { "3\r\nabc\rX", ERR_PARSE, false, "abc", 0 },
        { "1000000000000000\r\n", ERR_PARSE, false, "", 0 },
        { "3\rX", ERR_PARSE, false, "", 0 },
    };

    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const unsigned char *in = (const unsigned char *)cases[i].in;
        size_t len = strlen(cases[i].in);
        /* In one piece, then byte by byte: the same result. */
        for (int mode = 0; mode < 2; mode++) {
            struct httpd_chunked c;
            struct sink s = { .len = 0 };
            size_t used = 0, total = 0;
            int rc = 0;
            httpd__chunked_init(&c);
            if (mode == 0) {
                rc = httpd__chunked_feed(&c, in, len, &used, sink_emit, &s);
                total = used;
            } else {
                for (size_t k = 0; k < len && rc == 0 && c.state != HTTPD_CH_DONE; k++) {
                    rc = httpd__chunked_feed(&c, in + k, 1, &used, sink_emit, &s);
                    total += used;
                }
            }
            if (rc != cases[i].rc || (c.state == HTTPD_CH_DONE) != cases[i].done) {
                fail_msg("case %zu mode %d: rc %d done %d", i, mode, rc, c.state == HTTPD_CH_DONE);
            }
            assert_string_equal(s.out, cases[i].out);
            if (cases[i].done) {
                assert_int_equal(total, cases[i].used != 0 ? cases[i].used : len);
            }
        }
    }
}

static void test_httpd_chunked_emit_stops(void **state)
{
    struct httpd_chunked c;
    struct sink s = { .stop_after = 3 };
    const char *in = "6\r\nabcdef\r\n0\r\n\r\n";
    size_t used = 0;
    (void)state;

    httpd__chunked_init(&c);
    /* The emit callback stops the feed; the rest can be fed later. */
    assert_int_equal(
        httpd__chunked_feed(&c, (const unsigned char *)in, strlen(in), &used, sink_emit, &s), 1);
    assert_int_equal(used, 9); /* "6\r\nabcdef" */
    s.stop_after = 0;
    assert_int_equal(httpd__chunked_feed(&c, (const unsigned char *)in + used, strlen(in) - used,
                                         &used, sink_emit, &s),
                     0);
    assert_int_equal(c.state, HTTPD_CH_DONE);
    assert_string_equal(s.out, "abcdef");
}

static void test_httpd_json_type(void **state)
{
    static const struct {
        const char *ct;
        bool json;
    } cases[] = {
        { "application/json", true },
        { "Application/JSON", true },
        { "application/json; charset=utf-8", true },
        { " application/json ;charset=utf-8", true },
        { "application/problem+json", true },
        { "application/vnd.dialer.v1+json", true },
        { "application/jsonx", false },
        { "text/json", false },
        { "application/x-www-form-urlencoded", false },
        { "application/+json", false },
        { "", false },
        { NULL, false },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (httpd__is_json_type(cases[i].ct) != cases[i].json) {
            fail_msg("\"%s\"", cases[i].ct != NULL ? cases[i].ct : "(null)");
        }
    }
}

static void test_httpd_request_id_and_escape(void **state)
{
    struct arena a;
    char long_id[80];
    char buf[80];
    (void)state;

    assert_true(httpd__request_id_ok("abc-123"));
    assert_true(httpd__request_id_ok("a.b_c:d-e"));
    assert_false(httpd__request_id_ok(""));
    assert_false(httpd__request_id_ok(NULL));
    assert_false(httpd__request_id_ok("has space"));
    assert_false(httpd__request_id_ok("quote\""));
    assert_false(httpd__request_id_ok("new\nline"));
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_false(httpd__request_id_ok(long_id));
    long_id[64] = '\0';
    assert_true(httpd__request_id_ok(long_id));

    arena_init(&a, 0);
    assert_string_equal(httpd__log_escape(&a, "/api/v1/x"), "/api/v1/x");
    assert_string_equal(httpd__log_escape(&a, "/a\"b\\c\nd"), "/a\\x22b\\x5cc\\x0ad");
    assert_string_equal(httpd__log_escape(&a, "caf\xc3\xa9"), "caf\\xc3\\xa9");
    /* phone numbers in paths are masked as LOG_NUM masks them; ids stay readable */
    assert_string_equal(httpd__log_escape(&a, "/api/v1/dnc/lists/12/entries/+14155552671"),
                        "/api/v1/dnc/lists/12/entries/+1415*****71");
    assert_string_equal(httpd__log_escape(&a, "/api/v1/dnc/lists/12/entries/4155552671"),
                        "/api/v1/dnc/lists/12/entries/41555***71");
    assert_string_equal(httpd__log_escape(&a, "/api/v1/contacts/123456789/x"),
                        "/api/v1/contacts/123456789/x");
    assert_string_equal(httpd__log_escape(&a, "/x/+44\"2079460000"), "/x/+44\\x22207*****00");
    arena_fini(&a);

    assert_string_equal(
        httpd__methods_format(HTTPD_GET | HTTPD_HEAD | HTTPD_DELETE, buf, sizeof(buf)),
        "GET, HEAD, DELETE");
    assert_string_equal(httpd__method_name(HTTPD_PATCH), "PATCH");
    assert_string_equal(httpd__status_text(431), "Request Header Fields Too Large");
    assert_string_equal(httpd__status_text(499), "Client Error");
}

static void test_httpd_error_body(void **state)
{
    size_t len = 0;
    char *s;
    json_t *j;
    (void)state;

    s = httpd__error_body("invalid_field", "phone \"x\" is not E.164", "phone", &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    j = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "invalid_field");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                        "phone \"x\" is not E.164");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")),
                        "phone");
    json_decref(j);
    free(s);

    s = httpd__error_body("not_found", NULL, NULL, &len);
    assert_string_equal(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"\"}}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_pattern_compile),
        cmocka_unit_test(test_httpd_pattern_match),
        cmocka_unit_test(test_httpd_pattern_specificity),
        cmocka_unit_test(test_httpd_chunked_decoder),
        cmocka_unit_test(test_httpd_chunked_emit_stops),
        cmocka_unit_test(test_httpd_json_type),
        cmocka_unit_test(test_httpd_request_id_and_escape),
        cmocka_unit_test(test_httpd_error_body),
    };
    return cmocka_run_group_tests_name("httpd_route", tests, NULL, NULL);
}
