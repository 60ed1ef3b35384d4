/* SPDX-License-Identifier: MIT */
/*
 * dnc_file: parsers of DNC files (compliance_dnc_parse()).
 *
 * Formats accepted (docs/compliance.md, "DNC files"):
 *
 *   registry  the national registry's full download, one number per line,
 *             either ten digits "4155550123" or area code and number
 *             separated by a comma "415,5550123" (both forms are described
 *             for the FTC flat file; DIALER-ANCHORS.md 4.3).
 *   changes   the registry's change download: "415,5550123,A" or
 *             "4155550123,D"; the third (second) field is the action, A(dd) or
 *             D(elete), any later fields (a date) are ignored.
 *   plain     one number per line, or a CSV file whose first column is the
 *             number (optionally quoted): E.164 ("+441632960001"), or a NANP
 *             number of 10 digits or 11 starting with 1, with the usual
 *             punctuation " -().". Also "+1NPA" / "+1NPANXX" blocks.
 *
 * Common rules: LF or CRLF line ends; blank lines and lines starting with
 * '#' are skipped; the first data line is skipped as a header when it holds
 * a letter and does not parse (registry files have none, CSV files often
 * do). The first bad line stops the parse with its line number and field.
 * Nothing is read past len; the input need not be NUL-terminated.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/compliance.h"
#include "compliance/dnc_file_int.h"
#include "core/err.h"

#define MAX_FIELDS 4
#define MAX_DIGITS 15

struct field {
    const char *p;
    size_t len;
};

static void set_err(struct compliance_dnc_parse_error *err, uint64_t line, const char *msg)
{
    if (err != NULL) {
        err->line = line;
        snprintf(err->message, sizeof(err->message), "%s", msg);
    }
}

/* Splits a line at commas (quotes around a field are removed; no escaped
 * quotes inside numbers). Returns the number of fields (at most MAX_FIELDS;
 * the last takes the rest). */
static size_t split(const char *p, size_t len, struct field *f)
{
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || (p[i] == ',' && n < MAX_FIELDS - 1)) {
            const char *s = p + start;
            size_t l = i - start;
            while (l > 0 && (s[0] == ' ' || s[0] == '\t')) {
                s++;
                l--;
            }
            while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t')) {
                l--;
            }
            if (l >= 2 && s[0] == '"' && s[l - 1] == '"') {
                s++;
                l -= 2;
            }
            f[n].p = s;
            f[n].len = l;
            n++;
            start = i + 1;
        }
    }
    return n;
}

static bool all_digits(const struct field *f, size_t want)
{
    if (f->len != want) {
        return false;
    }
    for (size_t i = 0; i < f->len; i++) {
        if (f->p[i] < '0' || f->p[i] > '9') {
            return false;
        }
    }
    return true;
}

/* NANP ten digits with area code and exchange starting 2-9. */
static bool nanp10_ok(const char *d)
{
    return d[0] >= '2' && d[3] >= '2';
}

/* "+1" + area code fields into out (13 bytes). */
static int registry_number(const struct field *f, size_t nf, char *out, size_t *used)
{
    char d[11];
    if (nf >= 1 && all_digits(&f[0], 10)) {
        memcpy(d, f[0].p, 10);
        *used = 1;
    } else if (nf >= 2 && all_digits(&f[0], 3) && all_digits(&f[1], 7)) {
        memcpy(d, f[0].p, 3);
        memcpy(d + 3, f[1].p, 7);
        *used = 2;
    } else {
        return ERR_PARSE;
    }
    if (!nanp10_ok(d)) {
        return ERR_RANGE;
    }
    out[0] = '+';
    out[1] = '1';
    memcpy(out + 2, d, 10);
    out[12] = '\0';
    return 0;
}

