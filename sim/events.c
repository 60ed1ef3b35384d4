/* SPDX-License-Identifier: MIT */
/*
 * events: applications, subscriptions and the events WebSocket.
 *
 * An application (struct sim_app) is a name that a socket registered with
 * /ari/events?app=...; a second socket registering the same name takes it
 * over and the first one gets ApplicationReplaced. Apps outlive their
 * sockets (channels keep pointing at them); an app without a socket is
 * inactive and its events are dropped, as Asterisk drops them.
 *
 * Who gets an event about a channel (sim__rcpt_chan): the apps subscribed to
 * it explicitly (originate/create/snoop with app=, POST
 * /applications/{app}/subscription), the app it is in Stasis with (implicit
 * subscription, from StasisStart to StasisEnd), and every subscribeAll app.
 * StasisStart and StasisEnd go to the Stasis app only. Recipients are worked
 * out before the event is built, so an event nobody receives costs nothing.
 *
 * An event is serialised once into s->ev (everything up to and excluding
 * the trailing asterisk_id and application keys) and then, per recipient,
 * framed as a WebSocket text frame into the socket's output buffer together
 * with its own tail. Output is written in large chunks when the socket is
 * writable; a socket whose backlog passes SIM_WS_MAX_BACKLOG is dropped, as
 * Asterisk drops a websocket whose writes time out.
 */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "sim/sim_int.h"

#define SIM_WS_MAX_BACKLOG (256u << 20)
#define SIM_WS_CHUNK       (256u << 10)

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        abort();
    }
    return d;
}

struct sim_app *sim__app_get(struct sim *s, const char *name, int create)
{
    struct sim_app *a = sim__map_get(&s->apps, name);

    if (a == NULL && create) {
        a = calloc(1, sizeof(*a));
        if (a == NULL) {
            abort();
        }
        a->name = xstrdup(name);
        /* Every event for this app ends the same way. */
        sim__buf_init(&a->tail);
        SIM_LIT(&a->tail, ",\"asterisk_id\":");
        sim__buf_jstr(&a->tail, s->asterisk_id);
        SIM_LIT(&a->tail, ",\"application\":");
        sim__buf_jstr(&a->tail, name);
        sim__buf_putc(&a->tail, '}');
        sim__map_put(&s->apps, name, a);
    }
    return a;
}

int sim__app_active(const struct sim_app *a)
{
    return a != NULL && a->ws != NULL && !a->ws->drop;
}

void sim__chan_subscribe(struct sim_chan *c, struct sim_app *a)
{
    for (int i = 0; i < c->nsubs; i++) {
        if (c->subs[i] == a) {
            return;
        }
    }
    if (c->nsubs < (int)(sizeof(c->subs) / sizeof(c->subs[0]))) {
        c->subs[c->nsubs++] = a;
    }
}

void sim__bridge_subscribe(struct sim_bridge *br, struct sim_app *a)
{
    for (int i = 0; i < br->nsubs; i++) {
        if (br->subs[i] == a) {
            return;
        }
    }
    if (br->nsubs < (int)(sizeof(br->subs) / sizeof(br->subs[0]))) {
        br->subs[br->nsubs++] = a;
    }
}

void sim__rcpt_add(struct sim_rcpt *r, struct sim_app *a)
{
    if (!sim__app_active(a)) {
        return;
    }
    for (int i = 0; i < r->n; i++) {
        if (r->a[i] == a) {
            return;
        }
    }
    if (r->n < (int)(sizeof(r->a) / sizeof(r->a[0]))) {
        r->a[r->n++] = a;
    }
}

static void rcpt_all(struct sim *s, struct sim_rcpt *r)
{
    for (struct sim_app *a = s->apps_all; a != NULL; a = a->next) {
        sim__rcpt_add(r, a);
    }
}

void sim__rcpt_chan(struct sim *s, struct sim_rcpt *r, const struct sim_chan *c, int stasis_only)
{
    if (stasis_only) {
        sim__rcpt_add(r, c->stasis_app);
        return;
    }
    for (int i = 0; i < c->nsubs; i++) {
        sim__rcpt_add(r, c->subs[i]);
    }
    if (c->stasis != STASIS_NONE) {
        sim__rcpt_add(r, c->stasis_app);
    }
    rcpt_all(s, r);
}

void sim__rcpt_bridge(struct sim *s, struct sim_rcpt *r, const struct sim_bridge *br)
{
    for (int i = 0; i < br->nsubs; i++) {
        sim__rcpt_add(r, br->subs[i]);
    }
    rcpt_all(s, r);
}

/* ---------------------------------------------------------------------- */

static void ev_open(struct sim *s)
{
    sim__buf_reset(&s->ev);
    sim__buf_putc(&s->ev, '{');
}

