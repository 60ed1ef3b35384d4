/* SPDX-License-Identifier: MIT */
/*
 * rest_other: bridges, playbacks, recordings, applications, asterisk,
 * sounds, endpoints, events, device states and mailboxes.
 *
 * Status codes and messages follow res/ari/resource_*.c. Endpoints, device
 * states and mailboxes are answered with empty lists or 404s: the simulated
 * network has no registered endpoints to report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

int sim__rest_record_checks(struct sim_req *r, int *terminate, int *if_exists);

/* ---------------------------------------------------------------------- */
/* Bridges */

static struct sim_bridge *find_bridge(struct sim_req *r)
{
    const char *id = sim__req_path(r, "bridgeId");
    struct sim_bridge *br = sim__map_get(&r->s->bridges, id ? id : "");
    if (br == NULL) {
        sim__req_error(r, 404, "Not Found", "Bridge not found");
    }
    return br;
}

static void bridge_body(struct sim_req *r, const struct sim_bridge *br)
{
    sim__req_ok(r);
    sim__bridge_json(r->s, &r->body_out, br);
}

static void b_list(struct sim_req *r)
{
    size_t i = 0;
    struct sim_map_ent *e;
    int first = 1;

    sim__req_ok(r);
    sim__buf_putc(&r->body_out, '[');
    while ((e = sim__map_next(&r->s->bridges, &i)) != NULL) {
        if (!first) {
            sim__buf_putc(&r->body_out, ',');
        }
        first = 0;
        sim__bridge_json(r->s, &r->body_out, e->value);
    }
    sim__buf_putc(&r->body_out, ']');
}

