/* SPDX-License-Identifier: MIT */
/*
 * httpd_route: the pure parts of the HTTP server -- path patterns, method
 * sets, media types, request ids, log escaping and the chunked-body decoder.
 * Nothing here touches lws or the loop, so the unit tests drive it directly.
 *
 * A pattern is "/" followed by segments separated by "/": a literal segment
 * matches itself (case-sensitive), a "{name}" segment matches any one
 * non-empty segment and binds it to name. "/" alone has no segments. Empty
 * segments ("//", a trailing "/") are not allowed in patterns and never match
 * in paths, so "/a/" does not match "/a". Several patterns may match one path
 * ("/campaigns/{id}" and "/campaigns/stats"); the most specific wins: the one
 * whose first differing segment is literal. Matching is linear in the number
 * of routes; with the ~100 routes of the API that is a few microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/httpd_int.h"

/* ---------------------------------------------------------------------- */
/* Patterns                                                                */
/* ---------------------------------------------------------------------- */

static bool param_name_ok(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_')) {
            return false;
        }
    }
    return true;
}

int httpd__pattern_compile(struct httpd_pattern *p, const char *pattern)
{
    size_t n = 0;

    memset(p, 0, sizeof(*p));
    if (pattern == NULL || pattern[0] != '/') {
        return ERR_INVAL;
    }
    for (const char *s = pattern; *s != '\0'; s++) {
        if (*s == '/') {
            n++;
        }
    }
    p->text = strdup(pattern);
    p->segs = calloc(n, sizeof(*p->segs));
    if (p->text == NULL || p->segs == NULL) {
        httpd__pattern_free(p);
        return ERR_NOMEM;
    }
    if (strcmp(pattern, "/") == 0) {
        return 0;
    }
    const char *s = p->text + 1;
    while (true) {
        const char *end = strchr(s, '/');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        struct httpd_seg *seg = &p->segs[p->nsegs];

        if (len == 0) {
            httpd__pattern_free(p);
            return ERR_INVAL;
        }
        if (s[0] == '{') {
            if (len < 3 || s[len - 1] != '}' || !param_name_ok(s + 1, len - 2)) {
                httpd__pattern_free(p);
                return ERR_INVAL;
            }
            seg->text = s + 1;
            seg->len = len - 2;
            seg->param = true;
        } else {
            if (memchr(s, '{', len) != NULL || memchr(s, '}', len) != NULL) {
                httpd__pattern_free(p);
                return ERR_INVAL;
            }
            seg->text = s;
            seg->len = len;
        }
        p->nsegs++;
        if (end == NULL) {
            break;
        }
        s = end + 1;
    }
    return 0;
}

void httpd__pattern_free(struct httpd_pattern *p)
{
    free(p->text);
    free(p->segs);
    p->text = NULL;
    p->segs = NULL;
    p->nsegs = 0;
}

int64_t httpd__pattern_match(const struct httpd_pattern *p, const char *path, struct arena *a,
                             struct httpd_kv *params, size_t *nparams)
{
    const char *s;
    int64_t score = 1;
    size_t np = 0;

    if (nparams != NULL) {
        *nparams = 0;
    }
    if (path[0] != '/') {
        return 0;
    }
    if (p->nsegs == 0) {
        return strcmp(path, "/") == 0 ? 1 : 0;
    }
    s = path + 1;
    for (size_t i = 0; i < p->nsegs; i++) {
        const struct httpd_seg *seg = &p->segs[i];
        const char *end = strchr(s, '/');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);

        if (len == 0) {
            return 0;
        }
        if (i + 1 < p->nsegs && end == NULL) {
            return 0; /* path is shorter */
        }
        if (i + 1 == p->nsegs && end != NULL) {
            return 0; /* path is longer (or has a trailing slash) */
        }
        if (seg->param) {
            if (params != NULL) {
                char *v = arena_strndup(a, s, len);
                char *k = arena_strndup(a, seg->text, seg->len);
                if (v == NULL || k == NULL) {
                    return ERR_NOMEM;
                }
                params[np].name = k;
                params[np].value = v;
                np++;
            }
        } else {
            if (len != seg->len || memcmp(s, seg->text, len) != 0) {
                return 0;
            }
            if (i < 61) {
                score |= INT64_C(1) << (61 - i);
            }
        }
        s = end != NULL ? end + 1 : s + len;
    }
    if (nparams != NULL) {
        *nparams = np;
    }
    return score;
}

