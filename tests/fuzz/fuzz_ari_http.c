/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the REST transport's response reader (ari/h1.c,
 * ari__h1_parse): the bytes an HTTP server sends on one keep-alive
 * connection, then closes. They are read as the connection reads them:
 * responses one after the other (1xx skipped) until a close is asked for, an
 * error, or the end. Invariants:
 *
 *   - a complete response takes at least its head and at most what was
 *     given; its body, Location and Content-Type lie inside the buffer, the
 *     body within the limit, Location/Content-Type NUL-terminated there;
 *   - the status is 100..599;
 *   - feeding the same bytes in two pieces split at any point (the first
 *     byte of the input picks where) gives the same responses (status,
 *     close, body bytes, Location) and the same final outcome as feeding
 *     them at once.
 *
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_ari_http -max_total_time=60 tests/fuzz/corpus/ari_http/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/h1_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#define MAX_BODY 4096
#define CAP      (64 * 1024)

struct transcript {
    unsigned char out[16384];
    size_t n;
    long final; /* ARI__H1_NEED (ended cleanly or incomplete), _BAD, _BIG, or 1 (closed) */
};

static void put(struct transcript *t, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n && t->n < sizeof(t->out); i++) {
        t->out[t->n++] = b[i];
    }
}

struct reader {
    struct ari__h1_parser p;
    unsigned char *buf; /* CAP + 1 bytes */
    size_t have;
    bool done; /* closed, or an error */
};

/* Parses what is buffered; records complete responses into t. */
static void drain(struct reader *r, bool eof, struct transcript *t)
{
    for (int guard = 0; guard < 100000 && !r->done; guard++) {
        struct ari__h1_msg m;
        const char *why = NULL;
        long rc = ari__h1_parse(&r->p, (char *)r->buf, r->have, eof, false, MAX_BODY, &m, &why);
        CHECK(why != NULL);
        if (rc == ARI__H1_NEED) {
            return;
        }
        if (rc < 0) {
            CHECK(rc == ARI__H1_BAD || rc == ARI__H1_BIG);
            CHECK(rc != ARI__H1_BAD || why[0] != '\0');
            t->final = rc;
            r->done = true;
            return;
        }
        CHECK((size_t)rc <= r->have);
        CHECK(m.code >= 100 && m.code <= 599);
        CHECK(m.body >= (const char *)r->buf &&
              m.body + m.body_len <= (const char *)r->buf + r->have);
        CHECK(m.body_len <= MAX_BODY);
        if (m.location != NULL) {
            CHECK(m.location >= (const char *)r->buf &&
                  m.location < (const char *)r->buf + r->have);
            CHECK(memchr(m.location, '\0', (size_t)((const char *)r->buf + r->have - m.location)) !=
                  NULL);
        }
        if (m.content_type != NULL) {
            CHECK(m.content_type >= (const char *)r->buf &&
                  m.content_type < (const char *)r->buf + r->have);
        }
        if (m.code >= 200) {
            unsigned char rec[6];
            rec[0] = 'R';
            rec[1] = (unsigned char)(m.code >> 8);
            rec[2] = (unsigned char)m.code;
            rec[3] = m.close;
            rec[4] = (unsigned char)(m.body_len >> 8);
            rec[5] = (unsigned char)m.body_len;
            put(t, rec, sizeof(rec));
            put(t, m.body, m.body_len);
            if (m.location != NULL) {
                put(t, m.location, strlen(m.location) + 1);
            }
        }
        memmove(r->buf, r->buf + rc, r->have - (size_t)rc);
        r->have -= (size_t)rc;
        if (m.code >= 200 && m.close) {
            t->final = 1;
            r->done = true;
        }
    }
}

static void feed(struct reader *r, const uint8_t *p, size_t len, struct transcript *t)
{
    if (r->done) {
        return;
    }
    CHECK(r->have + len <= CAP);
    memcpy(r->buf + r->have, p, len);
    r->have += len;
    drain(r, false, t);
}

static void run(const uint8_t *data, size_t size, size_t split, struct transcript *t)
{
    struct reader r;

    memset(&r, 0, sizeof(r));
    memset(t, 0, sizeof(*t));
    t->final = ARI__H1_NEED;
    r.buf = malloc(CAP + 1);
    CHECK(r.buf != NULL);
    feed(&r, data, split, t);
    feed(&r, data + split, size - split, t);
    drain(&r, true, t); /* the server closes */
    free(r.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct transcript *a, *b;
    size_t split;

    if (size == 0 || size > CAP) {
        return 0;
    }
    split = size > 1 ? data[0] % size : 0;
    data++;
    size--;
    if (split > size) {
        split = size;
    }
    a = malloc(sizeof(*a));
    b = malloc(sizeof(*b));
    CHECK(a != NULL && b != NULL);
    run(data, size, size, a);
    run(data, size, split, b);
    CHECK(a->final == b->final);
    CHECK(a->n == b->n);
    CHECK(memcmp(a->out, b->out, a->n) == 0);
    free(a);
    free(b);
    return 0;
}
