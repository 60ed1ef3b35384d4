/* SPDX-License-Identifier: MIT */
/*
 * kv: the Redis adapter (see kv.h for the contract, docs/kv.md for the
 * operator's view).
 *
 * DESIGN
 *
 * One struct kv_conn wraps at most one hiredis redisAsyncContext at a time.
 * hiredis 0.14 frees its context by itself when the connection fails or
 * drops, so the adapter never keeps a context pointer it did not hear about:
 * the context's event-library "cleanup" hook, which hiredis calls exactly
 * once from inside the free, is where the adapter learns that the context is
 * gone. That one place handles connect failures, connect timeouts, drops,
 * stall drops and the final close alike: it stops the I/O watchers, forgets
 * the context, counts and logs (rate-limited), arms the back-off timer and
 * announces "down".
 *
 * The libev glue is our own rather than hiredis' adapters/libev.h: the two
 * ev_io watchers live inside struct kv_conn (house rule: embed watchers in
 * their owner) and every entry from the loop goes through conn_enter() /
 * conn_leave(), a depth count. kv_conn_destroy() may therefore run inside
 * any callback, even hiredis' connect callback, which hiredis does not
 * protect against a free: destroy only marks the object closing and cancels
 * commands; the hiredis context and the memory go in conn_finalize() once
 * the outermost entry returns (Redis' own freeClientAsync idea).
 *
 * State machine (c->state):
 *
 *   IDLE --timer--> CONNECTING --connect cb ok--> UP --first NULL reply--> DROPPING
 *     ^                 | connect error / timeout     | drop / stall             |
 *     +------ cleanup hook (back-off armed) <---------+--------------------------+
 *
 * Commands. Each accepted command is a struct kv_cmd (the caller's handle)
 * in one of four states: SENT (in hiredis' reply queue, callback owed, on
 * c->sent), FAILQ (never sent because the connection was down, callback
 * owed, on c->failq), CALLING (its callback is running) and ZOMBIE (still in
 * hiredis' queue but nobody is waiting: canceled, timed out, or its
 * connection destroyed). hiredis calls every queued callback exactly once,
 * with the reply or with NULL when the context dies, and that call frees a
 * zombie. So a timed-out command costs its struct until the late reply (or
 * the disconnect) arrives, and nothing is freed while hiredis can still
 * reach it. FAILQ commands complete from a zero-delay timer, never inside
 * the send call. A per-command ev_timer gives the timeout; libev keeps timers
 * in a heap, so 10,000 pipelined commands cost 10,000 O(log n) inserts.
 *
 * Scripts keep a copy of their Lua source. They are loaded with SCRIPT LOAD
 * after every connect (pipelined ahead of any user command, so the cache is
 * warm again right after a Redis restart) and called by EVALSHA once Redis
 * has reported the SHA1; a call keeps a copy of its arguments so a NOSCRIPT
 * reply (cache flushed behind our back) can be retried as EVAL under the
 * same handle. No SHA1 is computed locally.
 *
 * Subscribers reuse the connection machinery with is_sub set. hiredis 0.14
 * routes pub/sub replies through a per-channel callback table and, for a
 * message on a channel it no longer knows, re-invokes whichever callback ran
 * last; every callback on a subscriber connection is therefore the same
 * function with a NULL privdata, finding its kv_sub through ac->data, so a
 * stale re-invocation is harmless. The set of channels and patterns lives
 * here and is re-sent after each connect; the subscriber is "up" once Redis
 * confirmed every subscription.
 */
#include "core/kv.h"

#include <arpa/inet.h>
#include <ev.h>
#include <hiredis/async.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/counter.h"
#include "core/err.h"
#include "core/log.h"

#define KV_DEF_CONNECT_TIMEOUT_MS 1000
#define KV_DEF_COMMAND_TIMEOUT_MS 1000
#define KV_DEF_RECONNECT_MIN_MS   100
#define KV_DEF_RECONNECT_MAX_MS   5000
#define KV_LOG_INTERVAL_US        (10 * CLOCK_US_PER_SEC)
#define KV_ARGV_STACK             16 /* script calls up to this many args need no malloc */

#define KV_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* clang-format off */
static struct counter kv_commands_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "kv_commands_total", "Redis commands accepted");
static struct counter kv_errors_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "kv_errors_total", "Redis commands completed with an error (error reply, disconnect, timeout)");
static struct counter kv_timeouts_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "kv_timeouts_total", "Redis commands that timed out");
static struct counter kv_reconnects_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "kv_reconnects_total", "Redis connections re-established after a loss");
static struct counter kv_connect_failures_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "kv_connect_failures_total", "Redis connect attempts that failed or timed out");
static struct counter kv_messages_total = COUNTER_INIT(COUNTER_KIND_COUNTER,
    "kv_messages_total", "Redis pub/sub messages delivered");

/* clang-format on */

/* ---------------------------------------------------------------------- */
/* Intrusive circular list                                                 */
/* ---------------------------------------------------------------------- */

struct kv_link {
    struct kv_link *prev, *next;
};

static void link_init(struct kv_link *l)
{
    l->prev = l;
    l->next = l;
}

static bool link_empty(const struct kv_link *head)
{
    return head->next == head;
}

