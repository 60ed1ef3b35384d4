/* SPDX-License-Identifier: MIT */
/*
 * counter: the registry. Registration happens at start-up and is rare, so a
 * mutex guards the list; updates never touch it.
 */
#include "core/counter.h"

#include <pthread.h>
#include <stddef.h>

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter *reg_head;
static struct counter *reg_tail;

void counter_register(struct counter *c)
{
    pthread_mutex_lock(&reg_lock);
    for (struct counter *p = reg_head; p != NULL; p = p->_next) {
        if (p == c) {
            pthread_mutex_unlock(&reg_lock);
            return;
        }
    }
    c->_next = NULL;
    if (reg_tail != NULL) {
        reg_tail->_next = c;
    } else {
        reg_head = c;
    }
    reg_tail = c;
    pthread_mutex_unlock(&reg_lock);
}

void counter_foreach(counter_visit_cb *cb, void *arg)
{
    pthread_mutex_lock(&reg_lock);
    for (struct counter *p = reg_head; p != NULL; p = p->_next) {
        cb(p, arg);
    }
    pthread_mutex_unlock(&reg_lock);
}
