/* SPDX-License-Identifier: MIT */
/*
 * fastdec: single-pass JSON decoder from text straight into the typed ARI
 * structs, driven by the same descriptor tables as codec.c.
 *
 * jansson builds a tree with a hash table per object and a heap allocation
 * per value, then codec.c looks each known key up in it: about 120,000
 * instructions for a 1 KB event. This decoder walks the text once: each key
 * is matched against the model's field table, known values are written to
 * their members (strings copied into the arena), everything else is
 * validated and skipped. No heap allocation, no tree.
 *
 * Contract: the fast path either produces exactly what the jansson path
 * (json_loadb + ari__decode_model) would, or returns ARI__FALLBACK and the
 * caller runs the jansson path, which also produces every error message.
 * So it only has to be right on success, and it gives up on anything
 * unusual rather than reproducing jansson's behaviour there:
 *
 *   - any syntax error, invalid UTF-8, control character, "\u0000" or
 *     unpaired surrogate, integer outside long long (all errors in jansson);
 *   - real numbers anywhere (jansson fails on overflowing ones; ARI sends
 *     none), keys with escapes, nesting deeper than FX_MAX_DEPTH;
 *   - a known key twice (jansson keeps the last one), a required key
 *     missing or null, a known key with a value of the wrong type;
 *   - "variables" objects with non-string values or repeated names
 *     (the jansson path re-encodes those), lists longer than FX_MAX_LIST;
 *   - an event whose "type" is not a plain string.
 *
 * Unknown keys are validated and skipped, null is "absent", exactly as in
 * the jansson path (NOTES.md section 9). A fallback may leave some unused
 * bytes in the arena; the caller's arena is reset per message anyway.
 * tests/fuzz/fuzz_ari_event.c compares both paths on every input.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ari/ari_int.h"
#include "core/err.h"

#define FX_MAX_DEPTH 32   /* deeper than any ARI model; jansson allows 2048 */
#define FX_MAX_LIST  64   /* string-list and variable entries handled here */
#define POOL_MAX     8192 /* messages up to this size get a string pool */

struct fx {
    const unsigned char *p;
    const unsigned char *end;
    struct arena *a;
    unsigned depth;
    /* Kept strings are copied here: one arena block of the message's length
     * per message (a decoded string plus its NUL never needs more than the
     * token with its quotes), instead of one arena call per string. */
    char *pool;
    char *pool_end;
};

/* A string token: the bytes between the quotes, and whether they hold escapes. */
struct fx_str {
    const unsigned char *s;
    size_t len;
    bool esc;
};

/* ---------------------------------------------------------------------- */
/* Lexing                                                                  */
/* ---------------------------------------------------------------------- */

static inline void fx_ws(struct fx *x)
{
    /* Compact JSON (Asterisk's default) has none: one test. */
    if (x->p<x->end && * x->p> ' ') {
        return;
    }
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\n' || *x->p == '\r' || *x->p == '\t')) {
        x->p++;
    }
}

/* Skips whitespace and consumes c; false when the next byte is something else. */
static inline bool fx_eat(struct fx *x, unsigned char c)
{
    if (x->p < x->end && *x->p == c) {
        x->p++;
        return true;
    }
    fx_ws(x);
    if (x->p < x->end && *x->p == c) {
        x->p++;
        return true;
    }
    return false;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* The 4 hex digits at p (p + 4 <= end), or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

/*
 * Validates the escape at p (just after the backslash). Returns its length
 * in bytes after the backslash and the code point in *cp (0 for the
 * one-letter escapes, which the decoder maps itself), or 0 when invalid.
 */
static size_t check_escape(const unsigned char *p, const unsigned char *end, long *cp)
{
    *cp = 0;
    if (p >= end) {
        return 0;
    }
    switch (*p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 1;
    case 'u':
        break;
    default:
        return 0;
    }
    if (end - p < 5) {
        return 0;
    }
    long v = hex4(p + 1);
    if (v <= 0) {
        return 0; /* invalid, or \u0000 which jansson refuses */
    }
    if (v >= 0xDC00 && v <= 0xDFFF) {
        return 0; /* lone low surrogate */
    }
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (end - p < 11 || p[5] != '\\' || p[6] != 'u') {
            return 0;
        }
        long lo = hex4(p + 7);
        if (lo < 0xDC00 || lo > 0xDFFF) {
            return 0;
        }
        *cp = ((v - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
        return 11;
    }
    *cp = v;
    return 5;
}

/* Length of the valid UTF-8 sequence of a non-ASCII lead byte at p, or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0; /* overlong */
        } else if (c == 0xED) {
            hi = 0x9F; /* surrogates */
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90; /* overlong */
        } else if (c == 0xF4) {
            hi = 0x8F; /* above U+10FFFF */
        }
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            return 0;
        }
    }
    return n;
}