static void link_add_tail(struct kv_link *head, struct kv_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void link_del(struct kv_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

/* ---------------------------------------------------------------------- */
/* Types                                                                   */
/* ---------------------------------------------------------------------- */

enum conn_state {
    ST_IDLE,       /* no context; the back-off timer is armed (or closing) */
    ST_CONNECTING, /* context exists, connect in progress, timer = connect timeout */
    ST_UP,         /* connected: commands are written */
    ST_DROPPING,   /* hiredis is tearing the context down; sends fail fast */
};

enum cmd_state {
    CMD_SENT,    /* in hiredis' queue, callback owed; on conn->sent */
    CMD_FAILQ,   /* not sent, callback owed; on conn->failq */
    CMD_CALLING, /* callback running; cancel is a no-op */
    CMD_ZOMBIE,  /* in hiredis' queue, nobody waiting; freed by on_reply() */
};

struct kv_cmd {
    struct kv_link link;      /* on conn->sent or conn->failq while owed */
    struct kv_conn *conn;     /* owner; outlives the command (finalize frees zombies first) */
    kv_reply_cb *cb;          /* the caller's completion */
    void *arg;                /* passed to cb */
    ev_timer timer;           /* command timeout; active only in CMD_SENT */
    double timeout;           /* seconds, 0 for none */
    enum cmd_state state;     /* see enum cmd_state */
    struct kv_script *script; /* script call (retried once on NOSCRIPT) or NULL */
    bool retried;             /* the EVAL retry was issued */
    int numkeys;              /* script call: KEYS count */
    int nargs;                /* script call: stored arguments */
    const char **args;        /* script call: copies, in the same allocation */
    size_t *lens;             /* script call: their lengths */
};

struct kv_script {
    struct kv_link link;  /* on conn->scripts */
    struct kv_conn *conn; /* owner */
    char *lua;            /* source copy */
    size_t len;           /* source length */
    bool sha_known;       /* sha holds Redis' SHA1 */
    char sha[41];         /* 40 hex digits + NUL */
};

struct kv_conn {
    struct ev_loop *loop;     /* the owning loop */
    redisAsyncContext *ac;    /* current context or NULL */
    enum conn_state state;    /* see the state machine above */
    bool closing;             /* destroy was called; finalize when depth drops to 0 */
    bool announced_up;        /* the state callback last reported "up" */
    bool is_sub;              /* this is the conn inside a struct kv_sub */
    bool timed_out;           /* the current connect attempt hit its timeout */
    const char *drop_reason;  /* why we are dropping the connection ourselves, or NULL */
    unsigned depth;           /* nesting of loop entries (see conn_enter) */
    ev_io rio, wio;           /* hiredis' socket, read and write interest */
    ev_timer timer;           /* connect timeout (CONNECTING) or back-off (IDLE) */
    ev_timer defer;           /* zero-delay: completes FAILQ commands */
    ev_timer stall;           /* armed by a command timeout when stall detection is on */
    double stall_since;       /* ev_now when the stall timer was armed */
    double last_reply;        /* ev_now of the last reply read on this connection */
    struct kv_link sent;      /* owed commands in hiredis' queue */
    struct kv_link failq;     /* owed commands waiting to fail */
    size_t nfailq;            /* length of failq */
    struct kv_link scripts;   /* registered scripts */
    unsigned backoff_attempt; /* consecutive failed attempts, drives the back-off */
    uint64_t rng;             /* xorshift state for the jitter */
    struct log_ratelimit rl;  /* connect-failure / disconnect lines */
    char *host;               /* copies of the options */
    int port;
    char *unix_path;
    char *password;
    int db;
    char *name;
    char addr[128];           /* "host:port" or the socket path, for logs */
    double connect_timeout;   /* seconds */
    double command_timeout;   /* seconds, 0 for none */
    double stall_timeout;     /* seconds, 0 for none */
    int64_t reconnect_min_ms; /* back-off floor */
    int64_t reconnect_max_ms; /* back-off ceiling */
    kv_state_cb *state_cb;    /* optional */
    void *state_arg;          /* for state_cb */
    struct kv_stats stats;    /* per-object statistics */
};

struct sub_entry {
    char *name;   /* channel or pattern (copy) */
    size_t len;   /* its length */
    bool pattern; /* PSUBSCRIBE rather than SUBSCRIBE */
};

struct kv_sub {
    struct kv_conn conn;   /* connection machinery; conn.is_sub is set */
    kv_message_cb *cb;     /* message callback */
    void *arg;             /* for cb */
    struct sub_entry *set; /* channels and patterns to (re)subscribe */
    size_t nset, capset;   /* used and allocated entries */
    long pending;          /* confirmations still expected before "up" */
};

static void conn_finalize(struct kv_conn *c);
static void conn_connect(struct kv_conn *c);

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

static void counters_register(void)
{
    counter_register(&kv_commands_total);
    counter_register(&kv_errors_total);
    counter_register(&kv_timeouts_total);
    counter_register(&kv_reconnects_total);
    counter_register(&kv_connect_failures_total);
    counter_register(&kv_messages_total);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static uint64_t rng_next(struct kv_conn *c)
{
    /* xorshift64*: the jitter only needs to de-synchronise nodes. */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * UINT64_C(2685821657736338717);
}

static double ms_to_s(int64_t ms)
{
    return (double)ms / 1000.0;
}

/*
 * Every entry from the loop into a conn (watcher callbacks) and every
 * public call that can run user callbacks is bracketed by enter/leave.
 * conn_leave() may free c: touch nothing of c after it.
 */
static void conn_enter(struct kv_conn *c)
{
    c->depth++;
}

static void conn_leave(struct kv_conn *c)
{
    c->depth--;
    if (c->depth == 0 && c->closing) {
        conn_finalize(c);
    }
}

static void conn_announce(struct kv_conn *c, bool up)
{
    if (c->announced_up == up || c->closing) {
        return;
    }
    c->announced_up = up;
    if (c->state_cb != NULL) {
        c->state_cb(up, c->state_arg);
    }
}

/* ---------------------------------------------------------------------- */
/* Commands                                                                */
/* ---------------------------------------------------------------------- */

static void cmd_free(struct kv_cmd *h)
{
    free(h);
}

/* Counts a completion about to be delivered. */
static void cmd_account(struct kv_conn *c, int status)
{
    c->stats.inflight--;
    switch (status) {
    case 0:
        c->stats.replies++;
        return;
    case ERR_KV:
        c->stats.error_replies++;
        break;
    case ERR_TIMEOUT:
        c->stats.timeouts++;
        counter_inc(&kv_timeouts_total);
        break;
    case ERR_DISCONNECTED:
        c->stats.disconnected++;
        break;
    default:
        return; /* ERR_CANCELED: the owner asked for it */
    }
    counter_inc(&kv_errors_total);
}

/*
 * Takes an owed command off its list and runs its callback. The caller then
 * frees it or, if hiredis still holds it, turns it into a zombie.
 */
static void cmd_complete(struct kv_cmd *h, int status, redisReply *reply)
{
    struct kv_conn *c = h->conn;

    link_del(&h->link);
    if (h->state == CMD_FAILQ) {
        c->nfailq--;
    }
    ev_timer_stop(c->loop, &h->timer);
    h->state = CMD_CALLING;
    cmd_account(c, status);
    h->cb(status, reply, h->arg);
}

static bool reply_is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

static int script_issue(struct kv_cmd *h, bool eval);

/* hiredis' reply callback for every command on a command connection. */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct kv_cmd *h = privdata;
    struct kv_conn *c = h->conn;
    redisReply *reply = r;

    (void)ac;
    if (reply != NULL) {
        c->last_reply = ev_now(c->loop);
    }
    if (h->state == CMD_ZOMBIE) {
        cmd_free(h);
        return;
    }
    if (reply == NULL) {
        /* The context is dying: from here on sends must fail fast. */
        if (c->state == ST_UP) {
            c->state = ST_DROPPING;
        }
        cmd_complete(h, ERR_DISCONNECTED, NULL);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (h->script != NULL && !h->retried && reply_is_noscript(reply)) {
            h->retried = true;
            c->stats.noscript_fallbacks++;
            LOG_INFO(KV, "event=noscript name=%s sha=%s msg=\"retrying as EVAL\"", c->name,
                     h->script->sha);
            if (script_issue(h, true) == 0) {
                return; /* same handle, new place in the pipeline */
            }
            cmd_complete(h, ERR_DISCONNECTED, NULL);
        } else {
            cmd_complete(h, ERR_KV, reply);
        }
    } else {
        cmd_complete(h, 0, reply);
    }
    cmd_free(h);
}

static void on_cmd_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kv_cmd *h = KV_CONTAINER_OF(w, struct kv_cmd, timer);
    struct kv_conn *c = h->conn;

    (void)revents;
    conn_enter(c);
    cmd_complete(h, ERR_TIMEOUT, NULL);
    h->state = CMD_ZOMBIE; /* hiredis still owes on_reply() a call for it */
    if (!c->closing && c->stall_timeout > 0 && c->state == ST_UP && !ev_is_active(&c->stall)) {
        c->stall_since = ev_now(loop);
        ev_timer_set(&c->stall, c->stall_timeout, 0.);
        ev_timer_start(loop, &c->stall);
    }
    conn_leave(c);
}

static void on_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kv_conn *c = KV_CONTAINER_OF(w, struct kv_conn, stall);

    (void)revents;
    (void)loop;
    if (c->state != ST_UP || c->ac == NULL || c->last_reply >= c->stall_since) {
        return; /* replies kept flowing: the timeout was one slow command */
    }
    LOG_WARN(KV, "event=stalled name=%s addr=%s stall_ms=%.0f msg=\"no reply, dropping\"", c->name,
             c->addr, c->stall_timeout * 1000.0);
    c->drop_reason = "stalled";
    conn_enter(c);
    redisAsyncFree(c->ac); /* owed commands complete with ERR_DISCONNECTED */
    conn_leave(c);
}

