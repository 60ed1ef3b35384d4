/* SPDX-License-Identifier: MIT */
/*
 * rest_channels: the /channels operations.
 *
 * Checks run in the order res/ari/resource_channels.c runs them, with the
 * same status codes, reason phrases and messages: 404 "Channel not found"
 * for an unknown channel, 409 "Channel not in Stasis application" for a
 * channel that exists but is not in Stasis, 412 "Channel in invalid state"
 * for a channel in Stasis that is Down, Rsrvd or Ringing (answer, ring,
 * play, dtmf, continue, redirect, hold, moh, silence, mute). DELETE works on
 * any channel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/sim_int.h"

/* Decimal integer prefix of s (0 when none); strtol saturates instead of the
 * undefined behaviour of atoi on overflow. */
static inline long strtol_dec(const char *s)
{
    return strtol(s, NULL, 10);
}

static struct sim_chan *find_any(struct sim_req *r, const char *id)
{
    struct sim_chan *c = sim__chan_find(r->s, id ? id : "");
    if (c == NULL || c->hanging) {
        sim__req_error(r, 404, "Not Found", "Channel not found");
        return NULL;
    }
    return c;
}

/* find_control(): in Stasis, else 404 / 409. */
static struct sim_chan *find_control(struct sim_req *r)
{
    struct sim_chan *c = find_any(r, sim__req_path(r, "channelId"));
    if (c == NULL) {
        return NULL;
    }
    if (c->stasis == STASIS_NONE) {
        sim__req_error(r, 409, "Conflict", "Channel not in Stasis application");
        return NULL;
    }
    return c;
}

static int state_invalid(struct sim_req *r, const struct sim_chan *c)
{
    if (c->state == CS_DOWN || c->state == CS_RSRVD || c->state == CS_RINGING) {
        sim__req_error(r, 412, "Precondition Failed", "Channel in invalid state");
        return 1;
    }
    return 0;
}

static struct sim_chan *control_ready(struct sim_req *r)
{
    struct sim_chan *c = find_control(r);
    if (c == NULL || state_invalid(r, c)) {
        return NULL;
    }
    return c;
}

static void chan_body(struct sim_req *r, const struct sim_chan *c)
{
    sim__req_ok(r);
    sim__chan_json(r->s, &r->body_out, c);
}

/* ---------------------------------------------------------------------- */

static void h_list(struct sim_req *r)
{
    size_t i = 0;
    struct sim_map_ent *e;
    int first = 1;

    sim__req_ok(r);
    sim__buf_putc(&r->body_out, '[');
    while ((e = sim__map_next(&r->s->chans, &i)) != NULL) {
        const struct sim_chan *c = e->value;
        if (c->destroyed) {
            continue;
        }
        if (!first) {
            sim__buf_putc(&r->body_out, ',');
        }
        first = 0;
        sim__chan_json(r->s, &r->body_out, c);
    }
    sim__buf_putc(&r->body_out, ']');
}

static void h_get(struct sim_req *r)
{
    struct sim_chan *c = sim__chan_find(r->s, sim__req_path(r, "channelId"));
    if (c == NULL) {
        sim__req_error(r, 404, "Not Found", "Channel not found");
        return;
    }
    chan_body(r, c);
}

