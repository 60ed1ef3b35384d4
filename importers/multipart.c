/* SPDX-License-Identifier: MIT */
/*
 * multipart: a streaming multipart/form-data decoder (RFC 7578, RFC 2046
 * section 5.1) that passes the bytes of the first part with a filename (the
 * browser's <input type=file>) to a callback and skips the other parts.
 *
 * Why our own: the only C decoder in Debian's archive that streams is
 * libwebsockets' lws_spa, which reads the boundary from a live lws
 * connection, while the importer decodes on a worker thread far from the
 * connection (and its fuzz harness has none). The format needed here is
 * small: find "\r\n--boundary", read a header block, repeat.
 *
 * Streaming: the decoder keeps at most one delimiter length of body bytes
 * between pieces (they might be the start of the delimiter) and a header
 * block of at most 8 KiB, so memory is constant. The delimiter search is
 * memmem over the held bytes plus the new piece.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "importers/importers_int.h"

enum { MP_MAX_HEADERS = 8192 };

static int mp_fail(struct imp_mp *m, const char *msg)
{
    if (m->state != IMP_MP_FAILED)
        snprintf(m->err, sizeof(m->err), "%s", msg);
    m->state = IMP_MP_FAILED;
    return ERR_PARSE;
}

int imp_mp_init(struct imp_mp *m, const char *content_type, imp_mp_data_cb *cb, void *arg)
{
    memset(m, 0, sizeof(*m));
    imp_buf_init(&m->hold);
    m->cb = cb;
    m->arg = arg;
    m->first = true;
    if (!content_type)
        return ERR_INVAL;
    const char *b = strcasestr(content_type, "boundary=");
    if (!b)
        return ERR_INVAL;
    b += 9;
    size_t n;
    if (*b == '"') {
        b++;
        const char *e = strchr(b, '"');
        if (!e)
            return ERR_INVAL;
        n = (size_t)(e - b);
    } else {
        n = strcspn(b, "; \t");
    }
    /* RFC 2046: 1 to 70 characters. */
    if (n == 0 || n > 70)
        return ERR_INVAL;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, b, n);
    m->dlen = n + 4;
    m->delim[m->dlen] = 0;
    /* The first boundary may open the body without a CRLF before it. */
    if (imp_buf_add(&m->hold, "\r\n", 2) != 0)
        return ERR_NOMEM;
    return 0;
}

void imp_mp_fini(struct imp_mp *m)
{
    imp_buf_fini(&m->hold);
}

/* Reads the part's headers (hdr, len bytes, without the blank line). */
static void part_headers(struct imp_mp *m, const char *hdr, size_t len)
{
    m->in_file = false;
    const char *p = hdr, *end = hdr + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t l = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (l >= 20 && strncasecmp(p, "content-disposition:", 20) == 0) {
            char line[1024];
            size_t k = l < sizeof(line) - 1 ? l : sizeof(line) - 1;
            memcpy(line, p, k);
            line[k] = 0;
            const char *f = strcasestr(line, "filename=");
            if (f && !m->file_done && !m->filename[0]) {
                f += 9;
                size_t fl;
                if (*f == '"') {
                    f++;
                    const char *e = strchr(f, '"');
                    fl = e ? (size_t)(e - f) : strlen(f);
                } else {
                    fl = strcspn(f, "; \r");
                }
                if (fl >= sizeof(m->filename))
                    fl = sizeof(m->filename) - 1;
                memcpy(m->filename, f, fl);
                m->filename[fl] = 0;
                if (!m->filename[0])
                    memcpy(m->filename, "upload", 7);
                m->in_file = true;
            }
        }
        p += l + 1;
    }
}

int imp_mp_feed(struct imp_mp *m, const char *data, size_t len)
{
    if (m->state == IMP_MP_FAILED)
        return ERR_PARSE;
    if (m->state == IMP_MP_DONE)
        return 0; /* the epilogue is ignored */
    if (imp_buf_add(&m->hold, data, len) != 0)
        return ERR_NOMEM;
    size_t pos = 0;
    int rc = 0;
    for (;;) {
        char *h = m->hold.p + pos;
        size_t n = m->hold.len - pos;
        if (m->state == IMP_MP_PREAMBLE || m->state == IMP_MP_BODY) {
            char *d = memmem(h, n, m->delim, m->dlen);
            if (!d) {
                /* Keep what could be the start of a delimiter. */
                size_t keep = n < m->dlen - 1 ? n : m->dlen - 1;
                if (m->state == IMP_MP_BODY && m->in_file && n > keep)
                    rc = m->cb(m->arg, h, n - keep);
                pos += n - keep;
                break;
            }
            size_t before = (size_t)(d - h);
            /* Need the two bytes after the delimiter: "--" or CRLF (after optional padding). */
            size_t after = before + m->dlen;
            size_t j = after;
            while (j < n && (h[j] == ' ' || h[j] == '\t'))
                j++;
            if (j + 2 > n) {
                if (m->state == IMP_MP_BODY && m->in_file && before)
                    rc = m->cb(m->arg, h, before);
                pos += before;
                break;
            }
            if (m->state == IMP_MP_BODY && m->in_file && before) {
                rc = m->cb(m->arg, h, before);
                if (rc)
                    break;
            }
            if (m->state == IMP_MP_BODY && m->in_file)
                m->file_done = true;
            m->in_file = false;
            if (h[j] == '-' && h[j + 1] == '-') {
                m->state = IMP_MP_DONE;
                pos = m->hold.len;
                break;
            }
            if (h[j] != '\r' || h[j + 1] != '\n') {
                rc = mp_fail(m, "malformed multipart body: a boundary line has extra characters");
                break;
            }
            pos += j + 2;
            m->state = IMP_MP_HEADERS;
            continue;
        }
        if (m->state == IMP_MP_HEADERS) {
            char *e = NULL;
            if (n >= 2 && h[0] == '\r' && h[1] == '\n') {
                part_headers(m, h, 0);
                pos += 2;
                m->state = IMP_MP_BODY;
                continue;
            }
            e = memmem(h, n, "\r\n\r\n", 4);
            if (!e) {
                if (n > MP_MAX_HEADERS)
                    rc = mp_fail(m, "malformed multipart body: a part's headers exceed 8 KiB");
                break;
            }
            part_headers(m, h, (size_t)(e - h));
            pos += (size_t)(e - h) + 4;
            m->state = IMP_MP_BODY;
            continue;
        }
        break;
    }
    imp_buf_consume(&m->hold, pos);
    return rc;
}

int imp_mp_finish(struct imp_mp *m)
{
    if (m->state == IMP_MP_FAILED)
        return ERR_PARSE;
    if (m->state != IMP_MP_DONE)
        return mp_fail(m, "truncated upload: the multipart body ends before its closing boundary");
    if (!m->file_done)
        return mp_fail(m, "the form has no file part (a part with a filename)");
    return 0;
}