/* Completes FAILQ commands queued before this run, oldest first. */
static void on_defer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kv_conn *c = KV_CONTAINER_OF(w, struct kv_conn, defer);
    size_t n = c->nfailq; /* commands failed by these callbacks wait for the next run */

    (void)revents;
    conn_enter(c);
    while (n-- > 0 && !link_empty(&c->failq)) {
        struct kv_cmd *h = KV_CONTAINER_OF(c->failq.next, struct kv_cmd, link);
        cmd_complete(h, ERR_DISCONNECTED, NULL);
        cmd_free(h);
    }
    if (!link_empty(&c->failq) && !c->closing) {
        ev_timer_start(loop, &c->defer);
    }
    conn_leave(c);
}

static struct kv_cmd *cmd_new(struct kv_conn *c, size_t extra, kv_reply_cb *cb, void *arg,
                              int64_t timeout_ms)
{
    struct kv_cmd *h = calloc(1, sizeof(*h) + extra);

    if (h == NULL) {
        return NULL;
    }
    h->conn = c;
    h->cb = cb;
    h->arg = arg;
    link_init(&h->link);
    if (timeout_ms == 0) {
        h->timeout = c->command_timeout;
    } else {
        h->timeout = timeout_ms > 0 ? ms_to_s(timeout_ms) : 0.;
    }
    ev_timer_init(&h->timer, on_cmd_timeout, h->timeout, 0.);
    c->stats.commands++;
    c->stats.inflight++;
    counter_inc(&kv_commands_total);
    return h;
}

static void cmd_mark_sent(struct kv_cmd *h)
{
    struct kv_conn *c = h->conn;

    h->state = CMD_SENT;
    link_add_tail(&c->sent, &h->link);
    if (h->timeout > 0) {
        ev_timer_start(c->loop, &h->timer);
    }
}

static void cmd_mark_failed(struct kv_cmd *h)
{
    struct kv_conn *c = h->conn;

    h->state = CMD_FAILQ;
    link_add_tail(&c->failq, &h->link);
    c->nfailq++;
    if (!ev_is_active(&c->defer)) {
        ev_timer_set(&c->defer, 0., 0.);
        ev_timer_start(c->loop, &c->defer);
    }
}

static bool conn_writable(const struct kv_conn *c)
{
    return c->state == ST_UP && c->ac != NULL;
}

/* Sends a plain command built by h's creator; a down connection fails it later. */
static void cmd_dispatch(struct kv_cmd *h, int argc, const char *const *argv, const size_t *lens)
{
    struct kv_conn *c = h->conn;

    if (conn_writable(c) &&
        redisAsyncCommandArgv(c->ac, on_reply, h, argc, (const char **)argv, lens) == REDIS_OK) {
        cmd_mark_sent(h);
    } else {
        cmd_mark_failed(h);
    }
}