static json_t *body_variables(struct sim_req *r, int *bad)
{
    json_t *v = r->body ? json_object_get(r->body, "variables") : NULL;
    const char *k;
    json_t *val;

    *bad = 0;
    if (v == NULL) {
        return NULL;
    }
    if (!json_is_object(v)) {
        sim__req_error(r, 400, "Bad Request", "The 'variables' field must be a JSON object");
        *bad = 1;
        return NULL;
    }
    json_object_foreach (v, k, val) {
        if (json_is_string(val)) {
            continue;
        }
        if (!json_is_object(val)) {
            sim__req_error(r, 400, "Bad Request",
                           "Each value in 'variables' must be a string or an object with "
                           "'value' and optional 'report_events'");
            *bad = 1;
            return NULL;
        }
        if (!json_is_string(json_object_get(val, "value"))) {
            sim__req_error(r, 400, "Bad Request",
                           "Each object value in 'variables' must include string field 'value'");
            *bad = 1;
            return NULL;
        }
        if (json_object_get(val, "report_events") != NULL &&
            !json_is_boolean(json_object_get(val, "report_events"))) {
            sim__req_error(r, 400, "Bad Request",
                           "Field 'report_events' in 'variables' entries must be boolean");
            *bad = 1;
            return NULL;
        }
    }
    return v;
}

static void do_originate(struct sim_req *r, const char *id, int create_only)
{
    struct sim_originate o;
    struct sim_chan *c;
    const char *msg = NULL, *reason = NULL;
    int bad, code;

    memset(&o, 0, sizeof(o));
    o.endpoint = sim__req_param(r, "endpoint");
    o.extension = sim__req_param(r, "extension");
    o.context = sim__req_param(r, "context");
    o.label = sim__req_param(r, "label");
    o.priority = sim__req_int(r, "priority", 0);
    o.app = sim__req_param(r, "app");
    o.app_args = sim__req_param(r, "appArgs");
    o.caller_id = sim__req_param(r, "callerId");
    o.timeout = sim__req_int(r, "timeout", 30);
    o.channel_id = id ? id : sim__req_param(r, "channelId");
    o.other_channel_id = sim__req_param(r, "otherChannelId");
    o.originator = sim__req_param(r, "originator");
    o.formats = sim__req_param(r, "formats");
    o.create_only = create_only;
    o.variables = body_variables(r, &bad);
    if (bad) {
        return;
    }
    if (create_only && (o.app == NULL || o.app[0] == '\0')) {
        /* The swagger makes app required; Asterisk then fails the request. */
        sim__req_error(r, 400, "Bad Request", "app cannot be empty");
        return;
    }
    if (o.label != NULL && o.label[0] != '\0' && !create_only) {
        int prio = (int)strtol_dec(o.label);
        if (prio <= 0) {
            prio = sim__pbx_find_label(r->s->pbx, o.context && o.context[0] ? o.context : "default",
                                       o.extension ? o.extension : "", o.label);
            if (prio < 0) {
                sim__req_error(r, 404, "Not Found", "Requested label can not be found");
                return;
            }
        }
        o.priority = prio;
    }
    code = sim__originate(r->s, &o, &c, &msg, &reason);
    if (code != 0) {
        if (msg == NULL) {
            sim__req_alloc_failed(r);
        } else {
            sim__req_error(r, code, reason, "%s", msg);
        }
        r->s->stats.originate_rejected++;
        return;
    }
    chan_body(r, c);
}

static void h_originate(struct sim_req *r)
{
    do_originate(r, NULL, 0);
}

static void h_originate_with_id(struct sim_req *r)
{
    do_originate(r, sim__req_path(r, "channelId"), 0);
}

static void h_create(struct sim_req *r)
{
    do_originate(r, NULL, 1);
}

static void h_hangup(struct sim_req *r)
{
    struct sim_chan *c = find_any(r, sim__req_path(r, "channelId"));
    const char *reason = sim__req_param(r, "reason");
    const char *code = sim__req_param(r, "reason_code");
    int cause = 16;

    if (c == NULL) {
        return;
    }
    if (reason && reason[0] && code && code[0]) {
        sim__req_error(r, 400, "Bad Request", "The reason and reason_code can't both be specified");
        return;
    }
    if (code && code[0]) {
        char *end;
        long v = strtol(code, &end, 10);
        if (end == code) {
            sim__req_error(r, 400, "Invalid Reason Code",
                           "Invalid reason for hangup reason code provided");
            return;
        }
        cause = (int)v;
    } else if (reason && reason[0]) {
        cause = sim__reason_to_cause(reason);
        if (cause < 0) {
            sim__req_error(r, 400, "Invalid Reason", "Invalid reason for hangup reason provided");
            return;
        }
    }
    sim__hangup(c, cause, 0, HANG_ARI);
    sim__req_nocontent(r);
}

