/* SPDX-License-Identifier: MIT */
/* mpsc: see mpsc.h. */
#include "core/mpsc.h"

void mpsc_init(struct mpsc_queue *q)
{
    atomic_init(&q->_head, NULL);
}

bool mpsc_push(struct mpsc_queue *q, struct mpsc_node *n)
{
    struct mpsc_node *old = atomic_load_explicit(&q->_head, memory_order_relaxed);
    do {
        n->next = old;
        /* Release pairs with the acquire exchange in mpsc_take_all(): the
         * consumer sees the message's contents and its next link. */
    } while (!atomic_compare_exchange_weak_explicit(&q->_head, &old, n, memory_order_release,
                                                    memory_order_relaxed));
    return old == NULL;
}

struct mpsc_node *mpsc_take_all(struct mpsc_queue *q)
{
    /* Acquire pairs with the release CAS in mpsc_push(). */
    struct mpsc_node *n = atomic_exchange_explicit(&q->_head, NULL, memory_order_acquire);
    struct mpsc_node *rev = NULL;

    while (n != NULL) {
        struct mpsc_node *next = n->next;
        n->next = rev;
        rev = n;
        n = next;
    }
    return rev;
}

bool mpsc_empty(struct mpsc_queue *q)
{
    return atomic_load_explicit(&q->_head, memory_order_relaxed) == NULL;
}

static void mailbox_deliver(struct mpsc_mailbox *mb)
{
    struct mpsc_node *n = mpsc_take_all(&mb->queue);
    while (n != NULL) {
        struct mpsc_node *next = n->next;
        n->next = NULL;
        mb->cb(mb, n, mb->arg);
        n = next;
    }
}

static void mailbox_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct mpsc_mailbox *mb = CONTAINER_OF(w, struct mpsc_mailbox, async);
    (void)loop;
    (void)revents;
    mailbox_deliver(mb);
}

void mpsc_mailbox_init(struct mpsc_mailbox *mb, struct ev_loop *loop, mpsc_recv_cb *cb, void *arg)
{
    mpsc_init(&mb->queue);
    mb->loop = loop;
    mb->cb = cb;
    mb->arg = arg;
    ev_async_init(&mb->async, mailbox_async_cb);
    ev_async_start(loop, &mb->async);
    ev_unref(loop);
}

void mpsc_mailbox_send(struct mpsc_mailbox *mb, struct mpsc_node *msg)
{
    mpsc_push(&mb->queue, msg);
    /* Always signal: the was-empty hint could race with a consumer that has
     * taken the list but not yet returned from the callback, and ev_async_send
     * is cheap when already pending. */
    ev_async_send(mb->loop, &mb->async);
}

void mpsc_mailbox_drain(struct mpsc_mailbox *mb)
{
    mailbox_deliver(mb);
}

void mpsc_mailbox_fini(struct mpsc_mailbox *mb)
{
    mailbox_deliver(mb);
    ev_ref(mb->loop);
    ev_async_stop(mb->loop, &mb->async);
}