int kv_cmd_send_timeout(struct kv_conn *c, int argc, const char *const *argv, const size_t *argvlen,
                        int64_t timeout_ms, kv_reply_cb *cb, void *arg, struct kv_cmd **out)
{
    struct kv_cmd *h;

    if (c == NULL || argc < 1 || argv == NULL || cb == NULL) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    h = cmd_new(c, 0, cb, arg, timeout_ms);
    if (h == NULL) {
        return ERR_NOMEM;
    }
    cmd_dispatch(h, argc, argv, argvlen);
    if (out != NULL) {
        *out = h;
    }
    return 0;
}

int kv_cmd_send(struct kv_conn *c, int argc, const char *const *argv, const size_t *argvlen,
                kv_reply_cb *cb, void *arg, struct kv_cmd **out)
{
    return kv_cmd_send_timeout(c, argc, argv, argvlen, 0, cb, arg, out);
}

void kv_cmd_cancel(struct kv_cmd *h)
{
    struct kv_conn *c;

    if (h == NULL) {
        return;
    }
    c = h->conn;
    switch (h->state) {
    case CMD_SENT:
        link_del(&h->link);
        ev_timer_stop(c->loop, &h->timer);
        h->state = CMD_ZOMBIE;
        c->stats.inflight--;
        break;
    case CMD_FAILQ:
        link_del(&h->link);
        c->nfailq--;
        c->stats.inflight--;
        cmd_free(h);
        break;
    case CMD_CALLING:
    case CMD_ZOMBIE:
        break;
    }
}

/* Completes every owed command with ERR_CANCELED (destroy). */
static void conn_cancel_all(struct kv_conn *c)
{
    while (!link_empty(&c->sent)) {
        struct kv_cmd *h = KV_CONTAINER_OF(c->sent.next, struct kv_cmd, link);
        cmd_complete(h, ERR_CANCELED, NULL);
        h->state = CMD_ZOMBIE;
    }
    while (!link_empty(&c->failq)) {
        struct kv_cmd *h = KV_CONTAINER_OF(c->failq.next, struct kv_cmd, link);
        cmd_complete(h, ERR_CANCELED, NULL);
        cmd_free(h);
    }
}

/* ---------------------------------------------------------------------- */
/* Scripts                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Writes h's EVALSHA (or EVAL) to the current context. Returns 0, or
 * ERR_DISCONNECTED when the context refuses commands.
 */
static int script_issue(struct kv_cmd *h, bool eval)
{
    struct kv_conn *c = h->conn;
    struct kv_script *s = h->script;
    const char *stackv[KV_ARGV_STACK];
    size_t stackl[KV_ARGV_STACK];
    const char **v = stackv;
    size_t *l = stackl;
    int n = h->nargs + 3;
    char nk[24];
    int rc = ERR_DISCONNECTED;

    if (!conn_writable(c)) {
        return ERR_DISCONNECTED;
    }
    if (n > KV_ARGV_STACK) {
        v = malloc((size_t)n * sizeof(*v));
        l = malloc((size_t)n * sizeof(*l));
        if (v == NULL || l == NULL) {
            goto out;
        }
    }
    snprintf(nk, sizeof(nk), "%d", h->numkeys);
    v[0] = eval ? "EVAL" : "EVALSHA";
    l[0] = strlen(v[0]);
    v[1] = eval ? s->lua : s->sha;
    l[1] = eval ? s->len : 40;
    v[2] = nk;
    l[2] = strlen(nk);
    for (int i = 0; i < h->nargs; i++) {
        v[3 + i] = h->args[i];
        l[3 + i] = h->lens[i];
    }
    if (redisAsyncCommandArgv(c->ac, on_reply, h, n, v, l) == REDIS_OK) {
        rc = 0;
    }
out:
    if (v != stackv) {
        free(v);
        free(l);
    }
    return rc;
}

static void on_script_loaded(int status, redisReply *reply, void *arg)
{
    struct kv_script *s = arg;

    if (status == 0 && reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(s->sha, reply->str, 40);
        s->sha[40] = '\0';
        s->sha_known = true;
    } else if (status == ERR_KV) {
        LOG_ERR(KV, "event=script_load_failed name=%s msg=\"%.*s\"", s->conn->name, (int)reply->len,
                reply->str);
    }
}

static void script_load(struct kv_script *s)
{
    struct kv_conn *c = s->conn;
    const char *argv[3] = { "SCRIPT", "LOAD", s->lua };
    size_t lens[3] = { 6, 4, s->len };
    struct kv_cmd *h = cmd_new(c, 0, on_script_loaded, s, 0);

    if (h == NULL) {
        LOG_ERR(KV, "event=script_load_failed name=%s msg=\"out of memory\"", c->name);
        return;
    }
    cmd_dispatch(h, 3, argv, lens);
}

int kv_script_create(struct kv_conn *c, const char *lua, size_t len, struct kv_script **out)
{
    struct kv_script *s;

    if (c == NULL || lua == NULL || len == 0 || out == NULL || c->is_sub) {
        return ERR_INVAL;
    }
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return ERR_NOMEM;
    }
    s->lua = malloc(len + 1);
    if (s->lua == NULL) {
        free(s);
        return ERR_NOMEM;
    }
    memcpy(s->lua, lua, len);
    s->lua[len] = '\0';
    s->len = len;
    s->conn = c;
    link_add_tail(&c->scripts, &s->link);
    if (conn_writable(c)) {
        script_load(s);
    }
    *out = s;
    return 0;
}

