/* SPDX-License-Identifier: MIT */
/*
 * pbx: a small extensions.conf interpreter.
 *
 * Asterisk's dialplan matters to an ARI client in three places: the far half
 * (;2) of a Local channel runs the callee's context, a dialplan-mode
 * originate or POST /continue runs a context such as the AMD one, and
 * inbound calls reach Stasis() through an extension. The interpreter reads
 * the usual file syntax ([context], "exten => X,1,App(data)", "same => n,",
 * n(label) priorities, _X/Z/N/[..]/./! patterns, ; comments) and runs the
 * applications whose effects an ARI client can observe:
 *
 *   NoOp Verbose Log Set  Answer Ringing Progress  Wait  Hangup Busy
 *   Congestion  SendDTMF  Playback  AMD  Stasis  Echo MusicOnHold Milliwatt
 *   UserEvent  Goto
 *
 * Every step publishes ChannelDialplan like Asterisk does, with ${...}
 * substituted (EXTEN, CONTEXT, PRIORITY, CHANNEL, UNIQUEID, CALLERID(...),
 * CHANNEL(...), channel variables, globals). Other applications run as NoOp
 * and are logged once.
 *
 * AMD() is modelled on what it listens to: the far end's voice (a Local
 * peer's Playback(), or the scenario greeting of a simulated callee). A
 * voice that lasts for three words (about one second) is MACHINE
 * MAXWORDS-3-2, a short greeting followed by 800 ms of silence is HUMAN, 2.5
 * s of initial silence is MACHINE INITIALSILENCE, and 5 s without a verdict
 * is NOTSURE TOOLONG; a scenario may fix the verdict and its delay instead.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/sim_int.h"

/* Decimal integer prefix of s (0 when none); strtol saturates instead of the
 * undefined behaviour of atoi on overflow. */
static inline long strtol_dec(const char *s)
{
    return strtol(s, NULL, 10);
}

/* Floating-point prefix of s (0 when none). */
static inline double strtod_nul(const char *s)
{
    return strtod(s, NULL);
}

struct pbx_ctx {
    char *name;
    struct sim_pbx_step *steps;
    int n, cap;
};

struct sim_pbx {
    struct pbx_ctx *ctx;
    int n, cap;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        abort();
    }
    return d;
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) {
        *--e = '\0';
    }
    return s;
}

static struct pbx_ctx *ctx_get(const struct sim_pbx *p, const char *name)
{
    if (p == NULL) {
        return NULL;
    }
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->ctx[i].name, name) == 0) {
            return &p->ctx[i];
        }
    }
    return NULL;
}

static struct pbx_ctx *ctx_add(struct sim_pbx *p, const char *name)
{
    struct pbx_ctx *c = ctx_get(p, name);
    if (c != NULL) {
        return c;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        struct pbx_ctx *v = realloc(p->ctx, sizeof(*v) * (size_t)cap);
        if (v == NULL) {
            abort();
        }
        p->ctx = v;
        p->cap = cap;
    }
    c = &p->ctx[p->n++];
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(name);
    return c;
}

static void step_add(struct pbx_ctx *c, const char *exten, int prio, const char *label,
                     const char *app, const char *data)
{
    struct sim_pbx_step *st;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        struct sim_pbx_step *v = realloc(c->steps, sizeof(*v) * (size_t)cap);
        if (v == NULL) {
            abort();
        }
        c->steps = v;
        c->cap = cap;
    }
    st = &c->steps[c->n++];
    st->exten = xstrdup(exten);
    st->priority = prio;
    st->label = label ? xstrdup(label) : NULL;
    st->app = xstrdup(app);
    st->data = xstrdup(data);
}

/* Parses "App(data)" or "App,data" or "App". */
static void split_app(char *s, char **app, char **data)
{
    char *paren = strchr(s, '(');
    char *comma = strchr(s, ',');

    if (paren != NULL && (comma == NULL || paren < comma)) {
        char *close = strrchr(paren, ')');
        *paren = '\0';
        if (close != NULL) {
            *close = '\0';
        }
        *app = trim(s);
        *data = paren + 1;
    } else if (comma != NULL) {
        *comma = '\0';
        *app = trim(s);
        *data = trim(comma + 1);
    } else {
        *app = trim(s);
        *data = s + strlen(s);
    }
}

