/* SPDX-License-Identifier: MIT */
/*
 * dnc_xml: the national registry's "XML tagged file" (DIALER-ANCHORS.md 4.3),
 * read by a streaming tokenizer (dnc_file_int.h). The schema is not
 * published to us, so the reader takes numbers from wherever they stand and
 * ignores everything else (docs/compliance.md, "DNC file formats"):
 *
 *   - The text of an element (character data and CDATA sections between two
 *     tags, white space trimmed) and every attribute value is a candidate.
 *     A candidate made of digits and the separators " -()." (and a leading
 *     "+") with 10 digits, or 11 starting with 1, whose area code and
 *     exchange start with 2-9, is a number: "+1NPANXXXXXX" is added.
 *   - A candidate of exactly 3 digits starting with 2-9 is an area code; the
 *     next candidate of exactly 7 digits (exchange 2-9) under the same parent
 *     element (or in the same element's attributes) completes it:
 *     <rec><areaCode>415</areaCode><phoneNumber>5550123</phoneNumber></rec>
 *     and <rec npa="415" number="5550123"/> both give +14155550123.
 *   - Every other text (dates, counts, names) is ignored. A file without a
 *     single number is refused (a schema we do not read must not load as an
 *     empty list).
 *   - Refused, with the line: a DTD or any other "<!" declaration (no
 *     entities can be defined: no external entities, no entity expansion),
 *     a reference to an entity other than the five XML ones and character
 *     references, unquoted attributes, mismatched or unclosed tags, text or
 *     a second element outside the root, nesting deeper than 256.
 *   - Comments and processing instructions (the "<?xml ...?>" declaration)
 *     are skipped; the bytes are read as ASCII-compatible (UTF-8).
 */
#include <stdio.h>
#include <string.h>

#include "compliance/dnc_file_int.h"
#include "core/err.h"

enum {
    X_TEXT,
    X_LT,
    X_PI,
    X_BANG,
    X_COMMENT,
    X_CDATA,
    X_STAG,
    X_ATTRS,
    X_ANAME,
    X_AEQ,
    X_AVALQ,
    X_AVAL,
    X_EMPTY,
    X_ETAG,
    X_ETAG_WS,
    X_ENT,
};

#define FNV_OFF   UINT64_C(1469598103934665603)
#define FNV_PRIME UINT64_C(1099511628211)

static int fail(struct dnc__xml *x, const char *msg)
{
    x->err->line = x->line;
    snprintf(x->err->message, sizeof(x->err->message), "xml: %s", msg);
    return ERR_PARSE;
}

void dnc__xml_init(struct dnc__xml *x, const struct dnc__target *tg, uint64_t first_line,
                   struct compliance_dnc_parse_error *err)
{
    memset(x, 0, sizeof(*x));
    x->tg = *tg;
    x->err = err;
    x->line = first_line;
    x->state = X_TEXT;
}

static bool is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_name(int c)
{
    return !is_ws(c) && c != '/' && c != '>' && c != '=' && c != '<' && c != '"' && c != '\'' &&
           c != '&' && c != '?' && c != '!';
}

static void text_reset(struct dnc__xml *x)
{
    x->text_len = 0;
    x->text_long = false;
    x->text_other = false;
}

static void text_add(struct dnc__xml *x, int c)
{
    if (x->text_len == 0 && is_ws(c)) {
        return; /* leading white space */
    }
    if (x->text_len == sizeof(x->text)) {
        x->text_long = true;
        return;
    }
    x->text[x->text_len++] = (char)c;
}

static int emit(struct dnc__xml *x, const char *d10)
{
    char num[13] = "+1";
    memcpy(num + 2, d10, 10);
    num[12] = '\0';
    int rc = dnc__emit(&x->tg, num, x->line, x->err);
    if (rc == 0) {
        x->ok++;
    }
    return rc;
}

/* The candidate in text, seen at level (an element's depth for its text,
 * depth + 1 for its attributes). */
static int candidate(struct dnc__xml *x, unsigned level)
{
    char d[12];
    size_t nd = 0, n = x->text_len;
    bool sep = false;
    while (n > 0 && is_ws(x->text[n - 1])) {
        n--;
    }
    if (x->text_long || x->text_other || n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = x->text[i];
        if (c >= '0' && c <= '9') {
            if (nd == sizeof(d)) {
                return 0;
            }
            d[nd++] = c;
        } else if (c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' ||
                   (c == '+' && i == 0)) {
            sep = true;
        } else {
            return 0;
        }
    }
    const char *p = d;
    if (nd == 11 && d[0] == '1') {
        p++;
        nd--;
    }
    if (nd == 10) {
        return p[0] >= '2' && p[3] >= '2' ? emit(x, p) : 0;
    }
    if (nd == 3 && !sep && p[0] >= '2') {
        memcpy(x->npa, p, 3);
        x->npa_level = level;
        return 0;
    }
    if (nd == 7 && !sep && x->npa_level != 0 && p[0] >= '2') {
        char full[10];
        memcpy(full, x->npa, 3);
        memcpy(full + 3, p, 7);
        x->npa_level = 0;
        return emit(x, full);
    }
    return 0;
}

