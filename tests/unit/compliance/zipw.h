/* SPDX-License-Identifier: MIT */
/*
 * zipw.h: a tiny zip writer for the DNC zip tests (stored and deflated
 * members, with knobs to write the broken archives the reader must refuse).
 * Header-only, test code.
 */
#ifndef DIALER_TESTS_ZIPW_H
#define DIALER_TESTS_ZIPW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct zipw_member {
    const char *name;
    const char *data;
    size_t len;          /* 0: strlen(data) */
    int method;          /* 0 stored, 8 deflate, other: written as is (stored bytes) */
    uint16_t flags;      /* general purpose flags (bit 0: encrypted) */
    int64_t usize_delta; /* added to the declared inflated size */
};

struct zipw_buf {
    unsigned char *p;
    size_t len, cap;
};

static inline void zipw_put(struct zipw_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void zipw_16(struct zipw_buf *b, uint32_t v)
{
    unsigned char c[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    zipw_put(b, c, 2);
}

static inline void zipw_32(struct zipw_buf *b, uint32_t v)
{
    unsigned char c[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    zipw_put(b, c, 4);
}

/* Raw deflate of n bytes (malloc'd, *out_len). */
static inline unsigned char *zipw_deflate(const char *data, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)n) + 16;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Writes an archive of n members; returns its bytes (malloc'd) and *len. */
static inline unsigned char *zipw_build(const struct zipw_member *m, size_t n, size_t *len)
{
    struct zipw_buf b = { 0 };
    uint32_t *offs = calloc(n + 1, sizeof(*offs));
    uint32_t *csz = calloc(n + 1, sizeof(*csz));
    for (size_t i = 0; i < n; i++) {
        size_t dl = m[i].len != 0 ? m[i].len : strlen(m[i].data);
        size_t cl = dl;
        unsigned char *c = NULL;
        if (m[i].method == 8) {
            c = zipw_deflate(m[i].data, dl, &cl);
        }
        uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)m[i].data, (uInt)dl);
        offs[i] = (uint32_t)b.len;
        csz[i] = (uint32_t)cl;
        zipw_32(&b, 0x04034b50);
        zipw_16(&b, 20);
        zipw_16(&b, m[i].flags);
        zipw_16(&b, (uint32_t)m[i].method);
        zipw_16(&b, 0);
        zipw_16(&b, 0x21);
        zipw_32(&b, crc);
        zipw_32(&b, (uint32_t)cl);
        zipw_32(&b, (uint32_t)((int64_t)dl + m[i].usize_delta));
        zipw_16(&b, (uint32_t)strlen(m[i].name));
        zipw_16(&b, 0);
        zipw_put(&b, m[i].name, strlen(m[i].name));
        zipw_put(&b, c != NULL ? (const char *)c : m[i].data, cl);
        free(c);
    }
    uint32_t cd = (uint32_t)b.len;
    for (size_t i = 0; i < n; i++) {
        size_t dl = m[i].len != 0 ? m[i].len : strlen(m[i].data);
        uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)m[i].data, (uInt)dl);
        zipw_32(&b, 0x02014b50);
        zipw_16(&b, 20);
        zipw_16(&b, 20);
        zipw_16(&b, m[i].flags);
        zipw_16(&b, (uint32_t)m[i].method);
        zipw_16(&b, 0);
        zipw_16(&b, 0x21);
        zipw_32(&b, crc);
        zipw_32(&b, csz[i]);
        zipw_32(&b, (uint32_t)((int64_t)dl + m[i].usize_delta));
        zipw_16(&b, (uint32_t)strlen(m[i].name));
        zipw_16(&b, 0);
        zipw_16(&b, 0);
        zipw_16(&b, 0);
        zipw_16(&b, 0);
        zipw_32(&b, 0);
        zipw_32(&b, offs[i]);
        zipw_put(&b, m[i].name, strlen(m[i].name));
    }
    uint32_t cdl = (uint32_t)b.len - cd;
    zipw_32(&b, 0x06054b50);
    zipw_16(&b, 0);
    zipw_16(&b, 0);
    zipw_16(&b, (uint32_t)n);
    zipw_16(&b, (uint32_t)n);
    zipw_32(&b, cdl);
    zipw_32(&b, cd);
    zipw_16(&b, 0);
    free(offs);
    free(csz);
    *len = b.len;
    return b.p;
}

#endif
