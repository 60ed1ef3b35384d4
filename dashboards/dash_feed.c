/* SPDX-License-Identifier: MIT */
/*
 * dashboards/dash_feed: a synthetic producer for tests and demos until the
 * dialer counts real calls. Debug builds only (compiled out with NDEBUG):
 * a release dialerd has no way to invent figures.
 *
 * It drives the public producer API exactly as the dialer will: one
 * dash_campaign() registration per campaign, then dash_inc/dash_add/dash_set
 * from a timer on the caller's loop, with outcomes drawn from a fixed-seed
 * generator (deterministic per run; not a model of real traffic).
 */
#ifndef NDEBUG

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "dashboards/dash_int.h"

enum { FEED_MAX = 16 };

struct dash_feed {
    struct dash *d;
    struct ev_loop *loop;
    ev_timer t;
    uint64_t rnd;
    size_t n;
    struct dash_entity *e[FEED_MAX];
    struct dash_entity *trunk;
};

static unsigned next(struct dash_feed *f, unsigned mod)
{
    f->rnd = f->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((f->rnd >> 33) % mod);
}

static void feed_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct dash_feed *f = w->data;
    (void)loop;
    (void)revents;

    for (size_t i = 0; i < f->n; i++) {
        struct dash_entity *e = f->e[i];
        unsigned calls = 1 + next(f, 3);
        for (unsigned c = 0; c < calls; c++) {
            unsigned r = next(f, 100);
            dash_inc(e, DASH_ATTEMPTS);
            dash_inc(f->trunk, DASH_ATTEMPTS);
            dash_inc(e, DASH_ENDED);
            dash_add(e, DASH_CONTACTS_REMAINING, -1);
            dash_add(e, DASH_HANDLE_MS, 20000 + next(f, 20000));
            if (r < 45) {
                dash_inc(e, DASH_ANSWERED);
                dash_inc(f->trunk, DASH_ANSWERED);
                dash_add(e, DASH_TALK_MS, 30000 + next(f, 60000));
                if (r < 38) {
                    dash_inc(e, DASH_HUMAN);
                    if (next(f, 100) < 3) {
                        dash_inc(e, DASH_ABANDONED);
                    }
                } else {
                    dash_inc(e, DASH_MACHINE);
                }
            } else if (r < 65) {
                dash_inc(e, DASH_BUSY);
            } else if (r < 92) {
                dash_inc(e, DASH_NO_ANSWER);
            } else if (r < 96) {
                dash_inc(e, DASH_FAILED);
                dash_inc(f->trunk, DASH_FAILED);
            } else {
                dash_inc(e, r < 98 ? DASH_BLOCKED_DNC : DASH_BLOCKED_WINDOW);
            }
        }
        dash_set(e, DASH_RINGING, 5 + next(f, 10));
        dash_set(e, DASH_IN_PROGRESS, 10 + next(f, 20));
    }
    dash_set(f->trunk, DASH_CHANNELS, 20 + next(f, 40));
}

int dash_feed_start(struct dash *d, struct ev_loop *loop, const char *spec, struct dash_feed **out)
{
    struct dash_feed *f = calloc(1, sizeof(*f));
    const char *p = spec;

    if (f == NULL) {
        return ERR_NOMEM;
    }
    f->d = d;
    f->loop = loop;
    f->rnd = 42;
    f->trunk = dash_trunk(d, "synthetic");
    dash_set(f->trunk, DASH_CAPACITY, 100);
    while (p != NULL && *p != '\0' && f->n < FEED_MAX) {
        char *end;
        long long tenant = strtoll(p, &end, 10);
        long long campaign = *end == ':' ? strtoll(end + 1, &end, 10) : 0;
        struct dash_entity *e = dash_campaign(d, tenant, campaign);
        if (e == NULL || (*end != ',' && *end != '\0')) {
            LOG_ERR(DASH, "event=feed_spec_invalid msg=\"expected tenant:campaign[,...]\"");
            free(f);
            return ERR_INVAL;
        }
        dash_set(e, DASH_CONTACTS_TOTAL, 5000);
        dash_set(e, DASH_CONTACTS_REMAINING, 5000);
        dash_campaign_cap(e, 300);
        dash_campaign_state(d, e, DASH_STATE_RUNNING);
        f->e[f->n++] = e;
        p = *end == ',' ? end + 1 : end;
    }
    ev_timer_init(&f->t, feed_cb, 0.2, 0.2);
    f->t.data = f;
    ev_timer_start(loop, &f->t);
    LOG_WARN(DASH, "event=synthetic_feed campaigns=%zu msg=\"figures are invented (debug build)\"",
             f->n);
    *out = f;
    return 0;
}

void dash_feed_stop(struct dash_feed *f)
{
    if (f == NULL) {
        return;
    }
    ev_timer_stop(f->loop, &f->t);
    free(f);
}

#endif
