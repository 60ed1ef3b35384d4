/* SPDX-License-Identifier: MIT */
/*
 * The TTS providers' construction rules, the cache-name check that guards
 * the /sounds/ route, and the espeak provider's failure handling (a program
 * that fails leaves no file and no temporary behind).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "core/err.h"
#include "ivr/ivr.h"

static void test_cache_names(void **state)
{
    (void)state;
    assert_true(ivr_tts_name_ok("tts-0123456789abcdef0123456789abcdef.wav"));
    assert_false(ivr_tts_name_ok(NULL));
    assert_false(ivr_tts_name_ok(""));
    assert_false(ivr_tts_name_ok("tts-0123456789ABCDEF0123456789abcdef.wav"));  /* upper case */
    assert_false(ivr_tts_name_ok("tts-0123456789abcdef0123456789abcde.wav"));   /* 31 hex */
    assert_false(ivr_tts_name_ok("tts-0123456789abcdef0123456789abcdef0.wav")); /* 33 hex */
    assert_false(ivr_tts_name_ok("tts-0123456789abcdef0123456789abcdef.wav.1.tmp"));
    assert_false(ivr_tts_name_ok("tts-0123456789abcdef0123456789abcdef.mp3"));
    assert_false(ivr_tts_name_ok("../0123456789abcdef0123456789abcdef.wav"));
    assert_false(ivr_tts_name_ok("tts-../456789abcdef0123456789abcdef.wav"));
    assert_false(ivr_tts_name_ok("tts-0123456789abcdef01234/6789abcdef.wav"));
    assert_false(ivr_tts_name_ok("greeting.wav"));
}

static void test_http_provider_config(void **state)
{
    struct ivr_tts_http_config c = { .url = "http://127.0.0.1:1/tts" };
    struct ivr_tts_provider *p;
    (void)state;
    assert_null(ivr_tts_http_create(NULL));
    p = ivr_tts_http_create(&c);
    assert_non_null(p);
    assert_string_equal(p->name, "http");
    ivr_tts_provider_destroy(p);
    c.url = "https://tts.example/v1?text={text}";
    c.token = "abc";
    p = ivr_tts_http_create(&c);
    assert_non_null(p);
    ivr_tts_provider_destroy(p);
    /* Only http(s); a token that would split the header is refused. */
    c.url = "ftp://tts.example/x";
    assert_null(ivr_tts_http_create(&c));
    c.url = "file:///etc/passwd";
    assert_null(ivr_tts_http_create(&c));
    c.url = NULL;
    assert_null(ivr_tts_http_create(&c));
    c.url = "http://127.0.0.1:1/tts";
    c.token = "abc\r\nX-Evil: 1";
    assert_null(ivr_tts_http_create(&c));
    ivr_tts_provider_destroy(NULL);
}

/* A refused connection is a failure and leaves nothing in the directory. */
static void test_http_provider_unreachable(void **state)
{
    char dir[64], path[200];
    struct ivr_tts_http_config c = { .url = "http://127.0.0.1:1/tts", .timeout_ms = 2000 };
    struct ivr_tts_provider *p = ivr_tts_http_create(&c);
    DIR *d;
    struct dirent *de;
    int n = 0;
    (void)state;
    assert_non_null(p);
    snprintf(dir, sizeof(dir), "/tmp/test_tts_unit.%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(ivr_ari_tts_path(dir, "hello", "en", path, sizeof(path)), 0);
    assert_int_not_equal(p->render(p->ctx, "hello", "en", "en", path), 0);
    ivr_tts_provider_destroy(p);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.';
    }
    closedir(d);
    assert_int_equal(n, 0);
    assert_int_equal(rmdir(dir), 0);
}

/* A TTS program that fails (twice: the voice, then the default one) gives ERR_IO and no file. */
static void test_espeak_failure(void **state)
{
    char dir[64], path[200];
    struct ivr_tts_provider *p = ivr_tts_espeak_create("false", "en");
    DIR *d;
    struct dirent *de;
    int n = 0;
    (void)state;
    assert_non_null(p);
    assert_string_equal(p->name, "espeak");
    snprintf(dir, sizeof(dir), "/tmp/test_tts_unit_e.%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(ivr_ari_tts_path(dir, "hello", "fr", path, sizeof(path)), 0);
    assert_int_equal(p->render(p->ctx, "hello", "fr", "fr", path), ERR_IO);
    ivr_tts_provider_destroy(p);
    p = ivr_tts_espeak_create("/nonexistent/espeak-ng", NULL);
    assert_non_null(p);
    assert_int_equal(p->render(p->ctx, "hello", "en", "en", path), ERR_IO);
    ivr_tts_provider_destroy(p);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.';
    }
    closedir(d);
    assert_int_equal(n, 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_names),
        cmocka_unit_test(test_http_provider_config),
        cmocka_unit_test(test_http_provider_unreachable),
        cmocka_unit_test(test_espeak_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
