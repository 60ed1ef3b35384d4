/* SPDX-License-Identifier: MIT */
/* Unit tests for core/cfg: defaults, file, environment, bounds, unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cfg.h"
#include "core/err.h"

struct conf {
    int64_t port;
    bool tls;
    char *name;
    int64_t timeout_ms;
    int64_t max_body;
    char *secret;
};

static const struct cfg_option tab[] = {
    { "http.port", CFG_INT, offsetof(struct conf, port), "8080", 1, 65535, 0, "port" },
    { "http.tls", CFG_BOOL, offsetof(struct conf, tls), "false", 0, 0, 0, "tls" },
    { "node.name", CFG_STR, offsetof(struct conf, name), "node1", 1, 32, 0, "name" },
    { "ari.timeout", CFG_DURATION, offsetof(struct conf, timeout_ms), "5s", 1, 60000,
      CFG_RELOADABLE, "timeout" },
    { "http.max-body", CFG_SIZE, offsetof(struct conf, max_body), "1MB", 1, INT64_C(1) << 30, 0,
      "body" },
    { "jwt.key", CFG_STR, offsetof(struct conf, secret), NULL, 0, 0, CFG_SECRET, "key" },
};

#define NTAB (sizeof(tab) / sizeof(tab[0]))

static char path[64];

static void write_file(const char *text)
{
    strcpy(path, "/tmp/cfgtestXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_cfg_defaults(void **state)
{
    struct conf c = { 0 };
    struct cfg_error e;
    (void)state;
    assert_int_equal(cfg_defaults(tab, NTAB, &c, &e), 0);
    assert_int_equal(c.port, 8080);
    assert_false(c.tls);
    assert_string_equal(c.name, "node1");
    assert_int_equal(c.timeout_ms, 5000);
    assert_int_equal(c.max_body, 1024 * 1024);
    assert_string_equal(c.secret, "");
    cfg_free(tab, NTAB, &c);
    assert_null(c.name);
}

static void test_cfg_file_values_and_comments(void **state)
{
    struct conf c = { 0 };
    struct cfg_error e;
    (void)state;
    write_file("# a comment\n\nhttp.port = 9090\nhttp.tls=yes   # inline\n"
               "node.name = \"a # b\"\nari.timeout = 250ms\nhttp.max-body = 64k\n");
    assert_int_equal(cfg_defaults(tab, NTAB, &c, &e), 0);
    assert_int_equal(cfg_load_file(tab, NTAB, &c, path, &e), 0);
    assert_int_equal(c.port, 9090);
    assert_true(c.tls);
    assert_string_equal(c.name, "a # b");
    assert_int_equal(c.timeout_ms, 250);
    assert_int_equal(c.max_body, 65536);
    cfg_free(tab, NTAB, &c);
    unlink(path);
}

static void test_cfg_unknown_key_names_line(void **state)
{
    struct conf c = { 0 };
    struct cfg_error e;
    (void)state;
    write_file("http.port = 1\nhttp.prot = 2\n");
    assert_int_equal(cfg_defaults(tab, NTAB, &c, &e), 0);
    assert_int_equal(cfg_load_file(tab, NTAB, &c, path, &e), ERR_UNKNOWN_KEY);
    assert_non_null(strstr(e.msg, ":2: unknown configuration key \"http.prot\""));
    cfg_free(tab, NTAB, &c);
    unlink(path);
}

static void test_cfg_bounds_and_types_checked(void **state)
{
    struct conf c = { 0 };
    struct cfg_error e;
    (void)state;
    assert_int_equal(cfg_defaults(tab, NTAB, &c, &e), 0);
    assert_int_equal(cfg_set(tab, NTAB, &c, "http.port", "70000", "test", &e), ERR_RANGE);
    assert_non_null(strstr(e.msg, "http.port: 70000 is outside 1..65535"));
    assert_int_equal(c.port, 8080); /* unchanged */
    assert_int_equal(cfg_set(tab, NTAB, &c, "http.port", "80x", "test", &e), ERR_PARSE);
    assert_int_equal(cfg_set(tab, NTAB, &c, "http.tls", "maybe", "test", &e), ERR_PARSE);
    assert_int_equal(cfg_set(tab, NTAB, &c, "ari.timeout", "2h", "test", &e), ERR_RANGE);
    assert_int_equal(cfg_set(tab, NTAB, &c, "ari.timeout", "5 parsecs", "test", &e), ERR_PARSE);
    assert_int_equal(cfg_set(tab, NTAB, &c, "node.name", "", "test", &e), ERR_RANGE);
    assert_int_equal(cfg_set(tab, NTAB, &c, "http.port", "99999999999999999999", "t", &e),
                     ERR_RANGE);
    cfg_free(tab, NTAB, &c);
}

static void test_cfg_environment_overrides_and_rejects_unknown(void **state)
{
    struct conf c = { 0 };
    struct cfg_error e;
    static const char *const ignore[] = { "TESTCFG_CONFIG", NULL };
    (void)state;
    assert_int_equal(cfg_defaults(tab, NTAB, &c, &e), 0);
    setenv("TESTCFG_HTTP_PORT", "7070", 1);
    setenv("TESTCFG_HTTP_MAX_BODY", "2MB", 1);
    setenv("TESTCFG_CONFIG", "/etc/x", 1);
    assert_int_equal(cfg_load_env(tab, NTAB, &c, "TESTCFG_", ignore, &e), 0);
    assert_int_equal(c.port, 7070);
    assert_int_equal(c.max_body, 2 * 1024 * 1024);
    setenv("TESTCFG_HTTP_PROT", "1", 1);
    assert_int_equal(cfg_load_env(tab, NTAB, &c, "TESTCFG_", ignore, &e), ERR_UNKNOWN_KEY);
    assert_non_null(strstr(e.msg, "TESTCFG_HTTP_PROT"));
    unsetenv("TESTCFG_HTTP_PROT");
    unsetenv("TESTCFG_HTTP_PORT");
    unsetenv("TESTCFG_HTTP_MAX_BODY");
    unsetenv("TESTCFG_CONFIG");
    cfg_free(tab, NTAB, &c);
}

static void test_cfg_help_lists_every_option_and_hides_secrets(void **state)
{
    struct conf c = { 0 };
    char buf[8192];
    (void)state;
    (void)c;
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    assert_non_null(f);
    cfg_print_help(tab, NTAB, "TESTCFG_", f);
    fclose(f);
    for (size_t i = 0; i < NTAB; i++) {
        assert_non_null(strstr(buf, tab[i].name));
    }
    assert_non_null(strstr(buf, "TESTCFG_HTTP_MAX_BODY"));
    assert_non_null(strstr(buf, "(secret)"));
    assert_non_null(strstr(buf, "[1..65535]"));
}

static void test_cfg_missing_file(void **state)
{
    struct conf c = { 0 };
    struct cfg_error e;
    (void)state;
    assert_int_equal(cfg_load_file(tab, NTAB, &c, "/nonexistent/x.conf", &e), ERR_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_defaults),
        cmocka_unit_test(test_cfg_file_values_and_comments),
        cmocka_unit_test(test_cfg_unknown_key_names_line),
        cmocka_unit_test(test_cfg_bounds_and_types_checked),
        cmocka_unit_test(test_cfg_environment_overrides_and_rejects_unknown),
        cmocka_unit_test(test_cfg_help_lists_every_option_and_hides_secrets),
        cmocka_unit_test(test_cfg_missing_file),
    };
    return cmocka_run_group_tests_name("core/cfg", tests, NULL, NULL);
}