int kv_script_call(struct kv_script *s, int numkeys, int argc, const char *const *argv,
                   const size_t *argvlen, kv_reply_cb *cb, void *arg, struct kv_cmd **out)
{
    struct kv_conn *c;
    struct kv_cmd *h;
    size_t extra, total = 0;
    char *p;

    if (s == NULL || cb == NULL || argc < 0 || numkeys < 0 || numkeys > argc ||
        (argc > 0 && argv == NULL)) {
        return ERR_INVAL;
    }
    c = s->conn;
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    for (int i = 0; i < argc; i++) {
        total += (argvlen != NULL ? argvlen[i] : strlen(argv[i])) + 1;
    }
    extra = (size_t)argc * (sizeof(char *) + sizeof(size_t)) + total;
    h = cmd_new(c, extra, cb, arg, 0);
    if (h == NULL) {
        return ERR_NOMEM;
    }
    /* Layout after the struct: lens[argc], args[argc], then the bytes. */
    h->script = s;
    h->numkeys = numkeys;
    h->nargs = argc;
    h->lens = (size_t *)(void *)(h + 1);
    h->args = (const char **)(void *)(h->lens + argc);
    p = (char *)(h->args + argc);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        memcpy(p, argv[i], n);
        p[n] = '\0';
        h->args[i] = p;
        h->lens[i] = n;
        p += n + 1;
    }
    if (script_issue(h, !s->sha_known) == 0) {
        cmd_mark_sent(h);
    } else {
        cmd_mark_failed(h);
    }
    if (out != NULL) {
        *out = h;
    }
    return 0;
}

const char *kv_script_sha(const struct kv_script *s)
{
    return s->sha_known ? s->sha : NULL;
}

/* ---------------------------------------------------------------------- */
/* libev glue for hiredis (see DESIGN)                                     */
/* ---------------------------------------------------------------------- */

static void on_io_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct kv_conn *c = KV_CONTAINER_OF(w, struct kv_conn, rio);

    (void)loop;
    (void)revents;
    if (c->ac == NULL) {
        return;
    }
    conn_enter(c);
    redisAsyncHandleRead(c->ac);
    conn_leave(c);
}

static void on_io_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct kv_conn *c = KV_CONTAINER_OF(w, struct kv_conn, wio);

    (void)loop;
    (void)revents;
    if (c->ac == NULL) {
        return;
    }
    conn_enter(c);
    redisAsyncHandleWrite(c->ac);
    conn_leave(c);
}

static void ad_add_read(void *privdata)
{
    struct kv_conn *c = privdata;
    ev_io_start(c->loop, &c->rio);
}

static void ad_del_read(void *privdata)
{
    struct kv_conn *c = privdata;
    ev_io_stop(c->loop, &c->rio);
}

static void ad_add_write(void *privdata)
{
    struct kv_conn *c = privdata;
    ev_io_start(c->loop, &c->wio);
}

static void ad_del_write(void *privdata)
{
    struct kv_conn *c = privdata;
    ev_io_stop(c->loop, &c->wio);
}

static void conn_count_failure(struct kv_conn *c, const char *why)
{
    uint64_t n;

    c->stats.connect_failures++;
    counter_inc(&kv_connect_failures_total);
    n = log_ratelimit_pass(&c->rl, clock_mono_us());
    if (n > 0) {
        LOG_WARN(KV, "event=connect_failed name=%s addr=%s suppressed=%" PRIu64 " msg=\"%s\"",
                 c->name, c->addr, n - 1, why);
    }
}

static void conn_schedule_reconnect(struct kv_conn *c)
{
    unsigned shift = c->backoff_attempt < 20 ? c->backoff_attempt : 20;
    int64_t d = c->reconnect_min_ms << shift;
    int64_t delay;

    if (d > c->reconnect_max_ms || d <= 0) {
        d = c->reconnect_max_ms;
    }
    /* "Equal jitter": half fixed, half random, so nodes do not reconnect in step. */
    delay = d / 2 + (int64_t)(rng_next(c) % (uint64_t)(d / 2 + 1));
    c->backoff_attempt++;
    c->state = ST_IDLE;
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, ms_to_s(delay), 0.);
    ev_timer_start(c->loop, &c->timer);
}

/*
 * hiredis' cleanup hook: the context is being freed (connect failure or
 * timeout, drop, stall, or our own close). Called once per context.
 */
static void ad_cleanup(void *privdata)
{
    struct kv_conn *c = privdata;
    redisAsyncContext *ac = c->ac;

    ev_io_stop(c->loop, &c->rio);
    ev_io_stop(c->loop, &c->wio);
    c->ac = NULL;
    if (c->closing) {
        return;
    }
    ev_timer_stop(c->loop, &c->stall);
    if (c->state == ST_CONNECTING) {
        conn_count_failure(c, c->timed_out                              ? "connect timeout"
                              : (ac != NULL && ac->c.errstr[0] != '\0') ? ac->c.errstr
                                                                        : "connect failed");
    } else {
        uint64_t n = log_ratelimit_pass(&c->rl, clock_mono_us());
        const char *why = c->drop_reason != NULL                    ? c->drop_reason
                          : (ac != NULL && ac->c.errstr[0] != '\0') ? ac->c.errstr
                                                                    : "closed";
        c->stats.disconnects++;
        if (n > 0) {
            LOG_WARN(KV, "event=disconnected name=%s addr=%s suppressed=%" PRIu64 " msg=\"%s\"",
                     c->name, c->addr, n - 1, why);
        }
    }
    c->drop_reason = NULL;
    if (c->is_sub) {
        KV_CONTAINER_OF(c, struct kv_sub, conn)->pending = 0;
    }
    conn_schedule_reconnect(c);
    conn_announce(c, false);
}

static void conn_attach(struct kv_conn *c, redisAsyncContext *ac)
{
    c->ac = ac;
    ac->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ad_add_read;
    ac->ev.delRead = ad_del_read;
    ac->ev.addWrite = ad_add_write;
    ac->ev.delWrite = ad_del_write;
    ac->ev.cleanup = ad_cleanup;
    ev_io_set(&c->rio, ac->c.fd, EV_READ);
    ev_io_set(&c->wio, ac->c.fd, EV_WRITE);
}

/* ---------------------------------------------------------------------- */
/* Connection set-up                                                       */
/* ---------------------------------------------------------------------- */

