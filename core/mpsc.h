/* SPDX-License-Identifier: MIT */
/*
 * mpsc: the lock-free hand-off between threads.
 *
 * DESIGN. A message is a heap struct with an embedded struct mpsc_node; after
 * mpsc_push() the sender must not touch it, the receiver owns it. The queue is
 * an intrusive multi-producer stack: producers push with a compare-exchange
 * (release); the single consumer takes the whole stack with one exchange
 * (acquire) and reverses it, so it sees messages in push order per producer.
 * There is no single-element pop, so there is no ABA problem.
 *
 * struct mpsc_mailbox couples a queue with an ev_async watcher on the
 * consumer's loop: mpsc_mailbox_send() pushes and wakes the loop; the loop's
 * callback receives every queued message (ev_async sends coalesce, so the
 * callback always drains everything). The memory ordering is carried by the
 * atomics here, not by libev.
 */
#ifndef CORE_MPSC_H
#define CORE_MPSC_H

#include <ev.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct mpsc_node {
    struct mpsc_node *next; /* private */
};

struct mpsc_queue {
    _Atomic(struct mpsc_node *) _head; /* private: newest first */
};

/* Recovers the struct that embeds member from a pointer to it. */
#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

void mpsc_init(struct mpsc_queue *q);

/*
 * Pushes n (taken: the caller gives up the message). Any thread. Returns true
 * when the queue was empty before, i.e. the consumer may need a wake-up.
 */
bool mpsc_push(struct mpsc_queue *q, struct mpsc_node *n);

/*
 * Takes every queued node, oldest first, as a NULL-terminated list linked by
 * next (new: the caller owns them all). Consumer thread only.
 */
struct mpsc_node *mpsc_take_all(struct mpsc_queue *q);

/* True when nothing is queued (a hint; producers may push concurrently). */
bool mpsc_empty(struct mpsc_queue *q);

struct mpsc_mailbox;

/* Receives one message (taken). Runs on the mailbox's loop thread. */
typedef void mpsc_recv_cb(struct mpsc_mailbox *mb, struct mpsc_node *msg, void *arg);

struct mpsc_mailbox {
    struct mpsc_queue queue; /* private */
    ev_async async;          /* private */
    struct ev_loop *loop;    /* read-only */
    mpsc_recv_cb *cb;        /* read-only */
    void *arg;               /* read-only */
};

/*
 * Prepares mb for loop (the consumer's) and starts its watcher. Must run on
 * the loop's thread (or before the loop runs). The mailbox holds no active
 * reference on the loop (ev_unref), so an idle mailbox does not keep ev_run
 * alive.
 */
void mpsc_mailbox_init(struct mpsc_mailbox *mb, struct ev_loop *loop, mpsc_recv_cb *cb, void *arg);

/* Pushes msg (taken) and wakes the loop. Any thread. */
void mpsc_mailbox_send(struct mpsc_mailbox *mb, struct mpsc_node *msg);

/*
 * Delivers whatever is queued now, on the calling (loop) thread. Useful at
 * shutdown so no message leaks.
 */
void mpsc_mailbox_drain(struct mpsc_mailbox *mb);

/* Stops the watcher (loop thread). Queued messages are delivered first. */
void mpsc_mailbox_fini(struct mpsc_mailbox *mb);

#endif
