/* SPDX-License-Identifier: MIT */
/* Unit tests for compliance/dnc_zip.c: DNC files inside zip archives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compliance/compliance.h"
#include "compliance/dnc_file_int.h"
#include "core/err.h"
#include "zipw.h"

struct fx {
    struct compliance_dnc *d;
    struct compliance_dnc_builder *b;
    struct compliance_dnc_list_info li;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_int_equal(compliance_dnc_create(&f->d), 0);
    assert_int_equal(compliance_dnc_builder_create(&f->b), 0);
    f->li.scope = COMPLIANCE_DNC_NATIONAL;
    f->li.list_id = 3;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    compliance_dnc_builder_destroy(f->b);
    compliance_dnc_destroy(f->d);
    free(f);
    dnc__zip_limits(0, 0);
    return 0;
}

static int parse_zip(struct fx *f, const struct zipw_member *m, size_t n,
                     enum compliance_dnc_format fmt, uint64_t *lines,
                     struct compliance_dnc_parse_error *err)
{
    size_t len;
    unsigned char *z = zipw_build(m, n, &len);
    int rc = compliance_dnc_parse((const char *)z, len, fmt, f->b, NULL, NULL, lines, err);
    free(z);
    return rc;
}

static void publish(struct fx *f)
{
    assert_int_equal(compliance_dnc_publish(f->d, &f->li, f->b, 0), 0);
    f->b = NULL;
}

static int blocked(struct fx *f, const char *num)
{
    return compliance_dnc_check(f->d, num, "US", 7, 0, NULL);
}

/* A stored and a deflated member: both are read, in both registry forms. */
static void test_stored_and_deflated_members(void **state)
{
    struct fx *f = *state;
    struct zipw_member m[] = {
        { .name = "dnc_201.txt", .data = "2015550100\n2015550101\r\n", .method = 0 },
        { .name = "dir/", .data = "", .method = 0 },
        { .name = "dnc_415.txt", .data = "415,5550123\n415,5550124\n415,5550125", .method = 8 },
    };
    struct compliance_dnc_parse_error err;
    uint64_t lines = 0;
    assert_int_equal(parse_zip(f, m, 3, COMPLIANCE_DNC_FMT_REGISTRY, &lines, &err), 0);
    assert_int_equal(lines, 5);
    publish(f);
    assert_int_equal(blocked(f, "+12015550100"), 1);
    assert_int_equal(blocked(f, "+12015550101"), 1);
    assert_int_equal(blocked(f, "+14155550123"), 1);
    assert_int_equal(blocked(f, "+14155550125"), 1);
    assert_int_equal(blocked(f, "+14155550126"), 0);
}

/* A big member crosses many 64 KiB inflate chunks with lines split between them. */
static void test_large_member_streams(void **state)
{
    struct fx *f = *state;
    const size_t n = 60000;
    char *text = malloc(n * 11 + 1);
    for (size_t i = 0; i < n; i++) {
        snprintf(text + i * 11, 12, "%010llu\n", 2025550000ULL + i * 7);
    }
    struct zipw_member m[] = { { .name = "big.txt", .data = text, .method = 8 } };
    struct compliance_dnc_parse_error err;
    uint64_t lines = 0;
    assert_int_equal(parse_zip(f, m, 1, COMPLIANCE_DNC_FMT_AUTO, &lines, &err), 0);
    assert_int_equal(lines, n);
    publish(f);
    char num[16];
    for (size_t i = 0; i < n; i += 997) {
        snprintf(num, sizeof(num), "+1%010llu", 2025550000ULL + i * 7);
        assert_int_equal(blocked(f, num), 1);
        snprintf(num, sizeof(num), "+1%010llu", 2025550000ULL + i * 7 + 1);
        assert_int_equal(blocked(f, num), 0);
    }
    free(text);
}

/* An XML member is detected and read like an XML file. */
static void test_xml_member(void **state)
{
    struct fx *f = *state;
    struct zipw_member m[] = {
        { .name = "dnc.xml",
          .data = "<?xml version=\"1.0\"?>\n<list><n>3125550199</n></list>\n",
          .method = 8 },
    };
    struct compliance_dnc_parse_error err;
    uint64_t lines = 0;
    assert_int_equal(parse_zip(f, m, 1, COMPLIANCE_DNC_FMT_AUTO, &lines, &err), 0);
    assert_int_equal(lines, 1);
    publish(f);
    assert_int_equal(blocked(f, "+13125550199"), 1);
}

/* A bad line inside a member: the error names the member and the member's line. */
static void test_bad_line_names_member(void **state)
{
    struct fx *f = *state;
    struct zipw_member m[] = {
        { .name = "a.txt", .data = "2015550100\n", .method = 0 },
        { .name = "b.txt", .data = "2015550101\n2015550102\n12345\n", .method = 8 },
    };
    struct compliance_dnc_parse_error err;
    assert_int_equal(parse_zip(f, m, 2, COMPLIANCE_DNC_FMT_REGISTRY, NULL, &err), ERR_PARSE);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.message, "\"b.txt\""));
    assert_non_null(strstr(err.message, "number"));
}

