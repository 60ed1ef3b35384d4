/* SPDX-License-Identifier: MIT */
/*
 * say through the HTTP text-to-speech provider against a real ari-sim and a
 * local TTS service (core/httpd on its own thread, loopback): the rendered
 * prompt is written to the cache and played; a cache hit makes no second
 * request; a 500, a timeout or a non-audio answer takes the say's error
 * outcome and leaves nothing in the cache. Prompts over HTTP: with a
 * sounds_http_base the playback's media URI points at /sounds/, which serves
 * the cache file and nothing else (no listing, no traversal, no symlinks).
 * A full cache disk (a small tmpfs mounted before any thread starts, in a
 * mount namespace of the test's own; skipped, saying why, where that is not
 * permitted): the say takes its error outcome, nothing is cached, and with
 * space back the prompt is rendered and played.
 */
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "ari/ari.h"
#include "core/err.h"
#include "core/httpd.h"
#include "ivr/ivr.h"
#include "sim/simc.h"
#include "tests/support/evloop.h"
#include "tests/support/ivrfix.h"

static const char SCENARIO[] = "{\"name\":\"ivr-tts\",\"seed\":7,"
                               "\"populations\":{\"default\":[{\"weight\":1,\"talk\":\"forever\"}],"
                               "\"silent\":[{\"weight\":1,\"talk\":\"forever\"}]}}";

#define TOKEN "tts-test-token"

/* The TTS service's view (written on the httpd thread before it answers). */
static atomic_int hits;
static char got_text[256], got_voice[64], got_lang[32], got_auth[128], got_query[256];
static unsigned char wav[2048];

struct fx {
    struct simfix sx; /* ari-sim, its (scratch) directory and the ARI client */
    struct ev_loop *loop;
    struct ivr_ari *d;
    struct httpd *srv;
    struct ivr_sounds *sounds;
    int port;
    char cache[160]; /* the TTS cache, served at /sounds/ */
    char full[160];  /* a 256 KiB tmpfs for the full-disk test, or "" */
    char full_why[160];
    struct ivr_flow *flow;
    struct ivr_ari_call *ac;
    struct ivr_session *s;
    char chan[128];
    int started;
    int ended;
    char disposition[32];
    char media[512]; /* media URI of the first PlaybackStarted */
};

static void make_wav(void)
{
    /* A 44-byte PCM header and 0.1 s of 8 kHz silence. */
    static const unsigned char hdr[44] = { 'R', 'I',  'F',  'F', 0,   0,   0,    0,    'W',
                                           'A', 'V',  'E',  'f', 'm', 't', ' ',  16,   0,
                                           0,   0,    1,    0,   1,   0,   0x40, 0x1f, 0,
                                           0,   0x80, 0x3e, 0,   0,   2,   0,    16,   0,
                                           'd', 'a',  't',  'a', 0,   0,   0,    0 };
    memcpy(wav, hdr, sizeof(hdr));
    for (size_t i = sizeof(hdr); i < sizeof(wav); i++) {
        wav[i] = (unsigned char)(i * 7);
    }
}

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s != NULL ? s : "");
}

static int h_tts(struct httpd_req *req, void *arg)
{
    json_t *b = httpd_req_json(req);
    (void)arg;
    copy_str(got_text, sizeof(got_text), json_string_value(json_object_get(b, "text")));
    copy_str(got_voice, sizeof(got_voice), json_string_value(json_object_get(b, "voice")));
    copy_str(got_lang, sizeof(got_lang), json_string_value(json_object_get(b, "lang")));
    copy_str(got_auth, sizeof(got_auth), httpd_req_header(req, "authorization"));
    atomic_fetch_add(&hits, 1);
    return httpd_respond_raw(req, 200, "audio/x-wav", wav, sizeof(wav), NULL, 0);
}

static int h_tts_get(struct httpd_req *req, void *arg)
{
    (void)arg;
    copy_str(got_query, sizeof(got_query), httpd_req_query(req, "q"));
    copy_str(got_voice, sizeof(got_voice), httpd_req_query(req, "v"));
    atomic_fetch_add(&hits, 1);
    return httpd_respond_raw(req, 200, "audio/wav", wav, sizeof(wav), NULL, 0);
}

static int h_fail(struct httpd_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&hits, 1);
    return httpd_error(req, 500, "internal", "synthesis failed", NULL);
}

