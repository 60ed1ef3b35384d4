/* SPDX-License-Identifier: MIT */
/*
 * engine: the call engine.
 *
 * It creates channels for originations and inbound calls, runs the dial
 * (Dial events, ringing, answer, failure, timeout), plays the far ends of
 * non-Local channels from the scenario, moves channels in and out of Stasis
 * and bridges, and tears calls down in the order a real Asterisk 22 emits.
 *
 * The teardown order (verified against the twelve reference captures) is,
 * for a channel C hanging up with cause X:
 *   1. the hang-up request event: HANG_ARI gives {cause:32, soft:true},
 *      HANG_FAR gives {cause:X[, tech_cause]}; the dial engine and timeouts
 *      give none;
 *   2. media stops: the current playback finishes "failed", a recording
 *      finishes;
 *   3. C leaves its bridge (BRIDGEPEER cleared, ChannelLeftBridge);
 *   4. if C is in Stasis: StasisEnd, STASISSTATUS=SUCCESS and, when Stasis
 *      was entered from the dialplan, the dialplan's own end
 *      {cause:16, soft:true}; else if a dialplan app runs, it is interrupted
 *      (PLAYBACKSTATUS for Playback) and the dialplan ends {16, soft};
 *   5. an unfinished ARI dial reports its status from the cause;
 *   6. a Local peer P still up gets {cause:X} and will follow;
 *   7. ChannelDestroyed for C (snapshot shows AppDial2 for outbound legs);
 *   8. P's own teardown (its own cause if its dialplan set one; 0 when it
 *      was in Stasis from the dialplan, as the capture shows).
 * Events for channels that nobody is subscribed to cost nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/sim_int.h"

#define US(sec) ((int64_t)((sec)*1e6))

static void teardown(struct sim_chan *c);
static void far_after_answer(struct sim_chan *c);

/* ---------------------------------------------------------------------- */
/* Endpoints */

void sim__endpoint_number(const char *endpoint, char *buf, size_t len)
{
    const char *res = strchr(endpoint, '/');
    const char *p, *e;

    buf[0] = '\0';
    if (res == NULL) {
        return;
    }
    res++;
    if (strncasecmp(endpoint, "Local/", 6) == 0) {
        e = strchr(res, '@');
        snprintf(buf, len, "%.*s", (int)(e ? e - res : (long)strlen(res)), res);
        return;
    }
    p = strchr(res, '/');
    if (p != NULL) {
        /* PJSIP/trunk/sip:+15550001@carrier;user=phone */
        p++;
        if (strncasecmp(p, "sips:", 5) == 0) {
            p += 5;
        } else if (strncasecmp(p, "sip:", 4) == 0) {
            p += 4;
        } else if (strncasecmp(p, "tel:", 4) == 0) {
            p += 4;
        }
        e = p + strcspn(p, "@;>");
        snprintf(buf, len, "%.*s", (int)(e - p), p);
        return;
    }
    e = strchr(res, '@');
    if (e != NULL) {
        /* PJSIP/+15550001@trunk */
        snprintf(buf, len, "%.*s", (int)(e - res), res);
        return;
    }
    snprintf(buf, len, "%s", res);
}

/* The PJSIP endpoint (channel name part) of a resource. */
static void pjsip_endpoint(const char *res, char *buf, size_t len)
{
    const char *slash = strchr(res, '/');
    const char *at = strchr(res, '@');

    if (slash != NULL) {
        snprintf(buf, len, "%.*s", (int)(slash - res), res);
    } else if (at != NULL) {
        sim__strlcpy(buf, at + 1, len);
    } else {
        sim__strlcpy(buf, res, len);
    }
}

static void parse_callerid(const char *cid, char *name, size_t nlen, char *num, size_t numlen)
{
    const char *lt = strchr(cid, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;

    name[0] = num[0] = '\0';
    if (lt != NULL && gt != NULL) {
        const char *ns = cid, *ne = lt;
        while (ns < ne && (*ns == ' ' || *ns == '"')) {
            ns++;
        }
        while (ne > ns && (ne[-1] == ' ' || ne[-1] == '"')) {
            ne--;
        }
        snprintf(name, nlen, "%.*s", (int)(ne - ns), ns);
        snprintf(num, numlen, "%.*s", (int)(gt - lt - 1), lt + 1);
    } else {
        /* A bare number, or a bare name. */
        int digits = cid[0] != '\0' && strspn(cid, "+0123456789-() ") == strlen(cid);
        snprintf(digits ? num : name, digits ? numlen : nlen, "%s", cid);
    }
    /* Asterisk shrinks phone numbers: drops ( ) - and spaces. */
    if (num[0] != '\0' && strspn(num, "+0123456789-() .") == strlen(num)) {
        char *w = num;
        for (char *r = num; *r; r++) {
            if (*r != '(' && *r != ')' && *r != '-' && *r != ' ' && *r != '.') {
                *w++ = *r;
            }
        }
        *w = '\0';
    }
}

static int known_format(const char *f)
{
    static const char *const fmts[] = {
        "ulaw",   "alaw",    "gsm",     "g722",    "g729",   "g726",    "g726aal2", "g723",
        "ilbc",   "speex",   "speex16", "speex32", "opus",   "slin",    "slin12",   "slin16",
        "slin24", "slin32",  "slin44",  "slin48",  "slin96", "slin192", "lpc10",    "adpcm",
        "siren7", "siren14", "testlaw", "h261",    "h263",   "h263p",   "h264",     "h265",
        "mpeg4",  "vp8",     "vp9",     "jpeg",    "png",    "t140",    "t140red",  "wav",
    };
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        if (strcmp(f, fmts[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Timers of a channel */

static void timeout_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_timeout);
    (void)s;

    if (!c->dialing || c->hanging) {
        return;
    }
    /* Asterisk 22.8+ hangs the dialed channel up with cause 19 and sends
     * neither a final Dial nor a hang-up request. */
    c->dialing = 0;
    sim__hangup(c, 19, 0, HANG_TIMEOUT);
}

static void far_fail(struct sim_chan *c, int sip, int cause)
{
    if (cause <= 0) {
        cause = sim__sip_to_cause(sip);
    }
    sim__hangup(c, cause, sip, HANG_FAR);
}

static int spec_sip(const struct sim_spec *sp)
{
    if (sp->sip > 0) {
        return sp->sip;
    }
    switch (sp->outcome) {
    case OUT_BUSY:
        return 486;
    case OUT_CONGESTION:
        return 503;
    case OUT_REJECTED:
        return 603;
    case OUT_UNALLOCATED:
        return 404;
    case OUT_FAILED:
        return 500;
    case OUT_NOANSWER:
        return 480;
    default:
        return 0;
    }
}

static void answer_outbound(struct sim_chan *c);

static void far_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_far);
    const struct sim_spec *sp = c->spec;
    (void)s;

    if (c->hanging || sp == NULL) {
        return;
    }
    switch (c->far) {
    case FAR_PROGRESS:
        c->far = FAR_IDLE;
        sim__ring(c);
        if (sp->outcome == OUT_NOANSWER) {
            if (sp->giveup.kind != DIST_NONE) {
                c->far = FAR_GIVEUP;
                sim__timer_after(c->sim, &c->t_far, US(sim__dist_draw(&sp->giveup, &c->rng, 60)));
            }
            return;
        }
        c->far = FAR_FINAL;
        sim__timer_after(c->sim, &c->t_far, c->ring_left_us);
        return;
    case FAR_FINAL:
        c->far = FAR_IDLE;
        if (sp->outcome == OUT_ANSWER) {
            answer_outbound(c);
        } else {
            far_fail(c, spec_sip(sp), sp->cause);
        }
        return;
    case FAR_GIVEUP:
        c->far = FAR_IDLE;
        far_fail(c, sp->sip > 0 ? sp->sip : 480, sp->cause);
        return;
    case FAR_TALK:
        c->far = FAR_IDLE;
        sim__hangup(c, sp->hangup_cause > 0 ? sp->hangup_cause : 16, 0, HANG_FAR);
        return;
    case FAR_ABANDON:
        c->far = FAR_IDLE;
        if (c->state != CS_UP) {
            /* The caller cancels: Asterisk answers the INVITE with 487. */
            sim__hangup(c, 127, 487, HANG_FAR);
        }
        return;
    case FAR_IDLE:
        return;
    }
}

static void greet_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_greet);
    (void)s;

    if (c->hanging) {
        return;
    }
    if (!c->far_talking && c->greet_end_us > clock_mono_us()) {
        sim__far_speech(c, 1);
        sim__timer_at(c->sim, &c->t_greet, c->greet_end_us);
    } else if (c->far_talking) {
        sim__far_speech(c, 0);
    }
}