/*
 * The first byte at or after p that needs a look (quote, backslash, control
 * or non-ASCII), or end. Eight bytes per step: each test below flags a byte
 * of the word that matches, and may also flag bytes after a real match
 * (borrows run upwards) but never before one, so the lowest flag is exact.
 */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t high = 0x8080808080808080ULL;

#if defined(__SSE2__)
    /* Sixteen bytes per step: a signed compare with 0x20 flags control
     * bytes and non-ASCII (>= 0x80 is negative) at once. */
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask != 0) {
            return p + __builtin_ctz(mask);
        }
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof(w));
        uint64_t q = w ^ (ones * '"');
        uint64_t b = w ^ (ones * '\\');
        uint64_t m = (w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
        if (m != 0) {
            return p + (__builtin_ctzll(m) >> 3);
        }
        p += 8;
    }
#endif
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
        p++;
    }
    return p;
}

/* fx_string() from p on (p inside the string, at a byte that needs a look or near the end). */
static int fx_string_slow(struct fx *x, struct fx_str *out, const unsigned char *p)
{
    const unsigned char *end = x->end;

    for (;;) {
        p = skip_plain(p, end);
        if (p >= end || *p < 0x20) {
            return ARI__FALLBACK;
        }
        if (*p == '"') {
            break;
        }
        if (*p == '\\') {
            long cp;
            size_t n = check_escape(p + 1, end, &cp);
            if (n == 0) {
                return ARI__FALLBACK;
            }
            out->esc = true;
            p += 1 + n;
        } else {
            size_t n = utf8_len(p, end);
            if (n == 0) {
                return ARI__FALLBACK;
            }
            p += n;
        }
    }
    out->len = (size_t)(p - out->s);
    x->p = p + 1;
    return 0;
}

/*
 * Scans the string starting at the opening quote at x->p; fills *out. The
 * common case - plain ASCII up to the closing quote, 16 bytes available
 * at a time - is inline at every caller; anything else goes on in
 * fx_string_slow().
 */
static inline __attribute__((always_inline)) int fx_string(struct fx *x, struct fx_str *out)
{
    const unsigned char *p = x->p + 1;

    out->s = p;
    out->esc = false;
#if defined(__SSE2__)
    while (x->end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                   _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask != 0) {
            p += __builtin_ctz(mask);
            if (*p == '"') {
                out->len = (size_t)(p - out->s);
                x->p = p + 1;
                return 0;
            }
            break;
        }
        p += 16;
    }
#endif
    return fx_string_slow(x, out, p);
}

static size_t put_utf8(char *o, long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The decoded, NUL-terminated string of a scanned (valid) token, in the arena; *len its length. */
static const char *fx_copy(struct fx *x, const struct fx_str *t, size_t *len)
{
    const unsigned char *p = t->s;
    const unsigned char *end = t->s + t->len;
    char *o;
    char *q;

    if (t->len == 0) {
        *len = 0;
        return ari__empty_string;
    }
    if ((size_t)(x->pool_end - x->pool) < t->len + 1) {
        /* No pool (a REST body, a long message), or a key two models read. */
        o = arena_alloc(x->a, t->len + 1);
        if (o == NULL) {
            return NULL;
        }
    } else {
        o = x->pool;
    }
    if (!t->esc) {
        memcpy(o, t->s, t->len);
        o[t->len] = '\0';
        *len = t->len;
        if (o == x->pool) {
            x->pool += t->len + 1;
        }
        return o;
    }
    /* Decoded text is never longer than its escaped form. */
    q = o;
    while (p < end) {
        if (*p != '\\') {
            *q++ = (char)*p++;
            continue;
        }
        long cp;
        size_t n = check_escape(p + 1, end, &cp);
        switch (p[1]) {
        case 'b':
            *q++ = '\b';
            break;
        case 'f':
            *q++ = '\f';
            break;
        case 'n':
            *q++ = '\n';
            break;
        case 'r':
            *q++ = '\r';
            break;
        case 't':
            *q++ = '\t';
            break;
        case 'u':
            q += put_utf8(q, cp);
            break;
        default:
            *q++ = (char)p[1];
            break;
        }
        p += 1 + n;
    }
    *q = '\0';
    *len = (size_t)(q - o);
    if (o == x->pool) {
        x->pool = q + 1;
    }
    return o;
}

/* Scans an integer at x->p; ARI__FALLBACK for reals, syntax errors and overflow. */
static int fx_int(struct fx *x, long long *out)
{
    const unsigned char *p = x->p;
    bool neg = false;
    unsigned long long v = 0;
    unsigned long long limit = (unsigned long long)LLONG_MAX;

    if (p < x->end && *p == '-') {
        neg = true;
        limit += 1;
        p++;
    }
    if (p >= x->end || *p < '0' || *p > '9') {
        return ARI__FALLBACK;
    }
    if (*p == '0') {
        p++;
    } else {
        while (p < x->end && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (v > (limit - d) / 10) {
                return ARI__FALLBACK;
            }
            v = v * 10 + d;
            p++;
        }
    }
    if (p < x->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))) {
        return ARI__FALLBACK; /* a real, or a leading zero */
    }
    if (neg) {
        *out = v == limit ? LLONG_MIN : -(long long)v;
    } else {
        *out = (long long)v;
    }
    x->p = p;
    return 0;
}

