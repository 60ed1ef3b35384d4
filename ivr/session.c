/* SPDX-License-Identifier: MIT */
/*
 * session: the interpreter. One struct ivr_session runs one execution of a
 * compiled flow on one call, for outbound and inbound calls alike.
 *
 * The session is a state machine driven from outside: ivr_session_start(),
 * ivr_session_event() (playback finished, DTMF, recording finished,
 * transfer outcome, hang-up) and ivr_session_poll() (deadlines). Each entry
 * runs nodes until one has to wait: data nodes (set_variable, branch, loop,
 * start) run back to back in a loop, never by recursion; media and input
 * nodes call a channel operation and return. Nothing here blocks.
 *
 * Timers are three absolute deadlines on the injected clock: the node timer
 * (collect's first-digit or inter-digit timer, wait, api_call retry
 * backoff), collect's overall timer, and the call-duration guard. With a
 * loop, one ev_timer is armed for the earliest; a stale deadline is harmless
 * because poll re-reads the clock. Operation ids make stale completions
 * harmless too: only the completion of the operation the session waits for
 * counts (a PlaybackFinished after barge-in, an HTTP answer after hang-up
 * never arrives because the transfer is cancelled).
 *
 * Collect follows IVR-FLOWS.md 5.1: the prompt items are played one at a
 * time so barge-in drops the rest; the first-digit timer starts when the
 * prompt ends; any digit disarms it for good and (re)arms the inter-digit
 * timer; the finish key completes and is not part of the input; reaching
 * max_digits (or an unambiguous menu choice) completes at once; the overall
 * timer never cuts off a caller who is typing (jambonz #1306, #534, #1348):
 * once digits exist the inter-digit timer decides. no-input and no-match
 * have separate retry counters, reset on each entry into the node.
 *
 * Teardown: the caller's hang-up stops timers, cancels HTTP, never starts
 * media again, and either runs the flow's on_hangup handler (data nodes
 * only, with a small step budget) or ends the execution. on_end runs exactly
 * once; ivr_session_destroy() may be called from it (the free is deferred
 * until the outermost entry point returns).
 */
#include <ctype.h>
#include <ev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ivr/ivr_int.h"

#define NO_DEADLINE         INT64_MAX
#define HANDLER_STEP_BUDGET 20
#define HTTP_TOTAL_BUDGET   10000 /* ms across api_call retries */

enum phase {
    PH_IDLE = 0, /* between nodes / data node */
    PH_PROMPT,   /* playing a prompt sequence */
    PH_LISTEN,   /* collect: waiting for digits */
    PH_RECORD,   /* voicemail: recording */
    PH_HTTP,     /* api_call in flight */
    PH_BACKOFF,  /* api_call waiting to retry */
    PH_TRANSFER, /* waiting for the transfer outcome */
    PH_WAIT,     /* wait node */
};

struct counter_slot {
    int node;
    int count;
};

struct frame {
    struct ivr_flow *flow; /* parent flow (borrowed from the session's root ref) */
    int node;              /* the subflow node in the parent */
    json_t *flow_vars;     /* parent's flow.* object */
};

struct ivr_session {
    struct ivr_session_config cfg;
    struct ivr_flow *root; /* reference held */
    struct ivr_flow *flow; /* the flow running now (root or a subflow) */
    struct ivr_flow *sub;  /* reference to the running subflow, if any */
    struct frame frame;
    struct ivr__vars vars;     /* compact store (ivr/vars.c) */
    struct ivr_flow *sys_flow; /* reference to the flow whose zone sys.tz names */
    int node, last_node, consecutive;
    unsigned steps, handler_steps;
    unsigned step_limit; /* max_steps, or a little more once the error handler took over */
    enum phase phase;
    uint64_t op_seq, wait_op;
    int64_t t_node, t_overall, t_call;
    ev_timer timer;
    /* Prompt sequence: up to three lists played in order, looped. */
    const struct ivr__prompts *seq[3];
    int nseq, seq_li, loops_left;
    size_t seq_ii;
    /* Digits. */
    char digits[IVR_MAX_DIGITS + 1];
    char pending[IVR_MAX_DIGITS + 1]; /* pressed during a non-barge prompt */
    char typeahead[IVR_MAX_DIGITS + 1];
    uint8_t ndigits, npending, ntypeahead;
    uint8_t noinput, nomatch, attempts;
    bool terminator;
    /* api_call. */
    void *http;
    int http_attempt;
    int64_t http_started;
    /* Bookkeeping. */
    struct counter_slot *counters;
    size_t ncounters;
    const char *event_in;
    int64_t step_started;
    json_t *step_vars, *step_actions;
    struct ivr__buf scratch[2]; /* reused for conditions and assignments (no malloc per step) */
    const char *disposition;
    int cause;
    bool started, ended, hung_up, in_error, in_hangup, depth_destroy, step_open;
    int depth;
};

static void run(struct ivr_session *s, const char *event);
static void finish(struct ivr_session *s, enum ivr_end_reason reason);

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

const char *ivr_end_reason_name(enum ivr_end_reason r)
{
    static const char *const names[] = { "completed", "hangup", "transferred", "error",
                                         "max_steps", "loop",   "timeout",     "shutdown" };
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "error";
}

static int64_t now_us(const struct ivr_session *s)
{
    return s->cfg.now_us ? s->cfg.now_us(s->cfg.clock_arg) : clock_mono_us();
}

static int64_t wall_us(const struct ivr_session *s)
{
    return s->cfg.wall_us ? s->cfg.wall_us(s->cfg.clock_arg) : clock_wall_us();
}

static const struct ivr__node *cur(const struct ivr_session *s)
{
    return s->node >= 0 ? &s->flow->nodes[s->node] : NULL;
}

/*
 * The open step's records of changed variables and of actions, created on
 * first use (a step that changes nothing holds no objects while it waits);
 * NULL without a step sink or an open step.
 */
static json_t *step_vars(struct ivr_session *s)
{
    if (s->step_vars == NULL && s->cfg.on_step != NULL && s->step_open) {
        s->step_vars = json_object();
    }
    return s->step_vars;
}

static json_t *step_actions(struct ivr_session *s)
{
    if (s->step_actions == NULL && s->cfg.on_step != NULL && s->step_open) {
        s->step_actions = json_array();
    }
    return s->step_actions;
}

static void action(struct ivr_session *s, const char *kind, const char *text)
{
    if (step_actions(s) == NULL) {
        return;
    }
    size_t n = strlen(kind) + strlen(text) + 3;
    char *buf = malloc(n);
    if (buf != NULL) {
        snprintf(buf, n, "%s: %s", kind, text);
        json_array_append_new(s->step_actions, json_string(buf));
    }
    free(buf);
}

/* nodes.<current>.<key> = v (taken); masked values show as "***" in the step log. */
static void set_output(struct ivr_session *s, const char *key, json_t *v, bool masked)
{
    const struct ivr__node *n = cur(s);
    json_t *nodes = ivr__vars_group(&s->vars, "nodes", true);
    json_t *mine = json_object_get(nodes, n->id);
    if (nodes != NULL && mine == NULL) {
        mine = json_object();
        json_object_set_new(nodes, n->id, mine);
    }
    if (mine == NULL) {
        json_decref(v);
        return;
    }
    if (step_vars(s) != NULL) {
        char k[IVR_MAX_ID + 80];
        snprintf(k, sizeof(k), "nodes.%s.%s", n->id, key);
        json_object_set_new(s->step_vars, k, masked ? json_string("***") : json_copy(v));
    }
    json_object_set_new(mine, key, v);
}

static void set_var(struct ivr_session *s, char *const *seg, size_t nseg, json_t *v, bool masked)
{
    if (step_vars(s) != NULL) {
        char k[200];
        snprintf(k, sizeof(k), "%s.%s", seg[0], nseg > 1 ? seg[1] : "");
        json_object_set_new(s->step_vars, k, masked ? json_string("***") : json_copy(v));
    }
    ivr__vars_set(&s->vars, seg, nseg, v);
}

