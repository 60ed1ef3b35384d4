/* SPDX-License-Identifier: MIT */
/*
 * apidocs: the swagger files, served and used as the route table.
 *
 * The simulator serves /ari/api-docs/resources.json and the per-resource
 * declarations from a directory, rewriting "basePath" to
 * "http://<Host header>/ari" (or removing it when there is no Host header)
 * exactly as Asterisk does, so stock clients (node ari-client) build their
 * operation URLs against the simulator.
 *
 * The same files define the routes: every "apis[].path" with its
 * operations becomes a route, so a path that exists with another method
 * answers 405 with an Allow header, an unknown path answers 404, and an
 * operation the simulator does not model answers 501, all like Asterisk.
 * Matching walks segment by segment and prefers a literal segment over a
 * {parameter}. libwebsockets decodes %2F before we see the path, so a
 * parameter may also absorb several segments when nothing else matches
 * (a channel name such as "Local/s@ctx-00000001;1" in a URL).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "sim/sim_int.h"

static const char *const method_names[SIM_M_COUNT_] = {
    "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD",
};

static int method_index(const char *m)
{
    for (int i = 0; i < SIM_M_COUNT_; i++) {
        if (strcmp(method_names[i], m) == 0) {
            return i;
        }
    }
    return -1;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        abort();
    }
    return d;
}

static struct sim_route *route_get(struct sim *s, const char *path)
{
    struct sim_route *r;
    char *copy, *save = NULL;

    for (int i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            return &s->routes[i];
        }
    }
    r = realloc(s->routes, sizeof(*r) * (size_t)(s->nroutes + 1));
    if (r == NULL) {
        abort();
    }
    s->routes = r;
    r = &s->routes[s->nroutes++];
    memset(r, 0, sizeof(*r));
    r->path = xstrdup(path);
    copy = xstrdup(path);
    for (char *t = strtok_r(copy, "/", &save); t != NULL; t = strtok_r(NULL, "/", &save)) {
        char **v = realloc(r->segs, sizeof(*v) * (size_t)(r->nsegs + 1));
        if (v == NULL) {
            abort();
        }
        r->segs = v;
        r->segs[r->nsegs++] = xstrdup(t);
    }
    free(copy);
    return r;
}

static int load_file(struct sim *s, const char *dir, const char *name)
{
    char path[PATH_MAX];
    json_error_t je;
    json_t *doc, *apis, *api;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    doc = json_load_file(path, 0, &je);
    if (doc == NULL) {
        LOG_ERR(SIM, "event=apidocs_parse_failed file=%s line=%d msg=\"%s\"", path, je.line,
                je.text);
        return -1;
    }
    apis = json_object_get(doc, "apis");
    json_array_foreach (apis, i, api) {
        const char *p = json_string_value(json_object_get(api, "path"));
        json_t *ops = json_object_get(api, "operations");
        json_t *op;
        size_t k;
        struct sim_route *r;
        if (p == NULL || ops == NULL) {
            continue;
        }
        r = route_get(s, p);
        json_array_foreach (ops, k, op) {
            int m = method_index(json_string_value(json_object_get(op, "httpMethod")) ?: "");
            const char *nick = json_string_value(json_object_get(op, "nickname"));
            if (m < 0 || nick == NULL) {
                continue;
            }
            /* Nicknames are static in the sense that docs stay loaded. */
            r->nick[m] = nick;
            if (json_object_get(op, "upgrade") != NULL) {
                r->websocket = 1;
            }
        }
    }
    {
        json_t **v = realloc(s->docs, sizeof(*v) * (size_t)(s->ndocs + 1));
        if (v == NULL) {
            abort();
        }
        s->docs = v;
        s->docs[s->ndocs++] = doc;
    }
    return 0;
}

int sim__apidocs_load(struct sim *s, const char *dir)
{
    char path[PATH_MAX];
    json_error_t je;
    json_t *res;
    json_t *api;
    size_t i;

    snprintf(path, sizeof(path), "%s/resources.json", dir);
    res = json_load_file(path, 0, &je);
    if (res == NULL) {
        LOG_ERR(SIM, "event=apidocs_missing path=%s msg=\"%s\"", path, je.text);
        return -1;
    }
    json_array_foreach (json_object_get(res, "apis"), i, api) {
        const char *p = json_string_value(json_object_get(api, "path"));
        char file[256];
        const char *base;
        if (p == NULL) {
            continue;
        }
        base = strrchr(p, '/');
        base = base ? base + 1 : p;
        snprintf(file, sizeof(file), "%s", base);
        if (strstr(file, ".{format}") != NULL) {
            snprintf(strstr(file, ".{format}"), 6, ".json");
        }
        if (load_file(s, dir, file) < 0) {
            json_decref(res);
            return -1;
        }
    }
    json_decref(res);
    s->api_docs_dir = xstrdup(dir);
    LOG_INFO(SIM, "event=apidocs_loaded dir=%s routes=%d", dir, s->nroutes);
    return 0;
}