static void h_answer(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    if (c == NULL) {
        return;
    }
    sim__answer(c);
    sim__req_nocontent(r);
}

static void h_ring(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    if (c == NULL) {
        return;
    }
    if (r->method == SIM_M_POST) {
        sim__ring(c);
    }
    sim__req_nocontent(r);
}

/* hold, moh, silence, mute, progress: accepted, nothing visible. */
static void h_noop_control(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    if (c == NULL) {
        return;
    }
    sim__req_nocontent(r);
}

static void h_mute(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    const char *dir = sim__req_param(r, "direction");

    if (c == NULL) {
        return;
    }
    if (dir != NULL && strcmp(dir, "both") != 0 && strcmp(dir, "in") != 0 &&
        strcmp(dir, "out") != 0) {
        sim__req_error(r, 400, "Bad Request", "Invalid direction specified");
        return;
    }
    sim__req_nocontent(r);
}

static void h_dtmf(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    const char *dtmf = sim__req_param(r, "dtmf");

    if (c == NULL) {
        return;
    }
    if (dtmf == NULL || dtmf[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "DTMF is required");
        return;
    }
    sim__dtmf_send(c, dtmf, sim__req_int(r, "before", 0), sim__req_int(r, "between", 100),
                   sim__req_int(r, "duration", 100), sim__req_int(r, "after", 0));
    sim__req_nocontent(r);
}

static void h_continue(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    const char *ctx, *exten, *label;
    int prio;

    if (c == NULL) {
        return;
    }
    ctx = sim__req_param(r, "context");
    exten = sim__req_param(r, "extension");
    label = sim__req_param(r, "label");
    prio = sim__req_int(r, "priority", 0);
    if (ctx == NULL || ctx[0] == '\0') {
        ctx = c->context;
        if (exten == NULL || exten[0] == '\0') {
            exten = c->exten;
        }
    } else if (exten == NULL || exten[0] == '\0') {
        exten = "s";
    }
    if (label != NULL && label[0] != '\0') {
        int ipri = (int)strtol_dec(label);
        if (ipri <= 0 && strspn(label, "0123456789") != strlen(label)) {
            ipri = sim__pbx_find_label(r->s->pbx, ctx, exten, label);
            if (ipri < 0) {
                sim__req_error(r, 404, "Not Found", "Requested label can not be found");
                return;
            }
        }
        if (ipri == 0) {
            sim__req_error(r, 400, "Bad Request", "Requested priority is illegal");
            return;
        }
        prio = ipri;
    } else if (prio == 0) {
        const char *qc = sim__req_param(r, "context");
        if ((qc == NULL || qc[0] == '\0') &&
            (sim__req_param(r, "extension") == NULL || sim__req_param(r, "extension")[0] == '\0')) {
            prio = c->priority + 1;
        } else {
            prio = 1;
        }
    }
    {
        char cbuf[256], ebuf[256];
        snprintf(cbuf, sizeof(cbuf), "%s", ctx);
        snprintf(ebuf, sizeof(ebuf), "%s", exten);
        sim__req_nocontent(r);
        sim__stasis_continue(c, cbuf, ebuf, prio);
    }
}

static void h_move(struct sim_req *r)
{
    struct sim_chan *c = find_control(r);
    const char *app = sim__req_param(r, "app");

    if (c == NULL) {
        return;
    }
    if (app == NULL || app[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "app cannot be empty");
        return;
    }
    if (sim__stasis_move(c, app, sim__req_param(r, "appArgs")) < 0) {
        sim__req_error(r, 500, "Internal Server Error", "Failed to switch Stasis applications");
        return;
    }
    sim__req_nocontent(r);
}

