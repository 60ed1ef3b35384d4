/* SPDX-License-Identifier: MIT */
/*
 * dialerd: the dialer and IVR server.
 *
 *   dialerd [-c FILE] [run]      serve (the default)
 *   dialerd [-c FILE] migrate    apply database migrations and exit
 *   dialerd [-c FILE] bootstrap --tenant-slug S [--tenant-name N] --email E
 *           [--name N] [--platform-operator]
 *                                create a tenant and its first admin; the
 *                                password comes from DIALERD_BOOTSTRAP_PASSWORD
 *                                or the first line of stdin, never argv
 *   dialerd --help-config        print every configuration option
 *   dialerd --version
 *
 * The configuration file may also be named by DIALERD_CONFIG.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "compliance/compliance.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "server/server.h"

#ifndef DIALER_VERSION
#define DIALER_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fprintf(out, "usage: dialerd [-c FILE] [run|migrate|migrate-status]\n"
                 "       dialerd [-c FILE] bootstrap --tenant-slug SLUG [--tenant-name NAME]\n"
                 "               --email EMAIL [--name NAME] [--platform-operator]\n"
                 "               (password from DIALERD_BOOTSTRAP_PASSWORD or stdin)\n"
                 "       dialerd --help-config | --version\n");
}

/* The password: the environment, else the first line of stdin. Caller wipes and frees. */
static char *bootstrap_password(void)
{
    const char *env = getenv("DIALERD_BOOTSTRAP_PASSWORD");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (env != NULL) {
        return strdup(env);
    }
    n = getline(&line, &cap, stdin);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    return line;
}

static int bootstrap_cmd(const struct server_config *conf, int argc, char **argv)
{
    struct api_bootstrap b = { 0 };
    int i;
    int rc;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--platform-operator") == 0) {
            b.platform_operator = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "dialerd bootstrap: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--tenant-slug") == 0) {
            b.tenant_slug = v;
        } else if (strcmp(a, "--tenant-name") == 0) {
            b.tenant_name = v;
        } else if (strcmp(a, "--email") == 0) {
            b.email = v;
        } else if (strcmp(a, "--name") == 0) {
            b.display_name = v;
        } else {
            fprintf(stderr,
                    "dialerd bootstrap: unknown option %s (the password is never an "
                    "argument: use DIALERD_BOOTSTRAP_PASSWORD or stdin)\n",
                    a);
            return 2;
        }
        i++;
    }
    char *pw = bootstrap_password();
    if (pw == NULL) {
        fprintf(stderr, "dialerd bootstrap: no password (DIALERD_BOOTSTRAP_PASSWORD or stdin)\n");
        return 2;
    }
    b.password = pw;
    b.pwhash_ops = (uint64_t)conf->api_pwhash_ops;
    b.pwhash_mem = (size_t)conf->api_pwhash_mem;
    rc = api_bootstrap_run(conf->db_conninfo, &b, stdout);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    return rc == 0 ? 0 : (rc == ERR_INVAL ? 2 : 1);
}

/*
 * DIALER_TEST_WINDOW_TIME=<RFC 3339 time> (test builds only): calling
 * windows are judged as if the clock had been started at that instant, so the
 * end-to-end tests against ari-sim dial at any hour of the day. A release
 * build (NDEBUG) refuses to start with it set: production always judges
 * calling hours by the real time. 0, or 2 with the reason on stderr.
 */
static int test_window_clock(void)
{
    const char *v = getenv("DIALER_TEST_WINDOW_TIME");
    int64_t at_us;
    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    if (api_parse_time(v, &at_us) != 0) {
        fprintf(stderr, "dialerd: DIALER_TEST_WINDOW_TIME: not an RFC 3339 time\n");
        return 2;
    }
    if (compliance_window_clock_set(at_us - clock_wall_us()) != 0) {
        fprintf(stderr, "dialerd: DIALER_TEST_WINDOW_TIME is honoured by test builds only\n");
        return 2;
    }
    LOG_WARN(SERVER,
             "event=test_window_clock at=%s note=\"calling windows judged at a test "
             "time, not the real one\"",
             v);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "help-config", no_argument, NULL, 'H' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = getenv("DIALERD_CONFIG");
    const char *cmd = "run";
    struct server_config conf;
    struct cfg_error cerr = { { 0 } };
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'H':
            server_config_help(stdout);
            return 0;
        case 'V':
            printf("dialerd %s\n", DIALER_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        cmd = argv[optind];
    }
    rc = server_config_load(&conf, path, &cerr);
    if (rc != 0) {
        fprintf(stderr, "dialerd: configuration error: %s\n", cerr.msg);
        server_config_free(&conf);
        return 2;
    }
    if (log_configure(conf.log_level) != 0) {
        fprintf(stderr, "dialerd: configuration error: log.level: bad value \"%s\"\n",
                conf.log_level);
        server_config_free(&conf);
        return 2;
    }
    /* libcurl's global state is set up once, before any thread starts. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "dialerd: cannot initialise libcurl\n");
        server_config_free(&conf);
        return 1;
    }
    if (test_window_clock() != 0) {
        server_config_free(&conf);
        curl_global_cleanup();
        return 2;
    }
    if (strcmp(cmd, "run") == 0) {
        rc = server_run(&conf);
    } else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "migrate-status") == 0) {
        rc = server_migrate_cmd(&conf, strcmp(cmd, "migrate-status") == 0);
    } else if (strcmp(cmd, "bootstrap") == 0) {
        rc = bootstrap_cmd(&conf, argc - optind - 1, argv + optind + 1);
    } else {
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    server_config_free(&conf);
    return rc;
}
