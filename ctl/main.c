/* SPDX-License-Identifier: MIT */
/*
 * dialerctl: the operators' command-line tool. Commands are a table of
 * (group, verb, handler, usage); each handler gets the remaining
 * arguments. Exit status: 0 success, 1 the input is invalid (the findings
 * are printed), 2 usage error or unreadable file.
 *
 *   dialerctl flow validate FLOW.json [--publish] [--json]
 *   dialerctl flow simulate FLOW.json (--script "..." | --script-file F) [--vars JSON]
 *   dialerctl flow template TEMPLATE.json [--set name=value]... > FLOW.json
 *   dialerctl dialplan print [--app NAME] [--context NAME] [--inbound FROM-TO]
 *       [--outbound FROM-TO] [--transfer-context NAME] > extensions_dialer.conf
 *   dialerctl dnc load --list ID [--format registry|plain|changes|xml|auto] [--replace] [--force]
 *       [--list-date YYYY-MM-DD] [--db CONNINFO] FILE     (ctl/dnc_load.c)
 *
 * dialplan print writes the extensions.conf contexts dialerd needs: the
 * inbound IVR pool entering Stasis with the extension as argument, the
 * outbound pool (reserved for the dialer's agents/loopback, entering Stasis
 * with "out" first), AMD (returning to Stasis with "amd,STATUS,CAUSE"), the
 * safe-harbour message context and the IVR's transfer context.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ctl/ctl.h"
#include "ivr/ivr.h"

struct command {
    const char *group;
    const char *verb;
    int (*run)(int argc, char **argv);
    const char *usage;
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL) {
        int e = errno;
        fprintf(stderr, "dialerctl: cannot open %s: %s\n", path, err_str(-e));
        return NULL;
    }
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void print_report(const struct ivr_report *r)
{
    static const char *const sev[] = { "error", "warning", "info" };
    for (size_t i = 0; i < ivr_report_count(r); i++) {
        const struct ivr_diag *d = ivr_report_get(r, i);
        printf("%s: %s: %s [%s]\n", sev[d->severity], d->path, d->message, d->rule);
    }
}

static int load(const char *path, bool publish, struct ivr_flow **flow, struct ivr_report **rep)
{
    size_t len;
    char *text = read_file(path, &len);
    struct ivr_load_options opt = { .publish = publish };
    if (text == NULL) {
        return 2;
    }
    int rc = ivr_flow_load(text, len, &opt, flow, rep);
    free(text);
    if (rc == ERR_NOMEM) {
        fprintf(stderr, "dialerctl: out of memory\n");
        return 2;
    }
    return rc == 0 ? 0 : 1;
}

static int cmd_validate(int argc, char **argv)
{
    bool publish = false, as_json = false;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--publish") == 0) {
            publish = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return -1;
        }
    }
    if (path == NULL) {
        return -1;
    }
    struct ivr_report *rep = NULL;
    int rc = load(path, publish, NULL, &rep);
    if (rep != NULL) {
        if (as_json) {
            json_t *j = ivr_report_to_json(rep);
            json_dumpf(j, stdout, JSON_INDENT(2));
            printf("\n");
            json_decref(j);
        } else {
            print_report(rep);
            printf("%s: %s (%zu errors, %zu findings)\n", path, rc == 0 ? "valid" : "INVALID",
                   ivr_report_errors(rep), ivr_report_count(rep));
        }
    }
    ivr_report_free(rep);
    return rc;
}

static int cmd_simulate(int argc, char **argv)
{
    const char *path = NULL, *script = NULL, *script_file = NULL, *vars_text = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--script") == 0 && i + 1 < argc) {
            script = argv[++i];
        } else if (strcmp(argv[i], "--script-file") == 0 && i + 1 < argc) {
            script_file = argv[++i];
        } else if (strcmp(argv[i], "--vars") == 0 && i + 1 < argc) {
            vars_text = argv[++i];
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            return -1;
        }
    }
    if (path == NULL) {
        return -1;
    }
    struct ivr_flow *flow = NULL;
    struct ivr_report *rep = NULL;
    int rc = load(path, false, &flow, &rep);
    if (rc != 0) {
        if (rep != NULL) {
            print_report(rep);
        }
        ivr_report_free(rep);
        return rc;
    }
    ivr_report_free(rep);
    char *owned = NULL;
    if (script_file != NULL) {
        size_t len;
        owned = read_file(script_file, &len);
        if (owned == NULL) {
            ivr_flow_unref(flow);
            return 2;
        }
        script = owned;
    }
    json_t *vars = NULL;
    if (vars_text != NULL) {
        json_error_t je;
        vars = json_loads(vars_text, 0, &je);
        if (!json_is_object(vars)) {
            fprintf(stderr, "dialerctl: --vars must be a JSON object: %s\n", je.text);
            json_decref(vars);
            free(owned);
            ivr_flow_unref(flow);
            return 2;
        }
    }
    json_t *log = NULL;
    char *err = NULL;
    rc = ivr_sim_run(flow, script ? script : "", vars, &log, &err);
    if (rc != 0) {
        fprintf(stderr, "dialerctl: script: %s\n", err ? err : err_str(rc));
        rc = 2;
    } else {
        json_dumpf(log, stdout, JSON_INDENT(2));
        printf("\n");
    }
    free(err);
    free(owned);
    json_decref(log);
    json_decref(vars);
    ivr_flow_unref(flow);
    return rc;
}

static int cmd_template(int argc, char **argv)
{
    const char *path = NULL;
    json_t *params = json_object();
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            char *kv = argv[++i];
            char *eq = strchr(kv, '=');
            if (eq == NULL) {
                rc = -1;
                break;
            }
            *eq = '\0';
            char *end;
            double d = strtod(eq + 1, &end);
            json_object_set_new(params, kv,
                                (*end == '\0' && eq[1] != '\0' && eq[1] != '+')
                                    ? json_real(d)
                                    : json_string(eq + 1));
        } else if (path == NULL) {
            path = argv[i];
        } else {
            rc = -1;
        }
    }
    if (rc != 0 || path == NULL) {
        json_decref(params);
        return -1;
    }
    json_error_t je;
    json_t *tmpl = json_load_file(path, 0, &je);
    if (tmpl == NULL) {
        fprintf(stderr, "dialerctl: %s: %s (line %d)\n", path, je.text, je.line);
        json_decref(params);
        return 2;
    }
    const char *err;
    json_t *flow = ivr_template_instantiate(tmpl, params, &err);
    if (flow == NULL) {
        fprintf(stderr, "dialerctl: %s\n", err);
        rc = 1;
    } else {
        json_dumpf(flow, stdout, JSON_INDENT(2));
        printf("\n");
    }
    json_decref(flow);
    json_decref(tmpl);
    json_decref(params);
    return rc;
}

/* "2000-2999" into a pattern prefix; both ends must share the thousands digit and span 000-999. */
static int parse_pool(const char *s, int *from, int *to)
{
    char *end;
    long a = strtol(s, &end, 10), b;
    if (*end != '-') {
        return -1;
    }
    b = strtol(end + 1, &end, 10);
    if (*end != '\0' || a < 1000 || b > 9999 || a > b || a % 1000 != 0 || b % 1000 != 999 ||
        b - a != 999) {
        return -1;
    }
    *from = (int)a;
    *to = (int)b;
    return 0;
}