static void on_auth_reply(int status, redisReply *reply, void *arg)
{
    struct kv_conn *c = arg;

    if (status != ERR_KV || c->ac == NULL) {
        return;
    }
    LOG_ERR(KV, "event=auth_failed name=%s addr=%s msg=\"%.*s\"", c->name, c->addr, (int)reply->len,
            reply->str);
    /* A wrong password will not heal by retrying quickly: back off to the ceiling. */
    c->backoff_attempt = 30;
    c->drop_reason = "authentication failed";
    redisAsyncFree(c->ac); /* inside a reply callback: hiredis defers the free */
}

static void on_select_reply(int status, redisReply *reply, void *arg)
{
    struct kv_conn *c = arg;

    if (status == ERR_KV) {
        LOG_ERR(KV, "event=select_failed name=%s db=%d msg=\"%.*s\"", c->name, c->db,
                (int)reply->len, reply->str);
    }
}

static void conn_send_internal(struct kv_conn *c, int argc, const char *const *argv,
                               kv_reply_cb *cb)
{
    struct kv_cmd *h = cmd_new(c, 0, cb, c, 0);

    if (h != NULL) {
        cmd_dispatch(h, argc, argv, NULL);
    }
}

static void sub_on_connected(struct kv_sub *s);

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct kv_conn *c = cac->data;

    if (c == NULL || c->closing || status != REDIS_OK) {
        return; /* a failure is counted by ad_cleanup(), which follows at once */
    }
    ev_timer_stop(c->loop, &c->timer);
    c->state = ST_UP;
    c->backoff_attempt = 0;
    c->last_reply = ev_now(c->loop);
    c->stats.connects++;
    if (c->stats.connects > 1) {
        counter_inc(&kv_reconnects_total);
    }
    if (c->unix_path == NULL) {
        redisEnableKeepAlive(&c->ac->c);
    }
    LOG_NOTICE(KV, "event=connected name=%s addr=%s", c->name, c->addr);
    if (c->is_sub) {
        sub_on_connected(KV_CONTAINER_OF(c, struct kv_sub, conn));
        return;
    }
    /* Pipelined ahead of anything the state callback sends. */
    if (c->password != NULL) {
        const char *argv[2] = { "AUTH", c->password };
        conn_send_internal(c, 2, argv, on_auth_reply);
    }
    if (c->db > 0) {
        char db[16];
        const char *argv[2] = { "SELECT", db };
        snprintf(db, sizeof(db), "%d", c->db);
        conn_send_internal(c, 2, argv, on_select_reply);
    }
    for (struct kv_link *l = c->scripts.next; l != &c->scripts; l = l->next) {
        script_load(KV_CONTAINER_OF(l, struct kv_script, link));
    }
    conn_announce(c, true);
}

static void conn_connect(struct kv_conn *c)
{
    redisAsyncContext *ac;

    c->timed_out = false;
    if (c->unix_path != NULL) {
        ac = redisAsyncConnectUnix(c->unix_path);
    } else {
        ac = redisAsyncConnect(c->host, c->port);
    }
    if (ac == NULL || ac->err != 0) {
        conn_count_failure(c, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac); /* no event hooks attached yet: nothing calls back */
        }
        conn_schedule_reconnect(c);
        return;
    }
    conn_attach(c, ac);
    c->state = ST_CONNECTING;
    redisAsyncSetConnectCallback(ac, on_connect); /* arms the write watcher */
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, c->connect_timeout, 0.);
    ev_timer_start(c->loop, &c->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct kv_conn *c = KV_CONTAINER_OF(w, struct kv_conn, timer);

    (void)loop;
    (void)revents;
    conn_enter(c);
    if (c->state == ST_IDLE) {
        conn_connect(c);
    } else if (c->state == ST_CONNECTING && c->ac != NULL) {
        c->timed_out = true;
        redisAsyncFree(c->ac); /* ad_cleanup() counts it and arms the back-off */
    }
    conn_leave(c);
}

static int conn_init(struct kv_conn *c, struct ev_loop *loop, const struct kv_options *opt)
{
    struct in6_addr a6;
    struct in_addr a4;

    link_init(&c->sent);
    link_init(&c->failq);
    link_init(&c->scripts);
    if (opt->unix_path == NULL &&
        (opt->host == NULL || opt->host[0] == '\0' || opt->port < 1 || opt->port > 65535)) {
        return ERR_INVAL;
    }
    c->loop = loop;
    c->state = ST_IDLE;
    c->unix_path = dup_or_null(opt->unix_path);
    c->host = dup_or_null(opt->host);
    c->password = dup_or_null(opt->password);
    c->name = strdup(opt->name != NULL ? opt->name : "kv");
    if ((opt->unix_path != NULL && c->unix_path == NULL) ||
        (opt->host != NULL && c->host == NULL) || (opt->password != NULL && c->password == NULL) ||
        c->name == NULL) {
        return ERR_NOMEM;
    }
    c->port = opt->port;
    c->db = opt->db;
    if (c->unix_path != NULL) {
        snprintf(c->addr, sizeof(c->addr), "%s", c->unix_path);
    } else {
        snprintf(c->addr, sizeof(c->addr), "%s:%d", c->host, c->port);
        if (inet_pton(AF_INET, c->host, &a4) != 1 && inet_pton(AF_INET6, c->host, &a6) != 1) {
            LOG_WARN(KV,
                     "event=host_name name=%s host=%s msg=\"resolved synchronously on every "
                     "connect; use an IP literal or a unix socket\"",
                     c->name, c->host);
        }
    }
    c->connect_timeout =
        ms_to_s(opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : KV_DEF_CONNECT_TIMEOUT_MS);
    if (opt->command_timeout_ms == 0) {
        c->command_timeout = ms_to_s(KV_DEF_COMMAND_TIMEOUT_MS);
    } else {
        c->command_timeout = opt->command_timeout_ms > 0 ? ms_to_s(opt->command_timeout_ms) : 0.;
    }
    c->stall_timeout = opt->stall_timeout_ms > 0 ? ms_to_s(opt->stall_timeout_ms) : 0.;
    c->reconnect_min_ms =
        opt->reconnect_min_ms > 0 ? opt->reconnect_min_ms : KV_DEF_RECONNECT_MIN_MS;
    c->reconnect_max_ms =
        opt->reconnect_max_ms > 0 ? opt->reconnect_max_ms : KV_DEF_RECONNECT_MAX_MS;
    if (c->reconnect_max_ms < c->reconnect_min_ms) {
        c->reconnect_max_ms = c->reconnect_min_ms;
    }
    c->state_cb = opt->state_cb;
    c->state_arg = opt->state_arg;
    c->rl.interval_us = KV_LOG_INTERVAL_US;
    c->rng = (uint64_t)clock_mono_us() ^ ((uint64_t)(uintptr_t)c << 16) ^ (uint64_t)getpid();
    if (c->rng == 0) {
        c->rng = 0x9e3779b97f4a7c15u;
    }
    ev_io_init(&c->rio, on_io_read, -1, EV_READ);
    ev_io_init(&c->wio, on_io_write, -1, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, 0., 0.);
    ev_timer_init(&c->defer, on_defer, 0., 0.);
    ev_timer_init(&c->stall, on_stall, 0., 0.);
    counters_register();
    return 0;
}