static void dtmf_schedule(struct sim_chan *c);

static void dtmf_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_dtmf);
    const struct sim_dtmf_step *st;
    (void)s;

    if (c->hanging || c->spec == NULL || c->dtmf_step >= c->spec->ndtmf) {
        return;
    }
    st = &c->spec->dtmf[c->dtmf_step];
    sim__dtmf_in(c, st->digits[c->dtmf_digit], 100);
    if (c->hanging) {
        return;
    }
    c->dtmf_digit++;
    if (st->digits[c->dtmf_digit] != '\0') {
        /* SendDTMF spacing: 100 ms digits with 250 ms between them. */
        sim__timer_after(c->sim, &c->t_dtmf, 350000);
        return;
    }
    c->dtmf_step++;
    c->dtmf_digit = 0;
    dtmf_schedule(c);
}

/* Arms the next scripted DTMF step if its reference point has passed. */
static void dtmf_schedule(struct sim_chan *c)
{
    const struct sim_dtmf_step *st;
    double after;

    if (c->spec == NULL || c->dtmf_step >= c->spec->ndtmf || sim__timer_running(&c->t_dtmf)) {
        return;
    }
    st = &c->spec->dtmf[c->dtmf_step];
    if (st->from == DTMF_FROM_ANSWER) {
        if (c->answer_us == 0) {
            return;
        }
    } else if (c->playbacks_started < st->playback) {
        return;
    }
    after = sim__dist_draw(&st->after, &c->rng, 1.0);
    /* The event marks the end of the digit: 100 ms after it starts. */
    sim__timer_after(c->sim, &c->t_dtmf, US(after) + 100000);
}

void sim__far_playback_started(struct sim_chan *c)
{
    c->playbacks_started++;
    if (c->spec != NULL && c->dtmf_step < c->spec->ndtmf &&
        c->spec->dtmf[c->dtmf_step].from == DTMF_FROM_PLAYBACK &&
        c->spec->dtmf[c->dtmf_step].playback == c->playbacks_started) {
        dtmf_schedule(c);
    }
}

static void dtmf_out_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_dtmf_out);
    struct sim_chan *peer = c->peer;
    (void)s;

    if (c->hanging || c->dtmf_out == NULL || c->dtmf_out[0] == '\0') {
        return;
    }
    if (peer != NULL && !peer->hanging) {
        sim__dtmf_in(peer, c->dtmf_out[0], c->dtmf_out_duration_ms);
    }
    if (c->hanging) {
        return;
    }
    c->dtmf_out++;
    if (c->dtmf_out[0] != '\0') {
        sim__timer_after(c->sim, &c->t_dtmf_out,
                         (int64_t)(c->dtmf_out_between_ms + c->dtmf_out_duration_ms) * 1000);
    }
}

void sim__dtmf_send(struct sim_chan *c, const char *digits, int before_ms, int between_ms,
                    int duration_ms, int after_ms)
{
    (void)after_ms;
    c->dtmf_out = sim__chan_strdup(c, digits);
    c->dtmf_out_between_ms = between_ms;
    c->dtmf_out_duration_ms = duration_ms;
    sim__timer_after(c->sim, &c->t_dtmf_out, (int64_t)(before_ms + duration_ms) * 1000);
}

static void teardown_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_teardown);
    (void)s;
    if (!c->destroyed) {
        teardown(c);
    }
}

static void chan_timers(struct sim_chan *c)
{
    c->t_timeout.cb = timeout_cb;
    c->t_far.cb = far_cb;
    c->t_greet.cb = greet_cb;
    c->t_dtmf.cb = dtmf_cb;
    c->t_teardown.cb = teardown_cb;
    sim__timer_init(&c->t_dtmf_out, dtmf_out_cb);
}

/* ---------------------------------------------------------------------- */
/* Stasis */