/* Renders t into a new string (free()); "" on OOM. */
static char *render(struct ivr_session *s, const struct ivr__tmpl *t, bool secrets)
{
    struct ivr__buf b = { 0 };
    int missing = 0;
    if (t != NULL) {
        ivr__tmpl_render(t, &s->vars, secrets, &b, &missing);
    }
    if (b.p == NULL || b.oom) {
        ivr__buf_fini(&b);
        return strdup("");
    }
    if (missing > 0 && s->cfg.on_step != NULL && s->step_open) {
        action(s, "warning", "a variable in a template was empty");
    }
    return b.p;
}

/* Renders t into the session's scratch buffer k; the result is valid until the next use of k. */
static const char *render_scratch(struct ivr_session *s, const struct ivr__tmpl *t, int k)
{
    struct ivr__buf *b = &s->scratch[k];
    int missing = 0;
    b->len = 0;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
    if (t != NULL) {
        ivr__tmpl_render(t, &s->vars, false, b, &missing);
    }
    if (b->oom || b->p == NULL) {
        ivr__buf_fini(b);
        return "";
    }
    if (missing > 0 && s->cfg.on_step != NULL && s->step_open) {
        action(s, "warning", "a variable in a template was empty");
    }
    return b->p;
}

/* sys.*: the instant and the offset are saved; the members are derived on lookup (vars.c). */
static void refresh_sys(struct ivr_session *s)
{
    int64_t w = wall_us(s) / CLOCK_US_PER_SEC;
    int off = 0;
    if (ivr__tz_fixed(s->flow->tz, &off) != 0 &&
        (s->cfg.tz_offset == NULL ||
         s->cfg.tz_offset(s->cfg.tz_arg, s->flow->tz, wall_us(s), &off) != 0) &&
        ivr__tz_builtin(s->flow->tz, wall_us(s), &off) != 0) {
        off = 0;
    }
    if (s->sys_flow != s->flow) {
        ivr_flow_unref(s->sys_flow);
        s->sys_flow = ivr_flow_ref(s->flow);
    }
    s->vars.sys_now = w;
    s->vars.sys_off = off;
    s->vars.sys_tz = s->flow->tz;
    s->vars.sys_set = true;
}

/* ---------------------------------------------------------------------- */
/* Timers                                                                  */
/* ---------------------------------------------------------------------- */

int64_t ivr_session_deadline(const struct ivr_session *s)
{
    int64_t d = s->t_node < s->t_overall ? s->t_node : s->t_overall;
    return d < s->t_call ? d : s->t_call;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ivr_session_poll(w->data);
}

static void rearm(struct ivr_session *s)
{
    if (s->cfg.loop == NULL) {
        return;
    }
    ev_timer_stop(s->cfg.loop, &s->timer);
    int64_t d = ivr_session_deadline(s);
    if (s->ended || d == NO_DEADLINE) {
        return;
    }
    int64_t delta = d - now_us(s);
    ev_timer_set(&s->timer, delta > 0 ? (double)delta / 1e6 : 0.0, 0.0);
    ev_timer_start(s->cfg.loop, &s->timer);
}

/* ---------------------------------------------------------------------- */
/* Steps and transitions                                                   */
/* ---------------------------------------------------------------------- */

static void step_close(struct ivr_session *s, const char *event_out)
{
    const struct ivr__node *n = cur(s);
    if (n == NULL || !s->step_open) {
        return;
    }
    bool records = step_vars(s) != NULL && step_actions(s) != NULL;
    s->step_open = false;
    if (records) {
        struct ivr_step st = {
            .seq = s->steps,
            .node = n->id,
            .type = ivr__ntype_names[n->type],
            .event_in = s->event_in,
            .event_out = event_out,
            .started_us = s->step_started,
            .ended_us = now_us(s),
            .vars = s->step_vars,
            .actions = s->step_actions,
        };
        s->cfg.on_step(s->cfg.cb_arg, &st);
    }
    json_decref(s->step_vars);
    json_decref(s->step_actions);
    s->step_vars = s->step_actions = NULL;
}

