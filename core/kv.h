/* SPDX-License-Identifier: MIT */
/*
 * kv: the Redis adapter (hiredis async on one libev loop).
 *
 * Redis holds the state several dialerd nodes share: global CPS token
 * buckets, per-number frequency caps, concurrent-channel counts, metrics
 * fan-out. This adapter gives the rest of the program three objects:
 *
 *   struct kv_conn    a command connection. It connects by itself, reconnects
 *                     with jittered exponential back-off, and announces every
 *                     up/down transition through a state callback.
 *   struct kv_script  a Lua script registered once on a kv_conn, called by
 *                     EVALSHA; NOSCRIPT (empty script cache after SCRIPT FLUSH
 *                     or a Redis restart) falls back to EVAL transparently.
 *   struct kv_sub     a subscriber connection that (re)subscribes to its
 *                     channels and patterns after every (re)connect and hands
 *                     each message to one callback.
 *
 * Commands are argument vectors (binary safe; there is no format-string
 * interface, so user data can never be parsed as command syntax). Every
 * command accepted by kv_cmd_send() completes exactly once through its
 * callback, always from the loop and never from inside the call that issued
 * it, unless the caller cancels it first:
 *
 *   status 0                 a reply (any type but an error reply)
 *   status ERR_KV            Redis answered with an error reply (reply->str)
 *   status ERR_DISCONNECTED  the connection was down when the command was
 *                            issued (fail fast, next loop iteration), or it
 *                            dropped with the command in flight; reply NULL
 *   status ERR_TIMEOUT       no reply within the command timeout; reply NULL
 *   status ERR_CANCELED      the connection was destroyed; reply NULL
 *
 * A command that timed out stays in Redis' pipeline: its late reply is read
 * and dropped. Commands issued while the connection is down are not queued
 * for later: the caller decides whether to retry (a frequency-cap check that
 * waited for Redis to come back would be stale anyway).
 *
 * Threads: every object here belongs to the thread that runs its loop; no
 * function may be called from another thread. Counters (kv_commands_total,
 * kv_errors_total, kv_timeouts_total, kv_reconnects_total,
 * kv_connect_failures_total, kv_messages_total) are global and may be read
 * from any thread through core/counter.
 *
 * Host names: hiredis 0.14 resolves a TCP host name with getaddrinfo() inside
 * its connect call, which blocks. Give an IP literal or a unix socket path;
 * a name is accepted (and logged once as a warning) for "localhost"-style
 * setups where /etc/hosts answers at once.
 */
#ifndef CORE_KV_H
#define CORE_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct ev_loop;
struct kv_conn;
struct kv_cmd;
struct kv_script;
struct kv_sub;

/*
 * A command completed. reply is borrowed: valid only during the call (copy
 * what you keep); it is non-NULL for status 0 and ERR_KV, NULL otherwise.
 * The handle returned by the send is dead once this runs.
 */
typedef void kv_reply_cb(int status, redisReply *reply, void *arg);

/*
 * The connection went up (up = true: commands are accepted; for a kv_sub,
 * every channel and pattern is subscribed) or down (up = false). Called only
 * on transitions, from the loop. The callback may send commands or destroy
 * the object.
 */
typedef void kv_state_cb(bool up, void *arg);

/* Connection settings. Strings are copied by the create functions. */
struct kv_options {
    const char *host;           /* TCP host, IP literal preferred; ignored with unix_path */
    int port;                   /* TCP port (1..65535) */
    const char *unix_path;      /* unix socket path; when non-NULL it wins over host/port */
    const char *password;       /* sent with AUTH after each connect; NULL: none */
    int db;                     /* SELECT after each connect when > 0 (kv_conn only) */
    const char *name;           /* for log lines ("main", "sub"); NULL: "kv" */
    int64_t connect_timeout_ms; /* a connect attempt is abandoned after this; 0: 1000 */
    int64_t command_timeout_ms; /* default per-command timeout; 0: 1000; < 0: none */
    int64_t reconnect_min_ms;   /* first back-off step; 0: 100 */
    int64_t reconnect_max_ms;   /* back-off ceiling; 0: 5000 */
    int64_t stall_timeout_ms;   /* after a command times out, drop the connection if no reply
                                   at all arrives within this long; 0: never (docs/kv.md) */
    kv_state_cb *state_cb;      /* optional */
    void *state_arg;            /* passed to state_cb */
};

