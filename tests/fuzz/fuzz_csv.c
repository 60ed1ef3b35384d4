/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the importer's file path: the streaming CSV reader
 * (encoding, delimiter detection, libcsv), the header mapping and the row
 * checks that produce the staging COPY lines. Invariants:
 *
 *   - every field handed to the row callback is NUL-terminated at its length;
 *   - every staging line has exactly 15 tab-separated columns and ends the
 *     row with one newline (so COPY escaping is right whatever the input);
 *   - the custom and original columns, once COPY-unescaped, are valid JSON
 *     (PostgreSQL would refuse the whole COPY otherwise);
 *   - a refused file always says why (err is set).
 *
 * The first input byte picks the piece size (the same bytes must parse the
 * same whatever the split) and the multipart framing.
 * Run: make fuzz-build && build/fuzz/tests/fuzz/fuzz_csv tests/fuzz/corpus/csv/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"
#include "importers/importers_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

struct ctx {
    struct imp_mapping map;
    bool have_map;
    struct imp_list list;
    struct imp_buf line;
    struct imp_csv csv;
};

static void check_json_column(const char *s, size_t len)
{
    if (len == 2 && s[0] == '\\' && s[1] == 'N')
        return;
    char *u = malloc(len + 1);
    CHECK(u != NULL);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char c = s[++i];
            u[k++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
        } else {
            u[k++] = s[i];
        }
    }
    json_error_t e;
    json_t *j = json_loadb(u, k, 0, &e);
    if (!j)
        fprintf(stderr, "bad JSON column: %s\n", e.text);
    CHECK(j != NULL);
    json_decref(j);
    free(u);
}

static void check_line(const char *p, size_t len)
{
    CHECK(len > 0 && p[len - 1] == '\n');
    CHECK(memchr(p, '\n', len) == p + len - 1);
    const char *cols[15];
    size_t lens[15], n = 0;
    const char *start = p;
    for (size_t i = 0; i < len - 1; i++) {
        if (p[i] == '\t') {
            CHECK(n < 14);
            cols[n] = start;
            lens[n] = (size_t)(p + i - start);
            n++;
            start = p + i + 1;
        }
    }
    CHECK(n == 14);
    cols[14] = start;
    lens[14] = (size_t)(p + len - 1 - start);
    check_json_column(cols[12], lens[12]);
    check_json_column(cols[14], lens[14]);
}

static int on_row(void *arg, uint64_t row_no, char **f, const size_t *lens, size_t n)
{
    struct ctx *c = arg;
    for (size_t i = 0; i < n; i++)
        CHECK(f[i][lens[i]] == 0);
    if (!c->have_map) {
        char err[512];
        int rc = imp_mapping_build(&c->map, f, lens, n, false, NULL, err, sizeof(err));
        if (rc) {
            CHECK(err[0] != 0);
            return ERR_PARSE;
        }
        c->have_map = true;
        return 0;
    }
    char detail[256];
    c->line.len = 0;
    int r = imp_row_stage(&c->list, &c->map, row_no, f, lens, n, &c->line, detail, sizeof(detail));
    CHECK(r >= 0 && r < IMPORTER_REASON_COUNT);
    check_line(c->line.p, c->line.len);
    return 0;
}

static int on_mp(void *arg, const char *data, size_t len)
{
    struct ctx *c = arg;
    return imp_csv_feed(&c->csv, data, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t piece = (size_t)(data[0] & 0x3F) + 1;
    bool multipart = (data[0] & 0x40) != 0;
    data++;
    size--;
    struct ctx c;
    memset(&c, 0, sizeof(c));
    imp_buf_init(&c.line);
    c.list.tenant_id = 1;
    c.list.list_id = 1;
    CHECK(imp_csv_init(&c.csv, 0, 4096, on_row, &c) == 0);
    struct imp_mp mp;
    int rc = 0;
    if (multipart)
        CHECK(imp_mp_init(&mp, "multipart/form-data; boundary=b", on_mp, &c) == 0);
    for (size_t off = 0; off < size && rc == 0; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        rc = multipart ? imp_mp_feed(&mp, (const char *)data + off, n)
                       : imp_csv_feed(&c.csv, data + off, n);
    }
    if (rc == 0 && multipart)
        rc = imp_mp_finish(&mp);
    if (rc == 0)
        rc = imp_csv_finish(&c.csv);
    if (rc == ERR_PARSE && !c.have_map && !multipart)
        CHECK(c.csv.err[0] != 0 || !c.have_map);
    if (multipart)
        imp_mp_fini(&mp);
    imp_csv_fini(&c.csv);
    if (c.have_map)
        imp_mapping_fini(&c.map);
    imp_buf_fini(&c.line);
    return 0;
}