static bool fx_word(struct fx *x, const char *w, size_t n)
{
    if ((size_t)(x->end - x->p) < n || memcmp(x->p, w, n) != 0) {
        return false;
    }
    x->p += n;
    return true;
}

/* ---------------------------------------------------------------------- */
/* Skipping                                                                */
/* ---------------------------------------------------------------------- */

static int fx_skip(struct fx *x);

static int fx_skip_container(struct fx *x, bool object)
{
    unsigned char close = object ? '}' : ']';
    struct fx_str t;
    int rc;

    if (++x->depth > FX_MAX_DEPTH) {
        return ARI__FALLBACK;
    }
    x->p++;
    if (fx_eat(x, close)) {
        x->depth--;
        return 0;
    }
    for (;;) {
        if (object) {
            fx_ws(x);
            if (x->p >= x->end || *x->p != '"' || fx_string(x, &t) != 0 || !fx_eat(x, ':')) {
                return ARI__FALLBACK;
            }
        }
        rc = fx_skip(x);
        if (rc != 0) {
            return rc;
        }
        if (fx_eat(x, close)) {
            break;
        }
        if (!fx_eat(x, ',')) {
            return ARI__FALLBACK;
        }
    }
    x->depth--;
    return 0;
}

/* Validates and skips one value of any type. */
static int fx_skip(struct fx *x)
{
    struct fx_str t;
    long long v;

    fx_ws(x);
    if (x->p >= x->end) {
        return ARI__FALLBACK;
    }
    switch (*x->p) {
    case '"':
        return fx_string(x, &t);
    case '{':
        return fx_skip_container(x, true);
    case '[':
        return fx_skip_container(x, false);
    case 't':
        return fx_word(x, "true", 4) ? 0 : ARI__FALLBACK;
    case 'f':
        return fx_word(x, "false", 5) ? 0 : ARI__FALLBACK;
    case 'n':
        return fx_word(x, "null", 4) ? 0 : ARI__FALLBACK;
    default:
        return fx_int(x, &v);
    }
}

/* ---------------------------------------------------------------------- */
/* Members                                                                 */
/* ---------------------------------------------------------------------- */

static void put_ptr(void *base, uint16_t off, const void *p)
{
    memcpy((char *)base + off, &p, sizeof(p));
}

static void put_size(void *base, uint16_t off, size_t n)
{
    memcpy((char *)base + off, &n, sizeof(n));
}

static void put_int(void *base, uint16_t off, int v)
{
    memcpy((char *)base + off, &v, sizeof(v));
}

static void put_i64(void *base, uint16_t off, int64_t v)
{
    memcpy((char *)base + off, &v, sizeof(v));
}

static void put_bool(void *base, uint16_t off, bool v)
{
    memcpy((char *)base + off, &v, sizeof(v));
}

/* Reads a string value (x->p at any byte) into the arena. */
static int fx_str_value(struct fx *x, const char **s, size_t *len)
{
    struct fx_str t;

    if (x->p >= x->end || *x->p != '"' || fx_string(x, &t) != 0) {
        return ARI__FALLBACK;
    }
    *s = fx_copy(x, &t, len);
    return *s != NULL ? 0 : ERR_NOMEM;
}

static int fx_model(struct fx *x, const struct ari__model *m, void *dst);