static bool name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 64) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_')) {
            return false;
        }
    }
    return true;
}

static int cmd_dialplan(int argc, char **argv)
{
    const char *app = "dialer", *ctx = "dialer-inbound", *xfer = "ivr-transfer";
    int in_from = 2000, in_to = 2999, out_from = 3000, out_to = 3999;
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            return -1;
        }
        if (strcmp(argv[i], "--app") == 0) {
            app = v;
        } else if (strcmp(argv[i], "--context") == 0) {
            ctx = v;
        } else if (strcmp(argv[i], "--transfer-context") == 0) {
            xfer = v;
        } else if (strcmp(argv[i], "--inbound") == 0) {
            if (parse_pool(v, &in_from, &in_to) != 0) {
                fprintf(stderr, "dialerctl: --inbound: want a range like 2000-2999\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--outbound") == 0) {
            if (parse_pool(v, &out_from, &out_to) != 0) {
                fprintf(stderr, "dialerctl: --outbound: want a range like 3000-3999\n");
                return 2;
            }
        } else {
            return -1;
        }
        i++;
    }
    if (!name_ok(app) || !name_ok(ctx) || !name_ok(xfer)) {
        fprintf(stderr, "dialerctl: names are letters, digits, - and _ (at most 64)\n");
        return 2;
    }
    if (in_from == out_from) {
        fprintf(stderr, "dialerctl: the inbound and outbound pools overlap\n");
        return 2;
    }
    printf("; extensions.conf contexts for dialerd (generated by dialerctl dialplan print).\n"
           "; Include this file and point the carrier trunk's context at [%s].\n\n",
           ctx);
    printf("[%s]\n"
           "; inbound IVR pool %d-%d: dialerd finds the extension's tenant and flow\n"
           "exten => _%dXXX,1,NoOp(inbound ${EXTEN})\n"
           " same => n,Stasis(%s,${EXTEN})\n"
           " same => n,Hangup()\n"
           "; outbound pool %d-%d: the dialer's own extensions\n"
           "exten => _%dXXX,1,NoOp(outbound ${EXTEN})\n"
           " same => n,Stasis(%s,out,${EXTEN})\n"
           " same => n,Hangup()\n"
           "; anything else (reserved pool included) is refused\n"
           "exten => _X.,1,Hangup(1)\n\n",
           ctx, in_from, in_to, in_from / 1000, app, out_from, out_to, out_from / 1000, app);
    printf("[amd]\n"
           "; the dialer continues an answered call here; it comes back with the verdict\n"
           "exten => s,1,AMD()\n"
           " same => n,Stasis(%s,amd,${AMDSTATUS},${AMDCAUSE})\n"
           " same => n,Hangup()\n\n",
           app);
    printf("[safe-harbour]\n"
           "; no agent within the limit: the recorded message (MESSAGE channel variable), then\n"
           "; back to the dialer for the disposition\n"
           "exten => s,1,Playback(${IF($[\"${MESSAGE}\" = \"\"]?dialer/safe-harbour:${MESSAGE})})\n"
           " same => n,Stasis(%s,safe-harbour)\n"
           " same => n,Hangup()\n\n",
           app);
    printf("[%s]\n"
           "; IVR transfers: extension targets; pstn targets need a route to the trunk here\n"
           "exten => _X.,1,Dial(PJSIP/${EXTEN},,)\n"
           " same => n,Hangup()\n",
           xfer);
    return 0;
}