static char *app_data(struct sim_chan *c, const char *app, const char *args)
{
    struct sim_buf b;
    char *r;

    sim__buf_init(&b);
    sim__buf_puts(&b, app);
    if (args != NULL && args[0] != '\0') {
        sim__buf_putc(&b, ',');
        sim__buf_puts(&b, args);
    }
    r = sim__chan_strdup(c, b.p);
    sim__buf_fini(&b);
    return r;
}

int sim__stasis_enter(struct sim_chan *c, const char *app, const char *args,
                      enum sim_stasis_kind kind)
{
    struct sim_app *a = sim__app_get(c->sim, app, 0);

    if (!c->create_only) {
        c->app_name = "Stasis";
        c->app_data = app_data(c, app, args);
        sim__ev_varset(c, "STASISSTATUS", "");
    }
    if (!sim__app_active(a)) {
        if (!c->create_only) {
            sim__ev_varset(c, "STASISSTATUS", "FAILED");
        }
        LOG_INFO(SIM, "event=stasis_failed app=%s channel=%s", app, c->id);
        return -1;
    }
    c->stasis_app = a;
    c->stasis = kind;
    c->stasis_args = args != NULL ? sim__chan_strdup(c, args) : NULL;
    sim__ev_stasis_start(c);
    return 0;
}

/* StasisEnd and the Stasis app's return; the caller decides what follows. */
static void stasis_leave(struct sim_chan *c)
{
    enum sim_stasis_kind kind = c->stasis;

    sim__ev_stasis_end(c);
    c->stasis = STASIS_NONE;
    c->stasis_app = NULL;
    if (kind == STASIS_PBX) {
        c->was_pbx_stasis = 1;
    }
    if (!c->create_only) {
        sim__ev_varset(c, "STASISSTATUS", "SUCCESS");
    }
}

void sim__stasis_continue(struct sim_chan *c, const char *ctx, const char *exten, int prio)
{
    if (c->bridge != NULL) {
        sim__bridge_leave(c);
    }
    stasis_leave(c);
    c->was_pbx_stasis = 0;
    sim__pbx_start(c, ctx, exten, prio);
}