static int *counter(struct ivr_session *s, int node)
{
    for (size_t i = 0; i < s->ncounters; i++) {
        if (s->counters[i].node == node) {
            return &s->counters[i].count;
        }
    }
    struct counter_slot *c = realloc(s->counters, (s->ncounters + 1) * sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    s->counters = c;
    c[s->ncounters].node = node;
    c[s->ncounters].count = 0;
    return &c[s->ncounters++].count;
}

static void stop_waiting(struct ivr_session *s)
{
    s->t_node = s->t_overall = NO_DEADLINE;
    s->wait_op = 0;
    if (s->http != NULL) {
        s->cfg.http->cancel(s->cfg.http_ctx, s->http);
        s->http = NULL;
    }
    s->phase = PH_IDLE;
}

static void finish(struct ivr_session *s, enum ivr_end_reason reason)
{
    if (s->ended) {
        return;
    }
    stop_waiting(s);
    step_close(s, NULL);
    s->ended = true;
    s->t_call = NO_DEADLINE;
    if (s->cfg.loop != NULL) {
        ev_timer_stop(s->cfg.loop, &s->timer);
    }
    const struct ivr__node *n = cur(s);
    LOG_DEBUG(IVR, "event=end reason=%s node=%s steps=%u", ivr_end_reason_name(reason),
              n ? n->id : "-", s->steps);
    if (s->cfg.on_end != NULL) {
        struct ivr_end e = { reason, n ? n->id : NULL, s->disposition, s->steps, s->cause };
        s->cfg.on_end(s->cfg.cb_arg, &e);
    }
}

/* Where an unmapped event goes: the error handler for failures, else the end. */
static int route(struct ivr_session *s, const char *event, bool *failure)
{
    int t = ivr__edge_find(cur(s), event);
    *failure = strcmp(event, "error") == 0 || strcmp(event, "timeout") == 0 ||
               strcmp(event, "failed") == 0;
    if (t != IVR_NO_NODE) {
        return t;
    }
    if (*failure && s->flow->on_error != IVR_NO_NODE && !s->in_error && !s->hung_up) {
        s->in_error = true;
        return s->flow->on_error;
    }
    return IVR_NO_NODE;
}

static void subflow_return(struct ivr_session *s, const char *exit);

/* Leaves the current node with event; returns false when the execution ended. */
static bool transition(struct ivr_session *s, const char *event)
{
    bool failure;
    int target = route(s, event, &failure);
    step_close(s, event);
    if (target == IVR_NO_NODE) {
        if (s->sub != NULL && !failure) {
            subflow_return(s, "completed");
            return !s->ended;
        }
        if (s->sub != NULL) {
            subflow_return(s, "failed");
            return !s->ended;
        }
        finish(s, s->hung_up ? IVR_END_HANGUP : failure ? IVR_END_ERROR : IVR_END_COMPLETED);
        return false;
    }
    /* Runtime guards (IVR-FLOWS.md 5.4). */
    s->steps++;
    if (target == s->last_node) {
        s->consecutive++;
    } else {
        s->consecutive = 1;
    }
    s->last_node = target;
    enum ivr_end_reason guard = IVR_END_COMPLETED;
    const struct ivr__node *tn = &s->flow->nodes[target];
    if (s->hung_up && ++s->handler_steps > HANDLER_STEP_BUDGET) {
        guard = IVR_END_MAX_STEPS;
    } else if (s->steps > s->step_limit) {
        guard = IVR_END_MAX_STEPS;
    } else if (s->consecutive > s->flow->max_consecutive) {
        guard = IVR_END_LOOP;
    } else if (tn->max_visits > 0 && tn->type != IVR_N_LOOP) {
        int *c = counter(s, target);
        if (c != NULL && ++*c > tn->max_visits) {
            guard = IVR_END_LOOP;
        }
    }
    if (guard != IVR_END_COMPLETED) {
        LOG_INFO(IVR, "event=loop_guard reason=%s node=%s steps=%u", ivr_end_reason_name(guard),
                 tn->id, s->steps);
        if (s->flow->on_error != IVR_NO_NODE && !s->in_error && !s->hung_up) {
            s->in_error = true;
            s->step_limit = s->steps + HANDLER_STEP_BUDGET;
            s->consecutive = 0;
            target = s->flow->on_error;
        } else {
            s->node = IVR_NO_NODE;
            finish(s, guard);
            return false;
        }
    }
    s->node = target;
    s->event_in = event;
    s->step_started = now_us(s);
    s->step_open = true;
    return true;
}

/* ---------------------------------------------------------------------- */
/* Prompts                                                                 */
/* ---------------------------------------------------------------------- */

static void seq_reset(struct ivr_session *s, int loops)
{
    s->nseq = 0;
    s->seq_li = 0;
    s->seq_ii = 0;
    s->loops_left = loops;
}

static void seq_add(struct ivr_session *s, const struct ivr__prompts *p)
{
    if (p != NULL && p->n > 0 && s->nseq < 3) {
        s->seq[s->nseq++] = p;
    }
}

/* Starts the next prompt item. Returns 1 when one started, 0 when the sequence is done, <0 on
 * error. */
static int seq_next(struct ivr_session *s, const char *lang, const char *voice)
{
    for (;;) {
        if (s->seq_li >= s->nseq) {
            if (--s->loops_left <= 0 || s->nseq == 0) {
                return 0;
            }
            s->seq_li = 0;
            s->seq_ii = 0;
        }
        if (s->seq_ii >= s->seq[s->seq_li]->n) {
            s->seq_li++;
            s->seq_ii = 0;
            continue;
        }
        break;
    }
    const struct ivr__prompt *it = &s->seq[s->seq_li]->items[s->seq_ii++];
    char *text = render(s, it->text, false);
    uint64_t op = ++s->op_seq;
    int rc;
    if (it->is_say && it->say_as == IVR_SAY_TEXT) {
        action(s, "say", text);
        rc =
            s->cfg.ops->say ? s->cfg.ops->say(s->cfg.ops_ctx, op, text, lang, voice) : ERR_DECLINED;
    } else {
        static const char *const prefix[] = { "", "digits:", "number:", "characters:" };
        char *media = text;
        if (it->is_say) {
            size_t n = strlen(text) + 16;
            media = malloc(n);
            if (media != NULL) {
                snprintf(media, n, "%s%s", prefix[it->say_as], text);
            }
        }
        if (media == NULL) {
            free(text);
            return ERR_NOMEM;
        }
        action(s, "play", media);
        const char *const list[1] = { media };
        rc = s->cfg.ops->play(s->cfg.ops_ctx, op, list, 1, lang);
        if (media != text) {
            free(media);
        }
    }
    free(text);
    if (rc != 0) {
        return rc;
    }
    s->wait_op = op;
    s->phase = PH_PROMPT;
    return 1;
}

static const char *node_lang(struct ivr_session *s, char **own)
{
    const struct ivr__node *n = cur(s);
    *own = NULL;
    if ((n->type == IVR_N_PLAY || n->type == IVR_N_SAY) && n->u.media.lang != NULL) {
        *own = render(s, n->u.media.lang, false);
        return *own;
    }
    return s->flow->language;
}

/* Plays the next item; returns the node's event when the sequence ended or failed. */
static const char *prompt_step(struct ivr_session *s);

/* ---------------------------------------------------------------------- */
/* Collect                                                                 */
/* ---------------------------------------------------------------------- */

static const char *collect_listen(struct ivr_session *s);

static const char *collect_attempt(struct ivr_session *s, const struct ivr__prompts *retry)
{
    const struct ivr__collect *c = &cur(s)->u.collect;
    s->ndigits = 0;
    s->npending = 0;
    s->terminator = false;
    s->attempts++;
    seq_reset(s, 1);
    seq_add(s, retry);
    if (retry == NULL || c->replay_main) {
        seq_add(s, &c->prompt);
    }
    /* Type-ahead: digits pressed before this node (flush_before=false) skip a barge-in prompt. */
    if (s->ntypeahead > 0 && c->barge_in) {
        memcpy(s->pending, s->typeahead, s->ntypeahead);
        s->npending = s->ntypeahead;
        s->ntypeahead = 0;
        return collect_listen(s);
    }
    return prompt_step(s);
}

static bool choice_unambiguous(const struct ivr__collect *c, const char *d, size_t n)
{
    bool exact = false;
    for (size_t i = 0; i < c->nchoices; i++) {
        const char *cd = c->choices[i].digits;
        if (strlen(cd) == n && memcmp(cd, d, n) == 0) {
            exact = true;
        } else if (strlen(cd) > n && memcmp(cd, d, n) == 0) {
            return false;
        }
    }
    return exact;
}

static const char *collect_complete(struct ivr_session *s);

/* Feeds one digit while listening; returns an event when the attempt completed. */
static const char *collect_digit(struct ivr_session *s, char d)
{
    const struct ivr__collect *c = &cur(s)->u.collect;
    if (c->finish_key != 0 && d == c->finish_key) {
        s->terminator = true;
        return collect_complete(s);
    }
    if (s->ndigits < IVR_MAX_DIGITS) {
        s->digits[s->ndigits++] = d;
        s->digits[s->ndigits] = '\0';
    }
    if (s->ndigits >= c->max_digits ||
        (c->nchoices > 0 && choice_unambiguous(c, s->digits, s->ndigits))) {
        return collect_complete(s);
    }
    /* Once any digit arrived the first-digit timer no longer applies. */
    s->t_node = now_us(s) + c->inter_ms * CLOCK_US_PER_MS;
    return NULL;
}

static const char *collect_listen(struct ivr_session *s)
{
    const struct ivr__collect *c = &cur(s)->u.collect;
    int64_t now = now_us(s);
    s->phase = PH_LISTEN;
    s->wait_op = 0;
    s->t_node = now + c->first_ms * CLOCK_US_PER_MS;
    s->t_overall = c->max_ms > 0 ? now + c->max_ms * CLOCK_US_PER_MS : NO_DEADLINE;
    for (uint8_t i = 0; i < s->npending; i++) {
        const char *ev = collect_digit(s, s->pending[i]);
        if (ev != NULL || s->phase != PH_LISTEN) {
            s->npending = 0;
            return ev;
        }
    }
    s->npending = 0;
    return NULL;
}

static bool digits_valid(const struct ivr__collect *c, const char *d)
{
    if (c->valid_digits != NULL) {
        for (const char *p = d; *p; p++) {
            if (strchr(c->valid_digits, *p) == NULL) {
                return false;
            }
        }
    }
    return !c->has_pattern || regexec(&c->pattern, d, 0, NULL, 0) == 0;
}

static const char *collect_complete(struct ivr_session *s)
{
    const struct ivr__node *n = cur(s);
    const struct ivr__collect *c = &n->u.collect;
    const char *reason;
    const char *ev = NULL;
    s->t_node = s->t_overall = NO_DEADLINE;
    s->phase = PH_IDLE;
    s->digits[s->ndigits] = '\0';
    if (s->ndigits == 0) {
        reason = "noinput";
    } else if ((int)s->ndigits < c->min_digits || !digits_valid(c, s->digits)) {
        reason = "nomatch";
    } else if (c->nchoices > 0) {
        reason = "nomatch";
        for (size_t i = 0; i < c->nchoices; i++) {
            if (strcmp(c->choices[i].digits, s->digits) == 0) {
                reason = "match";
                ev = c->choices[i].event;
            }
        }
    } else {
        reason = "match";
        ev = "input";
    }
    action(s, "input", c->mask && s->ndigits ? "***" : (s->ndigits ? s->digits : "(none)"));
    set_output(s, "digits", json_string(s->digits), c->mask);
    set_output(s, "reason", json_string(reason), false);
    set_output(s, "attempts", json_integer(s->attempts), false);
    set_output(s, "terminator_pressed", json_boolean(s->terminator), false);
    if (ev != NULL) {
        if (c->save_as != NULL) {
            char flow[] = "flow";
            char *seg[2] = { flow, c->save_as };
            set_var(s, seg, 2, json_string(s->digits), c->mask);
        }
        return ev;
    }
    if (strcmp(reason, "noinput") == 0) {
        if (++s->noinput > c->max_noinput) {
            return "noinput";
        }
        size_t k = c->nnoinput ? (size_t)(s->noinput - 1) : 0;
        k = k < c->nnoinput ? k : c->nnoinput - 1;
        return collect_attempt(s, c->nnoinput ? &c->noinput_prompts[k] : NULL);
    }
    if (++s->nomatch > c->max_nomatch) {
        return "nomatch";
    }
    size_t k = c->nnomatch ? (size_t)(s->nomatch - 1) : 0;
    k = k < c->nnomatch ? k : c->nnomatch - 1;
    return collect_attempt(s, c->nnomatch ? &c->nomatch_prompts[k] : NULL);
}

/* ---------------------------------------------------------------------- */
/* Node bodies                                                             */
/* ---------------------------------------------------------------------- */

/*
 * The recording name of a voicemail: unique per call (the channel id from
 * call.channel, then the step and the operation), so two callers leaving a
 * message at the same step never share a file (Asterisk refuses a second
 * live recording of a name, and would overwrite a stored one). Characters
 * outside [A-Za-z0-9._-] become '_'; parts are bounded so the name fits.
 */
static void vm_name(const struct ivr_session *s, const char *node, uint64_t op, char *out,
                    size_t cap)
{
    const char *chan = ivr__vars_str(&s->vars, "call", "channel");
    char c[81] = "";
    if (chan != NULL) {
        snprintf(c, sizeof(c), "%s-", chan);
        for (char *p = c; *p != '\0'; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') {
                *p = '_';
            }
        }
    }
    snprintf(out, cap, "vm-%s%.40s-%llu", c, node, (unsigned long long)op);
}