static void ev_type(struct sim *s, const char *type)
{
    struct sim_buf *b = &s->ev;

    SIM_LIT(b, "\"type\":\"");
    sim__buf_puts(b, type);
    SIM_LIT(b, "\",\"timestamp\":\"");
    sim__buf_puts(b, sim__timestamp(s));
    sim__buf_putc(b, '"');
}

void sim__ev_begin(struct sim *s, const char *blob_prefix, const char *type)
{
    ev_open(s);
    if (blob_prefix != NULL) {
        sim__buf_puts(&s->ev, blob_prefix);
    }
    ev_type(s, type);
}

static void ws_queue(struct sim_ws *w, const char *a, size_t alen, const char *b, size_t blen,
                     const char *c, size_t clen)
{
    size_t len = alen + blen + clen;
    unsigned char hdr[10];
    size_t hlen;
    int was_empty = w->out.len == w->out_off;

    if (w->drop) {
        return;
    }
    hdr[0] = 0x81; /* FIN, text */
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        hlen = 2;
    } else if (len < 65536) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        hlen = 4;
    } else {
        hdr[1] = 127;
        for (int i = 0; i < 8; i++) {
            hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        }
        hlen = 10;
    }
    sim__buf_reserve(&w->out, hlen + len);
    sim__buf_put(&w->out, hdr, hlen);
    sim__buf_put(&w->out, a, alen);
    sim__buf_put(&w->out, b, blen);
    sim__buf_put(&w->out, c, clen);
    w->sim->stats.events++;
    w->sim->stats.event_bytes += len;
    if (w->out.len - w->out_off > SIM_WS_MAX_BACKLOG) {
        LOG_WARN(SIM, "event=ws_backlog_drop bytes=%zu", w->out.len - w->out_off);
        w->drop = 1;
    }
    if (was_empty || w->drop) {
        lws_callback_on_writable(w->wsi);
    }
}

void sim__ev_send(struct sim *s, const struct sim_rcpt *r)
{
    for (int i = 0; i < r->n; i++) {
        struct sim_app *a = r->a[i];
        ws_queue(a->ws, s->ev.p, s->ev.len, a->tail.p, a->tail.len, "", 0);
    }
}

/* ---------------------------------------------------------------------- */

static void chan_field(struct sim *s, const char *key, const struct sim_chan *c)
{
    sim__buf_putc(&s->ev, ',');
    sim__buf_jstr(&s->ev, key);
    sim__buf_putc(&s->ev, ':');
    sim__chan_json(s, &s->ev, c);
}

void sim__ev_chan_simple(struct sim_chan *c, const char *type)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, type);
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_state(struct sim_chan *c, enum sim_cstate st)
{
    if (c->state == st) {
        return;
    }
    c->state = st;
    sim__ev_chan_simple(c, "ChannelStateChange");
}

void sim__ev_varset(struct sim_chan *c, const char *var, const char *value)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__chan_set_var(c, var, value);
    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    ev_open(s);
    SIM_LIT(&s->ev, "\"variable\":");
    sim__buf_jstr(&s->ev, var);
    SIM_LIT(&s->ev, ",\"value\":");
    sim__buf_jstr(&s->ev, value);
    sim__buf_putc(&s->ev, ',');
    ev_type(s, "ChannelVarset");
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_dialplan(struct sim_chan *c, const char *app, const char *data)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    c->app_name = app;
    c->app_data = data;
    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "ChannelDialplan");
    SIM_LIT(&s->ev, ",\"dialplan_app\":");
    sim__buf_jstr(&s->ev, app);
    SIM_LIT(&s->ev, ",\"dialplan_app_data\":");
    sim__buf_jstr(&s->ev, data);
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_chan_callerid(struct sim_chan *c)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "ChannelCallerId");
    SIM_LIT(&s->ev, ",\"caller_presentation\":0,\"caller_presentation_txt\":"
                    "\"Presentation Allowed, Not Screened\"");
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_callerid(struct sim_chan *c)
{
    sim__ev_chan_callerid(c);
    sim__ev_chan_simple(c, "ChannelConnectedLine");
}