static void conn_free_fields(struct kv_conn *c)
{
    while (!link_empty(&c->scripts)) {
        struct kv_script *s = KV_CONTAINER_OF(c->scripts.next, struct kv_script, link);
        link_del(&s->link);
        free(s->lua);
        free(s);
    }
    free(c->host);
    free(c->unix_path);
    free(c->password);
    free(c->name);
}

/* Releases everything once no callback of c is on the stack. */
static void conn_finalize(struct kv_conn *c)
{
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_stop(c->loop, &c->defer);
    ev_timer_stop(c->loop, &c->stall);
    if (c->ac != NULL) {
        c->ac->data = NULL;
        redisAsyncFree(c->ac); /* zombies are freed by on_reply(); ad_cleanup() stops the I/O */
    }
    ev_io_stop(c->loop, &c->rio);
    ev_io_stop(c->loop, &c->wio);
    conn_free_fields(c);
    if (c->is_sub) {
        struct kv_sub *s = KV_CONTAINER_OF(c, struct kv_sub, conn);
        for (size_t i = 0; i < s->nset; i++) {
            free(s->set[i].name);
        }
        free(s->set);
        free(s);
    } else {
        free(c);
    }
}

/* Starts the first connect from the loop, so create never runs a callback. */
static void conn_start(struct kv_conn *c)
{
    ev_timer_set(&c->timer, 0., 0.);
    ev_timer_start(c->loop, &c->timer);
}

int kv_conn_create(struct ev_loop *loop, const struct kv_options *opt, struct kv_conn **out)
{
    struct kv_conn *c;
    int rc;

    if (loop == NULL || opt == NULL || out == NULL) {
        return ERR_INVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ERR_NOMEM;
    }
    rc = conn_init(c, loop, opt);
    if (rc != 0) {
        conn_free_fields(c);
        free(c);
        return rc;
    }
    conn_start(c);
    *out = c;
    return 0;
}

static void conn_close(struct kv_conn *c)
{
    if (c == NULL || c->closing) {
        return;
    }
    conn_enter(c);
    c->closing = true;
    conn_cancel_all(c);
    conn_leave(c);
}

void kv_conn_destroy(struct kv_conn *c)
{
    conn_close(c);
}

bool kv_conn_is_up(const struct kv_conn *c)
{
    return c != NULL && !c->closing && c->state == ST_UP;
}

void kv_conn_stats(const struct kv_conn *c, struct kv_stats *st)
{
    *st = c->stats;
}

/* ---------------------------------------------------------------------- */
/* Pub/sub                                                                 */
/* ---------------------------------------------------------------------- */

static struct sub_entry *sub_find(struct kv_sub *s, const char *name, size_t len, bool pattern)
{
    for (size_t i = 0; i < s->nset; i++) {
        struct sub_entry *e = &s->set[i];
        if (e->pattern == pattern && e->len == len && memcmp(e->name, name, len) == 0) {
            return e;
        }
    }
    return NULL;
}

static void sub_deliver(struct kv_sub *s, const redisReply *r)
{
    struct kv_message m = { 0 };
    const redisReply *const *el = (const redisReply *const *)r->element;
    bool pm = r->elements == 4;

    if (!pm && r->elements != 3) {
        return;
    }
    for (size_t i = 1; i < r->elements; i++) {
        if (el[i]->type != REDIS_REPLY_STRING) {
            return;
        }
    }
    if (pm) {
        m.pattern = el[1]->str;
        m.pattern_len = el[1]->len;
    }
    m.channel = el[pm ? 2 : 1]->str;
    m.channel_len = el[pm ? 2 : 1]->len;
    m.data = el[pm ? 3 : 2]->str;
    m.len = el[pm ? 3 : 2]->len;
    /* Drop what arrives after an unsubscribe. */
    if (sub_find(s, pm ? m.pattern : m.channel, pm ? m.pattern_len : m.channel_len, pm) == NULL) {
        return;
    }
    s->conn.stats.messages++;
    counter_inc(&kv_messages_total);
    s->cb(&m, s->arg);
}

/* The one callback of a subscriber connection (privdata is always NULL). */
static void sub_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct kv_conn *c = ac->data;
    redisReply *reply = r;
    struct kv_sub *s;
    const char *kind;

    (void)privdata;
    if (c == NULL || reply == NULL || c->closing) {
        return;
    }
    s = KV_CONTAINER_OF(c, struct kv_sub, conn);
    c->last_reply = ev_now(c->loop);
    if (reply->type == REDIS_REPLY_ERROR) {
        /*
         * Only AUTH and (P)SUBSCRIBE are sent here, so an error is a
         * configuration problem (password, ACL): drop the connection and
         * retry at the back-off ceiling rather than run half-subscribed.
         */
        LOG_ERR(KV, "event=sub_error name=%s addr=%s msg=\"%.*s\"", c->name, c->addr,
                (int)reply->len, reply->str);
        c->backoff_attempt = 30;
        c->drop_reason = "subscriber error reply";
        if (c->ac != NULL) {
            redisAsyncFree(c->ac); /* deferred by hiredis: we are inside its callback */
        }
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        return; /* AUTH's +OK and the like */
    }
    kind = reply->element[0]->str;
    if (strcmp(kind, "message") == 0 || strcmp(kind, "pmessage") == 0) {
        sub_deliver(s, reply);
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        if (!c->announced_up && s->pending > 0 && --s->pending == 0) {
            conn_announce(c, true);
        }
    }
}

