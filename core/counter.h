/* SPDX-License-Identifier: MIT */
/*
 * counter: live statistics that hot paths update without locks.
 *
 * A counter is a named 64-bit value with relaxed atomic updates (statistics
 * only: nothing synchronises through a counter). Modules register their
 * counters once at start-up and keep the handle; the metrics thread reads
 * every registered counter through counter_foreach(). A gauge is a counter
 * that may go down (in-progress calls). Labels are part of the name in
 * Prometheus form: "dialer_calls_total{outcome=\"busy\"}".
 */
#ifndef CORE_COUNTER_H
#define CORE_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

enum counter_kind { COUNTER_KIND_COUNTER, COUNTER_KIND_GAUGE };

struct counter {
    _Atomic int64_t value;  /* private: use the functions below */
    enum counter_kind kind; /* read-only */
    const char *name;       /* read-only, static string */
    const char *help;       /* read-only, static string */
    struct counter *_next;  /* private: registry link */
};

/* Initialises a static or embedded counter; does not register it. */
#define COUNTER_INIT(kind_, name_, help_)                                            \
    {                                                                                \
        .value = 0, .kind = (kind_), .name = (name_), .help = (help_), ._next = NULL \
    }

/* Adds c to the registry (once; idempotent). Thread-safe. c must outlive the process. */
void counter_register(struct counter *c);

static inline void counter_add(struct counter *c, int64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

static inline void counter_inc(struct counter *c)
{
    atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

static inline void counter_dec(struct counter *c)
{
    atomic_fetch_sub_explicit(&c->value, 1, memory_order_relaxed);
}

static inline void counter_set(struct counter *c, int64_t v)
{
    atomic_store_explicit(&c->value, v, memory_order_relaxed);
}

static inline int64_t counter_get(const struct counter *c)
{
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

typedef void counter_visit_cb(const struct counter *c, void *arg);

/* Calls cb for every registered counter, in registration order. Thread-safe. */
void counter_foreach(counter_visit_cb *cb, void *arg);

#endif