void sim__ev_hangup_request(struct sim_chan *c, int cause, int tech_cause, int soft)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };
    char pre[96];

    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    if (tech_cause > 0) {
        snprintf(pre, sizeof(pre), "\"cause\":%d,\"tech_cause\":%d,%s", cause, tech_cause,
                 soft ? "\"soft\":true," : "");
    } else {
        snprintf(pre, sizeof(pre), "\"cause\":%d,%s", cause, soft ? "\"soft\":true," : "");
    }
    sim__ev_begin(s, pre, "ChannelHangupRequest");
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_destroyed(struct sim_chan *c)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "ChannelDestroyed");
    SIM_LIT(&s->ev, ",\"cause\":");
    sim__buf_jint(&s->ev, c->cause);
    SIM_LIT(&s->ev, ",\"cause_txt\":");
    sim__buf_jstr(&s->ev, sim__cause_txt(c->cause));
    if (c->tech_cause > 0) {
        SIM_LIT(&s->ev, ",\"tech_cause\":");
        sim__buf_jint(&s->ev, c->tech_cause);
    }
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_dial(struct sim_chan *peer, const char *status)
{
    struct sim *s = peer->sim;
    struct sim_rcpt r = { .n = 0 };
    struct sim_chan *caller = peer->dial_caller ? sim__chan_find(s, peer->dial_caller) : NULL;

    sim__rcpt_chan(s, &r, peer, 0);
    if (caller != NULL) {
        sim__rcpt_chan(s, &r, caller, 0);
    }
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "Dial");
    SIM_LIT(&s->ev, ",\"dialstatus\":");
    sim__buf_jstr(&s->ev, status);
    SIM_LIT(&s->ev, ",\"forward\":\"\",\"dialstring\":");
    sim__buf_jstr(&s->ev, peer->dialstring);
    if (caller != NULL) {
        chan_field(s, "caller", caller);
    }
    chan_field(s, "peer", peer);
    sim__ev_send(s, &r);
}

void sim__ev_dtmf(struct sim_chan *c, char digit, int duration_ms)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };
    char d[2] = { digit, '\0' };

    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "ChannelDtmfReceived");
    SIM_LIT(&s->ev, ",\"digit\":");
    sim__buf_jstr(&s->ev, d);
    SIM_LIT(&s->ev, ",\"duration_ms\":");
    sim__buf_jint(&s->ev, duration_ms);
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

static void args_json(struct sim_buf *b, const char *args)
{
    sim__buf_putc(b, '[');
    if (args != NULL && args[0] != '\0') {
        const char *p = args;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            char tmp[512];
            if (n >= sizeof(tmp)) {
                n = sizeof(tmp) - 1;
            }
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            sim__buf_jstr(b, tmp);
            if (comma == NULL) {
                break;
            }
            sim__buf_putc(b, ',');
            p = comma + 1;
        }
    }
    sim__buf_putc(b, ']');
}

void sim__ev_stasis_start(struct sim_chan *c)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_chan(s, &r, c, 1);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "StasisStart");
    SIM_LIT(&s->ev, ",\"args\":");
    args_json(&s->ev, c->stasis_args);
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_stasis_end(struct sim_chan *c)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_chan(s, &r, c, 1);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, "StasisEnd");
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

void sim__ev_playback(struct sim_playback *pb, const char *type)
{
    struct sim *s = pb->sim;
    struct sim_rcpt r = { .n = 0 };

    if (pb->chan != NULL) {
        sim__rcpt_chan(s, &r, pb->chan, 0);
    } else if (pb->bridge != NULL) {
        sim__rcpt_bridge(s, &r, pb->bridge);
    }
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, type);
    SIM_LIT(&s->ev, ",\"playback\":");
    sim__playback_json(s, &s->ev, pb);
    sim__ev_send(s, &r);
}

void sim__ev_recording(struct sim_rec *rec, const char *type)
{
    struct sim *s = rec->sim;
    struct sim_rcpt r = { .n = 0 };

    if (rec->chan != NULL) {
        sim__rcpt_chan(s, &r, rec->chan, 0);
    } else if (rec->bridge != NULL) {
        sim__rcpt_bridge(s, &r, rec->bridge);
    }
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, type);
    SIM_LIT(&s->ev, ",\"recording\":");
    sim__rec_json(s, &s->ev, rec);
    sim__ev_send(s, &r);
}

void sim__ev_bridge(struct sim_bridge *br, const char *type)
{
    struct sim *s = br->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_bridge(s, &r, br);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, type);
    SIM_LIT(&s->ev, ",\"bridge\":");
    sim__bridge_json(s, &s->ev, br);
    sim__ev_send(s, &r);
}

void sim__ev_bridge_chan(struct sim_bridge *br, struct sim_chan *c, const char *type)
{
    struct sim *s = br->sim;
    struct sim_rcpt r = { .n = 0 };

    sim__rcpt_bridge(s, &r, br);
    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    sim__ev_begin(s, NULL, type);
    SIM_LIT(&s->ev, ",\"bridge\":");
    sim__bridge_json(s, &s->ev, br);
    chan_field(s, "channel", c);
    sim__ev_send(s, &r);
}

/* ---------------------------------------------------------------------- */