void sim__apidocs_free(struct sim *s)
{
    for (int i = 0; i < s->nroutes; i++) {
        for (int k = 0; k < s->routes[i].nsegs; k++) {
            free(s->routes[i].segs[k]);
        }
        free(s->routes[i].segs);
        free(s->routes[i].path);
    }
    free(s->routes);
    s->routes = NULL;
    s->nroutes = 0;
    for (int i = 0; i < s->ndocs; i++) {
        json_decref(s->docs[i]);
    }
    free(s->docs);
    s->docs = NULL;
    s->ndocs = 0;
    free(s->api_docs_dir);
    s->api_docs_dir = NULL;
}

void sim__apidocs_serve(struct sim_req *r, const char *file)
{
    struct sim *s = r->s;
    char path[PATH_MAX], real_dir[PATH_MAX], real_file[PATH_MAX];
    struct stat st;
    json_error_t je;
    json_t *obj;
    char *text;

    snprintf(path, sizeof(path), "%s/%s", s->api_docs_dir, file);
    if (realpath(s->api_docs_dir, real_dir) == NULL || realpath(path, real_file) == NULL ||
        strncmp(real_file, real_dir, strlen(real_dir)) != 0 || stat(real_file, &st) != 0) {
        sim__req_error(r, 404, "Not Found", "Resource not found");
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        sim__req_error(r, 403, "Forbidden", "Invalid access");
        return;
    }
    obj = json_load_file(real_file, 0, &je);
    if (obj == NULL) {
        sim__req_error(r, 500, "Internal Server Error", "Yikes! Cannot parse resource");
        return;
    }
    if (json_object_get(obj, "basePath") != NULL) {
        if (r->host != NULL && r->host[0] != '\0') {
            char base[600];
            snprintf(base, sizeof(base), "http://%s/ari", r->host);
            json_object_set_new(obj, "basePath", json_string(base));
        } else {
            json_object_del(obj, "basePath");
        }
    }
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL) {
        sim__req_alloc_failed(r);
        return;
    }
    sim__req_ok(r);
    sim__buf_puts(&r->body_out, text);
    free(text);
}

/* ---------------------------------------------------------------------- */

static int is_param(const char *seg)
{
    return seg[0] == '{';
}

/* Matches route segments [ri..] against request segments [si..]. */
static int match_from(const struct sim_route *rt, int ri, char **segs, int si, int nsegs,
                      int greedy, int *spans)
{
    if (ri == rt->nsegs) {
        return si == nsegs;
    }
    if (si >= nsegs) {
        return 0;
    }
    if (!is_param(rt->segs[ri])) {
        return strcmp(rt->segs[ri], segs[si]) == 0 &&
               match_from(rt, ri + 1, segs, si + 1, nsegs, greedy, spans);
    }
    for (int take = 1; si + take <= nsegs; take++) {
        if (take > 1 && !greedy) {
            break;
        }
        spans[ri] = take;
        if (match_from(rt, ri + 1, segs, si + take, nsegs, greedy, spans)) {
            return 1;
        }
    }
    return 0;
}

/* Higher is better: literal segments early in the path win. */
static unsigned long rank(const struct sim_route *rt)
{
    unsigned long v = 0;
    for (int i = 0; i < rt->nsegs && i < 16; i++) {
        v = v * 2 + (is_param(rt->segs[i]) ? 0 : 1);
    }
    return v << (16 - (rt->nsegs < 16 ? rt->nsegs : 16));
}

const struct sim_route *sim__route_match(struct sim *s, struct sim_req *r, char **segs, int nsegs)
{
    const struct sim_route *best = NULL;
    int best_spans[32];
    unsigned long best_rank = 0;

    for (int greedy = 0; greedy < 2 && best == NULL; greedy++) {
        for (int i = 0; i < s->nroutes; i++) {
            const struct sim_route *rt = &s->routes[i];
            int spans[32];
            unsigned long rk;
            if (rt->nsegs > 32 || (!greedy && rt->nsegs != nsegs) ||
                (greedy && rt->nsegs >= nsegs)) {
                continue;
            }
            memset(spans, 0, sizeof(spans));
            if (!match_from(rt, 0, segs, 0, nsegs, greedy, spans)) {
                continue;
            }
            rk = rank(rt);
            if (best == NULL || rk > best_rank) {
                best = rt;
                best_rank = rk;
                memcpy(best_spans, spans, sizeof(spans));
            }
        }
    }
    if (best == NULL) {
        return NULL;
    }
    /* Record the path variables. */
    r->npathp = 0;
    for (int ri = 0, si = 0; ri < best->nsegs; ri++) {
        if (is_param(best->segs[ri])) {
            struct sim_buf v;
            char name[128];
            int take = best_spans[ri] > 0 ? best_spans[ri] : 1;
            sim__buf_init(&v);
            for (int k = 0; k < take; k++) {
                if (k > 0) {
                    sim__buf_putc(&v, '/');
                }
                sim__buf_puts(&v, segs[si + k]);
            }
            snprintf(name, sizeof(name), "%.*s", (int)strlen(best->segs[ri]) - 2,
                     best->segs[ri] + 1);
            r->pathp[r->npathp].name = arena_strdup(&r->arena, name);
            r->pathp[r->npathp].value = arena_strdup(&r->arena, v.p ? v.p : "");
            r->npathp++;
            sim__buf_fini(&v);
            si += take;
        } else {
            si++;
        }
    }
    return best;
}