/* Per-object statistics for tests and diagnostics (the counters are global). */
struct kv_stats {
    uint64_t commands;           /* commands accepted by a send */
    uint64_t replies;            /* completions with status 0 */
    uint64_t error_replies;      /* completions with ERR_KV */
    uint64_t timeouts;           /* completions with ERR_TIMEOUT */
    uint64_t disconnected;       /* completions with ERR_DISCONNECTED */
    uint64_t connects;           /* successful connects (the first one included) */
    uint64_t connect_failures;   /* attempts that failed or timed out */
    uint64_t disconnects;        /* established connections that dropped */
    uint64_t noscript_fallbacks; /* script calls retried as EVAL after NOSCRIPT */
    uint64_t messages;           /* pub/sub messages delivered (kv_sub only) */
    uint64_t inflight;           /* commands whose callback is still owed */
};

/* ---------------------------------------------------------------------- */
/* Command connection                                                      */
/* ---------------------------------------------------------------------- */

/*
 * Creates a command connection on loop and starts connecting (the attempt
 * completes later, from the loop). Rejects (ERR_INVAL) a NULL loop, opt or
 * out, and options with neither unix_path nor host, or a port out of range.
 * Returns 0 and sets *out (new; the caller destroys it with
 * kv_conn_destroy), or ERR_INVAL / ERR_NOMEM with *out untouched. No
 * callback runs inside this call. Loop thread only.
 */
int kv_conn_create(struct ev_loop *loop, const struct kv_options *opt, struct kv_conn **out);

/*
 * Destroys c. Every command whose callback is still owed completes with
 * ERR_CANCELED inside this call (sends made from those callbacks return
 * ERR_SHUTDOWN); then the connection is closed and no callback of c or its
 * scripts runs again. Scripts created on c are freed. May be called from
 * any callback of c (the memory is released when that callback returns).
 * NULL is a no-op.
 */
void kv_conn_destroy(struct kv_conn *c);

/* True when c is connected and accepting commands. Borrowed c. */
bool kv_conn_is_up(const struct kv_conn *c);

/*
 * Sends one command: argc arguments argv[i] of argvlen[i] bytes (argvlen
 * may be NULL when every argument is a NUL-terminated string). The
 * arguments are copied before the call returns. cb(status, reply, arg) runs
 * exactly once, later, from the loop (see the file comment) unless
 * kv_cmd_cancel() is called first. When out is non-NULL it receives the
 * handle, valid until the callback starts or until cancel.
 * Returns 0, ERR_INVAL (argc < 1, NULL argv or cb), ERR_NOMEM, or
 * ERR_SHUTDOWN (c is being destroyed); on error cb never runs.
 * The connection's default command timeout applies.
 */
int kv_cmd_send(struct kv_conn *c, int argc, const char *const *argv, const size_t *argvlen,
                kv_reply_cb *cb, void *arg, struct kv_cmd **out);

/* As kv_cmd_send() with an explicit timeout: > 0 milliseconds, < 0 none, 0 default. */
int kv_cmd_send_timeout(struct kv_conn *c, int argc, const char *const *argv, const size_t *argvlen,
                        int64_t timeout_ms, kv_reply_cb *cb, void *arg, struct kv_cmd **out);

/*
 * Cancels a command: its callback will never run. h must be a live handle
 * (its callback has not started). If the command was already written to
 * Redis it still executes there; only its reply is dropped. NULL is a
 * no-op. Calling it from inside the command's own callback is a no-op.
 */
void kv_cmd_cancel(struct kv_cmd *h);

/* Copies the statistics of c into *st. */
void kv_conn_stats(const struct kv_conn *c, struct kv_stats *st);

/* ---------------------------------------------------------------------- */
/* Lua scripts                                                            */
/* ---------------------------------------------------------------------- */