static void rebuild_all(struct sim *s)
{
    size_t i = 0;
    struct sim_map_ent *e;

    s->apps_all = NULL;
    while ((e = sim__map_next(&s->apps, &i)) != NULL) {
        struct sim_app *a = e->value;
        a->next = NULL;
        if (a->subscribe_all && a->ws != NULL) {
            a->next = s->apps_all;
            s->apps_all = a;
        }
    }
}

static void send_replaced(struct sim *s, struct sim_ws *old, const char *app)
{
    struct sim_buf b;

    sim__buf_init(&b);
    SIM_LIT(&b, "{\"type\":\"ApplicationReplaced\",\"timestamp\":\"");
    sim__buf_puts(&b, sim__timestamp(s));
    SIM_LIT(&b, "\",\"application\":");
    sim__buf_jstr(&b, app);
    SIM_LIT(&b, ",\"asterisk_id\":");
    sim__buf_jstr(&b, s->asterisk_id);
    sim__buf_putc(&b, '}');
    ws_queue(old, b.p, b.len, "", 0, "", 0);
    sim__buf_fini(&b);
}

struct sim_ws *sim__ws_new(struct sim *s, struct lws *wsi, const char *apps, int subscribe_all)
{
    struct sim_ws *w = calloc(1, sizeof(*w));
    char *list, *save = NULL;

    if (w == NULL) {
        abort();
    }
    w->sim = s;
    w->wsi = wsi;
    w->subscribe_all = subscribe_all;
    sim__buf_init(&w->out);
    sim__buf_reserve(&w->out, LWS_PRE);
    w->out.len = LWS_PRE; /* lws may use the bytes before what we write */
    w->out_off = LWS_PRE;
    list = xstrdup(apps);
    for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        struct sim_app *a;
        char **names;
        if (tok[0] == '\0') {
            continue;
        }
        a = sim__app_get(s, tok, 1);
        if (a->ws != NULL && a->ws != w) {
            send_replaced(s, a->ws, a->name);
        }
        a->ws = w;
        a->subscribe_all = subscribe_all;
        names = realloc(w->apps, sizeof(*names) * (size_t)(w->napps + 1));
        if (names == NULL) {
            abort();
        }
        w->apps = names;
        w->apps[w->napps++] = xstrdup(tok);
    }
    free(list);
    w->next = s->sockets;
    s->sockets = w;
    s->stats.ws_connects++;
    rebuild_all(s);
    LOG_INFO(SIM, "event=ws_open apps=%s subscribe_all=%d", apps, subscribe_all);
    return w;
}

void sim__ws_closed(struct sim_ws *w)
{
    struct sim *s = w->sim;

    for (int i = 0; i < w->napps; i++) {
        struct sim_app *a = sim__app_get(s, w->apps[i], 0);
        if (a != NULL && a->ws == w) {
            a->ws = NULL;
        }
        free(w->apps[i]);
    }
    free(w->apps);
    for (struct sim_ws **pp = &s->sockets; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    rebuild_all(s);
    sim__buf_fini(&w->out);
    LOG_INFO(SIM, "event=ws_closed");
    free(w);
}

int sim__ws_writable(struct sim_ws *w)
{
    size_t pending = w->out.len - w->out_off;
    size_t chunk;
    int n;

    if (w->drop) {
        /* Abrupt: no close frame, the peer sees the TCP connection go. */
        int fd = lws_get_socket_fd(w->wsi);
        if (fd >= 0) {
            shutdown(fd, SHUT_RDWR);
        }
        return -1;
    }
    if (pending == 0) {
        return 0;
    }
    chunk = pending > SIM_WS_CHUNK ? SIM_WS_CHUNK : pending;
    n = lws_write(w->wsi, (unsigned char *)w->out.p + w->out_off, chunk, LWS_WRITE_HTTP);
    if (n < 0) {
        return -1;
    }
    w->out_off += chunk;
    if (w->out_off == w->out.len) {
        w->out.len = LWS_PRE;
        w->out_off = LWS_PRE;
    } else if (w->out_off > (4u << 20)) {
        /* Keep LWS_PRE bytes of headroom in front of the unsent data. */
        size_t keep = w->out.len - w->out_off;
        memmove(w->out.p + LWS_PRE, w->out.p + w->out_off, keep);
        w->out.len = LWS_PRE + keep;
        w->out_off = LWS_PRE;
    }
    if (w->out_off != w->out.len) {
        lws_callback_on_writable(w->wsi);
    }
    return 0;
}

void sim__ws_drop_all(struct sim *s)
{
    for (struct sim_ws *w = s->sockets; w != NULL; w = w->next) {
        w->drop = 1;
        lws_callback_on_writable(w->wsi);
    }
}