/* An element of depth `depth` closes: an area code seen below it is dropped. */
static void closed(struct dnc__xml *x, unsigned depth)
{
    if (x->npa_level != 0 && depth + 1 <= x->npa_level) {
        x->npa_level = 0;
    }
}

/* The element text collected so far ends (a tag begins). */
static int text_end(struct dnc__xml *x)
{
    int rc = 0;
    if (x->depth == 0) {
        if (x->text_len > 0) {
            rc = fail(x, "text outside the root element");
        }
    } else {
        rc = candidate(x, x->depth);
    }
    text_reset(x);
    return rc;
}

static int push(struct dnc__xml *x)
{
    if (x->depth == 0 && x->had_root) {
        return fail(x, "a second root element");
    }
    if (x->depth == DNC__XML_DEPTH) {
        return fail(x, "elements nested deeper than 256");
    }
    x->stack[x->depth++] = x->name_hash;
    x->had_root = true;
    return 0;
}

/* An entity reference "&name;" (name in scratch). */
static int entity(struct dnc__xml *x)
{
    static const char *const known[] = { "amp", "lt", "gt", "quot", "apos" };
    const char *s = x->scratch;
    size_t n = x->scratch_len;
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        ok |= n == strlen(known[i]) && memcmp(s, known[i], n) == 0;
    }
    if (!ok && n >= 2 && s[0] == '#') {
        size_t i = 1;
        bool hex = s[1] == 'x';
        i += hex;
        ok = i < n;
        for (; i < n; i++) {
            char c = s[i];
            ok &= (c >= '0' && c <= '9') ||
                  (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        }
    }
    if (!ok) {
        return fail(x, "undefined entity (only &amp; &lt; &gt; &quot; &apos; and &#N; are read)");
    }
    x->text_other = true; /* the text is no longer a bare number */
    return 0;
}

