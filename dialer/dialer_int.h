/* SPDX-License-Identifier: MIT */
/*
 * dialer internals shared by dialer.c (calls) and cdr.c (call_logs batches).
 */
#ifndef DIALER_DIALER_INT_H
#define DIALER_DIALER_INT_H

#include <ev.h>

#include "dialer/dialer.h"

#define DIALER_CDR_BATCH_MAX 1000
#define DIALER_CDR_COLS      19

/* One call_logs row, values already in text form for the INSERT. */
struct dialer_cdr {
    char attempt_id[DIALER_ID_MAX];
    int64_t tenant_id;
    int64_t campaign_id;
    char number[DIALER_E164_MAX];
    char caller_id[DIALER_E164_MAX];
    int64_t started_us, answered_us, human_us, ended_us;
    int64_t connected_us, safe_harbour_us; /* 0: never */
    int ring_timeout_s;
    int64_t ring_ms, talk_ms, total_ms;
    char outcome[16];
    char disposition[64];
    int hangup_cause; /* -1: NULL */
    char amd[12];     /* "" : NULL */
    bool live;
    bool abandoned;
};

struct dialer_cdr_tx;

struct dialer {
    struct ev_loop *loop;
    struct ari_pool *ari;
    struct db_pool *db;
    struct dialer_hooks hooks;
    struct dialer_call **buckets;
    size_t n_calls;
    char app[64];
    char node[64];
    char amd_context[64];
    int64_t talk_ms;
    struct dialer_stats st;
    /* CDR queue */
    ev_timer cdr_timer;
    struct dialer_cdr *cdr;
    size_t cdr_n, cdr_cap, cdr_max_queue;
    int cdr_batch;
    struct dialer_cdr_tx *cdr_tx; /* the batch being written, or NULL */
};

/*
 * Registers a call as dialer_call() does but sends nothing (no ARI server is
 * needed): unit tests replay captured event sequences through
 * dialer_on_event, the benchmark measures the state machine alone.
 */
int dialer_call_track(struct dialer *d, const struct dialer_call_req *req);

void dialer_cdr_push(struct dialer *d, const struct dialer_cdr *row);
void dialer_cdr_fini(struct dialer *d);

#endif