static int fx_strlist(struct fx *x, const struct ari__field *f, void *dst)
{
    const char *items[FX_MAX_LIST];
    size_t n = 0;
    size_t len;

    if (!fx_eat(x, '[')) {
        return ARI__FALLBACK;
    }
    if (!fx_eat(x, ']')) {
        for (;;) {
            int rc;
            if (n == FX_MAX_LIST) {
                return ARI__FALLBACK;
            }
            fx_ws(x);
            rc = fx_str_value(x, &items[n], &len);
            if (rc != 0) {
                return rc;
            }
            n++;
            if (fx_eat(x, ']')) {
                break;
            }
            if (!fx_eat(x, ',')) {
                return ARI__FALLBACK;
            }
        }
    }
    if (n == 0) {
        put_ptr(dst, f->off, ari__empty_array);
    } else {
        const char **list = arena_alloc(x->a, n * sizeof(*list));
        if (list == NULL) {
            return ERR_NOMEM;
        }
        memcpy(list, items, n * sizeof(*list));
        put_ptr(dst, f->off, list);
    }
    put_size(dst, f->off2, n);
    return 0;
}

static int fx_vars(struct fx *x, const struct ari__field *f, void *dst)
{
    struct ari_var items[FX_MAX_LIST];
    size_t name_len[FX_MAX_LIST];
    size_t n = 0;
    size_t vlen;

    if (!fx_eat(x, '{')) {
        return ARI__FALLBACK;
    }
    if (!fx_eat(x, '}')) {
        for (;;) {
            int rc;
            if (n == FX_MAX_LIST) {
                return ARI__FALLBACK;
            }
            fx_ws(x);
            rc = fx_str_value(x, &items[n].name, &name_len[n]);
            if (rc != 0) {
                return rc;
            }
            for (size_t k = 0; k < n; k++) {
                if (name_len[k] == name_len[n] &&
                    memcmp(items[k].name, items[n].name, name_len[n]) == 0) {
                    return ARI__FALLBACK; /* repeated name: jansson keeps the last */
                }
            }
            if (!fx_eat(x, ':')) {
                return ARI__FALLBACK;
            }
            fx_ws(x);
            rc = fx_str_value(x, &items[n].value, &vlen);
            if (rc != 0) {
                return rc;
            }
            items[n].json = false;
            n++;
            if (fx_eat(x, '}')) {
                break;
            }
            if (!fx_eat(x, ',')) {
                return ARI__FALLBACK;
            }
        }
    }
    if (n == 0) {
        put_ptr(dst, f->off, ari__empty_array);
    } else {
        struct ari_var *vars = arena_alloc(x->a, n * sizeof(*vars));
        if (vars == NULL) {
            return ERR_NOMEM;
        }
        memcpy(vars, items, n * sizeof(*vars));
        put_ptr(dst, f->off, vars);
    }
    put_size(dst, f->off2, n);
    return 0;
}

/* Counts the elements of the array at x->p without moving. */
static int fx_count(struct fx *x, size_t *n)
{
    struct fx probe = *x;

    *n = 0;
    probe.p++;
    if (fx_eat(&probe, ']')) {
        return 0;
    }
    for (;;) {
        int rc = fx_skip(&probe);
        if (rc != 0) {
            return rc;
        }
        ++*n;
        if (fx_eat(&probe, ']')) {
            return 0;
        }
        if (!fx_eat(&probe, ',')) {
            return ARI__FALLBACK;
        }
    }
}

static int fx_modellist(struct fx *x, const struct ari__field *f, void *dst)
{
    size_t n;
    char *items;
    int rc;

    fx_ws(x);
    if (x->p >= x->end || *x->p != '[') {
        return ARI__FALLBACK;
    }
    rc = fx_count(x, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0) {
        (void)fx_eat(x, '[');
        (void)fx_eat(x, ']');
        put_ptr(dst, f->off, ari__empty_array);
        put_size(dst, f->off2, 0);
        return 0;
    }
    items = arena_calloc(x->a, n * f->sub->size);
    if (items == NULL) {
        return ERR_NOMEM;
    }
    x->p++;
    for (size_t i = 0; i < n; i++) {
        rc = fx_model(x, f->sub, items + i * f->sub->size);
        if (rc != 0) {
            return rc;
        }
        if (!fx_eat(x, i + 1 < n ? ',' : ']')) {
            return ARI__FALLBACK;
        }
    }
    put_ptr(dst, f->off, items);
    put_size(dst, f->off2, n);
    return 0;
}

