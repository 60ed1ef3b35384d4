/* SPDX-License-Identifier: MIT */
/*
 * csv: the streaming CSV reader in front of libcsv.
 *
 * Bytes go through three stages, each of which keeps only a bounded tail
 * between pieces, so a file of any size is read in constant memory:
 *
 *   1. Encoding. A UTF-8 BOM is dropped; a UTF-16 BOM or a NUL byte refuses
 *      the file (it is not CSV text as saved by a spreadsheet's "CSV" export).
 *      While only ASCII has been seen the encoding is undecided. The first
 *      non-ASCII byte decides: a well-formed UTF-8 sequence makes the file
 *      UTF-8 (every later sequence must be well formed: a file that mixes
 *      encodings is refused with the offset), anything else makes it
 *      Windows-1252, which is converted to UTF-8 (Latin-1's printable range
 *      is the same; the five bytes 1252 leaves undefined refuse the file as
 *      of unclear encoding). An incomplete UTF-8 sequence at the end of a
 *      piece waits for the next.
 *   2. Delimiter. Until it is known (given, or detected), converted text is
 *      held back; detection looks at the first lines, quote-aware, and picks
 *      the candidate (comma, semicolon, tab) that splits the lines into the
 *      same number of fields (>1) most often, preferring more fields.
 *   3. libcsv, in pieces of at most 64 KiB. libcsv handles quotes, doubled
 *      quotes, delimiters and newlines inside quotes, CRLF/LF/CR and skips
 *      blank lines. A record longer than max_row_bytes fails the file:
 *      libcsv would otherwise grow its buffer without bound (a missing
 *      closing quote turns the rest of the file into one field).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "importers/importers_int.h"

enum { CSV_PIECE = 64 * 1024, DETECT_HOLD = 64 * 1024, DETECT_LINES = 5 };

/* Windows-1252 0x80..0x9F as Unicode code points (0 = undefined). */
static const unsigned short cp1252_hi[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

static int space_no_tab(unsigned char c)
{
    return c == ' ';
}

static int space_and_tab(unsigned char c)
{
    return c == ' ' || c == '\t';
}

int imp_csv_init(struct imp_csv *c, char delimiter, size_t max_row_bytes, imp_csv_row_cb *cb,
                 void *arg)
{
    memset(c, 0, sizeof(*c));
    if (csv_init(&c->parser, CSV_APPEND_NULL) != 0)
        return ERR_NOMEM;
    imp_buf_init(&c->head);
    imp_buf_init(&c->conv);
    imp_buf_init(&c->rowbuf);
    imp_buf_init(&c->join);
    c->max_row_bytes = max_row_bytes ? max_row_bytes : 1024 * 1024;
    c->row_cb = cb;
    c->arg = arg;
    if (delimiter) {
        c->delim = delimiter;
        c->delim_given = true;
        csv_set_delim(&c->parser, (unsigned char)delimiter);
        csv_set_space_func(&c->parser, delimiter == '\t' ? space_no_tab : space_and_tab);
    }
    return 0;
}

void imp_csv_fini(struct imp_csv *c)
{
    csv_free(&c->parser);
    imp_buf_fini(&c->head);
    imp_buf_fini(&c->conv);
    imp_buf_fini(&c->rowbuf);
    imp_buf_fini(&c->join);
    free(c->offs);
    free(c->lens);
    free(c->ptrs);
    c->offs = NULL;
    c->lens = NULL;
    c->ptrs = NULL;
}

static int fail(struct imp_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct imp_csv *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
    }
    c->failed = true;
    return ERR_PARSE;
}

/* ---- libcsv callbacks ---------------------------------------------------- */

static void on_field(void *s, size_t len, void *data)
{
    struct imp_csv *c = data;
    if (c->cb_status)
        return;
    if (c->nfields == c->capfields) {
        size_t n = c->capfields ? c->capfields * 2 : 32;
        size_t *o = realloc(c->offs, n * sizeof(*o));
        if (o)
            c->offs = o;
        size_t *l = realloc(c->lens, n * sizeof(*l));
        if (l)
            c->lens = l;
        char **p = realloc(c->ptrs, n * sizeof(*p));
        if (p)
            c->ptrs = p;
        if (!o || !l || !p) {
            c->cb_status = ERR_NOMEM;
            return;
        }
        c->capfields = n;
    }
    c->offs[c->nfields] = c->rowbuf.len;
    c->lens[c->nfields] = len;
    if (imp_buf_add(&c->rowbuf, s ? s : "", s ? len : 0) != 0 || imp_buf_addc(&c->rowbuf, 0) != 0) {
        c->cb_status = ERR_NOMEM;
        return;
    }
    c->nfields++;
}

