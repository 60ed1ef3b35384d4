/* SPDX-License-Identifier: MIT */
/*
 * buf: a growable byte buffer and the JSON writer every model goes through.
 *
 * Models are written field by field in Asterisk's key order straight into a
 * buffer that is reused from call to call, so publishing an event costs no
 * allocation once the buffers have grown to their working size. Running out
 * of memory aborts: a simulator that silently drops bytes of a protocol
 * stream would be worse than one that stops.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

void sim__buf_init(struct sim_buf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void sim__buf_fini(struct sim_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void sim__buf_reset(struct sim_buf *b)
{
    b->len = 0;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

void sim__buf_reserve(struct sim_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;
    char *p;

    if (need <= b->cap) {
        return;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        abort();
    }
    b->p = p;
    b->cap = cap;
    b->p[b->len] = '\0';
}

void sim__buf_put(struct sim_buf *b, const void *p, size_t n)
{
    sim__buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sim__buf_puts(struct sim_buf *b, const char *s)
{
    sim__buf_put(b, s, strlen(s));
}

void sim__buf_putc(struct sim_buf *b, char c)
{
    sim__buf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void sim__buf_printf(struct sim_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    sim__buf_reserve(b, 64);
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        sim__buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void sim__buf_jstr(struct sim_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n;
    char *o;

    if (s == NULL) {
        s = "";
    }
    n = strlen(s);
    /* Worst case every byte becomes \u00XX. */
    sim__buf_reserve(b, n * 6 + 2);
    o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            break;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

void sim__buf_jint(struct sim_buf *b, long long v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp);
    char *p = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    sim__buf_put(b, p, (size_t)(e - p));
}

void sim__buf_consume(struct sim_buf *b, size_t n)
{
    if (n >= b->len) {
        sim__buf_reset(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}
