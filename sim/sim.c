/* SPDX-License-Identifier: MIT */
/*
 * sim: creation and destruction of a simulator; defaults and file search.
 *
 * The swagger directory and the dialplan are looked up when not given:
 * $DIALER_SHARED/ari/api-docs, then <dir>/../shared/ari/api-docs for every
 * parent <dir> of the executable (build/<variant>/ari-sim sits two levels
 * under the repository), then the same from the working directory. The
 * default dialplan is sim/scenarios/extensions.conf found the same way.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "sim/sim_int.h"

void sim_options_default(struct sim_options *o)
{
    memset(o, 0, sizeof(*o));
    o->bind = "127.0.0.1";
    o->port = 8088;
    o->user = "asterisk";
    o->password = "asterisk";
    o->seed = -1;
    o->time_scale = 1.0;
    o->system_name = "";
    o->asterisk_id = "02:fc:00:00:00:01";
    o->version = "22.10.1";
    o->body_limit = 40960;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        abort();
    }
    return d;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Looks for rel under the parents of dir; fills out. */
static int search_up(const char *dir, const char *rel, const char *probe, char *out, size_t len)
{
    char cur[PATH_MAX];

    if (realpath(dir, cur) == NULL) {
        return -1;
    }
    for (int depth = 0; depth < 6; depth++) {
        char cand[PATH_MAX + 300], probe_path[PATH_MAX + 400];
        char *slash;
        snprintf(cand, sizeof(cand), "%s/%s", cur, rel);
        snprintf(probe_path, sizeof(probe_path), "%s%s", cand, probe);
        if (exists(probe_path)) {
            snprintf(out, len, "%s", cand);
            return 0;
        }
        slash = strrchr(cur, '/');
        if (slash == NULL || slash == cur) {
            break;
        }
        *slash = '\0';
    }
    return -1;
}

static int find_file(const char *rel, const char *probe, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0) {
        char *slash;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        if (search_up(exe, rel, probe, out, len) == 0) {
            return 0;
        }
    }
    return search_up(".", rel, probe, out, len);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct sim *s = SIM_CONTAINER_OF(w, struct sim, prepare);
    (void)loop;
    (void)revents;
    sim__reap(s);
    sim__timers_arm(s);
}

static void loop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sim *s = SIM_CONTAINER_OF(w, struct sim, loop_timer);
    (void)loop;
    (void)revents;
    sim__timers_run(s);
}

static void split_channelvars(struct sim *s, const char *list)
{
    char *copy, *save = NULL;

    if (list == NULL || list[0] == '\0') {
        return;
    }
    copy = xstrdup(list);
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        char **v = realloc(s->channelvars, sizeof(*v) * (size_t)(s->nchannelvars + 1));
        if (v == NULL) {
            abort();
        }
        s->channelvars = v;
        s->channelvars[s->nchannelvars++] = xstrdup(t);
    }
    free(copy);
}

