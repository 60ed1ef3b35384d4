/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for api/api_auth.c: signing-key configuration, JWT issue and
 * verification (expiry, tampering, alg none, unknown kid, key rotation)
 * and the verified-credential cache (bounded by its lifetime and by the
 * token's expiry). No database: api_create does not connect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/api_int.h"
#include "core/err.h"
#include "core/log.h"

#define SECRET_OLD "old-secret-0123456789abcdef0123456789"
#define SECRET_NEW "new-secret-0123456789abcdef0123456789"

static struct api *make(const char *keys, int64_t cache_s)
{
    struct api_config c = { .jwt_keys = keys,
                            .pwhash_ops = 1,
                            .pwhash_mem = 8192,
                            .hash_threads = 1,
                            .auth_cache_s = cache_s };
    struct api *a = NULL;
    return api_create(&c, &a) == 0 ? a : NULL;
}

static const struct api_principal user = {
    .kind = API_PRINCIPAL_USER,
    .id = 42,
    .tenant_id = 7,
    .role = API_ROLE_EDITOR,
};

static void test_auth_key_config_refused(void **state)
{
    struct api *a;
    (void)state;

    log_set_level(LOG_LEVEL_ERR - 1); /* the refusals log errors by design */
    assert_null(make("k1=short", 0));
    assert_null(make("k1", 0));
    assert_null(make("=" SECRET_OLD, 0));
    assert_null(make("k 1=" SECRET_OLD, 0));
    assert_null(make("k1=" SECRET_OLD ",k1=" SECRET_NEW, 0));
    log_set_level(LOG_LEVEL_NOTICE);
    a = make("k2=" SECRET_NEW ",k1=" SECRET_OLD, 0);
    assert_non_null(a);
    assert_int_equal(a->n_keys, 2);
    assert_string_equal(a->keys[0].kid, "k2");
    api_destroy(a);
}

static void test_auth_key_file(void **state)
{
    char path[] = "/tmp/api-keys-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    struct api_config c = { .jwt_keys = "env=" SECRET_NEW,
                            .jwt_keys_file = path,
                            .pwhash_ops = 1,
                            .pwhash_mem = 8192,
                            .hash_threads = 1 };
    struct api *a = NULL;
    (void)state;

    assert_non_null(f);
    fprintf(f, "# rotated 2026-11\n\nfile1=%s\n  file2=%s  \r\n", SECRET_OLD, SECRET_NEW);
    fclose(f);
    assert_int_equal(api_create(&c, &a), 0);
    assert_int_equal(a->n_keys, 3);
    assert_string_equal(a->keys[0].kid, "env"); /* the environment's first key signs */
    assert_string_equal(a->keys[1].kid, "file1");
    assert_string_equal(a->keys[2].kid, "file2");
    assert_int_equal(a->keys[2].len, strlen(SECRET_NEW));
    api_destroy(a);
    /* A missing file or a bad line is refused. */
    log_set_level(LOG_LEVEL_ERR - 1);
    c.jwt_keys_file = "/nonexistent/keys";
    assert_int_not_equal(api_create(&c, &a), 0);
    f = fopen(path, "w");
    fprintf(f, "no-equals-sign-here\n");
    fclose(f);
    c.jwt_keys_file = path;
    assert_int_not_equal(api_create(&c, &a), 0);
    log_set_level(LOG_LEVEL_NOTICE);
    unlink(path);
}

static void test_auth_jwt_round_trip_and_expiry(void **state)
{
    struct api *a = make("k1=" SECRET_OLD, 0);
    struct api_principal p;
    char *t;
    (void)state;

    t = api__jwt_issue(a, &user, 1000000);
    assert_non_null(t);
    assert_int_equal(api__jwt_verify(a, t, 1000000, &p), 0);
    assert_int_equal(p.id, 42);
    assert_int_equal(p.tenant_id, 7);
    assert_int_equal(p.role, API_ROLE_EDITOR);
    assert_false(p.platform_operator);
    assert_int_equal(p.expires_us, (1000000 + 900) * INT64_C(1000000));
    /* Valid up to exp, not at it. */
    assert_int_equal(api__jwt_verify(a, t, 1000000 + 899, &p), 0);
    assert_int_equal(api__jwt_verify(a, t, 1000000 + 900, &p), ERR_AUTH);
    /* Issued in the future (beyond a minute of skew). */
    assert_int_equal(api__jwt_verify(a, t, 1000000 - 120, &p), ERR_AUTH);
    free(t);
    api_destroy(a);
}