/* Decodes the non-null value at x->p (whitespace skipped) for field f into dst. */
static int fx_field(struct fx *x, const struct ari__field *f, void *dst)
{
    const char *s;
    size_t len;
    long long v;
    int rc;

    switch ((enum ari__kind)f->kind) {
    case ARI__K_STR:
        rc = fx_str_value(x, &s, &len);
        if (rc == 0) {
            put_ptr(dst, f->off, s);
        }
        return rc;
    case ARI__K_INT:
    case ARI__K_LONG:
        if (fx_int(x, &v) != 0) {
            return ARI__FALLBACK;
        }
        if (f->kind == ARI__K_INT) {
            if (v < INT_MIN || v > INT_MAX) {
                return ARI__FALLBACK;
            }
            put_int(dst, f->off, (int)v);
        } else {
            put_i64(dst, f->off, (int64_t)v);
        }
        if (f->off2 != ARI__NO_OFF) {
            put_bool(dst, f->off2, true);
        }
        return 0;
    case ARI__K_BOOL: {
        bool b;
        if (fx_word(x, "true", 4)) {
            b = true;
        } else if (fx_word(x, "false", 5)) {
            b = false;
        } else {
            return ARI__FALLBACK;
        }
        put_bool(dst, f->off, b);
        if (f->off2 != ARI__NO_OFF) {
            put_bool(dst, f->off2, true);
        }
        return 0;
    }
    case ARI__K_DATE: {
        int64_t us;
        rc = fx_str_value(x, &s, &len);
        if (rc != 0) {
            return rc;
        }
        if (ari_time_parse(s, len, &us) != 0) {
            return ARI__FALLBACK;
        }
        put_ptr(dst, f->off, s);
        put_i64(dst, f->off2, us);
        return 0;
    }
    case ARI__K_ENUM:
        rc = fx_str_value(x, &s, &len);
        if (rc != 0) {
            return rc;
        }
        put_ptr(dst, f->off, s);
        put_int(dst, f->off2, ari__enum_code((enum ari__enum_id)f->aux, s, len));
        return 0;
    case ARI__K_STRLIST:
        return fx_strlist(x, f, dst);
    case ARI__K_VARS:
        return fx_vars(x, f, dst);
    case ARI__K_MODEL: {
        void *sub = arena_calloc(x->a, f->sub->size);
        if (sub == NULL) {
            return ERR_NOMEM;
        }
        rc = fx_model(x, f->sub, sub);
        if (rc == 0) {
            put_ptr(dst, f->off, sub);
        }
        return rc;
    }
    case ARI__K_MODELLIST:
        return fx_modellist(x, f, dst);
    }
    return ARI__FALLBACK;
}

/* ---------------------------------------------------------------------- */
/* Objects                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * One model being filled from an object's keys: its table, destination, the
 * fields seen so far (a key seen twice goes to the jansson path, which keeps
 * the last) and those seen with a non-null value (a required one missing
 * goes there too, for its error message).
 */
struct fx_target {
    const struct ari__model *m;
    void *dst;
    uint64_t seen;
    uint64_t set;
    bool indexed; /* lookups through key_tab */
    uint64_t req; /* bits of the required fields */
};

/*
 * Key lookup. A model's keys were matched by a linear scan with strncmp;
 * now one open-addressing table of (model, key) -> field index, built once
 * over every generated model (ari__models, the event payloads and their
 * nested models), answers in one or two probes. Models with few fields
 * (the envelopes) and any model the table does not hold keep the scan.
 */
#define KEY_SLOTS  8192u /* power of two; ~1,500 fields in all */
#define MODEL_SETS 1024u /* power of two; models indexed */
#define SCAN_MAX   0     /* models with at most this many fields are scanned */

struct key_slot {
    const struct ari__model *m; /* NULL: empty */
    const char *name;
    uint16_t len;
    uint16_t idx;
};

static struct key_slot key_tab[KEY_SLOTS];
static const struct ari__model *model_set[MODEL_SETS];
static uint64_t model_req[MODEL_SETS]; /* required-field bits of model_set[i] */
static bool key_tab_ok;
static pthread_once_t key_tab_once = PTHREAD_ONCE_INIT;

