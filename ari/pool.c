/* SPDX-License-Identifier: MIT */
/*
 * pool: several Asterisk servers behind one dialerd.
 *
 * Each server is a full ari_client (its own keep-alive REST connections,
 * events WebSocket, health and capacity); the pool only chooses where the
 * next originate goes. Placement prefers UP servers over DEGRADED ones and
 * never uses DOWN ones (no events socket means nobody would see the call's
 * events); among servers of the same health it takes the lowest share of
 * capacity in use, so servers of different sizes fill evenly, and ties
 * rotate so equal servers alternate. A server at max_channels is skipped.
 * Cost: one pass over the servers per pick (a handful).
 */
#include <stdlib.h>
#include <string.h>

#include "ari/client_int.h"
#include "core/err.h"

struct ari_pool {
    struct ari_client **c; /* the servers, configuration order */
    size_t n;
    size_t next; /* rotation start for ties */
};

int ari_pool_create(struct ev_loop *loop, const struct ari_client_config *cfgs, size_t n,
                    const struct ari_handlers *h, struct ari_pool **out)
{
    struct ari_pool *p;
    int rc = 0;

    if (out != NULL) {
        *out = NULL;
    }
    if (loop == NULL || cfgs == NULL || n == 0 || out == NULL) {
        return ERR_INVAL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return ERR_NOMEM;
    }
    p->c = calloc(n, sizeof(*p->c));
    if (p->c == NULL) {
        free(p);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t j = 0; j < i; j++) {
            if (cfgs[i].name != NULL && cfgs[j].name != NULL &&
                strcmp(cfgs[i].name, cfgs[j].name) == 0) {
                LOG_ERR(ARI, "event=duplicate_server name=%s", cfgs[i].name);
                rc = ERR_INVAL;
            }
        }
        if (rc == 0) {
            rc = ari_client_create(loop, &cfgs[i], h, &p->c[i]);
        }
        if (rc == 0) {
            p->n++;
        }
    }
    if (rc != 0) {
        ari_pool_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

void ari_pool_destroy(struct ari_pool *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        ari_client_destroy(p->c[i]);
    }
    free(p->c);
    free(p);
}

size_t ari_pool_size(const struct ari_pool *p)
{
    return p != NULL ? p->n : 0;
}

struct ari_client *ari_pool_client(const struct ari_pool *p, size_t i)
{
    return p != NULL && i < p->n ? p->c[i] : NULL;
}

/* Lower is better: health class first, then the share of capacity in use. */
static bool better(int rank_a, double load_a, int rank_b, double load_b)
{
    return rank_a < rank_b || (rank_a == rank_b && load_a < load_b);
}

struct ari_client *ari_pool_pick(struct ari_pool *p)
{
    struct ari_client *best = NULL;
    int best_rank = 0;
    double best_load = 0.;
    size_t best_i = 0;

    if (p == NULL || p->n == 0) {
        return NULL;
    }
    for (size_t k = 0; k < p->n; k++) {
        size_t i = (p->next + k) % p->n;
        struct ari_client *c = p->c[i];
        enum ari_health h = ari_client_health(c);
        long used = ari_client_channels(c);
        long max = ari_client_max_channels(c);
        int rank;
        double load;

        if (h == ARI_HEALTH_DOWN || (max > 0 && used >= max)) {
            continue;
        }
        rank = h == ARI_HEALTH_UP ? 0 : 1;
        load = max > 0 ? (double)used / (double)max : (double)used * 1e-9;
        if (best == NULL || better(rank, load, best_rank, best_load)) {
            best = c;
            best_rank = rank;
            best_load = load;
            best_i = i;
        }
    }
    if (best != NULL) {
        p->next = (best_i + 1) % p->n;
    }
    return best;
}

int ari_pool_originate(struct ari_pool *p, const struct ari_originate *o, ari_done_cb *cb,
                       void *arg, struct ari_req **out, struct ari_client **server)
{
    struct ari_client *c = ari_pool_pick(p);
    int rc;

    if (server != NULL) {
        *server = NULL;
    }
    if (out != NULL) {
        *out = NULL;
    }
    if (c == NULL) {
        return p == NULL ? ERR_INVAL : ERR_BUSY;
    }
    rc = ari_originate(c, o, cb, arg, out);
    if (rc == 0 && server != NULL) {
        *server = c;
    }
    return rc;
}