static void on_row(int term, void *data)
{
    struct imp_csv *c = data;
    (void)term;
    if (c->cb_status) {
        c->nfields = 0;
        c->rowbuf.len = 0;
        return;
    }
    c->row_start = c->fed;
    /* A record of empty fields only (",,,") is a blank line, as in a spreadsheet. */
    bool blank = true;
    for (size_t i = 0; i < c->nfields && blank; i++)
        if (c->lens[i])
            blank = false;
    if (!blank && c->nfields) {
        for (size_t i = 0; i < c->nfields; i++)
            c->ptrs[i] = c->rowbuf.p + c->offs[i];
        uint64_t no = c->rows++;
        int rc = c->row_cb ? c->row_cb(c->arg, no, c->ptrs, c->lens, c->nfields) : 0;
        if (rc)
            c->cb_status = rc;
    }
    c->nfields = 0;
    c->rowbuf.len = 0;
}

/* ---- delimiter detection -------------------------------------------------- */

/* Fields per line for delimiter d over the first lines; quote-aware. */
static size_t count_fields(const char *t, size_t len, char d, size_t *counts, size_t maxlines,
                           bool *complete_last)
{
    size_t line = 0, n = 1;
    bool q = false;
    size_t i = 0;
    for (; i < len && line < maxlines; i++) {
        char ch = t[i];
        if (ch == '"') {
            q = !q;
        } else if (!q && ch == d) {
            n++;
        } else if (!q && (ch == '\n' || ch == '\r')) {
            if (ch == '\r' && i + 1 < len && t[i + 1] == '\n')
                i++;
            counts[line++] = n;
            n = 1;
            while (i + 1 < len && (t[i + 1] == '\n' || t[i + 1] == '\r'))
                i++;
        }
    }
    *complete_last = line > 0;
    if (line < maxlines && i >= len && n > 1)
        counts[line++] = n; /* the last line without its newline */
    return line;
}

char imp_csv_detect_delim(const char *text, size_t len)
{
    static const char cands[] = { ',', ';', '\t' };
    char best = ',';
    size_t best_score = 0, best_fields = 0;
    for (size_t k = 0; k < sizeof(cands); k++) {
        size_t counts[DETECT_LINES];
        bool complete;
        size_t lines = count_fields(text, len, cands[k], counts, DETECT_LINES, &complete);
        if (lines == 0 || counts[0] < 2)
            continue;
        /* Score: lines that agree with the header's field count. */
        size_t agree = 0;
        for (size_t i = 0; i < lines; i++)
            if (counts[i] == counts[0])
                agree++;
        if (agree > best_score || (agree == best_score && counts[0] > best_fields)) {
            best = cands[k];
            best_score = agree;
            best_fields = counts[0];
        }
    }
    return best;
}

/* ---- feeding ---------------------------------------------------------------- */

static int parse_text(struct imp_csv *c, const char *t, size_t len)
{
    while (len) {
        size_t n = len > CSV_PIECE ? CSV_PIECE : len;
        size_t done = csv_parse(&c->parser, t, n, on_field, on_row, c);
        c->fed += done;
        if (c->cb_status)
            return c->cb_status;
        if (done != n)
            return csv_error(&c->parser) == CSV_ENOMEM ? ERR_NOMEM
                                                       : fail(c, "the CSV parser failed");
        if (c->fed - c->row_start > c->max_row_bytes)
            return fail(c,
                        "record %llu is longer than %llu bytes: an unbalanced quote, or not a "
                        "CSV file",
                        (unsigned long long)c->rows + (c->rows ? 0 : 1),
                        (unsigned long long)c->max_row_bytes);
        t += n;
        len -= n;
    }
    return 0;
}

static int emit_text(struct imp_csv *c, const char *t, size_t len, bool final)
{
    if (c->delim) {
        if (c->head.len) {
            int rc = parse_text(c, c->head.p, c->head.len);
            c->head.len = 0;
            if (rc)
                return rc;
        }
        return parse_text(c, t, len);
    }
    if (imp_buf_add(&c->head, t, len) != 0)
        return ERR_NOMEM;
    size_t lines = 0;
    for (size_t i = 0; i < c->head.len; i++)
        if (c->head.p[i] == '\n')
            lines++;
    if (!final && lines < DETECT_LINES && c->head.len < DETECT_HOLD)
        return 0;
    c->delim = imp_csv_detect_delim(c->head.p, c->head.len);
    csv_set_delim(&c->parser, (unsigned char)c->delim);
    csv_set_space_func(&c->parser, c->delim == '\t' ? space_no_tab : space_and_tab);
    return emit_text(c, "", 0, final);
}

/* Length of a well-formed UTF-8 sequence at p (n bytes available): >0, 0 invalid, -1 incomplete. */
static int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    int need;
    unsigned min;
    unsigned cp;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        cp = b & 0x1F;
        min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        cp = b & 0x0F;
        min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        cp = b & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return -1;
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

static int put_utf8(struct imp_buf *o, unsigned cp)
{
    char b[3];
    if (cp < 0x80)
        return imp_buf_addc(o, (char)cp);
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return imp_buf_add(o, b, 2);
    }
    b[0] = (char)(0xE0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    return imp_buf_add(o, b, 3);
}

/*
 * Converts raw bytes into c->conv. Returns the number of bytes consumed
 * (the rest is an incomplete UTF-8 sequence to keep) or a negative code.
 */
