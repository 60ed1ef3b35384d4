/* SPDX-License-Identifier: MIT */
/*
 * tts: the text-to-speech providers behind say, and the read-only HTTP view
 * of the rendered-prompt cache.
 *
 * DESIGN
 * - A provider is a small vtable (struct ivr_tts_provider): render(text,
 *   lang, voice, path) writes the prompt to the cache file path, atomically
 *   (a temporary file in the same directory, then rename), so a reader never
 *   sees half a file. It runs on the dispatcher's TTS worker thread only and
 *   may block there; it never runs on a loop.
 * - espeak: espeak-ng -v <voice> --stdout -f <text file>, the audio copied
 *   into the temporary file with every write checked (espeak-ng's own -w
 *   writer ignores a full disk and leaves a short file with a consistent
 *   header), the WAV sizes then set. A voice espeak-ng does not have is
 *   retried once with the default voice (same cache file).
 * - A full disk (ENOSPC) or any other write error fails the render: the
 *   temporary file is removed, nothing is renamed into the cache, and the say
 *   takes its error outcome. The next render of the same prompt tries again,
 *   so the cache heals by itself once space is back.
 * - http: one blocking curl easy transfer per render (worker thread). Without
 *   "{text}" in the URL: POST {"text","lang","voice"} as JSON; with it: GET,
 *   the URL's {text}, {lang} and {voice} replaced by their URL-encoded
 *   values. Optional "Authorization: Bearer <token>". No redirects, http and
 *   https only, a total timeout, a response size limit; the answer must be
 *   200 with Content-Type audio/wav, audio/x-wav or audio/wave and a RIFF
 *   body, anything else (and a timeout) fails the render, which takes the
 *   say's error outcome. The token is never logged.
 * - /sounds/{name}: serves only "tts-<32 lowercase hex>.wav" from the cache
 *   directory (no listing, no other name, so no path traversal), opened with
 *   O_NOFOLLOW, regular files up to 64 MiB. The read happens on the httpd
 *   thread: the files are small local prompts. The content never changes for
 *   a name (the name is the hash of voice and text), so it is cacheable.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/httpd.h"
#include "core/log.h"
#include "ivr/ivr.h"

extern char **environ;

enum { TTS_PATH_MAX = 600, HEX_LEN = 32 };

#define TTS_HTTP_DEFAULT_TIMEOUT (INT64_C(10) * 1000)
#define TTS_HTTP_DEFAULT_MAX     (INT64_C(16) * 1024 * 1024)
#define SOUNDS_MAX_FILE          (INT64_C(64) * 1024 * 1024)

/* --------------------------------------------------------------- espeak */

struct espeak {
    char *program;
    char *voice; /* the default voice */
};

/*
 * Copies espeak-ng's standard output (a WAV stream) into fd with checked
 * writes. Returns 0, or -errno of the first failed write (-ENOSPC on a full
 * disk) after draining the pipe so the child can finish.
 */
static int copy_stream(int from, int fd, int64_t *total)
{
    char buf[16384];
    int rc = 0;
    for (;;) {
        ssize_t n = read(from, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 && rc == 0 ? -errno : rc;
        }
        for (ssize_t off = 0; rc == 0 && off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                rc = w < 0 ? -errno : ERR_IO;
                break;
            }
            off += w;
            *total += w;
        }
    }
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/*
 * espeak-ng writes an unseekable stream with placeholder sizes: set the RIFF
 * and data sizes from what was written. The header is espeak-ng's canonical
 * 44 bytes ("RIFF" size "WAVE" "fmt " 16 ... "data" size).
 */
static int fix_wav_sizes(int fd, int64_t total)
{
    unsigned char h[44], le[4];
    if (total < 44 || total > INT64_C(0xffffffff) || pread(fd, h, sizeof(h), 0) != 44 ||
        memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVEfmt ", 8) != 0 ||
        memcmp(h + 36, "data", 4) != 0) {
        return ERR_PROTO;
    }
    put_le32(le, (uint32_t)(total - 8));
    if (pwrite(fd, le, 4, 4) != 4) {
        return errno != 0 ? -errno : ERR_IO;
    }
    put_le32(le, (uint32_t)(total - 44));
    if (pwrite(fd, le, 4, 40) != 4) {
        return errno != 0 ? -errno : ERR_IO;
    }
    return 0;
}