static void test_auth_jwt_tampered_and_alg_none(void **state)
{
    struct api *a = make("k1=" SECRET_OLD, 0);
    struct api_principal p;
    char *t = api__jwt_issue(a, &user, 1000000);
    char *dot;
    char forged[1024];
    (void)state;

    t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(api__jwt_verify(a, t, 1000000, &p), ERR_AUTH);
    /* alg none with the same claims and no signature. */
    dot = strchr(t, '.');
    snprintf(forged, sizeof(forged), "eyJhbGciOiJub25lIiwia2lkIjoiazEiLCJ0eXAiOiJKV1QifQ%.*s.",
             (int)(strrchr(t, '.') - dot), dot);
    assert_int_equal(api__jwt_verify(a, forged, 1000000, &p), ERR_AUTH);
    assert_int_equal(p.id, 0);
    assert_int_equal(api__jwt_verify(a, "", 1000000, &p), ERR_AUTH);
    assert_int_equal(api__jwt_verify(a, "a.b.c", 1000000, &p), ERR_AUTH);
    free(t);
    api_destroy(a);
}

static void test_auth_key_rotation(void **state)
{
    struct api *old = make("k1=" SECRET_OLD, 0);
    struct api *both = make("k2=" SECRET_NEW ",k1=" SECRET_OLD, 0);
    struct api *fresh = make("k2=" SECRET_NEW, 0);
    struct api *liar = make("k1=" SECRET_NEW, 0); /* same kid, other secret */
    struct api_principal p;
    char *t_old = api__jwt_issue(old, &user, 1000000);
    char *t_new = api__jwt_issue(both, &user, 1000000);
    (void)state;

    /* During rotation both verify; the new key signs. */
    assert_int_equal(api__jwt_verify(both, t_old, 1000000, &p), 0);
    assert_int_equal(api__jwt_verify(both, t_new, 1000000, &p), 0);
    assert_int_equal(api__jwt_verify(fresh, t_new, 1000000, &p), 0);
    /* Old nodes do not know the new kid; after rotation the old kid is gone. */
    assert_int_equal(api__jwt_verify(old, t_new, 1000000, &p), ERR_AUTH);
    assert_int_equal(api__jwt_verify(fresh, t_old, 1000000, &p), ERR_AUTH);
    assert_int_equal(api__jwt_verify(liar, t_old, 1000000, &p), ERR_AUTH);
    free(t_old);
    free(t_new);
    api_destroy(old);
    api_destroy(both);
    api_destroy(fresh);
    api_destroy(liar);
}

static void test_auth_cache_bounds(void **state)
{
    struct api *a = make("k1=" SECRET_OLD, 30);
    struct api *off = make("k1=" SECRET_OLD, -1);
    struct api_principal p = user;
    const int64_t now = INT64_C(1000000) * 1000000;
    const struct api_principal *got;
    (void)state;

    p.expires_us = now + 10 * INT64_C(1000000);
    api__cache_put(a, "token-a", &p, now);
    got = api__cache_get(a, "token-a", now + 1);
    assert_non_null(got);
    assert_int_equal(got->id, 42);
    assert_null(api__cache_get(a, "token-b", now + 1));
    /* The token's own expiry (10 s) comes before the cache lifetime (30 s). */
    assert_null(api__cache_get(a, "token-a", now + 10 * INT64_C(1000000)));
    p.expires_us = 0;
    api__cache_put(a, "key-x", &p, now);
    assert_non_null(api__cache_get(a, "key-x", now + 29 * INT64_C(1000000)));
    assert_null(api__cache_get(a, "key-x", now + 30 * INT64_C(1000000)));
    api__cache_put(a, "key-y", &p, now);
    api__cache_clear(a);
    assert_null(api__cache_get(a, "key-y", now + 1));
    /* Disabled cache stores nothing. */
    api__cache_put(off, "token-a", &p, now);
    assert_null(api__cache_get(off, "token-a", now + 1));
    api_destroy(a);
    api_destroy(off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_key_config_refused),
        cmocka_unit_test(test_auth_key_file),
        cmocka_unit_test(test_auth_jwt_round_trip_and_expiry),
        cmocka_unit_test(test_auth_jwt_tampered_and_alg_none),
        cmocka_unit_test(test_auth_key_rotation),
        cmocka_unit_test(test_auth_cache_bounds),
    };
    return cmocka_run_group_tests_name("api_auth", tests, NULL, NULL);
}
