/* SPDX-License-Identifier: MIT */
/*
 * sim: the offline flow simulator. It runs the real interpreter against a
 * fake channel and fake HTTP, on a virtual clock, as a discrete-event
 * simulation: at each turn the earliest of (the next scripted caller
 * action, a pending channel completion, an HTTP answer, the session's own
 * deadline) happens and the clock jumps to it, so a flow with 5 s timeouts
 * simulates in microseconds and the result is reproducible.
 *
 * A script is a list of statements separated by ';' or new lines (a ';'
 * inside a JSON body of a mock does not split). Caller actions form a
 * timeline; the rest are settings that hold for the whole run:
 *
 *   on NODE              wait until the flow enters NODE (its next entry)
 *   wait DUR | silence DUR   let DUR pass (the caller does nothing)
 *   dtmf KEYS [gap DUR]  press KEYS (0-9 * # A-D), DUR apart (default 200ms)
 *   hangup               the caller hangs up
 *   mock METHOD URL STATUS [BODY]   answer requests whose URL starts with
 *                        URL (a trailing * is allowed) with STATUS and BODY
 *   mock METHOD URL timeout | error  the request times out / fails
 *   prompt DUR           how long each prompt item plays (default 1s)
 *   record DUR           how long the caller speaks at a voicemail (default 10s)
 *   transfer OUTCOME     transferred, completed, busy, no_answer or failed
 *   clock ISO8601        wall-clock time at the start (default 2026-01-05T10:00:00Z,
 *                        a Monday)
 *
 * DUR is 250ms, 2s, 1.5s or 1m. The result is the step log
 * {"steps": [...], "end": {...}, "duration_ms": N}.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ivr/ivr_int.h"

#define SIM_MAX_STMTS   512
#define SIM_MAX_PENDING 16
#define SIM_MAX_TURNS   100000
#define SIM_MAX_US      (INT64_C(4) * 3600 * 1000000)

enum stmt_kind { S_ON, S_WAIT, S_DTMF, S_HANGUP };

struct stmt {
    enum stmt_kind kind;
    char *arg;   /* node id or keys */
    int64_t dur; /* wait, or gap between keys */
};

struct mock {
    char *method, *url, *body;
    long status; /* 0: timeout (-1: error) */
};

struct pending {
    int64_t at;
    struct ivr_event ev;
    bool http;
    ivr_http_done_cb *cb;
    void *arg;
    const struct mock *mock;
    bool used;
};

struct sim {
    int64_t now, wall0, script_t;
    struct stmt stmts[SIM_MAX_STMTS];
    size_t nstmts, cursor, key_i;
    struct mock *mocks;
    size_t nmocks;
    int64_t prompt_us, record_us;
    enum ivr_transfer_outcome xfer;
    struct pending pend[SIM_MAX_PENDING];
    int64_t rec_start;
    uint64_t rec_op;
    json_t *steps, *end;
    unsigned closed; /* steps closed since the last look */
    const char *last_node;
    bool entered; /* the current node was (re)entered since the cursor's "on" became current */
    struct ivr_session *s;
    bool gone;
};

/* ---------------------------------------------------------------------- */
/* Script parsing                                                          */
/* ---------------------------------------------------------------------- */

static int parse_dur(const char *s, int64_t *us)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0 || v > 86400) {
        return ERR_PARSE;
    }
    if (strcmp(end, "ms") == 0) {
        *us = (int64_t)(v * 1000);
    } else if (strcmp(end, "s") == 0 || *end == '\0') {
        *us = (int64_t)(v * 1e6);
    } else if (strcmp(end, "m") == 0) {
        *us = (int64_t)(v * 60e6);
    } else {
        return ERR_PARSE;
    }
    return 0;
}