static const char *after_prompt(struct ivr_session *s)
{
    const struct ivr__node *n = cur(s);
    switch (n->type) {
    case IVR_N_PLAY:
    case IVR_N_SAY:
        s->phase = PH_IDLE;
        return "done";
    case IVR_N_COLLECT:
        return collect_listen(s);
    case IVR_N_VOICEMAIL: {
        struct ivr_record_params p = { 0 };
        char name[160];
        char term[2] = { n->u.vm.finish_key, 0 };
        uint64_t op = ++s->op_seq;
        vm_name(s, n->id, op, name, sizeof(name));
        p.name = name;
        p.format = "wav";
        p.max_duration_s = n->u.vm.max_length_s;
        p.max_silence_s = n->u.vm.silence_s;
        p.beep = n->u.vm.beep;
        p.terminate = term[0] ? term : "none";
        action(s, "record", name);
        set_output(s, "recording", json_string(name), false);
        if (s->cfg.ops->record == NULL || s->cfg.ops->record(s->cfg.ops_ctx, op, &p) != 0) {
            s->phase = PH_IDLE;
            return "error";
        }
        s->wait_op = op;
        s->phase = PH_RECORD;
        return NULL;
    }
    case IVR_N_HANGUP:
        action(s, "hangup", n->u.hangup.disposition ? n->u.hangup.disposition : "");
        s->disposition = n->u.hangup.disposition;
        if (!s->hung_up) {
            s->cfg.ops->hangup(s->cfg.ops_ctx, n->u.hangup.cause);
        }
        finish(s, s->hung_up ? IVR_END_HANGUP : IVR_END_COMPLETED);
        return NULL;
    default:
        return "error";
    }
}

static const char *prompt_step(struct ivr_session *s)
{
    char *own;
    const struct ivr__node *n = cur(s);
    const char *lang = node_lang(s, &own);
    char *voice =
        (n->type == IVR_N_SAY && n->u.media.voice) ? render(s, n->u.media.voice, false) : NULL;
    int rc = seq_next(s, lang, voice ? voice : s->flow->voice);
    free(own);
    free(voice);
    if (rc > 0) {
        return NULL;
    }
    if (rc < 0) {
        s->phase = PH_IDLE;
        set_output(s, "error", json_string("media"), false);
        return "error";
    }
    return after_prompt(s);
}

static const char *exec_media(struct ivr_session *s)
{
    const struct ivr__node *n = cur(s);
    seq_reset(s, n->u.media.loop);
    seq_add(s, &n->u.media.items);
    return prompt_step(s);
}

static bool to_number(const char *s, double *d)
{
    char *end;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (*s == '\0') {
        return false;
    }
    *d = strtod(s, &end);
    while (isspace((unsigned char)*end)) {
        end++;
    }
    return *end == '\0';
}

static int to_bool(const char *s)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) {
        return 1;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") || *s == '\0') {
        return 0;
    }
    return -1;
}

static const char *exec_set(struct ivr_session *s)
{
    const struct ivr__set *st = &cur(s)->u.set;
    for (size_t i = 0; i < st->n; i++) {
        const struct ivr__assign *a = &st->assign[i];
        const char *text = render_scratch(s, a->value, 0);
        json_t *v = NULL;
        double d;
        int b;
        switch (a->type) {
        case IVR_T_STRING:
            v = json_string(text);
            break;
        case IVR_T_NUMBER:
            if (to_number(text, &d)) {
                v = (d == (double)(json_int_t)d && d > -9e15 && d < 9e15)
                        ? json_integer((json_int_t)d)
                        : json_real(d);
            }
            break;
        case IVR_T_BOOL:
            b = to_bool(text);
            v = b < 0 ? NULL : json_boolean(b);
            break;
        case IVR_T_JSON:
            v = json_loads(text, JSON_DECODE_ANY, NULL);
            break;
        }
        if (v == NULL) {
            set_output(s, "error",
                       json_sprintf("%s is not a valid %s", a->seg[a->nseg - 1],
                                    a->type == IVR_T_NUMBER ? "number"
                                    : a->type == IVR_T_BOOL ? "true/false"
                                                            : "JSON value"),
                       false);
            return "error";
        }
        set_var(s, a->seg, a->nseg, v, false);
    }
    return "next";
}