int sim_create(struct ev_loop *loop, const struct sim_options *opt, struct sim **out)
{
    struct sim *s = calloc(1, sizeof(*s));
    char path[PATH_MAX + 300];
    char err[300];
    const char *shared = getenv("DIALER_SHARED");

    if (s == NULL) {
        return ERR_NOMEM;
    }
    *out = NULL;
    s->loop = loop;
    s->bind = xstrdup(opt->bind);
    s->port = (int)opt->port;
    s->user = xstrdup(opt->user);
    s->password = xstrdup(opt->password);
    s->asterisk_id = xstrdup(opt->asterisk_id);
    s->version = xstrdup(opt->version);
    s->system_name = xstrdup(opt->system_name);
    s->time_scale = opt->time_scale > 0 ? opt->time_scale : 1.0;
    s->body_limit = opt->body_limit > 0 ? opt->body_limit : 40960;
    s->epoch = clock_wall_us() / 1000000;
    s->startup_wall_us = s->reload_wall_us = clock_wall_us();
    s->fail_status = 503;
    s->disk_fault = -1;
    split_channelvars(s, opt->channelvars);
    sim__map_init(&s->chans, 0);
    sim__map_init(&s->chan_names, 1);
    sim__idx_init(&s->chan_keys);
    sim__map_init(&s->bridges, 0);
    sim__map_init(&s->playbacks, 0);
    sim__map_init(&s->recs, 0);
    sim__map_init(&s->stored, 0);
    sim__map_init(&s->apps, 0);
    sim__map_init(&s->attempts, 0);
    sim__map_init(&s->globals, 0);
    sim__buf_init(&s->ev);
    ev_timer_init(&s->loop_timer, loop_timer_cb, 0., 0.);
    ev_prepare_init(&s->prepare, prepare_cb);
    ev_prepare_start(loop, &s->prepare);

    /* Swagger files. */
    if (opt->api_docs != NULL && opt->api_docs[0] != '\0') {
        snprintf(path, sizeof(path), "%s", opt->api_docs);
    } else if (shared != NULL && (snprintf(path, sizeof(path), "%s/ari/api-docs", shared), 1) &&
               exists(path)) {
        /* found through DIALER_SHARED */
    } else if (find_file("../shared/ari/api-docs", "/resources.json", path, sizeof(path)) < 0 &&
               find_file("shared/ari/api-docs", "/resources.json", path, sizeof(path)) < 0) {
        LOG_ERR(SIM, "event=apidocs_not_found msg=\"use --api-docs DIR\"");
        sim_destroy(s);
        return ERR_NOTFOUND;
    }
    if (sim__apidocs_load(s, path) < 0) {
        sim_destroy(s);
        return ERR_NOTFOUND;
    }

    /* Scenario. */
    if (opt->scenario != NULL && opt->scenario[0] != '\0') {
        s->scenario = sim__scenario_load_file(opt->scenario, err, sizeof(err));
        if (s->scenario == NULL) {
            LOG_ERR(SIM, "event=scenario_invalid msg=\"%s\"", err);
            sim_destroy(s);
            return ERR_INVAL;
        }
    } else {
        s->scenario = sim__scenario_default();
    }
    s->seed_from_cli = opt->seed >= 0;
    s->seed = opt->seed >= 0 ? opt->seed : (s->scenario->seed >= 0 ? s->scenario->seed : 1);

    /* Dialplan. */
    if (opt->dialplan == NULL) {
        if (find_file("sim/scenarios/extensions.conf", "", path, sizeof(path)) == 0) {
            s->pbx = sim__pbx_load(path, err, sizeof(err));
            if (s->pbx == NULL) {
                LOG_WARN(SIM, "event=dialplan_invalid path=%s msg=\"%s\"", path, err);
            }
        } else {
            LOG_WARN(SIM, "event=dialplan_not_found msg=\"no sim/scenarios/extensions.conf\"");
        }
    } else if (opt->dialplan[0] != '\0') {
        s->pbx = sim__pbx_load(opt->dialplan, err, sizeof(err));
        if (s->pbx == NULL) {
            LOG_ERR(SIM, "event=dialplan_invalid msg=\"%s\"", err);
            sim_destroy(s);
            return ERR_INVAL;
        }
    }
    if (s->pbx == NULL) {
        s->pbx = sim__pbx_parse("", err, sizeof(err));
    } else {
        LOG_INFO(SIM, "event=dialplan_loaded path=%s", opt->dialplan ? opt->dialplan : path);
    }

    if (opt->originate_log != NULL && opt->originate_log[0] != '\0') {
        s->olog = sim__olog_open(opt->originate_log);
        if (s->olog == NULL) {
            sim_destroy(s);
            return ERR_IO;
        }
    }
    if (sim__http_start(s) < 0) {
        sim_destroy(s);
        return ERR_IO;
    }
    sim__gens_start(s);
    LOG_INFO(SIM, "event=listening bind=%s port=%d scenario=%s seed=%lld time_scale=%g", s->bind,
             s->port, s->scenario->name, (long long)s->seed, s->time_scale);
    *out = s;
    return 0;
}

int sim_port(const struct sim *s)
{
    return s->port;
}

int sim_stop_requested(const struct sim *s)
{
    return s->stop;
}

void sim_request_stop(struct sim *s)
{
    s->stop = 1;
    ev_break(s->loop, EVBREAK_ALL);
}

static void free_map_values(struct sim_map *m, void (*fn)(void *))
{
    size_t i = 0;
    struct sim_map_ent *e;

    while ((e = sim__map_next(m, &i)) != NULL) {
        fn(e->value);
    }
    sim__map_fini(m);
}

static void free_stored(void *p)
{
    struct sim_stored *st = p;
    free(st->name);
    free(st->format);
    free(st);
}

static void free_app(void *p)
{
    struct sim_app *a = p;
    sim__buf_fini(&a->tail);
    free(a->name);
    free(a);
}

void sim_destroy(struct sim *s)
{
    if (s == NULL) {
        return;
    }
    sim__gens_stop(s);
    sim__http_stop(s); /* closes sockets: sim__ws_closed() runs for each */
    if (s->chans.e != NULL || s->bridges.e != NULL) {
        sim__forget_all(s);
    }
    sim__control_fini(s);
    while (s->sockets != NULL) {
        sim__ws_closed(s->sockets);
    }
    free_map_values(&s->stored, free_stored);
    free_map_values(&s->apps, free_app);
    free_map_values(&s->globals, free);
    sim__map_fini(&s->chans);
    sim__map_fini(&s->chan_names);
    sim__idx_fini(&s->chan_keys);
    sim__map_fini(&s->bridges);
    sim__map_fini(&s->playbacks);
    sim__map_fini(&s->recs);
    sim__map_fini(&s->attempts);
    ev_timer_stop(s->loop, &s->loop_timer);
    ev_prepare_stop(s->loop, &s->prepare);
    sim__timers_fini(&s->timers);
    sim__apidocs_free(s);
    sim__scenario_unref(s->scenario);
    sim__pbx_free(s->pbx);
    sim__olog_close(s->olog);
    sim__buf_fini(&s->ev);
    for (int i = 0; i < s->nchannelvars; i++) {
        free(s->channelvars[i]);
    }
    free(s->channelvars);
    free(s->bind);
    free(s->user);
    free(s->password);
    free(s->asterisk_id);
    free(s->version);
    free(s->system_name);
    free(s);
}