/*
 * One espeak-ng run. espeak-ng's own -w writer ignores write errors: on a
 * full disk it exits 0 leaving a shorter file whose header matches its
 * length, which would be cached and played as the whole prompt. So the
 * audio comes over a pipe (--stdout) and is written here with every write
 * and the close checked; any failure removes the temporary file, and only a
 * complete file is renamed into place.
 */
static int espeak_once(const struct espeak *e, const char *text, const char *voice,
                       const char *path)
{
    char tmp[TTS_PATH_MAX], txt[TTS_PATH_MAX];
    char vbuf[64];
    char *argv[8];
    static char opt_v[] = "-v", opt_out[] = "--stdout", opt_f[] = "-f";
    posix_spawn_file_actions_t fa;
    int pipefd[2] = { -1, -1 };
    int64_t total = 0;
    pid_t pid;
    int st = 0, rc, wrc = 0, fd;
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp) ||
        snprintf(txt, sizeof(txt), "%s.%d.txt", path, (int)getpid()) >= (int)sizeof(txt)) {
        return ERR_TOOBIG;
    }
    f = fopen(txt, "w");
    if (f == NULL) {
        return errno != 0 ? -errno : ERR_IO;
    }
    fputs(text, f);
    if (fclose(f) != 0) {
        rc = errno != 0 ? -errno : ERR_IO;
        unlink(txt);
        return rc;
    }
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = errno != 0 ? -errno : ERR_IO;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        unlink(txt);
        return rc;
    }
    snprintf(vbuf, sizeof(vbuf), "%s", voice);
    argv[0] = e->program;
    argv[1] = opt_v;
    argv[2] = vbuf;
    argv[3] = opt_out;
    argv[4] = opt_f;
    argv[5] = txt;
    argv[6] = NULL;
    rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        rc = posix_spawnp(&pid, e->program, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(pipefd[1]);
    if (rc == 0) {
        wrc = copy_stream(pipefd[0], fd, &total);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    close(pipefd[0]);
    unlink(txt);
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        close(fd);
        unlink(tmp);
        return ERR_IO;
    }
    if (wrc == 0) {
        wrc = fix_wav_sizes(fd, total);
    }
    if (close(fd) != 0 && wrc == 0) {
        wrc = errno != 0 ? -errno : ERR_IO;
    }
    if (wrc == 0 && rename(tmp, path) != 0) {
        wrc = errno != 0 ? -errno : ERR_IO;
    }
    if (wrc != 0) {
        unlink(tmp);
        LOG_WARN(IVR, "event=tts_espeak_failed bytes=%lld err=\"%s\"", (long long)total,
                 err_str(wrc));
    }
    return wrc;
}

static int espeak_render(void *ctx, const char *text, const char *lang, const char *voice,
                         const char *path)
{
    const struct espeak *e = ctx;
    int rc = espeak_once(e, text, voice, path);
    (void)lang;
    /* Only a failed run of espeak-ng itself (ERR_IO) may be an unknown
     * voice; a write that failed (-ENOSPC...) would fail again. */
    if (rc == ERR_IO && strcmp(voice, e->voice) != 0) {
        /* A voice espeak-ng does not have: the default one, same cache file. */
        rc = espeak_once(e, text, e->voice, path);
    }
    return rc;
}

static void espeak_destroy(void *ctx)
{
    struct espeak *e = ctx;
    if (e != NULL) {
        free(e->program);
        free(e->voice);
        free(e);
    }
}

struct ivr_tts_provider *ivr_tts_espeak_create(const char *program, const char *default_voice)
{
    struct ivr_tts_provider *p = calloc(1, sizeof(*p));
    struct espeak *e = calloc(1, sizeof(*e));
    if (p == NULL || e == NULL) {
        free(p);
        free(e);
        return NULL;
    }
    e->program = strdup(program != NULL ? program : "espeak-ng");
    e->voice = strdup(default_voice != NULL ? default_voice : "en");
    if (e->program == NULL || e->voice == NULL) {
        espeak_destroy(e);
        free(p);
        return NULL;
    }
    p->name = "espeak";
    p->render = espeak_render;
    p->destroy = espeak_destroy;
    p->ctx = e;
    return p;
}

/* ----------------------------------------------------------------- http */

struct tts_http {
    char *url;
    char *auth; /* "Authorization: Bearer <token>" or NULL */
    int64_t timeout_ms, max_bytes;
};