/*
 * Registers the Lua script (len bytes at lua, copied) on c. The script is
 * loaded with SCRIPT LOAD now if c is up and after every (re)connect, so the
 * first call after a Redis restart can already use EVALSHA. Returns 0 and
 * sets *out (owned by c: freed by kv_conn_destroy), or ERR_INVAL / ERR_NOMEM.
 */
int kv_script_create(struct kv_conn *c, const char *lua, size_t len, struct kv_script **out);

/*
 * Calls the script: numkeys of the argc arguments are KEYS, the rest ARGV
 * (argvlen may be NULL for NUL-terminated strings; copied). Uses EVALSHA
 * once the SHA1 is known and EVAL before; a NOSCRIPT reply is retried once
 * as EVAL under the same handle and callback. Completion as kv_cmd_send();
 * a Lua error completes with ERR_KV and the error reply. Returns 0,
 * ERR_INVAL (numkeys < 0 or > argc, or argc > 0 with NULL argv), ERR_NOMEM
 * or ERR_SHUTDOWN.
 */
int kv_script_call(struct kv_script *s, int numkeys, int argc, const char *const *argv,
                   const size_t *argvlen, kv_reply_cb *cb, void *arg, struct kv_cmd **out);

/*
 * The script's SHA1 as 40 hex digits once Redis has reported it, otherwise
 * NULL. Borrowed; valid while the script lives.
 */
const char *kv_script_sha(const struct kv_script *s);

/* ---------------------------------------------------------------------- */
/* Pub/sub                                                                 */
/* ---------------------------------------------------------------------- */

/* One pub/sub message; every field is borrowed for the callback's duration. */
struct kv_message {
    const char *channel; /* channel the message was published on (not NUL-safe: use len) */
    size_t channel_len;
    const char *pattern; /* matching pattern for a pattern subscription, else NULL */
    size_t pattern_len;
    const char *data; /* payload */
    size_t len;
};

/*
 * A message arrived. The callback may (un)subscribe or destroy the kv_sub.
 * Messages published while the subscriber was down are lost (Redis pub/sub
 * is fire-and-forget): users treat a down->up transition as "resync".
 */
typedef void kv_message_cb(const struct kv_message *m, void *arg);

/*
 * Creates a subscriber connection (opt->db is ignored: channels are global)
 * and starts connecting. cb is required. Subscriptions added before the
 * first connect completes are sent with it. Returns 0 and sets *out (new;
 * destroy with kv_sub_destroy), ERR_INVAL or ERR_NOMEM.
 */
int kv_sub_create(struct ev_loop *loop, const struct kv_options *opt, kv_message_cb *cb, void *arg,
                  struct kv_sub **out);

/* Closes and frees s; no callback runs afterwards. Callable from s's callbacks. NULL: no-op. */
void kv_sub_destroy(struct kv_sub *s);

/*
 * Adds a channel (len bytes, copied) to s's set and subscribes now if
 * connected; the set is resubscribed after every reconnect. Adding a
 * channel already in the set is a no-op. Returns 0, ERR_INVAL or ERR_NOMEM.
 */
int kv_sub_subscribe(struct kv_sub *s, const char *channel, size_t len);

/* As kv_sub_subscribe() for a glob pattern (PSUBSCRIBE). */
int kv_sub_psubscribe(struct kv_sub *s, const char *pattern, size_t len);

/*
 * Removes a channel (or, with the p variant, a pattern) from the set and
 * unsubscribes if connected. Messages for it that were already in flight
 * are dropped. Returns 0 or ERR_NOTFOUND.
 */
int kv_sub_unsubscribe(struct kv_sub *s, const char *channel, size_t len);
int kv_sub_punsubscribe(struct kv_sub *s, const char *pattern, size_t len);

/* True when s is connected and every channel in its set is subscribed. */
bool kv_sub_is_up(const struct kv_sub *s);

/* Copies the statistics of s into *st. */
void kv_sub_stats(const struct kv_sub *s, struct kv_stats *st);

#endif