static uint32_t key_hash(const struct ari__model *m, const unsigned char *s, size_t len)
{
    uint64_t h = (uint64_t)(uintptr_t)m ^ ((uint64_t)len << 56);
    /* first two and last two bytes: distinct for every key pair of one model
     * in practice; collisions only cost a probe */
    h ^= (uint64_t)s[0] | (uint64_t)s[len > 1 ? 1 : 0] << 8 | (uint64_t)s[len - 1] << 16 |
         (uint64_t)s[len > 1 ? len - 2 : 0] << 24 | (uint64_t)len << 32;
    h *= 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 40);
}

static size_t model_slot(const struct ari__model *m)
{
    return (size_t)(((uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ULL) >> 40) & (MODEL_SETS - 1);
}

/* The slot of m in model_set, or -1. */
static long model_find(const struct ari__model *m)
{
    for (size_t i = model_slot(m), n = 0; n < MODEL_SETS; i = (i + 1) & (MODEL_SETS - 1), n++) {
        if (model_set[i] == m) {
            return (long)i;
        }
        if (model_set[i] == NULL) {
            return -1;
        }
    }
    return -1;
}

static bool model_indexed(const struct ari__model *m)
{
    return model_find(m) >= 0;
}

static uint64_t required_bits(const struct ari__model *m)
{
    uint64_t bits = 0;
    for (uint16_t i = 0; m != NULL && i < m->n_fields && i < 64; i++) {
        if (m->fields[i].flags & ARI__F_REQUIRED) {
            bits |= (uint64_t)1 << i;
        }
    }
    return bits;
}

static unsigned n_models, n_keys;

/* Adds m (and the models its fields hold) to the table; false when full. */
static bool index_model(const struct ari__model *m)
{
    size_t i;

    if (m == NULL || m->n_fields <= SCAN_MAX || model_indexed(m)) {
        return true;
    }
    if (n_models + 1 > MODEL_SETS / 2 || n_keys + m->n_fields > KEY_SLOTS / 2) {
        return false;
    }
    for (i = model_slot(m); model_set[i] != NULL; i = (i + 1) & (MODEL_SETS - 1)) {
    }
    model_set[i] = m;
    model_req[i] = required_bits(m);
    n_models++;
    for (uint16_t f = 0; f < m->n_fields; f++) {
        const char *name = m->fields[f].name;
        size_t len = strlen(name);
        size_t k;
        if (len == 0 || len > UINT16_MAX) {
            return false;
        }
        for (k = key_hash(m, (const unsigned char *)name, len) & (KEY_SLOTS - 1);
             key_tab[k].m != NULL; k = (k + 1) & (KEY_SLOTS - 1)) {
        }
        key_tab[k] = (struct key_slot){ m, name, (uint16_t)len, f };
        n_keys++;
    }
    for (uint16_t f = 0; f < m->n_fields; f++) {
        if (m->fields[f].sub != NULL && !index_model(m->fields[f].sub)) {
            return false;
        }
    }
    return true;
}

static void key_tab_build(void)
{
    bool ok = true;

    for (size_t i = 0; ok && i < ARI_MODEL_COUNT_; i++) {
        ok = index_model(ari__models[i]);
    }
    for (size_t i = 0; ok && i < ARI_EVENT_COUNT_; i++) {
        ok = index_model(ari__events[i].payload);
    }
    if (!ok) {
        memset(key_tab, 0, sizeof(key_tab));
        memset(model_set, 0, sizeof(model_set));
    }
    key_tab_ok = ok;
}

/* Sets up a target for m: whether its lookups may use the table, its required bits. */
static void fx_target_init(struct fx_target *t, const struct ari__model *m, void *dst)
{
    long slot = m != NULL && m->n_fields > SCAN_MAX && key_tab_ok ? model_find(m) : -1;

    t->m = m;
    t->dst = dst;
    t->seen = 0;
    t->set = 0;
    t->indexed = slot >= 0;
    t->req = slot >= 0 ? model_req[slot] : required_bits(m);
}

/* a[0..len) == b[0..len), len >= 1: word compares, overlapping at the end. */
static inline bool key_eq(const char *a, const unsigned char *b, size_t len)
{
    uint64_t x, y, u, v;

    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) {
                return false;
            }
        }
        memcpy(&x, a + len - 8, 8);
        memcpy(&y, b + len - 8, 8);
        return x == y;
    }
    if (len >= 4) {
        uint32_t p, q, r, t;
        memcpy(&p, a, 4);
        memcpy(&q, b, 4);
        memcpy(&r, a + len - 4, 4);
        memcpy(&t, b + len - 4, 4);
        return p == q && r == t;
    }
    u = (unsigned char)a[0] | (uint64_t)(unsigned char)a[len - 1] << 8 |
        (uint64_t)(unsigned char)a[len / 2] << 16;
    v = b[0] | (uint64_t)b[len - 1] << 8 | (uint64_t)b[len / 2] << 16;
    return u == v;
}

