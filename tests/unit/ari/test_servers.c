/* SPDX-License-Identifier: MIT */
/*
 * The Asterisk server list of dialerd's configuration: ari.url alone,
 * ari.servers, per-server credentials from a file, and the errors that name
 * the key (and line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ari/ari.h"
#include "core/err.h"

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/ari-creds-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_servers_single_url(void **state)
{
    struct ari_server_list l;
    struct ari_server_list_spec spec = { .url = "http://127.0.0.1:8088",
                                         .user = "dialer",
                                         .password = "pw" };
    char err[256];
    (void)state;

    assert_int_equal(ari_server_list_parse(&l, &spec, err, sizeof(err)), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.servers[0].name, "default");
    assert_string_equal(l.servers[0].url, "http://127.0.0.1:8088");
    assert_string_equal(l.servers[0].user, "dialer");
    assert_string_equal(l.servers[0].password, "pw");
    ari_server_list_free(&l);
    assert_int_equal(l.n, 0);
}

static void test_servers_list_with_credentials(void **state)
{
    char *path = write_file("# per-server ARI users\n"
                            "\n"
                            "b  dialer-b  s3cret-b\n"
                            "   # indented comment\n");
    struct ari_server_list l;
    struct ari_server_list_spec spec = {
        .servers = " a = http://10.0.0.1:8088 ,b=http://10.0.0.2:8088/asterisk",
        .url = "http://ignored:1",
        .user = "dialer",
        .password = "pw",
        .credentials_file = path,
    };
    char err[256];
    (void)state;

    assert_int_equal(ari_server_list_parse(&l, &spec, err, sizeof(err)), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.servers[0].name, "a");
    assert_string_equal(l.servers[0].url, "http://10.0.0.1:8088");
    assert_string_equal(l.servers[0].user, "dialer");
    assert_string_equal(l.servers[0].password, "pw");
    assert_string_equal(l.servers[1].name, "b");
    assert_string_equal(l.servers[1].url, "http://10.0.0.2:8088/asterisk");
    assert_string_equal(l.servers[1].user, "dialer-b");
    assert_string_equal(l.servers[1].password, "s3cret-b");
    ari_server_list_free(&l);
    unlink(path);
    free(path);
}

static void test_servers_errors_name_the_key(void **state)
{
    static const struct {
        const char *servers, *url, *creds, *want;
    } cases[] = {
        { "a=http://h:1,a=http://h:2", NULL, NULL, "ari.servers: server \"a\" listed twice" },
        { "a http://h:1", NULL, NULL, "is not name=url" },
        { "bad name=http://h:1", NULL, NULL, "bad server name" },
        { "a=https://h:1", NULL, NULL, "URL must start with http://" },
        { "=http://h:1", NULL, NULL, "bad server name" },
        { ",", NULL, NULL, "is not name=url" },
        { NULL, "ftp://h", NULL, "ari.url: must start with http://" },
        { NULL, NULL, NULL, "ari.url: no Asterisk server configured" },
        { "a=http://h:1", NULL, "a onlyuser\n", "line 1: expected \"name user password\"" },
        { "a=http://h:1", NULL, "a u p\nzz u p\n", "line 2: no server named \"zz\"" },
        { "a=http://h:1", NULL, "", "cannot open" },
    };

    char err[256];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ari_server_list l;
        char *path = NULL;
        struct ari_server_list_spec spec = {
            .servers = cases[i].servers, .url = cases[i].url, .user = "u", .password = "p"
        };
        if (cases[i].creds != NULL && cases[i].creds[0] != '\0') {
            path = write_file(cases[i].creds);
            spec.credentials_file = path;
        } else if (cases[i].creds != NULL) {
            spec.credentials_file = "/nonexistent/ari-creds";
        }
        assert_true(ari_server_list_parse(&l, &spec, err, sizeof(err)) < 0);
        if (strstr(err, cases[i].want) == NULL) {
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
        }
        assert_int_equal(l.n, 0);
        assert_null(l.servers);
        if (path != NULL) {
            unlink(path);
            free(path);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_servers_single_url),
        cmocka_unit_test(test_servers_list_with_credentials),
        cmocka_unit_test(test_servers_errors_name_the_key),
    };
    return cmocka_run_group_tests_name("ari_servers", tests, NULL, NULL);
}