struct sink {
    FILE *f;
    int64_t n, max;
    bool over;
    int werr; /* errno of a failed write (ENOSPC: the disk is full) */
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t len = size * nmemb;
    if (s->n + (int64_t)len > s->max) {
        s->over = true;
        return 0; /* aborts the transfer */
    }
    if (fwrite(ptr, 1, len, s->f) != len) {
        s->werr = errno != 0 ? errno : EIO;
        return 0;
    }
    s->n += (int64_t)len;
    return len;
}

/* url with {text}, {lang}, {voice} replaced by their URL-encoded values; NULL on OOM. */
static char *expand_url(CURL *h, const char *tmpl, const char *text, const char *lang,
                        const char *voice)
{
    static const char *const keys[] = { "{text}", "{lang}", "{voice}" };
    const char *vals[] = { text, lang, voice };
    size_t cap = strlen(tmpl) + 1, len = 0;
    char *enc[3] = { NULL, NULL, NULL };
    char *out = NULL;
    for (size_t i = 0; i < 3; i++) {
        enc[i] = curl_easy_escape(h, vals[i], 0);
        if (enc[i] == NULL) {
            goto done;
        }
        cap += 8 * strlen(enc[i]); /* enough for a few occurrences of each */
    }
    out = malloc(cap);
    if (out == NULL) {
        goto done;
    }
    for (const char *p = tmpl; *p != '\0';) {
        size_t k = 0;
        for (; k < 3; k++) {
            if (strncmp(p, keys[k], strlen(keys[k])) == 0) {
                break;
            }
        }
        const char *add = k < 3 ? enc[k] : p;
        size_t al = k < 3 ? strlen(enc[k]) : 1;
        if (len + al + 1 > cap) {
            free(out);
            out = NULL;
            goto done;
        }
        memcpy(out + len, add, al);
        len += al;
        p += k < 3 ? strlen(keys[k]) : 1;
    }
    out[len] = '\0';
done:
    for (size_t i = 0; i < 3; i++) {
        curl_free(enc[i]);
    }
    return out;
}

static bool wav_type(const char *ct)
{
    static const char *const ok[] = { "audio/wav", "audio/x-wav", "audio/wave" };
    if (ct == NULL) {
        return false;
    }
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t n = strlen(ok[i]);
        if (strncasecmp(ct, ok[i], n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ')) {
            return true;
        }
    }
    return false;
}