int sim__stasis_move(struct sim_chan *c, const char *app, const char *args)
{
    struct sim_app *a = sim__app_get(c->sim, app, 0);
    struct sim *s = c->sim;

    if (!sim__app_active(a)) {
        struct sim_rcpt r = { .n = 0 };
        sim__rcpt_chan(s, &r, c, 1);
        if (r.n > 0) {
            sim__ev_begin(s, NULL, "ApplicationMoveFailed");
            SIM_LIT(&s->ev, ",\"channel\":");
            sim__chan_json(s, &s->ev, c);
            SIM_LIT(&s->ev, ",\"destination\":");
            sim__buf_jstr(&s->ev, app);
            SIM_LIT(&s->ev, ",\"args\":[]");
            sim__ev_send(s, &r);
        }
        return -1;
    }
    sim__ev_stasis_end(c);
    c->stasis_app = a;
    c->stasis_args = args ? sim__chan_strdup(c, args) : NULL;
    sim__ev_stasis_start(c);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Answer, ring, DTMF, speech */

static void far_after_answer(struct sim_chan *c)
{
    const struct sim_spec *sp = c->spec;
    double talk, gd, gl;

    if (sp == NULL) {
        return;
    }
    sim__timer_stop(c->sim, &c->t_far);
    c->far = FAR_IDLE;
    if (!sp->talk_forever) {
        talk = sim__dist_draw(&sp->talk, &c->rng, 30.0);
        c->far = FAR_TALK;
        sim__timer_after(c->sim, &c->t_far, US(talk));
    }
    /* The greeting: a short "hello?" for people, a long one for machines. */
    if (sp->amd == AMD_MACHINE) {
        gd = sim__dist_draw(&sp->greet_delay, &c->rng, 0.4);
        gl = sim__dist_draw(&sp->greet_len, &c->rng, 12.0);
    } else {
        gd = sim__dist_draw(&sp->greet_delay, &c->rng, 0.3 + 0.5 * sim__rng_unit(&c->rng));
        gl = sim__dist_draw(&sp->greet_len, &c->rng, 0.5 + 0.5 * sim__rng_unit(&c->rng));
    }
    if (!c->inbound && gl > 0) {
        int64_t now = clock_mono_us();
        c->greet_end_us = now + (int64_t)((double)US(gd + gl) * c->sim->time_scale);
        sim__timer_after(c->sim, &c->t_greet, US(gd));
    }
    dtmf_schedule(c);
}

static void answer_outbound(struct sim_chan *c)
{
    if (c->hanging) {
        return;
    }
    c->answered = 1;
    c->answer_us = clock_mono_us();
    sim__ev_state(c, CS_UP);
    if (c->dialing) {
        c->dialing = 0;
        sim__timer_stop(c->sim, &c->t_timeout);
        sim__ev_dial(c, "ANSWER");
    }
    c->sim->stats.answered++;
    if (c->tech != TECH_LOCAL) {
        far_after_answer(c);
    }
    switch (c->after) {
    case AFTER_STASIS:
        c->after = AFTER_NOTHING;
        if (sim__stasis_enter(c, c->after_app, c->after_args, STASIS_APP) < 0) {
            /* Stasis failed: the originate thread hangs the channel up. */
            sim__hangup(c, 0, 0, HANG_SILENT);
        }
        break;
    case AFTER_PBX:
        c->after = AFTER_NOTHING;
        sim__pbx_start(c, c->after_ctx, c->after_exten, c->after_prio);
        break;
    case AFTER_NOTHING:
        break;
    }
}

void sim__answer(struct sim_chan *c)
{
    if (c->state == CS_UP || c->hanging) {
        return;
    }
    c->answered = 1;
    c->answer_us = clock_mono_us();
    sim__ev_state(c, CS_UP);
    if (c->tech == TECH_LOCAL && c->half == 2 && c->peer != NULL) {
        answer_outbound(c->peer);
    } else if (c->inbound) {
        sim__timer_stop(c->sim, &c->t_far);
        far_after_answer(c);
    }
}

void sim__ring(struct sim_chan *c)
{
    struct sim_chan *dialed = c;

    if (c->tech == TECH_LOCAL && c->half == 2) {
        dialed = c->peer;
    }
    if (dialed == NULL || dialed->hanging || dialed->state == CS_UP) {
        return;
    }
    if (dialed->dialing || dialed->outbound) {
        sim__ev_state(dialed, CS_RINGING);
        if (dialed->dialing) {
            sim__ev_dial(dialed, "RINGING");
        }
    }
}

void sim__dtmf_in(struct sim_chan *c, char digit, int duration_ms)
{
    struct sim_bridge *br;

    sim__ev_dtmf(c, digit, duration_ms);
    if (c->rec != NULL) {
        sim__rec_dtmf(c->rec, digit);
    }
    br = c->bridge;
    if (br == NULL) {
        return;
    }
    /* The bridge passes the digit on; a Local member hands it to its peer. */
    for (int i = 0; i < br->nchans; i++) {
        struct sim_chan *m = br->chans[i];
        if (m == c || m->hanging) {
            continue;
        }
        if (m->tech == TECH_LOCAL && m->peer != NULL && !m->peer->hanging) {
            sim__ev_dtmf(m->peer, digit, duration_ms);
        }
    }
}

void sim__far_speech(struct sim_chan *c, int talking)
{
    if (c->far_talking == talking) {
        return;
    }
    c->far_talking = talking;
    c->far_talk_since = clock_mono_us();
    if (talking && c->rec != NULL) {
        c->rec->heard_voice = 1;
    }
    if (c->pbx) {
        sim__amd_speech(c);
    }
}

void sim__far_answer(struct sim_chan *c)
{
    if (c->tech == TECH_LOCAL && c->half == 1 && c->peer != NULL) {
        sim__answer(c->peer);
    } else if (c->dialing) {
        sim__timer_stop(c->sim, &c->t_far);
        answer_outbound(c);
    }
}

void sim__far_hangup(struct sim_chan *c, int cause)
{
    if (c->tech == TECH_LOCAL && c->peer != NULL) {
        sim__hangup(c->peer, cause, 0, HANG_DIALPLAN);
    } else {
        sim__hangup(c, cause, 0, HANG_FAR);
    }
}

/* ---------------------------------------------------------------------- */
/* Bridges */

static void set_bridgepeers(struct sim_bridge *br)
{
    if (br->holding || br->nchans < 2) {
        return;
    }
    for (int i = 0; i < br->nchans; i++) {
        struct sim_chan *m = br->chans[i];
        struct sim_buf v;
        const char *old;
        sim__buf_init(&v);
        for (int j = 0; j < br->nchans; j++) {
            if (j == i) {
                continue;
            }
            if (v.len > 0) {
                sim__buf_putc(&v, ',');
            }
            sim__buf_puts(&v, br->chans[j]->name);
        }
        old = sim__chan_get_var(m, "BRIDGEPEER");
        if (old == NULL || strcmp(old, v.p) != 0) {
            sim__ev_varset(m, "BRIDGEPEER", v.p);
        }
        sim__buf_fini(&v);
    }
}

void sim__bridge_add(struct sim_bridge *br, struct sim_chan *c)
{
    if (c->bridge == br) {
        return;
    }
    if (c->bridge != NULL) {
        sim__bridge_leave(c);
    }
    if (br->nchans == br->capchans) {
        int cap = br->capchans ? br->capchans * 2 : 4;
        struct sim_chan **v = realloc(br->chans, sizeof(*v) * (size_t)cap);
        if (v == NULL) {
            abort();
        }
        br->chans = v;
        br->capchans = cap;
    }
    br->chans[br->nchans++] = c;
    c->bridge = br;
    if (c->stasis_app != NULL) {
        sim__bridge_subscribe(br, c->stasis_app);
    }
    sim__ev_bridge_chan(br, c, "ChannelEnteredBridge");
    set_bridgepeers(br);
}

void sim__bridge_leave(struct sim_chan *c)
{
    struct sim_bridge *br = c->bridge;
    const char *peer;

    if (br == NULL) {
        return;
    }
    for (int i = 0; i < br->nchans; i++) {
        if (br->chans[i] == c) {
            memmove(&br->chans[i], &br->chans[i + 1],
                    sizeof(br->chans[0]) * (size_t)(br->nchans - i - 1));
            br->nchans--;
            break;
        }
    }
    c->bridge = NULL;
    peer = sim__chan_get_var(c, "BRIDGEPEER");
    if (peer != NULL && peer[0] != '\0') {
        sim__ev_varset(c, "BRIDGEPEER", "");
    }
    sim__ev_bridge_chan(br, c, "ChannelLeftBridge");
}

/* ---------------------------------------------------------------------- */
/* Hang-up */

static const char *final_outcome(const struct sim_chan *c)
{
    if (c->answered) {
        return "answered";
    }
    if (c->cancelled) {
        return "cancelled";
    }
    switch (c->cause) {
    case 17:
        return "busy";
    case 34:
    case 42:
    case 44:
        return "congestion";
    case 21:
        return "rejected";
    case 1:
    case 22:
    case 28:
        return "unallocated";
    case 18:
    case 19:
        return "noanswer";
    case 0:
        if (c->tech == TECH_LOCAL && c->planned == OUT_COUNT_) {
            /* Busy() and Congestion() in the callee dialplan end the
             * originated half with cause 0; the far half tells which. */
            return "failed";
        }
        return "failed";
    default:
        return "failed";
    }
}

static void count_outcome(struct sim *s, const char *name)
{
    for (int o = 0; o < OUT_COUNT_; o++) {
        if (strcmp(name, sim__outcome_name((enum sim_outcome)o)) == 0) {
            s->stats.outcome[o]++;
            return;
        }
    }
}

static void snoops_gone(struct sim_chan *c)
{
    while (c->snoops != NULL) {
        struct sim_chan *sn = c->snoops;
        c->snoops = sn->snoop_next;
        sn->snoop_of = NULL;
        sn->snoop_next = NULL;
        if (!sn->hanging) {
            sim__hangup(sn, 16, 0, HANG_SILENT);
        }
    }
}

static void teardown(struct sim_chan *c)
{
    struct sim *s = c->sim;
    struct sim_chan *peer;

    if (c->destroyed) {
        return;
    }
    sim__timer_stop(s, &c->t_far);
    sim__timer_stop(s, &c->t_greet);
    sim__timer_stop(s, &c->t_dtmf);
    sim__timer_stop(s, &c->t_dtmf_out);
    sim__timer_stop(s, &c->t_timeout);
    sim__timer_stop(s, &c->t_teardown);

    sim__playbacks_chan_gone(c);
    sim__rec_chan_gone(c);
    if (c->bridge != NULL) {
        sim__bridge_leave(c);
    }
    if (c->stasis != STASIS_NONE) {
        enum sim_stasis_kind kind = c->stasis;
        stasis_leave(c);
        if (kind == STASIS_PBX) {
            sim__pbx_stop(c);
            sim__ev_hangup_request(c, 16, 0, 1);
        }
    } else if (c->pbx) {
        if (c->step != NULL && strcasecmp(c->step->app, "Playback") == 0 && c->talking) {
            sim__ev_varset(c, "PLAYBACKSTATUS", "SUCCESS");
        }
        sim__pbx_stop(c);
        sim__ev_hangup_request(c, 16, 0, 1);
    }
    if (c->dialing) {
        c->dialing = 0;
        sim__ev_dial(c, sim__cause_dialstatus(c->cause));
    }
    snoops_gone(c);
    if (c->snoop_of != NULL) {
        for (struct sim_chan **pp = &c->snoop_of->snoops; *pp != NULL; pp = &(*pp)->snoop_next) {
            if (*pp == c) {
                *pp = c->snoop_next;
                break;
            }
        }
        c->snoop_of = NULL;
    }

    peer = c->peer;
    if (peer != NULL) {
        c->peer = NULL;
        peer->peer = NULL;
        if (peer->destroyed) {
            peer = NULL;
        } else if (!peer->hanging) {
            peer->hanging = 1;
            peer->hang_how = HANG_PEER;
            if (!peer->own_cause) {
                peer->cause = c->cause;
            }
            sim__ev_hangup_request(peer, c->cause, 0, 0);
        }
    }

    if (c->hang_how == HANG_PEER && c->was_pbx_stasis) {
        c->cause = 0;
    }
    if (c->outbound) {
        c->app_name = "AppDial2";
        c->app_data = "(Outgoing Line)";
    } else {
        c->app_name = "";
        c->app_data = "";
    }
    sim__ev_destroyed(c);
    s->stats.hangups++;
    if (c->logged) {
        const char *oc = final_outcome(c);
        count_outcome(s, oc);
        sim__olog_end(s, c, oc, c->cause);
    }
    sim__chan_retire(c);

    if (peer != NULL && peer->hanging && !peer->destroyed) {
        teardown(peer);
    }
}

void sim__hangup(struct sim_chan *c, int cause, int tech_cause, int how)
{
    if (c->hanging || c->destroyed) {
        return;
    }
    c->hanging = 1;
    c->hang_how = how;
    switch (how) {
    case HANG_ARI:
        c->cause = cause;
        if (!c->answered && c->outbound) {
            c->cancelled = 1;
        }
        sim__ev_hangup_request(c, 32, 0, 1);
        break;
    case HANG_FAR:
        c->cause = cause;
        c->tech_cause = tech_cause;
        sim__ev_hangup_request(c, cause, tech_cause, 0);
        break;
    case HANG_DIALPLAN:
        c->cause = cause;
        c->own_cause = 1;
        break;
    default:
        if (!c->own_cause) {
            c->cause = cause;
        }
        break;
    }
    teardown(c);
}

/* ---------------------------------------------------------------------- */
/* Origination */

static uint64_t next_attempt(struct sim *s, const char *number)
{
    uintptr_t n = (uintptr_t)sim__map_get(&s->attempts, number);
    sim__map_put(&s->attempts, number, (void *)(n + 1));
    return (uint64_t)n + 1;
}

/* Draws the far end's plan for a non-Local outbound channel. */
static void plan_dial(struct sim_chan *c, const struct sim_spec *sp)
{
    struct sim_scenario *sc = c->scenario;
    double progress, ring;
    int ringing;

    c->spec = sp;
    ringing =
        sp->ringing >= 0 ? sp->ringing : (sp->outcome == OUT_ANSWER || sp->outcome == OUT_NOANSWER);
    progress = sim__dist_draw(
        &sp->progress, &c->rng,
        sim__dist_draw(&sc->progress, &c->rng, 0.05 + 0.15 * sim__rng_unit(&c->rng)));
    ring = sim__dist_draw(&sp->ring, &c->rng, sp->outcome == OUT_ANSWER ? 5.0 : 1.0);
    if (sp->outcome == OUT_NOANSWER) {
        ringing = 1;
    }
    if (ringing) {
        if (ring < progress) {
            ring = progress;
        }
        c->far = FAR_PROGRESS;
        c->ring_left_us = US(ring - progress);
        sim__timer_after(c->sim, &c->t_far, US(progress));
    } else {
        c->far = FAR_FINAL;
        sim__timer_after(c->sim, &c->t_far, US(ring));
    }
}

/* Starts the dial of an outbound channel: Dial "", then the far end. */
static void dial_begin(struct sim_chan *c, int timeout_s)
{
    c->dialing = 1;
    sim__ev_dial(c, "");
    if (timeout_s > 0) {
        sim__timer_after(c->sim, &c->t_timeout, (int64_t)timeout_s * 1000000);
    }
    if (c->tech == TECH_LOCAL) {
        struct sim_chan *far = c->peer;
        if (far != NULL) {
            sim__pbx_start(far, far->context, far->exten, 1);
        }
    } else if (c->spec != NULL) {
        plan_dial(c, c->spec);
    }
}

/* The dial runs after the HTTP answer, as Asterisk's dial thread does. */
static void dial_start_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_far);
    (void)s;

    c->t_far.cb = far_cb;
    if (c->hanging) {
        return;
    }
    dial_begin(c, c->dial_timeout_s);
}