static int parse_iso(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6) {
        return ERR_PARSE;
    }
    char date[11];
    snprintf(date, sizeof(date), "%04d-%02d-%02d", y, mo, d);
    int days = ivr__parse_date(date);
    if (days == INT32_MIN || h > 23 || mi > 59 || se > 59) {
        return ERR_PARSE;
    }
    *us = ((int64_t)days * 86400 + h * 3600 + mi * 60 + se) * 1000000;
    return 0;
}

/* Splits text into statements at ';' / '\n' outside braces and quotes. */
static size_t split(char *text, char **out, size_t max)
{
    size_t n = 0;
    int depth = 0;
    bool quote = false;
    char *start = text;
    for (char *p = text;; p++) {
        if (*p == '"' && (p == text || p[-1] != '\\')) {
            quote = !quote;
        } else if (!quote && (*p == '{' || *p == '[')) {
            depth++;
        } else if (!quote && (*p == '}' || *p == ']')) {
            depth--;
        }
        if (*p == '\0' || (!quote && depth <= 0 && (*p == ';' || *p == '\n'))) {
            bool last = *p == '\0';
            *p = '\0';
            while (isspace((unsigned char)*start)) {
                start++;
            }
            char *e = start + strlen(start);
            while (e > start && isspace((unsigned char)e[-1])) {
                *--e = '\0';
            }
            if (*start != '\0' && *start != '#' && n < max) {
                out[n++] = start;
            }
            if (last) {
                break;
            }
            start = p + 1;
        }
    }
    return n;
}

static char *word(char **p)
{
    while (isspace((unsigned char)**p)) {
        (*p)++;
    }
    if (**p == '\0') {
        return NULL;
    }
    char *w = *p;
    while (**p && !isspace((unsigned char)**p)) {
        (*p)++;
    }
    if (**p) {
        *(*p)++ = '\0';
    }
    return w;
}