/* Sends SUBSCRIBE or PSUBSCRIBE for the entries of one kind; returns how many. */
static long sub_send_all(struct kv_sub *s, bool pattern)
{
    struct kv_conn *c = &s->conn;
    const char **v;
    size_t *l;
    long n = 0;

    v = malloc((s->nset + 1) * sizeof(*v));
    l = malloc((s->nset + 1) * sizeof(*l));
    if (v == NULL || l == NULL) {
        free(v);
        free(l);
        return 0;
    }
    v[0] = pattern ? "PSUBSCRIBE" : "SUBSCRIBE";
    l[0] = strlen(v[0]);
    for (size_t i = 0; i < s->nset; i++) {
        if (s->set[i].pattern == pattern) {
            n++;
            v[n] = s->set[i].name;
            l[n] = s->set[i].len;
        }
    }
    if (n > 0 && redisAsyncCommandArgv(c->ac, sub_on_reply, NULL, (int)n + 1, v, l) != REDIS_OK) {
        n = 0;
    }
    free(v);
    free(l);
    return n;
}

static void sub_on_connected(struct kv_sub *s)
{
    struct kv_conn *c = &s->conn;

    if (c->password != NULL) {
        const char *argv[2] = { "AUTH", c->password };
        redisAsyncCommandArgv(c->ac, sub_on_reply, NULL, 2, argv, NULL);
    }
    s->pending = sub_send_all(s, false);
    s->pending += sub_send_all(s, true);
    if (s->pending == 0) {
        conn_announce(c, true);
    }
}

int kv_sub_create(struct ev_loop *loop, const struct kv_options *opt, kv_message_cb *cb, void *arg,
                  struct kv_sub **out)
{
    struct kv_sub *s;
    int rc;

    if (loop == NULL || opt == NULL || cb == NULL || out == NULL) {
        return ERR_INVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return ERR_NOMEM;
    }
    s->conn.is_sub = true;
    rc = conn_init(&s->conn, loop, opt);
    if (rc != 0) {
        conn_free_fields(&s->conn);
        free(s);
        return rc;
    }
    s->conn.db = 0;
    s->cb = cb;
    s->arg = arg;
    conn_start(&s->conn);
    *out = s;
    return 0;
}

void kv_sub_destroy(struct kv_sub *s)
{
    if (s != NULL) {
        conn_close(&s->conn);
    }
}

static int sub_add(struct kv_sub *s, const char *name, size_t len, bool pattern)
{
    struct kv_conn *c;
    struct sub_entry *e;
    const char *argv[2];
    size_t lens[2];

    if (s == NULL || name == NULL || len == 0) {
        return ERR_INVAL;
    }
    c = &s->conn;
    if (c->closing) {
        return ERR_SHUTDOWN;
    }
    if (sub_find(s, name, len, pattern) != NULL) {
        return 0;
    }
    if (s->nset == s->capset) {
        size_t cap = s->capset != 0 ? s->capset * 2 : 8;
        struct sub_entry *n = realloc(s->set, cap * sizeof(*n));
        if (n == NULL) {
            return ERR_NOMEM;
        }
        s->set = n;
        s->capset = cap;
    }
    e = &s->set[s->nset];
    e->name = malloc(len + 1);
    if (e->name == NULL) {
        return ERR_NOMEM;
    }
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->len = len;
    e->pattern = pattern;
    s->nset++;
    if (conn_writable(c)) {
        argv[0] = pattern ? "PSUBSCRIBE" : "SUBSCRIBE";
        lens[0] = strlen(argv[0]);
        argv[1] = e->name;
        lens[1] = len;
        if (redisAsyncCommandArgv(c->ac, sub_on_reply, NULL, 2, argv, lens) == REDIS_OK &&
            !c->announced_up) {
            s->pending++;
        }
    }
    return 0;
}

static int sub_remove(struct kv_sub *s, const char *name, size_t len, bool pattern)
{
    struct kv_conn *c;
    struct sub_entry *e;
    const char *argv[2];
    size_t lens[2];

    if (s == NULL || name == NULL) {
        return ERR_INVAL;
    }
    c = &s->conn;
    e = sub_find(s, name, len, pattern);
    if (e == NULL) {
        return ERR_NOTFOUND;
    }
    if (conn_writable(c)) {
        argv[0] = pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE";
        lens[0] = strlen(argv[0]);
        argv[1] = name;
        lens[1] = len;
        /* Refused when the context is not subscribed at all: nothing to undo then. */
        (void)redisAsyncCommandArgv(c->ac, sub_on_reply, NULL, 2, argv, lens);
    }
    free(e->name);
    *e = s->set[--s->nset];
    return 0;
}

int kv_sub_subscribe(struct kv_sub *s, const char *channel, size_t len)
{
    return sub_add(s, channel, len, false);
}

int kv_sub_psubscribe(struct kv_sub *s, const char *pattern, size_t len)
{
    return sub_add(s, pattern, len, true);
}

int kv_sub_unsubscribe(struct kv_sub *s, const char *channel, size_t len)
{
    return sub_remove(s, channel, len, false);
}

int kv_sub_punsubscribe(struct kv_sub *s, const char *pattern, size_t len)
{
    return sub_remove(s, pattern, len, true);
}

bool kv_sub_is_up(const struct kv_sub *s)
{
    return s != NULL && !s->conn.closing && s->conn.state == ST_UP && s->conn.announced_up;
}

void kv_sub_stats(const struct kv_sub *s, struct kv_stats *st)
{
    *st = s->conn.stats;
}