static void local_names(struct sim *s, const char *res, char *n1, char *n2, size_t len, char *ctx,
                        char *exten, size_t clen)
{
    char base[256];
    const char *at;
    const char *opt;

    sim__strlcpy(base, res, sizeof(base));
    opt = strchr(base, '/');
    if (opt != NULL) {
        base[opt - base] = '\0';
    }
    at = strchr(base, '@');
    if (at != NULL) {
        snprintf(exten, clen, "%.*s", (int)(at - base), base);
        snprintf(ctx, clen, "%s", at + 1);
    } else {
        snprintf(exten, clen, "%s", base);
        snprintf(ctx, clen, "default");
    }
    snprintf(n1, len, "Local/%s-%08x;1", base, s->local_seq);
    snprintf(n2, len, "Local/%s-%08x;2", base, s->local_seq);
    s->local_seq++;
}

static void set_callerid(struct sim_chan *c, const char *name, const char *num)
{
    c->caller_name = sim__chan_strdup(c, name);
    c->caller_num = sim__chan_strdup(c, num);
    c->conn_name = c->caller_name;
    c->conn_num = c->caller_num;
}

static int apply_variables(struct sim_chan *c, json_t *vars)
{
    const char *k;
    json_t *v;

    if (vars == NULL) {
        return 0;
    }
    json_object_foreach (vars, k, v) {
        const char *val = json_is_string(v) ? json_string_value(v)
                                            : json_string_value(json_object_get(v, "value"));
        if (val != NULL) {
            sim__ev_varset(c, k, val);
        }
    }
    return 0;
}