static void h_redirect(struct sim_req *r)
{
    struct sim_chan *c = control_ready(r);
    const char *ep = sim__req_param(r, "endpoint");
    const char *slash;
    const char *tech;

    if (c == NULL) {
        return;
    }
    if (ep == NULL || ep[0] == '\0') {
        sim__req_error(r, 400, "Not Found", "Required parameter 'endpoint' not provided.");
        return;
    }
    slash = strchr(ep, '/');
    if (slash == NULL || slash == ep) {
        sim__req_error(r, 422, "Unprocessable Entity",
                       "Endpoint parameter '%s' does not contain tech/resource", ep);
        return;
    }
    if (slash[1] == '\0') {
        sim__req_error(r, 422, "Unprocessable Entity",
                       "No resource provided in endpoint parameter '%s'", ep);
        return;
    }
    tech = c->tech == TECH_LOCAL ? "Local" : c->tech == TECH_SNOOP ? "Snoop" : "PJSIP";
    if (strncasecmp(tech, ep, (size_t)(slash - ep)) != 0) {
        sim__req_error(r, 422, "Unprocessable Entity",
                       "Endpoint technology '%.*s' does not match channel technology '%s'",
                       (int)(slash - ep), ep, tech);
        return;
    }
    sim__req_nocontent(r);
    /* The far end follows the redirect and leaves this call. */
    sim__far_hangup(c, 16);
}

static void do_play(struct sim_req *r, const char *pb_id)
{
    struct sim_chan *c = control_ready(r);
    const char *media = sim__req_param(r, "media");
    int offset = sim__req_int(r, "offsetms", 0);
    int skip = sim__req_int(r, "skipms", 3000);
    struct sim_playback *pb;
    char loc[600];

    if (c == NULL) {
        return;
    }
    if (skip < 0) {
        sim__req_error(r, 400, "Bad Request", "skipms cannot be negative");
        return;
    }
    if (offset < 0) {
        sim__req_error(r, 400, "Bad Request", "offsetms cannot be negative");
        return;
    }
    if (media == NULL || media[0] == '\0' || strstr(media, ",,") != NULL) {
        sim__req_error(r, 500, "Internal Server Error", "Failed to queue media for playback");
        return;
    }
    if (pb_id != NULL && pb_id[0] != '\0' && sim__map_get(&r->s->playbacks, pb_id) != NULL) {
        sim__req_error(r, 500, "Internal Server Error", "Failed to queue media for playback");
        return;
    }
    pb = sim__playback_new(r->s, pb_id, media, sim__req_param(r, "lang"), offset, skip);
    sim__playback_queue_chan(pb, c);
    snprintf(loc, sizeof(loc), "/playbacks/%s", pb->id);
    sim__req_created(r, loc);
    sim__playback_json(r->s, &r->body_out, pb);
}

static void h_play(struct sim_req *r)
{
    do_play(r, sim__req_param(r, "playbackId"));
}

static void h_play_with_id(struct sim_req *r)
{
    do_play(r, sim__req_path(r, "playbackId"));
}

/* Shared by channels and bridges; target is set by the caller. */
int sim__rest_record_checks(struct sim_req *r, int *terminate, int *if_exists);

