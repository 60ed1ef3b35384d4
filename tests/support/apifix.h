/* SPDX-License-Identifier: MIT */
/*
 * Set-up and client shared by the REST API integration tests (test_api,
 * test_api_secrets, test_api_extensions): tenants bootstrapped with cheap
 * password hashing, one-value SQL reads, logins, and requests whose answers
 * are checked against api/openapi.yaml (tests/integration/test_api_util.h).
 * Each test keeps its own table of callers (who) and maps it to an
 * authorisation header. Include after <cmocka.h>.
 */
#ifndef TESTS_SUPPORT_APIFIX_H
#define TESTS_SUPPORT_APIFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tests/unit/core/test_httpd_util.h"

/* The password of every bootstrapped user. */
#define APIFIX_PASSWORD "pass-word-123"

struct apifix_call {
    const char *method;
    const char *pattern; /* the route's pattern in the contract; NULL: not checked */
    const char *path;    /* path and query, after the base URL */
    const char *auth;    /* a whole header ("Authorization: ...", "X-API-Key: ..."), or NULL */
    const char *body;    /* sent as application/json; NULL: none */
    size_t body_len;     /* 0: strlen(body) */
    const char *hdr1;    /* extra headers, or NULL */
    const char *hdr2;
    long unchecked; /* an answer with this status is not checked (413 from the server) */
};

/*
 * Sends c to base and fills r (free it with t_resp_free). 0; -1 if the request
 * did not complete; -2 if the answer breaks the contract (said on stderr,
 * naming the JSON path). Safe from several threads at once.
 */
int apifix_do(const json_t *spec, const char *base, const struct apifix_call *c, struct t_resp *r);

/*
 * apifix_do, then fails the test unless it completed within the contract
 * with status want; the answer's JSON (a new reference, or NULL).
 */
json_t *apifix_json(const json_t *spec, const char *base, const struct apifix_call *c, long want);

/* The one value of a one-row query over conninfo ci (NULL: -1); fails the test otherwise. */
int64_t apifix_sql_int(const char *ci, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bootstraps tenant slug and its admin email (APIFIX_PASSWORD) over conninfo app_ci. */
void apifix_bootstrap(const char *app_ci, const char *slug, const char *email, bool operator);

/*
 * Logs email in (password) at base: auth gets "Authorization: Bearer <token>",
 * refresh (if not NULL) the refresh token. The answer is checked against spec
 * (NULL: not checked). False unless the login answered 200 within the contract.
 */
bool apifix_login(const json_t *spec, const char *base, const char *email, const char *password,
                  char *auth, size_t auth_sz, char *refresh, size_t refresh_sz);

#endif
