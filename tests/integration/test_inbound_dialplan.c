/* SPDX-License-Identifier: MIT */
/*
 * `dialerctl dialplan print` produces a dialplan that routes: ari-sim runs the
 * generated extensions.conf; an inbound call to 2005 enters Stasis with args
 * ["2005"], one to 3005 with ["out","3005"], one to 4005 (reserved pool)
 * never reaches the app.
 * Bad pool ranges and names are refused with exit status 2.
 */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim/simc.h"

static const char *build_dir(void)
{
    const char *b = getenv("DIALER_BUILD");
    return b != NULL && *b != '\0' ? b : "build/debug";
}

static int run_ctl(const char *args, const char *out)
{
    char cmd[512];
    int st;
    snprintf(cmd, sizeof(cmd), "%s/dialerctl dialplan print %s > %s 2>/dev/null", build_dir(), args,
             out);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *inbound(struct simc_proc *p, struct simc_ws *ws, const char *ext)
{
    char path[200];
    struct simc_resp r;
    json_t *ev;
    snprintf(path, sizeof(path),
             "/_sim/inbound?extension=%s&app=dialer&context=dialer-inbound&caller=%%2B14155550100",
             ext);
    assert_int_equal(simc_http(p->port, "POST", path, NULL, NULL, NULL, &r), 0);
    assert_true(r.status >= 200 && r.status < 300);
    simc_resp_free(&r);
    ev = simc_ws_wait(ws, "StasisStart", NULL, 1500);
    return ev;
}

static const char *arg_at(json_t *ev, size_t i)
{
    return json_string_value(json_array_get(json_object_get(ev, "args"), i));
}

static void test_generated_dialplan_routes(void **state)
{
    char dir[64], file[128];
    const char *args[] = { "--dialplan", file, "--time-scale", "0.1", "--log-level", "warn", NULL };
    struct simc_proc p;
    struct simc_ws *ws;
    int status = 0;
    json_t *ev;
    (void)state;

    snprintf(dir, sizeof(dir), "/tmp/test_inbound_dialplan.%d", (int)getpid());
    mkdir(dir, 0700);
    snprintf(file, sizeof(file), "%s/extensions.conf", dir);
    assert_int_equal(run_ctl("", file), 0);
    assert_int_equal(simc_start(&p, args), 0);
    ws = simc_ws_open(p.port, "/ari/events?app=dialer&api_key=asterisk:asterisk", NULL, &status,
                      NULL, 0);
    assert_non_null(ws);

    ev = inbound(&p, ws, "2005");
    assert_non_null(ev);
    assert_string_equal(arg_at(ev, 0), "2005");
    assert_null(arg_at(ev, 1));
    json_decref(ev);

    ev = inbound(&p, ws, "3005");
    assert_non_null(ev);
    assert_string_equal(arg_at(ev, 0), "out");
    assert_string_equal(arg_at(ev, 1), "3005");
    json_decref(ev);

    ev = inbound(&p, ws, "4005");
    assert_null(ev);

    simc_ws_close(ws);
    assert_int_equal(simc_stop(&p, SIGTERM), 0);
    assert_false(simc_log_has_sanitizer_report(&p));

    /* Refused options. */
    assert_int_equal(run_ctl("--inbound 2000-2500", file), 2);
    assert_int_equal(run_ctl("--app 'a b'", file), 2);
    assert_int_equal(run_ctl("--inbound 3000-3999", file), 2);
    assert_int_equal(run_ctl("--bogus x", file), 2);
    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_dialplan_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
