/* SPDX-License-Identifier: MIT */
/*
 * dialerd: the dialer and IVR server.
 *
 *   dialerd [-c FILE] [run]      serve (the default)
 *   dialerd [-c FILE] migrate    apply database migrations and exit
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

#include "core/err.h"
#include "core/log.h"
#include "server/server.h"

#ifndef DIALER_VERSION
#define DIALER_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fprintf(out, "usage: dialerd [-c FILE] [run|migrate|migrate-status]\n"
                 "       dialerd --help-config | --version\n");
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

    while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
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
    if (strcmp(cmd, "run") == 0) {
        rc = server_run(&conf);
    } else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "migrate-status") == 0) {
        rc = server_migrate_cmd(&conf, strcmp(cmd, "migrate-status") == 0);
    } else {
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    server_config_free(&conf);
    return rc;
}