static long convert(struct imp_csv *c, const unsigned char *p, size_t n, bool final, uint64_t base)
{
    size_t i = 0;
    c->conv.len = 0;
    if (imp_buf_reserve(&c->conv, n + n / 2 + 16) != 0)
        return ERR_NOMEM;
    while (i < n) {
        unsigned char b = p[i];
        if (b == 0)
            return fail(c,
                        "binary data: a NUL byte at offset %llu (this is not a CSV text file; "
                        "a spreadsheet's \"CSV\" export is)",
                        (unsigned long long)(base + i));
        if (b < 0x80) {
            /* Copy the ASCII run in one go. */
            size_t j = i;
            while (j < n && p[j] < 0x80 && p[j] != 0)
                j++;
            if (imp_buf_add(&c->conv, p + i, j - i) != 0)
                return ERR_NOMEM;
            i = j;
            continue;
        }
        if (c->enc != IMP_ENC_CP1252) {
            int k = utf8_seq(p + i, n - i);
            if (k < 0 && !final)
                break; /* wait for the rest of the sequence */
            if (k > 0) {
                c->enc = IMP_ENC_UTF8;
                if (imp_buf_add(&c->conv, p + i, (size_t)k) != 0)
                    return ERR_NOMEM;
                i += (size_t)k;
                continue;
            }
            if (c->enc == IMP_ENC_UTF8)
                return fail(c,
                            "invalid UTF-8 at byte offset %llu (record %llu): the file mixes "
                            "encodings; save it again as \"CSV UTF-8\"",
                            (unsigned long long)(base + i), (unsigned long long)c->rows + 1);
            c->enc = IMP_ENC_CP1252;
        }
        unsigned cp = b;
        if (b < 0xA0) {
            cp = cp1252_hi[b - 0x80];
            if (cp == 0)
                return fail(c,
                            "byte 0x%02llX at offset %llu is not text in UTF-8 or Windows-1252: "
                            "the encoding is unclear; save the file as \"CSV UTF-8\"",
                            (unsigned long long)b, (unsigned long long)(base + i));
        }
        if (put_utf8(&c->conv, cp) != 0)
            return ERR_NOMEM;
        i++;
    }
    return (long)i;
}

static int feed(struct imp_csv *c, const unsigned char *p, size_t n, bool final)
{
    if (!c->started) {
        c->started = true;
        if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
            return fail(c,
                        "the file is UTF-16 (Excel's \"Unicode text\"): save it as \"CSV UTF-8\" "
                        "instead");
        if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
            c->enc = IMP_ENC_UTF8;
            p += 3;
            n -= 3;
            c->in_bytes += 3;
        }
    }
    long used = convert(c, p, n, final, c->in_bytes);
    if (used < 0)
        return (int)used;
    c->in_bytes += (uint64_t)used;
    size_t rest = n - (size_t)used;
    if (rest > sizeof(c->pend))
        return fail(c, "internal: %zu pending bytes", rest);
    memmove(c->pend, p + used, rest);
    c->npend = rest;
    return emit_text(c, c->conv.p ? c->conv.p : "", c->conv.len, final);
}

int imp_csv_feed(struct imp_csv *c, const void *data, size_t len)
{
    if (c->failed)
        return ERR_PARSE;
    if (c->cb_status)
        return c->cb_status;
    const unsigned char *p = data;
    size_t n = len;
    if (c->npend || !c->started) {
        /* Join the kept bytes (a split UTF-8 sequence, or a BOM window) with the new ones. */
        c->join.len = 0;
        if (imp_buf_add(&c->join, c->pend, c->npend) != 0 || imp_buf_add(&c->join, data, len) != 0)
            return ERR_NOMEM;
        c->npend = 0;
        p = (const unsigned char *)c->join.p;
        n = c->join.len;
    }
    if (!c->started && n < 3) {
        memcpy(c->pend, p, n);
        c->npend = n;
        return 0;
    }
    return feed(c, p, n, false);
}

int imp_csv_finish(struct imp_csv *c)
{
    if (c->failed)
        return ERR_PARSE;
    if (c->cb_status)
        return c->cb_status;
    unsigned char tmp[8];
    size_t k = c->npend;
    memcpy(tmp, c->pend, k);
    c->npend = 0;
    int rc = feed(c, tmp, k, true);
    if (rc)
        return rc;
    if (c->npend)
        return fail(c, "the file ends inside a UTF-8 character (truncated upload?)");
    if (!c->delim) {
        rc = emit_text(c, "", 0, true);
        if (rc)
            return rc;
    }
    csv_set_opts(&c->parser, CSV_APPEND_NULL | CSV_STRICT | CSV_STRICT_FINI);
    if (csv_fini(&c->parser, on_field, on_row, c) != 0) {
        if (c->cb_status)
            return c->cb_status;
        return fail(c,
                    "the file ends inside a quoted field (record %llu): truncated upload or an "
                    "unbalanced quote",
                    (unsigned long long)c->rows + 1);
    }
    return c->cb_status;
}
