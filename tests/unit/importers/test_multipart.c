/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for importers/multipart.c: the file part of a browser's
 * multipart/form-data upload comes out byte for byte, whatever the piece
 * boundaries; other parts are skipped; broken and truncated bodies fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "importers/importers_int.h"

struct sink {
    char out[4096];
    size_t len;
};

static int sink_data(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;
    assert_true(s->len + len < sizeof(s->out));
    memcpy(s->out + s->len, data, len);
    s->len += len;
    return 0;
}

static const char body[] = "preamble to ignore\r\n"
                           "------WebKitFormBoundary7MA4YWxk\r\n"
                           "Content-Disposition: form-data; name=\"list\"\r\n\r\n"
                           "42\r\n"
                           "------WebKitFormBoundary7MA4YWxk\r\n"
                           "Content-Disposition: form-data; name=\"file\"; filename=\"a b.csv\"\r\n"
                           "Content-Type: text/csv\r\n\r\n"
                           "phone\r\n4155552671\r\n--not a boundary\r\n\r\n"
                           "------WebKitFormBoundary7MA4YWxk--\r\n"
                           "epilogue";
static const char file[] = "phone\r\n4155552671\r\n--not a boundary\r\n";
static const char ctype[] = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk";

static int run(const char *data, size_t len, size_t piece, struct sink *s, struct imp_mp *m)
{
    assert_int_equal(imp_mp_init(m, ctype, sink_data, s), 0);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += piece)
        rc = imp_mp_feed(m, data + off, len - off < piece ? len - off : piece);
    if (rc == 0)
        rc = imp_mp_finish(m);
    return rc;
}

static void test_multipart_file_part_any_split(void **state)
{
    (void)state;
    for (size_t piece = 1; piece <= sizeof(body); piece++) {
        struct sink s = { .len = 0 };
        struct imp_mp m;
        assert_int_equal(run(body, sizeof(body) - 1, piece, &s, &m), 0);
        assert_int_equal(s.len, sizeof(file) - 1);
        assert_memory_equal(s.out, file, s.len);
        assert_string_equal(m.filename, "a b.csv");
        imp_mp_fini(&m);
    }
}

static void test_multipart_truncated_and_fileless(void **state)
{
    (void)state;
    struct sink s = { .len = 0 };
    struct imp_mp m;
    assert_int_equal(run(body, sizeof(body) - 40, 5, &s, &m), ERR_PARSE);
    assert_non_null(strstr(m.err, "truncated"));
    imp_mp_fini(&m);

    static const char nofile[] =
        "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--";
    s.len = 0;
    assert_int_equal(imp_mp_init(&m, "multipart/form-data; boundary=\"x\"", sink_data, &s), 0);
    assert_int_equal(imp_mp_feed(&m, nofile, sizeof(nofile) - 1), 0);
    assert_int_equal(imp_mp_finish(&m), ERR_PARSE);
    assert_non_null(strstr(m.err, "no file part"));
    imp_mp_fini(&m);
}

static void test_multipart_bad_content_type(void **state)
{
    (void)state;
    struct imp_mp m;
    assert_int_equal(imp_mp_init(&m, "multipart/form-data", sink_data, NULL), ERR_INVAL);
    imp_mp_fini(&m);
    assert_int_equal(imp_mp_init(&m, "multipart/form-data; boundary=", sink_data, NULL), ERR_INVAL);
    imp_mp_fini(&m);
    assert_int_equal(imp_mp_init(&m, NULL, sink_data, NULL), ERR_INVAL);
    imp_mp_fini(&m);
}

static void test_multipart_header_block_limit(void **state)
{
    (void)state;
    struct sink s = { .len = 0 };
    struct imp_mp m;
    assert_int_equal(imp_mp_init(&m, "multipart/form-data; boundary=b", sink_data, &s), 0);
    assert_int_equal(imp_mp_feed(&m, "--b\r\n", 5), 0);
    char junk[1024];
    memset(junk, 'h', sizeof(junk));
    int rc = 0;
    for (int i = 0; i < 16 && rc == 0; i++)
        rc = imp_mp_feed(&m, junk, sizeof(junk));
    assert_int_equal(rc, ERR_PARSE);
    assert_non_null(strstr(m.err, "8 KiB"));
    imp_mp_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_file_part_any_split),
        cmocka_unit_test(test_multipart_truncated_and_fileless),
        cmocka_unit_test(test_multipart_bad_content_type),
        cmocka_unit_test(test_multipart_header_block_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