/* A zip bomb: the ratio bound and the absolute bound, each naming the member. */
static void test_zip_bomb_refused(void **state)
{
    struct fx *f = *state;
    size_t n = 4u << 20;
    char *zeros = malloc(n);
    memset(zeros, '\n', n);
    struct zipw_member m[] = { { .name = "bomb.txt", .data = zeros, .len = n, .method = 8 } };
    struct compliance_dnc_parse_error err;
    assert_int_equal(parse_zip(f, m, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "\"bomb.txt\""));
    assert_non_null(strstr(err.message, "ratio"));
    free(zeros);

    dnc__zip_limits(40, 0);
    struct zipw_member m2[] = {
        { .name = "ok.txt", .data = "2015550100\n", .method = 8 },
        { .name = "too_big.txt",
          .data = "2015550100\n2015550101\n2015550102\n2015550103\n",
          .method = 0 },
    };
    assert_int_equal(parse_zip(f, m2, 2, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "\"too_big.txt\""));
    assert_non_null(strstr(err.message, "bound"));
}

/* A member that inflates past (or short of) its declared size is refused. */
static void test_declared_size_enforced(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_parse_error err;
    struct zipw_member more[] = {
        { .name = "m.txt", .data = "2015550100\n2015550101\n", .method = 8, .usize_delta = -5 },
    };
    assert_int_equal(parse_zip(f, more, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "more than its declared size"));
    struct zipw_member less[] = {
        { .name = "l.txt", .data = "2015550100\n", .method = 8, .usize_delta = 3 },
    };
    assert_int_equal(parse_zip(f, less, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "less than its declared size"));
}

/* Encrypted members, unknown methods and a zip inside the zip are refused by name. */
static void test_refused_members(void **state)
{
    struct fx *f = *state;
    struct compliance_dnc_parse_error err;
    struct zipw_member enc[] = {
        { .name = "secret.txt", .data = "2015550100\n", .method = 0, .flags = 1 },
    };
    assert_int_equal(parse_zip(f, enc, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "\"secret.txt\": encrypted"));
    struct zipw_member bz[] = {
        { .name = "b.txt", .data = "2015550100\n", .method = 12 },
    };
    assert_int_equal(parse_zip(f, bz, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "method"));
    size_t inner_len;
    struct zipw_member in[] = { { .name = "x.txt", .data = "2015550100\n", .method = 0 } };
    unsigned char *inner = zipw_build(in, 1, &inner_len);
    struct zipw_member nest[] = {
        { .name = "inner.zip", .data = (const char *)inner, .len = inner_len, .method = 0 },
    };
    assert_int_equal(parse_zip(f, nest, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "\"inner.zip\""));
    free(inner);
    struct zipw_member none[] = { { .name = "d/", .data = "", .method = 0 } };
    assert_int_equal(parse_zip(f, none, 1, COMPLIANCE_DNC_FMT_AUTO, NULL, &err), ERR_PARSE);
    assert_non_null(strstr(err.message, "no file"));
}

/* Every truncation of an archive is refused (never a partial list), and a
 * corrupted byte in the deflate data is caught (deflate error or CRC-32). */
static void test_truncated_and_corrupt(void **state)
{
    struct fx *f = *state;
    struct zipw_member m[] = {
        { .name = "a.txt", .data = "2015550100\n2015550101\n2015550102\n", .method = 8 },
        { .name = "b.txt", .data = "3125550100\n", .method = 0 },
    };
    size_t len;
    unsigned char *z = zipw_build(m, 2, &len);
    for (size_t cut = 4; cut < len; cut++) {
        struct compliance_dnc_parse_error err;
        char *copy = malloc(cut);
        memcpy(copy, z, cut);
        int rc =
            compliance_dnc_parse(copy, cut, COMPLIANCE_DNC_FMT_AUTO, f->b, NULL, NULL, NULL, &err);
        free(copy);
        assert_int_equal(rc, ERR_PARSE);
        assert_non_null(strstr(err.message, "zip"));
    }
    /* the deflated data of a.txt starts after its 30-byte header and 5-byte name */
    for (size_t at = 35; at < 45; at++) {
        struct compliance_dnc_parse_error err;
        unsigned char *copy = malloc(len);
        memcpy(copy, z, len);
        copy[at] ^= 0x55;
        int rc = compliance_dnc_parse((const char *)copy, len, COMPLIANCE_DNC_FMT_AUTO, f->b, NULL,
                                      NULL, NULL, &err);
        free(copy);
        assert_int_not_equal(rc, 0);
    }
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stored_and_deflated_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_member_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_line_names_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip_bomb_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_size_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_corrupt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