static int valid_types(const char *types)
{
    static const char *const ok[] = { "mixing",    "holding",      "dtmf_events", "proxy_media",
                                      "video_sfu", "video_single", "sdp_label" };
    char buf[256], *save = NULL;

    if (types == NULL || types[0] == '\0') {
        return 1;
    }
    snprintf(buf, sizeof(buf), "%s", types);
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
            found |= strcmp(t, ok[i]) == 0;
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

static void do_bridge_create(struct sim_req *r, const char *id)
{
    const char *types = sim__req_param(r, "type");
    struct sim_bridge *br;

    if (id != NULL && id[0] != '\0' && sim__map_get(&r->s->bridges, id) != NULL) {
        sim__req_error(r, 409, "Conflict", "Bridge with id '%s' already exists", id);
        return;
    }
    if (!valid_types(types)) {
        sim__req_error(r, 500, "Internal Error", "Unable to create bridge");
        return;
    }
    br = sim__bridge_new(r->s, id, types ? types : "mixing", sim__req_param(r, "name"));
    r->s->stats.bridges++;
    sim__ev_bridge(br, "BridgeCreated");
    bridge_body(r, br);
}

static void b_create(struct sim_req *r)
{
    do_bridge_create(r, sim__req_param(r, "bridgeId"));
}

static void b_create_with_id(struct sim_req *r)
{
    do_bridge_create(r, sim__req_path(r, "bridgeId"));
}

static void b_get(struct sim_req *r)
{
    struct sim_bridge *br = find_bridge(r);
    if (br != NULL) {
        bridge_body(r, br);
    }
}

static void b_destroy(struct sim_req *r)
{
    struct sim_bridge *br = find_bridge(r);

    if (br == NULL) {
        return;
    }
    while (br->nchans > 0) {
        sim__bridge_leave(br->chans[br->nchans - 1]);
    }
    sim__playbacks_bridge_gone(br);
    if (br->rec != NULL) {
        sim__rec_stop(br->rec, 0);
    }
    sim__ev_bridge(br, "BridgeDestroyed");
    sim__bridge_free(br);
    sim__req_nocontent(r);
}

/* Resolves the channel list; 400 / 422 as Asterisk does. */
static int bridge_channels(struct sim_req *r, struct sim_chan **out, int max, int need_stasis)
{
    const char *list = sim__req_param(r, "channel");
    char buf[4096], *save = NULL;
    int n = 0;

    if (list == NULL || list[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Missing parameter channel");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *t = strtok_r(buf, ",", &save); t != NULL && n < max;
         t = strtok_r(NULL, ",", &save)) {
        struct sim_chan *c = sim__chan_find(r->s, t);
        if (c == NULL || c->hanging) {
            sim__req_error(r, 400, "Bad Request", "Channel not found");
            return -1;
        }
        if (need_stasis && c->stasis == STASIS_NONE) {
            sim__req_error(r, 422, "Unprocessable Entity", "Channel not in Stasis application");
            return -1;
        }
        out[n++] = c;
    }
    return n;
}

static void b_add(struct sim_req *r)
{
    struct sim_bridge *br = find_bridge(r);
    struct sim_chan *chans[32];
    int n;

    if (br == NULL) {
        return;
    }
    n = bridge_channels(r, chans, 32, 1);
    if (n < 0) {
        return;
    }
    for (int i = 0; i < n; i++) {
        sim__bridge_add(br, chans[i]);
    }
    sim__req_nocontent(r);
}

static void b_remove(struct sim_req *r)
{
    struct sim_bridge *br = find_bridge(r);
    struct sim_chan *chans[32];
    int n;

    if (br == NULL) {
        return;
    }
    n = bridge_channels(r, chans, 32, 1);
    if (n < 0) {
        return;
    }
    for (int i = 0; i < n; i++) {
        if (chans[i]->bridge != br) {
            sim__req_error(r, 422, "Unprocessable Entity", "Channel not in this bridge");
            return;
        }
    }
    for (int i = 0; i < n; i++) {
        sim__bridge_leave(chans[i]);
    }
    sim__req_nocontent(r);
}

static void b_noop(struct sim_req *r)
{
    if (find_bridge(r) != NULL) {
        sim__req_nocontent(r);
    }
}

static void do_bridge_play(struct sim_req *r, const char *pb_id)
{
    struct sim_bridge *br = find_bridge(r);
    const char *media = sim__req_param(r, "media");
    struct sim_playback *pb;
    char loc[600];

    if (br == NULL) {
        return;
    }
    if (media == NULL || media[0] == '\0') {
        sim__req_error(r, 500, "Internal Server Error", "Failed to queue media for playback");
        return;
    }
    pb = sim__playback_new(r->s, pb_id, media, sim__req_param(r, "lang"),
                           sim__req_int(r, "offsetms", 0), sim__req_int(r, "skipms", 3000));
    sim__playback_queue_bridge(pb, br);
    snprintf(loc, sizeof(loc), "/playbacks/%s", pb->id);
    sim__req_created(r, loc);
    sim__playback_json(r->s, &r->body_out, pb);
}

static void b_play(struct sim_req *r)
{
    do_bridge_play(r, sim__req_param(r, "playbackId"));
}

static void b_play_with_id(struct sim_req *r)
{
    do_bridge_play(r, sim__req_path(r, "playbackId"));
}

static void b_record(struct sim_req *r)
{
    struct sim_bridge *br = find_bridge(r);
    struct sim_rec *rec;
    int term, ie;
    char loc[600];

    if (br == NULL || sim__rest_record_checks(r, &term, &ie) < 0) {
        return;
    }
    if (sim__disk(r->s) == SIM_DISK_FULL_MKDIR) {
        /* ast_safe_mkdir fails with ENOSPC: "Unrecognized recording error". */
        sim__req_error(r, 500, "Internal Server Error", "Internal Server Error");
        return;
    }
    rec = sim__rec_new(r->s, sim__req_param(r, "name"), sim__req_param(r, "format"));
    rec->bridge = br;
    rec->disk_full = sim__disk(r->s) == SIM_DISK_FULL_WRITE;
    rec->max_us = (int64_t)sim__req_int(r, "maxDurationSeconds", 0) * 1000000;
    rec->max_silence_us = (int64_t)sim__req_int(r, "maxSilenceSeconds", 0) * 1000000;
    rec->terminate_on = term;
    rec->heard_voice = br->nchans > 0;
    br->rec = rec;
    sim__rec_start(rec);
    snprintf(loc, sizeof(loc), "/recordings/live/%s", rec->name);
    sim__req_created(r, loc);
    sim__rec_json(r->s, &r->body_out, rec);
}

/* ---------------------------------------------------------------------- */
/* Playbacks */

static struct sim_playback *find_pb(struct sim_req *r)
{
    const char *id = sim__req_path(r, "playbackId");
    struct sim_playback *pb = sim__map_get(&r->s->playbacks, id ? id : "");
    if (pb == NULL) {
        sim__req_error(r, 404, "Not Found", "Playback not found");
    }
    return pb;
}

static void p_get(struct sim_req *r)
{
    struct sim_playback *pb = find_pb(r);
    if (pb != NULL) {
        sim__req_ok(r);
        sim__playback_json(r->s, &r->body_out, pb);
    }
}

static void p_stop(struct sim_req *r)
{
    struct sim_playback *pb = find_pb(r);
    if (pb != NULL) {
        sim__playback_stop(pb);
        sim__req_nocontent(r);
    }
}

static void p_control(struct sim_req *r)
{
    const char *op = sim__req_param(r, "operation");
    struct sim_playback *pb;
    const char *msg = NULL;
    int code;

    if (op == NULL) {
        sim__req_error(r, 400, "Bad Request", "Missing operation");
        return;
    }
    if (strcmp(op, "unpause") != 0 && strcmp(op, "pause") != 0 && strcmp(op, "restart") != 0 &&
        strcmp(op, "reverse") != 0 && strcmp(op, "forward") != 0) {
        sim__req_error(r, 400, "Bad Request", "Invalid operation %s", op);
        return;
    }
    pb = find_pb(r);
    if (pb == NULL) {
        return;
    }
    code = sim__playback_control(pb, op, &msg);
    if (code == 204) {
        sim__req_nocontent(r);
    } else {
        sim__req_error(r, code, code == 409 ? "Conflict" : "Internal Server Error", "%s", msg);
    }
}

/* ---------------------------------------------------------------------- */
/* Recordings */

static struct sim_rec *find_live(struct sim_req *r)
{
    const char *n = sim__req_path(r, "recordingName");
    struct sim_rec *rec = sim__map_get(&r->s->recs, n ? n : "");
    if (rec == NULL) {
        sim__req_error(r, 404, "Not Found", "Recording not found");
    }
    return rec;
}

static void stored_json(struct sim_buf *b, const struct sim_stored *st)
{
    SIM_LIT(b, "{\"name\":");
    sim__buf_jstr(b, st->name);
    SIM_LIT(b, ",\"format\":");
    sim__buf_jstr(b, st->format);
    sim__buf_putc(b, '}');
}

static void r_list_stored(struct sim_req *r)
{
    size_t i = 0;
    struct sim_map_ent *e;
    int first = 1;

    sim__req_ok(r);
    sim__buf_putc(&r->body_out, '[');
    while ((e = sim__map_next(&r->s->stored, &i)) != NULL) {
        if (!first) {
            sim__buf_putc(&r->body_out, ',');
        }
        first = 0;
        stored_json(&r->body_out, e->value);
    }
    sim__buf_putc(&r->body_out, ']');
}

static struct sim_stored *find_stored(struct sim_req *r)
{
    const char *n = sim__req_path(r, "recordingName");
    struct sim_stored *st = sim__map_get(&r->s->stored, n ? n : "");
    if (st == NULL) {
        sim__req_error(r, 404, "Not Found", "Recording not found");
    }
    return st;
}

static void r_get_stored(struct sim_req *r)
{
    struct sim_stored *st = find_stored(r);
    if (st != NULL) {
        sim__req_ok(r);
        stored_json(&r->body_out, st);
    }
}

static void free_stored(struct sim_stored *st)
{
    free(st->name);
    free(st->format);
    free(st);
}

static void r_delete_stored(struct sim_req *r)
{
    struct sim_stored *st = find_stored(r);
    if (st != NULL) {
        sim__map_del(&r->s->stored, st->name);
        free_stored(st);
        sim__req_nocontent(r);
    }
}

static void r_copy_stored(struct sim_req *r)
{
    struct sim_stored *st = find_stored(r);
    const char *dest = sim__req_param(r, "destinationRecordingName");
    struct sim_stored *cp;

    if (st == NULL) {
        return;
    }
    if (dest == NULL || dest[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Invalid destination recording name");
        return;
    }
    if (sim__map_get(&r->s->stored, dest) != NULL) {
        sim__req_error(r, 409, "Conflict", "A recording with the same name already exists");
        return;
    }
    cp = calloc(1, sizeof(*cp));
    if (cp == NULL) {
        abort();
    }
    cp->name = strdup(dest);
    cp->format = strdup(st->format);
    cp->seconds = st->seconds;
    if (cp->name == NULL || cp->format == NULL) {
        abort();
    }
    sim__map_put(&r->s->stored, cp->name, cp);
    sim__req_ok(r);
    stored_json(&r->body_out, cp);
}

static void r_get_live(struct sim_req *r)
{
    struct sim_rec *rec = find_live(r);
    if (rec != NULL) {
        sim__req_ok(r);
        sim__rec_json(r->s, &r->body_out, rec);
    }
}

static void r_cancel(struct sim_req *r)
{
    struct sim_rec *rec = find_live(r);
    if (rec != NULL) {
        sim__req_nocontent(r);
        sim__rec_stop(rec, 1);
    }
}

static void r_stop(struct sim_req *r)
{
    struct sim_rec *rec = find_live(r);
    if (rec != NULL) {
        sim__req_nocontent(r);
        sim__rec_stop(rec, 0);
    }
}

static void r_pause(struct sim_req *r)
{
    struct sim_rec *rec = find_live(r);
    if (rec != NULL) {
        if (rec->state != REC_RECORDING && rec->state != REC_PAUSED) {
            sim__req_error(r, 409, "Conflict", "Recording not in session");
            return;
        }
        sim__rec_pause(rec, r->method == SIM_M_POST);
        sim__req_nocontent(r);
    }
}

static void r_mute(struct sim_req *r)
{
    struct sim_rec *rec = find_live(r);
    if (rec != NULL) {
        rec->muted = r->method == SIM_M_POST;
        sim__req_nocontent(r);
    }
}

/* ---------------------------------------------------------------------- */
/* Applications */

static void app_json(struct sim *s, struct sim_buf *b, const struct sim_app *a)
{
    size_t i = 0;
    struct sim_map_ent *e;
    int first = 1;

    SIM_LIT(b, "{\"name\":");
    sim__buf_jstr(b, a->name);
    SIM_LIT(b, ",\"channel_ids\":[");
    if (a->subscribe_all) {
        SIM_LIT(b, "\"__AST_CHANNEL_ALL_TOPIC\"");
    } else {
        while ((e = sim__map_next(&s->chans, &i)) != NULL) {
            const struct sim_chan *c = e->value;
            int sub = c->stasis_app == a;
            for (int k = 0; k < c->nsubs && !sub; k++) {
                sub = c->subs[k] == a;
            }
            if (sub) {
                if (!first) {
                    sim__buf_putc(b, ',');
                }
                first = 0;
                sim__buf_jstr(b, c->id);
            }
        }
    }
    SIM_LIT(b, "],\"bridge_ids\":[");
    first = 1;
    i = 0;
    if (a->subscribe_all) {
        SIM_LIT(b, "\"__AST_BRIDGE_ALL_TOPIC\"");
    } else {
        while ((e = sim__map_next(&s->bridges, &i)) != NULL) {
            const struct sim_bridge *br = e->value;
            for (int k = 0; k < br->nsubs; k++) {
                if (br->subs[k] == a) {
                    if (!first) {
                        sim__buf_putc(b, ',');
                    }
                    first = 0;
                    sim__buf_jstr(b, br->id);
                    break;
                }
            }
        }
    }
    if (a->subscribe_all) {
        SIM_LIT(b, "],\"endpoint_ids\":[\"__AST_ENDPOINT_ALL_TOPIC\"],\"device_names\":"
                   "[\"__AST_DEVICE_STATE_ALL_TOPIC\"]");
    } else {
        SIM_LIT(b, "],\"endpoint_ids\":[],\"device_names\":[]");
    }
    SIM_LIT(b, ",\"events_allowed\":[],\"events_disallowed\":[]}");
}

static int cmp_app(const void *a, const void *b)
{
    const struct sim_app *x = *(struct sim_app *const *)a;
    const struct sim_app *y = *(struct sim_app *const *)b;
    return strcmp(x->name, y->name);
}

static void a_list(struct sim_req *r)
{
    size_t i = 0, n = 0;
    struct sim_map_ent *e;
    struct sim_app **v = calloc(r->s->apps.n + 1, sizeof(*v));

    if (v == NULL) {
        abort();
    }
    while ((e = sim__map_next(&r->s->apps, &i)) != NULL) {
        if (sim__app_active(e->value)) {
            v[n++] = e->value;
        }
    }
    qsort(v, n, sizeof(*v), cmp_app);
    sim__req_ok(r);
    sim__buf_putc(&r->body_out, '[');
    for (size_t k = 0; k < n; k++) {
        if (k > 0) {
            sim__buf_putc(&r->body_out, ',');
        }
        app_json(r->s, &r->body_out, v[k]);
    }
    sim__buf_putc(&r->body_out, ']');
    free(v);
}

static struct sim_app *find_app(struct sim_req *r)
{
    const char *n = sim__req_path(r, "applicationName");
    struct sim_app *a = sim__app_get(r->s, n ? n : "", 0);
    if (!sim__app_active(a)) {
        sim__req_error(r, 404, "Not Found", "Application not found");
        return NULL;
    }
    return a;
}

static void a_get(struct sim_req *r)
{
    struct sim_app *a = find_app(r);
    if (a != NULL) {
        sim__req_ok(r);
        app_json(r->s, &r->body_out, a);
    }
}

static void a_subscribe(struct sim_req *r)
{
    const char *src = sim__req_param(r, "eventSource");
    int sub = r->method == SIM_M_POST;
    struct sim_app *a;
    char buf[2048], *save = NULL;

    if (src == NULL || src[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Missing parameter eventSource");
        return;
    }
    a = find_app(r);
    if (a == NULL) {
        return;
    }
    snprintf(buf, sizeof(buf), "%s", src);
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (strncmp(t, "channel:", 8) == 0) {
            struct sim_chan *c = sim__chan_find(r->s, t + 8);
            if (c == NULL) {
                sim__req_error(r, 422, "Unprocessable Entity",
                               sub ? "Event source does not exist"
                                   : "Event source was not subscribed to");
                return;
            }
            if (sub) {
                sim__chan_subscribe(c, a);
            } else {
                for (int k = 0; k < c->nsubs; k++) {
                    if (c->subs[k] == a) {
                        c->subs[k] = c->subs[--c->nsubs];
                        break;
                    }
                }
            }
        } else if (strncmp(t, "bridge:", 7) == 0) {
            struct sim_bridge *br = sim__map_get(&r->s->bridges, t + 7);
            if (br == NULL) {
                sim__req_error(r, 422, "Unprocessable Entity",
                               sub ? "Event source does not exist"
                                   : "Event source was not subscribed to");
                return;
            }
            if (sub) {
                sim__bridge_subscribe(br, a);
            }
        } else if (strncmp(t, "endpoint:", 9) != 0 && strncmp(t, "deviceState:", 12) != 0) {
            sim__req_error(r, 400, "Bad Request", "Invalid event source URI scheme");
            return;
        }
    }
    sim__req_ok(r);
    app_json(r->s, &r->body_out, a);
}

/* ---------------------------------------------------------------------- */
/* Asterisk */

static void s_info(struct sim_req *r)
{
    struct sim *s = r->s;
    const char *only = sim__req_param(r, "only");
    char st[40], rl[40];
    int first = 1;

#define WANT(x) (only == NULL || only[0] == '\0' || strstr(only, x) != NULL)
    sim__format_time(s->startup_wall_us, st, sizeof(st));
    sim__format_time(s->reload_wall_us, rl, sizeof(rl));
    sim__req_ok(r);
    sim__buf_putc(&r->body_out, '{');
    if (WANT("build")) {
        SIM_LIT(&r->body_out, "\"build\":{\"os\":\"Linux\",\"kernel\":\"6.1.0\",\"machine\":"
                              "\"x86_64\",\"options\":\"OPTIONAL_API\",\"date\":"
                              "\"2026-11-24 11:37:25 UTC\",\"user\":\"root\"}");
        first = 0;
    }
    if (WANT("system")) {
        sim__buf_printf(&r->body_out, "%s\"system\":{\"version\":", first ? "" : ",");
        sim__buf_jstr(&r->body_out, s->version);
        SIM_LIT(&r->body_out, ",\"entity_id\":");
        sim__buf_jstr(&r->body_out, s->asterisk_id);
        sim__buf_putc(&r->body_out, '}');
        first = 0;
    }
    if (WANT("config")) {
        sim__buf_printf(&r->body_out, "%s\"config\":{\"name\":", first ? "" : ",");
        sim__buf_jstr(&r->body_out, s->system_name ? s->system_name : "");
        SIM_LIT(&r->body_out, ",\"default_language\":\"en\",\"setid\":{\"user\":\"\",\"group\":"
                              "\"\"},\"max_channels\":100000,\"max_open_files\":65536}");
        first = 0;
    }
    if (WANT("status")) {
        sim__buf_printf(&r->body_out,
                        "%s\"status\":{\"startup_time\":\"%s\",\"last_reload_time\":\"%s\"}",
                        first ? "" : ",", st, rl);
    }
    sim__buf_putc(&r->body_out, '}');
#undef WANT
}

static void s_ping(struct sim_req *r)
{
    sim__req_ok(r);
    SIM_LIT(&r->body_out, "{\"ping\":\"pong\",\"timestamp\":\"");
    sim__buf_puts(&r->body_out, sim__timestamp(r->s));
    SIM_LIT(&r->body_out, "\",\"asterisk_id\":");
    sim__buf_jstr(&r->body_out, r->s->asterisk_id);
    sim__buf_putc(&r->body_out, '}');
}

static void s_get_global(struct sim_req *r)
{
    const char *var = sim__req_param(r, "variable");
    const char *v;

    if (var == NULL || var[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Variable name is required");
        return;
    }
    v = sim__map_get(&r->s->globals, var);
    sim__req_ok(r);
    SIM_LIT(&r->body_out, "{\"value\":");
    sim__buf_jstr(&r->body_out, v ? v : "");
    sim__buf_putc(&r->body_out, '}');
}

static void s_set_global(struct sim_req *r)
{
    const char *var = sim__req_param(r, "variable");
    const char *val = sim__req_param(r, "value");
    char *copy;

    if (var == NULL || var[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Variable name is required");
        return;
    }
    free(sim__map_del(&r->s->globals, var));
    copy = strdup(val ? val : "");
    if (copy == NULL) {
        abort();
    }
    sim__map_put(&r->s->globals, var, copy);
    sim__req_nocontent(r);
}

/* ---------------------------------------------------------------------- */
/* Sounds, endpoints, device states, mailboxes, user events */

static void sound_json(struct sim_buf *b, const char *id, const char *formats)
{
    char list[256], *save = NULL;
    int first = 1;

    SIM_LIT(b, "{\"id\":");
    sim__buf_jstr(b, id);
    SIM_LIT(b, ",\"formats\":[");
    snprintf(list, sizeof(list), "%s", formats ? formats : "gsm,slin");
    for (char *f = strtok_r(list, ",", &save); f != NULL; f = strtok_r(NULL, ",", &save)) {
        sim__buf_printf(b, "%s{\"language\":\"en\",\"format\":", first ? "" : ",");
        sim__buf_jstr(b, f);
        sim__buf_putc(b, '}');
        first = 0;
    }
    SIM_LIT(b, "]}");
}

static void so_list(struct sim_req *r)
{
    const struct sim_scenario *sc = r->s->scenario;
    int first = 1;

    sim__req_ok(r);
    sim__buf_putc(&r->body_out, '[');
    for (int i = 0; i < sc->nmedia; i++) {
        if (strncmp(sc->media[i].uri, "sound:", 6) != 0 || sc->media[i].missing) {
            continue;
        }
        if (!first) {
            sim__buf_putc(&r->body_out, ',');
        }
        first = 0;
        sound_json(&r->body_out, sc->media[i].uri + 6, sc->media[i].formats);
    }
    sim__buf_putc(&r->body_out, ']');
}

static void so_get(struct sim_req *r)
{
    const char *id = sim__req_path(r, "soundId");
    char uri[600];
    int missing, skip;

    snprintf(uri, sizeof(uri), "sound:%s", id ? id : "");
    const struct sim_media *m;

    sim__media_seconds(r->s, uri, &missing, &skip);
    if (missing) {
        sim__req_error(r, 404, "Not Found", "Sound not found");
        return;
    }
    m = sim__scenario_media(r->s->scenario, uri);
    sim__req_ok(r);
    sound_json(&r->body_out, id ? id : "", m ? m->formats : NULL);
}

static void empty_list(struct sim_req *r)
{
    sim__req_ok(r);
    SIM_LIT(&r->body_out, "[]");
}

static void ep_get(struct sim_req *r)
{
    sim__req_error(r, 404, "Not Found", "Endpoint not found");
}

static void ep_list_tech(struct sim_req *r)
{
    const char *tech = sim__req_path(r, "tech");
    if (tech != NULL && (strcmp(tech, "PJSIP") == 0 || strcmp(tech, "Local") == 0)) {
        empty_list(r);
        return;
    }
    sim__req_error(r, 404, "Not Found", "No Endpoints found - invalid tech %s", tech ? tech : "");
}

static void ds_get(struct sim_req *r)
{
    sim__req_error(r, 404, "Not Found", "Device state not found");
}

static void ds_noop(struct sim_req *r)
{
    sim__req_nocontent(r);
}

static void mb_get(struct sim_req *r)
{
    sim__req_error(r, 404, "Not Found", "Mailbox is does not exist");
}

static void ev_user(struct sim_req *r)
{
    struct sim *s = r->s;
    const char *name = sim__req_path(r, "eventName");
    const char *app_name = sim__req_param(r, "application");
    const char *source = sim__req_param(r, "source");
    struct sim_app *a;
    struct sim_rcpt rc = { .n = 0 };
    json_t *vars = r->body ? json_object_get(r->body, "variables") : NULL;
    const char *k;
    json_t *v;

    if (app_name == NULL || app_name[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Missing parameter application");
        return;
    }
    a = sim__app_get(s, app_name, 0);
    if (!sim__app_active(a)) {
        sim__req_error(r, 404, "Not Found", "Application not found");
        return;
    }
    sim__rcpt_add(&rc, a);
    sim__ev_begin(s, NULL, "ChannelUserevent");
    SIM_LIT(&s->ev, ",\"eventname\":");
    sim__buf_jstr(&s->ev, name);
    if (source != NULL && strncmp(source, "channel:", 8) == 0) {
        struct sim_chan *c = sim__chan_find(s, source + 8);
        if (c == NULL) {
            sim__req_error(r, 422, "Unprocessable Entity", "Event source not found");
            return;
        }
        SIM_LIT(&s->ev, ",\"channel\":");
        sim__chan_json(s, &s->ev, c);
    }
    SIM_LIT(&s->ev, ",\"userevent\":{");
    json_object_foreach (vars, k, v) {
        if (json_is_string(v)) {
            sim__buf_jstr(&s->ev, k);
            sim__buf_putc(&s->ev, ':');
            sim__buf_jstr(&s->ev, json_string_value(v));
            sim__buf_putc(&s->ev, ',');
        }
    }
    SIM_LIT(&s->ev, "\"eventname\":");
    sim__buf_jstr(&s->ev, name);
    sim__buf_putc(&s->ev, '}');
    sim__ev_send(s, &rc);
    sim__req_nocontent(r);
}

struct row {
    const char *key;
    sim_handler *h;
};

static const struct row rows[] = {
    { "bridges.list", b_list },
    { "bridges.create", b_create },
    { "bridges.createWithId", b_create_with_id },
    { "bridges.get", b_get },
    { "bridges.destroy", b_destroy },
    { "bridges.addChannel", b_add },
    { "bridges.removeChannel", b_remove },
    { "bridges.startMoh", b_noop },
    { "bridges.stopMoh", b_noop },
    { "bridges.setVideoSource", b_noop },
    { "bridges.clearVideoSource", b_noop },
    { "bridges.play", b_play },
    { "bridges.playWithId", b_play_with_id },
    { "bridges.record", b_record },
    { "playbacks.get", p_get },
    { "playbacks.stop", p_stop },
    { "playbacks.control", p_control },
    { "recordings.listStored", r_list_stored },
    { "recordings.getStored", r_get_stored },
    { "recordings.deleteStored", r_delete_stored },
    { "recordings.copyStored", r_copy_stored },
    { "recordings.getLive", r_get_live },
    { "recordings.cancel", r_cancel },
    { "recordings.stop", r_stop },
    { "recordings.pause", r_pause },
    { "recordings.unpause", r_pause },
    { "recordings.mute", r_mute },
    { "recordings.unmute", r_mute },
    { "applications.list", a_list },
    { "applications.get", a_get },
    { "applications.subscribe", a_subscribe },
    { "applications.unsubscribe", a_subscribe },
    { "asterisk.getInfo", s_info },
    { "asterisk.ping", s_ping },
    { "asterisk.getGlobalVar", s_get_global },
    { "asterisk.setGlobalVar", s_set_global },
    { "sounds.list", so_list },
    { "sounds.get", so_get },
    { "endpoints.list", empty_list },
    { "endpoints.listByTech", ep_list_tech },
    { "endpoints.get", ep_get },
    { "deviceStates.list", empty_list },
    { "deviceStates.get", ds_get },
    { "deviceStates.update", ds_noop },
    { "deviceStates.delete", ds_noop },
    { "mailboxes.list", empty_list },
    { "mailboxes.get", mb_get },
    { "mailboxes.update", ds_noop },
    { "mailboxes.delete", ds_noop },
    { "events.userEvent", ev_user },
};

sim_handler *sim__rest_other(const char *key);

sim_handler *sim__rest_other(const char *key)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (strcmp(rows[i].key, key) == 0) {
            return rows[i].h;
        }
    }
    return NULL;
}