struct sim_pbx *sim__pbx_parse(const char *text, char *err, size_t errlen)
{
    struct sim_pbx *p = calloc(1, sizeof(*p));
    char *copy = xstrdup(text);
    char *save = NULL;
    struct pbx_ctx *cur = NULL;
    char last_exten[256] = "";
    int last_prio = 0;
    int lineno = 0;

    if (p == NULL) {
        abort();
    }
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *semi, *l, *arrow, *rest, *f1, *f2, *appdata, *app, *data;
        char label[64] = "";
        int prio;
        lineno++;
        /* Comments: ';' not escaped with a backslash. */
        for (semi = line; (semi = strchr(semi, ';')) != NULL; semi++) {
            if (semi == line || semi[-1] != '\\') {
                *semi = '\0';
                break;
            }
        }
        l = trim(line);
        if (l[0] == '\0') {
            continue;
        }
        if (l[0] == '[') {
            char *close = strchr(l, ']');
            if (close == NULL) {
                snprintf(err, errlen, "line %d: unterminated [context]", lineno);
                goto fail;
            }
            *close = '\0';
            cur = strcmp(l + 1, "general") == 0 || strcmp(l + 1, "globals") == 0
                      ? NULL
                      : ctx_add(p, trim(l + 1));
            continue;
        }
        if (cur == NULL) {
            continue;
        }
        arrow = strstr(l, "=>");
        if (arrow == NULL) {
            continue; /* include =>, switch: not modelled */
        }
        *arrow = '\0';
        rest = trim(arrow + 2);
        if (strcmp(trim(l), "exten") == 0) {
            f1 = rest;
            f2 = strchr(f1, ',');
            if (f2 == NULL) {
                snprintf(err, errlen, "line %d: exten => needs exten,priority,app", lineno);
                goto fail;
            }
            *f2++ = '\0';
            snprintf(last_exten, sizeof(last_exten), "%s", trim(f1));
            rest = f2;
        } else if (strcmp(trim(l), "same") != 0) {
            continue;
        }
        if (last_exten[0] == '\0') {
            snprintf(err, errlen, "line %d: same => without an exten", lineno);
            goto fail;
        }
        f1 = rest;
        appdata = strchr(f1, ',');
        if (appdata == NULL) {
            snprintf(err, errlen, "line %d: missing application", lineno);
            goto fail;
        }
        *appdata++ = '\0';
        f1 = trim(f1);
        if (f1[0] == 'n') {
            prio = last_prio + 1;
        } else if (strcmp(f1, "hint") == 0) {
            continue;
        } else {
            prio = (int)strtol_dec(f1);
        }
        if (strchr(f1, '(') != NULL) {
            char *lp = strchr(f1, '(');
            char *rp = strchr(lp, ')');
            snprintf(label, sizeof(label), "%.*s", (int)(rp ? rp - lp - 1 : 0), lp + 1);
        }
        if (prio <= 0) {
            snprintf(err, errlen, "line %d: bad priority", lineno);
            goto fail;
        }
        last_prio = prio;
        split_app(appdata, &app, &data);
        step_add(cur, last_exten, prio, label[0] ? label : NULL, app, data);
    }
    free(copy);
    return p;
fail:
    free(copy);
    sim__pbx_free(p);
    return NULL;
}

struct sim_pbx *sim__pbx_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct sim_buf b;
    char chunk[4096];
    size_t n;
    struct sim_pbx *p;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    sim__buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        sim__buf_put(&b, chunk, n);
    }
    fclose(f);
    p = sim__pbx_parse(b.p ? b.p : "", err, errlen);
    sim__buf_fini(&b);
    return p;
}

void sim__pbx_free(struct sim_pbx *p)
{
    if (p == NULL) {
        return;
    }
    for (int i = 0; i < p->n; i++) {
        struct pbx_ctx *c = &p->ctx[i];
        for (int j = 0; j < c->n; j++) {
            free(c->steps[j].exten);
            free(c->steps[j].label);
            free(c->steps[j].app);
            free(c->steps[j].data);
        }
        free(c->steps);
        free(c->name);
    }
    free(p->ctx);
    free(p);
}

