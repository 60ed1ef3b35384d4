/* SPDX-License-Identifier: MIT */
/*
 * ari-sim: the ARI simulator program.
 *
 *   ari-sim [--name value | --name=value ...]
 *
 * Options come from one table (below), which also drives --help and the
 * ARI_SIM_* environment variables (ARI_SIM_PORT=8090). Signals: SIGINT and
 * SIGTERM stop cleanly, SIGUSR1 drops every events WebSocket, SIGUSR2
 * simulates an Asterisk restart (every channel forgotten).
 */
#include <ev.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/err.h"
#include "core/log.h"
#include "sim/sim.h"

struct main_conf {
    char *bind;
    int64_t port;
    char *port_file;
    char *user;
    char *password;
    char *api_docs;
    char *scenario;
    char *dialplan;
    char *originate_log;
    int64_t seed;
    char *time_scale;
    char *system_name;
    char *asterisk_id;
    char *version;
    char *channelvars;
    int64_t body_limit;
    char *log_level;
};

/* clang-format off */
static const struct cfg_option options[] = {
    { "bind", CFG_STR, offsetof(struct main_conf, bind), "127.0.0.1", 0, 255, 0,
      "address to listen on" },
    { "port", CFG_INT, offsetof(struct main_conf, port), "8088", 0, 65535, 0,
      "TCP port (0 picks a free one; see port-file)" },
    { "port-file", CFG_STR, offsetof(struct main_conf, port_file), NULL, 0, 4096, 0,
      "write the bound port to this file once listening" },
    { "user", CFG_STR, offsetof(struct main_conf, user), "asterisk", 0, 255, 0,
      "ARI user name" },
    { "password", CFG_STR, offsetof(struct main_conf, password), "asterisk", 0, 255, CFG_SECRET,
      "ARI password" },
    { "api-docs", CFG_STR, offsetof(struct main_conf, api_docs), NULL, 0, 4096, 0,
      "directory of the ARI swagger files (default: ../shared/ari/api-docs, searched)" },
    { "scenario", CFG_STR, offsetof(struct main_conf, scenario), NULL, 0, 4096, 0,
      "scenario JSON file (default: built-in mix)" },
    { "dialplan", CFG_STR, offsetof(struct main_conf, dialplan), NULL, 0, 4096, 0,
      "extensions.conf subset (default: sim/scenarios/extensions.conf, searched; 'none')" },
    { "originate-log", CFG_STR, offsetof(struct main_conf, originate_log), NULL, 0, 4096, 0,
      "append one JSON line per originate and per end of call to this file" },
    { "seed", CFG_INT, offsetof(struct main_conf, seed), "-1", -1, INT64_MAX, 0,
      "outcome seed (-1: the scenario's)" },
    { "time-scale", CFG_STR, offsetof(struct main_conf, time_scale), "1", 0, 32, 0,
      "multiplier for every simulated delay (0.1 runs 10x faster)" },
    { "system-name", CFG_STR, offsetof(struct main_conf, system_name), NULL, 0, 64, 0,
      "prefix of generated channel ids, as Asterisk's systemname" },
    { "asterisk-id", CFG_STR, offsetof(struct main_conf, asterisk_id), "02:fc:00:00:00:01", 0,
      64, 0, "entity id reported in events" },
    { "version", CFG_STR, offsetof(struct main_conf, version), "22.10.1", 0, 64, 0,
      "Asterisk version reported" },
    { "channelvars", CFG_STR, offsetof(struct main_conf, channelvars), NULL, 0, 1024, 0,
      "comma list of variables added to every Channel snapshot (ari.conf channelvars)" },
    { "body-limit", CFG_SIZE, offsetof(struct main_conf, body_limit), "40960", 1024,
      64 * 1024 * 1024, 0, "request body limit in bytes (larger: 413)" },
    { "log-level", CFG_STR, offsetof(struct main_conf, log_level), "info", 0, 255, 0,
      "log level spec: err|warn|notice|info|debug[,cat=level]" },
};
/* clang-format on */

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static struct sim *g_sim;

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    LOG_NOTICE(SIM, "event=stopping");
    ev_break(loop, EVBREAK_ALL);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sim_fault_drop_websockets(g_sim);
}

static void on_usr2(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sim_fault_restart(g_sim, 0);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ari-sim [--option value ...]\n\n");
    cfg_print_help(options, NOPTIONS, "ARI_SIM_", out);
}