/* Local time in the zone tz: minutes of day, weekday (0 = Sunday), days since epoch. */
static void local_time(struct ivr_session *s, const char *tz, int *mins, int *wday, int *days)
{
    int off = 0;
    int64_t w = wall_us(s);
    if (tz == NULL) {
        tz = s->flow->tz;
    }
    if (ivr__tz_fixed(tz, &off) != 0 &&
        (s->cfg.tz_offset == NULL || s->cfg.tz_offset(s->cfg.tz_arg, tz, w, &off) != 0) &&
        ivr__tz_builtin(tz, w, &off) != 0) {
        action(s, "warning", "unknown time zone, UTC used");
        off = 0;
    }
    int64_t local = w / CLOCK_US_PER_SEC + (int64_t)off * 60;
    int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    *days = (int)day;
    *mins = (int)((local - day * 86400) / 60);
    *wday = (int)((day % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
}

static bool eval_cond(struct ivr_session *s, const struct ivr__cond *c)
{
    int mins, wday, days;
    static const char *const wd[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
    switch (c->op) {
    case IVR_OP_ALL:
        for (size_t i = 0; i < c->nsub; i++) {
            if (!eval_cond(s, &c->sub[i])) {
                return false;
            }
        }
        return true;
    case IVR_OP_ANY:
        for (size_t i = 0; i < c->nsub; i++) {
            if (eval_cond(s, &c->sub[i])) {
                return true;
            }
        }
        return false;
    case IVR_OP_BEFORE_TIME:
    case IVR_OP_AFTER_TIME:
        local_time(s, c->tz, &mins, &wday, &days);
        return c->op == IVR_OP_BEFORE_TIME ? mins < c->t1 : mins >= c->t1;
    case IVR_OP_WEEKDAY_IN:
        local_time(s, c->tz, &mins, &wday, &days);
        for (size_t i = 0; i < c->nlist; i++) {
            if (strcmp(c->list[i], wd[wday]) == 0) {
                return true;
            }
        }
        return false;
    case IVR_OP_DATE_BETWEEN:
        local_time(s, c->tz, &mins, &wday, &days);
        return days >= c->t1 && days <= c->t2;
    case IVR_OP_BUSINESS_HOURS: {
        const struct ivr__calendar *cal = c->cal;
        local_time(s, cal->tz, &mins, &wday, &days);
        for (size_t i = 0; i < cal->nholidays; i++) {
            if (cal->holidays[i] == days) {
                return false;
            }
        }
        for (size_t i = 0; i < cal->ndays[wday]; i++) {
            if (mins >= cal->days[wday][i].from && mins < cal->days[wday][i].to) {
                return true;
            }
        }
        return false;
    }
    default:
        break;
    }
    const char *l = render_scratch(s, c->left, 0);
    const char *r = c->right ? render_scratch(s, c->right, 1) : NULL;
    bool res = false;
    bool lnum = false;
    double a, b;
    int ba, bb;
    switch (c->op) {
    case IVR_OP_EMPTY:
        res = *l == '\0';
        break;
    case IVR_OP_NOT_EMPTY:
        res = *l != '\0';
        break;
    case IVR_OP_IN:
    case IVR_OP_NOT_IN:
        lnum = c->as == IVR_AS_NUMBER && to_number(l, &a);
        for (size_t i = 0; i < c->nlist && !res; i++) {
            res = c->as == IVR_AS_NUMBER ? (lnum && to_number(c->list[i], &b) && a == b)
                                         : strcmp(l, c->list[i]) == 0;
        }
        res = c->op == IVR_OP_IN ? res : !res;
        break;
    case IVR_OP_CONTAINS:
        res = strstr(l, r) != NULL;
        break;
    case IVR_OP_STARTS_WITH:
        res = strncmp(l, r, strlen(r)) == 0;
        break;
    case IVR_OP_ENDS_WITH:
        res = strlen(l) >= strlen(r) && strcmp(l + strlen(l) - strlen(r), r) == 0;
        break;
    case IVR_OP_REGEX:
        res = c->has_re && regexec(&c->re, l, 0, NULL, 0) == 0;
        break;
    default: /* eq ne lt le gt ge */
        if (c->as == IVR_AS_NUMBER) {
            if (!to_number(l, &a) || !to_number(r, &b)) {
                res = false; /* not a number: no route matches, default is taken */
                break;
            }
            res = c->op == IVR_OP_EQ   ? a == b
                  : c->op == IVR_OP_NE ? a != b
                  : c->op == IVR_OP_LT ? a < b
                  : c->op == IVR_OP_LE ? a <= b
                  : c->op == IVR_OP_GT ? a > b
                                       : a >= b;
        } else if (c->as == IVR_AS_BOOL) {
            ba = to_bool(l);
            bb = to_bool(r);
            res = ba >= 0 && bb >= 0 && (c->op == IVR_OP_EQ ? ba == bb : ba != bb);
        } else {
            res = c->op == IVR_OP_EQ ? strcmp(l, r) == 0 : strcmp(l, r) != 0;
        }
        break;
    }
    return res;
}

static const char *exec_branch(struct ivr_session *s)
{
    const struct ivr__branch *b = &cur(s)->u.branch;
    for (size_t i = 0; i < b->nroutes; i++) {
        if (eval_cond(s, &b->routes[i].cond)) {
            return b->routes[i].event;
        }
    }
    return "default";
}

static const char *exec_loop(struct ivr_session *s)
{
    const struct ivr__node *n = cur(s);
    int *c = counter(s, s->node);
    if (c == NULL) {
        return "exhausted";
    }
    if (++*c > n->u.loop.max) {
        *c = 0; /* the next time round the loop starts again (Connect's Loop) */
        set_output(s, "count", json_integer(n->u.loop.max), false);
        return "exhausted";
    }
    set_output(s, "count", json_integer(*c), false);
    return "continue";
}

/* ---------------------------------------------------------------------- */
/* api_call                                                                */
/* ---------------------------------------------------------------------- */

static void http_done(void *arg, int status, long code, const char *body, size_t len,
                      const char *reason);

/*
 * Renders a JSON body: each string leaf is a template rendered on its own and
 * stored as a JSON string, so a quote in a variable cannot break the
 * document; a leaf that is exactly one {{expression}} of a non-string value
 * keeps that value's type. Returns a new value.
 */
static json_t *render_json(struct ivr_session *s, json_t *j)
{
    if (json_is_string(j)) {
        const char *src = json_string_value(j);
        const char *err;
        size_t n = strlen(src);
        if (n > 4 && strncmp(src, "{{", 2) == 0 && strstr(src + 2, "{{") == NULL &&
            strcmp(src + n - 2, "}}") == 0 && strchr(src, '|') == NULL) {
            char path[256];
            size_t k = 0;
            for (const char *p = src + 2; p < src + n - 2 && k + 1 < sizeof(path); p++) {
                if (*p != ' ') {
                    path[k++] = *p;
                }
            }
            path[k] = '\0';
            size_t nseg;
            char **seg = ivr__split_path(path, &nseg);
            json_t *tmp = NULL;
            json_t *v = seg && strcmp(seg[0], "secrets") != 0
                            ? ivr__vars_get(&s->vars, seg, nseg, &tmp)
                            : NULL;
            if (seg != NULL) {
                ivr__free_path(seg, nseg);
            }
            if (v != NULL && !json_is_string(v)) {
                json_t *r = json_deep_copy(v);
                json_decref(tmp);
                return r;
            }
            json_decref(tmp);
        }
        struct ivr__tmpl *t = ivr__tmpl_compile(src, &err);
        char *text = render(s, t, false);
        ivr__tmpl_free(t);
        json_t *r = json_string(text);
        free(text);
        return r;
    }
    if (json_is_object(j)) {
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach (j, k, v) {
            json_object_set_new(o, k, render_json(s, v));
        }
        return o;
    }
    if (json_is_array(j)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
            json_array_append_new(a, render_json(s, v));
        }
        return a;
    }
    return json_copy(j);
}

static int http_send(struct ivr_session *s)
{
    const struct ivr__api *a = &cur(s)->u.api;
    struct ivr__buf url = { 0 };
    char *u = render(s, a->url, false);
    char **hdr = calloc(a->nheaders + 2, sizeof(char *));
    char *body = a->body ? render(s, a->body, false) : NULL;
    if (a->body_json != NULL) {
        json_t *b = render_json(s, a->body_json);
        body = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(b);
    }
    char *user = a->user ? render(s, a->user, true) : NULL;
    char *pass = a->pass ? render(s, a->pass, true) : NULL;
    size_t nh = 0;
    int rc = ERR_NOMEM;
    if (hdr == NULL) {
        goto out;
    }
    ivr__buf_adds(&url, u);
    for (size_t i = 0; i < a->nquery; i++) {
        char *v = render(s, a->query[i].value, false);
        const char *sep = (i == 0 && strchr(u, '?') == NULL) ? "?" : "&";
        ivr__buf_adds(&url, sep);
        for (const char *p = a->query[i].name; *p; p++) {
            char e[4];
            snprintf(e, sizeof(e), isalnum((unsigned char)*p) ? "%c" : "%%%02X", (unsigned char)*p);
            ivr__buf_adds(&url, e);
        }
        ivr__buf_adds(&url, "=");
        for (const char *p = v; *p; p++) {
            char e[4];
            snprintf(e, sizeof(e),
                     (isalnum((unsigned char)*p) || strchr("-_.~", *p)) ? "%c" : "%%%02X",
                     (unsigned char)*p);
            ivr__buf_adds(&url, e);
        }
        free(v);
    }
    for (size_t i = 0; i < a->nheaders; i++) {
        char *v = render(s, a->headers[i].value, true);
        size_t n = strlen(a->headers[i].name) + strlen(v) + 3;
        hdr[nh] = malloc(n);
        if (hdr[nh] != NULL) {
            snprintf(hdr[nh++], n, "%s: %s", a->headers[i].name, v);
        }
        free(v);
    }
    if (a->bearer != NULL) {
        char *t = render(s, a->bearer, true);
        size_t n = strlen(t) + 32;
        hdr[nh] = malloc(n);
        if (hdr[nh] != NULL) {
            snprintf(hdr[nh++], n, "Authorization: Bearer %s", t);
        }
        free(t);
    }
    if (body != NULL && a->body_json != NULL) {
        /* JSON bodies (objects in the flow) are announced as such. */
        bool has_ct = false;
        for (size_t i = 0; i < a->nheaders; i++) {
            has_ct |= strcasecmp(a->headers[i].name, "Content-Type") == 0;
        }
        if (!has_ct) {
            hdr[nh] = strdup("Content-Type: application/json");
            nh += hdr[nh] != NULL;
        }
    }
    if (url.oom || url.p == NULL) {
        goto out;
    }
    action(s, "http", a->method);
    /* The query may carry collected digits: the step log shows the address only. */
    char *q = strchr(url.p, '?');
    if (q != NULL) {
        *q = '\0';
    }
    action(s, "url", url.p);
    if (q != NULL) {
        *q = '?';
    }
    struct ivr_http_req rq = {
        .method = a->method,
        .url = url.p,
        .headers = (const char *const *)hdr,
        .nheaders = nh,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .username = user,
        .password = pass,
        .connect_timeout_ms = a->connect_ms,
        .timeout_ms = a->timeout_ms,
        .max_response_bytes = a->max_bytes,
    };
    s->http_attempt++;
    rc = s->cfg.http ? s->cfg.http->start(s->cfg.http_ctx, &rq, http_done, s, &s->http)
                     : ERR_DECLINED;
    if (rc == 0) {
        s->phase = PH_HTTP;
    }
out:
    for (size_t i = 0; hdr && i < nh; i++) {
        free(hdr[i]);
    }
    free(hdr);
    free(u);
    free(body);
    free(user);
    free(pass);
    ivr__buf_fini(&url);
    return rc;
}

static const char *exec_api(struct ivr_session *s)
{
    s->http_attempt = 0;
    s->http_started = now_us(s);
    int rc = http_send(s);
    if (rc != 0) {
        set_output(s, "reason", json_string(rc == ERR_DECLINED ? "no_http" : err_name(rc)), false);
        return "error";
    }
    return NULL;
}

static bool retry_allowed(struct ivr_session *s)
{
    const struct ivr__api *a = &cur(s)->u.api;
    int64_t spent_ms = (now_us(s) - s->http_started) / CLOCK_US_PER_MS;
    int64_t wait = a->backoff_ms << (s->http_attempt - 1);
    if (s->http_attempt > a->retries || spent_ms + wait + a->timeout_ms > HTTP_TOTAL_BUDGET) {
        return false;
    }
    s->phase = PH_BACKOFF;
    s->t_node = now_us(s) + wait * CLOCK_US_PER_MS;
    return true;
}

static void map_response(struct ivr_session *s, json_t *body)
{
    const struct ivr__api *a = &cur(s)->u.api;
    for (size_t i = 0; i < a->nmap; i++) {
        json_t *v = ivr__lookup(body, a->map[i].path, a->map[i].npath);
        set_var(s, a->map[i].seg, a->map[i].nseg, v ? json_deep_copy(v) : json_null(), false);
    }
}

static void http_done(void *arg, int status, long code, const char *body, size_t len,
                      const char *reason)
{
    struct ivr_session *s = arg;
    const char *ev;
    s->http = NULL;
    if (s->ended || s->phase != PH_HTTP) {
        return;
    }
    s->depth++;
    s->phase = PH_IDLE;
    if (status == 0 && code >= 200 && code < 300) {
        json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
        set_output(s, "status", json_integer(code), false);
        set_output(s, "body", j ? j : json_stringn(body, len), false);
        map_response(s, j ? j : NULL);
        ev = "success";
    } else if (status == ERR_TIMEOUT) {
        set_output(s, "reason", json_string("timeout"), false);
        ev = retry_allowed(s) ? NULL : "timeout";
    } else if (status == 0) {
        set_output(s, "status", json_integer(code), false);
        set_output(s, "reason", json_string("http_status"), false);
        ev = (code >= 500 && retry_allowed(s)) ? NULL : "error";
    } else {
        set_output(s, "status", json_integer(0), false);
        set_output(s, "reason",
                   json_string(status == ERR_FORBIDDEN ? "forbidden_address"
                               : status == ERR_TOOBIG
                                   ? "response_too_large"
                                   : (reason && *reason ? reason : err_name(status))),
                   false);
        ev = "error";
    }
    if (ev != NULL && !s->ended) {
        run(s, ev);
    }
    rearm(s);
    if (--s->depth == 0 && s->depth_destroy) {
        ivr_session_destroy(s);
    }
}

/* ---------------------------------------------------------------------- */
/* transfer, subflow                                                       */
/* ---------------------------------------------------------------------- */

static const char *exec_transfer(struct ivr_session *s)
{
    const struct ivr__transfer *t = &cur(s)->u.transfer;
    char *target = render(s, t->target, false);
    char *cid = t->caller_id ? render(s, t->caller_id, false) : NULL;
    uint64_t op = ++s->op_seq;
    action(s, t->mode == IVR_TRANSFER_BLIND ? "transfer" : "bridge", t->target_type);
    int rc = s->cfg.ops->transfer
                 ? s->cfg.ops->transfer(s->cfg.ops_ctx, op, t->mode, target, t->ring_timeout_s, cid)
                 : ERR_DECLINED;
    free(target);
    free(cid);
    if (rc != 0) {
        return "failed";
    }
    s->wait_op = op;
    s->phase = PH_TRANSFER;
    return NULL;
}

static const char *exec_subflow(struct ivr_session *s)
{
    const struct ivr__subflow *sf = &cur(s)->u.sub;
    if (s->sub != NULL || s->cfg.subflow == NULL) {
        return "failed";
    }
    struct ivr_flow *child = s->cfg.subflow(sf->flow_id, sf->revision, s->cfg.subflow_arg);
    if (child == NULL || child->start == IVR_NO_NODE) {
        ivr_flow_unref(child);
        return "failed";
    }
    json_t *inputs = json_object();
    for (size_t i = 0; i < sf->ninputs; i++) {
        char *v = render(s, sf->inputs[i].value, false);
        json_object_set_new(inputs, sf->inputs[i].name, json_string(v));
        free(v);
    }
    step_close(s, "enter");
    s->frame.flow = s->flow;
    s->frame.node = s->node;
    s->frame.flow_vars = json_incref(ivr__vars_group(&s->vars, "flow", false));
    json_object_update_missing(inputs, child->var_defaults);
    if (ivr__vars_group(&s->vars, "flow", true) != NULL) {
        json_object_set_new(s->vars.tree, "flow", inputs);
    } else {
        json_decref(inputs);
    }
    s->sub = child;
    s->flow = child;
    s->node = child->start;
    s->last_node = IVR_NO_NODE;
    s->steps++; /* the child's start is a step of its own (its record has the next seq) */
    s->event_in = "enter";
    s->step_open = true;
    s->step_started = now_us(s);
    return "next";
}

/* True when flow f collects masked input (its outputs are then masked in the step log). */
static bool flow_masks(const struct ivr_flow *f)
{
    for (size_t i = 0; i < f->nnodes; i++) {
        if (f->nodes[i].type == IVR_N_COLLECT && f->nodes[i].u.collect.mask) {
            return true;
        }
    }
    return false;
}

static void subflow_return(struct ivr_session *s, const char *exit)
{
    const struct ivr__subflow *sf = &s->frame.flow->nodes[s->frame.node].u.sub;
    bool masked = flow_masks(s->sub);
    json_t *outs = json_object();
    for (size_t i = 0; i < sf->noutputs; i++) {
        char *v = render(s, sf->outputs[i].value, false);
        json_object_set_new(outs, sf->outputs[i].name, json_string(v));
        free(v);
    }
    if (s->frame.flow_vars == NULL) {
        s->frame.flow_vars = json_object(); /* the parent's flow.* held nothing */
    }
    if (ivr__vars_group(&s->vars, "flow", true) != NULL && s->frame.flow_vars != NULL) {
        json_object_set_new(s->vars.tree, "flow", s->frame.flow_vars);
        json_object_update(s->frame.flow_vars, outs);
    } else {
        json_decref(s->frame.flow_vars);
    }
    s->frame.flow_vars = NULL;
    s->flow = s->frame.flow;
    s->node = s->frame.node;
    ivr_flow_unref(s->sub);
    s->sub = NULL;
    s->steps++; /* back in the subflow step: a new step record */
    s->step_open = true;
    s->event_in = "return";
    if (step_vars(s) != NULL) {
        /* The outputs are this step's variable changes. */
        for (size_t i = 0; i < sf->noutputs; i++) {
            char k[200];
            json_t *v = json_object_get(outs, sf->outputs[i].name);
            snprintf(k, sizeof(k), "flow.%s", sf->outputs[i].name);
            json_object_set_new(s->step_vars, k, masked ? json_string("***") : json_copy(v));
        }
    }
    json_decref(outs);
    run(s, strcmp(exit, "failed") == 0 ? "failed" : "completed");
}

/* ---------------------------------------------------------------------- */
/* The run loop                                                            */
/* ---------------------------------------------------------------------- */

static bool is_media_type(enum ivr__ntype t)
{
    return t == IVR_N_PLAY || t == IVR_N_SAY || t == IVR_N_COLLECT || t == IVR_N_TRANSFER ||
           t == IVR_N_VOICEMAIL || t == IVR_N_WAIT || t == IVR_N_SUBFLOW;
}

/* Executes the current node; returns its event, or NULL when it waits (or the run ended). */
static const char *exec(struct ivr_session *s)
{
    const struct ivr__node *n = cur(s);
    if (s->hung_up && is_media_type(n->type)) {
        finish(s, IVR_END_HANGUP); /* never start media after the caller left */
        return NULL;
    }
    switch (n->type) {
    case IVR_N_START:
        if (s->event_in != NULL && strcmp(s->event_in, "start") == 0) {
            const char *amd = ivr__vars_str(&s->vars, "call", "amd_result");
            if (amd != NULL && ivr__edge_find(n, amd) != IVR_NO_NODE) {
                return amd;
            }
        }
        return "next";
    case IVR_N_PLAY:
    case IVR_N_SAY:
        return exec_media(s);
    case IVR_N_COLLECT:
        s->noinput = s->nomatch = s->attempts = 0;
        if (n->u.collect.flush_before) {
            s->ntypeahead = 0;
        }
        return collect_attempt(s, NULL);
    case IVR_N_BRANCH:
        return exec_branch(s);
    case IVR_N_SET_VARIABLE:
        return exec_set(s);
    case IVR_N_API_CALL:
        return exec_api(s);
    case IVR_N_TRANSFER:
        return exec_transfer(s);
    case IVR_N_VOICEMAIL:
        seq_reset(s, 1);
        seq_add(s, &n->u.vm.greeting);
        return prompt_step(s);
    case IVR_N_HANGUP:
        seq_reset(s, 1);
        seq_add(s, &n->u.hangup.final_prompt);
        return s->hung_up ? after_prompt(s) : prompt_step(s);
    case IVR_N_LOOP:
        return exec_loop(s);
    case IVR_N_WAIT:
        s->phase = PH_WAIT;
        s->t_node = now_us(s) + n->u.wait.ms * CLOCK_US_PER_MS;
        return NULL;
    case IVR_N_SUBFLOW:
        return exec_subflow(s);
    case IVR_N_RETURN:
        if (s->sub != NULL) {
            step_close(s, n->u.ret.exit);
            subflow_return(s, n->u.ret.exit);
            return NULL;
        }
        finish(s, IVR_END_COMPLETED);
        return NULL;
    default:
        return "error";
    }
}

/* Leaves the current node with event and runs until something waits. */
static void run(struct ivr_session *s, const char *event)
{
    while (event != NULL && !s->ended) {
        if (!transition(s, event)) {
            return;
        }
        event = exec(s);
    }
}

/* ---------------------------------------------------------------------- */
/* Events                                                                  */
/* ---------------------------------------------------------------------- */

static const char *on_playback(struct ivr_session *s, const struct ivr_event *ev)
{
    if (s->phase != PH_PROMPT || ev->op != s->wait_op) {
        return NULL; /* stale: stopped by barge-in, or not ours */
    }
    s->wait_op = 0;
    if (ev->failed) {
        s->phase = PH_IDLE;
        set_output(s, "error", json_string("media"), false);
        return "error";
    }
    return prompt_step(s);
}

static void typeahead_push(struct ivr_session *s, char d)
{
    if (s->ntypeahead < IVR_MAX_DIGITS) {
        s->typeahead[s->ntypeahead++] = d;
    }
}

static const char *on_dtmf(struct ivr_session *s, char d)
{
    const struct ivr__node *n = cur(s);
    char dstr[2] = { d, 0 };
    if (strchr("0123456789*#ABCD", d) == NULL || d == '\0') {
        return NULL;
    }
    if (n->type == IVR_N_COLLECT) {
        const struct ivr__collect *c = &n->u.collect;
        action(s, "dtmf", c->mask ? "(masked)" : dstr);
        if (s->phase == PH_PROMPT) {
            if (!c->barge_in) {
                if (!c->ignore_during_prompt && s->npending < IVR_MAX_DIGITS) {
                    s->pending[s->npending++] = d;
                }
                return NULL;
            }
            /* Barge-in: stop this item and drop the rest of the sequence. */
            if (s->cfg.ops->stop_playback != NULL) {
                s->cfg.ops->stop_playback(s->cfg.ops_ctx, s->wait_op);
            }
            s->pending[0] = d;
            s->npending = 1;
            return collect_listen(s);
        }
        return s->phase == PH_LISTEN ? collect_digit(s, d) : NULL;
    }
    action(s, "dtmf", dstr);
    if ((n->type == IVR_N_PLAY || n->type == IVR_N_SAY) && s->phase == PH_PROMPT &&
        n->u.media.barge_in) {
        if (s->cfg.ops->stop_playback != NULL) {
            s->cfg.ops->stop_playback(s->cfg.ops_ctx, s->wait_op);
        }
        s->wait_op = 0;
        s->phase = PH_IDLE;
        typeahead_push(s, d);
        set_output(s, "digit", json_string(dstr), false);
        return "interrupted";
    }
    if (n->type == IVR_N_VOICEMAIL && s->phase == PH_RECORD && d == n->u.vm.finish_key) {
        if (s->cfg.ops->stop_record != NULL) {
            s->cfg.ops->stop_record(s->cfg.ops_ctx, s->wait_op);
        }
        return NULL;
    }
    typeahead_push(s, d);
    return NULL;
}

static const char *on_record(struct ivr_session *s, const struct ivr_event *ev)
{
    const struct ivr__node *n = cur(s);
    if (s->phase != PH_RECORD || ev->op != s->wait_op) {
        return NULL;
    }
    s->wait_op = 0;
    s->phase = PH_IDLE;
    set_output(s, "duration_s", json_integer(ev->duration_s), false);
    if (ev->failed) {
        return "error";
    }
    return ev->duration_s < n->u.vm.min_length_s ? "no_audio" : "recorded";
}

static const char *on_transfer(struct ivr_session *s, const struct ivr_event *ev)
{
    static const char *const names[] = { "transferred", "completed", "busy", "no_answer",
                                         "failed" };
    if (s->phase != PH_TRANSFER || ev->op != s->wait_op || (unsigned)ev->outcome > 4) {
        return NULL;
    }
    s->wait_op = 0;
    s->phase = PH_IDLE;
    set_output(s, "outcome", json_string(names[ev->outcome]), false);
    if (ev->outcome == IVR_XFER_TRANSFERRED) {
        step_close(s, "transferred");
        finish(s, IVR_END_TRANSFERRED);
        return NULL;
    }
    return names[ev->outcome];
}

static void on_hangup(struct ivr_session *s, int cause)
{
    const struct ivr__node *n = cur(s);
    enum phase ph = s->phase;
    s->hung_up = true;
    s->cause = cause;
    stop_waiting(s);
    action(s, "caller", "hung up");
    if (n != NULL && n->type == IVR_N_COLLECT && s->ndigits > 0) {
        set_output(s, "partial", json_string(s->digits), n->u.collect.mask);
    }
    if (n != NULL && n->type == IVR_N_VOICEMAIL && ph == PH_RECORD &&
        ivr__edge_find(n, "hangup") != IVR_NO_NODE) {
        run(s, "hangup"); /* the recording is kept; data steps may follow */
        return;
    }
    if (s->flow->on_hangup != IVR_NO_NODE && s->sub == NULL) {
        step_close(s, "hangup");
        s->node = s->flow->on_hangup;
        s->last_node = s->node;
        s->steps++;
        s->event_in = "hangup";
        s->step_open = true;
        s->step_started = now_us(s);
        const char *ev = exec(s);
        if (ev != NULL) {
            run(s, ev);
        }
        return;
    }
    finish(s, IVR_END_HANGUP);
}

/* ---------------------------------------------------------------------- */
/* Public API                                                              */
/* ---------------------------------------------------------------------- */

static void leave(struct ivr_session *s)
{
    rearm(s);
    if (--s->depth == 0 && s->depth_destroy) {
        ivr_session_destroy(s);
    }
}

struct ivr_session *ivr_session_create(struct ivr_flow *flow, const struct ivr_session_config *cfg,
                                       json_t *vars)
{
    struct ivr_session *s = calloc(1, sizeof(*s));
    if (s == NULL || cfg == NULL || cfg->ops == NULL) {
        free(s);
        return NULL;
    }
    s->cfg = *cfg;
    s->root = ivr_flow_ref(flow);
    s->flow = flow;
    s->node = s->last_node = IVR_NO_NODE;
    s->t_node = s->t_overall = s->t_call = NO_DEADLINE;
    if (ivr__vars_init(&s->vars, vars) != 0 ||
        (json_object_size(flow->var_defaults) > 0 &&
         json_object_update_missing(ivr__vars_group(&s->vars, "flow", true), flow->var_defaults) !=
             0)) {
        ivr__vars_fini(&s->vars);
        ivr_flow_unref(s->root);
        free(s);
        return NULL;
    }
    ev_timer_init(&s->timer, timer_cb, 0.0, 0.0);
    s->timer.data = s;
    return s;
}

void ivr_session_start(struct ivr_session *s, const char *trigger, const char *amd)
{
    if (s->started || s->flow->start == IVR_NO_NODE) {
        return;
    }
    s->started = true;
    s->depth++;
    ivr__vars_set_str(&s->vars, "call", "trigger", trigger ? trigger : "api");
    if (amd != NULL) {
        ivr__vars_set_str(&s->vars, "call", "amd_result", amd);
    }
    s->t_call = now_us(s) + s->flow->max_duration_ms * CLOCK_US_PER_MS;
    s->step_limit = (unsigned)s->flow->max_steps;
    refresh_sys(s);
    s->node = s->flow->start;
    s->last_node = s->node;
    s->steps = 1;
    s->consecutive = 1;
    s->event_in = "start";
    s->step_open = true;
    s->step_started = now_us(s);
    run(s, exec(s));
    leave(s);
}

void ivr_session_event(struct ivr_session *s, const struct ivr_event *ev)
{
    const char *out = NULL;
    if (s->ended || !s->started || ev == NULL) {
        return;
    }
    s->depth++;
    refresh_sys(s);
    switch (ev->type) {
    case IVR_EV_PLAYBACK_DONE:
        out = on_playback(s, ev);
        break;
    case IVR_EV_DTMF:
        out = on_dtmf(s, ev->digit);
        break;
    case IVR_EV_RECORD_DONE:
        out = on_record(s, ev);
        break;
    case IVR_EV_TRANSFER:
        out = on_transfer(s, ev);
        break;
    case IVR_EV_HANGUP:
        if (!s->hung_up) {
            on_hangup(s, ev->cause);
        }
        break;
    }
    if (out != NULL) {
        run(s, out);
    }
    leave(s);
}

void ivr_session_poll(struct ivr_session *s)
{
    if (s->ended || !s->started) {
        return;
    }
    s->depth++;
    int64_t now = now_us(s);
    const char *out = NULL;
    if (s->t_call <= now) {
        LOG_INFO(IVR, "event=duration_guard steps=%u", s->steps);
        if (!s->hung_up) {
            s->cfg.ops->hangup(s->cfg.ops_ctx, 16);
        }
        finish(s, IVR_END_TIMEOUT);
    } else if (s->t_node <= now) {
        s->t_node = NO_DEADLINE;
        switch (s->phase) {
        case PH_LISTEN:
            out = collect_complete(s); /* first-digit or inter-digit timer */
            break;
        case PH_WAIT:
            s->phase = PH_IDLE;
            out = "next";
            break;
        case PH_BACKOFF:
            if (http_send(s) != 0) {
                out = "error";
            }
            break;
        default:
            break;
        }
    } else if (s->t_overall <= now) {
        s->t_overall = NO_DEADLINE;
        /* A caller who is typing is never cut off: the inter-digit timer decides. */
        if (s->phase == PH_LISTEN && s->ndigits == 0) {
            out = collect_complete(s);
        }
    }
    if (out != NULL) {
        refresh_sys(s);
        run(s, out);
    }
    leave(s);
}

void ivr_session_stop(struct ivr_session *s)
{
    if (s->ended) {
        return;
    }
    s->depth++;
    finish(s, IVR_END_SHUTDOWN);
    leave(s);
}

bool ivr_session_ended(const struct ivr_session *s)
{
    return s->ended;
}

const char *ivr_session_node(const struct ivr_session *s)
{
    const struct ivr__node *n = cur(s);
    return n ? n->id : NULL;
}

json_t *ivr_session_vars(const struct ivr_session *s)
{
    return s->vars.tree;
}

json_t *ivr_session_var(const struct ivr_session *s, const char *path)
{
    size_t nseg;
    char **seg = path != NULL ? ivr__split_path(path, &nseg) : NULL;
    json_t *tmp = NULL, *v = NULL;
    if (seg != NULL && strcmp(seg[0], "secrets") != 0) {
        v = ivr__vars_get(&s->vars, seg, nseg, &tmp);
        v = v == tmp ? v : json_incref(v);
    }
    if (seg != NULL) {
        ivr__free_path(seg, nseg);
    }
    if (v != tmp) {
        json_decref(tmp);
    }
    return v;
}

size_t ivr_session_size(const struct ivr_session *s)
{
    return sizeof(*s) + s->ncounters * sizeof(struct counter_slot);
}

size_t ivr_session_vars_size(const struct ivr_session *s)
{
    return ivr__vars_compact_size(&s->vars);
}

void ivr_session_destroy(struct ivr_session *s)
{
    if (s == NULL) {
        return;
    }
    if (s->depth > 0) {
        s->depth_destroy = true;
        return;
    }
    stop_waiting(s);
    if (s->cfg.loop != NULL) {
        ev_timer_stop(s->cfg.loop, &s->timer);
    }
    json_decref(s->step_vars);
    json_decref(s->step_actions);
    ivr__buf_fini(&s->scratch[0]);
    ivr__buf_fini(&s->scratch[1]);
    json_decref(s->frame.flow_vars);
    ivr__vars_fini(&s->vars);
    ivr_flow_unref(s->sys_flow);
    ivr_flow_unref(s->sub);
    ivr_flow_unref(s->root);
    free(s->counters);
    free(s);
}