static int step(struct dnc__xml *x, int c)
{
    switch (x->state) {
    case X_TEXT:
        if (c == '<') {
            x->state = X_LT;
        } else if (c == '&') {
            x->ret_state = X_TEXT;
            x->scratch_len = 0;
            x->state = X_ENT;
        } else if (c == '>' && x->depth == 0) {
            return fail(x, "'>' outside markup");
        } else {
            text_add(x, c);
        }
        return 0;
    case X_LT:
        if (c == '?') {
            x->run = 0;
            x->state = X_PI;
        } else if (c == '!') {
            x->scratch_len = 0;
            x->state = X_BANG;
        } else if (c == '/') {
            int rc = text_end(x);
            x->name_hash = FNV_OFF;
            x->state = X_ETAG;
            return rc;
        } else if (is_name(c)) {
            int rc = text_end(x);
            x->name_hash = (FNV_OFF ^ (uint64_t)c) * FNV_PRIME;
            x->state = X_STAG;
            return rc;
        } else {
            return fail(x, "'<' not followed by a tag name");
        }
        return 0;
    case X_PI:
        if (c == '>' && x->run == 1) {
            x->state = X_TEXT;
        }
        x->run = c == '?';
        return 0;
    case X_BANG: {
        static const char comment[] = "--", cdata[] = "[CDATA[";
        x->scratch[x->scratch_len++] = (char)c;
        if (x->scratch_len == 2 && memcmp(x->scratch, comment, 2) == 0) {
            x->run = 0;
            x->state = X_COMMENT;
        } else if (x->scratch_len == 7 && memcmp(x->scratch, cdata, 7) == 0) {
            if (x->depth == 0) {
                return fail(x, "CDATA section outside the root element");
            }
            x->run = 0;
            x->state = X_CDATA;
        } else if (memcmp(x->scratch, comment, x->scratch_len < 2 ? x->scratch_len : 2) != 0 &&
                   memcmp(x->scratch, cdata, x->scratch_len < 7 ? x->scratch_len : 7) != 0) {
            if (c >= 'A' && c <= 'Z' && x->scratch_len == 1) {
                return fail(x, "a DTD or declaration (<!DOCTYPE>, <!ENTITY>) is refused");
            }
            return fail(x, "malformed markup after '<!'");
        }
        return 0;
    }
    case X_COMMENT:
        if (c == '>' && x->run >= 2) {
            x->state = X_TEXT;
        } else {
            x->run = c == '-' ? x->run + 1 : 0;
        }
        return 0;
    case X_CDATA:
        if (c == ']') {
            if (x->run == 2) {
                text_add(x, ']');
            } else {
                x->run++;
            }
        } else if (c == '>' && x->run == 2) {
            x->state = X_TEXT;
        } else {
            for (unsigned i = 0; i < x->run; i++) {
                text_add(x, ']');
            }
            x->run = 0;
            text_add(x, c);
        }
        return 0;
    case X_STAG:
        if (is_name(c)) {
            x->name_hash = (x->name_hash ^ (uint64_t)c) * FNV_PRIME;
        } else if (is_ws(c)) {
            x->state = X_ATTRS;
        } else if (c == '>') {
            x->state = X_TEXT;
            return push(x);
        } else if (c == '/') {
            x->state = X_EMPTY;
        } else {
            return fail(x, "malformed start tag");
        }
        return 0;
    case X_ATTRS:
        if (is_ws(c)) {
        } else if (c == '>') {
            x->state = X_TEXT;
            return push(x);
        } else if (c == '/') {
            x->state = X_EMPTY;
        } else if (is_name(c)) {
            x->state = X_ANAME;
        } else {
            return fail(x, "malformed attribute");
        }
        return 0;
    case X_ANAME:
        if (c == '=') {
            x->state = X_AVALQ;
        } else if (is_ws(c)) {
            x->state = X_AEQ;
        } else if (!is_name(c)) {
            return fail(x, "attribute without a value");
        }
        return 0;
    case X_AEQ:
        if (c == '=') {
            x->state = X_AVALQ;
        } else if (!is_ws(c)) {
            return fail(x, "attribute without a value");
        }
        return 0;
    case X_AVALQ:
        if (c == '"' || c == '\'') {
            x->quote = c;
            text_reset(x);
            x->state = X_AVAL;
        } else if (!is_ws(c)) {
            return fail(x, "attribute value not quoted");
        }
        return 0;
    case X_AVAL:
        if (c == x->quote) {
            x->state = X_ATTRS;
            int rc = candidate(x, x->depth + 2);
            text_reset(x);
            return rc;
        }
        if (c == '<') {
            return fail(x, "'<' inside an attribute value");
        }
        if (c == '&') {
            x->ret_state = X_AVAL;
            x->scratch_len = 0;
            x->state = X_ENT;
            return 0;
        }
        text_add(x, c);
        return 0;
    case X_EMPTY:
        if (c != '>') {
            return fail(x, "'/' in a tag not followed by '>'");
        }
        x->state = X_TEXT;
        {
            int rc = push(x);
            if (rc != 0) {
                return rc;
            }
        }
        x->depth--;
        closed(x, x->depth + 1);
        return 0;
    case X_ETAG:
        if (is_name(c)) {
            x->name_hash = (x->name_hash ^ (uint64_t)c) * FNV_PRIME;
            return 0;
        }
        if (is_ws(c)) {
            x->state = X_ETAG_WS;
            return 0;
        }
        /* fall through */
    case X_ETAG_WS:
        if (is_ws(c)) {
            return 0;
        }
        if (c != '>') {
            return fail(x, "malformed end tag");
        }
        if (x->depth == 0 || x->stack[x->depth - 1] != x->name_hash) {
            return fail(x, "end tag does not match the open element");
        }
        closed(x, x->depth);
        x->depth--;
        x->state = X_TEXT;
        return 0;
    case X_ENT:
        if (c == ';') {
            x->state = x->ret_state;
            return entity(x);
        }
        if (x->scratch_len == sizeof(x->scratch) || is_ws(c) || c == '<' || c == '&') {
            return fail(x, "'&' not followed by an entity reference");
        }
        x->scratch[x->scratch_len++] = (char)c;
        return 0;
    default:
        return fail(x, "internal state");
    }
}

int dnc__xml_feed(struct dnc__xml *x, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)data[i];
        if (c == 0) {
            return fail(x, "NUL byte");
        }
        int rc = step(x, c);
        if (rc != 0) {
            return rc;
        }
        if (c == '\n') {
            x->line++;
        }
    }
    return 0;
}

int dnc__xml_end(struct dnc__xml *x)
{
    if (x->state == X_COMMENT) {
        return fail(x, "end of file inside a comment");
    }
    if (x->state == X_CDATA) {
        return fail(x, "end of file inside a CDATA section");
    }
    if (x->state != X_TEXT) {
        return fail(x, "end of file inside markup");
    }
    if (x->depth > 0) {
        return fail(x, "end of file with an element still open");
    }
    if (text_end(x) != 0) {
        return ERR_PARSE;
    }
    if (!x->had_root) {
        return fail(x, "no root element");
    }
    if (x->ok == 0) {
        return fail(x, "no phone numbers found (docs/compliance.md lists what is read)");
    }
    return 0;
}
