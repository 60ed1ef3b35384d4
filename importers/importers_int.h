/* SPDX-License-Identifier: MIT */
/*
 * importers_int.h: declarations shared by the files of the importers module
 * (and its unit tests and fuzz harnesses); not for other modules.
 */
#ifndef IMPORTERS_IMPORTERS_INT_H
#define IMPORTERS_IMPORTERS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <csv.h>
#include <jansson.h>

#include "importers/importers.h"

/* ------------------------------------------------------------------------ */
/* buf.c: a growable byte buffer                                             */

struct imp_buf {
    char *p;    /* owned; NUL-terminated when len < cap */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

void imp_buf_init(struct imp_buf *b);
void imp_buf_fini(struct imp_buf *b);
/* Returns 0 or ERR_NOMEM. */
int imp_buf_reserve(struct imp_buf *b, size_t extra);
int imp_buf_add(struct imp_buf *b, const void *data, size_t len);
int imp_buf_addc(struct imp_buf *b, char c);
int imp_buf_adds(struct imp_buf *b, const char *s);
/* Appends s as a PostgreSQL COPY text-format field (backslash escapes). */
int imp_buf_add_copy(struct imp_buf *b, const char *s, size_t len);
/* Appends s as the inside of a JSON string (no quotes), at most max input bytes (UTF-8 safe). */
int imp_buf_add_json(struct imp_buf *b, const char *s, size_t len, size_t max);
/* imp_buf_add_json's output as a COPY text-format field (its backslashes doubled). */
int imp_buf_add_json_copy(struct imp_buf *b, const char *s, size_t len, size_t max);
/* Appends v in decimal. */
int imp_buf_add_u64(struct imp_buf *b, uint64_t v);
/* Removes the first n bytes. */
void imp_buf_consume(struct imp_buf *b, size_t n);

/* ------------------------------------------------------------------------ */
/* csv.c: streaming CSV reader (encoding, delimiter, libcsv, row limits)     */

enum imp_encoding {
    IMP_ENC_UNDECIDED = 0, /* only ASCII seen so far */
    IMP_ENC_UTF8,
    IMP_ENC_CP1252, /* Windows-1252 (a superset of Latin-1's printable range) */
};

/*
 * One row: nfields fields, each NUL-terminated (fields[i], lens[i]), all
 * borrowed for the call. row_no counts the non-blank records after the
 * header from 1. Returns 0 to go on or a negative code to stop the reader
 * (the code comes back from imp_csv_feed/finish).
 */
typedef int imp_csv_row_cb(void *arg, uint64_t row_no, char **fields, const size_t *lens,
                           size_t nfields);

struct imp_csv {
    struct csv_parser parser; /* libcsv */
    enum imp_encoding enc;
    char delim;            /* 0 until detected (or given) */
    bool delim_given;      /* the caller fixed the delimiter */
    bool started;          /* BOM check done */
    bool failed;           /* an error was reported; further input is ignored */
    unsigned char pend[4]; /* an incomplete UTF-8 sequence from the previous piece */
    size_t npend;
    struct imp_buf head;   /* converted bytes kept until the delimiter is known */
    struct imp_buf conv;   /* scratch for converted text */
    struct imp_buf rowbuf; /* the current row's fields, NUL-separated */
    struct imp_buf join;   /* kept bytes + a new piece */
    size_t *offs;          /* start of each field in rowbuf */
    size_t *lens;          /* length of each field */
    char **ptrs;           /* field pointers handed to the row callback */
    size_t nfields, capfields;
    size_t max_row_bytes; /* a longer record fails the file */
    uint64_t in_bytes;    /* raw bytes consumed */
    uint64_t row_start;   /* in_bytes-ish position where the current record began */
    uint64_t fed;         /* converted bytes given to libcsv */
    uint64_t rows;        /* records seen, header included */
    imp_csv_row_cb *row_cb;
    void *arg;
    int cb_status; /* a row callback's stop code */
    char err[256]; /* the reason the file was refused */
};

/* delimiter 0 detects. Returns 0 or ERR_NOMEM. */
int imp_csv_init(struct imp_csv *c, char delimiter, size_t max_row_bytes, imp_csv_row_cb *cb,
                 void *arg);
void imp_csv_fini(struct imp_csv *c);
/*
 * Feeds raw file bytes. Returns 0, ERR_PARSE (a bad file: c->err says why),
 * ERR_NOMEM or a row callback's code.
 */
int imp_csv_feed(struct imp_csv *c, const void *data, size_t len);
/* End of file. Same returns. */
int imp_csv_finish(struct imp_csv *c);
/* Delimiter detection on the first lines of text (quote-aware). Pure. */
char imp_csv_detect_delim(const char *text, size_t len);

/* ------------------------------------------------------------------------ */
/* multipart.c: streaming multipart/form-data decoder                        */

enum imp_mp_state {
    IMP_MP_PREAMBLE = 0,
    IMP_MP_HEADERS,
    IMP_MP_BODY, /* inside a part */
    IMP_MP_DONE, /* closing boundary seen */
    IMP_MP_FAILED,
};

/* Body bytes of the file part (borrowed). Returns 0 or a code that stops the decoder. */
typedef int imp_mp_data_cb(void *arg, const char *data, size_t len);

struct imp_mp {
    enum imp_mp_state state;
    char delim[80]; /* "\r\n--" boundary */
    size_t dlen;
    struct imp_buf hold; /* bytes that may be the start of a delimiter, or a header block */
    bool in_file;        /* the current part is the file */
    bool file_done;      /* the file part ended */
    bool first;          /* no boundary seen yet */
    char filename[256];  /* of the file part */
    imp_mp_data_cb *cb;
    void *arg;
    char err[160];
};

/* Parses the boundary out of content_type. Returns 0, ERR_INVAL (no boundary) or ERR_NOMEM. */
int imp_mp_init(struct imp_mp *m, const char *content_type, imp_mp_data_cb *cb, void *arg);
void imp_mp_fini(struct imp_mp *m);
/* Returns 0, ERR_PARSE (m->err), or the callback's code. */
int imp_mp_feed(struct imp_mp *m, const char *data, size_t len);
/* End of body: ERR_PARSE when the closing boundary or the file part is missing. */
int imp_mp_finish(struct imp_mp *m);

/* ------------------------------------------------------------------------ */
/* mapping.c: columns -> contact fields                                      */

enum imp_field {
    IMP_F_CUSTOM = 0,
    IMP_F_NUMBER,
    IMP_F_ALT,
    IMP_F_EXTENSION,
    IMP_F_EXTERNAL_ID,
    IMP_F_STATE,
    IMP_F_POSTAL,
    IMP_F_TZ,
    IMP_F_FIRST_NAME, /* custom "first_name" */
    IMP_F_LAST_NAME,  /* custom "last_name" */
    IMP_F_EMAIL,      /* custom "email" */
    IMP_F_IGNORE,
};

#define IMP_MAX_ALT 9

struct imp_mapping {
    size_t ncols;         /* header columns */
    enum imp_field *kind; /* per column */
    char **key;           /* per column: custom key (owned), or NULL */
    char **name;          /* per column: header name as in the file (owned) */
    long number_col;      /* -1 when none */
    bool no_header;
};

/*
 * Builds the mapping for a header row (or, with no_header, for ncols
 * unnamed columns "column_1"...). explicit (borrowed, may be NULL) maps
 * field names to header names or 1-based column numbers:
 * {"phone": "Cell", "alt_phones": ["Home", "Work"], "first_name": "Given",
 *  "last_name", "email", "state", "postal_code", "time_zone", "extension",
 *  "external_id", "ignore": ["Notes"]}. Returns 0, ERR_NOTFOUND (no phone
 * column: err names the headers seen), ERR_INVAL (explicit mapping names a
 * column that does not exist or an unknown field: err says which) or
 * ERR_NOMEM.
 */
int imp_mapping_build(struct imp_mapping *m, char **names, const size_t *lens, size_t ncols,
                      bool no_header, json_t *explicit_map, char *err, size_t errsz);
void imp_mapping_fini(struct imp_mapping *m);
/*
 * The mapping as JSON for import_jobs.mapping (new reference):
 * {"columns": [{"name": "Phone", "field": "phone"}, ...]} in file order.
 */
json_t *imp_mapping_json(const struct imp_mapping *m);
/* Lower-case alphanumerics of a header ("Phone Number" -> "phonenumber"). */
void imp_header_norm(const char *s, size_t len, char *out, size_t outsz);

/* ------------------------------------------------------------------------ */
/* e164.c                                                                    */

struct compliance_place;
/*
 * importer_e164_normalize, also giving the compliance_locate() result of the
 * accepted number in *place (so the row needs no second lookup); *place is
 * cleared first and meaningful only when the number is accepted.
 */
enum importer_reason imp_e164_normalize_place(const char *in, size_t len,
                                              const struct importer_e164_opts *o,
                                              struct importer_number *out,
                                              struct compliance_place *place, char *detail,
                                              size_t dsz);

/* ------------------------------------------------------------------------ */
/* row.c: one row -> one staging line                                       */

struct imp_list {
    int64_t tenant_id;
    int64_t list_id;
    char **allowed; /* owned ISO codes */
    size_t nallowed;
    bool dnc_mark;        /* dnc_mode = mark (else reject) */
    bool allow_fictional; /* settings.allow_fictional */
    char default_tz[64];  /* settings.default_time_zone, "" none */
    importer_dnc_cb *dnc;
    void *dnc_arg;
};

/*
 * Checks one row and appends its staging line (COPY text format, columns as
 * IMP_STAGE_COLUMNS) to out. Returns the row's reason
 * (IMPORTER_REASON_NONE: accepted) or a negative code (ERR_NOMEM). detail
 * receives the message for a reject.
 */
int imp_row_stage(const struct imp_list *l, const struct imp_mapping *m, uint64_t row_no,
                  char **fields, const size_t *lens, size_t nfields, struct imp_buf *out,
                  char *detail, size_t dsz);

#define IMP_STAGE_COLUMNS                                                                    \
    "row_no, reason, detail, number, extension, alt_numbers, external_id, country, region, " \
    "postal_code, time_zones, tz_source, custom, state, original"

/* ------------------------------------------------------------------------ */
/* export.c                                                                  */

#endif
