/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the HTTP server's own handling of outside bytes
 * (core/httpd), the parts that run before any route sees a request:
 *
 *   - chunked request bodies (httpd__chunked_feed): the input decoded in one
 *     piece and in two pieces split where the first byte says gives the same
 *     status and the same decoded bytes; the decoded body is never longer
 *     than the input; a finished body used no more input than it was given;
 *   - request paths against the product's route patterns
 *     (httpd__pattern_match): a match has at most one parameter per segment,
 *     every parameter is a non-NULL string without '/';
 *   - the log escaping of client-supplied text (httpd__log_escape): the
 *     result is printable ASCII with \xNN escapes only, so a request can
 *     never forge a log line or field;
 *   - client request ids (httpd__request_id_ok) and media types
 *     (httpd__is_json_type) never read past the string.
 *
 * Run:
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_httpd_input -max_total_time=60 tests/fuzz/corpus/httpd_input/
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/httpd_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    unsigned char *buf;
    size_t len;
    size_t cap;
};

static int emit(const unsigned char *d, size_t n, void *arg)
{
    struct sink *s = arg;
    if (s->len + n > s->cap) {
        abort(); /* more decoded than the input held */
    }
    memcpy(s->buf + s->len, d, n);
    s->len += n;
    return 0;
}

/* Feeds in[0..len) in pieces split at cut; returns the status, sets *done. */
static int decode(const uint8_t *in, size_t len, size_t cut, struct sink *s, int *done)
{
    struct httpd_chunked c;
    size_t used = 0, off = 0;
    int rc = 0;

    httpd__chunked_init(&c);
    size_t pieces[2] = { cut, len - cut };
    for (int i = 0; i < 2 && rc == 0 && c.state != HTTPD_CH_DONE; i++) {
        used = 0;
        rc = httpd__chunked_feed(&c, in + off, pieces[i], &used, emit, s);
        if (used > pieces[i]) {
            abort();
        }
        off += pieces[i];
    }
    *done = c.state == HTTPD_CH_DONE;
    return rc;
}

static void fuzz_chunked(const uint8_t *data, size_t size)
{
    struct sink a = { malloc(size + 1), 0, size }, b = { malloc(size + 1), 0, size };
    int da, db;
    size_t cut = size > 1 ? data[0] % size : 0;

    if (a.buf == NULL || b.buf == NULL) {
        free(a.buf);
        free(b.buf);
        return;
    }
    int ra = decode(data, size, size, &a, &da);
    int rb = decode(data, size, cut, &b, &db);
    if (ra != rb || da != db || a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0) {
        abort(); /* the split changed the meaning of the body */
    }
    free(a.buf);
    free(b.buf);
}

static const char *const patterns[] = {
    "/api/v1/campaigns/{id}",
    "/api/v1/lists/{id}/contacts",
    "/api/v1/flows/{id}/revisions/{rev}",
    "/api/v1/lists/{id}/uploads/{upload}/rejects.csv",
    "/ws/v1/live",
    "/metrics",
    "/",
};

static void fuzz_path(const char *path)
{
    struct arena a;

    arena_init(&a, 4096);
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        struct httpd_pattern p;
        if (httpd__pattern_compile(&p, patterns[i]) != 0) {
            abort(); /* the product's own patterns compile */
        }
        struct httpd_kv params[16];
        size_t n = 0;
        int64_t m = httpd__pattern_match(&p, path, &a, params, &n);
        if (m > 0) {
            if (n > p.nsegs) {
                abort();
            }
            for (size_t k = 0; k < n; k++) {
                if (params[k].value == NULL || strchr(params[k].value, '/') != NULL) {
                    abort();
                }
            }
        }
        httpd__pattern_free(&p);
    }
    arena_fini(&a);
}

static void fuzz_escape(const char *s)
{
    struct arena a;

    arena_init(&a, 4096);
    const char *e = httpd__log_escape(&a, s);
    if (e != NULL) {
        for (const char *p = e; *p != '\0'; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch < 0x20 || ch >= 0x7f || ch == '"') {
                abort(); /* a control byte, non-ASCII byte or bare quote reached the log */
            }
            if (ch == '\\') {
                if (p[1] != 'x' || !isxdigit((unsigned char)p[2]) ||
                    !isxdigit((unsigned char)p[3])) {
                    abort(); /* every backslash starts a \xNN escape */
                }
                p += 3;
            }
        }
    }
    arena_fini(&a);
    (void)httpd__request_id_ok(s);
    (void)httpd__is_json_type(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) {
        return 0;
    }
    fuzz_chunked(data, size);
    char *s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0'; /* text inputs stop at the first NUL, as lws gives them */
    fuzz_path(s);
    fuzz_escape(s);
    free(s);
    return 0;
}