/* A plain-list number with punctuation into E.164 in out (17 bytes). */
static int plain_number(const struct field *f, char *out)
{
    char d[MAX_DIGITS + 1];
    size_t nd = 0;
    bool plus = f->len > 0 && f->p[0] == '+';
    for (size_t i = plus ? 1 : 0; i < f->len; i++) {
        char c = f->p[i];
        if (c >= '0' && c <= '9') {
            if (nd == MAX_DIGITS) {
                return ERR_PARSE;
            }
            d[nd++] = c;
        } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
            return ERR_PARSE;
        }
    }
    size_t o = 0;
    out[o++] = '+';
    if (!plus) {
        if (nd == 10) {
            out[o++] = '1';
        } else if (!(nd == 11 && d[0] == '1')) {
            return ERR_PARSE;
        }
    }
    if (nd == 0) {
        return ERR_PARSE;
    }
    memcpy(out + o, d, nd);
    out[o + nd] = '\0';
    return 0;
}

static int change_action(const struct field *f)
{
    static const char *const adds[] = { "A", "a", "ADD", "add", "Add" };
    static const char *const dels[] = { "D", "d", "DEL", "del", "DELETE", "delete", "Delete" };
    for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
        if (f->len == strlen(adds[i]) && memcmp(f->p, adds[i], f->len) == 0) {
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof(dels) / sizeof(dels[0]); i++) {
        if (f->len == strlen(dels[i]) && memcmp(f->p, dels[i], f->len) == 0) {
            return 0;
        }
    }
    return -1;
}

static enum compliance_dnc_format guess(const struct field *f, size_t nf)
{
    char tmp[17];
    size_t used;
    if (registry_number(f, nf, tmp, &used) == 0) {
        if (nf > used && change_action(&f[used]) >= 0) {
            return COMPLIANCE_DNC_FMT_CHANGES;
        }
        if (nf == used) {
            return COMPLIANCE_DNC_FMT_REGISTRY;
        }
    }
    return COMPLIANCE_DNC_FMT_PLAIN;
}

static bool has_letter(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')) {
            return true;
        }
    }
    return false;
}

/* What compliance_dnc_builder_add() accepts: a number or a NANP block. */
static bool entry_valid(const char *num)
{
    size_t n = strlen(num);
    uint64_t key;
    if (compliance_dnc_key(num, &key) == 0) {
        return true;
    }
    return (n == 5 || n == 8) && num[0] == '+' && num[1] == '1' &&
           strspn(num + 1, "0123456789") == n - 1 && num[2] >= '2' && (n == 5 || num[5] >= '2');
}

/* Adds one full-list entry to the target. */
int dnc__emit(const struct dnc__target *tg, const char *num, uint64_t line,
              struct compliance_dnc_parse_error *err)
{
    int rc;
    if (tg->b == NULL && tg->cb != NULL) {
        /* A full or plain file read entry by entry (the upload route stores each): the entry is
         * checked as the builder would check it. */
        if (!entry_valid(num)) {
            set_err(err, line, "number (column 1): not a valid E.164 number or NANP block");
            return ERR_PARSE;
        }
        rc = tg->cb(1, num, tg->arg);
        if (rc != 0) {
            set_err(err, line, "number (column 1): not a valid E.164 number or NANP block");
        }
        return rc;
    }
    if (tg->b == NULL) {
        set_err(err, line, "number: no builder for a full list");
        return ERR_INVAL;
    }
    rc = compliance_dnc_builder_add(tg->b, num, strlen(num));
    if (rc == ERR_INVAL) {
        set_err(err, line, "number (column 1): not a valid E.164 number or NANP block");
        return ERR_PARSE;
    }
    if (rc != 0) {
        set_err(err, line, "out of memory");
    }
    return rc;
}

/* One data line. Returns 0, or an error with err filled. */
static int parse_line(const char *p, size_t len, enum compliance_dnc_format fmt,
                      const struct dnc__target *tg, uint64_t line,
                      struct compliance_dnc_parse_error *err)
{
    struct field f[MAX_FIELDS];
    size_t nf = split(p, len, f);
    char num[17];
    size_t used = 0;
    int rc;