static const struct command commands[] = {
    { "flow", "validate", cmd_validate, "FLOW.json [--publish] [--json]" },
    { "flow", "simulate", cmd_simulate,
      "FLOW.json (--script \"on menu; dtmf 1\" | --script-file F) [--vars JSON]" },
    { "flow", "template", cmd_template, "TEMPLATE.json [--set name=value]..." },
    { "dialplan", "print", cmd_dialplan,
      "[--app NAME] [--context NAME] [--inbound FROM-TO] [--outbound FROM-TO] "
      "[--transfer-context NAME]" },
    { "dnc", "load", ctl_dnc_load,
      "--list ID [--format registry|plain|changes|xml|auto] [--replace] [--force] [--list-date "
      "YYYY-MM-DD] "
      "[--db CONNINFO] FILE" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  dialerctl %s %s %s\n", commands[i].group, commands[i].verb,
                commands[i].usage);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; argc >= 3 && i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].group, argv[1]) == 0 && strcmp(commands[i].verb, argv[2]) == 0) {
            int rc = commands[i].run(argc - 3, argv + 3);
            if (rc < 0) {
                fprintf(stderr, "usage: dialerctl %s %s %s\n", commands[i].group, commands[i].verb,
                        commands[i].usage);
                return 2;
            }
            return rc;
        }
    }
    usage(stderr);
    return 2;
}