/* The index of key in m's table, or -1. */
static int find_field(const struct ari__model *m, bool indexed, const struct fx_str *key)
{
    if (m == NULL || key->len == 0) {
        return -1;
    }
    if (indexed) {
        for (size_t k = key_hash(m, key->s, key->len) & (KEY_SLOTS - 1); key_tab[k].m != NULL;
             k = (k + 1) & (KEY_SLOTS - 1)) {
            const struct key_slot *e = &key_tab[k];
            if (e->m == m && e->len == key->len && key_eq(e->name, key->s, key->len)) {
                return e->idx;
            }
        }
        return -1;
    }
    for (uint16_t i = 0; i < m->n_fields; i++) {
        const char *name = m->fields[i].name;
        /* The second byte first (names are non-empty, so name[1] exists):
         * "application", "asterisk_id" and "args" part there. */
        if (name[0] == (char)key->s[0] && (key->len < 2 || name[1] == (char)key->s[1]) &&
            strncmp(name, (const char *)key->s, key->len) == 0 && name[key->len] == '\0') {
            return i;
        }
    }
    return -1;
}

/* Decodes the value at x->p as field i of target t. */
static int fx_offer(struct fx *x, struct fx_target *t, int i)
{
    uint64_t bit = (uint64_t)1 << i;

    if (t->seen & bit) {
        return ARI__FALLBACK;
    }
    t->seen |= bit;
    fx_ws(x);
    if (x->p < x->end && *x->p == 'n' && fx_word(x, "null", 4)) {
        return 0; /* absent, as in the jansson path */
    }
    t->set |= bit;
    return fx_field(x, &t->m->fields[i], t->dst);
}

/* 0 when every required field of t was seen with a non-null value. */
static int fx_check(const struct fx_target *t)
{
    return (t->set & t->req) == t->req ? 0 : ARI__FALLBACK;
}

/* Reads one member's value for every target that knows key, or skips it. */
static int fx_member(struct fx *x, struct fx_target *t, size_t nt, const struct fx_str *key)
{
    const unsigned char *at = x->p;
    bool taken = false;

    for (size_t k = 0; k < nt; k++) {
        int i = find_field(t[k].m, t[k].indexed, key);
        int rc;
        if (i < 0) {
            continue;
        }
        /* A key two models know (none today) is read once per model, as the jansson
         * path looks it up in each. */
        x->p = at;
        rc = fx_offer(x, &t[k], i);
        if (rc != 0) {
            return rc;
        }
        taken = true;
    }
    return taken ? 0 : fx_skip(x);
}

/*
 * Walks the object at x->p feeding each member to the targets; unknown keys
 * are validated and skipped. skip_type leaves the top-level "type" key
 * (already read) alone, apart from refusing a second one.
 */