bool httpd__pattern_same(const struct httpd_pattern *a, const struct httpd_pattern *b)
{
    if (a->nsegs != b->nsegs) {
        return false;
    }
    for (size_t i = 0; i < a->nsegs; i++) {
        const struct httpd_seg *x = &a->segs[i];
        const struct httpd_seg *y = &b->segs[i];
        if (x->param != y->param) {
            return false;
        }
        if (!x->param && (x->len != y->len || memcmp(x->text, y->text, x->len) != 0)) {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Methods, media types, request ids                                       */
/* ---------------------------------------------------------------------- */

static const struct {
    enum httpd_method m;
    const char *name;
} method_names[] = {
    { HTTPD_GET, "GET" },         { HTTPD_HEAD, "HEAD" },   { HTTPD_POST, "POST" },
    { HTTPD_PUT, "PUT" },         { HTTPD_PATCH, "PATCH" }, { HTTPD_DELETE, "DELETE" },
    { HTTPD_OPTIONS, "OPTIONS" },
};

const char *httpd__method_name(enum httpd_method m)
{
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
        if (method_names[i].m == m) {
            return method_names[i].name;
        }
    }
    return "?";
}

char *httpd__methods_format(unsigned methods, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
        if ((methods & method_names[i].m) == 0) {
            continue;
        }
        int n = snprintf(buf + off, size - off, "%s%s", off > 0 ? ", " : "", method_names[i].name);
        if (n < 0 || (size_t)n >= size - off) {
            break;
        }
        off += (size_t)n;
    }
    return buf;
}

bool httpd__is_json_type(const char *ctype)
{
    const char *end;
    size_t len;

    if (ctype == NULL) {
        return false;
    }
    while (*ctype == ' ' || *ctype == '\t') {
        ctype++;
    }
    end = strchr(ctype, ';');
    len = end != NULL ? (size_t)(end - ctype) : strlen(ctype);
    while (len > 0 && (ctype[len - 1] == ' ' || ctype[len - 1] == '\t')) {
        len--;
    }
    if (len < 12 || strncasecmp(ctype, "application/", 12) != 0) {
        return false;
    }
    if (len == 16 && strncasecmp(ctype + 12, "json", 4) == 0) {
        return true;
    }
    /* application/<vendor>+json */
    return len > 17 && strncasecmp(ctype + len - 5, "+json", 5) == 0 &&
           memchr(ctype + 12, '/', len - 12) == NULL;
}

bool httpd__request_id_ok(const char *s)
{
    size_t n = 0;

    if (s == NULL) {
        return false;
    }
    for (; s[n] != '\0'; n++) {
        char ch = s[n];
        if (n >= 64) {
            return false;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-')) {
            return false;
        }
    }
    return n > 0;
}

/* A phone-number-like run at s: '+' and 7 or more digits, or 10 or more bare
 * digits (a NANP number without its +1). Its length, or 0. */
static size_t number_run(const char *s)
{
    size_t n = s[0] == '+' ? 1 : 0;

    while (s[n] >= '0' && s[n] <= '9') {
        n++;
    }
    return (s[0] == '+' && n >= 8) || (s[0] != '+' && n >= 10) ? n : 0;
}

/*
 * Paths are logged at INFO, and a few carry a phone number (DELETE
 * /api/v1/dnc/lists/{id}/entries/{number}): numbers are personal data, so
 * such runs keep their first 5 and last 2 characters, as LOG_NUM does.
 * Ids stay readable (they are shorter). s is already escaped (ASCII).
 */
static const char *mask_numbers(struct arena *a, const char *s)
{
    char *out = NULL;

    for (size_t i = 0; s[i] != '\0'; i++) {
        bool start = (s[i] == '+' || (s[i] >= '0' && s[i] <= '9')) &&
                     (i == 0 || !(s[i - 1] >= '0' && s[i - 1] <= '9'));
        size_t n = start ? number_run(s + i) : 0;
        if (n == 0) {
            continue;
        }
        if (out == NULL) {
            out = arena_strdup(a, s);
            if (out == NULL) {
                return "?";
            }
        }
        memset(out + i + 5, '*', n - 7);
        i += n - 1;
    }
    return out != NULL ? out : s;
}

static const char *log_escape(struct arena *a, const char *s);

const char *httpd__log_escape(struct arena *a, const char *s)
{
    return mask_numbers(a, log_escape(a, s));
}

static const char *log_escape(struct arena *a, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t need = 0;
    bool clean = true;
    char *out, *o;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            clean = false;
            need += 4;
        } else {
            need++;
        }
    }
    if (clean) {
        return s;
    }
    out = arena_alloc(a, need + 1);
    if (out == NULL) {
        return "?";
    }
    o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