    switch (fmt) {
    case COMPLIANCE_DNC_FMT_REGISTRY:
    case COMPLIANCE_DNC_FMT_CHANGES:
        rc = registry_number(f, nf, num, &used);
        if (rc != 0) {
            set_err(err, line,
                    rc == ERR_RANGE ? "number: area code or exchange starts with 0 or 1"
                                    : "number: expected NPANXXXXXX or NPA,NXXXXXX");
            return ERR_PARSE;
        }
        if (fmt == COMPLIANCE_DNC_FMT_REGISTRY) {
            if (nf != used) {
                set_err(err, line, "number: unexpected field after the number");
                return ERR_PARSE;
            }
            break;
        }
        if (nf <= used || change_action(&f[used]) < 0) {
            set_err(err, line, "action: expected A (add) or D (delete)");
            return ERR_PARSE;
        }
        if (tg->cb == NULL) {
            set_err(err, line, "action: change file given without a change callback");
            return ERR_INVAL;
        }
        rc = tg->cb(change_action(&f[used]), num, tg->arg);
        if (rc != 0) {
            set_err(err, line, "number: rejected by the change callback");
        }
        return rc;
    default:
        if (f[0].len >= 2 && f[0].p[0] == '+' && f[0].len <= 8) {
            memcpy(num, f[0].p, f[0].len); /* a block: "+1NPA" or "+1NPANXX" */
            num[f[0].len] = '\0';
        } else if (plain_number(&f[0], num) != 0) {
            set_err(err, line, "number (column 1): not a phone number");
            return ERR_PARSE;
        }
        break;
    }
    return dnc__emit(tg, num, line, err);
}

/* One line (without its end) of a line file. */
static int lines_one(struct dnc__lines *s, const char *p, size_t l)
{
    s->line++;
    if (l > 0 && p[l - 1] == '\r') {
        l--;
    }
    size_t sp = 0;
    while (sp < l && (p[sp] == ' ' || p[sp] == '\t')) {
        sp++;
    }
    if (sp == l || p[sp] == '#') {
        return 0;
    }
    if (s->first) {
        struct field f[MAX_FIELDS];
        size_t nf = split(p, l, f);
        enum compliance_dnc_format g = guess(f, nf);
        s->first = false;
        if (s->fmt == COMPLIANCE_DNC_FMT_AUTO) {
            s->fmt = g;
        }
        if (has_letter(p, l) && g == COMPLIANCE_DNC_FMT_PLAIN) {
            char tmp[17];
            if (s->fmt != COMPLIANCE_DNC_FMT_PLAIN || plain_number(&f[0], tmp) != 0) {
                return 0; /* a header line */
            }
        }
    }
    int rc = parse_line(p, l, s->fmt, &s->tg, s->line, s->err);
    if (rc == 0) {
        s->ok++;
    }
    return rc;
}

static int lines_feed(struct dnc__lines *s, const char *data, size_t len, bool last)
{
    size_t pos = 0;
    while (pos < len) {
        const char *p = data + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t l = nl != NULL ? (size_t)(nl - p) : len - pos;
        int rc;
        if (nl == NULL && !(last && s->carry_len == 0)) {
            if (l > sizeof(s->carry) - s->carry_len) {
                set_err(s->err, s->line + 1, "line: longer than 4096 bytes");
                return ERR_PARSE;
            }
            memcpy(s->carry + s->carry_len, p, l);
            s->carry_len += l;
            return 0;
        }
        pos += l + (nl != NULL ? 1 : 0);
        if (s->carry_len > 0) {
            if (l > sizeof(s->carry) - s->carry_len) {
                set_err(s->err, s->line + 1, "line: longer than 4096 bytes");
                return ERR_PARSE;
            }
            memcpy(s->carry + s->carry_len, p, l);
            l += s->carry_len;
            s->carry_len = 0;
            rc = lines_one(s, s->carry, l);
        } else {
            rc = lines_one(s, p, l);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int lines_end(struct dnc__lines *s)
{
    if (s->carry_len == 0) {
        return 0;
    }
    size_t l = s->carry_len;
    s->carry_len = 0;
    return lines_one(s, s->carry, l);
}

void dnc__text_init(struct dnc__text *t, enum compliance_dnc_format fmt,
                    const struct dnc__target *tg, struct compliance_dnc_parse_error *err)
{
    t->fmt = fmt;
    t->kind = 0;
    t->blank_lines = 0;
    t->bom = 0;
    t->tg = *tg;
    t->err = err;
}

static void text_decide(struct dnc__text *t, int kind)
{
    t->kind = kind;
    if (kind == 2) {
        dnc__xml_init(&t->u.xml, &t->tg, 1 + t->blank_lines, t->err);
        return;
    }
    struct dnc__lines *s = &t->u.lines;
    s->fmt = t->fmt;
    s->tg = t->tg;
    s->err = t->err;
    s->line = t->blank_lines; /* the blank lines skipped while deciding */
    s->ok = 0;
    s->first = true;
    s->carry_len = 0;
}

int dnc__text_feed(struct dnc__text *t, const char *data, size_t len, bool last)
{
    static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };
    size_t i = 0;
    /* a UTF-8 byte order mark at the very start is dropped, whatever the format */
    while (t->bom >= 0 && t->bom < 3 && i < len) {
        if ((unsigned char)data[i] != bom[t->bom]) {
            if (t->bom > 0) {
                set_err(t->err, 1, "file: starts with a broken byte order mark");
                return ERR_PARSE;
            }
            t->bom = -1;
            break;
        }
        t->bom++;
        i++;
    }
    if (t->kind == 0 && (t->bom < 0 || t->bom == 3)) {
        if (t->fmt == COMPLIANCE_DNC_FMT_XML) {
            text_decide(t, 2);
        } else if (t->fmt != COMPLIANCE_DNC_FMT_AUTO && t->fmt != COMPLIANCE_DNC_FMT_REGISTRY) {
            text_decide(t, 1);
        }
    }
    while (t->kind == 0 && i < len) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n') {
            t->blank_lines++;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            text_decide(t, c == '<' ? 2 : 1);
            break;
        }
        i++;
    }
    if (t->kind == 2) {
        return dnc__xml_feed(&t->u.xml, data + i, len - i);
    }
    if (t->kind == 1) {
        return lines_feed(&t->u.lines, data + i, len - i, last);
    }
    return 0;
}