/* Asterisk pattern match (pattern starts with '_'). */
static int pat_match(const char *pat, const char *s)
{
    for (; *pat; pat++, s++) {
        switch (*pat) {
        case 'X':
        case 'x':
            if (*s < '0' || *s > '9') {
                return 0;
            }
            break;
        case 'Z':
        case 'z':
            if (*s < '1' || *s > '9') {
                return 0;
            }
            break;
        case 'N':
        case 'n':
            if (*s < '2' || *s > '9') {
                return 0;
            }
            break;
        case '.':
            return *s != '\0';
        case '!':
            return 1;
        case '[': {
            const char *e = strchr(pat, ']');
            int ok = 0;
            if (e == NULL || *s == '\0') {
                return 0;
            }
            for (const char *q = pat + 1; q < e; q++) {
                if (q[1] == '-' && q + 2 < e) {
                    if (*s >= q[0] && *s <= q[2]) {
                        ok = 1;
                    }
                    q += 2;
                } else if (*q == *s) {
                    ok = 1;
                }
            }
            if (!ok) {
                return 0;
            }
            pat = e;
            break;
        }
        default:
            if (*pat != *s) {
                return 0;
            }
            break;
        }
    }
    return *s == '\0';
}

static int exten_match(const char *pattern, const char *exten)
{
    if (pattern[0] == '_') {
        return pat_match(pattern + 1, exten);
    }
    return strcmp(pattern, exten) == 0;
}

static const struct sim_pbx_step *find_step(const struct sim_pbx *p, const char *ctx,
                                            const char *exten, int prio)
{
    const struct pbx_ctx *c = ctx_get(p, ctx);
    const struct sim_pbx_step *pattern = NULL;

    if (c == NULL) {
        return NULL;
    }
    for (int i = 0; i < c->n; i++) {
        const struct sim_pbx_step *st = &c->steps[i];
        if (st->priority != prio) {
            continue;
        }
        if (st->exten[0] != '_' && strcmp(st->exten, exten) == 0) {
            return st;
        }
        if (pattern == NULL && st->exten[0] == '_' && exten_match(st->exten, exten)) {
            pattern = st;
        }
    }
    return pattern;
}

int sim__pbx_exists(const struct sim_pbx *p, const char *ctx, const char *exten, int prio)
{
    return find_step(p, ctx, exten, prio) != NULL;
}

int sim__pbx_has_context(const struct sim_pbx *p, const char *ctx)
{
    return ctx_get(p, ctx) != NULL;
}

