/* SPDX-License-Identifier: MIT */
/* Unit tests for core/log: levels, categories, masking, one line per call. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/log.h"

static int pipefd[2];

static int setup(void **state)
{
    (void)state;
    if (pipe(pipefd) != 0) {
        return -1;
    }
    log_set_fd(pipefd[1]);
    log_set_level(LOG_LEVEL_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_set_fd(2);
    close(pipefd[0]);
    close(pipefd[1]);
    log_set_level(LOG_LEVEL_INFO);
    return 0;
}

/* Reads what was logged since the last call (non-blocking after a write). */
static size_t drain(char *buf, size_t size)
{
    ssize_t n;
    /* Write a sentinel so the read never blocks. */
    ssize_t w = write(pipefd[1], "\x01", 1);
    (void)w;
    n = read(pipefd[0], buf, size - 1);
    if (n <= 0) {
        buf[0] = '\0';
        return 0;
    }
    buf[n - 1] = '\0'; /* drop the sentinel */
    return (size_t)n - 1;
}

static int side_effects;

static int bump(void)
{
    side_effects++;
    return side_effects;
}

static void test_log_line_format(void **state)
{
    char buf[4096];
    (void)state;
    LOG_INFO(DB, "event=connected port=%d", 5432);
    drain(buf, sizeof(buf));
    /* 2026-11-24T12:00:00.123Z INFO db event=connected port=5432\n */
    assert_non_null(strstr(buf, "Z INFO db event=connected port=5432\n"));
    assert_int_equal(buf[4], '-');
    assert_int_equal(buf[10], 'T');
    assert_int_equal(strchr(buf, '\n') - buf + 1, (long)strlen(buf));
}

static void test_log_disabled_level_does_not_evaluate_arguments(void **state)
{
    char buf[256];
    (void)state;
    side_effects = 0;
    LOG_DEBUG(DB, "n=%d", bump());
    assert_int_equal(side_effects, 0);
    assert_int_equal(drain(buf, sizeof(buf)), 0);
    assert_int_equal(log_configure("db=debug"), 0);
    LOG_DEBUG(DB, "n=%d", bump());
    assert_int_equal(side_effects, 1);
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "DEBUG db n=1"));
    /* Other categories keep their level. */
    LOG_DEBUG(ARI, "n=%d", bump());
    assert_int_equal(side_effects, 1);
}

static void test_log_configure_rejects_bad_specs_without_changes(void **state)
{
    (void)state;
    assert_int_equal(log_configure("warn"), 0);
    assert_int_equal(log_configure("info,nosuchcat=debug"), ERR_INVAL);
    assert_int_equal(log_configure("loud"), ERR_INVAL);
    assert_false(LOG_ENABLED(DB, LOG_LEVEL_INFO));
    assert_int_equal(log_configure("info,ari=err"), 0);
    assert_true(LOG_ENABLED(DB, LOG_LEVEL_INFO));
    assert_false(LOG_ENABLED(ARI, LOG_LEVEL_WARN));
}

static void test_log_phone_masked_above_debug(void **state)
{
    char buf[4096];
    (void)state;
    assert_string_equal(LOG_NUM(LOG_LEVEL_INFO, "+14155550123"), "+1415*****23");
    assert_string_equal(LOG_NUM(LOG_LEVEL_WARN, "+442071234567"), "+4420******67");
    assert_string_equal(LOG_NUM(LOG_LEVEL_DEBUG, "+14155550123"), "+14155550123");
    assert_string_equal(LOG_NUM(LOG_LEVEL_INFO, "911"), "***");
    assert_string_equal(LOG_NUM(LOG_LEVEL_INFO, NULL), "-");
    LOG_INFO(DIALER, "number=%s", LOG_NUM(LOG_LEVEL_INFO, "+14155550123"));
    drain(buf, sizeof(buf));
    assert_null(strstr(buf, "5550123"));
}

static void test_log_errno_is_named(void **state)
{
    char buf[4096];
    (void)state;
    LOG_ERRNO(WARN, KV, ECONNREFUSED, "event=connect_failed");
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "WARN kv event=connect_failed errno=ECONNREFUSED"));
    LOG_ERRNO(ERR, KV, ERR_TIMEOUT, "event=x");
    drain(buf, sizeof(buf));
    assert_non_null(strstr(buf, "errno=ERR_TIMEOUT err=\"timed out\""));
}

static void test_log_ratelimit_counts_suppressed(void **state)
{
    struct log_ratelimit rl = { .interval_us = 1000000 };
    (void)state;
    assert_int_equal(log_ratelimit_pass(&rl, 10), 1);
    assert_int_equal(log_ratelimit_pass(&rl, 20), 0);
    assert_int_equal(log_ratelimit_pass(&rl, 30), 0);
    assert_int_equal(log_ratelimit_pass(&rl, 1000011), 3);
}

static void test_log_long_line_is_truncated_not_overflowed(void **state)
{
    static char big[8192];
    char buf[8192];
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    LOG_INFO(CORE, "msg=\"%s\"", big);
    size_t n = drain(buf, sizeof(buf));
    assert_true(n <= 4096);
    assert_int_equal(buf[n - 1], '\n');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_disabled_level_does_not_evaluate_arguments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_configure_rejects_bad_specs_without_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_phone_masked_above_debug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_errno_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_ratelimit_counts_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_long_line_is_truncated_not_overflowed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("core/log", tests, NULL, NULL);
}
