/* SPDX-License-Identifier: MIT */
/*
 * buf: the growable byte buffer the importer builds COPY lines, JSON
 * fragments and converted text in. Capacity doubles, so appends are
 * amortised O(1); the buffers are reused across rows, so after the first
 * rows an import appends without allocating.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "importers/importers_int.h"

void imp_buf_init(struct imp_buf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void imp_buf_fini(struct imp_buf *b)
{
    free(b->p);
    imp_buf_init(b);
}

int imp_buf_reserve(struct imp_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return ERR_NOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        return ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int imp_buf_add(struct imp_buf *b, const void *data, size_t len)
{
    if (imp_buf_reserve(b, len) != 0)
        return ERR_NOMEM;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = 0;
    return 0;
}

int imp_buf_addc(struct imp_buf *b, char c)
{
    return imp_buf_add(b, &c, 1);
}

int imp_buf_adds(struct imp_buf *b, const char *s)
{
    return imp_buf_add(b, s, strlen(s));
}

int imp_buf_add_copy(struct imp_buf *b, const char *s, size_t len)
{
    if (imp_buf_reserve(b, 2 * len) != 0)
        return ERR_NOMEM;
    char *o = b->p + b->len;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            *o++ = c;
            break;
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
    return 0;
}

int imp_buf_add_json(struct imp_buf *b, const char *s, size_t len, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    if (len > max) {
        /* Cut on a UTF-8 character boundary. */
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    if (imp_buf_reserve(b, 6 * len) != 0)
        return ERR_NOMEM;
    char *o = b->p + b->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
    return 0;
}

static bool json_special(unsigned char c)
{
    return c < 0x20 || c == 0x7F || c == '"' || c == '\\';
}

int imp_buf_add_json_copy(struct imp_buf *b, const char *s, size_t len, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    if (len > max) {
        len = max; /* on a UTF-8 character boundary, as imp_buf_add_json */
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    /* Worst case a control byte: \u00XX with its backslash doubled, 7 bytes. */
    if (imp_buf_reserve(b, 7 * len) != 0)
        return ERR_NOMEM;
    char *o = b->p + b->len;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && !json_special((unsigned char)s[run]))
            run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        if (run == len)
            break;
        unsigned char c = (unsigned char)s[run];
        *o++ = '\\';
        *o++ = '\\';
        if (c == '"' || c == '\\') {
            if (c == '\\') {
                *o++ = '\\';
                *o++ = '\\';
            } else {
                *o++ = '"';
            }
        } else {
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        i = run + 1;
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
    return 0;
}

int imp_buf_add_u64(struct imp_buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return imp_buf_add(b, tmp + sizeof(tmp) - n, n);
}

void imp_buf_consume(struct imp_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->p, b->p + n, b->len - n);
        b->len -= n;
    }
    if (b->p)
        b->p[b->len] = 0;
}