int sim__pbx_find_label(const struct sim_pbx *p, const char *ctx, const char *exten,
                        const char *label)
{
    const struct pbx_ctx *c = ctx_get(p, ctx);
    if (c == NULL) {
        return -1;
    }
    for (int i = 0; i < c->n; i++) {
        const struct sim_pbx_step *st = &c->steps[i];
        if (st->label != NULL && strcmp(st->label, label) == 0 && exten_match(st->exten, exten)) {
            return st->priority;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Substitution */

static void callerid_all(const struct sim_chan *c, struct sim_buf *b)
{
    if (c->caller_name[0] != '\0' && c->caller_num[0] != '\0') {
        sim__buf_printf(b, "\"%s\" <%s>", c->caller_name, c->caller_num);
    } else if (c->caller_name[0] != '\0') {
        sim__buf_puts(b, c->caller_name);
    } else {
        sim__buf_puts(b, c->caller_num);
    }
}

static void expand_name(struct sim_chan *c, const char *name, struct sim_buf *b)
{
    struct sim *s = c->sim;
    const char *v;

    if (strcmp(name, "EXTEN") == 0) {
        sim__buf_puts(b, c->exten);
    } else if (strcmp(name, "CONTEXT") == 0) {
        sim__buf_puts(b, c->context);
    } else if (strcmp(name, "PRIORITY") == 0) {
        sim__buf_printf(b, "%d", c->priority);
    } else if (strcmp(name, "CHANNEL") == 0 || strcmp(name, "CHANNEL(name)") == 0) {
        sim__buf_puts(b, c->name);
    } else if (strcmp(name, "UNIQUEID") == 0 || strcmp(name, "CHANNEL(uniqueid)") == 0) {
        sim__buf_puts(b, c->id);
    } else if (strcmp(name, "CHANNEL(state)") == 0) {
        sim__buf_puts(b, sim__cstate_name(c->state));
    } else if (strcmp(name, "CALLERID(all)") == 0) {
        callerid_all(c, b);
    } else if (strcmp(name, "CALLERID(num)") == 0 || strcmp(name, "CALLERID(number)") == 0) {
        sim__buf_puts(b, c->caller_num);
    } else if (strcmp(name, "CALLERID(name)") == 0) {
        sim__buf_puts(b, c->caller_name);
    } else if (strcmp(name, "CONNECTEDLINE(num)") == 0) {
        sim__buf_puts(b, c->conn_num);
    } else if (strcmp(name, "CONNECTEDLINE(name)") == 0) {
        sim__buf_puts(b, c->conn_name);
    } else if ((v = sim__chan_get_var(c, name)) != NULL) {
        sim__buf_puts(b, v);
    } else if ((v = sim__map_get(&s->globals, name)) != NULL) {
        sim__buf_puts(b, v);
    }
}

char *sim__pbx_subst(struct sim_chan *c, const char *data)
{
    struct sim_buf b;
    char *r;

    sim__buf_init(&b);
    sim__buf_reserve(&b, strlen(data));
    for (const char *p = data; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *e = p + 2;
            int depth = 1;
            char name[256];
            while (*e && depth > 0) {
                if (*e == '{') {
                    depth++;
                } else if (*e == '}') {
                    depth--;
                }
                if (depth > 0) {
                    e++;
                }
            }
            snprintf(name, sizeof(name), "%.*s", (int)(e - p - 2), p + 2);
            expand_name(c, name, &b);
            p = *e ? e + 1 : e;
        } else if (p[0] == '\\' && p[1] != '\0') {
            sim__buf_putc(&b, p[1]);
            p += 2;
        } else {
            sim__buf_putc(&b, *p++);
        }
    }
    r = sim__chan_strdup(c, b.p ? b.p : "");
    sim__buf_fini(&b);
    return r;
}

/* ---------------------------------------------------------------------- */
/* Interpreter */

enum { STEP_NEXT, STEP_WAIT, STEP_GONE };

static void run(struct sim_chan *c);
static void pbx_timer_cb(struct sim *s, struct sim_timer *t);

static void goto_next(struct sim_chan *c)
{
    c->priority++;
    c->pbx_state = 0;
}

void sim__pbx_next(struct sim_chan *c)
{
    if (!c->pbx || c->hanging) {
        return;
    }
    goto_next(c);
    run(c);
}

void sim__pbx_start(struct sim_chan *c, const char *ctx, const char *exten, int prio)
{
    c->context = sim__chan_strdup(c, ctx);
    c->exten = sim__chan_strdup(c, exten);
    c->priority = prio > 0 ? prio : 1;
    c->pbx = 1;
    c->pbx_state = 0;
    c->t_pbx.cb = pbx_timer_cb;
    run(c);
}

void sim__pbx_stop(struct sim_chan *c)
{
    c->pbx = 0;
    c->talking = 0;
    sim__timer_stop(c->sim, &c->t_pbx);
}

/* Audio this channel plays reaches its Local peer as far-end voice. */
static void set_talking(struct sim_chan *c, int on)
{
    c->talking = on;
    if (c->tech == TECH_LOCAL && c->peer != NULL && !c->peer->hanging) {
        sim__far_speech(c->peer, on);
    }
}

static int app_is(const struct sim_chan *c, const char *name)
{
    return c->step != NULL && strcasecmp(c->step->app, name) == 0;
}

static void user_event(struct sim_chan *c, const char *data)
{
    struct sim *s = c->sim;
    struct sim_rcpt r = { .n = 0 };
    char buf[512], *save = NULL, *name;

    sim__rcpt_chan(s, &r, c, 0);
    if (r.n == 0) {
        return;
    }
    snprintf(buf, sizeof(buf), "%s", data);
    name = strtok_r(buf, ",", &save);
    if (name == NULL) {
        return;
    }
    sim__ev_begin(s, NULL, "ChannelUserevent");
    SIM_LIT(&s->ev, ",\"eventname\":");
    sim__buf_jstr(&s->ev, name);
    SIM_LIT(&s->ev, ",\"channel\":");
    sim__chan_json(s, &s->ev, c);
    SIM_LIT(&s->ev, ",\"userevent\":{");
    for (char *kv = strtok_r(NULL, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(kv, ':');
        if (colon == NULL) {
            continue;
        }
        *colon = '\0';
        sim__buf_jstr(&s->ev, trim(kv));
        sim__buf_putc(&s->ev, ':');
        sim__buf_jstr(&s->ev, trim(colon + 1));
        sim__buf_putc(&s->ev, ',');
    }
    SIM_LIT(&s->ev, "\"eventname\":");
    sim__buf_jstr(&s->ev, name);
    sim__buf_putc(&s->ev, '}');
    sim__ev_send(s, &r);
}

/* Busy() and Congestion(): indicate, and let the dialing side hang up. */
static int app_busy(struct sim_chan *c, int cause, const char *status, const char *data)
{
    struct sim_chan *peer = c->peer;

    sim__ev_state(c, CS_BUSY);
    c->cause = cause;
    c->own_cause = 1;
    if (c->tech == TECH_LOCAL && c->half == 2 && peer != NULL && peer->dialing) {
        peer->dialing = 0;
        sim__timer_stop(c->sim, &peer->t_timeout);
        sim__ev_dial(peer, status);
        sim__hangup(peer, 0, 0, HANG_SILENT);
        return STEP_GONE;
    }
    c->pbx_state = 1;
    sim__timer_after(c->sim, &c->t_pbx, (int64_t)(strtod_nul(data) * 1e6));
    return STEP_WAIT;
}

/* ---- AMD ---- */

enum { AMD_V_HUMAN = 1, AMD_V_MACHINE, AMD_V_NOTSURE, AMD_V_SILENCE };

static int64_t scaled(const struct sim_chan *c, int64_t us)
{
    return (int64_t)((double)us * c->sim->time_scale);
}

/* Works out the next verdict point from the voice heard so far. */
static void amd_eval(struct sim_chan *c)
{
    int64_t now = clock_mono_us();
    int64_t due, limit = c->amd_start_us + scaled(c, 5000000);
    int verdict;

    if (c->far_talking) {
        int64_t voice = c->far_talk_since > c->amd_start_us ? c->far_talk_since : c->amd_start_us;
        int left = 3 - c->amd_words;
        due = voice + scaled(c, (int64_t)(left - 1) * 450000 + 100000);
        verdict = AMD_V_MACHINE;
    } else if (c->amd_words > 0) {
        due = c->far_talk_since + scaled(c, 800000);
        verdict = AMD_V_HUMAN;
    } else {
        due = c->amd_start_us + scaled(c, 2500000);
        verdict = AMD_V_SILENCE;
    }
    if (due > limit) {
        due = limit;
        verdict = AMD_V_NOTSURE;
    }
    if (due < now) {
        due = now;
    }
    c->pbx_state = verdict;
    sim__timer_at(c->sim, &c->t_pbx, due);
}

void sim__amd_speech(struct sim_chan *c)
{
    if (!app_is(c, "AMD") || c->pbx_state == 0 || c->spec_amd_fixed) {
        return;
    }
    if (!c->far_talking) {
        /* A voice segment ended: count its words (~450 ms each). */
        int64_t len = clock_mono_us() - c->amd_voice_start_us;
        int w = (int)(len / scaled(c, 450000)) + 1;
        c->amd_words += w;
    } else {
        c->amd_voice_start_us = c->far_talk_since;
    }
    amd_eval(c);
}

static int app_amd(struct sim_chan *c)
{
    const struct sim_spec *sp = c->spec;

    c->amd_start_us = clock_mono_us();
    c->amd_words = 0;
    c->amd_voice_start_us = c->far_talking ? c->far_talk_since : 0;
    c->spec_amd_fixed = 0;
    if (sp != NULL && sp->amd != AMD_MODEL) {
        double def = sp->amd == AMD_HUMAN     ? 2.0 + 0.6 * sim__rng_unit(&c->rng)
                     : sp->amd == AMD_MACHINE ? 1.2 + 1.3 * sim__rng_unit(&c->rng)
                                              : 5.0;
        double d = sim__dist_draw(&sp->amd_delay, &c->rng, def);
        c->spec_amd_fixed = 1;
        c->pbx_state = sp->amd == AMD_HUMAN     ? AMD_V_HUMAN
                       : sp->amd == AMD_MACHINE ? AMD_V_MACHINE
                                                : AMD_V_NOTSURE;
        sim__timer_after(c->sim, &c->t_pbx, (int64_t)(d * 1e6));
        return STEP_WAIT;
    }
    amd_eval(c);
    return STEP_WAIT;
}

static void amd_done(struct sim_chan *c)
{
    const struct sim_spec *sp = c->spec;
    const char *status, *cause;
    char buf[64];

    switch (c->pbx_state) {
    case AMD_V_HUMAN:
        status = "HUMAN";
        cause = "HUMAN-800-800";
        break;
    case AMD_V_MACHINE:
        status = "MACHINE";
        cause = "MAXWORDS-3-2";
        break;
    case AMD_V_SILENCE:
        status = "MACHINE";
        cause = "INITIALSILENCE-2500-2500";
        break;
    default:
        status = "NOTSURE";
        cause = "TOOLONG-5000";
        break;
    }
    if (c->spec_amd_fixed && sp != NULL && sp->amd_cause[0] != '\0') {
        snprintf(buf, sizeof(buf), "%s", sp->amd_cause);
        cause = buf;
    }
    c->spec_amd_fixed = 0;
    sim__ev_varset(c, "AMDSTATUS", status);
    if (c->hanging) {
        return;
    }
    sim__ev_varset(c, "AMDCAUSE", cause);
}

/* ---- Steps ---- */

static int app_senddtmf(struct sim_chan *c)
{
    const char *digits = c->pbx_arg;
    char d[64];
    size_t n;

    snprintf(d, sizeof(d), "%s", digits);
    d[strcspn(d, ",")] = '\0';
    n = strlen(d);
    if ((size_t)c->pbx_state >= n) {
        return STEP_NEXT;
    }
    /* First digit ends 200 ms in, the next ones 350 ms apart; 250 ms after the last. */
    sim__timer_after(c->sim, &c->t_pbx, c->pbx_state == 0 ? 200000 : 350000);
    return STEP_WAIT;
}

static int exec_step(struct sim_chan *c)
{
    const char *app = c->step->app;
    const char *data = c->pbx_arg;
    struct sim *s = c->sim;

    if (strcasecmp(app, "NoOp") == 0 || strcasecmp(app, "Verbose") == 0 ||
        strcasecmp(app, "Log") == 0) {
        return STEP_NEXT;
    }
    if (strcasecmp(app, "Set") == 0 || strcasecmp(app, "MSet") == 0) {
        char buf[512];
        char *eq;
        snprintf(buf, sizeof(buf), "%s", data);
        eq = strchr(buf, '=');
        if (eq != NULL) {
            *eq = '\0';
            sim__ev_varset(c, trim(buf), eq + 1);
        }
        return c->hanging ? STEP_GONE : STEP_NEXT;
    }
    if (strcasecmp(app, "Answer") == 0) {
        sim__answer(c);
        return c->hanging ? STEP_GONE : STEP_NEXT;
    }
    if (strcasecmp(app, "Ringing") == 0 || strcasecmp(app, "Progress") == 0) {
        sim__ring(c);
        return c->hanging ? STEP_GONE : STEP_NEXT;
    }
    if (strcasecmp(app, "Wait") == 0 || strcasecmp(app, "WaitExten") == 0) {
        double sec = data[0] ? strtod_nul(data) : 0;
        sim__timer_after(s, &c->t_pbx, (int64_t)(sec * 1e6));
        return STEP_WAIT;
    }
    if (strcasecmp(app, "Hangup") == 0) {
        int cause = data[0] ? (int)strtol_dec(data) : 16;
        sim__hangup(c, cause > 0 ? cause : 16, 0, HANG_DIALPLAN);
        return STEP_GONE;
    }
    if (strcasecmp(app, "Busy") == 0) {
        return app_busy(c, 17, "BUSY", data);
    }
    if (strcasecmp(app, "Congestion") == 0) {
        return app_busy(c, 34, "CONGESTION", data);
    }
    if (strcasecmp(app, "SendDTMF") == 0) {
        return app_senddtmf(c);
    }
    if (strcasecmp(app, "Playback") == 0 || strcasecmp(app, "BackGround") == 0) {
        double total = 0;
        int missing = 0;
        char buf[512], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", data);
        buf[strcspn(buf, ",")] = '\0';
        for (char *f = strtok_r(buf, "&", &save); f; f = strtok_r(NULL, "&", &save)) {
            char uri[600];
            int miss = 0, skip = 0;
            double sec;
            snprintf(uri, sizeof(uri), "sound:%s", f);
            sec = sim__media_seconds(s, uri, &miss, &skip);
            if (miss) {
                missing = 1;
            } else if (sec > 0) {
                total += sec;
            }
        }
        if (missing && total == 0) {
            sim__ev_varset(c, "PLAYBACKSTATUS", "FAILED");
            return c->hanging ? STEP_GONE : STEP_NEXT;
        }
        set_talking(c, 1);
        sim__timer_after(s, &c->t_pbx, (int64_t)(total * 1e6));
        return STEP_WAIT;
    }
    if (strcasecmp(app, "AMD") == 0) {
        return app_amd(c);
    }
    if (strcasecmp(app, "Stasis") == 0) {
        char buf[512];
        char *comma;
        snprintf(buf, sizeof(buf), "%s", data);
        comma = strchr(buf, ',');
        if (comma != NULL) {
            *comma++ = '\0';
        }
        if (sim__stasis_enter(c, buf, comma, STASIS_PBX) < 0) {
            return c->hanging ? STEP_GONE : STEP_NEXT;
        }
        return STEP_WAIT;
    }
    if (strcasecmp(app, "Echo") == 0 || strcasecmp(app, "MusicOnHold") == 0 ||
        strcasecmp(app, "Milliwatt") == 0 || strcasecmp(app, "Park") == 0) {
        return STEP_WAIT;
    }
    if (strcasecmp(app, "UserEvent") == 0) {
        user_event(c, data);
        return STEP_NEXT;
    }
    if (strcasecmp(app, "Goto") == 0) {
        char buf[512];
        char *f[3];
        int n = 0;
        char *save = NULL;
        snprintf(buf, sizeof(buf), "%s", data);
        for (char *t = strtok_r(buf, ",", &save); t && n < 3; t = strtok_r(NULL, ",", &save)) {
            f[n++] = trim(t);
        }
        if (n == 3) {
            c->context = sim__chan_strdup(c, f[0]);
            c->exten = sim__chan_strdup(c, f[1]);
        } else if (n == 2) {
            c->exten = sim__chan_strdup(c, f[0]);
        }
        if (n > 0) {
            c->priority = (int)strtol_dec(f[n - 1]) - 1;
        }
        return STEP_NEXT;
    }
    LOG_DEBUG(SIM, "event=pbx_app_unmodelled app=%s", app);
    return STEP_NEXT;
}

/* Runs steps until one has to wait. */
static void run(struct sim_chan *c)
{
    for (;;) {
        const struct sim_pbx_step *st;
        int r;

        if (!c->pbx || c->hanging) {
            return;
        }
        st = find_step(c->sim->pbx, c->context, c->exten, c->priority);
        if (st == NULL) {
            /* Off the end of the extension: the PBX hangs the channel up. */
            c->step = NULL;
            sim__hangup(c, c->cause > 0 ? c->cause : 16, 0, HANG_DIALPLAN);
            return;
        }
        c->step = st;
        c->pbx_state = 0;
        c->pbx_arg = sim__pbx_subst(c, st->data);
        sim__ev_dialplan(c, st->app, c->pbx_arg);
        r = exec_step(c);
        if (r != STEP_NEXT) {
            return;
        }
        goto_next(c);
    }
}

static void pbx_timer_cb(struct sim *s, struct sim_timer *t)
{
    struct sim_chan *c = SIM_CONTAINER_OF(t, struct sim_chan, t_pbx);
    (void)s;

    if (!c->pbx || c->hanging || c->step == NULL) {
        return;
    }
    if (app_is(c, "Playback") || app_is(c, "BackGround")) {
        set_talking(c, 0);
        sim__ev_varset(c, "PLAYBACKSTATUS", "SUCCESS");
    } else if (app_is(c, "AMD")) {
        amd_done(c);
    } else if (app_is(c, "SendDTMF")) {
        char d[64];
        snprintf(d, sizeof(d), "%s", c->pbx_arg);
        d[strcspn(d, ",")] = '\0';
        if ((size_t)c->pbx_state < strlen(d)) {
            if (c->peer != NULL && !c->peer->hanging) {
                sim__dtmf_in(c->peer, d[c->pbx_state], 100);
            }
            if (c->hanging) {
                return;
            }
            c->pbx_state++;
            if ((size_t)c->pbx_state < strlen(d)) {
                sim__timer_after(c->sim, &c->t_pbx, 350000);
            } else {
                sim__timer_after(c->sim, &c->t_pbx, 250000);
                c->pbx_state = 1000; /* all sent: the next expiry moves on */
            }
            return;
        }
    } else if ((app_is(c, "Busy") || app_is(c, "Congestion")) && c->pbx_state == 1) {
        sim__hangup(c, c->cause, 0, HANG_DIALPLAN);
        return;
    }
    if (c->hanging) {
        return;
    }
    goto_next(c);
    run(c);
}

void sim__pbx_stasis_returned(struct sim_chan *c)
{
    sim__pbx_next(c);
}