/* ---------------------------------------------------------------------- */
/* Chunked transfer decoding                                               */
/* ---------------------------------------------------------------------- */

enum { CHUNK_LINE_MAX = 4096, CHUNK_DIGITS_MAX = 15 };

void httpd__chunked_init(struct httpd_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = HTTPD_CH_SIZE;
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* The size line ended: go to the data or, for the last chunk, the trailers. */
static void size_line_done(struct httpd_chunked *c)
{
    if (c->remain == 0) {
        c->state = HTTPD_CH_TRAILER;
        c->line = 0;
        c->trailer_text = false;
    } else {
        c->state = HTTPD_CH_DATA;
    }
}

/* A trailer line ended: an empty one ends the body. */
static void trailer_line_done(struct httpd_chunked *c)
{
    if (!c->trailer_text) {
        c->state = HTTPD_CH_DONE;
    } else {
        c->state = HTTPD_CH_TRAILER;
        c->line = 0;
        c->trailer_text = false;
    }
}

int httpd__chunked_feed(struct httpd_chunked *c, const unsigned char *in, size_t len, size_t *used,
                        httpd_chunked_emit_cb *emit, void *arg)
{
    size_t i = 0;

    while (i < len && c->state != HTTPD_CH_DONE) {
        unsigned char ch = in[i];
        int v;

        switch (c->state) {
        case HTTPD_CH_SIZE:
            v = hexval(ch);
            if (v >= 0) {
                if (++c->digits > CHUNK_DIGITS_MAX) {
                    return ERR_PARSE;
                }
                c->remain = c->remain * 16 + (uint64_t)v;
            } else if (c->digits == 0) {
                return ERR_PARSE;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = HTTPD_CH_EXT;
                c->line = 0;
            } else if (ch == '\r') {
                c->state = HTTPD_CH_SIZE_LF;
            } else if (ch == '\n') {
                size_line_done(c);
            } else {
                return ERR_PARSE;
            }
            i++;
            break;
        case HTTPD_CH_EXT:
            if (ch == '\r') {
                c->state = HTTPD_CH_SIZE_LF;
            } else if (ch == '\n') {
                size_line_done(c);
            } else if (++c->line > CHUNK_LINE_MAX) {
                return ERR_PARSE;
            }
            i++;
            break;
        case HTTPD_CH_SIZE_LF:
            if (ch != '\n') {
                return ERR_PARSE;
            }
            size_line_done(c);
            i++;
            break;
        case HTTPD_CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->remain) {
                n = (size_t)c->remain;
            }
            c->remain -= n;
            if (c->remain == 0) {
                c->state = HTTPD_CH_DATA_CR;
            }
            int rc = emit(in + i, n, arg);
            i += n;
            if (rc != 0) {
                *used = i;
                return rc;
            }
            break;
        }
        case HTTPD_CH_DATA_CR:
            if (ch == '\r') {
                c->state = HTTPD_CH_DATA_LF;
            } else if (ch == '\n') {
                c->state = HTTPD_CH_SIZE;
                c->digits = 0;
            } else {
                return ERR_PARSE;
            }
            i++;
            break;
        case HTTPD_CH_DATA_LF:
            if (ch != '\n') {
                return ERR_PARSE;
            }
            c->state = HTTPD_CH_SIZE;
            c->digits = 0;
            i++;
            break;
        case HTTPD_CH_TRAILER:
            if (ch == '\r') {
                c->state = HTTPD_CH_TRAILER_LF;
            } else if (ch == '\n') {
                trailer_line_done(c);
            } else if (++c->line > CHUNK_LINE_MAX) {
                return ERR_PARSE;
            } else {
                c->trailer_text = true;
            }
            i++;
            break;
        case HTTPD_CH_TRAILER_LF:
            if (ch != '\n') {
                return ERR_PARSE;
            }
            trailer_line_done(c);
            i++;
            break;
        case HTTPD_CH_DONE:
            break;
        }
    }
    *used = i;
    return 0;
}