int sim__rest_record_checks(struct sim_req *r, int *terminate, int *if_exists)
{
    const char *name = sim__req_param(r, "name");
    const char *format = sim__req_param(r, "format");
    const char *term = sim__req_param(r, "terminateOn");
    const char *ie = sim__req_param(r, "ifExists");
    static const char *const formats[] = { "wav",  "gsm",  "ulaw",   "alaw",    "sln",  "wav49",
                                           "g722", "g729", "siren7", "siren14", "ogg",  "mp3",
                                           "h263", "h264", "vp8",    "ilbc",    "g726", "g723" };
    int known = 0;

    if (sim__req_int(r, "maxDurationSeconds", 0) < 0) {
        sim__req_error(r, 400, "Bad Request", "max_duration_seconds cannot be negative");
        return -1;
    }
    if (sim__req_int(r, "maxSilenceSeconds", 0) < 0) {
        sim__req_error(r, 400, "Bad Request", "max_silence_seconds cannot be negative");
        return -1;
    }
    *terminate = 0;
    if (term == NULL || strcmp(term, "none") == 0) {
        *terminate = 0;
    } else if (strcmp(term, "any") == 0) {
        *terminate = 1;
    } else if (strcmp(term, "*") == 0 || strcmp(term, "#") == 0) {
        *terminate = term[0];
    } else {
        *terminate = -1;
    }
    *if_exists = 0;
    if (ie == NULL || strcmp(ie, "fail") == 0) {
        *if_exists = 0;
    } else if (strcmp(ie, "overwrite") == 0) {
        *if_exists = 1;
    } else if (strcmp(ie, "append") == 0) {
        *if_exists = 2;
    } else {
        *if_exists = -1;
    }
    (void)name;
    for (size_t i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(format, formats[i]) == 0) {
            known = 1;
        }
    }
    if (*terminate < 0) {
        sim__req_error(r, 400, "Bad Request", "terminateOn invalid");
        return -1;
    }
    if (*if_exists < 0) {
        sim__req_error(r, 400, "Bad Request", "ifExists invalid");
        return -1;
    }
    if (!known) {
        sim__req_error(r, 422, "Unprocessable Entity",
                       "specified format is unknown on this system");
        return -1;
    }
    if (name == NULL || name[0] == '\0' || strstr(name, "..") != NULL) {
        sim__req_error(r, 400, "Bad Request", "Recording name invalid");
        return -1;
    }
    if (sim__map_get(&r->s->recs, name) != NULL ||
        (*if_exists == 0 && sim__map_get(&r->s->stored, name) != NULL)) {
        sim__req_error(r, 409, "Conflict",
                       "Recording '%s' already exists and can not be overwritten", name);
        return -1;
    }
    return 0;
}

static void h_record(struct sim_req *r)
{
    struct sim_chan *c;
    struct sim_rec *rec;
    int term, ie;
    char loc[600];

    if (sim__req_int(r, "maxDurationSeconds", 0) < 0 ||
        sim__req_int(r, "maxSilenceSeconds", 0) < 0) {
        sim__rest_record_checks(r, &term, &ie);
        return;
    }
    c = find_control(r);
    if (c == NULL || sim__rest_record_checks(r, &term, &ie) < 0) {
        return;
    }
    if (c->rec != NULL) {
        sim__req_error(r, 409, "Conflict",
                       "Recording '%s' already exists and can not be overwritten",
                       sim__req_param(r, "name"));
        return;
    }
    if (sim__disk(r->s) == SIM_DISK_FULL_MKDIR) {
        /* ast_safe_mkdir fails with ENOSPC: "Unrecognized recording error". */
        sim__req_error(r, 500, "Internal Server Error", "Internal Server Error");
        return;
    }
    rec = sim__rec_new(r->s, sim__req_param(r, "name"), sim__req_param(r, "format"));
    rec->chan = c;
    rec->disk_full = sim__disk(r->s) == SIM_DISK_FULL_WRITE;
    rec->max_us = (int64_t)sim__req_int(r, "maxDurationSeconds", 0) * 1000000;
    rec->max_silence_us = (int64_t)sim__req_int(r, "maxSilenceSeconds", 0) * 1000000;
    rec->terminate_on = term;
    c->rec = rec;
    sim__rec_start(rec);
    snprintf(loc, sizeof(loc), "/recordings/live/%s", rec->name);
    sim__req_created(r, loc);
    sim__rec_json(r->s, &r->body_out, rec);
}