static int http_render(void *ctx, const char *text, const char *lang, const char *voice,
                       const char *path)
{
    const struct tts_http *t = ctx;
    char tmp[TTS_PATH_MAX], magic[4];
    struct sink s = { .max = t->max_bytes };
    struct curl_slist *hdr = NULL;
    char *url = NULL, *body = NULL;
    char *ct = NULL;
    long code = 0;
    CURLcode cc;
    int rc = ERR_NOMEM;
    CURL *h;

    if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) {
        return ERR_TOOBIG;
    }
    h = curl_easy_init();
    if (h == NULL) {
        return ERR_NOMEM;
    }
    if (strstr(t->url, "{text}") != NULL) {
        url = expand_url(h, t->url, text, lang, voice);
        if (url == NULL) {
            goto out;
        }
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        json_t *j = json_pack("{s:s,s:s,s:s}", "text", text, "lang", lang, "voice", voice);
        body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (body == NULL) {
            goto out;
        }
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    hdr = curl_slist_append(hdr, "Accept: audio/wav, audio/x-wav");
    if (hdr == NULL || (t->auth != NULL && (hdr = curl_slist_append(hdr, t->auth)) == NULL)) {
        goto out;
    }
    s.f = fopen(tmp, "wb");
    if (s.f == NULL) {
        rc = ERR_IO;
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, url != NULL ? url : t->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (fclose(s.f) != 0 && (cc == CURLE_OK || cc == CURLE_WRITE_ERROR)) {
        cc = CURLE_WRITE_ERROR;
        s.werr = s.werr != 0 ? s.werr : (errno != 0 ? errno : EIO);
    }
    if (cc == CURLE_WRITE_ERROR && s.werr != 0) {
        rc = -s.werr; /* the cache file could not be written (-ENOSPC) */
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = ERR_TIMEOUT;
    } else if (s.over) {
        rc = ERR_TOOBIG;
    } else if (cc != CURLE_OK) {
        rc = ERR_IO;
    } else if (code != 200) {
        rc = ERR_HTTP;
    } else if (!wav_type(ct) || s.n < 12) {
        rc = ERR_PROTO;
    } else {
        FILE *f = fopen(tmp, "rb");
        rc = f != NULL && fread(magic, 1, 4, f) == 4 && memcmp(magic, "RIFF", 4) == 0 ? 0
                                                                                      : ERR_PROTO;
        if (f != NULL) {
            fclose(f);
        }
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = ERR_IO;
    }
    if (rc != 0) {
        unlink(tmp);
        LOG_WARN(IVR, "event=tts_http_failed status=%ld err=\"%s\" curl=\"%s\"", code, err_str(rc),
                 curl_easy_strerror(cc));
    }
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(url);
    free(body);
    return rc;
}

static void http_destroy(void *ctx)
{
    struct tts_http *t = ctx;
    if (t != NULL) {
        free(t->url);
        if (t->auth != NULL) {
            explicit_bzero(t->auth, strlen(t->auth));
            free(t->auth);
        }
        free(t);
    }
}

struct ivr_tts_provider *ivr_tts_http_create(const struct ivr_tts_http_config *cfg)
{
    struct ivr_tts_provider *p;
    struct tts_http *t;
    if (cfg == NULL || cfg->url == NULL ||
        (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0)) {
        return NULL;
    }
    if (cfg->token != NULL && (strchr(cfg->token, '\r') != NULL || strchr(cfg->token, '\n'))) {
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    t = calloc(1, sizeof(*t));
    if (p == NULL || t == NULL) {
        free(p);
        free(t);
        return NULL;
    }
    t->url = strdup(cfg->url);
    t->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : TTS_HTTP_DEFAULT_TIMEOUT;
    t->max_bytes = cfg->max_bytes > 0 ? cfg->max_bytes : TTS_HTTP_DEFAULT_MAX;
    if (cfg->token != NULL && cfg->token[0] != '\0') {
        size_t n = strlen(cfg->token) + 32;
        t->auth = malloc(n);
        if (t->auth != NULL) {
            snprintf(t->auth, n, "Authorization: Bearer %s", cfg->token);
        }
    }
    if (t->url == NULL || (cfg->token != NULL && cfg->token[0] != '\0' && t->auth == NULL)) {
        http_destroy(t);
        free(p);
        return NULL;
    }
    p->name = "http";
    p->render = http_render;
    p->destroy = http_destroy;
    p->ctx = t;
    return p;
}

void ivr_tts_provider_destroy(struct ivr_tts_provider *p)
{
    if (p != NULL) {
        if (p->destroy != NULL) {
            p->destroy(p->ctx);
        }
        free(p);
    }
}

/* --------------------------------------------------------------- sounds */

struct ivr_sounds {
    char *dir;
};

bool ivr_tts_name_ok(const char *name)
{
    if (name == NULL || strlen(name) != 4 + HEX_LEN + 4 || strncmp(name, "tts-", 4) != 0 ||
        strcmp(name + 4 + HEX_LEN, ".wav") != 0) {
        return false;
    }
    for (size_t i = 4; i < 4 + HEX_LEN; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

static int sounds_get(struct httpd_req *req, void *arg)
{
    const struct ivr_sounds *s = arg;
    const char *name = httpd_req_param(req, "name");
    static const struct httpd_header cache[] = { { "Cache-Control", "public, max-age=86400" } };
    char path[TTS_PATH_MAX];
    struct stat sb;
    char *buf;
    size_t got = 0;
    int fd, rc;

    if (!ivr_tts_name_ok(name) ||
        snprintf(path, sizeof(path), "%s/%s", s->dir, name) >= (int)sizeof(path)) {
        return httpd_error(req, 404, "not_found", "no such prompt", NULL);
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return httpd_error(req, 404, "not_found", "no such prompt", NULL);
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > SOUNDS_MAX_FILE) {
        close(fd);
        return httpd_error(req, 404, "not_found", "no such prompt", NULL);
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return httpd_error(req, 500, "internal", "out of memory", NULL);
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    rc = httpd_respond_raw(req, 200, "audio/wav", buf, got, cache, 1);
    free(buf);
    return rc;
}

struct ivr_sounds *ivr_sounds_mount(struct httpd *h, const char *dir)
{
    struct ivr_sounds *s;
    struct httpd_route r = { .methods = HTTPD_GET, .pattern = "/sounds/{name}" };
    if (h == NULL || dir == NULL || *dir == '\0') {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        return NULL;
    }
    r.handler = sounds_get;
    r.arg = s;
    if (httpd_route_add(h, &r) != 0) {
        ivr_sounds_free(s);
        return NULL;
    }
    return s;
}

void ivr_sounds_free(struct ivr_sounds *s)
{
    if (s != NULL) {
        free(s->dir);
        free(s);
    }
}
