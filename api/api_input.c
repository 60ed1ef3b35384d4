/* SPDX-License-Identifier: MIT */
/*
 * api/input: request input helpers -- JSON body validation, query
 * parameter checks, cursor pagination, If-Match and path ids. Each helper
 * answers a bad input itself (4xx naming the field) and returns ERR_INVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "core/arena.h"
#include "core/err.h"

static size_t utf8_len(const char *s, size_t bytes)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < bytes; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

static bool email_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    size_t i;

    if (at == NULL || at == s || at == s + len - 1 || len > 254) {
        return false;
    }
    if (memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL) {
        return false;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool slug_ok(const char *s, size_t len)
{
    size_t i;

    if (len < 2 || len > 63) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int field_fail(struct api_field_error *err, const char *code, const char *name,
                      const char *what, const char *detail)
{
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->field, sizeof(err->field), "$.%s", name);
    snprintf(err->message, sizeof(err->message), "$.%s %s%s", name, what, detail);
    return ERR_INVAL;
}

static int check_one(const json_t *v, const struct api_field *f, struct api_field_error *err)
{
    const char *s;
    size_t len;
    size_t i;
    char buf[64];

    if (json_is_null(v)) {
        return f->nullable ? 0 : field_fail(err, "invalid_field", f->name, "must not be null", "");
    }
    switch (f->type) {
    case API_F_INT:
        if (!json_is_integer(v)) {
            return field_fail(err, "invalid_field", f->name, "must be an integer", "");
        }
        if ((f->min != 0 || f->max != 0) &&
            (json_integer_value(v) < f->min || json_integer_value(v) > f->max)) {
            snprintf(buf, sizeof(buf), " %" PRId64 "..%" PRId64, f->min, f->max);
            return field_fail(err, "invalid_field", f->name, "must be in", buf);
        }
        return 0;
    case API_F_BOOL:
        return json_is_boolean(v)
                   ? 0
                   : field_fail(err, "invalid_field", f->name, "must be true or false", "");
    case API_F_OBJECT:
        if (!json_is_object(v)) {
            return field_fail(err, "invalid_field", f->name, "must be an object", "");
        }
        if (f->max > 0) {
            size_t sz = json_dumpb(v, NULL, 0, JSON_COMPACT);
            if (sz > (size_t)f->max) {
                snprintf(buf, sizeof(buf), " %" PRId64 " bytes", f->max);
                return field_fail(err, "invalid_field", f->name, "is larger than", buf);
            }
        }
        return 0;
    default:
        break;
    }
    if (!json_is_string(v)) {
        return field_fail(err, "invalid_field", f->name, "must be a string", "");
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (memchr(s, '\0', len) != NULL) {
        return field_fail(err, "invalid_field", f->name, "must not contain NUL", "");
    }
    switch (f->type) {
    case API_F_EMAIL:
        return email_ok(s, len)
                   ? 0
                   : field_fail(err, "invalid_field", f->name, "must be an e-mail address", "");
    case API_F_SLUG:
        return slug_ok(s, len) ? 0
                               : field_fail(err, "invalid_field", f->name,
                                            "must be 2-63 of a-z, 0-9 and '-'", "");
    case API_F_ENUM:
        for (i = 0; f->values != NULL && f->values[i] != NULL; i++) {
            if (strcmp(f->values[i], s) == 0) {
                return 0;
            }
        }
        return field_fail(err, "invalid_field", f->name, "is not one of the allowed values", "");
    default:
        break;
    }
    if (f->min != 0 || f->max != 0) {
        size_t n = utf8_len(s, len);
        if ((int64_t)n < f->min || (int64_t)n > f->max) {
            snprintf(buf, sizeof(buf), " %" PRId64 "..%" PRId64 " characters", f->min, f->max);
            return field_fail(err, "invalid_field", f->name, "must be", buf);
        }
    }
    return 0;
}

int api_json_check(const json_t *obj, const struct api_field *fields, size_t n,
                   struct api_field_error *err)
{
    const char *k;
    json_t *v;
    size_t i;
    int rc;

    memset(err, 0, sizeof(*err));
    if (!json_is_object(obj)) {
        snprintf(err->code, sizeof(err->code), "invalid_body");
        snprintf(err->field, sizeof(err->field), "$");
        snprintf(err->message, sizeof(err->message), "the body must be a JSON object");
        return ERR_INVAL;
    }
    json_object_foreach ((json_t *)obj, k, v) {
        for (i = 0; i < n; i++) {
            if (strcmp(fields[i].name, k) == 0) {
                break;
            }
        }
        if (i == n) {
            char name[64];
            snprintf(name, sizeof(name), "%s", k);
            return field_fail(err, "unknown_field", name, "is not a known field", "");
        }
    }
    for (i = 0; i < n; i++) {
        v = json_object_get(obj, fields[i].name);
        if (v == NULL) {
            if (fields[i].required) {
                return field_fail(err, "missing_field", fields[i].name, "is required", "");
            }
            continue;
        }
        rc = check_one(v, &fields[i], err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int api_body_validate(struct api_ctx *ctx, const struct api_field *fields, size_t n, json_t **body)
{
    struct api_field_error e;
    json_t *j = httpd_req_json(ctx->req);
    size_t len = 0;

    httpd_req_body(ctx->req, &len);
    *body = NULL;
    if (j == NULL) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_body",
                  len == 0 ? "a JSON body is required" : "the body must be JSON (application/json)",
                  "$");
        return ERR_INVAL;
    }
    if (api_json_check(j, fields, n, &e) != 0) {
        api_error(ctx,
                  strcmp(e.code, "invalid_body") == 0 ? HTTPD_STATUS_BAD_REQUEST
                                                      : HTTPD_STATUS_UNPROCESSABLE,
                  e.code, e.message, e.field);
        return ERR_INVAL;
    }
    *body = j;
    return 0;
}

int api_query_allow(struct api_ctx *ctx, const char *const *allowed)
{
    size_t n = httpd_req_query_count(ctx->req);
    size_t i, j;
    const char *name;
    const char *value;

    for (i = 0; i < n; i++) {
        if (httpd_req_query_at(ctx->req, i, &name, &value) != 0) {
            continue;
        }
        for (j = 0; allowed != NULL && allowed[j] != NULL; j++) {
            if (strcmp(allowed[j], name) == 0) {
                break;
            }
        }
        if (allowed == NULL || allowed[j] == NULL) {
            char *msg = api_ctx_printf(ctx, "unknown query parameter \"%.64s\"", name);
            char *field = api_ctx_printf(ctx, "?%.64s", name);
            api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "unknown_parameter", msg, field);
            return ERR_INVAL;
        }
    }
    return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0' || *s == '+' || *s == ' ') {
        return ERR_PARSE;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return ERR_PARSE;
    }
    *out = v;
    return 0;
}

char *api_cursor_make(struct api_ctx *ctx, int64_t id)
{
    char raw[32];
    char *out = arena_alloc(httpd_req_arena(ctx->req), 64);
    int n = snprintf(raw, sizeof(raw), "c1:%" PRId64, id);

    if (out == NULL || n <= 0) {
        return NULL;
    }
    sodium_bin2base64(out, 64, (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

int api_cursor_decode(const char *cursor, int64_t *id)
{
    unsigned char raw[40];
    size_t len = 0;
    char text[41];

    if (cursor == NULL || strlen(cursor) > 52 ||
        sodium_base642bin(raw, sizeof(raw) - 1, cursor, strlen(cursor), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        return ERR_PARSE;
    }
    memcpy(text, raw, len);
    text[len] = '\0';
    if (strncmp(text, "c1:", 3) != 0 || parse_i64(text + 3, id) != 0 || *id <= 0) {
        return ERR_PARSE;
    }
    return 0;
}

int api_page_parse(struct api_ctx *ctx, int64_t def_limit, int64_t max_limit, int64_t *limit,
                   int64_t *after)
{
    const char *l = httpd_req_query(ctx->req, "limit");
    const char *c = httpd_req_query(ctx->req, "cursor");

    *limit = def_limit;
    *after = 0;
    if (l != NULL && (parse_i64(l, limit) != 0 || *limit < 1 || *limit > max_limit)) {
        char *msg = api_ctx_printf(ctx, "limit must be an integer from 1 to %" PRId64, max_limit);
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter", msg, "?limit");
        return ERR_INVAL;
    }
    if (c != NULL && api_cursor_decode(c, after) != 0) {
        api_error(ctx, HTTPD_STATUS_BAD_REQUEST, "invalid_parameter",
                  "cursor is not one this API returned", "?cursor");
        return ERR_INVAL;
    }
    return 0;
}

int api__etag_version(const char *h, int64_t *version)
{
    char buf[32];
    size_t n;

    while (*h == ' ') {
        h++;
    }
    if (strncmp(h, "W/", 2) == 0) {
        h += 2;
    }
    n = strlen(h);
    while (n > 0 && h[n - 1] == ' ') {
        n--;
    }
    if (n < 3 || h[0] != '"' || h[n - 1] != '"' || n - 2 >= sizeof(buf)) {
        return ERR_PARSE;
    }
    memcpy(buf, h + 1, n - 2);
    buf[n - 2] = '\0';
    return parse_i64(buf, version) == 0 && *version >= 0 ? 0 : ERR_PARSE;
}

int api_if_match(struct api_ctx *ctx, int64_t *version)
{
    const char *h = httpd_req_header(ctx->req, "If-Match");

    *version = -1;
    if (h == NULL) {
        return 0;
    }
    if (api__etag_version(h, version) != 0) {
        api_error(ctx, 412, "precondition_failed", "If-Match must be one ETag this API returned",
                  "If-Match");
        return ERR_INVAL;
    }
    return 0;
}

int api_path_id(struct api_ctx *ctx, const char *name, int64_t *id)
{
    const char *s = httpd_req_param(ctx->req, name);

    if (s == NULL || parse_i64(s, id) != 0 || *id <= 0 || s[0] == '0') {
        api_error(ctx, HTTPD_STATUS_NOT_FOUND, "not_found", "no such object", NULL);
        return ERR_INVAL;
    }
    return 0;
}

int api_parse_time(const char *s, int64_t *us)
{
    struct tm tm;
    char *end;
    int off = 0;

    if (s == NULL || us == NULL) {
        return ERR_INVAL;
    }
    if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 12) {
        *us = (int64_t)strtoll(s, NULL, 10) * 1000000;
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        return ERR_PARSE;
    }
    if (*end == '.') {
        end += 1 + strspn(end + 1, "0123456789"); /* fractions ignored */
    }
    if (strcmp(end, "Z") == 0 || strcmp(end, "z") == 0) {
        off = 0;
    } else if ((end[0] == '+' || end[0] == '-') && strlen(end) == 6 && end[3] == ':' &&
               strspn(end + 1, "0123456789") == 2 && strspn(end + 4, "0123456789") == 2) {
        off = (((end[1] - '0') * 10 + (end[2] - '0')) * 60 + (end[4] - '0') * 10 + (end[5] - '0')) *
              (end[0] == '-' ? -1 : 1);
        if (off > 18 * 60 || off < -18 * 60) {
            return ERR_PARSE;
        }
    } else {
        return ERR_PARSE;
    }
    *us = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000000;
    return 0;
}
