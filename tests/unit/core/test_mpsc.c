/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core/mpsc: FIFO per producer, nothing lost or duplicated
 * with several producer threads, wake-ups through ev_async. Run under
 * `make tsan` to check the memory ordering.
 */
#include <ev.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/mpsc.h"

struct msg {
    struct mpsc_node node;
    int producer;
    int seq;
};

static void test_mpsc_single_thread_fifo(void **state)
{
    struct mpsc_queue q;
    struct msg m[5];
    (void)state;
    mpsc_init(&q);
    assert_true(mpsc_empty(&q));
    for (int i = 0; i < 5; i++) {
        m[i].seq = i;
        assert_int_equal(mpsc_push(&q, &m[i].node), i == 0);
    }
    struct mpsc_node *n = mpsc_take_all(&q);
    assert_true(mpsc_empty(&q));
    for (int i = 0; i < 5; i++) {
        assert_non_null(n);
        assert_int_equal(CONTAINER_OF(n, struct msg, node)->seq, i);
        n = n->next;
    }
    assert_null(n);
    assert_null(mpsc_take_all(&q));
}

enum { PRODUCERS = 4, PER_PRODUCER = 20000 };

struct fixture {
    struct ev_loop *loop;
    struct mpsc_mailbox mb;
    int next_seq[PRODUCERS];
    int received;
    int out_of_order;
    int callbacks;
};

static void recv_cb(struct mpsc_mailbox *mb, struct mpsc_node *node, void *arg)
{
    struct fixture *f = arg;
    struct msg *m = CONTAINER_OF(node, struct msg, node);
    (void)mb;
    if (m->seq != f->next_seq[m->producer]) {
        f->out_of_order++;
    }
    f->next_seq[m->producer] = m->seq + 1;
    f->received++;
    free(m);
    if (f->received == PRODUCERS * PER_PRODUCER) {
        ev_break(f->loop, EVBREAK_ALL);
    }
}

struct producer_arg {
    struct fixture *f;
    int id;
};

static void *producer(void *arg)
{
    struct producer_arg *pa = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        struct msg *m = malloc(sizeof(*m));
        if (m == NULL) {
            abort();
        }
        m->producer = pa->id;
        m->seq = i;
        mpsc_mailbox_send(&pa->f->mb, &m->node);
    }
    return NULL;
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void test_mpsc_mailbox_many_producers_nothing_lost(void **state)
{
    struct fixture f = { 0 };
    pthread_t th[PRODUCERS];
    struct producer_arg pa[PRODUCERS];
    ev_timer guard;
    (void)state;

    f.loop = ev_loop_new(EVFLAG_AUTO);
    mpsc_mailbox_init(&f.mb, f.loop, recv_cb, &f);
    /* A bounded wait: the test fails rather than hangs if messages are lost. */
    ev_timer_init(&guard, timeout_cb, 30.0, 0.);
    ev_timer_start(f.loop, &guard);
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i].f = &f;
        pa[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, producer, &pa[i]), 0);
    }
    ev_run(f.loop, 0);
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
    }
    mpsc_mailbox_fini(&f.mb);
    ev_timer_stop(f.loop, &guard);
    ev_loop_destroy(f.loop);
    assert_int_equal(f.received, PRODUCERS * PER_PRODUCER);
    assert_int_equal(f.out_of_order, 0);
}

static void count_cb(struct mpsc_mailbox *mb, struct mpsc_node *node, void *arg)
{
    int *n = arg;
    (void)mb;
    (*n)++;
    free(CONTAINER_OF(node, struct msg, node));
}

static void test_mpsc_mailbox_fini_delivers_queued(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct mpsc_mailbox mb;
    int n = 0;
    (void)state;
    mpsc_mailbox_init(&mb, loop, count_cb, &n);
    for (int i = 0; i < 3; i++) {
        struct msg *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        mpsc_mailbox_send(&mb, &m->node);
    }
    /* The idle mailbox does not keep the loop alive ... */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(n, 3);
    struct msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    mpsc_mailbox_send(&mb, &m->node);
    /* ... and fini hands over what is still queued. */
    mpsc_mailbox_fini(&mb);
    assert_int_equal(n, 4);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpsc_single_thread_fifo),
        cmocka_unit_test(test_mpsc_mailbox_many_producers_nothing_lost),
        cmocka_unit_test(test_mpsc_mailbox_fini_delivers_queued),
    };
    return cmocka_run_group_tests_name("core/mpsc", tests, NULL, NULL);
}
