/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's gate: a local allowance of launches drawn in chunks from
 * a limit shared through Redis (limits.c), so a launch decision never waits
 * for I/O. A chunk is requested when the allowance falls under half a
 * chunk; at most one request is in flight. A failed refill (Redis down,
 * timeout, script error) leaves the allowance to run dry: fail closed,
 * with at most one chunk launched on what was granted before.
 *
 * An idle gate holds nothing: campaign_gate_refill(), called every tick,
 * asks for more only when a take wanted launches since the previous call,
 * and otherwise gives the tokens held back (flush). Tokens drawn long ago
 * and spent all at once would otherwise add a chunk per node on top of
 * the shared rate when work appears (a campaign starts or resumes, the
 * channel cap frees up), over the global CPS in that second. A gate whose
 * spec says refund (the carrier trunks' gates) gives the tokens' rate back
 * to the shared bucket too, capped at its size: a small trunk's node that
 * missed a tick (the global gate shut first) does not lose a tenth of a
 * second of the trunk's rate each time.
 *
 * The process's count of the shared channels is written absolutely now and
 * then by the owner (campaign_gate_sync: calls up plus tokens held), which
 * undoes what commands of unknown outcome left in Redis (a refill that
 * timed out here but ran there books channels nobody holds). The write must
 * not pass a refill in flight (its grant is booked before the write and
 * counted here after it), and under steady demand a refill is asked at
 * every tick and answered within it, so a write that only went out when it
 * found the gate idle found it so by chance: after a Redis stall it could
 * wait for ever while the lost chunks held the whole channel cap and the
 * gate granted nothing. So a write that finds a refill in flight stops the
 * next refills until it has gone out (at the next call, once the reply is
 * in: kv answers or times out every command).
 *
 * Lifetime: the refill's callback needs the gate, so a gate destroyed with
 * a refill in flight is only marked and freed by that callback (which
 * always comes: kv completes or cancels every command).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/campaign_int.h"
#include "core/clock.h"
#include "core/err.h"

struct campaign_gate {
    struct campaign_limits *lim;
    struct campaign_limit_spec spec;
    char key[129];
    int chunk;
    int tokens;
    bool inflight;
    bool orphan;
    bool demand;   /* a take wanted launches since the last campaign_gate_refill() */
    bool sync_due; /* campaign_gate_sync() waits for the refill in flight: no new refill */
    int status;
};

int campaign_gate_create(struct campaign_limits *l, const struct campaign_limit_spec *spec,
                         int chunk, struct campaign_gate **out)
{
    if (!l || !spec || !spec->key || strlen(spec->key) > 128 || chunk < 1 || !out) {
        return ERR_INVAL;
    }
    struct campaign_gate *g = calloc(1, sizeof(*g));
    if (!g) {
        return ERR_NOMEM;
    }
    g->lim = l;
    g->spec = *spec;
    snprintf(g->key, sizeof(g->key), "%s", spec->key);
    g->spec.key = g->key;
    g->chunk = chunk;
    *out = g;
    return 0;
}

void campaign_gate_destroy(struct campaign_gate *g)
{
    if (!g) {
        return;
    }
    if (g->inflight) {
        g->orphan = true;
        return;
    }
    free(g);
}

static void on_refill(int status, int granted, void *arg)
{
    struct campaign_gate *g = arg;
    g->inflight = false;
    if (g->orphan) {
        if (granted > 0) {
            campaign_limits_release(g->lim, g->key, granted, NULL, NULL);
        }
        free(g);
        return;
    }
    g->status = status;
    g->tokens += granted;
}

static void ask(struct campaign_gate *g)
{
    if (g->inflight || g->sync_due || g->tokens >= g->chunk) {
        return;
    }
    int rc = campaign_limits_acquire(g->lim, &g->spec, g->chunk - g->tokens, clock_wall_us(),
                                     on_refill, g);
    if (rc == 0) {
        g->inflight = true;
    } else {
        g->status = rc;
    }
}

void campaign_gate_refill(struct campaign_gate *g)
{
    if (!g->demand) {
        campaign_gate_flush(g);
        return;
    }
    g->demand = false;
    ask(g);
}

int campaign_gate_take(void *arg, int64_t tenant_id, int want)
{
    struct campaign_gate *g = arg;
    (void)tenant_id;
    int n = want < g->tokens ? want : g->tokens;
    if (n < 0) {
        n = 0;
    }
    g->tokens -= n;
    if (want > 0) {
        g->demand = true;
    }
    if (g->tokens * 2 < g->chunk) {
        ask(g);
    }
    return n;
}

void campaign_gate_flush(struct campaign_gate *g)
{
    if (g->tokens > 0) {
        if (g->spec.refund) {
            campaign_limits_refund(g->lim, &g->spec, g->tokens, NULL, NULL);
        } else {
            campaign_limits_release(g->lim, g->key, g->tokens, NULL, NULL);
        }
        g->tokens = 0;
    }
}

void campaign_gate_untake(struct campaign_gate *g, int n)
{
    if (n > 0) {
        g->tokens += n;
    }
}

int campaign_gate_tokens(const struct campaign_gate *g)
{
    return g->tokens;
}

int campaign_gate_sync(struct campaign_gate *g, int held)
{
    if (g->inflight) {
        g->sync_due = true;
        return ERR_AGAIN;
    }
    g->sync_due = false;
    int n = held + g->tokens;
    return campaign_limits_set(g->lim, g->key, n > 0 ? n : 0, NULL, NULL);
}

bool campaign_gate_busy(const struct campaign_gate *g)
{
    return g->inflight;
}

int campaign_gate_status(const struct campaign_gate *g)
{
    return g->status;
}