static int fx_object(struct fx *x, struct fx_target *t, size_t nt, bool skip_type)
{
    struct fx_str key;
    bool type_seen = false;
    int rc;

    if (++x->depth > FX_MAX_DEPTH || !fx_eat(x, '{')) {
        return ARI__FALLBACK;
    }
    if (!fx_eat(x, '}')) {
        for (;;) {
            fx_ws(x);
            if (x->p >= x->end || *x->p != '"' || fx_string(x, &key) != 0 || key.esc ||
                !fx_eat(x, ':')) {
                return ARI__FALLBACK;
            }
            if (skip_type && key.len == 4 && memcmp(key.s, "type", 4) == 0) {
                if (type_seen) {
                    return ARI__FALLBACK;
                }
                type_seen = true;
                rc = fx_skip(x);
            } else {
                rc = fx_member(x, t, nt, &key);
            }
            if (rc != 0) {
                return rc;
            }
            if (fx_eat(x, '}')) {
                break;
            }
            if (!fx_eat(x, ',')) {
                return ARI__FALLBACK;
            }
        }
    }
    x->depth--;
    for (size_t k = 0; k < nt; k++) {
        rc = fx_check(&t[k]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int fx_model(struct fx *x, const struct ari__model *m, void *dst)
{
    struct fx_target t;

    fx_target_init(&t, m, dst);

    if (m->n_fields > 64) {
        return ARI__FALLBACK;
    }
    return fx_object(x, &t, 1, false);
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                            */
/* ---------------------------------------------------------------------- */

static int fx_end(struct fx *x)
{
    fx_ws(x);
    return x->p == x->end ? 0 : ARI__FALLBACK;
}

int ari__fast_model(const struct ari__model *m, const char *text, size_t len, struct arena *a,
                    void *dst)
{
    (void)pthread_once(&key_tab_once, key_tab_build);
    struct fx x = {
        (const unsigned char *)text, (const unsigned char *)text + len, a, 0, NULL, NULL
    };
    int rc = fx_model(&x, m, dst);
    return rc != 0 ? rc : fx_end(&x);
}

/*
 * Finds the top-level "type" string of the object in text. The common case
 * (Asterisk puts "type" first unless the event is built from a blob) costs
 * one key; otherwise the object is skimmed up to it.
 */
static int fx_find_type(const char *text, size_t len, struct fx_str *type)
{
    struct fx x = {
        (const unsigned char *)text, (const unsigned char *)text + len, NULL, 1, NULL, NULL
    };
    struct fx_str key;

    if (!fx_eat(&x, '{')) {
        return ARI__FALLBACK;
    }
    for (;;) {
        fx_ws(&x);
        if (x.p >= x.end || *x.p != '"' || fx_string(&x, &key) != 0 || key.esc ||
            !fx_eat(&x, ':')) {
            return ARI__FALLBACK;
        }
        if (key.len == 4 && memcmp(key.s, "type", 4) == 0) {
            fx_ws(&x);
            if (x.p >= x.end || *x.p != '"' || fx_string(&x, type) != 0) {
                return ARI__FALLBACK;
            }
            return 0;
        }
        if (fx_skip(&x) != 0 || !fx_eat(&x, ',')) {
            return ARI__FALLBACK;
        }
    }
}

int ari__fast_event(const char *text, size_t len, struct arena *a,
                    const struct ari__model *envelope_event,
                    const struct ari__model *envelope_message, struct ari_event **out)
{
    struct fx x = {
        (const unsigned char *)text, (const unsigned char *)text + len, a, 0, NULL, NULL
    };
    struct fx_target t[2];
    struct fx_str type;
    const struct ari__event_desc *desc;
    struct ari_event *ev;
    size_t tlen;
    int rc;

    (void)pthread_once(&key_tab_once, key_tab_build);
    rc = fx_find_type(text, len, &type);
    if (rc != 0) {
        return rc;
    }
    if (len <= POOL_MAX) {
        x.pool = arena_alloc(a, len + 1);
        x.pool_end = x.pool != NULL ? x.pool + len + 1 : NULL;
    }
    ev = arena_calloc(a, sizeof(*ev));
    if (ev == NULL) {
        return ERR_NOMEM;
    }
    if (type.esc) {
        const char *name = fx_copy(&x, &type, &tlen);
        if (name == NULL) {
            return ERR_NOMEM;
        }
        ev->type = ari_event_type_from_name(name, tlen);
        ev->type_name = name;
    } else {
        ev->type = ari_event_type_from_name((const char *)type.s, type.len);
        ev->type_name = NULL;
    }
    desc = &ari__events[ev->type];
    if (ev->type != ARI_EVENT_UNKNOWN) {
        ev->type_name = desc->name;
    } else if (ev->type_name == NULL) {
        ev->type_name = fx_copy(&x, &type, &tlen);
        if (ev->type_name == NULL) {
            return ERR_NOMEM;
        }
    }
    fx_target_init(
        &t[0],
        (ev->type != ARI_EVENT_UNKNOWN && desc->is_event) ? envelope_event : envelope_message, ev);
    fx_target_init(
        &t[1],
        (desc->payload != NULL && desc->payload->n_fields > 0 && desc->payload->n_fields <= 64)
            ? desc->payload
            : NULL,
        &ev->_payload);
    if (desc->payload != NULL && desc->payload->n_fields > 64) {
        return ARI__FALLBACK;
    }
    rc = fx_object(&x, t, 2, true);
    if (rc == 0) {
        rc = fx_end(&x);
    }
    if (rc != 0) {
        return rc;
    }
    if (ev->type == ARI_EVENT_UNKNOWN) {
        char *p = arena_alloc(a, len + 1);
        if (p == NULL) {
            return ERR_NOMEM;
        }
        memcpy(p, text, len);
        p[len] = '\0';
        ev->raw = p;
        ev->raw_len = len;
    }
    *out = ev;
    return 0;
}