static int parse_stmt(struct sim *sm, char *line, const char **why)
{
    char *p = line;
    char *cmd = word(&p);
    char *a = word(&p);
    *why =
        "unknown command (on, wait, silence, dtmf, hangup, mock, prompt, record, transfer, clock)";
    if (cmd == NULL) {
        return 0;
    }
    if (strcmp(cmd, "mock") == 0) {
        char *url = word(&p), *st = word(&p);
        *why = "mock needs METHOD URL STATUS [BODY], or METHOD URL timeout|error";
        if (a == NULL || url == NULL || st == NULL) {
            return ERR_PARSE;
        }
        struct mock *m = realloc(sm->mocks, (sm->nmocks + 1) * sizeof(*m));
        if (m == NULL) {
            return ERR_NOMEM;
        }
        sm->mocks = m;
        m = &m[sm->nmocks];
        char *star = strchr(url, '*');
        if (star != NULL) {
            *star = '\0';
        }
        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (strcmp(st, "timeout") == 0) {
            m->status = 0;
        } else if (strcmp(st, "error") == 0) {
            m->status = -1;
        } else {
            char *end;
            m->status = strtol(st, &end, 10);
            if (*end != '\0' || m->status < 100 || m->status > 599) {
                return ERR_PARSE;
            }
        }
        m->method = strdup(a);
        m->url = strdup(url);
        m->body = strdup(p);
        sm->nmocks++;
        return (m->method && m->url && m->body) ? 0 : ERR_NOMEM;
    }
    if (strcmp(cmd, "prompt") == 0 || strcmp(cmd, "record") == 0) {
        *why = "expects a duration like 2s or 500ms";
        return a && parse_dur(a, strcmp(cmd, "prompt") == 0 ? &sm->prompt_us : &sm->record_us) == 0
                   ? 0
                   : ERR_PARSE;
    }
    if (strcmp(cmd, "clock") == 0) {
        *why = "expects a UTC time like 2026-11-24T09:30:00Z";
        return a && parse_iso(a, &sm->wall0) == 0 ? 0 : ERR_PARSE;
    }
    if (strcmp(cmd, "transfer") == 0) {
        static const char *const names[] = { "transferred", "completed", "busy", "no_answer",
                                             "failed" };
        *why = "transfer outcome must be transferred, completed, busy, no_answer or failed";
        for (int i = 0; a && i < 5; i++) {
            if (strcmp(a, names[i]) == 0) {
                sm->xfer = (enum ivr_transfer_outcome)i;
                return 0;
            }
        }
        return ERR_PARSE;
    }
    if (sm->nstmts >= SIM_MAX_STMTS) {
        *why = "too many statements";
        return ERR_PARSE;
    }
    struct stmt *st = &sm->stmts[sm->nstmts];
    memset(st, 0, sizeof(*st));
    if (strcmp(cmd, "on") == 0) {
        *why = "on needs a step id";
        st->kind = S_ON;
        if (a == NULL) {
            return ERR_PARSE;
        }
    } else if (strcmp(cmd, "wait") == 0 || strcmp(cmd, "silence") == 0) {
        *why = "expects a duration like 2s or 500ms";
        st->kind = S_WAIT;
        if (a == NULL || parse_dur(a, &st->dur) != 0) {
            return ERR_PARSE;
        }
    } else if (strcmp(cmd, "dtmf") == 0) {
        *why = "dtmf needs keys (0-9 * # A-D), optionally followed by gap DUR";
        st->kind = S_DTMF;
        st->dur = 200000;
        if (a == NULL || strspn(a, "0123456789*#ABCD") != strlen(a)) {
            return ERR_PARSE;
        }
        char *g = word(&p);
        if (g != NULL) {
            char *gv = word(&p);
            if (strcmp(g, "gap") != 0 || gv == NULL || parse_dur(gv, &st->dur) != 0) {
                return ERR_PARSE;
            }
        }
    } else if (strcmp(cmd, "hangup") == 0) {
        st->kind = S_HANGUP;
        a = NULL;
    } else {
        return ERR_PARSE;
    }
    if (a != NULL && (st->arg = strdup(a)) == NULL) {
        return ERR_NOMEM;
    }
    sm->nstmts++;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Fake channel and HTTP                                                   */
/* ---------------------------------------------------------------------- */

static struct pending *pend_add(struct sim *sm, int64_t at)
{
    for (int i = 0; i < SIM_MAX_PENDING; i++) {
        if (!sm->pend[i].used) {
            memset(&sm->pend[i], 0, sizeof(sm->pend[i]));
            sm->pend[i].used = true;
            sm->pend[i].at = at;
            return &sm->pend[i];
        }
    }
    return NULL;
}

static void pend_drop_op(struct sim *sm, enum ivr_event_type t, uint64_t op)
{
    for (int i = 0; i < SIM_MAX_PENDING; i++) {
        if (sm->pend[i].used && !sm->pend[i].http && sm->pend[i].ev.type == t &&
            sm->pend[i].ev.op == op) {
            sm->pend[i].used = false;
        }
    }
}

static int ch_play(void *ctx, uint64_t op, const char *const *media, size_t n, const char *lang)
{
    struct sim *sm = ctx;
    struct pending *p = pend_add(sm, sm->now + sm->prompt_us * (int64_t)n);
    (void)media;
    (void)lang;
    if (p == NULL || sm->gone) {
        return ERR_BUSY;
    }
    p->ev.type = IVR_EV_PLAYBACK_DONE;
    p->ev.op = op;
    return 0;
}

static int ch_say(void *ctx, uint64_t op, const char *text, const char *lang, const char *voice)
{
    (void)voice;
    return ch_play(ctx, op, &text, 1, lang);
}

static int ch_stop(void *ctx, uint64_t op)
{
    pend_drop_op(ctx, IVR_EV_PLAYBACK_DONE, op);
    return 0;
}

static int ch_record(void *ctx, uint64_t op, const struct ivr_record_params *rp)
{
    struct sim *sm = ctx;
    int64_t len = sm->record_us;
    if (len > (int64_t)rp->max_duration_s * 1000000) {
        len = (int64_t)rp->max_duration_s * 1000000;
    }
    struct pending *p = pend_add(sm, sm->now + len + (int64_t)rp->max_silence_s * 1000000);
    if (p == NULL) {
        return ERR_BUSY;
    }
    p->ev.type = IVR_EV_RECORD_DONE;
    p->ev.op = op;
    p->ev.duration_s = (int)(len / 1000000);
    sm->rec_start = sm->now;
    sm->rec_op = op;
    return 0;
}

static int ch_stop_record(void *ctx, uint64_t op)
{
    struct sim *sm = ctx;
    pend_drop_op(sm, IVR_EV_RECORD_DONE, op);
    struct pending *p = pend_add(sm, sm->now);
    if (p != NULL) {
        p->ev.type = IVR_EV_RECORD_DONE;
        p->ev.op = op;
        p->ev.duration_s = (int)((sm->now - sm->rec_start) / 1000000);
    }
    return 0;
}

static int ch_transfer(void *ctx, uint64_t op, enum ivr_transfer_mode mode, const char *target,
                       int ring_timeout_s, const char *caller_id)
{
    struct sim *sm = ctx;
    (void)target;
    (void)caller_id;
    int64_t delay = sm->xfer == IVR_XFER_NO_ANSWER ? (int64_t)ring_timeout_s * 1000000 : 2000000;
    struct pending *p = pend_add(sm, sm->now + delay);
    if (p == NULL) {
        return ERR_BUSY;
    }
    p->ev.type = IVR_EV_TRANSFER;
    p->ev.op = op;
    p->ev.outcome = mode == IVR_TRANSFER_BLIND && sm->xfer == IVR_XFER_COMPLETED
                        ? IVR_XFER_TRANSFERRED
                        : sm->xfer;
    return 0;
}

static int ch_hangup(void *ctx, int cause)
{
    struct sim *sm = ctx;
    (void)cause;
    sm->gone = true;
    return 0;
}

static int ch_set_var(void *ctx, const char *name, const char *value)
{
    (void)ctx;
    (void)name;
    (void)value;
    return 0;
}

static const struct ivr_channel_ops sim_ops = {
    ch_play, ch_say, ch_stop, ch_record, ch_stop_record, ch_transfer, ch_hangup, ch_set_var,
};

static int http_start(void *ctx, const struct ivr_http_req *rq, ivr_http_done_cb *cb, void *arg,
                      void **handle)
{
    struct sim *sm = ctx;
    const struct mock *m = NULL;
    for (size_t i = 0; i < sm->nmocks; i++) {
        if ((strcmp(sm->mocks[i].method, "*") == 0 ||
             strcmp(sm->mocks[i].method, rq->method) == 0) &&
            strncmp(sm->mocks[i].url, rq->url, strlen(sm->mocks[i].url)) == 0) {
            m = &sm->mocks[i];
            break;
        }
    }
    int64_t delay = (m != NULL && m->status == 0) ? rq->timeout_ms * 1000 : 50000;
    struct pending *p = pend_add(sm, sm->now + delay);
    if (p == NULL) {
        return ERR_BUSY;
    }
    p->http = true;
    p->cb = cb;
    p->arg = arg;
    p->mock = m;
    *handle = p;
    return 0;
}

static void http_cancel(void *ctx, void *handle)
{
    (void)ctx;
    ((struct pending *)handle)->used = false;
}

static const struct ivr_http_ops sim_http = { http_start, http_cancel };

static int64_t sim_now(void *arg)
{
    return ((struct sim *)arg)->now;
}

static int64_t sim_wall(void *arg)
{
    struct sim *sm = arg;
    return sm->wall0 + sm->now;
}

static void on_step(void *arg, const struct ivr_step *st)
{
    struct sim *sm = arg;
    json_t *o =
        json_pack("{s:i,s:s,s:s,s:s?,s:s?,s:I,s:I,s:O,s:O}", "step", st->seq, "node", st->node,
                  "type", st->type, "event_in", st->event_in, "event_out", st->event_out, "t_ms",
                  (json_int_t)(st->started_us / 1000), "end_ms", (json_int_t)(st->ended_us / 1000),
                  "vars", st->vars, "actions", st->actions);
    if (o != NULL) {
        json_array_append_new(sm->steps, o);
    }
    sm->closed++;
}

static void on_end(void *arg, const struct ivr_end *e)
{
    struct sim *sm = arg;
    sm->end =
        json_pack("{s:s,s:s?,s:s?,s:i}", "reason", ivr_end_reason_name(e->reason), "last_node",
                  e->last_node, "disposition", e->disposition, "steps", e->steps);
}

/* ---------------------------------------------------------------------- */
/* The run                                                                 */
/* ---------------------------------------------------------------------- */

/* Looks at where the flow is after a delivery (for "on NODE"). */
static void observe(struct sim *sm)
{
    const char *node = ivr_session_node(sm->s);
    if (node != NULL && (sm->closed > 0 || sm->last_node == NULL || strcmp(node, sm->last_node))) {
        sm->entered = true;
        sm->last_node = node;
    }
    sm->closed = 0;
}

/* Executes due timeline statements; returns the time of the next one or INT64_MAX. */
static int64_t timeline(struct sim *sm)
{
    while (sm->cursor < sm->nstmts && !ivr_session_ended(sm->s)) {
        struct stmt *st = &sm->stmts[sm->cursor];
        if (st->kind == S_ON) {
            const char *node = ivr_session_node(sm->s);
            if (!sm->entered || node == NULL || strcmp(node, st->arg) != 0) {
                sm->entered = false;
                return INT64_MAX;
            }
            sm->entered = false;
            sm->script_t = sm->now;
            sm->cursor++;
            continue;
        }
        if (sm->script_t > sm->now) {
            return sm->script_t;
        }
        if (sm->script_t < sm->now) {
            sm->script_t = sm->now;
        }
        if (st->kind == S_WAIT) {
            sm->script_t += st->dur;
            sm->cursor++;
            continue;
        }
        if (st->kind == S_HANGUP) {
            struct ivr_event ev = { .type = IVR_EV_HANGUP, .cause = 16 };
            sm->cursor++;
            sm->gone = true;
            ivr_session_event(sm->s, &ev);
            observe(sm);
            continue;
        }
        /* dtmf: one key now, the next after the gap. */
        struct ivr_event ev = { .type = IVR_EV_DTMF, .digit = st->arg[sm->key_i++] };
        if (st->arg[sm->key_i] == '\0') {
            sm->key_i = 0;
            sm->cursor++;
        }
        sm->script_t += st->dur;
        ivr_session_event(sm->s, &ev);
        observe(sm);
    }
    return INT64_MAX;
}

static void deliver(struct sim *sm, struct pending *p)
{
    struct pending copy = *p;
    p->used = false;
    if (copy.http) {
        const struct mock *m = copy.mock;
        if (m == NULL) {
            copy.cb(copy.arg, ERR_HTTP, 0, "", 0, "no mock answers this request");
        } else if (m->status == 0) {
            copy.cb(copy.arg, ERR_TIMEOUT, 0, "", 0, "timeout");
        } else if (m->status < 0) {
            copy.cb(copy.arg, -111, 0, "", 0, "connection refused");
        } else {
            copy.cb(copy.arg, 0, m->status, m->body, strlen(m->body), "");
        }
    } else {
        ivr_session_event(sm->s, &copy.ev);
    }
    observe(sm);
}

static void sim_free(struct sim *sm)
{
    for (size_t i = 0; i < sm->nstmts; i++) {
        free(sm->stmts[i].arg);
    }
    for (size_t i = 0; i < sm->nmocks; i++) {
        free(sm->mocks[i].method);
        free(sm->mocks[i].url);
        free(sm->mocks[i].body);
    }
    free(sm->mocks);
    json_decref(sm->steps);
    json_decref(sm->end);
}

int ivr_sim_run(struct ivr_flow *flow, const char *script, json_t *vars, json_t **log, char **err)
{
    struct sim *sm = calloc(1, sizeof(*sm));
    char *text = strdup(script ? script : "");
    char **lines = calloc(SIM_MAX_STMTS * 2, sizeof(char *));
    int rc = 0;
    *log = NULL;
    if (err != NULL) {
        *err = NULL;
    }
    if (sm == NULL || text == NULL || lines == NULL) {
        rc = ERR_NOMEM;
        goto out;
    }
    sm->prompt_us = 1000000;
    sm->record_us = 10000000;
    sm->xfer = IVR_XFER_COMPLETED;
    sm->wall0 = INT64_C(1767607200) * 1000000; /* 2026-01-05T10:00:00Z, a Monday */
    sm->steps = json_array();
    size_t n = split(text, lines, SIM_MAX_STMTS * 2);
    for (size_t i = 0; i < n; i++) {
        const char *why;
        char *copy = strdup(lines[i]);
        rc = copy ? parse_stmt(sm, lines[i], &why) : ERR_NOMEM;
        if (rc != 0) {
            if (rc == ERR_PARSE && err != NULL) {
                size_t len = strlen(copy) + strlen(why) + 64;
                *err = malloc(len);
                if (*err) {
                    snprintf(*err, len, "statement %zu (\"%s\"): %s", i + 1, copy, why);
                }
            }
            free(copy);
            goto out;
        }
        free(copy);
    }
    struct ivr_session_config cfg = {
        .ops = &sim_ops,
        .ops_ctx = sm,
        .http = &sim_http,
        .http_ctx = sm,
        .now_us = sim_now,
        .wall_us = sim_wall,
        .clock_arg = sm,
        .on_step = on_step,
        .on_end = on_end,
        .cb_arg = sm,
    };
    sm->s = ivr_session_create(flow, &cfg, vars);
    if (sm->s == NULL) {
        rc = ERR_NOMEM;
        goto out;
    }
    ivr_session_start(sm->s, "api", NULL);
    observe(sm);
    for (int turn = 0; turn < SIM_MAX_TURNS && !ivr_session_ended(sm->s); turn++) {
        int64_t next = timeline(sm);
        if (ivr_session_ended(sm->s)) {
            break;
        }
        int64_t dl = ivr_session_deadline(sm->s);
        struct pending *first = NULL;
        for (int i = 0; i < SIM_MAX_PENDING; i++) {
            if (sm->pend[i].used && (first == NULL || sm->pend[i].at < first->at)) {
                first = &sm->pend[i];
            }
        }
        int64_t t = next;
        if (dl < t) {
            t = dl;
        }
        if (first != NULL && first->at < t) {
            t = first->at;
        }
        if (t == INT64_MAX || t > SIM_MAX_US) {
            ivr_session_stop(sm->s); /* nothing can happen any more */
            break;
        }
        sm->now = t > sm->now ? t : sm->now;
        if (first != NULL && first->at <= sm->now) {
            deliver(sm, first);
        } else if (dl <= sm->now) {
            ivr_session_poll(sm->s);
            observe(sm);
        }
    }
    if (!ivr_session_ended(sm->s)) {
        ivr_session_stop(sm->s);
    }
    *log = json_pack("{s:O,s:O,s:I}", "steps", sm->steps, "end", sm->end ? sm->end : json_null(),
                     "duration_ms", (json_int_t)(sm->now / 1000));
    rc = *log ? 0 : ERR_NOMEM;
out:
    if (sm != NULL) {
        ivr_session_destroy(sm->s);
        sim_free(sm);
    }
    free(sm);
    free(text);
    free(lines);
    return rc;
}