static int read_function(const struct sim_chan *c, const char *var, struct sim_buf *out)
{
    if (strcmp(var, "CHANNEL(state)") == 0) {
        sim__buf_puts(out, sim__cstate_name(c->state));
    } else if (strcmp(var, "CHANNEL(name)") == 0) {
        sim__buf_puts(out, c->name);
    } else if (strcmp(var, "CHANNEL(uniqueid)") == 0) {
        sim__buf_puts(out, c->id);
    } else if (strcmp(var, "CHANNEL(language)") == 0) {
        sim__buf_puts(out, "en");
    } else if (strcmp(var, "CHANNEL(pjsip,call-id)") == 0) {
        sim__buf_puts(out, c->protocol_id);
    } else if (strcmp(var, "CALLERID(num)") == 0 || strcmp(var, "CALLERID(number)") == 0) {
        sim__buf_puts(out, c->caller_num);
    } else if (strcmp(var, "CALLERID(name)") == 0) {
        sim__buf_puts(out, c->caller_name);
    } else if (strcmp(var, "CALLERID(all)") == 0) {
        if (c->caller_name[0] && c->caller_num[0]) {
            sim__buf_printf(out, "\"%s\" <%s>", c->caller_name, c->caller_num);
        } else {
            sim__buf_puts(out, c->caller_name[0] ? c->caller_name : c->caller_num);
        }
    } else if (strcmp(var, "CONNECTEDLINE(num)") == 0) {
        sim__buf_puts(out, c->conn_num);
    } else if (strcmp(var, "CONNECTEDLINE(name)") == 0) {
        sim__buf_puts(out, c->conn_name);
    } else {
        return -1;
    }
    return 0;
}

static int read_var(const struct sim_chan *c, const char *var, struct sim_buf *out)
{
    const char *v;

    if (strcmp(var, "EXTEN") == 0) {
        sim__buf_puts(out, c->exten);
    } else if (strcmp(var, "CONTEXT") == 0) {
        sim__buf_puts(out, c->context);
    } else if (strcmp(var, "PRIORITY") == 0) {
        sim__buf_printf(out, "%d", c->priority);
    } else if (strcmp(var, "CHANNEL") == 0) {
        sim__buf_puts(out, c->name);
    } else if (strcmp(var, "UNIQUEID") == 0) {
        sim__buf_puts(out, c->id);
    } else if ((v = sim__chan_get_var(c, var)) != NULL) {
        sim__buf_puts(out, v);
    } else {
        return -1;
    }
    return 0;
}

