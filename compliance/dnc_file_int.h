/* SPDX-License-Identifier: MIT */
/*
 * dnc_file_int.h: the streaming pieces behind compliance_dnc_parse()
 * (dnc_file.c: line formats, dnc_xml.c: the XML tagged file, dnc_zip.c: zip
 * archives). Internal to the compliance module.
 *
 * A file (or one member of a zip archive) is read by a struct dnc__text fed
 * in chunks of any size: it decides between the line formats and XML from
 * the first bytes that are not white space (fmt AUTO), then hands the bytes
 * on. Nothing keeps more than one line (DNC__LINE_MAX) of a line file or a
 * few dozen bytes of XML text, so a member is parsed as it is inflated.
 */
#ifndef DIALER_COMPLIANCE_DNC_FILE_INT_H
#define DIALER_COMPLIANCE_DNC_FILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compliance/compliance.h"

#define DNC__LINE_MAX  4096 /* longest line of a streamed (zip member) line file */
#define DNC__XML_DEPTH 256  /* deepest element nesting of an XML file */
#define DNC__XML_TEXT  48   /* element text kept for the number test */

/* Where entries go: as compliance_dnc_parse()'s b, cb, arg. */
struct dnc__target {
    struct compliance_dnc_builder *b;
    compliance_dnc_change_cb *cb;
    void *arg;
};

/* Adds one entry of a full list ("+1NPANXXXXXX", an E.164 number or a
 * block) to the target; on failure fills err (with line). */
int dnc__emit(const struct dnc__target *tg, const char *num, uint64_t line,
              struct compliance_dnc_parse_error *err);

struct dnc__lines {
    enum compliance_dnc_format fmt;
    struct dnc__target tg;
    struct compliance_dnc_parse_error *err;
    uint64_t line, ok;
    bool first;
    size_t carry_len;
    char carry[DNC__LINE_MAX];
};

struct dnc__xml {
    struct dnc__target tg;
    struct compliance_dnc_parse_error *err;
    uint64_t line, ok;
    int state, ret_state;
    int quote;
    unsigned depth;
    bool had_root;
    uint64_t name_hash;
    uint64_t stack[DNC__XML_DEPTH];
    /* text of the current element (or attribute value) */
    char text[DNC__XML_TEXT];
    size_t text_len;
    bool text_long, text_other;
    /* markup scratch: "<!" declarations, entity names, CDATA/comment ends */
    char scratch[16];
    size_t scratch_len;
    unsigned run;
    /* an area code waiting for its number (the level it was seen at, 0 none) */
    char npa[4];
    unsigned npa_level;
};

struct dnc__text {
    enum compliance_dnc_format fmt;
    int kind;             /* 0 undecided, 1 lines, 2 xml */
    uint64_t blank_lines; /* newlines seen while undecided */
    int bom;              /* bytes of a UTF-8 byte order mark matched */
    struct dnc__target tg;
    struct compliance_dnc_parse_error *err;

    union {
        struct dnc__lines lines;
        struct dnc__xml xml;
    } u;
};

void dnc__text_init(struct dnc__text *t, enum compliance_dnc_format fmt,
                    const struct dnc__target *tg, struct compliance_dnc_parse_error *err);
/* Feeds len bytes; last is true when this is the whole rest of the file held
 * in memory (a final line may then be of any length). Returns 0 or an error
 * with err filled. */
int dnc__text_feed(struct dnc__text *t, const char *data, size_t len, bool last);
/* The end of the file: the last line, or XML's closing checks. */
int dnc__text_end(struct dnc__text *t);
/* Entries (lines, numbers) accepted so far. */
uint64_t dnc__text_count(const struct dnc__text *t);

void dnc__xml_init(struct dnc__xml *x, const struct dnc__target *tg, uint64_t first_line,
                   struct compliance_dnc_parse_error *err);
int dnc__xml_feed(struct dnc__xml *x, const char *data, size_t len);
int dnc__xml_end(struct dnc__xml *x);

/* Parses a zip archive (len bytes at data) member by member. */
int dnc__zip_parse(const unsigned char *data, size_t len, enum compliance_dnc_format fmt,
                   const struct dnc__target *tg, uint64_t *lines,
                   struct compliance_dnc_parse_error *err);

/* Bounds of one zip member (defaults: DNC__ZIP_MAX_MEMBER bytes inflated,
 * DNC__ZIP_MAX_RATIO times its compressed size once above 1 MiB). For
 * tests; not thread-safe against a parse running meanwhile. */
#define DNC__ZIP_MAX_MEMBER UINT64_C(4294967295)
#define DNC__ZIP_MAX_RATIO  200u
void dnc__zip_limits(uint64_t max_member, uint32_t max_ratio);

/* True when data starts like a zip archive ("PK\3\4", or "PK\5\6" empty). */
bool dnc__is_zip(const void *data, size_t len);

#endif