static int parse_args(int argc, char **argv, struct main_conf *conf)
{
    struct cfg_error err;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        char name[128];
        const char *value;
        const char *eq;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "ari-sim: unexpected argument %s\n", arg);
            return -1;
        }
        arg += 2;
        eq = strchr(arg, '=');
        if (eq != NULL) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
            value = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "ari-sim: --%s needs a value\n", arg);
                return -1;
            }
            snprintf(name, sizeof(name), "%s", arg);
            value = argv[++i];
        }
        if (cfg_set(options, NOPTIONS, conf, name, value, "command line", &err) < 0) {
            fprintf(stderr, "ari-sim: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct main_conf conf;
    struct cfg_error err;
    struct sim_options o;
    struct ev_loop *loop;
    ev_signal s_int, s_term, s_usr1, s_usr2;
    struct sigaction sa;
    int rc;

    memset(&conf, 0, sizeof(conf));
    if (cfg_defaults(options, NOPTIONS, &conf, &err) < 0 ||
        cfg_load_env(options, NOPTIONS, &conf, "ARI_SIM_", NULL, &err) < 0) {
        fprintf(stderr, "ari-sim: %s\n", err.msg);
        return 2;
    }
    if (parse_args(argc, argv, &conf) < 0) {
        usage(stderr);
        cfg_free(options, NOPTIONS, &conf);
        return 2;
    }
    if (log_configure(conf.log_level) < 0) {
        fprintf(stderr, "ari-sim: bad --log-level %s\n", conf.log_level);
        cfg_free(options, NOPTIONS, &conf);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    sim_options_default(&o);
    o.bind = conf.bind;
    o.port = conf.port;
    o.user = conf.user;
    o.password = conf.password;
    o.api_docs = conf.api_docs;
    o.scenario = conf.scenario;
    if (conf.dialplan == NULL || conf.dialplan[0] == '\0') {
        o.dialplan = NULL; /* search for the default */
    } else if (strcmp(conf.dialplan, "none") == 0) {
        o.dialplan = "";
    } else {
        o.dialplan = conf.dialplan;
    }
    o.originate_log = conf.originate_log;
    o.seed = conf.seed;
    o.time_scale = conf.time_scale ? strtod(conf.time_scale, NULL) : 1.0;
    o.system_name = conf.system_name ? conf.system_name : "";
    o.asterisk_id = conf.asterisk_id;
    o.version = conf.version;
    o.channelvars = conf.channelvars;
    o.body_limit = conf.body_limit;
    if (o.time_scale <= 0) {
        fprintf(stderr, "ari-sim: --time-scale must be > 0\n");
        cfg_free(options, NOPTIONS, &conf);
        return 2;
    }

    loop = ev_default_loop(EVFLAG_AUTO);
    rc = sim_create(loop, &o, &g_sim);
    if (rc < 0) {
        fprintf(stderr, "ari-sim: cannot start: %s\n", err_str(rc));
        cfg_free(options, NOPTIONS, &conf);
        return 1;
    }
    if (conf.port_file != NULL && conf.port_file[0] != '\0') {
        char tmp[4200];
        FILE *f;
        snprintf(tmp, sizeof(tmp), "%s.tmp", conf.port_file);
        f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", sim_port(g_sim)) < 0 || fclose(f) != 0 ||
            rename(tmp, conf.port_file) != 0) {
            fprintf(stderr, "ari-sim: cannot write %s\n", conf.port_file);
        }
    }
    ev_signal_init(&s_int, on_stop, SIGINT);
    ev_signal_init(&s_term, on_stop, SIGTERM);
    ev_signal_init(&s_usr1, on_usr1, SIGUSR1);
    ev_signal_init(&s_usr2, on_usr2, SIGUSR2);
    ev_signal_start(loop, &s_int);
    ev_signal_start(loop, &s_term);
    ev_signal_start(loop, &s_usr1);
    ev_signal_start(loop, &s_usr2);
    /* Unreferenced so they do not keep the loop alive on their own. */
    ev_unref(loop);
    ev_unref(loop);
    ev_unref(loop);
    ev_unref(loop);

    ev_run(loop, 0);

    ev_ref(loop);
    ev_ref(loop);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &s_int);
    ev_signal_stop(loop, &s_term);
    ev_signal_stop(loop, &s_usr1);
    ev_signal_stop(loop, &s_usr2);
    sim_destroy(g_sim);
    ev_loop_destroy(loop);
    cfg_free(options, NOPTIONS, &conf);
    LOG_NOTICE(SIM, "event=stopped");
    return 0;
}