static void h_get_var(struct sim_req *r)
{
    const char *var = sim__req_param(r, "variable");
    const char *id = sim__req_path(r, "channelId");
    struct sim_chan *c;
    struct sim_buf v;

    if (var == NULL || var[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Variable name is required");
        return;
    }
    c = sim__chan_find(r->s, id ? id : "");
    if (c == NULL) {
        sim__req_error(r, 404, "Channel Not Found", "Provided channel was not found");
        return;
    }
    sim__buf_init(&v);
    if (var[strlen(var) - 1] == ')') {
        if (read_function(c, var, &v) < 0) {
            sim__req_error(r, 500, "Error With Function", "Unable to read provided function");
            sim__buf_fini(&v);
            return;
        }
    } else if (read_var(c, var, &v) < 0) {
        sim__req_error(r, 404, "Variable Not Found", "Provided variable was not found");
        sim__buf_fini(&v);
        return;
    }
    sim__req_ok(r);
    SIM_LIT(&r->body_out, "{\"value\":");
    sim__buf_jstr(&r->body_out, v.p ? v.p : "");
    sim__buf_putc(&r->body_out, '}');
    sim__buf_fini(&v);
}

static void set_one(struct sim_chan *c, const char *name, const char *value)
{
    if (strcmp(name, "CALLERID(num)") == 0) {
        c->caller_num = sim__chan_strdup(c, value);
        sim__ev_callerid(c);
    } else if (strcmp(name, "CALLERID(name)") == 0) {
        c->caller_name = sim__chan_strdup(c, value);
        sim__ev_callerid(c);
    } else {
        sim__ev_varset(c, name, value);
    }
}

static void h_set_var(struct sim_req *r)
{
    const char *var = sim__req_param(r, "variable");
    struct sim_chan *c;

    if (var == NULL || var[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Variable name is required");
        return;
    }
    c = find_control(r);
    if (c == NULL) {
        return;
    }
    set_one(c, var, sim__req_param(r, "value") ? sim__req_param(r, "value") : "");
    sim__req_nocontent(r);
}

static void h_get_vars(struct sim_req *r)
{
    const char *vars = sim__req_param(r, "variables");
    const char *id = sim__req_path(r, "channelId");
    struct sim_chan *c;
    char buf[2048], *save = NULL;
    int first = 1;

    if (vars == NULL || vars[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "At least one variable name is required");
        return;
    }
    c = sim__chan_find(r->s, id ? id : "");
    if (c == NULL) {
        sim__req_error(r, 404, "Channel Not Found", "Provided channel was not found");
        return;
    }
    sim__req_ok(r);
    SIM_LIT(&r->body_out, "{\"variables\":{");
    snprintf(buf, sizeof(buf), "%s", vars);
    for (char *v = strtok_r(buf, ",", &save); v != NULL; v = strtok_r(NULL, ",", &save)) {
        struct sim_buf val;
        sim__buf_init(&val);
        if ((v[strlen(v) - 1] == ')' ? read_function(c, v, &val) : read_var(c, v, &val)) == 0) {
            if (!first) {
                sim__buf_putc(&r->body_out, ',');
            }
            first = 0;
            sim__buf_jstr(&r->body_out, v);
            sim__buf_putc(&r->body_out, ':');
            sim__buf_jstr(&r->body_out, val.p ? val.p : "");
        }
        sim__buf_fini(&val);
    }
    SIM_LIT(&r->body_out, "}}");
}

static void h_set_vars(struct sim_req *r)
{
    struct sim_chan *c;
    json_t *vars;
    const char *k;
    json_t *v;
    int bad;

    vars = body_variables(r, &bad);
    if (bad) {
        return;
    }
    if (vars == NULL) {
        sim__req_error(r, 400, "Bad Request", "The 'variables' field is required");
        return;
    }
    c = find_control(r);
    if (c == NULL) {
        return;
    }
    json_object_foreach (vars, k, v) {
        const char *val = json_is_string(v) ? json_string_value(v)
                                            : json_string_value(json_object_get(v, "value"));
        set_one(c, k, val ? val : "");
    }
    sim__req_nocontent(r);
}

static void do_snoop(struct sim_req *r, const char *snoop_id)
{
    const char *spy = sim__req_param(r, "spy");
    const char *whisper = sim__req_param(r, "whisper");
    const char *app = sim__req_param(r, "app");
    struct sim_chan *target, *c;
    int spy_none = spy == NULL || spy[0] == '\0' || strcmp(spy, "none") == 0;
    int wh_none = whisper == NULL || whisper[0] == '\0' || strcmp(whisper, "none") == 0;
    static const char *const dirs[] = { "both", "out", "in" };
    int ok;

    ok = spy_none;
    for (int i = 0; i < 3 && !ok; i++) {
        ok = strcmp(spy, dirs[i]) == 0;
    }
    if (!ok) {
        sim__req_error(r, 400, "Bad Request", "Invalid direction specified for spy");
        return;
    }
    ok = wh_none;
    for (int i = 0; i < 3 && !ok; i++) {
        ok = strcmp(whisper, dirs[i]) == 0;
    }
    if (!ok) {
        sim__req_error(r, 400, "Bad Request", "Invalid direction specified for whisper");
        return;
    }
    if (spy_none && wh_none) {
        sim__req_error(r, 400, "Bad Request",
                       "Direction must be specified for at least spy or whisper");
        return;
    }
    if (app == NULL || app[0] == '\0') {
        sim__req_error(r, 400, "Bad Request", "Application name is required");
        return;
    }
    target = sim__chan_find(r->s, sim__req_path(r, "channelId"));
    if (target == NULL || target->hanging) {
        sim__req_error(r, 404, "Channel Not Found", "Provided channel was not found");
        return;
    }
    if (snoop_id != NULL && snoop_id[0] != '\0') {
        const char *msg;
        if (sim__chan_id_check(r->s, snoop_id, &msg) != 0) {
            sim__req_error(r, 500, "Internal error", "Snoop channel could not be created");
            return;
        }
    }
    c = sim__snoop(target, app, sim__req_param(r, "appArgs"), snoop_id);
    if (c == NULL) {
        sim__req_error(r, 500, "Internal error", "Snoop channel could not be created");
        return;
    }
    chan_body(r, c);
}

static void h_snoop(struct sim_req *r)
{
    do_snoop(r, sim__req_param(r, "snoopId"));
}

static void h_snoop_with_id(struct sim_req *r)
{
    do_snoop(r, sim__req_path(r, "snoopId"));
}

static void h_dial(struct sim_req *r)
{
    struct sim_chan *c = find_control(r);
    const char *caller_id = sim__req_param(r, "caller");
    struct sim_chan *caller = NULL;

    if (c == NULL) {
        return;
    }
    if (caller_id != NULL && caller_id[0] != '\0') {
        caller = sim__chan_find(r->s, caller_id);
    }
    if (c->state != CS_DOWN && c->state != CS_RSRVD) {
        sim__req_error(r, 409, "Conflict", "Channel is not in the 'Down' state");
        return;
    }
    if (!c->create_only || c->dialstring == NULL || c->dialing) {
        sim__req_error(r, 409, "Conflict", "Dialing a channel not created by ARI");
        return;
    }
    sim__dial(c, caller, sim__req_int(r, "timeout", 0));
    sim__req_nocontent(r);
}

struct handler_row {
    const char *key;
    sim_handler *h;
};

extern sim_handler *sim__rest_other(const char *key);

static const struct handler_row rows[] = {
    { "channels.list", h_list },
    { "channels.originate", h_originate },
    { "channels.create", h_create },
    { "channels.get", h_get },
    { "channels.originateWithId", h_originate_with_id },
    { "channels.hangup", h_hangup },
    { "channels.continueInDialplan", h_continue },
    { "channels.move", h_move },
    { "channels.redirect", h_redirect },
    { "channels.answer", h_answer },
    { "channels.ring", h_ring },
    { "channels.ringStop", h_ring },
    { "channels.progress", h_noop_control },
    { "channels.sendDTMF", h_dtmf },
    { "channels.mute", h_mute },
    { "channels.unmute", h_mute },
    { "channels.hold", h_noop_control },
    { "channels.unhold", h_noop_control },
    { "channels.startMoh", h_noop_control },
    { "channels.stopMoh", h_noop_control },
    { "channels.startSilence", h_noop_control },
    { "channels.stopSilence", h_noop_control },
    { "channels.play", h_play },
    { "channels.playWithId", h_play_with_id },
    { "channels.record", h_record },
    { "channels.getChannelVar", h_get_var },
    { "channels.setChannelVar", h_set_var },
    { "channels.getChannelVars", h_get_vars },
    { "channels.setChannelVars", h_set_vars },
    { "channels.snoopChannel", h_snoop },
    { "channels.snoopChannelWithId", h_snoop_with_id },
    { "channels.dial", h_dial },
};

sim_handler *sim__rest_handler(const char *key)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (strcmp(rows[i].key, key) == 0) {
            return rows[i].h;
        }
    }
    return sim__rest_other(key);
}
