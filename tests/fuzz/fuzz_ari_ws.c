/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the events WebSocket frame reader (ari/ws.c,
 * ari__ws_next): the bytes a server sends after the upgrade. Invariants:
 *
 *   - every step consumes at most what it was given and makes progress
 *     unless it asks for more bytes or reports a protocol error;
 *   - payload pieces lie inside the input and never add up to more than it;
 *   - control frames are whole (<= 125 bytes) and never split;
 *   - feeding the same bytes in two pieces split at any point (the first
 *     byte of the input picks where) yields the same items, the same data
 *     bytes and the same message boundaries as feeding them at once.
 *
 *   make fuzz-build
 *   build/fuzz/tests/fuzz/fuzz_ari_ws -max_total_time=60 tests/fuzz/corpus/ari_ws/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ari/client_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* What a reader saw: a transcript of kinds, payload bytes and message ends. */
struct transcript {
    unsigned char out[8192];
    size_t n;
    bool error;
};

static void put(struct transcript *t, unsigned char b)
{
    if (t->n < sizeof(t->out)) {
        t->out[t->n++] = b;
    }
}

/*
 * Feeds p[0..len) through the reader as the transport does: items are taken
 * while complete; the unconsumed tail is kept for the next piece. Returns
 * false on a protocol error.
 */
static bool feed(struct ari__wsrx *st, unsigned char *buf, size_t *have, const uint8_t *p,
                 size_t len, size_t cap, struct transcript *t)
{
    size_t off = 0;

    CHECK(*have + len <= cap);
    memcpy(buf + *have, p, len);
    *have += len;
    while (off < *have) {
        struct ari__wsitem it;
        int k = ari__ws_next(st, buf + off, *have - off, &it);
        CHECK(it.used <= *have - off);
        if (k == ARI__WS_NEED) {
            CHECK(it.used == 0);
            break;
        }
        if (k == ARI__WS_ERROR) {
            CHECK(it.error != NULL && it.error[0] != '\0');
            t->error = true;
            return false;
        }
        CHECK(it.used > 0);
        if (it.len > 0) {
            CHECK(it.data >= buf + off && it.data + it.len <= buf + off + it.used);
        }
        if (k == ARI__WS_DATA) {
            for (size_t i = 0; i < it.len; i++) {
                put(t, it.data[i]);
            }
            CHECK(it.len > 0 || it.final || it.used > 0);
            if (it.final) {
                put(t, 0xFF);
                put(t, 0xFE);
            }
        } else {
            CHECK(it.len <= 125);
            put(t, (unsigned char)(0xF0 | k));
            for (size_t i = 0; i < it.len; i++) {
                put(t, it.data[i]);
            }
            if (k == ARI__WS_CLOSE) {
                off += it.used;
                *have -= off;
                memmove(buf, buf + off, *have);
                return false;
            }
        }
        off += it.used;
    }
    memmove(buf, buf + off, *have - off);
    *have -= off;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char b1[8192];
    static unsigned char b2[8192];
    struct transcript whole;
    struct transcript split;
    struct ari__wsrx s1;
    struct ari__wsrx s2;
    size_t h1 = 0;
    size_t h2 = 0;
    size_t cut;

    if (size < 1 || size > 4096) {
        return 0;
    }
    cut = data[0] % size;
    data++;
    size--;
    memset(&whole, 0, sizeof(whole));
    memset(&split, 0, sizeof(split));
    memset(&s1, 0, sizeof(s1));
    memset(&s2, 0, sizeof(s2));

    (void)feed(&s1, b1, &h1, data, size, sizeof(b1), &whole);
    if (feed(&s2, b2, &h2, data, cut < size ? cut : size, sizeof(b2), &split) && cut < size) {
        (void)feed(&s2, b2, &h2, data + cut, size - cut, sizeof(b2), &split);
    }
    CHECK(whole.error == split.error);
    CHECK(whole.n == split.n && memcmp(whole.out, split.out, whole.n) == 0);
    return 0;
}