int dnc__text_end(struct dnc__text *t)
{
    if (t->bom > 0 && t->bom < 3) {
        set_err(t->err, 1, "file: starts with a broken byte order mark");
        return ERR_PARSE;
    }
    if (t->kind == 0 && t->fmt == COMPLIANCE_DNC_FMT_XML) {
        text_decide(t, 2);
    }
    if (t->kind == 2) {
        return dnc__xml_end(&t->u.xml);
    }
    if (t->kind == 1) {
        return lines_end(&t->u.lines);
    }
    return 0; /* nothing but white space: an empty file */
}

uint64_t dnc__text_count(const struct dnc__text *t)
{
    return t->kind == 2 ? t->u.xml.ok : t->kind == 1 ? t->u.lines.ok : 0;
}

bool compliance_dnc_is_zip(const void *data, size_t len)
{
    return dnc__is_zip(data, len);
}

bool dnc__is_zip(const void *data, size_t len)
{
    return len >= 4 && (memcmp(data, "PK\003\004", 4) == 0 || memcmp(data, "PK\005\006", 4) == 0);
}

int compliance_dnc_parse(const char *data, size_t len, enum compliance_dnc_format fmt,
                         struct compliance_dnc_builder *b, compliance_dnc_change_cb *cb, void *arg,
                         uint64_t *lines, struct compliance_dnc_parse_error *err)
{
    struct compliance_dnc_parse_error scratch;
    const struct dnc__target tg = { .b = b, .cb = cb, .arg = arg };
    if (err == NULL) {
        err = &scratch;
    }
    set_err(err, 0, "");
    if (lines != NULL) {
        *lines = 0;
    }
    if ((data == NULL && len > 0) || (unsigned)fmt > COMPLIANCE_DNC_FMT_XML) {
        return ERR_INVAL;
    }
    if (dnc__is_zip(data, len)) {
        return dnc__zip_parse((const unsigned char *)data, len, fmt, &tg, lines, err);
    }
    struct dnc__text *t = malloc(sizeof(*t));
    if (t == NULL) {
        return ERR_NOMEM;
    }
    dnc__text_init(t, fmt, &tg, err);
    int rc = dnc__text_feed(t, data, len, true);
    if (rc == 0) {
        rc = dnc__text_end(t);
    }
    if (lines != NULL) {
        *lines = dnc__text_count(t);
    }
    free(t);
    return rc;
}