static int h_text(struct httpd_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&hits, 1);
    return httpd_respond_raw(req, 200, "text/plain", wav, sizeof(wav), NULL, 0);
}

static int h_big(struct httpd_req *req, void *arg)
{
    static unsigned char big[64 * 1024];
    (void)arg;
    memcpy(big, wav, sizeof(wav));
    atomic_fetch_add(&hits, 1);
    return httpd_respond_raw(req, 200, "audio/wav", big, sizeof(big), NULL, 0);
}

static int h_slow(struct httpd_req *req, void *arg)
{
    (void)req;
    (void)arg;
    atomic_fetch_add(&hits, 1);
    return HTTPD_DEFERRED; /* answered by the server's request timeout, long after ours */
}

static void on_end(void *arg, const struct ivr_end *e)
{
    struct fx *f = arg;
    copy_str(f->disposition, sizeof(f->disposition), e->disposition);
    ivr_ari_call_destroy(f->ac);
    f->ac = NULL;
    f->ended++;
}

static void answered(struct ari_client *c, const struct ari_result *res, void *arg)
{
    struct fx *f = arg;
    struct ivr_session_config cfg = {
        .ops = ivr_ari_ops(), .ops_ctx = f->ac, .loop = f->loop, .on_end = on_end, .cb_arg = f
    };
    (void)c;
    if (res->error != ARI_OK || f->ac == NULL) {
        return;
    }
    f->s = ivr_session_create(f->flow, &cfg, NULL);
    assert_non_null(f->s);
    ivr_ari_call_bind(f->ac, f->s);
    ivr_session_start(f->s, "inbound", NULL);
}

static void on_event(struct ari_client *c, const struct ari_event *ev, void *arg)
{
    struct fx *f = arg;
    if (ev->type == ARI_EVENT_PLAYBACK_STARTED && f->media[0] == '\0') {
        copy_str(f->media, sizeof(f->media), ev->playback_started.playback->media_uri);
    }
    if (ivr_ari_dispatch(f->d, ev)) {
        return;
    }
    if (ev->type == ARI_EVENT_STASIS_START && f->flow != NULL && f->ac == NULL && f->started == 0) {
        const char *id = ev->stasis_start.channel->id;
        copy_str(f->chan, sizeof(f->chan), id);
        assert_int_equal(ivr_ari_call_create(f->d, c, id, &f->ac), 0);
        f->started++;
        ari_channel_answer(c, id, answered, f, NULL);
    }
}

static int group_setup(void **state)
{
    static const struct httpd_route routes[] = {
        { HTTPD_POST, "/tts", h_tts, NULL, HTTPD_ROUTE_JSON, 0, NULL, NULL },
        { HTTPD_GET, "/tts-get", h_tts_get, NULL, 0, 0, NULL, NULL },
        { HTTPD_POST, "/fail", h_fail, NULL, 0, 0, NULL, NULL },
        { HTTPD_POST, "/text", h_text, NULL, 0, 0, NULL, NULL },
        { HTTPD_POST, "/slow", h_slow, NULL, 0, 0, NULL, NULL },
        { HTTPD_POST, "/big", h_big, NULL, 0, 0, NULL, NULL },
    };
    struct fx *f = calloc(1, sizeof(*f));
    struct simfix_config sc = {
        .app = "ivr", .scenario = SCENARIO, .request_timeout_ms = 3000, .on_event = on_event
    };
    struct httpd_config hc = {
        .name = "tts", .request_timeout_ms = 3000, .shutdown_grace_ms = 200, .no_access_log = true
    };

    if (f == NULL || simfix_mkdir(&f->sx, "test_ivr_tts") != 0) {
        fprintf(stderr, "setup failed at step %d\n", 0);
        free(f);
        return -1;
    }
    make_wav();
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->sx.dir);
    mkdir(f->cache, 0700);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    sc.arg = f;
    *state = f;
    /* Before any thread: a mount namespace is per thread once there are several. */
    snprintf(f->full, sizeof(f->full), "%s/full", f->sx.dir);
    mkdir(f->full, 0700);
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", f->full, "tmpfs", 0, "size=256k") != 0) {
        snprintf(f->full_why, sizeof(f->full_why), "cannot mount a tmpfs here (%s)",
                 strerror(errno));
        rmdir(f->full);
        f->full[0] = '\0';
    }
    if (simfix_start(&f->sx, f->loop, &sc) != 0) {
        fprintf(stderr, "setup failed at step %d\n", 1);
        return -1;
    }
    f->srv = httpd_create(&hc, routes, sizeof(routes) / sizeof(routes[0]));
    if (f->srv == NULL) {
        fprintf(stderr, "setup failed at step %d\n", 3);
        return -1;
    }
    f->sounds = ivr_sounds_mount(f->srv, f->cache);
    if (f->sounds == NULL || httpd_start(f->srv) != 0) {
        fprintf(stderr, "setup failed at step %d\n", 4);
        return -1;
    }
    f->port = httpd_port(f->srv);
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    int rc;
    httpd_stop(f->srv);
    ivr_sounds_free(f->sounds);
    rc = 0;
    if (f->full[0] != '\0' && umount(f->full) != 0) {
        rc = -1;
    }
    if (simfix_stop(&f->sx) != 0) {
        rc = -1;
    }
    ev_loop_destroy(f->loop);
    free(f);
    return rc;
}

