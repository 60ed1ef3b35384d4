/* SPDX-License-Identifier: MIT */
/*
 * The TTS providers' construction rules, the cache-name check that guards
 * the /sounds/ route, and the espeak provider's failure handling (a program
 * that fails leaves no file and no temporary behind; a full disk fails the
 * render with ENOSPC and caches nothing, and once space is back the same
 * prompt renders whole). The full-disk test mounts a small tmpfs in a mount
 * namespace of its own; where that is not permitted (not root) it is
 * skipped, saying why.
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
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

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

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF) {
            break;
        }
    }
    if (fa != NULL) {
        fclose(fa);
    }
    if (fb != NULL) {
        fclose(fb);
    }
    return same;
}

/* Writes zeros to path until the file system is full; returns bytes written. */
static long fill(const char *path)
{
    static const char zero[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    long n = 0;
    assert_true(fd >= 0);
    for (int i = 0; i < 100000; i++) { /* bounded: 400 MB at most */
        ssize_t w = write(fd, zero, sizeof(zero));
        if (w <= 0) {
            break;
        }
        n += w;
    }
    close(fd);
    return n;
}

static bool espeak_present(void)
{
    return system("espeak-ng --version >/dev/null 2>&1") == 0;
}

static const char long_text[] = "Thank you for calling. Your appointment is confirmed for "
                                "Tuesday at ten in the morning. Press one to repeat, two to "
                                "change it, or stay on the line to speak with someone.";

/*
 * A full disk: espeak-ng's own writer would exit 0 and leave a short file; the
 * provider sees the failed write, returns -ENOSPC and leaves nothing in the
 * cache. With space back, the same prompt renders whole (the same bytes as
 * a render on a disk with room).
 */
static void test_espeak_full_disk(void **state)
{
    char dir[64], ref[64], path[200], refpath[200], filler[100];
    struct ivr_tts_provider *p;
    long room;
    (void)state;
    if (!espeak_present()) {
        printf("SKIP espeak full disk: espeak-ng is not installed\n");
        skip();
    }
    if (unshare(CLONE_NEWNS) != 0) {
        printf("SKIP espeak full disk: cannot make a mount namespace (%s)\n", strerror(errno));
        skip();
    }
    assert_int_equal(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    snprintf(dir, sizeof(dir), "/tmp/test_tts_full.%d", (int)getpid());
    snprintf(ref, sizeof(ref), "/tmp/test_tts_ref.%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(ref, 0700), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
        printf("SKIP espeak full disk: cannot mount a tmpfs (%s)\n", strerror(errno));
        rmdir(dir);
        rmdir(ref);
        skip();
    }
    p = ivr_tts_espeak_create("espeak-ng", "en");
    assert_non_null(p);

    /* The reference: the prompt rendered where there is room. */
    assert_int_equal(ivr_ari_tts_path(ref, long_text, "en", refpath, sizeof(refpath)), 0);
    assert_int_equal(p->render(p->ctx, long_text, "en", "en", refpath), 0);
    assert_true(file_size(refpath) > 100000); /* more than the 8 KiB left below */

    /* Full but for 8 KiB: the text file fits, the audio does not. */
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    room = fill(filler);
    assert_true(room > 0);
    assert_int_equal(truncate(filler, room - 8192), 0);
    assert_int_equal(ivr_ari_tts_path(dir, long_text, "en", path, sizeof(path)), 0);
    assert_int_equal(p->render(p->ctx, long_text, "en", "en", path), -ENOSPC);
    assert_int_equal(file_size(path), -1);
    assert_int_equal(count_entries(dir), 1); /* the filler only: no temporary left */

    /* Completely full: the text file itself cannot be written. */
    fill(filler);
    assert_int_equal(p->render(p->ctx, long_text, "en", "en", path), -ENOSPC);
    assert_int_equal(count_entries(dir), 1);

    /* Space is back: the same prompt renders whole. */
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(p->render(p->ctx, long_text, "en", "en", path), 0);
    assert_true(same_file(path, refpath));
    assert_int_equal(count_entries(dir), 1);

    ivr_tts_provider_destroy(p);
    assert_int_equal(umount(dir), 0);
    assert_int_equal(rmdir(dir), 0);
    unlink(refpath);
    assert_int_equal(rmdir(ref), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_names),
        cmocka_unit_test(test_http_provider_config),
        cmocka_unit_test(test_http_provider_unreachable),
        cmocka_unit_test(test_espeak_failure),
        cmocka_unit_test(test_espeak_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