int sim__originate(struct sim *s, const struct sim_originate *o, struct sim_chan **out,
                   const char **msg, const char **reason)
{
    char tech[32], res[512], name1[600], name2[600], ctx[256], exten[256], number[256];
    const char *slash;
    struct sim_chan *c, *c2 = NULL;
    int timeout = o->timeout > 0 ? o->timeout : (o->timeout == -1 ? 0 : 30);
    int code;

    *out = NULL;
    *reason = "Bad Request";
    if ((o->channel_id && strlen(o->channel_id) > 149) ||
        (o->other_channel_id && strlen(o->other_channel_id) > 149)) {
        *msg = "Uniqueid length exceeds maximum of 149";
        return 400;
    }
    if (o->endpoint == NULL || o->endpoint[0] == '\0') {
        *msg = "Endpoint must be specified";
        return 400;
    }
    if (o->originator && o->originator[0] && o->formats && o->formats[0]) {
        *msg = "Originator and formats can't both be specified";
        return 400;
    }
    slash = strchr(o->endpoint, '/');
    if (slash == NULL || slash == o->endpoint || slash[1] == '\0' ||
        (size_t)(slash - o->endpoint) >= sizeof(tech)) {
        *msg = "Invalid endpoint specified";
        return 400;
    }
    snprintf(tech, sizeof(tech), "%.*s", (int)(slash - o->endpoint), o->endpoint);
    snprintf(res, sizeof(res), "%s", slash + 1);
    if (!o->create_only && !(o->app && o->app[0]) && !(o->extension && o->extension[0])) {
        *msg = "Application or extension must be specified";
        return 400;
    }
    if (o->originator && o->originator[0] && sim__chan_find(s, o->originator) == NULL &&
        !o->create_only) {
        *msg = "Provided originator channel was not found";
        return 400;
    }
    if (o->formats && o->formats[0]) {
        char fm[256], *save = NULL;
        snprintf(fm, sizeof(fm), "%s", o->formats);
        for (char *f = strtok_r(fm, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            while (*f == ' ') {
                f++;
            }
            if (!known_format(f)) {
                static char m[128];
                snprintf(m, sizeof(m), "Provided format (%s) was not found", f);
                *msg = m;
                return 400;
            }
        }
    }
    if (strcasecmp(tech, "PJSIP") != 0 && strcasecmp(tech, "Local") != 0) {
        *reason = "Internal Server Error";
        *msg = NULL; /* {"error":"Allocation failed"} */
        return 500;
    }
    if (o->channel_id && o->channel_id[0] && (code = sim__chan_id_check(s, o->channel_id, msg))) {
        *reason = code == 409 ? "Conflict" : "Bad Request";
        return code;
    }
    if (o->other_channel_id && o->other_channel_id[0] &&
        (code = sim__chan_id_check(s, o->other_channel_id, msg))) {
        *reason = code == 409 ? "Conflict" : "Bad Request";
        return code;
    }
    sim__endpoint_number(o->endpoint, number, sizeof(number));

    if (strcasecmp(tech, "Local") == 0) {
        local_names(s, res, name1, name2, sizeof(name1), ctx, exten, sizeof(ctx));
        c = sim__chan_alloc(s, o->channel_id, name1, TECH_LOCAL, CS_DOWN);
        c2 = sim__chan_alloc(s, o->other_channel_id, name2, TECH_LOCAL, CS_RING);
        chan_timers(c);
        chan_timers(c2);
        c->half = 1;
        c2->half = 2;
        c->peer = c2;
        c2->peer = c;
        c->context = c2->context = sim__chan_strdup(c, ctx);
        c2->context = sim__chan_strdup(c2, ctx);
        c->exten = sim__chan_strdup(c, exten);
        c2->exten = sim__chan_strdup(c2, exten);
        c->dialstring = sim__chan_strdup(c, res);
        c->planned = OUT_COUNT_;
        sim__ev_chan_simple(c, "ChannelCreated");
        sim__ev_chan_simple(c2, "ChannelCreated");
    } else {
        char ep[256], pname[600], callid[40];
        uint64_t attempt;
        const struct sim_spec *sp;
        struct sim_rng rng;

        attempt = next_attempt(s, number);
        sim__rng_seed(&rng,
                      (uint64_t)s->seed ^ sim__hash64(number, attempt * 0x9e3779b97f4a7c15ULL));
        sp = sim__scenario_pick(s->scenario, number, o->endpoint, &rng);
        if (sp->outcome == OUT_UNREACHABLE) {
            /* The channel cannot be requested: 500 {"error":"Allocation failed"}. */
            s->stats.outcome[OUT_UNREACHABLE]++;
            sim__olog_originate(s, o->channel_id, o->endpoint, number, "unreachable", 0,
                                (int)attempt);
            *reason = "Internal Server Error";
            *msg = NULL;
            return 500;
        }
        pjsip_endpoint(res, ep, sizeof(ep));
        snprintf(pname, sizeof(pname), "PJSIP/%s-%08x", ep, s->pjsip_seq++);
        c = sim__chan_alloc(s, o->channel_id, pname, TECH_PJSIP, CS_DOWN);
        chan_timers(c);
        c->rng = rng;
        c->scenario = s->scenario;
        sim__scenario_ref(c->scenario);
        c->spec = sp;
        c->planned = sp->outcome;
        sim__uuid(s, callid);
        c->protocol_id = sim__chan_strdup(c, callid);
        c->context = sim__chan_strdup(c, s->scenario->endpoint_context);
        c->dialstring = sim__chan_strdup(c, res);
        sim__ev_chan_simple(c, "ChannelCreated");
        c->number = sim__chan_strdup(c, number);
        c->logged = 1;
        sim__olog_originate(s, c->id, o->endpoint, number, sim__outcome_name(sp->outcome),
                            sp->outcome == OUT_ANSWER || sp->outcome == OUT_NOANSWER
                                ? 0
                                : (sp->cause > 0 ? sp->cause : sim__sip_to_cause(spec_sip(sp))),
                            (int)attempt);
    }
    c->outbound = 1;
    c->number = sim__chan_strdup(c, number);
    if (c2 != NULL) {
        c->logged = 1;
        sim__olog_originate(s, c->id, o->endpoint, number, "dialplan", 0, 1);
    }
    if (!o->create_only) {
        c->app_name = "AppDial2";
        c->app_data = "(Outgoing Line)";
        sim__ev_dialplan(c, "AppDial2", "(Outgoing Line)");
    }
    if (o->caller_id && o->caller_id[0]) {
        char cname[128], cnum[128];
        parse_callerid(o->caller_id, cname, sizeof(cname), cnum, sizeof(cnum));
        /* Caller id first, connected line second, each with its event. */
        c->caller_name = sim__chan_strdup(c, cname);
        c->caller_num = sim__chan_strdup(c, cnum);
        sim__ev_chan_callerid(c);
        c->conn_name = c->caller_name;
        c->conn_num = c->caller_num;
        sim__ev_chan_simple(c, "ChannelConnectedLine");
    }
    apply_variables(c, o->variables);
    if (o->app && o->app[0]) {
        struct sim_app *a = sim__app_get(s, o->app, 1);
        sim__chan_subscribe(c, a);
        if (c2 != NULL && !o->create_only) {
            sim__chan_subscribe(c2, a);
        }
    }
    s->stats.originates++;
    *out = c;

    if (c2 != NULL && !sim__pbx_exists(s->pbx, c2->context, c2->exten, 1)) {
        /* The far half has nowhere to go: both halves go at once, cause 0. */
        c->dialing = 0;
        c2->hanging = 1;
        c2->cause = 0;
        c->hanging = 1;
        c->cause = 0;
        c2->app_name = c2->app_data = "";
        sim__ev_destroyed(c2);
        c2->peer = NULL;
        c->peer = NULL;
        sim__chan_retire(c2);
        c->app_name = "AppDial2";
        c->app_data = "(Outgoing Line)";
        sim__ev_destroyed(c);
        if (c->logged) {
            count_outcome(s, "failed");
            sim__olog_end(s, c, "failed", 0);
        }
        sim__chan_retire(c);
        return 0;
    }
    if (c2 != NULL && c->caller_num[0] != '\0') {
        set_callerid(c2, c->caller_name, c->caller_num);
        sim__ev_callerid(c2);
    }

    if (o->create_only) {
        c->create_only = 1;
        c->after = AFTER_NOTHING;
        c->after_app = c->after_args = NULL;
        if (c2 != NULL) {
            c2->create_only = 0;
        }
        /* The channel waits in Stasis for /dial. */
        if (o->app && o->app[0]) {
            c->stasis_args = o->app_args;
            sim__stasis_enter(c, o->app, o->app_args, STASIS_APP);
        }
        return 0;
    }
    if (o->app && o->app[0]) {
        c->after = AFTER_STASIS;
        c->after_app = sim__chan_strdup(c, o->app);
        c->after_args = o->app_args ? sim__chan_strdup(c, o->app_args) : NULL;
    } else {
        c->after = AFTER_PBX;
        c->after_ctx = sim__chan_strdup(c, o->context && o->context[0] ? o->context : "default");
        c->after_exten = sim__chan_strdup(c, o->extension);
        c->after_prio = o->priority > 0 ? o->priority : 1;
    }
    /* Dial after the HTTP answer is out: reuse t_far with a one-shot hook. */
    c->dial_timeout_s = timeout;
    c->t_far.cb = dial_start_cb;
    sim__timer_after(s, &c->t_far, 0);
    return 0;
}

int sim__dial(struct sim_chan *c, struct sim_chan *caller, int timeout)
{
    c->dial_caller = caller != NULL ? sim__chan_strdup(c, caller->id) : NULL;
    if (caller != NULL) {
        c->conn_name = caller->caller_name;
        c->conn_num = caller->caller_num;
    }
    c->after = AFTER_NOTHING;
    c->dial_timeout_s = timeout > 0 ? timeout : 0;
    c->t_far.cb = dial_start_cb;
    sim__timer_after(c->sim, &c->t_far, 0);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Snoop */

struct sim_chan *sim__snoop(struct sim_chan *target, const char *app, const char *args,
                            const char *snoop_id)
{
    struct sim *s = target->sim;
    char name[300];
    struct sim_chan *c;

    snprintf(name, sizeof(name), "Snoop/%s-%08x", target->id, s->snoop_seq++);
    c = sim__chan_alloc(s, snoop_id, name, TECH_SNOOP, CS_UP);
    chan_timers(c);
    c->snoop_of = target;
    c->snoop_next = target->snoops;
    target->snoops = c;
    sim__ev_chan_simple(c, "ChannelCreated");
    sim__chan_subscribe(c, sim__app_get(s, app, 1));
    c->create_only = 1;
    if (sim__stasis_enter(c, app, args, STASIS_APP) < 0) {
        sim__hangup(c, 0, 0, HANG_SILENT);
    }
    return c;
}

/* ---------------------------------------------------------------------- */
/* Inbound callers */

struct sim_gen {
    struct sim *s;
    const struct sim_inbound *g;
    struct sim_scenario *sc;
    int index;
    int64_t placed;
    struct sim_rng rng;
    struct sim_timer t;
};

struct sim_chan *sim__inbound_call(struct sim *s, const struct sim_inbound *g,
                                   const struct sim_spec *spec, const char *caller_num,
                                   struct sim_rng *rng)
{
    char name[300];
    struct sim_chan *c;

    snprintf(name, sizeof(name), "PJSIP/%s-%08x", g->endpoint, s->pjsip_seq++);
    c = sim__chan_alloc(s, NULL, name, TECH_PJSIP, CS_RING);
    chan_timers(c);
    c->inbound = 1;
    if (rng != NULL) {
        c->rng = *rng;
    } else {
        sim__rng_seed(&c->rng, (uint64_t)s->seed ^ sim__hash64(c->id, 7));
    }
    c->scenario = s->scenario;
    sim__scenario_ref(c->scenario);
    c->spec = spec;
    {
        char callid[40];
        sim__uuid(s, callid);
        c->protocol_id = sim__chan_strdup(c, callid);
    }
    c->caller_name = sim__chan_strdup(c, g->caller_name);
    c->caller_num = sim__chan_strdup(c, caller_num);
    c->context = sim__chan_strdup(c, g->context);
    c->exten = sim__chan_strdup(c, g->extension);
    s->stats.inbound++;
    sim__ev_chan_simple(c, "ChannelCreated");
    if (spec != NULL && spec->abandon.kind != DIST_NONE) {
        c->far = FAR_ABANDON;
        sim__timer_after(s, &c->t_far, US(sim__dist_draw(&spec->abandon, &c->rng, 30)));
    }
    if (sim__pbx_exists(s->pbx, c->context, c->exten, 1)) {
        sim__pbx_start(c, c->context, c->exten, 1);
    } else {
        /* What exten => X,1,Stasis(app,${EXTEN}) would do. */
        c->pbx = 1;
        c->step = NULL;
        c->priority = 1;
        sim__ev_dialplan(c, "Stasis", app_data(c, g->app, g->extension));
        if (sim__stasis_enter(c, g->app, g->extension, STASIS_PBX) < 0) {
            c->pbx = 0;
            sim__hangup(c, 0, 0, HANG_DIALPLAN);
            c->own_cause = 0;
        }
    }
    return c;
}

static void gen_schedule(struct sim_gen *gen)
{
    double gap;

    if (gen->g->max >= 0 && gen->placed >= gen->g->max) {
        return;
    }
    if (gen->g->rate > 0) {
        gap = -log(1.0 - sim__rng_unit(&gen->rng)) / gen->g->rate;
    } else if (gen->g->interval > 0) {
        gap = gen->g->interval;
    } else {
        return;
    }
    sim__timer_after(gen->s, &gen->t, US(gap));
}

static void gen_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_gen *gen = SIM_CONTAINER_OF(t, struct sim_gen, t);
    char num[64];
    const char *p = gen->g->caller_pattern;
    size_t i = 0;
    const struct sim_spec *sp;
    struct sim_rng crng;

    for (; *p && i < sizeof(num) - 1; p++) {
        num[i++] = *p == '#' ? (char)('0' + (sim__rng_next(&gen->rng) % 10)) : *p;
    }
    num[i] = '\0';
    sim__rng_seed(&crng, sim__rng_next(&gen->rng));
    sp = sim__scenario_pick_pop(gen->sc, gen->g->population, &crng);
    gen->placed++;
    sim__inbound_call(s, gen->g, sp, num, &crng);
    gen_schedule(gen);
}

void sim__gens_start(struct sim *s)
{
    struct sim_scenario *sc = s->scenario;

    sim__gens_stop(s);
    if (sc->ninbound == 0) {
        return;
    }
    s->gens = calloc((size_t)sc->ninbound, sizeof(*s->gens));
    if (s->gens == NULL) {
        abort();
    }
    s->ngens = sc->ninbound;
    for (int i = 0; i < sc->ninbound; i++) {
        struct sim_gen *gen = &s->gens[i];
        gen->s = s;
        gen->g = &sc->inbound[i];
        gen->sc = sc;
        sim__scenario_ref(sc);
        gen->index = i;
        sim__rng_seed(&gen->rng, (uint64_t)s->seed ^ sim__mix64(0xabcdef00ULL + (uint64_t)i));
        sim__timer_init(&gen->t, gen_cb);
        if (gen->g->rate > 0 || gen->g->interval > 0) {
            sim__timer_after(s, &gen->t, US(gen->g->start));
        }
    }
}

void sim__gens_stop(struct sim *s)
{
    for (int i = 0; i < s->ngens; i++) {
        sim__timer_stop(s, &s->gens[i].t);
        sim__scenario_unref(s->gens[i].sc);
    }
    free(s->gens);
    s->gens = NULL;
    s->ngens = 0;
}

/* ---------------------------------------------------------------------- */

void sim__forget_all(struct sim *s)
{
    size_t i = 0;
    struct sim_map_ent *e;

    /* Channels first (playbacks and recordings point at them). */
    while ((e = sim__map_next(&s->chans, &i)) != NULL) {
        struct sim_chan *c = e->value;
        sim__playbacks_chan_gone(c);
        sim__rec_chan_gone(c);
        c->bridge = NULL;
        c->peer = NULL;
        c->snoops = NULL;
        c->snoop_of = NULL;
        c->destroyed = 1;
        c->zombie_next = s->zombies;
        s->zombies = c;
        sim__timer_stop(s, &c->t_timeout);
        sim__timer_stop(s, &c->t_far);
        sim__timer_stop(s, &c->t_greet);
        sim__timer_stop(s, &c->t_dtmf);
        sim__timer_stop(s, &c->t_dtmf_out);
        sim__timer_stop(s, &c->t_pbx);
        sim__timer_stop(s, &c->t_teardown);
    }
    sim__map_fini(&s->chans);
    sim__map_fini(&s->chan_names);
    sim__idx_fini(&s->chan_keys);
    sim__map_init(&s->chans, 0);
    sim__map_init(&s->chan_names, 1);
    sim__idx_init(&s->chan_keys);
    s->nchans = 0;
    i = 0;
    while ((e = sim__map_next(&s->bridges, &i)) != NULL) {
        struct sim_bridge *br = e->value;
        sim__playbacks_bridge_gone(br);
        if (br->rec != NULL) {
            sim__rec_free(br->rec);
        }
        br->nchans = 0;
        free(br->chans);
        free(br->id);
        free(br->name);
        free(br->types);
        free(br);
    }
    sim__map_fini(&s->bridges);
    sim__map_init(&s->bridges, 0);
    i = 0;
    while ((e = sim__map_next(&s->recs, &i)) != NULL) {
        sim__rec_free(e->value);
        i = 0;
    }
    sim__reap(s);
}