/* Empties the cache directory. */
static void clear_cache(struct fx *f)
{
    DIR *dir = opendir(f->cache);
    struct dirent *de;
    assert_non_null(dir);
    while ((de = readdir(dir)) != NULL) {
        char p[512];
        if (de->d_name[0] != '.') {
            snprintf(p, sizeof(p), "%s/%s", f->cache, de->d_name);
            unlink(p);
        }
    }
    closedir(dir);
}

/* Files in the cache directory. */
static int cache_files(struct fx *f)
{
    DIR *dir = opendir(f->cache);
    struct dirent *de;
    int n = 0;
    assert_non_null(dir);
    while ((de = readdir(dir)) != NULL) {
        n += de->d_name[0] != '.';
    }
    closedir(dir);
    return n;
}

#define FLOW(nodes)                                                                        \
    "{'format':'ivrflow/1','start':'s','nodes':{"                                          \
    "'s':{'type':'start','props':{'triggers':['inbound']},'next':{'next':'a'}}," nodes "," \
    "'ok':{'type':'hangup','props':{'disposition':'ok'}},"                                 \
    "'bad':{'type':'hangup','props':{'disposition':'bad'}}}}"

#define SAY_TWICE(text)                                                                      \
    FLOW("'a':{'type':'say','props':{'text':'" text "'},'next':{'done':'b','error':'bad'}}," \
         "'b':{'type':'say','props':{'text':'" text "'},'next':{'done':'ok','error':'bad'}}")

