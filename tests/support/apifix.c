/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "tests/integration/test_api_util.h"
#include "tests/integration/test_schema_util.h"
#include "tests/support/apifix.h"

int apifix_do(const json_t *spec, const char *base, const struct apifix_call *c, struct t_resp *r)
{
    char url[2048], err[512];
    const char *hdrs[6];
    int n = 0;
    struct t_req rq = { .method = c->method, .body = c->body, .body_len = c->body_len };

    snprintf(url, sizeof(url), "%s%s", base, c->path);
    if (c->auth != NULL && c->auth[0] != '\0') {
        hdrs[n++] = c->auth;
    }
    if (c->body != NULL) {
        hdrs[n++] = "Content-Type: application/json";
    }
    if (c->hdr1 != NULL) {
        hdrs[n++] = c->hdr1;
    }
    if (c->hdr2 != NULL) {
        hdrs[n++] = c->hdr2;
    }
    hdrs[n] = NULL;
    rq.hdrs = hdrs;
    memset(r, 0, sizeof(*r));
    if (t_http(url, &rq, r) != CURLE_OK) {
        return -1;
    }
    if (c->pattern != NULL && (c->unchecked == 0 || r->status != c->unchecked) &&
        !tapi_check_response(spec, c->method, c->pattern, r->status, r->body.data, r->body.len, err,
                             sizeof(err))) {
        fprintf(stderr, "contract: %s (%s %s -> %ld: %.300s)\n", err, c->method, c->path, r->status,
                r->body.data != NULL ? r->body.data : "");
        return -2;
    }
    return 0;
}

json_t *apifix_json(const json_t *spec, const char *base, const struct apifix_call *c, long want)
{
    struct t_resp r;
    json_t *j;
    int rc = apifix_do(spec, base, c, &r);

    if (rc != 0 || r.status != want) {
        if (rc != -2) {
            fprintf(stderr, "%s %s: want %ld, got %ld: %s\n", c->method, c->path, want,
                    rc == 0 ? r.status : -1L, r.body.data != NULL ? r.body.data : "");
        }
        t_resp_free(&r);
        fail();
    }
    j = json_incref(r.json);
    t_resp_free(&r);
    return j;
}

int64_t apifix_sql_int(const char *ci, const char *fmt, ...)
{
    PGconn *c = tdb_connect(ci);
    va_list ap;
    PGresult *r;
    int64_t v;

    va_start(ap, fmt);
    r = tdb_vquery(c, fmt, ap);
    va_end(ap);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "sql_int: %s\n", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        fail();
    }
    v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

void apifix_bootstrap(const char *app_ci, const char *slug, const char *email, bool operator)
{
    struct api_bootstrap b = { .tenant_slug = slug,
                               .email = email,
                               .password = APIFIX_PASSWORD,
                               .platform_operator = operator,
                               .pwhash_ops = 1,
                               .pwhash_mem = 8192 };
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    assert_int_equal(api_bootstrap_run(app_ci, &b, devnull), 0);
    fclose(devnull);
}

bool apifix_login(const json_t *spec, const char *base, const char *email, const char *password,
                  char *auth, size_t auth_sz, char *refresh, size_t refresh_sz)
{
    char body[512];
    struct apifix_call c = { .method = "POST",
                             .pattern = spec != NULL ? "/api/v1/auth/login" : NULL,
                             .path = "/api/v1/auth/login",
                             .body = body };
    struct t_resp r;
    bool ok;

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    ok = apifix_do(spec, base, &c, &r) == 0 && r.status == 200 &&
         json_is_string(json_object_get(r.json, "access_token"));
    if (ok) {
        snprintf(auth, auth_sz, "Authorization: Bearer %s",
                 json_string_value(json_object_get(r.json, "access_token")));
        if (refresh != NULL) {
            snprintf(refresh, refresh_sz, "%s",
                     json_string_value(json_object_get(r.json, "refresh_token")));
        }
    }
    t_resp_free(&r);
    return ok;
}