/* Runs one inbound call through src with the provider made from url (NULL: none). */
static void run_call(struct fx *f, const char *src, const char *path, int64_t timeout_ms,
                     const char *http_base)
{
    char url[256];
    char *s = strdup(src);
    struct ivr_report *rep = NULL;
    struct ivr_load_options opt = { 0 };
    struct simc_resp r;
    struct ivr_tts_http_config tc = {
        .url = url, .token = TOKEN, .timeout_ms = timeout_ms, .max_bytes = 16 * 1024
    };
    struct ivr_ari_config cfg = { .sounds_dir = f->cache, .sounds_http_base = http_base };

    assert_non_null(s);
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    assert_int_equal(ivr_flow_load(s, strlen(s), &opt, &f->flow, &rep), 0);
    free(s);
    ivr_report_free(rep);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    cfg.tts = ivr_tts_http_create(&tc);
    assert_non_null(cfg.tts);
    assert_int_equal(ivr_ari_create(f->loop, &cfg, &f->d), 0);
    f->ac = NULL;
    f->s = NULL;
    f->started = f->ended = 0;
    f->disposition[0] = f->media[0] = '\0';
    atomic_store(&hits, 0);
    got_text[0] = got_voice[0] = got_auth[0] = got_query[0] = '\0';
    assert_int_equal(simc_http(f->sx.sim.port, "POST",
                               "/_sim/inbound?extension=2001&app=ivr&context=from-trunk"
                               "&caller=%2B14155550100&population=silent",
                               NULL, NULL, NULL, &r),
                     0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
    assert_true(evloop_run_until(f->loop, &f->started, 1, 5.0));
    assert_true(evloop_run_until(f->loop, &f->ended, 1, 20.0));
    ivr_session_destroy(f->s);
    f->s = NULL;
    ivr_flow_unref(f->flow);
    f->flow = NULL;
    evloop_run_for(f->loop, 0.2);
    assert_int_equal(ivr_ari_count(f->d), 0);
    ivr_ari_destroy(f->d);
    f->d = NULL;
}

/* Reads a whole file; NULL when absent. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *b;
    if (fp == NULL) {
        return NULL;
    }
    b = malloc(1 << 16);
    assert_non_null(b);
    *len = fread(b, 1, 1 << 16, fp);
    fclose(fp);
    return b;
}

/* ---------------------------------------------------------------- tests */

/* POST JSON with the bearer token; the answer becomes the cache file; the second say is a hit. */
static void test_http_provider_renders_once(void **state)
{
    struct fx *f = *state;
    char path[512], want[600];
    unsigned char *b;
    size_t len = 0;
    clear_cache(f);
    run_call(f, SAY_TWICE("Your balance is ten dollars"), "/tts", 0, NULL);
    assert_string_equal(f->disposition, "ok");
    assert_int_equal(atomic_load(&hits), 1); /* the second say hit the cache */
    assert_string_equal(got_text, "Your balance is ten dollars");
    assert_string_equal(got_auth, "Bearer " TOKEN);
    assert_true(got_voice[0] != '\0');
    /* The service's bytes are the cache file of (text, voice), played from sounds_uri. */
    assert_int_equal(
        ivr_ari_tts_path(f->cache, "Your balance is ten dollars", got_voice, path, sizeof(path)),
        0);
    b = slurp(path, &len);
    assert_non_null(b);
    assert_int_equal(len, sizeof(wav));
    assert_memory_equal(b, wav, sizeof(wav));
    free(b);
    snprintf(want, sizeof(want), "sound:%.*s", (int)(strlen(path) - 4), path);
    assert_string_equal(f->media, want);
    assert_int_equal(cache_files(f), 1);
}

/* A URL holding {text} is a GET with the values URL-encoded. */
static void test_http_provider_get_template(void **state)
{
    struct fx *f = *state;
    clear_cache(f);
    run_call(f, SAY_TWICE("Press 1 & wait?"), "/tts-get?q={text}&v={voice}", 0, NULL);
    assert_string_equal(f->disposition, "ok");
    assert_int_equal(atomic_load(&hits), 1);
    assert_string_equal(got_query, "Press 1 & wait?");
    assert_true(got_voice[0] != '\0');
    assert_int_equal(cache_files(f), 1);
}

/* 500, a timeout, a non-audio and a too large answer each take the error outcome; nothing is
 * cached. */
static void test_http_provider_failures(void **state)
{
    struct fx *f = *state;
    static const char *const paths[] = { "/fail", "/slow", "/text", "/big" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        clear_cache(f);
        run_call(f, SAY_TWICE("Sorry"), paths[i], 300, NULL);
        assert_string_equal(f->disposition, "bad");
        assert_int_equal(atomic_load(&hits), 1); /* the first say failed; the flow went to bad */
        assert_int_equal(cache_files(f), 0);     /* no partial file, no temporary left */
        assert_string_equal(f->media, "");       /* nothing played */
    }
}

/*
 * The cache's disk is full: the answer cannot be written, the say takes its
 * error outcome and nothing (no temporary either) is left; with space back
 * the same prompt is rendered, cached whole and played.
 */
static void test_http_provider_full_disk(void **state)
{
    struct fx *f = *state;
    static const char zero[4096];
    char keep[160], filler[200], path[512];
    unsigned char *b;
    size_t len = 0;
    int fd;
    if (f->full[0] == '\0') {
        printf("SKIP full disk: %s\n", f->full_why);
        skip();
    }
    snprintf(keep, sizeof(keep), "%s", f->cache);
    snprintf(f->cache, sizeof(f->cache), "%s", f->full);
    snprintf(filler, sizeof(filler), "%s/filler", f->full);
    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    for (int i = 0; i < 1000 && write(fd, zero, sizeof(zero)) > 0; i++) { /* 4 MB at most */
    }
    close(fd);

    run_call(f, SAY_TWICE("Your order has shipped"), "/tts", 0, NULL);
    assert_string_equal(f->disposition, "bad");
    assert_int_equal(atomic_load(&hits), 1);
    assert_int_equal(cache_files(f), 1); /* the filler only */
    assert_string_equal(f->media, "");

    assert_int_equal(unlink(filler), 0);
    run_call(f, SAY_TWICE("Your order has shipped"), "/tts", 0, NULL);
    assert_string_equal(f->disposition, "ok");
    assert_int_equal(atomic_load(&hits), 1);
    assert_int_equal(
        ivr_ari_tts_path(f->cache, "Your order has shipped", got_voice, path, sizeof(path)), 0);
    b = slurp(path, &len);
    assert_non_null(b);
    assert_int_equal(len, sizeof(wav));
    assert_memory_equal(b, wav, sizeof(wav));
    free(b);
    clear_cache(f);
    snprintf(f->cache, sizeof(f->cache), "%s", keep);
}

struct body {
    unsigned char *p;
    size_t n;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t len = size * nmemb;
    unsigned char *np = realloc(b->p, b->n + len);
    if (np == NULL) {
        return 0;
    }
    memcpy(np + b->n, ptr, len);
    b->p = np;
    b->n += len;
    return len;
}

/* GET url (blocking; the server runs on its own thread). The status; body into b. */
static long http_get(const char *url, struct body *b, char *ctype, size_t ctn)
{
    CURL *h = curl_easy_init();
    long code = 0;
    char *ct = NULL;
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* send "/../" as written */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    copy_str(ctype, ctn, ct);
    curl_easy_cleanup(h);
    return code;
}

/* With an HTTP base the say plays sound:<base>/tts-<hex>.wav, and /sounds/ serves that file only.
 */
static void test_sounds_over_http(void **state)
{
    struct fx *f = *state;
    char base[128], path[512], want[700], url[700], ct[64], link[600];
    const char *name;
    struct body b = { 0 };
    FILE *fp;
    static const char *const refused[] = {
        "/sounds/",
        "/sounds/secret.wav",
        "/sounds/..%2fscenario.json",
        "/sounds/../scenario.json",
        "/sounds/tts-0123456789ABCDEF0123456789ABCDEF.wav",
        "/sounds/tts-0123456789abcdef0123456789abcdef.wav",       /* a symlink out of the cache */
        "/sounds/tts-0123456789abcdef0123456789abcdef.wav.1.tmp", /* a render's temporary */
    };
    clear_cache(f);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/sounds", f->port);
    run_call(f, SAY_TWICE("Thank you for calling"), "/tts", 0, base);
    assert_string_equal(f->disposition, "ok");
    assert_int_equal(
        ivr_ari_tts_path(f->cache, "Thank you for calling", got_voice, path, sizeof(path)), 0);
    name = strrchr(path, '/') + 1;
    snprintf(want, sizeof(want), "sound:%s/%s", base, name);
    assert_string_equal(f->media, want);
    /* Asterisk's media cache fetches exactly that URL. */
    snprintf(url, sizeof(url), "%s/%s", base, name);
    assert_int_equal(http_get(url, &b, ct, sizeof(ct)), 200);
    assert_string_equal(ct, "audio/wav");
    assert_int_equal(b.n, sizeof(wav));
    assert_memory_equal(b.p, wav, sizeof(wav));
    free(b.p);

    /* Other files, names and paths are not served. */
    snprintf(link, sizeof(link), "%s/secret.wav", f->cache);
    fp = fopen(link, "w");
    assert_non_null(fp);
    fputs("RIFF secret", fp);
    fclose(fp);
    snprintf(link, sizeof(link), "%s/tts-0123456789abcdef0123456789abcdef.wav", f->cache);
    snprintf(want, sizeof(want), "%s/scenario.json", f->sx.dir);
    assert_int_equal(symlink(want, link), 0);
    snprintf(link, sizeof(link), "%s/tts-0123456789abcdef0123456789abcdef.wav.1.tmp", f->cache);
    fp = fopen(link, "w");
    assert_non_null(fp);
    fputs("RIFF partial", fp);
    fclose(fp);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct body nb = { 0 };
        long code;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, refused[i]);
        code = http_get(url, &nb, ct, sizeof(ct));
        if (code != 404 && code != 400) {
            fail_msg("%s: status %ld", refused[i], code);
        }
        assert_true(nb.p == NULL || memmem(nb.p, nb.n, "RIFF", 4) == NULL);
        assert_true(nb.p == NULL || memmem(nb.p, nb.n, "ivr-tts", 7) == NULL);
        free(nb.p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_provider_renders_once),
        cmocka_unit_test(test_http_provider_get_template),
        cmocka_unit_test(test_http_provider_failures),
        cmocka_unit_test(test_http_provider_full_disk),
        cmocka_unit_test(test_sounds_over_http),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
